/* SPDX-License-Identifier: Apache-2.0 */
/* string-util.h: string helpers: prefixes, joins, edit distance, NULL-terminated string arrays. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

/* Returns a pointer past the prefix, or NULL. */
char *startswith(const char *s, const char *prefix) _pure_;
char *startswith_no_case(const char *s, const char *prefix) _pure_;
/* Returns a pointer to the suffix within s, or NULL. */
char *endswith(const char *s, const char *suffix) _pure_;

/* Concatenates the strings up to the NULL sentinel into a new string; NULL on OOM. */
char *strjoin_real(const char *x, ...) _sentinel_;
#define strjoin(...) strjoin_real(__VA_ARGS__, NULL)

/* Appends the strings up to NULL to *p (which may be NULL), reallocating. -ENOMEM on OOM, in
 * which case *p is unchanged. */
int strextend_real(char **p, ...) _sentinel_;
#define strextend(p, ...) strextend_real((p), __VA_ARGS__, NULL)
/* Appends printf-formatted text to *p. */
int strextendf(char **p, const char *format, ...) _printf_(2, 3);

char *ascii_strlower(char *s);
char *ascii_strupper(char *s);
char *strstrip(char *s); /* strips leading and trailing whitespace in place; returns s */

/* Levenshtein distance, for "did you mean" suggestions. Returns SIZE_MAX on OOM. */
size_t string_edit_distance(const char *a, const char *b);
/* The candidate closest to s if it is close enough to be a plausible typo, else NULL. The
 * candidates array ends with NULL. A case-insensitive match always wins. Otherwise distance is
 * counted ignoring case, with a swap of neighbours as one edit, and must be at most 1 for words
 * of up to 3 characters, 2 up to 8, length/3 beyond, and less than the length of both words.
 * Ties go to the earlier candidate. */
const char *string_suggest(const char *s, const char *const *candidates);

/* Replaces *ret_error with the formatted message (the old one freed) and returns r, so that a
 * failure is one line: `return error_setf(ret_error, -EINVAL, "...", ...)`. ret_error may be NULL
 * (no message wanted). Without memory for the message *ret_error becomes NULL and r is still
 * returned: the error code matters more than its text. */
int error_setf(char **ret_error, int r, const char *format, ...) _printf_(3, 4);

/* FNV-1a, 64 bits, over size bytes, continuing from h (start with FNV1A64_INIT). Stable across
 * versions and machines: for names derived from content, never for security. */
#define FNV1A64_INIT UINT64_C(0xcbf29ce484222325)
uint64_t fnv1a64(uint64_t h, const void *data, size_t size) _pure_;
/* Of a NUL-terminated string, from FNV1A64_INIT. */
uint64_t fnv1a64_string(const char *s) _pure_;

/* NULL-terminated arrays of allocated strings. */
char **strv_free(char **l);
DEFINE_TRIVIAL_CLEANUP_FUNC(char **, strv_free);
#define _cleanup_strv_free_ _cleanup_(strv_freep)
size_t strv_length(char *const *l);

/* For enums with a table of names indexed by value: the index of s in table[0..n) (NULL entries
 * skipped), or -EINVAL when s is NULL or not there. */
int string_table_lookup(const char *const *table, size_t n, const char *s);
int strv_extend(char ***l, const char *value); /* appends a copy */
/* Appends, taking ownership (freed on error). NULL is taken for a failed allocation, so that
 * strv_consume(&l, strdup(x)) needs one check: -ENOMEM. */
int strv_consume(char ***l, char *value);
bool strv_contains(char *const *l, const char *s);
char *strv_join(char *const *l, const char *separator); /* separator NULL means " " */

/* Escapes for safe display in messages: \n \t \r, other control bytes and invalid UTF-8 as
 * \xNN, and backslash and both quotes with a backslash; valid UTF-8 is kept. Returns a new
 * string (NULL on OOM) of at most max_len bytes (at least 3): when the escaped text is longer it
 * is cut at an escape/character boundary and ends in "...". SIZE_MAX means no limit. */
char *string_escape_for_display(const char *s, size_t max_len);
