/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * daemon/metrics.c - the tracker's figures and their Prometheus rendering.
 *
 * Owns the metric names: which counter becomes which metric family with
 * which labels, the help texts, and the text exposition format. It reads
 * the segment (metrics_collect) but never writes it, and never logs.
 *
 * Design notes:
 * - Worker counters are grouped into families by name, so a counter added
 *   to shm/counters.h later is exported without touching this file:
 *   drop_X becomes trackerd_drops_total{reason="X"}, err_X
 *   trackerd_errors_total{reason="X"}, refused_X
 *   trackerd_refused_total{reason="X"}; the few named in counter_map below
 *   get a family of their own; anything else becomes trackerd_NAME_total.
 *   Every worker counter carries family="ipv4|ipv6".
 * - Samples of one family are written together after its HELP and TYPE
 *   lines, as the format requires; families come in a fixed order so two
 *   renders of the same figures are byte-identical (trackerctl metrics and
 *   GET /metrics are the same text).
 * - Counters that live in the control process (cleaning) restart from zero
 *   when a reload replaces that process; Prometheus treats a drop as a
 *   counter reset. The worker totals never go backwards (the caller folds
 *   them that way).
 * - Output is bounded: the buffer has a hard limit (METRICS_TEXT_MAX) and
 *   at most METRICS_WORKERS_MAX workers are listed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/metrics.h"

const uint32_t metrics_hist_bounds[METRICS_HIST_BUCKETS - 1] = {
	0, 1, 2, 5, 10, 20, 50, 100, 1000, 10000, 100000,
};

static const char *const fam_label[COUNTERS_FAM__MAX] = { "ipv4", "ipv6" };

/* --- text buffer ------------------------------------------------------------ */

void metrics_buf_init(struct metrics_buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max ? max : METRICS_TEXT_MAX;
}

void metrics_buf_free(struct metrics_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
	b->overflow = false;
}

void metrics_buf_reset(struct metrics_buf *b)
{
	b->len = 0;
	b->overflow = false;
	if (b->data)
		b->data[0] = 0;
}

/* Make room for n more bytes plus the NUL; false on overflow. */
static bool reserve(struct metrics_buf *b, size_t n)
{
	size_t need, cap;
	char *p;

	if (b->overflow)
		return false;
	if (n > b->max || b->len + n > b->max) {
		b->overflow = true;
		return false;
	}
	need = b->len + n + 1;
	if (need <= b->cap)
		return true;
	cap = b->cap ? b->cap : 4096;
	while (cap < need)
		cap *= 2;
	if (cap - 1 > b->max) /* not cap > max + 1: max may be SIZE_MAX */
		cap = b->max + 1;
	p = realloc(b->data, cap);
	if (!p) {
		b->overflow = true;
		return false;
	}
	b->data = p;
	b->cap = cap;
	return true;
}

int metrics_buf_append(struct metrics_buf *b, const char *s, size_t n)
{
	if (!reserve(b, n))
		return -ENOBUFS;
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = 0;
	return 0;
}

int metrics_buf_vprintf(struct metrics_buf *b, const char *fmt, va_list ap)
{
	va_list aq;
	int n;

	if (b->overflow)
		return -ENOBUFS;
	va_copy(aq, ap);
	n = vsnprintf(b->data ? b->data + b->len : NULL, b->data ? b->cap - b->len : 0, fmt, aq);
	va_end(aq);
	if (n < 0) {
		b->overflow = true;
		return -ENOBUFS;
	}
	if (b->data && (size_t)n < b->cap - b->len) {
		if (b->len + (size_t)n > b->max) {
			b->data[b->len] = 0;
			b->overflow = true;
			return -ENOBUFS;
		}
		b->len += (size_t)n;
		return 0;
	}
	if (!reserve(b, (size_t)n))
		return -ENOBUFS;
	vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int metrics_buf_printf(struct metrics_buf *b, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = metrics_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return r;
}

char *metrics_buf_steal(struct metrics_buf *b, size_t *ret_len)
{
	char *p = b->data;

	if (!p && reserve(b, 0))
		p = b->data;
	if (p)
		p[b->len] = 0;
	*ret_len = p ? b->len : 0;
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}

/* --- counter families ------------------------------------------------------- */

struct cfamily {
	const char *prefix; /* counter name prefix that selects the family, or NULL */
	const char *metric; /* without trackerd_ and _total */
	const char *label; /* second label besides family, or NULL */
	const char *help;
};

static const struct cfamily cfamilies[] = {
	{ NULL, "requests", "action", "Requests answered, by action (connect, announce, scrape)." },
	{ "err_", "errors", "reason", "Requests answered with an error reply, by reason." },
	{ "drop_", "drops", "reason", "Datagrams dropped without a reply, by reason." },
	{ "refused_", "refused", "reason",
	  "Announces answered but not stored because the table was full, by reason." },
	{ NULL, "error_replies", NULL, "Error replies sent." },
	{ NULL, "received_packets", NULL, "Datagrams received." },
	{ NULL, "received_bytes", NULL, "Bytes received in datagrams (UDP payload)." },
	{ NULL, "sent_packets", NULL, "Reply datagrams sent." },
	{ NULL, "sent_bytes", NULL, "Bytes sent in reply datagrams (UDP payload)." },
	{ NULL, "announce_peers", NULL, "Peers returned in announce replies." },
	{ NULL, "scrape_hashes", NULL, "Info-hashes answered in scrape replies." },
	{ NULL, "send_errors", NULL, "Replies the kernel refused to send." },
	{ NULL, "receive_buffer_exhausted", NULL,
	  "Times the io_uring receive buffers ran out (receive re-armed)." },
};
#define NCFAMILIES (sizeof(cfamilies) / sizeof(cfamilies[0]))

/* Counters with a family of their own (not selected by prefix). */
static const struct {
	const char *counter;
	const char *metric;
	const char *label_value; /* for families with a second label */
} counter_map[] = {
	{ "connect", "requests", "connect" },
	{ "announce", "requests", "announce" },
	{ "scrape", "requests", "scrape" },
	{ "error_replies", "error_replies", NULL },
	{ "rx_packets", "received_packets", NULL },
	{ "rx_bytes", "received_bytes", NULL },
	{ "tx_packets", "sent_packets", NULL },
	{ "tx_bytes", "sent_bytes", NULL },
	{ "announce_peers", "announce_peers", NULL },
	{ "scrape_hashes", "scrape_hashes", NULL },
	{ "send_errors", "send_errors", NULL },
	{ "rx_nobufs", "receive_buffer_exhausted", NULL },
};
#define NCOUNTER_MAP (sizeof(counter_map) / sizeof(counter_map[0]))

/*
 * Family of counter i (index into cfamilies, or -1: exported as
 * trackerd_NAME_total) and the value of its second label.
 */
static int classify(unsigned i, const char **ret_value)
{
	const char *name = counters_names[i];
	unsigned k;

	*ret_value = NULL;
	for (k = 0; k < NCOUNTER_MAP; k++) {
		if (strcmp(counter_map[k].counter, name))
			continue;
		for (unsigned j = 0; j < NCFAMILIES; j++) {
			if (!strcmp(cfamilies[j].metric, counter_map[k].metric)) {
				*ret_value = counter_map[k].label_value;
				return (int)j;
			}
		}
	}
	for (k = 0; k < NCFAMILIES; k++) {
		size_t n;

		if (!cfamilies[k].prefix)
			continue;
		n = strlen(cfamilies[k].prefix);
		if (!strncmp(name, cfamilies[k].prefix, n) && name[n]) {
			*ret_value = name + n;
			return (int)k;
		}
	}
	return -1;
}

/* --- rendering helpers ----------------------------------------------------------- */

int metrics_escape_label(struct metrics_buf *out, const char *s)
{
	const char *run = s;
	int r = 0;

	for (; *s; s++) {
		const char *rep = *s == '\\' ? "\\\\" :
				  *s == '"'  ? "\\\"" :
				  *s == '\n' ? "\\n" :
					       NULL;

		if (!rep)
			continue;
		metrics_buf_append(out, run, (size_t)(s - run));
		r = metrics_buf_append(out, rep, 2);
		run = s + 1;
	}
	metrics_buf_append(out, run, (size_t)(s - run));
	return out->overflow ? -ENOBUFS : r;
}

/* HELP text: backslash and newline escaped. */
static void escape_help(struct metrics_buf *out, const char *s)
{
	const char *run = s;

	for (; *s; s++) {
		const char *rep = *s == '\\' ? "\\\\" : *s == '\n' ? "\\n" : NULL;

		if (!rep)
			continue;
		metrics_buf_append(out, run, (size_t)(s - run));
		metrics_buf_append(out, rep, 2);
		run = s + 1;
	}
	metrics_buf_append(out, run, (size_t)(s - run));
}

static void head(struct metrics_buf *out, const char *name, const char *suffix, const char *type,
		 const char *help)
{
	metrics_buf_printf(out, "# HELP trackerd_%s%s ", name, suffix);
	escape_help(out, help);
	metrics_buf_printf(out, "\n# TYPE trackerd_%s%s %s\n", name, suffix, type);
}

/*
 * One sample: trackerd_NAME{labels} VALUE. labels is a list of n
 * name/value pairs (values escaped here).
 */
static void sample_u(struct metrics_buf *out, const char *name, const char *suffix,
		     const char *const *labels, unsigned n, uint64_t v)
{
	metrics_buf_printf(out, "trackerd_%s%s", name, suffix);
	for (unsigned i = 0; i < n; i++) {
		metrics_buf_printf(out, "%s%s=\"", i ? "," : "{", labels[2 * i]);
		metrics_escape_label(out, labels[2 * i + 1]);
		metrics_buf_append(out, "\"", 1);
	}
	metrics_buf_printf(out, "%s %llu\n", n ? "}" : "", (unsigned long long)v);
}

static void gauge(struct metrics_buf *out, const char *name, const char *help, uint64_t v)
{
	head(out, name, "", "gauge", help);
	sample_u(out, name, "", NULL, 0, v);
}

static void counter(struct metrics_buf *out, const char *name, const char *help, uint64_t v)
{
	head(out, name, "_total", "counter", help);
	sample_u(out, name, "_total", NULL, 0, v);
}

static void per_family(struct metrics_buf *out, const char *name, const char *suffix,
		       const char *type, const char *help, const uint64_t v[COUNTERS_FAM__MAX])
{
	head(out, name, suffix, type, help);
	for (unsigned f = 0; f < COUNTERS_FAM__MAX; f++) {
		const char *l[] = { "family", fam_label[f] };

		sample_u(out, name, suffix, l, 1, v[f]);
	}
}

static void render_counters(const struct metrics_figures *f, struct metrics_buf *out)
{
	const char *value;
	unsigned k, i, fam;

	for (k = 0; k < NCFAMILIES; k++) {
		const struct cfamily *cf = &cfamilies[k];
		bool headed = false;

		for (i = 0; i < COUNTERS__MAX; i++) {
			if (classify(i, &value) != (int)k)
				continue;
			if (!headed)
				head(out, cf->metric, "_total", "counter", cf->help);
			headed = true;
			for (fam = 0; fam < COUNTERS_FAM__MAX; fam++) {
				const char *l[] = { "family", fam_label[fam], cf->label, value };

				sample_u(out, cf->metric, "_total", l, cf->label && value ? 2 : 1,
					 f->total[fam][i]);
			}
		}
	}
	/* Counters no family claims: one family each, named after the counter. */
	for (i = 0; i < COUNTERS__MAX; i++) {
		uint64_t v[COUNTERS_FAM__MAX];

		if (classify(i, &value) >= 0)
			continue;
		for (fam = 0; fam < COUNTERS_FAM__MAX; fam++)
			v[fam] = f->total[fam][i];
		per_family(out, counters_names[i], "_total", "counter", counters_help[i], v);
	}
}

static void render_hist(const struct metrics_hist *h, struct metrics_buf *out)
{
	uint64_t cum = 0;
	char le[16];

	if (!h->valid)
		return;
	head(out, "peers_per_torrent", "", "histogram",
	     "Torrents by number of peers (both families), from the last full cleaning pass.");
	for (unsigned i = 0; i < METRICS_HIST_BUCKETS; i++) {
		const char *l[] = { "le", le };

		cum += h->bucket[i];
		if (i < METRICS_HIST_BUCKETS - 1)
			snprintf(le, sizeof(le), "%u", metrics_hist_bounds[i]);
		else
			snprintf(le, sizeof(le), "+Inf");
		sample_u(out, "peers_per_torrent", "_bucket", l, 1, cum);
	}
	sample_u(out, "peers_per_torrent", "_sum", NULL, 0, h->sum);
	sample_u(out, "peers_per_torrent", "_count", NULL, 0, h->count);
}

static const char *backend_name(uint32_t b)
{
	return b == 1 ? "io_uring" : b == 2 ? "mmsg" : "starting";
}

static void render_workers(const struct metrics_figures *f, struct metrics_buf *out)
{
	unsigned n = f->nworkers < METRICS_WORKERS_MAX ? f->nworkers : METRICS_WORKERS_MAX;
	char slot[12], cpu[12], gen[12];
	unsigned i;

	gauge(out, "workers", "Socket workers running.", n);
	gauge(out, "workers_configured", "Socket workers the configuration asks for.",
	      f->workers_configured);
	head(out, "worker_info", "", "gauge",
	     "Always 1 for each running socket worker; labels describe it.");
	for (i = 0; i < n; i++) {
		const struct metrics_worker *w = &f->worker[i];
		const char *l[] = { "worker",	  slot,	     "cpu",
				    cpu,	  "backend", backend_name(w->backend),
				    "generation", gen };

		snprintf(slot, sizeof(slot), "%u", w->slot);
		snprintf(cpu, sizeof(cpu), "%d", w->cpu);
		snprintf(gen, sizeof(gen), "%u", w->generation);
		sample_u(out, "worker_info", "", l, 4, 1);
	}
#define PER_WORKER(name, suffix, type, help, field)                              \
	head(out, name, suffix, type, help);                                     \
	for (i = 0; i < n; i++) {                                                \
		const char *l[] = { "worker", slot };                            \
		snprintf(slot, sizeof(slot), "%u", f->worker[i].slot);           \
		sample_u(out, name, suffix, l, 1, (uint64_t)f->worker[i].field); \
	}
	PER_WORKER("worker_requests", "_total", "counter",
		   "Requests answered by this worker (both families, all actions).", requests)
	PER_WORKER("worker_received_packets", "_total", "counter",
		   "Datagrams received by this worker (both families).", rx_packets)
	PER_WORKER("worker_restarts", "_total", "counter",
		   "Times the worker in this slot was restarted after it died.", restarts)
	PER_WORKER("worker_uptime", "_seconds", "gauge",
		   "Seconds since the worker in this slot (re)started.", uptime)
#undef PER_WORKER
}

int metrics_render(const struct metrics_figures *f, struct metrics_buf *out)
{
	const struct torrents_gauges *g = &f->gauges;
	uint64_t v[COUNTERS_FAM__MAX];
	uint64_t restarts = 0;

	if (f->version) {
		const char *l[] = { "version", f->version };

		head(out, "build_info", "", "gauge",
		     "Always 1; the version label names the build.");
		sample_u(out, "build_info", "", l, 1, 1);
	}
	gauge(out, "start_time_seconds", "Time the daemon started, seconds since the epoch.",
	      f->started);
	counter(out, "reloads", "Configuration reloads applied since the daemon started.",
		f->reloads);
	for (unsigned i = 0; i < f->nworkers && i < METRICS_WORKERS_MAX; i++)
		restarts += f->worker[i].restarts;
	counter(out, "restarts", "Restarts of socket workers that died, over the running slots.",
		restarts);

	render_counters(f, out);

	gauge(out, "torrents", "Torrents in the table.", g->torrents);
	v[COUNTERS_FAM_IPV4] = g->peers4;
	v[COUNTERS_FAM_IPV6] = g->peers6;
	per_family(out, "peers", "", "gauge", "Peers in the table.", v);
	gauge(out, "seeders", "Seeders in the table (both families).", g->seeders);
	gauge(out, "leechers", "Leechers in the table (both families).", g->leechers);
	gauge(out, "completed", "Completed downloads recorded by the torrents in the table.",
	      g->completed);
	gauge(out, "capacity_torrents", "Most torrents the table can hold.",
	      f->capacity.max_torrents);
	v[COUNTERS_FAM_IPV4] = f->capacity.max_peers4;
	v[COUNTERS_FAM_IPV6] = f->capacity.max_peers6;
	per_family(out, "capacity_peers", "", "gauge", "Most peers the table can hold.", v);
	v[COUNTERS_FAM_IPV4] = g->arena4_bytes_used;
	v[COUNTERS_FAM_IPV6] = g->arena6_bytes_used;
	per_family(out, "arena_used_bytes", "", "gauge", "Bytes of the peer arena in use.", v);
	v[COUNTERS_FAM_IPV4] = g->arena4_bytes_size;
	v[COUNTERS_FAM_IPV6] = g->arena6_bytes_size;
	per_family(out, "arena_capacity_bytes", "", "gauge", "Bytes of the peer arena.", v);
	gauge(out, "segment_bytes", "Bytes of the shared-memory segment.", f->segment_bytes);
	counter(out, "lock_contended", "Stripe lock acquisitions that had to wait.",
		g->lock_contended);
	counter(out, "lock_recoveries", "Stripes repaired after a process died holding the lock.",
		g->lock_recoveries);
	render_hist(&f->hist, out);

	counter(out, "cleaning_passes", "Full cleaning passes over the table completed.",
		f->clean_passes);
	head(out, "cleaning_progress", "_ratio", "gauge",
	     "Fraction of the stripes of the current cleaning pass done.");
	metrics_buf_printf(out, "trackerd_cleaning_progress_ratio %.6f\n",
			   f->clean_stripes ? (double)f->clean_stripe / f->clean_stripes : 0.0);
	counter(out, "cleaning_errors", "Stripes the cleaner could not clean.", f->clean_errors);
	v[COUNTERS_FAM_IPV4] = f->cleaned.peers4_removed;
	v[COUNTERS_FAM_IPV6] = f->cleaned.peers6_removed;
	per_family(out, "cleaned_peers", "_total", "counter", "Expired peers removed by cleaning.",
		   v);
	counter(out, "cleaned_torrents", "Empty torrents removed by cleaning.",
		f->cleaned.torrents_removed);

	if (f->snapshot_valid) {
		gauge(out, "snapshot_age_seconds", "Seconds since the newest snapshot was written.",
		      f->now > f->snapshot_time ? f->now - f->snapshot_time : 0);
		gauge(out, "snapshot_bytes", "Size of the newest snapshot file.",
		      f->snapshot_bytes);
	}

	render_workers(f, out);

	counter(out, "http_requests", "HTTP requests answered by the metrics endpoint.",
		f->http_requests);
	counter(out, "http_rejected",
		"HTTP requests refused (method, path, overload) by the metrics endpoint.",
		f->http_rejected);
	counter(out, "http_timeouts", "HTTP connections dropped at their deadline.",
		f->http_timeouts);
	return out->overflow ? -ENOBUFS : 0;
}

/* --- collecting ------------------------------------------------------------------ */

void metrics_collect(struct metrics_figures *f, struct segment *seg, uint32_t now_boot)
{
	unsigned slot, n = 0;

	torrents_get_gauges(segment_torrents(seg), &f->gauges);
	segment_get_params(seg, &f->capacity);
	f->segment_bytes = segment_size(seg);
	for (slot = 0; slot < METRICS_WORKERS_MAX; slot++) {
		const struct counters_block *b = segment_counters(seg, slot);
		uint32_t pid = __atomic_load_n(&b->pid, __ATOMIC_RELAXED);
		struct metrics_worker *w = &f->worker[n];

		if (!pid)
			continue;
		memset(w, 0, sizeof(*w));
		w->slot = slot;
		w->pid = pid;
		w->cpu = b->cpu;
		w->backend = b->backend;
		w->generation = b->generation;
		w->restarts = b->restarts;
		w->uptime = now_boot >= b->started ? now_boot - b->started : 0;
		for (unsigned fam = 0; fam < COUNTERS_FAM__MAX; fam++) {
			w->requests += counters_read(b, fam, COUNTERS_connect) +
				       counters_read(b, fam, COUNTERS_announce) +
				       counters_read(b, fam, COUNTERS_scrape);
			w->rx_packets += counters_read(b, fam, COUNTERS_rx_packets);
		}
		n++;
	}
	f->nworkers = n;
}

/* --- histogram ------------------------------------------------------------------- */

void metrics_hist_reset(struct metrics_hist *h)
{
	memset(h, 0, sizeof(*h));
}

void metrics_hist_add(struct metrics_hist *h, uint64_t peers)
{
	unsigned lo = 0, hi = METRICS_HIST_BUCKETS - 1;

	/* First bound >= peers; hi (the +Inf bucket) if none. */
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;

		if (peers <= metrics_hist_bounds[mid])
			hi = mid;
		else
			lo = mid + 1;
	}
	h->bucket[lo]++;
	h->count++;
	h->sum += peers;
}

int metrics_hist_visit(const struct torrents_view *v, void *arg)
{
	metrics_hist_add(arg, (uint64_t)v->npeers4 + v->npeers6);
	return 0;
}

/* --- rates ----------------------------------------------------------------------- */

void metrics_rates_init(struct metrics_rates *r)
{
	memset(r, 0, sizeof(*r));
}

void metrics_rates_sample(struct metrics_rates *r,
			  const uint64_t total[COUNTERS_FAM__MAX][COUNTERS__MAX],
			  struct segment *seg, uint64_t now_ms)
{
	unsigned p, slot;

	if (r->len && now_ms < r->ms[r->pos] + 500)
		return;
	p = r->len ? (r->pos + 1) % METRICS_RATE_SAMPLES : 0;
	r->ms[p] = now_ms;
	memcpy(r->total[p], total, sizeof(r->total[p]));
	for (slot = 0; slot < METRICS_WORKERS_MAX; slot++) {
		const struct counters_block *b = segment_counters(seg, slot);
		uint64_t req = 0, rx = 0;

		r->pid[p][slot] = __atomic_load_n(&b->pid, __ATOMIC_RELAXED);
		if (r->pid[p][slot]) {
			for (unsigned fam = 0; fam < COUNTERS_FAM__MAX; fam++) {
				req += counters_read(b, fam, COUNTERS_connect) +
				       counters_read(b, fam, COUNTERS_announce) +
				       counters_read(b, fam, COUNTERS_scrape);
				rx += counters_read(b, fam, COUNTERS_rx_packets);
			}
		}
		r->requests[p][slot] = req;
		r->rx[p][slot] = rx;
	}
	r->pos = p;
	if (r->len < METRICS_RATE_SAMPLES)
		r->len++;
}

static double per_sec(uint64_t new, uint64_t old, uint64_t ms)
{
	return new > old &&ms ? (double)(new - old) * 1000.0 / (double)ms : 0.0;
}

void metrics_rates_get(const struct metrics_rates *r, struct metrics_figures *f)
{
	unsigned old, fam, i;
	uint64_t ms;

	memset(f->rate, 0, sizeof(f->rate));
	f->rate_window = 0;
	for (i = 0; i < f->nworkers && i < METRICS_WORKERS_MAX; i++)
		f->worker[i].requests_rate = f->worker[i].rx_rate = 0;
	if (r->len < 2)
		return;
	old = (r->pos + METRICS_RATE_SAMPLES - (r->len - 1)) % METRICS_RATE_SAMPLES;
	ms = r->ms[r->pos] - r->ms[old];
	f->rate_window = (unsigned)((ms + 500) / 1000);
	for (fam = 0; fam < COUNTERS_FAM__MAX; fam++)
		for (i = 0; i < COUNTERS__MAX; i++)
			f->rate[fam][i] =
				per_sec(r->total[r->pos][fam][i], r->total[old][fam][i], ms);
	for (i = 0; i < f->nworkers && i < METRICS_WORKERS_MAX; i++) {
		struct metrics_worker *w = &f->worker[i];
		unsigned s = w->slot, o = old;

		if (s >= METRICS_WORKERS_MAX || r->pid[r->pos][s] != w->pid)
			continue;
		/* The oldest sample of this worker's life (a restart starts over). */
		while (o != r->pos && r->pid[o][s] != w->pid)
			o = (o + 1) % METRICS_RATE_SAMPLES;
		if (o == r->pos)
			continue;
		w->requests_rate = per_sec(r->requests[r->pos][s], r->requests[o][s],
					   r->ms[r->pos] - r->ms[o]);
		w->rx_rate = per_sec(r->rx[r->pos][s], r->rx[o][s], r->ms[r->pos] - r->ms[o]);
	}
}
