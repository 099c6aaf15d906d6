#!/usr/bin/env bash
# Peer benchmark: boto3 GetObject on small objects in moto (SigV4 + IAM
# enforced), three ways in one run, for 1 and for 8 client processes:
#   plain   static keys of a moto session of the UserA role: the floor
#   plugin  aws-s3-access-grants-boto3-plugin (STS + S3 Control = grantd emulate)
#   grantd  `grantd serve` (release), the client set up only by `grantd env`
# Loopback only, bounded (a hard cap per mode), every process it starts is
# stopped by PID. Prints a table and the ratios against their targets
# (BENCHMARKS.md).
#
#   benches/boto3.sh [REQUESTS] [OBJECT_BYTES] [--json FILE] [--procs 1,8] [--upstream-ms N]
#     REQUESTS      timed GetObjects per worker process after its first one (default 300)
#     OBJECT_BYTES  size of each object (default 1024)
#
# Installs its own venv into .cache/bench/venv (pinned; a stamp keyed on the
# pins, so a second run does no network). Needs python3 (3.9+) and cargo.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${BENCH_CACHE:-$ROOT/.cache/bench}"
PYTHON="${PYTHON:-python3}"

# boto3/botocore/moto as scripts/setup-clients pins them, so the floor here is
# the S3 the client suite tests against; the plugin at the version the
# targets were set against (BENCHMARKS.md).
# pytest only because the driver reuses tests/clients/{conftest,motoenv}.py.
PY_REQS=(
  "boto3==1.44.5" "botocore==1.44.5" "moto[server]==5.2.5"
  "aws-s3-access-grants-boto3-plugin==1.3.0" "cacheout==0.17.0"
  "pytest==9.2.0"
)

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
say() { printf 'bench: %s\n' "$*" >&2; }

venv_key="$(printf '%s\n' "${PY_REQS[@]}" "$("$PYTHON" -c 'import sys; print(sys.version_info[:2])')" | sha256sum | cut -c1-16)"
if [[ -f "$CACHE/stamps/venv.$venv_key" && -x "$CACHE/venv/bin/python" ]]; then
  say "venv up to date"
else
  say "creating venv: ${PY_REQS[*]}"
  rm -rf "$CACHE/venv" "$CACHE/stamps"
  mkdir -p "$CACHE/stamps"
  "$PYTHON" -m venv "$CACHE/venv"
  "$CACHE/venv/bin/python" -m pip install -q "${PY_REQS[@]}" </dev/null
  : >"$CACHE/stamps/venv.$venv_key"
fi

say "cargo build --release"
(cd "$ROOT" && nice cargo build --release --quiet --bin grantd)

export PYTHONPYCACHEPREFIX="$CACHE/pycache"
exec "$CACHE/venv/bin/python" "$ROOT/benches/boto3_bench.py" \
  --grantd "$ROOT/target/release/grantd" "$@"
