#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# 303-clients-lt-transmission: a libtorrent seeder and a Transmission leecher
# meet through trackerd over udp://127.0.0.1 (the seeder dials: Transmission
# never dials loopback peers)
# (negative control first, then the transfer through trackerd; see
# clients-lib.sh).
. "$(dirname "$0")/clients-lib.sh"

cl_need lt transmission
cl_tracker
cl_pair lt transmission 4
cl_done
