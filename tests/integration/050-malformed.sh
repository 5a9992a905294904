#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# 050-malformed: every malformed input class is dropped or answered with an
# error as the protocol says, counted in its own counter, and the tracker
# keeps answering after each one. Forged connection ids are dropped.
# (Expired ids need a clock far in the past and are covered by the unit
# tests of connid and worker: a test here must not wait connid_max_age.)
. "$(dirname "$0")/lib.sh"

count_is() { [ "$(ctl_stat "total.$1.$2")" -eq "$3" ]; }

# expect_count FAMILY NAME DELTA BEFORE: the counter reaches BEFORE + DELTA
# (a dropped datagram may still be in the worker when udptc gives up on it).
expect_count() {
	wait_until 2 count_is "$1" "$2" $(( $4 + $3 )) ||
		fail "total.$1.$2 is $(ctl_stat "total.$1.$2"), expected $(( $4 + $3 ))"
}

run() {
	local addr f b h
	start_daemon "$1" "$2"
	for addr in "${ADDRS[@]}"; do
		f=$(fam "$addr")
		h=$(ih 5050)

		b=$(ctl_stat "total.$f.drop_short")
		expect_no_reply "$addr" raw 000004172710198000000000000000   # 15 bytes
		expect_no_reply "$addr" raw 00                               # 1 byte
		expect_count "$f" drop_short 2 "$b"
		alive "$addr"

		b=$(ctl_stat "total.$f.drop_action")
		expect_no_reply "$addr" raw 00000417271019800000000912345678   # action 9
		expect_no_reply "$addr" raw 00000000000000000000000312345678 --connid # action 3 (error) from a client
		expect_count "$f" drop_action 2 "$b"
		alive "$addr"

		b=$(ctl_stat "total.$f.drop_magic")
		expect_no_reply "$addr" raw 00000417271019810000000012345678   # connect, wrong magic
		expect_count "$f" drop_magic 1 "$b"
		alive "$addr"

		b=$(ctl_stat "total.$f.drop_announce_short")
		expect_no_reply "$addr" announce "$h" 6881 0 started 10 --len 97
		expect_no_reply "$addr" announce "$h" 6881 0 started 10 --len 20
		expect_count "$f" drop_announce_short 2 "$b"
		alive "$addr"

		b=$(ctl_stat "total.$f.err_port_zero")
		expect_error '^error=.' "$addr" announce "$h" 0 0 started 10
		expect_count "$f" err_port_zero 1 "$b"
		expect_reply '^hashes=1 scrape.0=0,0,0$' "$addr" scrape "$h" >/dev/null
		alive "$addr"

		b=$(ctl_stat "total.$f.err_no_hashes")
		expect_error '^error=.' "$addr" scrape
		# 19 bytes of a hash: still no complete hash.
		expect_reply '^reply=00000003' "$addr" raw 000000000000000000000002123456780102030405060708090a0b0c0d0e0f10111213 --connid >/dev/null
		expect_count "$f" err_no_hashes 2 "$b"
		alive "$addr"

		b=$(ctl_stat "total.$f.drop_connid_forged")
		expect_no_reply "$addr" announce "$h" 6881 0 started 10 --connid forged
		expect_no_reply "$addr" announce "$h" 6881 0 started 10 --connid 0123456789abcdef
		expect_no_reply "$addr" raw 0123456789abcdef00000002123456780000000000000000000000000000000000000000
		expect_count "$f" drop_connid_forged 3 "$b"
		# A forged id never stores the peer.
		expect_reply '^hashes=1 scrape.0=0,0,0$' "$addr" scrape "$h" >/dev/null
		alive "$addr"
	done
	stop_daemon
}

for_each_config run
echo "ok"
