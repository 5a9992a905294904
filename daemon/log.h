/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * daemon/log.h - one-line log messages on stderr.
 *
 * When stderr is connected to the journal ($JOURNAL_STREAM matches stderr's
 * device and inode) each line starts with the sd-daemon priority prefix
 * ("<3>" ...), and journald records the priority; otherwise lines read
 * "trackerd[PID] ROLE: LEVEL: message". Forked children inherit stderr and
 * only call log_set_role(). Only the daemon's top layer logs: shm/, the
 * codec and connid return -errno and their callers log once.
 */
#ifndef TRACKER_DAEMON_LOG_H
#define TRACKER_DAEMON_LOG_H

#include <stdarg.h>
#include <syslog.h>

/* Detect the journal, set the level (LOG_ERR .. LOG_DEBUG) and role ("sup"). */
void log_init(int level, const char *role);
void log_set_level(int level);
int log_get_level(void);
/* Short role tag of this process: "sup", "worker/3", "ctrl". Copied. */
void log_set_role(const char *role);

void log_msg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Log with ": strerror(-err)" appended; returns err (negative errno). */
int log_errno(int prio, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * Log only the first time *once is false, then set it: for "first
 * occurrence" diagnostics that must not repeat per packet.
 */
void log_once(int prio, int *once, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif /* TRACKER_DAEMON_LOG_H */
