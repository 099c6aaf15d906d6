#!/usr/bin/env bash
# SageMaker Studio space lifecycle configuration (JupyterLab / Code Editor).
# Runs once at app start, as the space user, and must finish within 5 minutes:
# it starts grantd in the background with the space's execution role, waits
# until it is ready, and makes every new shell and notebook kernel use it.
# Edit the profiles below. Under 16,384 characters.
#
# Safe to run again, or twice at once: a lock in the run directory lets one
# run start the daemon; the others find it by its pid and reuse it. The run
# directory (token, address, pid, log) is $XDG_RUNTIME_DIR/grantd, else
# ~/.local/state/grantd: places no other user can create. If it exists but is
# not ours, or others can write it, the script does not trust it and does not
# fail either (a failing lifecycle configuration keeps the whole app from
# starting): it uses a fresh private directory from mktemp instead, says so on
# stderr, and remembers it in ~/.config/grantd/run-dir for the next run.
set -euo pipefail

GRANTD_BIN=${GRANTD_BIN:-$HOME/.local/bin/grantd}
# Optional: where to fetch the binary from on first start (the execution role reads it).
GRANTD_BINARY_S3=${GRANTD_BINARY_S3:-}
CONF_DIR=$HOME/.config/grantd
me=studio-lifecycle

if [[ ! -x $GRANTD_BIN && -n $GRANTD_BINARY_S3 ]]; then
  mkdir -p "$(dirname "$GRANTD_BIN")"
  aws s3 cp --quiet "$GRANTD_BINARY_S3" "$GRANTD_BIN"
  chmod 755 "$GRANTD_BIN"
fi

# A directory is private when it is a real directory (not a symlink) that we
# own and nobody else can write: then nobody else planted a file in it.
private_dir() {
  # mkdir may lose a race with a concurrent run: what counts is what is there.
  [[ -e $1 || -L $1 ]] || mkdir -m 700 -- "$1" 2>/dev/null || true
  [[ -d $1 && ! -L $1 && -O $1 ]] && ((!(8#$(stat -c %a -- "$1") & 8#022))) &&
    chmod 700 -- "$1"
}

mkdir -p -- "$(dirname "$CONF_DIR")"
private_dir "$CONF_DIR" || {
  echo "$me: $CONF_DIR is not a private directory of $(id -un); grantd not started" >&2
  exit 1
}
# One run at a time, to the end of the script: a second run, even while the
# first one's daemon is still starting, finds that daemon by its pid file
# instead of starting another, picks the same run directory, and adds the
# line to ~/.bashrc once. The lock is released when this shell exits.
# Without flock, the pid check alone.
if command -v flock >/dev/null; then
  exec 9>"$CONF_DIR/lock"
  flock -w 150 9 || {
    echo "$me: another run has held $CONF_DIR/lock for 150 s; giving up" >&2
    exit 1
  }
fi
preferred=${XDG_RUNTIME_DIR:-$HOME/.local/state}/grantd
mkdir -p -- "$(dirname "$preferred")" 2>/dev/null || true
remembered=$(cat "$CONF_DIR/run-dir" 2>/dev/null || true)
if private_dir "$preferred"; then
  RUN_DIR=$preferred
elif [[ $remembered == "${TMPDIR:-/tmp}"/grantd-* ]] && private_dir "$remembered"; then
  RUN_DIR=$remembered
else
  RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/grantd-$(id -u).XXXXXXXX") || {
    echo "$me: $preferred is not ours and no private directory can be made in ${TMPDIR:-/tmp}" >&2
    exit 1
  }
  echo "$me: warning: $preferred is not a private directory of $(id -un)" \
    "(owner $(stat -c %U -- "$preferred" 2>/dev/null || echo '?')); using $RUN_DIR" >&2
  echo "$RUN_DIR" >"$CONF_DIR/run-dir"
fi

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

# Whether the pid file names a live `grantd serve` of ours (the home directory
# outlives the app, so the pid may since belong to another process).
daemon_running() {
  local pid cmd
  pid=$(cat "$RUN_DIR/grantd.pid" 2>/dev/null) && [[ $pid =~ ^[0-9]+$ ]] &&
    kill -0 "$pid" 2>/dev/null &&
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) &&
    [[ $cmd == "$GRANTD_BIN serve "* ]]
}

if ! daemon_running; then
  # No daemon of ours: the address file, if any, is a dead one's.
  rm -f -- "$GRANTD_ADDR_FILE"
  # The space's execution role (RELATIVE_URI) is the daemon's base identity.
  # IMDS stays off: nothing here uses it (README: how to opt in). fd 9 is
  # closed for the daemon, or it would hold the lock for its whole life.
  nohup setsid "$GRANTD_BIN" serve >>"$RUN_DIR/grantd.log" 2>&1 </dev/null 9>&- &
  echo $! >"$RUN_DIR/grantd.pid"
fi

# Wait for our daemon's address file first, so that `ready` cannot be
# answered by whoever else holds the port. (A daemon just started may not be
# grantd yet, only nohup or setsid about to exec it: hence kill -0 here.)
pid=$(cat "$RUN_DIR/grantd.pid")
for ((i = 0; i < 300; i++)); do
  if [[ -s $GRANTD_ADDR_FILE ]] || ! kill -0 "$pid" 2>/dev/null; then break; fi
  sleep 0.1
done
if ! daemon_running || [[ ! -s $GRANTD_ADDR_FILE ]]; then
  echo "$me: grantd did not start; last lines of $RUN_DIR/grantd.log:" >&2
  tail -n 20 "$RUN_DIR/grantd.log" >&2 || true
  exit 1
fi
"$GRANTD_BIN" ready --wait 90

# Shells: the client environment, with RELATIVE_URI removed. Written whole
# and renamed, so that a shell starting now reads the old file or the new one.
client_env=$("$GRANTD_BIN" env)
tmp=$(mktemp "$CONF_DIR/client.env.XXXXXX")
printf '%s\n%s\n' "$client_env" \
  "export NO_PROXY=\"127.0.0.1,localhost\${NO_PROXY:+,\$NO_PROXY}\"" >"$tmp"
mv -f -- "$tmp" "$CONF_DIR/client.env"
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
