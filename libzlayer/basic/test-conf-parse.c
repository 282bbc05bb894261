/* SPDX-License-Identifier: Apache-2.0 */
/* test-conf-parse.c: `key = value` files: trimming, comments, errors with their line. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf-parse.h"
#include "fileio.h"
#include "macro.h"
#include "string-util.h"
#include "tests.h"

typedef struct Seen {
        char text[256];
        unsigned n;
} Seen;

static int record(void *userdata, const char *key, const char *value, const char **ret_why) {
        Seen *s = userdata;
        size_t used = strlen(s->text);

        if (streq(key, "bad")) {
                *ret_why = "not allowed here";
                return -EINVAL;
        }
        if (streq(key, "oom"))
                return -ENOMEM;
        (void) snprintf(s->text + used, sizeof s->text - used, "[%s|%s]", key, value);
        s->n++;
        return 0;
}

static char *write_conf(const char *name, const char *contents) {
        char *p;

        ASSERT_TRUE(asprintf(&p, "%s/%s", test_tmpdir(), name) >= 0);
        ASSERT_OK(write_string_file_atomic(p, contents, 0644));
        return p;
}

TEST(keys_values_comments) {
        _cleanup_free_ char *p = write_conf(
                "a.conf", "# comment\n\n  workers = 4  \nname=a b c\n\t# indented comment\n"
                          "empty =\nurl = http://x/?a=b\nlast = no newline");
        _cleanup_free_ char *msg = NULL;
        Seen s = {};

        ASSERT_OK(conf_parse_file(p, 4096, record, &s, &msg));
        ASSERT_NULL(msg);
        ASSERT_EQ(s.n, 5U);
        /* Only the first '=' splits: values may hold more. */
        ASSERT_STREQ(s.text, "[workers|4][name|a b c][empty|][url|http://x/?a=b][last|no newline]");
}

TEST(errors_name_the_line) {
        _cleanup_free_ char *p = write_conf("b.conf", "a = 1\n# x\nbad = 2\nc = 3\n");
        _cleanup_free_ char *q = write_conf("c.conf", "a = 1\n\njust words\n");
        _cleanup_free_ char *o = write_conf("d.conf", "oom = 1\n");
        _cleanup_free_ char *msg = NULL, *expected = NULL;
        Seen s = {};

        ASSERT_ERROR(conf_parse_file(p, 4096, record, &s, &msg), EINVAL);
        ASSERT_TRUE(asprintf(&expected, "%s:3: 'bad': not allowed here", p) >= 0);
        ASSERT_STREQ(msg, expected);
        /* The keys before the error were set; the parse stopped there. */
        ASSERT_STREQ(s.text, "[a|1]");

        expected = mfree(expected);
        ASSERT_ERROR(conf_parse_file(q, 4096, record, &s, &msg), EINVAL);
        ASSERT_TRUE(asprintf(&expected, "%s:3: expected 'key = value'", q) >= 0);
        ASSERT_STREQ(msg, expected);

        /* Errors other than -EINVAL carry no message. */
        msg = mfree(msg);
        ASSERT_ERROR(conf_parse_file(o, 4096, record, &s, &msg), ENOMEM);
        ASSERT_NULL(msg);
        ASSERT_ERROR(conf_parse_file(p, 4096, record, &s, NULL), EINVAL);
}

TEST(missing_and_too_big) {
        _cleanup_free_ char *p = write_conf("e.conf", "a = 1\nb = 2\n");
        _cleanup_free_ char *missing = NULL, *msg = NULL;
        Seen s = {};

        ASSERT_TRUE(asprintf(&missing, "%s/none.conf", test_tmpdir()) >= 0);
        ASSERT_ERROR(conf_parse_file(missing, 4096, record, &s, &msg), ENOENT);
        ASSERT_NULL(msg);
        ASSERT_ERROR(conf_parse_file(p, 4, record, &s, &msg), EFBIG);
        ASSERT_EQ(s.n, 0U);
}
