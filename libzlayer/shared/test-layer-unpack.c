/* SPDX-License-Identifier: Apache-2.0 */
/* test-layer-unpack.c: layers built with libarchive's writer, unpacked and seen through overlayfs.
 */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sched.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>

#include "fileio.h"
#include "layer-unpack.h"
#include "string-util.h"
#include "tests.h"

typedef enum Kind { DIR_, FILE_, LINK, HARD, CHR, BLK, FIFO } Kind;

typedef struct Entry {
        Kind kind;
        const char *path;
        const char *data; /* file contents, symlink or hard link target */
        mode_t mode;
        unsigned uid, gid;
        unsigned major, minor;
        const char *xattr_name, *xattr_value;
} Entry;

typedef enum Compression { NONE, GZIP, ZSTD } Compression;

static void write_tar(const char *path, const Entry *entries, size_t n, Compression c) {
        struct archive *a = archive_write_new();
        ASSERT_NOT_NULL(a);
        ASSERT_EQ(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
        if (c == GZIP)
                ASSERT_EQ(archive_write_add_filter_gzip(a), ARCHIVE_OK);
        else if (c == ZSTD)
                ASSERT_EQ(archive_write_add_filter_zstd(a), ARCHIVE_OK);
        ASSERT_EQ(archive_write_open_filename(a, path), ARCHIVE_OK);
        for (size_t i = 0; i < n; i++) {
                const Entry *x = &entries[i];
                struct archive_entry *e = archive_entry_new();
                static const mode_t types[] = {
                        [DIR_] = AE_IFDIR, [FILE_] = AE_IFREG, [LINK] = AE_IFLNK, [HARD] = AE_IFREG,
                        [CHR] = AE_IFCHR,  [BLK] = AE_IFBLK,   [FIFO] = AE_IFIFO
                };

                archive_entry_set_pathname(e, x->path);
                archive_entry_set_filetype(e, types[x->kind]);
                archive_entry_set_perm(e, x->mode ?: (x->kind == DIR_ ? 0755 : 0644));
                archive_entry_set_uid(e, x->uid);
                archive_entry_set_gid(e, x->gid);
                archive_entry_set_mtime(e, 1000000 + (time_t) i, 0);
                if (x->kind == FILE_)
                        archive_entry_set_size(e, (la_int64_t) strlen(strempty(x->data)));
                if (x->kind == LINK)
                        archive_entry_set_symlink(e, x->data);
                if (x->kind == HARD)
                        archive_entry_set_hardlink(e, x->data);
                if (x->kind == CHR || x->kind == BLK)
                        archive_entry_set_rdev(e, makedev(x->major, x->minor));
                if (x->xattr_name)
                        archive_entry_xattr_add_entry(e, x->xattr_name, x->xattr_value,
                                                      strlen(x->xattr_value));
                ASSERT_EQ(archive_write_header(a, e), ARCHIVE_OK);
                if (x->kind == FILE_ && !isempty(x->data))
                        ASSERT_EQ(archive_write_data(a, x->data, strlen(x->data)),
                                  (la_ssize_t) strlen(x->data));
                archive_entry_free(e);
        }
        ASSERT_EQ(archive_write_close(a), ARCHIVE_OK);
        archive_write_free(a);
}

static char *sha256_file(const char *path) {
        _cleanup_free_ char *data = NULL;
        unsigned char bin[32];
        unsigned len = 0;
        size_t size;
        char *s;

        ASSERT_OK(read_full_file(path, SIZE_MAX, &data, &size));
        ASSERT_EQ(EVP_Digest(data, size, bin, &len, EVP_sha256(), NULL), 1);
        s = malloc(7 + 64 + 1);
        ASSERT_NOT_NULL(s);
        strcpy(s, "sha256:");
        for (unsigned i = 0; i < len; i++)
                sprintf(s + 7 + 2 * i, "%02x", bin[i]);
        return s;
}

/* Builds the layer, unpacks it into a fresh directory <tmp>/<name>. */
static int unpack(const char *name, const Entry *entries, size_t n, Compression c,
                  const char *expected, char **ret_diff_id, char **ret_error) {
        char tar[PATH_MAX], dir[PATH_MAX];
        _cleanup_close_ int fd = -EBADF, dir_fd = -EBADF;

        snprintf(tar, sizeof tar, "%s/%s.tar", test_tmpdir(), name);
        snprintf(dir, sizeof dir, "%s/%s", test_tmpdir(), name);
        write_tar(tar, entries, n, c);
        ASSERT_OK(mkdir(dir, 0755));
        fd = open(tar, O_RDONLY | O_CLOEXEC);
        dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT_TRUE(fd >= 0 && dir_fd >= 0);
        return layer_unpack(fd, dir_fd, name, expected, ret_diff_id, ret_error);
}

static void need_root(void) {
        if (geteuid() != 0)
                test_skip("needs root (device nodes, trusted xattrs, ownership)");
}

static struct stat lstat_at(const char *dir, const char *path) {
        char p[PATH_MAX];
        struct stat st;

        snprintf(p, sizeof p, "%s/%s/%s", test_tmpdir(), dir, path);
        if (lstat(p, &st) < 0)
                test_fail(__FILE__, __LINE__, "lstat '%s': %s", p, strerror(errno));
        return st;
}

static bool exists_at(const char *dir, const char *path) {
        char p[PATH_MAX];
        struct stat st;

        snprintf(p, sizeof p, "%s/%s/%s", test_tmpdir(), dir, path);
        return lstat(p, &st) >= 0;
}

static ssize_t xattr_at(const char *dir, const char *path, const char *name, char *buf,
                        size_t size) {
        char p[PATH_MAX];

        snprintf(p, sizeof p, "%s/%s/%s", test_tmpdir(), dir, path);
        memset(buf, 0, size);
        return lgetxattr(p, name, buf, size - 1);
}

TEST(digest_is_valid) {
        ASSERT_TRUE(layer_digest_is_valid(
                "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
        ASSERT_FALSE(layer_digest_is_valid(
                "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"));
        ASSERT_FALSE(layer_digest_is_valid("sha256:e3b0"));
        ASSERT_FALSE(layer_digest_is_valid("sha512:e3b0"));
        ASSERT_FALSE(layer_digest_is_valid(NULL));
}

static const Entry every_kind[] = {
        { DIR_, "./a/", .mode = 0750, .uid = 1000, .gid = 1001 },
        { FILE_, "./a/f", "hello", .mode = 04755, .uid = 1000, .gid = 1001, .xattr_name = "user.zl",
          .xattr_value = "v" },
        { HARD, "a/h", "a/f" },
        { LINK, "abs", "/etc/passwd" },
        { LINK, "rel", "a/f" },
        { CHR, "dev/null", .mode = 0666, .major = 1, .minor = 3 },
        { BLK, "dev/loop9", .mode = 0660, .major = 7, .minor = 9 },
        { FIFO, "p", .mode = 0600 },
        { FILE_, "x", "", .xattr_name = "trusted.overlay.redirect", .xattr_value = "/etc" },
        { FILE_, "deep/implicit/file", "z" },
};

TEST(every_entry_kind) {
        _cleanup_free_ char *diff_id = NULL, *error = NULL;
        struct stat st, f;
        char buf[64];

        need_root();
        ASSERT_OK(
                unpack("kinds", every_kind, ELEMENTSOF(every_kind), GZIP, NULL, &diff_id, &error));
        ASSERT_TRUE(layer_digest_is_valid(diff_id));

        st = lstat_at("kinds", "a");
        ASSERT_TRUE(S_ISDIR(st.st_mode));
        ASSERT_EQ(st.st_mode & 07777, 0750);
        ASSERT_EQ(st.st_uid, 1000);
        ASSERT_EQ(st.st_gid, 1001);
        ASSERT_EQ(st.st_mtime, 1000000); /* set after its children were added */

        f = lstat_at("kinds", "a/f");
        ASSERT_TRUE(S_ISREG(f.st_mode));
        ASSERT_EQ(f.st_mode & 07777, 04755); /* set-uid survives the chown */
        ASSERT_EQ(f.st_uid, 1000);
        ASSERT_EQ(f.st_size, 5);
        ASSERT_EQ(f.st_nlink, 2);
        ASSERT_EQ(f.st_mtime, 1000001);
        ASSERT_EQ(xattr_at("kinds", "a/f", "user.zl", buf, sizeof buf), 1);
        ASSERT_STREQ(buf, "v");
        st = lstat_at("kinds", "a/h");
        ASSERT_EQ(st.st_ino, f.st_ino);

        st = lstat_at("kinds", "abs");
        ASSERT_TRUE(S_ISLNK(st.st_mode));
        snprintf(buf, sizeof buf, "%s/kinds/abs", test_tmpdir());
        {
                char target[64] = {};
                ASSERT_EQ(readlink(buf, target, sizeof target - 1), 11);
                ASSERT_STREQ(target, "/etc/passwd");
        }
        ASSERT_TRUE(S_ISLNK(lstat_at("kinds", "rel").st_mode));

        st = lstat_at("kinds", "dev/null");
        ASSERT_TRUE(S_ISCHR(st.st_mode));
        ASSERT_EQ(major(st.st_rdev), 1);
        ASSERT_EQ(minor(st.st_rdev), 3);
        ASSERT_EQ(st.st_mode & 07777, 0666);
        st = lstat_at("kinds", "dev/loop9");
        ASSERT_TRUE(S_ISBLK(st.st_mode));
        ASSERT_EQ(minor(st.st_rdev), 9);
        ASSERT_TRUE(S_ISFIFO(lstat_at("kinds", "p").st_mode));

        /* overlay xattrs from the archive would steer overlayfs: dropped */
        ASSERT_TRUE(xattr_at("kinds", "x", "trusted.overlay.redirect", buf, sizeof buf) < 0);
        ASSERT_EQ(lstat_at("kinds", "deep/implicit/file").st_size, 1);
        ASSERT_TRUE(S_ISDIR(lstat_at("kinds", "deep/implicit").st_mode));
}

static const Entry whiteouts[] = {
        { DIR_, "etc" },
        { FILE_, "etc/.wh.gone", "" },
        { DIR_, "opq" },
        { FILE_, "opq/.wh..wh..opq", "" },
        { FILE_, "opq/new", "new" },
        { FILE_, ".wh..wh.plnk", "" }, /* aufs bookkeeping: ignored */
};

TEST(whiteouts_become_overlay_whiteouts) {
        _cleanup_free_ char *error = NULL;
        struct stat st;
        char buf[8];

        need_root();
        ASSERT_OK(unpack("wh", whiteouts, ELEMENTSOF(whiteouts), NONE, NULL, NULL, &error));
        st = lstat_at("wh", "etc/gone");
        ASSERT_TRUE(S_ISCHR(st.st_mode));
        ASSERT_EQ(st.st_rdev, makedev(0, 0));
        ASSERT_FALSE(exists_at("wh", "etc/.wh.gone"));
        ASSERT_EQ(xattr_at("wh", "opq", "trusted.overlay.opaque", buf, sizeof buf), 1);
        ASSERT_STREQ(buf, "y");
        ASSERT_FALSE(exists_at("wh", "opq/.wh..wh..opq"));
        ASSERT_FALSE(exists_at("wh", ".wh..wh.plnk"));
        ASSERT_TRUE(exists_at("wh", "opq/new"));
}

static const Entry simple[] = {
        { DIR_, "d" },
        { FILE_, "d/a", "aaaa" },
        { LINK, "l", "d/a" },
};

TEST(diff_id_is_the_uncompressed_tar_digest) {
        _cleanup_free_ char *none = NULL, *gz = NULL, *zst = NULL, *expected = NULL, *e = NULL;
        char path[PATH_MAX];

        need_root();
        ASSERT_OK(unpack("c-none", simple, ELEMENTSOF(simple), NONE, NULL, &none, &e));
        snprintf(path, sizeof path, "%s/c-none.tar", test_tmpdir());
        expected = sha256_file(path);
        ASSERT_STREQ(none, expected);
        /* the entries carry the same mtimes, so the tar streams inside are the same */
        ASSERT_OK(unpack("c-gz", simple, ELEMENTSOF(simple), GZIP, expected, &gz, &e));
        ASSERT_OK(unpack("c-zst", simple, ELEMENTSOF(simple), ZSTD, expected, &zst, &e));
        ASSERT_STREQ(gz, expected);
        ASSERT_STREQ(zst, expected);
        ASSERT_EQ(lstat_at("c-zst", "d/a").st_size, 4);
}

TEST(diff_id_mismatch) {
        _cleanup_free_ char *error = NULL;

        need_root();
        ASSERT_ERROR(
                unpack("mismatch", simple, ELEMENTSOF(simple), GZIP,
                       "sha256:0000000000000000000000000000000000000000000000000000000000000000",
                       NULL, &error),
                EBADMSG);
        ASSERT_NOT_NULL(strstr(error, "layer mismatch: diff-id mismatch"));
        ASSERT_ERROR(
                unpack("bad-expect", simple, ELEMENTSOF(simple), GZIP, "sha256:00", NULL, NULL),
                EINVAL);
}

static const Entry dotdot[] = { { FILE_, "ok", "1" }, { FILE_, "../x", "x" } };
static const Entry hidden_dotdot[] = { { FILE_, "./a/../../x", "x" } };
static const Entry absolute[] = { { FILE_, "/abs", "x" } };
static const Entry through_symlink[] = { { LINK, "a", "/etc" }, { FILE_, "a/passwd", "pwned" } };
static const Entry through_file[] = { { FILE_, "f", "1" }, { FILE_, "f/x", "2" } };
static const Entry hard_escape[] = { { HARD, "h", "../../etc/passwd" } };
static const Entry hard_through_symlink[] = { { LINK, "e", "/etc" }, { HARD, "h", "e/passwd" } };
static const Entry bad_whiteout[] = { { FILE_, ".wh..", "" } };
static const Entry replaced_symlinks[] = {
        { LINK, "f", "/etc/hostname" }, { FILE_, "f", "mine" },     { LINK, "d", "/etc" },
        { DIR_, "d", .mode = 0700 },    { FILE_, "d/x", "inside" },
};

TEST(later_entries_replace_symlinks_without_following_them) {
        _cleanup_free_ char *error = NULL;

        need_root();
        ASSERT_OK(unpack("repl", replaced_symlinks, ELEMENTSOF(replaced_symlinks), NONE, NULL, NULL,
                         &error));
        ASSERT_TRUE(S_ISREG(lstat_at("repl", "f").st_mode));
        ASSERT_EQ(lstat_at("repl", "f").st_size, 4);
        ASSERT_TRUE(S_ISDIR(lstat_at("repl", "d").st_mode));
        ASSERT_EQ(lstat_at("repl", "d").st_mode & 07777, 0700);
        ASSERT_EQ(lstat_at("repl", "d/x").st_size, 6);
        ASSERT_TRUE(access("/etc/x", F_OK) < 0);
}

TEST(traversal_is_rejected) {
        char *error = NULL;
        char p[PATH_MAX];

        need_root();
        ASSERT_ERROR(unpack("t1", dotdot, ELEMENTSOF(dotdot), NONE, NULL, NULL, &error), EINVAL);
        ASSERT_STREQ(error, "layer t1: entry '../x': path is absolute or leaves the layer");
        error = mfree(error);
        snprintf(p, sizeof p, "%s/x", test_tmpdir());
        ASSERT_TRUE(access(p, F_OK) < 0);

        ASSERT_ERROR(unpack("t2", hidden_dotdot, 1, NONE, NULL, NULL, &error), EINVAL);
        ASSERT_NOT_NULL(strstr(error, "'./a/../../x'"));
        error = mfree(error);

        ASSERT_ERROR(unpack("t3", absolute, 1, GZIP, NULL, NULL, &error), EINVAL);
        ASSERT_STREQ(error, "layer t3: entry '/abs': path is absolute or leaves the layer");
        error = mfree(error);

        ASSERT_ERROR(unpack("t4", through_symlink, 2, NONE, NULL, NULL, &error), ELOOP);
        ASSERT_STREQ(error,
                     "layer t4: entry 'a/passwd': parent path goes through a symlink or file");
        error = mfree(error);
        ASSERT_TRUE(S_ISLNK(lstat_at("t4", "a").st_mode));

        ASSERT_ERROR(unpack("t5", through_file, 2, NONE, NULL, NULL, &error), ELOOP);
        error = mfree(error);

        ASSERT_ERROR(unpack("t6", hard_escape, 1, NONE, NULL, NULL, &error), EINVAL);
        ASSERT_NOT_NULL(strstr(error, "hard link target '../../etc/passwd' leaves the layer"));
        error = mfree(error);

        ASSERT_ERROR(unpack("t7", hard_through_symlink, 2, NONE, NULL, NULL, &error), ELOOP);
        ASSERT_NOT_NULL(strstr(error, "layer t7: entry 'h'"));
        error = mfree(error);

        ASSERT_ERROR(unpack("t8", bad_whiteout, 1, NONE, NULL, NULL, &error), EINVAL);
        error = mfree(error);
}

TEST(corrupt_and_truncated) {
        _cleanup_free_ char *error = NULL, *data = NULL;
        _cleanup_close_ int fd = -EBADF, dir_fd = -EBADF;
        char tar[PATH_MAX], dir[PATH_MAX];
        size_t size;

        need_root();
        ASSERT_OK(unpack("full", every_kind, ELEMENTSOF(every_kind), GZIP, NULL, NULL, &error));
        snprintf(tar, sizeof tar, "%s/full.tar", test_tmpdir());
        ASSERT_OK(read_full_file(tar, SIZE_MAX, &data, &size));
        ASSERT_OK(write_file_atomic(tar, data, size / 2, 0644));
        snprintf(dir, sizeof dir, "%s/half", test_tmpdir());
        ASSERT_OK(mkdir(dir, 0755));
        fd = open(tar, O_RDONLY | O_CLOEXEC);
        dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT_ERROR(layer_unpack(fd, dir_fd, "half", NULL, NULL, &error), EBADMSG);
        ASSERT_NOT_NULL(strstr(error, "layer half"));
        error = mfree(error);

        /* garbage is not a layer */
        ASSERT_OK(write_string_file_atomic(tar, "this is not a tar archive, not even close....",
                                           0644));
        fd = safe_close(fd);
        fd = open(tar, O_RDONLY | O_CLOEXEC);
        ASSERT_ERROR(layer_unpack(fd, dir_fd, "junk", NULL, NULL, &error), EBADMSG);
        ASSERT_NOT_NULL(strstr(error, "layer junk"));
}

static const Entry lower[] = {
        { DIR_, "etc" },      { FILE_, "etc/keep", "keep" }, { FILE_, "etc/gone", "gone" },
        { DIR_, "opq" },      { FILE_, "opq/old", "old" },   { FILE_, "h1", "linked" },
        { HARD, "h2", "h1" },
};

static int merged_lstat(const char *mnt, const char *path, struct stat *st) {
        _cleanup_free_ char *p = strjoin(mnt, "/", path);

        if (!p)
                return -ENOMEM;
        return RET_NERRNO(lstat(p, st));
}

/* The merged view the container gets: mounted in a child's private mount namespace. */
static int check_merged(const char *upper, const char *lower_dir, const char *mnt) {
        _cleanup_free_ char *opts = NULL;
        struct stat st;

        if (unshare(CLONE_NEWNS) < 0 || mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0)
                return 10;
        if (asprintf(&opts, "lowerdir=%s:%s", upper, lower_dir) < 0)
                return 11;
        if (mount("overlay", mnt, "overlay", MS_RDONLY, opts) < 0)
                return errno == ENODEV ? 77 : 12;
        if (merged_lstat(mnt, "etc/gone", &st) != -ENOENT)
                return 1; /* whited out */
        if (merged_lstat(mnt, "etc/keep", &st) < 0 || st.st_size != 4)
                return 2;
        if (merged_lstat(mnt, "opq/old", &st) != -ENOENT)
                return 3; /* hidden by the opaque directory */
        if (merged_lstat(mnt, "opq/new", &st) < 0)
                return 4;
        if (merged_lstat(mnt, "h1", &st) < 0 || st.st_nlink != 2)
                return 5;
        if (merged_lstat(mnt, "etc/.wh.gone", &st) != -ENOENT)
                return 6;
        return 0;
}

TEST(overlay_merged_view) {
        _cleanup_free_ char *error = NULL;
        char up[PATH_MAX], low[PATH_MAX], mnt[PATH_MAX];
        int status;
        pid_t pid;

        need_root();
        ASSERT_OK(unpack("lower", lower, ELEMENTSOF(lower), GZIP, NULL, NULL, &error));
        ASSERT_OK(unpack("upper", whiteouts, ELEMENTSOF(whiteouts), ZSTD, NULL, NULL, &error));
        snprintf(up, sizeof up, "%s/upper", test_tmpdir());
        snprintf(low, sizeof low, "%s/lower", test_tmpdir());
        snprintf(mnt, sizeof mnt, "%s/mnt", test_tmpdir());
        ASSERT_OK(mkdir(mnt, 0755));

        pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0)
                _exit(check_merged(up, low, mnt));
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        ASSERT_TRUE(WIFEXITED(status));
        if (WEXITSTATUS(status) == 77)
                test_skip("overlayfs not available");
        ASSERT_EQ(WEXITSTATUS(status), 0);
}
