#!/usr/bin/env bash
# Two grantd binaries side by side, on loopback only: connections per second
# with the peer lookup (wrk, 2 threads, 16 connections, a new connection per
# request to /healthz), in alternating runs so load from elsewhere on the
# machine weighs on both; then the time of one `grantd creds` and one
# `grantd check` of each (the clients' listener check, the config file's
# checks). Prints one line per figure. Bounded: ROUNDS x 2 x 3 s of wrk, then
# 400 short client runs per binary.
#
#   benches/connections.sh A_BIN B_BIN [netlink|no-netlink] [ROUNDS]   # defaults: netlink, 6
#
# no-netlink runs both daemons under benches/no_netlink.py (a seccomp filter
# that refuses netlink sockets), so each finds peers in /proc/net/tcp, whose
# cost grows with the socket table (its size at the start is printed).
# Needs wrk and bc.
set -euo pipefail
cd "$(dirname "$0")/.."
(($# >= 2)) || { echo "usage: benches/connections.sh A_BIN B_BIN [netlink|no-netlink] [ROUNDS]" >&2; exit 64; }
A=$1 B=$2 MODE=${3:-netlink} ROUNDS=${4:-6}
BIN=$B
# shellcheck source=benches/emulator.sh
source benches/emulator.sh
wrap=()
case $MODE in
  netlink) ;;
  no-netlink) wrap=(python3 benches/no_netlink.py) ;;
  *) echo "benches/connections.sh: netlink or no-netlink, not $MODE" >&2; exit 64 ;;
esac
printf '[profiles.usera]\ntarget = "s3://blog-access-grants-111122223333-us-east-1/UserA/*"\npermission = "READWRITE"\n' \
  >"$WORK/grantd.toml"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; cleanup' EXIT
for side in a b; do
  bin=$A
  [[ $side == b ]] && bin=$B
  mkdir -m 700 "$WORK/$side"
  "${AGAINST_EMU[@]}" "${wrap[@]}" "$bin" serve --config "$WORK/grantd.toml" --listen 127.0.0.1:0 --addr-file "$WORK/$side/addr" \
    --token-file "$WORK/$side/token" --log-level warn 2>"$WORK/$side/log" &
  pids+=($!)
  wait_until "$!" "$WORK/$side/log" 30 "the daemon's address file" test -s "$WORK/$side/addr"
done
echo "mode=$MODE table_rows=$(wc -l </proc/net/tcp) a=$A b=$B"
for ((round = 1; round <= ROUNDS; round++)); do
  for side in a b; do
    rate=$(wrk -t2 -c16 -d3s -H "Connection: close" "http://$(cat "$WORK/$side/addr")/healthz" 2>&1 |
      awk '/^Requests\/sec/ {print int($2)}')
    echo "round=$round $side conn_per_s=$rate"
  done
done
per_run() { # label command...: the mean wall time of 200 runs, in ms
  local label=$1 start end
  shift
  start=$EPOCHREALTIME
  for _ in $(seq 200); do "$@" >/dev/null; done
  end=$EPOCHREALTIME
  echo "$label $(echo "($end - $start) * 5" | bc -l | cut -c1-6) ms"
}
for side in a b; do
  bin=$A
  [[ $side == b ]] && bin=$B
  per_run "$side creds" "$bin" creds --addr-file "$WORK/$side/addr" --token-file "$WORK/$side/token" --profile usera
  per_run "$side check" "$bin" check --config "$WORK/grantd.toml" --token-file "$WORK/$side/token"
done
