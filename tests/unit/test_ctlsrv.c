/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/test_ctlsrv.c - the control-socket server, and trackerctl
 * against it.
 *
 * Each test runs a server in this process on a socket in a fresh temporary
 * directory, with a handler that answers a few commands in known ways, and
 * talks to it over real sockets. The server's clock is the variable tnow,
 * so timeouts are tested by moving it, not by sleeping; every wait polls
 * for readiness with a bounded number of rounds.
 *
 * The trackerctl tests run the built binary (TRACKERCTL in the
 * environment, else ../trackerctl next to this test's directory).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "ctl/ctlproto.h"
#include "daemon/ctlsrv.h"

#define HEX_A "0123456789abcdef0123456789abcdef01234567"
#define BIG_LINES 20000 /* ~860 KiB reply for "stats big" */
#define ROUNDS 2000 /* bound of every wait loop (x 5 ms poll at most) */

static const char *argv0;
static uint64_t tnow = 1000000;

struct fixture {
	char dir[64];
	char path[96];
	struct ctlsrv *srv;
	int handler_calls;
	bool big_stats;
};

/* --- the test handler -------------------------------------------------------- */

static int handler(void *ctx, const struct ctlproto_request *req, struct ctlsrv_reply *out)
{
	struct fixture *f = ctx;

	f->handler_calls++;
	switch (req->cmd) {
	case CTLPROTO_CMD_STATUS:
		ctlsrv_reply_printf(out, "uptime=1\n");
		ctlsrv_reply_printf(out, "workers=%d", 2); /* missing "\n" is added */
		return 0;
	case CTLPROTO_CMD_STATS:
		if (!f->big_stats) {
			ctlsrv_reply_printf(out, "total.announce=5\n");
			return 0;
		}
		for (int i = 0; i < BIG_LINES; i++)
			if (ctlsrv_reply_printf(out, "worker.%05d.announce=%020d\n", i, i) < 0)
				return -ENOBUFS;
		return 0;
	case CTLPROTO_CMD_METRICS:
		/* 2000 bytes: over the small reply_max of test_reply_too_large */
		for (int i = 0; i < 100; i++)
			if (ctlsrv_reply_printf(out, "trackerd_x_total %09d\n", i) < 0)
				return -ENOBUFS;
		return 0;
	case CTLPROTO_CMD_TORRENT:
		return ctlsrv_reply_error(out, -ENOENT, "unknown torrent '%s'", req->argv[0]);
	case CTLPROTO_CMD_RELOAD:
		ctlsrv_reply_printf(out, "/etc/trackerd.conf:3: unknown key 'x'\n");
		return ctlsrv_reply_error(out, -EINVAL, "reload failed\nwith\tjunk");
	case CTLPROTO_CMD_TOP:
		ctlsrv_reply_printf(out, "n=%s\n", req->argc ? req->argv[0] : "default");
		return 0;
	case CTLPROTO_CMD_WORKERS:
		return -EIO;
	default:
		return ctlsrv_reply_error(out, -EINVAL, "unexpected command %d", req->cmd);
	}
}

static struct ctlsrv_config config(struct fixture *f)
{
	return (struct ctlsrv_config){ .handler = handler, .ctx = f, .timeout_ms = 2000 };
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct ctlsrv_config cfg = config(f);

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_ctlsrv.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/control.sock", f->dir);
	assert_int_equal(ctlsrv_open(f->path, -1, &cfg, &f->srv), 0);
	*state = f;
	return 0;
}

static int setup_nosrv(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_ctlsrv.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/control.sock", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[256];

	ctlsrv_close(f->srv);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", f->dir);
	free(f);
	return 0;
}

/* --- client helpers ------------------------------------------------------------ */

static int client_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void client_send(int fd, const void *buf, size_t len)
{
	assert_int_equal(send(fd, buf, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* Let the server work until fd has something to read (or EOF). */
static void pump_until_readable(struct ctlsrv *srv, int fd)
{
	for (int i = 0; i < ROUNDS; i++) {
		struct pollfd p[2] = { { .fd = fd, .events = POLLIN },
				       { .fd = ctlsrv_fd(srv), .events = POLLIN } };

		assert_true(ctlsrv_process(srv, tnow) >= 0);
		if (poll(p, 2, 5) < 0)
			continue;
		if (p[0].revents)
			return;
	}
	fail_msg("no reply within %d rounds", ROUNDS);
}

/* Read the whole reply until EOF, serving the server meanwhile. */
static size_t read_reply(struct ctlsrv *srv, int fd, char *buf, size_t cap)
{
	size_t len = 0;

	for (int i = 0; i < ROUNDS * 10; i++) {
		ssize_t n;

		pump_until_readable(srv, fd);
		n = recv(fd, buf + len, cap - 1 - len, MSG_DONTWAIT);
		/* after the reply, if the server left some of our bytes unread */
		if (n == 0 || (n < 0 && errno == ECONNRESET && len > 0))
			break;
		if (n < 0) {
			assert_true(errno == EAGAIN || errno == EINTR);
			continue;
		}
		len += (size_t)n;
		assert_true(len < cap - 1);
	}
	buf[len] = '\0';
	return len;
}

static void roundtrip(struct fixture *f, const char *req, size_t len, char *buf, size_t cap)
{
	int fd = client_connect(f->path);

	client_send(fd, req, len);
	read_reply(f->srv, fd, buf, cap);
	close(fd);
}

#define assert_reply(f, req, expect)                                    \
	do {                                                            \
		char buf_[4096];                                        \
		roundtrip((f), (req), strlen(req), buf_, sizeof(buf_)); \
		assert_string_equal(buf_, (expect));                    \
	} while (0)

/* --- protocol --------------------------------------------------------------------- */

static void test_ok_reply(void **state)
{
	struct fixture *f = *state;
	struct ctlsrv_stats st;

	assert_reply(f, "TRK1 status\n", "ok\nuptime=1\nworkers=2\n");
	assert_reply(f, "TRK1 top 25\n", "ok\nn=25\n");
	assert_reply(f, "TRK1 top\n", "ok\nn=default\n");
	assert_int_equal(f->handler_calls, 3);
	assert_int_equal(ctlsrv_connections(f->srv), 0);
	ctlsrv_get_stats(f->srv, &st);
	assert_int_equal(st.accepted, 3);
	assert_int_equal(st.requests_ok, 3);
	assert_int_equal(st.requests_error, 0);
}

static void test_error_reply(void **state)
{
	struct fixture *f = *state;

	assert_reply(f, "TRK1 torrent " HEX_A "\n", "error unknown torrent '" HEX_A "'\n");
	/* reason made one printable line; details follow the error line */
	assert_reply(f, "TRK1 reload\n",
		     "error reload failed?with?junk\n/etc/trackerd.conf:3: unknown key 'x'\n");
	/* no reason given: strerror */
	assert_reply(f, "TRK1 workers\n", "error Input/output error\n");
}

static void test_builtin_help_version(void **state)
{
	struct fixture *f = *state;
	char buf[8192];

	roundtrip(f, "TRK1 help\n", 10, buf, sizeof(buf));
	assert_memory_equal(buf, "ok\n", 3);
	for (int i = 0; i < CTLPROTO_CMD__MAX; i++) {
		char want[64];

		snprintf(want, sizeof(want), "\n%s ", ctlproto_commands[i].name);
		assert_non_null(strstr(buf, want));
	}
	assert_non_null(strstr(buf, "save "));
	/* A reserved (.later) row, if any is left, says so in the help. */
	for (int i = 0; i < CTLPROTO_CMD__MAX; i++)
		if (ctlproto_commands[i].later)
			assert_non_null(strstr(buf, "(not supported yet)"));
	roundtrip(f, "TRK1 version\n", 13, buf, sizeof(buf));
	assert_memory_equal(buf, "ok\nversion=", 11);
	assert_non_null(strstr(buf, "\nprotocol=TRK1\n"));
	assert_int_equal(f->handler_calls, 0);
}

static void test_wrong_version(void **state)
{
	struct fixture *f = *state;
	const char *want = "error unsupported protocol version, server speaks TRK1\n";
	struct ctlsrv_stats st;

	assert_reply(f, "TRK2 status\n", want);
	assert_reply(f, "TRK12 status\n", want);
	assert_reply(f, "status\n", want);
	assert_reply(f, "GET / HTTP/1.0\r\n", want);
	assert_reply(f, "\n", want);
	assert_int_equal(f->handler_calls, 0);
	ctlsrv_get_stats(f->srv, &st);
	assert_int_equal(st.bad_requests, 5);
	assert_int_equal(st.requests_error, 5);
}

static void test_unknown_command(void **state)
{
	struct fixture *f = *state;

	assert_reply(f, "TRK1 frobnicate\n", "error unknown command 'frobnicate', try help\n");
	assert_reply(f, "TRK1 STATUS\n", "error unknown command 'STATUS', try help\n");
	assert_reply(f, "TRK1 a b c d e f g\n", "error unknown command 'a', try help\n");
	assert_int_equal(f->handler_calls, 0);
}

static void test_argument_count(void **state)
{
	struct fixture *f = *state;

	assert_reply(f, "TRK1 status now\n", "error too many arguments, usage: status\n");
	assert_reply(f, "TRK1 torrent\n", "error missing argument, usage: torrent HEX\n");
	assert_reply(f, "TRK1 torrent " HEX_A " " HEX_A "\n",
		     "error too many arguments, usage: torrent HEX\n");
	assert_reply(f, "TRK1 torrent xyz\n", "error bad argument, usage: torrent HEX\n");
	assert_reply(f, "TRK1 top 0\n", "error bad argument, usage: top [N]\n");
	assert_reply(f, "TRK1 top 1 2 3 4 5 6\n", "error too many arguments, usage: top [N]\n");
	assert_int_equal(f->handler_calls, 0);
}

static void test_malformed(void **state)
{
	struct fixture *f = *state;
	const char *want = "error malformed request\n";
	char buf[256];

	assert_reply(f, "TRK1 \n", want);
	assert_reply(f, "TRK1\n", want);
	assert_reply(f, "TRK1  status\n", want);
	assert_reply(f, "TRK1 status \n", want);
	assert_reply(f, "TRK1 status\r\n", want);
	assert_reply(f, "TRK1 top\t5\n", want);
	assert_reply(f, "TRK1 top \xff\n", want);
	roundtrip(f, "TRK1 status\0x\n", 14, buf, sizeof(buf));
	assert_string_equal(buf, want);
	assert_int_equal(f->handler_calls, 0);
}

static void test_reserved_command(void **state)
{
	struct fixture *f = *state;
	char want[64];

	/*
	 * Every once-reserved name is implemented now: each reaches the
	 * handler (whose default answer names it). A row still marked .later
	 * would be answered by the server without the handler.
	 */
	snprintf(want, sizeof(want), "error unexpected command %d\n", CTLPROTO_CMD_SAVE);
	assert_reply(f, "TRK1 save\n",
		     ctlproto_commands[CTLPROTO_CMD_SAVE].later ? "error not supported yet\n" :
								  want);
	snprintf(want, sizeof(want), "error unexpected command %d\n", CTLPROTO_CMD_BAN);
	assert_reply(f, "TRK1 ban 10.0.0.0/8 1h\n",
		     ctlproto_commands[CTLPROTO_CMD_BAN].later ? "error not supported yet\n" :
								 want);
}

static void test_request_size_limit(void **state)
{
	struct fixture *f = *state;
	char req[CTLPROTO_REQUEST_MAX + 64];
	char buf[256];
	struct ctlsrv_stats st;
	size_t n;

	/* exactly the limit, "\n" included: accepted and parsed */
	n = (size_t)snprintf(req, sizeof(req), "TRK1 ban ");
	memset(req + n, 'a', CTLPROTO_REQUEST_MAX - 1 - n);
	req[CTLPROTO_REQUEST_MAX - 1] = '\n';
	roundtrip(f, req, CTLPROTO_REQUEST_MAX, buf, sizeof(buf));
	assert_memory_equal(buf, "error ", 6); /* parsed and handed on (ban's handler) */

	/* one byte more: refused, connection closed */
	memmove(req + n + 1, req + n, CTLPROTO_REQUEST_MAX - n);
	roundtrip(f, req, CTLPROTO_REQUEST_MAX + 1, buf, sizeof(buf));
	assert_string_equal(buf, "error request too long (limit 512 bytes)\n");

	/* a stream without any newline is cut at the limit */
	memset(req, 'x', sizeof(req));
	roundtrip(f, req, sizeof(req), buf, sizeof(buf));
	assert_string_equal(buf, "error request too long (limit 512 bytes)\n");
	ctlsrv_get_stats(f->srv, &st);
	assert_int_equal(st.too_long, 2);
	assert_int_equal(ctlsrv_connections(f->srv), 0);
}

static void test_eof_before_newline(void **state)
{
	struct fixture *f = *state;
	int fd = client_connect(f->path);
	char buf[256];

	client_send(fd, "TRK1 status", 11);
	shutdown(fd, SHUT_WR);
	read_reply(f->srv, fd, buf, sizeof(buf));
	assert_string_equal(buf, "error request not terminated by a newline\n");
	close(fd);
	assert_int_equal(f->handler_calls, 0);
}

static void test_split_request(void **state)
{
	struct fixture *f = *state;
	int fd = client_connect(f->path);
	char buf[256];

	/* the request may arrive in pieces; bytes after "\n" are ignored */
	client_send(fd, "TRK1 st", 7);
	for (int i = 0; i < 5; i++)
		assert_true(ctlsrv_process(f->srv, tnow) >= 0);
	assert_int_equal(ctlsrv_connections(f->srv), 1);
	client_send(fd, "atus\nTRK1 stats\n", 16);
	read_reply(f->srv, fd, buf, sizeof(buf));
	assert_string_equal(buf, "ok\nuptime=1\nworkers=2\n");
	close(fd);
	assert_int_equal(f->handler_calls, 1);
}

/* --- bounds ------------------------------------------------------------------- */

static void test_idle_client_dropped(void **state)
{
	struct fixture *f = *state;
	struct ctlsrv_stats st;
	char buf[256];
	int idle, t;

	tnow = 5000000;
	idle = client_connect(f->path);
	for (int i = 0; i < ROUNDS && ctlsrv_connections(f->srv) == 0; i++) {
		struct pollfd p = { .fd = ctlsrv_fd(f->srv), .events = POLLIN };
		poll(&p, 1, 5);
		assert_true(ctlsrv_process(f->srv, tnow) >= 0);
	}
	assert_int_equal(ctlsrv_connections(f->srv), 1);
	t = ctlsrv_timeout_ms(f->srv, tnow);
	assert_true(t > 0 && t <= 2000);

	/* another client is served while the idle one waits */
	tnow += 1500;
	assert_reply(f, "TRK1 status\n", "ok\nuptime=1\nworkers=2\n");
	assert_int_equal(ctlsrv_connections(f->srv), 1);

	/* just before the deadline it is still there; at it, it is dropped */
	tnow += 499;
	assert_true(ctlsrv_process(f->srv, tnow) >= 0);
	assert_int_equal(ctlsrv_connections(f->srv), 1);
	assert_int_equal(ctlsrv_timeout_ms(f->srv, tnow), 1);
	tnow += 1;
	assert_true(ctlsrv_process(f->srv, tnow) >= 0);
	assert_int_equal(ctlsrv_connections(f->srv), 0);
	assert_int_equal(ctlsrv_timeout_ms(f->srv, tnow), -1);
	read_reply(f->srv, idle, buf, sizeof(buf));
	assert_string_equal(buf, "error timeout waiting for the request\n");
	close(idle);
	ctlsrv_get_stats(f->srv, &st);
	assert_int_equal(st.timeouts, 1);
}

static void test_large_reply(void **state)
{
	struct fixture *f = *state;
	size_t cap = 1u << 21;
	char *buf = malloc(cap);
	char line[64];
	size_t n;

	assert_non_null(buf);
	f->big_stats = true;
	n = (size_t)snprintf(line, sizeof(line), "worker.%05d.announce=%020d\n", 0, 0);
	roundtrip(f, "TRK1 stats\n", 11, buf, cap);
	assert_int_equal(strlen(buf), 3 + BIG_LINES * n);
	assert_memory_equal(buf, "ok\nworker.00000.announce=", 25);
	snprintf(line, sizeof(line), "worker.%05d.announce=%020d\n", BIG_LINES - 1, BIG_LINES - 1);
	assert_string_equal(buf + 3 + (BIG_LINES - 1) * n, line);
	free(buf);
}

static void test_non_reading_client(void **state)
{
	struct fixture *f = *state;
	struct ctlsrv_stats st;
	char buf[256];
	int stuck;

	tnow = 7000000;
	f->big_stats = true;
	stuck = client_connect(f->path);
	client_send(stuck, "TRK1 stats\n", 11);
	/* the server writes what the socket takes, then waits for EPOLLOUT */
	for (int i = 0; i < ROUNDS && f->handler_calls == 0; i++) {
		struct pollfd p = { .fd = ctlsrv_fd(f->srv), .events = POLLIN };
		poll(&p, 1, 5);
		assert_true(ctlsrv_process(f->srv, tnow) >= 0);
	}
	assert_int_equal(f->handler_calls, 1);
	assert_int_equal(ctlsrv_connections(f->srv), 1);

	/* others are served meanwhile */
	f->big_stats = false;
	tnow += 1000;
	assert_reply(f, "TRK1 stats\n", "ok\ntotal.announce=5\n");
	assert_reply(f, "TRK1 status\n", "ok\nuptime=1\nworkers=2\n");
	assert_int_equal(ctlsrv_connections(f->srv), 1);

	/* and the stuck one goes at its deadline */
	tnow += 1000;
	assert_true(ctlsrv_process(f->srv, tnow) >= 0);
	assert_int_equal(ctlsrv_connections(f->srv), 0);
	ctlsrv_get_stats(f->srv, &st);
	assert_int_equal(st.timeouts, 1);
	/* it got the beginning of the reply, then EOF before the end */
	assert_int_equal(recv(stuck, buf, 3, 0), 3);
	assert_memory_equal(buf, "ok\n", 3);
	close(stuck);
}

static void test_reply_too_large(void **state)
{
	struct fixture *f = *state;
	struct ctlsrv_config cfg = config(f);
	struct ctlsrv_stats st;

	ctlsrv_close(f->srv);
	cfg.reply_max = 1000;
	assert_int_equal(ctlsrv_open(f->path, -1, &cfg, &f->srv), 0);
	assert_reply(f, "TRK1 metrics\n", "error reply too large (limit 1000 bytes)\n");
	assert_reply(f, "TRK1 status\n", "ok\nuptime=1\nworkers=2\n");
	ctlsrv_get_stats(f->srv, &st);
	assert_int_equal(st.reply_too_large, 1);
}

static void test_connection_cap(void **state)
{
	struct fixture *f = *state;
	struct ctlsrv_config cfg = config(f);
	struct ctlsrv_stats st;
	char buf[256];
	int a, b, c;

	ctlsrv_close(f->srv);
	cfg.max_conns = 2;
	assert_int_equal(ctlsrv_open(f->path, -1, &cfg, &f->srv), 0);
	a = client_connect(f->path);
	b = client_connect(f->path);
	for (int i = 0; i < ROUNDS && ctlsrv_connections(f->srv) < 2; i++) {
		struct pollfd p = { .fd = ctlsrv_fd(f->srv), .events = POLLIN };
		poll(&p, 1, 5);
		assert_true(ctlsrv_process(f->srv, tnow) >= 0);
	}
	assert_int_equal(ctlsrv_connections(f->srv), 2);

	c = client_connect(f->path);
	client_send(c, "TRK1 status\n", 12);
	read_reply(f->srv, c, buf, sizeof(buf));
	assert_string_equal(buf, "error too many connections\n");
	close(c);
	ctlsrv_get_stats(f->srv, &st);
	assert_int_equal(st.rejected_busy, 1);
	assert_int_equal(f->handler_calls, 0);

	/* a slot frees up: served again */
	close(a);
	for (int i = 0; i < ROUNDS && ctlsrv_connections(f->srv) > 1; i++) {
		struct pollfd p = { .fd = ctlsrv_fd(f->srv), .events = POLLIN };
		poll(&p, 1, 5);
		assert_true(ctlsrv_process(f->srv, tnow) >= 0);
	}
	assert_reply(f, "TRK1 status\n", "ok\nuptime=1\nworkers=2\n");
	close(b);
}

/* --- privilege ------------------------------------------------------------------ */

static void test_privilege_decision(void **state)
{
	(void)state;
	assert_true(ctlsrv_is_privileged(0, 1000));
	assert_true(ctlsrv_is_privileged(1000, 1000));
	assert_false(ctlsrv_is_privileged(1001, 1000));
	assert_false(ctlsrv_is_privileged(65534, 0));
	assert_true(ctlsrv_is_privileged(0, 0));
}

/*
 * A real unprivileged peer: as root, a child drops to nobody and connects;
 * otherwise the server is told that the admin is some other uid.
 */
static void test_privileged_command_refused(void **state)
{
	struct fixture *f = *state;
	const char *want = "error permission denied: 'reload' needs uid 0 or the daemon's user\n";
	struct ctlsrv_stats st;
	char buf[512];

	if (geteuid() != 0) {
		struct ctlsrv_config cfg = config(f);

		ctlsrv_close(f->srv);
		cfg.admin_uid = geteuid() + 1;
		assert_int_equal(ctlsrv_open(f->path, -1, &cfg, &f->srv), 0);
		assert_reply(f, "TRK1 reload\n", want);
		assert_reply(f, "TRK1 status\n", "ok\nuptime=1\nworkers=2\n");
	} else {
		int pfd[2], status = -1;
		size_t len = 0;
		pid_t pid;

		/* let nobody reach the socket; the check under test is the server's */
		assert_int_equal(chmod(f->dir, 0755), 0);
		assert_int_equal(chmod(f->path, 0666), 0);
		assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			const char *reqs[2] = { "TRK1 reload\n", "TRK1 status\n" };
			struct sockaddr_un sa = { .sun_family = AF_UNIX };

			if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
				_exit(10);
			snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
			for (int i = 0; i < 2; i++) {
				char rb[512];
				ssize_t n;
				size_t got = 0;
				int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

				if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
					_exit(11);
				if (send(fd, reqs[i], strlen(reqs[i]), MSG_NOSIGNAL) < 0)
					_exit(12);
				while ((n = read(fd, rb + got, sizeof(rb) - got)) > 0)
					got += (size_t)n;
				if (write(pfd[1], rb, got) != (ssize_t)got)
					_exit(13);
				close(fd);
			}
			_exit(0);
		}
		close(pfd[1]);
		for (int i = 0; i < ROUNDS; i++) {
			struct pollfd p[2] = { { .fd = ctlsrv_fd(f->srv), .events = POLLIN },
					       { .fd = pfd[0], .events = POLLIN } };
			ssize_t n;

			poll(p, 2, 5);
			assert_true(ctlsrv_process(f->srv, tnow) >= 0);
			if (!p[1].revents)
				continue;
			n = read(pfd[0], buf + len, sizeof(buf) - 1 - len);
			if (n <= 0)
				break;
			len += (size_t)n;
		}
		buf[len] = '\0';
		close(pfd[0]);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
		assert_memory_equal(buf, want, strlen(want));
		assert_string_equal(buf + strlen(want), "ok\nuptime=1\nworkers=2\n");
	}
	assert_int_equal(f->handler_calls, 1); /* status only */
	ctlsrv_get_stats(f->srv, &st);
	assert_int_equal(st.denied, 1);

	/* and we (root or the admin uid) may */
	assert_reply(f, "TRK1 reload\n",
		     "error reload failed?with?junk\n/etc/trackerd.conf:3: unknown key 'x'\n");
}

/* --- socket creation -------------------------------------------------------------- */

static void test_socket_mode(void **state)
{
	struct fixture *f = *state;
	struct stat st;

	assert_int_equal(lstat(f->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0660);
	assert_int_equal(fcntl(ctlsrv_fd(f->srv), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	/* closing removes the socket we created */
	ctlsrv_close(f->srv);
	f->srv = NULL;
	assert_int_equal(lstat(f->path, &st), -1);
	assert_int_equal(errno, ENOENT);
}

static void test_parent_dir_checks(void **state)
{
	struct fixture *f = *state;
	struct ctlsrv_config cfg = config(f);
	struct ctlsrv *srv = NULL;
	char dir[128], path[192];
	struct stat st;

	snprintf(dir, sizeof(dir), "%s/run", f->dir);
	snprintf(path, sizeof(path), "%s/control.sock", dir);

	/* missing: created, mode 0755 */
	assert_int_equal(ctlsrv_open(path, -1, &cfg, &srv), 0);
	ctlsrv_close(srv);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);

	assert_int_equal(chmod(dir, 0777), 0);
	assert_int_equal(ctlsrv_open(path, -1, &cfg, &srv), -EPERM);
	assert_int_equal(chmod(dir, 0775), 0);
	assert_int_equal(ctlsrv_open(path, -1, &cfg, &srv), -EPERM);
	assert_int_equal(lstat(path, &st), -1); /* nothing created */

	/* sticky like /tmp: fine */
	assert_int_equal(chmod(dir, 01777), 0);
	assert_int_equal(ctlsrv_open(path, -1, &cfg, &srv), 0);
	ctlsrv_close(srv);

	if (geteuid() == 0) {
		/* owned by another, unprivileged user */
		assert_int_equal(chmod(dir, 0755), 0);
		assert_int_equal(chown(dir, 65534, 65534), 0);
		assert_int_equal(ctlsrv_open(path, -1, &cfg, &srv), -EPERM);
	}

	/* too long for sun_path */
	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	assert_int_equal(ctlsrv_open(path, -1, &cfg, &srv), -ENAMETOOLONG);
}

static void test_stale_socket(void **state)
{
	struct fixture *f = *state;
	struct ctlsrv_config cfg = config(f);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ctlsrv *other = NULL;
	int fd;

	/* a live server at the path is never replaced */
	assert_int_equal(ctlsrv_open(f->path, -1, &cfg, &other), -EADDRINUSE);
	assert_reply(f, "TRK1 status\n", "ok\nuptime=1\nworkers=2\n");

	/* a left-over socket nobody listens on is */
	ctlsrv_close(f->srv);
	f->srv = NULL;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	assert_int_equal(ctlsrv_open(f->path, -1, &cfg, &f->srv), 0);
	assert_reply(f, "TRK1 status\n", "ok\nuptime=1\nworkers=2\n");

	/* a file that is not a socket is left alone */
	ctlsrv_close(f->srv);
	f->srv = NULL;
	fd = open(f->path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(ctlsrv_open(f->path, -1, &cfg, &f->srv), -EEXIST);
	assert_int_equal(access(f->path, F_OK), 0);
}

static void test_inherited_fd(void **state)
{
	struct fixture *f = *state;
	struct ctlsrv_config cfg = config(f);
	int fd = -1, udp;

	assert_int_equal(ctlsrv_bind(f->path, 0, &fd), 0);
	assert_int_equal(ctlsrv_open(NULL, fd, &cfg, &f->srv), 0);
	assert_reply(f, "TRK1 status\n", "ok\nuptime=1\nworkers=2\n");
	/* the server did not create it, so it does not remove it */
	ctlsrv_close(f->srv);
	f->srv = NULL;
	assert_int_equal(access(f->path, F_OK), 0);

	/* not a listening unix stream socket: refused (and closed) */
	udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(udp >= 0);
	assert_int_equal(ctlsrv_open(NULL, udp, &cfg, &f->srv), -EINVAL);
	assert_int_equal(fcntl(udp, F_GETFD), -1);
	assert_int_equal(errno, EBADF);
	cfg.handler = NULL;
	assert_int_equal(ctlsrv_open(f->path, -1, &cfg, &f->srv), -EINVAL);
}

/* --- trackerctl against the server ----------------------------------------------- */

struct ctl_result {
	int status;
	char out[4096];
	char err[4096];
};

static const char *trackerctl_path(void)
{
	static char path[PATH_MAX];
	char tmp[PATH_MAX];
	const char *env = getenv("TRACKERCTL");

	if (env && env[0])
		return env;
	snprintf(tmp, sizeof(tmp), "%s", argv0);
	snprintf(path, sizeof(path), "%s/../trackerctl", dirname(tmp));
	return path;
}

/* Read what is there; at EOF stop polling *fd. */
static void drain(int *fd, char *buf, size_t cap, size_t *len)
{
	ssize_t n;

	if (*fd < 0)
		return;
	n = read(*fd, buf + *len, cap - 1 - *len);
	if (n > 0)
		*len += (size_t)n;
	else if (n == 0 || errno != EINTR) {
		close(*fd);
		*fd = -1;
	}
	buf[*len] = '\0';
}

/* Run trackerctl with args (NULL-terminated), serving srv (may be NULL) meanwhile. */
static void run_ctl(struct ctlsrv *srv, struct ctl_result *res, ...)
{
	const char *args[16] = { trackerctl_path() };
	int out[2], err[2], n = 1;
	size_t olen = 0, elen = 0;
	bool exited = false;
	va_list ap;
	pid_t pid;

	if (access(args[0], X_OK) != 0)
		fail_msg("trackerctl not found at %s (build it, or set TRACKERCTL)", args[0]);
	va_start(ap, res);
	while (n < 15 && (args[n] = va_arg(ap, const char *)))
		n++;
	va_end(ap);
	args[n] = NULL;

	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	assert_int_equal(pipe2(err, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(out[1], 1);
		dup2(err[1], 2);
		unsetenv(CTLPROTO_SOCKET_ENV);
		execv(args[0], (char *const *)args);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	/* bounded by wall time: 10 s, far above the few ms it takes */
	for (uint64_t end = ctlsrv_now_ms() + 10000; !exited && ctlsrv_now_ms() < end;) {
		struct pollfd p[3] = { { .fd = out[0], .events = POLLIN },
				       { .fd = err[0], .events = POLLIN },
				       { .fd = srv ? ctlsrv_fd(srv) : -1, .events = POLLIN } };

		poll(p, 3, 5);
		if (srv)
			assert_true(ctlsrv_process(srv, tnow) >= 0);
		if (p[0].revents)
			drain(&out[0], res->out, sizeof(res->out), &olen);
		if (p[1].revents)
			drain(&err[0], res->err, sizeof(res->err), &elen);
		if (waitpid(pid, &res->status, WNOHANG) == pid)
			exited = true;
	}
	if (!exited) {
		kill(pid, SIGKILL);
		waitpid(pid, &res->status, 0);
		fail_msg("trackerctl did not exit");
	}
	while (out[0] >= 0)
		drain(&out[0], res->out, sizeof(res->out), &olen);
	while (err[0] >= 0)
		drain(&err[0], res->err, sizeof(res->err), &elen);
	assert_true(WIFEXITED(res->status));
	res->status = WEXITSTATUS(res->status);
}

static void test_trackerctl_exit_codes(void **state)
{
	struct fixture *f = *state;
	struct ctl_result r = { 0 };
	char missing[192];

	run_ctl(f->srv, &r, "-s", f->path, "status", NULL);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out, "uptime=1\nworkers=2\n");
	assert_string_equal(r.err, "");

	memset(&r, 0, sizeof(r));
	run_ctl(f->srv, &r, "-s", f->path, "torrent", HEX_A, NULL);
	assert_int_equal(r.status, 1);
	assert_string_equal(r.out, "");
	assert_string_equal(r.err, "trackerctl: unknown torrent '" HEX_A "'\n");

	memset(&r, 0, sizeof(r));
	run_ctl(f->srv, &r, "-s", f->path, "reload", NULL);
	assert_int_equal(r.status, 1);
	assert_string_equal(r.err, "trackerctl: reload failed?with?junk\n"
				   "/etc/trackerd.conf:3: unknown key 'x'\n");

	memset(&r, 0, sizeof(r));
	run_ctl(f->srv, &r, "-s", f->path, "ban", "10.0.0.0/8", NULL);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "trackerctl: "));

	/* usage errors never connect */
	f->handler_calls = 0;
	memset(&r, 0, sizeof(r));
	run_ctl(f->srv, &r, "-s", f->path, "bogus", NULL);
	assert_int_equal(r.status, 2);
	assert_non_null(strstr(r.err, "unknown command 'bogus'"));
	memset(&r, 0, sizeof(r));
	run_ctl(f->srv, &r, "-s", f->path, "torrent", "xyz", NULL);
	assert_int_equal(r.status, 2);
	memset(&r, 0, sizeof(r));
	run_ctl(f->srv, &r, "-s", f->path, "status", "extra", NULL);
	assert_int_equal(r.status, 2);
	memset(&r, 0, sizeof(r));
	run_ctl(f->srv, &r, "-t", "nope", "status", NULL);
	assert_int_equal(r.status, 2);
	memset(&r, 0, sizeof(r));
	run_ctl(f->srv, &r, NULL);
	assert_int_equal(r.status, 2);
	assert_int_equal(f->handler_calls, 0);

	/* nothing at the socket path */
	snprintf(missing, sizeof(missing), "%s/nothing.sock", f->dir);
	memset(&r, 0, sizeof(r));
	run_ctl(NULL, &r, "-s", missing, "status", NULL);
	assert_int_equal(r.status, 3);
	assert_non_null(strstr(r.err, "cannot connect"));
}

static void test_trackerctl_timeout(void **state)
{
	struct fixture *f = *state;
	struct ctl_result r = { 0 };

	/* the server is not served: the connection is queued, no reply comes */
	run_ctl(NULL, &r, "-s", f->path, "-t", "0.2", "status", NULL);
	assert_int_equal(r.status, 3);
	assert_non_null(strstr(r.err, "timed out"));
}

static void test_trackerctl_help_local(void **state)
{
	struct fixture *f = *state;
	struct ctl_result r = { 0 };

	run_ctl(NULL, &r, "-s", "/nonexistent/control.sock", "help", NULL);
	assert_int_equal(r.status, 0);
	for (int i = 0; i < CTLPROTO_CMD__MAX; i++) {
		char want[64];

		snprintf(want, sizeof(want), "\n  %s ", ctlproto_commands[i].name);
		assert_non_null(strstr(r.out, want));
	}
	memset(&r, 0, sizeof(r));
	run_ctl(NULL, &r, "-h", NULL);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "\n  reload "));

	/* version: the daemon's lines, then trackerctl's own */
	memset(&r, 0, sizeof(r));
	run_ctl(f->srv, &r, "-s", f->path, "version", NULL);
	assert_int_equal(r.status, 0);
	assert_memory_equal(r.out, "version=", 8);
	assert_non_null(strstr(r.out, "\nprotocol=TRK1\ntrackerctl="));
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ok_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_builtin_help_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_command, setup, teardown),
		cmocka_unit_test_setup_teardown(test_argument_count, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reserved_command, setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_size_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eof_before_newline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_client_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_non_reading_client, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reply_too_large, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connection_cap, setup, teardown),
		cmocka_unit_test(test_privilege_decision),
		cmocka_unit_test_setup_teardown(test_privileged_command_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_socket_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parent_dir_checks, setup_nosrv, teardown),
		cmocka_unit_test_setup_teardown(test_stale_socket, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inherited_fd, setup_nosrv, teardown),
		cmocka_unit_test_setup_teardown(test_trackerctl_exit_codes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trackerctl_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trackerctl_help_local, setup, teardown),
	};

	(void)argc;
	argv0 = argv[0];
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
