/* SPDX-License-Identifier: Apache-2.0 */
/* hostname-util.h: DNS labels, names and hostnames. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* RFC 1123 label as the spec uses it: [a-z0-9-], 1..63 chars, starts and ends alphanumeric.
 * Lower case only. */
bool dns_label_is_valid(const char *s);
/* Same rule with a length range, for deployment names (3..63). */
bool dns_label_is_valid_len(const char *s, size_t min, size_t max);
/* A hostname: dot-separated labels as above but upper case allowed, total <= 253. No empty
 * labels, so no leading or trailing dot. */
bool hostname_is_valid(const char *s);
