/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/test_ratelimit.c - the abuse limits below the ban list.
 *
 * The rate limiter (shm/ratelimit.c) on its own, then shared by forked
 * processes; the per-source cap of the store (shm/torrents.c, peers.c);
 * and worker_handle() with the limits in place: over-limit sources get
 * nothing, exempt ones are not limited, and no unauthenticated request is
 * ever answered with more bytes than it carried. Prints the cost of one
 * ratelimit_allow() call.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/conf.h"
#include "daemon/udpt.h"
#include "daemon/worker.h"
#include "shm/counters.h"
#include "shm/ratelimit.h"
#include "shm/segment.h"
#include "shm/torrents.h"

static const uint8_t test_key[SEGMENT_KEY_LEN] = { 7, 7, 7, 7, 1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 2, 3 };

struct rl {
	void *mem;
	size_t len;
	struct ratelimit *r;
};

static void rl_open(struct rl *x, uint64_t slots, unsigned rate, unsigned burst)
{
	struct ratelimit_config c = { .rate = rate, .burst = burst, .bits4 = 32, .bits6 = 64 };

	x->len = ratelimit_region_size(slots);
	x->mem = mmap(NULL, x->len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(x->mem != MAP_FAILED);
	assert_int_equal(ratelimit_format(x->mem, slots), 0);
	assert_int_equal(ratelimit_bind(x->mem, x->len, &x->r), 0);
	ratelimit_configure(x->r, &c);
}

static void rl_close(struct rl *x)
{
	ratelimit_unbind(x->r);
	munmap(x->mem, x->len);
}

static void addr4(uint8_t *a, const char *s)
{
	assert_int_equal(inet_pton(AF_INET, s, a), 1);
}

static void addr6(uint8_t *a, const char *s)
{
	assert_int_equal(inet_pton(AF_INET6, s, a), 1);
}

/* Requests allowed out of n sent at now_ms. */
static unsigned charge(struct rl *x, const uint8_t *a, size_t alen, unsigned n, uint64_t now_ms)
{
	unsigned ok = 0;

	for (unsigned i = 0; i < n; i++)
		ok += ratelimit_allow(x->r, a, alen, now_ms);
	return ok;
}

static void test_burst_then_rate(void **state)
{
	struct rl x;
	uint8_t a[4], b[4];

	(void)state;
	rl_open(&x, 4096, 100, 50);
	addr4(a, "198.51.100.7");
	addr4(b, "198.51.100.8");
	/* A fresh source gets the whole burst, then nothing. */
	assert_int_equal(charge(&x, a, 4, 80, 1000001), 50);
	/* Another source has its own bucket. */
	assert_int_equal(charge(&x, b, 4, 80, 1000001), 50);
	/* 100/s: 10 ms later one more, 250 ms later 25 more. */
	assert_int_equal(charge(&x, a, 4, 5, 1000011), 1);
	assert_int_equal(charge(&x, a, 4, 100, 1000261), 25);
	/* A long pause refills to the burst, no more. */
	assert_int_equal(charge(&x, a, 4, 500, 2000001), 50);
	/* Sustained: 2 s at 1 ms steps, 10 requests a step, get about 200. */
	{
		unsigned ok = 0;

		for (uint64_t t = 3000001; t < 3002001; t++)
			ok += charge(&x, a, 4, 10, t);
		assert_in_range(ok, 50 + 200 - 2, 50 + 200 + 2);
	}
	rl_close(&x);
}

static void test_clock_behind_does_not_refill(void **state)
{
	struct rl x;
	uint8_t a[4];

	(void)state;
	rl_open(&x, 64, 1000, 10);
	addr4(a, "203.0.113.9");
	assert_int_equal(charge(&x, a, 4, 20, 5000001), 10);
	/* A worker whose clock lags by 500 ms must not see 500 ms of refill. */
	assert_int_equal(charge(&x, a, 4, 20, 4500001), 0);
	assert_int_equal(charge(&x, a, 4, 20, 5000003), 2);
	rl_close(&x);
}

static void test_prefixes(void **state)
{
	struct ratelimit_config c = { .rate = 10, .burst = 5, .bits4 = 24, .bits6 = 64 };
	uint8_t a[16], b[16];
	struct rl x;

	(void)state;
	rl_open(&x, 1 << 16, 10, 5);
	ratelimit_configure(x.r, &c);
	/* Two addresses of one /64 share a bucket. */
	addr6(a, "2001:db8:1:2::1");
	addr6(b, "2001:db8:1:2:ffff::9");
	assert_int_equal(charge(&x, a, 16, 3, 7000001), 3);
	assert_int_equal(charge(&x, b, 16, 5, 7000001), 2);
	/* The next /64 does not. */
	addr6(b, "2001:db8:1:3::1");
	assert_int_equal(charge(&x, b, 16, 5, 7000001), 5);
	/* bits4 = 24: a /24 is one source. */
	addr4(a, "192.0.2.1");
	addr4(b, "192.0.2.200");
	assert_int_equal(charge(&x, a, 4, 4, 7000001), 4);
	assert_int_equal(charge(&x, b, 4, 4, 7000001), 1);
	rl_close(&x);
}

static void test_off_and_exempt(void **state)
{
	struct rl x;
	uint8_t a[16];

	(void)state;
	rl_open(&x, 64, 0, 1);
	addr4(a, "192.0.2.1");
	assert_int_equal(charge(&x, a, 4, 1000, 1), 1000); /* rate 0: off */
	rl_close(&x);
	rl_open(&x, 0, 10, 1);
	assert_int_equal(charge(&x, a, 4, 1000, 1), 1000); /* no slots: off */
	rl_close(&x);

	rl_open(&x, 64, 10, 1);
	ratelimit_configure_from(x.r, 10, 1, 32, 64, "127.0.0.0/8 ::1 bogus 2001:db8::/32");
	addr4(a, "127.1.2.3");
	assert_true(ratelimit_is_exempt(x.r, a, 4));
	addr4(a, "128.0.0.1");
	assert_false(ratelimit_is_exempt(x.r, a, 4));
	addr6(a, "::1");
	assert_true(ratelimit_is_exempt(x.r, a, 16));
	addr6(a, "2001:db8:ffff::1");
	assert_true(ratelimit_is_exempt(x.r, a, 16));
	addr6(a, "2001:db9::1");
	assert_false(ratelimit_is_exempt(x.r, a, 16));
	ratelimit_configure_from(x.r, 10, 1, 32, 64, "");
	addr4(a, "127.0.0.1");
	assert_false(ratelimit_is_exempt(x.r, a, 4));
	rl_close(&x);
}

/* Several processes charge one source at once: together they get the limit. */
static void test_shared_across_processes(void **state)
{
	enum { PROCS = 3, ROUNDS = 20000 };
	unsigned *got;
	struct rl x;
	uint8_t a[4];
	unsigned total = 0;

	(void)state;
	rl_open(&x, 1024, 1000, 100);
	got = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(got != MAP_FAILED);
	addr4(a, "198.51.100.77");
	for (int p = 0; p < PROCS; p++) {
		pid_t pid = fork();

		assert_true(pid >= 0);
		if (pid == 0) {
			/* All at one instant: no refill, only the burst is there. */
			got[p] = charge(&x, a, 4, ROUNDS, 9000001);
			_exit(0);
		}
	}
	for (int p = 0; p < PROCS; p++) {
		int st;

		assert_true(wait(&st) > 0);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	for (int p = 0; p < PROCS; p++)
		total += got[p];
	/* A CAS that keeps losing lets a request through: a few at most. */
	assert_in_range(total, 100, 100 + PROCS * 4);
	munmap(got, 4096);
	rl_close(&x);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The cost of one check on a table bigger than the cache (printed, loosely bounded). */
static void test_cost(void **state)
{
	enum { N = 2000000 };
	uint8_t a[4];
	struct rl x;
	double t0, ns;
	unsigned ok = 0;

	/* Under valgrind (tests/run-valgrind.sh) fewer calls and no time bound. */
	const bool slow = getenv("TRACKERD_UNDER_VALGRIND") != NULL;
	const uint32_t n = slow ? N / 100 : N;

	(void)state;
	rl_open(&x, 1000000, 200, 1000);
	t0 = now_s();
	for (uint32_t i = 0; i < n; i++) {
		uint32_t v = htonl(0x0a000000u + (i * 2654435761u >> 8));

		memcpy(a, &v, 4);
		ok += ratelimit_allow(x.r, a, 4, 1000001 + i / 1000);
	}
	ns = (now_s() - t0) * 1e9 / n;
	printf("# ratelimit_allow: %.1f ns per call (1M slots, %u of %u allowed)\n", ns, ok, n);
	assert_true(ok > n / 2);
	assert_true(slow || ns < 2000);
	rl_close(&x);
}

/* --- the store's per-source cap ---------------------------------------------- */

static struct torrents_peer peer4(const char *ip, uint16_t port)
{
	struct torrents_peer p = { .port = port };

	addr4(p.addr, ip);
	return p;
}

static enum torrents_refusal announce(struct torrents *t, const uint8_t *ih, struct torrents_peer p,
				      unsigned cap, unsigned bits)
{
	uint8_t out[200 * 18];
	struct torrents_announce a = {
		.info_hash = ih,
		.peer = p,
		.event = TORRENTS_EVENT_STARTED,
		.numwant = 50,
		.now = 1000,
		.source_max = (uint16_t)cap,
		.source_bits = (uint8_t)bits,
	};
	struct torrents_result r;

	assert_int_equal(torrents_announce(t, &a, out, &r), 0);
	return r.refused;
}

static unsigned swarm_size(struct torrents *t, const uint8_t *ih)
{
	struct torrents_counts c;

	torrents_scrape(t, ih, 1, &c);
	return c.seeders + c.leechers;
}

static void test_source_cap_small_swarm(void **state)
{
	struct segment_params sp = { .max_torrents = 1000,
				     .max_peers4 = 20000,
				     .max_peers6 = 1000 };
	uint8_t ih[20] = { 0xab, 1 };
	struct segment *seg;
	struct torrents *t;
	unsigned refused = 0;

	(void)state;
	assert_int_equal(segment_create(&sp, test_key, &seg), 0);
	t = segment_torrents(seg);
	/* One address, 40 ports: 8 stored peers, the rest answered but not stored. */
	for (uint16_t port = 1; port <= 40; port++)
		refused += announce(t, ih, peer4("198.51.100.5", port), 8, 32) ==
			   TORRENTS_REFUSED_SOURCE;
	assert_int_equal(refused, 32);
	assert_int_equal(swarm_size(t, ih), 8);
	/* A stored peer announcing again is never refused. */
	assert_int_equal(announce(t, ih, peer4("198.51.100.5", 3), 8, 32), TORRENTS_STORED);
	/* Another address is another source; with /24 sources it is the same one. */
	assert_int_equal(announce(t, ih, peer4("198.51.100.6", 1), 8, 32), TORRENTS_STORED);
	assert_int_equal(announce(t, ih, peer4("198.51.100.7", 1), 8, 24), TORRENTS_REFUSED_SOURCE);
	/* Cap 0: no cap. */
	assert_int_equal(announce(t, ih, peer4("198.51.100.5", 99), 0, 32), TORRENTS_STORED);
	assert_int_equal(swarm_size(t, ih), 10);
	segment_close(seg);
}

static void test_source_cap_ipv6_prefix(void **state)
{
	struct segment_params sp = { .max_torrents = 1000,
				     .max_peers4 = 1000,
				     .max_peers6 = 20000 };
	uint8_t ih[20] = { 0xab, 2 };
	struct torrents_peer p = { .port = 6881, .ipv6 = true };
	struct segment *seg;
	struct torrents *t;
	unsigned stored = 0;

	(void)state;
	assert_int_equal(segment_create(&sp, test_key, &seg), 0);
	t = segment_torrents(seg);
	/* 30 addresses of one /64: 16 get in. */
	for (unsigned i = 1; i <= 30; i++) {
		addr6(p.addr, "2001:db8:5:6::");
		p.addr[15] = (uint8_t)i;
		p.addr[9] = (uint8_t)(i * 7);
		stored += announce(t, ih, p, 16, 64) == TORRENTS_STORED;
	}
	assert_int_equal(stored, 16);
	addr6(p.addr, "2001:db8:5:7::1");
	assert_int_equal(announce(t, ih, p, 16, 64), TORRENTS_STORED);
	segment_close(seg);
}

/* A big swarm (hash table): the cap is estimated, one source stays a small share. */
static void test_source_cap_big_swarm(void **state)
{
	struct segment_params sp = { .max_torrents = 1000,
				     .max_peers4 = 60000,
				     .max_peers6 = 1000 };
	uint8_t ih[20] = { 0xab, 3 };
	struct segment *seg;
	struct torrents *t;
	unsigned stored = 0, refused_honest = 0;
	char ip[32];

	(void)state;
	assert_int_equal(segment_create(&sp, test_key, &seg), 0);
	t = segment_torrents(seg);
	for (unsigned i = 0; i < 5000; i++) {
		snprintf(ip, sizeof(ip), "10.%u.%u.1", i >> 8, i & 255);
		refused_honest += announce(t, ih, peer4(ip, 6881), 32, 32) != TORRENTS_STORED;
		/* a NAT address with a few users: never refused */
		if (i % 1000 == 0)
			refused_honest +=
				announce(t, ih, peer4("192.0.2.50", (uint16_t)(1000 + i / 1000)),
					 32, 32) != TORRENTS_STORED;
	}
	assert_int_equal(refused_honest, 0);
	/* One address tries 20000 fake peers. */
	for (uint16_t port = 1; port <= 20000; port++)
		stored += announce(t, ih, peer4("203.0.113.66", port), 32, 32) == TORRENTS_STORED;
	printf("# source cap in a 5000-peer swarm: %u of 20000 fake peers stored\n", stored);
	/*
	 * Refused once its keyed window (256 of the table's slots) holds 3 of
	 * them: about 3 x slots / 256, near 100 here; never before 3 are in.
	 */
	assert_true(stored >= 3);
	assert_true(stored <= 600);
	segment_close(seg);
}

/* --- worker_handle with the limits --------------------------------------------- */

struct wfix {
	struct conf conf;
	struct segment *seg;
	struct worker_ctx w;
	uint8_t out[UDPT_REPLY_MAX];
};

static void wfix_open(struct wfix *f, const char *exempt)
{
	struct segment_params sp = {
		.max_torrents = 256,
		.max_peers4 = 1024,
		.max_peers6 = 1024,
		.ratelimit_slots = 4096,
		.ban_max = 16,
	};

	conf_defaults(&f->conf);
	f->conf.ratelimit_requests_per_second = 10;
	f->conf.ratelimit_burst = 20;
	snprintf(f->conf.limits_exempt, sizeof(f->conf.limits_exempt), "%s", exempt);
	assert_int_equal(segment_create(&sp, test_key, &f->seg), 0);
	worker_ctx_init(&f->w, &f->conf, f->seg, 0);
}

static struct sockaddr_in sin4(const char *ip, uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };

	addr4((uint8_t *)&a.sin_addr, ip);
	return a;
}

static size_t mk_connect(uint8_t *p, uint32_t txid)
{
	uint64_t magic = htobe64(0x41727101980ULL);
	uint32_t action = 0, tx = htonl(txid);

	memcpy(p, &magic, 8);
	memcpy(p + 8, &action, 4);
	memcpy(p + 12, &tx, 4);
	return 16;
}

static size_t handle4(struct wfix *f, const uint8_t *pkt, size_t len, const struct sockaddr_in *a)
{
	return worker_handle(&f->w, pkt, len, (const struct sockaddr *)a, sizeof(*a), f->out,
			     sizeof(f->out));
}

static uint64_t total(struct wfix *f, enum counters_id id)
{
	return counters_read(segment_counters(f->seg, 0), COUNTERS_FAM_IPV4, id);
}

static void test_worker_rate_limit(void **state)
{
	struct sockaddr_in a = sin4("198.51.100.1", 4000), lo = sin4("127.0.0.1", 4000);
	uint8_t pkt[16];
	unsigned answered = 0;
	struct wfix f;

	(void)state;
	wfix_open(&f, "127.0.0.0/8");
	mk_connect(pkt, 1);
	for (int i = 0; i < 100; i++)
		answered += handle4(&f, pkt, 16, &a) == 16;
	assert_int_equal(answered, 20); /* the burst, within one tick of the clock */
	assert_int_equal(total(&f, COUNTERS_drop_ratelimited), 80);
	/* Loopback is exempt. */
	for (int i = 0; i < 100; i++)
		assert_int_equal(handle4(&f, pkt, 16, &lo), 16);
	assert_int_equal(total(&f, COUNTERS_drop_ratelimited), 80);
	segment_close(f.seg);
}

/*
 * Amplification: every request without a valid connection id is answered
 * with at most as many bytes as it carried (a 16-byte connect, 16 bytes)
 * or not at all.
 */
static void test_no_amplification(void **state)
{
	struct sockaddr_in a = sin4("198.51.100.2", 5000);
	uint8_t pkt[1500];
	struct wfix f;
	size_t lens[] = { 0, 1, 8, 15, 16, 17, 20, 36, 97, 98, 99, 120, 300, 1400 };
	uint32_t actions[] = { 0, 1, 2, 3, 4, 0xffffffffu };
	unsigned checked = 0;

	(void)state;
	wfix_open(&f, "none");
	f.conf.ratelimit_requests_per_second = 0; /* every datagram reaches the checks */
	worker_ctx_init(&f.w, &f.conf, f.seg, 0);
	srand(12345);
	for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
		for (size_t ai = 0; ai < sizeof(actions) / sizeof(actions[0]); ai++) {
			for (int variant = 0; variant < 4; variant++) {
				size_t len = lens[li], n;
				uint32_t act = htonl(actions[ai]);

				for (size_t i = 0; i < len; i++)
					pkt[i] = (uint8_t)rand();
				if (variant & 1 && len >= 8) /* the protocol magic */
					mk_connect(pkt, 9);
				if (len >= 12)
					memcpy(pkt + 8, &act, 4);
				if (variant & 2 && len >= 96) /* announce with port 0 */
					memset(pkt + 94, 0, 2);
				n = handle4(&f, pkt, len, &a);
				if (n > len)
					fail_msg(
						"%zu-byte datagram (action %u, variant %d) answered "
						"with %zu bytes",
						len, actions[ai], variant, n);
				checked++;
			}
		}
	}
	/* The only answer an unauthenticated source gets: 16 for 16. */
	mk_connect(pkt, 3);
	assert_int_equal(handle4(&f, pkt, 16, &a), 16);
	assert_int_equal(total(&f, COUNTERS_error_replies), 0);
	assert_true(checked > 300);
	segment_close(f.seg);
}

/*
 * What the limits cost a worker: announces (and a connect in 16) from 4096
 * sources through worker_handle_batch(), with the limits off, on (every
 * source checked: rate limit and source cap, never reached), and on with
 * the sources exempt. Thread CPU time, best of 5 alternating rounds;
 * prints the ratios (the machine may be busy: only loosely asserted).
 */
#define BENCH_SRC 4096u
#define BENCH_PKTS 65536u

static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	v = htonl(v);
	memcpy(p, &v, 4);
}

static double bench_round(struct wfix *f, struct worker_item *items, unsigned n)
{
	double t0 = cpu_s();

	for (unsigned i = 0; i < n; i += 64)
		worker_handle_batch(&f->w, items + i, 64);
	return n / (cpu_s() - t0);
}

static void test_cost_in_worker(void **state)
{
	static uint8_t pkts[BENCH_PKTS][98];
	static uint8_t outs[64][UDPT_REPLY_MAX];
	static struct sockaddr_in src[BENCH_SRC];
	static struct worker_item items[BENCH_PKTS];
	struct segment_params sp = {
		.max_torrents = 20000,
		.max_peers4 = 200000,
		.max_peers6 = 1000,
		.ratelimit_slots = 1000000,
		.ban_max = 4096,
	};
	static const char *const exempt[3] = { "", "", "10.0.0.0/8" };
	static const char *const what[3] = { "off", "on", "on, sources exempt" };
	uint64_t cid[BENCH_SRC];
	double best[3] = { 0, 0, 0 };
	struct wfix f;
	uint8_t c[16];

	(void)state;
	conf_defaults(&f.conf);
	assert_int_equal(segment_create(&sp, test_key, &f.seg), 0);
	f.conf.ratelimit_requests_per_second = 0;
	worker_ctx_init(&f.w, &f.conf, f.seg, 0);
	for (unsigned s = 0; s < BENCH_SRC; s++) {
		char ip[32];

		snprintf(ip, sizeof(ip), "10.%u.%u.9", s >> 8, s & 255);
		src[s] = sin4(ip, (uint16_t)(10000 + s));
		mk_connect(c, s);
		assert_int_equal(handle4(&f, c, 16, &src[s]), 16);
		memcpy(&cid[s], f.out + 8, 8);
	}
	for (unsigned i = 0; i < BENCH_PKTS; i++) {
		unsigned s = (i * 2654435761u >> 7) % BENCH_SRC;
		uint8_t *p = pkts[i];

		memset(p, 0, 98);
		memcpy(p, &cid[s], 8);
		put_be32(p + 8, 1);
		put_be32(p + 12, i);
		put_be32(p + 16, (i * 40503u) % 2000);
		put_be32(p + 36, s);
		put_be32(p + 80, 2);
		put_be32(p + 92, 30);
		p[96] = 0x1a;
		p[97] = 0xe1;
		if (i % 16 == 0) /* a connect now and then */
			mk_connect(p, i);
		items[i] = (struct worker_item){ .pkt = p,
						 .len = i % 16 ? 98 : 16,
						 .src = (const struct sockaddr *)&src[s],
						 .srclen = sizeof(src[s]),
						 .out = outs[i % 64],
						 .cap = UDPT_REPLY_MAX };
	}
	bench_round(&f, items, BENCH_PKTS); /* every peer stored once */
	for (int round = 0; round < 5; round++) {
		for (int k = 0; k < 3; k++) {
			double r;

			f.conf.ratelimit_requests_per_second = k ? 1000000 : 0;
			f.conf.ratelimit_burst = 1000000;
			f.conf.max_peers_per_source = k ? 32 : 0;
			snprintf(f.conf.limits_exempt, sizeof(f.conf.limits_exempt), "%s",
				 exempt[k]);
			worker_ctx_init(&f.w, &f.conf, f.seg, 0);
			r = bench_round(&f, items, BENCH_PKTS);
			best[k] = r > best[k] ? r : best[k];
		}
	}
	assert_int_equal(total(&f, COUNTERS_drop_ratelimited), 0);
	assert_int_equal(total(&f, COUNTERS_drop_connid_forged), 0);
	for (int k = 0; k < 3; k++)
		printf("# worker_handle_batch with limits %s: %.0f requests/s of thread CPU (%.3f)\n",
		       what[k], best[k], best[k] / best[0]);
	assert_true(best[1] > best[0] * 0.5);
	segment_close(f.seg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_then_rate),
		cmocka_unit_test(test_clock_behind_does_not_refill),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_off_and_exempt),
		cmocka_unit_test(test_shared_across_processes),
		cmocka_unit_test(test_cost),
		cmocka_unit_test(test_source_cap_small_swarm),
		cmocka_unit_test(test_source_cap_ipv6_prefix),
		cmocka_unit_test(test_source_cap_big_swarm),
		cmocka_unit_test(test_worker_rate_limit),
		cmocka_unit_test(test_no_amplification),
		cmocka_unit_test(test_cost_in_worker),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
