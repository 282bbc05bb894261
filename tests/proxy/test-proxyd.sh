#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tests/proxy/test-proxyd.sh: zl-proxyd on a private bus with python backends on 127.0.0.1,
# driven by zlctl proxy: apply (YAML and JSON), routes, backends, stats, clear; round-robin and
# least-conn spread; a killed backend found unhealthy by the active check, BackendHealthChanged
# on the bus and traffic going to the others; a set without healthy member answering 503 at
# once; invalid and conflicting route files refused with nothing changed; routes kept across a
# restart; the access log file and its reopening; proxyd.conf limits (HSTS, HTTP/2 streams) and
# a bad value refused at reload with its line; HTTP/1.1 graceful close when a listener goes and
# at SIGTERM (the request under way answered with Connection: close, idle connections closed,
# new ones refused). TAP output.
#
# usage: test-proxyd.sh ZL_PROXYD ZLCTL SRCDIR
set -uo pipefail
. "$(dirname "$0")/../lib/netns.sh"

proxyd=$1 zlctl=$2 srcdir=$3
. "$srcdir/../bus/lib.sh"

[ "$(id -u)" -eq 0 ] || zl_skip_all "changing routes is for root"
for tool in dbus-daemon busctl dbus-monitor curl python3; do
        command -v "$tool" > /dev/null || zl_skip_all "$tool is not installed"
done
export ZLAYER_LOG_TARGET=stderr
py=/usr/bin/python3

zl_test_setup
zl_bus_start || { zl_not_ok "a private dbus-daemon starts"; zl_done; }

B=org.zlayer.Proxy1 P=/org/zlayer/Proxy1 I=org.zlayer.Proxy1
bus() { busctl --address="$ZLAYER_BUS_ADDRESS" "$@"; }
json() { "$py" -c 'import json, sys
d = json.load(sys.stdin)
r = eval(sys.argv[1])
print(*r) if isinstance(r, tuple) else print(r)' "$1"; }

# Ports: a random block, so parallel runs and other engineers' servers do not collide.
base=$((20000 + RANDOM % 20000))
pa=$((base + 1)) pb=$((base + 2)) pc=$((base + 3)) phttp=$((base + 10)) ptcp=$((base + 11))
pecho=$((base + 4))
url=http://127.0.0.1:$phttp

start_backend() { # start_backend MODE PORT [NAME]; waits for "ready"
        "$py" "$srcdir/backend.py" "$@" > "$ZL_TMP/backend-$2.out" 2>&1 &
        ZL_CLEANUP_PIDS+=($!)
        eval "pid_$2=$!"
        zl_wait_file_grep "$ZL_TMP/backend-$2.out" ready 5 ||
                { echo "Bail out! backend $* did not start"; exit 1; }
}
start_backend http $pa A
start_backend http $pb B
start_backend http $pc C
start_backend tcp $pecho

cat > "$ZL_TMP/proxyd.conf" << EOF
# test configuration
workers = 2
access_log = $ZL_TMP/access.log
access_log_sampling = 1
health_interval = 200ms
health_timeout = 150ms
health_healthy_threshold = 1
health_unhealthy_threshold = 2
eject_time = 30s
hsts_max_age = 600
h2_max_concurrent_streams = 7
EOF
export ZLAYER_PROXYD_CONFIG=$ZL_TMP/proxyd.conf

start_proxyd() { # [COMMAND PREFIX...]
        zl_daemon_start zl-proxyd "$@" "$proxyd"
        zl_wait_state $B $P running 10
}
if start_proxyd; then
        rss=$(awk '/^VmRSS/ {print $2}' "/proc/${ZL_PID[zl-proxyd]}/status")
        echo "# zl-proxyd VmRSS idle with 2 workers, no routes: ${rss} kB"
        zl_ok "zl-proxyd starts on the bus"
else
        zl_not_ok "zl-proxyd starts on the bus" "$(cat "$ZL_TMP/zl-proxyd/log")"
        zl_done
fi

dbus-monitor --address "$ZLAYER_BUS_ADDRESS" \
        "type='signal',interface='$I',member='BackendHealthChanged'" > "$ZL_TMP/monitor" 2>&1 &
ZL_CLEANUP_PIDS+=($!)

# ---- apply a YAML file ------------------------------------------------------------------------
cat > "$ZL_TMP/routes.yaml" << EOF
# routes of the test owner
routes:
  - name: web
    listen: 127.0.0.1:$phttp
    backends: [127.0.0.1:$pa, 127.0.0.1:$pb]
    health:
      type: http
      path: /healthz
      interval: 0.2
  - name: lc
    listen: 127.0.0.1:$phttp
    path: /lc
    balance: least_conn
    backends:
      - 127.0.0.1:$pa
      - address: 127.0.0.1:$pb
        weight: 1
  - name: only-c
    listen: 127.0.0.1:$phttp
    path: /c
    backends: ["127.0.0.1:$pc"]
    health: {type: tcp, interval: 0.2}
  - name: echo
    listen: 127.0.0.1:$ptcp
    protocol: tcp
    backends: [127.0.0.1:$pecho]
EOF
zl_check "zlctl proxy apply of a YAML file" "$zlctl" proxy apply "$ZL_TMP/routes.yaml" \
        --owner tests

out=$("$zlctl" proxy routes 2>&1)
if [[ "$out" == *NAME*OWNER*LISTEN* ]] && grep -E "^web +tests +127.0.0.1:$phttp +http" \
        <<< "$out" > /dev/null && grep -E "^echo +tests .* tcp " <<< "$out" > /dev/null; then
        zl_ok "zlctl proxy routes lists them with their owner"
else
        zl_not_ok "zlctl proxy routes lists them with their owner" "$out"
fi
n=$("$zlctl" proxy routes --output json | json "len(d), sorted({r['owner'] for r in d})")
[ "$n" = "4 ['tests']" ] && zl_ok "zlctl proxy routes --output json" ||
        zl_not_ok "zlctl proxy routes --output json" "$n"
v=$(zl_get_property $B $P $I Listeners)
[ "$v" = "as 2 \"http 127.0.0.1:$phttp\" \"tcp 127.0.0.1:$ptcp\"" ] &&
        zl_ok "Listeners lists the listening addresses" ||
        zl_not_ok "Listeners lists the listening addresses" "$v"

# ---- balancing -----------------------------------------------------------------------------
for i in $(seq 20); do curl -sS "$url/x$i" | json "d['name']"; done | sort | uniq -c \
        > "$ZL_TMP/rr"
[ "$(tr -s ' ' < "$ZL_TMP/rr" | tr '\n' ' ')" = " 10 A  10 B " ] &&
        zl_ok "round-robin spreads evenly" || zl_not_ok "round-robin spreads evenly" \
        "$(cat "$ZL_TMP/rr")"

# least_conn: while one backend holds a request, the others go to the other one.
backend_active() { # ADDRESS
        "$zlctl" proxy backends --output json |
                json "[b['active'] for b in d if b['address'] == '$1'][0]"
}
curl -sS "$url/lc/hold?key=lc" > "$ZL_TMP/slow" &
slow=$!
for _ in $(seq 50); do
        [ "$(backend_active 127.0.0.1:$pa)$(backend_active 127.0.0.1:$pb)" != 00 ] && break
        sleep 0.05
done
quick=()
for i in $(seq 10); do quick+=(-o /dev/null "$url/lc/q$i"); done
curl -sS -w '%header{x-backend}\n' "${quick[@]}" | sort | uniq -c > "$ZL_TMP/lc"
curl -sS -o /dev/null "http://127.0.0.1:$pa/release?key=lc"
curl -sS -o /dev/null "http://127.0.0.1:$pb/release?key=lc"
wait $slow
busy=$(json "d['name']" < "$ZL_TMP/slow")
idle=$([ "$busy" = A ] && echo B || echo A)
[ "$(tr -s ' ' < "$ZL_TMP/lc")" = " 10 $idle" ] && zl_ok "least_conn avoids the busy backend" ||
        zl_not_ok "least_conn avoids the busy backend" "busy=$busy $(cat "$ZL_TMP/lc")"

out=$(printf 'hello proxy' | "$py" -c 'import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(sys.stdin.buffer.read()); s.shutdown(socket.SHUT_WR)
print(s.recv(100).decode())' $ptcp 2>&1)
[ "$out" = "hello proxy" ] && zl_ok "tcp route echoes" || zl_not_ok "tcp route echoes" "$out"

# ---- health checks -----------------------------------------------------------------------------
out=$("$zlctl" proxy backends 2>&1)
if grep -E "^127.0.0.1:$pa +healthy +http +status 200 " <<< "$out" > /dev/null &&
   grep -E "^127.0.0.1:$pc +healthy +tcp +connected " <<< "$out" > /dev/null &&
   grep -E "^127.0.0.1:$pecho +healthy +none +- " <<< "$out" > /dev/null; then
        zl_ok "zlctl proxy backends shows the checks passing"
else
        zl_not_ok "zlctl proxy backends shows the checks passing" "$out"
fi

r=$("$zlctl" proxy backends --output json | json "([b['address'] for b in d],
        [b['routes'] for b in d if b['address'] == '127.0.0.1:$pa'][0])")
want="['127.0.0.1:$pa', '127.0.0.1:$pb', '127.0.0.1:$pc', '127.0.0.1:$pecho'] ['web', 'lc']"
[ "$r" = "$want" ] &&
        zl_ok "each backend once, in table order, with the routes using it" ||
        zl_not_ok "each backend once, in table order, with the routes using it" "$r"

eval "kill \$pid_$pb"
if zl_wait_file_grep "$ZL_TMP/monitor" "string \"unhealthy\"" 5 &&
   grep -B1 'string "unhealthy"' "$ZL_TMP/monitor" | grep -F "\"127.0.0.1:$pb\"" > /dev/null; then
        zl_ok "a killed backend: BackendHealthChanged(address, \"unhealthy\")"
else
        zl_not_ok "a killed backend: BackendHealthChanged(address, \"unhealthy\")" \
                "$(cat "$ZL_TMP/monitor")"
fi
h=$("$zlctl" proxy backends --output json |
        json "[(b['health'], b['last_check']) for b in d if b['address'] == '127.0.0.1:$pb'][0]")
[ "$h" = "unhealthy connection refused" ] && zl_ok "ListBackends shows it unhealthy" ||
        zl_not_ok "ListBackends shows it unhealthy" "$h"
codes=$(for i in $(seq 10); do curl -sS -o /dev/null -w '%{http_code}%header{x-backend} ' \
        "$url/after$i"; done)
[ "$codes" = "$(printf '200A %.0s' $(seq 10))" ] && zl_ok "traffic goes to the healthy backend" ||
        zl_not_ok "traffic goes to the healthy backend" "$codes"
grep -E "Backend 127.0.0.1:$pb is unhealthy \(connection refused\)" "$ZL_TMP/zl-proxyd/log" \
        > /dev/null && zl_ok "the daemon logs the change" ||
        zl_not_ok "the daemon logs the change" "$(cat "$ZL_TMP/zl-proxyd/log")"

# A set with no healthy member answers 503 at once.
eval "kill \$pid_$pc"
for _ in $(seq 50); do
        grep -F "\"127.0.0.1:$pc\"" "$ZL_TMP/monitor" > /dev/null && break
        sleep 0.1
done
t0=$(date +%s%N)
code=$(curl -sS -o /dev/null -w '%{http_code}' "$url/c/x")
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$code" = 503 ] && [ "$ms" -lt 500 ] && zl_ok "no healthy backend: 503 in $ms ms" ||
        zl_not_ok "no healthy backend: 503 quickly" "code $code in $ms ms"

# B comes back: healthy again after the check passes.
start_backend http $pb B
if zl_wait_file_grep "$ZL_TMP/monitor" "string \"healthy\"" 5; then
        zl_ok "a backend back: BackendHealthChanged(address, \"healthy\")"
else
        zl_not_ok "a backend back: BackendHealthChanged(address, \"healthy\")" \
                "$(cat "$ZL_TMP/monitor")"
fi

# ---- stats -----------------------------------------------------------------------------------
s=$("$zlctl" proxy stats --output json |
        json "[(r['requests'] >= 30, r['errors'],
                len(r['latency']) == len(d['latency_bounds_us']) + 1, r['rps'] > 0)
               for r in d['routes'] if r['route'] == 'web'][0]")
[ "$s" = "True 0 True True" ] && zl_ok "zlctl proxy stats: requests, errors, histogram, rps" ||
        zl_not_ok "zlctl proxy stats: requests, errors, histogram, rps" "$s"
out=$("$zlctl" proxy stats)
grep -E "^only-c +[1-9][0-9]* +[1-9]" <<< "$out" > /dev/null &&
        zl_ok "zlctl proxy stats counts the 503 as an error" ||
        zl_not_ok "zlctl proxy stats counts the 503 as an error" "$out"

# ---- refused updates change nothing ------------------------------------------------------------
before=$(bus call $B $P $I ListRoutes)
cat > "$ZL_TMP/bad.json" << EOF
{"routes": [{"name": "bad", "listen": "127.0.0.1:$phttp", "path": "/bad",
             "backends": [{"address": "127.0.0.1:$pa", "weight": 0}]}]}
EOF
out=$("$zlctl" proxy apply "$ZL_TMP/bad.json" --owner tests 2>&1)
rc=$?
[ $rc = 1 ] && [[ "$out" == *"route 'bad', field 'backends[0].weight': must be an integer"* ]] &&
        [[ "$out" == *"org.zlayer.Error.InvalidArgument"* ]] &&
        zl_ok "an invalid route file is refused, naming route and field" ||
        zl_not_ok "an invalid route file is refused, naming route and field" "rc=$rc $out"
cat > "$ZL_TMP/clash.json" << EOF
{"routes": [{"name": "web", "listen": "127.0.0.1:$((base + 12))", "backends": ["127.0.0.1:$pa"]}]}
EOF
out=$("$zlctl" proxy apply "$ZL_TMP/clash.json" --owner other 2>&1)
[ $? = 1 ] && [[ "$out" == *"of owner 'tests'"* ]] &&
        zl_ok "a route name of another owner is refused" ||
        zl_not_ok "a route name of another owner is refused" "$out"
printf 'routes:\n  - name: [x\n' > "$ZL_TMP/broken.yaml"
out=$("$zlctl" proxy apply "$ZL_TMP/broken.yaml" 2>&1)
[ $? = 1 ] && [[ "$out" == *"broken.yaml:"* ]] && zl_ok "a broken YAML file is refused" ||
        zl_not_ok "a broken YAML file is refused" "$out"
after=$(bus call $B $P $I ListRoutes)
[ "$before" = "$after" ] && zl_ok "refused updates changed nothing" ||
        zl_not_ok "refused updates changed nothing" "$before" "$after"
curl -sS -o /dev/null -w '%{http_code}' "$url/bad" | grep -x 200 > /dev/null &&
        zl_ok "the old routes still serve" || zl_not_ok "the old routes still serve"

# A second owner with JSON, and its own listener.
cat > "$ZL_TMP/other.json" << EOF
{"routes": [{"name": "other", "listen": "127.0.0.1:$((base + 12))",
             "backends": ["127.0.0.1:$pa"]}]}
EOF
zl_check "a second owner applies a JSON file" "$zlctl" proxy apply "$ZL_TMP/other.json" \
        --owner other
code=$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$((base + 12))/")
[ "$code" = 200 ] && zl_ok "its listener serves" || zl_not_ok "its listener serves" "$code"
v=$(zl_get_property $B $P $I Owners)
[ "$v" = 'as 2 "other" "tests"' ] && zl_ok "Owners lists both" || zl_not_ok "Owners lists both" "$v"

# Routes without backends (a scheduler's service with no healthy replica yet): the listeners
# open, HTTP answers 503 at once and TCP closes the connection.
cat > "$ZL_TMP/empty.json" << EOF
{"routes": [{"name": "no-http", "listen": "127.0.0.1:$((base + 20))", "backends": []},
            {"name": "no-tcp", "listen": "127.0.0.1:$((base + 21))", "protocol": "tcp",
             "backends": []}]}
EOF
zl_check "routes without backends are accepted" "$zlctl" proxy apply "$ZL_TMP/empty.json" \
        --owner empty
code=$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$((base + 20))/")
[ "$code" = 503 ] && zl_ok "an http route without backends answers 503" ||
        zl_not_ok "an http route without backends answers 503" "$code"
out=$(timeout 5 python3 -c "
import socket
s = socket.create_connection(('127.0.0.1', $((base + 21))), timeout=3)
print('eof' if s.recv(10) == b'' else 'data')" 2>&1)
[ "$out" = eof ] && zl_ok "a tcp route without backends closes the connection" ||
        zl_not_ok "a tcp route without backends closes the connection" "$out"
zl_check "the owner without backends is cleared" "$zlctl" proxy clear empty

# ---- access log ------------------------------------------------------------------------------
zl_wait_file_grep "$ZL_TMP/access.log" '"route":"other"' 3
line=$(grep -F '"path":"/after1"' "$ZL_TMP/access.log" | head -n 1)
chk=$(json "(d['route'], d['method'], d['status'], d['client'], d['backend'],
             d['traceparent'][:3], d['duration_us'] >= 0, d['bytes_out'] > 0)" <<< "$line" 2>&1)
[ "$chk" = "web GET 200 127.0.0.1 127.0.0.1:$pa 00- True True" ] &&
        zl_ok "the access log has one JSON line per request" ||
        zl_not_ok "the access log has one JSON line per request" "$chk" "$line"
grep -F '"route":"only-c"' "$ZL_TMP/access.log" | grep -F '"status":503' > /dev/null &&
        zl_ok "the access log has the proxy's own 503" ||
        zl_not_ok "the access log has the proxy's own 503" "$(tail -n 5 "$ZL_TMP/access.log")"
mv "$ZL_TMP/access.log" "$ZL_TMP/access.log.1"
zl_check "Proxy1.Reload() reopens the access log" bus call $B $P $I Reload
curl -sS -o /dev/null "$url/rotated"
zl_wait_file_grep "$ZL_TMP/access.log" '"path":"/rotated"' 3 &&
        ! grep -F '"/rotated"' "$ZL_TMP/access.log.1" > /dev/null &&
        zl_ok "after Reload() lines go to the new file" ||
        zl_not_ok "after Reload() lines go to the new file" "$(ls -l "$ZL_TMP")"

# ---- configuration limits ----------------------------------------------------------------------
if command -v nghttp > /dev/null; then
        out=$(nghttp -nv "$url/h2" 2>&1)
        grep -F "SETTINGS_MAX_CONCURRENT_STREAMS(0x03):7]" <<< "$out" > /dev/null &&
                zl_ok "h2_max_concurrent_streams = 7 is the proxy's SETTINGS" ||
                zl_not_ok "h2_max_concurrent_streams = 7 is the proxy's SETTINGS" "$out"
fi
# A bad value at reload names file, line and range; nothing changes (the access log stays on).
cp "$ZL_TMP/proxyd.conf" "$ZL_TMP/proxyd.conf.good"
printf 'access_log = none\nh2_max_concurrent_streams = 0\n' >> "$ZL_TMP/proxyd.conf"
bad_line=$(wc -l < "$ZL_TMP/proxyd.conf")
kill -HUP "${ZL_PID[zl-proxyd]}"
zl_wait_state $B $P degraded 5
want="proxyd.conf:$bad_line: 'h2_max_concurrent_streams': expected a whole number from 1 to 1000"
curl -sS -o /dev/null "$url/after-bad-reload"
if zl_wait_file_grep "$ZL_TMP/zl-proxyd/log" "$want" 3 &&
   zl_wait_file_grep "$ZL_TMP/access.log" '"path":"/after-bad-reload"' 3; then
        zl_ok "a bad value at reload is refused by line and range, nothing changes"
else
        zl_not_ok "a bad value at reload is refused by line and range, nothing changes" \
                "$(tail -n 5 "$ZL_TMP/zl-proxyd/log")"
fi
cp "$ZL_TMP/proxyd.conf.good" "$ZL_TMP/proxyd.conf"
kill -HUP "${ZL_PID[zl-proxyd]}"
zl_wait_state $B $P running 5 && zl_ok "a good file at reload: running again" ||
        zl_not_ok "a good file at reload: running again" "$(zl_get_property $B $P \
        org.zlayer.Daemon1 State)"

# ---- HTTP/1.1 graceful close ---------------------------------------------------------------------
# held_start KEY PORT / idle_start NAME PORT: clients in the background (client.py held / idle),
# once their request is out or answered.
held_start() {
        "$py" "$srcdir/client.py" held "$2" "$1" > "$ZL_TMP/held-$1" 2>&1 &
        ZL_CLEANUP_PIDS+=($!)
        eval "held_$1=$!"
        zl_wait_file_grep "$ZL_TMP/held-$1" sent 5
        sleep 0.3 # the request reaches the backend
}
idle_start() {
        "$py" "$srcdir/client.py" idle "$2" > "$ZL_TMP/idle-$1" 2>&1 &
        ZL_CLEANUP_PIDS+=($!)
        eval "idle_$1=$!"
        zl_wait_file_grep "$ZL_TMP/idle-$1" "idle 200 keep-alive" 5
}
release() { # KEY: on every backend that may hold it
        curl -sS -o /dev/null "http://127.0.0.1:$pa/release?key=$1"
        curl -sS -o /dev/null "http://127.0.0.1:$pb/release?key=$1"
}
pdrain=$((base + 14))
cat > "$ZL_TMP/drain.yaml" << EOF
routes:
  - {name: drain, listen: "127.0.0.1:$pdrain", backends: ["127.0.0.1:$pa"]}
EOF
zl_check "an owner with a listener of its own" "$zlctl" proxy apply "$ZL_TMP/drain.yaml" \
        --owner drain
held_start d1 $pdrain
idle_start d1 $pdrain
zl_check "its routes cleared while a request is held" "$zlctl" proxy clear drain
code=$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$pdrain/" 2> /dev/null)
[ "$code" = 000 ] && zl_ok "listener removed: a new connection is refused" ||
        zl_not_ok "listener removed: a new connection is refused" "$code"
zl_wait_file_grep "$ZL_TMP/idle-d1" "closed=True after 0" 2 &&
        zl_ok "listener removed: an idle keep-alive connection is closed at once" ||
        zl_not_ok "listener removed: an idle keep-alive connection is closed at once" \
                "$(cat "$ZL_TMP/idle-d1")"
release d1
eval "wait \$held_d1" &&
        zl_ok "listener removed: the held request ends 200 with Connection: close" ||
        zl_not_ok "listener removed: the held request ends 200 with Connection: close" \
                "$(cat "$ZL_TMP/held-d1")"

# ---- certificates -------------------------------------------------------------------------------
ptls=$((base + 13))
subject() { # NAME: the subject of the certificate served for NAME
        openssl s_client -connect 127.0.0.1:$ptls -servername "$1" < /dev/null 2> /dev/null |
                openssl x509 -noout -subject 2> /dev/null
}
if command -v openssl > /dev/null &&
   openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -keyout "$ZL_TMP/tls.key" -out "$ZL_TMP/tls.crt" -subj /CN=secure.test \
        -addext subjectAltName=DNS:secure.test > /dev/null 2>&1; then
        certs=$ZL_TMP/zl-proxyd/state/proxy/certs
        out=$(bus call -- $B $P $I AddCertificate sss secure.test "$(cat "$ZL_TMP/tls.crt")" \
                "$(cat "$ZL_TMP/tls.key")" 2>&1)
        [ $? = 0 ] && cmp -s "$certs/secure.test.crt" "$ZL_TMP/tls.crt" &&
                cmp -s "$certs/secure.test.key" "$ZL_TMP/tls.key" &&
                [ "$(stat -c %a "$certs/secure.test.key")" = 600 ] &&
                zl_ok "AddCertificate installs and saves a certificate" ||
                zl_not_ok "AddCertificate installs and saves a certificate" "$out" \
                        "$(ls -l "$certs" 2>&1)"
        out=$(dbus-send --bus="$ZLAYER_BUS_ADDRESS" --print-reply --dest=$B $P $I.AddCertificate \
                string:other.test string:"not a certificate" string:"$(cat "$ZL_TMP/tls.key")" 2>&1)
        [[ "$out" == *"org.zlayer.Error.InvalidArgument"* ]] && [ ! -e "$certs/other.test.crt" ] &&
                zl_ok "AddCertificate refuses bad PEM" ||
                zl_not_ok "AddCertificate refuses bad PEM" "$out"
        cat > "$ZL_TMP/tls.yaml" << EOF
routes:
  - {name: tls, listen: "127.0.0.1:$ptls", protocol: https, backends: ["127.0.0.1:$pa"]}
EOF
        zl_check "an https route" "$zlctl" proxy apply "$ZL_TMP/tls.yaml" --owner tls
        s=$(subject secure.test)
        [[ "$s" == *"CN = secure.test"* ]] && zl_ok "the added certificate is served by SNI" ||
                zl_not_ok "the added certificate is served by SNI" "$s"
        out=$(curl -sS -o /dev/null -D - --cacert "$ZL_TMP/tls.crt" \
                --resolve secure.test:$ptls:127.0.0.1 "https://secure.test:$ptls/tls" | tr -d '\r')
        [[ "$out" == "HTTP/"*" 200"* ]] && zl_ok "https request through it" ||
                zl_not_ok "https request through it" "$out"
        grep -ix "strict-transport-security: max-age=600" <<< "$out" > /dev/null &&
                zl_ok "hsts_max_age = 600: its HSTS header" ||
                zl_not_ok "hsts_max_age = 600: its HSTS header" "$out"
        have_tls=1
else
        have_tls=0
fi

# ---- restart keeps the routes ----------------------------------------------------------------
# Restarted with only the capability its unit leaves it (CapabilityBoundingSet=), which must be
# enough to bind a port below 1024.
stop_proxyd() {
        kill -TERM "${ZL_PID[zl-proxyd]}"
        zl_wait_exit zl-proxyd 10 && [ "$ZL_STATUS" = 0 ]
}
# At SIGTERM, a request in flight is still answered (Connection: close), an idle connection
# closes at once, a new one is refused, and the daemon exits once the request is done.
held_start s1 $phttp
idle_start s1 $phttp
kill -TERM "${ZL_PID[zl-proxyd]}"
zl_wait_file_grep "$ZL_TMP/idle-s1" "closed=True after 0" 2 &&
        zl_ok "SIGTERM: an idle keep-alive connection is closed at once" ||
        zl_not_ok "SIGTERM: an idle keep-alive connection is closed at once" \
                "$(cat "$ZL_TMP/idle-s1")"
code=$(curl -sS -o /dev/null -w '%{http_code}' "$url/late" 2> /dev/null)
[ "$code" = 000 ] && kill -0 "${ZL_PID[zl-proxyd]}" 2> /dev/null &&
        zl_ok "SIGTERM: while a request finishes, a new connection is refused" ||
        zl_not_ok "SIGTERM: while a request finishes, a new connection is refused" "$code"
release s1
eval "wait \$held_s1" &&
        zl_ok "SIGTERM: the request in flight ends 200 with Connection: close" ||
        zl_not_ok "SIGTERM: the request in flight ends 200 with Connection: close" \
                "$(cat "$ZL_TMP/held-s1")"
zl_wait_exit zl-proxyd 10 && [ "$ZL_STATUS" = 0 ] && zl_ok "SIGTERM stops it with status 0" ||
        zl_not_ok "SIGTERM stops it with status 0" "status $ZL_STATUS"
# HSTS off from the next start.
sed -i 's/^hsts_max_age = 600$/hsts_max_age = 0/' "$ZL_TMP/proxyd.conf"
plow=$((600 + RANDOM % 300))
low_routes() {
        printf 'routes:\n  - {name: low, listen: "127.0.0.1:%s", backends: ["127.0.0.1:%s"]}\n' \
                $plow $pa > "$ZL_TMP/low.yaml"
        "$zlctl" proxy apply "$ZL_TMP/low.yaml" --owner low 2>&1
}
if start_proxyd setpriv --bounding-set=-all,+net_bind_service; then
        out=$(low_routes)
        code=$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$plow/")
        [ "$code" = 200 ] && zl_ok "with only CAP_NET_BIND_SERVICE it serves port $plow" ||
                zl_not_ok "with only CAP_NET_BIND_SERVICE it serves port $plow" "$out" "$code"
        "$zlctl" proxy clear low
        code=$(curl -sS -o /dev/null -w '%{http_code}' "$url/again")
        n=$("$zlctl" proxy routes --output json | json "len(d)")
        [ "$code" = 200 ] && [ "$n" = $((5 + have_tls)) ] &&
                zl_ok "after a restart the same routes serve" ||
                zl_not_ok "after a restart the same routes serve" "code $code, $n routes"
        if [ $have_tls = 1 ]; then
                s=$(subject secure.test)
                [[ "$s" == *"CN = secure.test"* ]] &&
                        zl_ok "after a restart the added certificate is served" ||
                        zl_not_ok "after a restart the added certificate is served" "$s"
                out=$(curl -sS -o /dev/null -D - --cacert "$ZL_TMP/tls.crt" \
                        --resolve secure.test:$ptls:127.0.0.1 "https://secure.test:$ptls/" |
                        tr -d '\r')
                [[ "$out" == "HTTP/"*" 200"* ]] && ! grep -i "^strict-transport-security" \
                        <<< "$out" > /dev/null && zl_ok "hsts_max_age = 0: no HSTS header" ||
                        zl_not_ok "hsts_max_age = 0: no HSTS header" "$out"
        fi
else
        zl_not_ok "zl-proxyd starts again" "$(cat "$ZL_TMP/zl-proxyd/log")"
fi
# Without it, a port below 1024 is refused by name and nothing changes.
stop_proxyd
if start_proxyd setpriv --bounding-set=-all; then
        out=$(low_routes)
        [[ "$out" == *"route 'low', field 'listen': cannot listen on 127.0.0.1:$plow"* ]] &&
                [[ "$out" == *"org.zlayer.Error.PermissionDenied"* ]] &&
                zl_ok "without CAP_NET_BIND_SERVICE port $plow is PermissionDenied" ||
                zl_not_ok "without CAP_NET_BIND_SERVICE port $plow is PermissionDenied" "$out"
else
        zl_not_ok "zl-proxyd starts without capabilities" "$(cat "$ZL_TMP/zl-proxyd/log")"
fi

# ---- clear -----------------------------------------------------------------------------------
zl_check "zlctl proxy clear" "$zlctl" proxy clear other
code=$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$((base + 12))/" 2>/dev/null)
[ "$code" = 000 ] && zl_ok "its listener is closed" || zl_not_ok "its listener is closed" "$code"
out=$("$zlctl" proxy clear other 2>&1)
[ $? = 1 ] && [[ "$out" == *"org.zlayer.Error.NotFound"* ]] &&
        zl_ok "clearing an owner without routes is NotFound" ||
        zl_not_ok "clearing an owner without routes is NotFound" "$out"
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$zlctl" proxy clear tests 2>&1)
[[ "$out" == *"org.zlayer.Error.PermissionDenied"* ]] &&
        zl_ok "only root changes routes" || zl_not_ok "only root changes routes" "$out"
n=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$zlctl" proxy routes --output json |
        json "len(d)")
[ "$n" = $((4 + have_tls)) ] && zl_ok "anyone lists them" || zl_not_ok "anyone lists them" "$n"

# ---- access log to the journal ----------------------------------------------------------------
# In a mount namespace of its own, /run is a tmpfs whose /run/systemd/journal/socket is ours: the
# entries sd_journal_send() makes are read back without a journald.
stop_proxyd
if command -v unshare > /dev/null; then
        sed 's|^access_log = .*|access_log = journal|' "$ZL_TMP/proxyd.conf" \
                > "$ZL_TMP/journal.conf"
        out=$(ZL_TMP=$ZL_TMP ZLAYER_PROXYD_CONFIG=$ZL_TMP/journal.conf \
                unshare --mount --propagation private bash -c '
set -u
mount -t tmpfs zl-proxyd-test /run && mkdir -p /run/systemd/journal || exit 77
"$0" - << "PY" > "$ZL_TMP/journal" 2>&1 &
import socket
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/run/systemd/journal/socket")
print("ready", flush=True)
while True:
    print(s.recv(65536).decode(errors="replace").replace("\n", " | "), flush=True)
PY
listener=$!
for _ in $(seq 50); do grep -q ready "$ZL_TMP/journal" && break; sleep 0.1; done
"$1" --state-dir="$ZL_TMP/zl-proxyd/state" --runtime-dir="$ZL_TMP/zl-proxyd/run" \
        > "$ZL_TMP/journal-daemon.log" 2>&1 &
daemon=$!
for _ in $(seq 100); do
        curl -s -o /dev/null "$3/journal" && break
        sleep 0.1
done
for _ in $(seq 30); do grep -q "ZL_PROXY_PATH=/journal" "$ZL_TMP/journal" && break; sleep 0.1; done
kill $daemon; wait $daemon
kill $listener
grep -F "ZL_PROXY_PATH=/journal" "$ZL_TMP/journal"' "$py" "$proxyd" "$zlctl" "$url" 2>&1)
        rc=$?
        if [ $rc = 77 ]; then
                zl_ok "access log to the journal # SKIP cannot mount in a namespace"
        elif [[ "$out" == *"ZL_EVENT=proxy-request"* ]] && [[ "$out" == *"ZL_PROXY_ROUTE=web"* ]] &&
             [[ "$out" == *"ZL_PROXY_STATUS=200"* ]] && [[ "$out" == *"TRACEPARENT=00-"* ]] &&
             [[ "$out" == *'MESSAGE={"time":'* ]]; then
                zl_ok "access_log = journal: one entry per request with its fields"
        else
                zl_not_ok "access_log = journal: one entry per request with its fields" "$out" \
                        "$(cat "$ZL_TMP/journal-daemon.log")"
        fi
fi

zl_done
