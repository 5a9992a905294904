#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# tests/summary.sh begin|end - reset and print the totals that the test
# runners append to $RESULTS (one "pass|fail|skip NAME COUNT" line each).
RESULTS=${RESULTS:-${O:-build}/test-results}
case "$1" in
begin)
	mkdir -p "$(dirname "$RESULTS")"
	: >"$RESULTS"
	;;
end)
	awk '
	$1 == "pass" { p += $3 }
	$1 == "fail" { f += $3; bad = bad "  " $2 "\n" }
	$1 == "skip" { s += $3; sk = sk "  " $2 "\n" }
	END {
		if (sk != "") printf "skipped:\n%s", sk
		if (bad != "") printf "failed:\n%s", bad
		printf "%d passed, %d failed, %d skipped\n", p, f, s
		exit (f > 0 || p == 0)
	}' "$RESULTS"
	;;
esac
