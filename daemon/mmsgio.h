/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * daemon/mmsgio.h - the recvmmsg/sendmmsg socket loop of a worker.
 *
 * The fallback when io_uring is unavailable, and the loop to run under
 * valgrind: batches of datagrams from each socket with recvmmsg, each
 * answered by worker_handle(), the replies sent back on the same socket
 * with one sendmmsg per batch; poll() with a one-second timeout when every
 * socket is empty. Everything is allocated by mmsgio_open(); mmsgio_run()
 * allocates nothing and never logs. Worker (child) context only.
 */
#ifndef TRACKER_DAEMON_MMSGIO_H
#define TRACKER_DAEMON_MMSGIO_H

#include <signal.h>

struct mmsgio;
struct worker_ctx;
struct worker_params;

/* Allocate the batch buffers for p->fds. Returns 0 or -errno. */
int mmsgio_open(const struct worker_params *p, struct mmsgio **ret_m);

/*
 * Serve until *stop is set, then answer what was already read and return
 * 0, or -errno when poll() fails.
 */
int mmsgio_run(struct mmsgio *m, struct worker_ctx *w, volatile sig_atomic_t *stop);

/* Free what mmsgio_open() allocated. NULL is a no-op. */
void mmsgio_close(struct mmsgio *m);

#endif /* TRACKER_DAEMON_MMSGIO_H */
