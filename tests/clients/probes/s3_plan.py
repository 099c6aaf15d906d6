"""boto3 probe for an S3 endpoint: many S3 (and STS) operations in one process.

Configuration comes from the environment only, as an unchanged program's
would (`eval "$(grantd env --s3)"`: the base identity through
AWS_CONTAINER_CREDENTIALS_FULL_URI, S3 through AWS_ENDPOINT_URL_S3; STS
wherever AWS_ENDPOINT_URL_STS sends it). One boto3 session and one S3 client
serve every step, as in one long-running program.

    python s3_plan.py PLAN.json

PLAN.json is a list of steps, each an object with "op" and its arguments:

    creds                                  the credentials boto3 resolved (key id, method; never the secret)
    sts                                    STS GetCallerIdentity: Arn, Account
    put      bucket key file               PutObject of the file's bytes
    get      bucket key out [range]        GetObject (optional Range header), body written to `out`
    head     bucket key                    HeadObject
    mpu      bucket key file part_size     CreateMultipartUpload, UploadPart each part_size slice, Complete
    list     bucket prefix [delimiter] [max_keys]
                                           ListObjectsV2, following NextContinuationToken page by page
    delete_objects bucket keys             DeleteObjects (not quiet)
    copy     bucket key src_key [src_bucket]   CopyObject
    delete   bucket key                    DeleteObject
    presign  bucket key out [sigv4]        generate_presigned_url('get_object') (SigV4 when sigv4
                                           is true, else botocore's default for S3), fetched with
                                           plain urllib; body written to `out`

Prints one JSON line: {"client": "boto3", "steps": [...]}, each step
{"op", "ok": true, ...} or {"op", "ok": false, "error": CODE, "status": N,
"message": ...}. Exits 0 when the plan ran (failed steps included), 2 on a
bad plan. Never prints a secret or a token.
"""

import json
import sys


def run_step(session, s3, step):
    op = step["op"]
    b = step.get("bucket")
    if op == "creds":
        c = session.get_credentials()
        frozen = c.get_frozen_credentials()
        return {"access_key_id": frozen.access_key, "method": c.method, "has_token": bool(frozen.token)}
    if op == "sts":
        r = session.client("sts").get_caller_identity()
        return {"arn": r["Arn"], "account": r["Account"]}
    if op == "put":
        with open(step["file"], "rb") as f:
            r = s3.put_object(Bucket=b, Key=step["key"], Body=f.read())
        return {"etag": r["ETag"]}
    if op == "get":
        kw = {"Range": step["range"]} if step.get("range") else {}
        r = s3.get_object(Bucket=b, Key=step["key"], **kw)
        body = r["Body"].read()
        with open(step["out"], "wb") as f:
            f.write(body)
        return {"length": len(body), "content_length": r["ContentLength"], "etag": r["ETag"],
                "content_range": r.get("ContentRange"), "status": r["ResponseMetadata"]["HTTPStatusCode"]}
    if op == "head":
        r = s3.head_object(Bucket=b, Key=step["key"])
        return {"content_length": r["ContentLength"], "etag": r["ETag"]}
    if op == "mpu":
        with open(step["file"], "rb") as f:
            data = f.read()
        size = step["part_size"]
        up = s3.create_multipart_upload(Bucket=b, Key=step["key"])
        parts = []
        try:
            for n, at in enumerate(range(0, len(data), size), start=1):
                r = s3.upload_part(Bucket=b, Key=step["key"], UploadId=up["UploadId"], PartNumber=n,
                                   Body=data[at:at + size])
                parts.append({"PartNumber": n, "ETag": r["ETag"]})
            r = s3.complete_multipart_upload(Bucket=b, Key=step["key"], UploadId=up["UploadId"],
                                             MultipartUpload={"Parts": parts})
        except Exception:
            s3.abort_multipart_upload(Bucket=b, Key=step["key"], UploadId=up["UploadId"])
            raise
        return {"parts": len(parts), "etag": r["ETag"]}
    if op == "list":
        kw = {"Bucket": b, "Prefix": step.get("prefix", "")}
        if step.get("delimiter"):
            kw["Delimiter"] = step["delimiter"]
        if step.get("max_keys"):
            kw["MaxKeys"] = step["max_keys"]
        pages = []
        for _ in range(100):
            r = s3.list_objects_v2(**kw)
            pages.append({"keys": [o["Key"] for o in r.get("Contents", [])],
                          "sizes": [o["Size"] for o in r.get("Contents", [])],
                          "prefixes": [p["Prefix"] for p in r.get("CommonPrefixes", [])],
                          "truncated": r["IsTruncated"], "key_count": r["KeyCount"]})
            if not r["IsTruncated"]:
                break
            kw["ContinuationToken"] = r["NextContinuationToken"]
        return {"pages": pages}
    if op == "delete_objects":
        r = s3.delete_objects(Bucket=b, Delete={"Objects": [{"Key": k} for k in step["keys"]]})
        return {"deleted": sorted(d["Key"] for d in r.get("Deleted", [])),
                "errors": sorted(({"key": e["Key"], "code": e["Code"], "message": e.get("Message")}
                                  for e in r.get("Errors", [])), key=lambda e: e["key"])}
    if op == "copy":
        src = {"Bucket": step.get("src_bucket", b), "Key": step["src_key"]}
        r = s3.copy_object(Bucket=b, Key=step["key"], CopySource=src)
        return {"etag": r["CopyObjectResult"]["ETag"]}
    if op == "delete":
        s3.delete_object(Bucket=b, Key=step["key"])
        return {}
    if op == "presign":
        import urllib.error
        import urllib.request

        import botocore.config

        cfg = {"signature_version": "s3v4"} if step.get("sigv4") else {}
        signer = session.client("s3", config=botocore.config.Config(s3={"addressing_style": "path"}, **cfg))
        url = signer.generate_presigned_url("get_object", Params={"Bucket": b, "Key": step["key"]}, ExpiresIn=300)
        query = sorted(p.split("=", 1)[0] for p in url.split("?", 1)[1].split("&"))
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(url, timeout=30) as r:
                body = r.read()
        except urllib.error.HTTPError as e:
            text = e.read().decode(errors="replace")
            code = text.split("<Code>", 1)[-1].split("</Code>", 1)[0] if "<Code>" in text else None
            msg = text.split("<Message>", 1)[-1].split("</Message>", 1)[0] if "<Message>" in text else text[:300]
            return {"query": query, "http_status": e.code, "error_code": code, "error_message": msg}
        with open(step["out"], "wb") as f:
            f.write(body)
        return {"query": query, "http_status": 200, "length": len(body)}
    raise ValueError(f"unknown op {op}")


def main(argv):
    import boto3
    import botocore.config
    import botocore.exceptions

    with open(argv[1]) as f:
        plan = json.load(f)
    session = boto3.Session()
    # Path style: the endpoint is an address, not a host name with buckets under it.
    s3 = session.client("s3", config=botocore.config.Config(
        s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}))
    steps = []
    for step in plan:
        res = {"op": step["op"], "key": step.get("key")}
        try:
            res.update(run_step(session, s3, step), ok=True)
        except botocore.exceptions.ClientError as e:
            err = e.response.get("Error", {})
            res.update(ok=False, error=err.get("Code"), message=err.get("Message"),
                       status=e.response.get("ResponseMetadata", {}).get("HTTPStatusCode"))
        except (botocore.exceptions.BotoCoreError, OSError, ValueError) as e:
            res.update(ok=False, error=type(e).__name__, message=str(e)[:600])
        steps.append(res)
    print(json.dumps({"client": "boto3", "steps": steps}), flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    main(sys.argv)
