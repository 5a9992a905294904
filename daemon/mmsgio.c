/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * daemon/mmsgio.c - the recvmmsg/sendmmsg socket loop of a worker.
 *
 * The portable backend: used when io_uring is unavailable (old kernel,
 * seccomp, kernel.io_uring_disabled) or chosen with io_backend=mmsg, and the
 * one to run under valgrind. Owns the batch buffers; never parses (that is
 * worker_handle()), never allocates after mmsgio_open(), never logs.
 *
 * Design notes:
 *
 * - Reads are optimistic: every socket is drained with non-blocking
 *   recvmmsg batches of MMSGIO_BATCH datagrams, and poll() (one-second
 *   timeout, for the heartbeat and the stop flag) is called only after a
 *   full round in which every socket came back empty. Under load the loop
 *   costs two system calls per batch and none per datagram.
 * - A socket gets at most MMSGIO_ROUNDS batches before the next socket is
 *   served, so one flooded family cannot starve the other.
 * - What one recvmmsg returned is answered with one worker_handle_batch()
 *   call (the store prefetches the batch's announces), straight into the
 *   per-message reply buffers that sendmmsg then sends.
 * - Each receive buffer holds UDPT_REQUEST_MAX bytes; a longer datagram
 *   comes back with MSG_TRUNC and is counted as drop_truncated.
 * - Replies of one batch go back on the socket they came from with one
 *   sendmmsg(MSG_DONTWAIT). A reply the kernel refuses (full send buffer,
 *   unreachable) is counted as send_errors and skipped, never retried.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "daemon/mmsgio.h"
#include "daemon/udpt.h"
#include "daemon/worker.h"
#include "shm/counters.h"

#define MMSGIO_BATCH WORKER_BATCH_MAX
#define MMSGIO_ROUNDS 8

struct mmsgio {
	unsigned nfds;
	int fds[WORKER_MAX_SOCKETS];
	struct pollfd pfd[WORKER_MAX_SOCKETS];

	struct mmsghdr rx[MMSGIO_BATCH];
	unsigned rx_dirty; /* rx[] entries the last recvmmsg wrote */
	struct iovec rx_iov[MMSGIO_BATCH];
	struct sockaddr_in6 rx_name[MMSGIO_BATCH];
	struct mmsghdr tx[MMSGIO_BATCH];
	struct iovec tx_iov[MMSGIO_BATCH];
	uint8_t tx_fam[MMSGIO_BATCH];
	struct worker_item items[MMSGIO_BATCH];

	uint8_t rx_buf[MMSGIO_BATCH][UDPT_REQUEST_MAX] __attribute__((aligned(64)));
	uint8_t tx_buf[MMSGIO_BATCH][UDPT_REPLY_MAX] __attribute__((aligned(64)));
};

int mmsgio_open(const struct worker_params *p, struct mmsgio **ret_m)
{
	struct mmsgio *m;

	if (p->nfds == 0 || p->nfds > WORKER_MAX_SOCKETS)
		return -EINVAL;
	m = mmap(NULL, sizeof(*m), PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (m == MAP_FAILED)
		return -ENOMEM;
	m->nfds = p->nfds;
	for (unsigned i = 0; i < p->nfds; i++) {
		m->fds[i] = p->fds[i];
		m->pfd[i].fd = p->fds[i];
		m->pfd[i].events = POLLIN;
	}
	for (unsigned i = 0; i < MMSGIO_BATCH; i++) {
		m->rx_iov[i].iov_base = m->rx_buf[i];
		m->rx_iov[i].iov_len = sizeof(m->rx_buf[i]);
		m->rx[i].msg_hdr.msg_iov = &m->rx_iov[i];
		m->rx[i].msg_hdr.msg_iovlen = 1;
		m->rx[i].msg_hdr.msg_name = &m->rx_name[i];
		m->rx[i].msg_hdr.msg_namelen = sizeof(m->rx_name[i]);
		m->tx_iov[i].iov_base = m->tx_buf[i];
		m->tx[i].msg_hdr.msg_iov = &m->tx_iov[i];
		m->tx[i].msg_hdr.msg_iovlen = 1;
	}
	*ret_m = m;
	return 0;
}

void mmsgio_close(struct mmsgio *m)
{
	if (m)
		munmap(m, sizeof(*m));
}

static void send_batch(struct mmsgio *m, struct worker_ctx *w, int fd, unsigned n)
{
	unsigned off = 0;

	while (off < n) {
		int r = sendmmsg(fd, m->tx + off, n - off, MSG_DONTWAIT);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			/* The first message failed: count it and go on with the rest. */
			counters_add(w->ctr, m->tx_fam[off], COUNTERS_send_errors, 1);
			off++;
			continue;
		}
		for (int i = 0; i < r; i++)
			worker_count_tx(w, m->tx_fam[off + i], m->tx[off + i].msg_len);
		off += (unsigned)r;
	}
}

/* One recvmmsg batch from fd, answered. Returns datagrams read, 0 when empty. */
static int serve_batch(struct mmsgio *m, struct worker_ctx *w, int fd)
{
	unsigned ntx = 0, nit = 0;
	int r;

	/* The kernel rewrites namelen and flags only of the messages it filled. */
	for (unsigned i = 0; i < m->rx_dirty; i++) {
		m->rx[i].msg_hdr.msg_namelen = sizeof(m->rx_name[i]);
		m->rx[i].msg_hdr.msg_flags = 0;
	}
	m->rx_dirty = 0;
	do
		r = recvmmsg(fd, m->rx, MMSGIO_BATCH, MSG_DONTWAIT, NULL);
	while (r < 0 && errno == EINTR);
	if (r <= 0)
		return 0;
	m->rx_dirty = (unsigned)r;

	for (int i = 0; i < r; i++) {
		const struct msghdr *h = &m->rx[i].msg_hdr;
		const struct sockaddr *src = h->msg_name;
		struct worker_item *it;

		if (h->msg_namelen > sizeof(m->rx_name[i]))
			continue;
		if (h->msg_flags & MSG_TRUNC) {
			unsigned fam = worker_family(src);

			counters_add(w->ctr, fam, COUNTERS_rx_packets, 1);
			counters_add(w->ctr, fam, COUNTERS_rx_bytes, m->rx[i].msg_len);
			counters_add(w->ctr, fam, COUNTERS_drop_truncated, 1);
			continue;
		}
		it = &m->items[nit];
		it->pkt = m->rx_buf[i];
		it->len = m->rx[i].msg_len;
		it->src = src;
		it->srclen = h->msg_namelen;
		it->out = m->tx_buf[nit];
		it->cap = sizeof(m->tx_buf[nit]);
		nit++;
	}
	worker_handle_batch(w, m->items, nit);
	for (unsigned k = 0; k < nit; k++) {
		const struct worker_item *it = &m->items[k];

		if (!it->reply_len)
			continue;
		m->tx[ntx].msg_hdr.msg_name = (void *)it->src;
		m->tx[ntx].msg_hdr.msg_namelen = it->srclen;
		m->tx_iov[ntx].iov_base = it->out;
		m->tx_iov[ntx].iov_len = it->reply_len;
		m->tx_fam[ntx] = (uint8_t)worker_family(it->src);
		ntx++;
	}
	if (ntx)
		send_batch(m, w, fd, ntx);
	return r;
}

int mmsgio_run(struct mmsgio *m, struct worker_ctx *w, volatile sig_atomic_t *stop)
{
	worker_tick(w);
	while (!*stop) {
		bool busy = false;

		for (unsigned i = 0; i < m->nfds; i++) {
			for (unsigned round = 0; round < MMSGIO_ROUNDS; round++) {
				int r = serve_batch(m, w, m->fds[i]);

				if (r > 0)
					busy = true;
				if (r < MMSGIO_BATCH)
					break;
			}
		}
		if (!busy) {
			int r = poll(m->pfd, m->nfds, 1000);

			if (r < 0 && errno != EINTR && errno != EAGAIN)
				return -errno;
		}
		worker_tick(w);
	}
	/*
	 * Every datagram read was answered in its batch; what is still queued
	 * in the sockets stays there for the next worker.
	 */
	worker_tick(w);
	return 0;
}
