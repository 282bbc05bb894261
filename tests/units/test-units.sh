#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test-units.sh: the built systemd units and D-Bus activation files: `systemd-analyze verify`
# passes without a single message, each unit keeps the bus contract (Type=notify, BusName=,
# watchdog, restart, ordering), the hardening of each daemon is what its comment promises, and
# every activation file names the unit that owns its bus name. TAP output.
# Usage: test-units.sh UNITS_BUILD_DIR SRC_UNITS_DIR SRC_DBUS_DIR DAEMON_INSTALL_DIR \
#                      zl-NAME=PATH/TO/BINARY...
set -u
units_dir=$1
src_units=$2
src_dbus=$3
install_dir=$4
shift 4
declare -A binary=()
for a in "$@"; do binary[${a%%=*}]=$(realpath -m "${a#*=}"); done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "${BASH_SOURCE[0]}")/../lib/tap.sh"

if ! command -v systemd-analyze > /dev/null; then
        echo "1..0 # SKIP systemd-analyze not installed"
        exit 0
fi

daemons=(runtimed netd proxyd schedd buildd apid obsd)
declare -A bus_name=(
        [runtimed]=org.zlayer.Runtime1 [netd]=org.zlayer.Network1 [proxyd]=org.zlayer.Proxy1
        [schedd]=org.zlayer.Scheduler1 [buildd]=org.zlayer.Builder1 [apid]=org.zlayer.Api1
        [obsd]=org.zlayer.Observability1
)

# Settings of each file read once, in bash, into conf[FILE|KEY]: every assignment of KEY joined
# by spaces, as systemd accumulates list settings ("" if unset). The checks are many, forks slow.
declare -A conf=()
load() {
        local line more k v
        while IFS= read -r line || [ -n "$line" ]; do
                # A trailing backslash continues the line; systemd reads it as a space.
                while [[ $line == *\\ ]] && IFS= read -r more; do
                        line=${line%\\}
                        line="${line%"${line##*[! ]}"} ${more#"${more%%[! ]*}"}"
                done
                [[ $line =~ ^([A-Za-z]+)=(.*)$ ]] || continue
                k=${BASH_REMATCH[1]}
                v=${BASH_REMATCH[2]}
                conf[$1|$k]=${conf[$1|$k]:+${conf[$1|$k]} }$v
        done < "$1"
        conf[$1|]=loaded
}
value() {
        [ -n "${conf[$1|]:-}" ] || load "$1"
        printf '%s' "${conf[$1|$2]:-}"
}
got=
# expect FILE KEY VALUE: an exact single-valued setting.
expect() {
        [ -n "${conf[$1|]:-}" ] || load "$1"
        got=${conf[$1|$2]:-}
        if [ "$got" = "$3" ]; then
                ok "${1##*/}: $2=$3"
        else
                not_ok "${1##*/}: $2=$3" "got '$got'"
        fi
}
# expect_unset FILE KEY WHY: a setting that must not be there.
expect_unset() {
        [ -n "${conf[$1|]:-}" ] || load "$1"
        got=${conf[$1|$2]:-}
        if [ -z "$got" ]; then
                ok "${1##*/}: no $2 ($3)"
        else
                not_ok "${1##*/}: no $2 ($3)" "got '$got'"
        fi
}
# expect_words FILE KEY WORD...: a list setting containing each WORD.
expect_words() {
        local f=$1 key=$2 w missing=()
        shift 2
        [ -n "${conf[$f|]:-}" ] || load "$f"
        got=" ${conf[$f|$key]:-} "
        for w in "$@"; do [[ "$got" == *" $w "* ]] || missing+=("$w"); done
        if [ "${#missing[@]}" -eq 0 ]; then
                ok "${f##*/}: $key has $*"
        else
                not_ok "${f##*/}: $key has $*" "missing: ${missing[*]}" "got '$got'"
        fi
}

# Copies of the built units in which ExecStart= points at the build tree: verify checks that the
# binary exists and is executable, and the installed path does not exist on a build machine.
cp "$src_units/zlayer.target" "$tmp/"
for d in "${daemons[@]}"; do
        u=zl-$d.service
        exec_start=$(value "$units_dir/$u" ExecStart)
        expect "$units_dir/$u" ExecStart "$install_dir/zl-$d"
        bin=${binary[zl-$d]:-}
        if [ -z "$bin" ] || [ ! -x "$bin" ]; then
                not_ok "zl-$d binary built" "no executable '${bin:-zl-$d}' in the build tree"
                bin=/nonexistent/zl-$d
        fi
        sed "s|^ExecStart=$exec_start\$|ExecStart=$bin|" "$units_dir/$u" > "$tmp/$u"
done

# Each unit on its own, all of them in the search path so that dependencies resolve. verify exits
# 0 even for unknown keys and unparsable values, so any output is a failure too.
services=()
for d in "${daemons[@]}"; do services+=("zl-$d.service"); done
for u in zlayer.target "${services[@]}"; do
        out=$(cd "$tmp" && systemd-analyze verify --man=no --generators=no "$u" 2>&1)
        rc=$?
        if [ $rc -eq 0 ] && [ -z "$out" ]; then
                ok "systemd-analyze verify $u"
        else
                not_ok "systemd-analyze verify $u" "exit $rc" "$out"
        fi
done

# Negative control: the same check does notice a broken unit.
sed 's/^Type=notify$/Type=notifyy/' "$tmp/zl-obsd.service" > "$tmp/zl-broken.service"
sed -i '/^BusName=/d' "$tmp/zl-broken.service"
out=$(cd "$tmp" && systemd-analyze verify --man=no --generators=no zl-broken.service 2>&1)
if [[ $out == *notifyy* ]]; then
        ok "verify reports a broken unit"
else
        not_ok "verify reports a broken unit" "$out"
fi
rm -f "$tmp/zl-broken.service"

# The target pulls in all seven and is what the machine enables.
t=$tmp/zlayer.target
expect_words "$t" Wants "${services[@]}"
expect "$t" WantedBy multi-user.target

# The bus contract, for every daemon.
for d in "${daemons[@]}"; do
        f=$tmp/zl-$d.service
        expect "$f" Type notify
        expect "$f" NotifyAccess main
        expect "$f" BusName "${bus_name[$d]}"
        b=${bus_name[$d]}
        expect "$f" ExecReload "busctl call $b /${b//.//} org.zlayer.Daemon1 Reload"
        expect "$f" WatchdogSec 30s
        expect "$f" Restart on-failure
        expect "$f" RestartSec 1s
        expect "$f" PartOf zlayer.target
        expect "$f" StateDirectory zlayer
        expect "$f" RuntimeDirectory zlayer
        expect "$f" RuntimeDirectoryPreserve yes
        expect_words "$f" After dbus.service
done

# Ordering: runtimed and netd come before schedd, from both sides.
expect_words "$tmp/zl-schedd.service" After zl-runtimed.service zl-netd.service
expect_words "$tmp/zl-runtimed.service" Before zl-schedd.service
expect_words "$tmp/zl-netd.service" Before zl-schedd.service

# Hardening. runtimed and netd must stay in the host mount namespace and keep their power;
# the network-facing daemons get the full set with a minimal capability bounding set.
for d in runtimed netd; do
        f=$tmp/zl-$d.service
        for k in ProtectSystem PrivateTmp ProtectHome PrivateDevices ProtectKernelTunables \
                ProtectControlGroups RestrictNamespaces PrivateMounts; do
                expect_unset "$f" "$k" "its mounts and namespaces must be the host's"
        done
done
f=$tmp/zl-runtimed.service
for k in NoNewPrivileges SystemCallFilter MemoryDenyWriteExecute CapabilityBoundingSet; do
        expect_unset "$f" "$k" "inherited by containers"
done
expect "$f" KillMode process
expect "$f" Delegate yes
expect "$tmp/zl-netd.service" CapabilityBoundingSet \
        "CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE CAP_SYS_ADMIN CAP_SYS_PTRACE"
expect "$tmp/zl-netd.service" NoNewPrivileges yes
f=$tmp/zl-buildd.service
for k in NoNewPrivileges SystemCallFilter MemoryDenyWriteExecute RestrictNamespaces; do
        expect_unset "$f" "$k" "inherited by RUN steps"
done
expect "$f" ProtectSystem full
declare -A caps=([proxyd]=CAP_NET_BIND_SERVICE [apid]=CAP_NET_BIND_SERVICE
        [obsd]=CAP_NET_BIND_SERVICE [schedd]="")
for d in proxyd apid obsd schedd; do
        f=$tmp/zl-$d.service
        expect "$f" CapabilityBoundingSet "${caps[$d]}"
        for k in NoNewPrivileges PrivateTmp PrivateDevices PrivateMounts ProtectKernelTunables \
                ProtectKernelModules ProtectKernelLogs ProtectControlGroups RestrictNamespaces \
                LockPersonality MemoryDenyWriteExecute RestrictRealtime RestrictSUIDSGID; do
                expect "$f" "$k" yes
        done
        expect "$f" ProtectSystem strict
        expect "$f" ProtectHome yes
        expect "$f" SystemCallArchitectures native
done

# systemd's own exposure score (0 = fully confined, 10 = unconfined) as a regression guard.
declare -A max_exposure=([proxyd]=2.5 [apid]=2.5 [obsd]=2.5 [schedd]=2.5 [netd]=6.0)
for d in "${daemons[@]}"; do
        line=$(cd "$tmp" && systemd-analyze security --offline=yes --man=no --generators=no \
                "zl-$d.service" 2>&1 |
                sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
        echo "# zl-$d.service exposure ${line:-?}"
        [ -n "${max_exposure[$d]:-}" ] || continue
        if awk -v a="${line:-99}" -v b="${max_exposure[$d]}" 'BEGIN { exit !(a <= b) }'; then
                ok "zl-$d.service exposure ${line:-?} <= ${max_exposure[$d]}"
        else
                not_ok "zl-$d.service exposure ${line:-?} <= ${max_exposure[$d]}"
        fi
done

# Activation: one file per name, naming the unit whose BusName= it is.
for d in "${daemons[@]}"; do
        a=$src_dbus/${bus_name[$d]}.service
        if [ ! -f "$a" ]; then
                not_ok "activation file for ${bus_name[$d]}" "missing $a"
                continue
        fi
        expect "$a" Name "${bus_name[$d]}"
        expect "$a" SystemdService "zl-$d.service"
        expect "$a" Exec /bin/false
        expect "$a" User root
done

tap_done
