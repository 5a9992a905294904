/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * daemon/worker.c - the socket worker: answer one datagram, pick a backend.
 *
 * worker_handle() is the whole per-datagram path shared by both I/O
 * backends: canonicalise the source, parse, verify the connection id, do the
 * table operation and write the reply into the caller's buffer. It makes no
 * system call, allocates nothing and never logs; everything it sees becomes
 * a counter in the worker's block. worker_run() is the child's entry point:
 * it sets up the counter block, picks io_uring (daemon/uring.c) or
 * recvmmsg/sendmmsg (daemon/mmsgio.c) and logs only at setup and teardown.
 *
 * Design notes:
 *
 * - The source address is the peer. An IPv4-mapped IPv6 source is reduced
 *   to IPv4 before anything else looks at it, so a dual-stack client is one
 *   peer, one connection id and one counter family whatever socket it used,
 *   and its replies carry 6-byte entries (the datagram leaves as IPv4, so
 *   the IPv4 MTU bound applies).
 *
 * - Amplification: a source that has not proven it receives our replies
 *   (a valid connection id) never gets more bytes than it sent. Connect
 *   replies are 16 bytes for 16; forged, expired and future ids are dropped
 *   without an error reply; the codec's UDPT_ERR_* statuses are answered
 *   only after the id verifies.
 *
 * - The peers of an announce reply are written by the store straight into
 *   the reply buffer after the 20-byte header, so there is no copy and no
 *   scratch peer array. A scrape uses one stack array of
 *   UDPT_SCRAPE_MAX_LIMIT counts.
 *
 * - Batches: both backends hand what one wake-up brought (up to
 *   WORKER_BATCH_MAX datagrams) to worker_handle_batch(). Each datagram goes
 *   through the same front half as worker_handle() (source, parse, id,
 *   connect, scrape, error replies); the authenticated announces are then
 *   given to torrents_announce_many() together, which prefetches their table
 *   slots and peer blocks before taking any lock. On a table larger than the
 *   cache that turns three dependent memory misses per announce into
 *   overlapped ones. Announces of a batch are applied in arrival order; a
 *   scrape in the same batch sees the table as it was before them, which is
 *   indistinguishable from the scrape having arrived a moment earlier.
 *
 * - Transmit counters (tx_packets, tx_bytes, send_errors, drop_send_full)
 *   belong to the backends, which know whether the kernel took the reply;
 *   worker_count_tx() is their helper.
 *
 * - w->now is refreshed by the loops through worker_tick() once per loop
 *   iteration (a batch of datagrams), never per packet.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon/connid.h"
#include "daemon/log.h"
#include "daemon/mmsgio.h"
#include "daemon/sandbox.h"
#include "daemon/udpt.h"
#include "daemon/uring.h"
#include "daemon/worker.h"
#include "shm/acl.h"
#include "shm/bans.h"
#include "shm/counters.h"
#include "shm/ratelimit.h"
#include "shm/segment.h"
#include "shm/torrents.h"

_Static_assert(TORRENTS_EVENT_NONE == UDPT_EVENT_NONE &&
		       TORRENTS_EVENT_STOPPED == UDPT_EVENT_STOPPED &&
		       TORRENTS_EVENT_COMPLETED == UDPT_EVENT_COMPLETED &&
		       TORRENTS_EVENT_STARTED == UDPT_EVENT_STARTED,
	       "store and codec share the BEP 15 event values");
_Static_assert(UDPT_REPLY_MAX >= UDPT_ANNOUNCE_HDR_LEN + UDPT_PEERS_MAX4 * UDPT_PEER4_LEN,
	       "an announce reply of the most IPv4 peers fits the reply buffer");
_Static_assert(UDPT_REPLY_MAX >=
		       UDPT_SCRAPE_REPLY_HDR_LEN + UDPT_SCRAPE_MAX_LIMIT * UDPT_SCRAPE_ENTRY_LEN,
	       "a full scrape reply fits the reply buffer");

/* Error message for an info-hash the access list refuses (clients show it). */
#define WORKER_ACCESS_REFUSED "info-hash not allowed by this tracker"

/* The source of a datagram, canonicalised. */
struct worker_src {
	uint8_t addr[16]; /* network order; IPv4 in the first 4 bytes */
	size_t alen; /* 4 or 16 */
	unsigned fam; /* COUNTERS_FAM_* */
	uint16_t port; /* source port, host order */
	bool exempt; /* in limits_exempt: no rate limit, no source cap */
};

static bool canon_src(const struct sockaddr *sa, socklen_t len, struct worker_src *s)
{
	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;

		memcpy(s->addr, &in->sin_addr, 4);
		s->alen = 4;
		s->fam = COUNTERS_FAM_IPV4;
		s->port = ntohs(in->sin_port);
		return true;
	}
	if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;

		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
			memcpy(s->addr, in6->sin6_addr.s6_addr + 12, 4);
			s->alen = 4;
			s->fam = COUNTERS_FAM_IPV4;
		} else {
			memcpy(s->addr, &in6->sin6_addr, 16);
			s->alen = 16;
			s->fam = COUNTERS_FAM_IPV6;
		}
		s->port = ntohs(in6->sin6_port);
		return true;
	}
	return false;
}

unsigned worker_family(const struct sockaddr *sa)
{
	const struct sockaddr_in6 *in6;

	if (sa->sa_family != AF_INET6)
		return COUNTERS_FAM_IPV4;
	in6 = (const struct sockaddr_in6 *)(const void *)sa;
	return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) ? COUNTERS_FAM_IPV4 : COUNTERS_FAM_IPV6;
}

void worker_tick(struct worker_ctx *w)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_BOOTTIME, &ts) < 0)
		clock_gettime(CLOCK_MONOTONIC, &ts);
	w->now = (uint32_t)ts.tv_sec;
	w->now_ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
	__atomic_store_n(&w->ctr->heartbeat, w->ctr->heartbeat + 1, __ATOMIC_RELAXED);
}

void worker_count_tx(struct worker_ctx *w, unsigned fam, size_t bytes)
{
	counters_add(w->ctr, fam, COUNTERS_tx_packets, 1);
	counters_add(w->ctr, fam, COUNTERS_tx_bytes, bytes);
}

void worker_ctx_init(struct worker_ctx *w, const struct conf *c, struct segment *seg, unsigned slot)
{
	w->conf = c;
	w->table = segment_torrents(seg);
	w->ctr = segment_counters(seg, slot);
	w->connid_key = segment_connid_key(seg);
	w->acl = segment_acl(seg);
	w->bans = segment_bans(seg);
	w->rl = segment_ratelimit(seg);
	ratelimit_configure_from(w->rl, c->ratelimit_requests_per_second, c->ratelimit_burst,
				 c->source_ipv4_prefix, c->source_ipv6_prefix, c->limits_exempt);
	worker_tick(w);
}

static size_t reply_error(struct worker_ctx *w, unsigned fam, uint32_t txid, const char *msg,
			  uint8_t *out, size_t cap)
{
	size_t n = udpt_write_error(out, cap, txid, msg);

	if (n)
		counters_add(w->ctr, fam, COUNTERS_error_replies, 1);
	return n;
}

/* What finishing an announce needs besides the store's result. */
struct pending {
	uint32_t txid;
	unsigned fam; /* COUNTERS_FAM_* */
	unsigned numwant; /* as passed to the store */
	size_t entry; /* bytes per peer entry: 6 or 18 */
};

static bool prepare_announce(struct worker_ctx *w, const struct worker_src *s,
			     const struct udpt_request *req, size_t cap,
			     struct torrents_announce *a, struct pending *pa)
{
	const struct udpt_announce *an = &req->announce;
	const bool ipv6 = s->fam == COUNTERS_FAM_IPV6;
	unsigned numwant;
	size_t room;

	if (cap < UDPT_ANNOUNCE_HDR_LEN)
		return false;
	pa->txid = req->txid;
	pa->fam = s->fam;
	pa->entry = ipv6 ? UDPT_PEER6_LEN : UDPT_PEER4_LEN;
	numwant = udpt_numwant(an->numwant, w->conf->numwant_default, w->conf->numwant_max, ipv6);
	room = (cap - UDPT_ANNOUNCE_HDR_LEN) / pa->entry;
	if (numwant > room)
		numwant = (unsigned)room;

	a->info_hash = an->info_hash;
	memcpy(a->peer.addr, s->addr, s->alen);
	if (s->alen < sizeof(a->peer.addr))
		memset(a->peer.addr + s->alen, 0, sizeof(a->peer.addr) - s->alen);
	a->peer.port = an->port;
	a->peer.ipv6 = ipv6;
	a->event = an->event;
	a->seeding = an->left == 0;
	a->numwant = numwant;
	pa->numwant = numwant;
	a->now = w->now;
	a->source_max = s->exempt ? 0 : (uint16_t)w->conf->max_peers_per_source;
	a->source_bits =
		(uint8_t)(ipv6 ? w->conf->source_ipv6_prefix : w->conf->source_ipv4_prefix);
	return true;
}

/* The peers are already at out + 20; write the header and count. */
static size_t finish_announce(struct worker_ctx *w, const struct pending *pa,
			      struct torrents_result *res, uint8_t *out, size_t cap)
{
	if (res->refused == TORRENTS_REFUSED_TABLE)
		counters_add(w->ctr, pa->fam, COUNTERS_refused_table_full, 1);
	else if (res->refused == TORRENTS_REFUSED_ARENA)
		counters_add(w->ctr, pa->fam, COUNTERS_refused_arena_full, 1);
	else if (res->refused == TORRENTS_REFUSED_SOURCE)
		counters_add(w->ctr, pa->fam, COUNTERS_refused_source_cap, 1);
	if (res->npeers > pa->numwant) /* never trust a count past what we asked for */
		res->npeers = pa->numwant;

	udpt_write_announce_header(out, cap, pa->txid, w->conf->announce_interval, res->leechers,
				   res->seeders);
	counters_add(w->ctr, pa->fam, COUNTERS_announce, 1);
	counters_add(w->ctr, pa->fam, COUNTERS_announce_peers, res->npeers);
	return UDPT_ANNOUNCE_HDR_LEN + res->npeers * pa->entry;
}

static size_t do_scrape(struct worker_ctx *w, const struct worker_src *s,
			const struct udpt_request *req, uint8_t *out, size_t cap)
{
	struct torrents_counts counts[UDPT_SCRAPE_MAX_LIMIT];
	bool refused[UDPT_SCRAPE_MAX_LIMIT];
	unsigned n = req->scrape.count, nref = 0;
	size_t len;

	if (n > UDPT_SCRAPE_MAX_LIMIT)
		n = UDPT_SCRAPE_MAX_LIMIT;
	if (cap < udpt_scrape_reply_len(n))
		return 0;
	/* Refused hashes answer zeros; a scrape refused for all of them, an error. */
	for (unsigned i = 0; i < n; i++) {
		refused[i] = !acl_permits(w->acl, req->scrape.hashes + i * UDPT_HASH_LEN);
		nref += refused[i];
	}
	if (nref) {
		counters_add(w->ctr, s->fam, COUNTERS_access_refused_hashes, nref);
		if (nref == n) {
			counters_add(w->ctr, s->fam, COUNTERS_err_access_scrape, 1);
			return reply_error(w, s->fam, req->txid, WORKER_ACCESS_REFUSED, out, cap);
		}
	}
	torrents_scrape(w->table, req->scrape.hashes, n, counts);
	for (unsigned i = 0; i < n && nref; i++)
		if (refused[i])
			counts[i] = (struct torrents_counts){ 0 };
	len = udpt_write_scrape_header(out, cap, req->txid);
	for (unsigned i = 0; i < n; i++)
		len += udpt_write_scrape_entry(out, cap, i, counts[i].seeders, counts[i].completed,
					       counts[i].leechers);
	counters_add(w->ctr, s->fam, COUNTERS_scrape, 1);
	counters_add(w->ctr, s->fam, COUNTERS_scrape_hashes, n);
	return len;
}

static const enum counters_id status_counter[UDPT_STATUS__MAX] = {
	[UDPT_DROP_SHORT] = COUNTERS_drop_short,
	[UDPT_DROP_ACTION] = COUNTERS_drop_action,
	[UDPT_DROP_MAGIC] = COUNTERS_drop_magic,
	[UDPT_DROP_ANNOUNCE_SHORT] = COUNTERS_drop_announce_short,
	[UDPT_ERR_PORT_ZERO] = COUNTERS_err_port_zero,
	[UDPT_ERR_NO_HASHES] = COUNTERS_err_no_hashes,
};

static const enum counters_id verdict_counter[] = {
	[CONNID_FORGED] = COUNTERS_drop_connid_forged,
	[CONNID_EXPIRED] = COUNTERS_drop_connid_expired,
	[CONNID_FUTURE] = COUNTERS_drop_connid_future,
};

/*
 * Everything up to the store. Returns the reply length (0: no reply), or
 * WORKER_PENDING with *pa filled when an authenticated announce waits for
 * the store; its peers go to out + UDPT_ANNOUNCE_HDR_LEN.
 */
#define WORKER_PENDING ((size_t)-1)

static size_t handle_front(struct worker_ctx *w, const uint8_t *pkt, size_t len,
			   const struct sockaddr *src, socklen_t srclen, uint8_t *out, size_t cap,
			   struct torrents_announce *a, struct pending *pa)
{
	struct udpt_request req;
	enum udpt_status st;
	enum connid_verdict v;
	struct worker_src s;
	size_t n;

	if (!canon_src(src, srclen, &s))
		return 0;
	counters_add(w->ctr, s.fam, COUNTERS_rx_packets, 1);
	counters_add(w->ctr, s.fam, COUNTERS_rx_bytes, len);
	if (s.port == 0) {
		/* Nobody can receive a reply on port 0: likely spoofed. */
		counters_add(w->ctr, s.fam, COUNTERS_drop_src_port_zero, 1);
		return 0;
	}
	/* Abuse limits: banned and over-limit sources get nothing (shm/bans.h, ratelimit.h). */
	if (bans_is_banned(w->bans, s.addr, s.alen)) {
		counters_add(w->ctr, s.fam, COUNTERS_drop_banned, 1);
		return 0;
	}
	s.exempt = ratelimit_is_exempt(w->rl, s.addr, s.alen);
	if (!s.exempt && !ratelimit_allow(w->rl, s.addr, s.alen, w->now_ms)) {
		counters_add(w->ctr, s.fam, COUNTERS_drop_ratelimited, 1);
		return 0;
	}

	st = udpt_parse(pkt, len, w->conf->scrape_max, &req);
	if ((unsigned)st >= UDPT_STATUS__MAX)
		return 0;
	if (st != UDPT_OK && udpt_status_is_drop(st)) {
		counters_add(w->ctr, s.fam, status_counter[st], 1);
		return 0;
	}

	if (req.action == UDPT_ACTION_CONNECT) {
		if (st != UDPT_OK)
			return 0;
		n = udpt_write_connect(out, cap, req.txid,
				       connid_make(w->connid_key, w->now, s.addr, s.alen));
		if (n)
			counters_add(w->ctr, s.fam, COUNTERS_connect, 1);
		return n;
	}

	v = connid_check(w->connid_key, req.connection_id, w->now, w->conf->connid_max_age, s.addr,
			 s.alen);
	if (v != CONNID_VALID) {
		if ((unsigned)v < sizeof(verdict_counter) / sizeof(verdict_counter[0]))
			counters_add(w->ctr, s.fam, verdict_counter[v], 1);
		return 0;
	}

	if (st != UDPT_OK) {
		counters_add(w->ctr, s.fam, status_counter[st], 1);
		return reply_error(w, s.fam, req.txid, udpt_status_message(st), out, cap);
	}
	if (req.action == UDPT_ACTION_ANNOUNCE) {
		if (!acl_permits(w->acl, req.announce.info_hash)) {
			counters_add(w->ctr, s.fam, COUNTERS_err_access_announce, 1);
			return reply_error(w, s.fam, req.txid, WORKER_ACCESS_REFUSED, out, cap);
		}
		return prepare_announce(w, &s, &req, cap, a, pa) ? WORKER_PENDING : 0;
	}
	if (req.action == UDPT_ACTION_SCRAPE)
		return do_scrape(w, &s, &req, out, cap);
	return 0;
}

size_t worker_handle(struct worker_ctx *w, const uint8_t *pkt, size_t len,
		     const struct sockaddr *src, socklen_t srclen, uint8_t *out, size_t cap)
{
	struct torrents_announce a;
	struct torrents_result res;
	struct pending pa;
	size_t n;

	n = handle_front(w, pkt, len, src, srclen, out, cap, &a, &pa);
	if (n != WORKER_PENDING)
		return n;
	if (torrents_announce(w->table, &a, out + UDPT_ANNOUNCE_HDR_LEN, &res) < 0)
		return reply_error(w, pa.fam, pa.txid, "internal error", out, cap);
	return finish_announce(w, &pa, &res, out, cap);
}

static void handle_chunk(struct worker_ctx *w, struct worker_item *items, unsigned n)
{
	struct torrents_announce a[WORKER_BATCH_MAX];
	struct torrents_result res[WORKER_BATCH_MAX];
	uint8_t *peers_out[WORKER_BATCH_MAX];
	struct pending pa[WORKER_BATCH_MAX];
	uint8_t which[WORKER_BATCH_MAX];
	unsigned np = 0;

	/* Announces and scrapes carry an info-hash at 16: start its access-list lookup. */
	for (unsigned i = 0; i < n; i++)
		if (items[i].len >= 16 + UDPT_HASH_LEN)
			acl_prefetch(w->acl, items[i].pkt + 16);
	/* The sources' rate-limit buckets (shm/ratelimit.c), loaded together too. */
	for (unsigned i = 0; i < n; i++) {
		struct worker_src s;

		if (canon_src(items[i].src, items[i].srclen, &s))
			ratelimit_prefetch(w->rl, s.addr, s.alen);
	}
	for (unsigned i = 0; i < n; i++) {
		struct worker_item *it = &items[i];

		it->reply_len = handle_front(w, it->pkt, it->len, it->src, it->srclen, it->out,
					     it->cap, &a[np], &pa[np]);
		if (it->reply_len != WORKER_PENDING)
			continue;
		it->reply_len = 0;
		peers_out[np] = it->out + UDPT_ANNOUNCE_HDR_LEN;
		which[np++] = (uint8_t)i;
	}
	if (!np)
		return;
	/*
	 * A bug-class store error (-errno) leaves that announce's result
	 * zeroed: it is answered as an empty swarm.
	 */
	(void)torrents_announce_many(w->table, a, np, peers_out, res);
	for (unsigned k = 0; k < np; k++) {
		struct worker_item *it = &items[which[k]];

		it->reply_len = finish_announce(w, &pa[k], &res[k], it->out, it->cap);
	}
}

void worker_handle_batch(struct worker_ctx *w, struct worker_item *items, unsigned n)
{
	for (unsigned i = 0; i < n; i += WORKER_BATCH_MAX)
		handle_chunk(w, items + i, n - i < WORKER_BATCH_MAX ? n - i : WORKER_BATCH_MAX);
}

/* Setup errors after which io_uring is simply not available here. */
static const char *uring_unavailable_reason(int err)
{
	switch (err) {
	case -ENOSYS:
		return "not supported by this kernel";
	case -EPERM:
		return "not permitted (seccomp or kernel.io_uring_disabled)";
	case -ENOMEM:
		return "cannot lock memory for the ring (RLIMIT_MEMLOCK)";
	case -EINVAL:
		return "a required feature is missing";
	default:
		return "setup failed";
	}
}

/* Once set up: the seccomp filter (daemon/sandbox.c), and its test hook. */
static int lockdown(const struct conf *c)
{
	bool armed;
	int r;

	if (!c->seccomp)
		return 0;
	if (sandbox_under_valgrind()) {
		log_msg(LOG_WARNING, "running under valgrind: no seccomp filter");
		return 0;
	}
	armed = sandbox_test_hook_armed();
	r = sandbox_worker();
	if (r < 0)
		return log_errno(LOG_ERR, r,
				 "cannot install the seccomp filter (seccomp = no turns it off)");
	if (armed)
		sandbox_test_violation();
	return 0;
}

int worker_run(const struct worker_params *p)
{
	const struct conf *c = p->conf;
	struct worker_ctx w;
	struct uring *u = NULL;
	struct mmsgio *m = NULL;
	int r;

	if (p->nfds == 0 || p->nfds > WORKER_MAX_SOCKETS) {
		log_msg(LOG_ERR, "worker: %u sockets given, need 1..%d", p->nfds,
			WORKER_MAX_SOCKETS);
		return 1;
	}
	worker_ctx_init(&w, c, p->seg, p->slot);
	w.ctr->pid = (uint32_t)getpid();
	w.ctr->cpu = p->cpu;
	w.ctr->generation = p->generation;
	w.ctr->started = w.now;
	w.ctr->backend = 0;

	if (c->io_backend != CONF_BACKEND_MMSG) {
		r = uring_open(p, &u);
		if (r < 0) {
			if (c->io_backend == CONF_BACKEND_IO_URING) {
				log_errno(LOG_ERR, r,
					  "io_backend=io_uring but io_uring cannot be set up (%s)",
					  uring_unavailable_reason(r));
				return 1;
			}
			log_errno(LOG_WARNING, r,
				  "io_uring unavailable (%s), using recvmmsg/sendmmsg instead",
				  uring_unavailable_reason(r));
			u = NULL;
		}
	}

	if (u) {
		__atomic_store_n(&w.ctr->backend, 1, __ATOMIC_RELAXED);
		log_msg(LOG_INFO, "serving %u socket(s) with io_uring (%s)", p->nfds,
			uring_mode(u));
		r = lockdown(c);
		if (!r)
			r = uring_run(u, &w, p->stop);
		uring_close(u);
	} else {
		r = mmsgio_open(p, &m);
		if (r < 0) {
			log_errno(LOG_ERR, r, "cannot set up the recvmmsg/sendmmsg loop");
			return 1;
		}
		__atomic_store_n(&w.ctr->backend, 2, __ATOMIC_RELAXED);
		log_msg(LOG_INFO, "serving %u socket(s) with recvmmsg/sendmmsg", p->nfds);
		r = lockdown(c);
		if (!r)
			r = mmsgio_run(m, &w, p->stop);
		mmsgio_close(m);
	}
	if (r < 0) {
		log_errno(LOG_ERR, r, "worker loop failed");
		return 1;
	}
	return 0;
}
