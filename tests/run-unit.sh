#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# tests/run-unit.sh BIN... - run cmocka test binaries, record their counts.
RESULTS=${RESULTS:-${O:-build}/test-results}
rc=0
for t in "$@"; do
	name=${t##*/}
	out=$($UNIT_WRAPPER "$t" 2>&1) # UNIT_WRAPPER: e.g. valgrind (tests/run-valgrind.sh)
	st=$?
	printf '%s\n' "$out" | grep -E '^\[  (FAILED|ERROR) |^\[  PASSED|^\[==========\] .* ran' \
		| sed "s|^|  $name: |"
	passed=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
	failed=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END {print s+0}')
	if [ "$st" -ne 0 ] && [ "$failed" -eq 0 ]; then
		failed=1 # crashed or exited early
		printf '%s\n' "$out" | tail -n 20 | sed "s|^|  $name: |"
	fi
	[ "$st" -ne 0 ] && printf '%s\n' "$out" | grep -B2 -A8 -E 'FAILED|ERROR' | head -40 | sed "s|^|  $name: |"
	[ "$passed" -gt 0 ] && echo "pass $name $passed" >>"$RESULTS"
	[ "$failed" -gt 0 ] && { echo "fail $name $failed" >>"$RESULTS"; rc=1; }
done
exit $rc
