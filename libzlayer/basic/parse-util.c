/* SPDX-License-Identifier: Apache-2.0 */
/* parse-util.c: strict parsers for integers, durations, sizes, cpu, ports, modes and booleans. */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <strings.h>

#include "macro.h"
#include "parse-util.h"

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

/* Reads a run of decimal digits starting at *p. At least one digit is required (-EINVAL). The
 * whole run is always consumed, so that a caller sees syntax errors behind an overflowing
 * number before it reports the overflow (-ERANGE). */
static int parse_digits(const char **p, uint64_t *ret) {
        const char *s = *p;
        uint64_t v = 0;
        bool overflow = false;

        if (!is_digit(*s))
                return -EINVAL;
        for (; is_digit(*s); s++) {
                unsigned d = (unsigned) (*s - '0');

                if (v > (UINT64_MAX - d) / 10)
                        overflow = true;
                else
                        v = v * 10 + d;
        }
        *p = s;
        if (overflow)
                return -ERANGE;
        *ret = v;
        return 0;
}

int safe_atou64(const char *s, uint64_t *ret) {
        uint64_t v;
        int r;

        if (!s)
                return -EINVAL;
        r = parse_digits(&s, &v);
        if (r == -EINVAL || *s != '\0')
                return -EINVAL;
        if (r < 0)
                return r;
        if (ret)
                *ret = v;
        return 0;
}

int safe_atoi64(const char *s, int64_t *ret) {
        bool negative = false;
        uint64_t v;
        int r;

        if (!s)
                return -EINVAL;
        if (*s == '-') {
                negative = true;
                s++;
        }
        r = parse_digits(&s, &v);
        if (r == -EINVAL || *s != '\0')
                return -EINVAL;
        if (r < 0)
                return r;
        if (negative) {
                if (v > (uint64_t) INT64_MAX + 1)
                        return -ERANGE;
                if (ret)
                        *ret = v == (uint64_t) INT64_MAX + 1 ? INT64_MIN : -(int64_t) v;
        } else {
                if (v > INT64_MAX)
                        return -ERANGE;
                if (ret)
                        *ret = (int64_t) v;
        }
        return 0;
}

int safe_atou(const char *s, unsigned *ret) {
        uint64_t v;
        int r;

        r = safe_atou64(s, &v);
        if (r < 0)
                return r;
        if (v > UINT_MAX)
                return -ERANGE;
        if (ret)
                *ret = (unsigned) v;
        return 0;
}

int safe_atoi(const char *s, int *ret) {
        int64_t v;
        int r;

        r = safe_atoi64(s, &v);
        if (r < 0)
                return r;
        if (v < INT_MIN || v > INT_MAX)
                return -ERANGE;
        if (ret)
                *ret = (int) v;
        return 0;
}

/* Multiplies and adds without wrapping; false on overflow. */
static bool mul_add_u64(uint64_t *acc, uint64_t v, uint64_t mult) {
        uint64_t prod;

        if (__builtin_mul_overflow(v, mult, &prod))
                return false;
        return !__builtin_add_overflow(*acc, prod, acc);
}

/* Ordered from largest to smallest: a duration names its units in this order. */
static const struct {
        const char *suffix;
        uint64_t ms;
} duration_units[] = {
        { "d", UINT64_C(86400000) }, { "h", UINT64_C(3600000) }, { "m", UINT64_C(60000) },
        { "s", UINT64_C(1000) },     { "ms", UINT64_C(1) },
};

/* Returns the index into duration_units of the unit at *p and advances past it, or -EINVAL. The
 * longest suffix wins, so "ms" is not read as "m" followed by junk. */
static int duration_unit(const char **p) {
        int best = -EINVAL;
        size_t best_len = 0;

        for (size_t i = 0; i < ELEMENTSOF(duration_units); i++) {
                size_t l = strlen(duration_units[i].suffix);

                if (l > best_len && strneq(*p, duration_units[i].suffix, l)) {
                        best = (int) i;
                        best_len = l;
                }
        }
        *p += best_len;
        return best;
}

int parse_duration_ms(const char *s, uint64_t *ret_ms) {
        uint64_t total = 0;
        bool overflow = false;
        int last = -1;

        if (isempty(s))
                return -EINVAL;

        while (*s != '\0') {
                uint64_t v = 0;
                int r, u;

                r = parse_digits(&s, &v);
                if (r == -EINVAL)
                        return -EINVAL;
                if (r < 0)
                        overflow = true;
                if (*s == '\0')
                        /* "30" alone is a missing unit; "1h30" is a typo inside a duration. */
                        return last < 0 ? -EDOM : -EINVAL;
                u = duration_unit(&s);
                if (u < 0)
                        return -EINVAL;
                if (u <= last)
                        return -EINVAL;
                last = u;
                if (!overflow && !mul_add_u64(&total, v, duration_units[u].ms))
                        overflow = true;
        }

        if (overflow)
                return -ERANGE;
        if (ret_ms)
                *ret_ms = total;
        return 0;
}

char *format_duration_ms(uint64_t ms, char *buf, size_t len) {
        size_t n = 0;

        assert(buf);
        assert(len >= DURATION_MAX_LEN);

        if (ms == 0) {
                snprintf(buf, len, "0s");
                return buf;
        }

        buf[0] = '\0';
        for (size_t i = 0; i < ELEMENTSOF(duration_units); i++) {
                uint64_t k = ms / duration_units[i].ms;

                if (k == 0)
                        continue;
                n += (size_t) snprintf(buf + n, len - n, "%" PRIu64 "%s", k,
                                       duration_units[i].suffix);
                ms -= k * duration_units[i].ms;
        }
        return buf;
}

/* The binary units first, largest first: format_size picks the first that divides exactly. */
#define SIZE_BINARY_UNITS 4
static const struct {
        const char *suffix;
        uint64_t factor;
} size_units[] = {
        { "Ti", UINT64_C(1) << 40 },      { "Gi", UINT64_C(1) << 30 },
        { "Mi", UINT64_C(1) << 20 },      { "Ki", UINT64_C(1) << 10 },
        { "T", UINT64_C(1000000000000) }, { "G", UINT64_C(1000000000) },
        { "M", UINT64_C(1000000) },       { "K", UINT64_C(1000) },
};

/* Significant fractional digits beyond this cannot be evaluated exactly in 128 bits; no real
 * size needs them. */
#define SIZE_FRACTION_DIGITS_MAX 18

int parse_size(const char *s, uint64_t *ret_bytes) {
        const char *frac = NULL;
        size_t n_frac = 0;
        uint64_t whole, factor = 1, frac_bytes = 0, bytes;
        bool overflow = false;
        int r;

        if (isempty(s))
                return -EINVAL;

        r = parse_digits(&s, &whole);
        if (r == -EINVAL)
                return r;
        if (r < 0)
                overflow = true;

        if (*s == '.') {
                s++;
                frac = s;
                while (is_digit(*s))
                        s++;
                n_frac = (size_t) (s - frac);
                if (n_frac == 0)
                        return -EINVAL;
        }

        if (*s != '\0') {
                size_t i;

                for (i = 0; i < ELEMENTSOF(size_units); i++)
                        if (streq(s, size_units[i].suffix))
                                break;
                if (i >= ELEMENTSOF(size_units))
                        return -EINVAL;
                factor = size_units[i].factor;
        } else if (frac)
                /* Plain bytes are an integer. */
                return -EINVAL;

        if (frac) {
                unsigned __int128 f = 0, pow10 = 1, scaled;

                /* Trailing zeros do not change the value; dropping them keeps "1.50Gi" exact. */
                while (n_frac > 0 && frac[n_frac - 1] == '0')
                        n_frac--;
                if (n_frac > SIZE_FRACTION_DIGITS_MAX)
                        return -EINVAL;
                for (size_t i = 0; i < n_frac; i++) {
                        f = f * 10 + (unsigned) (frac[i] - '0');
                        pow10 *= 10;
                }
                scaled = f * factor;
                if (scaled % pow10 != 0)
                        return -EINVAL; /* not a whole number of bytes */
                frac_bytes = (uint64_t) (scaled / pow10); /* < factor, so it fits */
        }

        if (overflow)
                return -ERANGE;
        bytes = 0;
        if (!mul_add_u64(&bytes, whole, factor) ||
            __builtin_add_overflow(bytes, frac_bytes, &bytes))
                return -ERANGE;
        if (bytes == 0)
                return -ERANGE;
        if (ret_bytes)
                *ret_bytes = bytes;
        return 0;
}

char *format_size(uint64_t bytes, char *buf, size_t len) {
        assert(buf);
        assert(len >= SIZE_MAX_LEN);

        if (bytes > 0)
                for (size_t i = 0; i < SIZE_BINARY_UNITS; i++)
                        if (bytes % size_units[i].factor == 0) {
                                snprintf(buf, len, "%" PRIu64 "%s", bytes / size_units[i].factor,
                                         size_units[i].suffix);
                                return buf;
                        }

        snprintf(buf, len, "%" PRIu64, bytes);
        return buf;
}

/* Fractional digits of a cpu value beyond this are below what a double holds for sane core
 * counts; they are checked for syntax but not evaluated. */
#define CPU_FRACTION_DIGITS_MAX 18

int parse_cpu(const char *s, double *ret_cores) {
        uint64_t whole, frac = 0, pow10 = 1;
        double cores;
        int r;

        if (isempty(s))
                return -EINVAL;

        r = parse_digits(&s, &whole);
        if (r == -EINVAL)
                return r;

        if (*s == 'm' && s[1] == '\0') {
                if (r < 0)
                        return r;
                if (whole == 0)
                        return -ERANGE;
                if (ret_cores)
                        *ret_cores = (double) whole / 1000.0;
                return 0;
        }

        if (*s == '.') {
                size_t n = 0;

                s++;
                if (!is_digit(*s))
                        return -EINVAL;
                for (; is_digit(*s); s++, n++)
                        if (n < CPU_FRACTION_DIGITS_MAX) {
                                frac = frac * 10 + (uint64_t) (*s - '0');
                                pow10 *= 10;
                        }
        }
        if (*s != '\0')
                return -EINVAL;
        if (r < 0)
                return r;

        cores = (double) whole + (double) frac / (double) pow10;
        /* Digits past CPU_FRACTION_DIGITS_MAX are dropped, so a value that small counts as zero. */
        if (cores <= 0.0)
                return -ERANGE;
        if (ret_cores)
                *ret_cores = cores;
        return 0;
}

int parse_port(const char *s, uint16_t *ret) {
        uint64_t v;
        int r;

        r = safe_atou64(s, &v);
        if (r < 0)
                return r;
        if (v < 1 || v > 65535)
                return -ERANGE;
        if (ret)
                *ret = (uint16_t) v;
        return 0;
}

int parse_file_mode(const char *s, mode_t *ret) {
        uint64_t v = 0;
        bool overflow = false;

        if (isempty(s))
                return -EINVAL;
        if (s[0] == '0' && (s[1] == 'o' || s[1] == 'O'))
                s += 2;
        if (*s == '\0')
                return -EINVAL;

        for (; *s != '\0'; s++) {
                if (*s < '0' || *s > '7')
                        return -EINVAL;
                if (v > 07777)
                        overflow = true; /* keep scanning: syntax errors win */
                else
                        v = v * 8 + (uint64_t) (*s - '0');
        }
        if (overflow || v > 07777)
                return -ERANGE;
        if (ret)
                *ret = (mode_t) v;
        return 0;
}

int parse_percent(const char *s, unsigned *ret) {
        const char *p;
        uint64_t v;
        int r;

        if (isempty(s))
                return -EINVAL;
        p = s;
        r = parse_digits(&p, &v);
        if (r == -EINVAL)
                return r;
        if (*p == '%')
                p++;
        if (*p != '\0')
                return -EINVAL;
        if (r < 0 || v < 1 || v > 100)
                return -ERANGE;
        if (ret)
                *ret = (unsigned) v;
        return 0;
}

int parse_boolean(const char *s, bool *ret) {
        static const char *const yes[] = { "1", "true", "yes", "on" };
        static const char *const no[] = { "0", "false", "no", "off" };

        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (strcasecmp(s, yes[i]) == 0) {
                        if (ret)
                                *ret = true;
                        return 0;
                }
                if (strcasecmp(s, no[i]) == 0) {
                        if (ret)
                                *ret = false;
                        return 0;
                }
        }
        return -EINVAL;
}
