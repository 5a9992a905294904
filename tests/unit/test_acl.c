/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/test_acl.c - the access list in the segment: modes, lookups,
 * publication, capacity, and readers in another process during switches.
 *
 * The region lives in a MAP_SHARED anonymous mapping, as in the segment,
 * so a forked reader sees the writer's stores. Random hashes come from a
 * seeded generator; the seed is printed and can be given in ACL_SEED.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "shm/acl.h"

static uint64_t seed;
static uint64_t rs;

static uint64_t rnd(void)
{
	rs += 0x9e3779b97f4a7c15ULL;
	uint64_t z = rs;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void fill(uint8_t *h, size_t n)
{
	for (size_t i = 0; i < n * ACL_HASH_LEN; i += 4) {
		uint32_t v = (uint32_t)rnd();

		memcpy(h + i, &v, 4);
	}
}

struct region {
	void *mem;
	size_t len;
	struct acl *a;
};

static void region_open(struct region *r, uint64_t max)
{
	r->len = acl_region_size(max);
	r->mem = mmap(NULL, r->len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(r->mem != MAP_FAILED);
	assert_int_equal(acl_bind(r->mem, max, &r->a), 0);
}

static void region_close(struct region *r)
{
	acl_unbind(r->a);
	munmap(r->mem, r->len);
}

static void test_fresh_region_is_off(void **state)
{
	struct region r;
	uint8_t h[5 * ACL_HASH_LEN];
	struct acl_info info;

	(void)state;
	region_open(&r, 100);
	fill(h, 5);
	for (int i = 0; i < 5; i++) {
		assert_true(acl_permits(r.a, h + i * ACL_HASH_LEN));
		assert_false(acl_contains(r.a, h + i * ACL_HASH_LEN));
	}
	acl_get_info(r.a, &info);
	assert_int_equal(info.mode, ACL_MODE_OFF);
	assert_int_equal(info.count, 0);
	assert_int_equal(info.generation, 0);
	assert_int_equal(info.max_entries, 100);
	region_close(&r);
}

static void test_allow_and_deny_modes(void **state)
{
	enum { N = 500, M = 500 };
	static uint8_t in[N * ACL_HASH_LEN], out[M * ACL_HASH_LEN];
	struct region r;
	struct acl_info info;

	(void)state;
	region_open(&r, 1000);
	fill(in, N);
	fill(out, M);

	assert_int_equal(acl_publish(r.a, ACL_MODE_ALLOW, in, N), 0);
	for (int i = 0; i < N; i++) {
		assert_true(acl_permits(r.a, in + i * ACL_HASH_LEN));
		assert_true(acl_contains(r.a, in + i * ACL_HASH_LEN));
	}
	for (int i = 0; i < M; i++)
		assert_false(acl_permits(r.a, out + i * ACL_HASH_LEN));
	acl_get_info(r.a, &info);
	assert_int_equal(info.mode, ACL_MODE_ALLOW);
	assert_int_equal(info.count, N);
	assert_int_equal(info.generation, 1);

	assert_int_equal(acl_publish(r.a, ACL_MODE_DENY, in, N), 0);
	for (int i = 0; i < N; i++)
		assert_false(acl_permits(r.a, in + i * ACL_HASH_LEN));
	for (int i = 0; i < M; i++)
		assert_true(acl_permits(r.a, out + i * ACL_HASH_LEN));

	/* Off: everything, whatever is listed. */
	assert_int_equal(acl_publish(r.a, ACL_MODE_OFF, in, N), 0);
	for (int i = 0; i < N; i++)
		assert_true(acl_permits(r.a, in + i * ACL_HASH_LEN));

	/* An empty allow list serves nothing; an empty deny list everything. */
	assert_int_equal(acl_publish(r.a, ACL_MODE_ALLOW, NULL, 0), 0);
	assert_false(acl_permits(r.a, in));
	assert_int_equal(acl_publish(r.a, ACL_MODE_DENY, NULL, 0), 0);
	assert_true(acl_permits(r.a, in));
	assert_int_equal(acl_publish(r.a, (enum acl_mode)7, NULL, 0), -EINVAL);
	acl_get_info(r.a, &info);
	assert_int_equal(info.generation, 5);
	region_close(&r);
}

static void test_duplicates_zero_hash_and_copy(void **state)
{
	uint8_t h[6 * ACL_HASH_LEN], copy[8 * ACL_HASH_LEN], zero[ACL_HASH_LEN] = { 0 };
	uint8_t near_zero[ACL_HASH_LEN] = { 0 };
	struct region r;
	struct acl_info info;
	int found;

	(void)state;
	region_open(&r, 4);
	fill(h, 3);
	memcpy(h + 3 * ACL_HASH_LEN, h, ACL_HASH_LEN); /* duplicate of 0 */
	memset(h + 4 * ACL_HASH_LEN, 0, ACL_HASH_LEN); /* the zero hash */
	memset(h + 5 * ACL_HASH_LEN, 0, ACL_HASH_LEN); /* twice */
	near_zero[19] = 1;

	/* 6 entries, 4 distinct: fits max_entries = 4. */
	assert_int_equal(acl_publish(r.a, ACL_MODE_DENY, h, 6), 0);
	acl_get_info(r.a, &info);
	assert_int_equal(info.count, 4);
	assert_false(acl_permits(r.a, zero));
	assert_true(acl_permits(r.a, near_zero));

	assert_int_equal(acl_copy(r.a, copy, 8), 4);
	for (int i = 0; i < 3; i++) {
		found = 0;
		for (int j = 0; j < 4; j++)
			found += !memcmp(copy + j * ACL_HASH_LEN, h + i * ACL_HASH_LEN,
					 ACL_HASH_LEN);
		assert_int_equal(found, 1);
	}
	found = 0;
	for (int j = 0; j < 4; j++)
		found += !memcmp(copy + j * ACL_HASH_LEN, zero, ACL_HASH_LEN);
	assert_int_equal(found, 1);
	/* A short buffer still reports the whole count. */
	assert_int_equal(acl_copy(r.a, copy, 1), 4);
	region_close(&r);
}

static void test_capacity_bound(void **state)
{
	enum { MAX = 100 };
	static uint8_t h[(MAX + 1) * ACL_HASH_LEN];
	struct region r;
	struct acl_info info;

	(void)state;
	region_open(&r, MAX);
	fill(h, MAX + 1);
	assert_int_equal(acl_publish(r.a, ACL_MODE_ALLOW, h, MAX), 0);
	/* One more distinct hash is refused, and the list in force stays. */
	assert_int_equal(acl_publish(r.a, ACL_MODE_DENY, h, MAX + 1), -ENOSPC);
	acl_get_info(r.a, &info);
	assert_int_equal(info.mode, ACL_MODE_ALLOW);
	assert_int_equal(info.count, MAX);
	for (int i = 0; i < MAX; i++)
		assert_true(acl_permits(r.a, h + i * ACL_HASH_LEN));
	assert_false(acl_permits(r.a, h + MAX * ACL_HASH_LEN));

	/* A region for no hashes: modes still work, any hash is too many. */
	region_close(&r);
	region_open(&r, 0);
	assert_int_equal(acl_publish(r.a, ACL_MODE_ALLOW, NULL, 0), 0);
	assert_false(acl_permits(r.a, h));
	assert_int_equal(acl_publish(r.a, ACL_MODE_DENY, h, 1), -ENOSPC);
	assert_false(acl_permits(r.a, h));
	region_close(&r);
}

/*
 * A reader in another process looks up, without pause, hashes that are on
 * both lists (must be served, allow mode) and hashes on neither (must be
 * refused) while the writer switches between two lists that differ in
 * everything else, rebuilding each bank many times under the reader.
 */
static void test_switch_under_forked_reader(void **state)
{
	enum { COMMON = 2000, ONLY = 20000, ABSENT = 2000, SWITCHES = 300 };
	uint8_t *a_list, *b_list, *absent;
	struct region r;
	volatile uint64_t *shared;
	pid_t pid;
	int status;

	(void)state;
	region_open(&r, COMMON + ONLY);
	a_list = malloc((COMMON + ONLY) * ACL_HASH_LEN);
	b_list = malloc((COMMON + ONLY) * ACL_HASH_LEN);
	absent = malloc(ABSENT * ACL_HASH_LEN);
	assert_non_null(a_list);
	assert_non_null(b_list);
	assert_non_null(absent);
	fill(a_list, COMMON + ONLY);
	memcpy(b_list, a_list, COMMON * ACL_HASH_LEN);
	fill(b_list + COMMON * ACL_HASH_LEN, ONLY);
	fill(absent, ABSENT);
	assert_int_equal(acl_publish(r.a, ACL_MODE_ALLOW, a_list, COMMON + ONLY), 0);

	/* [0] stop, [1] lookups done, [2] wrong answers, [3] reader started */
	shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(shared != MAP_FAILED);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		uint64_t n = 0, wrong = 0;

		__atomic_store_n(&shared[3], 1, __ATOMIC_RELEASE);
		/* Bounded: the writer stops it; the count caps a lost writer. */
		while (!__atomic_load_n(&shared[0], __ATOMIC_ACQUIRE) && n < 2000000000ULL) {
			for (int i = 0; i < 64; i++, n++) {
				unsigned k = (unsigned)(n % COMMON);

				wrong += !acl_permits(r.a, a_list + k * ACL_HASH_LEN);
				wrong += acl_permits(r.a, absent + (k % ABSENT) * ACL_HASH_LEN);
			}
		}
		shared[1] = n;
		shared[2] = wrong;
		/* Free the child's copies: valgrind checks its leaks at _exit too. */
		region_close(&r);
		free(a_list);
		free(b_list);
		free(absent);
		_exit(0);
	}
	for (int i = 0; i < 100000 && !__atomic_load_n(&shared[3], __ATOMIC_ACQUIRE); i++)
		usleep(100);
	for (int i = 0; i < SWITCHES; i++)
		assert_int_equal(
			acl_publish(r.a, ACL_MODE_ALLOW, i % 2 ? a_list : b_list, COMMON + ONLY),
			0);
	__atomic_store_n(&shared[0], 1, __ATOMIC_RELEASE);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	printf("# %d switches under a reader: %llu lookups, %llu wrong\n", SWITCHES,
	       (unsigned long long)shared[1], (unsigned long long)shared[2]);
	assert_true(shared[1] > 0);
	assert_int_equal(shared[2], 0);
	munmap((void *)shared, 4096);
	free(a_list);
	free(b_list);
	free(absent);
	region_close(&r);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Microbenchmark: lookups against a list of 1,000,000 hashes (deny mode,
 * misses: what a worker does for almost every request) and in mode off.
 * Prints ns per lookup; asserts only a generous bound so a busy machine
 * does not fail it.
 */
static void test_lookup_speed_1m(void **state)
{
	enum { N = 1000000, Q = 1 << 16, ROUNDS = 32 };
	uint8_t *list, *q;
	struct region r;
	double t0, build, off_ns, miss_ns, hit_ns;
	uint64_t sink = 0;

	(void)state;
	region_open(&r, N);
	list = malloc((size_t)N * ACL_HASH_LEN);
	q = malloc((size_t)Q * ACL_HASH_LEN);
	assert_non_null(list);
	assert_non_null(q);
	fill(list, N);
	fill(q, Q);

	t0 = now_s();
	for (int k = 0; k < ROUNDS; k++)
		for (int i = 0; i < Q; i++)
			sink += acl_permits(r.a, q + (size_t)i * ACL_HASH_LEN);
	off_ns = (now_s() - t0) * 1e9 / ((double)ROUNDS * Q);

	t0 = now_s();
	assert_int_equal(acl_publish(r.a, ACL_MODE_DENY, list, N), 0);
	build = now_s() - t0;

	t0 = now_s();
	for (int k = 0; k < ROUNDS; k++)
		for (int i = 0; i < Q; i++)
			sink += acl_permits(r.a, q + (size_t)i * ACL_HASH_LEN);
	miss_ns = (now_s() - t0) * 1e9 / ((double)ROUNDS * Q);

	t0 = now_s();
	for (int k = 0; k < ROUNDS; k++)
		for (int i = 0; i < Q; i++)
			sink += acl_permits(r.a, list + (size_t)((i * 15 + k) % N) * ACL_HASH_LEN);
	hit_ns = (now_s() - t0) * 1e9 / ((double)ROUNDS * Q);

	printf("# 1M-hash list: build %.0f ms; lookup off %.1f ns, miss %.1f ns, hit %.1f ns "
	       "(sink %llu)\n",
	       build * 1e3, off_ns, miss_ns, hit_ns, (unsigned long long)sink);
	assert_int_equal(sink, 2ULL * ROUNDS * Q); /* off and misses permitted, hits not */
	assert_true(miss_ns < 5000);
	free(list);
	free(q);
	region_close(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fresh_region_is_off),
		cmocka_unit_test(test_allow_and_deny_modes),
		cmocka_unit_test(test_duplicates_zero_hash_and_copy),
		cmocka_unit_test(test_capacity_bound),
		cmocka_unit_test(test_switch_under_forked_reader),
		cmocka_unit_test(test_lookup_speed_1m),
	};
	const char *e = getenv("ACL_SEED");

	seed = e ? strtoull(e, NULL, 0) : (uint64_t)time(NULL) ^ (uint64_t)getpid() << 20;
	rs = seed;
	printf("# ACL_SEED=%llu\n", (unsigned long long)seed);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
