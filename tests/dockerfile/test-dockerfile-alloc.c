/* SPDX-License-Identifier: Apache-2.0 */
/* test-dockerfile-alloc.c: fails every allocation of parsing and planning each corpus case in
 * turn; the result must be -ENOMEM or the verdict without failures, never a leak or a crash. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

#include "alloc-fail.h"
#include "fileio.h"
#include "string-util.h"
#include "tests.h"
#include "zlayer/dockerfile.h"

static int parse_and_plan(const char *data, size_t size, const json_t *args, const char *target) {
        ZlDiagList diags = {};
        ZlDockerfile *df = NULL;
        json_t *plan = NULL;
        int r;

        r = zl_dockerfile_parse_string(data, size, "Dockerfile", &df, &diags);
        if (r >= 0)
                r = zl_dockerfile_plan(df, args, target, &plan, &diags);
        if (getenv("ZL_ALLOC_VERBOSE"))
                for (size_t i = 0; i < diags.n_items; i++)
                        printf("# %u: %s\n", diags.items[i].line, diags.items[i].message);
        json_decref(plan);
        zl_dockerfile_free(df);
        zl_diag_list_done(&diags);
        return r;
}

static unsigned n_inputs, n_runs;

static void check_case(const char *dir, const char *name) {
        char path[PATH_MAX + NAME_MAX + 32];
        char *data = NULL;
        json_t *spec;
        size_t size = 0;
        long n_allocs, live_before;
        int expected;

        snprintf(path, sizeof path, "%s/%s.json", dir, name);
        spec = json_load_file(path, 0, NULL);
        ASSERT_NOT_NULL(spec);
        snprintf(path, sizeof path, "%s/%s.Dockerfile", dir, name);
        ASSERT_OK(read_full_file(path, 1024 * 1024, &data, &size));
        const json_t *args = json_object_get(spec, "args");
        const char *target = json_string_value(json_object_get(spec, "target"));

        alloc_fail_reset(-1);
        (void) parse_and_plan(data, size, args, target);
        live_before = alloc_live_blocks();
        expected = parse_and_plan(data, size, args, target);
        n_allocs = alloc_fail_count();
        if (alloc_live_blocks() != live_before)
                test_fail(__FILE__, __LINE__, "%s: %ld blocks leaked without failures", path,
                          alloc_live_blocks() - live_before);
        ASSERT_TRUE(expected == 0 || expected == -EINVAL);

        for (long i = 0; i < n_allocs; i++) {
                int r;

                alloc_fail_reset(i);
                r = parse_and_plan(data, size, args, target);
                alloc_fail_reset(-1);
                n_runs++;
                if (alloc_live_blocks() != live_before)
                        test_fail(__FILE__, __LINE__,
                                  "%s: failing allocation %ld of %ld leaks %ld blocks", path, i,
                                  n_allocs, alloc_live_blocks() - live_before);
                if (r != -ENOMEM && r != expected)
                        test_fail(__FILE__, __LINE__,
                                  "%s: failing allocation %ld of %ld returned %d, expected %d or "
                                  "-ENOMEM",
                                  path, i, n_allocs, r, expected);
        }
        json_decref(spec);
        free(data);
        n_inputs++;
}

TEST(every_allocation_fails_cleanly) {
        char dir[PATH_MAX];
        DIR *d;

        snprintf(dir, sizeof dir, "%s/dockerfile/cases", test_srcdir());
        d = opendir(dir);
        ASSERT_NOT_NULL(d);
        for (struct dirent *de; (de = readdir(d));) {
                const char *e = endswith(de->d_name, ".Dockerfile");
                char name[NAME_MAX + 1];

                if (!e)
                        continue;
                snprintf(name, sizeof name, "%.*s", (int) (e - de->d_name), de->d_name);
                check_case(dir, name);
        }
        closedir(d);
        printf("# %u inputs, %u runs with a failed allocation\n", n_inputs, n_runs);
        ASSERT_GE(n_inputs, 40);
}
