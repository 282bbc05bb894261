#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tests/runtime/test-images.sh: zl-runtimed's images on a private bus against the fixture
# registries (plain and with htpasswd auth): every fixture pulled (with and without
# credentials, by Login), shared pulls, containers from images (Cmd, Entrypoint, Env, User,
# WorkingDir, httpd answering inside its network namespace, the "layers" image's whiteouts and
# links through the overlay), pull policies, remove refused while used, prune, push back and pull
# by digest, import, export to an OCI layout or archive and back (read by skopeo and podman too;
# podman's docker and OCI archives imported), corrupt archives rejected, CreateContainer's
# platform and registry_auth, the named errors, and creation time independent of the image's size.
#
# zlctl's image commands (pull, push, login, logout, image ls|inspect|rm|tag|prune|import|export,
# container run IMAGE with --creds and --platform) against the same daemon.
#
# usage: test-images.sh ZL_RUNTIMED ZL_MONITOR FD_HELPER ZLCTL
set -uo pipefail

runtimed=$1 monitor=$2 helper=$3 zlctl=$4
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
fixtures=$srcdir/tests/fixtures
. "$(dirname "$0")/../bus/lib.sh"

[ "$(id -u)" -eq 0 ] || zl_skip_all "containers need root"
for tool in dbus-daemon busctl gdbus docker-registry skopeo htpasswd python3 zstd curl; do
        command -v "$tool" > /dev/null || zl_skip_all "$tool is not installed"
done
[ -x /bin/busybox ] || zl_skip_all "/bin/busybox is not installed (busybox-static)"
export ZL_MONITOR_PATH=$monitor
export ZLAYER_LOG_TARGET=stderr

B=org.zlayer.Runtime1 P=/org/zlayer/Runtime1 I=org.zlayer.Runtime1
CI=org.zlayer.Runtime1.Container JI=org.zlayer.Runtime1.Job
HTTPD_PORT=8081

zl_test_setup
bus() {
        local verb=$1
        shift
        busctl --address="$ZLAYER_BUS_ADDRESS" "$verb" -- "$@"
}
remove_all() {
        local id
        [ -n "${ZLAYER_BUS_ADDRESS:-}" ] || return 0
        for id in $(bus call $B $P $I ListContainers 'a{sv}' 0 2>/dev/null |
                grep -oE '"[0-9a-f]{64}"' | tr -d '"'); do
                bus call $B $P $I RemoveContainer sb "$id" true > /dev/null 2>&1
        done
        return 0
}
cleanup() {
        remove_all
        "$fixtures/registry.sh" stop "$ZL_TMP/reg" > /dev/null 2>&1
        "$fixtures/registry.sh" stop "$ZL_TMP/reg-auth" > /dev/null 2>&1
        zl_cleanup
}
trap cleanup EXIT

# ---- fixtures: images, a plain and an auth registry --------------------------------------
if ! "$fixtures/build-images.py" --httpd-port $HTTPD_PORT "$ZL_TMP/images" > "$ZL_TMP/build.log" 2>&1
then
        zl_not_ok "the fixture images build" "$(cat "$ZL_TMP/build.log")"
        zl_done
fi
. "$ZL_TMP/images/images.env"
export ZL_FIXTURE_IMAGES=$ZL_TMP/images
eval "$("$fixtures/registry.sh" start "$ZL_TMP/reg-auth" --auth)" || zl_skip_all "no registry"
AUTH_REGISTRY=$REGISTRY AUTH_USER=$REGISTRY_USER AUTH_PASSWORD=$REGISTRY_PASSWORD
eval "$("$fixtures/registry.sh" start "$ZL_TMP/reg")" || zl_skip_all "no registry"
for d in reg reg-auth; do
        if ! "$fixtures/registry.sh" push "$ZL_TMP/$d" > "$ZL_TMP/push-$d.log" 2>&1; then
                zl_not_ok "the fixtures are pushed to $d" "$(cat "$ZL_TMP/push-$d.log")"
                zl_done
        fi
done
zl_ok "fixture registries (plain $REGISTRY, auth $AUTH_REGISTRY) serve the images"

if ! zl_bus_start; then
        zl_not_ok "a private dbus-daemon starts"
        zl_done
fi
zl_daemon_start zl-runtimed "$runtimed"
if zl_wait_state $B $P running 20; then
        zl_ok "zl-runtimed runs"
else
        zl_not_ok "zl-runtimed runs" "$(cat "$ZL_TMP/zl-runtimed/log")"
        zl_done
fi
state=$ZL_TMP/zl-runtimed/state/runtime
log() {
        cat "$ZL_TMP/zl-runtimed/log"
}

# pull REF [OPTIONS...]: PullImage, then the job's Wait; prints the digest (or the error).
pull() {
        local ref=$1 out job n
        shift
        n=$(($# / 3))
        out=$(bus call $B $P $I PullImage 'sa{sv}' "$ref" $n "$@" 2>&1) || {
                echo "$out"
                return 1
        }
        job=$(echo "$out" | awk '{print $2}' | tr -d '"')
        out=$(bus --timeout=120 call $B "$job" $JI Wait 2>&1) || {
                echo "$out"
                return 1
        }
        echo "$out" | awk '{print $2}' | tr -d '"'
}
# expect_digest DESCRIPTION WANT REF [OPTIONS...]
expect_pull() {
        local desc=$1 want=$2 got
        shift 2
        got=$(pull "$@")
        if [ "$got" = "$want" ]; then
                zl_ok "$desc"
        else
                zl_not_ok "$desc" "want $want" "got $got"
        fi
}
# expect_error DESCRIPTION ERROR TEXT COMMAND...: the command fails with org.zlayer.Error.ERROR
# (checked when the command is gcall/gpull, whose gdbus prints the name) and TEXT in the message.
expect_error() {
        local desc=$1 name=$2 text=$3 out
        shift 3
        if out=$("$@" 2>&1); then
                zl_not_ok "$desc" "succeeded: $out"
        elif echo "$out" | grep -F -- "$text" > /dev/null &&
                { [ "$1" != gcall ] && [ "$1" != gpull ] ||
                        echo "$out" | grep -F "org.zlayer.Error.$name:" > /dev/null; }; then
                zl_ok "$desc"
        else
                zl_not_ok "$desc" "want org.zlayer.Error.$name with '$text'" "$out"
        fi
}
# gcall [--object-path PATH] METHOD ARGS...: a call through gdbus, which names D-Bus errors.
gcall() {
        local path=$P
        if [ "$1" = --object-path ]; then
                path=$2
                shift 2
        fi
        local method=$1
        shift
        gdbus call --address "$ZLAYER_BUS_ADDRESS" --dest $B --object-path "$path" \
                --timeout 120 --method "$method" "$@"
}
# gpull REF [OPTIONS-GVARIANT]: PullImage and Wait through gdbus.
gpull() {
        local out job
        out=$(gcall $I.PullImage "'$1'" "${2:-@a{sv\} {\}}") || {
                echo "$out"
                return 1
        }
        job=$(echo "$out" | sed -E "s/.*'([^']+)'.*/\1/")
        gcall --object-path "$job" $JI.Wait
}
# gcreate IMAGE [MORE-OPTIONS]: CreateContainer from an image through gdbus.
# Network "none" here and below: this test runs no zl-netd.
gcreate() {
        gcall $I.CreateContainer "''" "''" "{'image': <'$1'>, 'network': <'none'>${2:+, $2}}"
}

# create NAME IMAGE N [KEY TYPE VALUE...]: CreateContainer from an image with N more options;
# sets ID and OBJ.
create() {
        local name=$1 image=$2 out n=$((2 + $3))
        shift 3
        out=$(bus --timeout=120 call $B $P $I CreateContainer 'ssa{sv}' "$name" "" $n \
                image s "$image" network s none "$@" 2>&1) || {
                echo "$out"
                return 1
        }
        ID=$(echo "$out" | awk '{print $2}' | tr -d '"')
        OBJ=$(echo "$out" | awk '{print $3}' | tr -d '"')
}
prop() {
        bus get-property $B "$1" $CI "$2" | cut -d' ' -f2- | tr -d '"'
}
wait_prop() {
        local i
        [ -n "$1" ] || return 1
        for i in $(seq $((${4:-10} * 20))); do
                [ "$(prop "$1" "$2")" = "$3" ] && return 0
                sleep 0.05
        done
        return 1
}
start() {
        bus call $B $P $I StartContainer s "$1"
}
logs() {
        "$helper" logs "$1" 2>&1 | sed -E 's/^[^ ]+ (stdout|stderr) [FP] //'
}
inspect() {
        bus call $B $P $I InspectContainer s "$1" | sed 's/^s //' | "$ZL_PYTHON" -c \
                'import json,sys; print(json.dumps(json.loads(json.loads(sys.stdin.read()))))'
}
jq_py() {
        "$ZL_PYTHON" -c "import json,sys; d=json.loads(sys.stdin.read()); print($1)"
}

R=$REGISTRY

# ---- a container from an image not yet pulled: CreateContainer pulls first ---------------
t0=$(date +%s%N)
ID= OBJ=
if create first "$R/$FIXTURE_SHELL_REPO" 1 args as 3 /bin/sh -c 'echo hello from $PWD; exit 4'; then
        zl_ok "CreateContainer pulls a missing image (if_not_present) and creates"
else
        zl_not_ok "CreateContainer pulls a missing image (if_not_present) and creates" "$(log | tail)"
fi
first=$ID first_obj=$OBJ
start "$first" > /dev/null
if wait_prop "$first_obj" State exited 10 && [ "$(prop "$first_obj" ExitCode)" = 4 ] &&
        [ "$(logs "$first")" = "hello from /" ]; then
        zl_ok "the shell image's container runs (args over Cmd, WorkingDir /)"
else
        zl_not_ok "the shell image's container runs" "$(prop "$first_obj" State) $(prop "$first_obj" ExitCode)" "$(logs "$first")"
fi
out=$(inspect "$first")
if [ "$(echo "$out" | jq_py 'd["image"]')" = "$R/$FIXTURE_SHELL_REPO:latest" ] &&
        [ "$(echo "$out" | jq_py 'd["image_digest"]')" = "$FIXTURE_SHELL_DIGEST" ]; then
        zl_ok "InspectContainer shows the normalized image and its manifest digest"
else
        zl_not_ok "InspectContainer shows the image" "$out"
fi

# ---- every fixture pulled from the plain registry -----------------------------------------
expect_pull "pull shell (OCI manifest)" "$FIXTURE_SHELL_DIGEST" "$R/$FIXTURE_SHELL_REPO"
expect_pull "pull shell-docker (Docker schema 2)" "$FIXTURE_SHELL_DOCKER_DIGEST" \
        "$R/$FIXTURE_SHELL_DOCKER_REPO:latest"
expect_pull "pull httpd" "$FIXTURE_HTTPD_DIGEST" "$R/$FIXTURE_HTTPD_REPO"
expect_pull "pull layers (gzip, gzip, zstd)" "$FIXTURE_LAYERS_DIGEST" "$R/$FIXTURE_LAYERS_REPO"
expect_pull "pull multi: the host's platform from the index" "$FIXTURE_MULTI_AMD64_DIGEST" \
        "$R/$FIXTURE_MULTI_REPO"
expect_pull "pull multi with platform linux/arm64" "$FIXTURE_MULTI_ARM64_DIGEST" \
        "$R/$FIXTURE_MULTI_REPO:latest" platform s linux/arm64
expect_pull "pull by digest" "$FIXTURE_LAYERS_DIGEST" "$R/$FIXTURE_LAYERS_REPO@$FIXTURE_LAYERS_DIGEST"

# Two pulls of one reference at once share a job. Issued together, into a store that lacks the
# image's own layer: a pull of what is there already may end before the second call arrives.
bus call $B $P $I RemoveImage sb "$R/$FIXTURE_HTTPD_REPO" false > /dev/null
bus --timeout=60 call $B $P $I PruneImages > /dev/null
bus call $B $P $I PullImage 'sa{sv}' "$R/$FIXTURE_HTTPD_REPO" 0 > "$ZL_TMP/j1" &
p1=$!
bus call $B $P $I PullImage 'sa{sv}' "$R/$FIXTURE_HTTPD_REPO:latest" 0 > "$ZL_TMP/j2" &
p2=$!
wait "$p1" "$p2"
j1=$(awk '{print $2}' "$ZL_TMP/j1") j2=$(awk '{print $2}' "$ZL_TMP/j2")
if [ -n "$j1" ] && [ "$j1" = "$j2" ]; then
        zl_ok "two pulls of one image share a job"
else
        zl_not_ok "two pulls of one image share a job" "$j1 $j2"
fi
bus --timeout=60 call $B "$(echo "$j1" | tr -d '"')" $JI Wait > /dev/null 2>&1
out=$(bus get-property $B "$(echo "$j1" | tr -d '"')" $JI State Digest 2>&1)
if echo "$out" | grep -F "\"done\"" > /dev/null && echo "$out" | grep -F "$FIXTURE_HTTPD_DIGEST" > /dev/null; then
        zl_ok "a finished job shows state done and its digest"
else
        zl_not_ok "a finished job shows state done and its digest" "$out"
fi

# Progress: LayerProgress signals of a pull into an empty store part (a fresh tag of layers).
bus call $B $P $I RemoveImage sb "$R/$FIXTURE_MULTI_REPO:latest" false > /dev/null
busctl --address="$ZLAYER_BUS_ADDRESS" monitor --match="type='signal',interface='$JI'" \
        > "$ZL_TMP/monitor.log" 2>&1 &
monitor_pid=$!
ZL_CLEANUP_PIDS+=("$monitor_pid")
sleep 0.5
pull "$R/$FIXTURE_MULTI_REPO" platform s linux/arm/v7 > /dev/null
sleep 0.5
kill "$monitor_pid" 2>/dev/null
wait "$monitor_pid" 2>/dev/null
if grep -F "LayerProgress" "$ZL_TMP/monitor.log" > /dev/null; then
        zl_ok "a pull sends LayerProgress signals"
else
        zl_not_ok "a pull sends LayerProgress signals" "$(head -50 "$ZL_TMP/monitor.log")"
fi

# ---- authentication -----------------------------------------------------------------------
A=$AUTH_REGISTRY
expect_error "a pull without credentials: PermissionDenied" PermissionDenied "$A/$FIXTURE_SHELL_REPO" \
        gpull "$A/$FIXTURE_SHELL_REPO"
expect_error "a pull with wrong credentials: PermissionDenied" PermissionDenied "$A/$FIXTURE_SHELL_REPO" \
        gpull "$A/$FIXTURE_SHELL_REPO" "{'auth': <'$AUTH_USER:wrong'>}"
expect_pull "pull with the auth option" "$FIXTURE_SHELL_DIGEST" "$A/$FIXTURE_SHELL_REPO" \
        auth s "$AUTH_USER:$AUTH_PASSWORD"
zl_check "Login stores credentials" bus call $B $P $I Login sss "$A" "$AUTH_USER" "$AUTH_PASSWORD"
if [ "$(stat -c %a "$state/auth.json")" = 600 ]; then
        zl_ok "auth.json is 0600"
else
        zl_not_ok "auth.json is 0600" "$(stat -c %a "$state/auth.json")"
fi
expect_pull "pull httpd with the login" "$FIXTURE_HTTPD_DIGEST" "$A/$FIXTURE_HTTPD_REPO"
expect_pull "pull layers with the login" "$FIXTURE_LAYERS_DIGEST" "$A/$FIXTURE_LAYERS_REPO"
expect_pull "pull shell-docker with the login" "$FIXTURE_SHELL_DOCKER_DIGEST" \
        "$A/$FIXTURE_SHELL_DOCKER_REPO"
expect_pull "pull multi with the login" "$FIXTURE_MULTI_AMD64_DIGEST" "$A/$FIXTURE_MULTI_REPO"
zl_check "Logout" bus call $B $P $I Logout s "$A"
expect_error "Logout again: NotFound" NotFound "Not logged in" gcall $I.Logout "'$A'"
expect_error "after Logout the pull is refused" PermissionDenied "$A/$FIXTURE_LAYERS_REPO" \
        gpull "$A/$FIXTURE_LAYERS_REPO"

# ---- bad input ----------------------------------------------------------------------------
expect_error "a bad reference is InvalidArgument" InvalidArgument "not a valid image reference" \
        gpull "Bad/UPPER case"
expect_error "an unknown option is InvalidArgument" InvalidArgument "unknown option 'nope'" \
        gpull "$R/x" "{'nope': <'x'>}"
expect_error "a bad platform is InvalidArgument" InvalidArgument "platform: 'linux'" \
        gpull "$R/x" "{'platform': <'linux'>}"
expect_error "InspectImage of an unknown image: NotFound naming it" NotFound \
        "No such image '$R/zlayer/nosuch:latest'" gcall $I.InspectImage "'$R/zlayer/nosuch'"
expect_error "a pull of an unknown image: NotFound naming it" NotFound "$R/zlayer/nosuch:v1" \
        gpull "$R/zlayer/nosuch:v1"
expect_error "a platform the index lacks: NotFound" NotFound "linux/s390x" \
        gpull "$R/$FIXTURE_MULTI_REPO" "{'platform': <'linux/s390x'>}"
expect_error "pull_policy never with a missing image: NotFound" NotFound \
        "No such image '$R/zlayer/nosuch:latest' in the store, and pull_policy is 'never'" \
        gcreate "$R/zlayer/nosuch" "'pull_policy': <'never'>"
expect_error "a bad pull_policy is InvalidArgument" InvalidArgument "pull_policy: 'sometimes'" \
        gcreate "$R/$FIXTURE_SHELL_REPO" "'pull_policy': <'sometimes'>"
expect_error "a bad image reference in CreateContainer: InvalidArgument" InvalidArgument \
        "image: 'a b' is not a valid" gcreate "a b"
expect_error "CreateContainer with an image missing from the registry: NotFound" NotFound \
        "$R/zlayer/nosuch:latest" gcreate "$R/zlayer/nosuch"

out=$(bus call $B $P $I ListImages 2>&1)
n=0
for repo in "$FIXTURE_SHELL_REPO" "$FIXTURE_SHELL_DOCKER_REPO" "$FIXTURE_HTTPD_REPO" \
        "$FIXTURE_LAYERS_REPO" "$FIXTURE_MULTI_REPO"; do
        echo "$out" | grep -F "\"$R/$repo\" \"latest\"" > /dev/null && n=$((n + 1))
done
if [ $n = 5 ] && ! echo "$out" | grep -F "in-use" > /dev/null; then
        zl_ok "ListImages lists the pulled images, not the internal pins"
else
        zl_not_ok "ListImages lists the pulled images" "$out"
fi
out=$(bus call $B $P $I InspectImage s "$R/$FIXTURE_LAYERS_REPO" | sed 's/^s //' |
        "$ZL_PYTHON" -c 'import json,sys; d=json.loads(json.loads(sys.stdin.read())); print(d["Id"], len(d["Layers"]))')
if [ "$out" = "$FIXTURE_LAYERS_DIGEST 3" ]; then
        zl_ok "InspectImage: the manifest digest and three layers"
else
        zl_not_ok "InspectImage: the manifest digest and three layers" "$out"
fi

# ---- containers from images ---------------------------------------------------------------
# layers: Entrypoint ["/bin/sh","-c"] + Cmd, Env, WorkingDir /data.
create lay "$R/$FIXTURE_LAYERS_REPO" 1 pull_policy s never && start "$ID" > /dev/null
lay=$ID
if wait_prop "$OBJ" State exited 10 && [ "$(logs "$lay")" = "kept" ]; then
        zl_ok "layers: Entrypoint + Cmd run ('cat /data/kept.txt')"
else
        zl_not_ok "layers: Entrypoint + Cmd run" "$(logs "$lay")" "$(log | tail -5)"
fi
create lay2 "$R/$FIXTURE_LAYERS_REPO" 3 args as 1 'echo $ZL_FIXTURE $ZL_EXTRA $(pwd) $(id -u):$(id -g)' \
        env as 1 ZL_EXTRA=extra user s zltest && start "$ID" > /dev/null
if wait_prop "$OBJ" State exited 10 && [ "$(logs "$ID")" = "layers extra /data 1234:5678" ]; then
        zl_ok "args replace Cmd after the Entrypoint; Env merged; WorkingDir; user from the image's passwd"
else
        zl_not_ok "args, env, cwd, user" "$(logs "$ID")" "$(log | tail -5)"
fi
create lay3 "$R/$FIXTURE_LAYERS_REPO" 2 entrypoint as 2 /bin/echo overridden cwd s /tmp \
        && start "$ID" > /dev/null
if wait_prop "$OBJ" State exited 10 && [ "$(logs "$ID")" = "overridden" ]; then
        zl_ok "entrypoint option drops the image's Cmd"
else
        zl_not_ok "entrypoint option drops the image's Cmd" "$(logs "$ID")"
fi

# The layers image through the overlay: whiteouts, opaque dir, hard links, xattrs, devices.
create check "$R/$FIXTURE_LAYERS_REPO" 1 entrypoint as 2 /bin/sleep 1000 && start "$ID" > /dev/null
check=$ID check_obj=$OBJ
if wait_prop "$check_obj" State running 10; then
        pid=$(prop "$check_obj" Pid | awk '{print $NF}')
        zl_check "the layers image's /data is exactly as expected inside a container" \
                "$fixtures/build-images.py" --check-layers "/proc/$pid/root"
        if [ -z "$(ls -A "$state/containers/$check/rootfs" 2>/dev/null)" ] ||
                [ ! -d "$state/containers/$check/rootfs" ]; then
                zl_ok "the overlay is mounted only inside the container"
        else
                zl_not_ok "the overlay is mounted only inside the container" \
                        "$(ls -A "$state/containers/$check/rootfs")"
        fi
else
        zl_not_ok "a long-running container from layers runs" "$(log | tail -5)"
fi

# httpd: its Cmd serves the page; fetched from inside its network namespace.
create web "$R/$FIXTURE_HTTPD_REPO" 0 && start "$ID" > /dev/null
web=$ID web_obj=$OBJ
out=
if wait_prop "$web_obj" State running 10; then
        for i in $(seq 50); do
                out=$("$helper" exec-stream "$web" wget -q -O - "http://127.0.0.1:$HTTPD_PORT/" 2>&1) &&
                        break
                sleep 0.1
        done
fi
if echo "$out" | grep -F "<h1>zlayer fixture httpd</h1>" > /dev/null; then
        zl_ok "httpd from its image answers inside the container's network namespace"
else
        zl_not_ok "httpd answers inside the container" "$out" "$(logs "$web")"
fi
out=$(inspect "$web")
if [ "$(echo "$out" | jq_py 'd["exposed_ports"]')" = "['$HTTPD_PORT/tcp']" ] &&
        [ "$(echo "$out" | jq_py 'd["config"]["process"]["cwd"]')" = "/www" ]; then
        zl_ok "ExposedPorts kept in InspectContainer, WorkingDir /www"
else
        zl_not_ok "ExposedPorts and WorkingDir" "$out"
fi

# ---- removal, pins, prune -----------------------------------------------------------------
expect_error "RemoveImage refused while a container uses it: Busy" Busy "is used by container $web" \
        gcall $I.RemoveImage "'$R/$FIXTURE_HTTPD_REPO'" false
expect_error "RemoveImage of an unknown image: NotFound" NotFound \
        "No such image '$R/zlayer/nosuch:latest'" gcall $I.RemoveImage "'$R/zlayer/nosuch'" false
bus call $B $P $I RemoveImage sb "$A/$FIXTURE_HTTPD_REPO" true > /dev/null
zl_check "RemoveImage with force while used" bus call $B $P $I RemoveImage sb "$R/$FIXTURE_HTTPD_REPO" true
out=$(bus --timeout=60 call $B $P $I PruneImages 2>&1)
zl_check "PruneImages" test "${out%% *}" = t
out=$("$helper" exec-stream "$web" cat /www/index.html 2>&1)
if echo "$out" | grep -F "zlayer fixture httpd" > /dev/null; then
        zl_ok "prune keeps the layers of a running container whose image was removed"
else
        zl_not_ok "prune keeps the layers of a running container" "$out"
fi
bus call $B $P $I RemoveContainer sb "$web" true > /dev/null
out=$(bus --timeout=60 call $B $P $I PruneImages 2>&1)
if [ "${out%% *}" = t ] && [ "${out##* }" -gt 0 ]; then
        zl_ok "after its last container goes, prune frees the httpd layer ($out)"
else
        zl_not_ok "prune frees the httpd layer" "$out"
fi

# ---- push back, pull by digest ------------------------------------------------------------
zl_check "TagImage for the push" bus call $B $P $I TagImage ss "$R/$FIXTURE_SHELL_REPO" "$R/zlayer/pushed:v1"
expect_error "TagImage of an unknown image: NotFound" NotFound "No such image" \
        gcall $I.TagImage "'$R/zlayer/nosuch'" "'$R/zlayer/x:v1'"
out=$(bus call $B $P $I PushImage 'sa{sv}' "$R/zlayer/pushed:v1" 0 2>&1)
job=$(echo "$out" | awk '{print $2}' | tr -d '"')
got=$(bus --timeout=120 call $B "$job" $JI Wait 2>&1 | awk '{print $2}' | tr -d '"')
if [ "$got" = "$FIXTURE_SHELL_DIGEST" ]; then
        zl_ok "PushImage pushes the stored manifest unchanged"
else
        zl_not_ok "PushImage" "$out" "$got"
fi
code=$(curl -s -o /dev/null -w '%{http_code}' \
        -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
        "http://$R/v2/zlayer/pushed/manifests/$FIXTURE_SHELL_DIGEST")
zl_check "the registry has the pushed manifest" test "$code" = 200
# The same manifest as shell, which a container uses: only the tag goes.
bus call $B $P $I RemoveImage sb "$R/zlayer/pushed:v1" true > /dev/null
expect_pull "pull the pushed image back by digest" "$FIXTURE_SHELL_DIGEST" \
        "$R/zlayer/pushed@$FIXTURE_SHELL_DIGEST"
expect_error "PushImage of an unknown image: NotFound" NotFound "No such image" \
        gcall $I.PushImage "'$R/zlayer/nosuch:v1'" "@a{sv} {}"

# ---- import, and creation time that does not grow with the image --------------------------
"$ZL_PYTHON" - "$ZL_TMP/images/shell" "$ZL_TMP/big" <<'PY'
import gzip, hashlib, io, json, os, shutil, sys, tarfile
src, dst = sys.argv[1], sys.argv[2]
shutil.copytree(src, dst)
idx = json.load(open(os.path.join(dst, "index.json")))
def blob(d):
    return os.path.join(dst, "blobs", "sha256", d.split(":")[1])
def put(data):
    d = "sha256:" + hashlib.sha256(data).hexdigest()
    open(blob(d), "wb").write(data)
    return d
man = json.load(open(blob(idx["manifests"][0]["digest"])))
cfg = json.load(open(blob(man["config"]["digest"])))
raw = io.BytesIO()
with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
    for i in range(4):
        data = os.urandom(16 << 20)
        ti = tarfile.TarInfo("big/blob%d" % i)
        ti.size = len(data)
        ti.mtime = 1700000000
        t.addfile(ti, io.BytesIO(data))
layer = raw.getvalue()
diff = "sha256:" + hashlib.sha256(layer).hexdigest()
ld = put(layer)
cfg["rootfs"]["diff_ids"].append(diff)
cd = put(json.dumps(cfg).encode())
man["config"] = {"mediaType": man["config"]["mediaType"], "digest": cd, "size": os.path.getsize(blob(cd))}
man["layers"].append({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": len(layer)})
md = put(json.dumps(man).encode())
idx["manifests"] = [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md,
                     "size": os.path.getsize(blob(md))}]
json.dump(idx, open(os.path.join(dst, "index.json"), "w"))
PY
out=$(bus --timeout=120 call $B $P $I ImportImage ss "$ZL_TMP/big" localhost/zlayer/big:v1 2>&1)
if echo "$out" | grep -E '^s "sha256:[0-9a-f]{64}"$' > /dev/null; then
        zl_ok "ImportImage of an OCI layout with a 64 MiB layer"
else
        zl_not_ok "ImportImage" "$out"
fi
expect_error "ImportImage of a missing directory: NotFound" NotFound "path: '$ZL_TMP/nosuch'" \
        gcall $I.ImportImage "'$ZL_TMP/nosuch'" "'localhost/zlayer/x:v1'"
# Median of five creations each: the big image's must stay close to the small one's.
time_create() {
        local image=$1 i t0 t1 times=()
        for i in 1 2 3 4 5; do
                t0=$(date +%s%N)
                create "" "$image" 1 pull_policy s never > /dev/null || return 1
                t1=$(date +%s%N)
                times+=($(((t1 - t0) / 1000)))
                bus call $B $P $I RemoveContainer sb "$ID" true > /dev/null
        done
        printf '%s\n' "${times[@]}" | sort -n | sed -n 3p
}
small=$(time_create "$R/$FIXTURE_SHELL_REPO")
big=$(time_create localhost/zlayer/big:v1)
if [ -n "$small" ] && [ -n "$big" ] && [ "$big" -lt $((small * 2 + 50000)) ]; then
        zl_ok "creation from a 64 MiB image (${big} us) is as fast as from a 2 MiB one (${small} us)"
else
        zl_not_ok "creation time does not grow with the image" "big ${big:-?} us, small ${small:-?} us"
fi

# ---- export and archive import -------------------------------------------------------------
exp=$ZL_TMP/export
mkdir -p "$exp"
blob_count() {
        ls "$state/images/blobs/sha256" | wc -l
}
# gexport REF PATH / gimport PATH REF: through gdbus, which names errors; print the digest.
gexport() {
        gcall $I.ExportImage "'$1'" "'$2'" | sed -E "s/^\('(.*)',\)$/\1/"
}
gimport() {
        gcall $I.ImportImage "'$1'" "'$2'" | sed -E "s/^\('(.*)',\)$/\1/"
}
out=$(gexport "$R/$FIXTURE_LAYERS_REPO" "$exp/layers.tar" 2>&1)
if [ "$out" = "$FIXTURE_LAYERS_DIGEST" ] && [ -f "$exp/layers.tar" ] &&
        [ -z "$(ls -A "$exp" | grep -v '^layers.tar$')" ]; then
        zl_ok "ExportImage to an archive: the manifest digest unchanged, no temporary file left"
else
        zl_not_ok "ExportImage to an archive" "$out" "$(ls -la "$exp")"
fi
out=$(gexport "$R/$FIXTURE_LAYERS_REPO" "$exp/layers-dir" 2>&1)
if [ "$out" = "$FIXTURE_LAYERS_DIGEST" ] && [ -f "$exp/layers-dir/index.json" ] &&
        [ -f "$exp/layers-dir/blobs/sha256/${FIXTURE_LAYERS_DIGEST#sha256:}" ]; then
        zl_ok "ExportImage to an OCI layout directory"
else
        zl_not_ok "ExportImage to an OCI layout directory" "$out"
fi
out=$(skopeo inspect "oci-archive:$exp/layers.tar" 2>&1 | jq_py 'd["Digest"]' 2>&1)
zl_check "skopeo inspect oci-archive: reads the export" test "$out" = "$FIXTURE_LAYERS_DIGEST"
out=$(skopeo copy "oci-archive:$exp/layers.tar" "oci:$exp/skopeo-oci:copy" 2>&1 &&
        skopeo inspect "oci:$exp/skopeo-oci:copy" 2>&1 | jq_py 'd["Digest"]' 2>&1)
zl_check "skopeo copy oci-archive: to an OCI layout keeps the digest" \
        test "$(echo "$out" | tail -1)" = "$FIXTURE_LAYERS_DIGEST"
out=$(skopeo inspect "docker-archive:$exp/layers.tar" 2>&1 | jq_py 'len(d["Layers"])' 2>&1)
zl_check "skopeo reads the export as a docker-archive too (manifest.json)" test "$out" = 3
out=$(gimport "$exp/layers.tar" "localhost/zlayer/roundtrip:v1" 2>&1)
zl_check "ImportImage of the exported archive: the same manifest" test "$out" = "$FIXTURE_LAYERS_DIGEST"
create rt localhost/zlayer/roundtrip:v1 2 pull_policy s never network s none && start "$ID" > /dev/null
if wait_prop "$OBJ" State exited 10 && [ "$(logs "$ID")" = "kept" ]; then
        zl_ok "a container from the round-tripped image runs"
else
        zl_not_ok "a container from the round-tripped image runs" "$(logs "$ID")" "$(log | tail -5)"
fi
bus call $B $P $I RemoveContainer sb "$ID" true > /dev/null
out=$(gimport "$exp/layers-dir" "" 2>&1)
zl_check "ImportImage of an exported directory without a ref takes its name" \
        test "$out" = "$FIXTURE_LAYERS_DIGEST"

# Bad archives: named errors, the store unchanged.
before_list=$(bus call $B $P $I ListImages) before_blobs=$(blob_count)
head -c $(($(stat -c %s "$exp/layers.tar") / 2)) "$exp/layers.tar" > "$exp/truncated.tar"
expect_error "ImportImage of a truncated archive: InvalidSpec" InvalidSpec "truncated" \
        gcall $I.ImportImage "'$exp/truncated.tar'" "'localhost/zlayer/bad:v1'"
echo "not an archive" > "$exp/garbage.tar"
expect_error "ImportImage of a file that is no archive: InvalidSpec" InvalidSpec "not a tar archive" \
        gcall $I.ImportImage "'$exp/garbage.tar'" "'localhost/zlayer/bad:v1'"
"$ZL_PYTHON" - "$exp/layers.tar" "$exp/tampered.tar" <<'PY'
import io, sys, tarfile
src, dst = tarfile.open(sys.argv[1]), tarfile.open(sys.argv[2], "w")
for m in src.getmembers():
    data = src.extractfile(m).read() if m.isfile() else None
    if data is not None and m.name.startswith("blobs/") and m.size > 100000:
        data = bytearray(data)
        data[len(data) // 2] ^= 0xff
        data = bytes(data)
    dst.addfile(m, io.BytesIO(data) if data is not None else None)
dst.close()
PY
expect_error "ImportImage of an archive with a corrupted layer: InvalidSpec" InvalidSpec \
        "digest mismatch" gcall $I.ImportImage "'$exp/tampered.tar'" "'localhost/zlayer/bad:v1'"
if [ "$(bus call $B $P $I ListImages)" = "$before_list" ] && [ "$(blob_count)" = "$before_blobs" ]; then
        zl_ok "after the rejected archives the store is unchanged"
else
        zl_not_ok "after the rejected archives the store is unchanged" "$before_blobs $(blob_count)"
fi
expect_error "ExportImage of an unknown image: NotFound" NotFound "No such image" \
        gcall $I.ExportImage "'$R/zlayer/nosuch'" "'$exp/x.tar'"
expect_error "ExportImage to a relative path: InvalidArgument" InvalidArgument "path: 'x.tar'" \
        gcall $I.ExportImage "'$R/$FIXTURE_LAYERS_REPO'" "'x.tar'"
expect_error "ExportImage over a non-empty directory: Exists" Exists "not empty" \
        gcall $I.ExportImage "'$R/$FIXTURE_LAYERS_REPO'" "'$exp/layers-dir'"

# podman: loads our export; what it saves (docker-archive and oci-archive) imports and runs.
if command -v podman > /dev/null; then
        pod() {
                podman --root "$ZL_TMP/podman/root" --runroot "$ZL_TMP/podman/run" \
                        --storage-driver vfs --events-backend none --cgroup-manager cgroupfs "$@"
        }
        out=$(pod load -i "$exp/layers.tar" 2>&1)
        if echo "$out" | grep -F "Loaded image: $R/$FIXTURE_LAYERS_REPO:latest" > /dev/null; then
                zl_ok "podman load reads the export and names the image"
        else
                zl_not_ok "podman load reads the export" "$out"
        fi
        out=$(pod pull -q --tls-verify=false "$R/$FIXTURE_SHELL_REPO" 2>&1 &&
                pod tag "$R/$FIXTURE_SHELL_REPO" localhost/podman/shell:saved 2>&1 &&
                pod save --format docker-archive -o "$exp/podman-docker.tar" \
                        localhost/podman/shell:saved 2>&1 &&
                pod save --format oci-archive -o "$exp/podman-oci.tar" \
                        localhost/podman/shell:saved 2>&1)
        zl_check "podman saves the shell image (docker-archive, oci-archive)" \
                test -s "$exp/podman-docker.tar" -a -s "$exp/podman-oci.tar"
        out=$(gimport "$exp/podman-docker.tar" "" 2>&1)
        if echo "$out" | grep -E '^sha256:[0-9a-f]{64}$' > /dev/null &&
                bus call $B $P $I ListImages | grep -F '"localhost/podman/shell" "saved"' > /dev/null; then
                zl_ok "ImportImage of podman save's docker-archive, named by its RepoTags"
        else
                zl_not_ok "ImportImage of podman save's docker-archive" "$out"
        fi
        create fromdocker localhost/podman/shell:saved 3 pull_policy s never network s none \
                args as 3 /bin/sh -c 'echo from podman save' && start "$ID" > /dev/null
        if wait_prop "$OBJ" State exited 10 && [ "$(logs "$ID")" = "from podman save" ]; then
                zl_ok "a container from the podman-saved image runs"
        else
                zl_not_ok "a container from the podman-saved image runs" "$(logs "$ID")" "$(log | tail -5)"
        fi
        bus call $B $P $I RemoveContainer sb "$ID" true > /dev/null
        out=$(gimport "$exp/podman-oci.tar" "localhost/podman/shell:oci" 2>&1)
        zl_check "ImportImage of podman save's oci-archive" sh -c "echo '$out' | grep -E '^sha256:'"
else
        zl_ok "# SKIP podman is not installed: podman load/save checks"
fi

# ---- CreateContainer: the pull's platform and credentials ---------------------------------
expect_error "CreateContainer pulling from the auth registry without credentials: PermissionDenied" \
        PermissionDenied "$A/$FIXTURE_SHELL_REPO" \
        gcreate "$A/$FIXTURE_SHELL_REPO" "'pull_policy': <'always'>, 'network': <'none'>"
expect_error "CreateContainer with wrong registry_auth: PermissionDenied" PermissionDenied \
        "$A/$FIXTURE_SHELL_REPO" gcreate "$A/$FIXTURE_SHELL_REPO" \
        "'pull_policy': <'always'>, 'registry_auth': <'$AUTH_USER:wrong'>, 'network': <'none'>"
ID=
create authd "$A/$FIXTURE_SHELL_REPO" 4 pull_policy s always registry_auth s \
        "$AUTH_USER:$AUTH_PASSWORD" network s none args as 3 /bin/sh -c 'echo authorized' &&
        start "$ID" > /dev/null
if [ -n "$ID" ] && wait_prop "$OBJ" State exited 10 && [ "$(logs "$ID")" = "authorized" ]; then
        zl_ok "CreateContainer pulls with registry_auth from the auth registry, and runs"
else
        zl_not_ok "CreateContainer with registry_auth" "$(log | tail -5)"
fi
[ -n "$ID" ] && bus call $B $P $I RemoveContainer sb "$ID" true > /dev/null
ID=
create arm "$R/$FIXTURE_MULTI_REPO:latest" 3 pull_policy s always platform s linux/arm64 \
        network s none
if [ -n "$ID" ] && [ "$(inspect "$ID" | jq_py 'd["image_digest"]')" = "$FIXTURE_MULTI_ARM64_DIGEST" ]; then
        zl_ok "CreateContainer with platform linux/arm64 pulls that entry of the index"
else
        zl_not_ok "CreateContainer with platform" "$(inspect "$ID" 2>&1 | head -c 300)" "$(log | tail -5)"
fi
[ -n "$ID" ] && bus call $B $P $I RemoveContainer sb "$ID" true > /dev/null
expect_error "CreateContainer with a bad platform: InvalidArgument" InvalidArgument \
        "platform: 'linux'" gcreate "$R/$FIXTURE_SHELL_REPO" "'platform': <'linux'>"
expect_error "CreateContainer with a bad registry_auth: InvalidArgument" InvalidArgument \
        "registry_auth: must be 'user:password'" gcreate "$R/$FIXTURE_SHELL_REPO" \
        "'registry_auth': <'nocolon'>"
expect_error "registry_auth without an image: InvalidArgument" InvalidArgument \
        "'registry_auth' needs 'image'" \
        gcall $I.CreateContainer "''" "''" "{'rootfs': <'/'>, 'registry_auth': <'a:b'>}"

# ---- zlctl ----------------------------------------------------------------------------------
out=$("$zlctl" pull "$R/$FIXTURE_HTTPD_REPO" 2>&1)
if [ "$(echo "$out" | tail -1)" = "$FIXTURE_HTTPD_DIGEST" ] && echo "$out" | grep -F "unpacking" > /dev/null; then
        zl_ok "zlctl pull: plain progress lines, then the digest"
else
        zl_not_ok "zlctl pull" "$out"
fi
if command -v script > /dev/null; then
        # On a terminal: one line per layer, redrawn in place.
        out=$(script -qec "'$zlctl' pull '$R/$FIXTURE_LAYERS_REPO'" /dev/null 2>&1 | tr -d '\r')
        if echo "$out" | grep -F "$FIXTURE_LAYERS_DIGEST" > /dev/null &&
                echo "$out" | grep -F "$(printf '\033[')" > /dev/null &&
                echo "$out" | grep -E '\[=+\]' > /dev/null; then
                zl_ok "zlctl pull on a terminal: progress bars per layer"
        else
                zl_not_ok "zlctl pull on a terminal" "$out"
        fi
fi
out=$("$zlctl" pull "$R/zlayer/nosuch" 2>&1)
rc=$?
if [ $rc = 1 ] && echo "$out" | grep -F "Failed to pull '$R/zlayer/nosuch'" > /dev/null; then
        zl_ok "zlctl pull of an unknown image: exit 1, names it"
else
        zl_not_ok "zlctl pull of an unknown image" "rc $rc" "$out"
fi
out=$("$zlctl" image ls 2>&1)
if echo "$out" | grep -E "^$R/$FIXTURE_HTTPD_REPO +latest +$FIXTURE_HTTPD_DIGEST" > /dev/null; then
        zl_ok "zlctl image ls"
else
        zl_not_ok "zlctl image ls" "$out"
fi
out=$("$zlctl" image ls -o json 2>&1 | "$ZL_PYTHON" -c 'import json,sys; print(len(json.load(sys.stdin)))' 2>&1)
zl_check "zlctl image ls -o json" test "$out" -ge 1
out=$("$zlctl" image inspect "$R/$FIXTURE_HTTPD_REPO" 2>&1)
zl_check "zlctl image inspect" sh -c "echo '$out' | grep -F '\"Id\": \"$FIXTURE_HTTPD_DIGEST\"'"
out=$("$zlctl" container run --rm --network none "$R/$FIXTURE_HTTPD_REPO" cat /www/index.html 2>&1)
if echo "$out" | grep -F "<h1>zlayer fixture httpd</h1>" > /dev/null; then
        zl_ok "zlctl container run IMAGE CMD"
else
        zl_not_ok "zlctl container run IMAGE CMD" "$out"
fi
out=$("$zlctl" container run --rm --network none --pull never "$R/zlayer/nosuch" 2>&1)
rc=$?
if [ $rc = 1 ] && echo "$out" | grep -F "pull_policy is 'never'" > /dev/null; then
        zl_ok "zlctl container run --pull never with a missing image"
else
        zl_not_ok "zlctl container run --pull never with a missing image" "rc $rc" "$out"
fi
zl_check "zlctl image tag" "$zlctl" image tag "$R/$FIXTURE_HTTPD_REPO" "$R/zlayer/zlctl:v2"
out=$("$zlctl" push "$R/zlayer/zlctl:v2" 2>&1)
zl_check "zlctl push prints the digest" test "$(echo "$out" | tail -1)" = "$FIXTURE_HTTPD_DIGEST"
zl_check "zlctl image rm" "$zlctl" image rm "$R/zlayer/zlctl:v2"
out=$("$zlctl" image rm "$R/zlayer/zlctl:v2" 2>&1)
rc=$?
if [ $rc = 1 ] && echo "$out" | grep -F "No such image" > /dev/null; then
        zl_ok "zlctl image rm of an unknown image: exit 1"
else
        zl_not_ok "zlctl image rm of an unknown image" "rc $rc" "$out"
fi
zl_check "zlctl login --password-stdin" sh -c \
        "echo '$AUTH_PASSWORD' | '$zlctl' login -u '$AUTH_USER' --password-stdin '$A'"
out=$("$zlctl" pull -q "$A/$FIXTURE_HTTPD_REPO" 2>&1)
zl_check "zlctl pull -q with the login" test "$out" = "$FIXTURE_HTTPD_DIGEST"
zl_check "zlctl logout" "$zlctl" logout "$A"
"$zlctl" pull -q "$A/$FIXTURE_HTTPD_REPO" > /dev/null 2>&1
zl_check "zlctl pull after logout fails" test $? = 1
out=$("$zlctl" image prune 2>&1)
zl_check "zlctl image prune" sh -c "echo '$out' | grep -E '^Freed '"
out=$("$zlctl" image import "$ZL_TMP/images/layers" localhost/zlayer/imported:v1 2>&1)
zl_check "zlctl image import" test "$out" = "$FIXTURE_LAYERS_DIGEST"
"$zlctl" container run IMAGE 2>/dev/null
zl_check "zlctl container run with a bad IMAGE is a usage error" test $? = 2
out=$(cd "$exp" && "$zlctl" image export "$R/$FIXTURE_HTTPD_REPO" httpd.tar 2>&1)
zl_check "zlctl image export REF PATH (relative)" \
        test "$out" = "$FIXTURE_HTTPD_DIGEST" -a -s "$exp/httpd.tar"
bus call $B $P $I RemoveImage sb "$R/$FIXTURE_HTTPD_REPO" true > /dev/null
out=$("$zlctl" image import "$exp/httpd.tar" 2>&1)
if [ "$out" = "$FIXTURE_HTTPD_DIGEST" ] && "$zlctl" image ls | grep -E "^$R/$FIXTURE_HTTPD_REPO +latest" > /dev/null; then
        zl_ok "zlctl image import PATH: the archive's own name"
else
        zl_not_ok "zlctl image import PATH" "$out"
fi
out=$("$zlctl" image import "$exp/garbage.tar" localhost/x:1 2>&1)
rc=$?
if [ $rc = 1 ] && echo "$out" | grep -F "not a tar archive" > /dev/null; then
        zl_ok "zlctl image import of a bad archive: exit 1 and why"
else
        zl_not_ok "zlctl image import of a bad archive" "rc $rc" "$out"
fi
out=$("$zlctl" container run --rm --network none --pull always --creds "$AUTH_USER:$AUTH_PASSWORD" \
        "$A/$FIXTURE_HTTPD_REPO" cat /www/index.html 2>&1)
if echo "$out" | grep -F "<h1>zlayer fixture httpd</h1>" > /dev/null; then
        zl_ok "zlctl container run --creds pulls from the auth registry"
else
        zl_not_ok "zlctl container run --creds" "$out"
fi
out=$("$zlctl" container create --network none --pull always --platform linux/arm/v7 \
        "$R/$FIXTURE_MULTI_REPO" 2>&1)
if [ "$(inspect "$out" | jq_py 'd["image_digest"]')" = "$FIXTURE_MULTI_ARM_V7_DIGEST" ]; then
        zl_ok "zlctl container create --platform"
else
        zl_not_ok "zlctl container create --platform" "$out"
fi
bus call $B $P $I RemoveContainer sb "$out" true > /dev/null 2>&1
"$zlctl" container run --rootfs / --creds a:b /bin/true > /dev/null 2>&1
zl_check "zlctl container run --creds with --rootfs is a usage error" test $? = 2

# ---- after a restart: images and pins are still known -------------------------------------
# Stops zl-runtimed; its log goes to runtimed-logs, its exit status to $ZL_STATUS.
stop_daemon() {
        kill -TERM "${ZL_PID[zl-runtimed]}"
        zl_wait_exit zl-runtimed 20
        cat "$ZL_TMP/zl-runtimed/log" >> "$ZL_TMP/runtimed-logs"
}
stop_daemon
zl_daemon_start zl-runtimed "$runtimed"
zl_wait_state $B $P running 20 > /dev/null
expect_error "after a restart the pin still protects a used image" Busy "is used by container" \
        gcall $I.RemoveImage "'$R/$FIXTURE_LAYERS_REPO'" false
remove_all
zl_check "once its containers are gone, the image can be removed" \
        bus call $B $P $I RemoveImage sb "$R/$FIXTURE_LAYERS_REPO" false
stop_daemon
zl_check "zl-runtimed stops cleanly" test "$ZL_STATUS" = 0
zl_check "zl-runtimed logged no errors about images and no sanitizer reports" \
        sh -c "! grep -iE 'Failed to (record|release)|Sanitizer|runtime error' '$ZL_TMP/runtimed-logs'"

zl_done
