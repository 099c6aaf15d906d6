"""Driver of benches/boto3.sh: boto3 GetObject five ways, one run, same moto.

Stack (all on 127.0.0.1, started and stopped here, by PID): moto with SigV4 +
IAM enforcement (tests/clients/motoenv.py, as the client suite uses it),
`grantd emulate` whose vended keys are real moto AssumeRole sessions of the
UserA role, and for the grantd and s3 ways a fresh `grantd serve` per run (its
start, warm-up included, is inside the run's upstream counts).

Ways:
  plain   static keys (env) of a moto session of the UserA role: the floor
  plugin  base identity RoleA (a moto user allowed only ListBucket, for the
          plugin's HeadBucket), S3AccessGrantsPlugin(fallback_enabled=False);
          STS and S3 Control = the emulator
  grantd  only what `grantd env --profile usera` prints
  s3      only what `grantd env --s3` prints: the base identity (RoleA) from the
          daemon, AWS_ENDPOINT_URL_S3 = the daemon's S3 endpoint, which checks
          the signature and sends the request on to moto signed with UserA's
          grant (`grantd serve --s3-listen`, its AWS_ENDPOINT_URL_S3 = moto)
  plugin-env  as plugin, but loaded into every client by botocore itself:
          BOTOCORE_EXPERIMENTAL__PLUGINS=s3ag=aws_s3_access_grants_boto3_plugin.
          s3_access_grants_plugin (read by botocore >= 1.42's botocore/plugin.py,
          1.44.5 here), whose initialize_client_plugin registers the plugin with
          fallback_enabled=True; nothing in the program changes

For each process count: each way's start phase alone (client creation + first
GetObject: first-request latency; emulator reset before it, so its upstream
calls are its own; reset clears calls, counts, faults and issued keys, not the
lifetime override), then the timed loop in slices where the ways take turns in
a rotating order, so that drifting load on a shared machine weighs on every
way alike. Upstream calls come from the emulator's call log and moto's
AssumeRole sessions, read around every phase and slice.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WAYS = ("plain", "plugin", "grantd", "s3", "plugin-env")
PLUGIN_ENV = "s3ag=aws_s3_access_grants_boto3_plugin.s3_access_grants_plugin"
KEYS = [f"UserA/bench/obj-{i}" for i in range(8)]
OPS = ("GetCallerIdentity", "GetAccessGrantsInstanceForPrefix", "GetDataAccess", "AssumeRole")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("requests", nargs="?", type=int, default=300, help="timed GetObjects per process")
    p.add_argument("object_bytes", nargs="?", type=int, default=1024)
    p.add_argument("--grantd", required=True, help="the grantd binary (release)")
    p.add_argument("--procs", default="1,8", help="process counts, comma-separated")
    p.add_argument("--ways", default=",".join(WAYS))
    p.add_argument("--rounds", type=int, default=1, help="repeat the whole set, to see the spread")
    p.add_argument("--slices", type=int, default=6, help="turns the ways take in each process count")
    p.add_argument("--cap", type=float, default=60.0, help="hard cap per way and process count, seconds")
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument("--upstream-ms", type=int, default=0,
                   help="latency the emulator adds to every STS and S3 Control call: loopback "
                        "answers in well under a millisecond, AWS in a network round trip")
    a = p.parse_args()
    a.procs = [int(x) for x in a.procs.split(",")]
    a.ways = a.ways.split(",")
    assert set(a.ways) <= set(WAYS), a.ways
    return a


ARGS = parse_args()
# conftest/motoenv read these at import: the bench venv and this binary.
os.environ["CLIENTS_CACHE"] = os.environ.get("BENCH_CACHE", str(ROOT / ".cache" / "bench"))
os.environ["GRANTD_BIN"] = str(Path(ARGS.grantd).resolve())
sys.path.insert(0, str(ROOT / "tests" / "clients"))
from conftest import (BUCKET, ROLE_A_ARN, ROLE_A_KEY, VENV_BIN, Daemon, Emulator, client_base_env,  # noqa: E402
                      http, http_json)
from motoenv import Moto, role_arn  # noqa: E402
from boto3_worker import object_body  # noqa: E402


class BenchError(RuntimeError):
    pass


def proc_cpu(pid: int) -> float:
    """user+sys seconds of a process we started (for what bounds the numbers)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Stack:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.services = []
        self.daemons: dict = {}
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self):
        workdir = self.workdir
        self.moto = self._up(Moto(workdir / "moto"))
        iam, sts = self.moto.admin("iam"), self.moto.admin("sts")
        # The plugin's base identity must pass the plugin's own HeadBucket
        # (bucket region) at moto; it may not read objects itself, so every
        # byte the plugin way reads was signed with vended keys.
        iam.create_user(UserName="grantd-bench-base")
        # AWS authorizes HeadBucket as s3:ListBucket; moto asks for "s3:HeadBucket".
        iam.put_user_policy(UserName="grantd-bench-base", PolicyName="head-bucket", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Action": ["s3:ListBucket", "s3:HeadBucket"], "Resource": f"arn:aws:s3:::{BUCKET}"}]}))
        key = iam.create_access_key(UserName="grantd-bench-base")["AccessKey"]
        self.base = key["AccessKeyId"], key["SecretAccessKey"]
        plain = sts.assume_role(RoleArn=role_arn("usera"), RoleSessionName="grantd-bench-plain",
                                DurationSeconds=43200)["Credentials"]
        self.plain = plain["AccessKeyId"], plain["SecretAccessKey"], plain["SessionToken"]
        s3 = self.moto.admin("s3")
        for k in KEYS:
            s3.put_object(Bucket=BUCKET, Key=k, Body=object_body(k, ARGS.object_bytes))
        # The base key is a second key of RoleA in the emulator's scenario.
        extra = f'\n[[identities]]\narn = "{ROLE_A_ARN}"\naccess_key_id = "{self.base[0]}"\n'
        self.emulator = self._up(Emulator(workdir / "emulator", grants=self.moto.grants_toml(extra)))

    def _up(self, svc):
        self.services.append(svc)
        return svc

    def stop(self):
        self.stop_daemon()
        for svc in reversed(self.services):
            svc.stop()

    def assume_role_sessions(self) -> int:
        status, data = http_json("GET", self.moto.url + "/moto-api/data.json")
        assert status == 200
        return len(data.get("sts", {}).get("AssumedRole", []))

    def upstream(self) -> dict:
        counts = self.emulator.calls()["counts"]
        return {op: counts.get(op, 0) for op in OPS[:3]} | {"AssumeRole": self.assume_role_sessions()}

    def env(self, way: str) -> dict:
        common = dict(AWS_ENDPOINT_URL_S3=self.moto.url)
        if way == "plain":
            k, s, t = self.plain
            return client_base_env(self.workdir, AWS_ACCESS_KEY_ID=k, AWS_SECRET_ACCESS_KEY=s,
                                   AWS_SESSION_TOKEN=t, **common)
        if way in ("plugin", "plugin-env"):
            extra = {"BOTOCORE_EXPERIMENTAL__PLUGINS": PLUGIN_ENV} if way == "plugin-env" else {}
            return client_base_env(self.workdir, AWS_ACCESS_KEY_ID=self.base[0], AWS_SECRET_ACCESS_KEY=self.base[1],
                                   AWS_ENDPOINT_URL_STS=self.emulator.url,
                                   AWS_ENDPOINT_URL_S3_CONTROL=self.emulator.url, **common, **extra)
        if way == "s3":
            # `eval "$(grantd env --s3)"`: nothing else, not even moto's address.
            exports, unsets = self.daemons["s3"].env_lines("--s3")
            env = client_base_env(self.workdir)
            env.update(exports)
            for k in unsets:
                env.pop(k, None)
            assert env["AWS_ENDPOINT_URL_S3"] != self.moto.url, env
            return env
        return self.daemons["grantd"].client_env("--profile", "usera", **common)

    def start_daemon(self, way: str):
        workdir = self.workdir / f"grantd-{way}-{time.monotonic_ns()}"
        if way == "s3":
            # No profile: the first GetObject's grant is the one GetDataAccess.
            self.daemons[way] = Daemon(workdir, self.emulator, profiles={},
                                       extra_args=["--s3-listen", "127.0.0.1:0", "--log-level", "warn"],
                                       extra_env={"AWS_ENDPOINT_URL_S3": self.moto.url})
        else:
            # Only the profile the workers use: its warm-up is the one GetDataAccess.
            self.daemons[way] = Daemon(workdir, self.emulator, profiles={"usera": f"s3://{BUCKET}/UserA/*"},
                                       extra_args=["--log-level", "warn"])

    def stop_daemon(self):
        for d in self.daemons.values():
            d.stop()
        self.daemons = {}

    def s3_outcomes(self) -> dict:
        """The S3 endpoint's requests by outcome (grant, base, ...), from its /metrics."""
        status, _, body = http("GET", self.daemons["s3"].url + "/metrics")
        assert status == 200
        out: dict = {}
        for line in body.decode().splitlines():
            if line.startswith("grantd_s3_requests_total{"):
                labels, n = line.rsplit(" ", 1)
                outcome = labels.split('outcome="', 1)[1].split('"', 1)[0]
                out[outcome] = out.get(outcome, 0) + int(float(n))
        return out


def diff(a: dict, b: dict) -> dict:
    return {k: b[k] - a[k] for k in a}


class Group:
    """The worker processes of one way, and what was measured of them."""

    def __init__(self, stack: Stack, way: str, procs: int, deadline: float):
        self.way, self.procs, self.deadline = way, procs, deadline
        self.errs = stack.workdir / f"worker-{way}-{procs}.err"
        env = stack.env(way)
        if "PYTHONPYCACHEPREFIX" in os.environ:
            env["PYTHONPYCACHEPREFIX"] = os.environ["PYTHONPYCACHEPREFIX"]
        argv = [str(VENV_BIN / "python"), str(HERE / "boto3_worker.py"), way, BUCKET, ",".join(KEYS),
                str(ARGS.object_bytes)]
        self.workers = []
        with open(self.errs, "ab") as err:
            for i in range(procs):
                self.workers.append(subprocess.Popen(
                    argv + [str(i)], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                    text=True, start_new_session=True))
        self.loop_calls = dict.fromkeys(OPS, 0)
        self.service_cpu: dict[str, float] = {}

    def ask(self, command: str | None, answer: str | None) -> list[str]:
        """Sends `command` to every process, then reads one line from each."""
        if command is not None:
            for w in self.workers:
                w.stdin.write(command + "\n")
                w.stdin.flush()
        lines = [self._line(w) for w in self.workers]
        if answer is not None and any(x != answer for x in lines):
            raise BenchError(f"{self.way}: workers said {set(lines)}, expected {answer!r}")
        return lines

    def _line(self, w: subprocess.Popen) -> str:
        left = self.deadline - time.monotonic()
        if left <= 0 or not select.select([w.stdout], [], [], left)[0]:
            raise BenchError(f"{self.way} x{self.procs}: hard cap of {ARGS.cap:.0f}s per way reached")
        text = w.stdout.readline()
        if not text:
            raise BenchError(f"{self.way}: worker {w.pid} exited before answering")
        if text.startswith('{"error"'):
            raise BenchError(f"{self.way}: worker {w.pid}: {json.loads(text)['error']}")
        return text.strip()

    def finish(self) -> list[dict]:
        results = [json.loads(x) for x in self.ask("end", None)]
        for w in self.workers:
            if w.wait(max(1.0, self.deadline - time.monotonic())) != 0:
                raise BenchError(f"{self.way}: worker {w.pid} exited {w.returncode}")
        return results

    def kill(self):
        for w in self.workers:
            if w.poll() is None:
                w.kill()
                w.wait()

    def stderr_tail(self) -> str:
        tail = self.errs.read_text(errors="replace")[-3000:] if self.errs.exists() else ""
        return f"\nworker stderr ({self.way}):\n{tail}" if tail.strip() else ""


def service_cpu(stack: Stack, way: str) -> dict:
    """CPU seconds so far of moto, the emulator and the way's own daemon (as "grantd")."""
    out = {s.name.split("-")[0]: proc_cpu(s.popen.pid) for s in stack.services}
    if way in stack.daemons:
        out["grantd"] = proc_cpu(stack.daemons[way].popen.pid)
    return out


def run_set(stack: Stack, procs: int, n: int, slices: int) -> list[dict]:
    """All ways at `procs` processes: each way's start phase alone (emulator
    reset first, so its calls are its own), then `slices` rounds of n/slices
    GetObjects per process, the ways taking turns in a rotating order."""
    deadline = time.monotonic() + ARGS.cap * len(ARGS.ways)
    groups: dict[str, Group] = {}
    start_calls, per_slice = {}, max(1, n // slices)
    try:
        for way in ARGS.ways:
            stack.emulator.reset()
            if ARGS.upstream_ms:
                # reset clears faults; this one only delays, every operation.
                stack.emulator.faults({"operation": "*", "latency_ms": ARGS.upstream_ms})
            # Counted from before the daemon starts: its identity check and
            # profile warm-up belong to the grantd way's start phase.
            before = stack.upstream()
            if way in ("grantd", "s3"):
                stack.start_daemon(way)
            groups[way] = g = Group(stack, way, procs, deadline)
            g.ask(None, "ready")
            g.ask("go", "first")
            start_calls[way] = diff(before, stack.upstream())
        for s in range(slices):
            for way in ARGS.ways[s % len(ARGS.ways):] + ARGS.ways[:s % len(ARGS.ways)]:
                g, calls, cpu0 = groups[way], stack.upstream(), service_cpu(stack, way)
                g.ask(f"loop {per_slice}", "done")
                for op, v in diff(calls, stack.upstream()).items():
                    g.loop_calls[op] += v
                for k, v in diff(cpu0, service_cpu(stack, way)).items():
                    g.service_cpu[k] = g.service_cpu.get(k, 0.0) + v
        rows = []
        for way, g in groups.items():
            results = g.finish()
            check_keys(stack, way, results, start_calls[way])
            rows.append(summarize(way, procs, results, start_calls[way], g))
        return rows
    except BaseException as e:
        tails = "".join(g.stderr_tail() for g in groups.values())
        raise BenchError(f"x{procs}: {e}{tails}") from e
    finally:
        for g in groups.values():
            g.kill()
        stack.stop_daemon()


def check_keys(stack: Stack, way: str, results: list[dict], start: dict):
    """Each way really signed with its own credentials and really used its path."""
    seen = set().union(*(r["key_ids"] for r in results))
    if way == "plain":
        ok = seen == {stack.plain[0]}
    elif way == "grantd":
        ok = seen == {stack.daemons["grantd"].creds_json("--profile", "usera")["AccessKeyId"]}
    elif way == "s3":
        # The clients sign with the base identity; the daemon sent every one of
        # their requests on with a grant (moto refuses RoleA's own key anyway).
        outcomes = stack.s3_outcomes()
        requests = sum(len(r["lat"]) + 1 for r in results)
        if outcomes != {"grant": requests}:
            raise BenchError(f"s3: the endpoint's outcomes are {outcomes}, not {requests} grant")
        ok = seen == {ROLE_A_KEY}
    else:
        if start["GetDataAccess"] < 1 or start["GetCallerIdentity"] < 1:
            raise BenchError(f"plugin: the emulator saw no GetDataAccess/GetCallerIdentity: {start}")
        # Vended by the emulator (moto AssumeRole sessions), never the base key.
        ok = bool(seen) and all(k.startswith("ASIA") and k != stack.base[0] for k in seen)
    if not ok:
        # Key ids are not secrets, but the message names only their count.
        raise BenchError(f"{way}: requests were signed with {len(seen)} key(s) that are not the way's own")


def summarize(way: str, procs: int, results: list[dict], start: dict, g: Group) -> dict:
    lat = sorted(x for r in results for x in r["lat"])
    total = len(lat)
    # Wall time of the loop: per slice, first start to last end over the processes.
    wall = sum(max(r["slices"][i][1] for r in results) - min(r["slices"][i][0] for r in results)
               for i in range(len(results[0]["slices"])))
    s3_requests = total + procs
    return {
        "way": way, "procs": procs, "requests": total, "wall_s": wall,
        "rps": total / wall,
        "p50_ms": 1e3 * lat[total // 2],
        "p99_ms": 1e3 * lat[min(total - 1, int(total * 0.99))],
        "first_ms": 1e3 * statistics.median(r["first_s"] for r in results),
        "client_ms": 1e3 * statistics.median(r["client_s"] for r in results),
        "cpu_ms_per_req": 1e3 * sum(r["loop_cpu_s"] for r in results) / total,
        "first_cpu_ms": 1e3 * statistics.median(r["first_cpu_s"] for r in results),
        "upstream_start": start, "upstream_loop": g.loop_calls,
        "upstream_per_s3_request": {op: (start[op] + g.loop_calls[op]) / s3_requests for op in OPS},
        "steady_per_s3_request": {op: g.loop_calls[op] / total for op in OPS},
        "service_cpu_ms_per_req": {k: 1e3 * v / total for k, v in g.service_cpu.items()},
    }


def ratio(rows: list[dict], procs: int, a: str, b: str) -> float | None:
    by = {r["way"]: r for r in rows if r["procs"] == procs}
    return by[a]["rps"] / by[b]["rps"] if a in by and b in by else None


def print_round(rows: list[dict], label: str):
    print(f"\n{label}")
    print("  way        procs  req/s  p50 ms  p99 ms  first ms  cpu ms/req |"
          "  upstream calls per S3 request: GCI GAGIFP GDA AR  (loop only: GCI) |  CPU ms/req: moto emu grantd")
    for r in rows:
        up, svc = r["upstream_per_s3_request"], r["service_cpu_ms_per_req"]
        calls = " ".join(f"{up[op]:.3g}" for op in OPS)
        print(f"  {r['way']:<10}{r['procs']:>6}{r['rps']:>7.0f}{r['p50_ms']:>8.2f}{r['p99_ms']:>8.2f}"
              f"{r['first_ms']:>10.1f}{r['cpu_ms_per_req']:>12.2f} |  {calls:<45}"
              f"({r['steady_per_s3_request']['GetCallerIdentity']:.3g}) |  "
              + " ".join(f"{svc.get(k, 0.0):.2f}" for k in ("moto", "emulator", "grantd")))
    for procs in sorted({r["procs"] for r in rows}):
        parts = []
        for a, b, target in (("grantd", "plain", 0.95), ("grantd", "plugin", 1.3), ("s3", "plugin-env", 1.3),
                             ("s3", "plugin", None), ("s3", "plain", None)):
            x = ratio(rows, procs, a, b)
            if x is not None:
                parts.append(f"{a}/{b} req/s {x:.2f}" + (f" (target >= {target})" if target else ""))
        for way in ("grantd", "s3"):
            g = next((r for r in rows if r["way"] == way and r["procs"] == procs), None)
            if g is not None:
                sts = g["steady_per_s3_request"]["GetCallerIdentity"] + g["steady_per_s3_request"]["AssumeRole"]
                parts.append(f"{way} STS calls per S3 request {sts:.3g} in the loop (target 0)")
        print(f"  x{procs}: " + "; ".join(parts))


LEGEND = """
GCI GetCallerIdentity, GAGIFP GetAccessGrantsInstanceForPrefix, GDA GetDataAccess (emulator's call log),
AR AssumeRole sessions minted at moto (one per GetDataAccess: what Access Grants does inside AWS).
"all" counts every call from the way's start (grantd, s3: from before the daemon starts) over all its S3
requests; "loop only" counts the timed loop alone. req/s: loop requests / loop wall time. The 'grantd'
CPU column is the way's own daemon (the credential routes for grantd, the S3 endpoint for s3), which
for s3 carries every GetObject: it checks the client's signature, signs the request anew and streams
moto's answer back.
Bounds: moto is one Python process (at most one core, GIL) and 'moto' is its CPU per GetObject, so
1000/that is its ceiling in req/s; at 8 processes on {cores} cores the clients, moto, the emulator and
grantd share the same cores, so x8 measures moto and the machine more than the credential path."""


def main():
    # SIGTERM must run the finally blocks too: they stop moto, the emulator,
    # the daemon and the workers, by PID.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = Path(tempfile.mkdtemp(prefix="grantd-bench-"))
    stack = None
    t0 = time.monotonic()
    rounds = []
    try:
        stack = Stack(workdir)
        # Warm-up, discarded: moto's first signature and policy checks, the
        # emulator, the page cache of each way's imports.
        run_set(stack, 1, 30, 1)
        for i in range(ARGS.rounds):
            rows = [r for procs in ARGS.procs for r in run_set(stack, procs, ARGS.requests, ARGS.slices)]
            rounds.append(rows)
            print_round(rows, f"round {i + 1}/{ARGS.rounds}: {ARGS.requests} GetObjects of {ARGS.object_bytes} B "
                              f"per process and way (+1 first), ways interleaved in {ARGS.slices} slices, "
                              f"{ARGS.upstream_ms} ms added to each upstream call")
    except BenchError as e:
        print(f"bench: FAILED: {e}", file=sys.stderr)
        sys.exit(1)
    finally:
        if stack is not None:
            stack.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    if ARGS.rounds > 1:
        print("\nspread over rounds (min / median / max)")
        for procs in ARGS.procs:
            for a, b in (("grantd", "plain"), ("grantd", "plugin"), ("s3", "plugin-env"), ("s3", "plugin")):
                xs = [x for x in (ratio(rows, procs, a, b) for rows in rounds) if x is not None]
                if xs:
                    print(f"  x{procs} {a}/{b}: {min(xs):.2f} / {statistics.median(xs):.2f} / {max(xs):.2f}")
    print(LEGEND.format(cores=os.cpu_count()))
    print(f"ran in {time.monotonic() - t0:.0f}s on {os.cpu_count()} cores")
    if ARGS.json:
        ARGS.json.write_text(json.dumps({"args": {k: v for k, v in vars(ARGS).items() if k != "json"},
                                         "cores": os.cpu_count(), "rounds": rounds}, indent=1, default=str))


if __name__ == "__main__":
    main()
