/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/test_svc.c - systemd glue: fd classification and sd_notify.
 *
 * Socket activation is exercised for real: the test creates the sockets and
 * memfds itself, moves them to fd 3.. in a forked child with $LISTEN_FDS,
 * $LISTEN_PID and $LISTEN_FDNAMES set as systemd would, and the child
 * reports back what svc_listen_fds() kept, what it closed and the flags of
 * each fd. Notifications go to a datagram socket bound by the test at
 * $NOTIFY_SOCKET, and the exact text and the SCM_RIGHTS fd are checked.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/log.h"
#include "daemon/svc.h"

#define MAX_IN 16
/* SD_LISTEN_FDS_START: the first fd systemd passes. */
#define LISTEN_FDS_START 3

/* --- socket activation ---------------------------------------------------- */

enum want {
	W_CLOSED = 0,
	W_UDP4,
	W_UDP6,
	W_CONTROL,
	W_SWARM,
};

struct input {
	int fd;
	const char *name;
	enum want want;
};

/* What the child saw, sent back over a pipe. */
struct child_report {
	int ret;
	struct svc_fds fds;
	int open[MAX_IN]; /* fd 3+i still open */
	int cloexec[MAX_IN]; /* fd 3+i has FD_CLOEXEC */
	int env_left; /* LISTEN_* still in the environment */
};

static int udp_socket(int family, const char *addr, int v6only, int bind_it)
{
	int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	if (family == AF_INET6)
		assert_int_equal(setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)),
				 0);
	if (!bind_it)
		return fd;
	if (family == AF_INET) {
		struct sockaddr_in sin = { .sin_family = AF_INET };

		assert_int_equal(inet_pton(AF_INET, addr, &sin.sin_addr), 1);
		assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	} else {
		struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };

		assert_int_equal(inet_pton(AF_INET6, addr, &sin6.sin6_addr), 1);
		assert_int_equal(bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)), 0);
	}
	return fd;
}

/* Abstract-namespace unix stream socket, listening or not. */
static int unix_stream(int listen_it)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int n;

	assert_true(fd >= 0);
	n = snprintf(sun.sun_path + 1, sizeof(sun.sun_path) - 1, "test_svc.%d.%d", (int)getpid(),
		     fd);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun,
			      (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n)),
			 0);
	if (listen_it)
		assert_int_equal(listen(fd, 4), 0);
	return fd;
}

static int make_memfd(void)
{
	int fd = memfd_create("trackerd-swarm", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 4096), 0);
	return fd;
}

/*
 * Child: move in[i].fd to 3+i, set the environment, run svc_listen_fds()
 * and report. Never returns.
 */
static void run_child(const struct input *in, int n, const char *names, int report_fd)
{
	struct child_report rep;
	char buf[32];
	int hi[MAX_IN];

	memset(&rep, 0, sizeof(rep));
	/* Park everything above the target range first, then move down. */
	for (int i = 0; i < n; i++) {
		hi[i] = fcntl(in[i].fd, F_DUPFD_CLOEXEC, 200);
		if (hi[i] < 0)
			_exit(2);
	}
	for (int i = 0; i < n; i++)
		close(in[i].fd);
	if (report_fd < 200) {
		int r = fcntl(report_fd, F_DUPFD_CLOEXEC, 300);

		if (r < 0)
			_exit(2);
		close(report_fd);
		report_fd = r;
	}
	for (int i = 0; i < n; i++) {
		/* dup2 clears FD_CLOEXEC, as systemd hands them over. */
		if (dup2(hi[i], LISTEN_FDS_START + i) < 0)
			_exit(2);
		close(hi[i]);
	}
	snprintf(buf, sizeof(buf), "%d", (int)getpid());
	setenv("LISTEN_PID", buf, 1);
	snprintf(buf, sizeof(buf), "%d", n);
	setenv("LISTEN_FDS", buf, 1);
	setenv("LISTEN_FDNAMES", names, 1);

	rep.ret = svc_listen_fds(&rep.fds);
	for (int i = 0; i < n; i++) {
		int fl = fcntl(LISTEN_FDS_START + i, F_GETFD);

		rep.open[i] = fl >= 0;
		rep.cloexec[i] = fl >= 0 && (fl & FD_CLOEXEC);
	}
	rep.env_left = getenv("LISTEN_FDS") || getenv("LISTEN_PID") || getenv("LISTEN_FDNAMES");
	if (write(report_fd, &rep, sizeof(rep)) != (ssize_t)sizeof(rep))
		_exit(3);
	_exit(0);
}

static void activate(const struct input *in, int n, struct child_report *rep)
{
	char names[512] = "";
	int p[2], status;
	pid_t pid;

	for (int i = 0; i < n; i++) {
		if (i)
			strcat(names, ":");
		strcat(names, in[i].name);
	}
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		run_child(in, n, names, p[1]);
	}
	close(p[1]);
	assert_int_equal(read(p[0], rep, sizeof(*rep)), (ssize_t)sizeof(*rep));
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	for (int i = 0; i < n; i++)
		close(in[i].fd);
}

static int held_as(const struct svc_fds *f, int fd)
{
	for (unsigned i = 0; i < f->n_udp4; i++)
		if (f->udp4[i] == fd)
			return W_UDP4;
	for (unsigned i = 0; i < f->n_udp6; i++)
		if (f->udp6[i] == fd)
			return W_UDP6;
	if (f->control == fd)
		return W_CONTROL;
	if (f->swarm == fd)
		return W_SWARM;
	return W_CLOSED;
}

static void check_report(const struct input *in, int n, const struct child_report *rep)
{
	int kept = 0;

	for (int i = 0; i < n; i++) {
		int fd = LISTEN_FDS_START + i;

		print_message("fd %d '%s': want %d, held as %d, open %d, cloexec %d\n", fd,
			      in[i].name, in[i].want, held_as(&rep->fds, fd), rep->open[i],
			      rep->cloexec[i]);
		assert_int_equal(held_as(&rep->fds, fd), in[i].want);
		if (in[i].want == W_CLOSED) {
			assert_false(rep->open[i]);
		} else {
			assert_true(rep->open[i]);
			assert_true(rep->cloexec[i]);
			kept++;
		}
	}
	assert_int_equal(rep->ret, kept);
	assert_int_equal(rep->fds.rejected, (unsigned)(n - kept));
	assert_false(rep->env_left);
}

static void test_listen_fds_classifies(void **state)
{
	struct input in[] = {
		{ udp_socket(AF_INET, "127.0.0.1", 0, 1), "udp4", W_UDP4 },
		{ udp_socket(AF_INET6, "::1", 1, 1), "udp6", W_UDP6 },
		{ unix_stream(1), "control", W_CONTROL },
		{ make_memfd(), "swarm", W_SWARM },
		{ udp_socket(AF_INET, "127.0.0.1", 0, 1), "udp4", W_UDP4 },
		/* dual-stack: binding a plain IPv6 address would force v6only */
		{ udp_socket(AF_INET6, "::ffff:127.0.0.1", 0, 1), "udp6", W_UDP6 },
		/* wrong kind for the name, unknown names, duplicates */
		{ udp_socket(AF_INET, "127.0.0.1", 0, 1), "udp6", W_CLOSED },
		{ udp_socket(AF_INET6, "::1", 1, 1), "udp4", W_CLOSED },
		{ udp_socket(AF_INET, NULL, 0, 0), "udp4", W_CLOSED }, /* not bound */
		{ unix_stream(0), "control", W_CLOSED }, /* not listening */
		{ unix_stream(1), "control", W_CLOSED }, /* second control */
		{ make_memfd(), "swarm", W_CLOSED }, /* second swarm */
		{ udp_socket(AF_INET, "127.0.0.1", 0, 1), "trackerd.socket", W_CLOSED },
		{ make_memfd(), "udp4", W_CLOSED },
		{ -1, "swarm", W_CLOSED }, /* a pipe posing as the segment */
	};
	int n = (int)(sizeof(in) / sizeof(in[0]));
	struct child_report rep;
	int p[2];

	(void)state;
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	in[n - 1].fd = p[0];
	activate(in, n, &rep);
	close(p[1]);
	check_report(in, n, &rep);
	assert_int_equal(rep.fds.n_udp4, 2);
	assert_int_equal(rep.fds.n_udp6, 2);
	assert_true(rep.fds.udp6_dualstack);
	/* Order of inheritance is kept: worker i can take socket i. */
	assert_int_equal(rep.fds.udp4[0], LISTEN_FDS_START + 0);
	assert_int_equal(rep.fds.udp4[1], LISTEN_FDS_START + 4);
}

static void test_listen_fds_v6only_is_not_dualstack(void **state)
{
	struct input in[] = {
		{ udp_socket(AF_INET6, "::1", 1, 1), "udp6", W_UDP6 },
		{ udp_socket(AF_INET, "127.0.0.1", 0, 1), "udp4", W_UDP4 },
	};
	struct child_report rep;

	(void)state;
	activate(in, 2, &rep);
	check_report(in, 2, &rep);
	assert_false(rep.fds.udp6_dualstack);
	assert_int_equal(rep.fds.control, -1);
	assert_int_equal(rep.fds.swarm, -1);
}

static void test_listen_fds_without_names_closes_all(void **state)
{
	/* systemd-socket-activate without --fdname: every name is "unknown". */
	struct input in[] = {
		{ udp_socket(AF_INET, "127.0.0.1", 0, 1), "unknown", W_CLOSED },
		{ unix_stream(1), "unknown", W_CLOSED },
	};
	struct child_report rep;

	(void)state;
	activate(in, 2, &rep);
	check_report(in, 2, &rep);
}

static void test_listen_fds_not_activated(void **state)
{
	struct svc_fds f;

	(void)state;
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDNAMES");
	memset(&f, 0x55, sizeof(f));
	assert_int_equal(svc_listen_fds(&f), 0);
	assert_int_equal(f.n_udp4, 0);
	assert_int_equal(f.n_udp6, 0);
	assert_int_equal(f.control, -1);
	assert_int_equal(f.swarm, -1);
	assert_int_equal(f.rejected, 0);
	svc_fds_close(&f);
}

static void test_listen_fds_other_pid_is_ignored(void **state)
{
	struct svc_fds f;

	(void)state;
	/* $LISTEN_PID names another process: the fds are not ours to take. */
	setenv("LISTEN_PID", "1", 1);
	setenv("LISTEN_FDS", "1", 1);
	setenv("LISTEN_FDNAMES", "udp4", 1);
	assert_int_equal(svc_listen_fds(&f), 0);
	assert_int_equal(f.n_udp4, 0);
	assert_int_equal(f.rejected, 0);
	assert_null(getenv("LISTEN_FDS"));
}

static void test_fds_close(void **state)
{
	struct svc_fds f;
	int a = udp_socket(AF_INET, "127.0.0.1", 0, 1);
	int b = make_memfd();

	(void)state;
	memset(&f, 0, sizeof(f));
	f.udp4[0] = a;
	f.n_udp4 = 1;
	f.control = -1;
	f.swarm = b;
	svc_fds_close(&f);
	assert_int_equal(fcntl(a, F_GETFD), -1);
	assert_int_equal(fcntl(b, F_GETFD), -1);
	assert_int_equal(f.n_udp4, 0);
	assert_int_equal(f.swarm, -1);
}

static void test_fd_is_memfd(void **state)
{
	char path[] = "/tmp/test_svc.XXXXXX";
	int m = make_memfd(), t = mkostemp(path, O_CLOEXEC), p[2];

	(void)state;
	assert_true(t >= 0);
	unlink(path);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_true(svc_fd_is_memfd(m));
	assert_false(svc_fd_is_memfd(t));
	assert_false(svc_fd_is_memfd(p[0]));
	assert_false(svc_fd_is_memfd(-1));
	close(m);
	close(t);
	close(p[0]);
	close(p[1]);
}

/* --- sd_notify -------------------------------------------------------------- */

struct listener {
	char dir[64];
	char path[108];
	int fd;
};

static int notify_setup(void **state)
{
	struct listener *l = calloc(1, sizeof(*l));
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int one = 1;

	if (!l)
		return -1;
	snprintf(l->dir, sizeof(l->dir), "/tmp/test_svc.XXXXXX");
	if (!mkdtemp(l->dir))
		return -1;
	snprintf(l->path, sizeof(l->path), "%s/notify", l->dir);
	l->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (l->fd < 0)
		return -1;
	setsockopt(l->fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one));
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", l->path);
	if (bind(l->fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		return -1;
	setenv("NOTIFY_SOCKET", l->path, 1);
	*state = l;
	return 0;
}

static int notify_teardown(void **state)
{
	struct listener *l = *state;

	unsetenv("NOTIFY_SOCKET");
	close(l->fd);
	unlink(l->path);
	rmdir(l->dir);
	free(l);
	return 0;
}

/*
 * Receive one datagram (waiting at most 2 s); returns its length, text in
 * buf, and the first passed fd in *ret_fd (-1 if none).
 */
static ssize_t recv_msg(int sfd, char *buf, size_t len, int *ret_fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 4) + CMSG_SPACE(sizeof(struct ucred))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = len - 1 };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl.buf) };
	struct pollfd pfd = { .fd = sfd, .events = POLLIN };
	ssize_t n;

	*ret_fd = -1;
	if (poll(&pfd, 1, 2000) != 1)
		return -1;
	n = recvmsg(sfd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			memcpy(ret_fd, CMSG_DATA(c), sizeof(int));
	return n;
}

static void expect_msg(struct listener *l, const char *text)
{
	char buf[512];
	int fd;

	assert_int_equal(recv_msg(l->fd, buf, sizeof(buf), &fd), (ssize_t)strlen(text));
	assert_string_equal(buf, text);
	assert_int_equal(fd, -1);
}

static void assert_nothing_pending(int sfd)
{
	char c;

	assert_int_equal(recv(sfd, &c, 1, MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);
}

static void test_notify_simple(void **state)
{
	struct listener *l = *state;

	assert_true(svc_notify_ready() > 0);
	expect_msg(l, "READY=1");
	assert_true(svc_notify_stopping() > 0);
	expect_msg(l, "STOPPING=1");
	assert_true(svc_notify_watchdog() > 0);
	expect_msg(l, "WATCHDOG=1");
	assert_nothing_pending(l->fd);
}

static uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void test_notify_reloading(void **state)
{
	struct listener *l = *state;
	unsigned long long usec;
	uint64_t before, after;
	char buf[256];
	int fd, used = 0;

	before = now_usec();
	assert_true(svc_notify_reloading() > 0);
	after = now_usec();
	assert_true(recv_msg(l->fd, buf, sizeof(buf), &fd) > 0);
	assert_int_equal(sscanf(buf, "RELOADING=1\nMONOTONIC_USEC=%llu%n", &usec, &used), 1);
	assert_int_equal((size_t)used, strlen(buf));
	assert_true(usec >= before && usec <= after);
}

static void test_notify_status_one_line(void **state)
{
	struct listener *l = *state;
	char big[600];

	assert_true(svc_notify_status("%u workers, %llu peers", 4u, 1234ULL) > 0);
	expect_msg(l, "STATUS=4 workers, 1234 peers");
	/* A newline in the text must not become a second assignment. */
	assert_true(svc_notify_status("a\nREADY=1") > 0);
	expect_msg(l, "STATUS=a READY=1");
	/* Overlong text is truncated, still one message. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_true(svc_notify_status("%s", big) > 0);
	{
		char buf[1024];
		int fd;
		ssize_t n = recv_msg(l->fd, buf, sizeof(buf), &fd);

		assert_true(n > 7 && n < 300);
		assert_memory_equal(buf, "STATUS=xxx", 10);
	}
}

static void test_store_fd(void **state)
{
	struct listener *l = *state;
	struct stat a, b;
	char buf[256];
	int m = make_memfd(), fd;

	assert_true(svc_store_fd(m, "swarm") > 0);
	assert_int_equal(recv_msg(l->fd, buf, sizeof(buf), &fd), 22);
	assert_string_equal(buf, "FDSTORE=1\nFDNAME=swarm");
	assert_true(fd >= 0);
	/* The received fd is the same file, not a copy. */
	assert_int_equal(fstat(m, &a), 0);
	assert_int_equal(fstat(fd, &b), 0);
	assert_int_equal(a.st_dev, b.st_dev);
	assert_int_equal(a.st_ino, b.st_ino);
	assert_true(svc_fd_is_memfd(fd));
	close(fd);

	assert_true(svc_remove_stored_fd("swarm") > 0);
	expect_msg(l, "FDSTOREREMOVE=1\nFDNAME=swarm");

	assert_int_equal(svc_store_fd(m, "a:b"), -EINVAL);
	assert_int_equal(svc_store_fd(m, ""), -EINVAL);
	assert_int_equal(svc_store_fd(m, "x\ny"), -EINVAL);
	assert_int_equal(svc_remove_stored_fd(NULL), -EINVAL);
	close(m);
	assert_int_equal(svc_store_fd(m, "swarm"), -EBADF);
	assert_nothing_pending(l->fd);
}

static void test_notify_without_socket_is_noop(void **state)
{
	struct listener *l = *state;
	int m = make_memfd();

	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(svc_notify_ready(), 0);
	assert_int_equal(svc_notify_reloading(), 0);
	assert_int_equal(svc_notify_stopping(), 0);
	assert_int_equal(svc_notify_watchdog(), 0);
	assert_int_equal(svc_notify_status("x"), 0);
	assert_int_equal(svc_store_fd(m, "swarm"), 0);
	assert_int_equal(svc_remove_stored_fd("swarm"), 0);
	assert_nothing_pending(l->fd);
	close(m);
}

static void test_notify_dead_socket_fails(void **state)
{
	struct listener *l = *state;
	char gone[160];

	snprintf(gone, sizeof(gone), "%s/nobody", l->dir);
	setenv("NOTIFY_SOCKET", gone, 1);
	assert_true(svc_notify_ready() < 0);
	assert_true(svc_notify_status("x") < 0);
}

static void test_watchdog_usec(void **state)
{
	char pid[32];
	uint64_t usec = 1;

	(void)state;
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	assert_int_equal(svc_watchdog_usec(&usec), 0);
	assert_int_equal(usec, 0);

	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	setenv("WATCHDOG_PID", pid, 1);
	setenv("WATCHDOG_USEC", "30000000", 1);
	assert_int_equal(svc_watchdog_usec(&usec), 1);
	assert_int_equal(usec, 30000000);
	/* Still there for the next call. */
	assert_int_equal(svc_watchdog_usec(&usec), 1);
	assert_int_equal(usec, 30000000);

	/* Meant for another process (e.g. a forked child reading it). */
	setenv("WATCHDOG_PID", "1", 1);
	assert_int_equal(svc_watchdog_usec(&usec), 0);
	assert_int_equal(usec, 0);

	setenv("WATCHDOG_PID", pid, 1);
	setenv("WATCHDOG_USEC", "soon", 1);
	assert_true(svc_watchdog_usec(&usec) < 0);
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_listen_fds_classifies),
		cmocka_unit_test(test_listen_fds_v6only_is_not_dualstack),
		cmocka_unit_test(test_listen_fds_without_names_closes_all),
		cmocka_unit_test(test_listen_fds_not_activated),
		cmocka_unit_test(test_listen_fds_other_pid_is_ignored),
		cmocka_unit_test(test_fds_close),
		cmocka_unit_test(test_fd_is_memfd),
		cmocka_unit_test_setup_teardown(test_notify_simple, notify_setup, notify_teardown),
		cmocka_unit_test_setup_teardown(test_notify_reloading, notify_setup,
						notify_teardown),
		cmocka_unit_test_setup_teardown(test_notify_status_one_line, notify_setup,
						notify_teardown),
		cmocka_unit_test_setup_teardown(test_store_fd, notify_setup, notify_teardown),
		cmocka_unit_test_setup_teardown(test_notify_without_socket_is_noop, notify_setup,
						notify_teardown),
		cmocka_unit_test_setup_teardown(test_notify_dead_socket_fails, notify_setup,
						notify_teardown),
		cmocka_unit_test(test_watchdog_usec),
	};

	log_init(LOG_WARNING, "test");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
