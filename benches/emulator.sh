# shellcheck shell=bash
# Sourced by benches/load.sh and benches/profile.sh once BIN is set: a
# scratch directory and the built-in emulator on loopback (its address in
# EMU), both gone at exit. The daemon the caller starts goes in D_PID, so
# the same trap stops it; every process by its PID.
WORK=$(mktemp -d)
cleanup() { kill "${EMU_PID:-}" "${D_PID:-}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

"$BIN" emulate --listen 127.0.0.1:0 --addr-file "$WORK/emu.addr" 2>"$WORK/emu.log" &
EMU_PID=$!
for ((tries = 0; ; tries++)); do
  [[ -s $WORK/emu.addr ]] && break
  if ! kill -0 "$EMU_PID" 2>/dev/null || ((tries > 600)); then
    echo "the emulator did not start: $(tail -n 3 "$WORK/emu.log")" >&2
    exit 1
  fi
  sleep 0.05
done
# shellcheck disable=SC2034 # used by the script that sources this
EMU=$(cat "$WORK/emu.addr")
