"""grantd's S3 endpoint (`grantd serve --s3-listen`) with real clients and real enforcement.

The daemon's base identity is an IAM user in moto standing for a SageMaker
execution role (motoenv.EXEC_USER): long-term keys that may use their own
bucket (NO_GRANT_BUCKET, which no grant covers) and call
sts:GetCallerIdentity, and nothing of the grants bucket. The emulator knows
that key id as RoleA, whose grants are Product/* READ, UserA/* and TeamA/*
READWRITE (motoenv.S3_GRANTS), each minted as a real moto AssumeRole session
of a role allowing only that; RoleA has no grant on UserB/. The daemon's own
AWS_ENDPOINT_URL_S3 is moto.

Every client is configured by `eval "$(grantd env --s3)"` alone
(Daemon.s3_env): the base identity through AWS_CONTAINER_CREDENTIALS_FULL_URI,
S3 through AWS_ENDPOINT_URL_S3 = grantd. Its own AWS_ENDPOINT_URL_STS points
at moto, so STS is answered by moto for the base identity. Where a client
cannot read AWS_ENDPOINT_URL_S3, the test says which setting it needed
instead (the README's per-client table of the S3 endpoint).

What is checked, for every client: bytes read back are the bytes written,
and moto's admin view holds them; moto's access log (moto_server_sigfix.py)
says which key signed what reached S3 (a grant's session, as the emulator's
issued-key registry tells, or the base identity), and that what grantd
refused never reached it; grantd's /metrics counted the S3 requests.
"""

from __future__ import annotations

import json
import random
import re
import socket
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import (
    BUCKET, CACHE, PROBES, PROFILES, VENV_BIN, Daemon, Emulator, ProbeResult, abalone_csv, http_json, run_aws,
    run_probe, run_spark_job, spark_defaults,
)
from motoenv import EXEC_USER_ARN, NO_GRANT_BUCKET

pytestmark = pytest.mark.s3

T = "s3ep"  # every key of this module is under GRANT/s3ep/ (or in NO_GRANT_BUCKET)
PRODUCT_GRANT = f"s3://{BUCKET}/Product/*"
USERA_GRANT = f"s3://{BUCKET}/UserA/*"
TEAMA_GRANT = f"s3://{BUCKET}/TeamA/*"
READ_KEY = f"Product/{T}/read.bin"  # 300 kB, put by the admin: RoleA may only read it
DENIED_KEY = f"UserB/{T}/secret.txt"  # RoleA has no grant there; the base identity no right
# grantd's S3 request counter (labels: the operation class and the outcome).
S3_REQUESTS = "grantd_s3_requests_total"


def blob(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


@dataclass
class Stack:
    moto: object
    emulator: Emulator
    daemon: Daemon
    read_data: bytes

    def env(self, daemon: Daemon | None = None, **extra) -> dict:
        """A client of (by default) the stack's daemon: `grantd env --s3` only,
        plus its own STS endpoint (moto) and the bucket probes use."""
        return (daemon or self.daemon).s3_env(AWS_ENDPOINT_URL_STS=self.moto.url, PROBE_BUCKET=BUCKET, **extra)

    def mark(self) -> int:
        return len(self.moto.requests())

    def reached_s3(self, mark: int, *needles: str, method: str | None = None) -> list[tuple[str, str, str]]:
        """Requests moto handled since `mark` whose path holds every needle,
        except the test's own (moto's admin key: the reference reads)."""
        return [r for r in self.moto.requests()[mark:]
                if all(n in r[1] for n in needles) and method in (None, r[0]) and r[2] != self.moto.admin_key]

    def signers(self, mark: int, needle: str, method: str | None = None) -> set[str]:
        """Key ids that signed what reached S3 since `mark` with `needle` in its path."""
        return {k for _, _, k in self.reached_s3(mark, needle, method=method)}

    def grant_of(self, key_id: str) -> str:
        """The grant whose credentials `key_id` is, as the emulator issued it;
        "base" for the daemon's own identity."""
        if key_id == self.moto.exec_key:
            return "base"
        status, body = http_json("GET", f"{self.emulator.url}/_emulator/issued/{key_id}")
        return body["matched_grant_target"] if status == 200 else f"unknown {key_id}"

    def grants_of(self, mark: int, needle: str, method: str | None = None) -> set[str]:
        return {self.grant_of(k) for k in self.signers(mark, needle, method)}

    def admin_bytes(self, key: str, bucket: str = BUCKET) -> bytes:
        return self.moto.admin("s3").get_object(Bucket=bucket, Key=key)["Body"].read()

    def admin_keys(self, prefix: str, bucket: str = BUCKET) -> list[str]:
        r = self.moto.admin("s3").list_objects_v2(Bucket=bucket, Prefix=prefix)
        return [o["Key"] for o in r.get("Contents", [])]


def daemon_env(moto) -> dict:
    # S3 goes to moto; grantd's own lines at debug, so that every S3 request
    # is logged (and the secrets test reads them all).
    return {"AWS_ENDPOINT_URL_S3": moto.url, "RUST_LOG": "info,grantd=debug"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory, moto):
    workdir = tmp_path_factory.mktemp("s3-endpoint")
    emulator = Emulator(workdir / "emulator", grants=moto.s3_grants_toml())
    daemon = Daemon(workdir / "grantd", emulator, imds=True, profiles={"usera": PROFILES["usera"]},
                    base_keys=(moto.exec_key, moto.exec_secret), extra_env=daemon_env(moto),
                    extra_args=["--s3-listen", "127.0.0.1:0"])
    admin = moto.admin("s3")
    read_data = blob(300_000, 1)
    admin.put_object(Bucket=BUCKET, Key=READ_KEY, Body=read_data)
    admin.put_object(Bucket=BUCKET, Key=DENIED_KEY, Body=b"B only")
    yield Stack(moto, emulator, daemon, read_data)
    daemon.stop()
    emulator.stop()
    for bucket, prefix in [(BUCKET, f"{g}/{T}/") for g in ("Product", "UserA", "TeamA", "UserB")] + [
            (NO_GRANT_BUCKET, "")]:
        for page in admin.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for o in page.get("Contents", []):
                admin.delete_object(Bucket=bucket, Key=o["Key"])


@pytest.fixture(scope="module")
def deny_daemon(stack, tmp_path_factory):
    """A second daemon with --s3-fallback deny, same identity and grants."""
    d = Daemon(tmp_path_factory.mktemp("s3-deny"), stack.emulator, imds=False, profiles={"usera": PROFILES["usera"]},
               base_keys=(stack.moto.exec_key, stack.moto.exec_secret),
               extra_env=daemon_env(stack.moto),
               extra_args=["--s3-listen", "127.0.0.1:0", "--s3-fallback", "deny"])
    yield d
    d.stop()


# ---------------------------------------------------------------- helpers


def s3_requests(daemon: Daemon) -> dict[str, float]:
    """grantd's S3 request counter: {label set: count}."""
    text = daemon.metrics()
    found = {m[1]: float(m[2]) for m in re.finditer(rf"^{S3_REQUESTS}(\{{[^}}]*\}})? (\S+)$", text, re.M)}
    if not found and f"# TYPE {S3_REQUESTS} counter" not in text:
        names = sorted({m[1] for m in re.finditer(r"^(grantd_s3\w*)", text, re.M)})
        raise AssertionError(f"no {S3_REQUESTS} in /metrics; S3 series there: {names}")
    return found


def counted(daemon: Daemon, before: dict[str, float]) -> dict[str, float]:
    """What the S3 request counter grew by since `before`, by label set."""
    return {k: n - before.get(k, 0) for k, n in s3_requests(daemon).items() if n != before.get(k, 0)}


def by_outcome(delta: dict[str, float]) -> dict[str, float]:
    """A counter delta summed by its outcome label (grant, base, denied, refused, failed)."""
    out: dict[str, float] = {}
    for labels, n in delta.items():
        m = re.search(r'outcome="([^"]*)"', labels)
        out[m[1] if m else ""] = out.get(m[1] if m else "", 0) + n
    return out


def plan(env: dict, steps: list[dict], timeout: float = 120) -> list[dict]:
    """Run probes/s3_plan.py (boto3, one process) and return its steps' results."""
    path = Path(env["HOME"]) / f"plan-{random.randrange(1 << 30)}.json"
    path.write_text(json.dumps(steps))
    argv = [str(VENV_BIN / "python"), str(PROBES / "s3_plan.py"), str(path)]
    cp = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    r = ProbeResult(argv, cp)
    assert r.returncode == 0 and "steps" in r.json, r
    return r["steps"]


def ok(step: dict) -> dict:
    assert step["ok"], step
    return step


def denied(step: dict) -> dict:
    assert not step["ok"] and step["error"] == "AccessDenied" and step["status"] == 403, step
    return step


class PayloadRecorder:
    """A loopback TCP relay in front of grantd's S3 endpoint that records the
    `x-amz-content-sha256` of each request it passes on (hex digests as
    "sha256"): how a client signs its bodies. Only for clients whose S3
    endpoint is a setting in code or configuration anyway (Spark's
    fs.s3a.endpoint, pyarrow's endpoint_override); bytes pass unchanged."""

    HEADER = re.compile(rb"\r\nx-amz-content-sha256:[ \t]*([^\r\n]*)", re.I)

    def __init__(self, upstream_url: str):
        self.upstream = int(upstream_url.rsplit(":", 1)[1])
        self.modes: set[str] = set()
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream))
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, src, dst, record):
        tail = b""
        try:
            while data := src.recv(65536):
                if record:
                    for m in self.HEADER.finditer(tail + data):
                        mode = m[1].decode("latin1").strip()
                        self.modes.add("sha256" if re.fullmatch(r"[0-9a-f]{64}", mode) else mode)
                    tail = data[-100:]
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.server.close()


# ---------------------------------------------------------------- the environment


def test_grantd_env_s3_names_the_base_route_and_the_s3_endpoint(stack):
    env = stack.env()
    status, body = http_json("GET", stack.daemon.url + "/readyz")

    assert status == 200 and body["s3_endpoint"] == env["AWS_ENDPOINT_URL_S3"], body
    assert env["AWS_ENDPOINT_URL_S3"] != stack.daemon.url
    # Nothing else of the client's setup points at grantd.
    assert env["AWS_ENDPOINT_URL_STS"] == stack.moto.url
    assert not [k for k in env if k.startswith("AWS_ACCESS_KEY") or k == "AWS_PROFILE"]


# ---------------------------------------------------------------- boto3


def test_boto3_gets_whole_ranged_and_heads_under_the_read_grant(stack, tmp_path):
    data = stack.read_data
    mark, before = stack.mark(), s3_requests(stack.daemon)

    whole, ranged, suffix, head, creds = plan(stack.env(), [
        {"op": "get", "bucket": BUCKET, "key": READ_KEY, "out": str(tmp_path / "whole")},
        {"op": "get", "bucket": BUCKET, "key": READ_KEY, "out": str(tmp_path / "ranged"), "range": "bytes=1000-1999"},
        {"op": "get", "bucket": BUCKET, "key": READ_KEY, "out": str(tmp_path / "suffix"), "range": "bytes=-100"},
        {"op": "head", "bucket": BUCKET, "key": READ_KEY},
        {"op": "creds"},
    ])

    assert (tmp_path / "whole").read_bytes() == data and ok(whole)["content_length"] == len(data)
    assert (tmp_path / "ranged").read_bytes() == data[1000:2000]
    assert ok(ranged)["status"] == 206 and ranged["content_range"] == f"bytes 1000-1999/{len(data)}"
    assert (tmp_path / "suffix").read_bytes() == data[-100:]
    admin_head = stack.moto.admin("s3").head_object(Bucket=BUCKET, Key=READ_KEY)
    assert ok(head)["content_length"] == len(data) and head["etag"] == admin_head["ETag"]
    # The client holds the base identity (long-term keys, no session token)...
    assert ok(creds)["access_key_id"] == stack.moto.exec_key, creds
    assert creds["method"] == "container-role" and creds["has_token"] is False, creds
    # ...and S3 saw only the Product grant's session.
    assert stack.grants_of(mark, f"/{BUCKET}/{READ_KEY}") == {PRODUCT_GRANT}
    assert sum(counted(stack.daemon, before).values()) >= 4


def test_boto3_puts_and_uploads_three_parts_under_user_a(stack, tmp_path):
    small, big = tmp_path / "small", tmp_path / "big"
    small.write_bytes(blob(1 << 20, 2))
    big.write_bytes(blob(11 << 20, 3))  # 5 MiB + 5 MiB + 1 MiB
    k_small, k_big = f"UserA/{T}/put.bin", f"UserA/{T}/mpu.bin"
    mark, before = stack.mark(), s3_requests(stack.daemon)

    put, mpu, got_small, got_big, head = plan(stack.env(), [
        {"op": "put", "bucket": BUCKET, "key": k_small, "file": str(small)},
        {"op": "mpu", "bucket": BUCKET, "key": k_big, "file": str(big), "part_size": 5 << 20},
        {"op": "get", "bucket": BUCKET, "key": k_small, "out": str(tmp_path / "small.back")},
        {"op": "get", "bucket": BUCKET, "key": k_big, "out": str(tmp_path / "big.back")},
        {"op": "head", "bucket": BUCKET, "key": k_big},
    ])

    assert ok(put) and ok(got_small) and ok(got_big)
    assert ok(mpu)["parts"] == 3 and mpu["etag"].endswith('-3"'), mpu
    assert (tmp_path / "small.back").read_bytes() == small.read_bytes() == stack.admin_bytes(k_small)
    assert (tmp_path / "big.back").read_bytes() == big.read_bytes() == stack.admin_bytes(k_big)
    assert ok(head)["etag"] == mpu["etag"] == stack.moto.admin("s3").head_object(Bucket=BUCKET, Key=k_big)["ETag"]
    # Create, three parts and complete all reached S3 with UserA's grant.
    assert stack.grants_of(mark, f"/{BUCKET}/UserA/{T}/") == {USERA_GRANT}
    assert len(stack.reached_s3(mark, f"/{BUCKET}/{k_big}?", "partNumber=", method="PUT")) == 3
    assert sum(counted(stack.daemon, before).values()) >= 9


def test_boto3_presigned_get_works_with_sigv4_and_sigv2_gets_s3s_refusal(stack, tmp_path):
    """A presigned URL is signed by the base identity like any request. botocore
    presigns S3 with SigV2 unless told `signature_version="s3v4"`; grantd
    verifies SigV4 only and answers SigV2 as S3 does for it today."""
    mark = stack.mark()

    v4, v2 = plan(stack.env(), [
        {"op": "presign", "bucket": BUCKET, "key": READ_KEY, "out": str(tmp_path / "v4"), "sigv4": True},
        {"op": "presign", "bucket": BUCKET, "key": READ_KEY, "out": str(tmp_path / "v2")},
    ])

    assert ok(v4)["http_status"] == 200 and "X-Amz-Signature" in v4["query"], v4
    assert (tmp_path / "v4").read_bytes() == stack.read_data
    assert ok(v2)["query"] == ["AWSAccessKeyId", "Expires", "Signature"], v2
    assert v2["http_status"] == 400 and v2["error_code"] == "InvalidRequest", v2
    assert "AWS4-HMAC-SHA256" in v2["error_message"], v2
    assert stack.grants_of(mark, f"/{BUCKET}/{READ_KEY}") == {PRODUCT_GRANT}


def test_boto3_lists_with_prefix_delimiter_and_continuation_as_s3_does(stack):
    admin = stack.moto.admin("s3")
    base = f"UserA/{T}/list/"
    for name in ["a/1.txt", "a/2.txt", "b/1.txt", "c.txt", "d.txt", "e.txt", "f.txt"]:
        admin.put_object(Bucket=BUCKET, Key=base + name, Body=name.encode())
    cases = [dict(prefix=base, delimiter="/", max_keys=2), dict(prefix=base, max_keys=3),
             dict(prefix=base + "a/", delimiter="/")]
    mark = stack.mark()

    got = plan(stack.env(), [{"op": "list", "bucket": BUCKET, **c} for c in cases]
               + [{"op": "list", "bucket": BUCKET, "prefix": ""}])

    for case, step in zip(cases, got):
        assert ok(step)["pages"] == admin_pages(admin, **case), (case, step)
    assert len(got[0]["pages"]) == 3 and got[0]["pages"][0]["prefixes"] == [base + "a/", base + "b/"]
    # The whole bucket is no grant's: the base identity may not list it.
    denied(got[-1])
    lists = stack.reached_s3(mark, f"/{BUCKET}?", "prefix=UserA", method="GET")
    assert len(lists) == 4 + 2 + 1 and {stack.grant_of(k) for _, _, k in lists} == {USERA_GRANT}


def admin_pages(admin, prefix, delimiter=None, max_keys=None) -> list[dict]:
    """The pages moto gives its admin for the same listing: the reference."""
    kw = {"Bucket": BUCKET, "Prefix": prefix}
    if delimiter:
        kw["Delimiter"] = delimiter
    if max_keys:
        kw["MaxKeys"] = max_keys
    pages = []
    while True:
        r = admin.list_objects_v2(**kw)
        pages.append({"keys": [o["Key"] for o in r.get("Contents", [])],
                      "sizes": [o["Size"] for o in r.get("Contents", [])],
                      "prefixes": [p["Prefix"] for p in r.get("CommonPrefixes", [])],
                      "truncated": r["IsTruncated"], "key_count": r["KeyCount"]})
        if not r["IsTruncated"]:
            return pages
        kw["ContinuationToken"] = r["NextContinuationToken"]


def test_boto3_delete_objects_across_two_writable_grants_is_split_by_grant(stack):
    """UserA/ and TeamA/ are two READWRITE grants: one DeleteObjects from the
    client, one per grant at S3, each signed by its grant's session, and one
    DeleteResult back listing every key."""
    keys = [f"UserA/{T}/del/1", f"UserA/{T}/del/2", f"TeamA/{T}/del/1"]
    for k in keys:
        stack.moto.admin("s3").put_object(Bucket=BUCKET, Key=k, Body=b"x")
    mark = stack.mark()

    [result] = plan(stack.env(), [{"op": "delete_objects", "bucket": BUCKET, "keys": keys}])

    assert ok(result)["deleted"] == sorted(keys) and result["errors"] == [], result
    assert stack.admin_keys(f"UserA/{T}/del/") == [] and stack.admin_keys(f"TeamA/{T}/del/") == []
    assert stack.grants_of(mark, f"/{BUCKET}?delete", "POST") == {USERA_GRANT, TEAMA_GRANT}


def test_boto3_delete_objects_reports_the_read_only_grants_key_as_access_denied(stack):
    """Product/ is READ only: the key there is refused (no grant may write it,
    and the base identity may not either), the UserA/ key is deleted, and both
    answers come back in one DeleteResult."""
    mine, theirs = f"UserA/{T}/del/3", f"Product/{T}/del/1"
    for k in (mine, theirs):
        stack.moto.admin("s3").put_object(Bucket=BUCKET, Key=k, Body=b"x")

    [result] = plan(stack.env(), [{"op": "delete_objects", "bucket": BUCKET, "keys": [mine, theirs]}])

    assert ok(result)["deleted"] == [mine], result
    assert [(e["key"], e["code"]) for e in result["errors"]] == [(theirs, "AccessDenied")], result
    assert stack.admin_keys(mine) == [] and stack.admin_keys(theirs) == [theirs]


def test_boto3_copies_within_user_a_in_one_request(stack, tmp_path):
    src, dst = f"UserA/{T}/copy/src.bin", f"UserA/{T}/copy/dst.bin"
    data = blob(200_000, 4)
    stack.moto.admin("s3").put_object(Bucket=BUCKET, Key=src, Body=data)
    mark = stack.mark()

    copy, got = plan(stack.env(), [
        {"op": "copy", "bucket": BUCKET, "key": dst, "src_key": src},
        {"op": "get", "bucket": BUCKET, "key": dst, "out": str(tmp_path / "dst")},
    ])

    assert ok(copy) and ok(got)
    assert (tmp_path / "dst").read_bytes() == data == stack.admin_bytes(dst)
    # One PUT with x-amz-copy-source, signed by UserA's grant (READWRITE covers both).
    assert len(stack.reached_s3(mark, f"/{BUCKET}/{dst}", method="PUT")) == 1
    assert stack.grants_of(mark, f"/{BUCKET}/{dst}", "PUT") == {USERA_GRANT}


def test_boto3_copy_from_product_to_user_a_is_refused_naming_both_scopes(stack):
    """Reading Product/ and writing UserA/ need two grants, and one request
    carries one signature: no credentials can do both, so grantd refuses."""
    dst = f"UserA/{T}/copy/from-product.bin"
    mark = stack.mark()

    [copy] = plan(stack.env(), [{"op": "copy", "bucket": BUCKET, "key": dst, "src_key": READ_KEY}])

    denied(copy)
    assert f"s3://{BUCKET}/Product/" in copy["message"] and f"s3://{BUCKET}/UserA/" in copy["message"], copy
    assert stack.admin_keys(dst) == []
    assert stack.reached_s3(mark, dst) == []


def test_one_boto3_process_reads_product_writes_user_a_uses_the_no_grant_bucket_and_sts(stack, tmp_path):
    """One client, one process, one S3 client: each request gets the grant
    that covers it, the no-grant bucket goes on as the base identity, STS
    (moto, by the client's own endpoint) sees the base identity, and S3
    refuses UserB/."""
    mine = tmp_path / "mine"
    mine.write_bytes(blob(64_000, 5))
    k_mine, k_own = f"UserA/{T}/one/written.bin", f"{T}/one.bin"
    mark, before = stack.mark(), s3_requests(stack.daemon)

    steps = plan(stack.env(), [
        {"op": "get", "bucket": BUCKET, "key": READ_KEY, "out": str(tmp_path / "product")},
        {"op": "put", "bucket": BUCKET, "key": k_mine, "file": str(mine)},
        {"op": "put", "bucket": NO_GRANT_BUCKET, "key": k_own, "file": str(mine)},
        {"op": "sts"},
        {"op": "get", "bucket": BUCKET, "key": DENIED_KEY, "out": str(tmp_path / "denied")},
        {"op": "put", "bucket": BUCKET, "key": f"UserB/{T}/intrusion.txt", "file": str(mine)},
        {"op": "get", "bucket": BUCKET, "key": k_mine, "out": str(tmp_path / "mine.back")},
        {"op": "get", "bucket": NO_GRANT_BUCKET, "key": k_own, "out": str(tmp_path / "own.back")},
    ])
    product, put_mine, put_own, sts, get_denied, put_denied, back_mine, back_own = steps

    assert ok(product) and (tmp_path / "product").read_bytes() == stack.read_data
    assert ok(put_mine) and ok(back_mine) and (tmp_path / "mine.back").read_bytes() == mine.read_bytes()
    assert ok(put_own) and ok(back_own) and (tmp_path / "own.back").read_bytes() == mine.read_bytes()
    assert stack.admin_bytes(k_mine) == mine.read_bytes() == stack.admin_bytes(k_own, NO_GRANT_BUCKET)
    assert ok(sts)["arn"] == EXEC_USER_ARN, sts
    denied(get_denied)
    denied(put_denied)
    assert stack.admin_keys(f"UserB/{T}/") == [DENIED_KEY]
    # Who S3 saw: a grant's session for each granted prefix, the base identity
    # for the bucket no grant covers, for UserB/ (S3 refused it) and for STS.
    assert stack.grants_of(mark, f"/{BUCKET}/{READ_KEY}") == {PRODUCT_GRANT}
    assert stack.grants_of(mark, f"/{BUCKET}/{k_mine}") == {USERA_GRANT}
    assert stack.grants_of(mark, f"/{NO_GRANT_BUCKET}/{k_own}") == {"base"}
    assert stack.grants_of(mark, f"/{BUCKET}/UserB/{T}/") == {"base"}
    assert [k for _, p, k in stack.reached_s3(mark, method="POST") if p == "/"] == [stack.moto.exec_key]  # STS
    outcomes = by_outcome(counted(stack.daemon, before))
    assert outcomes.get("grant", 0) >= 3 and outcomes.get("base", 0) >= 4, outcomes


# ---------------------------------------------------------------- --s3-fallback deny


def test_fallback_deny_refuses_the_no_grant_bucket_before_s3(stack, deny_daemon, tmp_path):
    body = tmp_path / "body"
    body.write_bytes(b"must not land")
    mark, before = stack.mark(), s3_requests(deny_daemon)

    own, userb, mine, back = plan(stack.env(deny_daemon), [
        {"op": "put", "bucket": NO_GRANT_BUCKET, "key": f"{T}/denied.bin", "file": str(body)},
        {"op": "get", "bucket": BUCKET, "key": DENIED_KEY, "out": str(tmp_path / "x")},
        {"op": "put", "bucket": BUCKET, "key": f"UserA/{T}/deny/ok.bin", "file": str(body)},
        {"op": "get", "bucket": BUCKET, "key": f"UserA/{T}/deny/ok.bin", "out": str(tmp_path / "back")},
    ])

    denied(own)
    denied(userb)
    # moto would have taken the write from the base identity: it never saw it.
    assert stack.reached_s3(mark, f"/{NO_GRANT_BUCKET}/") == []
    assert stack.reached_s3(mark, f"/{BUCKET}/UserB/") == []
    assert stack.admin_keys(f"{T}/denied.bin", NO_GRANT_BUCKET) == []
    # Grants still work through this daemon.
    assert ok(mine) and ok(back) and (tmp_path / "back").read_bytes() == body.read_bytes()
    assert stack.grants_of(mark, f"/{BUCKET}/UserA/{T}/deny/") == {USERA_GRANT}
    outcomes = by_outcome(counted(deny_daemon, before))
    assert outcomes.get("denied", 0) >= 2 and outcomes.get("grant", 0) >= 2 and "base" not in outcomes, outcomes


# ---------------------------------------------------------------- AWS CLI


def test_aws_cli_copies_lists_and_gets_a_range(stack, tmp_path):
    big, small = tmp_path / "big.bin", tmp_path / "small.txt"
    big.write_bytes(blob(9 << 20, 6))  # above the CLI's 8 MiB multipart threshold
    small.write_text("via aws cli\n")
    url = f"s3://{BUCKET}/UserA/{T}/cli/"
    env = stack.env()
    mark, before = stack.mark(), s3_requests(stack.daemon)

    up_big = run_aws(env, "s3", "cp", str(big), url + "big.bin")
    up_small = run_aws(env, "s3", "cp", str(small), url + "small.txt")
    down = run_aws(env, "s3", "cp", url + "big.bin", str(tmp_path / "big.back"))
    ls = run_aws(env, "s3", "ls", url)
    ranged = run_aws(env, "s3api", "get-object", "--bucket", BUCKET, "--key", f"UserA/{T}/cli/big.bin",
                     "--range", "bytes=10-19", str(tmp_path / "range.back"))
    refused = run_aws(env, "s3", "cp", str(small), f"s3://{BUCKET}/UserB/{T}/cli.txt")

    for cp in (up_big, up_small, down, ls, ranged):
        assert cp.returncode == 0, cp.stderr
    assert (tmp_path / "big.back").read_bytes() == big.read_bytes() == stack.admin_bytes(f"UserA/{T}/cli/big.bin")
    assert stack.admin_bytes(f"UserA/{T}/cli/small.txt") == small.read_bytes()
    assert sorted(line.split()[-1] for line in ls.stdout.splitlines()) == ["big.bin", "small.txt"], ls.stdout
    assert (tmp_path / "range.back").read_bytes() == big.read_bytes()[10:20]
    assert json.loads(ranged.stdout)["ContentRange"] == f"bytes 10-19/{9 << 20}"
    assert refused.returncode != 0 and "AccessDenied" in refused.stderr, refused.stderr
    assert stack.grants_of(mark, f"/{BUCKET}/UserA/{T}/cli/") == {USERA_GRANT}
    assert len(stack.reached_s3(mark, f"/{BUCKET}/UserA/{T}/cli/big.bin?", "partNumber=", method="PUT")) == 2
    assert sum(counted(stack.daemon, before).values()) >= 8


# ---------------------------------------------------------------- JavaScript v3, Go v2, rclone, Rust


def test_js_v3_puts_gets_and_lists_under_user_a(stack):
    env = dict(stack.env(), NODE_PATH=str(CACHE / "node" / "node_modules"))
    key, body = f"UserA/{T}/js/hello.txt", "héllo\nfrom js v3 ✓\n"
    mark, before = stack.mark(), s3_requests(stack.daemon)

    put = run_probe("js", env, "put", key, body)
    got = run_probe("js", env, "get", key)
    listed = run_probe("js", env, "list", f"UserA/{T}/js/")
    refused = run_probe("js", env, "get", DENIED_KEY)

    for r in (put, got, listed):
        assert r.returncode == 0, r
        assert r["access_key_id"] == stack.moto.exec_key and r["has_token"] is False, r
    assert got["body"] == body and stack.admin_bytes(key) == body.encode()
    assert listed["keys"] == [key]
    assert refused.returncode == 1 and refused["error"] == "AccessDenied" and refused["status"] == 403, refused
    assert stack.grants_of(mark, f"/{BUCKET}/UserA/{T}/js/") == {USERA_GRANT}
    assert sum(counted(stack.daemon, before).values()) >= 4


GO_PROBE = CACHE / "go" / "go_probe"
RCLONE = CACHE / "debian" / "usr" / "bin" / "rclone"


def run_bin(argv: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], env=env, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


@pytest.mark.go
def test_go_v2_1_17_puts_gets_and_lists_under_user_a(stack):
    """config 1.17.10 reads no AWS_ENDPOINT_URL_S3: the probe sets the S3
    endpoint in code from that variable (o.EndpointResolver, UsePathStyle)."""
    env = stack.env()
    key, body = f"UserA/{T}/go/hello.txt", "from go v2 ✓\n"
    mark, before = stack.mark(), s3_requests(stack.daemon)

    put, got, listed, refused = (ProbeResult([GO_PROBE, *a], run_bin([GO_PROBE, *a], env)) for a in (
        ["put", key, body], ["get", key], ["list", f"UserA/{T}/go/"], ["get", DENIED_KEY]))

    for r in (put, got, listed):
        assert r.returncode == 0, r
        assert r["access_key_id"] == stack.moto.exec_key and r["source"] == "CredentialsEndpointProvider", r
    assert got["body"] == body and stack.admin_bytes(key) == body.encode()
    assert listed["keys"] == [key]
    assert refused.returncode == 1 and refused["error"] == "AccessDenied" and refused["status"] == 403, refused
    assert stack.grants_of(mark, f"/{BUCKET}/UserA/{T}/go/") == {USERA_GRANT}
    assert sum(counted(stack.daemon, before).values()) >= 4


@pytest.mark.go
def test_rclone_copies_cats_and_lists_under_user_a(stack, tmp_path):
    """rclone 1.60 (Go SDK v1) reads no AWS_ENDPOINT_URL_S3: `grantd env --s3`
    prints its RCLONE_S3_ENDPOINT and path style; the remote `:s3:` needs
    env_auth (else it signs nothing), provider Other and no bucket check
    (CreateBucket, which no grant allows)."""
    conf = tmp_path / "rclone.conf"
    conf.touch()
    env = stack.env(
        RCLONE_CONFIG=conf, RCLONE_S3_PROVIDER="Other", RCLONE_S3_ENV_AUTH="true", RCLONE_S3_NO_CHECK_BUCKET="true",
        RCLONE_RETRIES="1", RCLONE_LOW_LEVEL_RETRIES="1")
    src = tmp_path / "local.txt"
    src.write_bytes(blob(100_000, 7))
    remote = f":s3:{BUCKET}/UserA/{T}/rclone/"
    mark, before = stack.mark(), s3_requests(stack.daemon)

    copy = run_bin([RCLONE, "copyto", src, remote + "local.bin"], env)
    cat = subprocess.run([str(RCLONE), "cat", remote + "local.bin"], env=env, capture_output=True, timeout=60,
                         stdin=subprocess.DEVNULL)
    lsf = run_bin([RCLONE, "lsf", remote], env)
    refused = run_bin([RCLONE, "copyto", src, f":s3:{BUCKET}/UserB/{T}/rclone.bin"], env)

    for cp in (copy, cat, lsf):
        assert cp.returncode == 0, cp.stderr
    assert cat.stdout == src.read_bytes() == stack.admin_bytes(f"UserA/{T}/rclone/local.bin")
    assert lsf.stdout.split() == ["local.bin"]
    assert refused.returncode != 0 and "403" in refused.stderr, refused.stderr
    assert stack.admin_keys(f"UserB/{T}/rclone") == []
    assert stack.grants_of(mark, f"/{BUCKET}/UserA/{T}/rclone/") == {USERA_GRANT}
    assert sum(counted(stack.daemon, before).values()) >= 3


def test_rust_sdk_loads_the_base_identity_from_grantd_env_s3(stack):
    """aws-config's default chain takes the base route (long-term keys: no
    session token, an Expiration grantd renews). No Rust S3 client is built
    here (grantd links no aws-sdk-s3), so the S3 half is not exercised."""
    r = run_probe("rust", stack.env())

    assert r.returncode == 0, r
    assert r["access_key_id"] == stack.moto.exec_key and r["expiration"], r


# ---------------------------------------------------------------- notebook data stack


DATA_DENIED = {
    "pandas": r"^PermissionError: (Forbidden|Access Denied)",
    "pyarrow": r"^OSError: .*AWS Error ACCESS_DENIED during (HeadObject|CreateMultipartUpload|GetObject)",
    "polars": r"^PermissionError: .*403 Forbidden",
}


@pytest.mark.data
@pytest.mark.parametrize("lib", ["pandas", "pyarrow", "pyarrow-endpoint-override", "polars"])
def test_data_stack_round_trips_under_user_a(stack, lib, tmp_path):
    """pandas (s3fs for CSV, pyarrow for Parquet), polars (boto3 installed: its
    chain) and pyarrow via `s3://` URLs read AWS_ENDPOINT_URL_S3; pyarrow's
    S3FileSystem() built in code does not and needs endpoint_override."""
    rows = ["id,name,score"] + [f"{i},row{i},{i * 7 % 13}" for i in range(1, 21)]
    src = tmp_path / "input.csv"
    src.write_text("\n".join(rows) + "\n")
    case = lib.split("-")[0]
    prefix = f"UserA/{T}/data/{lib}/"
    env = stack.env()
    recorder = None
    if lib == "pyarrow-endpoint-override":
        recorder = PayloadRecorder(env["AWS_ENDPOINT_URL_S3"])
        env["PROBE_PYARROW_ENDPOINT_OVERRIDE"] = recorder.url
    mark, before = stack.mark(), s3_requests(stack.daemon)

    try:
        r = run_probe("data", env, case, str(src), prefix, DENIED_KEY, timeout=120)
    finally:
        if recorder:
            recorder.close()

    assert r.json, r
    errors = r.get("errors", {})
    assert r["csv"] == src.read_text() and r["parquet"] == src.read_text(), (errors, r.stderr[-2000:])
    assert stack.admin_bytes(f"{prefix}{case}.csv") == src.read_bytes()
    assert re.search(DATA_DENIED[case], errors.get("denied_read", "")), errors
    assert re.search(DATA_DENIED[case], errors.get("denied_write", "")), errors
    assert set(errors) == {"denied_read", "denied_write"}, errors
    assert stack.grants_of(mark, f"/{BUCKET}/{prefix}") == {USERA_GRANT}
    assert sum(counted(stack.daemon, before).values()) >= 4
    if recorder:
        # The AWS SDK for C++ streams uploads as aws-chunked with a trailing
        # checksum (crc64nvme), unsigned: grantd checks the checksum.
        assert "STREAMING-UNSIGNED-PAYLOAD-TRAILER" in recorder.modes, recorder.modes


# ---------------------------------------------------------------- Spark s3a (Java SDK v1)


@pytest.mark.spark
def test_pyspark_s3a_through_the_s3_endpoint_with_signed_chunked_uploads(stack, tmp_path):
    """Hadoop 3.3.1 s3a (Java SDK v1 1.11.901), configured by `grantd env --s3
    --spark-conf-dir`: IAMInstanceCredentialsProvider takes the base route
    (AWS_CONTAINER_AUTHORIZATION_TOKEN); fs.s3a.endpoint = grantd's S3
    endpoint, path style, no SSL. Over http the SDK uploads with
    STREAMING-AWS4-HMAC-SHA256-PAYLOAD (signed aws-chunked): grantd checks each
    chunk against the base identity and re-signs for S3. Multi-object delete
    is on (DeleteObjects, split by grant)."""
    # Spark's own configuration (the image's), then `grantd env --s3
    # --spark-conf-dir` over it: s3a's endpoint, path style, http and provider.
    image = spark_defaults(tmp_path / "image-conf", {}, None,
                           extra={"spark.hadoop.fs.s3a.multiobjectdelete.enable": "true",
                                  "spark.hadoop.fs.s3a.endpoint": "https://s3.example.invalid",
                                  "spark.hadoop.fs.s3a.connection.ssl.enabled": "true"})
    conf = tmp_path / "grantd-spark-conf"
    env = stack.env(spark_conf_dir=conf, spark_from=image)
    written = dict(line.split(" ", 1) for line in (conf / "spark-defaults.conf").read_text().splitlines())
    assert written["spark.hadoop.fs.s3a.endpoint"] == env["AWS_ENDPOINT_URL_S3"], written
    assert written["spark.hadoop.fs.s3a.path.style.access"] == "true"
    assert written["spark.hadoop.fs.s3a.connection.ssl.enabled"] == "false"
    assert written["spark.hadoop.fs.s3a.aws.credentials.provider"].endswith(".IAMInstanceCredentialsProvider")
    assert written["spark.master"] == "local[1]" and (conf / "log4j2.properties").is_file()
    assert stack.daemon.token not in (conf / "spark-defaults.conf").read_text()
    # The one change the test makes: s3a goes through the payload recorder
    # (bytes unchanged) to see how the SDK signs uploads.
    recorder = PayloadRecorder(env["AWS_ENDPOINT_URL_S3"])
    (conf / "spark-defaults.conf").write_text((conf / "spark-defaults.conf").read_text().replace(
        f"fs.s3a.endpoint {env['AWS_ENDPOINT_URL_S3']}\n", f"fs.s3a.endpoint {recorder.url}\n"))
    data = abalone_csv(rows=200)
    admin = stack.moto.admin("s3")
    admin.put_object(Bucket=BUCKET, Key="UserA/input/abalone.csv", Body=data.encode())
    # Hadoop 3.3's mkdirs walks up to HEAD "UserA" (outside the grant): see docs/clients.md.
    admin.put_object(Bucket=BUCKET, Key="UserA/output/", Body=b"")
    mark, before = stack.mark(), s3_requests(stack.daemon)

    try:
        job = run_spark_job(env, conf, "abalone", BUCKET)
    finally:
        recorder.close()

    assert job.returncode == 0, job.stderr[-4000:]
    assert job["rows"] == 200 and job["train"] + job["validation"] == 200, job.json
    assert "AccessDenied" in job["userb"] or "403" in job["userb"], job["userb"]
    parts = [k for k in stack.admin_keys("UserA/output/train/") if k.endswith(".csv")]
    lines = b"".join(stack.admin_bytes(k) for k in parts).decode().splitlines()
    assert parts and len([line for line in lines if not line.startswith("sex,")]) == job["train"], parts
    assert stack.grants_of(mark, f"/{BUCKET}/UserA/output/train/", "PUT") == {USERA_GRANT}
    assert "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" in recorder.modes, recorder.modes
    assert sum(counted(stack.daemon, before).values()) >= 10


# ---------------------------------------------------------------- secrets


def test_daemon_logs_hold_no_secret_key_session_token_or_bearer_token(stack, deny_daemon):
    """Runs last in this module: every S3 request above went through these logs."""
    secrets = {"exec secret": stack.moto.exec_secret, "bearer token": stack.daemon.token,
               "deny bearer token": deny_daemon.token, "admin secret": stack.moto.admin_secret}
    for grant in (PRODUCT_GRANT, USERA_GRANT, TEAMA_GRANT):
        for permission in ("READ", "WRITE", "READWRITE"):
            cp = stack.daemon.cli("creds", "--target", grant, "--permission", permission, "--format", "json",
                                  check=False)
            if cp.returncode == 0:
                c = json.loads(cp.stdout)
                secrets[f"{grant} {permission} secret"] = c["SecretAccessKey"]
                secrets[f"{grant} {permission} token"] = c["Token"]
    logs = {d.name + " " + str(d.log_path): d.log_text() for d in (stack.daemon, deny_daemon)}

    assert len(secrets) > 6
    for where, text in logs.items():
        assert text.strip(), where
        leaked = [name for name, value in secrets.items() if value and value in text]
        assert not leaked, (where, leaked)
