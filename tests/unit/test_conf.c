/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/test_conf.c - configuration table, parser, overrides, printer.
 *
 * Through the public header only. Files are written with mkstemp() under
 * $TMPDIR (or /tmp) and removed by the test that made them. The expected
 * key list below is written out by hand on purpose: it is the documented
 * set, so a key added to or dropped from the table without the docs fails
 * here.
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
#include <syslog.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/conf.h"
#include "shm/segment.h"

static const char *const all_keys[] = {
	"listen_ipv4",
	"listen_ipv6",
	"ipv6_only",
	"workers",
	"io_backend",
	"socket_recv_buffer",
	"socket_send_buffer",
	"ring_entries",
	"control_socket",
	"state_directory",
	"announce_interval",
	"peer_max_age",
	"numwant_default",
	"numwant_max",
	"scrape_max",
	"connid_max_age",
	"max_torrents",
	"max_peers",
	"max_peers_ipv6",
	"huge_pages",
	"cleaning_interval",
	"torrent_keep",
	"stats_interval",
	"log_level",
	"metrics_listen",
	"tracker_url",
	"homepage_url",
	"stats_html_path",
	"snapshot_interval",
	"access_list_mode",
	"access_list_path",
	"access_list_max",
	"user",
	"group",
	"seccomp",
	"ratelimit_requests_per_second",
	"ratelimit_burst",
	"ratelimit_slots",
	"source_ipv4_prefix",
	"source_ipv6_prefix",
	"max_peers_per_source",
	"limits_exempt",
	"ban_max",
};
#define NKEYS (sizeof(all_keys) / sizeof(all_keys[0]))

/* --- helpers ----------------------------------------------------------- */

/* Write len bytes to a new temporary file; its name goes to path. */
static void write_tmp(const char *data, size_t len, char path[static 256])
{
	const char *dir = getenv("TMPDIR");
	size_t off = 0;
	int fd;

	snprintf(path, 256, "%s/test_conf.XXXXXX", dir && *dir ? dir : "/tmp");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	while (off < len) {
		ssize_t n = write(fd, data + off, len - off);

		assert_true(n > 0);
		off += (size_t)n;
	}
	assert_int_equal(close(fd), 0);
}

/* Load text as a file over *c; returns conf_load_file()'s result. */
static int load_text(struct conf *c, const char *text, char *err, size_t errlen, char *ret_path)
{
	char path[256];
	int r;

	write_tmp(text, strlen(text), path);
	r = conf_load_file(c, path, err, errlen);
	if (ret_path)
		strcpy(ret_path, path);
	unlink(path);
	return r;
}

/* Set one key through -o on top of defaults; returns the result. */
static int set1(struct conf *c, const char *kv)
{
	char err[CONF_ERR_MAX];

	conf_defaults(c);
	return conf_set_option(c, kv, err, sizeof(err));
}

static char *print_conf(const struct conf *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	conf_print(c, f);
	assert_int_equal(fclose(f), 0);
	return buf;
}

/* Two configurations are equal when every key prints the same value. */
static void assert_conf_equal(const struct conf *a, const struct conf *b)
{
	char *pa = print_conf(a), *pb = print_conf(b);

	assert_string_equal(pa, pb);
	free(pa);
	free(pb);
}

static void assert_starts_with(const char *s, const char *prefix)
{
	if (strncmp(s, prefix, strlen(prefix)) != 0)
		fail_msg("'%s' does not start with '%s'", s, prefix);
}

static void assert_contains(const char *s, const char *needle)
{
	if (!strstr(s, needle))
		fail_msg("'%s' does not contain '%s'", s, needle);
}

/* --- defaults ---------------------------------------------------------- */

static void test_defaults(void **state)
{
	struct conf c;
	char a[INET6_ADDRSTRLEN];

	(void)state;
	memset(&c, 0xa5, sizeof(c));
	conf_defaults(&c);
	assert_true(c.listen4_enabled);
	assert_int_equal(c.listen4.sin_family, AF_INET);
	assert_int_equal(ntohs(c.listen4.sin_port), 6969);
	assert_int_equal(c.listen4.sin_addr.s_addr, htonl(INADDR_ANY));
	assert_true(c.listen6_enabled);
	assert_int_equal(c.listen6.sin6_family, AF_INET6);
	assert_int_equal(ntohs(c.listen6.sin6_port), 6969);
	inet_ntop(AF_INET6, &c.listen6.sin6_addr, a, sizeof(a));
	assert_string_equal(a, "::");
	assert_true(c.ipv6_only);
	assert_int_equal(c.workers, 0);
	assert_int_equal(c.io_backend, CONF_BACKEND_AUTO);
	assert_int_equal(c.socket_recv_buffer, 8388608);
	assert_int_equal(c.socket_send_buffer, 4194304);
	assert_int_equal(c.ring_entries, 512);
	assert_string_equal(c.control_socket, "/run/trackerd/control.sock");
	assert_string_equal(c.state_directory, "/var/lib/trackerd");
	assert_int_equal(c.announce_interval, 1800);
	assert_int_equal(c.peer_max_age, 2700);
	assert_int_equal(c.numwant_default, 50);
	assert_int_equal(c.numwant_max, 200);
	assert_int_equal(c.scrape_max, 74);
	assert_int_equal(c.connid_max_age, 300);
	assert_int_equal(c.max_torrents, 1000000);
	assert_int_equal(c.max_peers, 4000000);
	assert_int_equal(c.max_peers_ipv6, 1000000);
	assert_int_equal(c.cleaning_interval, 120);
	assert_int_equal(c.torrent_keep, 86400);
	assert_int_equal(c.stats_interval, 0);
	assert_int_equal(c.log_level, LOG_INFO);
}

static void test_defaults_validate(void **state)
{
	char err[CONF_ERR_MAX];
	struct conf c;

	(void)state;
	conf_defaults(&c);
	assert_int_equal(conf_validate(&c, err, sizeof(err)), 0);
}

/* --- value types --------------------------------------------------------- */

static void test_bool(void **state)
{
	static const char *const yes[] = { "yes", "true", "on", "1", "YES", "On" };
	static const char *const no[] = { "no", "false", "off", "0", "No" };
	static const char *const bad[] = { "2", "y", "n", "yess", "enable", "-1", "yes no" };
	char kv[64], err[CONF_ERR_MAX];
	struct conf c;

	(void)state;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		snprintf(kv, sizeof(kv), "ipv6_only=%s", yes[i]);
		conf_defaults(&c);
		c.ipv6_only = false;
		assert_int_equal(conf_set_option(&c, kv, err, sizeof(err)), 0);
		assert_true(c.ipv6_only);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		snprintf(kv, sizeof(kv), "ipv6_only=%s", no[i]);
		assert_int_equal(set1(&c, kv), 0);
		assert_false(c.ipv6_only);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(kv, sizeof(kv), "ipv6_only=%s", bad[i]);
		assert_int_equal(set1(&c, kv), -EINVAL);
	}
}

struct num_case {
	const char *kv;
	int ok;
	uint64_t want;
};

/* Check each case against the field read by get(). */
static void run_num_cases(const struct num_case *t, size_t n, uint64_t (*get)(const struct conf *))
{
	for (size_t i = 0; i < n; i++) {
		char err[CONF_ERR_MAX] = "";
		struct conf c;
		int r;

		conf_defaults(&c);
		r = conf_set_option(&c, t[i].kv, err, sizeof(err));
		if (t[i].ok) {
			if (r != 0)
				fail_msg("'%s' refused: %s", t[i].kv, err);
			if (get(&c) != t[i].want)
				fail_msg("'%s' gave %llu, want %llu", t[i].kv,
					 (unsigned long long)get(&c),
					 (unsigned long long)t[i].want);
		} else {
			if (r != -EINVAL)
				fail_msg("'%s' accepted (%llu)", t[i].kv,
					 (unsigned long long)get(&c));
			assert_starts_with(err, "-o: key '");
		}
	}
}

static uint64_t get_workers(const struct conf *c)
{
	return c->workers;
}

static void test_uint(void **state)
{
	static const struct num_case t[] = {
		{ "workers=0", 1, 0 },		{ "workers=1", 1, 1 },
		{ "workers=256", 1, 256 },	{ "workers=0007", 1, 7 },
		{ "workers=257", 0, 0 },	{ "workers=-1", 0, 0 },
		{ "workers=+1", 0, 0 },		{ "workers=0x10", 0, 0 },
		{ "workers=1 2", 0, 0 },	{ "workers=4k", 0, 0 },
		{ "workers=abc", 0, 0 },	{ "workers=1.5", 0, 0 },
		{ "workers=4294967296", 0, 0 }, { "workers=99999999999999999999", 0, 0 },
	};

	(void)state;
	run_num_cases(t, sizeof(t) / sizeof(t[0]), get_workers);
}

static uint64_t get_numwant_default(const struct conf *c)
{
	return c->numwant_default;
}

static uint64_t get_scrape_max(const struct conf *c)
{
	return c->scrape_max;
}

static void test_protocol_limits(void **state)
{
	static const struct num_case nw[] = {
		{ "numwant_default=1", 1, 1 },
		{ "numwant_default=0", 0, 0 },
		{ "numwant_default=242", 1, 242 },
		{ "numwant_default=243", 0, 0 },
	};
	static const struct num_case sm[] = {
		{ "scrape_max=1", 1, 1 },
		{ "scrape_max=74", 1, 74 },
		{ "scrape_max=75", 0, 0 },
		{ "scrape_max=0", 0, 0 },
	};

	(void)state;
	run_num_cases(nw, sizeof(nw) / sizeof(nw[0]), get_numwant_default);
	run_num_cases(sm, sizeof(sm) / sizeof(sm[0]), get_scrape_max);
}

static uint64_t get_ring(const struct conf *c)
{
	return c->ring_entries;
}

static void test_ring_entries_power_of_two(void **state)
{
	static const struct num_case t[] = {
		{ "ring_entries=64", 1, 64 },	    { "ring_entries=1024", 1, 1024 },
		{ "ring_entries=32768", 1, 32768 }, { "ring_entries=32", 0, 0 },
		{ "ring_entries=65536", 0, 0 },	    { "ring_entries=100", 0, 0 },
		{ "ring_entries=0", 0, 0 },	    { "ring_entries=513", 0, 0 },
	};
	char err[CONF_ERR_MAX];
	struct conf c;

	(void)state;
	run_num_cases(t, sizeof(t) / sizeof(t[0]), get_ring);
	conf_defaults(&c);
	assert_int_equal(conf_set_option(&c, "ring_entries=100", err, sizeof(err)), -EINVAL);
	assert_contains(err, "power of two");
	assert_contains(err, "64..32768");
}

static uint64_t get_announce(const struct conf *c)
{
	return c->announce_interval;
}

static uint64_t get_peer_age(const struct conf *c)
{
	return c->peer_max_age;
}

static uint64_t get_torrent_keep(const struct conf *c)
{
	return c->torrent_keep;
}

static void test_seconds(void **state)
{
	static const struct num_case ai[] = {
		{ "announce_interval=60", 1, 60 },
		{ "announce_interval=59", 0, 0 },
		{ "announce_interval=86400", 1, 86400 },
		{ "announce_interval=86401", 0, 0 },
		{ "announce_interval=30m", 1, 1800 },
		{ "announce_interval=1h", 1, 3600 },
		{ "announce_interval=90s", 1, 90 },
		{ "announce_interval=1d", 1, 86400 },
		{ "announce_interval=2d", 0, 0 },
		{ "announce_interval=1m", 1, 60 },
		{ "announce_interval=30M", 0, 0 },
		{ "announce_interval=30 m", 0, 0 },
		{ "announce_interval=30ms", 0, 0 },
		{ "announce_interval=h", 0, 0 },
		{ "announce_interval=99999999999999999999", 0, 0 },
		{ "announce_interval=307445734561825861m", 0, 0 },
	};
	static const struct num_case pa[] = {
		{ "peer_max_age=12h", 1, 43200 },
		{ "peer_max_age=43201", 0, 0 },
	};
	static const struct num_case tk[] = {
		{ "torrent_keep=0", 1, 0 },
		{ "torrent_keep=365d", 1, 31536000 },
		{ "torrent_keep=366d", 0, 0 },
	};

	(void)state;
	run_num_cases(ai, sizeof(ai) / sizeof(ai[0]), get_announce);
	run_num_cases(pa, sizeof(pa) / sizeof(pa[0]), get_peer_age);
	run_num_cases(tk, sizeof(tk) / sizeof(tk[0]), get_torrent_keep);
}

static uint64_t get_recvbuf(const struct conf *c)
{
	return c->socket_recv_buffer;
}

static void test_bytes(void **state)
{
	static const struct num_case t[] = {
		{ "socket_recv_buffer=8M", 1, 8388608 },
		{ "socket_recv_buffer=16K", 1, 16384 },
		{ "socket_recv_buffer=16k", 1, 16384 },
		{ "socket_recv_buffer=1G", 1, 1073741824 },
		{ "socket_recv_buffer=1073741824", 1, 1073741824 },
		{ "socket_recv_buffer=1073741825", 0, 0 },
		{ "socket_recv_buffer=1025M", 0, 0 },
		{ "socket_recv_buffer=0", 1, 0 },
		{ "socket_recv_buffer=212992", 1, 212992 },
		{ "socket_recv_buffer=8MB", 0, 0 },
		{ "socket_recv_buffer=8m", 0, 0 },
		{ "socket_recv_buffer=8T", 0, 0 },
		{ "socket_recv_buffer=M", 0, 0 },
		{ "socket_recv_buffer=17179869184G", 0, 0 },
		{ "socket_recv_buffer=99999999999999999999", 0, 0 },
	};

	(void)state;
	run_num_cases(t, sizeof(t) / sizeof(t[0]), get_recvbuf);
}

static uint64_t get_max_torrents(const struct conf *c)
{
	return c->max_torrents;
}

static uint64_t get_max_peers(const struct conf *c)
{
	return c->max_peers;
}

static uint64_t get_max_peers6(const struct conf *c)
{
	return c->max_peers_ipv6;
}

static void test_counts(void **state)
{
	static const struct num_case mt[] = {
		{ "max_torrents=4M", 1, 4000000 },
		{ "max_torrents=1k", 1, 1000 },
		{ "max_torrents=1K", 1, 1000 },
		{ "max_torrents=999", 0, 0 },
		{ "max_torrents=1G", 1, 1000000000 },
		{ "max_torrents=1000000001", 0, 0 },
		{ "max_torrents=2G", 0, 0 },
		{ "max_torrents=1500", 1, 1500 },
		{ "max_torrents=4m", 0, 0 },
		{ "max_torrents=4Mi", 0, 0 },
		{ "max_torrents=99999999999999999999", 0, 0 },
		{ "max_torrents=18446744073709551615", 0, 0 },
		{ "max_torrents=18446744073709552G", 0, 0 },
	};
	static const struct num_case mp[] = {
		{ "max_peers=4G", 1, 4000000000ull },
		{ "max_peers=4000000001", 0, 0 },
		{ "max_peers=5G", 0, 0 },
		{ "max_peers=1k", 1, 1000 },
	};
	static const struct num_case m6[] = {
		{ "max_peers_ipv6=0", 1, 0 },
		{ "max_peers_ipv6=1G", 1, 1000000000 },
		{ "max_peers_ipv6=1000000001", 0, 0 },
	};

	(void)state;
	run_num_cases(mt, sizeof(mt) / sizeof(mt[0]), get_max_torrents);
	run_num_cases(mp, sizeof(mp) / sizeof(mp[0]), get_max_peers);
	run_num_cases(m6, sizeof(m6) / sizeof(m6[0]), get_max_peers6);
}

static void test_range_message(void **state)
{
	char err[CONF_ERR_MAX];
	struct conf c;

	(void)state;
	conf_defaults(&c);
	assert_int_equal(conf_set_option(&c, "max_torrents=2G", err, sizeof(err)), -EINVAL);
	assert_string_equal(err,
			    "-o: key 'max_torrents': value '2G' out of range, expected 1k..1G");
	assert_int_equal(conf_set_option(&c, "announce_interval=5", err, sizeof(err)), -EINVAL);
	assert_contains(err, "60..86400");
	assert_int_equal(conf_set_option(&c, "socket_send_buffer=x", err, sizeof(err)), -EINVAL);
	assert_contains(err, "0..1G");
	/* Long garbage is quoted, but not all of it. */
	char kv[600];
	memset(kv, 'x', sizeof(kv));
	memcpy(kv, "workers=", 8);
	kv[sizeof(kv) - 1] = 0;
	assert_int_equal(conf_set_option(&c, kv, err, sizeof(err)), -EINVAL);
	assert_true(strlen(err) < 200);
}

static void test_enum(void **state)
{
	char err[CONF_ERR_MAX];
	struct conf c;

	(void)state;
	assert_int_equal(set1(&c, "io_backend=io_uring"), 0);
	assert_int_equal(c.io_backend, CONF_BACKEND_IO_URING);
	assert_int_equal(set1(&c, "io_backend=mmsg"), 0);
	assert_int_equal(c.io_backend, CONF_BACKEND_MMSG);
	assert_int_equal(set1(&c, "io_backend=MMSG"), 0);
	assert_int_equal(c.io_backend, CONF_BACKEND_MMSG);
	c.io_backend = CONF_BACKEND_MMSG;
	assert_int_equal(conf_set_option(&c, "io_backend=auto", err, sizeof(err)), 0);
	assert_int_equal(c.io_backend, CONF_BACKEND_AUTO);
	assert_int_equal(conf_set_option(&c, "io_backend=epoll", err, sizeof(err)), -EINVAL);
	assert_contains(err, "auto, io_uring or mmsg");
	assert_int_equal(set1(&c, "io_backend=io_uring2"), -EINVAL);
	assert_int_equal(set1(&c, "io_backend=0"), -EINVAL);
	assert_int_equal(set1(&c, "huge_pages=no"), 0);
	assert_int_equal(c.huge_pages, CONF_HUGE_NO);
	assert_int_equal(set1(&c, "huge_pages=yes"), 0);
	assert_int_equal(c.huge_pages, CONF_HUGE_YES);
	assert_int_equal(conf_set_option(&c, "huge_pages=auto", err, sizeof(err)), 0);
	assert_int_equal(c.huge_pages, CONF_HUGE_AUTO);
	assert_int_equal(conf_set_option(&c, "huge_pages=maybe", err, sizeof(err)), -EINVAL);
	assert_contains(err, "auto, yes or no");

	static const struct {
		const char *name;
		int level;
	} lv[] = {
		{ "err", LOG_ERR },   { "warning", LOG_WARNING }, { "notice", LOG_NOTICE },
		{ "info", LOG_INFO }, { "debug", LOG_DEBUG },
	};
	for (size_t i = 0; i < sizeof(lv) / sizeof(lv[0]); i++) {
		char kv[64];

		snprintf(kv, sizeof(kv), "log_level=%s", lv[i].name);
		assert_int_equal(set1(&c, kv), 0);
		assert_int_equal(c.log_level, lv[i].level);
		assert_int_equal(conf_parse_log_level(lv[i].name), lv[i].level);
	}
	assert_int_equal(set1(&c, "log_level=trace"), -EINVAL);
	assert_int_equal(set1(&c, "log_level=7"), -EINVAL);
	assert_true(conf_parse_log_level("verbose") < 0);
	assert_true(conf_parse_log_level("") < 0);
}

static void test_segment_params(void **state)
{
	struct segment_params sp;
	struct conf c;

	(void)state;
	conf_defaults(&c);
	c.max_torrents = 123000;
	c.max_peers = 456000;
	c.max_peers_ipv6 = 7000;
	c.access_list_max = 8000;
	c.ratelimit_slots = 9000;
	c.ban_max = 1000;
	conf_segment_params(&c, &sp);
	assert_int_equal(sp.max_torrents, 123000);
	assert_int_equal(sp.max_peers4, 456000);
	assert_int_equal(sp.max_peers6, 7000);
	assert_int_equal(sp.max_access, 8000);
	assert_int_equal(sp.ratelimit_slots, 9000);
	assert_int_equal(sp.ban_max, 1000);
}

static void test_path(void **state)
{
	char kv[CONF_PATH_MAX + 64], err[CONF_ERR_MAX];
	struct conf c;
	size_t n;

	(void)state;
	assert_int_equal(set1(&c, "state_directory=/srv/tracker state"), 0);
	assert_string_equal(c.state_directory, "/srv/tracker state");
	assert_int_equal(set1(&c, "state_directory=var/lib/trackerd"), -EINVAL);
	assert_int_equal(set1(&c, "state_directory=~/x"), -EINVAL);
	conf_defaults(&c);
	assert_int_equal(conf_set_option(&c, "control_socket=run/x.sock", err, sizeof(err)),
			 -EINVAL);
	assert_contains(err, "not an absolute path");

	/* state_directory: up to CONF_PATH_MAX - 1 characters. */
	n = (size_t)snprintf(kv, sizeof(kv), "state_directory=/");
	while (n < strlen("state_directory=") + CONF_PATH_MAX - 1)
		kv[n++] = 'a';
	kv[n] = 0;
	assert_int_equal(set1(&c, kv), 0);
	assert_int_equal(strlen(c.state_directory), CONF_PATH_MAX - 1);
	kv[n++] = 'a';
	kv[n] = 0;
	assert_int_equal(set1(&c, kv), -EINVAL);

	/* control_socket must fit sun_path: 107 characters. */
	n = (size_t)snprintf(kv, sizeof(kv), "control_socket=/");
	while (n < strlen("control_socket=") + 107)
		kv[n++] = 's';
	kv[n] = 0;
	assert_int_equal(set1(&c, kv), 0);
	assert_int_equal(strlen(c.control_socket), 107);
	kv[n++] = 's';
	kv[n] = 0;
	assert_int_equal(set1(&c, kv), -EINVAL);

	assert_int_equal(set1(&c, "state_directory=/a\x01b"), -EINVAL);
}

static void test_listen4(void **state)
{
	char a[INET_ADDRSTRLEN];
	struct conf c;
	static const char *const bad[] = {
		"1.2.3:80",	  "1.2.3.4",	   "1.2.3.4:",	   "1.2.3.4:0",	   "1.2.3.4:65536",
		"1.2.3.4:80x",	  "[::1]:80",	   "localhost:80", "256.1.1.1:80", ":6969",
		"1.2.3.4:-1",	  "01.2.3.4:80",   "1.2.3.4:+80",  "*:6969",	   "1.2.3.4:6969:1",
		"1.2.3.4.5:6969", "1.2.3.4 :6969", "nonE1",
	};
	char kv[64];

	(void)state;
	assert_int_equal(set1(&c, "listen_ipv4=127.0.0.1:6970"), 0);
	assert_true(c.listen4_enabled);
	assert_int_equal(c.listen4.sin_family, AF_INET);
	assert_int_equal(ntohs(c.listen4.sin_port), 6970);
	inet_ntop(AF_INET, &c.listen4.sin_addr, a, sizeof(a));
	assert_string_equal(a, "127.0.0.1");
	assert_int_equal(set1(&c, "listen_ipv4=10.0.0.1:65535"), 0);
	assert_int_equal(ntohs(c.listen4.sin_port), 65535);
	assert_int_equal(set1(&c, "listen_ipv4=10.0.0.1:1"), 0);
	assert_int_equal(ntohs(c.listen4.sin_port), 1);
	assert_int_equal(set1(&c, "listen_ipv4=none"), 0);
	assert_false(c.listen4_enabled);
	assert_int_equal(set1(&c, "listen_ipv4=NONE"), 0);
	assert_false(c.listen4_enabled);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(kv, sizeof(kv), "listen_ipv4=%s", bad[i]);
		if (set1(&c, kv) != -EINVAL)
			fail_msg("'%s' accepted", kv);
	}
}

static void test_listen6(void **state)
{
	char a[INET6_ADDRSTRLEN], err[CONF_ERR_MAX];
	struct conf c;
	static const char *const bad[] = {
		"::1:6969",
		"[::1]",
		"[::1]:",
		"[::1]:0",
		"[::1]:65536",
		"[::1]6969",
		"[zz::1]:6969",
		"127.0.0.1:6969",
		"[::1:6969",
		"::1]:6969",
		"[::ffff:1.2.3.4]:1",
		"[fe80::1%lo]:1",
		"[]:6969",
		"[::1]:80x",
		"[1:2:3:4:5:6:7:8:9]:1",
	};
	char kv[80];

	(void)state;
	assert_int_equal(set1(&c, "listen_ipv6=[::1]:6970"), 0);
	assert_true(c.listen6_enabled);
	assert_int_equal(c.listen6.sin6_family, AF_INET6);
	assert_int_equal(ntohs(c.listen6.sin6_port), 6970);
	inet_ntop(AF_INET6, &c.listen6.sin6_addr, a, sizeof(a));
	assert_string_equal(a, "::1");
	assert_int_equal(set1(&c, "listen_ipv6=[2001:db8::42]:1"), 0);
	inet_ntop(AF_INET6, &c.listen6.sin6_addr, a, sizeof(a));
	assert_string_equal(a, "2001:db8::42");
	assert_int_equal(set1(&c, "listen_ipv6=none"), 0);
	assert_false(c.listen6_enabled);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(kv, sizeof(kv), "listen_ipv6=%s", bad[i]);
		if (set1(&c, kv) != -EINVAL)
			fail_msg("'%s' accepted", kv);
	}
	conf_defaults(&c);
	assert_int_equal(conf_set_option(&c, "listen_ipv6=[::1]:0", err, sizeof(err)), -EINVAL);
	assert_string_equal(err,
			    "-o: key 'listen_ipv6': invalid port in '[::1]:0', expected 1..65535");
}

/* --- files ---------------------------------------------------------------- */

static void test_file_good(void **state)
{
	char err[CONF_ERR_MAX] = "";
	struct conf c;

	(void)state;
	conf_defaults(&c);
	assert_int_equal(load_text(&c,
				   "# trackerd test\n"
				   "\n"
				   "   \t\n"
				   "workers = 3\n"
				   "\tlog_level=debug   \n"
				   "numwant_max   =   100 # trailing comment\n"
				   "scrape_max = 10\t# tab before the comment\n"
				   "state_directory = /srv/a#b\n"
				   "  # indented comment = 5\n"
				   "announce_interval = 15m\r\n"
				   "max_torrents = 2M",
				   err, sizeof(err), NULL),
			 0);
	assert_int_equal(c.workers, 3);
	assert_int_equal(c.log_level, LOG_DEBUG);
	assert_int_equal(c.numwant_max, 100);
	assert_int_equal(c.scrape_max, 10);
	assert_string_equal(c.state_directory, "/srv/a#b");
	assert_int_equal(c.announce_interval, 900);
	assert_int_equal(c.max_torrents, 2000000);
	/* Untouched keys keep their values. */
	assert_int_equal(c.peer_max_age, 2700);
}

static void test_file_empty(void **state)
{
	char err[CONF_ERR_MAX];
	struct conf c, d;

	(void)state;
	conf_defaults(&c);
	conf_defaults(&d);
	assert_int_equal(load_text(&c, "", err, sizeof(err), NULL), 0);
	assert_conf_equal(&c, &d);
	assert_int_equal(load_text(&c, "# only comments\n\n#x = 1\n", err, sizeof(err), NULL), 0);
	assert_conf_equal(&c, &d);
}

/* Each bad file gives -EINVAL and a message starting "PATH:LINE: key 'KEY': ". */
static void test_file_errors(void **state)
{
	static const struct {
		const char *text;
		unsigned line;
		const char *key; /* NULL: the message names no key */
		const char *reason;
	} t[] = {
		{ "workers = 2\nbogus_key = 1\n", 2, "bogus_key", "unknown key" },
		{ "Workers = 2\n", 1, "Workers", "unknown key" },
		{ "\n\n\nworkers = 300\n", 4, "workers", "out of range" },
		{ "workers 2\n", 1, "workers", "missing '='" },
		{ "workers\n", 1, "workers", "missing '='" },
		{ "workers =\n", 1, "workers", "missing value" },
		{ "workers = # nothing\n", 1, "workers", "missing value" },
		{ "= 5\n", 1, NULL, "missing key" },
		{ "workers = 2\nlog_level = info\nworkers = 3\n", 3, "workers",
		  "already set on line 1" },
		{ "ipv6_only = maybe\n", 1, "ipv6_only", "invalid boolean 'maybe'" },
		{ "log_level = loud\n", 1, "log_level",
		  "expected err, warning, notice, info or debug" },
		{ "listen_ipv4 = 1.2.3.4\n", 1, "listen_ipv4", "A.B.C.D:PORT" },
		{ "workers = 2#x\n", 1, "workers", "invalid number '2#x'" },
		{ "max_peers = 99999999999999999999\n", 1, "max_peers", "out of range" },
	};
	char err[CONF_ERR_MAX], path[256], want[512];
	struct conf c, d;

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		conf_defaults(&c);
		conf_defaults(&d);
		err[0] = 0;
		assert_int_equal(load_text(&c, t[i].text, err, sizeof(err), path), -EINVAL);
		if (t[i].key)
			snprintf(want, sizeof(want), "%s:%u: key '%s': ", path, t[i].line,
				 t[i].key);
		else
			snprintf(want, sizeof(want), "%s:%u: ", path, t[i].line);
		assert_starts_with(err, want);
		assert_contains(err, t[i].reason);
		assert_conf_equal(&c, &d);
	}
}

static void test_file_line_limits(void **state)
{
	char err[CONF_ERR_MAX], path[256], want[300];
	char *text = malloc(4096);
	struct conf c;
	size_t n;

	(void)state;
	assert_non_null(text);
	/* A 1024-character line is fine: a comment padded out. */
	n = (size_t)snprintf(text, 4096, "workers = 2 #");
	while (n < 1024)
		text[n++] = 'x';
	text[n++] = '\n';
	text[n] = 0;
	conf_defaults(&c);
	assert_int_equal(load_text(&c, text, err, sizeof(err), NULL), 0);
	assert_int_equal(c.workers, 2);
	/* One more character is an error on that line. */
	memmove(text + 12, text + 11, n - 11 + 1);
	text[11] = ' ';
	conf_defaults(&c);
	assert_int_equal(load_text(&c, text, err, sizeof(err), path), -EINVAL);
	snprintf(want, sizeof(want), "%s:1: line too long", path);
	assert_starts_with(err, want);
	assert_int_equal(c.workers, 0);

	/* A NUL byte inside a line. */
	static const char nul[] = "workers = 1\nworkers\0 = 2\n";
	write_tmp(nul, sizeof(nul) - 1, path);
	assert_int_equal(conf_load_file(&c, path, err, sizeof(err)), -EINVAL);
	unlink(path);
	snprintf(want, sizeof(want), "%s:2: ", path);
	assert_starts_with(err, want);
	assert_contains(err, "NUL");
	free(text);
}

static void test_file_too_large(void **state)
{
	size_t len = (1u << 20) + 1;
	char err[CONF_ERR_MAX], path[256];
	char *text = malloc(len);
	struct conf c;

	(void)state;
	assert_non_null(text);
	/* Blank lines only: valid, except for the size. */
	memset(text, '\n', len);
	write_tmp(text, len, path);
	conf_defaults(&c);
	assert_int_equal(conf_load_file(&c, path, err, sizeof(err)), -EFBIG);
	assert_starts_with(err, path);
	assert_contains(err, "too large");
	unlink(path);
	/* Exactly at the limit is accepted. */
	write_tmp(text, len - 1, path);
	assert_int_equal(conf_load_file(&c, path, err, sizeof(err)), 0);
	unlink(path);
	free(text);
}

static void test_file_missing_or_not_regular(void **state)
{
	char err[CONF_ERR_MAX], path[256];
	const char *dir = getenv("TMPDIR");
	struct conf c;

	(void)state;
	conf_defaults(&c);
	assert_int_equal(conf_load_file(&c, "/nonexistent/trackerd.conf", err, sizeof(err)),
			 -ENOENT);
	assert_starts_with(err, "/nonexistent/trackerd.conf: ");
	snprintf(path, sizeof(path), "%s", dir && *dir ? dir : "/tmp");
	assert_int_equal(conf_load_file(&c, path, err, sizeof(err)), -EINVAL);
	assert_contains(err, "not a regular file");
}

/* A bad line after good ones leaves every field as it was. */
static void test_failed_load_changes_nothing(void **state)
{
	char err[CONF_ERR_MAX];
	struct conf c, before;

	(void)state;
	conf_defaults(&c);
	c.workers = 7;
	c.max_peers = 12345;
	strcpy(c.state_directory, "/before");
	before = c;
	assert_int_equal(load_text(&c,
				   "workers = 2\nmax_peers = 9M\nstate_directory = /after\n"
				   "listen_ipv4 = none\nnumwant_max = 0\n",
				   err, sizeof(err), NULL),
			 -EINVAL);
	assert_int_equal(c.workers, 7);
	assert_int_equal(c.max_peers, 12345);
	assert_string_equal(c.state_directory, "/before");
	assert_true(c.listen4_enabled);
	assert_conf_equal(&c, &before);

	/* Same for a bad override and a bad conf_load(). */
	assert_int_equal(conf_set_option(&c, "workers=1000", err, sizeof(err)), -EINVAL);
	assert_conf_equal(&c, &before);
	const char *ov[] = { "workers=3", "bogus=1" };
	assert_int_equal(conf_load(&c, NULL, ov, 2, err, sizeof(err)), -EINVAL);
	assert_conf_equal(&c, &before);
}

/* --- overrides and conf_load ------------------------------------------- */

static void test_override(void **state)
{
	char err[CONF_ERR_MAX], path[256];
	const char *text = "workers = 2\nnumwant_max = 100\n";
	const char *ov[] = { "workers=5", " log_level = debug ", "workers=6" };
	struct conf c;

	(void)state;
	write_tmp(text, strlen(text), path);
	memset(&c, 0, sizeof(c));
	assert_int_equal(conf_load(&c, path, ov, 3, err, sizeof(err)), 0);
	assert_int_equal(c.workers, 6); /* overrides win over the file, last one wins */
	assert_int_equal(c.numwant_max, 100);
	assert_int_equal(c.log_level, LOG_DEBUG);
	assert_int_equal(c.peer_max_age, 2700); /* defaults under both */

	/* Without a path: defaults plus overrides. */
	assert_int_equal(conf_load(&c, NULL, ov, 1, err, sizeof(err)), 0);
	assert_int_equal(c.workers, 5);
	assert_int_equal(c.numwant_max, 200);

	/* A missing file is reported as such, so main can fall back. */
	assert_int_equal(conf_load(&c, "/nonexistent/x.conf", NULL, 0, err, sizeof(err)), -ENOENT);
	unlink(path);
}

static void test_override_errors(void **state)
{
	char err[CONF_ERR_MAX];
	struct conf c;

	(void)state;
	conf_defaults(&c);
	assert_int_equal(conf_set_option(&c, "nope=1", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "-o: key 'nope': unknown key");
	assert_int_equal(conf_set_option(&c, "workers", err, sizeof(err)), -EINVAL);
	assert_starts_with(err, "-o: key 'workers': missing '='");
	assert_int_equal(conf_set_option(&c, "workers=", err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "-o: key 'workers': missing value");
	assert_int_equal(conf_set_option(&c, "=3", err, sizeof(err)), -EINVAL);
	assert_starts_with(err, "-o: missing key");
	assert_int_equal(conf_set_option(&c, "", err, sizeof(err)), -EINVAL);
	assert_int_equal(conf_set_option(&c, "workers=abc", err, sizeof(err)), -EINVAL);
	assert_starts_with(err, "-o: key 'workers': invalid number 'abc'");
}

/* --- validation -------------------------------------------------------- */

static void test_validate(void **state)
{
	char err[CONF_ERR_MAX];
	struct conf c;

	(void)state;
	conf_defaults(&c);
	c.listen4_enabled = false;
	assert_int_equal(conf_validate(&c, err, sizeof(err)), 0);
	c.listen6_enabled = false;
	assert_int_equal(conf_validate(&c, err, sizeof(err)), -EINVAL);
	assert_contains(err, "listen");
	c.listen4_enabled = true;
	assert_int_equal(conf_validate(&c, err, sizeof(err)), 0);

	conf_defaults(&c);
	c.announce_interval = 2699;
	assert_int_equal(conf_validate(&c, err, sizeof(err)), 0);
	c.announce_interval = 2700;
	assert_int_equal(conf_validate(&c, err, sizeof(err)), -EINVAL);
	assert_contains(err, "key 'announce_interval'");
	assert_contains(err, "peer_max_age");

	conf_defaults(&c);
	c.numwant_default = 200;
	assert_int_equal(conf_validate(&c, err, sizeof(err)), 0);
	c.numwant_default = 201;
	assert_int_equal(conf_validate(&c, err, sizeof(err)), -EINVAL);
	assert_contains(err, "key 'numwant_default'");
}

static void test_load_validates(void **state)
{
	const char *ov[] = { "numwant_max=10" },
		   *ov2[] = { "listen_ipv4=none", "listen_ipv6=none" };
	char err[CONF_ERR_MAX], path[256], want[300];
	const char *text = "announce_interval = 1h\n";
	struct conf c;

	(void)state;
	conf_defaults(&c);
	c.workers = 9;
	assert_int_equal(conf_load(&c, NULL, ov, 1, err, sizeof(err)), -EINVAL);
	assert_contains(err, "numwant_default");
	assert_int_equal(conf_load(&c, NULL, ov2, 2, err, sizeof(err)), -EINVAL);
	write_tmp(text, strlen(text), path);
	assert_int_equal(conf_load(&c, path, NULL, 0, err, sizeof(err)), -EINVAL);
	unlink(path);
	snprintf(want, sizeof(want), "%s: key 'announce_interval': 3600", path);
	assert_starts_with(err, want);
	assert_int_equal(c.workers, 9);
}

/* --- reload diff ------------------------------------------------------- */

static void test_keep_restart_keys(void **state)
{
	static const char *const changed[] = {
		"listen_ipv4=none",
		"listen_ipv6=[::1]:7000",
		"ipv6_only=no",
		"socket_recv_buffer=1M",
		"socket_send_buffer=1M",
		"control_socket=/run/x.sock",
		"state_directory=/srv/x",
		"max_torrents=2000",
		"max_peers=3000",
		"max_peers_ipv6=4000",
		"huge_pages=no",
		"access_list_max=5000",
		"user=nobody",
		"group=nogroup",
		"ratelimit_slots=4096",
		"ban_max=100",
	};
	char err[CONF_ERR_MAX], names[512];
	struct conf cur, nc;

	(void)state;
	conf_defaults(&cur);
	conf_defaults(&nc);
	for (size_t i = 0; i < sizeof(changed) / sizeof(changed[0]); i++)
		assert_int_equal(conf_set_option(&nc, changed[i], err, sizeof(err)), 0);
	nc.announce_interval = 600; /* live */
	nc.io_backend = CONF_BACKEND_MMSG; /* live */
	/* Every key that needs a restart differs, so the list above is all of them. */
	assert_int_equal(conf_diff_restart_keys(&cur, &nc, names, sizeof(names)),
			 (int)(sizeof(changed) / sizeof(changed[0])));
	conf_keep_restart_keys(&cur, &nc);
	assert_int_equal(conf_diff_restart_keys(&cur, &nc, names, sizeof(names)), 0);
	assert_true(nc.listen4_enabled);
	assert_int_equal(nc.huge_pages, CONF_HUGE_AUTO);
	assert_int_equal(nc.announce_interval, 600);
	assert_int_equal(nc.io_backend, CONF_BACKEND_MMSG);
}

static void test_diff_restart_keys(void **state)
{
	char names[256], small[12];
	struct conf a, b;

	(void)state;
	conf_defaults(&a);
	conf_defaults(&b);
	strcpy(names, "junk");
	assert_int_equal(conf_diff_restart_keys(&a, &b, names, sizeof(names)), 0);
	assert_string_equal(names, "");

	/* Live keys never count. */
	b.workers = 4;
	b.announce_interval = 600;
	b.log_level = LOG_DEBUG;
	b.io_backend = CONF_BACKEND_MMSG;
	b.ring_entries = 1024;
	assert_int_equal(conf_diff_restart_keys(&a, &b, names, sizeof(names)), 0);
	assert_string_equal(names, "");

	assert_int_equal(conf_set_option(&b, "listen_ipv4=127.0.0.1:6969", names, sizeof(names)),
			 0);
	b.max_peers = 5000;
	b.socket_send_buffer = 0;
	strcpy(b.control_socket, "/run/other.sock");
	assert_int_equal(conf_diff_restart_keys(&a, &b, names, sizeof(names)), 4);
	assert_string_equal(names, "listen_ipv4, socket_send_buffer, control_socket, max_peers");

	/* Enabling/disabling counts as a change; so does the port alone. */
	conf_defaults(&b);
	b.listen6_enabled = false;
	b.listen4.sin_port = htons(6970);
	b.ipv6_only = false;
	b.max_peers_ipv6 = 0;
	b.max_torrents = 2000;
	strcpy(b.state_directory, "/srv");
	b.socket_recv_buffer = 1;
	assert_int_equal(conf_diff_restart_keys(&a, &b, names, sizeof(names)), 7);
	assert_string_equal(names, "listen_ipv4, listen_ipv6, ipv6_only, socket_recv_buffer, "
				   "state_directory, max_torrents, max_peers_ipv6");
	/* A short buffer is truncated and terminated; the count stays right. */
	assert_int_equal(conf_diff_restart_keys(&a, &b, small, sizeof(small)), 7);
	assert_true(strlen(small) < sizeof(small));
	assert_starts_with("listen_ipv4", small);
}

static void test_key_reload(void **state)
{
	(void)state;
	assert_int_equal(conf_key_reload("workers"), CONF_RELOAD_LIVE);
	assert_int_equal(conf_key_reload("log_level"), CONF_RELOAD_LIVE);
	assert_int_equal(conf_key_reload("listen_ipv6"), CONF_RELOAD_SOCKETS);
	assert_int_equal(conf_key_reload("control_socket"), CONF_RELOAD_SOCKETS);
	assert_int_equal(conf_key_reload("max_torrents"), CONF_RELOAD_SEGMENT);
	assert_int_equal(conf_key_reload("bogus"), -EINVAL);
}

/* --- printing ---------------------------------------------------------- */

static void test_print_every_key_once(void **state)
{
	struct conf c;
	char *out, *line, *save = NULL;
	unsigned count[NKEYS] = { 0 };
	unsigned lines = 0;

	(void)state;
	conf_defaults(&c);
	out = print_conf(&c);
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		size_t klen = strspn(line, "abcdefghijklmnopqrstuvwxyz0123456789_");
		bool found = false;

		lines++;
		/* "key = value" at the start of the line, as check-docs.sh reads it. */
		assert_true(klen > 0);
		assert_true(line[klen + strspn(line + klen, " ")] == '=');
		assert_contains(line, "# default: ");
		for (size_t i = 0; i < NKEYS; i++) {
			if (strlen(all_keys[i]) == klen && !strncmp(line, all_keys[i], klen)) {
				count[i]++;
				found = true;
			}
		}
		if (!found)
			fail_msg("undocumented key in: %s", line);
	}
	for (size_t i = 0; i < NKEYS; i++)
		if (count[i] != 1)
			fail_msg("key '%s' printed %u times", all_keys[i], count[i]);
	assert_int_equal(lines, NKEYS);
	free(out);
}

static void test_print_values(void **state)
{
	struct conf c;
	char *out;

	(void)state;
	conf_defaults(&c);
	out = print_conf(&c);
	assert_contains(out, "\nsocket_recv_buffer = 8M ");
	assert_contains(out, "\nmax_peers          = 4M ");
	assert_contains(out, "listen_ipv4        = 0.0.0.0:6969 ");
	assert_contains(out, "\nlisten_ipv6        = [::]:6969 ");
	assert_contains(out, "# default: 1800; ");
	free(out);
}

/* Printed output is a valid file that loads back to the same values. */
static void test_print_roundtrip(void **state)
{
	const char *ov[] = {
		"listen_ipv4=192.0.2.1:1234",
		"listen_ipv6=none",
		"ipv6_only=no",
		"workers=3",
		"io_backend=mmsg",
		"socket_recv_buffer=3000",
		"socket_send_buffer=0",
		"ring_entries=64",
		"control_socket=/tmp/c.sock",
		"state_directory=/srv/t",
		"announce_interval=61",
		"peer_max_age=1h",
		"numwant_default=7",
		"numwant_max=242",
		"scrape_max=1",
		"connid_max_age=2m",
		"max_torrents=123456",
		"max_peers=4G",
		"max_peers_ipv6=0",
		"cleaning_interval=1",
		"torrent_keep=0",
		"stats_interval=60",
		"log_level=warning",
	};
	char err[CONF_ERR_MAX], path[256];
	struct conf a, b;
	char *out;

	(void)state;
	assert_int_equal(conf_load(&a, NULL, ov, sizeof(ov) / sizeof(ov[0]), err, sizeof(err)), 0);
	out = print_conf(&a);
	write_tmp(out, strlen(out), path);
	conf_defaults(&b);
	assert_int_equal(conf_load_file(&b, path, err, sizeof(err)), 0);
	unlink(path);
	assert_conf_equal(&a, &b);
	assert_false(b.listen6_enabled);
	assert_int_equal(b.socket_recv_buffer, 3000);
	assert_int_equal(b.max_peers, 4000000000ull);
	assert_int_equal(b.max_torrents, 123456);
	free(out);
}

/* The metrics endpoint and statistics page keys. */
static void test_metrics_keys(void **state)
{
	char err[CONF_ERR_MAX], *out;
	struct conf c;
	const struct sockaddr_in *a4;
	const struct sockaddr_in6 *a6;

	(void)state;
	conf_defaults(&c);
	assert_false(c.metrics_listen_enabled);
	assert_string_equal(c.tracker_url, "");
	assert_string_equal(c.homepage_url, "");
	assert_string_equal(c.stats_html_path, "");

	assert_int_equal(set1(&c, "metrics_listen = 127.0.0.1:9469"), 0);
	assert_true(c.metrics_listen_enabled);
	a4 = (const struct sockaddr_in *)&c.metrics_listen;
	assert_int_equal(a4->sin_family, AF_INET);
	assert_int_equal(ntohs(a4->sin_port), 9469);
	assert_int_equal(set1(&c, "metrics_listen = [::1]:9470"), 0);
	a6 = (const struct sockaddr_in6 *)&c.metrics_listen;
	assert_int_equal(a6->sin6_family, AF_INET6);
	assert_int_equal(ntohs(a6->sin6_port), 9470);
	out = print_conf(&c);
	assert_contains(out, "\nmetrics_listen     = [::1]:9470 ");
	free(out);
	assert_int_equal(set1(&c, "metrics_listen = NONE"), 0);
	assert_false(c.metrics_listen_enabled);
	assert_int_equal(set1(&c, "metrics_listen = 127.0.0.1"), -EINVAL);
	assert_int_equal(set1(&c, "metrics_listen = 127.0.0.1:0"), -EINVAL);
	assert_int_equal(set1(&c, "metrics_listen = localhost:80"), -EINVAL);
	assert_int_equal(set1(&c, "metrics_listen = [::ffff:1.2.3.4]:80"), -EINVAL);

	assert_int_equal(set1(&c, "tracker_url = udp://tracker.example.org:6969/announce"), 0);
	assert_string_equal(c.tracker_url, "udp://tracker.example.org:6969/announce");
	assert_int_equal(set1(&c, "tracker_url = https://t.example/announce"), 0);
	assert_int_equal(set1(&c, "tracker_url = ftp://t.example/"), -EINVAL);
	assert_int_equal(set1(&c, "tracker_url = udp://"), -EINVAL);
	assert_int_equal(set1(&c, "tracker_url = udp://a b"), -EINVAL);
	assert_int_equal(set1(&c, "homepage_url = https://example.org/?a=1&b=2"), 0);
	assert_string_equal(c.homepage_url, "https://example.org/?a=1&b=2");
	assert_int_equal(set1(&c, "homepage_url = javascript:alert(1)"), -EINVAL);
	assert_int_equal(set1(&c, "homepage_url = udp://t.example:6969"), -EINVAL);
	conf_defaults(&c);
	assert_int_equal(conf_set_option(&c, "homepage_url = http://\x01", err, sizeof(err)),
			 -EINVAL);

	assert_int_equal(set1(&c, "stats_html_path = /var/www/html/index.html"), 0);
	assert_string_equal(c.stats_html_path, "/var/www/html/index.html");
	assert_int_equal(set1(&c, "stats_html_path = index.html"), -EINVAL);
	assert_int_equal(set1(&c, "stats_html_path = none"), 0);
	assert_string_equal(c.stats_html_path, "");

	/* All four apply on reload. */
	assert_int_equal(conf_key_reload("metrics_listen"), CONF_RELOAD_LIVE);
	assert_int_equal(conf_key_reload("tracker_url"), CONF_RELOAD_LIVE);
	assert_int_equal(conf_key_reload("homepage_url"), CONF_RELOAD_LIVE);
	assert_int_equal(conf_key_reload("stats_html_path"), CONF_RELOAD_LIVE);
}

/* trackerd.conf.example lists every key, commented out, at its default. */
static void test_example_file(void **state)
{
	char line[1100], err[CONF_ERR_MAX], path[256];
	unsigned count[NKEYS] = { 0 };
	char *text = NULL;
	size_t tlen = 0;
	FILE *in, *out;
	struct conf c, d;

	(void)state;
	in = fopen("trackerd.conf.example", "re");
	if (!in)
		fail_msg("trackerd.conf.example not found: run from the repository root");
	out = open_memstream(&text, &tlen);
	assert_non_null(out);
	while (fgets(line, sizeof(line), in)) {
		size_t klen = strspn(line + 1, "abcdefghijklmnopqrstuvwxyz0123456789_");

		/* "#key = default" lines become "key = default". */
		if (line[0] == '#' && klen && !strncmp(line + 1 + klen, " = ", 3)) {
			for (size_t i = 0; i < NKEYS; i++)
				if (strlen(all_keys[i]) == klen &&
				    !strncmp(line + 1, all_keys[i], klen))
					count[i]++;
			fputs(line + 1, out);
		} else {
			fputs(line, out);
		}
	}
	fclose(in);
	assert_int_equal(fclose(out), 0);
	for (size_t i = 0; i < NKEYS; i++)
		if (count[i] != 1)
			fail_msg("key '%s' appears %u times in the example", all_keys[i], count[i]);
	write_tmp(text, tlen, path);
	conf_defaults(&c);
	c.workers = 99;
	assert_int_equal(conf_load_file(&c, path, err, sizeof(err)), 0);
	unlink(path);
	conf_defaults(&d);
	assert_conf_equal(&c, &d);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_defaults_validate),
		cmocka_unit_test(test_bool),
		cmocka_unit_test(test_uint),
		cmocka_unit_test(test_protocol_limits),
		cmocka_unit_test(test_ring_entries_power_of_two),
		cmocka_unit_test(test_seconds),
		cmocka_unit_test(test_bytes),
		cmocka_unit_test(test_counts),
		cmocka_unit_test(test_range_message),
		cmocka_unit_test(test_enum),
		cmocka_unit_test(test_segment_params),
		cmocka_unit_test(test_path),
		cmocka_unit_test(test_listen4),
		cmocka_unit_test(test_listen6),
		cmocka_unit_test(test_file_good),
		cmocka_unit_test(test_file_empty),
		cmocka_unit_test(test_file_errors),
		cmocka_unit_test(test_file_line_limits),
		cmocka_unit_test(test_file_too_large),
		cmocka_unit_test(test_file_missing_or_not_regular),
		cmocka_unit_test(test_failed_load_changes_nothing),
		cmocka_unit_test(test_override),
		cmocka_unit_test(test_override_errors),
		cmocka_unit_test(test_validate),
		cmocka_unit_test(test_load_validates),
		cmocka_unit_test(test_diff_restart_keys),
		cmocka_unit_test(test_keep_restart_keys),
		cmocka_unit_test(test_key_reload),
		cmocka_unit_test(test_print_every_key_once),
		cmocka_unit_test(test_print_values),
		cmocka_unit_test(test_print_roundtrip),
		cmocka_unit_test(test_metrics_keys),
		cmocka_unit_test(test_example_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
