/* SPDX-License-Identifier: Apache-2.0 */
/* tests.h: a small unit-test harness: TEST() registration, asserts that print the expression
 * and file:line, skips (exit 77), TAP output. Link tests.c into each test binary. */
#pragma once

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include "macro.h"

typedef void (*TestFunc)(void);

void test_register(const char *name, TestFunc func);
_noreturn_ void test_fail(const char *file, int line, const char *fmt, ...) _printf_(3, 4);
_noreturn_ void test_skip(const char *reason);
/* A directory removed with everything in it when the test ends. */
const char *test_tmpdir(void);
/* The source directory of the tests ($ZL_TEST_SRCDIR or the compile-time default). */
const char *test_srcdir(void);

#define TEST(name)                                                                                 \
        static void test_##name(void);                                                             \
        static void __attribute__((constructor)) test_register_##name(void) {                      \
                test_register(#name, test_##name);                                                 \
        }                                                                                          \
        static void test_##name(void)

#define ASSERT_TRUE(expr)                                                                          \
        do {                                                                                       \
                if (!(expr))                                                                       \
                        test_fail(__FILE__, __LINE__, "Assertion failed: %s", #expr);              \
        } while (0)

#define ASSERT_FALSE(expr)                                                                         \
        do {                                                                                       \
                if ((expr))                                                                        \
                        test_fail(__FILE__, __LINE__, "Assertion failed: !(%s)", #expr);           \
        } while (0)

#define ASSERT_NULL(expr)                                                                          \
        do {                                                                                       \
                if ((expr) != NULL)                                                                \
                        test_fail(__FILE__, __LINE__, "Expected NULL: %s", #expr);                 \
        } while (0)

#define ASSERT_NOT_NULL(expr)                                                                      \
        do {                                                                                       \
                if ((expr) == NULL)                                                                \
                        test_fail(__FILE__, __LINE__, "Unexpected NULL: %s", #expr);               \
        } while (0)

/* Integer comparison; both sides are printed as intmax_t on failure. */
#define ASSERT_CMP(a, op, b)                                                                       \
        do {                                                                                       \
                intmax_t _a_ = (intmax_t) (a), _b_ = (intmax_t) (b);                               \
                if (!(_a_ op _b_))                                                                 \
                        test_fail(__FILE__, __LINE__,                                              \
                                  "Assertion failed: %s " #op " %s (%jd " #op " %jd)", #a, #b,     \
                                  _a_, _b_);                                                       \
        } while (0)
#define ASSERT_EQ(a, b) ASSERT_CMP(a, ==, b)
#define ASSERT_NE(a, b) ASSERT_CMP(a, !=, b)
#define ASSERT_LT(a, b) ASSERT_CMP(a, <, b)
#define ASSERT_LE(a, b) ASSERT_CMP(a, <=, b)
#define ASSERT_GT(a, b) ASSERT_CMP(a, >, b)
#define ASSERT_GE(a, b) ASSERT_CMP(a, >=, b)

#define ASSERT_U64_EQ(a, b)                                                                        \
        do {                                                                                       \
                uint64_t _a_ = (uint64_t) (a), _b_ = (uint64_t) (b);                               \
                if (_a_ != _b_)                                                                    \
                        test_fail(__FILE__, __LINE__,                                              \
                                  "Assertion failed: %s == %s (%" PRIu64 " == %" PRIu64 ")", #a,   \
                                  #b, _a_, _b_);                                                   \
        } while (0)

#define ASSERT_DOUBLE_EQ(a, b)                                                                     \
        do {                                                                                       \
                double _a_ = (a), _b_ = (b);                                                       \
                if (!(_a_ - _b_ < 1e-9 && _b_ - _a_ < 1e-9))                                       \
                        test_fail(__FILE__, __LINE__, "Assertion failed: %s == %s (%g == %g)", #a, \
                                  #b, _a_, _b_);                                                   \
        } while (0)

#define ASSERT_STREQ(a, b)                                                                         \
        do {                                                                                       \
                const char *_a_ = (a), *_b_ = (b);                                                 \
                if (!_a_ || !_b_ || strcmp(_a_, _b_) != 0)                                         \
                        test_fail(__FILE__, __LINE__,                                              \
                                  "Assertion failed: %s == %s (\"%s\" == \"%s\")", #a, #b,         \
                                  _a_ ?: "(null)", _b_ ?: "(null)");                               \
        } while (0)

/* r >= 0 */
#define ASSERT_OK(expr)                                                                            \
        do {                                                                                       \
                intmax_t _r_ = (intmax_t) (expr);                                                  \
                if (_r_ < 0)                                                                       \
                        test_fail(__FILE__, __LINE__, "Expected success: %s returned %jd (%s)",    \
                                  #expr, _r_, strerror((int) -_r_));                               \
        } while (0)

/* r == -err */
#define ASSERT_ERROR(expr, err)                                                                    \
        do {                                                                                       \
                intmax_t _r_ = (intmax_t) (expr);                                                  \
                if (_r_ != -(intmax_t) (err))                                                      \
                        test_fail(__FILE__, __LINE__, "Expected %s to fail with %s, got %jd (%s)", \
                                  #expr, #err, _r_, _r_ < 0 ? strerror((int) -_r_) : "success");   \
        } while (0)
