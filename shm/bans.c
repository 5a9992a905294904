/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * shm/bans.c - the ban list in the shared segment.
 *
 * Region layout (all in the segment, no pointers):
 *   header    64 bytes: max, n, seq, loaded, the prefix lengths in use
 *   entries   max x 32 bytes, dense [0, n): address, length, family, expiry
 *   index     islots x uint32 (a power of two >= 2 max): entry + 1, or 0
 *
 * Lookup. A source is banned when some entry's prefix covers it. The
 * header keeps a bitmap of the prefix lengths in use per family; for each
 * length in use (longest first) the source is masked to it and looked up
 * in the index (open addressing, linear probing). With no bans that is one
 * load per datagram; with bans, one probe per distinct length, usually one
 * or two.
 *
 * Concurrency. One writer (the control process), many lock-free readers
 * (the workers). The writer makes every change under a sequence counter:
 * odd while it edits, even when done; a change edits the entries and then
 * rebuilds the whole index and the length bitmaps (at most 2 x ban_max
 * slots: microseconds). A reader takes the counter before and after its
 * lookup and retries when it moved or was odd; after 64 tries it gives up
 * and answers "not banned", so a datagram may slip through while the
 * operator edits the list, but nothing is ever dropped by mistake and a
 * reader never waits. A writer killed mid-change leaves the counter odd:
 * the next writer calls bans_repair(), which rebuilds the index from the
 * entries (only [0, n) are ever visible) and makes the counter even.
 *
 * Persistence is a text file, one "PREFIX EXPIRES" line per ban, written
 * to a temporary name, synced and renamed over the old one.
 */
#include "shm/bans.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shm/keyhash.h"

#define BANS_READ_TRIES 64
#define BANS_LINE_MAX 128

struct bans_hdr {
	uint32_t max; /* entries the region holds */
	uint32_t n; /* entries in use, [0, n) */
	uint32_t seq; /* odd while the writer edits */
	uint32_t loaded; /* the file was loaded into this region */
	uint32_t islots; /* index slots, a power of two */
	uint32_t reserved;
	uint64_t lens4; /* bit L: an IPv4 ban of length L exists (0..32) */
	uint64_t lens6[3]; /* likewise IPv6, lengths 0..128 */
	uint64_t reserved2;
};

_Static_assert(sizeof(struct bans_hdr) == 64, "ban header is one cache line");

struct bans_entry {
	uint64_t a0, a1; /* address, host bits zero (IPv4: a0's first 4 bytes) */
	uint64_t expires; /* wall-clock seconds, 0 = permanent */
	uint8_t bits;
	uint8_t ipv6;
	uint8_t pad[6];
};

_Static_assert(sizeof(struct bans_entry) == 32, "ban entry is 32 bytes");

struct bans {
	struct bans_hdr *h;
	struct bans_entry *e;
	uint32_t *idx;
};

/* --- prefixes ---------------------------------------------------------------- */

static void mask_addr(uint8_t *a, unsigned alen, unsigned bits)
{
	for (unsigned i = 0; i < alen; i++) {
		if (bits >= 8) {
			bits -= 8;
			continue;
		}
		a[i] &= (uint8_t)(0xff00u >> bits);
		bits = 0;
	}
}

int bans_parse_prefix(const char *s, struct bans_prefix *ret)
{
	char host[INET6_ADDRSTRLEN + 1];
	struct bans_prefix p = { 0 };
	const char *slash = strchr(s, '/');
	size_t hl = slash ? (size_t)(slash - s) : strlen(s);
	unsigned long bits;
	char *end;

	if (hl == 0 || hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (inet_pton(AF_INET, host, p.addr) == 1) {
		p.ipv6 = false;
		bits = 32;
	} else if (inet_pton(AF_INET6, host, p.addr) == 1) {
		p.ipv6 = true;
		bits = 128;
	} else {
		return -EINVAL;
	}
	if (slash) {
		if (slash[1] < '0' || slash[1] > '9' || (slash[1] == '0' && slash[2]))
			return -EINVAL;
		bits = strtoul(slash + 1, &end, 10);
		if (*end || bits > (p.ipv6 ? 128u : 32u))
			return -EINVAL;
	}
	if (p.ipv6 && bits >= 96 && !memcmp(p.addr, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12)) {
		/* IPv4-mapped: the workers see those sources as IPv4. */
		memmove(p.addr, p.addr + 12, 4);
		memset(p.addr + 4, 0, 12);
		p.ipv6 = false;
		bits -= 96;
	}
	p.bits = (uint8_t)bits;
	mask_addr(p.addr, p.ipv6 ? 16 : 4, p.bits);
	*ret = p;
	return 0;
}

void bans_format_prefix(const struct bans_prefix *p, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (!inet_ntop(p->ipv6 ? AF_INET6 : AF_INET, p->addr, host, sizeof(host)))
		snprintf(host, sizeof(host), "?");
	snprintf(buf, len, "%s/%u", host, p->bits);
}

bool bans_prefix_contains(const struct bans_prefix *p, const uint8_t *addr, size_t alen)
{
	unsigned full, rest;

	if ((alen == 16) != p->ipv6)
		return false;
	full = p->bits / 8u;
	rest = p->bits % 8u;
	if (memcmp(p->addr, addr, full))
		return false;
	return !rest || ((addr[full] ^ p->addr[full]) & (uint8_t)(0xff00u >> rest)) == 0;
}

/* --- region ------------------------------------------------------------------ */

static uint32_t islots_for(uint32_t max)
{
	uint32_t n = 8;

	while (n < 2u * max)
		n *= 2;
	return n;
}

size_t bans_region_size(uint32_t max)
{
	size_t sz = sizeof(struct bans_hdr) + (size_t)max * sizeof(struct bans_entry) +
		    (size_t)islots_for(max) * sizeof(uint32_t);

	return (sz + 63) / 64 * 64;
}

void bans_format(void *region, uint32_t max)
{
	struct bans_hdr *h = region;

	memset(h, 0, sizeof(*h));
	h->max = max;
	h->islots = islots_for(max);
}

int bans_bind(void *region, size_t len, struct bans **ret)
{
	struct bans_hdr *h = region;
	struct bans *b;

	if (len < sizeof(*h) || h->islots != islots_for(h->max) || bans_region_size(h->max) > len ||
	    h->max > BANS_MAX_LIMIT)
		return -EPROTO;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->h = h;
	b->e = (struct bans_entry *)(void *)((uint8_t *)region + sizeof(*h));
	b->idx = (uint32_t *)(void *)(b->e + h->max);
	*ret = b;
	return 0;
}

void bans_unbind(struct bans *b)
{
	free(b);
}

static inline uint64_t hash_of(uint64_t a0, uint64_t a1, unsigned bits, bool v6)
{
	return keyhash_mix64(a0 ^ keyhash_mum(a1 ^ 0x51ed270b27a3f2a5ULL, 0x2545f4914f6cdd1dULL),
			     0x8bb84b93962eacc9ULL ^ bits,
			     v6 ? 0x9e3779b97f4a7c15ULL : 0x3c6ef372fe94f82bULL);
}

static inline void load_addr(const uint8_t *addr, size_t alen, uint64_t *a0, uint64_t *a1)
{
	uint8_t tmp[16] = { 0 };

	memcpy(tmp, addr, alen);
	memcpy(a0, tmp, 8);
	memcpy(a1, tmp + 8, 8);
}

static inline void mask_words(uint64_t *a0, uint64_t *a1, unsigned bits)
{
	uint8_t tmp[16];

	memcpy(tmp, a0, 8);
	memcpy(tmp + 8, a1, 8);
	mask_addr(tmp, 16, bits);
	memcpy(a0, tmp, 8);
	memcpy(a1, tmp + 8, 8);
}

/* Entry index + 1 of (a0, a1, bits, v6) in the index, or 0. Racy reads. */
static uint32_t find(const struct bans *b, uint64_t a0, uint64_t a1, unsigned bits, bool v6)
{
	uint32_t mask = b->h->islots - 1, n = __atomic_load_n(&b->h->n, __ATOMIC_RELAXED);
	uint32_t i = (uint32_t)(hash_of(a0, a1, bits, v6) >> 32) & mask;

	for (uint32_t probes = 0; probes <= mask; probes++, i = (i + 1) & mask) {
		uint32_t v = __atomic_load_n(&b->idx[i], __ATOMIC_RELAXED);
		const struct bans_entry *e;

		if (!v)
			return 0;
		if (v > n || v > b->h->max)
			continue;
		e = &b->e[v - 1];
		if (__atomic_load_n(&e->a0, __ATOMIC_RELAXED) == a0 &&
		    __atomic_load_n(&e->a1, __ATOMIC_RELAXED) == a1 &&
		    __atomic_load_n(&e->bits, __ATOMIC_RELAXED) == bits &&
		    __atomic_load_n(&e->ipv6, __ATOMIC_RELAXED) == v6)
			return v;
	}
	return 0;
}

static bool lookup(const struct bans *b, const uint8_t *addr, size_t alen)
{
	const bool v6 = alen == 16;
	uint64_t lens[3], a0, a1;
	unsigned words = v6 ? 3 : 1;

	if (v6) {
		for (unsigned k = 0; k < 3; k++)
			lens[k] = __atomic_load_n(&b->h->lens6[k], __ATOMIC_RELAXED);
	} else {
		lens[0] = __atomic_load_n(&b->h->lens4, __ATOMIC_RELAXED);
	}
	load_addr(addr, alen, &a0, &a1);
	for (unsigned k = words; k-- > 0;) {
		uint64_t m = lens[k];

		while (m) {
			unsigned bit = 63u - (unsigned)__builtin_clzll(m);
			unsigned bits = k * 64u + bit;
			uint64_t x0 = a0, x1 = a1;

			m &= ~(1ULL << bit);
			mask_words(&x0, &x1, bits);
			if (find(b, x0, x1, bits, v6))
				return true;
		}
	}
	return false;
}

bool bans_is_banned(const struct bans *b, const uint8_t *addr, size_t alen)
{
	if (!b || !__atomic_load_n(&b->h->n, __ATOMIC_RELAXED))
		return false;
	for (unsigned t = 0; t < BANS_READ_TRIES; t++) {
		uint32_t s1 = __atomic_load_n(&b->h->seq, __ATOMIC_ACQUIRE), s2;
		bool hit;

		if (s1 & 1)
			continue;
		hit = lookup(b, addr, alen);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		s2 = __atomic_load_n(&b->h->seq, __ATOMIC_RELAXED);
		if (s1 == s2)
			return hit;
	}
	return false;
}

/* --- writer ------------------------------------------------------------------- */

static void begin(struct bans *b)
{
	uint32_t s = __atomic_load_n(&b->h->seq, __ATOMIC_RELAXED);

	__atomic_store_n(&b->h->seq, s | 1u, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static void rebuild(struct bans *b)
{
	struct bans_hdr *h = b->h;
	uint64_t l4 = 0, l6[3] = { 0, 0, 0 };
	uint32_t mask = h->islots - 1;

	if (h->n > h->max)
		h->n = h->max;
	memset(b->idx, 0, (size_t)h->islots * sizeof(uint32_t));
	for (uint32_t k = 0; k < h->n; k++) {
		const struct bans_entry *e = &b->e[k];
		uint32_t i = (uint32_t)(hash_of(e->a0, e->a1, e->bits, e->ipv6) >> 32) & mask;

		while (b->idx[i])
			i = (i + 1) & mask;
		b->idx[i] = k + 1;
		if (e->ipv6)
			l6[e->bits / 64u] |= 1ULL << (e->bits % 64u);
		else
			l4 |= 1ULL << e->bits;
	}
	h->lens4 = l4;
	memcpy(h->lens6, l6, sizeof(l6));
}

static void end(struct bans *b)
{
	uint32_t s = __atomic_load_n(&b->h->seq, __ATOMIC_RELAXED);

	__atomic_store_n(&b->h->seq, (s | 1u) + 1u, __ATOMIC_RELEASE);
}

static void to_entry(const struct bans_prefix *p, uint64_t expires, struct bans_entry *e)
{
	memset(e, 0, sizeof(*e));
	load_addr(p->addr, p->ipv6 ? 16 : 4, &e->a0, &e->a1);
	e->bits = p->bits;
	e->ipv6 = p->ipv6;
	e->expires = expires;
}

int bans_add(struct bans *b, const struct bans_prefix *p, uint64_t expires)
{
	struct bans_entry ne;
	uint32_t v;

	to_entry(p, expires, &ne);
	v = find(b, ne.a0, ne.a1, ne.bits, ne.ipv6);
	if (v) {
		__atomic_store_n(&b->e[v - 1].expires, expires, __ATOMIC_RELAXED);
		return 1;
	}
	if (b->h->n >= b->h->max)
		return -ENOSPC;
	begin(b);
	b->e[b->h->n] = ne;
	__atomic_store_n(&b->h->n, b->h->n + 1, __ATOMIC_RELAXED);
	rebuild(b);
	end(b);
	return 0;
}

static void remove_at(struct bans *b, uint32_t k)
{
	uint32_t last = b->h->n - 1;

	if (k != last)
		b->e[k] = b->e[last];
	__atomic_store_n(&b->h->n, last, __ATOMIC_RELAXED);
}

int bans_remove(struct bans *b, const struct bans_prefix *p)
{
	struct bans_entry ne;
	uint32_t v;

	to_entry(p, 0, &ne);
	v = find(b, ne.a0, ne.a1, ne.bits, ne.ipv6);
	if (!v)
		return -ENOENT;
	begin(b);
	remove_at(b, v - 1);
	rebuild(b);
	end(b);
	return 0;
}

unsigned bans_expire(struct bans *b, uint64_t now)
{
	unsigned gone = 0;
	uint32_t k;

	for (k = 0; k < b->h->n; k++)
		if (b->e[k].expires && b->e[k].expires <= now)
			break;
	if (k == b->h->n)
		return 0;
	begin(b);
	while (k < b->h->n) {
		if (b->e[k].expires && b->e[k].expires <= now) {
			remove_at(b, k);
			gone++;
		} else {
			k++;
		}
	}
	rebuild(b);
	end(b);
	return gone;
}

unsigned bans_count(const struct bans *b)
{
	return __atomic_load_n(&b->h->n, __ATOMIC_RELAXED);
}

unsigned bans_capacity(const struct bans *b)
{
	return b->h->max;
}

int bans_get(const struct bans *b, unsigned i, struct bans_prefix *ret, uint64_t *ret_expires)
{
	const struct bans_entry *e;
	uint8_t tmp[16];

	if (i >= bans_count(b))
		return -ENOENT;
	e = &b->e[i];
	memcpy(tmp, &e->a0, 8);
	memcpy(tmp + 8, &e->a1, 8);
	memset(ret, 0, sizeof(*ret));
	ret->ipv6 = e->ipv6;
	ret->bits = e->bits;
	memcpy(ret->addr, tmp, e->ipv6 ? 16 : 4);
	*ret_expires = e->expires;
	return 0;
}

void bans_repair(struct bans *b)
{
	begin(b);
	rebuild(b);
	end(b);
}

bool bans_is_loaded(const struct bans *b)
{
	return __atomic_load_n(&b->h->loaded, __ATOMIC_RELAXED) != 0;
}

void bans_set_loaded(struct bans *b)
{
	__atomic_store_n(&b->h->loaded, 1, __ATOMIC_RELAXED);
}

/* --- file ----------------------------------------------------------------------- */

int bans_save(const struct bans *b, const char *path)
{
	char tmp[4096], pfx[BANS_PREFIX_STRLEN];
	struct bans_prefix p;
	uint64_t exp;
	FILE *f;
	int fd, r = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	f = fdopen(fd, "w");
	if (!f) {
		r = -errno;
		close(fd);
		unlink(tmp);
		return r;
	}
	fprintf(f, "# trackerd ban list: PREFIX EXPIRES (unix seconds, 0 = permanent)\n");
	for (unsigned i = 0; i < bans_count(b); i++) {
		if (bans_get(b, i, &p, &exp))
			break;
		bans_format_prefix(&p, pfx, sizeof(pfx));
		fprintf(f, "%s %llu\n", pfx, (unsigned long long)exp);
	}
	if (fflush(f) != 0 || fsync(fd) < 0)
		r = -errno;
	if (fclose(f) != 0 && !r)
		r = -errno;
	if (!r && rename(tmp, path) < 0)
		r = -errno;
	if (r)
		unlink(tmp);
	return r;
}

int bans_load(struct bans *b, const char *path, uint64_t now)
{
	char line[BANS_LINE_MAX], pfx[BANS_LINE_MAX];
	unsigned long long exp;
	struct bans_prefix p;
	int added = 0, fd;
	FILE *f;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	f = fdopen(fd, "r");
	if (!f) {
		int r = -errno;

		close(fd);
		return r;
	}
	while (fgets(line, sizeof(line), f)) {
		if (line[0] == '#' || sscanf(line, "%127s %llu", pfx, &exp) != 2)
			continue;
		if (bans_parse_prefix(pfx, &p) < 0 || (exp && exp <= now))
			continue;
		if (bans_add(b, &p, exp) == 0)
			added++;
	}
	fclose(f);
	return added;
}
