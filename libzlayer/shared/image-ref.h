/* SPDX-License-Identifier: Apache-2.0 */
/* image-ref.h: OCI image references ("nginx", "ghcr.io/a/b:1@sha256:..."): parse, normalize. */
#pragma once

#include "macro.h"

/* A parsed, normalized reference: domain "docker.io" for bare names, "library/" added to
 * single-component Docker Hub paths, tag "latest" when neither tag nor digest is given. */
typedef struct ImageRef {
        char *domain; /* "docker.io", "ghcr.io", "localhost:5000" */
        char *path; /* "library/nginx", "a/b" */
        char *tag; /* "1.27", or NULL when only a digest is given */
        char *digest; /* "sha256:<64 hex>", or NULL */
} ImageRef;

/* Parses a reference in the grammar of the distribution project: [domain/]path[:tag][@digest],
 * path components lower case [a-z0-9] with single '.', '_', "__" or runs of '-' between them,
 * tags [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}, digests "algorithm:hex" (sha256 needs 64 lower-case
 * hex digits, sha512 128). The first component is a domain when it contains '.' or ':' or is
 * "localhost". Returns -EINVAL if malformed; *ret_error (if not NULL) then gets a static string
 * saying why. */
int image_ref_parse(const char *s, ImageRef **ret, const char **ret_error);
ImageRef *image_ref_free(ImageRef *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(ImageRef *, image_ref_free);

/* "domain/path[:tag][@digest]". NULL on OOM. */
char *image_ref_to_string(const ImageRef *r);
/* "domain/path" without tag or digest (the repository). NULL on OOM. */
char *image_ref_repository(const ImageRef *r);

/* Parse and format in one go: "nginx" -> "docker.io/library/nginx:latest". */
int image_ref_normalize(const char *s, char **ret, const char **ret_error);
