# SPDX-License-Identifier: Apache-2.0
# tests/bus/lib.sh: fixtures for tests that drive real daemons on a private bus. Source it from
# bash; it defines TAP helpers, a private dbus-daemon, daemons started on it with their own
# directories and a NOTIFY_SOCKET listener, and waiting for names and properties.
#
#   . lib.sh
#   zl_test_setup                    # temp dir $ZL_TMP, removed (and everything stopped) on exit
#   zl_bus_start [POLICY.conf]       # private bus; exports ZLAYER_BUS_ADDRESS
#   zl_daemon_start NAME EXE [ARGS]  # NAME's pid in ZL_PID[NAME], dirs under $ZL_TMP/NAME/
#   zl_wait_state org.zlayer.Runtime1 /org/zlayer/Runtime1 running
#   zl_ok "description" / zl_not_ok "description" "diagnostic" / zl_check "description" cmd...
#   zl_done                          # prints the plan, exits 0 or 1
#
# Needs: dbus-daemon, busctl, python3 (for the notify listener). Callers use pipefail, so no
# `grep -q` at the end of a pipeline: its early exit makes the writer fail with SIGPIPE.

ZL_N=0
ZL_FAILED=0
ZL_TMP=
ZL_BUS_PID=
ZL_PYTHON=${ZL_PYTHON:-/usr/bin/python3}
declare -A ZL_PID=()
declare -a ZL_CLEANUP_PIDS=()

zl_ok() {
        ZL_N=$((ZL_N + 1))
        echo "ok $ZL_N - $1"
}

zl_not_ok() {
        ZL_N=$((ZL_N + 1))
        ZL_FAILED=$((ZL_FAILED + 1))
        echo "not ok $ZL_N - $1"
        shift
        local line
        for line in "$@"; do
                printf '%s\n' "$line" | sed 's/^/# /'
        done
}

# zl_check DESCRIPTION COMMAND...: ok if the command succeeds; its output becomes the diagnostic.
zl_check() {
        local desc=$1 out
        shift
        if out=$("$@" 2>&1); then
                zl_ok "$desc"
        else
                zl_not_ok "$desc" "command: $*" "$out"
        fi
}

# TAP's way to skip a whole test (meson counts it as skipped; exit 77 would be an error in TAP).
zl_skip_all() {
        echo "1..0 # SKIP $1"
        exit 0
}

zl_done() {
        echo "1..$ZL_N"
        [ "$ZL_FAILED" -eq 0 ]
        exit $?
}

# Stops everything we started: daemons first (TERM, then KILL after 5 s), then the bus.
zl_cleanup() {
        local pid i
        for pid in "${ZL_PID[@]}" "${ZL_CLEANUP_PIDS[@]}"; do
                kill -TERM "$pid" 2>/dev/null
        done
        for pid in "${ZL_PID[@]}" "${ZL_CLEANUP_PIDS[@]}"; do
                for i in $(seq 50); do
                        kill -0 "$pid" 2>/dev/null || break
                        sleep 0.1
                done
                kill -KILL "$pid" 2>/dev/null
                wait "$pid" 2>/dev/null
        done
        zl_bus_stop
        [ -n "$ZL_TMP" ] && rm -rf "$ZL_TMP"
}

zl_test_setup() {
        ZL_TMP=$(mktemp -d "${TMPDIR:-/tmp}/zl-bus-test.XXXXXX") || exit 1
        chmod 0755 "$ZL_TMP"
        trap zl_cleanup EXIT
        trap 'exit 130' INT TERM
}

# zl_bus_start [POLICY]: a private dbus-daemon listening on $ZL_TMP/bus.sock. Anyone may connect
# and, without POLICY, everyone may own and call everything (what the daemons themselves check is
# tested then). With POLICY (a busconfig file like dbus/org.zlayer.conf) its <policy> elements are
# embedded after the permissive default, as `zlctl local` does.
zl_bus_start() {
        local policy=${1:-} conf=$ZL_TMP/bus.conf out
        {
                cat <<CONF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "https://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>custom</type>
  <listen>unix:path=$ZL_TMP/bus.sock</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
    <allow eavesdrop="true"/>
  </policy>
CONF
                if [ -n "$policy" ]; then
                        "$ZL_PYTHON" - "$policy" <<'PY'
import sys
import xml.etree.ElementTree as ET
for p in ET.parse(sys.argv[1]).getroot().iter("policy"):
    print(ET.tostring(p, encoding="unicode"))
PY
                fi
                echo "</busconfig>"
        } > "$conf"
        out=$(dbus-daemon --config-file="$conf" --print-address=1 --print-pid=1 --fork) || return 1
        ZLAYER_BUS_ADDRESS=$(echo "$out" | sed -n 1p)
        ZL_BUS_PID=$(echo "$out" | sed -n 2p)
        ZLAYER_BUS_ADDRESS=${ZLAYER_BUS_ADDRESS%%,guid=*}
        export ZLAYER_BUS_ADDRESS
        [ -n "$ZL_BUS_PID" ]
}

zl_bus_stop() {
        if [ -n "$ZL_BUS_PID" ]; then
                kill -TERM "$ZL_BUS_PID" 2>/dev/null
                ZL_BUS_PID=
        fi
}

# zl_notify_listen FILE: a datagram socket at FILE.sock whose messages (sd_notify) are appended
# to FILE, one assignment per line. The listener is stopped by the cleanup.
zl_notify_listen() {
        local file=$1 sock=$1.sock i
        : > "$file"
        rm -f "$sock"
        "$ZL_PYTHON" -u - "$sock" "$file" > /dev/null 2>&1 <<'PY' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o777)
with open(sys.argv[2], "a") as f:
    while True:
        data = s.recv(4096)
        f.write(data.decode(errors="replace").rstrip("\n") + "\n")
        f.flush()
PY
        ZL_CLEANUP_PIDS+=($!)
        for i in $(seq 100); do
                [ -S "$sock" ] && return 0
                sleep 0.05
        done
        return 1
}

# zl_daemon_start NAME EXE [ARGS...]: starts EXE in the background on the private bus with state
# and runtime directories under $ZL_TMP/NAME/, stdout+stderr in $ZL_TMP/NAME/log and sd_notify
# messages in $ZL_TMP/NAME/notify. Extra environment can be given with `env` in EXE's place.
zl_daemon_start() {
        local name=$1 dir=$ZL_TMP/$1
        shift
        mkdir -p "$dir"
        zl_notify_listen "$dir/notify" || return 1
        NOTIFY_SOCKET=$dir/notify.sock "$@" --state-dir="$dir/state" --runtime-dir="$dir/run" \
                > "$dir/log" 2>&1 &
        ZL_PID[$name]=$!
}

# zl_wait_exit NAME [TIMEOUT_S]: waits for the daemon to exit; its status is in $ZL_STATUS.
zl_wait_exit() {
        local name=$1 timeout=${2:-10} pid=${ZL_PID[$1]} i
        for i in $(seq $((timeout * 20))); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.05
        done
        if kill -0 "$pid" 2>/dev/null; then
                ZL_STATUS=timeout
                return 1
        fi
        wait "$pid"
        ZL_STATUS=$?
        unset "ZL_PID[$name]"
        return 0
}

# zl_get_property BUSNAME PATH INTERFACE PROPERTY: the value as busctl prints it ("s \"running\"").
zl_get_property() {
        busctl --address="$ZLAYER_BUS_ADDRESS" get-property "$@" 2>&1
}

# zl_wait_state BUSNAME PATH STATE [TIMEOUT_S]: polls org.zlayer.Daemon1.State.
zl_wait_state() {
        local bus=$1 path=$2 want=$3 timeout=${4:-5} i
        for i in $(seq $((timeout * 20))); do
                [ "$(zl_get_property "$bus" "$path" org.zlayer.Daemon1 State)" = "s \"$want\"" ] &&
                        return 0
                sleep 0.05
        done
        return 1
}

# zl_wait_no_name BUSNAME [TIMEOUT_S]: polls until nobody owns BUSNAME.
zl_wait_no_name() {
        local i
        for i in $(seq $((${2:-5} * 20))); do
                busctl --address="$ZLAYER_BUS_ADDRESS" list --acquired --no-legend 2>/dev/null |
                        awk '{print $1}' | grep -xF "$1" > /dev/null || return 0
                sleep 0.05
        done
        return 1
}

# zl_wait_file_grep FILE REGEX [TIMEOUT_S]
zl_wait_file_grep() {
        local i
        for i in $(seq $((${3:-5} * 20))); do
                grep -qE "$2" "$1" 2>/dev/null && return 0
                sleep 0.05
        done
        return 1
}

# zl_wait_file_count FILE REGEX N [TIMEOUT_S]: waits until at least N lines of FILE match.
zl_wait_file_count() {
        local i
        for i in $(seq $((${4:-5} * 20))); do
                [ "$(grep -cE "$2" "$1" 2>/dev/null)" -ge "$3" ] && return 0
                sleep 0.05
        done
        return 1
}
