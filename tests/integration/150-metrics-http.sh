#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# 150-metrics-http: the HTTP metrics endpoint of the real daemon. /metrics
# parsed with the Prometheus text parser (python3-prometheus-client) and
# compared with "trackerctl metrics"; / is the statistics page; other
# paths and methods are refused; stats_html_path is written; the endpoint
# comes back after a reload.
. "$(dirname "$0")/lib.sh"

PY=
for p in /usr/bin/python3 python3; do
	if "$p" -c 'import prometheus_client.parser' 2>/dev/null; then
		PY=$p
		break
	fi
done
[ -n "$PY" ] || skip "python3 with prometheus_client not found (Debian: python3-prometheus-client)"

WWW=$T/www
mkdir -p "$WWW"
TRACKER_URL='udp://tracker.test.invalid:6969/announce?a=1&b=<x>'

# http METHOD PATH: print "STATUS CONTENT-TYPE" then the body, to stdout.
http() {
	"$PY" - "$HTTP_PORT" "$1" "$2" <<'EOF'
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=5)
c.request(sys.argv[2], sys.argv[3])
r = c.getresponse()
body = r.read().decode("utf-8")
print(r.status, r.getheader("Content-Type"))
sys.stdout.write(body)
EOF
}

# metrics_check FILE ANNOUNCES: parse FILE with the Prometheus parser and
# check the figures the test produced; prints the number of families.
metrics_check() {
	"$PY" - "$1" "$2" <<'EOF'
import sys
from prometheus_client.parser import text_string_to_metric_families
text = open(sys.argv[1]).read()
want = int(sys.argv[2])
fams = {f.name: f for f in text_string_to_metric_families(text)}
def sample(name, **labels):
    for f in fams.values():
        for s in f.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    sys.exit("no sample %s%s" % (name, labels))
assert fams["trackerd_requests"].type == "counter", fams["trackerd_requests"].type
assert sample("trackerd_requests_total", family="ipv4", action="announce") == want
assert sample("trackerd_requests_total", family="ipv4", action="connect") >= 1
assert sample("trackerd_drops_total", family="ipv4", reason="short") >= 1
assert sample("trackerd_torrents") == 2
assert sample("trackerd_peers", family="ipv4") == 3
assert sample("trackerd_workers") == 1
assert fams["trackerd_peers"].type == "gauge"
assert sample("trackerd_received_bytes_total", family="ipv4") > 0
assert sample("trackerd_capacity_torrents") == 20000
for f in fams.values():
    assert f.name.startswith("trackerd_"), f.name
    if f.type == "counter":
        assert all(s.name.endswith("_total") for s in f.samples), f.name
print(len(fams))
EOF
}

# Names and labels of every sample (values change between two scrapes).
shape() { grep -v '^#' "$1" | sed 's/ [^ ]*$//' | sort; }

start_with_http() {
	local try
	for try in 1 2 3 4 5; do
		HTTP_PORT=$((20000 + RANDOM % 40000))
		start_daemon mmsg 1 -o "metrics_listen=127.0.0.1:$HTTP_PORT" \
			-o "tracker_url=$TRACKER_URL" -o "homepage_url=https://home.test.invalid/" \
			-o "stats_html_path=$WWW/index.html" -o stats_interval=1
		if wait_until 10 http GET /metrics; then
			return 0
		fi
		grep -q 'metrics' "$LOG" && grep -qi 'in use' "$LOG" || \
			fail "the metrics endpoint on 127.0.0.1:$HTTP_PORT does not answer"
		stop_daemon
		log "port $HTTP_PORT is taken, trying another one"
	done
	fail "no free port for the metrics endpoint"
}

start_with_http
h=$(ih 150)
udptc "$A4" announce "$h" 7001 0 started 0 >/dev/null || fail announce
udptc "$A4" announce "$h" 7002 10 started 0 >/dev/null || fail announce
udptc "$A4" announce "$(ih 151)" 7003 10 started 0 >/dev/null || fail announce
udptc -t 200 -r 1 "$A4" raw 00 >/dev/null 2>&1 # a short datagram: a drop, no reply

out=$(http GET /metrics) || fail "GET /metrics failed"
head=$(echo "$out" | head -n 1)
[ "$head" = "200 text/plain; version=0.0.4; charset=utf-8" ] || fail "GET /metrics: $head"
echo "$out" | tail -n +2 >"$T/http.txt"
# The drop is counted by the worker; wait until the fold shows it.
wait_until 5 sh -c "'$CTL' -s '$SOCK' metrics | grep -q '^trackerd_drops_total{family=\"ipv4\",reason=\"short\"} [1-9]'" ||
	fail "the short datagram was not counted as a drop"
http GET /metrics | tail -n +2 >"$T/http.txt"
n=$(metrics_check "$T/http.txt" 3) || fail "GET /metrics: $n"
log "GET /metrics: $n metric families parsed"

ctl metrics >"$T/ctl.txt" || fail "trackerctl metrics failed"
n=$(metrics_check "$T/ctl.txt" 3) || fail "trackerctl metrics: $n"
[ "$(shape "$T/http.txt")" = "$(shape "$T/ctl.txt")" ] ||
	fail "GET /metrics and trackerctl metrics differ: $(diff <(shape "$T/http.txt") <(shape "$T/ctl.txt") | head)"
diff <(grep '^#' "$T/http.txt") <(grep '^#' "$T/ctl.txt") >/dev/null ||
	fail "GET /metrics and trackerctl metrics have different HELP/TYPE lines"

out=$(http GET /) || fail "GET / failed"
head=$(echo "$out" | head -n 1)
[ "$head" = "200 text/html; charset=utf-8" ] || fail "GET /: $head"
for want in '<!DOCTYPE html>' 'name="viewport"' '<section id="overview">' \
	'<section id="traffic">' '<section id="errors">' '<section id="capacity">' \
	'<section id="cleaning">' '<section id="operations">' '<section id="histogram">' \
	'<section id="workers">' 'udp://tracker.test.invalid:6969/announce?a=1&amp;b=&lt;x&gt;' \
	'href="https://home.test.invalid/"' '<b>2</b><span>torrents</span>' \
	'<b>3</b><span>peers</span>'; do
	echo "$out" | grep -qF -- "$want" || fail "GET /: no '$want' on the page"
done
echo "$out" | grep -qF '<x>' && fail "GET /: tracker_url not escaped"

[ "$(http GET /nope | head -n 1 | cut -d' ' -f1)" = 404 ] || fail "GET /nope is not 404"
[ "$(http POST /metrics | head -n 1 | cut -d' ' -f1)" = 405 ] || fail "POST /metrics is not 405"
[ "$(http HEAD / | head -n 1)" = "200 text/html; charset=utf-8" ] || fail "HEAD / failed"

# The page file, replaced atomically every stats_interval.
wait_until 10 test -s "$WWW/index.html" || fail "stats_html_path was not written"
grep -qF '<section id="workers">' "$WWW/index.html" || fail "stats_html_path: not the page"
# (a write may be under way at any moment: wait for a quiet instant)
wait_until 5 sh -c "[ \$(ls '$WWW' | wc -l) -eq 1 ]" ||
	fail "stats_html_path: temporary files left: $(ls "$WWW")"

# After a reload the new control process serves the endpoint again.
ctl reload >/dev/null || fail "reload failed"
wait_until 10 grep -q 'reloaded: generation 2' "$LOG" || fail "no reload in the log"
wait_until 10 sh -c "'$CTL' -s '$SOCK' workers | grep -q 'generation=2'" || fail "no generation 2"
wait_until 10 http GET /metrics || fail "the endpoint did not come back after the reload"
http GET /metrics | grep -q '^trackerd_reloads_total 1$' || fail "trackerd_reloads_total is not 1 after a reload"

CHILDREN=$(children_of "$PID")
stop_daemon
echo "ok"
