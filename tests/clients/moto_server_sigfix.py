"""moto_server, with one fix to its SigV4 check so that the AWS SDK for Java v1 passes.

moto re-computes a request's signature with botocore's signer, taking the
header list from the request's own `SignedHeaders=`. botocore's signer then
drops `user-agent` (botocore never signs it), but the Java SDK v1 (1.11.901,
Hadoop 3.3's bundle) does sign it, so every Java v1 request fails with
SignatureDoesNotMatch although real S3 accepts it. Here `user-agent` is
signed whenever the client listed it in SignedHeaders, as AWS does; requests
from botocore (which do not list it) are checked exactly as before.

Usage: python moto_server_sigfix.py -H 127.0.0.1 -p PORT
"""

import sys

import botocore.auth

if "user-agent" in botocore.auth.SIGNED_HEADERS_BLACKLIST:
    botocore.auth.SIGNED_HEADERS_BLACKLIST.remove("user-agent")

from moto.server import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
