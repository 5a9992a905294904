/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/test_connid.c - connection ids: SipHash-2-4 against the 64
 * reference vectors, the id format, every verdict and its boundaries, and
 * key generation including EINTR and short reads from getrandom().
 *
 * The module is included (not linked) so getrandom() can be replaced at the
 * OS boundary; everything else goes through the functions of connid.h.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>

#include <cmocka.h>

enum fake_plan {
	PLAN_REAL = 0, /* the real getrandom() */
	PLAN_EINTR_SHORT, /* EINTR, then 5 bytes of 0x11, then the rest as 0x22 */
	PLAN_ENOSYS, /* always fails with ENOSYS */
	PLAN_ZERO, /* always returns 0 bytes */
};

static enum fake_plan plan;
static int fake_calls;

static ssize_t fake_getrandom(void *buf, size_t len, unsigned int flags)
{
	fake_calls++;
	switch (plan) {
	case PLAN_EINTR_SHORT:
		if (fake_calls == 1) {
			errno = EINTR;
			return -1;
		}
		if (fake_calls == 2) {
			len = len < 5 ? len : 5;
			memset(buf, 0x11, len);
			return (ssize_t)len;
		}
		memset(buf, 0x22, len);
		return (ssize_t)len;
	case PLAN_ENOSYS:
		errno = ENOSYS;
		return -1;
	case PLAN_ZERO:
		return 0;
	default:
		return getrandom(buf, len, flags);
	}
}

#define getrandom fake_getrandom
#include "daemon/connid.c"
#undef getrandom

/* SipHash-2-4 reference vectors: key 00..0f, message i = 00..i-1. */
static const uint8_t sip64_vectors[64][8] = {
	{ 0x31, 0x0e, 0x0e, 0xdd, 0x47, 0xdb, 0x6f, 0x72 },
	{ 0xfd, 0x67, 0xdc, 0x93, 0xc5, 0x39, 0xf8, 0x74 },
	{ 0x5a, 0x4f, 0xa9, 0xd9, 0x09, 0x80, 0x6c, 0x0d },
	{ 0x2d, 0x7e, 0xfb, 0xd7, 0x96, 0x66, 0x67, 0x85 },
	{ 0xb7, 0x87, 0x71, 0x27, 0xe0, 0x94, 0x27, 0xcf },
	{ 0x8d, 0xa6, 0x99, 0xcd, 0x64, 0x55, 0x76, 0x18 },
	{ 0xce, 0xe3, 0xfe, 0x58, 0x6e, 0x46, 0xc9, 0xcb },
	{ 0x37, 0xd1, 0x01, 0x8b, 0xf5, 0x00, 0x02, 0xab },
	{ 0x62, 0x24, 0x93, 0x9a, 0x79, 0xf5, 0xf5, 0x93 },
	{ 0xb0, 0xe4, 0xa9, 0x0b, 0xdf, 0x82, 0x00, 0x9e },
	{ 0xf3, 0xb9, 0xdd, 0x94, 0xc5, 0xbb, 0x5d, 0x7a },
	{ 0xa7, 0xad, 0x6b, 0x22, 0x46, 0x2f, 0xb3, 0xf4 },
	{ 0xfb, 0xe5, 0x0e, 0x86, 0xbc, 0x8f, 0x1e, 0x75 },
	{ 0x90, 0x3d, 0x84, 0xc0, 0x27, 0x56, 0xea, 0x14 },
	{ 0xee, 0xf2, 0x7a, 0x8e, 0x90, 0xca, 0x23, 0xf7 },
	{ 0xe5, 0x45, 0xbe, 0x49, 0x61, 0xca, 0x29, 0xa1 },
	{ 0xdb, 0x9b, 0xc2, 0x57, 0x7f, 0xcc, 0x2a, 0x3f },
	{ 0x94, 0x47, 0xbe, 0x2c, 0xf5, 0xe9, 0x9a, 0x69 },
	{ 0x9c, 0xd3, 0x8d, 0x96, 0xf0, 0xb3, 0xc1, 0x4b },
	{ 0xbd, 0x61, 0x79, 0xa7, 0x1d, 0xc9, 0x6d, 0xbb },
	{ 0x98, 0xee, 0xa2, 0x1a, 0xf2, 0x5c, 0xd6, 0xbe },
	{ 0xc7, 0x67, 0x3b, 0x2e, 0xb0, 0xcb, 0xf2, 0xd0 },
	{ 0x88, 0x3e, 0xa3, 0xe3, 0x95, 0x67, 0x53, 0x93 },
	{ 0xc8, 0xce, 0x5c, 0xcd, 0x8c, 0x03, 0x0c, 0xa8 },
	{ 0x94, 0xaf, 0x49, 0xf6, 0xc6, 0x50, 0xad, 0xb8 },
	{ 0xea, 0xb8, 0x85, 0x8a, 0xde, 0x92, 0xe1, 0xbc },
	{ 0xf3, 0x15, 0xbb, 0x5b, 0xb8, 0x35, 0xd8, 0x17 },
	{ 0xad, 0xcf, 0x6b, 0x07, 0x63, 0x61, 0x2e, 0x2f },
	{ 0xa5, 0xc9, 0x1d, 0xa7, 0xac, 0xaa, 0x4d, 0xde },
	{ 0x71, 0x65, 0x95, 0x87, 0x66, 0x50, 0xa2, 0xa6 },
	{ 0x28, 0xef, 0x49, 0x5c, 0x53, 0xa3, 0x87, 0xad },
	{ 0x42, 0xc3, 0x41, 0xd8, 0xfa, 0x92, 0xd8, 0x32 },
	{ 0xce, 0x7c, 0xf2, 0x72, 0x2f, 0x51, 0x27, 0x71 },
	{ 0xe3, 0x78, 0x59, 0xf9, 0x46, 0x23, 0xf3, 0xa7 },
	{ 0x38, 0x12, 0x05, 0xbb, 0x1a, 0xb0, 0xe0, 0x12 },
	{ 0xae, 0x97, 0xa1, 0x0f, 0xd4, 0x34, 0xe0, 0x15 },
	{ 0xb4, 0xa3, 0x15, 0x08, 0xbe, 0xff, 0x4d, 0x31 },
	{ 0x81, 0x39, 0x62, 0x29, 0xf0, 0x90, 0x79, 0x02 },
	{ 0x4d, 0x0c, 0xf4, 0x9e, 0xe5, 0xd4, 0xdc, 0xca },
	{ 0x5c, 0x73, 0x33, 0x6a, 0x76, 0xd8, 0xbf, 0x9a },
	{ 0xd0, 0xa7, 0x04, 0x53, 0x6b, 0xa9, 0x3e, 0x0e },
	{ 0x92, 0x59, 0x58, 0xfc, 0xd6, 0x42, 0x0c, 0xad },
	{ 0xa9, 0x15, 0xc2, 0x9b, 0xc8, 0x06, 0x73, 0x18 },
	{ 0x95, 0x2b, 0x79, 0xf3, 0xbc, 0x0a, 0xa6, 0xd4 },
	{ 0xf2, 0x1d, 0xf2, 0xe4, 0x1d, 0x45, 0x35, 0xf9 },
	{ 0x87, 0x57, 0x75, 0x19, 0x04, 0x8f, 0x53, 0xa9 },
	{ 0x10, 0xa5, 0x6c, 0xf5, 0xdf, 0xcd, 0x9a, 0xdb },
	{ 0xeb, 0x75, 0x09, 0x5c, 0xcd, 0x98, 0x6c, 0xd0 },
	{ 0x51, 0xa9, 0xcb, 0x9e, 0xcb, 0xa3, 0x12, 0xe6 },
	{ 0x96, 0xaf, 0xad, 0xfc, 0x2c, 0xe6, 0x66, 0xc7 },
	{ 0x72, 0xfe, 0x52, 0x97, 0x5a, 0x43, 0x64, 0xee },
	{ 0x5a, 0x16, 0x45, 0xb2, 0x76, 0xd5, 0x92, 0xa1 },
	{ 0xb2, 0x74, 0xcb, 0x8e, 0xbf, 0x87, 0x87, 0x0a },
	{ 0x6f, 0x9b, 0xb4, 0x20, 0x3d, 0xe7, 0xb3, 0x81 },
	{ 0xea, 0xec, 0xb2, 0xa3, 0x0b, 0x22, 0xa8, 0x7f },
	{ 0x99, 0x24, 0xa4, 0x3c, 0xc1, 0x31, 0x57, 0x24 },
	{ 0xbd, 0x83, 0x8d, 0x3a, 0xaf, 0xbf, 0x8d, 0xb7 },
	{ 0x0b, 0x1a, 0x2a, 0x32, 0x65, 0xd5, 0x1a, 0xea },
	{ 0x13, 0x50, 0x79, 0xa3, 0x23, 0x1c, 0xe6, 0x60 },
	{ 0x93, 0x2b, 0x28, 0x46, 0xe4, 0xd7, 0x06, 0x66 },
	{ 0xe1, 0x91, 0x5f, 0x5c, 0xb1, 0xec, 0xa4, 0x6c },
	{ 0xf3, 0x25, 0x96, 0x5c, 0xa1, 0x6d, 0x62, 0x9f },
	{ 0x57, 0x5f, 0xf2, 0x8e, 0x60, 0x38, 0x1b, 0xe5 },
	{ 0x72, 0x45, 0x06, 0xeb, 0x4c, 0x32, 0x8a, 0x95 },
};

static const uint8_t key_a[CONNID_KEY_LEN] = { 0x9a, 0x1f, 0x33, 0x08, 0x5c, 0xe2, 0x71, 0x44,
					       0xd0, 0x0b, 0x86, 0x2e, 0xf5, 0x19, 0x67, 0xaa };
static const uint8_t key_b[CONNID_KEY_LEN] = { 0x9a, 0x1f, 0x33, 0x08, 0x5c, 0xe2, 0x71, 0x44,
					       0xd0, 0x0b, 0x86, 0x2e, 0xf5, 0x19, 0x67, 0xab };
static const uint8_t v4[4] = { 192, 0, 2, 1 };
static const uint8_t v4_mapped[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1 };
/* Same last four bytes, but not IPv4-mapped: NAT64 and IPv4-compatible. */
static const uint8_t v6_nat64[16] = { 0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0, 192, 0, 2, 1 };
static const uint8_t v6_compat[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 192, 0, 2, 1 };
static const uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x42 };

#define NOW 100000u
#define MAX_AGE 300u

static void test_siphash_reference_vectors(void **state)
{
	uint8_t key[16], msg[64], aligned[64 + 8];

	(void)state;
	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	for (int i = 0; i < 64; i++)
		msg[i] = (uint8_t)i;
	for (size_t len = 0; len < 64; len++) {
		uint64_t h = connid_siphash(key, msg, len);
		uint8_t out[8];

		for (int b = 0; b < 8; b++)
			out[b] = (uint8_t)(h >> (8 * b));
		assert_memory_equal(out, sip64_vectors[len], 8);

		/* Same result from an odd address. */
		memcpy(aligned + 1, msg, len);
		assert_true(connid_siphash(key, aligned + 1, len) == h);
	}
}

static void test_id_format(void **state)
{
	uint8_t msg[20];
	uint64_t id;

	(void)state;
	/* IPv4: time as 4 little-endian bytes, then the 4 address bytes. */
	id = connid_make(key_a, 0x01020304, v4, 4);
	assert_int_equal(id >> 32, 0x01020304);
	memcpy(msg, "\x04\x03\x02\x01", 4);
	memcpy(msg + 4, v4, 4);
	assert_int_equal((uint32_t)id, (uint32_t)connid_siphash(key_a, msg, 8));

	/* IPv6: the 16 address bytes. */
	id = connid_make(key_a, 0x01020304, v6, 16);
	assert_int_equal(id >> 32, 0x01020304);
	memcpy(msg + 4, v6, 16);
	assert_int_equal((uint32_t)id, (uint32_t)connid_siphash(key_a, msg, 20));

	/* Deterministic: a function of key, time and address only. */
	assert_true(connid_make(key_a, NOW, v4, 4) == connid_make(key_a, NOW, v4, 4));
	assert_true(connid_make(key_a, NOW, v4, 4) != connid_make(key_b, NOW, v4, 4));
	assert_true(connid_make(key_a, NOW, v4, 4) != connid_make(key_a, NOW + 1, v4, 4));
}

static void test_roundtrip_ipv4(void **state)
{
	uint64_t id = connid_make(key_a, NOW, v4, 4);

	(void)state;
	assert_int_equal(connid_check(key_a, id, NOW, MAX_AGE, v4, 4), CONNID_VALID);
	assert_int_equal(connid_check(key_a, id, NOW + 120, MAX_AGE, v4, 4), CONNID_VALID);
	assert_int_equal(connid_check(key_b, id, NOW, MAX_AGE, v4, 4), CONNID_FORGED);
}

static void test_roundtrip_ipv6(void **state)
{
	uint64_t id = connid_make(key_a, NOW, v6, 16);

	(void)state;
	assert_int_equal(connid_check(key_a, id, NOW, MAX_AGE, v6, 16), CONNID_VALID);
	assert_int_equal(connid_check(key_a, id, NOW + 120, MAX_AGE, v6, 16), CONNID_VALID);
	assert_int_equal(connid_check(key_b, id, NOW, MAX_AGE, v6, 16), CONNID_FORGED);
}

static void test_mapped_ipv4_is_ipv4(void **state)
{
	uint64_t plain = connid_make(key_a, NOW, v4, 4);
	uint64_t mapped = connid_make(key_a, NOW, v4_mapped, 16);

	(void)state;
	assert_true(plain == mapped);
	assert_int_equal(connid_check(key_a, plain, NOW, MAX_AGE, v4_mapped, 16), CONNID_VALID);
	assert_int_equal(connid_check(key_a, mapped, NOW, MAX_AGE, v4, 4), CONNID_VALID);
	/* Other IPv6 forms of the same four bytes are different clients. */
	assert_true(connid_make(key_a, NOW, v6_nat64, 16) != plain);
	assert_true(connid_make(key_a, NOW, v6_compat, 16) != plain);
	assert_int_equal(connid_check(key_a, plain, NOW, MAX_AGE, v6_nat64, 16), CONNID_FORGED);
	assert_int_equal(connid_check(key_a, plain, NOW, MAX_AGE, v6_compat, 16), CONNID_FORGED);
}

static void test_other_address_is_forged(void **state)
{
	uint64_t id4 = connid_make(key_a, NOW, v4, 4);
	uint64_t id6 = connid_make(key_a, NOW, v6, 16);
	uint8_t a[16];

	(void)state;
	for (int bit = 0; bit < 32; bit++) {
		memcpy(a, v4, 4);
		a[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_equal(connid_check(key_a, id4, NOW, MAX_AGE, a, 4), CONNID_FORGED);
	}
	for (int bit = 0; bit < 128; bit++) {
		memcpy(a, v6, 16);
		a[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_equal(connid_check(key_a, id6, NOW, MAX_AGE, a, 16), CONNID_FORGED);
	}
	/* An IPv4 id is not valid for an IPv6 client and back. */
	assert_int_equal(connid_check(key_a, id4, NOW, MAX_AGE, v6, 16), CONNID_FORGED);
	assert_int_equal(connid_check(key_a, id6, NOW, MAX_AGE, v4, 4), CONNID_FORGED);
}

static void test_age_boundaries(void **state)
{
	uint64_t id = connid_make(key_a, NOW, v4, 4);

	(void)state;
	assert_int_equal(connid_check(key_a, id, NOW + MAX_AGE, MAX_AGE, v4, 4), CONNID_VALID);
	assert_int_equal(connid_check(key_a, id, NOW + MAX_AGE + 1, MAX_AGE, v4, 4),
			 CONNID_EXPIRED);
	assert_int_equal(connid_check(key_a, id, UINT32_MAX, MAX_AGE, v4, 4), CONNID_EXPIRED);
	/* max_age 0: valid in the second it was issued only. */
	assert_int_equal(connid_check(key_a, id, NOW, 0, v4, 4), CONNID_VALID);
	assert_int_equal(connid_check(key_a, id, NOW + 1, 0, v4, 4), CONNID_EXPIRED);
	/* The largest max_age never expires. */
	assert_int_equal(connid_check(key_a, id, UINT32_MAX, UINT32_MAX, v4, 4), CONNID_VALID);
	/* Issued at time 0 (just after boot). */
	id = connid_make(key_a, 0, v4, 4);
	assert_int_equal(connid_check(key_a, id, 0, MAX_AGE, v4, 4), CONNID_VALID);
	assert_int_equal(connid_check(key_a, id, MAX_AGE, MAX_AGE, v4, 4), CONNID_VALID);
	assert_int_equal(connid_check(key_a, id, MAX_AGE + 1, MAX_AGE, v4, 4), CONNID_EXPIRED);
}

static void test_future(void **state)
{
	uint64_t id = connid_make(key_a, NOW, v4, 4);
	uint64_t top = connid_make(key_a, UINT32_MAX, v4, 4);

	(void)state;
	/* Within the slack (another worker's clock a little ahead): valid. */
	for (uint32_t d = 1; d <= CONNID_FUTURE_SLACK; d++)
		assert_int_equal(connid_check(key_a, id, NOW - d, MAX_AGE, v4, 4), CONNID_VALID);
	assert_int_equal(connid_check(key_a, id, NOW - CONNID_FUTURE_SLACK - 1, MAX_AGE, v4, 4),
			 CONNID_FUTURE);
	assert_int_equal(connid_check(key_a, id, 0, MAX_AGE, v4, 4), CONNID_FUTURE);
	/* No modular wrap: an id from before a clock wrap is refused. */
	assert_int_equal(connid_check(key_a, top, 0, MAX_AGE, v4, 4), CONNID_FUTURE);
	assert_int_equal(connid_check(key_a, top, UINT32_MAX, MAX_AGE, v4, 4), CONNID_VALID);
}

static void test_flipped_bits_are_forged(void **state)
{
	uint64_t id = connid_make(key_a, NOW, v4, 4);

	(void)state;
	/* Every bit of the MAC and of the timestamp (the MAC covers it). */
	for (int bit = 0; bit < 64; bit++) {
		uint64_t bad = id ^ (1ULL << bit);

		assert_int_equal(connid_check(key_a, bad, NOW, MAX_AGE, v4, 4), CONNID_FORGED);
		assert_int_equal(connid_check(key_a, bad, NOW, UINT32_MAX, v4, 4), CONNID_FORGED);
	}
	/* Forged wins over expired and future: the counters stay apart. */
	assert_int_equal(connid_check(key_a, id ^ 1, NOW + 10 * MAX_AGE, MAX_AGE, v4, 4),
			 CONNID_FORGED);
	assert_int_equal(connid_check(key_a, id ^ 1, 0, MAX_AGE, v4, 4), CONNID_FORGED);
	assert_int_equal(connid_check(key_a, 0, NOW, MAX_AGE, v4, 4), CONNID_FORGED);
	assert_int_equal(connid_check(key_a, UINT64_MAX, NOW, MAX_AGE, v4, 4), CONNID_FORGED);
	/* The protocol magic a client sends before it has an id. */
	assert_int_equal(connid_check(key_a, 0x41727101980ULL, NOW, MAX_AGE, v4, 4), CONNID_FORGED);
}

static void test_new_key(void **state)
{
	uint8_t k1[CONNID_KEY_LEN], k2[CONNID_KEY_LEN], zero[CONNID_KEY_LEN] = { 0 };

	(void)state;
	plan = PLAN_REAL;
	assert_int_equal(connid_new_key(k1), 0);
	assert_int_equal(connid_new_key(k2), 0);
	assert_memory_not_equal(k1, k2, CONNID_KEY_LEN);
	assert_memory_not_equal(k1, zero, CONNID_KEY_LEN);
	/* Ids under the two keys differ. */
	assert_true(connid_make(k1, NOW, v4, 4) != connid_make(k2, NOW, v4, 4));
}

static void test_new_key_eintr_and_short_reads(void **state)
{
	uint8_t key[CONNID_KEY_LEN], want[CONNID_KEY_LEN];

	(void)state;
	plan = PLAN_EINTR_SHORT;
	fake_calls = 0;
	memset(want, 0x11, 5);
	memset(want + 5, 0x22, CONNID_KEY_LEN - 5);
	assert_int_equal(connid_new_key(key), 0);
	assert_int_equal(fake_calls, 3);
	assert_memory_equal(key, want, CONNID_KEY_LEN);
	plan = PLAN_REAL;
}

static void test_new_key_errors(void **state)
{
	uint8_t key[CONNID_KEY_LEN], untouched[CONNID_KEY_LEN];

	(void)state;
	memset(key, 0x5a, sizeof(key));
	memset(untouched, 0x5a, sizeof(untouched));

	plan = PLAN_ENOSYS;
	fake_calls = 0;
	assert_int_equal(connid_new_key(key), -ENOSYS);
	assert_int_equal(fake_calls, 1);
	assert_memory_equal(key, untouched, CONNID_KEY_LEN);

	/* A getrandom() that never delivers does not loop forever. */
	plan = PLAN_ZERO;
	fake_calls = 0;
	assert_int_equal(connid_new_key(key), -EIO);
	assert_true(fake_calls <= 64);
	assert_memory_equal(key, untouched, CONNID_KEY_LEN);
	plan = PLAN_REAL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_siphash_reference_vectors),
		cmocka_unit_test(test_id_format),
		cmocka_unit_test(test_roundtrip_ipv4),
		cmocka_unit_test(test_roundtrip_ipv6),
		cmocka_unit_test(test_mapped_ipv4_is_ipv4),
		cmocka_unit_test(test_other_address_is_forged),
		cmocka_unit_test(test_age_boundaries),
		cmocka_unit_test(test_future),
		cmocka_unit_test(test_flipped_bits_are_forged),
		cmocka_unit_test(test_new_key),
		cmocka_unit_test(test_new_key_eintr_and_short_reads),
		cmocka_unit_test(test_new_key_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
