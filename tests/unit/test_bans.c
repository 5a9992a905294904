/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/test_bans.c - the ban list (shm/bans.c) and its control side
 * (daemon/banlist.c): prefix syntax, lookups over several prefix lengths,
 * expiry, capacity, the file, repair after a writer died mid-change, a
 * reader in another process while the list changes, and the durations of
 * trackerctl ban.
 */
#include <arpa/inet.h>
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

#include "daemon/banlist.h"
#include "shm/bans.h"

struct list {
	void *mem;
	size_t len;
	struct bans *b;
};

static void open_list(struct list *l, uint32_t max)
{
	l->len = bans_region_size(max);
	l->mem = mmap(NULL, l->len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(l->mem != MAP_FAILED);
	bans_format(l->mem, max);
	assert_int_equal(bans_bind(l->mem, l->len, &l->b), 0);
}

static void close_list(struct list *l)
{
	bans_unbind(l->b);
	munmap(l->mem, l->len);
}

static struct bans_prefix pfx(const char *s)
{
	struct bans_prefix p;

	if (bans_parse_prefix(s, &p) < 0)
		fail_msg("'%s' does not parse", s);
	return p;
}

static bool banned(struct list *l, const char *ip)
{
	uint8_t a[16];

	if (strchr(ip, ':')) {
		assert_int_equal(inet_pton(AF_INET6, ip, a), 1);
		return bans_is_banned(l->b, a, 16);
	}
	assert_int_equal(inet_pton(AF_INET, ip, a), 1);
	return bans_is_banned(l->b, a, 4);
}

static void test_prefix_syntax(void **state)
{
	static const char *const good[][2] = {
		{ "203.0.113.0/24", "203.0.113.0/24" },
		{ "203.0.113.77/24", "203.0.113.0/24" },
		{ "203.0.113.77", "203.0.113.77/32" },
		{ "0.0.0.0/0", "0.0.0.0/0" },
		{ "10.1.2.3/9", "10.0.0.0/9" },
		{ "2001:db8::/48", "2001:db8::/48" },
		{ "2001:db8:1:2:3::1/64", "2001:db8:1:2::/64" },
		{ "2001:db8::1", "2001:db8::1/128" },
		{ "::ffff:198.51.100.0/120", "198.51.100.0/24" },
		{ "::ffff:198.51.100.9", "198.51.100.9/32" },
	};
	static const char *const bad[] = {
		"",
		"/24",
		"203.0.113.0/",
		"203.0.113.0/33",
		"2001:db8::/129",
		"203.0.113.0/024",
		"203.0.113.0/2x",
		"host.example",
		"203.0.113",
		"1.2.3.4/-1",
		"::1/ 8",
	};
	struct bans_prefix p;
	char buf[BANS_PREFIX_STRLEN];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(bans_parse_prefix(good[i][0], &p), 0);
		bans_format_prefix(&p, buf, sizeof(buf));
		assert_string_equal(buf, good[i][1]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (bans_parse_prefix(bad[i], &p) != -EINVAL)
			fail_msg("'%s' parsed", bad[i]);
}

static void test_lookup(void **state)
{
	struct list l;
	struct bans_prefix p;

	(void)state;
	open_list(&l, 64);
	assert_false(banned(&l, "203.0.113.5"));
	p = pfx("203.0.113.0/24");
	assert_int_equal(bans_add(l.b, &p, 0), 0);
	p = pfx("198.51.100.7");
	assert_int_equal(bans_add(l.b, &p, 0), 0);
	p = pfx("2001:db8:aa::/48");
	assert_int_equal(bans_add(l.b, &p, 0), 0);
	p = pfx("10.0.0.0/8");
	assert_int_equal(bans_add(l.b, &p, 0), 0);
	assert_int_equal(bans_count(l.b), 4);

	assert_true(banned(&l, "203.0.113.0"));
	assert_true(banned(&l, "203.0.113.255"));
	assert_false(banned(&l, "203.0.114.1"));
	assert_true(banned(&l, "198.51.100.7"));
	assert_false(banned(&l, "198.51.100.8"));
	assert_true(banned(&l, "10.200.3.4"));
	assert_false(banned(&l, "11.0.0.1"));
	assert_true(banned(&l, "2001:db8:aa:ffff::1"));
	assert_false(banned(&l, "2001:db8:ab::1"));
	/* An IPv4 ban does not match the same bytes as IPv6, nor the reverse. */
	assert_false(banned(&l, "cb00:7100::1"));

	/* Banning again is an update; unban needs the exact prefix. */
	p = pfx("203.0.113.9/24");
	assert_int_equal(bans_add(l.b, &p, 12345), 1);
	assert_int_equal(bans_count(l.b), 4);
	p = pfx("203.0.113.0/25");
	assert_int_equal(bans_remove(l.b, &p), -ENOENT);
	p = pfx("203.0.113.0/24");
	assert_int_equal(bans_remove(l.b, &p), 0);
	assert_false(banned(&l, "203.0.113.5"));
	assert_true(banned(&l, "10.0.0.1"));
	assert_int_equal(bans_count(l.b), 3);
	close_list(&l);
}

static void test_expiry_and_capacity(void **state)
{
	struct list l;
	struct bans_prefix p;
	char ip[32];

	(void)state;
	open_list(&l, 8);
	for (unsigned i = 0; i < 8; i++) {
		snprintf(ip, sizeof(ip), "192.0.2.%u", i);
		p = pfx(ip);
		assert_int_equal(bans_add(l.b, &p, i % 2 ? 1000 + i : 0), 0);
	}
	p = pfx("192.0.2.200");
	assert_int_equal(bans_add(l.b, &p, 0), -ENOSPC);
	assert_int_equal(bans_expire(l.b, 1002), 1); /* 1001 */
	assert_int_equal(bans_expire(l.b, 1002), 0);
	assert_false(banned(&l, "192.0.2.1"));
	assert_true(banned(&l, "192.0.2.3"));
	assert_int_equal(bans_expire(l.b, 99999), 3);
	assert_int_equal(bans_count(l.b), 4);
	for (unsigned i = 0; i < 8; i++) {
		snprintf(ip, sizeof(ip), "192.0.2.%u", i);
		assert_int_equal(banned(&l, ip), i % 2 == 0);
	}
	assert_int_equal(bans_add(l.b, &p, 0), 0); /* room again */
	close_list(&l);
}

static void test_file_roundtrip(void **state)
{
	char dir[] = "/tmp/test_bans.XXXXXX", path[64], tmp[80];
	struct list a, b;
	struct bans_prefix p;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/bans", dir);
	open_list(&a, 16);
	p = pfx("203.0.113.0/24");
	assert_int_equal(bans_add(a.b, &p, 0), 0);
	p = pfx("2001:db8::/32");
	assert_int_equal(bans_add(a.b, &p, 5000), 0);
	p = pfx("198.51.100.1");
	assert_int_equal(bans_add(a.b, &p, 100), 0); /* expired by the load below */
	assert_int_equal(bans_save(a.b, path), 0);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	assert_int_equal(access(tmp, F_OK), -1); /* renamed away */
	/* A bad line is skipped, not fatal. */
	f = fopen(path, "a");
	assert_non_null(f);
	fprintf(f, "not-a-prefix 0\n10.9.9.9\n");
	fclose(f);

	open_list(&b, 16);
	assert_false(bans_is_loaded(b.b));
	assert_int_equal(bans_load(b.b, path, 1000), 2);
	assert_true(banned(&b, "203.0.113.99"));
	assert_true(banned(&b, "2001:db8:1::1"));
	assert_false(banned(&b, "198.51.100.1"));
	assert_false(banned(&b, "10.9.9.9"));
	unlink(path);
	assert_int_equal(bans_load(b.b, path, 1000), -ENOENT);
	rmdir(dir);
	close_list(&a);
	close_list(&b);
}

static void test_repair_after_writer_death(void **state)
{
	struct list l;
	struct bans_prefix p;
	uint32_t *seq;

	(void)state;
	open_list(&l, 16);
	p = pfx("203.0.113.0/24");
	assert_int_equal(bans_add(l.b, &p, 0), 0);
	/* A writer killed mid-change leaves the counter odd: readers give up. */
	seq = (uint32_t *)l.mem + 2;
	*seq |= 1;
	assert_false(banned(&l, "203.0.113.1"));
	bans_repair(l.b);
	assert_true(banned(&l, "203.0.113.1"));
	assert_int_equal(*seq & 1, 0);
	close_list(&l);
}

/* A reader process never sees an address banned that is not, while a writer edits. */
static void test_concurrent_reader(void **state)
{
	struct list l;
	struct bans_prefix p, q;
	unsigned *res;
	pid_t pid;
	int st;

	(void)state;
	open_list(&l, 256);
	res = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(res != MAP_FAILED);
	p = pfx("203.0.113.0/24");
	assert_int_equal(bans_add(l.b, &p, 0), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		unsigned hits = 0, false_pos = 0;

		while (!__atomic_load_n(&res[0], __ATOMIC_ACQUIRE)) {
			bool hit = banned(&l, "203.0.113.50");

			hits += hit;
			if (hit)
				__atomic_add_fetch(&res[1], 1, __ATOMIC_RELAXED);
			false_pos += banned(&l, "203.0.112.50");
			false_pos += banned(&l, "192.0.2.77");
			__atomic_add_fetch(&res[3], 1, __ATOMIC_RELAXED);
		}
		(void)hits;
		res[2] = false_pos;
		_exit(0);
	}
	/* Edit until the reader has looked 2000 times (at least 20000 edits, at most 10 s). */
	for (unsigned i = 0, t0 = (unsigned)time(NULL);
	     i < 20000 ||
	     (__atomic_load_n(&res[3], __ATOMIC_RELAXED) < 2000 && (unsigned)time(NULL) - t0 < 10);
	     i++) {
		char ip[32];

		snprintf(ip, sizeof(ip), "198.%u.%u.0/24", 18 + (i & 1), i % 200);
		q = pfx(ip);
		if (bans_add(l.b, &q, 0) < 0 || i % 3 == 0)
			bans_remove(l.b, &q);
		if (i % 100 == 99)
			bans_expire(l.b, 1);
	}
	/*
	 * Phase 2, edits 50 us apart (an operator is far slower): the reader
	 * now sees the ban nearly every time.
	 */
	{
		unsigned before_l = __atomic_load_n(&res[3], __ATOMIC_RELAXED), after_l;
		unsigned before_h = __atomic_load_n(&res[1], __ATOMIC_RELAXED);
		struct timespec gap = { 0, 50000 };

		__atomic_store_n(&res[5], 1, __ATOMIC_RELEASE);
		for (unsigned i = 0, t0 = (unsigned)time(NULL);
		     i < 400 || (__atomic_load_n(&res[3], __ATOMIC_RELAXED) - before_l < 2000 &&
				 (unsigned)time(NULL) - t0 < 10);
		     i++) {
			q = pfx(i & 1 ? "192.0.2.128/25" : "2001:db8:99::/48");
			if (bans_add(l.b, &q, 0) != 0)
				bans_remove(l.b, &q);
			nanosleep(&gap, NULL);
		}
		__atomic_store_n(&res[5], 0, __ATOMIC_RELEASE);
		after_l = __atomic_load_n(&res[3], __ATOMIC_RELAXED) - before_l;
		res[6] = after_l;
		res[7] = __atomic_load_n(&res[1], __ATOMIC_RELAXED) - before_h;
	}
	__atomic_store_n(&res[0], 1, __ATOMIC_RELEASE);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	printf("# reader: %u lookups, %u hits, %u false positives while the list changed\n", res[3],
	       res[1], res[2]);
	printf("# reader, edits 50 us apart: %u of %u lookups saw the ban\n", res[7], res[6]);
	assert_int_equal(res[2], 0);
	assert_true(res[7] >= res[6] / 10 * 9);
	assert_true(banned(&l, "203.0.113.50"));
	munmap(res, 4096);
	close_list(&l);
}

static void test_durations(void **state)
{
	uint64_t s;

	(void)state;
	assert_int_equal(banlist_parse_duration("10m", &s), 0);
	assert_int_equal(s, 600);
	assert_int_equal(banlist_parse_duration("2h", &s), 0);
	assert_int_equal(s, 7200);
	assert_int_equal(banlist_parse_duration("1d", &s), 0);
	assert_int_equal(s, 86400);
	assert_int_equal(banlist_parse_duration("3w", &s), 0);
	assert_int_equal(s, 3 * 7 * 86400);
	assert_int_equal(banlist_parse_duration("45", &s), 0);
	assert_int_equal(s, 45);
	assert_int_equal(banlist_parse_duration("permanent", &s), 0);
	assert_int_equal(s, 0);
	assert_int_equal(banlist_parse_duration("0", &s), -EINVAL);
	assert_int_equal(banlist_parse_duration("1y", &s), -EINVAL);
	assert_int_equal(banlist_parse_duration("h", &s), -EINVAL);
	assert_int_equal(banlist_parse_duration("10mm", &s), -EINVAL);
	assert_int_equal(banlist_parse_duration("99999999999999999999", &s), -EINVAL);
	assert_int_equal(banlist_parse_duration("5000w", &s), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prefix_syntax),
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_expiry_and_capacity),
		cmocka_unit_test(test_file_roundtrip),
		cmocka_unit_test(test_repair_after_writer_death),
		cmocka_unit_test(test_concurrent_reader),
		cmocka_unit_test(test_durations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
