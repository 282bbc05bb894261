#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tests/build/test-build-job.sh: zl-build-job run directly on buildah, with a temporary buildah
# storage and the fixture registry: FROM a registry image (RUN/COPY/ENV/WORKDIR/USER/CMD,
# .dockerignore), FROM scratch, multi-stage COPY --from, ARG/ENV expansion, here-documents and
# RUN --mount, a runtime template on a fake base image, a failing RUN, a parse error, a cached
# rebuild, cancel by SIGTERM, --cleanup, push to the registry, --prune-cache, the request checks.
#
# usage: test-build-job.sh ZL_BUILD_JOB
set -uo pipefail

job=$1
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
fixtures=$srcdir/tests/fixtures
. "$srcdir/tests/lib/tap.sh"

skip_all() {
        echo "1..0 # SKIP $*"
        exit 77
}
[ "$(id -u)" -eq 0 ] || skip_all "buildah builds need root"
for tool in buildah docker-registry skopeo python3 curl; do
        command -v "$tool" > /dev/null || skip_all "$tool is not installed"
done
[ -x /bin/busybox ] || skip_all "/bin/busybox is not installed (busybox-static)"

tmp=$(mktemp -d /var/tmp/zl-build-job.XXXXXX)
storage=$tmp/storage runroot=$tmp/runroot
B() {
        buildah --root "$storage" --runroot "$runroot" --storage-driver overlay "$@"
}
cleanup() {
        local c
        for c in $(B containers -q 2> /dev/null); do B rm "$c" > /dev/null 2>&1; done
        "$fixtures/registry.sh" stop "$tmp/reg" > /dev/null 2>&1
        B rmi -a -f > /dev/null 2>&1
        # buildah leaves its overlay mounts behind after rmi of a mounted image.
        grep -o " $storage[^ ]*" /proc/self/mounts | sort -r | while read -r m; do
                umount -l "$m" 2> /dev/null
        done
        rm -rf "$tmp"
}
trap cleanup EXIT

if ! "$fixtures/build-images.py" "$tmp/images" > "$tmp/images.log" 2>&1; then
        bail "building the fixture images failed: $(tail -n 3 "$tmp/images.log")"
fi
eval "$("$fixtures/registry.sh" start "$tmp/reg")" || bail "the registry did not start"
ZL_FIXTURE_IMAGES=$tmp/images "$fixtures/registry.sh" push "$tmp/reg" > /dev/null ||
        bail "pushing the fixtures failed"
SHELL_IMAGE=$REGISTRY/zlayer/shell:latest

# request ID CONTEXT [EXTRA JSON MEMBERS]: a request on stdout.
request() {
        local id=$1 ctx=$2 extra=${3:-}
        printf '{"build_id":"%s","context":"%s","work_dir":"%s","oci_cache":"%s",%s
"storage":{"root":"%s","runroot":"%s","driver":"overlay"}}' \
                "$id" "$ctx" "$tmp/work/$id" "$tmp/oci-cache" "${extra:+$extra,}" \
                "$storage" "$runroot"
}
# run_job ID CONTEXT [EXTRA]: runs the job; events in $tmp/ID.events, stderr in $tmp/ID.err,
# exit status in $rc, seconds in $secs.
run_job() {
        local id=$1 start end
        start=$(date +%s.%N)
        request "$@" | "$job" > "$tmp/$id.events" 2> "$tmp/$id.err"
        rc=$?
        end=$(date +%s.%N)
        secs=$(python3 -c "print(round($end - $start, 3))")
}
# ev ID PYTHON-EXPRESSION: evaluates it with `events` (the list of {event, data}) and helpers;
# prints the result. Exit 1 if the expression is false.
ev() {
        python3 - "$tmp/$1.events" "$2" << 'EOF'
import json, sys
events = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def of(name):
    return [e["data"] for e in events if e["event"] == name]
def one(name):
    l = of(name)
    return l[0] if len(l) == 1 else None
r = eval(sys.argv[2])
if isinstance(r, bool):
    sys.exit(0 if r else 1)
print(r)
EOF
}
# config ID: the image config of the OCI layout the job wrote, as JSON.
config() {
        python3 - "$tmp/work/$1/oci" << 'EOF'
import json, sys, os
d = sys.argv[1]
blob = lambda dg: os.path.join(d, "blobs", *dg.split(":"))
idx = json.load(open(os.path.join(d, "index.json")))
man = json.load(open(blob(idx["manifests"][0]["digest"])))
print(json.dumps(json.load(open(blob(man["config"]["digest"])))["config"]))
EOF
}
# files ID: every path in the layers of the layout, one per line.
files() {
        python3 - "$tmp/work/$1/oci" << 'EOF'
import json, sys, os, tarfile
d = sys.argv[1]
blob = lambda dg: os.path.join(d, "blobs", *dg.split(":"))
idx = json.load(open(os.path.join(d, "index.json")))
man = json.load(open(blob(idx["manifests"][0]["digest"])))
for l in man["layers"]:
    with tarfile.open(blob(l["digest"])) as t:
        for m in t.getmembers():
            print("/" + m.name.lstrip("./"))
EOF
}
check() {
        local name=$1
        shift
        if "$@"; then
                ok "$name"
        else
                not_ok "$name" "$*" "$(tail -n 3 "$tmp/brun.err" 2> /dev/null)"
        fi
        : > "$tmp/brun.err"
}
jq_() {
        python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"
}
# crun refuses this host's hybrid cgroups; buildah's chroot isolation needs no runtime. Its
# errors are kept for the diagnostics of a failed check.
brun() {
        B run --isolation chroot "$@" 2>> "$tmp/brun.err"
}

# ---- FROM a registry image ---------------------------------------------------------------
ctx=$tmp/ctx-app
mkdir -p "$ctx/src"
echo "hello file" > "$ctx/src/a.txt"
echo "not wanted" > "$ctx/src/debug.log"
printf '# Docker: "*.log" would match at the top only\n**/*.log\n' > "$ctx/.dockerignore"
cat > "$ctx/Dockerfile" << EOF
FROM $SHELL_IMAGE
ARG GREETING=hello
ENV APP_HOME=/app MODE=\${GREETING}-mode
WORKDIR \$APP_HOME
COPY src/ ./src/
RUN echo "\$GREETING from run" > greeting.txt && echo to-stdout && echo to-stderr >&2
USER 1234:5678
CMD ["cat", "/app/greeting.txt"]
EOF
run_job app1 "$ctx" '"tags":["localhost/app:1"]'
cold=$secs
check "FROM registry image: exit 0" [ "$rc" = 0 ]
check "build_started counts stages and instructions" \
        ev app1 'one("build_started") == {"total_stages": 1, "total_instructions": 7}'
check "events in order" ev app1 '[e["event"] for e in events if e["event"] != "output"] == ["build_started", "stage_started"] + ["instruction_started", "instruction_complete"] * 7 + ["stage_complete", "image_ready"]'
check "instruction_started carries the text and the line" \
        ev app1 'of("instruction_started")[4] == {"stage": 0, "index": 4, "instruction": "RUN echo \"$GREETING from run\" > greeting.txt && echo to-stdout && echo to-stderr >&2", "line": 6}'
check "RUN output as output events" \
        ev app1 '{"line": "to-stdout", "is_stderr": False} in of("output") and {"line": "to-stderr", "is_stderr": True} in of("output")'
check "image_ready names the id, the layout and the tags" \
        ev app1 'one("image_ready")["image_id"].startswith("sha256:") and one("image_ready")["tags"] == ["localhost/app:1"] and one("image_ready")["oci_dir"].endswith("/work/app1/oci")'
cfg=$(config app1)
check "config: Env" [ "$(echo "$cfg" | jq_ '"APP_HOME=/app" in d["Env"] and "MODE=hello-mode" in d["Env"]')" = True ]
check "config: WorkingDir, User, Cmd" [ "$(echo "$cfg" | jq_ '(d["WorkingDir"], d["User"], d["Cmd"])')" = "('/app', '1234:5678', ['cat', '/app/greeting.txt'])" ]
id=$(ev app1 'one("image_ready")["image_id"]')
check "the tag points at the image" [ "$(B images --no-trunc --format '{{.ID}}' localhost/app:1 | sort -u)" = "$id" ]
c=$(B from --pull=never localhost/app:1)
check "the image runs its files" [ "$(brun "$c" -- cat /app/greeting.txt)" = "hello from run" ]
check "COPY took the file" [ "$(brun "$c" -- cat /app/src/a.txt)" = "hello file" ]
check ".dockerignore kept debug.log out" [ "$(brun "$c" -- sh -c 'ls /app/src')" = "a.txt" ]
B rm "$c" > /dev/null
layout_files=$(files app1)
check "the OCI layout holds the layers" grep -qx /app/greeting.txt <<< "$layout_files"

# ---- cached rebuild ------------------------------------------------------------------------
run_job app2 "$ctx" '"tags":["localhost/app:1"]'
warm=$secs
check "rebuild: exit 0" [ "$rc" = 0 ]
check "rebuild: every instruction cached" \
        ev app2 'len(of("instruction_complete")) == 7 and all(d["cached"] for d in of("instruction_complete"))'
check "rebuild: the same image" [ "$(ev app2 'one("image_ready")["image_id"]')" = "$id" ]
check "rebuild: faster (${cold}s cold, ${warm}s cached)" python3 -c "import sys; sys.exit(0 if $warm < $cold / 2 else 1)"
check "rebuild: a layout for the runtime" [ "$(config app2)" = "$cfg" ]
echo "# cold ${cold}s, cached ${warm}s"

# A changed context file re-runs from its COPY on; the steps before stay cached.
echo "changed" > "$ctx/src/a.txt"
run_job app3 "$ctx" '"tags":["localhost/app:2"]'
check "changed file: COPY and later not cached" \
        ev app3 'not any(d["cached"] for d in of("instruction_complete")[3:])'
check "changed file: another image" [ "$(ev app3 'one("image_ready")["image_id"]')" != "$id" ]
# A change in an ignored file changes nothing.
echo "noise" > "$ctx/src/debug.log"
run_job app4 "$ctx" '"tags":["localhost/app:2"]'
check "ignored file changed: all cached" \
        ev app4 'all(d["cached"] for d in of("instruction_complete"))'
run_job app5 "$ctx" '"tags":["localhost/app:2"],"no_cache":true'
check "no_cache: nothing cached" ev app5 'not any(d["cached"] for d in of("instruction_complete"))'

# ---- FROM scratch ---------------------------------------------------------------------------
ctx=$tmp/ctx-scratch
mkdir -p "$ctx"
echo "scratch data" > "$ctx/data.txt"
cat > "$ctx/Dockerfile" << 'EOF'
FROM scratch
COPY data.txt /srv/data.txt
WORKDIR /srv/empty
CMD ["/srv/data.txt"]
EOF
run_job scratch1 "$ctx" '"tags":["localhost/scratch:1"]'
check "FROM scratch: exit 0" [ "$rc" = 0 ]
scratch_files=$(files scratch1)
check "FROM scratch: the copied file" grep -qx /srv/data.txt <<< "$scratch_files"
check "FROM scratch: WORKDIR created" grep -qx /srv/empty <<< "$scratch_files"
check "FROM scratch: nothing else" [ "$(grep -vc '^/srv' <<< "$scratch_files")" = 0 ]
check "FROM scratch: WorkingDir" [ "$(config scratch1 | jq_ 'd["WorkingDir"]')" = /srv/empty ]

# ---- multi-stage ------------------------------------------------------------------------------
ctx=$tmp/ctx-multi
mkdir -p "$ctx"
cat > "$ctx/Dockerfile" << EOF
FROM $SHELL_IMAGE AS build
RUN mkdir /out && echo "built in stage 0" > /out/artifact.txt
FROM $SHELL_IMAGE AS unused
RUN exit 1
FROM $SHELL_IMAGE
COPY --from=build /out/artifact.txt /artifact.txt
CMD ["cat", "/artifact.txt"]
EOF
run_job multi1 "$ctx" '"tags":["localhost/multi:1"]'
check "multi-stage: exit 0" [ "$rc" = 0 ]
check "multi-stage: the unused stage is skipped" \
        ev multi1 '[d["index"] for d in of("stage_started")] == [0, 2] and one("build_started")["total_stages"] == 2'
c=$(B from --pull=never localhost/multi:1)
check "multi-stage: COPY --from" [ "$(brun "$c" -- cat /artifact.txt)" = "built in stage 0" ]
B rm "$c" > /dev/null
run_job multi2 "$ctx" '"tags":["localhost/multi:1"],"target":"build"'
check "multi-stage: --target builds only that stage" \
        ev multi2 '[d["index"] for d in of("stage_started")] == [0]'

# ---- ARG / ENV expansion ----------------------------------------------------------------------
ctx=$tmp/ctx-args
mkdir -p "$ctx"
cat > "$ctx/Dockerfile" << EOF
ARG BASE=$SHELL_IMAGE
FROM \${BASE}
ARG NAME=default
ARG EMPTY
ENV GREETING="hi \${NAME}" FALLBACK=\${UNSET:-fallback} ALT=\${NAME:+set} PLAIN=\$NAME
RUN echo "\$GREETING|\$FALLBACK|\$ALT|\$PLAIN|\$NAME" > /args.txt
LABEL org.zlayer.name=\$NAME
EOF
run_job args1 "$ctx" '"tags":["localhost/args:1"],"build_args":{"NAME":"given"}'
check "ARG/ENV: exit 0" [ "$rc" = 0 ]
cfg=$(config args1)
check "ARG/ENV: Env expanded with the build arg" [ "$(echo "$cfg" | jq_ '[e for e in d["Env"] if e.split("=")[0] in ("GREETING", "FALLBACK", "ALT", "PLAIN")]')" = "['GREETING=hi given', 'FALLBACK=fallback', 'ALT=set', 'PLAIN=given']" ]
check "ARG/ENV: the ARG is not in the image" [ "$(echo "$cfg" | jq_ 'any(e.startswith("NAME=") for e in d["Env"])')" = False ]
check "ARG/ENV: label" [ "$(echo "$cfg" | jq_ 'd["Labels"]["org.zlayer.name"]')" = given ]
c=$(B from --pull=never localhost/args:1)
check "ARG/ENV: RUN sees ENV and ARG" [ "$(brun "$c" -- cat /args.txt)" = "hi given|fallback|set|given|given" ]
B rm "$c" > /dev/null
run_job args2 "$ctx" '"tags":["localhost/args:2"]'
check "ARG default without the build arg" [ "$(config args2 | jq_ '"PLAIN=default" in d["Env"]')" = True ]
check "ARG: another value is another cache key" \
        ev args2 'not any(d["cached"] for d in of("instruction_complete")[1:])'

# ---- here-documents and RUN --mount ----------------------------------------------------------
ctx=$tmp/ctx-heredoc
mkdir -p "$ctx/src"
echo "mounted file" > "$ctx/src/m.txt"
cat > "$ctx/Dockerfile" << 'DOCKERFILE'
ARG BASE
FROM ${BASE} AS first
RUN echo "from the first stage" > /stage.txt
FROM ${BASE}
ARG WHO=world
RUN <<EOT
echo "script says hello $WHO"
EOT
RUN cat > /greet.txt <<EOT && echo wrote
hi $WHO
EOT
COPY <<EOF /etc/motd
motd for ${WHO}
EOF
COPY <<'EOF' /etc/raw
raw $WHO
EOF
RUN --mount=type=bind,source=src,target=/mnt cat /mnt/m.txt
RUN --mount=type=bind,from=first,source=/stage.txt,target=/s.txt cat /s.txt
RUN --mount=type=tmpfs,target=/t touch /t/x && ls /t
DOCKERFILE
run_job heredoc1 "$ctx" "\"tags\":[\"localhost/heredoc:1\"],\"build_args\":{\"BASE\":\"$SHELL_IMAGE\"}"
check "heredocs and mounts: exit 0" [ "$rc" = 0 ]
check "RUN <<EOT runs the body as a script" ev heredoc1 '{"line": "script says hello world", "is_stderr": False} in of("output")'
check "RUN with a heredoc for a command" ev heredoc1 '{"line": "wrote", "is_stderr": False} in of("output")'
check "RUN --mount bind from the context" ev heredoc1 '{"line": "mounted file", "is_stderr": False} in of("output")'
check "RUN --mount bind from a stage" ev heredoc1 '{"line": "from the first stage", "is_stderr": False} in of("output")'
check "RUN --mount tmpfs" ev heredoc1 '{"line": "x", "is_stderr": False} in of("output")'
c=$(B from --pull=never localhost/heredoc:1)
check "COPY <<EOF expands, COPY <<'EOF' does not" \
        [ "$(brun "$c" -- cat /greet.txt /etc/motd /etc/raw)" = "$(printf 'hi world\nmotd for world\nraw $WHO')" ]
check "the tmpfs left nothing in the image" [ "$(brun "$c" -- sh -c 'ls /t 2>/dev/null | wc -l')" = 0 ]
B rm "$c" > /dev/null
printf 'FROM %s\nRUN --network=none true\n' "$SHELL_IMAGE" > "$ctx/Dockerfile.net"
run_job net1 "$ctx" '"dockerfile":"Dockerfile.net"'
check "RUN --network=none refused under chroot isolation" \
        ev net1 '"chroot isolation" in one("build_failed")["error"] and one("build_failed")["line"] == 2'

# ---- a runtime template on a fake base image ----------------------------------------------------
c=$(B from --pull=never "$SHELL_IMAGE")
brun "$c" -- sh -c 'mkdir -p /usr/local/bin /home/node &&
        printf "#!/bin/sh\necho \"fake npm \$*\"\nmkdir -p node_modules && echo \"\$*\" > node_modules/.npm-args\n" > /usr/local/bin/npm &&
        printf "#!/bin/sh\necho fake node\n" > /usr/local/bin/node &&
        chmod 755 /usr/local/bin/npm /usr/local/bin/node &&
        echo "node:x:1000:1000::/home/node:/bin/sh" >> /etc/passwd &&
        echo "node:x:1000:" >> /etc/group'
B commit -q "$c" localhost/fake-node:1 > /dev/null
B rm "$c" > /dev/null
ctx=$tmp/ctx-node
mkdir -p "$ctx"
echo '{"name": "app", "scripts": {"start": "node index.js"}}' > "$ctx/package.json"
echo '{"lockfileVersion": 3}' > "$ctx/package-lock.json"
echo 'console.log("hi")' > "$ctx/index.js"
run_job node1 "$ctx" '"tags":["localhost/node-app:1"],"runtime_auto":true,"build_args":{"BASE_IMAGE":"localhost/fake-node:1"}'
check "template: exit 0" [ "$rc" = 0 ]
check "template: detected node22" ev node1 'one("build_started")["runtime"] == "node22"'
check "template: npm ci ran" ev node1 '{"line": "fake npm ci --omit=dev", "is_stderr": False} in of("output")'
cfg=$(config node1)
check "template: Cmd, User, WorkingDir" [ "$(echo "$cfg" | jq_ '(d["Cmd"], d["User"], d["WorkingDir"])')" = "(['npm', 'start'], 'node', '/app')" ]
c=$(B from --pull=never localhost/node-app:1)
check "template: sources owned by node" [ "$(brun "$c" -- stat -c %U /app/index.js)" = node ]
B rm "$c" > /dev/null
run_job node2 "$ctx" '"tags":["localhost/node-app:1"],"runtime":"node22","build_args":{"BASE_IMAGE":"localhost/fake-node:1"}'
check "template by name: cached" ev node2 'all(d["cached"] for d in of("instruction_complete"))'
ctx=$tmp/ctx-none
mkdir -p "$ctx"
run_job none1 "$ctx" '"runtime_auto":true'
check "template: nothing detected fails with what was looked for" \
        ev none1 '"package.json" in one("build_failed")["error"] and one("build_failed")["line"] is None'

# ---- failures --------------------------------------------------------------------------------
ctx=$tmp/ctx-fail
mkdir -p "$ctx"
cat > "$ctx/Dockerfile" << EOF
FROM $SHELL_IMAGE
RUN echo step-one
RUN echo "about to fail" && echo "on stderr" >&2 && exit 3
RUN echo never
EOF
run_job fail1 "$ctx"
check "failing RUN: exit 1" [ "$rc" = 1 ]
check "failing RUN: build_failed with status, stage, index and line" \
        ev fail1 'one("build_failed") == {"error": "RUN exited with status 3", "stage": 0, "index": 1, "line": 3}'
check "failing RUN: its output went out first" \
        ev fail1 '{"line": "about to fail", "is_stderr": False} in of("output") and {"line": "on stderr", "is_stderr": True} in of("output")'
check "failing RUN: no image_ready, nothing after" ev fail1 'events[-1]["event"] == "build_failed" and not of("image_ready")'
check "failing RUN: no working container left" [ -z "$(B containers --format '{{.ContainerName}}' | grep '^zlb-fail1-')" ]

# The same with no_cache: nothing is committed between the RUNs, so they share one buildah run;
# each is still its own pair of events with its own output, and the failure is the second's.
run_job fail2 "$ctx" '"no_cache":true'
check "folded RUNs: failing RUN at its index and line" \
        ev fail2 'one("build_failed") == {"error": "RUN exited with status 3", "stage": 0, "index": 1, "line": 3}'
check "folded RUNs: events per instruction, the third never started" \
        ev fail2 '[(e["event"], e["data"]["index"]) for e in events if e["event"].startswith("instruction_")] == [("instruction_started", 0), ("instruction_complete", 0), ("instruction_started", 1)]'
# by_step: the output lines between each instruction_started and the next instruction event.
by_step='(lambda st: {events[a]["data"]["index"]: [e["data"]["line"] for e in events[a + 1:b] if e["event"] == "output"] for a, b in zip(st, st[1:] + [len(events)])})([k for k, e in enumerate(events) if e["event"] == "instruction_started"])'
check "folded RUNs: output under its own instruction" \
        ev fail2 "$by_step[0] == ['step-one'] and $by_step[1][:2] in (['about to fail', 'on stderr'], ['on stderr', 'about to fail'])"
check "folded RUNs: no working container left" [ -z "$(B containers --format '{{.ContainerName}}' | grep '^zlb-fail2-')" ]
{
        echo "FROM $SHELL_IMAGE"
        echo "RUN printf 'no newline' && echo 'on stderr' >&2"
        echo "RUN echo \"it's\" && echo"
        echo 'RUN ["echo", "exec form"]'
        echo 'RUN echo last > /last.txt'
        echo 'CMD ["cat", "/last.txt"]'
} > "$ctx/Dockerfile.fold"
run_job fold1 "$ctx" '"dockerfile":"Dockerfile.fold","no_cache":true,"tags":["localhost/fold:1"]'
check "folded RUNs: exit 0" [ "$rc" = 0 ]
check "folded RUNs: a line without newline ends at the next RUN" \
        ev fold1 "sorted($by_step[0]) == ['no newline', 'on stderr']"
check "folded RUNs: quotes pass through, an empty line is kept" \
        ev fold1 "$by_step[1] == [\"it's\", '']"
check "folded RUNs: exec form on its own" ev fold1 "$by_step[2] == ['exec form']"
check "folded RUNs: every step complete" \
        ev fold1 '[d["index"] for d in of("instruction_complete")] == [0, 1, 2, 3, 4]'
c=$(B from --pull=never localhost/fold:1)
check "folded RUNs: the image has the last RUN's file" [ "$(brun "$c" -- cat /last.txt)" = "last" ]
B rm "$c" > /dev/null

printf 'FROM %s\nRUN echo ok\nFRUM nothing\n' "$SHELL_IMAGE" > "$ctx/Dockerfile.bad"
run_job parse1 "$ctx" '"dockerfile":"Dockerfile.bad"'
check "parse error: exit 1, build_failed with the line" \
        ev parse1 'one("build_failed")["line"] == 3 and "line 3" in one("build_failed")["error"] and one("build_failed")["stage"] is None'
check "parse error: no build_started" ev parse1 'not of("build_started")'
run_job missing1 "$ctx" '"dockerfile":"nope"'
check "missing Dockerfile: build_failed" ev missing1 '"cannot read the Dockerfile" in one("build_failed")["error"]'
printf 'FROM %s\nCOPY absent.txt /\n' "$SHELL_IMAGE" > "$ctx/Dockerfile.absent"
run_job absent1 "$ctx" '"dockerfile":"Dockerfile.absent"'
check "missing COPY source: build_failed at its line" \
        ev absent1 'one("build_failed") == {"error": "COPY: a source does not exist in the build context", "stage": 0, "index": 0, "line": 2}'

echo '{"build_id": "x"}' | "$job" > "$tmp/badreq.events" 2> /dev/null
rc=$?
check "bad request: exit 1 with build_failed" [ "$rc" = 1 ]
check "bad request: says which field" grep -q "'context' is required" "$tmp/badreq.events"

# ---- cancel ----------------------------------------------------------------------------------
ctx=$tmp/ctx-cancel
mkdir -p "$ctx"
# A duration of its own, so that the check below finds only this test's sleep.
nap=$((1000 + $$ % 9000))
printf 'FROM %s\nRUN echo sleeping && sleep %s\n' "$SHELL_IMAGE" "$nap" > "$ctx/Dockerfile"
request cancel1 "$ctx" > "$tmp/cancel1.req"
"$job" < "$tmp/cancel1.req" > "$tmp/cancel1.events" 2> "$tmp/cancel1.err" &
pid=$!
for _ in $(seq 300); do
        grep -q '"sleeping"' "$tmp/cancel1.events" 2> /dev/null && break
        sleep 0.1
done
check "cancel: the RUN started" grep -q '"sleeping"' "$tmp/cancel1.events"
kill -TERM "$pid"
start=$(date +%s)
wait "$pid"
rc=$?
check "cancel: exit 130" [ "$rc" = 130 ]
check "cancel: quick" [ $(($(date +%s) - start)) -lt 15 ]
check "cancel: no event after the output" ev cancel1 'events[-1]["event"] == "output" and not of("build_failed")'
check "cancel: no working container left" [ -z "$(B containers --format '{{.ContainerName}}' | grep '^zlb-cancel1-')" ]
check "cancel: the sleep is gone" [ -z "$(pgrep -f "sleep $nap")" ]

# ---- --cleanup ---------------------------------------------------------------------------------
B from --pull=never --name zlb-left1-0 "$SHELL_IMAGE" > /dev/null
B from --pull=never --name zlb-left1-2 "$SHELL_IMAGE" > /dev/null
B from --pull=never --name zlb-other-0 "$SHELL_IMAGE" > /dev/null
"$job" --cleanup left1 --storage-root "$storage" --storage-runroot "$runroot" \
        --storage-driver overlay 2> "$tmp/cleanup.err"
check "--cleanup: exit 0" [ $? = 0 ]
names=$(B containers --format '{{.ContainerName}}')
check "--cleanup: removed this build's containers" [ -z "$(grep '^zlb-left1-' <<< "$names")" ]
check "--cleanup: kept another build's" grep -qx zlb-other-0 <<< "$names"
B rm zlb-other-0 > /dev/null

# ---- push --------------------------------------------------------------------------------------
ctx=$tmp/ctx-scratch
run_job push1 "$ctx" "\"tags\":[\"$REGISTRY/built/scratch:1\"],\"push\":true"
check "push: exit 0" [ "$rc" = 0 ]
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' "http://$REGISTRY/v2/built/scratch/manifests/1")
check "push: the registry has the image" [ "$code" = 200 ]

# ---- prune -------------------------------------------------------------------------------------
before=$(B images --format '{{.Name}}' | grep -c zlayer-cache)
"$job" --prune-cache --max-bytes 1 --storage-root "$storage" --storage-runroot "$runroot" \
        --storage-driver overlay 2> "$tmp/prune.err"
check "--prune-cache: exit 0" [ $? = 0 ]
after=$(B images --format '{{.Name}}' | grep -c zlayer-cache)
check "--prune-cache: cache images removed ($before -> $after)" [ "$after" -lt "$before" ]
has_image() {
        B inspect --type image "$1" > /dev/null 2>&1
}
check "--prune-cache: tagged images kept" has_image localhost/app:1

tap_done
