/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * daemon/conf.c - configuration: the key table, defaults, parser, printer.
 *
 * Owns the one table of configuration keys. Each row names a key, its value
 * type, where it lives in struct conf, its default (as text, parsed by the
 * same code as a file value, so the default cannot disagree with the
 * parser), its limits, how a change takes effect on reload, and a one-line
 * description. Defaults, file parsing, -o overrides, --print-config and the
 * reload diff all walk this table; nothing else in the daemon knows a key
 * name. This module never logs: it returns -errno and writes the message
 * into the caller's buffer.
 *
 * Design notes:
 *  - A load parses into a copy of the caller's struct and copies it back
 *    only when the whole file was good, so a bad reload changes nothing.
 *  - The file is read whole (at most CONF_FILE_MAX bytes) and lines are
 *    bounded by CONF_LINE_MAX; a longer line, a NUL byte, an unknown key, a
 *    bad value, a line without '=' and a key given twice in one file are
 *    errors. Duplicates are refused rather than "last wins": with two lines
 *    for one key, editing the first silently does nothing, which is the
 *    kind of surprise an operator should be told about. Overrides (-o) are
 *    applied after the file and do replace file values.
 *  - '#' starts a comment at the beginning of a line or after a space or a
 *    tab, so a value cannot contain " #". Keys are case-sensitive; the
 *    words of booleans, enums and "none" are not.
 *  - Values are printed in a form the parser accepts (sizes with the largest
 *    exact suffix), so --print-config output is itself a valid file.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "daemon/conf.h"
#include "shm/bans.h"
#include "shm/ratelimit.h"
#include "shm/segment.h"

#define CONF_LINE_MAX 1024u /* characters per line, newline excluded */
#define CONF_FILE_MAX (1u << 20) /* bytes per file */
#define CONF_VALUE_SHOW 64 /* value characters quoted in messages */
#define CONF_SUN_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

enum conf_type {
	CT_BOOL, /* bool */
	CT_UINT, /* unsigned, plain decimal */
	CT_SECONDS, /* unsigned, s/m/h/d suffixes */
	CT_BYTES, /* unsigned, K/M/G binary suffixes */
	CT_COUNT, /* uint64_t, k/M/G decimal suffixes */
	CT_ENUM, /* int-sized enum, one of words[] */
	CT_PATH, /* char[CONF_PATH_MAX], absolute */
	CT_LISTEN4, /* bool + struct sockaddr_in, "A.B.C.D:PORT" or "none" */
	CT_LISTEN6, /* bool + struct sockaddr_in6, "[ADDR]:PORT" or "none" */
	CT_LISTEN_TCP, /* bool + struct sockaddr_storage, either form above, or "none" */
	CT_URL, /* char[CONF_PATH_MAX], a URL with a scheme from words[], or "none" = "" */
	CT_OPTPATH, /* char[CONF_PATH_MAX], absolute, or "none" = "" */
	CT_STRING, /* char[CONF_PATH_MAX], printable, accepted by the row's check(); "" prints none */
};

#define CF_POW2 0x1u /* the value must be a power of two */

struct conf_word {
	const char *name;
	int value;
};

struct conf_key {
	const char *name;
	enum conf_type type;
	enum conf_reload reload;
	size_t off; /* the value's field */
	size_t off_flag; /* CT_LISTEN*: the bool "enabled" field */
	uint64_t min;
	uint64_t max;
	unsigned flags;
	const struct conf_word *words; /* CT_ENUM, NULL-terminated */
	const char *def;
	const char *desc;
	/* CT_STRING: 0 or -EINVAL with the reason; may rewrite "none" as "" (added later) */
	int (*check)(const char *v, char *out, size_t outlen, char *why, size_t len);
};

struct suffix {
	char c;
	uint64_t mul;
};

static const struct suffix sfx_count[] = {
	{ 'k', 1000ull }, { 'K', 1000ull }, { 'M', 1000000ull }, { 'G', 1000000000ull }, { 0, 0 },
};
static const struct suffix sfx_bytes[] = {
	{ 'K', 1ull << 10 },
	{ 'k', 1ull << 10 },
	{ 'M', 1ull << 20 },
	{ 'G', 1ull << 30 },
	{ 0, 0 },
};
static const struct suffix sfx_seconds[] = {
	{ 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 }, { 0, 0 },
};
static const struct suffix sfx_none[] = { { 0, 0 } };

static const struct conf_word words_backend[] = {
	{ "auto", CONF_BACKEND_AUTO },
	{ "io_uring", CONF_BACKEND_IO_URING },
	{ "mmsg", CONF_BACKEND_MMSG },
	{ NULL, 0 },
};

static const struct conf_word words_huge[] = {
	{ "auto", CONF_HUGE_AUTO },
	{ "yes", CONF_HUGE_YES },
	{ "no", CONF_HUGE_NO },
	{ NULL, 0 },
};

static const struct conf_word words_log_level[] = {
	{ "err", LOG_ERR },   { "warning", LOG_WARNING }, { "notice", LOG_NOTICE },
	{ "info", LOG_INFO }, { "debug", LOG_DEBUG },	  { NULL, 0 },
};

static const struct conf_word words_access[] = {
	{ "off", CONF_ACCESS_OFF },
	{ "allow", CONF_ACCESS_ALLOW },
	{ "deny", CONF_ACCESS_DENY },
	{ NULL, 0 },
};

/* URL schemes: the value is the length of the prefix. */
static const struct conf_word words_tracker_schemes[] = {
	{ "udp://", 6 },
	{ "http://", 7 },
	{ "https://", 8 },
	{ NULL, 0 },
};

static const struct conf_word words_web_schemes[] = {
	{ "http://", 7 },
	{ "https://", 8 },
	{ NULL, 0 },
};

/* A user or group name (or a numeric id): [A-Za-z0-9_.-], at most 32, not starting with '-'. */
static int check_name(const char *v, char *out, size_t outlen, char *why, size_t len)
{
	size_t n = strlen(v);

	if (n == 0 || n > 32 || v[0] == '-' || n >= outlen) {
		snprintf(why, len, "'%.*s' is not a user or group name", 64, v);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		char ch = v[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == '-')) {
			snprintf(why, len, "'%.*s' is not a user or group name", 64, v);
			return -EINVAL;
		}
	}
	memcpy(out, v, n + 1);
	return 0;
}

/* "none" or up to RATELIMIT_EXEMPT_MAX prefixes separated by spaces. */
static int check_prefixes(const char *v, char *out, size_t outlen, char *why, size_t len)
{
	char word[BANS_PREFIX_STRLEN];
	struct bans_prefix p;
	unsigned n = 0;
	const char *s = v;

	if (!strcasecmp(v, "none")) {
		out[0] = '\0';
		return 0;
	}
	if (strlen(v) >= outlen) {
		snprintf(why, len, "list too long");
		return -EINVAL;
	}
	while (*s) {
		size_t wl = strcspn(s, " \t");

		if (wl == 0) {
			s++;
			continue;
		}
		if (wl >= sizeof(word) || ++n > RATELIMIT_EXEMPT_MAX) {
			snprintf(why, len, "at most %u prefixes", (unsigned)RATELIMIT_EXEMPT_MAX);
			return -EINVAL;
		}
		memcpy(word, s, wl);
		word[wl] = '\0';
		if (bans_parse_prefix(word, &p) < 0) {
			snprintf(why, len,
				 "'%s' is not an address prefix (203.0.113.0/24, 2001:db8::/48 or "
				 "an address)",
				 word);
			return -EINVAL;
		}
		s += wl;
	}
	memcpy(out, v, strlen(v) + 1);
	return 0;
}

/* clang-format off */
/*
 * offsetof() of a struct conf field, refused at compile time when the field
 * does not have the C type that the row's conf_type stores through.
 */
#define FIELD(f, type) (offsetof(struct conf, f) + 0 * sizeof(char[ \
	__builtin_types_compatible_p(__typeof__(((struct conf *)0)->f), type) ? 1 : -1]))
#define FIELD_ENUM(f) (offsetof(struct conf, f) + 0 * sizeof(char[ \
	sizeof(((struct conf *)0)->f) == sizeof(int) ? 1 : -1]))

#define K_BOOL(n, rl, def, desc) \
	{ #n, CT_BOOL, rl, FIELD(n, bool), 0, 0, 1, 0, NULL, def, desc }
#define K_UINT(n, t, rl, lo, hi, fl, def, desc) \
	{ #n, t, rl, FIELD(n, unsigned), 0, lo, hi, fl, NULL, def, desc }
#define K_COUNT(n, rl, lo, hi, def, desc) \
	{ #n, CT_COUNT, rl, FIELD(n, uint64_t), 0, lo, hi, 0, NULL, def, desc }
#define K_ENUM(n, rl, w, def, desc) \
	{ #n, CT_ENUM, rl, FIELD_ENUM(n), 0, 0, 0, 0, w, def, desc }
#define K_PATH(n, rl, hi, def, desc) \
	{ #n, CT_PATH, rl, FIELD(n, char[CONF_PATH_MAX]), 0, 1, hi, 0, NULL, def, desc }
#define K_URL(n, rl, schemes, def, desc) \
	{ #n, CT_URL, rl, FIELD(n, char[CONF_PATH_MAX]), 0, 0, CONF_PATH_MAX - 1, 0, schemes, \
	  def, desc }
#define K_STRING(n, rl, chk, def, desc) \
	{ #n, CT_STRING, rl, FIELD(n, char[CONF_PATH_MAX]), 0, 0, CONF_PATH_MAX - 1, 0, NULL, \
	  def, desc, chk }
#define K_OPTPATH(n, rl, def, desc) \
	{ #n, CT_OPTPATH, rl, FIELD(n, char[CONF_PATH_MAX]), 0, 1, CONF_PATH_MAX - 1, 0, NULL, \
	  def, desc }

static const struct conf_key conf_keys[] = {
	/* network */
	{ "listen_ipv4", CT_LISTEN4, CONF_RELOAD_SOCKETS,
	  FIELD(listen4, struct sockaddr_in), FIELD(listen4_enabled, bool), 0, 0, 0, NULL,
	  "0.0.0.0:6969", "IPv4 UDP address and port to serve, or none" },
	{ "listen_ipv6", CT_LISTEN6, CONF_RELOAD_SOCKETS,
	  FIELD(listen6, struct sockaddr_in6), FIELD(listen6_enabled, bool), 0, 0, 0, NULL,
	  "[::]:6969", "IPv6 UDP address and port to serve, or none" },
	K_BOOL(ipv6_only, CONF_RELOAD_SOCKETS, "yes",
	       "IPv6 socket refuses IPv4-mapped traffic (IPV6_V6ONLY)"),
	K_UINT(workers, CT_UINT, CONF_RELOAD_LIVE, 0, 256, 0, "0",
	       "socket worker processes, 0 = one per online CPU"),
	K_ENUM(io_backend, CONF_RELOAD_LIVE, words_backend, "auto",
	       "worker I/O: auto, io_uring or mmsg (recvmmsg/sendmmsg)"),
	K_UINT(socket_recv_buffer, CT_BYTES, CONF_RELOAD_SOCKETS, 0, 1ull << 30, 0, "8M",
	       "SO_RCVBUF of each UDP socket in bytes, 0 = kernel default"),
	K_UINT(socket_send_buffer, CT_BYTES, CONF_RELOAD_SOCKETS, 0, 1ull << 30, 0, "4M",
	       "SO_SNDBUF of each UDP socket in bytes, 0 = kernel default"),
	K_UINT(ring_entries, CT_UINT, CONF_RELOAD_LIVE, 64, 32768, CF_POW2, "512",
	       "io_uring submission queue entries per worker, a power of two"),

	/* files */
	K_PATH(control_socket, CONF_RELOAD_SOCKETS, CONF_SUN_PATH_MAX,
	       "/run/trackerd/control.sock", "path of the trackerctl Unix socket"),
	K_PATH(state_directory, CONF_RELOAD_SOCKETS, CONF_PATH_MAX - 1,
	       "/var/lib/trackerd", "directory for snapshots of the swarm table"),

	/* protocol */
	K_UINT(announce_interval, CT_SECONDS, CONF_RELOAD_LIVE, 60, 86400, 0, "1800",
	       "seconds between announces, told to clients"),
	K_UINT(peer_max_age, CT_SECONDS, CONF_RELOAD_LIVE, 60, 43200, 0, "2700",
	       "seconds a peer is kept without announcing"),
	K_UINT(numwant_default, CT_UINT, CONF_RELOAD_LIVE, 1, 242, 0, "50",
	       "peers returned when the client asks for 0 or fewer"),
	K_UINT(numwant_max, CT_UINT, CONF_RELOAD_LIVE, 1, 242, 0, "200",
	       "most peers in one announce reply"),
	K_UINT(scrape_max, CT_UINT, CONF_RELOAD_LIVE, 1, 74, 0, "74",
	       "info-hashes answered per scrape request"),
	K_UINT(connid_max_age, CT_SECONDS, CONF_RELOAD_LIVE, 60, 86400, 0, "300",
	       "seconds a connection id stays valid"),

	/* store capacity */
	K_COUNT(max_torrents, CONF_RELOAD_SEGMENT, 1000ull, 1000000000ull, "1M",
		"most torrents in the table"),
	K_COUNT(max_peers, CONF_RELOAD_SEGMENT, 1000ull, 4000000000ull, "4M",
		"most IPv4 peers over all torrents"),
	K_COUNT(max_peers_ipv6, CONF_RELOAD_SEGMENT, 0, 1000000000ull, "1M",
		"most IPv6 peers over all torrents"),
	K_ENUM(huge_pages, CONF_RELOAD_SEGMENT, words_huge, "auto",
	       "back the segment with 2 MiB pages: auto, yes or no"),

	/* control process */
	K_UINT(cleaning_interval, CT_SECONDS, CONF_RELOAD_LIVE, 1, 86400, 0, "120",
	       "seconds for one full pass that drops expired peers"),
	K_UINT(torrent_keep, CT_SECONDS, CONF_RELOAD_LIVE, 0, 31536000, 0, "86400",
	       "seconds an empty torrent with completed > 0 is kept"),
	K_UINT(stats_interval, CT_SECONDS, CONF_RELOAD_LIVE, 0, 86400, 0, "0",
	       "seconds between summary log lines, 0 = off"),
	K_UINT(snapshot_interval, CT_SECONDS, CONF_RELOAD_LIVE, 0, 604800, 0, "600",
	       "seconds between snapshots to state_directory, 0 = only at stop and save"),
	K_ENUM(log_level, CONF_RELOAD_LIVE, words_log_level, "info",
	       "least important messages logged: err, warning, notice, info, debug"),

	/* metrics endpoint and statistics page */
	{ "metrics_listen", CT_LISTEN_TCP, CONF_RELOAD_LIVE,
	  FIELD(metrics_listen, struct sockaddr_storage), FIELD(metrics_listen_enabled, bool), 0, 0,
	  0, NULL, "none", "TCP address and port of the HTTP metrics endpoint, or none" },
	K_URL(tracker_url, CONF_RELOAD_LIVE, words_tracker_schemes, "none",
	      "announce URL shown on the statistics page, or none"),
	K_URL(homepage_url, CONF_RELOAD_LIVE, words_web_schemes, "none",
	      "http(s) link to the operator's site on the statistics page, or none"),
	K_OPTPATH(stats_html_path, CONF_RELOAD_LIVE, "none",
		  "file the statistics page is written to, or none"),

	/* access list */
	K_ENUM(access_list_mode, CONF_RELOAD_LIVE, words_access, "off",
	       "info-hash access list: off, allow (only listed) or deny (listed refused)"),
	K_OPTPATH(access_list_path, CONF_RELOAD_LIVE, "none",
		  "file of the access list, one 40-hex info-hash a line, or none"),
	K_COUNT(access_list_max, CONF_RELOAD_SEGMENT, 0, 100000000ull, "1M",
		"most info-hashes on the access list (reserves 62 bytes each)"),

	/* privileges and sandbox */
	K_STRING(user, CONF_RELOAD_SOCKETS, check_name, "trackerd",
		 "user to switch to when started as root (nobody if missing; root: stay root)"),
	K_STRING(group, CONF_RELOAD_SOCKETS, check_name, "trackerd",
		 "group to switch to when started as root (the user's group if missing)"),
	K_BOOL(seccomp, CONF_RELOAD_LIVE, "yes",
	       "workers allow only the system calls they need (seccomp filter)"),

	/* abuse limits */
	K_UINT(ratelimit_requests_per_second, CT_UINT, CONF_RELOAD_LIVE, 0, RATELIMIT_RATE_MAX, 0,
	       "200", "requests per second one source may send, 0 = no limit"),
	K_UINT(ratelimit_burst, CT_UINT, CONF_RELOAD_LIVE, 1, RATELIMIT_BURST_MAX, 0, "1000",
	       "requests one source may send at once before the rate applies"),
	K_COUNT(ratelimit_slots, CONF_RELOAD_SEGMENT, 0, RATELIMIT_SLOTS_MAX, "1M",
		"token buckets shared by all sources (8 bytes each), 0 = no rate limit"),
	K_UINT(source_ipv4_prefix, CT_UINT, CONF_RELOAD_LIVE, 8, 32, 0, "32",
	       "IPv4 prefix length that counts as one source for the limits"),
	K_UINT(source_ipv6_prefix, CT_UINT, CONF_RELOAD_LIVE, 16, 128, 0, "64",
	       "IPv6 prefix length that counts as one source for the limits"),
	K_UINT(max_peers_per_source, CT_UINT, CONF_RELOAD_LIVE, 0, 65535, 0, "32",
	       "peers one source may store in one torrent, 0 = no cap"),
	K_STRING(limits_exempt, CONF_RELOAD_LIVE, check_prefixes, "127.0.0.0/8 ::1",
		 "prefixes exempt from the rate limit and the source cap, or none"),
	K_COUNT(ban_max, CONF_RELOAD_SEGMENT, 0, BANS_MAX_LIMIT, "4096",
		"most prefixes on the ban list (trackerctl ban)"),
};
/* clang-format on */

#define CONF_NKEYS (sizeof(conf_keys) / sizeof(conf_keys[0]))

static const struct conf_key *find_key(const char *name, size_t len)
{
	for (size_t i = 0; i < CONF_NKEYS; i++)
		if (strlen(conf_keys[i].name) == len && !memcmp(conf_keys[i].name, name, len))
			return &conf_keys[i];
	return NULL;
}

static void *field(struct conf *c, size_t off)
{
	return (char *)c + off;
}

static const void *cfield(const struct conf *c, size_t off)
{
	return (const char *)c + off;
}

static const struct suffix *suffixes_of(enum conf_type t)
{
	switch (t) {
	case CT_COUNT:
		return sfx_count;
	case CT_BYTES:
		return sfx_bytes;
	case CT_SECONDS:
		return sfx_seconds;
	default:
		return sfx_none;
	}
}

/*
 * Decimal digits and at most one suffix letter. -EINVAL on syntax,
 * -ERANGE when the value does not fit in 64 bits.
 */
static int parse_number(const char *s, const struct suffix *sfx, uint64_t *ret)
{
	uint64_t v = 0;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, *p - '0', &v))
			return -ERANGE;
	}
	if (*p) {
		const struct suffix *x;

		for (x = sfx; x->c; x++)
			if (x->c == *p)
				break;
		if (!x->c || p[1])
			return -EINVAL;
		if (__builtin_mul_overflow(v, x->mul, &v))
			return -ERANGE;
	}
	*ret = v;
	return 0;
}

/*
 * The shortest exact rendering with the type's suffixes ("8M", "4G",
 * "1800"); of two equal suffixes the first in the table (k for counts, K for
 * sizes) is printed.
 */
static void format_number(enum conf_type t, uint64_t v, char *buf, size_t len)
{
	const struct suffix *best = NULL;

	if (t == CT_COUNT || t == CT_BYTES) {
		for (const struct suffix *x = suffixes_of(t); x->c; x++)
			if (v && v % x->mul == 0 && (!best || x->mul > best->mul))
				best = x;
	}
	if (best)
		snprintf(buf, len, "%llu%c", (unsigned long long)(v / best->mul), best->c);
	else
		snprintf(buf, len, "%llu", (unsigned long long)v);
}

static const char *type_hint(enum conf_type t)
{
	switch (t) {
	case CT_SECONDS:
		return " (seconds, optional s, m, h or d suffix)";
	case CT_BYTES:
		return " (bytes, optional K, M or G suffix, powers of 1024)";
	case CT_COUNT:
		return " (optional k, M or G suffix, powers of 1000)";
	default:
		return "";
	}
}

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

static int set_number(const struct conf_key *k, struct conf *c, const char *v, char *why,
		      size_t len)
{
	char lo[24], hi[24];
	uint64_t n;
	int r;

	format_number(k->type, k->min, lo, sizeof(lo));
	format_number(k->type, k->max, hi, sizeof(hi));
	r = parse_number(v, suffixes_of(k->type), &n);
	if (r == -EINVAL) {
		snprintf(why, len, "invalid number '%.*s', expected %s..%s%s", CONF_VALUE_SHOW, v,
			 lo, hi, type_hint(k->type));
		return -EINVAL;
	}
	if (r < 0 || n < k->min || n > k->max || ((k->flags & CF_POW2) && !is_pow2(n))) {
		snprintf(why, len, "value '%.*s' out of range, expected %s%s..%s", CONF_VALUE_SHOW,
			 v, (k->flags & CF_POW2) ? "a power of two in " : "", lo, hi);
		return -EINVAL;
	}
	if (k->type == CT_COUNT)
		*(uint64_t *)field(c, k->off) = n;
	else
		*(unsigned *)field(c, k->off) = (unsigned)n;
	return 0;
}

static int parse_bool(const char *v)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!strcasecmp(v, yes[i]))
			return 1;
		if (!strcasecmp(v, no[i]))
			return 0;
	}
	return -EINVAL;
}

static int parse_word(const struct conf_word *w, const char *v)
{
	for (; w->name; w++)
		if (!strcasecmp(v, w->name))
			return w->value;
	return -EINVAL;
}

static void list_words(const struct conf_word *w, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = 0;
	for (const struct conf_word *x = w; x->name && n < len; x++) {
		const char *sep = x == w ? "" : x[1].name ? ", " : " or ";
		int r = snprintf(buf + n, len - n, "%s%s", sep, x->name);

		if (r < 0)
			break;
		n += (size_t)r;
	}
}

/* Port: 1..65535, decimal digits only. */
static int parse_port(const char *s, uint16_t *ret)
{
	uint64_t v;

	if (parse_number(s, sfx_none, &v) < 0 || v < 1 || v > 65535)
		return -EINVAL;
	*ret = (uint16_t)v;
	return 0;
}

static int set_listen4(const struct conf_key *k, struct conf *c, const char *v, char *why,
		       size_t len)
{
	struct sockaddr_in sa = { 0 };
	char host[INET_ADDRSTRLEN];
	const char *colon;
	uint16_t port;

	if (!strcasecmp(v, "none")) {
		*(bool *)field(c, k->off_flag) = false;
		return 0;
	}
	colon = strrchr(v, ':');
	if (!colon || (size_t)(colon - v) >= sizeof(host))
		goto bad;
	memcpy(host, v, (size_t)(colon - v));
	host[colon - v] = 0;
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		goto bad;
	if (parse_port(colon + 1, &port) < 0) {
		snprintf(why, len, "invalid port in '%.*s', expected 1..65535", CONF_VALUE_SHOW, v);
		return -EINVAL;
	}
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	memcpy(field(c, k->off), &sa, sizeof(sa));
	*(bool *)field(c, k->off_flag) = true;
	return 0;
bad:
	snprintf(why, len, "invalid address '%.*s', expected A.B.C.D:PORT or none", CONF_VALUE_SHOW,
		 v);
	return -EINVAL;
}

static int set_listen6(const struct conf_key *k, struct conf *c, const char *v, char *why,
		       size_t len)
{
	struct sockaddr_in6 sa = { 0 };
	char host[INET6_ADDRSTRLEN];
	const char *end;
	uint16_t port;

	if (!strcasecmp(v, "none")) {
		*(bool *)field(c, k->off_flag) = false;
		return 0;
	}
	end = strstr(v, "]:");
	if (v[0] != '[' || !end || (size_t)(end - v - 1) >= sizeof(host))
		goto bad;
	memcpy(host, v + 1, (size_t)(end - v - 1));
	host[end - v - 1] = 0;
	if (inet_pton(AF_INET6, host, &sa.sin6_addr) != 1)
		goto bad;
	if (IN6_IS_ADDR_V4MAPPED(&sa.sin6_addr)) {
		snprintf(why, len, "'%.*s' is an IPv4-mapped address, use listen_ipv4",
			 CONF_VALUE_SHOW, v);
		return -EINVAL;
	}
	if (parse_port(end + 2, &port) < 0) {
		snprintf(why, len, "invalid port in '%.*s', expected 1..65535", CONF_VALUE_SHOW, v);
		return -EINVAL;
	}
	sa.sin6_family = AF_INET6;
	sa.sin6_port = htons(port);
	memcpy(field(c, k->off), &sa, sizeof(sa));
	*(bool *)field(c, k->off_flag) = true;
	return 0;
bad:
	snprintf(why, len, "invalid address '%.*s', expected [ADDRESS]:PORT or none",
		 CONF_VALUE_SHOW, v);
	return -EINVAL;
}

static int set_path(const struct conf_key *k, struct conf *c, const char *v, char *why, size_t len)
{
	size_t n = strlen(v);

	if (v[0] != '/') {
		snprintf(why, len, "'%.*s' is not an absolute path", CONF_VALUE_SHOW, v);
		return -EINVAL;
	}
	if (n > k->max) {
		snprintf(why, len, "path too long (%zu characters, at most %llu)", n,
			 (unsigned long long)k->max);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f) {
			snprintf(why, len, "control character in path");
			return -EINVAL;
		}
	}
	memcpy(field(c, k->off), v, n + 1);
	return 0;
}

static int set_listen_tcp(const struct conf_key *k, struct conf *c, const char *v, char *why,
			  size_t len)
{
	struct sockaddr_storage ss = { 0 };
	struct conf tmp = *c;
	struct conf_key sub = *k;
	int r;

	/* Parse with the UDP keys' rules into a scratch struct, then copy. */
	if (!strcasecmp(v, "none")) {
		*(bool *)field(c, k->off_flag) = false;
		return 0;
	}
	sub.off_flag = offsetof(struct conf, metrics_listen_enabled);
	if (v[0] == '[') {
		sub.off = offsetof(struct conf, listen6);
		r = set_listen6(&sub, &tmp, v, why, len);
		if (r < 0)
			return r;
		memcpy(&ss, &tmp.listen6, sizeof(tmp.listen6));
	} else {
		sub.off = offsetof(struct conf, listen4);
		r = set_listen4(&sub, &tmp, v, why, len);
		if (r < 0) {
			snprintf(why, len,
				 "invalid address '%.*s', expected A.B.C.D:PORT, [ADDRESS]:PORT or "
				 "none",
				 CONF_VALUE_SHOW, v);
			return r;
		}
		memcpy(&ss, &tmp.listen4, sizeof(tmp.listen4));
	}
	memcpy(field(c, k->off), &ss, sizeof(ss));
	*(bool *)field(c, k->off_flag) = true;
	return 0;
}

static int set_url(const struct conf_key *k, struct conf *c, const char *v, char *why, size_t len)
{
	char words[96];
	size_t n = strlen(v);
	const struct conf_word *w;

	if (!strcasecmp(v, "none")) {
		*(char *)field(c, k->off) = 0;
		return 0;
	}
	for (w = k->words; w->name; w++)
		if (!strncasecmp(v, w->name, (size_t)w->value) && v[w->value])
			break;
	if (!w->name) {
		list_words(k->words, words, sizeof(words));
		snprintf(why, len, "'%.*s' is not a URL starting with %s", CONF_VALUE_SHOW, v,
			 words);
		return -EINVAL;
	}
	if (n > k->max) {
		snprintf(why, len, "URL too long (%zu characters, at most %llu)", n,
			 (unsigned long long)k->max);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)v[i] <= 0x20 || (unsigned char)v[i] >= 0x7f) {
			snprintf(why, len, "space, control or non-ASCII character in URL");
			return -EINVAL;
		}
	}
	memcpy(field(c, k->off), v, n + 1);
	return 0;
}

/* Parse v (already trimmed, non-empty) into k's field; why gets the reason. */
static int set_value(const struct conf_key *k, struct conf *c, const char *v, char *why, size_t len)
{
	char words[96];
	int r;

	switch (k->type) {
	case CT_BOOL:
		r = parse_bool(v);
		if (r < 0) {
			snprintf(why, len, "invalid boolean '%.*s', expected yes or no",
				 CONF_VALUE_SHOW, v);
			return -EINVAL;
		}
		*(bool *)field(c, k->off) = r;
		return 0;
	case CT_UINT:
	case CT_SECONDS:
	case CT_BYTES:
	case CT_COUNT:
		return set_number(k, c, v, why, len);
	case CT_ENUM:
		r = parse_word(k->words, v);
		if (r < 0) {
			list_words(k->words, words, sizeof(words));
			snprintf(why, len, "invalid value '%.*s', expected %s", CONF_VALUE_SHOW, v,
				 words);
			return -EINVAL;
		}
		*(int *)field(c, k->off) = r;
		return 0;
	case CT_PATH:
		return set_path(k, c, v, why, len);
	case CT_LISTEN4:
		return set_listen4(k, c, v, why, len);
	case CT_LISTEN6:
		return set_listen6(k, c, v, why, len);
	case CT_LISTEN_TCP:
		return set_listen_tcp(k, c, v, why, len);
	case CT_URL:
		return set_url(k, c, v, why, len);
	case CT_OPTPATH:
		if (!strcasecmp(v, "none")) {
			*(char *)field(c, k->off) = 0;
			return 0;
		}
		return set_path(k, c, v, why, len);
	case CT_STRING:
		for (const char *q = v; *q; q++) {
			if ((unsigned char)*q < 0x20 || (unsigned char)*q >= 0x7f) {
				snprintf(why, len, "control or non-ASCII character in value");
				return -EINVAL;
			}
		}
		return k->check(v, field(c, k->off), CONF_PATH_MAX, why, len);
	}
	snprintf(why, len, "internal error: unknown key type");
	return -EINVAL;
}

static void format_value(const struct conf_key *k, const struct conf *c, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	switch (k->type) {
	case CT_BOOL:
		snprintf(buf, len, "%s", *(const bool *)cfield(c, k->off) ? "yes" : "no");
		return;
	case CT_UINT:
	case CT_SECONDS:
	case CT_BYTES:
		format_number(k->type, *(const unsigned *)cfield(c, k->off), buf, len);
		return;
	case CT_COUNT:
		format_number(k->type, *(const uint64_t *)cfield(c, k->off), buf, len);
		return;
	case CT_ENUM: {
		int v = *(const int *)cfield(c, k->off);

		for (const struct conf_word *w = k->words; w->name; w++) {
			if (w->value == v) {
				snprintf(buf, len, "%s", w->name);
				return;
			}
		}
		snprintf(buf, len, "%d", v);
		return;
	}
	case CT_PATH:
		snprintf(buf, len, "%s", (const char *)cfield(c, k->off));
		return;
	case CT_LISTEN4: {
		struct sockaddr_in sa;

		if (!*(const bool *)cfield(c, k->off_flag)) {
			snprintf(buf, len, "none");
			return;
		}
		memcpy(&sa, cfield(c, k->off), sizeof(sa));
		inet_ntop(AF_INET, &sa.sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(sa.sin_port));
		return;
	}
	case CT_LISTEN6: {
		struct sockaddr_in6 sa;

		if (!*(const bool *)cfield(c, k->off_flag)) {
			snprintf(buf, len, "none");
			return;
		}
		memcpy(&sa, cfield(c, k->off), sizeof(sa));
		inet_ntop(AF_INET6, &sa.sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(sa.sin6_port));
		return;
	}
	case CT_LISTEN_TCP: {
		struct sockaddr_storage ss;

		if (!*(const bool *)cfield(c, k->off_flag)) {
			snprintf(buf, len, "none");
			return;
		}
		memcpy(&ss, cfield(c, k->off), sizeof(ss));
		if (ss.ss_family == AF_INET6) {
			const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;

			inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
			snprintf(buf, len, "[%s]:%u", host, ntohs(a->sin6_port));
		} else {
			const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;

			inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
			snprintf(buf, len, "%s:%u", host, ntohs(a->sin_port));
		}
		return;
	}
	case CT_URL:
	case CT_OPTPATH:
	case CT_STRING: {
		const char *v = cfield(c, k->off);

		snprintf(buf, len, "%s", *v ? v : "none");
		return;
	}
	}
	snprintf(buf, len, "?");
}

void conf_defaults(struct conf *c)
{
	char why[CONF_ERR_MAX];

	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < CONF_NKEYS; i++) {
		int r = set_value(&conf_keys[i], c, conf_keys[i].def, why, sizeof(why));

		/* A default the parser refuses is a bug in the table above. */
		if (r < 0)
			abort();
	}
}

static bool is_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* Trim blanks on both ends of [*s, *e). */
static void trim(const char **s, const char **e)
{
	while (*s < *e && is_blank(**s))
		(*s)++;
	while (*e > *s && is_blank((*e)[-1]))
		(*e)--;
}

/*
 * Apply one "key = value" (text [s, e), comments already removed). where is
 * the message prefix ("FILE:LINE" or "-o"). seen[] (may be NULL) records the
 * line each key was set on, to refuse duplicates within one file.
 */
static int apply_setting(struct conf *c, const char *s, const char *e, const char *where,
			 unsigned line, unsigned *seen, char *err, size_t errlen)
{
	char value[CONF_LINE_MAX + 1];
	char why[CONF_ERR_MAX];
	const struct conf_key *k;
	const char *eq, *ks, *ke, *vs, *ve;
	int r;

	trim(&s, &e);
	eq = memchr(s, '=', (size_t)(e - s));
	ks = s;
	ke = eq ? eq : e;
	trim(&ks, &ke);
	if (!eq) {
		/* Name the first word so the message points at something. */
		for (ke = ks; ke < e && !is_blank(*ke); ke++)
			;
		snprintf(err, errlen, "%s: key '%.*s': missing '=', expected KEY = VALUE", where,
			 (int)(ke - ks > CONF_VALUE_SHOW ? CONF_VALUE_SHOW : ke - ks), ks);
		return -EINVAL;
	}
	if (ks == ke) {
		snprintf(err, errlen, "%s: missing key before '='", where);
		return -EINVAL;
	}
	k = find_key(ks, (size_t)(ke - ks));
	if (!k) {
		snprintf(err, errlen, "%s: key '%.*s': unknown key", where,
			 (int)(ke - ks > CONF_VALUE_SHOW ? CONF_VALUE_SHOW : ke - ks), ks);
		return -EINVAL;
	}
	vs = eq + 1;
	ve = e;
	trim(&vs, &ve);
	if (vs == ve) {
		snprintf(err, errlen, "%s: key '%s': missing value", where, k->name);
		return -EINVAL;
	}
	if ((size_t)(ve - vs) >= sizeof(value) || memchr(vs, 0, (size_t)(ve - vs))) {
		snprintf(err, errlen, "%s: key '%s': value too long or contains a NUL byte", where,
			 k->name);
		return -EINVAL;
	}
	if (seen && seen[k - conf_keys]) {
		snprintf(err, errlen, "%s: key '%s': duplicate, already set on line %u", where,
			 k->name, seen[k - conf_keys]);
		return -EINVAL;
	}
	memcpy(value, vs, (size_t)(ve - vs));
	value[ve - vs] = 0;
	r = set_value(k, c, value, why, sizeof(why));
	if (r < 0) {
		snprintf(err, errlen, "%s: key '%s': %s", where, k->name, why);
		return r;
	}
	if (seen)
		seen[k - conf_keys] = line;
	return 0;
}

/* Parse a whole file held in buf[0..len) into *c. */
static int parse_buffer(struct conf *c, const char *path, const char *buf, size_t len, char *err,
			size_t errlen)
{
	unsigned seen[CONF_NKEYS] = { 0 };
	const char *p = buf, *end = buf + len;
	char where[CONF_PATH_MAX + 32];
	unsigned line = 0;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		const char *s = p, *e = le;
		int r;

		line++;
		p = nl ? nl + 1 : end;
		if ((size_t)(le - s) > CONF_LINE_MAX) {
			snprintf(err, errlen, "%s:%u: line too long (more than %u characters)",
				 path, line, CONF_LINE_MAX);
			return -EINVAL;
		}
		if (memchr(s, 0, (size_t)(le - s))) {
			snprintf(err, errlen, "%s:%u: NUL byte in line", path, line);
			return -EINVAL;
		}
		trim(&s, &e);
		if (s == e || *s == '#')
			continue;
		snprintf(where, sizeof(where), "%s:%u", path, line);
		/* A comment starts at a '#' that follows a blank. */
		for (const char *q = s + 1; q < e; q++) {
			if (*q == '#' && is_blank(q[-1])) {
				e = q;
				break;
			}
		}
		r = apply_setting(c, s, e, where, line, seen, err, errlen);
		if (r < 0)
			return r;
	}
	return 0;
}

int conf_load_file(struct conf *c, const char *path, char *err, size_t errlen)
{
	struct conf tmp = *c;
	struct stat st;
	size_t len = 0;
	char *buf;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: cannot stat: %s", path, strerror(-r));
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		snprintf(err, errlen, "%s: not a regular file", path);
		goto out_close;
	}
	buf = malloc(CONF_FILE_MAX + 1);
	if (!buf) {
		r = -ENOMEM;
		snprintf(err, errlen, "%s: out of memory", path);
		goto out_close;
	}
	/* Read to EOF, at most one byte past the limit to detect a larger file. */
	while (len <= CONF_FILE_MAX) {
		ssize_t n = read(fd, buf + len, CONF_FILE_MAX + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			snprintf(err, errlen, "%s: cannot read: %s", path, strerror(-r));
			goto out_free;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > CONF_FILE_MAX) {
		r = -EFBIG;
		snprintf(err, errlen, "%s: file too large (more than %u bytes)", path,
			 CONF_FILE_MAX);
		goto out_free;
	}
	r = parse_buffer(&tmp, path, buf, len, err, errlen);
	if (r == 0)
		*c = tmp;
out_free:
	free(buf);
out_close:
	close(fd);
	return r;
}

int conf_set_option(struct conf *c, const char *kv, char *err, size_t errlen)
{
	struct conf tmp = *c;
	size_t n = strlen(kv);
	int r;

	if (n > CONF_LINE_MAX) {
		snprintf(err, errlen, "-o: option too long (more than %u characters)",
			 CONF_LINE_MAX);
		return -EINVAL;
	}
	r = apply_setting(&tmp, kv, kv + n, "-o", 0, NULL, err, errlen);
	if (r == 0)
		*c = tmp;
	return r;
}

int conf_validate(const struct conf *c, char *err, size_t errlen)
{
	if (!c->listen4_enabled && !c->listen6_enabled) {
		snprintf(err, errlen,
			 "key 'listen_ipv4': no listen address, listen_ipv4 and listen_ipv6 are "
			 "both none");
		return -EINVAL;
	}
	if (c->announce_interval >= c->peer_max_age) {
		snprintf(err, errlen,
			 "key 'announce_interval': %u must be less than peer_max_age (%u), or "
			 "peers expire between announces",
			 c->announce_interval, c->peer_max_age);
		return -EINVAL;
	}
	if (c->numwant_default > c->numwant_max) {
		snprintf(err, errlen, "key 'numwant_default': %u must not exceed numwant_max (%u)",
			 c->numwant_default, c->numwant_max);
		return -EINVAL;
	}
	if (c->access_list_mode != CONF_ACCESS_OFF && !c->access_list_path[0]) {
		snprintf(err, errlen,
			 "key 'access_list_mode': an access list needs access_list_path");
		return -EINVAL;
	}
	return 0;
}

void conf_print(const struct conf *c, FILE *f)
{
	char value[CONF_PATH_MAX + 8];

	for (size_t i = 0; i < CONF_NKEYS; i++) {
		const struct conf_key *k = &conf_keys[i];

		format_value(k, c, value, sizeof(value));
		fprintf(f, "%-18s = %-26s # default: %s; %s\n", k->name, value, k->def, k->desc);
	}
}

/* Bytes of a key's value field. */
static size_t value_size(enum conf_type t)
{
	switch (t) {
	case CT_BOOL:
		return sizeof(bool);
	case CT_UINT:
	case CT_SECONDS:
	case CT_BYTES:
		return sizeof(unsigned);
	case CT_COUNT:
		return sizeof(uint64_t);
	case CT_ENUM:
		return sizeof(int);
	case CT_LISTEN4:
		return sizeof(struct sockaddr_in);
	case CT_LISTEN6:
		return sizeof(struct sockaddr_in6);
	case CT_LISTEN_TCP:
		return sizeof(struct sockaddr_storage);
	case CT_PATH:
	case CT_URL:
	case CT_OPTPATH:
	case CT_STRING:
		return CONF_PATH_MAX;
	}
	return 0;
}

void conf_keep_restart_keys(const struct conf *cur, struct conf *nc)
{
	for (size_t i = 0; i < CONF_NKEYS; i++) {
		const struct conf_key *k = &conf_keys[i];

		if (k->reload == CONF_RELOAD_LIVE)
			continue;
		memcpy((char *)nc + k->off, cfield(cur, k->off), value_size(k->type));
		if (k->type == CT_LISTEN4 || k->type == CT_LISTEN6 || k->type == CT_LISTEN_TCP)
			memcpy((char *)nc + k->off_flag, cfield(cur, k->off_flag), sizeof(bool));
	}
}

int conf_diff_restart_keys(const struct conf *a, const struct conf *b, char *names, size_t len)
{
	char va[CONF_PATH_MAX + 8], vb[CONF_PATH_MAX + 8];
	size_t used = 0;
	int n = 0;

	if (len)
		names[0] = 0;
	for (size_t i = 0; i < CONF_NKEYS; i++) {
		const struct conf_key *k = &conf_keys[i];
		int r;

		if (k->reload == CONF_RELOAD_LIVE)
			continue;
		format_value(k, a, va, sizeof(va));
		format_value(k, b, vb, sizeof(vb));
		if (!strcmp(va, vb))
			continue;
		if (used < len) {
			r = snprintf(names + used, len - used, "%s%s", n ? ", " : "", k->name);
			if (r > 0)
				used += (size_t)r;
		}
		n++;
	}
	return n;
}

int conf_parse_log_level(const char *s)
{
	return parse_word(words_log_level, s);
}

int conf_key_reload(const char *key)
{
	const struct conf_key *k = find_key(key, strlen(key));

	return k ? (int)k->reload : -EINVAL;
}

int conf_load(struct conf *c, const char *path, const char *const *overrides, unsigned noverrides,
	      char *err, size_t errlen)
{
	char why[CONF_ERR_MAX];
	struct conf tmp;
	int r;

	conf_defaults(&tmp);
	if (path) {
		r = conf_load_file(&tmp, path, err, errlen);
		if (r < 0)
			return r;
	}
	for (unsigned i = 0; i < noverrides; i++) {
		r = conf_set_option(&tmp, overrides[i], err, errlen);
		if (r < 0)
			return r;
	}
	r = conf_validate(&tmp, why, sizeof(why));
	if (r < 0) {
		snprintf(err, errlen, "%s%s: %s", path ? path : "built-in defaults",
			 noverrides ? " with -o" : "", why);
		return r;
	}
	*c = tmp;
	return 0;
}

void conf_segment_params(const struct conf *c, struct segment_params *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->max_torrents = c->max_torrents;
	ret->max_peers4 = c->max_peers;
	ret->max_peers6 = c->max_peers_ipv6;
	ret->max_access = c->access_list_max;
	ret->ratelimit_slots = c->ratelimit_slots;
	ret->ban_max = c->ban_max;
}
