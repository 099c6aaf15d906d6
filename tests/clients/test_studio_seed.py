"""The Studio seed notebook, end to end: deploy/studio-lifecycle.sh (s3 mode,
the default) in a scratch space, then a notebook kernel and a terminal shell
set up only by what the script wrote, against moto enforcing SigV4 and IAM.

The space's identity is a real execution role in moto (motoenv.EXEC_ROLE):
one AssumeRole session of it, minted with the admin keys, served in the
container format by a stand-in of Studio's credentials endpoint
(CredentialsEndpoint). The script, hence its supervised daemon, gets it
through AWS_CONTAINER_CREDENTIALS_FULL_URI (Studio gives RELATIVE_URI,
which is 169.254.170.2: the same provider, another address). The emulator
knows that session's key id as RoleA, whose grants are UserA/* and Product/*
READWRITE, each minted as a moto session of a role allowed only that prefix;
RoleA has none on UserB/, and the execution role has nothing on the grants
bucket.

The kernel and the shell start with a Studio environment only: the space's
AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (which the start-up file and
client.env must drop), no keys, the region, and, because "AWS" is moto here,
AWS_ENDPOINT_URL_STS and AWS_ENDPOINT_URL_SAGEMAKER at moto (they stand for
the real services; nothing of grantd's may touch them). HTTP(S)_PROXY is a
trap that lets nothing through, so whatever would leave loopback is seen
(ProxyTrap), and NO_PROXY only comes from what the script wrote.

What is checked: the outcome of each step; moto's access log (which key
signed each request that reached it: the execution role's session, or a
grant's as the emulator issued it); grantd's /metrics; that nothing left
loopback; that no file in the space's home holds the session's secret or
token or grantd's token (but the token file); and the script's limits (size,
a second run starts no second daemon).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import threading
from dataclasses import dataclass
from datetime import timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import (
    BUCKET, CACHE, GRANTD, PROBES, ROOT, VENV_BIN, Emulator, abalone_csv, base_env, free_port, http, http_json,
)
from motoenv import EXEC_ROLE, EXEC_ROLE_ARN, MOTO_ACCOUNT, NO_GRANT_BUCKET, Moto

pytestmark = pytest.mark.studio

LCC = ROOT / "deploy" / "studio-lifecycle.sh"
KERNEL_PYTHON = CACHE / "studio-venv" / "bin" / "python"  # pandas/s3fs + the sagemaker SDK
DEFAULT_BUCKET = NO_GRANT_BUCKET  # sagemaker-us-east-1-123456789012: the notebook creates it
TRAIN_KEY = "UserA/output/train/part-00000"
SECRET_KEY = "seed/secret.csv"  # under UserB/, RoleB's: put by the admin
SESSION_ARN = f"arn:aws:sts::{MOTO_ACCOUNT}:assumed-role/{EXEC_ROLE}/SageMaker"
S3_REQUESTS = "grantd_s3_requests_total"
STARTUP = ".ipython/profile_default/startup/00-grantd.py"


class CredentialsEndpoint:
    """Studio's credentials endpoint for the space, on loopback: serves one
    session of the execution role in the container format, and counts the
    fetches."""

    PATH = "/v2/credentials/space-execution-role"

    def __init__(self, creds: dict):
        body = json.dumps({
            "RoleArn": EXEC_ROLE_ARN,
            "AccessKeyId": creds["AccessKeyId"],
            "SecretAccessKey": creds["SecretAccessKey"],
            "Token": creds["SessionToken"],
            "Expiration": creds["Expiration"].astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }).encode()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                ok = self.path == CredentialsEndpoint.PATH
                if ok:
                    endpoint.fetches += 1
                self.send_response(200 if ok else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body) if ok else 0))
                self.end_headers()
                if ok:
                    self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.fetches = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{self.PATH}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class ProxyTrap:
    """An HTTP(S) proxy that lets nothing through: set as HTTP(S)_PROXY of
    the kernel and the shell, it is where anything bound off loopback would
    go. Records the first line of each request and answers 403."""

    def __init__(self):
        self.seen: list[str] = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    self.seen.append(conn.recv(4096).split(b"\r\n", 1)[0].decode(errors="replace"))
                    conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                except OSError:
                    pass

    def stop(self):
        self.sock.close()


@dataclass
class Space:
    home: Path
    moto: Moto
    emulator: Emulator
    creds: dict  # the execution role's session
    endpoint: CredentialsEndpoint
    trap: ProxyTrap
    lcc_env: dict
    csv: str  # UserA/output/train/part-00000

    def client_env(self, name: str) -> str:
        """A value the script wrote to ~/.config/grantd/client.env."""
        text = (self.home / ".config/grantd/client.env").read_text()
        return re.search(rf"^export {name}='([^']*)'$", text, re.M)[1]

    @property
    def daemon_url(self) -> str:
        return self.client_env("AWS_CONTAINER_CREDENTIALS_FULL_URI").rsplit("/v1/", 1)[0]

    def token(self) -> str:
        return Path(self.client_env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")).read_text()

    def studio_env(self, **extra) -> dict:
        """What Studio gives a kernel or a terminal, and nothing of grantd's:
        the space's RELATIVE_URI, the region, no keys; STS and SageMaker at
        moto (the real services here); every proxy the trap, and no NO_PROXY."""
        env = base_env(
            HOME=str(self.home), AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1",
            AWS_CONTAINER_CREDENTIALS_RELATIVE_URI="/v2/credentials/space-execution-role",
            AWS_ENDPOINT_URL_STS=self.moto.url, AWS_ENDPOINT_URL_SAGEMAKER=self.moto.url,
            AWS_EC2_METADATA_DISABLED="true",
            HTTP_PROXY=self.trap.url, HTTPS_PROXY=self.trap.url, http_proxy=self.trap.url,
            https_proxy=self.trap.url, **extra,
        )
        del env["NO_PROXY"], env["no_proxy"]
        return env

    def run_lcc(self) -> subprocess.CompletedProcess:
        cp = subprocess.run(["bash", str(LCC)], env=self.lcc_env, capture_output=True, text=True, timeout=120,
                            stdin=subprocess.DEVNULL)
        assert cp.returncode == 0, f"{cp.stdout}\n{cp.stderr}\n{self.log()}"
        return cp

    def log(self) -> str:
        logs = list((self.home / "run").glob("grantd/grantd.log"))
        return logs[0].read_text(errors="replace") if logs else ""

    def daemons(self) -> list[int]:
        """PIDs of `grantd serve` processes whose HOME is this space's."""
        return processes(self.home, lambda argv: len(argv) >= 2 and argv[1] == "serve")

    def supervisors(self) -> list[int]:
        script = str(self.home / ".config/grantd/supervise")
        return processes(self.home, lambda argv: argv[:2] == ["bash", script])

    # -- what reached S3 (moto's access log) and who signed it
    def mark(self) -> int:
        return len(self.moto.calls())

    def signers(self, mark: int, needle: str, method: str | None = None) -> set[str]:
        """Key ids that signed what reached moto since `mark` with `needle`
        in its path (the test's own admin reads left out)."""
        return {k for m, p, k, _ in self.moto.calls()[mark:]
                if needle in p and method in (None, m) and k != self.moto.admin_key}

    def who(self, key_id: str) -> str:
        """"exec-role" for the execution role's session, else the grant the
        emulator issued `key_id` for."""
        if key_id == self.creds["AccessKeyId"]:
            return "exec-role"
        status, body = http_json("GET", f"{self.emulator.url}/_emulator/issued/{key_id}")
        return body["matched_grant_target"] if status == 200 else f"unknown {key_id}"

    def signed_by(self, mark: int, needle: str, method: str | None = None) -> set[str]:
        return {self.who(k) for k in self.signers(mark, needle, method)}

    def outcomes(self) -> dict[str, float]:
        """grantd's S3 request counter, summed by outcome."""
        status, _, body = http("GET", self.daemon_url + "/metrics")
        assert status == 200, body
        out: dict[str, float] = {}
        for m in re.finditer(rf'^{S3_REQUESTS}\{{[^}}]*outcome="([^"]*)"[^}}]*\}} (\S+)$', body.decode(), re.M):
            out[m[1]] = out.get(m[1], 0) + float(m[2])
        return out

    def admin_bytes(self, bucket: str, key: str) -> bytes:
        return self.moto.admin("s3").get_object(Bucket=bucket, Key=key)["Body"].read()


def processes(home: Path, matches) -> list[int]:
    """PIDs whose environment has HOME=home and whose argv matches."""
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            environ = (d / "environ").read_bytes().split(b"\0")
            argv = [a.decode(errors="replace") for a in (d / "cmdline").read_bytes().split(b"\0") if a]
        except OSError:
            continue
        if f"HOME={home}".encode() in environ and matches(argv):
            found.append(int(d.name))
    return found


def grant(prefix: str) -> str:
    return f"s3://{BUCKET}/{prefix}*"


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    if not KERNEL_PYTHON.exists():
        pytest.exit(f"{KERNEL_PYTHON} missing: run scripts/setup-clients", returncode=2)
    workdir = tmp_path_factory.mktemp("studio-seed")
    moto = Moto(workdir / "moto", buckets=(BUCKET,))
    creds = moto.exec_role_session()
    assert creds["AccessKeyId"].startswith("ASIA") and creds["SessionToken"], creds
    endpoint = CredentialsEndpoint(creds)
    emulator = Emulator(workdir / "emulator", grants=moto.studio_grants_toml(creds["AccessKeyId"]))
    trap = ProxyTrap()
    admin = moto.admin("s3")
    csv = abalone_csv(rows=40)
    admin.put_object(Bucket=BUCKET, Key=TRAIN_KEY, Body=csv.encode())
    admin.put_object(Bucket=BUCKET, Key=f"UserB/{SECRET_KEY}", Body=b"B only")

    home = workdir / "home"
    for d in (home / "run", home / "tmp"):
        d.mkdir(parents=True)
    # The lifecycle script as Studio runs it, with the space's role from the
    # credentials endpoint; AWS's Access Grants and STS are the emulator, S3 moto.
    lcc_env = base_env(
        HOME=str(home), XDG_RUNTIME_DIR=str(home / "run"), TMPDIR=str(home / "tmp"),
        GRANTD_BIN=str(GRANTD), GRANTD_LISTEN="127.0.0.1:0", GRANTD_S3_LISTEN=f"127.0.0.1:{free_port()}",
        AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1",
        AWS_CONTAINER_CREDENTIALS_FULL_URI=endpoint.url, AWS_EC2_METADATA_DISABLED="true",
        AWS_ENDPOINT_URL_S3_CONTROL=emulator.url, AWS_ENDPOINT_URL_STS=emulator.url,
        AWS_ENDPOINT_URL_S3=moto.url,
    )
    s = Space(home, moto, emulator, creds, endpoint, trap, lcc_env, csv)
    try:
        out = s.run_lcc()
        assert "(s3 mode)" in out.stdout, out.stdout
        # The user's SageMaker SDK defaults: no telemetry (it would call AWS
        # at an address of its own, and the trap would count it).
        conf = home / ".config/sagemaker/config.yaml"
        conf.parent.mkdir(parents=True)
        conf.write_text("SchemaVersion: '1.0'\nSageMaker:\n  PythonSDK:\n    Modules:\n      TelemetryOptOut: true\n")
        yield s
    finally:
        subprocess.run(["bash", str(home / ".config/grantd/supervise"), "stop"], env=base_env(HOME=str(home)),
                       capture_output=True, timeout=60)
        for pid in s.daemons() + s.supervisors():
            os.kill(pid, 15)
        emulator.stop()
        moto.stop()
        endpoint.stop()
        trap.stop()


# ---------------------------------------------------------------- the kernel


def test_the_seed_notebook_runs_in_one_kernel_with_the_execution_role_and_the_grants(space):
    s = space
    run = "seed-kernel"
    before, mark = s.outcomes(), s.mark()
    kernel = subprocess.run(
        [str(KERNEL_PYTHON), str(PROBES / "studio_kernel.py"), str(s.home / STARTUP), "--",
         str(PROBES / "studio_seed.py")],
        env=s.studio_env(SEED_GRANTS_BUCKET=BUCKET, SEED_PREFIX=run, SAGEMAKER_SUPPRESS_V2_WARNING="1"),
        cwd=s.home, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
    lines = [line for line in kernel.stdout.splitlines() if line.startswith("{")]
    assert kernel.returncode == 0 and lines, f"{kernel.stdout}\n{kernel.stderr}\n{s.log()}"
    seen = json.loads(lines[-1])
    key = s.creds["AccessKeyId"]

    # STS: the execution role, answered by moto (STS is not grantd's).
    assert seen["arn"] == SESSION_ARN
    assert s.signers(mark, "/", "POST") >= {key}

    # The default bucket: created and written by the execution role, through
    # grantd's base fallback.
    assert (seen["role"], seen["bucket"]) == (EXEC_ROLE_ARN, DEFAULT_BUCKET)
    assert seen["default_bucket_read"] == "hello from the seed"
    assert s.admin_bytes(DEFAULT_BUCKET, f"{run}/input/hello.txt") == b"hello from the seed"
    assert s.signers(mark, f"/{DEFAULT_BUCKET}", "PUT") == {key}
    assert [p for m, p, k, _ in s.moto.calls()[mark:] if m == "PUT" and p == f"/{DEFAULT_BUCKET}"], \
        "CreateBucket never reached S3"

    # SageMaker: the processing job, created by the execution role for
    # itself, its code uploaded to the default bucket by the SDK.
    job = seen["job"]
    assert job["RoleArn"] == EXEC_ROLE_ARN, job
    described = s.moto.admin("sagemaker").describe_processing_job(ProcessingJobName=job["ProcessingJobName"])
    assert described["RoleArn"] == EXEC_ROLE_ARN
    assert {k for _, _, k, t in s.moto.calls()[mark:] if t == "SageMaker.CreateProcessingJob"} == {key}
    code = seen["job_code"][0].removeprefix(f"s3://{DEFAULT_BUCKET}/")
    assert s.admin_bytes(DEFAULT_BUCKET, code) == b"print('preprocessing')\n"

    # pandas: the training data through UserA's grant.
    assert seen["rows"] == len(s.csv.splitlines()) - 1
    assert seen["columns"] == s.csv.splitlines()[0].split(",")
    assert s.signed_by(mark, TRAIN_KEY, "GET") == {grant("UserA/")}

    # A write under Product/ through its grant.
    assert s.admin_bytes(BUCKET, f"Product/{run}/sample.csv").decode() == seen["product_csv"]
    assert s.signed_by(mark, f"/Product/{run}/", "PUT") == {grant("Product/")}

    # UserB/: S3 refuses the execution role (the fallback); nothing written.
    assert (seen["userb_get"], seen["userb_put"]) == ("AccessDenied", "AccessDenied"), seen
    assert s.signed_by(mark, f"/UserB/{run}/") == {"exec-role"}
    assert not s.moto.admin("s3").list_objects_v2(Bucket=BUCKET, Prefix=f"UserB/{run}/").get("KeyCount")

    grown = {k: n - before.get(k, 0) for k, n in s.outcomes().items()}
    assert grown.get("grant", 0) >= 3 and grown.get("base", 0) >= 4, grown
    assert s.trap.seen == [], "the kernel tried to leave loopback"
    assert s.endpoint.fetches >= 1


# ---------------------------------------------------------------- the terminal


def test_a_terminal_gets_the_same_with_the_aws_cli(space):
    s = space
    run = "seed-terminal"
    (s.home / "local.csv").write_text(s.csv)
    before, mark = s.outcomes(), s.mark()
    script = f"""
step() {{ local name=$1; shift; "$@" >"$OUT/$name.out" 2>"$OUT/$name.err"; echo $? >"$OUT/$name.rc"; }}
step sts aws sts get-caller-identity --query Arn --output text
step usera aws s3 cp local.csv s3://{BUCKET}/UserA/{run}/local.csv
step default aws s3 cp local.csv s3://{DEFAULT_BUCKET}/{run}/local.csv
step jobs aws sagemaker list-processing-jobs --query 'ProcessingJobSummaries[].ProcessingJobName' --output text
step userb aws s3 cp s3://{BUCKET}/UserB/{SECRET_KEY} -
"""
    out = s.home.parent / "terminal-out"
    out.mkdir()
    # An interactive shell reads ~/.bashrc, where the script put client.env.
    shell = subprocess.run(["bash", "-i", "-c", script],
                           env=s.studio_env(PATH=f"{VENV_BIN}:{os.environ['PATH']}", OUT=str(out)),
                           cwd=s.home, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert shell.returncode == 0, shell.stderr

    def step(name):
        return int((out / f"{name}.rc").read_text()), (out / f"{name}.out").read_text(), \
            (out / f"{name}.err").read_text()

    key = s.creds["AccessKeyId"]
    for name in ("sts", "usera", "default", "jobs"):
        assert step(name)[0] == 0, step(name)
    assert step("sts")[1].strip() == SESSION_ARN
    assert s.admin_bytes(BUCKET, f"UserA/{run}/local.csv").decode() == s.csv
    assert s.signed_by(mark, f"/UserA/{run}/", "PUT") == {grant("UserA/")}
    assert s.admin_bytes(DEFAULT_BUCKET, f"{run}/local.csv").decode() == s.csv
    assert s.signers(mark, f"/{DEFAULT_BUCKET}/{run}/", "PUT") == {key}
    assert "grantd-seed" in step("jobs")[1]
    assert {k for _, _, k, t in s.moto.calls()[mark:] if t == "SageMaker.ListProcessingJobs"} == {key}
    # The CLI's download starts with HeadObject, whose 403 has no body.
    rc, _, err = step("userb")
    assert rc != 0 and re.search(r"\(403\)|AccessDenied|Forbidden", err), err
    assert s.signed_by(mark, f"/UserB/{SECRET_KEY}") == {"exec-role"}

    grown = {k: n - before.get(k, 0) for k, n in s.outcomes().items()}
    assert grown.get("grant", 0) >= 1 and grown.get("base", 0) >= 2, grown
    assert s.trap.seen == [], "the shell tried to leave loopback"


# ---------------------------------------------------------------- the space


def test_no_file_of_the_space_holds_a_secret(space):
    s = space
    token_file = Path(s.client_env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"))
    secrets = {"the session's secret": s.creds["SecretAccessKey"], "the session's token": s.creds["SessionToken"],
               "grantd's token": s.token()}
    found = []
    for path in s.home.rglob("*"):
        if path.is_file() and not path.is_symlink() and path != token_file:
            data = path.read_bytes()
            found += [f"{path}: {what}" for what, secret in secrets.items() if secret.encode() in data]
    assert not found, found


def test_the_lifecycle_script_keeps_its_studio_limits(space):
    s = space
    assert len(LCC.read_bytes()) < 16384
    daemons, supervisors = s.daemons(), s.supervisors()
    assert len(daemons) == 1 and len(supervisors) == 1, (daemons, supervisors)
    s.run_lcc()
    assert (s.daemons(), s.supervisors()) == (daemons, supervisors), "a second run started another daemon"
