/* SPDX-License-Identifier: Apache-2.0 */
/* test-spec-alloc.c: fails every allocation of parsing (and dumping) each corpus input in turn;
 * the parser must report -ENOMEM, never crash, never leak, never claim a wrong verdict. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

#include "alloc-fail.h"
#include "fileio.h"
#include "tests.h"
#include "zlayer/spec.h"

/* Runs parse + both dumps; returns the parse result, or -ENOMEM if a dump failed for memory. */
static int parse_and_dump(const char *data, size_t size) {
        ZlDiagList diags = {};
        ZlSpec *spec = NULL;
        char *json = NULL, *yaml = NULL;
        int r;

        r = zl_spec_parse_string(data, size, "input.yaml", &spec, &diags);
        if (r == 0) {
                int k = zl_spec_dump_json(spec, &json);
                if (k >= 0)
                        k = zl_spec_dump_yaml(spec, &yaml);
                if (k < 0)
                        r = k;
        }
        free(json);
        free(yaml);
        zl_spec_unref(spec);
        zl_diag_list_done(&diags);
        return r;
}

static unsigned n_inputs, n_runs;

static void check_input(const char *path) {
        char *data = NULL;
        size_t size = 0;
        long n_allocs, live_before;
        int expected;

        ASSERT_OK(read_full_file(path, 1024 * 1024, &data, &size));

        /* A first run fills the C library's one-time caches (time zone data for the cron
         * code), which are not leaks; count from the second run on. */
        alloc_fail_reset(-1);
        (void) parse_and_dump(data, size);
        live_before = alloc_live_blocks();
        expected = parse_and_dump(data, size);
        n_allocs = alloc_fail_count();
        if (alloc_live_blocks() != live_before)
                test_fail(__FILE__, __LINE__, "%s: %ld blocks leaked without failures", path,
                          alloc_live_blocks() - live_before);
        ASSERT_TRUE(expected == 0 || expected == -EINVAL);
        if (getenv("ZL_ALLOC_VERBOSE"))
                printf("# %s: %ld allocations\n", path, n_allocs);

        /* Every single allocation of every input, except in inputs like the alias bomb whose
         * 100000 allocations would take hours: there the first 64, then an evenly spread
         * sample of 192 more. */
        bool all = n_allocs <= 20000;
        long stride = all ? 1 : (n_allocs - 64) / 192 + 1;
        for (long i = 0; i < n_allocs; i += (i < 64 ? 1 : stride)) {
                int r;

                alloc_fail_reset(i);
                r = parse_and_dump(data, size);
                alloc_fail_reset(-1);
                n_runs++;
                if (alloc_live_blocks() != live_before)
                        test_fail(__FILE__, __LINE__,
                                  "%s: failing allocation %ld of %ld leaks %ld blocks", path, i,
                                  n_allocs, alloc_live_blocks() - live_before);
                /* Either the failure surfaced as -ENOMEM, or the code recovered and gave the
                 * same verdict as without failures. Never a different verdict. */
                if (r != -ENOMEM && r != expected)
                        test_fail(__FILE__, __LINE__,
                                  "%s: failing allocation %ld of %ld returned %d, expected %d or "
                                  "-ENOMEM",
                                  path, i, n_allocs, r, expected);
        }
        free(data);
        n_inputs++;
}

static void walk(const char *dir, const char *file_name) {
        DIR *d = opendir(dir);
        if (!d)
                return;
        for (struct dirent *de; (de = readdir(d));) {
                char sub[PATH_MAX];
                if (de->d_name[0] == '.')
                        continue;
                snprintf(sub, sizeof sub, "%s/%s", dir, de->d_name);
                if (de->d_type == DT_DIR)
                        walk(sub, file_name);
                else if (!file_name || streq(de->d_name, file_name))
                        check_input(sub);
        }
        closedir(d);
}

TEST(every_allocation_fails_cleanly) {
        char path[PATH_MAX];

        snprintf(path, sizeof path, "%s/spec", test_srcdir());
        walk(path, "input.yaml");
        snprintf(path, sizeof path, "%s/../examples", test_srcdir());
        walk(path, NULL);
        printf("# %u inputs, %u runs with a failed allocation\n", n_inputs, n_runs);
        ASSERT_GT(n_inputs, 10);
}
