#!/usr/bin/env bash
# SageMaker Studio space lifecycle configuration (JupyterLab / Code Editor).
# Runs once at app start, as the space user, and must finish within 5 minutes:
# it starts grantd in the background with the space's execution role, waits
# until it is ready, and makes every new shell and notebook kernel use it.
# Edit the profiles below. Under 16,384 characters.
set -euo pipefail

GRANTD_BIN=${GRANTD_BIN:-$HOME/.local/bin/grantd}
# Optional: where to fetch the binary from on first start (the execution role reads it).
GRANTD_BINARY_S3=${GRANTD_BINARY_S3:-}
CONF_DIR=$HOME/.config/grantd
RUN_DIR=${XDG_RUNTIME_DIR:-/tmp}/grantd-$(id -u)

if [[ ! -x $GRANTD_BIN && -n $GRANTD_BINARY_S3 ]]; then
  mkdir -p "$(dirname "$GRANTD_BIN")"
  aws s3 cp --quiet "$GRANTD_BINARY_S3" "$GRANTD_BIN"
  chmod 755 "$GRANTD_BIN"
fi

mkdir -p "$CONF_DIR" "$RUN_DIR" && chmod 700 "$RUN_DIR"
if [[ ! -f $CONF_DIR/grantd.toml ]]; then
  cat >"$CONF_DIR/grantd.toml" <<'TOML'
# Profiles this space's notebooks use; the first is the default.
[profiles.usera]
target = "s3://blog-access-grants-111122223333-us-east-1/UserA/*"
permission = "READWRITE"

[profiles.product]
target = "s3://blog-access-grants-111122223333-us-east-1/Product/*"
permission = "READ"
TOML
fi

# The daemon's settings, shared by `grantd serve`, `grantd env` and `grantd creds`.
cat >"$CONF_DIR/daemon.env" <<ENV
export GRANTD_CONFIG='$CONF_DIR/grantd.toml'
export GRANTD_TOKEN_FILE='$RUN_DIR/token'
export GRANTD_ADDR_FILE='$RUN_DIR/addr'
export GRANTD_LISTEN='${GRANTD_LISTEN:-127.0.0.1:7911}'
ENV
# shellcheck disable=SC1091
source "$CONF_DIR/daemon.env"

if ! "$GRANTD_BIN" ready --wait 0 >/dev/null 2>&1; then
  rm -f "$GRANTD_ADDR_FILE"
  # The space's execution role (RELATIVE_URI) is the daemon's base identity.
  nohup setsid "$GRANTD_BIN" serve --imds >>"$RUN_DIR/grantd.log" 2>&1 </dev/null &
  echo $! >"$RUN_DIR/grantd.pid"
fi
"$GRANTD_BIN" ready --wait 120

# Shells: the client environment, with RELATIVE_URI removed.
"$GRANTD_BIN" env >"$CONF_DIR/client.env"
echo 'export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}"' >>"$CONF_DIR/client.env"
line="[ -f '$CONF_DIR/client.env' ] && . '$CONF_DIR/client.env'"
grep -qxF "$line" "$HOME/.bashrc" 2>/dev/null || echo "$line" >>"$HOME/.bashrc"

# Notebook kernels inherit the Jupyter server's environment, not .bashrc:
# set the same variables when each IPython kernel starts.
mkdir -p "$HOME/.ipython/profile_default/startup"
cat >"$HOME/.ipython/profile_default/startup/00-grantd.py" <<PY
import os, re
for _line in open("$CONF_DIR/client.env"):
    _m = re.match(r"export (AWS_CONTAINER_CREDENTIALS_FULL_URI|AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE)='(.*)'$", _line.strip())
    if _m:
        os.environ[_m.group(1)] = _m.group(2)
os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = open(os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"]).read()
os.environ.pop("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", None)
os.environ["NO_PROXY"] = ",".join(filter(None, ["127.0.0.1,localhost", os.environ.get("NO_PROXY")]))
PY
echo "grantd ready; new shells and notebook kernels use it (log: $RUN_DIR/grantd.log)"
