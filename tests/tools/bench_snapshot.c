/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/tools/bench_snapshot.c - time and size of a snapshot write and load.
 *
 * Not a test (run by hand, figures for the README): fills a segment with T
 * torrents (default 1,000,000) and P peers (default 4,000,000, a tenth of
 * them IPv6), each peer announcing to a torrent drawn uniformly, 40 % of
 * them seeders, seen at random times within the last 30 minutes. Then it
 * writes the snapshot to a directory exactly as the control process does
 * (temp file, fsync, rename, directory fsync), and loads it into a fresh
 * segment of the same capacity as the supervisor does at a cold start
 * (read, check pass, insert pass). Prints the file size and both times,
 * the best of -r runs.
 *
 *   bench_snapshot [-t TORRENTS] [-p PEERS] [-6 PERCENT] [-r RUNS] [-d DIR] [-k]
 *
 * -d: directory to write to (default: a new one under $TMPDIR, removed
 * afterwards unless -k keeps it, e.g. for fuzzing seeds).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon/snapshot.h"
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

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint32_t boot_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint32_t)ts.tv_sec;
}

static void hash_of(uint8_t ih[20], uint64_t n)
{
	uint64_t x = n * 0x9e3779b97f4a7c15ULL + 1;
	int i;

	for (i = 0; i < 20; i++) {
		x ^= x >> 29;
		x *= 0xbf58476d1ce4e5b9ULL;
		ih[i] = (uint8_t)(x >> 56);
	}
}

static int fill(struct segment *seg, uint64_t ntor, uint64_t npeers, unsigned pct6)
{
	struct torrents *t = segment_torrents(seg);
	struct torrents_announce a;
	struct torrents_result r;
	uint32_t now = boot_s();
	uint64_t i, refused = 0, x;
	uint8_t ih[20], out[8];

	/* Every torrent first, so none is left without a peer by chance. */
	for (i = 0; i < npeers; i++) {
		memset(&a, 0, sizeof(a));
		hash_of(ih, i < ntor ? i : rnd() % ntor);
		x = rnd();
		a.info_hash = ih;
		a.peer.ipv6 = x % 100 < pct6;
		if (a.peer.ipv6) {
			a.peer.addr[0] = 0x20;
			a.peer.addr[1] = 0x01;
			memcpy(a.peer.addr + 8, &i, sizeof(i));
		} else {
			a.peer.addr[0] = (uint8_t)(10 + (i >> 24));
			a.peer.addr[1] = (uint8_t)(i >> 16);
			a.peer.addr[2] = (uint8_t)(i >> 8);
			a.peer.addr[3] = (uint8_t)i;
		}
		a.peer.port = (uint16_t)(1024 + (x >> 8) % 60000);
		a.event = TORRENTS_EVENT_STARTED;
		a.seeding = (x >> 24) % 10 < 4;
		a.now = now - (uint32_t)((x >> 32) % 1800);
		if (torrents_announce(t, &a, out, &r))
			return -1;
		refused += r.refused != TORRENTS_STORED;
	}
	if (refused)
		fprintf(stderr, "bench_snapshot: %llu announces refused (capacity)\n",
			(unsigned long long)refused);
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t ntor = 1000000, npeers = 4000000;
	unsigned pct6 = 10, runs = 3, run;
	struct segment_params sp = { 0 };
	struct snapshot_info info;
	struct snapshot_load_params lp;
	struct snapshot_load_result lr;
	struct segment *a, *b;
	struct torrents_gauges g;
	static const uint8_t key[SEGMENT_KEY_LEN] = "bench-snapshot-k";
	char dirbuf[256], why[SNAPSHOT_WHY_MAX], aside[SNAPSHOT_PATH_MAX + 32], cmd[300];
	const char *dir = NULL;
	double t0, wbest = 1e9, lbest = 1e9, fill_s;
	bool keep = false, tmp;
	int opt, rc;

	while ((opt = getopt(argc, argv, "t:p:6:r:d:k")) != -1) {
		switch (opt) {
		case 't':
			ntor = strtoull(optarg, NULL, 10);
			break;
		case 'p':
			npeers = strtoull(optarg, NULL, 10);
			break;
		case '6':
			pct6 = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'r':
			runs = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'd':
			dir = optarg;
			break;
		case 'k':
			keep = true;
			break;
		default:
			fprintf(stderr, "usage: bench_snapshot [-t TORRENTS] [-p PEERS] "
					"[-6 PERCENT] [-r RUNS] [-d DIR] [-k]\n");
			return 2;
		}
	}
	if (!ntor || pct6 > 100 || !runs || runs > 20) {
		fprintf(stderr, "bench_snapshot: bad arguments\n");
		return 2;
	}
	if (!dir) {
		snprintf(dirbuf, sizeof(dirbuf), "%s/bench_snapshot.XXXXXX",
			 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
		if (!mkdtemp(dirbuf)) {
			perror("mkdtemp");
			return 1;
		}
		dir = dirbuf;
	} else {
		keep = true;
	}
	sp.max_torrents = ntor < 1000 ? 1000 : ntor + ntor / 8;
	sp.max_peers4 = npeers < 1000 ? 1000 : npeers + npeers / 8;
	sp.max_peers6 = sp.max_peers4 * (pct6 + 1) / 100 + 1000;
	rc = segment_create(&sp, key, &a);
	if (rc) {
		fprintf(stderr, "bench_snapshot: segment: %s\n", strerror(-rc));
		return 1;
	}
	t0 = now_s();
	if (fill(a, ntor, npeers, pct6))
		return 1;
	fill_s = now_s() - t0;
	torrents_get_gauges(segment_torrents(a), &g);
	printf("table: %llu torrents, %llu IPv4 + %llu IPv6 peers (filled in %.1f s), "
	       "segment %zu MiB\n",
	       (unsigned long long)g.torrents, (unsigned long long)g.peers4,
	       (unsigned long long)g.peers6, fill_s, segment_size(a) >> 20);

	for (run = 0; run < runs; run++) {
		t0 = now_s();
		rc = snapshot_write_dir(dir, a, 2700, &info, why, sizeof(why));
		if (rc) {
			fprintf(stderr, "bench_snapshot: write: %s\n", why);
			return 1;
		}
		if (now_s() - t0 < wbest)
			wbest = now_s() - t0;
	}
	printf("write: %.3f s (best of %u, fsync and rename included), file %llu bytes "
	       "(%.1f MiB, %.1f bytes per peer)\n",
	       wbest, runs, (unsigned long long)info.bytes, (double)info.bytes / 1048576.0,
	       (double)info.bytes / (double)(g.peers4 + g.peers6 ? g.peers4 + g.peers6 : 1));
	segment_close(a);

	for (run = 0; run < runs; run++) {
		rc = segment_create(&sp, key, &b);
		if (rc) {
			fprintf(stderr, "bench_snapshot: segment: %s\n", strerror(-rc));
			return 1;
		}
		lp.peer_max_age = 2700;
		lp.now_boot = boot_s();
		lp.now_real = (uint64_t)time(NULL);
		t0 = now_s();
		rc = snapshot_load_dir(dir, b, &lp, &lr, &tmp, aside, sizeof(aside), why,
				       sizeof(why));
		if (rc) {
			fprintf(stderr, "bench_snapshot: load: %s\n", why);
			return 1;
		}
		if (now_s() - t0 < lbest)
			lbest = now_s() - t0;
		segment_close(b);
	}
	printf("load: %.3f s (best of %u, read + check pass + insert pass): %llu torrents, "
	       "%llu peers, %llu dropped\n",
	       lbest, runs, (unsigned long long)lr.torrents_loaded,
	       (unsigned long long)lr.peers_loaded,
	       (unsigned long long)(lr.peers_dropped + lr.peers_expired));
	if (!keep) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		/* its own mkdtemp() directory: NOLINTNEXTLINE(cert-env33-c) */
		if (system(cmd) != 0)
			fprintf(stderr, "bench_snapshot: could not remove %s\n", dir);
	} else {
		printf("kept %s/%s\n", dir, SNAPSHOT_FILE);
	}
	return 0;
}
