// JavaScript SDK v3 probe: resolve credentials with fromNodeProviderChain()
// (the default chain every v3 client uses), configured by environment only.
// Prints one JSON line; never the secret key or the session token.
//
//   NODE_PATH=.cache/clients/node/node_modules node js_probe.cjs
//   ... node js_probe.cjs list PREFIX    # then S3 ListObjectsV2 on PROBE_BUCKET
//   ... node js_probe.cjs put KEY BODY   # S3 PutObject of BODY (UTF-8)
//   ... node js_probe.cjs get KEY        # S3 GetObject, prints the body
"use strict";

const { fromNodeProviderChain } = require("@aws-sdk/credential-providers");

function out(obj, code) {
  process.stdout.write(JSON.stringify(obj) + "\n");
  process.exitCode = code;
}

async function main() {
  const info = { client: "js-v3" };
  let creds;
  try {
    creds = await fromNodeProviderChain()();
  } catch (e) {
    out({ ...info, error: e.name || "Error", message: String(e.message || e) }, 1);
    return;
  }
  info.access_key_id = creds.accessKeyId;
  info.expiration = creds.expiration
    ? creds.expiration.toISOString().replace(/\.\d{3}Z$/, "Z")
    : null;
  info.has_token = Boolean(creds.sessionToken);
  info.credential_provider = creds.$source ? Object.keys(creds.$source) : undefined;

  const [op, arg, body] = process.argv.slice(2);
  if (op === "list" || op === "put" || op === "get") {
    const {
      S3Client, ListObjectsV2Command, PutObjectCommand, GetObjectCommand,
    } = require("@aws-sdk/client-s3");
    // Endpoint from AWS_ENDPOINT_URL_S3, region from AWS_REGION: both standard.
    const s3 = new S3Client({ forcePathStyle: true });
    const Bucket = process.env.PROBE_BUCKET;
    try {
      if (op === "list") {
        const r = await s3.send(new ListObjectsV2Command({ Bucket, Prefix: arg }));
        info.keys = (r.Contents || []).map((o) => o.Key);
      } else if (op === "put") {
        const r = await s3.send(new PutObjectCommand({ Bucket, Key: arg, Body: body }));
        info.etag = r.ETag;
      } else {
        const r = await s3.send(new GetObjectCommand({ Bucket, Key: arg }));
        info.body = await r.Body.transformToString();
      }
    } catch (e) {
      const status = e.$metadata ? e.$metadata.httpStatusCode : undefined;
      out({ ...info, error: e.name, message: String(e.message), status }, 1);
      return;
    }
  }
  out(info, 0);
}

main();
