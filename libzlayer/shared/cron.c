/* SPDX-License-Identifier: Apache-2.0 */
/* cron.c: cron expressions: parsing, the normalized text and the next fire time (UTC). */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "cron-internal.h"
#include "macro.h"
#include "zlayer/spec.h"

#define CRON_YEAR_MIN 1970
#define CRON_YEAR_MAX 2199
/* 2200-01-01T00:00:00Z: nothing can fire at or after it. */
#define CRON_TIME_END INT64_C(7258118400)

typedef enum CronField {
        CRON_SECOND,
        CRON_MINUTE,
        CRON_HOUR,
        CRON_DOM,
        CRON_MONTH,
        CRON_DOW,
        CRON_YEAR,
        _CRON_FIELD_MAX,
} CronField;

/* Values of one field as bits, numbered from the field's minimum: 230 years need four words. */
typedef struct CronSet {
        uint64_t w[4];
} CronSet;

struct ZlCron {
        CronSet sets[_CRON_FIELD_MAX];
        /* A day field is restricted when it leaves out some value. With both restricted a day
         * matches if either does (Vixie cron); deciding by the set rather than by the spelling
         * ('*') keeps the normalized text, where a full set becomes '*', equivalent. */
        bool dom_restricted;
        bool dow_restricted;
        char *normalized;
};

typedef struct CronFieldInfo {
        const char *name;
        int min;
        int max; /* where '*' and 'a/n' end */
        int max_value; /* the largest value accepted: 7 for day of week, another Sunday */
        const char *const *names; /* names of min, min + 1, ... up to max */
} CronFieldInfo;

static const char *const month_names[] = {
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
};

static const char *const day_names[] = {
        "SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT",
};

static const CronFieldInfo field_info[_CRON_FIELD_MAX] = {
        [CRON_SECOND] = { "second", 0, 59, 59, NULL },
        [CRON_MINUTE] = { "minute", 0, 59, 59, NULL },
        [CRON_HOUR] = { "hour", 0, 23, 23, NULL },
        [CRON_DOM] = { "day of month", 1, 31, 31, NULL },
        [CRON_MONTH] = { "month", 1, 12, 12, month_names },
        [CRON_DOW] = { "day of week", 0, 6, 7, day_names },
        [CRON_YEAR] = { "year", CRON_YEAR_MIN, CRON_YEAR_MAX, CRON_YEAR_MAX, NULL },
};

/* Field layouts by number of fields; 5 and 6 fields leave the others to their defaults. */
static const CronField layout5[] = { CRON_MINUTE, CRON_HOUR, CRON_DOM, CRON_MONTH, CRON_DOW };
static const CronField layout6[] = {
        CRON_SECOND, CRON_MINUTE, CRON_HOUR, CRON_DOM, CRON_MONTH, CRON_DOW,
};
static const CronField layout7[] = {
        CRON_SECOND, CRON_MINUTE, CRON_HOUR, CRON_DOM, CRON_MONTH, CRON_DOW, CRON_YEAR,
};

static const struct {
        const char *name;
        const char *expansion;
} macros[] = {
        { "@yearly", "0 0 0 1 1 * *" },  { "@annually", "0 0 0 1 1 * *" },
        { "@monthly", "0 0 0 1 * * *" }, { "@weekly", "0 0 0 * * 0 *" },
        { "@daily", "0 0 0 * * * *" },   { "@midnight", "0 0 0 * * * *" },
        { "@hourly", "0 0 * * * * *" },
};

static unsigned field_size(CronField f) {
        return (unsigned) (field_info[f].max - field_info[f].min + 1);
}

static void set_add(CronSet *s, unsigned i) {
        assert(i < 64 * ELEMENTSOF(s->w));
        s->w[i / 64] |= UINT64_C(1) << (i % 64);
}

static void set_remove(CronSet *s, unsigned i) {
        assert(i < 64 * ELEMENTSOF(s->w));
        s->w[i / 64] &= ~(UINT64_C(1) << (i % 64));
}

static bool set_has(const CronSet *s, unsigned i) {
        assert(i < 64 * ELEMENTSOF(s->w));
        return (s->w[i / 64] >> (i % 64)) & 1;
}

static void set_add_range(CronSet *s, unsigned from, unsigned to, unsigned step) {
        for (unsigned i = from; i <= to; i += step)
                set_add(s, i);
}

/* The first member >= from and < n, or -1. */
static int set_next(const CronSet *s, int from, int n) {
        assert(n <= (int) (64 * ELEMENTSOF(s->w)));

        for (int i = MAX(from, 0); i < n;) {
                uint64_t bits = s->w[i / 64] >> (i % 64);

                if (bits != 0) {
                        i += __builtin_ctzll(bits);
                        return i < n ? i : -1;
                }
                i = (i / 64 + 1) * 64;
        }
        return -1;
}

static bool set_is_full(const CronSet *s, unsigned n) {
        for (unsigned i = 0; i < n; i++)
                if (!set_has(s, i))
                        return false;
        return true;
}

static bool ascii_isdigit(char c) {
        return c >= '0' && c <= '9';
}

static bool ascii_isalpha(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool ascii_isblank(char c) {
        return c == ' ' || c == '\t';
}

static char ascii_toupper(char c) {
        return c >= 'a' && c <= 'z' ? (char) (c - 'a' + 'A') : c;
}

static bool name_eq(const char *s, size_t n, const char *name) {
        if (n != strlen(name))
                return false;
        for (size_t i = 0; i < n; i++)
                if (ascii_toupper(s[i]) != ascii_toupper(name[i]))
                        return false;
        return true;
}

static int cron_error(char **ret_error, const char *format, ...) _printf_(2, 3);
static int cron_error(char **ret_error, const char *format, ...) {
        va_list ap;
        char *m;
        int r;

        if (!ret_error)
                return -EINVAL;

        va_start(ap, format);
        r = vasprintf(&m, format, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;

        *ret_error = m;
        return -EINVAL;
}

/* Where a field error happened: the field and its 1-based position in the text as written. */
typedef struct CronParseContext {
        CronField field;
        unsigned position;
        char **ret_error;
} CronParseContext;

static int field_error(const CronParseContext *ctx, const char *format, ...) _printf_(2, 3);
static int field_error(const CronParseContext *ctx, const char *format, ...) {
        _cleanup_free_ char *m = NULL;
        va_list ap;
        int r;

        if (!ctx->ret_error)
                return -EINVAL;

        va_start(ap, format);
        r = vasprintf(&m, format, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;

        return cron_error(ctx->ret_error, "field %u (%s): %s", ctx->position,
                          field_info[ctx->field].name, m);
}

/* Parses a decimal number, saturating far above any field's range so that huge inputs are
 * reported as out of range rather than wrapping. -EINVAL if s is not all digits. */
static int parse_digits(const char *s, size_t n, unsigned *ret) {
        unsigned v = 0;

        if (n == 0)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                if (!ascii_isdigit(s[i]))
                        return -EINVAL;
                if (v < 100000)
                        v = v * 10 + (unsigned) (s[i] - '0');
        }
        *ret = v;
        return 0;
}

/* One number or name. */
static int parse_value(const CronParseContext *ctx, const char *s, size_t n, int *ret) {
        const CronFieldInfo *f = &field_info[ctx->field];
        unsigned v;

        if (n > 0 && ascii_isdigit(s[0])) {
                if (parse_digits(s, n, &v) < 0)
                        return field_error(ctx, "invalid value '%.*s'", (int) n, s);
                if (v < (unsigned) f->min || v > (unsigned) f->max_value)
                        return field_error(ctx, "value %.*s out of range %d-%d", (int) n, s, f->min,
                                           f->max_value);
                *ret = (int) v;
                return 0;
        }

        if (n > 0 && ascii_isalpha(s[0]) && f->names) {
                for (unsigned i = 0; i < field_size(ctx->field); i++)
                        if (name_eq(s, n, f->names[i])) {
                                *ret = f->min + (int) i;
                                return 0;
                        }
                return field_error(ctx, "unknown name '%.*s'", (int) n, s);
        }

        return field_error(ctx, "invalid value '%.*s'", (int) n, s);
}

/* One list item: '*', a value or a range, optionally followed by '/step'. */
static int parse_item(const CronParseContext *ctx, const char *s, size_t n, CronSet *set) {
        const CronFieldInfo *f = &field_info[ctx->field];
        const char *slash, *dash;
        size_t base_n;
        unsigned step = 1;
        int lo, hi, r;

        slash = memchr(s, '/', n);
        base_n = slash ? (size_t) (slash - s) : n;

        if (slash) {
                const char *t = slash + 1;
                size_t t_n = n - base_n - 1;

                if (t_n == 0)
                        return field_error(ctx, "missing step in '%.*s'", (int) n, s);
                if (parse_digits(t, t_n, &step) < 0)
                        return field_error(ctx, "invalid step '%.*s'", (int) t_n, t);
                if (step == 0)
                        return field_error(ctx, "step must be > 0");
                if (step > field_size(ctx->field))
                        return field_error(ctx, "step %.*s out of range 1-%u", (int) t_n, t,
                                           field_size(ctx->field));
        }

        if (base_n == 0)
                return field_error(ctx, "missing value in '%.*s'", (int) n, s);

        if (base_n == 1 && s[0] == '*') {
                lo = f->min;
                hi = f->max;
        } else {
                dash = memchr(s, '-', base_n);
                if (dash) {
                        size_t start_n = (size_t) (dash - s), end_n = base_n - start_n - 1;

                        if (start_n == 0 || end_n == 0)
                                return field_error(ctx, "invalid range '%.*s'", (int) base_n, s);
                        r = parse_value(ctx, s, start_n, &lo);
                        if (r < 0)
                                return r;
                        r = parse_value(ctx, dash + 1, end_n, &hi);
                        if (r < 0)
                                return r;
                        /* Sunday by name may close a week range (MON-SUN); as a number it
                         * is written 7. */
                        if (ctx->field == CRON_DOW && hi == 0 && lo > 0 && ascii_isalpha(dash[1]))
                                hi = 7;
                        if (lo > hi)
                                return field_error(
                                        ctx, "invalid range '%.*s': start is greater than end",
                                        (int) base_n, s);
                } else {
                        r = parse_value(ctx, s, base_n, &lo);
                        if (r < 0)
                                return r;
                        /* 'a/n' runs to the end of the field; a lone 7 in day of week stays. */
                        hi = slash ? MAX(f->max, lo) : lo;
                }
        }

        set_add_range(set, (unsigned) (lo - f->min), (unsigned) (hi - f->min), step);
        return 0;
}

static int parse_field(const CronParseContext *ctx, const char *s, size_t n, CronSet *ret) {
        bool question_ok = ctx->field == CRON_DOM || ctx->field == CRON_DOW;
        CronSet set = {};
        int r;

        if (memchr(s, '?', n)) {
                if (!question_ok)
                        return field_error(ctx,
                                           "'?' is only allowed in day of month and day of week");
                if (n != 1)
                        return field_error(ctx, "'?' must be the whole field");
                set_add_range(&set, 0, field_size(ctx->field) - 1, 1);
                *ret = set;
                return 0;
        }

        for (size_t i = 0; i <= n;) {
                const char *comma = memchr(s + i, ',', n - i);
                size_t item_n = comma ? (size_t) (comma - (s + i)) : n - i;

                if (item_n == 0)
                        return field_error(ctx, "empty list item in '%.*s'", (int) n, s);
                r = parse_item(ctx, s + i, item_n, &set);
                if (r < 0)
                        return r;
                i += item_n + 1;
        }

        /* Day of week 7 is Sunday, kept as 0 so the set has one bit per weekday. */
        if (ctx->field == CRON_DOW && set_has(&set, 7)) {
                set_remove(&set, 7);
                set_add(&set, 0);
        }

        *ret = set;
        return 0;
}

static bool is_leap_year(int y) {
        return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m) {
        static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

        assert(m >= 1 && m <= 12);
        return m == 2 && is_leap_year(y) ? 29 : days[m - 1];
}

static bool cron_day_matches(const ZlCron *c, int day, int wday) {
        bool dom = set_has(&c->sets[CRON_DOM], (unsigned) (day - 1));
        bool dow = set_has(&c->sets[CRON_DOW], (unsigned) wday);

        if (c->dom_restricted && c->dow_restricted)
                return dom || dow;
        return dom && dow;
}

/* The first matching day >= day in the month, or -1. */
static int cron_next_day(const ZlCron *c, int year, int month, int day) {
        int n_days = days_in_month(year, month), wday;
        struct tm tm = {
                .tm_year = year - 1900,
                .tm_mon = month - 1,
                .tm_mday = day,
        };

        if (day > n_days)
                return -1;

        /* timegm() fills in tm_wday; the days after follow from it. */
        if (timegm(&tm) == (time_t) -1)
                return -1;
        wday = tm.tm_wday;

        for (int d = day; d <= n_days; d++, wday = (wday + 1) % 7)
                if (cron_day_matches(c, d, wday))
                        return d;
        return -1;
}

/* Advances the broken-down time in v (year, month, day, hour, minute, second) to the first match
 * at or after it, a field at a time: a field that does not match moves to its next match and
 * resets the smaller fields, or carries into the larger field when there is none left. */
static int cron_find(const ZlCron *c, int v[6]) {
        int year = v[0], month = v[1], day = v[2], hour = v[3], minute = v[4], second = v[5];
        int n;

        for (;;) {
                n = set_next(&c->sets[CRON_YEAR], year - CRON_YEAR_MIN,
                             (int) field_size(CRON_YEAR));
                if (n < 0)
                        return -ENOENT;
                if (n + CRON_YEAR_MIN != year) {
                        year = n + CRON_YEAR_MIN;
                        month = day = 1;
                        hour = minute = second = 0;
                }

                n = set_next(&c->sets[CRON_MONTH], month - 1, 12);
                if (n < 0) {
                        year++;
                        month = day = 1;
                        hour = minute = second = 0;
                        continue;
                }
                if (n + 1 != month) {
                        month = n + 1;
                        day = 1;
                        hour = minute = second = 0;
                }

                n = cron_next_day(c, year, month, day);
                if (n < 0) {
                        month++;
                        day = 1;
                        hour = minute = second = 0;
                        continue;
                }
                if (n != day) {
                        day = n;
                        hour = minute = second = 0;
                }

                n = set_next(&c->sets[CRON_HOUR], hour, 24);
                if (n < 0) {
                        day++;
                        hour = minute = second = 0;
                        continue;
                }
                if (n != hour) {
                        hour = n;
                        minute = second = 0;
                }

                n = set_next(&c->sets[CRON_MINUTE], minute, 60);
                if (n < 0) {
                        hour++;
                        minute = second = 0;
                        continue;
                }
                if (n != minute) {
                        minute = n;
                        second = 0;
                }

                n = set_next(&c->sets[CRON_SECOND], second, 60);
                if (n < 0) {
                        minute++;
                        second = 0;
                        continue;
                }
                second = n;
                break;
        }

        v[0] = year;
        v[1] = month;
        v[2] = day;
        v[3] = hour;
        v[4] = minute;
        v[5] = second;
        return 0;
}

int zl_cron_next(const ZlCron *c, int64_t after, int64_t *ret_next) {
        struct tm tm;
        time_t t;
        int v[6], r;

        assert(c);
        assert(ret_next);

        if (after >= CRON_TIME_END - 1)
                return -ENOENT;
        /* Nothing fires before 1970: the year field starts there. */
        t = (time_t) MAX(after + 1, 0);
        if (!gmtime_r(&t, &tm))
                return -EOVERFLOW;

        v[0] = tm.tm_year + 1900;
        v[1] = tm.tm_mon + 1;
        v[2] = tm.tm_mday;
        v[3] = tm.tm_hour;
        v[4] = tm.tm_min;
        v[5] = tm.tm_sec;
        /* A leap second cannot come from gmtime_r(), but keep the fields in range regardless. */
        v[5] = MIN(v[5], 59);

        r = cron_find(c, v);
        if (r < 0)
                return r;

        tm = (struct tm){
                .tm_year = v[0] - 1900,
                .tm_mon = v[1] - 1,
                .tm_mday = v[2],
                .tm_hour = v[3],
                .tm_min = v[4],
                .tm_sec = v[5],
        };
        t = timegm(&tm);
        if (t == (time_t) -1)
                return -EOVERFLOW;

        *ret_next = (int64_t) t;
        return 0;
}

/* Appends to buf, which the callers size for the longest possible text. */
static void append(char *buf, size_t size, size_t *pos, const char *format, ...) _printf_(4, 5);
static void append(char *buf, size_t size, size_t *pos, const char *format, ...) {
        va_list ap;
        int r;

        va_start(ap, format);
        r = vsnprintf(buf + *pos, size - *pos, format, ap);
        va_end(ap);
        assert(r >= 0 && (size_t) r < size - *pos);
        *pos += (size_t) r;
}

/* '*' for a full field, else values in ascending order with runs of three or more as ranges. */
static void format_field(const CronSet *s, CronField field, char *buf, size_t size, size_t *pos) {
        unsigned n = field_size(field);
        int min = field_info[field].min;
        bool first = true;

        if (set_is_full(s, n)) {
                append(buf, size, pos, "*");
                return;
        }

        for (unsigned i = 0; i < n; i++) {
                unsigned j = i;

                if (!set_has(s, i))
                        continue;
                while (j + 1 < n && set_has(s, j + 1))
                        j++;

                append(buf, size, pos, "%s%d", first ? "" : ",", min + (int) i);
                if (j >= i + 2)
                        append(buf, size, pos, "-%d", min + (int) j);
                else if (j == i + 1)
                        append(buf, size, pos, ",%d", min + (int) j);
                first = false;
                i = j;
        }
}

static int cron_normalize(ZlCron *c) {
        /* At most every other value of each field: 30 + 30 + 12 + 16 + 6 + 4 two-digit values
         * and 115 four-digit years, with separators, fit with room to spare. */
        char buf[2048];
        size_t pos = 0;

        for (CronField f = 0; f < _CRON_FIELD_MAX; f++) {
                if (f > 0)
                        append(buf, sizeof buf, &pos, " ");
                format_field(&c->sets[f], f, buf, sizeof buf, &pos);
        }

        c->normalized = strdup(buf);
        if (!c->normalized)
                return -ENOMEM;
        return 0;
}

static const char *skip_blanks(const char *p) {
        while (ascii_isblank(*p))
                p++;
        return p;
}

static int expand_macro(const char *expr, const char **ret, char **ret_error) {
        const char *p = skip_blanks(expr), *end = p;

        while (*end && !ascii_isblank(*end))
                end++;
        if (*skip_blanks(end) != '\0')
                return cron_error(ret_error, "unexpected text after '%.*s'", (int) (end - p), p);

        for (size_t i = 0; i < ELEMENTSOF(macros); i++)
                if (name_eq(p, (size_t) (end - p), macros[i].name)) {
                        *ret = macros[i].expansion;
                        return 0;
                }

        return cron_error(ret_error, "unknown macro '%.*s'", (int) (end - p), p);
}

int zl_cron_parse(const char *expr, ZlCron **ret, char **ret_error) {
        _cleanup_(zl_cron_freep) ZlCron *c = NULL;
        const char *fields[7];
        size_t lengths[7];
        const CronField *layout;
        unsigned n_fields = 0;
        int v[6] = { CRON_YEAR_MIN, 1, 1, 0, 0, 0 }, r;

        assert(expr);
        assert(ret);

        if (*skip_blanks(expr) == '@') {
                r = expand_macro(expr, &expr, ret_error);
                if (r < 0)
                        return r;
        }

        for (const char *p = skip_blanks(expr); *p; p = skip_blanks(p)) {
                const char *start = p;

                while (*p && !ascii_isblank(*p))
                        p++;
                if (n_fields < ELEMENTSOF(fields)) {
                        fields[n_fields] = start;
                        lengths[n_fields] = (size_t) (p - start);
                }
                n_fields++;
        }

        switch (n_fields) {
        case 5:
                layout = layout5;
                break;
        case 6:
                layout = layout6;
                break;
        case 7:
                layout = layout7;
                break;
        default:
                return cron_error(ret_error, "expected 5, 6 or 7 fields, found %u", n_fields);
        }

        c = calloc(1, sizeof(ZlCron));
        if (!c)
                return -ENOMEM;

        /* Defaults of the fields the short forms leave out: second 0, every year. */
        set_add(&c->sets[CRON_SECOND], 0);
        set_add_range(&c->sets[CRON_YEAR], 0, field_size(CRON_YEAR) - 1, 1);

        for (unsigned i = 0; i < n_fields; i++) {
                CronParseContext ctx = {
                        .field = layout[i],
                        .position = i + 1,
                        .ret_error = ret_error,
                };

                r = parse_field(&ctx, fields[i], lengths[i], &c->sets[layout[i]]);
                if (r < 0)
                        return r;
        }

        c->dom_restricted = !set_is_full(&c->sets[CRON_DOM], field_size(CRON_DOM));
        c->dow_restricted = !set_is_full(&c->sets[CRON_DOW], field_size(CRON_DOW));

        /* Only the days of month can miss every selected month and year (31 with February
         * alone, 29 February in common years only): such a schedule is a mistake to report now,
         * not a job that silently never runs. */
        if (cron_find(c, v) < 0)
                return cron_error(ret_error,
                                  "the expression never matches: no selected day of month exists "
                                  "in the selected months and years");

        r = cron_normalize(c);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(c);
        return 0;
}

ZlCron *zl_cron_free(ZlCron *c) {
        if (!c)
                return NULL;
        free(c->normalized);
        return mfree(c);
}

const char *zl_cron_normalized(const ZlCron *c) {
        assert(c);
        return c->normalized;
}
