#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test-runc.sh: zl-runc as an OCI runtime, for real, as root: a busybox bundle through create,
# start, state, ps, exec, pause/resume, kill and delete; run with exit codes and signal
# forwarding; bad configs refused with nothing left behind; the runc command-line conventions
# podman relies on (--log-format json, delete --force of an unknown id, --systemd-cgroup
# refused). TAP output.
# Usage: test-runc.sh PATH/TO/zl-runc
set -u
zlrunc=$1
. "$(dirname "${BASH_SOURCE[0]}")/../lib/tap.sh"

if [ "$(id -u)" != 0 ]; then
        echo "1..0 # SKIP needs root"
        exit 0
fi
for tool in busybox python3; do
        if ! command -v "$tool" >/dev/null; then
                echo "1..0 # SKIP $tool is not installed"
                exit 0
        fi
done

tmp=$(mktemp -d /tmp/zl-runc.XXXXXX)
root=$tmp/state
bundle=$tmp/bundle
zr() { "$zlrunc" --root "$root" "$@"; }

cleanup() {
        local id
        for id in $(ls "$root" 2>/dev/null); do
                zr delete --force "$id" >/dev/null 2>&1
        done
        # Mounts would only exist inside the containers' namespaces; make sure of it.
        grep -F " $tmp" /proc/self/mountinfo | awk '{print $5}' | sort -r | while read -r m; do
                umount -l "$m" 2>/dev/null
        done
        # The parent cgroup all containers share; rmdir leaves it if another one uses it.
        rmdir /sys/fs/cgroup/*/zl-runc /sys/fs/cgroup/zl-runc 2>/dev/null
        rm -rf "$tmp"
}
trap cleanup EXIT

check() { local name=$1; shift; if "$@"; then ok "$name"; else not_ok "$name"; fi; }
# ck NAME 'SHELL CONDITION': for conditions made of several commands.
ck() { local name=$1; shift; if eval "$1"; then ok "$name"; else not_ok "$name"; fi; }
json_get() { python3 -c "import json,sys; j=json.load(sys.stdin); print($1)"; }
# status ID: the "status" of `zl-runc state` (python3 is slow to start on a loaded machine).
status() { zr state "$1" 2>/dev/null | sed -n 's/^  "status": "\([a-z]*\)",$/\1/p'; }
# Edits config.json: python statements on c.
edit_config() { python3 -c "
import json,sys
p=sys.argv[1]; c=json.load(open(p))
$2
json.dump(c, open(p, 'w'), indent=1)" "$1/config.json"; }

cgroup_dirs() { ls -d /sys/fs/cgroup/*/"$1" /sys/fs/cgroup/"$1" 2>/dev/null; }
left_behind() {
        local id=$1 what=""
        [ -e "$root/$id" ] && what="$what state-dir"
        [ -n "$(cgroup_dirs "zl-runc/$id")" ] && what="$what cgroup:$(cgroup_dirs "zl-runc/$id")"
        grep -qF "$tmp" /proc/self/mountinfo && what="$what mounts"
        echo "$what"
}
nothing_left() { [ -z "$(left_behind "$1")" ]; }

# ---- the bundle ----
mkdir -p "$bundle/rootfs/bin" "$bundle/rootfs/usr/bin" "$bundle/rootfs/sbin" "$bundle/rootfs/usr/sbin"
cp "$(command -v busybox)" "$bundle/rootfs/bin/busybox"
for a in $(busybox --list-full); do
        [ -e "$bundle/rootfs/$a" ] || ln -s /bin/busybox "$bundle/rootfs/$a"
done

check "spec writes a default config.json" zr spec --bundle "$bundle"
out=$(zr spec --bundle "$bundle" 2>&1)
rc=$?
if [ $rc -ne 0 ] && echo "$out" | grep -q "exists"; then ok "spec refuses to overwrite"; else
        not_ok "spec refuses to overwrite" "rc=$rc" "$out"; fi
edit_config "$bundle" "c['process']['terminal']=False; c['process']['args']=['sleep','1000']"

# ---- create, start, state, ps, exec, pause, kill, delete ----
id=life
# Output goes to files, never to a pipe: the container's init inherits it.
quiet() { "$@" >"$tmp/out" 2>&1 </dev/null; }
(cd "$bundle" && quiet zr create --pid-file "$tmp/pid" $id)
rc=$?
out=$(cat "$tmp/out")
check "create exits 0" [ $rc -eq 0 ]
[ $rc -eq 0 ] || echo "$out" | sed 's/^/# /'
st=$(zr state $id)
check "state after create is created" [ "$(echo "$st" | json_get "j['status']")" = created ]
pid=$(echo "$st" | json_get "j['pid']")
check "pid file holds the init's pid" [ "$(cat "$tmp/pid" 2>/dev/null)" = "$pid" ]
check "state names bundle and rootfs" [ "$(echo "$st" | json_get "j['bundle']+' '+j['rootfs']")" = "$bundle $bundle/rootfs" ]
check "state has ociVersion and created" python3 -c "
import json,sys,re; j=json.loads(sys.argv[1])
assert j['ociVersion'] and j['owner']=='' and re.match(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$', j['created'])" "$st"
check "the init waits: it has not run sleep yet" bash -c "! grep -q '^sleep' /proc/$pid/comm"
check "the init sits in the container's cgroup" grep -q "zl-runc/$id" /proc/$pid/cgroup
check "list shows it" bash -c "'$zlrunc' --root '$root' list | grep -q '^$id '"
check "list --format json" bash -c "'$zlrunc' --root '$root' list --format json | python3 -c \"import json,sys; l=json.load(sys.stdin); assert l[0]['id']=='$id' and l[0]['status']=='created'\""
check "start exits 0" zr start $id
check "state after start is running" [ "$(status $id)" = running ]
check "the init runs sleep" grep -q '^sleep' /proc/$pid/comm
check "exec.fifo is gone" [ ! -e "$root/$id/exec.fifo" ]
out=$(zr start $id 2>&1)
check "start twice fails" [ $? -ne 0 ]
check "ps --format json lists the init" bash -c "'$zlrunc' --root '$root' ps --format json $id | python3 -c \"import json,sys; assert $pid in json.load(sys.stdin)\""
check "ps table" bash -c "'$zlrunc' --root '$root' ps $id | grep -q '^$pid .*sleep 1000'"

out=$(zr exec $id sh -c 'echo pid1=$(cat /proc/1/comm) host=$(hostname); exit 5' 2>&1)
rc=$?
check "exec runs in the container (its PID 1 is sleep)" bash -c "echo '$out' | grep -q 'pid1=sleep'"
check "exec exits with the process's status" [ $rc -eq 5 ]
out=$(zr exec --env FOO=bar --cwd /bin --user 65534:65534 $id sh -c 'echo $FOO $(pwd) $(id -u):$(id -g)' 2>&1)
check "exec --env --cwd --user" [ "$out" = "bar /bin 65534:65534" ]
zr exec --preserve-fds 1 $id sh -c 'echo passed >&3' 3> "$tmp/fd3" > /dev/null 2>&1
check "exec --preserve-fds 1 passes fd 3" [ "$(cat "$tmp/fd3")" = "passed" ]
out=$(zr exec $id sh -c 'grep CapEff /proc/self/status' 2>&1)
out2=$(zr exec --cap CAP_NET_ADMIN $id sh -c 'grep CapEff /proc/self/status' 2>&1)
ck "exec --cap adds a capability" '[ -n "$out" ] && [ "$out" != "$out2" ]'
quiet zr exec -d --pid-file "$tmp/exec.pid" $id sleep 500
ck "exec -d writes the pid file and returns" '[ -s "$tmp/exec.pid" ] && grep -q "^sleep" /proc/"$(cat "$tmp/exec.pid")"/comm'
check "exec -d process is in the container's cgroup" grep -q "zl-runc/$id" /proc/"$(cat "$tmp/exec.pid")"/cgroup
out=$(zr exec $id /nonexistent 2>&1)
rc=$?
ck "exec of a missing binary fails with a message" '[ $rc -ne 0 ] && echo "$out" | grep -q nonexistent'

check "pause" zr pause $id
check "state is paused" [ "$(status $id)" = paused ]
frozen() {
        grep -qs '^frozen 1' /sys/fs/cgroup/unified/zl-runc/$id/cgroup.events ||
                grep -qs '^frozen 1' /sys/fs/cgroup/zl-runc/$id/cgroup.events ||
                grep -qs FROZEN /sys/fs/cgroup/freezer/zl-runc/$id/freezer.state
}
check "paused processes are frozen" frozen
out=$(zr exec $id true 2>&1)
check "exec into a paused container is refused" [ $? -ne 0 ]
out=$(zr delete $id 2>&1)
check "delete of a paused container needs --force" [ $? -ne 0 ]
check "resume" zr resume $id
check "state is running again" [ "$(status $id)" = running ]
ck "resumed processes are thawed" "! frozen"

out=$(zr delete $id 2>&1)
rc=$?
if [ $rc -ne 0 ] && echo "$out" | grep -q "not stopped"; then ok "delete of a running container is refused"; else
        not_ok "delete of a running container is refused" "rc=$rc" "$out"; fi
check "kill --all reaches every process" zr kill --all $id KILL
for _ in $(seq 100); do [ "$(status $id)" = stopped ] && break; sleep 0.05; done
st=$(zr state $id)
check "state after kill is stopped, pid 0" [ "$(echo "$st" | json_get "j['status'],j['pid']")" = "stopped 0" ]
out=$(zr kill $id TERM 2>&1)
check "kill of a stopped container fails" [ $? -ne 0 ]
check "delete a stopped container" zr delete $id
check "nothing left after delete: $(left_behind $id)" nothing_left $id
out=$(zr state $id 2>&1)
rc=$?
if [ $rc -ne 0 ] && echo "$out" | grep -q "does not exist"; then ok "state of a deleted container fails"; else
        not_ok "state of a deleted container fails" "rc=$rc" "$out"; fi

# ---- kill with signal names, delete --force of a running one ----
id=sig
(cd "$bundle" && quiet zr create $id) && zr start $id
check "kill with a signal number" zr kill $id 10
check "kill with a signal name without SIG" zr kill $id USR1
out=$(zr kill $id SIGFOO 2>&1)
check "kill with an unknown signal fails" [ $? -ne 0 ]
check "delete --force of a running container" zr delete --force $id
check "nothing left after delete --force: $(left_behind $id)" nothing_left $id
out=$(zr delete nosuch 2>&1)
rc=$?
if [ $rc -ne 0 ] && echo "$out" | grep -q "does not exist"; then ok "delete of an unknown id fails"; else
        not_ok "delete of an unknown id fails" "rc=$rc" "$out"; fi
check "delete --force of an unknown id succeeds" zr delete --force nosuch

# A created container can be deleted without --force, as with runc.
id=created
(cd "$bundle" && quiet zr create $id)
check "delete of a created container" zr delete $id
check "nothing left after deleting a created container: $(left_behind $id)" nothing_left $id

# ---- run ----
edit_config "$bundle" "c['process']['args']=['sh','-c','echo out; echo err >&2; exit 7']"
out=$(cd "$bundle" && zr run runexit 2>/dev/null)
rc=$?
check "run exits with the container's status" [ $rc -eq 7 ]
check "run passes stdout through" [ "$out" = out ]
check "nothing left after run: $(left_behind runexit)" nothing_left runexit

edit_config "$bundle" "c['process']['args']=['sh','-c','trap \"exit 42\" TERM; while :; do sleep 0.05; done']"
(cd "$bundle" && exec "$zlrunc" --root "$root" run fwd >/dev/null 2>&1 </dev/null) &
runpid=$!
for _ in $(seq 100); do [ "$(status fwd)" = running ] && break; sleep 0.05; done
sleep 0.2
kill -TERM $runpid
wait $runpid
rc=$?
check "run forwards SIGTERM to the container (exit 42)" [ $rc -eq 42 ]
check "nothing left after a forwarded signal: $(left_behind fwd)" nothing_left fwd

edit_config "$bundle" "c['process']['args']=['sleep','1000']"
(cd "$bundle" && exec "$zlrunc" --root "$root" run killed >/dev/null 2>&1 </dev/null) &
runpid=$!
for _ in $(seq 100); do [ "$(status killed)" = running ] && break; sleep 0.05; done
zr kill killed KILL
wait $runpid
rc=$?
check "run of a container killed by SIGKILL exits 137" [ $rc -eq 137 ]
check "nothing left after the killed run: $(left_behind killed)" nothing_left killed

(cd "$bundle" && quiet zr run -d --pid-file "$tmp/run.pid" detached)
rc=$?
st=$(status detached)
ck "run -d returns at once, running" '[ $rc -eq 0 ] && [ "$st" = running ]'
check "run -d writes the pid file" [ "$(cat "$tmp/run.pid")" = "$(zr state detached | json_get "j['pid']")" ]
zr delete --force detached
check "nothing left after run -d and delete --force: $(left_behind detached)" nothing_left detached

edit_config "$bundle" "c['process']['args']=['/bin/true']; c['linux']['resources']={'pids':{'limit':16},'memory':{'limit':67108864}}"
check "run with limits" bash -c "cd '$bundle' && '$zlrunc' --root '$root' run limits"
check "nothing left after run with limits: $(left_behind limits)" nothing_left limits

# ---- bad configs: refused, nothing created ----
bad() {
        local name=$1 stmt=$2 want=$3 out rc
        cp "$bundle/config.json" "$tmp/config.good"
        edit_config "$bundle" "$stmt"
        (cd "$bundle" && quiet zr create bad)
        rc=$?
        out=$(cat "$tmp/out")
        cp "$tmp/config.good" "$bundle/config.json"
        if [ $rc -eq 1 ] && echo "$out" | grep -qF "$want" && nothing_left bad; then ok "$name"; else
                not_ok "$name" "rc=$rc" "$out" "left: $(left_behind bad)"; fi
}
bad "missing rootfs is refused" "c['root']['path']='nosuch'" "nosuch"
bad "unknown capability is refused" "c['process']['capabilities']['bounding'].append('CAP_FOO')" \
        "process.capabilities.bounding"
bad "memory limit 0 is refused" "c['linux']['resources']={'memory':{'limit':0}}" "memory.limit"
bad "bad seccomp action is refused" \
        "c['linux']['seccomp']={'defaultAction':'SCMP_ACT_NOPE'}" "linux.seccomp"
bad "missing executable is refused" "c['process']['args']=['/nosuch']" "nosuch"
bad "systemd cgroupsPath is refused" "c['linux']['cgroupsPath']='system.slice:zl:bad'" "cgroupfs"
bad "createContainer hooks are refused" \
        "c['hooks']={'createContainer':[{'path':'/bin/true'}]}" "hooks.createContainer"
bad "rlimit above the hard limit is refused" \
        "c['process']['rlimits']=[{'type':'RLIMIT_NOFILE','soft':1048576,'hard':1048576}]" "RLIMIT_NOFILE"
printf '{"ociVersion": ' >"$tmp/trunc.json"
cp "$bundle/config.json" "$tmp/config.good"
cp "$tmp/trunc.json" "$bundle/config.json"
(cd "$bundle" && quiet zr create bad)
rc=$?
out=$(cat "$tmp/out")
cp "$tmp/config.good" "$bundle/config.json"
if [ $rc -eq 1 ] && echo "$out" | grep -q "config.json" && nothing_left bad; then ok "JSON syntax error is refused"; else
        not_ok "JSON syntax error is refused" "rc=$rc" "$out"; fi
out=$(cd "$bundle" && zr create --bundle "$bundle" 'bad/id' 2>&1)
check "invalid id is refused" [ $? -eq 1 ]
(cd "$bundle" && quiet zr create dup)
(cd "$bundle" && quiet zr create dup)
rc=$?
out=$(cat "$tmp/out")
ck "a second create of the same id is refused" '[ $rc -eq 1 ] && echo "$out" | grep -q "exists"'
check "the first one is intact" [ "$(status dup)" = created ]
zr delete --force dup

# ---- hooks ----
edit_config "$bundle" "c['process']['args']=['/bin/true']; c['hooks']={
 'prestart':[{'path':'/bin/sh','args':['sh','-c','cat > $tmp/prestart.json']}],
 'poststart':[{'path':'/bin/sh','args':['sh','-c','cat > $tmp/poststart.json']}],
 'poststop':[{'path':'/bin/sh','args':['sh','-c','cat > $tmp/poststop.json']}]}"
(cd "$bundle" && quiet zr run hooked)
check "prestart hook gets the state on stdin" [ "$(json_get "j['id'],j['status']" <"$tmp/prestart.json")" = "hooked created" ]
check "poststart hook runs" [ "$(json_get "j['status']" <"$tmp/poststart.json")" = running ]
check "poststop hook runs" [ "$(json_get "j['status']" <"$tmp/poststop.json")" = stopped ]
edit_config "$bundle" "c['hooks']={'prestart':[{'path':'/bin/false'}]}"
(cd "$bundle" && quiet zr run hookfail)
rc=$?
out=$(cat "$tmp/out")
ck "a failing prestart hook fails the create" '[ $rc -eq 1 ] && echo "$out" | grep -q "hooks.prestart"'
check "nothing left after a failing hook: $(left_behind hookfail)" nothing_left hookfail
edit_config "$bundle" "c.pop('hooks')"

# ---- global options ----
out=$(zr --systemd-cgroup state x 2>&1)
rc=$?
ck "--systemd-cgroup is refused, naming cgroupfs" '[ $rc -eq 1 ] && echo "$out" | grep -q "cgroup-manager=cgroupfs"'
out=$("$zlrunc" --version)
check "--version names the spec" bash -c "echo '$out' | grep -q '^zl-runc version ' && echo '$out' | grep -q '^spec: 1.1.0'"
zr --log "$tmp/log.json" --log-format json state nosuch >/dev/null 2>&1
check "--log-format json writes runc's lines" python3 -c "
import json,sys; l=json.loads(open(sys.argv[1]).readline())
assert l['level']=='error' and 'does not exist' in l['msg'] and l['time']" "$tmp/log.json"
zr --log "$tmp/log.txt" state nosuch >/dev/null 2>&1
check "--log text format" grep -q 'level=error msg="container' "$tmp/log.txt"
check "--rootless and --criu are accepted" zr --rootless false --criu /x --debug list -q
check "features is runtime-spec JSON" bash -c "'$zlrunc' features | python3 -c \"
import json,sys; f=json.load(sys.stdin)
assert f['ociVersionMin']=='1.0.0' and f['ociVersionMax']=='1.1.0'
assert 'pid' in f['linux']['namespaces'] and 'CAP_SYS_ADMIN' in f['linux']['capabilities']
assert 'SCMP_ACT_ERRNO' in f['linux']['seccomp']['actions'] and f['linux']['cgroup']['v1']
assert 'rbind' in f['mountOptions']\""
check "nothing in the state root at the end" [ -z "$(ls "$root" 2>/dev/null)" ]

tap_done
