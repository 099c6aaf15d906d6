#!/usr/bin/env bash
# SageMaker Studio space lifecycle configuration (JupyterLab / Code Editor):
# installs grantd, runs it under a supervisor with the space's execution
# role, and points every new shell, kernel and Spark session at it. At most
# 12,288 bytes (16,384 once base64-encoded, the API's limit). Settings
# (GRANTD_MODE, GRANTD_WHEEL, GRANTD_CONFIG, ...) and how it works:
# deploy/README.md. `bash ~/.config/grantd/supervise stop|reload`.
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

# A real directory (no symlink) of ours that nobody else can write.
private_dir() {
  [[ -e $1 || -L $1 ]] || mkdir -m 700 -- "$1" 2>/dev/null || true
  [[ -d $1 && ! -L $1 && -O $1 ]] && ((!(8#$(stat -c %a -- "$1") & 8#022))) &&
    chmod 700 -- "$1"
}

mkdir -p -- "$(dirname "$CONF_DIR")"
private_dir "$CONF_DIR" || {
  echo "$me: $CONF_DIR is not a private directory of $(id -un); grantd not started" >&2
  exit 1
}
# One run at a time, to the end of the script (without flock: pid checks).
if command -v flock >/dev/null; then
  exec 9>"$CONF_DIR/lock"
  flock -w 150 9 || {
    echo "$me: another run has held $CONF_DIR/lock for 150 s; giving up" >&2
    exit 1
  }
fi

# Install a wheel into our venv (again when GRANTD_WHEEL changes), or the binary from S3.
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

# The daemon's settings, for the supervisor and the grantd commands; renamed into place.
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
"$GRANTD_BIN" check >/dev/null

# The supervisor: restarts `grantd serve` with backoff (1 s doubling to 60 s)
# on the same address, and runs `grantd reload` when GRANTD_CONFIG changes.
tmp=$(mktemp "$CONF_DIR/supervise.XXXXXX")
cat >"$tmp" <<'SUPERVISOR'
#!/usr/bin/env bash
# grantd's supervisor, written by deploy/studio-lifecycle.sh. `stop` stops it.
set -uo pipefail
# shellcheck disable=SC1091
source "$HOME/.config/grantd/daemon.env"
me=$HOME/.config/grantd/supervise
sup_pid=$RUN_DIR/supervisor.pid

# The pid of a live supervisor of ours.
running() {
  local pid cmd
  pid=$(cat "$sup_pid" 2>/dev/null) && [[ $pid =~ ^[0-9]+$ ]] &&
    kill -0 "$pid" 2>/dev/null &&
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) &&
    [[ $cmd == *" $me "* ]] && echo "$pid"
}

conf_stamp() { stat -c '%y %s %i' -- "$GRANTD_CONFIG" 2>/dev/null || echo missing; }
log() { echo "supervise: $(date -u +%FT%TZ) $*"; }
reload() {
  if "$GRANTD_BIN" reload 8>&- 9>&-; then
    log "grantd reload: done"
  else
    log "grantd reload refused $GRANTD_CONFIG; the daemon keeps the configuration in force (grantd check lists the problems)"
    return 1
  fi
}

if [[ ${1:-} == reload ]]; then
  reload
  exit
fi

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
  if ((started_once)) && [[ $GRANTD_LISTEN == *:0 && -s $GRANTD_ADDR_FILE ]]; then
    GRANTD_LISTEN=$(cat "$GRANTD_ADDR_FILE")
  fi
  rm -f -- "$GRANTD_ADDR_FILE"
  "$GRANTD_BIN" serve </dev/null 8>&- 9>&- &
  child=$!
  echo "$child" >"$RUN_DIR/grantd.pid"
  started_once=1
  began=$SECONDS
  seen=$(conf_stamp)
  while ((!stopping)) && kill -0 "$child" 2>/dev/null; do
    sleep 2 8>&- &
    wait "$!"
    now=$(conf_stamp)
    if [[ $now != "$seen" ]] && ((!stopping)); then
      seen=$now
      log "$GRANTD_CONFIG changed; asking grantd to reload it"
      reload || true
    fi
  done
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

# Whether file $1 names a live process whose command line has $2.
alive() {
  local pid cmd
  pid=$(cat "$1" 2>/dev/null) && [[ $pid =~ ^[0-9]+$ ]] &&
    kill -0 "$pid" 2>/dev/null &&
    cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) && [[ $cmd == *"$2"* ]]
}
supervisor_running() { alive "$RUN_DIR/supervisor.pid" " $CONF_DIR/supervise "; }

if ! supervisor_running; then
  # A daemon left by a killed supervisor holds the port: stop it.
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
  # The execution role (RELATIVE_URI) is its base identity; fd 9 is our lock.
  nohup setsid bash "$CONF_DIR/supervise" run >>"$RUN_DIR/grantd.log" 2>&1 </dev/null 9>&- &
fi

# Our daemon's address file first, so no squatter answers `ready`.
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

# Shells: the client environment (RELATIVE_URI removed), renamed into place;
# no secret in any file. s3 mode: Spark s3a and rclone through the endpoint.
if [[ $GRANTD_MODE == s3 ]]; then
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
