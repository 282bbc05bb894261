/* SPDX-License-Identifier: Apache-2.0 */
/* diag-print.c: compiler-style rendering of spec diagnostics, with the line and a caret. */
#include <string.h>

#include "diag-print.h"
#include "macro.h"

/* Finds line `line` (1-based) in source; returns its start and length without the newline. */
static bool source_line(const char *source, size_t size, unsigned line, const char **ret_start,
                        size_t *ret_len) {
        const char *p = source, *end = source + size;

        for (unsigned l = 1; l < line; l++) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                if (!nl)
                        return false;
                p = nl + 1;
        }
        if (p > end)
                return false;
        const char *nl = memchr(p, '\n', (size_t) (end - p));
        *ret_start = p;
        *ret_len = (size_t) ((nl ?: end) - p);
        if (*ret_len > 0 && p[*ret_len - 1] == '\r')
                (*ret_len)--;
        return true;
}

static void print_excerpt(FILE *f, const char *source, size_t size, unsigned line, unsigned column,
                          const DiagPrintOptions *opts) {
        const char *start;
        size_t len, chars = 0;

        if (!source || line == 0 || !source_line(source, size, line, &start, &len))
                return;

        fprintf(f, "%5u | ", line);
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char) start[i];
                /* Tabs become one space so the caret lines up; other controls are shown as '?'. */
                if (c == '\t')
                        fputc(' ', f);
                else if (c < 0x20 || c == 0x7f)
                        fputc('?', f);
                else
                        fputc(c, f);
        }
        fputc('\n', f);

        /* libyaml counts columns in characters: count UTF-8 lead bytes up to the column. */
        fputs("      | ", f);
        for (size_t i = 0; i < len && chars + 1 < column; i++)
                if (((unsigned char) start[i] & 0xC0) != 0x80) {
                        fputc(' ', f);
                        chars++;
                }
        fprintf(f, "%s^%s\n", opts->color ? "\x1b[1;32m" : "", opts->color ? "\x1b[0m" : "");
}

void diag_print_all(FILE *f, const char *filename, const char *source, size_t source_size,
                    const ZlDiagList *diags, const DiagPrintOptions *opts) {
        const char *bold = opts->color ? "\x1b[1m" : "", *reset = opts->color ? "\x1b[0m" : "";

        for (size_t i = 0; i < diags->n_items; i++) {
                const ZlDiag *d = &diags->items[i];
                bool error = d->severity == ZL_DIAG_ERROR;
                const char *sev_color = !opts->color ? "" : error ? "\x1b[1;31m" : "\x1b[1;35m";

                fprintf(f, "%s%s:", bold, filename);
                if (d->line > 0)
                        fprintf(f, "%u:%u:", d->line, d->column);
                fprintf(f, "%s %s%s:%s ", reset, sev_color, error ? "error" : "warning", reset);
                if (!isempty(d->path))
                        fprintf(f, "%s%s%s: ", bold, d->path, reset);
                fprintf(f, "%s\n", d->message);
                if (opts->show_source)
                        print_excerpt(f, source, source_size, d->line, d->column, opts);
                if (d->hint)
                        fprintf(f, "      = %shint:%s %s\n", bold, reset, d->hint);
        }
}
