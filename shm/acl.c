/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * shm/acl.c - the info-hash access list in the shared segment.
 *
 * Layout of the region (offsets from its start, which is page aligned):
 *
 *   0       struct acl_hdr: the active bank index, the publication count
 *           and the two bank headers (mode, count, table size, hash key,
 *           sequence number), one page
 *   4096    bank 0: max_slots x 20-byte slots
 *   ...     bank 1: likewise (each bank page aligned)
 *
 * A bank is a small filter followed by an open-addressing set of 20-byte
 * info-hashes with linear probing; an all-zero slot is empty (the
 * all-zero info-hash itself is kept as a flag in the bank header). A list
 * of n hashes uses n + n/2 + 1 slots (load at most 2/3: a lookup that
 * misses reads about five slots, 100 contiguous bytes, two cache lines).
 * The home slot is a keyed mix of the hash's words under a key drawn for
 * each build, scaled to the table with a multiply, so whoever writes a
 * list cannot line its entries up into one long cluster.
 *
 * The filter: at least 8 bits per listed hash (a power of two of 64-bit
 * words); each hash sets 3 bits of one word chosen by the same keyed mix.
 * A lookup reads that word first and goes to the table only when all 3
 * bits are set (a hash that is not listed passes in about 4 % of cases).
 * Why: a table of a million hashes is 30 MB of 4 KiB pages, so a lookup
 * there costs a TLB miss and a cache miss (130-180 ns measured); the
 * filter of 1 MB stays in the cache and the TLB, so in deny mode, where
 * nearly every request is for a torrent that is not listed, a lookup costs
 * about one cached load. Allow-mode hits still read the table. Workers
 * call acl_prefetch() for a whole batch first, so the filter words of the
 * batch load in parallel rather than one miss after another.
 *
 * max_slots and the filter size are fixed by access_list_max when the
 * segment is made; only the part a list needs is ever written, so the
 * untouched rest of the reservation costs no memory.
 *
 * Publication. The control process is the only writer. It never writes
 * the active bank: it builds the new list in the other one and then
 * stores the active index with release semantics. Each bank has a
 * sequence number, odd while the bank is being rebuilt (a seqlock). A
 * reader loads the active index, the bank's sequence (acquire), does the
 * lookup, and checks after an acquire fence that the sequence did not
 * move; if it did, the bank was rebuilt under it and it starts over,
 * reading the active index again, which by then names the freshly built
 * bank. So a reader that is slow enough to still be probing a bank when
 * it is reused retries instead of answering from garbage, and no grace
 * period is needed. All of a bank's size fields are clamped to the
 * region's own bounds (from the handle, not from shared memory), so even a
 * torn read never leaves the region, and every probe loop is bounded.
 * A reader retries at most ACL_TRIES times; that would need several
 * publications during one lookup, which the writer cannot do (a build
 * touches every slot), and then the request is served.
 *
 * The mode travels with the list in the bank, so a reload that changes
 * both switches them in one store: no worker ever applies a new mode to an
 * old list.
 *
 * A writer killed mid-build leaves the spare bank with an odd sequence;
 * it is not active, and the next build starts it over.
 */
#include "shm/acl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "shm/keyhash.h"

#define ACL_PAGE 4096u
#define ACL_TRIES 8

/* One bank's header. Written only while the bank's seq is odd. */
struct acl_bank {
	uint32_t seq; /* odd while the bank is being rebuilt */
	uint32_t mode; /* enum acl_mode */
	uint64_t count; /* distinct hashes, the zero hash included */
	uint64_t slots; /* table size in use, <= max_slots */
	uint64_t k0, k1; /* home-slot hash key of this build */
	uint32_t has_zero; /* the all-zero info-hash is listed */
	uint32_t reserved;
	uint64_t fwords; /* filter words in use, a power of two <= max_fwords */
	uint64_t pad;
};

_Static_assert(sizeof(struct acl_bank) == 64, "a bank header is one cache line");

struct acl_hdr {
	uint32_t active; /* bank in force, 0 or 1 */
	uint32_t reserved;
	uint64_t generation; /* publications so far */
	uint64_t pad[6];
	struct acl_bank bank[2];
};

_Static_assert(sizeof(struct acl_hdr) == 192, "acl header size");
_Static_assert(sizeof(struct acl_hdr) <= ACL_PAGE, "acl header fits its page");

struct acl {
	struct acl_hdr *hdr;
	uint64_t *filter[2]; /* each bank: max_fwords words, then the table */
	uint8_t *tab[2];
	uint64_t max_entries;
	uint64_t max_slots;
	uint64_t max_fwords;
};

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) / a * a;
}

static uint64_t slots_for(uint64_t n)
{
	return n ? n + n / 2 + 1 : 0;
}

/* Filter words for n hashes: a power of two, >= 8 bits per hash, >= 8 words. */
static uint64_t fwords_for(uint64_t n)
{
	uint64_t w = 8;

	while (w * 64 < 8 * n)
		w *= 2;
	return w;
}

static uint64_t bank_bytes(uint64_t max_entries)
{
	return align_up(fwords_for(max_entries) * 8 + slots_for(max_entries) * ACL_HASH_LEN,
			ACL_PAGE);
}

uint64_t acl_region_size(uint64_t max_entries)
{
	return ACL_PAGE + 2 * bank_bytes(max_entries);
}

int acl_bind(void *region, uint64_t max_entries, struct acl **ret)
{
	struct acl *a = calloc(1, sizeof(*a));
	uint64_t bb = bank_bytes(max_entries);

	if (!a)
		return -ENOMEM;
	a->hdr = region;
	a->max_entries = max_entries;
	a->max_slots = slots_for(max_entries);
	a->max_fwords = fwords_for(max_entries);
	for (int i = 0; i < 2; i++) {
		a->filter[i] = (uint64_t *)(void *)((uint8_t *)region + ACL_PAGE + i * bb);
		a->tab[i] = (uint8_t *)(a->filter[i] + a->max_fwords);
	}
	*ret = a;
	return 0;
}

void acl_unbind(struct acl *a)
{
	free(a);
}

/* --- lookup ---------------------------------------------------------------- */

static inline uint64_t load64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint32_t load32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint64_t hash_of(const uint8_t *ih, uint64_t k0, uint64_t k1)
{
	uint64_t x = load64(ih) ^ (load64(ih + 8) * 0x9e3779b97f4a7c15ULL) ^
		     ((uint64_t)load32(ih + 16) << 21);

	return keyhash_mix64(x, k0, k1);
}

static inline uint64_t home_of(uint64_t h, uint64_t slots)
{
	return (uint64_t)(((unsigned __int128)h * slots) >> 64);
}

/* The filter word (low bits) and its 3 bits (from bits 32..49) of a hash. */
static inline uint64_t fword_of(uint64_t h, uint64_t fwords)
{
	return h & (fwords - 1);
}

static inline uint64_t fbits_of(uint64_t h)
{
	return 1ULL << ((h >> 32) & 63) | 1ULL << ((h >> 38) & 63) | 1ULL << ((h >> 44) & 63);
}

static inline bool is_zero(const uint8_t *ih)
{
	return !(load64(ih) | load64(ih + 8) | load32(ih + 16));
}

/*
 * Probe tab (slots entries) for ih. Returns the slot holding it, or
 * -(empty slot + 1) where it would go; -(slots + 1) when the table is full
 * (never for tables built here, bounded for torn reads).
 */
static inline int64_t probe(const uint8_t *tab, uint64_t slots, uint64_t home, const uint8_t *ih)
{
	const uint64_t q0 = load64(ih), q1 = load64(ih + 8);
	const uint32_t q2 = load32(ih + 16);
	uint64_t i = home, n;

	for (n = 0; n < slots; n++) {
		const uint8_t *e = tab + i * ACL_HASH_LEN;
		uint64_t e0 = load64(e), e1 = load64(e + 8);
		uint32_t e2 = load32(e + 16);

		if (e0 == q0 && e1 == q1 && e2 == q2)
			return (int64_t)i;
		if (!(e0 | e1 | e2))
			return -(int64_t)i - 1;
		if (++i == slots)
			i = 0;
	}
	return -(int64_t)slots - 1;
}

/* Is ih in bank bi? Reads may be torn; the caller's seq check decides. */
static inline bool lookup_bank(const struct acl *a, uint32_t bi, const struct acl_bank *b,
			       const uint8_t *ih)
{
	uint64_t slots, fwords, h, bits;

	if (is_zero(ih))
		return __atomic_load_n(&b->has_zero, __ATOMIC_RELAXED) != 0;
	slots = __atomic_load_n(&b->slots, __ATOMIC_RELAXED);
	fwords = __atomic_load_n(&b->fwords, __ATOMIC_RELAXED);
	/* Torn values are clamped so that no read leaves the region. */
	if (slots > a->max_slots)
		slots = a->max_slots;
	if (!fwords || fwords > a->max_fwords || (fwords & (fwords - 1)))
		return false;
	if (!slots)
		return false;
	h = hash_of(ih, __atomic_load_n(&b->k0, __ATOMIC_RELAXED),
		    __atomic_load_n(&b->k1, __ATOMIC_RELAXED));
	bits = fbits_of(h);
	if ((a->filter[bi][fword_of(h, fwords)] & bits) != bits)
		return false;
	return probe(a->tab[bi], slots, home_of(h, slots), ih) >= 0;
}

/* One consistent read of the active bank: its mode and whether ih is listed. */
static bool read_active(const struct acl *a, const uint8_t *ih, uint32_t *ret_mode,
			bool *ret_listed)
{
	for (unsigned t = 0; t < ACL_TRIES; t++) {
		uint32_t bi = __atomic_load_n(&a->hdr->active, __ATOMIC_ACQUIRE) & 1u;
		const struct acl_bank *b = &a->hdr->bank[bi];
		uint32_t seq = __atomic_load_n(&b->seq, __ATOMIC_ACQUIRE);
		uint32_t mode;
		bool listed = false;

		if (seq & 1u)
			continue;
		mode = __atomic_load_n(&b->mode, __ATOMIC_RELAXED);
		if (mode != ACL_MODE_OFF || !ret_mode)
			listed = lookup_bank(a, bi, b, ih);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&b->seq, __ATOMIC_RELAXED) != seq)
			continue;
		if (ret_mode)
			*ret_mode = mode;
		*ret_listed = listed;
		return true;
	}
	return false;
}

void acl_prefetch(const struct acl *a, const uint8_t *info_hash)
{
	uint32_t bi = __atomic_load_n(&a->hdr->active, __ATOMIC_ACQUIRE) & 1u;
	const struct acl_bank *b = &a->hdr->bank[bi];
	uint64_t fwords, h;

	if (__atomic_load_n(&b->mode, __ATOMIC_RELAXED) == ACL_MODE_OFF)
		return;
	fwords = __atomic_load_n(&b->fwords, __ATOMIC_RELAXED);
	if (!fwords || fwords > a->max_fwords || (fwords & (fwords - 1)))
		return; /* torn or being rebuilt: only a hint anyway */
	h = hash_of(info_hash, __atomic_load_n(&b->k0, __ATOMIC_RELAXED),
		    __atomic_load_n(&b->k1, __ATOMIC_RELAXED));
	__builtin_prefetch(&a->filter[bi][fword_of(h, fwords)]);
}

bool acl_permits(const struct acl *a, const uint8_t *info_hash)
{
	uint32_t mode;
	bool listed;

	if (!read_active(a, info_hash, &mode, &listed))
		return true;
	if (mode == ACL_MODE_ALLOW)
		return listed;
	if (mode == ACL_MODE_DENY)
		return !listed;
	return true;
}

bool acl_contains(const struct acl *a, const uint8_t *info_hash)
{
	bool listed;

	return read_active(a, info_hash, NULL, &listed) && listed;
}

/* --- publication (control process) ---------------------------------------- */

static void draw_key(struct acl_bank *b, uint64_t generation)
{
	uint64_t k[2];
	struct timespec ts;

	if (getrandom(k, sizeof(k), GRND_NONBLOCK) != (ssize_t)sizeof(k)) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		k[0] = keyhash_mix64((uint64_t)ts.tv_nsec, generation, 0x243f6a8885a308d3ULL);
		k[1] = keyhash_mix64((uint64_t)ts.tv_sec, k[0], 0x13198a2e03707344ULL);
	}
	b->k0 = k[0];
	b->k1 = k[1];
}

int acl_publish(struct acl *a, enum acl_mode mode, const uint8_t *hashes, size_t n)
{
	struct acl_hdr *h = a->hdr;
	uint32_t nb = (__atomic_load_n(&h->active, __ATOMIC_RELAXED) & 1u) ^ 1u;
	struct acl_bank *b = &h->bank[nb];
	uint8_t *tab = a->tab[nb];
	uint64_t *filter = a->filter[nb];
	uint64_t slots = slots_for(n), fwords = fwords_for(n), count = 0, gen, hv;
	uint32_t seq, has_zero = 0;
	int rc = 0;

	if (mode != ACL_MODE_OFF && mode != ACL_MODE_ALLOW && mode != ACL_MODE_DENY)
		return -EINVAL;
	if (slots > a->max_slots)
		slots = a->max_slots; /* duplicates may still make it fit */
	if (fwords > a->max_fwords)
		fwords = a->max_fwords;
	gen = __atomic_load_n(&h->generation, __ATOMIC_RELAXED);

	/* Mark the spare bank as being rebuilt before touching its contents. */
	seq = __atomic_load_n(&b->seq, __ATOMIC_RELAXED);
	seq = (seq & 1u) ? seq + 2 : seq + 1;
	__atomic_store_n(&b->seq, seq, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);

	memset(filter, 0, fwords * 8);
	memset(tab, 0, slots * ACL_HASH_LEN);
	draw_key(b, gen);
	for (size_t i = 0; i < n; i++) {
		const uint8_t *ih = hashes + i * ACL_HASH_LEN;
		int64_t at;

		if (is_zero(ih)) {
			if (!has_zero && count >= a->max_entries) {
				rc = -ENOSPC;
				break;
			}
			count += !has_zero;
			has_zero = 1;
			continue;
		}
		hv = hash_of(ih, b->k0, b->k1);
		at = probe(tab, slots, home_of(hv, slots), ih);
		if (at >= 0)
			continue; /* duplicate */
		if (count >= a->max_entries || at < -(int64_t)slots) {
			rc = -ENOSPC;
			break;
		}
		memcpy(tab + (uint64_t)(-at - 1) * ACL_HASH_LEN, ih, ACL_HASH_LEN);
		filter[fword_of(hv, fwords)] |= fbits_of(hv);
		count++;
	}
	b->mode = (uint32_t)mode;
	b->count = rc ? 0 : count;
	b->slots = rc ? 0 : slots;
	b->fwords = fwords;
	b->has_zero = rc ? 0 : has_zero;
	__atomic_store_n(&b->seq, seq + 1, __ATOMIC_RELEASE);
	if (rc)
		return rc; /* the spare bank stays spare; the active list is untouched */
	__atomic_store_n(&h->active, nb, __ATOMIC_RELEASE);
	__atomic_store_n(&h->generation, gen + 1, __ATOMIC_RELAXED);
	return 0;
}

void acl_get_info(const struct acl *a, struct acl_info *ret)
{
	uint32_t bi = __atomic_load_n(&a->hdr->active, __ATOMIC_ACQUIRE) & 1u;
	const struct acl_bank *b = &a->hdr->bank[bi];

	ret->mode = (enum acl_mode)__atomic_load_n(&b->mode, __ATOMIC_RELAXED);
	ret->count = __atomic_load_n(&b->count, __ATOMIC_RELAXED);
	ret->generation = __atomic_load_n(&a->hdr->generation, __ATOMIC_RELAXED);
	ret->max_entries = a->max_entries;
	ret->bytes = __atomic_load_n(&b->slots, __ATOMIC_RELAXED) * ACL_HASH_LEN;
}

uint64_t acl_copy(const struct acl *a, uint8_t *out, uint64_t cap)
{
	uint32_t bi = __atomic_load_n(&a->hdr->active, __ATOMIC_ACQUIRE) & 1u;
	const struct acl_bank *b = &a->hdr->bank[bi];
	uint64_t slots = b->slots < a->max_slots ? b->slots : a->max_slots, n = 0;

	if (b->has_zero) {
		if (n < cap)
			memset(out, 0, ACL_HASH_LEN);
		n++;
	}
	for (uint64_t i = 0; i < slots; i++) {
		const uint8_t *e = a->tab[bi] + i * ACL_HASH_LEN;

		if (is_zero(e))
			continue;
		if (n < cap)
			memcpy(out + n * ACL_HASH_LEN, e, ACL_HASH_LEN);
		n++;
	}
	return n;
}
