/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tests/unit/test_atomicfile.c - crash-safe file replacement: content, mode
 * rules, no temporary file left, the old file untouched on failure.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/atomicfile.h"

static char dir[64];
static char path[128];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/atomicfile.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/file", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	rmdir(dir);
	return 0;
}

static void expect_content(const char *want)
{
	char buf[64];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	assert_int_equal(n, (ssize_t)strlen(want));
	assert_memory_equal(buf, want, strlen(want));
}

static unsigned entries(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	unsigned n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static mode_t mode_of(void)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
}

static void test_replace_and_mode(void **state)
{
	(void)state;
	assert_int_equal(atomicfile_write(path, "one\n", 4, 0640, true), 0);
	expect_content("one\n");
	assert_int_equal(mode_of(), 0640); /* new file: the given mode, whatever the umask */
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(atomicfile_write(path, "two\n", 4, 0644, true), 0);
	expect_content("two\n");
	assert_int_equal(mode_of(), 0600); /* keep_mode: the replaced file's mode */
	assert_int_equal(atomicfile_write(path, "three\n", 6, 0644, false), 0);
	expect_content("three\n");
	assert_int_equal(mode_of(), 0644); /* forced */
	assert_int_equal(atomicfile_write(path, "", 0, 0644, false), 0);
	expect_content("");
	assert_int_equal(entries(), 1); /* no temporary file left behind */
}

static void test_failure_keeps_old_file(void **state)
{
	char missing[160];

	(void)state;
	assert_int_equal(atomicfile_write(path, "old\n", 4, 0644, false), 0);
	snprintf(missing, sizeof(missing), "%s/no/such/file", dir);
	assert_int_equal(atomicfile_write(missing, "x", 1, 0644, false), -ENOENT);
	/* Renaming over a directory fails after the temporary file was written. */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_true(atomicfile_write(path, "new\n", 4, 0644, false) < 0);
	assert_int_equal(entries(), 1); /* only the directory: the temporary file is gone */
	assert_int_equal(rmdir(path), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_replace_and_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failure_keeps_old_file, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
