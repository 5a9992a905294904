#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# 130-ctl-reload: "trackerctl reload" with a good and a bad configuration.
# A good one applies without losing a peer or a socket; a bad one changes
# nothing and trackerctl itself prints the error with the file, the line and
# the key (and exits 1); a key that needs a new segment is refused by name.
# A changed worker count applies at reload, with inherited sockets (shared
# by the workers) and with trackerd's own sockets (one per worker), and
# every new worker then receives traffic; with one inherited socket per
# worker, fewer workers must still serve every socket.
. "$(dirname "$0")/sd-lib.sh"

# rx_per_live_worker FAMILY: "slot=rx_packets" of each live worker.
rx_per_live_worker() {
	ctl stats | sed -n "s/^worker\.\([0-9]*\)\.$1\.rx_packets=/\1=/p"
}

# every_worker_gets_traffic WHAT N: after a short flood and 40 clients
# from as many ports on each address (all answered), N live workers, each
# with datagrams of each family.
every_worker_gets_traffic() {
	local what=$1 want=$2 addr fam out line n
	for addr in "${ADDRS[@]}"; do
		udptc "$addr" flood 1 >/dev/null || bad "$what: flood on $addr"
		n=$(unanswered "$addr" 40)
		[ "$n" -eq 0 ] || bad "$what: $n of 40 clients on $addr got no answer"
	done
	for addr in "${ADDRS[@]}"; do
		fam=$(fam "$addr")
		out=$(rx_per_live_worker "$fam")
		n=0
		for line in $out; do
			n=$((n + 1))
			[ "${line#*=}" -gt 0 ] || bad "$what: worker slot ${line%%=*} got no $fam datagram: $(echo $out)"
		done
		[ "$n" -eq "$want" ] || bad "$what: $n live workers, expected $want: $(echo $out)"
		log "$what: $fam datagrams per worker slot: $(echo $out)"
	done
}

# change_workers FROM TO GEN: reload to TO workers; generation GEN takes over.
change_workers() {
	local from=$1 to=$2 gen=$3 what=$4 out
	write_conf workers="$to" announce_interval=900
	out=$(ctl reload 2>&1) || bad "$what: reload to $to workers failed: $out"
	if ! wait_until 10 generation_only "$gen" "$to"; then
		bad "$what: workers $from -> $to not applied by reload: $(ctl workers | tr '\n' ' ')"
		grep 'reload' "$LOG" | tail -n 3 | sed 's/^/# /'
		return
	fi
	out=$(ctl status)
	echo "$out" | grep -qx "workers=$to" || bad "$what: status after reload: $out"
	echo "$out" | grep -qx "workers_configured=$to" || bad "$what: status after reload: $out"
	for addr in "${ADDRS[@]}"; do
		out=$(udptc "$addr" announce "$(fh "$addr" 130)" 7002 10 none 5)
		echo "$out" | grep -q 'leechers=1 seeders=1 npeers=1' ||
			bad "$what: peers after the reload to $to workers, on $addr: $out"
	done
	every_worker_gets_traffic "$what, $to workers" "$to"
}

reload_checks() {
	local what=$1 out st addr
	write_conf workers=2 announce_interval=1800
	for addr in "${ADDRS[@]}"; do
		udptc "$addr" announce "$(fh "$addr" 130)" 7001 0 started 0 >/dev/null || fail "announce"
		udptc "$addr" announce "$(fh "$addr" 130)" 7002 10 started 0 >/dev/null || fail "announce"
	done

	# Good config: exit 0, applied, peers and sockets kept.
	write_conf workers=2 announce_interval=900
	out=$(ctl reload 2>&1)
	st=$?
	[ $st -eq 0 ] || bad "$what: reload of a good config exited $st: $out"
	log "$what: trackerctl reload (good config) printed: $out"
	wait_until 10 interval_is "$A4" 900 || bad "$what: the reloaded announce_interval did not apply"
	wait_until 10 generation_only 2 2 || bad "$what: generation 2 did not take over: $(ctl workers | tr '\n' ' ')"
	for addr in "${ADDRS[@]}"; do
		expect_reply '^interval=900 leechers=1 seeders=1 npeers=1' "$addr" announce "$(fh "$addr" 130)" 7001 0 none 5 >/dev/null
	done

	# Bad config, an unknown key on line 3: trackerctl prints file, line
	# and key, exits 1; nothing changes.
	printf 'workers = 2\nannounce_interval = 600\nno_such_key = 1\n' >"$CONF"
	out=$(ctl reload 2>&1)
	st=$?
	log "$what: trackerctl reload (unknown key) exited $st, printed: $out"
	[ $st -eq 1 ] || bad "$what: trackerctl reload of a bad config exited $st (expected 1), printed: '$out'"
	echo "$out" | grep -qF "$CONF:3" || bad "$what: trackerctl reload does not print the file and line '$CONF:3': '$out'"
	echo "$out" | grep -qF "no_such_key" || bad "$what: trackerctl reload does not print the key 'no_such_key': '$out'"
	wait_until 5 grep -q "reload failed.*$CONF:3" "$LOG" || bad "$what: the daemon did not log the bad config"
	interval_is "$A4" 900 || bad "$what: a bad config changed the running one"

	# Bad value of a known key on line 2.
	printf 'workers = 2\nannounce_interval = banana\n' >"$CONF"
	out=$(ctl reload 2>&1)
	st=$?
	log "$what: trackerctl reload (bad value) exited $st, printed: $out"
	[ $st -eq 1 ] || bad "$what: trackerctl reload of a bad value exited $st (expected 1), printed: '$out'"
	echo "$out" | grep -qF "$CONF:2" || bad "$what: trackerctl reload does not print '$CONF:2': '$out'"
	echo "$out" | grep -qF "announce_interval" || bad "$what: trackerctl reload does not print the key 'announce_interval': '$out'"
	interval_is "$A4" 900 || bad "$what: a bad value changed the running config"
	[ "$(ctl status | sed -n 's/^generation=//p')" = 2 ] || bad "$what: a failed reload started a new generation"

	# A key that needs a new segment: refused by name, the rest applies.
	write_conf workers=2 announce_interval=1200 max_torrents=30000
	out=$(ctl reload 2>&1)
	st=$?
	log "$what: trackerctl reload (max_torrents changed) exited $st, printed: $out"
	echo "$out" | grep -qF max_torrents || bad "$what: trackerctl reload does not name the refused key max_torrents: '$out'"
	wait_until 10 interval_is "$A4" 1200 || bad "$what: the rest of the config did not apply"
	ctl status | grep -qx 'capacity_torrents=20000' || bad "$what: capacity changed without a restart"
	for addr in "${ADDRS[@]}"; do
		expect_reply 'leechers=1 seeders=1 npeers=1' "$addr" announce "$(fh "$addr" 130)" 7001 0 none 5 >/dev/null
	done
}

# --- socket-activated: inherited sockets shared by the workers.
write_conf workers=2
sd_start
reload_checks "inherited sockets"
wait_until 10 generation_only 3 2 || bad "generation 3 did not take over"
change_workers 2 3 4 "inherited sockets"
change_workers 3 1 5 "inherited sockets"
sd_stop

# --- one inherited socket per worker (ListenDatagram= repeated): after
# the worker count drops, every socket must still be served.
write_conf workers=2
SD_SOCKETS=2
sd_start
SD_SOCKETS=1
for addr in "${ADDRS[@]}"; do
	udptc "$addr" announce "$(fh "$addr" 130)" 7001 0 started 0 >/dev/null || fail "announce"
	udptc "$addr" announce "$(fh "$addr" 130)" 7002 10 started 0 >/dev/null || fail "announce"
done
change_workers 2 1 2 "2 inherited sockets per family"
sd_stop

# --- trackerd's own sockets: one per worker in a SO_REUSEPORT group.
write_conf workers=2 announce_interval=1800
plain_start
for addr in "${ADDRS[@]}"; do
	udptc "$addr" announce "$(fh "$addr" 130)" 7001 0 started 0 >/dev/null || fail "announce"
	udptc "$addr" announce "$(fh "$addr" 130)" 7002 10 started 0 >/dev/null || fail "announce"
done
change_workers 2 3 2 "own sockets"
CHILDREN="$CHILDREN $(children_of "$PID")"
stop_daemon
finish
