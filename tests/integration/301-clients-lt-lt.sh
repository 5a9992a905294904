#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# 301-clients-lt-lt: a libtorrent seeder and a libtorrent leecher meet through
# trackerd over udp://127.0.0.1
# (negative control first, then the transfer through trackerd; see
# clients-lib.sh).
. "$(dirname "$0")/clients-lib.sh"

cl_need lt lt
cl_tracker
cl_pair lt lt 4
cl_done
