/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/tools/annrange.c - many announces of known torrents and peers, fast.
 *
 * The integration tests need to fill a tracker's table with torrents and
 * peers they can name again afterwards (re-announce, stop), which one
 * udptc process per announce is too slow for. This tool sends, from one
 * socket on loopback, one announce per torrent and port:
 *
 *   annrange [-t MS] [-W N] HOST:PORT FROM COUNT PORTS LEFT EVENT
 *
 * Torrent n (FROM <= n < FROM + COUNT) has the info-hash whose 40 hex
 * digits are n zero-padded (the shell's printf '%040x' n). PORTS is P or
 * P-Q: the announced ports, one announce (one peer) each; the source
 * address is the socket's, so a peer is (127.0.0.1 or ::1, port). LEFT is
 * the left field (0: a seeder); EVENT none, completed, started or stopped.
 * At most -W requests (default 64) are in flight; a request without a
 * reply after -t ms (default 500) is sent again, three times at most.
 *
 * Prints one line: "sent=N answered=N counted=N empty=N lost=N": counted
 * replies show at least one seeder or leecher, empty ones none. A stored
 * peer counts itself, so an empty reply to an announce that is not
 * stopped means its torrent was not stored (a new torrent refused: table
 * full, or arena full for its first peer); a peer refused on a torrent
 * that has others still gets their counts (the daemon's refused_*
 * counters tell those apart). Exit status: 0 every request answered, 1
 * some lost, 2 usage or system error.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAGIC 0x41727101980ULL
#define MAX_PKT 2048
#define MAX_REQUESTS 1000000u
#define ROUNDS 3

static int fd = -1;
static uint64_t connid;

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void put32(uint8_t *p, uint32_t v)
{
	v = htobe32(v);
	memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
	v = htobe64(v);
	memcpy(p, &v, 8);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return be32toh(v);
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return be64toh(v);
}

/* "127.0.0.1:6969" or "[::1]:6969": a connected UDP socket in fd. */
static int open_target(const char *s)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char host[64];
	const char *p;
	unsigned long port;
	size_t hl;

	memset(&ss, 0, sizeof(ss));
	if (s[0] == '[') {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

		p = strchr(s, ']');
		if (!p || p[1] != ':' || (size_t)(p - s - 1) >= sizeof(host))
			return -1;
		hl = (size_t)(p - s - 1);
		memcpy(host, s + 1, hl);
		host[hl] = 0;
		port = strtoul(p + 2, NULL, 10);
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
			return -1;
		len = sizeof(*in6);
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		p = strrchr(s, ':');
		if (!p || (size_t)(p - s) >= sizeof(host))
			return -1;
		hl = (size_t)(p - s);
		memcpy(host, s, hl);
		host[hl] = 0;
		port = strtoul(p + 1, NULL, 10);
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
			return -1;
		len = sizeof(*in);
	}
	if (port == 0 || port > 65535)
		return -1;
	fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&ss, len) < 0) {
		perror("annrange: socket");
		return -2;
	}
	return 0;
}

/* A connection id, three tries of timeout ms each; 0 or -1. */
static int do_connect(int timeout)
{
	uint8_t req[16], reply[MAX_PKT];
	uint32_t txid = 0xc0ffee00u ^ (uint32_t)now_ms();
	int t;

	put64(req, MAGIC);
	put32(req + 8, 0);
	put32(req + 12, txid);
	for (t = 0; t < ROUNDS; t++) {
		int64_t deadline = now_ms() + timeout;

		if (send(fd, req, sizeof(req), 0) < 0 && errno != ECONNREFUSED)
			return -1;
		while (now_ms() < deadline) {
			struct pollfd pfd = { .fd = fd, .events = POLLIN };
			ssize_t n;

			if (poll(&pfd, 1, (int)(deadline - now_ms())) <= 0)
				break;
			n = recv(fd, reply, sizeof(reply), 0);
			if (n >= 16 && get32(reply) == 0 && get32(reply + 4) == txid) {
				connid = get64(reply + 8);
				return 0;
			}
		}
	}
	return -1;
}

static int parse_event(const char *s)
{
	static const char *const names[] = { "none", "completed", "started", "stopped" };

	for (int i = 0; i < 4; i++)
		if (!strcmp(s, names[i]))
			return i;
	return -1;
}

static int usage(void)
{
	fprintf(stderr, "usage: annrange [-t MS] [-W N] HOST:PORT FROM COUNT PORTS LEFT EVENT\n"
			"       PORTS: P or P-Q; EVENT: none, completed, started, stopped\n");
	return 2;
}

int main(int argc, char **argv)
{
	unsigned long long from, count, left;
	unsigned long p0, p1, nports, total, i, inflight, next, sent = 0, answered = 0;
	unsigned long counted = 0, empty = 0, lost;
	int timeout = 500, window = 64, event, opt, round;
	uint8_t *done, req[98], reply[MAX_PKT];
	char *end;

	while ((opt = getopt(argc, argv, "t:W:")) != -1) {
		if (opt == 't')
			timeout = atoi(optarg);
		else if (opt == 'W')
			window = atoi(optarg);
		else
			return usage();
	}
	if (argc - optind != 6 || timeout < 1 || timeout > 10000 || window < 1 || window > 4096)
		return usage();
	argv += optind;
	from = strtoull(argv[1], &end, 0);
	if (*end)
		return usage();
	count = strtoull(argv[2], &end, 0);
	if (*end)
		return usage();
	p0 = strtoul(argv[3], &end, 10);
	p1 = p0;
	if (*end == '-')
		p1 = strtoul(end + 1, &end, 10);
	if (*end || p0 < 1 || p1 < p0 || p1 > 65535)
		return usage();
	left = strtoull(argv[4], &end, 10);
	event = parse_event(argv[5]);
	if (*end || event < 0)
		return usage();
	nports = p1 - p0 + 1;
	if (count == 0 || count > MAX_REQUESTS || count * nports > MAX_REQUESTS)
		return usage();
	total = (unsigned long)(count * nports);
	switch (open_target(argv[0])) {
	case -1:
		return usage();
	case -2:
		return 2;
	}
	if (do_connect(timeout) < 0) {
		fprintf(stderr, "annrange: no connect reply\n");
		return 1;
	}
	done = calloc(total, 1);
	if (!done)
		return 2;

	/* Request i: torrent from + i / nports, port p0 + i % nports, txid i. */
	memset(req, 0, sizeof(req));
	put32(req + 8, 1);
	/* BEP 15 offsets: left 64, event 80, numwant 92, port 96. */
	put64(req + 64, left);
	put32(req + 80, (uint32_t)event);
	put32(req + 92, 1);
	for (round = 0; round < ROUNDS; round++) {
		next = 0;
		inflight = 0;
		for (;;) {
			struct pollfd pfd = { .fd = fd, .events = POLLIN };
			ssize_t n;

			while (inflight < (unsigned long)window && next < total) {
				if (done[next]) {
					next++;
					continue;
				}
				put64(req, connid);
				put32(req + 12, (uint32_t)next);
				memset(req + 16, 0, 12);
				put64(req + 28, from + next / nports);
				memcpy(req + 36, "-AR0001-", 8);
				put32(req + 44, (uint32_t)next);
				req[96] = (uint8_t)((p0 + next % nports) >> 8);
				req[97] = (uint8_t)(p0 + next % nports);
				if (send(fd, req, sizeof(req), 0) == (ssize_t)sizeof(req))
					sent++;
				inflight++;
				next++;
			}
			if (!inflight)
				break;
			/* Nothing for a whole timeout: what is in flight is lost this round. */
			if (poll(&pfd, 1, timeout) <= 0) {
				inflight = 0;
				continue;
			}
			while ((n = recv(fd, reply, sizeof(reply), MSG_DONTWAIT)) >= 8) {
				i = get32(reply + 4);
				if (get32(reply) == 3) {
					/* An expired connection id: take a new one, resend later. */
					if (do_connect(timeout) < 0) {
						fprintf(stderr, "annrange: no connect reply\n");
						free(done);
						return 1;
					}
					continue;
				}
				if (n < 20 || get32(reply) != 1 || i >= total || done[i])
					continue;
				done[i] = 1;
				answered++;
				if (get32(reply + 12) + get32(reply + 16) > 0)
					counted++;
				else
					empty++;
				if (inflight)
					inflight--;
			}
		}
		if (answered == total)
			break;
	}
	free(done);
	lost = total - answered;
	printf("sent=%lu answered=%lu counted=%lu empty=%lu lost=%lu\n", sent, answered, counted,
	       empty, lost);
	return lost ? 1 : 0;
}
