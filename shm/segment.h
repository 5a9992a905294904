/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * shm/segment.h - the shared-memory segment: create, attach, verify.
 *
 * One memfd (MFD_CLOEXEC) mapped MAP_SHARED before the workers are forked,
 * sized once from the configured capacity and never grown. It begins with a
 * header (magic, layout version, total size, capacity, stripe count, the
 * connection-id key and the stripe-hash key), followed by the per-worker
 * counter blocks, the torrent table and the peer arenas. Offsets only, no
 * pointers, so any process can map it at any address, and the fd can be
 * handed to systemd's FD store and re-attached by the next trackerd.
 *
 * Non-logging: functions return -errno; attach writes a reason for the
 * caller to log.
 */
#ifndef TRACKER_SHM_SEGMENT_H
#define TRACKER_SHM_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

#define SEGMENT_KEY_LEN 16
/* Counter blocks reserved in every segment (workers, current and draining). */
#define SEGMENT_WORKER_SLOTS 256

struct acl;
struct bans;
struct counters_block;
struct ratelimit;
struct torrents;
struct segment;

struct segment_params {
	uint64_t max_torrents; /* torrents the table must hold */
	uint64_t max_peers4; /* IPv4 peers the arena must hold */
	uint64_t max_peers6; /* IPv6 peers the arena must hold */
	uint64_t max_access; /* info-hashes an access list may hold (added later; 0: none) */
	uint64_t ratelimit_slots; /* rate-limit buckets (added later; 0: no rate limit) */
	uint64_t ban_max; /* bans the ban list may hold (added later; 0: no bans) */
};

/* Bytes a segment with these parameters occupies. */
size_t segment_size_for(const struct segment_params *p);

/*
 * Create, size, map and format a new segment. connid_key is stored in the
 * header (shared by all workers and kept across FD-store restarts); the
 * stripe-hash key is drawn from getrandom(). Returns 0 or -errno.
 */
int segment_create(const struct segment_params *p, const uint8_t connid_key[SEGMENT_KEY_LEN],
		   struct segment **ret_seg);

/*
 * Map an existing segment fd (inherited from the FD store) and verify its
 * header: magic, layout version, size of the fd, internal sizes. When
 * expect is not NULL its capacity must match too. On a mismatch returns
 * -EPROTO (or -errno) and writes the reason into why. The fd is dup'ed
 * (CLOEXEC); the caller keeps its own.
 */
int segment_attach(int fd, const struct segment_params *expect, struct segment **ret_seg, char *why,
		   size_t whylen);

/* The page size segment_huge_pages() works in. */
#define SEGMENT_HUGE_PAGE ((size_t)2 << 20)

/* What segment_huge_pages() did. */
struct segment_huge {
	size_t chunks; /* whole 2 MiB chunks in the segment (a shorter tail is left) */
	size_t huge; /* of those, backed by a 2 MiB page now */
	int err; /* the first failure, -errno, or 0 */
};

/*
 * Back every whole 2 MiB chunk of the segment with a 2 MiB page
 * (MADV_COLLAPSE, Linux 6.1), leaving the data as it is: far fewer TLB
 * misses on the table's random accesses, and the segment is resident from
 * here on. Safe while workers run. Returns 0 when every chunk is huge, or
 * the first failure (-EINVAL: the kernel cannot; -ENOMEM/-EAGAIN: no 2 MiB
 * page free just now, the other chunks were still tried). *ret says how
 * far it got.
 */
int segment_huge_pages(struct segment *seg, struct segment_huge *ret);

/* Unmap and close. */
void segment_close(struct segment *seg);

int segment_fd(const struct segment *seg);
size_t segment_size(const struct segment *seg);
void segment_get_params(const struct segment *seg, struct segment_params *ret);
const uint8_t *segment_connid_key(const struct segment *seg);
/*
 * Replace the connection-id key (restoring it from a snapshot into a fresh
 * segment). Only before the workers start: they read it once.
 */
void segment_set_connid_key(struct segment *seg, const uint8_t key[SEGMENT_KEY_LEN]);
struct torrents *segment_torrents(struct segment *seg);
/* Counter block of worker slot i (0 <= i < SEGMENT_WORKER_SLOTS). */
struct counters_block *segment_counters(struct segment *seg, unsigned i);
/* The access list's handle (shm/acl.h). */
struct acl *segment_acl(struct segment *seg);
/* The rate limiter's and the ban list's handles (shm/ratelimit.h, shm/bans.h). */
struct ratelimit *segment_ratelimit(struct segment *seg);
struct bans *segment_bans(struct segment *seg);

#endif /* TRACKER_SHM_SEGMENT_H */
