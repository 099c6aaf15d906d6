#!/usr/bin/env bash
# The S3 endpoint's benchmark: `grantd serve --s3-listen` against the same
# local S3 reached directly, in one run, on loopback only, bounded in time
# (about 4 x ROUNDS x SECONDS for wrk, plus the 256 MiB transfers and the
# 16 concurrent uploads: 2 to 4 minutes in all on a 2-core machine).
#
#   benches/s3.sh [--seconds 5] [--rounds 3] [--big-mib 256] [--uploads 16]
#                 [--requests 10000] [--only grants,small,big,uploads] [--json FILE]
#   GRANTD_BIN=/path/to/grantd benches/s3.sh   # measure that binary instead of building one
#
# The local S3 is s3s-fs 0.14.1 (crates.io; 0.17 needs a newer Rust), which
# checks SigV4 with the one key it is given. The emulator's assume-role mode
# gets its keys from a one-purpose STS (benches/s3_sts.py) that answers with
# that key, so grantd's requests are signed with a vended key that s3s-fs
# checks, and the clients' with the base identity, which grantd checks.
# benches/s3_bench.py says what is measured and how each answer is checked.
#
# Installs what it needs once, behind stamps: s3s-fs into .cache/bench/s3s-fs
# (cargo install, several minutes the first time), the pinned venv of
# benches/venv.sh (botocore presigns the URLs), wrk and curl (apt-get, when
# root), and the TCP_NODELAY shim for s3s-fs (cc; benches/s3_nodelay.c).
# Every process it starts is stopped by PID.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=benches/venv.sh
source "$ROOT/benches/venv.sh"

S3S_VERSION=0.14.1
S3S_ROOT="$CACHE/s3s-fs"
S3S_BIN="$S3S_ROOT/bin/s3s-fs"
if [[ -x $S3S_BIN && -f "$S3S_ROOT/stamp.$S3S_VERSION" ]]; then
  say "s3s-fs $S3S_VERSION installed"
else
  say "cargo install s3s-fs $S3S_VERSION (once; several minutes)"
  # Its own target dir, so the install never shares the project's.
  CARGO_TARGET_DIR="$CACHE/s3s-fs-build" nice cargo install s3s-fs --version "$S3S_VERSION" --features binary --locked --root "$S3S_ROOT" --quiet
  rm -rf "$CACHE/s3s-fs-build"
  : >"$S3S_ROOT/stamp.$S3S_VERSION"
fi

# TCP_NODELAY for s3s-fs's connections (benches/s3_nodelay.c says why).
SHIM="$CACHE/s3_nodelay-$(sha256sum <"$ROOT/benches/s3_nodelay.c" | cut -c1-12).so"
if [[ ! -f $SHIM ]]; then
  say "cc benches/s3_nodelay.c"
  rm -f "$CACHE"/s3_nodelay-*.so
  cc -shared -fPIC -O2 -o "$SHIM" "$ROOT/benches/s3_nodelay.c" -ldl
fi

for tool in wrk curl; do
  if ! command -v "$tool" >/dev/null; then
    if [[ $(id -u) == 0 ]]; then apt-get update -qq && apt-get install -y -qq "$tool" >/dev/null; else echo "install $tool" >&2; exit 1; fi
  fi
done

if [[ -n ${GRANTD_BIN:-} ]]; then
  BIN=$GRANTD_BIN
else
  say "cargo build --release"
  (cd "$ROOT" && nice cargo build --release --quiet --bin grantd)
  BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/grantd"
fi

exec "$CACHE/venv/bin/python" "$ROOT/benches/s3_bench.py" --grantd "$BIN" --s3s-fs "$S3S_BIN" --s3s-fs-preload "$SHIM" "$@"
