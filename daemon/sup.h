/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * daemon/sup.h - the supervisor: segment, sockets, children, signals.
 *
 * main.c parses the command line and the configuration, then hands over to
 * sup_run(), which owns the process until exit. The supervisor keeps the
 * segment and the sockets open for the life of the daemon, so a child that
 * dies loses nothing but what it held in flight.
 */
#ifndef TRACKER_DAEMON_SUP_H
#define TRACKER_DAEMON_SUP_H

struct conf;

struct sup_args {
	const char *config_path; /* NULL when running on built-in defaults */
	const char *const *overrides; /* -o KEY=VALUE, re-applied on every reload */
	unsigned noverrides;
};

/*
 * Run the daemon with an already validated configuration. Returns the
 * process exit status (0 after a clean SIGTERM/SIGINT shutdown).
 */
int sup_run(const struct conf *c, const struct sup_args *args);

#endif /* TRACKER_DAEMON_SUP_H */
