#!/usr/bin/env bash
# SageMaker Studio space lifecycle configuration (JupyterLab / Code Editor).
# Runs at app start, as the space user, and must finish within 5 minutes: it
# installs grantd if needed, starts it under a small supervisor with the
# space's execution role, waits until it is ready, and makes every new shell,
# notebook kernel and Spark session started from them use it. Under 16,384
# characters.
#
#   GRANTD_MODE        s3 (default): shells and kernels keep the execution
#                      role for every AWS call, and S3 goes through grantd's
#                      S3 endpoint, a grant chosen per request (Spark s3a too,
#                      through a spark-defaults.conf of ours); credentials:
#                      the default profile's grant is their only identity
#   GRANTD_S3_LISTEN   the S3 endpoint, defaults to 127.0.0.1:7913
#   GRANTD_WHEEL       a wheel to pip install into GRANTD_VENV: a path, an
#                      s3:// URL (fetched with the execution role), or
#                      anything pip takes (e.g. grantd==0.1.0 with PIP_INDEX_URL)
#   GRANTD_VENV        defaults to ~/.local/share/grantd/venv
#   GRANTD_BINARY_S3   or: an s3:// URL of the binary, copied to GRANTD_BIN
#   GRANTD_BIN         the binary (default: the venv's with GRANTD_WHEEL, else
#                      ~/.local/bin/grantd)
#   GRANTD_CONFIG      the profiles (default ~/.config/grantd/grantd.toml,
#                      written with an example on first run)
#   GRANTD_LISTEN      defaults to 127.0.0.1:7911
#
# Safe to run again, or twice at once: a lock serialises runs, and one
# supervisor (itself single-instance under a lock) runs one daemon, restarting
# it with backoff when it dies. Stop both with
#   bash ~/.config/grantd/supervise stop
# The run directory (token, address, pid files, log) is $XDG_RUNTIME_DIR/grantd,
# else ~/.local/state/grantd. If it exists but is not ours, or others can
# write it, the script does not trust it and does not fail either (a failing
# lifecycle configuration keeps the whole app from starting): it uses a fresh
# private directory from mktemp, says so on stderr, and remembers it in
# ~/.config/grantd/run-dir for the next run.
set -euo pipefail

CONF_DIR=$HOME/.config/grantd
GRANTD_WHEEL=${GRANTD_WHEEL:-}
GRANTD_VENV=${GRANTD_VENV:-$HOME/.local/share/grantd/venv}
GRANTD_BINARY_S3=${GRANTD_BINARY_S3:-}
if [[ -n $GRANTD_WHEEL ]]; then
  GRANTD_BIN=${GRANTD_BIN:-$GRANTD_VENV/bin/grantd}
fi
GRANTD_BIN=${GRANTD_BIN:-$HOME/.local/bin/grantd}
GRANTD_CONFIG=${GRANTD_CONFIG:-$CONF_DIR/grantd.toml}
GRANTD_MODE=${GRANTD_MODE:-s3}
me=studio-lifecycle
case $GRANTD_MODE in
  s3 | credentials) ;;
  *) echo "$me: GRANTD_MODE must be s3 or credentials, not '$GRANTD_MODE'" >&2; exit 1 ;;
esac

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
# first one's daemon is still starting, finds that supervisor instead of
# starting another, installs nothing twice, picks the same run directory, and
# adds the line to ~/.bashrc once. The lock is released when this shell
# exits. Without flock, the pid checks alone.
if command -v flock >/dev/null; then
  exec 9>"$CONF_DIR/lock"
  flock -w 150 9 || {
    echo "$me: another run has held $CONF_DIR/lock for 150 s; giving up" >&2
    exit 1
  }
fi

# Install: a wheel into a venv of ours (again only when GRANTD_WHEEL changes),
# or the binary from S3 (once).
if [[ -n $GRANTD_WHEEL ]]; then
  stamp=$GRANTD_VENV/.grantd-wheel
  if [[ ! -x $GRANTD_BIN || $(cat "$stamp" 2>/dev/null) != "$GRANTD_WHEEL" ]]; then
    wheel=$GRANTD_WHEEL
    dl=$(mktemp -d)
    if [[ $wheel == s3://* ]]; then
      # pip reads the tags from the file name: keep it.
      aws s3 cp --quiet "$wheel" "$dl/"
      wheel=$dl/${wheel##*/}
    fi
    [[ -x $GRANTD_VENV/bin/python ]] || python3 -m venv "$GRANTD_VENV"
    "$GRANTD_VENV/bin/python" -m pip install -q --disable-pip-version-check \
      --no-deps --force-reinstall "$wheel"
    rm -rf -- "$dl"
    printf '%s\n' "$GRANTD_WHEEL" >"$stamp"
  fi
elif [[ ! -x $GRANTD_BIN && -n $GRANTD_BINARY_S3 ]]; then
  mkdir -p "$(dirname "$GRANTD_BIN")"
  aws s3 cp --quiet "$GRANTD_BINARY_S3" "$GRANTD_BIN.part"
  chmod 755 "$GRANTD_BIN.part"
  mv -f -- "$GRANTD_BIN.part" "$GRANTD_BIN"
fi
[[ -x $GRANTD_BIN ]] || {
  echo "$me: no grantd at $GRANTD_BIN: set GRANTD_WHEEL, GRANTD_BINARY_S3 or GRANTD_BIN" >&2
  exit 1
}
GRANTD_BIN=$(realpath -- "$GRANTD_BIN")

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

if [[ $GRANTD_CONFIG == "$CONF_DIR/grantd.toml" && ! -f $GRANTD_CONFIG ]]; then
  cat >"$GRANTD_CONFIG" <<'TOML'
# Profiles this space's notebooks use; the first is the default.
[profiles.usera]
target = "s3://blog-access-grants-111122223333-us-east-1/UserA/*"
permission = "READWRITE"

[profiles.product]
target = "s3://blog-access-grants-111122223333-us-east-1/Product/*"
permission = "READ"
TOML
fi

# The daemon's settings, shared by the supervisor, `grantd env` and `grantd
# creds`. Written whole and renamed: a supervisor may be reading it.
tmp=$(mktemp "$CONF_DIR/daemon.env.XXXXXX")
cat >"$tmp" <<ENV
export GRANTD_BIN='$GRANTD_BIN'
export GRANTD_CONFIG='$GRANTD_CONFIG'
export GRANTD_TOKEN_FILE='$RUN_DIR/token'
export GRANTD_ADDR_FILE='$RUN_DIR/addr'
export GRANTD_LISTEN='${GRANTD_LISTEN:-127.0.0.1:7911}'
export GRANTD_IMDS='${GRANTD_IMDS:-false}'
RUN_DIR='$RUN_DIR'
ENV
[[ $GRANTD_MODE == s3 ]] &&
  echo "export GRANTD_S3_LISTEN='${GRANTD_S3_LISTEN:-127.0.0.1:7913}'" >>"$tmp"
mv -f -- "$tmp" "$CONF_DIR/daemon.env"
# shellcheck disable=SC1091
source "$CONF_DIR/daemon.env"
# A bad configuration is reported now, not restarted every minute.
"$GRANTD_BIN" check >/dev/null

# The supervisor: `grantd serve` as its child, restarted when it exits, after
# 1 s doubling to 60 s, back to 1 s once a daemon has run for a minute. It
# holds supervisor.lock for its life, so a second one exits at once; it stops
# the daemon and exits on SIGTERM/SIGINT (`supervise stop` sends it). The
# daemon keeps the token file, so a restarted daemon has the same token, and
# the port it bound (even with port 0), so clients find it where they did.
tmp=$(mktemp "$CONF_DIR/supervise.XXXXXX")
cat >"$tmp" <<'SUPERVISOR'
#!/usr/bin/env bash
# grantd's supervisor, written by deploy/studio-lifecycle.sh. `stop` stops it.
set -uo pipefail
# shellcheck disable=SC1091
source "$HOME/.config/grantd/daemon.env"
me=$HOME/.config/grantd/supervise
sup_pid=$RUN_DIR/supervisor.pid

# Whether the supervisor pid file names a live supervisor of ours (the pid
# may since belong to another process).
running() {
  local pid cmd
  pid=$(cat "$sup_pid" 2>/dev/null) && [[ $pid =~ ^[0-9]+$ ]] &&
    kill -0 "$pid" 2>/dev/null &&
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) &&
    [[ $cmd == *" $me "* ]] && echo "$pid"
}

if [[ ${1:-} == stop ]]; then
  pid=$(running) || exit 0
  kill -TERM "$pid"
  for ((i = 0; i < 300; i++)); do
    kill -0 "$pid" 2>/dev/null || exit 0
    sleep 0.1
  done
  echo "supervise: supervisor $pid did not stop in 30 s" >&2
  exit 1
fi

if command -v flock >/dev/null; then
  exec 8>"$RUN_DIR/supervisor.lock"
  flock -n 8 || exit 0
elif running >/dev/null; then
  exit 0
fi
echo $$ >"$sup_pid"
log() { echo "supervise: $(date -u +%FT%TZ) $*"; }

stopping=0
child=
on_stop() {
  stopping=1
  [[ -n $child ]] && kill -TERM "$child" 2>/dev/null
}
trap on_stop TERM INT
delay=1
started_once=0
while ((!stopping)); do
  # Restarts keep the address clients were given.
  if ((started_once)) && [[ $GRANTD_LISTEN == *:0 && -s $GRANTD_ADDR_FILE ]]; then
    GRANTD_LISTEN=$(cat "$GRANTD_ADDR_FILE")
  fi
  rm -f -- "$GRANTD_ADDR_FILE"
  # IMDS stays off: nothing here uses it (README: how to opt in). The locks
  # are not the daemon's to hold.
  "$GRANTD_BIN" serve </dev/null 8>&- 9>&- &
  child=$!
  echo "$child" >"$RUN_DIR/grantd.pid"
  started_once=1
  began=$SECONDS
  wait "$child"
  status=$?
  ((stopping)) && wait "$child" 2>/dev/null
  ((stopping)) && break
  ((SECONDS - began >= 60)) && delay=1
  log "grantd $child exited with status $status after $((SECONDS - began)) s; restarting in $delay s"
  sleep "$delay" &
  child=$!
  wait "$child"
  delay=$((delay * 2 > 60 ? 60 : delay * 2))
done
log "stopped"
rm -f -- "$RUN_DIR/grantd.pid" "$sup_pid" "$GRANTD_ADDR_FILE"
SUPERVISOR
mv -f -- "$tmp" "$CONF_DIR/supervise"
chmod 700 "$CONF_DIR/supervise"

# Whether a file names a live process whose command line contains $2.
alive() {
  local pid cmd
  pid=$(cat "$1" 2>/dev/null) && [[ $pid =~ ^[0-9]+$ ]] &&
    kill -0 "$pid" 2>/dev/null &&
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) && [[ $cmd == *"$2"* ]]
}
supervisor_running() { alive "$RUN_DIR/supervisor.pid" " $CONF_DIR/supervise "; }

if ! supervisor_running; then
  # A daemon left by a supervisor that was killed outright holds the port:
  # stop it, so that the files below can only name the new supervisor's.
  if alive "$RUN_DIR/grantd.pid" "$GRANTD_BIN serve "; then
    old=$(cat "$RUN_DIR/grantd.pid")
    echo "$me: stopping grantd $old, left by a supervisor that is gone" >&2
    kill -TERM "$old" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      kill -0 "$old" 2>/dev/null || break
      sleep 0.1
    done
  fi
  rm -f -- "$RUN_DIR/supervisor.pid" "$RUN_DIR/grantd.pid" "$GRANTD_ADDR_FILE"
  # The space's execution role (RELATIVE_URI) is the daemon's base identity.
  # fd 9 is closed for the supervisor, or it would hold our lock for its life.
  nohup setsid bash "$CONF_DIR/supervise" run >>"$RUN_DIR/grantd.log" 2>&1 </dev/null 9>&- &
fi

# Wait for our daemon's address file, so that `ready` cannot be answered by
# whoever else holds the port. A supervisor in its longest backoff restarts
# the daemon within 60 s.
for ((i = 0; i < 750; i++)); do
  if [[ -s $GRANTD_ADDR_FILE ]] && alive "$RUN_DIR/grantd.pid" "$GRANTD_BIN serve"; then break; fi
  ((i < 20)) || supervisor_running || break
  sleep 0.1
done
if [[ ! -s $GRANTD_ADDR_FILE ]]; then
  echo "$me: grantd did not start; last lines of $RUN_DIR/grantd.log:" >&2
  tail -n 20 "$RUN_DIR/grantd.log" >&2 || true
  exit 1
fi
"$GRANTD_BIN" ready --wait 90

# Shells: the client environment, with RELATIVE_URI removed. Written whole
# and renamed, so that a shell starting now reads the old file or the new one.
# In s3 mode: the execution role through grantd, S3 through its S3 endpoint
# (for rclone and Spark s3a too: a spark-defaults.conf of ours), no secret in
# any file.
if [[ $GRANTD_MODE == s3 ]]; then
  # Spark's own settings (a SageMaker image ships some) are kept.
  client_env=$("$GRANTD_BIN" env --s3 --spark-conf-dir "$CONF_DIR/spark")
else
  client_env=$("$GRANTD_BIN" env)
fi
tmp=$(mktemp "$CONF_DIR/client.env.XXXXXX")
printf '%s\n%s\n' "$client_env" \
  "export NO_PROXY=\"127.0.0.1,localhost\${NO_PROXY:+,\$NO_PROXY}\"" >"$tmp"
mv -f -- "$tmp" "$CONF_DIR/client.env"
line="[ -f '$CONF_DIR/client.env' ] && . '$CONF_DIR/client.env'"
grep -qxF "$line" "$HOME/.bashrc" 2>/dev/null || echo "$line" >>"$HOME/.bashrc"

# Notebook kernels inherit the Jupyter server's environment, not .bashrc:
# set the same variables when each IPython kernel starts. Processes a kernel
# starts (a local Spark session's JVM, whose SDK v1 reads only the token
# value) inherit them.
mkdir -p "$HOME/.ipython/profile_default/startup"
cat >"$HOME/.ipython/profile_default/startup/00-grantd.py" <<PY
import os, re
for _line in open("$CONF_DIR/client.env"):
    _m = re.match(r"export ([A-Z0-9_]+)='(.*)'$", _line.strip())
    if _m:
        os.environ[_m.group(1)] = _m.group(2)
os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = open(os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"]).read()
os.environ.pop("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", None)
os.environ["NO_PROXY"] = ",".join(filter(None, ["127.0.0.1,localhost", os.environ.get("NO_PROXY")]))
PY
echo "grantd ready ($GRANTD_MODE mode); new shells and notebook kernels use it (log: $RUN_DIR/grantd.log)"
