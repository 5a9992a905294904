/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/test_torrents.c - the striped torrent table on a real segment.
 *
 * Every operation of shm/torrents.h: announce (insert, update, seeder,
 * stopped, completed), the random peer choice (no repeats, never the
 * requester, right family, numwant caps, even frequencies), scrape,
 * cleaning (peer_max_age boundary, torrent_keep), capacity exhaustion and
 * recovery, a 100,000-peer swarm against a reference, iteration, gauges;
 * then several processes hammering one segment while another cleans, and
 * a stripe-lock holder killed with SIGKILL mid-update.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "shm/segment.h"
#include "shm/torrents.h"

static const uint8_t connid_key[SEGMENT_KEY_LEN] = { 1, 2, 3 };

struct fix {
	struct segment *seg;
	struct torrents *t;
};

static struct fix *fix_new(uint64_t torrents, uint64_t peers4, uint64_t peers6)
{
	struct segment_params p = { torrents, peers4, peers6 };
	struct fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(segment_create(&p, connid_key, &f->seg), 0);
	f->t = segment_torrents(f->seg);
	return f;
}

static void fix_free(struct fix *f)
{
	segment_close(f->seg);
	free(f);
}

static void hash_of(uint8_t ih[20], uint32_t n)
{
	unsigned i;

	for (i = 0; i < 20; i++)
		ih[i] = (uint8_t)(n * 2654435761u >> (i % 4 * 8)) ^ (uint8_t)i;
	memcpy(ih, &n, sizeof(n));
}

static struct torrents_peer peer4(uint32_t n, uint16_t port)
{
	struct torrents_peer p = { { 10, (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n },
				   port,
				   false };
	return p;
}

static struct torrents_peer peer6(uint32_t n, uint16_t port)
{
	struct torrents_peer p = { { 0x20, 0x01, 0x0d, 0xb8 }, port, true };

	p.addr[13] = (uint8_t)(n >> 16);
	p.addr[14] = (uint8_t)(n >> 8);
	p.addr[15] = (uint8_t)n;
	return p;
}

static struct torrents_result ann(struct torrents *t, const uint8_t *ih, struct torrents_peer p,
				  uint32_t event, bool seeding, unsigned numwant, uint32_t now,
				  uint8_t *out)
{
	struct torrents_announce a = { ih, p, event, seeding, numwant, now };
	struct torrents_result r;
	static uint8_t sink[18 * 256];

	assert_true(numwant <= 256);
	assert_int_equal(torrents_announce(t, &a, out ? out : sink, &r), 0);
	return r;
}

static struct torrents_counts scrape1(struct torrents *t, const uint8_t *ih)
{
	struct torrents_counts c;

	torrents_scrape(t, ih, 1, &c);
	return c;
}

static void check_ok(struct torrents *t)
{
	char why[256] = "";
	int rc = torrents_check_quiescent(t, why, sizeof(why));

	if (rc)
		fail_msg("torrents_check_quiescent: %d %s", rc, why);
}

static void clean_all(struct torrents *t, uint32_t now, uint32_t max_age, uint32_t keep,
		      struct torrents_clean_result *sum)
{
	struct torrents_clean_result r;
	unsigned s;

	memset(sum, 0, sizeof(*sum));
	for (s = 0; s < torrents_stripe_count(t); s++) {
		assert_int_equal(torrents_clean_stripe(t, s, now, max_age, keep, &r), 0);
		sum->peers4_removed += r.peers4_removed;
		sum->peers6_removed += r.peers6_removed;
		sum->torrents_removed += r.torrents_removed;
	}
}

/* --- basic operations ------------------------------------------------------ */

static void test_announce_basic(void **state)
{
	struct fix *f = fix_new(1000, 1000, 1000);
	struct torrents_result r;
	struct torrents_counts c;
	struct torrents_gauges g;
	uint8_t ih[20], other[20], out[6 * 50];

	(void)state;
	hash_of(ih, 1);
	hash_of(other, 2);
	c = scrape1(f->t, ih);
	assert_int_equal(c.seeders + c.leechers + c.completed, 0);

	r = ann(f->t, ih, peer4(1, 6881), TORRENTS_EVENT_STARTED, false, 50, 100, out);
	assert_int_equal(r.refused, TORRENTS_STORED);
	assert_int_equal(r.seeders, 0);
	assert_int_equal(r.leechers, 1);
	assert_int_equal(r.npeers, 0); /* only itself in the swarm */

	r = ann(f->t, ih, peer4(2, 6881), TORRENTS_EVENT_NONE, true, 50, 101, out);
	assert_int_equal(r.seeders, 1);
	assert_int_equal(r.leechers, 1);
	assert_int_equal(r.npeers, 1);
	assert_memory_equal(out, ((uint8_t[]){ 10, 0, 0, 1, 0x1a, 0xe1 }), 6);

	/* Same address, other port: another peer. */
	r = ann(f->t, ih, peer4(2, 6882), TORRENTS_EVENT_NONE, false, 50, 101, out);
	assert_int_equal(r.leechers, 2);
	assert_int_equal(r.npeers, 2);

	/* Update: the leecher becomes a seeder, no new peer. */
	r = ann(f->t, ih, peer4(1, 6881), TORRENTS_EVENT_NONE, true, 50, 102, out);
	assert_int_equal(r.seeders, 2);
	assert_int_equal(r.leechers, 1);

	/* Stopped removes and returns no peers. */
	r = ann(f->t, ih, peer4(2, 6882), TORRENTS_EVENT_STOPPED, false, 50, 103, out);
	assert_int_equal(r.seeders, 2);
	assert_int_equal(r.leechers, 0);
	assert_int_equal(r.npeers, 0);
	/* Stopped of an unknown peer changes nothing. */
	r = ann(f->t, ih, peer4(9, 6882), TORRENTS_EVENT_STOPPED, false, 50, 103, out);
	assert_int_equal(r.seeders, 2);
	/* Stopped of an unknown torrent does not create it. */
	r = ann(f->t, other, peer4(9, 6882), TORRENTS_EVENT_STOPPED, false, 50, 103, out);
	assert_int_equal(r.seeders + r.leechers, 0);
	torrents_get_gauges(f->t, &g);
	assert_int_equal(g.torrents, 1);
	assert_int_equal(g.peers4, 2);
	assert_int_equal(g.seeders, 2);

	c = scrape1(f->t, ih);
	assert_int_equal(c.seeders, 2);
	assert_int_equal(c.leechers, 0);
	assert_int_equal(c.completed, 0);
	/* Port 0 is a caller bug. */
	{
		struct torrents_announce a = { ih, peer4(1, 0), 0, false, 0, 1 };
		assert_int_equal(torrents_announce(f->t, &a, out, &r), -EINVAL);
	}
	check_ok(f->t);
	fix_free(f);
}

static void test_families(void **state)
{
	struct fix *f = fix_new(1000, 1000, 1000);
	struct torrents_result r;
	uint8_t ih[20], out[18 * 50];
	unsigned i;

	(void)state;
	hash_of(ih, 7);
	for (i = 0; i < 5; i++)
		ann(f->t, ih, peer4(i, 1000), 0, i < 2, 0, 10, NULL);
	for (i = 0; i < 3; i++)
		ann(f->t, ih, peer6(i, 2000), 0, i < 1, 0, 10, NULL);
	/* Counts are the whole swarm; peers only of the requester's family. */
	r = ann(f->t, ih, peer6(0, 2000), 0, true, 50, 11, out);
	assert_int_equal(r.seeders, 3);
	assert_int_equal(r.leechers, 5);
	assert_int_equal(r.npeers, 2);
	for (i = 0; i < r.npeers; i++) {
		assert_memory_equal(out + i * 18, ((uint8_t[]){ 0x20, 0x01, 0x0d, 0xb8 }), 4);
		assert_int_equal(out[i * 18 + 16], 2000 >> 8);
		assert_int_equal(out[i * 18 + 17], 2000 & 0xff);
		assert_false(out[i * 18 + 15] == 0); /* never the requester (::0) */
	}
	r = ann(f->t, ih, peer4(4, 1000), 0, false, 50, 11, out);
	assert_int_equal(r.npeers, 4);
	for (i = 0; i < r.npeers; i++)
		assert_int_equal(out[i * 6], 10);
	check_ok(f->t);
	fix_free(f);
}

/* Batches behave exactly like the same announces made one by one. */
static void test_announce_many(void **state)
{
	enum { N = 3000, B = 37 };
	struct fix *one = fix_new(500, 5000, 5000), *many = fix_new(500, 5000, 5000);
	static struct torrents_announce a[N];
	static struct torrents_result r1[N], r2[N];
	static uint8_t ih[N][20], out1[N][18 * 8], out2[N][18 * 8];
	uint8_t *outs[N];
	uint64_t x = 12345;
	unsigned i;

	(void)state;
	for (i = 0; i < N; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		hash_of(ih[i], (uint32_t)(x % 97)); /* repeats inside a batch */
		a[i] = (struct torrents_announce){ ih[i],
						   (x >> 8) & 1 ? peer6((x >> 20) % 50, 1) :
								  peer4((x >> 20) % 50, 1),
						   (x >> 30) % 5 == 0 ? TORRENTS_EVENT_STOPPED :
						   (x >> 30) % 5 == 1 ? TORRENTS_EVENT_COMPLETED :
									0,
						   (x >> 40) & 1,
						   (unsigned)(x >> 50) % 9,
						   1000 + i / 100 };
		outs[i] = out2[i];
	}
	for (i = 0; i < N; i++)
		assert_int_equal(torrents_announce(one->t, &a[i], out1[i], &r1[i]), 0);
	for (i = 0; i < N; i += B)
		assert_int_equal(torrents_announce_many(many->t, a + i, N - i < B ? N - i : B,
							outs + i, r2 + i),
				 0);
	for (i = 0; i < N; i++) {
		assert_int_equal(r1[i].seeders, r2[i].seeders);
		assert_int_equal(r1[i].leechers, r2[i].leechers);
		assert_int_equal(r1[i].npeers, r2[i].npeers);
		assert_int_equal(r1[i].refused, r2[i].refused);
	}
	/* A multi-hash scrape (several prefetch batches) equals single scrapes. */
	{
		struct torrents_counts all[100], c1;
		uint8_t hs[100 * 20];

		for (i = 0; i < 100; i++)
			hash_of(hs + i * 20, i); /* 97 known, 3 unknown */
		torrents_scrape(many->t, hs, 100, all);
		for (i = 0; i < 100; i++) {
			torrents_scrape(many->t, hs + i * 20, 1, &c1);
			assert_memory_equal(&c1, &all[i], sizeof(c1));
		}
		assert_int_equal(all[99].seeders + all[99].leechers + all[99].completed, 0);
	}
	check_ok(one->t);
	check_ok(many->t);
	fix_free(one);
	fix_free(many);
}

/* --- random choice ------------------------------------------------------- */

static void sample_case(struct torrents *t, uint32_t id, unsigned swarm, unsigned numwant,
			unsigned draws, double tol)
{
	uint8_t ih[20], out[6 * 256];
	unsigned *freq = calloc(swarm, sizeof(unsigned)), i, j, k, n, self;
	unsigned char *seen = calloc(swarm, 1);
	struct torrents_result r;
	double expect;

	assert_non_null(freq);
	assert_non_null(seen);
	hash_of(ih, id);
	for (i = 0; i < swarm; i++)
		ann(t, ih, peer4(i, 7000), 0, false, 0, 50, NULL);
	for (i = 0; i < draws; i++) {
		self = i % swarm;
		r = ann(t, ih, peer4(self, 7000), 0, false, numwant, 51, out);
		n = numwant < swarm - 1 ? numwant : swarm - 1;
		assert_int_equal(r.npeers, n);
		assert_int_equal(r.leechers, swarm);
		memset(seen, 0, swarm);
		for (j = 0; j < r.npeers; j++) {
			assert_int_equal(out[j * 6], 10);
			assert_int_equal(out[j * 6 + 4] << 8 | out[j * 6 + 5], 7000);
			k = (unsigned)out[j * 6 + 1] << 16 | out[j * 6 + 2] << 8 | out[j * 6 + 3];
			assert_true(k < swarm);
			assert_int_not_equal(k, self); /* never the requester */
			assert_false(seen[k]); /* no repeats */
			seen[k] = 1;
			freq[k]++;
		}
	}
	/* Every peer is drawn about equally often. */
	expect = (double)draws * (numwant < swarm - 1 ? numwant : swarm - 1) / (swarm - 1) *
		 (swarm - 1) / swarm;
	for (i = 0; i < swarm; i++) {
		if (freq[i] < expect * (1 - tol) || freq[i] > expect * (1 + tol))
			fail_msg("swarm %u numwant %u: peer %u drawn %u times, expected %.0f",
				 swarm, numwant, i, freq[i], expect);
	}
	free(freq);
	free(seen);
}

static void test_random_choice(void **state)
{
	struct fix *f = fix_new(1000, 20000, 100);

	(void)state;
	sample_case(f->t, 1, 10, 30, 200, 0.01); /* all of them, every time */
	sample_case(f->t, 2, 50, 5, 40000, 0.12); /* array: partial Fisher-Yates */
	sample_case(f->t, 3, 64, 30, 20000, 0.08); /* full array */
	/*
	 * Hash table: whole groups, surplus dropped uniformly (within a few
	 * percent, see shm/peers.h); 200,000 draws keep the binomial noise of
	 * the extremes near 6%.
	 */
	sample_case(f->t, 4, 2000, 30, 200000, 0.12);
	check_ok(f->t);
	fix_free(f);
}

/* --- completed, expiry, keep --------------------------------------------- */

static void test_completed(void **state)
{
	struct fix *f = fix_new(100, 100, 100);
	uint8_t ih[20];

	(void)state;
	hash_of(ih, 3);
	ann(f->t, ih, peer4(1, 1), TORRENTS_EVENT_STARTED, false, 0, 10, NULL);
	ann(f->t, ih, peer4(1, 1), TORRENTS_EVENT_COMPLETED, true, 0, 11, NULL);
	assert_int_equal(scrape1(f->t, ih).completed, 1);
	/* The same peer again: still one. */
	ann(f->t, ih, peer4(1, 1), TORRENTS_EVENT_COMPLETED, true, 0, 12, NULL);
	ann(f->t, ih, peer4(1, 1), TORRENTS_EVENT_NONE, true, 0, 13, NULL);
	ann(f->t, ih, peer4(1, 1), TORRENTS_EVENT_COMPLETED, true, 0, 14, NULL);
	assert_int_equal(scrape1(f->t, ih).completed, 1);
	/* A new peer announcing completed first thing counts. */
	ann(f->t, ih, peer6(1, 1), TORRENTS_EVENT_COMPLETED, true, 0, 15, NULL);
	assert_int_equal(scrape1(f->t, ih).completed, 2);
	/* Documented: a peer that left and comes back is a new peer. */
	ann(f->t, ih, peer4(1, 1), TORRENTS_EVENT_STOPPED, true, 0, 16, NULL);
	assert_int_equal(scrape1(f->t, ih).completed, 2);
	ann(f->t, ih, peer4(1, 1), TORRENTS_EVENT_COMPLETED, true, 0, 17, NULL);
	assert_int_equal(scrape1(f->t, ih).completed, 3);
	assert_int_equal(scrape1(f->t, ih).seeders, 2);
	check_ok(f->t);
	fix_free(f);
}

static void test_expiry(void **state)
{
	struct fix *f = fix_new(100, 100, 100);
	struct torrents_clean_result cr;
	uint32_t t0, age = 1800;
	uint8_t ih[20];
	unsigned i;

	(void)state;
	hash_of(ih, 4);
	/* Every phase of the 8-second tick: kept at peer_max_age, gone 16 s later. */
	for (i = 0; i < 8; i++) {
		t0 = 100001 + i;
		ann(f->t, ih, peer4(1, 1), 0, true, 0, t0, NULL);
		ann(f->t, ih, peer6(1, 1), 0, false, 0, t0, NULL);
		ann(f->t, ih, peer4(2, 1), 0, false, 0, t0 + 100, NULL);
		clean_all(f->t, t0 + age, age, 0, &cr);
		assert_int_equal(cr.peers4_removed + cr.peers6_removed, 0);
		assert_int_equal(scrape1(f->t, ih).seeders, 1);
		clean_all(f->t, t0 + age + 16, age, 0, &cr);
		assert_int_equal(cr.peers4_removed, 1);
		assert_int_equal(cr.peers6_removed, 1);
		assert_int_equal(cr.torrents_removed, 0);
		assert_int_equal(scrape1(f->t, ih).seeders, 0);
		assert_int_equal(scrape1(f->t, ih).leechers, 1);
		/* A peer seen "after" the cleaner's now (another clock read) is fresh. */
		ann(f->t, ih, peer4(3, 1), 0, false, 0, t0 + age + 60, NULL);
		clean_all(f->t, t0 + age + 24, age, 0, &cr);
		assert_int_equal(cr.peers4_removed, 0);
		clean_all(f->t, t0 + 2 * age + 200, age, 0, &cr);
		assert_int_equal(cr.peers4_removed, 2);
		assert_int_equal(cr.torrents_removed, 1); /* empty, never completed */
		assert_int_equal(scrape1(f->t, ih).leechers, 0);
		check_ok(f->t);
	}
	/* The longest ages the configuration allows: a day without cleaning, 12 h peers. */
	ann(f->t, ih, peer4(5, 1), 0, false, 0, 500000, NULL);
	clean_all(f->t, 500000 + TORRENTS_MAX_PEER_AGE, TORRENTS_MAX_PEER_AGE, 0, &cr);
	assert_int_equal(cr.peers4_removed, 0);
	clean_all(f->t, 500000 + 86400, TORRENTS_MAX_PEER_AGE, 0, &cr);
	assert_int_equal(cr.peers4_removed, 1);
	assert_int_equal(torrents_clean_stripe(f->t, 0, 1, TORRENTS_MAX_PEER_AGE + 1, 0, &cr),
			 -EINVAL);
	assert_int_equal(torrents_clean_stripe(f->t, torrents_stripe_count(f->t), 1, 10, 0, &cr),
			 -EINVAL);
	fix_free(f);
}

static void test_torrent_keep(void **state)
{
	struct fix *f = fix_new(100, 100, 100);
	struct torrents_clean_result cr;
	struct torrents_gauges g;
	uint8_t a[20], b[20];

	(void)state;
	hash_of(a, 10);
	hash_of(b, 11);
	ann(f->t, a, peer4(1, 1), TORRENTS_EVENT_COMPLETED, true, 0, 1000, NULL);
	ann(f->t, b, peer4(1, 1), 0, true, 0, 1000, NULL);
	/* Both go empty by stopped at 1010. */
	ann(f->t, a, peer4(1, 1), TORRENTS_EVENT_STOPPED, true, 0, 1010, NULL);
	ann(f->t, b, peer4(1, 1), TORRENTS_EVENT_STOPPED, true, 0, 1010, NULL);
	clean_all(f->t, 1020, 600, 3600, &cr);
	assert_int_equal(cr.torrents_removed, 1); /* b: nothing to keep */
	torrents_get_gauges(f->t, &g);
	assert_int_equal(g.torrents, 1);
	assert_int_equal(g.completed, 1);
	clean_all(f->t, 1010 + 3599, 600, 3600, &cr);
	assert_int_equal(cr.torrents_removed, 0);
	assert_int_equal(scrape1(f->t, a).completed, 1);
	/* A peer in between restarts the clock when it leaves again. */
	ann(f->t, a, peer4(2, 1), 0, false, 0, 4000, NULL);
	clean_all(f->t, 4000 + 700, 600, 3600, &cr); /* expires at 4700: empty since 4700 */
	assert_int_equal(cr.peers4_removed, 1);
	assert_int_equal(cr.torrents_removed, 0);
	clean_all(f->t, 4700 + 3599, 600, 3600, &cr);
	assert_int_equal(cr.torrents_removed, 0);
	clean_all(f->t, 4700 + 3600, 600, 3600, &cr);
	assert_int_equal(cr.torrents_removed, 1);
	assert_int_equal(scrape1(f->t, a).completed, 0);
	torrents_get_gauges(f->t, &g);
	assert_int_equal(g.torrents, 0);
	assert_int_equal(g.completed, 0);
	check_ok(f->t);
	fix_free(f);
}

/* --- iterate and gauges ------------------------------------------------- */

struct itsum {
	uint64_t torrents, peers, seeders, leechers, stop_after, min_peers;
};

static int it_fn(const struct torrents_view *v, void *arg)
{
	struct itsum *s = arg;

	s->torrents++;
	s->peers += v->npeers4 + v->npeers6;
	s->seeders += v->seeders;
	s->leechers += v->leechers;
	if (s->torrents == 1 || v->npeers4 + v->npeers6 < s->min_peers)
		s->min_peers = v->npeers4 + v->npeers6;
	return s->stop_after && s->torrents >= s->stop_after;
}

/* --- capacity ------------------------------------------------------------- */

static void test_table_full(void **state)
{
	struct fix *f = fix_new(16, 1000, 100);
	struct torrents_clean_result cr;
	struct torrents_result r;
	struct torrents_gauges g;
	uint8_t ih[20];
	uint32_t n, stored = 0, refused = 0, i;

	(void)state;
	for (n = 0; n < 400; n++) {
		hash_of(ih, 1000 + n);
		r = ann(f->t, ih, peer4(1, 1), 0, false, 0, 10, NULL);
		if (r.refused == TORRENTS_REFUSED_TABLE) {
			refused++;
			assert_int_equal(r.seeders + r.leechers, 0);
			assert_int_equal(scrape1(f->t, ih).leechers, 0);
		} else {
			stored++;
		}
	}
	assert_true(stored >= 16);
	assert_true(refused > 0);
	torrents_get_gauges(f->t, &g);
	assert_int_equal(g.refused_table, refused);
	assert_int_equal(g.torrents, stored);
	/* Known torrents still take new peers and updates. */
	for (n = 0, i = 0; n < 400 && i < 5; n++) {
		hash_of(ih, 1000 + n);
		if (scrape1(f->t, ih).leechers == 1) {
			r = ann(f->t, ih, peer4(2, 1), 0, true, 10, 11, NULL);
			assert_int_equal(r.refused, TORRENTS_STORED);
			assert_int_equal(r.seeders, 1);
			assert_int_equal(r.leechers, 1);
			i++;
		}
	}
	check_ok(f->t);
	/* After cleaning, new torrents fit again. */
	clean_all(f->t, 10 + 700, 600, 0, &cr);
	assert_int_equal(cr.torrents_removed, stored);
	hash_of(ih, 99999);
	r = ann(f->t, ih, peer4(1, 1), 0, false, 0, 800, NULL);
	assert_int_equal(r.refused, TORRENTS_STORED);
	check_ok(f->t);
	fix_free(f);
}

static void test_arena_full(void **state)
{
	struct fix *f = fix_new(1000, 50, 10);
	struct torrents_clean_result cr;
	struct torrents_result r;
	struct torrents_gauges g;
	uint8_t ih[20];
	uint32_t n, stored = 0, refused = 0;

	(void)state;
	/* Many small swarms until the IPv4 arena is exhausted. */
	for (n = 0; n < 2000; n++) {
		hash_of(ih, n / 3);
		r = ann(f->t, ih, peer4(n, 1), 0, false, 0, 10, NULL);
		if (r.refused == TORRENTS_REFUSED_ARENA)
			refused++;
		else
			stored++;
	}
	assert_true(stored >= 100);
	assert_true(refused > 0);
	torrents_get_gauges(f->t, &g);
	assert_int_equal(g.refused_arena, refused);
	assert_int_equal(g.peers4, stored);
	assert_true(g.arena4_bytes_top <= g.arena4_bytes_size);
	/* A new torrent refused for lack of arena is not kept. */
	{
		struct itsum sum = { 0 };
		unsigned s;

		for (s = 0; s < torrents_stripe_count(f->t); s++)
			torrents_iterate_stripe(f->t, s, it_fn, &sum);
		assert_int_equal(sum.torrents, g.torrents);
		assert_true(sum.min_peers >= 1);
	}
	/* IPv6 has its own arena. */
	r = ann(f->t, ih, peer6(1, 1), 0, false, 0, 10, NULL);
	assert_int_equal(r.refused, TORRENTS_STORED);
	/* Known peers still update. */
	hash_of(ih, 0);
	r = ann(f->t, ih, peer4(0, 1), TORRENTS_EVENT_COMPLETED, true, 5, 300, NULL);
	assert_int_equal(r.refused, TORRENTS_STORED);
	assert_int_equal(r.seeders, 1);
	assert_int_equal(r.leechers, 2);
	assert_int_equal(r.npeers, 2);
	check_ok(f->t);
	/* Cleaning frees the arena; new peers fit again. */
	clean_all(f->t, 10 + 616, 600, 0, &cr);
	assert_int_equal(cr.peers4_removed, stored - 1);
	hash_of(ih, 5000);
	r = ann(f->t, ih, peer4(1, 1), 0, false, 0, 720, NULL);
	assert_int_equal(r.refused, TORRENTS_STORED);
	torrents_get_gauges(f->t, &g);
	assert_int_equal(g.peers4, 2);
	check_ok(f->t);
	fix_free(f);
}

/* One swarm alone fills a small arena: the table stops growing, fills up, refuses. */
static void test_big_swarm_full(void **state)
{
	struct fix *f = fix_new(10, 3000, 10);
	struct torrents_clean_result cr;
	struct torrents_result r;
	struct torrents_gauges g;
	uint8_t ih[20], out[6 * 30];
	uint32_t n, stored = 0;

	(void)state;
	hash_of(ih, 77);
	for (n = 0; n < 8000; n++) {
		r = ann(f->t, ih, peer4(n, 2), 0, n & 1, 0, 10, NULL);
		if (r.refused == TORRENTS_STORED)
			stored++;
		else
			assert_int_equal(r.refused, TORRENTS_REFUSED_ARENA);
	}
	torrents_get_gauges(f->t, &g);
	assert_int_equal(g.peers4, stored);
	assert_int_equal(g.refused_arena, 8000 - stored);
	assert_true(stored >= 1000);
	check_ok(f->t);
	/* Every stored peer is still found and updated, and gets a full reply. */
	for (n = 0; n < stored; n += 97) {
		r = ann(f->t, ih, peer4(n, 2), 0, true, 30, 300, out);
		assert_int_equal(r.refused, TORRENTS_STORED);
		assert_int_equal(r.seeders + r.leechers, stored);
		assert_int_equal(r.npeers, 30);
	}
	check_ok(f->t);
	/* Expire the early half: the table shrinks and new peers fit again. */
	clean_all(f->t, 10 + 616, 600, 0, &cr);
	assert_int_equal(cr.peers4_removed, stored - (stored + 96) / 97);
	for (n = 0; n < 100; n++) {
		r = ann(f->t, ih, peer4(100000 + n, 2), 0, false, 0, 640, NULL);
		assert_int_equal(r.refused, TORRENTS_STORED);
	}
	check_ok(f->t);
	fix_free(f);
}

/* --- a large swarm against a reference --------------------------------------- */

static void test_large_swarm(void **state)
{
	enum { N = 100000 };
	struct fix *f = fix_new(100, 150000, 100);
	struct torrents_clean_result cr;
	struct torrents_result r;
	struct torrents_counts c;
	uint8_t ih[20], *present = calloc(N, 1), *seed = calloc(N, 1), out[6 * 64];
	uint32_t i, k, n = 0, seeders = 0, step;
	uint64_t x = 88172645463325252ULL;

	(void)state;
	assert_non_null(present);
	assert_non_null(seed);
	hash_of(ih, 42);
	/* Insert all, in scrambled order. */
	for (i = 0; i < N; i++) {
		k = (uint32_t)((uint64_t)i * 7919 % N);
		seed[k] = k % 3 == 0;
		r = ann(f->t, ih, peer4(k, (uint16_t)(1 + k % 60000)), 0, seed[k], 0, 100, NULL);
		assert_int_equal(r.refused, TORRENTS_STORED);
		present[k] = 1;
		n++;
		seeders += seed[k];
	}
	c = scrape1(f->t, ih);
	assert_int_equal(c.seeders, seeders);
	assert_int_equal(c.seeders + c.leechers, n);
	check_ok(f->t);
	/* Random updates, removals and re-inserts. */
	for (step = 0; step < 300000; step++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		k = (uint32_t)(x % N);
		if (x >> 60 < 5) {
			r = ann(f->t, ih, peer4(k, (uint16_t)(1 + k % 60000)),
				TORRENTS_EVENT_STOPPED, false, 0, 101, NULL);
			if (present[k]) {
				n--;
				seeders -= seed[k];
				present[k] = 0;
			}
		} else {
			bool s = (x >> 40) & 1;

			r = ann(f->t, ih, peer4(k, (uint16_t)(1 + k % 60000)), 0, s, 20, 101, out);
			assert_int_equal(r.npeers, 20);
			if (present[k])
				seeders -= seed[k];
			else
				n++;
			present[k] = 1;
			seed[k] = s;
			seeders += s;
		}
		assert_int_equal(r.seeders, seeders);
		assert_int_equal(r.leechers, n - seeders);
	}
	check_ok(f->t);
	/* Remove down to a few, through the array conversion. */
	for (k = 0; k < N; k++) {
		if (!present[k] || n <= 5)
			continue;
		r = ann(f->t, ih, peer4(k, (uint16_t)(1 + k % 60000)), TORRENTS_EVENT_STOPPED,
			false, 0, 102, NULL);
		n--;
		seeders -= seed[k];
		present[k] = 0;
		assert_int_equal(r.seeders + r.leechers, n);
	}
	c = scrape1(f->t, ih);
	assert_int_equal(c.seeders, seeders);
	assert_int_equal(c.seeders + c.leechers, 5);
	check_ok(f->t);
	clean_all(f->t, 102 + 4000, 3600, 0, &cr);
	assert_int_equal(cr.peers4_removed, 5);
	assert_int_equal(cr.torrents_removed, 1);
	check_ok(f->t);
	free(present);
	free(seed);
	fix_free(f);
}

/* Expiry inside a large table (cleaning with backward shifts). */
static void test_large_clean(void **state)
{
	struct fix *f = fix_new(100, 20000, 100);
	struct torrents_clean_result cr;
	uint8_t ih[20];
	uint32_t i;

	(void)state;
	hash_of(ih, 43);
	for (i = 0; i < 10000; i++)
		ann(f->t, ih, peer4(i, 5), 0, i % 2, 0, i % 2 ? 1000 : 3000, NULL);
	clean_all(f->t, 3000, 1800, 0, &cr);
	assert_int_equal(cr.peers4_removed, 5000);
	assert_int_equal(scrape1(f->t, ih).seeders, 0);
	assert_int_equal(scrape1(f->t, ih).leechers, 5000);
	check_ok(f->t);
	fix_free(f);
}

static void test_iterate_gauges(void **state)
{
	struct fix *f = fix_new(2000, 10000, 1000);
	struct torrents_gauges g;
	struct itsum sum = { 0 };
	uint8_t ih[20];
	unsigned s, i;

	(void)state;
	for (i = 0; i < 3000; i++) {
		hash_of(ih, i % 700);
		ann(f->t, ih, i % 5 ? peer4(i, 9) : peer6(i, 9), 0, i % 4 == 0, 0, 5, NULL);
	}
	assert_true(torrents_stripe_count(f->t) > 1);
	for (s = 0; s < torrents_stripe_count(f->t); s++)
		assert_int_equal(torrents_iterate_stripe(f->t, s, it_fn, &sum), 0);
	torrents_get_gauges(f->t, &g);
	assert_int_equal(sum.torrents, 700);
	assert_int_equal(g.torrents, 700);
	assert_int_equal(g.peers4, 2400);
	assert_int_equal(g.peers6, 600);
	assert_int_equal(sum.peers, 3000);
	assert_int_equal(sum.seeders, g.seeders);
	assert_int_equal(sum.leechers, g.leechers);
	assert_int_equal(g.seeders, 750);
	assert_true(g.arena4_bytes_used >= 2400 * 8);
	assert_true(g.arena6_bytes_used >= 600 * 20);
	/* Early stop. */
	memset(&sum, 0, sizeof(sum));
	sum.stop_after = 1;
	for (s = 0; s < torrents_stripe_count(f->t); s++)
		if (torrents_iterate_stripe(f->t, s, it_fn, &sum))
			break;
	assert_int_equal(sum.torrents, 1);
	check_ok(f->t);
	fix_free(f);
}

/* --- processes ------------------------------------------------------------ */

/* In a child: no cmocka asserts (a failure must end the child, not resume the runner). */
static void cann(struct torrents *t, const uint8_t *ih, struct torrents_peer p, uint32_t event,
		 bool seeding, unsigned numwant, uint32_t now, uint8_t *out)
{
	struct torrents_announce a = { ih, p, event, seeding, numwant, now };
	struct torrents_result r;

	if (torrents_announce(t, &a, out, &r) || r.npeers > numwant)
		_exit(9);
}

static void child_hammer(struct torrents *t, unsigned seed, unsigned ops)
{
	uint64_t x = 0x9e3779b97f4a7c15ULL * (seed + 1);
	uint8_t ih[20], out[18 * 50];
	struct torrents_counts c[4];
	uint8_t hs[80];
	unsigned i, j;

	for (i = 0; i < ops; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		hash_of(ih, (uint32_t)(x % 150));
		switch ((x >> 20) % 10) {
		case 0:
			cann(t, ih,
			     (x >> 30) & 1 ? peer6((x >> 32) % 300, 3) : peer4((x >> 32) % 300, 3),
			     TORRENTS_EVENT_STOPPED, false, 0, 1000 + i / 200, out);
			break;
		case 1:
			for (j = 0; j < 4; j++)
				hash_of(hs + j * 20, (uint32_t)((x >> (8 * j)) % 150));
			torrents_scrape(t, hs, 4, c);
			break;
		case 2: {
			/* A batch (the pipelined path) of 20 announces. */
			struct torrents_announce ba[20];
			struct torrents_result br[20];
			uint8_t bih[20][20], *outs[20];
			static uint8_t bout[20][18 * 8];

			for (j = 0; j < 20; j++) {
				hash_of(bih[j], (uint32_t)((x >> j) % 150));
				outs[j] = bout[j];
				ba[j] = (struct torrents_announce){
					bih[j],
					j & 1 ? peer6((x >> (j + 3)) % 300, 3) :
						peer4((x >> (j + 3)) % 300, 3),
					j % 5 == 0 ? TORRENTS_EVENT_STOPPED : 0,
					(x >> j) & 1,
					8,
					1000 + i / 200
				};
			}
			if (torrents_announce_many(t, ba, 20, outs, br))
				_exit(11);
			break;
		}
		default:
			cann(t, ih,
			     (x >> 30) & 1 ? peer6((x >> 32) % 300, 3) : peer4((x >> 32) % 300, 3),
			     (x >> 40) % 7 == 0 ? TORRENTS_EVENT_COMPLETED : 0, (x >> 44) & 1, 50,
			     1000 + i / 200, out);
		}
	}
}

static void test_processes(void **state)
{
	struct fix *f = fix_new(200, 20000, 20000);
	struct torrents_clean_result cr;
	struct torrents_gauges g;
	struct itsum sum = { 0 };
	pid_t pids[4];
	unsigned i, s, pass;
	int st, start[2];
	char c;

	(void)state;
	/* All children start together: they wait for the parent to close the pipe. */
	assert_int_equal(pipe(start), 0);
	for (i = 0; i < 4; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			close(start[1]);
			if (read(start[0], &c, 1) != 0)
				_exit(10);
			if (i < 3) {
				child_hammer(f->t, i, 400000);
			} else {
				for (pass = 0; pass < 800; pass++)
					for (s = 0; s < torrents_stripe_count(f->t); s++)
						if (torrents_clean_stripe(f->t, s,
									  1000 + pass * 5 / 2, 40,
									  30, &cr))
							_exit(2);
			}
			_exit(0);
		}
	}
	close(start[0]);
	close(start[1]);
	for (i = 0; i < 4; i++) {
		assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
	}
	check_ok(f->t);
	torrents_get_gauges(f->t, &g);
	for (s = 0; s < torrents_stripe_count(f->t); s++)
		torrents_iterate_stripe(f->t, s, it_fn, &sum);
	/* The cleaner's clock stops at 3000, the workers' last peers are newer than 2960. */
	assert_true(g.peers4 + g.peers6 > 0);
	assert_int_equal(g.seeders + g.leechers, sum.peers);
	assert_int_equal(g.peers4 + g.peers6, sum.peers);
	assert_int_equal(g.seeders, sum.seeders);
	assert_int_equal(g.torrents, sum.torrents);
	assert_int_equal(g.lock_recoveries, 0);
	print_message("processes: %llu peers, %llu torrents, %llu contended locks\n",
		      (unsigned long long)sum.peers, (unsigned long long)sum.torrents,
		      (unsigned long long)g.lock_contended);
	fix_free(f);
}

static void wait_byte(int fd, char want)
{
	struct pollfd p = { fd, POLLIN, 0 };
	char c = 0;

	assert_int_equal(poll(&p, 1, 20000), 1);
	assert_int_equal(read(fd, &c, 1), 1);
	assert_int_equal(c, want);
}

struct seen {
	uint32_t n;
};

static void test_crash_holder(void **state)
{
	enum { T = 600 };
	struct fix *f = fix_new(1000, 20000, 1000);
	struct torrents_counts before[T], after[T];
	struct torrents_gauges g;
	uint8_t ih[20], hashes[T * 20];
	unsigned victim, i, damaged = T, other = T;
	int ready[2], go[2], st;
	pid_t holder, waiter;
	char why[256];

	(void)state;
	for (i = 0; i < T; i++) {
		hash_of(hashes + i * 20, 50000 + i);
		ann(f->t, hashes + i * 20, peer4(i, 1), 0, i % 2, 0, 10, NULL);
		ann(f->t, hashes + i * 20, peer4(i, 2), 0, false, 0, 10, NULL);
		ann(f->t, hashes + i * 20, peer6(i, 3), 0, true, 0, 10, NULL);
	}
	victim = torrents_stripe_of(f->t, hashes);
	for (i = 0; i < T; i++) {
		if (torrents_stripe_of(f->t, hashes + i * 20) == victim) {
			if (damaged == T)
				damaged = i;
		} else if (other == T) {
			other = i;
		}
	}
	assert_true(damaged < T && other < T);
	torrents_scrape(f->t, hashes, T, before);
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(go), 0);

	holder = fork();
	assert_true(holder >= 0);
	if (holder == 0) {
		char c;

		if (torrents_debug_lock_stripe(f->t, victim,
					       TORRENTS_DAMAGE_TORN_INSERT |
						       TORRENTS_DAMAGE_TORN_REMOVE |
						       TORRENTS_DAMAGE_COUNTS))
			_exit(3);
		if (write(ready[1], "h", 1) != 1)
			_exit(4);
		/* Hold the lock until killed (bounded by the parent's poll). */
		if (read(go[0], &c, 1) < 0)
			_exit(5);
		_exit(5);
	}
	wait_byte(ready[0], 'h');

	/* Another process works on other stripes meanwhile, then blocks on the victim. */
	waiter = fork();
	assert_true(waiter >= 0);
	if (waiter == 0) {
		struct torrents_announce a = {
			hashes + other * 20, peer4(9999, 9), 0, true, 10, 11
		};
		struct torrents_result r;
		uint8_t out[18 * 10];

		if (torrents_announce(f->t, &a, out, &r) || r.seeders != before[other].seeders + 1)
			_exit(6);
		if (write(ready[1], "w", 1) != 1)
			_exit(7);
		a.info_hash = hashes + damaged * 20;
		a.peer = peer6(9999, 9);
		a.seeding = false;
		if (torrents_announce(f->t, &a, out, &r) || r.refused != TORRENTS_STORED)
			_exit(8);
		_exit(0);
	}
	wait_byte(ready[0], 'w');
	/* The parent carries on with other stripes too. */
	ann(f->t, hashes + other * 20, peer4(9998, 9), 0, false, 10, 11, NULL);

	assert_int_equal(kill(holder, SIGKILL), 0);
	assert_int_equal(waitpid(holder, &st, 0), holder);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(waitpid(waiter, &st, 0), waiter);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);

	if (torrents_check_quiescent(f->t, why, sizeof(why)))
		fail_msg("after recovery: %s", why);
	torrents_get_gauges(f->t, &g);
	assert_int_equal(g.lock_recoveries, 1);
	torrents_scrape(f->t, hashes, T, after);
	for (i = 0; i < T; i++) {
		if (i == other) {
			assert_int_equal(after[i].seeders, before[i].seeders + 1);
			assert_int_equal(after[i].leechers, before[i].leechers + 1);
		} else if (i == damaged) {
			/* The torn removal took one IPv4 peer; the waiter added an IPv6 one. */
			assert_int_equal(after[i].seeders + after[i].leechers,
					 before[i].seeders + before[i].leechers);
		} else {
			assert_memory_equal(&after[i], &before[i], sizeof(after[i]));
		}
	}
	/* The junk record of the torn insert is gone. */
	memset(ih, 0xee, sizeof(ih));
	assert_int_equal(scrape1(f->t, ih).leechers, 0);
	assert_int_equal(g.torrents, T);
	close(ready[0]);
	close(ready[1]);
	close(go[0]);
	close(go[1]);
	fix_free(f);
}

/*
 * Kill a busy worker at arbitrary points (usually inside a stripe, often
 * in the middle of moving a swarm to a new block), many times over: every
 * time, the next process to take the lock repairs the stripe, the table
 * checks clean, and no arena record is owned twice (a block being moved
 * may leak, which the quiescent check reports as such).
 */
static void test_crash_random(void **state)
{
	struct fix *f = fix_new(64, 40000, 20000);
	struct torrents_gauges g;
	struct pollfd p;
	int prog[2], round, st, rc;
	int64_t reclaimed;
	char why[256], c;
	pid_t pid;

	(void)state;
	for (round = 0; round < 25; round++) {
		assert_int_equal(pipe(prog), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			uint64_t x = 0x2545f4914f6cdd1dULL * (uint64_t)(round + 1);
			uint8_t ih[20], out[18 * 30];
			unsigned i;

			close(prog[0]);
			for (i = 0; i < 5000000; i++) {
				x ^= x << 13;
				x ^= x >> 7;
				x ^= x << 17;
				/* Few torrents, many peers: arrays grow into tables and back. */
				hash_of(ih, (uint32_t)(x % 6));
				cann(f->t, ih,
				     (x >> 8) & 1 ? peer6((x >> 20) % 3000, 1) :
						    peer4((x >> 20) % 3000, 1),
				     (x >> 40) % 3 == 0 ? TORRENTS_EVENT_STOPPED : 0, (x >> 44) & 1,
				     30, 1000, out);
				if (i == 2000u + (unsigned)round * 97 &&
				    write(prog[1], "p", 1) != 1)
					_exit(12);
			}
			_exit(0);
		}
		close(prog[1]);
		p = (struct pollfd){ prog[0], POLLIN, 0 };
		assert_int_equal(poll(&p, 1, 20000), 1);
		assert_int_equal(read(prog[0], &c, 1), 1);
		assert_int_equal(kill(pid, SIGKILL), 0);
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(WIFSIGNALED(st));
		close(prog[0]);
		rc = torrents_check(f->t, why, sizeof(why));
		if (rc)
			fail_msg("round %d: %s", round, why);
		rc = torrents_check_quiescent(f->t, why, sizeof(why));
		if (rc && !strstr(why, "leaked"))
			fail_msg("round %d: %s", round, why);
	}
	/* Whatever leaked is reclaimed; then the arenas account for every record. */
	reclaimed = torrents_reclaim(f->t);
	assert_true(reclaimed >= 0);
	check_ok(f->t);
	torrents_get_gauges(f->t, &g);
	print_message("crash rounds: %llu lock recoveries, %lld records reclaimed, %llu peers\n",
		      (unsigned long long)g.lock_recoveries, (long long)reclaimed,
		      (unsigned long long)(g.peers4 + g.peers6));
	/* And the reclaimed arena serves new swarms. */
	for (round = 0; round < 2000; round++) {
		uint8_t ih[20];

		hash_of(ih, 900 + round % 20);
		ann(f->t, ih, peer4((uint32_t)round, 9), 0, false, 5, 1000, NULL);
	}
	check_ok(f->t);
	fix_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_announce_basic), cmocka_unit_test(test_families),
		cmocka_unit_test(test_announce_many),  cmocka_unit_test(test_random_choice),
		cmocka_unit_test(test_completed),      cmocka_unit_test(test_expiry),
		cmocka_unit_test(test_torrent_keep),   cmocka_unit_test(test_table_full),
		cmocka_unit_test(test_arena_full),     cmocka_unit_test(test_big_swarm_full),
		cmocka_unit_test(test_large_swarm),    cmocka_unit_test(test_large_clean),
		cmocka_unit_test(test_iterate_gauges), cmocka_unit_test(test_processes),
		cmocka_unit_test(test_crash_holder),   cmocka_unit_test(test_crash_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
