/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/test_ctrl.c - the control process's periodic work.
 *
 * Includes daemon/ctrl.c to drive its static helpers with a chosen clock
 * on a real segment: cleaning is spread over the interval one stripe at a
 * time and removes expired peers, and folded totals never go backwards
 * while the supervisor retires a reused counter slot.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "daemon/ctrl.c"

struct fixture {
	struct conf conf;
	struct ctrl_params p;
	struct segment *seg;
	struct ctrl c;
};

static int setup(void **state)
{
	static const uint8_t key[SEGMENT_KEY_LEN] = { 1, 2, 3 };
	struct segment_params sp = { 1000, 1000, 1000 };
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	conf_defaults(&f->conf);
	f->conf.cleaning_interval = 120;
	f->conf.peer_max_age = 60;
	assert_int_equal(segment_create(&sp, key, &f->seg), 0);
	f->p.conf = &f->conf;
	f->p.seg = f->seg;
	f->p.control_fd = -1;
	ctrl_setup(&f->c, &f->p, 1000000);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	segment_close(f->seg);
	free(f);
	return 0;
}

static void test_cleaning_is_staggered(void **state)
{
	struct fixture *f = *state;
	struct ctrl *c = &f->c;
	uint64_t t0 = c->pass_start, interval = 120000, next;
	unsigned s = c->nstripes;

	assert_true(s >= 2);
	/* At the start only the first stripe is due. */
	next = clean_due(c, t0);
	assert_int_equal(c->next_stripe, 1);
	assert_int_equal(next, t0 + interval / s);
	assert_int_equal(clean_due(c, t0), next); /* nothing more until then */
	assert_int_equal(c->next_stripe, 1);
	/* Half-way through the interval, half of the stripes. */
	clean_due(c, t0 + interval / 2);
	assert_int_equal(c->next_stripe, s / 2 + 1);
	/* The pass ends with the interval, and the next one starts after it. */
	next = clean_due(c, t0 + interval - 1);
	assert_int_equal(c->next_stripe, s);
	assert_int_equal(next, t0 + interval);
	assert_int_equal(c->passes, 0);
	clean_due(c, t0 + interval);
	assert_int_equal(c->passes, 1);
	assert_int_equal(c->next_stripe, 1);
	assert_int_equal(c->pass_start, t0 + interval);
	/* Stalled mid-pass: the pass goes on at its pace, no burst of stripes. */
	clean_due(c, t0 + 10 * interval);
	assert_int_equal(c->next_stripe, 2);
	assert_int_equal(c->pass_start, t0 + 10 * interval - interval / s);
	assert_int_equal(c->passes, 1);
	/* Stalled between passes: the next pass starts now, missed ones are skipped. */
	clean_due(c, c->pass_start + interval - 1);
	assert_int_equal(c->next_stripe, s);
	clean_due(c, t0 + 100 * interval);
	assert_int_equal(c->pass_start, t0 + 100 * interval);
	assert_int_equal(c->next_stripe, 1);
	assert_int_equal(c->passes, 2);
	assert_int_equal(c->clean_errors, 0);
}

/*
 * A pass stalled on its last stripes, with the clock already past the
 * interval (short interval, late timers): every call must clean at least
 * one stripe, so the pass completes. Rounding the stalled pass's start down
 * once left the next stripe never due, and the pass never ended.
 */
static void test_stalled_pass_always_makes_progress(void **state)
{
	struct fixture *f = *state;
	struct ctrl *c = &f->c;
	uint64_t now, late;
	unsigned k, i;

	f->conf.cleaning_interval = 1;
	late = 2 * 1000 / c->nstripes + 1; /* each wake-up later than a stripe's share */
	for (k = 1; k < c->nstripes; k++) {
		c->next_stripe = k;
		now = c->pass_start + 1000 + 5; /* past the whole interval */
		for (i = 0; i < 3 && c->next_stripe == k; i++, now += late)
			clean_due(c, now);
		assert_true(c->next_stripe > k);
		c->pass_start = now; /* a fresh state for the next k */
	}
	assert_int_equal(c->clean_errors, 0);
}

static void announce(struct ctrl *c, uint8_t h, uint16_t port, uint32_t now)
{
	uint8_t hash[TORRENTS_HASH_LEN] = { h };
	uint8_t out[64];
	struct torrents_announce a = { .info_hash = hash, .event = TORRENTS_EVENT_STARTED };
	struct torrents_result r;

	a.peer.addr[0] = 127;
	a.peer.addr[3] = 1;
	a.peer.port = port;
	a.seeding = true;
	a.now = now;
	assert_int_equal(torrents_announce(c->table, &a, out, &r), 0);
	assert_int_equal(r.refused, TORRENTS_STORED);
}

static void test_a_pass_removes_expired_peers(void **state)
{
	struct fixture *f = *state;
	struct ctrl *c = &f->c;
	uint8_t hash[TORRENTS_HASH_LEN] = { 7 };
	struct torrents_counts n;
	uint32_t now = boottime_s();

	/* Cleaning reads CLOCK_BOOTTIME; one peer is 1000 s old, one fresh. */
	announce(c, 7, 6881, now > 1000 ? now - 1000 : 0);
	announce(c, 7, 6882, now);
	torrents_scrape(c->table, hash, 1, &n);
	assert_int_equal(n.seeders, 2);
	clean_due(c, c->pass_start + 120000 - 1); /* one whole pass */
	assert_int_equal(c->next_stripe, c->nstripes);
	torrents_scrape(c->table, hash, 1, &n);
	if (now > 1000) {
		assert_int_equal(n.seeders, 1);
		assert_int_equal(c->cleaned.peers4_removed, 1);
	}
}

static void test_totals_survive_slot_retirement(void **state)
{
	struct fixture *f = *state;
	struct ctrl *c = &f->c;
	struct counters_block *b = segment_counters(f->seg, 2);
	struct counters_block *r = segment_counters(f->seg, CTRL_RETIRED_SLOT);
	unsigned i;

	for (i = 0; i < 3; i++) {
		counters_add(b, COUNTERS_FAM_IPV4, COUNTERS_announce, 10);
		counters_add(b, COUNTERS_FAM_IPV6, COUNTERS_announce, 5);
		fold_tick(c, 1000000 + 1000 * i);
	}
	assert_int_equal(c->total[COUNTERS_FAM_IPV4][COUNTERS_announce], 30);
	assert_int_equal(c->total[COUNTERS_FAM_IPV6][COUNTERS_announce], 15);
	/* 15 a second, both families, over the last second and over the history. */
	assert_true(rate(c, COUNTERS_announce, 1) == 15.0);
	assert_true(rate(c, COUNTERS_announce, 10) == 15.0);
	/* A command folding in between does not count as a second. */
	fold(c);
	assert_true(rate(c, COUNTERS_announce, 1) == 15.0);

	/* The supervisor reuses slot 2: zeroed first, then moved to the retired block. */
	__atomic_store_n(&b->v[COUNTERS_FAM_IPV4][COUNTERS_announce], 0, __ATOMIC_RELAXED);
	fold(c);
	assert_int_equal(c->total[COUNTERS_FAM_IPV4][COUNTERS_announce], 30);
	counters_add(r, COUNTERS_FAM_IPV4, COUNTERS_announce, 30);
	fold(c);
	assert_int_equal(c->total[COUNTERS_FAM_IPV4][COUNTERS_announce], 30);
	/* The new worker in slot 2 counts on top. */
	counters_add(b, COUNTERS_FAM_IPV4, COUNTERS_announce, 4);
	fold(c);
	assert_int_equal(c->total[COUNTERS_FAM_IPV4][COUNTERS_announce], 34);
	assert_int_equal(c->total[COUNTERS_FAM_IPV4][COUNTERS_connect], 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_cleaning_is_staggered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stalled_pass_always_makes_progress, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_a_pass_removes_expired_peers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_totals_survive_slot_retirement, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
