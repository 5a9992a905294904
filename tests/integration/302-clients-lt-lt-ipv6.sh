#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# 302-clients-lt-lt-ipv6: a libtorrent seeder and a libtorrent leecher meet through
# trackerd over udp://[::1] (IPv6 announces, 18-byte peer entries)
# (negative control first, then the transfer through trackerd; see
# clients-lib.sh).
. "$(dirname "$0")/clients-lib.sh"

cl_need lt lt
cl_tracker
cl_pair lt lt 6
cl_done
