/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/test_acclist.c - the access-list file: parsing, loading,
 * atomic edits, and applying a list to a real segment (the list in force
 * kept when a file is bad, refused torrents removed at once).
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

#include "daemon/acclist.h"
#include "shm/acl.h"
#include "shm/segment.h"
#include "shm/torrents.h"

static char dir[64];
static char path[128];

static const char *H1 = "0123456789abcdef0123456789abcdef01234567";
static const char *H2 = "fedcba9876543210fedcba9876543210fedcba98";
static const char *H3 = "00000000000000000000000000000000000000aa";

static void hex(const char *s, uint8_t out[ACCLIST_HASH_LEN])
{
	assert_int_equal(acclist_parse_hex(s, strlen(s), out), 0);
}

static void write_file(const char *text)
{
	FILE *f = fopen(path, "we");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static char *read_all(void)
{
	static char buf[4096];
	FILE *f = fopen(path, "re");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_acclist.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/list", dir);
	return 0;
}

static int teardown(void **state)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[400];

	(void)state;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.' && (!e->d_name[1] || !strcmp(e->d_name, "..")))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(dir);
	return 0;
}

/* Files in the directory besides the list (temporary files left behind). */
static int stray_files(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, "list");
	closedir(d);
	return n;
}

static void test_parse_good_file(void **state)
{
	const char text[] =
		"# an allow list\n"
		"\n"
		"0123456789abcdef0123456789abcdef01234567\n"
		"   FEDCBA9876543210FEDCBA9876543210FEDCBA98   # upper case, a comment\r\n"
		"\t# indented comment\n"
		"   \n"
		"00000000000000000000000000000000000000aa";
	struct acclist l = { 0 };
	uint8_t h[ACCLIST_HASH_LEN];
	char err[ACCLIST_ERR_MAX];

	(void)state;
	assert_int_equal(acclist_parse(text, sizeof(text) - 1, "f", &l, err, sizeof(err)), 0);
	assert_int_equal(l.n, 3);
	hex(H1, h);
	assert_memory_equal(l.hashes, h, ACCLIST_HASH_LEN);
	hex(H2, h);
	assert_memory_equal(l.hashes + ACCLIST_HASH_LEN, h, ACCLIST_HASH_LEN);
	hex(H3, h);
	assert_memory_equal(l.hashes + 2 * ACCLIST_HASH_LEN, h, ACCLIST_HASH_LEN);
	acclist_free(&l);

	/* Empty and comment-only files are empty lists. */
	assert_int_equal(acclist_parse("", 0, "f", &l, err, sizeof(err)), 0);
	assert_int_equal(l.n, 0);
	assert_int_equal(acclist_parse("#x\n\n", 4, "f", &l, err, sizeof(err)), 0);
	assert_int_equal(l.n, 0);
	acclist_free(&l);
}

static void expect_bad(const char *text, size_t len, const char *want)
{
	struct acclist l = { .n = 777 };
	char err[ACCLIST_ERR_MAX];

	assert_int_equal(acclist_parse(text, len, "list.txt", &l, err, sizeof(err)), -EINVAL);
	if (!strstr(err, want))
		fail_msg("'%s' does not contain '%s'", err, want);
	assert_int_equal(l.n, 777); /* untouched */
}

static void test_bad_lines_are_reported_with_their_number(void **state)
{
	char nul[] = "0123456789abcdef0123456789abcdef01234567\nab\0cd\n";

	(void)state;
	expect_bad("# ok\n0123456789abcdef0123456789abcdef01234567\nnot a hash\n", 56,
		   "list.txt:3: expected 40 hex digits");
	expect_bad("0123456789abcdef0123456789abcdef0123456\n", 40, "list.txt:1: an info-hash has");
	expect_bad("\n\n0123456789abcdef0123456789abcdef012345678\n", 43, "list.txt:3: ");
	expect_bad(
		"0123456789abcdef0123456789abcdef01234567 0123456789abcdef0123456789abcdef01234567",
		81, "list.txt:1: only one info-hash a line");
	expect_bad("0123456789abcdef0123456789abcdef01234567x\n", 42,
		   "list.txt:1: expected blanks");
	expect_bad("0x23456789abcdef0123456789abcdef01234567\n", 41, "list.txt:1: ");
	expect_bad(nul, sizeof(nul) - 1, "list.txt:2: NUL byte");
}

static void test_load_missing_and_unreadable(void **state)
{
	struct acclist l = { 0 };
	char err[ACCLIST_ERR_MAX];
	bool missing = false;

	(void)state;
	assert_int_equal(acclist_load(path, &l, &missing, err, sizeof(err)), 0);
	assert_true(missing);
	assert_int_equal(l.n, 0);

	write_file("0123456789abcdef0123456789abcdef01234567\n");
	assert_int_equal(acclist_load(path, &l, &missing, err, sizeof(err)), 0);
	assert_false(missing);
	assert_int_equal(l.n, 1);
	acclist_free(&l);

	write_file("0123456789abcdef0123456789abcdef01234567\n# fine\nbad\n");
	assert_int_equal(acclist_load(path, &l, &missing, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":3: "));
	assert_non_null(strstr(err, path));

	/* A directory is not a list. */
	assert_int_equal(acclist_load(dir, &l, &missing, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a regular file"));
}

static void test_edit_keeps_comments_and_is_atomic(void **state)
{
	uint8_t h1[ACCLIST_HASH_LEN], h2[ACCLIST_HASH_LEN];
	char err[ACCLIST_ERR_MAX];
	struct stat st;
	bool changed;

	(void)state;
	hex(H1, h1);
	hex(H2, h2);
	/* ADD creates a missing file. */
	assert_int_equal(acclist_edit(path, h1, ACCLIST_ADD, &changed, err, sizeof(err)), 0);
	assert_true(changed);
	assert_string_equal(read_all(), "0123456789abcdef0123456789abcdef01234567\n");

	write_file("# keep me\n0123456789ABCDEF0123456789ABCDEF01234567  # first\n# end");
	assert_int_equal(chmod(path, 0640), 0);
	/* Already listed (other case): nothing written. */
	assert_int_equal(acclist_edit(path, h1, ACCLIST_ADD, &changed, err, sizeof(err)), 0);
	assert_false(changed);
	assert_int_equal(acclist_edit(path, h2, ACCLIST_ADD, &changed, err, sizeof(err)), 0);
	assert_true(changed);
	assert_string_equal(read_all(),
			    "# keep me\n0123456789ABCDEF0123456789ABCDEF01234567  # first\n"
			    "# end\nfedcba9876543210fedcba9876543210fedcba98\n");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640); /* the mode survives the rename */

	assert_int_equal(acclist_edit(path, h1, ACCLIST_REMOVE, &changed, err, sizeof(err)), 0);
	assert_true(changed);
	assert_string_equal(read_all(),
			    "# keep me\n# end\nfedcba9876543210fedcba9876543210fedcba98\n");
	assert_int_equal(acclist_edit(path, h1, ACCLIST_REMOVE, &changed, err, sizeof(err)), 0);
	assert_false(changed);
	assert_int_equal(stray_files(), 0);

	/* A bad file is not edited, and the error names its line. */
	write_file("# x\n\nnope\n");
	assert_int_equal(acclist_edit(path, h1, ACCLIST_ADD, &changed, err, sizeof(err)), -EINVAL);
	assert_false(changed);
	assert_non_null(strstr(err, ":3: "));
	assert_string_equal(read_all(), "# x\n\nnope\n");
	assert_int_equal(stray_files(), 0);
}

/* --- applying to a segment --------------------------------------------------- */

static const uint8_t connid_key[SEGMENT_KEY_LEN] = { 7, 7, 7 };

static void announce(struct torrents *t, const uint8_t *ih, uint16_t port)
{
	struct torrents_announce a = { 0 };
	struct torrents_result res;
	uint8_t peers[64 * 6];

	a.info_hash = ih;
	a.peer.addr[0] = 10;
	a.peer.addr[3] = (uint8_t)port;
	a.peer.port = port;
	a.event = TORRENTS_EVENT_STARTED;
	a.numwant = 10;
	a.now = 1000;
	assert_int_equal(torrents_announce(t, &a, peers, &res), 0);
	assert_int_equal(res.refused, TORRENTS_STORED);
}

static uint64_t ntorrents(struct torrents *t)
{
	struct torrents_gauges g;

	torrents_get_gauges(t, &g);
	return g.torrents;
}

static void test_apply_keeps_old_list_and_purges(void **state)
{
	struct segment_params sp = {
		.max_torrents = 1000, .max_peers4 = 1000, .max_peers6 = 100, .max_access = 3
	};
	uint8_t h1[ACCLIST_HASH_LEN], h2[ACCLIST_HASH_LEN], h3[ACCLIST_HASH_LEN];
	uint8_t h4[ACCLIST_HASH_LEN] = { 4 };
	struct acclist_result res;
	char err[ACCLIST_ERR_MAX];
	struct segment *seg;
	struct torrents *t;
	struct acl_info info;
	struct acl *a;

	(void)state;
	hex(H1, h1);
	hex(H2, h2);
	hex(H3, h3);
	assert_int_equal(segment_create(&sp, connid_key, &seg), 0);
	t = segment_torrents(seg);
	a = segment_acl(seg);
	announce(t, h1, 1001);
	announce(t, h2, 1002);
	announce(t, h2, 1003);
	announce(t, h3, 1004);
	assert_int_equal(ntorrents(t), 3);

	/* deny h2: its torrent and both its peers go at once. */
	write_file("# deny\nfedcba9876543210fedcba9876543210fedcba98\n");
	assert_int_equal(acclist_apply_file(a, t, ACL_MODE_DENY, path, &res, err, sizeof(err)), 0);
	assert_int_equal(res.listed, 1);
	assert_int_equal(res.torrents_removed, 1);
	assert_int_equal(res.peers_removed, 2);
	assert_int_equal(ntorrents(t), 2);
	assert_false(acl_permits(a, h2));
	assert_true(acl_permits(a, h1));
	assert_int_equal(torrents_check(t, err, sizeof(err)), 0);

	/* A bad file keeps the list in force. */
	write_file("0123456789abcdef0123456789abcdef01234567\nbad\n");
	assert_int_equal(acclist_apply_file(a, t, ACL_MODE_DENY, path, &res, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, ":2: "));
	acl_get_info(a, &info);
	assert_int_equal(info.mode, ACL_MODE_DENY);
	assert_int_equal(info.count, 1);
	assert_false(acl_permits(a, h2));
	assert_true(acl_permits(a, h1));

	/* ... but a change of mode with a bad file fails closed: an empty allow list. */
	assert_int_equal(acclist_apply_file(a, t, ACL_MODE_ALLOW, path, &res, err, sizeof(err)),
			 -EINVAL);
	acl_get_info(a, &info);
	assert_int_equal(info.mode, ACL_MODE_ALLOW);
	assert_int_equal(info.count, 0);
	assert_false(acl_permits(a, h1));
	assert_int_equal(ntorrents(t), 0); /* everything was refused, everything removed */

	/* Too many distinct hashes for access_list_max = 3: refused as a whole. */
	announce(t, h1, 1001);
	write_file("0123456789abcdef0123456789abcdef01234567\n");
	assert_int_equal(acclist_apply_file(a, t, ACL_MODE_ALLOW, path, &res, err, sizeof(err)), 0);
	write_file("0123456789abcdef0123456789abcdef01234567\n"
		   "fedcba9876543210fedcba9876543210fedcba98\n"
		   "00000000000000000000000000000000000000aa\n"
		   "0400000000000000000000000000000000000000\n");
	assert_int_equal(acclist_apply_file(a, t, ACL_MODE_ALLOW, path, &res, err, sizeof(err)),
			 -ENOSPC);
	assert_non_null(strstr(err, "access_list_max"));
	acl_get_info(a, &info);
	assert_int_equal(info.count, 1);
	assert_true(acl_permits(a, h1));

	/* Live edits: file and list together, the unlisted torrent removed. */
	write_file("# allow\n0123456789abcdef0123456789abcdef01234567\n");
	assert_int_equal(acclist_apply_edit(a, t, ACL_MODE_ALLOW, path, h2, ACCLIST_ADD, &res, err,
					    sizeof(err)),
			 0);
	assert_true(res.file_changed);
	assert_int_equal(res.listed, 2);
	assert_true(acl_permits(a, h2));
	assert_int_equal(acclist_apply_edit(a, t, ACL_MODE_ALLOW, path, h3, ACCLIST_ADD, &res, err,
					    sizeof(err)),
			 0);
	assert_int_equal(acclist_apply_edit(a, t, ACL_MODE_ALLOW, path, h4, ACCLIST_ADD, &res, err,
					    sizeof(err)),
			 -ENOSPC);
	assert_string_equal(read_all(), "# allow\n0123456789abcdef0123456789abcdef01234567\n"
					"fedcba9876543210fedcba9876543210fedcba98\n"
					"00000000000000000000000000000000000000aa\n");
	assert_int_equal(ntorrents(t), 1);
	assert_int_equal(acclist_apply_edit(a, t, ACL_MODE_ALLOW, path, h1, ACCLIST_REMOVE, &res,
					    err, sizeof(err)),
			 0);
	assert_int_equal(res.torrents_removed, 1);
	assert_int_equal(res.peers_removed, 1);
	assert_int_equal(ntorrents(t), 0);
	assert_false(acl_permits(a, h1));
	assert_true(acl_permits(a, h2));
	assert_string_equal(read_all(), "# allow\nfedcba9876543210fedcba9876543210fedcba98\n"
					"00000000000000000000000000000000000000aa\n");
	assert_int_equal(torrents_check(t, err, sizeof(err)), 0);

	/* Off: the file is not read, everything is served. */
	assert_int_equal(
		acclist_apply_file(a, t, ACL_MODE_OFF, "/nonexistent/x", &res, err, sizeof(err)),
		0);
	assert_true(acl_permits(a, h1));
	assert_int_equal(acclist_apply_edit(a, t, ACL_MODE_OFF, path, h1, ACCLIST_ADD, &res, err,
					    sizeof(err)),
			 -EINVAL);
	segment_close(seg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good_file),
		cmocka_unit_test(test_bad_lines_are_reported_with_their_number),
		cmocka_unit_test_setup_teardown(test_load_missing_and_unreadable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_edit_keeps_comments_and_is_atomic, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_apply_keeps_old_list_and_purges, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
