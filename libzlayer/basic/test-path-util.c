/* SPDX-License-Identifier: Apache-2.0 */
/* test-path-util.c: path syntax: normalization, joining, simplifying, prefixes, components;
 * the running executable's directory. */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "path-util.h"
#include "tests.h"

TEST(absolute) {
        ASSERT_TRUE(path_is_absolute("/"));
        ASSERT_TRUE(path_is_absolute("/a/b"));
        ASSERT_FALSE(path_is_absolute("a/b"));
        ASSERT_FALSE(path_is_absolute("./a"));
        ASSERT_FALSE(path_is_absolute(""));
        ASSERT_FALSE(path_is_absolute(NULL));
}

TEST(normalized) {
        static const char *const good[] = { "/",   "/a",    "/a/b", "a",     "a/b",
                                            "...", "/a/.b", "a/b.", "/a/..b" };
        static const char *const bad[] = { "",    ".",    "..",    "/.",  "/..",    "//",
                                           "/a/", "a/",   "/a//b", "//a", "/a/./b", "/a/../b",
                                           "./a", "../a", "a/.",   "a/.." };

        for (size_t i = 0; i < ELEMENTSOF(good); i++)
                if (!path_is_normalized(good[i]))
                        test_fail(__FILE__, __LINE__, "'%s' should be normalized", good[i]);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                if (path_is_normalized(bad[i]))
                        test_fail(__FILE__, __LINE__, "'%s' should not be normalized", bad[i]);
        ASSERT_FALSE(path_is_normalized(NULL));
}

#define ASSERT_JOIN(expected, ...)                                                                 \
        do {                                                                                       \
                _cleanup_free_ char *_j_ = path_join(__VA_ARGS__);                                 \
                ASSERT_STREQ(_j_, expected);                                                       \
        } while (0)

TEST(join) {
        ASSERT_JOIN("/a/b", "/a", "b");
        ASSERT_JOIN("/a/b", "/a/", "b");
        ASSERT_JOIN("/a/b", "/a", "/b");
        ASSERT_JOIN("/a/b", "/a//", "//b");
        ASSERT_JOIN("/a", "/", "a");
        ASSERT_JOIN("/a", "/", "/a");
        ASSERT_JOIN("a/b/c", "a", "b", "c");
        ASSERT_JOIN("a/b", "a", "", "b");
        ASSERT_JOIN("a/b", "", "a", "b");
        ASSERT_JOIN("a/b/", "a", "b/");
        ASSERT_JOIN("/", "/");
        ASSERT_JOIN("a", "a");
        ASSERT_JOIN("", "");
        ASSERT_JOIN("/x/../y", "/x", "..", "y");
}

#define ASSERT_SIMPLIFY(in, expected)                                                              \
        do {                                                                                       \
                char _buf_[] = in;                                                                 \
                ASSERT_TRUE(path_simplify(_buf_) == _buf_);                                        \
                ASSERT_STREQ(_buf_, expected);                                                     \
        } while (0)

TEST(simplify) {
        ASSERT_SIMPLIFY("/", "/");
        ASSERT_SIMPLIFY("//", "/");
        ASSERT_SIMPLIFY("/./", "/");
        ASSERT_SIMPLIFY("/a/b", "/a/b");
        ASSERT_SIMPLIFY("//a//b//", "/a/b");
        ASSERT_SIMPLIFY("/a/./b/.", "/a/b");
        ASSERT_SIMPLIFY("/a/../b", "/a/../b");
        ASSERT_SIMPLIFY("./a", "a");
        ASSERT_SIMPLIFY("a/", "a");
        ASSERT_SIMPLIFY(".", ".");
        ASSERT_SIMPLIFY("./", ".");
        ASSERT_SIMPLIFY("././.", ".");
        ASSERT_SIMPLIFY("..//a", "../a");
        ASSERT_SIMPLIFY(".a/.b/", ".a/.b");
        ASSERT_SIMPLIFY("", "");
        ASSERT_NULL(path_simplify(NULL));
}

TEST(startswith) {
        const char *p = "/a/b/c";

        ASSERT_STREQ(path_startswith(p, "/a/b"), "c");
        ASSERT_TRUE(path_startswith(p, "/a/b") == p + 5);
        ASSERT_STREQ(path_startswith(p, "/a/b/"), "c");
        ASSERT_STREQ(path_startswith(p, "/a//b"), "c");
        ASSERT_STREQ(path_startswith("/a//b//c", "/a/b"), "c");
        ASSERT_STREQ(path_startswith(p, "/"), "a/b/c");
        ASSERT_STREQ(path_startswith(p, "/a/b/c"), "");
        ASSERT_STREQ(path_startswith("/a/b/c/", "/a/b/c"), "");
        ASSERT_STREQ(path_startswith("/", "/"), "");
        ASSERT_STREQ(path_startswith("a/b", "a"), "b");
        ASSERT_NULL(path_startswith("/a/bc", "/a/b"));
        ASSERT_NULL(path_startswith("/a/b", "/a/b/c"));
        ASSERT_NULL(path_startswith("/a/b", "a"));
        ASSERT_NULL(path_startswith("a/b", "/a"));
        ASSERT_NULL(path_startswith("/ab", "/a"));
        ASSERT_NULL(path_startswith("/a", ""));
        ASSERT_NULL(path_startswith("", "/"));
}

TEST(basename) {
        static const struct {
                const char *in;
                int ret;
                const char *out;
        } cases[] = {
                { "/a/b", 0, "b" },        { "/a/b/", 0, "b" },    { "a", 0, "a" },
                { "a//", 0, "a" },         { "/a", 0, "a" },       { ".hidden", 0, ".hidden" },
                { "/x/...", 0, "..." },    { "", -EINVAL, NULL },  { "/", -EINVAL, NULL },
                { "//", -EINVAL, NULL },   { ".", -EINVAL, NULL }, { "/a/..", -EINVAL, NULL },
                { "a/./", -EINVAL, NULL },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *b = NULL;

                ASSERT_EQ(path_basename(cases[i].in, &b), cases[i].ret);
                if (cases[i].ret == 0)
                        ASSERT_STREQ(b, cases[i].out);
                else
                        ASSERT_NULL(b);
        }
}

TEST(dirname) {
        static const struct {
                const char *in;
                int ret;
                const char *out;
        } cases[] = {
                { "/a/b", 0, "/a" }, { "/a/b/", 0, "/a" }, { "/a", 0, "/" },
                { "/", 0, "/" },     { "//", 0, "/" },     { "a", 0, "." },
                { "a/", 0, "." },    { "a/b", 0, "a" },    { "a//b//", 0, "a" },
                { "//a", 0, "/" },   { "/a//b", 0, "/a" }, { "", -EINVAL, NULL },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *d = NULL;

                ASSERT_EQ(path_dirname(cases[i].in, &d), cases[i].ret);
                if (cases[i].ret == 0)
                        ASSERT_STREQ(d, cases[i].out);
                else
                        ASSERT_NULL(d);
        }
        ASSERT_ERROR(path_dirname(NULL, NULL), EINVAL);
}

TEST(safe_relative) {
        static const char *const good[] = { "a",  "a/b", "./a", "a/./b", "a//b",
                                            "a/", "..a", "a..", "a/...", "." };
        static const char *const bad[] = { "",     "/",      "/a",           "..",     "../a",
                                           "a/..", "a/../b", "a/b/../../..", "a//../b" };
        char long_path[PATH_MAX + 10];

        for (size_t i = 0; i < ELEMENTSOF(good); i++)
                if (!path_is_safe_relative(good[i]))
                        test_fail(__FILE__, __LINE__, "'%s' should be safe", good[i]);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                if (path_is_safe_relative(bad[i]))
                        test_fail(__FILE__, __LINE__, "'%s' should not be safe", bad[i]);
        ASSERT_FALSE(path_is_safe_relative(NULL));

        memset(long_path, 'a', sizeof long_path - 1);
        long_path[sizeof long_path - 1] = '\0';
        ASSERT_FALSE(path_is_safe_relative(long_path));
        long_path[PATH_MAX - 1] = '\0';
        ASSERT_TRUE(path_is_safe_relative(long_path));
}

TEST(self_dir) {
        _cleanup_free_ char *dir = NULL, *me = NULL, *base = NULL, *p = NULL, *exe = NULL;

        /* The test program itself lies in the directory found, under its own name. */
        ASSERT_OK(path_self_dir(&dir));
        ASSERT_TRUE(path_is_absolute(dir));
        ASSERT_OK(path_basename(program_invocation_name, &base));
        ASSERT_OK(path_beside_self(base, X_OK, &p));
        me = path_join(dir, base);
        ASSERT_STREQ(p, me);
        ASSERT_OK(path_self_exe(&exe));
        ASSERT_STREQ(exe, me);
        p = mfree(p);
        ASSERT_ERROR(path_beside_self("no-such-file-beside-the-test", F_OK, &p), ENOENT);
        ASSERT_NULL(p);
}
