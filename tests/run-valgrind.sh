#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# tests/run-valgrind.sh UNIT_BIN... -- INTEGRATION_SCRIPT... - the tests
# under valgrind memcheck (make check-valgrind).
#
# Every unit-test binary runs under memcheck; a memory error or a definite
# or indirect leak fails it. "Possibly lost" and "still reachable" blocks
# are not errors: the daemon's processes end on a signal with their
# long-lived tables still allocated (reachable), and interior pointers into
# arenas look "possible" without being leaks.
#
# The integration scripts run with trackerd itself under memcheck
# (TRACKERD_WRAPPER, honoured by tests/integration/lib.sh), following the
# forked workers and control process too. One log per process goes to
# $O/tests/valgrind/; a script fails when any of its logs reports an error
# or a leak, or does not end in an error summary (valgrind died). Only the
# mmsg backend runs: valgrind does not see the kernel fill io_uring's
# shared rings and buffers, so it would either miss or invent errors there.
# valgrind 3.19 has no seccomp(2) either: the daemon runs with seccomp=no
# and a smaller table (memcheck scans the whole shared segment for pointers
# when a process exits, and the supervisor waits 3 s for a stopping child);
# the unit tests see TRACKERD_UNDER_VALGRIND=1 (which also drops their
# timing bounds, meaningless at valgrind's speed).
RESULTS=${RESULTS:-${O:-build}/test-results}
export O=${O:-build}
VG="valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect"
LOGS=$O/tests/valgrind
rc=0

units=
while [ $# -gt 0 ] && [ "$1" != -- ]; do
	units="$units $1"
	shift
done
[ $# -gt 0 ] && shift

echo "  VALGRIND unit tests"
# shellcheck disable=SC2086
TRACKERD_UNDER_VALGRIND=1 UNIT_WRAPPER="$VG -q" sh tests/run-unit.sh $units || rc=1

rm -rf "$LOGS"
mkdir -p "$LOGS"
for t in "$@"; do
	name=${t##*/}
	name=${name%.sh}
	log="$LOGS/$name.log"
	start=$(date +%s)
	TRACKERD_UNDER_VALGRIND=1 TRACKERD_WRAPPER="$VG --trace-children=yes --log-file=$LOGS/$name.vg.%p" \
		TRACKERD_TIMEOUT_MULT=${TRACKERD_TIMEOUT_MULT:-6} TRACKERD_BACKENDS=mmsg \
		TRACKERD_OPTS="-o seccomp=no -o max_torrents=2000 -o max_peers=10000 -o max_peers_ipv6=2000" \
		timeout -k 10 900 bash "$t" >"$log" 2>&1
	st=$?
	secs=$(( $(date +%s) - start ))
	bad=
	for v in "$LOGS/$name".vg.*; do
		[ -e "$v" ] || continue
		if ! grep -q 'ERROR SUMMARY: 0 errors' "$v"; then
			bad="$bad $v"
		fi
	done
	if [ "$st" -eq 77 ]; then
		echo "  SKIP    valgrind $name: $(tail -n 1 "$log")"
		echo "skip valgrind-$name 1" >>"$RESULTS"
	elif [ "$st" -eq 0 ] && [ -z "$bad" ] && ls "$LOGS/$name".vg.* >/dev/null 2>&1; then
		echo "  PASS    valgrind $name (${secs}s, $(ls "$LOGS/$name".vg.* | wc -l) processes)"
		echo "pass valgrind-$name 1" >>"$RESULTS"
	else
		echo "  FAIL    valgrind $name (exit $st, ${secs}s)"
		tail -n 20 "$log" | sed 's/^/    /'
		for v in $bad; do
			echo "    --- $v:"
			grep -v '^==[0-9]*== *$' "$v" | tail -n 40 | sed 's/^/    /'
		done
		echo "fail valgrind-$name 1" >>"$RESULTS"
		rc=1
	fi
done
exit $rc
