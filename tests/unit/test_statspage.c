/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/test_statspage.c - the HTML statistics page.
 *
 * Through the public header: every section and figure is on the page,
 * every string is escaped, nothing is loaded from elsewhere (no script,
 * no src, no external URL but the operator's homepage link), the markup
 * is balanced, and the page file is replaced atomically.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/metrics.h"
#include "daemon/statspage.h"

static struct metrics_figures fig;

static void sample_figures(struct metrics_figures *f)
{
	memset(f, 0, sizeof(*f));
	f->version = "1.2.3";
	f->now = 1800000000;
	f->started = f->now - 90061; /* 1d 1h 1m 1s */
	f->generation = 4;
	f->reloads = 3;
	for (unsigned fam = 0; fam < COUNTERS_FAM__MAX; fam++)
		for (unsigned i = 0; i < COUNTERS__MAX; i++)
			f->total[fam][i] = 1000000 * (fam + 1) + i;
	f->rate[0][COUNTERS_announce] = 1500;
	f->rate[1][COUNTERS_connect] = 25;
	f->rate_window = 10;
	f->gauges.torrents = 123456;
	f->gauges.peers4 = 400;
	f->gauges.peers6 = 60;
	f->gauges.seeders = 300;
	f->gauges.leechers = 160;
	f->gauges.completed = 987654;
	f->capacity.max_torrents = 1000000;
	f->capacity.max_peers4 = 4000;
	f->capacity.max_peers6 = 600;
	f->clean_stripe = 2048;
	f->clean_stripes = 4096;
	f->clean_passes = 17;
	f->cleaned.peers4_removed = 4242;
	f->nworkers = 2;
	f->worker[0] = (struct metrics_worker){ .slot = 0,
						.cpu = 0,
						.backend = 1,
						.generation = 4,
						.restarts = 1,
						.uptime = 65,
						.requests_rate = 777 };
	f->worker[1] = (struct metrics_worker){
		.slot = 7, .cpu = -1, .backend = 2, .generation = 4, .rx_rate = 12.5
	};
	metrics_hist_add(&f->hist, 1);
	metrics_hist_add(&f->hist, 1);
	metrics_hist_add(&f->hist, 30);
	f->hist.valid = true;
}

static char *page(const struct metrics_figures *f, const char *url, const char *home)
{
	struct statspage_info info = { .tracker_url = url, .homepage_url = home };
	struct metrics_buf b;
	size_t len;
	char *s;

	metrics_buf_init(&b, 0);
	assert_int_equal(statspage_render(f, &info, &b), 0);
	s = metrics_buf_steal(&b, &len);
	assert_non_null(s);
	return s;
}

static void assert_contains(const char *s, const char *needle)
{
	if (!strstr(s, needle))
		fail_msg("the page lacks '%s'", needle);
}

static void assert_lacks(const char *s, const char *needle)
{
	if (strstr(s, needle))
		fail_msg("the page has '%s'", needle);
}

static unsigned count(const char *s, const char *needle)
{
	unsigned n = 0;

	for (const char *p = s; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

static void test_every_section_and_figure(void **state)
{
	static const char *const sections[] = { "overview", "traffic",	  "errors",    "capacity",
						"cleaning", "operations", "histogram", "workers" };
	char *s;

	(void)state;
	sample_figures(&fig);
	s = page(&fig, "udp://t.example:6969/announce", "https://example.org/");
	assert_true(!strncmp(s, "<!DOCTYPE html>\n", 16));
	assert_contains(s,
			"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
	assert_contains(s, "<meta charset=\"utf-8\">");
	for (unsigned i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
		char id[64];

		snprintf(id, sizeof(id), "<section id=\"%s\">", sections[i]);
		assert_int_equal(count(s, id), 1);
	}
	assert_contains(s, "<code id=\"tracker-url\">udp://t.example:6969/announce</code>");
	assert_contains(s, "<a id=\"homepage\" rel=\"noopener\" href=\"https://example.org/\">");
	assert_contains(s, "trackerd 1.2.3");
	assert_contains(s, "up 1d 1h");
	assert_contains(s, "2027-01-15 08:00:00 UTC");
	/* Figures, per family where the daemon has them per family. */
	assert_contains(s, "<b>123,456</b><span>torrents</span>");
	assert_contains(s, "<b>460</b><span>peers</span>");
	assert_contains(s, "<b>300</b><span>seeders</span>");
	assert_contains(s, "<b>160</b><span>leechers</span>");
	assert_contains(s, "<b>987,654</b><span>completed downloads</span>");
	assert_contains(s, "<b>1525/s</b><span>requests</span>");
	assert_contains(s, "<th class=\"n\">IPv4</th><th class=\"n\">IPv6</th>");
	assert_contains(s, ">1500/s</td><td class=\"n\">25.0/s</td>");
	/* Each error and drop reason, with its value per family. */
	for (unsigned i = 0; i < COUNTERS__MAX; i++) {
		char cell[96];

		if (strncmp(counters_names[i], "drop_", 5) && strncmp(counters_names[i], "err_", 4))
			continue;
		assert_contains(s, counters_names[i]);
		snprintf(cell, sizeof(cell),
			 "<td class=\"n\">1,000,0%02u</td><td class=\"n\">2,000,0%02u", i, i);
		assert_contains(s, cell);
	}
	assert_contains(s, "123,456 / 1,000,000 (12.3%)");
	assert_contains(s, "400 / 4,000 (10.0%)");
	assert_contains(s, "2048 of 4096 stripes (50%)");
	assert_contains(s, ">4,242<");
	assert_contains(s, "<th scope=\"row\">Reloads</th><td class=\"n\">3</td>");
	assert_contains(s, "<th scope=\"row\">Worker restarts</th><td class=\"n\">1</td>");
	assert_contains(s, "<th scope=\"row\">Snapshot age</th><td class=\"n\">n/a</td>");
	assert_contains(s, "<td>7</td><td class=\"n\">-</td><td>mmsg</td>");
	assert_contains(s, ">777</td>");
	assert_contains(s, ">12.5</td>");
	assert_contains(s, "3 torrents, 10.7 peers per torrent");
	free(s);

	/* Snapshot written, histogram not ready, no rates yet. */
	fig.snapshot_valid = true;
	fig.snapshot_time = fig.now - 125;
	fig.snapshot_bytes = 3 << 20;
	fig.hist.valid = false;
	fig.rate_window = 0;
	s = page(&fig, NULL, NULL);
	assert_contains(s, "<td class=\"n\">2m 5s ago, 3.0 MiB</td>");
	assert_contains(s, "n/a until the first full cleaning pass");
	assert_contains(s, "<b>n/a</b><span>requests</span>");
	assert_lacks(s, "tracker-url");
	assert_lacks(s, "homepage");
	free(s);
}

static void test_nothing_external(void **state)
{
	char *s;

	(void)state;
	sample_figures(&fig);
	s = page(&fig, "udp://t.example:6969/announce", "https://home.example/");
	assert_lacks(s, "<script");
	assert_lacks(s, "src=");
	assert_lacks(s, "url(");
	assert_lacks(s, "@import");
	assert_lacks(s, "<link");
	assert_lacks(s, "<iframe");
	/* The only URL with a scheme or a network path is the homepage link. */
	assert_int_equal(count(s, "https://"), 2); /* href and its text */
	assert_int_equal(count(s, "http://"), 0);
	assert_int_equal(count(s, "href="), 1);
	assert_int_equal(count(s, "\"//"), 0);
	free(s);
	s = page(&fig, NULL, NULL);
	assert_int_equal(count(s, "href="), 0);
	assert_int_equal(count(s, "://"), 0);
	free(s);
}

static void test_escaping(void **state)
{
	struct metrics_buf b;
	char *s;

	(void)state;
	metrics_buf_init(&b, 0);
	assert_int_equal(statspage_escape(&b, "<a href='x'>&\"\x01</a>"), 0);
	assert_string_equal(b.data, "&lt;a href=&#39;x&#39;&gt;&amp;&quot;?&lt;/a&gt;");
	metrics_buf_free(&b);

	sample_figures(&fig);
	fig.version = "<b>1</b>";
	s = page(&fig, "udp://x/<script>alert(1)</script>", "https://e.example/?a=1&b=\"><x");
	assert_lacks(s, "<script");
	assert_lacks(s, "<b>1</b>");
	assert_contains(s, "trackerd &lt;b&gt;1&lt;/b&gt;");
	assert_contains(s, "udp://x/&lt;script&gt;alert(1)&lt;/script&gt;");
	assert_contains(s, "href=\"https://e.example/?a=1&amp;b=&quot;&gt;&lt;x\"");
	free(s);
	/* Only http and https become links. */
	s = page(&fig, NULL, "javascript:alert(1)");
	assert_lacks(s, "href=");
	assert_lacks(s, "javascript");
	free(s);
}

static void test_markup_is_balanced(void **state)
{
	static const char *const tags[] = { "section", "table",	 "tr",	 "div", "thead",
					    "tbody",   "header", "main", "p",	"th",
					    "td",      "span",	 "b",	 "code" };
	char *s;

	(void)state;
	sample_figures(&fig);
	s = page(&fig, "udp://t.example:6969/announce", "https://home.example/");
	for (unsigned i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
		char open1[32], open2[32], close[32];

		snprintf(open1, sizeof(open1), "<%s>", tags[i]);
		snprintf(open2, sizeof(open2), "<%s ", tags[i]);
		snprintf(close, sizeof(close), "</%s>", tags[i]);
		if (count(s, open1) + count(s, open2) != count(s, close))
			fail_msg("<%s> opened %u times, closed %u times", tags[i],
				 count(s, open1) + count(s, open2), count(s, close));
	}
	assert_true(strlen(s) < 64u << 10);
	free(s);
}

static void test_overflow_is_an_error(void **state)
{
	struct statspage_info info = { 0 };
	struct metrics_buf b;

	(void)state;
	sample_figures(&fig);
	metrics_buf_init(&b, 1000);
	assert_int_equal(statspage_render(&fig, &info, &b), -ENOBUFS);
	assert_true(b.len <= 1000);
	metrics_buf_free(&b);
}

static void test_write_file(void **state)
{
	char dir[] = "/tmp/test_statspage.XXXXXX", path[128], buf[64];
	struct stat st;
	DIR *d;
	struct dirent *e;
	unsigned n = 0;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/index.html", dir);
	assert_int_equal(statspage_write_file(path, "first\n", 6), 0);
	assert_int_equal(statspage_write_file(path, "second\n", 7), 0);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), 7);
	assert_int_equal(memcmp(buf, "second\n", 7), 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	close(fd);
	/* No temporary file left behind. */
	d = opendir(dir);
	assert_non_null(d);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	assert_int_equal(n, 1);
	/* A missing directory is an error; the old page of another path is untouched. */
	snprintf(path, sizeof(path), "%s/missing/index.html", dir);
	assert_int_equal(statspage_write_file(path, "x", 1), -ENOENT);
	snprintf(path, sizeof(path), "%s/index.html", dir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_section_and_figure),
		cmocka_unit_test(test_nothing_external),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_markup_is_balanced),
		cmocka_unit_test(test_overflow_is_an_error),
		cmocka_unit_test(test_write_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
