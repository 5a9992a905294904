#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# 400-chaos: SIGKILL random workers and the control process, one after the
# other, for CHAOS_SECONDS (default 24) per I/O backend while trackerbench
# loads both families on loopback. Both backends share the minute CI gives
# this test (about 30 s each with set-up; mmsg alone when io_uring is off).
#
# Before the chaos a known set of peers is announced on both families
# (KNOWN torrents, three peers per family each: one seeder that completed,
# two leechers) with peer_max_age far beyond the test. Asserted:
#  - after every worker kill a connect sent from the dead worker's CPU (the
#    sockets are steered by CPU, so that probe waits for exactly that
#    worker) is answered within the restart delay the supervisor logged
#    plus SLACK_MS; after a control-process kill both workers answer at
#    once and trackerctl answers again within its logged delay + SLACK_MS;
#  - the generator got replies in every second of the run in which it
#    lost requests (never both workers silent at once), no invalid and
#    no error reply, and lost at most, per worker kill, one window (-W) for
#    the requests the dead worker had taken plus one window per timeout
#    (-t) that the measured outage lasted (requests queued for the dead
#    worker's socket are answered by its successor, or time out), and
#    never answered at all (lost without a late reply) at most one window
#    per worker kill;
#  - "trackerctl check" finds the table consistent after every kill, under
#    load, and afterwards; every known torrent has exactly its counts in
#    "trackerctl torrent", and every known peer is returned in announce
#    replies of its family;
#  - the daemon still stops cleanly on SIGTERM.
. "$(dirname "$0")/lib.sh"

TB=$O/trackerbench
[ -x "$TB" ] || fail "missing $TB (build it first: make O=$O)"
command -v taskset >/dev/null || skip "taskset (util-linux) is not installed"

CHAOS_SECONDS=${CHAOS_SECONDS:-24}
# Few, big swarms (hash-table peer sets, 200 peers a reply) keep the workers
# under stripe locks for a good share of their time, so that some kills
# land on a lock holder (lock_recoveries in the summary).
LOAD=${LOAD:--P 4000 -T 40 -n 200}
KNOWN=16 # known torrents
WIN=32 # trackerbench window per thread
TMO=1000 # trackerbench timeout, ms
# Scheduling slack on a loaded two-core machine. A worker's outage is
# judged on the probe's own waiting time (see probe_from), which leaves out
# a stall of the whole machine that delays starting the probe.
SLACK_MS=1500
NCPU=$(nproc)
if [ "$NCPU" -ge 2 ]; then
	BENCH_CPU=(-j 2 -c 0,1)
else
	BENCH_CPU=(-j 1 -c 0)
fi

# Totals over both backends, for the summary line.
ALL_KILLS_W=0
CHECKS=0
ALL_KILLS_C=0
ALL_LOST=0
ALL_DROPPED=0
ALL_REC=0
ALL_BOUND=0
MAX_PROBE=0
MAX_CTL=0

known_hash() { ih $((0x400000 + $1)); }

# announce_known: three peers per family on each known torrent.
announce_known() {
	local i h addr
	for ((i = 0; i < KNOWN; i++)); do
		h=$(known_hash "$i")
		for addr in "${ADDRS[@]}"; do
			udptc "$addr" announce "$h" 6001 0 completed 0 >/dev/null || fail "announce $h 6001"
			udptc "$addr" announce "$h" 6002 10 started 0 >/dev/null || fail "announce $h 6002"
			udptc "$addr" announce "$h" 6003 10 started 0 >/dev/null || fail "announce $h 6003"
		done
	done
}

# verify_known WHEN: exact counts of every known torrent, and every known
# peer in the peer lists of its family (re-announcing as a known peer with
# its own left and no event changes nothing and never returns itself).
verify_known() {
	local i h addr nf out want
	nf=${#ADDRS[@]}
	for ((i = 0; i < KNOWN; i++)); do
		h=$(known_hash "$i")
		out=$(ctl torrent "$h" | tr '\n' ' ')
		want="info_hash=$h seeders=$nf leechers=$((2 * nf)) completed=$nf peers_ipv4=3 peers_ipv6=$((3 * (nf - 1))) "
		[ "$out" = "$want" ] || fail "$1: torrent $h is '$out', expected '$want'"
		for addr in "${ADDRS[@]}"; do
			out=$(udptc "$addr" announce "$h" 6001 0 none 50) || fail "$1: re-announce 6001 on $addr"
			echo "$out" | grep -Eq "leechers=$((2 * nf)) seeders=$nf npeers=2 " &&
				echo "$out" | grep -Eq "$(peer "$addr" 6002)" &&
				echo "$out" | grep -Eq "$(peer "$addr" 6003)" ||
				fail "$1: torrent $h on $addr as 6001: $out"
			out=$(udptc "$addr" announce "$h" 6002 10 none 50) || fail "$1: re-announce 6002 on $addr"
			echo "$out" | grep -Eq "leechers=$((2 * nf)) seeders=$nf npeers=2 " &&
				echo "$out" | grep -Eq "$(peer "$addr" 6001)" &&
				echo "$out" | grep -Eq "$(peer "$addr" 6003)" ||
				fail "$1: torrent $h on $addr as 6002: $out"
		done
	done
}

# field NAME LINE: the value of NAME= in a space-separated line.
field() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

# The logged restart delay of a killed pid, in ms.
restart_delay() {
	sed -n "s/.*(pid $1) killed by signal 9.*restarting in \([0-9]*\) ms.*/\1/p" "$LOG" | tail -n 1
}

# The control process: the child of the supervisor that is not a worker.
ctrl_pid() {
	local c w
	w=$(ctl workers | sed -n 's/.* pid=\([0-9]*\) .*/\1/p')
	for c in $(children_of "$PID"); do
		echo "$w" | grep -qx "$c" || echo "$c"
	done
}

# probe_from CPU ADDR SECONDS: a connect sent from CPU (-1: any CPU) is
# answered within SECONDS (udptc wait resends every 100 ms). Sets WAITED to
# the milliseconds from the probe's first request to the answer, which
# leaves out how long the system took to start the probe.
probe_from() {
	local out
	if [ "$1" -ge 0 ]; then
		out=$(taskset -c "$1" "$UDPTC" wait "$2" "$3")
	else
		out=$("$UDPTC" wait "$2" "$3")
	fi || return 1
	WAITED=$(echo "$out" | sed -n 's/^ready after \([0-9]*\) ms$/\1/p')
	[ -n "$WAITED" ]
}

# stall_report OLDPID SLOT: after a kill left a CPU unanswered for 2 s, log
# what the kernel says of the dead worker, its successor and every thread on
# the two CPUs, so that a rare stall leaves evidence behind.
stall_report() {
	local p
	log "stall after killing worker $1 (slot $2): $(ctl workers 2>&1 | tr '\n' ';')"
	[ -d "/proc/$1" ] && log "dead worker $1: $(grep -E '^State' "/proc/$1/status" 2>/dev/null)" \
		"wchan=$(cat "/proc/$1/wchan" 2>/dev/null)" \
		"stack: $(tr '\n' ';' <"/proc/$1/stack" 2>/dev/null)"
	for p in $(children_of "$PID"); do
		log "child $p: $(grep -E '^State' "/proc/$p/status" 2>/dev/null)" \
			"wchan=$(cat "/proc/$p/wchan" 2>/dev/null)" \
			"stack: $(tr '\n' ';' <"/proc/$p/stack" 2>/dev/null)"
	done
	ps -eLo pid,tid,psr,stat,pcpu,wchan:24,comm --sort=-pcpu 2>/dev/null | head -n 15 |
		while read -r p; do log "  $p"; done
	log "steal and iowait ticks: $(grep -E '^cpu[0-9]' /proc/stat | awk '{printf "%s steal=%s iowait=%s; ", $1, $9, $6}')"
}

# slot_restarted SLOT OLDPID: the slot runs a new pid that chose its backend.
slot_restarted() {
	ctl workers | grep "^slot=$1 " | grep -v " pid=$2 " | grep -qv 'backend=starting'
}

run() {
	local backend=$1 addr bench=() outs=() deadline kills_w=0 kills_c=0 bound=0
	local victim slot cpu t0 t1 dt delay line lost dropped out n f i rec order

	start_daemon "$backend" 2 -o max_torrents=1000 -o max_peers=20000 \
		-o max_peers_ipv6=20000 -o peer_max_age=3600
	announce_known
	verify_known "before the chaos"
	ctl check | grep -qx 'consistent=1' || fail "check before the chaos: $(ctl check 2>&1)"

	# The load: one generator per family, one thread per CPU (thread i is
	# pinned on CPU i, so its requests go to worker i).
	for addr in "${ADDRS[@]}"; do
		f=$(fam "$addr")
		"$TB" --poll --progress "${BENCH_CPU[@]}" -W $WIN -t $TMO -w 0 \
			-d $((CHAOS_SECONDS + 1)) $LOAD "$addr" \
			>"$T/bench.$f.out" 2>"$T/bench.$f.err" &
		bench+=($!)
		outs+=("$f")
	done
	wait_until 10 sh -c "[ \$('$CTL' -s '$SOCK' stats | sed -n 's/^total.ipv4.announce=//p') -gt 1000 ]" ||
		fail "the load does not arrive"

	# Rounds of the three victims (worker 0, worker 1, the control
	# process) in a random order, so that each is killed about as often
	# and the supervisor's restart back-off (doubling while a child keeps
	# dying young) grows alike for all three.
	deadline=$(($(now_ms) + CHAOS_SECONDS * 1000))
	order=()
	while [ "$(now_ms)" -lt "$deadline" ]; do
		[ "${#order[@]}" -gt 0 ] || order=($(printf '%s\n' 0 1 2 | shuf))
		slot=${order[0]}
		order=("${order[@]:1}")
		if [ "$slot" -lt 2 ]; then
			line=$(ctl workers | grep "^slot=$slot ")
			victim=$(echo "$line" | sed -n 's/.* pid=\([0-9]*\) .*/\1/p')
			cpu=$(echo "$line" | sed -n 's/.* cpu=\(-\{0,1\}[0-9]*\) .*/\1/p')
			[ -n "$victim" ] && [ -n "$cpu" ] || fail "no worker in slot $slot: $(ctl workers)"
			kill -KILL "$victim" || fail "cannot kill worker $victim"
			t0=$(now_ms)
			kills_w=$((kills_w + 1))
			if probe_from "$cpu" "$A4" 2; then
				waited=$WAITED
			else
				# Slow: record who runs where while it lasts, then go on waiting.
				stall_report "$victim" "$slot"
				probe_from "$cpu" "$A4" 13 ||
					fail "no answer from CPU $cpu after killing worker $victim"
				waited=$((2000 + WAITED))
			fi
			t1=$(now_ms)
			dt=$((t1 - t0))
			wait_until 5 sh -c "grep -q '(pid $victim) killed by signal 9' '$LOG'" ||
				fail "the kill of worker $victim was not logged"
			delay=$(restart_delay "$victim")
			log "killed worker/$slot pid $victim (cpu $cpu): answered again after $dt ms" \
				"($waited ms of probing), restart delay $delay ms"
			# Judged on the probing time: a stall of the whole machine that
			# keeps the probe from starting is not the tracker's outage.
			[ $((dt - waited)) -le 1000 ] ||
				log "the probe started $((dt - waited)) ms after the kill"
			[ "$waited" -le $((delay + SLACK_MS)) ] ||
				fail "worker $victim: $waited ms without an answer, restart delay was $delay ms"
			[ "$dt" -gt "$MAX_PROBE" ] && MAX_PROBE=$dt
			# Per family generator: the window the dead worker held, plus
			# one window per timeout of the outage.
			bound=$((bound + ${#ADDRS[@]} * WIN * (1 + dt / TMO)))
			if [ "$HAVE_V6" = 1 ]; then
				probe_from "$cpu" "$A6" 2 || fail "no IPv6 answer from CPU $cpu after the restart"
			fi
			wait_until 10 slot_restarted "$slot" "$victim" ||
				fail "worker slot $slot was not restarted: $(ctl workers)"
		else
			victim=$(ctrl_pid)
			[ -n "$victim" ] && [ "$(echo "$victim" | wc -l)" = 1 ] ||
				fail "cannot tell the control process: '$victim'"
			kill -KILL "$victim" || fail "cannot kill control process $victim"
			t0=$(now_ms)
			kills_c=$((kills_c + 1))
			# The workers do not depend on it: both answer at once.
			for ((i = 0; i < NCPU && i < 2; i++)); do
				probe_from "$i" "$A4" 1 || fail "no answer from CPU $i with the control process dead"
			done
			# Each attempt waits at most 1 s, so one slow client cannot hide
			# the moment the new control process answers.
			wait_until 15 sh -c "'$CTL' -t 1 -s '$SOCK' status >/dev/null 2>&1" ||
				fail "the control process did not come back"
			t1=$(now_ms)
			dt=$((t1 - t0))
			wait_until 5 sh -c "grep -q '(pid $victim) killed by signal 9' '$LOG'" ||
				fail "the kill of the control process $victim was not logged"
			delay=$(restart_delay "$victim")
			log "killed control process pid $victim: trackerctl answered again after $dt ms, restart delay $delay ms"
			[ "$dt" -le $((delay + SLACK_MS)) ] ||
				fail "control process: $dt ms without trackerctl, restart delay was $delay ms"
			[ "$dt" -gt "$MAX_CTL" ] && MAX_CTL=$dt
		fi
		# Consistent after every kill, under load (one stripe lock at a time).
		out=$(ctl check) && echo "$out" | grep -qx 'consistent=1' ||
			fail "table check after killing $victim: $out"
		CHECKS=$((CHECKS + 1))
	done
	[ "$kills_w" -gt 0 ] && [ "$kills_c" -gt 0 ] ||
		fail "too few kills: $kills_w workers, $kills_c control process"

	# The generators end by themselves (-d).
	lost=0
	dropped=0
	for i in "${!bench[@]}"; do
		wait "${bench[$i]}" || fail "trackerbench ${outs[$i]} exited $?: $(tail -n 3 "$T/bench.${outs[$i]}.err")"
		line=$(grep '^responses_per_s=' "$T/bench.${outs[$i]}.out")
		log "${outs[$i]}: $line"
		[ "$(field invalid "$line")" = 0 ] || fail "${outs[$i]}: invalid replies: $line"
		[ "$(field errors "$line")" = 0 ] || fail "${outs[$i]}: error replies: $line"
		lost=$((lost + $(field lost "$line")))
		# Never answered at all (lost and no late reply): at most what the
		# killed workers had taken, one window each.
		n=$(($(field lost "$line") - $(field late "$line")))
		dropped=$((dropped + n))
		[ "$n" -le $((kills_w * WIN)) ] ||
			fail "${outs[$i]}: $n requests never answered, more than $kills_w kills x $WIN"
		# Replies in every second of the run.
		n=$(grep -c '^t=' "$T/bench.${outs[$i]}.err")
		[ "$n" -ge "$CHAOS_SECONDS" ] || fail "${outs[$i]}: only $n progress lines"
		# A second without replies in which requests were lost: both
		# workers silent. (A second with neither replies nor losses is
		# the generator itself not running, on a busy machine.)
		out=$(grep '^t=' "$T/bench.${outs[$i]}.err" | grep ' responses_per_s=0 ' | grep -v ' lost=0 ')
		[ -z "$out" ] || fail "${outs[$i]}: a second without replies: $out"
	done
	log "$backend: $kills_w worker kills, $kills_c control kills, $lost requests lost (bound $bound), $dropped never answered"
	[ "$lost" -le "$bound" ] || fail "$lost requests lost, more than the bound $bound"

	# Back to full strength, consistent, every known peer still there.
	wait_until 15 workers_up 2 || fail "workers did not all come back: $(ctl workers)"
	out=$(ctl check) || fail "table check after the chaos: $out"
	echo "$out" | grep -qx 'consistent=1' || fail "table check after the chaos: $out"
	rec=$(field lock_recoveries "$(echo "$out" | tr '\n' ' ')")
	log "check: $(echo "$out" | tr '\n' ' ')"
	verify_known "after the chaos"
	[ "$(grep -c 'killed by signal 9' "$LOG")" = $((kills_w + kills_c)) ] ||
		fail "the log shows $(grep -c 'killed by signal 9' "$LOG") kills, we did $((kills_w + kills_c))"
	ALL_KILLS_W=$((ALL_KILLS_W + kills_w))
	ALL_KILLS_C=$((ALL_KILLS_C + kills_c))
	ALL_LOST=$((ALL_LOST + lost))
	ALL_DROPPED=$((ALL_DROPPED + dropped))
	ALL_REC=$((ALL_REC + rec))
	ALL_BOUND=$((ALL_BOUND + bound))
	log "$backend: stripes repaired after a killed lock holder: $rec"
	CHILDREN=$(children_of "$PID")
	stop_daemon
}

RAN=0
for backend in io_uring mmsg; do
	if [ "$backend" = io_uring ] && ! uring_works; then
		log "io_uring is not available here: mmsg only"
		continue
	fi
	log "=== chaos: io_backend=$backend, $CHAOS_SECONDS s"
	run "$backend"
	RAN=$((RAN + 1))
done
[ "$RAN" -gt 0 ] || skip "no I/O backend could run"
log "total: $ALL_KILLS_W worker kills, $ALL_KILLS_C control kills, $CHECKS checks under load, $ALL_LOST lost (bound $ALL_BOUND), $ALL_DROPPED never answered, $ALL_REC stripes repaired, longest outage $MAX_PROBE ms (worker), $MAX_CTL ms (trackerctl)"
echo "ok"
