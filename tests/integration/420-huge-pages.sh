#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# 420-huge-pages: the huge_pages key, on a daemon whose segment spans a
# few dozen 2 MiB chunks (max_torrents=200000, max_peers=1000000):
#  - auto: the supervisor logs that the whole segment is in 2 MiB pages,
#    and after some announces the children map segment memory with 2 MiB
#    entries (ShmemPmdMapped in /proc/PID/smaps_rollup) while serving
#    correct replies;
#  - yes: starts the same way;
#  - no: nothing is collapsed, and where the system's own shmem policy is
#    "never" the children map no segment memory with 2 MiB entries (the
#    control for the check above).
# Skips where the kernel cannot collapse shared memory (before Linux 6.1,
# or transparent huge pages denied).
. "$(dirname "$0")/lib.sh"

POLICY=/sys/kernel/mm/transparent_hugepage/shmem_enabled
[ -r "$POLICY" ] || skip "no transparent huge pages in this kernel"
grep -q '\[deny\]' "$POLICY" && skip "shmem huge pages are denied here ($POLICY)"
BIG=(-o max_torrents=200000 -o max_peers=1000000 -o max_peers_ipv6=100000)

# Summed ShmemPmdMapped (kB) of the daemon's children.
pmd_kb() {
	local c sum=0 kb
	for c in $(children_of "$PID"); do
		kb=$(sed -n 's/^ShmemPmdMapped: *\([0-9]*\) kB/\1/p' "/proc/$c/smaps_rollup" 2>/dev/null)
		sum=$((sum + ${kb:-0}))
	done
	echo "$sum"
}

# Announce into torrents spread over the table, so the workers touch it.
load() {
	local i h
	for i in $(seq 1 40); do
		h=$(ih "$((4200000 + i * 7919))")
		udptc "$A4" announce "$h" $((6000 + i)) 0 started 0 >/dev/null || fail "announce $i"
	done
	h=$(ih "$((4200000 + 7919))")
	expect_reply "leechers=1 seeders=1 npeers=1 peers=$(peer "$A4" 6001)\$" \
		"$A4" announce "$h" 7001 10 started 5 >/dev/null
}

run_huge() {
	local mode=$1 mib kb
	start_daemon mmsg 1 "${BIG[@]}" -o "huge_pages=$mode"
	mib=$(sed -n 's/.*segment: \([0-9]*\) MiB in 2 MiB pages.*/\1/p' "$LOG")
	[ -n "$mib" ] || fail "huge_pages=$mode: no 'in 2 MiB pages' line"
	[ "$mib" -ge 8 ] || fail "huge_pages=$mode: only $mib MiB in 2 MiB pages"
	load
	kb=$(pmd_kb)
	log "huge_pages=$mode: $mib MiB collapsed, children map $kb kB with 2 MiB entries"
	[ "$kb" -ge 2048 ] || fail "huge_pages=$mode: the children map no 2 MiB page ($kb kB)"
	stop_daemon
}

run_huge auto
run_huge yes

start_daemon mmsg 1 "${BIG[@]}" -o huge_pages=no
grep -q 'in 2 MiB pages' "$LOG" && fail "huge_pages=no collapsed the segment"
load
if grep -q '\[never\]' "$POLICY"; then
	kb=$(pmd_kb)
	[ "$kb" = 0 ] || fail "huge_pages=no, shmem policy never: still $kb kB in 2 MiB entries"
	log "huge_pages=no: no 2 MiB entries"
fi
stop_daemon
echo "ok"
