"""A one-purpose STS for benches/s3_bench.py: AssumeRole answers with the
fixed keys of the local S3 (s3s-fs), so that what `grantd emulate` vends in
its assume-role mode is a key that S3 checks signatures with.

s3s-fs knows exactly one access key and checks every request's SigV4
signature against its secret; the emulator's own vended keys are random.
The emulator's `[assume_role]` mode asks an STS for each GetDataAccess; this
STS answers every AssumeRole with s3s-fs's key and secret (and a session
token of its own, which grantd signs into every request and s3s-fs ignores).
Anything else gets STS's InvalidAction. It serves on a thread of the driver,
on 127.0.0.1 only, and counts the AssumeRole calls.
"""

from __future__ import annotations

import datetime
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ANSWER = """<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <Credentials>
      <AccessKeyId>{key}</AccessKeyId>
      <SecretAccessKey>{secret}</SecretAccessKey>
      <SessionToken>{token}</SessionToken>
      <Expiration>{expiration}</Expiration>
    </Credentials>
    <AssumedRoleUser>
      <AssumedRoleId>AROAGRANTDBENCH:{session}</AssumedRoleId>
      <Arn>{role}/{session}</Arn>
    </AssumedRoleUser>
  </AssumeRoleResult>
  <ResponseMetadata><RequestId>grantd-bench-{n}</RequestId></ResponseMetadata>
</AssumeRoleResponse>
"""

INVALID = """<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error><Type>Sender</Type><Code>InvalidAction</Code><Message>only AssumeRole</Message></Error>
  <RequestId>grantd-bench</RequestId>
</ErrorResponse>
"""


class FixedKeySts:
    def __init__(self, key: str, secret: str):
        self.key, self.secret = key, secret
        self.calls = 0
        self._lock = threading.Lock()
        sts = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length", "0"))
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                if form.get("Action") != ["AssumeRole"] or "Authorization" not in self.headers:
                    self._send(400, INVALID)
                    return
                with sts._lock:
                    sts.calls += 1
                    n = sts.calls
                seconds = int(form.get("DurationSeconds", ["3600"])[0])
                expiration = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
                role = form.get("RoleArn", ["arn:aws:iam::111122223333:role/unknown"])[0]
                self._send(200, ANSWER.format(
                    key=sts.key, secret=sts.secret, token=f"grantd-bench-session-token-{n}",
                    expiration=expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    session=form.get("RoleSessionName", ["s"])[0],
                    role=role.replace(":iam::", ":sts::").replace(":role/", ":assumed-role/"), n=n))

            def _send(self, status: int, body: str):
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
