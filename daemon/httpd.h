/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * daemon/httpd.h - the metrics endpoint: a small HTTP server on libmicrohttpd.
 *
 * Serves GET (and HEAD) / with the statistics page and /metrics with the
 * Prometheus text; any other path is 404, any other method 405. The
 * control process owns one struct httpd and drives it from its poll loop,
 * without threads, exactly like the control-socket server:
 *
 *	struct pollfd p = { .fd = httpd_fd(h), .events = POLLIN };
 *	for (;;) {
 *		int t = min_timeout(my_next_timer_ms, httpd_timeout_ms(h, now_ms()));
 *		poll(&p, 1, t);
 *		httpd_process(h, now_ms());
 *	}
 *
 * The page itself comes from the caller's render callback, called
 * synchronously inside httpd_process(). Everything is bounded: connections
 * (in total and per client address), the time a connection may live from
 * accept to the last byte of the reply, request header memory, and the
 * size of a reply. One request per connection (the reply says
 * "Connection: close"). The server never logs; it keeps counters.
 */
#ifndef TRACKER_DAEMON_HTTPD_H
#define TRACKER_DAEMON_HTTPD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct httpd;
struct metrics_buf;

#define HTTPD_CONN_MAX 32u /* connections served at once */
#define HTTPD_PER_IP_MAX 8u /* connections from one client address */
#define HTTPD_TIMEOUT_MS 5000u /* accept to reply sent, per connection */
#define HTTPD_REQUEST_MEM (16u << 10) /* bytes for one request's line and headers */

enum httpd_page {
	HTTPD_PAGE_STATS = 0, /* GET / */
	HTTPD_PAGE_METRICS, /* GET /metrics */
};

/*
 * Append the page to out (whose limit is the configured body_max); return
 * 0, or -errno for a 500 reply. Runs inside httpd_process().
 */
typedef int (*httpd_render_fn)(void *ctx, enum httpd_page page, struct metrics_buf *out);

struct httpd_config {
	httpd_render_fn render; /* required */
	void *ctx; /* passed to render */
	unsigned max_conns; /* 0: HTTPD_CONN_MAX */
	unsigned per_ip_max; /* 0: HTTPD_PER_IP_MAX */
	unsigned timeout_ms; /* 0: HTTPD_TIMEOUT_MS */
	size_t body_max; /* 0: METRICS_TEXT_MAX */
};

struct httpd_stats {
	uint64_t accepted; /* connections accepted */
	uint64_t ok; /* 200 replies */
	uint64_t not_found; /* 404 replies */
	uint64_t bad_method; /* 405 replies */
	uint64_t failed; /* 500 replies: render failed or reply too large */
	uint64_t timeouts; /* connections cut at their deadline */
};

/*
 * Parse "A.B.C.D:PORT" or "[IPV6]:PORT" (port 0..65535) into a socket
 * address. Returns 0 or -EINVAL.
 */
int httpd_parse_address(const char *s, struct sockaddr_storage *ret_addr, socklen_t *ret_len);

/* Write addr as "A.B.C.D:PORT" or "[IPV6]:PORT" (for log lines). */
void httpd_format_address(const struct sockaddr *addr, char *buf, size_t len);

/*
 * Bind a TCP listening socket to addr (SO_REUSEADDR; IPV6_V6ONLY for IPv6;
 * CLOEXEC, non-blocking) and start the server on it. Port 0 picks a free
 * port: see httpd_port(). Returns 0 or -errno (-EADDRINUSE, -EACCES, ...).
 */
int httpd_open(const struct sockaddr *addr, socklen_t addrlen, const struct httpd_config *cfg,
	       struct httpd **ret_httpd);

/* Stop the server: every connection and the listening socket are closed. */
void httpd_close(struct httpd *h);

/* The epoll fd to poll for POLLIN. Valid until httpd_close(). */
int httpd_fd(const struct httpd *h);

/* The port the listening socket is bound to (host order). */
unsigned httpd_port(const struct httpd *h);

/*
 * Milliseconds until httpd_process() must run again even without a POLLIN
 * (connection deadlines, pending work), or -1 if nothing is due.
 * now_ms is CLOCK_MONOTONIC milliseconds, as for httpd_process().
 */
int httpd_timeout_ms(struct httpd *h, uint64_t now_ms);

/*
 * Cut the connections whose deadline passed at now_ms, then accept, read,
 * answer and write whatever is ready without blocking. Returns 0, or -EIO
 * if libmicrohttpd failed.
 */
int httpd_process(struct httpd *h, uint64_t now_ms);

/* Connections currently open. */
unsigned httpd_connections(const struct httpd *h);

void httpd_get_stats(const struct httpd *h, struct httpd_stats *ret_stats);

#endif /* TRACKER_DAEMON_HTTPD_H */
