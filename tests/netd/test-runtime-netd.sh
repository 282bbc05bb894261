#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tests/netd/test-runtime-netd.sh: zl-runtimed attaches its containers through zl-netd. Real
# busybox containers made with zlctl: two reach each other by IP, one reaches an "outside"
# server in another namespace through the masquerade, the test's namespace (the node) reaches a
# container's httpd, /etc/hosts and /etc/resolv.conf come from zl-netd (read-only), ps and
# inspect show the address, removal detaches (veth gone, address free), restarts of zl-netd and
# zl-runtimed keep everything, zl-netd down is a clear error that leaves nothing behind (and its
# start-up sweep drops what was removed while it was down), networks "none" and "host".
#
# Like tests/netd/test-netd.sh the whole test runs in a network and mount namespace of its own
# (tests/lib/netns.sh), with a test bridge and range: zl-netd, zl-runtimed and the containers
# share it, and nothing of it reaches the host.
#
# usage: test-runtime-netd.sh ZL_NETD ZL_RUNTIMED ZL_MONITOR ZLCTL
set -uo pipefail

netd=$1 runtimed=$2 monitor=$3 zlctl=$4
ZL_NETNS_MOUNT=1 ZL_NETNS_REQUIRED=1
. "$(dirname "$0")/../lib/netns.sh"

. "$(dirname "$0")/../bus/lib.sh"
mkdir -p /run/netns && mount -t tmpfs -o mode=0755 zl-rt-netd-test /run/netns ||
        zl_skip_all "cannot mount a tmpfs on /run/netns"
for tool in dbus-daemon busctl ip python3; do
        command -v "$tool" > /dev/null || zl_skip_all "$tool is not installed"
done
[ -x /bin/busybox ] || zl_skip_all "/bin/busybox is not installed (busybox-static)"
export ZLAYER_LOG_TARGET=stderr ZL_MONITOR_PATH=$monitor

NB=org.zlayer.Network1 NP=/org/zlayer/Network1
RB=org.zlayer.Runtime1 RP=/org/zlayer/Runtime1
BRIDGE=zlrt0
OUTSIDE=zlrt$$-outside

zl_test_setup
remove_all() {
        local ids
        ids=$("$zlctl" container ls -a -q --no-trunc 2> /dev/null) || return 0
        [ -n "$ids" ] && "$zlctl" container rm -f $ids > /dev/null 2>&1
        return 0
}
cleanup() {
        remove_all
        zl_cleanup
        ip netns del "$OUTSIDE" 2> /dev/null
        ip link del "$BRIDGE" 2> /dev/null
        ip link del zlrtout 2> /dev/null
}
trap cleanup EXIT
ip link set lo up

out=$ZL_TMP/out err=$ZL_TMP/err

# expect_rc DESCRIPTION WANT COMMAND...: stdout in $out, stderr in $err.
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
# expect_eq DESCRIPTION GOT WANT
expect_eq() {
        if [ "$2" = "$3" ]; then
                zl_ok "$1"
        else
                zl_not_ok "$1" "got '$2'" "expected '$3'"
        fi
}
# inspect_net NAME KEY: a field of InspectContainer's "network".
inspect_net() {
        "$zlctl" container inspect "$1" 2> /dev/null | "$ZL_PYTHON" -c 'import json, sys
d = json.load(sys.stdin)
d = d[0] if isinstance(d, list) else d
print(d.get("network", {}).get(sys.argv[1], ""))' "$2"
}
# attachments: "container_id ip interface" per line, from `zlctl network ls --output json`.
attachments() {
        "$zlctl" network ls --output json | "$ZL_PYTHON" -c 'import json, sys
for a in json.load(sys.stdin):
    print(a["container_id"], a["ip"].split("/")[0], a["host_interface"])'
}
container_id() {
        "$zlctl" container inspect "$1" 2> /dev/null | "$ZL_PYTHON" -c 'import json, sys
d = json.load(sys.stdin)
print((d[0] if isinstance(d, list) else d)["id"])'
}
zlv_links() {
        ip -o link show 2> /dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' | grep '^zlv' | sort
}
# wget_from NAME|"" URL: the page, fetched inside the container or from the test's namespace
# (busybox wget crashes with -T: timeout(1) bounds it instead).
wget_from() {
        if [ -n "$1" ]; then
                "$zlctl" container exec "$1" timeout 5 wget -q -O - "$2"
        else
                "$ZL_PYTHON" -c 'import sys, urllib.request
sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "$2"
        fi
}

rootfs=$ZL_TMP/rootfs
mkdir -p "$rootfs"/{bin,etc,proc,dev,sys,tmp}
cp /bin/busybox "$rootfs/bin/busybox"
for applet in $("$rootfs/bin/busybox" --list); do
        [ -e "$rootfs/bin/$applet" ] || ln -s busybox "$rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$rootfs/etc/passwd"
printf 'root:x:0:\n' > "$rootfs/etc/group"
printf '127.0.0.1 image-hosts\n' > "$rootfs/etc/hosts"
# A server in each container: its name as the page (the root directory is shared by them all).
serve='d=/tmp/www-$(hostname); mkdir -p $d; echo "page of $(hostname)" > $d/index.html
exec httpd -f -p 80 -h $d'

printf 'nameserver 127.0.0.53\nnameserver 10.9.9.9\nsearch test.example\n' > "$ZL_TMP/resolv.conf"
cat > "$ZL_TMP/netd.conf" << CONF
cluster_cidr = 10.252.0.0/16
node_prefix_length = 24
node_index = 5
bridge = $BRIDGE
resolv_conf = $ZL_TMP/resolv.conf
resolv_conf_fallback = $ZL_TMP/no-such-file
CONF
export ZLAYER_NETD_CONFIG=$ZL_TMP/netd.conf

start_netd() {
        zl_daemon_start zl-netd "$netd" && zl_wait_state $NB $NP running 20
}
stop_netd() {
        kill -TERM "${ZL_PID[zl-netd]}" && zl_wait_exit zl-netd 10
}
start_runtimed() {
        zl_daemon_start zl-runtimed "$runtimed" && zl_wait_state $RB $RP running 20
}

zl_bus_start || { zl_not_ok "a private dbus-daemon starts"; zl_done; }
if start_netd && start_runtimed; then
        zl_ok "zl-netd and zl-runtimed run in the test's namespaces"
else
        zl_not_ok "zl-netd and zl-runtimed run" "$(cat "$ZL_TMP/zl-netd/log" "$ZL_TMP/zl-runtimed/log")"
        zl_done
fi

# ---- two containers on the node ----------------------------------------------------------
expect_rc "run -d c1 (network private, the default)" 0 \
        "$zlctl" container run -d --name c1 --rootfs "$rootfs" /bin/sh -c "$serve"
expect_rc "run -d c2" 0 "$zlctl" container run -d --name c2 --rootfs "$rootfs" /bin/sh -c "$serve"
ip1=$(inspect_net c1 ip_address) ip2=$(inspect_net c2 ip_address)
if [[ "$ip1" == 10.252.5.* && "$ip2" == 10.252.5.* && "$ip1" != "$ip2" ]]; then
        zl_ok "inspect: each has an address of the node subnet ($ip1, $ip2)"
else
        zl_not_ok "inspect: each has an address of the node subnet" "c1 '$ip1', c2 '$ip2'"
fi
expect_eq "inspect: mode private" "$(inspect_net c1 mode)" private
expect_eq "inspect: the gateway is the bridge's" "$(inspect_net c1 gateway)" 10.252.5.1
expect_eq "inspect: the prefix length" "$(inspect_net c1 ip_prefix_length)" 24
c1_id=$(container_id c1) c2_id=$(container_id c2)
# The object path as sd_bus_path_encode() makes it: a leading digit escaped like [^A-Za-z0-9].
obj1=$RP/container/$("$ZL_PYTHON" -c 'import sys
s = sys.argv[1]
print("".join(c if c.isascii() and c.isalnum() and not (i == 0 and c.isdigit())
              else "_%02x" % ord(c) for i, c in enumerate(s)))' "$c1_id")
expect_eq "the Container object's IPAddress" \
        "$(zl_get_property $RB "$obj1" $RB.Container IPAddress)" "s \"$ip1\""
expect_eq "the Container object's Network" \
        "$(zl_get_property $RB "$obj1" $RB.Container Network)" 's "private"'
mac1=$(zl_get_property $RB "$obj1" $RB.Container MacAddress)
[[ "$mac1" =~ ^s\ \"([0-9a-f]{2}:){5}[0-9a-f]{2}\"$ ]] && zl_ok "the MacAddress property ($mac1)" ||
        zl_not_ok "the MacAddress property" "$mac1"
expect_rc "zlctl ps" 0 "$zlctl" ps
if grep -E "c1 +running +$ip1 " "$out" > /dev/null && grep -E "c2 +running +$ip2 " "$out" > /dev/null; then
        zl_ok "zlctl ps shows the addresses"
else
        zl_not_ok "zlctl ps shows the addresses" "$(cat "$out")"
fi
expect_rc "zlctl ps --output json" 0 "$zlctl" ps --output json
grep -F "\"ip\": \"$ip1\"" "$out" > /dev/null && zl_ok "ps --output json has the ip" ||
        zl_not_ok "ps --output json has the ip" "$(cat "$out")"
attachments > "$ZL_TMP/att" 2>&1
if grep -E "^$c1_id $ip1 zlv" "$ZL_TMP/att" > /dev/null && grep -E "^$c2_id $ip2 zlv" "$ZL_TMP/att" > /dev/null; then
        zl_ok "zlctl network ls lists both, by container id"
else
        zl_not_ok "zlctl network ls lists both" "$(cat "$ZL_TMP/att")"
fi
c2_if=$(awk -v id="$c2_id" '$1 == id {print $3}' "$ZL_TMP/att")

# Servers take a moment to listen.
for _ in $(seq 50); do
        wget_from "" "http://$ip1/" > /dev/null 2>&1 && wget_from "" "http://$ip2/" > /dev/null 2>&1 && break
        sleep 0.1
done
expect_eq "c2 reaches c1's httpd by IP" "$(wget_from c2 "http://$ip1/" 2>&1)" "page of c1"
expect_eq "c1 reaches c2's httpd by IP" "$(wget_from c1 "http://$ip2/" 2>&1)" "page of c2"
expect_rc "c1 pings c2" 0 "$zlctl" container exec c1 ping -c 1 -W 2 "$ip2"
expect_eq "the node reaches c1's httpd" "$(wget_from "" "http://$ip1/" 2>&1)" "page of c1"

# ---- hosts and resolv.conf ------------------------------------------------------------------
expect_rc "cat /etc/hosts in c1" 0 "$zlctl" container exec c1 cat /etc/hosts
grep -E "^$ip1[[:space:]]+c1( |$)" "$out" > /dev/null && zl_ok "/etc/hosts names c1 with its address" ||
        zl_not_ok "/etc/hosts names c1 with its address" "$(cat "$out")"
grep -F image-hosts "$out" > /dev/null && zl_not_ok "/etc/hosts is zl-netd's, not the image's" ||
        zl_ok "/etc/hosts is zl-netd's, not the image's"
expect_rc "cat /etc/resolv.conf in c1" 0 "$zlctl" container exec c1 cat /etc/resolv.conf
if grep -x "nameserver 10.9.9.9" "$out" > /dev/null && ! grep -F 127.0.0.53 "$out" > /dev/null; then
        zl_ok "resolv.conf has the node's reachable nameservers"
else
        zl_not_ok "resolv.conf has the node's reachable nameservers" "$(cat "$out")"
fi
expect_rc "/etc/hosts is read-only in the container" 1 \
        "$zlctl" container exec c1 sh -c 'echo 1.2.3.4 evil >> /etc/hosts'

# A read-only root without the files: the engine makes the mount points before the root is
# made read-only.
cp -a "$rootfs" "$ZL_TMP/rootfs-ro"
rm -f "$ZL_TMP/rootfs-ro/etc/hosts" "$ZL_TMP/rootfs-ro/etc/resolv.conf"
expect_rc "run --read-only, a root without /etc/hosts and /etc/resolv.conf" 0 \
        "$zlctl" container run --rm --read-only --name ro1 --rootfs "$ZL_TMP/rootfs-ro" \
        /bin/sh -c 'cat /etc/hosts /etc/resolv.conf; touch /x 2>&1 || echo read-only root'
if grep -E "[[:space:]]ro1$" "$out" > /dev/null && grep -x "nameserver 10.9.9.9" "$out" > /dev/null &&
   grep -x "read-only root" "$out" > /dev/null; then
        zl_ok "read-only root: zl-netd's files are there"
else
        zl_not_ok "read-only root: zl-netd's files are there" "$(cat "$out")"
fi

# ---- outside, through the masquerade --------------------------------------------------------
ip netns add "$OUTSIDE"
ip link add zlrtout type veth peer name eth0 netns "$OUTSIDE"
ip addr add 192.0.2.254/24 dev zlrtout
ip link set zlrtout up
ip netns exec "$OUTSIDE" sh -c 'ip addr add 192.0.2.1/24 dev eth0 && ip link set eth0 up && ip link set lo up'
mkdir -p "$ZL_TMP/www" && echo "outside page" > "$ZL_TMP/www/index.html"
ip netns exec "$OUTSIDE" "$ZL_PYTHON" -m http.server 8080 --bind 192.0.2.1 --directory "$ZL_TMP/www" \
        > "$ZL_TMP/outside.log" 2>&1 &
ZL_CLEANUP_PIDS+=($!)
for _ in $(seq 50); do
        wget_from "" http://192.0.2.1:8080/ > /dev/null 2>&1 && break
        sleep 0.1
done
: > "$ZL_TMP/outside.log"
expect_eq "c1 reaches a server outside" "$(wget_from c1 http://192.0.2.1:8080/ 2>&1)" "outside page"
sleep 0.2
if grep -F 192.0.2.254 "$ZL_TMP/outside.log" > /dev/null && ! grep -F 10.252. "$ZL_TMP/outside.log" > /dev/null; then
        zl_ok "the outside server sees the node's address (masquerade)"
else
        zl_not_ok "the outside server sees the node's address (masquerade)" "$(cat "$ZL_TMP/outside.log")"
fi

# ---- restarts -----------------------------------------------------------------------------
if stop_netd && start_netd; then
        zl_ok "zl-netd restarts"
else
        zl_not_ok "zl-netd restarts" "$(cat "$ZL_TMP/zl-netd/log")"
fi
attachments > "$ZL_TMP/att2" 2>&1
expect_eq "a zl-netd restart keeps both attachments" "$(cat "$ZL_TMP/att2")" "$(cat "$ZL_TMP/att")"
expect_eq "c2 still reaches c1" "$(wget_from c2 "http://$ip1/" 2>&1)" "page of c1"

kill -TERM "${ZL_PID[zl-runtimed]}" && zl_wait_exit zl-runtimed 10
if start_runtimed; then
        zl_ok "zl-runtimed restarts"
else
        zl_not_ok "zl-runtimed restarts" "$(cat "$ZL_TMP/zl-runtimed/log")"
fi
expect_eq "a zl-runtimed restart keeps c1's address" "$(inspect_net c1 ip_address)" "$ip1"
expect_eq "... and the property" "$(zl_get_property $RB "$obj1" $RB.Container IPAddress)" "s \"$ip1\""
expect_eq "... and the gateway" "$(inspect_net c1 gateway)" 10.252.5.1
expect_eq "c1 still reaches c2" "$(wget_from c1 "http://$ip2/" 2>&1)" "page of c2"

# ---- removal ------------------------------------------------------------------------------
expect_rc "rm -f c2" 0 "$zlctl" container rm -f c2
if [ -n "$c2_if" ] && ! ip link show "$c2_if" > /dev/null 2>&1; then
        zl_ok "removal deletes c2's veth ($c2_if)"
else
        zl_not_ok "removal deletes c2's veth" "interface '$c2_if'" "$(ip -o link)"
fi
attachments > "$ZL_TMP/att3" 2>&1
grep -F "$c2_id" "$ZL_TMP/att3" > /dev/null && zl_not_ok "network ls no longer lists c2" "$(cat "$ZL_TMP/att3")" ||
        zl_ok "network ls no longer lists c2"
expect_rc "run -d c3" 0 "$zlctl" container run -d --name c3 --rootfs "$rootfs" /bin/sh -c "$serve"
expect_eq "c3 gets c2's freed address" "$(inspect_net c3 ip_address)" "$ip2"
for _ in $(seq 50); do
        wget_from "" "http://$ip2/" > /dev/null 2>&1 && break
        sleep 0.1
done
# zl-netd's gratuitous ARP (arp_notify) updates c1's neighbour entry for the address at once;
# a retry covers a server still starting on a loaded machine.
for _ in $(seq 10); do
        page=$(wget_from c1 "http://$ip2/" 2>&1)
        [ "$page" = "page of c3" ] && break
        sleep 0.5
done
expect_eq "c1 reaches c3 at the reused address" "$page" "page of c3"
expect_rc "c1's neighbour entry has c3's MAC" 0 "$zlctl" container exec c1 ip neigh show "$ip2"
grep -F "lladdr $(inspect_net c3 mac_address)" "$out" > /dev/null &&
        zl_ok "... announced by zl-netd's gratuitous ARP" ||
        zl_not_ok "... announced by zl-netd's gratuitous ARP" "$(cat "$out")"

# A container that exits gives its address back (its namespace is gone; it never starts again).
expect_rc "run -d j1, which exits at once" 0 "$zlctl" container run -d --name j1 --rootfs "$rootfs" /bin/true
j1_id=$(container_id j1)
for _ in $(seq 100); do
        "$zlctl" container ls -a --filter state=exited -q --no-trunc | grep -x "$j1_id" > /dev/null && break
        sleep 0.05
done
attachments | grep -F "$j1_id" > /dev/null && zl_not_ok "an exited container is detached" ||
        zl_ok "an exited container is detached"
expect_eq "... inspect shows no address" "$(inspect_net j1 ip_address)" ""
expect_eq "... and the mode still" "$(inspect_net j1 mode)" private
expect_rc "rm j1" 0 "$zlctl" container rm j1

# ---- zl-netd down ---------------------------------------------------------------------------
stop_netd
dirs_before=$(ls "$ZL_TMP/zl-runtimed/state/runtime/containers" 2> /dev/null | sort)
links_before=$(zlv_links)
expect_rc "with zl-netd down, run -d fails" 1 \
        "$zlctl" container run -d --name c4 --rootfs "$rootfs" /bin/sh -c "$serve"
grep -F "zl-netd is not running: start it with \`systemctl start zl-netd\`, or create the container with network 'none'" \
        "$err" > /dev/null && zl_ok "the error names the cause and the way out" ||
        zl_not_ok "the error names the cause and the way out" "$(cat "$err")"
expect_rc "container ls -a" 0 "$zlctl" container ls -a
grep -w c4 "$out" > /dev/null && zl_not_ok "no container c4 is left" "$(cat "$out")" ||
        zl_ok "no container c4 is left"
expect_eq "no container directory is left" \
        "$(ls "$ZL_TMP/zl-runtimed/state/runtime/containers" 2> /dev/null | sort)" "$dirs_before"
expect_eq "no link is left" "$(zlv_links)" "$links_before"
expect_rc "with zl-netd down, network none still works" 0 \
        "$zlctl" container run --rm --network none --rootfs "$rootfs" /bin/true
c3_id=$(container_id c3)
expect_rc "with zl-netd down, rm -f c3 still works" 0 "$zlctl" container rm -f c3
grep -F "Failed to detach container $c3_id" "$ZL_TMP/zl-runtimed/log" > /dev/null &&
        zl_ok "... and logs the failed detach" || zl_not_ok "... and logs the failed detach"
if start_netd; then
        zl_ok "zl-netd starts again"
else
        zl_not_ok "zl-netd starts again" "$(cat "$ZL_TMP/zl-netd/log")"
fi
attachments > "$ZL_TMP/att4" 2>&1
if ! grep -F "$c3_id" "$ZL_TMP/att4" > /dev/null && grep -F "$c1_id" "$ZL_TMP/att4" > /dev/null; then
        zl_ok "zl-netd's start-up sweep dropped c3 (its namespace is gone) and kept c1"
else
        zl_not_ok "zl-netd's sweep dropped c3 and kept c1" "$(cat "$ZL_TMP/att4")"
fi
expect_rc "run -d c5 once zl-netd is back" 0 \
        "$zlctl" container run -d --name c5 --rootfs "$rootfs" /bin/sh -c "$serve"
expect_eq "c5 gets the address c3 had" "$(inspect_net c5 ip_address)" "$ip2"

# ---- none and host --------------------------------------------------------------------------
expect_rc "run --network none" 0 "$zlctl" container run --rm --network none --rootfs "$rootfs" \
        /bin/sh -c 'cat /proc/net/dev; echo; cat /etc/hosts'
if grep -E '^ *lo:' "$out" > /dev/null && ! grep -E '^ *eth0:' "$out" > /dev/null &&
   grep -F image-hosts "$out" > /dev/null; then
        zl_ok "none: only lo, and the image's /etc/hosts"
else
        zl_not_ok "none: only lo, and the image's /etc/hosts" "$(cat "$out")"
fi
expect_rc "run -d --network none" 0 "$zlctl" container run -d --name n1 --network none \
        --rootfs "$rootfs" /bin/sleep 100
expect_eq "none: inspect says so" "$(inspect_net n1 mode)" none
expect_eq "none: no address" "$(inspect_net n1 ip_address)" ""
n1_id=$(container_id n1)
attachments | grep -F "$n1_id" > /dev/null && zl_not_ok "none: not attached" || zl_ok "none: not attached"

expect_rc "run --network host" 0 "$zlctl" container run --rm --network host --rootfs "$rootfs" \
        /bin/sh -c 'cat /proc/net/dev; echo ====; cat /etc/hosts'
if grep -E "^ *$BRIDGE:" "$out" > /dev/null && [ "$(sed '1,/^====$/d' "$out")" = "$(cat /etc/hosts)" ]; then
        zl_ok "host: the node's links and a copy of its /etc/hosts"
else
        zl_not_ok "host: the node's links and a copy of its /etc/hosts" "$(cat "$out")"
fi

remove_all
expect_eq "after removing everything, nothing is attached" "$(attachments)" ""
expect_eq "... and no zlv link is left" "$(zlv_links)" ""
zl_done
