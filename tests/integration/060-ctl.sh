#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# 060-ctl: every trackerctl command against the running daemon: status,
# stats (totals, per worker, shm gauges), metrics, workers, torrent, top,
# version, help, reload, and the reserved commands of later issues.
. "$(dirname "$0")/lib.sh"

run() {
	local out h n st
	start_daemon "$1" "$2" -o stats_interval=1
	h=$(ih 6060)
	udptc "$A4" announce "$h" 7001 0 started 0 >/dev/null || fail announce
	udptc "$A4" announce "$h" 7002 10 started 0 >/dev/null || fail announce
	udptc "$A4" announce "$(ih 6061)" 7001 10 started 0 >/dev/null || fail announce

	out=$(ctl status) || fail "status failed"
	echo "$out" | grep -qx "workers=$2" || fail "status: workers: $out"
	echo "$out" | grep -qx 'torrents=2' || fail "status: torrents: $out"
	echo "$out" | grep -qx 'peers=3' || fail "status: peers: $out"
	echo "$out" | grep -qx "pid=$PID" || fail "status: pid: $out"

	out=$(ctl stats) || fail "stats failed"
	echo "$out" | grep -q '^total\.ipv4\.announce=3$' || fail "stats: total announce: $(echo "$out" | grep announce=)"
	echo "$out" | grep -q '^total\.ipv6\.rx_packets=' || fail "stats: no ipv6 family"
	echo "$out" | grep -qx 'shm.torrents=2' || fail "stats: shm.torrents"
	echo "$out" | grep -qx 'shm.peers4=3' || fail "stats: shm.peers4"
	# Per-worker lines for each live worker, and they add up to the total.
	n=$(echo "$out" | grep -c '^worker\.[0-9]*\.ipv4\.announce=')
	[ "$n" -eq "$2" ] || fail "stats: $n per-worker blocks, expected $2"
	n=$(echo "$out" | sed -n 's/^worker\.[0-9]*\.ipv4\.announce=//p' | awk '{ s += $1 } END { print s }')
	[ "$n" -eq 3 ] || fail "stats: per-worker announces add up to $n"

	out=$(ctl metrics) || fail "metrics failed"
	echo "$out" | grep -q '^trackerd_requests_total{family="ipv4",action="announce"} 3$' ||
		fail "metrics: announce"
	echo "$out" | grep -Eq '^# TYPE trackerd_requests(_total)? counter$' || fail "metrics: TYPE"
	echo "$out" | grep -q "^trackerd_workers $2\$" || fail "metrics: workers"

	out=$(ctl workers) || fail "workers failed"
	[ "$(echo "$out" | grep -c '^slot=')" -eq "$2" ] || fail "workers: $out"
	echo "$out" | grep -q "backend=$1" || fail "workers: backend is not $1: $out"

	out=$(ctl torrent "$h") || fail "torrent failed"
	echo "$out" | grep -qx 'seeders=1' || fail "torrent: $out"
	echo "$out" | grep -qx 'leechers=1' || fail "torrent: $out"
	ctl torrent "$(ih 6062)" >/dev/null 2>&1
	[ $? -eq 1 ] || fail "torrent of an unknown hash did not fail with status 1"

	out=$(ctl top 1) || fail "top failed"
	[ "$out" = "$h seeders=1 leechers=1 completed=0" ] || fail "top 1: $out"
	out=$(ctl top) || fail "top failed"
	[ "$(echo "$out" | wc -l)" -eq 2 ] || fail "top: $out"

	# stats_interval: a one-line summary in the log.
	wait_until 5 grep -q 'ctrl: info: stats: workers=[0-9]* torrents=2 peers=3 ' "$LOG" ||
		fail "no stats summary in the log"

	ctl version | grep -q . || fail "version"
	ctl help | grep -q 'stats' || fail "help"

	# save: a snapshot in the state directory (160-snapshot tests it in depth).
	out=$(ctl save) || fail "save failed: $out"
	echo "$out" | grep -qx "path=$T/state/snapshot.lz4" || fail "save: $out"
	[ -s "$T/state/snapshot.lz4" ] || fail "save wrote no file"

	# reload: a new generation of workers, the table untouched.
	ctl reload >/dev/null || fail "reload failed"
	wait_until 10 grep -q 'reloaded: generation 2' "$LOG" || fail "no reload in the log"
	wait_until 10 sh -c "'$CTL' -s '$SOCK' workers | grep -c 'generation=2' | grep -qx $2" ||
		fail "the new generation did not take over: $(ctl workers)"
	wait_until 10 sh -c "! '$CTL' -s '$SOCK' workers | grep -q 'generation=1'" ||
		fail "the old generation did not drain: $(ctl workers)"
	expect_reply 'leechers=1 seeders=1 npeers=1' "$A4" announce "$h" 7002 10 none 5 >/dev/null
	# Totals never go backwards across generations.
	[ "$(ctl_stat total.ipv4.announce)" -ge 4 ] || fail "totals went backwards after reload"
	CHILDREN=$(children_of "$PID")
	stop_daemon
}

for_each_config run
echo "ok"
