#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# 020-announce: seeders and leechers, peer lists and counts, numwant
# 0/1/-1/huge, stopped and completed, on IPv4 and IPv6; each family only
# gets peers of its own family, never the requester itself.
. "$(dirname "$0")/lib.sh"

run() {
	local addr h out p
	# numwant_default 2 and numwant_max 4 make the numwant rules visible.
	start_daemon "$1" "$2" -o numwant_default=2 -o numwant_max=4 -o announce_interval=1234
	for addr in "${ADDRS[@]}"; do
		h=$(ih "$(( $(fam "$addr" | tr -dc 0-9) ))")
		# A seeder alone: nobody else to return.
		expect_reply '^interval=1234 leechers=0 seeders=1 npeers=0 peers=$' \
			"$addr" announce "$h" 7001 0 started 50 >/dev/null
		# A leecher gets the seeder.
		expect_reply "^interval=1234 leechers=1 seeders=1 npeers=1 peers=$(peer "$addr" 7001)\$" \
			"$addr" announce "$h" 7002 1000 started 50 >/dev/null
		# Re-announcing does not duplicate the peer.
		expect_reply "leechers=1 seeders=1 npeers=1 peers=$(peer "$addr" 7001)\$" \
			"$addr" announce "$h" 7002 1000 none 50 >/dev/null
		for p in 7003 7004 7005 7006; do
			udptc "$addr" announce "$h" "$p" 500 started 1 >/dev/null || fail "announce $p"
		done
		# Six peers now (1 seeder, 5 leechers); a seventh asks with various numwant.
		expect_reply 'leechers=6 seeders=1 npeers=2 ' "$addr" announce "$h" 7007 1 started 0 >/dev/null
		expect_reply 'leechers=6 seeders=1 npeers=2 ' "$addr" announce "$h" 7007 1 none -1 >/dev/null
		expect_reply 'leechers=6 seeders=1 npeers=1 ' "$addr" announce "$h" 7007 1 none 1 >/dev/null
		expect_reply 'leechers=6 seeders=1 npeers=3 ' "$addr" announce "$h" 7007 1 none 3 >/dev/null
		expect_reply 'leechers=6 seeders=1 npeers=4 ' "$addr" announce "$h" 7007 1 none 2147483647 >/dev/null
		# Never the requester itself.
		out=$(udptc "$addr" announce "$h" 7007 1 none 4)
		echo "$out" | grep -q "$(peer "$addr" 7007)" && fail "requester got itself: $out"
		# Stopped removes the peer.
		expect_reply 'leechers=5 seeders=1 ' "$addr" announce "$h" 7002 1000 stopped 0 >/dev/null
		out=$(udptc "$addr" announce "$h" 7003 500 none 4)
		echo "$out" | grep -q "$(peer "$addr" 7002)" && fail "stopped peer still returned: $out"
		# Completed turns a leecher into a seeder and is counted once.
		expect_reply 'leechers=4 seeders=2 ' "$addr" announce "$h" 7003 0 completed 0 >/dev/null
		expect_reply '^hashes=1 scrape.0=2,1,4$' "$addr" scrape "$h" >/dev/null
		expect_reply 'leechers=4 seeders=2 ' "$addr" announce "$h" 7003 0 completed 0 >/dev/null
		expect_reply '^hashes=1 scrape.0=2,1,4$' "$addr" scrape "$h" >/dev/null
	done
	if [ "$HAVE_V6" = 1 ]; then
		# One swarm seen from both families: counts cover both, peers only one's own.
		h=$(ih 99)
		udptc "$A4" announce "$h" 8001 0 started 0 >/dev/null || fail "v4 announce"
		expect_reply 'leechers=1 seeders=1 npeers=0 peers=$' "$A6" announce "$h" 8002 10 started 50 >/dev/null
		expect_reply "leechers=1 seeders=2 npeers=1 peers=127\\.0\\.0\\.1:8001\$" \
			"$A4" announce "$h" 8003 0 none 50 >/dev/null
		expect_reply '^hashes=1 scrape.0=2,0,1$' "$A6" scrape "$h" >/dev/null
	fi
	expect_stat total.ipv4.err_port_zero 0
	[ "$(ctl_stat total.ipv4.announce)" -ge 15 ] || fail "announces not counted"
	stop_daemon
}

for_each_config run
echo "ok"
