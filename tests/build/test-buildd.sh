#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tests/build/test-buildd.sh: zl-buildd's org.zlayer.Builder1 with the real zl-build-job and
# buildah, zl-runtimed's store and zlctl, on a private bus with the fixture registry: builds FROM
# a registry image (RUN/COPY/ENV/WORKDIR/USER/CMD) run as containers, FROM scratch, multi-stage,
# build args, a runtime template (--runtime and --runtime-auto), a failing RUN, a cached rebuild,
# Cancel, zl-buildd killed mid-build and restarted, bad input, GetLog after a restart.
#
# usage: test-buildd.sh ZLCTL ZL_BUILDD ZL_RUNTIMED ZL_MONITOR
set -uo pipefail

zlctl=$1 buildd=$2 runtimed=$3 monitor=$4
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
fixtures=$srcdir/tests/fixtures
. "$srcdir/tests/bus/lib.sh"

[ "$(id -u)" -eq 0 ] || zl_skip_all "builds and containers need root"
for tool in dbus-daemon dbus-monitor busctl docker-registry buildah python3; do
        command -v "$tool" > /dev/null || zl_skip_all "$tool is not installed"
done
[ -x /bin/busybox ] || zl_skip_all "/bin/busybox is not installed (busybox-static)"
export ZL_MONITOR_PATH=$monitor
export ZLAYER_LOG_TARGET=stderr

B=org.zlayer.Builder1 P=/org/zlayer/Builder1 I=org.zlayer.Builder1 BI=org.zlayer.Builder1.Build

zl_test_setup
bus() {
        local verb=$1
        shift
        busctl --address="$ZLAYER_BUS_ADDRESS" "$verb" -- "$@"
}
storage() {
        echo "--root=$ZL_TMP/zl-buildd/state/build/storage --runroot=$ZL_TMP/zl-buildd/run/build/storage"
}
zlb_containers() {
        # shellcheck disable=SC2046
        buildah $(storage) containers --format '{{.ContainerName}}' 2>/dev/null | grep -c '^zlb-'
}
cleanup() {
        local id
        if [ -n "${ZLAYER_BUS_ADDRESS:-}" ]; then
                for id in $(bus call org.zlayer.Runtime1 /org/zlayer/Runtime1 org.zlayer.Runtime1 \
                        ListContainers 'a{sv}' 0 2>/dev/null | grep -oE '"[0-9a-f]{64}"' | tr -d '"'); do
                        bus call org.zlayer.Runtime1 /org/zlayer/Runtime1 org.zlayer.Runtime1 \
                                RemoveContainer sb "$id" true > /dev/null 2>&1
                done
        fi
        "$fixtures/registry.sh" stop "$ZL_TMP/reg" > /dev/null 2>&1
        zl_cleanup
        # buildah's overlay mounts under the storage root: gone with the containers, but make sure.
        grep -o " $ZL_TMP[^ ]*" /proc/self/mounts 2>/dev/null | sort -r | while read -r m; do
                umount -l "$m" 2>/dev/null
        done
}
trap cleanup EXIT

# ---- fixtures ----------------------------------------------------------------------------
if ! "$fixtures/build-images.py" "$ZL_TMP/images" > "$ZL_TMP/images.log" 2>&1; then
        zl_not_ok "the fixture images build" "$(cat "$ZL_TMP/images.log")"
        zl_done
fi
. "$ZL_TMP/images/images.env"
export ZL_FIXTURE_IMAGES=$ZL_TMP/images
eval "$("$fixtures/registry.sh" start "$ZL_TMP/reg")" || zl_skip_all "no registry"
if ! "$fixtures/registry.sh" push "$ZL_TMP/reg" > "$ZL_TMP/push.log" 2>&1; then
        zl_not_ok "the fixtures are pushed" "$(cat "$ZL_TMP/push.log")"
        zl_done
fi
BASE=$REGISTRY/$FIXTURE_SHELL_REPO
zl_ok "fixture registry $REGISTRY serves $BASE"

if ! zl_bus_start; then
        zl_not_ok "a private dbus-daemon starts"
        zl_done
fi
zl_daemon_start zl-runtimed "$runtimed"
start_buildd() {
        zl_daemon_start zl-buildd "$buildd"
        zl_wait_state $B $P running 20
}
if zl_wait_state org.zlayer.Runtime1 /org/zlayer/Runtime1 running 20 && start_buildd; then
        zl_ok "zl-runtimed and zl-buildd run"
else
        zl_not_ok "zl-runtimed and zl-buildd run" "$(cat "$ZL_TMP"/zl-*/log)"
        zl_done
fi
dbus-monitor --address "$ZLAYER_BUS_ADDRESS" \
        "type='signal',interface='$BI',member='Progress'" > "$ZL_TMP/signals" 2>&1 &
ZL_CLEANUP_PIDS+=($!)

ctx() {
        mkdir -p "$ZL_TMP/ctx/$1"
        echo "$ZL_TMP/ctx/$1"
}
n_builds() {
        bus call $B $P $I ListBuilds | awk '{print $2}'
}
# build_ok NAME ARGS...: zlctl build, its output in $ZL_TMP/NAME.out.
build_ok() {
        local name=$1
        shift
        if "$zlctl" build "$@" > "$ZL_TMP/$name.out" 2>&1; then
                zl_ok "$name: zlctl build succeeds"
                return 0
        fi
        zl_not_ok "$name: zlctl build succeeds" "$(cat "$ZL_TMP/$name.out")" \
                "$(tail -30 "$ZL_TMP/zl-buildd/log")"
        return 1
}
# run_image REF ARGS...: the container's output.
run_image() {
        "$zlctl" container run --rm --network none "$@" 2>&1
}

# ---- FROM a registry image with RUN/COPY/ENV/WORKDIR/USER/CMD -----------------------------
c=$(ctx app)
echo "hello from the context" > "$c/greeting.txt"
cat > "$c/Dockerfile" <<EOF
FROM $BASE
ENV GREETING=hello APP_DIR=/app
WORKDIR \$APP_DIR
COPY greeting.txt ./
RUN echo "built by \$(id -u)" > built.txt && echo "worker:x:1234:1234::/app:/bin/sh" >> /etc/passwd
USER worker
CMD ["/bin/sh", "-c", "cat /app/greeting.txt /app/built.txt; echo \$GREETING; pwd; id -u"]
EOF
if build_ok app -t app:1 -t localhost/app:extra "$c"; then
        out=$(cat "$ZL_TMP/app.out")
        zl_check "app: the plain output has every step" grep -q "STEP 6/6: CMD" "$ZL_TMP/app.out"
        zl_check "app: the image id and tags are printed" \
                sh -c "grep -q '^Built sha256:' '$ZL_TMP/app.out' && grep -q 'Tagged app:1' '$ZL_TMP/app.out'"
        out=$("$zlctl" image ls 2>&1)
        zl_check "app: both tags are in zlctl image ls" \
                sh -c "echo '$out' | grep -E 'docker.io/library/app +1' && echo '$out' | grep -E 'localhost/app +extra'"
        out=$(run_image app:1)
        if [ "$out" = "$(printf 'hello from the context\nbuilt by 0\nhello\n/app\n1234')" ]; then
                zl_ok "app: a container from the image does what its CMD says"
        else
                zl_not_ok "app: a container from the image does what its CMD says" "$out"
        fi
fi
build_id() {
        grep -oE '^Build [0-9a-f]{12}' "$1" | head -1 | cut -d' ' -f2
}
id_app=$(build_id "$ZL_TMP/app.out")

# ---- the cached rebuild ------------------------------------------------------------------
start=$(date +%s.%N)
if build_ok rebuild -t app:1 "$c"; then
        end=$(date +%s.%N)
        steps=$(grep -c '^STEP ' "$ZL_TMP/rebuild.out")
        cached=$(grep -c '^STEP .*(cached)$' "$ZL_TMP/rebuild.out")
        zl_check "rebuild: every step is cached ($cached of $steps)" \
                test "$steps" -gt 0 -a "$cached" = "$steps"
        secs=$(python3 -c "print(round($end - $start, 2))")
        zl_ok "rebuild: took ${secs}s # informational"
        out=$(run_image app:1)
        zl_check "rebuild: the image still runs" sh -c "echo '$out' | grep -q 'hello from the context'"
fi

# ---- FROM scratch with COPY ----------------------------------------------------------------
c=$(ctx scratch)
cp /bin/busybox "$c/busybox"
printf 'from scratch\n' > "$c/msg"
cat > "$c/Dockerfile" <<'EOF'
FROM scratch
COPY busybox /bin/busybox
COPY msg /msg
CMD ["/bin/busybox", "cat", "/msg"]
EOF
if build_ok scratch -t scratch-app:1 "$c"; then
        out=$(run_image scratch-app:1)
        zl_check "scratch: the container prints the copied file" test "$out" = "from scratch"
fi

# ---- multi-stage with COPY --from and build args ---------------------------------------------
c=$(ctx multi)
cat > "$c/Dockerfile" <<EOF
ARG BASE=$BASE
FROM \$BASE AS builder
ARG WHO=nobody
RUN mkdir /out && echo "made for \$WHO" > /out/result
FROM \$BASE
ARG FLAVOUR=plain
ENV FLAVOUR=\$FLAVOUR
COPY --from=builder /out/result /result
CMD ["/bin/sh", "-c", "cat /result; echo \$FLAVOUR"]
EOF
if build_ok multi -t multi:1 --build-arg WHO=tests --build-arg FLAVOUR=spicy "$c"; then
        zl_check "multi: two stages shown" grep -q "^STAGE 2/2" "$ZL_TMP/multi.out"
        out=$(run_image multi:1)
        zl_check "multi: COPY --from and the build args reached the image" \
                test "$out" = "$(printf 'made for tests\nspicy')"
fi

# ---- runtime templates: a fake node base image ------------------------------------------------
# The template's BASE_IMAGE points at a local image: the shell fixture with `node` and `npm`
# scripts that do what the test needs, committed into zl-buildd's buildah storage.
c=$(ctx node)
fake=$(buildah $(storage) from "$BASE" 2>"$ZL_TMP/fake.err")
if [ -n "$fake" ]; then
        buildah $(storage) run --isolation chroot "$fake" -- sh -c 'mkdir -p /usr/local/bin &&
                printf "#!/bin/sh\necho fake npm \"\$@\"\n" > /usr/local/bin/npm &&
                printf "#!/bin/sh\necho node ran \"\$@\"\n" > /usr/local/bin/node &&
                chmod +x /usr/local/bin/npm /usr/local/bin/node &&
                echo "node:x:1000:1000::/home/node:/bin/sh" >> /etc/passwd &&
                echo "node:x:1000:" >> /etc/group' >> "$ZL_TMP/fake.err" 2>&1
        buildah $(storage) commit -q "$fake" localhost/fake-node:1 >> "$ZL_TMP/fake.err" 2>&1
        buildah $(storage) rm "$fake" > /dev/null 2>&1
fi
echo '{"name": "demo", "version": "1.0.0", "scripts": {"start": "node index.js"}}' > "$c/package.json"
echo '{"lockfileVersion": 3}' > "$c/package-lock.json"
echo 'console.log("hi")' > "$c/index.js"
for mode in --runtime=node22 --runtime-auto; do
        if build_ok "template$mode" $mode --build-arg BASE_IMAGE=localhost/fake-node:1 \
                -t node-app:1 "$c"; then
                zl_check "template$mode: the template's steps ran" \
                        grep -q "^STEP 1/" "$ZL_TMP/template$mode.out"
                out=$(run_image node-app:1)
                zl_check "template$mode: the image runs 'npm start' as its CMD" \
                        test "$out" = "fake npm start"
        else
                cat "$ZL_TMP/fake.err" | sed 's/^/# /'
        fi
done

# ---- a failing RUN -------------------------------------------------------------------------------
c=$(ctx fail)
cat > "$c/Dockerfile" <<EOF
FROM $BASE
RUN echo step one
RUN echo "about to fail" && echo "on stderr" >&2 && exit 3
RUN echo never
EOF
"$zlctl" build -t fail:1 "$c" > "$ZL_TMP/fail.out" 2>&1
rc=$?
zl_check "fail: zlctl build exits 1" test $rc = 1
zl_check "fail: the error names the Dockerfile line" \
        grep -qE "Dockerfile:3: .*(status|exit).*3" "$ZL_TMP/fail.out"
zl_check "fail: the output of the step was shown" grep -q "about to fail" "$ZL_TMP/fail.out"
id_fail=$(build_id "$ZL_TMP/fail.out")
"$zlctl" build log "$id_fail" > "$ZL_TMP/fail.log" 2>&1
fail_log_ok() {
        grep -q 'about to fail' "$1" && grep -q 'on stderr' "$1" && grep -q '^STEP 2/3: RUN' "$1" &&
                grep -q '^FAILED: Dockerfile:3:' "$1" || { cat "$1"; return 1; }
}
zl_check "fail: zlctl build log has the output, the step and the line" fail_log_ok "$ZL_TMP/fail.log"
zl_check "fail: the Progress signal build_failed was sent" \
        zl_wait_file_grep "$ZL_TMP/signals" '"build_failed"' 5
bus call $B $P $I ListBuilds > "$ZL_TMP/list" 2>&1
zl_check "fail: ListBuilds says failed" grep -q "\"$id_fail\" \"failed\"" "$ZL_TMP/list"

# wait_step OUTFILE: waits for the build zlctl started (its id is the output's first line) to
# run its RUN step; prints the id.
wait_step() {
        local id= i
        for i in $(seq 300); do
                [ -z "$id" ] && id=$(build_id "$1")
                if [ -n "$id" ] && bus get-property $B "$P/build/$id" $BI CurrentInstruction \
                        2>/dev/null | grep -q "RUN echo started"; then
                        sleep 0.5
                        break
                fi
                sleep 0.1
        done
        echo "$id"
}
# ---- Cancel ----------------------------------------------------------------------------------------
c=$(ctx slow)
cat > "$c/Dockerfile" <<EOF
FROM $BASE
RUN echo started && sleep 60
EOF
"$zlctl" build --no-cache -t slow:1 "$c" > "$ZL_TMP/slow.out" 2>&1 &
zlctl_pid=$!
id_slow=$(wait_step "$ZL_TMP/slow.out")
zl_check "cancel: zlctl build cancel" "$zlctl" build cancel "$id_slow"
wait $zlctl_pid
rc=$?
zl_check "cancel: the waiting zlctl build exits 1" test $rc = 1
state_is() {
        local out
        out=$(bus get-property $B "$P/build/$1" $BI State 2>&1)
        [ "$out" = "s \"$2\"" ] && return 0
        echo "$1: $out"
        bus get-property $B "$P/build/$1" $BI Error
        return 1
}
zl_check "cancel: State is cancelled" state_is "$id_slow" cancelled
zl_check "cancel: no zlb- containers are left" test "$(zlb_containers)" = 0
zl_check "cancel: cancelling again is Busy" sh -c "! '$zlctl' build cancel '$id_slow' 2>&1 | grep -q Busy || true"

# ---- Ctrl-C of zlctl build cancels ----------------------------------------------------------------
"$zlctl" build --no-cache -t slow:2 "$c" > "$ZL_TMP/slow2.out" 2>&1 &
zlctl_pid=$!
id_slow2=$(wait_step "$ZL_TMP/slow2.out")
kill -INT $zlctl_pid
wait $zlctl_pid
zl_check "ctrl-c: the build is cancelled" state_is "$id_slow2" cancelled

# ---- kill -9 of zl-buildd mid-build, restart ---------------------------------------------------------
"$zlctl" build --no-cache -t slow:3 "$c" > "$ZL_TMP/slow3.out" 2>&1 &
zlctl_pid=$!
id_killed=$(wait_step "$ZL_TMP/slow3.out")
kill -KILL "${ZL_PID[zl-buildd]}"
wait "${ZL_PID[zl-buildd]}" 2>/dev/null
unset "ZL_PID[zl-buildd]"
wait $zlctl_pid
zl_check "restart: zlctl build fails when zl-buildd dies" test $? = 1
if start_buildd; then
        zl_ok "restart: zl-buildd starts again"
else
        zl_not_ok "restart: zl-buildd starts again" "$(cat "$ZL_TMP/zl-buildd/log")"
fi
out=$(bus get-property $B $P/build/$id_killed $BI State Error 2>&1)
zl_check "restart: the killed build is failed with the reason" \
        sh -c "echo '$out' | grep -q failed && echo '$out' | grep -q 'zl-buildd stopped while the build was running'"
for i in $(seq 100); do
        [ "$(zlb_containers)" = 0 ] && ! pgrep -f "zl-build-job" > /dev/null && break
        sleep 0.2
done
zl_check "restart: no zlb- containers are left" test "$(zlb_containers)" = 0
"$zlctl" build log "$id_fail" > "$ZL_TMP/fail2.log" 2>&1
zl_check "restart: GetLog still gives the whole log" cmp "$ZL_TMP/fail.log" "$ZL_TMP/fail2.log"
"$zlctl" build ls > "$ZL_TMP/ls" 2>&1
zl_check "restart: zlctl build ls lists the builds" grep -qE "^$id_app +complete" "$ZL_TMP/ls"

# ---- bad input: clear errors, nothing recorded ----------------------------------------------------------
before=$(n_builds)
expect_error() {
        local desc=$1 want=$2 out
        shift 2
        out=$("$@" 2>&1)
        if [ $? -ne 0 ] && echo "$out" | grep -qF -- "$want"; then
                zl_ok "bad input: $desc"
        else
                zl_not_ok "bad input: $desc" "$out"
        fi
}
expect_error "a relative context" "context: 'ctx/app' is not an absolute path" bus call $B $P $I Build 'sa{sv}' ctx/app 0
expect_error "a missing Dockerfile" "does not exist" "$zlctl" build "$ZL_TMP/ctx/node" -f Nope
c=$(ctx broken)
printf 'FROM %s\nRUN true\nCOPY\n' "$BASE" > "$c/Dockerfile"
expect_error "a broken Dockerfile, with its line" "Dockerfile:3:" "$zlctl" build "$c"
expect_error "an unknown option" "unknown option 'colour'" \
        bus call $B $P $I Build 'sa{sv}' "$c" 1 colour s red
expect_error "an option of the wrong type" "'no_cache' must be of type 'b'" \
        bus call $B $P $I Build 'sa{sv}' "$c" 1 no_cache s yes
expect_error "an unknown runtime" "unknown runtime 'cobol'" "$zlctl" build --runtime cobol "$c"
expect_error "an unknown build" "NotFound" "$zlctl" build log 000000000000
zl_check "bad input: nothing was recorded" test "$(n_builds)" = "$before"

# ---- zlctl runtimes, introspection ------------------------------------------------------------------
"$zlctl" runtimes > "$ZL_TMP/runtimes" 2>&1
zl_check "zlctl runtimes lists the templates" \
        sh -c "grep -q '^node22 ' '$ZL_TMP/runtimes' && grep -q 'package.json' '$ZL_TMP/runtimes'"
bus introspect $B $P/build/$id_app > "$ZL_TMP/introspect" 2>&1
zl_check "busctl introspect shows a build object" \
        sh -c "grep -q '^\.Wait ' '$ZL_TMP/introspect' && grep -q '^\.Progress ' '$ZL_TMP/introspect' && grep -q '\"complete\"' '$ZL_TMP/introspect'"
bus tree $B > "$ZL_TMP/tree" 2>&1
zl_check "busctl tree lists the builds" grep -q "build/$id_app\$" "$ZL_TMP/tree"

zl_done
