/* SPDX-License-Identifier: Apache-2.0 */
/* dockerfile-internal.h: what the Dockerfile parser and the planner share. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "macro.h"
#include "zlayer/dockerfile.h"

struct ZlDockerfile {
        json_t *json; /* the parsed form */
        char escape;
};

/* A growing NUL-terminated string. */
typedef struct DfBuf {
        char *s;
        size_t n, cap;
        bool oom;
} DfBuf;

void df_buf_putn(DfBuf *b, const char *s, size_t n);
void df_buf_puts(DfBuf *b, const char *s);
void df_buf_putc(DfBuf *b, char c);
/* Returns the string (never NULL unless out of memory) and resets the buffer. */
char *df_buf_steal(DfBuf *b);
void df_buf_done(DfBuf *b);

/* Variable lookup for expansion: the value, or NULL when the variable is unset. */
typedef const char *(*DfLookup)(const char *name, void *userdata);

typedef enum DfExpandMode {
        DF_EXPAND_WORD, /* a Dockerfile word: quotes removed, escapes resolved, $ expanded */
        DF_EXPAND_HEREDOC, /* heredoc text: quotes are text; only $ and escaped $ or escape */
} DfExpandMode;

/* Returns 0 and the expansion, -EINVAL with *ret_error (may be NULL) for a syntax error, or
 * -ENOMEM. */
int df_expand(const char *word, char escape, DfExpandMode mode, DfLookup lookup, void *userdata,
              char **ret, char **ret_error);

/* Appends a diagnostic (message is taken, may be NULL for out-of-memory). */
int df_diag(ZlDiagList *l, ZlDiagSeverity severity, unsigned line, unsigned column,
            const char *path, const char *hint, char *message);

/* Value checks shared by parse (literal values) and plan (expanded values). Each returns NULL
 * when valid, else what is expected, phrased to follow "expected ". */
const char *df_check_chmod(const char *s);
const char *df_check_chown(const char *s);
const char *df_check_port(const char *s);
const char *df_check_signal(const char *s);

/* Stage names: [a-z][a-z0-9-_.]* case-insensitive. */
bool df_stage_name_valid(const char *s);
