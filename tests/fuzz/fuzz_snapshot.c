/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/fuzz/fuzz_snapshot.c - libFuzzer entry for the snapshot loader.
 *
 * The first input byte picks the mode: even, the rest is a whole snapshot
 * file (what a damaged disk or a foreign file gives the loader); odd, the
 * rest is the frame's content, which the harness wraps in a valid lz4 frame
 * with correct checksums so the record parser itself is reached (random
 * bytes almost never pass the checksums). The second byte sets the
 * simulated downtime. Each input is loaded into an empty segment. Besides
 * the sanitizers' checks it asserts the loader's promises: a refused input
 * comes with a reason and leaves the table empty; an accepted one leaves a
 * consistent table within its capacity.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lz4frame.h>

#include "daemon/snapshot.h"
#include "shm/segment.h"
#include "shm/torrents.h"

#define CHECK(cond)                                                                          \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, \
				#cond);                                                      \
			abort();                                                             \
		}                                                                            \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct segment *seg;

static struct segment *fresh(void)
{
	static const uint8_t key[SEGMENT_KEY_LEN] = "fuzz-snapshot-k!";
	struct segment_params p = { .max_torrents = 1000, .max_peers4 = 1000, .max_peers6 = 1000 };

	if (!seg && segment_create(&p, key, &seg))
		abort();
	return seg;
}

static void load(const uint8_t *buf, size_t len, uint8_t down)
{
	struct snapshot_load_params p = { .peer_max_age = 2700,
					  .now_boot = 100000,
					  .now_real = 1700000000ull + (uint64_t)down * 60 };
	struct snapshot_load_result r;
	struct torrents_gauges g;
	char why[SNAPSHOT_WHY_MAX];
	int rc;

	why[0] = '\0';
	rc = snapshot_load_mem(buf, len, fresh(), &p, &r, why, sizeof(why));
	torrents_get_gauges(segment_torrents(seg), &g);
	if (rc) {
		CHECK(why[0] != '\0');
		CHECK(g.torrents == 0 && g.peers4 == 0 && g.peers6 == 0);
		return;
	}
	CHECK(r.torrents_loaded == g.torrents);
	CHECK(r.peers_loaded == g.peers4 + g.peers6);
	CHECK(r.peers_loaded + r.peers_dropped + r.peers_expired <= r.file_peers4 + r.file_peers6);
	CHECK(torrents_check_quiescent(segment_torrents(seg), why, sizeof(why)) == 0);
	/* Only a load changes the segment: the next input gets an empty one. */
	segment_close(seg);
	seg = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	LZ4F_preferences_t prefs;
	static uint8_t out[1 << 18];
	size_t n;

	if (size < 2)
		return 0;
	if (!(data[0] & 1)) {
		load(data + 2, size - 2, data[1]);
		return 0;
	}
	memset(&prefs, 0, sizeof(prefs));
	prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
	prefs.frameInfo.blockChecksumFlag = (data[1] & 0x80) ? LZ4F_blockChecksumEnabled : 0;
	if (LZ4F_compressFrameBound(size - 2, &prefs) > sizeof(out))
		return 0;
	n = LZ4F_compressFrame(out, sizeof(out), data + 2, size - 2, &prefs);
	if (LZ4F_isError(n))
		abort();
	load(out, n, data[1] & 0x7f);
	return 0;
}
