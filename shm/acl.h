/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * shm/acl.h - the info-hash access list kept in the shared segment.
 *
 * One list of info-hashes whose meaning is the mode it was published with:
 * in ACL_MODE_ALLOW only listed torrents are served, in ACL_MODE_DENY
 * listed torrents are refused, in ACL_MODE_OFF everything is served.
 * Workers ask acl_permits() per request without any lock; the control
 * process (the only writer) builds a whole new list in the spare bank with
 * acl_publish() and switches to it. See acl.c for the layout and why a
 * reader never sees a half-built list.
 *
 * Non-logging: functions return -errno.
 */
#ifndef TRACKER_SHM_ACL_H
#define TRACKER_SHM_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ACL_HASH_LEN 20

enum acl_mode {
	ACL_MODE_OFF = 0, /* everything is served (the state of a fresh segment) */
	ACL_MODE_ALLOW = 1, /* only listed info-hashes are served */
	ACL_MODE_DENY = 2, /* listed info-hashes are refused */
};

struct acl; /* process-local handle on the region */

/* Bytes of segment the region needs for lists of up to max_entries hashes. */
uint64_t acl_region_size(uint64_t max_entries);

/*
 * Bind a handle to a region of acl_region_size(max_entries) bytes inside
 * the segment (zero-filled when fresh: mode off, empty). 0 or -ENOMEM.
 */
int acl_bind(void *region, uint64_t max_entries, struct acl **ret);
void acl_unbind(struct acl *a);

/*
 * May a request for this info-hash be served? Lock-free, no system call,
 * never blocks: any process, any time, also while a new list is published.
 */
bool acl_permits(const struct acl *a, const uint8_t *info_hash);

/*
 * Hint: start loading what acl_permits() on this hash will read (nothing
 * when the list is off). For batches: prefetch all, then ask. Never faults.
 */
void acl_prefetch(const struct acl *a, const uint8_t *info_hash);

/*
 * Replace the list: build n hashes (20 bytes each, duplicates allowed) and
 * mode in the spare bank, then make it the active one. Control-process
 * context, one writer at a time. Returns 0, or -ENOSPC when the list holds
 * more distinct hashes than the region's max_entries (nothing changes),
 * -EINVAL for an unknown mode.
 */
int acl_publish(struct acl *a, enum acl_mode mode, const uint8_t *hashes, size_t n);

/* What is in force now. */
struct acl_info {
	enum acl_mode mode;
	uint64_t count; /* distinct hashes listed */
	uint64_t generation; /* publications since the segment was made */
	uint64_t max_entries;
	uint64_t bytes; /* bytes of the table of the active list */
};
void acl_get_info(const struct acl *a, struct acl_info *ret);

/*
 * Copy the active list into out (room for cap hashes) in table order.
 * Writer context (nothing publishes meanwhile). Returns the number of
 * hashes listed (may exceed cap: only cap were copied).
 */
uint64_t acl_copy(const struct acl *a, uint8_t *out, uint64_t cap);

/* Is the info-hash on the active list (whatever the mode)? */
bool acl_contains(const struct acl *a, const uint8_t *info_hash);

#endif /* TRACKER_SHM_ACL_H */
