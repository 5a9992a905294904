/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * daemon/atomicfile.h - crash-safe replacement of a small file.
 */
#ifndef TRACKER_DAEMON_ATOMICFILE_H
#define TRACKER_DAEMON_ATOMICFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/*
 * Replace path with len bytes of buf: temporary file in the same directory,
 * chmod, fsync, rename over path, fsync of the directory. A crash leaves the
 * old file or the new one. The file gets mode, or with keep_mode the mode of
 * the file it replaces when there is one. Returns 0 or -errno (the old file
 * is untouched on failure, and no temporary file is left).
 */
int atomicfile_write(const char *path, const void *buf, size_t len, mode_t mode, bool keep_mode);

#endif /* TRACKER_DAEMON_ATOMICFILE_H */
