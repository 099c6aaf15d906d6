"""Driver of benches/s3.sh: grantd's S3 endpoint against the same local S3
(s3s-fs) reached directly, in one run.

Stack (all on 127.0.0.1, started and stopped here, by PID): s3s-fs with one
access key, checking SigV4 on every request (its store in a scratch
directory, on tmpfs when /dev/shm is there); an STS of one purpose
(benches/s3_sts.py) whose AssumeRole answers with s3s-fs's key; `grantd
emulate` in assume-role mode against that STS, with RoleA's two grants
(UserA/* and Product/*); a release `grantd serve --s3-listen` whose base
identity is RoleA and whose AWS_ENDPOINT_URL_S3 is s3s-fs. So signatures are
checked on both hops: grantd checks the client's (base identity), s3s-fs
checks grantd's (the grant's vended key), and neither key works at the other
(checked before measuring).

Measures, in this order:
  grants   10,000 GETs over the two grants, cold cache: GetDataAccess calls
  small    4 KiB GET with wrk at 1 and 16 connections, grantd and direct
           alternating for ROUNDS rounds: req/s, p50, p99, daemon CPU/request
  big      256 MiB GET and PUT with curl (presigned URLs), alternating:
           MiB/s, daemon CPU seconds per GiB
  uploads  16 concurrent 256 MiB uploads, signed chunked (benches/s3_chunked.py)
           and presigned (curl, UNSIGNED-PAYLOAD): daemon peak RSS (VmHWM after
           clear_refs, and VmRSS sampled every 5 ms), aggregate MiB/s, CPU/GiB
Every response is checked: status 200, bodies by SHA-256 (and wrk's
non-2xx/socket errors), uploads by S3's ETag (MD5) and size.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MiB = 1024 * 1024
GiB = 1024 * MiB
# s3s-fs's one key (local to this run, not a secret of anything).
S3_KEY, S3_SECRET = "AKIAS3SFSBENCHKEY000", "s3s-fs-bench-secret-key-loopback-only"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--grantd", required=True)
    p.add_argument("--s3s-fs", required=True)
    p.add_argument("--s3s-fs-preload", help="LD_PRELOAD for s3s-fs: benches/s3_nodelay.c")
    p.add_argument("--seconds", type=int, default=5, help="each wrk run")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--big-mib", type=int, default=256)
    p.add_argument("--uploads", type=int, default=16, help="concurrent uploads")
    p.add_argument("--requests", type=int, default=10000, help="GETs over the two grants")
    p.add_argument("--only", default="grants,small,big,uploads")
    p.add_argument("--json", type=Path)
    p.add_argument("--hold", action="store_true", help="after the setup, print the daemon's pid and presigned "
                   "4 KiB GET URLs (direct, grantd) and wait until stdin closes: for profiling by hand")
    p.add_argument("--perf", type=Path, help="record the daemon with perf (call graphs) during each grantd "
                   "run into this directory: small-cN, big-GET/PUT, uploads-MODE .data files")
    a = p.parse_args()
    a.only = set(a.only.split(","))
    return a


ARGS = parse_args()
os.environ["CLIENTS_CACHE"] = os.environ.get("BENCH_CACHE", str(ROOT / ".cache" / "bench"))
os.environ["GRANTD_BIN"] = str(Path(ARGS.grantd).resolve())
sys.path.insert(0, str(ROOT / "tests" / "clients"))
sys.path.insert(0, str(HERE))
from conftest import (BUCKET, ROLE_A_ARN, ROLE_A_KEY, ROLE_A_SECRET, Daemon, Emulator,  # noqa: E402
                      Service, base_env, http, wait_for)
import s3_chunked  # noqa: E402
from s3_tools import HZ, BenchError, Perf, RssSampler, ticks, wrk  # noqa: E402
from s3_report import report  # noqa: E402
from s3_sts import FixedKeySts  # noqa: E402

import botocore.config  # noqa: E402
import botocore.session  # noqa: E402


def check(ok: bool, what: str):
    if not ok:
        raise BenchError(what)


class S3sFs(Service):
    def __init__(self, binary: str, root: Path, workdir: Path):
        root.mkdir(parents=True, exist_ok=True)
        argv = [binary, "--host", "127.0.0.1", "--port", "0",
                "--access-key", S3_KEY, "--secret-key", S3_SECRET, str(root)]
        env = base_env(RUST_LOG="s3s_fs=info", NO_COLOR="1", LD_PRELOAD=ARGS.s3s_fs_preload)
        super().__init__("s3s-fs", argv, env, workdir)
        pattern = re.compile(r"server is running at (http://127\.0\.0\.1:\d+)")

        def addr():
            m = pattern.search(self.log_text())
            return m.group(1) if m else None
        wait_for(addr, 30, "s3s-fs's address", self)
        self.url = addr()


def grants_toml(sts: FixedKeySts) -> str:
    grants = "".join(
        f'\n[[grants]]\ngrantee = "{ROLE_A_ARN}"\ntarget = "s3://{BUCKET}/{p}/*"\npermission = "READWRITE"\n'
        f'role_arn = "arn:aws:iam::111122223333:role/grantd-bench-{p.lower()}"\n'
        for p in ("UserA", "Product"))
    return (f'account_id = "111122223333"\nregion = "us-east-1"\n\n'
            f'[[identities]]\narn = "{ROLE_A_ARN}"\naccess_key_id = "{ROLE_A_KEY}"\n{grants}\n'
            f'[assume_role]\nendpoint = "{sts.url}"\naccess_key_id = "grantd-bench"\n'
            f'secret_access_key = "grantd-bench"\n')


def presigner(endpoint: str, key: str, secret: str):
    session = botocore.session.Session()
    return session.create_client(
        "s3", region_name="us-east-1", endpoint_url=endpoint, aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=botocore.config.Config(signature_version="s3v4", s3={"addressing_style": "path"}))


class Stack:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.services: list[Service] = []
        self.sts = None
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self):
        w = self.workdir
        self.s3 = self._up(S3sFs(ARGS.s3s_fs, w / "store", w))
        self.sts = FixedKeySts(S3_KEY, S3_SECRET)
        self.emulator = self._up(Emulator(w / "emulator", grants=grants_toml(self.sts)))
        # No profiles: every GetDataAccess the emulator sees is the S3 endpoint's.
        self.daemon = self._up(Daemon(
            w / "grantd", self.emulator, imds=False, profiles={},
            extra_args=["--s3-listen", "127.0.0.1:0", "--log-level", "warn"],
            extra_env={"AWS_ENDPOINT_URL_S3": self.s3.url}))
        self.pid = self.daemon.popen.pid
        exports, _ = self.daemon.env_lines("--s3")
        self.s3_endpoint = exports["AWS_ENDPOINT_URL_S3"]
        self.via = {"grantd": presigner(self.s3_endpoint, ROLE_A_KEY, ROLE_A_SECRET),
                    "direct": presigner(self.s3.url, S3_KEY, S3_SECRET)}

    def _up(self, svc):
        self.services.append(svc)
        return svc

    def stop(self):
        for svc in reversed(self.services):
            svc.stop()
        if self.sts is not None:
            self.sts.stop()

    def url(self, way: str, method: str, key: str) -> str:
        op = {"GET": "get_object", "PUT": "put_object", "HEAD": "head_object"}[method]
        return self.via[way].generate_presigned_url(op, Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=3600)

    def gda(self) -> int:
        return self.emulator.calls()["counts"].get("GetDataAccess", 0)

    def metrics(self) -> dict:
        status, _, body = http("GET", self.daemon.url + "/metrics")
        check(status == 200, "/metrics")
        out = {}
        for line in body.decode().splitlines():
            if line.startswith("grantd_s3_requests_total{"):
                labels, n = line.rsplit(" ", 1)
                outcome = re.search(r'outcome="(\w+)"', labels).group(1)
                out[outcome] = out.get(outcome, 0) + int(float(n))
        return out


def block(seed: str, size: int = MiB) -> bytes:
    """Incompressible bytes, the same for a seed."""
    out, i = bytearray(), 0
    while len(out) < size:
        out += hashlib.sha512(f"{seed}/{i}".encode()).digest()
        i += 1
    return bytes(out[:size])


SMALL = {p: block(f"small-{p}", 4096) for p in ("UserA", "Product")}
SMALL_KEY = {p: f"{p}/bench/4k" for p in ("UserA", "Product")}
BIG_KEY = "UserA/bench/big"


def curl(*args: str, timeout: float = 300) -> str:
    cp = subprocess.run(["curl", "-sS", "--noproxy", "*", *args], capture_output=True, text=True, timeout=timeout)
    if cp.returncode != 0:
        raise BenchError(f"curl {args[0] if args else ''}: exit {cp.returncode}: {cp.stderr.strip()}")
    return cp.stdout


def get_bytes(url: str) -> tuple[int, bytes]:
    status, _, body = http("GET", url, timeout=120)
    return status, body


def setup(stack: Stack, big_file: Path, big_md5: str):
    """The bucket and objects (stored directly), then the checks that both hops verify."""
    s3 = stack.via["direct"]
    s3.create_bucket(Bucket=BUCKET)
    for p, key in SMALL_KEY.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=SMALL[p])
    put_big("direct", stack, BIG_KEY, big_file, big_md5)
    for way in ("direct", "grantd"):
        for p, key in SMALL_KEY.items():
            status, body = get_bytes(stack.url(way, "GET", key))
            check(status == 200 and body == SMALL[p], f"{way} GET {key}: {status}, {len(body)} bytes")
    # Both hops check signatures: grantd refuses a wrong secret, s3s-fs the
    # base key and a wrong secret; so what reaches s3s-fs was signed by grantd
    # with the vended key, which is s3s-fs's.
    bad = presigner(stack.s3_endpoint, ROLE_A_KEY, "not-the-secret").generate_presigned_url(
        "get_object", Params={"Bucket": BUCKET, "Key": SMALL_KEY["UserA"]})
    status, body = get_bytes(bad)
    check(status == 403 and b"SignatureDoesNotMatch" in body, f"grantd took a wrong signature: {status}")
    for key, secret in ((ROLE_A_KEY, ROLE_A_SECRET), (S3_KEY, "not-the-secret")):
        url = presigner(stack.s3.url, key, secret).generate_presigned_url(
            "get_object", Params={"Bucket": BUCKET, "Key": SMALL_KEY["UserA"]})
        status, _ = get_bytes(url)
        check(status == 403, f"s3s-fs took a request it should refuse: {status}")
    m = stack.metrics()
    check(m.get("grant", 0) >= 2 and m.get("base", 0) == 0, f"grantd's S3 outcomes: {m}")
    # The chunked signer, checked by s3s-fs itself before it is used for load.
    src = s3_chunked.Source(block("chunked"), 3 * s3_chunked.CHUNK + 1000)
    for way, (key, secret, endpoint) in {"direct": (S3_KEY, S3_SECRET, stack.s3.url),
                                         "grantd": (ROLE_A_KEY, ROLE_A_SECRET, stack.s3_endpoint)}.items():
        status, headers, body = s3_chunked.put(endpoint, BUCKET, "UserA/bench/chunked-check", key, secret, src)
        check(status == 200 and headers.get("etag", "").strip('"') == src.md5(),
              f"{way} signed-chunked PUT: {status} {body[:300]!r}")


# ------------------------------------------------------------ grants


def grants_phase(stack: Stack) -> dict:
    """ARGS.requests GETs alternating the two grants through grantd, on one
    keep-alive connection; the GetDataAccess calls they cost."""
    import http.client
    before, sts_before = stack.gda(), stack.sts.calls
    urls = {p: stack.url("grantd", "GET", k) for p, k in SMALL_KEY.items()}
    parts = {p: urllib.parse.urlsplit(u) for p, u in urls.items()}
    netloc = parts["UserA"].netloc
    conn = http.client.HTTPConnection(netloc, timeout=30)
    t = time.perf_counter()
    t0 = ticks(stack.pid)
    try:
        for i in range(ARGS.requests):
            p = ("UserA", "Product")[i % 2]
            u = parts[p]
            conn.request("GET", f"{u.path}?{u.query}")
            r = conn.getresponse()
            body = r.read()
            if r.status != 200 or body != SMALL[p]:
                raise BenchError(f"request {i} ({p}): {r.status}, {len(body)} bytes")
    finally:
        conn.close()
    took = time.perf_counter() - t
    return {"requests": ARGS.requests, "get_data_access": stack.gda() - before,
            "gda_since_start": stack.gda(), "assume_role": stack.sts.calls - sts_before,
            "rps_one_connection": ARGS.requests / took,
            "daemon_cpu_us_per_request": (ticks(stack.pid) - t0) / HZ * 1e6 / ARGS.requests}


# ------------------------------------------------------------ small


def small_phase(stack: Stack) -> dict:
    key = SMALL_KEY["UserA"]
    urls = {way: stack.url(way, "GET", key) for way in ("direct", "grantd")}
    runs: dict = {}
    for r in range(ARGS.rounds):
        for conns in (1, 16):
            ways = ("direct", "grantd") if r % 2 == 0 else ("grantd", "direct")
            for way in ways:
                with Perf(ARGS.perf, stack.pid if way == "grantd" else 0, f"small-c{conns}-r{r}"):
                    runs.setdefault(f"{way} c{conns}", []).append(
                        wrk(urls[way], conns, ARGS.seconds, stack.pid if way == "grantd" else None))
        # Bodies still right after each round.
        for way, url in urls.items():
            status, body = get_bytes(url)
            check(status == 200 and body == SMALL["UserA"], f"{way} 4 KiB GET after round {r + 1}: {status}")
    return runs


# ------------------------------------------------------------ big


def put_big(way: str, stack: Stack, key: str, path: Path, md5: str) -> float:
    url = stack.url(way, "PUT", key)
    out = curl("-T", str(path), "-H", "Expect:", "-D", "-", "-o", "/dev/null",
               "-w", "\n%{http_code} %{time_total}", url)
    head, last = out.rsplit("\n", 1)
    code, took = last.split()
    etag = re.search(r"(?im)^etag:\s*\"?([0-9a-f]+)", head)
    if code != "200" or not etag or etag.group(1) != md5:
        raise BenchError(f"{way} PUT {key}: {code}, ETag {etag and etag.group(1)} (want {md5})")
    return float(took)


def get_big(way: str, stack: Stack, size: int) -> float:
    out = curl("-o", "/dev/null", "-w", "%{http_code} %{size_download} %{time_total}", stack.url(way, "GET", BIG_KEY))
    code, n, took = out.split()
    if code != "200" or int(n) != size:
        raise BenchError(f"{way} GET {BIG_KEY}: {code}, {n} bytes")
    return float(took)


def big_phase(stack: Stack, path: Path, md5: str, sha: str) -> dict:
    size = path.stat().st_size
    # Whole bodies checked once each way; the timed runs check status and length.
    for way in ("direct", "grantd"):
        cp = subprocess.run(f"curl -sS --noproxy '*' '{stack.url(way, 'GET', BIG_KEY)}' | sha256sum",
                            shell=True, capture_output=True, text=True, timeout=300)
        check(cp.stdout.split()[:1] == [sha], f"{way} GET of {BIG_KEY}: wrong bytes")
    runs: dict = {}
    cpu = {"GET": 0.0, "PUT": 0.0}
    for r in range(ARGS.rounds):
        ways = ("direct", "grantd") if r % 2 == 0 else ("grantd", "direct")
        for op in ("GET", "PUT"):
            for way in ways:
                t0 = ticks(stack.pid)
                with Perf(ARGS.perf, stack.pid if way == "grantd" else 0, f"big-{op}-r{r}"):
                    took = (get_big(way, stack, size) if op == "GET"
                            else put_big(way, stack, f"UserA/bench/big-put-{way}", path, md5))
                if way == "grantd":
                    cpu[op] += (ticks(stack.pid) - t0) / HZ
                runs.setdefault(f"{way} {op}", []).append(size / MiB / took)
    moved = ARGS.rounds * size / GiB
    return {"mib_s": runs, "cpu_s_per_gib": {op: v / moved for op, v in cpu.items()}}


# ------------------------------------------------------------ uploads


def uploads_phase(stack: Stack, path: Path, md5: str) -> dict:
    n, size = ARGS.uploads, path.stat().st_size
    src = s3_chunked.Source(path.read_bytes()[:MiB], size)
    chunked_md5 = src.md5()
    ends = {"direct": (S3_KEY, S3_SECRET, stack.s3.url), "grantd": (ROLE_A_KEY, ROLE_A_SECRET, stack.s3_endpoint)}
    out = {}

    def clean():
        for f in (stack.workdir / "store" / BUCKET / "UserA" / "bench").glob("up-*"):
            f.unlink()

    for mode in ("chunked", "presigned"):
        for way in ("direct", "grantd"):
            key_id, secret, endpoint = ends[way]
            sampler = RssSampler(stack.pid) if way == "grantd" else None
            perf = Perf(ARGS.perf, stack.pid if way == "grantd" else 0, f"uploads-{mode}")
            t0, c0 = time.perf_counter(), ticks(stack.pid)
            if mode == "chunked":
                with concurrent.futures.ThreadPoolExecutor(n) as pool:
                    results = list(pool.map(lambda i: s3_chunked.put(
                        endpoint, BUCKET, f"UserA/bench/up-{i}", key_id, secret, src, timeout=600), range(n)))
                for status, headers, body in results:
                    check(status == 200 and headers.get("etag", "").strip('"') == chunked_md5,
                          f"{way} chunked upload: {status} {body[:200]!r}")
            else:
                urls = [stack.url(way, "PUT", f"UserA/bench/up-{i}") for i in range(n)]
                procs = [subprocess.Popen(["curl", "-sS", "--noproxy", "*", "-T", str(path), "-H", "Expect:",
                                           "-D", "-", "-o", "/dev/null", u], stdout=subprocess.PIPE, text=True)
                         for u in urls]
                try:
                    heads = [p.communicate(timeout=600)[0] for p in procs]
                finally:
                    for p in procs:
                        if p.poll() is None:
                            p.kill()
                            p.wait()
                for p, head in zip(procs, heads):
                    etag = re.search(r"(?im)^etag:\s*\"?([0-9a-f]+)", head)
                    check(p.returncode == 0 and " 200 " in head.split("\n", 1)[0] and etag and etag.group(1) == md5,
                          f"{way} presigned upload: {head[:200]!r}")
            took = time.perf_counter() - t0
            perf.__exit__()
            row = {"mib_s": n * size / MiB / took, "seconds": took}
            if sampler is not None:
                row |= sampler.stop() | {"cpu_s_per_gib": (ticks(stack.pid) - c0) / HZ / (n * size / GiB)}
            out[f"{way} {mode}"] = row
            clean()
    return out


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    scratch = Path("/dev/shm") if Path("/dev/shm").is_dir() and os.access("/dev/shm", os.W_OK) else None
    workdir = Path(tempfile.mkdtemp(prefix="grantd-s3bench-", dir=scratch))
    stack = None
    t0 = time.monotonic()
    res: dict = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                 "args": {k: str(v) for k, v in vars(ARGS).items() if k != "json"}}
    try:
        big = workdir / "big.bin"
        with open(big, "wb") as f:
            b = block("big")
            for _ in range(ARGS.big_mib):
                f.write(b)
        md5 = hashlib.md5()
        sha = hashlib.sha256()
        with open(big, "rb") as f:
            while chunk := f.read(4 * MiB):
                md5.update(chunk)
                sha.update(chunk)
        stack = Stack(workdir)
        setup(stack, big, md5.hexdigest())
        res["setup_gda"] = stack.gda()
        if ARGS.hold:
            print(json.dumps({"daemon_pid": stack.pid, "s3s_fs_pid": stack.s3.popen.pid,
                              **{way: stack.url(way, "GET", SMALL_KEY["UserA"]) for way in ("direct", "grantd")}}),
                  flush=True)
            sys.stdin.read()
            return
        if "grants" in ARGS.only:
            # Cold: the setup's requests warmed the cache, so a fresh daemon.
            stack.services.remove(stack.daemon)
            stack.daemon.stop()
            stack.emulator.reset()
            stack.daemon = stack._up(Daemon(
                workdir / "grantd2", stack.emulator, imds=False, profiles={},
                extra_args=["--s3-listen", "127.0.0.1:0", "--log-level", "warn"],
                extra_env={"AWS_ENDPOINT_URL_S3": stack.s3.url}))
            stack.pid = stack.daemon.popen.pid
            stack.s3_endpoint = stack.daemon.env_lines("--s3")[0]["AWS_ENDPOINT_URL_S3"]
            stack.via["grantd"] = presigner(stack.s3_endpoint, ROLE_A_KEY, ROLE_A_SECRET)
            res["grants"] = grants_phase(stack)
        if "small" in ARGS.only:
            res["small"] = small_phase(stack)
        if "big" in ARGS.only:
            res["big"] = big_phase(stack, big, md5.hexdigest(), sha.hexdigest())
        if "uploads" in ARGS.only:
            res["uploads"] = uploads_phase(stack, big, md5.hexdigest())
        res["outcomes"] = stack.metrics()
        check(res["outcomes"].get("base", 0) == 0, f"some requests went with the base identity: {res['outcomes']}")
    except (BenchError, subprocess.TimeoutExpired) as e:
        print(f"s3 bench: FAILED: {e}", file=sys.stderr)
        if stack is not None:
            for svc in stack.services:
                print(svc.log_tail(15), file=sys.stderr)
        sys.exit(1)
    finally:
        if stack is not None:
            stack.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    report(res, ARGS)
    print(f"\n  grantd's S3 outcomes over the run: {res['outcomes']}; ran in {time.monotonic() - t0:.0f} s")
    if ARGS.json:
        ARGS.json.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
