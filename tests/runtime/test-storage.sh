#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tests/runtime/test-storage.sh: CreateContainer's "storage", "devices", "sysctls" and
# "privileged" options with real containers on a busybox root, and Exec in a created container:
# bind mounts ro/rw, a named volume across two containers, an anonymous one removed with its
# container, tmpfs size and mode, a device node's cgroup access, sysctls inside, the refused ones,
# a privileged mount, and nothing left behind by bad input.
#
# usage: test-storage.sh ZL_RUNTIMED ZL_MONITOR FD_HELPER
set -uo pipefail

runtimed=$1 monitor=$2 helper=$3
. "$(dirname "$0")/../bus/lib.sh"

[ "$(id -u)" -eq 0 ] || zl_skip_all "containers need root"
for tool in dbus-daemon busctl mknod; do
        command -v "$tool" > /dev/null || zl_skip_all "$tool is not installed"
done
[ -x /bin/busybox ] || zl_skip_all "/bin/busybox is not installed (busybox-static)"
export ZL_MONITOR_PATH=$monitor
export ZLAYER_LOG_TARGET=stderr

B=org.zlayer.Runtime1 P=/org/zlayer/Runtime1 I=org.zlayer.Runtime1
CI=org.zlayer.Runtime1.Container

zl_test_setup
bus() {
        busctl --address="$ZLAYER_BUS_ADDRESS" "$1" -- "${@:2}"
}
# Containers outlive zl-runtimed by design: remove them before the daemon stops.
remove_all() {
        local id
        [ -n "${ZLAYER_BUS_ADDRESS:-}" ] || return 0
        for id in $(bus call $B $P $I ListContainers 'a{sv}' 0 2> /dev/null |
                grep -oE '"[0-9a-f]{64}"' | tr -d '"'); do
                bus call $B $P $I RemoveContainer sb "$id" true > /dev/null 2>&1
        done
        return 0
}
trap 'remove_all; zl_cleanup' EXIT

rootfs=$ZL_TMP/rootfs
mkdir -p "$rootfs"/{bin,etc,proc,dev,sys,tmp,mnt}
cp /bin/busybox "$rootfs/bin/busybox"
for applet in $("$rootfs/bin/busybox" --list); do
        [ -e "$rootfs/bin/$applet" ] || ln -s busybox "$rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$rootfs/etc/passwd"
printf 'root:x:0:\n' > "$rootfs/etc/group"

runtime_state=$ZL_TMP/zl-runtimed/state/runtime
state=$runtime_state/containers
volumes=$runtime_state/volumes

if ! zl_bus_start; then
        zl_not_ok "a private dbus-daemon starts"
        zl_done
fi
if zl_daemon_start zl-runtimed "$runtimed" && zl_wait_state $B $P running 20; then
        zl_ok "zl-runtimed runs"
else
        zl_not_ok "zl-runtimed runs" "$(cat "$ZL_TMP/zl-runtimed/log")"
        zl_done
fi

# create NAME OPTION... -- ARGS...: each OPTION is "key type value" (a{ss}: "key a{ss} N k v
# ..."); sets $ID, and
# $OUT to the reply or the error. The network is "none" (a private namespace with loopback)
# unless an option says otherwise.
create() {
        local name=$1 out n=0 opts=()
        shift
        while [ $# -gt 0 ] && [ "$1" != -- ]; do
                local words=3
                # a{ss}: a count, then that many keys and values
                [ "$2" = 'a{ss}' ] && words=$((3 + 2 * $3))
                opts+=("${@:1:words}")
                n=$((n + 1))
                shift $words
        done
        shift
        local has_network=0 i
        for ((i = 0; i < ${#opts[@]}; i += 3)); do
                [ "${opts[i]}" = network ] && has_network=1
        done
        if [ $has_network -eq 0 ]; then
                opts+=(network s none)
                n=$((n + 1))
        fi
        ID=
        OUT=$(bus call $B $P $I CreateContainer 'ssa{sv}' "$name" "" $((n + 2)) \
                rootfs s "$rootfs" "${opts[@]}" args as $# "$@" 2>&1) || return 1
        ID=$(echo "$OUT" | awk '{print $2}' | tr -d '"')
        OBJS[$name]=$(echo "$OUT" | awk '{print $3}' | tr -d '"')
}
declare -A OBJS
# must_create NAME OPTION... -- ARGS...: create, and a failure is a test failure.
must_create() {
        create "$@" || zl_not_ok "CreateContainer $1" "$OUT"
}
start() {
        bus call $B $P $I StartContainer s "$1" > /dev/null
}
remove() {
        bus call $B $P $I RemoveContainer sb "$1" true > /dev/null
}
# prop NAME PROPERTY
prop() {
        bus get-property $B "${OBJS[$1]}" $CI "$2" | cut -d' ' -f2- | tr -d '"'
}
# x CONTAINER CMD...: runs CMD through ExecStream; prints its stdout and stderr, then "exit N".
x() {
        "$helper" exec-stream "$@" 2>&1
}
# xs CONTAINER SHELL-COMMAND: the same through sh -c.
xs() {
        x "$1" /bin/sh -c "$2"
}
# expect NAME WANT OUTPUT: ok when OUTPUT contains WANT (a fixed string).
expect() {
        if printf '%s' "$3" | grep -qF -- "$2"; then
                zl_ok "$1"
        else
                zl_not_ok "$1" "wanted: $2" "got: $3"
        fi
}
expect_not() {
        if printf '%s' "$3" | grep -qF -- "$2"; then
                zl_not_ok "$1" "did not want: $2" "got: $3"
        else
                zl_ok "$1"
        fi
}

# ---- bind mounts, tmpfs, anonymous volume, Exec in the created container ----
mkdir -p "$ZL_TMP/bind-ro" "$ZL_TMP/bind-rw"
echo "from the host" > "$ZL_TMP/bind-ro/hello"
storage='[{"type":"bind","source":"'$ZL_TMP/bind-ro'","target":"/mnt/ro","readonly":true},'
storage+='{"type":"bind","source":"'$ZL_TMP/bind-rw'","target":"/mnt/rw"},'
storage+='{"type":"tmpfs","target":"/scratch","size":1048576,"mode":448},'
storage+='{"type":"tmpfs","target":"/scratch2"},'
storage+='{"type":"anonymous","target":"/cache","tier":"local"}]'
if create vols storage s "$storage" -- /bin/sh -c 'exec sleep 1000'; then
        zl_ok "CreateContainer with bind, tmpfs and anonymous storage"
else
        zl_not_ok "CreateContainer with bind, tmpfs and anonymous storage" "$OUT"
        zl_done
fi
vols=$ID
expect "the container is created, not started" created "$(prop vols State)"

# Exec before StartContainer: the waiting init's namespaces and root.
out=$(bus call $B $P $I Exec 'sasasa{sv}' vols 3 /bin/sh -c 'echo hello; exit 5' 0 0 2>&1)
expect "Exec in a created container returns output and exit code" \
        "iayay 5 6 104 101 108 108 111 10 0" "$out"
init_pid=$(grep -oE '"pid": *[0-9]+' "$state/$vols/status.json" | grep -oE '[0-9]+$')
host_netns=$(readlink "/proc/$init_pid/ns/net" 2>&1)
out=$(x vols readlink /proc/self/ns/net)
expect "Exec in a created container is in its network namespace" "$host_netns"$'\n'"exit 0" "$out"
out=$(x vols ip addr)
expect "Exec in a created container sees its network (lo)" "lo:" "$out"
host_if=$(ip -o link 2> /dev/null | awk -F': ' '$2 != "lo" {print $2; exit}' | cut -d@ -f1)
if [ -n "$host_if" ]; then
        expect_not "... and not the host's interfaces ($host_if)" "$host_if:" "$out"
else
        zl_ok "# SKIP the host has no interface but lo"
fi
out=$(x vols cat /mnt/ro/hello)
expect "Exec in a created container sees its files" "from the host" "$out"
out=$(xs vols 'echo init > /cache/step; cat /cache/step')
expect "an init step can write a volume before the start" $'init\nexit 0' "$out"
expect "the container is still created after the Execs" created "$(prop vols State)"

zl_check "StartContainer after the Execs" start "$vols"
for _ in $(seq 100); do [ "$(prop vols State)" = running ] && break; sleep 0.05; done
expect "running" running "$(prop vols State)"
out=$(x vols cat /cache/step)
expect "what the init step wrote is there after the start" $'init\nexit 0' "$out"

out=$(xs vols 'echo x > /mnt/ro/new')
expect "a readonly bind mount refuses writes" "Read-only file system" "$out"
out=$(xs vols 'echo written > /mnt/rw/new && echo ok')
expect "a read-write bind mount takes writes" $'ok\nexit 0' "$out"
expect "... which show on the host" written "$(cat "$ZL_TMP/bind-rw/new" 2>&1)"
out=$(xs vols 'stat -c %a /scratch; grep " /scratch " /proc/mounts')
expect "tmpfs with the mode asked for" $'700\n' "$out"
expect "tmpfs with the size asked for" "size=1024k" "$out"
expect "tmpfs is a tmpfs" "tmpfs /scratch tmpfs" "$out"
out=$(xs vols 'stat -c %a /scratch2')
expect "tmpfs mode defaults to 1777" $'1777\nexit 0' "$out"
anon_dirs=$(ls "$state/$vols/volumes" 2>&1)
expect "the anonymous volume lives in the container's directory" 4 "$anon_dirs"
expect "... and holds what the container wrote" init "$(cat "$state/$vols/volumes/4/step" 2>&1)"
zl_check "RemoveContainer" remove "$vols"
if [ ! -e "$state/$vols" ]; then
        zl_ok "the anonymous volume is removed with the container"
else
        zl_not_ok "the anonymous volume is removed with the container" "$(ls -R "$state/$vols")"
fi
expect "a bind source is left alone" written "$(cat "$ZL_TMP/bind-rw/new" 2>&1)"

# ---- a named volume across two containers ----
named='[{"type":"named","name":"shared-data","target":"/data","size":1048576}]'
must_create writer storage s "$named" -- /bin/sh -c 'echo kept > /data/file' &&
        start "$ID" && writer=$ID
for _ in $(seq 100); do [ "$(prop writer State)" = exited ] && break; sleep 0.05; done
expect "the first container wrote into the named volume" "0" "$(prop writer ExitCode)"
if [ "$(stat -c %a "$volumes/shared-data" 2>&1)" = 755 ]; then
        zl_ok "the named volume is created 0755 under the runtime state"
else
        zl_not_ok "the named volume is created 0755 under the runtime state" \
                "$(ls -la "$volumes" 2>&1)"
fi
out=$(bus call $B $P $I InspectContainer s writer 2>&1)
expect "InspectContainer records the volume's size" '\"size\": 1048576' "$out"
remove writer
expect "the named volume outlives the container" kept "$(cat "$volumes/shared-data/file" 2>&1)"
ro_named='[{"type":"named","name":"shared-data","target":"/data","readonly":true}]'
must_create reader storage s "$ro_named" -- /bin/sh -c 'exec sleep 1000' && start "$ID"
out=$(x reader cat /data/file)
expect "a second container sees what the first wrote" $'kept\nexit 0' "$out"
out=$(xs reader 'echo x > /data/other')
expect "a readonly named volume refuses writes" "Read-only file system" "$out"
remove reader

# ---- devices ----
node=$ZL_TMP/dev/zl-loop
mkdir -p "$ZL_TMP/dev"
mknod "$node" b 7 250
devices='[{"path":"'$node'","read":true,"write":false}]'
must_create dev-ro devices s "$devices" -- /bin/sh -c 'exec sleep 1000' && start "$ID"
out=$(xs dev-ro "ls -l $node")
expect "the device node exists in the container" "7, 250" "$out"
out=$(xs dev-ro ": < $node")
expect_not "a device allowed for reading opens for reading" "Operation not permitted" "$out"
out=$(xs dev-ro ": > $node")
expect "a device not allowed for writing does not open for writing" \
        "Operation not permitted" "$out"
remove dev-ro
devices='[{"path":"'$node'","read":true,"write":true}]'
must_create dev-rw devices s "$devices" -- /bin/sh -c 'exec sleep 1000' && start "$ID"
out=$(xs dev-rw ": > $node")
expect_not "a device allowed for writing opens for writing" "Operation not permitted" "$out"
remove dev-rw

# ---- sysctls ----
must_create sysctl sysctls 'a{ss}' 2 net.core.somaxconn 1234 net.ipv4.ip_forward 1 \
        -- /bin/sh -c 'exec sleep 1000'
out=$(x sysctl cat /proc/sys/net/core/somaxconn /proc/sys/net/ipv4/ip_forward)
expect "sysctls are set in the container" $'1234\n1\nexit 0' "$out"
if [ "$(cat /proc/sys/net/core/somaxconn)" != 1234 ]; then
        zl_ok "... and not on the host"
else
        zl_not_ok "... and not on the host"
fi
remove sysctl

# ---- privileged ----
must_create plain -- /bin/sh -c 'exec sleep 1000' && start "$ID"
out=$(xs plain 'mount -t tmpfs none /mnt && echo mounted')
expect_not "an unprivileged container cannot mount" mounted "$out"
out=$(xs plain 'echo 1 > /sys/kernel/mm/ksm/run 2>&1; grep " /sys " /proc/mounts')
expect "an unprivileged container has /sys read-only" "sysfs /sys sysfs ro" "$out"
remove plain
must_create priv privileged b true -- /bin/sh -c 'exec sleep 1000' && start "$ID"
out=$(xs priv 'mount -t tmpfs none /mnt && echo mounted && grep " /mnt " /proc/mounts')
expect "a privileged container can mount a tmpfs" $'mounted\nnone /mnt tmpfs' "$out"
out=$(xs priv 'grep " /sys " /proc/mounts; grep CapEff /proc/self/status; ls /proc/kcore')
expect "a privileged container has /sys read-write" "sysfs /sys sysfs rw" "$out"
expect "... and every capability" "CapEff:	$(awk '/^CapBnd/ {print $2}' /proc/self/status)" "$out"
expect "... and no masked paths" $'/proc/kcore\nexit 0' "$out"
remove priv

# ---- a container from an image: targets are made in its own upper layer ----
fixtures=$(cd "$(dirname "$0")/../fixtures" && pwd)
if ! command -v python3 > /dev/null ||
        ! "$fixtures/build-images.py" "$ZL_TMP/images" > "$ZL_TMP/images.log" 2>&1; then
        zl_ok "# SKIP a container from an image: the fixture images do not build here"
elif ! out=$(bus --timeout=120 call $B $P $I ImportImage ss "$ZL_TMP/images/shell" \
        localhost/zlayer/shell:v1 2>&1); then
        zl_not_ok "ImportImage of the fixture shell image" "$out"
else
        img_storage='[{"type":"named","name":"img-data","target":"/srv/new/deep"},'
        img_storage+='{"type":"named","name":"img-tmp","target":"/tmp"},'
        img_storage+='{"type":"bind","source":"'$ZL_TMP/bind-ro/hello'","target":"/etc/zl-hello",'
        img_storage+='"readonly":true}]'
        if out=$(bus call $B $P $I CreateContainer 'ssa{sv}' img "" 4 image s \
                localhost/zlayer/shell:v1 network s none storage s "$img_storage" \
                args as 3 /bin/sh -c 'exec sleep 1000' 2>&1); then
                zl_ok "CreateContainer from an image with storage"
                img=$(echo "$out" | awk '{print $2}' | tr -d '"')
                out=$(xs img 'ls -d /srv/new/deep && cat /etc/zl-hello')
                expect "the volume's target is made in the image's root" \
                        $'/srv/new/deep\nfrom the host\nexit 0' "$out"
                # A new volume takes the mode and owner of the image's directory (/tmp: 1777).
                expect "a new named volume on the image's /tmp has its mode" "1777 0:0" \
                        "$(stat -c '%a %u:%g' "$volumes/img-tmp" 2>&1)"
                if [ -d "$state/$img/upper/srv/new/deep" ]; then
                        zl_ok "... in the container's upper layer"
                else
                        zl_not_ok "... in the container's upper layer" \
                                "$(find "$state/$img" -maxdepth 3 2>&1)"
                fi
                leaked=$(find "$ZL_TMP/zl-runtimed/state" -path '*/srv/new' -not -path "$state/*" \
                        2>&1)
                if [ -z "$leaked" ]; then
                        zl_ok "... not in the shared image layers"
                else
                        zl_not_ok "... not in the shared image layers" "$leaked"
                fi
                remove img
        else
                zl_not_ok "CreateContainer from an image with storage" "$out"
        fi
fi

# ---- bad input leaves nothing behind ----
before=$(ls "$state" | sort)
volumes_before=$(ls "$volumes" | sort)
# bad WHAT WANT OPTIONS: CreateContainer with OPTIONS (GVariant text: "'key': <value>, ...")
# fails with InvalidArgument and a message containing WANT. gdbus shows the error's name.
bad() {
        local net="'network': <'none'>,"
        case "$3" in *"'network'"*) net= ;; esac
        out=$(gdbus call --address "$ZLAYER_BUS_ADDRESS" --dest $B --object-path $P \
                --method $I.CreateContainer bad "" \
                "{'rootfs': <'$rootfs'>, 'args': <['/bin/true']>, $net $3}" 2>&1)
        expect "$1: InvalidArgument" "org.zlayer.Error.InvalidArgument" "$out"
        expect "$1: the message" "$2" "$out"
}
bad "s3 storage" "storage[1]: s3 volumes are not supported yet" \
        "'storage': <'[{\"type\":\"named\",\"name\":\"ghost1\",\"target\":\"/g\"},
                       {\"type\":\"s3\",\"bucket\":\"b\",\"target\":\"/m\"}]'>"
bad "a missing bind source" "storage[0].source: '/nonexistent/zl-src'" \
        "'storage': <'[{\"type\":\"bind\",\"source\":\"/nonexistent/zl-src\",\"target\":\"/m\"}]'>"
bad "storage that is not JSON" "storage: " "'storage': <'nope'>"
bad "a sysctl that is not namespaced" "'vm.swappiness' is not namespaced" \
        "'sysctls': <{'vm.swappiness': '10'}>"
bad "a net sysctl with the host's network" "needs a private network namespace" \
        "'network': <'host'>, 'sysctls': <{'net.core.somaxconn': '10'}>"
bad "a missing device, with a named volume" "devices[0].path: '/dev/zl-nosuch'" \
        "'storage': <'[{\"type\":\"named\",\"name\":\"ghost2\",\"target\":\"/g\"}]'>,
         'devices': <'[{\"path\":\"/dev/zl-nosuch\"}]'>"
# This one fails after the volumes were made: the executable is missing.
create bad storage s \
        '[{"type":"named","name":"ghost3","target":"/g"},{"type":"anonymous","target":"/a"}]' \
        -- /nosuch
out=$OUT
expect "a create that fails late fails" "nosuch" "$out"
after=$(ls "$state" | sort)
volumes_after=$(ls "$volumes" | sort)
if [ "$before" = "$after" ] && [ "$volumes_before" = "$volumes_after" ]; then
        zl_ok "failed creates leave no container directory and no new named volume"
else
        zl_not_ok "failed creates leave no container directory and no new named volume" \
                "containers before: $before" "after: $after" "volumes before: $volumes_before" \
                "after: $volumes_after"
fi

remove_all
if [ -z "$(ls "$state")" ]; then
        zl_ok "everything removed"
else
        zl_not_ok "everything removed" "$(ls "$state")"
fi
zl_done
