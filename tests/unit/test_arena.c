/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/test_arena.c - the size-class peer arena.
 *
 * Classes, bump allocation, reuse of freed blocks, alignment of hash-table
 * blocks (and the skipped records landing on a free list), exhaustion,
 * falling back to a bigger free block, and the free-list walk.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "shm/arena.h"

struct box {
	struct arena_hdr h;
	struct arena a;
	uint8_t *mem;
};

static struct box *box_new(uint64_t records)
{
	struct box *b = calloc(1, sizeof(*b));

	assert_non_null(b);
	b->mem = calloc(records, 8);
	assert_non_null(b->mem);
	arena_format(&b->h, records, 8);
	b->a = (struct arena){ &b->h, b->mem, 8 };
	return b;
}

static void box_free(struct box *b)
{
	free(b->mem);
	free(b);
}

static void test_classes(void **state)
{
	unsigned c;

	(void)state;
	for (c = 1; c < ARENA_CLASSES; c++)
		assert_true(arena_class_cap(c) > arena_class_cap(c - 1));
	/* Arrays grow by at most 1.5x (after the first few). */
	for (c = 4; c < ARENA_ARRAY_CLASSES; c++)
		assert_true(arena_class_cap(c) * 2 <= arena_class_cap(c - 1) * 3);
	assert_int_equal(arena_class_cap(ARENA_ARRAY_CLASSES - 1), ARENA_ARRAY_MAX);
	for (c = ARENA_ARRAY_CLASSES; c < ARENA_CLASSES; c++) {
		assert_true(arena_class_is_hash(c));
		assert_int_equal(arena_class_cap(c) & (arena_class_cap(c) - 1), 0);
	}
	assert_int_equal(arena_class_cap(arena_array_class(1)), 1);
	assert_int_equal(arena_class_cap(arena_array_class(7)), 8);
	assert_int_equal(arena_class_cap(arena_array_class(64)), 64);
	assert_int_equal(arena_class_cap(arena_hash_class(65)), 128);
	assert_int_equal(arena_class_cap(arena_hash_class(1000)), 1024);
}

static int count_free(uint32_t off, unsigned cls, void *arg)
{
	uint64_t *n = arg;

	(void)off;
	*n += arena_class_cap(cls);
	return 0;
}

static void test_alloc_reuse(void **state)
{
	struct box *b = box_new(1000);
	uint32_t o1, o2, o3, o4;
	unsigned c;
	uint64_t n = 0;

	(void)state;
	assert_int_equal(arena_alloc(&b->a, 2, 0, &o1, &c), 0);
	assert_int_equal(c, 2);
	assert_int_equal(o1, 0);
	assert_int_equal(arena_alloc(&b->a, 2, 0, &o2, &c), 0);
	assert_int_equal(o2, 3);
	assert_int_equal(arena_top(&b->a), 6);
	arena_free(&b->a, o1, 2, 5);
	/* Reused, from any shard. */
	assert_int_equal(arena_alloc(&b->a, 2, 0, &o3, &c), 0);
	assert_int_equal(o3, o1);
	assert_int_equal(arena_top(&b->a), 6);
	/* Hash blocks are group aligned; the skipped records are kept. */
	assert_int_equal(arena_alloc(&b->a, ARENA_ARRAY_CLASSES, 1, &o4, &c), 0);
	assert_int_equal(o4 % ARENA_GROUP, 0);
	assert_int_equal(o4, 8);
	assert_int_equal(arena_walk_free(&b->a, 100, count_free, &n), 0);
	assert_int_equal(n, 2); /* records 6 and 7 */
	assert_int_equal(arena_top(&b->a), 8 + 128);
	box_free(b);
}

static void test_exhaustion(void **state)
{
	struct box *b = box_new(64);
	uint32_t off[64], o;
	unsigned c, i;

	(void)state;
	for (i = 0; i < 16; i++)
		assert_int_equal(arena_alloc(&b->a, 3, i, &off[i], &c), 0); /* 4 records */
	assert_int_equal(arena_alloc(&b->a, 0, 0, &o, &c), -ENOSPC);
	assert_int_equal(arena_alloc(&b->a, ARENA_ARRAY_CLASSES, 0, &o, &c), -ENOSPC);
	/* A freed bigger block serves a smaller class when nothing else is left. */
	arena_free(&b->a, off[5], 3, 2);
	assert_int_equal(arena_alloc(&b->a, 1, 0, &o, &c), 0);
	assert_int_equal(o, off[5]);
	assert_int_equal(c, 3);
	/* But never an array block for a hash table. */
	arena_free(&b->a, off[6], 3, 2);
	assert_int_equal(arena_alloc(&b->a, ARENA_ARRAY_CLASSES, 0, &o, &c), -ENOSPC);
	assert_int_equal(arena_top(&b->a), 64);
	box_free(b);
}

static void test_many(void **state)
{
	struct box *b = box_new(200000);
	uint32_t offs[2000];
	unsigned cls[2000], c, i, round;
	uint64_t x = 1, n;
	uint8_t *owner = calloc(200000, 1);

	(void)state;
	assert_non_null(owner);
	memset(cls, 0xff, sizeof(cls));
	for (round = 0; round < 20000; round++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		i = (unsigned)(x % 2000);
		if (cls[i] != 0xffffffffu) {
			for (n = 0; n < arena_class_cap(cls[i]); n++)
				owner[offs[i] + n] = 0;
			arena_free(&b->a, offs[i], cls[i], (unsigned)x);
			cls[i] = 0xffffffffu;
			continue;
		}
		if (arena_alloc(&b->a, (unsigned)(x >> 20) % 24, (unsigned)x, &offs[i], &c))
			continue;
		cls[i] = c;
		/* No record is handed out twice. */
		for (n = 0; n < arena_class_cap(c); n++) {
			assert_int_equal(owner[offs[i] + n], 0);
			owner[offs[i] + n] = 1;
		}
	}
	n = 0;
	assert_int_equal(arena_walk_free(&b->a, 1000000, count_free, &n), 0);
	for (i = 0; i < 2000; i++)
		if (cls[i] != 0xffffffffu)
			n += arena_class_cap(cls[i]);
	assert_int_equal(n, arena_top(&b->a));
	free(owner);
	box_free(b);
}

static void test_rebuild(void **state)
{
	struct box *b = box_new(4096);
	uint64_t used[4096 / 64] = { 0 }, n = 0, i;
	uint32_t keep, lost, o;
	unsigned c;

	(void)state;
	assert_int_equal(arena_alloc(&b->a, 5, 0, &keep, &c), 0); /* 6 records */
	assert_int_equal(arena_alloc(&b->a, ARENA_ARRAY_CLASSES + 1, 0, &lost, &c), 0); /* 256 */
	assert_int_equal(arena_alloc(&b->a, 2, 0, &o, &c), 0);
	arena_free(&b->a, o, 2, 0);
	/* Only the first block is still owned: the 256 leaked, the 3 is free. */
	for (i = keep; i < keep + 6; i++)
		used[i / 64] |= 1ULL << (i % 64);
	assert_int_equal(arena_rebuild(&b->a, used), arena_top(&b->a) - 6);
	assert_int_equal(arena_walk_free(&b->a, 1000, count_free, &n), 0);
	assert_int_equal(n, arena_top(&b->a) - 6);
	/* The leaked table's records serve a table again (no new top). */
	n = arena_top(&b->a);
	assert_int_equal(arena_alloc(&b->a, ARENA_ARRAY_CLASSES + 1, 0, &o, &c), 0);
	assert_int_equal(c, ARENA_ARRAY_CLASSES + 1);
	assert_int_equal(o, lost);
	assert_int_equal(arena_top(&b->a), n);
	box_free(b);
}

/*
 * An arena filled with tables, all freed again, serves arrays: a free table
 * block is split, the caller gets exactly its class, the rest is free.
 */
static void test_split_table(void **state)
{
	struct box *b = box_new(1024);
	uint32_t t[8], o;
	uint64_t n = 0, held = 0;
	unsigned c, i, got = 0;

	(void)state;
	for (i = 0; i < 8; i++)
		assert_int_equal(arena_alloc(&b->a, ARENA_ARRAY_CLASSES, i, &t[i], &c), 0);
	assert_int_equal(arena_top(&b->a), 1024);
	assert_int_equal(arena_alloc(&b->a, 15, 0, &o, &c), -ENOSPC);
	for (i = 0; i < 8; i++)
		arena_free(&b->a, t[i], ARENA_ARRAY_CLASSES, i);
	/* The first 40-record array comes out of a table, exactly 40 records. */
	assert_int_equal(arena_alloc(&b->a, 15, 3, &o, &c), 0);
	assert_int_equal(c, 15);
	assert_int_equal(o % ARENA_GROUP, 0);
	held = 40;
	got = 1;
	/* Each table: 40 + the rest as 64 + 24, the 64 serving a 40 whole. */
	while (arena_alloc(&b->a, 15, 3, &o, &c) == 0) {
		assert_true(c == 15 || c == 18);
		held += arena_class_cap(c);
		got++;
		assert_true(got <= 16);
	}
	assert_int_equal(got, 16);
	assert_int_equal(held, 8 * (40 + 64));
	/* What is left is free and whole: 24 records of every table. */
	assert_int_equal(arena_walk_free(&b->a, 1000, count_free, &n), 0);
	assert_int_equal(n, 8 * 24);
	assert_int_equal(arena_top(&b->a), 1024);
	/* No table can be made of it again (no coalescing). */
	assert_int_equal(arena_alloc(&b->a, ARENA_ARRAY_CLASSES, 0, &o, &c), -ENOSPC);
	box_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classes),	   cmocka_unit_test(test_alloc_reuse),
		cmocka_unit_test(test_exhaustion), cmocka_unit_test(test_many),
		cmocka_unit_test(test_rebuild),	   cmocka_unit_test(test_split_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
