/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * ctl/ctlproto.h - the control protocol spoken by trackerctl and trackerd.
 *
 * This header is the specification. Both sides include it: trackerctl
 * (ctl/trackerctl.c, which links no daemon code) and the control-socket
 * server (daemon/ctlsrv.c). It holds the limits, the command table and a
 * small request parser, all header-only so that neither side links the
 * other's objects. It includes nothing from daemon/ or shm/.
 *
 * Transport
 *   A Unix SOCK_STREAM socket, by default CTLPROTO_SOCKET_PATH, mode 0660,
 *   served by the control process (never by a worker). Who may connect is
 *   decided by the socket's mode and group; who may run a mutating command
 *   (rows with .privileged) is decided by the server with SO_PEERCRED: the
 *   peer's uid must be 0 or the daemon's own effective uid. Membership of
 *   the socket's group is deliberately not enough: everyone who can connect
 *   is already in that group, so the group grants reading, not control.
 *
 * Exchange (one request per connection)
 *   client: "TRK1 <command>[ <arg>...]\n"
 *     - the version word comes first, then the command, then its arguments,
 *       separated by exactly one space; no leading or trailing space;
 *     - printable ASCII only (0x21..0x7e inside words), no tabs, no "\r";
 *     - at most CTLPROTO_REQUEST_MAX bytes including the "\n", at most
 *       CTLPROTO_ARGS_MAX arguments; the command's own min/max apply;
 *     - bytes after the "\n" are ignored; EOF before the "\n" is an error.
 *   server: one status line, then data lines, then it closes:
 *       "ok\n"                          success, data lines follow
 *       "error <reason>\n"              failure; more lines may follow
 *                                       with details (e.g. config errors)
 *     Reasons and data are printable ASCII, one item per "\n"-terminated
 *     line. Data lines are "name=value" (stats, status, torrent, workers,
 *     version), Prometheus text exposition format (metrics) or free text
 *     (help). A reply is at most CTLPROTO_REPLY_MAX bytes.
 *   A request that does not start with CTLPROTO_MAGIC is answered with
 *   "error unsupported protocol version, server speaks TRK1". A client for
 *   a later version may retry with an older version word.
 *
 * Bounds (the server's side; a stuck or hostile client never blocks it)
 *   - the request must arrive within CTLPROTO_TIMEOUT_MS of the accept;
 *   - the reply must be drained within CTLPROTO_TIMEOUT_MS of being ready;
 *   - at most CTLPROTO_CONN_MAX connections at once; the next one gets
 *     "error too many connections" and is closed;
 *   - replies are written non-blocking; a longer reply than
 *     CTLPROTO_REPLY_MAX becomes "error reply too large".
 *
 * Debugging by hand:
 *   printf 'TRK1 stats\n' | socat - UNIX-CONNECT:/run/trackerd/control.sock
 *
 * Version history
 *   TRK1 (trackerd 0.1): first version. Commands: status, stats, metrics,
 *        reload, torrent, top, workers, version, help. The names save,
 *        allow, deny, unlist, ban and unban are reserved in the table and
 *        answered with "error not supported yet" (rows with .later set).
 *        Added compatibly: check.
 *        Implemented: save (data lines path, bytes, milliseconds,
 *        torrents, peers_ipv4, peers_ipv6).
 *        Implemented: ban, unban (data lines bans, ban_max, then
 *        ban=PREFIX expires_in=SECONDS|never per ban).
 *
 * Changing the protocol: adding a command, or an optional argument, or a
 * data line is compatible and keeps TRK1 (old clients ignore unknown
 * lines; record it here). Changing the meaning of an existing command or
 * line bumps the version word: the server then accepts both for a while.
 */
#ifndef TRACKER_CTL_CTLPROTO_H
#define TRACKER_CTL_CTLPROTO_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define CTLPROTO_VERSION 1
#define CTLPROTO_MAGIC "TRK1"
#define CTLPROTO_SOCKET_PATH "/run/trackerd/control.sock"
#define CTLPROTO_SOCKET_ENV "TRACKERD_CONTROL_SOCKET"

#define CTLPROTO_REQUEST_MAX 512u /* bytes of a request, "\n" included */
#define CTLPROTO_ARGS_MAX 4u /* arguments after the command */
#define CTLPROTO_TIMEOUT_MS 2000u /* to send the request; to drain the reply */
#define CTLPROTO_CONN_MAX 16u /* connections served at once */
#define CTLPROTO_REPLY_MAX (1u << 20) /* bytes of one reply */
#define CTLPROTO_TOP_MAX 10000u /* largest N of "top N" */
#define CTLPROTO_TOP_DEFAULT 10u /* N of a bare "top" */

/* What an argument must look like; both sides check it. */
enum ctlproto_arg {
	CTLPROTO_ARG_NONE = 0,
	CTLPROTO_ARG_HEX, /* info-hash: exactly 40 hex digits, any case */
	CTLPROTO_ARG_COUNT, /* decimal 1..CTLPROTO_TOP_MAX, no sign or leading 0 */
	CTLPROTO_ARG_WORD, /* any word; the handler checks it (prefixes, durations) */
};

/*
 * The command table. Row order is the enum order and the order of
 * "trackerctl help"; new commands go at the end of their group.
 * Rows with .later = true are reserved names whose implementation belongs
 * to a later issue: the server answers "error not supported yet" without
 * calling the daemon's handler. To implement one, set .later = false here,
 * handle it in the control process, and update trackerctl(8).
 */
enum ctlproto_cmd {
	CTLPROTO_CMD_STATUS,
	CTLPROTO_CMD_STATS,
	CTLPROTO_CMD_METRICS,
	CTLPROTO_CMD_RELOAD,
	CTLPROTO_CMD_SAVE,
	CTLPROTO_CMD_TORRENT,
	CTLPROTO_CMD_TOP,
	CTLPROTO_CMD_WORKERS,
	CTLPROTO_CMD_CHECK,
	CTLPROTO_CMD_ALLOW,
	CTLPROTO_CMD_DENY,
	CTLPROTO_CMD_UNLIST,
	CTLPROTO_CMD_BAN,
	CTLPROTO_CMD_UNBAN,
	CTLPROTO_CMD_VERSION,
	CTLPROTO_CMD_HELP,
	CTLPROTO_CMD__MAX,
	CTLPROTO_CMD__INVALID = -EINVAL,
};

struct ctlproto_command {
	const char *name; /* command word */
	unsigned char min_args; /* arguments required */
	unsigned char max_args; /* arguments accepted, <= CTLPROTO_ARGS_MAX */
	bool privileged; /* mutating: uid 0 or the daemon's uid */
	bool later; /* reserved: "error not supported yet" */
	enum ctlproto_arg arg[CTLPROTO_ARGS_MAX]; /* kind of each argument */
	const char *usage; /* arguments as shown by help, "" if none */
	const char *help; /* one line, lower case, no period */
};

static const struct ctlproto_command ctlproto_commands[CTLPROTO_CMD__MAX]
	__attribute__((unused)) = {
	[CTLPROTO_CMD_STATUS] = {
		.name = "status",
		.usage = "",
		.help = "version, uptime, workers, torrents, peers, capacity used",
	},
	[CTLPROTO_CMD_STATS] = {
		.name = "stats",
		.usage = "",
		.help = "every counter as name=value lines, totals and per worker",
	},
	[CTLPROTO_CMD_METRICS] = {
		.name = "metrics",
		.usage = "",
		.help = "the counters in Prometheus text exposition format",
	},
	[CTLPROTO_CMD_RELOAD] = {
		.name = "reload",
		.privileged = true,
		.usage = "",
		.help = "re-read and validate the configuration, then apply it",
	},
	[CTLPROTO_CMD_SAVE] = {
		.name = "save",
		.privileged = true,
		.usage = "",
		.help = "write a snapshot of the torrent table now",
	},
	[CTLPROTO_CMD_TORRENT] = {
		.name = "torrent",
		.min_args = 1,
		.max_args = 1,
		.arg = { CTLPROTO_ARG_HEX },
		.usage = "HEX",
		.help = "seeders, leechers, completed and peers of one torrent",
	},
	[CTLPROTO_CMD_TOP] = {
		.name = "top",
		.max_args = 1,
		.arg = { CTLPROTO_ARG_COUNT },
		.usage = "[N]",
		.help = "the N largest swarms (default 10)",
	},
	[CTLPROTO_CMD_WORKERS] = {
		.name = "workers",
		.usage = "",
		.help = "one line per worker: pid, cpu, backend, restarts",
	},
	[CTLPROTO_CMD_CHECK] = {
		.name = "check",
		.privileged = true, /* walks every peer under the stripe locks */
		.usage = "",
		.help = "check the torrent table's consistency, one stripe lock at a time",
	},
	[CTLPROTO_CMD_ALLOW] = {
		.name = "allow",
		.min_args = 1,
		.max_args = 1,
		.privileged = true,
		.arg = { CTLPROTO_ARG_HEX },
		.usage = "HEX",
		.help = "allow mode: add an info-hash to the list and its file",
	},
	[CTLPROTO_CMD_DENY] = {
		.name = "deny",
		.min_args = 1,
		.max_args = 1,
		.privileged = true,
		.arg = { CTLPROTO_ARG_HEX },
		.usage = "HEX",
		.help = "deny mode: add an info-hash to the list and its file",
	},
	[CTLPROTO_CMD_UNLIST] = {
		.name = "unlist",
		.min_args = 1,
		.max_args = 1,
		.privileged = true,
		.arg = { CTLPROTO_ARG_HEX },
		.usage = "HEX",
		.help = "remove an info-hash from the access list and its file",
	},
	[CTLPROTO_CMD_BAN] = {
		.name = "ban",
		.min_args = 1,
		.max_args = 2,
		.privileged = true,
		.arg = { CTLPROTO_ARG_WORD, CTLPROTO_ARG_WORD },
		.usage = "PREFIX [DURATION]",
		.help = "drop requests from a prefix (DURATION 10m, 2h, 1d; default permanent)",
	},
	[CTLPROTO_CMD_UNBAN] = {
		.name = "unban",
		.min_args = 1,
		.max_args = 1,
		.privileged = true,
		.arg = { CTLPROTO_ARG_WORD },
		.usage = "PREFIX",
		.help = "lift a ban (ban and unban reply with the list)",
	},
	[CTLPROTO_CMD_VERSION] = {
		.name = "version",
		.usage = "",
		.help = "daemon and protocol version",
	},
	[CTLPROTO_CMD_HELP] = {
		.name = "help",
		.usage = "",
		.help = "list the commands",
	},
};

/* A parsed request. The strings point into the caller's line buffer. */
struct ctlproto_request {
	int cmd; /* enum ctlproto_cmd, or -1 */
	unsigned argc; /* arguments after the command */
	const char *argv[CTLPROTO_ARGS_MAX]; /* NUL-terminated arguments */
};

/* Index of the command called name, or -ENOENT. */
static inline int ctlproto_find(const char *name)
{
	for (int i = 0; i < CTLPROTO_CMD__MAX; i++)
		if (strcmp(ctlproto_commands[i].name, name) == 0)
			return i;
	return -ENOENT;
}

static inline bool ctlproto_is_word_char(unsigned char c)
{
	return c >= 0x21 && c <= 0x7e;
}

/* Does word match the argument kind? */
static inline bool ctlproto_arg_is_valid(enum ctlproto_arg kind, const char *word)
{
	size_t n = strlen(word);
	unsigned long v = 0;

	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!ctlproto_is_word_char((unsigned char)word[i]))
			return false;
	switch (kind) {
	case CTLPROTO_ARG_HEX:
		if (n != 40)
			return false;
		for (size_t i = 0; i < n; i++) {
			char c = word[i];
			if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
			      (c >= 'A' && c <= 'F')))
				return false;
		}
		return true;
	case CTLPROTO_ARG_COUNT:
		if (n > 5 || word[0] == '0')
			return false;
		for (size_t i = 0; i < n; i++) {
			if (word[i] < '0' || word[i] > '9')
				return false;
			v = v * 10 + (unsigned long)(word[i] - '0');
		}
		return v >= 1 && v <= CTLPROTO_TOP_MAX;
	case CTLPROTO_ARG_WORD:
		return true;
	case CTLPROTO_ARG_NONE:
	default:
		return false;
	}
}

/*
 * Check argc against the command's min/max and each argument's kind.
 * Returns 0, -EINVAL (too few arguments), -E2BIG (too many) or -EDOM (an
 * argument of the wrong kind; *ret_bad is its index, if ret_bad is set).
 */
static inline int ctlproto_check_args(int cmd, unsigned argc, const char *const *argv,
				      unsigned *ret_bad)
{
	const struct ctlproto_command *c;

	if (cmd < 0 || cmd >= CTLPROTO_CMD__MAX)
		return -ENOENT;
	c = &ctlproto_commands[cmd];
	if (argc < c->min_args)
		return -EINVAL;
	if (argc > c->max_args)
		return -E2BIG;
	for (unsigned i = 0; i < argc; i++) {
		if (!ctlproto_arg_is_valid(c->arg[i], argv[i])) {
			if (ret_bad)
				*ret_bad = i;
			return -EDOM;
		}
	}
	return 0;
}

/*
 * Parse one request line in place: line holds len bytes without the
 * trailing "\n" (the caller found it and enforces CTLPROTO_REQUEST_MAX);
 * line[len] must be writable, the words are NUL-terminated in place.
 * Returns 0, or:
 *   -EPROTONOSUPPORT  the first word is not CTLPROTO_MAGIC
 *   -EBADMSG          empty command, a byte outside 0x20..0x7e, a NUL,
 *                     or a space not between two words
 *   -ENOENT           unknown command
 *   -E2BIG            more arguments than the command (or CTLPROTO_ARGS_MAX) takes
 *   -EINVAL           fewer arguments than the command needs
 *   -EDOM             an argument of the wrong kind
 * Unlike most out-parameters, *req is filled as far as parsing got, also on
 * failure: req->cmd is the command (or -1) so the caller can print its usage.
 */
static inline int ctlproto_parse(char *line, size_t len, struct ctlproto_request *req)
{
	const size_t mlen = sizeof(CTLPROTO_MAGIC) - 1;
	char *words[2 + CTLPROTO_ARGS_MAX];
	unsigned nwords = 0;
	size_t i, start;

	memset(req, 0, sizeof(*req));
	req->cmd = -1;
	if (len < mlen || memcmp(line, CTLPROTO_MAGIC, mlen) != 0 ||
	    (len > mlen && line[mlen] != ' '))
		return -EPROTONOSUPPORT;
	for (i = 0; i < len; i++)
		if (line[i] != ' ' && !ctlproto_is_word_char((unsigned char)line[i]))
			return -EBADMSG;
	line[len] = '\0';
	start = 0;
	for (i = 0; i <= len; i++) {
		if (i < len && line[i] != ' ')
			continue;
		if (i == start)
			return -EBADMSG; /* empty word: leading, trailing or double space */
		if (nwords == 2 + CTLPROTO_ARGS_MAX) {
			/* count the command first so the caller can show its usage */
			int c = ctlproto_find(words[1]);
			req->cmd = c >= 0 ? c : -1;
			return c >= 0 ? -E2BIG : -ENOENT;
		}
		words[nwords++] = line + start;
		line[i] = '\0';
		start = i + 1;
	}
	if (nwords < 2)
		return -EBADMSG;
	req->cmd = ctlproto_find(words[1]);
	if (req->cmd < 0) {
		req->cmd = -1;
		return -ENOENT;
	}
	req->argc = nwords - 2;
	for (i = 0; i < req->argc; i++)
		req->argv[i] = words[2 + i];
	return ctlproto_check_args(req->cmd, req->argc, req->argv, NULL);
}

/*
 * Format the help line of a command, "NAME USAGE  help", into buf
 * (at most len bytes, NUL-terminated, no "\n"). Used by "trackerctl help"
 * (which indents it by two spaces) and by the server's "help" reply.
 */
static inline void ctlproto_help_line(int cmd, char *buf, size_t len)
{
	const struct ctlproto_command *c = &ctlproto_commands[cmd];
	char synopsis[64];

	snprintf(synopsis, sizeof(synopsis), "%s%s%s", c->name, c->usage[0] ? " " : "", c->usage);
	snprintf(buf, len, "%-26s %s%s", synopsis, c->help, c->later ? " (not supported yet)" : "");
}

#endif /* TRACKER_CTL_CTLPROTO_H */
