/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz-oci-config.c: fuzz target for the OCI config.json parser of zl-runtimed. */
#include <stdio.h>
#include <stdlib.h>

#include "macro.h"
#include "oci-config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        OciConfig *c = NULL;
        char *error = NULL;
        int r;

        r = oci_config_parse((const char *) data, size, &c, &error);
        if (r == 0) {
                /* A parsed config has what the engine relies on. */
                if (!c || error)
                        abort();
                (void) oci_config_check_rlimits(c, &error);
        } else if (r == -EINVAL) {
                /* A refused config says why. */
                if (c || !error || error[0] == '\0')
                        abort();
        } else if (r != -ENOMEM)
                abort();

        free(error);
        oci_config_free(c);
        return 0;
}
