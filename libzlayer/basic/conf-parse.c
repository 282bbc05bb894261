/* SPDX-License-Identifier: Apache-2.0 */
/* conf-parse.c: the daemons' `key = value` configuration files. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf-parse.h"
#include "fileio.h"
#include "macro.h"
#include "string-util.h"

static void set_message(char **reterr_message, const char *path, unsigned line, const char *key,
                        const char *why) {
        if (!reterr_message)
                return;
        *reterr_message = mfree(*reterr_message);
        if (key)
                (void) asprintf(reterr_message, "%s:%u: '%s': %s", path, line, key, why);
        else
                (void) asprintf(reterr_message, "%s:%u: %s", path, line, why);
}

int conf_parse_file(const char *path, size_t max_size, conf_set_t set, void *userdata,
                    char **reterr_message) {
        _cleanup_free_ char *data = NULL;
        unsigned line = 0;
        char *next;
        int r;

        assert(path);
        assert(set);

        r = read_full_file(path, max_size, &data, NULL);
        if (r < 0)
                return r;
        for (char *p = data; p; p = next) {
                const char *why = "invalid value";
                char *key, *eq;

                next = strchr(p, '\n');
                if (next)
                        *next++ = '\0';
                line++;
                key = strstrip(p);
                if (isempty(key) || key[0] == '#')
                        continue;
                eq = strchr(key, '=');
                if (!eq) {
                        set_message(reterr_message, path, line, NULL, "expected 'key = value'");
                        return -EINVAL;
                }
                *eq = '\0';
                key = strstrip(key);
                r = set(userdata, key, strstrip(eq + 1), &why);
                if (r == -EINVAL)
                        set_message(reterr_message, path, line, key, why);
                if (r < 0)
                        return r;
        }
        return 0;
}
