# SPDX-License-Identifier: BSD-2-Clause
# tests/integration/lib.sh - shared helpers for the integration scripts.
#
# Sourced by tests/integration/NNN-name.sh (bash). Starts the real trackerd
# from $O on 127.0.0.1 and ::1 with ephemeral ports, a temporary config
# file, state directory and control socket, learns the ports from the log,
# waits for readiness with the test client (never a fixed sleep), and stops
# everything it started by PID when the script exits, checking that no
# child process is left behind.
#
# Exit status of a script: 0 pass, 77 skip (last line says why), else fail.

set -u

O=${O:-build}
TRACKERD=$O/trackerd
CTL=$O/trackerctl
UDPTC=$O/tests/udptc
# TRACKERD_WRAPPER (e.g. "valgrind ...") prefixes the daemon command;
# TRACKERD_TIMEOUT_MULT scales the readiness and shutdown timeouts for it;
# TRACKERD_OPTS adds -o options to every start (e.g. -o seccomp=no).
read -r -a WRAPPER <<<"${TRACKERD_WRAPPER:-}"
TMULT=${TRACKERD_TIMEOUT_MULT:-1}

for bin in "$TRACKERD" "$CTL" "$UDPTC"; do
	if [ ! -x "$bin" ]; then
		echo "missing $bin (build it first: make O=$O)"
		exit 1
	fi
done

T=$(mktemp -d "${TMPDIR:-/tmp}/trackerd-test.XXXXXX")
CONF=$T/trackerd.conf
SOCK=$T/control.sock
LOG=$T/daemon.log
PID=
CHILDREN=
A4=
A6=
ADDRS=()
HAVE_V6=1
: >"$CONF"

# Is ::1 usable here (containers sometimes run without IPv6)?
if ! grep -qs '^0\{31\}1 ' /proc/net/if_inet6; then
	HAVE_V6=0
fi

log() { echo "# $*"; }

# fail MSG: print MSG and the end of the daemon log, exit 1 (the trap cleans up).
fail() {
	{
		echo "FAIL: $*"
		if [ -s "$LOG" ]; then
			echo "--- last lines of the daemon log:"
			tail -n 25 "$LOG"
		fi
	} >&2
	exit 1
}

skip() {
	echo "$*"
	exit 77
}

# Milliseconds since the epoch.
now_ms() { date +%s%3N; }

# wait_until TIMEOUT_S CMD...: poll CMD every 20 ms until it succeeds or
# TIMEOUT_S seconds have passed (returns 1 then).
wait_until() {
	local limit=$(( $(now_ms) + $1 * 1000 * TMULT ))
	shift
	while ! "$@" >/dev/null 2>&1; do
		[ "$(now_ms)" -lt "$limit" ] || return 1
		sleep 0.02
	done
	return 0
}

# ih N: a 40-hex-digit info-hash made from the number N.
ih() { printf '%040x' "$1"; }

# The children of the running daemon, one PID a line.
children_of() { pgrep -P "$1" 2>/dev/null || true; }

# start_daemon BACKEND WORKERS [-o KEY=VALUE ...]: start trackerd, set PID,
# A4 (127.0.0.1:PORT) and A6 ([::1]:PORT), wait until both answer.
# The port is drawn at random (the config refuses port 0); when it is
# taken, trackerd exits at once and another one is tried.
start_daemon() {
	local backend=$1 workers=$2 port try
	shift 2
	for try in 1 2 3 4 5 6; do
		port=$((20000 + RANDOM % 40000))
		start_on_port "$port" "$backend" "$workers" "$@" && break
		grep -q 'cannot bind' "$LOG" || fail "trackerd did not start (backend $backend, $workers workers)"
		wait "$PID" 2>/dev/null
		PID=
		log "port $port is taken, trying another one"
	done
	[ -n "$PID" ] || fail "no free port found"
	"$UDPTC" wait "$A4" $((10 * TMULT)) >/dev/null || fail "no answer on $A4 (backend $backend)"
	if [ "$HAVE_V6" = 1 ]; then
		"$UDPTC" wait "$A6" $((10 * TMULT)) >/dev/null || fail "no answer on $A6 (backend $backend)"
	fi
	# Every worker and the control process are up once the control socket
	# lists the configured number of workers.
	wait_until 10 workers_up "$workers" || fail "workers did not all start"
	ADDRS=("$A4")
	[ "$HAVE_V6" = 1 ] && ADDRS+=("$A6")
	CHILDREN=$(children_of "$PID")
	log "trackerd pid $PID ($backend, $workers workers) on $A4 ${A6:-}, children:" $CHILDREN
}

# fresh_state: every start begins with an empty table, as the scripts
# expect, unless the script keeps the snapshots (KEEP_STATE=1): a cold
# start loads the snapshot the previous daemon wrote at its shutdown.
fresh_state() {
	[ "${KEEP_STATE:-0}" = 1 ] || rm -f "$T"/state/snapshot.lz4*
}

# start_on_port PORT BACKEND WORKERS [-o ...]: start, wait for the bound
# addresses in the log; returns 1 if trackerd exited instead.
start_on_port() {
	local port=$1 backend=$2 workers=$3 v6
	shift 3
	v6="[::1]:$port"
	[ "$HAVE_V6" = 1 ] || v6=none
	: >"$LOG"
	fresh_state
	# user=root: the test directory is private to root, so the daemon keeps
	# root here; 180-privileges tests the switch to another user.
	"${WRAPPER[@]}" "$TRACKERD" -c "$CONF" -o user=root \
		-o "listen_ipv4=127.0.0.1:$port" -o "listen_ipv6=$v6" \
		-o "state_directory=$T/state" -o "control_socket=$SOCK" \
		-o "io_backend=$backend" -o "workers=$workers" \
		-o max_torrents=20000 -o max_peers=100000 -o max_peers_ipv6=20000 \
		-o socket_recv_buffer=0 -o socket_send_buffer=0 \
		${TRACKERD_OPTS:-} "$@" 2>>"$LOG" &
	PID=$!
	wait_until 10 started_or_dead "$v6" || fail "trackerd did not bind within 10 s"
	kill -0 "$PID" 2>/dev/null && ! grep -q 'cannot bind' "$LOG" || return 1
	A4=127.0.0.1:$port
	A6=
	[ "$HAVE_V6" = 1 ] && A6="[::1]:$port"
	return 0
}

started_or_dead() {
	kill -0 "$PID" 2>/dev/null || return 0
	grep -q 'listening on udp 127\.0\.0\.1:' "$LOG" || return 1
	[ "$1" = none ] || grep -q 'listening on udp \[::1\]:' "$LOG"
}

workers_up() {
	[ "$("$CTL" -s "$SOCK" workers 2>/dev/null | grep -c '^slot=')" -ge "$1" ]
}

# Does the daemon's io_uring backend work on this kernel? Skip otherwise.
# (Call after start_daemon io_uring fails; reads its log.)
uring_unavailable() {
	grep -q 'io_uring cannot be set up' "$LOG"
}

# stop_daemon: SIGTERM, expect exit 0 within 5 s and no child left.
stop_daemon() {
	local limit st c
	[ -n "$PID" ] || return 0
	kill -TERM "$PID" 2>/dev/null
	limit=$(( $(now_ms) + 5000 * TMULT ))
	while kill -0 "$PID" 2>/dev/null; do
		[ "$(now_ms)" -lt "$limit" ] || fail "trackerd did not exit within 5 s of SIGTERM"
		sleep 0.02
	done
	wait "$PID"
	st=$?
	[ "$st" -eq 0 ] || fail "trackerd exited with status $st after SIGTERM"
	for c in $CHILDREN $(children_of "$PID"); do
		if kill -0 "$c" 2>/dev/null; then
			fail "child $c of trackerd is still running"
		fi
	done
	PID=
	CHILDREN=
}

cleanup() {
	local c
	if [ -n "$PID" ]; then
		for c in $(children_of "$PID") $CHILDREN; do
			kill -KILL "$c" 2>/dev/null
		done
		kill -KILL "$PID" 2>/dev/null
		wait "$PID" 2>/dev/null
	fi
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# ctl ARGS...: run trackerctl against the test daemon.
ctl() { "$CTL" -s "$SOCK" "$@"; }

# ctl_stat NAME: one value from "trackerctl stats".
ctl_stat() { ctl stats | sed -n "s/^$1=//p"; }

# expect_stat NAME VALUE
expect_stat() {
	local v
	v=$(ctl_stat "$1")
	[ "$v" = "$2" ] || fail "stats: $1 is '$v', expected $2"
}

# udptc ARGS...: the test client.
udptc() { "$UDPTC" "$@"; }

# expect_reply PATTERN ARGS...: run udptc ARGS, require exit 0 and a line
# matching the extended regular expression PATTERN.
expect_reply() {
	local pat=$1 out st
	shift
	out=$("$UDPTC" "$@")
	st=$?
	[ "$st" -eq 0 ] || fail "udptc $* exited $st: $out"
	echo "$out" | grep -Eq -- "$pat" || fail "udptc $*: '$out' does not match '$pat'"
	echo "$out"
}

# expect_error PATTERN ARGS...: an error reply (udptc exit 3) matching PATTERN.
expect_error() {
	local pat=$1 out st
	shift
	out=$("$UDPTC" "$@")
	st=$?
	[ "$st" -eq 3 ] || fail "udptc $*: expected an error reply, got exit $st: $out"
	echo "$out" | grep -Eq -- "$pat" || fail "udptc $*: '$out' does not match '$pat'"
}

# expect_no_reply ARGS...: udptc must time out (exit 1); 250 ms is plenty on
# loopback, where a reply takes well under a millisecond.
expect_no_reply() {
	local out st
	out=$("$UDPTC" -t 250 -r 1 "$@")
	st=$?
	[ "$st" -eq 1 ] || fail "udptc $*: expected no reply, got exit $st: $out"
}

# alive ADDR: the tracker still answers a connect.
alive() {
	"$UDPTC" "$1" connect >/dev/null || fail "no connect reply from $1 any more"
}

# fam ADDR: ipv4 or ipv6 (the counter family of an address from ADDRS).
fam() { case $1 in \[*) echo ipv6 ;; *) echo ipv4 ;; esac; }

# peer ADDR PORT: a regular expression for how udptc prints the peer at our
# loopback address with PORT.
peer() { case $1 in \[*) echo "\\[::1\\]:$2" ;; *) echo "127\\.0\\.0\\.1:$2" ;; esac; }

# for_each_config FUNCTION: run FUNCTION BACKEND WORKERS for io_uring and
# mmsg with 1 and 2 workers, each on a fresh daemon that FUNCTION starts
# (TRACKERD_BACKENDS="mmsg" limits the backends, e.g. under valgrind).
# A backend the kernel refuses (io_uring disabled) is skipped for that
# pass; if nothing could run at all the script skips.
RAN=0
for_each_config() {
	local fn=$1 backend workers
	for backend in ${TRACKERD_BACKENDS:-io_uring mmsg}; do
		if [ "$backend" = io_uring ] && ! uring_works; then
			log "io_uring is not available here: skipping the io_uring passes"
			continue
		fi
		for workers in 1 2; do
			log "=== $fn: io_backend=$backend workers=$workers"
			"$fn" "$backend" "$workers"
			RAN=$((RAN + 1))
		done
	done
	[ "$RAN" -gt 0 ] || skip "no I/O backend could run"
}

# Probe once whether io_uring can be set up by a daemon here.
URING_STATE=
uring_works() {
	if [ -z "$URING_STATE" ]; then
		if [ "$(cat /proc/sys/kernel/io_uring_disabled 2>/dev/null || echo 0)" = 2 ]; then
			URING_STATE=no
		else
			URING_STATE=yes
		fi
	fi
	[ "$URING_STATE" = yes ]
}
