/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * shm/bans.h - the ban list: address prefixes whose datagrams are dropped.
 *
 * The list lives in its own region of the shared segment, so it survives
 * reloads and FD-store restarts with the table; the control process also
 * writes it to a file in the state directory on every change (bans_save())
 * and reads it back into a fresh segment (bans_load()), so it survives a
 * cold start too. Workers test every datagram's source with
 * bans_is_banned(), lock-free; only one process (the control process)
 * changes the list. Expiry times are wall-clock seconds (0: permanent); the
 * writer removes expired entries with bans_expire(), workers never look at
 * the time.
 *
 * Also the one place that parses and prints address prefixes
 * ("203.0.113.0/24", "2001:db8::/48", a bare address is /32 or /128), used
 * by the rate limiter's exemption list too. Non-logging: -errno returns.
 */
#ifndef TRACKER_SHM_BANS_H
#define TRACKER_SHM_BANS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BANS_PREFIX_STRLEN 64 /* enough for any formatted prefix */
#define BANS_MAX_LIMIT 1000000u /* largest ban_max */

/* An address prefix; host bits are always zero. */
struct bans_prefix {
	uint8_t addr[16]; /* network order; IPv4 in the first 4 bytes */
	uint8_t bits; /* prefix length: 0..32 (IPv4), 0..128 (IPv6) */
	bool ipv6;
};

/*
 * Parse "ADDR/LEN" or a bare "ADDR" (IPv4 dotted quad or IPv6 text);
 * host bits are cleared. IPv4-mapped IPv6 prefixes (::ffff:a.b.c.d/len,
 * len >= 96) become IPv4, since the workers see such sources as IPv4.
 * Returns 0 or -EINVAL.
 */
int bans_parse_prefix(const char *s, struct bans_prefix *ret);

/* "203.0.113.0/24", "2001:db8::/48" (the length is always printed). */
void bans_format_prefix(const struct bans_prefix *p, char *buf, size_t len);

/* Does p cover the address (alen 4: IPv4, 16: IPv6)? */
bool bans_prefix_contains(const struct bans_prefix *p, const uint8_t *addr, size_t alen);

struct bans;

/* Bytes of the region for max entries (a multiple of 64). */
size_t bans_region_size(uint32_t max);

/* Format a fresh region (zeroed memory) for max entries. */
void bans_format(void *region, uint32_t max);

/*
 * Bind a process-local handle to a formatted region of len bytes.
 * Returns 0, -EPROTO (the region's header does not fit len) or -ENOMEM.
 */
int bans_bind(void *region, size_t len, struct bans **ret);
void bans_unbind(struct bans *b);

/*
 * Is the source banned? Lock-free; any process. While the writer is in the
 * middle of a change it retries a few times, then answers false (a ban
 * being edited may let a datagram through; a source is never dropped by
 * mistake).
 */
bool bans_is_banned(const struct bans *b, const uint8_t *addr, size_t alen);

/* --- writer side (one process at a time: the control process) --- */

/*
 * Ban p until expires (wall-clock seconds, 0 = permanent). Banning a
 * prefix already listed replaces its expiry. Returns 0 (added), 1
 * (updated) or -ENOSPC (ban_max entries listed).
 */
int bans_add(struct bans *b, const struct bans_prefix *p, uint64_t expires);

/* Lift the ban of exactly p. 0 or -ENOENT. */
int bans_remove(struct bans *b, const struct bans_prefix *p);

/* Remove bans with 0 < expires <= now; returns how many went. */
unsigned bans_expire(struct bans *b, uint64_t now);

unsigned bans_count(const struct bans *b);
unsigned bans_capacity(const struct bans *b);

/* Entry i (0 <= i < bans_count()). 0 or -ENOENT. */
int bans_get(const struct bans *b, unsigned i, struct bans_prefix *ret, uint64_t *ret_expires);

/*
 * After a writer died mid-change: rebuild the lookup index from the
 * entries. Call before the first change in a new writer process.
 */
void bans_repair(struct bans *b);

/* The region was filled from the file once (set by the first loader). */
bool bans_is_loaded(const struct bans *b);
void bans_set_loaded(struct bans *b);

/*
 * Write the list to path atomically (path.tmp, fsync, rename): one line
 * "PREFIX EXPIRES" per ban. 0 or -errno.
 */
int bans_save(const struct bans *b, const char *path);

/*
 * Add the bans listed in path (as written by bans_save()), skipping those
 * expired at now and lines that do not parse. Returns the number added,
 * -ENOENT when there is no file, or -errno.
 */
int bans_load(struct bans *b, const char *path, uint64_t now);

#endif /* TRACKER_SHM_BANS_H */
