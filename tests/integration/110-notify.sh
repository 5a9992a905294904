#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# 110-notify: what the service manager hears from a socket-activated
# trackerd: the segment in the FD store (FDSTORE=1, FDNAME=swarm, a memfd)
# before READY=1; READY=1 only once every worker serves; a STATUS= line with
# workers, torrents, peers and requests per second, refreshed while running;
# WATCHDOG=1 while the workers progress and not for a stopped one;
# RELOADING=1 with MONOTONIC_USEC= then READY=1 around a reload (good and
# bad config, SIGHUP and trackerctl); STOPPING=1 at the end. Only the main
# pid ever notifies.
. "$(dirname "$0")/sd-lib.sh"

# has_status REGEX...: the newest STATUS= line matches every ERE.
status_matches() {
	local s re
	s=$(grep '^STATUS=' "$NLOG" | tail -n 1)
	for re in "$@"; do
		echo "$s" | grep -Eqi -- "$re" || return 1
	done
}

# reload_seen N HOW: after line N, RELOADING=1 and MONOTONIC_USEC= in one
# datagram from the main pid, with a MONOTONIC_USEC= between $2 and $3,
# then READY=1.
check_reload_msgs() {
	local n=$1 lo=$2 hi=$3 what=$4 msg usec
	wait_until 10 ready_after "$n" || { bad "$what: no READY=1 after the reload"; return; }
	msg=$(nl_msgs "$n" | grep -m1 'RELOADING=1')
	[ -n "$msg" ] || { bad "$what: no RELOADING=1: $(nl_msgs "$n" | tr '\n' ' ')"; return; }
	echo "$msg" | grep -q '^MSG .* main=1 ' || bad "$what: RELOADING=1 not from the main pid: $msg"
	usec=$(echo "$msg" | tr '|' '\n' | sed -n 's/^MONOTONIC_USEC=//p')
	if [ -z "$usec" ]; then
		bad "$what: RELOADING=1 without MONOTONIC_USEC= in the same datagram: $msg"
	elif [ -n "$lo" ] && { [ "$usec" -lt "$lo" ] || [ "$usec" -gt "$hi" ]; }; then
		bad "$what: MONOTONIC_USEC=$usec is not between $lo and $hi (CLOCK_MONOTONIC around the reload)"
	fi
	# READY=1 comes after RELOADING=1, not before.
	nl_msgs "$n" | sed -n '/RELOADING=1/,$p' | tail -n +2 | grep -q 'READY=1' ||
		bad "$what: no READY=1 after RELOADING=1: $(nl_msgs "$n" | tr '\n' ' ')"
}

write_conf workers=2 announce_interval=1800
sd_start -w 2000000

# --- start: FD store, then READY=1 once every worker has its backend.
out=$(ctl workers)
[ "$(echo "$out" | grep -c '^slot=')" -eq 2 ] || bad "READY=1 before both workers ran: $out"
echo "$out" | grep -q 'backend=starting' && bad "READY=1 while a worker was still starting: $out"
msgs=$(nl_msgs 0)
[ "$(echo "$msgs" | grep -c 'FDSTORE=1')" -eq 1 ] || bad "not exactly one FDSTORE=1 at start: $msgs"
echo "$msgs" | grep -Eq '^MSG .* main=1 fds=1\|FDSTORE=1\|FDNAME=swarm\|FD name=swarm kind=memfd size=[1-9][0-9]* stored$' ||
	bad "no FDSTORE=1 FDNAME=swarm datagram carrying the segment memfd: $msgs"
first_store=$(echo "$msgs" | grep -n 'FDSTORE=1' | head -n 1 | cut -d: -f1)
first_ready=$(echo "$msgs" | grep -n 'READY=1' | head -n 1 | cut -d: -f1)
[ "${first_store:-99}" -lt "${first_ready:-0}" ] || bad "the segment was not stored before READY=1: $msgs"
[ "$(nl_count 'READY=1')" -eq 1 ] || bad "more than one READY=1 at start"

# --- STATUS=: one line with workers, torrents, peers, requests per second.
wait_until 5 grep -q '^STATUS=' "$NLOG" || bad "no STATUS= after READY=1"
status_matches 'workers' || bad "STATUS= does not mention the workers: $(grep '^STATUS=' "$NLOG" | tail -n 1)"
status_matches 'torrent' 'peer' '(requests|req)( ?/ ?s|[ _]per[ _]second)' ||
	bad "STATUS= lacks torrents, peers or requests/s: $(grep '^STATUS=' "$NLOG" | tail -n 1)"
# Refreshed: after announces, a later STATUS= shows 2 torrents and 3 peers.
udptc "$A4" announce "$(ih 110)" 7001 0 started 0 >/dev/null || bad announce
udptc "$A4" announce "$(ih 110)" 7002 10 started 0 >/dev/null || bad announce
udptc "$A4" announce "$(ih 111)" 7003 10 started 0 >/dev/null || bad announce
wait_until 15 status_matches '(\b2 torrents\b|torrents[=: ]+2\b)' '(\b3 peers\b|peers[=: ]+3\b)' ||
	bad "STATUS= not refreshed within 15 s to show 2 torrents and 3 peers: $(grep '^STATUS=' "$NLOG" | tr '\n' ' ')"

# --- watchdog: WATCHDOG=1 every second with WATCHDOG_USEC=2000000 ...
n=$(nl_count 'WATCHDOG=1')
wait_until 5 sh -c "[ \$(grep -cx WATCHDOG=1 '$NLOG') -ge $((n + 2)) ]" ||
	bad "WATCHDOG=1 is not sent about every second (WATCHDOG_USEC=2000000)"
# ... but not for a worker that stopped making progress: it is killed and
# replaced, and at most the round already under way when it stopped pings.
victim=$(worker_pids | head -n 1)
n=$(nl_lines)
kill -STOP "$victim"
if wait_until 6 grep -q "pid $victim) made no progress" "$LOG"; then
	pings=$(tail -n +"$((n + 1))" "$NLOG" | grep -cx 'WATCHDOG=1')
	[ "$pings" -le 1 ] || bad "$pings WATCHDOG=1 while worker $victim was stopped"
	log "stopped worker $victim noticed; $pings WATCHDOG=1 meanwhile"
	wait_until 10 sh -c "! kill -0 $victim 2>/dev/null" || bad "the stuck worker was not killed"
	wait_until 10 workers_up 2 || bad "the stuck worker was not replaced"
	n=$(nl_lines)
	wait_until 5 nl_has_after "$n" 'WATCHDOG=1' || bad "no WATCHDOG=1 once the worker was replaced"
else
	bad "a stopped worker (SIGSTOP) was not noticed within 6 s"
	kill -CONT "$victim" 2>/dev/null
fi

# --- reload by SIGHUP (ExecReload=kill -HUP), good config.
write_conf workers=2 announce_interval=900
n=$(nl_lines)
lo=$(mono_usec)
kill -HUP "$MGR"
wait_until 10 ready_after "$n"
hi=$(mono_usec)
[ -n "$lo" ] || log "python3 missing: MONOTONIC_USEC is checked for presence only"
check_reload_msgs "$n" "$lo" "$hi" "SIGHUP reload"
wait_until 10 sh -c "'$UDPTC' '$A4' announce $(ih 110) 7001 0 none 0 | grep -q '^interval=900 '" ||
	bad "the reloaded announce_interval did not apply"

# --- reload with a bad config: still RELOADING=1 then READY=1, nothing changes.
printf 'workers = 2\nannounce_interval = 600\nno_such_key = 1\n' >"$CONF"
n=$(nl_lines)
lo=$(mono_usec)
kill -HUP "$MGR"
wait_until 10 ready_after "$n"
hi=$(mono_usec)
check_reload_msgs "$n" "$lo" "$hi" "bad-config reload"
udptc "$A4" announce "$(ih 110)" 7001 0 none 0 | grep -q '^interval=900 ' ||
	bad "a failed reload changed the running config"

# --- reload through trackerctl.
write_conf workers=2 announce_interval=1200
n=$(nl_lines)
lo=$(mono_usec)
ctl reload >/dev/null || bad "trackerctl reload failed"
wait_until 10 ready_after "$n"
hi=$(mono_usec)
check_reload_msgs "$n" "$lo" "$hi" "trackerctl reload"

# --- only the supervisor notifies; nothing was refused by the store.
grep '^MSG ' "$NLOG" | grep -v ' main=1 ' | head -n 3 | grep -q . &&
	bad "notifications from a pid other than the main one: $(grep '^MSG ' "$NLOG" | grep -v ' main=1 ' | head -n 3)"
grep -E '^FD .* (dropped|full|duplicate)$' "$NLOG" && bad "an fd was sent that the store did not keep"
grep -q ' truncated$' "$NLOG" && bad "a truncated notification"

# --- stop: STOPPING=1 after the last READY=1, then a clean exit.
n=$(nl_lines)
sd_stop
nl_msgs "$n" | grep -q '^MSG .* main=1 .*|STOPPING=1' || bad "no STOPPING=1 on SIGTERM: $(nl_msgs "$n" | tr '\n' ' ')"
nl_msgs "$n" | grep -A100 'STOPPING=1' | grep -q 'READY=1' && bad "READY=1 after STOPPING=1"
finish
