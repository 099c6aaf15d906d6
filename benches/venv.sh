# shellcheck shell=bash
# Sourced by benches/boto3.sh and benches/s3.sh once ROOT is set: the pinned
# Python venv of the benchmarks in $CACHE/venv (CACHE defaults to
# .cache/bench, BENCH_CACHE overrides), made once and kept behind a stamp
# keyed on the pins and the Python version, so a second run does no network.
# Needs python3 (3.9+; PYTHON overrides).
CACHE="${BENCH_CACHE:-$ROOT/.cache/bench}"
PYTHON="${PYTHON:-python3}"

# boto3/botocore/moto as scripts/setup-clients pins them, so the floor here is
# the S3 the client suite tests against; the plugin at the version the
# targets were set against (BENCHMARKS.md).
# pytest only because the drivers reuse tests/clients/{conftest,motoenv}.py.
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
export PYTHONPYCACHEPREFIX="$CACHE/pycache"
