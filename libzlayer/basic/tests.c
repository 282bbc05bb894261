/* SPDX-License-Identifier: Apache-2.0 */
/* tests.c: the runner behind tests.h: runs every registered test, prints TAP, exits 0/1/77. */
#include <ftw.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "log.h"
#include "fileio.h"
#include "tests.h"

#define MAX_TESTS 512

typedef struct Test {
        const char *name;
        TestFunc func;
} Test;

static Test tests[MAX_TESTS];
static size_t n_tests;
static jmp_buf test_jmp;
static char *skip_reason;
static char tmpdir[PATH_MAX];
/* Static so that longjmp cannot clobber them. */
static size_t passed, failed, skipped, ran;

void test_register(const char *name, TestFunc func) {
        if (n_tests >= MAX_TESTS) {
                fprintf(stderr, "too many tests, raise MAX_TESTS\n");
                abort();
        }
        tests[n_tests++] = (Test){ name, func };
}

void test_fail(const char *file, int line, const char *fmt, ...) {
        va_list ap;

        fprintf(stdout, "# %s:%d: ", file, line);
        va_start(ap, fmt);
        vfprintf(stdout, fmt, ap);
        va_end(ap);
        fputc('\n', stdout);
        fflush(stdout);
        longjmp(test_jmp, 1);
}

void test_skip(const char *reason) {
        skip_reason = strdup(reason);
        longjmp(test_jmp, 2);
}

const char *test_srcdir(void) {
        const char *e = getenv("ZL_TEST_SRCDIR");
#ifdef ZL_TEST_SRCDIR_DEFAULT
        return e ?: ZL_TEST_SRCDIR_DEFAULT;
#else
        return e ?: ".";
#endif
}

static void tmpdir_cleanup(void) {
        if (tmpdir[0] != '\0')
                (void) rm_rf(tmpdir);
        tmpdir[0] = '\0';
}

const char *test_tmpdir(void) {
        if (tmpdir[0] == '\0') {
                const char *base = getenv("TMPDIR") ?: "/tmp";

                snprintf(tmpdir, sizeof tmpdir, "%s/zl-test-XXXXXX", base);
                if (!mkdtemp(tmpdir)) {
                        tmpdir[0] = '\0';
                        test_fail(__FILE__, __LINE__, "mkdtemp: %m");
                }
        }
        return tmpdir;
}

int main(int argc, char *argv[]) {
        const char *only = argc > 1 ? argv[1] : getenv("ZL_TEST_ONLY");

        log_set_max_level(getenv("ZL_TEST_DEBUG") ? LOG_DEBUG : LOG_WARNING);
        log_set_target(LOG_TARGET_STDERR);

        for (size_t i = 0; i < n_tests; i++)
                if (!only || streq(only, tests[i].name))
                        ran++;
        printf("1..%zu\n", ran);
        ran = 0;

        for (size_t i = 0; i < n_tests; i++) {
                int k;

                if (only && !streq(only, tests[i].name))
                        continue;
                ran++;
                fflush(stdout);
                k = setjmp(test_jmp);
                if (k == 0) {
                        tests[i].func();
                        printf("ok %zu - %s\n", ran, tests[i].name);
                        passed++;
                } else if (k == 1) {
                        printf("not ok %zu - %s\n", ran, tests[i].name);
                        failed++;
                } else {
                        printf("ok %zu - %s # SKIP %s\n", ran, tests[i].name, strna(skip_reason));
                        skip_reason = mfree(skip_reason);
                        skipped++;
                }
                tmpdir_cleanup();
                fflush(stdout);
        }

        if (failed > 0)
                return EXIT_FAILURE;
        if (ran > 0 && skipped == ran)
                return 77;
        return EXIT_SUCCESS;
}
