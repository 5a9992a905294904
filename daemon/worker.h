/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * daemon/worker.h - a socket worker: receive, answer, send; nothing else.
 *
 * The supervisor forks one worker per CPU and calls worker_run() in the
 * child. The worker serves the UDP sockets it is given through io_uring
 * (daemon/uring.c) or recvmmsg/sendmmsg (daemon/mmsgio.c); both backends
 * hand every datagram to worker_handle(), which is backend-independent and
 * pure apart from the store and the counters: parse, verify the connection
 * id, do the table operation, write the reply. No allocation, no system call
 * and no log line per packet.
 */
#ifndef TRACKER_DAEMON_WORKER_H
#define TRACKER_DAEMON_WORKER_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "daemon/conf.h"

#define WORKER_MAX_SOCKETS 16

struct segment;
struct counters_block;
struct torrents;

struct worker_params {
	unsigned slot; /* counter block index in the segment */
	int cpu; /* CPU pinned to (already done by the caller), -1 if none */
	unsigned generation; /* reload generation */
	const struct conf *conf;
	struct segment *seg;
	int fds[WORKER_MAX_SOCKETS]; /* UDP sockets to serve (IPv4 and/or IPv6) */
	unsigned nfds;
	/* Set (to non-zero) by the caller's signal handler: stop receiving, flush, return. */
	volatile sig_atomic_t *stop;
};

/* Per-worker state for worker_handle(); set up by worker_ctx_init(). */
struct worker_ctx {
	const struct conf *conf;
	struct torrents *table;
	struct counters_block *ctr;
	const uint8_t *connid_key; /* CONNID_KEY_LEN bytes in the segment header */
	const struct acl *acl; /* the access list in the segment (shm/acl.h) */
	uint32_t now; /* seconds, CLOCK_BOOTTIME; refreshed by the loop */
	/* abuse limits (added with the hardening issue) */
	struct ratelimit *rl; /* per-source token buckets (shm/ratelimit.h), configured */
	const struct bans *bans; /* the ban list (shm/bans.h) */
	uint64_t now_ms; /* milliseconds, CLOCK_BOOTTIME; refreshed with now */
};

void worker_ctx_init(struct worker_ctx *w, const struct conf *c, struct segment *seg,
		     unsigned slot);

/*
 * Answer one datagram from src (AF_INET or AF_INET6, IPv4-mapped sources
 * are treated as IPv4). Writes the reply into out (cap >= UDPT_REPLY_MAX)
 * and returns its length, or 0 when nothing is to be sent. Counts
 * everything in w->ctr.
 */
size_t worker_handle(struct worker_ctx *w, const uint8_t *pkt, size_t len,
		     const struct sockaddr *src, socklen_t srclen, uint8_t *out, size_t cap);

/* Datagrams worker_handle_batch() gives the store at once (larger n is split). */
#define WORKER_BATCH_MAX 64

/* One datagram of a batch; reply_len is the output (0: nothing to send). */
struct worker_item {
	const uint8_t *pkt;
	size_t len;
	const struct sockaddr *src;
	socklen_t srclen;
	uint8_t *out; /* reply buffer, cap >= UDPT_REPLY_MAX */
	size_t cap;
	size_t reply_len;
};

/*
 * Answer n datagrams as n calls of worker_handle() would, except that the
 * announces of each WORKER_BATCH_MAX chunk reach the store together, after
 * the connects, scrapes and errors of that chunk: the store prefetches their
 * table slots and peer blocks, which hides most of its memory latency.
 * Every pkt, src and out must stay valid until it returns.
 */
void worker_handle_batch(struct worker_ctx *w, struct worker_item *items, unsigned n);

/*
 * Helpers for the backends (daemon/uring.c, daemon/mmsgio.c).
 *
 * worker_tick(): refresh w->now (CLOCK_BOOTTIME seconds) and bump the
 * counter block's heartbeat; called once per loop iteration and at least
 * once a second when idle. worker_count_tx(): count one reply the kernel
 * accepted. worker_family(): the counter family (COUNTERS_FAM_*) of a
 * destination address, IPv4-mapped IPv6 counting as IPv4.
 */
void worker_tick(struct worker_ctx *w);
void worker_count_tx(struct worker_ctx *w, unsigned fam, size_t bytes);
unsigned worker_family(const struct sockaddr *sa);

/*
 * Run the worker loop in the current (child) process until *p->stop.
 * Chooses the backend from p->conf->io_backend (auto: io_uring, falling
 * back to mmsg and logging why once). Returns an exit status.
 */
int worker_run(const struct worker_params *p);

#endif /* TRACKER_DAEMON_WORKER_H */
