/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/test_ctlproto.c - the control protocol's table and parser.
 *
 * ctl/ctlproto.h is header-only and shared by trackerctl and the server;
 * these tests pin its request grammar and keep the command table sane
 * (names the man page check can find, argument bounds the parser honours).
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ctl/ctlproto.h"
#include "shm/counters.h"

static const char *argv0;

#define HEX_A "0123456789abcdef0123456789ABCDEF01234567"

/* Parse a copy of s (without "\n") and return the result. */
static int parse(const char *s, char *buf, size_t cap, struct ctlproto_request *req)
{
	size_t n = strlen(s);

	assert_true(n < cap);
	memcpy(buf, s, n + 1);
	return ctlproto_parse(buf, n, req);
}

static void test_table_is_consistent(void **state)
{
	(void)state;
	for (int i = 0; i < CTLPROTO_CMD__MAX; i++) {
		const struct ctlproto_command *c = &ctlproto_commands[i];
		char line[160];

		assert_non_null(c->name);
		assert_non_null(c->usage);
		assert_non_null(c->help);
		assert_true(c->help[0] >= 'a' && c->help[0] <= 'z');
		assert_true(c->name[0] != '\0');
		/* tests/check-docs.sh extracts names with [a-z-]* */
		for (const char *p = c->name; *p; p++)
			assert_true((*p >= 'a' && *p <= 'z') || *p == '-');
		assert_true(c->min_args <= c->max_args);
		assert_true(c->max_args <= CTLPROTO_ARGS_MAX);
		for (unsigned a = 0; a < c->max_args; a++)
			assert_int_not_equal(c->arg[a], CTLPROTO_ARG_NONE);
		assert_int_equal(c->usage[0] != '\0', c->max_args > 0);
		/* the request "TRK1 name" fits with room for arguments */
		assert_true(strlen(c->name) + 6 < CTLPROTO_REQUEST_MAX / 2);
		for (int j = 0; j < i; j++)
			assert_string_not_equal(c->name, ctlproto_commands[j].name);
		assert_int_equal(ctlproto_find(c->name), i);
		ctlproto_help_line(i, line, sizeof(line));
		assert_true(strncmp(line, c->name, strlen(c->name)) == 0);
		assert_non_null(strstr(line, c->help));
		assert_true(strlen(line) < 100);
	}
	/* reading commands are open to the socket group, mutating ones are not */
	assert_false(ctlproto_commands[CTLPROTO_CMD_STATS].privileged);
	assert_false(ctlproto_commands[CTLPROTO_CMD_TORRENT].privileged);
	assert_true(ctlproto_commands[CTLPROTO_CMD_RELOAD].privileged);
	assert_true(ctlproto_commands[CTLPROTO_CMD_BAN].privileged);
	assert_int_equal(ctlproto_find("nope"), -ENOENT);
	assert_int_equal(ctlproto_find(""), -ENOENT);
}

static void test_parse_ok(void **state)
{
	struct ctlproto_request req;
	char buf[CTLPROTO_REQUEST_MAX + 1];

	(void)state;
	assert_int_equal(parse("TRK1 status", buf, sizeof(buf), &req), 0);
	assert_int_equal(req.cmd, CTLPROTO_CMD_STATUS);
	assert_int_equal(req.argc, 0);

	assert_int_equal(parse("TRK1 torrent " HEX_A, buf, sizeof(buf), &req), 0);
	assert_int_equal(req.cmd, CTLPROTO_CMD_TORRENT);
	assert_int_equal(req.argc, 1);
	assert_string_equal(req.argv[0], HEX_A);

	assert_int_equal(parse("TRK1 ban 2001:db8::/32 12h", buf, sizeof(buf), &req), 0);
	assert_int_equal(req.cmd, CTLPROTO_CMD_BAN);
	assert_int_equal(req.argc, 2);
	assert_string_equal(req.argv[0], "2001:db8::/32");
	assert_string_equal(req.argv[1], "12h");

	assert_int_equal(parse("TRK1 top 10000", buf, sizeof(buf), &req), 0);
	assert_string_equal(req.argv[0], "10000");
}

static void test_parse_version(void **state)
{
	struct ctlproto_request req;
	char buf[64];

	(void)state;
	assert_int_equal(parse("TRK2 status", buf, sizeof(buf), &req), -EPROTONOSUPPORT);
	assert_int_equal(parse("TRK1x status", buf, sizeof(buf), &req), -EPROTONOSUPPORT);
	assert_int_equal(parse("trk1 status", buf, sizeof(buf), &req), -EPROTONOSUPPORT);
	assert_int_equal(parse("TRK", buf, sizeof(buf), &req), -EPROTONOSUPPORT);
	assert_int_equal(parse("", buf, sizeof(buf), &req), -EPROTONOSUPPORT);
	assert_int_equal(parse(" TRK1 status", buf, sizeof(buf), &req), -EPROTONOSUPPORT);
	assert_int_equal(req.cmd, -1);
}

static void test_parse_malformed(void **state)
{
	struct ctlproto_request req;
	char buf[64];

	(void)state;
	assert_int_equal(parse("TRK1", buf, sizeof(buf), &req), -EBADMSG);
	assert_int_equal(parse("TRK1 ", buf, sizeof(buf), &req), -EBADMSG);
	assert_int_equal(parse("TRK1  status", buf, sizeof(buf), &req), -EBADMSG);
	assert_int_equal(parse("TRK1 status ", buf, sizeof(buf), &req), -EBADMSG);
	assert_int_equal(parse("TRK1 status\r", buf, sizeof(buf), &req), -EBADMSG);
	assert_int_equal(parse("TRK1 top\t1", buf, sizeof(buf), &req), -EBADMSG);
	assert_int_equal(parse("TRK1 top \x7f", buf, sizeof(buf), &req), -EBADMSG);
	assert_int_equal(parse("TRK1 top \xc3\xa9", buf, sizeof(buf), &req), -EBADMSG);
	memcpy(buf, "TRK1 st\0tus", 11);
	assert_int_equal(ctlproto_parse(buf, 11, &req), -EBADMSG);
	assert_int_equal(req.cmd, -1);
}

static void test_parse_command_and_args(void **state)
{
	struct ctlproto_request req;
	char buf[CTLPROTO_REQUEST_MAX + 1];

	(void)state;
	assert_int_equal(parse("TRK1 frob", buf, sizeof(buf), &req), -ENOENT);
	assert_int_equal(req.cmd, -1);
	assert_int_equal(parse("TRK1 frob 1 2 3 4 5 6", buf, sizeof(buf), &req), -ENOENT);

	/* the command is known even when its arguments are wrong: for the usage */
	assert_int_equal(parse("TRK1 torrent", buf, sizeof(buf), &req), -EINVAL);
	assert_int_equal(req.cmd, CTLPROTO_CMD_TORRENT);
	assert_int_equal(parse("TRK1 status 1", buf, sizeof(buf), &req), -E2BIG);
	assert_int_equal(req.cmd, CTLPROTO_CMD_STATUS);
	assert_int_equal(parse("TRK1 top 1 2 3 4 5 6", buf, sizeof(buf), &req), -E2BIG);
	assert_int_equal(req.cmd, CTLPROTO_CMD_TOP);
	assert_int_equal(parse("TRK1 torrent abc", buf, sizeof(buf), &req), -EDOM);
	assert_int_equal(req.cmd, CTLPROTO_CMD_TORRENT);
}

static void test_arg_kinds(void **state)
{
	(void)state;
	assert_true(ctlproto_arg_is_valid(CTLPROTO_ARG_HEX, HEX_A));
	assert_false(ctlproto_arg_is_valid(CTLPROTO_ARG_HEX, HEX_A "0"));
	assert_false(ctlproto_arg_is_valid(CTLPROTO_ARG_HEX, HEX_A + 1));
	assert_false(ctlproto_arg_is_valid(CTLPROTO_ARG_HEX,
					   "g123456789abcdef0123456789abcdef01234567"));
	assert_false(ctlproto_arg_is_valid(CTLPROTO_ARG_HEX, ""));

	assert_true(ctlproto_arg_is_valid(CTLPROTO_ARG_COUNT, "1"));
	assert_true(ctlproto_arg_is_valid(CTLPROTO_ARG_COUNT, "10000"));
	assert_false(ctlproto_arg_is_valid(CTLPROTO_ARG_COUNT, "10001"));
	assert_false(ctlproto_arg_is_valid(CTLPROTO_ARG_COUNT, "0"));
	assert_false(ctlproto_arg_is_valid(CTLPROTO_ARG_COUNT, "01"));
	assert_false(ctlproto_arg_is_valid(CTLPROTO_ARG_COUNT, "-1"));
	assert_false(ctlproto_arg_is_valid(CTLPROTO_ARG_COUNT, "+1"));
	assert_false(ctlproto_arg_is_valid(CTLPROTO_ARG_COUNT, "999999"));
	assert_false(ctlproto_arg_is_valid(CTLPROTO_ARG_COUNT, "1x"));

	assert_true(ctlproto_arg_is_valid(CTLPROTO_ARG_WORD, "10.0.0.0/8"));
	assert_false(ctlproto_arg_is_valid(CTLPROTO_ARG_WORD, "a b"));
	assert_false(ctlproto_arg_is_valid(CTLPROTO_ARG_WORD, ""));
	assert_false(ctlproto_arg_is_valid(CTLPROTO_ARG_NONE, "x"));
}

static void test_check_args(void **state)
{
	const char *one[] = { "x" };
	const char *two[] = { "10.0.0.0/8", "1h" };
	unsigned bad = 99;

	(void)state;
	assert_int_equal(ctlproto_check_args(CTLPROTO_CMD_TORRENT, 1, one, &bad), -EDOM);
	assert_int_equal(bad, 0);
	assert_int_equal(ctlproto_check_args(CTLPROTO_CMD_BAN, 2, two, NULL), 0);
	assert_int_equal(ctlproto_check_args(CTLPROTO_CMD_BAN, 0, two, NULL), -EINVAL);
	assert_int_equal(ctlproto_check_args(CTLPROTO_CMD_UNBAN, 2, two, NULL), -E2BIG);
	assert_int_equal(ctlproto_check_args(-1, 0, NULL, NULL), -ENOENT);
	assert_int_equal(ctlproto_check_args(CTLPROTO_CMD__MAX, 0, NULL, NULL), -ENOENT);
}

/* Read man/trackerctl.8 from the source tree: the cwd (make) or next to the build dir. */
static char *read_man_page(void)
{
	static char page[1 << 16];
	char tmp[PATH_MAX], path[PATH_MAX];
	FILE *f = fopen("man/trackerctl.8", "r");
	size_t n;

	if (!f) {
		snprintf(tmp, sizeof(tmp), "%s", argv0);
		snprintf(path, sizeof(path), "%s/../../man/trackerctl.8", dirname(tmp));
		f = fopen(path, "r");
	}
	if (!f)
		fail_msg("cannot find man/trackerctl.8 (run from the source tree)");
	n = fread(page, 1, sizeof(page) - 1, f);
	fclose(f);
	page[n] = '\0';
	return page;
}

/*
 * The man page documents every command (tests/check-docs.sh checks the
 * same through trackerctl help) and every counter name that "stats" and
 * "metrics" print, so neither table drifts from trackerctl(8).
 */
static void test_man_page_documents_tables(void **state)
{
	const char *page = read_man_page();
	char want[96];

	(void)state;
	for (int i = 0; i < CTLPROTO_CMD__MAX; i++) {
		snprintf(want, sizeof(want), "\n.It Cm %s", ctlproto_commands[i].name);
		if (!strstr(page, want))
			fail_msg("command '%s' is not in man/trackerctl.8",
				 ctlproto_commands[i].name);
	}
	for (int i = 0; i < COUNTERS__MAX; i++) {
		snprintf(want, sizeof(want), "\n.It Li %s\n", counters_names[i]);
		if (!strstr(page, want))
			fail_msg("counter '%s' is not in man/trackerctl.8 (section Counters)",
				 counters_names[i]);
	}
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_is_consistent),
		cmocka_unit_test(test_parse_ok),
		cmocka_unit_test(test_parse_version),
		cmocka_unit_test(test_parse_malformed),
		cmocka_unit_test(test_parse_command_and_args),
		cmocka_unit_test(test_arg_kinds),
		cmocka_unit_test(test_check_args),
		cmocka_unit_test(test_man_page_documents_tables),
	};

	(void)argc;
	argv0 = argv[0];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
