/* SPDX-License-Identifier: Apache-2.0 */
/* runtime-templates.h: Dockerfiles for common language runtimes and their detection. */
#pragma once

#include <stddef.h>

#include "macro.h"

typedef struct RuntimeTemplate {
        const char *name; /* "node22" */
        const char *description;
        const char *const *detects; /* files that select it, NULL-terminated, in priority order */
        const char *dockerfile; /* the Dockerfile text; ARG BASE_IMAGE (and BUILD_IMAGE) */
} RuntimeTemplate;

/* All templates, in a fixed order. */
const RuntimeTemplate *runtime_templates(size_t *ret_n);
/* NULL when there is no template of that name. */
const RuntimeTemplate *runtime_template_get(const char *name);
/* The template that fits the project in context_dir (bun, deno, node22, rust, go, python313, in
 * that order of precedence). -ENOENT when none fits; then *ret_message (if not NULL) says which
 * files were looked for. */
int runtime_template_detect(const char *context_dir, const RuntimeTemplate **ret,
                            char **ret_message);
