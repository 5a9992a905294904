/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/tools/bench_store.c - memory and speed of the shared swarm store.
 *
 * Not a test: `make bench-store` prints figures for the README.
 *  1. Memory: loads T torrents and P IPv4 peers (default 10M and 30M) with
 *     Zipf popularity (swarm i has 1 + K/i peers: a dozen swarms of 100k+,
 *     nine in ten torrents with one peer), in random order, and prints
 *     segment bytes in use per IPv4 peer (arena high-water mark: live
 *     blocks, slack and blocks waiting on free lists) and per torrent
 *     (stripes, records and index, which are sized for the capacity and so
 *     counted whole), then the time to clean the whole table, once with
 *     nothing expired and once with everything expired. Then the same with
 *     IPv6 peers on a tenth of the load.
 *  2. Speed on one core: 1M torrents and 2M peers; re-announces by random
 *     existing peers (so swarms are hit in proportion to their size),
 *     numwant 30, and single-hash scrapes of random torrents; each run
 *     three times, median reported.
 *  3. Announce cost in a 100,000-peer swarm against a 10-peer swarm.
 *
 * Options: -t TORRENTS -p PEERS (memory load), -T -P (speed load),
 * -n ANNOUNCES per speed run.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shm/segment.h"
#include "shm/torrents.h"

static uint64_t seed = 0x853c49e6748fea9bULL;

static uint64_t rnd(void)
{
	uint64_t z = (seed += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void hash_of(uint8_t ih[20], uint32_t i)
{
	uint64_t a = mix(i + 1), b = mix(a), c = mix(b);

	memcpy(ih, &a, 8);
	memcpy(ih + 8, &b, 8);
	memcpy(ih + 16, &c, 4);
}

static struct torrents_peer peer_of(uint32_t t, uint32_t j, bool v6)
{
	uint64_t h = mix((uint64_t)t << 32 | j);
	struct torrents_peer p = { { 0 }, (uint16_t)(1 + (h >> 40) % 65535), v6 };

	if (v6) {
		uint64_t h2 = mix(h);

		p.addr[0] = 0x20;
		p.addr[1] = 0x01;
		memcpy(p.addr + 4, &h, 8);
		memcpy(p.addr + 12, &h2, 4);
	} else {
		memcpy(p.addr, &h, 4);
	}
	return p;
}

/* Zipf-like sizes summing to peers: 1 + floor(K / i), topped up at the tail. */
static uint32_t *zipf_sizes(uint32_t torrents, uint64_t peers)
{
	uint32_t *sz = malloc(sizeof(uint32_t) * torrents), i;
	double k = (double)(peers - torrents) / (log((double)torrents) + 0.5772);
	uint64_t sum = 0;

	if (!sz)
		abort();
	for (;;) {
		sum = 0;
		for (i = 0; i < torrents; i++) {
			sz[i] = 1 + (uint32_t)(k / (i + 1));
			sum += sz[i];
		}
		if (sum <= peers)
			break;
		k *= 0.999;
	}
	for (i = torrents; sum < peers; sum++) {
		i = i ? i - 1 : torrents - 1;
		sz[i]++;
	}
	return sz;
}

/* (torrent, peer index) pairs, shuffled. */
static uint64_t *pairs_of(const uint32_t *sz, uint32_t torrents, uint64_t peers)
{
	uint64_t *pr = malloc(sizeof(uint64_t) * peers), n = 0, i, j, t;
	uint32_t k, p;

	if (!pr)
		abort();
	for (k = 0; k < torrents; k++)
		for (p = 0; p < sz[k]; p++)
			pr[n++] = (uint64_t)k << 32 | p;
	for (i = n ? n - 1 : 0; i > 0; i--) { /* n - 1 would wrap for no peers */
		j = rnd() % (i + 1);
		t = pr[i];
		pr[i] = pr[j];
		pr[j] = t;
	}
	return pr;
}

static struct segment *load(uint32_t torrents, uint64_t peers, bool v6, uint64_t **ret_pairs,
			    double *ret_rate)
{
	struct segment_params p = { torrents, v6 ? 0 : peers, v6 ? peers : 0 };
	static const uint8_t key[SEGMENT_KEY_LEN] = { 1 };
	uint32_t *sz = zipf_sizes(torrents, peers), big = 0, one = 0, i;
	uint64_t *pr, n, refused = 0;
	struct torrents_announce a = { 0 };
	struct torrents_result r;
	struct segment *seg;
	struct torrents *t;
	uint8_t ih[20], out[18];
	double t0;

	for (i = 0; i < torrents; i++) {
		big += sz[i] >= 100000;
		one += sz[i] == 1;
	}
	printf("  load: %u torrents, %llu %s peers; largest swarm %u, %u swarms >= 100k, "
	       "%.1f%% with one peer\n",
	       torrents, (unsigned long long)peers, v6 ? "IPv6" : "IPv4", sz[0], big,
	       100.0 * one / torrents);
	if (segment_create(&p, key, &seg)) {
		fprintf(stderr, "segment_create failed\n");
		exit(1);
	}
	t = segment_torrents(seg);
	pr = pairs_of(sz, torrents, peers);
	free(sz);
	a.info_hash = ih;
	a.now = 1000;
	t0 = now_s();
	for (n = 0; n < peers; n++) {
		hash_of(ih, (uint32_t)(pr[n] >> 32));
		a.peer = peer_of((uint32_t)(pr[n] >> 32), (uint32_t)pr[n], v6);
		a.seeding = (pr[n] & 7) == 0;
		torrents_announce(t, &a, out, &r);
		refused += r.refused != TORRENTS_STORED;
	}
	*ret_rate = peers / (now_s() - t0);
	if (refused)
		printf("  (%llu announces refused while loading)\n", (unsigned long long)refused);
	*ret_pairs = pr;
	return seg;
}

static double clean_all(struct torrents *t, uint32_t now, uint64_t *removed)
{
	struct torrents_clean_result cr;
	double t0 = now_s();
	unsigned s;

	*removed = 0;
	for (s = 0; s < torrents_stripe_count(t); s++) {
		torrents_clean_stripe(t, s, now, 1800, 0, &cr);
		*removed += cr.peers4_removed + cr.peers6_removed;
	}
	return now_s() - t0;
}

static void memory(uint32_t torrents, uint64_t peers, bool v6)
{
	struct torrents_gauges g;
	struct segment *seg;
	struct torrents *t;
	uint64_t *pr, np, removed;
	size_t fixed;
	double rate, tc;

	seg = load(torrents, peers, v6, &pr, &rate);
	free(pr);
	t = segment_torrents(seg);
	torrents_get_gauges(t, &g);
	np = v6 ? g.peers6 : g.peers4;
	/* Header, arena headers and counter blocks: everything before the stripes. */
	fixed = segment_size(seg) - torrents_table_bytes(t) - g.arena4_bytes_size -
		g.arena6_bytes_size;
	printf("  loaded at %.2f M announces/s: %llu torrents, %llu peers; segment %.1f MiB "
	       "(reserved for the capacity)\n",
	       rate / 1e6, (unsigned long long)g.torrents, (unsigned long long)np,
	       segment_size(seg) / 1048576.0);
	if (v6) {
		printf("  bytes per IPv6 peer: %.2f in use (arena high-water), %.2f in live "
		       "blocks\n",
		       (double)g.arena6_bytes_top / np, (double)g.arena6_bytes_used / np);
	} else {
		printf("  bytes per IPv4 peer: %.2f in use (arena high-water), %.2f in live "
		       "blocks\n",
		       (double)g.arena4_bytes_top / np, (double)g.arena4_bytes_used / np);
	}
	printf("  bytes per torrent:   %.2f (stripes + records + index + %zu fixed)\n",
	       (double)(torrents_table_bytes(t) + fixed) / g.torrents, fixed);
	if (!v6) {
		tc = clean_all(t, 1000 + 600, &removed);
		printf("  clean whole table, nothing expired: %.2f s (%llu removed)\n", tc,
		       (unsigned long long)removed);
		tc = clean_all(t, 1000 + 1900, &removed);
		printf("  clean whole table, all expired:     %.2f s (%llu removed)\n", tc,
		       (unsigned long long)removed);
	}
	segment_close(seg);
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

#define BATCH 32

struct req {
	uint8_t ih[20];
	struct torrents_announce a;
};

/* Requests prepared before the clock starts: a worker has its packets in cache. */
static void make_reqs(struct req *q, uint64_t n, const uint64_t *pr, uint64_t peers, uint32_t now)
{
	uint64_t i, x;

	for (i = 0; i < n; i++) {
		x = pr[rnd() % peers];
		hash_of(q[i].ih, (uint32_t)(x >> 32));
		q[i].a = (struct torrents_announce){
			q[i].ih, peer_of((uint32_t)(x >> 32), (uint32_t)x, false),
			0,	 (x & 7) == 0,
			30,	 now
		};
	}
}

static void speed(uint32_t torrents, uint64_t peers, uint64_t n)
{
	struct torrents_announce ba[BATCH];
	struct torrents_result r, br[BATCH];
	static uint8_t out[BATCH][6 * 30];
	uint8_t *outs[BATCH], *hashes;
	struct torrents_counts c;
	struct segment *seg;
	struct torrents *t;
	struct req *q;
	uint64_t *pr, i, returned = 0;
	double ar[3], br3[3], sr[3], s74[3], t0, rate;
	struct torrents_counts sc[74];
	unsigned b;
	int run;

	seg = load(torrents, peers, false, &pr, &rate);
	t = segment_torrents(seg);
	q = malloc(sizeof(*q) * n);
	hashes = malloc((size_t)n * 20);
	if (!q || !hashes)
		abort();
	for (b = 0; b < BATCH; b++)
		outs[b] = out[b];
	for (run = 0; run < 3; run++) {
		/* One call per announce. */
		make_reqs(q, n, pr, peers, 1100 + run);
		t0 = now_s();
		for (i = 0; i < n; i++) {
			torrents_announce(t, &q[i].a, out[0], &r);
			returned += r.npeers;
		}
		ar[run] = n / (now_s() - t0);
		/* Batches of 32 (what one recvmmsg or io_uring completion round brings). */
		make_reqs(q, n, pr, peers, 1200 + run);
		t0 = now_s();
		for (i = 0; i + BATCH <= n; i += BATCH) {
			for (b = 0; b < BATCH; b++)
				ba[b] = q[i + b].a;
			torrents_announce_many(t, ba, BATCH, outs, br);
		}
		br3[run] = i / (now_s() - t0);
		for (i = 0; i < n; i++)
			hash_of(hashes + i * 20, (uint32_t)(rnd() % torrents));
		t0 = now_s();
		for (i = 0; i < n; i++)
			torrents_scrape(t, hashes + i * 20, 1, &c);
		sr[run] = n / (now_s() - t0);
		t0 = now_s();
		for (i = 0; i + 74 <= n; i += 74)
			torrents_scrape(t, hashes + i * 20, 74, sc);
		s74[run] = i / (now_s() - t0);
	}
	qsort(ar, 3, sizeof(double), cmp_d);
	qsort(br3, 3, sizeof(double), cmp_d);
	qsort(sr, 3, sizeof(double), cmp_d);
	qsort(s74, 3, sizeof(double), cmp_d);
	printf("  announces/s, numwant 30, one core, one call each: %.2f M median (%.2f, %.2f, "
	       "%.2f); %.1f peers returned on average\n",
	       ar[1] / 1e6, ar[0] / 1e6, ar[1] / 1e6, ar[2] / 1e6, (double)returned / (3 * n));
	printf("  announces/s, numwant 30, one core, batches of %d: %.2f M median (%.2f, %.2f, "
	       "%.2f)\n",
	       BATCH, br3[1] / 1e6, br3[0] / 1e6, br3[1] / 1e6, br3[2] / 1e6);
	printf("  scrapes/s, one hash, one core: %.2f M median (%.2f, %.2f, %.2f)\n", sr[1] / 1e6,
	       sr[0] / 1e6, sr[1] / 1e6, sr[2] / 1e6);
	printf("  scraped hashes/s, 74 per scrape, one core: %.2f M median (%.2f, %.2f, %.2f)\n",
	       s74[1] / 1e6, s74[0] / 1e6, s74[1] / 1e6, s74[2] / 1e6);
	free(q);
	free(hashes);
	free(pr);
	segment_close(seg);
}

/* ns per announce into swarm id of size peers, one call each or in batches of BATCH. */
static double swarm_cost(struct torrents *t, uint32_t id, uint32_t size, uint64_t n, bool batch)
{
	struct torrents_announce a = { 0 }, ba[BATCH];
	struct torrents_result r, br[BATCH];
	static uint8_t out[BATCH][6 * 30];
	uint8_t ih[20], *outs[BATCH];
	uint64_t i;
	uint32_t j;
	double t0;

	hash_of(ih, id);
	a.info_hash = ih;
	a.now = 1000;
	for (j = 0; j < size; j++) {
		a.peer = peer_of(id, j, false);
		torrents_announce(t, &a, out[0], &r);
	}
	a.numwant = 30;
	for (j = 0; j < BATCH; j++) {
		ba[j] = a;
		outs[j] = out[j];
	}
	t0 = now_s();
	if (batch) {
		for (i = 0; i + BATCH <= n; i += BATCH) {
			for (j = 0; j < BATCH; j++) {
				ba[j].peer = peer_of(id, (uint32_t)(rnd() % size), false);
				ba[j].seeding = j & 1;
			}
			torrents_announce_many(t, ba, BATCH, outs, br);
		}
	} else {
		for (i = 0; i < n; i++) {
			a.peer = peer_of(id, (uint32_t)(rnd() % size), false);
			a.seeding = i & 1;
			torrents_announce(t, &a, out[0], &r);
		}
	}
	return (now_s() - t0) / i * 1e9;
}

static void swarms(uint64_t n)
{
	struct segment_params p = { 1000, 300000, 0 };
	static const uint8_t key[SEGMENT_KEY_LEN] = { 2 };
	struct segment *seg;
	double big[3], small[3];
	int run, batch;

	if (segment_create(&p, key, &seg))
		exit(1);
	for (batch = 0; batch < 2; batch++) {
		for (run = 0; run < 3; run++) {
			big[run] = swarm_cost(segment_torrents(seg), 1, 100000, n, batch);
			small[run] = swarm_cost(segment_torrents(seg), 2, 10, n, batch);
		}
		qsort(big, 3, sizeof(double), cmp_d);
		qsort(small, 3, sizeof(double), cmp_d);
		printf("  announce into a 100,000-peer swarm: %.0f ns; into a 10-peer swarm: %.0f ns; "
		       "ratio %.2f (%s)\n",
		       big[1], small[1], big[1] / small[1],
		       batch ? "batches of 32" : "one call each");
	}
	segment_close(seg);
}

int main(int argc, char **argv)
{
	uint64_t mt = 10000000, mp = 30000000, st = 1000000, sp = 2000000, n = 3000000;
	int o;

	while ((o = getopt(argc, argv, "t:p:T:P:n:")) != -1) {
		switch (o) {
		case 't':
			mt = strtoull(optarg, NULL, 0);
			break;
		case 'p':
			mp = strtoull(optarg, NULL, 0);
			break;
		case 'T':
			st = strtoull(optarg, NULL, 0);
			break;
		case 'P':
			sp = strtoull(optarg, NULL, 0);
			break;
		case 'n':
			n = strtoull(optarg, NULL, 0);
			break;
		default:
			fprintf(stderr, "usage: %s [-t T] [-p P] [-T T] [-P P] [-n N]\n", argv[0]);
			return 2;
		}
	}
	if (mp < mt || sp < st || !mt || !st || !n) {
		fprintf(stderr, "peers must be at least torrents\n");
		return 2;
	}
	printf("memory, IPv4:\n");
	memory((uint32_t)mt, mp, false);
	printf("memory, IPv6:\n");
	memory((uint32_t)(mt / 10), mp / 10, true);
	printf("speed:\n");
	speed((uint32_t)st, sp, n);
	swarms(n / 3);
	return 0;
}
