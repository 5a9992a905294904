/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * shm/peers.c - peer sets: small arrays and in-block hash tables.
 *
 * Layout. A swarm's peers of one family live in one arena block. Up to
 * ARENA_ARRAY_MAX (64) peers the block is a dense array: entries
 * [0, count) are peers, the rest is slack; lookups scan it (at most 64
 * compares of 6 or 18 bytes, all in one to eight cache lines). Above that
 * the block is an open-addressing hash table with linear probing, a power
 * of two of slots, kept between 3/16 and 13/16 full; the home slot is a
 * keyed hash of (address, port), so a client choosing ports cannot build
 * long probe runs. Deletion is by backward shift, so there are no
 * tombstones and a lookup stops at the first empty slot. The table is its
 * own index: no per-peer memory beyond the record and the load slack.
 *
 * Growth allocates the next class, copies or rehashes, publishes the new
 * word with one 64-bit store and frees the old block. Shrinking does the
 * same when an array falls to two classes below its size, when a table
 * falls under 3/16, or to an array at PEERS_ARRAY_BACK peers. A failed
 * allocation on the way down just keeps the bigger block.
 *
 * Crash states (a holder killed between any two stores) and how
 * peers_repair() handles them:
 *  - entry written past the count, count not yet published: invisible;
 *  - swap-remove or in-place compaction copied an entry, count not yet
 *    lowered: a duplicate inside [0, count): dropped;
 *  - backward shift copied an entry, source not yet cleared: a duplicate
 *    later in the probe run, which a lookup never reaches: dropped;
 *  - new block allocated, word not yet published (or published, old block
 *    not yet freed): one block leaked, the set itself is intact;
 *  - the count in the word disagrees with a hash table's occupancy:
 *    recounted.
 * IPv4 entries are written with one 8-byte store; IPv6 entries get their
 * port (the occupancy mark) last.
 */
#include "shm/peers.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "shm/keyhash.h"

#define AI __attribute__((always_inline)) inline
#define barrier() __asm__ __volatile__("" ::: "memory")

static AI uint8_t *rec_at(const struct peers_ctx *c, uint32_t off, uint64_t i, unsigned rs)
{
	return c->ar->base + ((uint64_t)off + i) * rs;
}

static AI uint16_t port_of(const uint8_t *r, unsigned rs)
{
	uint16_t p;

	memcpy(&p, r + rs - 4, 2);
	return p;
}

static AI uint16_t meta_of(const uint8_t *r, unsigned rs)
{
	uint16_t m;

	memcpy(&m, r + rs - 2, 2);
	return m;
}

static AI void put_meta(uint8_t *r, unsigned rs, uint16_t m)
{
	__atomic_store_n((uint16_t *)(void *)(r + rs - 2), m, __ATOMIC_RELAXED);
}

static AI bool key_eq(const uint8_t *r, const uint8_t *key, unsigned rs)
{
	if (rs == PEERS_REC4) {
		uint32_t a, b;
		uint16_t p, q;

		memcpy(&a, r, 4);
		memcpy(&b, key, 4);
		memcpy(&p, r + 4, 2);
		memcpy(&q, key + 4, 2);
		return a == b && p == q;
	}
	return memcmp(r, key, PEERS_REC6 - 2) == 0;
}

static AI uint64_t key_hash(const struct peers_ctx *c, const uint8_t *key, unsigned rs)
{
	uint64_t a, b;
	uint32_t a4;
	uint16_t p;

	if (rs == PEERS_REC4) {
		memcpy(&a4, key, 4);
		memcpy(&p, key + 4, 2);
		return keyhash_mix64((uint64_t)a4 | (uint64_t)p << 32, c->k0, c->k1);
	}
	memcpy(&a, key, 8);
	memcpy(&b, key + 8, 8);
	memcpy(&p, key + 16, 2);
	return keyhash_mix64(keyhash_mum(a ^ c->k0, b ^ c->k1 ^ ((uint64_t)p << 48)), c->k1, c->k0);
}

/* Write a whole record so that it becomes visible (port != 0) last. */
static AI void put_rec(uint8_t *dst, const uint8_t *key, uint16_t meta, unsigned rs)
{
	if (rs == PEERS_REC4) {
		uint64_t v;
		uint8_t b[8];

		memcpy(b, key, 6);
		memcpy(b + 6, &meta, 2);
		memcpy(&v, b, 8);
		__atomic_store_n((uint64_t *)(void *)dst, v, __ATOMIC_RELAXED);
		return;
	}
	memcpy(dst, key, 16);
	memcpy(dst + 18, &meta, 2);
	barrier();
	memcpy(dst + 16, key + 16, 2);
}

static AI void copy_rec(uint8_t *dst, const uint8_t *src, unsigned rs)
{
	put_rec(dst, src, meta_of(src, rs), rs);
}

static AI void clear_rec(uint8_t *dst, unsigned rs)
{
	if (rs == PEERS_REC4) {
		__atomic_store_n((uint64_t *)(void *)dst, 0, __ATOMIC_RELAXED);
		return;
	}
	memset(dst + 16, 0, 2);
	barrier();
	memset(dst, 0, 16);
	memset(dst + 18, 0, 2);
}

static AI void publish(uint64_t *w, uint64_t nw)
{
	barrier();
	__atomic_store_n(w, nw, __ATOMIC_RELAXED);
	barrier();
}

bool peers_word_valid(const struct peers_ctx *c, uint64_t w)
{
	uint32_t cnt = peers_word_cnt(w), cap;
	unsigned cls = peers_word_cls(w);

	if (!cnt)
		return w == 0;
	if (cls >= ARENA_CLASSES)
		return false;
	cap = arena_class_cap(cls);
	if ((uint64_t)peers_word_off(w) + cap > c->ar->h->size)
		return false;
	if (arena_class_is_hash(cls))
		return cnt < cap && (peers_word_off(w) % ARENA_GROUP) == 0;
	return cnt <= cap;
}

/* --- lookups ------------------------------------------------------------ */

static AI long find_rs(const struct peers_ctx *c, uint64_t w, const uint8_t *key, unsigned rs)
{
	uint32_t cnt = peers_word_cnt(w), off = peers_word_off(w), i, mask, n;
	unsigned cls = peers_word_cls(w);
	uint8_t *r;

	if (!cnt)
		return -1;
	if (!arena_class_is_hash(cls)) {
		r = rec_at(c, off, 0, rs);
		for (i = 0; i < cnt; i++, r += rs)
			if (key_eq(r, key, rs))
				return i;
		return -1;
	}
	mask = arena_class_cap(cls) - 1;
	i = (uint32_t)key_hash(c, key, rs) & mask;
	for (n = 0; n <= mask; n++, i = (i + 1) & mask) {
		r = rec_at(c, off, i, rs);
		if (!port_of(r, rs))
			return -1;
		if (key_eq(r, key, rs))
			return i;
	}
	return -1;
}

long peers_find(const struct peers_ctx *c, uint64_t w, const uint8_t *key)
{
	return c->v6 ? find_rs(c, w, key, PEERS_REC6) : find_rs(c, w, key, PEERS_REC4);
}

uint16_t peers_meta(const struct peers_ctx *c, uint64_t w, long slot)
{
	unsigned rs = c->v6 ? PEERS_REC6 : PEERS_REC4;

	return meta_of(rec_at(c, peers_word_off(w), (uint64_t)slot, rs), rs);
}

void peers_set_meta(const struct peers_ctx *c, uint64_t w, long slot, uint16_t meta)
{
	unsigned rs = c->v6 ? PEERS_REC6 : PEERS_REC4;

	put_meta(rec_at(c, peers_word_off(w), (uint64_t)slot, rs), rs, meta);
}

static AI void prefetch_rs(const struct peers_ctx *c, uint64_t w, const uint8_t *key, unsigned rs)
{
	uint32_t cnt = peers_word_cnt(w), off = peers_word_off(w), mask, n, i;
	unsigned cls = peers_word_cls(w);
	const uint8_t *r;

	if (!cnt || !peers_word_valid(c, w))
		return;
	if (!arena_class_is_hash(cls)) {
		r = rec_at(c, off, 0, rs);
		n = cnt * rs;
		for (i = 0; i < n && i < 256; i += 64)
			__builtin_prefetch(r + i);
		return;
	}
	mask = arena_class_cap(cls) - 1;
	__builtin_prefetch(rec_at(c, off, (uint32_t)key_hash(c, key, rs) & mask, rs));
}

void peers_prefetch(const struct peers_ctx *c, uint64_t w, const uint8_t *key)
{
	if (c->v6)
		prefetch_rs(c, w, key, PEERS_REC6);
	else
		prefetch_rs(c, w, key, PEERS_REC4);
}

/* --- hash-table primitives ----------------------------------------------- */

/* Place a record (key not present) into a table with a free slot. */
static AI uint32_t table_put(const struct peers_ctx *c, uint32_t off, uint32_t mask,
			     const uint8_t *key, uint16_t meta, unsigned rs)
{
	uint32_t i = (uint32_t)key_hash(c, key, rs) & mask, n;

	for (n = 0; n <= mask; n++, i = (i + 1) & mask)
		if (!port_of(rec_at(c, off, i, rs), rs))
			break;
	put_rec(rec_at(c, off, i, rs), key, meta, rs);
	return i;
}

/* Backward-shift deletion of slot i. */
static AI void table_del(const struct peers_ctx *c, uint32_t off, uint32_t mask, uint32_t i,
			 unsigned rs)
{
	uint32_t j = i, n, home;
	uint8_t *r;

	for (n = 0; n < mask; n++) {
		j = (j + 1) & mask;
		r = rec_at(c, off, j, rs);
		if (!port_of(r, rs))
			break;
		home = (uint32_t)key_hash(c, r, rs) & mask;
		if (((j - home) & mask) >= ((j - i) & mask)) {
			copy_rec(rec_at(c, off, i, rs), r, rs);
			i = j;
		}
	}
	clear_rec(rec_at(c, off, i, rs), rs);
}

/* Move the set in w into a fresh block of class want. 0 or -ENOSPC. */
static AI int move_set(const struct peers_ctx *c, uint64_t *w, unsigned want, bool shrink,
		       unsigned rs)
{
	uint32_t cnt = peers_word_cnt(*w), off = peers_word_off(*w), noff, cap, ncap, i, o;
	unsigned cls = peers_word_cls(*w), ncls;
	uint8_t *r;

	if (arena_alloc(c->ar, want, c->shard, &noff, &ncls))
		return -ENOSPC;
	cap = arena_class_cap(cls);
	ncap = arena_class_cap(ncls);
	if (shrink && ncap >= cap) {
		/* Only a block as big as ours was left: keep ours. */
		arena_free(c->ar, noff, ncls, c->shard);
		return -ENOSPC;
	}
	if (arena_class_is_hash(ncls)) {
		memset(rec_at(c, noff, 0, rs), 0, (size_t)ncap * rs);
		for (i = 0; i < (arena_class_is_hash(cls) ? cap : cnt); i++) {
			r = rec_at(c, off, i, rs);
			if (port_of(r, rs))
				table_put(c, noff, ncap - 1, r, meta_of(r, rs), rs);
		}
	} else {
		o = 0;
		for (i = 0; i < (arena_class_is_hash(cls) ? cap : cnt) && o < ncap; i++) {
			r = rec_at(c, off, i, rs);
			if (port_of(r, rs))
				copy_rec(rec_at(c, noff, o++, rs), r, rs);
		}
		cnt = o;
	}
	publish(w, peers_word(noff, ncls, cnt));
	arena_free(c->ar, off, cls, c->shard);
	return 0;
}

/* Smaller block after removals, when worth it and available. */
static AI void maybe_shrink(const struct peers_ctx *c, uint64_t *w, unsigned rs)
{
	uint32_t cnt = peers_word_cnt(*w), cap;
	unsigned cls = peers_word_cls(*w), want;

	if (!cnt)
		return;
	cap = arena_class_cap(cls);
	if (arena_class_is_hash(cls)) {
		if (cnt <= PEERS_ARRAY_BACK)
			want = arena_array_class(cnt);
		else if ((uint64_t)cnt * 16 < (uint64_t)cap * 3 && cls > ARENA_ARRAY_CLASSES)
			want = arena_hash_class(cnt * 2);
		else
			return;
	} else {
		if (cls < 2 || cnt > arena_class_cap(cls - 2))
			return;
		want = arena_array_class(cnt);
	}
	move_set(c, w, want, true, rs);
}

/* --- insert / remove ----------------------------------------------------- */

static AI int insert_rs(const struct peers_ctx *c, uint64_t *w, const uint8_t *key, uint16_t meta,
			long *ret_slot, unsigned rs)
{
	uint32_t cnt, off, cap, noff, i;
	unsigned cls, ncls, tries;

	for (tries = 0; tries < 4; tries++) {
		cnt = peers_word_cnt(*w);
		off = peers_word_off(*w);
		cls = peers_word_cls(*w);
		if (!cnt) {
			if (arena_alloc(c->ar, 0, c->shard, &noff, &ncls))
				return -ENOSPC;
			put_rec(rec_at(c, noff, 0, rs), key, meta, rs);
			publish(w, peers_word(noff, ncls, 1));
			*ret_slot = 0;
			return 0;
		}
		cap = arena_class_cap(cls);
		if (!arena_class_is_hash(cls)) {
			if (cnt < cap) {
				put_rec(rec_at(c, off, cnt, rs), key, meta, rs);
				publish(w, peers_word(off, cls, cnt + 1));
				*ret_slot = cnt;
				return 0;
			}
			if (move_set(c, w,
				     cnt < ARENA_ARRAY_MAX ?
					     arena_array_class(cnt + 1) :
					     arena_hash_class((cnt + 1) * 16 / 13 + 1),
				     false, rs))
				return -ENOSPC;
			continue;
		}
		if ((uint64_t)(cnt + 1) * 16 > (uint64_t)cap * 13 && cls + 1 < ARENA_CLASSES &&
		    move_set(c, w, cls + 1, false, rs) == 0)
			continue;
		/* No bigger table to be had: fill this one up to 15/16. */
		if ((uint64_t)(cnt + 1) * 16 > (uint64_t)cap * 15)
			return -ENOSPC;
		i = table_put(c, off, cap - 1, key, meta, rs);
		publish(w, peers_word(off, cls, cnt + 1));
		*ret_slot = i;
		return 0;
	}
	return -ENOSPC;
}

int peers_insert(const struct peers_ctx *c, uint64_t *w, const uint8_t *key, uint16_t meta,
		 long *ret_slot)
{
	return c->v6 ? insert_rs(c, w, key, meta, ret_slot, PEERS_REC6) :
		       insert_rs(c, w, key, meta, ret_slot, PEERS_REC4);
}

static AI void remove_rs(const struct peers_ctx *c, uint64_t *w, long slot, unsigned rs)
{
	uint32_t cnt = peers_word_cnt(*w), off = peers_word_off(*w);
	unsigned cls = peers_word_cls(*w);

	if (!cnt)
		return;
	if (cnt == 1) {
		publish(w, 0);
		arena_free(c->ar, off, cls, c->shard);
		return;
	}
	if (arena_class_is_hash(cls)) {
		table_del(c, off, arena_class_cap(cls) - 1, (uint32_t)slot, rs);
	} else if ((uint32_t)slot != cnt - 1) {
		copy_rec(rec_at(c, off, (uint64_t)slot, rs), rec_at(c, off, cnt - 1, rs), rs);
	}
	publish(w, peers_word(off, cls, cnt - 1));
	maybe_shrink(c, w, rs);
}

void peers_remove(const struct peers_ctx *c, uint64_t *w, long slot)
{
	if (c->v6)
		remove_rs(c, w, slot, PEERS_REC6);
	else
		remove_rs(c, w, slot, PEERS_REC4);
}

/* --- sampling ------------------------------------------------------------ */

static AI uint32_t below(uint64_t *rng, uint32_t n)
{
	return (uint32_t)(((peers_rand(rng) & 0xffffffffULL) * n) >> 32);
}

static AI void plan_rs(const struct peers_ctx *c, uint64_t w, unsigned k, uint64_t *rng,
		       struct peers_plan *p, unsigned rs)
{
	uint32_t cnt = peers_word_cnt(w), off = peers_word_off(w), cap, groups, need, gi, g, q;
	unsigned cls = peers_word_cls(w);
	const uint8_t *r;

	p->w = w;
	if (!cnt || !arena_class_is_hash(cls))
		return;
	cap = arena_class_cap(cls);
	groups = cap / ARENA_GROUP;
	p->g0 = below(rng, groups);
	p->d = (below(rng, groups) | 1) & (groups - 1);
	p->o = below(rng, ARENA_GROUP);
	/* Fetch the groups we expect to need all at once: k / (8 x load), plus two. */
	need = (uint32_t)(((uint64_t)k * cap) / ((uint64_t)cnt * ARENA_GROUP)) + 2;
	if (need > groups)
		need = groups;
	if (need > 16)
		need = 16;
	for (gi = 0, g = p->g0; gi < need; gi++, g = (g + p->d) & (groups - 1)) {
		r = rec_at(c, off, (uint64_t)g * ARENA_GROUP, rs);
		for (q = 0; q < ARENA_GROUP * rs; q += 64)
			__builtin_prefetch(r + q);
		if (rs != PEERS_REC4) /* 160-byte IPv6 groups may straddle a fourth line */
			__builtin_prefetch(r + ARENA_GROUP * rs - 1);
	}
}

void peers_plan(const struct peers_ctx *c, uint64_t w, unsigned k, uint64_t *rng,
		struct peers_plan *p)
{
	if (c->v6)
		plan_rs(c, w, k, rng, p, PEERS_REC6);
	else
		plan_rs(c, w, k, rng, p, PEERS_REC4);
}

static AI unsigned sample_rs(const struct peers_ctx *c, uint64_t w, long self, unsigned k,
			     uint64_t *rng, const struct peers_plan *plan, uint8_t *out,
			     unsigned rs)
{
	uint32_t cnt = peers_word_cnt(w), off = peers_word_off(w), m, i, j, cap, groups, g0, d, o,
		 gi, g, q, s;
	unsigned cls = peers_word_cls(w), got = 0, ws = rs - 2;
	struct peers_plan fresh;
	uint32_t cand[PEERS_SAMPLE_MAX + ARENA_GROUP];
	uint8_t idx[ARENA_ARRAY_MAX], t;
	const uint8_t *r, *base = rec_at(c, off, 0, rs); /* out may alias nothing we read */

	if (!cnt || !k)
		return 0;
	m = cnt - (self >= 0);
	if (!m)
		return 0;
	if (!arena_class_is_hash(cls)) {
		if (k >= m) {
			for (i = 0; i < cnt; i++) {
				if ((long)i == self)
					continue;
				memcpy(out + (size_t)got++ * ws, base + (size_t)i * rs, ws);
			}
			return got;
		}
		for (i = 0, j = 0; i < cnt; i++)
			if ((long)i != self)
				idx[j++] = (uint8_t)i;
		for (i = 0; i < k; i++) {
			j = i + below(rng, m - i);
			t = idx[i];
			idx[i] = idx[j];
			idx[j] = t;
			memcpy(out + (size_t)i * ws, base + (size_t)idx[i] * rs, ws);
		}
		return k;
	}
	cap = arena_class_cap(cls);
	if (k >= m) {
		for (i = 0; i < cap && got < m; i++) {
			r = base + (size_t)i * rs;
			if ((long)i != self && port_of(r, rs))
				memcpy(out + (size_t)got++ * ws, r, ws);
		}
		return got;
	}
	groups = cap / ARENA_GROUP;
	if (!plan || plan->w != w) {
		plan_rs(c, w, k, rng, &fresh, rs);
		plan = &fresh;
	}
	g0 = plan->g0;
	d = plan->d;
	o = plan->o;
	if (k > PEERS_SAMPLE_MAX) {
		/* Beyond the candidate buffer: cut the last group short (slightly biased). */
		for (gi = 0, g = g0; gi < groups && got < k; gi++, g = (g + d) & (groups - 1)) {
			for (q = 0; q < ARENA_GROUP; q++) {
				s = g * ARENA_GROUP + ((o + q) & (ARENA_GROUP - 1));
				r = base + (size_t)s * rs;
				memcpy(out + (size_t)got * ws, r, ws);
				got += (port_of(r, rs) != 0) & ((long)s != self);
				if (got == k)
					break;
			}
		}
		return got;
	}
	/*
	 * Collect whole groups (branch-free: every slot is written, kept only
	 * if it holds a peer other than self) until there are at least k
	 * candidates, then drop the surplus (at most a group's worth) chosen
	 * uniformly among all of them, so no group is favoured for being
	 * sparse or dense.
	 */
	for (gi = 0, g = g0; gi < groups && got < k; gi++, g = (g + d) & (groups - 1)) {
		for (q = 0; q < ARENA_GROUP; q++) {
			s = g * ARENA_GROUP + q;
			cand[got] = s;
			got += (port_of(base + (size_t)s * rs, rs) != 0) & ((long)s != self);
		}
	}
	for (i = got; i > k; i--) {
		j = below(rng, i);
		s = cand[j];
		cand[j] = cand[i - 1];
		cand[i - 1] = s;
	}
	if (got > k)
		got = k;
	for (i = 0; i < got; i++)
		memcpy(out + (size_t)i * ws, base + (size_t)cand[i] * rs, ws);
	return got;
}

unsigned peers_sample(const struct peers_ctx *c, uint64_t w, long self, unsigned k, uint64_t *rng,
		      const struct peers_plan *plan, uint8_t *out)
{
	return c->v6 ? sample_rs(c, w, self, k, rng, plan, out, PEERS_REC6) :
		       sample_rs(c, w, self, k, rng, plan, out, PEERS_REC4);
}

/* --- cleaning ------------------------------------------------------------ */

static AI bool expired(uint16_t meta, uint16_t now_tick, uint32_t max_ticks)
{
	uint32_t d = (uint32_t)(now_tick - (meta & PEERS_TICK_MASK)) & PEERS_TICK_MASK;

	return d > max_ticks && d <= PEERS_TICK_MASK - PEERS_FUTURE_TICKS;
}

static AI void clean_rs(const struct peers_ctx *c, uint64_t *w, uint16_t now_tick,
			uint32_t max_ticks, uint32_t *ret_removed, uint32_t *ret_seeders,
			unsigned rs)
{
	uint32_t cnt = peers_word_cnt(*w), off = peers_word_off(*w), rd, wr, cap, i, steps;
	unsigned cls = peers_word_cls(*w);
	uint32_t removed = 0, seeders = 0;
	uint8_t *r;
	uint16_t m;

	*ret_removed = 0;
	*ret_seeders = 0;
	if (!cnt)
		return;
	if (!arena_class_is_hash(cls)) {
		for (rd = 0, wr = 0; rd < cnt; rd++) {
			r = rec_at(c, off, rd, rs);
			m = meta_of(r, rs);
			if (expired(m, now_tick, max_ticks)) {
				removed++;
				seeders += !!(m & PEERS_SEEDER);
				continue;
			}
			if (wr != rd)
				copy_rec(rec_at(c, off, wr, rs), r, rs);
			wr++;
		}
	} else {
		cap = arena_class_cap(cls);
		/* Deleting at i shifts later entries into i: look at i again. */
		for (i = 0, steps = 0; i < cap && steps < 2 * cap; steps++) {
			r = rec_at(c, off, i, rs);
			m = meta_of(r, rs);
			if (port_of(r, rs) && expired(m, now_tick, max_ticks)) {
				removed++;
				seeders += !!(m & PEERS_SEEDER);
				table_del(c, off, cap - 1, i, rs);
				continue;
			}
			i++;
		}
		wr = cnt - removed;
	}
	if (removed) {
		if (!wr) {
			publish(w, 0);
			arena_free(c->ar, off, cls, c->shard);
		} else {
			publish(w, peers_word(off, cls, wr));
			maybe_shrink(c, w, rs);
		}
	}
	*ret_removed = removed;
	*ret_seeders = seeders;
}

void peers_clean(const struct peers_ctx *c, uint64_t *w, uint16_t now_tick, uint32_t max_ticks,
		 uint32_t *ret_removed, uint32_t *ret_seeders_removed)
{
	if (c->v6)
		clean_rs(c, w, now_tick, max_ticks, ret_removed, ret_seeders_removed, PEERS_REC6);
	else
		clean_rs(c, w, now_tick, max_ticks, ret_removed, ret_seeders_removed, PEERS_REC4);
}

/* --- repair and check ---------------------------------------------------- */

static AI void repair_rs(const struct peers_ctx *c, uint64_t *w, uint32_t *ret_seeders, unsigned rs)
{
	uint32_t cnt, off, cap, i, j, steps, n = 0, seeders = 0;
	unsigned cls;
	uint8_t *r;
	long at;

	*ret_seeders = 0;
	if (!peers_word_valid(c, *w)) {
		publish(w, 0); /* unusable word: the block (if any) is leaked */
		return;
	}
	cnt = peers_word_cnt(*w);
	off = peers_word_off(*w);
	cls = peers_word_cls(*w);
	if (!cnt)
		return;
	cap = arena_class_cap(cls);
	if (!arena_class_is_hash(cls)) {
		for (i = 0; i < cnt;) {
			r = rec_at(c, off, i, rs);
			for (j = 0; j < i; j++)
				if (key_eq(rec_at(c, off, j, rs), r, rs))
					break;
			if (!port_of(r, rs) || j < i) {
				if (i != cnt - 1)
					copy_rec(r, rec_at(c, off, cnt - 1, rs), rs);
				cnt--;
				continue;
			}
			seeders += !!(meta_of(r, rs) & PEERS_SEEDER);
			i++;
		}
		n = cnt;
	} else {
		for (i = 0, steps = 0; i < cap && steps < 2 * cap; steps++) {
			r = rec_at(c, off, i, rs);
			if (!port_of(r, rs)) {
				i++;
				continue;
			}
			at = find_rs(c, peers_word(off, cls, 1), r, rs);
			if (at != (long)i) {
				table_del(c, off, cap - 1, i, rs);
				continue;
			}
			i++;
		}
		/*
		 * Count in a second pass: a deletion near the end can shift an
		 * entry from the start (already seen) to the end (seen again).
		 */
		for (i = 0; i < cap; i++) {
			r = rec_at(c, off, i, rs);
			if (port_of(r, rs)) {
				n++;
				seeders += !!(meta_of(r, rs) & PEERS_SEEDER);
			}
		}
		if (n >= cap)
			n = 0; /* cannot happen with a table that had a free slot */
	}
	if (!n) {
		publish(w, 0);
		arena_free(c->ar, off, cls, c->shard);
	} else {
		publish(w, peers_word(off, cls, n));
	}
	*ret_seeders = seeders;
}

void peers_repair(const struct peers_ctx *c, uint64_t *w, uint32_t *ret_seeders)
{
	if (c->v6)
		repair_rs(c, w, ret_seeders, PEERS_REC6);
	else
		repair_rs(c, w, ret_seeders, PEERS_REC4);
}

static AI int check_rs(const struct peers_ctx *c, uint64_t w, uint32_t *ret_seeders, char *why,
		       size_t whylen, unsigned rs)
{
	uint32_t cnt = peers_word_cnt(w), off = peers_word_off(w), cap, i, j, n = 0;
	unsigned cls = peers_word_cls(w);
	uint32_t seeders = 0;
	const uint8_t *r;

	*ret_seeders = 0;
	if (!peers_word_valid(c, w)) {
		snprintf(why, whylen, "peer word %#llx invalid", (unsigned long long)w);
		return -EUCLEAN;
	}
	if (!cnt)
		return 0;
	cap = arena_class_cap(cls);
	if (!arena_class_is_hash(cls)) {
		for (i = 0; i < cnt; i++) {
			r = rec_at(c, off, i, rs);
			if (!port_of(r, rs)) {
				snprintf(why, whylen, "array slot %u of %u empty", i, cnt);
				return -EUCLEAN;
			}
			for (j = 0; j < i; j++) {
				if (key_eq(rec_at(c, off, j, rs), r, rs)) {
					snprintf(why, whylen, "array slots %u and %u same peer", j,
						 i);
					return -EUCLEAN;
				}
			}
			seeders += !!(meta_of(r, rs) & PEERS_SEEDER);
		}
		*ret_seeders = seeders;
		return 0;
	}
	for (i = 0; i < cap; i++) {
		r = rec_at(c, off, i, rs);
		if (!port_of(r, rs))
			continue;
		if (find_rs(c, w, r, rs) != (long)i) {
			snprintf(why, whylen, "table slot %u of %u unreachable or duplicate", i,
				 cap);
			return -EUCLEAN;
		}
		n++;
		seeders += !!(meta_of(r, rs) & PEERS_SEEDER);
	}
	if (n != cnt) {
		snprintf(why, whylen, "table holds %u peers, word says %u", n, cnt);
		return -EUCLEAN;
	}
	*ret_seeders = seeders;
	return 0;
}

int peers_check(const struct peers_ctx *c, uint64_t w, uint32_t *ret_seeders, char *why,
		size_t whylen)
{
	return c->v6 ? check_rs(c, w, ret_seeders, why, whylen, PEERS_REC6) :
		       check_rs(c, w, ret_seeders, why, whylen, PEERS_REC4);
}

void peers_foreach(const struct peers_ctx *c, uint64_t w, void (*fn)(const uint8_t *rec, void *arg),
		   void *arg)
{
	unsigned rs = c->v6 ? PEERS_REC6 : PEERS_REC4;
	uint32_t cnt = peers_word_cnt(w), off = peers_word_off(w), i, n;
	unsigned cls = peers_word_cls(w);
	const uint8_t *r;

	if (!cnt)
		return;
	n = arena_class_is_hash(cls) ? arena_class_cap(cls) : cnt;
	for (i = 0; i < n; i++) {
		r = rec_at(c, off, i, rs);
		if (port_of(r, rs))
			fn(r, arg);
	}
}

static AI bool same_prefix(const uint8_t *r, const uint8_t *addr, unsigned full, uint8_t last)
{
	return !memcmp(r, addr, full) && (!last || ((r[full] ^ addr[full]) & last) == 0);
}

uint32_t peers_count_source(const struct peers_ctx *c, uint64_t w, const uint8_t *addr,
			    unsigned bits, uint32_t limit, uint64_t *rng)
{
	unsigned rs = c->v6 ? PEERS_REC6 : PEERS_REC4, alen = c->v6 ? 16 : 4;
	uint32_t cnt = peers_word_cnt(w), off = peers_word_off(w), i, n, m = 0, seen = 0;
	unsigned cls = peers_word_cls(w), full;
	uint8_t last;
	const uint8_t *r;
	uint64_t est;

	if (!cnt)
		return 0;
	if (bits > alen * 8)
		bits = alen * 8;
	full = bits / 8;
	last = (uint8_t)(0xff00u >> (bits % 8));
	if (!(bits % 8))
		last = 0;
	if (!arena_class_is_hash(cls)) {
		for (i = 0; i < cnt && m < limit; i++)
			if (same_prefix(rec_at(c, off, i, rs), addr, full, last))
				m++;
		return m;
	}
	n = arena_class_cap(cls);
	if (n <= PEERS_SOURCE_EXACT) {
		for (i = 0; i < n && m < limit; i++) {
			r = rec_at(c, off, i, rs);
			if (port_of(r, rs) && same_prefix(r, addr, full, last))
				m++;
		}
		return m;
	}
	/*
	 * The window starts where a keyed hash of the source prefix says:
	 * always the same one for a source (a source retrying cannot win a
	 * lottery of windows), unknown to it (it cannot place ports in or
	 * out of it).
	 */
	{
		uint8_t pfx[16] = { 0 };
		uint64_t a0, a1;

		memcpy(pfx, addr, full);
		if (last)
			pfx[full] = addr[full] & last;
		memcpy(&a0, pfx, 8);
		memcpy(&a1, pfx + 8, 8);
		uint64_t h =
			keyhash_mix64(keyhash_mum(a0 ^ c->k1, a1 ^ c->k0 ^ bits), c->k0, c->k1);

		i = (uint32_t)(((h >> 32) * n) >> 32);
	}
	(void)rng;
	for (uint32_t k = 0; k < PEERS_SOURCE_SCAN && k < n; k++, i = i + 1 == n ? 0 : i + 1) {
		r = rec_at(c, off, i, rs);
		if (!port_of(r, rs))
			continue;
		seen++;
		if (same_prefix(r, addr, full, last))
			m++;
	}
	/*
	 * A match or two in a big swarm says little (scaled up, one hit
	 * would refuse an innocent NAT address): scale only from
	 * PEERS_SOURCE_MIN_HITS matches, i.e. a source holding a visible
	 * share of the swarm.
	 */
	if (m < PEERS_SOURCE_MIN_HITS)
		return m;
	est = (uint64_t)m * cnt / seen;
	return est > limit ? limit : (uint32_t)est;
}
