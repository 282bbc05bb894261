/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz-spec.c: fuzz target for the spec parser: any input, and every round trip must hold. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "zlayer/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what, const char *a, const char *b) {
        fprintf(stderr, "round trip broken: %s\n--- first\n%s\n--- second\n%s\n", what, a, b);
        abort();
}

/* Parses `text` again and checks its canonical JSON equals `expected`. */
static void check_reparse(const char *what, const char *text, const char *expected) {
        ZlSpec *again = NULL;
        char *json = NULL;
        int r;

        r = zl_spec_parse_string(text, strlen(text), what, &again, NULL);
        if (r == -ENOMEM)
                return;
        if (r < 0)
                die(what, expected, text);
        if (zl_spec_dump_json(again, &json) >= 0 && !streq(json, expected))
                die(what, expected, json);
        free(json);
        zl_spec_unref(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        ZlDiagList diags = {};
        ZlSpec *spec = NULL;
        char *json = NULL, *yaml = NULL;
        int r;

        r = zl_spec_parse_string((const char *) data, size, "fuzz.yaml", &spec, &diags);
        if (r == 0) {
                /* A valid spec must produce no errors and dump to forms that parse back. */
                if (diags.n_errors != 0)
                        abort();
                if (zl_spec_dump_json(spec, &json) >= 0 && zl_spec_dump_yaml(spec, &yaml) >= 0) {
                        check_reparse("json", json, json);
                        check_reparse("yaml", yaml, json);
                }
        } else if (r == -EINVAL) {
                /* An invalid spec must say why, with well-formed diagnostics. */
                if (diags.n_errors == 0)
                        abort();
                for (size_t i = 0; i < diags.n_items; i++)
                        if (!diags.items[i].message || !diags.items[i].path)
                                abort();
        } else if (r != -ENOMEM)
                abort();

        free(json);
        free(yaml);
        zl_spec_unref(spec);
        zl_diag_list_done(&diags);
        return 0;
}
