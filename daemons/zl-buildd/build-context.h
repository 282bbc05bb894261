/* SPDX-License-Identifier: Apache-2.0 */
/* build-context.h: the build context: .dockerignore patterns and content hashes of COPY sources. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "macro.h"

/* .dockerignore text -> patterns, cleaned ("./a//b/" -> "a/b"), comments and blank lines dropped;
 * exceptions keep their leading '!'. */
int build_ignore_parse(const char *text, char ***ret_patterns);
/* Reads CONTEXT/.dockerignore (or .containerignore). A missing file gives an empty list. */
int build_ignore_load(const char *context_dir, char ***ret_patterns, char **ret_file);
/* Docker's rule: the last pattern that matches the path or one of its parent directories decides;
 * '*' and '?' stay within one path component, "**" spans any number of them. */
bool build_ignore_match(char *const *patterns, const char *relpath);

/* Hex SHA-256 over the context files that COPY/ADD sources select (globs expanded, directories
 * walked in name order, ignored files skipped): for each file its path relative to the context,
 * type, mode, size and content (a symlink's target, not what it points to). URLs count by their
 * text. -EPERM for a source outside the context, -ENOENT when a plain source is missing. */
int build_context_hash(const char *context_dir, char *const *ignore, const json_t *sources,
                       char ret_hex[static 65]);
