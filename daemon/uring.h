/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * daemon/uring.h - the io_uring socket loop of a worker.
 *
 * One ring per worker process: the UDP sockets registered as fixed files,
 * one multishot recvmsg per socket feeding a provided-buffer ring, replies
 * written by worker_handle() straight into preallocated send slots and
 * submitted in batches, one io_uring_enter per loop iteration. Everything
 * is allocated by uring_open(); uring_run() allocates nothing and never
 * logs. Worker (child) context only: the ring is single-issuer.
 */
#ifndef TRACKER_DAEMON_URING_H
#define TRACKER_DAEMON_URING_H

#include <signal.h>

struct uring;
struct worker_ctx;
struct worker_params;

/*
 * Set up the ring, fixed files, buffer ring and send pool for p->fds,
 * sized from p->conf->ring_entries. Returns 0 or -errno (-ENOSYS, -EPERM
 * when io_uring is disabled, -ENOMEM on memlock, -EINVAL, -EOPNOTSUPP when
 * the kernel lacks multishot recvmsg); nothing stays allocated on failure.
 */
int uring_open(const struct worker_params *p, struct uring **ret_u);

/* How the ring was set up: "defer_taskrun", "coop_taskrun" or "plain". */
const char *uring_mode(const struct uring *u);

/*
 * Serve until *stop is set; then cancel the receives, answer what was
 * already received, wait (at most about a second) for the sends in flight
 * and return 0, or -errno when the ring fails.
 */
int uring_run(struct uring *u, struct worker_ctx *w, volatile sig_atomic_t *stop);

/* Free the ring and everything uring_open() set up. NULL is a no-op. */
void uring_close(struct uring *u);

#endif /* TRACKER_DAEMON_URING_H */
