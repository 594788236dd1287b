#!/usr/bin/env bash
# ChatBell's footprint on a desktop: time from start to tray icon, then resident
# memory (every ChatBell process, WebKit's included) and CPU after a stretch of
# idling with the panel closed. Runs the demo under Xvfb with a private D-Bus
# session, so it needs no desktop.
#
#   tests/footprint.sh [IDLE_SECONDS] [BINARY]     (default: 600 s, target/release/chatbell)
#
# FOOTPRINT_ORG=emulator measures ChatBell as it runs against a real org: the
# emulator (with the demo's simulated traffic) runs as a process of its own,
# ChatBell is configured for it and signs in with a device code; only
# ChatBell's processes are measured. The default is the built-in demo, which
# runs the emulator inside ChatBell.
#
# Goals (with the panel closed): 300 ms or less to the tray icon, 30 MB or
# less resident, 0.05 % of one core or less, one wake-up a second or fewer.
set -euo pipefail
cd "$(dirname "$0")/.."
IDLE=${1:-600}
BIN=${2:-target/release/chatbell}
[ -x "$BIN" ] || { echo "no $BIN: build it first (cargo build --release -p chatbell)" >&2; exit 2; }
BIN=$(realpath "$BIN")

WORK=$(mktemp -d)
export XDG_RUNTIME_DIR="$WORK/run"; mkdir -m 700 "$XDG_RUNTIME_DIR"
export CHATBELL_DATA_DIR="$WORK/data" CHATBELL_CONFIG="$WORK/config.toml"
ORG=${FOOTPRINT_ORG:-demo}
# Not a first run: the first run opens the panel, this measures ChatBell without it.
mkdir -p "$CHATBELL_DATA_DIR" && : >"$CHATBELL_DATA_DIR/first-run-done"
cleanup() {
    [ -n "${XVFB:-}" ] && kill "$XVFB" 2>/dev/null || true
    [ -n "${EMU:-}" ] && kill "$EMU" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

if [ "$ORG" = emulator ]; then
    EMU_BIN=$(dirname "$BIN")/chatbell-emulator
    [ -x "$EMU_BIN" ] || { echo "no $EMU_BIN: build it first (cargo build --release -p chatbell-emulator)" >&2; exit 2; }
    "$EMU_BIN" --listen 127.0.0.1:0 --seed demo --simulate >"$WORK/emulator.out" 2>&1 &
    EMU=$!
    for _ in $(seq 200); do grep -q '^authority:' "$WORK/emulator.out" 2>/dev/null && break; sleep 0.05; done
    EMU_URL=$(head -1 "$WORK/emulator.out")
    AUTHORITY=$(awk '/^authority:/ {print $2}' "$WORK/emulator.out")
    TENANT=${AUTHORITY##*/}
    printf '[dynamics]\nurl = "%s"\nauthority = "%s"\ntenant = "%s"\nclient_id = "chatbell-desktop"\n' \
        "$EMU_URL" "$EMU_URL" "$TENANT" >"$CHATBELL_CONFIG"
    export EMU_URL
fi
export ORG

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

if [ "$ORG" = emulator ]; then
    # The agent signs in: the device code, approved at the emulator's sign-in page.
    code=""
    t_sock=$(date +%s%N)
    for _ in $(seq 600); do
        code=$("$BIN" signin 2>>"$CHATBELL_DATA_DIR.signin" | awk '{print $NF}') && [ -n "$code" ] && break
        sleep 0.1
    done
    echo "footprint: signed-in prompt after $(( ($(date +%s%N) - t_sock) / 1000000 )) ms"
    [ -n "$code" ] || { echo "no device code:"; tail -3 "$CHATBELL_DATA_DIR.signin"; tail -20 "$CHATBELL_DATA_DIR.log"; exit 1; }
    python3 - "$EMU_URL" "$code" <<'PY'
import json, sys, urllib.error, urllib.request
url, code = sys.argv[1], sys.argv[2]
body = json.dumps({"user_code": code, "user": "demo.agent@chatbell.example"}).encode()
req = urllib.request.Request(url + "/_emulator/approve", body, {"Content-Type": "application/json"})
try:
    urllib.request.urlopen(req, timeout=10).read()
except urllib.error.HTTPError as e:
    sys.exit(f"approving the code {code!r}: {e}: {e.read().decode(errors='replace')}")
PY
    for _ in $(seq 300); do
        "$BIN" status --json 2>/dev/null | grep -q '"connection":"online"' && break
        sleep 0.1
    done
    "$BIN" status --json | grep -q '"connection":"online"' || { echo "did not sign in"; exit 1; }
fi

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

# Wake-ups: how many times the threads of ChatBell's processes were put on a
# CPU (the third field of /proc/<pid>/task/<tid>/schedstat). Sampled every
# second, per thread, so that threads that come and go meanwhile (a blocking
# pool's) are counted too: a thread first seen counts from zero.
declare -A seen=()
woken=0
sample_wakeups() {
    local p t n tid
    for p in $(tree "$APP"); do
        for t in /proc/"$p"/task/*; do
            tid=${t##*/}
            n=$(cut -d' ' -f3 "$t/schedstat" 2>/dev/null) || continue
            [ -n "$n" ] || continue
            woken=$(( woken + n - ${seen[$tid]:-0} ))
            seen[$tid]=$n
        done
    done
}

# Let start-up settle (first sync, the demo's sign-in), then measure the idle stretch.
sleep 20
sample_wakeups; woken=0
t0=$(cpu_ticks); w0=$(date +%s%N)
for _ in $(seq "$IDLE"); do sleep 1; sample_wakeups; done
t1=$(cpu_ticks); w1=$(date +%s%N)
rss=$(rss_kb)
# Beside RSS: the proportional share of shared pages, and what is ChatBell's own
# (private dirty: heap, stacks, written data; the rest is library and binary
# code and data, mapped from files and shared with other programs).
smaps_kb() {
    local sum=0
    for p in $(tree "$APP"); do
        local kb
        kb=$(awk -v k="$1:" '$1 == k {print $2}' /proc/"$p"/smaps_rollup 2>/dev/null || echo 0)
        sum=$(( sum + ${kb:-0} ))
    done
    echo "$sum"
}
pss=$(smaps_kb Pss)
dirty=$(smaps_kb Private_Dirty)
for p in $(tree "$APP"); do echo "footprint:   $(tr "\0" " " < /proc/$p/cmdline | cut -c1-60) $(awk "/^VmRSS:/ {print \$2}" /proc/$p/status) kB"; done
procs=$(tree "$APP" | wc -l)
wall_s=$(awk -v a="$w0" -v b="$w1" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
cpu_pct=$(awk -v t="$((t1 - t0))" -v hz="$ticks" -v a="$w0" -v b="$w1" 'BEGIN { printf "%.3f", 100 * (t / hz) / ((b - a) / 1e9) }')
wake_s=$(awk -v k="$woken" -v a="$w0" -v b="$w1" 'BEGIN { printf "%.2f", k / ((b - a) / 1e9) }')
kill "$APP"; wait "$APP" 2>/dev/null || true

echo "footprint: $(nproc) cores, $(free -m | awk '/^Mem:/ {print $2}') MB, binary $(basename "$BIN"), org: $ORG, panel closed"
echo "footprint: start to tray icon: $tray_ms ms (goal: 300 ms or less)"
echo "footprint: resident memory after ${wall_s} s idle: $((rss / 1024)) MB in $procs processes (goal: 30 MB or less with the panel closed); PSS $((pss / 1024)) MB, private dirty $((dirty / 1024)) MB"
echo "footprint: CPU while idle: $cpu_pct % of one core (goal: 0.05 % or less)"
echo "footprint: wake-ups while idle: $wake_s a second (goal: 1 or fewer)"
INNER
