/* SPDX-License-Identifier: Apache-2.0 */
/* test-runtime-templates.c: detection from project files; every template parses and plans. */
#include "fileio.h"
#include "path-util.h"
#include "runtime-templates.h"
#include "string-util.h"
#include "tests.h"
#include "zlayer/dockerfile.h"

static char *project(const char *name, const char *const *files) {
        char *dir = path_join(test_tmpdir(), name);

        ASSERT_NOT_NULL(dir);
        ASSERT_OK(mkdir_p(dir, 0755));
        for (const char *const *f = files; *f; f++) {
                _cleanup_free_ char *p = path_join(dir, *f);

                ASSERT_OK(write_string_file_atomic(p, "{}\n", 0644));
        }
        return dir;
}

static void expect(const char *name, const char *const *files, const char *want) {
        _cleanup_free_ char *dir = project(name, files), *msg = NULL;
        const RuntimeTemplate *t = NULL;

        ASSERT_OK(runtime_template_detect(dir, &t, &msg));
        ASSERT_NOT_NULL(t);
        ASSERT_STREQ(t->name, want);
        ASSERT_NULL(msg);
}

TEST(detect) {
        expect("bun", (const char *const[]){ "package.json", "bun.lockb", NULL }, "bun");
        expect("deno", (const char *const[]){ "deno.json", NULL }, "deno");
        expect("denoc", (const char *const[]){ "deno.jsonc", "package.json", NULL }, "deno");
        expect("node", (const char *const[]){ "package.json", "package-lock.json", NULL },
               "node22");
        expect("rust", (const char *const[]){ "Cargo.toml", "Cargo.lock", NULL }, "rust");
        expect("go", (const char *const[]){ "go.mod", NULL }, "go");
        expect("py1", (const char *const[]){ "pyproject.toml", NULL }, "python313");
        expect("py2", (const char *const[]){ "requirements.txt", NULL }, "python313");
        /* bun.lockb alone is not a bun project. */
        expect("lockonly", (const char *const[]){ "bun.lockb", "go.mod", NULL }, "go");
}

TEST(detect_nothing) {
        _cleanup_free_ char *dir = project("empty", (const char *const[]){ "README", NULL });
        _cleanup_free_ char *msg = NULL, *file = NULL;
        const RuntimeTemplate *t = NULL;

        ASSERT_ERROR(runtime_template_detect(dir, &t, &msg), ENOENT);
        ASSERT_NULL(t);
        ASSERT_NOT_NULL(msg);
        ASSERT_NOT_NULL(strstr(msg, "package.json"));
        ASSERT_NOT_NULL(strstr(msg, "go.mod"));
        ASSERT_NOT_NULL(strstr(msg, "requirements.txt"));
        ASSERT_ERROR(runtime_template_detect("/nonexistent-zlayer", &t, NULL), ENOENT);
        file = path_join(dir, "README");
        ASSERT_ERROR(runtime_template_detect(file, &t, NULL), ENOTDIR);
}

TEST(list_and_get) {
        static const char *const names[] = { "node20", "node22", "python312", "python313",
                                             "rust",   "go",     "deno",      "bun" };
        const RuntimeTemplate *l;
        size_t n;

        l = runtime_templates(&n);
        ASSERT_EQ(n, ELEMENTSOF(names));
        for (size_t i = 0; i < n; i++) {
                ASSERT_STREQ(l[i].name, names[i]);
                ASSERT_TRUE(runtime_template_get(names[i]) == &l[i]);
                ASSERT_FALSE(isempty(l[i].description));
                ASSERT_NOT_NULL(l[i].detects);
                ASSERT_NOT_NULL(strstr(l[i].dockerfile, "ARG BASE_IMAGE="));
                /* Never root at run time. */
                ASSERT_NOT_NULL(strstr(l[i].dockerfile, "\nUSER "));
        }
        ASSERT_NULL(runtime_template_get("cobol"));
        ASSERT_NULL(runtime_template_get(NULL));
        ASSERT_STREQ(runtime_template_get("node22")->detects[0], "package.json");
}

static const char *final_base(const json_t *plan) {
        const json_t *stages = json_object_get(plan, "stages");
        const json_t *last = json_array_get(stages, json_array_size(stages) - 1);

        return json_string_value(json_object_get(last, "base"));
}

TEST(every_template_parses_and_plans) {
        const RuntimeTemplate *l;
        size_t n;

        l = runtime_templates(&n);
        for (size_t i = 0; i < n; i++) {
                _cleanup_(json_decrefp) json_t *plan = NULL, *plan2 = NULL, *args = NULL;
                _cleanup_(zl_diag_list_done) ZlDiagList diags = {};
                ZlDockerfile *df = NULL;
                int r;

                r = zl_dockerfile_parse_string(l[i].dockerfile, strlen(l[i].dockerfile), l[i].name,
                                               &df, &diags);
                if (r < 0)
                        test_fail(__FILE__, __LINE__, "%s: line %u: %s", l[i].name,
                                  diags.n_items > 0 ? diags.items[0].line : 0,
                                  diags.n_items > 0 ? diags.items[0].message : "?");
                ASSERT_OK(zl_dockerfile_plan(df, NULL, NULL, &plan, &diags));
                ASSERT_FALSE(isempty(final_base(plan)));
                ASSERT_FALSE(streq(final_base(plan), "${BASE_IMAGE}"));

                /* Tests point the templates at local images through the build args. */
                args = json_pack("{s:s,s:s}", "BASE_IMAGE", "localhost/base:1", "BUILD_IMAGE",
                                 "localhost/build:1");
                ASSERT_OK(zl_dockerfile_plan(df, args, NULL, &plan2, &diags));
                ASSERT_STREQ(final_base(plan2), "localhost/base:1");
                ASSERT_EQ(diags.n_errors, 0u);
                zl_dockerfile_free(df);
        }
}
