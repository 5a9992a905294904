/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * daemon/log.c - one-line log messages on stderr, journald aware.
 *
 * Each message is formatted into one buffer and written with a single
 * write(2), so lines from concurrent processes sharing stderr never
 * interleave mid-line. Messages longer than the buffer are truncated.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/log.h"

#define LOG_LINE_MAX 1024

static int log_level = LOG_INFO;
static int log_journal;
static char log_role[32] = "sup";

static const char *const level_names[] = {
	[LOG_EMERG] = "emerg", [LOG_ALERT] = "alert",	  [LOG_CRIT] = "crit",
	[LOG_ERR] = "error",   [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
	[LOG_INFO] = "info",   [LOG_DEBUG] = "debug",
};

/* $JOURNAL_STREAM is "DEV:INODE" of the stream systemd connected to stderr. */
static int stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
		return 0;
	if (fstat(STDERR_FILENO, &st) < 0)
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_init(int level, const char *role)
{
	log_journal = stderr_is_journal();
	log_set_level(level);
	log_set_role(role);
}

void log_set_level(int level)
{
	if (level < LOG_EMERG)
		level = LOG_EMERG;
	if (level > LOG_DEBUG)
		level = LOG_DEBUG;
	log_level = level;
}

int log_get_level(void)
{
	return log_level;
}

void log_set_role(const char *role)
{
	snprintf(log_role, sizeof(log_role), "%s", role ? role : "");
}

/* Append to a line buffer; truncates silently, always leaves room for '\n'. */
struct line {
	char buf[LOG_LINE_MAX];
	size_t len;
};

static void line_vadd(struct line *l, const char *fmt, va_list ap)
{
	size_t room = sizeof(l->buf) - 1 - l->len; /* keep one byte for '\n' */
	int r;

	if (room == 0)
		return;
	r = vsnprintf(l->buf + l->len, room + 1, fmt, ap);
	if (r > 0)
		l->len += (size_t)r < room ? (size_t)r : room;
}

static void line_add(struct line *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line_add(struct line *l, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	line_vadd(l, fmt, ap);
	va_end(ap);
}

static void log_write(int prio, int err, const char *fmt, va_list ap)
{
	struct line l;

	if (prio > log_level)
		return;
	l.len = 0;
	if (log_journal)
		line_add(&l, "<%d>%s: ", prio, log_role);
	else
		line_add(&l, "trackerd[%d] %s: %s: ", (int)getpid(), log_role, level_names[prio]);
	line_vadd(&l, fmt, ap);
	if (err)
		line_add(&l, ": %s", strerror(err < 0 ? -err : err));
	l.buf[l.len++] = '\n';
	/* One write per line; a short write to a dead stderr is not our problem. */
	while (write(STDERR_FILENO, l.buf, l.len) < 0 && errno == EINTR)
		;
}

void log_msg(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_write(prio, 0, fmt, ap);
	va_end(ap);
}

int log_errno(int prio, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_write(prio, err, fmt, ap);
	va_end(ap);
	return err;
}

void log_once(int prio, int *once, const char *fmt, ...)
{
	va_list ap;

	if (*once)
		return;
	*once = 1;
	va_start(ap, fmt);
	log_write(prio, 0, fmt, ap);
	va_end(ap);
}
