"""A PySpark job with no AWS code at all: credentials reach s3a only through
Spark configuration (SPARK_CONF_DIR/spark-defaults.conf) and the environment.

    python spark_job.py abalone BUCKET           # split UserA/input/ into train/validation
    python spark_job.py loop BUCKET SECONDS      # read + write repeatedly (rotation test)

Prints one JSON line with what it did; never a credential.
"""

import json
import sys
import time


def short(e: BaseException) -> str:
    text = str(e)
    for line in text.splitlines():
        if "Exception" in line or "Error" in line:
            return line.strip()[:400]
    return text[:400]


def main(argv):
    from pyspark.sql import SparkSession

    mode, bucket = argv[1], argv[2]
    t0 = time.monotonic()
    spark = SparkSession.builder.appName(f"grantd-client-{mode}").getOrCreate()
    base = f"s3a://{bucket}/UserA"
    out = {"client": "spark", "mode": mode, "startup_s": round(time.monotonic() - t0, 1)}
    try:
        if mode == "abalone":
            df = spark.read.csv(f"{base}/input/", header=True, inferSchema=True)
            out["rows"] = df.count()
            train, validation = df.randomSplit([0.8, 0.2], seed=42)
            train.write.mode("overwrite").option("header", True).csv(f"{base}/output/train")
            validation.write.mode("overwrite").option("header", True).csv(f"{base}/output/validation")
            out["train"] = spark.read.csv(f"{base}/output/train", header=True).count()
            out["validation"] = spark.read.csv(f"{base}/output/validation", header=True).count()
            out["columns"] = df.columns
            try:
                spark.read.csv(f"s3a://{bucket}/UserB/", header=True).count()
                out["userb"] = "READ SUCCEEDED"
            except Exception as e:  # expected: S3 refuses RoleA's UserA keys
                out["userb"] = short(e)
        elif mode == "loop":
            # At least two iterations, so a job spans a rotation even when a
            # loaded machine makes one take longer than the whole window;
            # never more than a minute past it.
            deadline = time.monotonic() + float(argv[3])
            out["iterations"], out["failures"] = 0, []
            while time.monotonic() < deadline or (out["iterations"] < 2 and time.monotonic() < deadline + 60):
                i = out["iterations"]
                try:
                    df = spark.read.csv(f"{base}/input/", header=True)
                    n = df.count()
                    df.limit(5).write.mode("overwrite").csv(f"{base}/output/loop/iter-{i % 3}")
                    if n <= 0:
                        out["failures"].append(f"iteration {i}: read {n} rows")
                except Exception as e:
                    out["failures"].append(f"iteration {i}: {short(e)}")
                out["iterations"] += 1
        else:
            raise SystemExit(f"unknown mode {mode}")
    finally:
        out["elapsed_s"] = round(time.monotonic() - t0, 1)
        print(json.dumps(out), flush=True)
        spark.stop()
    return 1 if out.get("failures") else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
