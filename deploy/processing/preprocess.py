"""The AWS blog's abalone preprocessing, with no GetDataAccess and no keys.

Spark's s3a reads credentials from grantd through the container provider on
the driver and on every executor (see spark_configuration in run_job.py);
nothing here knows about credentials at all.
"""

import argparse

from pyspark.ml import Pipeline
from pyspark.ml.feature import OneHotEncoder, StringIndexer, VectorAssembler
from pyspark.sql import SparkSession
from pyspark.sql.types import DoubleType, StringType, StructField, StructType

COLUMNS = [
    ("sex", StringType()),
    ("length", DoubleType()),
    ("diameter", DoubleType()),
    ("height", DoubleType()),
    ("whole_weight", DoubleType()),
    ("shucked_weight", DoubleType()),
    ("viscera_weight", DoubleType()),
    ("shell_weight", DoubleType()),
    ("rings", DoubleType()),
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--s3_input_bucket", required=True)
    parser.add_argument("--s3_input_key_prefix", required=True)
    parser.add_argument("--s3_output_bucket", required=True)
    parser.add_argument("--s3_output_key_prefix", required=True)
    args = parser.parse_args()

    spark = SparkSession.builder.appName("PySparkAbalone").getOrCreate()
    schema = StructType([StructField(name, kind, True) for name, kind in COLUMNS])
    total = spark.read.csv(
        f"s3a://{args.s3_input_bucket}/{args.s3_input_key_prefix}/abalone.csv",
        header=False,
        schema=schema,
    )

    indexer = StringIndexer(inputCol="sex", outputCol="indexed_sex")
    encoder = OneHotEncoder(inputCol="indexed_sex", outputCol="sex_vec")
    assembler = VectorAssembler(
        inputCols=["sex_vec"] + [name for name, _ in COLUMNS[1:-1]],
        outputCol="features",
    )
    model = Pipeline(stages=[indexer, encoder, assembler]).fit(total)
    transformed = model.transform(total).select("rings", "features")

    # One CSV line per row: the label, then the features.
    def to_csv(row):
        return ",".join(str(v) for v in [row.rings] + row.features.toArray().tolist())

    train, validation = transformed.randomSplit([0.8, 0.2], seed=7)
    out = f"s3a://{args.s3_output_bucket}/{args.s3_output_key_prefix}"
    train.rdd.map(to_csv).saveAsTextFile(f"{out}/train")
    validation.rdd.map(to_csv).saveAsTextFile(f"{out}/validation")
    spark.stop()


if __name__ == "__main__":
    main()
