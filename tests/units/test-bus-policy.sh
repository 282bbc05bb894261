#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test-bus-policy.sh: dbus/org.zlayer.conf on a real dbus-daemon with a real daemon (zl-obsd):
# root may do everything, members of group zlayer may call every method, anyone else may only
# introspect, read properties and ping, and nobody but root may own an org.zlayer name. The
# policy is embedded once in a bus whose default policy is the system bus's (deny method calls)
# and once in a permissive one (what `zlctl local` builds), and must give the same answers in
# both. Also checks that dbus-daemon accepts the activation files. Root only. TAP output.
# Usage: test-bus-policy.sh DBUS_DAEMON POLICY_CONF ACTIVATION_DIR PATH/TO/zl-obsd
set -u
dbus_daemon=$1
policy=$2
activation_dir=$3
obsd=$4

name=org.zlayer.Observability1
path=/org/zlayer/Observability1
iface=org.zlayer.Daemon1

if [ "$(id -u)" -ne 0 ]; then
        echo "1..0 # SKIP needs root (setpriv to nobody, a temporary group)"
        exit 0
fi
for p in "$dbus_daemon" busctl dbus-send setpriv flock groupadd; do
        if ! command -v "$p" > /dev/null; then
                echo "1..0 # SKIP $p not installed"
                exit 0
        fi
done

. "$(dirname "${BASH_SOURCE[0]}")/../lib/tap.sh"

tmp=
bus_pid=
daemon_pid=
created_group=
cleanup() {
        local p
        for p in $daemon_pid $bus_pid; do
                kill "$p" 2> /dev/null && wait "$p" 2> /dev/null
        done
        [ -n "$created_group" ] && groupdel zlayer
        [ -n "$tmp" ] && rm -rf "$tmp"
}
trap cleanup EXIT

# The policy names group "zlayer". Create it if this machine has none, and hold a lock for the
# whole test so that a concurrent run (another build directory) cannot remove it under us.
exec 9> /run/lock/zlayer-test-bus-policy.lock || bail "cannot open lock file"
flock -w 300 9 || bail "another policy test held the lock for 300 s"
if ! getent group zlayer > /dev/null; then
        groupadd --system zlayer || bail "groupadd zlayer failed"
        created_group=1
fi
gid=$(getent group zlayer | cut -d: -f3)

# Everyone, including nobody, must reach the socket: a world-searchable directory.
tmp=$(mktemp -d /tmp/zl-policy.XXXXXX) || bail "mktemp failed"
chmod 0755 "$tmp"
sock=$tmp/bus.sock
addr=unix:path=$sock

# as WHO CMD...: run CMD as root, as nobody, or as nobody with group zlayer; output in $tmp/out.
as() {
        local who=$1
        shift
        case $who in
        root) "$@" ;;
        nobody) setpriv --reuid=nobody --regid=nogroup --clear-groups "$@" ;;
        member) setpriv --reuid=nobody --regid=nogroup --groups="$gid" "$@" ;;
        esac > "$tmp/out" 2>&1
}
# allowed WHO DESC CMD...: CMD succeeds.
allowed() {
        local who=$1 desc=$2
        shift 2
        if as "$who" "$@"; then
                ok "$mode: $who may $desc"
        else
                not_ok "$mode: $who may $desc" "$(cat "$tmp/out")"
        fi
}
# refused WHO DESC ERROR CMD...: CMD fails with the D-Bus error ERROR.
refused() {
        local who=$1 desc=$2 error=$3
        shift 3
        if as "$who" "$@"; then
                not_ok "$mode: $who may not $desc" "succeeded: $(cat "$tmp/out")"
        elif grep -q "^Error $error" "$tmp/out"; then
                ok "$mode: $who may not $desc"
        else
                not_ok "$mode: $who may not $desc" "wanted $error" "$(cat "$tmp/out")"
        fi
}
# Commands as arrays, not functions: setpriv must exec them.
send=(dbus-send --bus="$addr" --print-reply --reply-timeout=5000)
call=("${send[@]}" --dest="$name" "$path")
get_prop=(busctl --address="$addr" get-property "$name" "$path" "$iface")
request_name=("${send[@]}" --dest=org.freedesktop.DBus /org/freedesktop/DBus
        org.freedesktop.DBus.RequestName string:org.zlayer.Test1 uint32:0)

start_bus() {
        local base=$1
        {
                echo '<!DOCTYPE busconfig PUBLIC'
                echo ' "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"'
                echo ' "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">'
                echo '<busconfig>'
                echo '  <type>custom</type>'
                echo "  <listen>$addr</listen>"
                echo '  <auth>EXTERNAL</auth>'
                echo "  <servicedir>$activation_dir</servicedir>"
                echo '  <policy context="default">'
                echo '    <allow user="*"/>'
                if [ "$base" = system ]; then
                        # The default policy of /usr/share/dbus-1/system.conf.
                        echo '    <deny own="*"/>'
                        echo '    <deny send_type="method_call"/>'
                        echo '    <allow send_type="signal"/>'
                        echo '    <allow send_requested_reply="true" send_type="method_return"/>'
                        echo '    <allow send_requested_reply="true" send_type="error"/>'
                        echo '    <allow receive_type="method_call"/>'
                        echo '    <allow receive_type="method_return"/>'
                        echo '    <allow receive_type="error"/>'
                        echo '    <allow receive_type="signal"/>'
                        for i in org.freedesktop.DBus org.freedesktop.DBus.Introspectable \
                                org.freedesktop.DBus.Properties; do
                                echo "    <allow send_destination=\"org.freedesktop.DBus\"" \
                                        "send_interface=\"$i\"/>"
                        done
                else
                        echo '    <allow own="*"/>'
                        echo '    <allow send_destination="*" eavesdrop="true"/>'
                        echo '    <allow receive_sender="*"/>'
                fi
                echo '  </policy>'
                # The <policy> elements of the file under test, verbatim.
                sed -n '/^[[:space:]]*<policy[[:space:]>]/,/<\/policy>/p' "$policy"
                echo '</busconfig>'
        } > "$tmp/bus.conf"
        "$dbus_daemon" --config-file="$tmp/bus.conf" --nofork --nopidfile \
                > "$tmp/bus.log" 2>&1 &
        bus_pid=$!
        for _ in $(seq 100); do
                [ -S "$sock" ] && return 0
                kill -0 "$bus_pid" 2> /dev/null || break
                sleep 0.05
        done
        bail "$mode: dbus-daemon did not come up: $(cat "$tmp/bus.log")"
}

start_daemon() {
        rm -rf "$tmp/state" "$tmp/run"
        mkdir -p "$tmp/state" "$tmp/run"
        env -u NOTIFY_SOCKET -u WATCHDOG_USEC ZLAYER_BUS_ADDRESS="$addr" \
                ZLAYER_STATE_DIR="$tmp/state" ZLAYER_RUNTIME_DIR="$tmp/run" \
                ZLAYER_LOG_TARGET=stderr "$obsd" > "$tmp/daemon.log" 2>&1 &
        daemon_pid=$!
        local state=
        for _ in $(seq 100); do
                # No auto-start: activation would run the activation file's Exec=. (busctl
                # honours --auto-start only for `call`.)
                state=$(busctl --auto-start=no --address="$addr" call "$name" "$path" \
                        org.freedesktop.DBus.Properties Get ss "$iface" State 2> /dev/null)
                [ "$state" = 'v s "running"' ] && return 0
                kill -0 "$daemon_pid" 2> /dev/null || break
                sleep 0.05
        done
        bail "$mode: $name not running within 5 s (State: '$state'): $(cat "$tmp/daemon.log")"
}

# The daemon must exit 0 on SIGTERM (in a sanitizer build that also means no leak reports).
stop_all() {
        local rc
        kill -TERM "$daemon_pid"
        wait "$daemon_pid"
        rc=$?
        daemon_pid=
        if [ $rc -eq 0 ]; then
                ok "$mode: zl-obsd exits 0 on SIGTERM"
        else
                not_ok "$mode: zl-obsd exits 0 on SIGTERM" "exit $rc" \
                        "$(tail -n 30 "$tmp/daemon.log")"
        fi
        kill "$bus_pid" 2> /dev/null && wait "$bus_pid" 2> /dev/null
        bus_pid=
        rm -f "$sock"
}

denied=org.freedesktop.DBus.Error.AccessDenied

for mode in system permissive; do
        start_bus "$mode"
        start_daemon

        # dbus-daemon parsed the policy without complaint (an unknown group, a bad attribute
        # would be logged here) and the activation files. Not raising its fd limit is a
        # property of the machine (no CAP_SYS_RESOURCE), not of the configuration.
        complaints=$(grep -v 'Failed to set fd limit' "$tmp/bus.log")
        if [ -n "$complaints" ]; then
                not_ok "$mode: dbus-daemon loaded the policy silently" "$complaints"
        else
                ok "$mode: dbus-daemon loaded the policy silently"
        fi
        "${send[@]}" --dest=org.freedesktop.DBus /org/freedesktop/DBus \
                org.freedesktop.DBus.ListActivatableNames > "$tmp/out" 2>&1
        missing=
        for b in Runtime1 Network1 Proxy1 Scheduler1 Builder1 Api1 Observability1; do
                grep -q "\"org.zlayer.$b\"" "$tmp/out" || missing="$missing org.zlayer.$b"
        done
        if [ -z "$missing" ]; then
                ok "$mode: all seven names are activatable"
        else
                not_ok "$mode: all seven names are activatable" "missing:$missing" \
                        "$(cat "$tmp/out")"
        fi

        # root: everything.
        allowed root "read State" "${get_prop[@]}" State
        allowed root "call GetCounters" "${call[@]}" "$iface.GetCounters"
        if grep -q '"uptime_seconds"' "$tmp/out"; then
                ok "$mode: GetCounters returns uptime_seconds"
        else
                not_ok "$mode: GetCounters returns uptime_seconds" "$(cat "$tmp/out")"
        fi
        allowed root "set LogLevel" "${call[@]}" org.freedesktop.DBus.Properties.Set \
                string:"$iface" string:LogLevel variant:string:debug
        allowed root "call Reload" "${call[@]}" "$iface.Reload"

        # Anyone else: introspection, properties, ping.
        allowed nobody "introspect" busctl --address="$addr" introspect "$name" "$path"
        if grep -q "^$iface " "$tmp/out"; then
                ok "$mode: nobody sees $iface in the introspection"
        else
                not_ok "$mode: nobody sees $iface in the introspection" "$(cat "$tmp/out")"
        fi
        allowed nobody "read State" "${get_prop[@]}" State
        allowed nobody "read all properties" "${call[@]}" org.freedesktop.DBus.Properties.GetAll \
                string:"$iface"
        allowed nobody "ping" "${call[@]}" org.freedesktop.DBus.Peer.Ping
        refused nobody "call GetCounters" "$denied" "${call[@]}" "$iface.GetCounters"
        refused nobody "call Reload" "$denied" "${call[@]}" "$iface.Reload"
        refused nobody "set LogLevel" "$denied" "${call[@]}" org.freedesktop.DBus.Properties.Set \
                string:"$iface" string:LogLevel variant:string:err
        refused nobody "own an org.zlayer name" "$denied" "${request_name[@]}"
        allowed root "read LogLevel" "${get_prop[@]}" LogLevel
        if grep -qx 's "debug"' "$tmp/out"; then
                ok "$mode: LogLevel unchanged by the refused Set"
        else
                not_ok "$mode: LogLevel unchanged by the refused Set" "$(cat "$tmp/out")"
        fi

        # Group zlayer: every method; LogLevel stays root's (the daemon checks the uid itself).
        allowed member "call GetCounters" "${call[@]}" "$iface.GetCounters"
        allowed member "call Reload" "${call[@]}" "$iface.Reload"
        refused member "set LogLevel" org.zlayer.Error.PermissionDenied \
                "${call[@]}" org.freedesktop.DBus.Properties.Set \
                string:"$iface" string:LogLevel variant:string:err
        refused member "own an org.zlayer name" "$denied" "${request_name[@]}"

        # The daemon survived all of it.
        allowed root "read State after the refusals" "${get_prop[@]}" State
        stop_all
done

tap_done
