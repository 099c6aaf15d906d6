"""Notebook data stack probe: pandas (s3fs), pyarrow, polars on S3, unchanged.

Runs in .cache/clients/data-venv. Credentials and the S3 endpoint come from
the environment only, as a notebook kernel's would (FULL_URI + token, or
AWS_EC2_METADATA_SERVICE_ENDPOINT, or an ~/.aws/config profile); nothing here
passes a key, a token or an endpoint to a library.

Prints one JSON line: the data read back (CSV text, so the test compares it
with what it gave), and each failure as "ExceptionType: message". Never
prints a secret or the token.

    python data_probe.py pandas|pyarrow|polars INPUT.csv PREFIX DENIED_KEY
        write INPUT under PREFIX and read it back with that library's S3 path,
        then try to read DENIED_KEY and write next to it (S3 should refuse)
    python data_probe.py notebook INPUT.csv PREFIX
        the README's "Notebooks" cells for the default profile
    python data_probe.py second-profile INPUT.csv PREFIX PROFILE
        the README's cells for a second profile of ~/.aws/config

Bucket: PROBE_BUCKET. PROBE_PYARROW_ENDPOINT_OVERRIDE=URL: the pyarrow case
builds S3FileSystem(endpoint_override=URL) itself instead of from_uri.
PROBE_WITHOUT_BOTO3=1 makes `import boto3` fail, as in
a venv that has polars but not boto3: polars then uses its own Rust chain
(object_store) instead of boto3's.
"""

import json
import os
import sys

if os.environ.get("PROBE_WITHOUT_BOTO3") == "1":
    sys.modules["boto3"] = None  # ImportError on import, which polars catches

BUCKET = os.environ.get("PROBE_BUCKET", "")


def failure(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"[:600]


def attempt(result: dict, name: str, fn):
    """Run one step; its value or its failure goes into result[name]."""
    try:
        result[name] = fn()
    except Exception as e:  # the test decides which failures are expected
        result[name] = None
        result.setdefault("errors", {})[name] = failure(e)


def versions() -> dict:
    import importlib.metadata as md

    names = ["pandas", "s3fs", "aiobotocore", "botocore", "pyarrow", "polars"]
    return {n: md.version(n) for n in names}


def pandas_case(src: str, prefix: str, denied: str) -> dict:
    import pandas as pd

    df = pd.read_csv(src)
    url = f"s3://{BUCKET}/{prefix}"
    out = {}

    def csv_round_trip():
        df.to_csv(url + "pandas.csv", index=False)  # s3fs
        return pd.read_csv(url + "pandas.csv").to_csv(index=False)

    def parquet_round_trip():
        # pandas hands an s3:// URL without storage_options to pyarrow's own S3
        # (the AWS SDK for C++), not to s3fs.
        df.to_parquet(url + "pandas.parquet", index=False)
        return pd.read_parquet(url + "pandas.parquet").to_csv(index=False)

    attempt(out, "csv", csv_round_trip)
    attempt(out, "parquet", parquet_round_trip)
    denied_dir = denied.rsplit("/", 1)[0]
    attempt(out, "denied_read", lambda: pd.read_csv(f"s3://{BUCKET}/{denied}").to_csv(index=False))
    attempt(out, "denied_write", lambda: df.to_csv(f"s3://{BUCKET}/{denied_dir}/intrusion.csv", index=False))
    return out


def pyarrow_case(src: str, prefix: str, denied: str) -> dict:
    import pyarrow.dataset as ds
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq

    data = open(src, "rb").read()
    # from_uri reads AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL; S3FileSystem()
    # built directly does not (README, Per client): PROBE_PYARROW_ENDPOINT_OVERRIDE
    # builds it directly, with that endpoint_override, as a program would in code.
    override = os.environ.get("PROBE_PYARROW_ENDPOINT_OVERRIDE")
    if override:
        fs = pafs.S3FileSystem(endpoint_override=override)
        dataset_source = {"source": f"{BUCKET}/{prefix}dataset/", "filesystem": fs}
    else:
        fs, _ = pafs.FileSystem.from_uri(f"s3://{BUCKET}/{prefix}")
        dataset_source = {"source": f"s3://{BUCKET}/{prefix}dataset/"}
    out = {}

    def stream_round_trip():
        with fs.open_output_stream(f"{BUCKET}/{prefix}pyarrow.csv") as f:
            f.write(data)
        with fs.open_input_stream(f"{BUCKET}/{prefix}pyarrow.csv") as f:
            return f.read().decode()

    def dataset_over_prefix():
        table = ds.dataset(src, format="csv").to_table()
        half = table.num_rows // 2
        for i, part in enumerate([table.slice(0, half), table.slice(half)]):
            pq.write_table(part, f"{BUCKET}/{prefix}dataset/part-{i}.parquet", filesystem=fs)
        back = ds.dataset(**dataset_source, format="parquet").to_table()
        return back.to_pandas().sort_values("id").to_csv(index=False)

    def denied_write():
        with fs.open_output_stream(f"{BUCKET}/{denied.rsplit('/', 1)[0]}/intrusion.csv") as f:
            f.write(data)

    def denied_read():
        with fs.open_input_stream(f"{BUCKET}/{denied}") as f:
            return f.read().decode()

    attempt(out, "csv", stream_round_trip)
    attempt(out, "parquet", dataset_over_prefix)
    attempt(out, "denied_read", denied_read)
    attempt(out, "denied_write", denied_write)
    return out


def polars_case(src: str, prefix: str, denied: str) -> dict:
    import polars as pl

    df = pl.read_csv(src)
    url = f"s3://{BUCKET}/{prefix}"
    out = {}

    def csv_round_trip():
        df.write_csv(url + "polars.csv")
        return pl.read_csv(url + "polars.csv").write_csv()

    def scan_parquet_glob():
        half = df.height // 2
        df.head(half).write_parquet(url + "polars/part-0.parquet")
        df.tail(df.height - half).write_parquet(url + "polars/part-1.parquet")
        return pl.scan_parquet(url + "polars/*.parquet").collect().sort("id").write_csv()

    attempt(out, "csv", csv_round_trip)
    if out["csv"] is None and "403" not in out["errors"]["csv"]:
        # No credentials: each further call would only retry the same
        # endpoint for some 15 s before failing the same way.
        return out
    attempt(out, "parquet", scan_parquet_glob)
    attempt(out, "denied_read", lambda: pl.read_csv(f"s3://{BUCKET}/{denied}").write_csv())
    attempt(out, "denied_write", lambda: df.write_csv(f"s3://{BUCKET}/{denied.rsplit('/', 1)[0]}/intrusion.csv"))
    return out


def notebook_case(src: str, prefix: str) -> dict:
    """README "Notebooks", default profile: the cells as printed there."""
    import pandas as pd
    import polars as pl
    import pyarrow.dataset as ds

    base = f"s3://{BUCKET}/{prefix}"
    out = {}
    pd.read_csv(src).to_csv(f"{base}input.csv", index=False)  # the data the cells find there

    def cells():
        df = pd.read_csv(f"{base}input.csv")
        df.to_parquet(f"{base}output/part-0.parquet", index=False)
        table = ds.dataset(f"{base}output/", format="parquet").to_table()
        lazy = pl.scan_parquet(f"{base}output/*.parquet")
        return {"pandas": df.to_csv(index=False),
                "pyarrow": table.to_pandas().to_csv(index=False),
                "polars": lazy.collect().write_csv()}

    attempt(out, "cells", cells)
    return out


def second_profile_case(src: str, prefix: str, profile: str) -> dict:
    """README "Notebooks", a second profile next to the default one: read only,
    as the Studio example's second profile is READ."""
    import io

    import boto3
    import pandas as pd
    import polars as pl
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq
    import s3fs
    from pyarrow.fs import FSSpecHandler, PyFileSystem

    out = {}

    def setup():  # the data the cells find there, put with the same profile
        s3 = boto3.Session(profile_name=profile).client("s3")
        s3.put_object(Bucket=BUCKET, Key=f"{prefix}input.csv", Body=open(src, "rb").read())
        buf = io.BytesIO()
        pq.write_table(ds.dataset(src, format="csv").to_table(), buf)
        s3.put_object(Bucket=BUCKET, Key=f"{prefix}output/part-0.parquet", Body=buf.getvalue())

    def cells():
        bucket, P = BUCKET, profile
        session = boto3.Session(profile_name=P)
        listing = session.client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix)
        opts = {"profile": P}
        df = pd.read_csv(f"s3://{bucket}/{prefix}input.csv", storage_options=opts)
        fs = PyFileSystem(FSSpecHandler(s3fs.S3FileSystem(profile=P)))
        table = ds.dataset(f"{bucket}/{prefix}output/", filesystem=fs, format="parquet").to_table()
        lazy = pl.scan_parquet(f"s3://{bucket}/{prefix}output/*.parquet", storage_options=opts)
        return {"boto3_method": session.get_credentials().method,
                "boto3_key_id": session.get_credentials().access_key,
                "keys": [o["Key"] for o in listing.get("Contents", [])],
                "pandas": df.to_csv(index=False),
                "pyarrow": table.to_pandas().to_csv(index=False),
                "polars": lazy.collect().write_csv()}

    attempt(out, "setup", setup)
    attempt(out, "cells", cells)
    # The default profile is still the one without options: it may not read here.
    attempt(out, "default_profile", lambda: pd.read_csv(f"s3://{BUCKET}/{prefix}input.csv").to_csv(index=False))
    return out


def main(argv):
    lib, src, prefix = argv[1], argv[2], argv[3]
    cases = {"pandas": pandas_case, "pyarrow": pyarrow_case, "polars": polars_case,
             "notebook": notebook_case, "second-profile": second_profile_case}
    if lib not in cases:
        print(json.dumps({"error": "Usage", "message": f"unknown case {lib}"}))
        sys.exit(2)
    result = {"client": lib, "versions": versions()}
    result.update(cases[lib](src, prefix, *argv[4:]))
    print(json.dumps(result), flush=True)
    sys.exit(1 if result.get("errors") else 0)


if __name__ == "__main__":
    main(sys.argv)
