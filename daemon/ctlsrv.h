/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * daemon/ctlsrv.h - the control-socket server (protocol in ctl/ctlproto.h).
 *
 * The control process owns one struct ctlsrv. The server accepts
 * connections, reads and validates one request each against the command
 * table (version word, command, argument count and kinds, privilege,
 * reserved rows), answers "help" and "version" itself and hands every other
 * command to the caller's handler, then writes the reply non-blocking and
 * closes. It never blocks and never logs: it keeps counters
 * (ctlsrv_get_stats) and returns -errno.
 *
 * Event loop integration: ctlsrv_fd() is one epoll descriptor that becomes
 * readable whenever the listening socket or a client needs attention. Put
 * it in your poll set (POLLIN) next to your timers, and call
 * ctlsrv_process() when it is readable and whenever your loop wakes up
 * anyway; ctlsrv_timeout_ms() says how long you may sleep at most so that
 * per-connection deadlines are enforced on time:
 *
 *	struct pollfd p = { .fd = ctlsrv_fd(srv), .events = POLLIN };
 *	for (;;) {
 *		int t = min_timeout(my_next_timer_ms, ctlsrv_timeout_ms(srv, now_ms()));
 *		poll(&p, 1, t);
 *		ctlsrv_process(srv, now_ms());
 *		run_my_timers();
 *	}
 *
 * Time is passed in, in milliseconds of CLOCK_MONOTONIC (ctlsrv_now_ms()),
 * so tests can drive the timeouts.
 */
#ifndef TRACKER_DAEMON_CTLSRV_H
#define TRACKER_DAEMON_CTLSRV_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ctl/ctlproto.h"

struct ctlsrv;
struct ctlsrv_reply;

/*
 * Called for each valid request of an implemented command other than help
 * and version (the caller may also answer those: see ctlsrv_config). Append
 * data lines with ctlsrv_reply_printf() and return 0 for "ok", or return
 * a negative errno for "error <reason>": the reason is the one set with
 * ctlsrv_reply_error(), else strerror(-r). Data appended before an error
 * is sent after the error line (details such as config errors).
 * Runs synchronously in the control process; must not block for long.
 */
typedef int (*ctlsrv_handler_fn)(void *ctx, const struct ctlproto_request *req,
				 struct ctlsrv_reply *out);

struct ctlsrv_config {
	ctlsrv_handler_fn handler; /* required */
	void *ctx; /* passed to handler */
	unsigned timeout_ms; /* 0: CTLPROTO_TIMEOUT_MS */
	unsigned max_conns; /* 0: CTLPROTO_CONN_MAX */
	size_t reply_max; /* 0: CTLPROTO_REPLY_MAX */
	uid_t admin_uid; /* besides uid 0, may run privileged commands;
				    * 0: the process's effective uid */
	gid_t group; /* group of a socket ctlsrv creates; 0: leave as is */
	bool handle_version; /* pass "version" to the handler instead of
				    * answering version=/protocol= lines itself */
};

/* Counters kept by the server, for "stats" (ctl.* lines). */
struct ctlsrv_stats {
	uint64_t accepted; /* connections accepted and served */
	uint64_t requests_ok; /* replies that started with "ok" */
	uint64_t requests_error; /* replies that started with "error" */
	uint64_t rejected_busy; /* closed at once: CTLPROTO_CONN_MAX reached */
	uint64_t bad_requests; /* version, syntax, command or argument errors */
	uint64_t denied; /* privileged command from an unprivileged peer */
	uint64_t timeouts; /* dropped: request or reply not done in time */
	uint64_t too_long; /* requests over CTLPROTO_REQUEST_MAX */
	uint64_t reply_too_large; /* replies over reply_max */
	uint64_t io_errors; /* read/write failures and early closes */
};

/* Milliseconds of CLOCK_MONOTONIC. */
uint64_t ctlsrv_now_ms(void);

/*
 * Create the listening socket at path the careful way, for callers that
 * want the socket without a server (the supervisor keeping it across
 * control process restarts):
 *  - the parent directory is created (mode 0755, one level) if missing;
 *  - it must be a directory owned by root or by us, and not writable by
 *    group or others unless it has the sticky bit: else -EPERM;
 *  - an existing socket file is removed only if nothing accepts on it
 *    (connect gives ECONNREFUSED); a live one gives -EADDRINUSE, a
 *    non-socket file -EEXIST;
 *  - bind under umask 0117, then chmod 0660 (and chown to group unless
 *    it is 0 or (gid_t)-1), listen; the fd is SOCK_CLOEXEC | SOCK_NONBLOCK.
 * Returns 0 and the fd in *ret_fd, or -errno (-ENAMETOOLONG for a path
 * that does not fit sun_path).
 */
int ctlsrv_bind(const char *path, gid_t group, int *ret_fd);

/*
 * Start a server. With inherited_fd >= 0 (from systemd or the supervisor)
 * that listening AF_UNIX stream socket is used (checked, made non-blocking
 * and close-on-exec) and path is only informative; the server owns the fd
 * from now on, even on failure (dup() it to keep a copy). With
 * inherited_fd < 0 the socket is created at path with ctlsrv_bind() and
 * unlinked again by ctlsrv_close(). Returns 0 or -errno (-ENOTSOCK,
 * -EINVAL for an fd that is not a listening unix stream socket).
 */
int ctlsrv_open(const char *path, int inherited_fd, const struct ctlsrv_config *cfg,
		struct ctlsrv **ret_srv);

/* Close every client and the listening socket; unlink it if we created it. */
void ctlsrv_close(struct ctlsrv *srv);

/* The epoll fd to poll for POLLIN. Valid until ctlsrv_close(). */
int ctlsrv_fd(const struct ctlsrv *srv);

/*
 * Accept, read, answer and write whatever is ready without blocking, and
 * drop connections whose deadline passed at now_ms. Returns the number of
 * events handled (0 is fine) or -errno if the epoll fd failed.
 */
int ctlsrv_process(struct ctlsrv *srv, uint64_t now_ms);

/* Milliseconds until the next connection deadline, or -1 if none (poll's -1). */
int ctlsrv_timeout_ms(const struct ctlsrv *srv, uint64_t now_ms);

/* Connections currently open (not counting the listening socket). */
unsigned ctlsrv_connections(const struct ctlsrv *srv);

void ctlsrv_get_stats(const struct ctlsrv *srv, struct ctlsrv_stats *ret_stats);

/*
 * Append formatted text to the reply; lines end with "\n" (a missing final
 * "\n" is added). Returns 0 or -ENOBUFS once the reply would pass
 * reply_max (or memory runs out): the whole reply then becomes
 * "error reply too large", so the handler may stop early.
 */
int ctlsrv_reply_printf(struct ctlsrv_reply *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int ctlsrv_reply_vprintf(struct ctlsrv_reply *out, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/*
 * Set the reason of the "error" line (one line; bytes outside printable
 * ASCII become '?') and return err, so a handler can write
 *	return ctlsrv_reply_error(out, -ENOENT, "unknown torrent '%s'", hex);
 */
int ctlsrv_reply_error(struct ctlsrv_reply *out, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Is a peer with this uid allowed to run privileged commands? */
bool ctlsrv_is_privileged(uid_t peer_uid, uid_t admin_uid);

#endif /* TRACKER_DAEMON_CTLSRV_H */
