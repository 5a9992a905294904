/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/fuzz/fuzz_conf.c - libFuzzer entry for the configuration parser.
 *
 * conf.h has no buffer entry, so each input is written to a memfd and
 * loaded through conf_load_file() on /proc/self/fd/N: the same code path
 * as a file on disk, read loop and size limit included. Besides the
 * sanitizers' checks it asserts the parser's promises: a refused file
 * leaves the configuration untouched and names the file in the error; an
 * accepted one prints (conf_print, what --print-config shows) to a text
 * that parses again to the same configuration, with no restart key
 * changed. Every input line is also tried as a -o override.
 *
 *   make fuzz-build FUZZ_O=build-fuzz
 *   build-fuzz/fuzz_conf -max_total_time=30 tests/fuzz/corpus/conf
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "daemon/conf.h"

#define CHECK(cond)                                                                          \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, \
				#cond);                                                      \
			abort();                                                             \
		}                                                                            \
	} while (0)

/* Largest -o override tried, well above the parser's line limit. */
#define FUZZ_OPT_MAX 8192

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int memfd = -1;
static char memfd_path[64];

/* Replace the memfd's contents with buf[0..len). */
static void put(const void *buf, size_t len)
{
	const char *p = buf;

	CHECK(ftruncate(memfd, 0) == 0);
	CHECK(lseek(memfd, 0, SEEK_SET) == 0);
	while (len) {
		ssize_t n = write(memfd, p, len);

		CHECK(n > 0);
		p += n;
		len -= (size_t)n;
	}
}

/* conf_print() of c into a malloc'ed text; its length in *len. */
static char *print(const struct conf *c, size_t *len)
{
	char *text = NULL;
	FILE *f = open_memstream(&text, len);

	CHECK(f != NULL);
	conf_print(c, f);
	CHECK(fclose(f) == 0);
	return text;
}

/* Every line of the input as a -o KEY=VALUE override on the defaults. */
static void try_overrides(const uint8_t *data, size_t size)
{
	static char opt[FUZZ_OPT_MAX + 1];
	char err[CONF_ERR_MAX];
	const uint8_t *p = data, *end = data + size;
	struct conf c, before;

	while (p < end) {
		const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)((nl ? nl : end) - p);

		if (n > FUZZ_OPT_MAX)
			n = FUZZ_OPT_MAX;
		memcpy(opt, p, n);
		opt[n] = 0;
		p = nl ? nl + 1 : end;
		conf_defaults(&c);
		before = c;
		err[0] = 0;
		if (conf_set_option(&c, opt, err, sizeof(err)) < 0) {
			/* byte for byte: a refused option must not write anything */
			/* NOLINTNEXTLINE(bugprone-suspicious-memory-comparison,cert-exp42-c,cert-flp37-c) */
			CHECK(!memcmp(&c, &before, sizeof(c)));
			CHECK(!strncmp(err, "-o", 2));
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf c, before, again;
	char err[CONF_ERR_MAX], names[1024];
	char *text, *text2;
	size_t len, len2;
	int r;

	if (memfd < 0) {
		memfd = memfd_create("fuzz_conf", MFD_CLOEXEC);
		CHECK(memfd >= 0);
		snprintf(memfd_path, sizeof(memfd_path), "/proc/self/fd/%d", memfd);
	}
	put(data, size);
	conf_defaults(&c);
	before = c;
	err[0] = 0;
	r = conf_load_file(&c, memfd_path, err, sizeof(err));
	if (r < 0) {
		CHECK(r == -EINVAL || r == -EFBIG || r == -ENOMEM);
		/* NOLINTNEXTLINE(bugprone-suspicious-memory-comparison,cert-exp42-c,cert-flp37-c): as above */
		CHECK(!memcmp(&c, &before, sizeof(c)));
		CHECK(!strncmp(err, memfd_path, strlen(memfd_path)));
		try_overrides(data, size);
		return 0;
	}
	/* Cross-key checks must not crash whatever the values. */
	(void)conf_validate(&c, err, sizeof(err));

	/* Round trip: what --print-config shows loads to the same settings. */
	text = print(&c, &len);
	put(text, len);
	conf_defaults(&again);
	r = conf_load_file(&again, memfd_path, err, sizeof(err));
	if (r < 0)
		fprintf(stderr, "printed configuration refused: %s\n", err);
	CHECK(r == 0);
	text2 = print(&again, &len2);
	CHECK(len == len2 && !memcmp(text, text2, len));
	CHECK(conf_diff_restart_keys(&c, &again, names, sizeof(names)) == 0);
	free(text2);
	free(text);
	try_overrides(data, size);
	return 0;
}
