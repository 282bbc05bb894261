#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tests/runtime/test-runtime.sh: org.zlayer.Runtime1 on a private bus with real containers on a
# busybox root: create/start/exit code, inspect, logs, exec, pause/resume, stop after the grace
# period, pids and memory limits (OOM), the named errors, nothing left by a bad config, and
# kill -9 of zl-runtimed with containers running and exiting meanwhile.
#
# usage: test-runtime.sh ZL_RUNTIMED ZL_MONITOR FD_HELPER
set -uo pipefail

runtimed=$1 monitor=$2 helper=$3
. "$(dirname "$0")/../bus/lib.sh"

[ "$(id -u)" -eq 0 ] || zl_skip_all "containers need root"
for tool in dbus-daemon busctl; do
        command -v "$tool" > /dev/null || zl_skip_all "$tool is not installed"
done
[ -x /bin/busybox ] || zl_skip_all "/bin/busybox is not installed (busybox-static)"
export ZL_MONITOR_PATH=$monitor
export ZLAYER_LOG_TARGET=stderr

B=org.zlayer.Runtime1 P=/org/zlayer/Runtime1 I=org.zlayer.Runtime1
CI=org.zlayer.Runtime1.Container

zl_test_setup
# "--" keeps busctl from taking arguments like "-c" for options.
bus() {
        local verb=$1
        shift
        if [ "$verb" = monitor ]; then
                busctl --address="$ZLAYER_BUS_ADDRESS" monitor "$@"
        else
                busctl --address="$ZLAYER_BUS_ADDRESS" "$verb" -- "$@"
        fi
}
# Containers outlive zl-runtimed by design: remove them before the daemon stops.
remove_all() {
        local id
        [ -n "${ZLAYER_BUS_ADDRESS:-}" ] || return 0
        for id in $(bus call $B $P $I ListContainers 'a{sv}' 0 2>/dev/null |
                grep -oE '"[0-9a-f]{64}"' | tr -d '"'); do
                bus call $B $P $I RemoveContainer sb "$id" true > /dev/null 2>&1
        done
        return 0
}
trap 'remove_all; zl_cleanup' EXIT

rootfs=$ZL_TMP/rootfs
mkdir -p "$rootfs"/{bin,etc,proc,dev,sys,tmp}
cp /bin/busybox "$rootfs/bin/busybox"
"$rootfs/bin/busybox" --install -s "$rootfs/bin" 2> /dev/null ||
        for applet in $("$rootfs/bin/busybox" --list); do
                [ -e "$rootfs/bin/$applet" ] || ln -s busybox "$rootfs/bin/$applet"
        done
# --install -s links to the host path /bin/busybox: the links must point inside the root.
for l in "$rootfs"/bin/*; do
        [ -L "$l" ] && ln -sf busybox "$l"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' \
        > "$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$rootfs/etc/group"

state=$ZL_TMP/zl-runtimed/state/runtime/containers

start_daemon() {
        zl_daemon_start zl-runtimed "$runtimed"
        zl_wait_state $B $P running 20
}

if ! zl_bus_start; then
        zl_not_ok "a private dbus-daemon starts"
        zl_done
fi
if start_daemon; then
        zl_ok "zl-runtimed runs"
else
        zl_not_ok "zl-runtimed runs" "$(cat "$ZL_TMP/zl-runtimed/log")"
        zl_done
fi

# create NAME ARGS... (extra options in $OPTS as "key type value" words): sets $ID and $OBJ.
# Network "none": this test runs no zl-netd (tests/netd/test-runtime-netd.sh does).
create() {
        local name=$1 out n
        shift
        n=$((3 + ${OPTN:-0}))
        out=$(bus call $B $P $I CreateContainer 'ssa{sv}' "$name" "" $n \
                rootfs s "$rootfs" network s none args as $# "$@" ${OPTS:-} 2>&1) || {
                echo "$out"
                return 1
        }
        ID=$(echo "$out" | awk '{print $2}' | tr -d '"')
        OBJ=$(echo "$out" | awk '{print $3}' | tr -d '"')
}
prop() {
        bus get-property $B "$1" $CI "$2" | cut -d' ' -f2- | tr -d '"'
}
# wait_prop OBJ PROPERTY VALUE [TIMEOUT_S]
wait_prop() {
        local i
        for i in $(seq $((${4:-10} * 20))); do
                [ "$(prop "$1" "$2")" = "$3" ] && return 0
                sleep 0.05
        done
        return 1
}
start() {
        bus call $B $P $I StartContainer s "$1"
}

# ---- a container that exits: state, exit code, inspect, logs ----
if create first /bin/sh -c 'echo out; echo err >&2; exit 3'; then
        zl_ok "CreateContainer from a rootfs"
else
        zl_not_ok "CreateContainer from a rootfs" "$(cat "$ZL_TMP/zl-runtimed/log")"
        zl_done
fi
first=$ID first_obj=$OBJ
zl_check "the new container is 'created'" wait_prop "$first_obj" State created 1
zl_check "StartContainer" start "$first"
if wait_prop "$first_obj" State exited 10 && [ "$(prop "$first_obj" ExitCode)" = 3 ]; then
        zl_ok "it exits with code 3"
else
        zl_not_ok "it exits with code 3" "state $(prop "$first_obj" State)" \
                "exit code $(prop "$first_obj" ExitCode)"
fi
out=$(bus call $B $P $I InspectContainer s "${first:0:6}" 2>&1)
if echo "$out" | grep -F '\"exit_code\": 3' > /dev/null &&
        echo "$out" | grep -F '\"name\": \"first\"' > /dev/null; then
        zl_ok "InspectContainer by id prefix"
else
        zl_not_ok "InspectContainer by id prefix" "$out"
fi
out=$("$helper" logs "$first" 2>&1)
if echo "$out" | grep -E 'Z stdout F out$' > /dev/null &&
        echo "$out" | grep -E 'Z stderr F err$' > /dev/null; then
        zl_ok "OpenLogs gives both streams"
else
        zl_not_ok "OpenLogs gives both streams" "$out"
fi
out=$(bus call $B $P $I ListContainers 'a{sv}' 1 state s exited 2>&1)
if echo "$out" | grep -F "\"$first\" \"first\"" > /dev/null; then
        zl_ok "ListContainers with a state filter"
else
        zl_not_ok "ListContainers with a state filter" "$out"
fi

# ---- errors ----
out=$(create first /bin/true 2>&1)
if echo "$out" | grep -F "org.zlayer.Error.Exists" > /dev/null ||
        echo "$out" | grep -F "already used" > /dev/null; then
        zl_ok "a name in use is Exists"
else
        zl_not_ok "a name in use is Exists" "$out"
fi
out=$(bus call $B $P $I StartContainer s nosuch 2>&1)
if echo "$out" | grep -F "No such container" > /dev/null; then
        zl_ok "an unknown id is NotFound"
else
        zl_not_ok "an unknown id is NotFound" "$out"
fi
out=$(bus call $B $P $I CreateContainer 'ssa{sv}' bad "" 2 rootfs s "$rootfs" memory s 1 2>&1)
if echo "$out" | grep -F "'memory' must be of type 't'" > /dev/null; then
        zl_ok "an option of the wrong type is refused, naming it"
else
        zl_not_ok "an option of the wrong type is refused, naming it" "$out"
fi
zlayer_cgroups() {
        find /sys/fs/cgroup -maxdepth 3 -path '*/zlayer/*' -type d 2>/dev/null | sort
}
before=$(ls "$state" | sort)
cgroups_before=$(zlayer_cgroups)
out=$(bus call $B $P $I CreateContainer 'ssa{sv}' bad \
        '{"ociVersion":"1.0.2","root":{"path":"'"$rootfs"'"},"process":{"user":{"uid":0,"gid":0},"args":["/bin/true"],"cwd":"/","capabilities":{"bounding":["CAP_FOO"]}}}' \
        0 2>&1)
if echo "$out" | grep -F "process.capabilities.bounding[0]" > /dev/null; then
        zl_ok "a bad config is InvalidSpec with its JSON path"
else
        zl_not_ok "a bad config is InvalidSpec with its JSON path" "$out"
fi
out=$(create nosuchexec /nosuch 2>&1)
if echo "$out" | grep -F "nosuch" > /dev/null; then
        zl_ok "a missing executable is refused at create"
else
        zl_not_ok "a missing executable is refused at create" "$out"
fi
after=$(ls "$state" | sort)
# Only what appeared meanwhile: other tests may run containers of their own.
leftover=$(comm -13 <(echo "$cgroups_before") <(zlayer_cgroups))
if [ "$before" = "$after" ] && [ -z "$leftover" ]; then
        zl_ok "failed creates leave nothing in the state dir or the cgroups"
else
        zl_not_ok "failed creates leave nothing in the state dir or the cgroups" \
                "before: $before" "after: $after" "cgroups: $leftover"
fi

# ---- a running container: exec, pause/resume, stats ----
create sleeper /bin/sh -c 'echo started; exec sleep 1000' && start "$ID" > /dev/null
sleeper=$ID sleeper_obj=$OBJ
zl_check "a long-running container is running" wait_prop "$sleeper_obj" State running 10
out=$(bus call $B $P $I Exec 'sasasa{sv}' sleeper 3 /bin/sh -c 'echo hello; exit 5' 0 0 2>&1)
if echo "$out" | grep -E '^iayay 5 6 104 101 108 108 111 10 0$' > /dev/null; then
        zl_ok "Exec returns output and exit code"
else
        zl_not_ok "Exec returns output and exit code" "$out"
fi
out=$(bus call $B $P $I Exec 'sasasa{sv}' sleeper 1 /bin/cat 0 1 stdin ay 3 97 98 99 2>&1)
if echo "$out" | grep -E '^iayay 0 3 97 98 99 0$' > /dev/null; then
        zl_ok "Exec with stdin"
else
        zl_not_ok "Exec with stdin" "$out"
fi
out=$(bus call $B $P $I Exec 'sasasa{sv}' sleeper 2 sleep 10 0 1 timeout u 1 2>&1)
if echo "$out" | grep -F "did not finish in time" > /dev/null; then
        zl_ok "Exec times out"
else
        zl_not_ok "Exec times out" "$out"
fi
out=$("$helper" exec-stream "$sleeper" /bin/sh -c 'read x; echo got $x; echo e >&2; exit 4' \
        <<< "line" 2>&1)
if [ "$out" = $'got line\ne\nexit 4' ]; then
        zl_ok "ExecStream and WaitExec"
else
        zl_not_ok "ExecStream and WaitExec" "$out"
fi
zl_check "PauseContainer" bus call $B $P $I PauseContainer s sleeper
zl_check "paused" wait_prop "$sleeper_obj" State paused 5
zl_check "ResumeContainer" bus call $B $P $I ResumeContainer s sleeper
zl_check "running again" wait_prop "$sleeper_obj" State running 5
out=$(bus call $B $P $I GetStats s sleeper 2>&1)
if echo "$out" | grep -F '"pids_current" t' > /dev/null; then
        zl_ok "GetStats"
else
        zl_not_ok "GetStats" "$out"
fi
out=$(bus call $B $P $I RemoveContainer sb sleeper false 2>&1)
if echo "$out" | grep -F "org.zlayer.Error.Busy" > /dev/null || echo "$out" | grep -F "it is running" > /dev/null; then
        zl_ok "removing a running container without force is Busy"
else
        zl_not_ok "removing a running container without force is Busy" "$out"
fi

# ---- stop after the grace period ----
create stubborn /bin/sh -c "trap '' TERM; echo ready; while true; do sleep 1; done" &&
        start "$ID" > /dev/null
stubborn=$ID stubborn_obj=$OBJ
wait_prop "$stubborn_obj" State running 10
sleep 0.3
t0=$(date +%s%N)
zl_check "StopContainer with 1 s grace" bus call $B $P $I StopContainer su stubborn 1
t1=$(date +%s%N)
code=$(prop "$stubborn_obj" ExitCode)
if [ "$code" = 137 ] && [ $(((t1 - t0) / 1000000)) -ge 900 ]; then
        zl_ok "a TERM-ignoring container is killed after the grace period (137)"
else
        zl_not_ok "a TERM-ignoring container is killed after the grace period (137)" \
                "exit code $code after $(((t1 - t0) / 1000000)) ms"
fi

# ---- limits ----
OPTS="pids t 20" OPTN=1 create forker /bin/sh -c \
        'i=0; while [ $i -lt 1000 ]; do sleep 3 & i=$((i+1)); done; exit 0' &&
        start "$ID" > /dev/null
forker=$ID forker_obj=$OBJ
# busybox sh gives up at the first failed fork: the limit held if it did not reach the end.
if wait_prop "$forker_obj" State exited 20 && [ "$(prop "$forker_obj" ExitCode)" != 0 ] &&
        "$helper" logs "$forker" 2>&1 | grep -F "fork" > /dev/null; then
        zl_ok "a thousand forks hit the pids limit and the container ends"
else
        zl_not_ok "a thousand forks hit the pids limit and the container ends" \
                "state $(prop "$forker_obj" State) exit $(prop "$forker_obj" ExitCode)" \
                "$("$helper" logs "$forker" 2>&1 | tail -3)"
fi

bus monitor --match "type='signal',member='ContainerOOM'" > "$ZL_TMP/oom-signals" 2>&1 &
ZL_CLEANUP_PIDS+=($!)
sleep 0.3
OPTS="memory t 33554432" OPTN=1 create hog /bin/sh -c \
        'dd if=/dev/zero of=/dev/null bs=200M count=1; exit 0' && start "$ID" > /dev/null
hog=$ID hog_obj=$OBJ
if wait_prop "$hog_obj" State exited 20 && [ "$(prop "$hog_obj" OOMKilled)" = true ]; then
        zl_ok "exceeding the memory limit: OOMKilled"
else
        zl_not_ok "exceeding the memory limit: OOMKilled" "state $(prop "$hog_obj" State)" \
                "oom $(prop "$hog_obj" OOMKilled) exit $(prop "$hog_obj" ExitCode)"
fi
if zl_wait_file_grep "$ZL_TMP/oom-signals" "$hog" 5; then
        zl_ok "ContainerOOM is signalled"
else
        zl_not_ok "ContainerOOM is signalled" "$(cat "$ZL_TMP/oom-signals")"
fi

# ---- kill -9 of zl-runtimed ----
create survivor /bin/sh -c 'i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done' &&
        start "$ID" > /dev/null
survivor=$ID survivor_obj=$OBJ
create ender /bin/sh -c 'sleep 1; exit 7' && start "$ID" > /dev/null
ender=$ID ender_obj=$OBJ
wait_prop "$survivor_obj" State running 10
pid_before=$(prop "$survivor_obj" Pid)
kill -KILL "${ZL_PID[zl-runtimed]}"
wait "${ZL_PID[zl-runtimed]}" 2> /dev/null
unset "ZL_PID[zl-runtimed]"
sleep 1.5
if start_daemon; then
        zl_ok "zl-runtimed restarts after kill -9"
else
        zl_not_ok "zl-runtimed restarts after kill -9" "$(cat "$ZL_TMP/zl-runtimed/log")"
fi
if [ "$(prop "$survivor_obj" State)" = running ] &&
        [ "$(prop "$survivor_obj" Pid)" = "$pid_before" ]; then
        zl_ok "the running container is still running with the same pid"
else
        zl_not_ok "the running container is still running with the same pid" \
                "$(prop "$survivor_obj" State) $(prop "$survivor_obj" Pid) (was $pid_before)"
fi
if wait_prop "$ender_obj" State exited 5 && [ "$(prop "$ender_obj" ExitCode)" = 7 ]; then
        zl_ok "the container that exited meanwhile has its exit code"
else
        zl_not_ok "the container that exited meanwhile has its exit code" \
                "$(prop "$ender_obj" State) $(prop "$ender_obj" ExitCode)"
fi
zl_check "the exited one before the restart is still known" wait_prop "$first_obj" ExitCode 3 1
sleep 0.5
out=$("$helper" logs "$survivor" 2>&1)
if [ "$(echo "$out" | grep -oE 'tick [0-9]+$' | awk '{print $2}' |
        awk 'NR > 1 && $1 != prev + 1 {bad = 1} {prev = $1} END {print bad ? "gap" : NR}')" -gt 5 ]; then
        zl_ok "logs are continuous across the restart"
else
        zl_not_ok "logs are continuous across the restart" "$out"
fi
grep -E "Re-adopted container $survivor" "$ZL_TMP/zl-runtimed/log" > /dev/null &&
        zl_ok "recovery logs a line per container" ||
        zl_not_ok "recovery logs a line per container" "$(cat "$ZL_TMP/zl-runtimed/log")"

# ---- removal ----
zl_check "RemoveContainer with force of a running container" \
        bus call $B $P $I RemoveContainer sb survivor true
if [ ! -e "$state/$survivor" ] &&
        [ -z "$(find /sys/fs/cgroup -maxdepth 3 -path "*/zlayer/$survivor" 2>/dev/null)" ]; then
        zl_ok "its directory and cgroup are gone"
else
        zl_not_ok "its directory and cgroup are gone" "$(ls "$state")"
fi
out=$(bus get-property $B "$survivor_obj" $CI State 2>&1)
if echo "$out" | grep -E "UnknownObject|Unknown object" > /dev/null; then
        zl_ok "its object is gone"
else
        zl_not_ok "its object is gone" "$out"
fi
remove_all
left=
for id in $first $sleeper $stubborn $forker $hog $ender; do
        left+=$(find /sys/fs/cgroup -maxdepth 3 -path "*/zlayer/$id" 2>/dev/null)
done
if [ -z "$(ls "$state")" ] && [ -z "$left" ]; then
        zl_ok "everything removed"
else
        zl_not_ok "everything removed" "$(ls "$state")"
fi

zl_done
