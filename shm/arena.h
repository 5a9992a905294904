/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * shm/arena.h - fixed-size peer-record arena with size classes.
 *
 * One arena per address family inside the segment, measured in records
 * (8 bytes IPv4, 20 bytes IPv6); a block is addressed by the index of its
 * first record (uint32), never by a pointer. Classes 0..ARENA_ARRAY_CLASSES-1
 * are plain arrays (1 to 64 records, growing about 1.25x); the rest are
 * open-addressing hash tables of 128 to 2^24 slots, aligned to
 * ARENA_GROUP records. See arena.c for the allocator.
 */
#ifndef TRACKER_SHM_ARENA_H
#define TRACKER_SHM_ARENA_H

#include <stdbool.h>
#include <stdint.h>

#define ARENA_NIL 0xffffffffu
#define ARENA_ARRAY_CLASSES 19
#define ARENA_CLASSES 37
#define ARENA_ARRAY_MAX 64
#define ARENA_SHARDS 8
#define ARENA_GROUP 8 /* hash-table slots sampled together (one cache line of IPv4) */
#define ARENA_HEADS_PER_SHARD 40

/* Allocator state in the segment (one per family). */
struct arena_hdr {
	uint64_t top; /* records handed out by the bump pointer (atomic) */
	uint64_t size; /* records in the arena */
	uint32_t recsize; /* bytes per record */
	uint32_t reserved;
	uint8_t pad[40];
	/* free-list heads: low 32 bits first record (ARENA_NIL: empty), high 32 an ABA tag */
	uint64_t heads[ARENA_SHARDS][ARENA_HEADS_PER_SHARD];
};

_Static_assert(ARENA_CLASSES <= ARENA_HEADS_PER_SHARD, "a head per class");
_Static_assert(sizeof(struct arena_hdr) == 64 + ARENA_SHARDS * ARENA_HEADS_PER_SHARD * 8,
	       "arena header layout");
_Static_assert(sizeof(struct arena_hdr) % 64 == 0, "arena header is whole cache lines");

/* Process-local view of one arena. */
struct arena {
	struct arena_hdr *h;
	uint8_t *base;
	uint32_t recsize;
};

extern const uint32_t arena_class_caps[ARENA_CLASSES];

static inline uint32_t arena_class_cap(unsigned cls)
{
	return arena_class_caps[cls];
}

static inline bool arena_class_is_hash(unsigned cls)
{
	return cls >= ARENA_ARRAY_CLASSES;
}

static inline void *arena_ptr(const struct arena *a, uint32_t off)
{
	return a->base + (uint64_t)off * a->recsize;
}

/* Smallest array class holding n (1 <= n <= ARENA_ARRAY_MAX). */
unsigned arena_array_class(uint32_t n);
/* Smallest hash class with cap >= n. */
unsigned arena_hash_class(uint32_t n);

/* Format a fresh arena of size records. */
void arena_format(struct arena_hdr *h, uint64_t size, uint32_t recsize);

/*
 * Allocate a block of class cls (or, when that class is exhausted, a
 * bigger block of the same kind: *ret_cls says which). Lock-free; shard
 * picks the free-list shard tried first. Hash-table blocks are not
 * cleared. Returns 0 or -ENOSPC.
 */
int arena_alloc(const struct arena *a, unsigned cls, unsigned shard, uint32_t *ret_off,
		unsigned *ret_cls);

/* Return a block to the free list of its class. Lock-free. */
void arena_free(const struct arena *a, uint32_t off, unsigned cls, unsigned shard);

/* Records handed out by the bump pointer so far (the arena's high-water mark). */
uint64_t arena_top(const struct arena *a);

/*
 * Visit every free block (quiescent arena only: concurrent allocation makes
 * the walk meaningless). fn returns non-zero to stop; the walk also stops
 * after max blocks. Returns fn's value, 0, or -ELOOP past max.
 */
int arena_walk_free(const struct arena *a, uint64_t max,
		    int (*fn)(uint32_t off, unsigned cls, void *arg), void *arg);

/*
 * Quiescent arena only: forget the free lists and rebuild them from a
 * bitmap of the records in use (bit i of used[i / 64]; records below the
 * high-water mark only). Every unused run is carved into the biggest
 * blocks that fit, so records leaked by a crash are usable again. Returns
 * the number of free records.
 */
uint64_t arena_rebuild(const struct arena *a, const uint64_t *used);

#endif /* TRACKER_SHM_ARENA_H */
