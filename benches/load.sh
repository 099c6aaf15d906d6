#!/usr/bin/env bash
# Load and memory run of the release daemon against the built-in emulator, on
# loopback only, bounded in time (about 4 x ROUNDS x SECONDS plus the scope
# fill). Prints one summary block.
#
#   benches/load.sh [SECONDS] [SCOPES] [ROUNDS]   # defaults: 5 s per wrk run, 30,000 scopes, 3 rounds
#   GRANTD_BIN=/path/to/grantd benches/load.sh    # measure that binary instead of building one
#
# Measures, in one run: requests/s, p50 and p99 of /healthz and of a warm
# vend (GET /v1/credentials/usera with the token) with wrk at 64 connections
# (2 threads) and at one connection; the runs alternate healthz, vend,
# healthz, vend for ROUNDS rounds and each figure is the median of its
# rounds, so a noisy neighbour on a shared machine hits both routes alike.
# The vend/healthz ratios (req/s and p99) are taken within this run. wrk
# shares the machine's cores with the daemon, so req/s also moves with wrk's
# own cost of a bigger answer; the daemon's CPU time per request (user and
# system, from /proc/PID/stat around each run) is its cost alone. Then
# the time from exec to the first answer of /healthz and of /readyz, the
# daemon RSS when idle after start (split into its anonymous memory and the
# file pages it maps, PSS, and how much of the executable's code is mapped),
# and after caching SCOPES distinct scopes
# (Minimal sub-prefixes of the one grant, each a GetDataAccess call to the
# emulator, whose call count must equal SCOPES), and bytes per scope.
# Needs wrk (apt-get install wrk); installs it when missing and root.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_LOAD="${1:-5}"
SCOPES="${2:-30000}"
ROUNDS="${3:-3}"

if ! command -v wrk >/dev/null; then
  if [[ $(id -u) == 0 ]]; then apt-get update -qq && apt-get install -y -qq wrk >/dev/null; else echo "install wrk" >&2; exit 1; fi
fi
if [[ -n ${GRANTD_BIN:-} ]]; then
  BIN=$GRANTD_BIN
else
  cargo build --release --quiet --bin grantd
  BIN=target/release/grantd
fi
# shellcheck source=benches/emulator.sh
source benches/emulator.sh

BUCKET=blog-access-grants-111122223333-us-east-1
cat >"$WORK/grantd.toml" <<TOML
max_new_scopes_per_second = 100000
max_entries = $((SCOPES * 2))
[profiles.usera]
target = "s3://$BUCKET/UserA/*"
permission = "READWRITE"
TOML
# Start-up is timed from here to each first answer (wait_until polls every 1 ms).
T_START=$EPOCHREALTIME
"${AGAINST_EMU[@]}" "$BIN" serve --config "$WORK/grantd.toml" --listen 127.0.0.1:0 --addr-file "$WORK/d.addr" \
  --token-file "$WORK/token" --log-level warn 2>"$WORK/grantd.log" &
D_PID=$!
started() { wait_until "$D_PID" "$WORK/grantd.log" 30 "$@"; }
started "the daemon's address file" test -s "$WORK/d.addr"
read -r ADDR <"$WORK/d.addr" || [[ -n $ADDR ]] # no newline at its end
started "/healthz" answers /healthz
T_LIVE=$EPOCHREALTIME
# Ready: the base identity checked (STS) and the profile's scope fetched.
started "/readyz" answers /readyz
T_READY=$EPOCHREALTIME
rss() { awk '/VmRSS/ {print $2}' "/proc/$D_PID/status"; }
sleep 0.5
RSS_IDLE=$(rss)
THREADS=$(awk '/Threads/ {print $2}' "/proc/$D_PID/status")
# What the idle RSS is made of: the daemon's own (anonymous) memory, the
# file pages it maps (its code and libc's, shared and clean), and PSS.
IDLE_SPLIT=$(awk '/^RssAnon/ {a = $2} /^RssFile/ {f = $2} END {printf "anonymous %d KiB, file %d KiB", a, f}' "/proc/$D_PID/status")
IDLE_PSS=$(awk '/^Pss:/ {print $2}' "/proc/$D_PID/smaps_rollup")
# The executable's code in memory, by 64 KiB window (the kernel's fault-around
# maps a touched page's neighbours in the page cache with it): how many
# windows are wholly mapped, partly, or not at all. From the present bits of
# /proc/PID/pagemap, which a process's own user may read.
TEXT_WINDOWS=$(python3 - "$D_PID" "$(readlink -f "$BIN")" <<'PY'
import struct, sys
pid, exe = sys.argv[1], sys.argv[2]
for line in open(f"/proc/{pid}/maps"):
    f = line.split()
    if len(f) >= 6 and f[1].startswith("r-x") and f[5] == exe:
        lo, hi = (int(x, 16) for x in f[0].split("-"))
        break
else:
    sys.exit("no code mapping of the executable")
with open(f"/proc/{pid}/pagemap", "rb") as pm:
    pm.seek(lo // 4096 * 8)
    raw = pm.read((hi - lo) // 4096 * 8)
present = [e >> 63 for e in struct.unpack(f"<{len(raw) // 8}Q", raw)]
wins = [sum(present[i:i + 16]) for i in range(0, len(present), 16)]
print(f"{sum(present) * 4} of {len(present) * 4} KiB mapped; 64 KiB windows: "
      f"{wins.count(16)} whole, {sum(0 < w < 16 for w in wins)} partly, {wins.count(0)} untouched")
PY
)
TOKEN=$(cat "$WORK/token")
# The vend is measured warm: its scope is cached before the first run.
curl -sf -o /dev/null -H "Authorization: $TOKEN" "http://$ADDR/v1/credentials/usera"

# CPU time the daemon has used, user and system, in clock ticks.
ticks() { awk '{print $14 + $15}' "/proc/$D_PID/stat"; }
TICK_HZ=$(getconf CLK_TCK)

# One wrk run: "req/s p50_us p99_us non2xx daemon_cpu_us_per_request" on one
# line. The token goes in a header on wrk's command line, as it does to any
# client; it is never printed.
run_wrk() { # route threads connections
  local out t0
  t0=$(ticks)
  if [[ $1 == vend ]]; then
    out=$(wrk -t"$2" -c"$3" -d"${SECONDS_LOAD}s" --latency -H "Authorization: $TOKEN" "http://$ADDR/v1/credentials/usera")
  else
    out=$(wrk -t"$2" -c"$3" -d"${SECONDS_LOAD}s" --latency "http://$ADDR/healthz")
  fi
  awk -v ticks="$(($(ticks) - t0))" -v hz="$TICK_HZ" '
    function us(v) { if (v ~ /us$/) return v + 0; if (v ~ /ms$/) return v * 1000; if (v ~ /s$/) return v * 1e6; return v }
    /Requests\/sec/ { rps = $2 } $1 == "50%" { p50 = us($2) } $1 == "99%" { p99 = us($2) } /Non-2xx/ { bad = $NF }
    / requests in / { n = $1 }
    END { printf "%s %.0f %.0f %d %.2f\n", rps, p50, p99, bad, ticks / hz * 1e6 / n }' <<<"$out"
}
for ((round = 1; round <= ROUNDS; round++)); do
  for conns in 64 1; do
    threads=$((conns > 1 ? 2 : 1))
    for route in healthz vend; do
      echo "$route $conns $(run_wrk "$route" "$threads" "$conns")" >>"$WORK/runs"
    done
  done
done
RSS_LOAD=$(rss)

python3 - "$ADDR" "$TOKEN" "$SCOPES" "$BUCKET" >"$WORK/scopes.out" <<'PY'
import http.client, sys, time
addr, token, n, bucket = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
host, port = addr.rsplit(":", 1)
c = http.client.HTTPConnection(host, int(port))
t = time.perf_counter()
for i in range(n):
    # Minimal: each sub-prefix is its own scope, one GetDataAccess call each.
    c.request("GET", f"/v1/credentials?target=s3://{bucket}/UserA/k{i}/*&permission=READ&privilege=Minimal",
              headers={"Authorization": token})
    r = c.getresponse(); r.read()
    assert r.status == 200, (r.status, i)
print(f"{(time.perf_counter() - t) / n * 1e6:.0f}")
PY
COLD_US=$(cat "$WORK/scopes.out")
sleep 0.5
RSS_SCOPES=$(rss)
CALLS=$(curl -s "http://$EMU/_emulator/calls" | python3 -c 'import json,sys; print(json.load(sys.stdin)["counts"]["GetDataAccess"])')
ENTRIES=$(curl -s "http://$ADDR/metrics" | awk '$1=="grantd_cache_entries" {print $2}')

echo "grantd load run ($(nproc) cores, $(date -u +%FT%TZ), ${SECONDS_LOAD} s per wrk run, median of ${ROUNDS} rounds)"
python3 - "$WORK/runs" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    route, conns, rps, p50, p99, bad, cpu = line.split()
    runs.setdefault((route, int(conns)), []).append((float(rps), int(p50), int(p99), int(bad), float(cpu)))
def med(key, i):
    return statistics.median(r[i] for r in runs[key])
for conns in (64, 1):
    for route in ("healthz", "vend"):
        k = (route, conns)
        rounds = " / ".join(f"{r[0]:.0f}" for r in runs[k])
        print(f"  {route:7} c{conns:<3}: {med(k, 0):8.0f} req/s, p50 {med(k, 1):5.0f} us, p99 {med(k, 2):5.0f} us"
              f", daemon CPU {med(k, 4):5.2f} us/req, non-2xx {sum(r[3] for r in runs[k])}  (req/s by round: {rounds})")
    h, v = ("healthz", conns), ("vend", conns)
    print(f"  vend/healthz c{conns:<3}: req/s {med(v, 0) / med(h, 0):.2f}x, p99 {med(v, 2) / max(med(h, 2), 1):.2f}x"
          f", daemon CPU per request {med(v, 4) / med(h, 4):.2f}x")
PY
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) * 1000 }'; }
# The fill starts after the wrk runs, so its scopes are the only growth.
PER_SCOPE=$(((RSS_SCOPES - RSS_LOAD) * 1024 / SCOPES))
cat <<OUT
  RSS                           : idle ${RSS_IDLE} KiB (${THREADS} threads), after load ${RSS_LOAD} KiB, with ${ENTRIES} cached scopes ${RSS_SCOPES} KiB
  start                         : /healthz after $(ms "$T_START" "$T_LIVE") ms, /readyz after $(ms "$T_START" "$T_READY") ms (exec to the first 200, polled every 1 ms)
  idle RSS split                : ${IDLE_SPLIT}; PSS ${IDLE_PSS} KiB
  executable code in memory     : ${TEXT_WINDOWS}
  per cached scope              : ${PER_SCOPE} bytes
  cold vend, one connection     : ${COLD_US} us mean (a GetDataAccess to the emulator each)
  upstream GetDataAccess calls  : ${CALLS} for $((SCOPES + 1)) distinct scopes (profile warm-up included)
OUT
if [[ $CALLS != $((SCOPES + 1)) ]]; then
  echo "the emulator saw ${CALLS} GetDataAccess calls, not one per scope" >&2
  exit 1
fi
