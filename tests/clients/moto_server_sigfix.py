"""moto_server, with two fixes that make it judge requests as AWS S3 does, and
an access log that says which key signed each request.

1. SigV4 and the AWS SDK for Java v1. moto re-computes a request's signature
   with botocore's signer, taking the header list from the request's own
   `SignedHeaders=`. botocore's signer then drops `user-agent` (botocore never
   signs it), but the Java SDK v1 (1.11.901, Hadoop 3.3's bundle) does sign it,
   so every Java v1 request fails with SignatureDoesNotMatch although real S3
   accepts it. Here `user-agent` is signed whenever the client listed it in
   SignedHeaders, as AWS does; requests from botocore (which do not list it)
   are checked exactly as before.

2. DeleteObjects is authorized per key. moto 5.2 checks `s3:DeleteObject` on
   the *bucket* ARN and, when that is denied, answers AccessDenied for every
   key, so credentials scoped to a prefix (an Access Grants grant) can never
   use DeleteObjects. AWS checks `s3:DeleteObject` on each key's ARN and
   reports each refused key in the DeleteResult. Here each key is checked
   with the caller's IAM policies on `arn:aws:s3:::BUCKET/KEY`; the keys
   allowed are deleted by moto's backend as before (object lock), the
   others are `<Error><Code>AccessDenied</Code>`. The signature is still
   checked once, first, by moto.

3. Access log. For every request moto handles, one line on stderr (the
   Service's log file): `moto-request METHOD PATH key=ACCESS_KEY_ID`, the key id
   of the SigV4 Authorization header or presigned query (`-` for none), then
   ` target=X-AMZ-TARGET` for a JSON-protocol call (SageMaker's). AWS
   records the same in CloudTrail; the S3 endpoint tests read it to see which
   identity wrote an object, and that a refused request never reached S3.

Usage: python moto_server_sigfix.py -H 127.0.0.1 -p PORT
"""

import sys

import botocore.auth

if "user-agent" in botocore.auth.SIGNED_HEADERS_BLACKLIST:
    botocore.auth.SIGNED_HEADERS_BLACKLIST.remove("user-agent")

import re  # noqa: E402
from urllib.parse import unquote, urlparse  # noqa: E402

import xmltodict  # noqa: E402
from moto import settings  # noqa: E402
from moto.core.authorization import ActionAuthenticatorMixin  # noqa: E402
from moto.core.responses import ActionResult, BaseResponse  # noqa: E402
from moto.s3.exceptions import MalformedXML, S3AccessDeniedError  # noqa: E402
from moto.s3.responses import S3Response  # noqa: E402
from moto.server import main  # noqa: E402


def _delete_keys_per_key(self, bucket_name, authenticated=True):
    body_dict = xmltodict.parse(self.body, strip_whitespace=False)
    bypass = self.headers.get("x-amz-bypass-governance-retention", "").lower() == "true"
    objects = body_dict["Delete"].get("Object", [])
    if not isinstance(objects, list):
        objects = [objects]
    if not objects:
        raise MalformedXML()
    enforcing = ActionAuthenticatorMixin.request_count >= settings.INITIAL_NO_AUTH_ACTION_COUNT
    allowed, errors = [], []
    for obj in objects:
        if enforcing:
            self.data["Action"] = "DeleteObject"
            try:
                self._authenticate_and_authorize_s3_action(bucket_name=bucket_name, key_name=obj["Key"])
            except S3AccessDeniedError:
                errors.append((obj["Key"], "AccessDenied", "Access Denied"))
                continue
        allowed.append(obj)
    deleted = []
    if allowed:
        deleted, locked = self.backend.delete_objects(bucket_name, allowed, bypass)
        errors += [(k, "AccessDenied", "Access Denied because object protected by object lock.") for k in locked]
    self.data["Action"] = "DeleteObjects"
    return self.serialized(ActionResult({
        "Deleted": [{"Key": k, "VersionId": v or None, "DeleteMarkerVersionId": dv or None,
                     "DeleteMarker": True if dv else None} for k, v, dv in deleted],
        "Errors": [{"Key": k, "Code": c, "Message": m} for k, c, m in errors],
    }))


S3Response._bucket_response_delete_keys = _delete_keys_per_key

_KEY_ID = re.compile(r"Credential=([A-Za-z0-9]+)/")
_setup_class = BaseResponse.setup_class


def _setup_class_logged(self, request, *args, **kwargs):
    _setup_class(self, request, *args, **kwargs)
    url = urlparse(getattr(request, "url", "") or "")
    found = _KEY_ID.search(request.headers.get("Authorization", "")) or _KEY_ID.search(unquote(url.query))
    path = url.path + (f"?{url.query}" if url.query else "")
    target = request.headers.get("X-Amz-Target")
    sys.stderr.write(f"moto-request {request.method} {path} key={found.group(1) if found else '-'}"
                     + (f" target={target}" if target else "") + "\n")
    sys.stderr.flush()


BaseResponse.setup_class = _setup_class_logged

if __name__ == "__main__":
    sys.exit(main())
