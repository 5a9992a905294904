/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * shm/layout.h - the segment's layout: header, stripes, torrent records.
 *
 * Internal to shm/: segment.c computes and verifies the layout, torrents.c
 * works on it. Everything here is fixed-size and pointer-free; offsets are
 * bytes from the start of the segment. The map (all regions 4 KiB aligned):
 *
 *   header        struct layout_hdr (one page)
 *   arena hdrs    2 x struct arena_hdr (IPv4, IPv6)
 *   counters      SEGMENT_WORKER_SLOTS x struct counters_block
 *   stripes       nstripes x struct layout_stripe (lock and per-stripe counts)
 *   records       nstripes x stripe_cap x struct layout_trec (dense, per stripe)
 *   index         nstripes x index_slots x uint32_t (per stripe hash index)
 *   arena4        arena4_records x 8 bytes
 *   arena6        arena6_records x 20 bytes
 *   acl           the access list: header page and two banks (shm/acl.c)
 *   ratelimit     the per-source token buckets (shm/ratelimit.c)
 *   bans          the ban list (shm/bans.c)
 */
#ifndef TRACKER_SHM_LAYOUT_H
#define TRACKER_SHM_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "shm/arena.h"
#include "shm/segment.h"
#include "shm/stripe.h"

#define LAYOUT_MAGIC 0x31474553444b5254ULL /* "TRKDSEG1" little-endian */
#define LAYOUT_VERSION 3 /* 2: access-list region; 3: rate-limit and ban regions */
#define LAYOUT_MAX_STRIPES 4096
#define LAYOUT_MIN_STRIPES 1024 /* unless the table is tiny */
#define LAYOUT_ALIGN 4096

/* What the parameters imply; recomputed and compared on attach. */
struct layout {
	uint64_t max_torrents, max_peers4, max_peers6;
	uint32_t nstripes; /* power of two */
	uint32_t sbits; /* log2(nstripes) */
	uint32_t stripe_cap; /* torrent records per stripe */
	uint32_t index_slots; /* index entries per stripe */
	uint32_t ibits; /* low bits of an index entry holding record + 1 */
	uint32_t reserved;
	uint64_t off_arena_hdrs, off_counters, off_stripes, off_recs, off_index;
	uint64_t off_arena4, off_arena6;
	uint64_t arena4_records, arena6_records;
	uint64_t total_size;
	uint64_t max_access; /* access_list_max: hashes one list may hold */
	uint64_t off_acl; /* access-list region, acl_region_size(max_access) bytes */
	uint64_t ratelimit_slots; /* token buckets of the rate limiter */
	uint64_t off_ratelimit; /* ratelimit_region_size(ratelimit_slots) bytes */
	uint64_t ban_max; /* entries of the ban list */
	uint64_t off_bans; /* bans_region_size(ban_max) bytes */
};

struct layout_hdr {
	uint64_t magic;
	uint32_t version;
	uint32_t hdr_size;
	uint32_t sizeof_stripe, sizeof_trec, sizeof_counters, sizeof_arena_hdr;
	uint32_t worker_slots;
	uint32_t generation; /* bumped by each attach (informational) */
	struct layout l;
	uint8_t connid_key[SEGMENT_KEY_LEN];
	uint8_t stripe_key[SEGMENT_KEY_LEN];
};

_Static_assert(sizeof(struct layout) == 176, "layout size");
_Static_assert(sizeof(struct layout_hdr) == 40 + 176 + 32, "segment header size");
_Static_assert(sizeof(struct layout_hdr) <= LAYOUT_ALIGN, "header fits its page");

/* One stripe: its lock and counts (recountable from its records). */
struct layout_stripe {
	struct stripe_lock lock; /* 40 bytes on glibc x86-64 */
	uint8_t pad0[48 - sizeof(struct stripe_lock)];
	uint32_t n; /* torrent records in use */
	uint32_t peers4; /* peers in the stripe, IPv4 */
	uint32_t peers6; /* IPv6 */
	uint32_t seeders; /* both families */
	uint64_t completed; /* sum of the records' completed counters */
	uint64_t held4; /* arena records held by the stripe's swarms, IPv4 */
	uint64_t held6;
	uint64_t refused_table;
	uint64_t refused_arena;
	uint64_t recoveries; /* times the stripe was repaired after a holder died */
	uint64_t contended; /* lock acquisitions that had to wait */
	uint64_t reserved;
};

_Static_assert(sizeof(struct layout_stripe) == 128, "stripe header is two cache lines");

/* A torrent, 48 bytes, in its stripe's dense record array. */
struct layout_trec {
	uint8_t hash[20];
	uint32_t completed; /* persistent completed counter */
	uint32_t seeders; /* both families */
	uint32_t empty_since; /* time the torrent last became empty */
	uint64_t fam[2]; /* peer sets: see shm/peers.h */
};

_Static_assert(sizeof(struct layout_trec) == 48, "torrent record is 48 bytes");
_Static_assert(offsetof(struct layout_trec, fam) == 32, "peer words aligned");

/* Compute the layout for p. 0 or -EINVAL (capacity beyond what offsets can address). */
int layout_compute(const struct segment_params *p, struct layout *l);

#endif /* TRACKER_SHM_LAYOUT_H */
