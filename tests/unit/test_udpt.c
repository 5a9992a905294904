/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/test_udpt.c - BEP 15 codec: every parse rule, every input length
 * 0..255 per action, BEP 41 options, numwant and MTU caps, and the reply
 * writers decoded back byte by byte at their documented offsets.
 *
 * Requests are built here with independent big-endian stores at the offsets
 * of BEP 15, so the test does not share layout code with the codec.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/udpt.h"

#define MAGIC 0x41727101980ULL
#define TXID 0xdeadbeefu
#define CONNID 0x0123456789abcdefULL

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

static void put_header(uint8_t *buf, uint64_t connid, uint32_t action, uint32_t txid)
{
	put64(buf, connid);
	put32(buf + 8, action);
	put32(buf + 12, txid);
}

/* A complete 98-byte announce with distinct values in every field. */
static void put_announce(uint8_t *buf, uint32_t event, uint16_t port)
{
	put_header(buf, CONNID, 1, TXID);
	for (int i = 0; i < 20; i++) {
		buf[16 + i] = (uint8_t)(0xa0 + i); /* info_hash */
		buf[36 + i] = (uint8_t)(0x40 + i); /* peer_id */
	}
	put64(buf + 56, 0x1111111122222222ULL); /* downloaded */
	put64(buf + 64, 0x3333333344444444ULL); /* left */
	put64(buf + 72, 0x5555555566666666ULL); /* uploaded */
	put32(buf + 80, event);
	put32(buf + 84, 0x0a000001); /* ip 10.0.0.1, ignored */
	put32(buf + 88, 0xcafef00d); /* key */
	put32(buf + 92, (uint32_t)-1); /* numwant */
	buf[96] = (uint8_t)(port >> 8);
	buf[97] = (uint8_t)port;
}

static void put_scrape(uint8_t *buf, size_t len)
{
	memset(buf, 0, len);
	put_header(buf, CONNID, 2, TXID);
	for (size_t i = 16; i < len; i++)
		buf[i] = (uint8_t)((i - 16) / 20 + 1); /* hash k is filled with k+1 */
}

/* --- generic ------------------------------------------------------------- */

static void test_short_datagrams_dropped(void **state)
{
	uint8_t buf[16];
	struct udpt_request req;

	(void)state;
	memset(buf, 0xff, sizeof(buf));
	for (size_t len = 0; len < 16; len++) {
		memset(&req, 0x5a, sizeof(req));
		assert_int_equal(udpt_parse(buf, len, 74, &req), UDPT_DROP_SHORT);
		/* Always written: zeroed for short datagrams. */
		assert_int_equal(req.action, 0);
		assert_int_equal(req.txid, 0);
	}
	assert_int_equal(udpt_parse(NULL, 0, 74, &req), UDPT_DROP_SHORT);
}

static void test_status_names_and_messages(void **state)
{
	static const char *const names[] = { "ok",	 "short",	   "action",
					     "magic",	 "announce_short", "port_zero",
					     "no_hashes" };

	(void)state;
	assert_int_equal(sizeof(names) / sizeof(names[0]), UDPT_STATUS__MAX);
	for (int st = 0; st < UDPT_STATUS__MAX; st++)
		assert_string_equal(udpt_status_name(st), names[st]);
	assert_null(udpt_status_name(UDPT_STATUS__MAX));
	assert_null(udpt_status_name((enum udpt_status) - 1));

	assert_false(udpt_status_is_drop(UDPT_OK));
	assert_true(udpt_status_is_drop(UDPT_DROP_SHORT));
	assert_true(udpt_status_is_drop(UDPT_DROP_ACTION));
	assert_true(udpt_status_is_drop(UDPT_DROP_MAGIC));
	assert_true(udpt_status_is_drop(UDPT_DROP_ANNOUNCE_SHORT));
	assert_false(udpt_status_is_drop(UDPT_ERR_PORT_ZERO));
	assert_false(udpt_status_is_drop(UDPT_ERR_NO_HASHES));

	assert_string_equal(udpt_status_message(UDPT_ERR_PORT_ZERO), "port 0 is not allowed");
	assert_string_equal(udpt_status_message(UDPT_ERR_NO_HASHES),
			    "scrape needs at least one info-hash");
	for (int st = 0; st < UDPT_STATUS__MAX; st++) {
		const char *m = udpt_status_message(st);

		if (st == UDPT_ERR_PORT_ZERO || st == UDPT_ERR_NO_HASHES) {
			assert_non_null(m);
			/* Sent whole, never truncated. */
			assert_true(strlen(m) <= UDPT_ERROR_MSG_MAX);
		} else {
			assert_null(m);
		}
	}
}

/* --- connect ------------------------------------------------------------- */

static void test_connect_roundtrip(void **state)
{
	uint8_t buf[16];
	struct udpt_request req;

	(void)state;
	put_header(buf, MAGIC, 0, TXID);
	assert_int_equal(udpt_parse(buf, sizeof(buf), 74, &req), UDPT_OK);
	assert_int_equal(req.action, UDPT_ACTION_CONNECT);
	assert_int_equal(req.txid, TXID);
	assert_true(req.connection_id == MAGIC);
}

static void test_connect_bad_magic(void **state)
{
	uint8_t buf[16];
	struct udpt_request req;

	(void)state;
	for (int bit = 0; bit < 64; bit++) {
		put_header(buf, MAGIC ^ (1ULL << bit), 0, TXID);
		assert_int_equal(udpt_parse(buf, sizeof(buf), 74, &req), UDPT_DROP_MAGIC);
		assert_int_equal(req.txid, TXID);
	}
	put_header(buf, 0, 0, TXID);
	assert_int_equal(udpt_parse(buf, sizeof(buf), 74, &req), UDPT_DROP_MAGIC);
}

static void test_connect_every_length(void **state)
{
	uint8_t buf[255];
	struct udpt_request req;

	(void)state;
	memset(buf, 0xee, sizeof(buf));
	put_header(buf, MAGIC, 0, TXID);
	for (size_t len = 0; len <= 255; len++) {
		enum udpt_status want = len < 16 ? UDPT_DROP_SHORT : UDPT_OK;

		assert_int_equal(udpt_parse(buf, len, 74, &req), want);
		if (want == UDPT_OK) {
			assert_int_equal(req.action, 0);
			assert_int_equal(req.txid, TXID);
		}
	}
}

/* --- announce ------------------------------------------------------------ */

static void test_announce_roundtrip(void **state)
{
	uint8_t buf[98];
	struct udpt_request req;
	struct udpt_announce *a = &req.announce;

	(void)state;
	put_announce(buf, 2, 6881);
	assert_int_equal(udpt_parse(buf, sizeof(buf), 74, &req), UDPT_OK);
	assert_true(req.connection_id == CONNID);
	assert_int_equal(req.action, UDPT_ACTION_ANNOUNCE);
	assert_int_equal(req.txid, TXID);
	assert_ptr_equal(a->info_hash, buf + 16);
	assert_ptr_equal(a->peer_id, buf + 36);
	assert_int_equal(a->info_hash[0], 0xa0);
	assert_int_equal(a->info_hash[19], 0xa0 + 19);
	assert_int_equal(a->peer_id[0], 0x40);
	assert_true(a->downloaded == 0x1111111122222222ULL);
	assert_true(a->left == 0x3333333344444444ULL);
	assert_true(a->uploaded == 0x5555555566666666ULL);
	assert_int_equal(a->event, UDPT_EVENT_STARTED);
	assert_int_equal(a->key, 0xcafef00d);
	assert_int_equal(a->numwant, -1);
	assert_int_equal(a->port, 6881);
	assert_null(a->urldata.data);
	assert_int_equal(a->urldata.len, 0);
	assert_int_equal(a->urldata.parts, 0);
}

static void test_announce_ip_field_ignored(void **state)
{
	uint8_t b1[98], b2[98];
	struct udpt_request r1, r2;

	(void)state;
	put_announce(b1, 0, 1234);
	put_announce(b2, 0, 1234);
	put32(b2 + 84, 0xc0a80001);
	assert_int_equal(udpt_parse(b1, 98, 74, &r1), UDPT_OK);
	assert_int_equal(udpt_parse(b2, 98, 74, &r2), UDPT_OK);
	/* Same fields apart from the pointers into the two buffers. */
	r2.announce.info_hash = r1.announce.info_hash;
	r2.announce.peer_id = r1.announce.peer_id;
	assert_memory_equal(&r1, &r2, sizeof(r1));
}

static void test_announce_events(void **state)
{
	static const struct {
		uint32_t wire;
		uint32_t want;
	} cases[] = {
		{ 0, UDPT_EVENT_NONE },		  { 1, UDPT_EVENT_COMPLETED },
		{ 2, UDPT_EVENT_STARTED },	  { 3, UDPT_EVENT_STOPPED },
		{ 4, UDPT_EVENT_NONE },		  { 0x100, UDPT_EVENT_NONE },
		{ 0x80000000u, UDPT_EVENT_NONE }, { 0xffffffffu, UDPT_EVENT_NONE },
	};
	uint8_t buf[98];
	struct udpt_request req;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		put_announce(buf, cases[i].wire, 6881);
		assert_int_equal(udpt_parse(buf, sizeof(buf), 74, &req), UDPT_OK);
		assert_int_equal(req.announce.event, cases[i].want);
	}
}

static void test_announce_numwant_as_sent(void **state)
{
	static const int32_t values[] = { INT32_MIN, -1, 0, 1, 50, INT32_MAX };
	uint8_t buf[98];
	struct udpt_request req;

	(void)state;
	put_announce(buf, 0, 6881);
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		put32(buf + 92, (uint32_t)values[i]);
		assert_int_equal(udpt_parse(buf, sizeof(buf), 74, &req), UDPT_OK);
		assert_int_equal(req.announce.numwant, values[i]);
	}
}

static void test_announce_port_zero(void **state)
{
	uint8_t buf[98];
	struct udpt_request req;

	(void)state;
	put_announce(buf, 2, 0);
	assert_int_equal(udpt_parse(buf, sizeof(buf), 74, &req), UDPT_ERR_PORT_ZERO);
	/* Filled so the caller can verify the id and answer. */
	assert_true(req.connection_id == CONNID);
	assert_int_equal(req.txid, TXID);
	assert_int_equal(req.action, UDPT_ACTION_ANNOUNCE);
	assert_ptr_equal(req.announce.info_hash, buf + 16);
	assert_int_equal(req.announce.event, UDPT_EVENT_STARTED);

	/* Ports 1 and 65535 are fine. */
	put_announce(buf, 0, 1);
	assert_int_equal(udpt_parse(buf, sizeof(buf), 74, &req), UDPT_OK);
	assert_int_equal(req.announce.port, 1);
	put_announce(buf, 0, 65535);
	assert_int_equal(udpt_parse(buf, sizeof(buf), 74, &req), UDPT_OK);
	assert_int_equal(req.announce.port, 65535);
}

static void test_announce_every_length(void **state)
{
	uint8_t zeros[255], junk[255];
	struct udpt_request req;

	(void)state;
	/* Trailing zero bytes (EndOfOptions) and trailing 0xff junk. */
	memset(zeros, 0, sizeof(zeros));
	memset(junk, 0xff, sizeof(junk));
	put_announce(zeros, 1, 6881);
	put_announce(junk, 1, 6881);
	for (size_t len = 0; len <= 255; len++) {
		enum udpt_status want = len < 16 ? UDPT_DROP_SHORT :
					len < 98 ? UDPT_DROP_ANNOUNCE_SHORT :
						   UDPT_OK;

		assert_int_equal(udpt_parse(zeros, len, 74, &req), want);
		if (want == UDPT_OK) {
			assert_int_equal(req.announce.port, 6881);
			assert_null(req.announce.urldata.data);
		}
		if (len >= 16)
			assert_int_equal(req.txid, TXID);
		assert_int_equal(udpt_parse(junk, len, 74, &req), want);
		if (want == UDPT_OK) {
			assert_int_equal(req.announce.event, UDPT_EVENT_COMPLETED);
			/* 0xff is a type with a length byte running past the end. */
			assert_null(req.announce.urldata.data);
		}
	}
}

/* --- BEP 41 -------------------------------------------------------------- */

static enum udpt_status parse_with_options(uint8_t *buf, const void *opts, size_t n,
					   struct udpt_request *req)
{
	put_announce(buf, 0, 6881);
	memcpy(buf + 98, opts, n);
	return udpt_parse(buf, 98 + n, 74, req);
}

static void test_bep41_100_and_101_bytes(void **state)
{
	uint8_t buf[300];
	struct udpt_request req;
	struct udpt_urldata *u = &req.announce.urldata;

	(void)state;
	/* 98 + 2 + 0: an empty URL-data option. */
	assert_int_equal(parse_with_options(buf, "\x02\x00", 2, &req), UDPT_OK);
	assert_ptr_equal(u->data, buf + 100);
	assert_int_equal(u->len, 0);
	assert_int_equal(u->parts, 1);

	/* 98 + 2 + 1. */
	assert_int_equal(parse_with_options(buf, "\x02\x01/", 3, &req), UDPT_OK);
	assert_ptr_equal(u->data, buf + 100);
	assert_int_equal(u->len, 1);
	assert_int_equal(u->parts, 1);
	assert_int_equal(u->data[0], '/');
	assert_int_equal(req.announce.port, 6881);
}

static void test_bep41_typical_path(void **state)
{
	static const char path[] = "/announce?passkey=0123456789abcdef";
	uint8_t buf[300], opts[64], out[64];
	struct udpt_request req;
	struct udpt_urldata *u = &req.announce.urldata;
	size_t n = strlen(path);

	(void)state;
	opts[0] = 2;
	opts[1] = (uint8_t)n;
	memcpy(opts + 2, path, n);
	assert_int_equal(parse_with_options(buf, opts, n + 2, &req), UDPT_OK);
	assert_int_equal(u->len, n);
	assert_int_equal(u->parts, 1);
	assert_memory_equal(u->data, path, n);
	assert_int_equal(udpt_urldata_copy(u, out, sizeof(out)), n);
	assert_memory_equal(out, path, n);
	/* No partial copies. */
	assert_int_equal(udpt_urldata_copy(u, out, n - 1), 0);
	assert_int_equal(udpt_urldata_copy(u, out, n), n);
}

static void test_bep41_concatenation(void **state)
{
	/* NOP, "/ann", NOP, NOP, unknown type 7 (skipped), "ounce", END, junk. */
	static const uint8_t opts[] = { 1,   2, 4, '/', 'a', 'n', 'n', 1,   1, 7,    2,	   'x',
					'y', 2, 5, 'o', 'u', 'n', 'c', 'e', 0, 0xff, 0x02, 0x77 };
	uint8_t buf[300], out[16];
	struct udpt_request req;
	struct udpt_urldata *u = &req.announce.urldata;

	(void)state;
	assert_int_equal(parse_with_options(buf, opts, sizeof(opts), &req), UDPT_OK);
	assert_int_equal(u->parts, 2);
	assert_int_equal(u->len, 9);
	assert_ptr_equal(u->data, buf + 98 + 3);
	memset(out, 0, sizeof(out));
	assert_int_equal(udpt_urldata_copy(u, out, sizeof(out)), 9);
	assert_memory_equal(out, "/announce", 9);
	assert_int_equal(udpt_urldata_copy(u, out, 8), 0);
	assert_int_equal(udpt_urldata_copy(u, out, 9), 9);
}

static void test_bep41_long_url_in_many_parts(void **state)
{
	/* 600 bytes of URL data as 255 + 255 + 90, as a client splits it. */
	uint8_t buf[1500], opts[700], out[700], want[600];
	struct udpt_request req;
	struct udpt_urldata *u = &req.announce.urldata;
	size_t n = 0, done = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(want); i++)
		want[i] = (uint8_t)('a' + i % 26);
	while (done < sizeof(want)) {
		size_t part = sizeof(want) - done > 255 ? 255 : sizeof(want) - done;

		opts[n++] = 2;
		opts[n++] = (uint8_t)part;
		memcpy(opts + n, want + done, part);
		n += part;
		done += part;
	}
	assert_int_equal(parse_with_options(buf, opts, n, &req), UDPT_OK);
	assert_int_equal(u->parts, 3);
	assert_int_equal(u->len, 600);
	assert_int_equal(udpt_urldata_copy(u, out, sizeof(out)), 600);
	assert_memory_equal(out, want, 600);
}

static void test_bep41_malformed_still_ok(void **state)
{
	static const struct {
		const char *opts;
		size_t n;
	} bad[] = {
		{ "\x02", 1 }, /* no length byte */
		{ "\x02\x0a"
		  "abc",
		  5 }, /* payload runs past the end */
		{ "\x02\x01"
		  "a"
		  "\x02",
		  4 }, /* good option, then truncated */
		{ "\x02\x01"
		  "a"
		  "\x09\x05x",
		  6 }, /* truncated unknown option */
		{ "\x01\x01\x01", 3 }, /* NOPs only: no URL data */
		{ "\x00\x02\x01"
		  "a",
		  4 }, /* URL data after EndOfOptions */
		{ "\xff", 1 }, /* lone unknown type */
	};
	uint8_t buf[300];
	struct udpt_request req;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse_with_options(buf, bad[i].opts, bad[i].n, &req), UDPT_OK);
		assert_null(req.announce.urldata.data);
		assert_int_equal(req.announce.urldata.len, 0);
		assert_int_equal(req.announce.urldata.parts, 0);
		assert_int_equal(req.announce.port, 6881);
	}
	/* The same option is fine when followed by EndOfOptions and junk. */
	assert_int_equal(parse_with_options(buf,
					    "\x02\x01"
					    "a"
					    "\x00\x02\x0a",
					    6, &req),
			 UDPT_OK);
	assert_int_equal(req.announce.urldata.len, 1);
	assert_int_equal(req.announce.urldata.data[0], 'a');
}

static void test_urldata_copy_absent(void **state)
{
	struct udpt_urldata u = { 0 };
	uint8_t out[4] = { 9, 9, 9, 9 };

	(void)state;
	assert_int_equal(udpt_urldata_copy(&u, out, sizeof(out)), 0);
	assert_int_equal(out[0], 9);
}

/* --- scrape -------------------------------------------------------------- */

static void test_scrape_every_length(void **state)
{
	static const unsigned maxes[] = { 74, 3, 1 };
	uint8_t buf[255];
	struct udpt_request req;

	(void)state;
	put_scrape(buf, sizeof(buf));
	for (size_t m = 0; m < sizeof(maxes) / sizeof(maxes[0]); m++) {
		for (size_t len = 0; len <= 255; len++) {
			enum udpt_status want = len < 16 ? UDPT_DROP_SHORT :
						len < 36 ? UDPT_ERR_NO_HASHES :
							   UDPT_OK;
			size_t count = len >= 16 ? (len - 16) / 20 : 0;

			if (count > maxes[m])
				count = maxes[m];
			assert_int_equal(udpt_parse(buf, len, maxes[m], &req), want);
			if (len >= 16) {
				assert_int_equal(req.action, UDPT_ACTION_SCRAPE);
				assert_int_equal(req.txid, TXID);
				assert_true(req.connection_id == CONNID);
			}
			if (want == UDPT_OK) {
				assert_int_equal(req.scrape.count, count);
				assert_ptr_equal(req.scrape.hashes, buf + 16);
				/* Hashes in request order. */
				assert_int_equal(req.scrape.hashes[20 * (count - 1)], count);
			} else if (want == UDPT_ERR_NO_HASHES) {
				assert_int_equal(req.scrape.count, 0);
				assert_null(req.scrape.hashes);
			}
		}
	}
}

static void test_scrape_limits(void **state)
{
	uint8_t buf[16 + 80 * 20 + 7];
	struct udpt_request req;

	(void)state;
	put_scrape(buf, sizeof(buf));
	/* 74 hashes in 1496 bytes, the most a 1500-byte datagram carries. */
	assert_int_equal(udpt_parse(buf, 16 + 74 * 20, 74, &req), UDPT_OK);
	assert_int_equal(req.scrape.count, 74);
	/* More than the cap: the rest ignored, trailing partial hash too. */
	assert_int_equal(udpt_parse(buf, sizeof(buf), 74, &req), UDPT_OK);
	assert_int_equal(req.scrape.count, 74);
	assert_int_equal(udpt_parse(buf, 16 + 10 * 20 + 19, 74, &req), UDPT_OK);
	assert_int_equal(req.scrape.count, 10);
	/* scrape_max is clamped to 1..UDPT_SCRAPE_MAX_LIMIT. */
	assert_int_equal(udpt_parse(buf, sizeof(buf), 0, &req), UDPT_OK);
	assert_int_equal(req.scrape.count, 1);
	assert_int_equal(udpt_parse(buf, sizeof(buf), 1000, &req), UDPT_OK);
	assert_int_equal(req.scrape.count, UDPT_SCRAPE_MAX_LIMIT);
	assert_int_equal(udpt_parse(buf, sizeof(buf), UINT_MAX, &req), UDPT_OK);
	assert_int_equal(req.scrape.count, UDPT_SCRAPE_MAX_LIMIT);
	assert_int_equal(udpt_parse(buf, sizeof(buf), 20, &req), UDPT_OK);
	assert_int_equal(req.scrape.count, 20);
}

/* --- unknown actions ----------------------------------------------------- */

static void test_unknown_actions_every_length(void **state)
{
	static const uint32_t actions[] = { 3, 4, 5, 0x100, 0x01000000, 0xffffffffu };
	uint8_t buf[255];
	struct udpt_request req;

	(void)state;
	for (size_t a = 0; a < sizeof(actions) / sizeof(actions[0]); a++) {
		/* Make everything else look like a valid connect/announce. */
		memset(buf, 0, sizeof(buf));
		put_announce(buf, 0, 6881);
		put_header(buf, MAGIC, actions[a], TXID);
		for (size_t len = 0; len <= 255; len++) {
			enum udpt_status want = len < 16 ? UDPT_DROP_SHORT : UDPT_DROP_ACTION;

			assert_int_equal(udpt_parse(buf, len, 74, &req), want);
			if (len >= 16) {
				assert_int_equal(req.action, actions[a]);
				assert_int_equal(req.txid, TXID);
			}
		}
	}
}

/* --- numwant and MTU caps ------------------------------------------------ */

static void test_numwant(void **state)
{
	static const struct {
		int32_t numwant;
		unsigned def, max;
		unsigned want4, want6;
	} cases[] = {
		/* numwant_default 50, numwant_max 100 */
		{ -1, 50, 100, 50, 50 },
		{ 0, 50, 100, 50, 50 },
		{ 1, 50, 100, 1, 1 },
		{ 50, 50, 100, 50, 50 },
		{ 80, 50, 100, 80, 79 },
		{ 200, 50, 100, 100, 79 },
		{ INT32_MAX, 50, 100, 100, 79 },
		{ INT32_MIN, 50, 100, 50, 50 },
		/* numwant_max above the family caps */
		{ -1, 50, 1000, 50, 50 },
		{ 0, 50, 1000, 50, 50 },
		{ 1, 50, 1000, 1, 1 },
		{ 50, 50, 1000, 50, 50 },
		{ 80, 50, 1000, 80, 79 },
		{ 200, 50, 1000, 200, 79 },
		{ INT32_MAX, 50, 1000, 242, 79 },
		/* the default itself is capped */
		{ 0, 300, 1000, 242, 79 },
		{ -1, 300, 120, 120, 79 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(udpt_numwant(cases[i].numwant, cases[i].def, cases[i].max, false),
				 cases[i].want4);
		assert_int_equal(udpt_numwant(cases[i].numwant, cases[i].def, cases[i].max, true),
				 cases[i].want6);
	}
}

static void test_mtu_caps(void **state)
{
	unsigned n4 = udpt_numwant(INT32_MAX, 50, UINT_MAX, false);
	unsigned n6 = udpt_numwant(INT32_MAX, 50, UINT_MAX, true);

	(void)state;
	assert_int_equal(n4, 242);
	assert_int_equal(n6, 79);
	assert_int_equal(UDPT_PEERS_MAX4, 242);
	assert_int_equal(UDPT_PEERS_MAX6, 79);
	assert_true(20 + 6 * n4 <= 1472);
	assert_true(20 + 6 * (n4 + 1) > 1472);
	assert_true(20 + 18 * n6 <= 1452);
	assert_true(20 + 18 * (n6 + 1) > 1452);
	assert_int_equal(udpt_announce_reply_len(n4, false), 20 + 6 * n4);
	assert_int_equal(udpt_announce_reply_len(n6, true), 20 + 18 * n6);
	assert_true(udpt_announce_reply_len(n4, false) <= UDPT_REPLY_MAX4);
	assert_true(udpt_announce_reply_len(n6, true) <= UDPT_REPLY_MAX6);
	assert_int_equal(udpt_announce_reply_len(0, false), 20);
	assert_int_equal(udpt_announce_reply_len(0, true), 20);
	/* The largest scrape reply fits the smaller IPv6 payload too. */
	assert_true(udpt_scrape_reply_len(UDPT_SCRAPE_MAX_LIMIT) <= UDPT_REPLY_MAX6);
}

/* --- writers ------------------------------------------------------------- */

static bool all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

static void test_write_connect(void **state)
{
	uint8_t out[32];

	(void)state;
	memset(out, 0xaa, sizeof(out));
	assert_int_equal(udpt_write_connect(out, sizeof(out), TXID, CONNID), 16);
	assert_int_equal(get32(out), 0);
	assert_int_equal(get32(out + 4), TXID);
	assert_true(get64(out + 8) == CONNID);
	assert_true(all_bytes(out + 16, 16, 0xaa));

	memset(out, 0xaa, sizeof(out));
	assert_int_equal(udpt_write_connect(out, 15, TXID, CONNID), 0);
	assert_int_equal(udpt_write_connect(out, 0, TXID, CONNID), 0);
	assert_true(all_bytes(out, sizeof(out), 0xaa));
	assert_int_equal(udpt_write_connect(out, 16, TXID, CONNID), 16);
}

static void test_write_announce_header(void **state)
{
	uint8_t out[32];

	(void)state;
	memset(out, 0xaa, sizeof(out));
	assert_int_equal(udpt_write_announce_header(out, sizeof(out), TXID, 1800, 7, 9), 20);
	assert_int_equal(get32(out), 1);
	assert_int_equal(get32(out + 4), TXID);
	assert_int_equal(get32(out + 8), 1800);
	assert_int_equal(get32(out + 12), 7); /* leechers */
	assert_int_equal(get32(out + 16), 9); /* seeders */
	assert_true(all_bytes(out + 20, 12, 0xaa));

	memset(out, 0xaa, sizeof(out));
	assert_int_equal(udpt_write_announce_header(out, 19, TXID, 1800, 7, 9), 0);
	assert_true(all_bytes(out, sizeof(out), 0xaa));
	assert_int_equal(udpt_write_announce_header(out, 20, TXID, 1800, 7, 9), 20);
}

static void test_write_scrape(void **state)
{
	uint8_t out[UDPT_REPLY_MAX];
	size_t len;

	(void)state;
	memset(out, 0xaa, sizeof(out));
	len = udpt_write_scrape_header(out, sizeof(out), TXID);
	assert_int_equal(len, 8);
	for (unsigned i = 0; i < UDPT_SCRAPE_MAX_LIMIT; i++)
		len += udpt_write_scrape_entry(out, sizeof(out), i, 1000 + i, 2000 + i, 3000 + i);
	assert_int_equal(len, udpt_scrape_reply_len(UDPT_SCRAPE_MAX_LIMIT));
	assert_int_equal(len, 8 + 12 * 74);
	assert_int_equal(get32(out), 2);
	assert_int_equal(get32(out + 4), TXID);
	for (unsigned i = 0; i < UDPT_SCRAPE_MAX_LIMIT; i++) {
		const uint8_t *e = out + 8 + 12 * i;

		assert_int_equal(get32(e), 1000 + i); /* seeders */
		assert_int_equal(get32(e + 4), 2000 + i); /* completed */
		assert_int_equal(get32(e + 8), 3000 + i); /* leechers */
	}
	assert_true(all_bytes(out + len, sizeof(out) - len, 0xaa));

	/* Refusals leave the buffer untouched. */
	memset(out, 0xaa, sizeof(out));
	assert_int_equal(udpt_write_scrape_header(out, 7, TXID), 0);
	assert_int_equal(udpt_write_scrape_entry(out, 19, 0, 1, 2, 3), 0);
	assert_int_equal(udpt_write_scrape_entry(out, 8 + 12 * 5 - 1, 4, 1, 2, 3), 0);
	assert_int_equal(udpt_write_scrape_entry(out, 4, 3, 1, 2, 3), 0);
	assert_int_equal(udpt_write_scrape_entry(out, sizeof(out), UINT_MAX, 1, 2, 3), 0);
	assert_true(all_bytes(out, sizeof(out), 0xaa));
	assert_int_equal(udpt_write_scrape_entry(out, 20, 0, 1, 2, 3), 12);
	assert_int_equal(udpt_write_scrape_entry(out, 8 + 12 * 5, 4, 1, 2, 3), 12);
	assert_int_equal(udpt_scrape_reply_len(0), 8);
	assert_int_equal(udpt_scrape_reply_len(1), 20);
}

static void test_write_error(void **state)
{
	const char *msg = udpt_status_message(UDPT_ERR_PORT_ZERO);
	size_t mlen = strlen(msg);
	char longmsg[200];
	uint8_t out[256];

	(void)state;
	memset(out, 0xaa, sizeof(out));
	assert_int_equal(udpt_write_error(out, sizeof(out), TXID, msg), 8 + mlen);
	assert_int_equal(get32(out), 3);
	assert_int_equal(get32(out + 4), TXID);
	assert_memory_equal(out + 8, msg, mlen);
	assert_int_equal(out[8 + mlen], 0xaa); /* no NUL */

	/* Exact fit and one byte short. */
	memset(out, 0xaa, sizeof(out));
	assert_int_equal(udpt_write_error(out, 8 + mlen - 1, TXID, msg), 0);
	assert_int_equal(udpt_write_error(out, 7, TXID, ""), 0);
	assert_true(all_bytes(out, sizeof(out), 0xaa));
	assert_int_equal(udpt_write_error(out, 8 + mlen, TXID, msg), 8 + mlen);

	/* Truncated at UDPT_ERROR_MSG_MAX. */
	memset(longmsg, 'x', sizeof(longmsg) - 1);
	longmsg[sizeof(longmsg) - 1] = '\0';
	memset(out, 0xaa, sizeof(out));
	assert_int_equal(udpt_write_error(out, sizeof(out), TXID, longmsg), 8 + UDPT_ERROR_MSG_MAX);
	assert_true(all_bytes(out + 8, UDPT_ERROR_MSG_MAX, 'x'));
	assert_int_equal(out[8 + UDPT_ERROR_MSG_MAX], 0xaa);
	assert_int_equal(udpt_write_error(out, 8 + UDPT_ERROR_MSG_MAX, TXID, longmsg),
			 8 + UDPT_ERROR_MSG_MAX);
	assert_int_equal(udpt_write_error(out, 8 + UDPT_ERROR_MSG_MAX - 1, TXID, longmsg), 0);

	/* Empty and absent messages: header only. */
	assert_int_equal(udpt_write_error(out, sizeof(out), TXID, ""), 8);
	assert_int_equal(udpt_write_error(out, 8, TXID, NULL), 8);
	assert_int_equal(get32(out), 3);
}

/* Parse a request, answer it, decode the answer: the whole exchange. */
static void test_error_reply_roundtrip(void **state)
{
	uint8_t req_buf[36], out[128];
	struct udpt_request req;
	enum udpt_status st;
	const char *msg;
	size_t n;

	(void)state;
	put_scrape(req_buf, sizeof(req_buf));
	st = udpt_parse(req_buf, 35, 74, &req);
	assert_int_equal(st, UDPT_ERR_NO_HASHES);
	msg = udpt_status_message(st);
	n = udpt_write_error(out, sizeof(out), req.txid, msg);
	assert_int_equal(n, 8 + strlen(msg));
	assert_int_equal(get32(out), UDPT_ACTION_ERROR);
	assert_int_equal(get32(out + 4), TXID);
	assert_memory_equal(out + 8, msg, strlen(msg));

	st = udpt_parse(req_buf, 36, 74, &req);
	assert_int_equal(st, UDPT_OK);
	n = udpt_write_scrape_header(out, sizeof(out), req.txid);
	for (unsigned i = 0; i < req.scrape.count; i++)
		n += udpt_write_scrape_entry(out, sizeof(out), i, 5, 6, 7);
	assert_int_equal(n, udpt_scrape_reply_len(1));
	assert_int_equal(get32(out + 4), TXID);
	assert_int_equal(get32(out + 8 + 4), 6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_short_datagrams_dropped),
		cmocka_unit_test(test_status_names_and_messages),
		cmocka_unit_test(test_connect_roundtrip),
		cmocka_unit_test(test_connect_bad_magic),
		cmocka_unit_test(test_connect_every_length),
		cmocka_unit_test(test_announce_roundtrip),
		cmocka_unit_test(test_announce_ip_field_ignored),
		cmocka_unit_test(test_announce_events),
		cmocka_unit_test(test_announce_numwant_as_sent),
		cmocka_unit_test(test_announce_port_zero),
		cmocka_unit_test(test_announce_every_length),
		cmocka_unit_test(test_bep41_100_and_101_bytes),
		cmocka_unit_test(test_bep41_typical_path),
		cmocka_unit_test(test_bep41_concatenation),
		cmocka_unit_test(test_bep41_long_url_in_many_parts),
		cmocka_unit_test(test_bep41_malformed_still_ok),
		cmocka_unit_test(test_urldata_copy_absent),
		cmocka_unit_test(test_scrape_every_length),
		cmocka_unit_test(test_scrape_limits),
		cmocka_unit_test(test_unknown_actions_every_length),
		cmocka_unit_test(test_numwant),
		cmocka_unit_test(test_mtu_caps),
		cmocka_unit_test(test_write_connect),
		cmocka_unit_test(test_write_announce_header),
		cmocka_unit_test(test_write_scrape),
		cmocka_unit_test(test_write_error),
		cmocka_unit_test(test_error_reply_roundtrip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
