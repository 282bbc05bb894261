#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tests/bus/test-valgrind.sh: one daemon's whole life under valgrind: start, every Daemon1 call,
# a reload, SIGTERM. No invalid access, no definitely lost memory, exit 0.
#
# usage: test-valgrind.sh PYTHON SANITIZERS NAME=EXECUTABLE...
set -uo pipefail

ZL_PYTHON=$1 sanitize=$2
shift 2
. "$(dirname "$0")/lib.sh"

[ "$sanitize" = none ] || zl_skip_all "built with sanitizers ($sanitize)"
for tool in valgrind dbus-daemon busctl; do
        command -v "$tool" > /dev/null || zl_skip_all "$tool is not installed"
done
exe=
for a in "$@"; do
        [ "${a%%=*}" = zl-schedd ] && exe=${a#*=}
done
[ -n "$exe" ] || zl_skip_all "zl-schedd was not given"
# Debian 12's valgrind cannot read the DWARF 5 that clang writes.
valgrind --quiet --error-exitcode=66 "$exe" --version > /dev/null 2>&1 ||
        zl_skip_all "valgrind cannot run $exe (debug info it does not read?)"

zl_test_setup
zl_bus_start || { zl_not_ok "a private dbus-daemon starts"; zl_done; }
export ZLAYER_LOG_TARGET=stderr

b=org.zlayer.Scheduler1 p=/org/zlayer/Scheduler1 d=$ZL_TMP/zl-schedd
zl_daemon_start zl-schedd valgrind --quiet --leak-check=full --show-leak-kinds=definite,indirect \
        --errors-for-leak-kinds=definite,indirect --error-exitcode=66 --track-fds=no \
        --log-file="$ZL_TMP/valgrind.log" "$exe"
if zl_wait_state "$b" "$p" running 60; then
        zl_ok "zl-schedd under valgrind reaches running"
else
        zl_not_ok "zl-schedd under valgrind reaches running" "$(cat "$d/log")"
fi

busctl_() {
        busctl --address="$ZLAYER_BUS_ADDRESS" "$@"
}
zl_check "GetAll" busctl_ call "$b" "$p" org.freedesktop.DBus.Properties GetAll s org.zlayer.Daemon1
zl_check "GetCounters" busctl_ call "$b" "$p" org.zlayer.Daemon1 GetCounters
zl_check "Reload" busctl_ call "$b" "$p" org.zlayer.Daemon1 Reload
zl_check "set LogLevel" busctl_ set-property "$b" "$p" org.zlayer.Daemon1 LogLevel s debug
if busctl_ set-property "$b" "$p" org.zlayer.Daemon1 LogLevel s bogus > /dev/null 2>&1; then
        zl_not_ok "an invalid LogLevel is refused"
else
        zl_ok "an invalid LogLevel is refused"
fi
zl_check "Introspect" busctl_ introspect "$b" "$p"
kill -HUP "${ZL_PID[zl-schedd]}"
zl_wait_file_count "$d/notify" '^RELOADING=1$' 2 20 && zl_ok "SIGHUP reload" ||
        zl_not_ok "SIGHUP reload" "$(cat "$d/notify")"

kill -TERM "${ZL_PID[zl-schedd]}"
if zl_wait_exit zl-schedd 60 && [ "$ZL_STATUS" = 0 ]; then
        zl_ok "exits 0 after SIGTERM with a clean valgrind report"
else
        zl_not_ok "exits 0 after SIGTERM with a clean valgrind report" "status $ZL_STATUS" \
                "$(cat "$ZL_TMP/valgrind.log")" "$(cat "$d/log")"
fi
zl_done
