#!/usr/bin/env bash
# The README's run command, as a newcomer runs it, on a virtual desktop: starts
# `./dev run` under Xvfb with a private D-Bus session and no configuration, then
# checks that the demo came up the way the README promises — signed in as the
# demo agent, online, notifications live, an unread count, the tray icon drawn
# with it, and the first run's panel open in a process of its own — and that
# `chatbell quit` stops it all.
#
#   tests/demo-smoke.sh            (./dev test runs it; needs xvfb and dbus)
#
# Everything is waited for with a timeout; nothing is killed by process group.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN="$ROOT/target/debug/chatbell"

WORK=$(mktemp -d)
export XDG_RUNTIME_DIR="$WORK/run"
mkdir -m 700 "$XDG_RUNTIME_DIR"
export CHATBELL_DATA_DIR="$WORK/data" CHATBELL_CONFIG="$WORK/config.toml"
LOG="$WORK/run.log"
XVFB=
cleanup() {
    local rc=$?
    if [ $rc -ne 0 ]; then
        echo "demo smoke: FAILED; ./dev run said:" >&2
        tail -n 60 "$LOG" >&2 2>/dev/null || true
    fi
    [ -n "$XVFB" ] && kill "$XVFB" 2>/dev/null || true
    rm -rf "$WORK"
    exit $rc
}
trap cleanup EXIT

exec 3>"$WORK/display"
Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
XVFB=$!
for _ in $(seq 200); do [ -s "$WORK/display" ] && break; sleep 0.05; done
[ -s "$WORK/display" ] || { echo "demo smoke: Xvfb did not start" >&2; exit 1; }
export DISPLAY=":$(cat "$WORK/display")"

dbus-run-session -- bash -s "$ROOT" "$BIN" "$LOG" <<'INNER'
set -euo pipefail
ROOT=$1 BIN=$2 LOG=$3
fail() { echo "demo smoke: $*" >&2; exit 1; }
# Whether `./dev run` is still running (an exited, unreaped child is a zombie).
alive() { [ -r /proc/"$RUN"/stat ] && [ "$(sed 's/^.*) //' /proc/"$RUN"/stat | cut -c1)" != Z ]; }
# Polls `$@` every 0.2 s until it succeeds, for at most $1 seconds.
wait_for() {
    local secs=$1; shift
    local end=$((SECONDS + secs))
    until "$@"; do
        [ $SECONDS -lt $end ] || return 1
        alive || fail "./dev run stopped early"
        sleep 0.2
    done
}

# The desktop's tray host (a StatusNotifierWatcher): ChatBell registers with it.
WORK=$(dirname "$LOG")
/usr/bin/python3 "$ROOT/tests/sni-watcher.py" serve "$WORK/tray" >"$WORK/watcher.log" 2>&1 &
WATCHER=$!
for _ in $(seq 100); do [ -s "$WORK/tray.ready" ] && break; sleep 0.1; done
[ -s "$WORK/tray.ready" ] || { cat "$WORK/watcher.log" >&2; fail "the tray host did not start"; }

"$ROOT/dev" run >"$LOG" 2>&1 &
RUN=$!
stop_run() {
    # `./dev run` execs cargo, whose child is ChatBell: stop both by pid.
    local kids
    kids=$(cat /proc/"$RUN"/task/*/children 2>/dev/null || true)
    kill "$RUN" $kids 2>/dev/null || true
    kill "$WATCHER" 2>/dev/null || true
}
trap stop_run EXIT

# The first build can take minutes on a fresh machine.
answers() { [ -x "$BIN" ] && "$BIN" ping >/dev/null 2>&1; }
wait_for 1200 answers || fail "ChatBell never answered on its control socket"

status() { "$BIN" status --json; }
field() { python3 -c 'import json,sys; s=json.load(sys.stdin); print(eval(sys.argv[1], {}, {"s": s}))' "$1"; }
ready() {
    local s
    s=$(status) || return 1
    [ "$(field 's["connection"] == "online" and s["demo"] and len(s["notifications"]) > 0 and s["unread"] > 0' <<<"$s")" = True ]
}
wait_for 120 ready || { status >&2 || true; fail "the demo did not come online with notifications"; }

s=$(status)
agent=$(field 's["account"]["name"]' <<<"$s")
unread=$(field 's["unread"]' <<<"$s")
live=$(field 'len(s["notifications"])' <<<"$s")
[ "$agent" = "Dana Demo" ] || fail "signed in as ${agent:-nobody}, not the demo agent"
field 'all(n["id"] and n["kind"] and isinstance(n["actions"], list) for n in s["notifications"])' <<<"$s" | grep -qx True \
    || fail "a notification lacks its id, kind or actions"

# The demo org is a process of its own, ChatBell's child (`chatbell-emulator`;
# the kernel keeps 15 characters of a name).
children_named() {
    local parent=$1 name=$2 k
    for k in $(cat /proc/"$parent"/task/*/children 2>/dev/null); do
        [ "$(cat /proc/"$k"/comm 2>/dev/null)" = "$name" ] && echo "$k"
    done
    return 0
}
# `cargo run` either replaces itself with ChatBell or starts it as its child.
if [ "$(cat /proc/"$RUN"/comm 2>/dev/null)" = chatbell ]; then
    APP=$RUN
else
    APP=$(children_named "$RUN" chatbell | head -1)
fi
[ -n "$APP" ] || fail "no chatbell process under ./dev run"
EMU=$(children_named "$APP" chatbell-emulat | head -1)
[ -n "$EMU" ] || fail "the demo org is not a process of its own under ChatBell"

# The tray icon: registered by ChatBell's process, its image carried over D-Bus.
registered() { grep -q " $APP\$" "$WORK/tray"; }
wait_for 30 registered || fail "no tray item registered by ChatBell (pid $APP): $(cat "$WORK/tray" 2>/dev/null)"
read -r tray_bus tray_path _ < <(grep " $APP\$" "$WORK/tray" | tail -1)
item=$(/usr/bin/python3 "$ROOT/tests/sni-watcher.py" item "$tray_bus" "$tray_path") || fail "cannot read the tray item"
[ "$(field 's["Status"]' <<<"$item")" = Active ] || fail "the tray item is not active: $item"
[ -n "$(field 's["IconPixmap"]' <<<"$item")" ] || fail "the tray item has no image: $item"

# The first run opens the panel: a process of its own (`chatbell-panel`) with
# the web engine under it; ChatBell itself maps no web engine and no GTK.
panel_up() { [ -n "$(children_named "$APP" chatbell-panel)" ]; }
wait_for 60 panel_up || fail "the first run did not open the panel"
PANEL=$(children_named "$APP" chatbell-panel | head -1)
if grep -q -e webkit2gtk -e libgtk-3 /proc/"$APP"/maps; then
    fail "ChatBell's own process maps GTK or WebKit"
fi
gone() { [ ! -r /proc/"$1"/stat ] || [ "$(sed 's/^.*) //' /proc/"$1"/stat | cut -c1)" = Z ]; }

"$BIN" quit || fail "chatbell quit failed"
end=$((SECONDS + 20))
while alive; do
    [ $SECONDS -lt $end ] || fail "./dev run still running 20 s after chatbell quit"
    sleep 0.2
done
end=$((SECONDS + 10))
until gone "$EMU" && gone "$PANEL"; do
    [ $SECONDS -lt $end ] || fail "the demo org or the panel still runs 10 s after ChatBell quit"
    sleep 0.2
done
trap - EXIT
kill "$WATCHER" 2>/dev/null || true

# Killed outright, ChatBell takes its demo org with it (the org stops when its
# input, a pipe from ChatBell, closes).
"$BIN" >>"$LOG" 2>&1 &
APP=$!
up() { "$BIN" status --json 2>/dev/null | grep -q '"connection":"online"'; }
RUN=$APP
wait_for 60 up || fail "ChatBell did not start again"
EMU=$(children_named "$APP" chatbell-emulat | head -1)
[ -n "$EMU" ] || fail "no demo org under the second ChatBell"
kill -KILL "$APP"
wait "$APP" 2>/dev/null || true
end=$((SECONDS + 10))
until gone "$EMU"; do
    [ $SECONDS -lt $end ] || { kill "$EMU" 2>/dev/null; fail "the demo org outlived a killed ChatBell by 10 s"; }
    sleep 0.2
done
echo "demo smoke: ./dev run came up as $agent, online, $unread unread, $live live notifications, tray icon drawn ($item), the panel and the demo org processes of their own; chatbell quit stopped all three, and a killed ChatBell took its demo org with it"
INNER
