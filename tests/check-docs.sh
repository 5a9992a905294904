#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# tests/check-docs.sh O - every config key that trackerd knows appears in
# trackerd.conf(5), and every trackerctl command appears in trackerctl(8).
O=${1:-build}
rc=0
n=0
for key in $("$O/trackerd" --print-config | sed -n 's/^\([a-z0-9_]*\) *=.*/\1/p'); do
	n=$((n + 1))
	if ! grep -qE "^\.It Cm $key( |\$)" man/trackerd.conf.5; then
		echo "check-docs: config key '$key' is not documented in man/trackerd.conf.5"
		rc=1
	fi
done
[ "$n" -gt 0 ] || { echo "check-docs: trackerd --print-config listed no keys"; rc=1; }
m=0
if [ -x "$O/trackerctl" ]; then
	for cmd in $("$O/trackerctl" help | sed -n 's/^  \([a-z-]*\).*/\1/p'); do
		m=$((m + 1))
		if ! grep -qE "^\.It Cm $cmd( |\$)" man/trackerctl.8; then
			echo "check-docs: trackerctl command '$cmd' is not documented in man/trackerctl.8"
			rc=1
		fi
	done
fi
[ $rc -eq 0 ] && echo "  DOCS    ok ($n config keys, $m trackerctl commands)"
exit $rc
