#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# 306-clients-rtorrent-lt: an rtorrent seeder and a libtorrent leecher meet
# through trackerd over udp://127.0.0.1
# (negative control first, then the transfer through trackerd; see
# clients-lib.sh).
. "$(dirname "$0")/clients-lib.sh"

cl_need rtorrent lt
cl_tracker
cl_pair rtorrent lt 4
cl_done
