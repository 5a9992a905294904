#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# 100-socket-activation: trackerd started by systemd-socket-activate uses the
# inherited control, udp4 and udp6 sockets instead of its configured ones
# (and says so), serves both families on them, every worker of a shared
# inherited socket receives traffic (and with one inherited socket per
# worker, each worker serves its own), and fds whose name does not match
# their kind are logged and closed while trackerd falls back to its config.
# Only the control process holds the control socket.
. "$(dirname "$0")/sd-lib.sh"

# per_worker_rx FAMILY: "slot=value" for each live worker's rx_packets.
per_worker_rx() {
	ctl stats | sed -n "s/^worker\.\([0-9]*\)\.$1\.rx_packets=/\1=/p"
}

run() {
	local backend=$1 addr h out fam n line p ctlino
	write_conf workers=2
	sd_start -o "io_backend=$backend"
	log "=== inherited sockets, io_backend=$backend"

	grep -q "using inherited control fd 3 ($SOCK)" "$LOG" || bad "$backend: inherited control socket not logged"
	grep -q "using inherited udp4 fd 4 (127.0.0.1:$PORT)" "$LOG" || bad "$backend: inherited udp4 socket not logged"
	if [ "$HAVE_V6" = 1 ]; then
		grep -q "using inherited udp6 fd 5 (\[::1\]:$PORT)" "$LOG" ||
			bad "$backend: inherited udp6 socket not logged"
	fi
	# The configured sockets are not opened.
	[ -e "$DECOY_SOCK" ] && bad "$backend: the configured control socket was created too"
	grep -q "listening on udp .*:$DECOY" "$LOG" && bad "$backend: the configured port $DECOY was bound too"
	out=$("$UDPTC" -t 300 -r 1 "127.0.0.1:$DECOY" connect)
	[ $? -eq 1 ] || bad "$backend: the configured port $DECOY answers: $out"

	# The control socket is served by the control process, never a worker.
	ctlino=$(readlink "/proc/$PID/fd/3")
	case $ctlino in socket:*) ;; *) bad "$backend: fd 3 of trackerd is not the control socket: $ctlino" ;; esac
	for p in $(worker_pids); do
		ls -l "/proc/$p/fd" 2>/dev/null | grep -qF "$ctlino" &&
			bad "$backend: worker $p holds the control socket"
	done
	n=0
	for p in $(children_of "$PID"); do
		ls -l "/proc/$p/fd" 2>/dev/null | grep -qF "$ctlino" && n=$((n + 1))
	done
	[ "$n" -eq 1 ] || bad "$backend: $n children hold the control socket, expected the control process alone"

	# Both families on the inherited sockets, peers stored and returned.
	for addr in "${ADDRS[@]}"; do
		h=$(fh "$addr" 100)
		udptc "$addr" announce "$h" 7001 0 started 0 >/dev/null || bad "$backend: announce on $addr"
		out=$(udptc "$addr" announce "$h" 7002 10 started 10)
		echo "$out" | grep -Eq "leechers=1 seeders=1 npeers=1 peers=$(peer "$addr" 7001)\$" ||
			bad "$backend: announce on $addr: $out"
	done
	out=$(ctl status)
	echo "$out" | grep -qx "peers=$((2 * ${#ADDRS[@]}))" || bad "$backend: status after the announces: $out"
	echo "$out" | grep -qx "workers=2" || bad "$backend: status: $out"

	# Two workers share each inherited socket: both must get datagrams.
	for addr in "${ADDRS[@]}"; do
		udptc "$addr" flood 1 >"$T/flood.out" || bad "$backend: flood on $addr"
		log "load on $addr: $(cat "$T/flood.out")"
	done
	for addr in "${ADDRS[@]}"; do
		fam=$(fam "$addr")
		out=$(per_worker_rx "$fam")
		n=0
		for line in $out; do
			n=$((n + 1))
			[ "${line#*=}" -gt 0 ] || bad "$backend: worker slot ${line%%=*} received nothing on $fam: $out"
		done
		[ "$n" -eq 2 ] || bad "$backend: $n per-worker $fam blocks, expected 2: $out"
		log "$fam datagrams per worker slot: $(echo $out)"
	done
	sd_stop
}

# One inherited socket per worker and family, all in one SO_REUSEPORT group
# (ListenDatagram= repeated with ReusePort=yes): the kernel spreads clients
# over the sockets by their address and port, and each worker serves its
# own socket, so clients from many ports reach every worker. With more
# sockets than workers, every socket must still be served.
per_worker_sockets() {
	local addr fam out line n i
	write_conf workers=2
	SD_SOCKETS=2
	sd_start
	SD_SOCKETS=1
	log "=== one inherited socket per worker"
	[ "$(grep -c "using inherited udp4 fd [0-9]* (127.0.0.1:$PORT)" "$LOG")" -eq 2 ] ||
		bad "per-worker sockets: two inherited udp4 sockets not logged: $(grep inherited "$LOG")"
	if [ "$HAVE_V6" = 1 ]; then
		[ "$(grep -c "using inherited udp6 fd [0-9]* (\[::1\]:$PORT)" "$LOG")" -eq 2 ] ||
			bad "per-worker sockets: two inherited udp6 sockets not logged"
	fi
	# 40 clients per family, each from its own port (1 in 2^39 that one
	# socket of the group gets them all).
	for addr in "${ADDRS[@]}"; do
		for i in $(seq 1 40); do
			udptc "$addr" connect >/dev/null || bad "per-worker sockets: connect $i on $addr"
		done
	done
	for addr in "${ADDRS[@]}"; do
		fam=$(fam "$addr")
		out=$(per_worker_rx "$fam")
		n=0
		for line in $out; do
			n=$((n + 1))
			[ "${line#*=}" -gt 0 ] || bad "per-worker sockets: worker slot ${line%%=*} received nothing on $fam: $out"
		done
		[ "$n" -eq 2 ] || bad "per-worker sockets: $n per-worker $fam blocks, expected 2: $out"
		log "$fam datagrams per worker slot: $(echo $out)"
	done
	out=$(udptc "$A4" announce "$(fh "$A4" 101)" 7001 0 started 5) || bad "per-worker sockets: announce: $out"
	sd_stop

	# More inherited sockets than workers (say ListenDatagram= repeated
	# for 4 CPUs, workers = 1): every socket must still be read.
	write_conf workers=1
	SD_SOCKETS=3
	sd_start
	SD_SOCKETS=1
	log "=== three inherited sockets per family, one worker"
	for addr in "${ADDRS[@]}"; do
		n=$(unanswered "$addr" 30)
		[ "$n" -eq 0 ] || bad "3 inherited sockets, 1 worker: $n of 30 clients on $addr got no answer (a socket nobody reads)"
	done
	sd_stop
}

# A udp4 socket named udp6 and one with an unknown name: both are closed
# with a message, trackerd binds its configured address instead.
wrong_names() {
	local p1 p2 own try out
	write_conf workers=1
	for try in 1 2 3 4 5 6; do
		p1=$((20000 + RANDOM % 40000))
		p2=$((p1 + 1))
		own=$((20000 + RANDOM % 40000))
		: >"$LOG"
		"$SSA" --datagram -l "127.0.0.1:$p1" -l "127.0.0.1:$p2" --fdname=udp6:bogus -- \
			"$TRACKERD" -c "$CONF" -o user=root -o "state_directory=$T/state" \
			-o "listen_ipv4=127.0.0.1:$own" -o listen_ipv6=none \
			-o "control_socket=$SOCK" 2>>"$LOG" &
		PID=$!
		wait_until 5 grep -q "Listening on 127.0.0.1:$p2" "$LOG" && break
		wait "$PID" 2>/dev/null
		PID=
	done
	[ -n "$PID" ] || fail "systemd-socket-activate did not start"
	# A datagram starts trackerd (it is lost with the closed socket).
	"$UDPTC" -t 200 -r 1 "127.0.0.1:$p1" connect >/dev/null
	wait_until 10 grep -q "listening on udp 127\.0\.0\.1:$own" "$LOG" ||
		fail "trackerd did not fall back to its configured address"
	grep -q "closing inherited fd 3 named 'udp6' (127.0.0.1:$p1): wrong kind of fd" "$LOG" ||
		bad "a udp4 socket named udp6 was not rejected with a message"
	grep -q "closing inherited fd 4 named 'bogus'.*unknown name" "$LOG" ||
		bad "an fd with an unknown name was not rejected with a message"
	udptc wait "127.0.0.1:$own" 10 >/dev/null || bad "no answer on the configured address"
	out=$("$UDPTC" -t 300 -r 1 "127.0.0.1:$p1" connect)
	[ $? -eq 1 ] || bad "the rejected socket still answers: $out"
	wait_until 10 workers_up 1 || bad "no worker on the configured address"
	CHILDREN=$(children_of "$PID")
	stop_daemon
}

ran=0
for backend in io_uring mmsg; do
	if [ "$backend" = io_uring ] && ! uring_works; then
		log "io_uring is not available here: skipping that pass"
		continue
	fi
	run "$backend"
	ran=$((ran + 1))
done
[ "$ran" -gt 0 ] || skip "no I/O backend could run"
if command -v python3 >/dev/null 2>&1; then
	per_worker_sockets
else
	log "python3 not found: one socket per worker not tested"
fi
wrong_names
finish
