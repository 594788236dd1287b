#!/usr/bin/env bash
# The Debian package as an agent's desktop gets it. Installs the .deb that
# `./dev package` built (dpkg -i, then apt-get -f install for what it depends
# on), checks what it put on the machine, starts the installed
# /usr/bin/chatbell as at a first login, on a virtual desktop (Xvfb and a private
# D-Bus session with a tray host, tests/sni-watcher.py), and checks that it
# comes up: the demo online behind the first run's welcome, its tray item
# registered by this very process, the welcome's panel a process of its own
# (/usr/bin/chatbell-panel), updates left to the package manager. Then it
# removes the package while ChatBell runs, and checks that ChatBell stopped (and
# cleanly), that no ChatBell process is left, that the files are gone and that
# the agent's data is kept; last, it purges the package.
#
#   tests/package-smoke.sh PATH/TO/chatbell_VERSION_ARCH.deb
#
# Needs root or sudo (dpkg), xvfb, dbus, python3-dbus and python3-gi.
# Everything is waited for with a timeout; processes are stopped by their pid.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DEB=$(realpath "${1:?usage: tests/package-smoke.sh PATH/TO/chatbell_VERSION_ARCH.deb}")
[ -f "$DEB" ] || { echo "package smoke: no such package: $DEB" >&2; exit 2; }
SUDO=()
[ "$(id -u)" -eq 0 ] || SUDO=(sudo)
export DEBIAN_FRONTEND=noninteractive

fail() { echo "package smoke: $*" >&2; exit 1; }
installed() { dpkg-query -W -f='${Status}' chatbell 2>/dev/null | grep -q "install ok installed"; }
# The pids of every process running /usr/bin/chatbell (or its deleted file).
chatbell_pids() {
    local p exe
    for p in /proc/[0-9]*; do
        exe=$(readlink "$p/exe" 2>/dev/null) || continue
        case "$exe" in /usr/bin/chatbell | "/usr/bin/chatbell (deleted)") echo "${p#/proc/}" ;; esac
    done
}

WORK=$(mktemp -d)
XVFB=
cleanup() {
    local rc=$?
    if [ $rc -ne 0 ]; then
        echo "package smoke: FAILED; the desktop session and ChatBell said:" >&2
        tail -n 20 "$WORK/session.log" >&2 2>/dev/null || true
        tail -n 60 "$WORK/chatbell.log" >&2 2>/dev/null || true
    fi
    local pid
    for pid in $(cat "$WORK/chatbell.pid" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
    [ -n "$XVFB" ] && kill "$XVFB" 2>/dev/null || true
    if installed || dpkg-query -W chatbell >/dev/null 2>&1; then
        "${SUDO[@]}" dpkg --purge chatbell >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
    exit $rc
}
trap cleanup EXIT

started=$SECONDS
if installed; then
    echo "package smoke: a chatbell package is installed already: it is replaced, then removed" >&2
fi
[ -z "$(chatbell_pids)" ] || fail "a ChatBell from /usr/bin runs already ($(chatbell_pids | xargs)): stop it first"

# 1. Install, as an administrator does.
if ! "${SUDO[@]}" dpkg -i "$DEB" >"$WORK/dpkg.log" 2>&1; then
    "${SUDO[@]}" apt-get -f install -y -qq >>"$WORK/dpkg.log" 2>&1 || { cat "$WORK/dpkg.log" >&2; fail "apt-get -f install failed"; }
fi
installed || { cat "$WORK/dpkg.log" >&2; fail "chatbell is not installed after dpkg -i"; }
[ -x /usr/bin/chatbell ] || fail "no /usr/bin/chatbell"
depends=$(dpkg-query -W -f='${Depends}' chatbell)
for dep in libwebkit2gtk-4.1-0; do
    grep -q "$dep" <<<"$depends" || fail "the package does not depend on $dep: $depends"
done
# The tray icon is spoken over D-Bus: no appindicator library.
! grep -q appindicator <<<"$depends" || fail "the package still depends on an appindicator library: $depends"
entry=/usr/share/applications/chatbell.desktop
[ -f "$entry" ] || fail "no desktop entry at $entry"
# The menu entry opens the panel, which starts ChatBell if it is not running.
grep -qx 'Exec=chatbell-panel' "$entry" && grep -qx 'Icon=chatbell' "$entry" && grep -qx 'Name=ChatBell' "$entry" \
    || fail "the desktop entry does not start chatbell-panel with ChatBell's icon: $(cat "$entry")"
for prog in chatbell-panel chatbell-emulator; do [ -x "/usr/bin/$prog" ] || fail "no /usr/bin/$prog"; done
for size in 32x32 128x128 256x256 512x512; do
    [ -f "/usr/share/icons/hicolor/$size/apps/chatbell.png" ] || fail "no $size icon in the hicolor theme"
done
if command -v desktop-file-validate >/dev/null; then desktop-file-validate "$entry" || fail "the desktop entry is not valid"; fi
echo "package smoke: installed $(dpkg-query -W -f='${Package} ${Version}' chatbell) in $((SECONDS - started)) s"

# 2. Start it as a first login would, on a virtual desktop.
export XDG_RUNTIME_DIR="$WORK/run"
mkdir -m 700 "$XDG_RUNTIME_DIR"
export CHATBELL_DATA_DIR="$WORK/data" CHATBELL_CONFIG="$WORK/config/config.toml"
# This machine's own /etc/chatbell, if it has one, is not this test's.
export CHATBELL_SYSTEM_CONFIG=
exec 3>"$WORK/display"
Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
XVFB=$!
for _ in $(seq 200); do [ -s "$WORK/display" ] && break; sleep 0.05; done
[ -s "$WORK/display" ] || fail "Xvfb did not start"
export DISPLAY=":$(cat "$WORK/display")"

# The session bus's own chatter goes to session.log; the checks speak on stdout.
dbus-run-session -- bash -s "$ROOT" "$WORK" "${SUDO[@]}" 2>"$WORK/session.log" <<'INNER'
set -euo pipefail
ROOT=$1 WORK=$2
shift 2
SUDO=("$@")
fail() { echo "package smoke: $*"; exit 1; }
alive() { [ -r /proc/"$1"/stat ] && [ "$(sed 's/^.*) //' /proc/"$1"/stat | cut -c1)" != Z ]; }
# Polls `$@` every 0.2 s until it succeeds, for at most $1 seconds.
wait_for() {
    local secs=$1; shift
    local end=$((SECONDS + secs))
    until "$@"; do
        [ $SECONDS -lt $end ] || return 1
        [ -z "${APP:-}" ] || alive "$APP" || fail "ChatBell stopped early"
        sleep 0.2
    done
}

# The tray host first: ChatBell registers with it.
/usr/bin/python3 "$ROOT/tests/sni-watcher.py" serve "$WORK/tray" >"$WORK/watcher.log" 2>&1 &
WATCHER=$!
trap 'kill "$WATCHER" 2>/dev/null || true' EXIT
wait_for 20 test -s "$WORK/tray.ready" || { cat "$WORK/watcher.log" >&2; fail "the tray host did not start"; }

t0=$SECONDS
/usr/bin/chatbell >"$WORK/chatbell.log" 2>&1 &
APP=$!
echo "$APP" >"$WORK/chatbell.pid"
answers() { /usr/bin/chatbell ping >/dev/null 2>&1; }
wait_for 60 answers || fail "the installed ChatBell never answered on its control socket"

status() { /usr/bin/chatbell status --json; }
field() { /usr/bin/python3 -c 'import json,sys; s=json.load(sys.stdin); print(eval(sys.argv[1], {}, {"s": s}))' "$1"; }
ready() {
    local s
    s=$(status) || return 1
    [ "$(field 's["connection"] == "online" and s["demo"] and s["account"] is not None' <<<"$s")" = True ]
}
wait_for 120 ready || { status >&2 || true; fail "the demo did not come online"; }
s=$(status)
[ "$(field 's["account"]["name"]' <<<"$s")" = "Dana Demo" ] || fail "not signed in as the demo agent"
[ "$(field 's["welcome"]' <<<"$s")" = True ] || fail "the first run does not ask for the agent's Dynamics org"
up=$((SECONDS - t0))

# The tray item, registered by this process.
registered() { [ -s "$WORK/tray" ]; }
wait_for 30 registered || fail "no tray item registered with the StatusNotifierWatcher"
read -r bus path pid <"$WORK/tray"
[ "$pid" = "$APP" ] || fail "the tray item was registered by pid $pid, not ChatBell ($APP)"
item=$(/usr/bin/python3 "$ROOT/tests/sni-watcher.py" item "$bus" "$path") || fail "cannot read the tray item's properties"
[ "$(field 's["Status"]' <<<"$item")" = Active ] || fail "the tray item is not active: $item"

[ -n "$(field 's["IconPixmap"]' <<<"$item")" ] || fail "the tray item has no image: $item"

# The first run's panel: the installed chatbell-panel, a process of its own.
panel_pid() {
    for k in $(cat /proc/"$APP"/task/*/children 2>/dev/null); do
        [ "$(readlink /proc/"$k"/exe 2>/dev/null)" = /usr/bin/chatbell-panel ] && echo "$k"
    done
    return 0
}
panel_up() { [ -n "$(panel_pid)" ]; }
wait_for 60 panel_up || fail "the first run did not open the installed panel (/usr/bin/chatbell-panel)"
PANEL=$(panel_pid | head -1)

# Installed from a .deb: the package manager updates it, never ChatBell itself.
# (The panel's own log file: no colours)
in_deb() { grep -q 'updates: not in-app.*installed="deb"' "$CHATBELL_DATA_DIR"/logs/panel.log* 2>/dev/null; }
wait_for 30 in_deb || fail "the panel does not know it came in a .deb, or its in-app updater is on"

# 3. Remove the package while ChatBell runs: its prerm stops ChatBell.
"${SUDO[@]}" dpkg -r chatbell >"$WORK/remove.log" 2>&1 || { cat "$WORK/remove.log" >&2; fail "dpkg -r failed"; }
code=0
wait "$APP" || code=$?
[ "$code" = 0 ] || fail "ChatBell exited with $code when the package was removed (not a clean quit)"
grep -q "Stopping ChatBell" "$WORK/remove.log" || fail "the prerm did not stop ChatBell: $(cat "$WORK/remove.log")"
end=$((SECONDS + 10))
while alive "$PANEL"; do
    [ $SECONDS -lt $end ] || fail "the panel outlived ChatBell by 10 s"
    sleep 0.2
done
echo "package smoke: up in ${up} s (demo online, welcome shown, tray item $bus$path: $item); dpkg -r stopped it cleanly"
INNER

# 4. Nothing of it runs, its files are gone, the agent's data is kept.
left=$(chatbell_pids | xargs)
[ -z "$left" ] || fail "ChatBell still runs after dpkg -r: $left"
for prog in chatbell chatbell-panel chatbell-emulator; do
    [ ! -e "/usr/bin/$prog" ] || fail "/usr/bin/$prog is still there after dpkg -r"
done
[ ! -e /usr/share/applications/chatbell.desktop ] || fail "the desktop entry is still there after dpkg -r"
[ -f "$CHATBELL_DATA_DIR/first-run-done" ] && ls "$CHATBELL_DATA_DIR"/logs/chatbell.log* >/dev/null 2>&1 \
    || fail "the agent's data dir was not kept: $(ls -R "$CHATBELL_DATA_DIR" 2>&1)"
state() { dpkg-query -W -f='${Status}' chatbell 2>/dev/null || true; }
case "$(state)" in *config-files) "${SUDO[@]}" dpkg --purge chatbell >/dev/null ;; esac
case "$(state)" in "" | *not-installed) ;; *) fail "chatbell is still known to dpkg: $(state)" ;; esac
echo "package smoke: removed and purged; no ChatBell process left, the agent's data kept; $((SECONDS - started)) s in all"
