#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# 190-abuse-limits: the limits with the real daemon, on mmsg and io_uring
# (when the kernel allows it), 2 workers (the limits hold across workers).
#  1. Defaults: loopback is exempt, so a flood from 127.0.0.1 is answered
#     in full and nothing is rate-limited.
#  2. limits_exempt=none, 100 requests/s, burst 200: a 1-second flood from
#     one address gets about burst + rate answers, the rest is dropped and
#     counted (drop_ratelimited); a forged connection id gets no reply.
#  3. max_peers_per_source=3: five announced ports from one address store
#     three peers, two announces are counted refused_source_cap; per family.
#  4. trackerctl ban: a banned address gets nothing (drop_banned), the other
#     family still answers; the ban survives a reload; a timed ban expires
#     by itself; unban lifts a ban; a permanent ban survives a cold start
#     through state_directory/bans.
KEEP_STATE=1 # the cold start must find the ban file
. "$(dirname "$0")/lib.sh"

stat_of() { ctl_stat "total.$1.$2"; }

# answered ADDR: a connect is answered within 250 ms.
answered() { "$UDPTC" -t 250 -r 1 "$1" connect >/dev/null 2>&1; }

run() {
	local backend=$1 out got a n
	# 1. defaults: loopback exempt.
	start_daemon "$backend" 2
	out=$(udptc "$A4" flood 1)
	got=$(echo "$out" | sed -n 's/.*received=\([0-9]*\).*/\1/p')
	[ "${got:-0}" -gt 1000 ] || fail "default limits: flood from loopback: $out"
	[ "$(stat_of ipv4 drop_ratelimited)" = 0 ] || fail "loopback was rate-limited by default"
	log "defaults, loopback flood: $out"
	stop_daemon

	# 2. the rate limit.
	start_daemon "$backend" 2 -o limits_exempt=none -o ratelimit_requests_per_second=100 \
		-o ratelimit_burst=200
	out=$(udptc "$A4" flood 1)
	got=$(echo "$out" | sed -n 's/.*received=\([0-9]*\).*/\1/p')
	n=$(stat_of ipv4 drop_ratelimited)
	log "rate limit 100/s burst 200, 1 s flood: $out, drop_ratelimited=$n"
	[ "${n:-0}" -gt 0 ] || fail "nothing was rate-limited: $out"
	# start_daemon's probes and the flood's connects share the bucket:
	# at most the burst plus 100/s over the flood (and its 1 s tail).
	[ "${got:-0}" -le $((200 + 100 * 3)) ] || fail "over the limit: $out"
	[ "${got:-0}" -ge 50 ] || fail "far under the limit: $out"
	# Refills: a second later a request is answered again.
	wait_until 3 answered "$A4" || fail "the bucket did not refill"
	expect_no_reply "$A4" announce "$(ih 1)" 6881 0 started 5 --connid forged
	stop_daemon

	# 3. the per-source cap.
	start_daemon "$backend" 2 -o limits_exempt=none -o max_peers_per_source=3
	for a in "${ADDRS[@]}"; do
		for p in 7001 7002 7003 7004 7005; do
			expect_reply 'interval=' "$a" announce "$(ih 190)" "$p" 100 started 5 >/dev/null
		done
	done
	for a in "${ADDRS[@]}"; do
		n=$(udptc "$a" scrape "$(ih 190)" | sed -n 's/.*scrape.0=\([0-9]*\),\([0-9]*\),\([0-9]*\).*/\3/p')
		[ "$n" = $((3 * ${#ADDRS[@]})) ] || fail "source cap: $n leechers, expected $((3 * ${#ADDRS[@]}))"
		[ "$(stat_of "$(fam "$a")" refused_source_cap)" = 2 ] ||
			fail "refused_source_cap $(fam "$a"): $(stat_of "$(fam "$a")" refused_source_cap)"
	done
	# A stored peer announcing again is answered and kept.
	expect_reply 'interval=' "$A4" announce "$(ih 190)" 7001 0 none 5 >/dev/null
	[ "$(stat_of ipv4 refused_source_cap)" = 2 ] || fail "a stored peer was refused"
	stop_daemon

	# 4. bans.
	rm -f "$T/state/bans"
	start_daemon "$backend" 2
	ctl ban 127.0.0.1 >"$T/ban.out" || fail "ban failed"
	grep -qx 'ban=127.0.0.1/32 expires_in=never' "$T/ban.out" || fail "ban reply: $(cat "$T/ban.out")"
	expect_no_reply "$A4" connect
	n=$(stat_of ipv4 drop_banned)
	[ "${n:-0}" -ge 1 ] || fail "drop_banned not counted"
	[ "$HAVE_V6" = 1 ] && { alive "$A6"; }
	grep -q '^127.0.0.1/32 0$' "$T/state/bans" || fail "ban file: $(cat "$T/state/bans")"
	# Survives a reload (the segment keeps it).
	ctl reload >/dev/null || fail "reload failed"
	wait_until 10 grep -q 'reloaded: generation 2' "$LOG" || fail "no reload"
	wait_until 10 sh -c "'$CTL' -s '$SOCK' workers | grep -c 'generation=2' | grep -qx 2" ||
		fail "the new generation did not take over"
	expect_no_reply "$A4" connect
	if [ "$HAVE_V6" = 1 ]; then
		ctl ban ::1/128 1h >/dev/null || fail "ban ::1 failed"
		expect_no_reply "$A6" connect
		ctl unban ::1 >/dev/null || fail "unban ::1 failed"
		alive "$A6"
	fi
	ctl unban 127.0.0.1 >/dev/null || fail "unban failed"
	alive "$A4"
	ctl unban 127.0.0.1 >/dev/null 2>&1 && fail "unban of an unlisted prefix succeeded"
	# A timed ban of the whole /8 expires by itself.
	ctl ban 127.0.0.0/8 2s >/dev/null || fail "timed ban failed"
	expect_no_reply "$A4" connect
	wait_until 6 answered "$A4" || fail "the 2 s ban did not expire"
	grep -q 'ban.* expired' "$LOG" || fail "no expiry in the log"
	# A permanent ban survives a cold start (no FD store here).
	ctl ban 127.0.0.1 >/dev/null || fail "ban failed"
	stop_daemon
	start_on_port $((20000 + RANDOM % 40000)) "$backend" 1 || fail "restart failed"
	wait_until 10 grep -q 'ban list: 1 prefix from' "$LOG" || fail "the ban file was not loaded"
	wait_until 10 workers_up 1 || fail "the worker did not start"
	if [ "$HAVE_V6" = 1 ]; then
		"$UDPTC" wait "$A6" 10 >/dev/null || fail "no answer on $A6 after the restart"
	fi
	expect_no_reply "$A4" connect
	ctl unban 127.0.0.1 >/dev/null || fail "unban after the restart failed"
	wait_until 5 answered "$A4" || fail "not answered after the unban"
	grep -q '^127' "$T/state/bans" && fail "ban file still lists it: $(cat "$T/state/bans")"
	stop_daemon
}

for backend in mmsg io_uring; do
	if [ "$backend" = io_uring ] && ! uring_works; then
		log "io_uring is not available here: skipping that pass"
		continue
	fi
	log "=== io_backend=$backend"
	run "$backend"
done
echo "ok"
