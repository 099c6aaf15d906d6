"""The tools benches/s3_bench.py runs and reads: the daemon's CPU time and
memory from /proc, perf recordings of it (--perf), and wrk."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

MiB = 1024 * 1024
GiB = 1024 * MiB


class BenchError(RuntimeError):
    pass


class Perf:
    """`perf record` of the daemon while a grantd run lasts, when --perf is given."""

    def __init__(self, directory: Path | None, pid: int, name: str):
        self.proc = None
        if directory and pid:
            directory.mkdir(parents=True, exist_ok=True)
            self.proc = subprocess.Popen(["perf", "record", "-q", "-F", "1999", "-g", "-p", str(pid),
                                          "-o", str(directory / f"{name}.data")],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.3)

    def __enter__(self):
        return self

    def __exit__(self, *_):
        if self.proc is not None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


HZ = os.sysconf("SC_CLK_TCK")


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise BenchError(f"no {field} for {pid}")


class RssSampler:
    def __init__(self, pid: int):
        self.pid, self.peak, self.samples = pid, 0, 0
        # Resets VmHWM to the current RSS (proc(5), clear_refs "5").
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        self.base = status_kib(pid, "VmRSS")
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, status_kib(self.pid, "VmRSS"))
            self.samples += 1
            self._stop.wait(0.005)

    def stop(self) -> dict:
        self._stop.set()
        self.thread.join()
        return {"before_kib": self.base, "sampled_peak_kib": self.peak, "hwm_kib": status_kib(self.pid, "VmHWM"),
                "samples": self.samples}


def us(v: str) -> float:
    for suffix, f in (("us", 1), ("ms", 1e3), ("s", 1e6)):
        if v.endswith(suffix):
            return float(v[:-len(suffix)]) * f
    return float(v)


def wrk(url: str, conns: int, seconds: int, pid: int | None) -> dict:
    threads = 1 if conns == 1 else 2
    t0 = ticks(pid) if pid else 0
    cp = subprocess.run(["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "--latency", url],
                        capture_output=True, text=True, timeout=seconds + 30)
    if cp.returncode != 0:
        raise BenchError(f"wrk exited {cp.returncode}: {cp.stderr.strip()} {cp.stdout.strip()[-500:]}")
    out = cp.stdout
    cpu = (ticks(pid) - t0) / HZ if pid else 0.0
    n = int(re.search(r"(\d+) requests in", out).group(1))
    read = re.search(r"requests in [\d.]+\w+, ([\d.]+)(\w+) read", out)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    if bad or errors:
        raise BenchError(f"wrk saw failures at {conns} connections: {bad and bad.group(0)} {errors and errors.group(0)}")
    units = {"B": 1, "KB": 1024, "MB": MiB, "GB": GiB}
    per_response = float(read.group(1)) * units[read.group(2)] / n
    if per_response < 4096:
        raise BenchError(f"wrk read {per_response:.0f} bytes a response, less than the 4 KiB object")
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50_us": us(re.search(r"\s50%\s+(\S+)", out).group(1)),
            "p99_us": us(re.search(r"\s99%\s+(\S+)", out).group(1)),
            "requests": n, "cpu_us_per_request": cpu * 1e6 / n}
