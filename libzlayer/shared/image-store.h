/* SPDX-License-Identifier: Apache-2.0 */
/* image-store.h: the content-addressed image store: blobs, unpacked layers, tags in sqlite. */
#pragma once

#include <errno.h>
#include <stdint.h>

#include "macro.h"

/* Layout under the root directory (zl-runtimed's <state>/images):
 *   blobs/sha256/<hex>     blobs, as in an OCI image layout
 *   layers/<diff-id hex>/  unpacked layers, usable as overlay lowerdirs
 *   locks/<hex>.lock       one lock per layer being unpacked
 *   images.db              sqlite: images (tags), manifests, layers with refcounts, blobs
 * Several processes may use one store at once, each with its own ImageStore: unpacks of one
 * layer share the work, and prune excludes everything else for its duration. An ImageStore is
 * used by one thread at a time, except for the blob functions, which only touch files and may
 * run in parallel (one thread per download). Prune removes blobs no image records yet: callers
 * must not prune while a pull is between committing blobs and image_store_add_image(). */
typedef struct ImageStore ImageStore;
typedef struct ImageBlobWriter ImageBlobWriter;

int image_store_open(const char *root, ImageStore **ret);
ImageStore *image_store_close(ImageStore *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(ImageStore *, image_store_close);

/* ---- blobs: the seam for the registry client ---------------------------------------------
 * begin gives an anonymous temporary file (O_TMPFILE, so a crash leaves nothing) whose fd the
 * caller writes the blob into, in any order (a resumed download may seek); commit checks the
 * SHA-256 of the whole file against the digest (-EBADMSG on mismatch) and links it into
 * blobs/sha256/<hex>. The writer must be freed either way; freeing without commit discards. */
int image_store_blob_begin(ImageStore *s, const char *digest, ImageBlobWriter **ret);
int image_blob_writer_fd(ImageBlobWriter *w);
int image_store_blob_commit(ImageStore *s, ImageBlobWriter *w);
ImageBlobWriter *image_blob_writer_free(ImageBlobWriter *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(ImageBlobWriter *, image_blob_writer_free);
/* Copies fd (from its current position to EOF) into the store as digest. 1 if the blob was
 * added, 0 if it was there already (fd is then not read). */
int image_store_blob_import_fd(ImageStore *s, const char *digest, int fd);
/* 1 if present, 0 if not. */
int image_store_has_blob(ImageStore *s, const char *digest);
/* Opens a stored blob read-only. -ENOENT if absent. */
int image_store_blob_open(ImageStore *s, const char *digest);

/* ---- layers ------------------------------------------------------------------------------ */
/* Unpacks the stored layer blob into layers/<diff-id hex>/ unless it is there already,
 * verifying the diff-id. Concurrent callers (other processes, other ImageStores) for one
 * layer wait for the first and share its result. 1 if this call unpacked it, 0 if it was present.
 * On failure *ret_error (if not NULL) names the layer and the entry. */
int image_store_layer_unpack(ImageStore *s, const char *blob_digest, const char *diff_id,
                             char **ret_error);
/* The directory of an unpacked layer. -ENOENT if not unpacked. */
int image_store_layer_path(ImageStore *s, const char *diff_id, char **ret);

/* ---- images ------------------------------------------------------------------------------ */
/* Records ref (a reference image_ref_parse accepts) as the image whose manifest blob (already
 * stored, like its config and layer blobs) is manifest_digest: unpacks its layers and takes a
 * reference on them. Manifests: OCI image manifest and Docker v2 schema 2; layers tar, gzip
 * or zstd. Errors: -ENOENT for a missing blob, -EPROTONOSUPPORT for an unknown media type,
 * -EBADMSG for invalid JSON or a layer that fails to unpack, -EINVAL (unsafe layer paths) and
 * -ELOOP as layer_unpack(); *ret_error then names the image and the cause. On failure no
 * image, tag or reference changes. */
int image_store_add_image(ImageStore *s, const char *ref, const char *manifest_digest,
                          char **ret_error);
/* Imports from an OCI image layout directory (index.json -> manifest -> config -> layers) and
 * tags the result as ref. The index entry is the one annotated with ref's tag
 * (org.opencontainers.image.ref.name), else the only one, else the one for linux and this
 * host's architecture (nested indexes too). Blobs are checked against their digests. Blobs
 * this call added are removed again if it fails. *ret_manifest_digest may be NULL. */
int image_store_import_oci_layout(ImageStore *s, const char *dir, const char *ref,
                                  char **ret_manifest_digest, char **ret_error);
/* The same from path, which is an OCI image layout directory or an archive (a tar, plain or
 * compressed): an OCI layout archive (index.json; oci-archive) or a docker archive (docker save,
 * podman save: manifest.json naming each image's config and layer files), which becomes an OCI
 * manifest over the same config and layer blobs. Every blob is checked against the digest that
 * names it (in an OCI layout), the digest its file name states (docker's "<hex>.json",
 * "<hex>.tar") and the config's diff_ids. The archive is read once and never unpacked onto the
 * file system. ref NULL: the name the layout or archive gives (io.containerd.image.name or a
 * whole reference in org.opencontainers.image.ref.name; RepoTags), else -EINVAL; *ret_ref (may
 * be NULL) gets the reference used. -EBADMSG for a malformed or corrupt archive. On failure the
 * store is unchanged and *ret_error says why. */
int image_store_import(ImageStore *s, const char *path, const char *ref, char **ret_ref,
                       char **ret_manifest_digest, char **ret_error);

typedef enum ImageExportFormat {
        IMAGE_EXPORT_OCI_LAYOUT, /* a directory */
        IMAGE_EXPORT_ARCHIVE, /* a tar of that directory */
        _IMAGE_EXPORT_FORMAT_MAX,
        _IMAGE_EXPORT_FORMAT_INVALID = -EINVAL,
} ImageExportFormat;

/* Writes the image ref names to path (absolute) as an OCI image layout: oci-layout, index.json
 * (its one entry annotated with the reference, org.opencontainers.image.ref.name its tag, and
 * with the platform of its config) and the manifest, config and layer blobs exactly as stored,
 * copied by reflink or in the kernel where the file system allows. A docker save manifest.json
 * beside them makes the archive loadable by docker and podman as a docker archive too. The
 * result is built under a temporary name beside path, synced, then renamed over it: an existing
 * file (archive) or empty directory (layout) is replaced, never half-written; a non-empty
 * directory is an error. -ENOENT for an unknown image. */
int image_store_export(ImageStore *s, const char *ref, const char *path, ImageExportFormat format,
                       char **ret_manifest_digest, char **ret_error);

/* Another name for an image: source and target are references; -ENOENT if source is unknown. */
int image_store_tag(ImageStore *s, const char *source, const char *target);
/* Removes a reference. With a tag: that tag. With a digest (or a bare "sha256:..."): every tag
 * of that manifest. A manifest without tags releases its layers (prune frees them). */
int image_store_remove(ImageStore *s, const char *ref);
/* Removes layers nobody references and blobs no image uses, and anything in layers/ or blobs/
 * the database does not know. Returns the number of layers and blobs freed. */
int image_store_prune(ImageStore *s, uint64_t *ret_bytes_freed);

typedef struct ImageInfo {
        char *repository; /* "docker.io/library/nginx" */
        char *tag; /* "latest", or NULL for an image known only by digest */
        char *manifest_digest;
        char *config_digest;
        int64_t created; /* usec since the epoch: when the store got it */
        int64_t last_used; /* usec: last image_store_rootfs() */
} ImageInfo;

void image_info_list_free(ImageInfo *list, size_t n);
/* Every tag, sorted by repository then tag. */
int image_store_list(ImageStore *s, ImageInfo **ret, size_t *ret_n);
/* {"Id", "RepoTags", "RepoDigests", "Created", "LastUsed", "Layers" [{"DiffID", "Digest",
 * "Path"}], "Config" (the image config blob as is)}. -ENOENT for an unknown ref. */
int image_store_inspect(ImageStore *s, const char *ref, char **ret_json);

/* The overlay lowerdirs of the image, top layer first (NULL-terminated), and marks it used.
 * -ENOENT for an unknown ref, -EUCLEAN if a recorded layer is missing on disk, -ENODATA for an
 * image without layers. */
int image_store_rootfs(ImageStore *s, const char *ref, char ***ret_lowers);

/* The parts of the image config that decide how a container runs. Arrays are NULL-terminated
 * (NULL when the image does not set them), strings NULL when unset. */
typedef struct ImageConfig {
        char **entrypoint;
        char **cmd;
        char **env;
        char *working_dir;
        char *user;
        char **exposed_ports; /* "80/tcp" */
        char *stop_signal;
} ImageConfig;

ImageConfig *image_config_free(ImageConfig *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(ImageConfig *, image_config_free);
int image_store_config(ImageStore *s, const char *ref, ImageConfig **ret);
