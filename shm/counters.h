/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * shm/counters.h - per-worker counter blocks kept in the shared segment.
 *
 * Each socket worker owns one block and is its only writer: plain stores of
 * naturally aligned 64-bit values, no atomics on the hot path. Readers (the
 * control process) fold the blocks with relaxed loads and may see a value
 * one increment stale, never a torn one. Blocks are cache-line aligned so
 * two workers never write the same line.
 *
 * The counter list is an X-macro so the names used by `trackerctl stats`,
 * the metrics output and the man pages come from one place. Every counter
 * exists once per address family (COUNTERS_FAM_IPV4, COUNTERS_FAM_IPV6;
 * IPv4-mapped IPv6 sources count as IPv4).
 */
#ifndef TRACKER_SHM_COUNTERS_H
#define TRACKER_SHM_COUNTERS_H

#include <stdint.h>

/* X(name, help) */
#define COUNTERS_WORKER(X)                                                               \
	X(rx_packets, "datagrams received")                                              \
	X(rx_bytes, "bytes received in datagrams")                                       \
	X(tx_packets, "reply datagrams sent")                                            \
	X(tx_bytes, "bytes sent in reply datagrams")                                     \
	X(connect, "connect requests answered")                                          \
	X(announce, "announce requests answered")                                        \
	X(scrape, "scrape requests answered")                                            \
	X(scrape_hashes, "info-hashes answered in scrapes")                              \
	X(announce_peers, "peers returned in announce replies")                          \
	X(error_replies, "error replies sent")                                           \
	X(err_port_zero, "announces with port 0 (error reply)")                          \
	X(err_no_hashes, "scrapes without an info-hash (error reply)")                   \
	X(err_access_announce, "announces refused by the access list (error reply)")     \
	X(err_access_scrape,                                                             \
	  "scrapes whose every info-hash the access list refuses (error reply)")         \
	X(access_refused_hashes, "info-hashes in scrapes refused by the access list")    \
	X(drop_short, "datagrams under 16 bytes (dropped)")                              \
	X(drop_action, "datagrams with an unknown action (dropped)")                     \
	X(drop_magic, "connects without the protocol magic (dropped)")                   \
	X(drop_announce_short, "announces under 98 bytes (dropped)")                     \
	X(drop_truncated, "datagrams larger than the receive buffer (dropped)")          \
	X(drop_src_port_zero, "datagrams from source port 0 (dropped)")                  \
	X(drop_connid_forged, "requests with a forged connection id (dropped)")          \
	X(drop_connid_expired, "requests with an expired connection id (dropped)")       \
	X(drop_connid_future, "requests with a connection id from the future (dropped)") \
	X(drop_banned, "datagrams from a banned source (dropped)")                       \
	X(drop_ratelimited, "datagrams over the per-source rate limit (dropped)")        \
	X(drop_send_full, "replies dropped because the send queue was full")             \
	X(send_errors, "replies the kernel refused to send")                             \
	X(refused_table_full, "announces not stored: torrent table full")                \
	X(refused_arena_full, "announces not stored: peer arena full")                   \
	X(refused_source_cap,                                                            \
	  "announces not stored: too many peers from one source in the torrent")         \
	X(rx_nobufs, "times the io_uring receive buffers ran out (receive re-armed)")

#define COUNTERS_ENUM(name, help) COUNTERS_##name,
enum counters_id { COUNTERS_WORKER(COUNTERS_ENUM) COUNTERS__MAX };
#undef COUNTERS_ENUM

enum counters_family { COUNTERS_FAM_IPV4 = 0, COUNTERS_FAM_IPV6 = 1, COUNTERS_FAM__MAX };

#define COUNTERS_CACHELINE 64

/* One worker's block. Lives in the segment: fixed layout, no pointers. */
struct counters_block {
	uint64_t v[COUNTERS_FAM__MAX][COUNTERS__MAX]; /* the counters */
	uint64_t heartbeat; /* bumped by the worker's loop: progress for the watchdog */
	uint32_t pid; /* worker process id, 0 when the slot is unused */
	int32_t cpu; /* CPU the worker is pinned to, -1 if not pinned */
	uint32_t backend; /* 1 io_uring, 2 mmsg, 0 not started */
	uint32_t generation; /* reload generation that started the worker */
	uint32_t started; /* time the worker (re)started, seconds */
	uint32_t restarts; /* times this slot's worker was restarted */
} __attribute__((aligned(COUNTERS_CACHELINE)));

_Static_assert(sizeof(struct counters_block) % COUNTERS_CACHELINE == 0,
	       "counter blocks are whole cache lines");
_Static_assert(__builtin_offsetof(struct counters_block, heartbeat) ==
		       sizeof(uint64_t) * COUNTERS_FAM__MAX * COUNTERS__MAX,
	       "no padding before the heartbeat");

/* Names of the counters, indexed by enum counters_id. */
static const char *const counters_names[COUNTERS__MAX] __attribute__((unused)) = {
#define COUNTERS_NAME(name, help) #name,
	COUNTERS_WORKER(COUNTERS_NAME)
#undef COUNTERS_NAME
};

static const char *const counters_help[COUNTERS__MAX] __attribute__((unused)) = {
#define COUNTERS_HELP(name, help) help,
	COUNTERS_WORKER(COUNTERS_HELP)
#undef COUNTERS_HELP
};

/* Single-writer increment: the owning worker only. */
static inline void counters_add(struct counters_block *b, unsigned fam, enum counters_id id,
				uint64_t n)
{
	__atomic_store_n(&b->v[fam][id], b->v[fam][id] + n, __ATOMIC_RELAXED);
}

static inline uint64_t counters_read(const struct counters_block *b, unsigned fam,
				     enum counters_id id)
{
	return __atomic_load_n(&b->v[fam][id], __ATOMIC_RELAXED);
}

#endif /* TRACKER_SHM_COUNTERS_H */
