#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# 030-scrape: scrapes of 1 and 74 info-hashes (the most one datagram
# answers), known and unknown hashes, and the scrape_max cap.
. "$(dirname "$0")/lib.sh"

run() {
	local addr hashes i out f before
	start_daemon "$1" "$2"
	hashes=()
	for i in $(seq 1 74); do
		hashes+=("$(ih $((1000 + i)))")
	done
	for addr in "${ADDRS[@]}"; do
		f=$(fam "$addr")
		# Unknown hash: zeros.
		expect_reply '^hashes=1 scrape.0=0,0,0$' "$addr" scrape "$(ih 5)" >/dev/null
		# Two seeders on hash 1, one leecher on hash 3.
		udptc "$addr" announce "${hashes[0]}" 9001 0 started 0 >/dev/null || fail announce
		udptc "$addr" announce "${hashes[0]}" 9002 0 started 0 >/dev/null || fail announce
		udptc "$addr" announce "${hashes[2]}" 9003 7 started 0 >/dev/null || fail announce
		before=$(ctl_stat "total.$f.scrape_hashes")
		out=$(expect_reply '^hashes=74 ' "$addr" scrape "${hashes[@]:0:74}") || exit 1
		echo "$out" | grep -q ' scrape.0=2,0,0 scrape.1=0,0,0 scrape.2=0,0,1 ' ||
			fail "74-hash scrape counts wrong: $out"
		echo "$out" | grep -q ' scrape.73=0,0,0$' || fail "last entry missing: $out"
		[ "$(ctl_stat "total.$f.scrape_hashes")" -eq $((before + 74)) ] ||
			fail "scrape_hashes not counted"
		udptc "$addr" announce "${hashes[0]}" 9001 0 stopped 0 >/dev/null
		udptc "$addr" announce "${hashes[0]}" 9002 0 stopped 0 >/dev/null
		udptc "$addr" announce "${hashes[2]}" 9003 7 stopped 0 >/dev/null
	done
	stop_daemon

	# scrape_max caps the hashes answered; the rest of the request is ignored.
	start_daemon "$1" "$2" -o scrape_max=10
	for addr in "${ADDRS[@]}"; do
		expect_reply '^hashes=10 .* scrape.9=0,0,0$' "$addr" scrape "${hashes[@]:0:12}" >/dev/null
		expect_reply '^hashes=3 ' "$addr" scrape "${hashes[@]:0:3}" >/dev/null
	done
	stop_daemon
}

for_each_config run
echo "ok"
