/* SPDX-License-Identifier: Apache-2.0 */
/* layer-unpack.c: OCI layer extraction with libarchive, confined to the layer directory. */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "layer-unpack.h"
#include "path-util.h"
#include "string-util.h"

#define READ_BUFFER_SIZE (128U * 1024U)
#define WHITEOUT_PREFIX ".wh."
#define WHITEOUT_META_PREFIX ".wh..wh."
#define WHITEOUT_OPAQUE ".wh..wh..opq"

typedef struct DirTimes {
        char *path;
        struct timespec times[2];
} DirTimes;

typedef struct Unpack {
        struct archive *raw; /* decompresses: yields the tar stream, which we hash */
        struct archive *tar; /* parses the tar stream pulled through raw */
        EVP_MD_CTX *md;
        void *buffer;
        bool raw_eof;
        int root_fd;
        const char *name;
        const char *entry; /* for messages */
        char *error;
        DirTimes *dirs;
        size_t n_dirs;
} Unpack;

bool layer_digest_is_valid(const char *digest) {
        const char *hex = digest ? startswith(digest, "sha256:") : NULL;

        if (!hex || strlen(hex) != 64)
                return false;
        for (const char *p = hex; *p; p++)
                if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
                        return false;
        return true;
}

static void unpack_done(Unpack *u) {
        if (u->tar)
                archive_read_free(u->tar);
        if (u->raw)
                archive_read_free(u->raw);
        EVP_MD_CTX_free(u->md);
        free(u->buffer);
        for (size_t i = 0; i < u->n_dirs; i++)
                free(u->dirs[i].path);
        free(u->dirs);
        free(u->error);
}

/* Records the first error only: later ones are consequences. Returns r. */
_printf_(3, 4) static int unpack_error(Unpack *u, int r, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;

        if (u->error)
                return r;
        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        if (!msg)
                return r;
        if (u->entry) {
                _cleanup_free_ char *e = string_escape_for_display(u->entry, 256);
                if (asprintf(&u->error, "layer %s: entry '%s': %s", u->name, strna(e), msg) < 0)
                        u->error = NULL;
        } else if (asprintf(&u->error, "layer %s: %s", u->name, msg) < 0)
                u->error = NULL;
        return r;
}

static la_ssize_t tar_read_cb(struct archive *a, void *userdata, const void **ret_buf) {
        Unpack *u = userdata;
        la_ssize_t n;

        if (u->raw_eof)
                return 0;
        n = archive_read_data(u->raw, u->buffer, READ_BUFFER_SIZE);
        if (n < 0) {
                archive_set_error(a, archive_errno(u->raw) ?: EIO, "%s",
                                  archive_error_string(u->raw) ?: "decompression failed");
                return ARCHIVE_FATAL;
        }
        if (n == 0)
                u->raw_eof = true;
        else if (EVP_DigestUpdate(u->md, u->buffer, (size_t) n) != 1) {
                archive_set_error(a, ENOMEM, "hashing failed");
                return ARCHIVE_FATAL;
        }
        *ret_buf = u->buffer;
        return n;
}

/* The tar reader stops at the end-of-archive blocks; whatever follows is still part of the
 * diff-id. */
static int drain_raw(Unpack *u) {
        const void *buf;

        while (!u->raw_eof) {
                la_ssize_t n = tar_read_cb(u->tar, u, &buf);
                if (n < 0)
                        return unpack_error(u, -EBADMSG, "%s", archive_error_string(u->tar));
        }
        return 0;
}

/* Removes the leading "./" and trailing '/' archives put on names and collapses the rest.
 * Returns "" for the root itself; -EINVAL for absolute paths or ".." components. */
static int normalize_entry_path(const char *p, char **ret) {
        _cleanup_free_ char *s = NULL;

        if (path_is_absolute(p))
                return -EINVAL;
        s = strdup(p);
        if (!s)
                return -ENOMEM;
        path_simplify(s);
        if (streq(s, ".")) {
                s[0] = '\0';
                *ret = TAKE_PTR(s);
                return 0;
        }
        if (!path_is_safe_relative(s))
                return -EINVAL;
        *ret = TAKE_PTR(s);
        return 0;
}

static int openat2_beneath(int dir_fd, const char *path, int flags) {
        struct open_how how = {
                .flags = (uint64_t) (flags | O_CLOEXEC),
                .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
        };

        int fd;

        /* Callers pass one component (never ".."), so where openat2() is missing (old kernels,
         * valgrind) O_NOFOLLOW gives the same guarantee. */
        assert(!strchr(path, '/'));
        fd = (int) syscall(SYS_openat2, dir_fd, path, &how, sizeof how);
        if (fd < 0 && errno == ENOSYS)
                fd = openat(dir_fd, path, flags | O_NOFOLLOW | O_CLOEXEC);
        return RET_NERRNO(fd);
}

/* Opens the directory holding path's last component, one component at a time and never
 * following a symlink, creating missing directories when create is set (layers often omit
 * the entries of parent directories). *ret_name points into path at the last component. */
static int open_parent(Unpack *u, const char *path, bool create, const char **ret_name) {
        _cleanup_free_ char *copy = strdup(path);
        _cleanup_close_ int fd = -EBADF;
        char *p, *slash;

        if (!copy)
                return -ENOMEM;
        fd = openat2_beneath(u->root_fd, ".", O_RDONLY | O_DIRECTORY);
        if (fd < 0)
                return fd;
        for (p = copy; (slash = strchr(p, '/')); p = slash + 1) {
                int next;

                *slash = '\0';
                next = openat2_beneath(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
                if (next == -ENOENT && create) {
                        if (mkdirat(fd, p, 0755) < 0 && errno != EEXIST)
                                return -errno;
                        next = openat2_beneath(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
                }
                if (next == -ELOOP || next == -ENOTDIR)
                        return -ELOOP;
                if (next < 0)
                        return next;
                safe_close(fd);
                fd = next;
        }
        *ret_name = path + (p - copy);
        return TAKE_FD(fd);
}

/* Makes room for a new entry: tar semantics are that a later entry replaces an earlier one.
 * Returns 1 if a directory is already there and the new entry is a directory too. */
static int clear_slot(int dir_fd, const char *name, bool want_dir) {
        struct stat st;

        if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (S_ISDIR(st.st_mode)) {
                if (want_dir)
                        return 1;
                return RET_NERRNO(unlinkat(dir_fd, name, AT_REMOVEDIR));
        }
        return RET_NERRNO(unlinkat(dir_fd, name, 0));
}

static int apply_xattrs(Unpack *u, struct archive_entry *e, int dir_fd, const char *name,
                        bool is_link) {
        const char *key;
        const void *value;
        size_t size;
        char proc[64];

        if (archive_entry_xattr_reset(e) == 0)
                return 0;
        /* A path through the parent's descriptor: l*xattr then never follows a symlink at name,
         * and nothing outside the layer can be reached. */
        snprintf(proc, sizeof proc, "/proc/self/fd/%d/", dir_fd);
        while (archive_entry_xattr_next(e, &key, &value, &size) == ARCHIVE_OK) {
                _cleanup_free_ char *path = NULL;

                if (startswith(key, "trusted.overlay.") || startswith(key, "user.overlay."))
                        continue;
                path = strjoin(proc, name);
                if (!path)
                        return -ENOMEM;
                if (lsetxattr(path, key, value, size, 0) >= 0)
                        continue;
                /* The kernel allows no user.* xattrs on symlinks; tar writers record them
                 * anyway from file systems that do. */
                if (errno == EPERM && is_link && startswith(key, "user."))
                        continue;
                return unpack_error(u, -errno, "cannot set xattr '%s': %m", key);
        }
        return 0;
}

static void entry_times(struct archive_entry *e, struct timespec ts[2]) {
        ts[1] = (struct timespec){ archive_entry_mtime(e), archive_entry_mtime_nsec(e) };
        if (archive_entry_atime_is_set(e))
                ts[0] = (struct timespec){ archive_entry_atime(e), archive_entry_atime_nsec(e) };
        else
                ts[0] = ts[1];
}

/* Ownership first: chown clears the set-id bits, so the mode comes after it. */
static int apply_metadata(Unpack *u, struct archive_entry *e, int dir_fd, const char *name,
                          bool is_link, bool is_dir) {
        struct timespec ts[2];
        int r;

        if (fchownat(dir_fd, name, (uid_t) archive_entry_uid(e), (gid_t) archive_entry_gid(e),
                     AT_SYMLINK_NOFOLLOW) < 0)
                return unpack_error(u, -errno, "cannot set owner: %m");
        if (!is_link && fchmodat(dir_fd, name, archive_entry_perm(e) & 07777, 0) < 0)
                return unpack_error(u, -errno, "cannot set mode: %m");
        r = apply_xattrs(u, e, dir_fd, name, is_link);
        if (r < 0)
                return r;
        entry_times(e, ts);
        if (is_dir) {
                /* Adding children changes a directory's mtime: set it once everything is in. */
                DirTimes *d = reallocarray(u->dirs, u->n_dirs + 1, sizeof *d);
                if (!d)
                        return -ENOMEM;
                u->dirs = d;
                d[u->n_dirs].path = strdup(u->entry);
                if (!d[u->n_dirs].path)
                        return -ENOMEM;
                memcpy(d[u->n_dirs].times, ts, sizeof ts);
                u->n_dirs++;
                return 0;
        }
        if (utimensat(dir_fd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
                return unpack_error(u, -errno, "cannot set times: %m");
        return 0;
}

static int write_data(Unpack *u, int fd, int64_t size) {
        for (;;) {
                const void *buf;
                size_t n;
                la_int64_t offset;
                int r = archive_read_data_block(u->tar, &buf, &n, &offset);

                if (r == ARCHIVE_EOF)
                        break;
                if (r < ARCHIVE_WARN)
                        return unpack_error(u, -EBADMSG, "%s",
                                            archive_error_string(u->tar) ?: "truncated data");
                for (size_t done = 0; done < n;) {
                        ssize_t k = pwrite(fd, (const char *) buf + done, n - done,
                                           (off_t) (offset + (la_int64_t) done));
                        if (k < 0) {
                                if (errno == EINTR)
                                        continue;
                                return unpack_error(u, -errno, "cannot write: %m");
                        }
                        done += (size_t) k;
                }
        }
        /* Sparse files end in a hole that no data block covers. */
        if (ftruncate(fd, (off_t) size) < 0)
                return unpack_error(u, -errno, "cannot write: %m");
        return 0;
}

static int unpack_whiteout(Unpack *u, struct archive_entry *e, int dir_fd, const char *name) {
        const char *target = name + strlen(WHITEOUT_PREFIX);
        int r;

        if (streq(name, WHITEOUT_OPAQUE)) {
                if (fsetxattr(dir_fd, "trusted.overlay.opaque", "y", 1, 0) < 0)
                        return unpack_error(u, -errno, "cannot mark directory opaque: %m");
                return 0;
        }
        /* Other ".wh..wh." names are aufs bookkeeping (hard link directories): not content. */
        if (startswith(name, WHITEOUT_META_PREFIX))
                return 0;
        if (isempty(target) || streq(target, ".") || streq(target, ".."))
                return unpack_error(u, -EINVAL, "invalid whiteout");
        r = clear_slot(dir_fd, target, false);
        if (r < 0)
                return unpack_error(u, r, "cannot replace '%s': %s", target, strerror(-r));
        if (mknodat(dir_fd, target, S_IFCHR | 0000, makedev(0, 0)) < 0)
                return unpack_error(u, -errno, "cannot create whiteout: %m");
        return apply_metadata(u, e, dir_fd, target, false, false);
}

static int unpack_entry(Unpack *u, struct archive_entry *e) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int dir_fd = -EBADF, fd = -EBADF;
        const char *name, *hardlink = archive_entry_hardlink(e);
        mode_t type = archive_entry_filetype(e);
        int r;

        u->entry = archive_entry_pathname(e);
        if (!u->entry)
                return unpack_error(u, -EBADMSG, "entry without a name");
        r = normalize_entry_path(u->entry, &path);
        if (r == -EINVAL)
                return unpack_error(u, r, "path is absolute or leaves the layer");
        if (r < 0)
                return r;
        if (isempty(path))
                return 0; /* the layer root: its metadata is the store's */

        r = open_parent(u, path, true, &name);
        if (r == -ELOOP || r == -ENOTDIR)
                return unpack_error(u, -ELOOP, "parent path goes through a symlink or file");
        if (r < 0)
                return unpack_error(u, r, "cannot open parent directory: %s", strerror(-r));
        dir_fd = r;

        if (startswith(name, WHITEOUT_PREFIX))
                return unpack_whiteout(u, e, dir_fd, name);

        if (hardlink) {
                _cleanup_free_ char *target = NULL;
                _cleanup_close_ int target_dir = -EBADF;
                const char *target_name;

                r = normalize_entry_path(hardlink, &target);
                if (r == -EINVAL || (r >= 0 && isempty(target)))
                        return unpack_error(u, -EINVAL, "hard link target '%s' leaves the layer",
                                            hardlink);
                if (r < 0)
                        return r;
                r = open_parent(u, target, false, &target_name);
                if (r == -ELOOP || r == -ENOTDIR)
                        return unpack_error(u, -ELOOP,
                                            "hard link target '%s' goes through a symlink",
                                            hardlink);
                if (r < 0)
                        return unpack_error(u, r, "hard link target '%s' not found: %s", hardlink,
                                            strerror(-r));
                target_dir = r;
                r = clear_slot(dir_fd, name, false);
                if (r < 0)
                        return unpack_error(u, r, "cannot replace existing entry: %s",
                                            strerror(-r));
                /* Flags 0: a link to a symlink links the symlink, never what it points to. */
                if (linkat(target_dir, target_name, dir_fd, name, 0) < 0)
                        return unpack_error(u, -errno, "cannot link to '%s': %m", hardlink);
                return 0;
        }

        r = clear_slot(dir_fd, name, type == AE_IFDIR);
        if (r < 0)
                return unpack_error(u, r, "cannot replace existing entry: %s", strerror(-r));

        switch (type) {
        case AE_IFDIR:
                if (r == 0 && mkdirat(dir_fd, name, 0700) < 0)
                        return unpack_error(u, -errno, "cannot create directory: %m");
                return apply_metadata(u, e, dir_fd, name, false, true);
        case AE_IFREG:
                fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                            0600);
                if (fd < 0)
                        return unpack_error(u, -errno, "cannot create file: %m");
                r = write_data(u, fd, archive_entry_size(e));
                if (r < 0)
                        return r;
                break;
        case AE_IFLNK: {
                const char *target = archive_entry_symlink(e);
                if (!target)
                        return unpack_error(u, -EBADMSG, "symlink without a target");
                if (symlinkat(target, dir_fd, name) < 0)
                        return unpack_error(u, -errno, "cannot create symlink: %m");
                return apply_metadata(u, e, dir_fd, name, true, false);
        }
        case AE_IFCHR:
        case AE_IFBLK:
        case AE_IFIFO:
        case AE_IFSOCK:
                if (mknodat(dir_fd, name, type | 0600, archive_entry_rdev(e)) < 0)
                        return unpack_error(u, -errno, "cannot create node: %m");
                break;
        default:
                return unpack_error(u, -EBADMSG, "unknown entry type 0%o", (unsigned) type);
        }
        return apply_metadata(u, e, dir_fd, name, false, false);
}

static int fix_dir_times(Unpack *u) {
        /* Deepest last in archive order is not guaranteed: walk backwards so a parent set
         * before its child is set again after. Setting times never changes a parent's mtime. */
        for (size_t i = u->n_dirs; i > 0; i--) {
                DirTimes *d = &u->dirs[i - 1];
                _cleanup_close_ int parent = -EBADF, fd = -EBADF;
                _cleanup_free_ char *path = NULL;
                const char *name;

                if (normalize_entry_path(d->path, &path) < 0 || isempty(path))
                        continue;
                parent = open_parent(u, path, false, &name);
                if (parent < 0)
                        continue;
                fd = openat2_beneath(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
                if (fd < 0)
                        continue; /* replaced by a later entry */
                if (futimens(fd, d->times) < 0) {
                        u->entry = d->path;
                        return unpack_error(u, -errno, "cannot set times: %m");
                }
        }
        return 0;
}

static int digest_hex(EVP_MD_CTX *md, char **ret) {
        unsigned char bin[EVP_MAX_MD_SIZE];
        unsigned len = 0;
        char *s;

        if (EVP_DigestFinal_ex(md, bin, &len) != 1 || len != 32)
                return -EIO;
        s = malloc(strlen("sha256:") + 2 * len + 1);
        if (!s)
                return -ENOMEM;
        strcpy(s, "sha256:");
        for (unsigned i = 0; i < len; i++)
                sprintf(s + 7 + 2 * i, "%02x", bin[i]);
        *ret = s;
        return 0;
}

int layer_unpack(int fd, int dir_fd, const char *name, const char *expected_diff_id,
                 char **ret_diff_id, char **ret_error) {
        _cleanup_free_ char *diff_id = NULL;
        struct archive_entry *e;
        Unpack u = {
                .root_fd = dir_fd,
                .name = name ?: "(unnamed)",
        };
        int r;

        assert(fd >= 0);
        assert(dir_fd >= 0);

        if (expected_diff_id && !layer_digest_is_valid(expected_diff_id))
                return -EINVAL;

        u.buffer = malloc(READ_BUFFER_SIZE);
        u.md = EVP_MD_CTX_new();
        u.raw = archive_read_new();
        u.tar = archive_read_new();
        if (!u.buffer || !u.md || !u.raw || !u.tar) {
                r = -ENOMEM;
                goto finish;
        }
        if (EVP_DigestInit_ex(u.md, EVP_sha256(), NULL) != 1) {
                r = -EIO;
                goto finish;
        }

        /* Two readers stacked: "raw" only decompresses, so the tar stream can be hashed for
         * the diff-id on its way into the tar reader. */
        if (archive_read_support_filter_gzip(u.raw) < ARCHIVE_WARN ||
            archive_read_support_filter_zstd(u.raw) < ARCHIVE_WARN ||
            archive_read_support_format_raw(u.raw) != ARCHIVE_OK ||
            archive_read_support_format_tar(u.tar) != ARCHIVE_OK) {
                r = -EOPNOTSUPP;
                goto finish;
        }
        if (archive_read_open_fd(u.raw, fd, READ_BUFFER_SIZE) != ARCHIVE_OK ||
            archive_read_next_header(u.raw, &e) != ARCHIVE_OK) {
                r = unpack_error(&u, -EBADMSG, "cannot read: %s",
                                 archive_error_string(u.raw) ?: "empty");
                goto finish;
        }
        if (archive_read_open(u.tar, &u, NULL, tar_read_cb, NULL) != ARCHIVE_OK) {
                r = unpack_error(&u, -EBADMSG, "not a tar archive: %s",
                                 archive_error_string(u.tar) ?: "unknown");
                goto finish;
        }

        for (;;) {
                r = archive_read_next_header(u.tar, &e);
                if (r == ARCHIVE_EOF)
                        break;
                if (r < ARCHIVE_WARN) {
                        r = unpack_error(&u, -EBADMSG, "corrupt archive after '%s': %s",
                                         strna(u.entry), archive_error_string(u.tar));
                        goto finish;
                }
                r = unpack_entry(&u, e);
                if (r < 0) {
                        (void) unpack_error(&u, r, "%s", strerror(-r));
                        goto finish;
                }
        }
        u.entry = NULL;

        r = drain_raw(&u);
        if (r < 0)
                goto finish;
        r = fix_dir_times(&u);
        if (r < 0)
                goto finish;
        r = digest_hex(u.md, &diff_id);
        if (r < 0)
                goto finish;
        if (expected_diff_id && !streq(diff_id, expected_diff_id)) {
                r = unpack_error(&u, -EBADMSG, "diff-id mismatch: expected %s, got %s",
                                 expected_diff_id, diff_id);
                goto finish;
        }
        if (ret_diff_id)
                *ret_diff_id = TAKE_PTR(diff_id);
        r = 0;

finish:
        if (r < 0 && ret_error) {
                if (!u.error)
                        (void) unpack_error(&u, r, "%s", strerror(-r));
                *ret_error = TAKE_PTR(u.error);
        }
        unpack_done(&u);
        return r;
}
