"""rclone and the AWS SDK for Go v2 against grantd, with real enforcement.

Both come from Debian bookworm (scripts/setup-clients): rclone 1.60.1, built on
the AWS SDK for Go v1 1.44.133, and golang-github-aws-aws-sdk-go-v2-dev 1.17.1
(config 1.17.10, s3 1.29.1), which probes/go_probe is built against. As in
test_enforcement.py, the keys grantd vends are real moto STS sessions and
moto's S3 checks every signature and policy: what the grant allows works, and
S3 itself refuses the rest.

The three ways a program can reach grantd:
  file   AWS_CONTAINER_CREDENTIALS_FULL_URI + AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE
  value  AWS_CONTAINER_CREDENTIALS_FULL_URI + AWS_CONTAINER_AUTHORIZATION_TOKEN
  imds   AWS_EC2_METADATA_SERVICE_ENDPOINT = the daemon (`grantd serve --imds`)
Neither Go SDK version here reads the _FILE variable: the tests pin that, and
check the workaround (the token value, which `grantd env` prints as well:
way "both").
"""

from __future__ import annotations

import re
import subprocess

import pytest

from conftest import BUCKET, CACHE, Daemon, Emulator, ProbeResult, client_base_env, http

pytestmark = pytest.mark.go

GO_PROBE = CACHE / "go" / "go_probe"
RCLONE = CACHE / "debian" / "usr" / "bin" / "rclone"
REMOTE = "grantd"  # the rclone remote the RCLONE_CONFIG_GRANTD_* variables define

# "both" is what `eval "$(grantd env ...)"` sets (FILE and value): the
# documented fix for a client that reads only the value.
WORKING_WAYS = ["value", "both", "imds"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory, moto):
    if not (GO_PROBE.exists() and RCLONE.exists()):
        pytest.fail("rclone / Go probe missing: run scripts/setup-clients")
    workdir = tmp_path_factory.mktemp("go-rclone")
    emulator = Emulator(workdir / "emulator", grants=moto.grants_toml())
    daemon = Daemon(workdir / "grantd", emulator, imds=True)
    yield moto, emulator, daemon
    daemon.stop()
    emulator.stop()


def rclone_remote(workdir, moto) -> dict:
    """An rclone S3 remote made of environment variables only.

    provider=Other because rclone forces virtual-hosted addressing for
    provider=AWS (bucket.127.0.0.1 does not resolve); against AWS use
    provider=AWS and no endpoint. env_auth=true is what hands credentials to
    the SDK's chain; no_check_bucket stops rclone's CreateBucket before an
    upload, which a prefix grant does not allow.
    """
    conf = workdir / "rclone.conf"
    conf.touch()
    r = f"RCLONE_CONFIG_{REMOTE.upper()}_"
    return {
        "RCLONE_CONFIG": str(conf),  # an empty file: nothing from ~/.config/rclone
        r + "TYPE": "s3", r + "PROVIDER": "Other", r + "ENV_AUTH": "true",
        r + "ENDPOINT": moto.url, r + "REGION": "us-east-1", r + "NO_CHECK_BUCKET": "true",
        # Fail fast and visibly: rclone retries 3 x 10 times by default.
        "RCLONE_RETRIES": "1", "RCLONE_LOW_LEVEL_RETRIES": "1",
    }


def client_env(daemon: Daemon, moto, way: str, profile: str = "usera") -> dict:
    if way == "imds":
        # The IMDS role list names the default profile (usera) alone.
        assert profile == "usera"
        env = client_base_env(daemon.workdir, AWS_EC2_METADATA_SERVICE_ENDPOINT=daemon.url)
        del env["AWS_EC2_METADATA_DISABLED"]
    else:
        env = daemon.client_env("--profile", profile, token={"file": "file", "value": "env", "both": "both"}[way])
    env.update(AWS_ENDPOINT_URL_S3=moto.url, PROBE_BUCKET=BUCKET, **rclone_remote(daemon.workdir, moto))
    return env


def go(env: dict, *args: str) -> ProbeResult:
    argv = [str(GO_PROBE), *args]
    return ProbeResult(argv, subprocess.run(argv, env=env, capture_output=True, text=True,
                                            timeout=60, stdin=subprocess.DEVNULL))


def rclone(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(RCLONE), *args], env=env, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)


def remote(key: str) -> str:
    return f"{REMOTE}:{BUCKET}/{key}"


def served(daemon: Daemon) -> dict:
    """grantd's request counters: {(route, status): n}."""
    status, _, body = http("GET", daemon.url + "/metrics")
    assert status == 200
    pattern = r'^grantd_http_requests_total\{route="([^"]+)",status="(\d+)"\} (\d+)$'
    return {(m[1], m[2]): int(m[3]) for m in re.finditer(pattern, body.decode(), re.M)}


def grew(before: dict, after: dict) -> dict:
    return {k: n - before.get(k, 0) for k, n in after.items() if n != before.get(k, 0)}


def expected_key_id(daemon: Daemon) -> str:
    return daemon.creds_json("--profile", "usera")["AccessKeyId"]


# ------------------------------------------------------------ Go SDK v2


@pytest.mark.parametrize("way", WORKING_WAYS)
def test_go_v2_writes_and_reads_user_a_with_grantd_keys(stack, way):
    moto, _, daemon = stack
    env = client_env(daemon, moto, way)
    key, body = f"UserA/go/{way}.txt", f"from go v2 by {way}"

    put = go(env, "put", key, body)
    got = go(env, "get", key)
    listed = go(env, "list", "UserA/go/")

    for r in (put, got, listed):
        assert r.returncode == 0, r
        assert r["source"] == ("EC2RoleProvider" if way == "imds" else "CredentialsEndpointProvider"), r
        assert r["access_key_id"] == expected_key_id(daemon)
    assert got["body"] == body
    assert key in listed["keys"]
    assert moto.admin("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read() == body.encode()


@pytest.mark.parametrize("way", WORKING_WAYS)
def test_s3_refuses_go_v2_on_user_b(stack, way):
    moto, _, daemon = stack
    moto.admin("s3").put_object(Bucket=BUCKET, Key="UserB/secret.txt", Body=b"B only")
    env = client_env(daemon, moto, way)

    put = go(env, "put", f"UserB/go-{way}.txt", "x")
    get = go(env, "get", "UserB/secret.txt")

    for r in (put, get):
        # grantd vended UserA's keys (moto accepted Go v2's SigV4); S3 said no.
        assert r.returncode == 1, r
        assert r["access_key_id"] == expected_key_id(daemon)
        assert r["error"] == "AccessDenied" and r["status"] == 403, r
    assert "body" not in get.json


def test_go_v2_1_17_does_not_read_the_token_file(stack):
    """Pinned: this SDK version reads AWS_CONTAINER_AUTHORIZATION_TOKEN only
    (the _FILE variable came with later releases), so grantd answers 401
    MissingToken. When this fails, Debian's SDK learnt _FILE: update README."""
    moto, _, daemon = stack
    env = client_env(daemon, moto, "file")
    assert "AWS_CONTAINER_AUTHORIZATION_TOKEN" not in env

    r = go(env, "put", "UserA/go/file.txt", "x")

    assert r.returncode == 1, r
    assert r["error"] == "NoCredentials" and "MissingToken" in r["message"], r
    assert "access_key_id" not in r.json


# ------------------------------------------------------------ rclone (Go SDK v1)


@pytest.mark.parametrize("way", WORKING_WAYS)
def test_rclone_copies_cats_and_lists_user_a(stack, way, tmp_path):
    moto, _, daemon = stack
    env = client_env(daemon, moto, way)
    src = tmp_path / "local.txt"
    src.write_text(f"rclone by {way}\n")
    key = f"UserA/rclone/{way}.txt"
    before = served(daemon)

    copy = rclone(env, "copyto", str(src), remote(key))
    cat = rclone(env, "cat", remote(key))
    lsf = rclone(env, "lsf", remote("UserA/rclone/"))

    for cp in (copy, cat, lsf):
        assert cp.returncode == 0, cp.stderr
    # rclone cat of a missing object prints nothing and exits 0: compare bytes.
    assert cat.stdout == src.read_text()
    assert f"{way}.txt" in lsf.stdout.split()
    assert moto.admin("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read() == src.read_bytes()
    # The keys came from grantd (rclone does not show them; its --dump would
    # print the session token): grantd counted the credential requests.
    route = "imds_credentials" if way == "imds" else "credentials_profile"
    assert grew(before, served(daemon)).get((route, "200"), 0) >= 1


@pytest.mark.parametrize("way", WORKING_WAYS)
def test_s3_refuses_rclone_on_user_b(stack, way, tmp_path):
    moto, _, daemon = stack
    moto.admin("s3").put_object(Bucket=BUCKET, Key="UserB/secret.txt", Body=b"B only")
    env = client_env(daemon, moto, way)
    src = tmp_path / "intrusion.txt"
    src.write_text("x")

    copy = rclone(env, "copyto", str(src), remote(f"UserB/rclone-{way}.txt"))
    # Not `cat remote:UserB/secret.txt`: rclone takes the HEAD's 403 as "not a
    # file" and lists UserB/secret.txt/ as a directory; moto ignores the
    # s3:prefix condition of ListBucket (AWS would refuse), so rclone exits 0
    # with nothing. Listing UserB/ then GETting the key reaches the refusal.
    cat = rclone(env, "cat", remote("UserB/"), "--include", "secret.txt")

    # The upload's first request is a HEAD: S3 answers a bare 403 ("Forbidden");
    # the GET gets the AccessDenied body.
    assert copy.returncode != 0 and "status code: 403" in copy.stderr, copy.stderr
    assert cat.returncode != 0 and "AccessDenied" in cat.stderr, cat.stderr
    assert "B only" not in cat.stdout
    keys = [o["Key"] for o in moto.admin("s3").list_objects_v2(Bucket=BUCKET, Prefix="UserB/")["Contents"]]
    assert keys == ["UserB/secret.txt"]


def test_rclone_1_60_does_not_read_the_token_file(stack, tmp_path):
    """Pinned: rclone 1.60's Go SDK v1 (1.44.133) sends no token with only
    AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE; grantd answers 401 and the chain
    ends with NoCredentialProviders. When this fails, rclone reads _FILE."""
    moto, _, daemon = stack
    env = client_env(daemon, moto, "file")
    src = tmp_path / "file.txt"
    src.write_text("x")
    before = served(daemon)

    copy = rclone(env, "copyto", str(src), remote("UserA/rclone/file.txt"))

    assert copy.returncode != 0
    assert "NoCredentialProviders" in copy.stderr, copy.stderr
    assert grew(before, served(daemon)).get(("credentials_profile", "401"), 0) >= 1
    assert "Contents" not in moto.admin("s3").list_objects_v2(Bucket=BUCKET, Prefix="UserA/rclone/file.txt")


def test_rclone_connection_string_remote_reads_user_a(stack):
    """The on-the-fly remote `:s3,env_auth=true,...:bucket/key`: no RCLONE_CONFIG_* at all."""
    moto, _, daemon = stack
    moto.admin("s3").put_object(Bucket=BUCKET, Key="UserA/rclone/cs.txt", Body=b"connection string")
    env = {k: v for k, v in client_env(daemon, moto, "value").items() if not k.startswith("RCLONE_CONFIG_")}

    cat = rclone(env, "cat", f':s3,provider=Other,env_auth=true,endpoint="{moto.url}":{BUCKET}/UserA/rclone/cs.txt')

    assert cat.returncode == 0, cat.stderr
    assert cat.stdout == "connection string"


def test_go_clients_keep_the_scope_in_the_full_uri_query(stack):
    """`grantd env --target ... --permission READ` puts the scope in FULL_URI's
    query string; both Go SDKs must send it as it is."""
    moto, _, daemon = stack
    moto.admin("s3").put_object(Bucket=BUCKET, Key="Product/go-catalog.txt", Body=b"catalog")
    scope = ("--target", f"s3://{BUCKET}/Product/*", "--permission", "READ")
    env = daemon.client_env(*scope, token="env", AWS_ENDPOINT_URL_S3=moto.url, PROBE_BUCKET=BUCKET,
                            **rclone_remote(daemon.workdir, moto))
    assert "?" in env["AWS_CONTAINER_CREDENTIALS_FULL_URI"]

    got = go(env, "get", "Product/go-catalog.txt")
    cat = rclone(env, "cat", remote("Product/go-catalog.txt"))

    assert got.returncode == 0, got
    assert got["body"] == "catalog"
    assert got["access_key_id"] == daemon.creds_json(*scope)["AccessKeyId"]
    assert cat.returncode == 0 and cat.stdout == "catalog", cat.stderr


# ------------------------------------------------------------ IMDS paths


@pytest.mark.parametrize("client", ["go", "rclone"])
def test_go_sdks_find_every_imds_path_they_ask_for(stack, client, tmp_path):
    """Go v2 and v1 ask for PUT /latest/api/token, GET .../security-credentials/
    (trailing slash) and .../security-credentials/usera, as EC2 serves them:
    each counted as answered 200, none 404 or 401."""
    moto, _, daemon = stack
    env = client_env(daemon, moto, "imds")
    before = served(daemon)

    if client == "go":
        r = go(env)
        assert r.returncode == 0, r
    else:
        cp = rclone(env, "lsf", remote("UserA/"))
        assert cp.returncode == 0, cp.stderr
    delta = grew(before, served(daemon))

    for route in ("imds_token", "imds_roles", "imds_credentials"):
        assert delta.get((route, "200"), 0) >= 1, delta
    assert not [k for k in delta if k[1] != "200"], delta
