#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# 090-reload: SIGHUP re-reads the config file: a valid change reaches new
# workers without losing peers or sockets, a bad file changes nothing, and
# keys that need a restart are refused by name while the rest applies.
. "$(dirname "$0")/lib.sh"

interval_is() {
	"$UDPTC" "$A4" announce "$(ih 9090)" 7001 0 none 0 | grep -q "^interval=$1 "
}

run() {
	local h
	h=$(ih 9090)
	echo "announce_interval = 1800" >"$CONF"
	start_daemon "$1" "$2"
	expect_reply '^interval=1800 leechers=0 seeders=1' "$A4" announce "$h" 7001 0 started 0 >/dev/null
	udptc "$A4" announce "$h" 7002 10 started 0 >/dev/null || fail announce

	echo "announce_interval = 900" >"$CONF"
	kill -HUP "$PID"
	wait_until 10 interval_is 900 || fail "the new announce_interval did not apply"
	wait_until 10 sh -c "! '$CTL' -s '$SOCK' workers | grep -q 'generation=1 '" ||
		fail "the old generation did not drain"
	expect_reply '^interval=900 leechers=1 seeders=1 npeers=1' "$A4" announce "$h" 7001 0 none 5 >/dev/null

	# A broken file: logged with file and line, nothing changes.
	printf 'announce_interval = 600\nbogus_key = 1\n' >"$CONF"
	kill -HUP "$PID"
	wait_until 10 grep -q "reload failed.*trackerd.conf:2" "$LOG" || fail "bad config not reported"
	interval_is 900 || fail "a failed reload changed the running config"

	# A restart-only key is refused by name; the rest applies.
	printf 'announce_interval = 600\nipv6_only = no\n' >"$CONF"
	kill -HUP "$PID"
	wait_until 10 interval_is 600 || fail "reload with a refused key did not apply the rest"
	grep -q "ipv6_only cannot change without a restart" "$LOG" || fail "refused key not named"
	expect_reply 'leechers=1 seeders=1 npeers=1' "$A4" announce "$h" 7001 0 none 5 >/dev/null
	alive "$A4"
	[ "$HAVE_V6" = 1 ] && alive "$A6"
	CHILDREN=$(children_of "$PID")
	stop_daemon
}

for_each_config run
echo "ok"
