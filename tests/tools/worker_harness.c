/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/tools/worker_harness.c - one socket worker in the foreground.
 *
 * Runs worker_run() in this process on one UDP socket, with a fresh
 * segment and no supervisor, so a backend can be measured or smoke-tested
 * on its own (udpbench --check, compare.sh --extra). Stops on SIGTERM or
 * SIGINT and prints the worker's counters to stderr.
 *
 *   worker_harness [-o KEY=VALUE]... HOST:PORT
 *
 * HOST is an IPv4 address or a bracketed IPv6 one ([::1]:6969). Options are
 * trackerd.conf keys (io_backend, ring_entries, max_peers, ...).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/conf.h"
#include "daemon/connid.h"
#include "daemon/log.h"
#include "daemon/worker.h"
#include "shm/counters.h"
#include "shm/segment.h"

#define HARNESS_MAX_OPTS 32

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static int parse_hostport(const char *arg, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon;
	size_t hl;
	long port;
	char *end;

	memset(ss, 0, sizeof(*ss));
	if (arg[0] == '[') {
		const char *rb = strchr(arg, ']');

		if (!rb || rb[1] != ':')
			return -EINVAL;
		hl = (size_t)(rb - arg - 1);
		if (hl >= sizeof(host))
			return -EINVAL;
		memcpy(host, arg + 1, hl);
		colon = rb + 1;
	} else {
		colon = strrchr(arg, ':');
		if (!colon)
			return -EINVAL;
		hl = (size_t)(colon - arg);
		if (hl >= sizeof(host))
			return -EINVAL;
		memcpy(host, arg, hl);
	}
	host[hl] = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || *end || port < 0 || port > 65535)
		return -EINVAL;

	if (strchr(host, ':')) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
			return -EINVAL;
		*len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			return -EINVAL;
		*len = sizeof(*a);
	}
	return 0;
}

static int open_socket(const struct sockaddr_storage *ss, socklen_t len, const struct conf *c)
{
	int fd = socket(ss->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int v;

	if (fd < 0)
		return -errno;
	if (ss->ss_family == AF_INET6) {
		v = 1;
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, sizeof(v));
	}
	v = (int)c->socket_recv_buffer;
	if (v > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
	v = (int)c->socket_send_buffer;
	if (v > 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
	if (bind(fd, (const struct sockaddr *)ss, len) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	return fd;
}

static void print_counters(struct counters_block *b)
{
	for (unsigned fam = 0; fam < COUNTERS_FAM__MAX; fam++)
		for (unsigned i = 0; i < COUNTERS__MAX; i++) {
			uint64_t v = counters_read(b, fam, (enum counters_id)i);

			if (v)
				fprintf(stderr, "%s.%s=%llu\n", fam ? "ipv6" : "ipv4",
					counters_names[i], (unsigned long long)v);
		}
	fprintf(stderr, "backend=%u heartbeat=%llu\n", b->backend,
		(unsigned long long)b->heartbeat);
}

static void usage(void)
{
	fprintf(stderr, "usage: worker_harness [-o KEY=VALUE]... HOST:PORT\n");
}

int main(int argc, char **argv)
{
	const char *opts[HARNESS_MAX_OPTS];
	unsigned nopts = 0;
	struct segment_params sp;
	struct sockaddr_storage ss;
	struct worker_params p;
	struct segment *seg;
	uint8_t key[CONNID_KEY_LEN];
	char err[CONF_ERR_MAX];
	struct sigaction sa;
	struct conf c;
	socklen_t sl;
	int opt, fd, r;

	while ((opt = getopt(argc, argv, "o:h")) != -1) {
		if (opt == 'o' && nopts < HARNESS_MAX_OPTS) {
			opts[nopts++] = optarg;
		} else {
			usage();
			return 2;
		}
	}
	if (optind + 1 != argc || parse_hostport(argv[optind], &ss, &sl) < 0) {
		usage();
		return 2;
	}
	if (conf_load(&c, NULL, opts, nopts, err, sizeof(err)) < 0) {
		fprintf(stderr, "worker_harness: %s\n", err);
		return 2;
	}
	log_init(c.log_level, "worker/0");

	conf_segment_params(&c, &sp);
	r = connid_new_key(key);
	if (r == 0)
		r = segment_create(&sp, key, &seg);
	if (r < 0) {
		log_errno(LOG_ERR, r, "cannot create the segment");
		return 1;
	}
	fd = open_socket(&ss, sl, &c);
	if (fd < 0) {
		log_errno(LOG_ERR, fd, "cannot bind '%s'", argv[optind]);
		segment_close(seg);
		return 1;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	memset(&p, 0, sizeof(p));
	p.slot = 0;
	p.cpu = -1;
	p.conf = &c;
	p.seg = seg;
	p.fds[0] = fd;
	p.nfds = 1;
	p.stop = &stop_flag;
	r = worker_run(&p);

	print_counters(segment_counters(seg, 0));
	close(fd);
	segment_close(seg);
	return r;
}
