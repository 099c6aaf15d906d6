#!/usr/bin/env bash
# Peer benchmark: boto3 GetObject on small objects in moto (SigV4 + IAM
# enforced), five ways in one run, for 1 and for 8 client processes:
#   plain       static keys of a moto session of the UserA role: the floor
#   plugin      aws-s3-access-grants-boto3-plugin (STS + S3 Control = grantd emulate)
#   grantd      `grantd serve` (release), the client set up only by `grantd env`
#   s3          through grantd's S3 endpoint (`grantd serve --s3-listen`), the
#               client set up only by `grantd env --s3`
#   plugin-env  the plugin loaded into every client by botocore, from
#               BOTOCORE_EXPERIMENTAL__PLUGINS (no code in the program)
# --ways plain,plugin,grantd runs a subset.
# Loopback only, bounded (a hard cap per mode), every process it starts is
# stopped by PID. Prints a table and the ratios against their targets
# (BENCHMARKS.md).
#
#   benches/boto3.sh [REQUESTS] [OBJECT_BYTES] [--json FILE] [--procs 1,8] [--upstream-ms N]
#     REQUESTS      timed GetObjects per worker process after its first one (default 300)
#     OBJECT_BYTES  size of each object (default 1024)
#
# Installs its own venv into .cache/bench/venv (benches/venv.sh: pinned, a
# stamp keyed on the pins, so a second run does no network). Needs python3
# (3.9+) and cargo. GRANTD_BIN=/path/to/grantd measures that binary instead of
# building one.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=benches/venv.sh
source "$ROOT/benches/venv.sh"

if [[ -n ${GRANTD_BIN:-} ]]; then
  BIN=$GRANTD_BIN
else
  say "cargo build --release"
  (cd "$ROOT" && nice cargo build --release --quiet --bin grantd)
  BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/grantd"
fi

exec "$CACHE/venv/bin/python" "$ROOT/benches/boto3_bench.py" --grantd "$BIN" "$@"
