#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# 304-clients-transmission-aria2: a Transmission seeder and an aria2 leecher
# meet through trackerd over udp://127.0.0.1
# (negative control first, then the transfer through trackerd; see
# clients-lib.sh).
. "$(dirname "$0")/clients-lib.sh"

cl_need transmission aria2
cl_tracker
cl_pair transmission aria2 4
cl_done
