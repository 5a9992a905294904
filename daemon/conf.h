/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * daemon/conf.h - configuration: the key table, defaults, file parser.
 *
 * A config file is "key = value" lines; '#' starts a comment (whole line or
 * after whitespace); blank lines are ignored. Every key lives in one table in
 * conf.c with its type, default, limits, reload behaviour and a one-line
 * description; --print-config, validation, reload and the man-page check
 * all read that table, so they cannot drift apart.
 *
 * Errors name file, line and key: "FILE:LINE: key 'KEY': REASON". Parsing
 * works on a copy: a failed load leaves the caller's struct conf untouched.
 */
#ifndef TRACKER_DAEMON_CONF_H
#define TRACKER_DAEMON_CONF_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define CONF_DEFAULT_PATH "/etc/trackerd/trackerd.conf"
#define CONF_PATH_MAX 256
#define CONF_ERR_MAX 512
/* Exit status for configuration errors (EX_CONFIG from sysexits.h). */
#define CONF_EXIT_CONFIG 78

enum conf_backend {
	CONF_BACKEND_AUTO = 0,
	CONF_BACKEND_IO_URING,
	CONF_BACKEND_MMSG,
};

/* huge_pages: back the segment with 2 MiB pages. */
enum conf_huge {
	CONF_HUGE_AUTO = 0, /* where the kernel can; say so once where not */
	CONF_HUGE_YES, /* or refuse to start */
	CONF_HUGE_NO, /* 4 KiB pages, faulted in as used */
};

/* access_list_mode; the values are shm/acl.h's enum acl_mode. */
enum conf_access {
	CONF_ACCESS_OFF = 0,
	CONF_ACCESS_ALLOW = 1,
	CONF_ACCESS_DENY = 2,
};

/* How a changed key takes effect on reload. */
enum conf_reload {
	CONF_RELOAD_LIVE = 0, /* applied to running processes / new workers */
	CONF_RELOAD_SOCKETS, /* needs new sockets: refused on reload */
	CONF_RELOAD_SEGMENT, /* needs a new segment: refused on reload */
};

struct conf {
	/* network */
	bool listen4_enabled;
	struct sockaddr_in listen4; /* listen_ipv4, default 0.0.0.0:6969 */
	bool listen6_enabled;
	struct sockaddr_in6 listen6; /* listen_ipv6, default [::]:6969 */
	bool ipv6_only; /* ipv6_only, default yes */
	unsigned workers; /* workers, 0 = one per online CPU */
	enum conf_backend io_backend; /* io_backend, default auto */
	unsigned socket_recv_buffer; /* socket_recv_buffer, bytes, 0 = kernel default */
	unsigned socket_send_buffer; /* socket_send_buffer, bytes, 0 = kernel default */
	unsigned ring_entries; /* ring_entries: io_uring submission queue size */

	/* files */
	char control_socket[CONF_PATH_MAX]; /* control_socket */
	char state_directory[CONF_PATH_MAX]; /* state_directory */

	/* protocol */
	unsigned announce_interval; /* seconds told to clients */
	unsigned peer_max_age; /* seconds a peer lives without announcing */
	unsigned numwant_default; /* peers when the client asks for <= 0 */
	unsigned numwant_max; /* most peers per reply (also capped by the MTU) */
	unsigned scrape_max; /* info-hashes answered per scrape, 1..74 */
	unsigned connid_max_age; /* seconds a connection id stays valid */

	/* store capacity (fixed for the life of the segment) */
	uint64_t max_torrents;
	uint64_t max_peers; /* IPv4 peers */
	uint64_t max_peers_ipv6; /* IPv6 peers */
	enum conf_huge huge_pages; /* huge_pages, default auto */

	/* control process */
	unsigned cleaning_interval; /* seconds for one full cleaning pass */
	unsigned torrent_keep; /* seconds an empty torrent with completed > 0 is kept */
	unsigned stats_interval; /* seconds between summary log lines, 0 = off */

	int log_level; /* LOG_ERR .. LOG_DEBUG */

	/* metrics endpoint and statistics page (added with the metrics issue) */
	bool metrics_listen_enabled;
	struct sockaddr_storage
		metrics_listen; /* metrics_listen: TCP, IPv4 or IPv6, default none */
	char tracker_url[CONF_PATH_MAX]; /* tracker_url: shown on the page, "" = none */
	char homepage_url[CONF_PATH_MAX]; /* homepage_url: http(s) link on the page, "" = none */
	char stats_html_path[CONF_PATH_MAX]; /* stats_html_path: page written there, "" = off */

	/* access list (added with the access-list part of the state issue) */
	enum conf_access access_list_mode; /* access_list_mode: off, allow, deny */
	char access_list_path[CONF_PATH_MAX]; /* access_list_path: one hex hash a line, "" = none */
	uint64_t access_list_max; /* access_list_max: hashes a list may hold (segment) */

	/* snapshots (added with the snapshot issue) */
	unsigned snapshot_interval; /* seconds between periodic snapshots, 0 = off */

	/* privileges and sandbox (added with the hardening issue) */
	char user[CONF_PATH_MAX]; /* user: switched to when started as root */
	char group[CONF_PATH_MAX]; /* group: likewise */
	bool seccomp; /* seccomp: workers install a system-call filter */

	/* abuse limits (added with the hardening issue) */
	unsigned ratelimit_requests_per_second; /* per source, 0 = off */
	unsigned ratelimit_burst; /* bucket size, requests */
	uint64_t ratelimit_slots; /* token buckets in the segment */
	unsigned source_ipv4_prefix; /* prefix length of one source, IPv4 */
	unsigned source_ipv6_prefix; /* likewise IPv6 */
	unsigned max_peers_per_source; /* per torrent and family, 0 = no cap */
	char limits_exempt[CONF_PATH_MAX]; /* limits_exempt: prefixes, "" = none */
	uint64_t ban_max; /* ban list entries in the segment */
};

/* Seconds between writes of stats_html_path when stats_interval is 0. */
#define CONF_STATS_HTML_INTERVAL 60u

/* Fill every key with its built-in default. */
void conf_defaults(struct conf *c);

/*
 * Parse the file at path over a copy of *c; on success copy back and return
 * 0. On failure return -EINVAL (or -errno when the file cannot be read),
 * leave *c untouched and write "FILE:LINE: key 'KEY': REASON" into err.
 */
int conf_load_file(struct conf *c, const char *path, char *err, size_t errlen);

/*
 * Apply one "KEY=VALUE" override (the -o option). Same error rules; the
 * error names "-o" instead of a file and line.
 */
int conf_set_option(struct conf *c, const char *kv, char *err, size_t errlen);

/*
 * Cross-key checks: at least one listen address, announce_interval <
 * peer_max_age, numwant_default <= numwant_max. Returns 0 or -EINVAL with
 * err filled.
 */
int conf_validate(const struct conf *c, char *err, size_t errlen);

/* Print every key as "key = value  # default: D; description", one a line. */
void conf_print(const struct conf *c, FILE *f);

/*
 * Keys whose value differs between a and b and that cannot change on a live
 * reload (CONF_RELOAD_SOCKETS or _SEGMENT): written comma-separated into
 * names. Returns how many.
 */
int conf_diff_restart_keys(const struct conf *a, const struct conf *b, char *names, size_t len);

/* Give every such key of nc the value it has in cur (a reload keeps them). */
void conf_keep_restart_keys(const struct conf *cur, struct conf *nc);

/* Parse a log level name ("err", "warning", "notice", "info", "debug"). */
int conf_parse_log_level(const char *s);

/*
 * The whole start-up and reload sequence in one call: built-in defaults,
 * then the file at path (skipped when path is NULL), then each override in
 * order, then conf_validate(). *c is written only on success; on failure
 * returns -EINVAL (or -errno from opening the file, e.g. -ENOENT) with err
 * filled and *c untouched.
 */
int conf_load(struct conf *c, const char *path, const char *const *overrides, unsigned noverrides,
	      char *err, size_t errlen);

/* How a change of the named key takes effect; -EINVAL for an unknown key. */
int conf_key_reload(const char *key);

struct segment_params;
/* The segment capacity the configuration asks for (shm/segment.h). */
void conf_segment_params(const struct conf *c, struct segment_params *ret);

#endif /* TRACKER_DAEMON_CONF_H */
