/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * shm/ratelimit.c - token buckets in the shared segment, one CAS per request.
 *
 * Region layout: a 64-byte header (slot count, the random hash key) and
 * slots 64-bit buckets. A bucket word is
 *
 *   bits 63..32  time of its last charge, milliseconds (wrapping, odd)
 *   bits 31..0   tokens in thousandths of a request
 *
 * and 0 means "never used": a full bucket. Refill is computed on use:
 * elapsed milliseconds x rate thousandths (rate per second = rate
 * thousandths per millisecond), capped at burst x 1000. A request costs
 * 1000. So one request needs one load, a little arithmetic and one
 * compare-and-swap; a refused request writes nothing (its refill is
 * recomputed from the unchanged time next time, with the same result).
 *
 * Time is each worker's CLOCK_BOOTTIME milliseconds read once per batch,
 * so workers disagree by up to a batch's duration: a charge whose clock is
 * behind the bucket's time counts no elapsed time and keeps the later time,
 * so a lagging worker can never refill a bucket twice. A CAS that keeps
 * failing (several workers charging one bucket at once) gives up after a
 * few tries and lets the request through: a limit, not an exact meter.
 *
 * Burst and rate are bounded (1,000,000 each), so a bucket (at most 10^9
 * thousandths) fits its 32 bits.
 */
#include "shm/ratelimit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "shm/keyhash.h"

#define RATELIMIT_COST 1000u
#define RATELIMIT_CAS_TRIES 4

struct ratelimit_hdr {
	uint64_t slots;
	uint64_t k0, k1; /* keyed hash of the prefix */
	uint64_t reserved[5];
};

_Static_assert(sizeof(struct ratelimit_hdr) == 64, "rate limit header is one cache line");
_Static_assert((uint64_t)RATELIMIT_BURST_MAX *RATELIMIT_COST < (1ULL << 32),
	       "a full bucket fits 32 bits");

struct ratelimit {
	struct ratelimit_hdr *h;
	uint64_t *b;
	uint64_t slots;
	uint64_t k0, k1;
	struct ratelimit_config c;
	uint8_t mask4[4], mask6[16];
};

size_t ratelimit_region_size(uint64_t slots)
{
	return sizeof(struct ratelimit_hdr) + (size_t)((slots * 8 + 63) / 64 * 64);
}

int ratelimit_format(void *region, uint64_t slots)
{
	struct ratelimit_hdr *h = region;
	uint8_t key[16];
	size_t got = 0;

	if (slots > RATELIMIT_SLOTS_MAX)
		return -EINVAL;
	while (got < sizeof(key)) {
		ssize_t n = getrandom(key + got, sizeof(key) - got, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	memset(h, 0, sizeof(*h));
	h->slots = slots;
	memcpy(&h->k0, key, 8);
	memcpy(&h->k1, key + 8, 8);
	return 0;
}

int ratelimit_bind(void *region, size_t len, struct ratelimit **ret)
{
	struct ratelimit_hdr *h = region;
	struct ratelimit *r;

	if (len < sizeof(*h) || h->slots > RATELIMIT_SLOTS_MAX ||
	    ratelimit_region_size(h->slots) > len)
		return -EPROTO;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->h = h;
	r->b = (uint64_t *)(void *)(h + 1);
	r->slots = h->slots;
	r->k0 = h->k0;
	r->k1 = h->k1;
	*ret = r;
	return 0;
}

void ratelimit_unbind(struct ratelimit *r)
{
	free(r);
}

static void make_mask(uint8_t *m, unsigned len, unsigned bits)
{
	for (unsigned i = 0; i < len; i++) {
		m[i] = bits >= 8 ? 0xff : (uint8_t)(0xff00u >> bits);
		bits = bits >= 8 ? bits - 8 : 0;
	}
}

void ratelimit_configure(struct ratelimit *r, const struct ratelimit_config *c)
{
	r->c = *c;
	if (r->c.rate > RATELIMIT_RATE_MAX)
		r->c.rate = RATELIMIT_RATE_MAX;
	if (r->c.burst > RATELIMIT_BURST_MAX)
		r->c.burst = RATELIMIT_BURST_MAX;
	if (r->c.burst == 0)
		r->c.burst = 1;
	if (r->c.bits4 == 0 || r->c.bits4 > 32)
		r->c.bits4 = 32;
	if (r->c.bits6 == 0 || r->c.bits6 > 128)
		r->c.bits6 = 64;
	if (r->c.nexempt > RATELIMIT_EXEMPT_MAX)
		r->c.nexempt = RATELIMIT_EXEMPT_MAX;
	make_mask(r->mask4, 4, r->c.bits4);
	make_mask(r->mask6, 16, r->c.bits6);
}

void ratelimit_configure_from(struct ratelimit *r, unsigned rate, unsigned burst, unsigned bits4,
			      unsigned bits6, const char *exempt)
{
	struct ratelimit_config c = { .rate = rate, .burst = burst };
	char word[BANS_PREFIX_STRLEN];
	const char *s = exempt ? exempt : "";

	if (!r)
		return;
	c.bits4 = (uint8_t)(bits4 > 32 ? 32 : bits4);
	c.bits6 = (uint8_t)(bits6 > 128 ? 128 : bits6);
	while (*s && c.nexempt < RATELIMIT_EXEMPT_MAX) {
		size_t wl = strcspn(s, " \t");

		if (wl && wl < sizeof(word)) {
			memcpy(word, s, wl);
			word[wl] = '\0';
			if (bans_parse_prefix(word, &c.exempt[c.nexempt]) == 0)
				c.nexempt++;
		}
		s += wl ? wl : 1;
	}
	ratelimit_configure(r, &c);
}

bool ratelimit_is_exempt(const struct ratelimit *r, const uint8_t *addr, size_t alen)
{
	if (!r)
		return false;
	for (unsigned i = 0; i < r->c.nexempt; i++)
		if (bans_prefix_contains(&r->c.exempt[i], addr, alen))
			return true;
	return false;
}

static inline uint64_t slot_of(const struct ratelimit *r, const uint8_t *addr, size_t alen)
{
	uint64_t h;

	if (alen == 4) {
		uint32_t a, m;

		memcpy(&a, addr, 4);
		memcpy(&m, r->mask4, 4);
		h = keyhash_mix64((uint64_t)(a & m) | 4ULL << 32, r->k0, r->k1);
	} else {
		uint64_t a0, a1, m0, m1;

		memcpy(&a0, addr, 8);
		memcpy(&a1, addr + 8, 8);
		memcpy(&m0, r->mask6, 8);
		memcpy(&m1, r->mask6 + 8, 8);
		h = keyhash_mix64(keyhash_mum((a0 & m0) ^ r->k0, (a1 & m1) ^ r->k1 ^ 6), r->k1,
				  r->k0);
	}
	return ((h >> 32) * r->slots) >> 32;
}

bool ratelimit_allow(struct ratelimit *r, const uint8_t *addr, size_t alen, uint64_t now_ms)
{
	const uint32_t now = (uint32_t)now_ms | 1u; /* odd: a used bucket is never 0 */
	uint64_t *b, w, tok, nw, full;
	uint32_t t;

	if (!r || !r->c.rate || !r->slots || (alen != 4 && alen != 16))
		return true;
	full = (uint64_t)r->c.burst * RATELIMIT_COST;
	b = &r->b[slot_of(r, addr, alen)];
	w = __atomic_load_n(b, __ATOMIC_RELAXED);
	for (int i = 0; i < RATELIMIT_CAS_TRIES; i++) {
		int32_t el;

		if (!w) {
			tok = full;
			t = now;
		} else {
			t = (uint32_t)(w >> 32);
			el = (int32_t)(now - t);
			tok = (uint32_t)w;
			if (el > 0) {
				tok += (uint64_t)el * r->c.rate;
				t = now;
			}
			if (tok > full)
				tok = full;
		}
		if (tok < RATELIMIT_COST)
			return false;
		nw = (uint64_t)t << 32 | (tok - RATELIMIT_COST);
		if (__atomic_compare_exchange_n(b, &w, nw, false, __ATOMIC_RELAXED,
						__ATOMIC_RELAXED))
			return true;
	}
	return true;
}

void ratelimit_prefetch(const struct ratelimit *r, const uint8_t *addr, size_t alen)
{
	if (!r || !r->c.rate || !r->slots || (alen != 4 && alen != 16))
		return;
	__builtin_prefetch(&r->b[slot_of(r, addr, alen)], 1);
}

uint64_t ratelimit_slots(const struct ratelimit *r)
{
	return r->slots;
}
