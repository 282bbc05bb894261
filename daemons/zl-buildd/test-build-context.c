/* SPDX-License-Identifier: Apache-2.0 */
/* test-build-context.c: .dockerignore rules and the content hash of COPY sources. */
#include <stdio.h>
#include <sys/stat.h>

#include "build-context.h"
#include "fileio.h"
#include "path-util.h"
#include "string-util.h"
#include "tests.h"

static void write_at(const char *dir, const char *rel, const char *content) {
        _cleanup_free_ char *p = path_join(dir, rel), *parent = NULL;

        ASSERT_NOT_NULL(p);
        ASSERT_OK(path_dirname(p, &parent));
        ASSERT_OK(mkdir_p(parent, 0755));
        ASSERT_OK(write_string_file_atomic(p, content, 0644));
}

static char *make_context(const char *name) {
        char *dir = path_join(test_tmpdir(), name);

        ASSERT_NOT_NULL(dir);
        ASSERT_OK(mkdir_p(dir, 0755));
        write_at(dir, "app/main.c", "int main(void) { return 0; }\n");
        write_at(dir, "app/util.c", "void util(void) {}\n");
        write_at(dir, "app/notes.md", "notes\n");
        write_at(dir, "README.md", "readme\n");
        write_at(dir, "secret.env", "TOKEN=1\n");
        write_at(dir, "node_modules/x/index.js", "x\n");
        return dir;
}

TEST(ignore_parse) {
        _cleanup_strv_free_ char **l = NULL;

        ASSERT_OK(build_ignore_parse("# comment\n\n  ./node_modules/ \n!keep.md\n*.md\n/abs//x/\n"
                                     "../outside\n",
                                     &l));
        ASSERT_EQ(strv_length(l), 4u);
        ASSERT_STREQ(l[0], "node_modules");
        ASSERT_STREQ(l[1], "!keep.md");
        ASSERT_STREQ(l[2], "*.md");
        ASSERT_STREQ(l[3], "abs/x");

        l = strv_free(l);
        ASSERT_OK(build_ignore_parse("", &l));
        ASSERT_NOT_NULL(l);
        ASSERT_EQ(strv_length(l), 0u);
}

TEST(ignore_match) {
        _cleanup_strv_free_ char **l = NULL;

        ASSERT_OK(
                build_ignore_parse("node_modules\n*.md\n!README.md\n**/*.tmp\nbuild/*/out\n", &l));
        ASSERT_TRUE(build_ignore_match(l, "node_modules"));
        ASSERT_TRUE(build_ignore_match(l, "node_modules/x/index.js")); /* parent matches */
        ASSERT_TRUE(build_ignore_match(l, "notes.md"));
        ASSERT_FALSE(build_ignore_match(l, "README.md")); /* the later exception wins */
        ASSERT_FALSE(build_ignore_match(l, "app/notes.md")); /* '*' stays in one component */
        ASSERT_TRUE(build_ignore_match(l, "a.tmp"));
        ASSERT_TRUE(build_ignore_match(l, "deep/er/b.tmp"));
        ASSERT_TRUE(build_ignore_match(l, "build/x/out"));
        ASSERT_TRUE(build_ignore_match(l, "build/x/out/file"));
        ASSERT_FALSE(build_ignore_match(l, "build/x/y/out"));
        ASSERT_FALSE(build_ignore_match(l, "src/main.c"));
        ASSERT_FALSE(build_ignore_match(NULL, "x"));
        ASSERT_FALSE(build_ignore_match(l, ""));
}

TEST(ignore_load) {
        _cleanup_free_ char *dir = make_context("load"), *file = NULL;
        _cleanup_strv_free_ char **l = NULL;

        ASSERT_OK(build_ignore_load(dir, &l, &file));
        ASSERT_EQ(strv_length(l), 0u);
        ASSERT_NULL(file);
        l = strv_free(l);

        write_at(dir, ".dockerignore", "secret.env\n");
        ASSERT_OK(build_ignore_load(dir, &l, &file));
        ASSERT_EQ(strv_length(l), 1u);
        ASSERT_NOT_NULL(file);
        ASSERT_NOT_NULL(endswith(file, "/.dockerignore"));
}

static void hash(const char *dir, char **ignore, const char *sources_json, char out[65]) {
        _cleanup_(json_decrefp) json_t *s = json_loads(sources_json, 0, NULL);

        ASSERT_NOT_NULL(s);
        ASSERT_OK(build_context_hash(dir, ignore, s, out));
        ASSERT_EQ(strlen(out), 64u);
}

TEST(hash_changes_with_content_and_mode) {
        _cleanup_free_ char *dir = make_context("hash"), *p = NULL;
        char a[65], b[65], c[65], d[65];

        hash(dir, NULL, "[\"app\"]", a);
        hash(dir, NULL, "[\"app\"]", b);
        ASSERT_STREQ(a, b);

        write_at(dir, "app/util.c", "void util(void) { }\n");
        hash(dir, NULL, "[\"app\"]", c);
        ASSERT_TRUE(!streq(a, c));

        p = path_join(dir, "app/util.c");
        ASSERT_OK(chmod(p, 0755));
        hash(dir, NULL, "[\"app\"]", d);
        ASSERT_TRUE(!streq(c, d));

        /* Files outside the selected sources do not count. */
        write_at(dir, "README.md", "changed\n");
        hash(dir, NULL, "[\"app\"]", a);
        ASSERT_STREQ(a, d);
}

TEST(hash_respects_ignore_and_globs) {
        _cleanup_free_ char *dir = make_context("ignore");
        _cleanup_strv_free_ char **ign = NULL;
        char a[65], b[65], c[65];

        ASSERT_OK(build_ignore_parse("secret.env\nnode_modules\n", &ign));
        hash(dir, ign, "[\".\"]", a);
        write_at(dir, "secret.env", "TOKEN=2\n");
        write_at(dir, "node_modules/y.js", "y\n");
        hash(dir, ign, "[\".\"]", b);
        ASSERT_STREQ(a, b);
        write_at(dir, "app/new.c", "\n");
        hash(dir, ign, "[\".\"]", c);
        ASSERT_TRUE(!streq(b, c));

        hash(dir, NULL, "[\"app/*.c\"]", a);
        write_at(dir, "app/notes.md", "other notes\n");
        hash(dir, NULL, "[\"app/*.c\"]", b);
        ASSERT_STREQ(a, b);
        /* A glob that matches nothing is not an error (optional lock files). */
        hash(dir, NULL, "[\"package-lock.jso[n]\"]", c);
        hash(dir, NULL, "[\"https://example.com/x.tar\", \"<<EOF\"]", c);
}

TEST(hash_errors) {
        _cleanup_free_ char *dir = make_context("errors");
        _cleanup_(json_decrefp) json_t *missing = json_pack("[s]", "nope.txt");
        _cleanup_(json_decrefp) json_t *outside = json_pack("[s]", "../etc/passwd");
        _cleanup_(json_decrefp) json_t *inside = json_pack("[s]", "app/../README.md");
        char h[65];

        ASSERT_ERROR(build_context_hash(dir, NULL, missing, h), ENOENT);
        ASSERT_ERROR(build_context_hash(dir, NULL, outside, h), EPERM);
        ASSERT_OK(build_context_hash(dir, NULL, inside, h));
        ASSERT_ERROR(build_context_hash("/nonexistent-zlayer", NULL, inside, h), ENOENT);
}

TEST(hash_symlink_is_its_target_text) {
        _cleanup_free_ char *dir = make_context("links"), *l = NULL;
        char a[65], b[65];

        l = path_join(dir, "app/link");
        ASSERT_OK(symlink("/etc/hostname", l));
        hash(dir, NULL, "[\"app\"]", a);
        ASSERT_OK(unlink(l));
        ASSERT_OK(symlink("/etc/passwd", l));
        hash(dir, NULL, "[\"app\"]", b);
        ASSERT_TRUE(!streq(a, b));
}
