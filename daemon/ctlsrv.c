/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * daemon/ctlsrv.c - the control-socket server (protocol in ctl/ctlproto.h).
 *
 * Owns the listening Unix socket of the control process, its client
 * connections and their deadlines. It validates requests against the
 * command table and calls the control process's handler; it must never
 * block the control process (which also cleans the table and folds stats)
 * and never log (it counts instead; the caller decides what to say).
 *
 * Design notes
 *  - One epoll instance holds the listening socket and every client, level
 *    triggered; the caller polls the epoll fd, so the server fits any loop
 *    without owning it. Connections live in a fixed array of max_conns
 *    slots allocated at open: no allocation per connection except the
 *    reply buffer, which is bounded by reply_max.
 *  - A connection is READING (EPOLLIN, deadline accept + timeout), then
 *    WRITING (EPOLLOUT, deadline reply ready + timeout), then closed. The
 *    handler runs synchronously between the two, once per connection.
 *  - When all slots are busy the next connection is still accepted, so the
 *    level-triggered listening socket cannot spin, told
 *    "error too many connections" with one non-blocking send, and closed.
 *  - The reply buffer keeps CTLSRV_HEAD_MAX bytes free in front of the
 *    data, so the status line ("ok" or "error <reason>"), known only after
 *    the handler returns, is written in front without moving the data.
 *  - Writes use MSG_NOSIGNAL | MSG_DONTWAIT: a client that went away costs
 *    an EPIPE, not a SIGPIPE; one that does not read is dropped at its
 *    deadline.
 *  - Privilege: SO_PEERCRED is read once at accept. Privileged rows of the
 *    table need uid 0 or admin_uid (the daemon's euid by default). The
 *    socket group only grants connecting, i.e. the read-only commands.
 *  - Socket creation (ctlsrv_bind) refuses a parent directory that others
 *    could use to swap the socket (writable by group or others without the
 *    sticky bit, or owned by another user) and never unlinks a live socket
 *    or a non-socket file.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctl/ctlproto.h"
#include "daemon/ctlsrv.h"

#ifndef TRACKERD_VERSION
#define TRACKERD_VERSION "unknown"
#endif

#define CTLSRV_REASON_MAX 256 /* bytes of an error reason */
#define CTLSRV_HEAD_MAX (CTLSRV_REASON_MAX + 16) /* "error " + reason + "\n" */
#define CTLSRV_CONN_LIMIT 1024u /* largest max_conns accepted */
#define CTLSRV_EVENTS 32 /* epoll events per round */
#define CTLSRV_BACKLOG 64
#define CTLSRV_LISTEN_TAG UINT64_MAX

struct ctlsrv_reply {
	char *buf; /* CTLSRV_HEAD_MAX reserved bytes, then the data */
	size_t len; /* data bytes after the reserved head */
	size_t cap; /* allocated data bytes */
	size_t max; /* data limit (reply_max) */
	bool overflow; /* a printf did not fit: the reply becomes an error */
	bool has_reason; /* reason[] was set by ctlsrv_reply_error() */
	char reason[CTLSRV_REASON_MAX];
};

enum conn_state {
	CONN_FREE = 0,
	CONN_READING,
	CONN_WRITING,
};

struct conn {
	enum conn_state state;
	int fd;
	uint64_t deadline; /* ms, CLOCK_MONOTONIC */
	bool have_cred; /* SO_PEERCRED worked */
	uid_t uid; /* peer uid, if have_cred */
	size_t inlen; /* request bytes received */
	char in[CTLPROTO_REQUEST_MAX + 1];
	char *out; /* reply buffer (malloc'd) */
	size_t outoff; /* start of unsent bytes in out */
	size_t outend; /* end of the reply in out */
};

struct ctlsrv {
	int epfd;
	int lfd;
	char *unlink_path; /* socket we created, removed at close */
	struct ctlsrv_config cfg;
	unsigned nconns;
	struct conn *conns; /* cfg.max_conns slots */
	struct ctlsrv_stats stats;
};

uint64_t ctlsrv_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

bool ctlsrv_is_privileged(uid_t peer_uid, uid_t admin_uid)
{
	return peer_uid == 0 || peer_uid == admin_uid;
}

/* --- socket creation ------------------------------------------------------ */

static int check_parent_dir(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct stat st;
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';

	if (stat(dir, &st) < 0) {
		if (errno != ENOENT)
			return -errno;
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return -errno;
		if (chmod(dir, 0755) < 0 || stat(dir, &st) < 0)
			return -errno;
	}
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (st.st_uid != 0 && st.st_uid != geteuid())
		return -EPERM;
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))
		return -EPERM;
	return 0;
}

/* Remove a socket file nobody accepts on; leave anything else alone. */
static int remove_stale(const struct sockaddr_un *sa)
{
	struct stat st;
	int fd, r;

	if (lstat(sa->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	r = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	if (r == 0 || errno == EAGAIN || errno == EINPROGRESS)
		r = -EADDRINUSE;
	else if (errno == ECONNREFUSED)
		r = unlink(sa->sun_path) < 0 && errno != ENOENT ? -errno : 0;
	else if (errno == ENOENT)
		r = 0;
	else
		r = -errno;
	close(fd);
	return r;
}

int ctlsrv_bind(const char *path, gid_t group, int *ret_fd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n = path ? strlen(path) : 0;
	mode_t old_mask;
	int fd, r;

	if (n == 0)
		return -EINVAL;
	if (n >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, n + 1);

	r = check_parent_dir(path);
	if (r < 0)
		return r;
	r = remove_stale(&sa);
	if (r < 0)
		return r;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	old_mask = umask(0117);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	if (r < 0)
		r = -errno;
	umask(old_mask);
	if (r < 0)
		goto out_close;
	if (chmod(path, 0660) < 0 ||
	    (group != 0 && group != (gid_t)-1 && chown(path, (uid_t)-1, group) < 0)) {
		r = -errno;
		goto out_unlink;
	}
	if (listen(fd, CTLSRV_BACKLOG) < 0) {
		r = -errno;
		goto out_unlink;
	}
	*ret_fd = fd;
	return 0;

out_unlink:
	unlink(path);
out_close:
	close(fd);
	return r;
}

static int check_inherited(int fd)
{
	int v, flags;
	socklen_t len = sizeof(v);

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len) < 0)
		return -errno;
	if (v != AF_UNIX)
		return -EINVAL;
	len = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) < 0)
		return -errno;
	if (v != SOCK_STREAM)
		return -EINVAL;
	len = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) < 0)
		return -errno;
	if (!v)
		return -EINVAL;
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return -errno;
	return 0;
}

/* --- lifecycle ------------------------------------------------------------ */

int ctlsrv_open(const char *path, int inherited_fd, const struct ctlsrv_config *cfg,
		struct ctlsrv **ret_srv)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = CTLSRV_LISTEN_TAG };
	struct ctlsrv *srv;
	int r;

	if (!cfg || !cfg->handler) {
		r = -EINVAL;
		goto out_fd;
	}
	srv = calloc(1, sizeof(*srv));
	if (!srv) {
		r = -ENOMEM;
		goto out_fd;
	}
	srv->cfg = *cfg;
	if (!srv->cfg.timeout_ms)
		srv->cfg.timeout_ms = CTLPROTO_TIMEOUT_MS;
	if (!srv->cfg.max_conns)
		srv->cfg.max_conns = CTLPROTO_CONN_MAX;
	if (srv->cfg.max_conns > CTLSRV_CONN_LIMIT)
		srv->cfg.max_conns = CTLSRV_CONN_LIMIT;
	if (!srv->cfg.reply_max)
		srv->cfg.reply_max = CTLPROTO_REPLY_MAX;
	if (srv->cfg.admin_uid == 0 || srv->cfg.admin_uid == (uid_t)-1)
		srv->cfg.admin_uid = geteuid();
	srv->lfd = -1;

	srv->conns = calloc(srv->cfg.max_conns, sizeof(*srv->conns));
	if (!srv->conns) {
		r = -ENOMEM;
		goto out_free;
	}
	srv->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (srv->epfd < 0) {
		r = -errno;
		goto out_free;
	}

	if (inherited_fd >= 0) {
		srv->lfd = inherited_fd;
		inherited_fd = -1;
		r = check_inherited(srv->lfd);
		if (r < 0)
			goto out_close;
	} else {
		r = ctlsrv_bind(path, srv->cfg.group, &srv->lfd);
		if (r < 0)
			goto out_close;
		srv->unlink_path = strdup(path);
		if (!srv->unlink_path) {
			unlink(path);
			r = -ENOMEM;
			goto out_close;
		}
	}
	if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->lfd, &ev) < 0) {
		r = -errno;
		goto out_unlink;
	}
	*ret_srv = srv;
	return 0;

out_unlink:
	if (srv->unlink_path)
		unlink(srv->unlink_path);
out_close:
	if (srv->lfd >= 0)
		close(srv->lfd);
	close(srv->epfd);
out_free:
	free(srv->unlink_path);
	free(srv->conns);
	free(srv);
out_fd:
	if (inherited_fd >= 0)
		close(inherited_fd);
	return r;
}

/*
 * Closing a unix socket with unread input makes the peer's next read fail
 * with ECONNRESET instead of EOF (after the data it has). Discard a little
 * unread input first so that a client that sent more than one line still
 * sees a clean end; a flood is not drained (bounded).
 */
static void drain_input(int fd)
{
	char scratch[CTLPROTO_REQUEST_MAX];

	for (int i = 0; i < 4; i++)
		if (recv(fd, scratch, sizeof(scratch), MSG_DONTWAIT) <= 0)
			return;
}

static void conn_close(struct ctlsrv *srv, struct conn *c)
{
	drain_input(c->fd);
	close(c->fd); /* also removes it from the epoll set */
	free(c->out);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	srv->nconns--;
}

void ctlsrv_close(struct ctlsrv *srv)
{
	if (!srv)
		return;
	for (unsigned i = 0; i < srv->cfg.max_conns; i++)
		if (srv->conns[i].state != CONN_FREE)
			conn_close(srv, &srv->conns[i]);
	close(srv->lfd);
	close(srv->epfd);
	if (srv->unlink_path)
		unlink(srv->unlink_path);
	free(srv->unlink_path);
	free(srv->conns);
	free(srv);
}

int ctlsrv_fd(const struct ctlsrv *srv)
{
	return srv->epfd;
}

unsigned ctlsrv_connections(const struct ctlsrv *srv)
{
	return srv->nconns;
}

void ctlsrv_get_stats(const struct ctlsrv *srv, struct ctlsrv_stats *ret_stats)
{
	*ret_stats = srv->stats;
}

int ctlsrv_timeout_ms(const struct ctlsrv *srv, uint64_t now_ms)
{
	uint64_t best = UINT64_MAX;

	for (unsigned i = 0; i < srv->cfg.max_conns; i++)
		if (srv->conns[i].state != CONN_FREE && srv->conns[i].deadline < best)
			best = srv->conns[i].deadline;
	if (best == UINT64_MAX)
		return -1;
	if (best <= now_ms)
		return 0;
	return best - now_ms > INT_MAX ? INT_MAX : (int)(best - now_ms);
}

/* --- replies -------------------------------------------------------------- */

int ctlsrv_reply_vprintf(struct ctlsrv_reply *out, const char *fmt, va_list ap)
{
	va_list aq;
	size_t room;
	int n;

	if (out->overflow)
		return -ENOBUFS;
	room = out->cap - out->len;
	va_copy(aq, ap);
	n = vsnprintf(out->buf ? out->buf + CTLSRV_HEAD_MAX + out->len : NULL,
		      out->buf ? room + 1 : 0, fmt, aq);
	va_end(aq);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n > room) {
		size_t need = out->len + (size_t)n;
		size_t cap = out->cap ? out->cap : 4096;
		char *nb;

		if (need > out->max) {
			out->overflow = true;
			return -ENOBUFS;
		}
		while (cap < need)
			cap *= 2;
		if (cap > out->max)
			cap = out->max;
		/* +1: vsnprintf's NUL after the last byte */
		nb = realloc(out->buf, CTLSRV_HEAD_MAX + cap + 1);
		if (!nb) {
			out->overflow = true;
			return -ENOBUFS;
		}
		out->buf = nb;
		out->cap = cap;
		vsnprintf(out->buf + CTLSRV_HEAD_MAX + out->len, (size_t)n + 1, fmt, ap);
	}
	out->len += (size_t)n;
	return 0;
}

int ctlsrv_reply_printf(struct ctlsrv_reply *out, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = ctlsrv_reply_vprintf(out, fmt, ap);
	va_end(ap);
	return r;
}

static void set_reason_v(struct ctlsrv_reply *out, const char *fmt, va_list ap)
{
	vsnprintf(out->reason, sizeof(out->reason), fmt, ap);
	for (char *p = out->reason; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
	out->has_reason = true;
}

int ctlsrv_reply_error(struct ctlsrv_reply *out, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	set_reason_v(out, fmt, ap);
	va_end(ap);
	return err;
}

static void set_reason(struct ctlsrv_reply *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void set_reason(struct ctlsrv_reply *out, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	set_reason_v(out, fmt, ap);
	va_end(ap);
}

/* --- connections ---------------------------------------------------------- */

static void send_and_forget(int fd, const char *line)
{
	ssize_t r = send(fd, line, strlen(line), MSG_NOSIGNAL | MSG_DONTWAIT);

	(void)r; /* best effort: the connection is closed right after */
}

static void accept_clients(struct ctlsrv *srv, uint64_t now_ms)
{
	/* Bounded: a flood is served over several rounds, never in one. */
	for (unsigned i = 0; i < srv->cfg.max_conns + 8; i++) {
		struct epoll_event ev = { .events = EPOLLIN };
		struct ucred cred;
		socklen_t len = sizeof(cred);
		struct conn *c = NULL;
		int fd;

		fd = accept4(srv->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN)
				srv->stats.io_errors++; /* EMFILE and friends: retry next round */
			return;
		}
		for (unsigned j = 0; j < srv->cfg.max_conns; j++) {
			if (srv->conns[j].state == CONN_FREE) {
				c = &srv->conns[j];
				ev.data.u64 = j;
				break;
			}
		}
		if (!c) {
			srv->stats.rejected_busy++;
			send_and_forget(fd, "error too many connections\n");
			drain_input(fd);
			close(fd);
			continue;
		}
		if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			srv->stats.io_errors++;
			close(fd);
			continue;
		}
		memset(c, 0, sizeof(*c));
		c->state = CONN_READING;
		c->fd = fd;
		c->deadline = now_ms + srv->cfg.timeout_ms;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
			c->have_cred = true;
			c->uid = cred.uid;
		}
		srv->nconns++;
		srv->stats.accepted++;
	}
}

/* Send what the socket takes; close when done or broken. */
static void conn_flush(struct ctlsrv *srv, struct conn *c)
{
	while (c->outoff < c->outend) {
		ssize_t n = send(c->fd, c->out + c->outoff, c->outend - c->outoff,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			srv->stats.io_errors++;
			conn_close(srv, c);
			return;
		}
		c->outoff += (size_t)n;
	}
	conn_close(srv, c);
}

/*
 * Turn the reply into the bytes to send: status line in the reserved head,
 * then the data, with a final "\n". Takes the buffer from r.
 */
static void conn_reply(struct ctlsrv *srv, struct conn *c, struct ctlsrv_reply *r, bool ok,
		       uint64_t now_ms)
{
	struct epoll_event ev = { .events = EPOLLOUT, .data.u64 = (uint64_t)(c - srv->conns) };
	char head[CTLSRV_HEAD_MAX + 1];
	size_t hlen;

	if (r->overflow) {
		ok = false;
		r->len = 0;
		set_reason(r, "reply too large (limit %zu bytes)", r->max);
		srv->stats.reply_too_large++;
	}
	if (ok)
		hlen = (size_t)snprintf(head, sizeof(head), "ok\n");
	else
		hlen = (size_t)snprintf(head, sizeof(head), "error %s\n",
					r->has_reason ? r->reason : "unknown error");
	if (ok)
		srv->stats.requests_ok++;
	else
		srv->stats.requests_error++;

	if (!r->buf) {
		/* no data: room for the head and a NUL */
		char *nb = malloc(CTLSRV_HEAD_MAX + 1);

		if (!nb) {
			srv->stats.io_errors++;
			send_and_forget(c->fd, "error out of memory\n");
			conn_close(srv, c);
			return;
		}
		r->buf = nb;
	}
	memcpy(r->buf + CTLSRV_HEAD_MAX - hlen, head, hlen);
	if (r->len && r->buf[CTLSRV_HEAD_MAX + r->len - 1] != '\n')
		r->buf[CTLSRV_HEAD_MAX + r->len++] = '\n';

	c->out = r->buf;
	r->buf = NULL;
	c->outoff = CTLSRV_HEAD_MAX - hlen;
	c->outend = CTLSRV_HEAD_MAX + r->len;
	c->state = CONN_WRITING;
	c->deadline = now_ms + srv->cfg.timeout_ms;
	if (epoll_ctl(srv->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
		srv->stats.io_errors++;
		conn_close(srv, c);
		return;
	}
	conn_flush(srv, c);
}

static void reply_help(struct ctlsrv_reply *r)
{
	char line[160];

	for (int i = 0; i < CTLPROTO_CMD__MAX; i++) {
		ctlproto_help_line(i, line, sizeof(line));
		ctlsrv_reply_printf(r, "%s\n", line);
	}
}

static const char *usage_of(int cmd)
{
	return ctlproto_commands[cmd].usage;
}

/* Validate the request line in c->in[0..len) and produce the reply. */
static void conn_request(struct ctlsrv *srv, struct conn *c, size_t len, uint64_t now_ms)
{
	struct ctlsrv_reply r = { .max = srv->cfg.reply_max };
	struct ctlproto_request req;
	const struct ctlproto_command *cmd;
	bool ok = false;
	int e;

	e = ctlproto_parse(c->in, len, &req);
	if (e < 0) {
		const char *name = req.cmd >= 0 ? ctlproto_commands[req.cmd].name : "";
		const char *sp = usage_of(req.cmd >= 0 ? req.cmd : 0)[0] ? " " : "";

		srv->stats.bad_requests++;
		switch (e) {
		case -EPROTONOSUPPORT:
			set_reason(&r, "unsupported protocol version, server speaks %s",
				   CTLPROTO_MAGIC);
			break;
		case -ENOENT:
			/* parse split the words: the command is the second one */
			set_reason(&r, "unknown command '%.64s', try help",
				   c->in + sizeof(CTLPROTO_MAGIC));
			break;
		case -EINVAL:
			set_reason(&r, "missing argument, usage: %s%s%s", name, sp,
				   usage_of(req.cmd));
			break;
		case -E2BIG:
			set_reason(&r, "too many arguments, usage: %s%s%s", name, sp,
				   usage_of(req.cmd));
			break;
		case -EDOM:
			set_reason(&r, "bad argument, usage: %s%s%s", name, sp, usage_of(req.cmd));
			break;
		default:
			set_reason(&r, "malformed request");
			break;
		}
		goto out_reply;
	}

	cmd = &ctlproto_commands[req.cmd];
	if (cmd->privileged &&
	    !(c->have_cred && ctlsrv_is_privileged(c->uid, srv->cfg.admin_uid))) {
		srv->stats.denied++;
		set_reason(&r, "permission denied: '%s' needs uid 0 or the daemon's user",
			   cmd->name);
		goto out_reply;
	}
	if (cmd->later) {
		set_reason(&r, "not supported yet");
		goto out_reply;
	}
	if (req.cmd == CTLPROTO_CMD_HELP) {
		reply_help(&r);
		ok = true;
		goto out_reply;
	}
	if (req.cmd == CTLPROTO_CMD_VERSION && !srv->cfg.handle_version) {
		ctlsrv_reply_printf(&r, "version=%s\nprotocol=%s\n", TRACKERD_VERSION,
				    CTLPROTO_MAGIC);
		ok = true;
		goto out_reply;
	}

	e = srv->cfg.handler(srv->cfg.ctx, &req, &r);
	ok = e >= 0;
	if (!ok && !r.has_reason)
		set_reason(&r, "%s", strerror(e < -4095 ? EIO : -e));

out_reply:
	conn_reply(srv, c, &r, ok, now_ms);
	free(r.buf);
}

static void conn_error(struct ctlsrv *srv, struct conn *c, const char *reason, uint64_t now_ms)
{
	struct ctlsrv_reply r = { .max = srv->cfg.reply_max };

	set_reason(&r, "%s", reason);
	conn_reply(srv, c, &r, false, now_ms);
	free(r.buf);
}

static void conn_read(struct ctlsrv *srv, struct conn *c, uint64_t now_ms)
{
	/* Bounded: the buffer fills after at most CTLPROTO_REQUEST_MAX bytes. */
	for (;;) {
		size_t room = CTLPROTO_REQUEST_MAX - c->inlen;
		char *nl;
		ssize_t n;

		n = recv(c->fd, c->in + c->inlen, room, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			srv->stats.io_errors++;
			conn_close(srv, c);
			return;
		}
		if (n == 0) {
			if (c->inlen == 0) {
				/* connected and left: a liveness probe, not an error */
				conn_close(srv, c);
				return;
			}
			srv->stats.bad_requests++;
			conn_error(srv, c, "request not terminated by a newline", now_ms);
			return;
		}
		nl = memchr(c->in + c->inlen, '\n', (size_t)n);
		c->inlen += (size_t)n;
		if (nl) {
			conn_request(srv, c, (size_t)(nl - c->in), now_ms);
			return;
		}
		if (c->inlen >= CTLPROTO_REQUEST_MAX) {
			char reason[64];

			srv->stats.bad_requests++;
			srv->stats.too_long++;
			snprintf(reason, sizeof(reason), "request too long (limit %u bytes)",
				 CTLPROTO_REQUEST_MAX);
			conn_error(srv, c, reason, now_ms);
			return;
		}
	}
}

static void expire(struct ctlsrv *srv, uint64_t now_ms)
{
	for (unsigned i = 0; i < srv->cfg.max_conns; i++) {
		struct conn *c = &srv->conns[i];

		if (c->state == CONN_FREE || c->deadline > now_ms)
			continue;
		srv->stats.timeouts++;
		if (c->state == CONN_READING)
			send_and_forget(c->fd, "error timeout waiting for the request\n");
		conn_close(srv, c);
	}
}

int ctlsrv_process(struct ctlsrv *srv, uint64_t now_ms)
{
	struct epoll_event ev[CTLSRV_EVENTS];
	int n;

	n = epoll_wait(srv->epfd, ev, CTLSRV_EVENTS, 0);
	if (n < 0) {
		if (errno != EINTR)
			return -errno;
		n = 0;
	}
	for (int i = 0; i < n; i++) {
		struct conn *c;

		if (ev[i].data.u64 == CTLSRV_LISTEN_TAG) {
			accept_clients(srv, now_ms);
			continue;
		}
		c = &srv->conns[ev[i].data.u64];
		/* a slot freed earlier in this round may have been reused */
		if (c->state == CONN_READING)
			conn_read(srv, c, now_ms);
		else if (c->state == CONN_WRITING)
			conn_flush(srv, c);
	}
	expire(srv, now_ms);
	return n;
}
