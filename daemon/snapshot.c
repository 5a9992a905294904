/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * daemon/snapshot.c - lz4 snapshots of the swarm table: format, write, load.
 *
 * Owns the snapshot file format, writing it without stopping the workers,
 * and loading it into a fresh segment. It never holds a stripe lock across a
 * system call, and it never changes a segment unless the whole file was
 * found valid.
 *
 * File format. The file is one lz4 frame (liblz4 frame API, block and
 * content checksums on). Its content, every integer little-endian:
 *
 *   header, 96 bytes:
 *     0  magic "TRKDSNAP"
 *     8  u32 format version (SNAPSHOT_VERSION; a larger one is refused)
 *    12  u32 header length (96)
 *    16  u64 created, CLOCK_REALTIME seconds
 *    24  u64 x3 torrents, IPv4 peers, IPv6 peers when the write began
 *        (approximate: the workers run; the trailer has the exact counts)
 *    48  u64 x3 capacity the writer ran with (torrents, IPv4, IPv6 peers)
 *    72  16 bytes connection-id key
 *    88  u32 the writer's peer_max_age (informational)
 *    92  u32 reserved, 0
 *   then per torrent, 37 bytes:
 *     'T', info-hash[20], u32 completed, u32 seconds it has been empty
 *     (0 when it has peers), u32 IPv4 peers, u32 IPv6 peers
 *   followed by those peers, IPv4 first:
 *     IPv4, 9 bytes:  address[4] (network order), u16 port, u8 flags, u16 age
 *     IPv6, 21 bytes: address[16], u16 port, u8 flags, u16 age
 *     flags: bit 0 seeder, bit 1 completed already counted, others 0;
 *     age: seconds since the peer's last announce when it was written
 *   and a trailer, 33 bytes:
 *     'E', u64 torrents, u64 IPv4 peers, u64 IPv6 peers, "TRKDEND1"
 *
 * The trailer makes truncation visible even where the lz4 frame is valid up
 * to a block boundary; nothing may follow it, and nothing may follow the
 * frame. Loading is two passes over the file held in memory: the first only
 * checks (structure, counts, lz4 checksums), the second inserts; so a file
 * that is bad anywhere, even in its last checksum, leaves the table empty.
 *
 * Time. The store's clock is CLOCK_BOOTTIME, which restarts at a reboot,
 * so the file keeps each peer's age and its own wall-clock time; the loader
 * adds the downtime (now - created, 0 if the clock went back) to every age
 * and drops the peers that would have expired meanwhile.
 *
 * Writing, stripe by stripe: under the stripe's lock its records are
 * encoded into a buffer sized beforehand from the stripe's counts (no
 * allocation, no system call under the lock; if the buffer is too small
 * the lock is released, the buffer grown, and the stripe read again), then
 * the buffer is compressed and written with the lock released. Workers keep
 * serving; the snapshot is consistent per stripe, not across stripes.
 *
 * Crash safety: the frame goes to snapshot.lz4.tmp, which is fsynced,
 * renamed over snapshot.lz4, and the directory fsynced. A crash at any
 * moment leaves the previous snapshot or the new one; a leftover temp file
 * is removed at the next start and never read.
 */
#include "daemon/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lz4frame.h>

#include "daemon/conf.h"
#include "daemon/log.h"
#include "shm/segment.h"
#include "shm/torrents.h"

#define HDR_LEN 96u
#define TOR_LEN 37u
#define P4_LEN 9u
#define P6_LEN 21u
#define END_LEN 33u
#define TAG_TORRENT 'T'
#define TAG_END 'E'
#define FLAG_SEEDER 1u
#define FLAG_COMPLETED 2u
#define LZ4_MAGIC 0x184D2204u
#define CHUNK (1u << 20) /* bytes compressed per LZ4F_compressUpdate() */
#define OUT_CHUNK (64u << 10) /* bytes decompressed at a time */
#define RESTORE_BATCH 256u

static const uint8_t magic[8] = { 'T', 'R', 'K', 'D', 'S', 'N', 'A', 'P' };
static const uint8_t end_magic[8] = { 'T', 'R', 'K', 'D', 'E', 'N', 'D', '1' };

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint32_t boot_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint32_t)ts.tv_sec;
}

/* --- writing --------------------------------------------------------------- */

struct writer {
	int fd;
	LZ4F_cctx *cctx;
	LZ4F_preferences_t prefs;
	uint8_t *out; /* compressed bytes waiting to be written */
	size_t out_cap;
	uint8_t *buf; /* one stripe, encoded */
	size_t len, cap;
	size_t need; /* what begin() found the stripe needs */
	bool overflow; /* more peers than the stripe counts said: retry bigger */
	size_t cur; /* offset of the current torrent record in buf */
	uint32_t cur4, cur6; /* its peers as actually written */
	uint64_t torrents, peers4, peers6;
	uint64_t bytes;
};

static int write_all(int fd, const uint8_t *p, size_t n)
{
	ssize_t w;

	while (n) {
		w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (w == 0)
			return -EIO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int emit(struct writer *w, size_t n)
{
	w->bytes += n;
	return write_all(w->fd, w->out, n);
}

/* Compress and write len bytes, CHUNK at a time. */
static int compress_write(struct writer *w, const uint8_t *p, size_t len)
{
	size_t n, r;
	int rc;

	while (len) {
		n = len < CHUNK ? len : CHUNK;
		r = LZ4F_compressUpdate(w->cctx, w->out, w->out_cap, p, n, NULL);
		if (LZ4F_isError(r))
			return -EIO;
		if (r) {
			rc = emit(w, r);
			if (rc)
				return rc;
		}
		p += n;
		len -= n;
	}
	return 0;
}

/* Patch the current torrent's peer counts with what was actually written. */
static void close_torrent(struct writer *w)
{
	if (w->cur == SIZE_MAX)
		return;
	put32(w->buf + w->cur + 29, w->cur4);
	put32(w->buf + w->cur + 33, w->cur6);
	w->peers4 += w->cur4;
	w->peers6 += w->cur6;
	w->cur = SIZE_MAX;
}

/* Under the stripe lock from here to export_peer: no allocation, no system call. */
static int export_begin(uint32_t ntorrents, uint64_t npeers4, uint64_t npeers6, void *arg)
{
	struct writer *w = arg;

	w->need = (size_t)ntorrents * TOR_LEN + (size_t)npeers4 * P4_LEN + (size_t)npeers6 * P6_LEN;
	return w->need > w->cap ? -ENOBUFS : 0;
}

static int export_torrent(const struct torrents_export_torrent *t, void *arg)
{
	struct writer *w = arg;
	uint8_t *p;

	close_torrent(w);
	if (w->len + TOR_LEN > w->cap) {
		w->overflow = true;
		return -ENOBUFS;
	}
	p = w->buf + w->len;
	p[0] = TAG_TORRENT;
	memcpy(p + 1, t->info_hash, TORRENTS_HASH_LEN);
	put32(p + 21, t->completed);
	put32(p + 25, t->empty_age);
	w->cur = w->len;
	w->cur4 = w->cur6 = 0;
	w->len += TOR_LEN;
	w->torrents++;
	return 0;
}

static void export_peer(const struct torrents_export_peer *pe, void *arg)
{
	struct writer *w = arg;
	size_t alen = pe->ipv6 ? 16 : 4, rl = pe->ipv6 ? P6_LEN : P4_LEN;
	uint8_t *p;

	if (w->cur == SIZE_MAX || w->len + rl > w->cap || (!pe->ipv6 && w->cur6)) {
		w->overflow = true; /* only if the table is inconsistent: retry bigger */
		return;
	}
	p = w->buf + w->len;
	memcpy(p, pe->compact, alen);
	put16(p + alen, (uint16_t)(pe->compact[alen] << 8 | pe->compact[alen + 1]));
	p[alen + 2] =
		(uint8_t)((pe->seeder ? FLAG_SEEDER : 0) | (pe->completed ? FLAG_COMPLETED : 0));
	put16(p + alen + 3, pe->age > UINT16_MAX ? UINT16_MAX : (uint16_t)pe->age);
	w->len += rl;
	if (pe->ipv6)
		w->cur6++;
	else
		w->cur4++;
}

static const struct torrents_export_ops export_ops = {
	.begin = export_begin,
	.torrent = export_torrent,
	.peer = export_peer,
};

static int grow(struct writer *w, size_t need)
{
	size_t cap = w->cap ? w->cap : 64u << 10;
	uint8_t *b;

	while (cap < need)
		cap *= 2;
	if (cap == w->cap)
		return 0;
	b = realloc(w->buf, cap);
	if (!b)
		return -ENOMEM;
	w->buf = b;
	w->cap = cap;
	return 0;
}

/* Encode one stripe into w->buf (retrying with a bigger buffer), then write it. */
static int write_stripe(struct writer *w, struct torrents *t, unsigned s, uint32_t now)
{
	uint64_t t0, p40, p60;
	unsigned tries;
	int rc;

	for (tries = 0;; tries++) {
		w->len = 0;
		w->cur = SIZE_MAX;
		w->overflow = false;
		t0 = w->torrents;
		p40 = w->peers4;
		p60 = w->peers6;
		rc = torrents_export_stripe(t, s, now, &export_ops, w);
		close_torrent(w);
		if (rc == 0 && !w->overflow)
			break;
		/* Undo this try's counts and read the stripe again with more room. */
		w->torrents = t0;
		w->peers4 = p40;
		w->peers6 = p60;
		if (rc && rc != -ENOBUFS)
			return rc;
		if (tries >= 8)
			return -EAGAIN; /* the stripe keeps outgrowing the buffer */
		rc = grow(w, (w->need > w->cap ? w->need : w->cap * 2) + 4096);
		if (rc)
			return rc;
	}
	return compress_write(w, w->buf, w->len);
}

int snapshot_write_fd(int fd, struct segment *seg, uint32_t peer_max_age, uint32_t now_boot,
		      uint64_t now_real, struct snapshot_info *ret)
{
	struct torrents *t = segment_torrents(seg);
	struct writer w = { .fd = fd };
	struct torrents_gauges g;
	struct segment_params sp;
	uint8_t hdr[HDR_LEN], end[END_LEN];
	unsigned s, n = torrents_stripe_count(t);
	size_t r;
	int rc;

	memset(&w.prefs, 0, sizeof(w.prefs));
	w.prefs.frameInfo.blockSizeID = LZ4F_max256KB;
	w.prefs.frameInfo.blockMode = LZ4F_blockLinked;
	w.prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
	w.prefs.frameInfo.blockChecksumFlag = LZ4F_blockChecksumEnabled;
	w.prefs.compressionLevel = 0; /* fast */
	if (LZ4F_isError(LZ4F_createCompressionContext(&w.cctx, LZ4F_VERSION)))
		return -ENOMEM;
	w.out_cap = LZ4F_compressBound(CHUNK, &w.prefs);
	if (w.out_cap < LZ4F_HEADER_SIZE_MAX)
		w.out_cap = LZ4F_HEADER_SIZE_MAX;
	w.out = malloc(w.out_cap);
	rc = w.out ? grow(&w, 64u << 10) : -ENOMEM;
	if (rc)
		goto out;

	r = LZ4F_compressBegin(w.cctx, w.out, w.out_cap, &w.prefs);
	if (LZ4F_isError(r)) {
		rc = -EIO;
		goto out;
	}
	rc = emit(&w, r);
	if (rc)
		goto out;

	torrents_get_gauges(t, &g);
	segment_get_params(seg, &sp);
	memset(hdr, 0, sizeof(hdr));
	memcpy(hdr, magic, sizeof(magic));
	put32(hdr + 8, SNAPSHOT_VERSION);
	put32(hdr + 12, HDR_LEN);
	put64(hdr + 16, now_real);
	put64(hdr + 24, g.torrents);
	put64(hdr + 32, g.peers4);
	put64(hdr + 40, g.peers6);
	put64(hdr + 48, sp.max_torrents);
	put64(hdr + 56, sp.max_peers4);
	put64(hdr + 64, sp.max_peers6);
	memcpy(hdr + 72, segment_connid_key(seg), SEGMENT_KEY_LEN);
	put32(hdr + 88, peer_max_age);
	rc = compress_write(&w, hdr, sizeof(hdr));
	for (s = 0; s < n && !rc; s++)
		rc = write_stripe(&w, t, s, now_boot);
	if (rc)
		goto out;

	end[0] = TAG_END;
	put64(end + 1, w.torrents);
	put64(end + 9, w.peers4);
	put64(end + 17, w.peers6);
	memcpy(end + 25, end_magic, sizeof(end_magic));
	rc = compress_write(&w, end, sizeof(end));
	if (rc)
		goto out;
	r = LZ4F_compressEnd(w.cctx, w.out, w.out_cap, NULL);
	if (LZ4F_isError(r)) {
		rc = -EIO;
		goto out;
	}
	rc = emit(&w, r);
	if (rc)
		goto out;
	ret->created = now_real;
	ret->torrents = w.torrents;
	ret->peers4 = w.peers4;
	ret->peers6 = w.peers6;
	ret->bytes = w.bytes;
out:
	explicit_bzero(hdr, sizeof(hdr));
	LZ4F_freeCompressionContext(w.cctx);
	free(w.out);
	free(w.buf);
	return rc;
}

static int join(char *out, size_t len, const char *dir, const char *name)
{
	int n = snprintf(out, len, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int snapshot_write_dir(const char *dir, struct segment *seg, uint32_t peer_max_age,
		       struct snapshot_info *ret, char *why, size_t whylen)
{
	struct snapshot_info info;
	uint64_t t0 = mono_ms();
	int dfd, fd = -1, rc;
	struct stat st;

	memset(&info, 0, sizeof(info));
	if (whylen)
		why[0] = '\0';
	rc = join(info.path, sizeof(info.path), dir, SNAPSHOT_FILE);
	if (rc) {
		snprintf(why, whylen, "state directory path too long");
		return rc;
	}
	if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
		rc = -errno;
		snprintf(why, whylen, "cannot create '%s': %s", dir, strerror(-rc));
		return rc;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		rc = -errno;
		snprintf(why, whylen, "cannot open '%s': %s", dir, strerror(-rc));
		return rc;
	}
	fd = openat(dfd, SNAPSHOT_TMP_FILE, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		    0600);
	if (fd < 0) {
		rc = -errno;
		snprintf(why, whylen, "cannot create '%s/%s': %s", dir, SNAPSHOT_TMP_FILE,
			 strerror(-rc));
		goto out;
	}
	rc = snapshot_write_fd(fd, seg, peer_max_age, boot_s(), (uint64_t)time(NULL), &info);
	if (rc) {
		snprintf(why, whylen, "writing '%s/%s': %s", dir, SNAPSHOT_TMP_FILE, strerror(-rc));
		goto out_unlink;
	}
	if (fsync(fd) < 0 || fstat(fd, &st) < 0) {
		rc = -errno;
		snprintf(why, whylen, "fsync '%s/%s': %s", dir, SNAPSHOT_TMP_FILE, strerror(-rc));
		goto out_unlink;
	}
	info.bytes = (uint64_t)st.st_size;
	rc = close(fd) < 0 && errno != EINTR ? -errno : 0;
	fd = -1;
	if (rc) {
		snprintf(why, whylen, "closing '%s/%s': %s", dir, SNAPSHOT_TMP_FILE, strerror(-rc));
		goto out_unlink;
	}
	if (renameat(dfd, SNAPSHOT_TMP_FILE, dfd, SNAPSHOT_FILE) < 0) {
		rc = -errno;
		snprintf(why, whylen, "rename to '%s': %s", info.path, strerror(-rc));
		goto out_unlink;
	}
	/* The rename is durable once the directory is. */
	if (fsync(dfd) < 0) {
		rc = -errno;
		snprintf(why, whylen, "fsync '%s': %s", dir, strerror(-rc));
		goto out;
	}
	info.ms = mono_ms() - t0;
	*ret = info;
	goto out;
out_unlink:
	unlinkat(dfd, SNAPSHOT_TMP_FILE, 0);
out:
	if (fd >= 0)
		close(fd);
	close(dfd);
	return rc;
}

/* --- loading --------------------------------------------------------------- */

enum dec_state { ST_HEADER, ST_RECORD, ST_PEERS, ST_DONE };

struct decoder {
	enum dec_state state;
	uint64_t pos; /* offset in the decompressed content (for messages) */
	uint8_t carry[HDR_LEN];
	size_t ncarry;
	uint32_t left4, left6; /* peers of the current torrent still to come */
	uint64_t torrents, peers4, peers6;
	uint8_t key[SEGMENT_KEY_LEN];
	uint64_t created;
	uint32_t version;
	char *why;
	size_t whylen;

	/* second pass only */
	struct torrents *t; /* NULL while checking */
	const struct snapshot_load_params *p;
	struct snapshot_load_result *res;
	uint64_t downtime;
	uint8_t hash[TORRENTS_HASH_LEN];
	uint32_t completed, empty_age;
	bool had_peers, flushed, dropped;
	struct torrents_restore_peer batch[RESTORE_BATCH];
	unsigned nbatch;
};

static int bad(struct decoder *d, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int bad(struct decoder *d, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (d->whylen)
		vsnprintf(d->why, d->whylen, fmt, ap);
	va_end(ap);
	return err;
}

/* Second pass: hand the current torrent's gathered peers to the store. */
static int flush_torrent(struct decoder *d)
{
	struct torrents_restore_result r;
	uint32_t empty_age;
	int rc;

	if (!d->t || d->dropped)
		goto out;
	if (!d->nbatch && d->flushed)
		return 0;
	/* All its peers expired while down: empty since about the downtime. */
	empty_age = d->had_peers ? (uint32_t)(d->downtime > UINT32_MAX ? UINT32_MAX : d->downtime) :
				   d->empty_age;
	if (!d->had_peers && d->downtime < UINT32_MAX - empty_age)
		empty_age += (uint32_t)d->downtime;
	rc = torrents_restore(d->t, d->hash, d->completed, empty_age, d->batch, d->nbatch,
			      d->p->now_boot, &r);
	if (rc)
		return bad(d, rc, "cannot restore a torrent: %s", strerror(-rc));
	d->flushed = true;
	d->res->peers_dropped += r.peers_dropped;
	if (r.torrent_dropped) {
		d->res->torrents_dropped++;
		d->dropped = true;
	}
out:
	d->nbatch = 0;
	return 0;
}

static int on_header(struct decoder *d, const uint8_t *b)
{
	if (memcmp(b, magic, sizeof(magic)))
		return bad(d, -EPROTO, "not a trackerd snapshot (bad magic)");
	d->version = get32(b + 8);
	if (d->version > SNAPSHOT_VERSION)
		return bad(d, -EPROTONOSUPPORT,
			   "format version %u is newer than this trackerd reads (%u)", d->version,
			   SNAPSHOT_VERSION);
	if (d->version == 0)
		return bad(d, -EBADMSG, "format version 0");
	if (get32(b + 12) != HDR_LEN)
		return bad(d, -EBADMSG, "header length %u, expected %u", get32(b + 12), HDR_LEN);
	if (get32(b + 92))
		return bad(d, -EBADMSG, "reserved header field is not zero");
	d->created = get64(b + 16);
	memcpy(d->key, b + 72, SEGMENT_KEY_LEN);
	if (d->t) {
		d->downtime = d->p->now_real > d->created ? d->p->now_real - d->created : 0;
		d->res->created = d->created;
		d->res->downtime = d->downtime;
	}
	d->state = ST_RECORD;
	return 0;
}

static int on_torrent(struct decoder *d, const uint8_t *b)
{
	int rc = flush_torrent(d);

	if (rc)
		return rc;
	d->left4 = get32(b + 29);
	d->left6 = get32(b + 33);
	d->torrents++;
	if (d->t) {
		memcpy(d->hash, b + 1, TORRENTS_HASH_LEN);
		d->completed = get32(b + 21);
		d->empty_age = get32(b + 25);
		d->had_peers = d->left4 || d->left6;
		d->flushed = false;
		d->dropped = false;
		d->nbatch = 0;
	}
	d->state = d->left4 || d->left6 ? ST_PEERS : ST_RECORD;
	return 0;
}

static int on_peer(struct decoder *d, const uint8_t *b)
{
	bool v6 = d->left4 == 0;
	size_t alen = v6 ? 16 : 4;
	struct torrents_restore_peer *rp;
	uint16_t port = get16(b + alen);
	uint8_t flags = b[alen + 2];
	uint64_t age = get16(b + alen + 3);
	int rc;

	if (!port)
		return bad(d, -EBADMSG, "peer with port 0 at offset %llu",
			   (unsigned long long)d->pos);
	if (flags & ~(FLAG_SEEDER | FLAG_COMPLETED))
		return bad(d, -EBADMSG, "unknown peer flags %#x at offset %llu", flags,
			   (unsigned long long)d->pos);
	if (v6) {
		d->left6--;
		d->peers6++;
	} else {
		d->left4--;
		d->peers4++;
	}
	if (!d->left4 && !d->left6)
		d->state = ST_RECORD;
	if (!d->t)
		return 0;
	if (age + d->downtime >= d->p->peer_max_age) {
		d->res->peers_expired++;
		return 0;
	}
	if (d->dropped) {
		d->res->peers_dropped++;
		return 0;
	}
	rp = &d->batch[d->nbatch++];
	memset(rp, 0, sizeof(*rp));
	memcpy(rp->peer.addr, b, alen);
	rp->peer.port = port;
	rp->peer.ipv6 = v6;
	rp->seeder = flags & FLAG_SEEDER;
	rp->completed = (flags & FLAG_COMPLETED) != 0;
	rp->age = (uint32_t)(age + d->downtime);
	if (d->nbatch == RESTORE_BATCH) {
		rc = flush_torrent(d);
		if (rc)
			return rc;
	}
	return 0;
}

static int on_end(struct decoder *d, const uint8_t *b)
{
	int rc = flush_torrent(d);

	if (rc)
		return rc;
	if (memcmp(b + 25, end_magic, sizeof(end_magic)))
		return bad(d, -EBADMSG, "bad trailer");
	if (get64(b + 1) != d->torrents || get64(b + 9) != d->peers4 || get64(b + 17) != d->peers6)
		return bad(d, -EBADMSG,
			   "trailer counts %llu torrents, %llu/%llu peers; the records hold "
			   "%llu, %llu/%llu",
			   (unsigned long long)get64(b + 1), (unsigned long long)get64(b + 9),
			   (unsigned long long)get64(b + 17), (unsigned long long)d->torrents,
			   (unsigned long long)d->peers4, (unsigned long long)d->peers6);
	d->state = ST_DONE;
	return 0;
}

static size_t item_len(const struct decoder *d, uint8_t first)
{
	switch (d->state) {
	case ST_HEADER:
		return HDR_LEN;
	case ST_PEERS:
		return d->left4 ? P4_LEN : P6_LEN;
	case ST_RECORD:
		return first == TAG_TORRENT ? TOR_LEN : first == TAG_END ? END_LEN : 1;
	case ST_DONE:
		break;
	}
	return 1;
}

static int on_item(struct decoder *d, const uint8_t *b)
{
	switch (d->state) {
	case ST_HEADER:
		return on_header(d, b);
	case ST_PEERS:
		return on_peer(d, b);
	case ST_RECORD:
		if (b[0] == TAG_TORRENT)
			return on_torrent(d, b);
		if (b[0] == TAG_END)
			return on_end(d, b);
		return bad(d, -EBADMSG, "unknown record type %#x at offset %llu", b[0],
			   (unsigned long long)d->pos);
	case ST_DONE:
		break;
	}
	return bad(d, -EBADMSG, "data after the trailer at offset %llu",
		   (unsigned long long)d->pos);
}

/* Feed decompressed bytes; items may straddle calls. */
static int feed(struct decoder *d, const uint8_t *p, size_t n)
{
	size_t need, take;
	int rc;

	while (n) {
		if (d->ncarry) {
			need = item_len(d, d->carry[0]);
			take = need - d->ncarry < n ? need - d->ncarry : n;
			memcpy(d->carry + d->ncarry, p, take);
			d->ncarry += take;
			p += take;
			n -= take;
			if (d->ncarry < need)
				return 0;
			rc = on_item(d, d->carry);
			d->pos += need;
			d->ncarry = 0;
			if (rc)
				return rc;
			continue;
		}
		need = item_len(d, p[0]);
		if (n < need) {
			memcpy(d->carry, p, n);
			d->ncarry = n;
			return 0;
		}
		rc = on_item(d, p);
		d->pos += need;
		if (rc)
			return rc;
		p += need;
		n -= need;
	}
	return 0;
}

/* One pass over the frame: decompress and parse (insert when d->t is set). */
static int run_pass(struct decoder *d, const uint8_t *buf, size_t len)
{
	LZ4F_dctx *dctx = NULL;
	LZ4F_frameInfo_t fi;
	uint8_t *out = NULL;
	size_t off, in, outn, r;
	int rc = 0;

	if (len < 4 || get32(buf) != LZ4_MAGIC)
		return bad(d, -EPROTO, "not an lz4 frame (not a trackerd snapshot)");
	if (LZ4F_isError(LZ4F_createDecompressionContext(&dctx, LZ4F_VERSION)))
		return bad(d, -ENOMEM, "out of memory");
	out = malloc(OUT_CHUNK);
	if (!out) {
		rc = bad(d, -ENOMEM, "out of memory");
		goto out;
	}
	in = len;
	r = LZ4F_getFrameInfo(dctx, &fi, buf, &in);
	if (LZ4F_isError(r)) {
		rc = bad(d, -EBADMSG, "lz4 frame header: %s", LZ4F_getErrorName(r));
		goto out;
	}
	if (fi.contentChecksumFlag != LZ4F_contentChecksumEnabled) {
		rc = bad(d, -EBADMSG, "lz4 frame without a content checksum");
		goto out;
	}
	off = in;
	r = 1;
	while (off < len) {
		in = len - off;
		outn = OUT_CHUNK;
		r = LZ4F_decompress(dctx, out, &outn, buf + off, &in, NULL);
		if (LZ4F_isError(r)) {
			rc = bad(d, -EBADMSG, "lz4: %s", LZ4F_getErrorName(r));
			goto out;
		}
		off += in;
		rc = feed(d, out, outn);
		if (rc)
			goto out;
		if (r == 0)
			break;
		if (!in && !outn) {
			rc = bad(d, -EBADMSG, "lz4 decoder made no progress");
			goto out;
		}
	}
	/* The frame may still hold decoded bytes to flush. */
	while (r != 0) {
		in = 0;
		outn = OUT_CHUNK;
		r = LZ4F_decompress(dctx, out, &outn, buf + len, &in, NULL);
		if (LZ4F_isError(r)) {
			rc = bad(d, -EBADMSG, "lz4: %s", LZ4F_getErrorName(r));
			goto out;
		}
		rc = feed(d, out, outn);
		if (rc)
			goto out;
		if (!outn)
			break;
	}
	if (r != 0) {
		rc = bad(d, -EBADMSG, "truncated: the lz4 frame ends early (%zu bytes)", len);
		goto out;
	}
	if (off != len) {
		rc = bad(d, -EBADMSG, "%zu bytes after the end of the lz4 frame", len - off);
		goto out;
	}
	if (d->state != ST_DONE || d->ncarry) {
		rc = bad(d, -EBADMSG, "truncated: no trailer after %llu bytes of content",
			 (unsigned long long)(d->pos + d->ncarry));
		goto out;
	}
out:
	free(out);
	LZ4F_freeDecompressionContext(dctx);
	return rc;
}

int snapshot_load_mem(const void *buf, size_t len, struct segment *seg,
		      const struct snapshot_load_params *p, struct snapshot_load_result *ret,
		      char *why, size_t whylen)
{
	struct snapshot_load_result res;
	struct torrents_gauges g;
	struct decoder *d;
	uint64_t t0 = mono_ms();
	int rc;

	if (whylen)
		why[0] = '\0';
	memset(&res, 0, sizeof(res));
	res.bytes = len;
	if (!len) {
		snprintf(why, whylen, "empty file");
		return -ENODATA;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->why = why;
	d->whylen = whylen;
	rc = run_pass(d, buf, len); /* check only: nothing changes unless all is valid */
	if (rc)
		goto out;
	res.version = d->version;
	res.created = d->created;
	res.file_torrents = d->torrents;
	res.file_peers4 = d->peers4;
	res.file_peers6 = d->peers6;
	if (seg) {
		memset(d, 0, sizeof(*d));
		d->why = why;
		d->whylen = whylen;
		d->t = segment_torrents(seg);
		d->p = p;
		d->res = &res;
		rc = run_pass(d, buf, len);
		if (rc)
			goto out;
		segment_set_connid_key(seg, d->key);
		res.key_restored = true;
		torrents_get_gauges(d->t, &g);
		res.torrents_loaded = g.torrents;
		res.peers_loaded = g.peers4 + g.peers6;
	}
	res.ms = mono_ms() - t0;
	*ret = res;
out:
	explicit_bzero(d->key, sizeof(d->key));
	free(d);
	return rc;
}

static int read_file(int fd, uint8_t **ret_buf, size_t *ret_len)
{
	struct stat st;
	uint8_t *b;
	size_t got = 0, cap;
	ssize_t n;

	if (fstat(fd, &st) < 0)
		return -errno;
	cap = (size_t)st.st_size + 1; /* +1: notice a file that grew */
	b = malloc(cap);
	if (!b)
		return -ENOMEM;
	while (got < cap) {
		n = read(fd, b + got, cap - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			n = -errno;
			free(b);
			return (int)n;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	*ret_buf = b;
	*ret_len = got;
	return 0;
}

int snapshot_load_dir(const char *dir, struct segment *seg, const struct snapshot_load_params *p,
		      struct snapshot_load_result *ret, bool *ret_removed_tmp, char *aside,
		      size_t asidelen, char *why, size_t whylen)
{
	char path[SNAPSHOT_PATH_MAX], tmp[SNAPSHOT_PATH_MAX], bad_path[SNAPSHOT_PATH_MAX + 32];
	uint8_t *buf = NULL;
	size_t len = 0;
	int fd, rc;

	if (whylen)
		why[0] = '\0';
	if (asidelen)
		aside[0] = '\0';
	*ret_removed_tmp = false;
	if (join(path, sizeof(path), dir, SNAPSHOT_FILE) ||
	    join(tmp, sizeof(tmp), dir, SNAPSHOT_TMP_FILE)) {
		snprintf(why, whylen, "state directory path too long");
		return -ENAMETOOLONG;
	}
	if (unlink(tmp) == 0)
		*ret_removed_tmp = true;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		rc = -errno;
		if (rc != -ENOENT)
			snprintf(why, whylen, "cannot open: %s", strerror(-rc));
		return rc;
	}
	rc = read_file(fd, &buf, &len);
	close(fd);
	if (rc) {
		snprintf(why, whylen, "cannot read: %s", strerror(-rc));
		return rc;
	}
	rc = snapshot_load_mem(buf, len, seg, p, ret, why, whylen);
	free(buf);
	if (rc == -EBADMSG || rc == -EPROTO || rc == -EPROTONOSUPPORT || rc == -ENODATA) {
		snprintf(bad_path, sizeof(bad_path), "%s.bad-%llu", path,
			 (unsigned long long)p->now_real);
		if (rename(path, bad_path) == 0)
			snprintf(aside, asidelen, "%s", bad_path);
	}
	return rc;
}

void snapshot_stat(const char *dir, struct snapshot_status *ret)
{
	char path[SNAPSHOT_PATH_MAX];
	struct stat st;

	memset(ret, 0, sizeof(*ret));
	if (join(path, sizeof(path), dir, SNAPSHOT_FILE) || stat(path, &st) < 0 ||
	    !S_ISREG(st.st_mode))
		return;
	ret->valid = true;
	ret->time = (uint64_t)st.st_mtime;
	ret->bytes = (uint64_t)st.st_size;
}

/* --- daemon entry points ------------------------------------------------------ */

void snapshot_startup(const struct conf *c, struct segment *seg)
{
	struct snapshot_load_params p = { .peer_max_age = c->peer_max_age,
					  .now_boot = boot_s(),
					  .now_real = (uint64_t)time(NULL) };
	struct snapshot_load_result r;
	char why[SNAPSHOT_WHY_MAX], aside[SNAPSHOT_PATH_MAX + 32];
	bool removed_tmp;
	int rc;

	memset(&r, 0, sizeof(r));
	rc = snapshot_load_dir(c->state_directory, seg, &p, &r, &removed_tmp, aside, sizeof(aside),
			       why, sizeof(why));
	if (removed_tmp)
		log_msg(LOG_WARNING, "removed '%s/%s' left by a snapshot write that did not finish",
			c->state_directory, SNAPSHOT_TMP_FILE);
	if (rc == -ENOENT) {
		log_msg(LOG_INFO, "no snapshot in '%s', starting with an empty table",
			c->state_directory);
		return;
	}
	if (rc < 0) {
		if (aside[0])
			log_msg(LOG_ERR,
				"snapshot '%s/%s' is unusable (%s); renamed to '%s', starting "
				"with an empty table",
				c->state_directory, SNAPSHOT_FILE, why, aside);
		else
			log_msg(LOG_ERR,
				"cannot load snapshot '%s/%s' (%s), starting with an "
				"empty table",
				c->state_directory, SNAPSHOT_FILE, why);
		return;
	}
	log_msg(LOG_NOTICE,
		"loaded snapshot '%s/%s' (%llu bytes, written %llu s ago) in %llu ms: %llu "
		"torrents, %llu peers; %llu peers expired while down",
		c->state_directory, SNAPSHOT_FILE, (unsigned long long)r.bytes,
		(unsigned long long)r.downtime, (unsigned long long)r.ms,
		(unsigned long long)r.torrents_loaded, (unsigned long long)r.peers_loaded,
		(unsigned long long)r.peers_expired);
	if (r.torrents_dropped || r.peers_dropped)
		log_msg(LOG_WARNING,
			"snapshot holds more than the configured capacity: dropped %llu torrents "
			"and %llu peers that did not fit",
			(unsigned long long)r.torrents_dropped,
			(unsigned long long)r.peers_dropped);
}

int snapshot_save_logged(const struct conf *c, struct segment *seg, const char *what,
			 struct snapshot_info *ret, char *why, size_t whylen)
{
	int rc = snapshot_write_dir(c->state_directory, seg, c->peer_max_age, ret, why, whylen);

	if (rc < 0) {
		log_msg(LOG_ERR, "%s snapshot failed, the previous one is kept: %s", what, why);
		return rc;
	}
	log_msg(LOG_INFO, "%s snapshot: '%s', %llu bytes, %llu torrents, %llu peers in %llu ms",
		what, ret->path, (unsigned long long)ret->bytes, (unsigned long long)ret->torrents,
		(unsigned long long)(ret->peers4 + ret->peers6), (unsigned long long)ret->ms);
	return 0;
}
