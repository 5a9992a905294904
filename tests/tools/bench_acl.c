/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/tools/bench_acl.c - what the access list costs the worker's hot path.
 *
 * Builds a segment with room for an access list, prepares a fixed set of
 * authenticated datagrams (announces and scrapes of T torrents with Zipf
 * popularity from many IPv4 sources, the default trackerbench mix without
 * connects), and feeds them to worker_handle_batch() in batches of 32, in
 * this one process, with no network. The list is switched between off and
 * deny with N random hashes (none of them the benchmark's torrents) every
 * round, so both modes see the same machine state; the report is the
 * median over rounds of ns per request in each mode and their ratio.
 *
 *   bench_acl [-n hashes] [-T torrents] [-r rounds] [-m ms_per_round] [-s seed]
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon/conf.h"
#include "daemon/connid.h"
#include "daemon/udpt.h"
#include "daemon/worker.h"
#include "shm/acl.h"
#include "shm/segment.h"

#define NPKT 65536u
#define BATCH 32u

static uint64_t rs;

static uint64_t rnd(void)
{
	uint64_t z;

	rs += 0x9e3779b97f4a7c15ULL;
	z = rs;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void fill(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i += 8) {
		uint64_t v = rnd();

		memcpy(p + i, &v, n - i < 8 ? n - i : 8);
	}
}

static void put32(uint8_t *p, uint32_t v)
{
	v = htobe32(v);
	memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
	v = htobe64(v);
	memcpy(p, &v, 8);
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

struct pkt {
	uint8_t data[16 + 20 * 4 > 98 ? 16 + 20 * 4 : 98];
	size_t len;
	struct sockaddr_in src;
};

int main(int argc, char **argv)
{
	static const uint8_t key[SEGMENT_KEY_LEN] = { 9, 8, 7, 6, 5, 4, 3, 2, 1 };
	uint64_t nhash = 1000000, ntor = 10000, seed = (uint64_t)time(NULL);
	unsigned rounds = 20, ms = 200;
	struct segment_params sp = { 0 };
	static struct worker_item items[BATCH];
	static uint8_t out[BATCH][UDPT_REPLY_MAX];
	double *cum, *t_off, *t_deny, z = 0;
	uint8_t *torrents, *list;
	char err[CONF_ERR_MAX];
	struct segment *seg;
	struct worker_ctx w;
	struct pkt *pk;
	struct conf c;
	struct acl *a;
	int opt;

	while ((opt = getopt(argc, argv, "n:T:r:m:s:")) != -1) {
		switch (opt) {
		case 'n':
			nhash = strtoull(optarg, NULL, 0);
			break;
		case 'T':
			ntor = strtoull(optarg, NULL, 0);
			break;
		case 'r':
			rounds = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 'm':
			ms = (unsigned)strtoul(optarg, NULL, 0);
			break;
		case 's':
			seed = strtoull(optarg, NULL, 0);
			break;
		default:
			fprintf(stderr, "usage: bench_acl [-n hashes] [-T torrents] [-r rounds] "
					"[-m ms_per_round] [-s seed]\n");
			return 2;
		}
	}
	if (!ntor || ntor > 10000000 || !rounds || rounds > 1000 || !ms || nhash > 100000000) {
		fprintf(stderr, "bench_acl: argument out of range\n");
		return 2;
	}
	rs = seed;

	conf_defaults(&c);
	/* Many requests from few sources: no per-source limits in the way. */
	(void)conf_set_option(&c, "max_peers_per_source=0", err, sizeof(err));
	(void)conf_set_option(&c, "ratelimit_requests_per_second=0", err, sizeof(err));
	sp.max_torrents = ntor * 2 > 1000 ? ntor * 2 : 1000;
	sp.max_peers4 = 1000000;
	sp.max_peers6 = 1000;
	sp.max_access = nhash;
	if (segment_create(&sp, key, &seg) < 0) {
		fprintf(stderr, "bench_acl: cannot create the segment\n");
		return 1;
	}
	worker_ctx_init(&w, &c, seg, 0);
	a = segment_acl(seg);

	torrents = malloc(ntor * 20);
	list = malloc((nhash ? nhash : 1) * 20);
	cum = malloc(ntor * sizeof(*cum));
	pk = calloc(NPKT, sizeof(*pk));
	t_off = calloc(rounds, sizeof(double));
	t_deny = calloc(rounds, sizeof(double));
	if (!torrents || !list || !cum || !pk || !t_off || !t_deny)
		abort();
	fill(torrents, ntor * 20);
	fill(list, nhash * 20);
	for (uint64_t i = 0; i < ntor; i++) {
		z += 1.0 / (double)(i + 1);
		cum[i] = z;
	}

	/* 80 % announces, 20 % scrapes of 1-4 hashes, as trackerbench's default mix. */
	for (unsigned i = 0; i < NPKT; i++) {
		struct pkt *p = &pk[i];
		uint32_t ip = 0x0a000000u | (uint32_t)(rnd() & 0xffffff);
		unsigned nh = 1 + (unsigned)(rnd() % 4);
		bool scrape = rnd() % 100 < 20;

		p->src.sin_family = AF_INET;
		p->src.sin_addr.s_addr = htonl(ip);
		p->src.sin_port = htons((uint16_t)(1024 + rnd() % 60000));
		put64(p->data, connid_make(segment_connid_key(seg), w.now,
					   (const uint8_t *)&p->src.sin_addr, 4));
		put32(p->data + 8, scrape ? UDPT_ACTION_SCRAPE : UDPT_ACTION_ANNOUNCE);
		put32(p->data + 12, i);
		for (unsigned k = 0; k < (scrape ? nh : 1); k++) {
			double r = (double)(rnd() >> 11) / 9007199254740992.0 * z;
			uint64_t lo = 0, hi = ntor - 1;

			while (lo < hi) {
				uint64_t mid = (lo + hi) / 2;

				if (cum[mid] < r)
					lo = mid + 1;
				else
					hi = mid;
			}
			memcpy(p->data + 16 + 20 * k, torrents + lo * 20, 20);
		}
		if (scrape) {
			p->len = 16 + 20 * nh;
		} else {
			fill(p->data + 36, 20); /* peer id */
			put64(p->data + 64, rnd() % 4 ? 0 : 1000); /* left */
			put32(p->data + 80, 0); /* event none */
			put32(p->data + 92, (uint32_t)-1); /* numwant default */
			p->data[96] = (uint8_t)(rnd() | 1);
			p->data[97] = (uint8_t)rnd();
			p->len = 98;
		}
	}

	for (unsigned r = 0; r < rounds * 2; r++) {
		bool deny = r % 2;
		double t0, t1, n = 0;
		unsigned i = 0;

		if (acl_publish(a, deny ? ACL_MODE_DENY : ACL_MODE_OFF, deny ? list : NULL,
				deny ? nhash : 0) < 0) {
			fprintf(stderr, "bench_acl: cannot publish the list\n");
			return 1;
		}
		t0 = now_ns();
		do {
			for (unsigned b = 0; b < 64; b++) {
				for (unsigned k = 0; k < BATCH; k++, i = (i + 1) % NPKT) {
					items[k].pkt = pk[i].data;
					items[k].len = pk[i].len;
					items[k].src = (const struct sockaddr *)&pk[i].src;
					items[k].srclen = sizeof(pk[i].src);
					items[k].out = out[k];
					items[k].cap = UDPT_REPLY_MAX;
				}
				worker_handle_batch(&w, items, BATCH);
				n += BATCH;
			}
			t1 = now_ns();
		} while (t1 - t0 < ms * 1e6);
		(deny ? t_deny : t_off)[r / 2] = (t1 - t0) / n;
	}
	qsort(t_off, rounds, sizeof(double), cmp_double);
	qsort(t_deny, rounds, sizeof(double), cmp_double);
	printf("bench_acl: seed=%llu torrents=%llu list=%llu rounds=%u\n", (unsigned long long)seed,
	       (unsigned long long)ntor, (unsigned long long)nhash, rounds);
	printf("ns_per_request_off=%.1f ns_per_request_deny=%.1f ratio_deny_over_off=%.4f\n",
	       t_off[rounds / 2], t_deny[rounds / 2], t_deny[rounds / 2] / t_off[rounds / 2]);
	printf("requests_per_s_off=%.0f requests_per_s_deny=%.0f throughput_ratio=%.4f\n",
	       1e9 / t_off[rounds / 2], 1e9 / t_deny[rounds / 2],
	       t_off[rounds / 2] / t_deny[rounds / 2]);
	segment_close(seg);
	return 0;
}
