/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/fuzz/fuzz_ctlproto.c - libFuzzer entry for the control request parser.
 *
 * Frames each input the way daemon/ctlsrv.c does (the line ends at the
 * first "\n"; at most CTLPROTO_REQUEST_MAX bytes including it) and parses
 * it with ctlproto_parse(). Besides the sanitizers' checks it asserts the
 * parser's promises: an accepted request names a table row, has an
 * argument count within that row's bounds, and every argument is a
 * non-empty printable word inside the line; a refused one never leaves a
 * command index out of range.
 *
 *   clang -std=gnu11 -D_GNU_SOURCE -I. -g -O1 \
 *       -fsanitize=fuzzer,address,undefined tests/fuzz/fuzz_ctlproto.c -o fuzz_ctlproto
 *   ./fuzz_ctlproto -max_total_time=30
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctlproto.h"

#define CHECK(cond)                                                                          \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, \
				#cond);                                                      \
			abort();                                                             \
		}                                                                            \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char line[CTLPROTO_REQUEST_MAX + 1];
	struct ctlproto_request req;
	const uint8_t *nl;
	size_t len;
	int r;

	nl = memchr(data, '\n', size < CTLPROTO_REQUEST_MAX ? size : CTLPROTO_REQUEST_MAX);
	if (!nl)
		return 0; /* the server answers "too long" or waits for more */
	len = (size_t)(nl - data);
	memcpy(line, data, len);
	line[len] = 'Z'; /* the parser must terminate the line itself */

	r = ctlproto_parse(line, len, &req);
	CHECK(req.cmd >= -1 && req.cmd < CTLPROTO_CMD__MAX);
	if (r < 0) {
		CHECK(r == -EPROTONOSUPPORT || r == -EBADMSG || r == -ENOENT || r == -E2BIG ||
		      r == -EINVAL || r == -EDOM);
		CHECK((r == -E2BIG || r == -EINVAL || r == -EDOM) == (req.cmd >= 0));
		return 0;
	}

	const struct ctlproto_command *c = &ctlproto_commands[req.cmd];
	char help[160];

	CHECK(len >= sizeof(CTLPROTO_MAGIC) && memcmp(data, CTLPROTO_MAGIC " ", 5) == 0);
	CHECK(req.argc >= c->min_args && req.argc <= c->max_args);
	CHECK(strncmp((const char *)data + 5, c->name, strlen(c->name)) == 0);
	for (unsigned i = 0; i < req.argc; i++) {
		const char *a = req.argv[i];
		size_t n;

		CHECK(a > line && a < line + len);
		n = strlen(a);
		CHECK(n > 0 && a + n <= line + len);
		for (size_t j = 0; j < n; j++)
			CHECK(ctlproto_is_word_char((unsigned char)a[j]));
		CHECK(ctlproto_arg_is_valid(c->arg[i], a));
	}
	CHECK(ctlproto_check_args(req.cmd, req.argc, req.argv, NULL) == 0);
	ctlproto_help_line(req.cmd, help, sizeof(help));
	return 0;
}
