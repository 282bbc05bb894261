/* SPDX-License-Identifier: Apache-2.0 */
/* image-store.c: blobs on disk, layers unpacked once, image metadata in sqlite. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd-util.h"
#include "fileio.h"
#include "image-ref.h"
#include "image-store.h"
#include "sqlite-util.h"
#include "layer-unpack.h"
#include "path-util.h"
#include "string-util.h"
#include "time-util.h"

#define MANIFEST_SIZE_MAX (4U * 1024U * 1024U)
#define CONFIG_SIZE_MAX (16U * 1024U * 1024U)
#define COPY_BUFFER_SIZE (128U * 1024U)
#define TMP_PREFIX ".tmp-"

#define MEDIA_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MEDIA_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MEDIA_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MEDIA_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"

struct ImageStore {
        char *root;
        int root_fd, blobs_fd, layers_fd, locks_fd;
        int lock_fd; /* flock: shared for normal work, exclusive for prune */
        sqlite3 *db;
};

struct ImageBlobWriter {
        int fd;
        char *digest;
};

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_MD_CTX *, EVP_MD_CTX_free);

static const char *const layer_media_types[] = {
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.oci.image.layer.v1.tar+zstd",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        NULL,
};

static const char *digest_hex_part(const char *digest) {
        return digest + strlen("sha256:");
}

_printf_(3, 4) static int set_error(char **ret_error, int r, const char *fmt, ...) {
        va_list ap;
        char *msg;

        if (!ret_error || *ret_error)
                return r;
        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) >= 0)
                *ret_error = msg;
        va_end(ap);
        return r;
}

static int db_exec(ImageStore *s, const char *sql) {
        return sqlite_errno(sqlite3_exec(s->db, sql, NULL, NULL, NULL));
}

/* Prepares sql and binds the text arguments up to the NULL sentinel to ?1, ?2, ... */
_sentinel_ static int db_prepare(ImageStore *s, sqlite3_stmt **ret, const char *sql, ...) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        const char *arg;
        va_list ap;
        int i = 1, rc;

        rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
        if (rc != SQLITE_OK)
                return sqlite_errno(rc);
        va_start(ap, sql);
        while ((arg = va_arg(ap, const char *))) {
                rc = sqlite3_bind_text(st, i++, arg, -1, SQLITE_TRANSIENT);
                if (rc != SQLITE_OK)
                        break;
        }
        va_end(ap);
        if (rc != SQLITE_OK)
                return sqlite_errno(rc);
        *ret = TAKE_PTR(st);
        return 0;
}

/* Runs a statement that returns no rows. */
#define db_run(s, sql, ...)                                                                        \
        ({                                                                                         \
                _cleanup_(sqlite3_finalizep) sqlite3_stmt *_st_ = NULL;                            \
                int _r_ = db_prepare((s), &_st_, (sql), __VA_ARGS__, NULL);                        \
                _r_ < 0 ? _r_ : sqlite_errno(sqlite3_step(_st_));                                  \
        })

static char *column_strdup(sqlite3_stmt *st, int i) {
        const unsigned char *t = sqlite3_column_text(st, i);
        return strdup(t ? (const char *) t : "");
}

static int store_lock(ImageStore *s, int how) {
        while (flock(s->lock_fd, how) < 0)
                if (errno != EINTR)
                        return -errno;
        return 0;
}

static void store_unlockp(ImageStore **s) {
        if (*s)
                (void) flock((*s)->lock_fd, LOCK_UN);
}
#define _cleanup_store_unlock_ _cleanup_(store_unlockp)

/* ---- file system helpers ------------------------------------------------------------------ */

static int rm_rf_children(int fd, uint64_t *bytes) {
        DIR *d;
        struct dirent *de;
        int r = 0;

        d = fdopendir(fd);
        if (!d) {
                safe_close(fd);
                return -errno;
        }
        while ((errno = 0, de = readdir(d))) {
                struct stat st;

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        r = -errno;
                        continue;
                }
                if (S_ISDIR(st.st_mode)) {
                        int child = openat(dirfd(d), de->d_name,
                                           O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (child < 0) {
                                r = -errno;
                                continue;
                        }
                        (void) rm_rf_children(child, bytes);
                        if (unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) < 0)
                                r = -errno;
                } else {
                        if (unlinkat(dirfd(d), de->d_name, 0) < 0) {
                                r = -errno;
                                continue;
                        }
                        if (bytes && S_ISREG(st.st_mode) && st.st_nlink == 1)
                                *bytes += (uint64_t) st.st_size;
                }
        }
        closedir(d);
        return r;
}

/* Removes dir_fd/name and everything below it, never following symlinks. */
static int rm_rf_at(int dir_fd, const char *name, uint64_t *bytes) {
        int fd, r;

        fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
                if (errno == ENOTDIR || errno == ELOOP)
                        return RET_NERRNO(unlinkat(dir_fd, name, 0));
                return -errno;
        }
        r = rm_rf_children(fd, bytes);
        if (unlinkat(dir_fd, name, AT_REMOVEDIR) < 0 && r >= 0)
                r = -errno;
        return r;
}

/* Makes a freshly unpacked tree durable: the data of its regular files, then each directory
 * (which carries its entries: symlinks, whiteouts, links). Cheaper than syncfs(), which would
 * also wait for everything else written to the file system (other pulls, builds, logs). The
 * files' writeback is started first so the disk sees them all at once. */
static int fsync_tree(int fd, bool start_only) {
        _cleanup_close_ int own = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        DIR *d;
        struct dirent *de;
        int r = 0;

        if (own < 0)
                return -errno;
        d = fdopendir(own);
        if (!d)
                return -errno;
        own = -EBADF;
        while ((errno = 0, de = readdir(d))) {
                unsigned char type = de->d_type;
                struct stat st;
                int child;

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (type == DT_UNKNOWN &&
                    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) >= 0)
                        type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : 0;
                if (type != DT_DIR && type != DT_REG)
                        continue;
                child = openat(dirfd(d), de->d_name,
                               O_RDONLY | O_NOFOLLOW | O_NOATIME | O_CLOEXEC |
                                       (type == DT_DIR ? O_DIRECTORY : 0));
                if (child < 0) {
                        r = -errno;
                        continue;
                }
                if (type == DT_DIR)
                        r = fsync_tree(child, start_only) ?: r;
                else if (start_only)
                        (void) sync_file_range(child, 0, 0, SYNC_FILE_RANGE_WRITE);
                else if (fdatasync(child) < 0)
                        r = -errno;
                safe_close(child);
        }
        closedir(d);
        if (!start_only && fsync(fd) < 0)
                r = -errno;
        return r;
}

static int open_subdir(int dir_fd, const char *name) {
        if (mkdirat(dir_fd, name, 0700) < 0 && errno != EEXIST)
                return -errno;
        return RET_NERRNO(openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
}

static int sha256_fd(int fd, char **ret, uint64_t *ret_size) {
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *md = EVP_MD_CTX_new();
        _cleanup_free_ void *buf = malloc(COPY_BUFFER_SIZE);
        unsigned char bin[EVP_MAX_MD_SIZE];
        unsigned len = 0;
        uint64_t off = 0;
        char *s;

        if (!md || !buf)
                return -ENOMEM;
        if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
                return -EIO;
        for (;;) {
                ssize_t n = pread(fd, buf, COPY_BUFFER_SIZE, (off_t) off);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                if (EVP_DigestUpdate(md, buf, (size_t) n) != 1)
                        return -EIO;
                off += (uint64_t) n;
        }
        if (EVP_DigestFinal_ex(md, bin, &len) != 1 || len != 32)
                return -EIO;
        s = malloc(7 + 2 * len + 1);
        if (!s)
                return -ENOMEM;
        strcpy(s, "sha256:");
        for (unsigned i = 0; i < len; i++)
                sprintf(s + 7 + 2 * i, "%02x", bin[i]);
        *ret = s;
        if (ret_size)
                *ret_size = off;
        return 0;
}

/* ---- open / close ------------------------------------------------------------------------- */

static const char schema[] =
        "PRAGMA foreign_keys = ON;"
        "CREATE TABLE IF NOT EXISTS manifests ("
        "  digest TEXT PRIMARY KEY, config_digest TEXT NOT NULL,"
        "  created INTEGER NOT NULL, last_used INTEGER NOT NULL);"
        /* tag '' for references by digest only */
        "CREATE TABLE IF NOT EXISTS images ("
        "  repository TEXT NOT NULL, tag TEXT NOT NULL,"
        "  manifest_digest TEXT NOT NULL REFERENCES manifests(digest),"
        "  created INTEGER NOT NULL, PRIMARY KEY (repository, tag, manifest_digest));"
        "CREATE UNIQUE INDEX IF NOT EXISTS images_tag ON images (repository, tag) WHERE tag != '';"
        "CREATE TABLE IF NOT EXISTS manifest_layers ("
        "  manifest_digest TEXT NOT NULL REFERENCES manifests(digest), position INTEGER NOT NULL,"
        "  diff_id TEXT NOT NULL, blob_digest TEXT NOT NULL,"
        "  PRIMARY KEY (manifest_digest, position));"
        /* refcount: the number of manifests using the layer */
        "CREATE TABLE IF NOT EXISTS layers ("
        "  diff_id TEXT PRIMARY KEY, blob_digest TEXT NOT NULL, refcount INTEGER NOT NULL);"
        "CREATE TABLE IF NOT EXISTS blobs (digest TEXT PRIMARY KEY, size INTEGER NOT NULL);";

/* An unpack killed midway leaves layers/.tmp-<hex>; its lock tells whether the unpacker is
 * still alive (it may be another process working right now). */
static void remove_leftovers(ImageStore *s) {
        _cleanup_close_ int fd = -EBADF;
        DIR *d;
        struct dirent *de;

        fd = openat(s->layers_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return;
        d = fdopendir(TAKE_FD(fd));
        if (!d)
                return;
        while ((de = readdir(d))) {
                _cleanup_free_ char *lock = NULL;
                _cleanup_close_ int lock_fd = -EBADF;
                const char *hex = startswith(de->d_name, TMP_PREFIX);

                if (!hex)
                        continue;
                lock = strjoin(hex, ".lock");
                if (!lock)
                        break;
                lock_fd = openat(s->locks_fd, lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
                if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) < 0)
                        continue;
                (void) rm_rf_at(s->layers_fd, de->d_name, NULL);
        }
        closedir(d);
}

int image_store_open(const char *root, ImageStore **ret) {
        _cleanup_(image_store_closep) ImageStore *s = NULL;
        _cleanup_close_ int blobs_top = -EBADF;
        _cleanup_free_ char *db_path = NULL;
        int r;

        assert(root);
        assert(ret);

        s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        s->root_fd = s->blobs_fd = s->layers_fd = s->locks_fd = s->lock_fd = -EBADF;
        s->root = strdup(root);
        if (!s->root)
                return -ENOMEM;
        r = mkdir_p(root, 0700);
        if (r < 0)
                return r;
        s->root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (s->root_fd < 0)
                return -errno;
        blobs_top = open_subdir(s->root_fd, "blobs");
        if (blobs_top < 0)
                return blobs_top;
        s->blobs_fd = open_subdir(blobs_top, "sha256");
        if (s->blobs_fd < 0)
                return s->blobs_fd;
        s->layers_fd = open_subdir(s->root_fd, "layers");
        if (s->layers_fd < 0)
                return s->layers_fd;
        s->locks_fd = open_subdir(s->root_fd, "locks");
        if (s->locks_fd < 0)
                return s->locks_fd;
        s->lock_fd = openat(s->root_fd, "store.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (s->lock_fd < 0)
                return -errno;

        db_path = strjoin(root, "/images.db");
        if (!db_path)
                return -ENOMEM;
        r = sqlite3_open_v2(db_path, &s->db,
                            SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                            NULL);
        if (r != SQLITE_OK)
                return sqlite_errno(r);
        (void) sqlite3_busy_timeout(s->db, 30000);
        r = db_exec(s, "PRAGMA journal_mode = WAL;");
        if (r < 0)
                return r;
        r = db_exec(s, schema);
        if (r < 0)
                return r;

        r = store_lock(s, LOCK_SH);
        if (r < 0)
                return r;
        remove_leftovers(s);
        (void) flock(s->lock_fd, LOCK_UN);

        *ret = TAKE_PTR(s);
        return 0;
}

ImageStore *image_store_close(ImageStore *s) {
        if (!s)
                return NULL;
        if (s->db)
                (void) sqlite3_close(s->db);
        safe_close(s->root_fd);
        safe_close(s->blobs_fd);
        safe_close(s->layers_fd);
        safe_close(s->locks_fd);
        safe_close(s->lock_fd);
        free(s->root);
        return mfree(s);
}

/* ---- blobs -------------------------------------------------------------------------------- */

int image_store_blob_begin(ImageStore *s, const char *digest, ImageBlobWriter **ret) {
        _cleanup_(image_blob_writer_freep) ImageBlobWriter *w = NULL;

        assert(s);
        assert(ret);
        if (!layer_digest_is_valid(digest))
                return -EINVAL;
        w = calloc(1, sizeof *w);
        if (!w)
                return -ENOMEM;
        w->fd = -EBADF;
        w->digest = strdup(digest);
        if (!w->digest)
                return -ENOMEM;
        w->fd = openat(s->blobs_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);
        if (w->fd < 0)
                return -errno;
        *ret = TAKE_PTR(w);
        return 0;
}

int image_blob_writer_fd(ImageBlobWriter *w) {
        assert(w);
        return w->fd;
}

ImageBlobWriter *image_blob_writer_free(ImageBlobWriter *w) {
        if (!w)
                return NULL;
        safe_close(w->fd);
        free(w->digest);
        return mfree(w);
}

int image_store_blob_commit(ImageStore *s, ImageBlobWriter *w) {
        _cleanup_free_ char *actual = NULL;
        char proc[64];
        int r;

        assert(s);
        assert(w);
        if (w->fd < 0)
                return -EBADF;
        r = sha256_fd(w->fd, &actual, NULL);
        if (r < 0)
                return r;
        if (!streq(actual, w->digest))
                return -EBADMSG;
        if (fsync(w->fd) < 0)
                return -errno;
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", w->fd);
        if (linkat(AT_FDCWD, proc, s->blobs_fd, digest_hex_part(w->digest), AT_SYMLINK_FOLLOW) <
                    0 &&
            errno != EEXIST)
                return -errno;
        (void) fsync(s->blobs_fd);
        w->fd = safe_close(w->fd);
        return 0;
}

int image_store_has_blob(ImageStore *s, const char *digest) {
        assert(s);
        if (!layer_digest_is_valid(digest))
                return -EINVAL;
        if (faccessat(s->blobs_fd, digest_hex_part(digest), F_OK, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        return 1;
}

int image_store_blob_open(ImageStore *s, const char *digest) {
        assert(s);
        if (!layer_digest_is_valid(digest))
                return -EINVAL;
        return RET_NERRNO(
                openat(s->blobs_fd, digest_hex_part(digest), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
}

int image_store_blob_import_fd(ImageStore *s, const char *digest, int fd) {
        _cleanup_(image_blob_writer_freep) ImageBlobWriter *w = NULL;
        _cleanup_free_ char *buf = NULL;
        int r;

        r = image_store_has_blob(s, digest);
        if (r != 0)
                return r < 0 ? r : 0;
        r = image_store_blob_begin(s, digest, &w);
        if (r < 0)
                return r;
        buf = malloc(COPY_BUFFER_SIZE);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                ssize_t n = read(fd, buf, COPY_BUFFER_SIZE);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                r = loop_write(w->fd, buf, (size_t) n);
                if (r < 0)
                        return r;
        }
        r = image_store_blob_commit(s, w);
        return r < 0 ? r : 1;
}

static int read_blob_json(ImageStore *s, const char *digest, size_t max, json_t **ret) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *data = NULL;
        size_t size;
        json_t *j;
        int r;

        fd = image_store_blob_open(s, digest);
        if (fd < 0)
                return fd;
        r = read_full_fd(fd, max, &data, &size);
        if (r < 0)
                return r;
        j = json_loadb(data, size, JSON_REJECT_DUPLICATES, NULL);
        if (!j || !json_is_object(j)) {
                json_decref(j);
                return -EBADMSG;
        }
        *ret = j;
        return 0;
}

/* ---- layers ------------------------------------------------------------------------------- */

int image_store_layer_path(ImageStore *s, const char *diff_id, char **ret) {
        char *p;

        assert(s);
        assert(ret);
        if (!layer_digest_is_valid(diff_id))
                return -EINVAL;
        if (faccessat(s->layers_fd, digest_hex_part(diff_id), F_OK, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        p = strjoin(s->root, "/layers/", digest_hex_part(diff_id));
        if (!p)
                return -ENOMEM;
        *ret = p;
        return 0;
}

static int layer_unpack_locked(ImageStore *s, const char *blob_digest, const char *diff_id,
                               char **ret_error) {
        _cleanup_close_ int lock_fd = -EBADF, dir_fd = -EBADF, blob_fd = -EBADF;
        _cleanup_free_ char *lock = NULL, *tmp = NULL;
        const char *hex = digest_hex_part(diff_id);
        int r;

        if (faccessat(s->layers_fd, hex, F_OK, AT_SYMLINK_NOFOLLOW) >= 0)
                return 0;

        /* Whoever gets the lock first unpacks; the others wait and then find the layer. */
        lock = strjoin(hex, ".lock");
        tmp = strjoin(TMP_PREFIX, hex);
        if (!lock || !tmp)
                return -ENOMEM;
        lock_fd = openat(s->locks_fd, lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (lock_fd < 0)
                return -errno;
        while (flock(lock_fd, LOCK_EX) < 0)
                if (errno != EINTR)
                        return -errno;
        if (faccessat(s->layers_fd, hex, F_OK, AT_SYMLINK_NOFOLLOW) >= 0)
                return 0;

        blob_fd = image_store_blob_open(s, blob_digest);
        if (blob_fd < 0)
                return set_error(ret_error, blob_fd, "layer %s: blob not in the store: %s",
                                 blob_digest, strerror(-blob_fd));

        r = rm_rf_at(s->layers_fd, tmp, NULL);
        if (r < 0 && r != -ENOENT)
                return r;
        if (mkdirat(s->layers_fd, tmp, 0755) < 0)
                return -errno;
        dir_fd = openat(s->layers_fd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dir_fd < 0)
                r = -errno;
        else
                r = layer_unpack(blob_fd, dir_fd, blob_digest, diff_id, NULL, ret_error);
        /* Durable before it becomes visible: a renamed directory is trusted from then on. */
        if (r >= 0 && fchmod(dir_fd, 0755) < 0)
                r = -errno;
        if (r >= 0) {
                (void) fsync_tree(dir_fd, true);
                r = fsync_tree(dir_fd, false);
        }
        if (r >= 0 && renameat(s->layers_fd, tmp, s->layers_fd, hex) < 0)
                r = -errno;
        if (r < 0) {
                (void) rm_rf_at(s->layers_fd, tmp, NULL);
                return r;
        }
        (void) fsync(s->layers_fd);
        return 1;
}

int image_store_layer_unpack(ImageStore *s, const char *blob_digest, const char *diff_id,
                             char **ret_error) {
        _cleanup_store_unlock_ ImageStore *locked = NULL;
        int r;

        assert(s);
        if (!layer_digest_is_valid(blob_digest) || !layer_digest_is_valid(diff_id))
                return -EINVAL;
        r = store_lock(s, LOCK_SH);
        if (r < 0)
                return r;
        locked = s;
        return layer_unpack_locked(s, blob_digest, diff_id, ret_error);
}

/* ---- manifests ---------------------------------------------------------------------------- */

typedef struct Manifest {
        const char *config_digest;
        size_t n_layers;
        const char **layer_digests; /* point into the JSON */
} Manifest;

static void manifest_done(Manifest *m) {
        free(m->layer_digests);
}

/* Validates an image manifest. On error *ret_error names the cause (not the image). */
static int manifest_parse(json_t *j, Manifest *ret, char **ret_error) {
        const char *media = json_string_value(json_object_get(j, "mediaType"));
        json_t *config = json_object_get(j, "config"), *layers = json_object_get(j, "layers");
        Manifest m = {};
        json_t *l;
        size_t i;

        if (media && (streq(media, MEDIA_OCI_INDEX) || streq(media, MEDIA_DOCKER_LIST)))
                return set_error(ret_error, -EPROTONOSUPPORT,
                                 "manifest is an index, not an image manifest");
        if (media && !streq(media, MEDIA_OCI_MANIFEST) && !streq(media, MEDIA_DOCKER_MANIFEST))
                return set_error(ret_error, -EPROTONOSUPPORT, "unknown manifest media type '%s'",
                                 media);
        if (json_integer_value(json_object_get(j, "schemaVersion")) != 2)
                return set_error(ret_error, -EPROTONOSUPPORT, "manifest schemaVersion is not 2");
        m.config_digest = json_string_value(json_object_get(config, "digest"));
        if (!layer_digest_is_valid(m.config_digest))
                return set_error(ret_error, -EBADMSG, "manifest has no valid config digest");
        if (!json_is_array(layers))
                return set_error(ret_error, -EBADMSG, "manifest has no layers array");
        m.n_layers = json_array_size(layers);
        m.layer_digests = calloc(m.n_layers + 1, sizeof(char *));
        if (!m.layer_digests)
                return -ENOMEM;
        json_array_foreach (layers, i, l) {
                const char *lm = json_string_value(json_object_get(l, "mediaType"));
                const char *d = json_string_value(json_object_get(l, "digest"));
                bool known = false;

                for (size_t k = 0; lm && layer_media_types[k]; k++)
                        known = known || streq(lm, layer_media_types[k]);
                if (!known) {
                        manifest_done(&m);
                        return set_error(ret_error, -EPROTONOSUPPORT,
                                         "layer %zu has unknown media type '%s'", i, strna(lm));
                }
                if (!layer_digest_is_valid(d)) {
                        manifest_done(&m);
                        return set_error(ret_error, -EBADMSG, "layer %zu has no valid digest", i);
                }
                m.layer_digests[i] = d;
        }
        *ret = m;
        return 0;
}

static int db_begin(ImageStore *s) {
        return db_exec(s, "BEGIN IMMEDIATE;");
}

static void db_rollback(ImageStore *s) {
        (void) db_exec(s, "ROLLBACK;");
}

/* Drops the manifest and its layer references once no image row names it. */
static int manifest_release_if_unused(ImageStore *s, const char *digest) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int r;

        r = db_prepare(s, &st, "SELECT 1 FROM images WHERE manifest_digest = ?1", digest, NULL);
        if (r < 0)
                return r;
        r = sqlite3_step(st);
        if (r == SQLITE_ROW)
                return 0;
        if (r != SQLITE_DONE)
                return sqlite_errno(r);
        r = db_run(s,
                   "UPDATE layers SET refcount = refcount - 1 WHERE diff_id IN "
                   "(SELECT DISTINCT diff_id FROM manifest_layers WHERE manifest_digest = ?1)",
                   digest);
        if (r < 0)
                return r;
        r = db_run(s, "DELETE FROM manifest_layers WHERE manifest_digest = ?1", digest);
        if (r < 0)
                return r;
        r = db_run(s, "DELETE FROM manifests WHERE digest = ?1", digest);
        return r < 0 ? r : 1;
}

/* Points repository:tag (tag "" for a digest reference) at manifest, releasing whatever the
 * tag named before. Inside a transaction. */
static int image_row_set(ImageStore *s, const char *repository, const char *tag,
                         const char *manifest) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        _cleanup_free_ char *old = NULL;
        char now_str[32];
        int r;

        snprintf(now_str, sizeof now_str, "%" PRIu64, (uint64_t) now(CLOCK_REALTIME));
        if (!isempty(tag)) {
                r = db_prepare(s, &st,
                               "SELECT manifest_digest FROM images WHERE repository = ?1 AND "
                               "tag = ?2",
                               repository, tag, NULL);
                if (r < 0)
                        return r;
                r = sqlite3_step(st);
                if (r == SQLITE_ROW) {
                        old = column_strdup(st, 0);
                        if (!old)
                                return -ENOMEM;
                } else if (r != SQLITE_DONE)
                        return sqlite_errno(r);
                if (old && streq(old, manifest))
                        return 0;
                r = db_run(s, "DELETE FROM images WHERE repository = ?1 AND tag = ?2", repository,
                           tag);
                if (r < 0)
                        return r;
        }
        r = db_run(s,
                   "INSERT OR IGNORE INTO images (repository, tag, manifest_digest, created) "
                   "VALUES (?1, ?2, ?3, ?4)",
                   repository, strempty(tag), manifest, now_str);
        if (r < 0)
                return r;
        if (old) {
                r = manifest_release_if_unused(s, old);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int manifest_record(ImageStore *s, const char *digest, const Manifest *m, json_t *diff_ids) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        char now_str[32];
        int r;

        r = db_prepare(s, &st, "SELECT 1 FROM manifests WHERE digest = ?1", digest, NULL);
        if (r < 0)
                return r;
        r = sqlite3_step(st);
        if (r == SQLITE_ROW)
                return 0;
        if (r != SQLITE_DONE)
                return sqlite_errno(r);

        snprintf(now_str, sizeof now_str, "%" PRIu64, (uint64_t) now(CLOCK_REALTIME));
        r = db_run(s,
                   "INSERT INTO manifests (digest, config_digest, created, last_used) "
                   "VALUES (?1, ?2, ?3, ?3)",
                   digest, m->config_digest, now_str);
        if (r < 0)
                return r;
        for (size_t i = 0; i < m->n_layers; i++) {
                const char *diff_id = json_string_value(json_array_get(diff_ids, i));
                char pos[32];

                snprintf(pos, sizeof pos, "%zu", i);
                r = db_run(s,
                           "INSERT INTO manifest_layers (manifest_digest, position, diff_id, "
                           "blob_digest) VALUES (?1, ?2, ?3, ?4)",
                           digest, pos, diff_id, m->layer_digests[i]);
                if (r < 0)
                        return r;
                r = db_run(s,
                           "INSERT OR IGNORE INTO layers (diff_id, blob_digest, refcount) "
                           "VALUES (?1, ?2, 0)",
                           diff_id, m->layer_digests[i]);
                if (r < 0)
                        return r;
        }
        return db_run(s,
                      "UPDATE layers SET refcount = refcount + 1 WHERE diff_id IN "
                      "(SELECT DISTINCT diff_id FROM manifest_layers WHERE manifest_digest = ?1)",
                      digest);
}

static int blob_record(ImageStore *s, const char *digest) {
        char size[32];
        struct stat st;

        if (fstatat(s->blobs_fd, digest_hex_part(digest), &st, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        snprintf(size, sizeof size, "%" PRIu64, (uint64_t) st.st_size);
        return db_run(s, "INSERT OR IGNORE INTO blobs (digest, size) VALUES (?1, ?2)", digest,
                      size);
}

static int add_image_locked(ImageStore *s, const char *ref, const char *manifest_digest,
                            char **ret_error) {
        _cleanup_(image_ref_freep) ImageRef *parsed = NULL;
        _cleanup_(json_decrefp) json_t *manifest = NULL, *config = NULL;
        _cleanup_free_ char *repository = NULL, *cause = NULL;
        const char *why = NULL;
        Manifest m = {};
        json_t *diff_ids;
        int r;

        r = image_ref_parse(ref, &parsed, &why);
        if (r < 0)
                return set_error(ret_error, r, "invalid image reference '%s': %s", ref, strna(why));
        if (!layer_digest_is_valid(manifest_digest))
                return set_error(ret_error, -EINVAL, "image '%s': invalid manifest digest", ref);
        if (parsed->digest && !streq(parsed->digest, manifest_digest))
                return set_error(ret_error, -EINVAL,
                                 "image '%s': reference digest differs from manifest %s", ref,
                                 manifest_digest);
        repository = image_ref_repository(parsed);
        if (!repository)
                return -ENOMEM;

        r = read_blob_json(s, manifest_digest, MANIFEST_SIZE_MAX, &manifest);
        if (r < 0)
                return set_error(ret_error, r, "image '%s': manifest %s: %s", ref, manifest_digest,
                                 r == -EBADMSG ? "not a JSON object" : strerror(-r));
        r = manifest_parse(manifest, &m, &cause);
        if (r < 0)
                return set_error(ret_error, r, "image '%s': %s", ref, strna(cause));
        r = read_blob_json(s, m.config_digest, CONFIG_SIZE_MAX, &config);
        if (r < 0) {
                (void) set_error(ret_error, r, "image '%s': config %s: %s", ref, m.config_digest,
                                 r == -EBADMSG ? "not a JSON object" : strerror(-r));
                goto finish;
        }
        diff_ids = json_object_get(json_object_get(config, "rootfs"), "diff_ids");
        if (!json_is_array(diff_ids) || json_array_size(diff_ids) != m.n_layers) {
                r = set_error(ret_error, -EBADMSG,
                              "image '%s': config rootfs.diff_ids does not match the %zu layers",
                              ref, m.n_layers);
                goto finish;
        }
        for (size_t i = 0; i < m.n_layers; i++) {
                const char *diff_id = json_string_value(json_array_get(diff_ids, i));

                if (!layer_digest_is_valid(diff_id)) {
                        r = set_error(ret_error, -EBADMSG, "image '%s': invalid diff-id %zu", ref,
                                      i);
                        goto finish;
                }
                r = image_store_has_blob(s, m.layer_digests[i]);
                if (r == 0)
                        r = -ENOENT;
                if (r < 0) {
                        (void) set_error(ret_error, r, "image '%s': layer %s: %s", ref,
                                         m.layer_digests[i], strerror(-r));
                        goto finish;
                }
        }
        for (size_t i = 0; i < m.n_layers; i++) {
                const char *diff_id = json_string_value(json_array_get(diff_ids, i));

                cause = mfree(cause);
                r = layer_unpack_locked(s, m.layer_digests[i], diff_id, &cause);
                if (r < 0) {
                        (void) set_error(ret_error, r, "image '%s': %s", ref,
                                         cause ?: strerror(-r));
                        goto finish;
                }
        }

        r = db_begin(s);
        if (r < 0)
                goto finish;
        r = manifest_record(s, manifest_digest, &m, diff_ids);
        if (r >= 0)
                r = blob_record(s, manifest_digest);
        if (r >= 0)
                r = blob_record(s, m.config_digest);
        for (size_t i = 0; r >= 0 && i < m.n_layers; i++)
                r = blob_record(s, m.layer_digests[i]);
        if (r >= 0)
                r = image_row_set(s, repository, parsed->tag, manifest_digest);
        if (r >= 0)
                r = db_exec(s, "COMMIT;");
        if (r < 0) {
                db_rollback(s);
                (void) set_error(ret_error, r, "image '%s': cannot record: %s", ref, strerror(-r));
        }
finish:
        manifest_done(&m);
        return r < 0 ? r : 0;
}

int image_store_add_image(ImageStore *s, const char *ref, const char *manifest_digest,
                          char **ret_error) {
        _cleanup_store_unlock_ ImageStore *locked = NULL;
        int r;

        assert(s);
        assert(ref);
        r = store_lock(s, LOCK_SH);
        if (r < 0)
                return r;
        locked = s;
        return add_image_locked(s, ref, manifest_digest, ret_error);
}

/* ---- OCI layout import -------------------------------------------------------------------- */

static const char *host_architecture(void) {
#if defined(__x86_64__)
        return "amd64";
#elif defined(__aarch64__)
        return "arm64";
#elif defined(__i386__)
        return "386";
#elif defined(__arm__)
        return "arm";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        return "ppc64le";
#elif defined(__s390x__)
        return "s390x";
#elif defined(__riscv) && __riscv_xlen == 64
        return "riscv64";
#else
        return "unknown";
#endif
}

static json_t *index_choose(json_t *index, const char *tag) {
        json_t *manifests = json_object_get(index, "manifests"), *d;
        size_t i;

        if (!json_is_array(manifests) || json_array_size(manifests) == 0)
                return NULL;
        if (tag)
                json_array_foreach (manifests, i, d) {
                        const char *name = json_string_value(
                                json_object_get(json_object_get(d, "annotations"),
                                                "org.opencontainers.image.ref.name"));
                        if (name && streq(name, tag))
                                return d;
                }
        if (json_array_size(manifests) == 1)
                return json_array_get(manifests, 0);
        json_array_foreach (manifests, i, d) {
                json_t *p = json_object_get(d, "platform");
                const char *os = json_string_value(json_object_get(p, "os"));
                const char *arch = json_string_value(json_object_get(p, "architecture"));
                if (os && arch && streq(os, "linux") && streq(arch, host_architecture()))
                        return d;
        }
        return NULL;
}

/* A file of an image archive. The archive is never unpacked onto the file system: its entries
 * are only looked up by name, so names with ".." or "/" cannot reach anywhere. */
typedef struct ArchiveEntry {
        char *name; /* without a leading "./" */
        char *digest; /* of the content, computed while reading it */
        uint64_t size;
        char *data; /* small entries */
        int fd; /* larger ones: an anonymous file in blobs/sha256, linked in when used */
} ArchiveEntry;

typedef struct Import {
        ImageStore *store;
        int dir_fd; /* an OCI layout directory, or -EBADF for an archive */
        ArchiveEntry *entries;
        size_t n_entries;
        char **added; /* blobs this import put into the store */
        char **links; /* an archive's symlinks and hard links: name, target, name, target ... */
} Import;

static void import_done(Import *im) {
        for (size_t i = 0; i < im->n_entries; i++) {
                free(im->entries[i].name);
                free(im->entries[i].digest);
                free(im->entries[i].data);
                safe_close(im->entries[i].fd);
        }
        free(im->entries);
        strv_free(im->added);
        strv_free(im->links);
}

/* The file name is, following the archive's links (docker save links a layer it lists twice). */
static const ArchiveEntry *import_entry(Import *im, const char *name) {
        for (unsigned depth = 0; name && depth < 8; depth++) {
                const char *next = NULL;

                for (size_t i = 0; i < im->n_entries; i++)
                        if (streq(im->entries[i].name, name))
                                return im->entries + i;
                for (size_t i = 0; im->links && im->links[i] && im->links[i + 1]; i += 2)
                        if (streq(im->links[i], name)) {
                                next = im->links[i + 1];
                                break;
                        }
                name = next;
        }
        return NULL;
}

/* target as seen from the archive entry name ("a/b/layer.tar" + "../c/layer.tar" is
 * "a/c/layer.tar"); absolute targets count from the archive's top. NULL if it leaves the
 * archive. */
static char *archive_link_target(const char *name, const char *target) {
        _cleanup_free_ char *joined = NULL;
        const char *slash = strrchr(name, '/');
        char *out, *o;

        if (target[0] == '/')
                joined = strdup(target);
        else if (asprintf(&joined, "%.*s/%s", slash ? (int) (slash - name) : 0, name, target) < 0)
                joined = NULL;
        if (!joined)
                return NULL;
        out = o = calloc(1, strlen(joined) + 1);
        if (!out)
                return NULL;
        for (char *save = NULL, *c = strtok_r(joined, "/", &save); c;
             c = strtok_r(NULL, "/", &save)) {
                if (streq(c, "."))
                        continue;
                if (streq(c, "..")) {
                        if (o == out) {
                                free(out);
                                return NULL;
                        }
                        while (o > out && *--o != '/')
                                ;
                        *o = 0;
                        continue;
                }
                if (o > out)
                        *o++ = '/';
                o = stpcpy(o, c);
        }
        return out;
}

static int entry_read(const ArchiveEntry *e, size_t max, char **ret, size_t *ret_size) {
        char *buf;

        if (e->size > max)
                return -EFBIG;
        buf = malloc(e->size + 1);
        if (!buf)
                return -ENOMEM;
        if (e->data)
                memcpy(buf, e->data, e->size);
        else {
                for (uint64_t done = 0; done < e->size;) {
                        ssize_t n = pread(e->fd, buf + done, e->size - done, (off_t) done);
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n <= 0) {
                                free(buf);
                                return n < 0 ? -errno : -EIO;
                        }
                        done += (uint64_t) n;
                }
        }
        buf[e->size] = 0;
        *ret = buf;
        *ret_size = e->size;
        return 0;
}

/* A file of the layout or archive: -ENOENT if absent, -EFBIG if larger than max. */
static int import_read_file(Import *im, const char *name, size_t max, char **ret,
                            size_t *ret_size) {
        _cleanup_close_ int fd = -EBADF;
        const ArchiveEntry *e;

        if (im->dir_fd >= 0) {
                fd = openat(im->dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0)
                        return -errno;
                return read_full_fd(fd, max, ret, ret_size);
        }
        e = import_entry(im, name);
        if (!e)
                return -ENOENT;
        return entry_read(e, max, ret, ret_size);
}

/* Puts an archive entry into the store as the blob its content hashes to. */
static int entry_commit(ImageStore *s, const ArchiveEntry *e) {
        _cleanup_(image_blob_writer_freep) ImageBlobWriter *w = NULL;
        char proc[64];
        int r;

        if (e->fd < 0) {
                r = image_store_blob_begin(s, e->digest, &w);
                if (r >= 0)
                        r = loop_write(w->fd, e->data, e->size);
                return r < 0 ? r : image_store_blob_commit(s, w);
        }
        /* Hashed as it was read from the archive: durable, then visible. */
        if (fsync(e->fd) < 0)
                return -errno;
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", e->fd);
        if (linkat(AT_FDCWD, proc, s->blobs_fd, digest_hex_part(e->digest), AT_SYMLINK_FOLLOW) <
                    0 &&
            errno != EEXIST)
                return -errno;
        (void) fsync(s->blobs_fd);
        return 0;
}

/* Adds the archive entry as a blob (its digest was computed while reading it). */
static int import_entry_blob(Import *im, const ArchiveEntry *e) {
        int r = image_store_has_blob(im->store, e->digest);

        if (r != 0)
                return r < 0 ? r : 0;
        r = entry_commit(im->store, e);
        if (r < 0)
                return r;
        return strv_extend(&im->added, e->digest);
}

static int import_blob(Import *im, const char *digest) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -EBADF;
        const ArchiveEntry *e;
        int r;

        if (!layer_digest_is_valid(digest))
                return -EINVAL;
        path = strjoin("blobs/sha256/", digest_hex_part(digest));
        if (!path)
                return -ENOMEM;
        if (im->dir_fd < 0) {
                e = import_entry(im, path);
                if (!e)
                        return -ENOENT;
                if (!streq(e->digest, digest))
                        return -EBADMSG;
                return import_entry_blob(im, e);
        }
        fd = openat(im->dir_fd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = image_store_blob_import_fd(im->store, digest, fd);
        if (r > 0)
                return strv_extend(&im->added, digest);
        return r;
}

static int read_layout_json(Import *im, const char *digest, json_t **ret) {
        int r = import_blob(im, digest);
        if (r < 0)
                return r;
        return read_blob_json(im->store, digest, MANIFEST_SIZE_MAX, ret);
}

/* Returns true if a blob this import added is used by no recorded manifest. */
static bool blob_unused(ImageStore *s, const char *digest) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;

        if (db_prepare(s, &st,
                       "SELECT 1 FROM manifests WHERE digest = ?1 OR config_digest = ?1 UNION "
                       "SELECT 1 FROM manifest_layers WHERE blob_digest = ?1",
                       digest, NULL) < 0)
                return false;
        return sqlite3_step(st) == SQLITE_DONE;
}

/* The normalized form of a name an archive gives its image, or NULL if it gives none that is a
 * whole reference (a bare "latest" in org.opencontainers.image.ref.name names only a tag). */
static char *archive_name(const char *name) {
        char *s = NULL;

        if (isempty(name) || (!strchr(name, '/') && !strchr(name, ':')))
                return NULL;
        if (image_ref_normalize(name, &s, NULL) < 0)
                return NULL;
        return s;
}

static int import_layout_locked(Import *im, const char *ref, char **ret_ref, char **ret_manifest,
                                char **ret_error) {
        _cleanup_(image_ref_freep) ImageRef *parsed = NULL;
        _cleanup_(json_decrefp) json_t *index = NULL, *manifest = NULL;
        _cleanup_free_ char *data = NULL, *cause = NULL, *digest = NULL, *name = NULL;
        const char *why = NULL, *d;
        Manifest m = {};
        json_t *desc;
        size_t size;
        int r;

        if (ref) {
                r = image_ref_parse(ref, &parsed, &why);
                if (r < 0)
                        return set_error(ret_error, r, "invalid image reference '%s': %s", ref,
                                         strna(why));
        }
        r = import_read_file(im, "index.json", MANIFEST_SIZE_MAX, &data, &size);
        if (r < 0)
                return set_error(ret_error, r, "image '%s': cannot read index.json: %s", ref ?: "?",
                                 strerror(-r));
        index = json_loadb(data, size, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(index))
                return set_error(ret_error, -EBADMSG, "image '%s': index.json is not JSON",
                                 ref ?: "?");

        desc = index_choose(index, parsed ? parsed->tag : NULL);
        if (!ref) {
                json_t *a = json_object_get(desc, "annotations");

                name = archive_name(
                        json_string_value(json_object_get(a, "io.containerd.image.name")));
                if (!name)
                        name = archive_name(json_string_value(
                                json_object_get(a, "org.opencontainers.image.ref.name")));
                if (!name)
                        return set_error(ret_error, -EINVAL,
                                         "ref: the layout does not name its image: give a "
                                         "reference");
                ref = name;
        }
        /* Nested indexes: follow them to a manifest for this platform, not forever. */
        for (unsigned depth = 0;; depth++) {
                const char *media = json_string_value(json_object_get(desc, "mediaType"));
                json_t *nested = NULL;

                d = json_string_value(json_object_get(desc, "digest"));
                if (!desc || !layer_digest_is_valid(d))
                        return set_error(ret_error, -ENOENT,
                                         "image '%s': no manifest for linux/%s in the layout", ref,
                                         host_architecture());
                if (!media || (!streq(media, MEDIA_OCI_INDEX) && !streq(media, MEDIA_DOCKER_LIST)))
                        break;
                if (depth >= 4)
                        return set_error(ret_error, -ELOOP, "image '%s': indexes nested too deep",
                                         ref);
                r = read_layout_json(im, d, &nested);
                if (r < 0)
                        return set_error(ret_error, r, "image '%s': index %s: %s", ref, d,
                                         strerror(-r));
                json_decref(index);
                index = nested;
                desc = index_choose(index, NULL);
        }
        digest = strdup(d);
        if (!digest)
                return -ENOMEM;

        r = read_layout_json(im, digest, &manifest);
        if (r < 0)
                return set_error(ret_error, r, "image '%s': manifest %s: %s", ref, digest,
                                 r == -EBADMSG ? "digest mismatch or invalid JSON" : strerror(-r));
        r = manifest_parse(manifest, &m, &cause);
        if (r < 0)
                return set_error(ret_error, r, "image '%s': %s", ref, strna(cause));
        r = import_blob(im, m.config_digest);
        if (r < 0) {
                (void) set_error(ret_error, r, "image '%s': config %s: %s", ref, m.config_digest,
                                 r == -EBADMSG ? "digest mismatch" : strerror(-r));
                goto finish;
        }
        for (size_t i = 0; i < m.n_layers; i++) {
                r = import_blob(im, m.layer_digests[i]);
                if (r < 0) {
                        (void) set_error(ret_error, r, "image '%s': layer %s: %s", ref,
                                         m.layer_digests[i],
                                         r == -EBADMSG ? "digest mismatch" : strerror(-r));
                        goto finish;
                }
        }
        r = add_image_locked(im->store, ref, digest, ret_error);
        if (r >= 0 && ret_ref) {
                *ret_ref = strdup(ref);
                if (!*ret_ref)
                        r = -ENOMEM;
        }
        if (r >= 0 && ret_manifest)
                *ret_manifest = TAKE_PTR(digest);
finish:
        manifest_done(&m);
        return r;
}

/* Undoes what a failed import added; the store is as before. */
static void import_rollback(Import *im) {
        for (char **b = im->added; b && *b; b++)
                if (blob_unused(im->store, *b)) {
                        (void) unlinkat(im->store->blobs_fd, digest_hex_part(*b), 0);
                        (void) db_run(im->store, "DELETE FROM blobs WHERE digest = ?1", *b);
                }
}

int image_store_import_oci_layout(ImageStore *s, const char *dir, const char *ref,
                                  char **ret_manifest_digest, char **ret_error) {
        return image_store_import(s, dir, ref, NULL, ret_manifest_digest, ret_error);
}

/* ---- archives: oci-archive and docker-archive --------------------------------------------- */

/* Entries up to this size are kept in memory; larger ones (layers) go to anonymous files. */
#define ARCHIVE_INLINE_MAX (256U * 1024U)
#define ARCHIVE_ENTRIES_MAX 4096U
#define ARCHIVE_BLOCK_SIZE (1024U * 1024U)

static int digest_final(EVP_MD_CTX *md, char **ret) {
        unsigned char bin[EVP_MAX_MD_SIZE];
        unsigned len = 0;
        char *s;

        if (EVP_DigestFinal_ex(md, bin, &len) != 1 || len != 32)
                return -EIO;
        s = malloc(7 + 2 * len + 1);
        if (!s)
                return -ENOMEM;
        strcpy(s, "sha256:");
        for (unsigned i = 0; i < len; i++)
                sprintf(s + 7 + 2 * i, "%02x", bin[i]);
        *ret = s;
        return 0;
}

static void archive_freep(struct archive **a) {
        if (*a)
                archive_read_free(*a);
}

/* Reads one regular file of the archive into e (name already set). */
static int archive_entry_load(ImageStore *s, struct archive *a, ArchiveEntry *e,
                              uint64_t declared) {
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *md = EVP_MD_CTX_new();
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *data = NULL;
        uint64_t total = 0;
        int r;

        if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
                return -ENOMEM;
        if (declared <= ARCHIVE_INLINE_MAX) {
                data = malloc(declared + 1);
                if (!data)
                        return -ENOMEM;
        } else {
                fd = openat(s->blobs_fd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);
                if (fd < 0)
                        return -errno;
        }
        for (;;) {
                const void *buf;
                size_t n;
                la_int64_t off;

                r = archive_read_data_block(a, &buf, &n, &off);
                if (r == ARCHIVE_EOF)
                        break;
                if (r != ARCHIVE_OK)
                        return -EBADMSG;
                /* Sparse entries: no hole is expected in an image archive. */
                if ((uint64_t) off != total || total + n > declared)
                        return -EBADMSG;
                if (EVP_DigestUpdate(md, buf, n) != 1)
                        return -EIO;
                if (data)
                        memcpy(data + total, buf, n);
                else {
                        r = loop_write(fd, buf, n);
                        if (r < 0)
                                return r;
                }
                total += n;
        }
        if (total != declared)
                return -EBADMSG;
        r = digest_final(md, &e->digest);
        if (r < 0)
                return r;
        e->size = total;
        e->data = TAKE_PTR(data);
        e->fd = TAKE_FD(fd);
        return 0;
}

/* Reads every regular file of the tar (plain or compressed) at fd into im->entries. */
static int archive_load(Import *im, int fd, char **ret_error) {
        _cleanup_(archive_freep) struct archive *a = archive_read_new();
        struct archive_entry *ae;
        int r;

        if (!a)
                return -ENOMEM;
        if (archive_read_support_format_tar(a) != ARCHIVE_OK ||
            archive_read_support_format_gnutar(a) != ARCHIVE_OK ||
            archive_read_support_filter_all(a) != ARCHIVE_OK)
                return -ENOMEM;
        if (archive_read_open_fd(a, fd, ARCHIVE_BLOCK_SIZE) != ARCHIVE_OK)
                return set_error(ret_error, -EBADMSG, "not a tar archive: %s",
                                 strna(archive_error_string(a)));
        for (;;) {
                _cleanup_free_ char *name = NULL;
                const ArchiveEntry *dup;
                const char *path;
                ArchiveEntry *entries;

                r = archive_read_next_header(a, &ae);
                if (r == ARCHIVE_EOF)
                        break;
                if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
                        return set_error(ret_error, -EBADMSG,
                                         im->n_entries == 0 ? "not a tar archive: %s"
                                                            : "corrupt or truncated archive: %s",
                                         strna(archive_error_string(a)));
                path = archive_entry_pathname(ae);
                while (path && startswith(path, "./"))
                        path += 2;
                if (isempty(path))
                        continue;
                if (archive_entry_hardlink(ae) || archive_entry_filetype(ae) == AE_IFLNK) {
                        const char *hard = archive_entry_hardlink(ae);
                        _cleanup_free_ char *target = NULL;

                        while (hard && startswith(hard, "./"))
                                hard += 2;
                        target = hard ? strdup(hard)
                                      : archive_link_target(path,
                                                            strempty(archive_entry_symlink(ae)));
                        /* A link out of the archive is no file of it. */
                        if (!target || strv_length(im->links) / 2 >= ARCHIVE_ENTRIES_MAX)
                                continue;
                        if (strv_extend(&im->links, path) < 0 ||
                            strv_extend(&im->links, target) < 0)
                                return -ENOMEM;
                        continue;
                }
                if (archive_entry_filetype(ae) != AE_IFREG)
                        continue;
                if (im->n_entries >= ARCHIVE_ENTRIES_MAX)
                        return set_error(ret_error, -E2BIG, "more than %u files in the archive",
                                         ARCHIVE_ENTRIES_MAX);
                if (archive_entry_size(ae) < 0)
                        return set_error(ret_error, -EBADMSG, "'%s': no size in the archive", path);
                name = strdup(path);
                entries = reallocarray(im->entries, im->n_entries + 1, sizeof(ArchiveEntry));
                if (!name || !entries)
                        return -ENOMEM;
                im->entries = entries;
                entries[im->n_entries] = (ArchiveEntry){ .name = TAKE_PTR(name), .fd = -EBADF };
                im->n_entries++;
                r = archive_entry_load(im->store, a, entries + im->n_entries - 1,
                                       (uint64_t) archive_entry_size(ae));
                if (r == -EBADMSG)
                        return set_error(ret_error, r, "'%s': corrupt or truncated in the archive",
                                         path);
                if (r < 0)
                        return set_error(ret_error, r, "'%s': %s", path, strerror(-r));
                /* The same file twice (a layer an image lists twice) is harmless; two different
                 * contents under one name would make the archive mean two things. */
                dup = import_entry(im, path);
                if (dup != entries + im->n_entries - 1) {
                        ArchiveEntry *last = entries + im->n_entries - 1;
                        bool same = streq(dup->digest, last->digest);

                        free(last->name);
                        free(last->digest);
                        free(last->data);
                        safe_close(last->fd);
                        im->n_entries--;
                        if (!same)
                                return set_error(ret_error, -EBADMSG,
                                                 "'%s' appears twice in the archive, with "
                                                 "different contents",
                                                 path);
                }
        }
        if (im->n_entries == 0)
                return set_error(ret_error, -EBADMSG, "the archive holds no files");
        return 0;
}

/* The digest an archive's file name states: "blobs/sha256/<hex>", "<hex>.json", "<hex>.tar",
 * as docker and podman save name configs and layers. NULL if the name states none. */
static char *name_digest(const char *name) {
        const char *base = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
        char *d;

        if (startswith(name, "blobs/sha256/"))
                d = strjoin("sha256:", base);
        else if ((strlen(base) == 64 + 5 && endswith(base, ".json")) ||
                 (strlen(base) == 64 + 4 && endswith(base, ".tar"))) {
                if (asprintf(&d, "sha256:%.64s", base) < 0)
                        return NULL;
        } else
                return NULL;
        if (d && !layer_digest_is_valid(d))
                d = mfree(d);
        return d;
}

static const char *layer_media_type_of(const ArchiveEntry *e) {
        unsigned char magic[4] = {};

        if (e->data)
                memcpy(magic, e->data, MIN(e->size, sizeof magic));
        else if (pread(e->fd, magic, sizeof magic, 0) < 0)
                return NULL;
        if (magic[0] == 0x1f && magic[1] == 0x8b)
                return "application/vnd.oci.image.layer.v1.tar+gzip";
        if (magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd)
                return "application/vnd.oci.image.layer.v1.tar+zstd";
        return "application/vnd.oci.image.layer.v1.tar";
}

/* A docker-archive file named in manifest.json, with the digest its name states checked. */
static int docker_file(Import *im, const char *what, const char *name, const ArchiveEntry **ret,
                       char **ret_error) {
        _cleanup_free_ char *stated = NULL;
        const ArchiveEntry *e;

        if (isempty(name))
                return set_error(ret_error, -EBADMSG, "manifest.json: %s is missing", what);
        while (startswith(name, "./"))
                name += 2;
        e = import_entry(im, name);
        if (!e)
                return set_error(ret_error, -EBADMSG, "%s '%s' is not in the archive", what, name);
        stated = name_digest(name);
        if (stated && !streq(stated, e->digest))
                return set_error(ret_error, -EBADMSG, "%s '%s': digest mismatch (content is %s)",
                                 what, name, e->digest);
        *ret = e;
        return 0;
}

static bool repo_tags_contain(json_t *tags, const char *ref) {
        json_t *t;
        size_t i;

        json_array_foreach (tags, i, t) {
                _cleanup_free_ char *n = archive_name(json_string_value(t));
                if (n && streq(n, ref))
                        return true;
        }
        return false;
}

/* docker save / podman save: manifest.json lists each image's config and layer files; the
 * layers are (usually uncompressed) tars whose digests the config lists as diff_ids. The store
 * gets them as an OCI image manifest over the same blobs. */
static int import_docker_locked(Import *im, const char *ref, char **ret_ref, char **ret_manifest,
                                char **ret_error) {
        _cleanup_(json_decrefp) json_t *list = NULL, *config = NULL, *manifest = NULL;
        _cleanup_(json_decrefp) json_t *descs = json_array();
        _cleanup_free_ char *data = NULL, *name = NULL, *text = NULL, *digest = NULL;
        const ArchiveEntry *ce;
        json_t *entry = NULL, *layers, *diff_ids, *v;
        size_t size, i;
        int r;

        if (!descs)
                return -ENOMEM;
        r = import_read_file(im, "manifest.json", MANIFEST_SIZE_MAX, &data, &size);
        if (r < 0)
                return set_error(ret_error, r, "cannot read manifest.json: %s", strerror(-r));
        list = json_loadb(data, size, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_array(list) || json_array_size(list) == 0)
                return set_error(ret_error, -EBADMSG,
                                 "manifest.json is not a JSON array of images");
        json_array_foreach (list, i, v)
                if (ref && repo_tags_contain(json_object_get(v, "RepoTags"), ref))
                        entry = v;
        if (!entry && json_array_size(list) == 1)
                entry = json_array_get(list, 0);
        if (!entry)
                return set_error(ret_error, -ENOENT,
                                 "the archive holds %zu images and none is tagged '%s'",
                                 json_array_size(list), strna(ref));
        if (!ref) {
                name = archive_name(
                        json_string_value(json_array_get(json_object_get(entry, "RepoTags"), 0)));
                if (!name)
                        return set_error(ret_error, -EINVAL,
                                         "ref: the archive does not name its image: give a "
                                         "reference");
                ref = name;
        }

        r = docker_file(im, "Config", json_string_value(json_object_get(entry, "Config")), &ce,
                        ret_error);
        if (r < 0)
                return r;
        free(data);
        data = NULL;
        r = entry_read(ce, CONFIG_SIZE_MAX, &data, &size);
        if (r < 0)
                return set_error(ret_error, r, "image '%s': config: %s", ref, strerror(-r));
        config = json_loadb(data, size, 0, NULL);
        diff_ids = json_object_get(json_object_get(config, "rootfs"), "diff_ids");
        layers = json_object_get(entry, "Layers");
        if (!json_is_object(config) || !json_is_array(diff_ids))
                return set_error(ret_error, -EBADMSG,
                                 "image '%s': config '%s' is not an image config", ref, ce->name);
        if (!json_is_array(layers) || json_array_size(layers) != json_array_size(diff_ids))
                return set_error(ret_error, -EBADMSG,
                                 "image '%s': manifest.json lists %zu layers, the config %zu", ref,
                                 json_array_size(layers), json_array_size(diff_ids));
        json_array_foreach (layers, i, v) {
                const char *diff_id = json_string_value(json_array_get(diff_ids, i));
                const ArchiveEntry *le;
                const char *media;

                r = docker_file(im, "layer", json_string_value(v), &le, ret_error);
                if (r < 0)
                        return r;
                media = layer_media_type_of(le);
                if (!media)
                        return -errno;
                /* An uncompressed layer is its own diff-id; compressed ones are checked when
                 * unpacked. */
                if (endswith(media, ".tar") && (!diff_id || !streq(diff_id, le->digest)))
                        return set_error(ret_error, -EBADMSG,
                                         "image '%s': layer '%s' is %s, the config says %s", ref,
                                         le->name, le->digest, strna(diff_id));
                r = import_entry_blob(im, le);
                if (r >= 0 &&
                    json_array_append_new(descs,
                                          json_pack("{ss ss sI}", "mediaType", media, "digest",
                                                    le->digest, "size", (json_int_t) le->size)) < 0)
                        r = -ENOMEM;
                if (r < 0)
                        return set_error(ret_error, r, "image '%s': layer '%s': %s", ref, le->name,
                                         strerror(-r));
        }
        r = import_entry_blob(im, ce);
        if (r < 0)
                return set_error(ret_error, r, "image '%s': config: %s", ref, strerror(-r));

        manifest = json_pack("{si ss s{ss ss sI} sO}", "schemaVersion", 2, "mediaType",
                             MEDIA_OCI_MANIFEST, "config", "mediaType",
                             "application/vnd.oci.image.config.v1+json", "digest", ce->digest,
                             "size", (json_int_t) ce->size, "layers", descs);
        text = manifest ? json_dumps(manifest, JSON_COMPACT) : NULL;
        if (!text)
                return -ENOMEM;
        {
                ArchiveEntry me = { .data = text, .size = strlen(text), .fd = -EBADF };
                _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *md = EVP_MD_CTX_new();

                if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
                    EVP_DigestUpdate(md, text, me.size) != 1)
                        return -ENOMEM;
                r = digest_final(md, &digest);
                if (r < 0)
                        return r;
                me.digest = digest;
                r = import_entry_blob(im, &me);
                if (r < 0)
                        return set_error(ret_error, r, "image '%s': cannot store its manifest: %s",
                                         ref, strerror(-r));
        }
        r = add_image_locked(im->store, ref, digest, ret_error);
        if (r < 0)
                return r;
        if (ret_ref && !(*ret_ref = strdup(ref)))
                return -ENOMEM;
        if (ret_manifest)
                *ret_manifest = TAKE_PTR(digest);
        return 0;
}

int image_store_import(ImageStore *s, const char *path, const char *ref, char **ret_ref,
                       char **ret_manifest_digest, char **ret_error) {
        _cleanup_store_unlock_ ImageStore *locked = NULL;
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *cause = NULL;
        Import im = { .store = s, .dir_fd = -EBADF };
        struct stat st;
        int r;

        assert(s);
        assert(path);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return set_error(ret_error, -errno, "cannot open '%s': %m", path);
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
                return set_error(ret_error, -EINVAL,
                                 "'%s' is neither an OCI layout directory nor an archive", path);
        r = store_lock(s, LOCK_SH);
        if (r < 0)
                return r;
        locked = s;

        if (S_ISDIR(st.st_mode)) {
                im.dir_fd = fd;
                r = import_layout_locked(&im, ref, ret_ref, ret_manifest_digest, ret_error);
        } else {
                r = archive_load(&im, fd, &cause);
                if (r < 0)
                        (void) set_error(ret_error, r, "%s", cause ?: strerror(-r));
                else if (import_entry(&im, "index.json"))
                        r = import_layout_locked(&im, ref, ret_ref, ret_manifest_digest, ret_error);
                else if (import_entry(&im, "manifest.json")) {
                        r = import_docker_locked(&im, ref, ret_ref, ret_manifest_digest, ret_error);
                } else
                        r = set_error(ret_error, -EBADMSG,
                                      "the archive is neither an OCI layout (index.json) nor a "
                                      "docker archive (manifest.json)");
        }
        if (r < 0)
                import_rollback(&im);
        import_done(&im);
        return r;
}

/* ---- references --------------------------------------------------------------------------- */

/* A reference as the store keys it: repository, tag (NULL for digest-only), digest (NULL for
 * tags). A bare "sha256:<hex>" is a digest without repository. */
typedef struct StoreRef {
        char *repository;
        char *tag;
        char *digest;
} StoreRef;

static void store_ref_done(StoreRef *r) {
        free(r->repository);
        free(r->tag);
        free(r->digest);
}

static int store_ref_parse(const char *s, StoreRef *ret) {
        _cleanup_(image_ref_freep) ImageRef *parsed = NULL;
        StoreRef r = {};

        if (!s)
                return -EINVAL;
        if (startswith(s, "sha256:")) {
                if (!layer_digest_is_valid(s))
                        return -EINVAL;
                r.digest = strdup(s);
                if (!r.digest)
                        return -ENOMEM;
                *ret = r;
                return 0;
        }
        if (image_ref_parse(s, &parsed, NULL) < 0)
                return -EINVAL;
        r.repository = image_ref_repository(parsed);
        r.tag = parsed->tag ? strdup(parsed->tag) : NULL;
        r.digest = parsed->digest ? strdup(parsed->digest) : NULL;
        if (!r.repository || (parsed->tag && !r.tag) || (parsed->digest && !r.digest)) {
                store_ref_done(&r);
                return -ENOMEM;
        }
        *ret = r;
        return 0;
}

static int resolve(ImageStore *s, const char *ref, char **ret_manifest) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        StoreRef r = {};
        int k;

        k = store_ref_parse(ref, &r);
        if (k < 0)
                return k;
        if (r.digest && !r.repository)
                k = db_prepare(s, &st, "SELECT digest FROM manifests WHERE digest = ?1", r.digest,
                               NULL);
        else if (r.digest)
                k = db_prepare(s, &st,
                               "SELECT manifest_digest FROM images WHERE repository = ?1 AND "
                               "manifest_digest = ?2",
                               r.repository, r.digest, NULL);
        else
                k = db_prepare(s, &st,
                               "SELECT manifest_digest FROM images WHERE repository = ?1 AND "
                               "tag = ?2",
                               r.repository, r.tag, NULL);
        store_ref_done(&r);
        if (k < 0)
                return k;
        k = sqlite3_step(st);
        if (k == SQLITE_DONE)
                return -ENOENT;
        if (k != SQLITE_ROW)
                return sqlite_errno(k);
        *ret_manifest = column_strdup(st, 0);
        return *ret_manifest ? 0 : -ENOMEM;
}

int image_store_tag(ImageStore *s, const char *source, const char *target) {
        _cleanup_store_unlock_ ImageStore *locked = NULL;
        _cleanup_free_ char *manifest = NULL;
        StoreRef t = {};
        int r;

        assert(s);
        r = store_ref_parse(target, &t);
        if (r < 0)
                return r;
        if (!t.repository || !t.tag || t.digest) {
                store_ref_done(&t);
                return -EINVAL;
        }
        r = store_lock(s, LOCK_SH);
        if (r >= 0) {
                locked = s;
                r = db_begin(s);
        }
        if (r >= 0)
                r = resolve(s, source, &manifest);
        if (r >= 0)
                r = image_row_set(s, t.repository, t.tag, manifest);
        if (r >= 0)
                r = db_exec(s, "COMMIT;");
        else if (locked)
                db_rollback(s);
        store_ref_done(&t);
        return r < 0 ? r : 0;
}

int image_store_remove(ImageStore *s, const char *ref) {
        _cleanup_store_unlock_ ImageStore *locked = NULL;
        _cleanup_free_ char *manifest = NULL;
        StoreRef t = {};
        int r;

        assert(s);
        r = store_ref_parse(ref, &t);
        if (r < 0)
                return r;
        r = store_lock(s, LOCK_SH);
        if (r < 0)
                goto finish;
        locked = s;
        r = db_begin(s);
        if (r < 0)
                goto finish;
        r = resolve(s, ref, &manifest);
        if (r >= 0) {
                if (t.tag)
                        r = db_run(s, "DELETE FROM images WHERE repository = ?1 AND tag = ?2",
                                   t.repository, t.tag);
                else
                        r = db_run(s, "DELETE FROM images WHERE manifest_digest = ?1", manifest);
        }
        if (r >= 0)
                r = manifest_release_if_unused(s, manifest);
        if (r >= 0)
                r = db_exec(s, "COMMIT;");
        else
                db_rollback(s);
finish:
        store_ref_done(&t);
        return r < 0 ? r : 0;
}

/* ---- prune -------------------------------------------------------------------------------- */

static int db_contains(ImageStore *s, const char *sql, const char *key) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int r = db_prepare(s, &st, sql, key, NULL);
        if (r < 0)
                return r;
        r = sqlite3_step(st);
        if (r == SQLITE_ROW)
                return 1;
        return r == SQLITE_DONE ? 0 : sqlite_errno(r);
}

/* Calls keep(name) for every entry of dir_fd and removes those it rejects. */
static int prune_dir(ImageStore *s, int dir_fd, const char *sql, uint64_t *bytes) {
        _cleanup_close_ int fd = -EBADF;
        struct dirent *de;
        DIR *d;
        int n = 0, r = 0;

        fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        d = fdopendir(TAKE_FD(fd));
        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                _cleanup_free_ char *digest = NULL;
                int k;

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                digest = strjoin("sha256:", de->d_name);
                if (!digest) {
                        r = -ENOMEM;
                        break;
                }
                k = layer_digest_is_valid(digest) ? db_contains(s, sql, digest) : 0;
                if (k < 0) {
                        r = k;
                        break;
                }
                if (k > 0)
                        continue;
                k = rm_rf_at(dirfd(d), de->d_name, bytes);
                if (k < 0 && k != -ENOENT) {
                        r = k;
                        break;
                }
                n++;
        }
        closedir(d);
        return r < 0 ? r : n;
}

int image_store_prune(ImageStore *s, uint64_t *ret_bytes_freed) {
        _cleanup_store_unlock_ ImageStore *locked = NULL;
        uint64_t bytes = 0;
        int r, n_layers, n_blobs;

        assert(s);
        /* Exclusive: nobody is between committing a blob or layer and recording it. */
        r = store_lock(s, LOCK_EX);
        if (r < 0)
                return r;
        locked = s;
        r = db_begin(s);
        if (r < 0)
                return r;
        r = db_exec(s, "DELETE FROM layers WHERE refcount <= 0;");
        if (r < 0)
                goto fail;
        n_layers = prune_dir(s, s->layers_fd, "SELECT 1 FROM layers WHERE diff_id = ?1", &bytes);
        if (n_layers < 0) {
                r = n_layers;
                goto fail;
        }
        n_blobs = prune_dir(s, s->blobs_fd,
                            "SELECT 1 FROM manifests WHERE digest = ?1 OR config_digest = ?1 "
                            "UNION SELECT 1 FROM manifest_layers WHERE blob_digest = ?1",
                            &bytes);
        if (n_blobs < 0) {
                r = n_blobs;
                goto fail;
        }
        r = db_exec(s, "DELETE FROM blobs WHERE digest NOT IN (SELECT digest FROM manifests UNION "
                       "SELECT config_digest FROM manifests UNION SELECT blob_digest FROM "
                       "manifest_layers);");
        if (r < 0)
                goto fail;
        r = db_exec(s, "COMMIT;");
        if (r < 0)
                goto fail;
        /* No unpack runs while we hold the store exclusively: the layer locks can go. */
        (void) rm_rf_children(openat(s->locks_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), NULL);
        if (ret_bytes_freed)
                *ret_bytes_freed = bytes;
        return n_layers + n_blobs;
fail:
        db_rollback(s);
        return r;
}

/* ---- queries ------------------------------------------------------------------------------ */

void image_info_list_free(ImageInfo *list, size_t n) {
        for (size_t i = 0; list && i < n; i++) {
                free(list[i].repository);
                free(list[i].tag);
                free(list[i].manifest_digest);
                free(list[i].config_digest);
        }
        free(list);
}

int image_store_list(ImageStore *s, ImageInfo **ret, size_t *ret_n) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        ImageInfo *list = NULL;
        size_t n = 0;
        int r;

        assert(s);
        assert(ret);
        assert(ret_n);
        r = db_prepare(s, &st,
                       "SELECT i.repository, i.tag, i.manifest_digest, m.config_digest, "
                       "m.created, m.last_used FROM images i JOIN manifests m ON "
                       "m.digest = i.manifest_digest ORDER BY i.repository, i.tag, "
                       "i.manifest_digest",
                       NULL);
        if (r < 0)
                return r;
        while ((r = sqlite3_step(st)) == SQLITE_ROW) {
                ImageInfo *l = reallocarray(list, n + 1, sizeof *l), *i;
                if (!l) {
                        image_info_list_free(list, n);
                        return -ENOMEM;
                }
                list = l;
                i = &list[n++];
                *i = (ImageInfo){
                        .repository = column_strdup(st, 0),
                        .tag = isempty((const char *) sqlite3_column_text(st, 1))
                                       ? NULL
                                       : column_strdup(st, 1),
                        .manifest_digest = column_strdup(st, 2),
                        .config_digest = column_strdup(st, 3),
                        .created = sqlite3_column_int64(st, 4),
                        .last_used = sqlite3_column_int64(st, 5),
                };
                if (!i->repository || !i->manifest_digest || !i->config_digest ||
                    (!i->tag && !isempty((const char *) sqlite3_column_text(st, 1)))) {
                        image_info_list_free(list, n);
                        return -ENOMEM;
                }
        }
        if (r != SQLITE_DONE) {
                image_info_list_free(list, n);
                return sqlite_errno(r);
        }
        *ret = list;
        *ret_n = n;
        return 0;
}

static int manifest_config(ImageStore *s, const char *manifest, json_t **ret) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int r = db_prepare(s, &st, "SELECT config_digest FROM manifests WHERE digest = ?1",
                           manifest, NULL);
        if (r < 0)
                return r;
        r = sqlite3_step(st);
        if (r != SQLITE_ROW)
                return r == SQLITE_DONE ? -ENOENT : sqlite_errno(r);
        return read_blob_json(s, (const char *) sqlite3_column_text(st, 0), CONFIG_SIZE_MAX, ret);
}

static int json_set_new(json_t *o, const char *key, json_t *v) {
        return v && json_object_set_new(o, key, v) == 0 ? 0 : -ENOMEM;
}

int image_store_inspect(ImageStore *s, const char *ref, char **ret_json) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL, *lt = NULL;
        _cleanup_(json_decrefp) json_t *o = NULL, *config = NULL;
        _cleanup_free_ char *manifest = NULL;
        json_t *tags, *digests, *layers;
        char *text;
        int r;

        assert(s);
        assert(ret_json);
        r = resolve(s, ref, &manifest);
        if (r < 0)
                return r;
        r = manifest_config(s, manifest, &config);
        if (r < 0)
                return r;
        o = json_object();
        tags = json_array();
        digests = json_array();
        layers = json_array();
        if (!o || json_set_new(o, "Id", json_string(manifest)) < 0 ||
            json_set_new(o, "RepoTags", tags) < 0 || json_set_new(o, "RepoDigests", digests) < 0 ||
            json_set_new(o, "Layers", layers) < 0)
                return -ENOMEM;

        r = db_prepare(s, &st,
                       "SELECT repository, tag FROM images WHERE manifest_digest = ?1 "
                       "ORDER BY repository, tag",
                       manifest, NULL);
        if (r < 0)
                return r;
        while ((r = sqlite3_step(st)) == SQLITE_ROW) {
                const char *repo = (const char *) sqlite3_column_text(st, 0);
                const char *tag = (const char *) sqlite3_column_text(st, 1);
                _cleanup_free_ char *t = NULL, *d = strjoin(repo, "@", manifest);

                if (!isempty(tag))
                        t = strjoin(repo, ":", tag);
                if (!d || (!isempty(tag) && !t))
                        return -ENOMEM;
                if (t && json_array_append_new(tags, json_string(t)) < 0)
                        return -ENOMEM;
                if (json_array_append_new(digests, json_string(d)) < 0)
                        return -ENOMEM;
        }
        if (r != SQLITE_DONE)
                return sqlite_errno(r);

        r = db_prepare(s, &lt,
                       "SELECT diff_id, blob_digest FROM manifest_layers WHERE "
                       "manifest_digest = ?1 ORDER BY position",
                       manifest, NULL);
        if (r < 0)
                return r;
        while ((r = sqlite3_step(lt)) == SQLITE_ROW) {
                const char *diff_id = (const char *) sqlite3_column_text(lt, 0);
                _cleanup_free_ char *path = strjoin(s->root, "/layers/", digest_hex_part(diff_id));
                json_t *l = json_pack("{s:s, s:s, s:s}", "DiffID", diff_id, "Digest",
                                      (const char *) sqlite3_column_text(lt, 1), "Path",
                                      strempty(path));
                if (!path || json_array_append_new(layers, l) < 0)
                        return -ENOMEM;
        }
        if (r != SQLITE_DONE)
                return sqlite_errno(r);

        sqlite3_finalize(TAKE_PTR(st));
        r = db_prepare(s, &st, "SELECT created, last_used FROM manifests WHERE digest = ?1",
                       manifest, NULL);
        if (r < 0)
                return r;
        if (sqlite3_step(st) != SQLITE_ROW)
                return -ENOENT;
        if (json_set_new(o, "Created", json_integer(sqlite3_column_int64(st, 0))) < 0 ||
            json_set_new(o, "LastUsed", json_integer(sqlite3_column_int64(st, 1))) < 0 ||
            json_object_set(o, "Config", config) < 0)
                return -ENOMEM;

        text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
        if (!text)
                return -ENOMEM;
        *ret_json = text;
        return 0;
}

int image_store_rootfs(ImageStore *s, const char *ref, char ***ret_lowers) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        _cleanup_strv_free_ char **lowers = NULL;
        _cleanup_free_ char *manifest = NULL;
        char now_str[32];
        int r;

        assert(s);
        assert(ret_lowers);
        r = resolve(s, ref, &manifest);
        if (r < 0)
                return r;
        r = db_prepare(s, &st,
                       "SELECT diff_id FROM manifest_layers WHERE manifest_digest = ?1 "
                       "ORDER BY position DESC",
                       manifest, NULL);
        if (r < 0)
                return r;
        while ((r = sqlite3_step(st)) == SQLITE_ROW) {
                char *path = NULL;
                int k = image_store_layer_path(s, (const char *) sqlite3_column_text(st, 0), &path);
                if (k < 0)
                        return k == -ENOENT ? -EUCLEAN : k; /* recorded but not on disk */
                k = strv_consume(&lowers, path);
                if (k < 0)
                        return k;
        }
        if (r != SQLITE_DONE)
                return sqlite_errno(r);
        if (!lowers)
                return -ENODATA; /* an image without layers has no root file system */

        snprintf(now_str, sizeof now_str, "%" PRIu64, (uint64_t) now(CLOCK_REALTIME));
        r = db_run(s, "UPDATE manifests SET last_used = ?2 WHERE digest = ?1", manifest, now_str);
        if (r < 0)
                return r;
        *ret_lowers = TAKE_PTR(lowers);
        return 0;
}

ImageConfig *image_config_free(ImageConfig *c) {
        if (!c)
                return NULL;
        strv_free(c->entrypoint);
        strv_free(c->cmd);
        strv_free(c->env);
        free(c->working_dir);
        free(c->user);
        strv_free(c->exposed_ports);
        free(c->stop_signal);
        return mfree(c);
}

static int json_strv(json_t *a, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        json_t *v;
        size_t i;

        if (!a || json_is_null(a)) {
                *ret = NULL;
                return 0;
        }
        if (!json_is_array(a))
                return -EBADMSG;
        json_array_foreach (a, i, v) {
                if (!json_is_string(v))
                        return -EBADMSG;
                if (strv_extend(&l, json_string_value(v)) < 0)
                        return -ENOMEM;
        }
        /* An empty array is set, and differs from absent (it clears Entrypoint). */
        if (!l) {
                l = calloc(1, sizeof(char *));
                if (!l)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

static int json_str(json_t *o, const char *key, char **ret) {
        json_t *v = json_object_get(o, key);

        *ret = NULL;
        if (!v || json_is_null(v))
                return 0;
        if (!json_is_string(v))
                return -EBADMSG;
        if (isempty(json_string_value(v)))
                return 0;
        *ret = strdup(json_string_value(v));
        return *ret ? 0 : -ENOMEM;
}

int image_store_config(ImageStore *s, const char *ref, ImageConfig **ret) {
        _cleanup_(image_config_freep) ImageConfig *c = NULL;
        _cleanup_(json_decrefp) json_t *config = NULL;
        _cleanup_free_ char *manifest = NULL;
        json_t *cfg, *ports, *v;
        const char *port;
        int r;

        assert(s);
        assert(ret);
        r = resolve(s, ref, &manifest);
        if (r < 0)
                return r;
        r = manifest_config(s, manifest, &config);
        if (r < 0)
                return r;
        c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        cfg = json_object_get(config, "config");
        if (!cfg || json_is_null(cfg)) {
                *ret = TAKE_PTR(c);
                return 0;
        }
        if (!json_is_object(cfg))
                return -EBADMSG;
        if ((r = json_strv(json_object_get(cfg, "Entrypoint"), &c->entrypoint)) < 0 ||
            (r = json_strv(json_object_get(cfg, "Cmd"), &c->cmd)) < 0 ||
            (r = json_strv(json_object_get(cfg, "Env"), &c->env)) < 0 ||
            (r = json_str(cfg, "WorkingDir", &c->working_dir)) < 0 ||
            (r = json_str(cfg, "User", &c->user)) < 0 ||
            (r = json_str(cfg, "StopSignal", &c->stop_signal)) < 0)
                return r;
        ports = json_object_get(cfg, "ExposedPorts");
        if (json_is_object(ports))
                json_object_foreach (ports, port, v)
                        if (strv_extend(&c->exposed_ports, port) < 0)
                                return -ENOMEM;
        *ret = TAKE_PTR(c);
        return 0;
}

/* ---- export ------------------------------------------------------------------------------- */

#define TAR_BLOCK 512U

/* Copies size bytes of in (from offset 0) to out at its current position: a reflink when the
 * file system shares extents and out is a whole new file, else an in-kernel copy, else read and
 * write. */
static int copy_blob_fd(int in, int out, uint64_t size, bool whole_file) {
        _cleanup_free_ char *buf = NULL;
        off_t off = 0;

        if (whole_file && ioctl(out, FICLONE, in) >= 0) {
                if (lseek(out, 0, SEEK_END) < 0)
                        return -errno;
                return 0;
        }
        while ((uint64_t) off < size) {
                ssize_t n = copy_file_range(in, &off, out, NULL, size - (uint64_t) off, 0);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == EOPNOTSUPP ||
                              errno == ENOSYS || errno == EBADF))
                        break;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return -EIO; /* the blob shrank under us */
        }
        if ((uint64_t) off >= size)
                return 0;
        buf = malloc(COPY_BUFFER_SIZE);
        if (!buf)
                return -ENOMEM;
        while ((uint64_t) off < size) {
                ssize_t n = pread(in, buf, MIN((uint64_t) COPY_BUFFER_SIZE, size - (uint64_t) off),
                                  off);
                int r;

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return n < 0 ? -errno : -EIO;
                r = loop_write(out, buf, (size_t) n);
                if (r < 0)
                        return r;
                off += n;
        }
        return 0;
}

/* One ustar header block; sizes beyond 11 octal digits in the base-256 form GNU tar and every
 * reader since accept. */
static int tar_header(int fd, const char *name, char type, mode_t mode, uint64_t size) {
        unsigned char h[TAR_BLOCK] = {};
        unsigned sum = 0;

        if (strlen(name) > 99)
                return -ENAMETOOLONG;
        memcpy(h, name, strlen(name));
        snprintf((char *) h + 100, 8, "%07o", (unsigned) mode & 07777);
        snprintf((char *) h + 108, 8, "%07o", 0);
        snprintf((char *) h + 116, 8, "%07o", 0);
        if (size < 077777777777ULL)
                snprintf((char *) h + 124, 12, "%011" PRIo64, size);
        else {
                h[124] = 0x80;
                for (int i = 11; i > 0; i--, size >>= 8)
                        h[124 + i] = (unsigned char) (size & 0xff);
        }
        snprintf((char *) h + 136, 12, "%011o", 0);
        memset(h + 148, ' ', 8);
        h[156] = (unsigned char) type;
        memcpy(h + 257, "ustar", 6);
        memcpy(h + 263, "00", 2);
        memcpy(h + 265, "root", 4);
        memcpy(h + 297, "root", 4);
        for (size_t i = 0; i < TAR_BLOCK; i++)
                sum += h[i];
        snprintf((char *) h + 148, 8, "%06o", sum);
        return loop_write(fd, h, TAR_BLOCK);
}

static int tar_pad(int fd, uint64_t size) {
        static const char zeros[TAR_BLOCK];
        size_t rest = (size_t) (size % TAR_BLOCK);

        return rest == 0 ? 0 : loop_write(fd, zeros, TAR_BLOCK - rest);
}

/* Where an export goes: an archive (fd, a tar written sequentially) or a directory. */
typedef struct Export {
        ImageStore *store;
        int fd; /* the tar */
        int dir_fd; /* the layout directory */
        int blobs_fd; /* its blobs/sha256 */
        char **written; /* blobs in the tar already: an image may list a layer twice */
} Export;

static int export_file(Export *e, const char *name, const char *data) {
        size_t n = strlen(data);
        int r;

        if (e->fd >= 0) {
                r = tar_header(e->fd, name, '0', 0644, n);
                if (r >= 0)
                        r = loop_write(e->fd, data, n);
                return r < 0 ? r : tar_pad(e->fd, n);
        }
        _cleanup_close_ int fd =
                openat(e->dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        return loop_write(fd, data, n);
}

static int export_blob(Export *e, const char *digest) {
        _cleanup_close_ int in = -EBADF, out = -EBADF;
        struct stat st;
        int r;

        in = image_store_blob_open(e->store, digest);
        if (in < 0)
                return in;
        if (fstat(in, &st) < 0)
                return -errno;
        if (e->fd >= 0) {
                _cleanup_free_ char *name = strjoin("blobs/sha256/", digest_hex_part(digest));

                if (!name)
                        return -ENOMEM;
                for (char **w = e->written; w && *w; w++)
                        if (streq(*w, digest))
                                return 0;
                r = strv_extend(&e->written, digest);
                if (r < 0)
                        return r;
                r = tar_header(e->fd, name, '0', 0644, (uint64_t) st.st_size);
                if (r >= 0)
                        r = copy_blob_fd(in, e->fd, (uint64_t) st.st_size, false);
                return r < 0 ? r : tar_pad(e->fd, (uint64_t) st.st_size);
        }
        out = openat(e->blobs_fd, digest_hex_part(digest),
                     O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (out < 0)
                return errno == EEXIST ? 0 : -errno; /* a blob used twice, e.g. a layer */
        return copy_blob_fd(in, out, (uint64_t) st.st_size, true);
}

/* index.json, oci-layout and manifest.json (docker save's, for docker and podman load) of the
 * image: manifest_text is its manifest blob, name its whole reference or NULL. */
static int export_documents(const char *manifest_digest, const char *manifest_text,
                            const Manifest *m, const char *name, const char *tag, json_t *config,
                            char **ret_index, char **ret_docker) {
        _cleanup_(json_decrefp) json_t *mj = json_loads(manifest_text, 0, NULL);
        _cleanup_(json_decrefp) json_t *index = NULL, *desc = NULL, *docker = NULL, *ann = NULL;
        _cleanup_(json_decrefp) json_t *layers = json_array(), *tags = json_array();
        const char *media, *os, *arch, *variant;
        char *config_name;

        if (!mj || !layers || !tags)
                return -ENOMEM;
        media = json_string_value(json_object_get(mj, "mediaType")) ?: MEDIA_OCI_MANIFEST;
        desc = json_pack("{ss ss sI}", "mediaType", media, "digest", manifest_digest, "size",
                         (json_int_t) strlen(manifest_text));
        ann = json_object();
        if (!desc || !ann)
                return -ENOMEM;
        if (name &&
            (json_object_set_new(ann, "io.containerd.image.name", json_string(name)) < 0 ||
             json_object_set_new(ann, "org.opencontainers.image.ref.name", json_string(tag)) < 0 ||
             json_array_append_new(tags, json_string(name)) < 0))
                return -ENOMEM;
        if (json_object_size(ann) > 0 && json_object_set(desc, "annotations", ann) < 0)
                return -ENOMEM;
        os = json_string_value(json_object_get(config, "os"));
        arch = json_string_value(json_object_get(config, "architecture"));
        variant = json_string_value(json_object_get(config, "variant"));
        if (os && arch &&
            json_object_set_new(desc, "platform",
                                variant ? json_pack("{ss ss ss}", "os", os, "architecture", arch,
                                                    "variant", variant)
                                        : json_pack("{ss ss}", "os", os, "architecture", arch)) < 0)
                return -ENOMEM;
        index = json_pack("{si ss s[O]}", "schemaVersion", 2, "mediaType", MEDIA_OCI_INDEX,
                          "manifests", desc);
        for (size_t i = 0; i < m->n_layers; i++)
                if (json_array_append_new(layers, json_pack("s+", "blobs/sha256/",
                                                            digest_hex_part(m->layer_digests[i]))) <
                    0)
                        return -ENOMEM;
        config_name = strjoin("blobs/sha256/", digest_hex_part(m->config_digest));
        docker = config_name ? json_pack("[{ss sO sO}]", "Config", config_name, "RepoTags", tags,
                                         "Layers", layers)
                             : NULL;
        free(config_name);
        if (!index || !docker)
                return -ENOMEM;
        *ret_index = json_dumps(index, JSON_COMPACT);
        *ret_docker = json_dumps(docker, JSON_COMPACT);
        if (!*ret_index || !*ret_docker) {
                *ret_index = mfree(*ret_index);
                *ret_docker = mfree(*ret_docker);
                return -ENOMEM;
        }
        return 0;
}

static int export_write(Export *e, const char *manifest_digest, const Manifest *m,
                        const char *index, const char *docker) {
        int r;

        if (e->fd >= 0) {
                r = tar_header(e->fd, "blobs/", '5', 0755, 0);
                if (r >= 0)
                        r = tar_header(e->fd, "blobs/sha256/", '5', 0755, 0);
                if (r < 0)
                        return r;
        }
        r = export_file(e, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}");
        if (r >= 0)
                r = export_file(e, "index.json", index);
        if (r >= 0)
                r = export_file(e, "manifest.json", docker);
        if (r >= 0)
                r = export_blob(e, manifest_digest);
        if (r >= 0)
                r = export_blob(e, m->config_digest);
        for (size_t i = 0; r >= 0 && i < m->n_layers; i++)
                r = export_blob(e, m->layer_digests[i]);
        if (r >= 0 && e->fd >= 0) {
                static const char end[2 * TAR_BLOCK];
                r = loop_write(e->fd, end, sizeof end);
        }
        return r;
}

/* A name for the temporary file or directory beside path. */
static int export_tmp_name(const char *path, char **ret_dir, char **ret_tmp) {
        _cleanup_free_ char *dir = NULL, *tmp = NULL;
        const char *base = strrchr(path, '/');
        uint64_t rnd = now(CLOCK_MONOTONIC) ^ ((uint64_t) getpid() << 32);

        assert(base);
        dir = base == path ? strdup("/") : strndup(path, (size_t) (base - path));
        if (!dir || asprintf(&tmp, ".%s.tmp-%016" PRIx64, base + 1, rnd) < 0)
                return -ENOMEM;
        *ret_dir = TAKE_PTR(dir);
        *ret_tmp = TAKE_PTR(tmp);
        return 0;
}

int image_store_export(ImageStore *s, const char *ref, const char *path, ImageExportFormat format,
                       char **ret_manifest_digest, char **ret_error) {
        _cleanup_store_unlock_ ImageStore *locked = NULL;
        _cleanup_(json_decrefp) json_t *manifest = NULL, *config = NULL;
        _cleanup_free_ char *digest = NULL, *text = NULL, *cause = NULL, *name = NULL;
        _cleanup_free_ char *index = NULL, *docker = NULL, *parent = NULL, *tmp = NULL;
        _cleanup_close_ int parent_fd = -EBADF;
        _cleanup_(store_ref_done) StoreRef sr = {};
        Export e = { .store = s, .fd = -EBADF, .dir_fd = -EBADF, .blobs_fd = -EBADF };
        Manifest m = {};
        size_t size;
        int r;

        assert(s);
        assert(ref);
        assert(path);
        if (!path_is_absolute(path) || endswith(path, "/"))
                return set_error(ret_error, -EINVAL, "path: '%s' is not an absolute file name",
                                 path);
        r = store_ref_parse(ref, &sr);
        if (r < 0)
                return set_error(ret_error, r, "invalid image reference '%s'", ref);
        if (sr.tag && !(name = strjoin(sr.repository, ":", sr.tag)))
                return -ENOMEM;
        r = store_lock(s, LOCK_SH);
        if (r < 0)
                return r;
        locked = s;
        r = resolve(s, ref, &digest);
        if (r == -ENOENT)
                return set_error(ret_error, r, "No such image '%s'.", ref);
        if (r < 0)
                return r;
        {
                _cleanup_close_ int fd = image_store_blob_open(s, digest);

                if (fd < 0)
                        return set_error(ret_error, fd, "image '%s': manifest %s: %s", ref, digest,
                                         strerror(-fd));
                r = read_full_fd(fd, MANIFEST_SIZE_MAX, &text, &size);
                if (r < 0)
                        return r;
        }
        manifest = json_loadb(text, size, 0, NULL);
        if (!manifest || strlen(text) != size)
                return set_error(ret_error, -EBADMSG, "image '%s': stored manifest is not JSON",
                                 ref);
        r = manifest_parse(manifest, &m, &cause);
        if (r < 0)
                return set_error(ret_error, r, "image '%s': %s", ref, strna(cause));
        r = read_blob_json(s, m.config_digest, CONFIG_SIZE_MAX, &config);
        if (r >= 0)
                r = export_documents(digest, text, &m, name, sr.tag, config, &index, &docker);
        if (r < 0) {
                (void) set_error(ret_error, r, "image '%s': config %s: %s", ref, m.config_digest,
                                 strerror(-r));
                goto finish;
        }

        r = export_tmp_name(path, &parent, &tmp);
        if (r < 0)
                goto finish;
        parent_fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (parent_fd < 0) {
                r = set_error(ret_error, -errno, "path: cannot open '%s': %m", parent);
                goto finish;
        }
        if (format == IMAGE_EXPORT_ARCHIVE) {
                e.fd = openat(parent_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
                if (e.fd < 0) {
                        r = set_error(ret_error, -errno, "path: cannot write in '%s': %m", parent);
                        goto finish;
                }
        } else {
                if (mkdirat(parent_fd, tmp, 0755) < 0) {
                        r = set_error(ret_error, -errno, "path: cannot write in '%s': %m", parent);
                        goto finish;
                }
                e.dir_fd = openat(parent_fd, tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                r = e.dir_fd < 0 ? -errno : 0;
                if (r >= 0) {
                        e.blobs_fd = open_subdir(e.dir_fd, "blobs");
                        r = e.blobs_fd;
                }
                if (r >= 0) {
                        int top = e.blobs_fd;
                        e.blobs_fd = open_subdir(top, "sha256");
                        safe_close(top);
                        r = e.blobs_fd;
                }
                /* open_subdir makes them 0700: a layout is for others to read. */
                if (r >= 0 && (fchmod(e.dir_fd, 0755) < 0 || fchmodat(e.dir_fd, "blobs", 0755, 0) ||
                               fchmod(e.blobs_fd, 0755) < 0))
                        r = -errno;
                if (r < 0)
                        goto fail_tmp;
        }
        r = export_write(&e, digest, &m, index, docker);
        /* Durable before it gets its name: one sync for the whole tree. */
        if (r >= 0 && (e.fd >= 0 ? fsync(e.fd) : syncfs(e.dir_fd)) < 0)
                r = -errno;
        if (r >= 0 && renameat(parent_fd, tmp, parent_fd, strrchr(path, '/') + 1) < 0) {
                r = errno == ENOTEMPTY ? -EEXIST : -errno;
                (void) set_error(ret_error, r, "path: cannot replace '%s': %s", path,
                                 r == -EEXIST ? "a directory that is not empty" : strerror(-r));
        }
        if (r < 0)
                goto fail_tmp;
        (void) fsync(parent_fd);
        if (ret_manifest_digest)
                *ret_manifest_digest = TAKE_PTR(digest);
        r = 0;
        goto finish;

fail_tmp:
        (void) set_error(ret_error, r, "image '%s': cannot export to '%s': %s", ref, path,
                         strerror(-r));
        if (format == IMAGE_EXPORT_ARCHIVE)
                (void) unlinkat(parent_fd, tmp, 0);
        else
                (void) rm_rf_at(parent_fd, tmp, NULL);
finish:
        safe_close(e.fd);
        safe_close(e.dir_fd);
        safe_close(e.blobs_fd);
        strv_free(e.written);
        manifest_done(&m);
        return r;
}
