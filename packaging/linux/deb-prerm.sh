#!/bin/sh
# ChatBell's prerm (Debian package): on removal, stop every running ChatBell,
# whoever runs it, so that no process of a removed package is left behind.
# An upgrade leaves them running: the new version starts at their next login.
# Users' data and configuration (~/.local/share/chatbell, ~/.config/chatbell)
# and the administrator's /etc/chatbell are never touched here.
set -e

# Whether process $1 still runs (an exited one waiting for its parent is done).
running() {
    st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    st=${st##*) }
    [ "${st%% *}" != Z ]
}

stop_chatbell() {
    pids=""
    for p in /proc/[0-9]*; do
        case "$(readlink "$p/exe" 2>/dev/null || true)" in
            /usr/bin/chatbell | "/usr/bin/chatbell (deleted)" | /usr/bin/chatbell-panel | "/usr/bin/chatbell-panel (deleted)") pids="$pids ${p#/proc/}" ;;
        esac
    done
    [ -n "$pids" ] || return 0
    echo "Stopping ChatBell (process$pids)"
    # SIGTERM: ChatBell quits as from its tray menu.
    for pid in $pids; do kill -TERM "$pid" 2>/dev/null || true; done
    i=0
    while [ $i -lt 50 ]; do
        left=""
        for pid in $pids; do running "$pid" && left="$left $pid"; done
        [ -n "$left" ] || return 0
        sleep 0.2
        i=$((i + 1))
    done
    for pid in $left; do kill -KILL "$pid" 2>/dev/null || true; done
}

case "$1" in
    remove | deconfigure) stop_chatbell ;;
esac
exit 0
