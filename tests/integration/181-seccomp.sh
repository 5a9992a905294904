#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# 181-seccomp: the workers' seccomp filter, on io_uring (when the kernel
# allows it) and mmsg.
#  1. Every worker runs filtered (Seccomp: 2) and serves both families; the
#     other integration tests run with the same default (seccomp = yes), so
#     they prove that normal serving needs no other system call.
#  2. The documented test hook (TRACKERD_TEST_SECCOMP_VIOLATION=FILE) makes
#     one worker call getuid(2) once its filter is in place: it logs the
#     call by name and dies of SIGSYS, the supervisor logs the signal and
#     restarts it (restarts=1, filtered again), the tracker keeps serving,
#     and the hook file is gone so it fires once.
#  3. seccomp = no: workers run unfiltered and the hook never fires.
. "$(dirname "$0")/lib.sh"

seccomp_of() { sed -n 's/^Seccomp:[[:space:]]*//p' "/proc/$1/status"; }
filtered() { [ "$(seccomp_of "$1")" = 2 ]; }
worker_pids() { ctl workers | sed -n 's/.*pid=\([0-9]*\).*/\1/p'; }

run() {
	local backend=$1 w a n
	# 1. filtered workers serve.
	start_daemon "$backend" 2
	for w in $(worker_pids); do
		# A worker installs its filter once set up, just after it registers.
		wait_until 5 filtered "$w" || fail "worker $w: Seccomp $(seccomp_of "$w"), expected 2"
	done
	for a in "${ADDRS[@]}"; do
		expect_reply 'interval=' "$a" announce "$(ih 181)" 6881 0 started 5 >/dev/null
		expect_reply 'hashes=1' "$a" scrape "$(ih 181)" >/dev/null
	done
	grep -q 'SIGSYS\|forbidden system call' "$LOG" && fail "a worker hit the filter while serving"
	stop_daemon

	# 2. a violation: logged by name, restarted, still serving.
	: >"$T/violate"
	export TRACKERD_TEST_SECCOMP_VIOLATION=$T/violate
	start_daemon "$backend" 2
	unset TRACKERD_TEST_SECCOMP_VIOLATION
	wait_until 10 grep -q 'seccomp: forbidden system call [0-9]* (getuid)' "$LOG" ||
		fail "the worker did not log the forbidden call"
	wait_until 10 grep -Eq 'worker/[01] \(pid [0-9]+\) killed by signal 31 .*seccomp.*restarting' "$LOG" ||
		fail "the supervisor did not log the SIGSYS death and the restart"
	[ -e "$T/violate" ] && fail "the hook file is still there"
	wait_until 10 sh -c "'$CTL' -s '$SOCK' workers | grep -q 'restarts=1'" ||
		fail "no worker restarted: $(ctl workers)"
	n=$(ctl workers | grep -c 'restarts=0')
	[ "$n" = 1 ] || fail "expected one untouched worker: $(ctl workers)"
	for w in $(worker_pids); do
		[ "$(seccomp_of "$w")" = 2 ] || fail "restarted worker $w is not filtered"
	done
	for a in "${ADDRS[@]}"; do
		alive "$a"
	done
	[ "$(grep -c 'forbidden system call' "$LOG")" = 1 ] || fail "the hook fired more than once"
	stop_daemon

	# 3. seccomp = no.
	: >"$T/violate"
	export TRACKERD_TEST_SECCOMP_VIOLATION=$T/violate
	start_daemon "$backend" 1 -o seccomp=no
	unset TRACKERD_TEST_SECCOMP_VIOLATION
	for w in $(worker_pids); do
		[ "$(seccomp_of "$w")" = 0 ] || fail "seccomp=no: worker $w is filtered"
	done
	alive "$A4"
	[ -e "$T/violate" ] || fail "seccomp=no: the hook fired"
	grep -q 'forbidden system call' "$LOG" && fail "seccomp=no: a forbidden call was logged"
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
echo "ok"
