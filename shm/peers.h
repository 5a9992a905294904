/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * shm/peers.h - the peers of one swarm and one address family.
 *
 * A peer set is described by one 64-bit word kept in the torrent record
 * (first record in the arena, size class, count), so publishing a new
 * block or a new count is a single aligned store. Records are fixed size:
 *
 *   IPv4, 8 bytes:  addr[4] port[2] meta[2]
 *   IPv6, 20 bytes: addr[16] port[2] meta[2]
 *
 * address and port in network order (the first 6 or 18 bytes are the
 * compact wire entry), meta in host order: bits 0-13 the last-seen time in
 * PEERS_TICK-second ticks (wrapping), bit 14 seeder, bit 15 "completed
 * already counted". A slot is empty when its port is 0 (announced ports
 * never are). The caller holds the stripe lock for every call.
 */
#ifndef TRACKER_SHM_PEERS_H
#define TRACKER_SHM_PEERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shm/arena.h"

#define PEERS_REC4 8
#define PEERS_REC6 20
#define PEERS_TICK 8 /* seconds per tick of the last-seen time */
#define PEERS_TICK_MASK 0x3fffu
#define PEERS_SEEDER 0x4000u
#define PEERS_COMPLETED 0x8000u
/* Ticks "ahead" of the cleaner's clock read as recent, not as very old. */
#define PEERS_FUTURE_TICKS 128u
/* Longest peer age the tick counter can express unambiguously (seconds). */
#define PEERS_MAX_AGE 43200u
/* Largest sample drawn without bias from a hash-table swarm (any reply fits). */
#define PEERS_SAMPLE_MAX 256u
/* Hash-table loads: grow above 13/16, shrink below 3/16, back to an array at 32 peers. */
#define PEERS_ARRAY_BACK 32u

struct peers_ctx {
	const struct arena *ar;
	uint64_t k0, k1; /* keyed slot hash */
	unsigned shard; /* free-list shard to use first */
	bool v6;
};

static inline uint32_t peers_word_off(uint64_t w)
{
	return (uint32_t)w;
}

static inline unsigned peers_word_cls(uint64_t w)
{
	return (unsigned)(w >> 32) & 63;
}

static inline uint32_t peers_word_cnt(uint64_t w)
{
	return (uint32_t)(w >> 38);
}

static inline uint64_t peers_word(uint32_t off, unsigned cls, uint32_t cnt)
{
	return cnt ? (uint64_t)off | (uint64_t)cls << 32 | (uint64_t)cnt << 38 : 0;
}

/* Records of arena the set holds. */
static inline uint64_t peers_held(uint64_t w)
{
	return peers_word_cnt(w) ? arena_class_cap(peers_word_cls(w)) : 0;
}

static inline uint16_t peers_tick(uint32_t now)
{
	return (uint16_t)((now / PEERS_TICK) & PEERS_TICK_MASK);
}

/* Fast per-process generator (wyrand). */
static inline uint64_t peers_rand(uint64_t *s)
{
	unsigned __int128 t;

	*s += 0xa0761d6478bd642fULL;
	t = (unsigned __int128)*s * (*s ^ 0xe7037ed1a0b428dbULL);
	return (uint64_t)(t >> 64) ^ (uint64_t)t;
}

/* Slot of the peer with this wire key (addr then port), or -1. */
long peers_find(const struct peers_ctx *c, uint64_t w, const uint8_t *key);
uint16_t peers_meta(const struct peers_ctx *c, uint64_t w, long slot);
void peers_set_meta(const struct peers_ctx *c, uint64_t w, long slot, uint16_t meta);

/*
 * Add a peer known to be absent; may move the set to another block.
 * Updates *w and sets *ret_slot. 0 or -ENOSPC (arena full: nothing changed).
 */
int peers_insert(const struct peers_ctx *c, uint64_t *w, const uint8_t *key, uint16_t meta,
		 long *ret_slot);

/* Remove the peer in slot; may move the set to a smaller block. */
void peers_remove(const struct peers_ctx *c, uint64_t *w, long slot);

/* A sample's random start, drawn early so its memory loads overlap other work. */
struct peers_plan {
	uint64_t w; /* the set it was drawn for */
	uint32_t g0, d, o;
};

/* Draw the plan for sampling k from w and prefetch what the sample will read. */
void peers_plan(const struct peers_ctx *c, uint64_t w, unsigned k, uint64_t *rng,
		struct peers_plan *p);

/*
 * Write up to k distinct peers other than slot self (-1: none) as compact
 * entries into out; returns how many. Small sets: partial Fisher-Yates.
 * Hash tables: groups of ARENA_GROUP slots visited from a random start with
 * a random odd stride (a permutation of the groups), from a random offset
 * inside each group. plan (may be NULL) is used if drawn for this w.
 * Whole groups are collected until there are k candidates and the surplus
 * is dropped uniformly. Arrays give every other peer exactly the same
 * chance; the group walk very nearly so (a group that ends the walk
 * brings a surplus with it; measured within a few percent).
 */
unsigned peers_sample(const struct peers_ctx *c, uint64_t w, long self, unsigned k, uint64_t *rng,
		      const struct peers_plan *plan, uint8_t *out);

/* Drop peers older than max_ticks; counts what went. */
void peers_clean(const struct peers_ctx *c, uint64_t *w, uint16_t now_tick, uint32_t max_ticks,
		 uint32_t *ret_removed, uint32_t *ret_seeders_removed);

/* After a crash: drop impossible words, duplicates and holes; recount. */
void peers_repair(const struct peers_ctx *c, uint64_t *w, uint32_t *ret_seeders);

/* Verify the set; counts its seeders. 0 or -EUCLEAN with why. */
int peers_check(const struct peers_ctx *c, uint64_t w, uint32_t *ret_seeders, char *why,
		size_t whylen);

/* Is the word's block inside the arena and its count possible? */
bool peers_word_valid(const struct peers_ctx *c, uint64_t w);

/* Hint: start loading what a lookup of key in w will touch (no lock needed). */
void peers_prefetch(const struct peers_ctx *c, uint64_t w, const uint8_t *key);

/* Slots of a hash-table set peers_count_source() looks at. */
#define PEERS_SOURCE_SCAN 256u
/* Matches in that window before it is scaled up to an estimate. */
#define PEERS_SOURCE_MIN_HITS 3u
/* Hash tables up to this many slots are counted exactly. */
#define PEERS_SOURCE_EXACT 1024u

/*
 * Peers of the set whose address shares its first bits bits with addr
 * (4 or 16 bytes, as in the records), up to limit. Exact for arrays (at
 * most ARENA_ARRAY_MAX peers) and hash tables of up to PEERS_SOURCE_EXACT
 * slots. For bigger hash tables an estimate: PEERS_SOURCE_SCAN
 * consecutive slots from a start fixed by a keyed hash of the source's
 * prefix (rng is unused) are counted and the matches scaled
 * by count / occupied slots seen (slots are keyed hashes of address and
 * port, so a window is a fair sample) once there are PEERS_SOURCE_MIN_HITS
 * of them; fewer are returned as they are. So in a big swarm a source that
 * keeps trying can hold about limit peers or a few percent of the swarm,
 * whichever is more. Caller holds the stripe lock.
 */
uint32_t peers_count_source(const struct peers_ctx *c, uint64_t w, const uint8_t *addr,
			    unsigned bits, uint32_t limit, uint64_t *rng);

/* Call fn for each peer's record (const bytes). */
void peers_foreach(const struct peers_ctx *c, uint64_t w, void (*fn)(const uint8_t *rec, void *arg),
		   void *arg);

#endif /* TRACKER_SHM_PEERS_H */
