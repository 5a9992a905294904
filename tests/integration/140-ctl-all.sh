#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# 140-ctl-all: every trackerctl command against a socket-activated trackerd
# (the control socket inherited from the service manager), with what
# 060-ctl does not check: every status field, stats that add up per counter
# and family, metrics well formed and equal to stats, torrent peers by
# family, version against the binary, the reserved commands, every exit
# status (0, 1, 2, 3) and the protocol's own errors. Then control clients that connect and never
# write (or stop in the middle of a request): the other commands are still
# answered at once, the stuck ones are dropped after the request timeout,
# and a full house of them is refused and then recovers.
. "$(dirname "$0")/sd-lib.sh"

command -v python3 >/dev/null 2>&1 || skip "python3 not found (needed for raw control clients)"

# Raw control clients (trackerctl always sends a full request):
#   rawctl.py SOCKET OUT N MODE [REQUEST]
# opens N connections; MODE silent sends nothing, partial sends half a
# request, send sends REQUEST. Touches OUT.ready once all are open, waits
# (at most 15 s) until the server closed each, and writes one line per
# connection to OUT: "conn I closed_ms=MS reply=TEXT" ("\n" as "\\n").
cat >"$T/rawctl.py" <<'EOF'
import select, socket, sys, time
path, out, n, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
req = sys.argv[5].encode() if len(sys.argv) > 5 else b""
t0 = time.monotonic()
socks = []
for i in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    if mode == "partial":
        s.sendall(b"TRK1 sta")
    elif mode == "send":
        s.sendall(req)
    socks.append(s)
open(out + ".ready", "w").close()
data = {s: b"" for s in socks}
closed = {}
while len(closed) < n and time.monotonic() < t0 + 15:
    r, _, _ = select.select([s for s in socks if s not in closed], [], [], 0.5)
    for s in r:
        try:
            d = s.recv(65536)
        except OSError:
            d = b""
        if d:
            data[s] += d
        else:
            closed[s] = time.monotonic() - t0
with open(out, "w") as f:
    for i, s in enumerate(socks):
        ms = int(closed[s] * 1000) if s in closed else "never"
        text = data[s].decode(errors="replace").replace("\n", "\\n")
        f.write("conn %d closed_ms=%s reply=%s\n" % (i, ms, text))
EOF

# rawctl OUT N MODE [REQUEST]: run raw clients in the background (their
# pid is added to RAWS); returns once all are connected.
RAWS=
rawctl() {
	rm -f "$1" "$1.ready"
	python3 "$T/rawctl.py" "$SOCK" "$@" &
	RAWS="$RAWS $!"
	wait_until 5 test -e "$1.ready" || fail "raw control clients did not connect"
}

# raw_done: wait (bounded) for every raw client to finish.
raw_done() {
	local p
	for p in $RAWS; do
		wait_until 20 sh -c "! kill -0 $p 2>/dev/null" || { kill "$p"; fail "raw clients hung"; }
		wait "$p"
	done
	RAWS=
}
raw_cleanup() {
	local p
	for p in $RAWS; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	sd_cleanup
}
trap raw_cleanup EXIT

# ctl_rc EXPECTED ARGS...: run trackerctl, require the exit status; the
# output (stdout then stderr) is left in $T/out and $T/err.
ctl_rc() {
	local want=$1 st
	shift
	"$CTL" -s "$SOCK" "$@" >"$T/out" 2>"$T/err"
	st=$?
	[ "$st" -eq "$want" ] || bad "trackerctl $*: exit $st, expected $want; out: $(head -c 300 "$T/out"); err: $(cat "$T/err")"
	return 0
}

write_conf workers=2
sd_start

# --- some swarm to look at: a torrent on each family, one on both.
for addr in "${ADDRS[@]}"; do
	udptc "$addr" announce "$(fh "$addr" 140)" 7001 0 started 0 >/dev/null || fail announce
	udptc "$addr" announce "$(fh "$addr" 140)" 7002 10 started 0 >/dev/null || fail announce
	udptc "$addr" announce "$(ih 1400)" 7003 10 started 0 >/dev/null || fail announce
done
udptc "$A4" announce "$(fh "$A4" 140)" 7004 0 completed 0 >/dev/null || fail announce
nfam=${#ADDRS[@]}

# --- status: every documented field; pid is the service's main pid.
ctl_rc 0 status
for f in version pid uptime generation workers workers_configured torrents peers peers_ipv4 \
	peers_ipv6 seeders leechers capacity_torrents capacity_peers_ipv4 capacity_peers_ipv6 \
	segment_bytes requests_per_second requests_per_second_1s cleaning_passes; do
	grep -Eq "^$f=[0-9a-z.]+$" "$T/out" || bad "status: no $f= line: $(tr '\n' ' ' <"$T/out")"
done
grep -qx "pid=$PID" "$T/out" || bad "status: pid is not the main pid $PID"
grep -qx "torrents=$((nfam + 1))" "$T/out" || bad "status: torrents: $(grep torrents= "$T/out")"
grep -qx "peers=$((3 * nfam + 1))" "$T/out" || bad "status: peers: $(grep '^peers=' "$T/out")"
grep -qx "peers_ipv4=4" "$T/out" || bad "status: peers_ipv4: $(grep peers_ipv4 "$T/out")"
grep -qx 'capacity_torrents=20000' "$T/out" || bad "status: capacity_torrents"
# The issue asks status for the workers' CPUs and backends as well.
grep -q 'cpu' "$T/out" && grep -Eq 'io_uring|mmsg' "$T/out" ||
	bad "status does not show the workers' CPUs and backends: $(tr '\n' ' ' <"$T/out")"

# --- stats: per-worker values add up to the totals, for every counter
# and family (no reload yet, so nothing is retired).
ctl_rc 0 stats
cp "$T/out" "$T/stats"
sums=$(awk -F'[.=]' '/^worker\./ { s[$3 "." $4] += $5 } /^total\./ { t[$2 "." $3] = $4 }
	END { for (k in t) if (t[k] != s[k] + 0) print k ": total " t[k] ", workers " s[k] + 0 }' "$T/stats")
[ -z "$sums" ] || bad "stats: per-worker counters do not add up: $sums"
grep -qx "total.ipv4.announce=4" "$T/stats" || bad "stats: $(grep '^total.ipv4.announce=' "$T/stats")"
if [ "$HAVE_V6" = 1 ]; then
	grep -qx "total.ipv6.announce=3" "$T/stats" || bad "stats: $(grep '^total.ipv6.announce=' "$T/stats")"
	grep -qx "shm.peers6=3" "$T/stats" || bad "stats: $(grep '^shm.peers6=' "$T/stats")"
fi
grep -qx "shm.completed=1" "$T/stats" || bad "stats: $(grep '^shm.completed=' "$T/stats")"
grep -qx "ctl.accepted=[1-9][0-9]*" "$T/stats" || bad "stats: no ctl.accepted"

# --- metrics: well formed (every sample typed), and the same numbers as
# stats where both show one.
ctl_rc 0 metrics
cp "$T/out" "$T/metrics"
bad_lines=$(grep -Ev '^(# (HELP|TYPE) trackerd_[a-z0-9_]+ .+|trackerd_[a-z0-9_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? -?[0-9][0-9.e+-]*)$' "$T/metrics" | head -n 3)
[ -z "$bad_lines" ] || bad "metrics: lines not in the exposition format: $bad_lines"
untyped=$(awk '/^# TYPE / { typed[$3] = 1; next } /^#/ { next } { m = $1; sub(/\{.*/, "", m); if (!typed[m]) print m }' "$T/metrics" | sort -u)
[ -z "$untyped" ] || bad "metrics without a # TYPE line: $untyped"
for fam in ipv4 $([ "$HAVE_V6" = 1 ] && echo ipv6); do
	v=$(grep -v '^#' "$T/metrics" | grep "family=\"$fam\"" | grep announce | head -n 1 | sed 's/.* //')
	[ "$v" = "$(sed -n "s/^total\.$fam\.announce=//p" "$T/stats")" ] ||
		bad "metrics: $fam announces '$v' differ from stats: $(grep "family=\"$fam\"" "$T/metrics" | grep announce)"
done
grep -qx "trackerd_torrents $((nfam + 1))" "$T/metrics" || bad "metrics: trackerd_torrents"
grep -qx 'trackerd_workers 2' "$T/metrics" || bad "metrics: trackerd_workers"

# --- workers: two lines, every documented field.
ctl_rc 0 workers
[ "$(grep -c '^slot=[0-9]* pid=[0-9]* cpu=-\?[0-9]* backend=\(io_uring\|mmsg\) generation=1 uptime=[0-9]* restarts=0 heartbeat=[0-9]*$' "$T/out")" -eq 2 ] ||
	bad "workers: $(cat "$T/out")"
for p in $(sed -n 's/.* pid=\([0-9]*\) .*/\1/p' "$T/out"); do
	echo " $(echo $CHILDREN) " | grep -q " $p " || bad "workers: pid $p is not a child of trackerd ($CHILDREN)"
done

# --- torrent: counts, and (the issue asks) peers by family.
ctl_rc 0 torrent "$(ih 1400)"
grep -qx "info_hash=$(ih 1400)" "$T/out" || bad "torrent: info_hash: $(cat "$T/out")"
grep -qx "leechers=$nfam" "$T/out" || bad "torrent: leechers: $(cat "$T/out")"
ctl_rc 0 torrent "$(fh "$A4" 140)"
grep -qx 'completed=1' "$T/out" || bad "torrent: completed: $(cat "$T/out")"
ctl_rc 0 torrent "$(ih 1400)" 
grep -Eqx 'peers_ipv4=1' "$T/out" && { [ "$HAVE_V6" = 0 ] || grep -Eqx 'peers_ipv6=1' "$T/out"; } ||
	bad "torrent HEX does not give the peers by family (peers_ipv4=, peers_ipv6=): $(tr '\n' ' ' <"$T/out")"
ctl_rc 0 torrent "$(ih 1400 | tr a-f A-F)"
ctl_rc 1 torrent "$(ih 1401)"
grep -q 'unknown torrent' "$T/err" || bad "torrent of an unknown hash: $(cat "$T/err")"
[ -s "$T/out" ] && bad "an error reply printed data on stdout: $(cat "$T/out")"
ctl_rc 2 torrent 1234
ctl_rc 2 torrent "$(ih 1400)0"
ctl_rc 2 torrent

# --- top: order, N, bounds.
ctl_rc 0 top
[ "$(wc -l <"$T/out")" -eq "$((nfam + 1))" ] || bad "top: $(cat "$T/out")"
ctl_rc 0 top 1
[ "$(cat "$T/out")" = "$(fh "$A4" 140) seeders=2 leechers=1 completed=1" ] || bad "top 1: $(cat "$T/out")"
ctl_rc 0 top 10000
ctl_rc 2 top 0
ctl_rc 2 top 10001
ctl_rc 2 top 01
ctl_rc 2 top 1 2

# --- version: the daemon's, the protocol's and trackerctl's.
ctl_rc 0 version
want=$("$TRACKERD" --version | sed 's/^trackerd //')
grep -qx "version=$want" "$T/out" || bad "version: $(cat "$T/out") (trackerd --version: $want)"
grep -qx 'protocol=TRK1' "$T/out" || bad "version: no protocol=TRK1"
grep -qx "trackerctl=$want" "$T/out" || bad "version: no trackerctl=$want"

# --- help (local) lists every command; so does -h.
ctl_rc 0 help
for c in status stats metrics reload save torrent top workers allow deny unlist ban unban version help; do
	grep -Eq "^  $c( |$)" "$T/out" || bad "help does not list $c"
done
"$CTL" -h >/dev/null 2>&1 || bad "trackerctl -h failed"

# --- save (160-snapshot tests it in depth): path, size and time.
ctl_rc 0 save
grep -qx "path=$T/state/snapshot.lz4" "$T/out" || bad "save: $(cat "$T/out")"
grep -Eqx 'bytes=[0-9]+' "$T/out" || bad "save: no size: $(cat "$T/out")"
grep -Eqx 'milliseconds=[0-9]+' "$T/out" || bad "save: no time: $(cat "$T/out")"

# --- reload, once (130-ctl-reload tests it in depth).
ctl_rc 0 reload
wait_until 10 generation_only 2 2 || bad "reload: generation 2 did not take over"

# --- ban and unban (190-abuse-limits tests their effect); the access-list
# edits are refused while access_list_mode is off (170-access-list tests them).
ctl_rc 0 ban 10.0.0.0/8 1h
grep -Eqx 'ban=10\.0\.0\.0/8 expires_in=3[0-9]{3}' "$T/out" || bad "ban: $(cat "$T/out")"
ctl_rc 0 ban 10.0.0.0/8
grep -qx 'ban=10.0.0.0/8 expires_in=never' "$T/out" || bad "ban again: $(cat "$T/out")"
ctl_rc 0 unban 10.0.0.0/8
grep -qx 'bans=0' "$T/out" || bad "unban: $(cat "$T/out")"
ctl_rc 1 unban 10.0.0.0/8
ctl_rc 1 ban not-a-prefix
ctl_rc 1 ban 10.0.0.1 soon
for c in "allow $(ih 1)" "deny $(ih 1)" "unlist $(ih 1)"; do
	ctl_rc 1 $c
	grep -q 'not supported yet' "$T/err" && bad "$c: $(cat "$T/err")"
done
ctl_rc 2 allow 123
ctl_rc 2 unban

# --- usage errors (2), connection errors (3), the socket from the environment.
ctl_rc 2 no-such-command
ctl_rc 2
"$CTL" -x status >/dev/null 2>&1
[ $? -eq 2 ] || bad "trackerctl -x: not a usage error"
"$CTL" -s "$T/no-such.sock" status >/dev/null 2>&1
[ $? -eq 3 ] || bad "trackerctl on a missing socket: not exit 3"
"$CTL" -s "$LOG" status >/dev/null 2>&1
[ $? -eq 3 ] || bad "trackerctl on a non-socket: not exit 3"
TRACKERD_CONTROL_SOCKET=$SOCK "$CTL" status | grep -qx "pid=$PID" ||
	bad "TRACKERD_CONTROL_SOCKET is not used"

# --- the protocol's own errors, through a raw client.
errs=$(ctl_stat ctl.bad_requests)
rawctl "$T/raw1" 1 send $'TRK9 status\n'
raw_done
grep -q 'reply=error unsupported protocol version' "$T/raw1" || bad "wrong version word: $(cat "$T/raw1")"
rawctl "$T/raw2" 1 send $'TRK1  status\n'
raw_done
grep -q 'reply=error ' "$T/raw2" || bad "a double space was accepted: $(cat "$T/raw2")"
rawctl "$T/raw3" 1 send "TRK1 status $(head -c 600 /dev/zero | tr '\0' x)"$'\n'
raw_done
grep -q 'reply=error ' "$T/raw3" || bad "an oversized request was accepted: $(head -c 200 "$T/raw3")"
[ "$(ctl_stat ctl.bad_requests)" -ge $((errs + 3)) ] || bad "ctl.bad_requests did not count the bad requests"
rawctl "$T/raw4" 1 send $'TRK1 status\ngarbage after the line'
raw_done
grep -q 'reply=ok\\nversion=' "$T/raw4" || bad "bytes after the newline were not ignored: $(head -c 200 "$T/raw4")"

# --- clients that connect and never write, or stop halfway.
timeouts=$(ctl_stat ctl.timeouts)
rawctl "$T/silent" 3 silent
start=$(now_ms)
rawctl "$T/partial" 1 partial
for c in status stats metrics workers "torrent $(ih 1400)" top version; do
	"$CTL" -s "$SOCK" $c >/dev/null 2>"$T/err" || bad "'$c' failed while clients were stuck: $(cat "$T/err")"
done
# All answered while the stuck clients were still connected (they hold
# their connections until the server drops them after 2 s).
elapsed=$(($(now_ms) - start))
for p in $RAWS; do
	kill -0 "$p" 2>/dev/null ||
		bad "the commands took $elapsed ms: answered only once the stuck clients were dropped"
done
log "7 commands answered in $elapsed ms while 4 control clients were stuck"
raw_done
for f in silent partial; do
	while read -r _ i closed reply; do
		ms=${closed#closed_ms=}
		[ "$ms" != never ] || { bad "$f client $i was never dropped"; continue; }
		[ "$ms" -ge 1500 ] && [ "$ms" -le 6000 ] || bad "$f client $i dropped after $ms ms (timeout 2000 ms)"
		log "$f client $i: dropped after $ms ms, $reply"
	done <"$T/$f"
done
rawctl "$T/x" 1 silent
raw_done
[ "$(ctl_stat ctl.timeouts)" -ge $((timeouts + 4)) ] ||
	bad "ctl.timeouts did not count the stuck clients: $(ctl_stat ctl.timeouts)"

# --- a full house of silent clients: the next is refused, not queued for
# ever; once they are dropped, commands work again.
rawctl "$T/full" 16 silent
ctl_rc 1 -t 5 status
grep -q 'too many connections' "$T/err" || bad "with 16 silent clients: $(cat "$T/err") $(head -c 200 "$T/out")"
raw_done
ctl_rc 0 status
grep -qx "pid=$PID" "$T/out" || bad "no status after the silent clients were dropped"
sd_stop
finish
