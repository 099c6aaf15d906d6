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
#   GRANTD_RUN_DIR         token, address and log files (default: a new private
#                          directory made with mktemp under ${TMPDIR:-/tmp}); an
#                          existing one must be ours and not group/world-writable
# Any other GRANTD_* variable configures the daemon as for `grantd serve`.
#
# Fails closed: any problem before the job starts stops the container with a
# non-zero exit and a message on stderr (64 bad input, 69 daemon unavailable,
# 70 client environment not as expected). The job never runs with the
# execution role's AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or the daemon's own
# keys, which every SDK would prefer over grantd.
set -euo pipefail

me=processing-entrypoint
die() {
  local code=$1
  shift
  echo "$me: $*" >&2
  exit "$code"
}

(($# > 0)) || die 64 "no job given: pass the job's command as arguments"
bin=${GRANTD_BIN:-grantd}
command -v "$bin" >/dev/null || die 64 "grantd binary not found: $bin"
[[ ${GRANTD_READY_TIMEOUT:-60} =~ ^[0-9]+$ ]] ||
  die 64 "GRANTD_READY_TIMEOUT is not a number of seconds: ${GRANTD_READY_TIMEOUT}"
ready_timeout=${GRANTD_READY_TIMEOUT:-60}

# The token and address files live in a directory only we can write: another
# user who could plant an address file there would receive the job's token.
if [[ -n ${GRANTD_RUN_DIR:-} ]]; then
  run=$GRANTD_RUN_DIR
  [[ -e $run || -L $run ]] || { mkdir -p -- "$(dirname -- "$run")" && mkdir -m 700 -- "$run"; } ||
    die 64 "cannot create GRANTD_RUN_DIR $run"
  [[ -d $run && ! -L $run && -O $run ]] ||
    die 64 "GRANTD_RUN_DIR $run is not a directory of our own (uid $(id -u)); refusing it"
  # Others may have planted files in a directory they could write.
  ((!(8#$(stat -c %a -- "$run") & 8#022))) ||
    die 64 "GRANTD_RUN_DIR $run is group- or world-writable; refusing it"
  chmod 700 -- "$run"
else
  run=$(mktemp -d "${TMPDIR:-/tmp}/grantd-run.XXXXXXXX") ||
    die 64 "cannot create a private run directory under ${TMPDIR:-/tmp}"
fi
export GRANTD_TOKEN_FILE=${GRANTD_TOKEN_FILE:-$run/token}
export GRANTD_ADDR_FILE=${GRANTD_ADDR_FILE:-$run/addr}
export GRANTD_LISTEN=${GRANTD_LISTEN:-127.0.0.1:7911}
# No daemon of ours runs yet: an address file here is a leftover.
rm -f -- "$GRANTD_ADDR_FILE"

# The daemon keeps AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: it is its own identity.
"$bin" serve </dev/null >>"$run/grantd.log" 2>&1 &
grantd_pid=$!
echo "$grantd_pid" >"$run/grantd.pid"
# Until the job is exec'd, a failure also stops the daemon: nothing is left behind.
trap 'kill "$grantd_pid" 2>/dev/null || true' EXIT

not_ready() {
  echo "$me: grantd did not become ready: $*; last log lines:" >&2
  tail -n 20 "$run/grantd.log" >&2 || true
  exit 69
}

# Wait for OUR daemon's address file before asking for readiness: if the port
# is taken (another daemon, or another user squatting it), `ready` would
# otherwise find whoever answers there and the job would send it the token.
for ((waited = 0; ; waited++)); do
  [[ -s $GRANTD_ADDR_FILE ]] && break
  kill -0 "$grantd_pid" 2>/dev/null || not_ready "it exited"
  ((waited < ready_timeout * 10)) || not_ready "no address file after ${ready_timeout} s"
  sleep 0.1
done
"$bin" ready --wait "$ready_timeout" || not_ready "no 200 from /readyz"
kill -0 "$grantd_pid" 2>/dev/null || not_ready "it exited"

# FULL_URI, token file and value (Java v1 reads only the value), and no
# RELATIVE_URI. Captured first: `eval "$(failing command)"` evaluates nothing
# and succeeds, which once ran the job with the execution role.
profile_args=() for_profile=""
if [[ -n ${GRANTD_CLIENT_PROFILE:-} ]]; then
  profile_args=(--profile "$GRANTD_CLIENT_PROFILE")
  for_profile=" for profile '$GRANTD_CLIENT_PROFILE'"
fi
client_env=$("$bin" env "${profile_args[@]}") ||
  die $? "grantd env failed$for_profile; the job does not run"
[[ $client_env == *"export AWS_CONTAINER_CREDENTIALS_FULL_URI="* ]] ||
  die 70 "grantd env printed no AWS_CONTAINER_CREDENTIALS_FULL_URI; the job does not run"
eval "$client_env"
# The daemon answers the job's route with credentials (an unknown profile or a
# denied scope stops here, not inside the job). The answer is discarded.
"$bin" creds "${profile_args[@]}" --format process >/dev/null ||
  die 70 "grantd does not vend the job's credentials$for_profile; the job does not run"

export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}"
# Everything an SDK would prefer over the container provider is the daemon's,
# not the job's: the execution role's endpoint, static keys, web identity, a
# named profile.
unset AWS_CONTAINER_CREDENTIALS_RELATIVE_URI \
  AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_SECURITY_TOKEN \
  AWS_WEB_IDENTITY_TOKEN_FILE AWS_ROLE_ARN AWS_ROLE_SESSION_NAME AWS_PROFILE \
  GRANTD_CONFIG GRANTD_TOKEN

# Verify, then hand over: from here on a failure is the job's own.
[[ -z ${AWS_CONTAINER_CREDENTIALS_RELATIVE_URI+set} && -z ${AWS_ACCESS_KEY_ID+set} ]] ||
  die 70 "the execution role's settings are still set; the job does not run"
[[ ${AWS_CONTAINER_CREDENTIALS_FULL_URI:-} == http://127.0.0.1:* ||
  ${AWS_CONTAINER_CREDENTIALS_FULL_URI:-} == "http://[::1]:"* ]] ||
  die 70 "AWS_CONTAINER_CREDENTIALS_FULL_URI is not grantd's loopback URI; the job does not run"
[[ -n ${AWS_CONTAINER_AUTHORIZATION_TOKEN:-} && -r ${AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE:-} ]] ||
  die 70 "the token is missing or unreadable; the job does not run"
trap - EXIT
exec "$@"
