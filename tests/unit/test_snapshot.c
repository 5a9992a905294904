/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/test_snapshot.c - snapshot write, load, corruption, capacity.
 *
 * Populates a real segment through torrents_announce(), writes a snapshot,
 * loads it into a fresh segment and compares every torrent and peer; then
 * damages the file in every way the loader must survive (truncation at
 * every offset, a flipped bit at every offset, wrong magic, newer version,
 * empty, foreign) and checks that each is refused with a reason, set aside,
 * and leaves the table empty. Capacity smaller than the snapshot, a
 * leftover temp file and a write that fails half-way complete it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <lz4frame.h>

#include "daemon/snapshot.h"
#include "shm/segment.h"
#include "shm/torrents.h"

#define NOW_BOOT 100000u /* the writer's store clock */
#define NOW_REAL 1700000000u
#define MAX_AGE 2700u

static const uint8_t key_a[SEGMENT_KEY_LEN] = "0123456789abcdef";
static const uint8_t key_b[SEGMENT_KEY_LEN] = "fedcba9876543210";

static struct segment *new_seg(uint64_t torrents, uint64_t p4, uint64_t p6, const uint8_t *key)
{
	struct segment_params p = { torrents, p4, p6 };
	struct segment *s;

	assert_int_equal(segment_create(&p, key, &s), 0);
	return s;
}

static void hash_of(uint8_t ih[20], uint32_t n)
{
	uint32_t x = n * 2654435761u + 12345;
	int i;

	for (i = 0; i < 20; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		ih[i] = (uint8_t)x;
	}
}

static void announce(struct torrents *t, uint32_t tor, uint32_t peer, bool v6, bool seed,
		     uint32_t event, uint32_t now)
{
	uint8_t ih[20], out[64];
	struct torrents_announce a;
	struct torrents_result r;

	hash_of(ih, tor);
	memset(&a, 0, sizeof(a));
	a.info_hash = ih;
	if (v6) {
		a.peer.addr[0] = 0x20;
		a.peer.addr[1] = 0x01;
		a.peer.addr[12] = (uint8_t)(peer >> 24);
		a.peer.addr[13] = (uint8_t)(peer >> 16);
		a.peer.addr[15] = (uint8_t)peer;
	} else {
		a.peer.addr[0] = 10;
		a.peer.addr[1] = (uint8_t)(peer >> 16);
		a.peer.addr[2] = (uint8_t)(peer >> 8);
		a.peer.addr[3] = (uint8_t)peer;
	}
	a.peer.port = (uint16_t)(1000 + peer % 50000);
	a.peer.ipv6 = v6;
	a.event = event;
	a.seeding = seed;
	a.numwant = 0;
	a.now = now;
	assert_int_equal(torrents_announce(t, &a, out, &r), 0);
	assert_int_equal(r.refused, TORRENTS_STORED);
}

/*
 * ntor torrents; torrent i gets i % 7 IPv4 and i % 3 IPv6 peers, some
 * seeders, some completed; every 5th peer is "old" (seen old_age s ago).
 */
static void populate_at(struct segment *seg, uint32_t ntor, uint32_t old_age, uint32_t base)
{
	struct torrents *t = segment_torrents(seg);
	uint32_t i, j, id = 1, now;

	for (i = 0; i < ntor; i++) {
		for (j = 0; j < i % 7 + i % 3; j++, id++) {
			now = id % 5 == 0 ? base - old_age : base - (id % 10) * 8;
			announce(t, i, id, j >= i % 7, id % 4 == 0, TORRENTS_EVENT_STARTED, now);
			if (id % 6 == 0)
				announce(t, i, id, j >= i % 7, true, TORRENTS_EVENT_COMPLETED, now);
		}
		if (i % 7 + i % 3 == 0) {
			/* A torrent without peers that keeps its completed count. */
			announce(t, i, 999999, false, true, TORRENTS_EVENT_COMPLETED, base);
			announce(t, i, 999999, false, true, TORRENTS_EVENT_STOPPED, base);
		}
	}
}

static void populate(struct segment *seg, uint32_t ntor, uint32_t old_age)
{
	populate_at(seg, ntor, old_age, NOW_BOOT);
}

static uint32_t boot_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint32_t)ts.tv_sec;
}

/* A flattened view of a table, sorted, for comparisons. */
struct peer_rec {
	uint8_t hash[20];
	uint8_t compact[18];
	bool v6, seeder, completed;
	uint32_t age;
};

struct tor_rec {
	uint8_t hash[20];
	uint32_t completed, n4, n6;
};

struct flat {
	struct tor_rec *t;
	size_t nt, capt;
	struct peer_rec *p;
	size_t np, capp;
	uint8_t cur[20];
};

static int fl_begin(uint32_t nt, uint64_t n4, uint64_t n6, void *arg)
{
	(void)nt, (void)n4, (void)n6, (void)arg;
	return 0;
}

static int fl_torrent(const struct torrents_export_torrent *v, void *arg)
{
	struct flat *f = arg;

	if (f->nt == f->capt) {
		f->capt = f->capt ? f->capt * 2 : 256;
		f->t = realloc(f->t, f->capt * sizeof(*f->t));
	}
	memcpy(f->t[f->nt].hash, v->info_hash, 20);
	memcpy(f->cur, v->info_hash, 20);
	f->t[f->nt].completed = v->completed;
	f->t[f->nt].n4 = v->npeers4;
	f->t[f->nt].n6 = v->npeers6;
	f->nt++;
	return 0;
}

static void fl_peer(const struct torrents_export_peer *v, void *arg)
{
	struct flat *f = arg;
	struct peer_rec *p;

	if (f->np == f->capp) {
		f->capp = f->capp ? f->capp * 2 : 256;
		f->p = realloc(f->p, f->capp * sizeof(*f->p));
	}
	p = &f->p[f->np++];
	memset(p, 0, sizeof(*p));
	memcpy(p->hash, f->cur, 20);
	memcpy(p->compact, v->compact, v->ipv6 ? 18 : 6);
	p->v6 = v->ipv6;
	p->seeder = v->seeder;
	p->completed = v->completed;
	p->age = v->age;
}

static int cmp_tor(const void *a, const void *b)
{
	return memcmp(a, b, 20);
}

static int cmp_peer(const void *a, const void *b)
{
	return memcmp(a, b, offsetof(struct peer_rec, seeder));
}

static void flatten(struct segment *seg, uint32_t now, struct flat *f)
{
	static const struct torrents_export_ops ops = { fl_begin, fl_torrent, fl_peer };
	struct torrents *t = segment_torrents(seg);
	unsigned s;

	memset(f, 0, sizeof(*f));
	for (s = 0; s < torrents_stripe_count(t); s++)
		assert_int_equal(torrents_export_stripe(t, s, now, &ops, f), 0);
	qsort(f->t, f->nt, sizeof(*f->t), cmp_tor);
	qsort(f->p, f->np, sizeof(*f->p), cmp_peer);
}

static void flat_free(struct flat *f)
{
	free(f->t);
	free(f->p);
}

/* Write seg to a memory buffer (through a temp file). */
static uint8_t *write_mem(struct segment *seg, size_t *ret_len, struct snapshot_info *info)
{
	char path[] = "/tmp/test_snapshot.XXXXXX";
	int fd = mkstemp(path);
	struct stat st;
	uint8_t *b;

	assert_true(fd >= 0);
	unlink(path);
	memset(info, 0, sizeof(*info));
	assert_int_equal(snapshot_write_fd(fd, seg, MAX_AGE, NOW_BOOT, NOW_REAL, info), 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal((uint64_t)st.st_size, info->bytes);
	b = malloc((size_t)st.st_size);
	assert_int_equal(pread(fd, b, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	*ret_len = (size_t)st.st_size;
	return b;
}

static uint64_t table_torrents(struct segment *seg)
{
	struct torrents_gauges g;

	torrents_get_gauges(segment_torrents(seg), &g);
	return g.torrents + g.peers4 + g.peers6;
}

/* --- round trip ------------------------------------------------------------- */

static void test_round_trip(void **state)
{
	struct segment *a = new_seg(4096, 8192, 4096, key_a), *b;
	struct snapshot_load_params p = { MAX_AGE, 5000, NOW_REAL + 1000 };
	struct snapshot_load_result r;
	struct snapshot_info info;
	struct flat fa, fb;
	char why[256];
	size_t len, i, j, expired = 0, want_t = 0;
	uint8_t *buf;

	(void)state;
	populate(a, 600, 2000); /* old peers: 2000 + 1000 s downtime > 2700 */
	buf = write_mem(a, &len, &info);
	flatten(a, NOW_BOOT, &fa);
	assert_int_equal(info.torrents, fa.nt);
	assert_int_equal(info.peers4 + info.peers6, fa.np);

	b = new_seg(4096, 8192, 4096, key_b);
	assert_int_equal(snapshot_load_mem(buf, len, b, &p, &r, why, sizeof(why)), 0);
	assert_int_equal(r.created, NOW_REAL);
	assert_int_equal(r.downtime, 1000);
	assert_true(r.key_restored);
	assert_memory_equal(segment_connid_key(b), key_a, SEGMENT_KEY_LEN);
	assert_int_equal(r.torrents_dropped, 0);
	assert_int_equal(r.peers_dropped, 0);
	assert_int_equal(torrents_check_quiescent(segment_torrents(b), why, sizeof(why)), 0);

	flatten(b, 5000, &fb);
	/* Every surviving peer of a is in b with its flags, aged by the downtime. */
	for (i = 0, j = 0; i < fa.np; i++) {
		struct peer_rec *pa = &fa.p[i];

		if (pa->age + 1000 >= MAX_AGE) {
			expired++;
			continue;
		}
		assert_true(j < fb.np);
		assert_int_equal(cmp_peer(pa, &fb.p[j]), 0);
		assert_int_equal(pa->seeder, fb.p[j].seeder);
		assert_int_equal(pa->completed, fb.p[j].completed);
		/* Ages have the store's 8 s resolution. */
		assert_true(fb.p[j].age + 16 >= pa->age + 1000 && fb.p[j].age <= pa->age + 1016);
		j++;
	}
	assert_int_equal(j, fb.np);
	assert_true(expired > 0);
	assert_int_equal(r.peers_expired, expired);
	assert_int_equal(r.peers_loaded, fb.np);
	/* Every torrent with surviving peers or a completed count is there, same count. */
	for (i = 0, j = 0; i < fa.nt; i++) {
		size_t k, alive = 0;

		for (k = 0; k < fb.np; k++)
			alive += !memcmp(fb.p[k].hash, fa.t[i].hash, 20);
		if (!alive && !fa.t[i].completed)
			continue;
		want_t++;
		assert_true(j < fb.nt);
		assert_memory_equal(fa.t[i].hash, fb.t[j].hash, 20);
		assert_int_equal(fa.t[i].completed, fb.t[j].completed);
		assert_int_equal(fb.t[j].n4 + fb.t[j].n6, alive);
		j++;
	}
	assert_int_equal(j, fb.nt);
	assert_int_equal(r.torrents_loaded, want_t);

	flat_free(&fa);
	flat_free(&fb);
	free(buf);
	segment_close(a);
	segment_close(b);
}

/* --- corruption ------------------------------------------------------------- */

static uint8_t *small_snapshot(size_t *len)
{
	struct segment *a = new_seg(1000, 1000, 1000, key_a);
	struct snapshot_info info;
	uint8_t *buf;

	populate(a, 12, 100);
	buf = write_mem(a, len, &info);
	segment_close(a);
	return buf;
}

static void expect_refused(struct segment *b, const uint8_t *buf, size_t len, int err)
{
	struct snapshot_load_params p = { MAX_AGE, 5000, NOW_REAL };
	struct snapshot_load_result r;
	char why[256];
	int rc;

	why[0] = '\0';
	rc = snapshot_load_mem(buf, len, b, &p, &r, why, sizeof(why));
	if (err)
		assert_int_equal(rc, err);
	else
		assert_true(rc < 0);
	assert_true(why[0] != '\0'); /* a reason is given */
	assert_int_equal(table_torrents(b), 0); /* and nothing was loaded */
}

static void test_truncated_everywhere(void **state)
{
	struct segment *b = new_seg(1000, 1000, 1000, key_b);
	size_t len, cut;
	uint8_t *buf = small_snapshot(&len);

	(void)state;
	assert_true(len > 100);
	for (cut = 0; cut < len; cut++)
		expect_refused(b, buf, cut, cut ? 0 : -ENODATA);
	segment_close(b);
	free(buf);
}

static void test_flipped_bit_everywhere(void **state)
{
	struct segment *b = new_seg(1000, 1000, 1000, key_b);
	size_t len, i;
	uint8_t *buf = small_snapshot(&len);
	unsigned bit;

	(void)state;
	for (i = 0; i < len; i++) {
		for (bit = 0; bit < 8; bit += 3) {
			buf[i] ^= (uint8_t)(1u << bit);
			expect_refused(b, buf, len, 0);
			buf[i] ^= (uint8_t)(1u << bit);
		}
	}
	/* Trailing garbage after a valid frame. */
	buf = realloc(buf, len + 1);
	buf[len] = 0;
	expect_refused(b, buf, len + 1, -EBADMSG);
	segment_close(b);
	free(buf);
}

/* A valid lz4 frame (content checksum on) around content. */
static uint8_t *frame(const uint8_t *content, size_t n, size_t *ret_len)
{
	LZ4F_preferences_t prefs;
	size_t cap, r;
	uint8_t *out;

	memset(&prefs, 0, sizeof(prefs));
	prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
	cap = LZ4F_compressFrameBound(n, &prefs);
	out = malloc(cap);
	r = LZ4F_compressFrame(out, cap, content, n, &prefs);
	assert_false(LZ4F_isError(r));
	*ret_len = r;
	return out;
}

/* The content of a snapshot frame. */
static uint8_t *unframe(const uint8_t *buf, size_t len, size_t *ret_len)
{
	LZ4F_dctx *d;
	size_t cap = 1 << 20, in = len, outn = cap, r;
	uint8_t *out = malloc(cap);

	assert_false(LZ4F_isError(LZ4F_createDecompressionContext(&d, LZ4F_VERSION)));
	r = LZ4F_decompress(d, out, &outn, buf, &in, NULL);
	assert_int_equal(r, 0);
	LZ4F_freeDecompressionContext(d);
	*ret_len = outn;
	return out;
}

static void test_wrong_magic_version_empty_foreign(void **state)
{
	struct segment *b = new_seg(1000, 1000, 1000, key_b);
	struct snapshot_load_params p = { MAX_AGE, 5000, NOW_REAL };
	struct snapshot_load_result r;
	size_t len, clen, flen;
	uint8_t *buf = small_snapshot(&len), *c, *f;
	static const char text[] = "listen_ipv4 = 0.0.0.0:6969\n";
	char why[256];

	(void)state;
	c = unframe(buf, len, &clen);
	/* Sanity: the content reframed is still a good snapshot. */
	f = frame(c, clen, &flen);
	assert_int_equal(snapshot_load_mem(f, flen, NULL, &p, &r, why, sizeof(why)), 0);
	free(f);

	c[0] = 'X'; /* wrong magic inside a good frame */
	f = frame(c, clen, &flen);
	expect_refused(b, f, flen, -EPROTO);
	free(f);
	c[0] = 'T';

	c[8] = SNAPSHOT_VERSION + 1; /* newer version */
	f = frame(c, clen, &flen);
	expect_refused(b, f, flen, -EPROTONOSUPPORT);
	snapshot_load_mem(f, flen, b, &p, &r, why, sizeof(why));
	assert_non_null(strstr(why, "newer"));
	free(f);
	c[8] = SNAPSHOT_VERSION;

	c[clen - 1] ^= 1; /* trailer magic */
	f = frame(c, clen, &flen);
	expect_refused(b, f, flen, -EBADMSG);
	free(f);
	c[clen - 1] ^= 1;

	f = frame(c, clen - 33, &flen); /* no trailer, frame valid */
	expect_refused(b, f, flen, -EBADMSG);
	snapshot_load_mem(f, flen, b, &p, &r, why, sizeof(why));
	assert_non_null(strstr(why, "truncated"));
	free(f);

	expect_refused(b, (const uint8_t *)"", 0, -ENODATA);
	expect_refused(b, (const uint8_t *)text, sizeof(text) - 1, -EPROTO);
	free(c);
	free(buf);
	segment_close(b);
}

/* --- directory level: rename aside, temp files, failed writes -------------- */

static char dir[64];

static int mkdir_setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_snapshot.d.XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int rm_teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

static void put_file(const char *name, const void *data, size_t len)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static bool exists(const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

/* Names in dir starting with prefix. */
static unsigned count_prefix(const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	unsigned n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += !strncmp(e->d_name, prefix, strlen(prefix));
	closedir(d);
	return n;
}

static void test_bad_file_renamed_aside(void **state)
{
	struct segment *b = new_seg(1000, 1000, 1000, key_b);
	struct snapshot_load_params p = { MAX_AGE, 5000, NOW_REAL };
	struct snapshot_load_result r;
	char why[256], aside[600];
	size_t len;
	uint8_t *buf = small_snapshot(&len);
	bool tmp;

	(void)state;
	/* Nothing there: -ENOENT, nothing renamed. */
	assert_int_equal(
		snapshot_load_dir(dir, b, &p, &r, &tmp, aside, sizeof(aside), why, sizeof(why)),
		-ENOENT);
	assert_string_equal(aside, "");

	put_file(SNAPSHOT_FILE, buf, len / 2);
	assert_int_equal(
		snapshot_load_dir(dir, b, &p, &r, &tmp, aside, sizeof(aside), why, sizeof(why)),
		-EBADMSG);
	assert_non_null(strstr(aside, SNAPSHOT_FILE ".bad-"));
	assert_false(exists(SNAPSHOT_FILE));
	assert_int_equal(access(aside, F_OK), 0);
	assert_int_equal(table_torrents(b), 0);

	put_file(SNAPSHOT_FILE, "", 0);
	p.now_real++; /* another name for the second bad file */
	assert_int_equal(
		snapshot_load_dir(dir, b, &p, &r, &tmp, aside, sizeof(aside), why, sizeof(why)),
		-ENODATA);
	assert_false(exists(SNAPSHOT_FILE));
	assert_int_equal(count_prefix(SNAPSHOT_FILE ".bad-"), 2);

	/* A good file next to a leftover temp file: temp removed, file loaded. */
	put_file(SNAPSHOT_FILE, buf, len);
	put_file(SNAPSHOT_TMP_FILE, buf, len / 3);
	assert_int_equal(
		snapshot_load_dir(dir, b, &p, &r, &tmp, aside, sizeof(aside), why, sizeof(why)), 0);
	assert_true(tmp);
	assert_false(exists(SNAPSHOT_TMP_FILE));
	assert_true(exists(SNAPSHOT_FILE));
	assert_true(table_torrents(b) > 0);
	free(buf);
	segment_close(b);
}

static void test_write_dir_atomic(void **state)
{
	struct segment *a = new_seg(4096, 8192, 4096, key_a), *b;
	struct snapshot_load_params p = { MAX_AGE, boot_now(), (uint64_t)time(NULL) };
	struct snapshot_load_result r;
	struct snapshot_info info, info2;
	struct rlimit old, small;
	char why[256], aside[600], path[256];
	struct stat st1, st2;
	uint8_t *before, *after;
	size_t blen;
	bool tmp;
	FILE *f;

	(void)state;
	populate_at(a, 50, 100, boot_now());
	assert_int_equal(snapshot_write_dir(dir, a, MAX_AGE, &info, why, sizeof(why)), 0);
	snprintf(path, sizeof(path), "%s/%s", dir, SNAPSHOT_FILE);
	assert_string_equal(info.path, path);
	assert_int_equal(stat(path, &st1), 0);
	assert_int_equal((uint64_t)st1.st_size, info.bytes);
	assert_false(exists(SNAPSHOT_TMP_FILE));
	before = malloc((size_t)st1.st_size);
	f = fopen(path, "rb");
	blen = fread(before, 1, (size_t)st1.st_size, f);
	fclose(f);
	assert_int_equal(blen, (size_t)st1.st_size);

	/* A bigger table, written with a file-size limit: fails half-way. */
	populate_at(a, 3000, 100, boot_now());
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	small = old;
	small.rlim_cur = 4096;
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	assert_true(snapshot_write_dir(dir, a, MAX_AGE, &info2, why, sizeof(why)) < 0);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_true(why[0] != '\0');
	assert_false(exists(SNAPSHOT_TMP_FILE));
	/* The previous snapshot is untouched and loads. */
	assert_int_equal(stat(path, &st2), 0);
	assert_int_equal(st2.st_size, st1.st_size);
	after = malloc((size_t)st2.st_size);
	f = fopen(path, "rb");
	assert_int_equal(fread(after, 1, (size_t)st2.st_size, f), (size_t)st2.st_size);
	fclose(f);
	assert_memory_equal(before, after, (size_t)st1.st_size);
	b = new_seg(4096, 8192, 4096, key_b);
	assert_int_equal(
		snapshot_load_dir(dir, b, &p, &r, &tmp, aside, sizeof(aside), why, sizeof(why)), 0);
	assert_int_equal(r.file_torrents, info.torrents);
	assert_int_equal(r.torrents_loaded, info.torrents);

	/* And without the limit the bigger one replaces it. */
	assert_int_equal(snapshot_write_dir(dir, a, MAX_AGE, &info2, why, sizeof(why)), 0);
	assert_true(info2.bytes > info.bytes);
	assert_true(info2.torrents > info.torrents);

	/* An unwritable place: an error with a reason, nothing left behind. */
	put_file("notadir", "x", 1);
	snprintf(path, sizeof(path), "%s/notadir", dir);
	assert_true(snapshot_write_dir(path, a, MAX_AGE, &info2, why, sizeof(why)) < 0);
	assert_true(why[0] != '\0');
	free(before);
	free(after);
	segment_close(a);
	segment_close(b);
}

/* --- capacity ----------------------------------------------------------------- */

static void test_capacity_smaller(void **state)
{
	struct segment *a = new_seg(8192, 16384, 4096, key_a), *b;
	struct snapshot_load_params p = { MAX_AGE, NOW_BOOT, NOW_REAL };
	struct snapshot_load_result r;
	struct snapshot_info info;
	struct torrents_gauges g;
	char why[256];
	size_t len;
	uint8_t *buf;

	(void)state;
	populate(a, 4000, 100);
	buf = write_mem(a, &len, &info);
	assert_true(info.torrents > 1000);
	b = new_seg(1000, 1000, 200, key_b);
	assert_int_equal(snapshot_load_mem(buf, len, b, &p, &r, why, sizeof(why)), 0);
	assert_true(r.torrents_dropped > 0);
	assert_true(r.peers_dropped > 0);
	torrents_get_gauges(segment_torrents(b), &g);
	assert_true(g.torrents < info.torrents);
	assert_int_equal(r.torrents_loaded + r.torrents_dropped, info.torrents);
	assert_int_equal(r.peers_loaded + r.peers_dropped + r.peers_expired,
			 info.peers4 + info.peers6);
	assert_int_equal(torrents_check_quiescent(segment_torrents(b), why, sizeof(why)), 0);
	free(buf);
	segment_close(a);
	segment_close(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_truncated_everywhere),
		cmocka_unit_test(test_flipped_bit_everywhere),
		cmocka_unit_test(test_wrong_magic_version_empty_foreign),
		cmocka_unit_test_setup_teardown(test_bad_file_renamed_aside, mkdir_setup,
						rm_teardown),
		cmocka_unit_test_setup_teardown(test_write_dir_atomic, mkdir_setup, rm_teardown),
		cmocka_unit_test(test_capacity_smaller),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
