/* SPDX-License-Identifier: Apache-2.0 */
/* test-string-util.c: prefixes, joins, edit distance, suggestions, string arrays, escaping. */
#include <errno.h>

#include "string-util.h"
#include "tests.h"

TEST(startswith_endswith) {
        const char *s = "services.web";

        ASSERT_TRUE(startswith(s, "services.") == s + 9);
        ASSERT_TRUE(startswith(s, "") == s);
        ASSERT_NULL(startswith(s, "Services."));
        ASSERT_NULL(startswith("ab", "abc"));
        ASSERT_TRUE(startswith_no_case(s, "SERVICES.") == s + 9);
        ASSERT_NULL(startswith_no_case(s, "x"));
        ASSERT_TRUE(endswith(s, ".web") == s + 8);
        ASSERT_TRUE(endswith(s, "") == s + strlen(s));
        ASSERT_TRUE(endswith(s, s) == s);
        ASSERT_NULL(endswith(s, ".WEB"));
        ASSERT_NULL(endswith("b", "ab"));
}

TEST(strjoin) {
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;

        a = strjoin("a", "bc", "", "d");
        ASSERT_STREQ(a, "abcd");
        b = strjoin("only");
        ASSERT_STREQ(b, "only");
        c = strjoin("", "");
        ASSERT_STREQ(c, "");
}

TEST(strextend) {
        _cleanup_free_ char *s = NULL;

        ASSERT_OK(strextend(&s, "a"));
        ASSERT_STREQ(s, "a");
        ASSERT_OK(strextend(&s, "b", "cd"));
        ASSERT_STREQ(s, "abcd");
        ASSERT_OK(strextend(&s, ""));
        ASSERT_STREQ(s, "abcd");
        ASSERT_OK(strextendf(&s, "-%d-%s", 42, "x"));
        ASSERT_STREQ(s, "abcd-42-x");
        s = mfree(s);
        ASSERT_OK(strextendf(&s, "%s", ""));
        ASSERT_STREQ(s, "");
        ASSERT_OK(strextendf(&s, "%05u", 7u));
        ASSERT_STREQ(s, "00007");
}

TEST(case_and_strip) {
        char a[] = "Hello World 123 ÄÖ";
        char b[] = "  \t mixed\n ";
        char c[] = "   ";
        char d[] = "x";

        ASSERT_STREQ(ascii_strlower(a), "hello world 123 ÄÖ");
        ASSERT_STREQ(ascii_strupper(a), "HELLO WORLD 123 ÄÖ");
        ASSERT_TRUE(strstrip(b) == b);
        ASSERT_STREQ(b, "mixed");
        ASSERT_STREQ(strstrip(c), "");
        ASSERT_STREQ(strstrip(d), "x");
}

TEST(edit_distance) {
        ASSERT_EQ(string_edit_distance("", ""), 0);
        ASSERT_EQ(string_edit_distance("abc", ""), 3);
        ASSERT_EQ(string_edit_distance("", "abc"), 3);
        ASSERT_EQ(string_edit_distance("kitten", "sitting"), 3);
        ASSERT_EQ(string_edit_distance("flaw", "lawn"), 2);
        ASSERT_EQ(string_edit_distance("same", "same"), 0);
        /* Plain Levenshtein: a swap is two edits, and case matters. */
        ASSERT_EQ(string_edit_distance("ab", "ba"), 2);
        ASSERT_EQ(string_edit_distance("Mode", "mode"), 1);
}

TEST(suggest) {
        static const char *const keys[] = {
                "replicas", "expose", "http",    "healthy", "cooldown", "endpoints", "capabilities",
                "mode",     "image",  "command", "env",     "volumes",  NULL,
        };
        static const struct {
                const char *typo;
                const char *expect;
        } cases[] = {
                { "replica", "replicas" },
                { "exposee", "expose" },
                { "htp", "http" },
                { "helthy", "healthy" },
                { "cooldwon", "cooldown" },
                { "endpoint", "endpoints" },
                { "capabilites", "capabilities" },
                { "capabilties", "capabilities" },
                { "REPLICAS", "replicas" },
                { "Image", "image" },
                { "imgae", "image" },
                { "comand", "command" },
                { "volume", "volumes" },
                { "zzz", NULL },
                { "x", NULL },
                { "", NULL },
                { "foo", NULL },
                { "networking", NULL },
                { "completely-unrelated", NULL },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                const char *got = string_suggest(cases[i].typo, keys);

                if ((got == NULL) != (cases[i].expect == NULL) ||
                    (got && !streq(got, cases[i].expect)))
                        test_fail(__FILE__, __LINE__, "string_suggest(\"%s\") = %s, expected %s",
                                  cases[i].typo, strna(got), strna(cases[i].expect));
        }

        /* "zzz" is far from "mode" by every measure. */
        ASSERT_NULL(string_suggest("zzz", (const char *const[]){ "mode", NULL }));
        /* Ties go to the first candidate. */
        ASSERT_STREQ(string_suggest("cat", (const char *const[]){ "bat", "cap", NULL }), "bat");
        ASSERT_STREQ(string_suggest("cat", (const char *const[]){ "cap", "bat", NULL }), "cap");
        /* A closer later candidate wins over an earlier one. */
        ASSERT_STREQ(string_suggest("modes", (const char *const[]){ "nodes2", "mode", NULL }),
                     "mode");
        /* A case-insensitive exact match wins even late in the list. */
        ASSERT_STREQ(string_suggest("TCP", (const char *const[]){ "tcpx", "tcp", NULL }), "tcp");
        ASSERT_NULL(string_suggest("a", (const char *const[]){ NULL }));
        ASSERT_NULL(string_suggest(NULL, keys));
        ASSERT_NULL(string_suggest("x", NULL));
}

TEST(strv) {
        _cleanup_strv_free_ char **l = NULL;
        _cleanup_free_ char *j = NULL, *k = NULL, *e = NULL;

        ASSERT_EQ(strv_length(NULL), 0);
        ASSERT_FALSE(strv_contains(NULL, "a"));
        e = strv_join(NULL, ",");
        ASSERT_STREQ(e, "");

        ASSERT_OK(strv_extend(&l, "a"));
        ASSERT_OK(strv_extend(&l, "bc"));
        ASSERT_OK(strv_consume(&l, strdup("d")));
        ASSERT_EQ(strv_length(l), 3);
        ASSERT_NULL(l[3]);
        ASSERT_TRUE(strv_contains(l, "bc"));
        ASSERT_FALSE(strv_contains(l, "b"));
        ASSERT_FALSE(strv_contains(l, NULL));

        j = strv_join(l, ", ");
        ASSERT_STREQ(j, "a, bc, d");
        k = strv_join(l, NULL);
        ASSERT_STREQ(k, "a bc d");

        /* A failed strdup() passed straight in is reported, not stored. */
        ASSERT_ERROR(strv_consume(&l, NULL), ENOMEM);
        ASSERT_EQ(strv_length(l), 3);
        ASSERT_NULL(strv_free(NULL));
}

TEST(escape_for_display) {
        static const struct {
                const char *in;
                size_t max;
                const char *out;
        } cases[] = {
                { "plain", SIZE_MAX, "plain" },
                { "", SIZE_MAX, "" },
                { "a\nb\tc\rd", SIZE_MAX, "a\\nb\\tc\\rd" },
                { "\x01\x1b[31m\x7f", SIZE_MAX, "\\x01\\x1b[31m\\x7f" },
                { "it's \"q\" \\", SIZE_MAX, "it\\'s \\\"q\\\" \\\\" },
                { "caf\xc3\xa9", SIZE_MAX, "caf\xc3\xa9" }, /* valid UTF-8 kept */
                { "bad\xff\xc3", SIZE_MAX, "bad\\xff\\xc3" }, /* invalid bytes escaped */
                { "\xc0\xaf", SIZE_MAX, "\\xc0\\xaf" }, /* overlong '/' */
                { "\xed\xa0\x80", SIZE_MAX, "\\xed\\xa0\\x80" }, /* surrogate */
                { "\xf0\x9f\x98\x80", SIZE_MAX, "\xf0\x9f\x98\x80" },
                /* Cutting: the result never exceeds max_len, "..." included. */
                { "abcdef", 6, "abcdef" },
                { "abcdef", 5, "ab..." },
                { "abcde", 5, "abcde" },
                { "abcdef", 3, "..." },
                { "abcdef", 0, "..." },
                /* An escape is never split. */
                { "ab\ncdef", 6, "ab..." },
                { "a\x01"
                  "bcdefgh",
                  8, "a\\x01..." },
                { "a\x01"
                  "bcdefgh",
                  7, "a..." },
                /* Nor a multi-byte character. */
                { "\xc3\xa9\xc3\xa9\xc3\xa9", 6, "\xc3\xa9\xc3\xa9\xc3\xa9" },
                { "\xc3\xa9\xc3\xa9\xc3\xa9x", 6, "\xc3\xa9..." },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *s = string_escape_for_display(cases[i].in, cases[i].max);

                ASSERT_STREQ(s, cases[i].out);
                ASSERT_TRUE(strlen(s) <= MAX(cases[i].max, (size_t) 3));
        }
}

TEST(error_setf) {
        _cleanup_free_ char *e = NULL;

        ASSERT_EQ(error_setf(NULL, -EINVAL, "ignored %d", 1), -EINVAL);
        ASSERT_EQ(error_setf(&e, -ENOENT, "no '%s'", "x"), -ENOENT);
        ASSERT_STREQ(e, "no 'x'");
        /* The old message is replaced (valgrind and ASan see it freed). */
        ASSERT_EQ(error_setf(&e, -EIO, "second %s", "try"), -EIO);
        ASSERT_STREQ(e, "second try");
}

TEST(fnv1a64) {
        /* The published FNV-1a 64 test vectors. */
        ASSERT_EQ(fnv1a64_string(""), UINT64_C(0xcbf29ce484222325));
        ASSERT_EQ(fnv1a64_string("a"), UINT64_C(0xaf63dc4c8601ec8c));
        ASSERT_EQ(fnv1a64_string("foobar"), UINT64_C(0x85944171f73967e8));
        /* In pieces, the same as at once. */
        ASSERT_EQ(fnv1a64(fnv1a64(FNV1A64_INIT, "foo", 3), "bar", 3), fnv1a64_string("foobar"));
        ASSERT_EQ(fnv1a64(FNV1A64_INIT, "\0\1", 2),
                  fnv1a64(fnv1a64(FNV1A64_INIT, "\0", 1), "\1", 1));
}

TEST(string_table_lookup) {
        static const char *const table[] = { "running", NULL, "exited" };

        ASSERT_EQ(string_table_lookup(table, ELEMENTSOF(table), "running"), 0);
        ASSERT_EQ(string_table_lookup(table, ELEMENTSOF(table), "exited"), 2);
        ASSERT_ERROR(string_table_lookup(table, ELEMENTSOF(table), "paused"), EINVAL);
        ASSERT_ERROR(string_table_lookup(table, ELEMENTSOF(table), NULL), EINVAL);
        /* Only the first n entries count. */
        ASSERT_ERROR(string_table_lookup(table, 2, "exited"), EINVAL);
}
