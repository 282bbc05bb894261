#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test-zlctl.sh: zlctl's spec commands end to end: exit codes, compiler-style errors with carets,
# canonical dumps that round-trip, help on every command, the zlayer alias. TAP output.
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

echo "# $failed of $n failed"
tap_done
