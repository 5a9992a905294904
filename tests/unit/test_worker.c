/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/test_worker.c - worker_handle() on a real segment, and both
 * socket loops (io_uring, recvmmsg/sendmmsg) on loopback.
 *
 * The first group drives worker_handle() directly with crafted datagrams
 * and checks replies and counters. The second forks a child that runs
 * worker_run() over an IPv4 and an IPv6 loopback socket with each backend,
 * talks BEP 15 to it, then stops it with SIGTERM and checks its exit
 * status and its counter block (the segment is shared with the child).
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <liburing.h>

#include "daemon/conf.h"
#include "daemon/connid.h"
#include "daemon/udpt.h"
#include "daemon/worker.h"
#include "shm/counters.h"
#include "shm/segment.h"
#include "shm/torrents.h"

#define NOW 100000u
/* Datagrams sent back to back to a worker with 64 receive buffers. */
#define BURST 150u

static const uint8_t test_key[SEGMENT_KEY_LEN] = { 1, 2,  3,  4,  5,  6,  7,  8,
						   9, 10, 11, 12, 13, 14, 15, 16 };

struct fixture {
	struct conf conf;
	struct segment *seg;
	struct worker_ctx w;
	pid_t child; /* a worker_run() child still to be stopped, 0 when none */
	uint8_t out[UDPT_REPLY_MAX];
};

static int setup(void **state)
{
	struct segment_params sp = { .max_torrents = 256, .max_peers4 = 1024, .max_peers6 = 1024 };
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	conf_defaults(&f->conf);
	/* Tests fill swarms from one /64: the per-source cap has tests of its own. */
	f->conf.max_peers_per_source = 0;
	/* valgrind has no seccomp(2): the loop tests run unfiltered under it. */
	if (getenv("TRACKERD_UNDER_VALGRIND"))
		f->conf.seccomp = false;
	if (segment_create(&sp, test_key, &f->seg) < 0) {
		free(f);
		return -1;
	}
	worker_ctx_init(&f->w, &f->conf, f->seg, 0);
	f->w.now = NOW;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f->child > 0) {
		/* A failed assertion left the worker running. */
		kill(f->child, SIGKILL);
		waitpid(f->child, NULL, 0);
	}
	segment_close(f->seg);
	free(f);
	return 0;
}

/* --- addresses and datagrams ----------------------------------------------- */

static struct sockaddr_in sin4(const char *ip, uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };

	assert_int_equal(inet_pton(AF_INET, ip, &a.sin_addr), 1);
	return a;
}

static struct sockaddr_in6 sin6(const char *ip, uint16_t port)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(port) };

	assert_int_equal(inet_pton(AF_INET6, ip, &a.sin6_addr), 1);
	return a;
}

static void put32(uint8_t *p, uint32_t v)
{
	v = htobe32(v);
	memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
	v = htobe64(v);
	memcpy(p, &v, 8);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return be32toh(v);
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return be64toh(v);
}

static size_t mk_connect(uint8_t *p, uint32_t txid)
{
	put64(p, UDPT_PROTOCOL_MAGIC);
	put32(p + 8, UDPT_ACTION_CONNECT);
	put32(p + 12, txid);
	return 16;
}

static void hash_of(uint8_t h[20], unsigned n)
{
	memset(h, 0, 20);
	put32(h, 0xabc00000u + n);
	h[19] = 0x5a;
}

struct ann {
	uint64_t cid;
	uint32_t txid;
	unsigned torrent;
	uint64_t left;
	uint32_t event;
	int32_t numwant;
	uint16_t port;
	uint32_t peer;
};

static size_t mk_announce(uint8_t *p, const struct ann *a)
{
	memset(p, 0, 98);
	put64(p, a->cid);
	put32(p + 8, UDPT_ACTION_ANNOUNCE);
	put32(p + 12, a->txid);
	hash_of(p + 16, a->torrent);
	put32(p + 36, 0x2d5452u);
	put32(p + 40, a->peer);
	put64(p + 64, a->left);
	put32(p + 80, a->event);
	put32(p + 92, (uint32_t)a->numwant);
	p[96] = (uint8_t)(a->port >> 8);
	p[97] = (uint8_t)a->port;
	return 98;
}

static size_t mk_scrape(uint8_t *p, uint64_t cid, uint32_t txid, unsigned n, unsigned first)
{
	put64(p, cid);
	put32(p + 8, UDPT_ACTION_SCRAPE);
	put32(p + 12, txid);
	for (unsigned i = 0; i < n; i++)
		hash_of(p + 16 + 20 * i, first + i);
	return 16 + 20 * (size_t)n;
}

static uint64_t ctr(struct fixture *f, unsigned fam, enum counters_id id)
{
	return counters_read(f->w.ctr, fam, id);
}

static size_t handle(struct fixture *f, const uint8_t *pkt, size_t len, const void *src)
{
	const struct sockaddr *sa = src;
	socklen_t sl = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
						   sizeof(struct sockaddr_in);

	memset(f->out, 0xee, sizeof(f->out));
	return worker_handle(&f->w, pkt, len, sa, sl, f->out, sizeof(f->out));
}

static uint64_t do_connect(struct fixture *f, const void *src)
{
	uint8_t pkt[16];

	assert_int_equal(handle(f, pkt, mk_connect(pkt, 77), src), 16);
	assert_int_equal(get32(f->out), UDPT_ACTION_CONNECT);
	assert_int_equal(get32(f->out + 4), 77);
	return get64(f->out + 8);
}

/* Announce and return the reply length; the reply is in f->out. */
static size_t do_announce(struct fixture *f, const void *src, struct ann a)
{
	uint8_t pkt[98];

	return handle(f, pkt, mk_announce(pkt, &a), src);
}

/* --- worker_handle ----------------------------------------------------------- */

static void test_connect(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_in a = sin4("10.0.0.1", 4000);
	uint8_t ip[4] = { 10, 0, 0, 1 };
	uint64_t cid = do_connect(f, &a);

	assert_int_equal(connid_check(test_key, cid, NOW, f->conf.connid_max_age, ip, 4),
			 CONNID_VALID);
	assert_int_equal(ctr(f, COUNTERS_FAM_IPV4, COUNTERS_connect), 1);
	assert_int_equal(ctr(f, COUNTERS_FAM_IPV4, COUNTERS_rx_packets), 1);
	assert_int_equal(ctr(f, COUNTERS_FAM_IPV4, COUNTERS_rx_bytes), 16);
	assert_int_equal(ctr(f, COUNTERS_FAM_IPV6, COUNTERS_rx_packets), 0);
}

static void test_announce_seeder_leecher(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_in a = sin4("10.0.0.1", 4000);
	struct sockaddr_in b = sin4("10.0.0.2", 4001);
	uint64_t ca = do_connect(f, &a), cb = do_connect(f, &b);
	size_t n;

	n = do_announce(f, &a,
			(struct ann){ .cid = ca,
				      .txid = 5,
				      .torrent = 1,
				      .left = 0,
				      .event = UDPT_EVENT_STARTED,
				      .numwant = 50,
				      .port = 6881,
				      .peer = 1 });
	assert_int_equal(n, 20); /* never itself */
	assert_int_equal(get32(f->out), UDPT_ACTION_ANNOUNCE);
	assert_int_equal(get32(f->out + 4), 5);
	assert_int_equal(get32(f->out + 8), f->conf.announce_interval);
	assert_int_equal(get32(f->out + 12), 0); /* leechers */
	assert_int_equal(get32(f->out + 16), 1); /* seeders */

	n = do_announce(f, &b,
			(struct ann){ .cid = cb,
				      .txid = 6,
				      .torrent = 1,
				      .left = 1000,
				      .event = UDPT_EVENT_STARTED,
				      .numwant = 50,
				      .port = 6882,
				      .peer = 2 });
	assert_int_equal(n, 26);
	assert_int_equal(get32(f->out + 12), 1);
	assert_int_equal(get32(f->out + 16), 1);
	assert_memory_equal(f->out + 20, "\x0a\x00\x00\x01\x1a\xe1", 6); /* 10.0.0.1:6881 */

	/* The seeder now sees the leecher. */
	n = do_announce(f, &a,
			(struct ann){ .cid = ca,
				      .txid = 7,
				      .torrent = 1,
				      .numwant = -1,
				      .port = 6881,
				      .peer = 1 });
	assert_int_equal(n, 26);
	assert_memory_equal(f->out + 20, "\x0a\x00\x00\x02\x1a\xe2", 6);
	assert_int_equal(ctr(f, COUNTERS_FAM_IPV4, COUNTERS_announce), 3);
	assert_int_equal(ctr(f, COUNTERS_FAM_IPV4, COUNTERS_announce_peers), 2);
}

static void test_ipv6_and_mapped(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_in6 a = sin6("2001:db8::1", 5000);
	struct sockaddr_in6 b = sin6("2001:db8::2", 5001);
	struct sockaddr_in v4 = sin4("192.0.2.7", 5002);
	struct sockaddr_in6 mapped = sin6("::ffff:192.0.2.8", 5003);
	uint8_t ip8[4] = { 192, 0, 2, 8 };
	uint64_t ca = do_connect(f, &a), cb = do_connect(f, &b), c4 = do_connect(f, &v4);
	uint64_t cm = do_connect(f, &mapped);
	size_t n;

	assert_int_equal(ctr(f, COUNTERS_FAM_IPV6, COUNTERS_connect), 2);
	assert_int_equal(ctr(f, COUNTERS_FAM_IPV4, COUNTERS_connect), 2);
	/* The mapped client's id is the one of its IPv4 address. */
	assert_int_equal(connid_check(test_key, cm, NOW, f->conf.connid_max_age, ip8, 4),
			 CONNID_VALID);

	do_announce(f, &a, (struct ann){ .cid = ca, .txid = 1, .torrent = 9, .port = 7001 });
	do_announce(f, &v4, (struct ann){ .cid = c4, .txid = 2, .torrent = 9, .port = 7002 });
	n = do_announce(
		f, &b, (struct ann){ .cid = cb, .txid = 3, .torrent = 9, .left = 5, .port = 7003 });
	/* Only the other IPv6 peer, as an 18-byte entry; counts cover both families. */
	assert_int_equal(n, 20 + 18);
	assert_int_equal(get32(f->out + 12), 1);
	assert_int_equal(get32(f->out + 16), 2);
	assert_memory_equal(f->out + 20, a.sin6_addr.s6_addr, 16);
	assert_int_equal(f->out[36] << 8 | f->out[37], 7001);

	/* The mapped source is an IPv4 peer: 6-byte entries, IPv4 counters. */
	n = do_announce(
		f, &mapped,
		(struct ann){ .cid = cm, .txid = 4, .torrent = 9, .left = 5, .port = 7004 });
	assert_int_equal(n, 20 + 6);
	assert_memory_equal(f->out + 20, "\xc0\x00\x02\x07\x1b\x5a", 6); /* 192.0.2.7:7002 */
	assert_int_equal(ctr(f, COUNTERS_FAM_IPV4, COUNTERS_announce), 2);
	assert_int_equal(ctr(f, COUNTERS_FAM_IPV6, COUNTERS_announce), 2);

	/* ... and the plain IPv4 peer now sees the mapped one as 192.0.2.8. */
	n = do_announce(f, &v4, (struct ann){ .cid = c4, .txid = 5, .torrent = 9, .port = 7002 });
	assert_int_equal(n, 26);
	assert_memory_equal(f->out + 20, "\xc0\x00\x02\x08\x1b\x5c", 6);
}

static void test_bad_connection_ids(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_in a = sin4("10.1.0.1", 4000);
	struct sockaddr_in other = sin4("10.1.0.2", 4000);
	uint8_t pkt[16 + 20];
	uint64_t cid = do_connect(f, &a);
	uint64_t future;

	/* Forged: a flipped bit, and an id minted for another address. */
	assert_int_equal(do_announce(f, &a, (struct ann){ .cid = cid ^ 1, .port = 1 }), 0);
	assert_int_equal(do_announce(f, &other, (struct ann){ .cid = cid, .port = 1 }), 0);
	assert_int_equal(handle(f, pkt, mk_scrape(pkt, cid ^ 0x100, 1, 1, 0), &a), 0);
	assert_int_equal(ctr(f, COUNTERS_FAM_IPV4, COUNTERS_drop_connid_forged), 3);

	/* Expired. */
	f->w.now = NOW + f->conf.connid_max_age + 1;
	assert_int_equal(do_announce(f, &a, (struct ann){ .cid = cid, .port = 1 }), 0);
	assert_int_equal(ctr(f, COUNTERS_FAM_IPV4, COUNTERS_drop_connid_expired), 1);

	/* From the future. */
	f->w.now = NOW + 1000;
	future = do_connect(f, &a);
	f->w.now = NOW;
	assert_int_equal(handle(f, pkt, mk_scrape(pkt, future, 1, 1, 0), &a), 0);
	assert_int_equal(ctr(f, COUNTERS_FAM_IPV4, COUNTERS_drop_connid_future), 1);

	/* Nothing was answered, nothing stored. */
	assert_int_equal(ctr(f, COUNTERS_FAM_IPV4, COUNTERS_announce), 0);
	assert_int_equal(ctr(f, COUNTERS_FAM_IPV4, COUNTERS_scrape), 0);
	assert_int_equal(ctr(f, COUNTERS_FAM_IPV4, COUNTERS_error_replies), 0);
	/* Still valid at the edge of the age. */
	f->w.now = NOW + f->conf.connid_max_age;
	assert_int_equal(do_announce(f, &a, (struct ann){ .cid = cid, .port = 1 }), 20);
}

static void test_port_zero_and_no_hashes(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_in a = sin4("10.2.0.1", 4000);
	uint8_t pkt[16];
	uint64_t cid = do_connect(f, &a);
	size_t n;

	/* Announce port 0 with a bad id: silence. */
	assert_int_equal(do_announce(f, &a, (struct ann){ .cid = cid ^ 1, .txid = 9 }), 0);
	assert_int_equal(ctr(f, COUNTERS_FAM_IPV4, COUNTERS_err_port_zero), 0);

	/* With a valid id: an error reply, and the peer is not stored. */
	n = do_announce(f, &a, (struct ann){ .cid = cid, .txid = 9, .torrent = 3 });
	assert_true(n > 8 && n <= 8 + UDPT_ERROR_MSG_MAX);
	assert_int_equal(get32(f->out), UDPT_ACTION_ERROR);
	assert_int_equal(get32(f->out + 4), 9);
	assert_int_equal(ctr(f, COUNTERS_FAM_IPV4, COUNTERS_err_port_zero), 1);
	assert_int_equal(ctr(f, COUNTERS_FAM_IPV4, COUNTERS_error_replies), 1);
	assert_int_equal(ctr(f, COUNTERS_FAM_IPV4, COUNTERS_announce), 0);

	/* A scrape without a hash: likewise. */
	assert_int_equal(handle(f, pkt, mk_scrape(pkt, cid ^ 2, 10, 0, 0), &a), 0);
	n = handle(f, pkt, mk_scrape(pkt, cid, 10, 0, 0), &a);
	assert_true(n > 8);
	assert_int_equal(get32(f->out), UDPT_ACTION_ERROR);
	assert_int_equal(get32(f->out + 4), 10);
	assert_int_equal(ctr(f, COUNTERS_FAM_IPV4, COUNTERS_err_no_hashes), 1);
	assert_int_equal(ctr(f, COUNTERS_FAM_IPV4, COUNTERS_error_replies), 2);
}

static void test_scrape(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_in a = sin4("10.3.0.1", 4000);
	struct sockaddr_in b = sin4("10.3.0.2", 4000);
	uint8_t pkt[16 + 20 * (UDPT_SCRAPE_MAX_LIMIT + 2)];
	uint64_t ca = do_connect(f, &a), cb = do_connect(f, &b);
	size_t n;

	do_announce(f, &a, (struct ann){ .cid = ca, .torrent = 40, .left = 0, .port = 1 });
	do_announce(f, &b, (struct ann){ .cid = cb, .torrent = 40, .left = 9, .port = 2 });
	do_announce(f, &b,
		    (struct ann){ .cid = cb,
				  .torrent = 41,
				  .left = 0,
				  .port = 2,
				  .event = UDPT_EVENT_COMPLETED });

	/* One hash. */
	n = handle(f, pkt, mk_scrape(pkt, ca, 21, 1, 40), &a);
	assert_int_equal(n, 8 + 12);
	assert_int_equal(get32(f->out), UDPT_ACTION_SCRAPE);
	assert_int_equal(get32(f->out + 4), 21);
	assert_int_equal(get32(f->out + 8), 1); /* seeders */
	assert_int_equal(get32(f->out + 16), 1); /* leechers */

	/* 74 hashes (1496 bytes), in order, unknown ones zero. */
	n = handle(f, pkt, mk_scrape(pkt, ca, 22, 74, 0), &a);
	assert_int_equal(n, 8 + 12 * 74);
	assert_int_equal(get32(f->out + 8 + 12 * 40), 1);
	assert_int_equal(get32(f->out + 8 + 12 * 40 + 8), 1);
	assert_int_equal(get32(f->out + 8 + 12 * 41), 1); /* seeders */
	assert_int_equal(get32(f->out + 8 + 12 * 41 + 4), 1); /* completed */
	assert_int_equal(get32(f->out + 8 + 12 * 41 + 8), 0);
	for (unsigned i = 0; i < 74; i++)
		if (i != 40 && i != 41)
			assert_int_equal(get32(f->out + 8 + 12 * i), 0);

	/* 76 hashes: the first scrape_max answered. */
	n = handle(f, pkt, mk_scrape(pkt, ca, 23, 76, 0), &a);
	assert_int_equal(n, 8 + 12 * 74);

	/* A smaller scrape_max caps the answer. */
	f->conf.scrape_max = 3;
	n = handle(f, pkt, mk_scrape(pkt, ca, 24, 10, 0), &a);
	assert_int_equal(n, 8 + 12 * 3);
	assert_int_equal(ctr(f, COUNTERS_FAM_IPV4, COUNTERS_scrape), 4);
	assert_int_equal(ctr(f, COUNTERS_FAM_IPV4, COUNTERS_scrape_hashes), 1 + 74 + 74 + 3);
}

static void test_malformed(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_in a = sin4("10.4.0.1", 4000);
	uint8_t pkt[200];
	uint64_t cid = do_connect(f, &a);
	struct ann an = { .cid = cid, .txid = 1, .torrent = 1, .port = 80 };

	memset(pkt, 0, sizeof(pkt));
	/* Short: 0 and 15 bytes. */
	assert_int_equal(handle(f, pkt, 0, &a), 0);
	mk_connect(pkt, 1);
	assert_int_equal(handle(f, pkt, 15, &a), 0);
	assert_int_equal(ctr(f, COUNTERS_FAM_IPV4, COUNTERS_drop_short), 2);

	/* Connect without the magic. */
	mk_connect(pkt, 1);
	pkt[0] ^= 1;
	assert_int_equal(handle(f, pkt, 16, &a), 0);
	assert_int_equal(ctr(f, COUNTERS_FAM_IPV4, COUNTERS_drop_magic), 1);

	/* Unknown action, and action 3 from a client, even with a valid id. */
	put64(pkt, cid);
	put32(pkt + 8, 7);
	assert_int_equal(handle(f, pkt, 16, &a), 0);
	put32(pkt + 8, UDPT_ACTION_ERROR);
	assert_int_equal(handle(f, pkt, 100, &a), 0);
	assert_int_equal(ctr(f, COUNTERS_FAM_IPV4, COUNTERS_drop_action), 2);

	/* Announce of 97 bytes, with a valid id. */
	mk_announce(pkt, &an);
	assert_int_equal(handle(f, pkt, 97, &a), 0);
	assert_int_equal(ctr(f, COUNTERS_FAM_IPV4, COUNTERS_drop_announce_short), 1);

	/* BEP 41: 100 and 101 bytes are answered. */
	mk_announce(pkt, &an);
	pkt[98] = 2; /* URL data */
	pkt[99] = 0;
	assert_int_equal(handle(f, pkt, 100, &a), 20);
	pkt[100] = 0; /* end of options */
	assert_int_equal(handle(f, pkt, 101, &a), 20);

	assert_int_equal(ctr(f, COUNTERS_FAM_IPV4, COUNTERS_error_replies), 0);
	assert_int_equal(ctr(f, COUNTERS_FAM_IPV4, COUNTERS_rx_packets), 1 + 8);
}

static void test_source_port_zero(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_in a = sin4("10.5.0.1", 0);
	struct sockaddr_in6 b = sin6("2001:db8::5", 0);
	uint8_t pkt[16];

	assert_int_equal(handle(f, pkt, mk_connect(pkt, 1), &a), 0);
	assert_int_equal(handle(f, pkt, mk_connect(pkt, 1), &b), 0);
	assert_int_equal(ctr(f, COUNTERS_FAM_IPV4, COUNTERS_drop_src_port_zero), 1);
	assert_int_equal(ctr(f, COUNTERS_FAM_IPV6, COUNTERS_drop_src_port_zero), 1);
	assert_int_equal(ctr(f, COUNTERS_FAM_IPV4, COUNTERS_connect), 0);
}

static void test_numwant(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_in me = sin4("10.9.9.9", 4000);
	struct sockaddr_in6 me6 = sin6("2001:db8:9::9", 4000);
	uint64_t cid, cid6;
	unsigned i;
	size_t n;

	/* 300 IPv4 and 100 IPv6 peers in torrent 5. */
	for (i = 0; i < 300; i++) {
		struct sockaddr_in p = sin4("10.6.0.0", 1000);

		p.sin_addr.s_addr = htonl(0x0a060000u + i);
		cid = do_connect(f, &p);
		assert_int_equal(do_announce(f, &p,
					     (struct ann){ .cid = cid,
							   .torrent = 5,
							   .port = 6881,
							   .numwant = 1 }) >= 20,
				 1);
	}
	for (i = 0; i < 100; i++) {
		struct sockaddr_in6 p = sin6("2001:db8:6::", 1000);

		p.sin6_addr.s6_addr[15] = (uint8_t)i;
		p.sin6_addr.s6_addr[14] = (uint8_t)(i >> 8);
		cid = do_connect(f, &p);
		assert_true(do_announce(f, &p,
					(struct ann){ .cid = cid,
						      .torrent = 5,
						      .port = 6881,
						      .numwant = 1 }) >= 20);
	}
	cid = do_connect(f, &me);
	cid6 = do_connect(f, &me6);

	n = do_announce(f, &me, (struct ann){ .cid = cid, .torrent = 5, .port = 1, .numwant = 0 });
	assert_int_equal(n, 20 + 6 * f->conf.numwant_default);
	n = do_announce(f, &me, (struct ann){ .cid = cid, .torrent = 5, .port = 1, .numwant = -1 });
	assert_int_equal(n, 20 + 6 * f->conf.numwant_default);
	n = do_announce(f, &me, (struct ann){ .cid = cid, .torrent = 5, .port = 1, .numwant = 1 });
	assert_int_equal(n, 20 + 6);
	n = do_announce(f, &me,
			(struct ann){ .cid = cid, .torrent = 5, .port = 1, .numwant = 0x7fffffff });
	assert_int_equal(n, 20 + 6 * f->conf.numwant_max);
	f->conf.numwant_max = 242;
	n = do_announce(f, &me,
			(struct ann){ .cid = cid, .torrent = 5, .port = 1, .numwant = 0x7fffffff });
	assert_int_equal(n, 20 + 6 * 242);
	assert_true(n <= UDPT_REPLY_MAX4);

	n = do_announce(
		f, &me6,
		(struct ann){ .cid = cid6, .torrent = 5, .port = 1, .numwant = 0x7fffffff });
	assert_int_equal(n, 20 + 18 * 79);
	assert_true(n <= UDPT_REPLY_MAX6);
	n = do_announce(f, &me6,
			(struct ann){ .cid = cid6, .torrent = 5, .port = 1, .numwant = 1 });
	assert_int_equal(n, 20 + 18);

	/* A small output buffer limits the peers, never overflows it. */
	{
		uint8_t pkt[98], small[20 + 6 * 3 + 5];
		struct ann a = { .cid = cid, .torrent = 5, .port = 1, .numwant = 100 };

		n = worker_handle(&f->w, pkt, mk_announce(pkt, &a), (struct sockaddr *)&me,
				  sizeof(me), small, sizeof(small));
		assert_int_equal(n, 20 + 6 * 3);
	}
}

static void test_batch(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_in a = sin4("10.7.0.1", 4000), b = sin4("10.7.0.2", 4000);
	struct sockaddr_in c = sin4("10.7.0.3", 4000), d = sin4("10.7.0.4", 4000);
	uint64_t ca = do_connect(f, &a), cb = do_connect(f, &b), cd = do_connect(f, &d);
	static uint8_t pkt[7][200], out[7][UDPT_REPLY_MAX];
	struct worker_item it[7];
	const struct sockaddr *src[7] = {
		(struct sockaddr *)&c, (struct sockaddr *)&b, (struct sockaddr *)&a,
		(struct sockaddr *)&b, (struct sockaddr *)&d, (struct sockaddr *)&a,
		(struct sockaddr *)&d,
	};
	size_t len[7];

	do_announce(f, &a, (struct ann){ .cid = ca, .torrent = 70, .left = 0, .port = 1 });

	len[0] = mk_connect(pkt[0], 100);
	len[1] = mk_announce(pkt[1], &(struct ann){ .cid = cb,
						    .txid = 101,
						    .torrent = 70,
						    .left = 1,
						    .port = 2,
						    .numwant = 50 });
	len[2] = mk_scrape(pkt[2], ca, 102, 1, 70);
	len[3] = mk_announce(pkt[3], &(struct ann){ .cid = cb ^ 4, .txid = 103, .port = 2 });
	len[4] = 15; /* short */
	memset(pkt[4], 0, 15);
	len[5] = mk_announce(pkt[5], &(struct ann){ .cid = ca,
						    .txid = 105,
						    .torrent = 70,
						    .left = 0,
						    .port = 1,
						    .numwant = 50 });
	len[6] = mk_announce(pkt[6], &(struct ann){ .cid = cd,
						    .txid = 106,
						    .torrent = 70,
						    .left = 1,
						    .port = 4,
						    .numwant = 50 });
	for (unsigned i = 0; i < 7; i++) {
		it[i] = (struct worker_item){ .pkt = pkt[i],
					      .len = len[i],
					      .src = src[i],
					      .srclen = sizeof(struct sockaddr_in),
					      .out = out[i],
					      .cap = sizeof(out[i]),
					      .reply_len = 12345 };
	}
	worker_handle_batch(&f->w, it, 7);

	assert_int_equal(it[0].reply_len, 16);
	assert_int_equal(get32(out[0] + 4), 100);
	/* The batch's announces run in order, after its scrapes. */
	assert_int_equal(it[1].reply_len, 20 + 6); /* sees A */
	assert_int_equal(get32(out[1] + 4), 101);
	assert_memory_equal(out[1] + 20, "\x0a\x07\x00\x01\x00\x01", 6);
	assert_int_equal(it[2].reply_len, 8 + 12);
	assert_int_equal(get32(out[2] + 8), 1); /* seeders before the batch's announces */
	assert_int_equal(get32(out[2] + 16), 0); /* leechers */
	assert_int_equal(it[3].reply_len, 0); /* forged */
	assert_int_equal(it[4].reply_len, 0); /* short */
	assert_int_equal(it[5].reply_len, 20 + 6); /* A sees B (D comes later) */
	assert_memory_equal(out[5] + 20, "\x0a\x07\x00\x02\x00\x02", 6);
	assert_int_equal(it[6].reply_len, 20 + 12); /* D sees A and B */
	assert_int_equal(get32(out[6] + 4), 106);
	assert_int_equal(get32(out[6] + 12), 2); /* leechers B, D */
	assert_int_equal(get32(out[6] + 16), 1); /* seeder A */

	assert_int_equal(ctr(f, COUNTERS_FAM_IPV4, COUNTERS_announce), 4);
	assert_int_equal(ctr(f, COUNTERS_FAM_IPV4, COUNTERS_drop_connid_forged), 1);
	assert_int_equal(ctr(f, COUNTERS_FAM_IPV4, COUNTERS_drop_short), 1);
	assert_int_equal(ctr(f, COUNTERS_FAM_IPV4, COUNTERS_scrape), 1);

	/* An empty batch is a no-op. */
	worker_handle_batch(&f->w, it, 0);
}

/* --- both loops on loopback ---------------------------------------------------- */

static volatile sig_atomic_t child_stop;

static void on_term(int sig)
{
	(void)sig;
	child_stop = 1;
}

static int udp_socket(int fam)
{
	int fd = socket(fam, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int one = 1;

	assert_true(fd >= 0);
	if (fam == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	return fd;
}

static int bound(int fam, struct sockaddr_storage *ret_addr)
{
	int fd = udp_socket(fam);
	struct sockaddr_storage ss = { 0 };
	socklen_t sl;

	if (fam == AF_INET) {
		struct sockaddr_in a = sin4("127.0.0.1", 0);

		memcpy(&ss, &a, sizeof(a));
		sl = sizeof(a);
	} else {
		struct sockaddr_in6 a = sin6("::1", 0);

		memcpy(&ss, &a, sizeof(a));
		sl = sizeof(a);
	}
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0) {
		close(fd);
		return -errno;
	}
	sl = sizeof(*ret_addr);
	assert_int_equal(getsockname(fd, (struct sockaddr *)ret_addr, &sl), 0);
	return fd;
}

/* Send pkt to dst and wait (bounded) for one reply; returns its length or -1. */
static ssize_t exchange(int fd, const struct sockaddr_storage *dst, const uint8_t *pkt, size_t len,
			uint8_t *reply, size_t cap, int timeout_ms)
{
	socklen_t dl = dst->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
						    sizeof(struct sockaddr_in);
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	assert_int_equal(sendto(fd, pkt, len, 0, (const struct sockaddr *)dst, dl), (ssize_t)len);
	if (poll(&pfd, 1, timeout_ms) != 1)
		return -1;
	return recv(fd, reply, cap, MSG_DONTWAIT);
}

/* In a child: make io_uring_setup() fail with EPERM, as a container's seccomp policy does. */
static void deny_io_uring(void)
{
	struct sock_filter filt[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(filt) / sizeof(filt[0]), .filter = filt };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		_exit(99);
}

static bool uring_works(void)
{
	struct io_uring ring;

	if (io_uring_queue_init(8, &ring, 0) < 0)
		return false;
	io_uring_queue_exit(&ring);
	return true;
}

static void run_loop_test(struct fixture *f, enum conf_backend backend, unsigned ring_entries,
			  uint32_t expect_backend, bool deny, const char *expect_log)
{
	char log[4096] = "";
	int errpipe[2];
	struct sockaddr_storage srv4, srv6;
	int s4 = bound(AF_INET, &srv4);
	int s6 = bound(AF_INET6, &srv6);
	int c4 = udp_socket(AF_INET), c6;
	uint8_t pkt[UDPT_REQUEST_MAX + 100], reply[UDPT_REPLY_MAX + 100];
	struct counters_block *b = segment_counters(f->seg, 3);
	struct timespec t0, t1;
	uint64_t cid;
	ssize_t n;
	pid_t pid;
	int status = -1;
	unsigned got;

	assert_true(s4 >= 0);
	f->conf.io_backend = backend;
	f->conf.ring_entries = ring_entries;
	assert_int_equal(pipe2(errpipe, O_CLOEXEC | O_NONBLOCK), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sigaction sa = { .sa_handler = on_term };
		struct worker_params p = {
			.slot = 3,
			.cpu = -1,
			.generation = 7,
			.conf = &f->conf,
			.seg = f->seg,
			.stop = &child_stop,
		};

		sigaction(SIGTERM, &sa, NULL);
		dup2(errpipe[1], STDERR_FILENO);
		if (deny)
			deny_io_uring();
		p.fds[p.nfds++] = s4;
		if (s6 >= 0)
			p.fds[p.nfds++] = s6;
		_exit(worker_run(&p));
	}
	f->child = pid;
	close(errpipe[1]);

	/* Connect and announce over IPv4. */
	n = exchange(c4, &srv4, pkt, mk_connect(pkt, 31), reply, sizeof(reply), 5000);
	assert_int_equal(n, 16);
	assert_int_equal(get32(reply + 4), 31);
	cid = get64(reply + 8);
	n = exchange(
		c4, &srv4, pkt,
		mk_announce(pkt,
			    &(struct ann){ .cid = cid, .txid = 32, .torrent = 60, .port = 9000 }),
		reply, sizeof(reply), 5000);
	assert_int_equal(n, 20);
	assert_int_equal(get32(reply + 16), 1);

	/* A full 74-hash scrape arrives whole and is answered in full. */
	n = exchange(c4, &srv4, pkt, mk_scrape(pkt, cid, 33, 74, 60), reply, sizeof(reply), 5000);
	assert_int_equal(n, 8 + 12 * 74);
	assert_int_equal(get32(reply + 8), 1);

	/* A 75-hash scrape (1516 bytes) arrives whole: its first 74 are answered. */
	n = exchange(c4, &srv4, pkt, mk_scrape(pkt, cid, 36, 75, 60), reply, sizeof(reply), 5000);
	assert_int_equal(n, 8 + 12 * 74);

	/*
	 * An oversized datagram is dropped as truncated; the loop goes on. The
	 * worker answers in order, so the next reply must be the connect's.
	 */
	memset(pkt, 0, sizeof(pkt));
	mk_scrape(pkt, cid, 34, 74, 0);
	assert_int_equal(sendto(c4, pkt, UDPT_REQUEST_MAX + 100, 0, (struct sockaddr *)&srv4,
				sizeof(struct sockaddr_in)),
			 UDPT_REQUEST_MAX + 100);
	n = exchange(c4, &srv4, pkt, mk_connect(pkt, 35), reply, sizeof(reply), 5000);
	assert_int_equal(n, 16);
	assert_int_equal(get32(reply + 4), 35);

	/*
	 * A burst much larger than the ring, queued while the worker is
	 * stopped: it finds more datagrams than receive buffers, the io_uring
	 * receive ends with ENOBUFS and must be re-armed. Every request is
	 * answered.
	 */
	assert_int_equal(kill(pid, SIGSTOP), 0);
	assert_int_equal(waitpid(pid, &status, WUNTRACED), pid);
	assert_true(WIFSTOPPED(status));
	for (unsigned i = 0; i < BURST; i++) {
		socklen_t dl = sizeof(struct sockaddr_in);

		mk_connect(pkt, 1000 + i);
		assert_int_equal(sendto(c4, pkt, 16, 0, (struct sockaddr *)&srv4, dl), 16);
	}
	assert_int_equal(kill(pid, SIGCONT), 0);
	got = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (got < BURST) {
		struct pollfd pfd = { .fd = c4, .events = POLLIN };

		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (t1.tv_sec - t0.tv_sec > 5 || poll(&pfd, 1, 1000) != 1)
			break;
		while (recv(c4, reply, sizeof(reply), MSG_DONTWAIT) == 16)
			got++;
	}
	assert_int_equal(got, BURST);

	/* IPv6. */
	if (s6 >= 0) {
		c6 = udp_socket(AF_INET6);
		n = exchange(c6, &srv6, pkt, mk_connect(pkt, 41), reply, sizeof(reply), 5000);
		assert_int_equal(n, 16);
		cid = get64(reply + 8);
		n = exchange(c6, &srv6, pkt,
			     mk_announce(pkt, &(struct ann){ .cid = cid,
							     .txid = 42,
							     .torrent = 60,
							     .left = 1,
							     .port = 9001 }),
			     reply, sizeof(reply), 5000);
		assert_int_equal(n, 20);
		assert_int_equal(get32(reply + 12), 1);
		assert_int_equal(get32(reply + 16), 1);
		close(c6);
	}

	/* SIGTERM: the worker returns 0, promptly. */
	kill(pid, SIGTERM);
	for (int i = 0; i < 500; i++) {
		struct pollfd none = { .fd = -1 };

		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
		poll(&none, 1, 10);
	}
	if (!WIFEXITED(status))
		fail_msg("worker did not stop within 5 s of SIGTERM");
	f->child = 0;
	assert_int_equal(WEXITSTATUS(status), 0);
	if (read(errpipe[0], log, sizeof(log) - 1) < 0)
		log[0] = '\0';
	close(errpipe[0]);
	if (!strstr(log, expect_log))
		fail_msg("worker log lacks '%s': '%s'", expect_log, log);

	/* The child's counter block, complete once it has exited. */
	assert_int_equal(b->pid, (uint32_t)pid);
	assert_int_equal(b->generation, 7);
	assert_int_equal(b->backend, expect_backend);
	assert_true(b->heartbeat > 0);
	assert_int_equal(counters_read(b, COUNTERS_FAM_IPV4, COUNTERS_drop_truncated), 1);
	assert_int_equal(counters_read(b, COUNTERS_FAM_IPV4, COUNTERS_connect), 2 + BURST);
	assert_int_equal(counters_read(b, COUNTERS_FAM_IPV4, COUNTERS_tx_packets), 5 + BURST);
	assert_int_equal(counters_read(b, COUNTERS_FAM_IPV4, COUNTERS_tx_bytes),
			 16 + 20 + 2 * (8 + 12 * 74) + 16 + BURST * 16);
	assert_int_equal(counters_read(b, COUNTERS_FAM_IPV4, COUNTERS_drop_send_full), 0);
	if (expect_backend == 1 && ring_entries < BURST)
		assert_true(counters_read(b, COUNTERS_FAM_IPV4, COUNTERS_rx_nobufs) >= 1);

	if (s6 >= 0) {
		assert_int_equal(counters_read(b, COUNTERS_FAM_IPV6, COUNTERS_connect), 1);
		assert_int_equal(counters_read(b, COUNTERS_FAM_IPV6, COUNTERS_tx_packets), 2);
	}
	close(c4);
	close(s4);
	if (s6 >= 0)
		close(s6);
}

static void test_loop_mmsg(void **state)
{
	run_loop_test(*state, CONF_BACKEND_MMSG, 64, 2, false, "with recvmmsg/sendmmsg");
}

/*
 * Under valgrind (TRACKERD_UNDER_VALGRIND, tests/run-valgrind.sh) an io_uring
 * worker serves but does not see its SIGTERM while it waits in
 * io_uring_enter(), so the io_uring loop tests are skipped there.
 */
static bool uring_loop_testable(void)
{
	return uring_works() && !getenv("TRACKERD_UNDER_VALGRIND");
}

static void test_loop_uring(void **state)
{
	if (!uring_loop_testable())
		skip();
	/* 64 buffers and slots: the burst of 200 runs the buffer ring dry. */
	run_loop_test(*state, CONF_BACKEND_IO_URING, 64, 1, false, "with io_uring");
}

static void test_loop_auto(void **state)
{
	/* auto: io_uring where it works, else the fallback. */
	if (uring_works() && !uring_loop_testable())
		skip();
	run_loop_test(*state, CONF_BACKEND_AUTO, 512, uring_works() ? 1 : 2, false, "serving");
}

static void test_loop_auto_fallback(void **state)
{
	/* auto where io_uring is forbidden: the fallback serves, and says why once. */
	run_loop_test(*state, CONF_BACKEND_AUTO, 512, 2, true,
		      "io_uring unavailable (not permitted");
}

static void test_uring_required_but_denied(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_storage srv4;
	int s4 = bound(AF_INET, &srv4);
	char log[4096] = "";
	int errpipe[2], status = -1;
	pid_t pid;

	f->conf.io_backend = CONF_BACKEND_IO_URING;
	assert_int_equal(pipe2(errpipe, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct worker_params p = {
			.slot = 5,
			.cpu = -1,
			.conf = &f->conf,
			.seg = f->seg,
			.stop = &child_stop,
		};

		dup2(errpipe[1], STDERR_FILENO);
		deny_io_uring();
		p.fds[p.nfds++] = s4;
		_exit(worker_run(&p));
	}
	f->child = pid;
	close(errpipe[1]);
	/* The child fails at setup, so its exit closes the pipe: no timeout needed. */
	while (strlen(log) < sizeof(log) - 1 &&
	       read(errpipe[0], log + strlen(log), sizeof(log) - 1 - strlen(log)) > 0)
		;
	close(errpipe[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	f->child = 0;
	assert_true(WIFEXITED(status));
	assert_int_not_equal(WEXITSTATUS(status), 0);
	if (!strstr(log, "io_backend=io_uring but io_uring cannot be set up"))
		fail_msg("no clear log line: '%s'", log);
	assert_int_equal(segment_counters(f->seg, 5)->backend, 0);
	close(s4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_connect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_announce_seeder_leecher, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ipv6_and_mapped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_connection_ids, setup, teardown),
		cmocka_unit_test_setup_teardown(test_port_zero_and_no_hashes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scrape, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_source_port_zero, setup, teardown),
		cmocka_unit_test_setup_teardown(test_numwant, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loop_mmsg, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loop_uring, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loop_auto, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loop_auto_fallback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uring_required_but_denied, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
