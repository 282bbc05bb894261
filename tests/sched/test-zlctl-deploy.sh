#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tests/sched/test-zlctl-deploy.sh: the deployment commands of zlctl against the real zl-schedd,
# zl-runtimed (and its monitor), zl-netd and zl-proxyd on a private bus: deploy --dry-run, an
# invalid spec, deploy --wait, status (overview, one deployment, JSON), ps, logs (merged and
# prefixed, one replica, --tail, --follow), scale, job run --wait with the job's exit code, job
# ls/status, cron ls, the original `zlayer` command forms, stop --wait, and `zlctl run` with a
# port offset stopped by SIGINT. Images come from the fixture registry.
#
# Runs in a network and mount namespace of its own (tests/lib/netns.sh); every wait polls with a
# deadline.
#
# usage: test-zlctl-deploy.sh ZLCTL ZL_SCHEDD ZL_RUNTIMED ZL_MONITOR ZL_NETD ZL_PROXYD
set -uo pipefail

zlctl=$1 schedd=$2 runtimed=$3 monitor=$4 netd=$5 proxyd=$6
zlayer="$(dirname "$zlctl")/zlayer"
srcdir=$(cd "$(dirname "$0")/../.." && pwd)
fixtures=$srcdir/tests/fixtures
# shellcheck disable=SC2034 # read by tests/lib/netns.sh
ZL_NETNS_MOUNT=1 ZL_NETNS_REQUIRED=1
. "$(dirname "$0")/../lib/netns.sh"

. "$(dirname "$0")/../bus/lib.sh"
BRIDGE=zlcd0
WEB_PORT=18090
OFFSET=100
. "$(dirname "$0")/../lib/sched.sh"
sched_setup

# ---- helpers -------------------------------------------------------------------------------

# expect_rc DESCRIPTION RC COMMAND...: stdout in $out, stderr in $err.
expect_rc() {
        local desc=$1 want=$2
        shift 2
        "$@" > "$out" 2> "$err"
        local rc=$?
        if [ "$rc" -eq "$want" ]; then
                zl_ok "$desc"
        else
                zl_not_ok "$desc" "exit $rc, wanted $want" "stdout: $(cat "$out")" \
                        "stderr: $(cat "$err")"
        fi
}
# expect_grep DESCRIPTION FILE ERE
expect_grep() {
        if grep -qE -- "$3" "$2"; then
                zl_ok "$1"
        else
                zl_not_ok "$1" "no line matches: $3" "$(cat "$2")"
        fi
}
expect_no_grep() {
        if grep -qE -- "$3" "$2"; then
                zl_not_ok "$1" "a line matches: $3" "$(cat "$2")"
        else
                zl_ok "$1"
        fi
}
# q NAME JQ: a jq query on `zlctl status NAME -o json`.
q() {
        "$zlctl" status "$1" -o json 2> /dev/null | jq -r "$2" 2> /dev/null
}
counts_are() { # NAME SERVICE "DESIRED RUNNING HEALTHY"
        [ "$(q "$1" ".services[\"$2\"] | \"\(.desired) \(.running) \(.healthy)\"")" = "$3" ]
}
gone() { # NAME
        ! "$zlctl" status "$1" -o json > /dev/null 2>&1
}
our_containers() { # DEPLOYMENT: how many containers carry its label
        bus call $RB $RP $RB ListContainers 'a{sv}' 1 label as 1 "zlayer.deployment=$1" |
                awk '{print $2}'
}

# ---- fixtures and daemons --------------------------------------------------------------------
sched_fixtures
sched_configs 10.252.0.0/16 9 none
zl_bus_start || { zl_not_ok "a private dbus-daemon starts"; zl_done; }
# Before zl-schedd: the commands say how to start it.
expect_rc "deploy without zl-schedd exits 1" 1 "$zlctl" deploy --no-wait "$srcdir/examples/hello/deployment.yaml"
expect_grep "deploy without zl-schedd says how to start it" "$err" \
        "zl-schedd is not running: start it with systemctl start zl-schedd or zlctl local start$"
sched_start_daemons

# ---- specs --------------------------------------------------------------------------------------
cat > "$ZL_TMP/app.yaml" << EOF
version: v1
deployment: app
services:
  web:
    image:
      name: $IMAGE
    command:
      entrypoint: ["/bin/sh", "-c"]
      args: ["echo started on \$(hostname); hostname > /www/index.html; exec httpd -f -p 8080 -h /www"]
    endpoints:
      - name: http
        protocol: http
        port: $WEB_PORT
        target_port: 8080
        expose: public
    health:
      interval: 500ms
      timeout: 2s
      retries: 2
      check:
        type: http
        url: /
    scale:
      mode: fixed
      replicas: 2
    stop_grace_period: 2s
  task:
    rtype: job
    image:
      name: $IMAGE
    command:
      entrypoint: ["/bin/sh", "-c"]
      args: ["echo job says hi; echo job error >&2; exit 3"]
  tick:
    rtype: cron
    schedule: "0 0 1 1 *"
    image:
      name: $IMAGE
    command:
      entrypoint: ["/bin/sh", "-c"]
      args: ["echo tick"]
EOF
cat > "$ZL_TMP/invalid.yaml" << EOF
version: v1
deployment: broken
services:
  web:
    image:
      name: $IMAGE
    endpoints:
      - name: http
        protocol: htp
        port: 80
EOF

# ---- dry run and invalid input ------------------------------------------------------------------
expect_rc "deploy --dry-run exits 0" 0 "$zlctl" deploy --dry-run "$ZL_TMP/app.yaml"
expect_grep "deploy --dry-run prints the plan naming the services" "$out" "web"
expect_rc "deploy --dry-run changes nothing" 1 "$zlctl" status app
expect_rc "an invalid spec exits 1" 1 "$zlctl" deploy --wait "$ZL_TMP/invalid.yaml"
expect_grep "an invalid spec's errors name FILE:LINE:COL and the path" "$err" \
        "invalid.yaml:[0-9]+:[0-9]+: .*services\.web\.endpoints\[0\]\.protocol"
expect_grep "an invalid spec is said to be invalid" "$err" "Failed to deploy: the spec is not valid"
expect_rc "an invalid spec deploys nothing" 1 "$zlctl" status broken
expect_rc "a missing file exits 1" 1 "$zlctl" deploy "$ZL_TMP/nope.yaml"

# ---- deploy --wait, status, ps --------------------------------------------------------------------
expect_rc "deploy --wait exits 0 once ready" 0 "$zlctl" deploy --wait --timeout 3m "$ZL_TMP/app.yaml"
expect_grep "deploy --wait prints the events as plain lines" "$out" "^app: web-[01]: healthy$"
expect_grep "deploy --wait ends with ready" "$out" "^Deployment app is ready \(generation 1, "
zl_check "ready: 2 desired, running and healthy" counts_are app web "2 2 2"
# Exit status 1: zl-buildd, zl-apid and zl-obsd do not run in this test.
expect_rc "status exits 1 (not all seven daemons run)" 1 "$zlctl" status
expect_grep "status lists the deployment" "$out" "^app +ready +1 "
expect_rc "status app exits 0" 0 "$zlctl" status app
expect_grep "status app: header" "$out" "^Deployment app: ready, generation 1"
expect_grep "status app: the service counts" "$out" "^web +service +2 +2 +2"
expect_grep "status app: the endpoint with its URL" "$out" "^web/http +http +public .*http://127\.0\.0\.1:$WEB_PORT/"
expect_grep "status app: replica 0" "$out" "^web-0 +running +healthy +10\.252\.[0-9.]+ +[0-9]+ +[0-9a-f]{12}"
expect_grep "status app: replica 1" "$out" "^web-1 +running +healthy +10\.252\."
expect_rc "status app -o json exits 0" 0 "$zlctl" status app -o json
zl_check "status app -o json is GetDeployment's JSON" \
        test "$(jq -r '"\(.name) \(.status) \(.services.web.replicas | length)"' "$out")" = "app ready 2"
expect_rc "status of an unknown deployment exits 1" 1 "$zlctl" status nosuch
expect_grep "status of an unknown deployment says so" "$err" "No deployment 'nosuch'"
expect_rc "ps exits 0" 0 "$zlctl" ps
expect_grep "ps shows replica 0 as app/web" "$out" "^[0-9a-f]{12} +app/web +0 "
expect_grep "ps shows replica 1 as app/web" "$out" "^[0-9a-f]{12} +app/web +1 "
for _ in 1 2 3 4; do curl -s --max-time 3 "http://127.0.0.1:$WEB_PORT/" > /dev/null; done
expect_rc "deploy of the same spec again exits 0" 0 "$zlctl" deploy --wait "$ZL_TMP/app.yaml"
expect_grep "the same spec keeps generation 1" "$out" "generation 1"

# ---- logs -----------------------------------------------------------------------------------------
expect_rc "logs app web exits 0" 0 "$zlctl" logs app web
expect_grep "logs: replica 0's lines are prefixed" "$out" "^web-0 \| started on "
expect_grep "logs: replica 1's lines are prefixed" "$out" "^web-1 \| started on "
expect_rc "logs -d app -s web -i 1 -n 1 exits 0" 0 "$zlctl" logs -d app -s web -i 1 -n 1
zl_check "logs -i 1 -n 1: one line of replica 1" test "$(grep -c . "$out")" -eq 1
expect_grep "logs -i 1 -n 1: replica 1 only" "$out" "^web-1 \| "
expect_rc "logs of an unknown service exits 1" 1 "$zlctl" logs app nosuch
expect_rc "logs of an unknown deployment exits 1" 1 "$zlctl" logs nosuch
"$zlayer" logs -d app -s web --follow > "$ZL_TMP/follow.out" 2> "$ZL_TMP/follow.err" &
follow_pid=$!
ZL_CLEANUP_PIDS+=("$follow_pid")
check "zlayer logs -d app -s web --follow prints both replicas" 20 \
        sh -c "grep -q '^web-0 | ' '$ZL_TMP/follow.out' && grep -q '^web-1 | ' '$ZL_TMP/follow.out'"
zl_check "logs --follow is still following" kill -0 "$follow_pid"
kill -INT "$follow_pid" 2> /dev/null
zl_check "logs --follow ends on SIGINT" wait_for 10 sh -c "! kill -0 $follow_pid"

# ---- scale ----------------------------------------------------------------------------------------
expect_rc "scale app web 3 exits 0" 0 "$zlctl" scale app web 3
check "scale: three healthy replicas" 120 counts_are app web "3 3 3"
expect_rc "scale of an unknown service exits 1" 1 "$zlctl" scale app nosuch 2
expect_rc "scale app web 2 exits 0" 0 "$zlctl" scale app web 2
check "scale: back to two" 120 counts_are app web "2 2 2"

# ---- jobs and cron ----------------------------------------------------------------------------------
expect_rc "job run --wait exits with the job's exit code (3)" 3 "$zlctl" job run app task --wait
expect_grep "job run --wait prints the job's output" "$out" "^job says hi$"
expect_grep "job run --wait says how it ended" "$err" "^Execution .* failed, exit code 3\.$"
exec_id=$(head -n 1 "$out")
expect_rc "job ls app exits 0" 0 "$zlctl" job ls app
expect_grep "job ls lists the execution" "$out" "^$exec_id +app +task +failed +3 "
expect_rc "job status ID exits 0" 0 "$zlctl" job status "$exec_id" -o json
zl_check "job status -o json: failed, exit code 3" \
        test "$(jq -r '"\(.state) \(.exit_code)"' "$out")" = "failed 3"
expect_rc "job status of an unknown id exits 1" 1 "$zlctl" job status nosuch
expect_rc "job run of a service that is not a job exits 1" 1 "$zlctl" job run app web
expect_rc "job run without --wait prints the id" 0 "$zlctl" job run app task
expect_grep "job run prints an id" "$out" "^[^ ]+$"
expect_rc "cron ls exits 0" 0 "$zlctl" cron ls
expect_grep "cron ls lists the cron service (schedule in canonical form)" "$out" \
        "^app +tick +(0 )?0 0 1 1 \*( \*)? +- +[0-9]{4}-01-01T00:00:00Z$"

# ---- the original command forms through the zlayer alias ----------------------------------------------
expect_rc "zlayer status app" 0 "$zlayer" status app
expect_rc "zlayer stop app --service web" 0 "$zlayer" stop app --service web
check "the service has no running replica" 60 counts_are app web "0 0 0"
expect_rc "zlayer deploy app.yaml (no --wait off a terminal)" 0 "$zlayer" deploy "$ZL_TMP/app.yaml"
expect_grep "zlayer deploy returns once accepted" "$out" "^Deployment app generation [0-9]+ accepted\.$"

# ---- stop --------------------------------------------------------------------------------------------
expect_rc "stop app --wait exits 0" 0 "$zlctl" stop app --wait --timeout 2
expect_grep "stop --wait says stopped" "$out" "^Stopped\.$"
expect_rc "after stop the deployment is gone" 1 "$zlctl" status app
zl_check "after stop none of its containers is left" test "$(our_containers app)" -eq 0
expect_rc "stop of an unknown deployment exits 1" 1 "$zlctl" stop app
"$zlctl" status > "$out" 2>&1
expect_grep "status: no deployments" "$out" "^No deployments\.$"

# ---- zlctl run, stopped with SIGINT ---------------------------------------------------------------------
"$zlctl" run --port-offset $OFFSET "$ZL_TMP/app.yaml" > "$ZL_TMP/run.out" 2> "$ZL_TMP/run.err" &
run_pid=$!
ZL_CLEANUP_PIDS+=("$run_pid")
check "zlctl run: the deployment answers on the offset port" 120 \
        curl -s --max-time 2 -f "http://127.0.0.1:$((WEB_PORT + OFFSET))/"
check "zlctl run: it follows the logs" 20 grep -q "^web-[01] | " "$ZL_TMP/run.out"
expect_grep "zlctl run: the status was shown" "$ZL_TMP/run.out" "^web +service +2 +[0-9]+ +[0-9]+ "
zl_check "zlctl run: nothing on the port without offset" \
        sh -c "! curl -s --max-time 2 -f http://127.0.0.1:$WEB_PORT/"
kill -INT "$run_pid"
if wait_for 120 sh -c "! kill -0 $run_pid"; then
        wait "$run_pid"
        rc=$?
        if [ "$rc" -eq 0 ]; then
                zl_ok "zlctl run exits 0 after SIGINT"
        else
                zl_not_ok "zlctl run exits 0 after SIGINT" "exit $rc" "$(cat "$ZL_TMP/run.err")"
        fi
else
        zl_not_ok "zlctl run ends after SIGINT" "$(cat "$ZL_TMP/run.err")"
fi
zl_check "zlctl run: the deployment is gone" gone app
zl_check "zlctl run: none of its containers is left" test "$(our_containers app)" -eq 0
expect_grep "zlctl run: says it stopped the deployment" "$ZL_TMP/run.err" "^Deployment app stopped\.$"

zl_done
