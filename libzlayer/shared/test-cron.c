/* SPDX-License-Identifier: Apache-2.0 */
/* test-cron.c: cron syntax, errors, normalization and next fire times, cross-checked against a
 * brute-force reference on random expressions. */
#include <stdarg.h>
#include <stdio.h>

#include "cron-internal.h"
#include "tests.h"
#include "zlayer/spec.h"

#define YEAR_MIN 1970
#define YEAR_MAX 2199

static bool leap(int y) {
        return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int y, int m) {
        static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
        return m == 2 && leap(y) ? 29 : days[m - 1];
}

/* Seconds since the epoch by counting days, independent of the libc time functions the code
 * under test uses. */
static int64_t utc(int y, int mo, int d, int h, int mi, int s) {
        int64_t days = 0;

        for (int i = YEAR_MIN; i < y; i++)
                days += leap(i) ? 366 : 365;
        for (int i = 1; i < mo; i++)
                days += month_days(y, i);
        days += d - 1;
        return days * 86400 + h * 3600 + mi * 60 + s;
}

static const int64_t time_end = INT64_C(7258118400); /* 2200-01-01 00:00:00 */

static char *parse_error(const char *expr) {
        ZlCron *c = NULL;
        char *e = NULL;

        ASSERT_ERROR(zl_cron_parse(expr, &c, &e), EINVAL);
        ASSERT_NULL(c);
        ASSERT_NOT_NULL(e);
        return e;
}

static void check_error(const char *expr, const char *message) {
        _cleanup_free_ char *e = parse_error(expr);

        if (!streq(e, message))
                test_fail(__FILE__, __LINE__, "'%s': expected error \"%s\", got \"%s\"", expr,
                          message, e);
}

static void check_normalized(const char *expr, const char *expected) {
        _cleanup_(zl_cron_freep) ZlCron *c = NULL, *again = NULL;
        _cleanup_free_ char *e = NULL;
        int r;

        r = zl_cron_parse(expr, &c, &e);
        if (r < 0)
                test_fail(__FILE__, __LINE__, "'%s' failed to parse: %s", expr, strna(e));
        if (!streq(zl_cron_normalized(c), expected))
                test_fail(__FILE__, __LINE__, "'%s' normalized to \"%s\", expected \"%s\"", expr,
                          zl_cron_normalized(c), expected);
        /* The normalized text is a fixed point. */
        ASSERT_OK(zl_cron_parse(zl_cron_normalized(c), &again, NULL));
        ASSERT_STREQ(zl_cron_normalized(again), expected);
}

static void check_next(const char *expr, int64_t after, int64_t expected) {
        _cleanup_(zl_cron_freep) ZlCron *c = NULL;
        int64_t next = -1;
        int r;

        ASSERT_OK(zl_cron_parse(expr, &c, NULL));
        r = zl_cron_next(c, after, &next);
        if (expected < 0) {
                if (r != -ENOENT)
                        test_fail(__FILE__, __LINE__,
                                  "'%s' after %" PRIi64 ": expected -ENOENT, got %d (%" PRIi64 ")",
                                  expr, after, r, next);
                return;
        }
        if (r < 0 || next != expected)
                test_fail(__FILE__, __LINE__,
                          "'%s' after %" PRIi64 ": expected %" PRIi64 ", got %d (%" PRIi64 ")",
                          expr, after, expected, r, next);
}

TEST(field_counts) {
        check_normalized("5 4 * * *", "0 5 4 * * * *");
        check_normalized("3 5 4 * * *", "3 5 4 * * * *");
        check_normalized("3 5 4 * * * 2030", "3 5 4 * * * 2030");
        /* Blanks of any length around and between fields. */
        check_normalized("  5\t4 \t *   *\t*  ", "0 5 4 * * * *");
}

TEST(syntax) {
        check_normalized("* * * * *", "0 * * * * * *");
        check_normalized("* * * * * *", "* * * * * * *");
        check_normalized("1,2,3,5 * * * *", "0 1-3,5 * * * * *");
        check_normalized("1,2 * * * *", "0 1,2 * * * * *");
        check_normalized("7,3,5,3 * * * *", "0 3,5,7 * * * * *");
        check_normalized("10-20 * * * *", "0 10-20 * * * * *");
        check_normalized("*/15 * * * *", "0 0,15,30,45 * * * * *");
        check_normalized("10-30/10 * * * *", "0 10,20,30 * * * * *");
        check_normalized("50/3 * * * *", "0 50,53,56,59 * * * * *");
        check_normalized("*/60 * * * *", "0 0 * * * * *");
        check_normalized("1-10/3,30,*/20 * * * *", "0 0,1,4,7,10,20,30,40 * * * * *");
        check_normalized("0 */6 * * *", "0 0 0,6,12,18 * * * *");
        check_normalized("0 0 1,15 * *", "0 0 0 1,15 * * *");
        check_normalized("0 0 ? * *", "0 0 0 * * * *");
        check_normalized("0 0 * * ?", "0 0 0 * * * *");
        check_normalized("0 0 */10 * *", "0 0 0 1,11,21,31 * * *");
        check_normalized("0 0 * */3 *", "0 0 0 * 1,4,7,10 * *");
        check_normalized("0 0 1 JAN,jul *", "0 0 0 1 1,7 * *");
        check_normalized("0 0 1 Mar-May *", "0 0 0 1 3-5 * *");
        check_normalized("0 0 1 FEB-DEC/2 *", "0 0 0 1 2,4,6,8,10,12 * *");
        check_normalized("0 9 * * mon-FRI", "0 0 9 * * 1-5 *");
        check_normalized("0 9 * * SUN,sat", "0 0 9 * * 0,6 *");
        check_normalized("0 9 * * */2", "0 0 9 * * 0,2,4,6 *");
        check_normalized("0 9 * * 1/2", "0 0 9 * * 1,3,5 *");
        check_normalized("0 9 * * 5-7", "0 0 9 * * 0,5,6 *");
        check_normalized("0 9 * * FRI-SUN", "0 0 9 * * 0,5,6 *");
        check_normalized("0 9 * * 7", "0 0 9 * * 0 *");
        check_normalized("0 9 * * SUN", "0 0 9 * * 0 *");
        check_normalized("0 9 * * SUN-SUN", "0 0 9 * * 0 *");
        check_normalized("0 9 * * 0-0", "0 0 9 * * 0 *");
        check_normalized("0 0 0 1 1 ? 2024-2026,2030", "0 0 0 1 1 * 2024-2026,2030");
        check_normalized("0 0 0 1 1 ? 2030/50", "0 0 0 1 1 * 2030,2080,2130,2180");
        check_normalized("0 0 0 1 1 ? 2199", "0 0 0 1 1 * 2199");
        check_normalized("00 05 * * *", "0 0 5 * * * *");
}

TEST(macros) {
        check_normalized("@yearly", "0 0 0 1 1 * *");
        check_normalized("@annually", "0 0 0 1 1 * *");
        check_normalized("@monthly", "0 0 0 1 * * *");
        check_normalized("@weekly", "0 0 0 * * 0 *");
        check_normalized("@daily", "0 0 0 * * * *");
        check_normalized("@midnight", "0 0 0 * * * *");
        check_normalized("@hourly", "0 0 * * * * *");
        check_normalized("  @Daily\t", "0 0 0 * * * *");
}

TEST(normalization_equivalences) {
        static const char *const groups[][5] = {
                { "0 12 * * MON-FRI", "0 0 12 ? * 1-5 *", "0 0 12 * * mon,tue,wed,thu,fri",
                  "0 12 ? JAN-DEC 1-5", "0 0 12 1-31 * 1,2-5/1 1970-2199" },
                { "* * * * *", "0-59 * * * *", "*/1 * * * *", "0 * * * * * *", "0 0-59/1 * * * *" },
                { "0 0 * * 0", "0 0 * * 7", "0 0 * * SUN", "0 0 * * 0,7", "0 0 0 ? * sun *" },
                { "0 0 * * *", "0 0 * * 0-7", "0 0 * * 0-6", "0 0 * * MON-SUN", "@daily" },
                { "0 0 1 * *", "0 0 1 * */1", "0 0 1 * 1-7", "@monthly", "0 0 0 1 * ? *" },
                { "*/15 * * * *", "0,15,30,45 * * * *", "0-59/15 * * * *", "0/15 * * * *",
                  "0 0,15,30,45 0-23 * * * *" },
        };

        for (size_t g = 0; g < ELEMENTSOF(groups); g++) {
                _cleanup_(zl_cron_freep) ZlCron *first = NULL;

                ASSERT_OK(zl_cron_parse(groups[g][0], &first, NULL));
                for (size_t i = 1; i < ELEMENTSOF(groups[g]); i++) {
                        _cleanup_(zl_cron_freep) ZlCron *c = NULL;

                        ASSERT_OK(zl_cron_parse(groups[g][i], &c, NULL));
                        if (!streq(zl_cron_normalized(first), zl_cron_normalized(c)))
                                test_fail(__FILE__, __LINE__, "'%s' -> \"%s\" but '%s' -> \"%s\"",
                                          groups[g][0], zl_cron_normalized(first), groups[g][i],
                                          zl_cron_normalized(c));
                }
        }

        check_normalized("0 12 * * MON-FRI", "0 0 12 * * 1-5 *");
}

TEST(errors) {
        check_error("* * * *", "expected 5, 6 or 7 fields, found 4");
        check_error("", "expected 5, 6 or 7 fields, found 0");
        check_error(" \t ", "expected 5, 6 or 7 fields, found 0");
        check_error("1 2 3 4 5 6 7 8", "expected 5, 6 or 7 fields, found 8");

        check_error("0 24 * * *", "field 2 (hour): value 24 out of range 0-23");
        check_error("60 * * * * *", "field 1 (second): value 60 out of range 0-59");
        check_error("0 60 * * * *", "field 2 (minute): value 60 out of range 0-59");
        check_error("0 0 0 0 * *", "field 4 (day of month): value 0 out of range 1-31");
        check_error("0 0 32 * *", "field 3 (day of month): value 32 out of range 1-31");
        check_error("0 0 * 13 *", "field 4 (month): value 13 out of range 1-12");
        check_error("0 0 * 0 *", "field 4 (month): value 0 out of range 1-12");
        check_error("0 0 * * 8", "field 5 (day of week): value 8 out of range 0-7");
        check_error("0 0 0 * * * 1969", "field 7 (year): value 1969 out of range 1970-2199");
        check_error("0 0 0 * * * 2200", "field 7 (year): value 2200 out of range 1970-2199");
        check_error("0 0 0 * * * 99999999999999999999",
                    "field 7 (year): value 99999999999999999999 out of range 1970-2199");
        check_error("0 1-99 * * *", "field 2 (hour): value 99 out of range 0-23");

        check_error("0 0 0 1 JNU ? *", "field 5 (month): unknown name 'JNU'");
        check_error("0 0 * MON *", "field 4 (month): unknown name 'MON'");
        check_error("0 0 * * JAN", "field 5 (day of week): unknown name 'JAN'");
        check_error("0 0 * * MONDAY", "field 5 (day of week): unknown name 'MONDAY'");
        check_error("0 0 * JAN-FOO *", "field 4 (month): unknown name 'FOO'");
        check_error("abc * * * *", "field 1 (minute): invalid value 'abc'");
        check_error("1x * * * *", "field 1 (minute): invalid value '1x'");
        check_error("1.5 * * * *", "field 1 (minute): invalid value '1.5'");
        check_error("*5 * * * *", "field 1 (minute): invalid value '*5'");
        check_error("1-2-3 * * * *", "field 1 (minute): invalid value '2-3'");

        check_error("*/0 * * * *", "field 1 (minute): step must be > 0");
        check_error("0 0 1-10/00 * *", "field 3 (day of month): step must be > 0");
        check_error("*/61 * * * *", "field 1 (minute): step 61 out of range 1-60");
        check_error("0 */25 * * *", "field 2 (hour): step 25 out of range 1-24");
        check_error("*/ * * * *", "field 1 (minute): missing step in '*/'");
        check_error("*/x * * * *", "field 1 (minute): invalid step 'x'");
        check_error("*/-1 * * * *", "field 1 (minute): invalid step '-1'");
        check_error("/5 * * * *", "field 1 (minute): missing value in '/5'");

        check_error("5-3 * * * *",
                    "field 1 (minute): invalid range '5-3': start is greater than end");
        check_error("0 0 * * FRI-MON",
                    "field 5 (day of week): invalid range 'FRI-MON': start is greater than end");
        check_error("0 0 * * 5-0",
                    "field 5 (day of week): invalid range '5-0': start is greater than end");
        check_error("0 0 * DEC-JAN *",
                    "field 4 (month): invalid range 'DEC-JAN': start is greater than end");
        check_error("-5 * * * *", "field 1 (minute): invalid range '-5'");
        check_error("5- * * * *", "field 1 (minute): invalid range '5-'");

        check_error("1,,2 * * * *", "field 1 (minute): empty list item in '1,,2'");
        check_error("1, * * * *", "field 1 (minute): empty list item in '1,'");
        check_error(",1 * * * *", "field 1 (minute): empty list item in ',1'");

        check_error("? * * * *",
                    "field 1 (minute): '?' is only allowed in day of month and day of week");
        check_error("0 0 * ? *",
                    "field 4 (month): '?' is only allowed in day of month and day of week");
        check_error("0 0 ?,1 * *", "field 3 (day of month): '?' must be the whole field");
        check_error("0 0 * * ?/2", "field 5 (day of week): '?' must be the whole field");

        check_error("@fortnightly", "unknown macro '@fortnightly'");
        check_error("@", "unknown macro '@'");
        check_error("@daily 5", "unexpected text after '@daily'");

        check_error("0 0 31 2 *", "the expression never matches: no selected day of month exists "
                                  "in the selected months and years");
        check_error("0 0 30,31 2 *", "the expression never matches: no selected day of month "
                                     "exists in the selected months and years");
        check_error("0 0 31 4,6,9,11 *", "the expression never matches: no selected day of month "
                                         "exists in the selected months and years");
        check_error("0 0 0 29 2 ? 2025", "the expression never matches: no selected day of month "
                                         "exists in the selected months and years");
        check_error("0 0 0 29 2 ? 2100-2103", "the expression never matches: no selected day of "
                                              "month exists in the selected months and years");
}

TEST(error_outputs) {
        ZlCron *c = NULL;
        char *e = (char *) "untouched";

        /* Without ret_error only the verdict comes back. */
        ASSERT_ERROR(zl_cron_parse("0 24 * * *", &c, NULL), EINVAL);
        ASSERT_ERROR(zl_cron_parse("@nope", &c, NULL), EINVAL);
        ASSERT_ERROR(zl_cron_parse("* *", &c, NULL), EINVAL);
        ASSERT_NULL(c);

        /* Success leaves ret_error alone. */
        ASSERT_OK(zl_cron_parse("0 0 * * *", &c, &e));
        ASSERT_STREQ(e, "untouched");
        ASSERT_NOT_NULL(c);
        ASSERT_NULL(zl_cron_free(c));
        ASSERT_NULL(zl_cron_free(NULL));
}

TEST(next_basic) {
        check_next("* * * * *", utc(2024, 1, 1, 0, 0, 0), utc(2024, 1, 1, 0, 1, 0));
        check_next("* * * * *", utc(2024, 1, 1, 0, 0, 30), utc(2024, 1, 1, 0, 1, 0));
        check_next("* * * * *", utc(2024, 12, 31, 23, 59, 0), utc(2025, 1, 1, 0, 0, 0));
        check_next("* * * * * *", utc(2024, 2, 28, 23, 59, 59), utc(2024, 2, 29, 0, 0, 0));
        check_next("0 * * * *", utc(2024, 5, 10, 10, 0, 0), utc(2024, 5, 10, 11, 0, 0));
        check_next("0 * * * *", utc(2024, 5, 10, 10, 59, 59), utc(2024, 5, 10, 11, 0, 0));
        check_next("0 * * * *", utc(2024, 5, 10, 9, 59, 59), utc(2024, 5, 10, 10, 0, 0));
        check_next("*/15 * * * *", utc(2024, 5, 10, 10, 7, 0), utc(2024, 5, 10, 10, 15, 0));
        check_next("*/15 * * * *", utc(2024, 5, 10, 10, 45, 0), utc(2024, 5, 10, 11, 0, 0));
        check_next("*/15 * * * *", utc(2024, 5, 10, 23, 45, 0), utc(2024, 5, 11, 0, 0, 0));
        check_next("15,45 8-10 * * *", utc(2024, 1, 1, 10, 50, 0), utc(2024, 1, 2, 8, 15, 0));
        check_next("15,45 8-10 * * *", utc(2024, 1, 1, 8, 15, 0), utc(2024, 1, 1, 8, 45, 0));
        /* 6 fields: every 20 seconds of every 6th minute. */
        check_next("*/20 */6 * * * *", utc(2024, 1, 1, 0, 5, 50), utc(2024, 1, 1, 0, 6, 0));
        check_next("*/20 */6 * * * *", utc(2024, 1, 1, 0, 6, 40), utc(2024, 1, 1, 0, 12, 0));
        check_next("30 0 0 * * *", utc(2024, 1, 1, 0, 0, 30), utc(2024, 1, 2, 0, 0, 30));
}

TEST(next_weekdays) {
        /* 2024-03-01 is a Friday. */
        check_next("30 9 * * MON-FRI", utc(2024, 3, 1, 10, 0, 0), utc(2024, 3, 4, 9, 30, 0));
        check_next("30 9 * * MON-FRI", utc(2024, 3, 1, 9, 0, 0), utc(2024, 3, 1, 9, 30, 0));
        check_next("30 9 * * 1-5", utc(2024, 3, 2, 9, 30, 0), utc(2024, 3, 4, 9, 30, 0));
        /* 7 and SUN are both Sunday; 2024-01-01 is a Monday. */
        check_next("0 0 * * 7", utc(2024, 1, 1, 0, 0, 0), utc(2024, 1, 7, 0, 0, 0));
        check_next("0 0 0 ? * SUN", utc(2024, 1, 1, 0, 0, 0), utc(2024, 1, 7, 0, 0, 0));
        check_next("0 0 * * FRI", utc(2024, 1, 12, 0, 0, 0), utc(2024, 1, 19, 0, 0, 0));
        check_next("0 0 * * SAT", utc(2024, 12, 29, 0, 0, 0), utc(2025, 1, 4, 0, 0, 0));
}

TEST(next_month_ends) {
        check_next("0 0 31 * *", utc(2024, 4, 1, 0, 0, 0), utc(2024, 5, 31, 0, 0, 0));
        check_next("0 0 31 * *", utc(2024, 5, 31, 0, 0, 0), utc(2024, 7, 31, 0, 0, 0));
        check_next("0 0 31 * *", utc(2024, 12, 31, 0, 0, 0), utc(2025, 1, 31, 0, 0, 0));
        /* Odd months: September and November have 30 days. */
        check_next("0 0 31 1-12/2 *", utc(2024, 8, 1, 0, 0, 0), utc(2025, 1, 31, 0, 0, 0));
        check_next("0 0 30 * *", utc(2024, 1, 31, 0, 0, 0), utc(2024, 3, 30, 0, 0, 0));
        check_next("0 0 29 * *", utc(2023, 1, 30, 0, 0, 0), utc(2023, 3, 29, 0, 0, 0));
        check_next("0 0 29 * *", utc(2024, 1, 30, 0, 0, 0), utc(2024, 2, 29, 0, 0, 0));
        check_next("0 0 28-31 2 *", utc(2024, 2, 28, 0, 0, 0), utc(2024, 2, 29, 0, 0, 0));
        check_next("0 0 28-31 2 *", utc(2023, 2, 28, 0, 0, 0), utc(2024, 2, 28, 0, 0, 0));
}

TEST(next_leap_day) {
        check_next("0 0 29 2 *", utc(2025, 1, 1, 0, 0, 0), utc(2028, 2, 29, 0, 0, 0));
        /* Hand-checked epoch values: 2025-01-01 and 2028-02-29, midnight UTC. */
        check_next("0 0 29 2 *", INT64_C(1735689600), INT64_C(1835395200));
        /* 2100 is not a leap year. */
        check_next("0 0 29 2 *", utc(2096, 3, 1, 0, 0, 0), utc(2104, 2, 29, 0, 0, 0));
        check_next("0 0 0 29 2 ? 2100-2104", utc(2024, 1, 1, 0, 0, 0), utc(2104, 2, 29, 0, 0, 0));
        /* 2000 is. */
        check_next("0 0 29 2 *", utc(1997, 3, 1, 0, 0, 0), utc(2000, 2, 29, 0, 0, 0));
        check_next("0 12 29 2 *", utc(2024, 2, 29, 12, 0, 0), utc(2028, 2, 29, 12, 0, 0));
}

TEST(next_year_boundaries) {
        check_next("0 0 1 1 *", utc(2024, 12, 31, 23, 59, 59), utc(2025, 1, 1, 0, 0, 0));
        check_next("59 23 31 12 *", utc(2024, 12, 31, 23, 59, 0), utc(2025, 12, 31, 23, 59, 0));
        check_next("59 23 31 12 *", utc(2024, 12, 31, 23, 58, 59), utc(2024, 12, 31, 23, 59, 0));
        check_next("0 0 0 * * ? 2030", utc(2024, 6, 15, 0, 0, 0), utc(2030, 1, 1, 0, 0, 0));
        check_next("0 0 12 * * ? 2020", utc(2024, 6, 15, 0, 0, 0), -1);
        check_next("0 0 12 * * ? 2020", utc(2019, 6, 15, 0, 0, 0), utc(2020, 1, 1, 12, 0, 0));
        check_next("0 0 12 * * ? 2020", utc(2020, 12, 31, 12, 0, 0), -1);
        check_next("0 0 0 1 1 ? 2025,2027", utc(2025, 6, 1, 0, 0, 0), utc(2027, 1, 1, 0, 0, 0));
        check_next("0 0 0 1 1 ? 2025,2027", utc(2027, 1, 1, 0, 0, 0), -1);
        /* The last second there is, and nothing after it. */
        check_next("* * * * * *", utc(2199, 12, 31, 23, 59, 58), utc(2199, 12, 31, 23, 59, 59));
        check_next("* * * * * *", utc(2199, 12, 31, 23, 59, 59), -1);
        check_next("* * * * * *", time_end, -1);
        check_next("* * * * * *", INT64_MAX, -1);
        /* Before the epoch the first match is at or after 1970-01-01. */
        check_next("0 0 1 1 *", -1, 0);
        check_next("0 0 1 1 *", INT64_MIN, 0);
        check_next("0 0 1 1 *", 0, utc(1971, 1, 1, 0, 0, 0));
        check_next("0 0 2 * * ? 1970", -86400 * 365, utc(1970, 1, 1, 2, 0, 0));
}

TEST(next_macros) {
        check_next("@hourly", utc(2024, 1, 1, 0, 30, 0), utc(2024, 1, 1, 1, 0, 0));
        check_next("@daily", utc(2024, 1, 1, 0, 0, 0), utc(2024, 1, 2, 0, 0, 0));
        check_next("@midnight", utc(2024, 2, 28, 12, 0, 0), utc(2024, 2, 29, 0, 0, 0));
        check_next("@weekly", utc(2024, 1, 1, 0, 0, 0), utc(2024, 1, 7, 0, 0, 0));
        check_next("@monthly", utc(2024, 1, 15, 0, 0, 0), utc(2024, 2, 1, 0, 0, 0));
        check_next("@yearly", utc(2024, 1, 1, 0, 0, 0), utc(2025, 1, 1, 0, 0, 0));
        check_next("@annually", utc(2023, 7, 1, 0, 0, 0), utc(2024, 1, 1, 0, 0, 0));
}

TEST(next_dom_dow_or_rule) {
        /* Both restricted: the 13th or any Friday. 2024-01-05 and 01-12 are Fridays, 01-13 a
         * Saturday. */
        check_next("0 0 13 * FRI", utc(2024, 1, 1, 0, 0, 0), utc(2024, 1, 5, 0, 0, 0));
        check_next("0 0 13 * FRI", utc(2024, 1, 5, 0, 0, 0), utc(2024, 1, 12, 0, 0, 0));
        check_next("0 0 13 * FRI", utc(2024, 1, 12, 0, 0, 0), utc(2024, 1, 13, 0, 0, 0));
        check_next("0 0 13 * FRI", utc(2024, 1, 13, 0, 0, 0), utc(2024, 1, 19, 0, 0, 0));
        /* The 1st or any Monday: 2024-01-29 is a Monday, 02-01 a Thursday. */
        check_next("0 0 1 * 1", utc(2024, 1, 1, 0, 0, 0), utc(2024, 1, 8, 0, 0, 0));
        check_next("0 0 1 * 1", utc(2024, 1, 29, 0, 0, 0), utc(2024, 2, 1, 0, 0, 0));
        /* One side unrestricted: both must match, i.e. the restricted one alone. */
        check_next("0 0 13 * *", utc(2024, 1, 1, 0, 0, 0), utc(2024, 1, 13, 0, 0, 0));
        check_next("0 0 ? * FRI", utc(2024, 1, 13, 0, 0, 0), utc(2024, 1, 19, 0, 0, 0));
        /* A day-of-week covering the whole week is unrestricted, however it is written. */
        check_next("0 0 1 * */1", utc(2024, 1, 1, 0, 0, 0), utc(2024, 2, 1, 0, 0, 0));
        check_next("0 0 1 * MON-SUN", utc(2024, 1, 1, 0, 0, 0), utc(2024, 2, 1, 0, 0, 0));
        check_next("0 0 1-31 * MON", utc(2024, 1, 1, 0, 0, 0), utc(2024, 1, 8, 0, 0, 0));
        /* OR across months: Friday the 13th is not required. */
        check_next("0 0 0 13 2 FRI *", utc(2024, 2, 13, 0, 0, 0), utc(2024, 2, 16, 0, 0, 0));
        check_next("0 0 0 13 2 FRI *", utc(2024, 2, 23, 0, 0, 0), utc(2025, 2, 7, 0, 0, 0));
}

/* ---- randomized cross-check against a brute-force reference --------------------------------- */

/* The set an expression means, built alongside its text. */
typedef struct Model {
        bool sec[60];
        bool min[60];
        bool hour[24];
        bool dom[32];
        bool mon[13];
        bool dow[7];
        bool year[YEAR_MAX + 1];
} Model;

static uint64_t rng_state = UINT64_C(0x9e3779b97f4a7c15);

/* xorshift64*: deterministic across runs and platforms. */
static unsigned rnd(unsigned n) {
        rng_state ^= rng_state >> 12;
        rng_state ^= rng_state << 25;
        rng_state ^= rng_state >> 27;
        return (unsigned) ((rng_state * UINT64_C(2685821657736338717)) >> 33) % n;
}

static int rnd_between(int lo, int hi) {
        return lo + (int) rnd((unsigned) (hi - lo + 1));
}

typedef struct Gen {
        int min;
        int max; /* end of '*' */
        int max_value; /* 7 for day of week */
        int pick_lo; /* where random values come from: a window for years */
        int pick_hi;
        const char *const *names;
        bool question;
        bool is_dow;
} Gen;

static const char *const gen_months[] = { "JAN", "feb", "Mar", "APR", "may", "JUN",
                                          "jul", "AUG", "Sep", "OCT", "nov", "DEC" };
static const char *const gen_days[] = { "SUN", "mon", "Tue", "WED", "thu", "Fri", "SAT" };

static void out(char *buf, size_t size, const char *format, ...) _printf_(3, 4);
static void out(char *buf, size_t size, const char *format, ...) {
        size_t n = strlen(buf);
        va_list ap;

        va_start(ap, format);
        ASSERT_LT(vsnprintf(buf + n, size - n, format, ap), (int) (size - n));
        va_end(ap);
}

static void gen_value(const Gen *g, int v, bool may_name, char *buf, size_t size) {
        if (g->names && may_name && v <= g->max && rnd(2))
                out(buf, size, "%s", g->names[v - g->min]);
        else
                out(buf, size, "%d", v);
}

static void mark(const Gen *g, bool *set, int lo, int hi, int step) {
        for (int v = lo; v <= hi; v += step)
                set[g->is_dow ? v % 7 : v] = true;
}

/* One list item: value, range, '*' with step, range with step or 'a/n'. */
static void gen_item(const Gen *g, bool *set, char *buf, size_t size) {
        int kind = (int) rnd(5), a, b, step;

        a = rnd_between(g->pick_lo, g->pick_hi);
        b = rnd_between(a, MIN(a + (g->pick_hi - g->pick_lo) / 2 + 1, g->pick_hi));
        step = rnd_between(1, MAX((g->max - g->min + 1) / 3, 2));

        switch (kind) {
        case 0:
                gen_value(g, a, true, buf, size);
                mark(g, set, a, a, 1);
                break;
        case 1:
                gen_value(g, a, true, buf, size);
                out(buf, size, "-");
                /* Sunday closes a range by name only after another day. */
                if (g->is_dow && b == 7 && a > 0 && rnd(2))
                        out(buf, size, "SUN");
                else
                        gen_value(g, b, b > 0 || a == 0, buf, size);
                mark(g, set, a, b, 1);
                break;
        case 2:
                out(buf, size, "*/%d", step);
                mark(g, set, g->min, g->max, step);
                break;
        case 3:
                gen_value(g, a, true, buf, size);
                out(buf, size, "-");
                gen_value(g, b, b > 0, buf, size);
                out(buf, size, "/%d", step);
                mark(g, set, a, b, step);
                break;
        default:
                gen_value(g, a, true, buf, size);
                out(buf, size, "/%d", step);
                mark(g, set, a, MAX(g->max, a), step);
                break;
        }
}

static void gen_field(const Gen *g, bool *set, char *buf, size_t size) {
        unsigned kind = rnd(8);

        if (kind < 2) {
                out(buf, size, "%s", g->question && rnd(2) ? "?" : "*");
                mark(g, set, g->min, g->max, 1);
                return;
        }
        /* Mostly one item, sometimes a list of up to four. */
        for (unsigned i = 0, n = kind < 6 ? 1 : 1 + rnd(4); i < n; i++) {
                if (i > 0)
                        out(buf, size, ",");
                gen_item(g, set, buf, size);
        }
}

static bool model_day(const Model *m, int d, int wday) {
        bool dom_restricted = false, dow_restricted = false;

        for (int i = 1; i <= 31; i++)
                dom_restricted = dom_restricted || !m->dom[i];
        for (int i = 0; i < 7; i++)
                dow_restricted = dow_restricted || !m->dow[i];
        if (dom_restricted && dow_restricted)
                return m->dom[d] || m->dow[wday];
        return m->dom[d] && m->dow[wday];
}

/* Steps day by day and, within a day that matches, second by second (skipping whole hours and
 * minutes that do not match). Returns the first match > after and < limit, or -1. */
static int64_t reference_next(const Model *m, int64_t after, int64_t limit) {
        int64_t t = MAX(after + 1, 0), day_start;
        int y = YEAR_MIN, mo = 1, d, wday, first_second;
        int64_t days = t / 86400;

        wday = (int) ((days + 4) % 7); /* 1970-01-01 was a Thursday */
        while (days >= (leap(y) ? 366 : 365))
                days -= leap(y++) ? 366 : 365;
        while (days >= month_days(y, mo))
                days -= month_days(y, mo++);
        d = (int) days + 1;
        first_second = (int) (t % 86400);
        day_start = t - first_second;

        for (; day_start < limit; day_start += 86400, first_second = 0) {
                if (m->year[y] && m->mon[mo] && model_day(m, d, wday))
                        for (int s = first_second; s < 86400; s++) {
                                int h = s / 3600, mi = s / 60 % 60, se = s % 60;

                                if (!m->hour[h])
                                        s = h * 3600 + 3599;
                                else if (!m->min[mi])
                                        s = s - se + 59;
                                else if (m->sec[se])
                                        return day_start + s < limit ? day_start + s : -1;
                        }

                wday = (wday + 1) % 7;
                if (++d > month_days(y, mo)) {
                        d = 1;
                        if (++mo > 12) {
                                mo = 1;
                                y++;
                        }
                }
        }
        return -1;
}

static void gen_expression(int start_year, Model *m, char *buf, size_t size) {
        const Gen gens[] = {
                { 0, 59, 59, 0, 59, NULL, false, false },
                { 0, 59, 59, 0, 59, NULL, false, false },
                { 0, 23, 23, 0, 23, NULL, false, false },
                { 1, 31, 31, 1, 31, NULL, true, false },
                { 1, 12, 12, 1, 12, gen_months, false, false },
                { 0, 6, 7, 0, 7, gen_days, true, true },
                { YEAR_MIN, YEAR_MAX, YEAR_MAX, MAX(start_year - 2, YEAR_MIN),
                  MIN(start_year + 6, YEAR_MAX), NULL, false, false },
        };
        /* Month ends and short months, to meet schedules that never fire or fire rarely. */
        const Gen tight_dom = { 1, 31, 31, 29, 31, NULL, true, false };
        const Gen tight_month = { 1, 12, 12, 2, 2, gen_months, false, false };
        const Gen tight_short_month = { 1, 12, 12, 11, 11, gen_months, false, false };
        bool *sets[] = { m->sec, m->min, m->hour, m->dom, m->mon, m->dow, m->year };
        unsigned n_fields = 5 + rnd(3), first = n_fields == 5 ? 1 : 0;
        bool tight = rnd(6) == 0;

        zero(*m);
        buf[0] = '\0';
        if (n_fields == 5)
                m->sec[0] = true;
        if (n_fields < 7)
                mark(&gens[6], m->year, YEAR_MIN, YEAR_MAX, 1);

        for (unsigned i = 0; i < n_fields; i++) {
                unsigned f = first + i;

                if (i > 0)
                        out(buf, size, "%s", rnd(4) == 0 ? " \t " : " ");
                /* Keep most 7-field years open so that most expressions fire in the window. */
                if (f == 6 && rnd(3) != 0) {
                        out(buf, size, "*");
                        mark(&gens[6], m->year, YEAR_MIN, YEAR_MAX, 1);
                } else if (tight && f == 3)
                        gen_item(&tight_dom, m->dom, buf, size);
                else if (tight && f == 4)
                        gen_item(rnd(2) ? &tight_month : &tight_short_month, m->mon, buf, size);
                else if (tight && f == 5) {
                        out(buf, size, "?");
                        mark(&gens[5], m->dow, 0, 6, 1);
                } else
                        gen_field(&gens[f], sets[f], buf, size);
        }
}

TEST(random_cross_check) {
        /* Nine years always include a 29 February, even across 2100. */
        const int64_t window = INT64_C(9) * 366 * 86400;
        unsigned n_parsed = 0, n_rejected = 0, n_fired = 0, n_none = 0;

        for (unsigned iter = 0; iter < 400; iter++) {
                _cleanup_(zl_cron_freep) ZlCron *c = NULL, *again = NULL;
                _cleanup_free_ char *e = NULL;
                int start_year =
                        rnd(8) == 0 ? rnd_between(2190, YEAR_MAX) : rnd_between(YEAR_MIN, 2150);
                int64_t after = utc(start_year, 1, 1, 0, 0, 0) + (int64_t) rnd(366 * 86400);
                char expr[512];
                Model m;
                int r;

                gen_expression(start_year, &m, expr, sizeof expr);
                r = zl_cron_parse(expr, &c, &e);
                if (r == -EINVAL && e && strneq(e, "the expression never matches", 28)) {
                        /* Only a schedule that really matches nothing may be refused. */
                        if (reference_next(&m, -1, time_end) != -1)
                                test_fail(__FILE__, __LINE__, "'%s' refused but matches", expr);
                        n_rejected++;
                        continue;
                }
                if (r < 0)
                        test_fail(__FILE__, __LINE__, "'%s' failed to parse: %s", expr, strna(e));
                n_parsed++;

                ASSERT_OK(zl_cron_parse(zl_cron_normalized(c), &again, NULL));
                ASSERT_STREQ(zl_cron_normalized(again), zl_cron_normalized(c));

                /* A few fires in a row, each strictly after the previous one. */
                for (unsigned k = 0; k < 3; k++) {
                        int64_t limit = MIN(after + window, time_end), expected, next = -1,
                                next_again = -1;

                        expected = reference_next(&m, after, limit);
                        r = zl_cron_next(c, after, &next);
                        if (expected >= 0) {
                                if (r < 0 || next != expected)
                                        test_fail(__FILE__, __LINE__,
                                                  "'%s' (\"%s\") after %" PRIi64
                                                  ": expected %" PRIi64 ", got %d (%" PRIi64 ")",
                                                  expr, zl_cron_normalized(c), after, expected, r,
                                                  next);
                        } else if (r == -ENOENT || (r >= 0 && next >= limit))
                                n_none++;
                        else
                                test_fail(__FILE__, __LINE__,
                                          "'%s' after %" PRIi64 ": nothing before %" PRIi64
                                          ", got %d (%" PRIi64 ")",
                                          expr, after, limit, r, next);
                        if (r < 0)
                                break;

                        /* The normalized expression means the same. */
                        ASSERT_OK(zl_cron_next(again, after, &next_again));
                        ASSERT_EQ(next_again, next);

                        n_fired++;
                        after = next;
                }
        }

        /* The generator must exercise all outcomes, not just one. */
        ASSERT_GT(n_parsed, 300u);
        ASSERT_GT(n_fired, 600u);
        ASSERT_GT(n_none, 0u);
        ASSERT_GT(n_rejected, 0u);
        fprintf(stderr,
                "# %u parsed, %u refused as never matching, %u fire times checked, %u "
                "without a match in the window\n",
                n_parsed, n_rejected, n_fired, n_none);
}
