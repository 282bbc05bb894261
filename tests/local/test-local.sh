#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test-local.sh: a local node end to end: `zlctl local start` brings up the private bus and the
# seven daemons, `zlctl status` and `zlctl local status` show them, kill -9 of a daemon or of the
# bus is repaired, start is idempotent, `stop` leaves no process or socket, a daemon that fails
# at start is reported with its log, and the supervisor runs clean under valgrind. TAP output.
# Usage: test-local.sh PATH/TO/zlctl BUILDDIR
set -u
zlctl=$1
build=$2
. "$(dirname "${BASH_SOURCE[0]}")/../lib/tap.sh"

check() { local name=$1; shift; if "$@"; then ok "$name"; else not_ok "$name"; fi; }
ms() { echo $(( $(date +%s%N) / 1000000 )); }

for tool in dbus-daemon busctl python3; do
        if ! command -v "$tool" >/dev/null; then
                echo "1..0 # SKIP $tool is not installed"
                exit 0
        fi
done

tmp=$(mktemp -d /tmp/zl-local.XXXXXX)
# A node of an unprivileged user needs a directory that user can reach.
utmp=$(mktemp -d /tmp/zl-local-user.XXXXXX)
chmod 755 "$utmp"
nodes=("$tmp/node" "$tmp/failing" "$tmp/valgrind" "$utmp/node")

# Every process that belongs to a node directory: the daemons by their environment, the bus by
# its configuration, the supervisor by its command line. Zombies hold nothing and are skipped.
node_pids() {
        local dir=$1 f pid
        {
                grep -lszxF "ZLAYER_STATE_DIR=$dir/state" /proc/[0-9]*/environ
                grep -lszxF -e "--config-file=$dir/bus.conf" -e "--state-dir=$dir" -e "$dir" /proc/[0-9]*/cmdline
        } | sort -u | while read -r f; do
                pid=${f#/proc/}
                pid=${pid%%/*}
                [ "$pid" = $$ ] && continue
                grep -qs '^State:.*[ZX]' "/proc/$pid/status" && continue
                [ -e "/proc/$pid" ] && echo "$pid"
        done
}

cleanup() {
        local d pid
        for d in "${nodes[@]}"; do
                [ -d "$d" ] || continue
                "$zlctl" local stop --state-dir "$d" >/dev/null 2>&1
                for pid in $(node_pids "$d"); do kill -9 "$pid" 2>/dev/null; done
        done
        rm -rf "$tmp" "$utmp"
}
trap cleanup EXIT

alive() { [ -e "/proc/$1" ] && ! grep -q '^State:.*[ZX]' "/proc/$1/status" 2>/dev/null; }

# json_get FILE PYTHON-EXPRESSION-ON-j
json_get() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"; }

dir=${nodes[0]}
addr="unix:path=$dir/bus.sock"

# ---- start ------------------------------------------------------------------------------------
t0=$(ms)
"$zlctl" local start --state-dir "$dir" > "$tmp/start.out" 2> "$tmp/start.err"
rc=$?
t1=$(ms)
if [ $rc -eq 0 ]; then ok "local start exits 0"; else not_ok "local start exits 0" "exit $rc" "$(cat "$tmp/start.err")"; fi
echo "# local start: bus and seven daemons ready in $((t1 - t0)) ms"
check "start prints the export line" grep -qxF "export ZLAYER_BUS_ADDRESS=$addr" "$tmp/start.out"
check "bus-address file holds the address" grep -qxF "$addr" "$dir/bus-address"
check "the state directory is 0700" test "$(stat -c %a "$dir")" = 700
found=$(node_pids "$dir" | wc -l)
check "the /proc scan finds the supervisor, the bus and the daemons ($found)" test "$found" -eq 9

busctl --address="$addr" list --no-pager --acquired > "$tmp/names" 2>&1
names=$(grep -c '^org\.zlayer\.' "$tmp/names")
if [ "$names" -eq 7 ] && [ $((t1 - t0)) -lt 5000 ]; then
        ok "seven names on the bus within 5 s ($((t1 - t0)) ms)"
else
        not_ok "seven names on the bus within 5 s" "$names names after $((t1 - t0)) ms" "$(cat "$tmp/names")"
fi

busctl --address="$addr" introspect org.zlayer.Runtime1 /org/zlayer/Runtime1 > "$tmp/introspect" 2>&1
check "introspect shows org.zlayer.Daemon1" grep -q '^org\.zlayer\.Daemon1 ' "$tmp/introspect"
check "introspect shows the State property" grep -q '^\.State ' "$tmp/introspect"
# zl-netd runs beside zl-runtimed, which attaches the node's containers through it (networking
# itself is tested in tests/netd/test-runtime-netd.sh, in namespaces of its own).
ZLAYER_BUS_ADDRESS=$addr "$zlctl" network status > "$tmp/netstatus" 2>&1
check "zlctl network status answers from the node's zl-netd" grep -q '^Attached  *0$' "$tmp/netstatus"

# ---- zlctl status -----------------------------------------------------------------------------
ZLAYER_BUS_ADDRESS=$addr "$zlctl" status > "$tmp/status" 2>&1
rc=$?
running=$(grep -c ' running ' "$tmp/status")
if [ $rc -eq 0 ] && [ "$running" -eq 7 ]; then ok "zlctl status lists seven running daemons"; else not_ok "zlctl status lists seven running daemons" "exit $rc" "$(cat "$tmp/status")"; fi
check "zlctl status has the table header" grep -q '^DAEMON  *BUS NAME  *VERSION  *STATE  *UPTIME$' "$tmp/status"
check "zlctl status names the bus" grep -qF "Node on $addr (\$ZLAYER_BUS_ADDRESS):" "$tmp/status"

ZLAYER_BUS_ADDRESS=$addr "$zlctl" status --output json > "$tmp/status.json" 2>&1
rc=$?
v=$(json_get "$tmp/status.json" '",".join(sorted(set(d["state"] for d in j["daemons"])))+"/"+str(len(j["daemons"]))+"/"+str(all(d["version"] and d["uptime_usec"] is not None for d in j["daemons"]))' 2>&1)
if [ $rc -eq 0 ] && [ "$v" = "running/7/True" ]; then ok "zlctl status --output json"; else not_ok "zlctl status --output json" "exit $rc: $v" "$(cat "$tmp/status.json")"; fi

"$zlctl" status -o yaml > /dev/null 2> "$tmp/err"
check "zlctl status rejects an unknown format with exit 2" test $? -eq 2

# ---- zlctl local status -----------------------------------------------------------------------
"$zlctl" local status --state-dir "$dir" > "$tmp/lstatus" 2>&1
rc=$?
ready=$(grep -c ' ready ' "$tmp/lstatus")
if [ $rc -eq 0 ] && [ "$ready" -eq 8 ]; then ok "local status: bus and seven daemons ready"; else not_ok "local status: bus and seven daemons ready" "exit $rc" "$(cat "$tmp/lstatus")"; fi
check "local status has the table header" grep -q '^PROCESS  *PID  *STATE  *UPTIME  *RESTARTS  *LAST EXIT$' "$tmp/lstatus"

"$zlctl" local status --state-dir "$dir" -o json > "$tmp/lstatus.json" 2>&1
v=$(json_get "$tmp/lstatus.json" 'str(j["running"])+"/"+str(len(j["processes"]))+"/"+",".join(sorted(set(p["state"] for p in j["processes"])))')
check "local status --output json ($v)" test "$v" = "True/8/ready"
sup=$(cat "$dir/launcher.pid")
check "launcher.pid names a live supervisor" alive "$sup"

# ---- idempotent start -------------------------------------------------------------------------
"$zlctl" local start --state-dir "$dir" > "$tmp/start2.out" 2> "$tmp/start2.err"
rc=$?
if [ $rc -eq 0 ] && grep -qxF "export ZLAYER_BUS_ADDRESS=$addr" "$tmp/start2.out" && grep -q 'already running' "$tmp/start2.err"; then
        ok "a second start says it is running and prints the same export line"
else
        not_ok "a second start is idempotent" "exit $rc" "$(cat "$tmp/start2.out" "$tmp/start2.err")"
fi
check "the supervisor is the same after the second start" test "$(cat "$dir/launcher.pid")" = "$sup"

# ---- kill -9 of a daemon ------------------------------------------------------------------------
old=$(json_get "$tmp/lstatus.json" '[p["pid"] for p in j["processes"] if p["name"]=="zl-runtimed"][0]')
kill -9 "$old"
t0=$(ms)
state=""
while [ $(( $(ms) - t0 )) -lt 10000 ]; do
        state=$(busctl --address="$addr" get-property org.zlayer.Runtime1 /org/zlayer/Runtime1 org.zlayer.Daemon1 State 2>/dev/null)
        [ "$state" = 's "running"' ] && break
        sleep 0.05
done
t1=$(ms)
if [ "$state" = 's "running"' ] && [ $((t1 - t0)) -lt 3000 ]; then
        ok "zl-runtimed restarted after kill -9 and running again in $((t1 - t0)) ms"
else
        not_ok "zl-runtimed restarted within 3 s after kill -9" "state '$state' after $((t1 - t0)) ms" "$(tail -5 "$dir/launcher.log")"
fi
"$zlctl" local status --state-dir "$dir" -o json > "$tmp/lstatus2.json" 2>&1
v=$(json_get "$tmp/lstatus2.json" '[(p["pid"]!='"$old"', p["restarts"], p["last_exit"]) for p in j["processes"] if p["name"]=="zl-runtimed"][0]')
check "local status shows the restart ($v)" test "$v" = "(True, 1, 'signal=SIGKILL')"

# ---- kill -9 of the bus -------------------------------------------------------------------------
buspid=$(json_get "$tmp/lstatus2.json" '[p["pid"] for p in j["processes"] if p["name"]=="dbus-daemon"][0]')
kill -9 "$buspid"
t0=$(ms)
rc=1
while [ $(( $(ms) - t0 )) -lt 20000 ]; do
        sleep 0.1
        ZLAYER_BUS_ADDRESS=$addr "$zlctl" status > "$tmp/status2" 2>&1 && { rc=0; break; }
done
if [ $rc -eq 0 ]; then ok "after kill -9 of the bus, all seven run again ($(( $(ms) - t0 )) ms)"; else not_ok "after kill -9 of the bus, all seven run again" "$(cat "$tmp/status2")" "$(tail -20 "$dir/launcher.log")"; fi

# ---- stop ---------------------------------------------------------------------------------------
"$zlctl" local status --state-dir "$dir" -o json > "$tmp/lstatus3.json" 2>&1
pids="$sup $(json_get "$tmp/lstatus3.json" '" ".join(str(p["pid"]) for p in j["processes"])')"
"$zlctl" local stop --state-dir "$dir" > "$tmp/stop.out" 2> "$tmp/stop.err"
rc=$?
if [ $rc -eq 0 ]; then ok "local stop exits 0"; else not_ok "local stop exits 0" "exit $rc" "$(cat "$tmp/stop.err")"; fi
check "stop printed no warning" test ! -s "$(grep -l -i 'warning\|still running\|left-over' "$tmp/stop.err" 2>/dev/null || echo /dev/null)"
left=""
for pid in $pids; do alive "$pid" && left="$left $pid"; done
check "no process of the node is left, by PID ($pids)" test -z "$left"
left=$(node_pids "$dir")
check "no process refers to the node directory ($left)" test -z "$left"
check "no bus socket left" test ! -e "$dir/bus.sock"
check "no notification socket left" test ! -e "$dir/notify.sock"
check "no PID file left" test ! -e "$dir/launcher.pid"
check "no mount under the node directory" test -z "$(grep -F " $dir" /proc/self/mountinfo)"
check "the daemons' logs stay" test -s "$dir/log/zl-runtimed.log"
check "the supervisor exited cleanly, with no sanitizer report" test -z "$(grep -E 'Sanitizer|runtime error|Event loop failed' "$dir/launcher.log")" -a -n "$(grep -F "Supervisor $sup stopped." "$dir/launcher.log")"

"$zlctl" local stop --state-dir "$dir" > /dev/null 2> "$tmp/stop2.err"
rc=$?
check "stop when stopped exits 0 and says so" test $rc -eq 0 -a -n "$(grep 'No local node' "$tmp/stop2.err")"
"$zlctl" local status --state-dir "$dir" > "$tmp/lstatus4" 2>&1
rc=$?
check "local status when stopped exits 1" test $rc -eq 1 -a -n "$(grep 'No local node' "$tmp/lstatus4")"
ZLAYER_BUS_ADDRESS=$addr "$zlctl" status > "$tmp/status3" 2>&1
rc=$?
check "zlctl status without a bus fails with exit 1" test $rc -eq 1 -a -n "$(grep 'Failed to connect' "$tmp/status3")"

# ---- a daemon that fails at start -------------------------------------------------------------
fake=$tmp/daemons
mkdir -p "$fake"
for d in zl-runtimed zl-proxyd zl-schedd zl-buildd zl-apid zl-obsd; do
        ln -s "$build/daemons/$d/$d" "$fake/$d"
done
printf '#!/bin/sh\necho "zl-netd: cannot frobnicate the network" >&2\nexit 3\n' > "$fake/zl-netd"
chmod +x "$fake/zl-netd"
fdir=${nodes[1]}
t0=$(ms)
ZLAYER_DAEMON_DIR=$fake "$zlctl" local start --state-dir "$fdir" > "$tmp/fstart.out" 2> "$tmp/fstart.err"
rc=$?
t1=$(ms)
if [ $rc -eq 1 ] && grep -q 'zl-netd' "$tmp/fstart.err" && grep -q 'cannot frobnicate the network' "$tmp/fstart.err"; then
        ok "start reports the failing daemon with its log tail ($((t1 - t0)) ms)"
else
        not_ok "start reports the failing daemon with its log tail" "exit $rc" "$(cat "$tmp/fstart.err")"
fi
check "a failed start prints no export line" test ! -s "$tmp/fstart.out"
check "a failed start leaves no process" test -z "$(node_pids "$fdir")"
check "a failed start leaves no socket" test ! -e "$fdir/bus.sock" -a ! -e "$fdir/notify.sock"

# ---- a node of an unprivileged user ------------------------------------------------------------
udir=${nodes[3]}
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null && id nobody >/dev/null 2>&1; then
        chown nobody "$utmp"
        as_nobody() { setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups "$@"; }
        as_nobody "$zlctl" local start --state-dir "$udir" > "$tmp/ustart.out" 2> "$tmp/ustart.err"
        rc=$?
        if [ $rc -eq 0 ]; then ok "an unprivileged user starts a node of its own"; else not_ok "an unprivileged user starts a node of its own" "exit $rc" "$(cat "$tmp/ustart.err")"; fi
        as_nobody env ZLAYER_BUS_ADDRESS="unix:path=$udir/bus.sock" "$zlctl" status > "$tmp/ustatus" 2>&1
        check "its daemons own their names and run" test "$(grep -c ' running ' "$tmp/ustatus")" -eq 7
        check "its daemons run as that user" test -z "$(for p in $(node_pids "$udir"); do [ "$(stat -c %U "/proc/$p")" = nobody ] || echo "$p"; done)"
        as_nobody "$zlctl" local stop --state-dir "$udir" > /dev/null 2>&1
        check "it stops its node, leaving nothing" test $? -eq 0 -a -z "$(node_pids "$udir")"
else
        n=$((n + 1)); echo "ok $n # SKIP needs root, setpriv and user nobody"
fi

# ---- the supervisor under valgrind --------------------------------------------------------------
vdir=${nodes[2]}
# Not for a sanitizer build (valgrind and AddressSanitizer do not mix), nor for a binary valgrind
# cannot read (valgrind 3.19 and clang's DWARF 5).
if command -v valgrind >/dev/null && [ -z "${ZL_LOCAL_SKIP_VALGRIND:-}" ] && ! grep -q __asan_init "$zlctl" &&
   valgrind -q --error-exitcode=99 "$zlctl" --version >/dev/null 2>&1; then
        mkdir -p "$vdir"
        valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 \
                --log-file="$tmp/valgrind.log" \
                "$zlctl" local supervise --state-dir "$vdir" > "$tmp/vsup.out" 2>&1 &
        vpid=$!
        rc=1
        for _ in $(seq 1 300); do
                "$zlctl" local status --state-dir "$vdir" > /dev/null 2>&1 && { rc=0; break; }
                sleep 0.1
        done
        check "the supervisor under valgrind brings the node up" test $rc -eq 0
        "$zlctl" local status --state-dir "$vdir" -o json > "$tmp/vstatus.json" 2>&1
        kill -9 "$(json_get "$tmp/vstatus.json" '[p["pid"] for p in j["processes"] if p["name"]=="zl-obsd"][0]')"
        rc=1
        for _ in $(seq 1 300); do
                sleep 0.1
                "$zlctl" local status --state-dir "$vdir" -o json > "$tmp/vstatus2.json" 2>&1 &&
                        [ "$(json_get "$tmp/vstatus2.json" 'sum(p["restarts"] for p in j["processes"])')" = 1 ] && { rc=0; break; }
        done
        check "the supervisor under valgrind restarts a daemon" test $rc -eq 0
        "$zlctl" local stop --state-dir "$vdir" > /dev/null 2>&1
        wait "$vpid"
        rc=$?
        if [ $rc -eq 0 ] && grep -q 'ERROR SUMMARY: 0 errors' "$tmp/valgrind.log"; then
                ok "valgrind: the supervisor is clean"
        else
                not_ok "valgrind: the supervisor is clean" "exit $rc" "$(grep -A20 'ERROR SUMMARY\|definitely' "$tmp/valgrind.log" | head -40)"
        fi
        check "nothing left after the valgrind run" test -z "$(node_pids "$vdir")"
else
        n=$((n + 1)); echo "ok $n # SKIP valgrind missing or unable to run this build (sanitizers, DWARF 5), or ZL_LOCAL_SKIP_VALGRIND set"
fi

tap_done
