"""One client process of benches/boto3_bench.py: boto3 GetObject, timed.

    boto3_worker.py WAY BUCKET KEYS OBJECT_BYTES OFFSET

WAY is plain, plugin, grantd, s3 or plugin-env. Credentials and endpoints
come from this process's environment only, as a user's would (for plugin-env
that includes botocore loading the plugin itself); the botocore Config below
is the same for every way. Prints "ready" once imports are done, waits for
"go" on stdin (so that the processes of one run start together and interpreter
start and imports stay out of every figure), creates the client and does one
GetObject, prints "first"; then for each "loop K" does K timed GetObjects and
prints "done"; on "end" prints one JSON line and exits 0. On any failed or
wrong read it prints {"error": ...} and exits 1.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time


def object_body(key: str, size: int) -> bytes:
    """The bytes the driver stored under `key`; the worker checks every read."""
    unit = f"{key}|".encode()
    return (unit * (size // len(unit) + 1))[:size]


def resolve_account_hosts(loopback: str):
    """The plugin's S3 Control client calls https://<account>.<endpoint host>, so
    with the emulator at 127.0.0.1:PORT it asks for 111122223333.127.0.0.1,
    which no resolver knows. Map names ending in ".127.0.0.1" to the loopback
    address in this process only (machine files stay untouched). Must run
    before botocore/urllib3 open any connection."""
    real = socket.getaddrinfo
    suffix = "." + loopback

    def getaddrinfo(host, *args, **kwargs):
        if isinstance(host, str) and host.endswith(suffix):
            host = loopback
        return real(host, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo


def signing_key_id(request, **_):
    # Authorization: AWS4-HMAC-SHA256 Credential=AKID/date/region/s3/aws4_request, ...
    auth = request.headers.get("Authorization", b"")
    auth = auth.decode() if isinstance(auth, bytes) else auth
    SEEN.add(auth.split("Credential=", 1)[1].split("/", 1)[0] if "Credential=" in auth else "unsigned")


SEEN: set[str] = set()


def cpu() -> float:
    t = os.times()
    return t.user + t.system


def main():
    way, bucket, keys, size, offset = sys.argv[1:6]
    keys, size, offset = keys.split(","), int(size), int(offset)
    if way in ("plugin", "plugin-env"):
        resolve_account_hosts("127.0.0.1")
    import boto3
    import botocore.config

    if way == "plugin":
        from aws_s3_access_grants_boto3_plugin.s3_access_grants_plugin import S3AccessGrantsPlugin
    expected = {k: object_body(k, size) for k in keys}
    # Identical for every way: one attempt (a failure shows, it is not retried
    # away), a pool larger than the one connection used, path-style addressing.
    config = botocore.config.Config(
        retries={"mode": "standard", "max_attempts": 1}, max_pool_connections=10,
        s3={"addressing_style": "path"},
    )
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return

    c0, t0 = cpu(), time.perf_counter()
    s3 = boto3.client("s3", config=config)
    if way == "plugin":
        S3AccessGrantsPlugin(s3, fallback_enabled=False).register()
    t_client = time.perf_counter() - t0

    def get(i: int):
        key = keys[(offset + i) % len(keys)]
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        if body != expected[key]:
            raise AssertionError(f"{key}: read {len(body)} bytes that differ from the {size} stored")

    # The key that signs the first and the last request, seen on the wire:
    # the driver checks it is the way's own (static, vended or grantd's).
    s3.meta.events.register("before-send.s3", signing_key_id)
    t1 = time.perf_counter()
    get(0)
    first = time.perf_counter() - t1
    s3.meta.events.unregister("before-send.s3", signing_key_id)
    c1 = cpu()
    # From here the driver interleaves the ways: it reads the start phase's
    # upstream calls, then sends "loop K" to one way's processes at a time
    # (so drifting load on a shared machine hits every way alike), then "end".
    print("first", flush=True)
    lat, slices, loop_cpu, done = [], [], 0.0, 1
    for line in sys.stdin:
        cmd = line.split()
        if cmd[0] != "loop":
            break
        k = int(cmd[1])
        c = cpu()
        start = time.monotonic()
        for i in range(k):
            if i == k - 1:
                s3.meta.events.register("before-send.s3", signing_key_id)
            t = time.perf_counter()
            get(done + i)
            lat.append(time.perf_counter() - t)
        s3.meta.events.unregister("before-send.s3", signing_key_id)
        # time.monotonic is CLOCK_MONOTONIC: one clock for every process.
        slices.append((start, time.monotonic()))
        loop_cpu += cpu() - c
        done += k
        print("done", flush=True)
    print(json.dumps({
        "client_s": t_client, "first_s": first, "first_cpu_s": c1 - c0, "loop_cpu_s": loop_cpu,
        "slices": slices, "lat": lat, "key_ids": sorted(SEEN),
    }), flush=True)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # noqa: BLE001 - reported to the driver, which fails the run
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}), flush=True)
        sys.exit(1)
