/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * daemon/atomicfile.c - replace a small file so that a crash leaves the old
 * version or the new one, never a torn one.
 *
 * The data goes to a hidden temporary file made with mkostemp() in the same
 * directory (so the rename stays within one file system and an existing
 * name or symlink is never followed), which is given its mode, fsynced,
 * renamed over the target, and then the directory is fsynced so the rename
 * itself is durable. Used for the access list, the statistics page and the
 * like; the snapshot writer streams its frame and does the same steps itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/atomicfile.h"

int atomicfile_write(const char *path, const void *buf, size_t len, mode_t mode, bool keep_mode)
{
	const char *data = buf;
	char *dcopy = NULL, *bcopy = NULL, *tmp = NULL;
	const char *dir, *base;
	struct stat st;
	size_t off = 0;
	int fd = -1, dfd, r = 0;

	if (keep_mode && stat(path, &st) == 0)
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
