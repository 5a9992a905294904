#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# mk/deps.sh - install the Debian packages trackerd needs to build and test.
#
# Checks first and is silent when nothing is missing; installs only what is
# missing; says clearly what to do when it cannot install.
set -u

# Build: compiler, libraries (through pkg-config), man-page linter, formatter.
# Tests: systemd-socket-activate and systemd-analyze (systemd), real BitTorrent
# clients for the end-to-end tests, the Prometheus text parser, the fuzzer and
# sanitizer runtimes (clang, libclang-rt-14-dev), valgrind and static analysers.
PKGS="gcc make pkg-config liburing-dev libsystemd-dev liblz4-dev libcmocka-dev
libmicrohttpd-dev libseccomp-dev mandoc clang-format systemd procps iproute2
python3 python3-libtorrent transmission-cli aria2 rtorrent python3-prometheus-client
clang libclang-rt-14-dev valgrind cppcheck clang-tidy"

missing=""
for p in $PKGS; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null)
	[ "$st" = "installed" ] || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "deps: missing Debian packages:$missing"
if ! command -v apt-get >/dev/null 2>&1; then
	echo "deps: apt-get not found; install the packages above by hand" >&2
	exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
		SUDO="sudo -n"
	else
		echo "deps: not root; run as root:  apt-get install$missing" >&2
		exit 1
	fi
else
	SUDO=""
fi

export DEBIAN_FRONTEND=noninteractive
log=$(mktemp /tmp/trackerd-deps.XXXXXX)
if ! $SUDO apt-get install -y -q --no-install-recommends $missing >"$log" 2>&1; then
	# The package lists may be absent or stale on a fresh machine.
	if ! { $SUDO apt-get update -q && \
	       $SUDO apt-get install -y -q --no-install-recommends $missing; } >"$log" 2>&1; then
		echo "deps: apt-get could not install:$missing" >&2
		tail -n 15 "$log" >&2
		rm -f "$log"
		exit 1
	fi
fi
rm -f "$log"
echo "deps: installed$missing"
