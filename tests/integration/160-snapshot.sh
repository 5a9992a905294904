#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# 160-snapshot: lz4 snapshots with the real daemon, started plainly (no FD
# store), so every restart is a cold one that must load the snapshot.
#  1. peers on both families, "trackerctl save": its reply names the file,
#     its size and the time taken; SIGTERM writes a final snapshot; a plain
#     start on the same state_directory has the same torrents, peers,
#     seeders, leechers and completed counts, and connection ids issued
#     before the stop are still accepted (the key is in the snapshot);
#  2. saves while trackerbench loads the tracker all succeed, and the table
#     after a stop and a start is the table before;
#  3. the control process killed with SIGKILL while writing a snapshot
#     (and then the whole daemon, so no final snapshot is written) leaves a
#     snapshot that loads at the next start; a leftover temp file is removed;
#  4. a corrupt snapshot at start is reported, renamed aside, and the
#     daemon starts with an empty table.
KEEP_STATE=1 # restarts must find the snapshots
. "$(dirname "$0")/lib.sh"

BENCH=$O/trackerbench
[ -x "$BENCH" ] || fail "missing $BENCH (build it first: make O=$O)"
STATE=$T/state
SNAP=$STATE/snapshot.lz4
# Capacity for the loaded part; snapshot_interval=0: only save and shutdown write.
OPTS=(-o snapshot_interval=0 -o max_torrents=60000 -o max_peers=300000)

# ctrl_pid: the daemon's child that is not a worker.
ctrl_pid() {
	local c w
	w=$(ctl workers | sed -n 's/.*pid=\([0-9]*\).*/\1/p')
	for c in $(children_of "$PID"); do
		echo "$w" | grep -qx "$c" || echo "$c"
	done
}

# table FILE [all]: what must survive a restart: the table's gauges, and
# with "all" every torrent's counts (small tables only: "top" breaks ties
# in stripe order, which a restart changes).
table() {
	{
		[ "${2:-}" = all ] && ctl top 100 | sort
		ctl stats | grep -E '^shm\.(torrents|peers4|peers6|seeders|leechers|completed)='
	} >"$1"
}

# --- 1. save, stop, start ------------------------------------------------------
start_daemon mmsg 2 "${OPTS[@]}"
grep -q "no snapshot in '$STATE'" "$LOG" || fail "a start without a snapshot does not say so"
declare -A ID
n=0
for addr in "${ADDRS[@]}"; do
	n=$((n + 1))
	h=$(ih $((160 + n)))
	udptc "$addr" announce "$h" 7001 0 started 0 >/dev/null || fail "announce on $addr"
	udptc "$addr" announce "$h" 7002 1000 started 0 >/dev/null || fail "announce on $addr"
	udptc "$addr" announce "$h" 7003 1000 started 0 >/dev/null || fail "announce on $addr"
	udptc "$addr" announce "$h" 7003 0 completed 0 >/dev/null || fail "announce on $addr"
	ID[$(fam "$addr")]=$(udptc "$addr" connect | sed -n 's/^connid=//p')
	[ -n "${ID[$(fam "$addr")]}" ] || fail "no connection id from $addr"
done
for i in $(seq 1 20); do
	udptc "$A4" announce "$(ih $((16000 + i)))" $((8000 + i)) 5 started 0 >/dev/null ||
		fail "announce $i"
done

out=$(ctl save) || fail "trackerctl save failed: $out"
log "save: $(echo "$out" | tr '\n' ' ')"
echo "$out" | grep -qx "path=$SNAP" || fail "save does not name $SNAP: $out"
size=$(echo "$out" | sed -n 's/^bytes=//p')
[ -f "$SNAP" ] || fail "no $SNAP after save"
[ "$size" = "$(stat -c %s "$SNAP")" ] || fail "save says $size bytes, the file has $(stat -c %s "$SNAP")"
echo "$out" | grep -Eqx 'milliseconds=[0-9]+' || fail "save does not say how long it took: $out"
echo "$out" | grep -qx 'torrents=22' || fail "save counted the wrong torrents: $out"
[ "$(head -c 4 "$SNAP" | od -An -tx1 | tr -d ' ')" = 04224d18 ] || fail "$SNAP is not an lz4 frame"
ctl metrics | grep -q "^trackerd_snapshot_bytes $size\$" || fail "metrics do not show the snapshot size"

table "$T/before" all
stop_daemon
grep -q 'shutdown snapshot' "$LOG" || fail "no snapshot written at shutdown"

start_daemon mmsg 2 "${OPTS[@]}"
grep -q "loaded snapshot '$SNAP'" "$LOG" || fail "the snapshot was not loaded at a cold start"
table "$T/after" all
diff -u "$T/before" "$T/after" >&2 || fail "the table changed across a cold restart"
n=0
for addr in "${ADDRS[@]}"; do
	n=$((n + 1))
	h=$(ih $((160 + n)))
	out=$(ctl torrent "$h")
	echo "$out" | grep -qx 'completed=1' || fail "completed count lost on $addr: $out"
	echo "$out" | grep -qx 'seeders=2' || fail "seeders lost on $addr: $out"
	# numwant 50 from a new port: every stored peer of the family.
	out=$(expect_reply "npeers=3 " "$addr" announce "$h" 7999 1000 none 50)
	for p in 7001 7002 7003; do
		echo "$out" | grep -Eq "$(peer "$addr" $p)" || fail "peer $p lost on $addr: $out"
	done
	udptc "$addr" announce "$h" 7999 1000 stopped 0 >/dev/null
	# An id issued before the stop: the key came back with the snapshot.
	# (stopped for an unknown torrent: answered, and nothing is stored.)
	out=$("$UDPTC" -t 1000 -r 1 "$addr" announce "$(ih 1699)" 7010 0 stopped 0 --connid "${ID[$(fam "$addr")]}")
	[ $? -eq 0 ] || fail "connection id issued before the restart refused on $addr: $out"
done

# --- 2. saves under load ---------------------------------------------------------
"$BENCH" -j 1 -P 150000 -T 40000 --zipf 0 -w 0 -d 3 -n 0 -m 100:0:0 --seed 160 "$A4" \
	>"$T/bench.out" 2>&1 &
BPID=$!
saves=0
for i in 1 2 3 4 5 6 7 8 9 10; do
	kill -0 "$BPID" 2>/dev/null || break
	out=$(ctl save) || fail "save under load failed: $out"
	saves=$((saves + 1))
	sleep 0.2
done
wait "$BPID" || { cat "$T/bench.out" >&2; fail "trackerbench failed"; }
[ "$saves" -ge 2 ] || fail "only $saves saves while trackerbench ran"
log "$saves saves under load: $(ctl save | tr '\n' ' ')"
table "$T/before"
[ "$(sed -n 's/^shm.torrents=//p' "$T/before")" -gt 1000 ] || fail "trackerbench stored too little: $(cat "$T/bench.out")"
stop_daemon
start_daemon mmsg 2 "${OPTS[@]}"
table "$T/after"
diff -u "$T/before" "$T/after" >&2 || fail "the table changed across a restart after a loaded run"

# --- 3. SIGKILL of the control process while it writes ----------------------------
hit=0
for try in 1 2 3 4 5 6 7 8; do
	c=$(ctrl_pid)
	[ -n "$c" ] || fail "no control process"
	ctl save >/dev/null 2>&1 &
	SPID=$!
	# Land somewhere in the write: from at once to a few milliseconds in.
	[ "$try" -gt 1 ] && sleep "0.00$((try - 1))"
	kill -KILL "$c"
	wait "$SPID"
	[ -f "$STATE/snapshot.lz4.tmp" ] && hit=$((hit + 1))
	[ -f "$SNAP" ] || fail "no snapshot after the control process was killed"
	wait_until 10 sh -c "[ -n \"\$(\"$CTL\" -s \"$SOCK\" status 2>/dev/null)\" ]" ||
		fail "the control process did not come back"
	wait_until 10 sh -c "[ \"\$(pgrep -P $PID | wc -l)\" -eq 3 ]" || fail "children missing"
	[ "$hit" -ge 2 ] && break
done
log "control process killed mid-write in $hit of $try tries"
# Now kill everything, so no shutdown snapshot replaces what the kills left.
table "$T/before"
c=$(ctrl_pid)
kill -KILL "$c"
kill -KILL "$PID"
wait "$PID" 2>/dev/null
for c in $CHILDREN; do
	wait_until 5 sh -c "! kill -0 $c" || fail "child $c outlived its killed supervisor"
done
PID=
CHILDREN=
had_tmp=0
[ -f "$STATE/snapshot.lz4.tmp" ] && had_tmp=1
start_daemon mmsg 2 "${OPTS[@]}"
grep -q "loaded snapshot '$SNAP'" "$LOG" || fail "the snapshot left by the killed writer does not load"
[ "$had_tmp" = 0 ] || grep -q "removed '$STATE/snapshot.lz4.tmp'" "$LOG" ||
	fail "the leftover temp file was not removed"
[ -f "$STATE/snapshot.lz4.tmp" ] && fail "a leftover temp file is still there"
table "$T/after"
diff -u "$T/before" "$T/after" >&2 || fail "the table changed (nothing announced since the last complete save)"

# --- 4. a corrupt snapshot at start ---------------------------------------------
stop_daemon
size=$(stat -c %s "$SNAP")
head -c $((size / 2)) "$SNAP" >"$T/half" && mv "$T/half" "$SNAP"
start_daemon mmsg 2 "${OPTS[@]}"
grep -q "snapshot '$SNAP' is unusable (truncated.*renamed to '$SNAP.bad-[0-9]*'" "$LOG" ||
	fail "a truncated snapshot was not reported and set aside: $(grep snapshot "$LOG")"
ls "$SNAP".bad-* >/dev/null 2>&1 || fail "the bad snapshot was not renamed aside"
[ -f "$SNAP" ] && fail "the bad snapshot is still in place"
expect_stat shm.torrents 0
alive "$A4"
stop_daemon
# And a foreign file: same treatment.
rm -f "$SNAP".bad-*
echo "not a snapshot" >"$SNAP"
start_daemon mmsg 1 "${OPTS[@]}"
grep -q "snapshot '$SNAP' is unusable (not an lz4 frame" "$LOG" ||
	fail "a foreign file was not reported: $(grep snapshot "$LOG")"
ls "$SNAP".bad-* >/dev/null 2>&1 || fail "the foreign file was not renamed aside"
expect_stat shm.torrents 0
stop_daemon
echo ok
