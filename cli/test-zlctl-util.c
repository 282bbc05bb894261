/* SPDX-License-Identifier: Apache-2.0 */
/* test-zlctl-util.c: option helpers, JSON getters, short ids, log records and line splitting. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "string-util.h"
#include "tests.h"
#include "zlctl.h"

/* zlctl.c holds main(); these stand in for its usage reporting so that what the helpers report
 * can be checked. */
const char *program_name = "zlctl";
static char last_usage[256];

int usage_error(const char *command, const char *format, ...) {
        char msg[200];
        va_list ap;

        va_start(ap, format);
        vsnprintf(msg, sizeof msg, format, ap);
        va_end(ap);
        snprintf(last_usage, sizeof last_usage, "%s: %s", command, msg);
        return ZLCTL_EXIT_USAGE;
}

TEST(getopt_failure_names_the_option) {
        char *argv[] = { (char *) "ls", (char *) "--bogus", (char *) "-o", NULL };

        optind = 2;
        ASSERT_EQ(zlctl_getopt_failure("image ls", '?', argv), ZLCTL_EXIT_USAGE);
        ASSERT_STREQ(last_usage, "image ls: unknown option '--bogus'");
        optind = 3;
        ASSERT_EQ(zlctl_getopt_failure("image ls", ':', argv), ZLCTL_EXIT_USAGE);
        ASSERT_STREQ(last_usage, "image ls: option '-o' needs an argument");
}

TEST(parse_output) {
        bool json = false;

        ASSERT_EQ(zlctl_parse_output("ps", "json", &json), 0);
        ASSERT_TRUE(json);
        ASSERT_EQ(zlctl_parse_output("ps", "table", &json), 0);
        ASSERT_FALSE(json);
        json = true;
        ASSERT_EQ(zlctl_parse_output("ps", "yaml", &json), ZLCTL_EXIT_USAGE);
        ASSERT_TRUE(json);
        ASSERT_STREQ(last_usage, "ps: invalid --output 'yaml'; expected table or json");
}

TEST(parse_tail) {
        int64_t tail = 7;

        ASSERT_EQ(zlctl_parse_tail("logs", "all", &tail), 0);
        ASSERT_EQ(tail, -1);
        ASSERT_EQ(zlctl_parse_tail("logs", "0", &tail), 0);
        ASSERT_EQ(tail, 0);
        ASSERT_EQ(zlctl_parse_tail("logs", "25", &tail), 0);
        ASSERT_EQ(tail, 25);
        ASSERT_EQ(zlctl_parse_tail("logs", "-3", &tail), ZLCTL_EXIT_USAGE);
        ASSERT_EQ(tail, 25);
        ASSERT_STREQ(last_usage, "logs: invalid --tail '-3': expected a number >= 0 or 'all'");
        ASSERT_EQ(zlctl_parse_tail("logs", "ten", &tail), ZLCTL_EXIT_USAGE);
        ASSERT_EQ(zlctl_parse_tail("logs", "", &tail), ZLCTL_EXIT_USAGE);
        ASSERT_EQ(tail, 25);
}

TEST(want_help) {
        char *help[] = { (char *) "ls", (char *) "-q", (char *) "--help", NULL };
        char *first[] = { (char *) "-h", (char *) "x", NULL };
        char *none[] = { (char *) "ls", (char *) "-hx", NULL };

        ASSERT_TRUE(zlctl_want_help(3, help));
        /* argv[0] is the command name, never an option. */
        ASSERT_FALSE(zlctl_want_help(2, first));
        ASSERT_FALSE(zlctl_want_help(2, none));
}

TEST(json_getters) {
        _cleanup_(json_decrefp) json_t *o =
                json_pack("{s:s, s:I, s:n}", "name", "web", "index", (json_int_t) 3, "null", "x");

        ASSERT_NOT_NULL(o);
        ASSERT_STREQ(zlctl_json_str(o, "name"), "web");
        ASSERT_NULL(zlctl_json_str(o, "index"));
        ASSERT_NULL(zlctl_json_str(o, "missing"));
        ASSERT_NULL(zlctl_json_str(NULL, "name"));
        ASSERT_EQ(zlctl_json_int(o, "index"), 3);
        ASSERT_EQ(zlctl_json_int(o, "name"), 0);
        ASSERT_EQ(zlctl_json_int(o, "missing"), 0);
}

TEST(short_id) {
        char buf[ZLCTL_SHORT_ID_LEN + 1], tiny[5];

        ASSERT_STREQ(zlctl_short_id("0123456789abcdef0123", buf, sizeof buf), "0123456789ab");
        ASSERT_STREQ(zlctl_short_id("abc", buf, sizeof buf), "abc");
        ASSERT_STREQ(zlctl_short_id("0123456789abcdef", tiny, sizeof tiny), "0123");
        ASSERT_NULL(zlctl_short_id("", buf, sizeof buf));
        ASSERT_NULL(zlctl_short_id(NULL, buf, sizeof buf));
}

static void assert_record(const char *line, const char *time, bool err, bool partial,
                          const char *text) {
        ZlctlLogRecord rec;

        ASSERT_OK(zlctl_log_record_parse(line, strlen(line), &rec));
        ASSERT_EQ(rec.time_len, strlen(time));
        ASSERT_TRUE(strneq(rec.time, time, rec.time_len));
        ASSERT_EQ(rec.err, err);
        ASSERT_EQ(rec.partial, partial);
        ASSERT_EQ(rec.text_len, strlen(text));
        ASSERT_TRUE(strneq(rec.text, text, rec.text_len));
}

TEST(log_record_parse) {
        ZlctlLogRecord rec;

        assert_record("2026-01-02T03:04:05.000000001Z stdout F hello world",
                      "2026-01-02T03:04:05.000000001Z", false, false, "hello world");
        assert_record("T stderr P  two spaces", "T", true, true, " two spaces");
        assert_record("T stdout F ", "T", false, false, "");
        /* The end of a line without its text. */
        assert_record("T stderr F", "T", true, false, "");
        /* Only "stderr" itself means stderr. */
        assert_record("T stderrx F a", "T", false, false, "a");

        ASSERT_ERROR(zlctl_log_record_parse("", 0, &rec), EBADMSG);
        ASSERT_ERROR(zlctl_log_record_parse("no-spaces", 9, &rec), EBADMSG);
        ASSERT_ERROR(zlctl_log_record_parse("T stdout", 8, &rec), EBADMSG);
        ASSERT_ERROR(zlctl_log_record_parse("T stdout X text", 15, &rec), EBADMSG);
        ASSERT_ERROR(zlctl_log_record_parse("T stdout Ftext", 14, &rec), EBADMSG);
        ASSERT_ERROR(zlctl_log_record_parse("T stdout ", 9, &rec), EBADMSG);
}

typedef struct Lines {
        char got[256];
        size_t n;
        int fail_at; /* 1-based line that fails with -EIO; 0 none */
} Lines;

static int collect(const char *l, size_t n, void *userdata) {
        Lines *c = userdata;
        size_t len = strlen(c->got);

        c->n++;
        if ((int) c->n == c->fail_at)
                return -EIO;
        snprintf(c->got + len, sizeof c->got - len, "[%.*s]", (int) n, l);
        return 0;
}

TEST(line_buffer_splits_across_feeds) {
        _cleanup_(zlctl_line_buffer_done) ZlctlLineBuffer b = {};
        Lines c = {};

        ASSERT_OK(zlctl_line_buffer_feed(&b, "ab", 2, collect, &c));
        ASSERT_EQ(c.n, 0U);
        ASSERT_EQ(b.len, 2U);
        ASSERT_OK(zlctl_line_buffer_feed(&b, "c\n\nde\nf", 7, collect, &c));
        ASSERT_STREQ(c.got, "[abc][][de]");
        ASSERT_EQ(b.len, 1U);
        ASSERT_EQ(b.buf[0], 'f');
        ASSERT_OK(zlctl_line_buffer_feed(&b, "", 0, collect, &c));
        ASSERT_EQ(c.n, 3U);
        ASSERT_OK(zlctl_line_buffer_feed(&b, "g\n", 2, collect, &c));
        ASSERT_STREQ(c.got, "[abc][][de][fg]");
        ASSERT_EQ(b.len, 0U);
}

TEST(line_buffer_stops_at_an_error) {
        _cleanup_(zlctl_line_buffer_done) ZlctlLineBuffer b = {};
        Lines c = { .fail_at = 2 };

        ASSERT_ERROR(zlctl_line_buffer_feed(&b, "x\ny\nz\n", 6, collect, &c), EIO);
        ASSERT_STREQ(c.got, "[x]");
        ASSERT_EQ(c.n, 2U);
}

TEST(line_buffer_done_twice) {
        ZlctlLineBuffer b = {};

        ASSERT_OK(zlctl_line_buffer_feed(&b, "partial", 7, collect, &(Lines){}));
        zlctl_line_buffer_done(&b);
        ASSERT_NULL(b.buf);
        ASSERT_EQ(b.len, 0U);
        zlctl_line_buffer_done(&b);
}

TEST(read_spec_refuses_large_and_missing_files) {
        char path[] = "/tmp/test-zlctl-util-XXXXXX";
        _cleanup_free_ char *data = NULL;
        size_t size = 0;
        FILE *f;
        int fd;

        fd = mkstemp(path);
        ASSERT_GE(fd, 0);
        f = fdopen(fd, "w");
        ASSERT_NOT_NULL(f);
        fputs("version: v1\n", f);
        ASSERT_EQ(fclose(f), 0);
        ASSERT_OK(zlctl_read_spec(path, &data, &size));
        ASSERT_EQ(size, strlen("version: v1\n"));
        ASSERT_STREQ(data, "version: v1\n");
        ASSERT_EQ(truncate(path, ZLCTL_SPEC_MAX_SIZE + 1), 0);
        ASSERT_ERROR(zlctl_read_spec(path, &data, &size), EFBIG);
        ASSERT_EQ(unlink(path), 0);
        ASSERT_ERROR(zlctl_read_spec(path, &data, &size), ENOENT);
}
