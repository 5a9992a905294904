/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/test_httpd.c - the metrics endpoint over real loopback sockets.
 *
 * The server runs in this process on 127.0.0.1 with a port chosen by the
 * kernel, driven by the same poll loop the control process uses; clients
 * are non-blocking raw sockets pumped by that loop, so no test sleeps and
 * every wait is bounded (CLIENT_LIMIT_MS). The per-connection deadline is
 * set to DEADLINE_MS here to keep the suite fast.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/httpd.h"
#include "daemon/metrics.h"
#include "daemon/statspage.h"

#define DEADLINE_MS 400u
#define CLIENT_LIMIT_MS 4000u

static unsigned page_size; /* 0: a small page */
static unsigned renders;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int render(void *ctx, enum httpd_page page, struct metrics_buf *out)
{
	(void)ctx;
	renders++;
	if (page == HTTPD_PAGE_METRICS)
		return metrics_buf_printf(out, "# HELP trackerd_x x\n# TYPE trackerd_x gauge\n"
					       "trackerd_x 1\n");
	if (page_size) {
		for (unsigned i = 0; i < page_size; i++)
			if (metrics_buf_append(out, "x", 1) < 0)
				return -ENOBUFS;
		return 0;
	}
	return metrics_buf_printf(out, "<!DOCTYPE html><title>stats</title>hello\n");
}

static struct httpd *start(unsigned max_conns, size_t body_max)
{
	struct httpd_config cfg = { .render = render,
				    .max_conns = max_conns,
				    .timeout_ms = DEADLINE_MS,
				    .body_max = body_max };
	struct sockaddr_storage ss;
	struct httpd *h;
	socklen_t sl;

	assert_int_equal(httpd_parse_address("127.0.0.1:0", &ss, &sl), 0);
	assert_int_equal(httpd_open((struct sockaddr *)&ss, sl, &cfg, &h), 0);
	assert_true(httpd_port(h) > 0);
	page_size = 0;
	renders = 0;
	return h;
}

/* One turn of the control process's loop, sleeping at most max_ms. */
static void pump(struct httpd *h, int max_ms)
{
	struct pollfd p = { .fd = httpd_fd(h), .events = POLLIN };
	int t = httpd_timeout_ms(h, now_ms());

	if (t < 0 || t > max_ms)
		t = max_ms;
	poll(&p, 1, t);
	assert_int_equal(httpd_process(h, now_ms()), 0);
}

static int client(struct httpd *h)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)httpd_port(h)) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		assert_int_equal(errno, EINPROGRESS);
	return fd;
}

static void send_all(int fd, const char *s)
{
	size_t n = strlen(s);
	struct pollfd p = { .fd = fd, .events = POLLOUT };

	/* Loopback connect finishes at once; the request fits in the socket buffer. */
	assert_true(poll(&p, 1, 1000) == 1);
	assert_int_equal(send(fd, s, n, MSG_NOSIGNAL), (ssize_t)n);
}

/*
 * Pump the server until fd reaches end of stream; the reply goes to buf.
 * Returns its length, or -1 if the connection was reset.
 */
static ssize_t read_reply(struct httpd *h, int fd, char *buf, size_t len)
{
	uint64_t limit = now_ms() + CLIENT_LIMIT_MS;
	size_t got = 0;

	for (;;) {
		ssize_t n = recv(fd, buf + got, len - 1 - got, 0);

		if (n == 0)
			break;
		if (n < 0 && errno == ECONNRESET)
			return -1;
		if (n > 0) {
			got += (size_t)n;
			assert_true(got < len - 1);
			continue;
		}
		assert_int_equal(errno, EAGAIN);
		if (now_ms() > limit)
			fail_msg("no end of reply within %u ms", CLIENT_LIMIT_MS);
		pump(h, 20);
	}
	buf[got] = 0;
	return (ssize_t)got;
}

static char reply[4u << 20];

/* Send a request, return the reply's status code; reply holds the text. */
static int request(struct httpd *h, const char *req)
{
	int fd = client(h), status = 0;
	ssize_t n;

	send_all(fd, req);
	n = read_reply(h, fd, reply, sizeof(reply));
	close(fd);
	assert_true(n > 0);
	assert_int_equal(sscanf(reply, "HTTP/1.%*d %d", &status), 1);
	return status;
}

static const char *header(const char *name)
{
	static char value[256];
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\r\n%s: ", name);
	p = strcasestr(reply, pat);
	if (!p)
		return NULL;
	p += strlen(pat);
	snprintf(value, sizeof(value), "%.*s", (int)strcspn(p, "\r\n"), p);
	return value;
}

static const char *body(void)
{
	const char *p = strstr(reply, "\r\n\r\n");

	assert_non_null(p);
	return p + 4;
}

static unsigned count_fds(void)
{
	unsigned n = 0;

	for (int fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

/* --- tests ---------------------------------------------------------------- */

static void test_parse_address(void **state)
{
	struct sockaddr_storage ss;
	socklen_t sl;

	(void)state;
	assert_int_equal(httpd_parse_address("127.0.0.1:9469", &ss, &sl), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 9469);
	assert_int_equal(sl, sizeof(struct sockaddr_in));
	assert_int_equal(httpd_parse_address("[::1]:80", &ss, &sl), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 80);
	{
		char buf[64];

		httpd_format_address((struct sockaddr *)&ss, buf, sizeof(buf));
		assert_string_equal(buf, "[::1]:80");
		assert_int_equal(httpd_parse_address("10.1.2.3:9469", &ss, &sl), 0);
		httpd_format_address((struct sockaddr *)&ss, buf, sizeof(buf));
		assert_string_equal(buf, "10.1.2.3:9469");
	}
	assert_int_equal(httpd_parse_address("[::]:0", &ss, &sl), 0);
	assert_int_equal(httpd_parse_address("127.0.0.1", &ss, &sl), -EINVAL);
	assert_int_equal(httpd_parse_address("127.0.0.1:", &ss, &sl), -EINVAL);
	assert_int_equal(httpd_parse_address("127.0.0.1:65536", &ss, &sl), -EINVAL);
	assert_int_equal(httpd_parse_address("127.0.0.1:-1", &ss, &sl), -EINVAL);
	assert_int_equal(httpd_parse_address("127.0.0.1:80x", &ss, &sl), -EINVAL);
	assert_int_equal(httpd_parse_address("localhost:80", &ss, &sl), -EINVAL);
	assert_int_equal(httpd_parse_address("::1:80", &ss, &sl), -EINVAL);
	assert_int_equal(httpd_parse_address("[::1]80", &ss, &sl), -EINVAL);
	assert_int_equal(httpd_parse_address("[127.0.0.1]:80", &ss, &sl), -EINVAL);
	assert_int_equal(httpd_parse_address(":80", &ss, &sl), -EINVAL);
}

static void test_open_close(void **state)
{
	struct httpd_config cfg = { .render = render };
	struct sockaddr_storage ss;
	struct httpd *h, *h2;
	unsigned before = count_fds();
	bool was_open[1024];
	char addr[32];
	socklen_t sl;

	(void)state;
	for (int fd = 0; fd < 1024; fd++)
		was_open[fd] = fcntl(fd, F_GETFD) >= 0;
	h = start(0, 0);
	/* Every descriptor the server made is close-on-exec. */
	for (int fd = 0; fd < 1024; fd++)
		if (!was_open[fd] && fcntl(fd, F_GETFD) >= 0)
			assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	assert_true(fcntl(httpd_fd(h), F_GETFD) & FD_CLOEXEC);
	/* The port is taken: a second server on it fails with the errno. */
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", httpd_port(h));
	assert_int_equal(httpd_parse_address(addr, &ss, &sl), 0);
	assert_int_equal(httpd_open((struct sockaddr *)&ss, sl, &cfg, &h2), -EADDRINUSE);
	assert_int_equal(request(h, "GET / HTTP/1.0\r\n\r\n"), 200);
	httpd_close(h);
	/* Nothing leaked, and the port is free again at once. */
	assert_int_equal(count_fds(), before);
	assert_int_equal(httpd_open((struct sockaddr *)&ss, sl, &cfg, &h2), 0);
	httpd_close(h2);
	assert_int_equal(count_fds(), before);
	/* IPv6 when the host has it. */
	assert_int_equal(httpd_parse_address("[::1]:0", &ss, &sl), 0);
	if (httpd_open((struct sockaddr *)&ss, sl, &cfg, &h2) == 0) {
		assert_true(httpd_port(h2) > 0);
		httpd_close(h2);
	}
}

static void test_routes_and_methods(void **state)
{
	struct httpd_stats st;
	struct httpd *h = start(0, 0);

	(void)state;
	assert_int_equal(request(h, "GET / HTTP/1.1\r\nHost: t\r\n\r\n"), 200);
	assert_string_equal(header("Content-Type"), STATSPAGE_CONTENT_TYPE);
	assert_string_equal(header("Connection"), "close");
	assert_non_null(header("Content-Security-Policy"));
	assert_string_equal(header("Cache-Control"), "no-store");
	assert_string_equal(body(), "<!DOCTYPE html><title>stats</title>hello\n");

	assert_int_equal(request(h, "GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n"), 200);
	assert_string_equal(header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
	assert_string_equal(body(), "# HELP trackerd_x x\n# TYPE trackerd_x gauge\ntrackerd_x 1\n");
	/* A query string does not change the resource. */
	assert_int_equal(request(h, "GET /metrics?name[]=x HTTP/1.1\r\nHost: t\r\n\r\n"), 200);

	/* HEAD: headers with the length, no body. */
	assert_int_equal(request(h, "HEAD /metrics HTTP/1.1\r\nHost: t\r\n\r\n"), 200);
	assert_string_equal(header("Content-Length"), "57");
	assert_string_equal(body(), "");

	assert_int_equal(request(h, "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n"), 404);
	assert_int_equal(request(h, "GET /metrics/ HTTP/1.1\r\nHost: t\r\n\r\n"), 404);
	assert_int_equal(request(h, "GET /../etc/passwd HTTP/1.1\r\nHost: t\r\n\r\n"), 404);
	assert_int_equal(request(h, "POST /metrics HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
				    "\r\nabc"),
			 405);
	assert_string_equal(header("Allow"), "GET, HEAD");
	assert_int_equal(request(h, "DELETE / HTTP/1.1\r\nHost: t\r\n\r\n"), 405);
	assert_int_equal(request(h, "OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n"), 405);
	/* Garbage is refused by the parser (4xx or a plain close), not passed on. */
	{
		int fd = client(h), status = 0;
		ssize_t n;

		send_all(fd, "GARBAGE\r\n\r\n");
		n = read_reply(h, fd, reply, sizeof(reply));
		close(fd);
		if (n > 0) {
			assert_int_equal(sscanf(reply, "HTTP/1.%*d %d", &status), 1);
			assert_int_equal(status / 100, 4);
		}
	}
	/* Only GET and HEAD on the two pages rendered anything. */
	assert_int_equal(renders, 4);

	httpd_get_stats(h, &st);
	assert_int_equal(st.ok, 4);
	assert_int_equal(st.not_found, 3);
	assert_int_equal(st.bad_method, 3);
	assert_int_equal(st.timeouts, 0);
	assert_int_equal(httpd_connections(h), 0);
	httpd_close(h);
}

static void test_reply_and_request_limits(void **state)
{
	static char big[64u << 10];
	struct httpd_stats st;
	struct httpd *h = start(0, 100000);

	(void)state;
	page_size = 99999;
	assert_int_equal(request(h, "GET / HTTP/1.0\r\n\r\n"), 200);
	assert_int_equal(strlen(body()), 99999);
	page_size = 100001; /* over body_max: an error, never a truncated page */
	assert_int_equal(request(h, "GET / HTTP/1.0\r\n\r\n"), 500);
	httpd_get_stats(h, &st);
	assert_int_equal(st.failed, 1);
	/* Request headers beyond the memory limit are refused. */
	memset(big, 'a', sizeof(big) - 1);
	memcpy(big, "GET / HTTP/1.1\r\nX-Big: ", 23);
	memcpy(big + sizeof(big) - 5, "\r\n\r\n", 5);
	{
		int fd = client(h);
		ssize_t n;
		int status = 0;

		/* The server may close before it read everything: a reset is fine too. */
		send(fd, big, sizeof(big) / 2, MSG_NOSIGNAL);
		n = read_reply(h, fd, reply, sizeof(reply));
		if (n > 0) {
			assert_int_equal(sscanf(reply, "HTTP/1.%*d %d", &status), 1);
			assert_int_equal(status / 100, 4);
		}
		close(fd);
	}
	assert_int_equal(httpd_connections(h), 0);
	httpd_close(h);
}

/*
 * A client that sends its request one byte at a time, never finishing it,
 * is cut at its deadline (libmicrohttpd's idle timeout alone would keep it),
 * and other clients are served meanwhile.
 */
static void test_slowloris_is_cut_without_blocking_others(void **state)
{
	struct httpd_stats st;
	struct httpd *h = start(0, 0);
	uint64_t t0, limit, served, elapsed;
	char buf[256];
	int slow;

	(void)state;
	slow = client(h);
	t0 = now_ms();
	send_all(slow, "GET / HTTP/1.1\r\n");
	pump(h, 0);
	assert_int_equal(httpd_connections(h), 1);
	/* Others are served at once while the slow one hangs. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(request(h, "GET /metrics HTTP/1.0\r\n\r\n"), 200);
	served = now_ms() - t0;
	assert_true(served < DEADLINE_MS);
	/* Trickle a header byte every 50 ms until the server hangs up. */
	limit = t0 + CLIENT_LIMIT_MS;
	for (;;) {
		ssize_t n = recv(slow, buf, sizeof(buf), 0);

		if (n == 0 || (n < 0 && errno == ECONNRESET))
			break;
		assert_true(n < 0 && errno == EAGAIN); /* no reply for an unfinished request */
		assert_true(now_ms() < limit);
		send(slow, "X", 1, MSG_NOSIGNAL);
		for (uint64_t until = now_ms() + 50; now_ms() < until;)
			pump(h, 50);
	}
	elapsed = now_ms() - t0;
	close(slow);
	assert_true(elapsed >= DEADLINE_MS - 20);
	assert_true(elapsed < DEADLINE_MS + 1000);
	httpd_get_stats(h, &st);
	assert_int_equal(st.timeouts, 1);
	for (uint64_t until = now_ms() + 1000; httpd_connections(h) && now_ms() < until;)
		pump(h, 20);
	assert_int_equal(httpd_connections(h), 0);
	httpd_close(h);
}

/* Never more than max_conns at once; a waiting client is served once a slot frees. */
static void test_connection_limit(void **state)
{
	struct httpd *h = start(3, 0);
	uint64_t t0, limit;
	int idle[3], fd;
	ssize_t n;

	(void)state;
	t0 = now_ms();
	for (int i = 0; i < 3; i++)
		idle[i] = client(h);
	for (limit = now_ms() + 1000; httpd_connections(h) < 3 && now_ms() < limit;)
		pump(h, 20);
	assert_int_equal(httpd_connections(h), 3);
	fd = client(h);
	send_all(fd, "GET /metrics HTTP/1.0\r\n\r\n");
	limit = now_ms() + CLIENT_LIMIT_MS;
	for (;;) {
		n = recv(fd, reply, sizeof(reply) - 1, 0);
		if (n >= 0 || errno != EAGAIN || now_ms() > limit)
			break;
		assert_true(httpd_connections(h) <= 3);
		pump(h, 20);
	}
	/* The fourth is either refused at once or served after the idle ones were cut. */
	if (n > 0) {
		reply[n] = 0;
		assert_true(!strncmp(reply, "HTTP/1.1 200", 12) ||
			    !strncmp(reply, "HTTP/1.0 200", 12));
		assert_true(now_ms() - t0 >= DEADLINE_MS - 20);
	} else {
		assert_true(n == 0 || errno == ECONNRESET);
	}
	close(fd);
	for (int i = 0; i < 3; i++)
		close(idle[i]);
	for (limit = now_ms() + 2000; httpd_connections(h) && now_ms() < limit;)
		pump(h, 20);
	assert_int_equal(httpd_connections(h), 0);
	/* And the server still works. */
	assert_int_equal(request(h, "GET / HTTP/1.0\r\n\r\n"), 200);
	httpd_close(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_address),
		cmocka_unit_test(test_open_close),
		cmocka_unit_test(test_routes_and_methods),
		cmocka_unit_test(test_reply_and_request_limits),
		cmocka_unit_test(test_slowloris_is_cut_without_blocking_others),
		cmocka_unit_test(test_connection_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
