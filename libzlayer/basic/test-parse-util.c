/* SPDX-License-Identifier: Apache-2.0 */
/* test-parse-util.c: every accepted syntax and every error code of the scalar parsers. */
#include "parse-util.h"
#include "tests.h"

/* An expected outcome: 0 with value, or a negative errno (value ignored). */
typedef struct U64Case {
        const char *in;
        int ret;
        uint64_t value;
} U64Case;

TEST(safe_atou64) {
        static const U64Case cases[] = {
                { "0", 0, 0 },
                { "42", 0, 42 },
                { "007", 0, 7 },
                { "18446744073709551615", 0, UINT64_MAX },
                { "18446744073709551616", -ERANGE, 0 },
                { "99999999999999999999999", -ERANGE, 0 },
                { "", -EINVAL, 0 },
                { " 1", -EINVAL, 0 },
                { "1 ", -EINVAL, 0 },
                { "+1", -EINVAL, 0 },
                { "-1", -EINVAL, 0 },
                { "1x", -EINVAL, 0 },
                { "0x10", -EINVAL, 0 },
                { "1.0", -EINVAL, 0 },
                /* Syntax is checked past an overflowing prefix. */
                { "99999999999999999999999x", -EINVAL, 0 },
        };
        uint64_t v;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                v = 12345;
                ASSERT_EQ(safe_atou64(cases[i].in, &v), cases[i].ret);
                if (cases[i].ret == 0)
                        ASSERT_U64_EQ(v, cases[i].value);
                else
                        ASSERT_U64_EQ(v, 12345); /* untouched on failure */
        }
        ASSERT_ERROR(safe_atou64(NULL, &v), EINVAL);
        ASSERT_OK(safe_atou64("5", NULL));
}

TEST(safe_atoi64) {
        int64_t v = 0;

        ASSERT_OK(safe_atoi64("-42", &v));
        ASSERT_EQ(v, -42);
        ASSERT_OK(safe_atoi64("9223372036854775807", &v));
        ASSERT_EQ(v, INT64_MAX);
        ASSERT_OK(safe_atoi64("-9223372036854775808", &v));
        ASSERT_EQ(v, INT64_MIN);
        ASSERT_OK(safe_atoi64("-0", &v));
        ASSERT_EQ(v, 0);
        ASSERT_ERROR(safe_atoi64("9223372036854775808", &v), ERANGE);
        ASSERT_ERROR(safe_atoi64("-9223372036854775809", &v), ERANGE);
        ASSERT_ERROR(safe_atoi64("+5", &v), EINVAL);
        ASSERT_ERROR(safe_atoi64("-", &v), EINVAL);
        ASSERT_ERROR(safe_atoi64("--5", &v), EINVAL);
        ASSERT_ERROR(safe_atoi64(" -5", &v), EINVAL);
        ASSERT_ERROR(safe_atoi64("- 5", &v), EINVAL);
        ASSERT_ERROR(safe_atoi64("5\n", &v), EINVAL);
        ASSERT_ERROR(safe_atoi64("", &v), EINVAL);
}

TEST(safe_atou_atoi) {
        unsigned u = 0;
        int i = 0;

        ASSERT_OK(safe_atou("4294967295", &u));
        ASSERT_EQ(u, UINT_MAX);
        ASSERT_ERROR(safe_atou("4294967296", &u), ERANGE);
        ASSERT_ERROR(safe_atou("-1", &u), EINVAL);
        ASSERT_OK(safe_atoi("2147483647", &i));
        ASSERT_EQ(i, INT_MAX);
        ASSERT_OK(safe_atoi("-2147483648", &i));
        ASSERT_EQ(i, INT_MIN);
        ASSERT_ERROR(safe_atoi("2147483648", &i), ERANGE);
        ASSERT_ERROR(safe_atoi("-2147483649", &i), ERANGE);
        ASSERT_ERROR(safe_atoi("12a", &i), EINVAL);
        ASSERT_EQ(i, INT_MIN);
}

TEST(parse_duration) {
        static const U64Case cases[] = {
                { "100ms", 0, 100 },
                { "30s", 0, 30000 },
                { "90s", 0, 90000 },
                { "5m", 0, 300000 },
                { "1h30m", 0, 5400000 },
                { "2d", 0, 172800000 },
                { "0s", 0, 0 },
                { "0ms", 0, 0 },
                { "1d2h3m4s5ms", 0, 93784005 },
                { "1m500ms", 0, 60500 },
                { "1h1ms", 0, 3600001 },
                { "0001s", 0, 1000 },
                { "18446744073709551615ms", 0, UINT64_MAX },
                { "30", -EDOM, 0 },
                { "0", -EDOM, 0 },
                { "", -EINVAL, 0 },
                { "-5s", -EINVAL, 0 },
                { "+5s", -EINVAL, 0 },
                { "1.5h", -EINVAL, 0 },
                { "1h 30m", -EINVAL, 0 },
                { " 1s", -EINVAL, 0 },
                { "1s ", -EINVAL, 0 },
                { "30s1m", -EINVAL, 0 },
                { "1m1m", -EINVAL, 0 },
                { "1ms1s", -EINVAL, 0 },
                { "1h30", -EINVAL, 0 },
                { "s", -EINVAL, 0 },
                { "1S", -EINVAL, 0 },
                { "1sec", -EINVAL, 0 },
                { "1w", -EINVAL, 0 },
                { "1us", -EINVAL, 0 },
                { "1mss", -EINVAL, 0 },
                { "18446744073709551616ms", -ERANGE, 0 },
                { "18446744073709551s", 0, UINT64_C(18446744073709551000) },
                { "18446744073709552s", -ERANGE, 0 },
                { "213503982335d", -ERANGE, 0 },
                { "213503982334d1d", -EINVAL, 0 },
                { "213503982334d23h", -ERANGE, 0 },
                { "99999999999999999999999d1x", -EINVAL, 0 },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                uint64_t v = 777;
                int r = parse_duration_ms(cases[i].in, &v);

                if (r != cases[i].ret)
                        test_fail(__FILE__, __LINE__, "parse_duration_ms(\"%s\") = %d, expected %d",
                                  cases[i].in, r, cases[i].ret);
                ASSERT_U64_EQ(v, cases[i].ret == 0 ? cases[i].value : 777);
        }
        ASSERT_ERROR(parse_duration_ms(NULL, NULL), EINVAL);
}

TEST(format_duration) {
        static const struct {
                uint64_t ms;
                const char *out;
        } cases[] = {
                { 0, "0s" },
                { 1, "1ms" },
                { 250, "250ms" },
                { 1000, "1s" },
                { 1500, "1s500ms" },
                { 90000, "1m30s" },
                { 5400000, "1h30m" },
                { 86400000, "1d" },
                { 93784005, "1d2h3m4s5ms" },
                { UINT64_MAX, "213503982334d14h25m51s615ms" },
        };
        char buf[DURATION_MAX_LEN];

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                uint64_t back;

                ASSERT_TRUE(format_duration_ms(cases[i].ms, buf, sizeof buf) == buf);
                ASSERT_STREQ(buf, cases[i].out);
                ASSERT_OK(parse_duration_ms(buf, &back));
                ASSERT_U64_EQ(back, cases[i].ms);
        }

        /* Round trip over a spread of values, including every unit boundary. */
        for (uint64_t ms = 0; ms < UINT64_MAX / 3; ms = ms * 3 + 7) {
                uint64_t back;

                format_duration_ms(ms, buf, sizeof buf);
                ASSERT_OK(parse_duration_ms(buf, &back));
                ASSERT_U64_EQ(back, ms);
        }
}

TEST(parse_size) {
        static const U64Case cases[] = {
                { "1", 0, 1 },
                { "1048576", 0, 1048576 },
                { "64Ki", 0, 65536 },
                { "512Mi", 0, UINT64_C(512) << 20 },
                { "1Gi", 0, UINT64_C(1) << 30 },
                { "2Ti", 0, UINT64_C(2) << 40 },
                { "2K", 0, 2000 },
                { "500M", 0, 500000000 },
                { "1G", 0, 1000000000 },
                { "1T", 0, UINT64_C(1000000000000) },
                { "1.5Gi", 0, UINT64_C(3) << 29 },
                { "0.5Ki", 0, 512 },
                { "1.50Gi", 0, UINT64_C(3) << 29 },
                { "2.5K", 0, 2500 },
                { "0.001K", 0, 1 },
                { "1.000000000001T", 0, UINT64_C(1000000000001) },
                { "0.0009765625Ki", 0, 1 },
                { "16777215Ti", 0, UINT64_C(16777215) << 40 },
                { "18446744073709551615", 0, UINT64_MAX },
                { "1.3Ki", -EINVAL, 0 }, /* 1331.2 bytes */
                { "0.0001K", -EINVAL, 0 }, /* 0.1 bytes */
                { "1.5", -EINVAL, 0 }, /* plain bytes are whole */
                { "0", -ERANGE, 0 },
                { "0Mi", -ERANGE, 0 },
                { "0.0Gi", -ERANGE, 0 },
                { "16777216Ti", -ERANGE, 0 },
                { "18446744073709551616", -ERANGE, 0 },
                { "18446744073709551615.5Ki", -ERANGE, 0 },
                { "17179869183.9990234375Gi", 0, UINT64_MAX - 1048575 },
                { "18014398509481983.9990234375Ki", 0, UINT64_MAX },
                { "5MB", -EINVAL, 0 },
                { "5 Mi", -EINVAL, 0 },
                { "5mi", -EINVAL, 0 },
                { "5k", -EINVAL, 0 },
                { "5Kib", -EINVAL, 0 },
                { "5B", -EINVAL, 0 },
                { "", -EINVAL, 0 },
                { "Mi", -EINVAL, 0 },
                { "-1", -EINVAL, 0 },
                { "+1", -EINVAL, 0 },
                { "1.Gi", -EINVAL, 0 },
                { ".5Gi", -EINVAL, 0 },
                { "1e3", -EINVAL, 0 },
                { " 1Mi", -EINVAL, 0 },
                { "1Mi ", -EINVAL, 0 },
                { "1.0000000000000000001Gi", -EINVAL, 0 },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                uint64_t v = 777;
                int r = parse_size(cases[i].in, &v);

                if (r != cases[i].ret)
                        test_fail(__FILE__, __LINE__, "parse_size(\"%s\") = %d, expected %d",
                                  cases[i].in, r, cases[i].ret);
                ASSERT_U64_EQ(v, cases[i].ret == 0 ? cases[i].value : 777);
        }
        ASSERT_ERROR(parse_size(NULL, NULL), EINVAL);
}

TEST(format_size) {
        static const struct {
                uint64_t bytes;
                const char *out;
        } cases[] = {
                { 0, "0" },
                { 1, "1" },
                { 1000, "1000" },
                { 1024, "1Ki" },
                { 1536, "1536" },
                { 3072, "3Ki" },
                { UINT64_C(256) << 20, "256Mi" },
                { UINT64_C(1536) << 20, "1536Mi" },
                { UINT64_C(1) << 30, "1Gi" },
                { UINT64_C(1) << 40, "1Ti" },
                { UINT64_C(16777215) << 40, "16777215Ti" },
                { 1000000000, "1000000000" },
                { UINT64_MAX, "18446744073709551615" },
        };
        char buf[SIZE_MAX_LEN];

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                uint64_t back;

                ASSERT_TRUE(format_size(cases[i].bytes, buf, sizeof buf) == buf);
                ASSERT_STREQ(buf, cases[i].out);
                if (cases[i].bytes > 0) {
                        ASSERT_OK(parse_size(buf, &back));
                        ASSERT_U64_EQ(back, cases[i].bytes);
                }
        }
}

TEST(parse_cpu) {
        static const struct {
                const char *in;
                int ret;
                double cores;
        } cases[] = {
                { "0.5", 0, 0.5 },
                { "2", 0, 2.0 },
                { "1.25", 0, 1.25 },
                { "500m", 0, 0.5 },
                { "1m", 0, 0.001 },
                { "2500m", 0, 2.5 },
                { "0.001", 0, 0.001 },
                { "64", 0, 64.0 },
                { "00.50", 0, 0.5 },
                { "0.1234567890123456789", 0, 0.12345678901234568 },
                { "0", -ERANGE, 0 },
                { "0.0", -ERANGE, 0 },
                { "0m", -ERANGE, 0 },
                { "0.0000000000000000001", -ERANGE, 0 },
                { "99999999999999999999", -ERANGE, 0 },
                { "99999999999999999999m", -ERANGE, 0 },
                { "-1", -EINVAL, 0 },
                { "+1", -EINVAL, 0 },
                { "1e3", -EINVAL, 0 },
                { "1.5m", -EINVAL, 0 },
                { "1.", -EINVAL, 0 },
                { ".5", -EINVAL, 0 },
                { "m", -EINVAL, 0 },
                { "1M", -EINVAL, 0 },
                { "1 ", -EINVAL, 0 },
                { " 1", -EINVAL, 0 },
                { "", -EINVAL, 0 },
                { "inf", -EINVAL, 0 },
                { "nan", -EINVAL, 0 },
                { "0x1", -EINVAL, 0 },
                { "1,5", -EINVAL, 0 },
                { "99999999999999999999x", -EINVAL, 0 },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                double v = -1.0;
                int r = parse_cpu(cases[i].in, &v);

                if (r != cases[i].ret)
                        test_fail(__FILE__, __LINE__, "parse_cpu(\"%s\") = %d, expected %d",
                                  cases[i].in, r, cases[i].ret);
                ASSERT_DOUBLE_EQ(v, cases[i].ret == 0 ? cases[i].cores : -1.0);
        }
        ASSERT_ERROR(parse_cpu(NULL, NULL), EINVAL);
}

TEST(parse_port) {
        uint16_t p = 0;

        ASSERT_OK(parse_port("1", &p));
        ASSERT_EQ(p, 1);
        ASSERT_OK(parse_port("8080", &p));
        ASSERT_EQ(p, 8080);
        ASSERT_OK(parse_port("65535", &p));
        ASSERT_EQ(p, 65535);
        ASSERT_ERROR(parse_port("0", &p), ERANGE);
        ASSERT_ERROR(parse_port("65536", &p), ERANGE);
        ASSERT_ERROR(parse_port("99999999999999999999", &p), ERANGE);
        ASSERT_ERROR(parse_port("-1", &p), EINVAL);
        ASSERT_ERROR(parse_port("80/tcp", &p), EINVAL);
        ASSERT_ERROR(parse_port("", &p), EINVAL);
        ASSERT_ERROR(parse_port("http", &p), EINVAL);
        ASSERT_EQ(p, 65535);
}

TEST(parse_file_mode) {
        static const struct {
                const char *in;
                int ret;
                mode_t mode;
        } cases[] = {
                { "1777", 0, 01777 },    { "0755", 0, 0755 },
                { "755", 0, 0755 },      { "0o755", 0, 0755 },
                { "0O755", 0, 0755 },    { "0", 0, 0 },
                { "644", 0, 0644 },      { "7777", 0, 07777 },
                { "07777", 0, 07777 },   { "0o7777", 0, 07777 },
                { "00000644", 0, 0644 }, { "10000", -ERANGE, 0 },
                { "77777", -ERANGE, 0 }, { "7777777777777777777777777", -ERANGE, 0 },
                { "8", -EINVAL, 0 },     { "0x1ff", -EINVAL, 0 },
                { "0o", -EINVAL, 0 },    { "0o8", -EINVAL, 0 },
                { "o755", -EINVAL, 0 },  { "0b101", -EINVAL, 0 },
                { "-755", -EINVAL, 0 },  { "+755", -EINVAL, 0 },
                { "755 ", -EINVAL, 0 },  { "rwx", -EINVAL, 0 },
                { "", -EINVAL, 0 },      { "7777777777777777777777779", -EINVAL, 0 },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                mode_t m = 0123;
                int r = parse_file_mode(cases[i].in, &m);

                if (r != cases[i].ret)
                        test_fail(__FILE__, __LINE__, "parse_file_mode(\"%s\") = %d, expected %d",
                                  cases[i].in, r, cases[i].ret);
                ASSERT_EQ(m, cases[i].ret == 0 ? cases[i].mode : 0123);
        }
        ASSERT_ERROR(parse_file_mode(NULL, NULL), EINVAL);
}

TEST(parse_percent) {
        unsigned v = 0;

        ASSERT_OK(parse_percent("70", &v));
        ASSERT_EQ(v, 70);
        ASSERT_OK(parse_percent("70%", &v));
        ASSERT_EQ(v, 70);
        ASSERT_OK(parse_percent("1", &v));
        ASSERT_EQ(v, 1);
        ASSERT_OK(parse_percent("100%", &v));
        ASSERT_EQ(v, 100);
        ASSERT_ERROR(parse_percent("0", &v), ERANGE);
        ASSERT_ERROR(parse_percent("0%", &v), ERANGE);
        ASSERT_ERROR(parse_percent("101", &v), ERANGE);
        ASSERT_ERROR(parse_percent("99999999999999999999%", &v), ERANGE);
        ASSERT_ERROR(parse_percent("%", &v), EINVAL);
        ASSERT_ERROR(parse_percent("70%%", &v), EINVAL);
        ASSERT_ERROR(parse_percent("70 %", &v), EINVAL);
        ASSERT_ERROR(parse_percent("70.5", &v), EINVAL);
        ASSERT_ERROR(parse_percent("-5", &v), EINVAL);
        ASSERT_ERROR(parse_percent("", &v), EINVAL);
        ASSERT_ERROR(parse_percent(NULL, &v), EINVAL);
        ASSERT_EQ(v, 100);
}

TEST(parse_boolean) {
        static const char *const yes[] = { "true", "TRUE", "True", "yes", "YES", "on", "On", "1" };
        static const char *const no[] = { "false", "FALSE", "no", "No", "off", "OFF", "0" };
        static const char *const bad[] = { "", "y", "n", "2", "truee", " true", "true ", "01" };
        bool b;

        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                b = false;
                ASSERT_OK(parse_boolean(yes[i], &b));
                ASSERT_TRUE(b);
        }
        for (size_t i = 0; i < ELEMENTSOF(no); i++) {
                b = true;
                ASSERT_OK(parse_boolean(no[i], &b));
                ASSERT_FALSE(b);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                b = true;
                ASSERT_ERROR(parse_boolean(bad[i], &b), EINVAL);
                ASSERT_TRUE(b);
        }
        ASSERT_ERROR(parse_boolean(NULL, &b), EINVAL);
}
