#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tests/netd/test-netd.sh: org.zlayer.Network1 on a private bus with real network namespaces as
# containers: two reach each other, the "host" reaches them, an "outside" namespace sees the
# host's address through the masquerade, hosts and resolv.conf, detach frees, the named errors,
# kill -9 and restart (attachments kept, orphans swept), and a full /30 node subnet.
#
# The test runs in a network and mount namespace of its own (tests/lib/netns.sh re-executes it
# under unshare), with a test bridge name and cluster range: the host's links, routes and
# nftables tables are never touched, and everything goes with the namespace.
#
# usage: test-netd.sh ZL_NETD ZLCTL
set -uo pipefail

netd=$1 zlctl=$2
ZL_NETNS_MOUNT=1 ZL_NETNS_REQUIRED=1
. "$(dirname "$0")/../lib/netns.sh"

. "$(dirname "$0")/../bus/lib.sh"
# `ip netns add` makes files in /run/netns: on a tmpfs of our mount namespace they never reach
# the host's /run, whatever happens to the test.
mkdir -p /run/netns && mount -t tmpfs -o mode=0755 zl-netd-test /run/netns ||
        zl_skip_all "cannot mount a tmpfs on /run/netns"
for tool in dbus-daemon busctl dbus-monitor gdbus ip setpriv python3; do
        command -v "$tool" > /dev/null || zl_skip_all "$tool is not installed"
done
export ZLAYER_LOG_TARGET=stderr

B=org.zlayer.Network1 P=/org/zlayer/Network1 I=org.zlayer.Network1
BRIDGE=zltest0
NS_PREFIX=zlt$$
declare -a NAMESPACES=()

zl_test_setup
cleanup() {
        local ns
        zl_cleanup
        for ns in "${NAMESPACES[@]}"; do
                ip netns del "$ns" 2> /dev/null
        done
        ip link del "$BRIDGE" 2> /dev/null
        ip link del zltest1 2> /dev/null
        ip link del zltout 2> /dev/null
}
trap cleanup EXIT
ip link set lo up

bus() {
        busctl --address="$ZLAYER_BUS_ADDRESS" "$@"
}
# attach ID NETNS [OPTIONS...]: prints the reply as JSON.
attach() {
        local id=$1 ns=$2
        shift 2
        bus --json=short call -- $B $P $I AttachContainer 'ssa{sv}' "$id" "$ns" $(($# / 3)) "$@"
}
json_get() { # JSON_TEXT PYTHON_EXPR_ON_data
        python3 -c 'import json, sys
data = json.loads(sys.argv[1])["data"]
print(eval(sys.argv[2]))' "$1" "$2"
}
# newns NAME: a namespace at /run/netns/$NS_PREFIX-NAME, its path in $NSPATH. Not in a
# subshell: NAMESPACES must remember it for the cleanup.
newns() {
        local ns=$NS_PREFIX-$1
        NSPATH=
        ip netns add "$ns" || return 1
        NAMESPACES+=("$ns")
        NSPATH=/run/netns/$ns
}
# tcp_source SERVER_NS ADDRESS PORT CLIENT_NS ("" for ours): the source address the server saw.
tcp_source() {
        local sns=$1 addr=$2 port=$3 cns=$4 out pid
        out=$ZL_TMP/tcp.$port
        rm -f "$out"
        ip netns exec "$sns" python3 -c 'import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(1)
s.settimeout(10)
open(sys.argv[3] + ".ready", "w").close()
c, peer = s.accept()
open(sys.argv[3], "w").write(peer[0])' "$addr" "$port" "$out" &
        pid=$!
        for _ in $(seq 100); do
                [ -e "$out.ready" ] && break
                sleep 0.05
        done
        if [ -n "$cns" ]; then
                ip netns exec "$cns" python3 -c 'import socket, sys
socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5).close()' "$addr" "$port"
        else
                python3 -c 'import socket, sys
socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5).close()' "$addr" "$port"
        fi
        wait "$pid"
        cat "$out" 2> /dev/null
}
ping_from() { # NS ("" for ours) ADDRESS
        if [ -n "$1" ]; then
                ip netns exec "$1" busybox ping -c 1 -W 2 "$2" > /dev/null 2>&1
        else
                busybox ping -c 1 -W 2 "$2" > /dev/null 2>&1
        fi
}
n_attachments() {
        bus --json=short call $B $P $I ListAttachments | python3 -c 'import json, sys
print(len(json.load(sys.stdin)["data"][0]))'
}
zlv_links() {
        ip -o link show 2> /dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' | grep '^zlv' | sort
}
listed_links() {
        bus --json=short call $B $P $I ListAttachments | python3 -c 'import json, sys
for a in json.load(sys.stdin)["data"][0]:
    print(a[2])' | sort
}

command -v busybox > /dev/null || zl_skip_all "busybox is not installed (for ping)"
printf 'nameserver 127.0.0.53\nnameserver 10.9.9.9\nsearch test.example\n' > "$ZL_TMP/resolv.conf"
cat > "$ZL_TMP/netd.conf" << CONF
# The test's node: its own range and bridge.
cluster_cidr = 10.251.0.0/16
node_prefix_length = 24
node_index = 3
bridge = $BRIDGE
resolv_conf = $ZL_TMP/resolv.conf
resolv_conf_fallback = $ZL_TMP/no-such-file
CONF
export ZLAYER_NETD_CONFIG=$ZL_TMP/netd.conf

start_daemon() {
        zl_daemon_start zl-netd "$netd" && zl_wait_state $B $P running 20
}

zl_bus_start || { zl_not_ok "a private dbus-daemon starts"; zl_done; }
dbus-monitor --address "$ZLAYER_BUS_ADDRESS" "type='signal',interface='$I'" > "$ZL_TMP/signals" \
        2>&1 &
ZL_CLEANUP_PIDS+=($!)
if start_daemon; then
        zl_ok "zl-netd runs with the test configuration"
else
        zl_not_ok "zl-netd runs with the test configuration" "$(cat "$ZL_TMP/zl-netd/log")"
        zl_done
fi

# ---- properties, and no bridge before the first container ----
for kv in "ClusterCidr=10.251.0.0/16" "NodeSubnet=10.251.3.0/24" "NodeSubnet6=" \
          "Bridge=$BRIDGE" "Gateway=10.251.3.1"; do
        v=$(zl_get_property $B $P $I "${kv%%=*}")
        [ "$v" = "s \"${kv#*=}\"" ] && zl_ok "property ${kv%%=*} is '${kv#*=}'" ||
                zl_not_ok "property ${kv%%=*} is '${kv#*=}'" "got: $v"
done
if ip link show "$BRIDGE" > /dev/null 2>&1; then
        zl_not_ok "no bridge before the first attach"
else
        zl_ok "no bridge before the first attach"
fi

# ---- two containers ----
newns a; nsA=$NSPATH
newns b; nsB=$NSPATH
newns outside
outA=$(attach ctr-a "$nsA" mtu u 1400 hostname s web-a 2>&1)
if [ "$(json_get "$outA" 'data[0] + " " + data[1]')" = "10.251.3.2/24 10.251.3.1" ]; then
        zl_ok "AttachContainer gives the first address and the gateway"
else
        zl_not_ok "AttachContainer gives the first address and the gateway" "$outA" \
                "$(cat "$ZL_TMP/zl-netd/log")"
fi
macA=$(json_get "$outA" 'data[2]' 2> /dev/null)
outB=$(attach ctr-b "$nsB" 2>&1)
[ "$(json_get "$outB" 'data[0]' 2> /dev/null)" = 10.251.3.3/24 ] &&
        zl_ok "a second container gets the next address" ||
        zl_not_ok "a second container gets the next address" "$outB"

inA=$(ip netns exec "$NS_PREFIX-a" ip -o addr show dev eth0 2>&1)
rtA=$(ip netns exec "$NS_PREFIX-a" ip route show default 2>&1)
lkA=$(ip netns exec "$NS_PREFIX-a" ip -o link show dev eth0 2>&1)
if [[ "$inA" == *"inet 10.251.3.2/24"* ]] && [[ "$rtA" == "default via 10.251.3.1"* ]] &&
   [[ "$lkA" == *"mtu 1400"* ]] && [[ "${lkA,,}" == *"link/ether ${macA,,}"* ]]; then
        zl_ok "eth0 in the namespace: address, default route, MTU 1400, the MAC returned"
else
        zl_not_ok "eth0 in the namespace: address, default route, MTU 1400, the MAC returned" \
                "$inA" "$rtA" "$lkA" "mac: $macA"
fi
lo=$(ip netns exec "$NS_PREFIX-a" ip -o link show dev lo)
[[ "$lo" == *"UP"* ]] && zl_ok "lo is up in the namespace" || zl_not_ok "lo is up" "$lo"
ip -o link show "$BRIDGE" > /dev/null 2>&1 && zl_ok "the first attach made the bridge" ||
        zl_not_ok "the first attach made the bridge"

hosts=$(json_get "$outA" 'data[3]["hosts"]["data"]' 2> /dev/null)
resolv=$(json_get "$outA" 'data[3]["resolv_conf"]["data"]' 2> /dev/null)
if grep -qxP '10\.251\.3\.2\tweb-a' "$hosts" 2> /dev/null && grep -qx '127.0.0.1.localhost' "$hosts"
then
        zl_ok "hosts file: localhost and the hostname with the address"
else
        zl_not_ok "hosts file: localhost and the hostname with the address" "$outA" \
                "$(cat "$hosts" 2>&1)"
fi
if grep -qx 'nameserver 10.9.9.9' "$resolv" 2> /dev/null &&
   ! grep -q '127.0.0.53' "$resolv" && grep -qx 'search test.example' "$resolv"; then
        zl_ok "resolv.conf: the host's resolvers without the loopback stub"
else
        zl_not_ok "resolv.conf: the host's resolvers without the loopback stub" \
                "$(cat "$resolv" 2>&1)"
fi
# How zl-runtimed uses them: bind mounts over the container's files.
mnt=$(ip netns exec "$NS_PREFIX-a" unshare --mount sh -c \
        "mount --bind -o ro '$resolv' /etc/resolv.conf && cat /etc/resolv.conf" 2>&1)
[[ "$mnt" == *"nameserver 10.9.9.9"* ]] && zl_ok "resolv.conf bind-mounts over /etc/resolv.conf" ||
        zl_not_ok "resolv.conf bind-mounts over /etc/resolv.conf" "$mnt"

# ---- reachability ----
zl_check "container a pings container b" ping_from "$NS_PREFIX-a" 10.251.3.3
src=$(tcp_source "$NS_PREFIX-b" 10.251.3.3 7000 "$NS_PREFIX-a")
[ "$src" = 10.251.3.2 ] && zl_ok "a TCP connection from a to b comes from a's address" ||
        zl_not_ok "a TCP connection from a to b comes from a's address" "saw '$src'"
zl_check "the host pings container a" ping_from "" 10.251.3.2
src=$(tcp_source "$NS_PREFIX-a" 10.251.3.2 7001 "")
[ "$src" = 10.251.3.1 ] && zl_ok "the host connects to a container by TCP" ||
        zl_not_ok "the host connects to a container by TCP" "saw '$src'"

# "Outside": a namespace on a veth of the host, which knows no route to the cluster.
ip link add zltout type veth peer name eth0 netns "$NS_PREFIX-outside"
ip addr add 192.0.2.254/24 dev zltout
ip link set zltout up
ip netns exec "$NS_PREFIX-outside" sh -c \
        'ip addr add 192.0.2.1/24 dev eth0 && ip link set eth0 up && ip link set lo up'
src=$(tcp_source "$NS_PREFIX-outside" 192.0.2.1 7002 "$NS_PREFIX-a")
[ "$src" = 192.0.2.254 ] && zl_ok "outside sees the host's address (masquerade)" ||
        zl_not_ok "outside sees the host's address (masquerade)" "saw '$src'"

# ---- idempotence, signals ----
again=$(attach ctr-a "$nsA" 2>&1)
[ "$(json_get "$again" 'data[0] + " " + data[2]')" = "10.251.3.2/24 $macA" ] &&
        zl_ok "a second attach returns the same attachment" ||
        zl_not_ok "a second attach returns the same attachment" "$again"
[ "$(n_attachments)" = 2 ] && zl_ok "ListAttachments lists two" ||
        zl_not_ok "ListAttachments lists two" "$(bus call $B $P $I ListAttachments)"
n=$(grep -c 'member=ContainerAttached' "$ZL_TMP/signals")
[ "$n" = 2 ] && zl_ok "ContainerAttached was sent twice (not for the repeated attach)" ||
        zl_not_ok "ContainerAttached was sent twice" "$(cat "$ZL_TMP/signals")"

# ---- zlctl network ----
st=$("$zlctl" network status 2>&1)
if [[ "$st" == *"Node subnet    10.251.3.0/24"* ]] && [[ "$st" == *"Bridge         $BRIDGE"* ]] &&
   [[ "$st" == *"Attached       2"* ]]; then
        zl_ok "zlctl network status"
else
        zl_not_ok "zlctl network status" "$st"
fi
ls=$("$zlctl" network ls 2>&1)
[[ "$ls" == *"ctr-a "*"10.251.3.2/24"*"$macA"*"1400"* ]] && zl_ok "zlctl network ls" ||
        zl_not_ok "zlctl network ls" "$ls"
js=$("$zlctl" network ls --output json 2>&1)
if python3 -c 'import json, sys
a = json.loads(sys.argv[1])
assert [x["ip"] for x in a] == ["10.251.3.2/24", "10.251.3.3/24"], a
assert a[0]["mtu"] == 1400 and a[0]["ip6"] is None and a[0]["container_id"] == "ctr-a", a' "$js"
then
        zl_ok "zlctl network ls --output json"
else
        zl_not_ok "zlctl network ls --output json" "$js"
fi
js=$("$zlctl" network status -o json 2>&1)
if python3 -c 'import json, sys
s = json.loads(sys.argv[1])
assert s["node_subnet"] == "10.251.3.0/24" and s["gateway"] == "10.251.3.1", s
assert s["node_subnet6"] is None and len(s["attachments"]) == 2, s' "$js"; then
        zl_ok "zlctl network status --output json"
else
        zl_not_ok "zlctl network status --output json" "$js"
fi
"$zlctl" network ls --output yaml > /dev/null 2>&1
[ $? = 2 ] && zl_ok "zlctl network ls --output yaml is a usage error" ||
        zl_not_ok "zlctl network ls --output yaml is a usage error"

# ---- errors ----
# Through gdbus, which prints the error's name: "GDBus.Error:org.zlayer.Error.NotFound: ...".
gattach() { # ID NETNS [OPTIONS as a GVariant]
        local opts=${3:-}
        [ -n "$opts" ] || opts='@a{sv} {}'
        gdbus call --address "$ZLAYER_BUS_ADDRESS" --dest $B --object-path $P \
                --method $I.AttachContainer "$1" "$2" "$opts"
}
expect_error() { # DESCRIPTION "NAME: MESSAGE PART" COMMAND...
        local desc=$1 part=$2 out
        shift 2
        out=$("$@" 2>&1)
        if [ $? -ne 0 ] && [[ "$out" == *"org.zlayer.Error.$part"* ]]; then
                zl_ok "$desc"
        else
                zl_not_ok "$desc" "expected org.zlayer.Error.$part" "$out"
        fi
}
newns gone; gone=$NSPATH
ip netns del "$NS_PREFIX-gone"
expect_error "a vanished namespace is NotFound" \
        "NotFound: netns_path: '$gone' does not exist" gattach ctr-gone "$gone"
[ "$(n_attachments)" = 2 ] && zl_ok "the failed attach left nothing allocated" ||
        zl_not_ok "the failed attach left nothing allocated" "$(bus call $B $P $I ListAttachments)"
expect_error "another namespace for an attached container is Exists" \
        "Exists: container_id: 'ctr-a' is attached to another network namespace" \
        gattach ctr-a "$nsB"
expect_error "a bad id is InvalidArgument" "InvalidArgument: container_id: '.x'" \
        gattach .x "$nsA"
expect_error "a relative path is InvalidArgument" \
        "InvalidArgument: netns_path: 'relative/path' is not an absolute path" \
        gattach ctr-c relative/path
expect_error "a file that is no namespace is InvalidArgument" \
        "InvalidArgument: netns_path: '$ZL_TMP/netd.conf' is not a network namespace" \
        gattach ctr-c "$ZL_TMP/netd.conf"
expect_error "an MTU out of range is InvalidArgument" \
        "InvalidArgument: options: mtu 100 is out of range" gattach ctr-c "$nsB" "{'mtu': <uint32 100>}"
expect_error "an MTU of the wrong type is InvalidArgument" \
        "InvalidArgument: options: 'mtu' must be of type 'u'" \
        gattach ctr-c "$nsB" "{'mtu': <'big'>}"
expect_error "an unknown option is InvalidArgument" \
        "InvalidArgument: options: unknown option 'color'" gattach ctr-c "$nsB" "{'color': <'red'>}"
expect_error "a bad hostname is InvalidArgument" \
        "InvalidArgument: options: hostname 'a b' is not a valid hostname" \
        gattach ctr-c "$nsB" "{'hostname': <'a b'>}"
expect_error "a non-root caller may not attach" "PermissionDenied: Only root" \
        setpriv --reuid=65534 --regid=65534 --clear-groups gdbus call \
        --address "$ZLAYER_BUS_ADDRESS" --dest $B --object-path $P \
        --method $I.AttachContainer ctr-c "$nsB" "@a{sv} {}"
expect_error "detaching an unknown container is NotFound" \
        "NotFound: container_id: 'nosuch' is not attached" \
        gdbus call --address "$ZLAYER_BUS_ADDRESS" --dest $B --object-path $P \
        --method $I.DetachContainer nosuch
[ "$(n_attachments)" = 2 ] && zl_ok "after all the refused calls, still two attachments" ||
        zl_not_ok "after all the refused calls, still two attachments"

# ---- detach ----
hostB=$(bus --json=short call $B $P $I ListAttachments | python3 -c 'import json, sys
print([a[2] for a in json.load(sys.stdin)["data"][0] if a[0] == "ctr-b"][0])')
zl_check "DetachContainer" bus call $B $P $I DetachContainer s ctr-b
if ip link show "$hostB" > /dev/null 2>&1 ||
   ip netns exec "$NS_PREFIX-b" ip link show eth0 > /dev/null 2>&1; then
        zl_not_ok "detach removed the veth ($hostB)"
else
        zl_ok "detach removed the veth ($hostB)"
fi
zl_wait_file_grep "$ZL_TMP/signals" 'member=ContainerDetached' 3 &&
        zl_ok "ContainerDetached was sent" || zl_not_ok "ContainerDetached was sent"
newns d; nsD=$NSPATH
outD=$(attach ctr-d "$nsD" 2>&1)
[ "$(json_get "$outD" 'data[0]' 2> /dev/null)" = 10.251.3.3/24 ] &&
        zl_ok "the freed address is given again" ||
        zl_not_ok "the freed address is given again" "$outD"

if ip netns exec "$NS_PREFIX-a" busybox ping -c 1 -w 10 10.251.3.3 > /dev/null 2>&1; then
        zl_ok "container a pings container d, which has b's old address"
else
        # eth0 comes up with arp_notify on, announcing the reused address: a's neighbour
        # entry for it must not keep b's MAC.
        zl_not_ok "container a pings container d, which has b's old address" \
                "$(ip -d link show master $BRIDGE)" "$(ip netns exec "$NS_PREFIX-a" ip neigh)" \
                "$(ip netns exec "$NS_PREFIX-d" ip -d link)"
fi

# ---- kill -9 and restart ----
newns e; nsE=$NSPATH
ip link add zlv0000deadbeef type veth peer name zltorphan
attach ctr-e "$nsE" > /dev/null 2>&1 &
attacher=$!
sleep 0.0$((RANDOM % 10))
kill -KILL "${ZL_PID[zl-netd]}"
wait "${ZL_PID[zl-netd]}" 2> /dev/null
unset "ZL_PID[zl-netd]"
wait "$attacher"
if start_daemon; then
        zl_ok "zl-netd restarts after kill -9"
else
        zl_not_ok "zl-netd restarts after kill -9" "$(cat "$ZL_TMP/zl-netd/log")"
        zl_done
fi
list=$(bus --json=short call $B $P $I ListAttachments)
if [[ "$list" == *'"ctr-a"'* ]] && [[ "$list" == *'"ctr-d"'* ]]; then
        zl_ok "the attachments are kept"
else
        zl_not_ok "the attachments are kept" "$list"
fi
ip link show zlv0000deadbeef > /dev/null 2>&1 && zl_not_ok "the orphan veth was swept" ||
        zl_ok "the orphan veth was swept"
if [ "$(zlv_links)" = "$(listed_links)" ]; then
        zl_ok "after the interrupted attach every veth is an attachment and the reverse"
else
        zl_not_ok "after the interrupted attach every veth is an attachment and the reverse" \
                "links: $(zlv_links | tr '\n' ' ')" "attachments: $(listed_links | tr '\n' ' ')"
fi
# 10.251.3.3 was b's: a's neighbour entry for it is stale until the kernel probes it again.
if ip netns exec "$NS_PREFIX-a" busybox ping -c 1 -w 10 10.251.3.3 > /dev/null 2>&1; then
        zl_ok "container a still pings container d"
else
        zl_not_ok "container a still pings container d" "$list" "$(ip -br link; ip -br addr)" \
                "$(ip netns exec "$NS_PREFIX-d" ip -br addr)" "$(cat "$ZL_TMP/zl-netd/log")"
fi
again=$(attach ctr-a "$nsA" 2>&1)
[ "$(json_get "$again" 'data[0] + " " + data[2]')" = "10.251.3.2/24 $macA" ] &&
        zl_ok "after the restart an attach is still idempotent" ||
        zl_not_ok "after the restart an attach is still idempotent" "$again"

for id in ctr-a ctr-d ctr-e; do
        bus call $B $P $I DetachContainer s "$id" > /dev/null 2>&1
done
[ "$(n_attachments)" = 0 ] && [ -z "$(zlv_links)" ] &&
        zl_ok "after detaching all, no attachment and no veth is left" ||
        zl_not_ok "after detaching all, no attachment and no veth is left" "$(zlv_links)"
kill -TERM "${ZL_PID[zl-netd]}"
zl_wait_exit zl-netd 10 && [ "$ZL_STATUS" = 0 ] && zl_ok "SIGTERM: exit 0" ||
        zl_not_ok "SIGTERM: exit 0" "status $ZL_STATUS"

# ---- a full node subnet ----
cat > "$ZL_TMP/small.conf" << CONF
cluster_cidr = 10.252.0.0/16
node_prefix_length = 30
node_index = 1
bridge = zltest1
CONF
ZLAYER_NETD_CONFIG=$ZL_TMP/small.conf zl_daemon_start zl-netd-small "$netd"
zl_wait_state $B $P running 20
out=$(attach small-1 "$nsA" 2>&1)
[ "$(json_get "$out" 'data[0]' 2> /dev/null)" = 10.252.0.6/30 ] &&
        zl_ok "a /30 node subnet has room for one container" ||
        zl_not_ok "a /30 node subnet has room for one container" "$out" \
                "$(cat "$ZL_TMP/zl-netd-small/log")"
expect_error "the next one is NoSpace" "NoSpace: node subnet 10.252.0.4/30 is full" \
        gattach small-2 "$nsD"
zl_check "detach in the small subnet" bus call $B $P $I DetachContainer s small-1

bad=$ZL_TMP/bad.conf
printf 'cluster_cidr = 10.252.0.0/16\ncolour = blue\n' > "$bad"
kill -TERM "${ZL_PID[zl-netd-small]}"
zl_wait_exit zl-netd-small 10
mkdir -p "$ZL_TMP/bad"
ZLAYER_NETD_CONFIG=$bad timeout 20 "$netd" --state-dir="$ZL_TMP/bad/state" \
        --runtime-dir="$ZL_TMP/bad/run" > "$ZL_TMP/bad/log" 2>&1
st=$?
[ $st = 1 ] && grep -qF "$bad:2: 'colour': unknown key" "$ZL_TMP/bad/log" &&
        zl_ok "a bad configuration file: exit 1 naming file, line and key" ||
        zl_not_ok "a bad configuration file: exit 1 naming file, line and key" "status $st" \
                "$(cat "$ZL_TMP/bad/log")"

zl_done
