#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# tests/run-integration.sh SCRIPT... - run integration scripts against the
# real daemon. Exit 0 passes, 77 skips (with the reason printed), else fails.
RESULTS=${RESULTS:-${O:-build}/test-results}
export O=${O:-build}
rc=0
for t in "$@"; do
	name=${t##*/}
	name=${name%.sh}
	log="$O/tests/logs/$name.log"
	mkdir -p "$O/tests/logs"
	start=$(date +%s)
	timeout -k 10 600 bash "$t" >"$log" 2>&1
	st=$?
	secs=$(( $(date +%s) - start ))
	case $st in
	0)  echo "  PASS    $name (${secs}s)"; echo "pass $name 1" >>"$RESULTS" ;;
	77) echo "  SKIP    $name: $(tail -n 1 "$log")"; echo "skip $name 1" >>"$RESULTS" ;;
	*)  echo "  FAIL    $name (exit $st, ${secs}s), last lines of $log:"
	    tail -n 30 "$log" | sed 's/^/    /'
	    echo "fail $name 1" >>"$RESULTS"; rc=1 ;;
	esac
done
exit $rc
