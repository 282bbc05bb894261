/* SPDX-License-Identifier: Apache-2.0 */
/* table.h: plain-text tables with a header row and columns as wide as their widest cell. */
#pragma once

#include <stdio.h>

#include "macro.h"
#include "time-util.h"

typedef struct Table Table;

/* The column headers, up to the NULL sentinel. NULL on OOM. */
Table *table_new_real(const char *first, ...) _sentinel_;
#define table_new(...) table_new_real(__VA_ARGS__, NULL)
Table *table_free(Table *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(Table *, table_free);

/* Appends one row of exactly as many cells as there are columns; a NULL cell prints as "-".
 * -ENOMEM. */
int table_add_row(Table *t, ...);
/* Columns are separated by two spaces; the last one is not padded. */
int table_print(const Table *t, FILE *f);

/* An uptime for a cell: whole seconds ("1h 2min 3s"), "<1s" below one second. Returns buf, which
 * holds TIMESPAN_MAX_LEN bytes. */
const char *format_uptime(usec_t u, char *buf, size_t len);
