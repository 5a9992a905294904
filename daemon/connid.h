/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * daemon/connid.h - stateless BEP 15 connection ids.
 *
 * An id is 64 bits: the high 32 bits are the issue time (seconds of the
 * clock the caller uses, CLOCK_BOOTTIME in the daemon), the low 32 bits a
 * SipHash-2-4 MAC, under a 128-bit key, of that time and the client's
 * address. IPv4-mapped IPv6 addresses are reduced to IPv4 first; the source
 * port is not part of the MAC, because libtorrent shares one id across its
 * sockets. Pure: the key and the time are arguments; no I/O, no logging.
 */
#ifndef TRACKER_DAEMON_CONNID_H
#define TRACKER_DAEMON_CONNID_H

#include <stddef.h>
#include <stdint.h>

#define CONNID_KEY_LEN 16
/* Ids issued more than this many seconds in the future are refused. */
#define CONNID_FUTURE_SLACK 5

enum connid_verdict {
	CONNID_VALID = 0,
	CONNID_FORGED, /* MAC does not match: never issued by us */
	CONNID_EXPIRED, /* authentic, older than max_age */
	CONNID_FUTURE, /* authentic, issued too far in the future */
};

/* SipHash-2-4 of data under a 128-bit key (little-endian key bytes). */
uint64_t connid_siphash(const uint8_t key[CONNID_KEY_LEN], const void *data, size_t len);

/*
 * Mint the id for a client. addr is 4 (IPv4) or 16 (IPv6, mapped or not)
 * bytes in network order.
 */
uint64_t connid_make(const uint8_t key[CONNID_KEY_LEN], uint32_t now, const uint8_t *addr,
		     size_t addr_len);

/*
 * Check an id: valid while now - issued <= max_age and issued <= now +
 * CONNID_FUTURE_SLACK. The MAC comparison is constant-time.
 */
enum connid_verdict connid_check(const uint8_t key[CONNID_KEY_LEN], uint64_t id, uint32_t now,
				 uint32_t max_age, const uint8_t *addr, size_t addr_len);

/* Fill a fresh key from getrandom(). Returns 0 or -errno. */
int connid_new_key(uint8_t ret_key[CONNID_KEY_LEN]);

#endif /* TRACKER_DAEMON_CONNID_H */
