#!/usr/bin/env bash
# ChatBell's footprint on a desktop: time from start to tray icon, then resident
# memory (every ChatBell process, WebKit's included) and CPU after a stretch of
# idling with the panel closed. Runs the demo under Xvfb with a private D-Bus
# session, so it needs no desktop.
#
#   tests/footprint.sh [IDLE_SECONDS] [BINARY]     (default: 600 s, target/release/chatbell)
#
# Goals: under 500 ms to the tray icon, under 60 MB resident, under 0.2 % CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
IDLE=${1:-600}
BIN=${2:-target/release/chatbell}
[ -x "$BIN" ] || { echo "no $BIN: build it first (cargo build --release -p chatbell)" >&2; exit 2; }
BIN=$(realpath "$BIN")

WORK=$(mktemp -d)
export XDG_RUNTIME_DIR="$WORK/run"; mkdir -m 700 "$XDG_RUNTIME_DIR"
export CHATBELL_DATA_DIR="$WORK/data" CHATBELL_CONFIG="$WORK/config.toml"
# Not a first run: the first run opens the panel, this measures ChatBell without it.
mkdir -p "$CHATBELL_DATA_DIR" && : >"$CHATBELL_DATA_DIR/first-run-done"
cleanup() {
    [ -n "${XVFB:-}" ] && kill "$XVFB" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

exec 3>"$WORK/display"
Xvfb -displayfd 3 -screen 0 1280x800x24 >/dev/null 2>&1 &
XVFB=$!
for _ in $(seq 100); do [ -s "$WORK/display" ] && break; sleep 0.05; done
export DISPLAY=":$(cat "$WORK/display")"

dbus-run-session -- bash -s "$BIN" "$IDLE" <<'INNER'
set -euo pipefail
BIN=$1 IDLE=$2
ticks=$(getconf CLK_TCK)
start=$(date +%s%N)
"$BIN" >"$CHATBELL_DATA_DIR.log" 2>&1 &
APP=$!
while [ -z "$(ls "$XDG_RUNTIME_DIR/tray-icon" 2>/dev/null)" ]; do
    kill -0 "$APP" 2>/dev/null || { echo "ChatBell stopped:"; cat "$CHATBELL_DATA_DIR.log"; exit 1; }
    [ $(( ($(date +%s%N) - start) / 1000000 )) -lt 30000 ] || { echo "no tray icon after 30 s"; exit 1; }
    sleep 0.005
done
tray_ms=$(( ($(date +%s%N) - start) / 1000000 ))

# ChatBell and every process it started (WebKit's web and network processes).
tree() {
    local p=$1
    echo "$p"
    for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do tree "$c"; done
}
cpu_ticks() {
    local sum=0
    for p in $(tree "$APP"); do
        [ -r /proc/"$p"/stat ] || continue
        # utime and stime: fields 14 and 15 (after the command name in parentheses).
        set -- $(sed 's/^.*) //' /proc/"$p"/stat)
        sum=$(( sum + ${12} + ${13} ))
    done
    echo "$sum"
}
rss_kb() {
    local sum=0
    for p in $(tree "$APP"); do
        local kb
        kb=$(awk '/^VmRSS:/ {print $2}' /proc/"$p"/status 2>/dev/null || echo 0)
        sum=$(( sum + ${kb:-0} ))
    done
    echo "$sum"
}

# Let start-up settle (first sync, the demo's sign-in), then measure the idle stretch.
sleep 20
t0=$(cpu_ticks); w0=$(date +%s%N)
sleep "$IDLE"
t1=$(cpu_ticks); w1=$(date +%s%N)
rss=$(rss_kb)
for p in $(tree "$APP"); do echo "footprint:   $(tr "\0" " " < /proc/$p/cmdline | cut -c1-60) $(awk "/^VmRSS:/ {print \$2}" /proc/$p/status) kB"; done
procs=$(tree "$APP" | wc -l)
wall_s=$(awk -v a="$w0" -v b="$w1" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
cpu_pct=$(awk -v t="$((t1 - t0))" -v hz="$ticks" -v a="$w0" -v b="$w1" 'BEGIN { printf "%.3f", 100 * (t / hz) / ((b - a) / 1e9) }')
kill "$APP"; wait "$APP" 2>/dev/null || true

echo "footprint: $(nproc) cores, $(free -m | awk '/^Mem:/ {print $2}') MB, binary $(basename "$BIN"), demo mode, panel closed"
echo "footprint: start to tray icon: $tray_ms ms (goal: under 500 ms)"
echo "footprint: resident memory after ${wall_s} s idle: $((rss / 1024)) MB in $procs processes (goal: under 60 MB)"
echo "footprint: CPU while idle: $cpu_pct % of one core (goal: under 0.2 %)"
INNER
