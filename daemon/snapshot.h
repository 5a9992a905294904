/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * daemon/snapshot.h - lz4 snapshots of the swarm table in state_directory.
 *
 * The control process writes the whole table (torrents, peers with their
 * age, completed counters, the connection-id key) to
 * STATE_DIRECTORY/snapshot.lz4 as one lz4 frame, stripe by stripe while the
 * workers run: periodically, on "trackerctl save" and when it stops at a
 * shutdown. The supervisor loads it into a fresh segment at start (never
 * when it re-attached one from the FD store). See snapshot.c for the file
 * format and the crash-safety argument.
 *
 * The core functions (snapshot_write_fd, snapshot_load_mem, the _dir
 * variants) do not log: they return -errno and fill a reason. The
 * snapshot_save_logged() and snapshot_startup() entry points log.
 */
#ifndef TRACKER_DAEMON_SNAPSHOT_H
#define TRACKER_DAEMON_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SNAPSHOT_FILE "snapshot.lz4"
#define SNAPSHOT_TMP_FILE "snapshot.lz4.tmp"
#define SNAPSHOT_VERSION 1u
#define SNAPSHOT_PATH_MAX 512
#define SNAPSHOT_WHY_MAX 256

struct conf;
struct segment;

/* What one write produced. */
struct snapshot_info {
	char path[SNAPSHOT_PATH_MAX]; /* the file written (after the rename) */
	uint64_t bytes; /* file size */
	uint64_t ms; /* time the whole write took */
	uint64_t created; /* CLOCK_REALTIME seconds recorded in the file */
	uint64_t torrents;
	uint64_t peers4;
	uint64_t peers6;
};

/*
 * Write a snapshot of seg to fd (at its current offset). now_boot is the
 * store's clock (CLOCK_BOOTTIME seconds), now_real the wall clock recorded
 * in the file. Only the counts, created and bytes of ret are filled.
 * Returns 0 or -errno. Takes one stripe lock at a time, never across a
 * system call.
 */
int snapshot_write_fd(int fd, struct segment *seg, uint32_t peer_max_age, uint32_t now_boot,
		      uint64_t now_real, struct snapshot_info *ret);

/*
 * Write dir/snapshot.lz4 atomically: dir/snapshot.lz4.tmp is written,
 * fsynced, renamed over it, and dir is fsynced. On any failure the temp file
 * is removed and the previous snapshot is left as it was. dir is created
 * (mode 0750) if missing. Returns 0 or -errno with why filled.
 */
int snapshot_write_dir(const char *dir, struct segment *seg, uint32_t peer_max_age,
		       struct snapshot_info *ret, char *why, size_t whylen);

struct snapshot_load_params {
	uint32_t peer_max_age; /* peers older than this (downtime included) are dropped */
	uint32_t now_boot; /* the store's clock now */
	uint64_t now_real; /* CLOCK_REALTIME seconds now */
};

struct snapshot_load_result {
	uint64_t created; /* CLOCK_REALTIME seconds the snapshot was written */
	uint64_t downtime; /* now_real - created, 0 if the clock went back */
	uint32_t version;
	uint64_t file_torrents; /* what the file holds */
	uint64_t file_peers4;
	uint64_t file_peers6;
	uint64_t peers_expired; /* lifetime ran out while the tracker was down */
	uint64_t torrents_dropped; /* did not fit the table's capacity */
	uint64_t peers_dropped; /* did not fit (or belonged to a dropped torrent) */
	uint64_t torrents_loaded; /* now in the table */
	uint64_t peers_loaded;
	uint64_t bytes; /* size of the file or buffer */
	uint64_t ms; /* time the load took */
	bool key_restored; /* connection-id key copied into the segment */
};

/*
 * Check buf (a whole snapshot file) and, only if it is valid, load it into
 * seg (a fresh segment; may be NULL to only check). Errors: -EBADMSG
 * corrupt or truncated, -EPROTO not a trackerd snapshot (foreign file),
 * -EPROTONOSUPPORT written by a newer format version, -ENODATA empty;
 * why says what and where. Nothing is inserted unless the whole buffer is
 * valid.
 */
int snapshot_load_mem(const void *buf, size_t len, struct segment *seg,
		      const struct snapshot_load_params *p, struct snapshot_load_result *ret,
		      char *why, size_t whylen);

/*
 * Load dir/snapshot.lz4 into seg. A leftover dir/snapshot.lz4.tmp (a
 * write that never finished) is removed first (*ret_removed_tmp). -ENOENT
 * when there is no snapshot. A bad file (any error of snapshot_load_mem)
 * is renamed to snapshot.lz4.bad-<unix time> and that path is written into
 * aside (else aside is ""). Returns 0 or -errno with why filled.
 */
int snapshot_load_dir(const char *dir, struct segment *seg, const struct snapshot_load_params *p,
		      struct snapshot_load_result *ret, bool *ret_removed_tmp, char *aside,
		      size_t asidelen, char *why, size_t whylen);

/* Newest snapshot on disk, for the metrics (from the file's status). */
struct snapshot_status {
	bool valid;
	uint64_t time; /* CLOCK_REALTIME seconds it was written */
	uint64_t bytes;
};
void snapshot_stat(const char *dir, struct snapshot_status *ret);

/* --- daemon entry points (these log) --- */

/*
 * Supervisor, right after creating a fresh segment (not a re-attached
 * one), before any worker runs: load the newest snapshot if there is one.
 * Never fails: a bad snapshot is logged and set aside, the table stays
 * empty.
 */
void snapshot_startup(const struct conf *c, struct segment *seg);

/*
 * Control process: write a snapshot, log the outcome (what says why:
 * "periodic", "save", "shutdown"). Returns 0 or -errno with why filled.
 */
int snapshot_save_logged(const struct conf *c, struct segment *seg, const char *what,
			 struct snapshot_info *ret, char *why, size_t whylen);

#endif /* TRACKER_DAEMON_SNAPSHOT_H */
