/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * daemon/acclist.c - the access-list file: parse, load, edit in place.
 *
 * Design notes:
 * - All or nothing: a file with one bad line is refused as a whole, so a
 *   typo never silently shrinks an allow list or opens a deny list. The
 *   caller keeps the list it had.
 * - Lines may end in LF or CRLF; trailing blanks and a trailing '#'
 *   comment after the hash are allowed, so an operator can name each
 *   entry. The last line needs no newline.
 * - Edits rewrite the whole file through atomicfile_write() and keep
 *   every line they do not concern, so comments survive trackerctl. An
 *   edit parses the file first and refuses to touch a file that would not
 *   load, with the same FILE:LINE message a reload would give.
 * - The parser never allocates per line: the hash array grows by
 *   doubling, bounded by the file size (ACCLIST_FILE_MAX).
 * - Applying: the shared list (shm/acl.c) is replaced as a whole, then the
 *   table is swept for torrents the new list refuses; each is removed with
 *   torrents_remove(). The sweep collects a stripe's refused hashes under
 *   its lock (no allocation there: a fixed buffer, the stripe visited again
 *   when it fills) and removes them after. A worker that checked the old
 *   list an instant before the switch may still add a refused torrent
 *   behind the sweep; it is refused from then on and leaves the table
 *   with the cleaning like any torrent whose peers stop announcing.
 * - An edit writes the file first and publishes only when the file is
 *   safely replaced, so a failed write leaves both as they were. The live
 *   list is the one in force with the hash added or removed: other changes
 *   made to the file by hand take effect at the next reload.
 */
#include "daemon/acclist.h"
#include "daemon/atomicfile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shm/acl.h"
#include "shm/torrents.h"

void acclist_free(struct acclist *l)
{
	free(l->hashes);
	l->hashes = NULL;
	l->n = l->cap = 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int acclist_parse_hex(const char *s, size_t len, uint8_t out[ACCLIST_HASH_LEN])
{
	uint8_t h[ACCLIST_HASH_LEN];

	if (len != 2 * ACCLIST_HASH_LEN)
		return -EINVAL;
	for (size_t i = 0; i < ACCLIST_HASH_LEN; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		h[i] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(out, h, sizeof(h));
	return 0;
}

void acclist_format_hex(const uint8_t h[ACCLIST_HASH_LEN], char out[2 * ACCLIST_HASH_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < ACCLIST_HASH_LEN; i++) {
		out[2 * i] = digits[h[i] >> 4];
		out[2 * i + 1] = digits[h[i] & 15];
	}
	out[2 * ACCLIST_HASH_LEN] = '\0';
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/*
 * One line (without its '\n'). Returns 1 with *hash filled for a hash line,
 * 0 for a blank or comment line, -EINVAL with *why for anything else.
 */
static int parse_line(const char *p, size_t len, uint8_t hash[ACCLIST_HASH_LEN], const char **why)
{
	size_t i = 0, start;

	while (i < len && is_blank(p[i]))
		i++;
	if (i == len || p[i] == '#')
		return 0;
	start = i;
	while (i < len && hexval(p[i]) >= 0)
		i++;
	if (i - start != 2 * ACCLIST_HASH_LEN) {
		*why = i > start ? "an info-hash has exactly 40 hex digits" :
				   "expected 40 hex digits, a comment or a blank line";
		return -EINVAL;
	}
	if (i < len && !is_blank(p[i]) && p[i] != '#') {
		*why = "expected blanks or a '#' comment after the info-hash";
		return -EINVAL;
	}
	while (i < len && is_blank(p[i]))
		i++;
	if (i < len && p[i] != '#') {
		*why = "only one info-hash a line (then blanks or a '#' comment)";
		return -EINVAL;
	}
	acclist_parse_hex(p + start, 2 * ACCLIST_HASH_LEN, hash);
	return 1;
}

static int push(struct acclist *l, const uint8_t hash[ACCLIST_HASH_LEN])
{
	if (l->n == l->cap) {
		size_t ncap = l->cap ? 2 * l->cap : 1024;
		uint8_t *nh = realloc(l->hashes, ncap * ACCLIST_HASH_LEN);

		if (!nh)
			return -ENOMEM;
		l->hashes = nh;
		l->cap = ncap;
	}
	memcpy(l->hashes + l->n * ACCLIST_HASH_LEN, hash, ACCLIST_HASH_LEN);
	l->n++;
	return 0;
}

/* Visit each line: fn(line, len, lineno, arg); stops at the first non-zero return. */
static int each_line(const char *buf, size_t len,
		     int (*fn)(const char *line, size_t llen, size_t lineno, void *arg), void *arg)
{
	size_t pos = 0, lineno = 0;
	int r;

	while (pos < len) {
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t llen = nl ? (size_t)(nl - (buf + pos)) : len - pos;

		lineno++;
		r = fn(buf + pos, llen, lineno, arg);
		if (r)
			return r;
		pos += llen + (nl ? 1 : 0);
	}
	return 0;
}

struct parse_state {
	struct acclist l;
	const char *name;
	char *err;
	size_t errlen;
};

static int parse_visit(const char *line, size_t llen, size_t lineno, void *arg)
{
	struct parse_state *ps = arg;
	uint8_t hash[ACCLIST_HASH_LEN];
	const char *why = "";
	int r;

	if (memchr(line, '\0', llen)) {
		snprintf(ps->err, ps->errlen, "%s:%zu: NUL byte (not a text file?)", ps->name,
			 lineno);
		return -EINVAL;
	}
	r = parse_line(line, llen, hash, &why);
	if (r < 0) {
		snprintf(ps->err, ps->errlen, "%s:%zu: %s", ps->name, lineno, why);
		return r;
	}
	if (r > 0 && push(&ps->l, hash) < 0) {
		snprintf(ps->err, ps->errlen, "%s:%zu: out of memory", ps->name, lineno);
		return -ENOMEM;
	}
	return 0;
}

int acclist_parse(const char *buf, size_t len, const char *name, struct acclist *ret, char *err,
		  size_t errlen)
{
	struct parse_state ps = { .name = name, .err = err, .errlen = errlen };
	int r;

	if (errlen)
		err[0] = '\0';
	r = each_line(buf, len, parse_visit, &ps);
	if (r) {
		acclist_free(&ps.l);
		return r;
	}
	*ret = ps.l;
	return 0;
}

/* Whole file into a heap buffer; a missing file is an empty one. */
static int read_file(const char *path, char **ret_buf, size_t *ret_len, bool *ret_missing,
		     char *err, size_t errlen)
{
	struct stat st;
	size_t got = 0;
	char *buf;
	int fd, r;

	*ret_missing = false;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		if (r == -ENOENT) {
			*ret_missing = true;
			*ret_buf = NULL;
			*ret_len = 0;
			return 0;
		}
		snprintf(err, errlen, "%s: %s", path, strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-r));
		close(fd);
		return r;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > ACCLIST_FILE_MAX) {
		snprintf(err, errlen, "%s: %s", path,
			 S_ISREG(st.st_mode) ? "larger than 1 GiB" : "not a regular file");
		close(fd);
		return S_ISREG(st.st_mode) ? -EFBIG : -EINVAL;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : 0;
			if (!r)
				break; /* shrank while we read: take what is there */
			snprintf(err, errlen, "%s: %s", path, strerror(-r));
			free(buf);
			close(fd);
			return r;
		}
		got += (size_t)n;
	}
	close(fd);
	*ret_buf = buf;
	*ret_len = got;
	return 0;
}

int acclist_load(const char *path, struct acclist *ret, bool *ret_missing, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	int r;

	if (errlen)
		err[0] = '\0';
	r = read_file(path, &buf, &len, ret_missing, err, errlen);
	if (r < 0)
		return r;
	r = acclist_parse(buf ? buf : "", len, path, ret, err, errlen);
	free(buf);
	return r;
}

/* Building the edited file: every line kept except those the edit drops. */
struct edit_state {
	const uint8_t *hash;
	enum acclist_op op;
	bool found;
	char *out;
	size_t olen;
	const char *name;
	char *err;
	size_t errlen;
};

static int edit_visit(const char *line, size_t llen, size_t lineno, void *arg)
{
	struct edit_state *es = arg;
	uint8_t hash[ACCLIST_HASH_LEN];
	const char *why = "";
	int r;

	if (memchr(line, '\0', llen)) {
		snprintf(es->err, es->errlen, "%s:%zu: NUL byte (not a text file?)", es->name,
			 lineno);
		return -EINVAL;
	}
	r = parse_line(line, llen, hash, &why);
	if (r < 0) {
		snprintf(es->err, es->errlen, "%s:%zu: %s", es->name, lineno, why);
		return r;
	}
	if (r > 0 && !memcmp(hash, es->hash, ACCLIST_HASH_LEN)) {
		es->found = true;
		if (es->op == ACCLIST_REMOVE)
			return 0; /* dropped */
	}
	memcpy(es->out + es->olen, line, llen);
	es->olen += llen;
	es->out[es->olen++] = '\n';
	return 0;
}

int acclist_edit(const char *path, const uint8_t hash[ACCLIST_HASH_LEN], enum acclist_op op,
		 bool *ret_changed, char *err, size_t errlen)
{
	struct edit_state es = {
		.hash = hash, .op = op, .name = path, .err = err, .errlen = errlen
	};
	char *buf = NULL;
	size_t len = 0;
	bool missing;
	int r;

	if (errlen)
		err[0] = '\0';
	*ret_changed = false;
	r = read_file(path, &buf, &len, &missing, err, errlen);
	if (r < 0)
		return r;
	/* Every line plus a newline each, plus one new line. */
	es.out = malloc(2 * len + 2 * ACCLIST_HASH_LEN + 2);
	if (!es.out) {
		free(buf);
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	r = each_line(buf ? buf : "", len, edit_visit, &es);
	if (r)
		goto out;
	if (op == ACCLIST_ADD && !es.found) {
		acclist_format_hex(hash, es.out + es.olen);
		es.olen += 2 * ACCLIST_HASH_LEN;
		es.out[es.olen++] = '\n';
	} else if (op == ACCLIST_ADD || !es.found) {
		goto out; /* nothing to change */
	}
	r = atomicfile_write(path, es.out, es.olen, 0644, true);
	if (r < 0) {
		snprintf(err, errlen, "%s: cannot replace the file: %s", path, strerror(-r));
		goto out;
	}
	*ret_changed = true;
out:
	free(es.out);
	free(buf);
	return r;
}

/* --- applying ------------------------------------------------------------ */

#define SWEEP_BUF 1024u

struct sweep {
	const struct acl *a;
	uint8_t (*hashes)[ACCLIST_HASH_LEN];
	unsigned n;
};

/* Under the stripe lock: no allocation, no system call. */
static int sweep_visit(const struct torrents_view *v, void *arg)
{
	struct sweep *sw = arg;

	if (acl_permits(sw->a, v->info_hash))
		return 0;
	memcpy(sw->hashes[sw->n++], v->info_hash, ACCLIST_HASH_LEN);
	return sw->n == SWEEP_BUF; /* full: remove these, then visit the stripe again */
}

uint64_t acclist_purge(const struct acl *a, struct torrents *t, uint64_t *ret_peers)
{
	static uint8_t buf[SWEEP_BUF][ACCLIST_HASH_LEN];
	struct sweep sw = { .a = a, .hashes = buf };
	struct torrents_remove_result rr;
	uint64_t removed = 0, peers = 0;
	struct acl_info info;
	unsigned s, ns = torrents_stripe_count(t), rounds;

	acl_get_info(a, &info);
	if (info.mode == ACL_MODE_OFF || (info.mode == ACL_MODE_DENY && !info.count)) {
		if (ret_peers)
			*ret_peers = 0;
		return 0;
	}
	for (s = 0; s < ns; s++) {
		/* A stripe holds a bounded number of torrents: bounded rounds. */
		for (rounds = 0; rounds < 1u << 20; rounds++) {
			sw.n = 0;
			torrents_iterate_stripe(t, s, sweep_visit, &sw);
			for (unsigned i = 0; i < sw.n; i++) {
				if (torrents_remove(t, buf[i], &rr) == 0) {
					removed++;
					peers += rr.peers4 + rr.peers6;
				}
			}
			if (sw.n < SWEEP_BUF)
				break;
		}
	}
	if (ret_peers)
		*ret_peers = peers;
	return removed;
}

int acclist_apply_file(struct acl *a, struct torrents *t, int mode, const char *path,
		       struct acclist_result *ret, char *err, size_t errlen)
{
	struct acclist l = { 0 };
	struct acl_info info;
	int r;

	memset(ret, 0, sizeof(*ret));
	if (errlen)
		err[0] = '\0';
	if (mode == ACL_MODE_OFF)
		return acl_publish(a, ACL_MODE_OFF, NULL, 0);
	if (mode != ACL_MODE_ALLOW && mode != ACL_MODE_DENY) {
		snprintf(err, errlen, "unknown access list mode %d", mode);
		return -EINVAL;
	}
	r = acclist_load(path, &l, &ret->missing, err, errlen);
	if (r == 0) {
		r = acl_publish(a, (enum acl_mode)mode, l.hashes, l.n);
		if (r == -ENOSPC) {
			acl_get_info(a, &info);
			snprintf(err, errlen,
				 "%s: more than %llu distinct info-hashes (access_list_max)", path,
				 (unsigned long long)info.max_entries);
		} else if (r < 0) {
			snprintf(err, errlen, "%s: %s", path, strerror(-r));
		}
	}
	acclist_free(&l);
	if (r < 0) {
		acl_get_info(a, &info);
		if ((int)info.mode != mode)
			(void)acl_publish(a, (enum acl_mode)mode, NULL, 0);
	}
	acl_get_info(a, &info);
	ret->listed = info.count;
	ret->torrents_removed = acclist_purge(a, t, &ret->peers_removed);
	return r;
}

int acclist_apply_edit(struct acl *a, struct torrents *t, int mode, const char *path,
		       const uint8_t hash[ACCLIST_HASH_LEN], enum acclist_op op,
		       struct acclist_result *ret, char *err, size_t errlen)
{
	struct torrents_remove_result rr;
	struct acl_info info;
	uint8_t *all = NULL;
	uint64_t n, i;
	int r;

	memset(ret, 0, sizeof(*ret));
	if (errlen)
		err[0] = '\0';
	if (mode != ACL_MODE_ALLOW && mode != ACL_MODE_DENY) {
		snprintf(err, errlen, "the access list is off (access_list_mode)");
		return -EINVAL;
	}
	acl_get_info(a, &info);
	ret->was_listed = acl_contains(a, hash);
	if (op == ACCLIST_ADD && !ret->was_listed && info.count >= info.max_entries) {
		snprintf(err, errlen, "the list is full: %llu info-hashes (access_list_max)",
			 (unsigned long long)info.max_entries);
		return -ENOSPC;
	}
	r = acclist_edit(path, hash, op, &ret->file_changed, err, errlen);
	if (r < 0)
		return r;

	/* The live list, edited: the one in force plus or minus the hash. */
	all = malloc((info.count + 1) * ACCLIST_HASH_LEN);
	if (!all) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	n = acl_copy(a, all, info.count + 1);
	if (n > info.count + 1)
		n = info.count + 1; /* cannot happen: one writer */
	if (op == ACCLIST_ADD && !ret->was_listed) {
		memcpy(all + n * ACCLIST_HASH_LEN, hash, ACCLIST_HASH_LEN);
		n++;
	} else if (op == ACCLIST_REMOVE) {
		for (i = 0; i < n; i++) {
			if (memcmp(all + i * ACCLIST_HASH_LEN, hash, ACCLIST_HASH_LEN))
				continue;
			memmove(all + i * ACCLIST_HASH_LEN, all + (n - 1) * ACCLIST_HASH_LEN,
				ACCLIST_HASH_LEN);
			n--;
			break;
		}
	}
	if ((int)info.mode != mode || ret->was_listed != (op == ACCLIST_ADD))
		r = acl_publish(a, (enum acl_mode)mode, all, (size_t)n);
	free(all);
	if (r < 0) {
		snprintf(err, errlen, "cannot publish the list: %s", strerror(-r));
		return r;
	}
	acl_get_info(a, &info);
	ret->listed = info.count;
	if (!acl_permits(a, hash) && torrents_remove(t, hash, &rr) == 0) {
		ret->torrents_removed = 1;
		ret->peers_removed = rr.peers4 + rr.peers6;
	}
	return 0;
}
