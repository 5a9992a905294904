/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * shm/ratelimit.h - per-source request rate limit shared by all workers.
 *
 * A fixed table of token buckets in the shared segment, one 64-bit word
 * each, indexed by a keyed hash of the source's prefix (IPv4 /32 and IPv6
 * /64 by default). Every worker charges the same bucket for the same
 * source, so the limit holds whatever worker the kernel hands a datagram
 * to. Sources whose hashes collide share a bucket; the table never grows.
 * One hash and one compare-and-swap per datagram; no lock.
 *
 * The limits (rate, burst, prefix lengths, exempt prefixes) are
 * process-local settings of the handle: each worker configures its copy
 * from its configuration, so a reload applies to the new workers.
 */
#ifndef TRACKER_SHM_RATELIMIT_H
#define TRACKER_SHM_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shm/bans.h"

#define RATELIMIT_EXEMPT_MAX 16 /* exempt prefixes */
#define RATELIMIT_RATE_MAX 1000000u /* requests per second */
#define RATELIMIT_BURST_MAX 1000000u
#define RATELIMIT_SLOTS_MAX (1u << 28)

struct ratelimit;

struct ratelimit_config {
	uint32_t rate; /* requests per second a source may send, 0 = no limit */
	uint32_t burst; /* bucket size: requests a source may send at once */
	uint8_t bits4; /* IPv4 prefix length that makes one source, 1..32 */
	uint8_t bits6; /* IPv6 prefix length, 1..128 */
	unsigned nexempt;
	struct bans_prefix exempt[RATELIMIT_EXEMPT_MAX]; /* never limited */
};

/* Bytes of the region for slots buckets (a multiple of 64). */
size_t ratelimit_region_size(uint64_t slots);

/* Format a fresh region (zeroed memory): slot count and a random hash key. 0 or -errno. */
int ratelimit_format(void *region, uint64_t slots);

/* Bind a process-local handle (limits off until configured). 0, -EPROTO or -ENOMEM. */
int ratelimit_bind(void *region, size_t len, struct ratelimit **ret);
void ratelimit_unbind(struct ratelimit *r);

/* Set this process's limits. */
void ratelimit_configure(struct ratelimit *r, const struct ratelimit_config *c);

/*
 * ratelimit_configure() from configuration values: exempt is a list of
 * prefixes separated by spaces (words that do not parse are skipped; the
 * configuration parser has refused them already). A NULL r is ignored.
 */
void ratelimit_configure_from(struct ratelimit *r, unsigned rate, unsigned burst, unsigned bits4,
			      unsigned bits6, const char *exempt);

/* Is the address (alen 4 or 16) in the exempt list? */
bool ratelimit_is_exempt(const struct ratelimit *r, const uint8_t *addr, size_t alen);

/*
 * Charge one request to the source's bucket at now_ms (a monotonic clock
 * in milliseconds). True when it is within the limit (or limits are off or
 * the table has no slots), false when it must be dropped. Does not look at
 * the exempt list: the caller asks ratelimit_is_exempt() first.
 */
bool ratelimit_allow(struct ratelimit *r, const uint8_t *addr, size_t alen, uint64_t now_ms);

/*
 * Start loading the source's bucket (a batch prefetches all its buckets
 * before charging any: on a table larger than the cache each charge is
 * otherwise a cache miss). No effect when the limit is off.
 */
void ratelimit_prefetch(const struct ratelimit *r, const uint8_t *addr, size_t alen);

/* Slots in the table. */
uint64_t ratelimit_slots(const struct ratelimit *r);

#endif /* TRACKER_SHM_RATELIMIT_H */
