#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# 180-privileges: trackerd started as root with user=nobody binds its
# sockets as root, then every process of it runs as nobody: real,
# effective, saved and filesystem ids, no capability in any set
# (permitted, effective, inheritable, ambient, bounding), NoNewPrivs 1;
# the workers also run under their seccomp filter. It still serves both
# families, trackerctl (as root) still works, including the commands that
# write to the state directory (save, ban), whose files belong to nobody.
# A user that does not exist falls back to nobody with a warning.
# Runs on io_uring (when the kernel allows it) and mmsg. Needs root.
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip "not root: nothing to give up"
getent passwd nobody >/dev/null || skip "no user nobody"
NUID=$(id -u nobody)
NGID=$(id -g nobody)
# The daemon, once nobody, must reach its state directory and socket in $T.
chmod 0755 "$T"

# check_proc PID WHAT SECCOMP: the ids, capabilities and flags of one process.
check_proc() {
	local st=/proc/$1/status f
	[ -r "$st" ] || fail "$2 (pid $1) is gone"
	grep -Eq "^Uid:[[:space:]]+$NUID[[:space:]]+$NUID[[:space:]]+$NUID[[:space:]]+$NUID$" "$st" ||
		fail "$2: $(grep ^Uid: "$st")"
	grep -Eq "^Gid:[[:space:]]+$NGID[[:space:]]+$NGID[[:space:]]+$NGID[[:space:]]+$NGID$" "$st" ||
		fail "$2: $(grep ^Gid: "$st")"
	for f in CapInh CapPrm CapEff CapBnd CapAmb; do
		grep -Eq "^$f:[[:space:]]+0+$" "$st" || fail "$2: $(grep "^$f:" "$st")"
	done
	grep -Eq '^NoNewPrivs:[[:space:]]+1$' "$st" || fail "$2: $(grep ^NoNewPrivs: "$st")"
	grep -Eq "^Seccomp:[[:space:]]+$3$" "$st" || fail "$2: $(grep ^Seccomp: "$st") (expected $3)"
	# root cannot be regained: the groups are nobody's only
	grep -Eq "^Groups:[[:space:]]*($NGID)?[[:space:]]*$" "$st" || fail "$2: $(grep ^Groups: "$st")"
}

run() {
	local backend=$1 w workers ctrl a ih1
	rm -rf "$T/state"
	start_daemon "$backend" 2 -o user=nobody -o group=nogroup-does-not-exist
	grep -q "running as user 'nobody' (uid $NUID)" "$LOG" || fail "no 'running as user nobody' line"
	grep -q "group 'nogroup-does-not-exist' does not exist" "$LOG" || fail "no warning about the group"

	check_proc "$PID" "supervisor" 0
	workers=$(ctl workers | sed -n 's/.*pid=\([0-9]*\).*/\1/p')
	[ "$(echo "$workers" | wc -w)" = 2 ] || fail "workers: $(ctl workers)"
	for w in $workers; do
		check_proc "$w" "worker" 2
	done
	ctrl=
	for c in $(children_of "$PID"); do
		echo "$workers" | grep -qx "$c" || ctrl=$c
	done
	[ -n "$ctrl" ] || fail "no control process among $(children_of "$PID")"
	check_proc "$ctrl" "control process" 0

	# Still serving, both families.
	ih1=$(ih 180)
	for a in "${ADDRS[@]}"; do
		expect_reply 'interval=[0-9]+ leechers=[12] ' "$a" announce "$ih1" 6881 100 started 10 >/dev/null
	done
	# The control socket belongs to nobody; root connects; writes work.
	[ "$(stat -c '%U %a' "$SOCK")" = "nobody 660" ] || fail "control socket: $(stat -c '%U %G %a' "$SOCK")"
	ctl status | grep -q '^torrents=1$' || fail "status: $(ctl status)"
	ctl save >/dev/null || fail "save failed as nobody"
	[ "$(stat -c %U "$T/state/snapshot.lz4")" = nobody ] || fail "snapshot not written by nobody"
	ctl ban 192.0.2.0/24 >/dev/null || fail "ban failed"
	[ "$(stat -c %U "$T/state/bans")" = nobody ] || fail "ban file not written by nobody"
	grep -q '^192.0.2.0/24 0$' "$T/state/bans" || fail "ban file: $(cat "$T/state/bans")"
	# A worker killed is restarted by the unprivileged supervisor, also confined.
	w=$(echo "$workers" | head -n 1)
	kill -KILL "$w"
	wait_until 10 sh -c "'$CTL' -s '$SOCK' workers | grep -q 'restarts=1'" || fail "worker not restarted"
	for w in $(ctl workers | sed -n 's/.*pid=\([0-9]*\).*/\1/p'); do
		check_proc "$w" "restarted worker" 2
	done
	alive "$A4"
	stop_daemon
}

for backend in io_uring mmsg; do
	if [ "$backend" = io_uring ] && ! uring_works; then
		log "io_uring is not available here: skipping that pass"
		continue
	fi
	log "=== io_backend=$backend"
	run "$backend"
done

# A user that does not exist: nobody, with a warning.
start_daemon mmsg 1 -o user=no-such-user-180
grep -q "user 'no-such-user-180' does not exist, running as 'nobody' instead" "$LOG" ||
	fail "no fallback warning"
check_proc "$PID" "supervisor (fallback)" 0
stop_daemon

# user=root keeps root, and says so.
start_daemon mmsg 1 -o user=root
grep -q 'running as root (user = root)' "$LOG" || fail "no warning for user=root"
grep -Eq '^Uid:[[:space:]]+0[[:space:]]' "/proc/$PID/status" || fail "user=root did not keep root"
grep -Eq '^NoNewPrivs:[[:space:]]+1$' "/proc/$PID/status" || fail "no_new_privs not set as root"
stop_daemon
echo "ok"
