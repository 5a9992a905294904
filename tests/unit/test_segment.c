/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/test_segment.c - segment create, attach and refusal.
 *
 * A segment made by segment_create() attaches through its fd (as the next
 * trackerd would from the FD store) and shows the same table and keys;
 * damaged or foreign fds are refused with a reason: bad magic, layout
 * version, structure sizes, fd size, capacity, a fd too small to hold a
 * header. segment_huge_pages() backs a live segment with 2 MiB pages
 * without touching its data, in this process and in an attached mapping.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "shm/counters.h"
#include "shm/layout.h"
#include "shm/segment.h"
#include "shm/torrents.h"

static const uint8_t key[SEGMENT_KEY_LEN] = { 9, 8, 7, 6, 5, 4, 3, 2, 1 };
static const struct segment_params params = { 5000, 10000, 2000 };

static void test_create_attach(void **state)
{
	struct segment *a, *b;
	struct segment_params p;
	struct torrents_announce an = { NULL, { { 192, 0, 2, 1 }, 6881, false }, 0, true, 10, 5 };
	struct torrents_result r;
	struct torrents_counts c;
	uint8_t ih[20] = { 1, 2, 3 }, out[60];
	char why[200];
	int fl;

	(void)state;
	assert_int_equal(segment_create(&params, key, &a), 0);
	assert_int_equal(segment_size(a), segment_size_for(&params));
	assert_true(segment_size(a) > 10000 * 8);
	fl = fcntl(segment_fd(a), F_GETFD);
	assert_true(fl & FD_CLOEXEC);
	segment_get_params(a, &p);
	assert_memory_equal(&p, &params, sizeof(p));
	assert_memory_equal(segment_connid_key(a), key, SEGMENT_KEY_LEN);

	an.info_hash = ih;
	assert_int_equal(torrents_announce(segment_torrents(a), &an, out, &r), 0);
	segment_counters(a, 3)->pid = 1234;

	assert_int_equal(segment_attach(segment_fd(a), &params, &b, why, sizeof(why)), 0);
	assert_int_not_equal(segment_fd(b), segment_fd(a));
	assert_true(fcntl(segment_fd(b), F_GETFD) & FD_CLOEXEC);
	assert_memory_equal(segment_connid_key(b), key, SEGMENT_KEY_LEN);
	torrents_scrape(segment_torrents(b), ih, 1, &c);
	assert_int_equal(c.seeders, 1);
	assert_int_equal(segment_counters(b, 3)->pid, 1234);
	/* Same stripe key: both handles agree where a hash lives. */
	assert_int_equal(torrents_stripe_of(segment_torrents(a), ih),
			 torrents_stripe_of(segment_torrents(b), ih));
	/* Without an expected capacity, any verified segment attaches. */
	segment_close(b);
	assert_int_equal(segment_attach(segment_fd(a), NULL, &b, why, sizeof(why)), 0);
	segment_close(b);
	segment_close(a);
}

static void test_counters_layout(void **state)
{
	struct segment *a;
	uint8_t *base, *end;
	unsigned i;

	(void)state;
	assert_int_equal(segment_create(&params, key, &a), 0);
	base = (uint8_t *)segment_counters(a, 0);
	end = base + SEGMENT_WORKER_SLOTS * sizeof(struct counters_block);
	for (i = 0; i < SEGMENT_WORKER_SLOTS; i++) {
		uint8_t *b = (uint8_t *)segment_counters(a, i);

		assert_int_equal((uintptr_t)b % COUNTERS_CACHELINE, 0);
		assert_true(b >= base && b + sizeof(struct counters_block) <= end);
		assert_int_equal(segment_counters(a, i)->pid, 0);
	}
	assert_null(segment_counters(a, SEGMENT_WORKER_SLOTS));
	counters_add(segment_counters(a, 7), COUNTERS_FAM_IPV6, COUNTERS_announce, 3);
	assert_int_equal(
		counters_read(segment_counters(a, 7), COUNTERS_FAM_IPV6, COUNTERS_announce), 3);
	segment_close(a);
}

/* Copy a's fd contents into a fresh memfd of size len, then patch it. */
static int clone_fd(struct segment *a, size_t len)
{
	int fd = memfd_create("test", MFD_CLOEXEC);
	uint8_t *src;
	ssize_t n;

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)len), 0);
	src = mmap(NULL, segment_size(a), PROT_READ, MAP_SHARED, segment_fd(a), 0);
	assert_true(src != MAP_FAILED);
	n = pwrite(fd, src, len < segment_size(a) ? len : segment_size(a), 0);
	assert_true(n > 0);
	munmap(src, segment_size(a));
	return fd;
}

static void expect_refusal(int fd, const struct segment_params *expect, const char *needle)
{
	struct segment *b = NULL;
	char why[200] = "";
	int rc;

	rc = segment_attach(fd, expect, &b, why, sizeof(why));
	assert_int_equal(rc, -EPROTO);
	if (!strstr(why, needle))
		fail_msg("reason '%s' lacks '%s'", why, needle);
	assert_null(b);
}

static void patch32(int fd, size_t off, uint32_t v)
{
	assert_int_equal(pwrite(fd, &v, sizeof(v), (off_t)off), (ssize_t)sizeof(v));
}

static void test_refusals(void **state)
{
	struct segment_params other = params;
	struct segment *a, *b;
	char why[200];
	uint64_t v64;
	int fd;

	(void)state;
	assert_int_equal(segment_create(&params, key, &a), 0);

	fd = clone_fd(a, segment_size(a));
	assert_int_equal(segment_attach(fd, &params, &b, why, sizeof(why)), 0); /* control */
	segment_close(b);
	v64 = 0x1122334455667788ULL;
	assert_int_equal(pwrite(fd, &v64, 8, offsetof(struct layout_hdr, magic)), 8);
	expect_refusal(fd, &params, "magic");
	close(fd);

	fd = clone_fd(a, segment_size(a));
	patch32(fd, offsetof(struct layout_hdr, version), LAYOUT_VERSION + 1);
	expect_refusal(fd, &params, "version");
	close(fd);

	fd = clone_fd(a, segment_size(a));
	patch32(fd, offsetof(struct layout_hdr, sizeof_trec), 64);
	expect_refusal(fd, &params, "sizes");
	close(fd);

	/* An fd shorter (or longer) than the header says. */
	fd = clone_fd(a, segment_size(a) - 4096);
	expect_refusal(fd, &params, "bytes");
	close(fd);
	fd = clone_fd(a, segment_size(a) + 4096);
	expect_refusal(fd, &params, "bytes");
	close(fd);

	/* Capacity edited in the header: the layout no longer matches it. */
	fd = clone_fd(a, segment_size(a));
	v64 = params.max_peers4 * 4;
	assert_int_equal(
		pwrite(fd, &v64, 8,
		       offsetof(struct layout_hdr, l) + offsetof(struct layout, max_peers4)),
		8);
	expect_refusal(fd, NULL, "layout");
	close(fd);

	/* A good segment, but not the configured capacity. */
	other.max_torrents++;
	expect_refusal(segment_fd(a), &other, "capacity");

	/* Too small to be a segment at all. */
	fd = memfd_create("tiny", MFD_CLOEXEC);
	assert_int_equal(ftruncate(fd, 100), 0);
	expect_refusal(fd, NULL, "too small");
	close(fd);
	segment_close(a);
}

static void test_sizes(void **state)
{
	struct segment_params big = { 10000000, 30000000, 0 }, huge = { 1ULL << 41, 0, 0 };
	struct layout l;

	(void)state;
	assert_int_equal(segment_size_for(&huge), 0);
	assert_int_equal(layout_compute(&big, &l), 0);
	assert_int_equal(l.nstripes, 4096);
	/* At capacity, the table costs under 64 bytes per torrent. */
	assert_true((double)(l.off_arena4 - l.off_stripes) / big.max_torrents < 64.0);
	/* A stripe holds its share with room for the hash's spread. */
	assert_true((uint64_t)l.stripe_cap * l.nstripes > big.max_torrents);
	assert_true(l.index_slots > l.stripe_cap);
	assert_true(l.stripe_cap < (1u << l.ibits));
	/* Tiny tables still get at least one stripe and a usable capacity. */
	big.max_torrents = 1;
	assert_int_equal(layout_compute(&big, &l), 0);
	assert_int_equal(l.nstripes, 1);
	assert_true(l.stripe_cap >= 1);
}

/* Bytes of segment memory this process maps with 2 MiB entries. */
static long pmd_mapped_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/smaps_rollup", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "ShmemPmdMapped: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static void test_huge_pages(void **state)
{
	const struct segment_params big = { 200000, 1000000, 100000 };
	struct torrents_announce an = { NULL, { { 192, 0, 2, 1 }, 6881, false }, 0, true, 10, 5 };
	struct segment_huge h;
	struct segment *a, *b;
	struct torrents_result r;
	struct torrents_counts c;
	uint8_t ih[20], out[60];
	char why[200];
	long before;
	int rc;

	(void)state;
	assert_int_equal(segment_create(&big, key, &a), 0);
	an.info_hash = ih;
	for (unsigned i = 0; i < 2000; i++) {
		memset(ih, 0, sizeof(ih));
		memcpy(ih, &i, sizeof(i));
		an.peer.port = (uint16_t)(1000 + i);
		assert_int_equal(torrents_announce(segment_torrents(a), &an, out, &r), 0);
	}
	before = pmd_mapped_kb();
	rc = segment_huge_pages(a, &h);
	if (rc == -EINVAL) {
		segment_close(a);
		skip(); /* a kernel before 6.1, or transparent huge pages denied */
	}
	assert_int_equal(rc, 0);
	assert_int_equal(h.err, 0);
	assert_int_equal(h.chunks, segment_size(a) / SEGMENT_HUGE_PAGE);
	assert_true(h.chunks >= 4);
	assert_int_equal(h.huge, h.chunks);
	/* Mapped by 2 MiB entries here, which needs the 2 MiB-aligned mapping. */
	assert_true(pmd_mapped_kb() >= before + (long)(h.huge * SEGMENT_HUGE_PAGE >> 10));

	/* The data is as it was, seen through this mapping and a new one. */
	assert_int_equal(segment_attach(segment_fd(a), &big, &b, why, sizeof(why)), 0);
	for (unsigned i = 0; i < 2000; i += 97) {
		memset(ih, 0, sizeof(ih));
		memcpy(ih, &i, sizeof(i));
		torrents_scrape(segment_torrents(a), ih, 1, &c);
		assert_int_equal(c.seeders, 1);
		torrents_scrape(segment_torrents(b), ih, 1, &c);
		assert_int_equal(c.seeders, 1);
	}
	assert_int_equal(torrents_check(segment_torrents(b), why, sizeof(why)), 0);
	/* Again on a segment that is huge already: nothing left to do, nothing lost. */
	assert_int_equal(segment_huge_pages(b, &h), 0);
	assert_int_equal(h.huge, h.chunks);
	segment_close(b);
	segment_close(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_attach), cmocka_unit_test(test_counters_layout),
		cmocka_unit_test(test_refusals),      cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_huge_pages),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
