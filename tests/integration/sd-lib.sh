# SPDX-License-Identifier: BSD-2-Clause
# tests/integration/sd-lib.sh - run the real trackerd the way systemd does.
#
# Sourced (after nothing else) by the 1NN-*.sh scripts that test the systemd
# integration. It sources lib.sh for the common helpers, then starts trackerd
# behind two systemd-socket-activate processes (the control socket and the
# UDP sockets, each with its FileDescriptorName) and the test service
# manager notify_listener, which records every sd_notify datagram in
# $NLOG, keeps the FD store and restarts trackerd with it on SIGUSR1:
#
#   systemd-socket-activate -l control.sock --fdname=control --
#     systemd-socket-activate --datagram -l 127.0.0.1:P -l [::1]:P
#         --fdname=control:udp4:udp6 --
#       notify_listener -s notify.sock -o notify.log -p trackerd.pid --
#         trackerd -c trackerd.conf ...
#
# Connecting to the control socket starts the chain (the same PID execs
# down to notify_listener: $MGR). The configured listen addresses and
# control socket are decoys on another port and path, so a daemon that
# ignored its inherited sockets would show. Keys that a test may change by
# reload live in the config file (an -o option would override the file on
# every reload).
#
# Checks that should all be reported use bad() and the script ends with
# finish(); fail() (lib.sh) stops at once.

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NL=$O/tests/notify_listener
[ -x "$NL" ] || { echo "missing $NL (build it first: make O=$O)"; exit 1; }
SSA=$(command -v systemd-socket-activate 2>/dev/null) ||
	skip "systemd-socket-activate not found (Debian package systemd)"

NSOCK=$T/notify.sock
NLOG=$T/notify.log
PIDF=$T/trackerd.pid
MGR=
PORT=
DECOY=
DECOY_SOCK=$T/decoy.sock
FAILS=0

# bad MSG: record a failed check and go on (finish() fails the script).
bad() {
	echo "FAIL: $*" >&2
	FAILS=$((FAILS + 1))
}

# finish: exit 1 with the logs if any check failed, else print ok.
finish() {
	if [ "$FAILS" -gt 0 ]; then
		{
			echo "--- $FAILS check(s) failed; last lines of the daemon log:"
			tail -n 25 "$LOG"
			echo "--- last lines of the notify log:"
			tail -n 25 "$NLOG" 2>/dev/null
		} >&2
		exit 1
	fi
	echo "ok"
	exit 0
}

# write_conf [KEY=VALUE ...]: the config file: test defaults, each KEY=VALUE
# replacing the default of KEY or adding a line.
write_conf() {
	local -A kv=([workers]=2 [max_torrents]=20000 [max_peers]=100000
		[max_peers_ipv6]=20000)
	local -a order=(workers max_torrents max_peers max_peers_ipv6)
	local a k
	for a in "$@"; do
		k=${a%%=*}
		[ -n "${kv[$k]+x}" ] || order+=("$k")
		kv[$k]=${a#*=}
	done
	: >"$CONF"
	for k in "${order[@]}"; do
		echo "$k = ${kv[$k]}" >>"$CONF"
	done
}

# nl_count REGEX: lines of the notify log matching the whole-line ERE.
nl_count() { grep -Ecx -- "$1" "$NLOG" 2>/dev/null || true; }

# nl_has_after N REGEX: a line after line N of the notify log matches.
nl_has_after() { tail -n +"$(($1 + 1))" "$NLOG" | grep -Eqx -- "$2"; }

# nl_lines: current length of the notify log.
nl_lines() { wc -l <"$NLOG" 2>/dev/null || echo 0; }

mgr_alive() { [ -n "$MGR" ] && kill -0 "$MGR" 2>/dev/null; }

# ready_after N: a READY=1 from the main pid after line N.
ready_after() { nl_has_after "$1" 'READY=1'; }

# With SD_SOCKETS=N (N > 1), N sockets per family in one SO_REUSEPORT
# group are passed instead, as N ListenDatagram= lines with ReusePort=yes
# would (systemd-socket-activate cannot set SO_REUSEPORT): a small python3
# activator binds them and the control socket, then execs notify_listener.
SD_SOCKETS=1
cat >"$T/activate.py" <<'PYEOF'
import fcntl, os, socket, sys
# activate.py CONTROL PORT N V6 -- COMMAND...: bind, pass as $LISTEN_FDS, exec.
path, port, n, v6 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
argv = sys.argv[6:]
socks, names = [], []
c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
c.bind(path)
c.listen(64)
socks.append(c)
names.append("control")
fams = [(socket.AF_INET, "127.0.0.1", "udp4")]
if v6:
    fams.append((socket.AF_INET6, "::1", "udp6"))
for fam, addr, name in fams:
    for i in range(n):
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if fam == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        try:
            s.bind((addr, port))
        except OSError as e:
            sys.stderr.write("activate.py: Address already in use: %s\n" % e)
            sys.exit(1)
        socks.append(s)
        names.append(name)
high = [fcntl.fcntl(s.fileno(), fcntl.F_DUPFD_CLOEXEC, 3 + len(socks) + 16) for s in socks]
for i, fd in enumerate(high):
    os.dup2(fd, 3 + i, inheritable=True)
os.environ.update(LISTEN_FDS=str(len(socks)), LISTEN_PID=str(os.getpid()),
                  LISTEN_FDNAMES=":".join(names))
os.execv(argv[0], argv)
PYEOF

# sd_start [-w WATCHDOG_USEC] [TRACKERD ARGS...]: start the chain on a
# random free port, trigger it with a control connection, wait for READY=1
# and for every configured worker. Sets MGR, PID, PORT, A4, A6, ADDRS.
sd_start() {
	local wd= try names workers i
	local -a inner
	if [ "${1:-}" = -w ]; then
		wd=$2
		shift 2
	fi
	workers=$(sed -n 's/^workers = //p' "$CONF")
	for try in 1 2 3 4 5 6; do
		PORT=$((20000 + RANDOM % 40000))
		DECOY=$((20000 + RANDOM % 40000))
		[ "$DECOY" != "$PORT" ] || continue
		inner=(--datagram -l "127.0.0.1:$PORT")
		names=control:udp4
		if [ "$HAVE_V6" = 1 ]; then
			inner+=(-l "[::1]:$PORT")
			names=$names:udp6
		fi
		: >"$LOG"
		: >"$NLOG"
		rm -f "$SOCK" "$PIDF"
		if [ "$SD_SOCKETS" -gt 1 ]; then
			command -v python3 >/dev/null 2>&1 || skip "python3 not found (needed for SD_SOCKETS)"
			names=control
			for i in $(seq 1 "$SD_SOCKETS"); do names=$names:udp4; done
			[ "$HAVE_V6" = 1 ] && for i in $(seq 1 "$SD_SOCKETS"); do names=$names:udp6; done
			inner=(python3 "$T/activate.py" "$SOCK" "$PORT" "$SD_SOCKETS" "$HAVE_V6" --)
		else
			inner=("$SSA" -l "$SOCK" --fdname=control -- "$SSA" "${inner[@]}" --fdname="$names" --)
		fi
		fresh_state
		"${inner[@]}" \
			"$NL" -s "$NSOCK" -o "$NLOG" -p "$PIDF" ${wd:+-w "$wd"} -T 120 -- \
			"$TRACKERD" -c "$CONF" -o user=root -o "state_directory=$T/state" \
			-o "listen_ipv4=127.0.0.1:$DECOY" -o "listen_ipv6=[::1]:$DECOY" \
			-o "control_socket=$DECOY_SOCK" "$@" 2>>"$LOG" &
		MGR=$!
		wait_until 5 test -S "$SOCK" || fail "systemd-socket-activate did not listen on $SOCK"
		# The first connection starts everything; it is answered once
		# the control process runs.
		if "$CTL" -s "$SOCK" -t 10 version >/dev/null 2>&1; then
			break
		fi
		if grep -q 'Address already in use' "$LOG"; then
			wait_until 5 sh -c "! kill -0 $MGR" || fail "the chain did not exit"
			wait "$MGR" 2>/dev/null
			MGR=
			log "port $PORT is taken, trying another one"
			continue
		fi
		fail "the socket-activated trackerd did not answer 'version' (chain $(mgr_alive && echo running || echo gone)): $(cat "$LOG" "$NLOG" 2>/dev/null | tail -n 20)"
	done
	[ -n "$MGR" ] || fail "no free port found"
	A4=127.0.0.1:$PORT
	A6=
	ADDRS=("$A4")
	if [ "$HAVE_V6" = 1 ]; then
		A6="[::1]:$PORT"
		ADDRS+=("$A6")
	fi
	wait_until 10 test -s "$PIDF" || fail "notify_listener wrote no pid file"
	PID=$(cat "$PIDF")
	wait_until 10 ready_after 0 || fail "no READY=1 within 10 s"
	wait_until 10 workers_up "${workers:-1}" || fail "workers did not all start: $(ctl workers)"
	CHILDREN=$(children_of "$PID")
	log "trackerd pid $PID under notify_listener $MGR on $A4 ${A6:-} (fds $names), children:" \
		$CHILDREN
}

# sd_restart: like "systemctl restart": notify_listener stops trackerd and
# starts it again with the same sockets and its FD store. Updates PID.
sd_restart() {
	local old=$PID n starts
	n=$(nl_lines)
	starts=$(nl_count 'START .*')
	kill -USR1 "$MGR"
	wait_until 20 sh -c "[ \$(grep -c '^START ' '$NLOG') -gt $starts ]" ||
		fail "notify_listener did not restart trackerd"
	wait_until 10 sh -c "[ -s '$PIDF' ] && [ \"\$(cat '$PIDF')\" != $old ]" ||
		fail "no new pid after the restart"
	PID=$(cat "$PIDF")
	wait_until 10 ready_after "$n" || fail "no READY=1 after the restart"
	CHILDREN=$(children_of "$PID")
}

# sd_stop: SIGTERM to notify_listener (it stops trackerd like systemctl
# stop); trackerd must exit 0 within 10 s and leave no child behind.
sd_stop() {
	local st c
	[ -n "$MGR" ] || return 0
	CHILDREN="$CHILDREN $(children_of "$PID")"
	kill -TERM "$MGR" 2>/dev/null
	wait_until 10 sh -c "! kill -0 $MGR 2>/dev/null" || fail "trackerd did not stop within 10 s"
	wait "$MGR"
	st=$?
	MGR=
	grep -qx "EXIT pid=$PID status=0" "$NLOG" ||
		fail "trackerd did not exit with status 0: $(grep '^EXIT' "$NLOG" | tail -n 1)"
	[ "$st" -eq 0 ] || fail "notify_listener exited with $st"
	for c in $CHILDREN; do
		kill -0 "$c" 2>/dev/null && fail "child $c of trackerd is still running"
	done
	PID=
	CHILDREN=
}

sd_cleanup() {
	local c
	if [ -n "$PID" ]; then
		for c in $(children_of "$PID") $CHILDREN; do
			kill -KILL "$c" 2>/dev/null
		done
		kill -KILL "$PID" 2>/dev/null
	fi
	if [ -n "$MGR" ]; then
		kill -KILL "$MGR" 2>/dev/null
		wait "$MGR" 2>/dev/null
	fi
	PID=
	cleanup
}
trap sd_cleanup EXIT

# worker_pids: pids of the live workers, from trackerctl workers.
worker_pids() { ctl workers | sed -n 's/.* pid=\([0-9]*\) .*/\1/p'; }

# nl_msgs [N]: the notify datagrams after line N of the log, one a line, as
# "MSG n=K pid=P main=M fds=F|KEY=VALUE|...|FD name=..." (the header, the
# assignments and the fd records of one datagram joined by "|").
nl_msgs() {
	tail -n +"$((${1:-0} + 1))" "$NLOG" | awk '
		/^MSG / { if (m != "") print m; m = $0; next }
		/^(START|EXIT|KILL|LIFETIME|FDSTOREREMOVE)( |$)/ { if (m != "") print m; m = ""; print; next }
		{ if (m != "") m = m "|" $0 }
		END { if (m != "") print m }'
}

# mono_usec: CLOCK_MONOTONIC in microseconds (empty without python3).
mono_usec() {
	command -v python3 >/dev/null 2>&1 &&
		python3 -c 'import time; print(time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000)'
}

# plain_start [TRACKERD ARGS...]: trackerd binding its own sockets (no
# service manager), every runtime key from the config file, so a reload
# can change any of them. Sets PID, PORT, A4, A6, ADDRS.
plain_start() {
	local try v6 workers a
	workers=$(sed -n 's/^workers = //p' "$CONF")
	for try in 1 2 3 4 5 6; do
		PORT=$((20000 + RANDOM % 40000))
		v6="[::1]:$PORT"
		[ "$HAVE_V6" = 1 ] || v6=none
		: >"$LOG"
		fresh_state
		"$TRACKERD" -c "$CONF" -o user=root -o "listen_ipv4=127.0.0.1:$PORT" -o "listen_ipv6=$v6" \
			-o "state_directory=$T/state" -o "control_socket=$SOCK" "$@" 2>>"$LOG" &
		PID=$!
		wait_until 10 started_or_dead "$v6" || fail "trackerd did not bind within 10 s"
		kill -0 "$PID" 2>/dev/null && ! grep -q 'cannot bind' "$LOG" && break
		grep -q 'cannot bind' "$LOG" || fail "trackerd did not start"
		wait "$PID" 2>/dev/null
		PID=
	done
	[ -n "$PID" ] || fail "no free port found"
	A4=127.0.0.1:$PORT
	A6=
	ADDRS=("$A4")
	if [ "$HAVE_V6" = 1 ]; then
		A6="[::1]:$PORT"
		ADDRS+=("$A6")
	fi
	for a in "${ADDRS[@]}"; do
		"$UDPTC" wait "$a" 10 >/dev/null || fail "no answer on $a"
	done
	wait_until 10 workers_up "${workers:-1}" || fail "workers did not all start"
	CHILDREN=$(children_of "$PID")
	log "trackerd pid $PID (own sockets) on $A4 ${A6:-}, children:" $CHILDREN
}

# gen_workers G: live workers of generation G, by trackerctl workers.
gen_workers() { ctl workers | grep -c " generation=$1 " || true; }

# generation_only G N: exactly N live workers, all of generation G.
generation_only() {
	[ "$(gen_workers "$1")" -eq "$2" ] && [ "$(ctl workers | grep -c '^slot=')" -eq "$2" ]
}

# interval_is ADDR SECONDS: an announce gets this interval.
interval_is() {
	"$UDPTC" "$1" announce "$(ih 424242)" 7777 0 none 0 | grep -q "^interval=$2 "
}

# fh ADDR N: an info-hash from N for the family of ADDR (swarm counts are
# totals over both families, so each family gets its own torrent).
fh() { case $1 in \[*) ih "$(($2 * 10 + 6))" ;; *) ih "$(($2 * 10 + 4))" ;; esac; }

# unanswered ADDR N: N connects, each from a fresh source port (so a
# SO_REUSEPORT group spreads them over its sockets); prints how many got no
# answer within 500 ms.
unanswered() {
	local i n=0
	for i in $(seq 1 "$2"); do
		"$UDPTC" -t 500 -r 1 "$1" connect >/dev/null || n=$((n + 1))
	done
	echo "$n"
}
