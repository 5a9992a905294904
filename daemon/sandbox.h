/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * daemon/sandbox.h - the socket workers' seccomp filter.
 *
 * Once a worker has set up its I/O backend it calls sandbox_worker(): from
 * then on it may make only the system calls of its serving loop (receive,
 * send, io_uring_enter, poll, clocks, futex for the stripe locks, write for
 * its log lines, exit). Any other call raises SIGSYS; the worker writes the
 * call's number and name to stderr and dies of SIGSYS, and the supervisor
 * logs the death and restarts it. Configuration key: seccomp (default yes).
 */
#ifndef TRACKER_DAEMON_SANDBOX_H
#define TRACKER_DAEMON_SANDBOX_H

#include <stdbool.h>

/* Environment variable of the test hook, see sandbox_test_hook_armed(). */
#define SANDBOX_TEST_ENV "TRACKERD_TEST_SECCOMP_VIOLATION"

/*
 * Running under valgrind (its preload library is in LD_PRELOAD)? Valgrind
 * makes the program's system calls itself, with others of its own, so a
 * filter would kill it: the caller skips the filter and says so.
 */
bool sandbox_under_valgrind(void);

/* Install the filter in the calling worker. 0 or -errno (the caller logs). */
int sandbox_worker(void);

/*
 * Test hook (documented in trackerd(8)): when $TRACKERD_TEST_SECCOMP_VIOLATION
 * names a file and this process can remove it, returns true: the caller
 * then calls sandbox_test_violation() once its filter is in place. Removing
 * the file makes it fire once, in one worker. Call before sandbox_worker().
 */
bool sandbox_test_hook_armed(void);

/* Make a system call the filter forbids (getuid): the worker dies of SIGSYS. */
void sandbox_test_violation(void);

#endif /* TRACKER_DAEMON_SANDBOX_H */
