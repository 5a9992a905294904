#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# 070-crash: SIGKILL a worker under load. The supervisor logs the signal and
# restarts it, the peers announced before are still returned (the table
# lives in the shared segment), and the tracker keeps answering.
. "$(dirname "$0")/lib.sh"

run() {
	local h addr victim flood got
	start_daemon "$1" "$2"
	for addr in "${ADDRS[@]}"; do
		h=$(ih "7070$(fam "$addr" | tr -dc 0-9)")
		udptc "$addr" announce "$h" 7001 0 started 0 >/dev/null || fail announce
		udptc "$addr" announce "$h" 7002 10 started 0 >/dev/null || fail announce
	done
	udptc "$A4" flood 3 >"$T/flood.out" &
	flood=$!
	wait_until 5 sh -c "[ \$('$CTL' -s '$SOCK' stats | sed -n 's/^total.ipv4.announce=//p') -gt 200 ]" ||
		fail "the load does not arrive"
	victim=$(ctl workers | sed -n '1s/.* pid=\([0-9]*\) .*/\1/p')
	[ -n "$victim" ] || fail "no worker pid in: $(ctl workers)"
	log "killing worker pid $victim"
	kill -KILL "$victim" || fail "cannot kill $victim"
	wait_until 10 grep -q "(pid $victim) killed by signal 9" "$LOG" || fail "the crash was not logged"
	wait_until 10 grep -q "restarting in" "$LOG" || fail "no restart logged"
	# Back to full strength, without the dead pid, the slot's restart counted.
	wait_until 10 sh -c "'$CTL' -s '$SOCK' workers | grep -c '^slot=' | grep -qx $2 &&
		! '$CTL' -s '$SOCK' workers | grep -q ' pid=$victim '" ||
		fail "the worker was not restarted: $(ctl workers)"
	ctl workers | grep -q 'restarts=1' || fail "restart not counted: $(ctl workers)"
	for addr in "${ADDRS[@]}"; do
		h=$(ih "7070$(fam "$addr" | tr -dc 0-9)")
		expect_reply "leechers=2 seeders=1 npeers=2 peers=$(peer "$addr" 7001),$(peer "$addr" 7002)\$" \
			"$addr" announce "$h" 7003 10 started 5 >/dev/null
		alive "$addr"
	done
	wait "$flood"
	got=$(sed -n 's/.*received=\([0-9]*\).*/\1/p' "$T/flood.out")
	[ "${got:-0}" -gt 0 ] || fail "no reply under load: $(cat "$T/flood.out")"
	log "load: $(cat "$T/flood.out")"
	CHILDREN=$(children_of "$PID")
	stop_daemon
}

for_each_config run
echo "ok"
