#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tests/runtime/test-zlctl-container.sh: `zlctl container ...` and `zlctl ps` against a real
# zl-runtimed on a private bus, with a busybox root directory: run (output, exit code, --rm,
# signals), -d + ls + logs + stop + rm, exec (output, exit code, stdin, a terminal through
# script(1)), logs --tail, stats, inspect, pause/resume, ps, --output json and the errors.
#
# usage: test-zlctl-container.sh ZLCTL ZL_RUNTIMED [ZL_MONITOR]
set -uo pipefail

zlctl=$1 runtimed=$2 monitor=${3:-}
. "$(dirname "$0")/../bus/lib.sh"

[ "$(id -u)" -eq 0 ] || zl_skip_all "containers need root"
for tool in dbus-daemon busctl script; do
        command -v "$tool" > /dev/null || zl_skip_all "$tool is not installed"
done
[ -x /bin/busybox ] || zl_skip_all "/bin/busybox is not installed (busybox-static)"
[ -n "$monitor" ] && export ZL_MONITOR_PATH=$monitor

zl_test_setup
# Containers outlive zl-runtimed by design: remove them before the daemon is stopped.
remove_all() {
        local ids
        ids=$("$zlctl" container ls -a -q --no-trunc 2>/dev/null) || return 0
        [ -n "$ids" ] && "$zlctl" container rm -f $ids > /dev/null 2>&1
        return 0
}
trap 'remove_all; zl_cleanup' EXIT

rootfs=$ZL_TMP/rootfs
mkdir -p "$rootfs"/{bin,etc,proc,dev,sys,tmp}
cp /bin/busybox "$rootfs/bin/busybox"
for applet in $("$rootfs/bin/busybox" --list); do
        [ -e "$rootfs/bin/$applet" ] || ln -s busybox "$rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' \
        > "$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$rootfs/etc/group"

if ! zl_bus_start; then
        zl_not_ok "a private dbus-daemon starts"
        zl_done
fi
zl_daemon_start zl-runtimed "$runtimed"
if ! zl_wait_state org.zlayer.Runtime1 /org/zlayer/Runtime1 running 10; then
        zl_not_ok "zl-runtimed runs" "$(cat "$ZL_TMP/zl-runtimed/log")"
        zl_done
fi
zl_ok "zl-runtimed runs"

out=$ZL_TMP/out err=$ZL_TMP/err

# expect_rc DESCRIPTION WANT COMMAND...: runs the command with stdout in $out and stderr in $err.
expect_rc() {
        local desc=$1 want=$2 rc
        shift 2
        "$@" > "$out" 2> "$err"
        rc=$?
        if [ "$rc" -eq "$want" ]; then
                zl_ok "$desc"
        else
                zl_not_ok "$desc" "command: $*" "exit status $rc, expected $want" \
                        "stdout: $(head -c 2000 "$out")" "stderr: $(head -c 2000 "$err")"
        fi
}

# expect_grep DESCRIPTION FILE REGEX
expect_grep() {
        if grep -qE -- "$3" "$2"; then
                zl_ok "$1"
        else
                zl_not_ok "$1" "no line matches '$3' in:" "$(head -c 2000 "$2")"
        fi
}

# json_check DESCRIPTION FILE PYTHON-EXPRESSION (on d, the parsed document)
json_check() {
        local msg
        if msg=$("$ZL_PYTHON" -c 'import json, sys
d = json.load(open(sys.argv[1]))
assert eval("(" + sys.argv[2] + ")"), "the condition is false"' "$2" "$3" 2>&1); then
                zl_ok "$1"
        else
                zl_not_ok "$1" "$3" "$msg" "$(head -c 2000 "$2")"
        fi
}

# wait_state NAME STATE [TIMEOUT_S]: polls `container ls -a --output json`.
wait_state() {
        local i
        for i in $(seq $((${3:-10} * 10))); do
                "$zlctl" container ls -a --filter "name=$1" --output json 2>/dev/null |
                        "$ZL_PYTHON" -c 'import json, sys
sys.exit(0 if any(c["state"] == sys.argv[1] for c in json.load(sys.stdin)) else 1)' "$2" &&
                        return 0
                sleep 0.1
        done
        return 1
}

# ---- run ----
expect_rc "run streams stdout and stderr and exits with the container's code" 3 \
        "$zlctl" container run --network none --rm --name run1 --rootfs "$rootfs" \
        /bin/sh -c 'echo hello; echo oops >&2; exit 3'
[ "$(cat "$out")" = hello ] && zl_ok "run: stdout is the container's stdout" ||
        zl_not_ok "run: stdout is the container's stdout" "$(cat "$out")"
expect_grep "run: stderr is the container's stderr" "$err" '^oops$'
expect_rc "run --rm removed the container" 0 "$zlctl" container ls -a --filter name=run1 -q
[ ! -s "$out" ] && zl_ok "run --rm: nothing left in ls -a" ||
        zl_not_ok "run --rm: nothing left in ls -a" "$(cat "$out")"

expect_rc "run with options: env, workdir, hostname, user, limits" 0 \
        "$zlctl" container run --network none --rm --rootfs "$rootfs" -e GREETING=hi -w /tmp --hostname box1 \
        --user nobody --memory 64Mi --cpus 0.5 --pids 50 --cap-drop ALL --read-only \
        --network none /bin/sh -c 'echo "$GREETING $(pwd) $(hostname) $(id -u)"'
expect_grep "run: the options reach the container" "$out" '^hi /tmp box1 65534$'

expect_rc "run: the hostname is the container's name by default" 0 \
        "$zlctl" container run --network none --rm --name hosty --rootfs "$rootfs" /bin/hostname
expect_grep "run: hostname" "$out" '^hosty$'

expect_rc "run of a missing command fails" 1 "$zlctl" container run --network none --rm --rootfs "$rootfs" \
        /nosuch
expect_grep "run of a missing command: the error says what" "$err" 'nosuch'

# SIGINT to zlctl reaches the container, whose exit code comes back.
"$zlctl" container run --network none --name sigtest --rm --rootfs "$rootfs" /bin/sh -c \
        'trap "echo got INT; exit 42" INT; echo ready; while :; do sleep 0.1; done' \
        > "$ZL_TMP/sig.out" 2>&1 &
runpid=$!
if zl_wait_file_grep "$ZL_TMP/sig.out" '^ready$' 10; then
        kill -INT "$runpid"
        wait "$runpid"
        rc=$?
        [ "$rc" -eq 42 ] && zl_ok "run passes SIGINT on and exits with the trap's code" ||
                zl_not_ok "run passes SIGINT on and exits with the trap's code" "rc=$rc" \
                        "$(cat "$ZL_TMP/sig.out")"
        expect_grep "run: output after the signal is shown" "$ZL_TMP/sig.out" '^got INT$'
else
        kill -KILL "$runpid" 2>/dev/null
        zl_not_ok "run passes SIGINT on and exits with the trap's code" \
                "$(cat "$ZL_TMP/sig.out")"
fi

# ---- -d, ls, logs, stop, rm ----
expect_rc "run -d prints the id" 0 "$zlctl" container run --network none -d --name sleeper --label app=test \
        --rootfs "$rootfs" /bin/sh -c \
        'echo started; echo warn >&2; trap "echo bye; exit 0" TERM; while :; do sleep 0.1; done'
id=$(cat "$out")
[[ "$id" =~ ^[0-9a-f]{64}$ ]] && zl_ok "run -d: the id is 64 hex digits" ||
        zl_not_ok "run -d: the id is 64 hex digits" "$id"
short=${id:0:12}

expect_rc "ls" 0 "$zlctl" container ls
expect_grep "ls: header" "$out" '^ID +NAME +IMAGE/ROOTFS +STATE +CREATED +STATUS$'
expect_grep "ls: the container, its rootfs, state and status" "$out" \
        "^$short +sleeper +$rootfs +running +.* ago +Up "
expect_rc "ls --output json" 0 "$zlctl" container ls --output json
json_check "ls --output json: the container with its labels" "$out" \
        "[c for c in d if c['id'] == '$id' and c['labels'] == {'app': 'test'}
           and c['state'] == 'running' and c['pid'] > 0]"
expect_rc "ls --filter label=app=test" 0 "$zlctl" container ls -q --filter label=app=test
[ "$(cat "$out")" = "$short" ] && zl_ok "ls --filter label: only that one" ||
        zl_not_ok "ls --filter label: only that one" "$(cat "$out")"
expect_rc "ls --filter label=app=other" 0 "$zlctl" container ls -q --filter label=app=other
[ ! -s "$out" ] && zl_ok "ls --filter label with another value: none" ||
        zl_not_ok "ls --filter label with another value: none" "$(cat "$out")"

for i in $(seq 50); do
        "$zlctl" container logs sleeper > "$out" 2> "$err"
        grep -q started "$out" && break
        sleep 0.1
done
expect_grep "logs: stdout" "$out" '^started$'
expect_grep "logs: stderr to stderr" "$err" '^warn$'
expect_rc "logs --timestamps" 0 "$zlctl" container logs --timestamps "$short"
expect_grep "logs --timestamps: RFC 3339 time first" "$out" \
        '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}(\.[0-9]+)?Z started$'
expect_rc "logs --since 1h" 0 "$zlctl" container logs --since 1h sleeper
expect_grep "logs --since 1h: recent output" "$out" '^started$'
expect_rc "logs --since a future time" 0 "$zlctl" container logs --since 2999-01-01T00:00:00Z \
        sleeper
[ ! -s "$out" ] && zl_ok "logs --since the future: nothing" ||
        zl_not_ok "logs --since the future: nothing" "$(cat "$out")"

expect_rc "pause" 0 "$zlctl" container pause sleeper
wait_state sleeper paused 5 && zl_ok "pause: paused" || zl_not_ok "pause: paused"
expect_rc "ls shows a paused container" 0 "$zlctl" container ls
expect_grep "ls: (Paused)" "$out" "^$short .*paused .* Up .*\(Paused\)$"
expect_rc "resume" 0 "$zlctl" container resume sleeper
wait_state sleeper running 5 && zl_ok "resume: running" || zl_not_ok "resume: running"

# ---- exec ----
expect_rc "exec returns the command's exit code" 5 "$zlctl" container exec sleeper \
        /bin/sh -c 'echo out; echo err >&2; exit 5'
expect_grep "exec: stdout" "$out" '^out$'
expect_grep "exec: stderr" "$err" '^err$'
expect_rc "exec -e -w -u" 0 "$zlctl" container exec -e X=1 -w /tmp -u nobody sleeper \
        /bin/sh -c 'echo "$X $(pwd) $(id -u)"'
expect_grep "exec: env, workdir and user" "$out" '^1 /tmp 65534$'
printf 'line one\nline two\n' > "$ZL_TMP/in"
expect_rc "exec -i passes stdin" 0 "$zlctl" container exec -i sleeper /bin/sh -c 'wc -l; cat' \
        < "$ZL_TMP/in"
expect_grep "exec -i: the command read stdin to its end" "$out" '^2$'
expect_rc "exec without -i: stdin is at EOF" 0 "$zlctl" container exec sleeper /bin/cat
[ ! -s "$out" ] && zl_ok "exec without -i: cat ends at once" ||
        zl_not_ok "exec without -i: cat ends at once" "$(cat "$out")"
echo piped | "$zlctl" container exec -i sleeper /bin/cat > "$out" 2> "$err"
expect_grep "exec -i from a pipe" "$out" '^piped$'
# script -e returns the child's exit code.
expect_rc "exec -t in a pseudo-terminal, with the exit code" 7 script -qec \
        "$zlctl container exec -t sleeper /bin/sh -c 'tty; test -t 0 && echo IS-A-TTY; exit 7'" \
        /dev/null
expect_grep "exec -t: the command has a terminal" "$out" 'IS-A-TTY'
expect_grep "exec -t: its name is a pts" "$out" '^/dev/pts/[0-9]+'
stty_before=$(script -qc "stty -g; $zlctl container exec -t sleeper /bin/true; stty -g" \
        /dev/null | tr -d '\r' | sort -u | wc -l)
[ "$stty_before" -eq 1 ] && zl_ok "exec -t restores the terminal's settings" ||
        zl_not_ok "exec -t restores the terminal's settings"

# ---- stats and inspect ----
expect_rc "stats --no-stream ID" 0 "$zlctl" container stats --no-stream sleeper
expect_grep "stats: header" "$out" '^ID +NAME +CPU % +MEM USAGE / LIMIT +MEM % +PIDS$'
expect_grep "stats: the container's row" "$out" "^$short +sleeper +[0-9.]+% +[0-9.]+[KMG]?i?B / "
expect_rc "stats --no-stream --output json" 0 "$zlctl" container stats --no-stream -o json
json_check "stats --output json: the container with its numbers" "$out" \
        "[s for s in d if s['id'] == '$id' and s['name'] == 'sleeper' and 'cpu_percent' in s]"
expect_rc "inspect" 0 "$zlctl" container inspect sleeper
json_check "inspect: JSON with the id, name, state and config" "$out" \
        "len(d) == 1 and d[0]['id'] == '$id' and d[0]['name'] == 'sleeper'
         and d[0]['state'] == 'running' and 'config' in d[0]"

# ---- stop, kill, rm ----
expect_rc "stop" 0 "$zlctl" container stop -t 5 sleeper
expect_grep "stop prints the ID" "$out" '^sleeper$'
expect_rc "ls -a after stop" 0 "$zlctl" container ls -a
expect_grep "ls -a: Exited (0)" "$out" "^$short +sleeper .*exited +.* ago +Exited \(0\) .* ago$"
expect_rc "ls without -a hides exited containers" 0 "$zlctl" container ls -q
grep -q "$short" "$out" && zl_not_ok "ls without -a hides exited containers" ||
        zl_ok "ls without -a: not listed"
expect_rc "logs after the stop" 0 "$zlctl" container logs sleeper
expect_grep "logs: the output of the trap" "$out" '^bye$'
expect_rc "rm" 0 "$zlctl" container rm sleeper
expect_rc "ls -a after rm" 0 "$zlctl" container ls -a -q
grep -q "$short" "$out" && zl_not_ok "rm: gone" || zl_ok "rm: gone"

# The shell is the container's PID 1: only signals it traps reach it, SIGKILL aside.
expect_rc "create" 0 "$zlctl" container create --network none --name k1 --rootfs "$rootfs" /bin/sh -c \
        'trap "exit 11" USR1; while :; do sleep 0.1; done'
wait_state k1 created 5 && zl_ok "create: created" || zl_not_ok "create: created"
expect_rc "start" 0 "$zlctl" container start k1
wait_state k1 running 5 && zl_ok "start: running" || zl_not_ok "start: running"
expect_rc "rm of a running container fails" 1 "$zlctl" container rm k1
expect_grep "rm of a running one: Busy" "$err" 'org\.zlayer\.Error\.Busy'
expect_rc "kill -s USR1" 0 "$zlctl" container kill -s USR1 k1
wait_state k1 exited 5 && zl_ok "kill: exited" || zl_not_ok "kill: exited"
expect_rc "inspect after kill" 0 "$zlctl" container inspect k1
json_check "inspect: the trap's exit code" "$out" "d[0]['exit_code'] == 11"
expect_rc "run -d another" 0 "$zlctl" container run --network none -d --name k2 --rootfs "$rootfs" /bin/sh -c \
        'while :; do sleep 0.1; done'
expect_rc "kill (SIGKILL by default)" 0 "$zlctl" container kill k2
wait_state k2 exited 5 && zl_ok "kill: exited" || zl_not_ok "kill: exited"
expect_rc "inspect after SIGKILL" 0 "$zlctl" container inspect k2
json_check "inspect: exit code 137" "$out" "d[0]['exit_code'] == 137"
expect_rc "rm -f" 0 "$zlctl" container rm -f k1 k2

# ---- logs --tail ----
expect_rc "run -d a container that prints five lines" 0 "$zlctl" container run --network none -d --name five \
        --rootfs "$rootfs" /bin/sh -c 'for i in 1 2 3 4 5; do echo line$i; done'
wait_state five exited 10 && zl_ok "five: exited" || zl_not_ok "five: exited"
expect_rc "logs --tail 2" 0 "$zlctl" container logs --tail 2 five
[ "$(cat "$out")" = "$(printf 'line4\nline5')" ] && zl_ok "logs --tail 2: the last two" ||
        zl_not_ok "logs --tail 2: the last two" "$(cat "$out")"
expect_rc "logs -f of an exited container ends" 0 timeout 10 "$zlctl" container logs -f five
[ "$(wc -l < "$out")" -eq 5 ] && zl_ok "logs -f: all five lines" ||
        zl_not_ok "logs -f: all five lines" "$(cat "$out")"
"$zlctl" container rm five > /dev/null

# ---- ps ----
expect_rc "a service replica" 0 "$zlctl" container run --network none -d --name web-1 \
        --label zlayer.service=web --label zlayer.replica=1 --rootfs "$rootfs" /bin/sh -c \
        'while :; do sleep 0.1; done'
expect_rc "a container without a service" 0 "$zlctl" container run --network none -d --name loner \
        --rootfs "$rootfs" /bin/sh -c 'while :; do sleep 0.1; done'
expect_rc "ps" 0 "$zlctl" ps
expect_grep "ps: header" "$out" '^ID +SERVICE +REPLICA +NAME +STATE +IP +UPTIME$'
expect_grep "ps: the replica with its service and uptime" "$out" \
        '^[0-9a-f]{12} +web +1 +web-1 +running +- +(<1s|[0-9]+(s|min|h).*)$'
expect_grep "ps: a container without a service shows '-'" "$out" \
        '^[0-9a-f]{12} +- +- +loner +running '
expect_rc "ps --output json" 0 "$zlctl" ps --output json
json_check "ps --output json" "$out" \
        "len(d) == 2 and [c for c in d if c['name'] == 'web-1'][0]['labels']['zlayer.service'] == 'web'"
"$zlctl" container rm -f web-1 loner > /dev/null

# ---- errors ----
expect_rc "an unknown id fails" 1 "$zlctl" container inspect nosuchcontainer
expect_grep "an unknown id: NotFound, naming it" "$err" \
        "nosuchcontainer.*org\.zlayer\.Error\.NotFound"
expect_rc "stop of an unknown id fails" 1 "$zlctl" container stop nosuchcontainer
expect_grep "stop of an unknown id: the message" "$err" \
        "^Failed to stop container 'nosuchcontainer': .*NotFound"
expect_rc "a name in use" 0 "$zlctl" container create --network none --name twice --rootfs "$rootfs"
expect_rc "the same name again fails" 1 "$zlctl" container create --network none --name twice --rootfs "$rootfs"
expect_grep "the same name: Exists" "$err" 'org\.zlayer\.Error\.Exists'
"$zlctl" container rm twice > /dev/null
expect_rc "an unknown option is a usage error" 2 "$zlctl" container ls --bogus
expect_grep "an unknown option: named" "$err" "unknown option '--bogus'"
expect_rc "a bad --memory is a usage error" 2 "$zlctl" container run --network none --memory lots \
        --rootfs "$rootfs"
expect_grep "a bad --memory: named" "$err" "invalid --memory 'lots'"
expect_rc "a bad capability is a usage error" 2 "$zlctl" container create --network none --cap-add NET_ADMN \
        --rootfs "$rootfs"
expect_grep "a bad capability: a suggestion" "$err" "did you mean 'NET_ADMIN'"
expect_rc "a bad signal is a usage error" 2 "$zlctl" container kill -s SIGBOGUS x
expect_rc "run without --rootfs is a usage error" 2 "$zlctl" container run --network none /bin/true
expect_grep "run without --rootfs: says so" "$err" 'missing --rootfs'
expect_rc "a rootfs that does not exist" 1 "$zlctl" container run --network none --rootfs "$ZL_TMP/nope"
expect_grep "a missing rootfs: named" "$err" "Invalid --rootfs '$ZL_TMP/nope'"
expect_rc "exec without a command is a usage error" 2 "$zlctl" container exec someid
expect_rc "a bad --filter is a usage error" 2 "$zlctl" container ls --filter colour=red
expect_rc "an unknown subcommand" 2 "$zlctl" container lss
expect_grep "an unknown subcommand: a suggestion" "$err" "did you mean 'ls'"
for v in run create ls inspect start stop kill rm logs stats exec pause resume; do
        "$zlctl" container "$v" --help > "$out" 2>&1 && grep -q "container $v" "$out" ||
                zl_not_ok "container $v --help" "$(cat "$out")"
done
zl_ok "every container command has --help"

expect_rc "nothing left" 0 "$zlctl" container ls -a -q
[ ! -s "$out" ] && zl_ok "no container left" || zl_not_ok "no container left" "$(cat "$out")"

zl_done
