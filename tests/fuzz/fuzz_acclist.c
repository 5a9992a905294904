/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/fuzz/fuzz_acclist.c - libFuzzer entry for the access-list file parser.
 *
 * Parses each input as a list file with acclist_parse(). Besides the
 * sanitizers' checks it asserts the parser's promises: an accepted file
 * yields at most one hash per line, and the hashes written back as hex
 * lines parse again to the same list; a refused file names a line that
 * exists in the input, in the form "NAME:LINE: reason".
 *
 *   make fuzz-build FUZZ_O=build-fuzz
 *   build-fuzz/fuzz_acclist -max_total_time=30 tests/fuzz/corpus/acclist
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/acclist.h"

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
	struct acclist l = { 0 }, again = { 0 };
	char err[ACCLIST_ERR_MAX];
	size_t lines = 1, i;
	unsigned long line;
	char *text, *p;
	int r;

	for (i = 0; i < size; i++)
		lines += data[i] == '\n';
	r = acclist_parse((const char *)data, size, "fuzz", &l, err, sizeof(err));
	if (r < 0) {
		CHECK(r == -EINVAL || r == -ENOMEM);
		CHECK(!strncmp(err, "fuzz:", 5));
		line = strtoul(err + 5, &p, 10);
		CHECK(line >= 1 && line <= lines && p[0] == ':' && p[1] == ' ');
		return 0;
	}
	CHECK(l.n <= lines);
	/* Round trip: the hashes as a clean file parse to the same list. */
	text = malloc(l.n * 41 + 1);
	CHECK(text != NULL);
	for (i = 0; i < l.n; i++) {
		acclist_format_hex(l.hashes + i * ACCLIST_HASH_LEN, text + i * 41);
		text[i * 41 + 40] = '\n';
	}
	r = acclist_parse(text, l.n * 41, "again", &again, err, sizeof(err));
	CHECK(r == 0);
	CHECK(again.n == l.n);
	CHECK(!l.n || !memcmp(again.hashes, l.hashes, l.n * ACCLIST_HASH_LEN));
	free(text);
	acclist_free(&again);
	acclist_free(&l);
	return 0;
}
