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
	[LOG_EMERG] = "emerg",   [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",
	[LOG_ERR] = "error",     [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
	[LOG_INFO] = "info",     [LOG_DEBUG] = "debug",
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

static void log_write(int prio, int err, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX];
	size_t n = 0;
	int r;

	if (prio > log_level)
		return;
	if (log_journal)
		r = snprintf(line, sizeof(line), "<%d>%s: ", prio, log_role);
	else
		r = snprintf(line, sizeof(line), "trackerd[%d] %s: %s: ", (int)getpid(), log_role,
			     level_names[prio]);
	if (r > 0)
		n = (size_t)r < sizeof(line) ? (size_t)r : sizeof(line) - 1;
	r = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	if (r > 0)
		n += (size_t)r < sizeof(line) - n ? (size_t)r : sizeof(line) - n - 1;
	if (err) {
		r = snprintf(line + n, sizeof(line) - n, ": %s", strerror(err < 0 ? -err : err));
		if (r > 0)
			n += (size_t)r < sizeof(line) - n ? (size_t)r : sizeof(line) - n - 1;
	}
	if (n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	/* One write per line; a short write to a dead stderr is not our problem. */
	while (write(STDERR_FILENO, line, n) < 0 && errno == EINTR)
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
