/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * daemon/net.c - create and bind the UDP sockets.
 *
 * Owns socket creation only: the supervisor calls net_open() once, before
 * forking, and the sockets then live as long as the daemon. Nothing here
 * runs per packet.
 *
 * Design notes:
 * - One socket per worker per family. With several workers all sockets of a
 *   family join one SO_REUSEPORT group, bound in worker order, so that
 *   group index i is worker i's socket. A classic BPF program attached to
 *   the group (SO_ATTACH_REUSEPORT_CBPF) returns "receiving CPU modulo group
 *   size", so a datagram handled by the softirq on CPU c goes to the worker
 *   pinned on CPU c (the supervisor pins worker i to the i-th allowed CPU):
 *   no cross-CPU wakeup and no shared socket lock. When the program cannot
 *   be attached the kernel's default hashing on the 4-tuple is used, which
 *   is still correct, only less local; that is logged once.
 * - Port 0 means "any port" (tests): the first socket is bound to port 0,
 *   the kernel's choice is read back with getsockname() and the rest of the
 *   group is bound to that same port.
 * - Buffer sizes: SO_RCVBUFFORCE/SO_SNDBUFFORCE when privileged (they
 *   ignore net.core.rmem_max), else the plain options; the size the kernel
 *   granted is read back and a shortfall logged once per daemon start.
 * - The IPv6 socket sets IPV6_V6ONLY unless ipv6_only = no, so that an
 *   IPv4 socket on the same port can coexist and IPv4 counters stay exact.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/conf.h"
#include "daemon/log.h"
#include "daemon/net.h"

#ifndef SO_ATTACH_REUSEPORT_CBPF
#define SO_ATTACH_REUSEPORT_CBPF 51
#endif
#ifndef SO_DETACH_REUSEPORT_BPF
#define SO_DETACH_REUSEPORT_BPF 68
#endif

static int buf_short_logged;
static int steer_failed_logged;

/* Format a socket address as "1.2.3.4:P" or "[::1]:P". */
static void format_addr(const struct sockaddr *sa, char *out, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(out, len, "%s:%u", host, ntohs(in->sin_port));
	} else {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(out, len, "[%s]:%u", host, ntohs(in6->sin6_port));
	}
}

/* Ask for a buffer size; privileged first, then the capped option. */
static void set_buffer(int fd, int force_opt, int opt, unsigned want, const char *what)
{
	int v = (int)(want > (unsigned)(1 << 30) ? (1 << 30) : want);
	int got = 0;
	socklen_t gl = sizeof(got);

	if (!want)
		return;
	if (setsockopt(fd, SOL_SOCKET, force_opt, &v, sizeof(v)) < 0 &&
	    setsockopt(fd, SOL_SOCKET, opt, &v, sizeof(v)) < 0) {
		log_once(LOG_WARNING, &buf_short_logged, "cannot set %s to %u bytes: %s, ignoring",
			 what, want, strerror(errno));
		return;
	}
	/* Linux reports twice the requested size (bookkeeping overhead). */
	if (getsockopt(fd, SOL_SOCKET, opt, &got, &gl) == 0 && (unsigned)got / 2 < want)
		log_once(
			LOG_WARNING, &buf_short_logged,
			"%s is %d bytes, less than the %u configured (raise net.core.%s), ignoring",
			what, got / 2, want, opt == SO_RCVBUF ? "rmem_max" : "wmem_max");
}

/* Steer each datagram to the group socket whose index is the receiving CPU mod n. */
static int attach_cpu_steering(int fd, unsigned n)
{
	struct sock_filter code[] = {
		{ BPF_LD | BPF_W | BPF_ABS, 0, 0, (uint32_t)(SKF_AD_OFF + SKF_AD_CPU) },
		{ BPF_ALU | BPF_MOD | BPF_K, 0, 0, n },
		{ BPF_RET | BPF_A, 0, 0, 0 },
	};
	struct sock_fprog prog;

	/* memset: the padding after .len goes to the kernel too (valgrind checks it). */
	memset(&prog, 0, sizeof(prog));
	prog.len = sizeof(code) / sizeof(code[0]);
	prog.filter = code;
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog)) < 0)
		return -errno;
	return 0;
}

static int open_one(const struct conf *c, int family, struct sockaddr *addr, socklen_t alen,
		    bool reuseport)
{
	int one = 1;
	int fd, r;

	fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto fail;
	if (family == AF_INET6) {
		int v6only = c->ipv6_only ? 1 : 0;

		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)) < 0)
			goto fail;
	}
	set_buffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, c->socket_recv_buffer, "socket receive buffer");
	set_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, c->socket_send_buffer, "socket send buffer");
	if (bind(fd, addr, alen) < 0)
		goto fail;
	return fd;
fail:
	r = -errno;
	close(fd);
	return r;
}

/* Open a group of n sockets of one family bound to one address. */
static int open_group(const struct conf *c, int family, const struct sockaddr *want, socklen_t alen,
		      unsigned n, bool steer, int *fds, uint16_t *ret_port, bool *ret_steered)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char name[INET6_ADDRSTRLEN + 16];
	unsigned i;
	int r;

	memcpy(&ss, want, alen);
	for (i = 0; i < n; i++) {
		fds[i] = open_one(c, family, (struct sockaddr *)&ss, alen, n > 1);
		if (fds[i] < 0) {
			r = fds[i];
			format_addr((const struct sockaddr *)&ss, name, sizeof(name));
			log_errno(LOG_ERR, r, "cannot bind udp %s", name);
			goto fail;
		}
		if (i == 0) {
			/* Learn the port (an ephemeral one when 0 was asked for). */
			sl = sizeof(ss);
			if (getsockname(fds[0], (struct sockaddr *)&ss, &sl) < 0) {
				r = -errno;
				i++;
				goto fail;
			}
		}
	}
	*ret_port = family == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port) :
					ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	*ret_steered = false;
	if (n > 1 && steer) {
		r = attach_cpu_steering(fds[0], n);
		if (r < 0)
			log_once(LOG_WARNING, &steer_failed_logged,
				 "cannot attach the reuseport CPU steering program (%s), using the "
				 "kernel's hashing",
				 strerror(-r));
		else
			*ret_steered = true;
	}
	format_addr((const struct sockaddr *)&ss, name, sizeof(name));
	log_msg(LOG_NOTICE, "listening on udp %s (%u socket%s%s)", name, n, n > 1 ? "s" : "",
		*ret_steered ? ", steered by cpu" : "");
	return 0;
fail:
	while (i-- > 0) {
		close(fds[i]);
		fds[i] = -1;
	}
	return r;
}

int net_open(const struct conf *c, unsigned n, bool steer, struct net_sockets *ret)
{
	struct net_sockets s;
	unsigned i;
	int r;

	if (n < 1 || n > NET_MAX_GROUP)
		return -EINVAL;
	memset(&s, 0, sizeof(s));
	for (i = 0; i < NET_MAX_GROUP; i++)
		s.fd4[i] = s.fd6[i] = -1;
	if (c->listen4_enabled) {
		r = open_group(c, AF_INET, (const struct sockaddr *)&c->listen4, sizeof(c->listen4),
			       n, steer, s.fd4, &s.port4, &s.steered4);
		if (r < 0)
			return r;
		s.n4 = n;
	}
	if (c->listen6_enabled) {
		r = open_group(c, AF_INET6, (const struct sockaddr *)&c->listen6,
			       sizeof(c->listen6), n, steer, s.fd6, &s.port6, &s.steered6);
		if (r < 0) {
			net_close(&s);
			return r;
		}
		s.n6 = n;
	}
	*ret = s;
	return 0;
}

/*
 * Grow or shrink one family's group from *cur to n sockets. New sockets join
 * the group on the address the first one is bound to; removed ones are
 * closed here (a draining worker keeps its own copy until it exits, so its
 * queue is still served). Then the steering program is replaced for n.
 */
static int resize_group(const struct conf *c, int *fds, unsigned *cur, unsigned n, bool steer,
			bool *ret_steered)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char name[INET6_ADDRSTRLEN + 16];
	unsigned i;
	int r, zero = 0;

	if (!*cur || n == *cur)
		return 0;
	if (getsockname(fds[0], (struct sockaddr *)&ss, &sl) < 0)
		return -errno;
	format_addr((const struct sockaddr *)&ss, name, sizeof(name));
	if (n > *cur) {
		if (*cur == 1)
			return -EOPNOTSUPP; /* bound without SO_REUSEPORT: no group to join */
		for (i = *cur; i < n; i++) {
			fds[i] = open_one(c, ss.ss_family, (struct sockaddr *)&ss, sl, true);
			if (fds[i] < 0) {
				r = fds[i];
				log_errno(LOG_ERR, r, "cannot add a socket on udp %s", name);
				while (i-- > *cur) {
					close(fds[i]);
					fds[i] = -1;
				}
				return r;
			}
		}
	} else {
		for (i = n; i < *cur; i++) {
			close(fds[i]);
			fds[i] = -1;
		}
	}
	*cur = n;
	*ret_steered = false;
	if (n > 1 && steer) {
		r = attach_cpu_steering(fds[0], n);
		if (r < 0)
			log_once(LOG_WARNING, &steer_failed_logged,
				 "cannot attach the reuseport CPU steering program (%s), using the "
				 "kernel's hashing",
				 strerror(-r));
		else
			*ret_steered = true;
	}
	/* The kernel wants an int-sized (ignored) value even for a detach. */
	if (!*ret_steered &&
	    setsockopt(fds[0], SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, &zero, sizeof(zero)) < 0 &&
	    errno != ENOENT)
		log_errno(LOG_WARNING, -errno, "cannot detach the steering program from udp %s",
			  name);
	log_msg(LOG_NOTICE, "listening on udp %s (%u socket%s%s)", name, n, n > 1 ? "s" : "",
		*ret_steered ? ", steered by cpu" : "");
	return 0;
}

int net_resize(struct net_sockets *s, const struct conf *c, unsigned n, bool steer)
{
	unsigned old4 = s->n4;
	int r;

	if (n < 1 || n > NET_MAX_GROUP)
		return -EINVAL;
	if (n > s->n4 && s->n4 == 1)
		return -EOPNOTSUPP;
	if (n > s->n6 && s->n6 == 1)
		return -EOPNOTSUPP;
	r = resize_group(c, s->fd4, &s->n4, n, steer, &s->steered4);
	if (r < 0)
		return r;
	r = resize_group(c, s->fd6, &s->n6, n, steer, &s->steered6);
	if (r < 0) {
		/* Back to the old IPv4 size so both families keep one socket per worker. */
		resize_group(c, s->fd4, &s->n4, old4, steer, &s->steered4);
		return r;
	}
	return 0;
}

static void log_inherited(const int *fds, unsigned n)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char name[INET6_ADDRSTRLEN + 16];

	if (!n || getsockname(fds[0], (struct sockaddr *)&ss, &sl) < 0)
		return;
	format_addr((const struct sockaddr *)&ss, name, sizeof(name));
	log_msg(LOG_NOTICE, "listening on udp %s (%u inherited socket%s)", name, n,
		n > 1 ? "s" : "");
}

void net_adopt(struct net_sockets *s, const int *fd4, unsigned n4, const int *fd6, unsigned n6)
{
	unsigned i;

	memset(s, 0, sizeof(*s));
	for (i = 0; i < NET_MAX_GROUP; i++)
		s->fd4[i] = s->fd6[i] = -1;
	s->n4 = n4 < NET_MAX_GROUP ? n4 : NET_MAX_GROUP;
	s->n6 = n6 < NET_MAX_GROUP ? n6 : NET_MAX_GROUP;
	for (i = 0; i < s->n4; i++)
		s->fd4[i] = fd4[i];
	for (i = 0; i < s->n6; i++)
		s->fd6[i] = fd6[i];
	log_inherited(s->fd4, s->n4);
	log_inherited(s->fd6, s->n6);
}

void net_close(struct net_sockets *s)
{
	unsigned i;

	s->n4 = s->n6 = 0;
	for (i = 0; i < NET_MAX_GROUP; i++) {
		if (s->fd4[i] >= 0)
			close(s->fd4[i]);
		if (s->fd6[i] >= 0)
			close(s->fd6[i]);
		s->fd4[i] = s->fd6[i] = -1;
	}
}
