/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * daemon/statspage.c - the HTML statistics page.
 *
 * Owns the page's markup and style. It reads a struct metrics_figures and
 * writes text; it never reads the segment, a clock or the network, and
 * never logs.
 *
 * Design notes:
 * - One static page: inline CSS, no script, no font or image, no link
 *   except the operator's homepage_url, so it can be served with a strict
 *   Content-Security-Policy and saved to disk as it is.
 * - Phone first: a viewport meta tag, a fluid single column capped at
 *   64rem, figure cards in an auto-fitting grid, and tables of at most
 *   three columns except the per-worker one, which scrolls sideways inside
 *   its own box instead of widening the page.
 * - Every string that is not a literal of this file goes through
 *   statspage_escape(), including numbers' units and the version.
 * - Figures the daemon does not have yet (no snapshot written, no full
 *   cleaning pass for the histogram, no rate window) read "n/a".
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "daemon/atomicfile.h"
#include "daemon/metrics.h"
#include "daemon/statspage.h"

static const char *const fam_title[COUNTERS_FAM__MAX] = { "IPv4", "IPv6" };

static const char page_head[] =
	"<!DOCTYPE html>\n"
	"<html lang=\"en\">\n"
	"<head>\n"
	"<meta charset=\"utf-8\">\n"
	"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	"<meta name=\"robots\" content=\"noindex\">\n"
	"<title>Tracker statistics</title>\n"
	"<style>\n"
	":root{color-scheme:light dark;--fg:#1b1f24;--mute:#5b6570;--bg:#f6f7f9;"
	"--card:#fff;--line:#dde1e6;--bar:#2f7dd1;--warn:#c9541a}\n"
	"@media (prefers-color-scheme:dark){:root{--fg:#e6e9ed;--mute:#9aa4ae;--bg:#14171a;"
	"--card:#1d2125;--line:#30363c;--bar:#4d9be6;--warn:#f08a4b}}\n"
	"*{box-sizing:border-box}\n"
	"body{margin:0;background:var(--bg);color:var(--fg);"
	"font:16px/1.45 system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif}\n"
	"main{max-width:64rem;margin:0 auto;padding:1rem}\n"
	"h1{font-size:1.5rem;margin:.25rem 0 .5rem}\n"
	"h2{font-size:1.1rem;margin:0 0 .5rem}\n"
	"p{margin:.25rem 0}\n"
	"a{color:var(--bar)}\n"
	"code{font:.95em ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;"
	"background:var(--card);border:1px solid var(--line);border-radius:4px;"
	"padding:.1em .35em;overflow-wrap:anywhere}\n"
	".meta{color:var(--mute);font-size:.9rem}\n"
	"section{background:var(--card);border:1px solid var(--line);border-radius:8px;"
	"padding:.75rem 1rem;margin:.75rem 0}\n"
	".cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(8.5rem,1fr));gap:.5rem}\n"
	".card{border:1px solid var(--line);border-radius:6px;padding:.5rem .6rem}\n"
	".card b{display:block;font-size:1.3rem;font-variant-numeric:tabular-nums}\n"
	".card span{color:var(--mute);font-size:.85rem}\n"
	".grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(22rem,1fr));"
	"gap:0 1.5rem}\n"
	".scroll{overflow-x:auto}\n"
	"table{width:100%;border-collapse:collapse;font-size:.92rem}\n"
	"th,td{padding:.3rem .4rem;border-bottom:1px solid var(--line);vertical-align:top}\n"
	"th{text-align:left;font-weight:600;color:var(--mute)}\n"
	"td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\n"
	"th .why{display:block;font-weight:400;color:var(--mute);font-size:.82rem}\n"
	".bar{height:.55rem;background:var(--line);border-radius:3px;overflow:hidden;"
	"min-width:4rem}\n"
	".bar i{display:block;height:100%;background:var(--bar)}\n"
	".bar.hi i{background:var(--warn)}\n"
	"footer{color:var(--mute);font-size:.8rem;text-align:center;margin:1rem 0}\n"
	"th.id{overflow-wrap:anywhere}\n"
	"td .bar{margin-top:.25rem}\n"
	"@media (max-width:30rem){main{padding:.5rem}section{padding:.6rem .6rem}"
	"table{font-size:.85rem}th,td{padding:.3rem .25rem}.wide{display:none}}\n"
	"</style>\n"
	"</head>\n"
	"<body>\n"
	"<main>\n";

/* --- formatting ----------------------------------------------------------- */

int statspage_escape(struct metrics_buf *out, const char *s)
{
	const char *run = s;

	if (!s)
		return 0;
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		const char *rep;

		switch (ch) {
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '"':
			rep = "&quot;";
			break;
		case '\'':
			rep = "&#39;";
			break;
		default:
			rep = ch < 0x20 || ch == 0x7f ? "?" : NULL;
		}
		if (!rep)
			continue;
		metrics_buf_append(out, run, (size_t)(s - run));
		metrics_buf_append(out, rep, strlen(rep));
		run = s + 1;
	}
	metrics_buf_append(out, run, (size_t)(s - run));
	return out->overflow ? -ENOBUFS : 0;
}

/* 1234567 -> "1,234,567" */
static const char *num(char buf[32], uint64_t v)
{
	char tmp[24];
	int n = snprintf(tmp, sizeof(tmp), "%" PRIu64, v), o = 0;

	for (int i = 0; i < n; i++) {
		if (i && (n - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = tmp[i];
	}
	buf[o] = 0;
	return buf;
}

static const char *bytes(char buf[32], uint64_t v)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double d = (double)v;
	unsigned u = 0;

	while (d >= 1024 && u < 6) {
		d /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, 32, "%" PRIu64 " B", v);
	else
		snprintf(buf, 32, "%.1f %s", d, unit[u]);
	return buf;
}

static const char *rate(char buf[32], double v, bool known)
{
	if (!known)
		snprintf(buf, 32, "n/a");
	else if (v >= 100)
		snprintf(buf, 32, "%.0f/s", v);
	else
		snprintf(buf, 32, "%.1f/s", v);
	return buf;
}

/* A rate without the unit, for columns whose header says "/s". */
static const char *per_second(char buf[32], double v, bool known)
{
	if (!known)
		snprintf(buf, 32, "n/a");
	else
		snprintf(buf, 32, v >= 100 ? "%.0f" : "%.1f", v);
	return buf;
}

static const char *duration(char buf[32], uint64_t s)
{
	if (s >= 86400)
		snprintf(buf, 32, "%" PRIu64 "d %" PRIu64 "h", s / 86400, s % 86400 / 3600);
	else if (s >= 3600)
		snprintf(buf, 32, "%" PRIu64 "h %" PRIu64 "m", s / 3600, s % 3600 / 60);
	else if (s >= 60)
		snprintf(buf, 32, "%" PRIu64 "m %" PRIu64 "s", s / 60, s % 60);
	else
		snprintf(buf, 32, "%" PRIu64 "s", s);
	return buf;
}

static double pct(uint64_t part, uint64_t whole)
{
	double p = whole ? 100.0 * (double)part / (double)whole : 0.0;

	return p > 100 ? 100 : p;
}

/* Escaped text between literal markup. */
static void text(struct metrics_buf *out, const char *s)
{
	statspage_escape(out, s);
}

static void lit(struct metrics_buf *out, const char *s)
{
	metrics_buf_append(out, s, strlen(s));
}

static void card(struct metrics_buf *out, const char *value, const char *label)
{
	lit(out, "<div class=\"card\"><b>");
	text(out, value);
	lit(out, "</b><span>");
	text(out, label);
	lit(out, "</span></div>\n");
}

/* <tr><th>label</th><td class="n">a</td><td class="n">b</td></tr> */
static void row2(struct metrics_buf *out, const char *label, const char *a, const char *b)
{
	lit(out, "<tr><th scope=\"row\">");
	text(out, label);
	lit(out, "</th><td class=\"n\">");
	text(out, a);
	lit(out, "</td><td class=\"n\">");
	text(out, b);
	lit(out, "</td></tr>\n");
}

static void row1(struct metrics_buf *out, const char *label, const char *a)
{
	lit(out, "<tr><th scope=\"row\">");
	text(out, label);
	lit(out, "</th><td class=\"n\">");
	text(out, a);
	lit(out, "</td></tr>\n");
}

/* A bar percent wide; warn colours it when a capacity is nearly used up. */
static void bar(struct metrics_buf *out, double percent, bool warn)
{
	metrics_buf_printf(out, "<div class=\"bar%s\"><i style=\"width:%.1f%%\"></i></div>",
			   warn && percent >= 90 ? " hi" : "", percent);
}

/* A capacity row: label, then "used / max (percent)" over a bar. */
static void capacity_row(struct metrics_buf *out, const char *label, uint64_t used, uint64_t max,
			 bool as_bytes)
{
	char a[32], b[32], p[32];
	double q = pct(used, max);

	lit(out, "<tr><th scope=\"row\">");
	text(out, label);
	lit(out, "</th><td class=\"n\">");
	text(out, as_bytes ? bytes(a, used) : num(a, used));
	lit(out, " / ");
	text(out, as_bytes ? bytes(b, max) : num(b, max));
	snprintf(p, sizeof(p), " (%.1f%%)", q);
	text(out, p);
	bar(out, q, true);
	lit(out, "</td></tr>\n");
}

static void section(struct metrics_buf *out, const char *id, const char *title)
{
	metrics_buf_printf(out, "<section id=\"%s\">\n<h2>", id);
	text(out, title);
	lit(out, "</h2>\n");
}

static void fam_table_head(struct metrics_buf *out, const char *first)
{
	lit(out, "<table>\n<thead><tr><th>");
	text(out, first);
	lit(out, "</th>");
	for (unsigned f = 0; f < COUNTERS_FAM__MAX; f++) {
		lit(out, "<th class=\"n\">");
		text(out, fam_title[f]);
		lit(out, "</th>");
	}
	lit(out, "</tr></thead>\n<tbody>\n");
}

static uint64_t total(const struct metrics_figures *f, unsigned fam, enum counters_id id)
{
	return f->total[fam][id];
}

static uint64_t requests(const struct metrics_figures *f, unsigned fam)
{
	return total(f, fam, COUNTERS_connect) + total(f, fam, COUNTERS_announce) +
	       total(f, fam, COUNTERS_scrape);
}

static double requests_rate(const struct metrics_figures *f, unsigned fam)
{
	return f->rate[fam][COUNTERS_connect] + f->rate[fam][COUNTERS_announce] +
	       f->rate[fam][COUNTERS_scrape];
}

/* --- sections --------------------------------------------------------------- */

static void render_header(const struct metrics_figures *f, const struct statspage_info *info,
			  struct metrics_buf *out)
{
	char when[64], up[32];
	struct tm tm;
	time_t t = (time_t)f->now;

	lit(out, "<header>\n<h1>Tracker statistics</h1>\n");
	if (info && info->tracker_url && info->tracker_url[0]) {
		lit(out, "<p>Announce URL: <code id=\"tracker-url\">");
		text(out, info->tracker_url);
		lit(out, "</code></p>\n");
	}
	if (info && info->homepage_url &&
	    (!strncmp(info->homepage_url, "https://", 8) ||
	     !strncmp(info->homepage_url, "http://", 7))) {
		lit(out, "<p><a id=\"homepage\" rel=\"noopener\" href=\"");
		text(out, info->homepage_url);
		lit(out, "\">");
		text(out, info->homepage_url);
		lit(out, "</a></p>\n");
	}
	if (gmtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	else
		snprintf(when, sizeof(when), "n/a");
	lit(out, "<p class=\"meta\">");
	if (f->version) {
		lit(out, "trackerd ");
		text(out, f->version);
		lit(out, " &middot; ");
	}
	lit(out, "up ");
	text(out, duration(up, f->now > f->started ? f->now - f->started : 0));
	lit(out, " &middot; updated ");
	text(out, when);
	lit(out, "</p>\n</header>\n");
}

static void render_overview(const struct metrics_figures *f, struct metrics_buf *out)
{
	const struct torrents_gauges *g = &f->gauges;
	char b[32];

	section(out, "overview", "Overview");
	lit(out, "<div class=\"cards\">\n");
	card(out, num(b, g->torrents), "torrents");
	card(out, num(b, g->peers4 + g->peers6), "peers");
	card(out, num(b, g->seeders), "seeders");
	card(out, num(b, g->leechers), "leechers");
	card(out, num(b, g->completed), "completed downloads");
	card(out, rate(b, requests_rate(f, 0) + requests_rate(f, 1), f->rate_window > 0),
	     "requests");
	card(out, num(b, f->nworkers), "workers");
	card(out, duration(b, f->now > f->started ? f->now - f->started : 0), "uptime");
	lit(out, "</div>\n</section>\n");
}

static void render_traffic(const struct metrics_figures *f, struct metrics_buf *out)
{
	bool known = f->rate_window > 0;
	char a[32], b[32];

	section(out, "traffic", "Requests and traffic");
	lit(out, "<div class=\"scroll\">\n");
	fam_table_head(out, "");
	row2(out, "Requests per second", rate(a, requests_rate(f, 0), known),
	     rate(b, requests_rate(f, 1), known));
	row2(out, "Requests answered", num(a, requests(f, 0)), num(b, requests(f, 1)));
#define ROW(label, id) row2(out, label, num(a, total(f, 0, id)), num(b, total(f, 1, id)))
	ROW("Connect responses", COUNTERS_connect);
	ROW("Announce responses", COUNTERS_announce);
	ROW("Scrape responses", COUNTERS_scrape);
	ROW("Error responses", COUNTERS_error_replies);
	ROW("Peers handed out", COUNTERS_announce_peers);
	ROW("Info-hashes scraped", COUNTERS_scrape_hashes);
	ROW("Datagrams in", COUNTERS_rx_packets);
	ROW("Datagrams out", COUNTERS_tx_packets);
#undef ROW
	row2(out, "Bytes in", bytes(a, total(f, 0, COUNTERS_rx_bytes)),
	     bytes(b, total(f, 1, COUNTERS_rx_bytes)));
	row2(out, "Bytes out", bytes(a, total(f, 0, COUNTERS_tx_bytes)),
	     bytes(b, total(f, 1, COUNTERS_tx_bytes)));
	if (known) {
		char x[32], y[32];

		snprintf(x, sizeof(x), "%s/s", bytes(a, (uint64_t)f->rate[0][COUNTERS_rx_bytes]));
		snprintf(y, sizeof(y), "%s/s", bytes(b, (uint64_t)f->rate[1][COUNTERS_rx_bytes]));
		row2(out, "Bytes in per second", x, y);
		snprintf(x, sizeof(x), "%s/s", bytes(a, (uint64_t)f->rate[0][COUNTERS_tx_bytes]));
		snprintf(y, sizeof(y), "%s/s", bytes(b, (uint64_t)f->rate[1][COUNTERS_tx_bytes]));
		row2(out, "Bytes out per second", x, y);
	} else {
		row2(out, "Bytes in per second", "n/a", "n/a");
		row2(out, "Bytes out per second", "n/a", "n/a");
	}
	row2(out, "Peers in the table", num(a, f->gauges.peers4), num(b, f->gauges.peers6));
	lit(out, "</tbody>\n</table>\n</div>\n</section>\n");
}

static bool has_prefix(const char *s, const char *p)
{
	return !strncmp(s, p, strlen(p));
}

static void render_errors(const struct metrics_figures *f, struct metrics_buf *out)
{
	char a[32], b[32];
	unsigned i;

	section(out, "errors", "Errors and drops");
	lit(out, "<div class=\"scroll\">\n");
	fam_table_head(out, "Reason");
	for (i = 0; i < COUNTERS__MAX; i++) {
		const char *name = counters_names[i];

		if (!has_prefix(name, "err_") && !has_prefix(name, "drop_") &&
		    !has_prefix(name, "refused_") && strcmp(name, "send_errors") &&
		    strcmp(name, "rx_nobufs"))
			continue;
		lit(out, "<tr><th scope=\"row\" class=\"id\">");
		text(out, name);
		lit(out, "<span class=\"why\">");
		text(out, counters_help[i]);
		lit(out, "</span></th><td class=\"n\">");
		text(out, num(a, f->total[0][i]));
		lit(out, "</td><td class=\"n\">");
		text(out, num(b, f->total[1][i]));
		lit(out, "</td></tr>\n");
	}
	lit(out, "</tbody>\n</table>\n</div>\n</section>\n");
}

static void render_capacity(const struct metrics_figures *f, struct metrics_buf *out)
{
	const struct torrents_gauges *g = &f->gauges;
	char a[32];

	section(out, "capacity", "Capacity used");
	lit(out, "<div class=\"scroll\">\n<table>\n<tbody>\n");
	capacity_row(out, "Torrents", g->torrents, f->capacity.max_torrents, false);
	capacity_row(out, "IPv4 peers", g->peers4, f->capacity.max_peers4, false);
	capacity_row(out, "IPv6 peers", g->peers6, f->capacity.max_peers6, false);
	capacity_row(out, "IPv4 peer arena", g->arena4_bytes_used, g->arena4_bytes_size, true);
	capacity_row(out, "IPv6 peer arena", g->arena6_bytes_used, g->arena6_bytes_size, true);
	lit(out, "</tbody>\n</table>\n</div>\n<p class=\"meta\">Shared segment: ");
	text(out, bytes(a, f->segment_bytes));
	lit(out, "</p>\n</section>\n");
}

static void render_cleaning(const struct metrics_figures *f, struct metrics_buf *out)
{
	double q = f->clean_stripes ? 100.0 * f->clean_stripe / f->clean_stripes : 0;
	char a[32], b[32], p[64];

	section(out, "cleaning", "Cleaning");
	snprintf(p, sizeof(p), "%u of %u stripes (%.0f%%)", f->clean_stripe, f->clean_stripes, q);
	lit(out, "<p>Current pass: ");
	text(out, p);
	lit(out, "</p>\n");
	bar(out, q, false);
	lit(out, "\n<table>\n<tbody>\n");
	row1(out, "Passes completed", num(a, f->clean_passes));
	row1(out, "Expired IPv4 peers removed", num(a, f->cleaned.peers4_removed));
	row1(out, "Expired IPv6 peers removed", num(b, f->cleaned.peers6_removed));
	row1(out, "Empty torrents removed", num(a, f->cleaned.torrents_removed));
	row1(out, "Stripes that failed", num(a, f->clean_errors));
	lit(out, "</tbody>\n</table>\n</section>\n");
}

static void render_operations(const struct metrics_figures *f, struct metrics_buf *out)
{
	uint64_t restarts = 0;
	char a[32], b[32], s[80];

	for (unsigned i = 0; i < f->nworkers && i < METRICS_WORKERS_MAX; i++)
		restarts += f->worker[i].restarts;
	section(out, "operations", "Reloads, restarts and snapshots");
	lit(out, "<table>\n<tbody>\n");
	row1(out, "Reloads", num(a, f->reloads));
	row1(out, "Worker generation", num(a, f->generation));
	row1(out, "Worker restarts", num(a, restarts));
	if (f->snapshot_valid) {
		snprintf(s, sizeof(s), "%s ago, %s",
			 duration(a, f->now > f->snapshot_time ? f->now - f->snapshot_time : 0),
			 bytes(b, f->snapshot_bytes));
		row1(out, "Snapshot age", s);
	} else {
		row1(out, "Snapshot age", "n/a");
	}
	row1(out, "Stripe locks contended", num(a, f->gauges.lock_contended));
	row1(out, "Stripe locks recovered", num(a, f->gauges.lock_recoveries));
	lit(out, "</tbody>\n</table>\n</section>\n");
}

static void render_workers(const struct metrics_figures *f, struct metrics_buf *out)
{
	bool known = f->rate_window > 0;
	unsigned n = f->nworkers < METRICS_WORKERS_MAX ? f->nworkers : METRICS_WORKERS_MAX;
	char a[32];

	section(out, "workers", "Workers");
	lit(out, "<div class=\"scroll\">\n<table>\n<thead><tr><th>#</th><th class=\"n\">CPU"
		 "</th><th>I/O</th><th class=\"n wide\">Gen</th><th class=\"n\">Up</th>"
		 "<th class=\"n wide\">Restarts</th><th class=\"n\">Req/s</th>"
		 "<th class=\"n\">Pkts/s</th></tr></thead>\n<tbody>\n");
	for (unsigned i = 0; i < n; i++) {
		const struct metrics_worker *w = &f->worker[i];

		metrics_buf_printf(out, "<tr><td>%u</td><td class=\"n\">", w->slot);
		if (w->cpu >= 0)
			metrics_buf_printf(out, "%d", w->cpu);
		else
			lit(out, "-");
		lit(out, "</td><td>");
		text(out, w->backend == 1 ? "io_uring" : w->backend == 2 ? "mmsg" : "starting");
		metrics_buf_printf(out, "</td><td class=\"n wide\">%u</td><td class=\"n\">",
				   w->generation);
		text(out, duration(a, w->uptime));
		metrics_buf_printf(out, "</td><td class=\"n wide\">%u</td><td class=\"n\">",
				   w->restarts);
		text(out, per_second(a, w->requests_rate, known));
		lit(out, "</td><td class=\"n\">");
		text(out, per_second(a, w->rx_rate, known));
		lit(out, "</td></tr>\n");
	}
	if (!n)
		lit(out, "<tr><td colspan=\"8\">no worker running</td></tr>\n");
	lit(out, "</tbody>\n</table>\n</div>\n</section>\n");
}

static void render_hist(const struct metrics_figures *f, struct metrics_buf *out)
{
	const struct metrics_hist *h = &f->hist;
	uint64_t most = 0;
	char a[32], label[40];

	section(out, "histogram", "Peers per torrent");
	if (!h->valid) {
		lit(out, "<p>n/a until the first full cleaning pass.</p>\n</section>\n");
		return;
	}
	for (unsigned i = 0; i < METRICS_HIST_BUCKETS; i++)
		if (h->bucket[i] > most)
			most = h->bucket[i];
	lit(out,
	    "<table>\n<thead><tr><th class=\"n\">Peers</th><th class=\"n\">Torrents</th><th></th>"
	    "</tr></thead>\n<tbody>\n");
	for (unsigned i = 0; i < METRICS_HIST_BUCKETS; i++) {
		uint32_t lo = i ? metrics_hist_bounds[i - 1] + 1 : 0;

		if (i == METRICS_HIST_BUCKETS - 1)
			snprintf(label, sizeof(label), "over %u", metrics_hist_bounds[i - 1]);
		else if (lo == metrics_hist_bounds[i])
			snprintf(label, sizeof(label), "%u", lo);
		else
			snprintf(label, sizeof(label), "%u\xe2\x80\x93%u", lo,
				 metrics_hist_bounds[i]);
		lit(out, "<tr><th scope=\"row\" class=\"n\">");
		text(out, label);
		lit(out, "</th><td class=\"n\">");
		text(out, num(a, h->bucket[i]));
		lit(out, "</td><td style=\"width:50%\">");
		bar(out, pct(h->bucket[i], most), false);
		lit(out, "</td></tr>\n");
	}
	lit(out, "</tbody>\n</table>\n<p class=\"meta\">");
	snprintf(label, sizeof(label), "%.1f", h->count ? (double)h->sum / h->count : 0.0);
	text(out, num(a, h->count));
	lit(out, " torrents, ");
	text(out, label);
	lit(out, " peers per torrent on average, from the last full cleaning pass.</p>\n"
		 "</section>\n");
}

int statspage_render(const struct metrics_figures *f, const struct statspage_info *info,
		     struct metrics_buf *out)
{
	lit(out, page_head);
	render_header(f, info, out);
	render_overview(f, out);
	lit(out, "<div class=\"grid2\">\n");
	render_traffic(f, out);
	render_errors(f, out);
	lit(out, "</div>\n<div class=\"grid2\">\n");
	render_capacity(f, out);
	render_cleaning(f, out);
	render_operations(f, out);
	render_hist(f, out);
	lit(out, "</div>\n");
	render_workers(f, out);
	lit(out, "<footer>Figures are totals since the daemon started unless they say "
		 "otherwise; rates are over the last ");
	metrics_buf_printf(out, "%u", f->rate_window);
	lit(out, " s.</footer>\n</main>\n</body>\n</html>\n");
	return out->overflow ? -ENOBUFS : 0;
}

/* --- file ------------------------------------------------------------------- */

int statspage_write_file(const char *path, const char *data, size_t len)
{
	/* Always 0644: the umask must not make the page unreadable for the web server. */
	return atomicfile_write(path, data, len, 0644, false);
}
