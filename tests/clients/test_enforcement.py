"""End to end with real enforcement: keys vended by grantd are real STS sessions
(moto AssumeRole of one role per grant), and moto's S3 checks every signature
and policy. So a client can do exactly what its grant allows, and S3 itself
(not grantd) refuses the rest.
"""

from __future__ import annotations

import pytest

from conftest import BUCKET, Daemon, Emulator, abalone_csv, run_aws, run_probe, run_spark_job, spark_defaults


@pytest.fixture(scope="module")
def stack(tmp_path_factory, moto):
    workdir = tmp_path_factory.mktemp("enforcement")
    emulator = Emulator(workdir / "emulator", grants=moto.grants_toml())
    daemon = Daemon(workdir / "grantd", emulator)
    yield moto, emulator, daemon
    daemon.stop()
    emulator.stop()


def s3_env(daemon: Daemon, moto, profile: str, **extra) -> dict:
    return daemon.client_env("--profile", profile, AWS_ENDPOINT_URL_S3=moto.url, PROBE_BUCKET=BUCKET, **extra)


def test_boto3_as_user_a_writes_and_reads_user_a_and_product(stack):
    moto, _, daemon = stack
    usera, product = s3_env(daemon, moto, "usera"), s3_env(daemon, moto, "product")

    put_a = run_probe("boto3", usera, "put", "UserA/notes/hello.txt", "hello from A")
    get_a = run_probe("boto3", usera, "get", "UserA/notes/hello.txt")
    put_p = run_probe("boto3", product, "put", "Product/catalog.txt", "shared")
    get_p = run_probe("boto3", product, "get", "Product/catalog.txt")

    for r in (put_a, get_a, put_p, get_p):
        assert r.returncode == 0, r
        assert r["method"] == "container-role"
    assert get_a["body"] == "hello from A"
    assert get_p["body"] == "shared"
    assert get_a["access_key_id"] == daemon.creds_json("--profile", "usera")["AccessKeyId"]
    assert get_a["access_key_id"] != get_p["access_key_id"]
    # The object really is in moto, seen with the admin identity.
    assert moto.admin("s3").get_object(Bucket=BUCKET, Key="UserA/notes/hello.txt")["Body"].read() == b"hello from A"


def test_s3_refuses_user_a_keys_on_user_b(stack):
    moto, _, daemon = stack
    moto.admin("s3").put_object(Bucket=BUCKET, Key="UserB/secret.txt", Body=b"B only")
    env = s3_env(daemon, moto, "usera")

    put = run_probe("boto3", env, "put", "UserB/intrusion.txt", "x")
    get = run_probe("boto3", env, "get", "UserB/secret.txt")

    for r in (put, get):
        # grantd vended UserA's keys; S3 (moto) said no.
        assert r.returncode == 1, r
        assert r["access_key_id"].startswith("ASIA")
        assert r["error"] == "AccessDenied" and r["status"] == 403, r
    keys = [o["Key"] for o in moto.admin("s3").list_objects_v2(Bucket=BUCKET, Prefix="UserB/").get("Contents", [])]
    assert keys == ["UserB/secret.txt"]


def test_keys_of_one_grant_do_not_open_another(stack):
    moto, _, daemon = stack

    r = run_probe("boto3", s3_env(daemon, moto, "product"), "put", "UserA/from-product.txt", "x")

    assert r.returncode == 1 and r["error"] == "AccessDenied", r


def test_aws_cli_copies_into_user_a_and_s3_refuses_user_b(stack, tmp_path):
    moto, _, daemon = stack
    env = s3_env(daemon, moto, "usera")
    src = tmp_path / "cli.txt"
    src.write_text("via aws cli\n")

    ok = run_aws(env, "s3", "cp", str(src), f"s3://{BUCKET}/UserA/cli/cli.txt")
    ls = run_aws(env, "s3", "ls", f"s3://{BUCKET}/UserA/cli/")
    denied = run_aws(env, "s3", "cp", str(src), f"s3://{BUCKET}/UserB/cli.txt")

    assert ok.returncode == 0, ok.stderr
    assert "cli.txt" in ls.stdout, ls
    assert denied.returncode != 0
    assert "AccessDenied" in denied.stderr, denied.stderr


def test_js_v3_lists_user_a_with_vended_keys(stack):
    moto, _, daemon = stack
    moto.admin("s3").put_object(Bucket=BUCKET, Key="UserA/js/visible.txt", Body=b"x")

    r = run_probe("js", s3_env(daemon, moto, "usera"), "list", "UserA/js/")

    assert r.returncode == 0, r
    assert r["keys"] == ["UserA/js/visible.txt"]


@pytest.mark.spark
def test_pyspark_job_splits_abalone_under_user_a_with_grantd_credentials(stack, tmp_path):
    moto, _, daemon = stack
    env = s3_env(daemon, moto, "usera", token="both")
    # Input and the output "directory" are put there by user A through grantd too.
    data = abalone_csv(rows=200)
    assert run_probe("boto3", env, "put", "UserA/input/abalone.csv", data).returncode == 0
    # Hadoop 3.3's mkdirs walks up the parents of the output path with HEAD
    # requests; at the bare key "UserA" (outside the UserA/* grant) S3 answers 403
    # and the job fails. An existing UserA/output/ stops the walk before that.
    assert run_probe("boto3", env, "put", "UserA/output/", "").returncode == 0
    conf = spark_defaults(tmp_path / "spark-conf", env, moto.url)

    job = run_spark_job(env, conf, "abalone", BUCKET)
    listing = run_probe("boto3", env, "list", "UserA/output/")

    assert job.returncode == 0, job.stderr[-4000:]
    assert job["rows"] == 200
    assert job["train"] + job["validation"] == 200 and 0 < job["validation"] < job["train"]
    assert job["columns"][0] == "sex" and job["columns"][-1] == "rings"
    assert "AccessDenied" in job["userb"] or "403" in job["userb"], job["userb"]
    keys = listing["keys"]
    assert "UserA/output/train/_SUCCESS" in keys and "UserA/output/validation/_SUCCESS" in keys, keys
    assert any(k.startswith("UserA/output/train/part-") and k.endswith(".csv") for k in keys), keys
    assert any(k.startswith("UserA/output/validation/part-") for k in keys), keys
