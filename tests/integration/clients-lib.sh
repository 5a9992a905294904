# SPDX-License-Identifier: BSD-2-Clause
# tests/integration/clients-lib.sh - real BitTorrent clients meeting through
# trackerd (sourced by the 3NN-clients-*.sh scripts, bash).
#
# cl_pair SEEDER LEECHER FAMILY runs one pairing: a fresh random file, a
# private v1 torrent whose only tracker is trackerd (udp://127.0.0.1:PORT or
# udp://[::1]:PORT), one client seeding it and one leeching it, each in its
# own temporary directory and on its own loopback port, with DHT, PEX, local
# peer discovery, UPnP and NAT-PMP off.
#
#  1. Negative control first: the same torrent (same info-hash) with its
#     tracker at a closed UDP port. Both clients run and listen for
#     CL_NEG_SECS seconds; the leecher must end with no verified piece. That
#     the clients cannot meet without the tracker is what makes step 2 a
#     proof that they met through it.
#  2. The real run: the first client must be registered at trackerd (seen
#     in a scrape) before the second starts; the leecher's file must then
#     equal the seeder's within CL_TIMEOUT seconds, and the tracker must
#     count the download as completed.
#
# Clients: lt (libtorrent-rasterbar through python3-libtorrent, helper in
# tests/clients/lt-peer.py), transmission (transmission-cli), aria2 (aria2c),
# rtorrent. What each needs on loopback is said where it is started.
#
# Transmission never dials a loopback peer: libtransmission treats 127.0.0.0/8
# and ::1 as "martian" peer addresses and drops them from tracker replies
# (checked here: a Transmission leecher started after a seeder on 127.0.0.1,
# or on 127.0.0.2, gets both peers from the tracker and dials neither), so
# distinct loopback addresses do not help either. It does accept incoming
# connections from loopback, so with a Transmission leecher the leecher
# starts first and the seeder, whose announce then returns the leecher, dials
# it. Every other pairing starts the seeder first and the leecher dials.
# (Transmission 3.00 also cannot use udp://[::1]: it answers "Could not
# connect to tracker" there, so its pairings are IPv4 only.)
#
# Knobs (environment): SEED (random data; printed), CL_SIZE (bytes, default
# 2 MiB + 12345 so the last piece is short), CL_NEG_SECS (15), CL_TIMEOUT
# (60), TRACKER=HOST:PORT (use a tracker that is already running, e.g. to
# compare with another implementation, instead of starting trackerd; the
# negative control and the checks are the same), CL_KEEP=DIR (copy every
# client's directory and log there at the end).

CL_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CL_TOOLS=$(cd "$CL_HERE/../clients" && pwd)
# python3-libtorrent installs into Debian's own python3; a python3 earlier
# in PATH (pyenv, a venv) would not see it.
CL_PY=/usr/bin/python3

if [ -z "${TRACKER:-}" ]; then
	. "$CL_HERE/lib.sh"
else
	set -u
	T=$(mktemp -d "${TMPDIR:-/tmp}/trackerd-test.XXXXXX")
	LOG=/dev/null
	log() { echo "# $*"; }
	fail() { echo "FAIL: $*"; exit 1; }
	skip() { echo "$*"; exit 77; }
	now_ms() { date +%s%3N; }
	cleanup() { rm -rf "$T"; }
fi

SEED=${SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
CL_SIZE=${CL_SIZE:-$((2 * 1048576 + 12345))}
CL_NEG_SECS=${CL_NEG_SECS:-15}
CL_TIMEOUT=${CL_TIMEOUT:-60}
# Every client is also started under timeout(1) with this limit, so none can
# outlive a test that was itself killed.
CL_LIMIT=$((CL_NEG_SECS + CL_TIMEOUT + 60))
CL_T=$T/clients
CL_PIDS=()
CL_LOGS=()
mkdir -p "$CL_T"

# cl_stop PID...: SIGTERM (timeout(1) passes it on to the client), wait up
# to 5 s, then SIGKILL the wrapper and the client it started; forget the PIDs.
cl_stop() {
	local p limit keep=() kids forced=0
	# timeout(1) waits for its client, so these are gone once it exits by
	# itself; they need killing only if the wrapper had to be killed.
	kids=$(for p in "$@"; do pgrep -P "$p"; done 2>/dev/null)
	for p in "$@"; do
		kill -TERM "$p" 2>/dev/null
	done
	limit=$(( $(now_ms) + 5000 ))
	for p in "$@"; do
		while kill -0 "$p" 2>/dev/null && [ "$(now_ms)" -lt "$limit" ]; do
			sleep 0.05
		done
		if kill -0 "$p" 2>/dev/null; then
			log "pid $p did not exit within 5 s of SIGTERM: SIGKILL"
			kill -KILL "$p" 2>/dev/null
			forced=1
		fi
		wait "$p" 2>/dev/null
	done
	if [ "$forced" = 1 ]; then
		for p in $kids; do
			kill -KILL "$p" 2>/dev/null
		done
	fi
	for p in "${CL_PIDS[@]}"; do
		case " $* " in *" $p "*) ;; *) keep+=("$p") ;; esac
	done
	CL_PIDS=("${keep[@]}")
}

cl_cleanup() {
	[ "${#CL_PIDS[@]}" -eq 0 ] || cl_stop "${CL_PIDS[@]}"
	if [ -n "${CL_KEEP:-}" ]; then
		mkdir -p "$CL_KEEP" && cp -a "$CL_T/." "$CL_KEEP/" &&
			echo "# client directories and logs kept in $CL_KEEP"
	fi
	cleanup
}
trap cl_cleanup EXIT
trap 'exit 1' INT TERM

# cl_fail MSG: the end of every client log, then fail.
cl_fail() {
	local f
	for f in "${CL_LOGS[@]}"; do
		echo "--- last lines of $(basename "$f"):"
		tr '\r' '\n' <"$f" | grep -v '^ *$' | tail -n 15
	done
	fail "$@"
}

# cl_need CLIENT...: skip (77) unless every client named is installed.
cl_need() {
	local c
	for c in "$@"; do
		case $c in
		lt) "$CL_PY" -c 'import libtorrent' 2>/dev/null ||
			skip "python3-libtorrent is not installed (Debian package python3-libtorrent)" ;;
		transmission) command -v transmission-cli >/dev/null ||
			skip "transmission-cli is not installed (Debian package transmission-cli)" ;;
		aria2) command -v aria2c >/dev/null ||
			skip "aria2c is not installed (Debian package aria2)" ;;
		rtorrent) command -v rtorrent >/dev/null ||
			skip "rtorrent is not installed (Debian package rtorrent)" ;;
		*) fail "unknown client $c" ;;
		esac
	done
	command -v ss >/dev/null || skip "ss is not installed (Debian package iproute2)"
}

cl_tool() { "$CL_PY" "$CL_TOOLS/torrent-tool.py" "$@"; }

# cl_port HOST [NOT...]: a TCP and UDP port free on HOST right now, none of
# NOT.
cl_port() {
	"$CL_PY" - "$@" <<'EOF'
import socket, sys
host = sys.argv[1]
fam = socket.AF_INET6 if ':' in host else socket.AF_INET
for _ in range(50):
    t = socket.socket(fam, socket.SOCK_STREAM)
    t.bind((host, 0))
    port = t.getsockname()[1]
    if str(port) in sys.argv[2:]:
        t.close()
        continue
    u = socket.socket(fam, socket.SOCK_DGRAM)
    try:
        u.bind((host, port))
    except OSError:
        continue
    finally:
        t.close()
        u.close()
    print(port)
    sys.exit(0)
sys.exit(1)
EOF
}

# cl_listening PORT: something listens on TCP PORT.
cl_listening() { [ -n "$(ss -Hltn "sport = :$1")" ]; }

# cl_wait_until TIMEOUT_S CMD...: poll CMD every CL_POLL seconds (default
# 0.1), bounded.
cl_wait_until() {
	local limit=$(( $(now_ms) + $1 * 1000 ))
	shift
	while ! "$@" >/dev/null 2>&1; do
		[ "$(now_ms)" -lt "$limit" ] || return 1
		sleep "${CL_POLL:-0.1}"
	done
}

# cl_alive PID...: all still running.
cl_alive() {
	local p
	for p in "$@"; do
		kill -0 "$p" 2>/dev/null || return 1
	done
}

# cl_scrape_is HOST PORT HASH FIELD VALUE: FIELD (1 seeders, 2 completed,
# 3 leechers) of a scrape of HASH equals VALUE. Polled every 250 ms: the
# clients and these probes share one source address, and the tracker's
# per-source rate limit must not be what a test measures.
cl_scrape_is() {
	local out
	out=$(cl_tool scrape "$1" "$2" "$3" 1) || return 1
	[ "$(echo "$out" | cut -d' ' -f"$4")" = "$5" ]
}

# cl_start CLIENT ROLE NAME TORRENT DATADIR HOST PORT: start one client in
# the background (ROLE seed or leech; DATADIR holds the complete file for a
# seeder and is empty for a leecher), logging to $CL_T/NAME.log. Sets CL_PID.
cl_start() {
	local client=$1 role=$2 name=$3 torrent=$4 data=$5 host=$6 port=$7
	local w=$CL_T/$name lg=$CL_T/$name.log hp
	mkdir -p "$w"
	CL_LOGS+=("$lg")
	case $host in *:*) hp="[$host]:$port" ;; *) hp="$host:$port" ;; esac
	case $client in
	lt)
		timeout -k 5 "$CL_LIMIT" "$CL_PY" "$CL_TOOLS/lt-peer.py" \
			"$torrent" "$data" "$hp" "$CL_LIMIT" >"$lg" 2>&1 </dev/null &
		;;
	transmission)
		# transmission-cli reads settings.json from its config dir: no DHT,
		# no LPD, no PEX, no port mapping (also -M), listening on loopback
		# only, TCP only (as for libtorrent: uTP is not what is tested),
		# the file under its final name while incomplete.
		mkdir -p "$w/config"
		cat >"$w/config/settings.json" <<EOF
{
  "dht-enabled": false,
  "lpd-enabled": false,
  "pex-enabled": false,
  "port-forwarding-enabled": false,
  "utp-enabled": false,
  "blocklist-enabled": false,
  "bind-address-ipv4": "127.0.0.1",
  "bind-address-ipv6": "::1",
  "peer-port": $port,
  "peer-port-random-on-start": false,
  "rename-partial-files": false,
  "incomplete-dir-enabled": false,
  "watch-dir-enabled": false,
  "speed-limit-down-enabled": false,
  "speed-limit-up-enabled": false,
  "message-level": 3
}
EOF
		local verify=
		[ "$role" = seed ] && verify=-v
		timeout -k 5 "$CL_LIMIT" transmission-cli -g "$w/config" -w "$data" \
			-p "$port" -M $verify "$torrent" >"$lg" 2>&1 </dev/null &
		;;
	aria2)
		# aria2's UDP tracker client runs on its DHT socket, so DHT must
		# be enabled for a udp:// tracker to be used at all. The DHT here
		# has no entry point and an empty routing table, the torrent is
		# private (aria2 then does no DHT lookups for it), and the socket
		# is bound to loopback. --seed-ratio=0.0: seed until stopped;
		# --no-conf: no ~/.aria2/aria2.conf.
		timeout -k 5 "$CL_LIMIT" aria2c --no-conf=true --dir="$data" \
			--enable-dht=true --enable-dht6=false \
			--dht-listen-port="$port" --dht-file-path="$w/dht.dat" \
			--bt-enable-lpd=false --enable-peer-exchange=false \
			--listen-port="$port" --interface="$host" --disable-ipv6=true \
			--check-integrity=true --seed-ratio=0.0 --file-allocation=none \
			--bt-tracker-connect-timeout=5 --bt-tracker-timeout=5 \
			--summary-interval=1 --enable-color=false \
			--console-log-level=notice --log="$w/aria2.log" --log-level=info \
			--stop-with-process=$$ "$torrent" >"$lg" 2>&1 </dev/null &
		;;
	rtorrent)
		# Headless: system.daemon.set runs rtorrent without a terminal;
		# -n skips ~/.rtorrent.rc, so this file is the whole config.
		# pieces.hash.on_completion off: rtorrent would otherwise re-hash
		# the finished file and not send "completed" for as long as the
		# test runs (the test compares the file itself). rtorrent also
		# gives up on 127.0.0.1 after dialling itself, so with a tracker
		# that returns the requester to itself (trackerd never does) an
		# rtorrent leecher may not find its seeder.
		mkdir -p "$w/session"
		cat >"$w/rtorrent.rc" <<EOF
system.daemon.set = true
session.path.set = "$w/session"
directory.default.set = "$data"
network.bind_address.set = $host
network.port_range.set = $port-$port
network.port_random.set = no
dht.mode.set = disable
protocol.pex.set = no
pieces.hash.on_completion.set = no
trackers.use_udp.set = yes
log.open_file = "main", "$w/rtorrent.log"
log.add_output = "debug", "main"
load.start_verbose = "$torrent"
EOF
		timeout -k 5 "$CL_LIMIT" rtorrent -n -o "import=$w/rtorrent.rc" \
			>"$lg" 2>&1 </dev/null &
		;;
	*) fail "unknown client $client" ;;
	esac
	CL_PID=$!
	CL_PIDS+=("$CL_PID")
	[ "$client" = aria2 ] && CL_LOGS+=("$w/aria2.log")
	[ "$client" = rtorrent ] && CL_LOGS+=("$w/rtorrent.log")
	log "$name: $client $role on $hp, pid $CL_PID"
}

# cl_make_data FILE NAME: CL_SIZE random bytes from SEED and NAME.
cl_make_data() {
	"$CL_PY" - "$1" "$SEED" "$2" "$CL_SIZE" <<'EOF'
import random, sys
path, seed, name, size = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
with open(path, 'wb') as f:
    f.write(random.Random(seed + '/' + name).randbytes(size))
EOF
}

# cl_phase KIND SEEDER LEECHER HOST TORRENT: start both clients for one
# phase (KIND neg or pos) in the order the pairing needs; sets CL_S, CL_L
# (PIDs), CL_LFILE (the leecher's copy), CL_T0 (ms when the second client
# started).
cl_phase() {
	local kind=$1 seeder=$2 leecher=$3 host=$4 torrent=$5
	local sd=$CL_W/$kind-seed ld=$CL_W/$kind-leech sp lp
	mkdir -p "$sd" "$ld"
	cp "$CL_W/data.bin" "$sd/data.bin"
	CL_LFILE=$ld/data.bin
	sp=$(cl_port "$host" "$CL_CLOSED") || fail "no free port"
	lp=$(cl_port "$host" "$CL_CLOSED" "$sp") || fail "no free port"
	if [ "$leecher" = transmission ]; then
		cl_start "$leecher" leech "$kind-$leecher-leecher" "$torrent" "$ld" "$host" "$lp"
		CL_L=$CL_PID
		cl_first_ready "$kind" "$lp" "$CL_L" 3
		cl_start "$seeder" seed "$kind-$seeder-seeder" "$torrent" "$sd" "$host" "$sp"
		CL_S=$CL_PID
	else
		cl_start "$seeder" seed "$kind-$seeder-seeder" "$torrent" "$sd" "$host" "$sp"
		CL_S=$CL_PID
		cl_first_ready "$kind" "$sp" "$CL_S" 1
		cl_start "$leecher" leech "$kind-$leecher-leecher" "$torrent" "$ld" "$host" "$lp"
		CL_L=$CL_PID
	fi
	CL_T0=$(now_ms)
	cl_wait_until 20 cl_listening "$sp" || cl_fail "seeder not listening on port $sp"
	cl_wait_until 20 cl_listening "$lp" || cl_fail "leecher not listening on port $lp"
}

# cl_first_ready KIND PORT PID FIELD: the first client is listening and, in
# the real run, registered at the tracker (scrape FIELD is 1).
cl_first_ready() {
	cl_wait_until 20 cl_listening "$2" || cl_fail "first client not listening on port $2"
	if [ "$1" = pos ]; then
		CL_POLL=0.25 cl_wait_until 20 cl_scrape_is "$CL_TH" "$CL_TP" "$CL_HASH" "$4" 1 ||
			cl_fail "first client not registered at the tracker within 20 s"
	fi
	cl_alive "$3" || cl_fail "first client exited"
}

# cl_pair SEEDER LEECHER FAMILY(4|6)
cl_pair() {
	local seeder=$1 leecher=$2 family=$3 host taddr closed url pieces t ms
	local name=$seeder-to-$leecher-ipv$family
	CL_W=$CL_T/$name
	mkdir -p "$CL_W"
	log "=== $name (SEED=$SEED)"
	if [ "$family" = 6 ]; then
		host=::1
		taddr=${TRACKER:-$A6}
	else
		host=127.0.0.1
		taddr=${TRACKER:-$A4}
	fi
	[ -n "$taddr" ] || skip "no IPv$family tracker address"
	CL_TP=${taddr##*:}
	CL_TH=${taddr%:*}
	CL_TH=${CL_TH#[}
	CL_TH=${CL_TH%]}
	cl_make_data "$CL_W/data.bin" "$name"
	url="udp://$taddr/announce"
	cl_tool make "$CL_W/data.bin" "$url" "$CL_W/real.torrent" || fail "cannot make the torrent"
	CL_HASH=$(cl_tool infohash "$CL_W/real.torrent")
	# A closed port: free now, nothing listens on it, and no client gets it.
	CL_CLOSED=$(cl_port "$host") || fail "no free port"
	case $host in *:*) closed="[$host]:$CL_CLOSED" ;; *) closed="$host:$CL_CLOSED" ;; esac
	cl_tool retarget "$CL_W/real.torrent" "udp://$closed/announce" "$CL_W/neg.torrent"
	[ "$(cl_tool infohash "$CL_W/neg.torrent")" = "$CL_HASH" ] ||
		fail "retargeted torrent has another info-hash"
	log "info-hash $CL_HASH, $CL_SIZE bytes, tracker $url"

	# 1. Negative control.
	log "negative control: tracker at closed port $closed for ${CL_NEG_SECS}s"
	cl_phase neg "$seeder" "$leecher" "$host" "$CL_W/neg.torrent"
	t=$(( CL_T0 + CL_NEG_SECS * 1000 ))
	while [ "$(now_ms)" -lt "$t" ]; do
		cl_alive "$CL_S" "$CL_L" || cl_fail "a client exited during the negative control"
		sleep 0.2
	done
	pieces=$(cl_tool pieces "$CL_W/real.torrent" "$CL_LFILE")
	case $pieces in
	0/*) log "negative control: leecher has $pieces pieces after ${CL_NEG_SECS}s, as it must" ;;
	*) cl_fail "negative control: the leecher got $pieces pieces without a tracker" ;;
	esac
	cl_stop "$CL_S" "$CL_L"
	# And neither client reached trackerd: it has not seen one announce.
	if [ -z "${TRACKER:-}" ]; then
		[ "$(ctl_stat "total.ipv$family.announce")" = 0 ] ||
			cl_fail "negative control: trackerd counted $(ctl_stat "total.ipv$family.announce") announces"
	fi

	# 2. Through trackerd.
	cl_phase pos "$seeder" "$leecher" "$host" "$CL_W/real.torrent"
	t=$(( CL_T0 + CL_TIMEOUT * 1000 ))
	until cmp -s "$CL_W/data.bin" "$CL_LFILE"; do
		[ "$(now_ms)" -lt "$t" ] ||
			cl_fail "$name: the leecher has $(cl_tool pieces "$CL_W/real.torrent" "$CL_LFILE") pieces after ${CL_TIMEOUT}s"
		cl_alive "$CL_S" "$CL_L" || cl_fail "$name: a client exited before the transfer completed"
		sleep 0.1
	done
	ms=$(( $(now_ms) - CL_T0 ))
	log "$name: leecher's copy matches the seeder's ($(sha256sum <"$CL_LFILE" | cut -c1-16)...) after $((ms / 1000)).$((ms % 1000 / 100)) s"
	CL_POLL=0.25 cl_wait_until 15 cl_scrape_is "$CL_TH" "$CL_TP" "$CL_HASH" 2 1 ||
		cl_fail "$name: the tracker did not count the download as completed: scrape $(cl_tool scrape "$CL_TH" "$CL_TP" "$CL_HASH" 1)"
	[ -n "${TRACKER:-}" ] || cl_tracker_clean "$family"
	log "PASS $name in $((ms / 1000)).$((ms % 1000 / 100)) s; scrape (seeders completed leechers): $(cl_tool scrape "$CL_TH" "$CL_TP" "$CL_HASH" 1)"
	cl_stop "$CL_S" "$CL_L"
}

# cl_tracker_clean FAMILY: trackerd saw the clients' announces (started
# from both, completed from the leecher) and understood every datagram they
# sent: libtorrent's announces carry a BEP 41 option, Transmission's are 98
# bytes, all of them real clients' timing and connection-id reuse; no drop
# or error counter may have moved.
cl_tracker_clean() {
	local f=ipv$1 bad
	cl_wait_until 10 cl_stat_ge "total.$f.announce" 3 ||
		cl_fail "trackerd counted only $(ctl_stat "total.$f.announce") $f announces"
	bad=$(ctl stats | grep "^total\.$f\.\(drop_\|err_\|error_replies\|send_errors\|refused_\)" |
		grep -v '=0$')
	[ -z "$bad" ] || cl_fail "trackerd dropped or refused client datagrams: $(echo "$bad" | tr "\n" " ")"
	log "trackerd: $(ctl_stat "total.$f.announce") announces, $(ctl_stat "total.$f.scrape") scrapes, $(ctl_stat "total.$f.connect") connects on $f, no drops"
}

cl_stat_ge() { [ "$(ctl_stat "$1")" -ge "$2" ]; }

# cl_tracker: start trackerd (one worker, io_uring where the kernel allows
# it) unless TRACKER names one already running.
cl_tracker() {
	[ -n "${TRACKER:-}" ] && return 0
	local backend=mmsg
	uring_works && backend=io_uring
	start_daemon "$backend" 1
}

# cl_done: stop trackerd (it must exit cleanly, lib.sh checks) after the
# clients.
cl_done() {
	[ "${#CL_PIDS[@]}" -eq 0 ] || cl_stop "${CL_PIDS[@]}"
	[ -n "${TRACKER:-}" ] || stop_daemon
}
