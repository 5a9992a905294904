/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * daemon/sandbox.c - the socket workers' seccomp filter (libseccomp).
 *
 * Design notes:
 * - Allow list, found with strace -f on workers under load on both
 *   backends (io_uring: io_uring_enter; mmsg: recvmmsg, sendmmsg, poll),
 *   plus what the rest of a worker's life needs: clock reads (vDSO, with
 *   the system calls as fallback), futex (stripe locks, contended),
 *   getrandom (the store seeds its sampler lazily), write (log lines),
 *   memory release and growth without PROT_EXEC (log formatting may
 *   allocate), close, munmap and io_uring_register's unregister opcodes at
 *   teardown (liburing's), signal return, exit. Setting
 *   up a ring or sockets happens before the filter and is not allowed after.
 * - Violations: the default action is SCMP_ACT_TRAP, so the kernel raises
 *   SIGSYS with the call's number in si_syscall. The handler writes one
 *   line with write(2) (async-signal-safe; the names were resolved before
 *   the filter was loaded, so the handler allocates nothing), then makes
 *   the forbidden call again: SIGSYS is blocked inside its own handler, so
 *   the kernel resets it to the default action and the worker dies of
 *   SIGSYS. The supervisor sees "killed by signal 31", logs it and
 *   restarts the worker as after any crash. A kill with SCMP_ACT_KILL_PROCESS
 *   would not say which call it was.
 * - Only the workers are filtered: they face the network. The supervisor
 *   and the control process make a wider set of calls (fork, files,
 *   sockets) and run without privileges anyway (daemon/privs.c).
 * - libseccomp sets PR_SET_NO_NEW_PRIVS itself (required for an
 *   unprivileged filter); the supervisor has set it already.
 * - Sanitizer builds need more calls at exit (leak checks read
 *   /proc/self/maps, create a thread); they get those allowed too, so the
 *   same tests run under ASan.
 */
#include <errno.h>
#include <linux/io_uring.h>
#include <fcntl.h>
#include <seccomp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "daemon/sandbox.h"

#define SANDBOX_NAMES 512 /* system call numbers with a resolved name */

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANDBOX_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define SANDBOX_SANITIZER 1
#endif
#endif

static const char *names[SANDBOX_NAMES];

static const int allowed[] = {
	SCMP_SYS(io_uring_enter),
	SCMP_SYS(recvmmsg),
	SCMP_SYS(sendmmsg),
	SCMP_SYS(recvmsg),
	SCMP_SYS(sendmsg),
	SCMP_SYS(recvfrom),
	SCMP_SYS(sendto),
	SCMP_SYS(poll),
	SCMP_SYS(ppoll),
	SCMP_SYS(epoll_wait),
	SCMP_SYS(epoll_pwait),
	SCMP_SYS(clock_gettime),
	SCMP_SYS(clock_nanosleep),
	SCMP_SYS(nanosleep),
	SCMP_SYS(gettimeofday),
	SCMP_SYS(futex),
	SCMP_SYS(getrandom),
	SCMP_SYS(write),
	SCMP_SYS(writev),
	SCMP_SYS(close),
	SCMP_SYS(munmap),
	SCMP_SYS(madvise),
	SCMP_SYS(brk),
	SCMP_SYS(getpid),
	SCMP_SYS(gettid),
	SCMP_SYS(sched_yield),
	SCMP_SYS(rt_sigreturn),
	SCMP_SYS(rt_sigprocmask),
	SCMP_SYS(restart_syscall),
	SCMP_SYS(exit),
	SCMP_SYS(exit_group),
	SCMP_SYS(newfstatat),
	SCMP_SYS(fstat),
};

/* io_uring_register opcodes a worker's teardown uses (any registered-ring flag). */
static const unsigned unregister_ops[] = {
	IORING_UNREGISTER_BUFFERS,     IORING_UNREGISTER_FILES,	   IORING_UNREGISTER_EVENTFD,
	IORING_UNREGISTER_PERSONALITY, IORING_UNREGISTER_RING_FDS, IORING_UNREGISTER_PBUF_RING,
};

#ifdef SANDBOX_SANITIZER
/* What ASan/LSan/UBSan do at exit and when reporting. */
static const int allowed_sanitizer[] = {
	SCMP_SYS(openat),
	SCMP_SYS(open),
	SCMP_SYS(read),
	SCMP_SYS(pread64),
	SCMP_SYS(readlink),
	SCMP_SYS(readlinkat),
	SCMP_SYS(lseek),
	SCMP_SYS(sigaltstack),
	SCMP_SYS(prctl),
	SCMP_SYS(clone),
	SCMP_SYS(clone3),
	SCMP_SYS(wait4),
	SCMP_SYS(rt_sigaction),
	SCMP_SYS(mprotect),
	SCMP_SYS(ptrace),
	SCMP_SYS(getppid),
	SCMP_SYS(sched_getaffinity),
	SCMP_SYS(mmap),
	SCMP_SYS(set_robust_list),
	SCMP_SYS(rseq),
	SCMP_SYS(tgkill),
	SCMP_SYS(statx),
	SCMP_SYS(getrlimit),
	SCMP_SYS(prlimit64),
	SCMP_SYS(setrlimit),
	SCMP_SYS(getdents64),
	SCMP_SYS(uname),
	SCMP_SYS(waitid),
	SCMP_SYS(kill),
};
#endif

static void put_str(char *buf, size_t *n, size_t cap, const char *s)
{
	while (*s && *n < cap)
		buf[(*n)++] = *s++;
}

static void put_uint(char *buf, size_t *n, size_t cap, unsigned v)
{
	char tmp[12];
	int i = 0;

	do {
		tmp[i++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (i > 0 && *n < cap)
		buf[(*n)++] = tmp[--i];
}

static void on_sigsys(int sig, siginfo_t *si, void *uctx)
{
	char line[160];
	size_t n = 0;
	unsigned nr = (unsigned)si->si_syscall;
	ssize_t w;

	(void)sig;
	(void)uctx;
	put_str(line, &n, sizeof(line), "trackerd[");
	put_uint(line, &n, sizeof(line), (unsigned)getpid());
	put_str(line, &n, sizeof(line), "] worker: error: seccomp: forbidden system call ");
	put_uint(line, &n, sizeof(line), nr);
	put_str(line, &n, sizeof(line), " (");
	put_str(line, &n, sizeof(line), nr < SANDBOX_NAMES && names[nr] ? names[nr] : "?");
	put_str(line, &n, sizeof(line), "), the worker dies of SIGSYS\n");
	w = write(STDERR_FILENO, line, n);
	(void)w;
	/* Trapped again with SIGSYS blocked: the kernel kills us with it. */
	syscall((long)nr, 0, 0, 0, 0, 0, 0);
	_exit(128 + SIGSYS);
}

static void resolve_names(void)
{
	for (int nr = 0; nr < SANDBOX_NAMES; nr++) {
		if (names[nr])
			continue;
		names[nr] = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
	}
}

static int add_rules(scmp_filter_ctx ctx, const int *calls, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int r;

		if (calls[i] < 0)
			continue; /* not a call on this architecture */
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, calls[i], 0);
		if (r < 0)
			return r;
	}
	return 0;
}

int sandbox_worker(void)
{
	struct sigaction sa;
	scmp_filter_ctx ctx;
	int r;

	resolve_names();
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0)
		return -errno;

	ctx = seccomp_init(SCMP_ACT_TRAP);
	if (!ctx)
		return -ENOMEM;
	r = add_rules(ctx, allowed, sizeof(allowed) / sizeof(allowed[0]));
#ifdef SANDBOX_SANITIZER
	if (!r)
		r = add_rules(ctx, allowed_sanitizer,
			      sizeof(allowed_sanitizer) / sizeof(allowed_sanitizer[0]));
#else
	/* Memory, but never executable memory. */
	if (!r)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
				     SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	/* abort() of a failed assertion signals its own process only. */
	if (!r)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
				     SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid()));
#endif
	/* io_uring_register only to unregister (liburing's teardown), never to add. */
	for (size_t i = 0; !r && i < sizeof(unregister_ops) / sizeof(unregister_ops[0]); i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(io_uring_register), 1,
				     SCMP_A1(SCMP_CMP_MASKED_EQ, 0x7fffffffu, unregister_ops[i]));
	/* fcntl only to read flags (stdio), never to change descriptors. */
	if (!r)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fcntl), 1,
				     SCMP_A1(SCMP_CMP_EQ, F_GETFL));
	if (!r)
		r = seccomp_load(ctx);
	seccomp_release(ctx);
	return r;
}

bool sandbox_under_valgrind(void)
{
	const char *p = getenv("LD_PRELOAD");

	return p && strstr(p, "vgpreload");
}

bool sandbox_test_hook_armed(void)
{
	const char *path = getenv(SANDBOX_TEST_ENV);

	return path && path[0] && unlink(path) == 0;
}

void sandbox_test_violation(void)
{
	syscall(SYS_getuid);
}
