"""A small S3 uploader for benches/s3_bench.py that signs every chunk:
PutObject with `x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD`
(`Content-Encoding: aws-chunked`, 64 KiB chunks, each with its chunk
signature chained from the request's seed signature), as the AWS SDKs for
Java and .NET send uploads over plain http. boto3 and the AWS CLI never send
this mode (over http they sign the whole payload's SHA-256 instead), so the
bench makes it itself; s3s-fs checks every chunk signature, which is how the
bench knows this signer is right (it uploads to s3s-fs directly first).

The body is made on the fly from a repeated block (never held whole), so the
client costs little: each distinct chunk is hashed once.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import http.client
import urllib.parse

CHUNK = 64 * 1024
STREAMING = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def encoded_length(size: int, chunk: int = CHUNK) -> int:
    """Content-Length of `size` bytes sent aws-chunked with signatures."""
    def piece(n: int) -> int:
        return len(f"{n:x}") + len(";chunk-signature=") + 64 + 2 + n + 2
    full, rest = divmod(size, chunk)
    return full * piece(chunk) + (piece(rest) if rest else 0) + piece(0)


class Source:
    """`size` bytes: `block` repeated. Chunks are CHUNK-aligned slices."""

    def __init__(self, block: bytes, size: int):
        assert len(block) % CHUNK == 0
        self.block, self.size = block, size
        self._sha: dict[int, str] = {}

    def chunks(self):
        for offset in range(0, self.size, CHUNK):
            n = min(CHUNK, self.size - offset)
            start = offset % len(self.block)
            data = memoryview(self.block)[start:start + n]
            key = start if n == CHUNK else -n - 1
            sha = self._sha.get(key)
            if sha is None:
                sha = self._sha[key] = hashlib.sha256(data).hexdigest()
            yield data, sha

    def md5(self) -> str:
        h = hashlib.md5()
        for data, _ in self.chunks():
            h.update(data)
        return h.hexdigest()


def put(endpoint: str, bucket: str, key: str, access_key: str, secret: str, source: Source,
        region: str = "us-east-1", timeout: float = 120.0) -> tuple[int, dict, bytes]:
    """One signed-chunked PutObject; returns (status, headers, body)."""
    url = urllib.parse.urlsplit(endpoint)
    host = url.netloc
    path = "/" + urllib.parse.quote(f"{bucket}/{key}", safe="/-_.~")
    now = datetime.datetime.now(datetime.timezone.utc)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    scope = f"{day}/{region}/s3/aws4_request"
    headers = {
        "content-encoding": "aws-chunked",
        "content-length": str(encoded_length(source.size)),
        "host": host,
        "x-amz-content-sha256": STREAMING,
        "x-amz-date": amz_date,
        "x-amz-decoded-content-length": str(source.size),
    }
    names = sorted(headers)
    canonical = "\n".join([
        "PUT", path, "", "".join(f"{n}:{headers[n]}\n" for n in names), ";".join(names), STREAMING])
    key_date = _hmac(f"AWS4{secret}".encode(), day)
    signing_key = _hmac(_hmac(_hmac(key_date, region), "s3"), "aws4_request")
    to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    previous = hmac.new(signing_key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
                                f"SignedHeaders={';'.join(names)}, Signature={previous}")

    def chunk_signature(sha: str) -> str:
        text = f"AWS4-HMAC-SHA256-PAYLOAD\n{amz_date}\n{scope}\n{previous}\n{EMPTY_SHA256}\n{sha}"
        return hmac.new(signing_key, text.encode(), hashlib.sha256).hexdigest()

    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
    try:
        conn.putrequest("PUT", path, skip_host=True, skip_accept_encoding=True)
        for n in names + ["authorization"]:
            conn.putheader(n, headers[n])
        conn.endheaders()
        sock = conn.sock
        for data, sha in source.chunks():
            previous = chunk_signature(sha)
            sock.sendall(f"{len(data):x};chunk-signature={previous}\r\n".encode())
            sock.sendall(data)
            sock.sendall(b"\r\n")
        previous = chunk_signature(EMPTY_SHA256)
        sock.sendall(f"0;chunk-signature={previous}\r\n\r\n".encode())
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()
