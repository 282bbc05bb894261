#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test-nspawn-boot.sh: the units for real. A Debian 12 root (debootstrap, cached), the project
# installed into it with `meson install --destdir`, booted with systemd-nspawn; inside it
# `systemctl enable --now zlayer.target` must bring up all seven daemons: their names on the
# system bus, org.zlayer.Daemon1.State "running", the bus policy in force, a killed daemon
# restarted by systemd. Then the container is powered off. Root only. TAP output.
# Usage: test-nspawn-boot.sh BUILD_DIR CACHE_DIR zl-NAME=PATH/TO/BINARY...
# Environment: ZL_DEBIAN_MIRROR (default http://deb.debian.org/debian), ZL_TEST_SANITIZE (the
# build's b_sanitize).
set -u
build=$1
# ZL_NSPAWN_CACHE lets several build directories share one debootstrapped root.
cache=${ZL_NSPAWN_CACHE:-$2}
shift 2
binaries=()
for a in "$@"; do binaries+=("${a#*=}"); done

suite=bookworm
mirror=${ZL_DEBIAN_MIRROR:-http://deb.debian.org/debian}
daemons=(runtimed netd proxyd schedd buildd apid obsd)
declare -A bus=([runtimed]=Runtime1 [netd]=Network1 [proxyd]=Proxy1 [schedd]=Scheduler1
        [buildd]=Builder1 [apid]=Api1 [obsd]=Observability1)

if [ "$(id -u)" -ne 0 ]; then
        echo "1..0 # SKIP needs root (debootstrap, systemd-nspawn)"
        exit 0
fi
for p in debootstrap systemd-nspawn nsenter meson flock; do
        if ! command -v "$p" > /dev/null; then
                echo "1..0 # SKIP $p not installed (scripts/setup installs it)"
                exit 0
        fi
done

. "$(dirname "${BASH_SOURCE[0]}")/../lib/tap.sh"
note() { echo "# [$SECONDS s] $*"; }

tmp=
nspawn_pid=
leader=
cleanup() {
        if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2> /dev/null; then
                # SIGKILL of the container's init ends its PID namespace and so every process
                # in it; nspawn then exits by itself.
                [ -n "$leader" ] && kill -KILL "$leader" 2> /dev/null
                for _ in $(seq 50); do kill -0 "$nspawn_pid" 2> /dev/null || break; sleep 0.1; done
                kill -KILL "$nspawn_pid" 2> /dev/null
                wait "$nspawn_pid" 2> /dev/null
        fi
        if [ -n "$tmp" ]; then
                # nspawn mounts in a namespace of its own; nothing should be left, but never
                # let rm walk into a mount.
                findmnt -rn -o TARGET | grep -F "$tmp/" | sort -r | xargs -r -n1 umount -l
                rm -rf --one-file-system "$tmp"
        fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ---- the cached root --------------------------------------------------------------------------
# systemd and dbus, the libraries of every dependency in the top meson.build (so that the cache
# survives daemons starting to use them), and the package of every shared library the built
# binaries load now (the host is Debian 12 too, so the names are the same).
pkgs=(systemd systemd-sysv dbus util-linux
        libsystemd0 libyaml-0-2 libjansson4 libcurl4 libssl3 libnghttp2-14 libhttp-parser2.9
        libseccomp2 libcap2 libmnl0 libnl-3-200 libnl-route-3-200 libnftables1 libarchive13
        libzstd1 liburing2 libraft2 libuv1 libjwt0 libsqlite3-0)
libs=$(for b in "${binaries[@]}"; do ldd "$b"; done | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' |
        sort -u | grep -v "^$(realpath "$build")/")
for l in $libs; do
        p=
        for c in "$l" "$(realpath "$l")" "/usr$l" "${l#/usr}"; do
                p=$(dpkg -S "$c" 2> /dev/null | grep -v '^diversion' | head -n1 | cut -d: -f1) &&
                        [ -n "$p" ] && break
        done
        [ -n "$p" ] || bail "no Debian package ships '$l' (ldd of the daemons)"
        pkgs+=("$p")
done
mapfile -t pkgs < <(printf '%s\n' "${pkgs[@]}" | sort -u)

mkdir -p "$cache" || bail "cannot create '$cache'"
base=$cache/rootfs
exec 8> "$cache/lock" || bail "cannot open '$cache/lock'"
flock -w 900 8 || bail "the cache lock was held for 900 s"
# Copies left by a run that was SIGKILLed (no run lasts an hour: the meson timeout is 15 min).
find "$cache" -mindepth 1 -maxdepth 1 -name 'run.*' -mmin +60 \
        -exec rm -rf --one-file-system {} + 2> /dev/null
# The cached root is good while it has every package wanted now.
missing=()
if [ -f "$base.done" ]; then
        for p in "${pkgs[@]}"; do
                dpkg-query --admindir="$base/var/lib/dpkg" -W -f='${db:Status-Abbrev}' "$p" \
                        2> /dev/null | grep -q '^ii' || missing+=("$p")
        done
fi
if [ ! -f "$base.done" ] || [ "${#missing[@]}" -gt 0 ]; then
        [ "${#missing[@]}" -gt 0 ] && note "cached root lacks ${missing[*]}: rebuilding it"
        rm -rf --one-file-system "$base" "$base.done"
        note "debootstrap $suite into $base (cached for later runs)"
        note "packages: ${pkgs[*]}"
        if ! timeout 900 debootstrap --variant=minbase --include="$(IFS=,; echo "${pkgs[*]}")" \
                "$suite" "$base" "$mirror" > "$cache/debootstrap.log" 2>&1; then
                tail -n 20 "$cache/debootstrap.log" | sed 's/^/# /'
                rm -rf --one-file-system "$base"
                bail "debootstrap failed (log: $cache/debootstrap.log)"
        fi
        # Nothing in the copies needs the downloaded .debs.
        rm -f "$base"/var/cache/apt/archives/*.deb
        touch "$base.done"
fi
ok "Debian $suite root in the cache"

# ---- a fresh copy with the project installed --------------------------------------------------
tmp=$(mktemp -d "$cache/run.XXXXXX") || bail "mktemp failed"
root=$tmp/root
cp -a "$base" "$root" || bail "copying the cached root failed"
flock -u 8
if meson install -C "$build" --destdir "$root" --no-rebuild --quiet > "$tmp/install.log" 2>&1; then
        ok "meson install --destdir"
else
        not_ok "meson install --destdir" "$(tail -n 20 "$tmp/install.log")"
        bail "cannot install the project"
fi

# LeakSanitizer stops the world with ptrace, which the units' seccomp filters refuse, so a
# sanitizer build would fail every hardened daemon at exit. Leaks are found by the tests that
# run the daemons outside systemd; here only ASan's other checks stay on.
if [[ ${ZL_TEST_SANITIZE:-none} == *address* ]]; then
        mkdir -p "$root/etc/systemd/system/zl-.service.d"
        printf '[Service]\nEnvironment=ASAN_OPTIONS=detect_leaks=0\n' \
                > "$root/etc/systemd/system/zl-.service.d/50-test-sanitizer.conf"
        note "sanitizer build: leak detection off in the units"
fi

# ---- boot -------------------------------------------------------------------------------------
# --private-network: the daemons listen on ports; they must not reach or take the host's.
note "booting"
systemd-nspawn -D "$root" -b --register=no --keep-unit --private-network --console=read-only \
        < /dev/null > "$tmp/console.log" 2>&1 &
nspawn_pid=$!

# The container's init: a descendant of nspawn that is PID 1 in its own PID namespace.
find_leader() {
        local queue=("$nspawn_pid") p c ns
        while [ "${#queue[@]}" -gt 0 ]; do
                p=${queue[0]}
                queue=("${queue[@]:1}")
                ns=$(sed -n 's/^NSpid:[[:space:]]*//p' "/proc/$p/status" 2> /dev/null)
                if [[ $ns =~ ^[0-9]+[[:space:]]+1$ ]]; then
                        echo "$p"
                        return 0
                fi
                for c in $(pgrep -P "$p"); do queue+=("$c"); done
        done
        return 1
}
for _ in $(seq 100); do
        leader=$(find_leader) && break
        kill -0 "$nspawn_pid" 2> /dev/null || break
        sleep 0.1
done
[ -n "$leader" ] || bail "no container init within 10 s: $(tail -n 20 "$tmp/console.log")"

# inside [TIMEOUT] CMD...: run CMD in the container (all its namespaces, a clean environment).
inside() {
        local t=60
        [[ $1 =~ ^[0-9]+$ ]] && { t=$1; shift; }
        timeout "$t" nsenter --target "$leader" --mount --uts --ipc --net --pid -- \
                /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
                LANG=C.UTF-8 "$@"
}

# systemctl fails to connect until systemd has set up its private socket; then --wait blocks
# until start-up has finished.
state=
deadline=$((SECONDS + 120))
while [ $SECONDS -lt $deadline ]; do
        state=$(inside $((deadline - SECONDS + 1)) systemctl is-system-running --wait 2>&1)
        # "offline" only means /run/systemd/system is not there yet: early in the first boot
        # of a fresh root; keep asking.
        case $state in running | degraded | maintenance | stopping) break ;; esac
        kill -0 "$nspawn_pid" 2> /dev/null || break
        sleep 0.2
done
case $state in
running) ok "systemd booted (running)" ;;
degraded)
        # Units a bare container cannot run may fail; ours are checked one by one below.
        failed_units=$(inside systemctl --failed --no-legend --plain | awk '{ print $1 }' | paste -sd ' ')
        ok "systemd booted (degraded: $failed_units)"
        ;;
*)
        tail -n 30 "$tmp/console.log" | sed 's/^/# /'
        bail "systemd did not finish booting within 120 s: '$state'"
        ;;
esac

if inside getent group zlayer > /dev/null; then
        ok "systemd-sysusers created group zlayer"
else
        not_ok "systemd-sysusers created group zlayer"
fi

# ---- zlayer.target ----------------------------------------------------------------------------
note "systemctl enable --now zlayer.target"
start=$SECONDS
if out=$(inside 180 systemctl enable --now zlayer.target 2>&1); then
        ok "systemctl enable --now zlayer.target ($((SECONDS - start)) s)"
else
        not_ok "systemctl enable --now zlayer.target" "$out" \
                "$(inside journalctl -b --no-pager -n 60 -u 'zl-*' 2>&1)"
fi
enabled=$(inside systemctl is-enabled zlayer.target 2>&1)
if [ "$enabled" = enabled ]; then
        ok "zlayer.target is enabled"
else
        not_ok "zlayer.target is enabled" "$enabled"
fi

# get_state NAME: org.zlayer.Daemon1.State of org.zlayer.NAME on the container's system bus.
get_state() {
        inside 10 busctl --system get-property "org.zlayer.$1" "/org/zlayer/$1" \
                org.zlayer.Daemon1 State 2>&1
}
# wait_running NAME SECONDS: polls State until "running".
wait_running() {
        local s
        for _ in $(seq $(($2 * 5))); do
                s=$(get_state "$1")
                [ "$s" = 's "running"' ] && return 0
                sleep 0.2
        done
        echo "$s"
        return 1
}

names=$(inside busctl --system list --no-legend --acquired 2>&1 | awk '{ print $1 }')
for d in "${daemons[@]}"; do
        b=org.zlayer.${bus[$d]}
        active=$(inside systemctl is-active "zl-$d.service" 2>&1)
        if [ "$active" = active ]; then
                ok "zl-$d.service is active"
        else
                not_ok "zl-$d.service is active" "$active" \
                        "$(inside journalctl -b --no-pager -n 30 -u "zl-$d.service" 2>&1)"
        fi
        if grep -qx "$b" <<< "$names"; then
                ok "$b is on the system bus"
        else
                not_ok "$b is on the system bus" "names: ${names//$'\n'/ }"
        fi
        if s=$(wait_running "${bus[$d]}" 10); then
                ok "$b State is running"
        else
                not_ok "$b State is running" "got: $s"
        fi
done

# systemd had nothing to warn about while loading and starting our units (an unsupported
# sandboxing option, a bad dependency, an unsafe setting).
warnings=$(inside journalctl -b -q --no-pager -p warning _PID=1 2>&1 | grep -E 'zl-|zlayer')
if [ -z "$warnings" ]; then
        ok "systemd logged no warning about the units"
else
        not_ok "systemd logged no warning about the units" "$warnings"
fi

# ---- the units behave as units ----------------------------------------------------------------
# The installed policy is in force on the real system bus.
as_nobody() { inside setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
if out=$(as_nobody busctl --system get-property org.zlayer.Observability1 \
        /org/zlayer/Observability1 org.zlayer.Daemon1 State 2>&1); then
        ok "system bus: nobody may read State"
else
        not_ok "system bus: nobody may read State" "$out"
fi
if out=$(as_nobody busctl --system call org.zlayer.Observability1 /org/zlayer/Observability1 \
        org.zlayer.Daemon1 GetCounters 2>&1); then
        not_ok "system bus: nobody may not call GetCounters" "succeeded: $out"
else
        ok "system bus: nobody may not call GetCounters"
fi

# ExecReload= (Reload() over the bus) succeeds and leaves the daemon running.
if out=$(inside systemctl reload zl-obsd.service 2>&1) &&
        wait_running Observability1 5 > /dev/null; then
        ok "systemctl reload zl-obsd.service"
else
        not_ok "systemctl reload zl-obsd.service" "$out"
fi

# Restart=on-failure: SIGKILL of the main process, running again within RestartSec + start-up.
old=$(inside systemctl show -P MainPID zl-obsd.service)
inside systemctl kill --kill-who=main --signal=SIGKILL zl-obsd.service
start=$SECONDS
new=$old
for _ in $(seq 50); do
        new=$(inside systemctl show -P MainPID zl-obsd.service)
        [ "$new" != "$old" ] && [ "$new" != 0 ] && break
        sleep 0.2
done
if [ "$new" != "$old" ] && [ "$new" != 0 ] && s=$(wait_running Observability1 10); then
        ok "zl-obsd restarted after SIGKILL ($((SECONDS - start)) s)"
else
        not_ok "zl-obsd restarted after SIGKILL" "MainPID $old -> $new, State: ${s:-}" \
                "$(inside journalctl -b --no-pager -n 20 -u zl-obsd.service 2>&1)"
fi

# Stopping the target stops every daemon (PartOf=). The target is ordered after the daemons,
# so its own stop job ends first and `systemctl stop` may return while the last ones (zl-runtimed
# stops after everything that uses it) are still deactivating: wait for them.
if out=$(inside 120 systemctl stop zlayer.target 2>&1); then
        for _ in $(seq 150); do
                left=
                for d in "${daemons[@]}"; do
                        a=$(inside systemctl is-active "zl-$d.service" 2>&1)
                        [ "$a" = inactive ] || left="$left zl-$d($a)"
                done
                [ -z "$left" ] && break
                sleep 0.2
        done
        if [ -z "$left" ]; then
                ok "stopping zlayer.target stops all seven"
        else
                not_ok "stopping zlayer.target stops all seven" "still:$left" \
                        "$(inside journalctl -b --no-pager -n 40 -u 'zl-*' 2>&1)"
        fi
else
        not_ok "systemctl stop zlayer.target" "$out"
fi

# ---- power off --------------------------------------------------------------------------------
note "powering off"
inside systemctl poweroff --no-block > /dev/null 2>&1
for _ in $(seq 600); do
        kill -0 "$nspawn_pid" 2> /dev/null || break
        sleep 0.1
done
if kill -0 "$nspawn_pid" 2> /dev/null; then
        not_ok "container powered off within 60 s" "$(tail -n 20 "$tmp/console.log")"
else
        wait "$nspawn_pid"
        rc=$?
        nspawn_pid=
        if [ "$rc" -eq 0 ]; then
                ok "container powered off"
        else
                not_ok "container powered off" "systemd-nspawn exit $rc" \
                        "$(tail -n 20 "$tmp/console.log")"
        fi
fi

tap_done
