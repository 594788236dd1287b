# ChatBell's %preun (RPM package): on erase ($1 = 0), stop every running
# ChatBell, whoever runs it, so that no process of a removed package is left
# behind. An upgrade ($1 >= 1) leaves them running. Users' data and
# configuration and the administrator's /etc/chatbell are never touched here.
if [ "$1" = 0 ]; then
    pids=""
    for p in /proc/[0-9]*; do
        case "$(readlink "$p/exe" 2>/dev/null || true)" in
            /usr/bin/chatbell | "/usr/bin/chatbell (deleted)" | /usr/bin/chatbell-panel | "/usr/bin/chatbell-panel (deleted)") pids="$pids ${p#/proc/}" ;;
        esac
    done
    if [ -n "$pids" ]; then
        echo "Stopping ChatBell (process$pids)"
        for pid in $pids; do kill -TERM "$pid" 2>/dev/null || true; done
        i=0
        left="$pids"
        while [ -n "$left" ] && [ $i -lt 50 ]; do
            sleep 0.2
            i=$((i + 1))
            still=""
            for pid in $left; do
                st=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
                st=${st##*) }
                # an exited process waiting for its parent is done
                [ "${st%% *}" = Z ] || still="$still $pid"
            done
            left="$still"
        done
        for pid in $left; do kill -KILL "$pid" 2>/dev/null || true; done
    fi
fi
exit 0
