/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/tools/trackerbench.c - load generator and reply checker for BEP 15 trackers.
 *
 * Drives a UDP tracker (trackerd or any other) with a configurable mix of
 * connect, announce and scrape requests from simulated peers, checks every
 * reply, and reports responses per second by type, lost, invalid and late
 * replies and latency percentiles. Operators size a machine with it; the
 * man page is trackerbench(1). It refuses every target that is not loopback
 * unless --allow-remote is given, and every run is bounded in time.
 *
 * Design notes:
 *
 * - Workload. The torrents have Zipf-like popularity, p(i) ~ 1/(i+1)^s. Each
 *   simulated peer is bound once, at setup, to one torrent drawn by
 *   popularity, to one socket, to a port, and to a peer id made from its
 *   index and the seed. The tracker tells peers apart by source address and port, so
 *   ports count from 1024 upwards over all peers (64,512 of them before they
 *   repeat) while the sockets share one address; with --source each socket
 *   has an address of its own and the ports count over its own peers.
 *   A peer's first announce is "started", later ones "none"; seeders send
 *   left = 0. Scrapes carry 1..scrape_max hashes drawn by popularity. All of
 *   it derives from one seed, printed, so a run can be repeated.
 * - Threads own everything they touch: their share of the peers, their
 *   sockets (each connect()ed to the target), their window of request
 *   slots, batch buffers and statistics. Setup allocates; the loop does not.
 *   The only shared writes are the stop flag and the first error message.
 * - Matching. A request's transaction id is (generation << 16) | slot. A
 *   reply is checked against the slot it names: still in flight, same
 *   generation, same socket, else it is late (or a duplicate). The slot
 *   generation changes on every reuse, so a late reply never matches the
 *   slot's next request.
 * - Lost. A slot whose request is older than the timeout is freed and the
 *   request counted lost; the window is scanned at most once a millisecond.
 *   Requests still in flight when the run ends are not counted at all.
 * - Connection ids. A socket sends a connect before anything else and again
 *   when its id is older than --reconnect or an error reply arrived on it
 *   (the tracker may have rotated its key). Until a connect is answered the
 *   socket sends nothing else.
 * - Measurement. Counters run from the start; each thread copies its
 *   counters when the warm-up ends and the report is the difference, over
 *   the measured time. The latency histogram is log-linear: 16 buckets per
 *   power of two of microseconds, so a percentile is exact to 1/16.
 * - Counters that the main thread reads for --progress are written with
 *   relaxed atomic stores by their only writer: plain moves on x86, and no
 *   data race in the C11 sense.
 * - Bounds: alarm() ends the process 30 s after warm-up + duration +
 *   timeout whatever happens, and every option has a hard range.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "daemon/udpt.h"

#ifndef TRACKERD_VERSION
#define TRACKERD_VERSION "unknown"
#endif

#define TB_MAX_THREADS 64
#define TB_MAX_SOCKETS 64
#define TB_MAX_PEERS 10000000u
#define TB_MAX_TORRENTS 10000000u
#define TB_MAX_WINDOW 16384u /* slot index must fit 16 bits of the txid */
#define TB_MAX_BATCH 256u
#define TB_MAX_CPUS 256
#define TB_MAX_DURATION 3600u
#define TB_MAX_WARMUP 600u
#define TB_TX_LEN (UDPT_SCRAPE_HDR_LEN + UDPT_SCRAPE_MAX_LIMIT * UDPT_HASH_LEN)
#define TB_RX_LEN 2048 /* more than any legal reply; longer is truncated */
#define TB_PORT_BASE 1024u
#define TB_PORT_SPAN 64512u
#define TB_SCAN_NS 1000000ull /* expiry scan at most once a millisecond */
#define TB_CONNECT_TRIES 3
#define TB_RX_ROUNDS 4 /* receive batches per socket per loop */
#define NS 1000000000ull

/* Latency histogram: 16 exact buckets, then 16 per power of two up to 2^26 us. */
#define HIST_SUB_BITS 4
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_EMAX 26
#define HIST_N (HIST_SUB + (HIST_EMAX - HIST_SUB_BITS + 1) * HIST_SUB)

enum req_type { REQ_CONNECT = 0, REQ_ANNOUNCE = 1, REQ_SCRAPE = 2, REQ__MAX };

struct options {
	unsigned threads;
	unsigned sockets;
	uint32_t peers;
	uint32_t torrents;
	double zipf;
	double seeders;
	unsigned mix[REQ__MAX]; /* weights, indexed by enum req_type */
	int32_t numwant;
	unsigned scrape_max;
	unsigned window;
	unsigned batch;
	unsigned timeout_ms;
	unsigned warmup_s;
	unsigned duration_s;
	unsigned reconnect_s;
	int rcvbuf;
	uint64_t seed;
	bool spin;
	bool progress;
	bool strict;
	bool allow_remote;
	bool have_source;
	struct sockaddr_storage source; /* socket g binds to this address + g */
	unsigned ncpus;
	int cpus[TB_MAX_CPUS];
	/* The target. */
	char target_text[300];
	struct sockaddr_storage addr;
	socklen_t addrlen;
	bool peers6; /* announce replies carry 18-byte peers */
};

static struct options arg = {
	.threads = 1,
	.sockets = 1,
	.peers = 50000,
	.torrents = 10000,
	.zipf = 1.0,
	.seeders = 0.75,
	.mix = { [REQ_ANNOUNCE] = 75, [REQ_SCRAPE] = 20, [REQ_CONNECT] = 5 },
	.numwant = 30,
	.scrape_max = 5,
	.window = 128,
	.batch = 32,
	.timeout_ms = 500,
	.warmup_s = 3,
	.duration_s = 15,
	.reconnect_s = 60,
	.rcvbuf = 0,
	.spin = true,
};

struct peer {
	uint32_t torrent;
	uint16_t port;
	uint8_t seeder;
	uint8_t started;
};

/* Read-only after setup, shared by all threads. */
static uint8_t (*info_hash)[UDPT_HASH_LEN];
static double *popularity_cdf;
static struct peer *peer_table;

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t stop_signal; /* SIGINT or SIGTERM that ended the run */
static uint64_t t_start, t_measure, t_end;

static int first_error_taken;
static char first_error[UDPT_ERROR_MSG_MAX + 1];

struct stats {
	uint64_t requests[REQ__MAX];
	uint64_t responses[REQ__MAX];
	uint64_t errors;
	uint64_t invalid;
	uint64_t lost;
	uint64_t late;
	uint64_t sock_errors;
	uint64_t peers_returned;
	uint64_t hist[HIST_N];
};

struct slot {
	uint64_t sent_ns;
	uint16_t gen;
	uint8_t type;
	uint8_t sock;
	uint8_t nhash; /* scrape: hashes sent */
	uint8_t busy;
};

struct bsock {
	int fd;
	uint32_t peer_lo, peer_n; /* the peers that announce on this socket */
	uint8_t connid[8];
	bool have_id;
	bool connecting; /* a connect is in flight */
	uint64_t id_ns; /* when the id was received */
};

struct thread {
	unsigned idx;
	pthread_t tid;
	int cpu; /* -1: not pinned */
	uint64_t rng;
	uint32_t peer_lo, peer_n;
	unsigned nsock, next_sock;
	struct bsock sock[TB_MAX_SOCKETS];
	struct slot *slots;
	uint16_t *free_slots;
	unsigned nfree;
	uint8_t *txbuf;
	struct iovec *txiov;
	struct mmsghdr *txmsg;
	uint16_t *txslot;
	uint8_t *rxbuf;
	struct iovec *rxiov;
	struct mmsghdr *rxmsg;
	struct pollfd *pfd;
	uint64_t last_scan;
	bool measuring;
	struct stats base; /* copy taken when the warm-up ended */
	struct stats st __attribute__((aligned(64)));
};

static struct thread *threads;

/* --- small helpers ------------------------------------------------------ */

#define STAT_ADD(field, n) __atomic_store_n(&(field), (field) + (n), __ATOMIC_RELAXED)
#define STAT_READ(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

/* splitmix64: one 64-bit state, full period, good enough for a workload. */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double rng_unit(uint64_t *s)
{
	return (double)(rng_next(s) >> 11) * 0x1.0p-53;
}

static uint32_t rng_below(uint64_t *s, uint32_t n)
{
	return (uint32_t)(((rng_next(s) >> 32) * (uint64_t)n) >> 32);
}

static void put16(uint8_t *p, uint16_t v)
{
	v = htons(v);
	memcpy(p, &v, 2);
}

static void put32(uint8_t *p, uint32_t v)
{
	v = htonl(v);
	memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return ntohl(v);
}

static unsigned hist_index(uint64_t us)
{
	unsigned e;

	if (us < HIST_SUB)
		return (unsigned)us;
	e = 63 - (unsigned)__builtin_clzll(us);
	if (e > HIST_EMAX)
		return HIST_N - 1;
	return HIST_SUB + (e - HIST_SUB_BITS) * HIST_SUB +
	       (unsigned)((us >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1));
}

/* The largest value that falls into bucket i. */
static uint64_t hist_upper(unsigned i)
{
	unsigned e, sub;

	if (i < HIST_SUB)
		return i;
	e = (i - HIST_SUB) / HIST_SUB + HIST_SUB_BITS;
	sub = (i - HIST_SUB) % HIST_SUB;
	return (((uint64_t)(HIST_SUB + sub) + 1) << (e - HIST_SUB_BITS)) - 1;
}

static uint64_t hist_quantile(const uint64_t *h, uint64_t total, double q)
{
	uint64_t want, seen = 0;
	unsigned i;

	if (total == 0)
		return 0;
	want = (uint64_t)ceil(q * (double)total);
	if (want == 0)
		want = 1;
	for (i = 0; i < HIST_N; i++) {
		seen += h[i];
		if (seen >= want)
			return hist_upper(i);
	}
	return hist_upper(HIST_N - 1);
}

/* --- workload ----------------------------------------------------------- */

static uint32_t draw_torrent(uint64_t *rng)
{
	double u = rng_unit(rng);
	uint32_t lo = 0, hi = arg.torrents - 1;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (popularity_cdf[mid] > u)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

static int workload_setup(void)
{
	uint64_t rng = arg.seed ^ 0x7472616b62656e63ull;
	double total = 0;
	uint32_t i;

	info_hash = calloc(arg.torrents, sizeof(*info_hash));
	popularity_cdf = calloc(arg.torrents, sizeof(*popularity_cdf));
	peer_table = calloc(arg.peers, sizeof(*peer_table));
	if (!info_hash || !popularity_cdf || !peer_table)
		return -ENOMEM;
	for (i = 0; i < arg.torrents; i++) {
		uint64_t a = rng_next(&rng), b = rng_next(&rng), c = rng_next(&rng);

		memcpy(info_hash[i], &a, 8);
		memcpy(info_hash[i] + 8, &b, 8);
		memcpy(info_hash[i] + 16, &c, 4);
		total += pow((double)i + 1, -arg.zipf);
		popularity_cdf[i] = total;
	}
	for (i = 0; i < arg.torrents; i++)
		popularity_cdf[i] /= total;
	popularity_cdf[arg.torrents - 1] = 1.0;
	for (i = 0; i < arg.peers; i++) {
		peer_table[i].torrent = draw_torrent(&rng);
		peer_table[i].seeder = rng_unit(&rng) < arg.seeders;
	}
	return 0;
}

/* --- request encoding --------------------------------------------------- */

static size_t encode_connect(uint8_t *p, uint32_t txid)
{
	put64(p, UDPT_PROTOCOL_MAGIC);
	put32(p + 8, UDPT_ACTION_CONNECT);
	put32(p + 12, txid);
	return UDPT_CONNECT_LEN;
}

static size_t encode_announce(uint8_t *p, const struct bsock *s, uint32_t txid, uint32_t pi)
{
	struct peer *peer = &peer_table[pi];
	uint32_t event = peer->started ? UDPT_EVENT_NONE : UDPT_EVENT_STARTED;

	memcpy(p, s->connid, 8);
	put32(p + 8, UDPT_ACTION_ANNOUNCE);
	put32(p + 12, txid);
	memcpy(p + 16, info_hash[peer->torrent], UDPT_HASH_LEN);
	memcpy(p + 36, "-TB0001-", 8); /* peer id: prefix, index, seed */
	put32(p + 44, pi);
	put64(p + 48, arg.seed);
	put64(p + 56, 0); /* downloaded */
	put64(p + 64, peer->seeder ? 0 : 1000000); /* left */
	put64(p + 72, 0); /* uploaded */
	put32(p + 80, event);
	put32(p + 84, 0); /* ip: the source address counts */
	put32(p + 88, pi); /* key */
	put32(p + 92, (uint32_t)arg.numwant);
	put16(p + 96, peer->port);
	peer->started = 1;
	return UDPT_ANNOUNCE_LEN;
}

static size_t encode_scrape(uint8_t *p, struct thread *t, const struct bsock *s, uint32_t txid,
			    unsigned nhash)
{
	unsigned i;

	memcpy(p, s->connid, 8);
	put32(p + 8, UDPT_ACTION_SCRAPE);
	put32(p + 12, txid);
	for (i = 0; i < nhash; i++)
		memcpy(p + UDPT_SCRAPE_HDR_LEN + i * UDPT_HASH_LEN,
		       info_hash[draw_torrent(&t->rng)], UDPT_HASH_LEN);
	return UDPT_SCRAPE_HDR_LEN + nhash * UDPT_HASH_LEN;
}

/* --- the per-thread loop ------------------------------------------------ */

static unsigned slot_take(struct thread *t)
{
	return t->free_slots[--t->nfree];
}

static void slot_release(struct thread *t, unsigned i)
{
	struct slot *sl = &t->slots[i];

	if (sl->type == REQ_CONNECT)
		t->sock[sl->sock].connecting = false;
	sl->busy = 0;
	sl->gen++;
	t->free_slots[t->nfree++] = (uint16_t)i;
}

static enum req_type pick_type(struct thread *t)
{
	unsigned sum = arg.mix[0] + arg.mix[1] + arg.mix[2];
	unsigned r = rng_below(&t->rng, sum);

	if (r < arg.mix[REQ_ANNOUNCE])
		return REQ_ANNOUNCE;
	if (r < arg.mix[REQ_ANNOUNCE] + arg.mix[REQ_SCRAPE])
		return REQ_SCRAPE;
	return REQ_CONNECT;
}

static void expire(struct thread *t, uint64_t now)
{
	uint64_t limit = (uint64_t)arg.timeout_ms * 1000000ull;
	unsigned i;

	t->last_scan = now;
	for (i = 0; i < arg.window; i++) {
		struct slot *sl = &t->slots[i];

		if (sl->busy && now - sl->sent_ns > limit) {
			STAT_ADD(t->st.lost, 1);
			slot_release(t, i);
		}
	}
}

/* Fill one batch for the next socket and send it. Returns requests sent. */
static unsigned send_batch(struct thread *t, uint64_t now)
{
	unsigned si = t->next_sock, n = 0, i;
	struct bsock *s = &t->sock[si];
	uint64_t reconnect_ns = (uint64_t)arg.reconnect_s * NS;
	int ret;

	t->next_sock = (si + 1) % t->nsock;
	while (n < arg.batch && t->nfree > 0) {
		enum req_type type;
		unsigned k, nhash = 0;
		uint32_t txid, pi = 0;
		struct slot *sl;
		uint8_t *p = t->txbuf + (size_t)n * TB_TX_LEN;
		size_t len;

		if (!s->have_id && s->connecting)
			break; /* nothing but a connect until it is answered */
		if (!s->have_id || (now - s->id_ns > reconnect_ns && !s->connecting)) {
			type = REQ_CONNECT;
		} else {
			type = pick_type(t);
		}
		k = slot_take(t);
		sl = &t->slots[k];
		txid = ((uint32_t)sl->gen << 16) | k;
		switch (type) {
		case REQ_CONNECT:
			len = encode_connect(p, txid);
			s->connecting = true;
			break;
		case REQ_ANNOUNCE:
			pi = s->peer_lo + rng_below(&t->rng, s->peer_n);
			len = encode_announce(p, s, txid, pi);
			break;
		default:
			nhash = 1 + rng_below(&t->rng, arg.scrape_max);
			len = encode_scrape(p, t, s, txid, nhash);
			break;
		}
		sl->busy = 1;
		sl->type = (uint8_t)type;
		sl->sock = (uint8_t)si;
		sl->nhash = (uint8_t)nhash;
		sl->sent_ns = now;
		t->txiov[n].iov_len = len;
		t->txslot[n] = (uint16_t)k;
		n++;
	}
	if (n == 0)
		return 0;
	ret = sendmmsg(s->fd, t->txmsg, n, MSG_DONTWAIT);
	if (ret < 0) {
		STAT_ADD(t->st.sock_errors, 1);
		ret = 0;
	}
	for (i = 0; i < (unsigned)ret; i++)
		STAT_ADD(t->st.requests[t->slots[t->txslot[i]].type], 1);
	/* What the kernel did not take was never sent: free it uncounted. */
	for (i = (unsigned)ret; i < n; i++)
		slot_release(t, t->txslot[i]);
	return (unsigned)ret;
}

static void note_error_reply(const uint8_t *buf, size_t len)
{
	size_t n = len - UDPT_ERROR_HDR_LEN, i;

	if (__atomic_exchange_n(&first_error_taken, 1, __ATOMIC_ACQ_REL))
		return;
	if (n > UDPT_ERROR_MSG_MAX)
		n = UDPT_ERROR_MSG_MAX;
	for (i = 0; i < n; i++) {
		uint8_t c = buf[UDPT_ERROR_HDR_LEN + i];

		first_error[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	first_error[n] = '\0';
}

static bool announce_ok(struct thread *t, const uint8_t *buf, size_t len)
{
	size_t psize = arg.peers6 ? UDPT_PEER6_LEN : UDPT_PEER4_LEN;
	uint64_t n, max, leechers, seeders;

	if (len < UDPT_ANNOUNCE_HDR_LEN || (len - UDPT_ANNOUNCE_HDR_LEN) % psize != 0)
		return false;
	n = (len - UDPT_ANNOUNCE_HDR_LEN) / psize;
	if (arg.numwant > 0)
		max = (uint64_t)arg.numwant;
	else
		max = arg.peers6 ? UDPT_PEERS_MAX6 : UDPT_PEERS_MAX4;
	leechers = get32(buf + 12);
	seeders = get32(buf + 16);
	if (n > max || n > leechers + seeders)
		return false;
	STAT_ADD(t->st.peers_returned, n);
	return true;
}

static void check_reply(struct thread *t, unsigned si, const uint8_t *buf, size_t len, uint64_t now)
{
	uint32_t action, txid;
	unsigned k;
	struct slot *sl;
	bool ok;

	if (len < 8) {
		STAT_ADD(t->st.invalid, 1);
		return;
	}
	action = get32(buf);
	txid = get32(buf + 4);
	k = txid & 0xffff;
	if (k >= arg.window) {
		STAT_ADD(t->st.late, 1);
		return;
	}
	sl = &t->slots[k];
	if (!sl->busy || sl->gen != (txid >> 16) || sl->sock != si) {
		STAT_ADD(t->st.late, 1);
		return;
	}
	if (action == UDPT_ACTION_ERROR) {
		STAT_ADD(t->st.errors, 1);
		note_error_reply(buf, len);
		/* The id may be stale (key rotation): get a fresh one. */
		t->sock[si].id_ns = 0;
		if (sl->type == REQ_CONNECT)
			t->sock[si].have_id = false;
		slot_release(t, k);
		return;
	}
	ok = action == sl->type;
	if (ok) {
		switch (sl->type) {
		case REQ_CONNECT:
			ok = len == UDPT_CONNECT_LEN;
			if (ok) {
				memcpy(t->sock[si].connid, buf + 8, 8);
				t->sock[si].have_id = true;
				t->sock[si].id_ns = now;
			}
			break;
		case REQ_ANNOUNCE:
			ok = announce_ok(t, buf, len);
			break;
		default:
			ok = len ==
			     UDPT_SCRAPE_REPLY_HDR_LEN + (size_t)sl->nhash * UDPT_SCRAPE_ENTRY_LEN;
			break;
		}
	}
	if (ok) {
		STAT_ADD(t->st.responses[sl->type], 1);
		t->st.hist[hist_index((now - sl->sent_ns) / 1000)]++;
	} else {
		STAT_ADD(t->st.invalid, 1);
	}
	slot_release(t, k);
}

/*
 * Non-blocking receive batches on every socket, up to TB_RX_ROUNDS each while
 * they come back full. Returns replies read.
 */
static unsigned receive_all(struct thread *t)
{
	unsigned si, total = 0;

	for (si = 0; si < t->nsock; si++) {
		unsigned round;

		/* A full batch means more may be queued: a few more, then move on. */
		for (round = 0; round < TB_RX_ROUNDS; round++) {
			uint64_t now;
			int n, i;

			n = recvmmsg(t->sock[si].fd, t->rxmsg, arg.batch, MSG_DONTWAIT, NULL);
			if (n < 0) {
				if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
					STAT_ADD(t->st.sock_errors, 1);
				break;
			}
			now = now_ns();
			for (i = 0; i < n; i++) {
				const struct mmsghdr *m = &t->rxmsg[i];

				if (m->msg_hdr.msg_flags & MSG_TRUNC)
					STAT_ADD(t->st.invalid, 1);
				else
					check_reply(t, si, t->rxbuf + (size_t)i * TB_RX_LEN,
						    m->msg_len, now);
			}
			total += (unsigned)n;
			if ((unsigned)n < arg.batch)
				break;
		}
	}
	return total;
}

static void wait_readable(struct thread *t)
{
	struct timespec ts = { 0, (long)TB_SCAN_NS };

	ppoll(t->pfd, t->nsock, &ts, NULL);
}

static void *thread_main(void *p)
{
	struct thread *t = p;

	if (t->cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(t->cpu, &set);
		if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0)
			t->cpu = -2; /* reported by main */
	}
	while (!stop_requested) {
		uint64_t now = now_ns();
		unsigned sent, got;

		if (!t->measuring && now >= t_measure) {
			t->base = t->st;
			t->measuring = true;
		}
		if (now >= t_end)
			break;
		if (now - t->last_scan >= TB_SCAN_NS)
			expire(t, now);
		sent = send_batch(t, now);
		got = receive_all(t);
		if (sent == 0 && got == 0 && !arg.spin)
			wait_readable(t);
	}
	if (!t->measuring)
		t->base = t->st;
	return NULL;
}

/* --- setup -------------------------------------------------------------- */

/* The source address of socket g: --source plus g in its last 32 bits. */
static void source_address(unsigned g, struct sockaddr_storage *ret, socklen_t *ret_len)
{
	uint8_t *a;
	uint32_t v;

	*ret = arg.source;
	if (ret->ss_family == AF_INET) {
		a = (uint8_t *)&((struct sockaddr_in *)ret)->sin_addr;
		*ret_len = sizeof(struct sockaddr_in);
	} else {
		a = ((struct sockaddr_in6 *)ret)->sin6_addr.s6_addr + 12;
		*ret_len = sizeof(struct sockaddr_in6);
	}
	memcpy(&v, a, 4);
	v = htonl(ntohl(v) + g);
	memcpy(a, &v, 4);
}

/* A socket connected to the target; g >= 0 binds it to source address g. */
static int open_socket(int g)
{
	int fd = socket(arg.addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -errno;
	if (g >= 0 && arg.have_source) {
		struct sockaddr_storage src;
		socklen_t len;

		source_address((unsigned)g, &src, &len);
		if (bind(fd, (const struct sockaddr *)&src, len) < 0) {
			int err = -errno;

			close(fd);
			return err;
		}
	}
	if (arg.rcvbuf > 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &arg.rcvbuf, sizeof(arg.rcvbuf)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &arg.rcvbuf, sizeof(arg.rcvbuf));
	if (connect(fd, (const struct sockaddr *)&arg.addr, arg.addrlen) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int thread_setup(struct thread *t, unsigned idx)
{
	unsigned i, w = arg.window, b = arg.batch;
	uint32_t share = arg.peers / arg.threads;

	t->idx = idx;
	t->cpu = arg.ncpus ? arg.cpus[idx % arg.ncpus] : -1;
	t->rng = arg.seed + 0x100000001b3ull * (idx + 1);
	t->peer_lo = share * idx;
	t->peer_n = idx == arg.threads - 1 ? arg.peers - t->peer_lo : share;
	t->nsock = arg.sockets;
	t->slots = calloc(w, sizeof(*t->slots));
	t->free_slots = calloc(w, sizeof(*t->free_slots));
	t->txbuf = calloc(b, TB_TX_LEN);
	t->txiov = calloc(b, sizeof(*t->txiov));
	t->txmsg = calloc(b, sizeof(*t->txmsg));
	t->txslot = calloc(b, sizeof(*t->txslot));
	t->rxbuf = calloc(b, TB_RX_LEN);
	t->rxiov = calloc(b, sizeof(*t->rxiov));
	t->rxmsg = calloc(b, sizeof(*t->rxmsg));
	t->pfd = calloc(t->nsock, sizeof(*t->pfd));
	if (!t->slots || !t->free_slots || !t->txbuf || !t->txiov || !t->txmsg || !t->txslot ||
	    !t->rxbuf || !t->rxiov || !t->rxmsg || !t->pfd)
		return -ENOMEM;
	for (i = 0; i < w; i++)
		t->free_slots[i] = (uint16_t)(w - 1 - i);
	t->nfree = w;
	for (i = 0; i < b; i++) {
		t->txiov[i].iov_base = t->txbuf + (size_t)i * TB_TX_LEN;
		t->txmsg[i].msg_hdr.msg_iov = &t->txiov[i];
		t->txmsg[i].msg_hdr.msg_iovlen = 1;
		t->rxiov[i].iov_base = t->rxbuf + (size_t)i * TB_RX_LEN;
		t->rxiov[i].iov_len = TB_RX_LEN;
		t->rxmsg[i].msg_hdr.msg_iov = &t->rxiov[i];
		t->rxmsg[i].msg_hdr.msg_iovlen = 1;
	}
	for (i = 0; i < t->nsock; i++) {
		struct bsock *s = &t->sock[i];
		uint32_t j;
		int fd = open_socket((int)(idx * t->nsock + i));

		if (fd < 0)
			return fd;
		s->fd = fd;
		s->peer_lo = t->peer_lo + (uint32_t)((uint64_t)t->peer_n * i / t->nsock);
		s->peer_n = t->peer_lo + (uint32_t)((uint64_t)t->peer_n * (i + 1) / t->nsock) -
			    s->peer_lo;
		for (j = 0; j < s->peer_n; j++) {
			uint32_t k = arg.have_source ? j : s->peer_lo + j;

			peer_table[s->peer_lo + j].port =
				(uint16_t)(TB_PORT_BASE + k % TB_PORT_SPAN);
		}
		t->pfd[i].fd = fd;
		t->pfd[i].events = POLLIN;
	}
	return 0;
}

/*
 * Exit status 3 unless the target answers a connect: up to three attempts,
 * each waiting the request timeout.
 */
static int probe_target(void)
{
	uint8_t req[UDPT_CONNECT_LEN], rep[TB_RX_LEN];
	uint64_t rng = arg.seed ^ 0x70726f6265ull;
	int fd, i, ret = -ETIMEDOUT;

	fd = open_socket(-1);
	if (fd < 0)
		return fd;
	for (i = 0; i < TB_CONNECT_TRIES && ret == -ETIMEDOUT; i++) {
		uint32_t txid = (uint32_t)rng_next(&rng);
		uint64_t deadline;

		encode_connect(req, txid);
		if (send(fd, req, sizeof(req), 0) < 0) {
			ret = -errno;
			if (ret == -ECONNREFUSED)
				ret = -ETIMEDOUT; /* ICMP unreachable: try again */
			continue;
		}
		deadline = now_ns() + (uint64_t)arg.timeout_ms * 1000000ull;
		for (;;) {
			struct pollfd pfd = { .fd = fd, .events = POLLIN };
			uint64_t now = now_ns();
			ssize_t n;

			if (now >= deadline)
				break;
			if (poll(&pfd, 1, (int)((deadline - now) / 1000000 + 1)) <= 0)
				continue;
			n = recv(fd, rep, sizeof(rep), 0);
			if (n < 0)
				continue; /* ECONNREFUSED and the like: wait out the timeout */
			if (n >= 8 && get32(rep + 4) == txid &&
			    (get32(rep) == UDPT_ACTION_CONNECT ||
			     get32(rep) == UDPT_ACTION_ERROR)) {
				ret = 0;
				break;
			}
		}
	}
	close(fd);
	return ret;
}

/* --- options ------------------------------------------------------------ */

static int usage(FILE *f)
{
	fprintf(f, "usage: trackerbench [options] HOST:PORT\n"
		   "  -j, --threads N        sending threads [1]\n"
		   "  -s, --sockets N        sockets per thread [1]\n"
		   "  -P, --peers N          simulated peers [50000]\n"
		   "  -T, --torrents N       torrents [10000]\n"
		   "      --zipf S           popularity exponent, p(i) ~ 1/(i+1)^S [1.0]\n"
		   "      --seeders P        probability that a peer is a seeder [0.75]\n"
		   "  -m, --mix A:S:C        announce:scrape:connect weights [75:20:5]\n"
		   "  -n, --numwant N        peers asked for, -1 = tracker default [30]\n"
		   "      --scrape-max N     info-hashes per scrape, 1..N [5], N <= 74\n"
		   "  -W, --window N         requests in flight per thread [128]\n"
		   "  -b, --batch N          datagrams per sendmmsg/recvmmsg [32]\n"
		   "  -t, --timeout MS       a request is lost after MS [500]\n"
		   "  -w, --warmup S         seconds before measuring [3]\n"
		   "  -d, --duration S       measured seconds [15], at most 3600\n"
		   "  -c, --cpus LIST        pin thread i to LIST[i mod n], e.g. 1,2-3\n"
		   "      --reconnect S      refresh connection ids after S seconds [60]\n"
		   "      --rcvbuf BYTES     socket receive buffer [system default]\n"
		   "      --seed N           workload seed [random, printed]\n"
		   "      --poll             wait in poll() instead of busy-polling\n"
		   "      --progress         print a line every second (stderr)\n"
		   "      --strict           exit 1 if any invalid or error reply was seen\n"
		   "      --allow-remote     permit a target that is not loopback\n"
		   "      --source ADDR      bind socket g (over all threads) to ADDR + g\n"
		   "  -h, --help             this text\n"
		   "  -V, --version          print the version\n");
	return 2;
}

static int bad(const char *opt, const char *val)
{
	fprintf(stderr, "trackerbench: invalid value '%s' for %s\n", val, opt);
	return -EINVAL;
}

static int parse_uint(const char *opt, const char *s, unsigned long min, unsigned long max,
		      unsigned long *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	if (*s < '0' || *s > '9')
		return bad(opt, s);
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		if (!isxdigit((unsigned char)s[2]))
			return bad(opt, s);
		v = strtoul(s + 2, &end, 16);
	} else {
		v = strtoul(s, &end, 10);
	}
	if (errno || *end || v < min || v > max)
		return bad(opt, s);
	*ret = v;
	return 0;
}

static int parse_double(const char *opt, const char *s, double min, double max, double *ret)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= min && v <= max))
		return bad(opt, s);
	*ret = v;
	return 0;
}

static int parse_mix(const char *s)
{
	unsigned long v[REQ__MAX];
	const char *p = s;
	char *end;
	int i;

	for (i = 0; i < REQ__MAX; i++) {
		if (*p < '0' || *p > '9')
			return bad("--mix", s);
		errno = 0;
		v[i] = strtoul(p, &end, 10);
		if (errno || v[i] > 1000000)
			return bad("--mix", s);
		p = end;
		if (i < REQ__MAX - 1) {
			if (*p != ':')
				return bad("--mix", s);
			p++;
		}
	}
	if (*p || v[0] + v[1] + v[2] == 0)
		return bad("--mix", s);
	arg.mix[REQ_ANNOUNCE] = (unsigned)v[0];
	arg.mix[REQ_SCRAPE] = (unsigned)v[1];
	arg.mix[REQ_CONNECT] = (unsigned)v[2];
	return 0;
}

static int parse_cpus(const char *s)
{
	const char *p = s;
	char *end;

	arg.ncpus = 0;
	while (*p) {
		unsigned long a, b;

		if (*p < '0' || *p > '9')
			return bad("--cpus", s);
		a = strtoul(p, &end, 10);
		b = a;
		p = end;
		if (*p == '-') {
			p++;
			if (*p < '0' || *p > '9')
				return bad("--cpus", s);
			b = strtoul(p, &end, 10);
			p = end;
		}
		if (a > b || b >= CPU_SETSIZE)
			return bad("--cpus", s);
		for (; a <= b; a++) {
			if (arg.ncpus == TB_MAX_CPUS)
				return bad("--cpus", s);
			arg.cpus[arg.ncpus++] = (int)a;
		}
		if (*p == ',')
			p++;
		else if (*p)
			return bad("--cpus", s);
	}
	return arg.ncpus ? 0 : bad("--cpus", s);
}

static bool is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

		if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
			return true;
		return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && in6->sin6_addr.s6_addr[12] == 127;
	}
	return false;
}

static int parse_target(const char *s)
{
	char host[256];
	const char *port, *colon;
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res;
	size_t hl;
	int ret;

	if (strlen(s) >= sizeof(arg.target_text))
		return bad("the target", s);
	if (s[0] == '[') {
		colon = strchr(s, ']');
		if (!colon || colon[1] != ':')
			return bad("the target", s);
		hl = (size_t)(colon - s - 1);
		memcpy(host, s + 1, hl < sizeof(host) ? hl : 0);
		port = colon + 2;
	} else {
		colon = strrchr(s, ':');
		if (!colon || strchr(s, ':') != colon)
			return bad("the target (write IPv6 as [ADDR]:PORT)", s);
		hl = (size_t)(colon - s);
		memcpy(host, s, hl < sizeof(host) ? hl : 0);
		port = colon + 1;
	}
	if (hl == 0 || hl >= sizeof(host))
		return bad("the target", s);
	host[hl] = '\0';
	{
		unsigned long pv;

		if (parse_uint("the target port", port, 1, 65535, &pv) < 0)
			return -EINVAL;
	}
	ret = getaddrinfo(host, port, &hints, &res);
	if (ret != 0) {
		fprintf(stderr, "trackerbench: cannot resolve '%s': %s\n", host, gai_strerror(ret));
		return -EINVAL;
	}
	memcpy(&arg.addr, res->ai_addr, res->ai_addrlen);
	arg.addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	strcpy(arg.target_text, s);
	arg.peers6 = false;
	if (arg.addr.ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&arg.addr;

		arg.peers6 = !IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr);
	}
	return 0;
}

static int parse_source(const char *s)
{
	struct sockaddr_in *in = (struct sockaddr_in *)&arg.source;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&arg.source;

	memset(&arg.source, 0, sizeof(arg.source));
	if (inet_pton(AF_INET, s, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
	} else if (inet_pton(AF_INET6, s, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
	} else {
		return bad("--source", s);
	}
	arg.have_source = true;
	return 0;
}

enum {
	OPT_ZIPF = 256,
	OPT_SEEDERS,
	OPT_SCRAPE_MAX,
	OPT_RECONNECT,
	OPT_RCVBUF,
	OPT_SEED,
	OPT_POLL,
	OPT_PROGRESS,
	OPT_STRICT,
	OPT_ALLOW_REMOTE,
	OPT_SOURCE,
};

static const struct option long_opts[] = {
	{ "threads", required_argument, NULL, 'j' },
	{ "sockets", required_argument, NULL, 's' },
	{ "peers", required_argument, NULL, 'P' },
	{ "torrents", required_argument, NULL, 'T' },
	{ "zipf", required_argument, NULL, OPT_ZIPF },
	{ "seeders", required_argument, NULL, OPT_SEEDERS },
	{ "mix", required_argument, NULL, 'm' },
	{ "numwant", required_argument, NULL, 'n' },
	{ "scrape-max", required_argument, NULL, OPT_SCRAPE_MAX },
	{ "window", required_argument, NULL, 'W' },
	{ "batch", required_argument, NULL, 'b' },
	{ "timeout", required_argument, NULL, 't' },
	{ "warmup", required_argument, NULL, 'w' },
	{ "duration", required_argument, NULL, 'd' },
	{ "cpus", required_argument, NULL, 'c' },
	{ "reconnect", required_argument, NULL, OPT_RECONNECT },
	{ "rcvbuf", required_argument, NULL, OPT_RCVBUF },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "poll", no_argument, NULL, OPT_POLL },
	{ "progress", no_argument, NULL, OPT_PROGRESS },
	{ "strict", no_argument, NULL, OPT_STRICT },
	{ "allow-remote", no_argument, NULL, OPT_ALLOW_REMOTE },
	{ "source", required_argument, NULL, OPT_SOURCE },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

/* Returns 0, -EINVAL (usage, status 2) or 1 (help/version printed, status 0). */
static int parse_args(int argc, char **argv)
{
	bool seed_set = false;
	unsigned long v;
	int c, r = 0;

	while ((c = getopt_long(argc, argv, "j:s:P:T:m:n:W:b:t:w:d:c:hV", long_opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			r = parse_uint("--threads", optarg, 1, TB_MAX_THREADS, &v);
			arg.threads = (unsigned)v;
			break;
		case 's':
			r = parse_uint("--sockets", optarg, 1, TB_MAX_SOCKETS, &v);
			arg.sockets = (unsigned)v;
			break;
		case 'P':
			r = parse_uint("--peers", optarg, 1, TB_MAX_PEERS, &v);
			arg.peers = (uint32_t)v;
			break;
		case 'T':
			r = parse_uint("--torrents", optarg, 1, TB_MAX_TORRENTS, &v);
			arg.torrents = (uint32_t)v;
			break;
		case OPT_ZIPF:
			r = parse_double("--zipf", optarg, 0.0, 5.0, &arg.zipf);
			break;
		case OPT_SEEDERS:
			r = parse_double("--seeders", optarg, 0.0, 1.0, &arg.seeders);
			break;
		case 'm':
			r = parse_mix(optarg);
			break;
		case 'n':
			if (strcmp(optarg, "-1") == 0) {
				arg.numwant = -1;
			} else {
				r = parse_uint("--numwant", optarg, 0, 100000, &v);
				arg.numwant = (int32_t)v;
			}
			break;
		case OPT_SCRAPE_MAX:
			r = parse_uint("--scrape-max", optarg, 1, UDPT_SCRAPE_MAX_LIMIT, &v);
			arg.scrape_max = (unsigned)v;
			break;
		case 'W':
			r = parse_uint("--window", optarg, 1, TB_MAX_WINDOW, &v);
			arg.window = (unsigned)v;
			break;
		case 'b':
			r = parse_uint("--batch", optarg, 1, TB_MAX_BATCH, &v);
			arg.batch = (unsigned)v;
			break;
		case 't':
			r = parse_uint("--timeout", optarg, 1, 60000, &v);
			arg.timeout_ms = (unsigned)v;
			break;
		case 'w':
			r = parse_uint("--warmup", optarg, 0, TB_MAX_WARMUP, &v);
			arg.warmup_s = (unsigned)v;
			break;
		case 'd':
			r = parse_uint("--duration", optarg, 1, TB_MAX_DURATION, &v);
			arg.duration_s = (unsigned)v;
			break;
		case 'c':
			r = parse_cpus(optarg);
			break;
		case OPT_RECONNECT:
			r = parse_uint("--reconnect", optarg, 1, 3600, &v);
			arg.reconnect_s = (unsigned)v;
			break;
		case OPT_RCVBUF:
			r = parse_uint("--rcvbuf", optarg, 0, 1u << 30, &v);
			arg.rcvbuf = (int)v;
			break;
		case OPT_SEED:
			r = parse_uint("--seed", optarg, 0, ULONG_MAX, &v);
			arg.seed = v;
			seed_set = true;
			break;
		case OPT_POLL:
			arg.spin = false;
			break;
		case OPT_PROGRESS:
			arg.progress = true;
			break;
		case OPT_STRICT:
			arg.strict = true;
			break;
		case OPT_ALLOW_REMOTE:
			arg.allow_remote = true;
			break;
		case OPT_SOURCE:
			r = parse_source(optarg);
			break;
		case 'h':
			usage(stdout);
			return 1;
		case 'V':
			printf("trackerbench %s\n", TRACKERD_VERSION);
			return 1;
		default:
			return -EINVAL;
		}
		if (r < 0)
			return r;
	}
	if (optind != argc - 1) {
		fprintf(stderr, "trackerbench: expected one target, HOST:PORT\n");
		return -EINVAL;
	}
	if (arg.peers < arg.threads * arg.sockets) {
		fprintf(stderr, "trackerbench: fewer peers (%u) than sockets (%u)\n", arg.peers,
			arg.threads * arg.sockets);
		return -EINVAL;
	}
	if (parse_target(argv[optind]) < 0)
		return -EINVAL;
	if (arg.have_source && arg.source.ss_family != arg.addr.ss_family) {
		fprintf(stderr, "trackerbench: --source and the target are not of one family\n");
		return -EINVAL;
	}
	if (!arg.allow_remote && !is_loopback(&arg.addr)) {
		fprintf(stderr,
			"trackerbench: '%s' is not a loopback address; load only your own test "
			"hosts, and say so with --allow-remote\n",
			argv[optind]);
		return -EINVAL;
	}
	if (!seed_set) {
		if (getrandom(&arg.seed, sizeof(arg.seed), 0) != sizeof(arg.seed))
			arg.seed = now_ns() ^ ((uint64_t)getpid() << 32);
	}
	return 0;
}

/* --- reporting ---------------------------------------------------------- */

static void stats_sum_live(struct stats *sum)
{
	unsigned i, k;

	memset(sum, 0, sizeof(*sum));
	for (i = 0; i < arg.threads; i++) {
		struct stats *s = &threads[i].st;

		for (k = 0; k < REQ__MAX; k++) {
			sum->requests[k] += STAT_READ(s->requests[k]);
			sum->responses[k] += STAT_READ(s->responses[k]);
		}
		sum->errors += STAT_READ(s->errors);
		sum->invalid += STAT_READ(s->invalid);
		sum->lost += STAT_READ(s->lost);
		sum->late += STAT_READ(s->late);
		sum->sock_errors += STAT_READ(s->sock_errors);
	}
}

static void progress_line(unsigned second, const struct stats *now, const struct stats *prev)
{
	uint64_t d[REQ__MAX], total = 0;
	unsigned k;

	for (k = 0; k < REQ__MAX; k++) {
		d[k] = now->responses[k] - prev->responses[k];
		total += d[k];
	}
	fprintf(stderr,
		"t=%u%s responses_per_s=%llu announce_per_s=%llu scrape_per_s=%llu "
		"connect_per_s=%llu errors=%llu invalid=%llu lost=%llu late=%llu\n",
		second, second <= arg.warmup_s ? " (warm-up)" : "", (unsigned long long)total,
		(unsigned long long)d[REQ_ANNOUNCE], (unsigned long long)d[REQ_SCRAPE],
		(unsigned long long)d[REQ_CONNECT],
		(unsigned long long)(now->errors - prev->errors),
		(unsigned long long)(now->invalid - prev->invalid),
		(unsigned long long)(now->lost - prev->lost),
		(unsigned long long)(now->late - prev->late));
}

/* Sleep until every thread is past the end, printing --progress lines. */
static void supervise(void)
{
	struct stats prev, cur;
	unsigned second = 0;

	memset(&prev, 0, sizeof(prev));
	for (;;) {
		uint64_t next = t_start + (uint64_t)(second + 1) * NS;
		struct timespec ts;

		if (next > t_end)
			next = t_end;
		ts.tv_sec = (time_t)(next / NS);
		ts.tv_nsec = (long)(next % NS);
		while (!stop_requested &&
		       clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
		if (stop_requested || next >= t_end)
			return;
		second++;
		if (arg.progress) {
			stats_sum_live(&cur);
			progress_line(second, &cur, &prev);
			prev = cur;
		}
	}
}

/* Do two peers on one source address have the same port? */
static bool ports_repeat(void)
{
	unsigned i, k;

	if (!arg.have_source)
		return arg.peers > TB_PORT_SPAN;
	for (i = 0; i < arg.threads; i++)
		for (k = 0; k < threads[i].nsock; k++)
			if (threads[i].sock[k].peer_n > TB_PORT_SPAN)
				return true;
	return false;
}

static void report(uint64_t t_stop)
{
	struct stats d;
	uint64_t responses = 0, requests = 0, hist_total = 0;
	double secs, rate[REQ__MAX], total_rate, req_rate, ppa;
	uint64_t p50, p90, p99, p999;
	unsigned i, k;

	memset(&d, 0, sizeof(d));
	for (i = 0; i < arg.threads; i++) {
		const struct stats *s = &threads[i].st, *b = &threads[i].base;

		for (k = 0; k < REQ__MAX; k++) {
			d.requests[k] += s->requests[k] - b->requests[k];
			d.responses[k] += s->responses[k] - b->responses[k];
		}
		d.errors += s->errors - b->errors;
		d.invalid += s->invalid - b->invalid;
		d.lost += s->lost - b->lost;
		d.late += s->late - b->late;
		d.sock_errors += s->sock_errors - b->sock_errors;
		d.peers_returned += s->peers_returned - b->peers_returned;
		for (k = 0; k < HIST_N; k++)
			d.hist[k] += s->hist[k] - b->hist[k];
	}
	for (k = 0; k < REQ__MAX; k++) {
		responses += d.responses[k];
		requests += d.requests[k];
	}
	for (k = 0; k < HIST_N; k++)
		hist_total += d.hist[k];
	secs = t_stop > t_measure ? (double)(t_stop - t_measure) / NS : 0.0;
	for (k = 0; k < REQ__MAX; k++)
		rate[k] = secs > 0 ? (double)d.responses[k] / secs : 0.0;
	total_rate = secs > 0 ? (double)responses / secs : 0.0;
	req_rate = secs > 0 ? (double)requests / secs : 0.0;
	ppa = d.responses[REQ_ANNOUNCE] ?
		      (double)d.peers_returned / (double)d.responses[REQ_ANNOUNCE] :
		      0.0;
	p50 = hist_quantile(d.hist, hist_total, 0.50);
	p90 = hist_quantile(d.hist, hist_total, 0.90);
	p99 = hist_quantile(d.hist, hist_total, 0.99);
	p999 = hist_quantile(d.hist, hist_total, 0.999);

	printf("target        %s (%s), %u thread%s x %u socket%s, window %u, batch %u, %s\n",
	       arg.target_text, arg.addr.ss_family == AF_INET6 ? "IPv6" : "IPv4", arg.threads,
	       arg.threads == 1 ? "" : "s", arg.sockets, arg.sockets == 1 ? "" : "s", arg.window,
	       arg.batch, arg.spin ? "busy-polling" : "poll");
	printf("workload      %u peers (%.0f%% seeders), %u torrents (zipf %.2f), "
	       "mix %u:%u:%u, numwant %d, scrape 1..%u hashes, seed %llu\n",
	       arg.peers, arg.seeders * 100, arg.torrents, arg.zipf, arg.mix[REQ_ANNOUNCE],
	       arg.mix[REQ_SCRAPE], arg.mix[REQ_CONNECT], arg.numwant, arg.scrape_max,
	       (unsigned long long)arg.seed);
	if (ports_repeat())
		printf("note          peers share ports: more than %u per source address\n",
		       TB_PORT_SPAN);
	printf("measured      %.2f s after %u s of warm-up%s\n", secs, arg.warmup_s,
	       stop_requested ? " (interrupted)" : "");
	printf("responses     %.0f/s: announce %.0f/s, scrape %.0f/s, connect %.0f/s\n", total_rate,
	       rate[REQ_ANNOUNCE], rate[REQ_SCRAPE], rate[REQ_CONNECT]);
	printf("requests      %.0f/s\n", req_rate);
	printf("peers         %.2f per announce reply\n", ppa);
	printf("latency       p50 %llu us, p90 %llu us, p99 %llu us, p99.9 %llu us\n",
	       (unsigned long long)p50, (unsigned long long)p90, (unsigned long long)p99,
	       (unsigned long long)p999);
	printf("problems      %llu error replies, %llu invalid, %llu lost, %llu late, "
	       "%llu socket errors\n",
	       (unsigned long long)d.errors, (unsigned long long)d.invalid,
	       (unsigned long long)d.lost, (unsigned long long)d.late,
	       (unsigned long long)d.sock_errors);
	if (__atomic_load_n(&first_error_taken, __ATOMIC_ACQUIRE))
		printf("first error   '%s'\n", first_error);
	for (i = 0; i < arg.threads; i++)
		if (threads[i].cpu == -2)
			printf("warning       thread %u could not be pinned to cpu %d\n", i,
			       arg.cpus[i % arg.ncpus]);
	printf("responses_per_s=%.0f announce_per_s=%.0f scrape_per_s=%.0f connect_per_s=%.0f "
	       "requests_per_s=%.0f errors=%llu invalid=%llu lost=%llu late=%llu "
	       "sock_errors=%llu latency_p50_us=%llu latency_p90_us=%llu latency_p99_us=%llu "
	       "latency_p999_us=%llu peers_per_announce=%.2f duration_s=%.2f threads=%u "
	       "sockets=%u window=%u seed=%llu interrupted=%d\n",
	       total_rate, rate[REQ_ANNOUNCE], rate[REQ_SCRAPE], rate[REQ_CONNECT], req_rate,
	       (unsigned long long)d.errors, (unsigned long long)d.invalid,
	       (unsigned long long)d.lost, (unsigned long long)d.late,
	       (unsigned long long)d.sock_errors, (unsigned long long)p50, (unsigned long long)p90,
	       (unsigned long long)p99, (unsigned long long)p999, ppa, secs, arg.threads,
	       arg.sockets, arg.window, (unsigned long long)arg.seed, stop_signal ? 1 : 0);
	fflush(stdout);
	if (arg.strict && (d.invalid || d.errors))
		exit(1);
}

static void on_signal(int sig)
{
	stop_signal = sig;
	stop_requested = 1;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART };
	unsigned i;
	uint64_t t_stop;
	int r;

	r = parse_args(argc, argv);
	if (r == 1)
		return 0;
	if (r < 0) {
		fprintf(stderr, "usage: trackerbench [options] HOST:PORT (see --help)\n");
		return 2;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	r = probe_target(); /* bounded: three tries of the timeout */
	if (r == -ETIMEDOUT) {
		fprintf(stderr, "trackerbench: no connect reply from %s within %u ms (%d tries)\n",
			arg.target_text, arg.timeout_ms, TB_CONNECT_TRIES);
		return 3;
	}
	if (r < 0) {
		fprintf(stderr, "trackerbench: cannot reach %s: %s\n", arg.target_text,
			strerror(-r));
		return 3;
	}
	/* Whatever happens below, the process ends. */
	alarm(arg.warmup_s + arg.duration_s + arg.timeout_ms / 1000 + 30);
	if (workload_setup() < 0) {
		fprintf(stderr, "trackerbench: out of memory for the workload\n");
		return 1;
	}
	threads = aligned_alloc(64, sizeof(*threads) * arg.threads);
	if (!threads) {
		fprintf(stderr, "trackerbench: out of memory\n");
		return 1;
	}
	memset(threads, 0, sizeof(*threads) * arg.threads);
	for (i = 0; i < arg.threads; i++) {
		r = thread_setup(&threads[i], i);
		if (r < 0) {
			fprintf(stderr, "trackerbench: thread %u setup: %s\n", i, strerror(-r));
			return 1;
		}
	}
	t_start = now_ns();
	t_measure = t_start + (uint64_t)arg.warmup_s * NS;
	t_end = t_measure + (uint64_t)arg.duration_s * NS;
	for (i = 0; i < arg.threads; i++) {
		r = pthread_create(&threads[i].tid, NULL, thread_main, &threads[i]);
		if (r != 0) {
			fprintf(stderr, "trackerbench: cannot start thread %u: %s\n", i,
				strerror(r));
			stop_requested = 1;
			arg.threads = i;
			break;
		}
	}
	supervise();
	for (i = 0; i < arg.threads; i++)
		pthread_join(threads[i].tid, NULL);
	t_stop = now_ns();
	if (t_stop > t_end)
		t_stop = t_end;
	if (arg.threads == 0)
		return 1;
	report(t_stop);
	return stop_signal ? 128 + stop_signal : 0;
}
