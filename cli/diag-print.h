/* SPDX-License-Identifier: Apache-2.0 */
/* diag-print.h: prints spec diagnostics the way compilers do, with source context. */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "zlayer/spec.h"

typedef struct DiagPrintOptions {
        bool show_source; /* the offending line with a caret under the column */
        bool color; /* ANSI colors */
} DiagPrintOptions;

/* Prints every diagnostic as "FILE:LINE:COL: error: PATH: MESSAGE", then a hint line and the
 * source excerpt when asked. `source` is the file's text (may be NULL: no excerpt). */
void diag_print_all(FILE *f, const char *filename, const char *source, size_t source_size,
                    const ZlDiagList *diags, const DiagPrintOptions *opts);
