#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# 200-trackerbench: the shipped load generator against the real daemon, a
# few seconds per family: every reply valid, no error replies, responses
# counted, almost nothing lost, and the daemon's own counters agree. A
# negative control proves the checker catches a wrong reply (the daemon
# answers fewer scrape hashes than asked); the exit statuses for an
# unreachable tracker and a remote target are checked, and every option of
# --help must be in the man page.
. "$(dirname "$0")/lib.sh"

TB=$O/trackerbench
[ -x "$TB" ] || fail "missing $TB (build it first: make O=$O)"

# field NAME LINE: the value of NAME= in a result line.
field() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

# bench ADDR ARGS...: run trackerbench, require exit 0, print the result line.
bench() {
	local addr=$1 out st
	shift
	out=$("$TB" --poll --seed 7 "$@" "$addr" 2>"$T/bench.err")
	st=$?
	[ "$st" -eq 0 ] || fail "trackerbench $* $addr exited $st: $(cat "$T/bench.err") $out"
	echo "$out" | grep '^responses_per_s='
}

# Every option that --help lists is documented in trackerbench(1).
MAN=$(dirname "$0")/../../man/trackerbench.1
opts=$("$TB" --help | grep -oE -- '--[a-z-]+')
[ -n "$opts" ] || fail "trackerbench --help lists no options"
for o in $opts; do
	grep -qE "Fl -${o#--}( |\$)" "$MAN" || fail "option $o is not in man/trackerbench.1"
done

# The backend operators get by default where the kernel allows it.
BACKEND=mmsg
uring_works && BACKEND=io_uring

# numwant_default 20 makes "-n -1" (the tracker's default) visible.
start_daemon "$BACKEND" 1 -o numwant_default=20

for addr in "${ADDRS[@]}"; do
	f=$(fam "$addr")
	before=$(ctl_stat "total.$f.announce")
	[ -n "$before" ] || fail "no total.$f.announce counter"
	# IPv4: two threads of two sockets, numwant 30; IPv6: one socket, the
	# tracker's default numwant.
	if [ "$f" = ipv4 ]; then
		args=(-j 2 -s 2 -W 64 -n 30)
		maxpeers=30
	else
		args=(-n -1)
		maxpeers=20
	fi
	line=$(bench "$addr" --strict -w 1 -d 2 -t 2000 --progress "${args[@]}")
	log "$f: $line"
	resp=$(field responses_per_s "$line")
	ann=$(field announce_per_s "$line")
	scr=$(field scrape_per_s "$line")
	con=$(field connect_per_s "$line")
	[ "$(field invalid "$line")" = 0 ] || fail "$f: invalid replies: $line"
	[ "$(field errors "$line")" = 0 ] || fail "$f: error replies: $line"
	[ "$(field late "$line")" = 0 ] || fail "$f: late replies: $line"
	[ "$resp" -gt 0 ] && [ "$ann" -gt 0 ] && [ "$scr" -gt 0 ] && [ "$con" -gt 0 ] ||
		fail "$f: too few responses of some type: $line"
	# Lost: at most 1% of what was answered in the measured window.
	lost=$(field lost "$line")
	[ $((lost * 100)) -le $((resp * 2)) ] || fail "$f: $lost lost: $line"
	# Announces get peers (50,000 peers on 10,000 torrents), never more
	# than asked for.
	ppa=$(field peers_per_announce "$line")
	awk -v p="$ppa" -v m="$maxpeers" 'BEGIN { exit !(p > 1 && p <= m) }' ||
		fail "$f: $ppa peers per announce, expected 1..$maxpeers"
	for k in latency_p50_us latency_p90_us latency_p99_us latency_p999_us; do
		[ "$(field "$k" "$line")" -gt 0 ] || fail "$f: $k is not positive: $line"
	done
	# The daemon answered at least the announces counted in the window.
	after=$(ctl_stat "total.$f.announce")
	[ $((after - before)) -ge $((ann * 2)) ] ||
		fail "$f: daemon counted $((after - before)) announces, trackerbench $((ann * 2))"
done
stop_daemon

# Negative control: a daemon that answers one hash per scrape. Every scrape
# of 2..5 hashes gets a short reply, which must count as invalid, and
# --strict must turn that into exit status 1.
start_daemon "$BACKEND" 1 -o scrape_max=1
out=$("$TB" --poll --strict --seed 7 -w 0 -d 1 --mix 0:1:0 --scrape-max 5 "$A4" 2>&1)
st=$?
line=$(echo "$out" | grep '^responses_per_s=')
log "scrape_max=1: $line"
[ "$st" -eq 1 ] || fail "--strict with short scrape replies exited $st: $out"
[ "$(field invalid "$line")" -gt 0 ] || fail "short scrape replies not counted invalid: $line"
[ "$(field scrape_per_s "$line")" -gt 0 ] || fail "one-hash scrapes not counted valid: $line"
port=${A4##*:}
stop_daemon

# Nothing listens any more: exit status 3.
"$TB" -t 100 -w 0 -d 1 "$A4" >/dev/null 2>&1
st=$?
[ "$st" -eq 3 ] || fail "unreachable tracker: exit $st, expected 3"
# A remote target is refused without --allow-remote (nothing is sent).
"$TB" -w 0 -d 1 "192.0.2.1:$port" >/dev/null 2>&1
st=$?
[ "$st" -eq 2 ] || fail "remote target: exit $st, expected 2"
log "ok"
