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
 * - Edits rewrite the whole file through acclist_write_atomic() and keep
 *   every line they do not concern, so comments survive trackerctl. An
 *   edit parses the file first and refuses to touch a file that would not
 *   load, with the same FILE:LINE message a reload would give.
 * - The parser never allocates per line: the hash array grows by
 *   doubling, bounded by the file size (ACCLIST_FILE_MAX).
 */
#include "daemon/acclist.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

int acclist_write_atomic(const char *path, const char *data, size_t len)
{
	char *dcopy = NULL, *bcopy = NULL, *tmp = NULL;
	const char *dir, *base;
	mode_t mode = 0644;
	struct stat st;
	size_t off = 0;
	int fd = -1, dfd, r = 0;

	if (stat(path, &st) == 0)
		mode = st.st_mode & 07777;
	dcopy = strdup(path);
	bcopy = strdup(path);
	if (!dcopy || !bcopy) {
		r = -ENOMEM;
		goto out;
	}
	dir = dirname(dcopy);
	base = basename(bcopy);
	if (asprintf(&tmp, "%s/.%s.XXXXXX", dir, base) < 0) {
		tmp = NULL;
		r = -ENOMEM;
		goto out;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	while (off < len) {
		ssize_t n = write(fd, data + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto out_unlink;
		}
		off += (size_t)n;
	}
	if (fchmod(fd, mode) < 0 || fsync(fd) < 0) {
		r = -errno;
		goto out_unlink;
	}
	if (close(fd) < 0) {
		fd = -1;
		r = -errno;
		goto out_unlink;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		r = -errno;
		goto out_unlink;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) < 0)
		r = -errno;
	if (dfd >= 0)
		close(dfd);
	goto out;
out_unlink:
	unlink(tmp);
out:
	if (fd >= 0)
		close(fd);
	free(tmp);
	free(dcopy);
	free(bcopy);
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
	r = acclist_write_atomic(path, es.out, es.olen);
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
