/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/tools/udptc.c - a small BEP 15 client for the integration tests.
 *
 * Sends one request (after a connect when the request needs a connection
 * id) to a tracker on loopback and prints the reply as one parseable line,
 * so shell scripts can grep it. Every wait is bounded: each attempt times
 * out after -t milliseconds and is retried -r times at most.
 *
 *   udptc [-t MS] [-r N] HOST:PORT connect
 *   udptc [-t MS] [-r N] HOST:PORT announce HASH PORT LEFT EVENT NUMWANT [options]
 *         options: --from-port N  --len N  --connid forged|HEX  --peer-id HEX40
 *   udptc [-t MS] [-r N] HOST:PORT scrape [HASH...]
 *   udptc [-t MS] [-r N] HOST:PORT raw HEX [--connid]   (--connid: valid id in bytes 0..7)
 *   udptc [-t MS] HOST:PORT flood SECONDS               (announce load, bounded)
 *   udptc wait HOST:PORT [SECONDS]                      (until a connect is answered;
 *                                                        prints "ready after N ms")
 *
 * HOST is 127.0.0.1 or [::1] style; HASH is 40 hex digits; EVENT is none,
 * completed, started, stopped or a number. Output lines:
 *   connid=HEX
 *   interval=N leechers=N seeders=N npeers=N peers=A:P,A:P
 *   hashes=N then "scrape.I=SEEDERS,COMPLETED,LEECHERS" joined by spaces
 *   error=MESSAGE           (an error reply; exit status 3)
 *   reply=HEX               (raw)
 *   no reply                (exit status 1)
 * Exit status: 0 reply, 1 no reply, 2 usage or system error, 3 error reply.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAGIC 0x41727101980ULL
#define MAX_PKT 2048
#define MAX_HASHES 100

static int timeout_ms = 1000;
static int attempts = 3;
static struct sockaddr_storage target;
static socklen_t target_len;
static int fd = -1;

static int usage(void)
{
	fprintf(stderr,
		"usage: udptc [-t MS] [-r N] HOST:PORT connect|announce|scrape|raw|flood ...\n"
		"       udptc wait HOST:PORT [SECONDS]\n");
	return 2;
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

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint32_t random32(void)
{
	uint32_t v = 0;

	if (getrandom(&v, sizeof(v), 0) != sizeof(v))
		v = (uint32_t)now_ms() * 2654435761u;
	return v;
}

static int parse_hex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = strlen(s), i;

	if (n % 2 || n / 2 > cap)
		return -1;
	for (i = 0; i < n / 2; i++) {
		unsigned v;

		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	return (int)(n / 2);
}

static void print_hex(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		printf("%02x", p[i]);
}

/* "127.0.0.1:6969" or "[::1]:6969". */
static int parse_target(const char *s)
{
	char host[64];
	const char *colon;
	unsigned long port;
	size_t hl;

	memset(&target, 0, sizeof(target));
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&target;

		if (!end || end[1] != ':' || (size_t)(end - s - 1) >= sizeof(host))
			return -1;
		hl = (size_t)(end - s - 1);
		memcpy(host, s + 1, hl);
		host[hl] = 0;
		port = strtoul(end + 2, NULL, 10);
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
			return -1;
		target_len = sizeof(*in6);
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)&target;

		colon = strrchr(s, ':');
		if (!colon || (size_t)(colon - s) >= sizeof(host))
			return -1;
		hl = (size_t)(colon - s);
		memcpy(host, s, hl);
		host[hl] = 0;
		port = strtoul(colon + 1, NULL, 10);
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
			return -1;
		target_len = sizeof(*in);
	}
	return port > 0 && port < 65536 ? 0 : -1;
}

static int open_socket(unsigned from_port)
{
	fd = socket(target.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("udptc: socket");
		return -1;
	}
	if (from_port) {
		struct sockaddr_storage ss;
		int one = 1;

		memset(&ss, 0, sizeof(ss));
		ss.ss_family = target.ss_family;
		if (target.ss_family == AF_INET)
			((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)from_port);
		else
			((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)from_port);
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&ss, target_len) < 0) {
			perror("udptc: bind");
			return -1;
		}
	}
	if (connect(fd, (struct sockaddr *)&target, target_len) < 0) {
		perror("udptc: connect");
		return -1;
	}
	return 0;
}

/*
 * Send req and wait for a reply carrying txid (bytes 4..7); retry up to
 * tries times. Returns the reply length, 0 when nothing came back.
 */
static ssize_t exchange(const uint8_t *req, size_t len, uint32_t txid, int tries, uint8_t *reply)
{
	int t;

	for (t = 0; t < tries; t++) {
		int64_t deadline = now_ms() + timeout_ms;

		if (send(fd, req, len, 0) < 0 && errno != ECONNREFUSED)
			return -1;
		for (;;) {
			struct pollfd pfd = { .fd = fd, .events = POLLIN };
			int64_t left = deadline - now_ms();
			ssize_t n;

			if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
				break;
			n = recv(fd, reply, MAX_PKT, 0);
			if (n < 0) {
				if (errno == ECONNREFUSED) {
					/* Nobody listening (yet): wait out this attempt. */
					int64_t rest = deadline - now_ms();

					if (rest > 0)
						poll(NULL, 0, (int)rest);
					break;
				}
				continue;
			}
			if (n >= 8 && get32(reply + 4) == txid)
				return n;
		}
	}
	return 0;
}

static int print_error_reply(const uint8_t *r, ssize_t n)
{
	printf("error=%.*s\n", (int)(n - 8), (const char *)r + 8);
	return 3;
}

/* Obtain a connection id; 0 on success. */
static int do_connect(int tries, uint64_t *ret_id)
{
	uint8_t req[16], reply[MAX_PKT];
	uint32_t txid = random32();
	ssize_t n;

	put64(req, MAGIC);
	put32(req + 8, 0);
	put32(req + 12, txid);
	n = exchange(req, sizeof(req), txid, tries, reply);
	if (n < 0)
		return 2;
	if (n < 16 || get32(reply) != 0)
		return 1;
	*ret_id = get64(reply + 8);
	return 0;
}

static int cmd_connect(void)
{
	uint64_t id;
	int r = do_connect(attempts, &id);

	if (r == 1)
		printf("no reply\n");
	if (r)
		return r;
	printf("connid=%016llx\n", (unsigned long long)id);
	return 0;
}

static int cmd_wait(double seconds)
{
	int64_t start = now_ms(), deadline = start + (int64_t)(seconds * 1000);
	uint64_t id;

	timeout_ms = 100;
	while (now_ms() < deadline) {
		if (do_connect(1, &id) == 0) {
			/* From the first request sent, not from when the caller asked. */
			printf("ready after %lld ms\n", (long long)(now_ms() - start));
			return 0;
		}
	}
	printf("no reply\n");
	return 1;
}

static int parse_event(const char *s)
{
	if (!strcmp(s, "none"))
		return 0;
	if (!strcmp(s, "completed"))
		return 1;
	if (!strcmp(s, "started"))
		return 2;
	if (!strcmp(s, "stopped"))
		return 3;
	return atoi(s);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void print_peers(const uint8_t *p, size_t n, bool v6)
{
	size_t esz = v6 ? 18 : 6, cnt = n / esz, i;
	static char bufs[256][INET6_ADDRSTRLEN + 10];
	char *ptrs[256] = { NULL };

	if (cnt > 256)
		cnt = 256;
	for (i = 0; i < cnt; i++) {
		char host[INET6_ADDRSTRLEN];
		const uint8_t *e = p + i * esz;
		unsigned port = (unsigned)e[esz - 2] << 8 | e[esz - 1];

		inet_ntop(v6 ? AF_INET6 : AF_INET, e, host, sizeof(host));
		snprintf(bufs[i], sizeof(bufs[i]), v6 ? "[%s]:%u" : "%s:%u", host, port);
		ptrs[i] = bufs[i];
	}
	qsort(ptrs, cnt, sizeof(ptrs[0]), cmp_str);
	for (i = 0; i < cnt; i++)
		printf("%s%s", i ? "," : "", ptrs[i]);
}

static int cmd_announce(int argc, char **argv)
{
	uint8_t req[MAX_PKT], reply[MAX_PKT];
	uint8_t peer_id[20];
	unsigned from_port = 0;
	const char *connid_opt = NULL;
	uint64_t id = 0;
	long len = 98;
	uint32_t txid = random32();
	ssize_t n;
	int i, r;

	if (argc < 5)
		return usage();
	memset(req, 0, sizeof(req));
	memset(peer_id, 0, sizeof(peer_id));
	memcpy(peer_id, "-UT0001-", 8);
	put32(peer_id + 8, random32());
	for (i = 5; i < argc; i++) {
		if (!strcmp(argv[i], "--from-port") && i + 1 < argc)
			from_port = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--len") && i + 1 < argc)
			len = atol(argv[++i]);
		else if (!strcmp(argv[i], "--connid") && i + 1 < argc)
			connid_opt = argv[++i];
		else if (!strcmp(argv[i], "--peer-id") && i + 1 < argc) {
			if (parse_hex(argv[++i], peer_id, 20) != 20)
				return usage();
		} else
			return usage();
	}
	if (len < 16 || len > 1400)
		return usage();
	if (parse_hex(argv[0], req + 16, 20) != 20) {
		fprintf(stderr, "udptc: HASH must be 40 hex digits\n");
		return 2;
	}
	if (open_socket(from_port) < 0)
		return 2;
	if (!connid_opt || !strcmp(connid_opt, "forged")) {
		r = do_connect(attempts, &id);
		if (r) {
			if (r == 1)
				printf("no reply\n");
			return r;
		}
		if (connid_opt)
			id ^= 1; /* flip one MAC bit: never issued */
	} else {
		id = strtoull(connid_opt, NULL, 16);
	}
	put64(req, id);
	put32(req + 8, 1);
	put32(req + 12, txid);
	memcpy(req + 36, peer_id, 20);
	put64(req + 56, 0); /* downloaded */
	put64(req + 64, strtoull(argv[2], NULL, 10)); /* left */
	put64(req + 72, 0); /* uploaded */
	put32(req + 80, (uint32_t)parse_event(argv[3])); /* event */
	put32(req + 84, 0); /* ip: ignored */
	put32(req + 88, random32()); /* key */
	put32(req + 92, (uint32_t)(int32_t)atol(argv[4])); /* numwant */
	req[96] = (uint8_t)(atoi(argv[1]) >> 8);
	req[97] = (uint8_t)atoi(argv[1]);
	/* BEP 41 options past 98 bytes: URL data "/" or empty, padded with NOPs. */
	if (len == 100) {
		req[98] = 2;
		req[99] = 0;
	} else if (len > 98) {
		req[98] = 2;
		req[99] = 1;
		req[100] = '/';
		for (i = 101; i < len; i++)
			req[i] = 1;
	}
	n = exchange(req, (size_t)len, txid,
		     connid_opt && strcmp(connid_opt, "forged") ? 1 : attempts, reply);
	if (n < 0)
		return 2;
	if (n == 0) {
		printf("no reply\n");
		return 1;
	}
	if (get32(reply) == 3)
		return print_error_reply(reply, n);
	if (get32(reply) != 1 || n < 20) {
		printf("bad reply\n");
		return 2;
	}
	printf("interval=%u leechers=%u seeders=%u npeers=%zd peers=", get32(reply + 8),
	       get32(reply + 12), get32(reply + 16),
	       (n - 20) / (target.ss_family == AF_INET6 ? 18 : 6));
	print_peers(reply + 20, (size_t)(n - 20), target.ss_family == AF_INET6);
	printf("\n");
	return 0;
}

static int cmd_scrape(int argc, char **argv)
{
	uint8_t req[16 + MAX_HASHES * 20], reply[MAX_PKT];
	uint32_t txid = random32();
	uint64_t id;
	ssize_t n, i;
	int r, k;

	if (argc > MAX_HASHES)
		return usage();
	for (k = 0; k < argc; k++) {
		if (parse_hex(argv[k], req + 16 + 20 * k, 20) != 20) {
			fprintf(stderr, "udptc: HASH must be 40 hex digits\n");
			return 2;
		}
	}
	if (open_socket(0) < 0)
		return 2;
	r = do_connect(attempts, &id);
	if (r) {
		if (r == 1)
			printf("no reply\n");
		return r;
	}
	put64(req, id);
	put32(req + 8, 2);
	put32(req + 12, txid);
	n = exchange(req, 16 + 20 * (size_t)argc, txid, attempts, reply);
	if (n < 0)
		return 2;
	if (n == 0) {
		printf("no reply\n");
		return 1;
	}
	if (get32(reply) == 3)
		return print_error_reply(reply, n);
	if (get32(reply) != 2) {
		printf("bad reply\n");
		return 2;
	}
	printf("hashes=%zd", (n - 8) / 12);
	for (i = 0; i < (n - 8) / 12; i++) {
		const uint8_t *e = reply + 8 + 12 * i;

		printf(" scrape.%zd=%u,%u,%u", i, get32(e), get32(e + 4), get32(e + 8));
	}
	printf("\n");
	return 0;
}

static int cmd_raw(int argc, char **argv)
{
	uint8_t req[MAX_PKT], reply[MAX_PKT];
	int len;
	ssize_t n;

	if (argc < 1)
		return usage();
	len = parse_hex(argv[0], req, sizeof(req));
	if (len < 0)
		return usage();
	if (open_socket(0) < 0)
		return 2;
	if (argc > 1 && !strcmp(argv[1], "--connid")) {
		uint64_t id;
		int r = do_connect(attempts, &id);

		if (r) {
			if (r == 1)
				printf("no reply\n");
			return r;
		}
		if (len < 8)
			return usage();
		put64(req, id);
	}
	/* Any reply counts here: the txid may be missing or malformed on purpose. */
	n = 0;
	{
		int64_t deadline;

		if (send(fd, req, (size_t)len, 0) < 0)
			return 2;
		deadline = now_ms() + timeout_ms;
		for (;;) {
			struct pollfd pfd = { .fd = fd, .events = POLLIN };
			int64_t left = deadline - now_ms();

			if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
				break;
			n = recv(fd, reply, sizeof(reply), 0);
			if (n > 0)
				break;
			n = 0;
		}
	}
	if (n <= 0) {
		printf("no reply\n");
		return 1;
	}
	printf("reply=");
	print_hex(reply, (size_t)n);
	printf("\n");
	return 0;
}

/*
 * Announce load for a bounded time from FLOOD_SOCKETS source ports (so
 * that a SO_REUSEPORT group hashing on the 4-tuple spreads it over all its
 * sockets): one connect, then rounds of one announce per socket to random
 * torrents, reading whatever came back between rounds.
 */
#define FLOOD_SOCKETS 32

static int cmd_flood(double seconds)
{
	uint8_t req[98], reply[MAX_PKT];
	int64_t end = now_ms() + (int64_t)(seconds * 1000);
	uint64_t id = 0, sent = 0, got = 0;
	int64_t last_connect = 0;
	struct pollfd pfd[FLOOD_SOCKETS];
	unsigned i;

	for (i = 0; i < FLOOD_SOCKETS; i++) {
		if (open_socket(0) < 0)
			return 2;
		pfd[i].fd = fd;
		pfd[i].events = POLLIN;
	}
	memset(req, 0, sizeof(req));
	while (now_ms() < end) {
		if (now_ms() - last_connect > 500 || !id) {
			/* Refresh the id (and survive a restarted worker); ids are per address. */
			timeout_ms = 200;
			if (do_connect(1, &id) == 0)
				got++;
			last_connect = now_ms();
			if (!id)
				continue;
		}
		for (i = 0; i < FLOOD_SOCKETS; i++) {
			uint32_t r = random32();

			put64(req, id);
			put32(req + 8, 1);
			put32(req + 12, r);
			put32(req + 16, r % 1000);
			put32(req + 92, 10);
			req[96] = (uint8_t)(r >> 8) | 0x80;
			req[97] = (uint8_t)r;
			if (send(pfd[i].fd, req, sizeof(req), MSG_DONTWAIT) == (ssize_t)sizeof(req))
				sent++;
		}
		while (poll(pfd, FLOOD_SOCKETS, 1) > 0) {
			unsigned n = 0;

			for (i = 0; i < FLOOD_SOCKETS; i++) {
				if (!(pfd[i].revents & POLLIN))
					continue;
				while (recv(pfd[i].fd, reply, sizeof(reply), MSG_DONTWAIT) > 0) {
					got++;
					n++;
				}
			}
			if (!n)
				break;
		}
	}
	printf("sent=%llu received=%llu\n", (unsigned long long)sent, (unsigned long long)got);
	return 0;
}

int main(int argc, char **argv)
{
	int opt;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 3 && !strcmp(argv[1], "wait")) {
		if (parse_target(argv[2]) < 0 || open_socket(0) < 0)
			return usage();
		return cmd_wait(argc > 3 ? atof(argv[3]) : 10.0);
	}
	while ((opt = getopt(argc, argv, "+t:r:")) != -1) {
		switch (opt) {
		case 't':
			timeout_ms = atoi(optarg);
			break;
		case 'r':
			attempts = atoi(optarg);
			break;
		default:
			return usage();
		}
	}
	if (timeout_ms < 1 || timeout_ms > 60000 || attempts < 1 || attempts > 20)
		return usage();
	if (argc - optind < 2 || parse_target(argv[optind]) < 0)
		return usage();
	argv += optind + 1;
	argc -= optind + 1;
	if (!strcmp(argv[0], "connect")) {
		if (open_socket(0) < 0)
			return 2;
		return cmd_connect();
	}
	if (!strcmp(argv[0], "announce"))
		return cmd_announce(argc - 1, argv + 1);
	if (!strcmp(argv[0], "scrape"))
		return cmd_scrape(argc - 1, argv + 1);
	if (!strcmp(argv[0], "raw"))
		return cmd_raw(argc - 1, argv + 1);
	if (!strcmp(argv[0], "flood") && argc > 1)
		return cmd_flood(atof(argv[1]) > 30 ? 30 : atof(argv[1]));
	return usage();
}
