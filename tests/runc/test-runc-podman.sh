#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test-runc-podman.sh: podman and buildah with zl-runc as their OCI runtime: a busybox image
# imported with `podman import`, `podman run --rm IMAGE echo hi`, exit codes, exec into a
# running container, and `buildah bud --isolation oci` of a one-RUN Dockerfile. Storage, run
# and temporary directories are private under a temporary directory, no network is set up, so
# the host's containers are untouched. TAP output.
# Usage: test-runc-podman.sh PATH/TO/zl-runc
set -u
zlrunc=$1
. "$(dirname "${BASH_SOURCE[0]}")/../lib/tap.sh"

if [ "$(id -u)" != 0 ]; then
        echo "1..0 # SKIP needs root"
        exit 0
fi
for tool in busybox podman buildah; do
        if ! command -v "$tool" >/dev/null; then
                echo "1..0 # SKIP $tool is not installed"
                exit 0
        fi
done

tmp=$(mktemp -d /tmp/zl-runc-podman.XXXXXX)
mkdir -p "$tmp/tmp" "$tmp/zlroot"
# The containers.conf of the host may say anything; ours says only where things go.
cat >"$tmp/containers.conf" <<CONF
[engine]
runtime = "zl-runc"
events_logger = "file"
events_logfile_path = "$tmp/events.log"
tmp_dir = "$tmp/tmp"
volume_path = "$tmp/volumes"
[engine.runtimes]
zl-runc = ["$zlrunc"]
CONF
export CONTAINERS_CONF=$tmp/containers.conf
export TMPDIR=$tmp/tmp
storage=(--root "$tmp/storage" --runroot "$tmp/run" --storage-driver overlay)
# Limits this machine can grant without CAP_SYS_RESOURCE (see ENVIRONMENT.md).
ulimits=(--ulimit nofile=20000:20000 --ulimit nproc=32768:32768)
pm() { podman "${storage[@]}" --cgroup-manager=cgroupfs --runtime "$zlrunc" "$@"; }

cleanup() {
        pm rm -af -t 0 >/dev/null 2>&1
        buildah "${storage[@]}" rm -a >/dev/null 2>&1
        podman "${storage[@]}" system reset -f >/dev/null 2>&1
        grep -F " $tmp" /proc/self/mountinfo | awk '{print $5}' | sort -r | while read -r m; do
                umount -l "$m" 2>/dev/null
        done
        # The parent cgroup all containers share; rmdir leaves it if another one uses it.
        rmdir /sys/fs/cgroup/*/libpod_parent /sys/fs/cgroup/libpod_parent 2>/dev/null
        rm -rf "$tmp"
}
trap cleanup EXIT

# The commands' own output would be read as TAP: it goes to stderr, the log.
check() { local name=$1; shift; if "$@" >&2; then ok "$name"; else not_ok "$name"; fi; }

# ---- the image ----
rootfs=$tmp/rootfs
mkdir -p "$rootfs/bin" "$rootfs/usr/bin" "$rootfs/sbin" "$rootfs/usr/sbin" "$rootfs/tmp" \
        "$rootfs/etc" "$rootfs/proc" "$rootfs/sys" "$rootfs/dev"
cp "$(command -v busybox)" "$rootfs/bin/busybox"
for a in $(busybox --list-full); do
        [ -e "$rootfs/$a" ] || ln -s /bin/busybox "$rootfs/$a"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
tar -C "$rootfs" -cf "$tmp/rootfs.tar" .
out=$(pm import "$tmp/rootfs.tar" localhost/zl-busybox:test 2>&1)
check "podman import of a busybox rootfs" [ $? -eq 0 ]
[ $? -eq 0 ] || echo "$out" | sed 's/^/# /'

# ---- podman run ----
out=$(pm run --rm --network none "${ulimits[@]}" localhost/zl-busybox:test echo hi 2>&1)
rc=$?
if [ $rc -eq 0 ] && [ "$out" = hi ]; then ok "podman run --rm IMAGE echo hi"; else
        not_ok "podman run --rm IMAGE echo hi" "rc=$rc" "$out"; fi
out=$(pm run --rm --network none "${ulimits[@]}" localhost/zl-busybox:test sh -c 'exit 3' 2>&1)
check "podman run passes the exit code" [ $? -eq 3 ]
out=$(pm run --rm --network none "${ulimits[@]}" --memory 64m --pids-limit 32 \
        localhost/zl-busybox:test sh -c 'cat /proc/1/comm; hostname' 2>&1)
rc=$?
if [ $rc -eq 0 ] && [ "$(echo "$out" | head -1)" = sh ]; then ok "podman run with limits, own PID 1"; else
        not_ok "podman run with limits, own PID 1" "rc=$rc" "$out"; fi

out=$(pm run -d --name zl-sleeper --network none "${ulimits[@]}" localhost/zl-busybox:test sleep 300 2>&1)
check "podman run -d" [ $? -eq 0 ]
out=$(pm exec zl-sleeper sh -c 'echo in-$(cat /proc/1/comm)' 2>&1)
rc=$?
if [ $rc -eq 0 ] && [ "$out" = in-sleep ]; then ok "podman exec into a running container"; else
        not_ok "podman exec into a running container" "rc=$rc" "$out"; fi
check "podman stop" pm stop -t 1 zl-sleeper
check "podman rm" pm rm zl-sleeper
check "no container left in podman" [ -z "$(pm ps -aq)" ]
check "no libpod cgroup left" bash -c "! ls -d /sys/fs/cgroup/*/libpod_parent/libpod-* 2>/dev/null | grep -q ."

# ---- buildah ----
mkdir -p "$tmp/context"
printf 'FROM localhost/zl-busybox:test\nRUN echo built-by-zl-runc > /built.txt\n' >"$tmp/context/Dockerfile"
out=$(buildah "${storage[@]}" bud --runtime "$zlrunc" --isolation oci --cgroup-manager cgroupfs \
        --network none "${ulimits[@]}" -t localhost/zl-built:test "$tmp/context" 2>&1)
rc=$?
if [ $rc -eq 0 ]; then ok "buildah bud --isolation oci of a one-RUN Dockerfile"; else
        not_ok "buildah bud --isolation oci of a one-RUN Dockerfile" "rc=$rc" "$out"; fi
out=$(pm run --rm --network none "${ulimits[@]}" localhost/zl-built:test cat /built.txt 2>&1)
check "the RUN step's file is in the built image" [ "$out" = built-by-zl-runc ]

tap_done
