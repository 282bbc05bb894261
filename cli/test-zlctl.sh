#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test-zlctl.sh: zlctl's spec commands end to end: exit codes, compiler-style errors with carets,
# canonical dumps that round-trip, help on every command, the zlayer alias; the deployment
# commands' help, argument errors and the message when zl-schedd is absent. TAP output.
# Usage: test-zlctl.sh PATH/TO/zlctl
set -u
zlctl=$1
zlayer="$(dirname "$zlctl")/zlayer"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "${BASH_SOURCE[0]}")/../tests/lib/tap.sh"

# check NAME EXPECTED_RC CMD...: runs CMD, captures stdout/stderr in $tmp/out $tmp/err.
check_rc() {
        local name=$1 want=$2; shift 2
        "$@" > "$tmp/out" 2> "$tmp/err"
        local rc=$?
        if [ "$rc" -eq "$want" ]; then ok "$name"; else not_ok "$name" "exit $rc, wanted $want" "$(cat "$tmp/err")"; fi
}
contains() {
        local name=$1 file=$2 needle=$3
        if grep -qF -- "$needle" "$file"; then ok "$name"; else not_ok "$name" "missing: $needle" "got: $(cat "$file")"; fi
}

cat > "$tmp/good.yaml" <<'YAML'
version: v1
deployment: my-app
services:
  web:
    image:
      name: nginx:latest
    endpoints:
      - name: http
        protocol: http
        port: 80
        expose: public
    scale:
      mode: adaptive
      min: 1
      max: 5
    health:
      check:
        type: http
        url: /health
        expect_status: 200
YAML

cat > "$tmp/bad.yaml" <<'YAML'
version: v1
deployment: demo
services:
  web:
    image: {name: nginx}
    scale: {mode: fixed, replica: 2}
    endpoints:
      - name: http
        protocol: htp
        port: 70000
YAML

check_rc "--version exits 0" 0 "$zlctl" --version
contains "--version prints the version" "$tmp/out" "zlctl "
check_rc "--help exits 0" 0 "$zlctl" --help
contains "--help lists validate" "$tmp/out" "validate"
for cmd in "validate" "spec validate" "spec dump" "spec"; do
        # shellcheck disable=SC2086
        check_rc "'$cmd --help' exits 0" 0 "$zlctl" $cmd --help
done
check_rc "no command is a usage error" 2 "$zlctl"
check_rc "unknown command exits 2" 2 "$zlctl" valdate "$tmp/good.yaml"
contains "unknown command gets a suggestion" "$tmp/err" "did you mean 'validate'?"
check_rc "unknown option exits 2" 2 "$zlctl" validate --frobnicate "$tmp/good.yaml"
check_rc "validate without FILE exits 2" 2 "$zlctl" validate
check_rc "bad --format exits 2" 2 "$zlctl" spec dump --format xml "$tmp/good.yaml"

check_rc "valid spec exits 0" 0 "$zlctl" validate "$tmp/good.yaml"
contains "valid spec is reported" "$tmp/out" "valid (deployment 'my-app', 1 service)"

check_rc "invalid spec exits 1" 1 "$zlctl" validate --show-source=never "$tmp/bad.yaml"
contains "unknown key with location and path" "$tmp/err" "bad.yaml:6:26: error: services.web.scale.replica: unknown key 'replica'"
contains "unknown key gets a hint" "$tmp/err" "hint: did you mean 'replicas'?"
contains "enum near miss" "$tmp/err" "bad.yaml:9:19: error: services.web.endpoints[0].protocol:"
contains "port range" "$tmp/err" "bad.yaml:10:15: error: services.web.endpoints[0].port:"
contains "error count" "$tmp/err" "bad.yaml: 3 errors"

check_rc "--show-source=always" 1 "$zlctl" validate --show-source=always "$tmp/bad.yaml"
contains "source line is shown" "$tmp/err" "    6 |     scale: {mode: fixed, replica: 2}"
# The caret sits under column 26: "      | " then 25 spaces.
contains "caret under the column" "$tmp/err" "      | $(printf '%25s' '')^"

check_rc "one invalid file among several exits 1" 1 "$zlctl" validate -q "$tmp/good.yaml" "$tmp/bad.yaml"
check_rc "missing file exits 1" 1 "$zlctl" validate "$tmp/nope.yaml"
contains "missing file is named" "$tmp/err" "nope.yaml: error: cannot read file: No such file or directory"

"$zlctl" spec dump --format json "$tmp/good.yaml" > "$tmp/a.json" 2>"$tmp/err"
"$zlctl" spec dump --format json "$tmp/good.yaml" > "$tmp/b.json"
if [ -s "$tmp/a.json" ] && cmp -s "$tmp/a.json" "$tmp/b.json"; then ok "json dump is byte-stable"; else not_ok "json dump is byte-stable" "$(cat "$tmp/err")"; fi
"$zlctl" spec dump --format json - < "$tmp/a.json" > "$tmp/c.json" 2>"$tmp/err"
if cmp -s "$tmp/a.json" "$tmp/c.json"; then ok "json dump round-trips through stdin"; else not_ok "json dump round-trips through stdin" "$(diff "$tmp/a.json" "$tmp/c.json")" "$(cat "$tmp/err")"; fi
"$zlctl" spec dump "$tmp/good.yaml" > "$tmp/a.yaml"
"$zlctl" spec dump -f json "$tmp/a.yaml" > "$tmp/d.json" 2>"$tmp/err"
if cmp -s "$tmp/a.json" "$tmp/d.json"; then ok "yaml dump round-trips"; else not_ok "yaml dump round-trips" "$(diff "$tmp/a.json" "$tmp/d.json")" "$(cat "$tmp/err")"; fi
contains "image name is normalized" "$tmp/a.json" '"name": "docker.io/library/nginx:latest"'

check_rc "zlayer alias validates" 0 "$zlayer" validate "$tmp/good.yaml"
check_rc "zlayer spec dump --format json" 0 "$zlayer" spec dump "$tmp/good.yaml" --format json

# ---- deployments (zl-schedd): help and argument errors need no daemon ----
for cmd in "deploy" "stop" "scale" "logs" "job" "job run" "job ls" "job status" "cron" "cron ls" \
        "run" "status"; do
        # shellcheck disable=SC2086
        check_rc "'$cmd --help' exits 0" 0 "$zlctl" $cmd --help
        contains "'$cmd --help' shows the usage" "$tmp/out" "zlctl $cmd"
done
"$zlctl" --help > "$tmp/out"
for verb in deploy status stop scale logs job cron run; do
        contains "--help lists $verb" "$tmp/out" "  $verb "
done
check_rc "deploy without FILE exits 2" 2 "$zlctl" deploy
contains "deploy names what is missing" "$tmp/err" "missing FILE"
check_rc "deploy with two files exits 2" 2 "$zlctl" deploy a.yaml b.yaml
check_rc "deploy --port-offset too big exits 2" 2 "$zlctl" deploy --port-offset 70000 a.yaml
contains "deploy --port-offset range is named" "$tmp/err" "invalid --port-offset '70000'"
check_rc "deploy --port-offset not a number exits 2" 2 "$zlctl" deploy --port-offset=x a.yaml
check_rc "deploy --timeout without unit exits 2" 2 "$zlctl" deploy --timeout 30 a.yaml
contains "deploy --timeout error" "$tmp/err" "invalid --timeout '30'"
check_rc "deploy unknown option exits 2" 2 "$zlctl" deploy --frobnicate a.yaml
check_rc "deploy --wait needs no argument" 2 "$zlctl" deploy --wait=yes a.yaml
check_rc "status with two deployments exits 2" 2 "$zlctl" status a b
check_rc "status bad --output exits 2" 2 "$zlctl" status -o xml hello
check_rc "stop without DEPLOYMENT exits 2" 2 "$zlctl" stop
contains "stop names what is missing" "$tmp/err" "missing DEPLOYMENT"
check_rc "stop --timeout not seconds exits 2" 2 "$zlctl" stop --timeout 5s hello
check_rc "stop with two deployments exits 2" 2 "$zlctl" stop a b
check_rc "stop --service needs a value" 2 "$zlctl" stop hello --service
contains "stop --service needs a value: named" "$tmp/err" "option '--service' needs an argument"
check_rc "scale with two arguments exits 2" 2 "$zlctl" scale hello web
contains "scale usage" "$tmp/err" "expected DEPLOYMENT SERVICE REPLICAS"
check_rc "scale with a bad count exits 2" 2 "$zlctl" scale hello web many
check_rc "scale above 1000 exits 2" 2 "$zlctl" scale hello web 1001
contains "scale range" "$tmp/err" "expected 0..1000"
check_rc "scale negative exits 2" 2 "$zlctl" scale hello web -- -1
check_rc "scale extra argument exits 2" 2 "$zlctl" scale hello web 2 3
check_rc "logs without DEPLOYMENT exits 2" 2 "$zlctl" logs
contains "logs names what is missing" "$tmp/err" "missing DEPLOYMENT"
check_rc "logs -n negative exits 2" 2 "$zlctl" logs -n -3 hello
check_rc "logs --tail word exits 2" 2 "$zlctl" logs --tail=some hello
check_rc "logs -i bad exits 2" 2 "$zlctl" logs -i x hello web
check_rc "logs three arguments exits 2" 2 "$zlctl" logs hello web extra
check_rc "logs -d, -s and two more arguments exits 2" 2 "$zlctl" logs -d hello -s web a b
check_rc "job without command exits 2" 2 "$zlctl" job
check_rc "job unknown command exits 2" 2 "$zlctl" job rn hello backup
contains "job unknown command gets a suggestion" "$tmp/err" "did you mean 'run'?"
check_rc "job run with one argument exits 2" 2 "$zlctl" job run hello
contains "job run usage" "$tmp/err" "expected DEPLOYMENT SERVICE"
check_rc "job run extra argument exits 2" 2 "$zlctl" job run hello backup extra
check_rc "job ls three arguments exits 2" 2 "$zlctl" job ls a b c
check_rc "job ls bad --output exits 2" 2 "$zlctl" job ls -o yaml
check_rc "job status without id exits 2" 2 "$zlctl" job status
check_rc "cron ls extra argument exits 2" 2 "$zlctl" cron ls hello
check_rc "cron ls bad --output exits 2" 2 "$zlctl" cron ls --output=xml
check_rc "run without FILE exits 2" 2 "$zlctl" run
check_rc "run bad --port-offset exits 2" 2 "$zlctl" run --port-offset -1 "$tmp/good.yaml"
check_rc "run with a missing file exits 1" 1 "$zlctl" run "$tmp/nope.yaml"
contains "run names the missing file" "$tmp/err" "nope.yaml"
check_rc "zlayer alias: logs --follow --help" 0 "$zlayer" logs -d my-app -s web --follow --help
contains "zlayer alias: help names zlayer" "$tmp/out" "zlayer logs"
check_rc "zlayer alias: stop --service --help" 0 "$zlayer" stop my-app --service web --help

# A bus without zl-schedd: every deployment command says how to start it.
if bus_out=$(dbus-daemon --session --fork --print-address=1 --print-pid=1 2>/dev/null); then
        bus_address=$(printf '%s\n' "$bus_out" | sed -n 1p)
        bus_pid=$(printf '%s\n' "$bus_out" | sed -n 2p)
        trap 'kill "$bus_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
        export ZLAYER_BUS_ADDRESS=$bus_address
        msg="zl-schedd is not running: start it with systemctl start zl-schedd or zlctl local start"
        check_rc "deploy without zl-schedd exits 1" 1 "$zlctl" deploy --no-wait "$tmp/good.yaml"
        contains "deploy without zl-schedd says so" "$tmp/err" "$msg"
        check_rc "deploy --dry-run without zl-schedd exits 1" 1 "$zlctl" deploy --dry-run "$tmp/good.yaml"
        contains "deploy --dry-run without zl-schedd says so" "$tmp/err" "$msg"
        check_rc "status DEPLOYMENT without zl-schedd exits 1" 1 "$zlctl" status my-app
        contains "status DEPLOYMENT without zl-schedd says so" "$tmp/err" "$msg"
        check_rc "stop without zl-schedd exits 1" 1 "$zlctl" stop my-app
        contains "stop without zl-schedd says so" "$tmp/err" "$msg"
        check_rc "scale without zl-schedd exits 1" 1 "$zlctl" scale my-app web 2
        check_rc "logs without zl-schedd exits 1" 1 "$zlctl" logs my-app web
        contains "logs without zl-schedd says so" "$tmp/err" "$msg"
        check_rc "job run without zl-schedd exits 1" 1 "$zlctl" job run my-app backup
        check_rc "job ls without zl-schedd exits 1" 1 "$zlctl" job ls
        check_rc "cron ls without zl-schedd exits 1" 1 "$zlctl" cron ls
        contains "cron ls without zl-schedd says so" "$tmp/err" "$msg"
        check_rc "deploy of a missing file exits 1" 1 "$zlctl" deploy "$tmp/nope.yaml"
        contains "deploy of a missing file names it" "$tmp/err" "Failed to read '$tmp/nope.yaml'"
        "$zlctl" status > "$tmp/out" 2> "$tmp/err"
        contains "status: one line for the missing zl-schedd" "$tmp/out" "zl-schedd is not running: no deployments to show."
        "$zlctl" status -o json > "$tmp/out" 2> "$tmp/err"
        contains "status -o json: deployments null" "$tmp/out" '"deployments": null'
        unset ZLAYER_BUS_ADDRESS
        kill "$bus_pid" 2>/dev/null
else
        ok "# SKIP no dbus-daemon for the zl-schedd-absent cases"
fi

echo "# $failed of $n failed"
tap_done
