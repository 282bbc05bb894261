#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test-proxy-udp.sh: udp routes of the data plane (zl-proxy-test-server) between python udp
# clients and echo backends on 127.0.0.1: echo, sessions per client spread over backends, big
# datagrams, idle expiry, a dead backend's sessions moving, reloads keeping sessions, and http
# beside udp on one port. TAP output.
set -uo pipefail
. "$(dirname "$0")/../lib/netns.sh"

server=$1
srcdir=$2
py=/usr/bin/python3
tmp=$(mktemp -d /tmp/zl-proxy-udp-test.XXXXXX)
pids=()
n=0
failed=0

cleanup() {
        for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
        wait 2>/dev/null
        rm -rf "$tmp"
}
trap cleanup EXIT

ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=1; echo "not ok $n - $1"; shift; for l in "$@"; do echo "# $l"; done; }
expect() { # expect NAME WANT GOT
        if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1" "want '$2'" "got  '$3'"; fi
}

command -v curl >/dev/null || { echo "1..0 # SKIP curl missing"; exit 0; }

# Ports: a random block, so parallel runs and other engineers' servers do not collide. Clients
# are fixed local ports: the same port is the same client (session) from one call to the next.
base=$((20000 + RANDOM % 20000))
pa=$((base + 1)) pb=$((base + 2)) phttp=$((base + 3))
pudp=$((base + 10)) pshort=$((base + 11))
c1=$((base + 21)) c2=$((base + 22)) c3=$((base + 23)) c4=$((base + 24)) c5=$((base + 25))

start() { # start LOGNAME COMMAND...; waits for "ready"
        local log="$tmp/$1.out"; shift
        "$@" >"$log" 2>&1 &
        pids+=($!)
        last_pid=$!
        for _ in $(seq 50); do grep -q ready "$log" && return 0; sleep 0.1; done
        echo "Bail out! $* did not start"; cat "$log"; exit 1
}
start backend-a $py "$srcdir/udp-peer.py" backend $pa A
pid_a=$last_pid
start backend-b $py "$srcdir/udp-peer.py" backend $pb B
start backend-http $py "$srcdir/backend.py" http $phttp H

cat >"$tmp/routes.json" <<JSON
{"routes": [
  {"name": "dns", "listen": "127.0.0.1:$pudp", "protocol": "udp",
   "backends": ["127.0.0.1:$pa", "127.0.0.1:$pb"]},
  {"name": "short", "listen": "127.0.0.1:$pshort", "protocol": "udp", "idle_timeout": 2,
   "backends": ["127.0.0.1:$pa", "127.0.0.1:$pb"]},
  {"name": "web", "listen": "127.0.0.1:$pudp", "backends": ["127.0.0.1:$phttp"]}
]}
JSON

"$server" --routes "$tmp/routes.json" --stats "$tmp/stats.json" --workers 2 \
        --eject-time 30000 >"$tmp/server.out" 2>&1 &
server_pid=$!
pids+=($server_pid)
for _ in $(seq 50); do grep -q READY "$tmp/server.out" && break; sleep 0.1; done
grep -q READY "$tmp/server.out" || { echo "Bail out! server did not start"; cat "$tmp/server.out"; exit 1; }

ask() { $py "$srcdir/udp-peer.py" ask "$@"; }
stats() { kill -USR1 $server_pid; sleep 0.3; $py -c "import json; d=json.load(open('$tmp/stats.json')); print($1)"; }

echo "1..9"

# 1-2: echo through the proxy; a second client gets its own session on the other backend, and
# each keeps its backend.
expect "udp echo" "A:hello" "$(ask $c1 $pudp hello)"
got="$(ask $c2 $pudp two) $(ask $c1 $pudp again) $(ask $c2 $pudp more)"
expect "two clients, two sessions, spread over two backends" "B:two A:again B:more" "$got"

# 3: datagrams up to 60000 bytes, in order, both ways.
expect "large datagrams" "ok" "$($py "$srcdir/udp-peer.py" burst $c3 $pudp 40)"

# 4: http on the same address and port as the udp listener.
got=$(curl -sS "http://127.0.0.1:$pudp/x" | $py -c "import json,sys; print(json.load(sys.stdin)['name'])")
expect "http beside udp on one port" "H" "$got"

# 5: a session idle for its route's timeout (2 s) ends: the client's next datagram opens a new
# one, on the next backend in turn.
got="$(ask $c4 $pshort a) $(ask $c4 $pshort b)"
sleep 2.8
got="$got $(ask $c4 $pshort c)"
req=$(stats "d['routes']['short']['requests']")
expect "session expires after the idle timeout" "A:a A:b B:c 2" "$got $req"

# 6: a reload with the same routes keeps the sessions (no new session counted).
before=$(stats "d['routes']['dns']['requests']")
kill -HUP $server_pid
sleep 0.3
got=$(ask $c2 $pudp kept)
after=$(stats "d['routes']['dns']['requests']")
expect "reload keeps sessions" "B:kept $before" "$got $after"

# 7-8: backend A dies: the ICMP error on c1's session counts against A and moves the session to
# B (the datagram that met the dead port is lost and resent by the client); new clients go to B.
kill $pid_a
wait $pid_a 2>/dev/null
expect "a dead backend's session moves to the live one" "B:after" "$(ask $c1 $pudp after)"
expect "new clients go to the live backend" "B:new" "$(ask $c5 $pudp new)"

# 9: the counters: sessions as requests, the ICMP errors, bytes both ways.
got=$(stats "d['routes']['dns']['errors'] >= 1, d['backends']['127.0.0.1:$pa']['failures'] >= 1 or d['backends']['127.0.0.1:$pa']['ejected'], d['routes']['dns']['bytes_in'] > 700000, d['routes']['dns']['bytes_out'] > d['routes']['dns']['bytes_in']")
expect "udp counters" "True True True True" "$got"

kill -TERM $server_pid
wait $server_pid || { failed=1; echo "# server exit status $?"; }
exit $failed
