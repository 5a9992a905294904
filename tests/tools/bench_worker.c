/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/tools/bench_worker.c - the CPU cost of a worker's request path.
 *
 * Feeds pre-built datagrams through worker_handle_batch() in this process,
 * batches of 64 as the socket loops hand them over, with no socket in the
 * way: what is measured is exactly the user-space work a worker does per
 * request (parse, connection-id check, access list, rate limit, store,
 * reply), the part of a worker's time that the echo ceiling of the shared
 * bench kit does not have. The load follows that kit's generator: a mix of
 * announces, scrapes and connects from one source address, peers bound to
 * torrents of Zipf popularity, each with its own announced port.
 *
 *   bench_worker [-m A:S:C] [-T torrents] [-P peers] [-N numwant]
 *                [-n requests] [-r runs] [-o KEY=VALUE]...
 *
 * Prints one line per run and the median: nanoseconds of process CPU time
 * per request. The -o options are trackerd.conf keys (huge_pages, ...).
 */
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "daemon/conf.h"
#include "daemon/connid.h"
#include "daemon/log.h"
#include "daemon/udpt.h"
#include "daemon/worker.h"
#include "shm/segment.h"

#define RING 65536u /* requests built up front, replayed in order */
#define MAX_OPTS 32
#define MAX_RUNS 15
#define SCRAPE_MAX 5
#define REQ_MAX (16 + SCRAPE_MAX * 20)

struct peer {
	uint32_t torrent;
	uint16_t port;
	uint8_t seeder;
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

/* The splitmix64 finaliser: the generator and the info-hashes both use it. */
static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t rnd(void)
{
	return mix64(rng_state += 0x9e3779b97f4a7c15ull);
}

static double rnd01(void)
{
	return (double)(rnd() >> 11) / 9007199254740992.0;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

/* Torrent index of Zipf(s) popularity: binary search in the cumulative table. */
static uint32_t zipf(const double *cdf, uint32_t n)
{
	double u = rnd01() * cdf[n - 1];
	uint32_t lo = 0, hi = n - 1;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Torrent t's info-hash: a fixed function of t, not of the generator's state. */
static void hash_of(uint32_t t, uint8_t out[20])
{
	for (unsigned i = 0; i < 20; i += 4)
		put32(out + i, (uint32_t)mix64((t * 5ull + i / 4 + 1) * 0x9e3779b97f4a7c15ull));
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_worker [-m A:S:C] [-T torrents] [-P peers] [-N numwant]\n"
			"                    [-n requests] [-r runs] [-o KEY=VALUE]...\n");
}

int main(int argc, char **argv)
{
	unsigned wa = 75, ws = 20, wc = 5, ntor = 10000, npeers = 50000, runs = 5;
	unsigned long long nreq = 4000000;
	int numwant = 30, opt, r, status = 0;
	const char *opts[MAX_OPTS];
	unsigned nopts = 0;
	struct segment_params sp;
	struct segment *seg;
	struct worker_ctx w;
	struct sockaddr_in src;
	uint8_t key[CONNID_KEY_LEN];
	char err[CONF_ERR_MAX];
	struct conf c;
	double *cdf, per[MAX_RUNS];
	struct peer *peers;
	uint8_t(*req)[REQ_MAX], (*out)[UDPT_REPLY_MAX];
	size_t *len;
	struct worker_item items[WORKER_BATCH_MAX];
	uint64_t cid;

	while ((opt = getopt(argc, argv, "m:T:P:N:n:r:o:h")) != -1) {
		switch (opt) {
		case 'm':
			if (sscanf(optarg, "%u:%u:%u", &wa, &ws, &wc) != 3 || !(wa + ws + wc)) {
				usage();
				return 2;
			}
			break;
		case 'T':
			ntor = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'P':
			npeers = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'N':
			numwant = atoi(optarg);
			break;
		case 'n':
			nreq = strtoull(optarg, NULL, 0);
			break;
		case 'r':
			runs = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'o':
			if (nopts < MAX_OPTS) {
				opts[nopts++] = optarg;
				break;
			}
			/* fall through */
		default:
			usage();
			return 2;
		}
	}
	if (!ntor || !npeers || npeers > 65000u * 16 || !runs || runs > MAX_RUNS || !nreq) {
		usage();
		return 2;
	}
	if (conf_load(&c, NULL, opts, nopts, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench_worker: %s\n", err);
		return 2;
	}
	log_init(LOG_WARNING, "bench_worker");

	conf_segment_params(&c, &sp);
	r = connid_new_key(key);
	if (r == 0)
		r = segment_create(&sp, key, &seg);
	if (r < 0) {
		fprintf(stderr, "bench_worker: cannot create the segment: %s\n", strerror(-r));
		return 1;
	}
	if (c.huge_pages != CONF_HUGE_NO) {
		struct segment_huge h;

		r = segment_huge_pages(seg, &h);
		fprintf(stderr, "huge pages: %zu of %zu chunks%s%s\n", h.huge, h.chunks,
			r ? ": " : "", r ? strerror(-r) : "");
	}
	worker_ctx_init(&w, &c, seg, 0);

	memset(&src, 0, sizeof(src));
	src.sin_family = AF_INET;
	src.sin_port = htons(40000);
	src.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cid = connid_make(w.connid_key, w.now, (const uint8_t *)&src.sin_addr, 4);

	cdf = calloc(ntor, sizeof(*cdf));
	peers = calloc(npeers, sizeof(*peers));
	req = mmap(NULL, (size_t)RING * REQ_MAX, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	out = mmap(NULL, (size_t)WORKER_BATCH_MAX * UDPT_REPLY_MAX, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	len = calloc(RING, sizeof(*len));
	if (!cdf || !peers || req == MAP_FAILED || out == MAP_FAILED || !len) {
		fprintf(stderr, "bench_worker: out of memory\n");
		free(cdf);
		free(peers);
		free(len);
		segment_close(seg);
		return 1;
	}
	for (unsigned i = 0; i < ntor; i++)
		cdf[i] = (i ? cdf[i - 1] : 0) + 1.0 / (i + 1.0);
	for (unsigned i = 0; i < npeers; i++) {
		peers[i].torrent = zipf(cdf, ntor);
		peers[i].port = (uint16_t)(1024 + i % 64000);
		peers[i].seeder = rnd01() < 0.75;
	}

	/* The requests: the first pass announces every peer once (started). */
	for (unsigned i = 0; i < RING; i++) {
		uint8_t *p = req[i];
		unsigned pick = (unsigned)(rnd() % (wa + ws + wc));

		memset(p, 0, REQ_MAX);
		put32(p + 12, i);
		if (pick < wa) {
			const struct peer *pe = &peers[rnd() % npeers];

			put64(p, cid);
			put32(p + 8, UDPT_ACTION_ANNOUNCE);
			hash_of(pe->torrent, p + 16);
			put64(p + 36, (uint64_t)(pe - peers));
			put64(p + 64, pe->seeder ? 0 : 1000);
			put32(p + 92, (uint32_t)numwant);
			p[96] = (uint8_t)(pe->port >> 8);
			p[97] = (uint8_t)pe->port;
			len[i] = 98;
		} else if (pick < wa + ws) {
			unsigned n = 1 + (unsigned)(rnd() % SCRAPE_MAX);

			put64(p, cid);
			put32(p + 8, UDPT_ACTION_SCRAPE);
			for (unsigned k = 0; k < n; k++)
				hash_of(zipf(cdf, ntor), p + 16 + 20 * k);
			len[i] = 16 + 20 * n;
		} else {
			put64(p, UDPT_PROTOCOL_MAGIC);
			put32(p + 8, UDPT_ACTION_CONNECT);
			len[i] = 16;
		}
	}
	{
		/* Fill the table: every peer announces once. */
		uint8_t a[98];
		uint8_t o[UDPT_REPLY_MAX];

		for (unsigned i = 0; i < npeers; i++) {
			memset(a, 0, sizeof(a));
			put64(a, cid);
			put32(a + 8, UDPT_ACTION_ANNOUNCE);
			hash_of(peers[i].torrent, a + 16);
			put64(a + 64, peers[i].seeder ? 0 : 1000);
			put32(a + 80, UDPT_EVENT_STARTED);
			a[96] = (uint8_t)(peers[i].port >> 8);
			a[97] = (uint8_t)peers[i].port;
			(void)worker_handle(&w, a, sizeof(a), (const struct sockaddr *)&src,
					    sizeof(src), o, sizeof(o));
		}
	}

	for (unsigned run = 0; run < runs; run++) {
		unsigned long long done = 0, replies = 0;
		unsigned at = 0;
		double t0 = cpu_ns();

		while (done < nreq) {
			for (unsigned k = 0; k < WORKER_BATCH_MAX; k++) {
				items[k].pkt = req[at];
				items[k].len = len[at];
				items[k].src = (const struct sockaddr *)&src;
				items[k].srclen = sizeof(src);
				items[k].out = out[k];
				items[k].cap = UDPT_REPLY_MAX;
				at = (at + 1) % RING;
			}
			worker_handle_batch(&w, items, WORKER_BATCH_MAX);
			for (unsigned k = 0; k < WORKER_BATCH_MAX; k++)
				replies += items[k].reply_len != 0;
			done += WORKER_BATCH_MAX;
		}
		per[run] = (cpu_ns() - t0) / (double)done;
		printf("run %u: %.1f ns per request (%llu requests, %llu replies)\n", run + 1,
		       per[run], done, replies);
		if (replies != done) {
			fprintf(stderr, "bench_worker: %llu requests got no reply\n",
				done - replies);
			status = 1;
			break;
		}
	}
	if (!status) {
		qsort(per, runs, sizeof(per[0]), cmp_double);
		printf("median: %.1f ns per request\n", per[runs / 2]);
	}
	free(cdf);
	free(peers);
	free(len);
	segment_close(seg);
	return status;
}
