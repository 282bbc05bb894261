#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tests/bus/test-introspect.sh: the XML in dbus/ is the contract. Every interface file documents
# every member; every daemon implements org.zlayer.Daemon1; every interface a daemon serves has
# its file, every file is implemented by some daemon, and `--bus-introspect` output matches it.
#
# usage: test-introspect.sh PYTHON CHECKER DBUS_DIR NAME=EXECUTABLE...
set -uo pipefail

python=$1 checker=$2 dbus_dir=$3
shift 3
. "$(dirname "$0")/lib.sh"
zl_test_setup

declare -A exe=()
for a in "$@"; do
        exe[${a%%=*}]=${a#*=}
done

shopt -s nullglob
xmls=("$dbus_dir"/org.zlayer.*.xml)
[ ${#xmls[@]} -gt 0 ] || zl_not_ok "dbus/ has interface files" "none in $dbus_dir"

for xml in "${xmls[@]}"; do
        zl_check "$(basename "$xml"): every member has a doc comment" \
                "$python" "$checker" docs "$xml"
done

# The checker itself must notice a wrong type and a missing comment, or the above means nothing.
daemon1=$dbus_dir/org.zlayer.Daemon1.xml
sed 's/name="StartedAt" type="t"/name="StartedAt" type="x"/' "$daemon1" > "$ZL_TMP/wrong-type.xml"
if "$python" "$checker" compare "$daemon1" "$ZL_TMP/wrong-type.xml" > "$ZL_TMP/out" 2>&1; then
        zl_not_ok "the checker notices a changed property type" "$(cat "$ZL_TMP/out")"
else
        zl_ok "the checker notices a changed property type"
fi
"$python" - "$daemon1" "$ZL_TMP/no-doc.xml" <<'PY'
import re, sys
s = open(sys.argv[1]).read()
# Drop the comment in front of the GetCounters method.
s = re.sub(r"<!--((?!-->).)*-->\s*(<method name=\"GetCounters\")", r"\2", s, flags=re.S)
open(sys.argv[2], "w").write(s)
PY
if "$python" "$checker" docs "$ZL_TMP/no-doc.xml" > "$ZL_TMP/out" 2>&1; then
        zl_not_ok "the checker notices a member without doc comment" "$(cat "$ZL_TMP/out")"
else
        zl_ok "the checker notices a member without doc comment"
fi

declare -A implemented=()
for name in $(printf '%s\n' "${!exe[@]}" | sort); do
        # The interfaces the daemon serves besides Daemon1, as --help lists them.
        served=(org.zlayer.Daemon1)
        while read -r iface; do
                served+=("$iface")
        done < <("${exe[$name]}" --help | sed -n 's/^Also serves \([^ ]*\) at .*/\1/p')

        for iface in "${served[@]}"; do
                xml=$dbus_dir/$iface.xml
                if [ ! -f "$xml" ]; then
                        zl_not_ok "$name: $iface has its contract in dbus/" "missing $xml"
                        continue
                fi
                out=$ZL_TMP/$name-$iface.xml
                if ! "${exe[$name]}" --bus-introspect="$iface" > "$out" 2> "$ZL_TMP/err"; then
                        zl_not_ok "$name: --bus-introspect=$iface" "$(cat "$ZL_TMP/err")"
                        continue
                fi
                implemented[$iface]=1
                zl_check "$name: --bus-introspect=$iface matches dbus/$iface.xml" \
                        "$python" "$checker" compare "$xml" "$out"
        done

        if "${exe[$name]}" --bus-introspect=org.zlayer.NoSuchInterface1 > "$ZL_TMP/out" 2>&1; then
                zl_not_ok "$name: --bus-introspect of an unknown interface fails"
        elif grep -q "Unknown interface 'org.zlayer.NoSuchInterface1'" "$ZL_TMP/out"; then
                zl_ok "$name: --bus-introspect of an unknown interface fails"
        else
                zl_not_ok "$name: --bus-introspect of an unknown interface says so" \
                        "$(cat "$ZL_TMP/out")"
        fi
done

for xml in "${xmls[@]}"; do
        iface=$(basename "$xml" .xml)
        if [ -n "${implemented[$iface]:-}" ]; then
                zl_ok "$iface is implemented by a daemon"
        else
                zl_not_ok "$iface is implemented by a daemon" \
                        "no daemon serves $iface: an interface file exists only once implemented"
        fi
done

zl_done
