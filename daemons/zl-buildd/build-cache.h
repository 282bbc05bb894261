/* SPDX-License-Identifier: Apache-2.0 */
/* build-cache.h: content-based keys of build steps and the cache images in buildah's storage. */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "macro.h"

/* Cache images are named CACHE_REPO ":" key. */
#define BUILD_CACHE_REPO "localhost/zlayer-cache"

/* The key a stage starts from: its base image's id (or "scratch") and platform. */
int build_cache_base_key(const char *base_image_id, const char *platform, char ret[static 65]);
/* Key of a step: sha256 over the previous key, the expanded instruction as canonical JSON (keys
 * sorted), the build environment (RUN's ARGs) and extra (the content hash of COPY/ADD sources,
 * a --from stage's image id; NULL when none). */
int build_cache_key(const char *parent, const json_t *instruction, const json_t *build_env,
                    const char *extra, char ret[static 65]);

typedef struct BuildImage {
        char *id; /* "sha256:<hex>" */
        char **names;
        uint64_t size; /* bytes, as buildah rounds them */
        int64_t created; /* seconds since the epoch */
} BuildImage;

typedef struct BuildImageList {
        BuildImage *items;
        size_t n_items;
} BuildImageList;

/* Parses `buildah images --json --no-trunc`. */
int build_image_list_parse(const char *text, BuildImageList **ret);
BuildImageList *build_image_list_free(BuildImageList *l);
DEFINE_TRIVIAL_CLEANUP_FUNC(BuildImageList *, build_image_list_free);
/* The id of the image carrying that name (normalized: "docker.io/library/x:latest"), or of the
 * image whose id is name (with or without "sha256:"), or NULL. */
const char *build_image_list_find(const BuildImageList *l, const char *name);
/* The id of the cache image for key, or NULL. */
const char *build_image_list_find_cache(const BuildImageList *l, const char *key);
/* Records a new image (after a commit), so later lookups in this build see it. */
int build_image_list_add(BuildImageList *l, const char *id, const char *name);

/* "2.13 MB" -> 2130000 (buildah prints decimal units). */
int build_parse_size(const char *s, uint64_t *ret);

/* Which cache images to remove: those older than max_age_sec (0: no age limit), then the oldest
 * until the total size of cache images is at most max_bytes (UINT64_MAX: no size limit). Images
 * that also carry a name outside the cache are never selected. Returns the ids (NULL-terminated,
 * possibly empty). */
int build_cache_select_prune(const BuildImageList *l, uint64_t max_bytes, uint64_t max_age_sec,
                             int64_t now_sec, char ***ret_ids);
