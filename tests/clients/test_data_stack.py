"""The notebook data stack on S3 through grantd: pandas (s3fs + pyarrow),
pyarrow (the AWS SDK for C++) and polars (boto3, or Rust object_store),
each by FULL_URI + token file, by token value, and by IMDSv2, against moto
with SigV4 and IAM enforcement (see test_enforcement.py): the served scope
reads back what was written, and S3 refuses the scope outside the grant.

Every client environment comes from `grantd env` or the documented IMDS
variables, plus AWS_ENDPOINT_URL_S3 for moto. AWS_METADATA_ENDPOINT (read by
object_store only) is set to a closed loopback port unless a test says
otherwise, so that a client falling back to instance metadata fails here
instead of calling 169.254.169.254.
"""

from __future__ import annotations

import re

import pytest

from conftest import BUCKET, Daemon, Emulator, client_base_env, free_port, http, run_probe

pytestmark = pytest.mark.data

DENIED_KEY = "UserB/data/secret.csv"
# How each library reports S3's 403 on UserB/ (moto: AccessDenied, or a bare
# 403 to a HEAD, which has no body).
DENIED = {
    "pandas": r"^PermissionError: (Forbidden|Access Denied)",
    "pyarrow": r"^OSError: .*AWS Error ACCESS_DENIED during (HeadObject|CreateMultipartUpload)",
    "polars": r"^PermissionError: .*403 Forbidden",
}
CREDENTIAL_ROUTES = ("credentials_profile", "imds_credentials")


@pytest.fixture(scope="module")
def stack(tmp_path_factory, moto):
    workdir = tmp_path_factory.mktemp("data-stack")
    emulator = Emulator(workdir / "emulator", grants=moto.grants_toml())
    daemon = Daemon(workdir / "grantd", emulator, imds=True)
    # An object that exists: for a missing key outside the policy, s3fs gets
    # moto's 500 (`OSError: [Errno 121] Internal Server Error`), not a 403.
    moto.admin("s3").put_object(Bucket=BUCKET, Key=DENIED_KEY, Body=b"id,name,score\n1,b,2\n")
    yield moto, emulator, daemon
    # moto is shared by the session: leave UserB/ as test_enforcement.py expects it.
    moto.admin("s3").delete_object(Bucket=BUCKET, Key=DENIED_KEY)
    daemon.stop()
    emulator.stop()


@pytest.fixture
def table(tmp_path):
    """A small CSV on local disk: what each library writes to S3 and must read back."""
    rows = ["id,name,score"] + [f"{i},row{i},{i * 7 % 13}" for i in range(1, 21)]
    path = tmp_path / "input.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def way_env(daemon: Daemon, moto, way: str, **extra) -> dict:
    """The client environment of one way to reach grantd, default profile (usera)."""
    common = dict(AWS_ENDPOINT_URL_S3=moto.url, PROBE_BUCKET=BUCKET,
                  AWS_METADATA_ENDPOINT=f"http://127.0.0.1:{free_port()}")
    if way == "imds":
        env = client_base_env(daemon.workdir, AWS_EC2_METADATA_SERVICE_ENDPOINT=daemon.url + "/", **common)
        del env["AWS_EC2_METADATA_DISABLED"]
    else:
        env = daemon.client_env("--profile", "usera", token=way, **common)
    env.update({k: str(v) for k, v in extra.items() if v is not None})
    return {k: v for k, v in env.items() if v is not None}


def credential_requests(daemon: Daemon) -> dict:
    """grantd_http_requests_total per credential route, from /metrics."""
    status, _, body = http("GET", daemon.url + "/metrics")
    assert status == 200
    counts = dict.fromkeys(CREDENTIAL_ROUTES, 0)
    for route, n in re.findall(r'^grantd_http_requests_total\{route="(\w+)",status="200"\} (\d+)$',
                               body.decode(), re.M):
        if route in counts:
            counts[route] += int(n)
    return counts


def run_counted(daemon: Daemon, env: dict, *args: str):
    """Run the probe; also return how many credential requests of each route it made."""
    before = credential_requests(daemon)
    got = run_probe("data", env, *args, timeout=180)
    after = credential_requests(daemon)
    return got, {r: after[r] - before[r] for r in CREDENTIAL_ROUTES}


def assert_served_and_refused(got, lib: str, text: str):
    assert got.json, got
    errors = got.get("errors", {})
    assert got["csv"] == text, errors
    assert got["parquet"] == text, errors
    for op in ("denied_read", "denied_write"):
        assert op in errors, (op, got)
        assert re.search(DENIED[lib], errors[op]), (op, errors[op])


ROUTE = {"file": "credentials_profile", "env": "credentials_profile", "imds": "imds_credentials"}


@pytest.mark.parametrize("way", ["file", "env", "imds"])
@pytest.mark.parametrize("lib", ["pandas", "pyarrow", "polars"])
def test_library_writes_and_reads_the_served_scope_and_s3_refuses_another(stack, table, lib, way):
    moto, _, daemon = stack
    prefix = f"UserA/data/{lib}-{way}/"

    got, asked = run_counted(daemon, way_env(daemon, moto, way), lib, str(table), prefix, DENIED_KEY)

    assert_served_and_refused(got, lib, table.read_text())
    # The credentials came from grantd, the way under test.
    assert asked[ROUTE[way]] > 0 and sum(asked.values()) == asked[ROUTE[way]], asked
    # S3 holds what the library wrote, seen with the admin identity.
    body = moto.admin("s3").get_object(Bucket=BUCKET, Key=f"{prefix}{lib}.csv")["Body"].read().decode()
    assert body == table.read_text()


# polars without boto3 in its venv reads credentials with its Rust object_store:
# FULL_URI + AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE only (not the token value),
# and instance metadata at AWS_METADATA_ENDPOINT (not AWS_EC2_METADATA_SERVICE_ENDPOINT).
NATIVE_POLARS = {
    "file": dict(way="file"),
    "token-value-only": dict(way="env", fails=True),
    "token-value-fix-token-file": dict(way="env", fix="token-file"),
    "imds-sdk-variable": dict(way="imds", fails=True),
    "imds-fix-object-store-variable": dict(way="imds", fix="metadata-endpoint"),
}


@pytest.mark.parametrize("case", NATIVE_POLARS)
def test_polars_without_boto3_uses_object_store_and_its_own_variables(stack, table, tmp_path, case):
    moto, _, daemon = stack
    spec = NATIVE_POLARS[case]
    env = way_env(daemon, moto, spec["way"], PROBE_WITHOUT_BOTO3="1")
    dead_metadata = env["AWS_METADATA_ENDPOINT"]
    if spec.get("fix") == "token-file":
        # The value the environment has, written to a file only we can read.
        token_file = tmp_path / "token"
        token_file.touch(mode=0o600)
        token_file.write_text(env["AWS_CONTAINER_AUTHORIZATION_TOKEN"])
        env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = str(token_file)
    elif spec.get("fix") == "metadata-endpoint":
        env["AWS_METADATA_ENDPOINT"] = daemon.url

    got, asked = run_counted(daemon, env, "polars", str(table), f"UserA/data/native-{case}/", DENIED_KEY)

    if spec.get("fails"):
        # Past the container provider (or past AWS_EC2_METADATA_SERVICE_ENDPOINT)
        # to AWS_METADATA_ENDPOINT, which nothing serves: grantd is never asked.
        assert got["csv"] is None, got
        assert "Connection refused" in got["errors"]["csv"], got["errors"]["csv"]
        assert dead_metadata + "/latest/api/token" in got["errors"]["csv"], got["errors"]["csv"]
        assert asked == dict.fromkeys(CREDENTIAL_ROUTES, 0), asked
    else:
        assert_served_and_refused(got, "polars", table.read_text())
        assert sum(asked.values()) > 0, asked


def test_notebook_cells_work_with_the_lifecycle_environment(stack, table):
    """README "Notebooks": what a kernel has after deploy/studio-lifecycle.sh
    (FULL_URI, the token file and the token value)."""
    moto, _, daemon = stack

    got, asked = run_counted(daemon, way_env(daemon, moto, "both"), "notebook", str(table), "UserA/nb/")

    assert got.json and not got.get("errors"), got
    assert got["cells"] == dict.fromkeys(["pandas", "pyarrow", "polars"], table.read_text())
    assert asked["credentials_profile"] > 0, asked


def test_notebook_cells_use_a_second_profile_through_credential_process(stack, table, tmp_path):
    """README "Notebooks": a second profile (product) next to the default one
    (usera), by a credential_process profile in ~/.aws/config."""
    moto, _, daemon = stack
    config = tmp_path / "aws-config"
    config.write_text(
        "[profile grantd-product]\n"
        f"credential_process = grantd creds --profile product --format process --listen {daemon.addr}"
        f" --token-file {daemon.token_file}\n")
    env = way_env(daemon, moto, "both", AWS_CONFIG_FILE=config)
    env["PATH"] = f"{daemon_bin_dir()}:{env['PATH']}"

    got, _ = run_counted(daemon, env, "second-profile", str(table), "Product/nb/", "grantd-product")

    errors = got.get("errors", {})
    assert got.json and set(errors) == {"default_profile"}, got
    cells = got["cells"]
    assert cells["boto3_method"] == "custom-process"
    assert cells["boto3_key_id"] == daemon.creds_json("--profile", "product")["AccessKeyId"]
    assert cells["keys"] == ["Product/nb/input.csv", "Product/nb/output/part-0.parquet"]
    assert {k: cells[k] for k in ("pandas", "pyarrow", "polars")} == dict.fromkeys(
        ["pandas", "pyarrow", "polars"], table.read_text())
    # Product/ is outside usera's grant: the default profile's keys are refused there.
    assert re.search(DENIED["pandas"], errors["default_profile"]), errors


def daemon_bin_dir() -> str:
    from conftest import GRANTD

    return str(GRANTD.parent)
