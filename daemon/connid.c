/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * daemon/connid.c - stateless BEP 15 connection ids.
 *
 * Owns the format of the connection id and SipHash-2-4, the MAC behind it.
 * It keeps no state: the key and the clock are arguments, so every worker
 * and every restart that shares the key (kept in the shared segment) agrees
 * on every id. It must never log or read a clock; the only system call is
 * getrandom() in connid_new_key().
 *
 * Design notes:
 *
 * - id = issued << 32 | MAC, MAC = low 32 bits of SipHash-2-4(key,
 *   issued as 4 little-endian bytes || client address). The address is 4
 *   bytes for IPv4 (also when it arrived as ::ffff:a.b.c.d on a dual-stack
 *   socket) or 16 for IPv6. The source port is left out on purpose:
 *   libtorrent reuses one id across its sockets.
 *
 * - A 32-bit MAC means a blind forger needs about 2^31 tries per address
 *   and per second of timestamp; each try costs a datagram and the worst
 *   it buys is an announce in someone else's name from the forger's own
 *   address. That is the trade every stateless tracker makes; 64-bit ids
 *   leave no room for more.
 *
 * - connid_check() always computes the MAC and compares all 32 bits with
 *   one XOR and a test against zero, so its time does not depend on how
 *   many leading bits of a guess were right. Only then is the timestamp
 *   classified: forged ids are never reported as expired or future, so the
 *   two counters tell an attacker from a slow client.
 *
 * - Time is the caller's 32-bit seconds (CLOCK_BOOTTIME in the daemon, so
 *   it starts near 0 at boot and wraps only after 136 years of uptime).
 *   Comparisons are done in 64 bits without modular arithmetic: should the
 *   clock ever wrap, ids issued before the wrap look like they come from
 *   the future and are refused; clients then simply connect again. The
 *   timestamp is covered by the MAC, so it cannot be moved by a client.
 */
#include <assert.h>
#include <endian.h>
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "daemon/connid.h"

#define MSG_MAX (4 + 16)
/* getrandom() returns 16 bytes in one call; the bound only guards a loop. */
#define NEW_KEY_TRIES 64

static inline __attribute__((always_inline)) uint64_t rotl64(uint64_t x, unsigned b)
{
	return (x << b) | (x >> (64 - b));
}

static inline uint64_t load_le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

struct sip {
	uint64_t v0, v1, v2, v3;
};

static inline __attribute__((always_inline)) void sip_round(struct sip *s)
{
	s->v0 += s->v1;
	s->v1 = rotl64(s->v1, 13);
	s->v1 ^= s->v0;
	s->v0 = rotl64(s->v0, 32);
	s->v2 += s->v3;
	s->v3 = rotl64(s->v3, 16);
	s->v3 ^= s->v2;
	s->v0 += s->v3;
	s->v3 = rotl64(s->v3, 21);
	s->v3 ^= s->v0;
	s->v2 += s->v1;
	s->v1 = rotl64(s->v1, 17);
	s->v1 ^= s->v2;
	s->v2 = rotl64(s->v2, 32);
}

static inline __attribute__((always_inline)) void sip_compress(struct sip *s, uint64_t m)
{
	s->v3 ^= m;
	sip_round(s);
	sip_round(s);
	s->v0 ^= m;
}

uint64_t connid_siphash(const uint8_t key[CONNID_KEY_LEN], const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t k0 = load_le64(key);
	uint64_t k1 = load_le64(key + 8);
	struct sip s = {
		.v0 = k0 ^ 0x736f6d6570736575ULL,
		.v1 = k1 ^ 0x646f72616e646f6dULL,
		.v2 = k0 ^ 0x6c7967656e657261ULL,
		.v3 = k1 ^ 0x7465646279746573ULL,
	};
	size_t left = len;
	uint64_t last;

	for (; left >= 8; left -= 8, p += 8)
		sip_compress(&s, load_le64(p));

	/* Final block: remaining bytes little-endian, length mod 256 on top. */
	last = (uint64_t)(len & 0xff) << 56;
	for (size_t i = 0; i < left; i++)
		last |= (uint64_t)p[i] << (8 * i);
	sip_compress(&s, last);

	s.v2 ^= 0xff;
	for (int i = 0; i < 4; i++)
		sip_round(&s);
	return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

static const uint8_t v4mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

static uint32_t mac(const uint8_t key[CONNID_KEY_LEN], uint32_t issued, const uint8_t *addr,
		    size_t addr_len)
{
	uint8_t msg[MSG_MAX];

	assert(addr_len == 4 || addr_len == 16);
	if (addr_len == 16 && memcmp(addr, v4mapped_prefix, sizeof(v4mapped_prefix)) == 0) {
		addr += sizeof(v4mapped_prefix);
		addr_len = 4;
	}
	if (addr_len > MSG_MAX - 4)
		addr_len = MSG_MAX - 4;

	msg[0] = (uint8_t)issued;
	msg[1] = (uint8_t)(issued >> 8);
	msg[2] = (uint8_t)(issued >> 16);
	msg[3] = (uint8_t)(issued >> 24);
	memcpy(msg + 4, addr, addr_len);
	return (uint32_t)connid_siphash(key, msg, 4 + addr_len);
}

uint64_t connid_make(const uint8_t key[CONNID_KEY_LEN], uint32_t now, const uint8_t *addr,
		     size_t addr_len)
{
	return (uint64_t)now << 32 | mac(key, now, addr, addr_len);
}

enum connid_verdict connid_check(const uint8_t key[CONNID_KEY_LEN], uint64_t id, uint32_t now,
				 uint32_t max_age, const uint8_t *addr, size_t addr_len)
{
	uint32_t issued = (uint32_t)(id >> 32);
	uint32_t diff = (uint32_t)id ^ mac(key, issued, addr, addr_len);

	if (diff != 0)
		return CONNID_FORGED;
	if ((uint64_t)issued > (uint64_t)now + CONNID_FUTURE_SLACK)
		return CONNID_FUTURE;
	if (issued <= now && now - issued > max_age)
		return CONNID_EXPIRED;
	return CONNID_VALID;
}

int connid_new_key(uint8_t ret_key[CONNID_KEY_LEN])
{
	uint8_t key[CONNID_KEY_LEN];
	size_t have = 0;

	for (int tries = 0; have < sizeof(key); tries++) {
		ssize_t n;

		if (tries == NEW_KEY_TRIES)
			return -EIO;
		n = getrandom(key + have, sizeof(key) - have, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		have += (size_t)n;
	}
	memcpy(ret_key, key, sizeof(key));
	explicit_bzero(key, sizeof(key));
	return 0;
}
