/* SPDX-License-Identifier: Apache-2.0 */
/* hostname-util.c: validation of DNS labels and hostnames (RFC 1123). */
#include "hostname-util.h"
#include "macro.h"

#define HOSTNAME_MAX 253
#define LABEL_MAX 63

static bool label_char_ok(char c, bool upper_ok) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
               (upper_ok && c >= 'A' && c <= 'Z');
}

/* Checks the n bytes at s as one label: allowed characters, no '-' at either end. */
static bool label_ok(const char *s, size_t n, bool upper_ok) {
        if (n == 0 || n > LABEL_MAX)
                return false;
        if (s[0] == '-' || s[n - 1] == '-')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!label_char_ok(s[i], upper_ok))
                        return false;
        return true;
}

bool dns_label_is_valid_len(const char *s, size_t min, size_t max) {
        size_t n;

        if (!s)
                return false;
        n = strlen(s);
        if (n < min || n > max)
                return false;
        return label_ok(s, n, false);
}

bool dns_label_is_valid(const char *s) {
        return dns_label_is_valid_len(s, 1, LABEL_MAX);
}

bool hostname_is_valid(const char *s) {
        size_t total;

        if (isempty(s))
                return false;
        total = strlen(s);
        if (total > HOSTNAME_MAX)
                return false;

        for (;;) {
                const char *dot = strchr(s, '.');
                size_t n = dot ? (size_t) (dot - s) : strlen(s);

                if (!label_ok(s, n, true))
                        return false;
                if (!dot)
                        return true;
                s = dot + 1;
        }
}
