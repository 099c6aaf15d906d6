#!/usr/bin/env bash
# SageMaker Processing (or any container) entrypoint wrapper: start grantd with
# the container's own identity, wait until it is ready, give the job the client
# environment, and run the job as a child; when the job ends, stop grantd and
# exit with the job's status (128+N when a signal N ended it). SIGTERM and
# SIGINT sent to the wrapper are passed on to the job's process group. Every
# instance of a multi-instance job runs its own container, hence its own grantd.
#
#   ContainerEntrypoint: ["/opt/grantd/processing-entrypoint.sh"]
#   ContainerArguments:  ["python3", "/opt/ml/processing/code/job.py"]
#
# Environment (all optional):
#   GRANTD_MODE            credentials (default): the job's identity is one
#                          grant's (GRANTD_CLIENT_PROFILE), and its data goes
#                          straight to S3; s3: the job keeps the container's
#                          own identity for every AWS call, and its S3 calls
#                          (s3a too, through a spark-defaults.conf in the run
#                          directory) go through grantd's S3 endpoint, a grant
#                          chosen per request
#   GRANTD_S3_LISTEN       the S3 endpoint in s3 mode (default 127.0.0.1:7913)
#   GRANTD_BIN             the binary (default: grantd on PATH)
#   GRANTD_CONFIG          TOML with the profiles (see README)
#   GRANTD_CLIENT_PROFILE  profile the job uses (default: the daemon's default profile)
#   GRANTD_READY_TIMEOUT   seconds to wait for readiness (default 60)
#   GRANTD_RUN_DIR         token, address and log files (default: a new private
#                          directory made with mktemp under ${TMPDIR:-/tmp}, and
#                          removed on exit); an existing one must be ours and not
#                          group/world-writable, and is kept
#   GRANTD_TOKEN           one token for every instance of a multi-instance job
#                          (Spark sends the driver's token to every executor);
#                          default: each daemon makes its own. See README.
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
mode=${GRANTD_MODE:-credentials}
[[ $mode == credentials || $mode == s3 ]] ||
  die 64 "GRANTD_MODE must be credentials or s3, not '$mode'"
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
  # Nothing is left behind: the token, log and pid go with it on every exit.
  made_run=$run
  trap 'rm -rf -- "$made_run"' EXIT
fi
export GRANTD_TOKEN_FILE=${GRANTD_TOKEN_FILE:-$run/token}
export GRANTD_ADDR_FILE=${GRANTD_ADDR_FILE:-$run/addr}
export GRANTD_LISTEN=${GRANTD_LISTEN:-127.0.0.1:7911}
[[ $mode == s3 ]] && export GRANTD_S3_LISTEN=${GRANTD_S3_LISTEN:-127.0.0.1:7913}
# No daemon of ours runs yet: an address file here is a leftover.
rm -f -- "$GRANTD_ADDR_FILE"

# Stops the daemon and waits for it: TERM, its drain (10 s at most), then KILL.
# shellcheck disable=SC2329 # called from the EXIT trap
stop_daemon() {
  kill -TERM "$grantd_pid" 2>/dev/null || return 0
  local waited
  # Short polls: the job's exit waits for this, and grantd stops in a few ms.
  for ((waited = 0; waited < 750; waited++)); do
    kill -0 "$grantd_pid" 2>/dev/null || break
    sleep 0.02
  done
  kill -KILL "$grantd_pid" 2>/dev/null || true
  wait "$grantd_pid" 2>/dev/null || true
}

# The daemon keeps AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: it is its own identity.
"$bin" serve </dev/null >>"$run/grantd.log" 2>&1 &
grantd_pid=$!
echo "$grantd_pid" >"$run/grantd.pid"
# Until the job starts, a failure or a signal also stops the daemon (and waits
# for it): nothing is left behind. bash runs a trap only once the command in
# the foreground returns, hence `ready` in the background and `wait`.
trap 'kill ${ready_pid:-} 2>/dev/null || true; stop_daemon; rm -rf -- "${made_run:-}"' EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

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
"$bin" ready --wait "$ready_timeout" &
ready_pid=$!
wait "$ready_pid" || not_ready "no 200 from /readyz"
ready_pid=
kill -0 "$grantd_pid" 2>/dev/null || not_ready "it exited"

# FULL_URI, token file and value (Java v1 reads only the value), and no
# RELATIVE_URI. Captured first: `eval "$(failing command)"` evaluates nothing
# and succeeds, which once ran the job with the execution role.
profile_args=() for_profile=""
if [[ $mode == s3 ]]; then
  profile_args=(--s3 --spark-conf-dir "$run/spark") for_profile=" (s3 mode)"
elif [[ -n ${GRANTD_CLIENT_PROFILE:-} ]]; then
  profile_args=(--profile "$GRANTD_CLIENT_PROFILE")
  for_profile=" for profile '$GRANTD_CLIENT_PROFILE'"
fi
client_env=$("$bin" env "${profile_args[@]}") ||
  die $? "grantd env failed$for_profile; the job does not run"
[[ $client_env == *"export AWS_CONTAINER_CREDENTIALS_FULL_URI="* ]] ||
  die 70 "grantd env printed no AWS_CONTAINER_CREDENTIALS_FULL_URI; the job does not run"
[[ $mode == credentials || $client_env == *"export AWS_ENDPOINT_URL_S3="* ]] ||
  die 70 "grantd env --s3 printed no AWS_ENDPOINT_URL_S3; the job does not run"
eval "$client_env"
# The daemon answers the job's route with credentials (an unknown profile or a
# denied scope stops here, not inside the job). The answer is discarded. In
# s3 mode the route is the container's own identity, which `ready` checked.
if [[ $mode == credentials ]]; then
  "$bin" creds "${profile_args[@]}" --format process >/dev/null ||
    die 70 "grantd does not vend the job's credentials$for_profile; the job does not run"
fi

# grantd's own host too, when it listens on another loopback address than 127.0.0.1.
uri_host=${AWS_CONTAINER_CREDENTIALS_FULL_URI#http://}
uri_host=${uri_host%%/*}
export NO_PROXY="127.0.0.1,localhost,${uri_host%:*}${NO_PROXY:+,$NO_PROXY}"
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
[[ ${AWS_CONTAINER_CREDENTIALS_FULL_URI:-} =~ ^http://(127\.[0-9]+\.[0-9]+\.[0-9]+|\[::1\]):[0-9]+/ ]] ||
  die 70 "AWS_CONTAINER_CREDENTIALS_FULL_URI is not grantd's loopback URI; the job does not run"
[[ -n ${AWS_CONTAINER_AUTHORIZATION_TOKEN:-} && -r ${AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE:-} ]] ||
  die 70 "the token is missing or unreadable; the job does not run"

# Our daemon must still be our own live child (not gone, not a zombie): if
# it died after `grantd creds`, another user may hold its port by now, and
# the job would send the token there.
live_child() {
  local stat state ppid
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  read -r state ppid _ <<<"${stat##*) }"
  [[ $state != [ZX] && $ppid == "$$" ]]
}
live_child "$grantd_pid" || die 69 "grantd (pid $grantd_pid) died before the job started; the job does not run"

# The job runs as our child, not in our place (`exec`): when it ends, whether
# it succeeds, fails or is killed, the daemon is stopped here (a wrapper that
# is not PID 1 used to leave it running). `set -m` puts the job in a process
# group of its own with SIGINT and SIGQUIT at their defaults: without job
# control, bash starts a background command with both ignored, and Python
# then never installs its KeyboardInterrupt handler.
set -m
"$@" &
job_pid=$!
set +m
# To the job's group, as a terminal would send them (dumb-init does the same);
# to the job alone if it has no group of its own.
# shellcheck disable=SC2329 # called from the TERM and INT traps
forward() {
  kill -s "$1" -- "-$job_pid" 2>/dev/null || kill -s "$1" -- "$job_pid" 2>/dev/null || true
}
trap 'forward TERM' TERM
trap 'forward INT' INT
# `wait` also returns (128+N) when a trapped signal arrives while the job
# runs on; once the job is gone, `wait` gives the status bash kept for it
# (127 when this bash keeps none: then the last answer was the job's).
status=
while [[ -z $status ]]; do
  wait "$job_pid" && got=0 || got=$?
  kill -0 "$job_pid" 2>/dev/null && continue
  wait "$job_pid" && status=0 || status=$?
  ((status != 127)) || status=$got
done
exit "$status"
