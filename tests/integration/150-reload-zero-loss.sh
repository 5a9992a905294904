#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# 150-reload-zero-loss: no datagram is lost across reloads (and a restart
# through the FD store) under load.
# trackerbench drives both families (a closed window of requests, every
# reply checked) while the daemon reloads three times: trackerctl reload,
# SIGHUP with a worker count change, and back. Every request sent in the
# measured window must be answered: lost, late, invalid, error replies and
# socket errors all zero, replies per second equal to requests per second.
# Run socket-activated on each I/O backend (workers share the inherited
# sockets) and on trackerd's own sockets (one per worker), after a baseline
# run without reloads that shows the load itself loses nothing here. The
# socket-activated daemon is then restarted through the FD store under the
# same load: the sockets stay open in the service manager meanwhile, so
# nothing may be lost either.
. "$(dirname "$0")/sd-lib.sh"

BENCH=$O/trackerbench
[ -x "$BENCH" ] || { echo "missing $BENCH (build it first: make O=$O)"; exit 1; }
BENCHES=
bench_cleanup() {
	local p
	for p in $BENCHES; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	sd_cleanup
}
trap bench_cleanup EXIT

# bench_start NAME SECONDS: one trackerbench per address, in the background,
# --poll so the load does not spin on the CPUs the daemon needs.
bench_start() {
	local name=$1 secs=$2 addr i=0
	BENCHES=
	for addr in "${ADDRS[@]}"; do
		i=$((i + 1))
		"$BENCH" --poll -j 1 -w 1 -d "$secs" -t 2000 -P 2000 -T 500 --seed "$((150 + i))" \
			--progress "$addr" >"$T/$name.$i.out" 2>"$T/$name.$i.progress" &
		BENCHES="$BENCHES $!"
	done
}

# bench_measuring NAME: every load generator is past its warm-up second.
bench_measuring() {
	local i
	for i in $(seq 1 ${#ADDRS[@]}); do
		grep -q '^t=1 ' "$T/$1.$i.progress" || return 1
	done
}

benches_running() {
	local p
	for p in $BENCHES; do
		kill -0 "$p" 2>/dev/null || return 1
	done
}

# bench_check NAME WHAT: wait for the generators, then require zero loss.
bench_check() {
	local name=$1 what=$2 p i last k v req resp dur
	for p in $BENCHES; do
		wait_until 30 sh -c "! kill -0 $p 2>/dev/null" || fail "$what: trackerbench did not finish"
		wait "$p" || bad "$what: trackerbench exited $?"
	done
	BENCHES=
	for i in $(seq 1 ${#ADDRS[@]}); do
		last=$(tail -n 1 "$T/$name.$i.out")
		log "$what, ${ADDRS[$((i - 1))]}: $last"
		case $last in responses_per_s=*) ;; *)
			bad "$what: no trackerbench result: $(tail -n 5 "$T/$name.$i.out" "$T/$name.$i.progress")"
			continue ;;
		esac
		for k in lost late invalid errors sock_errors interrupted; do
			v=$(echo "$last" | sed -n "s/.* $k=\([0-9]*\).*/\1/p")
			[ "$v" = 0 ] || bad "$what, ${ADDRS[$((i - 1))]}: $k=$v"
		done
		req=$(echo "$last" | sed -n 's/.* requests_per_s=\([0-9]*\).*/\1/p')
		resp=$(echo "$last" | sed -n 's/^responses_per_s=\([0-9]*\).*/\1/p')
		# Rates over the measured window: the requests in flight when it
		# opens are answered inside it, so the two differ by at most the
		# window (128 requests), plus rounding: at most 128 + duration.
		dur=$(echo "$last" | sed -n 's/.* duration_s=\([0-9]*\).*/\1/p')
		[ -n "$req" ] && [ -n "$resp" ] && [ "${dur:-0}" -gt 0 ] &&
			[ $(((req - resp) * dur)) -le $((128 + dur)) ] &&
			[ $(((resp - req) * dur)) -le $((128 + dur)) ] ||
			bad "$what, ${ADDRS[$((i - 1))]}: $req requests/s but $resp replies/s over ${dur:-?} s"
		[ "${resp:-0}" -gt 1000 ] || bad "$what: only ${resp:-0} replies/s: not a load"
		# Where it went wrong, the second it happened.
		grep -E 'lost=[1-9]|late=[1-9]|errors=[1-9]|invalid=[1-9]' "$T/$name.$i.progress" | head -n 5 |
			sed "s/^/# ${ADDRS[$((i - 1))]} /"
	done
}

# all_generation G: every live worker belongs to generation G.
all_generation() {
	local out
	out=$(ctl workers) || return 1
	[ -n "$out" ] && ! echo "$out" | grep -qv " generation=$1 "
}

# reload_under_load WHAT HUP: three reloads while the load runs; the last
# one must be over before the load ends, or nothing was measured.
reload_under_load() {
	local what=$1 hup=$2 g
	g=$(ctl status | sed -n 's/^generation=//p')
	bench_start reload 5
	wait_until 10 bench_measuring reload || fail "$what: the load did not start"

	ctl reload >/dev/null || bad "$what: trackerctl reload failed"
	wait_until 10 all_generation $((g + 1)) || bad "$what: generation $((g + 1)) did not take over"

	write_conf workers=3
	if [ "$hup" = mgr ]; then kill -HUP "$MGR"; else kill -HUP "$PID"; fi
	wait_until 10 all_generation $((g + 2)) || bad "$what: generation $((g + 2)) did not take over"

	write_conf workers=2
	ctl reload >/dev/null || bad "$what: trackerctl reload failed"
	wait_until 10 all_generation $((g + 3)) || bad "$what: generation $((g + 3)) did not take over"
	benches_running || bad "$what: the reloads outlasted the load: nothing was measured"
	log "$what: 3 reloads done under load: $(ctl workers | wc -l) workers, generation $((g + 3))"
	bench_check reload "$what"
}

# restart_under_load WHAT: "systemctl restart" through the FD store while
# the load runs: the sockets stay with the service manager, so requests
# wait in them and are answered by the next trackerd.
restart_under_load() {
	local what=$1
	bench_start restart 3
	wait_until 10 bench_measuring restart || fail "$what: the load did not start"
	sd_restart
	grep -q "trackerd\[$PID\].*re-attached the stored segment" "$LOG" ||
		bad "$what: the stored segment was not re-attached"
	benches_running || bad "$what: the restart outlasted the load: nothing was measured"
	log "$what: restarted under load, pid $PID"
	bench_check restart "$what"
}

ran=0
for backend in io_uring mmsg; do
	if [ "$backend" = io_uring ] && ! uring_works; then
		log "io_uring is not available here: skipping that pass"
		continue
	fi
	write_conf workers=2
	sd_start -o "io_backend=$backend"
	if [ "$ran" = 0 ]; then
		bench_start base 2
		bench_check base "baseline without reload ($backend)"
		[ "$FAILS" = 0 ] || fail "the load alone loses replies here: the reload runs would measure nothing"
	fi
	reload_under_load "socket-activated, $backend" mgr
	restart_under_load "FD-store restart, $backend"
	sd_stop
	ran=$((ran + 1))
done
[ "$ran" -gt 0 ] || skip "no I/O backend could run"

write_conf workers=2
plain_start
reload_under_load "own sockets" pid
CHILDREN="$CHILDREN $(children_of "$PID")"
stop_daemon
finish
