#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# 010-connect: connect requests on IPv4 and IPv6 are answered with a
# connection id that the tracker then accepts, and are counted per family.
. "$(dirname "$0")/lib.sh"

run() {
	local addr f before after out id
	start_daemon "$1" "$2"
	for addr in "${ADDRS[@]}"; do
		f=$(fam "$addr")
		before=$(ctl_stat "total.$f.connect")
		for _ in 1 2 3; do
			expect_reply '^connid=[0-9a-f]{16}$' "$addr" connect >/dev/null
		done
		after=$(ctl_stat "total.$f.connect")
		[ "$after" -eq $((before + 3)) ] || fail "total.$f.connect went $before -> $after, expected +3"
		# An id minted for us is accepted by an announce on a new socket.
		out=$(udptc "$addr" connect)
		id=${out#connid=}
		expect_reply '^interval=' "$addr" announce "$(ih 10)" 6881 0 started 10 --connid "$id" >/dev/null
	done
	stop_daemon
}

for_each_config run
echo "ok"
