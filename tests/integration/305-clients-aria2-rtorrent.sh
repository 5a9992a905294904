#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# 305-clients-aria2-rtorrent: an aria2 seeder and an rtorrent leecher meet
# through trackerd over udp://127.0.0.1
# (negative control first, then the transfer through trackerd; see
# clients-lib.sh).
. "$(dirname "$0")/clients-lib.sh"

cl_need aria2 rtorrent
cl_tracker
cl_pair aria2 rtorrent 4
cl_done
