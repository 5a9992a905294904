#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# 040-bep41: announces with BEP 41 options (100 and 101 bytes, and a longer
# one padded with NOPs) are answered like plain 98-byte ones.
. "$(dirname "$0")/lib.sh"

run() {
	local addr h n=0
	start_daemon "$1" "$2"
	for addr in "${ADDRS[@]}"; do
		n=$((n + 1))
		h=$(ih $((4140 + n)))
		expect_reply 'leechers=0 seeders=1 npeers=0' "$addr" announce "$h" 6001 0 started 10 --len 100 >/dev/null
		expect_reply "leechers=1 seeders=1 npeers=1 peers=$(peer "$addr" 6001)\$" \
			"$addr" announce "$h" 6002 5 started 10 --len 101 >/dev/null
		expect_reply 'leechers=2 seeders=1 npeers=2' "$addr" announce "$h" 6003 5 started 10 --len 300 >/dev/null
		alive "$addr"
	done
	stop_daemon
}

for_each_config run
echo "ok"
