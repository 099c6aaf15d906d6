"""Real AWS clients get credentials from a real grantd, configured by environment only.

Every client runs as its own process with an environment built from
`grantd env` (or, for IMDS and credential_process, the documented variables),
never with code that knows about grantd.
"""

from __future__ import annotations

import http.server
import json
import re
import threading
import time

import pytest

from conftest import (
    BUCKET, PROFILES, Daemon, Emulator, client_base_env, run_aws, run_probe, GRANTD,
)

def expected(daemon: Daemon, profile: str) -> dict:
    """What `grantd creds` returns for the same scope: the reference answer."""
    creds = daemon.creds_json("--profile", profile)
    assert creds["AccessKeyId"].startswith("ASIA"), creds
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", creds["Expiration"]), creds
    return creds


# ------------------------------------------------------------ container route


def test_grantd_env_prints_full_uri_both_token_forms_and_unsets_relative_uri(daemon):
    exports, unsets = daemon.env_lines("--profile", "usera")

    assert exports["AWS_CONTAINER_CREDENTIALS_FULL_URI"] == f"http://{daemon.addr}/v1/credentials/usera"
    assert exports["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] == str(daemon.token_file)
    assert exports["AWS_CONTAINER_AUTHORIZATION_TOKEN"] == daemon.token
    assert unsets == ["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"]


def test_boto3_gets_profile_credentials_through_full_uri_and_token_file(daemon):
    env = daemon.client_env("--profile", "usera", token="file")
    assert "AWS_CONTAINER_AUTHORIZATION_TOKEN" not in env
    assert env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] == str(daemon.token_file)
    assert env["AWS_CONTAINER_CREDENTIALS_FULL_URI"].startswith(f"http://{daemon.addr}/")

    got = run_probe("boto3", env)
    ref = expected(daemon, "usera")

    assert got.returncode == 0, got
    assert got["method"] == "container-role"
    assert got["access_key_id"] == ref["AccessKeyId"]
    assert got["expiration"] == ref["Expiration"]
    assert got["has_token"] is True


def test_boto3_gets_profile_credentials_through_full_uri_and_token_env_var(daemon):
    env = daemon.client_env("--profile", "usera", token="env")
    assert "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE" not in env

    got = run_probe("boto3", env)

    assert got.returncode == 0, got
    assert got["method"] == "container-role"
    assert got["access_key_id"] == expected(daemon, "usera")["AccessKeyId"]


@pytest.mark.parametrize("client", ["boto3", "js", "java", "rust"])
def test_scope_in_the_query_string_is_served_to_every_sdk(daemon, client):
    target = f"s3://{BUCKET}/Product/*"
    env = daemon.client_env("--target", target, "--permission", "READ")
    assert "?" in env["AWS_CONTAINER_CREDENTIALS_FULL_URI"], env["AWS_CONTAINER_CREDENTIALS_FULL_URI"]

    got = run_probe(client, env)
    ref = daemon.creds_json("--target", target, "--permission", "READ")

    assert got.returncode == 0, got
    assert got["access_key_id"] == ref["AccessKeyId"]


def test_a_wrong_token_is_refused_and_boto3_reports_invalid_token(daemon):
    env = daemon.client_env("--profile", "usera", token="env")
    env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "not-the-token"

    got = run_probe("boto3", env)

    assert got.returncode == 1, got
    assert got["error"] == "CredentialRetrievalError"
    assert "403" in got["message"] and "InvalidToken" in got["message"], got


class _FakeEcsAgent(http.server.ThreadingHTTPServer):
    """Stands in for the ECS/SageMaker agent at 169.254.170.2 (the execution role)."""

    KEY = "ASIASTUDIOEXECUTIONROLE"

    def __init__(self):
        paths = self.paths = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                paths.append(self.path)
                body = json.dumps({"AccessKeyId": _FakeEcsAgent.KEY, "SecretAccessKey": "x", "Token": "y",
                                   "Expiration": "2099-01-01T00:00:00Z"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


def test_relative_uri_wins_over_full_uri_so_boto3_bypasses_grantd(daemon):
    """The pitfall: SageMaker sets AWS_CONTAINER_CREDENTIALS_RELATIVE_URI; while it is
    set (even to ""), every SDK ignores FULL_URI and grantd is never asked.

    botocore always sends RELATIVE_URI requests to 169.254.170.2; the probe
    moves that one address to a local stand-in (PROBE_ECS_AGENT_ADDRESS, a test
    hook) so that no traffic leaves loopback.
    """
    agent = _FakeEcsAgent()
    try:
        env = daemon.client_env("--profile", "usera")
        env["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] = "/v2/credentials/studio-execution-role"
        env["PROBE_ECS_AGENT_ADDRESS"] = f"127.0.0.1:{agent.server_address[1]}"

        with_relative = run_probe("boto3", env)
        del env["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"]
        without_relative = run_probe("boto3", env)
    finally:
        agent.shutdown()

    assert with_relative.returncode == 0, with_relative
    assert with_relative["access_key_id"] == _FakeEcsAgent.KEY
    assert agent.paths == ["/v2/credentials/studio-execution-role"]
    assert without_relative["access_key_id"] == expected(daemon, "usera")["AccessKeyId"]


def test_aws_cli_uses_the_container_provider(daemon):
    env = daemon.client_env("--profile", "usera")

    cp = run_aws(env, "configure", "list")

    assert cp.returncode == 0, cp.stderr
    row = next(l.split() for l in cp.stdout.splitlines() if l.strip().startswith("access_key"))
    masked, source = row[1], row[2]
    assert source == "container-role", cp.stdout
    assert masked.endswith(expected(daemon, "usera")["AccessKeyId"][-4:]), cp.stdout


def test_credential_process_profile_serves_aws_cli_and_boto3(daemon, tmp_path):
    config = tmp_path / "aws-config"
    config.write_text(
        "[profile grantd-usera]\n"
        f"credential_process = {GRANTD} creds --config {daemon.config_file} --listen {daemon.addr}"
        f" --token-file {daemon.token_file} --profile usera --format process\n"
        "region = us-east-1\n"
    )
    env = client_base_env(tmp_path, AWS_CONFIG_FILE=config, AWS_PROFILE="grantd-usera")
    ref = expected(daemon, "usera")

    got = run_probe("boto3", env)
    cli = run_aws(env, "configure", "list")

    assert got.returncode == 0, got
    assert got["method"] == "custom-process"
    assert got["access_key_id"] == ref["AccessKeyId"]
    assert got["expiration"] == ref["Expiration"]
    assert cli.returncode == 0, cli.stderr
    row = next(l.split() for l in cli.stdout.splitlines() if l.strip().startswith("access_key"))
    assert row[2] == "custom-process" and row[1].endswith(ref["AccessKeyId"][-4:]), cli.stdout


def test_credential_process_output_is_version_1_json(daemon):
    out = json.loads(daemon.cli("creds", "--profile", "usera", "--format", "process").stdout)

    assert out["Version"] == 1
    assert set(out) >= {"AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"}
    assert out["AccessKeyId"] == expected(daemon, "usera")["AccessKeyId"]


def test_js_v3_default_chain_gets_profile_credentials(daemon):
    env = daemon.client_env("--profile", "usera", token="file")

    got = run_probe("js", env)
    ref = expected(daemon, "usera")

    assert got.returncode == 0, got
    assert got["access_key_id"] == ref["AccessKeyId"]
    assert got["expiration"] == ref["Expiration"]
    assert got["has_token"] is True


@pytest.mark.parametrize("mode", ["chain", "wrapper"])
def test_java_v1_gets_profile_credentials_with_the_token_in_the_env_var(daemon, mode):
    # aws-java-sdk 1.11.901 (Hadoop 3.3) reads only AWS_CONTAINER_AUTHORIZATION_TOKEN.
    env = daemon.client_env("--profile", "usera", token="env")

    got = run_probe("java", env, mode)
    ref = expected(daemon, "usera")

    assert got.returncode == 0, got
    assert got["access_key_id"] == ref["AccessKeyId"]
    assert got["expiration"] == ref["Expiration"]


def test_java_v1_accepts_only_127_0_0_1_or_localhost_in_full_uri(tmp_path):
    """Why grantd listens on and prints http://127.0.0.1: the SDK v1 of Hadoop 3.3
    refuses any other plain-http host before connecting."""
    env = client_base_env(tmp_path, AWS_CONTAINER_CREDENTIALS_FULL_URI="http://127.0.0.2:9/v1/credentials",
                          AWS_CONTAINER_AUTHORIZATION_TOKEN="x")

    got = run_probe("java", env, "wrapper")

    assert got.returncode == 1
    assert "Host can only be one of [localhost, 127.0.0.1]" in got["message"], got


def test_java_v1_ignores_the_token_file(daemon):
    """Documents why Spark needs AWS_CONTAINER_AUTHORIZATION_TOKEN: 1.11.901 sends no
    token when only the _FILE variable is set, and grantd answers 401."""
    env = daemon.client_env("--profile", "usera", token="file")

    got = run_probe("java", env, "wrapper")

    assert got.returncode == 1, got
    assert "Status Code: 401" in got["message"] and "MissingToken" in got["message"], got


def test_one_upstream_call_serves_every_client_of_a_scope(tmp_path):
    emulator = Emulator(tmp_path / "emu")
    daemon = Daemon(tmp_path / "grantd", emulator)
    try:
        results = [
            run_probe("boto3", daemon.client_env("--profile", "product")),
            run_probe("js", daemon.client_env("--profile", "product")),
            run_probe("java", daemon.client_env("--profile", "product", token="env")),
            run_aws(daemon.client_env("--profile", "product"), "configure", "list"),
        ]
        ref = expected(daemon, "product")
        calls = emulator.data_access_calls(PROFILES["product"])
    finally:
        daemon.stop()
        emulator.stop()

    for r in results[:3]:
        assert r.returncode == 0, r
        assert r["access_key_id"] == ref["AccessKeyId"]
    assert len(calls) == 1, calls


# ------------------------------------------------------------ denial


def test_a_denied_scope_fails_clearly_in_every_client(daemon):
    """RoleA has no grant on UserB/: each client fails credential loading and
    says so, instead of silently using some other identity."""
    env = daemon.client_env("--profile", "userb", token="both")

    boto = run_probe("boto3", env)
    js = run_probe("js", env)
    java = run_probe("java", env, "chain")
    cli = run_aws(env, "s3", "ls", f"s3://{BUCKET}/UserB/")
    creds = daemon.cli("creds", "--profile", "userb", "--format", "json", check=False)

    assert boto.returncode == 1 and boto["error"] == "CredentialRetrievalError", boto
    assert "403" in boto["message"] and "AccessDenied" in boto["message"], boto
    assert java.returncode == 1 and "AccessDenied" in java["message"] and "403" in java["message"], java
    assert js.returncode == 1 and js["error"] == "CredentialsProviderError", js
    assert "access_key_id" not in js.json
    assert cli.returncode != 0 and "AccessDenied" in cli.stderr, cli.stderr
    assert creds.returncode != 0 and "AccessDenied" in (creds.stdout + creds.stderr), creds


# ------------------------------------------------------------ IMDSv2


def test_imds_role_list_is_the_default_profile_alone(daemon):
    """boto3, the JS SDK (and the Rust SDK) use the whole body of
    /latest/meta-data/iam/security-credentials/ as ONE role name, as EC2 has
    only one: a multi-line list makes them ask for "usera\nproduct\nuserb"."""
    from conftest import http
    status, headers, token = http("PUT", f"{daemon.url}/latest/api/token",
                                  {"X-aws-ec2-metadata-token-ttl-seconds": "21600"})
    assert status == 200
    assert headers.get("x-aws-ec2-metadata-token-ttl-seconds") == "21600"

    status, _, body = http("GET", f"{daemon.url}/latest/meta-data/iam/security-credentials/",
                           {"X-aws-ec2-metadata-token": token.decode()})

    assert status == 200
    assert body == b"usera"


def test_boto3_gets_default_profile_credentials_from_imds(daemon):
    env = client_base_env(daemon.workdir, AWS_EC2_METADATA_SERVICE_ENDPOINT=f"http://{daemon.addr}/")
    del env["AWS_EC2_METADATA_DISABLED"]

    got = run_probe("boto3", env)

    assert got.returncode == 0, got
    assert got["method"] == "iam-role"
    assert got["access_key_id"] == expected(daemon, "usera")["AccessKeyId"]


@pytest.mark.parametrize("mode", ["instance", "chain"])
def test_java_v1_gets_default_profile_credentials_from_imds(daemon, mode):
    env = client_base_env(daemon.workdir)
    del env["AWS_EC2_METADATA_DISABLED"]

    got = run_probe("java", env, mode,
                    java_opts=[f"-Dcom.amazonaws.sdk.ec2MetadataServiceEndpointOverride=http://{daemon.addr}"])

    assert got.returncode == 0, got
    assert got["access_key_id"] == expected(daemon, "usera")["AccessKeyId"]


def test_rust_sdk_gets_default_profile_credentials_from_imds(daemon):
    env = client_base_env(daemon.workdir, AWS_EC2_METADATA_SERVICE_ENDPOINT=f"http://{daemon.addr}")
    del env["AWS_EC2_METADATA_DISABLED"]

    got = run_probe("rust", env)

    assert got.returncode == 0, got
    assert got["access_key_id"] == expected(daemon, "usera")["AccessKeyId"]


def test_js_v3_gets_default_profile_credentials_from_imds(daemon):
    env = client_base_env(daemon.workdir, AWS_EC2_METADATA_SERVICE_ENDPOINT=f"http://{daemon.addr}")
    del env["AWS_EC2_METADATA_DISABLED"]

    got = run_probe("js", env)

    assert got.returncode == 0, got
    assert got["access_key_id"] == expected(daemon, "usera")["AccessKeyId"]


# ------------------------------------------------------------ slow upstream


def _slow_scope(tmp_path, latency_ms: int):
    """A daemon whose only profile is UserA, and an emulator that will take
    latency_ms for the first GetDataAccess on Product/: a cold scope."""
    emulator = Emulator(tmp_path / "emu")
    daemon = Daemon(tmp_path / "grantd", emulator, profiles={"usera": PROFILES["usera"]})
    emulator.faults({"operation": "GetDataAccess", "target_prefix": f"s3://{BUCKET}/Product/",
                     "latency_ms": latency_ms, "times": 1})
    return emulator, daemon, ("--target", f"s3://{BUCKET}/Product/*", "--permission", "READ")


@pytest.mark.parametrize("client", ["boto3", "js"])
def test_a_cold_scope_behind_a_slow_upstream_still_reaches_the_client(tmp_path, client):
    """GetDataAccess takes 2.5 s; JS gives up on a request after 1 s and boto3
    after 2 s, then retry. The daemon keeps loading across the abandoned
    request (single flight), so a retry finds the answer: one upstream call."""
    emulator, daemon, scope = _slow_scope(tmp_path, 2500)
    try:
        got = run_probe(client, daemon.client_env(*scope))
        ref = daemon.creds_json(*scope)
        calls = emulator.data_access_calls(f"s3://{BUCKET}/Product/")
    finally:
        daemon.stop()
        emulator.stop()

    assert got.returncode == 0, got
    assert got["access_key_id"] == ref["AccessKeyId"]
    assert len(calls) == 1, calls


def test_java_v1_gives_up_on_a_cold_scope_after_one_second_and_the_next_call_is_served(tmp_path):
    """aws-java-sdk 1.11.901 (Hadoop 3.3) reads the container endpoint with a
    ~1 s timeout and no retry: a cold scope behind a 2.5 s upstream fails the
    first call. The daemon finishes the load anyway, so the next call gets it
    from the cache. Profiles are loaded at daemon start, so Spark should use a
    profile URI (/v1/credentials/NAME) rather than an ad-hoc query scope."""
    emulator, daemon, scope = _slow_scope(tmp_path, 2500)
    try:
        env = daemon.client_env(*scope, token="env")
        first = run_probe("java", env, "wrapper")
        time.sleep(2.0)
        second = run_probe("java", env, "wrapper")
        ref = daemon.creds_json(*scope)
        calls = emulator.data_access_calls(f"s3://{BUCKET}/Product/")
    finally:
        daemon.stop()
        emulator.stop()

    assert first.returncode == 1, first
    assert "Failed to connect to service endpoint" in first["message"], first
    assert second.returncode == 0, second
    assert second["access_key_id"] == ref["AccessKeyId"]
    assert len(calls) == 1, calls


def test_java_v1_gets_a_cold_scope_when_the_upstream_answers_within_a_second(tmp_path):
    emulator, daemon, scope = _slow_scope(tmp_path, 700)
    try:
        got = run_probe("java", daemon.client_env(*scope, token="env"), "wrapper")
        ref = daemon.creds_json(*scope)
    finally:
        daemon.stop()
        emulator.stop()

    assert got.returncode == 0, got
    assert got["access_key_id"] == ref["AccessKeyId"]
