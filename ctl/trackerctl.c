/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * ctl/trackerctl.c - send one command to trackerd's control socket.
 *
 * The admin tool. It checks the command and its arguments against the
 * table in ctl/ctlproto.h before connecting (a usage error never reaches
 * the daemon), sends one TRK1 request, prints the data lines of an "ok"
 * reply on stdout or the reason of an "error" reply on stderr, and maps the
 * outcome to the exit status. It links no daemon code and needs no
 * privilege of its own: the socket's mode decides who may connect, the
 * daemon decides who may run mutating commands.
 *
 * Every wait is bounded by one deadline (-t, default 10 s): connecting,
 * sending and reading the whole reply.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctl/ctlproto.h"

#ifndef TRACKERD_VERSION
#define TRACKERD_VERSION "unknown"
#endif

#define EXIT_OK 0
#define EXIT_DAEMON 1
#define EXIT_USAGE 2
#define EXIT_CONNECT 3

#define DEFAULT_TIMEOUT_MS 10000
#define STATUS_LINE_MAX 4096 /* the server's reasons are far shorter */

static struct {
	const char *socket_path;
	int timeout_ms;
} arg = {
	.socket_path = NULL,
	.timeout_ms = DEFAULT_TIMEOUT_MS,
};

static void print_usage(FILE *f)
{
	char line[160];

	fprintf(f,
		"usage: trackerctl [-s SOCKET] [-t SECONDS] COMMAND [ARGS]\n"
		"       trackerctl -h | -V\n"
		"options:\n"
		"    -s SOCKET   control socket (default $%s, else %s)\n"
		"    -t SECONDS  give up after this long (default %d)\n"
		"    -h          this help; -V: version of trackerctl\n"
		"commands:\n",
		CTLPROTO_SOCKET_ENV, CTLPROTO_SOCKET_PATH, DEFAULT_TIMEOUT_MS / 1000);
	for (int i = 0; i < CTLPROTO_CMD__MAX; i++) {
		ctlproto_help_line(i, line, sizeof(line));
		fprintf(f, "  %s\n", line);
	}
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("trackerctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n", stderr);
	return EXIT_USAGE;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int remaining(int64_t deadline)
{
	int64_t left = deadline - now_ms();

	return left > 0 ? (int)left : 0;
}

/* Wait for events on fd until the deadline: 1 ready, 0 timeout, -errno. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };

	for (;;) {
		int r = poll(&p, 1, remaining(deadline));
		if (r > 0)
			return 1;
		if (r == 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

static int connect_socket(const char *path, int64_t deadline, int *ret_fd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* A unix connect never completes later: EAGAIN means a full backlog; retry. */
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN) {
			r = -errno;
			goto out_close;
		}
		if (remaining(deadline) == 0) {
			r = -ETIMEDOUT;
			goto out_close;
		}
		poll(NULL, 0, 10);
	}
	*ret_fd = fd;
	return 0;

out_close:
	close(fd);
	return r;
}

static int send_all(int fd, const char *buf, size_t len, int64_t deadline)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0) {
			int r;

			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return -errno;
			r = wait_fd(fd, POLLOUT, deadline);
			if (r <= 0)
				return r == 0 ? -ETIMEDOUT : r;
			continue;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read into buf; returns bytes (0 at EOF) or -errno (-ETIMEDOUT). */
static ssize_t recv_some(int fd, char *buf, size_t len, int64_t deadline)
{
	for (;;) {
		ssize_t n = recv(fd, buf, len, 0);
		int r;

		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		r = wait_fd(fd, POLLIN, deadline);
		if (r <= 0)
			return r == 0 ? -ETIMEDOUT : r;
	}
}

static int conn_failed(const char *what, int err)
{
	fprintf(stderr, "trackerctl: %s: %s\n", what, strerror(-err));
	return EXIT_CONNECT;
}

/*
 * Send the request and relay the reply. The status line is collected
 * first; the data that follows is streamed to stdout (ok) or stderr
 * (error) as it arrives.
 */
static int exchange(int fd, const char *req, size_t reqlen, int64_t deadline)
{
	char status[STATUS_LINE_MAX];
	size_t slen = 0;
	char buf[16384];
	FILE *data = NULL;
	int rc = EXIT_OK;
	ssize_t n;
	int send_err;

	/*
	 * A server that refuses the connection (too many clients) writes its
	 * error line and closes before reading the request, so our send can fail
	 * with EPIPE or ECONNRESET while the answer waits in the socket: read it
	 * before reporting the send failure.
	 */
	send_err = send_all(fd, req, reqlen, deadline);
	if (send_err < 0 && send_err != -EPIPE && send_err != -ECONNRESET)
		return conn_failed("cannot send the request", send_err);

	for (;;) {
		char *nl;

		n = recv_some(fd, buf, sizeof(buf), deadline);
		/* the server closed with our unread bytes queued: the reply is complete */
		if (n == -ECONNRESET && data)
			n = 0;
		if (n <= 0 && !data && send_err < 0)
			return conn_failed("cannot send the request", send_err);
		if (n < 0)
			return conn_failed("cannot read the reply", (int)n);
		if (n == 0) {
			if (!data) {
				fprintf(stderr, "trackerctl: connection closed by the daemon "
						"before a reply\n");
				return EXIT_CONNECT;
			}
			break;
		}
		if (data) {
			fwrite(buf, 1, (size_t)n, data);
			continue;
		}
		nl = memchr(buf, '\n', (size_t)n);
		if (slen + (size_t)(nl ? nl - buf : n) >= sizeof(status)) {
			fprintf(stderr, "trackerctl: unexpected reply from the daemon\n");
			return EXIT_CONNECT;
		}
		memcpy(status + slen, buf, (size_t)(nl ? nl - buf : n));
		slen += (size_t)(nl ? nl - buf : n);
		if (!nl)
			continue;
		status[slen] = '\0';
		if (strcmp(status, "ok") == 0) {
			data = stdout;
		} else if (strncmp(status, "error ", 6) == 0) {
			fprintf(stderr, "trackerctl: %s\n", status + 6);
			data = stderr;
			rc = EXIT_DAEMON;
		} else {
			fprintf(stderr, "trackerctl: unexpected reply from the daemon\n");
			return EXIT_CONNECT;
		}
		fwrite(nl + 1, 1, (size_t)(buf + n - (nl + 1)), data);
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "trackerctl: cannot write the output: %s\n", strerror(errno));
		return EXIT_DAEMON;
	}
	return rc;
}

static int parse_timeout(const char *s)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v > 0) || v > 3600)
		return -EINVAL;
	arg.timeout_ms = (int)(v * 1000);
	if (arg.timeout_ms < 1)
		arg.timeout_ms = 1;
	return 0;
}

int main(int argc, char **argv)
{
	char req[CTLPROTO_REQUEST_MAX + 1];
	const struct ctlproto_command *c;
	unsigned nargs, bad = 0;
	int64_t deadline;
	size_t len;
	int cmd, fd = -1, opt, r, rc;

	while ((opt = getopt(argc, argv, "+hVs:t:")) != -1) {
		switch (opt) {
		case 'h':
			print_usage(stdout);
			return EXIT_OK;
		case 'V':
			printf("trackerctl %s (protocol %s)\n", TRACKERD_VERSION, CTLPROTO_MAGIC);
			return EXIT_OK;
		case 's':
			arg.socket_path = optarg;
			break;
		case 't':
			if (parse_timeout(optarg) < 0)
				return usage_error("bad timeout '%s': seconds, more than 0, "
						   "at most 3600",
						   optarg);
			break;
		default:
			print_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		print_usage(stderr);
		return EXIT_USAGE;
	}

	cmd = ctlproto_find(argv[optind]);
	if (cmd < 0)
		return usage_error("unknown command '%s' (try 'trackerctl help')", argv[optind]);
	c = &ctlproto_commands[cmd];
	nargs = (unsigned)(argc - optind - 1);
	if (nargs > CTLPROTO_ARGS_MAX)
		r = -E2BIG;
	else
		r = ctlproto_check_args(cmd, nargs, (const char *const *)argv + optind + 1, &bad);
	if (r < 0) {
		const char *why = r == -EINVAL ? "missing argument" :
				  r == -E2BIG  ? "too many arguments" :
						 "bad argument";
		return usage_error("%s%s%s%s, usage: trackerctl %s%s%s", why,
				   r == -EDOM ? " '" : "", r == -EDOM ? argv[optind + 1 + bad] : "",
				   r == -EDOM ? "'" : "", c->name, c->usage[0] ? " " : "",
				   c->usage);
	}
	if (cmd == CTLPROTO_CMD_HELP) {
		print_usage(stdout);
		return EXIT_OK;
	}

	len = (size_t)snprintf(req, sizeof(req), "%s %s", CTLPROTO_MAGIC, c->name);
	for (unsigned i = 0; i < nargs && len < sizeof(req); i++)
		len += (size_t)snprintf(req + len, sizeof(req) - len, " %s", argv[optind + 1 + i]);
	if (len + 1 > CTLPROTO_REQUEST_MAX)
		return usage_error("request too long (limit %u bytes)", CTLPROTO_REQUEST_MAX);
	req[len++] = '\n';

	if (!arg.socket_path)
		arg.socket_path = getenv(CTLPROTO_SOCKET_ENV);
	if (!arg.socket_path || !arg.socket_path[0])
		arg.socket_path = CTLPROTO_SOCKET_PATH;

	deadline = now_ms() + arg.timeout_ms;
	r = connect_socket(arg.socket_path, deadline, &fd);
	if (r < 0) {
		fprintf(stderr, "trackerctl: cannot connect to '%s': %s\n", arg.socket_path,
			strerror(-r));
		return EXIT_CONNECT;
	}
	rc = exchange(fd, req, len, deadline);
	close(fd);
	if (rc == EXIT_OK && cmd == CTLPROTO_CMD_VERSION)
		printf("trackerctl=%s\n", TRACKERD_VERSION);
	return rc;
}
