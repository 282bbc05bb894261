# SPDX-License-Identifier: Apache-2.0
# tests/lib/sched.sh: what the tests of tests/sched/ share: zl-netd, zl-runtimed, zl-proxyd and
# zl-schedd on a private bus inside the test's own network and mount namespace, images from the
# fixture registry, and polling helpers. Sourced after tests/lib/netns.sh and tests/bus/lib.sh.
#
# Set before sourcing: schedd runtimed monitor netd proxyd (the binaries), BRIDGE (the bridge
# zl-netd makes), fixtures (tests/fixtures). Then call, in this order:
#   sched_setup TOOL...       skips without root or a tool; the bus helpers, cleanup on exit
#   sched_fixtures            the fixture registry with the images; sets IMAGE (busybox httpd)
#   sched_configs CIDR INDEX ACCESS_LOG [SCHEDD_LINE...]   the daemons' configuration files
#   zl_bus_start, then sched_start_daemons (or zl_daemon_start ... and sched_start_schedd)

SB=org.zlayer.Scheduler1 SP=/org/zlayer/Scheduler1
RB=org.zlayer.Runtime1 RP=/org/zlayer/Runtime1
PB=org.zlayer.Proxy1 PP=/org/zlayer/Proxy1
NB=org.zlayer.Network1 NP=/org/zlayer/Network1

bus() {
        busctl --address="$ZLAYER_BUS_ADDRESS" "$@"
}
sched() {
        bus --timeout=120 call $SB $SP $SB "$@"
}
# sched_remove_all: removes every container zl-runtimed has (the test made them all).
sched_remove_all() {
        local id
        [ -n "${ZLAYER_BUS_ADDRESS:-}" ] || return 0
        for id in $(bus call $RB $RP $RB ListContainers 'a{sv}' 0 2> /dev/null |
                grep -oE '"[0-9a-f]{64}"' | tr -d '"'); do
                bus call $RB $RP $RB RemoveContainer sb "$id" true > /dev/null 2>&1
        done
        return 0
}
sched_cleanup() {
        [ -n "${ZL_PID[zl-schedd]:-}" ] && kill -TERM "${ZL_PID[zl-schedd]}" 2> /dev/null
        sched_remove_all
        "$fixtures/registry.sh" stop "$ZL_TMP/reg" > /dev/null 2>&1
        zl_cleanup
        ip link del "$BRIDGE" 2> /dev/null
        return 0
}

# sched_setup TOOL...: root, the tools (beyond those every sched test needs), a tmpfs on
# /run/netns (our mount namespace), the test directory, cleanup at exit; out and err name two
# scratch files.
sched_setup() {
        local tool
        [ "$(id -u)" -eq 0 ] || zl_skip_all "containers need root"
        mkdir -p /run/netns && mount -t tmpfs -o mode=0755 zl-sched-test /run/netns ||
                zl_skip_all "cannot mount a tmpfs on /run/netns"
        for tool in dbus-daemon busctl docker-registry skopeo python3 curl jq ip "$@"; do
                command -v "$tool" > /dev/null || zl_skip_all "$tool is not installed"
        done
        [ -x /bin/busybox ] || zl_skip_all "/bin/busybox is not installed (busybox-static)"
        export ZLAYER_LOG_TARGET=stderr ZL_MONITOR_PATH=$monitor
        zl_test_setup
        trap sched_cleanup EXIT
        out=$ZL_TMP/out err=$ZL_TMP/err
}

# wait_for TIMEOUT_S COMMAND...: polls every 0.25 s until the command succeeds, at most
# TIMEOUT_S seconds (by the clock: a slow command counts).
wait_for() {
        local deadline=$((SECONDS + $1))
        shift
        while :; do
                "$@" > /dev/null 2>&1 && return 0
                [ "$SECONDS" -lt "$deadline" ] || return 1
                sleep 0.25
        done
}
logs() {
        local d
        for d in zl-schedd zl-runtimed zl-netd zl-proxyd; do
                echo "---- $d"
                tail -n 40 "$ZL_TMP/$d/log" 2> /dev/null
        done
}
# check DESCRIPTION TIMEOUT COMMAND...: ok once the command succeeds within the timeout.
check() {
        local desc=$1 timeout=$2
        shift 2
        if wait_for "$timeout" "$@"; then
                zl_ok "$desc"
        else
                zl_not_ok "$desc" "command: $*" "$(logs)"
        fi
}

sched_fixtures() {
        if ! "$fixtures/build-images.py" "$ZL_TMP/images" > "$ZL_TMP/build.log" 2>&1; then
                zl_not_ok "the fixture images build" "$(cat "$ZL_TMP/build.log")"
                zl_done
        fi
        export ZL_FIXTURE_IMAGES=$ZL_TMP/images
        eval "$("$fixtures/registry.sh" start "$ZL_TMP/reg")" || zl_skip_all "no registry"
        if ! "$fixtures/registry.sh" push "$ZL_TMP/reg" > "$ZL_TMP/push.log" 2>&1; then
                zl_not_ok "the fixtures are pushed" "$(cat "$ZL_TMP/push.log")"
                zl_done
        fi
        IMAGE=$REGISTRY/zlayer/httpd:latest
        zl_ok "the fixture registry $REGISTRY serves $IMAGE"
}

# sched_configs CLUSTER_CIDR NODE_INDEX ACCESS_LOG [SCHEDD_LINE...]: zl-netd's node subnet on
# $BRIDGE, zl-proxyd's access log (none or a path), zl-schedd on a free loopback Raft port with
# a 2 s resync plus the extra lines; exported for the daemons.
sched_configs() {
        local raft_port line
        printf 'nameserver 127.0.0.53\n' > "$ZL_TMP/resolv.conf"
        cat > "$ZL_TMP/netd.conf" << CONF
cluster_cidr = $1
node_prefix_length = 24
node_index = $2
bridge = $BRIDGE
resolv_conf = $ZL_TMP/resolv.conf
CONF
        printf 'access_log = %s\n' "$3" > "$ZL_TMP/proxyd.conf"
        raft_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
        cat > "$ZL_TMP/schedd.conf" << CONF
node_id = test-node
node_address = 127.0.0.1
public_address = 127.0.0.1
raft_address = 127.0.0.1:$raft_port
raft_id = 1
resync_interval = 2s
CONF
        shift 3
        for line in "$@"; do
                echo "$line" >> "$ZL_TMP/schedd.conf"
        done
        export ZLAYER_NETD_CONFIG=$ZL_TMP/netd.conf ZLAYER_PROXYD_CONFIG=$ZL_TMP/proxyd.conf
        export ZLAYER_SCHEDD_CONFIG=$ZL_TMP/schedd.conf
}

# leader: Raft elected this server (a change reaches the state's checks instead of being
# refused with "not the leader").
leader() {
        ! sched Scale ssu no-such-deployment web 1 2>&1 | grep -q "not the leader"
}
sched_start_schedd() {
        zl_daemon_start zl-schedd "$schedd" && zl_wait_state $SB $SP running 30 &&
                wait_for 30 leader
}
# sched_start_daemons: zl-netd, zl-runtimed, zl-proxyd, then zl-schedd as leader; one TAP line,
# and the end of the test if they do not all run.
sched_start_daemons() {
        if zl_daemon_start zl-netd "$netd" && zl_wait_state $NB $NP running 20 &&
                zl_daemon_start zl-runtimed "$runtimed" && zl_wait_state $RB $RP running 20 &&
                zl_daemon_start zl-proxyd "$proxyd" && zl_wait_state $PB $PP running 20 &&
                sched_start_schedd; then
                zl_ok "zl-netd, zl-runtimed, zl-proxyd and zl-schedd run"
        else
                zl_not_ok "the daemons run" "$(logs)"
                zl_done
        fi
}
