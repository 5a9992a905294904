/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/test_keyhash.c - SipHash against the reference vector, and
 * the keyed mixes' dependence on key and input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "shm/keyhash.h"

static void test_sip24_vector(void **state)
{
	uint8_t key[16], msg[64];
	unsigned i;

	(void)state;
	for (i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	for (i = 0; i < 64; i++)
		msg[i] = (uint8_t)i;
	/* The SipHash paper's example: 15-byte message 00..0e, key 00..0f. */
	assert_true(keyhash_sip24(key, msg, 15) == 0xa129ca6149be45e5ULL);
	/* First entry of the reference vectors table: the empty message. */
	assert_true(keyhash_sip24(key, msg, 0) == 0x726fdb47dd0e0e31ULL);
}

static void test_keyed(void **state)
{
	uint8_t k1[16] = { 1 }, k2[16] = { 2 }, ih[20] = { 0 };
	uint64_t a, b, c;

	(void)state;
	a = keyhash_sip13(k1, ih, 20);
	b = keyhash_sip13(k2, ih, 20);
	ih[19] = 1;
	c = keyhash_sip13(k1, ih, 20);
	assert_true(a != b);
	assert_true(a != c);
	assert_true(keyhash_sip13(k1, ih, 20) == c);
	assert_true(keyhash_mix64(1, 5, 6) != keyhash_mix64(1, 5, 7));
	assert_true(keyhash_mix64(1, 5, 6) != keyhash_mix64(2, 5, 6));
	assert_true(keyhash_mix64(0, 0, 0) != keyhash_mix64(0, 1, 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sip24_vector),
		cmocka_unit_test(test_keyed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
