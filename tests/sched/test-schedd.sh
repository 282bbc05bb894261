#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tests/sched/test-schedd.sh: zl-schedd end to end through org.zlayer.Scheduler1, with the real
# zl-runtimed (and its monitor), zl-netd and zl-proxyd on a private bus, and images pulled from
# the fixture registry. A 2-replica httpd service behind a public endpoint answers from both
# replicas through the proxy; a killed container is replaced; a replica whose health check fails
# leaves the proxy and comes back; a redeploy replaces the replicas one by one with no failed
# request; Scale; a job (TriggerJob, JobFinished) and a cron service; dependency order in the
# event log; invalid specs, unknown images, failing init, failing health checks and dependency
# timeouts fail with the service named; zl-schedd killed with -9 mid-deploy finishes the deploy
# after a restart and keeps the healthy containers, and so do zl-runtimed, zl-proxyd and zl-netd
# killed with -9 mid-deploy; a named volume outlives a replacement and a tmpfs is mounted; Stop
# leaves nothing behind.
#
# The whole test runs in a network and mount namespace of its own (tests/lib/netns.sh): the
# registry, the proxy's listeners, the bridge, the veths and the Raft port never touch the host.
# Every wait polls with a deadline: assertions are about states, never about timings.
#
# usage: test-schedd.sh ZL_SCHEDD ZL_RUNTIMED ZL_MONITOR ZL_NETD ZL_PROXYD
set -uo pipefail

schedd=$1 runtimed=$2 monitor=$3 netd=$4 proxyd=$5
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
fixtures=$srcdir/tests/fixtures
ZL_NETNS_MOUNT=1 ZL_NETNS_REQUIRED=1
. "$(dirname "$0")/../lib/netns.sh"

. "$(dirname "$0")/../bus/lib.sh"
BRIDGE=zlsd0
WEB_PORT=18080
. "$(dirname "$0")/../lib/sched.sh"
sched_setup gdbus wrk

# ---- helpers -------------------------------------------------------------------------------

# dep NAME: GetDeployment's JSON ("" when it fails).
dep() {
        bus --json=short call $SB $SP $SB GetDeployment s "$1" 2> /dev/null | jq -r '.data[0]'
}
# dep_q NAME JQ: a jq query on GetDeployment.
dep_q() {
        dep "$1" | jq -r "$2" 2> /dev/null
}
status_is() { # NAME STATUS
        [ "$(dep_q "$1" .status)" = "$2" ]
}
gen_is() { # NAME GENERATION STATUS
        [ "$(dep_q "$1" '"\(.generation) \(.status)"')" = "$2 $3" ]
}
# deploy FILE: Deploy; prints "deployment generation".
deploy() {
        sched Deploy 'sa{sv}' "$(cat "$1")" 1 filename s "$(basename "$1")" | awk '{print $2, $3}' |
                tr -d '"'
}
# routes_backends ROUTE: the backends of one route the proxy serves, sorted, one a line.
routes_backends() {
        bus --json=short call $PB $PP $PB ListRoutes | jq -r '.data[0]' |
                jq -r --arg n "$1" '.routes[] | select(.name == $n) | .backends[] |
                        if type == "string" then . else .address end' | sort
}
# healthy_ips NAME SERVICE: the ips of the healthy replicas with :PORT, sorted.
healthy_ips() {
        dep_q "$1" ".services[\"$2\"].replicas[] | select(.health == \"healthy\") | .ip" |
                sed "s/\$/:$3/" | sort
}
routes_match_healthy() { # NAME SERVICE ROUTE PORT N
        local want got
        want=$(healthy_ips "$1" "$2" "$4")
        got=$(routes_backends "$3")
        [ -n "$want" ] && [ "$want" = "$got" ] && [ "$(echo "$got" | wc -l)" -eq "$5" ]
}
# page: one answer of the web service through the proxy.
page() {
        curl -s --max-time 3 -f "http://127.0.0.1:$WEB_PORT/"
}
# pages N: the distinct answers of N requests.
pages() {
        local i
        for i in $(seq "$1"); do
                page
                echo
        done | sed '/^$/d' | sort -u
}
two_pages() {
        [ "$(pages 20 | wc -l)" -eq 2 ]
}
# rt_exec ID COMMAND...: Runtime1.Exec (after "--": arguments may start with '-').
rt_exec() {
        local id=$1
        shift
        busctl --address="$ZLAYER_BUS_ADDRESS" call -- $RB $RP $RB Exec sasasa{sv} "$id" $# "$@" \
                0 0
}
container_ids() { # NAME SERVICE
        dep_q "$1" ".services[\"$2\"].replicas[] | \"\(.index) \(.container_id)\"" | sort
}
n_ours() { # containers with our labels
        bus call $RB $RP $RB ListContainers 'a{sv}' 1 label as 1 zlayer.deployment |
                awk '{print $2}'
}
# expect_error DESCRIPTION TEXT COMMAND...: the command fails with TEXT in its message.
expect_error() {
        local desc=$1 want=$2
        shift 2
        if "$@" > "$out" 2> "$err"; then
                zl_not_ok "$desc" "succeeded: $(cat "$out")"
        elif grep -q "$want" "$err"; then
                zl_ok "$desc"
        else
                zl_not_ok "$desc" "wanted $want" "$(cat "$err")"
        fi
}
# gcall METHOD ARGS...: the call through gdbus, which prints the error's name too.
gcall() {
        gdbus call --address "$ZLAYER_BUS_ADDRESS" --dest $SB --object-path $SP \
                --method "$SB.$1" "${@:2}"
}

# ---- fixtures and daemons ----------------------------------------------------------------------
sched_fixtures
sched_configs 10.251.0.0/16 7 "$ZL_TMP/access.log" "health_deadline = 20s"
zl_bus_start || { zl_not_ok "a private dbus-daemon starts"; zl_done; }
sched_start_daemons
# Every signal of the scheduler, one a line, in order.
events=$ZL_TMP/events.log
gdbus monitor --address "$ZLAYER_BUS_ADDRESS" --dest $SB --object-path $SP > "$events" 2>&1 &
ZL_CLEANUP_PIDS+=($!)
sleep 0.5

# ---- bad input ----------------------------------------------------------------------------
cat > "$ZL_TMP/invalid.yaml" << EOF
version: v1
deployment: broken
services:
  web:
    image:
      name: $IMAGE
    replicass: 2
    endpoints:
      - name: http
        protocol: htp
        port: 80
EOF
before=$(sched ListDeployments)
if gcall Deploy "$(cat "$ZL_TMP/invalid.yaml")" "{'filename': <'invalid.yaml'>}" > "$out" 2>&1
then
        zl_not_ok "an invalid spec is refused" "$(cat "$out")"
elif grep -q "org.zlayer.Error.InvalidSpec" "$out" &&
        grep -q "invalid.yaml:[0-9]*:[0-9]*: services.web" "$out" &&
        grep -q "endpoints\[0\].protocol" "$out"; then
        zl_ok "an invalid spec is InvalidSpec listing every error as FILE:LINE:COL: PATH"
else
        zl_not_ok "an invalid spec is InvalidSpec with every error" "$(cat "$out")"
fi
expect_eq_state() {
        if [ "$(sched ListDeployments)" = "$before" ]; then
                zl_ok "$1"
        else
                zl_not_ok "$1" "before: $before" "after: $(sched ListDeployments)"
        fi
}
expect_eq_state "the state is unchanged by an invalid spec"
if gcall Deploy "version: v1" "{'port_offset': <'x'>}" > "$out" 2>&1; then
        zl_not_ok "a mistyped option is refused" "$(cat "$out")"
else
        zl_check "a mistyped option is InvalidArgument" grep -q InvalidArgument "$out"
fi
expect_error "GetDeployment of an unknown deployment is NotFound" "No such deployment" \
        sched GetDeployment s nosuch
expect_error "Stop of an unknown deployment is NotFound" "No such deployment" \
        sched Stop ssu nosuch "" 0
expect_error "Scale without a service names what is missing" "a service name is required" \
        sched Scale ssu nosuch "" 1
expect_error "TriggerJob without a service names what is missing" "a service name is required" \
        sched TriggerJob ss nosuch ""

# ---- a 2-replica web service behind the proxy -----------------------------------------------
write_web() { # VERSION REPLICAS
        cat > "$ZL_TMP/web.yaml" << EOF
version: v1
deployment: web
services:
  web:
    image:
      name: $IMAGE
    command:
      entrypoint: ["/bin/sh", "-c"]
      args: ["touch /tmp/healthy; hostname > /www/index.html; exec httpd -f -p 8080 -h /www"]
    env:
      VERSION: "$1"
    endpoints:
      - name: http
        protocol: http
        port: $WEB_PORT
        target_port: 8080
        expose: public
    scale:
      mode: fixed
      replicas: $2
    health:
      interval: 1s
      timeout: 10s
      retries: 1
      check:
        type: command
        command: "test -f /tmp/healthy && wget -q -O /dev/null http://127.0.0.1:8080/"
    stop_grace_period: 2s
EOF
}
write_web 1 2
got=$(deploy "$ZL_TMP/web.yaml")
if [ "$got" = "web 1" ]; then
        zl_ok "Deploy answers the deployment and generation 1"
else
        zl_not_ok "Deploy answers web 1" "got '$got'" "$(logs)"
fi
check "the deployment becomes ready" 180 gen_is web 1 ready
check "DeploymentEvent deploying then ready were emitted" 10 \
        grep -q "DeploymentEvent ('web', 'ready'" "$events"
zl_check "a DeploymentEvent deploying with the generation was emitted" \
        grep -q "DeploymentEvent ('web', 'deploying', '{\"generation\":1}')" "$events"
got=$(deploy "$ZL_TMP/web.yaml")
if [ "$got" = "web 1" ]; then
        zl_ok "the same spec again keeps generation 1"
else
        zl_not_ok "the same spec again keeps generation 1" "got '$got'"
fi
check "both replicas healthy, as the routes' backends" 30 routes_match_healthy web web \
        web.web.http 8080 2
check "the proxy answers from both replicas (two hostnames)" 30 two_pages
zl_check "GetDeployment shows the endpoint's listen address and URL" \
        test "$(dep_q web '.services.web.endpoints[0] | "\(.listen) \(.url)"')" = \
        "127.0.0.1:$WEB_PORT http://127.0.0.1:$WEB_PORT/"
zl_check "GetDeployment counts 2 desired, running, healthy" \
        test "$(dep_q web '.services.web | "\(.desired) \(.running) \(.healthy)"')" = "2 2 2"
zl_check "ListDeployments lists web ready at generation 1" \
        sh -c "busctl --address='$ZLAYER_BUS_ADDRESS' call $SB $SP $SB ListDeployments |
                grep -q '\"web\" \"ready\" 1'"
zl_check "the containers carry the scheduler's labels" test "$(n_ours)" -eq 2

# Plan against the running generation.
write_web 2 2
if sched Plan 'sa{sv}' "$(cat "$ZL_TMP/web.yaml")" 0 > "$out" 2> "$err" &&
        grep -q "replace" "$out"; then
        zl_ok "Plan of a changed env shows a replacement"
else
        zl_not_ok "Plan of a changed env shows a replacement" "$(cat "$out" "$err")"
fi

# ---- a killed container is replaced -----------------------------------------------------------
before_ids=$(container_ids web web)
victim=$(echo "$before_ids" | awk '$1 == 0 {print $2}')
bus call $RB $RP $RB KillContainer ssb "$victim" KILL true > /dev/null
replaced() {
        local id
        id=$(container_ids web web | awk '$1 == 0 {print $2}')
        [ -n "$id" ] && [ "$id" != "$victim" ] || [ "$(dep_q web '.services.web.replicas[0].restarts')" -ge 1 ]
}
check "a killed replica is restarted or replaced" 60 replaced
check "both replicas healthy again behind the proxy" 60 routes_match_healthy web web \
        web.web.http 8080 2
check "traffic continues from both replicas" 30 two_pages

# ---- a failing health check takes a replica out of the proxy ----------------------------------
id1=$(container_ids web web | awk '$1 == 1 {print $2}')
ip1=$(dep_q web '.services.web.replicas[] | select(.index == 1) | .ip')
rt_exec "$id1" rm -f /tmp/healthy > /dev/null
not_routed() {
        ! routes_backends web.web.http | grep -qxF "$ip1:8080" &&
                [ "$(routes_backends web.web.http | wc -l)" -eq 1 ]
}
check "an unhealthy replica leaves the proxy's backends" 30 not_routed
check "requests keep being answered by the other replica" 10 page
rt_exec "$id1" touch /tmp/healthy > /dev/null 2>&1
check "once healthy again it returns to the backends" 60 routes_match_healthy web web \
        web.web.http 8080 2

# ---- a redeploy with a changed env replaces the replicas one by one -----------------------------
# A light wrk load through the proxy for the whole replacement (one thread, two connections):
# every answer must be a 2xx within 2 s. wrk stops at SIGINT and prints its statistics then,
# but a request still waiting at that moment is in none of them: the proxy's access log and
# its count of active requests see those.
log_mark=$(wc -l < "$ZL_TMP/access.log" 2> /dev/null || echo 0)
wrk -t1 -c2 -d600s --timeout 2s "http://127.0.0.1:$WEB_PORT/" > "$ZL_TMP/wrk.out" 2>&1 &
load_pid=$!
ZL_CLEANUP_PIDS+=($load_pid)
old_ids=$(container_ids web web | awk '{print $2}')
write_web 2 2
got=$(deploy "$ZL_TMP/web.yaml")
zl_check "a changed env deploys generation 2" test "$got" = "web 2"
all_new() {
        local ids
        gen_is web 2 ready || return 1
        ids=$(container_ids web web | awk '{print $2}')
        [ "$(echo "$ids" | wc -l)" -eq 2 ] || return 1
        ! echo "$ids" | grep -qxF -f <(echo "$old_ids")
}
check "every replica is replaced and the deployment is ready again" 180 all_new
check "both new replicas serve behind the proxy" 60 routes_match_healthy web web web.web.http \
        8080 2
kill -INT "$load_pid"
wait "$load_pid"
n_req=$(awk '/requests in/ {print $1}' "$ZL_TMP/wrk.out")
if [ "${n_req:-0}" -gt 0 ] && ! grep -qE "Socket errors|Non-2xx" "$ZL_TMP/wrk.out"; then
        zl_ok "no request failed or timed out under wrk during the rolling replacement ($n_req answered)"
else
        zl_not_ok "no request failed or timed out under wrk during the rolling replacement" \
                "$(cat "$ZL_TMP/wrk.out")"
fi
# no_active: no request of the web route is still in flight at the proxy.
no_active() {
        [ "$(bus --json=short call $PB $PP $PB ListBackends |
                jq '[.data[0][] | select(.[6] | index("web.web.http")) | .[4]] | add // 0')" = 0 ]
}
check "no request is left waiting at the proxy once wrk stopped" 5 no_active
# slow_or_failed: the access log's records since wrk started with a status other than 2xx or
# taking 2 s or more.
slow_or_failed() {
        tail -n +"$((log_mark + 1))" "$ZL_TMP/access.log" |
                jq -c 'select(.route == "web.web.http" and
                        (.status < 200 or .status > 299 or .duration_us >= 2000000))'
}
bad=$(slow_or_failed)
n_logged=$(tail -n +"$((log_mark + 1))" "$ZL_TMP/access.log" | grep -c web.web.http)
if [ "$n_logged" -gt 0 ] && [ -z "$bad" ]; then
        zl_ok "the proxy answered all $n_logged requests with a 2xx in under 2 s"
else
        zl_not_ok "the proxy answered every request with a 2xx in under 2 s" \
                "$n_logged logged" "$(echo "$bad" | head -n 10)"
fi
# exec_rc ID COMMAND...: the command's exit code in the container (Runtime1.Exec), or the
# call's error.
exec_rc() {
        local id=$1
        shift
        rt_exec "$id" "$@" 2>&1 | awk '{print $2}'
}
new_id=$(container_ids web web | awk 'NR == 1 {print $2}')
got=$(exec_rc "$new_id" sh -c 'test "$VERSION" = 2')
if [ "$got" = 0 ]; then
        zl_ok "the new replicas run the new env"
else
        zl_not_ok "the new replicas run the new env" "container '$new_id': '$got'" \
                "$(rt_exec "$new_id" env 2>&1)"
fi

# ---- Scale ---------------------------------------------------------------------------------
if sched Scale ssu web web 3 > "$out" 2> "$err"; then
        zl_ok "Scale web to 3 is committed"
else
        zl_not_ok "Scale web to 3 is committed" "$(cat "$err")"
fi
check "3 replicas healthy behind the proxy" 120 routes_match_healthy web web web.web.http 8080 3
zl_check "a scale event records it" \
        test "$(dep_q web '[.scale_events[] | select(.to == 3)] | length')" -ge 1
sched Scale ssu web web 2 > /dev/null 2>&1
check "scaled back to 2" 60 routes_match_healthy web web web.web.http 8080 2
expect_error "Scale of an unknown service is NotFound" "no service" sched Scale ssu web nosuch 1
expect_error "Scale above 1000 is refused" "more than 1000" sched Scale ssu web web 1001

# ---- jobs and cron --------------------------------------------------------------------------
cat > "$ZL_TMP/jobs.yaml" << EOF
version: v1
deployment: jobs
services:
  ok:
    rtype: job
    image:
      name: $IMAGE
    command:
      entrypoint: ["/bin/sh", "-c"]
      args: ["echo done"]
  three:
    rtype: job
    image:
      name: $IMAGE
    command:
      entrypoint: ["/bin/sh", "-c"]
      args: ["exit 3"]
  tick:
    rtype: cron
    schedule: "* * * * * *"
    image:
      name: $IMAGE
    command:
      entrypoint: ["/bin/sh", "-c"]
      args: ["true"]
EOF
got=$(deploy "$ZL_TMP/jobs.yaml")
zl_check "a deployment of jobs and a cron service is accepted" test "$got" = "jobs 1"
exec_ok=$(sched TriggerJob ss jobs ok 2> "$err" | awk '{print $2}' | tr -d '"')
if [ -n "$exec_ok" ]; then
        zl_ok "TriggerJob answers an execution id"
else
        zl_not_ok "TriggerJob answers an execution id" "$(cat "$err")" "$(logs)"
fi
check "JobFinished: the job succeeded with exit code 0" 120 \
        grep -q "JobFinished ('$exec_ok', 'jobs', 'ok', 'succeeded', 0)" "$events"
exec_three=$(sched TriggerJob ss jobs three 2> /dev/null | awk '{print $2}' | tr -d '"')
check "JobFinished: a job exiting 3 failed with exit code 3" 120 \
        grep -q "JobFinished ('$exec_three', 'jobs', 'three', 'failed', 3)" "$events"
execs() {
        bus --json=short call $SB $SP $SB ListJobExecutions ss jobs "$1" | jq -r '.data[0]'
}
zl_check "ListJobExecutions shows the execution with its state and exit code" \
        test "$(execs three | jq -r '.executions[0] | "\(.id) \(.state) \(.exit_code)"')" = \
        "$exec_three failed 3"
expect_error "TriggerJob of a service that is not a job is refused" "not a job" \
        sched TriggerJob ss web web
cron_ran() {
        [ "$(execs tick | jq '[.executions[] | select(.state == "succeeded")] | length')" -ge 1 ]
}
check "the cron service runs every second" 60 cron_ran
cron_listed() {
        bus --json=short call $SB $SP $SB ListCronJobs | jq -r '.data[0]' |
                jq -e '.cron[] | select(.service == "tick" and .last > 0 and .next > .last)'
}
check "ListCronJobs shows its last and next run" 10 cron_listed
sched Stop ssu jobs "" 1 > /dev/null 2>&1
check "the jobs deployment is stopped and gone" 60 sh -c "! busctl --address='$ZLAYER_BUS_ADDRESS' \
        call $SB $SP $SB GetDeployment s jobs"

# ---- dependency order -------------------------------------------------------------------------
cat > "$ZL_TMP/deps.yaml" << EOF
version: v1
deployment: deps
services:
  a:
    image:
      name: $IMAGE
    command:
      entrypoint: ["/bin/sh", "-c"]
      args: ["sleep 2; touch /tmp/ok; exec httpd -f -p 8080 -h /www"]
    scale:
      mode: fixed
      replicas: 1
    health:
      interval: 500ms
      retries: 1
      check:
        type: command
        command: "test -f /tmp/ok"
    stop_grace_period: 1s
  b:
    image:
      name: $IMAGE
    depends:
      - service: a
        condition: healthy
        timeout: 60s
    scale:
      mode: fixed
      replicas: 1
    stop_grace_period: 1s
EOF
deploy "$ZL_TMP/deps.yaml" > /dev/null
check "a deployment with a dependency becomes ready" 120 status_is deps ready
a_healthy=$(grep -n "DeploymentEvent ('deps', 'replica_healthy', '{[^']*\"service\":\"a\"" "$events" |
        head -1 | cut -d: -f1)
b_created=$(grep -n "DeploymentEvent ('deps', 'replica_created', '{[^']*\"service\":\"b\"" "$events" |
        head -1 | cut -d: -f1)
if [ -n "$a_healthy" ] && [ -n "$b_created" ] && [ "$b_created" -gt "$a_healthy" ]; then
        zl_ok "b's first replica is created after a's replica is healthy"
else
        zl_not_ok "b's first replica is created after a's replica is healthy" \
                "a healthy at line '$a_healthy', b created at line '$b_created'" \
                "$(grep "'deps'" "$events")"
fi
sched Stop ssu deps "" 1 > /dev/null 2>&1

# ---- failures name the service ----------------------------------------------------------------
# failing NAME SERVICE: the deployment failed (or is degraded) and says which service.
failing() {
        local j
        j=$(dep "$1")
        case $(echo "$j" | jq -r .status) in
        failed | degraded) ;;
        *) return 1 ;;
        esac
        echo "$j" | jq -r '.message, (.services[].message // empty)' | grep -q "$2"
}
expect_failed() { # DESCRIPTION NAME SERVICE FILE
        deploy "$4" > /dev/null
        if wait_for 120 failing "$2" "$3"; then
                zl_ok "$1"
        else
                zl_not_ok "$1" "$(dep "$2" | jq -c '{status, message, services}')" "$(logs)"
        fi
        sched Stop ssu "$2" "" 1 > /dev/null 2>&1
}
cat > "$ZL_TMP/noimage.yaml" << EOF
version: v1
deployment: noimage
services:
  ghost:
    image:
      name: $REGISTRY/zlayer/nosuch:latest
    scale:
      mode: fixed
      replicas: 1
EOF
expect_failed "an unknown image fails the deployment, naming the service" noimage ghost \
        "$ZL_TMP/noimage.yaml"
cat > "$ZL_TMP/badinit.yaml" << EOF
version: v1
deployment: badinit
services:
  setup:
    image:
      name: $IMAGE
    init:
      - action: init.run
        command: "echo broken; exit 1"
    scale:
      mode: fixed
      replicas: 1
EOF
expect_failed "a failing init step fails the deployment, naming the service" badinit setup \
        "$ZL_TMP/badinit.yaml"
cat > "$ZL_TMP/sick.yaml" << EOF
version: v1
deployment: sick
services:
  sick:
    image:
      name: $IMAGE
    health:
      start_grace: 1s
      interval: 500ms
      retries: 1
      check:
        type: command
        command: "false"
    scale:
      mode: fixed
      replicas: 1
    stop_grace_period: 1s
EOF
expect_failed "a health check that never passes fails or degrades, naming the service" sick sick \
        "$ZL_TMP/sick.yaml"
cat > "$ZL_TMP/deptimeout.yaml" << EOF
version: v1
deployment: deptimeout
services:
  never:
    image:
      name: $IMAGE
    health:
      interval: 500ms
      retries: 1
      check:
        type: command
        command: "false"
    scale:
      mode: fixed
      replicas: 1
    stop_grace_period: 1s
  waiter:
    image:
      name: $IMAGE
    depends:
      - service: never
        condition: healthy
        timeout: 3s
        on_timeout: fail
    scale:
      mode: fixed
      replicas: 1
EOF
expect_failed "a dependency timeout fails the deployment, naming the service" deptimeout waiter \
        "$ZL_TMP/deptimeout.yaml"
for d in noimage badinit sick deptimeout; do
        wait_for 60 sh -c "! busctl --address='$ZLAYER_BUS_ADDRESS' call $SB $SP $SB GetDeployment s $d"
done

# ---- zl-schedd killed with -9 mid-deploy --------------------------------------------------------
# write_two_tier DEPLOYMENT FIRST SECOND [PORT]: FIRST, 2 replicas healthy at once (behind a
# public endpoint on PORT when given); SECOND, 1 replica that depends on FIRST being healthy and
# takes 8 s to become healthy itself: a deploy stays in progress for a while after FIRST is up.
write_two_tier() {
        local endpoint=""
        [ -n "${4:-}" ] && endpoint="
    endpoints:
      - name: http
        protocol: http
        port: $4
        target_port: 8080
        expose: public"
        cat > "$ZL_TMP/$1.yaml" << EOF
version: v1
deployment: $1
services:
  $2:
    image:
      name: $IMAGE
    command:
      entrypoint: ["/bin/sh", "-c"]
      args: ["exec httpd -f -p 8080 -h /www"]$endpoint
    scale:
      mode: fixed
      replicas: 2
    health:
      interval: 500ms
      retries: 1
      check:
        type: command
        command: "true"
    stop_grace_period: 1s
  $3:
    image:
      name: $IMAGE
    command:
      entrypoint: ["/bin/sh", "-c"]
      args: ["sleep 8; touch /tmp/ok; exec httpd -f -p 8080 -h /www"]
    depends:
      - service: $2
        condition: healthy
    health:
      interval: 500ms
      retries: 1
      check:
        type: command
        command: "test -f /tmp/ok"
    scale:
      mode: fixed
      replicas: 1
    stop_grace_period: 1s
EOF
}
# first_up DEPLOYMENT SERVICE: both replicas of the first tier healthy, the deploy not done yet.
first_up() {
        [ "$(dep_q "$1" "[.services[\"$2\"].replicas[] | select(.health == \"healthy\")] | length")" -eq 2 ] &&
                ! status_is "$1" ready
}
write_two_tier crash first second
deploy "$ZL_TMP/crash.yaml" > /dev/null
if wait_for 120 first_up crash first; then
        first_ids=$(container_ids crash first)
        kill -KILL "${ZL_PID[zl-schedd]}"
        zl_wait_exit zl-schedd 10
        if sched_start_schedd; then
                zl_ok "zl-schedd killed with -9 mid-deploy starts again"
        else
                zl_not_ok "zl-schedd starts again after kill -9" "$(logs)"
                zl_done
        fi
        check "the interrupted deploy completes" 180 status_is crash ready
        zl_check "the healthy containers kept their ids" \
                test "$(container_ids crash first)" = "$first_ids"
        check "web answers from both replicas after the restart" 30 two_pages
else
        zl_not_ok "the first service of the crash deployment gets healthy" "$(logs)"
fi
sched Stop ssu crash "" 1 > /dev/null 2>&1

# ---- zl-runtimed, zl-proxyd and zl-netd killed with -9 mid-deploy ---------------------------------
# Containers run under monitors of their own and the proxy restores its routes: once each daemon
# is back the deploy completes, the replicas that were up keep running, and the routes are right.
PEER_PORT=$((WEB_PORT + 7))
write_two_tier peers front late "$PEER_PORT"
deploy "$ZL_TMP/peers.yaml" > /dev/null
# restart_killed NAME BINARY BUS-NAME PATH: kill -9, then start it again.
restart_killed() {
        kill -KILL "${ZL_PID[$1]}"
        zl_wait_exit "$1" 10
        zl_daemon_start "$1" "$2" && zl_wait_state "$3" "$4" running 30
}
if wait_for 120 first_up peers front; then
        front_ids=$(container_ids peers front)
        if restart_killed zl-runtimed "$runtimed" $RB $RP && restart_killed zl-proxyd "$proxyd" $PB $PP &&
                restart_killed zl-netd "$netd" $NB $NP; then
                zl_ok "zl-runtimed, zl-proxyd and zl-netd killed with -9 mid-deploy start again"
        else
                zl_not_ok "the killed daemons start again" "$(logs)"
                zl_done
        fi
        check "the deploy completes after the daemons came back" 180 status_is peers ready
        zl_check "the replicas that were up kept their containers" \
                test "$(container_ids peers front)" = "$front_ids"
        check "the proxy routes to both front replicas again" 60 routes_match_healthy peers front \
                peers.front.http 8080 2
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$PEER_PORT/")
        zl_check "front answers through the restarted proxy" test "$code" = 200
else
        zl_not_ok "the front service of the peers deployment gets healthy" "$(logs)"
fi
sched Stop ssu peers "" 1 > /dev/null 2>&1
wait_for 60 sh -c "! busctl --address='$ZLAYER_BUS_ADDRESS' call $SB $SP $SB GetDeployment s peers"

# ---- storage: a named volume outlives a replacement, a tmpfs is mounted --------------------------
write_vols() { # V
        cat > "$ZL_TMP/vols.yaml" << EOF
version: v1
deployment: vols
services:
  store:
    image:
      name: $IMAGE
    command:
      entrypoint: ["/bin/sh", "-c"]
      args: ["exec httpd -f -p 8080 -h /www"]
    env:
      V: "$1"
    storage:
      - type: named
        name: sched-test-data
        target: /data
      - type: tmpfs
        target: /scratch
        size: 1Mi
    scale:
      mode: fixed
      replicas: 1
    health:
      interval: 500ms
      check:
        type: command
        command: "true"
    stop_grace_period: 1s
EOF
}
write_vols 1
deploy "$ZL_TMP/vols.yaml" > /dev/null
check "a service with a named volume and a tmpfs is ready" 120 status_is vols ready
vol_id=$(container_ids vols store | awk '{print $2}')
got=$(exec_rc "$vol_id" sh -c 'echo kept > /data/f && grep -q " /scratch tmpfs " /proc/mounts')
zl_check "the replica writes to its named volume and has its tmpfs" test "$got" = 0
write_vols 2
deploy "$ZL_TMP/vols.yaml" > /dev/null
new_vol() {
        gen_is vols 2 ready && [ "$(container_ids vols store | awk '{print $2}')" != "$vol_id" ]
}
check "a changed env replaces the replica" 120 new_vol
vol_id=$(container_ids vols store | awk '{print $2}')
got=$(exec_rc "$vol_id" sh -c 'test "$(cat /data/f)" = kept')
zl_check "the replacement finds what the first replica wrote in the named volume" test "$got" = 0
sched Stop ssu vols "" 1 > /dev/null 2>&1
wait_for 60 sh -c "! busctl --address='$ZLAYER_BUS_ADDRESS' call $SB $SP $SB GetDeployment s vols"

# ---- Stop leaves nothing ----------------------------------------------------------------------
if sched Stop ssu web "" 1 > "$out" 2> "$err"; then
        zl_ok "Stop web is committed"
else
        zl_not_ok "Stop web is committed" "$(cat "$err")"
fi
gone() {
        ! bus call $SB $SP $SB GetDeployment s "$1" > /dev/null 2>&1
}
check "the deployment is deleted once every replica is gone" 120 gone web
check "every other deployment is gone too" 120 sh -c \
        "test \"\$(busctl --address='$ZLAYER_BUS_ADDRESS' call $SB $SP $SB ListDeployments)\" = 'a(sstst) 0'"
check "DeploymentEvent stopped was emitted" 10 grep -q "DeploymentEvent ('web', 'stopped'" "$events"
check "no container with the scheduler's labels is left" 30 test "$(n_ours)" = 0
no_routes() {
        [ "$(bus --json=short call $PB $PP $PB ListRoutes | jq -r '.data[0]' |
                jq '[.routes[] | select(.owner == "scheduler")] | length')" -eq 0 ]
}
check "no route of the scheduler is left in the proxy" 30 no_routes
no_veths() {
        [ -z "$(ip -o link show 2> /dev/null | awk -F': ' '{print $2}' | grep '^zlv')" ]
}
check "no veth of a container is left in the namespace" 30 no_veths
check "no address is left allocated (zl-netd has no attachment)" 30 sh -c \
        "test \"\$(busctl --address='$ZLAYER_BUS_ADDRESS' call $NB $NP $NB ListAttachments)\" = 'a(ssssssu) 0'"
curl -s --max-time 2 "http://127.0.0.1:$WEB_PORT/" > /dev/null
zl_check "the public port is closed" test $? -ne 0

# A clean exit: in sanitizer builds a leak or an error makes the status non-zero.
kill -TERM "${ZL_PID[zl-schedd]}"
if zl_wait_exit zl-schedd 30 && [ "$ZL_STATUS" = 0 ] &&
        ! grep -qE "Sanitizer|runtime error" "$ZL_TMP/zl-schedd/log"; then
        zl_ok "zl-schedd exits 0 after SIGTERM, with no sanitizer report"
else
        zl_not_ok "zl-schedd exits 0 after SIGTERM" "status $ZL_STATUS" \
                "$(tail -n 60 "$ZL_TMP/zl-schedd/log")"
fi

zl_done
