/* SPDX-License-Identifier: Apache-2.0 */
/* conf-parse.h: the daemons' `key = value` configuration files. */
#pragma once

#include <stddef.h>

/* Sets one key. Returns >= 0, or -EINVAL with *ret_why saying what is wrong with the key or
 * its value ("unknown key", "expected a fraction from 0 to 1"), or another -errno that stops
 * the parse as it is (-ENOMEM). */
typedef int (*conf_set_t)(void *userdata, const char *key, const char *value, const char **ret_why);

/* Reads path (at most max_size bytes) line by line: blank lines and lines starting with '#' are
 * skipped, every other line is `key = value` with whitespace around both trimmed, handed to set
 * in file order. The first error stops the parse and is returned; for -EINVAL,
 * *reterr_message (if not NULL) becomes "PATH:LINE: 'KEY': WHY" (or "PATH:LINE: WHY" for a
 * line without '='). Keys set before the error stay set: callers parse into a copy. A missing
 * file is -ENOENT with no message. */
int conf_parse_file(const char *path, size_t max_size, conf_set_t set, void *userdata,
                    char **reterr_message);
