/* SPDX-License-Identifier: Apache-2.0 */
/* string-util.c: prefixes, joins, edit distance and suggestions, string arrays, escaping. */
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>

#include "string-util.h"

char *startswith(const char *s, const char *prefix) {
        size_t l = strlen(prefix);

        if (strncmp(s, prefix, l) != 0)
                return NULL;
        return (char *) s + l;
}

char *startswith_no_case(const char *s, const char *prefix) {
        size_t l = strlen(prefix);

        if (strncasecmp(s, prefix, l) != 0)
                return NULL;
        return (char *) s + l;
}

char *endswith(const char *s, const char *suffix) {
        size_t sl = strlen(s), pl = strlen(suffix);

        if (pl > sl || memcmp(s + sl - pl, suffix, pl) != 0)
                return NULL;
        return (char *) s + sl - pl;
}

char *strjoin_real(const char *x, ...) {
        va_list ap;
        size_t l = 1;
        char *r, *p;

        va_start(ap, x);
        for (const char *t = x; t; t = va_arg(ap, const char *))
                l += strlen(t);
        va_end(ap);

        r = malloc(l);
        if (!r)
                return NULL;

        p = r;
        va_start(ap, x);
        for (const char *t = x; t; t = va_arg(ap, const char *))
                p = stpcpy(p, t);
        va_end(ap);
        *p = '\0';
        return r;
}

int strextend_real(char **p, ...) {
        size_t old, l;
        va_list ap;
        char *r, *q;

        assert(p);

        old = *p ? strlen(*p) : 0;
        l = old + 1;
        va_start(ap, p);
        for (const char *t = va_arg(ap, const char *); t; t = va_arg(ap, const char *))
                l += strlen(t);
        va_end(ap);

        r = realloc(*p, l);
        if (!r)
                return -ENOMEM;

        q = r + old;
        va_start(ap, p);
        for (const char *t = va_arg(ap, const char *); t; t = va_arg(ap, const char *))
                q = stpcpy(q, t);
        va_end(ap);
        *q = '\0';
        *p = r;
        return 0;
}

int strextendf(char **p, const char *format, ...) {
        size_t old;
        va_list ap;
        char *r;
        int n;

        assert(p);
        assert(format);

        old = *p ? strlen(*p) : 0;
        va_start(ap, format);
        n = vsnprintf(NULL, 0, format, ap);
        va_end(ap);
        if (n < 0)
                return -EINVAL;

        r = realloc(*p, old + (size_t) n + 1);
        if (!r)
                return -ENOMEM;
        if (!*p)
                r[0] = '\0';

        va_start(ap, format);
        (void) vsnprintf(r + old, (size_t) n + 1, format, ap);
        va_end(ap);
        *p = r;
        return 0;
}

static char ascii_tolower(char c) {
        return c >= 'A' && c <= 'Z' ? (char) (c - 'A' + 'a') : c;
}

static char ascii_toupper(char c) {
        return c >= 'a' && c <= 'z' ? (char) (c - 'a' + 'A') : c;
}

char *ascii_strlower(char *s) {
        for (char *p = s; *p; p++)
                *p = ascii_tolower(*p);
        return s;
}

char *ascii_strupper(char *s) {
        for (char *p = s; *p; p++)
                *p = ascii_toupper(*p);
        return s;
}

static bool is_space(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

char *strstrip(char *s) {
        size_t b = 0, e;

        while (is_space(s[b]))
                b++;
        e = strlen(s + b);
        while (e > 0 && is_space(s[b + e - 1]))
                e--;
        memmove(s, s + b, e);
        s[e] = '\0';
        return s;
}

/* One row of the dynamic-programming table per string position; with transpositions the
 * row before the previous one is kept too (optimal string alignment distance). */
static size_t edit_distance(const char *a, const char *b, bool fold_case, bool transpositions) {
        size_t la = strlen(a), lb = strlen(b), d;
        _cleanup_free_ size_t *rows = NULL;
        size_t *prev2, *prev, *cur;

        rows = calloc(3 * (lb + 1), sizeof(size_t));
        if (!rows)
                return SIZE_MAX;
        prev2 = rows;
        prev = rows + lb + 1;
        cur = rows + 2 * (lb + 1);

        for (size_t j = 0; j <= lb; j++)
                prev[j] = j;

        for (size_t i = 1; i <= la; i++) {
                char ca = fold_case ? ascii_tolower(a[i - 1]) : a[i - 1];
                size_t *t;

                cur[0] = i;
                for (size_t j = 1; j <= lb; j++) {
                        char cb = fold_case ? ascii_tolower(b[j - 1]) : b[j - 1];
                        size_t cost = ca == cb ? 0 : 1;
                        size_t v = MIN(prev[j] + 1, cur[j - 1] + 1);

                        v = MIN(v, prev[j - 1] + cost);
                        if (transpositions && i > 1 && j > 1 && cost != 0) {
                                char pa = fold_case ? ascii_tolower(a[i - 2]) : a[i - 2];
                                char pb = fold_case ? ascii_tolower(b[j - 2]) : b[j - 2];

                                if (ca == pb && pa == cb)
                                        v = MIN(v, prev2[j - 2] + 1);
                        }
                        cur[j] = v;
                }
                t = prev2;
                prev2 = prev;
                prev = cur;
                cur = t;
        }

        d = prev[lb];
        return d;
}

size_t string_edit_distance(const char *a, const char *b) {
        assert(a);
        assert(b);
        return edit_distance(a, b, false, false);
}

const char *string_suggest(const char *s, const char *const *candidates) {
        size_t len, limit, best_d = SIZE_MAX;
        const char *best = NULL;

        if (!s || !candidates)
                return NULL;

        /* Short words allow one typo, middle-sized two, long words a third of their length.
         * Swapped neighbours count as one typo. The distance must also stay below the length
         * of both words, or anything would be "close" to a one-letter word. */
        len = strlen(s);
        limit = len < 4 ? 1 : len < 9 ? 2 : len / 3;

        for (const char *const *c = candidates; *c; c++) {
                size_t d;

                if (strcasecmp(s, *c) == 0)
                        return *c;
                d = edit_distance(s, *c, true, true);
                if (d == SIZE_MAX || d > limit || d >= len || d >= strlen(*c))
                        continue;
                if (d < best_d) {
                        best_d = d;
                        best = *c;
                }
        }
        return best;
}

char **strv_free(char **l) {
        if (!l)
                return NULL;
        for (char **i = l; *i; i++)
                free(*i);
        free(l);
        return NULL;
}

size_t strv_length(char *const *l) {
        size_t n = 0;

        if (!l)
                return 0;
        while (l[n])
                n++;
        return n;
}

int strv_consume(char ***l, char *value) {
        size_t n;
        char **c;

        assert(l);

        if (!value)
                return -ENOMEM;
        n = strv_length(*l);
        c = reallocarray(*l, n + 2, sizeof(char *));
        if (!c) {
                free(value);
                return -ENOMEM;
        }
        c[n] = value;
        c[n + 1] = NULL;
        *l = c;
        return 0;
}

int strv_extend(char ***l, const char *value) {
        char *v;

        assert(l);
        assert(value);

        v = strdup(value);
        if (!v)
                return -ENOMEM;
        return strv_consume(l, v);
}

bool strv_contains(char *const *l, const char *s) {
        if (!l || !s)
                return false;
        for (char *const *i = l; *i; i++)
                if (streq(*i, s))
                        return true;
        return false;
}

char *strv_join(char *const *l, const char *separator) {
        size_t n = 0, ls;
        char *r, *p;

        if (!separator)
                separator = " ";
        ls = strlen(separator);

        for (char *const *i = l; i && *i; i++)
                n += strlen(*i) + (i == l ? 0 : ls);

        r = malloc(n + 1);
        if (!r)
                return NULL;
        p = r;
        for (char *const *i = l; i && *i; i++) {
                if (i != l)
                        p = stpcpy(p, separator);
                p = stpcpy(p, *i);
        }
        *p = '\0';
        return r;
}

/* Length of the valid UTF-8 sequence at s (2..4), or 0 if the bytes there are not one. Overlong
 * forms, surrogates and values above U+10FFFF are invalid. */
static size_t utf8_sequence_len(const unsigned char *s) {
        unsigned c = s[0];
        size_t n;
        uint32_t cp;

        if (c >= 0xc2 && c <= 0xdf) {
                n = 2;
                cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
                n = 3;
                cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
                n = 4;
                cp = c & 0x07;
        } else
                return 0;

        for (size_t i = 1; i < n; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[i] & 0x3f);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        return n;
}

char *string_escape_for_display(const char *s, size_t max_len) {
        size_t cap, n = 0, keep = 0;
        char *r;

        assert(s);

        /* Every input byte becomes at most 4 output bytes ("\xNN"). */
        cap = strlen(s);
        if (cap > (SIZE_MAX - 4) / 4)
                return NULL;
        cap = cap * 4 + 4;
        max_len = MAX(max_len, (size_t) 3);
        r = malloc(cap);
        if (!r)
                return NULL;

        for (const unsigned char *p = (const unsigned char *) s; *p;) {
                size_t consumed = 1;

                switch (*p) {
                case '\n':
                        n += (size_t) sprintf(r + n, "\\n");
                        break;
                case '\t':
                        n += (size_t) sprintf(r + n, "\\t");
                        break;
                case '\r':
                        n += (size_t) sprintf(r + n, "\\r");
                        break;
                case '\\':
                case '\'':
                case '"':
                        n += (size_t) sprintf(r + n, "\\%c", *p);
                        break;
                default:
                        if (*p >= 0x80)
                                consumed = utf8_sequence_len(p);
                        if (*p < 0x20 || *p == 0x7f || consumed == 0) {
                                consumed = 1;
                                n += (size_t) sprintf(r + n, "\\x%02x", *p);
                        } else {
                                memcpy(r + n, p, consumed);
                                n += consumed;
                        }
                }
                p += consumed;

                /* The last unit boundary that leaves room for "...": escapes and multi-byte
                 * characters are never split. */
                if (n <= max_len - 3)
                        keep = n;
                else if (n > max_len)
                        break;
        }

        if (n > max_len) {
                memcpy(r + keep, "...", 3);
                n = keep + 3;
        }
        r[n] = '\0';
        return r;
}

int string_table_lookup(const char *const *table, size_t n, const char *s) {
        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (table[i] && streq(table[i], s))
                        return (int) i;
        return -EINVAL;
}

uint64_t fnv1a64(uint64_t h, const void *data, size_t size) {
        const uint8_t *p = data;

        for (size_t i = 0; i < size; i++) {
                h ^= p[i];
                h *= UINT64_C(0x100000001b3);
        }
        return h;
}

uint64_t fnv1a64_string(const char *s) {
        return fnv1a64(FNV1A64_INIT, s, strlen(s));
}

int error_setf(char **ret_error, int r, const char *format, ...) {
        va_list ap;
        char *s;

        if (!ret_error)
                return r;
        va_start(ap, format);
        if (vasprintf(&s, format, ap) < 0)
                s = NULL;
        va_end(ap);
        free(*ret_error);
        *ret_error = s;
        return r;
}
