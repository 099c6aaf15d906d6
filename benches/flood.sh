#!/usr/bin/env bash
# What finding each connection's Unix user costs, and what the daemon's
# owner sees while another user floods it with connections: the release
# daemon against the built-in emulator, on loopback only, bounded in time
# (about 5 s of wrk and REQUESTS x (GAP + answer) of probing). Prints one
# summary line.
#
#   benches/flood.sh [REQUESTS] [FLOOD] [GAP_MS]  # defaults: 200 owner requests, 600 flood connections, 20 ms apart
#   GRANTD_BIN=/path/to/grantd benches/flood.sh   # measure that binary instead of building one
#   FLOOD_LOOKUP=netlink     # the default: sock_diag netlink, as the kernel allows
#   FLOOD_LOOKUP=no-netlink  # the daemon under a seccomp filter that refuses
#                            # netlink sockets (benches/no_netlink.py), as some
#                            # sandboxes do: any grantd then reads /proc/net/tcp
#   FLOOD_LOOKUP=proc        # GRANTD_PEER_LOOKUP=proc (grantd with that setting)
#
# Measures: connections per second with the peer lookup (wrk, 2 threads, 16
# connections, each request on a new connection to /healthz, 5 s); then,
# while `nobody` holds FLOOD connections open and reopens each as it closes
# (benches/flood.py, the same flood as tests/daemon_flood.rs), REQUESTS
# owner requests for credentials, each on a new connection with a 2 s
# budget as an SDK would have: how many were served, p50, p99 and max of
# the whole request, and p99 and max of the connect alone (a dropped SYN
# costs 1 s). Needs root (the flood runs as nobody), python3 and wrk.
set -euo pipefail
cd "$(dirname "$0")/.."
REQUESTS="${1:-200}"
FLOOD="${2:-600}"
GAP_MS="${3:-20}"
LOOKUP="${FLOOD_LOOKUP:-netlink}"

[[ $(id -u) == 0 ]] || { echo "benches/flood.sh: run as root (the flood runs as nobody)" >&2; exit 1; }
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
if [[ -n ${GRANTD_BIN:-} ]]; then
  BIN=$GRANTD_BIN
else
  cargo build --release --quiet --bin grantd
  BIN=target/release/grantd
fi
# shellcheck source=benches/emulator.sh
source benches/emulator.sh

cat >"$WORK/grantd.toml" <<TOML
[profiles.usera]
target = "s3://blog-access-grants-111122223333-us-east-1/UserA/*"
permission = "READWRITE"
TOML
wrap=()
case $LOOKUP in
  netlink) ;;
  no-netlink) wrap=(python3 benches/no_netlink.py) ;;
  proc) export GRANTD_PEER_LOOKUP=proc ;;
  *) echo "benches/flood.sh: FLOOD_LOOKUP is netlink, no-netlink or proc, not $LOOKUP" >&2; exit 64 ;;
esac
"${AGAINST_EMU[@]}" "${wrap[@]}" "$BIN" serve --config "$WORK/grantd.toml" --listen 127.0.0.1:0 --addr-file "$WORK/d.addr" \
  --token-file "$WORK/token" --log-level info 2>"$WORK/grantd.log" &
D_PID=$!
wait_until "$D_PID" "$WORK/grantd.log" 30 "the daemon's address file" test -s "$WORK/d.addr"
ADDR=$(cat "$WORK/d.addr")
wait_until "$D_PID" "$WORK/grantd.log" 30 "/readyz" answers /readyz
# The start-up line's peer_lookup="netlink"|"proc" (older binaries have none).
in_use=$(sed 's/\x1b\[[0-9;]*m//g' "$WORK/grantd.log" | grep -o 'peer_lookup="[a-z]*' | head -n1 | sed 's/.*="//' || true)

wrk -t2 -c16 -d5s -H "Connection: close" "http://$ADDR/healthz" >"$WORK/wrk.txt" 2>&1
conn_per_s=$(awk '/^Requests\/sec/ {print int($2)}' "$WORK/wrk.txt")

# The flood runs as nobody, its program on stdin (nobody cannot read $WORK).
setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 - flood "${ADDR%:*}" "${ADDR##*:}" "$FLOOD" \
  <benches/flood.py >"$WORK/flood.out" 2>"$WORK/flood.err" &
FLOOD_PID=$!
trap 'kill "$FLOOD_PID" 2>/dev/null || true; cleanup' EXIT
wait_until "$FLOOD_PID" "$WORK/flood.err" 60 "the flood to open its connections" grep -q ready "$WORK/flood.out"
probe=$(python3 benches/flood.py probe "${ADDR%:*}" "${ADDR##*:}" "$WORK/token" "$REQUESTS" "$GAP_MS" 2)
kill "$FLOOD_PID" 2>/dev/null || true
wait "$FLOOD_PID" 2>/dev/null || true
shed=$(exec 3<>"/dev/tcp/${ADDR%:*}/${ADDR##*:}" &&
  printf 'GET /metrics HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$ADDR" >&3 &&
  grep -a '^grantd_connections_shed_total{' <&3 | tr '\n' ' ' || true)

echo "binary=$BIN lookup=$LOOKUP in_use=${in_use:-unknown(old)} conn_per_s=$conn_per_s flood=$FLOOD owner=$probe shed: ${shed:-none}"
