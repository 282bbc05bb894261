/* SPDX-License-Identifier: Apache-2.0 */
/* table.c: plain-text tables for status output. */
#include <stdarg.h>
#include <stdio.h>

#include "string-util.h"
#include "table.h"

struct Table {
        size_t n_columns;
        char **cells; /* row-major, headers first */
        size_t n_cells;
};

Table *table_free(Table *t) {
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n_cells; i++)
                free(t->cells[i]);
        free(t->cells);
        return mfree(t);
}

static int table_append(Table *t, const char *s) {
        char **c, *copy;

        copy = strdup(s ?: "-");
        if (!copy)
                return -ENOMEM;
        c = reallocarray(t->cells, t->n_cells + 1, sizeof(char *));
        if (!c) {
                free(copy);
                return -ENOMEM;
        }
        t->cells = c;
        t->cells[t->n_cells++] = copy;
        return 0;
}

Table *table_new_real(const char *first, ...) {
        _cleanup_(table_freep) Table *t = NULL;
        va_list ap;
        int r = 0;

        t = calloc(1, sizeof(Table));
        if (!t)
                return NULL;
        va_start(ap, first);
        for (const char *h = first; h && r >= 0; h = va_arg(ap, const char *)) {
                r = table_append(t, h);
                t->n_columns++;
        }
        va_end(ap);
        if (r < 0)
                return NULL;
        return TAKE_PTR(t);
}

int table_add_row(Table *t, ...) {
        size_t n = t->n_cells;
        va_list ap;
        int r = 0;

        va_start(ap, t);
        for (size_t i = 0; i < t->n_columns && r >= 0; i++)
                r = table_append(t, va_arg(ap, const char *));
        va_end(ap);
        if (r < 0) {
                /* All or nothing: drop the cells of the partial row. */
                while (t->n_cells > n)
                        free(t->cells[--t->n_cells]);
                return r;
        }
        return 0;
}

int table_print(const Table *t, FILE *f) {
        _cleanup_free_ size_t *width = NULL;

        width = calloc(t->n_columns, sizeof(size_t));
        if (!width)
                return -ENOMEM;
        for (size_t i = 0; i < t->n_cells; i++)
                width[i % t->n_columns] = MAX(width[i % t->n_columns], strlen(t->cells[i]));

        for (size_t i = 0; i < t->n_cells; i++) {
                size_t col = i % t->n_columns;

                if (col + 1 == t->n_columns)
                        fprintf(f, "%s\n", t->cells[i]);
                else
                        fprintf(f, "%-*s  ", (int) width[col], t->cells[i]);
        }
        return ferror(f) ? -EIO : 0;
}

const char *format_uptime(usec_t u, char *buf, size_t len) {
        if (u < USEC_PER_SEC) {
                snprintf(buf, len, "<1s");
                return buf;
        }
        return format_timespan(u, USEC_PER_SEC, buf, len);
}
