/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/fuzz/fuzz_udpt.c - libFuzzer entry for the BEP 15 codec.
 *
 * Feeds every input to udpt_parse() under several scrape_max settings and,
 * for answerable statuses, builds the reply the worker would send into
 * fixed buffers. Besides the sanitizers' checks it asserts the codec's
 * promises: pointers stay inside the datagram, counts stay within their
 * caps, and no reply exceeds one MTU-sized datagram.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/udpt.h"

#define CHECK(cond)                                                                          \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, \
				#cond);                                                      \
			abort();                                                             \
		}                                                                            \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool inside(const uint8_t *buf, size_t len, const uint8_t *p, size_t n)
{
	return p >= buf && p <= buf + len && n <= (size_t)(buf + len - p);
}

static void check_announce(const uint8_t *buf, size_t len, const struct udpt_request *req,
			   enum udpt_status st)
{
	const struct udpt_announce *a = &req->announce;
	const struct udpt_urldata *u = &a->urldata;
	/* Any urldata length (u->len is 16 bits): inputs may exceed a datagram. */
	static uint8_t copy[UINT16_MAX + 1];
	static uint8_t out[UDPT_REPLY_MAX];
	unsigned n4, n6;
	size_t r;

	CHECK(len >= UDPT_ANNOUNCE_LEN);
	CHECK(a->info_hash == buf + 16 && a->peer_id == buf + 36);
	CHECK(a->event <= UDPT_EVENT_STOPPED);
	CHECK((st == UDPT_ERR_PORT_ZERO) == (a->port == 0));
	if (u->data) {
		CHECK(u->parts >= 1);
		CHECK(u->data >= buf + UDPT_ANNOUNCE_LEN + 2);
		CHECK(u->len <= len - UDPT_ANNOUNCE_LEN);
		if (u->parts == 1)
			CHECK(inside(buf, len, u->data, u->len));
		else
			CHECK(inside(buf, len, u->data, 0));
		r = udpt_urldata_copy(u, copy, sizeof(copy));
		CHECK(r == u->len);
		if (u->parts == 1 && r)
			CHECK(memcmp(copy, u->data, r) == 0);
		if (u->len)
			CHECK(udpt_urldata_copy(u, copy, u->len - 1u) == 0);
	} else {
		CHECK(u->len == 0 && u->parts == 0);
	}

	if (st != UDPT_OK)
		return;
	n4 = udpt_numwant(a->numwant, 50, 1000, false);
	n6 = udpt_numwant(a->numwant, 50, 1000, true);
	CHECK(n4 <= UDPT_PEERS_MAX4 && n6 <= UDPT_PEERS_MAX6);
	CHECK(udpt_announce_reply_len(n4, false) <= UDPT_REPLY_MAX4);
	CHECK(udpt_announce_reply_len(n6, true) <= UDPT_REPLY_MAX6);
	CHECK(udpt_write_announce_header(out, sizeof(out), req->txid, 1800, n4, n6) ==
	      UDPT_ANNOUNCE_HDR_LEN);
	CHECK(udpt_write_announce_header(out, UDPT_ANNOUNCE_HDR_LEN - 1, req->txid, 1, 2, 3) == 0);
}

static void check_scrape(const uint8_t *buf, size_t len, unsigned scrape_max,
			 const struct udpt_request *req)
{
	static uint8_t out[UDPT_REPLY_MAX6];
	unsigned cap = scrape_max < 1			  ? 1 :
		       scrape_max > UDPT_SCRAPE_MAX_LIMIT ? UDPT_SCRAPE_MAX_LIMIT :
							    scrape_max;
	size_t n;

	CHECK(req->scrape.count >= 1 && req->scrape.count <= cap);
	CHECK(req->scrape.count == (len - 16) / 20 || req->scrape.count == cap);
	CHECK(req->scrape.hashes == buf + 16);
	CHECK(inside(buf, len, req->scrape.hashes, (size_t)req->scrape.count * 20));

	n = udpt_write_scrape_header(out, sizeof(out), req->txid);
	for (unsigned i = 0; i < req->scrape.count; i++) {
		const uint8_t *h = req->scrape.hashes + 20 * i;

		n += udpt_write_scrape_entry(out, sizeof(out), i, h[0], h[10], h[19]);
	}
	CHECK(n == udpt_scrape_reply_len(req->scrape.count));
	CHECK(n <= UDPT_REPLY_MAX6);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned scrape_maxes[] = { 0, 1, 3, 74, 1000 };
	static uint8_t out[UDPT_REPLY_MAX];
	char text[100];
	size_t tlen;

	/* The input as an error message: truncated, never overrunning. */
	tlen = size < sizeof(text) - 1 ? size : sizeof(text) - 1;
	if (tlen)
		memcpy(text, data, tlen);
	text[tlen] = '\0';
	tlen = strlen(text);
	CHECK(udpt_write_error(out, sizeof(out), 1, text) ==
	      UDPT_ERROR_HDR_LEN + (tlen < UDPT_ERROR_MSG_MAX ? tlen : UDPT_ERROR_MSG_MAX));

	for (size_t k = 0; k < sizeof(scrape_maxes) / sizeof(scrape_maxes[0]); k++) {
		struct udpt_request req;
		enum udpt_status st = udpt_parse(data, size, scrape_maxes[k], &req);
		const char *msg;

		CHECK((unsigned)st < UDPT_STATUS__MAX);
		CHECK(udpt_status_name(st) != NULL);
		CHECK((size < UDPT_MIN_LEN) == (st == UDPT_DROP_SHORT));
		msg = udpt_status_message(st);
		CHECK((msg != NULL) == (st == UDPT_ERR_PORT_ZERO || st == UDPT_ERR_NO_HASHES));
		CHECK(udpt_status_is_drop(st) == (st != UDPT_OK && msg == NULL));
		if (udpt_status_is_drop(st))
			continue;

		switch (req.action) {
		case UDPT_ACTION_CONNECT:
			CHECK(st == UDPT_OK && req.connection_id == UDPT_PROTOCOL_MAGIC);
			CHECK(udpt_write_connect(out, UDPT_CONNECT_LEN, req.txid, 42) ==
			      UDPT_CONNECT_LEN);
			CHECK(udpt_write_connect(out, UDPT_CONNECT_LEN - 1, req.txid, 42) == 0);
			break;
		case UDPT_ACTION_ANNOUNCE:
			check_announce(data, size, &req, st);
			break;
		case UDPT_ACTION_SCRAPE:
			if (st == UDPT_OK)
				check_scrape(data, size, scrape_maxes[k], &req);
			else
				CHECK(size < 36 && req.scrape.count == 0 && !req.scrape.hashes);
			break;
		default:
			fprintf(stderr, "answerable status %d for an unknown action\n", (int)st);
			abort();
		}
		if (msg) {
			size_t n = udpt_write_error(out, sizeof(out), req.txid, msg);

			CHECK(n == UDPT_ERROR_HDR_LEN + strlen(msg));
			CHECK(n <= UDPT_ERROR_HDR_LEN + UDPT_ERROR_MSG_MAX);
			CHECK(udpt_write_error(out, n - 1, req.txid, msg) == 0);
		}
	}
	return 0;
}
