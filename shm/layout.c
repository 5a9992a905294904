/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * shm/layout.c - sizes and offsets of the segment's regions.
 *
 * Sizing rules (the memory targets drive them):
 *  - stripes: 4096, halved down to 1024 while a stripe would average
 *    fewer than 2048 torrents (the per-stripe slack below shrinks
 *    relative to a bigger share), then further while it would average
 *    fewer than 8 (so tiny test tables still have a few);
 *  - a stripe holds its average share plus 5 standard deviations plus 8
 *    (the keyed hash spreads torrents binomially; at 10M torrents that is
 *    about 10 % slack, and the chance that any stripe fills before the
 *    table holds max_torrents is about 0.1 %);
 *  - a stripe's index has 1.5 slots per record (load at most 2/3);
 *  - each arena holds 2 records per configured peer plus 1024. Arrays
 *    growing 1.25x and tables loaded 0.4-0.8 need about 1.1-1.5 records
 *    per peer on average; the rest absorbs blocks stranded on free lists
 *    (a class's free blocks serve only that class or smaller ones). One
 *    single swarm growing alone needs up to 5 records per peer at the
 *    moment it doubles (new table, old table, earlier tables stranded), so
 *    a table holding nothing but one huge swarm fills earlier; it is then
 *    refused and counted, never grown. The arena is virtual until used:
 *    untouched memfd pages cost no memory.
 * Per torrent that is 48 / 0.9 + 6 = about 60 bytes at capacity.
 */
#include "shm/layout.h"

#include <errno.h>

#include "shm/acl.h"
#include "shm/bans.h"
#include "shm/counters.h"
#include "shm/peers.h"
#include "shm/ratelimit.h"

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

static uint64_t isqrt(uint64_t v)
{
	uint64_t r = 0, b = 1ULL << 62;

	while (b > v)
		b >>= 2;
	while (b) {
		if (v >= r + b) {
			v -= r + b;
			r = (r >> 1) + b;
		} else {
			r >>= 1;
		}
		b >>= 2;
	}
	return r;
}

static uint64_t arena_records(uint64_t peers)
{
	return align_up(2 * peers + 1024, ARENA_GROUP);
}

int layout_compute(const struct segment_params *p, struct layout *l)
{
	uint64_t avg, cap, off;
	uint32_t ns = LAYOUT_MAX_STRIPES, sb = 12;

	*l = (struct layout){ 0 };
	if (p->max_torrents > (1ULL << 40) || p->max_peers4 > (1ULL << 31) ||
	    p->max_peers6 > (1ULL << 31) || p->max_access > (1ULL << 32) ||
	    p->ratelimit_slots > RATELIMIT_SLOTS_MAX || p->ban_max > BANS_MAX_LIMIT)
		return -EINVAL;
	while (ns > LAYOUT_MIN_STRIPES && p->max_torrents / ns < 2048) {
		ns /= 2;
		sb--;
	}
	while (ns > 1 && p->max_torrents / ns < 8) {
		ns /= 2;
		sb--;
	}
	avg = (p->max_torrents + ns - 1) / ns;
	cap = avg + 5 * (isqrt(avg) + 1) + 8;
	if (cap >= (1ULL << 28))
		return -EINVAL;
	l->max_torrents = p->max_torrents;
	l->max_peers4 = p->max_peers4;
	l->max_peers6 = p->max_peers6;
	l->nstripes = ns;
	l->sbits = sb;
	l->stripe_cap = (uint32_t)cap;
	l->index_slots = (uint32_t)(cap + cap / 2 + 1);
	l->ibits = 32 - (uint32_t)__builtin_clz((uint32_t)cap);
	l->arena4_records = arena_records(p->max_peers4);
	l->arena6_records = arena_records(p->max_peers6);

	off = LAYOUT_ALIGN;
	l->off_arena_hdrs = off;
	off = align_up(off + 2 * sizeof(struct arena_hdr), LAYOUT_ALIGN);
	l->off_counters = off;
	off = align_up(off + (uint64_t)SEGMENT_WORKER_SLOTS * sizeof(struct counters_block),
		       LAYOUT_ALIGN);
	l->off_stripes = off;
	off = align_up(off + (uint64_t)ns * sizeof(struct layout_stripe), LAYOUT_ALIGN);
	l->off_recs = off;
	off = align_up(off + (uint64_t)ns * cap * sizeof(struct layout_trec), LAYOUT_ALIGN);
	l->off_index = off;
	off = align_up(off + (uint64_t)ns * l->index_slots * sizeof(uint32_t), LAYOUT_ALIGN);
	l->off_arena4 = off;
	off = align_up(off + l->arena4_records * PEERS_REC4, LAYOUT_ALIGN);
	l->off_arena6 = off;
	off = align_up(off + l->arena6_records * PEERS_REC6, LAYOUT_ALIGN);
	l->max_access = p->max_access;
	l->off_acl = off;
	off = align_up(off + acl_region_size(p->max_access), LAYOUT_ALIGN);
	l->ratelimit_slots = p->ratelimit_slots;
	l->off_ratelimit = off;
	off = align_up(off + ratelimit_region_size(p->ratelimit_slots), LAYOUT_ALIGN);
	l->ban_max = p->ban_max;
	l->off_bans = off;
	off = align_up(off + bans_region_size((uint32_t)p->ban_max), LAYOUT_ALIGN);
	l->total_size = off;
	return 0;
}
