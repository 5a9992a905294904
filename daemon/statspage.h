/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * daemon/statspage.h - the HTML statistics page.
 *
 * Renders struct metrics_figures as one small self-contained HTML page
 * (inline CSS, no scripts, no external assets) that reads well on a phone
 * and on a desktop: served at GET / by the metrics endpoint and optionally
 * written to stats_html_path. Pure apart from statspage_write_file().
 */
#ifndef TRACKER_DAEMON_STATSPAGE_H
#define TRACKER_DAEMON_STATSPAGE_H

#include <stddef.h>

struct metrics_buf;
struct metrics_figures;

#define STATSPAGE_CONTENT_TYPE "text/html; charset=utf-8"

/* What the operator configured to show besides the figures. */
struct statspage_info {
	const char *tracker_url; /* announce URL shown on the page; NULL or "": none */
	const char
		*homepage_url; /* link to the operator's site (http or https); NULL or "": none */
};

/*
 * Append the page for f to out. Every string is HTML-escaped; the homepage
 * link is only made for http:// and https:// URLs. Returns 0 or -ENOBUFS
 * when out overflowed.
 */
int statspage_render(const struct metrics_figures *f, const struct statspage_info *info,
		     struct metrics_buf *out);

/* Append s with & < > " ' escaped (and control characters as '?'). */
int statspage_escape(struct metrics_buf *out, const char *s);

/*
 * Replace the file at path with data atomically: write a temporary file in
 * the same directory (mode 0644), fsync it, rename it over path, fsync the
 * directory. Readers see the old page or the new one, never a torn one.
 * Returns 0 or -errno (the temporary file is removed on failure).
 */
int statspage_write_file(const char *path, const char *data, size_t len);

#endif /* TRACKER_DAEMON_STATSPAGE_H */
