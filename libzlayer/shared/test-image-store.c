/* SPDX-License-Identifier: Apache-2.0 */
/* test-image-store.c: OCI layouts imported, queried, removed and pruned; crashes and races. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "fd-util.h"
#include "fileio.h"
#include "image-store.h"
#include "string-util.h"
#include "tests.h"

#define LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"

typedef struct File {
        const char *path;
        const char *data; /* NULL: a directory */
        const char *link; /* a hard link to this path */
} File;

static void need_root(void) {
        if (geteuid() != 0)
                test_skip("needs root (device nodes, trusted xattrs, ownership)");
}

static char *digest_of(const void *data, size_t size) {
        unsigned char bin[32];
        unsigned len = 0;
        char *s = malloc(7 + 64 + 1);

        ASSERT_NOT_NULL(s);
        ASSERT_EQ(EVP_Digest(data, size, bin, &len, EVP_sha256(), NULL), 1);
        strcpy(s, "sha256:");
        for (unsigned i = 0; i < len; i++)
                sprintf(s + 7 + 2 * i, "%02x", bin[i]);
        return s;
}

/* Writes the tar of files (big_size > 0 adds one file of that many zero bytes), plain into
 * *ret_tar and compressed into *ret_blob; both malloc'ed. */
static void make_tar(const File *files, size_t n, size_t big_size, bool zstd, char **ret_data,
                     size_t *ret_size) {
        struct archive *a = archive_write_new();
        char path[PATH_MAX];
        static unsigned counter;

        snprintf(path, sizeof path, "%s/tar-%u", test_tmpdir(), counter++);
        ASSERT_EQ(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
        if (zstd)
                ASSERT_EQ(archive_write_add_filter_zstd(a), ARCHIVE_OK);
        ASSERT_EQ(archive_write_open_filename(a, path), ARCHIVE_OK);
        for (size_t i = 0; i < n; i++) {
                struct archive_entry *e = archive_entry_new();

                archive_entry_set_pathname(e, files[i].path);
                archive_entry_set_mtime(e, 1000, 0);
                if (files[i].link) {
                        archive_entry_set_filetype(e, AE_IFREG);
                        archive_entry_set_perm(e, 0644);
                        archive_entry_set_hardlink(e, files[i].link);
                } else if (files[i].data) {
                        archive_entry_set_filetype(e, AE_IFREG);
                        archive_entry_set_perm(e, 0644);
                        archive_entry_set_size(e, (la_int64_t) strlen(files[i].data));
                } else {
                        archive_entry_set_filetype(e, AE_IFDIR);
                        archive_entry_set_perm(e, 0755);
                }
                ASSERT_EQ(archive_write_header(a, e), ARCHIVE_OK);
                if (files[i].data && !files[i].link)
                        ASSERT_EQ(archive_write_data(a, files[i].data, strlen(files[i].data)),
                                  (la_ssize_t) strlen(files[i].data));
                archive_entry_free(e);
        }
        if (big_size > 0) {
                struct archive_entry *e = archive_entry_new();
                _cleanup_free_ char *zeros = calloc(1, 1024 * 1024);

                ASSERT_NOT_NULL(zeros);
                archive_entry_set_pathname(e, "big");
                archive_entry_set_filetype(e, AE_IFREG);
                archive_entry_set_perm(e, 0644);
                archive_entry_set_size(e, (la_int64_t) big_size);
                ASSERT_EQ(archive_write_header(a, e), ARCHIVE_OK);
                for (size_t done = 0; done < big_size; done += 1024 * 1024)
                        ASSERT_EQ(archive_write_data(a, zeros, 1024 * 1024), 1024 * 1024);
                archive_entry_free(e);
        }
        ASSERT_EQ(archive_write_close(a), ARCHIVE_OK);
        archive_write_free(a);
        ASSERT_OK(read_full_file(path, SIZE_MAX, ret_data, ret_size));
        ASSERT_OK(unlink(path));
}

static char *layout_blob(const char *layout, const void *data, size_t size) {
        char *digest = digest_of(data, size);
        char path[PATH_MAX];

        snprintf(path, sizeof path, "%s/blobs/sha256", layout);
        ASSERT_OK(mkdir_p(path, 0755));
        snprintf(path, sizeof path, "%s/blobs/sha256/%s", layout, digest + 7);
        ASSERT_OK(write_file_atomic(path, data, size, 0644));
        return digest;
}

typedef struct Layer {
        char *blob;
        char *diff_id;
} Layer;

/* A layer blob (zstd or plain) in the layout, and its diff-id. */
static Layer add_layer(const char *layout, const File *files, size_t n, size_t big, bool zstd) {
        _cleanup_free_ char *plain = NULL, *packed = NULL;
        size_t plain_size, packed_size;
        Layer l;

        make_tar(files, n, big, false, &plain, &plain_size);
        l.diff_id = digest_of(plain, plain_size);
        if (zstd) {
                make_tar(files, n, big, true, &packed, &packed_size);
                l.blob = layout_blob(layout, packed, packed_size);
        } else
                l.blob = layout_blob(layout, plain, plain_size);
        return l;
}

static void layer_done(Layer *l) {
        free(l->blob);
        free(l->diff_id);
}

/* Config, manifest and index.json for the layers, the index entry annotated with tag.
 * Returns the manifest digest. */
static char *write_image(const char *layout, const char *tag, const Layer *layers, size_t n,
                         const char *media_type, const char *bad_diff_id) {
        json_t *diff_ids = json_array(), *ldesc = json_array(), *config, *manifest, *index;
        _cleanup_free_ char *config_digest = NULL, *config_text = NULL, *manifest_text = NULL;
        _cleanup_free_ char *index_text = NULL;
        char *manifest_digest, path[PATH_MAX];

        for (size_t i = 0; i < n; i++) {
                json_array_append_new(diff_ids, json_string(bad_diff_id ?: layers[i].diff_id));
                json_array_append_new(ldesc, json_pack("{s:s, s:s, s:i}", "mediaType",
                                                       media_type ?: LAYER_GZIP, "digest",
                                                       layers[i].blob, "size", 1));
        }
        config = json_pack("{s:s, s:s, s:{s:[s], s:[s, s], s:[s], s:s, s:s, s:{s:{}}, s:s}, "
                           "s:{s:s, s:o}}",
                           "architecture", "amd64", "os", "linux", "config", "Entrypoint",
                           "/bin/sh", "Cmd", "-c", "echo hi", "Env", "PATH=/bin", "WorkingDir",
                           "/srv", "User", "1000:1000", "ExposedPorts", "80/tcp", "StopSignal",
                           "SIGQUIT", "rootfs", "type", "layers", "diff_ids", diff_ids);
        ASSERT_NOT_NULL(config);
        config_text = json_dumps(config, JSON_COMPACT);
        config_digest = layout_blob(layout, config_text, strlen(config_text));
        manifest = json_pack("{s:i, s:s, s:{s:s, s:s, s:i}, s:o}", "schemaVersion", 2, "mediaType",
                             "application/vnd.oci.image.manifest.v1+json", "config", "mediaType",
                             "application/vnd.oci.image.config.v1+json", "digest", config_digest,
                             "size", (int) strlen(config_text), "layers", ldesc);
        ASSERT_NOT_NULL(manifest);
        manifest_text = json_dumps(manifest, JSON_COMPACT);
        manifest_digest = layout_blob(layout, manifest_text, strlen(manifest_text));
        index = json_pack("{s:i, s:[{s:s, s:s, s:i, s:{s:s}}]}", "schemaVersion", 2, "manifests",
                          "mediaType", "application/vnd.oci.image.manifest.v1+json", "digest",
                          manifest_digest, "size", (int) strlen(manifest_text), "annotations",
                          "org.opencontainers.image.ref.name", tag);
        ASSERT_NOT_NULL(index);
        index_text = json_dumps(index, JSON_COMPACT);
        snprintf(path, sizeof path, "%s/index.json", layout);
        ASSERT_OK(write_string_file_atomic(path, index_text, 0644));
        snprintf(path, sizeof path, "%s/oci-layout", layout);
        ASSERT_OK(write_string_file_atomic(path, "{\"imageLayoutVersion\":\"1.0.0\"}", 0644));
        json_decref(config);
        json_decref(manifest);
        json_decref(index);
        return manifest_digest;
}

static char *tmp_path(const char *name) {
        char *p = strjoin(test_tmpdir(), "/", name);
        ASSERT_NOT_NULL(p);
        return p;
}

/* Entries in dir, not counting "." and ".."; -1 if it cannot be opened. */
static int count_entries(const char *dir) {
        DIR *d = opendir(dir);
        struct dirent *de;
        int n = 0;

        if (!d)
                return -1;
        while ((de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        n++;
        closedir(d);
        return n;
}

static int count_in(const char *store, const char *sub) {
        char p[PATH_MAX];

        snprintf(p, sizeof p, "%s/%s", store, sub);
        return count_entries(p);
}

static const File base_files[] = {
        { "etc", NULL, NULL }, { "etc/keep", "keep", NULL }, { "etc/gone", "gone", NULL },
        { "opq", NULL, NULL }, { "opq/old", "old", NULL },   { "h1", "linked", NULL },
        { "h2", NULL, "h1" },
};
static const File top_files[] = {
        { "etc", NULL, NULL },      { "etc/.wh.gone", "", NULL },
        { "opq", NULL, NULL },      { "opq/.wh..wh..opq", "", NULL },
        { "opq/new", "new", NULL },
};

/* A two-layer image in a fresh layout <tmp>/<name>. */
static char *two_layer_image(const char *name, const char *tag, Layer ret_layers[2]) {
        _cleanup_free_ char *layout = tmp_path(name);

        ret_layers[0] = add_layer(layout, base_files, ELEMENTSOF(base_files), 0, true);
        ret_layers[1] = add_layer(layout, top_files, ELEMENTSOF(top_files), 0, false);
        return write_image(layout, tag, ret_layers, 2, NULL, NULL);
}

TEST(import_list_inspect_rootfs_config) {
        _cleanup_(image_store_closep) ImageStore *s = NULL;
        _cleanup_(image_config_freep) ImageConfig *c = NULL;
        _cleanup_free_ char *store = tmp_path("store"), *layout = tmp_path("img");
        _cleanup_free_ char *manifest = NULL, *got = NULL, *error = NULL, *json = NULL;
        _cleanup_free_ char *top = NULL, *bottom = NULL;
        _cleanup_strv_free_ char **lowers = NULL;
        ImageInfo *list = NULL;
        Layer layers[2];
        json_t *j;
        size_t n;

        need_root();
        manifest = two_layer_image("img", "1", layers);
        ASSERT_OK(image_store_open(store, &s));
        ASSERT_OK(image_store_import_oci_layout(s, layout, "localhost/test:1", &got, &error));
        ASSERT_STREQ(got, manifest);
        ASSERT_NULL(error);

        ASSERT_OK(image_store_list(s, &list, &n));
        ASSERT_EQ(n, 1);
        ASSERT_STREQ(list[0].repository, "localhost/test");
        ASSERT_STREQ(list[0].tag, "1");
        ASSERT_STREQ(list[0].manifest_digest, manifest);
        ASSERT_GT(list[0].created, 0);
        image_info_list_free(list, n);

        ASSERT_OK(image_store_rootfs(s, "localhost/test:1", &lowers));
        ASSERT_EQ(strv_length(lowers), 2);
        top = strjoin(store, "/layers/", layers[1].diff_id + 7);
        bottom = strjoin(store, "/layers/", layers[0].diff_id + 7);
        ASSERT_STREQ(lowers[0], top);
        ASSERT_STREQ(lowers[1], bottom);
        {
                _cleanup_strv_free_ char **by_digest = NULL;
                ASSERT_OK(image_store_rootfs(s, manifest, &by_digest));
                ASSERT_STREQ(by_digest[0], top);
        }

        ASSERT_OK(image_store_inspect(s, "localhost/test:1", &json));
        j = json_loads(json, 0, NULL);
        ASSERT_NOT_NULL(j);
        ASSERT_STREQ(json_string_value(json_object_get(j, "Id")), manifest);
        ASSERT_STREQ(json_string_value(json_array_get(json_object_get(j, "RepoTags"), 0)),
                     "localhost/test:1");
        ASSERT_EQ(json_array_size(json_object_get(j, "Layers")), 2);
        ASSERT_GT(json_integer_value(json_object_get(j, "LastUsed")),
                  json_integer_value(json_object_get(j, "Created")) - 1);
        json_decref(j);

        ASSERT_OK(image_store_config(s, "localhost/test:1", &c));
        ASSERT_STREQ(c->entrypoint[0], "/bin/sh");
        ASSERT_NULL(c->entrypoint[1]);
        ASSERT_STREQ(c->cmd[1], "echo hi");
        ASSERT_STREQ(c->env[0], "PATH=/bin");
        ASSERT_STREQ(c->working_dir, "/srv");
        ASSERT_STREQ(c->user, "1000:1000");
        ASSERT_STREQ(c->exposed_ports[0], "80/tcp");
        ASSERT_STREQ(c->stop_signal, "SIGQUIT");

        ASSERT_ERROR(image_store_rootfs(s, "localhost/test:2", &lowers), ENOENT);
        ASSERT_ERROR(image_store_inspect(s, "not a ref", &json), EINVAL);

        /* importing again changes nothing and unpacks nothing */
        ASSERT_OK(image_store_import_oci_layout(s, layout, "localhost/test:1", NULL, NULL));
        ASSERT_EQ(count_in(store, "layers"), 2);
        ASSERT_EQ(count_in(store, "blobs/sha256"), 4);
        layer_done(&layers[0]);
        layer_done(&layers[1]);
}

TEST(tag_remove_prune) {
        _cleanup_(image_store_closep) ImageStore *s = NULL;
        _cleanup_free_ char *store = tmp_path("store"), *layout = tmp_path("img");
        _cleanup_free_ char *manifest = NULL;
        ImageInfo *list = NULL;
        Layer layers[2];
        uint64_t bytes = 1;
        size_t n;

        need_root();
        manifest = two_layer_image("img", "1", layers);
        ASSERT_OK(image_store_open(store, &s));
        ASSERT_OK(image_store_import_oci_layout(s, layout, "localhost/test:1", NULL, NULL));
        ASSERT_OK(image_store_tag(s, "localhost/test:1", "localhost/other"));
        ASSERT_ERROR(image_store_tag(s, "localhost/none:1", "localhost/x:1"), ENOENT);
        ASSERT_ERROR(image_store_tag(s, "localhost/test:1", "bad ref"), EINVAL);
        ASSERT_OK(image_store_list(s, &list, &n));
        ASSERT_EQ(n, 2);
        ASSERT_STREQ(list[0].repository, "localhost/other");
        ASSERT_STREQ(list[0].tag, "latest");
        image_info_list_free(list, n);

        ASSERT_OK(image_store_remove(s, "localhost/test:1"));
        ASSERT_ERROR(image_store_remove(s, "localhost/test:1"), ENOENT);
        ASSERT_EQ(image_store_prune(s, &bytes), 0);
        ASSERT_EQ(bytes, 0);
        ASSERT_EQ(count_in(store, "layers"), 2);

        /* an untracked leftover goes with prune */
        {
                char p[PATH_MAX];
                snprintf(p, sizeof p, "%s/blobs/sha256/%s", store, "junk");
                ASSERT_OK(write_string_file_atomic(p, "junk", 0644));
        }
        ASSERT_EQ(image_store_prune(s, &bytes), 1);

        ASSERT_OK(image_store_remove(s, manifest)); /* by digest: every tag */
        ASSERT_OK(image_store_list(s, &list, &n));
        ASSERT_EQ(n, 0);
        image_info_list_free(list, n);
        ASSERT_EQ(image_store_prune(s, &bytes), 6); /* 2 layers, 2 layer blobs, config, manifest */
        ASSERT_GT(bytes, 0);
        ASSERT_EQ(count_in(store, "layers"), 0);
        ASSERT_EQ(count_in(store, "blobs/sha256"), 0);
        ASSERT_EQ(image_store_prune(s, NULL), 0);

        /* a layer shared by two images survives the removal of one */
        ASSERT_OK(image_store_import_oci_layout(s, layout, "localhost/a:1", NULL, NULL));
        ASSERT_OK(image_store_tag(s, "localhost/a:1", "localhost/b:1"));
        ASSERT_OK(image_store_remove(s, "localhost/a:1"));
        ASSERT_EQ(image_store_prune(s, NULL), 0);
        ASSERT_OK(image_store_remove(s, "localhost/b:1"));
        ASSERT_EQ(image_store_prune(s, NULL), 6);
        layer_done(&layers[0]);
        layer_done(&layers[1]);
}

static const File evil_files[] = { { "ok", "1", NULL }, { "../x", "x", NULL } };

TEST(bad_input_leaves_the_store_unchanged) {
        _cleanup_(image_store_closep) ImageStore *s = NULL;
        _cleanup_free_ char *store = tmp_path("store"), *layout = tmp_path("bad");
        _cleanup_free_ char *m = NULL, *error = NULL;
        char p[PATH_MAX];
        ImageInfo *list = NULL;
        Layer l, evil;
        size_t n;

        need_root();
        ASSERT_OK(image_store_open(store, &s));

        /* a layer blob whose content does not match its digest */
        l = add_layer(layout, base_files, ELEMENTSOF(base_files), 0, true);
        m = write_image(layout, "1", &l, 1, NULL, NULL);
        snprintf(p, sizeof p, "%s/blobs/sha256/%s", layout, l.blob + 7);
        ASSERT_OK(write_string_file_atomic(p, "tampered", 0644));
        ASSERT_ERROR(image_store_import_oci_layout(s, layout, "localhost/bad:1", NULL, &error),
                     EBADMSG);
        ASSERT_NOT_NULL(strstr(error, "image 'localhost/bad:1': layer sha256:"));
        ASSERT_NOT_NULL(strstr(error, "digest mismatch"));
        error = mfree(error);
        ASSERT_EQ(count_in(store, "blobs/sha256"), 0);
        ASSERT_EQ(count_in(store, "layers"), 0);

        /* the blob missing altogether */
        ASSERT_OK(unlink(p));
        ASSERT_ERROR(image_store_import_oci_layout(s, layout, "localhost/bad:1", NULL, &error),
                     ENOENT);
        error = mfree(error);
        m = mfree(m);
        layer_done(&l);

        /* an unknown layer media type */
        l = add_layer(layout, base_files, ELEMENTSOF(base_files), 0, true);
        m = write_image(layout, "1", &l, 1, "application/x-unknown", NULL);
        ASSERT_ERROR(image_store_import_oci_layout(s, layout, "localhost/bad:1", NULL, &error),
                     EPROTONOSUPPORT);
        ASSERT_STREQ(error, "image 'localhost/bad:1': layer 0 has unknown media type "
                            "'application/x-unknown'");
        error = mfree(error);
        m = mfree(m);

        /* a config whose diff-id is not the layer's */
        m = write_image(layout, "1", &l, 1, NULL,
                        "sha256:1111111111111111111111111111111111111111111111111111111111111111");
        ASSERT_ERROR(image_store_import_oci_layout(s, layout, "localhost/bad:1", NULL, &error),
                     EBADMSG);
        ASSERT_NOT_NULL(strstr(error, "diff-id mismatch"));
        error = mfree(error);
        m = mfree(m);
        layer_done(&l);

        /* path traversal */
        evil = add_layer(layout, evil_files, ELEMENTSOF(evil_files), 0, true);
        m = write_image(layout, "1", &evil, 1, NULL, NULL);
        ASSERT_ERROR(image_store_import_oci_layout(s, layout, "localhost/evil:1", NULL, &error),
                     EINVAL);
        ASSERT_NOT_NULL(strstr(error, "image 'localhost/evil:1': layer sha256:"));
        ASSERT_NOT_NULL(strstr(error, "entry '../x': path is absolute or leaves the layer"));
        error = mfree(error);
        layer_done(&evil);

        /* no index.json */
        ASSERT_ERROR(image_store_import_oci_layout(s, store, "localhost/x:1", NULL, &error),
                     ENOENT);
        error = mfree(error);

        ASSERT_OK(image_store_list(s, &list, &n));
        ASSERT_EQ(n, 0);
        image_info_list_free(list, n);
        ASSERT_EQ(count_in(store, "layers"), 0);
        ASSERT_EQ(count_in(store, "blobs/sha256"), 0);
}

TEST(blob_writer) {
        _cleanup_(image_store_closep) ImageStore *s = NULL;
        _cleanup_(image_blob_writer_freep) ImageBlobWriter *w = NULL;
        _cleanup_free_ char *store = tmp_path("store"), *digest = digest_of("hello", 5);
        _cleanup_close_ int fd = -EBADF;
        char buf[8] = {};

        ASSERT_OK(image_store_open(store, &s));
        ASSERT_ERROR(image_store_blob_begin(s, "sha256:abc", &w), EINVAL);

        ASSERT_OK(image_store_blob_begin(s, digest, &w));
        ASSERT_OK(loop_write(image_blob_writer_fd(w), "hellO", 5));
        ASSERT_ERROR(image_store_blob_commit(s, w), EBADMSG);
        ASSERT_EQ(image_store_has_blob(s, digest), 0);
        w = image_blob_writer_free(w);

        /* written out of order, as a resumed download would */
        ASSERT_OK(image_store_blob_begin(s, digest, &w));
        ASSERT_EQ(pwrite(image_blob_writer_fd(w), "llo", 3, 2), 3);
        ASSERT_EQ(pwrite(image_blob_writer_fd(w), "he", 2, 0), 2);
        ASSERT_OK(image_store_blob_commit(s, w));
        ASSERT_EQ(image_store_has_blob(s, digest), 1);
        fd = image_store_blob_open(s, digest);
        ASSERT_OK(fd);
        ASSERT_EQ(read(fd, buf, sizeof buf), 5);
        ASSERT_STREQ(buf, "hello");
        ASSERT_ERROR(image_store_blob_open(s, "sha256:00"), EINVAL);
        ASSERT_EQ(count_in(store, "blobs/sha256"), 1);
}

#define BIG_LAYER_SIZE (16U * 1024U * 1024U)

static Layer big_layer_in_store(ImageStore *s) {
        _cleanup_free_ char *layout = tmp_path("big");
        _cleanup_close_ int fd = -EBADF;
        char p[PATH_MAX];
        Layer l = add_layer(layout, base_files, ELEMENTSOF(base_files), BIG_LAYER_SIZE, true);

        snprintf(p, sizeof p, "%s/blobs/sha256/%s", layout, l.blob + 7);
        fd = open(p, O_RDONLY | O_CLOEXEC);
        ASSERT_OK(fd);
        ASSERT_EQ(image_store_blob_import_fd(s, l.blob, fd), 1);
        return l;
}

TEST(crash_mid_unpack_leaves_no_layer) {
        _cleanup_(image_store_closep) ImageStore *s = NULL;
        _cleanup_free_ char *store = tmp_path("store"), *tmp = NULL, *done = NULL;
        _cleanup_free_ char *path = NULL;
        struct timespec pause = { 0, 200000 };
        struct stat st;
        Layer l;
        int status;
        pid_t pid;

        need_root();
        ASSERT_OK(image_store_open(store, &s));
        l = big_layer_in_store(s);
        tmp = strjoin(store, "/layers/.tmp-", l.diff_id + 7);
        done = strjoin(store, "/layers/", l.diff_id + 7);

        pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                ImageStore *c = NULL;
                if (image_store_open(store, &c) < 0)
                        _exit(2);
                (void) image_store_layer_unpack(c, l.blob, l.diff_id, NULL);
                _exit(3); /* never reached: killed before */
        }
        /* Kill it once the big file is being written. */
        for (unsigned i = 0; i < 200000; i++) {
                char p[PATH_MAX];
                snprintf(p, sizeof p, "%s/big", tmp);
                if (stat(p, &st) >= 0 && st.st_size > 0)
                        break;
                nanosleep(&pause, NULL);
        }
        ASSERT_OK(kill(pid, SIGKILL));
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        ASSERT_TRUE(WIFSIGNALED(status));
        ASSERT_TRUE(stat(tmp, &st) >= 0);
        ASSERT_TRUE(stat(done, &st) < 0);
        ASSERT_ERROR(image_store_layer_path(s, l.diff_id, &path), ENOENT);

        /* reopening cleans up; the next unpack does the work again */
        s = image_store_close(s);
        ASSERT_OK(image_store_open(store, &s));
        ASSERT_TRUE(stat(tmp, &st) < 0);
        ASSERT_EQ(image_store_layer_unpack(s, l.blob, l.diff_id, NULL), 1);
        ASSERT_OK(image_store_layer_path(s, l.diff_id, &path));
        ASSERT_STREQ(path, done);
        ASSERT_TRUE(stat(done, &st) >= 0);
        ASSERT_EQ(image_store_layer_unpack(s, l.blob, l.diff_id, NULL), 0);
        layer_done(&l);
}

TEST(concurrent_unpack_shares_the_work) {
        _cleanup_(image_store_closep) ImageStore *s = NULL;
        _cleanup_free_ char *store = tmp_path("store");
        int go[2], results[2] = {}, status;
        pid_t pids[2];
        Layer l;

        need_root();
        ASSERT_OK(image_store_open(store, &s));
        l = big_layer_in_store(s);
        /* The children open their own: a sqlite handle must not cross fork(). */
        s = image_store_close(s);
        ASSERT_OK(pipe2(go, O_CLOEXEC));
        for (unsigned i = 0; i < 2; i++) {
                pids[i] = fork();
                ASSERT_TRUE(pids[i] >= 0);
                if (pids[i] == 0) {
                        ImageStore *c = NULL;
                        char b;
                        int r = -EIO;

                        close(go[1]);
                        if (image_store_open(store, &c) >= 0 &&
                            read(go[0], &b, 1) == 0) /* both start when the pipe closes */
                                r = image_store_layer_unpack(c, l.blob, l.diff_id, NULL);
                        image_store_close(c);
                        /* nothing left for valgrind to call lost in the child */
                        layer_done(&l);
                        free(store);
                        _exit(r < 0 ? 12 : r);
                }
        }
        close(go[0]);
        close(go[1]);
        for (unsigned i = 0; i < 2; i++) {
                ASSERT_EQ(waitpid(pids[i], &status, 0), pids[i]);
                ASSERT_TRUE(WIFEXITED(status));
                results[i] = WEXITSTATUS(status);
        }
        /* exactly one of them unpacked, the other waited and found the layer */
        if (!((results[0] == 1 && results[1] == 0) || (results[0] == 0 && results[1] == 1)))
                test_fail(__FILE__, __LINE__, "unpack results %d and %d, expected 1 and 0",
                          results[0], results[1]);
        ASSERT_EQ(count_in(store, "layers"), 1);
        layer_done(&l);
}

static const char *host_arch(void) {
#if defined(__x86_64__)
        return "amd64";
#elif defined(__aarch64__)
        return "arm64";
#else
        return NULL;
#endif
}

TEST(nested_index_platform_selection) {
        _cleanup_(image_store_closep) ImageStore *s = NULL;
        _cleanup_(image_config_freep) ImageConfig *c = NULL;
        _cleanup_free_ char *store = tmp_path("store"), *layout = tmp_path("multi");
        _cleanup_free_ char *manifest = NULL, *nested = NULL, *text = NULL, *got = NULL;
        _cleanup_free_ char *error = NULL;
        char path[PATH_MAX];
        Layer l;
        json_t *j;

        need_root();
        if (!host_arch())
                test_skip("no architecture name for this host in the test");
        l = add_layer(layout, base_files, ELEMENTSOF(base_files), 0, false);
        manifest = write_image(layout, "ignored", &l, 1, NULL, NULL);
        /* an index for two platforms, behind a top-level index without annotations */
        j = json_pack("{s:i, s:s, s:[{s:s, s:s, s:i, s:{s:s, s:s}}, {s:s, s:s, s:i, s:{s:s, "
                      "s:s}}]}",
                      "schemaVersion", 2, "mediaType", "application/vnd.oci.image.index.v1+json",
                      "manifests", "mediaType", "application/vnd.oci.image.manifest.v1+json",
                      "digest",
                      "sha256:2222222222222222222222222222222222222222222222222222222222222222",
                      "size", 1, "platform", "os", "linux", "architecture", "mips64le", "mediaType",
                      "application/vnd.oci.image.manifest.v1+json", "digest", manifest, "size", 1,
                      "platform", "os", "linux", "architecture", host_arch());
        ASSERT_NOT_NULL(j);
        text = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        nested = layout_blob(layout, text, strlen(text));
        text = mfree(text);
        j = json_pack("{s:i, s:[{s:s, s:s, s:i}]}", "schemaVersion", 2, "manifests", "mediaType",
                      "application/vnd.oci.image.index.v1+json", "digest", nested, "size", 1);
        text = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        snprintf(path, sizeof path, "%s/index.json", layout);
        ASSERT_OK(write_string_file_atomic(path, text, 0644));

        ASSERT_OK(image_store_open(store, &s));
        ASSERT_OK(image_store_import_oci_layout(s, layout, "localhost/multi:2", &got, &error));
        ASSERT_STREQ(got, manifest);
        ASSERT_OK(image_store_config(s, "localhost/multi:2", &c));
        ASSERT_STREQ(c->stop_signal, "SIGQUIT");
        /* the blob is there: importing it again adds nothing */
        {
                _cleanup_close_ int fd = -EBADF;
                snprintf(path, sizeof path, "%s/blobs/sha256/%s", layout, manifest + 7);
                fd = open(path, O_RDONLY | O_CLOEXEC);
                ASSERT_EQ(image_store_blob_import_fd(s, manifest, fd), 0);
        }
        layer_done(&l);

        /* an index with no entry for this host */
        j = json_pack("{s:i, s:[{s:s, s:s, s:i, s:{s:s, s:s}}, {s:s, s:s, s:i, s:{s:s, s:s}}]}",
                      "schemaVersion", 2, "manifests", "mediaType",
                      "application/vnd.oci.image.manifest.v1+json", "digest", manifest, "size", 1,
                      "platform", "os", "linux", "architecture", "mips64le", "mediaType",
                      "application/vnd.oci.image.manifest.v1+json", "digest", manifest, "size", 1,
                      "platform", "os", "windows", "architecture", host_arch());
        text = mfree(text);
        text = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        snprintf(path, sizeof path, "%s/index.json", layout);
        ASSERT_OK(write_string_file_atomic(path, text, 0644));
        ASSERT_ERROR(image_store_import_oci_layout(s, layout, "localhost/multi:3", NULL, &error),
                     ENOENT);
        ASSERT_NOT_NULL(strstr(error, "image 'localhost/multi:3': no manifest for linux/"));
}

/* ---- archives and export ---------------------------------------------------------------- */

typedef struct TarFile {
        char *name;
        char *data;
        size_t size;
        char *symlink; /* a symbolic link to this instead */
} TarFile;

/* A tar of the files at path (plain, or gzip-compressed). */
static void write_tar(const char *path, const TarFile *files, size_t n, bool gzip) {
        struct archive *a = archive_write_new();

        ASSERT_EQ(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
        if (gzip)
                ASSERT_EQ(archive_write_add_filter_gzip(a), ARCHIVE_OK);
        ASSERT_EQ(archive_write_open_filename(a, path), ARCHIVE_OK);
        for (size_t i = 0; i < n; i++) {
                struct archive_entry *e = archive_entry_new();

                archive_entry_set_pathname(e, files[i].name);
                if (files[i].symlink) {
                        archive_entry_set_filetype(e, AE_IFLNK);
                        archive_entry_set_perm(e, 0777);
                        archive_entry_set_symlink(e, files[i].symlink);
                        ASSERT_EQ(archive_write_header(a, e), ARCHIVE_OK);
                        archive_entry_free(e);
                        continue;
                }
                archive_entry_set_filetype(e, AE_IFREG);
                archive_entry_set_perm(e, 0644);
                archive_entry_set_size(e, (la_int64_t) files[i].size);
                ASSERT_EQ(archive_write_header(a, e), ARCHIVE_OK);
                ASSERT_EQ(archive_write_data(a, files[i].data, files[i].size),
                          (la_ssize_t) files[i].size);
                archive_entry_free(e);
        }
        ASSERT_EQ(archive_write_close(a), ARCHIVE_OK);
        archive_write_free(a);
}

static void tar_files_done(TarFile *files, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(files[i].name);
                free(files[i].data);
                free(files[i].symlink);
        }
}

/* The files of an OCI layout directory (index.json, oci-layout, blobs), for write_tar(). */
static size_t layout_files(const char *layout, TarFile *files, size_t max) {
        char p[PATH_MAX];
        struct dirent *de;
        size_t n = 0;
        DIR *d;

        for (const char *const *f = (const char *const[]){ "index.json", "oci-layout", NULL }; *f;
             f++) {
                snprintf(p, sizeof p, "%s/%s", layout, *f);
                files[n].name = strdup(*f);
                ASSERT_OK(read_full_file(p, SIZE_MAX, &files[n].data, &files[n].size));
                n++;
        }
        snprintf(p, sizeof p, "%s/blobs/sha256", layout);
        d = opendir(p);
        ASSERT_NOT_NULL(d);
        while ((de = readdir(d)) && n < max) {
                if (de->d_name[0] == '.')
                        continue;
                snprintf(p, sizeof p, "%s/blobs/sha256/%s", layout, de->d_name);
                files[n].name = strjoin("blobs/sha256/", de->d_name);
                ASSERT_OK(read_full_file(p, SIZE_MAX, &files[n].data, &files[n].size));
                n++;
        }
        closedir(d);
        return n;
}

/* The names in a tar, in order, joined by spaces. */
static char *tar_names(const char *path) {
        struct archive *a = archive_read_new();
        struct archive_entry *e;
        char *names = strdup("");

        ASSERT_EQ(archive_read_support_format_tar(a), ARCHIVE_OK);
        ASSERT_EQ(archive_read_open_filename(a, path, 10240), ARCHIVE_OK);
        while (archive_read_next_header(a, &e) == ARCHIVE_OK)
                ASSERT_OK(strextend(&names, names[0] ? " " : "", archive_entry_pathname(e)));
        archive_read_free(a);
        return names;
}

static json_t *load_json_file(const char *dir, const char *name) {
        char p[PATH_MAX];

        snprintf(p, sizeof p, "%s/%s", dir, name);
        return json_load_file(p, 0, NULL);
}

TEST(export_layout_and_archive_round_trip) {
        _cleanup_(image_store_closep) ImageStore *s = NULL, *t = NULL;
        _cleanup_free_ char *store = tmp_path("store"), *layout = tmp_path("img");
        _cleanup_free_ char *out_dir = tmp_path("out/layout"), *out_tar = tmp_path("out/img.tar");
        _cleanup_free_ char *other = tmp_path("other"), *manifest = NULL, *got = NULL;
        _cleanup_free_ char *error = NULL, *name = NULL, *names = NULL, *out = tmp_path("out");
        _cleanup_strv_free_ char **lowers = NULL;
        Layer layers[2];
        json_t *j, *a;
        char p[PATH_MAX];

        need_root();
        manifest = two_layer_image("img", "1", layers);
        ASSERT_OK(image_store_open(store, &s));
        ASSERT_OK(image_store_import_oci_layout(s, layout, "localhost/test:1", NULL, NULL));
        ASSERT_OK(mkdir_p(out, 0755));

        /* a layout directory: blobs byte for byte, the reference in index.json */
        ASSERT_OK(image_store_export(s, "localhost/test:1", out_dir, IMAGE_EXPORT_OCI_LAYOUT, &got,
                                     &error));
        ASSERT_NULL(error);
        ASSERT_STREQ(got, manifest);
        got = mfree(got);
        ASSERT_EQ(count_in(out_dir, "blobs/sha256"), 4);
        for (unsigned i = 0; i < 2; i++) {
                _cleanup_free_ char *x = NULL, *y = NULL;
                size_t nx, ny;

                snprintf(p, sizeof p, "%s/blobs/sha256/%s", out_dir, layers[i].blob + 7);
                ASSERT_OK(read_full_file(p, SIZE_MAX, &x, &nx));
                snprintf(p, sizeof p, "%s/blobs/sha256/%s", layout, layers[i].blob + 7);
                ASSERT_OK(read_full_file(p, SIZE_MAX, &y, &ny));
                ASSERT_EQ(nx, ny);
                ASSERT_TRUE(memcmp(x, y, nx) == 0);
        }
        j = load_json_file(out_dir, "index.json");
        ASSERT_NOT_NULL(j);
        a = json_object_get(json_array_get(json_object_get(j, "manifests"), 0), "annotations");
        ASSERT_STREQ(json_string_value(json_object_get(a, "io.containerd.image.name")),
                     "localhost/test:1");
        ASSERT_STREQ(json_string_value(json_object_get(a, "org.opencontainers.image.ref.name")),
                     "1");
        ASSERT_STREQ(json_string_value(json_object_get(
                             json_object_get(json_array_get(json_object_get(j, "manifests"), 0),
                                             "platform"),
                             "architecture")),
                     "amd64");
        json_decref(j);
        j = load_json_file(out_dir, "manifest.json");
        ASSERT_NOT_NULL(j);
        ASSERT_STREQ(json_string_value(
                             json_array_get(json_object_get(json_array_get(j, 0), "RepoTags"), 0)),
                     "localhost/test:1");
        ASSERT_EQ(json_array_size(json_object_get(json_array_get(j, 0), "Layers")), 2);
        json_decref(j);
        j = load_json_file(out_dir, "oci-layout");
        ASSERT_STREQ(json_string_value(json_object_get(j, "imageLayoutVersion")), "1.0.0");
        json_decref(j);

        /* a non-empty directory is not replaced */
        ASSERT_ERROR(image_store_export(s, "localhost/test:1", out_dir, IMAGE_EXPORT_OCI_LAYOUT,
                                        NULL, &error),
                     EEXIST);
        ASSERT_NOT_NULL(strstr(error, "cannot replace"));
        error = mfree(error);
        ASSERT_EQ(count_in(out_dir, "blobs/sha256"), 4);

        /* an archive: a tar of the same, metadata first; an existing file is replaced */
        ASSERT_OK(write_string_file_atomic(out_tar, "old", 0644));
        ASSERT_OK(image_store_export(s, "localhost/test:1", out_tar, IMAGE_EXPORT_ARCHIVE, NULL,
                                     NULL));
        names = tar_names(out_tar);
        ASSERT_TRUE(startswith(names, "blobs/ blobs/sha256/ oci-layout index.json manifest.json "
                                      "blobs/sha256/"));
        ASSERT_EQ(count_entries(out), 2); /* no temporary file left beside them */

        /* imported into another store under the name it carries, with the same layers */
        ASSERT_OK(image_store_open(other, &t));
        ASSERT_OK(image_store_import(t, out_tar, NULL, &name, &got, &error));
        ASSERT_NULL(error);
        ASSERT_STREQ(name, "localhost/test:1");
        ASSERT_STREQ(got, manifest);
        ASSERT_OK(image_store_rootfs(t, "localhost/test:1", &lowers));
        ASSERT_EQ(strv_length(lowers), 2);
        ASSERT_EQ(count_in(other, "blobs/sha256"), 4);
        got = mfree(got);
        name = mfree(name);
        /* and the directory, under another name */
        ASSERT_OK(image_store_import(t, out_dir, "localhost/copy:2", &name, &got, NULL));
        ASSERT_STREQ(name, "localhost/copy:2");
        ASSERT_STREQ(got, manifest);
        ASSERT_EQ(count_in(other, "blobs/sha256"), 4);

        /* by digest: no name to carry */
        snprintf(p, sizeof p, "%s/bydigest.tar", out);
        ASSERT_OK(image_store_export(s, manifest, p, IMAGE_EXPORT_ARCHIVE, NULL, NULL));
        t = image_store_close(t);
        free(other);
        other = tmp_path("third");
        ASSERT_OK(image_store_open(other, &t));
        ASSERT_ERROR(image_store_import(t, p, NULL, NULL, NULL, &error), EINVAL);
        ASSERT_NOT_NULL(strstr(error, "does not name its image"));
        error = mfree(error);

        ASSERT_ERROR(image_store_export(s, "localhost/none:1", out_tar, IMAGE_EXPORT_ARCHIVE, NULL,
                                        &error),
                     ENOENT);
        ASSERT_STREQ(error, "No such image 'localhost/none:1'.");
        error = mfree(error);
        ASSERT_ERROR(image_store_export(s, "localhost/test:1", "relative.tar", IMAGE_EXPORT_ARCHIVE,
                                        NULL, &error),
                     EINVAL);
        error = mfree(error);
        snprintf(p, sizeof p, "%s/nosuchdir/x.tar", out);
        ASSERT_ERROR(
                image_store_export(s, "localhost/test:1", p, IMAGE_EXPORT_ARCHIVE, NULL, &error),
                ENOENT);
        layer_done(&layers[0]);
        layer_done(&layers[1]);
}

/* A docker archive of a two-layer image as docker and podman save write it: config
 * "<hex>.json", layers as uncompressed tars ("<diff-id hex>.tar", or "<id>/layer.tar" as older
 * docker did, here a symbolic link to the tar, as podman writes it), manifest.json. bad: 0 none, 1
 * config named after another digest, 2 a layer the config's diff_ids do not list, 3 no RepoTags. */
static void docker_archive(const char *path, int bad, char **ret_config_digest) {
        _cleanup_free_ char *config_text = NULL, *config_digest = NULL, *manifest = NULL;
        TarFile files[6] = {};
        char *diff[2];
        json_t *j;

        for (unsigned i = 0; i < 2; i++) {
                const File *f = i == 0 ? base_files : top_files;
                make_tar(f, i == 0 ? ELEMENTSOF(base_files) : ELEMENTSOF(top_files), 0, false,
                         &files[i].data, &files[i].size);
                diff[i] = digest_of(files[i].data, files[i].size);
        }
        files[0].name = strjoin(diff[0] + 7, ".tar");
        files[1].name = strjoin(diff[1] + 7, ".tar");
        files[5].name = strdup("0123abcd/layer.tar");
        files[5].symlink = strjoin("../", diff[1] + 7, ".tar");
        j = json_pack(
                "{s:s, s:s, s:{s:[s]}, s:{s:s, s:[s, s]}}", "architecture", "amd64", "os", "linux",
                "config", "Cmd", "/bin/sh", "rootfs", "type", "layers", "diff_ids", diff[0],
                bad == 2 ? "sha256:3333333333333333333333333333333333333333333333333333333333333333"
                         : diff[1]);
        config_text = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        config_digest = digest_of(config_text, strlen(config_text));
        files[2].name = strjoin(bad == 1 ? diff[0] + 7 : config_digest + 7, ".json");
        files[2].data = strdup(config_text);
        files[2].size = strlen(config_text);
        j = json_pack("[{s:s, s:[s], s:[s, s]}]", "Config", files[2].name, "RepoTags",
                      "localhost/dock:2", "Layers", files[0].name, files[5].name);
        if (bad == 3)
                json_object_set_new(json_array_get(j, 0), "RepoTags", json_null());
        manifest = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        files[3].name = strdup("manifest.json");
        files[3].data = strdup(manifest);
        files[3].size = strlen(manifest);
        files[4].name = strdup("repositories");
        files[4].data = strdup("{}");
        files[4].size = 2;
        write_tar(path, files, 6, false);
        tar_files_done(files, 6);
        free(diff[0]);
        free(diff[1]);
        if (ret_config_digest)
                *ret_config_digest = TAKE_PTR(config_digest);
}

TEST(docker_archive_import) {
        _cleanup_(image_store_closep) ImageStore *s = NULL;
        _cleanup_(image_config_freep) ImageConfig *c = NULL;
        _cleanup_free_ char *store = tmp_path("store"), *tar = tmp_path("docker.tar");
        _cleanup_free_ char *config = NULL, *name = NULL, *got = NULL, *error = NULL;
        _cleanup_free_ char *json = NULL, *out = tmp_path("re.tar");
        _cleanup_strv_free_ char **lowers = NULL;
        json_t *j;

        need_root();
        docker_archive(tar, 0, &config);
        ASSERT_OK(image_store_open(store, &s));
        ASSERT_OK(image_store_import(s, tar, NULL, &name, &got, &error));
        ASSERT_NULL(error);
        ASSERT_STREQ(name, "localhost/dock:2");
        ASSERT_OK(image_store_rootfs(s, "localhost/dock:2", &lowers));
        ASSERT_EQ(strv_length(lowers), 2);
        ASSERT_OK(image_store_config(s, "localhost/dock:2", &c));
        ASSERT_STREQ(c->cmd[0], "/bin/sh");
        ASSERT_OK(image_store_inspect(s, got, &json));
        j = json_loads(json, 0, NULL);
        ASSERT_STREQ(json_string_value(json_object_get(json_object_get(j, "Config"), "os")),
                     "linux");
        json_decref(j);
        /* manifest (made here), config and two layers */
        ASSERT_EQ(count_in(store, "blobs/sha256"), 4);
        ASSERT_EQ(count_in(store, "layers"), 2);

        /* under a name of our choosing too; the same blobs */
        name = mfree(name);
        ASSERT_OK(image_store_import(s, tar, "localhost/renamed:1", &name, NULL, NULL));
        ASSERT_STREQ(name, "localhost/renamed:1");
        ASSERT_EQ(count_in(store, "blobs/sha256"), 4);

        /* exported again, it is an OCI archive of the same manifest */
        ASSERT_OK(image_store_export(s, "localhost/renamed:1", out, IMAGE_EXPORT_ARCHIVE, NULL,
                                     NULL));
        s = image_store_close(s);
        free(store);
        store = tmp_path("store2");
        ASSERT_OK(image_store_open(store, &s));
        name = mfree(name);
        {
                _cleanup_free_ char *again = NULL;
                ASSERT_OK(image_store_import(s, out, NULL, &name, &again, NULL));
                ASSERT_STREQ(name, "localhost/renamed:1");
                ASSERT_STREQ(again, got);
        }
}

static void assert_store_empty(ImageStore *s, const char *store) {
        ImageInfo *list = NULL;
        size_t n;

        ASSERT_OK(image_store_list(s, &list, &n));
        ASSERT_EQ(n, 0);
        image_info_list_free(list, n);
        ASSERT_EQ(count_in(store, "blobs/sha256"), 0);
        ASSERT_EQ(count_in(store, "layers"), 0);
}

TEST(corrupt_archives_are_rejected) {
        _cleanup_(image_store_closep) ImageStore *s = NULL;
        _cleanup_free_ char *store = tmp_path("store"), *layout = tmp_path("img");
        _cleanup_free_ char *tar = tmp_path("x.tar"), *good = tmp_path("good.tar");
        _cleanup_free_ char *error = NULL, *data = NULL, *manifest = NULL;
        TarFile files[16] = {};
        Layer layers[2];
        size_t n, size;

        need_root();
        manifest = two_layer_image("img", "1", layers);
        ASSERT_OK(image_store_open(store, &s));

        /* not a tar at all, and nothing */
        ASSERT_OK(write_string_file_atomic(tar, "this is not an archive\n", 0644));
        ASSERT_ERROR(image_store_import(s, tar, "localhost/x:1", NULL, NULL, &error), EBADMSG);
        ASSERT_NOT_NULL(strstr(error, "not a tar archive"));
        error = mfree(error);
        ASSERT_OK(write_string_file_atomic(tar, "", 0644));
        ASSERT_ERROR(image_store_import(s, tar, "localhost/x:1", NULL, NULL, &error), EBADMSG);
        error = mfree(error);

        /* a tar that is neither layout nor docker archive */
        files[0] = (TarFile){ strdup("hello.txt"), strdup("hi"), 2 };
        write_tar(tar, files, 1, false);
        tar_files_done(files, 1);
        ASSERT_ERROR(image_store_import(s, tar, "localhost/x:1", NULL, NULL, &error), EBADMSG);
        ASSERT_NOT_NULL(strstr(error, "neither an OCI layout (index.json) nor a docker archive"));
        error = mfree(error);

        /* an OCI archive (gzip-compressed) with one blob tampered with */
        n = layout_files(layout, files, ELEMENTSOF(files));
        write_tar(good, files, n, true);
        for (size_t i = 0; i < n; i++)
                if (endswith(files[i].name, layers[0].blob + 7))
                        files[i].data[files[i].size / 2] ^= 1;
        write_tar(tar, files, n, true);
        tar_files_done(files, n);
        ASSERT_ERROR(image_store_import(s, tar, "localhost/x:1", NULL, NULL, &error), EBADMSG);
        ASSERT_NOT_NULL(strstr(error, "digest mismatch"));
        error = mfree(error);
        assert_store_empty(s, store);

        /* truncated halfway: nothing stored */
        ASSERT_OK(read_full_file(good, SIZE_MAX, &data, &size));
        ASSERT_OK(write_file_atomic(tar, data, size / 2, 0644));
        ASSERT_ERROR(image_store_import(s, tar, "localhost/x:1", NULL, NULL, &error), EBADMSG);
        ASSERT_NOT_NULL(strstr(error, "truncated"));
        error = mfree(error);
        assert_store_empty(s, store);
        /* the intact one imports, and the layout's single entry needs no name match */
        ASSERT_OK(image_store_import(s, good, "localhost/x:1", NULL, NULL, NULL));
        ASSERT_OK(image_store_remove(s, "localhost/x:1"));
        ASSERT_EQ(image_store_prune(s, NULL), 6);

        /* docker archives: a config whose name states another digest, a layer the config does
         * not list, no name */
        docker_archive(tar, 1, NULL);
        ASSERT_ERROR(image_store_import(s, tar, NULL, NULL, NULL, &error), EBADMSG);
        ASSERT_NOT_NULL(strstr(error, "Config '"));
        ASSERT_NOT_NULL(strstr(error, "digest mismatch"));
        error = mfree(error);
        docker_archive(tar, 2, NULL);
        ASSERT_ERROR(image_store_import(s, tar, NULL, NULL, NULL, &error), EBADMSG);
        ASSERT_NOT_NULL(strstr(error, "the config says sha256:3333"));
        error = mfree(error);
        assert_store_empty(s, store);
        docker_archive(tar, 3, NULL);
        ASSERT_ERROR(image_store_import(s, tar, NULL, NULL, NULL, &error), EINVAL);
        ASSERT_NOT_NULL(strstr(error, "does not name its image"));
        error = mfree(error);
        assert_store_empty(s, store);

        /* one name twice with different contents */
        files[0] = (TarFile){ strdup("manifest.json"), strdup("[]"), 2 };
        files[1] = (TarFile){ strdup("manifest.json"), strdup("{}"), 2 };
        write_tar(tar, files, 2, false);
        tar_files_done(files, 2);
        ASSERT_ERROR(image_store_import(s, tar, "localhost/x:1", NULL, NULL, &error), EBADMSG);
        ASSERT_NOT_NULL(strstr(error, "appears twice"));
        error = mfree(error);
        assert_store_empty(s, store);
        layer_done(&layers[0]);
        layer_done(&layers[1]);
}
