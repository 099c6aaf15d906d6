"""Starts the two-instance preprocessing job with grantd (SageMaker Python SDK v2).

Not runnable here (it needs an AWS account, the image built from the
Dockerfile beside this file and pushed to ECR, and an execution role allowed
s3:GetDataAccess). Usage:

    python run_job.py IMAGE_URI ROLE_ARN
"""

import secrets
import sys

from sagemaker.spark.processing import PySparkProcessor

BUCKET = "blog-access-grants-111122223333-us-east-1"

SPARK_CONFIGURATION = [
    {
        # s3a asks the container credentials provider (AWS_CONTAINER_CREDENTIALS_FULL_URI
        # + AWS_CONTAINER_AUTHORIZATION_TOKEN, i.e. grantd) on the driver and executors.
        "Classification": "spark-defaults",
        "Properties": {
            "spark.hadoop.fs.s3a.aws.credentials.provider": (
                "org.apache.hadoop.fs.s3a.auth.IAMInstanceCredentialsProvider"
            ),
        },
    },
    {
        # YARN containers (the executors) inherit these from the NodeManager,
        # which each instance's smspark-submit started with grantd's client
        # environment: every executor asks its own instance's grantd. The
        # image's default list carries AWS_CONTAINER_CREDENTIALS_RELATIVE_URI
        # (the execution role) instead; it must not reach the executors.
        "Classification": "yarn-site",
        "Properties": {
            "yarn.nodemanager.env-whitelist": ",".join(
                [
                    "JAVA_HOME",
                    "HADOOP_COMMON_HOME",
                    "HADOOP_HDFS_HOME",
                    "HADOOP_CONF_DIR",
                    "YARN_HOME",
                    "AWS_REGION",
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
                ]
            ),
        },
    },
]


def main(image_uri: str, role: str) -> None:
    processor = PySparkProcessor(
        base_job_name="grantd-abalone",
        image_uri=image_uri,
        role=role,
        instance_count=2,
        instance_type="ml.m5.xlarge",
        max_runtime_in_seconds=1200,
        env={
            # One token for both instances' daemons, new for every run. It is
            # visible to whoever may DescribeProcessingJob: it keeps out
            # what cannot read the job's description (e.g. a request forged
            # through another program on the instance); other Unix users are
            # kept out by grantd's peer check, not by the token.
            "GRANTD_TOKEN": secrets.token_urlsafe(32),
            "GRANTD_CLIENT_PROFILE": "usera",
        },
    )
    processor.run(
        submit_app="preprocess.py",
        arguments=[
            "--s3_input_bucket", BUCKET,
            "--s3_input_key_prefix", "UserA/input",
            "--s3_output_bucket", BUCKET,
            "--s3_output_key_prefix", "UserA/output/abalone",
        ],
        configuration=SPARK_CONFIGURATION,
    )


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
