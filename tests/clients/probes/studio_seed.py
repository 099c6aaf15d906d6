# The seed notebook of a SageMaker Studio space, cell by cell, as its user
# runs it in one kernel: no profile switch, no keys in code. Which identity
# signs what is grantd's business (the lifecycle script's start-up file set
# the kernel up): the execution role for STS, SageMaker and the default
# bucket, a grant for each Access Grants prefix.
#
# Run by studio_kernel.py after the start-up file; prints one JSON line of
# what it saw, for tests/clients/test_studio_seed.py. SEED_GRANTS_BUCKET and
# SEED_PREFIX (where under each prefix this run writes) come from the test.

# %% [1] Set-up: who am I, the SageMaker session, the default bucket
import json
import os
import re

import boto3
import pandas as pd
import sagemaker
from botocore.exceptions import ClientError
from sagemaker.processing import ProcessingInput, ProcessingOutput
from sagemaker.sklearn.processing import SKLearnProcessor

grants_bucket = os.environ["SEED_GRANTS_BUCKET"]
run = os.environ["SEED_PREFIX"]
seen = {}

region = boto3.Session().region_name
identity = boto3.client("sts").get_caller_identity()
seen["arn"] = identity["Arn"]
# What sagemaker.get_execution_role() works out from that ARN. (It asks STS
# itself, at the regional endpoint by name, and the Session asks STS the
# same way for the default bucket's account: both are given here instead.)
role = re.sub(r"^(.+)sts::(\d+):assumed-role/(.+?)/.*$", r"\1iam::\2:role/\3", identity["Arn"])
sess = sagemaker.Session(default_bucket=f"sagemaker-{region}-{identity['Account']}")
bucket = sess.default_bucket()  # creates it when missing
seen["role"], seen["bucket"] = role, bucket

# %% [2] The default bucket: write, read back
s3 = boto3.client("s3")
s3.put_object(Bucket=bucket, Key=f"{run}/input/hello.txt", Body=b"hello from the seed")
seen["default_bucket_read"] = s3.get_object(Bucket=bucket, Key=f"{run}/input/hello.txt")["Body"].read().decode()

# %% [3] A processing job, run as the execution role (the SDK uploads the code to the default bucket)
with open("preprocess.py", "w") as f:
    f.write("print('preprocessing')\n")
processor = SKLearnProcessor(framework_version="1.2-1", role=role, instance_type="ml.m5.xlarge",
                             instance_count=1, base_job_name="grantd-seed", sagemaker_session=sess)
processor.run(code="preprocess.py",
              inputs=[ProcessingInput(source=f"s3://{bucket}/{run}/input/", destination="/opt/ml/processing/input")],
              outputs=[ProcessingOutput(source="/opt/ml/processing/output",
                                        destination=f"s3://{bucket}/{run}/output/")],
              wait=False, logs=False)
job = processor.latest_job.describe()
seen["job"] = {k: job[k] for k in ("ProcessingJobName", "RoleArn", "ProcessingJobStatus")}
seen["job_code"] = [i["S3Input"]["S3Uri"] for i in job["ProcessingInputs"] if i["InputName"] == "code"]

# %% [4] pandas reads the training data, through UserA's grant
df = pd.read_csv(f"s3://{grants_bucket}/UserA/output/train/part-00000")
seen["rows"], seen["columns"] = len(df), list(df.columns)

# %% [5] A write under Product/, through its grant
sample = df.head(5)
sample.to_csv(f"s3://{grants_bucket}/Product/{run}/sample.csv", index=False)
seen["product_csv"] = sample.to_csv(index=False)

# %% [6] UserB/ is not ours: S3 refuses it
for op, call in [("get", lambda: s3.get_object(Bucket=grants_bucket, Key=f"UserB/{run}/secret.csv")),
                 ("put", lambda: s3.put_object(Bucket=grants_bucket, Key=f"UserB/{run}/mine.txt", Body=b"x"))]:
    try:
        call()
        seen[f"userb_{op}"] = "allowed"
    except ClientError as e:
        seen[f"userb_{op}"] = e.response["Error"]["Code"]

print(json.dumps(seen))
