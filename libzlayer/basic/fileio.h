/* SPDX-License-Identifier: Apache-2.0 */
/* fileio.h: whole-file reads with a size limit, atomic writes, mkdir -p. */
#pragma once

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

/* Read everything up to EOF into a new buffer with a NUL appended (not counted in *ret_size;
 * the data may contain NULs of its own). More than max_size bytes is -EFBIG; pass SIZE_MAX for
 * no limit. ret_size may be NULL. The fd/stream is not closed, and its position is wherever
 * the reads left it. */
int read_full_fd(int fd, size_t max_size, char **ret_data, size_t *ret_size);
int read_full_stream(FILE *f, size_t max_size, char **ret_data, size_t *ret_size);
int read_full_file(const char *path, size_t max_size, char **ret_data, size_t *ret_size);

/* Replaces path with exactly these bytes, or leaves it as it was: writes a temporary file in the
 * same directory, fsyncs it, renames it over path and fsyncs the directory. The new file gets
 * `mode` exactly (the umask does not apply). Symlinks at path are replaced, not followed. */
int write_file_atomic(const char *path, const void *data, size_t size, mode_t mode);
int write_string_file_atomic(const char *path, const char *contents, mode_t mode);

typedef enum WriteFileFlags {
        /* Still all or nothing for readers and across a crash of the process, but not
         * durable across a crash of the machine: for state that dies with the machine anyway
         * (a container's status), where two fsyncs per write would be most of the cost. */
        WRITE_FILE_NO_SYNC = 1 << 0,
} WriteFileFlags;
int write_file_atomic_full(const char *path, const void *data, size_t size, mode_t mode,
                           WriteFileFlags flags);

/* Creates path and its missing parents with mode (subject to the umask). Existing directories
 * are fine; an existing non-directory in the way is -ENOTDIR (-EEXIST for the last component). */
int mkdir_p(const char *path, mode_t mode);
/* Removes path and everything below it, without following symlinks or crossing into other
 * mounts (a bind mount left behind is never emptied). 0 when nothing is left (or there was
 * nothing), -ENOTEMPTY when something could not be removed, -EINVAL for NULL, other -errno from
 * the walk. */
int rm_rf(const char *path);
