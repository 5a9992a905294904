/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * shm/torrents.h - lock-striped torrent table and per-torrent peer sets,
 * kept in the shared segment.
 *
 * Workers call torrents_announce() and torrents_scrape(); the control
 * process calls torrents_clean_stripe() and torrents_iterate_stripe(). Each
 * call takes at most one stripe lock at a time and never holds it across a
 * system call. See torrents.c for the layout, the lock protocol and what
 * happens when a process dies holding a stripe.
 *
 * Times are seconds of one monotonic clock (CLOCK_BOOTTIME in the daemon),
 * passed in by the caller.
 */
#ifndef TRACKER_SHM_TORRENTS_H
#define TRACKER_SHM_TORRENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TORRENTS_HASH_LEN 20
/* Event values, identical to BEP 15's (and enum udpt_event). */
#define TORRENTS_EVENT_NONE 0
#define TORRENTS_EVENT_COMPLETED 1
#define TORRENTS_EVENT_STARTED 2
#define TORRENTS_EVENT_STOPPED 3

struct torrents;

/* A peer as the store identifies it: (source address, announced port). */
struct torrents_peer {
	uint8_t addr[16]; /* network order; IPv4 uses the first 4 bytes */
	uint16_t port; /* announced port, host order, never 0 */
	bool ipv6; /* false for IPv4 and IPv4-mapped sources */
};

struct torrents_announce {
	const uint8_t *info_hash; /* 20 bytes */
	struct torrents_peer peer;
	uint32_t event; /* TORRENTS_EVENT_* */
	bool seeding; /* left == 0 */
	unsigned numwant; /* peers wanted, already capped by the caller */
	uint32_t now;
	/* added with the abuse limits (zero: no cap): */
	uint16_t source_max; /* a new peer is refused when this many of its source are stored */
	uint8_t source_bits; /* prefix length that makes one source (32 IPv4, 64 IPv6) */
};

enum torrents_refusal {
	TORRENTS_STORED = 0, /* the peer is stored (or was removed by stopped) */
	TORRENTS_REFUSED_TABLE, /* new torrent, table full: not stored */
	TORRENTS_REFUSED_ARENA, /* new peer, arena full: not stored */
	TORRENTS_REFUSED_SOURCE, /* new peer, a->source_max of its source stored: not stored */
};

struct torrents_result {
	uint32_t seeders; /* whole swarm, both families, after this announce */
	uint32_t leechers; /* likewise */
	unsigned npeers; /* compact entries written to peers_out */
	enum torrents_refusal refused;
};

/*
 * Record an announce and write up to a->numwant peers of the requester's
 * family into peers_out as compact entries (6 bytes IPv4 or 18 bytes IPv6:
 * address then port, network order), chosen uniformly at random without
 * repeats, never the requester. peers_out must have room for numwant
 * entries. Stopped removes the peer (and returns no peers); completed
 * counts once per stored peer (a peer that left and came back counts again).
 * Returns 0, or -errno on a bug-class failure (never for a full table: see
 * ret->refused). Worker context; takes one stripe lock.
 */
int torrents_announce(struct torrents *t, const struct torrents_announce *a, uint8_t *peers_out,
		      struct torrents_result *ret);

struct torrents_counts {
	uint32_t seeders;
	uint32_t completed;
	uint32_t leechers;
};

/* Counts for each of n hashes (zeros for unknown ones), in order. */
void torrents_scrape(struct torrents *t, const uint8_t *hashes, unsigned n,
		     struct torrents_counts *ret_counts);

struct torrents_clean_result {
	uint64_t peers4_removed;
	uint64_t peers6_removed;
	uint64_t torrents_removed;
};

/*
 * Remove peers not seen for more than peer_max_age seconds, then torrents
 * with no peers (those with completed > 0 only after torrent_keep seconds
 * without peers). Control-process context; one stripe lock.
 */
int torrents_clean_stripe(struct torrents *t, unsigned stripe, uint32_t now, uint32_t peer_max_age,
			  uint32_t torrent_keep, struct torrents_clean_result *ret);

unsigned torrents_stripe_count(const struct torrents *t);

/* What iteration shows of one torrent; peers are in compact wire form. */
struct torrents_view {
	const uint8_t *info_hash;
	uint32_t seeders;
	uint32_t leechers;
	uint32_t completed;
	uint32_t npeers4;
	uint32_t npeers6;
};

/* Called under the stripe lock: must not block or make system calls. */
typedef int (*torrents_iter_fn)(const struct torrents_view *v, void *arg);

/* Visit every torrent of one stripe under its lock; stops early when fn returns non-zero. */
int torrents_iterate_stripe(struct torrents *t, unsigned stripe, torrents_iter_fn fn, void *arg);

/* Table-wide gauges (summed over stripes, approximate while workers run). */
struct torrents_gauges {
	uint64_t torrents;
	uint64_t peers4;
	uint64_t peers6;
	uint64_t seeders;
	uint64_t leechers;
	uint64_t completed;
	uint64_t lock_recoveries; /* stripes repaired after a holder died */
	uint64_t lock_contended; /* lock acquisitions that had to wait */
	uint64_t arena4_bytes_used;
	uint64_t arena6_bytes_used;
	/* added after the first contract: */
	uint64_t arena4_bytes_top; /* arena bytes ever handed out (high-water mark) */
	uint64_t arena6_bytes_top;
	uint64_t arena4_bytes_size; /* arena capacity */
	uint64_t arena6_bytes_size;
	uint64_t refused_table; /* announces refused: table (stripe) full */
	uint64_t refused_arena; /* announces refused: peer arena full */
};
void torrents_get_gauges(struct torrents *t, struct torrents_gauges *ret);

/* Full consistency check: counts equal a recount, indexes agree. 0 or -EUCLEAN with why. */
int torrents_check(struct torrents *t, char *why, size_t whylen);

/* --- extensions (added after the first contract) --- */

/*
 * n announces, exactly as n calls of torrents_announce() in order (each
 * takes and releases its own stripe lock), but faster on a large table:
 * the batch's index slots, records and peer blocks are prefetched before
 * any lock is taken. peers_out[i] and ret[i] belong to a[i]. Returns 0 or
 * the first -errno.
 */
int torrents_announce_many(struct torrents *t, const struct torrents_announce *a, unsigned n,
			   uint8_t *const *peers_out, struct torrents_result *ret);

/* Longest peer_max_age torrents_clean_stripe() accepts (else -EINVAL). */
#define TORRENTS_MAX_PEER_AGE 43200u

/* Stripe an info-hash belongs to. */
unsigned torrents_stripe_of(const struct torrents *t, const uint8_t *info_hash);

/*
 * torrents_check() plus the arena accounting: no block owned twice, every
 * arena record below the high-water mark either in a live block or on a
 * free list. Only meaningful while nobody else uses the table (tests,
 * tools); a holder killed mid-growth legitimately leaks one block.
 */
int torrents_check_quiescent(struct torrents *t, char *why, size_t whylen);

/*
 * Quiescent only (nobody else attached or running, e.g. right after
 * attaching to a segment whose workers died): rebuild the arenas' free
 * lists from what the swarms hold, so blocks leaked by processes killed
 * mid-move are usable again. Returns the arena records reclaimed, or
 * -ENOMEM.
 */
int64_t torrents_reclaim(struct torrents *t);

/* Bytes of the segment the table itself uses (stripes, records, index). */
size_t torrents_table_bytes(const struct torrents *t);

/* What torrents_remove() dropped. */
struct torrents_remove_result {
	uint32_t peers4; /* peers dropped with it */
	uint32_t peers6;
};

/*
 * Drop one torrent now, its peers and its completed counter with it (an
 * info-hash the access list has just refused). Returns 0, or -ENOENT when
 * the table does not hold it. Control-process context; one stripe lock.
 */
int torrents_remove(struct torrents *t, const uint8_t *info_hash,
		    struct torrents_remove_result *ret);

/* Used by shm/segment.c: format a fresh segment, bind a handle to a mapped one. */
int torrents_format(void *seg_base);
int torrents_bind(void *seg_base, struct torrents **ret);
void torrents_unbind(struct torrents *t);

/*
 * Test hook: take a stripe's lock and leave it held (for a crash test that
 * kills the holder), optionally damaging the stripe the way a holder killed
 * mid-update would: TORRENTS_DAMAGE_* bits.
 */
#define TORRENTS_DAMAGE_TORN_INSERT 1u /* new record + index entry, count not bumped */
#define TORRENTS_DAMAGE_TORN_REMOVE 2u /* peer swap-remove copied, count not lowered */
#define TORRENTS_DAMAGE_COUNTS 4u /* stripe counts updated ahead of the data */
int torrents_debug_lock_stripe(struct torrents *t, unsigned stripe, unsigned damage);
void torrents_debug_unlock_stripe(struct torrents *t, unsigned stripe);

/* --- snapshots (export and restore) --- */

/* One torrent as torrents_export_stripe() shows it (under the stripe lock). */
struct torrents_export_torrent {
	const uint8_t *info_hash; /* 20 bytes, valid during the call only */
	uint32_t completed;
	uint32_t empty_age; /* seconds since it became empty (meaningful without peers) */
	uint32_t npeers4; /* peers that follow, IPv4 first */
	uint32_t npeers6;
};

/* One peer as torrents_export_stripe() shows it (under the stripe lock). */
struct torrents_export_peer {
	const uint8_t *compact; /* address then port, network order: 6 or 18 bytes */
	bool ipv6;
	bool seeder;
	bool completed; /* its completed event was counted */
	uint32_t age; /* seconds since its last announce (tick resolution, 0 if ahead) */
};

/*
 * What torrents_export_stripe() calls, all under the stripe lock, so none
 * of them may block, allocate or make a system call. begin gets the
 * stripe's totals first (an exact bound on what follows) and may refuse
 * with a non-zero return (e.g. -ENOBUFS: grow the buffer and call again);
 * then each torrent, followed by exactly its npeers4 + npeers6 peers.
 */
struct torrents_export_ops {
	int (*begin)(uint32_t ntorrents, uint64_t npeers4, uint64_t npeers6, void *arg);
	int (*torrent)(const struct torrents_export_torrent *t, void *arg);
	void (*peer)(const struct torrents_export_peer *p, void *arg);
};

/*
 * Visit every torrent of one stripe with its peers under the stripe lock;
 * now is the store's clock (for ages). Returns 0, the first non-zero
 * return of begin or torrent, or -errno. Control-process context.
 */
int torrents_export_stripe(struct torrents *t, unsigned stripe, uint32_t now,
			   const struct torrents_export_ops *ops, void *arg);

/* A peer to restore: its key, flags and how long ago it last announced. */
struct torrents_restore_peer {
	struct torrents_peer peer;
	bool seeder;
	bool completed; /* completed already counted for this peer */
	uint32_t age; /* seconds; the caller drops peers already too old */
};

struct torrents_restore_result {
	uint32_t peers_stored;
	uint32_t peers_dropped; /* arena full, duplicate or invalid (port 0) */
	bool torrent_dropped; /* table full, or none of its peers fit: not stored */
};

/*
 * Insert a torrent (created with completed and empty_age when absent; an
 * existing one keeps its counters) and add n peers with the given last-seen
 * ages relative to now, without counting completed again. What does not fit
 * the capacity is counted, not stored. A torrent without peers is kept only
 * if completed > 0. Meant for loading a snapshot into a fresh table before
 * the workers start, but takes the stripe lock like any other writer.
 */
int torrents_restore(struct torrents *t, const uint8_t *info_hash, uint32_t completed,
		     uint32_t empty_age, const struct torrents_restore_peer *peers, unsigned n,
		     uint32_t now, struct torrents_restore_result *ret);

#endif /* TRACKER_SHM_TORRENTS_H */
