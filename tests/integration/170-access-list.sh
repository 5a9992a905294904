#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# 170-access-list: the info-hash access list against a real daemon.
# allow mode: listed hashes are served, others get the error reply on
# announce and zeros in a scrape (an error reply when every hash is
# refused); the counters count it. Live edits with trackerctl allow and
# unlist change the file (comments kept) and the effect at once; a torrent
# that becomes refused is gone from "trackerctl torrent" when the command
# returns; deny is refused in allow mode. A bad file on "trackerctl
# reload" is reported with file and line and the old list stays. A reload
# to deny mode drops the newly refused torrents; deny/unlist edit that list;
# a bad file on SIGHUP is logged and the old list stays.
. "$(dirname "$0")/lib.sh"

# The daemon may drop to an unprivileged user: it must read the list and
# replace it (write access to its directory).
chmod 0711 "$T"
mkdir -m 0777 "$T/acl" || fail "mkdir"
LIST=$T/acl/access.list
REFUSED='^error=info-hash not allowed by this tracker$'
H1=$(ih 0x1701)
H2=$(ih 0x1702)
H3=$(ih 0x1703)
H4=$(ih 0x1704)
H5=$(ih 0x1705)
H6=$(ih 0x1706)
UPPER_H2=$(echo "$H2" | tr a-f A-F)

status_is() { ctl status | grep -qx "$1"; }

# served ADDR HASH / refused ADDR HASH: one announce.
served() {
	expect_reply '^interval=' "$1" announce "$2" "$3" 10 started 5 >/dev/null
}
refused() {
	expect_error "$REFUSED" "$1" announce "$2" 7999 10 started 5
}

backend=mmsg
uring_works && backend=io_uring

cat >"$LIST" <<EOF
# test allow list
$H1
   $UPPER_H2   # upper case, blanks and a trailing comment

EOF
printf 'access_list_mode = allow\naccess_list_path = %s\n' "$LIST" >"$CONF"
start_daemon "$backend" 2
status_is access_list_mode=allow || fail "status: $(ctl status | grep access)"
status_is access_list_entries=2 || fail "status: $(ctl status | grep access)"

# --- allow mode: announce and scrape ---------------------------------------
port=7100
for addr in "${ADDRS[@]}"; do
	f=$(fam "$addr")
	port=$((port + 1))
	served "$addr" "$H1" "$port"
	served "$addr" "$H2" "$port"
	refused "$addr" "$H3"
	out=$(expect_reply '^hashes=3 ' "$addr" scrape "$H1" "$H3" "$H2") || exit 1
	echo "$out" | grep -Eq 'scrape.0=0,0,[12] scrape.1=0,0,0 scrape.2=0,0,[12]$' ||
		fail "scrape with a refused hash: $out"
	expect_error "$REFUSED" "$addr" scrape "$H3" "$H4"
	[ "$(ctl_stat "total.$f.err_access_announce")" = 1 ] ||
		fail "err_access_announce: $(ctl stats | grep access)"
	[ "$(ctl_stat "total.$f.err_access_scrape")" = 1 ] ||
		fail "err_access_scrape: $(ctl stats | grep access)"
	[ "$(ctl_stat "total.$f.access_refused_hashes")" = 3 ] ||
		fail "access_refused_hashes: $(ctl stats | grep access)"
done
ctl torrent "$H3" >/dev/null 2>&1 && fail "a refused announce created a torrent"
log "allow mode: announce and scrape checked on ${ADDRS[*]}"

# --- live edits in allow mode ----------------------------------------------
out=$(ctl allow "$(echo "$H3" | tr a-f A-F)") || fail "allow failed: $out"
echo "$out" | grep -qx 'file_changed=yes' || fail "allow: $out"
echo "$out" | grep -qx 'access_list_entries=3' || fail "allow: $out"
grep -qx "$H3" "$LIST" || fail "allow did not write $H3 to the file: $(cat "$LIST")"
grep -q '^# test allow list$' "$LIST" || fail "allow lost the file's comment"
grep -q "upper case, blanks and a trailing comment" "$LIST" || fail "allow lost a line comment"
for addr in "${ADDRS[@]}"; do
	served "$addr" "$H3" 7200
done
out=$(ctl allow "$H3") || fail "allow again failed: $out"
echo "$out" | grep -qx 'file_changed=no' || fail "allow of a listed hash changed the file: $out"

out=$(ctl deny "$H4" 2>&1) && fail "deny accepted in allow mode: $out"
echo "$out" | grep -q "access_list_mode is allow" || fail "deny in allow mode: $out"

ctl torrent "$H1" >/dev/null || fail "H1 not in the table before unlist"
out=$(ctl unlist "$H1") || fail "unlist failed: $out"
echo "$out" | grep -qx 'torrent_removed=yes' || fail "unlist: $out"
out=$(ctl torrent "$H1" 2>&1) && fail "unlisted torrent still in the table: $out"
echo "$out" | grep -q 'unknown torrent' || fail "torrent after unlist: $out"
grep -qi "$H1" "$LIST" && fail "unlist left $H1 in the file"
for addr in "${ADDRS[@]}"; do
	refused "$addr" "$H1"
done
status_is access_list_entries=2 || fail "entries after unlist: $(ctl status | grep access)"
log "live edits: allow, unlist, deny refused in allow mode"

# --- a bad file on trackerctl reload keeps the old list ---------------------
printf 'not-a-hash\n' >>"$LIST"
bad_line=$(wc -l <"$LIST")
gen=$(ctl status | sed -n 's/^generation=//p')
out=$(ctl reload 2>&1) && fail "reload with a bad list succeeded: $out"
echo "$out" | grep -q "$LIST:$bad_line: " || fail "reload error does not name $LIST:$bad_line: $out"
status_is "generation=$gen" || fail "a refused reload started a new generation"
for addr in "${ADDRS[@]}"; do
	served "$addr" "$H3" 7300
	refused "$addr" "$H1"
done
status_is access_list_entries=2 || fail "entries after a bad reload: $(ctl status | grep access)"
log "bad list on reload: reported as $(echo "$out" | head -n 1)"

# --- deny mode by reload ---------------------------------------------------
printf '# deny list\n%s\n' "$H3" >"$LIST"
printf 'access_list_mode = deny\naccess_list_path = %s\n' "$LIST" >"$CONF"
ctl torrent "$H3" >/dev/null || fail "H3 not in the table before the reload"
ctl reload >/dev/null || fail "reload to deny mode failed"
wait_until 10 status_is access_list_mode=deny || fail "deny mode not applied by reload"
ctl torrent "$H3" >/dev/null 2>&1 && fail "torrent refused by the new list still in the table"
for addr in "${ADDRS[@]}"; do
	refused "$addr" "$H3"
	served "$addr" "$H5" 7400
	served "$addr" "$H1" 7400
	out=$(expect_reply '^hashes=2 ' "$addr" scrape "$H3" "$H5") || exit 1
	echo "$out" | grep -Eq 'scrape.0=0,0,0 scrape.1=0,0,[12]$' || fail "deny scrape: $out"
done

out=$(ctl allow "$H4" 2>&1) && fail "allow accepted in deny mode: $out"
ctl torrent "$H5" >/dev/null || fail "H5 not in the table before deny"
out=$(ctl deny "$H5") || fail "deny failed: $out"
echo "$out" | grep -qx 'torrent_removed=yes' || fail "deny: $out"
ctl torrent "$H5" >/dev/null 2>&1 && fail "denied torrent still in the table"
grep -qx "$H5" "$LIST" || fail "deny did not write the file"
grep -q '^# deny list$' "$LIST" || fail "deny lost the comment"
for addr in "${ADDRS[@]}"; do
	refused "$addr" "$H5"
done
out=$(ctl unlist "$H5") || fail "unlist in deny mode failed: $out"
for addr in "${ADDRS[@]}"; do
	served "$addr" "$H5" 7500
done
log "deny mode: reload, deny, unlist checked"

# --- a bad file on SIGHUP: logged, the list in force kept ------------------
printf '%s\n%s\nxyz\n' "$H6" "$H1" >"$LIST"
kill -HUP "$PID"
wait_until 10 grep -q "access list not loaded.*$LIST:3: " "$LOG" ||
	fail "SIGHUP with a bad list: no error naming $LIST:3"
for addr in "${ADDRS[@]}"; do
	refused "$addr" "$H3"
	served "$addr" "$H1" 7600
	served "$addr" "$H6" 7600
done
status_is access_list_mode=deny || fail "mode after a bad SIGHUP: $(ctl status | grep access)"
status_is access_list_entries=1 || fail "entries after a bad SIGHUP: $(ctl status | grep access)"

# Off: every torrent again.
printf 'access_list_mode = off\n' >"$CONF"
ctl reload >/dev/null || fail "reload to off failed"
wait_until 10 status_is access_list_mode=off || fail "off not applied by reload"
for addr in "${ADDRS[@]}"; do
	served "$addr" "$H3" 7700
done
out=$(ctl deny "$H3" 2>&1) && fail "deny accepted with the list off: $out"
stop_daemon
echo "ok"
