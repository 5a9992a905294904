/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * daemon/acclist.h - the access-list file: parse, load, edit in place.
 *
 * The file holds one info-hash a line as 40 hex digits (either case),
 * optionally followed by blanks and a '#' comment; blank lines and lines
 * starting with '#' are ignored. Any other line makes the whole file
 * invalid: the error names the file and the line, and nothing of it is
 * used. Edits (trackerctl allow/deny/unlist) rewrite the file atomically
 * (temporary file, fsync, rename, directory fsync) and keep every other
 * line, comments included.
 *
 * Non-logging: functions return -errno and write "FILE:LINE: reason" into
 * the caller's buffer.
 */
#ifndef TRACKER_DAEMON_ACCLIST_H
#define TRACKER_DAEMON_ACCLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ACCLIST_HASH_LEN 20
#define ACCLIST_ERR_MAX 512
/* Largest list file read (a million hashes with comments is ~50 MB). */
#define ACCLIST_FILE_MAX (1u << 30)

/* A parsed list: n hashes of 20 bytes, in file order, duplicates kept. */
struct acclist {
	uint8_t *hashes;
	size_t n;
	size_t cap;
};

void acclist_free(struct acclist *l);

/* Parse "40 hex digits" at s (no more, no less). 0 or -EINVAL. */
int acclist_parse_hex(const char *s, size_t len, uint8_t out[ACCLIST_HASH_LEN]);
/* Write the hash as 40 lower-case hex digits and a NUL. */
void acclist_format_hex(const uint8_t h[ACCLIST_HASH_LEN], char out[2 * ACCLIST_HASH_LEN + 1]);

/*
 * Parse len bytes (no NUL needed; a NUL byte is an error). name is used in
 * messages. On success *ret holds the hashes (free with acclist_free());
 * on failure returns -EINVAL (or -ENOMEM), *ret is untouched and err says
 * "NAME:LINE: reason".
 */
int acclist_parse(const char *buf, size_t len, const char *name, struct acclist *ret, char *err,
		  size_t errlen);

/*
 * Read and parse the file at path. A missing file is an empty list
 * (*ret_missing set). Errors as acclist_parse(), or -errno with
 * "PATH: reason" when the file cannot be read.
 */
int acclist_load(const char *path, struct acclist *ret, bool *ret_missing, char *err,
		 size_t errlen);

enum acclist_op {
	ACCLIST_ADD, /* append a line with the hash unless it is listed */
	ACCLIST_REMOVE, /* drop every line listing the hash */
};

/*
 * Apply op to the file at path (a missing file is empty; ADD creates it).
 * The file must parse: a bad line refuses the edit with its line number.
 * Writes only when something changes (*ret_changed). 0 or -errno.
 */
int acclist_edit(const char *path, const uint8_t hash[ACCLIST_HASH_LEN], enum acclist_op op,
		 bool *ret_changed, char *err, size_t errlen);

/* --- applying a list to the running tracker (control process) --- */

struct acl; /* shm/acl.h */
struct torrents; /* shm/torrents.h */

struct acclist_result {
	uint64_t listed; /* distinct info-hashes now in force */
	uint64_t torrents_removed; /* torrents the new list refused, dropped from the table */
	uint64_t peers_removed; /* their peers */
	bool missing; /* the file does not exist (an empty list) */
	bool file_changed; /* an edit rewrote the file */
	bool was_listed; /* an edit found the hash already on the live list */
};

/*
 * Load path (mode is enum acl_mode), publish it and drop the torrents it
 * refuses. When the file is bad or too long, the list in force is kept if
 * it was published with the same mode, else an empty list with this mode
 * replaces it (an allow list fails closed); the error is returned with err
 * filled. ACL_MODE_OFF ignores path and publishes an empty list.
 */
int acclist_apply_file(struct acl *a, struct torrents *t, int mode, const char *path,
		       struct acclist_result *ret, char *err, size_t errlen);

/*
 * One live edit: check the room, rewrite the file (acclist_edit()), then
 * publish the live list with the hash added or removed and, when the hash
 * is now refused, drop its torrent. Nothing changes if the file cannot be
 * rewritten. 0 or -errno with err filled (-ENOSPC: the list is full).
 */
int acclist_apply_edit(struct acl *a, struct torrents *t, int mode, const char *path,
		       const uint8_t hash[ACCLIST_HASH_LEN], enum acclist_op op,
		       struct acclist_result *ret, char *err, size_t errlen);

/* Drop every torrent the list in force refuses. Returns how many. */
uint64_t acclist_purge(const struct acl *a, struct torrents *t, uint64_t *ret_peers);

#endif /* TRACKER_DAEMON_ACCLIST_H */
