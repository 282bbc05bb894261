/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz-dockerfile.c: fuzz target for the Dockerfile parser, the planner and word expansion. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "zlayer/dockerfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A failed call must say why with well-formed diagnostics; a successful one must not have
 * recorded errors. */
static void check_verdict(int r, const ZlDiagList *diags, size_t before) {
        if (r == -ENOMEM)
                return;
        if (r >= 0) {
                if (diags->n_errors != 0)
                        abort();
        } else if (r == -EINVAL) {
                if (diags->n_errors == 0 || diags->n_items <= before)
                        abort();
        } else
                abort();
        for (size_t i = 0; i < diags->n_items; i++)
                if (!diags->items[i].message || !diags->items[i].path)
                        abort();
}

static void fuzz_plan(const ZlDockerfile *df, const json_t *args, const char *target) {
        ZlDiagList diags = {};
        json_t *plan = NULL;
        int r;

        r = zl_dockerfile_plan(df, args, target, &plan, &diags);
        check_verdict(r, &diags, 0);
        if (r >= 0) {
                /* Stages come dependencies first and end with the target. */
                size_t n = json_array_size(json_object_get(plan, "stages"));
                json_t *last = json_array_get(json_object_get(plan, "stages"), n - 1);
                if (n == 0 ||
                    !json_equal(json_object_get(last, "index"), json_object_get(plan, "target")))
                        abort();
        }
        json_decref(plan);
        zl_diag_list_done(&diags);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        ZlDiagList diags = {};
        ZlDockerfile *df = NULL;
        int r;

        r = zl_dockerfile_parse_string((const char *) data, size, "fuzz", &df, &diags);
        check_verdict(r, &diags, 0);
        if (r >= 0) {
                const json_t *stages = json_object_get(zl_dockerfile_get_json(df), "stages");
                json_t *args = json_pack("{s:s, s:s}", "A", "1", "PORT", "80");

                if (json_array_size(stages) == 0)
                        abort();
                fuzz_plan(df, NULL, NULL);
                fuzz_plan(df, args, "0");
                json_decref(args);
        }
        zl_dockerfile_free(df);
        zl_diag_list_done(&diags);

        /* The whole input as one word, when it is text. */
        if (size < 4096 && !memchr(data, '\0', size)) {
                char *word = strndup((const char *) data, size), *out = NULL, *error = NULL;
                json_t *vars = json_pack("{s:s, s:s}", "A", "x", "E", "");

                if (word && vars) {
                        r = zl_dockerfile_expand(word, vars, '\\', &out, &error);
                        if (r == -EINVAL && !error && !out)
                                ; /* out of memory while formatting the error */
                        else if (r < 0 && r != -EINVAL && r != -ENOMEM)
                                abort();
                        free(out);
                        free(error);
                        out = error = NULL;
                        (void) zl_dockerfile_expand(word, vars, '`', &out, &error);
                        free(out);
                        free(error);
                }
                json_decref(vars);
                free(word);
        }
        return 0;
}
