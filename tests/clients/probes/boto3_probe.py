"""boto3 probe: resolve credentials through boto3's default provider chain only.

Configuration comes from the environment, exactly as a user's unchanged
program would see it (AWS_CONTAINER_CREDENTIALS_FULL_URI + token, or
AWS_EC2_METADATA_SERVICE_ENDPOINT, or AWS_PROFILE with credential_process).

Prints one JSON line. Never prints the secret key or the session token.

    python boto3_probe.py                 # credentials only
    python boto3_probe.py put KEY BODY    # then S3 PutObject (bucket from PROBE_BUCKET)
    python boto3_probe.py get KEY         # S3 GetObject, prints the body
    python boto3_probe.py list PREFIX     # S3 ListObjectsV2, prints the keys
    python boto3_probe.py loop SECONDS PREFIX   # put+get every ~0.5 s, reports key ids seen

The S3 endpoint, if any, comes from the standard AWS_ENDPOINT_URL_S3 variable.
"""

import json
import os
import sys
import time


def out(obj, code=0):
    print(json.dumps(obj), flush=True)
    sys.exit(code)


def describe(session):
    creds = session.get_credentials()
    if creds is None:
        out({"client": "boto3", "error": "NoCredentials", "message": "no credentials found"}, 1)
    frozen = creds.get_frozen_credentials()
    expiry = getattr(creds, "_expiry_time", None)
    return {
        "client": "boto3",
        "access_key_id": frozen.access_key,
        "expiration": expiry.strftime("%Y-%m-%dT%H:%M:%SZ") if expiry else None,
        "method": getattr(creds, "method", None),
        "has_token": bool(frozen.token),
    }


def main(argv):
    import boto3
    import botocore.config
    import botocore.exceptions

    agent = os.environ.get("PROBE_ECS_AGENT_ADDRESS")
    if agent:
        # Test hook, used only by the RELATIVE_URI pitfall test: botocore sends
        # RELATIVE_URI requests to 169.254.170.2; move that address to a local
        # stand-in so no traffic leaves loopback. Nothing else changes.
        import botocore.utils
        botocore.utils.ContainerMetadataFetcher.IP_ADDRESS = agent

    session = boto3.Session()
    try:
        info = describe(session)
    except botocore.exceptions.BotoCoreError as e:
        out({"client": "boto3", "error": type(e).__name__, "message": str(e)}, 1)
    if len(argv) < 2:
        out(info)

    op = argv[1]
    bucket = os.environ["PROBE_BUCKET"]
    s3 = session.client("s3", config=botocore.config.Config(s3={"addressing_style": "path"}))
    try:
        if op == "put":
            s3.put_object(Bucket=bucket, Key=argv[2], Body=argv[3].encode())
        elif op == "get":
            info["body"] = s3.get_object(Bucket=bucket, Key=argv[2])["Body"].read().decode()
        elif op == "list":
            resp = s3.list_objects_v2(Bucket=bucket, Prefix=argv[2])
            info["keys"] = [o["Key"] for o in resp.get("Contents", [])]
        elif op == "loop":
            # One client for the whole run, as a long-running program would.
            deadline = time.monotonic() + float(argv[2])
            seen, n, failures = [], 0, []
            while time.monotonic() < deadline:
                key_id = session.get_credentials().get_frozen_credentials().access_key
                if not seen or seen[-1] != key_id:
                    seen.append(key_id)
                k = f"{argv[3]}loop-{n}"
                try:
                    s3.put_object(Bucket=bucket, Key=k, Body=b"x")
                    s3.get_object(Bucket=bucket, Key=k)["Body"].read()
                except Exception as e:  # record, keep going: the test counts failures
                    failures.append(f"{type(e).__name__}: {e}"[:300])
                n += 1
                time.sleep(0.5)
            info.update(requests=n, key_ids_seen=len(seen), failures=failures,
                        key_id_suffixes=[s[-4:] for s in seen])
            out(info, 1 if failures else 0)
        else:
            out({"client": "boto3", "error": "Usage", "message": f"unknown op {op}"}, 2)
    except botocore.exceptions.ClientError as e:
        err = e.response.get("Error", {})
        info.update(error=err.get("Code"), message=err.get("Message"),
                    status=e.response.get("ResponseMetadata", {}).get("HTTPStatusCode"))
        out(info, 1)
    except botocore.exceptions.BotoCoreError as e:
        info.update(error=type(e).__name__, message=str(e))
        out(info, 1)
    out(info)


if __name__ == "__main__":
    main(sys.argv)
