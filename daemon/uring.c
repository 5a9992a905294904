/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * daemon/uring.c - the io_uring socket loop of a worker.
 *
 * Owns one ring per worker process and everything the kernel reads or
 * writes through it: the fixed-file table of the UDP sockets, the
 * provided-buffer ring the receives land in, and the pool of send slots the
 * replies are written to. It never parses a datagram (worker_handle() does),
 * never allocates after uring_open() and never logs.
 *
 * Design notes:
 *
 * - Setup: IORING_SETUP_SINGLE_ISSUER | DEFER_TASKRUN, so completions are
 *   produced only inside our own io_uring_enter, in batches, with no
 *   interrupting task work; falls back to COOP_TASKRUN and then to a plain
 *   ring when the kernel refuses the flags (-EINVAL). The CQ is four times
 *   the SQ: one multishot receive can post a completion per buffer.
 *
 * - Receive: one multishot recvmsg per socket (fixed file, buffer select
 *   from group URING_BGID). Each buffer holds the io_uring_recvmsg_out
 *   header, room for a sockaddr_in6 and UDPT_REQUEST_MAX payload bytes, so
 *   a full 74-hash scrape (1496 bytes) or a long BEP 41 announce arrives
 *   whole; a longer datagram is flagged MSG_TRUNC by the kernel and counted
 *   as drop_truncated. A buffer goes back to the ring as soon as its
 *   datagram is answered (the reply is in a send slot by then); the ring
 *   tail is published once per batch. When the kernel ends a multishot (no
 *   IORING_CQE_F_MORE: ring ran dry with -ENOBUFS, counted as rx_nobufs,
 *   or any other reason) it is re-armed after the batch, once the recycled
 *   buffers are visible again. A socket whose receive keeps failing without
 *   delivering anything makes uring_run() fail, so the supervisor restarts
 *   the worker instead of it spinning.
 *
 * - Send: nslots = SQ entries preallocated slots, each a msghdr, iovec,
 *   destination and UDPT_REPLY_MAX reply buffer. worker_handle() writes the
 *   reply straight into a free slot; the send SQE (fixed file) is queued and
 *   submitted with the next io_uring_enter together with everything else of
 *   the batch. A slot is freed by its send completion. Sends are
 *   IORING_OP_SEND with a destination address (sendto semantics, Linux 6.1),
 *   which spares the kernel a msghdr and iovec copy per reply; the first
 *   -EINVAL (Linux 6.0) switches the ring to IORING_OP_SENDMSG for good. No
 *   free slot: the request is still processed (into a scratch buffer: an
 *   announce is recorded) and the reply counted as drop_send_full. The
 *   queue can never grow past the pool.
 *
 * - Time and liveness: each loop iteration waits at most one second, then
 *   worker_tick() refreshes w->now and the heartbeat, so both move even
 *   when no datagram arrives.
 *
 * - Stop: once *stop is seen, the receives are cancelled (datagrams still
 *   queued in the socket stay there for the next worker), the datagrams
 *   already received are answered, and the loop waits up to about one
 *   second for the outstanding send completions.
 *
 * - user_data: the top byte says what completed (URING_UD_SEND with the
 *   slot index, URING_UD_RECV with the socket index, URING_UD_CANCEL);
 *   liburing's own timeout tag (all ones) matches none of them.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>

#include <liburing.h>

#include "daemon/udpt.h"
#include "daemon/uring.h"
#include "daemon/worker.h"
#include "shm/counters.h"

#define URING_BGID 0
#define URING_ENTRIES_MIN 64u
#define URING_ENTRIES_MAX 32768u
/* A multishot receive failing this often in a row without data is broken. */
#define URING_RECV_FAIL_MAX 64u
#define URING_DRAIN_MS 1000

#define URING_UD_SHIFT 56
#define URING_UD_SEND 0x00ULL
#define URING_UD_RECV 0x01ULL
#define URING_UD_CANCEL 0x02ULL
#define URING_UD_MASK ((1ULL << URING_UD_SHIFT) - 1)

/* Receive buffer: header, source address, the largest request we answer. */
#define URING_BUF_NEED \
	(sizeof(struct io_uring_recvmsg_out) + sizeof(struct sockaddr_in6) + UDPT_REQUEST_MAX)
#define URING_BUF_SIZE ((URING_BUF_NEED + 63) & ~(size_t)63)
_Static_assert(URING_BUF_SIZE >= URING_BUF_NEED, "receive buffers hold any request we answer");
_Static_assert(URING_BUF_SIZE <= UINT32_MAX, "buffer length fits the buffer ring entry");

struct send_slot {
	struct msghdr msg;
	struct iovec iov;
	struct sockaddr_in6 name; /* destination, also holds a sockaddr_in */
	uint32_t fam; /* COUNTERS_FAM_* of the destination */
	uint8_t buf[UDPT_REPLY_MAX];
} __attribute__((aligned(64)));

/* What a batch item holds until it is answered. */
struct batch_ref {
	uint32_t slot; /* send slot taken for the reply, URING_NO_SLOT if none was free */
	uint16_t bid; /* receive buffer holding the datagram */
	uint8_t sock; /* socket (fixed file index) it came from */
};
#define URING_NO_SLOT UINT32_MAX

struct uring_sock {
	struct msghdr tmpl; /* recvmsg layout template: name room, no control data */
	unsigned fam; /* COUNTERS_FAM_* of the socket, for rx_nobufs */
	unsigned fails; /* consecutive terminations without data */
	bool armed;
};

struct uring {
	struct io_uring ring;
	bool ring_ok;
	bool bufring_ok;
	const char *mode;
	unsigned nsocks;
	struct uring_sock socks[WORKER_MAX_SOCKETS];

	struct io_uring_buf_ring *br; /* provided-buffer ring (descriptors) */
	size_t br_len;
	uint8_t *bufs; /* nbufs * URING_BUF_SIZE */
	size_t bufs_len;
	unsigned nbufs;
	int bmask;
	int recycled; /* buffers added since the tail was last published */

	struct send_slot *slots;
	size_t slots_len;
	unsigned nslots;
	uint32_t *freelist; /* stack of free slot indices */
	unsigned nfree;

	/* Datagrams received in this reap, answered together (worker_handle_batch). */
	struct worker_item items[WORKER_BATCH_MAX];
	struct batch_ref refs[WORKER_BATCH_MAX];
	unsigned nitems;

	bool send_addr; /* IORING_OP_SEND with a destination, else SENDMSG */
	int fatal; /* first unrecoverable error seen while reaping */
	/* Replies of batch items that found no free send slot (then dropped). */
	uint8_t scratch[WORKER_BATCH_MAX][UDPT_REPLY_MAX] __attribute__((aligned(64)));
};

static void *map_anon(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static unsigned pow2_clamp(unsigned v, unsigned lo, unsigned hi)
{
	unsigned p = lo;

	while (p < v && p < hi)
		p <<= 1;
	return p;
}

static int ring_init(struct uring *u, unsigned entries)
{
	static const struct {
		unsigned flags;
		const char *mode;
	} tries[] = {
		{ IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL,
		  "defer_taskrun" },
		{ IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL, "coop_taskrun" },
		{ 0, "plain" },
	};
	int r = -EINVAL;

	for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
		struct io_uring_params prm;

		memset(&prm, 0, sizeof(prm));
		prm.flags = tries[i].flags | IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
		prm.cq_entries = entries * 4;
		r = io_uring_queue_init_params(entries, &u->ring, &prm);
		if (r == 0) {
			u->mode = tries[i].mode;
			if (!(prm.features & IORING_FEAT_NODROP) ||
			    !(prm.features & IORING_FEAT_EXT_ARG)) {
				/* Older than 5.11: no multishot recvmsg either. */
				io_uring_queue_exit(&u->ring);
				return -EOPNOTSUPP;
			}
			return 0;
		}
		if (r != -EINVAL)
			return r;
	}
	return r;
}

/* Multishot recvmsg (Linux 6.0) cannot be probed; IORING_OP_SEND_ZC came with it. */
static int check_ops(struct uring *u)
{
	struct io_uring_probe *pr = io_uring_get_probe_ring(&u->ring);
	int r = 0;

	if (!pr)
		return -EOPNOTSUPP;
	if (!io_uring_opcode_supported(pr, IORING_OP_RECVMSG) ||
	    !io_uring_opcode_supported(pr, IORING_OP_SENDMSG) ||
	    !io_uring_opcode_supported(pr, IORING_OP_ASYNC_CANCEL) ||
	    !io_uring_opcode_supported(pr, IORING_OP_SEND_ZC))
		r = -EOPNOTSUPP;
	io_uring_free_probe(pr);
	return r;
}

static int bufring_init(struct uring *u)
{
	struct io_uring_buf_reg reg;
	int r;

	u->br_len = (size_t)u->nbufs * sizeof(struct io_uring_buf);
	u->br = map_anon(u->br_len);
	if (!u->br)
		return -ENOMEM;
	u->bufs_len = (size_t)u->nbufs * URING_BUF_SIZE;
	u->bufs = map_anon(u->bufs_len);
	if (!u->bufs)
		return -ENOMEM;

	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (uint64_t)(uintptr_t)u->br;
	reg.ring_entries = u->nbufs;
	reg.bgid = URING_BGID;
	r = io_uring_register_buf_ring(&u->ring, &reg, 0);
	if (r < 0)
		return r;
	u->bufring_ok = true;

	io_uring_buf_ring_init(u->br);
	u->bmask = io_uring_buf_ring_mask(u->nbufs);
	for (unsigned i = 0; i < u->nbufs; i++)
		io_uring_buf_ring_add(u->br, u->bufs + (size_t)i * URING_BUF_SIZE, URING_BUF_SIZE,
				      (unsigned short)i, u->bmask, (int)i);
	io_uring_buf_ring_advance(u->br, (int)u->nbufs);
	return 0;
}

static int slots_init(struct uring *u)
{
	uint8_t *mem;

	u->slots_len = (size_t)u->nslots * (sizeof(struct send_slot) + sizeof(uint32_t));
	mem = map_anon(u->slots_len);
	if (!mem)
		return -ENOMEM;
	u->slots = (struct send_slot *)(void *)mem;
	u->freelist = (uint32_t *)(void *)(mem + (size_t)u->nslots * sizeof(struct send_slot));
	for (unsigned i = 0; i < u->nslots; i++) {
		struct send_slot *s = &u->slots[i];

		s->iov.iov_base = s->buf;
		s->iov.iov_len = 0;
		s->msg.msg_name = &s->name;
		s->msg.msg_namelen = sizeof(s->name);
		s->msg.msg_iov = &s->iov;
		s->msg.msg_iovlen = 1;
		u->freelist[i] = u->nslots - 1 - i;
	}
	u->nfree = u->nslots;
	return 0;
}

int uring_open(const struct worker_params *p, struct uring **ret_u)
{
	struct uring *u;
	unsigned entries;
	int r;

	if (p->nfds == 0 || p->nfds > WORKER_MAX_SOCKETS)
		return -EINVAL;
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->fatal = 0;
	entries = pow2_clamp(p->conf->ring_entries, URING_ENTRIES_MIN, URING_ENTRIES_MAX);

	r = ring_init(u, entries);
	if (r < 0)
		goto fail;
	u->ring_ok = true;
	r = check_ops(u);
	if (r < 0)
		goto fail;

	r = io_uring_register_files(&u->ring, p->fds, p->nfds);
	if (r < 0)
		goto fail;
	/* Saves an fget per io_uring_enter; optional. */
	(void)io_uring_register_ring_fd(&u->ring);

	u->nsocks = p->nfds;
	for (unsigned i = 0; i < u->nsocks; i++) {
		struct uring_sock *s = &u->socks[i];
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);

		s->tmpl.msg_namelen = sizeof(struct sockaddr_in6);
		s->tmpl.msg_controllen = 0;
		s->fam = COUNTERS_FAM_IPV4;
		if (getsockname(p->fds[i], (struct sockaddr *)&ss, &sl) == 0 &&
		    ss.ss_family == AF_INET6)
			s->fam = COUNTERS_FAM_IPV6;
	}

	u->nbufs = entries;
	r = bufring_init(u);
	if (r < 0)
		goto fail;
	u->nslots = entries;
	u->send_addr = true;
	r = slots_init(u);
	if (r < 0)
		goto fail;

	*ret_u = u;
	return 0;
fail:
	uring_close(u);
	return r;
}

const char *uring_mode(const struct uring *u)
{
	return u->mode;
}

void uring_close(struct uring *u)
{
	if (!u)
		return;
	if (u->bufring_ok)
		io_uring_unregister_buf_ring(&u->ring, URING_BGID);
	if (u->ring_ok)
		io_uring_queue_exit(&u->ring);
	if (u->slots)
		munmap(u->slots, u->slots_len);
	if (u->bufs)
		munmap(u->bufs, u->bufs_len);
	if (u->br)
		munmap(u->br, u->br_len);
	free(u);
}

/* An SQE, submitting what is queued first when the SQ is full. */
static struct io_uring_sqe *get_sqe(struct uring *u)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);

	if (!sqe) {
		io_uring_submit(&u->ring);
		sqe = io_uring_get_sqe(&u->ring);
	}
	return sqe;
}

static void arm_recv(struct uring *u, unsigned i)
{
	struct io_uring_sqe *sqe = get_sqe(u);

	if (!sqe)
		return; /* retried after the next enter */
	io_uring_prep_recvmsg_multishot(sqe, (int)i, &u->socks[i].tmpl, 0);
	sqe->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
	sqe->buf_group = URING_BGID;
	io_uring_sqe_set_data64(sqe, (URING_UD_RECV << URING_UD_SHIFT) | i);
	u->socks[i].armed = true;
}

static void cancel_recv(struct uring *u, unsigned i)
{
	struct io_uring_sqe *sqe = get_sqe(u);

	if (!sqe)
		return;
	io_uring_prep_cancel64(sqe, (URING_UD_RECV << URING_UD_SHIFT) | i, 0);
	io_uring_sqe_set_data64(sqe, URING_UD_CANCEL << URING_UD_SHIFT);
}

static void recycle(struct uring *u, unsigned bid)
{
	io_uring_buf_ring_add(u->br, u->bufs + (size_t)bid * URING_BUF_SIZE, URING_BUF_SIZE,
			      (unsigned short)bid, u->bmask, u->recycled++);
}

/* Queue the reply in slot idx (already taken from the free list). */
static void queue_send(struct uring *u, struct worker_ctx *w, unsigned sock, uint32_t idx,
		       const struct sockaddr *dst, socklen_t dstlen, size_t n)
{
	struct send_slot *s = &u->slots[idx];
	struct io_uring_sqe *sqe = get_sqe(u);

	s->fam = worker_family(dst);
	if (!sqe) {
		counters_add(w->ctr, s->fam, COUNTERS_drop_send_full, 1);
		u->freelist[u->nfree++] = idx;
		return;
	}
	memcpy(&s->name, dst, dstlen);
	s->msg.msg_namelen = dstlen;
	s->iov.iov_len = n;
	if (u->send_addr) {
		/* sendto() semantics: no msghdr/iovec to copy in per send (Linux 6.1). */
		io_uring_prep_send(sqe, (int)sock, s->buf, n, 0);
		sqe->addr2 = (uint64_t)(uintptr_t)&s->name;
		sqe->addr_len = (uint16_t)dstlen;
	} else {
		io_uring_prep_sendmsg(sqe, (int)sock, &s->msg, 0);
	}
	sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data64(sqe, (URING_UD_SEND << URING_UD_SHIFT) | idx);
}

/* Answer the queued datagrams, queue their replies, recycle their buffers. */
static void flush_batch(struct uring *u, struct worker_ctx *w)
{
	worker_handle_batch(w, u->items, u->nitems);
	for (unsigned i = 0; i < u->nitems; i++) {
		const struct worker_item *it = &u->items[i];
		const struct batch_ref *ref = &u->refs[i];

		if (ref->slot == URING_NO_SLOT) {
			/* The work is done (an announce is recorded), only the reply is lost. */
			if (it->reply_len)
				counters_add(w->ctr, worker_family(it->src),
					     COUNTERS_drop_send_full, 1);
		} else if (it->reply_len) {
			queue_send(u, w, ref->sock, ref->slot, it->src, it->srclen, it->reply_len);
		} else {
			u->freelist[u->nfree++] = ref->slot;
		}
		recycle(u, ref->bid);
	}
	u->nitems = 0;
}

/* Queue one received datagram for the batch; its buffer is held until then. */
static void enqueue(struct uring *u, struct worker_ctx *w, unsigned sock, unsigned bid,
		    const uint8_t *pkt, size_t len, const struct sockaddr *src, socklen_t srclen)
{
	struct worker_item *it = &u->items[u->nitems];
	struct batch_ref *ref = &u->refs[u->nitems];

	it->pkt = pkt;
	it->len = len;
	it->src = src;
	it->srclen = srclen;
	if (u->nfree) {
		ref->slot = u->freelist[--u->nfree];
		it->out = u->slots[ref->slot].buf;
	} else {
		ref->slot = URING_NO_SLOT;
		it->out = u->scratch[u->nitems];
	}
	it->cap = UDPT_REPLY_MAX;
	ref->bid = (uint16_t)bid;
	ref->sock = (uint8_t)sock;
	if (++u->nitems == WORKER_BATCH_MAX)
		flush_batch(u, w);
}

static void on_recv(struct uring *u, struct worker_ctx *w, unsigned i,
		    const struct io_uring_cqe *cqe)
{
	struct uring_sock *sk = &u->socks[i];
	struct io_uring_recvmsg_out *o;
	const struct sockaddr *src;
	unsigned bid;
	uint8_t *buf;

	if (!(cqe->flags & IORING_CQE_F_MORE))
		sk->armed = false;
	if (cqe->res < 0) {
		if (cqe->res == -ENOBUFS) {
			counters_add(w->ctr, sk->fam, COUNTERS_rx_nobufs, 1);
		} else if (cqe->res != -ECANCELED && cqe->res != -EINTR) {
			if (++sk->fails >= URING_RECV_FAIL_MAX && !u->fatal)
				u->fatal = cqe->res;
		}
		return;
	}
	if (!(cqe->flags & IORING_CQE_F_BUFFER))
		return;
	sk->fails = 0;
	bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
	if (bid >= u->nbufs)
		return;
	buf = u->bufs + (size_t)bid * URING_BUF_SIZE;
	o = io_uring_recvmsg_validate(buf, cqe->res, &sk->tmpl);
	if (o && o->namelen <= sizeof(struct sockaddr_in6)) {
		src = io_uring_recvmsg_name(o);
		if (o->flags & MSG_TRUNC) {
			unsigned fam = worker_family(src);

			counters_add(w->ctr, fam, COUNTERS_rx_packets, 1);
			counters_add(w->ctr, fam, COUNTERS_rx_bytes, o->payloadlen);
			counters_add(w->ctr, fam, COUNTERS_drop_truncated, 1);
		} else {
			enqueue(u, w, i, bid, io_uring_recvmsg_payload(o, &sk->tmpl),
				io_uring_recvmsg_payload_length(o, cqe->res, &sk->tmpl), src,
				(socklen_t)o->namelen);
			return; /* the buffer is recycled by flush_batch() */
		}
	}
	recycle(u, bid);
}

static void on_send(struct uring *u, struct worker_ctx *w, unsigned idx,
		    const struct io_uring_cqe *cqe)
{
	struct send_slot *s;

	if (idx >= u->nslots)
		return;
	s = &u->slots[idx];
	if (cqe->res >= 0) {
		worker_count_tx(w, s->fam, (size_t)cqe->res);
	} else {
		counters_add(w->ctr, s->fam, COUNTERS_send_errors, 1);
		if (cqe->res == -EINVAL && u->send_addr)
			u->send_addr = false; /* kernel 6.0: no address on IORING_OP_SEND */
	}
	u->freelist[u->nfree++] = idx;
}

/* Handle every completion that is ready; publish recycled buffers once. */
static unsigned reap(struct uring *u, struct worker_ctx *w)
{
	struct io_uring_cqe *cqe;
	unsigned head;
	unsigned seen = 0;

	io_uring_for_each_cqe(&u->ring, head, cqe)
	{
		uint64_t ud = cqe->user_data;
		uint64_t kind = ud >> URING_UD_SHIFT;

		seen++;
		if (kind == URING_UD_SEND)
			on_send(u, w, (unsigned)(ud & URING_UD_MASK), cqe);
		else if (kind == URING_UD_RECV && (ud & URING_UD_MASK) < u->nsocks)
			on_recv(u, w, (unsigned)(ud & URING_UD_MASK), cqe);
	}
	if (u->nitems)
		flush_batch(u, w);
	io_uring_cq_advance(&u->ring, seen);
	if (u->recycled) {
		io_uring_buf_ring_advance(u->br, u->recycled);
		u->recycled = 0;
	}
	return seen;
}

static bool wait_error_is_fatal(int r)
{
	return r < 0 && r != -ETIME && r != -EINTR && r != -EAGAIN && r != -EBUSY;
}

static int64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static bool any_armed(const struct uring *u)
{
	for (unsigned i = 0; i < u->nsocks; i++)
		if (u->socks[i].armed)
			return true;
	return false;
}

static void drain(struct uring *u, struct worker_ctx *w)
{
	int64_t deadline = mono_us() + URING_DRAIN_MS * 1000;

	for (unsigned i = 0; i < u->nsocks; i++)
		if (u->socks[i].armed)
			cancel_recv(u, i);
	while (any_armed(u) || u->nfree < u->nslots) {
		struct __kernel_timespec ts = { 0 };
		struct io_uring_cqe *cqe;
		int64_t left = deadline - mono_us();
		int r;

		if (left <= 0)
			break;
		if (left > 100000)
			left = 100000;
		ts.tv_nsec = (long long)left * 1000;
		r = io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1, &ts, NULL);
		if (wait_error_is_fatal(r))
			break;
		reap(u, w);
	}
	worker_tick(w);
}

int uring_run(struct uring *u, struct worker_ctx *w, volatile sig_atomic_t *stop)
{
	int r = 0;

	for (unsigned i = 0; i < u->nsocks; i++)
		arm_recv(u, i);
	worker_tick(w);

	while (!*stop) {
		struct __kernel_timespec ts = { .tv_sec = 1, .tv_nsec = 0 };
		struct io_uring_cqe *cqe;

		r = io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1, &ts, NULL);
		if (wait_error_is_fatal(r))
			break;
		r = 0;
		reap(u, w);
		if (u->fatal) {
			r = u->fatal;
			break;
		}
		if (!*stop)
			for (unsigned i = 0; i < u->nsocks; i++)
				if (!u->socks[i].armed)
					arm_recv(u, i);
		worker_tick(w);
	}
	drain(u, w);
	return r;
}
