/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * shm/torrents.c - the lock-striped torrent table in the shared segment.
 *
 * Layout (see shm/layout.h for the byte map). The table is split into
 * nstripes (a power of two, up to 4096) stripes. An info-hash's stripe is
 * the top bits of SipHash-1-3 under the segment's random stripe key, so a
 * client cannot aim its torrents at one lock. Each stripe owns:
 *  - a header (struct layout_stripe): the lock and the stripe's counts
 *    (torrents, peers per family, seeders, completed, arena records held,
 *    refusals, lock events), all changed only under the lock, summed by
 *    torrents_get_gauges() without locks;
 *  - a dense array of stripe_cap 48-byte torrent records [0, n): hash,
 *    completed, seeders, time it became empty, and one 64-bit word per
 *    family describing its peer set (shm/peers.h);
 *  - an index of index_slots uint32 entries (open addressing, linear
 *    probing, backward-shift deletion, load <= 2/3): 0 is empty, else the
 *    low ibits hold record + 1 and the high bits a tag from the hash, so
 *    most probes that miss never touch a record. The home slot is the low
 *    32 hash bits scaled to index_slots.
 * Removing a torrent moves the last record into its place and re-points
 * that record's index entry.
 *
 * Lock protocol. Every operation on a torrent takes exactly its stripe's
 * lock, does no system call and takes no other lock while holding it
 * (arena allocation is lock-free, see shm/arena.c), and releases it.
 * Scrape takes and releases one stripe per hash; clean and iterate one
 * stripe per call. The only system call near the lock is the futex wait of
 * a contended acquisition, made before the lock is held. The random
 * generator is seeded (getrandom) before the lock is taken.
 *
 * Crash recovery. A worker can be killed between any two stores. Updates
 * are ordered so that every intermediate state is repairable:
 *  - a new torrent's record is written past n, then its index entry, then
 *    n is bumped (crash: an invisible record, a stray index entry);
 *  - removal copies the last record into the hole hash first and peer
 *    words last, re-points the index, then lowers n (crash: a duplicate
 *    of the last record, or a partial copy without peer blocks);
 *  - peer-set changes are published with one 64-bit store (shm/peers.c).
 * When the lock reports its owner died, repair_stripe() rebuilds the
 * index from the records (a hash seen twice keeps the higher record: the
 * original of a move), repairs every peer set (duplicates, holes,
 * counts), recounts the torrent and stripe counts, counts the recovery,
 * and only then marks the lock consistent. Blocks being moved at the
 * moment of death may leak (torrents_check_quiescent() reports them,
 * torrents_reclaim() gives them back while nobody else runs); no block is
 * ever shared or handed out twice.
 *
 * Speed. A single announce is three dependent cache misses (index slot,
 * record, peer block); torrents_announce() overlaps what it can with taking
 * the lock, and torrents_announce_many() runs a software pipeline over a
 * batch so that each miss has several announces' time to land.
 *
 * Time. Peers keep a 14-bit last-seen tick of 8 s (131,072 s wrap), so
 * peer_max_age is capped at 43,200 s and each stripe must be cleaned at
 * least every 86,848 s (131,072 - 43,200 - 1,024; the configuration caps
 * cleaning_interval at 86,400 s), or a peer that stopped announcing could
 * read as fresh again. A peer expires between peer_max_age and
 * peer_max_age + 16 s after its last announce. Ticks up to 1024 s ahead of
 * the cleaner's clock count as fresh, so a worker that read the clock a
 * moment later is never expired.
 *
 * Semantics decided here: completed counts once per stored peer (a flag in
 * the peer record), so a peer that stopped or expired and comes back with
 * completed again counts again; a stopped announce returns counts but no
 * peers and never creates a torrent; a new torrent whose first peer is
 * refused for lack of arena is not kept.
 *
 * Per-source cap (a->source_max): a new peer is not stored when its source
 * prefix already has source_max peers in that swarm and family; peers
 * already stored are updated as usual. The count is exact for swarms kept
 * as arrays and sampled for hash tables (shm/peers.c, peers_count_source()),
 * so its cost is bounded: at most PEERS_SOURCE_EXACT records read,
 * under the lock the insert takes anyway.
 */
#include "shm/torrents.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "shm/arena.h"
#include "shm/keyhash.h"
#include "shm/layout.h"
#include "shm/peers.h"
#include "shm/stripe.h"

#define barrier() __asm__ __volatile__("" ::: "memory")
#define BATCH 16 /* requests prefetched together */

struct torrents {
	uint8_t *base;
	struct layout_hdr *hdr;
	struct layout_stripe *stripes;
	struct layout_trec *recs;
	uint32_t *index;
	struct arena ar[2];
	uint8_t key[SEGMENT_KEY_LEN];
	uint64_t pk0, pk1; /* peer slot hash key */
	uint32_t nstripes, sbits, cap, slots, ibits, imask, tagmask;
};

/* --- per-process random generator ---------------------------------------- */

static __thread uint64_t rng_state;
static __thread int rng_ok;
static pthread_once_t rng_once = PTHREAD_ONCE_INIT;

static void rng_child(void)
{
	rng_ok = 0;
}

static void rng_register(void)
{
	pthread_atfork(NULL, NULL, rng_child);
}

static uint64_t *rng(void)
{
	struct timespec ts;
	uint64_t s;

	if (__builtin_expect(rng_ok, 1))
		return &rng_state;
	pthread_once(&rng_once, rng_register);
	if (getrandom(&s, sizeof(s), GRND_NONBLOCK) != (ssize_t)sizeof(s)) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		s = (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 32 ^ (uint64_t)getpid() << 16 ^
		    (uint64_t)(uintptr_t)&s;
	}
	rng_state = s;
	rng_ok = 1;
	return &rng_state;
}

/* --- hashing and the index ----------------------------------------------- */

static inline uint64_t thash(const struct torrents *t, const uint8_t *ih)
{
	return keyhash_sip13(t->key, ih, TORRENTS_HASH_LEN);
}

static inline unsigned stripe_of(const struct torrents *t, uint64_t h)
{
	return t->sbits ? (unsigned)(h >> (64 - t->sbits)) : 0;
}

static inline uint32_t home_of(const struct torrents *t, uint64_t h)
{
	return (uint32_t)(((uint64_t)(uint32_t)h * t->slots) >> 32);
}

static inline uint32_t entry_of(const struct torrents *t, uint64_t h, uint32_t r)
{
	return (((uint32_t)(h >> 32) & t->tagmask) << t->ibits) | (r + 1);
}

static inline struct layout_trec *srecs(const struct torrents *t, unsigned s)
{
	return t->recs + (uint64_t)s * t->cap;
}

static inline uint32_t *sindex(const struct torrents *t, unsigned s)
{
	return t->index + (uint64_t)s * t->slots;
}

/*
 * Record of ih in stripe s, or -1. *ret_slot: the index slot holding it,
 * or the empty slot where it would go.
 */
static long lookup(const struct torrents *t, unsigned s, uint64_t h, const uint8_t *ih,
		   uint32_t *ret_slot)
{
	const struct layout_trec *recs = srecs(t, s);
	const uint32_t *ix = sindex(t, s);
	uint32_t i = home_of(t, h), tag = entry_of(t, h, 0) >> t->ibits, e, r, n;

	for (n = 0; n < t->slots; n++) {
		e = ix[i];
		if (!e) {
			*ret_slot = i;
			return -1;
		}
		if ((e >> t->ibits) == tag) {
			r = (e & t->imask) - 1;
			if (r < t->cap && !memcmp(recs[r].hash, ih, TORRENTS_HASH_LEN)) {
				*ret_slot = i;
				return r;
			}
		}
		if (++i == t->slots)
			i = 0;
	}
	*ret_slot = UINT32_MAX;
	return -1;
}

static inline uint32_t dist(const struct torrents *t, uint32_t from, uint32_t to)
{
	return to >= from ? to - from : to + t->slots - from;
}

static void index_del(const struct torrents *t, unsigned s, uint32_t i)
{
	const struct layout_trec *recs = srecs(t, s);
	uint32_t *ix = sindex(t, s);
	uint32_t j = i, e, r, home, n;

	for (n = 0; n + 1 < t->slots; n++) {
		if (++j == t->slots)
			j = 0;
		e = ix[j];
		if (!e)
			break;
		r = (e & t->imask) - 1;
		home = r < t->cap ? home_of(t, thash(t, recs[r].hash)) : j;
		if (dist(t, home, j) >= dist(t, i, j)) {
			ix[i] = e;
			i = j;
		}
	}
	ix[i] = 0;
}

/* Copy a record in an order a crash can interrupt safely (hash first, peers last). */
static void copy_trec(struct layout_trec *dst, const struct layout_trec *src)
{
	memcpy(dst->hash, src->hash, TORRENTS_HASH_LEN);
	barrier();
	dst->completed = src->completed;
	dst->seeders = src->seeders;
	dst->empty_since = src->empty_since;
	barrier();
	__atomic_store_n(&dst->fam[0], src->fam[0], __ATOMIC_RELAXED);
	__atomic_store_n(&dst->fam[1], src->fam[1], __ATOMIC_RELAXED);
	barrier();
}

/* Remove record r (no peers left) from stripe s. */
static void trec_remove(struct torrents *t, unsigned s, uint32_t r)
{
	struct layout_stripe *st = &t->stripes[s];
	struct layout_trec *recs = srecs(t, s);
	uint32_t last = st->n - 1, slot, *ix = sindex(t, s);

	st->completed -= recs[r].completed;
	if (lookup(t, s, thash(t, recs[r].hash), recs[r].hash, &slot) == (long)r)
		index_del(t, s, slot);
	if (r != last) {
		uint64_t h = thash(t, recs[last].hash);

		copy_trec(&recs[r], &recs[last]);
		if (lookup(t, s, h, recs[last].hash, &slot) == (long)last)
			ix[slot] = entry_of(t, h, r);
	}
	barrier();
	st->n = last;
}

/* --- binding ------------------------------------------------------------- */

static void fill_handle(struct torrents *t, uint8_t *base)
{
	struct layout_hdr *h = (struct layout_hdr *)(void *)base;
	struct arena_hdr *ah = (struct arena_hdr *)(void *)(base + h->l.off_arena_hdrs);
	static const char k0[] = "peers-slot-key-0", k1[] = "peers-slot-key-1";

	t->base = base;
	t->hdr = h;
	t->stripes = (struct layout_stripe *)(void *)(base + h->l.off_stripes);
	t->recs = (struct layout_trec *)(void *)(base + h->l.off_recs);
	t->index = (uint32_t *)(void *)(base + h->l.off_index);
	t->ar[0] = (struct arena){ &ah[0], base + h->l.off_arena4, PEERS_REC4 };
	t->ar[1] = (struct arena){ &ah[1], base + h->l.off_arena6, PEERS_REC6 };
	memcpy(t->key, h->stripe_key, SEGMENT_KEY_LEN);
	t->pk0 = keyhash_sip24(t->key, k0, 16);
	t->pk1 = keyhash_sip24(t->key, k1, 16);
	t->nstripes = h->l.nstripes;
	t->sbits = h->l.sbits;
	t->cap = h->l.stripe_cap;
	t->slots = h->l.index_slots;
	t->ibits = h->l.ibits;
	t->imask = (1u << t->ibits) - 1;
	t->tagmask = t->ibits >= 32 ? 0 : (uint32_t)((1ULL << (32 - t->ibits)) - 1);
}

int torrents_format(void *seg_base)
{
	uint8_t *base = seg_base;
	struct layout_hdr *h = seg_base;
	struct arena_hdr *ah = (struct arena_hdr *)(void *)(base + h->l.off_arena_hdrs);
	struct layout_stripe *st = (struct layout_stripe *)(void *)(base + h->l.off_stripes);
	uint32_t s;
	int rc;

	arena_format(&ah[0], h->l.arena4_records, PEERS_REC4);
	arena_format(&ah[1], h->l.arena6_records, PEERS_REC6);
	for (s = 0; s < h->l.nstripes; s++) {
		rc = stripe_lock_init(&st[s].lock);
		if (rc)
			return rc;
	}
	return 0;
}

int torrents_bind(void *seg_base, struct torrents **ret)
{
	struct torrents *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	fill_handle(t, seg_base);
	*ret = t;
	return 0;
}

void torrents_unbind(struct torrents *t)
{
	free(t);
}

unsigned torrents_stripe_count(const struct torrents *t)
{
	return t->nstripes;
}

unsigned torrents_stripe_of(const struct torrents *t, const uint8_t *info_hash)
{
	return stripe_of(t, thash(t, info_hash));
}

size_t torrents_table_bytes(const struct torrents *t)
{
	const struct layout *l = &t->hdr->l;

	return (size_t)(l->off_arena4 - l->off_stripes);
}

static inline struct peers_ctx ctx_of(const struct torrents *t, unsigned s, int fam)
{
	return (struct peers_ctx){ &t->ar[fam], t->pk0, t->pk1, s % ARENA_SHARDS, fam != 0 };
}

/* --- repair -------------------------------------------------------------- */

static void repair_stripe(struct torrents *t, unsigned s)
{
	struct layout_stripe *st = &t->stripes[s];
	struct layout_trec *recs = srecs(t, s), *rec;
	uint32_t *ix = sindex(t, s), n = st->n, i, last, slot, slot2, sd;
	uint64_t h, held[2] = { 0, 0 }, completed = 0, peers[2] = { 0, 0 }, seeders = 0;
	struct peers_ctx c;
	int f;

	if (n > t->cap)
		n = t->cap;
	memset(ix, 0, (size_t)t->slots * sizeof(*ix));
	for (i = n; i-- > 0;) {
		h = thash(t, recs[i].hash);
		if (lookup(t, s, h, recs[i].hash, &slot) >= 0) {
			/* A copy of a later record (interrupted move): drop it. */
			last = n - 1;
			if (i != last) {
				uint64_t hl = thash(t, recs[last].hash);

				lookup(t, s, hl, recs[last].hash, &slot2);
				copy_trec(&recs[i], &recs[last]);
				ix[slot2] = entry_of(t, hl, i);
			}
			n--;
			continue;
		}
		ix[slot] = entry_of(t, h, i);
	}
	st->n = n;
	for (i = 0; i < n; i++) {
		rec = &recs[i];
		rec->seeders = 0;
		for (f = 0; f < 2; f++) {
			c = ctx_of(t, s, f);
			peers_repair(&c, &rec->fam[f], &sd);
			rec->seeders += sd;
			peers[f] += peers_word_cnt(rec->fam[f]);
			held[f] += peers_held(rec->fam[f]);
		}
		seeders += rec->seeders;
		completed += rec->completed;
	}
	st->peers4 = (uint32_t)peers[0];
	st->peers6 = (uint32_t)peers[1];
	st->seeders = (uint32_t)seeders;
	st->completed = completed;
	st->held4 = held[0];
	st->held6 = held[1];
}

static int lock_stripe(struct torrents *t, unsigned s)
{
	struct layout_stripe *st = &t->stripes[s];
	bool contended;
	int rc;

	rc = stripe_lock_acquire(&st->lock, &contended);
	if (rc < 0)
		return rc;
	if (contended)
		st->contended++;
	if (rc == STRIPE_LOCK_RECOVER) {
		repair_stripe(t, s);
		st->recoveries++;
		stripe_lock_consistent(&st->lock);
	}
	return 0;
}

static inline void unlock_stripe(struct torrents *t, unsigned s)
{
	stripe_lock_release(&t->stripes[s].lock);
}

/* --- announce ------------------------------------------------------------ */

static inline uint32_t rec_peers(const struct layout_trec *rec)
{
	return peers_word_cnt(rec->fam[0]) + peers_word_cnt(rec->fam[1]);
}

/*
 * One request: start the stripe header and index slot loads together,
 * then (peeking at the index without the lock, only to prefetch) the
 * record's, so its miss overlaps taking the lock. Returns the record the
 * index points at (unlocked: only for more prefetching), or NULL.
 */
static inline const struct layout_trec *prefetch_one(const struct torrents *t, unsigned s,
						     uint64_t h)
{
	const uint32_t *e = &sindex(t, s)[home_of(t, h)];
	uint32_t v, r;

	__builtin_prefetch(&t->stripes[s], 1);
	__builtin_prefetch(e);
	v = __atomic_load_n(e, __ATOMIC_RELAXED);
	r = (v & t->imask) - 1;
	if (v && (v >> t->ibits) == entry_of(t, h, 0) >> t->ibits && r < t->cap) {
		__builtin_prefetch(&srecs(t, s)[r]);
		__builtin_prefetch((const uint8_t *)&srecs(t, s)[r] + 47);
		return &srecs(t, s)[r];
	}
	return NULL;
}

static void key_of(const struct torrents_announce *a, uint8_t key[18])
{
	if (a->peer.ipv6) {
		memcpy(key, a->peer.addr, 16);
		key[16] = (uint8_t)(a->peer.port >> 8);
		key[17] = (uint8_t)a->peer.port;
	} else {
		memcpy(key, a->peer.addr, 4);
		key[4] = (uint8_t)(a->peer.port >> 8);
		key[5] = (uint8_t)a->peer.port;
	}
}

/* One announce; pp: a plan drawn (and prefetched) by a batch, or NULL. */
static int announce_h(struct torrents *t, const struct torrents_announce *a, uint64_t h,
		      const struct peers_plan *pp, uint8_t *peers_out, struct torrents_result *ret)
{
	uint64_t *rs = rng(), held;
	unsigned s = stripe_of(t, h);
	struct layout_stripe *st = &t->stripes[s];
	int fam = a->peer.ipv6 ? 1 : 0, rc;
	struct peers_ctx c = ctx_of(t, s, fam);
	uint16_t tick = peers_tick(a->now), meta, nm;
	struct layout_trec *rec;
	bool created = false, stopped = a->event == TORRENTS_EVENT_STOPPED;
	uint8_t key[18];
	struct peers_plan plan = { 0 };
	const struct layout_trec *pre;
	uint32_t slot, before;
	long r, p = -1;
	uint64_t w;

	memset(ret, 0, sizeof(*ret));
	if (!a->peer.port)
		return -EINVAL;
	key_of(a, key);
	pre = pp ? NULL : prefetch_one(t, s, h);
	if (pp)
		plan = *pp;
	if (pre) {
		/*
		 * Still unlocked: a racy read of the peer word, to start loading
		 * the requester's slot and a sample's groups while the lock and
		 * the record arrive. The sample redraws if the word changed.
		 */
		w = __atomic_load_n(&pre->fam[fam], __ATOMIC_RELAXED);
		peers_prefetch(&c, w, key);
		if (!stopped && a->numwant && arena_class_is_hash(peers_word_cls(w)))
			peers_plan(&c, w, a->numwant, rs, &plan);
	}
	rc = lock_stripe(t, s);
	if (rc)
		return rc;
	r = lookup(t, s, h, a->info_hash, &slot);
	if (r < 0) {
		if (stopped)
			goto out;
		if (st->n >= t->cap || slot == UINT32_MAX) {
			st->refused_table++;
			ret->refused = TORRENTS_REFUSED_TABLE;
			goto out;
		}
		r = st->n;
		rec = &srecs(t, s)[r];
		/* rec is in the mapped segment: NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker) */
		memcpy(rec->hash, a->info_hash, TORRENTS_HASH_LEN);
		rec->completed = 0;
		rec->seeders = 0;
		rec->empty_since = a->now;
		rec->fam[0] = 0;
		rec->fam[1] = 0;
		barrier();
		sindex(t, s)[slot] = entry_of(t, h, (uint32_t)r);
		barrier();
		st->n = (uint32_t)r + 1;
		created = true;
	}
	rec = &srecs(t, s)[r];
	held = peers_held(rec->fam[fam]);
	p = peers_find(&c, rec->fam[fam], key);
	if (p >= 0) {
		meta = peers_meta(&c, rec->fam[fam], p);
		if (meta & PEERS_SEEDER) {
			rec->seeders--;
			st->seeders--;
		}
		if (stopped) {
			before = rec_peers(rec);
			peers_remove(&c, &rec->fam[fam], p);
			p = -1;
			if (fam)
				st->peers6--;
			else
				st->peers4--;
			if (before == 1)
				rec->empty_since = a->now;
		} else {
			nm = tick | (a->seeding ? PEERS_SEEDER : 0) | (meta & PEERS_COMPLETED);
			if (a->event == TORRENTS_EVENT_COMPLETED && !(meta & PEERS_COMPLETED)) {
				nm |= PEERS_COMPLETED;
				rec->completed++;
				st->completed++;
			}
			peers_set_meta(&c, rec->fam[fam], p, nm);
			if (a->seeding) {
				rec->seeders++;
				st->seeders++;
			}
		}
	} else if (!stopped) {
		nm = tick | (a->seeding ? PEERS_SEEDER : 0);
		if (a->event == TORRENTS_EVENT_COMPLETED)
			nm |= PEERS_COMPLETED;
		if (a->source_max && !created &&
		    peers_count_source(&c, rec->fam[fam], key, a->source_bits, a->source_max, rs) >=
			    a->source_max) {
			/* Per-source cap: answered, not stored (see peers_count_source()). */
			ret->refused = TORRENTS_REFUSED_SOURCE;
		} else if (peers_insert(&c, &rec->fam[fam], key, nm, &p)) {
			st->refused_arena++;
			ret->refused = TORRENTS_REFUSED_ARENA;
			p = -1;
			if (created) {
				trec_remove(t, s, (uint32_t)r);
				goto out;
			}
		} else {
			if (fam)
				st->peers6++;
			else
				st->peers4++;
			if (a->seeding) {
				rec->seeders++;
				st->seeders++;
			}
			if (nm & PEERS_COMPLETED) {
				rec->completed++;
				st->completed++;
			}
		}
	}
	if (fam)
		st->held6 += peers_held(rec->fam[fam]) - held;
	else
		st->held4 += peers_held(rec->fam[fam]) - held;
	if (!stopped && a->numwant)
		ret->npeers = peers_sample(&c, rec->fam[fam], p, a->numwant, rs, &plan, peers_out);
	ret->seeders = rec->seeders;
	ret->leechers = rec_peers(rec) - rec->seeders;
out:
	unlock_stripe(t, s);
	return 0;
}

int torrents_announce(struct torrents *t, const struct torrents_announce *a, uint8_t *peers_out,
		      struct torrents_result *ret)
{
	return announce_h(t, a, thash(t, a->info_hash), NULL, peers_out, ret);
}

/* Prefetch the index slots, then the records, of up to BATCH hashes. */
static void prefetch_hashes(const struct torrents *t, const uint64_t *h, unsigned m)
{
	uint32_t e, r;
	unsigned i, s;

	for (i = 0; i < m; i++) {
		s = stripe_of(t, h[i]);
		__builtin_prefetch(&sindex(t, s)[home_of(t, h[i])]);
		__builtin_prefetch(&t->stripes[s]);
	}
	for (i = 0; i < m; i++) {
		s = stripe_of(t, h[i]);
		e = __atomic_load_n(&sindex(t, s)[home_of(t, h[i])], __ATOMIC_RELAXED);
		r = (e & t->imask) - 1;
		if (e && (e >> t->ibits) == entry_of(t, h[i], 0) >> t->ibits && r < t->cap) {
			__builtin_prefetch(&srecs(t, s)[r]);
			__builtin_prefetch((const uint8_t *)&srecs(t, s)[r] + 47);
		}
	}
}

/*
 * Batches hide memory latency with a software pipeline: request i is
 * hashed and its index slot prefetched, while request i - D (reading the
 * index without the lock, only to prefetch) gets its record prefetched,
 * request i - 2D its requester's peer slot and its sample's groups
 * (drawing the sample plan early), and request i - 3D is run under its
 * lock with everything in cache. Reads done to prefetch may race with
 * writers; they only choose what to prefetch and stay inside the segment.
 */
#define PIPE_D 4
#define PIPE_RING 16

int torrents_announce_many(struct torrents *t, const struct torrents_announce *a, unsigned n,
			   uint8_t *const *peers_out, struct torrents_result *ret)
{
	uint64_t *rs = rng(), h[PIPE_RING], w;
	struct peers_plan plan[PIPE_RING];
	uint32_t r[PIPE_RING], e;
	unsigned i, k, s, f;
	struct peers_ctx c;
	uint8_t key[18];
	long j;
	int rc, first = 0;

	_Static_assert(PIPE_RING > 3 * PIPE_D, "ring holds the pipeline");
	for (i = 0; i < n + 3 * PIPE_D; i++) {
		if (i < n) {
			k = i % PIPE_RING;
			h[k] = thash(t, a[i].info_hash);
			s = stripe_of(t, h[k]);
			__builtin_prefetch(&sindex(t, s)[home_of(t, h[k])]);
			__builtin_prefetch(&t->stripes[s], 1);
		}
		j = (long)i - PIPE_D;
		if (j >= 0 && j < (long)n) {
			k = (unsigned)j % PIPE_RING;
			s = stripe_of(t, h[k]);
			e = __atomic_load_n(&sindex(t, s)[home_of(t, h[k])], __ATOMIC_RELAXED);
			r[k] = (e & t->imask) - 1;
			if (e && (e >> t->ibits) == entry_of(t, h[k], 0) >> t->ibits &&
			    r[k] < t->cap) {
				__builtin_prefetch(&srecs(t, s)[r[k]]);
				__builtin_prefetch((const uint8_t *)&srecs(t, s)[r[k]] + 47);
			} else {
				r[k] = UINT32_MAX;
			}
		}
		j = (long)i - 2 * PIPE_D;
		if (j >= 0 && j < (long)n) {
			k = (unsigned)j % PIPE_RING;
			plan[k] = (struct peers_plan){ 0 };
			if (r[k] != UINT32_MAX) {
				f = a[j].peer.ipv6 ? 1 : 0;
				s = stripe_of(t, h[k]);
				w = __atomic_load_n(&srecs(t, s)[r[k]].fam[f], __ATOMIC_RELAXED);
				c = ctx_of(t, s, (int)f);
				key_of(&a[j], key);
				peers_prefetch(&c, w, key);
				if (a[j].event != TORRENTS_EVENT_STOPPED && a[j].numwant &&
				    arena_class_is_hash(peers_word_cls(w)))
					peers_plan(&c, w, a[j].numwant, rs, &plan[k]);
			}
		}
		j = (long)i - 3 * PIPE_D;
		if (j >= 0 && j < (long)n) {
			k = (unsigned)j % PIPE_RING;
			rc = announce_h(t, &a[j], h[k], &plan[k], peers_out[j], &ret[j]);
			if (rc && !first)
				first = rc;
		}
	}
	return first;
}

/* --- scrape, clean, iterate ---------------------------------------------- */

void torrents_scrape(struct torrents *t, const uint8_t *hashes, unsigned n,
		     struct torrents_counts *ret_counts)
{
	const struct layout_trec *rec;
	const uint8_t *ih;
	unsigned i, s, base, m;
	uint64_t h[BATCH];
	uint32_t slot;
	long r;

	for (base = 0; base < n; base += m) {
		m = n - base < BATCH ? n - base : BATCH;
		for (i = 0; i < m; i++)
			h[i] = thash(t, hashes + (size_t)(base + i) * TORRENTS_HASH_LEN);
		if (m > 1)
			prefetch_hashes(t, h, m);
		else
			(void)prefetch_one(t, stripe_of(t, h[0]), h[0]);
		for (i = 0; i < m; i++) {
			ih = hashes + (size_t)(base + i) * TORRENTS_HASH_LEN;
			s = stripe_of(t, h[i]);
			ret_counts[base + i] = (struct torrents_counts){ 0, 0, 0 };
			if (lock_stripe(t, s))
				continue;
			r = lookup(t, s, h[i], ih, &slot);
			if (r >= 0) {
				rec = &srecs(t, s)[r];
				ret_counts[base + i].seeders = rec->seeders;
				ret_counts[base + i].completed = rec->completed;
				ret_counts[base + i].leechers = rec_peers(rec) - rec->seeders;
			}
			unlock_stripe(t, s);
		}
	}
}

int torrents_clean_stripe(struct torrents *t, unsigned stripe, uint32_t now, uint32_t peer_max_age,
			  uint32_t torrent_keep, struct torrents_clean_result *ret)
{
	struct layout_stripe *st;
	struct layout_trec *rec;
	uint32_t i, had, removed, sremoved, max_ticks;
	uint16_t tick = peers_tick(now);
	uint64_t held;
	struct peers_ctx c;
	int f, rc;

	memset(ret, 0, sizeof(*ret));
	if (stripe >= t->nstripes || peer_max_age > TORRENTS_MAX_PEER_AGE)
		return -EINVAL;
	max_ticks = (peer_max_age + PEERS_TICK - 1) / PEERS_TICK;
	st = &t->stripes[stripe];
	rc = lock_stripe(t, stripe);
	if (rc)
		return rc;
	for (i = st->n; i-- > 0;) {
		rec = &srecs(t, stripe)[i];
		had = rec_peers(rec);
		for (f = 0; f < 2; f++) {
			if (!rec->fam[f])
				continue;
			c = ctx_of(t, stripe, f);
			held = peers_held(rec->fam[f]);
			peers_clean(&c, &rec->fam[f], tick, max_ticks, &removed, &sremoved);
			rec->seeders -= sremoved;
			st->seeders -= sremoved;
			if (f) {
				st->peers6 -= removed;
				st->held6 += peers_held(rec->fam[f]) - held;
				ret->peers6_removed += removed;
			} else {
				st->peers4 -= removed;
				st->held4 += peers_held(rec->fam[f]) - held;
				ret->peers4_removed += removed;
			}
		}
		if (rec_peers(rec))
			continue;
		if (had)
			rec->empty_since = now;
		if (!rec->completed || (int32_t)(now - rec->empty_since) >= (int32_t)torrent_keep) {
			trec_remove(t, stripe, i);
			ret->torrents_removed++;
		}
	}
	unlock_stripe(t, stripe);
	return 0;
}

/*
 * Peer words are cleared before their blocks go back to the arena (a holder
 * killed in between leaks the block, as any move would), and the stripe
 * counts follow the records; repair recounts them from the records anyway.
 */
int torrents_remove(struct torrents *t, const uint8_t *info_hash,
		    struct torrents_remove_result *ret)
{
	uint64_t h = thash(t, info_hash), w;
	unsigned s = stripe_of(t, h);
	struct layout_stripe *st = &t->stripes[s];
	struct layout_trec *rec;
	struct peers_ctx c;
	uint32_t slot, cnt;
	long r;
	int f, rc;

	memset(ret, 0, sizeof(*ret));
	rc = lock_stripe(t, s);
	if (rc)
		return rc;
	r = lookup(t, s, h, info_hash, &slot);
	if (r < 0) {
		unlock_stripe(t, s);
		return -ENOENT;
	}
	rec = &srecs(t, s)[r];
	for (f = 0; f < 2; f++) {
		w = rec->fam[f];
		cnt = peers_word_cnt(w);
		if (!cnt)
			continue;
		c = ctx_of(t, s, f);
		__atomic_store_n(&rec->fam[f], 0, __ATOMIC_RELAXED);
		barrier();
		arena_free(c.ar, peers_word_off(w), peers_word_cls(w), c.shard);
		if (f) {
			st->peers6 -= cnt;
			st->held6 -= peers_held(w);
			ret->peers6 = cnt;
		} else {
			st->peers4 -= cnt;
			st->held4 -= peers_held(w);
			ret->peers4 = cnt;
		}
	}
	st->seeders -= rec->seeders;
	rec->seeders = 0;
	trec_remove(t, s, (uint32_t)r);
	unlock_stripe(t, s);
	return 0;
}

int torrents_iterate_stripe(struct torrents *t, unsigned stripe, torrents_iter_fn fn, void *arg)
{
	struct layout_trec *rec;
	struct torrents_view v;
	uint32_t i;
	int rc;

	if (stripe >= t->nstripes)
		return -EINVAL;
	rc = lock_stripe(t, stripe);
	if (rc)
		return rc;
	for (i = 0; i < t->stripes[stripe].n && !rc; i++) {
		rec = &srecs(t, stripe)[i];
		v.info_hash = rec->hash;
		v.seeders = rec->seeders;
		v.leechers = rec_peers(rec) - rec->seeders;
		v.completed = rec->completed;
		v.npeers4 = peers_word_cnt(rec->fam[0]);
		v.npeers6 = peers_word_cnt(rec->fam[1]);
		rc = fn(&v, arg);
	}
	unlock_stripe(t, stripe);
	return rc;
}

/* --- gauges and checks --------------------------------------------------- */

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

void torrents_get_gauges(struct torrents *t, struct torrents_gauges *ret)
{
	const struct layout_stripe *st;
	uint64_t held4 = 0, held6 = 0, peers;
	unsigned s;

	memset(ret, 0, sizeof(*ret));
	for (s = 0; s < t->nstripes; s++) {
		st = &t->stripes[s];
		ret->torrents += LOAD(st->n);
		ret->peers4 += LOAD(st->peers4);
		ret->peers6 += LOAD(st->peers6);
		ret->seeders += LOAD(st->seeders);
		ret->completed += LOAD(st->completed);
		ret->lock_recoveries += LOAD(st->recoveries);
		ret->lock_contended += LOAD(st->contended);
		ret->refused_table += LOAD(st->refused_table);
		ret->refused_arena += LOAD(st->refused_arena);
		held4 += LOAD(st->held4);
		held6 += LOAD(st->held6);
	}
	peers = ret->peers4 + ret->peers6;
	ret->leechers = peers > ret->seeders ? peers - ret->seeders : 0;
	ret->arena4_bytes_used = held4 * PEERS_REC4;
	ret->arena6_bytes_used = held6 * PEERS_REC6;
	ret->arena4_bytes_top = arena_top(&t->ar[0]) * PEERS_REC4;
	ret->arena6_bytes_top = arena_top(&t->ar[1]) * PEERS_REC6;
	ret->arena4_bytes_size = t->ar[0].h->size * PEERS_REC4;
	ret->arena6_bytes_size = t->ar[1].h->size * PEERS_REC6;
}

static int check_stripe(struct torrents *t, unsigned s, char *why, size_t whylen)
{
	struct layout_stripe *st = &t->stripes[s];
	struct layout_trec *recs = srecs(t, s), *rec;
	uint32_t *ix = sindex(t, s), i, slot, used = 0, sd, rs;
	uint64_t held[2] = { 0, 0 }, peers[2] = { 0, 0 }, seeders = 0, completed = 0;
	struct peers_ctx c;
	char pwhy[160];
	int f;

	if (st->n > t->cap) {
		snprintf(why, whylen, "stripe %u: %u records, capacity %u", s, st->n, t->cap);
		return -EUCLEAN;
	}
	for (i = 0; i < t->slots; i++) {
		if (!ix[i])
			continue;
		used++;
		if ((ix[i] & t->imask) - 1 >= st->n) {
			snprintf(why, whylen, "stripe %u: index slot %u points past the records", s,
				 i);
			return -EUCLEAN;
		}
	}
	if (used != st->n) {
		snprintf(why, whylen, "stripe %u: %u index entries for %u records", s, used, st->n);
		return -EUCLEAN;
	}
	for (i = 0; i < st->n; i++) {
		rec = &recs[i];
		if (lookup(t, s, thash(t, rec->hash), rec->hash, &slot) != (long)i) {
			snprintf(why, whylen, "stripe %u: record %u not found by its hash", s, i);
			return -EUCLEAN;
		}
		rs = 0;
		for (f = 0; f < 2; f++) {
			c = ctx_of(t, s, f);
			if (peers_check(&c, rec->fam[f], &sd, pwhy, sizeof(pwhy))) {
				snprintf(why, whylen, "stripe %u record %u family %d: %s", s, i, f,
					 pwhy);
				return -EUCLEAN;
			}
			rs += sd;
			peers[f] += peers_word_cnt(rec->fam[f]);
			held[f] += peers_held(rec->fam[f]);
		}
		if (rs != rec->seeders) {
			snprintf(why, whylen, "stripe %u record %u: %u seeders, recount %u", s, i,
				 rec->seeders, rs);
			return -EUCLEAN;
		}
		seeders += rs;
		completed += rec->completed;
	}
	if (peers[0] != st->peers4 || peers[1] != st->peers6 || seeders != st->seeders ||
	    completed != st->completed || held[0] != st->held4 || held[1] != st->held6) {
		snprintf(why, whylen,
			 "stripe %u: counts %u/%u peers %u seeders %llu completed %llu/%llu held, "
			 "recount %llu/%llu %llu %llu %llu/%llu",
			 s, st->peers4, st->peers6, st->seeders, (unsigned long long)st->completed,
			 (unsigned long long)st->held4, (unsigned long long)st->held6,
			 (unsigned long long)peers[0], (unsigned long long)peers[1],
			 (unsigned long long)seeders, (unsigned long long)completed,
			 (unsigned long long)held[0], (unsigned long long)held[1]);
		return -EUCLEAN;
	}
	return 0;
}

int torrents_check(struct torrents *t, char *why, size_t whylen)
{
	unsigned s;
	int rc;

	if (whylen)
		why[0] = '\0';
	for (s = 0; s < t->nstripes; s++) {
		rc = lock_stripe(t, s);
		if (rc) {
			snprintf(why, whylen, "stripe %u: lock: %s", s, strerror(-rc));
			return rc;
		}
		rc = check_stripe(t, s, why, whylen);
		unlock_stripe(t, s);
		if (rc)
			return rc;
	}
	return 0;
}

struct marks {
	uint64_t *bits;
	uint64_t top;
	uint64_t dup_at;
	bool dup;
};

static bool mark(struct marks *m, uint64_t off, uint64_t n)
{
	uint64_t i;

	for (i = off; i < off + n; i++) {
		if (i >= m->top || (m->bits[i / 64] >> (i % 64) & 1)) {
			m->dup = true;
			m->dup_at = i;
			return false;
		}
		m->bits[i / 64] |= 1ULL << (i % 64);
	}
	return true;
}

static int mark_free(uint32_t off, unsigned cls, void *arg)
{
	return mark(arg, off, arena_class_cap(cls)) ? 0 : 1;
}

int torrents_check_quiescent(struct torrents *t, char *why, size_t whylen)
{
	struct layout_trec *rec;
	struct marks m;
	uint64_t i, unmarked;
	uint32_t s, r;
	int f, rc;

	rc = torrents_check(t, why, whylen);
	if (rc)
		return rc;
	for (f = 0; f < 2; f++) {
		m.top = arena_top(&t->ar[f]);
		m.dup = false;
		m.bits = calloc(m.top / 64 + 1, sizeof(uint64_t));
		if (!m.bits)
			return -ENOMEM;
		for (s = 0; s < t->nstripes && !m.dup; s++) {
			for (r = 0; r < t->stripes[s].n && !m.dup; r++) {
				rec = &srecs(t, s)[r];
				if (rec->fam[f])
					mark(&m, peers_word_off(rec->fam[f]),
					     peers_held(rec->fam[f]));
			}
		}
		if (!m.dup) {
			rc = arena_walk_free(&t->ar[f], m.top + 1, mark_free, &m);
			if (rc < 0) {
				snprintf(why, whylen,
					 "arena %d: free list loops or leaves the arena", f);
				free(m.bits);
				return -EUCLEAN;
			}
		}
		if (m.dup) {
			snprintf(why, whylen, "arena %d: record %llu owned twice or past the top",
				 f, (unsigned long long)m.dup_at);
			free(m.bits);
			return -EUCLEAN;
		}
		for (i = 0, unmarked = 0; i < m.top; i++)
			unmarked += !(m.bits[i / 64] >> (i % 64) & 1);
		free(m.bits);
		if (unmarked) {
			snprintf(why, whylen, "arena %d: %llu records leaked", f,
				 (unsigned long long)unmarked);
			return -EUCLEAN;
		}
	}
	return 0;
}

static int count_free(uint32_t off, unsigned cls, void *arg)
{
	(void)off;
	*(uint64_t *)arg += arena_class_cap(cls);
	return 0;
}

int64_t torrents_reclaim(struct torrents *t)
{
	struct layout_trec *rec;
	uint64_t *bits, top, i, n, before, after, total = 0;
	uint32_t s, r, off;
	int f;

	for (f = 0; f < 2; f++) {
		top = arena_top(&t->ar[f]);
		bits = calloc(top / 64 + 1, sizeof(uint64_t));
		if (!bits)
			return -ENOMEM;
		for (s = 0; s < t->nstripes; s++) {
			for (r = 0; r < t->stripes[s].n; r++) {
				rec = &srecs(t, s)[r];
				off = peers_word_off(rec->fam[f]);
				n = peers_held(rec->fam[f]);
				for (i = off; i < off + n && i < top; i++)
					bits[i / 64] |= 1ULL << (i % 64);
			}
		}
		before = 0;
		arena_walk_free(&t->ar[f], top + 1, count_free, &before);
		after = arena_rebuild(&t->ar[f], bits);
		free(bits);
		if (after > before)
			total += after - before;
	}
	return (int64_t)total;
}

/* --- snapshots: export and restore -------------------------------------- */

struct export_ctx {
	const struct torrents_export_ops *ops;
	void *arg;
	uint16_t tick;
	bool v6;
};

static void export_peer(const uint8_t *r, void *arg)
{
	struct export_ctx *x = arg;
	unsigned rs = x->v6 ? PEERS_REC6 : PEERS_REC4;
	struct torrents_export_peer p;
	uint16_t m;
	uint32_t d;

	memcpy(&m, r + rs - 2, sizeof(m));
	d = (uint32_t)(x->tick - (m & PEERS_TICK_MASK)) & PEERS_TICK_MASK;
	p.compact = r;
	p.ipv6 = x->v6;
	p.seeder = (m & PEERS_SEEDER) != 0;
	p.completed = (m & PEERS_COMPLETED) != 0;
	/* A tick a little ahead of ours is a peer seen "now" (see peers_clean). */
	p.age = d > PEERS_TICK_MASK - PEERS_FUTURE_TICKS ? 0 : d * PEERS_TICK;
	x->ops->peer(&p, x->arg);
}

int torrents_export_stripe(struct torrents *t, unsigned stripe, uint32_t now,
			   const struct torrents_export_ops *ops, void *arg)
{
	struct export_ctx x = { ops, arg, peers_tick(now), false };
	struct torrents_export_torrent v;
	struct layout_stripe *st;
	struct layout_trec *rec;
	struct peers_ctx c;
	uint32_t i;
	int rc, f;

	if (stripe >= t->nstripes)
		return -EINVAL;
	rc = lock_stripe(t, stripe);
	if (rc)
		return rc;
	st = &t->stripes[stripe];
	rc = ops->begin ? ops->begin(st->n, st->peers4, st->peers6, arg) : 0;
	for (i = 0; i < st->n && !rc; i++) {
		rec = &srecs(t, stripe)[i];
		v.info_hash = rec->hash;
		v.completed = rec->completed;
		v.empty_age = rec_peers(rec) ? 0 : now - rec->empty_since;
		if ((int32_t)v.empty_age < 0)
			v.empty_age = 0;
		v.npeers4 = peers_word_cnt(rec->fam[0]);
		v.npeers6 = peers_word_cnt(rec->fam[1]);
		rc = ops->torrent(&v, arg);
		if (rc)
			break;
		for (f = 0; f < 2; f++) {
			c = ctx_of(t, stripe, f);
			x.v6 = f != 0;
			if (rec->fam[f])
				peers_foreach(&c, rec->fam[f], export_peer, &x);
		}
	}
	unlock_stripe(t, stripe);
	return rc;
}

#define RESTORE_MAX_EMPTY_AGE (1u << 30)

int torrents_restore(struct torrents *t, const uint8_t *info_hash, uint32_t completed,
		     uint32_t empty_age, const struct torrents_restore_peer *peers, unsigned n,
		     uint32_t now, struct torrents_restore_result *ret)
{
	uint64_t h = thash(t, info_hash), held[2];
	unsigned s = stripe_of(t, h), i;
	struct layout_stripe *st = &t->stripes[s];
	const struct torrents_restore_peer *rp;
	struct layout_trec *rec;
	struct peers_ctx c;
	bool created = false;
	uint32_t slot, age;
	uint8_t key[18];
	uint16_t meta;
	long r, p;
	int rc, f;

	memset(ret, 0, sizeof(*ret));
	if (!n && !completed)
		return 0; /* the cleaner would drop it at once */
	rc = lock_stripe(t, s);
	if (rc)
		return rc;
	r = lookup(t, s, h, info_hash, &slot);
	if (r < 0) {
		if (st->n >= t->cap || slot == UINT32_MAX) {
			ret->torrent_dropped = true;
			ret->peers_dropped = n;
			goto out;
		}
		if (empty_age > RESTORE_MAX_EMPTY_AGE)
			empty_age = RESTORE_MAX_EMPTY_AGE;
		r = st->n;
		rec = &srecs(t, s)[r];
		memcpy(rec->hash, info_hash, TORRENTS_HASH_LEN);
		rec->completed = completed;
		rec->seeders = 0;
		rec->empty_since = now - empty_age;
		rec->fam[0] = 0;
		rec->fam[1] = 0;
		barrier();
		sindex(t, s)[slot] = entry_of(t, h, (uint32_t)r);
		barrier();
		st->n = (uint32_t)r + 1;
		st->completed += completed;
		created = true;
	}
	rec = &srecs(t, s)[r];
	held[0] = peers_held(rec->fam[0]);
	held[1] = peers_held(rec->fam[1]);
	for (i = 0; i < n; i++) {
		rp = &peers[i];
		f = rp->peer.ipv6 ? 1 : 0;
		c = ctx_of(t, s, f);
		if (!rp->peer.port) {
			ret->peers_dropped++;
			continue;
		}
		memcpy(key, rp->peer.addr, f ? 16 : 4);
		key[f ? 16 : 4] = (uint8_t)(rp->peer.port >> 8);
		key[f ? 17 : 5] = (uint8_t)rp->peer.port;
		if (peers_find(&c, rec->fam[f], key) >= 0) {
			ret->peers_dropped++;
			continue;
		}
		age = rp->age > PEERS_MAX_AGE ? PEERS_MAX_AGE : rp->age;
		meta = peers_tick(now - age) | (rp->seeder ? PEERS_SEEDER : 0) |
		       (rp->completed ? PEERS_COMPLETED : 0);
		if (peers_insert(&c, &rec->fam[f], key, meta, &p)) {
			ret->peers_dropped++;
			continue;
		}
		ret->peers_stored++;
		if (f)
			st->peers6++;
		else
			st->peers4++;
		if (rp->seeder) {
			rec->seeders++;
			st->seeders++;
		}
	}
	st->held4 += peers_held(rec->fam[0]) - held[0];
	st->held6 += peers_held(rec->fam[1]) - held[1];
	if (!rec_peers(rec)) {
		if (created && !rec->completed) {
			trec_remove(t, s, (uint32_t)r); /* none of its peers fit */
			ret->torrent_dropped = true;
		} else if (n && created) {
			rec->empty_since = now; /* its peers did not fit: empty from now */
		}
	}
out:
	unlock_stripe(t, s);
	return 0;
}

/* --- test hook ----------------------------------------------------------- */

int torrents_debug_lock_stripe(struct torrents *t, unsigned stripe, unsigned damage)
{
	struct layout_stripe *st;
	struct layout_trec *recs, *rec;
	struct peers_ctx c;
	uint32_t i, slot, cnt;
	uint8_t junk[TORRENTS_HASH_LEN];
	uint64_t w;
	int rc;

	if (stripe >= t->nstripes)
		return -EINVAL;
	rc = lock_stripe(t, stripe);
	if (rc)
		return rc;
	st = &t->stripes[stripe];
	recs = srecs(t, stripe);
	if ((damage & TORRENTS_DAMAGE_TORN_INSERT) && st->n < t->cap) {
		memset(junk, 0xee, sizeof(junk));
		rec = &recs[st->n];
		memcpy(rec->hash, junk, sizeof(junk));
		rec->completed = 0;
		rec->seeders = 0;
		rec->fam[0] = rec->fam[1] = 0;
		if (lookup(t, stripe, thash(t, junk), junk, &slot) < 0 && slot != UINT32_MAX)
			sindex(t, stripe)[slot] = entry_of(t, thash(t, junk), st->n);
		st->peers4++;
	}
	if (damage & TORRENTS_DAMAGE_TORN_REMOVE) {
		for (i = 0; i < st->n; i++) {
			w = recs[i].fam[0];
			cnt = peers_word_cnt(w);
			if (cnt >= 2 && !arena_class_is_hash(peers_word_cls(w))) {
				c = ctx_of(t, stripe, 0);
				memcpy(arena_ptr(c.ar, peers_word_off(w)),
				       arena_ptr(c.ar, peers_word_off(w) + cnt - 1), PEERS_REC4);
				break;
			}
		}
	}
	if (damage & TORRENTS_DAMAGE_COUNTS) {
		st->seeders += 5;
		st->held4 += 3;
	}
	return 0;
}

void torrents_debug_unlock_stripe(struct torrents *t, unsigned stripe)
{
	if (stripe < t->nstripes)
		unlock_stripe(t, stripe);
}
