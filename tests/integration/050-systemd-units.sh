#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# tests/integration/050-systemd-units.sh - the units in systemd/ are clean.
#
# Runs `systemd-analyze verify` on the units as `make install` writes them,
# with @SBINDIR@ pointing at the built binary and the man pages of man/ on
# MANPATH, and fails on any message it prints. Then checks what verify
# cannot: the FileDescriptorName= values are the names daemon/svc.h knows,
# every socket unit feeds trackerd.service, the system call filter admits
# what trackerd calls (io_uring, pinning, memfd, batched UDP I/O), and the
# offline security exposure stays low. Skips only without systemd-analyze.
set -u

fail() {
	echo "FAIL: $*"
	exit 1
}

command -v systemd-analyze >/dev/null 2>&1 || {
	echo "systemd-analyze not installed"
	exit 77
}

top=$(cd "$(dirname "$0")/../.." && pwd)
O=${O:-build}
case $O in /*) ;; *) O="$top/$O" ;; esac
bin=$O/trackerd
[ -x "$bin" ] || fail "$bin not built"
bindir=$(cd "$(dirname "$bin")" && pwd)

tmp=$(mktemp -d /tmp/trackerd-units.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

units=()
for u in "$top"/systemd/*.service "$top"/systemd/*.socket; do
	[ -e "$u" ] || continue
	sed -e "s|@SBINDIR@|$bindir|g" -e "s|@BINDIR@|$bindir|g" "$u" >"$tmp/${u##*/}"
	units+=("$tmp/${u##*/}")
done
[ -e "$tmp/trackerd.service" ] || fail "systemd/trackerd.service missing"
[ -e "$tmp/trackerd.socket" ] || fail "systemd/trackerd.socket missing"

# Documentation= is checked against our own pages, as man(1) would find
# them once installed.
for m in "$top"/man/*.[1-8]; do
	[ -e "$m" ] || continue
	mkdir -p "$tmp/man/man${m##*.}"
	cp "$m" "$tmp/man/man${m##*.}/"
done

echo "== systemd-analyze verify ${units[*]##*/}"
out=$(cd "$tmp" && MANPATH="$tmp/man" systemd-analyze verify "${units[@]}" 2>&1)
rc=$?
[ -z "$out" ] || printf "%s\n" "$out"
[ $rc -eq 0 ] || fail "systemd-analyze verify exited $rc"
[ -z "$out" ] || fail "systemd-analyze verify printed warnings"

echo "== socket names match daemon/svc.h"
known=$(sed -n 's/^#define SVC_NAME_[A-Z0-9]* "\(.*\)"$/\1/p' "$top/daemon/svc.h" | tr '\n' ' ')
[ -n "$known" ] || fail "no SVC_NAME_* in daemon/svc.h"
sockets=$(sed -n 's/^Sockets=//p' "$tmp/trackerd.service" | tr ' ' '\n')
seen=""
for s in "$tmp"/*.socket; do
	name=$(sed -n 's/^FileDescriptorName=//p' "$s")
	[ -n "$name" ] || fail "${s##*/} has no FileDescriptorName="
	case " $known " in *" $name "*) ;; *) fail "${s##*/}: name '$name' is not one of: $known" ;; esac
	case " $seen " in *" $name "*) fail "name '$name' used by two socket units" ;; esac
	seen="$seen $name"
	grep -qx 'Service=trackerd.service' "$s" || fail "${s##*/} lacks Service=trackerd.service"
	printf '%s\n' "$sockets" | grep -qx "${s##*/}" || fail "${s##*/} not in Sockets= of trackerd.service"
	echo "${s##*/}: $name"
done
for want in udp4 udp6 control; do
	case " $seen " in *" $want "*) ;; *) fail "no socket unit named '$want'" ;; esac
done
grep -qx 'BindIPv6Only=ipv6-only' "$tmp/trackerd-udp6.socket" || fail "udp6 socket not ipv6-only"

echo "== system call filter admits what trackerd uses"
# Expand the unit's SystemCallFilter= lines with systemd's own group table.
table=$(systemd-analyze syscall-filter 2>/dev/null)
expand() { # expand NAME...: print the system calls, groups resolved
	printf '%s\n' "$table" | awk -v want="$*" '
		/^@/ { g = $1; next }
		/^ *#/ || NF == 0 { next }
		{ m[g] = m[g] " " $1 }
		function walk(x,   n, a, i) {
			if (x in done) return
			done[x] = 1
			if (substr(x, 1, 1) != "@") { print x; return }
			n = split(m[x], a, " ")
			for (i = 1; i <= n; i++) walk(a[i])
		}
		END { n = split(want, w, " "); for (i = 1; i <= n; i++) walk(w[i]) }'
}
allow=$(sed -n 's/^SystemCallFilter=\([^~].*\)/\1/p' "$tmp/trackerd.service" | tr '\n' ' ')
deny=$(sed -n 's/^SystemCallFilter=~\(.*\)/\1/p' "$tmp/trackerd.service" | tr '\n' ' ')
[ -n "$allow" ] || fail "no SystemCallFilter= allow list"
allowed=$(expand $allow | sort -u)
denied=$(expand $deny | sort -u)
for sc in io_uring_setup io_uring_enter io_uring_register recvmmsg sendmmsg recvmsg sendmsg \
	memfd_create ftruncate mmap munmap fork clone clone3 wait4 waitid kill sched_setaffinity \
	sched_getaffinity getrandom setsockopt getsockopt bind listen accept4 socket fcntl \
	signalfd4 timerfd_create epoll_wait prctl getpid clock_gettime seccomp; do
	printf '%s\n' "$allowed" | grep -qx "$sc" || fail "SystemCallFilter= does not allow $sc"
	printf '%s\n' "$denied" | grep -qx "$sc" && fail "SystemCallFilter=~ denies $sc"
done
echo "$(printf '%s\n' "$allowed" | wc -l) calls allowed, $(printf '%s\n' "$denied" | wc -l) denied; all needed ones allowed"

echo "== sysusers.d entry creates the user and group the units name"
user=$(sed -n 's/^User=//p' "$tmp/trackerd.service")
group=$(sed -n 's/^SocketGroup=//p' "$tmp/trackerd.socket")
if command -v systemd-sysusers >/dev/null 2>&1; then
	mkdir -p "$tmp/root/etc"
	systemd-sysusers --root="$tmp/root" - <"$top/systemd/sysusers.d-trackerd.conf" ||
		fail "systemd-sysusers rejects systemd/sysusers.d-trackerd.conf"
	grep -q "^$user:" "$tmp/root/etc/passwd" || fail "sysusers entry does not create user '$user'"
	grep -q "^$group:" "$tmp/root/etc/group" || fail "sysusers entry does not create group '$group'"
	echo "user $user, group $group"
else
	echo "systemd-sysusers not installed, entry not checked"
fi

echo "== offline security exposure"
sec=$(cd "$tmp" && MANPATH="$tmp/man" systemd-analyze security --offline=yes --threshold=20 \
	"$tmp/trackerd.service" 2>&1)
rc=$?
printf '%s\n' "$sec" | grep -E '^→|Overall'
[ $rc -eq 0 ] || fail "security exposure above 2.0"
echo "ok"
