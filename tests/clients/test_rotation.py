"""Credentials rotate under running clients without a failed request.

The emulator is told to issue short lifetimes (POST /_emulator/settings). What
the daemon does with them (measured): it never serves credentials within 60 s
of expiry and renews once half the lifetime has passed but no later than 65 s
before expiry, so a lifetime of L seconds (L > 60) rotates every max(1, L - 65)
seconds while serving each key for L - 60 seconds; L <= 60 is never servable
(503 UpstreamUnavailable, ExpiringCredentials). L = 70 gives a new key every
~5 s with a 5 s margin, so several rotations fit in half a minute.

botocore and the Java SDK v1 re-fetch on every call when fewer than 15 minutes
remain, so each of their S3 requests sees the daemon's current key.
"""

from __future__ import annotations

import calendar
import subprocess
import time

import pytest

from conftest import (
    BUCKET, PROBES, PROFILES, VENV_BIN, Daemon, Emulator, ProbeResult, abalone_csv, run_probe, run_spark_job,
    spark_defaults,
)

LIFETIME = 70
RUN_SECONDS = 25

pytestmark = pytest.mark.rotation


@pytest.fixture(scope="module")
def rotating(tmp_path_factory, moto):
    workdir = tmp_path_factory.mktemp("rotation")
    emulator = Emulator(workdir / "emulator", grants=moto.grants_toml())
    emulator.settings(credential_lifetime_seconds=LIFETIME)
    daemon = Daemon(workdir / "grantd", emulator)
    yield moto, emulator, daemon
    daemon.stop()
    emulator.stop()


def test_daemon_rotates_short_lived_credentials_before_the_serve_floor(rotating):
    _, _, daemon = rotating
    first = daemon.creds_json("--profile", "usera")
    expires_in = calendar.timegm(time.strptime(first["Expiration"], "%Y-%m-%dT%H:%M:%SZ")) - time.time()
    assert 60 < expires_in <= LIFETIME + 1, first["Expiration"]

    time.sleep(LIFETIME - 65 + 2)
    second = daemon.creds_json("--profile", "usera")

    assert second["AccessKeyId"] != first["AccessKeyId"]


@pytest.mark.spark
def test_boto3_loop_and_spark_job_keep_working_across_rotations(rotating, tmp_path):
    moto, emulator, daemon = rotating
    env = daemon.client_env("--profile", "usera", token="both", AWS_ENDPOINT_URL_S3=moto.url, PROBE_BUCKET=BUCKET)
    assert run_probe("boto3", env, "put", "UserA/input/abalone.csv", abalone_csv(rows=50)).returncode == 0
    assert run_probe("boto3", env, "put", "UserA/output/", "").returncode == 0
    conf = spark_defaults(tmp_path / "spark-conf", env, moto.url)
    calls_before = len(emulator.data_access_calls(PROFILES["usera"]))

    loop = subprocess.Popen(
        [str(VENV_BIN / "python"), str(PROBES / "boto3_probe.py"), "loop", str(RUN_SECONDS + 10), "UserA/loop/"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    job = run_spark_job(env, conf, "loop", BUCKET, str(RUN_SECONDS))
    out, err = loop.communicate(timeout=120)
    boto = ProbeResult(loop.args, subprocess.CompletedProcess(loop.args, loop.returncode, out, err))
    rotations = len(emulator.data_access_calls(PROFILES["usera"])) - calls_before

    print(f"rotations={rotations} boto3: requests={boto.get('requests')} keys={boto.get('key_id_suffixes')}"
          f" spark: iterations={job.get('iterations')} elapsed={job.get('elapsed_s')}s")
    assert boto.returncode == 0, boto
    assert boto["failures"] == [], boto
    assert boto["key_ids_seen"] >= 4, boto  # three rotations or more, seen by boto3 itself
    assert job.returncode == 0, job.stderr[-4000:]
    assert job["failures"] == [] and job["iterations"] >= 2, job.json
    assert rotations >= 3, rotations
