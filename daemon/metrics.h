/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * daemon/metrics.h - the tracker's figures and their Prometheus rendering.
 *
 * One struct metrics_figures holds everything the control process shows
 * about the running tracker: folded counters per address family, table
 * gauges, capacity, cleaning progress, reloads and restarts, snapshot age,
 * per-worker figures and rates, and a peers-per-torrent histogram. The
 * control process fills it (metrics_collect() reads the segment, the rest
 * it knows itself) and hands it to metrics_render() for `trackerctl metrics`
 * and GET /metrics, and to statspage_render() for the HTML page, so the
 * three always agree.
 *
 * The renderer is pure: figures in, text out, no I/O, no clock, no logging.
 * Metric names and their help texts are documented in trackerd-metrics(7).
 */
#ifndef TRACKER_DAEMON_METRICS_H
#define TRACKER_DAEMON_METRICS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shm/counters.h"
#include "shm/segment.h"
#include "shm/torrents.h"

/* Worker slots that can be shown (every slot but the retired-sums block). */
#define METRICS_WORKERS_MAX (SEGMENT_WORKER_SLOTS - 1)
/* Seconds of samples kept by struct metrics_rates: rates over up to 10 s. */
#define METRICS_RATE_SAMPLES 11u
/* Histogram buckets of peers per torrent, the last one is +Inf. */
#define METRICS_HIST_BUCKETS 12u
/* Largest text metrics_render() or statspage_render() may produce. */
#define METRICS_TEXT_MAX (2u << 20)

/* Upper bounds (le) of the finite buckets: 0, 1, 2, 5, 10, ... 100000. */
extern const uint32_t metrics_hist_bounds[METRICS_HIST_BUCKETS - 1];

/* Peers-per-torrent histogram; counts are per bucket, not cumulative. */
struct metrics_hist {
	uint64_t bucket[METRICS_HIST_BUCKETS]; /* torrents with bound[i-1] < peers <= bound[i] */
	uint64_t count; /* torrents seen */
	uint64_t sum; /* peers over those torrents, both families */
	bool valid; /* a whole pass over the table went into it */
};

/* One live worker slot. */
struct metrics_worker {
	unsigned slot; /* counter slot, the "worker" label */
	uint32_t pid;
	int32_t cpu; /* -1: not pinned */
	uint32_t backend; /* 1 io_uring, 2 mmsg, 0 starting */
	uint32_t generation; /* reload generation that started it */
	uint32_t restarts; /* times this slot's worker was restarted */
	uint64_t uptime; /* seconds since it (re)started */
	uint64_t requests; /* connect + announce + scrape answered, both families */
	uint64_t rx_packets; /* datagrams received, both families */
	double requests_rate; /* per second over the rate window, 0 until known */
	double rx_rate; /* datagrams per second, likewise */
};

struct metrics_figures {
	/* daemon */
	const char *version; /* NULL: not shown */
	uint64_t now; /* CLOCK_REALTIME seconds when collected */
	uint64_t started; /* CLOCK_REALTIME seconds the daemon started */
	unsigned generation; /* worker generation; reloads = generation - 1 */
	unsigned workers_configured;
	uint64_t reloads; /* reloads applied since start */

	/* worker counters folded over all slots, never going backwards */
	uint64_t total[COUNTERS_FAM__MAX][COUNTERS__MAX];
	/* per-second rates of the same, over rate_window seconds (0: unknown) */
	double rate[COUNTERS_FAM__MAX][COUNTERS__MAX];
	unsigned rate_window;

	/* the table */
	struct torrents_gauges gauges;
	struct segment_params capacity;
	uint64_t segment_bytes;
	struct metrics_hist hist;

	/* cleaning, by this control process */
	unsigned clean_stripe; /* stripes done in the current pass */
	unsigned clean_stripes; /* stripes per pass */
	uint64_t clean_passes; /* passes completed */
	uint64_t clean_errors;
	struct torrents_clean_result cleaned;

	/* snapshots */
	bool snapshot_valid; /* false until a snapshot was written or loaded */
	uint64_t snapshot_time; /* CLOCK_REALTIME seconds of the newest snapshot */
	uint64_t snapshot_bytes;

	/* the HTTP endpoint itself */
	uint64_t http_requests; /* requests answered */
	uint64_t http_rejected; /* refused: method, path, size or overload */
	uint64_t http_timeouts; /* connections dropped at their deadline */

	/* workers */
	unsigned nworkers;
	struct metrics_worker worker[METRICS_WORKERS_MAX];
};

/* --- text buffers -------------------------------------------------------- */

/*
 * A growing text buffer with a hard limit: once an append would pass max,
 * the buffer is marked overflowed and later appends do nothing.
 */
struct metrics_buf {
	char *data; /* NUL-terminated while len < cap */
	size_t len;
	size_t cap;
	size_t max;
	bool overflow; /* an append did not fit (or memory ran out) */
};

/* An empty buffer that will hold at most max bytes (0: METRICS_TEXT_MAX). */
void metrics_buf_init(struct metrics_buf *b, size_t max);
void metrics_buf_free(struct metrics_buf *b);
/* Forget the contents, keep the memory. */
void metrics_buf_reset(struct metrics_buf *b);
/* Append; 0 or -ENOBUFS (overflow: limit or memory). */
int metrics_buf_printf(struct metrics_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int metrics_buf_vprintf(struct metrics_buf *b, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
int metrics_buf_append(struct metrics_buf *b, const char *s, size_t n);
/* Hand the text over: returns data (malloc'ed, caller frees), buffer emptied. */
char *metrics_buf_steal(struct metrics_buf *b, size_t *ret_len);

/* --- rendering --------------------------------------------------------- */

/*
 * Append the Prometheus text exposition (format 0.0.4) of f to out: a
 * "# HELP" and "# TYPE" line before each metric family, label values
 * escaped. Returns 0 or -ENOBUFS when out overflowed.
 */
int metrics_render(const struct metrics_figures *f, struct metrics_buf *out);

/* Content type of metrics_render()'s output, for HTTP. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Append s as a Prometheus label value: \ " and newline escaped. */
int metrics_escape_label(struct metrics_buf *out, const char *s);

/* --- collecting -------------------------------------------------------- */

/*
 * Fill the parts of f that live in the segment: gauges (summed over the
 * stripes), capacity, segment size and the live worker slots (pid, cpu,
 * backend, generation, restarts, uptime, request and datagram totals).
 * now_boot is CLOCK_BOOTTIME seconds (the clock of the blocks' "started").
 * Rates are left alone: see metrics_rates_get(). Everything else in f
 * (totals, cleaning, snapshots, histogram, daemon fields) is the caller's.
 */
void metrics_collect(struct metrics_figures *f, struct segment *seg, uint32_t now_boot);

/* --- histogram --------------------------------------------------------- */

void metrics_hist_reset(struct metrics_hist *h);
/* Count one torrent with this many peers. */
void metrics_hist_add(struct metrics_hist *h, uint64_t peers);
/*
 * A torrents_iter_fn: counts each torrent visited into the struct
 * metrics_hist passed as arg, so the control process can build the
 * histogram one stripe at a time while it cleans:
 *	torrents_iterate_stripe(table, stripe, metrics_hist_visit, &acc);
 * Never fails, never blocks (it runs under the stripe lock).
 */
int metrics_hist_visit(const struct torrents_view *v, void *arg);

/* --- rates ------------------------------------------------------------- */

/*
 * Per-second rates over the last (up to) 10 seconds, for the totals and for
 * each worker slot. Call metrics_rates_sample() about once a second (it
 * ignores samples less than 500 ms after the previous one); a slot whose
 * pid changed starts over.
 */
struct metrics_rates {
	uint64_t ms[METRICS_RATE_SAMPLES]; /* CLOCK_MONOTONIC ms of each sample */
	uint64_t total[METRICS_RATE_SAMPLES][COUNTERS_FAM__MAX][COUNTERS__MAX];
	uint64_t requests[METRICS_RATE_SAMPLES][METRICS_WORKERS_MAX];
	uint64_t rx[METRICS_RATE_SAMPLES][METRICS_WORKERS_MAX];
	uint32_t pid[METRICS_RATE_SAMPLES][METRICS_WORKERS_MAX];
	unsigned len; /* valid samples, newest at pos */
	unsigned pos;
};

void metrics_rates_init(struct metrics_rates *r);
void metrics_rates_sample(struct metrics_rates *r,
			  const uint64_t total[COUNTERS_FAM__MAX][COUNTERS__MAX],
			  struct segment *seg, uint64_t now_ms);
/* Fill f->rate, f->rate_window and each f->worker[i] rate (after metrics_collect()). */
void metrics_rates_get(const struct metrics_rates *r, struct metrics_figures *f);

#endif /* TRACKER_DAEMON_METRICS_H */
