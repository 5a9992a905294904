/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * daemon/httpd.c - the metrics endpoint: a small HTTP server on libmicrohttpd.
 *
 * Owns the TCP listening socket of metrics_listen, the libmicrohttpd daemon
 * and the connections, the routing (/ and /metrics), the reply headers and
 * every limit. The content comes from the caller's render callback. Never
 * logs; counts.
 *
 * Design notes:
 * - No threads: libmicrohttpd runs with external polling on its own epoll
 *   fd (MHD_USE_EPOLL), so the single-threaded control process polls one
 *   more descriptor and calls MHD_run() through httpd_process(). The
 *   render callback therefore runs on the control process's thread and may
 *   read its state without locks.
 * - We create the listening socket ourselves and hand it over with
 *   MHD_OPTION_LISTEN_SOCKET, so a bind failure comes back as -errno and
 *   port 0 can be read back with getsockname(). libmicrohttpd creates its
 *   epoll fd and accepted sockets close-on-exec.
 * - libmicrohttpd's connection timeout is an idle timeout: a client that
 *   sends one byte every few seconds would keep its connection forever. We
 *   give every connection an absolute deadline instead (accept + 5 s,
 *   tracked through MHD_OPTION_NOTIFY_CONNECTION in a fixed table of
 *   max_conns slots, no allocation per connection) and cut it with
 *   shutdown(2) when it passes; libmicrohttpd then sees the end of the
 *   stream and closes the connection itself. The idle timeout stays on as
 *   a second line.
 * - Bounds: max_conns in total (further connections are closed at accept
 *   by libmicrohttpd), per_ip_max per client address, HTTPD_REQUEST_MEM
 *   bytes for request line and headers (larger requests get 431/413 from
 *   libmicrohttpd), body_max bytes of reply (a larger page is a 500), one
 *   request per connection.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "daemon/httpd.h"
#include "daemon/metrics.h"
#include "daemon/statspage.h"

/* Content-Security-Policy of the page: inline style only, nothing loaded. */
#define HTTPD_CSP                                                                          \
	"default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; base-uri 'none'; " \
	"form-action 'none'; frame-ancestors 'none'"

struct httpd_conn {
	int fd; /* -1: free slot */
	bool cut; /* shutdown() done */
	uint64_t deadline; /* ms */
};

struct httpd {
	struct MHD_Daemon *mhd;
	int listen_fd;
	int epoll_fd;
	unsigned port;
	struct httpd_config cfg;
	uint64_t now; /* time of the httpd_process() running, for new connections */
	unsigned nconns;
	struct httpd_conn *conns; /* cfg.max_conns slots */
	struct httpd_stats stats;
};

int httpd_parse_address(const char *s, struct sockaddr_storage *ret_addr, socklen_t *ret_len)
{
	struct sockaddr_storage ss;
	char host[INET6_ADDRSTRLEN];
	const char *port_s, *end;
	unsigned long port;
	size_t n;
	char *e;

	memset(&ss, 0, sizeof(ss));
	if (s[0] == '[') {
		end = strstr(s, "]:");
		if (!end)
			return -EINVAL;
		n = (size_t)(end - s - 1);
		port_s = end + 2;
		s++;
	} else {
		end = strrchr(s, ':');
		if (!end)
			return -EINVAL;
		n = (size_t)(end - s);
		port_s = end + 1;
	}
	if (!n || n >= sizeof(host) || *port_s < '0' || *port_s > '9' || strlen(port_s) > 5)
		return -EINVAL;
	memcpy(host, s, n);
	host[n] = 0;
	port = strtoul(port_s, &e, 10);
	if (*e || port > 65535)
		return -EINVAL;
	if (port_s[-1] == ':' && port_s[-2] == ']') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
			return -EINVAL;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		*ret_len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			return -EINVAL;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		*ret_len = sizeof(*a);
	}
	*ret_addr = ss;
	return 0;
}

void httpd_format_address(const struct sockaddr *addr, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (addr->sa_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)addr;

		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(a->sin6_port));
	} else if (addr->sa_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)addr;

		inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(a->sin_port));
	} else {
		snprintf(buf, len, "?");
	}
}

static struct httpd_conn *find_free(struct httpd *h)
{
	for (unsigned i = 0; i < h->cfg.max_conns; i++)
		if (h->conns[i].fd < 0)
			return &h->conns[i];
	return NULL;
}

static void notify_connection(void *cls, struct MHD_Connection *connection, void **socket_context,
			      enum MHD_ConnectionNotificationCode toe)
{
	struct httpd *h = cls;
	struct httpd_conn *c = *socket_context;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);

		h->stats.accepted++;
		h->nconns++;
		c = find_free(h);
		*socket_context = c;
		if (!c || !ci) {
			/* Cannot happen with the connection limit; refuse rather than track nothing. */
			if (ci)
				shutdown(ci->connect_fd, SHUT_RDWR);
			return;
		}
		c->fd = ci->connect_fd;
		c->cut = false;
		c->deadline = h->now + h->cfg.timeout_ms;
	} else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		if (h->nconns)
			h->nconns--;
		if (c)
			c->fd = -1;
		*socket_context = NULL;
	}
}

static enum MHD_Result reply_static(struct MHD_Connection *connection, unsigned status,
				    const char *body, bool allow)
{
	struct MHD_Response *resp;
	enum MHD_Result r;

	resp = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (allow)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	r = MHD_queue_response(connection, status, resp);
	MHD_destroy_response(resp);
	return r;
}

static enum MHD_Result reply_page(struct httpd *h, struct MHD_Connection *connection,
				  enum httpd_page page)
{
	struct MHD_Response *resp;
	struct metrics_buf b;
	enum MHD_Result r;
	size_t len;
	char *data;

	metrics_buf_init(&b, h->cfg.body_max);
	if (h->cfg.render(h->cfg.ctx, page, &b) < 0 || b.overflow) {
		metrics_buf_free(&b);
		h->stats.failed++;
		return reply_static(connection, MHD_HTTP_INTERNAL_SERVER_ERROR,
				    "cannot render the page\n", false);
	}
	data = metrics_buf_steal(&b, &len);
	if (!data) {
		h->stats.failed++;
		return reply_static(connection, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n",
				    false);
	}
	resp = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(data);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				page == HTTPD_PAGE_METRICS ? METRICS_CONTENT_TYPE :
							     STATSPAGE_CONTENT_TYPE);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (page == HTTPD_PAGE_STATS) {
		MHD_add_response_header(resp, "Content-Security-Policy", HTTPD_CSP);
		MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	}
	r = MHD_queue_response(connection, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	if (r == MHD_YES)
		h->stats.ok++;
	return r;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *connection, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **req_cls)
{
	struct httpd *h = cls;

	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)req_cls;
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD)) {
		h->stats.bad_method++;
		return reply_static(connection, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n",
				    true);
	}
	if (!strcmp(url, "/"))
		return reply_page(h, connection, HTTPD_PAGE_STATS);
	if (!strcmp(url, "/metrics"))
		return reply_page(h, connection, HTTPD_PAGE_METRICS);
	h->stats.not_found++;
	return reply_static(connection, MHD_HTTP_NOT_FOUND, "not found\n", false);
}

static int listen_on(const struct sockaddr *addr, socklen_t addrlen, int *ret_fd)
{
	int one = 1, fd, r;

	fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		goto fail;
	if (addr->sa_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		goto fail;
	if (bind(fd, addr, addrlen) < 0 || listen(fd, 64) < 0)
		goto fail;
	*ret_fd = fd;
	return 0;
fail:
	r = -errno;
	close(fd);
	return r;
}

int httpd_open(const struct sockaddr *addr, socklen_t addrlen, const struct httpd_config *cfg,
	       struct httpd **ret_httpd)
{
	const union MHD_DaemonInfo *info;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct httpd *h;
	unsigned flags;
	int r;

	if (!cfg || !cfg->render || (addr->sa_family != AF_INET && addr->sa_family != AF_INET6))
		return -EINVAL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->cfg = *cfg;
	if (!h->cfg.max_conns)
		h->cfg.max_conns = HTTPD_CONN_MAX;
	if (!h->cfg.per_ip_max)
		h->cfg.per_ip_max = HTTPD_PER_IP_MAX;
	if (!h->cfg.timeout_ms)
		h->cfg.timeout_ms = HTTPD_TIMEOUT_MS;
	if (!h->cfg.body_max)
		h->cfg.body_max = METRICS_TEXT_MAX;
	h->conns = calloc(h->cfg.max_conns, sizeof(*h->conns));
	if (!h->conns) {
		r = -ENOMEM;
		goto out_free;
	}
	for (unsigned i = 0; i < h->cfg.max_conns; i++)
		h->conns[i].fd = -1;
	r = listen_on(addr, addrlen, &h->listen_fd);
	if (r < 0)
		goto out_free;
	if (getsockname(h->listen_fd, (struct sockaddr *)&ss, &sl) < 0) {
		r = -errno;
		goto out_close;
	}
	h->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port :
						   ((struct sockaddr_in *)&ss)->sin_port);

	flags = MHD_USE_EPOLL;
	if (addr->sa_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	/* The port argument is ignored with MHD_OPTION_LISTEN_SOCKET. */
	h->mhd = MHD_start_daemon(
		flags, 0, NULL, NULL, handle, h, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)h->listen_fd,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)h->cfg.max_conns,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)h->cfg.per_ip_max,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)((h->cfg.timeout_ms + 999) / 1000),
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTPD_REQUEST_MEM,
		MHD_OPTION_NOTIFY_CONNECTION, notify_connection, h, MHD_OPTION_END);
	if (!h->mhd) {
		r = errno ? -errno : -EIO;
		goto out_close;
	}
	info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info) {
		r = -EIO;
		goto out_stop;
	}
	h->epoll_fd = info->epoll_fd;
	*ret_httpd = h;
	return 0;

out_stop:
	MHD_stop_daemon(h->mhd);
out_close:
	close(h->listen_fd);
out_free:
	free(h->conns);
	free(h);
	return r;
}

void httpd_close(struct httpd *h)
{
	MHD_socket s;

	if (!h)
		return;
	/* Take the listening socket back so that it is closed exactly once, here. */
	s = MHD_quiesce_daemon(h->mhd);
	MHD_stop_daemon(h->mhd);
	if (s != MHD_INVALID_SOCKET)
		close(s);
	free(h->conns);
	free(h);
}

int httpd_fd(const struct httpd *h)
{
	return h->epoll_fd;
}

unsigned httpd_port(const struct httpd *h)
{
	return h->port;
}

int httpd_timeout_ms(struct httpd *h, uint64_t now_ms)
{
	MHD_UNSIGNED_LONG_LONG t;
	uint64_t best = UINT64_MAX;

	if (MHD_get_timeout(h->mhd, &t) == MHD_YES)
		best = t;
	for (unsigned i = 0; i < h->cfg.max_conns; i++) {
		const struct httpd_conn *c = &h->conns[i];

		if (c->fd < 0 || c->cut)
			continue;
		if (c->deadline <= now_ms)
			return 0;
		if (c->deadline - now_ms < best)
			best = c->deadline - now_ms;
	}
	if (best == UINT64_MAX)
		return -1;
	return best > INT32_MAX ? INT32_MAX : (int)best;
}

int httpd_process(struct httpd *h, uint64_t now_ms)
{
	h->now = now_ms;
	for (unsigned i = 0; i < h->cfg.max_conns; i++) {
		struct httpd_conn *c = &h->conns[i];

		if (c->fd < 0 || c->cut || c->deadline > now_ms)
			continue;
		/* MHD reads the end of the stream and closes the connection. */
		shutdown(c->fd, SHUT_RDWR);
		c->cut = true;
		h->stats.timeouts++;
	}
	return MHD_run(h->mhd) == MHD_YES ? 0 : -EIO;
}

unsigned httpd_connections(const struct httpd *h)
{
	return h->nconns;
}

void httpd_get_stats(const struct httpd *h, struct httpd_stats *ret_stats)
{
	*ret_stats = h->stats;
}
