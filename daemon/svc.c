/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * daemon/svc.c - systemd glue: inherited sockets, FD store, sd_notify.
 *
 * Owns the conversation with the service manager: taking over the fds it
 * passes at start ($LISTEN_FDS: socket units and the FD store) and the
 * sd_notify messages. It never binds, creates segments or forks; the
 * supervisor decides what to do with what is found here.
 *
 * Design notes:
 *
 * - Names and kinds. FileDescriptorName= names every fd of one socket unit
 *   alike, so trackerd ships one socket unit per name (trackerd.socket for
 *   "control", trackerd-udp4.socket, trackerd-udp6.socket); the FD store
 *   names its fd with FDNAME= ("swarm"). A name alone is not trusted: each
 *   fd's real type, family and state is checked (a "udp4" fd must be a bound
 *   AF_INET UDP socket, "udp6" a bound AF_INET6 UDP socket, "control" a
 *   listening AF_UNIX stream socket, "swarm" a memfd). Anything else,
 *   including fds without a name ("unknown"), is logged and closed, so an
 *   edited unit cannot make a worker read from the wrong kind of socket.
 *
 * - Several UDP fds of a family are fine: an operator who wants one socket
 *   per worker lists ListenDatagram= once per worker with ReusePort=yes.
 *   With fewer sockets than workers, workers share a socket: each worker
 *   arms its own receive on the same fd and the kernel hands each datagram
 *   to one of them. trackerd cannot add sockets of its own to systemd's
 *   SO_REUSEPORT group: the kernel requires the same owner uid, and
 *   systemd created them as root.
 *
 * - sd_listen_fds() leaves the fds without FD_CLOEXEC (it does not know
 *   whether the service execs); trackerd never execs, but every fd it holds
 *   is CLOEXEC, so it is set here.
 *
 * - Notifications go to $NOTIFY_SOCKET, which is left in the environment
 *   so the supervisor can notify for its whole life. Forked children inherit
 *   it but never call svc_*; with NotifyAccess=main systemd would ignore
 *   them anyway. A failing notification is logged once per run of
 *   failures, not every time a STATUS= line is refreshed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "daemon/log.h"
#include "daemon/svc.h"

enum fd_kind {
	KIND_OTHER = 0,
	KIND_UDP4,
	KIND_UDP6,
	KIND_CONTROL,
	KIND_MEMFD,
};

static const char *const kind_names[] = {
	[KIND_OTHER] = "unusable",     [KIND_UDP4] = SVC_NAME_UDP4,
	[KIND_UDP6] = SVC_NAME_UDP6,   [KIND_CONTROL] = SVC_NAME_CONTROL,
	[KIND_MEMFD] = SVC_NAME_SWARM,
};

bool svc_fd_is_memfd(int fd)
{
	char path[64], link[PATH_MAX];
	struct stat st;
	ssize_t n;

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return false;
	/* Only shmem files answer F_GET_SEALS; of those, memfds say so in /proc. */
	if (fcntl(fd, F_GET_SEALS) < 0)
		return false;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return errno == ENOENT; /* no /proc: the seals test must do */
	link[n] = '\0';
	return strncmp(link, "/memfd:", 7) == 0;
}

static int sockopt_int(int fd, int level, int opt, int *ret)
{
	socklen_t len = sizeof(*ret);

	if (getsockopt(fd, level, opt, ret, &len) < 0)
		return -errno;
	return 0;
}

/* What fd really is; *ret_v6only is set for KIND_UDP6. */
static enum fd_kind classify(int fd, bool *ret_v6only, char *desc, size_t desclen)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int type, domain, proto, listening, v6only;
	struct stat st;

	snprintf(desc, desclen, "?");
	if (fstat(fd, &st) < 0)
		return KIND_OTHER;
	if (!S_ISSOCK(st.st_mode)) {
		if (svc_fd_is_memfd(fd)) {
			snprintf(desc, desclen, "memfd, %lld bytes", (long long)st.st_size);
			return KIND_MEMFD;
		}
		snprintf(desc, desclen, "not a socket or memfd");
		return KIND_OTHER;
	}
	if (sockopt_int(fd, SOL_SOCKET, SO_TYPE, &type) < 0 ||
	    sockopt_int(fd, SOL_SOCKET, SO_DOMAIN, &domain) < 0 ||
	    sockopt_int(fd, SOL_SOCKET, SO_PROTOCOL, &proto) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		snprintf(desc, desclen, "socket options unreadable");
		return KIND_OTHER;
	}
	snprintf(desc, desclen, "socket family %d type %d", domain, type);

	if (domain == AF_UNIX && type == SOCK_STREAM) {
		const struct sockaddr_un *un = (const struct sockaddr_un *)&ss;

		if (sockopt_int(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening) < 0 || !listening) {
			snprintf(desc, desclen, "unix stream socket, not listening");
			return KIND_OTHER;
		}
		if (sl > offsetof(struct sockaddr_un, sun_path) && un->sun_path[0])
			snprintf(desc, desclen, "%.*s",
				 (int)(sl - offsetof(struct sockaddr_un, sun_path)), un->sun_path);
		else
			snprintf(desc, desclen, "unnamed or abstract unix socket");
		return KIND_CONTROL;
	}
	if (type != SOCK_DGRAM || proto != IPPROTO_UDP)
		return KIND_OTHER;

	if (domain == AF_INET && ss.ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
		char a[INET_ADDRSTRLEN];

		if (!sin->sin_port) {
			snprintf(desc, desclen, "udp4 socket, not bound");
			return KIND_OTHER;
		}
		inet_ntop(AF_INET, &sin->sin_addr, a, sizeof(a));
		snprintf(desc, desclen, "%s:%u", a, ntohs(sin->sin_port));
		return KIND_UDP4;
	}
	if (domain == AF_INET6 && ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;
		char a[INET6_ADDRSTRLEN];

		if (!sin6->sin6_port) {
			snprintf(desc, desclen, "udp6 socket, not bound");
			return KIND_OTHER;
		}
		if (sockopt_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only) < 0)
			return KIND_OTHER;
		inet_ntop(AF_INET6, &sin6->sin6_addr, a, sizeof(a));
		snprintf(desc, desclen, "[%s]:%u%s", a, ntohs(sin6->sin6_port),
			 v6only ? "" : " dual-stack");
		*ret_v6only = v6only != 0;
		return KIND_UDP6;
	}
	return KIND_OTHER;
}

static enum fd_kind kind_of_name(const char *name)
{
	for (int k = KIND_UDP4; k <= KIND_MEMFD; k++)
		if (strcmp(name, kind_names[k]) == 0)
			return (enum fd_kind)k;
	return KIND_OTHER;
}

static void fds_reset(struct svc_fds *f)
{
	memset(f, 0, sizeof(*f));
	f->control = -1;
	f->swarm = -1;
}

static void reject(struct svc_fds *f, int fd, const char *name, const char *why, const char *desc)
{
	log_msg(LOG_WARNING, "closing inherited fd %d named '%s' (%s): %s", fd, name, desc, why);
	close(fd);
	f->rejected++;
}

/* Keep fd of kind k in f; false if there is no room for it. */
static bool keep(struct svc_fds *f, int fd, enum fd_kind k, bool v6only)
{
	switch (k) {
	case KIND_UDP4:
		if (f->n_udp4 >= SVC_UDP_MAX)
			return false;
		f->udp4[f->n_udp4++] = fd;
		return true;
	case KIND_UDP6:
		if (f->n_udp6 >= SVC_UDP_MAX)
			return false;
		f->udp6[f->n_udp6++] = fd;
		if (!v6only)
			f->udp6_dualstack = true;
		return true;
	case KIND_CONTROL:
		if (f->control >= 0)
			return false;
		f->control = fd;
		return true;
	case KIND_MEMFD:
		if (f->swarm >= 0)
			return false;
		f->swarm = fd;
		return true;
	case KIND_OTHER:
		break;
	}
	return false;
}

int svc_listen_fds(struct svc_fds *ret)
{
	char **names = NULL;
	unsigned kept = 0;
	int n;

	fds_reset(ret);
	n = sd_listen_fds_with_names(1, &names);
	if (n < 0)
		return log_errno(LOG_ERR, n, "cannot read the fds passed by the service manager");

	for (int i = 0; i < n; i++) {
		int fd = SD_LISTEN_FDS_START + i;
		const char *name = names && names[i] ? names[i] : "unknown";
		enum fd_kind want = kind_of_name(name), got;
		bool v6only = true;
		char desc[128];
		int fl;

		if (want == KIND_OTHER) {
			reject(ret, fd, name,
			       "unknown name (expected udp4, udp6, control or swarm)", "-");
			continue;
		}
		got = classify(fd, &v6only, desc, sizeof(desc));
		if (got != want) {
			reject(ret, fd, name, "wrong kind of fd for this name", desc);
			continue;
		}
		fl = fcntl(fd, F_GETFD);
		if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0) {
			reject(ret, fd, name, strerror(errno), desc);
			continue;
		}
		if (!keep(ret, fd, got, v6only)) {
			reject(ret, fd, name, "one too many of this name", desc);
			continue;
		}
		log_msg(LOG_INFO, "using inherited %s fd %d (%s) from the service manager", name,
			fd, desc);
		kept++;
	}
	if (ret->udp6_dualstack)
		log_msg(LOG_NOTICE,
			"an inherited udp6 socket is dual-stack: IPv4 peers arrive on it "
			"as v4-mapped addresses");
	if (names) {
		for (int i = 0; i < n; i++)
			free(names[i]);
		free(names);
	}
	return (int)kept;
}

void svc_fds_close(struct svc_fds *f)
{
	for (unsigned i = 0; i < f->n_udp4; i++)
		close(f->udp4[i]);
	for (unsigned i = 0; i < f->n_udp6; i++)
		close(f->udp6[i]);
	if (f->control >= 0)
		close(f->control);
	if (f->swarm >= 0)
		close(f->swarm);
	fds_reset(f);
}

/* Send one message; of a run of failures, log only the first. */
static int notify(const char *msg, const int *fds, unsigned nfds)
{
	static bool failed_once;
	int r;

	r = sd_pid_notify_with_fds(0, 0, msg, fds, nfds);
	if (r >= 0) {
		failed_once = false;
	} else if (!failed_once) {
		const char *nl = strchr(msg, '\n');
		int len = nl ? (int)(nl - msg) : (int)strlen(msg);

		failed_once = true;
		log_errno(LOG_WARNING, r, "cannot send '%.*s' to the service manager, ignoring",
			  len, msg);
	}
	return r;
}

int svc_notify_ready(void)
{
	return notify("READY=1", NULL, 0);
}

int svc_notify_reloading(void)
{
	struct timespec ts;
	char msg[64];

	if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
		return -errno;
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
		 (unsigned long long)ts.tv_sec * 1000000ULL +
			 (unsigned long long)ts.tv_nsec / 1000);
	return notify(msg, NULL, 0);
}

int svc_notify_stopping(void)
{
	return notify("STOPPING=1", NULL, 0);
}

int svc_notify_watchdog(void)
{
	return notify("WATCHDOG=1", NULL, 0);
}

int svc_notify_status(const char *fmt, ...)
{
	char msg[256] = "STATUS=";
	const size_t pre = strlen(msg);
	va_list ap;

	if (!getenv("NOTIFY_SOCKET"))
		return 0;
	va_start(ap, fmt);
	vsnprintf(msg + pre, sizeof(msg) - pre, fmt, ap);
	va_end(ap);
	/* One line: a newline would start a new assignment. */
	for (char *p = msg + pre; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	return notify(msg, NULL, 0);
}

int svc_watchdog_usec(uint64_t *ret_usec)
{
	uint64_t usec = 0;
	int r;

	r = sd_watchdog_enabled(0, &usec);
	if (r < 0)
		return log_errno(LOG_WARNING, r, "cannot read the watchdog period, ignoring");
	*ret_usec = r > 0 ? usec : 0;
	return r > 0;
}

static bool fdname_is_valid(const char *name)
{
	size_t len = name ? strlen(name) : 0;

	if (len == 0 || len > 255)
		return false;
	for (const char *p = name; *p; p++)
		if (*p == ':' || (unsigned char)*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

int svc_store_fd(int fd, const char *name)
{
	char msg[300];

	if (!fdname_is_valid(name))
		return -EINVAL;
	if (fcntl(fd, F_GETFD) < 0)
		return -EBADF;
	if (!getenv("NOTIFY_SOCKET"))
		return 0;
	snprintf(msg, sizeof(msg), "FDSTORE=1\nFDNAME=%s", name);
	return notify(msg, &fd, 1);
}

int svc_remove_stored_fd(const char *name)
{
	char msg[300];

	if (!fdname_is_valid(name))
		return -EINVAL;
	if (!getenv("NOTIFY_SOCKET"))
		return 0;
	snprintf(msg, sizeof(msg), "FDSTOREREMOVE=1\nFDNAME=%s", name);
	return notify(msg, NULL, 0);
}
