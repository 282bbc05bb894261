#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tests/bus/test-daemons.sh: the seven daemons on a private bus: readiness, org.zlayer.Daemon1
# as documented (compared with the live introspection too), Reload and SIGHUP, LogLevel rules,
# the watchdog, a second instance, SIGTERM/SIGINT and losing the bus.
#
# usage: test-daemons.sh PYTHON CHECKER DBUS_DIR VERSION NAME=EXECUTABLE...
set -uo pipefail

ZL_PYTHON=$1 checker=$2 dbus_dir=$3 version=$4
shift 4
. "$(dirname "$0")/lib.sh"

for tool in dbus-daemon busctl dbus-send dbus-monitor setpriv; do
        command -v "$tool" > /dev/null || zl_skip_all "$tool is not installed"
done

declare -A exe=()
for a in "$@"; do
        exe[${a%%=*}]=${a#*=}
done

# daemon -> bus name suffix and directory name, as the bus contract fixes them.
declare -A suffix=([zl-runtimed]=Runtime1 [zl-netd]=Network1 [zl-proxyd]=Proxy1
                   [zl-schedd]=Scheduler1 [zl-buildd]=Builder1 [zl-apid]=Api1
                   [zl-obsd]=Observability1)
declare -A short=([zl-runtimed]=runtime [zl-netd]=network [zl-proxyd]=proxy
                  [zl-schedd]=scheduler [zl-buildd]=builder [zl-apid]=api
                  [zl-obsd]=observability)
names=(zl-runtimed zl-netd zl-proxyd zl-schedd zl-buildd zl-apid zl-obsd)
for n in "${names[@]}"; do
        [ -n "${exe[$n]:-}" ] || zl_not_ok "$n was built" "no executable given for $n"
done

zl_test_setup
if ! zl_bus_start; then
        zl_not_ok "a private dbus-daemon starts"
        zl_done
fi
zl_ok "a private dbus-daemon starts"
export ZLAYER_LOG_TARGET=stderr

busctl_() {
        busctl --address="$ZLAYER_BUS_ADDRESS" "$@"
}

# Everything about PropertiesChanged, for the checks below.
dbus-monitor --address "$ZLAYER_BUS_ADDRESS" \
        "type='signal',interface='org.freedesktop.DBus.Properties',member='PropertiesChanged'" \
        > "$ZL_TMP/monitor" 2>&1 &
ZL_CLEANUP_PIDS+=($!)
zl_wait_file_grep "$ZL_TMP/monitor" . 5 || true

# ---- all seven come up ------------------------------------------------------------------------
start_us=$(date +%s%6N)
for n in "${names[@]}"; do
        zl_daemon_start "$n" "${exe[$n]}"
done
for n in "${names[@]}"; do
        b=org.zlayer.${suffix[$n]} p=/org/zlayer/${suffix[$n]}
        if zl_wait_state "$b" "$p" running 10; then
                zl_ok "$n: owns $b and State is running"
        else
                zl_not_ok "$n: owns $b and State is running" "$(cat "$ZL_TMP/$n/log")"
        fi
done
up_us=$(date +%s%6N)
echo "# all seven running after $(((up_us - start_us) / 1000)) ms"

for n in "${names[@]}"; do
        b=org.zlayer.${suffix[$n]} p=/org/zlayer/${suffix[$n]} d=$ZL_TMP/$n

        if zl_wait_file_grep "$d/notify" '^READY=1$' 5 &&
           grep -q '^STATUS=Running.$' "$d/notify"; then
                zl_ok "$n: sent READY=1 and STATUS= to NOTIFY_SOCKET"
        else
                zl_not_ok "$n: sent READY=1 and STATUS= to NOTIFY_SOCKET" "$(cat "$d/notify")"
        fi

        busctl_ introspect --xml-interface "$b" "$p" > "$d/live.xml" 2>&1
        zl_check "$n: the live introspection of $p matches dbus/org.zlayer.Daemon1.xml" \
                "$ZL_PYTHON" "$checker" compare "$dbus_dir/org.zlayer.Daemon1.xml" "$d/live.xml"

        v=$(zl_get_property "$b" "$p" org.zlayer.Daemon1 Version)
        [ "$v" = "s \"$version\"" ] && zl_ok "$n: Version is $version" ||
                zl_not_ok "$n: Version is $version" "got: $v"

        t=$(zl_get_property "$b" "$p" org.zlayer.Daemon1 StartedAt)
        t=${t#t }
        if [[ "$t" =~ ^[0-9]+$ ]] && [ "$t" -ge $((start_us - 1000000)) ] &&
           [ "$t" -le "$up_us" ]; then
                zl_ok "$n: StartedAt is the start time in microseconds"
        else
                zl_not_ok "$n: StartedAt is the start time in microseconds" \
                        "got $t, expected between $start_us and $up_us"
        fi

        c=$(busctl_ --json=short call "$b" "$p" org.zlayer.Daemon1 GetCounters 2>&1)
        if "$ZL_PYTHON" - "$c" <<'PY'
import json, sys
reply = json.loads(sys.argv[1])
assert reply["type"] == "a{sd}", reply
counters = reply["data"][0]
for key in ("uptime_seconds", "bus_calls_total", "rss_bytes"):
    assert key in counters, f"{key} missing in {counters}"
assert 0 <= counters["uptime_seconds"] < 60, counters
assert counters["bus_calls_total"] >= 1, counters
assert 100000 < counters["rss_bytes"] < 1 << 30, counters
PY
        then
                zl_ok "$n: GetCounters returns uptime_seconds, bus_calls_total, rss_bytes"
        else
                zl_not_ok "$n: GetCounters returns uptime_seconds, bus_calls_total, rss_bytes" "$c"
        fi

        ok=1
        for dir in "$d/state/${short[$n]}" "$d/run/${short[$n]}"; do
                [ -d "$dir" ] && [ "$(stat -c %a "$dir")" = 700 ] || ok=0
        done
        [ $ok = 1 ] && zl_ok "$n: made its state and runtime directories, mode 0700" ||
                zl_not_ok "$n: made its state and runtime directories, mode 0700" \
                        "$(ls -la "$d/state" "$d/run" 2>&1)"
done

# ---- Daemon1 in detail, on zl-runtimed ---------------------------------------------------------
n=zl-runtimed b=org.zlayer.Runtime1 p=/org/zlayer/Runtime1 d=$ZL_TMP/zl-runtimed

calls() {
        busctl_ --json=short call "$b" "$p" org.zlayer.Daemon1 GetCounters |
                "$ZL_PYTHON" -c 'import json, sys
print(int(json.load(sys.stdin)["data"][0]["bus_calls_total"]))'
}
c1=$(calls) c2=$(calls)
[ -n "$c1" ] && [ "$c2" -gt "$c1" ] && zl_ok "bus_calls_total counts calls ($c1, then $c2)" ||
        zl_not_ok "bus_calls_total counts calls" "got '$c1' then '$c2'"

set_level() { # LEVEL [setpriv options...]: Properties.Set of LogLevel with dbus-send
        local level=$1
        shift
        "$@" dbus-send --bus="$ZLAYER_BUS_ADDRESS" --print-reply --dest="$b" "$p" \
                org.freedesktop.DBus.Properties.Set string:org.zlayer.Daemon1 string:LogLevel \
                "variant:string:$level" 2>&1
}

out=$(set_level debug)
v=$(zl_get_property "$b" "$p" org.zlayer.Daemon1 LogLevel)
[ "$v" = 's "debug"' ] && zl_ok "root sets LogLevel to debug" ||
        zl_not_ok "root sets LogLevel to debug" "$out" "LogLevel is now: $v"
if zl_wait_file_grep "$ZL_TMP/monitor" '"LogLevel"' 3 &&
   grep -A3 '"LogLevel"' "$ZL_TMP/monitor" | grep -F '"debug"' > /dev/null; then
        zl_ok "setting LogLevel emits PropertiesChanged"
else
        zl_not_ok "setting LogLevel emits PropertiesChanged" "$(cat "$ZL_TMP/monitor")"
fi

for bad in loud DEBUG emerg 7 ''; do
        out=$(set_level "$bad")
        want="Error org.zlayer.Error.InvalidArgument: Invalid log level '$bad'"
        if [[ "$out" == *"$want"* ]]; then
                zl_ok "LogLevel '$bad' is refused with org.zlayer.Error.InvalidArgument"
        else
                zl_not_ok "LogLevel '$bad' is refused with org.zlayer.Error.InvalidArgument" "$out"
        fi
done
v=$(zl_get_property "$b" "$p" org.zlayer.Daemon1 LogLevel)
[ "$v" = 's "debug"' ] && zl_ok "a refused LogLevel leaves the level alone" ||
        zl_not_ok "a refused LogLevel leaves the level alone" "LogLevel is now: $v"

# This bus lets everyone call everything: the refusal is the daemon's own check.
nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)
out=$(set_level info "${nobody[@]}")
if [[ "$out" == *"Error org.zlayer.Error.PermissionDenied: Only root may set LogLevel."* ]]; then
        zl_ok "a non-root caller may not set LogLevel (org.zlayer.Error.PermissionDenied)"
else
        zl_not_ok "a non-root caller may not set LogLevel (org.zlayer.Error.PermissionDenied)" \
                "$out"
fi
out=$("${nobody[@]}" busctl --address="$ZLAYER_BUS_ADDRESS" get-property "$b" "$p" \
        org.zlayer.Daemon1 State 2>&1)
[ "$out" = 's "running"' ] && zl_ok "a non-root caller reads State" ||
        zl_not_ok "a non-root caller reads State" "$out"
v=$(zl_get_property "$b" "$p" org.zlayer.Daemon1 LogLevel)
[ "$v" = 's "debug"' ] && zl_ok "LogLevel is still debug" ||
        zl_not_ok "LogLevel is still debug" "$v"
set_level info > /dev/null

before=$(grep -c '^RELOADING=1$' "$d/notify")
out=$(busctl_ call "$b" "$p" org.zlayer.Daemon1 Reload 2>&1)
if [ $? -eq 0 ] && [ "$(grep -c '^RELOADING=1$' "$d/notify")" -eq $((before + 1)) ] &&
   [ "$(tail -n 2 "$d/notify" | head -n 1)" = "READY=1" ]; then
        zl_ok "Reload() succeeds with RELOADING=1 then READY=1"
else
        zl_not_ok "Reload() succeeds with RELOADING=1 then READY=1" "$out" "$(cat "$d/notify")"
fi
v=$(zl_get_property "$b" "$p" org.zlayer.Daemon1 State)
[ "$v" = 's "running"' ] && zl_ok "State stays running after Reload()" ||
        zl_not_ok "State stays running after Reload()" "$v"

kill -HUP "${ZL_PID[$n]}"
if zl_wait_file_count "$d/notify" '^RELOADING=1$' $((before + 2)) 3 &&
   zl_wait_file_count "$d/notify" '^READY=1$' 3 3; then
        zl_ok "SIGHUP reloads: RELOADING=1, then READY=1"
else
        zl_not_ok "SIGHUP reloads: RELOADING=1, then READY=1" "$(cat "$d/notify")"
fi
zl_wait_state "$b" "$p" running 2 && zl_ok "State is running after SIGHUP" ||
        zl_not_ok "State is running after SIGHUP"

# A second instance does not get the name, says why, and exits 1 without touching anything.
mkdir -p "$ZL_TMP/second"
timeout 20 "${exe[$n]}" --state-dir="$ZL_TMP/second/state" --runtime-dir="$ZL_TMP/second/run" \
        > "$ZL_TMP/second/log" 2>&1
st=$?
if [ $st -eq 1 ] &&
   grep -q "Bus name 'org.zlayer.Runtime1' is already owned" "$ZL_TMP/second/log"; then
        zl_ok "a second instance exits 1: the name is taken"
else
        zl_not_ok "a second instance exits 1: the name is taken" "status $st" \
                "$(cat "$ZL_TMP/second/log")"
fi
zl_wait_state "$b" "$p" running 1 && zl_ok "the first instance still runs" ||
        zl_not_ok "the first instance still runs"

# ---- stopping --------------------------------------------------------------------------------
for n in "${names[@]}"; do
        [ "$n" = zl-obsd ] && continue
        b=org.zlayer.${suffix[$n]} d=$ZL_TMP/$n
        sig=TERM
        [ "$n" = zl-netd ] && sig=INT
        kill -$sig "${ZL_PID[$n]}"
        if zl_wait_exit "$n" 10 && [ "$ZL_STATUS" = 0 ]; then
                zl_ok "$n: SIG$sig makes it exit 0"
        else
                zl_not_ok "$n: SIG$sig makes it exit 0" "status $ZL_STATUS" "$(cat "$d/log")"
        fi
        zl_wait_no_name "$b" 5 && zl_ok "$n: $b is gone from the bus" ||
                zl_not_ok "$n: $b is gone from the bus"
        grep -q '^STOPPING=1$' "$d/notify" && zl_ok "$n: sent STOPPING=1" ||
                zl_not_ok "$n: sent STOPPING=1" "$(cat "$d/notify")"
done
if grep -B2 -A8 '"State"' "$ZL_TMP/monitor" | grep -F '"stopping"' > /dev/null; then
        zl_ok "State=stopping is announced with PropertiesChanged"
else
        zl_not_ok "State=stopping is announced with PropertiesChanged" "$(cat "$ZL_TMP/monitor")"
fi

# ---- the watchdog, on a fresh zl-obsd ---------------------------------------------------------
n=zl-obsd b=org.zlayer.Observability1 p=/org/zlayer/Observability1
kill -TERM "${ZL_PID[$n]}"
zl_wait_exit "$n" 10
rm -rf "$ZL_TMP/$n"
zl_daemon_start "$n" env WATCHDOG_USEC=200000 "${exe[$n]}"
zl_wait_state "$b" "$p" running 10
sleep 0.5
w=$(grep -c '^WATCHDOG=1$' "$ZL_TMP/$n/notify")
[ "$w" -ge 2 ] && zl_ok "with WATCHDOG_USEC=200000 it sends WATCHDOG=1 ($w in 0.5 s)" ||
        zl_not_ok "with WATCHDOG_USEC=200000 it sends WATCHDOG=1" "$(cat "$ZL_TMP/$n/notify")"

# ---- losing the bus ------------------------------------------------------------------------------
zl_bus_stop
if zl_wait_exit "$n" 10 && [ "$ZL_STATUS" = 1 ] &&
   grep -q "Lost the connection to the bus" "$ZL_TMP/$n/log"; then
        zl_ok "losing the bus makes it exit 1 and say so"
else
        zl_not_ok "losing the bus makes it exit 1 and say so" "status $ZL_STATUS" \
                "$(cat "$ZL_TMP/$n/log")"
fi

# ---- no bus at all -----------------------------------------------------------------------------
mkdir -p "$ZL_TMP/nobus"
ZLAYER_BUS_ADDRESS=unix:path=$ZL_TMP/nobus/none.sock timeout 20 "${exe[zl-apid]}" \
        --state-dir="$ZL_TMP/nobus/state" --runtime-dir="$ZL_TMP/nobus/run" \
        > "$ZL_TMP/nobus/log" 2>&1
st=$?
want="Failed to connect to the bus at 'unix:path=$ZL_TMP/nobus/none.sock'"
if [ $st -eq 1 ] && grep -qF "$want" "$ZL_TMP/nobus/log"; then
        zl_ok "without a bus it exits 1 with a clear message"
else
        zl_not_ok "without a bus it exits 1 with a clear message" "status $st" \
                "$(cat "$ZL_TMP/nobus/log")"
fi

zl_done
