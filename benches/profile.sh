#!/usr/bin/env bash
# What one request costs the daemon, in instructions and in allocations, for
# /healthz and for a warm vend (GET /v1/credentials/usera with the token):
# counts, not times, so they are stable on a shared machine. Loopback only,
# bounded; the daemon runs against the built-in emulator.
#
#   benches/profile.sh [REQUESTS]        # default 20,000 per route, one keep-alive connection
#   GRANTD_BIN=/path/to/grantd benches/profile.sh   # that binary (with symbols) instead of building one
#
# The daemon runs under callgrind; its counters are zeroed before each
# route's requests and dumped after them (callgrind_control), so start-up is
# not counted. Instructions are the dump's total; allocations are the calls
# into the C allocator (malloc, calloc, realloc, ...) that the dump records.
# Both divided by REQUESTS. Builds the release profile with symbols
# (target/profile) unless GRANTD_BIN is given. PROFILE_KEEP=DIR keeps the
# dumps and each route's top functions (inclusive) there.
# Needs valgrind; installs it when missing and root.
set -euo pipefail
cd "$(dirname "$0")/.."
REQUESTS="${1:-20000}"

if ! command -v valgrind >/dev/null; then
  if [[ $(id -u) == 0 ]]; then apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; else echo "install valgrind" >&2; exit 1; fi
fi
if [[ -n ${GRANTD_BIN:-} ]]; then
  BIN=$GRANTD_BIN
else
  CARGO_PROFILE_RELEASE_STRIP=false CARGO_PROFILE_RELEASE_DEBUG=1 \
    cargo build --release --quiet --bin grantd --target-dir target/profile
  BIN=target/profile/release/grantd
fi
# shellcheck source=benches/emulator.sh
source benches/emulator.sh
cat >"$WORK/grantd.toml" <<TOML
[profiles.usera]
target = "s3://blog-access-grants-111122223333-us-east-1/UserA/*"
permission = "READWRITE"
TOML

# Starts the daemon under "$@" (a tool and its options); D_PID is the tool's pid.
start() {
  rm -f "$WORK/d.addr"
  "${AGAINST_EMU[@]}" "$@" "$BIN" serve --config "$WORK/grantd.toml" --listen 127.0.0.1:0 --addr-file "$WORK/d.addr" \
    --token-file "$WORK/token" --log-level warn 2>>"$WORK/tool.log" &
  D_PID=$!
  # Under valgrind a start takes seconds, hence the long bound.
  wait_until "$D_PID" "$WORK/tool.log" 300 "the daemon's address file" test -s "$WORK/d.addr"
  ADDR=$(cat "$WORK/d.addr")
  wait_until "$D_PID" "$WORK/tool.log" 300 "/readyz" answers /readyz
  # The vend is measured warm: its scope is cached first.
  curl -sf -o /dev/null -H "Authorization: $(cat "$WORK/token")" "http://$ADDR/v1/credentials/usera"
}
stop() { kill -INT "$D_PID"; wait "$D_PID" 2>/dev/null || true; }

# N requests of one route on one keep-alive connection; each must answer 200.
requests() { # route n
  python3 - "$ADDR" "$WORK/token" "$1" "$2" <<'PY'
import http.client, sys
addr, token_file, route, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
path, headers = "/healthz", {}
if route == "vend":
    path, headers = "/v1/credentials/usera", {"Authorization": open(token_file).read().strip()}
host, port = addr.rsplit(":", 1)
c = http.client.HTTPConnection(host, int(port))
for _ in range(n):
    c.request("GET", path, headers=headers)
    r = c.getresponse(); r.read()
    assert r.status == 200, r.status
PY
}

echo "grantd per-request cost ($REQUESTS requests per route, one keep-alive connection, $(date -u +%FT%TZ))"
start valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.%p" --compress-strings=no --compress-pos=no
for route in healthz vend; do
  callgrind_control -z "$D_PID" >/dev/null 2>&1
  requests "$route" "$REQUESTS"
  callgrind_control -d "$route" "$D_PID" >/dev/null 2>&1
done
stop
for route in healthz vend; do
  dump=$(grep -l "^desc: Trigger: dump $route\$" "$WORK"/cg.*)
  python3 - "$dump" "$route" "$REQUESTS" <<'PY'
import sys
dump, route, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
# Calls into the C allocator: every Rust allocation ends in one of these.
alloc = {"malloc", "calloc", "realloc", "posix_memalign", "aligned_alloc", "memalign"}
total = allocs = 0
callee = None
for line in open(dump):
    if line.startswith("totals:"):
        total = int(line.split()[1])
    elif line.startswith("cfn="):
        callee = line[4:].strip()
    elif line.startswith("calls=") and callee in alloc:
        allocs += int(line[6:].split()[0])
print(f"  {route:7}: {total // n:6d} instructions per request, {allocs / n:5.2f} allocations per request")
PY
  callgrind_annotate --inclusive=yes "$dump" 2>/dev/null | sed -n '/file:function/,$p' | sed -n '2,60p' >"$WORK/top.$route"
done
if [[ -n ${PROFILE_KEEP:-} ]]; then
  mkdir -p "$PROFILE_KEEP" && cp "$WORK"/cg.* "$WORK"/top.* "$PROFILE_KEEP"/
  echo "  callgrind dumps and top functions kept in $PROFILE_KEEP"
fi
