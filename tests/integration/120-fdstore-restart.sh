#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# 120-fdstore-restart: restart through the FD store, as "systemctl restart"
# does it. Peers are announced on both families, trackerd is stopped with its
# segment kept by the service manager and started again with it and the same
# sockets: the same peers, seeders, leechers and completed counts are there,
# and connection ids issued before the restart are still accepted. Then a
# restart with a different capacity: the stored segment no longer matches,
# so it is logged, removed from the store and replaced by a fresh one, which
# is filled from the snapshot written at the stop: the same torrents, and
# the old ids still accepted (the key is in the snapshot).
. "$(dirname "$0")/sd-lib.sh"

# announce_set: on each family, a seeder, a leecher and a peer that
# completed, in one torrent per family, plus 20 small torrents on IPv4.
announce_set() {
	local addr h i
	for addr in "${ADDRS[@]}"; do
		h=$(fh "$addr" 120)
		udptc "$addr" announce "$h" 7001 0 started 0 >/dev/null || fail "announce on $addr"
		udptc "$addr" announce "$h" 7002 1000 started 0 >/dev/null || fail "announce on $addr"
		udptc "$addr" announce "$h" 7003 1000 started 0 >/dev/null || fail "announce on $addr"
		udptc "$addr" announce "$h" 7003 0 completed 0 >/dev/null || fail "announce on $addr"
	done
	for i in $(seq 1 20); do
		udptc "$A4" announce "$(ih "$((12000 + i))")" "$((8000 + i))" 5 started 0 >/dev/null ||
			fail "announce $i"
	done
}

# snapshot FILE: what must survive: every tracked torrent (top), the table
# gauges, and each family's torrent as a client sees it.
snapshot() {
	local addr h
	{
		ctl top 100 | sort
		ctl stats | grep -E '^shm\.(torrents|peers4|peers6|seeders|leechers|completed)='
		for addr in "${ADDRS[@]}"; do
			h=$(fh "$addr" 120)
			ctl torrent "$h"
			# numwant 50 from a new port: every stored peer of the family.
			udptc "$addr" announce "$h" 7999 1000 none 50 | sed 's/^interval=[0-9]* //'
			udptc "$addr" scrape "$h"
		done
	} >"$1" 2>&1
}

write_conf workers=2
sd_start
announce_set
# Ids issued now, to be presented after the restart.
declare -A ID
for addr in "${ADDRS[@]}"; do
	ID[$addr]=$(udptc "$addr" connect | sed -n 's/^connid=//p')
	[ -n "${ID[$addr]}" ] || fail "no connection id from $addr"
done
snapshot "$T/before"
grep -q '^completed=1$' "$T/before" || fail "the completed event was not counted: $(cat "$T/before")"
grep -qx 'shm.torrents=2[0-9]' "$T/before" || fail "torrents missing before the restart: $(cat "$T/before")"
# The reference announce above added peer 7999; announce_set's peers are
# what we compare, so take it out again on both sides.
for addr in "${ADDRS[@]}"; do
	udptc "$addr" announce "$(fh "$addr" 120)" 7999 1000 stopped 0 >/dev/null
done
snapshot "$T/before"
for addr in "${ADDRS[@]}"; do
	udptc "$addr" announce "$(fh "$addr" 120)" 7999 1000 stopped 0 >/dev/null
done
old_pid=$PID

# --- restart with the stored segment.
n=$(nl_lines)
sd_restart
log "restarted: pid $old_pid -> $PID"
grep -q "^START pid=$PID fds=[0-9]* names=control:udp4$([ "$HAVE_V6" = 1 ] && echo ':udp6'):swarm$" "$NLOG" ||
	bad "the new trackerd did not get the sockets and the stored segment: $(grep '^START' "$NLOG" | tail -n 1)"
grep -q "trackerd\[$PID\].*re-attached the stored segment" "$LOG" ||
	bad "the stored segment was not re-attached: $(grep "trackerd\[$PID\]" "$LOG" | head -n 8)"
grep -q "trackerd\[$PID\].*using inherited control fd" "$LOG" || bad "control socket not inherited again"

snapshot "$T/after"
for addr in "${ADDRS[@]}"; do
	udptc "$addr" announce "$(fh "$addr" 120)" 7999 1000 stopped 0 >/dev/null
done
if ! diff -u "$T/before" "$T/after" >"$T/diff"; then
	bad "the swarm changed across the restart:"
	cat "$T/diff" >&2
fi
grep -q '^completed=1$' "$T/after" || bad "completed count lost: $(cat "$T/after")"

# Connection ids from before the restart: accepted without a new connect
# (--connid sends the announce only; a refused id gets no reply at all).
for addr in "${ADDRS[@]}"; do
	out=$("$UDPTC" -t 1000 -r 1 "$addr" announce "$(ih 1299)" 7010 0 started 0 --connid "${ID[$addr]}")
	[ $? -eq 0 ] || bad "connection id ${ID[$addr]} issued before the restart is refused on $addr: $out"
	udptc "$addr" announce "$(ih 1299)" 7010 0 stopped 0 >/dev/null
done

# --- restart with a different capacity: the stored segment is dropped.
write_conf workers=2 max_torrents=30000
n=$(nl_lines)
sd_restart
grep -q "trackerd\[$PID\].*not reusing the stored segment" "$LOG" ||
	bad "a stored segment of another capacity was not refused with a message"
grep -q "trackerd\[$PID\].*re-attached" "$LOG" && bad "a segment of another capacity was re-attached"
nl_msgs "$n" | grep -q 'FDSTOREREMOVE=1|FDNAME=swarm' || bad "the refused segment was not removed from the store"
grep -q '^FDSTOREREMOVE name=swarm removed=1$' "$NLOG" || bad "the store did not drop the old segment"
nl_msgs "$n" | grep -Eq 'FDSTORE=1\|FDNAME=swarm\|FD name=swarm kind=memfd size=[0-9]+ stored$' ||
	bad "the new segment was not stored: $(nl_msgs "$n" | tr '\n' ' ')"
out=$(ctl status)
echo "$out" | grep -qx 'capacity_torrents=30000' || bad "new capacity not in effect: $out"
grep -q "trackerd\[$PID\].*loaded snapshot" "$LOG" || bad "the fresh segment was not filled from the snapshot"
before=$(sed -n 's/^shm.torrents=//p' "$T/before")
echo "$out" | grep -qx "torrents=$before" || bad "the snapshot did not bring back $before torrents: $out"
# The key came back with the snapshot: an old id is still good.
out=$("$UDPTC" -t 1000 -r 1 "$A4" announce "$(ih 1299)" 7010 0 stopped 0 --connid "${ID[$A4]}")
[ $? -eq 0 ] || bad "an id issued before the restart was refused after loading the snapshot: $out"

# --- and that fresh segment is kept by the next restart.
udptc "$A4" announce "$(ih 1201)" 7001 0 started 0 >/dev/null || bad "announce on the new segment"
sd_restart
grep -q "trackerd\[$PID\].*re-attached the stored segment" "$LOG" || bad "the new segment was not re-attached"
out=$(ctl torrent "$(ih 1201)")
echo "$out" | grep -qx 'seeders=1' || bad "peer lost across the second restart: $out"
sd_stop
finish
