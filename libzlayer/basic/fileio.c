/* SPDX-License-Identifier: Apache-2.0 */
/* fileio.c: bounded whole-file reads, atomic replacement of files, recursive mkdir. */
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>

#include "fd-util.h"
#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "path-util.h"

#define READ_CHUNK_MIN 4096

/* Grows *buf so that it holds at least `need` bytes plus the NUL, doubling to amortize, but never
 * past limit + 1 (the extra byte is how an oversized input is noticed) plus the NUL. */
static int buffer_reserve(char **buf, size_t *cap, size_t need, size_t limit) {
        size_t n;
        char *b;

        if (need < *cap)
                return 0;
        n = MAX(*cap, (size_t) READ_CHUNK_MIN);
        while (n <= need && n <= SIZE_MAX / 2)
                n *= 2;
        if (n <= need)
                n = need + 1;
        if (limit < SIZE_MAX - 1)
                n = MIN(n, limit + 2);
        b = realloc(*buf, n);
        if (!b)
                return -ENOMEM;
        *buf = b;
        *cap = n;
        return 0;
}

static void finish(char *buf, size_t size, char **ret_data, size_t *ret_size) {
        buf[size] = '\0';
        *ret_data = buf;
        if (ret_size)
                *ret_size = size;
}

int read_full_fd(int fd, size_t max_size, char **ret_data, size_t *ret_size) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0, cap = 0;
        struct stat st;
        int r;

        assert(ret_data);

        if (fd < 0)
                return -EBADF;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        /* A regular file announces its size: refuse early, and read it in one go. Files in
         * /proc and /sys claim 0 or 4096, so the loop below still decides. */
        if (S_ISREG(st.st_mode) && st.st_size > 0) {
                if ((uint64_t) st.st_size > max_size)
                        return -EFBIG;
                /* The size, one byte to see EOF behind it, the NUL. */
                cap = (size_t) st.st_size + 2;
                buf = malloc(cap);
                if (!buf)
                        return -ENOMEM;
        }

        for (;;) {
                ssize_t k;

                r = buffer_reserve(&buf, &cap, size + 1, max_size);
                if (r < 0)
                        return r;
                /* Leave one byte for the NUL. */
                k = read(fd, buf + size, cap - size - 1);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                size += (size_t) k;
                if (size > max_size)
                        return -EFBIG;
        }

        finish(TAKE_PTR(buf), size, ret_data, ret_size);
        return 0;
}

int read_full_stream(FILE *f, size_t max_size, char **ret_data, size_t *ret_size) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0, cap = 0;
        int r;

        assert(f);
        assert(ret_data);

        for (;;) {
                size_t k, want;

                r = buffer_reserve(&buf, &cap, size + 1, max_size);
                if (r < 0)
                        return r;
                want = cap - size - 1;
                errno = 0;
                k = fread(buf + size, 1, want, f);
                size += k;
                if (size > max_size)
                        return -EFBIG;
                /* A short count means EOF or an error. */
                if (k < want) {
                        if (ferror(f))
                                return errno > 0 ? -errno : -EIO;
                        break;
                }
        }

        finish(TAKE_PTR(buf), size, ret_data, ret_size);
        return 0;
}

int read_full_file(const char *path, size_t max_size, char **ret_data, size_t *ret_size) {
        _cleanup_close_ int fd = -EBADF;

        assert(path);
        assert(ret_data);

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        return read_full_fd(fd, max_size, ret_data, ret_size);
}

static int fsync_directory(const char *dir) {
        _cleanup_close_ int fd = -EBADF;

        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fsync(fd) < 0)
                return -errno;
        return 0;
}

int write_file_atomic_full(const char *path, const void *data, size_t size, mode_t mode,
                           WriteFileFlags flags) {
        _cleanup_free_ char *dir = NULL, *base = NULL, *tmp = NULL;
        bool sync = !(flags & WRITE_FILE_NO_SYNC);
        _cleanup_close_ int fd = -EBADF;
        int r;

        assert(path);
        assert(data || size == 0);

        r = path_basename(path, &base);
        if (r < 0)
                return r;
        r = path_dirname(path, &dir);
        if (r < 0)
                return r;
        /* Hidden, and named after the target, so a leftover from a crash is recognizable; the
         * name is cut so that a target near NAME_MAX still leaves room for the suffix. */
        if (asprintf(&tmp, "%s/.#%.200sXXXXXX", dir, base) < 0) {
                tmp = NULL;
                return -ENOMEM;
        }

        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;

        if (fchmod(fd, mode & 07777) < 0)
                r = -errno;
        else
                r = loop_write(fd, data, size);
        if (r >= 0 && sync && fsync(fd) < 0)
                r = -errno;
        if (r >= 0) {
                /* close() can report delayed write errors on some file systems. */
                if (close(TAKE_FD(fd)) < 0)
                        r = -errno;
        }
        if (r >= 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlink(tmp);
                return r;
        }

        /* The rename itself is durable only once the directory is synced. */
        return sync ? fsync_directory(dir) : 0;
}

int write_file_atomic(const char *path, const void *data, size_t size, mode_t mode) {
        return write_file_atomic_full(path, data, size, mode, 0);
}

int write_string_file_atomic(const char *path, const char *contents, mode_t mode) {
        assert(contents);
        return write_file_atomic(path, contents, strlen(contents), mode);
}

int mkdir_p(const char *path, mode_t mode) {
        _cleanup_free_ char *p = NULL;
        char *e;

        if (isempty(path))
                return -EINVAL;
        p = strdup(path);
        if (!p)
                return -ENOMEM;
        path_simplify(p);

        /* Each prefix ending before a '/', then the whole path. */
        e = p;
        for (;;) {
                struct stat st;
                bool last;

                e += strspn(e, "/");
                e += strcspn(e, "/");
                last = *e == '\0';
                *e = '\0';

                if (mkdir(p, mode) < 0) {
                        if (errno != EEXIST)
                                return -errno;
                        if (stat(p, &st) < 0)
                                return -errno;
                        if (!S_ISDIR(st.st_mode))
                                return last ? -EEXIST : -ENOTDIR;
                }
                if (last)
                        return 0;
                *e = '/';
        }
}

static int rm_rf_entry(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        (void) st;
        (void) ftw;
        if ((type == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT)
                log_debug_errno(errno, "Failed to remove '%s', ignoring: %m", path);
        return 0;
}

int rm_rf(const char *path) {
        if (!path)
                return -EINVAL;

        if (nftw(path, rm_rf_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0 && errno != ENOENT)
                return -errno;
        return access(path, F_OK) < 0 && errno == ENOENT ? 0 : -ENOTEMPTY;
}
