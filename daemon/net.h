/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * daemon/net.h - the UDP sockets the workers serve.
 *
 * The supervisor opens every socket once, before forking, and keeps them
 * for the life of the daemon: a worker that dies or a reload loses no
 * socket and no queued datagram. With one worker there is one socket per
 * family; with N workers there are N per family in one SO_REUSEPORT group,
 * in worker order, steered by CPU (see net.c). Supervisor context only.
 */
#ifndef TRACKER_DAEMON_NET_H
#define TRACKER_DAEMON_NET_H

#include <stdbool.h>
#include <stdint.h>

struct conf;

/* Most sockets per family (and so most workers sharing one port). */
#define NET_MAX_GROUP 128

struct net_sockets {
	unsigned n4; /* sockets in fd4[] (bound: one per worker), 0 when off */
	unsigned n6; /* sockets in fd6[] */
	int fd4[NET_MAX_GROUP]; /* IPv4 group, -1 when listen_ipv4 is off */
	int fd6[NET_MAX_GROUP]; /* IPv6 group, -1 when listen_ipv6 is off */
	uint16_t port4; /* bound port, host order, 0 when off */
	uint16_t port6;
	bool steered4; /* the CPU-steering program is attached */
	bool steered6;
};

/*
 * Open, configure and bind n sockets per enabled family (1 <= n <=
 * NET_MAX_GROUP) and log the bound addresses ("listening on udp
 * 127.0.0.1:6969"). Port 0 binds an ephemeral port shared by the whole
 * group. steer: attach the CPU-steering program (the caller pins worker i
 * to a CPU c with c % n == i); else the kernel hashes. Returns 0 or -errno
 * (logged); on failure nothing stays open.
 */
int net_open(const struct conf *c, unsigned n, bool steer, struct net_sockets *ret);

/*
 * Change a group opened by net_open() to n sockets per family (a reload
 * with another worker count). Sockets are added to the same SO_REUSEPORT
 * group, or the last ones closed, and the steering program is replaced.
 * -EOPNOTSUPP when a family has one socket, bound without SO_REUSEPORT:
 * growing that needs a restart. Returns 0 or -errno; on failure the
 * groups keep their size.
 */
int net_resize(struct net_sockets *s, const struct conf *c, unsigned n, bool steer);

/*
 * Take over sockets inherited from the service manager instead of binding:
 * n4 IPv4 and n6 IPv6 datagram sockets (either may be 0), already bound.
 * Worker i then serves fd4[i % n4] and fd6[i % n6]. Logs what it uses.
 */
void net_adopt(struct net_sockets *s, const int *fd4, unsigned n4, const int *fd6, unsigned n6);

/*
 * Change a group opened by net_open() to n sockets per family (a reload
 * with another worker count). Sockets are added to the same SO_REUSEPORT
 * group, or the last ones closed, and the steering program is replaced.
 * -EOPNOTSUPP when a family has one socket, bound without SO_REUSEPORT:
 * growing that needs a restart. Returns 0 or -errno; on failure the
 * groups keep their size.
 */
int net_resize(struct net_sockets *s, const struct conf *c, unsigned n, bool steer);

/*
 * Take over sockets inherited from the service manager instead of binding:
 * n4 IPv4 and n6 IPv6 datagram sockets (either may be 0, at most
 * NET_MAX_GROUP each), already bound. Worker i serves fd4[i % n4] and
 * fd6[i % n6]. Logs what it uses.
 */
void net_adopt(struct net_sockets *s, const int *fd4, unsigned n4, const int *fd6, unsigned n6);

/* Close every socket and mark them -1. */
void net_close(struct net_sockets *s);

#endif /* TRACKER_DAEMON_NET_H */
