/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * shm/arena.c - lock-free size-class allocator for peer blocks.
 *
 * Layout: [arena_hdr in the segment header area] ... [records 0..size-1].
 * A block of class c is arena_class_cap(c) consecutive records. Fresh
 * blocks come from a bump pointer (hdr->top, compare-and-swap, never past
 * hdr->size); freed blocks go onto a free list of their class and are
 * reused before the bump pointer moves again. There is no coalescing: a
 * freed block only serves its own class, or a smaller class when that one
 * and the bump region are exhausted (the caller then simply has a roomier
 * block, and its class says so). When an array class finds no array block
 * at all, a free hash-table block is split: the caller gets exactly its
 * class and the rest goes back onto the free lists, carved like
 * arena_rebuild() does. Without that, an arena once filled by big swarms
 * (hash tables) and emptied again could not serve many small swarms: its
 * free space would sit in table blocks that arrays never use. A process
 * killed between the pop and the give-back leaks the rest of that block,
 * like any block killed between pop and publish.
 *
 * Free lists are Treiber stacks, ARENA_SHARDS of them per class so that
 * workers on different stripes rarely touch the same cache line. A head is
 * one 64-bit word: the first record of the top block and a tag bumped on
 * every pop, so a pop that raced with pop+push of the same block fails its
 * compare-and-swap (ABA). The next link is kept in the first 4 bytes of the
 * free block. Reading a link of a block another process just popped reads
 * garbage, which is harmless: the tag changed, the CAS fails.
 *
 * Why lock-free and not under the stripe lock: blocks move between stripes
 * (a swarm in stripe 7 frees what a swarm in stripe 900 allocates), so a
 * per-stripe lock cannot protect the lists, and a second lock would break
 * the "one lock at a time" rule. A process killed between a pop and
 * publishing the block in its torrent leaks that block (bounded by the
 * number of crashes, and recovered by arena_rebuild() when the arena is
 * quiescent); nothing is ever handed out twice.
 *
 * Hash-table blocks are aligned to ARENA_GROUP records; the records skipped
 * to align them are pushed onto the class-0 list, so every record below
 * top is either in a live block or on a free list.
 */
#include "shm/arena.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

const uint32_t arena_class_caps[ARENA_CLASSES] = {
	1,	  2,	    3,	      4,	5,	  6,	    8,	      10,
	12,	  14,	    16,	      20,	24,	  28,	    32,	      40,
	48,	  56,	    64,	      1u << 7,	1u << 8,  1u << 9,  1u << 10, 1u << 11,
	1u << 12, 1u << 13, 1u << 14, 1u << 15, 1u << 16, 1u << 17, 1u << 18, 1u << 19,
	1u << 20, 1u << 21, 1u << 22, 1u << 23, 1u << 24,
};

unsigned arena_array_class(uint32_t n)
{
	unsigned c;

	for (c = 0; c < ARENA_ARRAY_CLASSES - 1; c++)
		if (arena_class_caps[c] >= n)
			break;
	return c;
}

unsigned arena_hash_class(uint32_t n)
{
	unsigned c;

	for (c = ARENA_ARRAY_CLASSES; c < ARENA_CLASSES - 1; c++)
		if (arena_class_caps[c] >= n)
			break;
	return c;
}

void arena_format(struct arena_hdr *h, uint64_t size, uint32_t recsize)
{
	unsigned s, c;

	memset(h, 0, sizeof(*h));
	h->size = size;
	h->recsize = recsize;
	for (s = 0; s < ARENA_SHARDS; s++)
		for (c = 0; c < ARENA_HEADS_PER_SHARD; c++)
			h->heads[s][c] = ARENA_NIL;
}

static uint32_t *link_of(const struct arena *a, uint32_t off)
{
	return arena_ptr(a, off);
}

static void push(const struct arena *a, uint64_t *head, uint32_t off)
{
	uint64_t old = __atomic_load_n(head, __ATOMIC_RELAXED), nw;

	do {
		__atomic_store_n(link_of(a, off), (uint32_t)old, __ATOMIC_RELAXED);
		nw = (old & 0xffffffff00000000ULL) | off;
	} while (!__atomic_compare_exchange_n(head, &old, nw, true, __ATOMIC_RELEASE,
					      __ATOMIC_RELAXED));
}

static bool pop(const struct arena *a, uint64_t *head, uint32_t *ret_off)
{
	uint64_t old = __atomic_load_n(head, __ATOMIC_ACQUIRE), nw;
	uint32_t off, next;

	for (;;) {
		off = (uint32_t)old;
		if (off == ARENA_NIL)
			return false;
		if ((uint64_t)off >= a->h->size)
			return false; /* corrupt head: never hand out records outside */
		next = __atomic_load_n(link_of(a, off), __ATOMIC_RELAXED);
		nw = ((old + (1ULL << 32)) & 0xffffffff00000000ULL) | next;
		if (__atomic_compare_exchange_n(head, &old, nw, true, __ATOMIC_ACQUIRE,
						__ATOMIC_ACQUIRE))
			break;
	}
	*ret_off = off;
	return true;
}

static bool pop_class(const struct arena *a, unsigned cls, unsigned shard, uint32_t *ret_off)
{
	unsigned i, s;

	for (i = 0; i < ARENA_SHARDS; i++) {
		s = (shard + i) % ARENA_SHARDS;
		if ((uint32_t)__atomic_load_n(&a->h->heads[s][cls], __ATOMIC_RELAXED) == ARENA_NIL)
			continue;
		if (pop(a, &a->h->heads[s][cls], ret_off))
			return true;
	}
	return false;
}

static bool bump(const struct arena *a, unsigned cls, unsigned shard, uint32_t *ret_off)
{
	uint64_t n = arena_class_cap(cls), top, start, end;
	uint64_t align = arena_class_is_hash(cls) ? ARENA_GROUP : 1;

	top = __atomic_load_n(&a->h->top, __ATOMIC_RELAXED);
	do {
		start = (top + align - 1) / align * align;
		end = start + n;
		if (end > a->h->size || end > ARENA_NIL)
			return false;
	} while (!__atomic_compare_exchange_n(&a->h->top, &top, end, true, __ATOMIC_RELAXED,
					      __ATOMIC_RELAXED));
	for (; top < start; top++)
		push(a, &a->h->heads[shard % ARENA_SHARDS][0], (uint32_t)top);
	*ret_off = (uint32_t)start;
	return true;
}

/* Biggest class that fits len records at off (hash classes need alignment). */
static unsigned fit_class(uint64_t off, uint64_t len)
{
	unsigned c = ARENA_CLASSES;

	while (c-- > 0) {
		if (arena_class_cap(c) > len)
			continue;
		if (arena_class_is_hash(c) && off % ARENA_GROUP)
			continue;
		return c;
	}
	return 0;
}

/* Put the free run [off, off + len) back as the biggest blocks that fit. */
static void give_back(const struct arena *a, uint64_t off, uint64_t len, unsigned *shard)
{
	uint64_t pad;
	unsigned c;

	while (len) {
		/* Reach group alignment first when a table block would fit after. */
		pad = (ARENA_GROUP - off % ARENA_GROUP) % ARENA_GROUP;
		c = fit_class(off,
			      pad && len >= pad + arena_class_cap(ARENA_ARRAY_CLASSES) ? pad : len);
		arena_free(a, (uint32_t)off, c, (*shard)++);
		off += arena_class_cap(c);
		len -= arena_class_cap(c);
	}
}

int arena_alloc(const struct arena *a, unsigned cls, unsigned shard, uint32_t *ret_off,
		unsigned *ret_cls)
{
	unsigned c, last, s = shard;

	if (cls >= ARENA_CLASSES)
		return -EINVAL;
	if (pop_class(a, cls, shard, ret_off) || bump(a, cls, shard, ret_off)) {
		*ret_cls = cls;
		return 0;
	}
	/* Exhausted: a bigger free block of the same kind will do. */
	last = arena_class_is_hash(cls) ? ARENA_CLASSES : ARENA_ARRAY_CLASSES;
	for (c = cls + 1; c < last; c++) {
		if (pop_class(a, c, shard, ret_off)) {
			*ret_cls = c;
			return 0;
		}
	}
	/* No array block left: split the smallest free table block. */
	if (arena_class_is_hash(cls))
		return -ENOSPC;
	for (c = ARENA_ARRAY_CLASSES; c < ARENA_CLASSES; c++) {
		if (pop_class(a, c, shard, ret_off)) {
			give_back(a, (uint64_t)*ret_off + arena_class_cap(cls),
				  arena_class_cap(c) - arena_class_cap(cls), &s);
			*ret_cls = cls;
			return 0;
		}
	}
	return -ENOSPC;
}

void arena_free(const struct arena *a, uint32_t off, unsigned cls, unsigned shard)
{
	push(a, &a->h->heads[shard % ARENA_SHARDS][cls], off);
}

uint64_t arena_top(const struct arena *a)
{
	return __atomic_load_n(&a->h->top, __ATOMIC_RELAXED);
}

int arena_walk_free(const struct arena *a, uint64_t max,
		    int (*fn)(uint32_t off, unsigned cls, void *arg), void *arg)
{
	uint64_t seen = 0;
	uint32_t off;
	unsigned s, c;
	int rc;

	for (s = 0; s < ARENA_SHARDS; s++) {
		for (c = 0; c < ARENA_CLASSES; c++) {
			off = (uint32_t)a->h->heads[s][c];
			while (off != ARENA_NIL) {
				if (++seen > max || (uint64_t)off >= a->h->size)
					return -ELOOP;
				rc = fn(off, c, arg);
				if (rc)
					return rc;
				off = *link_of(a, off);
			}
		}
	}
	return 0;
}

uint64_t arena_rebuild(const struct arena *a, const uint64_t *used)
{
	uint64_t top = arena_top(a), i = 0, run, freed = 0;
	unsigned s, c, shard = 0;

	for (s = 0; s < ARENA_SHARDS; s++)
		for (c = 0; c < ARENA_HEADS_PER_SHARD; c++)
			a->h->heads[s][c] = ARENA_NIL;
	while (i < top) {
		if (used[i / 64] >> (i % 64) & 1) {
			i++;
			continue;
		}
		for (run = 0; i + run < top && !(used[(i + run) / 64] >> ((i + run) % 64) & 1);)
			run++;
		freed += run;
		give_back(a, i, run, &shard);
		i += run;
	}
	return freed;
}
