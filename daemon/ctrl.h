/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * daemon/ctrl.h - the control process: cleaning, statistics, trackerctl.
 *
 * The supervisor forks one control process and calls ctrl_run() in it. It
 * cleans the torrent table one stripe at a time, folds the per-worker
 * counter blocks into totals and rates every second, logs a summary every
 * stats_interval seconds, and serves the control socket. It never touches
 * the UDP sockets. After a reload the supervisor replaces it with one that
 * runs on the new configuration; all state worth keeping is in the segment.
 */
#ifndef TRACKER_DAEMON_CTRL_H
#define TRACKER_DAEMON_CTRL_H

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

struct conf;
struct segment;
struct sup_args;

/*
 * Counter block that keeps the sums of blocks whose slot was reused by a
 * later worker generation, so totals never go backwards. Written by the
 * supervisor only, read by the control process; never given to a worker.
 */
#define CTRL_RETIRED_SLOT 255u

/*
 * Sent by the supervisor before SIGTERM when it replaces the control
 * process (reload): stop without the final snapshot that SIGTERM alone
 * (a shutdown) writes.
 */
#define CTRL_SIG_REPLACE SIGUSR1

struct ctrl_params {
	const struct conf *conf;
	struct segment *seg;
	pid_t sup_pid; /* supervisor: receives SIGHUP for "reload" */
	unsigned generation; /* current worker generation */
	unsigned workers; /* workers of the current generation */
	uint64_t started; /* CLOCK_REALTIME seconds when the daemon started */
	int control_fd; /* listening control socket owned by ctrl, or -1 */
	const struct sup_args *args; /* config path and -o overrides, to check a reload */
	volatile sig_atomic_t *stop; /* set by the signal handler: return */
};

/* Run until *p->stop. Returns an exit status. Control-process context. */
int ctrl_run(const struct ctrl_params *p);

#endif /* TRACKER_DAEMON_CTRL_H */
