/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/test_metrics.c - figures, Prometheus rendering, histogram, rates.
 *
 * Through the public header. The renderer's output is checked line by line
 * against the text exposition rules (every sample after its family's HELP
 * and TYPE lines, one TYPE per family, samples of a family together,
 * counters named _total, names with the trackerd_ prefix, label values
 * escaped), and value by value. metrics_collect() and the rates run on a
 * real segment on an anonymous memfd.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/metrics.h"
#include "shm/counters.h"
#include "shm/segment.h"
#include "shm/torrents.h"

static struct metrics_figures fig; /* large: keep it off the stack */

static void sample_figures(struct metrics_figures *f)
{
	memset(f, 0, sizeof(*f));
	f->version = "1.2.3";
	f->now = 1800000000;
	f->started = 1800000000 - 3600;
	f->generation = 3;
	f->reloads = 2;
	f->workers_configured = 2;
	for (unsigned fam = 0; fam < COUNTERS_FAM__MAX; fam++)
		for (unsigned i = 0; i < COUNTERS__MAX; i++)
			f->total[fam][i] = 1000 * (fam + 1) + i;
	f->gauges.torrents = 11;
	f->gauges.peers4 = 40;
	f->gauges.peers6 = 6;
	f->gauges.seeders = 30;
	f->gauges.leechers = 16;
	f->gauges.completed = 77;
	f->capacity.max_torrents = 1000;
	f->capacity.max_peers4 = 4000;
	f->capacity.max_peers6 = 600;
	f->clean_stripe = 1024;
	f->clean_stripes = 4096;
	f->clean_passes = 5;
	f->nworkers = 2;
	f->worker[0] = (struct metrics_worker){ .slot = 0,
						.pid = 100,
						.cpu = 0,
						.backend = 1,
						.generation = 3,
						.restarts = 1,
						.requests = 5 };
	f->worker[1] = (struct metrics_worker){ .slot = 4,
						.pid = 101,
						.cpu = -1,
						.backend = 2,
						.generation = 3,
						.restarts = 2,
						.requests = 9 };
	metrics_hist_reset(&f->hist);
	metrics_hist_add(&f->hist, 0);
	metrics_hist_add(&f->hist, 1);
	metrics_hist_add(&f->hist, 3);
	metrics_hist_add(&f->hist, 42);
	metrics_hist_add(&f->hist, 1000000);
	f->hist.valid = true;
}

static char *render(const struct metrics_figures *f)
{
	struct metrics_buf b;
	size_t len;
	char *s;

	metrics_buf_init(&b, 0);
	assert_int_equal(metrics_render(f, &b), 0);
	assert_false(b.overflow);
	s = metrics_buf_steal(&b, &len);
	assert_non_null(s);
	assert_int_equal(strlen(s), len);
	return s;
}

static void assert_has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)); p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return;
	fail_msg("no line '%s' in the output", line);
}

static void assert_no_substring(const char *text, const char *s)
{
	if (strstr(text, s))
		fail_msg("'%s' should not be in the output", s);
}

/* --- text buffer ------------------------------------------------------------- */

static void test_buf_grows_and_stops_at_its_limit(void **state)
{
	struct metrics_buf b;
	char chunk[1000];
	size_t len;
	char *s;

	(void)state;
	memset(chunk, 'x', sizeof(chunk));
	metrics_buf_init(&b, 10000);
	for (int i = 0; i < 9; i++)
		assert_int_equal(metrics_buf_append(&b, chunk, sizeof(chunk)), 0);
	assert_int_equal(metrics_buf_printf(&b, "%0*d", 990, 7), 0);
	assert_int_equal(b.len, 9990);
	assert_int_equal(metrics_buf_printf(&b, "%s", "0123456789x"), -ENOBUFS);
	assert_true(b.overflow);
	assert_int_equal(b.len, 9990); /* nothing half-written */
	assert_int_equal(metrics_buf_append(&b, "a", 1), -ENOBUFS); /* stays overflowed */
	metrics_buf_reset(&b);
	assert_false(b.overflow);
	assert_int_equal(metrics_buf_printf(&b, "n=%d", 5), 0);
	s = metrics_buf_steal(&b, &len);
	assert_string_equal(s, "n=5");
	assert_int_equal(len, 3);
	assert_null(b.data);
	free(s);
	metrics_buf_free(&b);
}

/* --- exposition format -------------------------------------------------------- */

struct family {
	char name[96];
	char type[16];
	bool help;
	bool closed; /* another family started after it */
};

/* Base name of a sample: histogram suffixes belong to the family. */
static void family_of_sample(const char *sample, const struct family *fams, unsigned n, char *ret,
			     size_t len)
{
	snprintf(ret, len, "%s", sample);
	for (unsigned i = 0; i < n; i++) {
		size_t k = strlen(fams[i].name);

		if (strcmp(fams[i].type, "histogram") || strncmp(sample, fams[i].name, k))
			continue;
		if (!strcmp(sample + k, "_bucket") || !strcmp(sample + k, "_sum") ||
		    !strcmp(sample + k, "_count"))
			snprintf(ret, len, "%s", fams[i].name);
	}
}

/* Check the whole text against the format rules; returns the number of samples. */
static unsigned check_format(char *text)
{
	static struct family fams[256];
	unsigned nf = 0, samples = 0;
	char *save = NULL, *line;
	int cur = -1;

	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[96], fam[96];
		int k;

		if (!strncmp(line, "# HELP ", 7) || !strncmp(line, "# TYPE ", 7)) {
			bool help = line[2] == 'H';
			char word[16] = "";

			assert_int_equal(sscanf(line + 7, "%95s %15s", name, word), 2);
			assert_int_equal(strncmp(name, "trackerd_", 9), 0);
			for (k = 0; k < (int)nf && strcmp(fams[k].name, name); k++)
				;
			if (k == (int)nf) {
				assert_true(nf < 256);
				memset(&fams[nf], 0, sizeof(fams[nf]));
				snprintf(fams[nf].name, sizeof(fams[nf].name), "%s", name);
				nf++;
			}
			if (cur >= 0 && cur != k)
				fams[cur].closed = true;
			if (fams[k].closed)
				fail_msg("family %s described again after other families", name);
			cur = k;
			if (help) {
				assert_false(fams[k].help);
				fams[k].help = true;
			} else {
				assert_string_equal(fams[k].type, ""); /* one TYPE per family */
				assert_true(!strcmp(word, "counter") || !strcmp(word, "gauge") ||
					    !strcmp(word, "histogram"));
				snprintf(fams[k].type, sizeof(fams[k].type), "%s", word);
				if (!strcmp(word, "counter"))
					assert_string_equal(name + strlen(name) - 6, "_total");
				else
					assert_true(strlen(name) < 6 ||
						    strcmp(name + strlen(name) - 6, "_total"));
			}
			continue;
		}
		assert_true(line[0] != '#');
		/* name{labels} value, or name value */
		k = (int)strcspn(line, "{ ");
		assert_true(k > 0 && k < (int)sizeof(name));
		memcpy(name, line, (size_t)k);
		name[k] = 0;
		family_of_sample(name, fams, nf, fam, sizeof(fam));
		if (cur < 0 || strcmp(fams[cur].name, fam))
			fail_msg("sample %s outside its family's block", line);
		assert_true(fams[cur].help);
		assert_true(fams[cur].type[0]);
		if (line[k] == '{') {
			char *end = strstr(line + k, "} ");

			assert_non_null(end);
			/* Label values: every quote is escaped or a delimiter. */
			for (char *p = line + k + 1; p < end; p++) {
				char *q;

				assert_true(strchr("abcdefghijklmnopqrstuvwxyz_", *p) != NULL);
				p = strchr(p, '=');
				assert_non_null(p);
				assert_int_equal(p[1], '"');
				for (q = p + 2; *q && *q != '"'; q++)
					if (*q == '\\')
						q++;
				assert_int_equal(*q, '"');
				p = q + 1;
				assert_true(*p == ',' || *p == '}');
			}
			k = (int)(end - line) + 1;
		}
		assert_int_equal(line[k], ' ');
		{
			char *e;

			strtod(line + k + 1, &e);
			assert_true(e != line + k + 1 && *e == 0);
		}
		samples++;
	}
	for (unsigned i = 0; i < nf; i++)
		if (!fams[i].help || !fams[i].type[0])
			fail_msg("family %s lacks HELP or TYPE", fams[i].name);
	return samples;
}

static void test_render_follows_the_format(void **state)
{
	char *text;

	(void)state;
	sample_figures(&fig);
	text = render(&fig);
	assert_true(check_format(text) > 2 * COUNTERS__MAX);
	free(text);
}

static void test_render_values(void **state)
{
	char *text, line[256];

	(void)state;
	sample_figures(&fig);
	text = render(&fig);
	assert_has_line(text, "# TYPE trackerd_requests_total counter");
	snprintf(line, sizeof(line),
		 "trackerd_requests_total{family=\"ipv4\",action=\"announce\"} %u",
		 1000 + COUNTERS_announce);
	assert_has_line(text, line);
	snprintf(line, sizeof(line),
		 "trackerd_requests_total{family=\"ipv6\",action=\"scrape\"} %u",
		 2000 + COUNTERS_scrape);
	assert_has_line(text, line);
	snprintf(line, sizeof(line), "trackerd_drops_total{family=\"ipv4\",reason=\"short\"} %u",
		 1000 + COUNTERS_drop_short);
	assert_has_line(text, line);
	snprintf(line, sizeof(line),
		 "trackerd_drops_total{family=\"ipv6\",reason=\"connid_expired\"} %u",
		 2000 + COUNTERS_drop_connid_expired);
	assert_has_line(text, line);
	snprintf(line, sizeof(line),
		 "trackerd_errors_total{family=\"ipv4\",reason=\"port_zero\"} %u",
		 1000 + COUNTERS_err_port_zero);
	assert_has_line(text, line);
	snprintf(line, sizeof(line),
		 "trackerd_refused_total{family=\"ipv4\",reason=\"arena_full\"} %u",
		 1000 + COUNTERS_refused_arena_full);
	assert_has_line(text, line);
	snprintf(line, sizeof(line), "trackerd_sent_bytes_total{family=\"ipv6\"} %u",
		 2000 + COUNTERS_tx_bytes);
	assert_has_line(text, line);
	snprintf(line, sizeof(line), "trackerd_received_packets_total{family=\"ipv4\"} %u",
		 1000 + COUNTERS_rx_packets);
	assert_has_line(text, line);
	assert_has_line(text, "# TYPE trackerd_torrents gauge");
	assert_has_line(text, "trackerd_torrents 11");
	assert_has_line(text, "trackerd_peers{family=\"ipv4\"} 40");
	assert_has_line(text, "trackerd_peers{family=\"ipv6\"} 6");
	assert_has_line(text, "trackerd_seeders 30");
	assert_has_line(text, "trackerd_leechers 16");
	assert_has_line(text, "trackerd_completed 77");
	assert_has_line(text, "trackerd_capacity_torrents 1000");
	assert_has_line(text, "trackerd_capacity_peers{family=\"ipv6\"} 600");
	assert_has_line(text, "trackerd_reloads_total 2");
	assert_has_line(text, "trackerd_restarts_total 3");
	assert_has_line(text, "trackerd_start_time_seconds 1799996400");
	assert_has_line(text, "trackerd_cleaning_passes_total 5");
	assert_has_line(text, "trackerd_cleaning_progress_ratio 0.250000");
	assert_has_line(text, "trackerd_workers 2");
	assert_has_line(text, "trackerd_workers_configured 2");
	assert_has_line(text, "trackerd_worker_info{worker=\"4\",cpu=\"-1\",backend=\"mmsg\","
			      "generation=\"3\"} 1");
	assert_has_line(text, "trackerd_worker_requests_total{worker=\"0\"} 5");
	assert_has_line(text, "trackerd_worker_restarts_total{worker=\"4\"} 2");
	assert_has_line(text, "trackerd_build_info{version=\"1.2.3\"} 1");
	/* No snapshot yet: no snapshot metrics, rather than a made-up age. */
	assert_no_substring(text, "trackerd_snapshot_age_seconds");
	free(text);

	fig.snapshot_valid = true;
	fig.snapshot_time = fig.now - 90;
	fig.snapshot_bytes = 4096;
	text = render(&fig);
	assert_has_line(text, "# TYPE trackerd_snapshot_age_seconds gauge");
	assert_has_line(text, "trackerd_snapshot_age_seconds 90");
	assert_has_line(text, "trackerd_snapshot_bytes 4096");
	free(text);
}

/* Every worker counter reaches the output, once per family, with its own value. */
static void test_every_counter_is_exported(void **state)
{
	char *text;

	(void)state;
	sample_figures(&fig);
	text = render(&fig);
	for (unsigned fam = 0; fam < COUNTERS_FAM__MAX; fam++) {
		for (unsigned i = 0; i < COUNTERS__MAX; i++) {
			char want[64], lab[32];
			unsigned hits = 0;

			snprintf(want, sizeof(want), "} %u\n", 1000 * (fam + 1) + i);
			snprintf(lab, sizeof(lab), "family=\"%s\"", fam ? "ipv6" : "ipv4");
			for (const char *p = text; (p = strstr(p, want)); p++) {
				const char *bol = p;

				while (bol > text && bol[-1] != '\n')
					bol--;
				if (!strncmp(bol, "trackerd_", 9) && strstr(bol, lab) &&
				    strstr(bol, lab) < p)
					hits++;
			}
			if (hits != 1)
				fail_msg("counter %s (%s) appears %u times", counters_names[i],
					 fam ? "ipv6" : "ipv4", hits);
		}
	}
	free(text);
}

static void test_label_and_help_escaping(void **state)
{
	struct metrics_buf b;
	char *text;

	(void)state;
	metrics_buf_init(&b, 0);
	assert_int_equal(metrics_escape_label(&b, "a\"b\\c\nd"), 0);
	assert_string_equal(b.data, "a\\\"b\\\\c\\nd");
	metrics_buf_free(&b);

	sample_figures(&fig);
	fig.version = "1.0\"}\nevil 1";
	text = render(&fig);
	assert_has_line(text, "trackerd_build_info{version=\"1.0\\\"}\\nevil 1\"} 1");
	assert_no_substring(text, "\nevil 1");
	check_format(text);
	free(text);
}

static void test_render_is_deterministic_and_bounded(void **state)
{
	struct metrics_buf b;
	char *a, *c;

	(void)state;
	sample_figures(&fig);
	a = render(&fig);
	c = render(&fig);
	assert_string_equal(a, c);
	free(a);
	free(c);
	/* All worker slots: still within the limit. */
	fig.nworkers = METRICS_WORKERS_MAX;
	for (unsigned i = 0; i < METRICS_WORKERS_MAX; i++)
		fig.worker[i] = (struct metrics_worker){
			.slot = i, .pid = 1000 + i, .cpu = (int)i, .backend = 1, .generation = 1
		};
	a = render(&fig);
	assert_true(strlen(a) < METRICS_TEXT_MAX);
	assert_has_line(a, "trackerd_workers 255");
	free(a);
	/* A small limit: an error, not a truncated text handed out as good. */
	metrics_buf_init(&b, 512);
	assert_int_equal(metrics_render(&fig, &b), -ENOBUFS);
	assert_true(b.overflow);
	assert_true(b.len <= 512);
	metrics_buf_free(&b);
}

/* --- histogram ------------------------------------------------------------------ */

static void test_histogram_buckets(void **state)
{
	char *text;

	(void)state;
	sample_figures(&fig); /* peers 0, 1, 3, 42, 1000000 */
	assert_int_equal(fig.hist.count, 5);
	assert_int_equal(fig.hist.sum, 1000046);
	assert_int_equal(fig.hist.bucket[0], 1); /* le 0 */
	assert_int_equal(fig.hist.bucket[1], 1); /* le 1 */
	assert_int_equal(fig.hist.bucket[3], 1); /* le 5 */
	assert_int_equal(fig.hist.bucket[6], 1); /* le 50 */
	assert_int_equal(fig.hist.bucket[METRICS_HIST_BUCKETS - 1], 1); /* +Inf */
	text = render(&fig);
	assert_has_line(text, "# TYPE trackerd_peers_per_torrent histogram");
	assert_has_line(text, "trackerd_peers_per_torrent_bucket{le=\"0\"} 1");
	assert_has_line(text, "trackerd_peers_per_torrent_bucket{le=\"2\"} 2");
	assert_has_line(text, "trackerd_peers_per_torrent_bucket{le=\"5\"} 3");
	assert_has_line(text, "trackerd_peers_per_torrent_bucket{le=\"100000\"} 4");
	assert_has_line(text, "trackerd_peers_per_torrent_bucket{le=\"+Inf\"} 5");
	assert_has_line(text, "trackerd_peers_per_torrent_count 5");
	assert_has_line(text, "trackerd_peers_per_torrent_sum 1000046");
	free(text);
	/* Exact bounds go into their own bucket; bounds rise. */
	for (unsigned i = 0; i + 1 < METRICS_HIST_BUCKETS; i++) {
		struct metrics_hist h;

		if (i)
			assert_true(metrics_hist_bounds[i] > metrics_hist_bounds[i - 1]);
		metrics_hist_reset(&h);
		metrics_hist_add(&h, metrics_hist_bounds[i]);
		assert_int_equal(h.bucket[i], 1);
		metrics_hist_add(&h, (uint64_t)metrics_hist_bounds[i] + 1);
		assert_int_equal(h.bucket[i + 1], 1);
	}
	/* Not valid yet: no histogram at all. */
	fig.hist.valid = false;
	text = render(&fig);
	assert_no_substring(text, "peers_per_torrent");
	free(text);
}

/* --- segment: collect, histogram walk, rates ---------------------------------------- */

static void announce(struct segment *seg, uint8_t h, uint8_t ip, bool v6)
{
	uint8_t hash[TORRENTS_HASH_LEN] = { h, 1, 2, 3 };
	uint8_t out[256];
	struct torrents_announce a = { .info_hash = hash, .event = TORRENTS_EVENT_STARTED };
	struct torrents_result r;

	a.peer.ipv6 = v6;
	a.peer.addr[0] = v6 ? 0x20 : 10;
	a.peer.addr[v6 ? 15 : 3] = ip;
	a.peer.port = 6881;
	a.seeding = ip % 2;
	a.now = 100;
	assert_int_equal(torrents_announce(segment_torrents(seg), &a, out, &r), 0);
	assert_int_equal(r.refused, TORRENTS_STORED);
}

static void test_collect_from_a_segment(void **state)
{
	static const uint8_t key[SEGMENT_KEY_LEN] = { 9 };
	struct segment_params sp = { 1000, 1000, 1000 };
	struct metrics_hist h;
	struct counters_block *b;
	struct segment *seg;
	struct torrents *t;
	unsigned s;

	(void)state;
	assert_int_equal(segment_create(&sp, key, &seg), 0);
	for (unsigned i = 1; i <= 3; i++)
		announce(seg, 1, (uint8_t)i, false); /* torrent 1: 3 IPv4 peers */
	announce(seg, 2, 1, true); /* torrent 2: 1 IPv6 peer */
	for (unsigned i = 1; i <= 12; i++)
		announce(seg, 3, (uint8_t)i, i > 6); /* torrent 3: 12 peers */
	b = segment_counters(seg, 3);
	b->pid = 4242;
	b->cpu = 1;
	b->backend = 2;
	b->generation = 1;
	b->restarts = 2;
	b->started = 50;
	counters_add(b, COUNTERS_FAM_IPV4, COUNTERS_announce, 7);
	counters_add(b, COUNTERS_FAM_IPV6, COUNTERS_connect, 3);
	counters_add(b, COUNTERS_FAM_IPV4, COUNTERS_rx_packets, 11);

	memset(&fig, 0, sizeof(fig));
	metrics_collect(&fig, seg, 80);
	assert_int_equal(fig.gauges.torrents, 3);
	assert_int_equal(fig.gauges.peers4, 9);
	assert_int_equal(fig.gauges.peers6, 7);
	assert_int_equal(fig.capacity.max_torrents, sp.max_torrents);
	assert_int_equal(fig.segment_bytes, segment_size(seg));
	assert_int_equal(fig.nworkers, 1);
	assert_int_equal(fig.worker[0].slot, 3);
	assert_int_equal(fig.worker[0].pid, 4242);
	assert_int_equal(fig.worker[0].cpu, 1);
	assert_int_equal(fig.worker[0].restarts, 2);
	assert_int_equal(fig.worker[0].uptime, 30);
	assert_int_equal(fig.worker[0].requests, 10);
	assert_int_equal(fig.worker[0].rx_packets, 11);

	/* The histogram, one stripe at a time, as the cleaner would build it. */
	t = segment_torrents(seg);
	metrics_hist_reset(&h);
	for (s = 0; s < torrents_stripe_count(t); s++)
		assert_int_equal(torrents_iterate_stripe(t, s, metrics_hist_visit, &h), 0);
	assert_int_equal(h.count, 3);
	assert_int_equal(h.sum, 16);
	assert_int_equal(h.bucket[1], 1); /* 1 peer */
	assert_int_equal(h.bucket[3], 1); /* 3 peers: le 5 */
	assert_int_equal(h.bucket[5], 1); /* 12 peers: le 20 */
	segment_close(seg);
}

static void test_rates(void **state)
{
	static const uint8_t key[SEGMENT_KEY_LEN] = { 9 };
	struct segment_params sp = { 1000, 1000, 1000 };
	static uint64_t total[COUNTERS_FAM__MAX][COUNTERS__MAX];
	static struct metrics_rates r;
	struct counters_block *b;
	struct segment *seg;

	(void)state;
	assert_int_equal(segment_create(&sp, key, &seg), 0);
	b = segment_counters(seg, 0);
	b->pid = 10;
	metrics_rates_init(&r);
	memset(total, 0, sizeof(total));

	metrics_rates_sample(&r, total, seg, 1000);
	memset(&fig, 0, sizeof(fig));
	metrics_collect(&fig, seg, 0);
	metrics_rates_get(&r, &fig);
	assert_int_equal(fig.rate_window, 0); /* one sample: no rate yet */

	/* Two seconds later: 400 announces, 200 datagrams. */
	total[COUNTERS_FAM_IPV4][COUNTERS_announce] = 400;
	counters_add(b, COUNTERS_FAM_IPV4, COUNTERS_announce, 400);
	counters_add(b, COUNTERS_FAM_IPV6, COUNTERS_rx_packets, 200);
	metrics_rates_sample(&r, total, seg, 2000);
	metrics_rates_sample(&r, total, seg, 2100); /* too soon: ignored */
	metrics_rates_sample(&r, total, seg, 3000);
	metrics_collect(&fig, seg, 0);
	metrics_rates_get(&r, &fig);
	assert_int_equal(fig.rate_window, 2);
	assert_true(fig.rate[COUNTERS_FAM_IPV4][COUNTERS_announce] > 199.9 &&
		    fig.rate[COUNTERS_FAM_IPV4][COUNTERS_announce] < 200.1);
	assert_true(fig.worker[0].requests_rate > 199.9 && fig.worker[0].requests_rate < 200.1);
	assert_true(fig.worker[0].rx_rate > 99.9 && fig.worker[0].rx_rate < 100.1);

	/* The slot's worker restarts: its rate starts over instead of going negative. */
	b->pid = 11;
	metrics_rates_sample(&r, total, seg, 4000);
	metrics_collect(&fig, seg, 0);
	metrics_rates_get(&r, &fig);
	assert_true(fig.worker[0].requests_rate == 0);

	/* The window never exceeds 10 s. */
	for (unsigned i = 0; i < 30; i++)
		metrics_rates_sample(&r, total, seg, 5000 + 1000 * i);
	metrics_rates_get(&r, &fig);
	assert_int_equal(fig.rate_window, 10);
	segment_close(seg);
}

/*
 * Every metric family in the output is documented in trackerd-metrics(7) as
 * ".It Li NAME Pq TYPE", and the page documents nothing the output lacks.
 */
static void test_every_metric_is_documented(void **state)
{
	char *text, *man, *save = NULL, *line;
	unsigned documented = 0, rendered = 0;
	size_t mlen = 0;
	FILE *in, *out;
	char buf[512];

	(void)state;
	in = fopen("man/trackerd-metrics.7", "re");
	if (!in)
		fail_msg("man/trackerd-metrics.7 not found: run from the repository root");
	out = open_memstream(&man, &mlen);
	assert_non_null(out);
	while (fgets(buf, sizeof(buf), in))
		fputs(buf, out);
	fclose(in);
	assert_int_equal(fclose(out), 0);

	sample_figures(&fig);
	fig.snapshot_valid = true;
	text = render(&fig);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[96], type[16], want[160];

		if (sscanf(line, "# TYPE %95s %15s", name, type) != 2)
			continue;
		rendered++;
		snprintf(want, sizeof(want), "\n.It Li %s Pq %s\n", name, type);
		if (!strstr(man, want))
			fail_msg("%s (%s) is not documented in man/trackerd-metrics.7", name, type);
	}
	free(text);
	text = render(&fig); /* strtok_r cut the first one */
	for (const char *p = man; (p = strstr(p, "\n.It Li trackerd_")); p++) {
		char name[96], want[128];

		assert_int_equal(sscanf(p, "\n.It Li %95s", name), 1);
		snprintf(want, sizeof(want), "# TYPE %s ", name);
		if (!strstr(text, want))
			fail_msg("man/trackerd-metrics.7 documents %s, which is not rendered",
				 name);
		documented++;
	}
	assert_int_equal(documented, rendered);
	free(text);
	free(man);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_grows_and_stops_at_its_limit),
		cmocka_unit_test(test_render_follows_the_format),
		cmocka_unit_test(test_render_values),
		cmocka_unit_test(test_every_counter_is_exported),
		cmocka_unit_test(test_label_and_help_escaping),
		cmocka_unit_test(test_render_is_deterministic_and_bounded),
		cmocka_unit_test(test_histogram_buckets),
		cmocka_unit_test(test_collect_from_a_segment),
		cmocka_unit_test(test_rates),
		cmocka_unit_test(test_every_metric_is_documented),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
