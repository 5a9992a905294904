/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * daemon/banlist.c - ban and unban, expiry, and the ban file.
 *
 * Design notes:
 * - Where a ban lives: in the segment (shm/bans.c), so workers check it per
 *   datagram without a lock, and it survives reloads (same segment),
 *   crashes of the control process and FD-store restarts. Every change is
 *   also written to state_directory/bans (atomic rename), read back once
 *   into a fresh segment, so a cold start keeps the list too.
 * - Expiry is wall-clock time (a ban "until 18:00" survives a reboot as
 *   such); the control process removes expired bans once a second, so a
 *   timed ban lasts its duration to within a second.
 * - A ban without DURATION is permanent: an operator who bans a prefix by
 *   hand means it until they unban it. Re-banning a listed prefix replaces
 *   its expiry (also making a timed ban permanent, or the reverse).
 * - The reply lists every ban, so "trackerctl ban" doubles as the listing.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "daemon/banlist.h"
#include "daemon/conf.h"
#include "daemon/ctlsrv.h"
#include "daemon/log.h"
#include "shm/bans.h"

static void file_path(const struct conf *c, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", c->state_directory, BANLIST_FILE);
}

static void save(struct bans *b, const struct conf *c)
{
	char path[CONF_PATH_MAX + 16];
	int r;

	file_path(c, path, sizeof(path));
	r = bans_save(b, path);
	if (r < 0)
		log_errno(LOG_WARNING, r,
			  "cannot write the ban list to '%s' (the bans in force are kept)", path);
}

void banlist_open(struct bans *b, const struct conf *c)
{
	char path[CONF_PATH_MAX + 16];
	int r;

	if (!b)
		return;
	bans_repair(b);
	if (bans_is_loaded(b))
		return;
	file_path(c, path, sizeof(path));
	r = bans_load(b, path, (uint64_t)time(NULL));
	if (r < 0 && r != -ENOENT)
		log_errno(LOG_WARNING, r, "cannot read the ban list '%s', starting without it",
			  path);
	else if (r > 0)
		log_msg(LOG_INFO, "ban list: %d prefix%s from '%s'", r, r == 1 ? "" : "es", path);
	bans_set_loaded(b);
}

int banlist_parse_duration(const char *s, uint64_t *ret_seconds)
{
	uint64_t v = 0, mul = 1;
	const char *p = s;

	if (!strcmp(s, "permanent")) {
		*ret_seconds = 0;
		return 0;
	}
	if (*p < '1' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > BANLIST_MAX_SECONDS)
			return -EINVAL;
	}
	switch (*p) {
	case '\0':
	case 's':
		break;
	case 'm':
		mul = 60;
		break;
	case 'h':
		mul = 3600;
		break;
	case 'd':
		mul = 86400;
		break;
	case 'w':
		mul = 7 * 86400;
		break;
	default:
		return -EINVAL;
	}
	if (*p && p[1])
		return -EINVAL;
	if (v * mul > BANLIST_MAX_SECONDS)
		return -EINVAL;
	*ret_seconds = v * mul;
	return 0;
}

static int list(const struct bans *b, struct ctlsrv_reply *out)
{
	char pfx[BANS_PREFIX_STRLEN];
	struct bans_prefix p;
	uint64_t exp, now = (uint64_t)time(NULL);
	int r = 0;

	ctlsrv_reply_printf(out, "bans=%u\nban_max=%u\n", bans_count(b), bans_capacity(b));
	for (unsigned i = 0; i < bans_count(b) && r == 0; i++) {
		if (bans_get(b, i, &p, &exp))
			break;
		bans_format_prefix(&p, pfx, sizeof(pfx));
		if (exp)
			r = ctlsrv_reply_printf(out, "ban=%s expires_in=%llu\n", pfx,
						(unsigned long long)(exp > now ? exp - now : 0));
		else
			r = ctlsrv_reply_printf(out, "ban=%s expires_in=never\n", pfx);
	}
	return 0;
}

static int parse_arg(const char *arg, struct bans_prefix *p, struct ctlsrv_reply *out)
{
	if (bans_parse_prefix(arg, p) < 0)
		return ctlsrv_reply_error(
			out, -EINVAL,
			"'%s' is not a prefix (203.0.113.0/24, 2001:db8::/48 or an "
			"address)",
			arg);
	return 0;
}

int banlist_cmd_ban(struct bans *b, const struct conf *c, const struct ctlproto_request *req,
		    struct ctlsrv_reply *out)
{
	char pfx[BANS_PREFIX_STRLEN];
	struct bans_prefix p;
	uint64_t secs = 0, expires = 0;
	int r;

	if (!b || !bans_capacity(b))
		return ctlsrv_reply_error(out, -EOPNOTSUPP, "ban list disabled (ban_max = 0)");
	r = parse_arg(req->argv[0], &p, out);
	if (r < 0)
		return r;
	if (req->argc > 1 && banlist_parse_duration(req->argv[1], &secs) < 0)
		return ctlsrv_reply_error(out, -EINVAL,
					  "'%s' is not a duration (10m, 2h, 1d, 1w or permanent)",
					  req->argv[1]);
	if (secs)
		expires = (uint64_t)time(NULL) + secs;
	r = bans_add(b, &p, expires);
	if (r == -ENOSPC)
		return ctlsrv_reply_error(out, r, "ban list full (ban_max = %u)", bans_capacity(b));
	if (r < 0)
		return ctlsrv_reply_error(out, r, "cannot ban");
	bans_format_prefix(&p, pfx, sizeof(pfx));
	log_msg(LOG_NOTICE, "%s %s %s", r ? "ban renewed:" : "banned", pfx,
		secs ? req->argv[1] : "permanently");
	save(b, c);
	return list(b, out);
}

int banlist_cmd_unban(struct bans *b, const struct conf *c, const struct ctlproto_request *req,
		      struct ctlsrv_reply *out)
{
	char pfx[BANS_PREFIX_STRLEN];
	struct bans_prefix p;
	int r;

	if (!b || !bans_capacity(b))
		return ctlsrv_reply_error(out, -EOPNOTSUPP, "ban list disabled (ban_max = 0)");
	r = parse_arg(req->argv[0], &p, out);
	if (r < 0)
		return r;
	bans_format_prefix(&p, pfx, sizeof(pfx));
	if (bans_remove(b, &p) < 0)
		return ctlsrv_reply_error(out, -ENOENT, "%s is not banned", pfx);
	log_msg(LOG_NOTICE, "unbanned %s", pfx);
	save(b, c);
	return list(b, out);
}

void banlist_tick(struct bans *b, const struct conf *c)
{
	unsigned n;

	if (!b || !bans_count(b))
		return;
	n = bans_expire(b, (uint64_t)time(NULL));
	if (!n)
		return;
	log_msg(LOG_INFO, "%u ban%s expired", n, n == 1 ? "" : "s");
	save(b, c);
}
