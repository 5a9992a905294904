/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * daemon/banlist.h - the control process's side of the ban list.
 *
 * trackerctl ban and unban, the expiry of timed bans and the file that
 * keeps the list across cold starts (state_directory/bans). The list
 * itself lives in the segment (shm/bans.h); the control process is its
 * only writer. Logs (top layer).
 */
#ifndef TRACKER_DAEMON_BANLIST_H
#define TRACKER_DAEMON_BANLIST_H

#include <stdint.h>

struct bans;
struct conf;
struct ctlproto_request;
struct ctlsrv_reply;

/* Name of the file in state_directory. */
#define BANLIST_FILE "bans"
/* Longest ban DURATION accepted (10 years). */
#define BANLIST_MAX_SECONDS (10ull * 366 * 86400)

/*
 * At the start of a control process: repair the list if a writer died
 * mid-change, and on a fresh segment load the file (once per segment).
 */
void banlist_open(struct bans *b, const struct conf *c);

/*
 * Parse a DURATION: digits with an optional s, m, h, d or w suffix, or
 * "permanent" (0). Returns 0 with *ret_seconds set, or -EINVAL.
 */
int banlist_parse_duration(const char *s, uint64_t *ret_seconds);

/* trackerctl ban PREFIX [DURATION] and unban PREFIX. */
int banlist_cmd_ban(struct bans *b, const struct conf *c, const struct ctlproto_request *req,
		    struct ctlsrv_reply *out);
int banlist_cmd_unban(struct bans *b, const struct conf *c, const struct ctlproto_request *req,
		      struct ctlsrv_reply *out);

/* Once a second: drop expired bans (and rewrite the file when some went). */
void banlist_tick(struct bans *b, const struct conf *c);

#endif /* TRACKER_DAEMON_BANLIST_H */
