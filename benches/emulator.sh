# shellcheck shell=bash
# Sourced by the benches that start a daemon (load, profile, flood,
# connections) once BIN is set: a scratch directory and the built-in
# emulator on loopback (its address in EMU), both gone at exit, and
# AGAINST_EMU, the environment a daemon pointed at it runs in. The daemon
# the caller starts goes in D_PID, so the same trap stops it; every process
# by its PID. Also the waits the scripts use while a process starts
# (wait_until, answers).
WORK=$(mktemp -d)
cleanup() { kill "${EMU_PID:-}" "${D_PID:-}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

# Waiting forks nothing, so a start can be timed to the millisecond: a nap
# is a 1 ms read that times out on a pipe nobody writes, and a request is
# bash's own /dev/tcp.
exec {NAP}<> <(:)
nap() { read -rt 0.001 -u "$NAP" || true; }

# Runs COMMAND every millisecond until it succeeds. Gives up, with exit 1 and
# the last lines of LOG, once PID has died or SECONDS have gone by.
wait_until() { # pid log seconds what command...
  local pid=$1 log=$2 deadline=$((${EPOCHREALTIME%.*} + $3)) what=$4
  shift 4
  until "$@"; do
    if ! kill -0 "$pid" 2>/dev/null || ((${EPOCHREALTIME%.*} > deadline)); then
      echo "$(basename "$0"): waited in vain for $what (its log: $(tail -n 3 "$log"))" >&2
      exit 1
    fi
    nap
  done
}

# Whether GET PATH answers 200 on a fresh connection to ADDR (at most 5 s).
answers() { # path
  local conn status=""
  { exec {conn}<>"/dev/tcp/${ADDR%:*}/${ADDR##*:}"; } 2>/dev/null || return 1
  printf 'GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$1" "$ADDR" >&"$conn"
  read -rt 5 _ status _ <&"$conn" || true
  exec {conn}>&-
  [[ $status == 200 ]]
}

"$BIN" emulate --listen 127.0.0.1:0 --addr-file "$WORK/emu.addr" 2>"$WORK/emu.log" &
EMU_PID=$!
wait_until "$EMU_PID" "$WORK/emu.log" 30 "the emulator's address file" test -s "$WORK/emu.addr"
# shellcheck disable=SC2034 # used by the script that sources this
EMU=$(cat "$WORK/emu.addr")

# `"${AGAINST_EMU[@]}" COMMAND...` runs COMMAND with the emulator as S3
# Control and STS, RoleA's demo keys as the base identity, and no ambient
# AWS setting. env execs COMMAND, so `$!` after `... &` is COMMAND's PID.
# shellcheck disable=SC2034 # used by the script that sources this
AGAINST_EMU=(env -u AWS_CONTAINER_CREDENTIALS_RELATIVE_URI -u AWS_PROFILE
  AWS_ENDPOINT_URL_S3_CONTROL="http://$EMU" AWS_ENDPOINT_URL_STS="http://$EMU" AWS_REGION=us-east-1
  AWS_ACCESS_KEY_ID=AKIAGRANTDDEMOROLEA AWS_SECRET_ACCESS_KEY=grantd-demo-secret-not-a-real-key
  AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null)
