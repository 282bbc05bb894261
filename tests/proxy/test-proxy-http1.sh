#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test-proxy-http1.sh: the data plane (zl-proxy-test-server) between curl or raw sockets and
# python backends on 127.0.0.1: forwarded headers, keep-alive, pipelining, chunked both ways,
# balancing, ejection, 503, WebSocket, TCP relay, slow-loris, malformed requests. TAP output.
set -uo pipefail
. "$(dirname "$0")/../lib/netns.sh"

server=$1
srcdir=$2
py=/usr/bin/python3
tmp=$(mktemp -d /tmp/zl-proxy-test.XXXXXX)
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
check() { # check NAME COMMAND...: ok when the command succeeds
        local name=$1; shift
        if out=$("$@" 2>&1); then ok "$name"; else not_ok "$name" "$out"; fi
}

for t in curl; do
        command -v $t >/dev/null || { echo "1..0 # SKIP $t missing"; exit 0; }
done

# Ports: a random block, so parallel runs and other engineers' servers do not collide.
base=$((20000 + RANDOM % 20000))
pa=$((base + 1)) pb=$((base + 2)) pc=$((base + 3)) pecho=$((base + 4)) pdead=$((base + 5))
phttp=$((base + 10)) ptcp=$((base + 11))

start_backend() { # start_backend MODE PORT [NAME]; waits for "ready"
        $py "$srcdir/backend.py" "$@" >"$tmp/backend-$2.out" 2>&1 &
        pids+=($!)
        eval "pid_$2=$!"
        for _ in $(seq 50); do grep -q ready "$tmp/backend-$2.out" && return 0; sleep 0.1; done
        echo "backend $* did not start" >&2
        cat "$tmp/backend-$2.out" >&2
        exit 1
}
start_backend http $pa A
start_backend http $pb B
start_backend http $pc C
start_backend tcp $pecho

cat >"$tmp/routes.json" <<EOF
{"routes": [
  {"name": "main", "listen": "127.0.0.1:$phttp", "backends": ["127.0.0.1:$pa"]},
  {"name": "rr", "listen": "127.0.0.1:$phttp", "path": "/rr",
   "backends": ["127.0.0.1:$pa", "127.0.0.1:$pb"]},
  {"name": "weighted", "listen": "127.0.0.1:$phttp", "path": "/weighted",
   "backends": [{"address": "127.0.0.1:$pa", "weight": 3}, "127.0.0.1:$pb"]},
  {"name": "lc", "listen": "127.0.0.1:$phttp", "path": "/lc", "balance": "least_conn",
   "backends": ["127.0.0.1:$pa", "127.0.0.1:$pb"]},
  {"name": "eject", "listen": "127.0.0.1:$phttp", "path": "/ej",
   "backends": ["127.0.0.1:$pb", "127.0.0.1:$pc"]},
  {"name": "dead", "listen": "127.0.0.1:$phttp", "path": "/dead",
   "backends": ["127.0.0.1:$pdead"]},
  {"name": "vhost", "listen": "127.0.0.1:$phttp", "host": "*.vhost.test",
   "backends": ["127.0.0.1:$pb"]},
  {"name": "echo", "listen": "127.0.0.1:$ptcp", "protocol": "tcp",
   "backends": ["127.0.0.1:$pecho"]}
]}
EOF

"$server" --routes "$tmp/routes.json" --stats "$tmp/stats.json" --workers 2 \
        --header-timeout 1500 --eject-time 30000 --max-body 1000000 >"$tmp/server.out" 2>&1 &
server_pid=$!
pids+=($server_pid)
for _ in $(seq 50); do grep -q READY "$tmp/server.out" && break; sleep 0.1; done
grep -q READY "$tmp/server.out" || { echo "Bail out! server did not start"; cat "$tmp/server.out"; exit 1; }

url=http://127.0.0.1:$phttp
json() { $py -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
stats() { kill -USR1 $server_pid; sleep 0.3; $py -c "import json; d=json.load(open('$tmp/stats.json')); print($1)"; }

echo "1..25"

# 1-3: forwarded headers, Via and trace context reach the backend.
out=$(curl -sS -H 'X-Forwarded-For: 10.9.8.7' -H 'Via: 1.0 edge' \
        -H 'traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' \
        -H 'Connection: keep-alive, X-Junk' "$url/hello?x=1")
fw=$(echo "$out" | json "d['headers']['x-forwarded-for'], d['headers']['x-forwarded-proto'], d['headers']['x-forwarded-host'], d['headers']['via'], d['path']")
[ "$fw" = "10.9.8.7, 127.0.0.1 http 127.0.0.1:$phttp 1.0 edge, 1.1 zl-proxyd /hello?x=1" ] &&
        ok "X-Forwarded-For/-Proto/-Host and Via reach the backend" ||
        not_ok "X-Forwarded-For/-Proto/-Host and Via reach the backend" "$fw"
tp=$(echo "$out" | json "d['headers']['traceparent']")
[[ "$tp" =~ ^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$ && "$tp" != *b7ad6b7169203331* ]] &&
        ok "traceparent propagated with a new parent id" || not_ok "traceparent propagated" "$tp"
tp=$(curl -sS "$url/" | json "d['headers']['traceparent']")
[[ "$tp" =~ ^00-[0-9a-f]{32}-[0-9a-f]{16}-01$ ]] && ok "traceparent created" ||
        not_ok "traceparent created" "$tp"

# 4: keep-alive towards the client: curl reuses its connection for a second URL.
out=$(curl -sS -v "$url/a" "$url/b" 2>&1 >/dev/null)
echo "$out" | grep -q 'Re-using existing connection' && ok "client keep-alive" ||
        not_ok "client keep-alive" "$out"

# 5: pipelining: five requests in one write, five answers in order.
check "pipelining" $py "$srcdir/client.py" pipeline $phttp

# 6-7: chunked upload (decoded and counted by the backend) and chunked download.
head -c 300000 /dev/urandom >"$tmp/upload"
want=$(sha256sum "$tmp/upload" | cut -d' ' -f1)
out=$(curl -sS -H 'Transfer-Encoding: chunked' --data-binary @"$tmp/upload" "$url/up" |
        json "d['len'], d['sha256'], d['chunked']")
[ "$out" = "300000 $want True" ] && ok "chunked upload" || not_ok "chunked upload" "$out"
out=$(curl -sS "$url/chunked" | sha256sum | cut -d' ' -f1)
want=$($py -c "import hashlib; print(hashlib.sha256(b''.join(('line %d\n' % i).encode() * 100 for i in range(50))).hexdigest())")
[ "$out" = "$want" ] && ok "chunked download" || not_ok "chunked download" "$out != $want"

# 8: Expect: 100-continue with a sized body.
out=$(curl -sS -H 'Expect: 100-continue' --data-binary @"$tmp/upload" "$url/expect" | json "d['len']")
[ "$out" = 300000 ] && ok "Expect: 100-continue" || not_ok "Expect: 100-continue" "$out"

# 9: body over the limit is refused with 413.
head -c 1500000 /dev/zero >"$tmp/big"
code=$(curl -sS -o /dev/null -w '%{http_code}' --data-binary @"$tmp/big" "$url/big")
[ "$code" = 413 ] && ok "413 for a body over the limit" || not_ok "413 for a body over the limit" "$code"

# 10-11: round-robin and weights.
for i in $(seq 20); do curl -sS "$url/rr/x" | json "d['name']"; done | sort | uniq -c >"$tmp/rr"
[ "$(tr -s ' ' <"$tmp/rr" | tr '\n' ' ')" = " 10 A  10 B " ] && ok "round-robin spreads evenly" ||
        not_ok "round-robin spreads evenly" "$(cat "$tmp/rr")"
for i in $(seq 40); do curl -sS "$url/weighted/x" | json "d['name']"; done | sort | uniq -c >"$tmp/w"
[ "$(tr -s ' ' <"$tmp/w" | tr '\n' ' ')" = " 30 A  10 B " ] && ok "weights 3:1" ||
        not_ok "weights 3:1" "$(cat "$tmp/w")"

# 12: least_conn: while one backend holds a request, new requests go to the other one. What
# least_conn promises is exact only while the load differs, so the held request must stay in
# flight until the last quick one has been answered: it is held by the backend until released
# (a timed sleep raced with slow clients on a loaded machine), and the quick requests are made
# by one curl over one client connection, each balanced on its own.
curl -sS "$url/lc/hold?key=lc" >"$tmp/slow" &
slow=$!
active=
for _ in $(seq 20); do
        active=$(stats "d['backends']['127.0.0.1:$pa']['active'], d['backends']['127.0.0.1:$pb']['active']")
        [ "$active" = "1 0" ] || [ "$active" = "0 1" ] && break
done
quick=()
for i in $(seq 10); do quick+=(-o /dev/null "$url/lc/x$i"); done
curl -sS -w '%header{x-backend}\n' "${quick[@]}" | sort | uniq -c >"$tmp/lc"
after=$(stats "d['backends']['127.0.0.1:$pa']['active'], d['backends']['127.0.0.1:$pb']['active']")
curl -sS -o /dev/null "http://127.0.0.1:$pa/release?key=lc"
curl -sS -o /dev/null "http://127.0.0.1:$pb/release?key=lc"
wait $slow
busy=$(json "d['name']" <"$tmp/slow")
idle=$([ "$busy" = A ] && echo B || echo A)
[ "$active" = "$after" ] && { [ "$active" = "1 0" ] || [ "$active" = "0 1" ]; } &&
        [ "$(tr -s ' ' <"$tmp/lc")" = " 10 $idle" ] &&
        ok "least_conn avoids the busy backend" ||
        not_ok "least_conn avoids the busy backend" \
                "busy=$busy active(A B) before=$active after=$after $(cat "$tmp/lc")" \
                "$(stats "d['backends']")"

# 13-14: a killed backend: requests move to the other one, and it is ejected.
eval "kill \$pid_$pc"; sleep 0.3
codes=$(for i in $(seq 10); do curl -sS -o /dev/null -w '%{http_code} ' "$url/ej/x"; done)
names=$(for i in $(seq 6); do curl -sS "$url/ej/x" | json "d['name']"; done | sort -u | tr '\n' ' ')
[ "$codes" = "200 200 200 200 200 200 200 200 200 200 " ] && [ "$names" = "B " ] &&
        ok "killed backend: traffic moved" || not_ok "killed backend: traffic moved" "$codes / $names"
ej=$(stats "d['backends']['127.0.0.1:$pc']['ejected']")
[ "$ej" = True ] && ok "killed backend ejected" || not_ok "killed backend ejected" "$ej"

# 15: no usable backend: 503, quickly.
out=$(curl -sS -o /dev/null -w '%{http_code} %{time_total}' "$url/dead/x")
code=${out% *} t=${out#* }
[ "$code" = 503 ] && $py -c "import sys; sys.exit(0 if $t < 0.5 else 1)" &&
        ok "503 quickly without a backend ($t s)" || not_ok "503 quickly without a backend" "$out"

# 16: host patterns: *.vhost.test goes to B.
out=$(curl -sS -H 'Host: a.vhost.test' "$url/" | json "d['name']")
[ "$out" = B ] && ok "wildcard host route" || not_ok "wildcard host route" "$out"

# 17-18: WebSocket upgrade relayed both ways; TCP echo through a tcp route (1 MiB, half-close).
check "WebSocket echo through an upgrade" $py "$srcdir/client.py" ws $phttp
check "TCP echo through a tcp route" $py "$srcdir/client.py" tcp $ptcp

# 19: a slow-loris is cut by the header timeout while others are served.
$py "$srcdir/client.py" slowloris $phttp >"$tmp/loris" 2>&1 &
loris=$!
sleep 0.3
codes=$(for i in $(seq 5); do curl -sS -o /dev/null -w '%{http_code} ' "$url/x"; done)
if wait $loris && [ "$codes" = "200 200 200 200 200 " ]; then
        ok "slow-loris cut by the header timeout, others served ($(cat "$tmp/loris"))"
else
        not_ok "slow-loris cut by the header timeout" "$(cat "$tmp/loris")" "$codes"
fi

# 20-23: malformed requests: 400 and the connection closed; the worker keeps serving.
raw() { $py "$srcdir/client.py" raw $phttp "$1"; }
bad_all=""
for req in 'GARBAGE\r\n\r\n' \
           'GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc' \
           'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n' \
           "GET / HTTP/1.1\r\nHost: h\r\nX-Big: $(head -c 20000 /dev/zero | tr '\0' a)\r\n\r\n"; do
        out=$(raw "$req")
        bad_all+="$out; "
done
[ "$(echo "$bad_all" | grep -o 'HTTP/1.1 400 Bad Request closed=True' | wc -l)" = 4 ] &&
        ok "bad request line, CL+TE, bad chunk size, oversize head: 400 and closed" ||
        not_ok "malformed requests answered 400" "$bad_all"
out=$(raw 'GET /nothing HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\n\r\n')
[[ "$out" == "HTTP/1.1 200 OK closed=True" ]] && ok "missing Host on a pipelined request closes" ||
        not_ok "missing Host on a pipelined request" "$out"
out=$(raw 'GET / HTTP/1.1\r\nHost: h\r\nExpect: magic\r\n\r\n')
[[ "$out" == "HTTP/1.1 417 Expectation Failed"* ]] && ok "unknown Expect: 417" ||
        not_ok "unknown Expect: 417" "$out"
code=$(curl -sS -o /dev/null -w '%{http_code}' "$url/after")
[ "$code" = 200 ] && ok "still serving after malformed input" || not_ok "still serving" "$code"

# 24: a client that shuts its side after the request still gets the answer.
check "half-closed client answered" $py "$srcdir/client.py" halfclose $phttp

# 25: counters per route, and a bad routes file on reload changes nothing.
echo '{"routes": [{"name": "x"}]}' >"$tmp/routes.bad"
cp "$tmp/routes.json" "$tmp/routes.good"
cp "$tmp/routes.bad" "$tmp/routes.json"
kill -HUP $server_pid
sleep 0.3
code=$(curl -sS -o /dev/null -w '%{http_code}' "$url/rr/x")
cp "$tmp/routes.good" "$tmp/routes.json"
req=$(stats "d['routes']['rr']['requests'], d['routes']['dead']['errors'], sum(d['routes']['main']['latency']) == d['routes']['main']['requests']")
[ "$code" = 200 ] && [[ "$req" == "21 1 True" ]] && ok "counters per route; bad reload ignored" ||
        not_ok "counters per route; bad reload ignored" "$code $req"

kill -TERM $server_pid
wait $server_pid || { failed=1; echo "# server exit status $?"; }
exit $failed
