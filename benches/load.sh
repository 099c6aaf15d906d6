#!/usr/bin/env bash
# Load and memory run of the release daemon against the built-in emulator, on
# loopback only, bounded in time. Prints one summary block.
#
#   benches/load.sh [SECONDS] [SCOPES]     # defaults: 10 s of wrk, 10,000 scopes
#
# Measures, in one run: requests/s and latency of a cached vend (wrk, 2
# threads, 64 connections); mean latency of a cached vend vs a cold one (each
# cold one a GetDataAccess call to the emulator) on one keep-alive connection;
# daemon RSS when idle and after caching SCOPES distinct scopes; and the
# emulator's call count, which must equal the number of distinct scopes.
# Needs wrk (apt-get install wrk); installs it when missing and root.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_LOAD="${1:-10}"
SCOPES="${2:-10000}"

if ! command -v wrk >/dev/null; then
  if [[ $(id -u) == 0 ]]; then apt-get update -qq && apt-get install -y -qq wrk >/dev/null; else echo "install wrk" >&2; exit 1; fi
fi
cargo build --release --quiet --bin grantd
BIN=target/release/grantd
WORK=$(mktemp -d)
cleanup() { kill "${EMU_PID:-}" "${D_PID:-}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

"$BIN" emulate --listen 127.0.0.1:0 --addr-file "$WORK/emu.addr" 2>"$WORK/emu.log" &
EMU_PID=$!
until [[ -s $WORK/emu.addr ]]; do sleep 0.05; done
EMU=$(cat "$WORK/emu.addr")

BUCKET=blog-access-grants-111122223333-us-east-1
cat >"$WORK/grantd.toml" <<TOML
max_new_scopes_per_second = 100000
max_entries = $((SCOPES * 2))
[profiles.usera]
target = "s3://$BUCKET/UserA/*"
permission = "READWRITE"
TOML
env -u AWS_CONTAINER_CREDENTIALS_RELATIVE_URI -u AWS_PROFILE \
  AWS_ENDPOINT_URL_S3_CONTROL="http://$EMU" AWS_ENDPOINT_URL_STS="http://$EMU" AWS_REGION=us-east-1 \
  AWS_ACCESS_KEY_ID=AKIAGRANTDDEMOROLEA AWS_SECRET_ACCESS_KEY=grantd-demo-secret-not-a-real-key \
  AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
  "$BIN" serve --config "$WORK/grantd.toml" --listen 127.0.0.1:0 --addr-file "$WORK/d.addr" \
  --token-file "$WORK/token" --log-level warn 2>"$WORK/grantd.log" &
D_PID=$!
until [[ -s $WORK/d.addr ]]; do sleep 0.05; done
ADDR=$(cat "$WORK/d.addr")
until curl -sf "http://$ADDR/readyz" >/dev/null; do sleep 0.05; done
TOKEN=$(cat "$WORK/token")
rss() { awk '/VmRSS/ {print $2}' "/proc/$D_PID/status"; }
RSS_IDLE=$(rss)

WRK_OUT=$(wrk -t2 -c64 -d"${SECONDS_LOAD}s" --latency -H "Authorization: $TOKEN" "http://$ADDR/v1/credentials/usera")
RPS=$(awk '/Requests\/sec/ {print $2}' <<<"$WRK_OUT")
P50=$(awk '$1=="50%" {print $2}' <<<"$WRK_OUT")
P99=$(awk '$1=="99%" {print $2}' <<<"$WRK_OUT")
NON2XX=$(awk '/Non-2xx/ {print $NF}' <<<"$WRK_OUT")
RSS_LOAD=$(rss)

python3 - "$ADDR" "$TOKEN" "$SCOPES" "$BUCKET" >"$WORK/scopes.out" <<'PY'
import http.client, sys, time
addr, token, n, bucket = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
host, port = addr.rsplit(":", 1)
c = http.client.HTTPConnection(host, int(port))
def get(path):
    c.request("GET", path, headers={"Authorization": token})
    r = c.getresponse(); r.read()
    assert r.status == 200, (r.status, path)
t = time.perf_counter()
for i in range(n):
    get(f"/v1/credentials?target=s3://{bucket}/UserA/k{i}&permission=READ&privilege=Minimal")
cold = (time.perf_counter() - t) / n
t = time.perf_counter()
for i in range(n):
    get("/v1/credentials/usera")
hot = (time.perf_counter() - t) / n
print(f"{cold*1e6:.0f} {hot*1e6:.0f}")
PY
read -r COLD_US HOT_US <"$WORK/scopes.out"
RSS_SCOPES=$(rss)
CALLS=$(curl -s "http://$EMU/_emulator/calls" | python3 -c 'import json,sys; print(json.load(sys.stdin)["counts"]["GetDataAccess"])')
ENTRIES=$(curl -s "http://$ADDR/metrics" | awk '$1=="grantd_cache_entries" {print $2}')

cat <<OUT
grantd load run ($(nproc) cores, $(date -u +%FT%TZ))
  cached vend, wrk -t2 -c64 ${SECONDS_LOAD}s : ${RPS} req/s, p50 ${P50}, p99 ${P99}, non-2xx ${NON2XX:-0}
  one connection, mean          : cached ${HOT_US} us, cold (GetDataAccess to the emulator) ${COLD_US} us, ratio $(python3 -c "print(f'{$COLD_US/max($HOT_US,1):.1f}')")x
  RSS                           : idle ${RSS_IDLE} KiB, after load ${RSS_LOAD} KiB, with ${ENTRIES} cached scopes ${RSS_SCOPES} KiB
  per cached scope              : $(( (RSS_SCOPES - RSS_LOAD) * 1024 / SCOPES )) bytes
  upstream GetDataAccess calls  : ${CALLS} for $((SCOPES + 1)) distinct scopes (profile warm-up included)
OUT
