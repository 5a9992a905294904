/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * shm/keyhash.c - SipHash-2-4 and SipHash-1-3.
 *
 * Written from the SipHash paper: four 64-bit lanes initialised from the
 * key and the constants "somepseudorandomlygeneratedbytes", little-endian
 * message words, the length in the top byte of the last word.
 */
#include "shm/keyhash.h"

#include <string.h>

static inline uint64_t rotl(uint64_t x, unsigned b)
{
	return (x << b) | (x >> (64 - b));
}

static inline uint64_t load_le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

#define SIPROUND                   \
	do {                       \
		v0 += v1;          \
		v1 = rotl(v1, 13); \
		v1 ^= v0;          \
		v0 = rotl(v0, 32); \
		v2 += v3;          \
		v3 = rotl(v3, 16); \
		v3 ^= v2;          \
		v0 += v3;          \
		v3 = rotl(v3, 21); \
		v3 ^= v0;          \
		v2 += v1;          \
		v1 = rotl(v1, 17); \
		v1 ^= v2;          \
		v2 = rotl(v2, 32); \
	} while (0)

static inline __attribute__((always_inline)) uint64_t sip(const uint8_t *key, const void *data,
							  size_t len, int crounds, int drounds)
{
	const uint8_t *p = data;
	uint64_t k0 = load_le64(key), k1 = load_le64(key + 8);
	uint64_t v0 = k0 ^ 0x736f6d6570736575ULL;
	uint64_t v1 = k1 ^ 0x646f72616e646f6dULL;
	uint64_t v2 = k0 ^ 0x6c7967656e657261ULL;
	uint64_t v3 = k1 ^ 0x7465646279746573ULL;
	size_t left = len;
	uint64_t m, b;
	int i;

	for (; left >= 8; left -= 8, p += 8) {
		m = load_le64(p);
		v3 ^= m;
		for (i = 0; i < crounds; i++)
			SIPROUND;
		v0 ^= m;
	}
	b = (uint64_t)len << 56;
	for (i = 0; i < (int)left; i++)
		b |= (uint64_t)p[i] << (8 * i);
	v3 ^= b;
	for (i = 0; i < crounds; i++)
		SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	for (i = 0; i < drounds; i++)
		SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t keyhash_sip24(const uint8_t key[KEYHASH_KEY_LEN], const void *data, size_t len)
{
	return sip(key, data, len, 2, 4);
}

uint64_t keyhash_sip13(const uint8_t key[KEYHASH_KEY_LEN], const void *data, size_t len)
{
	return sip(key, data, len, 1, 3);
}
