/* SPDX-License-Identifier: Apache-2.0 */
/* time-util.c: clocks, RFC 3339 timestamps and human-readable time spans. */
#include <inttypes.h>
#include <stdio.h>

#include "macro.h"
#include "time-util.h"

usec_t now(clockid_t clock) {
        struct timespec ts;
        int r;

        /* Only an invalid clock id fails, which is a programming error. */
        r = clock_gettime(clock, &ts);
        assert(r == 0);
        (void) r;
        return timespec_load(&ts);
}

usec_t timespec_load(const struct timespec *ts) {
        assert(ts);

        if (ts->tv_sec < 0 || ts->tv_nsec < 0 || (uint64_t) ts->tv_nsec >= NSEC_PER_SEC)
                return USEC_INFINITY;
        if ((uint64_t) ts->tv_sec >
            (USEC_INFINITY - 1 - (uint64_t) ts->tv_nsec / NSEC_PER_USEC) / USEC_PER_SEC)
                return USEC_INFINITY;
        return (usec_t) ts->tv_sec * USEC_PER_SEC + (usec_t) ts->tv_nsec / NSEC_PER_USEC;
}

struct timespec *timespec_store(struct timespec *ts, usec_t u) {
        assert(ts);

        if (u == USEC_INFINITY || u / USEC_PER_SEC > (usec_t) INT64_MAX) {
                ts->tv_sec = (time_t) -1;
                ts->tv_nsec = -1L;
                return ts;
        }
        ts->tv_sec = (time_t) (u / USEC_PER_SEC);
        ts->tv_nsec = (long) ((u % USEC_PER_SEC) * NSEC_PER_USEC);
        return ts;
}

char *format_timestamp(usec_t t, char *buf, size_t len) {
        time_t sec;
        struct tm tm;

        assert(buf);
        assert(len >= TIMESTAMP_MAX_LEN);

        if (t == USEC_INFINITY || t / USEC_PER_SEC > (usec_t) INT64_MAX)
                return NULL;
        sec = (time_t) (t / USEC_PER_SEC);
        if (!gmtime_r(&sec, &tm) || tm.tm_year + 1900 > 9999)
                return NULL;
        snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        return buf;
}

static bool is_leap_year(int y) {
        return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m) {
        static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

        return m == 2 && is_leap_year(y) ? 29 : days[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date, counting in 400-year eras that start on
 * March 1st so that the leap day falls at the end of each year. */
static int64_t days_from_civil(int y, int m, int d) {
        int64_t era, yoe, doy, doe;

        y -= m <= 2;
        era = (y >= 0 ? y : y - 399) / 400;
        yoe = y - era * 400;
        doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
        doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + doe - 719468;
}

/* Reads exactly n digits. */
static bool read_fixed(const char **p, size_t n, int *ret) {
        int v = 0;

        for (size_t i = 0; i < n; i++) {
                char c = (*p)[i];

                if (c < '0' || c > '9')
                        return false;
                v = v * 10 + (c - '0');
        }
        *p += n;
        *ret = v;
        return true;
}

static bool expect(const char **p, char c) {
        if (**p != c)
                return false;
        (*p)++;
        return true;
}

int parse_timestamp(const char *s, usec_t *ret) {
        int year, month, day, hour, minute, second, off_h = 0, off_m = 0, sign = 0;
        uint64_t frac_us = 0;
        int64_t secs;

        if (!s)
                return -EINVAL;

        if (!read_fixed(&s, 4, &year) || !expect(&s, '-') || !read_fixed(&s, 2, &month) ||
            !expect(&s, '-') || !read_fixed(&s, 2, &day))
                return -EINVAL;
        if (*s != 'T' && *s != 't')
                return -EINVAL;
        s++;
        if (!read_fixed(&s, 2, &hour) || !expect(&s, ':') || !read_fixed(&s, 2, &minute) ||
            !expect(&s, ':') || !read_fixed(&s, 2, &second))
                return -EINVAL;

        if (*s == '.') {
                size_t n = 0;

                s++;
                for (; *s >= '0' && *s <= '9'; s++, n++) {
                        if (n >= 9)
                                return -EINVAL;
                        if (n < 6)
                                frac_us = frac_us * 10 + (uint64_t) (*s - '0');
                }
                if (n == 0)
                        return -EINVAL;
                for (; n < 6; n++)
                        frac_us *= 10;
        }

        if (*s == 'Z' || *s == 'z')
                s++;
        else if (*s == '+' || *s == '-') {
                sign = *s == '+' ? 1 : -1;
                s++;
                if (!read_fixed(&s, 2, &off_h) || !expect(&s, ':') || !read_fixed(&s, 2, &off_m))
                        return -EINVAL;
        } else
                return -EINVAL;
        if (*s != '\0')
                return -EINVAL;

        if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) || hour > 23 ||
            minute > 59 || second > 59 || off_h > 23 || off_m > 59)
                return -EINVAL;

        /* Local time minus the offset is UTC. */
        secs = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second -
               sign * (off_h * 3600 + off_m * 60);
        if (secs < 0)
                return -ERANGE;
        if (ret)
                *ret = (usec_t) secs * USEC_PER_SEC + frac_us;
        return 0;
}

char *format_timespan(usec_t t, usec_t accuracy, char *buf, size_t len) {
        static const struct {
                const char *suffix;
                usec_t usec;
        } units[] = {
                { "d", USEC_PER_DAY }, { "h", USEC_PER_HOUR },  { "min", USEC_PER_MINUTE },
                { "s", USEC_PER_SEC }, { "ms", USEC_PER_MSEC }, { "us", 1 },
        };
        size_t n = 0;

        assert(buf);
        assert(len >= TIMESPAN_MAX_LEN);

        if (t == USEC_INFINITY) {
                snprintf(buf, len, "infinity");
                return buf;
        }
        if (accuracy > 1)
                t -= t % accuracy;
        if (t == 0) {
                snprintf(buf, len, "0");
                return buf;
        }

        buf[0] = '\0';
        for (size_t i = 0; i < ELEMENTSOF(units) && t > 0; i++) {
                usec_t k = t / units[i].usec;

                if (k == 0)
                        continue;
                n += (size_t) snprintf(buf + n, len - n, "%s%" PRIu64 "%s", n > 0 ? " " : "", k,
                                       units[i].suffix);
                t -= k * units[i].usec;
        }
        return buf;
}
