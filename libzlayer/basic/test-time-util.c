/* SPDX-License-Identifier: Apache-2.0 */
/* test-time-util.c: clocks, RFC 3339 timestamps (both ways) and human time spans. */
#include "tests.h"
#include "time-util.h"

TEST(clocks) {
        usec_t a, b, r;

        a = now(CLOCK_MONOTONIC);
        b = now(CLOCK_MONOTONIC);
        ASSERT_TRUE(b >= a);
        r = now(CLOCK_REALTIME);
        /* After 2020 and before 2200: a sanity check on the unit. */
        ASSERT_TRUE(r > UINT64_C(1577836800) * USEC_PER_SEC);
        ASSERT_TRUE(r < UINT64_C(7258118400) * USEC_PER_SEC);
        ASSERT_TRUE(now(CLOCK_BOOTTIME) > 0);
}

TEST(timespec) {
        struct timespec ts = { .tv_sec = 12, .tv_nsec = 345678999 };

        ASSERT_U64_EQ(timespec_load(&ts), UINT64_C(12345678));
        ASSERT_TRUE(timespec_store(&ts, UINT64_C(1500001)) == &ts);
        ASSERT_EQ(ts.tv_sec, 1);
        ASSERT_EQ(ts.tv_nsec, 500001000);
        timespec_store(&ts, USEC_INFINITY);
        ASSERT_EQ(ts.tv_sec, -1);
        ASSERT_U64_EQ(timespec_load(&ts), USEC_INFINITY);
        ts = (struct timespec){ .tv_sec = 1, .tv_nsec = 1000000000 };
        ASSERT_U64_EQ(timespec_load(&ts), USEC_INFINITY);
}

TEST(format_timestamp) {
        static const struct {
                usec_t t;
                const char *out;
        } cases[] = {
                { 0, "1970-01-01T00:00:00Z" },
                { UINT64_C(1795961520) * USEC_PER_SEC, "2026-11-29T14:12:00Z" },
                { UINT64_C(1795961520) * USEC_PER_SEC + 999999, "2026-11-29T14:12:00Z" },
                { UINT64_C(951782400) * USEC_PER_SEC, "2000-02-29T00:00:00Z" },
                { UINT64_C(253402300799) * USEC_PER_SEC, "9999-12-31T23:59:59Z" },
        };
        char buf[TIMESTAMP_MAX_LEN];

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                usec_t back;

                ASSERT_TRUE(format_timestamp(cases[i].t, buf, sizeof buf) == buf);
                ASSERT_STREQ(buf, cases[i].out);
                ASSERT_OK(parse_timestamp(buf, &back));
                ASSERT_U64_EQ(back, cases[i].t - cases[i].t % USEC_PER_SEC);
        }
        ASSERT_NULL(format_timestamp(USEC_INFINITY, buf, sizeof buf));
        ASSERT_NULL(format_timestamp(UINT64_C(253402300800) * USEC_PER_SEC, buf, sizeof buf));
}

TEST(parse_timestamp) {
        static const struct {
                const char *in;
                int ret;
                usec_t t;
        } cases[] = {
                { "1970-01-01T00:00:00Z", 0, 0 },
                { "2026-11-29T14:12:00Z", 0, UINT64_C(1795961520000000) },
                { "2026-11-29t14:12:00z", 0, UINT64_C(1795961520000000) },
                { "2026-11-29T14:12:00.5Z", 0, UINT64_C(1795961520500000) },
                { "2026-11-29T14:12:00.123456Z", 0, UINT64_C(1795961520123456) },
                { "2026-11-29T14:12:00.123456789Z", 0, UINT64_C(1795961520123456) },
                { "2026-11-29T16:12:00+02:00", 0, UINT64_C(1795961520000000) },
                { "2026-11-29T09:42:00-04:30", 0, UINT64_C(1795961520000000) },
                { "2026-11-29T14:12:00+00:00", 0, UINT64_C(1795961520000000) },
                { "2026-11-29T14:12:00-00:00", 0, UINT64_C(1795961520000000) },
                { "2000-02-29T00:00:00Z", 0, UINT64_C(951782400000000) },
                { "2024-02-29T23:59:59Z", 0, UINT64_C(1709251199000000) },
                { "2100-03-01T00:00:00Z", 0, UINT64_C(4107542400000000) },
                { "9999-12-31T23:59:59Z", 0, UINT64_C(253402300799000000) },
                { "1970-01-01T01:00:00+01:00", 0, 0 },
                { "1969-12-31T23:59:59Z", -ERANGE, 0 },
                { "1970-01-01T00:30:00+01:00", -ERANGE, 0 },
                { "0000-01-01T00:00:00Z", -ERANGE, 0 },
                { "2026-11-29T14:12:00", -EINVAL, 0 },
                { "2026-11-29 14:12:00Z", -EINVAL, 0 },
                { "2026-11-29T14:12Z", -EINVAL, 0 },
                { "2026-11-29", -EINVAL, 0 },
                { "26-11-29T14:12:00Z", -EINVAL, 0 },
                { "2026-1-29T14:12:00Z", -EINVAL, 0 },
                { "2026-13-01T00:00:00Z", -EINVAL, 0 },
                { "2026-00-01T00:00:00Z", -EINVAL, 0 },
                { "2026-11-00T00:00:00Z", -EINVAL, 0 },
                { "2026-11-31T00:00:00Z", -EINVAL, 0 },
                { "2025-02-29T00:00:00Z", -EINVAL, 0 },
                { "2100-02-29T00:00:00Z", -EINVAL, 0 },
                { "2026-11-29T24:00:00Z", -EINVAL, 0 },
                { "2026-11-29T23:60:00Z", -EINVAL, 0 },
                { "2026-12-31T23:59:60Z", -EINVAL, 0 },
                { "2026-11-29T14:12:00.Z", -EINVAL, 0 },
                { "2026-11-29T14:12:00.1234567891Z", -EINVAL, 0 },
                { "2026-11-29T14:12:00+2:00", -EINVAL, 0 },
                { "2026-11-29T14:12:00+0200", -EINVAL, 0 },
                { "2026-11-29T14:12:00+24:00", -EINVAL, 0 },
                { "2026-11-29T14:12:00+02:60", -EINVAL, 0 },
                { "2026-11-29T14:12:00ZZ", -EINVAL, 0 },
                { "2026-11-29T14:12:00Z ", -EINVAL, 0 },
                { " 2026-11-29T14:12:00Z", -EINVAL, 0 },
                { "+2026-11-29T14:12:00Z", -EINVAL, 0 },
                { "", -EINVAL, 0 },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                usec_t t = 42;
                int r = parse_timestamp(cases[i].in, &t);

                if (r != cases[i].ret)
                        test_fail(__FILE__, __LINE__, "parse_timestamp(\"%s\") = %d, expected %d",
                                  cases[i].in, r, cases[i].ret);
                ASSERT_U64_EQ(t, cases[i].ret == 0 ? cases[i].t : 42);
        }
        ASSERT_ERROR(parse_timestamp(NULL, NULL), EINVAL);
}

TEST(timestamp_agrees_with_libc) {
        char buf[TIMESTAMP_MAX_LEN];

        /* Every day over four centuries at an odd time of day: our date arithmetic against
         * gmtime_r(). */
        for (uint64_t s = 7 * 3600 + 13 * 60 + 5; s < UINT64_C(253402300799); s += 86400 * 7 + 1) {
                usec_t back;

                ASSERT_NOT_NULL(format_timestamp(s * USEC_PER_SEC, buf, sizeof buf));
                ASSERT_OK(parse_timestamp(buf, &back));
                ASSERT_U64_EQ(back, s * USEC_PER_SEC);
        }
}

TEST(format_timespan) {
        static const struct {
                usec_t t, accuracy;
                const char *out;
        } cases[] = {
                { 0, 0, "0" },
                { 1, 0, "1us" },
                { 250 * USEC_PER_MSEC, 0, "250ms" },
                { USEC_PER_SEC, 1, "1s" },
                { USEC_PER_HOUR + 30 * USEC_PER_MINUTE + 2 * USEC_PER_SEC, USEC_PER_SEC,
                  "1h 30min 2s" },
                { USEC_PER_HOUR + 30 * USEC_PER_MINUTE + 2 * USEC_PER_SEC + 999999, USEC_PER_SEC,
                  "1h 30min 2s" },
                { USEC_PER_SEC + 500 * USEC_PER_MSEC + 20, 0, "1s 500ms 20us" },
                { 3 * USEC_PER_DAY + 4 * USEC_PER_HOUR + 5, USEC_PER_MINUTE, "3d 4h" },
                { 500 * USEC_PER_MSEC, USEC_PER_SEC, "0" },
                { USEC_PER_DAY, 0, "1d" },
                { USEC_INFINITY, 0, "infinity" },
                { USEC_INFINITY - 1, 0, "213503982d 8h 1min 49s 551ms 614us" },
        };
        char buf[TIMESPAN_MAX_LEN];

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                ASSERT_TRUE(format_timespan(cases[i].t, cases[i].accuracy, buf, sizeof buf) == buf);
                ASSERT_STREQ(buf, cases[i].out);
        }
}
