#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# 410-capacity: fill the table to capacity with announces on a daemon with
# a small table (max_torrents=1000: 64 stripes of 49 torrents) and a small
# IPv6 arena (max_peers_ipv6=1000), then:
#  - new torrents are refused: every one of a flood of new torrents gets an
#    empty reply, refused_table_full rises by exactly that many, and the
#    torrent count does not move; new IPv6 peers on existing torrents are
#    refused once the arena is full: refused_arena_full rises, and every
#    announce is either a new peer or a refusal, nothing else;
#  - known peers are still served: every known torrent keeps its exact
#    counts, re-announces of stored peers are answered with them (never
#    refused), and a known torrent still takes a new IPv4 peer;
#  - memory stays flat: the summed PSS (anonymous and shared memory) and
#    the summed RSS of the supervisor and its children grow by at most
#    MEM_SLACK_KB (1 MiB) over the extra
#    floods (16,000 announces, none stored), and the segment size does not
#    change;
#  - it recovers after cleaning: stopped announces free the flood's peers,
#    the control process's cleaning (cleaning_interval=1) removes the empty
#    torrents, and then new torrents and new IPv6 peers are stored again,
#    none refused (the IPv6 arena, emptied of swarms that had grown into
#    hash tables, serves twenty small swarms again: free table blocks are
#    split for arrays); the table stays consistent ("trackerctl check").
#  - negative control: with one stripe's seeders count damaged through the
#    segment's memfd, "trackerctl check" fails naming that stripe.
# Recovery by expiry instead of stopped takes over a minute (peer_max_age
# is at least 61 s with announce_interval 60): it runs here only with
# TRACKERD_TEST_EXPIRY=1; CI relies on the unit tests for it: test_torrents
# (table_full, arena_full: cleaning expired peers frees table and arena)
# and test_ctrl (a_pass_removes_expired_peers).
. "$(dirname "$0")/lib.sh"

AR=$O/tests/annrange
[ -x "$AR" ] || fail "missing $AR (build it first: make O=$O)"
MEM_SLACK_KB=${MEM_SLACK_KB:-1024}
KNOWN_FROM=1 # known torrents 1..KNOWN (two peers per family each)
KNOWN=200
SWARM_FROM=500 # IPv6 swarms 500..519, filled to the IPv6 arena's end
SWARMS=20

# field NAME LINE: the value of NAME= in a space-separated line.
field() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
status_of() { ctl status | sed -n "s/^$1=//p"; }

# annrange ADDR FROM COUNT PORTS LEFT EVENT: require every request answered,
# print the result line.
annrange() {
	local out
	out=$("$AR" "$@") || fail "annrange $*: $out"
	echo "$out"
}

# The summed proportional set size (kB) of the daemon's processes, of
# anonymous and shared memory (heaps, the segment: shared pages counted once
# over all of them). File pages (libc and friends) are left out: their
# share moves with whatever else runs on the machine. Kernels without
# Pss_Anon/Pss_Shmem lines: the whole Pss.
pss_kb() {
	local p sum=0 v
	for p in "$PID" $(children_of "$PID"); do
		v=$(awk '/^Pss_Anon:|^Pss_Shmem:/ { s += $2; n++ } /^Pss:/ { all = $2 }
			END { print (n ? s : all) + 0 }' "/proc/$p/smaps_rollup" 2>/dev/null)
		sum=$((sum + ${v:-0}))
	done
	echo "$sum"
}
rss_kb() {
	local p sum=0 v
	for p in "$PID" $(children_of "$PID"); do
		v=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$p/status" 2>/dev/null)
		sum=$((sum + ${v:-0}))
	done
	echo "$sum"
}

check_ok() {
	local out
	out=$(ctl check) || fail "$1: table check: $out"
	echo "$out" | grep -qx 'consistent=1' || fail "$1: table check: $out"
}

# verify_known WHEN: every known torrent has exactly its two peers per
# family (a seeder that completed, a leecher).
verify_known() {
	local i h out want nf=${#ADDRS[@]}
	want="seeders=$nf leechers=$nf completed=$nf peers_ipv4=2 peers_ipv6=$((2 * (nf - 1))) "
	for ((i = KNOWN_FROM; i < KNOWN_FROM + KNOWN; i++)); do
		h=$(ih "$i")
		out=$(ctl torrent "$h" | tr '\n' ' ')
		[ "$out" = "info_hash=$h $want" ] || fail "$1: torrent $h is '$out', expected '$want'"
	done
}

[ -r /proc/self/smaps_rollup ] || skip "no /proc/PID/smaps_rollup on this kernel"
BACKEND=mmsg
uring_works && BACKEND=io_uring
start_daemon "$BACKEND" 2 -o max_torrents=1000 -o max_peers=10000 -o max_peers_ipv6=1000 \
	-o cleaning_interval=1 -o torrent_keep=0
seg=$(status_of segment_bytes)
log "segment $seg bytes; status: $(ctl status | grep '^capacity' | tr '\n' ' ')"

# --- known torrents and the IPv6 swarms, while there is room --------------
for addr in "${ADDRS[@]}"; do
	line=$(annrange "$addr" $KNOWN_FROM $KNOWN 7001 0 completed)
	[ "$(field counted "$line")" = $KNOWN ] || fail "known seeders on $addr: $line"
	line=$(annrange "$addr" $KNOWN_FROM $KNOWN 7002 10 started)
	[ "$(field counted "$line")" = $KNOWN ] || fail "known leechers on $addr: $line"
done
verify_known "before the fill"
if [ "$HAVE_V6" = 1 ]; then
	line=$(annrange "$A6" $SWARM_FROM $SWARMS 20000 10 started)
	[ "$(field counted "$line")" = $SWARMS ] || fail "IPv6 swarms: $line"
fi
check_ok "before the fill"

# --- fill the table: far more new torrents than it holds ------------------
t_before=$(status_of torrents)
r_before=$(ctl_stat total.ipv4.refused_table_full)
line=$(annrange "$A4" 100000 8000 8000 10 started)
t_full=$(status_of torrents)
r_full=$(ctl_stat total.ipv4.refused_table_full)
log "fill: $line; torrents $t_before -> $t_full, refused_table_full $r_before -> $r_full"
[ "$(field empty "$line")" -gt 0 ] || fail "the table never filled: $line"
[ $((r_full - r_before)) = "$(field empty "$line")" ] ||
	fail "refused_table_full rose by $((r_full - r_before)), $(field empty "$line") torrents not stored"
[ $((t_full - t_before + r_full - r_before)) = 8000 ] ||
	fail "8000 new torrents: $((t_full - t_before)) stored + $((r_full - r_before)) refused"
[ "$(ctl_stat total.ipv4.refused_arena_full)" = 0 ] || fail "IPv4 arena refusals with a roomy arena"
check_ok "full table"

# --- fill the IPv6 arena: new peers on the existing swarms ----------------
if [ "$HAVE_V6" = 1 ]; then
	p_before=$(status_of peers_ipv6)
	a_before=$(ctl_stat total.ipv6.refused_arena_full)
	line=$(annrange "$A6" $SWARM_FROM $SWARMS 20001-20400 10 started)
	p_full=$(status_of peers_ipv6)
	a_full=$(ctl_stat total.ipv6.refused_arena_full)
	log "IPv6 arena fill: $line; peers_ipv6 $p_before -> $p_full, refused_arena_full $a_before -> $a_full"
	[ $((a_full - a_before)) -gt 0 ] || fail "the IPv6 arena never filled"
	[ $((p_full - p_before + a_full - a_before)) = $((SWARMS * 400)) ] ||
		fail "$((SWARMS * 400)) new peers: $((p_full - p_before)) stored + $((a_full - a_before)) refused"
	check_ok "full IPv6 arena"
fi

# --- an extra flood against the full table: refused, memory flat ----------
pss0=$(pss_kb)
rss0=$(rss_kb)
r0=$(ctl_stat total.ipv4.refused_table_full)
line=$(annrange "$A4" 200000 8000 8000 10 started)
[ "$(field empty "$line")" = 8000 ] || fail "new torrents stored in a full table: $line"
r1=$(ctl_stat total.ipv4.refused_table_full)
[ $((r1 - r0)) = 8000 ] || fail "refused_table_full rose by $((r1 - r0)) for 8000 refusals"
[ "$(status_of torrents)" = "$t_full" ] || fail "torrents $t_full -> $(status_of torrents) in a full table"
if [ "$HAVE_V6" = 1 ]; then
	a0=$(ctl_stat total.ipv6.refused_arena_full)
	p0=$(status_of peers_ipv6)
	line=$(annrange "$A6" $SWARM_FROM $SWARMS 30001-30400 10 started)
	a1=$(ctl_stat total.ipv6.refused_arena_full)
	p1=$(status_of peers_ipv6)
	log "IPv6 extra flood: $line; peers_ipv6 $p0 -> $p1, refused_arena_full $a0 -> $a1"
	[ $((a1 - a0)) -gt 0 ] || fail "no IPv6 arena refusal in the extra flood"
	[ $((p1 - p0 + a1 - a0)) = $((SWARMS * 400)) ] ||
		fail "$((SWARMS * 400)) new peers: $((p1 - p0)) stored + $((a1 - a0)) refused"
fi
pss1=$(pss_kb)
rss1=$(rss_kb)
log "memory over the extra floods: PSS (anon+shmem) $pss0 -> $pss1 kB, RSS (summed) $rss0 -> $rss1 kB"
[ $((pss1 - pss0)) -le "$MEM_SLACK_KB" ] ||
	fail "PSS grew from $pss0 to $pss1 kB over floods that stored nothing new"
[ $((rss1 - rss0)) -le "$MEM_SLACK_KB" ] ||
	fail "RSS grew from $rss0 to $rss1 kB over floods that stored nothing new"
[ "$(status_of segment_bytes)" = "$seg" ] || fail "segment size changed: $seg -> $(status_of segment_bytes)"

# --- known peers are still served ------------------------------------------
verify_known "full table"
ra=$(ctl_stat total.ipv4.refused_table_full)
rb=$(ctl_stat total.ipv6.refused_arena_full)
for addr in "${ADDRS[@]}"; do
	line=$(annrange "$addr" $KNOWN_FROM $KNOWN 7001 0 none)
	[ "$(field counted "$line")" = $KNOWN ] || fail "re-announce of known seeders on $addr: $line"
	line=$(annrange "$addr" $KNOWN_FROM $KNOWN 7002 10 none)
	[ "$(field counted "$line")" = $KNOWN ] || fail "re-announce of known leechers on $addr: $line"
done
[ "$(ctl_stat total.ipv4.refused_table_full)" = "$ra" ] && [ "$(ctl_stat total.ipv6.refused_arena_full)" = "$rb" ] ||
	fail "re-announces of stored peers were refused"
nf=${#ADDRS[@]}
for i in 1 77 200; do
	h=$(ih "$i")
	for addr in "${ADDRS[@]}"; do
		expect_reply "leechers=$nf seeders=$nf npeers=1 peers=$(peer "$addr" 7001)\$" \
			"$addr" announce "$h" 7002 10 none 50 >/dev/null
	done
done
# A full table still takes a new IPv4 peer on a torrent it has.
h=$(ih 5)
expect_reply "leechers=$((nf + 1)) seeders=$nf npeers=2 " "$A4" announce "$h" 7003 10 started 50 >/dev/null
expect_reply "leechers=$nf seeders=$nf npeers=0" "$A4" announce "$h" 7003 10 stopped 50 >/dev/null
verify_known "after the re-announces"

# --- recovery: stop the flood's peers; cleaning removes the torrents --------
line=$(annrange "$A4" 100000 8000 8000 10 stopped)
if [ "$HAVE_V6" = 1 ]; then
	annrange "$A6" $SWARM_FROM $SWARMS 20000-20400 10 stopped >/dev/null
	annrange "$A6" $SWARM_FROM $SWARMS 30001-30400 10 stopped >/dev/null
	[ "$(status_of peers_ipv6)" = $((2 * KNOWN)) ] || fail "IPv6 peers left after stopped: $(status_of peers_ipv6)"
fi
[ "$(status_of peers_ipv4)" = $((2 * KNOWN)) ] || fail "IPv4 peers left after stopped: $(status_of peers_ipv4)"
t0=$(now_ms)
wait_until 10 sh -c "[ \$('$CTL' -s '$SOCK' status | sed -n 's/^torrents=//p') = $KNOWN ]" ||
	fail "cleaning did not remove the empty torrents: $(status_of torrents) left"
log "cleaning removed the empty torrents in $(($(now_ms) - t0)) ms"
check_ok "after cleaning"
verify_known "after cleaning"
ra=$(ctl_stat total.ipv4.refused_table_full)
line=$(annrange "$A4" 300000 1000 8000 10 started)
[ "$(field counted "$line")" = 1000 ] || fail "new torrents after recovery: $line"
[ "$(ctl_stat total.ipv4.refused_table_full)" = "$ra" ] || fail "new torrents refused after recovery"
if [ "$HAVE_V6" = 1 ]; then
	rb=$(ctl_stat total.ipv6.refused_arena_full)
	line=$(annrange "$A6" $SWARM_FROM $SWARMS 40001-40040 10 started)
	[ "$(status_of peers_ipv6)" = $((2 * KNOWN + SWARMS * 40)) ] ||
		fail "new IPv6 peers after recovery: $(status_of peers_ipv6) stored, $line"
	[ "$(ctl_stat total.ipv6.refused_arena_full)" = "$rb" ] || fail "new IPv6 peers refused after recovery"
fi
check_ok "after recovery"

# --- negative control: "trackerctl check" sees a damaged stripe ------------
# Add 5 to stripe 0's seeders count through the segment's memfd (struct
# layout_hdr: l.off_stripes at byte 104; struct layout_stripe: 128 bytes,
# seeders at byte 60), expect the error naming it, then put it back.
if command -v python3 >/dev/null 2>&1; then
	memfd=
	for fdp in /proc/"$PID"/fd/*; do
		case $(readlink "$fdp") in /memfd:trackerd-store*) memfd=$fdp ;; esac
	done
	[ -n "$memfd" ] || fail "no segment memfd among the supervisor's descriptors"
	poke() {
		python3 - "$memfd" "$1" <<'PY'
import struct, sys
with open(sys.argv[1], "r+b") as f:
    f.seek(104)
    off = struct.unpack("<Q", f.read(8))[0] + 60
    f.seek(off)
    v = struct.unpack("<I", f.read(4))[0]
    f.seek(off)
    f.write(struct.pack("<I", (v + int(sys.argv[2])) % 2**32))
PY
	}
	poke 5 || fail "cannot write the segment"
	out=$(ctl check 2>&1)
	st=$?
	log "damaged stripe 0: trackerctl check exit $st: $out"
	[ "$st" = 1 ] && echo "$out" | grep -q 'inconsistent: stripe 0: counts' ||
		fail "check did not see the damaged stripe: exit $st: $out"
	poke -5 || fail "cannot write the segment"
	check_ok "after repairing the damage by hand"
else
	log "python3 not found: no negative control for trackerctl check"
fi
log "status: $(ctl status | grep -E '^(torrents|peers_ipv4|peers_ipv6|segment_bytes)=' | tr '\n' ' ')"
CHILDREN=$(children_of "$PID")
stop_daemon

# --- optional: recovery by expiry alone (about 80 s of waiting) -------------
# TRACKERD_TEST_EXPIRY=1: a full table with peer_max_age=61 (the least that
# announce_interval=60 allows) empties by the control process's cleaning
# alone within peer_max_age + 16 s (the 8 s peer tick) + a cleaning pass,
# and then stores new torrents again.
if [ "${TRACKERD_TEST_EXPIRY:-0}" = 1 ]; then
	start_daemon "$BACKEND" 2 -o max_torrents=1000 -o max_peers=10000 -o max_peers_ipv6=1000 \
		-o cleaning_interval=1 -o torrent_keep=0 -o peer_max_age=61 -o announce_interval=60
	line=$(annrange "$A4" 100000 8000 8000 10 started)
	[ "$(field empty "$line")" -gt 0 ] || fail "expiry: the table never filled: $line"
	full=$(status_of torrents)
	t0=$(now_ms)
	wait_until 100 sh -c "[ \$('$CTL' -s '$SOCK' status | sed -n 's/^torrents=//p') = 0 ]" ||
		fail "expiry: $(status_of torrents) of $full torrents left after 100 s"
	log "expiry: $full torrents expired and cleaned within $(($(now_ms) - t0)) ms"
	check_ok "after expiry"
	line=$(annrange "$A4" 300000 1000 8000 10 started)
	[ "$(field counted "$line")" = 1000 ] || fail "expiry: new torrents after recovery: $line"
	CHILDREN=$(children_of "$PID")
	stop_daemon
fi
echo "ok"
