"""Fixtures that run the real grantd binary (emulator + daemon) for real clients.

Everything listens on 127.0.0.1 port 0; addresses come back through
--addr-file. Client programs run as subprocesses with an environment built
from scratch (see client_env), so nothing of this process's AWS settings, and
nothing of the daemon's base identity, can leak into them.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("CLIENTS_CACHE", ROOT / ".cache" / "clients"))
GRANTD = Path(os.environ.get("GRANTD_BIN", ROOT / "target" / "debug" / "grantd"))
PROBES = Path(__file__).resolve().parent / "probes"
VENV_BIN = CACHE / "venv" / "bin"
DATA_VENV_BIN = CACHE / "data-venv" / "bin"  # pandas, s3fs, pyarrow, polars (setup-clients)

BUCKET = "blog-access-grants-111122223333-us-east-1"
ACCOUNT = "111122223333"
ROLE_A_KEY = "AKIAGRANTDDEMOROLEA"
ROLE_A_SECRET = "grantd-demo-secret-not-a-real-key"
ROLE_A_ARN = "arn:aws:iam::111122223333:role/access-grants-blog-RoleA"
ROLE_B_ARN = "arn:aws:iam::111122223333:role/access-grants-blog-RoleB"

# Profiles every daemon in this suite serves. "userb" is a scope RoleA has
# no grant for: Access Grants refuses it.
PROFILES = {
    "usera": f"s3://{BUCKET}/UserA/*",
    "product": f"s3://{BUCKET}/Product/*",
    "userb": f"s3://{BUCKET}/UserB/*",
}

STARTUP_TIMEOUT = 30.0

# This process never needs AWS settings of its own; drop them so that a
# developer's shell cannot change what the tests see.
for _k in list(os.environ):
    if _k.startswith("AWS_") or _k in ("GRANTD_LISTEN", "GRANTD_TOKEN_FILE", "GRANTD_CONFIG"):
        del os.environ[_k]
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"



# ---------------------------------------------------------------- helpers


def http(method: str, url: str, headers: dict | None = None, body: bytes | None = None, timeout=5.0):
    """One HTTP call, no proxy; returns (status, headers, body bytes)."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=timeout) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def http_json(method, url, headers=None, payload=None):
    body = None if payload is None else json.dumps(payload).encode()
    h = dict(headers or {})
    if body is not None:
        h.setdefault("Content-Type", "application/json")
    status, _, data = http(method, url, h, body)
    return status, (json.loads(data) if data.strip() else None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, what: str, proc: "Service | None" = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.popen.poll() is not None:
            raise RuntimeError(f"{what}: process exited with {proc.popen.returncode}\n{proc.log_tail()}")
        with contextlib.suppress(Exception):
            if predicate():
                return
        time.sleep(0.1)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}" + (f"\n{proc.log_tail()}" if proc else ""))


_RUNNING: list["Service"] = []


@atexit.register
def _stop_leftovers():
    # Fixtures stop their services; this catches an interrupted run.
    for svc in list(_RUNNING):
        with contextlib.suppress(Exception):
            svc.popen.kill()


class Service:
    """A background process with its output in a log file."""

    def __init__(self, name: str, argv: list[str], env: dict, workdir: Path):
        self.name = name
        self.log_path = workdir / f"{name}.log"
        self._log = open(self.log_path, "wb")
        self.popen = subprocess.Popen(
            argv, env=env, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _RUNNING.append(self)

    def log_tail(self, n: int = 40) -> str:
        with contextlib.suppress(OSError):
            lines = self.log_path.read_text(errors="replace").splitlines()
            return f"--- last lines of {self.log_path} ---\n" + "\n".join(lines[-n:])
        return ""

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 10.0):
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._log.close()
        with contextlib.suppress(ValueError):
            _RUNNING.remove(self)


def read_addr_file(path: Path) -> str:
    text = path.read_text().strip()
    if not text:
        raise ValueError("empty addr file")
    return text


def base_env(**extra) -> dict:
    """PATH and friends only: no AWS_*, no HOME config, no proxies."""
    env = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL", "TZ", "JAVA_HOME", "SYSTEMROOT") if k in os.environ}
    env.update(NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    env.update({k: str(v) for k, v in extra.items() if v is not None})
    return env


# ---------------------------------------------------------------- emulator


class Emulator(Service):
    """`grantd emulate`: S3 Control + STS on loopback, with a control API."""

    def __init__(self, workdir: Path, grants: str | None = None, lifetime: int | None = None):
        workdir.mkdir(parents=True, exist_ok=True)
        addr_file = workdir / "emulator.addr"
        argv = [str(GRANTD), "emulate", "--listen", "127.0.0.1:0", "--addr-file", str(addr_file)]
        if grants is not None:
            gf = workdir / "grants.toml"
            gf.write_text(grants)
            argv += ["--grants", str(gf)]
        if lifetime is not None:
            argv += ["--credential-lifetime", str(lifetime)]
        super().__init__("emulator", argv, base_env(RUST_LOG="info"), workdir)
        wait_for(lambda: read_addr_file(addr_file), STARTUP_TIMEOUT, "emulator addr file", self)
        self.addr = read_addr_file(addr_file)
        self.url = f"http://{self.addr}"
        wait_for(lambda: http("GET", self.url + "/_emulator/calls")[0] == 200, STARTUP_TIMEOUT, "emulator", self)

    def calls(self) -> dict:
        status, body = http_json("GET", self.url + "/_emulator/calls")
        assert status == 200, body
        return body

    def call_list(self, operation: str | None = None) -> list[dict]:
        """The logged calls, optionally only one operation (e.g. GetDataAccess)."""
        body = self.calls()
        items = body.get("calls", []) if isinstance(body, dict) else body
        if operation is None:
            return items
        return [c for c in items if str(c.get("operation", c.get("op", ""))).lower() == operation.lower()]

    def data_access_calls(self, target_prefix: str = "") -> list[dict]:
        return [c for c in self.call_list("GetDataAccess") if str(c.get("target", "")).startswith(target_prefix)]

    def reset(self):
        assert http_json("POST", self.url + "/_emulator/reset", payload={})[0] in (200, 204)

    def settings(self, **kw):
        status, body = http_json("POST", self.url + "/_emulator/settings", payload=kw)
        assert status in (200, 204), body
        return body

    def faults(self, faults):
        status, body = http_json("POST", self.url + "/_emulator/faults", payload=faults)
        assert status in (200, 201, 204), body

    def clear_faults(self):
        assert http_json("DELETE", self.url + "/_emulator/faults")[0] in (200, 204)


# ---------------------------------------------------------------- daemon


def config_toml(profiles: dict = PROFILES, default: str = "usera") -> str:
    lines = []
    for name, target in profiles.items():
        lines += [f"[profiles.{name}]", f'target = "{target}"', 'permission = "READWRITE"', ""]
    return "\n".join(lines)


class Daemon(Service):
    """`grantd serve` pointed at an emulator, with RoleA as its base identity."""

    def __init__(self, workdir: Path, emulator: Emulator, imds: bool = True,
                 profiles: dict = PROFILES, extra_args: list[str] = (),
                 base_keys: tuple[str, str] = (ROLE_A_KEY, ROLE_A_SECRET), extra_env: dict | None = None):
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.addr_file = workdir / "grantd.addr"
        self.token_file = workdir / "grantd.token"
        self.config_file = workdir / "grantd.toml"
        self.config_file.write_text(config_toml(profiles))
        self.imds = imds
        argv = [str(GRANTD), "serve", "--listen", "127.0.0.1:0", "--addr-file", str(self.addr_file),
                "--token-file", str(self.token_file), "--config", str(self.config_file), *extra_args]
        if imds:
            argv.append("--imds")
        # The daemon's own identity: RoleA's keys (or base_keys), upstream = the emulator.
        self.daemon_env = base_env(
            HOME=str(workdir), RUST_LOG="info",
            AWS_ENDPOINT_URL_S3_CONTROL=emulator.url, AWS_ENDPOINT_URL_STS=emulator.url,
            AWS_REGION="us-east-1", AWS_ACCESS_KEY_ID=base_keys[0], AWS_SECRET_ACCESS_KEY=base_keys[1],
            AWS_EC2_METADATA_DISABLED="true",
            AWS_CONFIG_FILE=str(workdir / "no-aws-config"),
            AWS_SHARED_CREDENTIALS_FILE=str(workdir / "no-aws-credentials"),
        )
        # After the defaults, so that extra_env may override any (RUST_LOG too).
        self.daemon_env.update(extra_env or {})
        super().__init__("grantd", argv, self.daemon_env, workdir)
        wait_for(lambda: read_addr_file(self.addr_file), STARTUP_TIMEOUT, "grantd addr file", self)
        self.addr = read_addr_file(self.addr_file)
        self.url = f"http://{self.addr}"
        wait_for(lambda: http("GET", self.url + "/readyz")[0] == 200, STARTUP_TIMEOUT, "grantd /readyz", self)
        self.token = self.token_file.read_text()

    # -- the daemon's own CLI, run with the daemon's settings (env vars)
    def cli_env(self) -> dict:
        return base_env(HOME=str(self.workdir), GRANTD_LISTEN=self.addr,
                        GRANTD_TOKEN_FILE=str(self.token_file), GRANTD_CONFIG=str(self.config_file))

    def cli(self, *args: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
        cp = subprocess.run([str(GRANTD), *args], env={**self.cli_env(), **(env or {})}, capture_output=True,
                            text=True, timeout=30)
        if check and cp.returncode != 0:
            raise AssertionError(f"grantd {' '.join(args)} exited {cp.returncode}:\n{cp.stdout}\n{cp.stderr}")
        return cp

    def creds_json(self, *scope: str) -> dict:
        return json.loads(self.cli("creds", *scope, "--format", "json").stdout)

    def env_lines(self, *scope: str, env: dict | None = None) -> tuple[dict, list[str]]:
        """Apply `grantd env` in a real bash (`eval "$(grantd env ...)"`, as the docs
        tell users) and return (variables it set, variables it unset). `env`:
        more of the shell's environment that `grantd env` sees (e.g. SPARK_CONF_DIR)."""
        out = self.cli("env", *scope, env=env).stdout
        probe = {"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/set-before-eval"}
        script = 'eval "$GRANTD_ENV_OUTPUT" && env -0'
        cp = subprocess.run(["bash", "-c", script], env=base_env(GRANTD_ENV_OUTPUT=out, **probe),
                            capture_output=True, timeout=30)
        assert cp.returncode == 0, (out, cp.stderr)
        after = dict(item.split("=", 1) for item in cp.stdout.decode().split("\0") if "=" in item)
        before = base_env(GRANTD_ENV_OUTPUT=out, **probe)
        exports = {k: v for k, v in after.items()
                   if k.startswith(("AWS_", "GRANTD_", "RCLONE_", "SPARK_")) and before.get(k) != v}
        unsets = [k for k in before if k not in after]
        return exports, unsets

    def client_env(self, *scope: str, token: str = "both", **extra) -> dict:
        """Environment of an unchanged client program, built from `grantd env`.

        token="both": as `grantd env` prints it (AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE
        and AWS_CONTAINER_AUTHORIZATION_TOKEN); token="file": only the _FILE
        variable; token="env": only the token itself (what Java v1 < 1.12.746 reads).
        """
        exports, unsets = self.env_lines(*scope)
        assert "AWS_CONTAINER_CREDENTIALS_FULL_URI" in exports, exports
        assert "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI" in unsets, unsets
        env = client_base_env(self.workdir)
        env.update(exports)
        env.setdefault("AWS_CONTAINER_AUTHORIZATION_TOKEN", self.token)
        env.setdefault("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", str(self.token_file))
        if token == "env":
            env.pop("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
        elif token == "file":
            env.pop("AWS_CONTAINER_AUTHORIZATION_TOKEN")
        for k in unsets:
            env.pop(k, None)
        env.update({k: str(v) for k, v in extra.items() if v is not None})
        return {k: v for k, v in env.items() if v is not None}

    def s3_env(self, spark_conf_dir: Path | None = None, spark_from: Path | None = None, **extra) -> dict:
        """Environment of an unchanged client of the S3 endpoint, built from
        `eval "$(grantd env --s3)"` alone: the base identity through FULL_URI
        (both token forms), AWS_ENDPOINT_URL_S3 = the daemon's S3 endpoint, and
        rclone's RCLONE_S3_ENDPOINT and path style. With spark_conf_dir, also
        `--spark-conf-dir` (s3a's settings written there, SPARK_CONF_DIR set),
        copying Spark's own configuration from spark_from."""
        args = ["--s3"] + (["--spark-conf-dir", str(spark_conf_dir)] if spark_conf_dir else [])
        exports, unsets = self.env_lines(*args, env={"SPARK_CONF_DIR": str(spark_from)} if spark_from else None)
        assert exports["AWS_CONTAINER_CREDENTIALS_FULL_URI"] == self.url + "/v1/base-credentials", exports
        assert exports["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] == str(self.token_file), exports
        assert exports["AWS_CONTAINER_AUTHORIZATION_TOKEN"] == self.token
        assert exports["AWS_ENDPOINT_URL_S3"].startswith("http://127.0.0.1:"), exports
        assert "AWS_ENDPOINT_URL" not in exports, exports
        assert exports["RCLONE_S3_ENDPOINT"] == exports["AWS_ENDPOINT_URL_S3"], exports
        assert exports["RCLONE_S3_FORCE_PATH_STYLE"] == "true", exports
        if spark_conf_dir:
            assert exports["SPARK_CONF_DIR"] == str(spark_conf_dir), exports
        assert "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI" in unsets, unsets
        env = client_base_env(self.workdir)
        env.update(exports)
        for k in unsets:
            env.pop(k, None)
        env.update({k: str(v) for k, v in extra.items() if v is not None})
        return env

    def metrics(self) -> str:
        status, _, body = http("GET", self.url + "/metrics")
        assert status == 200, body
        return body.decode()


def client_base_env(workdir: Path, **extra) -> dict:
    """A client process: no static keys, no profile, no shared config, no IMDS."""
    home = workdir / "client-home"
    home.mkdir(exist_ok=True)
    env = base_env(
        HOME=str(home), AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=str(home / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "no-aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    env.update({k: str(v) for k, v in extra.items() if v is not None})
    return env


# ---------------------------------------------------------------- clients


class ProbeResult:
    def __init__(self, argv, cp: subprocess.CompletedProcess):
        self.argv, self.returncode, self.stdout, self.stderr = argv, cp.returncode, cp.stdout, cp.stderr
        last = [l for l in cp.stdout.splitlines() if l.startswith("{")]
        self.json = json.loads(last[-1]) if last else {}

    def __getitem__(self, k):
        return self.json[k]

    def get(self, k, default=None):
        return self.json.get(k, default)

    def __repr__(self):
        return f"<probe rc={self.returncode} json={self.json} stderr={self.stderr[-2000:]!r}>"


def java_classpath() -> str:
    return (CACHE / "java" / "classpath").read_text().strip()


def run_probe(client: str, env: dict, *args: str, java_opts: list[str] = (), timeout: float = 60) -> ProbeResult:
    if client == "boto3":
        argv = [str(VENV_BIN / "python"), str(PROBES / "boto3_probe.py"), *args]
    elif client == "data":
        argv = [str(DATA_VENV_BIN / "python"), str(PROBES / "data_probe.py"), *args]
    elif client == "js":
        env = dict(env, NODE_PATH=str(CACHE / "node" / "node_modules"))
        argv = ["node", str(PROBES / "js_probe.cjs"), *args]
    elif client == "rust":
        # aws-config's default credential chain in its own process.
        argv = [str(GRANTD), "sdk-probe", *args]
    elif client == "java":
        argv = ["java", "-Xshare:auto", *java_opts, "-cp", java_classpath(), "JavaV1Probe", *args]
    else:
        raise ValueError(client)
    cp = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return ProbeResult(argv, cp)


def run_aws(env: dict, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([str(VENV_BIN / "aws"), *args], env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


# ---------------------------------------------------------------- fixtures


def _require_tools():
    if not GRANTD.exists():
        pytest.exit(f"{GRANTD} not found: run `cargo build` (scripts/test-clients does)", returncode=2)
    if not (VENV_BIN / "python").exists():
        pytest.exit("client tools missing: run scripts/setup-clients", returncode=2)


@pytest.fixture(scope="session")
def emulator(tmp_path_factory):
    _require_tools()
    emu = Emulator(tmp_path_factory.mktemp("emulator"))
    yield emu
    emu.stop()


@pytest.fixture(scope="session")
def daemon(tmp_path_factory, emulator):
    d = Daemon(tmp_path_factory.mktemp("grantd"), emulator)
    yield d
    d.stop()


@pytest.fixture(scope="session")
def moto(tmp_path_factory):
    """moto_server with IAM enforcement on, roles per grant (see motoenv.py)."""
    _require_tools()
    from motoenv import Moto

    m = Moto(tmp_path_factory.mktemp("moto"))
    yield m
    m.stop()


# ---------------------------------------------------------------- spark


def spark_defaults(conf_dir: Path, client_env: dict, s3_endpoint: str | None, bucket: str = BUCKET,
                   extra: dict | None = None) -> Path:
    """Write SPARK_CONF_DIR/spark-defaults.conf: the whole grantd setup for s3a.

    Credentials: Hadoop 3.3's IAMInstanceCredentialsProvider (AWS SDK v1
    EC2ContainerCredentialsProviderWrapper) reads AWS_CONTAINER_CREDENTIALS_FULL_URI
    and AWS_CONTAINER_AUTHORIZATION_TOKEN from the JVM's environment, which local
    mode's executors share: the token never enters the conf file (README, Spark).
    Only the named bucket is switched to grantd (fs.s3a.bucket.NAME.*).
    s3_endpoint None: no endpoint or provider at all (`grantd env --s3
    --spark-conf-dir` adds them).
    """
    jars = CACHE / "jars"
    conf = {
        "spark.master": "local[1]",
        "spark.ui.enabled": "false",
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.sql.shuffle.partitions": "1",
        "spark.jars": f"{jars}/hadoop-aws-3.3.1.jar,{jars}/aws-java-sdk-bundle-1.11.901.jar",
        **({} if s3_endpoint is None else {
            f"spark.hadoop.fs.s3a.bucket.{bucket}.aws.credentials.provider":
                "org.apache.hadoop.fs.s3a.auth.IAMInstanceCredentialsProvider",
            f"spark.hadoop.fs.s3a.bucket.{bucket}.endpoint": s3_endpoint,
        }),
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.connection.ssl.enabled": "false",
        # moto authorizes a bulk DeleteObjects against the bucket ARN instead of each
        # key (AWS checks s3:DeleteObject per key), so a prefix-scoped role fails
        # it; single deletes are checked per key. Not needed against AWS S3.
        "spark.hadoop.fs.s3a.multiobjectdelete.enable": "false",
        # Fail fast and visibly: one SDK attempt, one S3A retry.
        "spark.hadoop.fs.s3a.attempts.maximum": "1",
        "spark.hadoop.fs.s3a.retry.limit": "1",
        **(extra or {}),
    }
    conf_dir.mkdir(parents=True, exist_ok=True)
    (conf_dir / "spark-defaults.conf").write_text("".join(f"{k} {v}\n" for k, v in conf.items()))
    (conf_dir / "log4j2.properties").write_text(
        "rootLogger.level = warn\nrootLogger.appenderRef.stdout.ref = console\n"
        "appender.console.type = Console\nappender.console.name = console\n"
        "appender.console.target = SYSTEM_ERR\nappender.console.layout.type = PatternLayout\n"
        "appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n\n")
    return conf_dir


def run_spark_job(env: dict, conf_dir: Path, *args: str, timeout: float = 300) -> ProbeResult:
    env = dict(env, SPARK_CONF_DIR=str(conf_dir), SPARK_LOCAL_IP="127.0.0.1",
               PYSPARK_PYTHON=str(VENV_BIN / "python"), PYSPARK_DRIVER_PYTHON=str(VENV_BIN / "python"))
    argv = [str(VENV_BIN / "python"), str(PROBES / "spark_job.py"), *args]
    cp = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return ProbeResult(argv, cp)


def abalone_csv(rows: int = 200, seed: int = 7) -> str:
    """A small abalone-shaped data set (same columns as UCI abalone), generated."""
    import random

    rnd = random.Random(seed)
    lines = ["sex,length,diameter,height,whole_weight,shucked_weight,viscera_weight,shell_weight,rings"]
    for _ in range(rows):
        length = round(rnd.uniform(0.075, 0.815), 3)
        diameter = round(length * rnd.uniform(0.7, 0.85), 3)
        height = round(length * rnd.uniform(0.2, 0.35), 3)
        whole = round(length ** 3 * rnd.uniform(3.0, 4.5), 4)
        lines.append(",".join(map(str, [
            rnd.choice("MFI"), length, diameter, height, whole, round(whole * 0.43, 4),
            round(whole * 0.22, 4), round(whole * 0.29, 4), rnd.randint(1, 29)])))
    return "\n".join(lines) + "\n"
