# SPDX-License-Identifier: Apache-2.0
# tests/lib/tap.sh: TAP output for the shell tests, sourced by them. Each test prints its plan
# at the end with tap_done, which also gives the exit status.
n=0
failed=0
ok() {
        n=$((n + 1))
        echo "ok $n - $1"
}
# not_ok NAME [DIAGNOSTIC LINE...]: each diagnostic line is printed as a TAP comment.
not_ok() {
        n=$((n + 1))
        failed=$((failed + 1))
        echo "not ok $n - $1"
        shift
        for l in "$@"; do printf '%s\n' "$l" | sed 's/^/# /'; done
}
# Fatal: later steps make no sense. A test's EXIT trap still tears everything down.
bail() {
        echo "Bail out! $*"
        exit 1
}
tap_done() {
        echo "1..$n"
        [ "$failed" -eq 0 ]
}
