#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# 080-shutdown: SIGTERM under load ends trackerd with status 0 within 5 s,
# with every child gone and the control socket removed; SIGINT too; and
# when the supervisor is SIGKILLed its children die with it.
. "$(dirname "$0")/lib.sh"

run() {
	local flood t0 t1
	start_daemon "$1" "$2"
	udptc "$A4" flood 4 >"$T/flood.out" &
	flood=$!
	wait_until 5 sh -c "[ \$('$CTL' -s '$SOCK' stats | sed -n 's/^total.ipv4.rx_packets=//p') -gt 500 ]" ||
		fail "the load does not arrive"
	t0=$(now_ms)
	stop_daemon # SIGTERM; checks exit 0 within 5 s and that no child is left
	t1=$(now_ms)
	log "stopped in $((t1 - t0)) ms under load"
	[ ! -e "$SOCK" ] || fail "control socket left behind"
	grep -q 'stopping' "$LOG" || fail "no shutdown message"
	kill "$flood" 2>/dev/null
	wait "$flood" 2>/dev/null

	# SIGINT (Ctrl-C on a terminal) is a clean stop as well.
	start_daemon "$1" "$2"
	kill -INT "$PID"
	wait_until 5 sh -c "! kill -0 $PID" || fail "no exit after SIGINT"
	wait "$PID"
	[ $? -eq 0 ] || fail "exit status after SIGINT is not 0"
	for c in $CHILDREN; do
		kill -0 "$c" 2>/dev/null && fail "child $c left after SIGINT"
	done
	PID=

	# The supervisor killed outright: its children die with it
	# (PR_SET_PDEATHSIG), and the next start takes over the stale socket file.
	start_daemon "$1" "$2"
	kill -KILL "$PID"
	wait "$PID" 2>/dev/null
	for c in $CHILDREN; do
		wait_until 5 sh -c "! kill -0 $c 2>/dev/null" || fail "child $c outlived a killed supervisor"
	done
	PID=
	start_daemon "$1" "$2"
	ctl status >/dev/null || fail "no control socket after a restart over a stale one"
	stop_daemon
}

for_each_config run
echo "ok"
