/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * daemon/svc.h - systemd glue: inherited sockets, FD store, sd_notify.
 *
 * With daemon/log.c, the only user of libsystemd. Supervisor only: workers
 * and the control process never call svc_* (systemd accepts notifications
 * from the main process only, NotifyAccess=main).
 *
 * How the supervisor uses it (the whole integration):
 *
 *   struct svc_fds fds;
 *   svc_listen_fds(&fds);      once, after the config is loaded and before
 *                              any fork or other fd is closed; returns the
 *                              number of fds kept (0: not socket-activated)
 *   fds.n_udp4 > 0             use fds.udp4[] instead of binding listen_ipv4
 *                              (likewise udp6 / listen_ipv6): worker i serves
 *                              udp4[i % n_udp4]; with fewer sockets than
 *                              workers, workers share a socket, each arming
 *                              its own receive on it. Keep systemd's buffer
 *                              sizes unless socket_recv_buffer is set.
 *   fds.control >= 0           serve it instead of creating control_socket,
 *                              and never unlink its path (systemd owns it)
 *   fds.swarm >= 0             segment_attach(fds.swarm, &params, &seg, why,
 *                              len): on success use seg; on failure log why,
 *                              svc_remove_stored_fd(SVC_NAME_SWARM) and
 *                              create a new segment; in both cases then
 *                              close(fds.swarm) (attach dup'ed it)
 *   svc_store_fd(segment_fd(seg), SVC_NAME_SWARM)
 *                              as soon as the segment exists, before READY:
 *                              a crash from then on keeps the peers (storing
 *                              the same segment again is harmless)
 *   svc_notify_ready()         once every worker of the first generation is
 *                              receiving
 *   svc_notify_status(...)     every few seconds: one line, e.g.
 *                              "4 workers, 1234 torrents, 56789 peers, 812 req/s"
 *   svc_notify_reloading()     on SIGHUP / control reload, before parsing;
 *   svc_notify_ready()         when the reload is done or refused
 *   svc_watchdog_usec(&usec)   at start: > 0 = on, then check the workers
 *                              every usec / 2 and
 *   svc_notify_watchdog()      only if every live worker's heartbeat
 *                              advanced since the last check (a heartbeat,
 *                              not the packet count: an idle tracker is
 *                              healthy)
 *   svc_notify_stopping()      on SIGTERM, before draining the workers
 *   svc_fds_close(&fds)        only for fds not taken over (startup failed
 *                              first); once moved into the supervisor's
 *                              own tables they are closed there, once
 *
 * Every call returns -errno on failure and logs at most one line. The notify
 * calls return 0 without doing anything when $NOTIFY_SOCKET is unset (not
 * started by systemd), and > 0 when the message was sent.
 */
#ifndef TRACKER_DAEMON_SVC_H
#define TRACKER_DAEMON_SVC_H

#include <stdbool.h>
#include <stdint.h>

/* Most inherited UDP sockets kept per family; extra ones are closed. */
#define SVC_UDP_MAX 64

/* FileDescriptorName= values trackerd understands (see trackerd.socket). */
#define SVC_NAME_UDP4 "udp4"
#define SVC_NAME_UDP6 "udp6"
#define SVC_NAME_CONTROL "control"
#define SVC_NAME_SWARM "swarm"

/*
 * Descriptors inherited from systemd (socket units and the FD store), all
 * FD_CLOEXEC. Absent ones are -1 / count 0.
 */
struct svc_fds {
	int udp4[SVC_UDP_MAX]; /* bound AF_INET SOCK_DGRAM, name "udp4" */
	unsigned n_udp4;
	int udp6[SVC_UDP_MAX]; /* bound AF_INET6 SOCK_DGRAM, name "udp6" */
	unsigned n_udp6;
	bool udp6_dualstack; /* some udp6 socket lacks IPV6_V6ONLY: IPv4 peers
				arrive on it as v4-mapped addresses */
	int control; /* listening AF_UNIX SOCK_STREAM, name "control" */
	int swarm; /* memfd from the FD store, name "swarm" */
	unsigned rejected; /* fds closed: unknown name, wrong kind, excess */
};

/*
 * Take over the fds passed by systemd ($LISTEN_FDS, $LISTEN_PID,
 * $LISTEN_FDNAMES, which are then removed from the environment), check each
 * one's real type, family and state against its name, keep the matching
 * ones in *ret and close (and log) the others. Several udp4/udp6 fds are
 * allowed (one ListenDatagram= line per worker); a second control or swarm
 * fd is closed. Returns the number of fds kept (0 when not socket-activated)
 * or -errno if the environment is malformed; *ret is always initialised.
 */
int svc_listen_fds(struct svc_fds *ret);

/* Close every fd still held in f and reset it to the empty state. */
void svc_fds_close(struct svc_fds *f);

/* True if fd is a memfd (the kind of fd the segment lives in). */
bool svc_fd_is_memfd(int fd);

/* READY=1: startup finished, or a reload finished. */
int svc_notify_ready(void);
/* RELOADING=1 with MONOTONIC_USEC=<CLOCK_MONOTONIC in microseconds>. */
int svc_notify_reloading(void);
/* STOPPING=1: shutdown has begun. */
int svc_notify_stopping(void);
/* WATCHDOG=1: the service is alive and making progress. */
int svc_notify_watchdog(void);
/* STATUS=<one line>; newlines in the formatted text become spaces. */
int svc_notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Watchdog period asked for by the service manager (WatchdogSec=): returns
 * 1 and the period in microseconds in *ret_usec when the watchdog is on
 * (send WATCHDOG=1 at least every half of it), 0 with *ret_usec = 0 when it
 * is off, -errno on a malformed $WATCHDOG_USEC.
 */
int svc_watchdog_usec(uint64_t *ret_usec);

/*
 * FDSTORE=1 + FDNAME=name with fd attached (SCM_RIGHTS): the service
 * manager keeps a reference and hands it back at the next start (see
 * FileDescriptorStoreMax=). Storing the same file again is harmless.
 * name: 1..255 chars, no ':' and no control characters.
 */
int svc_store_fd(int fd, const char *name);
/* FDSTOREREMOVE=1 + FDNAME=name: drop a stored fd (e.g. a stale segment). */
int svc_remove_stored_fd(const char *name);

#endif /* TRACKER_DAEMON_SVC_H */
