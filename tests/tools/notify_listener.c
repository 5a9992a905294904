/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/tools/notify_listener.c - a tiny service manager for integration tests.
 *
 *   notify_listener -s SOCKET -o LOG [-p PIDFILE] [-w WATCHDOG_USEC] [-r N]
 *                   [-t STOP_TIMEOUT_MS] [-T LIFETIME_S] [-- COMMAND [ARG...]]
 *
 * Binds a datagram socket at SOCKET and records every sd_notify message to
 * LOG, as systemd's service manager would receive it. With a COMMAND it also
 * plays the service manager's other part: it starts COMMAND with
 * $NOTIFY_SOCKET set, passes it the fds it inherited itself ($LISTEN_FDS,
 * e.g. from systemd-socket-activate) followed by the FD store, and keeps
 * fds sent with FDSTORE=1 for the next start. So a test can run
 *
 *   systemd-socket-activate --datagram -l 127.0.0.1:6969 --fdname=udp4 \
 *       notify_listener -s n.sock -o n.log -p t.pid -- trackerd ...
 *
 * Signals to notify_listener:
 *   SIGUSR1   restart: SIGTERM the command, wait, start it again with the
 *             same sockets and the FD store (like "systemctl restart")
 *   SIGHUP    forwarded to the command (like ExecReload=kill -HUP $MAINPID)
 *   SIGTERM, SIGINT   stop the command (SIGTERM, SIGKILL after the stop
 *             timeout) and exit with its status
 * When the command exits by itself it is restarted if it failed and -r
 * allows (Restart=on-failure, at most N times); otherwise notify_listener
 * exits with the command's status (128+signal when killed). So that a test
 * that dies cannot leave it behind, it stops the command and exits 124
 * after LIFETIME_S seconds (default 300, 0 = no limit).
 *
 * LOG, flushed after every record, one item per line:
 *   START pid=P fds=N names=a:b:c     command started with N fds
 *   MSG n=K pid=P main=1 fds=F        a datagram: sender pid, whether it is
 *                                     the command's main pid, fds attached
 *   READY=1 ...                       the datagram's assignments, one a line
 *   FD name=NAME kind=KIND size=S stored|duplicate|full|dropped
 *                                     each attached fd; KIND is memfd,
 *                                     socket, pipe, file or other
 *   FDSTOREREMOVE name=NAME removed=R
 *   EXIT pid=P status=S | EXIT pid=P signal=G
 *   KILL pid=P after MS ms            the command ignored SIGTERM
 *   LIFETIME                          the lifetime ran out
 *
 * Like systemd 252: fds are kept only with FDSTORE=1 (and at most
 * MAX_STORE), a second fd for the same open file is not stored twice, and
 * the store is emptied when notify_listener exits. Messages from other pids
 * are logged with main=0 (NotifyAccess=main would drop them).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_MSG 4096 /* systemd reads at most this much per datagram */
#define MAX_MSG_FDS 16 /* fds accepted in one datagram */
#define MAX_STORE 16 /* FD store size (FileDescriptorStoreMax=) */
#define MAX_INHERIT 64 /* fds taken over from our own $LISTEN_FDS */
#define MAX_NAME 256

struct slot {
	int fd;
	char name[MAX_NAME];
};

static struct slot inherited[MAX_INHERIT];
static unsigned n_inherited;
static struct slot store[MAX_STORE];
static unsigned n_store;
static FILE *logfp;
static pid_t child = -1;
static unsigned long msg_count;

static void die(const char *what)
{
	fprintf(stderr, "notify_listener: %s: %s\n", what, strerror(errno));
	exit(125);
}

static void logline(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logline(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(logfp, fmt, ap);
	va_end(ap);
	fputc('\n', logfp);
	fflush(logfp);
}

/* Take over our own $LISTEN_FDS (as systemd-socket-activate passes them). */
static void take_inherited(void)
{
	const char *pid = getenv("LISTEN_PID"), *n = getenv("LISTEN_FDS");
	const char *names = getenv("LISTEN_FDNAMES");
	long cnt;

	if (!pid || !n || atol(pid) != (long)getpid())
		goto out;
	cnt = atol(n);
	if (cnt < 0 || cnt > MAX_INHERIT) {
		fprintf(stderr, "notify_listener: LISTEN_FDS=%s out of range\n", n);
		exit(125);
	}
	for (long i = 0; i < cnt; i++) {
		struct slot *s = &inherited[n_inherited++];
		const char *end;
		size_t len;

		s->fd = 3 + (int)i;
		fcntl(s->fd, F_SETFD, FD_CLOEXEC);
		snprintf(s->name, sizeof(s->name), "unknown");
		if (names && *names) {
			end = strchr(names, ':');
			len = end ? (size_t)(end - names) : strlen(names);
			if (len >= sizeof(s->name))
				len = sizeof(s->name) - 1;
			memcpy(s->name, names, len);
			s->name[len] = '\0';
			names = end ? end + 1 : NULL;
		}
	}
out:
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
}

static const char *fd_kind(int fd, long long *ret_size)
{
	char path[64], link[PATH_MAX];
	struct stat st;
	ssize_t n;

	*ret_size = -1;
	if (fstat(fd, &st) < 0)
		return "bad";
	*ret_size = (long long)st.st_size;
	if (S_ISSOCK(st.st_mode))
		return "socket";
	if (S_ISFIFO(st.st_mode))
		return "pipe";
	if (!S_ISREG(st.st_mode))
		return "other";
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n > 0) {
		link[n] = '\0';
		if (strncmp(link, "/memfd:", 7) == 0)
			return "memfd";
	}
	return "file";
}

static bool same_file(int a, int b)
{
	struct stat sa, sb;

	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

/* Value of KEY= in a message of newline-separated assignments, or NULL. */
static const char *find_var(const char *msg, const char *key, char *buf, size_t len)
{
	size_t kl = strlen(key);

	for (const char *p = msg; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, key, kl) == 0 && p[kl] == '=') {
			const char *v = p + kl + 1, *e = strchr(v, '\n');
			size_t vl = e ? (size_t)(e - v) : strlen(v);

			if (vl >= len)
				vl = len - 1;
			memcpy(buf, v, vl);
			buf[vl] = '\0';
			return buf;
		}
	}
	return NULL;
}

static void handle_msg(int sfd)
{
	char buf[MAX_MSG + 1], name[MAX_NAME], tmp[MAX_NAME];
	union {
		char buf[CMSG_SPACE(sizeof(int) * MAX_MSG_FDS) + CMSG_SPACE(sizeof(struct ucred))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = MAX_MSG };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = ctl.buf,
			     .msg_controllen = sizeof(ctl.buf) };
	int fds[MAX_MSG_FDS];
	unsigned nfds = 0;
	struct ucred cred = { .pid = 0 };
	bool fdstore;
	ssize_t n;

	n = recvmsg(sfd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return;
	buf[n] = '\0';
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET)
			continue;
		if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len >= CMSG_LEN(sizeof(cred))) {
			memcpy(&cred, CMSG_DATA(c), sizeof(cred));
		} else if (c->cmsg_type == SCM_RIGHTS) {
			size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			for (size_t i = 0; i < k; i++) {
				int fd;

				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				if (nfds < MAX_MSG_FDS)
					fds[nfds++] = fd;
				else
					close(fd);
			}
		}
	}
	logline("MSG n=%lu pid=%d main=%d fds=%u%s", ++msg_count, (int)cred.pid,
		child > 0 && cred.pid == child, nfds,
		(mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ? " truncated" : "");
	for (char *p = buf, *e; *p; p = e + 1) {
		e = strchr(p, '\n');
		if (!e) {
			logline("%s", p);
			break;
		}
		*e = '\0';
		logline("%s", p);
		*e = '\n';
	}

	fdstore = find_var(buf, "FDSTORE", tmp, sizeof(tmp)) && strcmp(tmp, "1") == 0;
	if (!find_var(buf, "FDNAME", name, sizeof(name)))
		snprintf(name, sizeof(name), "stored");
	for (unsigned i = 0; i < nfds; i++) {
		long long size;
		const char *kind = fd_kind(fds[i], &size);
		const char *what = "stored";
		bool dup = false;

		for (unsigned j = 0; j < n_store; j++)
			dup |= same_file(store[j].fd, fds[i]);
		if (!fdstore)
			what = "dropped";
		else if (dup)
			what = "duplicate";
		else if (n_store >= MAX_STORE)
			what = "full";
		logline("FD name=%s kind=%s size=%lld %s", name, kind, size, what);
		if (strcmp(what, "stored") == 0) {
			store[n_store].fd = fds[i];
			snprintf(store[n_store].name, sizeof(store[n_store].name), "%s", name);
			n_store++;
		} else {
			close(fds[i]);
		}
	}
	if (find_var(buf, "FDSTOREREMOVE", tmp, sizeof(tmp)) && strcmp(tmp, "1") == 0) {
		unsigned removed = 0, k = 0;

		for (unsigned j = 0; j < n_store; j++) {
			if (strcmp(store[j].name, name) == 0) {
				close(store[j].fd);
				removed++;
			} else {
				store[k++] = store[j];
			}
		}
		n_store = k;
		logline("FDSTOREREMOVE name=%s removed=%u", name, removed);
	}
}

static pid_t start(char **argv, const char *sock, const char *watchdog, const char *pidfile)
{
	struct slot all[MAX_INHERIT + MAX_STORE];
	char names[(MAX_INHERIT + MAX_STORE) * MAX_NAME / 4] = "";
	unsigned n = 0;
	pid_t pid;

	for (unsigned i = 0; i < n_inherited; i++)
		all[n++] = inherited[i];
	for (unsigned i = 0; i < n_store; i++)
		all[n++] = store[i];
	for (unsigned i = 0; i < n; i++) {
		if (i && strlen(names) + 1 < sizeof(names))
			strcat(names, ":");
		if (strlen(names) + strlen(all[i].name) < sizeof(names))
			strcat(names, all[i].name);
	}

	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		char num[32];
		int high[MAX_INHERIT + MAX_STORE];
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		/* Park above the target range, then move down to 3..; dup2
		 * leaves them without FD_CLOEXEC, as systemd does. */
		for (unsigned i = 0; i < n; i++) {
			high[i] = fcntl(all[i].fd, F_DUPFD_CLOEXEC, 3 + (int)n + 16);
			if (high[i] < 0)
				_exit(126);
		}
		for (unsigned i = 0; i < n; i++) {
			if (dup2(high[i], 3 + (int)i) < 0)
				_exit(126);
			close(high[i]);
		}
		snprintf(num, sizeof(num), "%d", (int)getpid());
		if (n) {
			setenv("LISTEN_PID", num, 1);
			snprintf(num, sizeof(num), "%u", n);
			setenv("LISTEN_FDS", num, 1);
			setenv("LISTEN_FDNAMES", names, 1);
		}
		setenv("NOTIFY_SOCKET", sock, 1);
		if (watchdog) {
			snprintf(num, sizeof(num), "%d", (int)getpid());
			setenv("WATCHDOG_PID", num, 1);
			setenv("WATCHDOG_USEC", watchdog, 1);
		}
		execvp(argv[0], argv);
		fprintf(stderr, "notify_listener: cannot run '%s': %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	logline("START pid=%d fds=%u names=%s", (int)pid, n, names);
	if (pidfile) {
		char tmpf[PATH_MAX];
		FILE *f;

		snprintf(tmpf, sizeof(tmpf), "%s.tmp", pidfile);
		f = fopen(tmpf, "we");
		if (!f)
			die(pidfile);
		fprintf(f, "%d\n", (int)pid);
		fclose(f);
		if (rename(tmpf, pidfile) < 0)
			die(pidfile);
	}
	return pid;
}

static int exit_code(int status)
{
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void log_exit(pid_t pid, int status)
{
	if (WIFEXITED(status))
		logline("EXIT pid=%d status=%d", (int)pid, WEXITSTATUS(status));
	else
		logline("EXIT pid=%d signal=%d", (int)pid, WTERMSIG(status));
}

/* SIGTERM the child, SIGKILL after timeout_ms; returns its wait status. */
static int stop_child(int sfd, int timeout_ms)
{
	struct timespec t0, now;
	int status = 0;

	kill(child, SIGTERM);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd p = { .fd = sfd, .events = POLLIN };
		pid_t r = waitpid(child, &status, WNOHANG);
		long el;

		if (r == child)
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		el = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
		if (el >= timeout_ms) {
			logline("KILL pid=%d after %d ms", (int)child, timeout_ms);
			kill(child, SIGKILL);
			waitpid(child, &status, 0);
			break;
		}
		/* Keep reading STOPPING=1, FDSTORE=1 while it shuts down. */
		if (poll(&p, 1, 10) == 1)
			handle_msg(sfd);
	}
	/* Messages sent just before exiting. */
	for (int i = 0; i < MAX_STORE * 4; i++) {
		struct pollfd p = { .fd = sfd, .events = POLLIN };

		if (poll(&p, 1, 0) != 1)
			break;
		handle_msg(sfd);
	}
	log_exit(child, status);
	child = -1;
	return status;
}

static void usage(void)
{
	fprintf(stderr, "usage: notify_listener -s SOCKET -o LOG [-p PIDFILE] [-w USEC] [-r N] "
			"[-t STOP_MS] [-T LIFETIME_S] [-- COMMAND [ARG...]]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *sock = NULL, *logpath = NULL, *pidfile = NULL, *watchdog = NULL;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int restarts = 0, stop_ms = 15000, lifetime_s = 300, sfd, sigfd, one = 1, c, rc = 0;
	struct timespec t0;
	sigset_t mask;

	while ((c = getopt(argc, argv, "+s:o:p:w:r:t:T:h")) != -1) {
		switch (c) {
		case 's':
			sock = optarg;
			break;
		case 'o':
			logpath = optarg;
			break;
		case 'p':
			pidfile = optarg;
			break;
		case 'w':
			watchdog = optarg;
			break;
		case 'r':
			restarts = atoi(optarg);
			break;
		case 't':
			stop_ms = atoi(optarg);
			break;
		case 'T':
			lifetime_s = atoi(optarg);
			break;
		default:
			usage();
		}
	}
	if (!sock || !logpath || strlen(sock) >= sizeof(sun.sun_path))
		usage();

	take_inherited();
	logfp = fopen(logpath, "ae");
	if (!logfp)
		die(logpath);

	sfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sfd < 0)
		die("socket");
	if (setsockopt(sfd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0)
		die("SO_PASSCRED");
	memcpy(sun.sun_path, sock, strlen(sock));
	unlink(sock);
	if (bind(sfd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		die(sock);

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		die("sigprocmask");
	sigfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sigfd < 0)
		die("signalfd");

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (optind < argc)
		child = start(argv + optind, sock, watchdog, pidfile);

	for (;;) {
		struct pollfd p[2] = { { .fd = sfd, .events = POLLIN },
				       { .fd = sigfd, .events = POLLIN } };
		struct signalfd_siginfo si;
		struct timespec now;
		int status, r;

		r = poll(p, 2, lifetime_s > 0 ? 1000 : -1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (lifetime_s > 0 && now.tv_sec - t0.tv_sec >= lifetime_s) {
			logline("LIFETIME");
			if (child > 0)
				stop_child(sfd, stop_ms);
			rc = 124;
			goto out;
		}
		if (p[0].revents & POLLIN)
			handle_msg(sfd);
		if (!(p[1].revents & POLLIN))
			continue;
		if (read(sigfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
			continue;
		switch (si.ssi_signo) {
		case SIGHUP:
			if (child > 0)
				kill(child, SIGHUP);
			break;
		case SIGUSR1:
			if (child > 0) {
				stop_child(sfd, stop_ms);
				child = start(argv + optind, sock, watchdog, pidfile);
			}
			break;
		case SIGTERM:
		case SIGINT:
			rc = child > 0 ? exit_code(stop_child(sfd, stop_ms)) : 0;
			goto out;
		case SIGCHLD:
			if (child <= 0 || waitpid(child, &status, WNOHANG) != child)
				break;
			/* Drain what it sent before dying. */
			for (int i = 0; i < MAX_STORE * 4; i++) {
				struct pollfd q = { .fd = sfd, .events = POLLIN };

				if (poll(&q, 1, 0) != 1)
					break;
				handle_msg(sfd);
			}
			log_exit(child, status);
			child = -1;
			if (exit_code(status) != 0 && restarts > 0) {
				restarts--;
				child = start(argv + optind, sock, watchdog, pidfile);
				break;
			}
			rc = exit_code(status);
			goto out;
		}
	}
out:
	unlink(sock);
	fclose(logfp);
	return rc;
}
