#!/usr/bin/env bash
# ChatBell's footprint on a desktop, as a contact centre's shared virtual
# desktop feels it. Against an emulated org (the emulator a process of its own,
# with the demo's simulated traffic; ChatBell configured for it and signed in
# with a device code), on Xvfb with a private D-Bus session and a tray host
# (tests/sni-watcher.py), so it needs no desktop. It prints:
#
#   - start to tray icon: from exec to the tray item registered by ChatBell;
#   - with the panel closed, after IDLE seconds idle: resident memory (RSS, PSS,
#     private dirty), CPU and wake-ups a second of ChatBell's process;
#   - the panel opened (`chatbell open`): time to its window, first and warm;
#   - with the panel open, after PANEL_IDLE seconds: the same figures for every
#     ChatBell process (ChatBell, the panel, the web engine's processes);
#   - the panel closed: every panel process gone and ChatBell's memory.
#
#   tests/footprint.sh [IDLE_SECONDS] [BINARY]   (default: 600 s, target/release/chatbell)
#
# PANEL_IDLE (default: IDLE) is the stretch with the panel open. The panel is
# `chatbell-panel` beside BINARY, or $CHATBELL_PANEL. FOOTPRINT_ORG=demo
# measures the demo instead (its org is ChatBell's child, not counted).
#
# Goals, with the panel closed: 300 ms or less to the tray icon, 30 MB or less
# resident (RSS), 0.05 % of one core or less, one wake-up a second or fewer;
# the panel opens in under 1 s warm and its memory is given back once it
# closes. Each figure is followed by whether it meets its goal; the script
# exits 1 if one does not. FOOTPRINT_TIMINGS=report leaves the two timings out
# of that (still printed); FOOTPRINT_GOALS=report, every goal. The wake-ups
# are also given by thread (the five that woke most).
set -euo pipefail
cd "$(dirname "$0")/.."
IDLE=${1:-600}
PANEL_IDLE=${PANEL_IDLE:-$IDLE}
BIN=${2:-target/release/chatbell}
[ -x "$BIN" ] || { echo "no $BIN: build it first (cargo build --release -p chatbell -p chatbell-emulator)" >&2; exit 2; }
BIN=$(realpath "$BIN")
PANEL_BIN=${CHATBELL_PANEL:-$(dirname "$BIN")/chatbell-panel}
[ -x "$PANEL_BIN" ] || { echo "no $PANEL_BIN: build it (cargo build -p chatbell-panel) or set CHATBELL_PANEL" >&2; exit 2; }
export CHATBELL_PANEL=$(realpath "$PANEL_BIN")

WORK=$(mktemp -d)
export XDG_RUNTIME_DIR="$WORK/run"; mkdir -m 700 "$XDG_RUNTIME_DIR"
export CHATBELL_DATA_DIR="$WORK/data" CHATBELL_CONFIG="$WORK/config.toml"
export CHATBELL_SYSTEM_CONFIG=
ORG=${FOOTPRINT_ORG:-emulator}
mkdir -p "$CHATBELL_DATA_DIR" && : >"$CHATBELL_DATA_DIR/first-run-done"
XVFB= EMU=
cleanup() {
    [ -n "$XVFB" ] && kill "$XVFB" 2>/dev/null || true
    [ -n "$EMU" ] && kill "$EMU" 2>/dev/null || true
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
Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
XVFB=$!
for _ in $(seq 100); do [ -s "$WORK/display" ] && break; sleep 0.05; done
export DISPLAY=":$(cat "$WORK/display")"

dbus-run-session -- bash -s "$BIN" "$IDLE" "$PANEL_IDLE" "$WORK" 2>"$WORK/session.log" <<'INNER'
set -euo pipefail
BIN=$1 IDLE=$2 PANEL_IDLE=$3 WORK=$4
ticks=$(getconf CLK_TCK)
say() { echo "footprint: $*"; }
# "meets" or "MISSES" for a figure and its goal (at most); a miss fails the run
# (written down in a file: these run in $(...), a subshell).
goal() {
    if awk -v v="$1" -v g="$2" 'BEGIN { exit !(v <= g) }'; then echo "meets the goal"; else
        echo "$1 > $2" >>"$WORK/missed"
        echo "MISSES the goal"
    fi
}
# The same for a time, which FOOTPRINT_TIMINGS=report only prints.
timing() {
    if awk -v v="$1" -v g="$2" 'BEGIN { exit !(v <= g) }'; then echo "meets the goal"; else
        [ "${FOOTPRINT_TIMINGS:-}" = report ] || echo "$1 ms > $2 ms" >>"$WORK/missed"
        echo "MISSES the goal"
    fi
}
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# The desktop's tray host: ChatBell's icon registers with it.
/usr/bin/python3 tests/sni-watcher.py serve "$WORK/tray" >"$WORK/watcher.log" 2>&1 &
WATCHER=$!
for _ in $(seq 100); do [ -s "$WORK/tray.ready" ] && break; sleep 0.05; done
[ -s "$WORK/tray.ready" ] || { echo "the tray host did not start"; cat "$WORK/watcher.log"; exit 1; }

start=$(now_ms)
"$BIN" --no-panel >"$CHATBELL_DATA_DIR.log" 2>&1 &
APP=$!
until grep -q " $APP\$" "$WORK/tray" 2>/dev/null; do
    kill -0 "$APP" 2>/dev/null || { echo "ChatBell stopped:"; cat "$CHATBELL_DATA_DIR.log"; exit 1; }
    [ $(( $(now_ms) - start )) -lt 30000 ] || { echo "no tray icon after 30 s"; exit 1; }
    sleep 0.002
done
tray_ms=$(( $(now_ms) - start ))

if [ "$ORG" = emulator ]; then
    # The agent signs in: the device code, approved at the emulator's sign-in page.
    code=""
    for _ in $(seq 600); do
        code=$("$BIN" signin 2>>"$CHATBELL_DATA_DIR.signin" | awk '{print $NF}') && [ -n "$code" ] && break
        sleep 0.1
    done
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
fi
for _ in $(seq 600); do
    "$BIN" status --json 2>/dev/null | grep -q '"connection":"online"' && break
    sleep 0.1
done
"$BIN" status --json | grep -q '"connection":"online"' || { echo "ChatBell did not come online"; tail -20 "$CHATBELL_DATA_DIR.log"; exit 1; }

# ChatBell and the processes it started, but not the demo's org (FOOTPRINT_ORG=demo).
tree() {
    local p=$1 c
    echo "$p"
    for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do
        [ "$(cat /proc/"$c"/comm 2>/dev/null)" = chatbell-emulat ] && continue
        tree "$c"
    done
}
cpu_ticks() {
    local sum=0 p
    for p in "$@"; do
        [ -r /proc/"$p"/stat ] || continue
        # utime and stime: fields 14 and 15 (after the command name in parentheses).
        set -- $(sed 's/^.*) //' /proc/"$p"/stat)
        sum=$(( sum + ${12} + ${13} ))
    done
    echo "$sum"
}
# $1: VmRSS from status, or a field of smaps_rollup (Pss, Private_Dirty); kB,
# summed over the other arguments.
mem_kb() {
    local key=$1 sum=0 p kb; shift
    for p in "$@"; do
        if [ "$key" = VmRSS ]; then
            kb=$(awk '/^VmRSS:/ {print $2}' /proc/"$p"/status 2>/dev/null || true)
        else
            kb=$(awk -v k="$key:" '$1 == k {print $2}' /proc/"$p"/smaps_rollup 2>/dev/null || true)
        fi
        sum=$(( sum + ${kb:-0} ))
    done
    echo "$sum"
}
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# Wake-ups: how many times the threads of the measured processes were put on a
# CPU (the third field of /proc/<pid>/task/<tid>/schedstat). Sampled every
# second, per thread, so that threads that come and go meanwhile (a blocking
# pool's) are counted too: a thread first seen counts from zero.
declare -A seen=() by_thread=()
woken=0
sample_wakeups() {
    local p t n tid name
    for p in "$@"; do
        for t in /proc/"$p"/task/*; do
            tid=${t##*/}
            n=$(cut -d' ' -f3 "$t/schedstat" 2>/dev/null) || continue
            [ -n "$n" ] || continue
            name=$(cat "$t/comm" 2>/dev/null) || continue
            woken=$(( woken + n - ${seen[$tid]:-0} ))
            by_thread[$name]=$(( ${by_thread[$name]:-0} + n - ${seen[$tid]:-0} ))
            seen[$tid]=$n
        done
    done
}
# The threads that woke most, by name: "name N, ...".
busiest_threads() {
    local name
    for name in "${!by_thread[@]}"; do echo "${by_thread[$name]} $name"; done |
        sort -rn | head -5 | awk '{ printf "%s%s %s", (NR > 1 ? ", " : ""), $2, $1 }'
}

# One idle stretch of $1 seconds over the processes `tree` finds then; sets
# cpu_pct, wake_s, wall_s and prints each process's memory.
measure() {
    local secs=$1 t0 t1 w0 w1 p procs
    procs=$(tree "$APP" | xargs)
    seen=(); woken=0
    sample_wakeups $procs; woken=0; by_thread=()
    t0=$(cpu_ticks $procs); w0=$(date +%s%N)
    for _ in $(seq "$secs"); do sleep 1; sample_wakeups $procs; done
    t1=$(cpu_ticks $procs); w1=$(date +%s%N)
    wall_s=$(awk -v a="$w0" -v b="$w1" 'BEGIN { printf "%.0f", (b - a) / 1e9 }')
    cpu_pct=$(awk -v t="$((t1 - t0))" -v hz="$ticks" -v a="$w0" -v b="$w1" 'BEGIN { printf "%.3f", 100 * (t / hz) / ((b - a) / 1e9) }')
    wake_s=$(awk -v k="$woken" -v a="$w0" -v b="$w1" 'BEGIN { printf "%.2f", k / ((b - a) / 1e9) }')
    for p in $procs; do
        say "  $(cat /proc/"$p"/comm 2>/dev/null) (pid $p): RSS $(mb "$(mem_kb VmRSS "$p")") MB, PSS $(mb "$(mem_kb Pss "$p")") MB, private dirty $(mb "$(mem_kb Private_Dirty "$p")") MB, $(ls /proc/"$p"/task | wc -l) threads"
    done
    measured=$procs
}

# The panel's window, mapped and viewable on the display.
panel_window() {
    local id
    for id in $(xwininfo -root -tree 2>/dev/null | awk '/"ChatBell": \("chatbell-panel"/ {print $1}'); do
        xwininfo -id "$id" 2>/dev/null | grep -q 'Map State: IsViewable' && return 0
    done
    return 1
}
panel_pids() {
    local c
    for c in $(cat /proc/"$APP"/task/*/children 2>/dev/null); do
        [ "$(cat /proc/"$c"/comm 2>/dev/null)" = chatbell-panel ] && tree "$c"
    done
    return 0
}
# `chatbell open`, then the time until the panel's window is up (ms).
open_panel() {
    local t
    t=$(now_ms)
    "$BIN" open >/dev/null
    until panel_window; do
        [ $(( $(now_ms) - t )) -lt 30000 ] || { echo "the panel did not open within 30 s"; tail -20 "$CHATBELL_DATA_DIR.log"; exit 1; }
        sleep 0.01
    done
    echo $(( $(now_ms) - t ))
}
# Closes the panel (its process told to stop, as a closed window ends it) and
# waits until every panel process is gone.
close_panel() {
    local top
    top=$(for c in $(cat /proc/"$APP"/task/*/children 2>/dev/null); do [ "$(cat /proc/"$c"/comm 2>/dev/null)" = chatbell-panel ] && echo "$c"; done)
    [ -n "$top" ] && kill $top
    for _ in $(seq 100); do [ -z "$(panel_pids)" ] && return 0; sleep 0.1; done
    echo "the panel's processes are still there 10 s after it was closed: $(panel_pids | xargs)"; exit 1
}

# 1. Start-up settles (first sync), then the idle stretch with the panel closed.
sleep 20
say "ChatBell alone, panel closed, ${IDLE} s idle:"
measure "$IDLE"
closed_rss=$(mem_kb VmRSS $measured); closed_pss=$(mem_kb Pss $measured); closed_dirty=$(mem_kb Private_Dirty $measured)
closed_cpu=$cpu_pct closed_wake=$wake_s closed_wall=$wall_s closed_procs=$(wc -w <<<"$measured")
closed_threads=$(busiest_threads)
if grep -q -e webkit2gtk -e libgtk-3 /proc/"$APP"/maps; then echo "GTK or WebKit" >>"$WORK/missed"; say "ChatBell's own process maps GTK or WebKit"; fi

# 2. The panel: opened (first and warm), left open, closed.
first_ms=$(open_panel)
sleep 5
close_panel
warm_ms=$(open_panel)
sleep 20
say "ChatBell and its open panel, ${PANEL_IDLE} s idle:"
measure "$PANEL_IDLE"
open_rss=$(mem_kb VmRSS $measured); open_pss=$(mem_kb Pss $measured); open_dirty=$(mem_kb Private_Dirty $measured)
open_cpu=$cpu_pct open_wake=$wake_s open_wall=$wall_s open_procs=$(wc -w <<<"$measured")
close_panel
sleep 5
after_rss=$(mem_kb VmRSS "$APP")
kill "$APP"; wait "$APP" 2>/dev/null || true
kill "$WATCHER" 2>/dev/null || true

say "$(nproc) cores, $(free -m | awk '/^Mem:/ {print $2}') MB, load $(cut -d' ' -f1-3 /proc/loadavg); ChatBell $(basename "$BIN") ($(du -h "$BIN" | cut -f1)), panel $CHATBELL_PANEL; org: $ORG"
say "start to tray icon: $tray_ms ms ($(timing "$tray_ms" 300): 300 ms)"
say "panel closed, after ${closed_wall} s idle ($closed_procs process):"
say "  resident: RSS $(mb "$closed_rss") MB ($(goal "$closed_rss" $((30 * 1024))): 30 MB), PSS $(mb "$closed_pss") MB, private dirty $(mb "$closed_dirty") MB"
say "  CPU: $closed_cpu % of one core ($(goal "$closed_cpu" 0.05): 0.05 %)"
say "  wake-ups: $closed_wake a second ($(goal "$closed_wake" 1): 1); by thread: $closed_threads"
say "panel opened: window up in $first_ms ms the first time, $warm_ms ms warm ($(timing "$warm_ms" 1000): under 1 s)"
say "panel open, after ${open_wall} s idle ($open_procs processes): RSS $(mb "$open_rss") MB, PSS $(mb "$open_pss") MB, private dirty $(mb "$open_dirty") MB; CPU $open_cpu % of one core; $open_wake wake-ups a second"
say "panel closed again: every panel process gone; ChatBell's RSS $(mb "$after_rss") MB 5 s later ($(goal "$after_rss" $((closed_rss + 2048))): back within 2 MB of $(mb "$closed_rss") MB)"
if [ -s "$WORK/missed" ]; then
    say "a goal was missed: $(xargs <"$WORK/missed")"
    [ "${FOOTPRINT_GOALS:-}" = report ] || exit 1
fi
INNER
