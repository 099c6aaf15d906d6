#!/usr/bin/env bash
# SageMaker Processing (or any container) entrypoint wrapper: start grantd with
# the container's own identity, wait until it is ready, give the job the client
# environment, and exec the job. Every instance of a multi-instance job runs
# its own container, hence its own grantd.
#
#   ContainerEntrypoint: ["/opt/grantd/processing-entrypoint.sh"]
#   ContainerArguments:  ["python3", "/opt/ml/processing/code/job.py"]
#
# Environment (all optional):
#   GRANTD_BIN             the binary (default: grantd on PATH)
#   GRANTD_CONFIG          TOML with the profiles (see README)
#   GRANTD_CLIENT_PROFILE  profile the job uses (default: the daemon's default profile)
#   GRANTD_READY_TIMEOUT   seconds to wait for readiness (default 60)
#   GRANTD_RUN_DIR         token, address and log files (default /tmp/grantd-run)
# Any other GRANTD_* variable configures the daemon as for `grantd serve`.
set -euo pipefail

bin=${GRANTD_BIN:-grantd}
run=${GRANTD_RUN_DIR:-/tmp/grantd-run}
mkdir -p "$run" && chmod 700 "$run"
export GRANTD_TOKEN_FILE=${GRANTD_TOKEN_FILE:-$run/token}
export GRANTD_ADDR_FILE=${GRANTD_ADDR_FILE:-$run/addr}
export GRANTD_LISTEN=${GRANTD_LISTEN:-127.0.0.1:7911}
rm -f "$GRANTD_ADDR_FILE"

# The daemon keeps AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: it is its own identity.
"$bin" serve >>"$run/grantd.log" 2>&1 &
grantd_pid=$!
echo "$grantd_pid" >"$run/grantd.pid"

if ! "$bin" ready --wait "${GRANTD_READY_TIMEOUT:-60}"; then
  echo "processing-entrypoint: grantd did not become ready; last log lines:" >&2
  tail -n 20 "$run/grantd.log" >&2 || true
  exit 69
fi

# FULL_URI, token file and value (Java v1 reads only the value), and no RELATIVE_URI.
eval "$("$bin" env ${GRANTD_CLIENT_PROFILE:+--profile "$GRANTD_CLIENT_PROFILE"})"
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}"
# Static keys come before the container provider in every SDK chain: they are
# the daemon's, not the job's.
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN GRANTD_CONFIG
exec "$@"
