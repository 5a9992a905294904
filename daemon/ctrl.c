/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * daemon/ctrl.c - the control process: cleaning, statistics, trackerctl.
 *
 * Owns the periodic work on the shared table that no worker should do on
 * its hot path, and the control socket. It reads the workers' counter
 * blocks but never writes them, and it never touches a UDP socket.
 *
 * Design notes:
 * - Staggered cleaning: a full pass over the S stripes takes
 *   cleaning_interval seconds; stripe k of a pass is due at
 *   pass_start + k * interval / S, so one stripe lock is busy at a time and
 *   workers never see a stop-the-world pause. With 4096 stripes and 120 s
 *   that is a stripe every ~29 ms; when the interval is short the loop wakes
 *   at most every CTRL_TICK_MIN_MS and cleans every stripe that became due.
 * - Statistics: every second the blocks of all counter slots (live workers,
 *   drained generations and the retired block) are summed. A total never
 *   goes backwards, even for the instant in which the supervisor moves a
 *   reused slot's values into the retired block. The last CTRL_HIST sums
 *   are kept in a ring for rates over 1 s and 10 s.
 * - The control socket is served through daemon/ctlsrv.c; the handlers
 *   below only read (the table under one stripe lock at a time, the
 *   counters without locks). "reload" first checks the configuration
 *   itself, so that trackerctl can print a bad file's line and key; a good
 *   one is handed to the supervisor with SIGHUP, which replaces this
 *   process with one running on it, so the signal is sent after the reply
 *   has been written.
 * - Metrics: one struct metrics_figures, filled here from the fold, the
 *   segment and the cleaner, rendered by daemon/metrics.c for "trackerctl
 *   metrics" and GET /metrics and by daemon/statspage.c for GET / and the
 *   stats_html_path file, so all of them agree. The peers-per-torrent
 *   histogram is counted stripe by stripe right after each stripe is
 *   cleaned and published when a pass completes. The HTTP server
 *   (daemon/httpd.c) is polled in the same loop as the control socket.
 * - Snapshots (daemon/snapshot.c): written in this loop every
 *   snapshot_interval (counted from the newest file on disk, so frequent
 *   reloads do not postpone them), on "save", and once more when SIGTERM
 *   stops this process for a shutdown. When the supervisor replaces it at a
 *   reload it sends CTRL_SIG_REPLACE first, and no snapshot is written.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon/acclist.h"
#include "daemon/banlist.h"
#include "daemon/conf.h"
#include "daemon/ctlsrv.h"
#include "daemon/ctrl.h"
#include "daemon/httpd.h"
#include "daemon/log.h"
#include "daemon/metrics.h"
#include "daemon/snapshot.h"
#include "daemon/statspage.h"
#include "daemon/sup.h"
#include "shm/acl.h"
#include "shm/counters.h"
#include "shm/segment.h"
#include "shm/torrents.h"

#define CTRL_TICK_MIN_MS 10u
#define CTRL_FOLD_MS 1000u
#define CTRL_HIST 11u /* seconds of totals kept: rates over up to 10 s */

static const char *const family_names[COUNTERS_FAM__MAX] = { "ipv4", "ipv6" };

struct ctrl {
	const struct ctrl_params *p;
	const struct conf *conf;
	struct segment *seg;
	struct torrents *table;
	struct ctlsrv *srv;
	uint64_t started_ms;

	/* cleaning */
	unsigned nstripes;
	unsigned next_stripe;
	uint64_t pass_start; /* ms */
	uint64_t passes;
	uint64_t clean_errors;
	struct torrents_clean_result cleaned;

	/* statistics */
	uint64_t total[COUNTERS_FAM__MAX][COUNTERS__MAX];
	uint64_t hist[CTRL_HIST][COUNTERS_FAM__MAX][COUNTERS__MAX];
	unsigned hist_len; /* valid entries, newest at hist_pos */
	unsigned hist_pos;
	uint64_t next_fold;
	uint64_t next_summary;
	bool reload_requested;

	/* metrics endpoint, statistics page, the figures both show */
	struct httpd *http;
	struct metrics_rates rates;
	struct metrics_hist peers_hist; /* peers per torrent, last complete pass */
	struct metrics_hist hist_acc; /* the pass under way */
	struct metrics_figures fig; /* scratch for one rendering */
	uint64_t next_page; /* next write of stats_html_path */

	/* snapshots (daemon/snapshot.c) */
	uint64_t next_snapshot; /* ms; UINT64_MAX when snapshot_interval is 0 */
	struct snapshot_status snap; /* the newest one on disk, for the metrics */
	int page_failed_logged;
};

/* Set by CTRL_SIG_REPLACE: stopping to be replaced (reload), no final snapshot. */
static volatile sig_atomic_t ctrl_replaced;

static void on_replace(int sig)
{
	(void)sig;
	ctrl_replaced = 1;
}

static uint32_t boottime_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint32_t)ts.tv_sec;
}

/* --- cleaning -------------------------------------------------------------- */

/* Clean every stripe that is due; return the time the next one is due. */
static uint64_t clean_due(struct ctrl *c, uint64_t now)
{
	uint64_t interval = (uint64_t)c->conf->cleaning_interval * 1000u;
	uint64_t due;
	uint32_t t = boottime_s();

	if (!c->nstripes)
		return UINT64_MAX;
	if (c->next_stripe >= c->nstripes) {
		if (now < c->pass_start + interval)
			return c->pass_start + interval;
		/* Next pass; after a long stall do not try to catch up. */
		c->pass_start =
			now - c->pass_start - interval < interval ? c->pass_start + interval : now;
		c->next_stripe = 0;
		c->passes++;
	}
	if (c->next_stripe == 0)
		metrics_hist_reset(&c->hist_acc);
	if (now - c->pass_start >= interval) {
		/*
		 * Stalled mid-pass (stopped, swapped): go on at the normal pace, no
		 * burst. Round up, so that at least the next stripe is due now;
		 * rounding down could leave it never due on short intervals.
		 */
		c->pass_start =
			now - ((uint64_t)c->next_stripe * interval + c->nstripes - 1) / c->nstripes;
	}
	due = (now - c->pass_start) * c->nstripes / interval + 1;
	if (due > c->nstripes)
		due = c->nstripes;
	while (c->next_stripe < due) {
		struct torrents_clean_result r = { 0 };

		if (torrents_clean_stripe(c->table, c->next_stripe, t, c->conf->peer_max_age,
					  c->conf->torrent_keep, &r) < 0)
			c->clean_errors++;
		c->cleaned.peers4_removed += r.peers4_removed;
		c->cleaned.peers6_removed += r.peers6_removed;
		c->cleaned.torrents_removed += r.torrents_removed;
		/* What survived the cleaning goes into the peers-per-torrent histogram. */
		torrents_iterate_stripe(c->table, c->next_stripe, metrics_hist_visit, &c->hist_acc);
		c->next_stripe++;
		if (c->next_stripe == c->nstripes) {
			c->peers_hist = c->hist_acc;
			c->peers_hist.valid = true;
		}
	}
	if (c->next_stripe >= c->nstripes)
		return c->pass_start + interval;
	return c->pass_start + c->next_stripe * interval / c->nstripes;
}

/* --- statistics ------------------------------------------------------------ */

static void fold(struct ctrl *c)
{
	uint64_t sum[COUNTERS_FAM__MAX][COUNTERS__MAX];
	unsigned slot, f, i;

	memset(sum, 0, sizeof(sum));
	for (slot = 0; slot < SEGMENT_WORKER_SLOTS; slot++) {
		const struct counters_block *b = segment_counters(c->seg, slot);

		for (f = 0; f < COUNTERS_FAM__MAX; f++)
			for (i = 0; i < COUNTERS__MAX; i++)
				sum[f][i] += counters_read(b, f, (enum counters_id)i);
	}
	for (f = 0; f < COUNTERS_FAM__MAX; f++)
		for (i = 0; i < COUNTERS__MAX; i++)
			if (sum[f][i] > c->total[f][i])
				c->total[f][i] = sum[f][i];
}

/* The once-a-second fold: totals, then one sample for the rates. */
static void fold_tick(struct ctrl *c, uint64_t now_ms)
{
	fold(c);
	metrics_rates_sample(&c->rates, c->total, c->seg, now_ms);
	c->hist_pos = (c->hist_pos + 1) % CTRL_HIST;
	memcpy(c->hist[c->hist_pos], c->total, sizeof(c->total));
	if (c->hist_len < CTRL_HIST)
		c->hist_len++;
}

/* Per-second rate of one counter (both families) over up to secs seconds. */
static double rate(const struct ctrl *c, enum counters_id id, unsigned secs)
{
	unsigned back, old, f;
	uint64_t d = 0;

	if (c->hist_len < 2)
		return 0;
	back = secs < c->hist_len - 1 ? secs : c->hist_len - 1;
	old = (c->hist_pos + CTRL_HIST - back) % CTRL_HIST;
	for (f = 0; f < COUNTERS_FAM__MAX; f++)
		d += c->hist[c->hist_pos][f][id] - c->hist[old][f][id];
	return (double)d / back;
}

static double requests_rate(const struct ctrl *c, unsigned secs)
{
	return rate(c, COUNTERS_connect, secs) + rate(c, COUNTERS_announce, secs) +
	       rate(c, COUNTERS_scrape, secs);
}

static unsigned live_workers(const struct ctrl *c)
{
	unsigned slot, n = 0;

	for (slot = 0; slot < CTRL_RETIRED_SLOT; slot++)
		if (__atomic_load_n(&segment_counters(c->seg, slot)->pid, __ATOMIC_RELAXED))
			n++;
	return n;
}

static void log_summary(struct ctrl *c)
{
	struct torrents_gauges g;
	unsigned secs = c->conf->stats_interval < 10 ? c->conf->stats_interval : 10;

	torrents_get_gauges(c->table, &g);
	log_msg(LOG_INFO,
		"stats: workers=%u torrents=%llu peers=%llu (ipv4 %llu, ipv6 %llu) "
		"requests/s=%.0f (connect %.0f, announce %.0f, scrape %.0f) rx/s=%.0f",
		live_workers(c), (unsigned long long)g.torrents,
		(unsigned long long)(g.peers4 + g.peers6), (unsigned long long)g.peers4,
		(unsigned long long)g.peers6, requests_rate(c, secs),
		rate(c, COUNTERS_connect, secs), rate(c, COUNTERS_announce, secs),
		rate(c, COUNTERS_scrape, secs), rate(c, COUNTERS_rx_packets, secs));
}

/* --- control commands ------------------------------------------------------ */

static const char *backend_name(uint32_t b)
{
	return b == 1 ? "io_uring" : b == 2 ? "mmsg" : "starting";
}

static const char *const access_mode_names[] = { "off", "allow", "deny" };

static int cmd_status(struct ctrl *c, struct ctlsrv_reply *out)
{
	struct acl_info ai;
	struct torrents_gauges g;
	struct segment_params sp;
	uint64_t now = (uint64_t)time(NULL);
	unsigned slot;

	torrents_get_gauges(c->table, &g);
	segment_get_params(c->seg, &sp);
	ctlsrv_reply_printf(out, "version=%s\n", TRACKERD_VERSION);
	ctlsrv_reply_printf(out, "pid=%d\n", (int)c->p->sup_pid);
	ctlsrv_reply_printf(out, "uptime=%llu\n",
			    (unsigned long long)(now > c->p->started ? now - c->p->started : 0));
	ctlsrv_reply_printf(out, "generation=%u\n", c->p->generation);
	ctlsrv_reply_printf(out, "workers=%u\n", live_workers(c));
	ctlsrv_reply_printf(out, "workers_configured=%u\n", c->p->workers);
	ctlsrv_reply_printf(out, "torrents=%llu\n", (unsigned long long)g.torrents);
	ctlsrv_reply_printf(out, "peers=%llu\n", (unsigned long long)(g.peers4 + g.peers6));
	ctlsrv_reply_printf(out, "peers_ipv4=%llu\n", (unsigned long long)g.peers4);
	ctlsrv_reply_printf(out, "peers_ipv6=%llu\n", (unsigned long long)g.peers6);
	ctlsrv_reply_printf(out, "seeders=%llu\n", (unsigned long long)g.seeders);
	ctlsrv_reply_printf(out, "leechers=%llu\n", (unsigned long long)g.leechers);
	ctlsrv_reply_printf(out, "capacity_torrents=%llu\n", (unsigned long long)sp.max_torrents);
	ctlsrv_reply_printf(out, "capacity_peers_ipv4=%llu\n", (unsigned long long)sp.max_peers4);
	ctlsrv_reply_printf(out, "capacity_peers_ipv6=%llu\n", (unsigned long long)sp.max_peers6);
	ctlsrv_reply_printf(out, "segment_bytes=%zu\n", segment_size(c->seg));
	ctlsrv_reply_printf(out, "requests_per_second=%.1f\n", requests_rate(c, 10));
	ctlsrv_reply_printf(out, "requests_per_second_1s=%.1f\n", requests_rate(c, 1));
	ctlsrv_reply_printf(out, "cleaning_passes=%llu\n", (unsigned long long)c->passes);
	acl_get_info(segment_acl(c->seg), &ai);
	ctlsrv_reply_printf(out, "access_list_mode=%s\naccess_list_entries=%llu\n",
			    access_mode_names[ai.mode % 3], (unsigned long long)ai.count);
	/* Where each live worker runs and how it reads its sockets. */
	for (slot = 0; slot < CTRL_RETIRED_SLOT; slot++) {
		const struct counters_block *b = segment_counters(c->seg, slot);
		uint32_t pid = __atomic_load_n(&b->pid, __ATOMIC_RELAXED);

		if (!pid)
			continue;
		ctlsrv_reply_printf(out,
				    "worker.%u.pid=%u\nworker.%u.cpu=%d\nworker.%u.backend=%s\n",
				    slot, pid, slot, b->cpu, slot,
				    backend_name(__atomic_load_n(&b->backend, __ATOMIC_RELAXED)));
	}
	return 0;
}

static int cmd_stats(struct ctrl *c, struct ctlsrv_reply *out)
{
	struct torrents_gauges g;
	struct ctlsrv_stats cs;
	unsigned slot, f, i;

	fold(c); /* fresh values, not up to a second old */
	for (f = 0; f < COUNTERS_FAM__MAX; f++)
		for (i = 0; i < COUNTERS__MAX; i++)
			ctlsrv_reply_printf(out, "total.%s.%s=%llu\n", family_names[f],
					    counters_names[i], (unsigned long long)c->total[f][i]);
	for (slot = 0; slot < CTRL_RETIRED_SLOT; slot++) {
		const struct counters_block *b = segment_counters(c->seg, slot);

		if (!__atomic_load_n(&b->pid, __ATOMIC_RELAXED))
			continue;
		for (f = 0; f < COUNTERS_FAM__MAX; f++)
			for (i = 0; i < COUNTERS__MAX; i++)
				ctlsrv_reply_printf(out, "worker.%u.%s.%s=%llu\n", slot,
						    family_names[f], counters_names[i],
						    (unsigned long long)counters_read(
							    b, f, (enum counters_id)i));
	}
	torrents_get_gauges(c->table, &g);
	ctlsrv_reply_printf(out, "shm.torrents=%llu\n", (unsigned long long)g.torrents);
	ctlsrv_reply_printf(out, "shm.peers4=%llu\n", (unsigned long long)g.peers4);
	ctlsrv_reply_printf(out, "shm.peers6=%llu\n", (unsigned long long)g.peers6);
	ctlsrv_reply_printf(out, "shm.seeders=%llu\n", (unsigned long long)g.seeders);
	ctlsrv_reply_printf(out, "shm.leechers=%llu\n", (unsigned long long)g.leechers);
	ctlsrv_reply_printf(out, "shm.completed=%llu\n", (unsigned long long)g.completed);
	ctlsrv_reply_printf(out, "shm.lock_recoveries=%llu\n",
			    (unsigned long long)g.lock_recoveries);
	ctlsrv_reply_printf(out, "shm.lock_contended=%llu\n", (unsigned long long)g.lock_contended);
	ctlsrv_reply_printf(out, "shm.arena4_bytes_used=%llu\n",
			    (unsigned long long)g.arena4_bytes_used);
	ctlsrv_reply_printf(out, "shm.arena6_bytes_used=%llu\n",
			    (unsigned long long)g.arena6_bytes_used);
	ctlsrv_reply_printf(out, "shm.segment_bytes=%zu\n", segment_size(c->seg));
	ctlsrv_reply_printf(out, "clean.passes=%llu\n", (unsigned long long)c->passes);
	ctlsrv_reply_printf(out, "clean.errors=%llu\n", (unsigned long long)c->clean_errors);
	ctlsrv_reply_printf(out, "clean.peers4_removed=%llu\n",
			    (unsigned long long)c->cleaned.peers4_removed);
	ctlsrv_reply_printf(out, "clean.peers6_removed=%llu\n",
			    (unsigned long long)c->cleaned.peers6_removed);
	ctlsrv_reply_printf(out, "clean.torrents_removed=%llu\n",
			    (unsigned long long)c->cleaned.torrents_removed);
	ctlsrv_get_stats(c->srv, &cs);
	ctlsrv_reply_printf(out, "ctl.accepted=%llu\n", (unsigned long long)cs.accepted);
	ctlsrv_reply_printf(out, "ctl.requests_ok=%llu\n", (unsigned long long)cs.requests_ok);
	ctlsrv_reply_printf(out, "ctl.requests_error=%llu\n",
			    (unsigned long long)cs.requests_error);
	ctlsrv_reply_printf(out, "ctl.bad_requests=%llu\n", (unsigned long long)cs.bad_requests);
	ctlsrv_reply_printf(out, "ctl.denied=%llu\n", (unsigned long long)cs.denied);
	return ctlsrv_reply_printf(out, "ctl.timeouts=%llu\n", (unsigned long long)cs.timeouts);
}

/* Everything the metrics text and the HTML page show, from fresh totals. */
static const struct metrics_figures *collect_figures(struct ctrl *c)
{
	struct metrics_figures *f = &c->fig;
	struct httpd_stats hs;

	fold(c);
	memset(f, 0, sizeof(*f));
	metrics_collect(f, c->seg, boottime_s());
	f->version = TRACKERD_VERSION;
	f->now = (uint64_t)time(NULL);
	f->started = c->p->started;
	f->generation = c->p->generation;
	f->workers_configured = c->p->workers;
	f->reloads = c->p->generation ? c->p->generation - 1 : 0;
	memcpy(f->total, c->total, sizeof(f->total));
	metrics_rates_get(&c->rates, f);
	f->clean_stripe = c->next_stripe < c->nstripes ? c->next_stripe : c->nstripes;
	f->clean_stripes = c->nstripes;
	f->clean_passes = c->passes;
	f->clean_errors = c->clean_errors;
	f->cleaned = c->cleaned;
	f->hist = c->peers_hist;
	f->snapshot_valid = c->snap.valid;
	f->snapshot_time = c->snap.time;
	f->snapshot_bytes = c->snap.bytes;
	if (c->http) {
		httpd_get_stats(c->http, &hs);
		f->http_requests = hs.ok;
		f->http_rejected = hs.not_found + hs.bad_method + hs.failed;
		f->http_timeouts = hs.timeouts;
	}
	return f;
}

static int render_page(struct ctrl *c, const struct metrics_figures *f, struct metrics_buf *out)
{
	struct statspage_info info = { .tracker_url = c->conf->tracker_url,
				       .homepage_url = c->conf->homepage_url };

	return statspage_render(f, &info, out);
}

static int cmd_metrics(struct ctrl *c, struct ctlsrv_reply *out)
{
	struct metrics_buf b;
	int r;

	metrics_buf_init(&b, CTLPROTO_REPLY_MAX - 1024);
	r = metrics_render(collect_figures(c), &b);
	if (r == 0 && b.len)
		r = ctlsrv_reply_printf(out, "%s", b.data);
	metrics_buf_free(&b);
	return r;
}

/* GET / and GET /metrics, called by httpd_process(). */
static int http_render(void *ctx, enum httpd_page page, struct metrics_buf *out)
{
	struct ctrl *c = ctx;
	const struct metrics_figures *f = collect_figures(c);

	return page == HTTPD_PAGE_METRICS ? metrics_render(f, out) : render_page(c, f, out);
}

/* stats_html_path: the same page, replaced atomically. */
static void write_page(struct ctrl *c)
{
	struct metrics_buf b;
	int r;

	metrics_buf_init(&b, 0);
	r = render_page(c, collect_figures(c), &b);
	if (r == 0)
		r = statspage_write_file(c->conf->stats_html_path, b.data ? b.data : "", b.len);
	if (r < 0)
		log_once(LOG_WARNING, &c->page_failed_logged, "cannot write '%s': %s, ignoring",
			 c->conf->stats_html_path, strerror(-r));
	metrics_buf_free(&b);
}

static void open_http(struct ctrl *c)
{
	const struct sockaddr *sa = (const struct sockaddr *)&c->conf->metrics_listen;
	struct httpd_config cfg = { .render = http_render, .ctx = c };
	struct sockaddr_storage bound;
	char name[INET6_ADDRSTRLEN + 16];
	int r;

	httpd_format_address(sa, name, sizeof(name));
	r = httpd_open(sa,
		       sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
						   sizeof(struct sockaddr_in),
		       &cfg, &c->http);
	if (r < 0) {
		log_errno(LOG_ERR, r, "cannot serve metrics on %s, running without", name);
		c->http = NULL;
		return;
	}
	memcpy(&bound, sa,
	       sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
					   sizeof(struct sockaddr_in));
	if (bound.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&bound)->sin6_port = htons((uint16_t)httpd_port(c->http));
	else
		((struct sockaddr_in *)&bound)->sin_port = htons((uint16_t)httpd_port(c->http));
	httpd_format_address((const struct sockaddr *)&bound, name, sizeof(name));
	log_msg(LOG_NOTICE, "metrics on http://%s/metrics, statistics page on http://%s/", name,
		name);
}

static int cmd_workers(struct ctrl *c, struct ctlsrv_reply *out)
{
	uint32_t now = boottime_s();
	unsigned slot;

	for (slot = 0; slot < CTRL_RETIRED_SLOT; slot++) {
		const struct counters_block *b = segment_counters(c->seg, slot);
		uint32_t pid = __atomic_load_n(&b->pid, __ATOMIC_RELAXED);

		if (!pid)
			continue;
		ctlsrv_reply_printf(
			out,
			"slot=%u pid=%u cpu=%d backend=%s generation=%u uptime=%u "
			"restarts=%u heartbeat=%llu\n",
			slot, pid, b->cpu, backend_name(b->backend), b->generation,
			now >= b->started ? now - b->started : 0, b->restarts,
			(unsigned long long)__atomic_load_n(&b->heartbeat, __ATOMIC_RELAXED));
	}
	return 0;
}

static int parse_hash(const char *hex, uint8_t out[TORRENTS_HASH_LEN])
{
	unsigned i;

	for (i = 0; i < TORRENTS_HASH_LEN; i++) {
		unsigned v;

		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -EINVAL;
		out[i] = (uint8_t)v;
	}
	return 0;
}

/* Looking for one torrent in its stripe. */
struct torrent_find {
	const uint8_t *hash;
	struct torrents_view v; /* info_hash not kept: it points into the locked stripe */
	bool found;
};

static int find_visit(const struct torrents_view *v, void *arg)
{
	struct torrent_find *f = arg;

	if (memcmp(v->info_hash, f->hash, TORRENTS_HASH_LEN))
		return 0;
	f->v = *v;
	f->v.info_hash = NULL;
	f->found = true;
	return 1;
}

static int cmd_torrent(struct ctrl *c, const char *hex, struct ctlsrv_reply *out)
{
	uint8_t hash[TORRENTS_HASH_LEN];
	struct torrent_find f = { .hash = hash };
	unsigned i;

	if (parse_hash(hex, hash) < 0)
		return ctlsrv_reply_error(out, -EINVAL, "bad info-hash '%s'", hex);
	torrents_iterate_stripe(c->table, torrents_stripe_of(c->table, hash), find_visit, &f);
	if (!f.found)
		return ctlsrv_reply_error(out, -ENOENT, "unknown torrent");
	ctlsrv_reply_printf(out, "info_hash=");
	for (i = 0; i < TORRENTS_HASH_LEN; i++)
		ctlsrv_reply_printf(out, "%02x", hash[i]);
	return ctlsrv_reply_printf(out,
				   "\nseeders=%u\nleechers=%u\ncompleted=%u\npeers_ipv4=%u\n"
				   "peers_ipv6=%u\n",
				   f.v.seeders, f.v.leechers, f.v.completed, f.v.npeers4,
				   f.v.npeers6);
}

/* "top": a min-heap of the N largest swarms seen while walking every stripe. */
struct top_entry {
	uint8_t hash[TORRENTS_HASH_LEN];
	uint32_t seeders;
	uint32_t leechers;
	uint32_t completed;
};

struct top {
	struct top_entry *e;
	unsigned n, cap;
};

static uint64_t top_key(const struct top_entry *e)
{
	return (uint64_t)e->seeders + e->leechers;
}

static void top_sift_down(struct top *t, unsigned i)
{
	for (;;) {
		unsigned l = 2 * i + 1, r = l + 1, m = i;
		struct top_entry tmp;

		if (l < t->n && top_key(&t->e[l]) < top_key(&t->e[m]))
			m = l;
		if (r < t->n && top_key(&t->e[r]) < top_key(&t->e[m]))
			m = r;
		if (m == i)
			return;
		tmp = t->e[i];
		t->e[i] = t->e[m];
		t->e[m] = tmp;
		i = m;
	}
}

static int top_visit(const struct torrents_view *v, void *arg)
{
	struct top *t = arg;
	struct top_entry e;
	unsigned i;

	memcpy(e.hash, v->info_hash, TORRENTS_HASH_LEN);
	e.seeders = v->seeders;
	e.leechers = v->leechers;
	e.completed = v->completed;
	if (t->n < t->cap) {
		/* Sift up. */
		i = t->n++;
		while (i > 0 && top_key(&e) < top_key(&t->e[(i - 1) / 2])) {
			t->e[i] = t->e[(i - 1) / 2];
			i = (i - 1) / 2;
		}
		t->e[i] = e;
	} else if (top_key(&e) > top_key(&t->e[0])) {
		t->e[0] = e;
		top_sift_down(t, 0);
	}
	return 0;
}

static int cmp_top_desc(const void *a, const void *b)
{
	uint64_t x = top_key(a), y = top_key(b);

	return (x < y) - (x > y);
}

static int cmd_top(struct ctrl *c, const struct ctlproto_request *req, struct ctlsrv_reply *out)
{
	struct top t = { 0 };
	unsigned s, i, j;

	t.cap = req->argc ? (unsigned)strtoul(req->argv[0], NULL, 10) : CTLPROTO_TOP_DEFAULT;
	if (t.cap < 1 || t.cap > CTLPROTO_TOP_MAX)
		return ctlsrv_reply_error(out, -EINVAL, "N must be 1..%u", CTLPROTO_TOP_MAX);
	t.e = calloc(t.cap, sizeof(*t.e));
	if (!t.e)
		return -ENOMEM;
	for (s = 0; s < c->nstripes; s++)
		torrents_iterate_stripe(c->table, s, top_visit, &t);
	qsort(t.e, t.n, sizeof(*t.e), cmp_top_desc);
	for (i = 0; i < t.n; i++) {
		char hex[2 * TORRENTS_HASH_LEN + 1];

		for (j = 0; j < TORRENTS_HASH_LEN; j++)
			snprintf(hex + 2 * j, 3, "%02x", t.e[i].hash[j]);
		if (ctlsrv_reply_printf(out, "%s seeders=%u leechers=%u completed=%u\n", hex,
					t.e[i].seeders, t.e[i].leechers, t.e[i].completed) < 0)
			break;
	}
	free(t.e);
	return 0;
}

/*
 * Check the configuration the supervisor is about to load (same file, same
 * -o options) so that trackerctl can report a bad one with its file, line
 * and key; only a valid one is handed to the supervisor (SIGHUP, sent once
 * this reply is out, since the reload replaces this process).
 */
static int cmd_reload(struct ctrl *c, struct ctlsrv_reply *out)
{
	const struct sup_args *a = c->p->args;
	char err[CONF_ERR_MAX];
	char names[512];
	struct conf nc;
	int r;

	if (!a)
		return ctlsrv_reply_error(out, -EOPNOTSUPP, "reload is not available");
	r = conf_load(&nc, a->config_path, a->overrides, a->noverrides, err, sizeof(err));
	if (r < 0) {
		log_msg(LOG_ERR, "reload failed, nothing changed: %s", err);
		return ctlsrv_reply_error(out, r, "reload failed, nothing changed: %s", err);
	}
	if (nc.access_list_mode != CONF_ACCESS_OFF) {
		/* The new control process loads it; a bad file is reported here. */
		struct acclist l;
		bool missing;

		r = acclist_load(nc.access_list_path, &l, &missing, err, sizeof(err));
		if (r < 0) {
			log_msg(LOG_ERR, "reload failed, nothing changed: access list: %s", err);
			return ctlsrv_reply_error(
				out, r, "reload failed, nothing changed: access list: %s", err);
		}
		acclist_free(&l);
	}
	if (conf_diff_restart_keys(c->conf, &nc, names, sizeof(names)) > 0)
		ctlsrv_reply_printf(out, "needs_restart=%s\n", names);
	c->reload_requested = true;
	return ctlsrv_reply_printf(out, "reload=started\nconfig=%s\n",
				   a->config_path ? a->config_path : "built-in defaults");
}

/*
 * "check": torrents_check() over the live table. It takes one stripe lock
 * at a time and checks that stripe whole under it (index against records,
 * every peer set, every count against a recount); every invariant it
 * checks lies within one stripe, so the answer is sound while workers run.
 * Stripes are seen at different instants, so the gauges printed are
 * approximate. A stripe whose holder died is repaired by the lock first
 * (lock_recoveries counts those). Arena free lists are not checked: that
 * needs a quiescent table (torrents_check_quiescent()).
 */
static int cmd_check(struct ctrl *c, struct ctlsrv_reply *out)
{
	struct torrents_gauges g;
	char why[256];
	int r;

	r = torrents_check(c->table, why, sizeof(why));
	if (r < 0) {
		log_msg(LOG_ERR, "table check failed: %s", why);
		return ctlsrv_reply_error(out, r, "%s: %s",
					  r == -EUCLEAN ? "inconsistent" : "check failed", why);
	}
	torrents_get_gauges(c->table, &g);
	return ctlsrv_reply_printf(out,
				   "consistent=1\nstripes=%u\ntorrents=%llu\npeers_ipv4=%llu\n"
				   "peers_ipv6=%llu\nlock_recoveries=%llu\n",
				   c->nstripes, (unsigned long long)g.torrents,
				   (unsigned long long)g.peers4, (unsigned long long)g.peers6,
				   (unsigned long long)g.lock_recoveries);
}

/* --- access list ------------------------------------------------------------ */

_Static_assert((int)CONF_ACCESS_OFF == ACL_MODE_OFF && (int)CONF_ACCESS_ALLOW == ACL_MODE_ALLOW &&
		       (int)CONF_ACCESS_DENY == ACL_MODE_DENY,
	       "conf and shm share the access-list modes");

/* At start (and so after every reload): the file in force, logged. */
static void access_start(struct ctrl *c)
{
	struct acl *a = segment_acl(c->seg);
	struct acclist_result res;
	char err[ACCLIST_ERR_MAX];
	struct acl_info info;
	int r;

	r = acclist_apply_file(a, c->table, (int)c->conf->access_list_mode,
			       c->conf->access_list_path, &res, err, sizeof(err));
	acl_get_info(a, &info);
	if (r < 0)
		log_msg(LOG_ERR, "access list not loaded, keeping %llu info-hashes in %s mode: %s",
			(unsigned long long)info.count, access_mode_names[info.mode % 3], err);
	else if (c->conf->access_list_mode != CONF_ACCESS_OFF)
		log_msg(LOG_NOTICE, "access list: %s mode, %llu info-hashes from %s%s",
			access_mode_names[info.mode % 3], (unsigned long long)info.count,
			c->conf->access_list_path, res.missing ? " (no such file: empty)" : "");
	if (res.torrents_removed)
		log_msg(LOG_NOTICE, "access list: removed %llu refused torrents (%llu peers)",
			(unsigned long long)res.torrents_removed,
			(unsigned long long)res.peers_removed);
}

/* allow, deny, unlist: one list whose meaning is the configured mode. */
static int cmd_access_edit(struct ctrl *c, enum ctlproto_cmd cmd, const char *hex,
			   struct ctlsrv_reply *out)
{
	enum conf_access mode = c->conf->access_list_mode;
	uint8_t hash[ACCLIST_HASH_LEN];
	struct acclist_result res;
	char err[ACCLIST_ERR_MAX];
	char canon[2 * ACCLIST_HASH_LEN + 1];
	int r;

	if (acclist_parse_hex(hex, strlen(hex), hash) < 0)
		return ctlsrv_reply_error(out, -EINVAL, "bad info-hash '%s'", hex);
	if (mode == CONF_ACCESS_OFF)
		return ctlsrv_reply_error(out, -EPERM,
					  "the access list is off (access_list_mode = off)");
	if ((cmd == CTLPROTO_CMD_ALLOW && mode != CONF_ACCESS_ALLOW) ||
	    (cmd == CTLPROTO_CMD_DENY && mode != CONF_ACCESS_DENY))
		return ctlsrv_reply_error(out, -EPERM,
					  "access_list_mode is %s: use '%s' or 'unlist'",
					  access_mode_names[mode], access_mode_names[mode]);
	r = acclist_apply_edit(segment_acl(c->seg), c->table, (int)mode, c->conf->access_list_path,
			       hash, cmd == CTLPROTO_CMD_UNLIST ? ACCLIST_REMOVE : ACCLIST_ADD,
			       &res, err, sizeof(err));
	acclist_format_hex(hash, canon);
	if (r < 0) {
		log_msg(LOG_ERR, "access list: %s %s failed: %s", ctlproto_commands[cmd].name,
			canon, err);
		return ctlsrv_reply_error(out, r, "%s", err);
	}
	log_msg(LOG_NOTICE, "access list: %s %s (%s mode, %llu listed%s)",
		ctlproto_commands[cmd].name, canon, access_mode_names[mode],
		(unsigned long long)res.listed, res.torrents_removed ? ", torrent removed" : "");
	return ctlsrv_reply_printf(
		out,
		"info_hash=%s\nmode=%s\nlisted=%s\nwas_listed=%s\n"
		"file=%s\nfile_changed=%s\naccess_list_entries=%llu\n"
		"torrent_removed=%s\npeers_removed=%llu\n",
		canon, access_mode_names[mode], cmd == CTLPROTO_CMD_UNLIST ? "no" : "yes",
		res.was_listed ? "yes" : "no", c->conf->access_list_path,
		res.file_changed ? "yes" : "no", (unsigned long long)res.listed,
		res.torrents_removed ? "yes" : "no", (unsigned long long)res.peers_removed);
}

/* --- snapshots (format and writing: daemon/snapshot.c) ------------------------ */

/* Write one now; what is "periodic", "save" or "shutdown". */
static int take_snapshot(struct ctrl *c, const char *what, struct snapshot_info *ret, char *why,
			 size_t whylen)
{
	int r = snapshot_save_logged(c->conf, c->seg, what, ret, why, whylen);

	if (r == 0) {
		c->snap.valid = true;
		c->snap.time = ret->created;
		c->snap.bytes = ret->bytes;
	}
	return r;
}

static int cmd_save(struct ctrl *c, struct ctlsrv_reply *out)
{
	struct snapshot_info info;
	char why[SNAPSHOT_WHY_MAX];
	int r = take_snapshot(c, "save", &info, why, sizeof(why));

	if (r < 0)
		return ctlsrv_reply_error(out, r, "snapshot failed, the previous one is kept: %s",
					  why);
	return ctlsrv_reply_printf(out,
				   "path=%s\nbytes=%llu\nmilliseconds=%llu\ntorrents=%llu\n"
				   "peers_ipv4=%llu\npeers_ipv6=%llu\n",
				   info.path, (unsigned long long)info.bytes,
				   (unsigned long long)info.ms, (unsigned long long)info.torrents,
				   (unsigned long long)info.peers4,
				   (unsigned long long)info.peers6);
}

/*
 * At start: the newest snapshot on disk (for the metrics), and the next
 * periodic one is due snapshot_interval after it, so that replacing this
 * process at every reload does not postpone snapshots for ever.
 */
static void snapshot_setup(struct ctrl *c, uint64_t now)
{
	uint64_t wall = (uint64_t)time(NULL), iv = c->conf->snapshot_interval, due = iv;
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_replace;
	sigemptyset(&sa.sa_mask);
	sigaction(CTRL_SIG_REPLACE, &sa, NULL);
	snapshot_stat(c->conf->state_directory, &c->snap);
	if (!iv) {
		c->next_snapshot = UINT64_MAX;
		return;
	}
	if (c->snap.valid)
		due = c->snap.time + iv <= wall ? 0 : c->snap.time + iv - wall;
	c->next_snapshot = now + (due < iv ? due : iv) * 1000u;
}

static int handle(void *ctx, const struct ctlproto_request *req, struct ctlsrv_reply *out)
{
	struct ctrl *c = ctx;

	switch (req->cmd) {
	case CTLPROTO_CMD_STATUS:
		return cmd_status(c, out);
	case CTLPROTO_CMD_STATS:
		return cmd_stats(c, out);
	case CTLPROTO_CMD_METRICS:
		return cmd_metrics(c, out);
	case CTLPROTO_CMD_WORKERS:
		return cmd_workers(c, out);
	case CTLPROTO_CMD_TORRENT:
		return cmd_torrent(c, req->argv[0], out);
	case CTLPROTO_CMD_TOP:
		return cmd_top(c, req, out);
	case CTLPROTO_CMD_RELOAD:
		return cmd_reload(c, out);
	case CTLPROTO_CMD_SAVE:
		return cmd_save(c, out);
	case CTLPROTO_CMD_ALLOW:
	case CTLPROTO_CMD_DENY:
	case CTLPROTO_CMD_UNLIST:
		return cmd_access_edit(c, req->cmd, req->argv[0], out);
	case CTLPROTO_CMD_CHECK:
		return cmd_check(c, out);
	case CTLPROTO_CMD_BAN:
		return banlist_cmd_ban(segment_bans(c->seg), c->conf, req, out);
	case CTLPROTO_CMD_UNBAN:
		return banlist_cmd_unban(segment_bans(c->seg), c->conf, req, out);
	default:
		return ctlsrv_reply_error(out, -EOPNOTSUPP, "not supported yet");
	}
}

/* --- main loop --------------------------------------------------------------- */

/* State at start; the first cleaning pass and the first fold begin at now. */
static void ctrl_setup(struct ctrl *c, const struct ctrl_params *p, uint64_t now)
{
	memset(c, 0, sizeof(*c));
	c->p = p;
	c->conf = p->conf;
	c->seg = p->seg;
	c->table = segment_torrents(p->seg);
	c->nstripes = torrents_stripe_count(c->table);
	c->started_ms = now;
	c->pass_start = now;
	c->next_fold = now;
	c->next_summary = now + (uint64_t)p->conf->stats_interval * 1000u;
	c->next_page = now;
	metrics_rates_init(&c->rates);
	metrics_hist_reset(&c->peers_hist);
	metrics_hist_reset(&c->hist_acc);
}

static int min_timeout(int a, int b)
{
	if (b >= 0 && (a < 0 || b < a))
		return b;
	return a;
}

int ctrl_run(const struct ctrl_params *p)
{
	static struct ctrl ctrl;
	struct ctrl *c = &ctrl;
	struct ctlsrv_config cfg;
	int r;

	ctrl_setup(c, p, ctlsrv_now_ms());
	access_start(c);
	snapshot_setup(c, ctlsrv_now_ms());
	banlist_open(segment_bans(c->seg), c->conf); /* daemon/banlist.c */

	if (p->control_fd >= 0) {
		memset(&cfg, 0, sizeof(cfg));
		cfg.handler = handle;
		cfg.ctx = c;
		cfg.admin_uid = (uid_t)-1;
		cfg.group = (gid_t)-1;
		r = ctlsrv_open(p->conf->control_socket, p->control_fd, &cfg, &c->srv);
		if (r < 0) {
			log_errno(LOG_ERR, r, "cannot serve the control socket '%s'",
				  p->conf->control_socket);
			c->srv = NULL;
		}
	}

	if (p->conf->metrics_listen_enabled)
		open_http(c);

	while (!*p->stop) {
		struct pollfd pfd[2] = {
			{ .fd = c->srv ? ctlsrv_fd(c->srv) : -1, .events = POLLIN },
			{ .fd = c->http ? httpd_fd(c->http) : -1, .events = POLLIN },
		};
		uint64_t now = ctlsrv_now_ms(), next;
		uint64_t page_every =
			(uint64_t)(p->conf->stats_interval ? p->conf->stats_interval :
							     CONF_STATS_HTML_INTERVAL) *
			1000u;
		int timeout;

		next = clean_due(c, now);
		if (now >= c->next_fold) {
			fold_tick(c, now);
			banlist_tick(segment_bans(c->seg), c->conf);
			c->next_fold += CTRL_FOLD_MS;
			if (c->next_fold <= now)
				c->next_fold = now + CTRL_FOLD_MS;
			if (p->conf->stats_interval && now >= c->next_summary) {
				log_summary(c);
				c->next_summary = now + (uint64_t)p->conf->stats_interval * 1000u;
			}
		}
		if (c->next_fold < next)
			next = c->next_fold;
		if (now >= c->next_snapshot) {
			struct snapshot_info si;
			char why[SNAPSHOT_WHY_MAX];

			take_snapshot(c, "periodic", &si, why, sizeof(why));
			c->next_snapshot = ctlsrv_now_ms() + p->conf->snapshot_interval * 1000ull;
		}
		if (c->next_snapshot < next)
			next = c->next_snapshot;
		if (p->conf->stats_html_path[0]) {
			if (now >= c->next_page) {
				write_page(c);
				c->next_page = now + page_every;
			}
			if (c->next_page < next)
				next = c->next_page;
		}
		if (next < now + CTRL_TICK_MIN_MS)
			next = now + CTRL_TICK_MIN_MS;
		timeout = (int)(next - now);
		if (c->srv)
			timeout = min_timeout(timeout, ctlsrv_timeout_ms(c->srv, now));
		if (c->http)
			timeout = min_timeout(timeout, httpd_timeout_ms(c->http, now));
		if (poll(pfd, 2, timeout) < 0 && errno != EINTR)
			log_errno(LOG_ERR, -errno, "poll failed");
		if (c->http)
			httpd_process(c->http, ctlsrv_now_ms());
		if (c->srv) {
			ctlsrv_process(c->srv, ctlsrv_now_ms());
			if (c->reload_requested) {
				c->reload_requested = false;
				if (kill(p->sup_pid, SIGHUP) < 0)
					log_errno(LOG_ERR, -errno, "cannot signal the supervisor");
			}
		}
	}
	if (c->http)
		httpd_close(c->http);
	if (c->srv) {
		ctlsrv_process(c->srv, ctlsrv_now_ms()); /* flush what is ready */
		ctlsrv_close(c->srv);
	}
	if (!ctrl_replaced) {
		/* A real shutdown (not a reload): the final snapshot. */
		struct snapshot_info si;
		char why[SNAPSHOT_WHY_MAX];

		take_snapshot(c, "shutdown", &si, why, sizeof(why));
	}
	return 0;
}
