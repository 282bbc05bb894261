/* SPDX-License-Identifier: Apache-2.0 */
/* test-container-log.c: the CRI log writer, rotation, tail, since, follow and the journal. */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "container-log.h"
#include "fileio.h"
#include "string-util.h"
#include "tests.h"

#define T0 UINT64_C(1700000000000000) /* 2023-11-14T22:13:20Z */
#define DOTS "................................................................"

typedef struct Rec {
        usec_t ts;
        LogStream stream;
        bool partial;
        char *text;
        size_t size;
} Rec;

typedef struct Recs {
        Rec *r;
        size_t n, allocated;
} Recs;

static int collect(const ContainerLogEntry *e, void *userdata) {
        Recs *c = userdata;
        Rec *a = c->r;

        /* Grows by doubling: the big tail test collects 200000 records. */
        if (c->n == c->allocated) {
                c->allocated = MAX(c->allocated * 2, (size_t) 16);
                a = reallocarray(c->r, c->allocated, sizeof(Rec));
                if (!a)
                        return -ENOMEM;
                c->r = a;
        }
        ASSERT_EQ(e->text[e->size], '\0');
        a[c->n] = (Rec){ e->timestamp, e->stream, e->partial, malloc(e->size + 1), e->size };
        ASSERT_NOT_NULL(a[c->n].text);
        memcpy(a[c->n].text, e->text, e->size + 1);
        c->n++;
        return 0;
}

static void recs_done(Recs *c) {
        for (size_t i = 0; i < c->n; i++)
                free(c->r[i].text);
        free(c->r);
        *c = (Recs){};
}

static void read_all(const char *dir, usec_t since, uint64_t tail, Recs *ret) {
        *ret = (Recs){};
        ASSERT_EQ(container_log_read(AT_FDCWD, dir, since, tail, collect, ret), (int) ret->n);
}

static void assert_rec(const Rec *r, LogStream s, bool partial, const char *text) {
        ASSERT_EQ(r->stream, s);
        ASSERT_EQ(r->partial, partial);
        ASSERT_EQ(r->size, strlen(text));
        ASSERT_STREQ(r->text, text);
}

static char *tmp_path(const char *name) {
        static char buf[4][PATH_MAX];
        static unsigned i;
        char *p = buf[i++ % 4];

        snprintf(p, PATH_MAX, "%s/%s", test_tmpdir(), name);
        return p;
}

static char *file_in(const char *dir, const char *name) {
        char *p = NULL;

        ASSERT_TRUE(asprintf(&p, "%s/%s", dir, name) > 0);
        return p;
}

static void write_raw(const char *dir, const char *name, const char *data, size_t size) {
        _cleanup_free_ char *p = file_in(dir, name);
        _cleanup_close_ int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);

        ASSERT_OK(fd);
        ASSERT_EQ(write(fd, data, size), (ssize_t) size);
}

static bool exists(const char *dir, const char *name) {
        _cleanup_free_ char *p = file_in(dir, name);

        return access(p, F_OK) >= 0;
}

static uint64_t file_size(const char *dir, const char *name) {
        _cleanup_free_ char *p = file_in(dir, name);
        struct stat st;

        ASSERT_OK(stat(p, &st));
        return (uint64_t) st.st_size;
}

TEST(timestamps) {
        char buf[CONTAINER_LOG_TIMESTAMP_MAX];
        usec_t t;

        ASSERT_STREQ(container_log_format_timestamp(0, buf), "1970-01-01T00:00:00.000000000Z");
        ASSERT_STREQ(container_log_format_timestamp(T0 + 123456, buf),
                     "2023-11-14T22:13:20.123456000Z");
        ASSERT_STREQ(container_log_format_timestamp(951782400 * USEC_PER_SEC, buf),
                     "2000-02-29T00:00:00.000000000Z");
        ASSERT_NULL(container_log_format_timestamp(USEC_INFINITY, buf));
        ASSERT_NULL(container_log_format_timestamp(253402300800 * USEC_PER_SEC, buf));
        ASSERT_STREQ(container_log_format_timestamp(253402300799 * USEC_PER_SEC, buf),
                     "9999-12-31T23:59:59.000000000Z");

#define PARSE(s, r) container_log_parse_timestamp((s), strlen(s), (r))
        ASSERT_OK(PARSE("2023-11-14T22:13:20.123456000Z", &t));
        ASSERT_U64_EQ(t, T0 + 123456);
        ASSERT_OK(PARSE("2023-11-14T22:13:20.123456789Z", &t));
        ASSERT_U64_EQ(t, T0 + 123456);
        ASSERT_OK(PARSE("2023-11-14T22:13:20.5Z", &t));
        ASSERT_U64_EQ(t, T0 + 500000);
        ASSERT_OK(PARSE("2023-11-14T22:13:20Z", &t));
        ASSERT_U64_EQ(t, T0);
        ASSERT_OK(PARSE("2023-11-14T23:43:20+01:30", &t));
        ASSERT_U64_EQ(t, T0);
        ASSERT_OK(PARSE("2023-11-14T21:13:20.25-01:00", &t));
        ASSERT_U64_EQ(t, T0 + 250000);
        ASSERT_OK(PARSE("2024-02-29T00:00:00Z", &t));
        ASSERT_OK(PARSE("1970-01-01T00:00:00Z", &t));
        ASSERT_U64_EQ(t, 0);
        for (usec_t u = 0; u < 400 * 366 * USEC_PER_DAY; u += 7919 * USEC_PER_HOUR + 13) {
                usec_t back;

                ASSERT_NOT_NULL(container_log_format_timestamp(u, buf));
                ASSERT_OK(PARSE(buf, &back));
                ASSERT_U64_EQ(back, u);
        }

        ASSERT_ERROR(PARSE("2023-02-29T00:00:00Z", &t), EINVAL);
        ASSERT_ERROR(PARSE("1900-02-29T00:00:00Z", &t), EINVAL);
        ASSERT_ERROR(PARSE("2023-11-14t22:13:20Z", &t), EINVAL);
        ASSERT_ERROR(PARSE("2023-11-14T22:13:20z", &t), EINVAL);
        ASSERT_ERROR(PARSE("2023-11-14T22:13:20", &t), EINVAL);
        ASSERT_ERROR(PARSE("2023-11-14T22:13:20.Z", &t), EINVAL);
        ASSERT_ERROR(PARSE("2023-11-14T22:13:20.1234567890Z", &t), EINVAL);
        ASSERT_ERROR(PARSE("2023-11-14T22:13:60Z", &t), EINVAL);
        ASSERT_ERROR(PARSE("2023-11-14T24:00:00Z", &t), EINVAL);
        ASSERT_ERROR(PARSE("2023-13-14T22:13:20Z", &t), EINVAL);
        ASSERT_ERROR(PARSE("2023-00-14T22:13:20Z", &t), EINVAL);
        ASSERT_ERROR(PARSE("2023-11-00T22:13:20Z", &t), EINVAL);
        ASSERT_ERROR(PARSE("2023-11-14T22:13:20Zx", &t), EINVAL);
        ASSERT_ERROR(PARSE("2023-11-14T22:13:20+0100", &t), EINVAL);
        ASSERT_ERROR(PARSE("2023-11-14T22:13:20+24:00", &t), EINVAL);
        ASSERT_ERROR(PARSE("+023-11-14T22:13:20Z", &t), EINVAL);
        ASSERT_ERROR(PARSE(" 2023-11-14T22:13:20Z", &t), EINVAL);
        ASSERT_ERROR(PARSE("", &t), EINVAL);
        ASSERT_ERROR(PARSE("1969-12-31T23:59:59Z", &t), ERANGE);
        ASSERT_ERROR(PARSE("1970-01-01T00:30:00+01:00", &t), ERANGE);
        /* The length bounds the parse: no reading past n. */
        ASSERT_OK(container_log_parse_timestamp("2023-11-14T22:13:20Z stdout", 20, &t));
        ASSERT_U64_EQ(t, T0);
#undef PARSE

        ASSERT_STREQ(log_stream_to_string(LOG_STREAM_STDERR), "stderr");
        ASSERT_NULL(log_stream_to_string(_LOG_STREAM_MAX));
        ASSERT_EQ(log_stream_from_string("stdout"), LOG_STREAM_STDOUT);
        ASSERT_ERROR(log_stream_from_string("stdin"), EINVAL);
        ASSERT_ERROR(log_stream_from_string(NULL), EINVAL);
}

TEST(lines_split_across_writes) {
        _cleanup_(container_log_freep) ContainerLog *l = NULL;
        _cleanup_free_ char *data = NULL, *p = NULL;
        const char *dir = tmp_path("split");

        ASSERT_OK(container_log_open(AT_FDCWD, dir, NULL, &l));
        ASSERT_OK(container_log_write(l, LOG_STREAM_STDOUT, "hel", 3, T0));
        ASSERT_OK(container_log_write(l, LOG_STREAM_STDOUT, "lo\nwor", 6, T0 + 1));
        ASSERT_OK(container_log_write(l, LOG_STREAM_STDOUT, "", 0, T0 + 2));
        ASSERT_OK(container_log_write(l, LOG_STREAM_STDOUT, "ld\n\n", 4, T0 + 3));
        ASSERT_OK(container_log_write(l, LOG_STREAM_STDERR, "tail", 4, T0 + 4));
        ASSERT_OK(container_log_flush(l, T0 + 5));
        ASSERT_OK(container_log_flush(l, T0 + 6)); /* nothing left */

        p = file_in(dir, CONTAINER_LOG_FILE);
        ASSERT_OK(read_full_file(p, SIZE_MAX, &data, NULL));
        ASSERT_STREQ(data, "2023-11-14T22:13:20.000001000Z stdout F hello\n"
                           "2023-11-14T22:13:20.000003000Z stdout F world\n"
                           "2023-11-14T22:13:20.000003000Z stdout F \n"
                           "2023-11-14T22:13:20.000005000Z stderr P tail\n");
        ASSERT_ERROR(container_log_write(l, _LOG_STREAM_MAX, "x", 1, T0), EINVAL);
        ASSERT_ERROR(container_log_write(l, _LOG_STREAM_INVALID, "x", 1, T0), EINVAL);
        ASSERT_ERROR(container_log_write(l, LOG_STREAM_STDOUT, NULL, 1, T0), EINVAL);
        ASSERT_ERROR(container_log_write(NULL, LOG_STREAM_STDOUT, "x", 1, T0), EINVAL);
}

TEST(long_lines_become_partial_records) {
        _cleanup_(container_log_freep) ContainerLog *l = NULL;
        _cleanup_free_ char *big = malloc(40001);
        const char *dir = tmp_path("long");
        const size_t M = CONTAINER_LOG_LINE_MAX;
        Recs c;

        ASSERT_NOT_NULL(big);
        for (size_t i = 0; i < 40000; i++)
                big[i] = (char) ('a' + i % 26);
        big[40000] = '\n';

        ASSERT_OK(container_log_open(AT_FDCWD, dir, NULL, &l));
        /* 40000 bytes: two full pieces and the rest. */
        ASSERT_OK(container_log_write(l, LOG_STREAM_STDOUT, big, 40001, T0));
        /* Exactly the limit with its newline: one F. */
        ASSERT_OK(container_log_write(l, LOG_STREAM_STDOUT, big, M, T0));
        ASSERT_OK(container_log_write(l, LOG_STREAM_STDOUT, "\n", 1, T0));
        /* Buffered up to the limit in small writes, one more byte makes the buffer a P. */
        for (size_t i = 0; i < M; i += 1000)
                ASSERT_OK(container_log_write(l, LOG_STREAM_STDERR, big + i, MIN(1000, M - i), T0));
        ASSERT_OK(container_log_write(l, LOG_STREAM_STDERR, "Z", 1, T0));
        ASSERT_OK(container_log_flush(l, T0));
        l = container_log_free(l);

        read_all(dir, 0, UINT64_MAX, &c);
        ASSERT_EQ(c.n, 6u);
        ASSERT_TRUE(c.r[0].partial && c.r[0].size == M && memcmp(c.r[0].text, big, M) == 0);
        ASSERT_TRUE(c.r[1].partial && c.r[1].size == M && memcmp(c.r[1].text, big + M, M) == 0);
        ASSERT_TRUE(!c.r[2].partial && c.r[2].size == 40000 - 2 * M &&
                    memcmp(c.r[2].text, big + 2 * M, 40000 - 2 * M) == 0);
        ASSERT_TRUE(!c.r[3].partial && c.r[3].size == M && memcmp(c.r[3].text, big, M) == 0);
        ASSERT_TRUE(c.r[4].partial && c.r[4].stream == LOG_STREAM_STDERR && c.r[4].size == M &&
                    memcmp(c.r[4].text, big, M) == 0);
        assert_rec(&c.r[5], LOG_STREAM_STDERR, true, "Z");
        recs_done(&c);

        /* tail counts the pieces as one line. */
        read_all(dir, 0, 2, &c);
        ASSERT_EQ(c.n, 3u);
        ASSERT_TRUE(!c.r[0].partial && c.r[0].size == M);
        ASSERT_TRUE(c.r[1].partial && c.r[2].partial);
        recs_done(&c);
        read_all(dir, 0, 3, &c);
        ASSERT_EQ(c.n, 6u);
        recs_done(&c);
}

TEST(streams_interleaved) {
        _cleanup_(container_log_freep) ContainerLog *l = NULL;
        const char *dir = tmp_path("interleaved");
        Recs c;

        ASSERT_OK(container_log_open(AT_FDCWD, dir, NULL, &l));
        ASSERT_OK(container_log_write(l, LOG_STREAM_STDOUT, "a1", 2, T0));
        ASSERT_OK(container_log_write(l, LOG_STREAM_STDERR, "b1\n", 3, T0 + 1));
        ASSERT_OK(container_log_write(l, LOG_STREAM_STDOUT, "a2\na3", 5, T0 + 2));
        ASSERT_OK(container_log_write(l, LOG_STREAM_STDERR, "b2", 2, T0 + 3));
        ASSERT_OK(container_log_write(l, LOG_STREAM_STDOUT, "\n", 1, T0 + 4));
        l = container_log_free(l); /* flushes b2 */

        read_all(dir, 0, UINT64_MAX, &c);
        ASSERT_EQ(c.n, 4u);
        assert_rec(&c.r[0], LOG_STREAM_STDERR, false, "b1");
        ASSERT_U64_EQ(c.r[0].ts, T0 + 1);
        assert_rec(&c.r[1], LOG_STREAM_STDOUT, false, "a1a2");
        ASSERT_U64_EQ(c.r[1].ts, T0 + 2);
        assert_rec(&c.r[2], LOG_STREAM_STDOUT, false, "a3");
        assert_rec(&c.r[3], LOG_STREAM_STDERR, true, "b2");
        recs_done(&c);
}

TEST(tail_with_interleaved_partial_lines) {
        const char *dir = tmp_path("tail-partial");
        const char *text = "2023-11-14T22:13:20.000000000Z stdout F o1\n"
                           "2023-11-14T22:13:21.000000000Z stdout P o2a\n"
                           "2023-11-14T22:13:22.000000000Z stderr F e1\n"
                           "2023-11-14T22:13:23.000000000Z stdout P o2b\n"
                           "2023-11-14T22:13:24.000000000Z stderr F e2\n"
                           "2023-11-14T22:13:25.000000000Z stdout F o2c\n"
                           "2023-11-14T22:13:26.000000000Z stderr P e3\n";
        Recs c;

        ASSERT_OK(mkdir(dir, 0755));
        write_raw(dir, CONTAINER_LOG_FILE, text, strlen(text));

        /* The unterminated e3 is the last line, o2 (three pieces) the one before. */
        read_all(dir, 0, 1, &c);
        ASSERT_EQ(c.n, 1u);
        assert_rec(&c.r[0], LOG_STREAM_STDERR, true, "e3");
        recs_done(&c);
        read_all(dir, 0, 2, &c);
        ASSERT_EQ(c.n, 4u);
        assert_rec(&c.r[0], LOG_STREAM_STDOUT, true, "o2a");
        assert_rec(&c.r[1], LOG_STREAM_STDOUT, true, "o2b");
        assert_rec(&c.r[2], LOG_STREAM_STDOUT, false, "o2c");
        assert_rec(&c.r[3], LOG_STREAM_STDERR, true, "e3");
        recs_done(&c);
        read_all(dir, 0, 3, &c);
        ASSERT_EQ(c.n, 5u);
        assert_rec(&c.r[2], LOG_STREAM_STDERR, false, "e2");
        recs_done(&c);
        read_all(dir, 0, 5, &c);
        ASSERT_EQ(c.n, 7u);
        recs_done(&c);
        read_all(dir, 0, 0, &c);
        ASSERT_EQ(c.n, 0u);
        recs_done(&c);
        /* since and tail together: tail first, then the time filter. */
        read_all(dir, T0 + 4 * USEC_PER_SEC, 2, &c);
        ASSERT_EQ(c.n, 2u);
        assert_rec(&c.r[0], LOG_STREAM_STDOUT, false, "o2c");
        recs_done(&c);
}

TEST(crlf_and_binary_kept) {
        _cleanup_(container_log_freep) ContainerLog *l = NULL;
        const char bin[] = { 'x', '\0', '\xff', '\x1b', '\r', ' ', '\t', '\n' };
        const char *dir = tmp_path("binary");
        Recs c;

        ASSERT_OK(container_log_open(AT_FDCWD, dir, NULL, &l));
        ASSERT_OK(container_log_write(l, LOG_STREAM_STDOUT, "dos line\r\n", 10, T0));
        ASSERT_OK(container_log_write(l, LOG_STREAM_STDOUT, bin, sizeof bin, T0));
        ASSERT_OK(container_log_write(l, LOG_STREAM_STDOUT, "\r\r\n", 3, T0));
        l = container_log_free(l);

        read_all(dir, 0, UINT64_MAX, &c);
        ASSERT_EQ(c.n, 3u);
        assert_rec(&c.r[0], LOG_STREAM_STDOUT, false, "dos line\r");
        ASSERT_EQ(c.r[1].size, sizeof bin - 1);
        ASSERT_TRUE(memcmp(c.r[1].text, bin, sizeof bin - 1) == 0);
        assert_rec(&c.r[2], LOG_STREAM_STDOUT, false, "\r\r");
        recs_done(&c);
}

static void write_numbered(ContainerLog *l, unsigned from, unsigned to, usec_t t) {
        for (unsigned i = from; i < to; i++) {
                char line[128];
                int n = snprintf(line, sizeof line, "line %05u %s\n", i, DOTS);
                ASSERT_OK(container_log_write(l, i % 3 == 0 ? LOG_STREAM_STDERR : LOG_STREAM_STDOUT,
                                              line, (size_t) n, t + i * USEC_PER_SEC));
        }
}

static unsigned line_number(const Rec *r) {
        unsigned n;

        ASSERT_EQ(sscanf(r->text, "line %u", &n), 1);
        return n;
}

TEST(rotation_keeps_max_files) {
        _cleanup_(container_log_freep) ContainerLog *l = NULL;
        const char *dir = tmp_path("rotate");
        ContainerLogOptions o = { .max_size = 4096, .max_files = 3 };
        unsigned first;
        Recs c;

        ASSERT_OK(container_log_open(AT_FDCWD, dir, &o, &l));
        write_numbered(l, 0, 200, T0);
        l = container_log_free(l);

        ASSERT_TRUE(exists(dir, "container.log"));
        ASSERT_TRUE(exists(dir, "container.log.1"));
        ASSERT_TRUE(exists(dir, "container.log.2"));
        ASSERT_FALSE(exists(dir, "container.log.3"));
        ASSERT_LE(file_size(dir, "container.log"), 4096);
        /* Rotated files are full: the next record did not fit. */
        ASSERT_LE(file_size(dir, "container.log.1"), 4096);
        ASSERT_GT(file_size(dir, "container.log.1"), 4096 - 120);
        ASSERT_LE(file_size(dir, "container.log.2"), 4096);

        /* What is left is the newest lines, in order, without a gap. */
        read_all(dir, 0, UINT64_MAX, &c);
        ASSERT_GT(c.n, 60u);
        ASSERT_LT(c.n, 100u);
        first = line_number(&c.r[0]);
        ASSERT_GT(first, 0u);
        for (size_t i = 0; i < c.n; i++) {
                ASSERT_EQ(line_number(&c.r[i]), first + i);
                ASSERT_U64_EQ(c.r[i].ts, T0 + (first + i) * USEC_PER_SEC);
                ASSERT_EQ(c.r[i].stream,
                          (first + i) % 3 == 0 ? LOG_STREAM_STDERR : LOG_STREAM_STDOUT);
        }
        ASSERT_EQ(first + c.n, 200u);
        recs_done(&c);

        /* tail across the rotated files. */
        read_all(dir, 0, 50, &c);
        ASSERT_EQ(c.n, 50u);
        for (size_t i = 0; i < c.n; i++)
                ASSERT_EQ(line_number(&c.r[i]), 150 + i);
        recs_done(&c);
        read_all(dir, 0, 1000, &c);
        ASSERT_EQ(c.n, 200u - first);
        recs_done(&c);

        /* since across the rotated files, and with tail. */
        read_all(dir, T0 + 180 * USEC_PER_SEC, UINT64_MAX, &c);
        ASSERT_EQ(c.n, 20u);
        ASSERT_EQ(line_number(&c.r[0]), 180u);
        recs_done(&c);
        read_all(dir, T0 + 180 * USEC_PER_SEC + 1, 5, &c);
        ASSERT_EQ(c.n, 5u);
        ASSERT_EQ(line_number(&c.r[0]), 195u);
        recs_done(&c);
        read_all(dir, T0 + 1000 * USEC_PER_SEC, UINT64_MAX, &c);
        ASSERT_EQ(c.n, 0u);
        recs_done(&c);

        /* The writer continues where it left off, and a smaller max_files drops the extra. */
        o.max_files = 2;
        ASSERT_OK(container_log_open(AT_FDCWD, dir, &o, &l));
        write_numbered(l, 200, 260, T0);
        l = container_log_free(l);
        ASSERT_TRUE(exists(dir, "container.log.1"));
        ASSERT_FALSE(exists(dir, "container.log.2"));
        read_all(dir, 0, 3, &c);
        ASSERT_EQ(c.n, 3u);
        ASSERT_EQ(line_number(&c.r[2]), 259u);
        recs_done(&c);
}

TEST(max_files_one) {
        _cleanup_(container_log_freep) ContainerLog *l = NULL;
        const char *dir = tmp_path("one");
        ContainerLogOptions o = { .max_size = 4096, .max_files = 1 };
        Recs c;

        ASSERT_OK(container_log_open(AT_FDCWD, dir, &o, &l));
        write_numbered(l, 0, 100, T0);
        l = container_log_free(l);
        ASSERT_FALSE(exists(dir, "container.log.1"));
        ASSERT_LE(file_size(dir, "container.log"), 4096);
        read_all(dir, 0, UINT64_MAX, &c);
        ASSERT_GT(c.n, 20u);
        ASSERT_EQ(line_number(&c.r[c.n - 1]), 99u);
        recs_done(&c);
}

TEST(malformed_records_skipped) {
        const char *dir = tmp_path("malformed");
        _cleanup_free_ char *text = NULL, *huge = malloc(300001);
        const char *good1 = "2023-11-14T22:13:20.000000000Z stdout F good one\n",
                   *good2 = "2023-11-14T22:13:21Z stderr F good two\n",
                   *good3 = "2023-11-14T23:13:22+01:00 stdout F good three\n";
        Recs c;

        ASSERT_NOT_NULL(huge);
        memset(huge, 'x', 300000);
        huge[300000] = '\0';
        ASSERT_OK(mkdir(dir, 0755));
        ASSERT_TRUE(asprintf(&text,
                             "garbage\n"
                             "\n"
                             "%s"
                             "2023-13-14T22:13:20.000000000Z stdout F bad month\n"
                             "2023-11-14T22:13:20.000000000Z stdin F bad stream\n"
                             "2023-11-14T22:13:20.000000000Z stdout X bad tag\n"
                             "2023-11-14T22:13:20.000000000Z stdout F\n"
                             "2023-11-14T22:13:20.000000000Z stdout FF bad\n"
                             "2023-11-14T22:13:20.000000000Z  stdout F double space\n"
                             "2023-11-14T22:13:20.000000000Z stdout F %s\n"
                             "%s"
                             "%s"
                             "2023-11-14T22:13:23Z stdout F no newline yet",
                             good1, huge, good2, good3) > 0);
        write_raw(dir, CONTAINER_LOG_FILE, text, strlen(text));

        read_all(dir, 0, UINT64_MAX, &c);
        ASSERT_EQ(c.n, 3u);
        assert_rec(&c.r[0], LOG_STREAM_STDOUT, false, "good one");
        assert_rec(&c.r[1], LOG_STREAM_STDERR, false, "good two");
        assert_rec(&c.r[2], LOG_STREAM_STDOUT, false, "good three");
        ASSERT_U64_EQ(c.r[2].ts, T0 + 2 * USEC_PER_SEC);
        recs_done(&c);
        read_all(dir, 0, 2, &c);
        ASSERT_EQ(c.n, 2u);
        assert_rec(&c.r[0], LOG_STREAM_STDERR, false, "good two");
        recs_done(&c);
        read_all(dir, 0, 3, &c);
        ASSERT_EQ(c.n, 3u);
        recs_done(&c);

        /* A rotated file with garbage at its end. */
        write_raw(dir, "container.log.1", "2023-11-14T22:13:19Z stdout F older\ncut", 39);
        read_all(dir, 0, UINT64_MAX, &c);
        ASSERT_EQ(c.n, 4u);
        assert_rec(&c.r[0], LOG_STREAM_STDOUT, false, "older");
        recs_done(&c);
        read_all(dir, 0, 4, &c);
        ASSERT_EQ(c.n, 4u);
        recs_done(&c);
}

static uint64_t proc_rchar(void) {
        _cleanup_free_ char *data = NULL;
        const char *p;

        if (read_full_file("/proc/self/io", SIZE_MAX, &data, NULL) < 0)
                return UINT64_MAX;
        p = strstr(data, "rchar: ");
        return p ? strtoull(p + 7, NULL, 10) : UINT64_MAX;
}

TEST(tail_reads_backwards) {
        const char *dir = tmp_path("big");
        const size_t n_lines = 200000;
        _cleanup_free_ char *text = malloc(n_lines * 64);
        char ts[CONTAINER_LOG_TIMESTAMP_MAX];
        uint64_t before, after;
        size_t size = 0;
        Recs c;

        ASSERT_NOT_NULL(text);
        ASSERT_OK(mkdir(dir, 0755));
        for (size_t i = 0; i < n_lines; i++) {
                container_log_format_timestamp(T0 + i, ts);
                size += (size_t) sprintf(text + size, "%s stdout F line %06zu\n", ts, i);
        }
        write_raw(dir, "container.log.1", text, size);
        write_raw(dir, CONTAINER_LOG_FILE, text, size);
        ASSERT_GT(size, (size_t) 10000000);

        before = proc_rchar();
        read_all(dir, 0, 3, &c);
        after = proc_rchar();
        ASSERT_EQ(c.n, 3u);
        assert_rec(&c.r[0], LOG_STREAM_STDOUT, false, "line 199997");
        assert_rec(&c.r[2], LOG_STREAM_STDOUT, false, "line 199999");
        recs_done(&c);
        if (before == UINT64_MAX || after == UINT64_MAX)
                test_skip("/proc/self/io is not available, cannot count the bytes read");
        ASSERT_LT(after - before, 512 * 1024);

        /* Reaching into the rotated file still reads only its end. */
        before = proc_rchar();
        read_all(dir, 0, n_lines + 2, &c);
        ASSERT_EQ(c.n, n_lines + 2);
        assert_rec(&c.r[0], LOG_STREAM_STDOUT, false, "line 199998");
        recs_done(&c);
        after = proc_rchar();
        ASSERT_LT(after - before, 2 * size + 512 * 1024);
}

TEST(open_and_read_errors) {
        ContainerLog *l = NULL;
        ContainerLogOptions o = { .max_size = 100 };
        Recs c = {};

        ASSERT_ERROR(container_log_open(AT_FDCWD, tmp_path("e1"), &o, &l), EINVAL);
        o = (ContainerLogOptions){ .max_files = CONTAINER_LOG_MAX_FILES_MAX + 1 };
        ASSERT_ERROR(container_log_open(AT_FDCWD, tmp_path("e1"), &o, &l), EINVAL);
        ASSERT_ERROR(container_log_open(AT_FDCWD, "", NULL, &l), EINVAL);
        ASSERT_ERROR(container_log_open(AT_FDCWD, tmp_path("missing/parent"), NULL, &l), ENOENT);
        ASSERT_NULL(l);
        ASSERT_ERROR(container_log_read(AT_FDCWD, tmp_path("missing"), 0, UINT64_MAX, collect, &c),
                     ENOENT);
        ASSERT_ERROR(container_log_stream(AT_FDCWD, tmp_path("missing"), 0, UINT64_MAX, false, true,
                                          STDOUT_FILENO, -1),
                     ENOENT);
        ASSERT_OK(mkdir(tmp_path("empty"), 0755));
        /* An empty directory is an empty log. */
        ASSERT_EQ(container_log_read(AT_FDCWD, tmp_path("empty"), 0, 5, collect, &c), 0);
        ASSERT_ERROR(container_log_read(AT_FDCWD, tmp_path("empty"), 0, 5, NULL, NULL), EINVAL);
        ASSERT_NULL(container_log_free(NULL));
        ASSERT_ERROR(container_log_close_final(NULL), EINVAL);
}

static int stop_after_two(const ContainerLogEntry *e, void *userdata) {
        unsigned *n = userdata;

        (void) e;
        return ++*n > 2 ? -ECANCELED : 0;
}

TEST(reopen_continues_and_clears_end_marker) {
        _cleanup_(container_log_freep) ContainerLog *l = NULL;
        const char *dir = tmp_path("reopen");
        unsigned n = 0;
        Recs c;

        ASSERT_OK(container_log_open(AT_FDCWD, dir, NULL, &l));
        ASSERT_OK(container_log_write(l, LOG_STREAM_STDOUT, "one\ntwo", 7, T0));
        ASSERT_OK(container_log_close_final(TAKE_PTR(l)));
        ASSERT_TRUE(exists(dir, CONTAINER_LOG_ENDED_FILE));

        ASSERT_OK(container_log_open(AT_FDCWD, dir, NULL, &l));
        ASSERT_FALSE(exists(dir, CONTAINER_LOG_ENDED_FILE));
        ASSERT_OK(container_log_write(l, LOG_STREAM_STDOUT, "three\n", 6, T0 + 1));
        l = container_log_free(l);

        read_all(dir, 0, UINT64_MAX, &c);
        ASSERT_EQ(c.n, 3u);
        assert_rec(&c.r[0], LOG_STREAM_STDOUT, false, "one");
        assert_rec(&c.r[1], LOG_STREAM_STDOUT, true, "two");
        assert_rec(&c.r[2], LOG_STREAM_STDOUT, false, "three");
        recs_done(&c);

        ASSERT_ERROR(container_log_read(AT_FDCWD, dir, 0, UINT64_MAX, stop_after_two, &n),
                     ECANCELED);
        ASSERT_EQ(n, 3u);
}

/* Reads from fd until EOF or until the text ends with want (then returns); fails after 30 s. */
static void read_until(int fd, char **buf, size_t *size, const char *want) {
        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                char chunk[65536];
                ssize_t k;

                if (want && *size >= strlen(want) &&
                    memcmp(*buf + *size - strlen(want), want, strlen(want)) == 0)
                        return;
                ASSERT_EQ(poll(&p, 1, 30000), 1);
                k = read(fd, chunk, sizeof chunk);
                ASSERT_OK(k);
                if (k == 0) {
                        ASSERT_NULL(want);
                        return;
                }
                *buf = realloc(*buf, *size + (size_t) k + 1);
                ASSERT_NOT_NULL(*buf);
                memcpy(*buf + *size, chunk, (size_t) k);
                *size += (size_t) k;
                (*buf)[*size] = '\0';
        }
}

TEST(stream_raw_and_records) {
        _cleanup_(container_log_freep) ContainerLog *l = NULL;
        const char *dir = tmp_path("stream");
        _cleanup_free_ char *out = NULL;
        size_t size = 0;
        int p[2];

        ASSERT_OK(container_log_open(AT_FDCWD, dir, NULL, &l));
        ASSERT_OK(container_log_write(l, LOG_STREAM_STDOUT, "hello\r\nwor", 10, T0));
        ASSERT_OK(container_log_write(l, LOG_STREAM_STDERR, "err\n", 4, T0 + 1));
        ASSERT_OK(container_log_flush(l, T0 + 2));

        ASSERT_OK(pipe2(p, O_CLOEXEC));
        ASSERT_OK(container_log_stream(AT_FDCWD, dir, 0, UINT64_MAX, false, true, p[1], -1));
        ASSERT_OK(container_log_stream(AT_FDCWD, dir, 0, 1, false, false, p[1], -1));
        ASSERT_OK(container_log_stream(AT_FDCWD, dir, T0 + 1, UINT64_MAX, false, true, p[1], -1));
        close(p[1]);
        read_until(p[0], &out, &size, NULL);
        close(p[0]);
        ASSERT_STREQ(out, "hello\r\nerr\nwor"
                          "2023-11-14T22:13:20.000002000Z stdout P wor\n"
                          "err\nwor");
}

typedef struct StreamArgs {
        const char *dir;
        uint64_t tail;
        int out_fd, stop_fd;
        int r;
} StreamArgs;

static void *stream_thread(void *userdata) {
        StreamArgs *a = userdata;

        a->r = container_log_stream(AT_FDCWD, a->dir, 0, a->tail, true, true, a->out_fd,
                                    a->stop_fd);
        close(a->out_fd);
        return NULL;
}

static void expected_lines(char **s, unsigned from, unsigned to) {
        for (unsigned i = from; i < to; i++) {
                char line[128];

                snprintf(line, sizeof line, "line %05u %s\n", i, DOTS);
                ASSERT_OK(strextend(s, line));
        }
}

/* Reports through a pipe, not the exit status: valgrind turns that into 1 when the child "leaks"
 * what it inherited (the parent's threads and buffers). */
static int run_in_child(int (*f)(const void *userdata), const void *userdata) {
        int p[2], v = -1, status;
        pid_t pid;

        ASSERT_OK(pipe2(p, O_CLOEXEC));
        pid = fork();
        ASSERT_OK(pid);
        if (pid == 0) {
                close(p[0]);
                v = f(userdata);
                if (write(p[1], &v, sizeof v) != sizeof v)
                        _exit(1);
                _exit(0);
        }
        close(p[1]);
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        ASSERT_TRUE(WIFEXITED(status));
        ASSERT_EQ(read(p[0], &v, sizeof v), (ssize_t) sizeof v);
        close(p[0]);
        return v;
}

/* The monitor's part: appends, then a burst of several rotations at once, then the end. */
static int follow_writer(const void *userdata) {
        const ContainerLogOptions *o = userdata;
        ContainerLog *w = NULL;

        if (container_log_open(AT_FDCWD, tmp_path("follow"), o, &w) < 0)
                return 1;
        for (unsigned i = 10; i < 20; i++) {
                char line[128];
                int n = snprintf(line, sizeof line, "line %05u %s\n", i, DOTS);

                /* Split in two writes: the follower never sees half a line. */
                if (container_log_write(w, LOG_STREAM_STDOUT, line, 5, 0) < 0 ||
                    container_log_write(w, LOG_STREAM_STDOUT, line + 5, (size_t) n - 5, 0) < 0)
                        return 2;
                (void) usleep(2000);
        }
        for (unsigned i = 20; i < 120; i++) {
                char line[128];
                int n = snprintf(line, sizeof line, "line %05u %s\n", i, DOTS);

                if (container_log_write(w, i % 2 ? LOG_STREAM_STDERR : LOG_STREAM_STDOUT, line,
                                        (size_t) n, 0) < 0)
                        return 3;
        }
        if (container_log_write(w, LOG_STREAM_STDOUT, "last words", 10, 0) < 0)
                return 4;
        return container_log_close_final(w) < 0 ? 5 : 0;
}

TEST(follow_appends_rotations_and_end) {
        _cleanup_(container_log_freep) ContainerLog *l = NULL;
        ContainerLogOptions o = { .max_size = 4096, .max_files = 5 };
        const char *dir = tmp_path("follow");
        _cleanup_free_ char *out = NULL, *want = NULL;
        StreamArgs a = { .dir = dir, .tail = 2, .stop_fd = -1 };
        size_t size = 0;
        pthread_t t;
        int p[2];

        /* History before the follower starts; it wants the last two lines of it. */
        ASSERT_OK(container_log_open(AT_FDCWD, dir, &o, &l));
        write_numbered(l, 0, 10, T0);
        l = container_log_free(l);

        ASSERT_OK(pipe2(p, O_CLOEXEC));
        a.out_fd = p[1];
        ASSERT_OK(-pthread_create(&t, NULL, stream_thread, &a));

        expected_lines(&want, 8, 10);
        read_until(p[0], &out, &size, want);
        ASSERT_STREQ(out, want);

        /* The writer is another process, as the monitor is. */
        ASSERT_EQ(run_in_child(follow_writer, &o), 0);
        ASSERT_TRUE(exists(dir, "container.log.3"));

        /* The follower ends by itself at the end marker, after everything. */
        read_until(p[0], &out, &size, NULL);
        ASSERT_OK(-pthread_join(t, NULL));
        ASSERT_EQ(a.r, 0);
        close(p[0]);
        expected_lines(&want, 10, 120);
        ASSERT_OK(strextend(&want, "last words"));
        ASSERT_STREQ(out, want);
}

TEST(follow_waits_for_the_log_to_appear) {
        _cleanup_(container_log_freep) ContainerLog *l = NULL;
        const char *dir = tmp_path("late");
        _cleanup_free_ char *out = NULL;
        StreamArgs a = { .dir = dir, .tail = UINT64_MAX, .stop_fd = -1 };
        size_t size = 0;
        pthread_t t;
        int p[2];

        ASSERT_OK(mkdir(dir, 0755));
        ASSERT_OK(pipe2(p, O_CLOEXEC));
        a.out_fd = p[1];
        ASSERT_OK(-pthread_create(&t, NULL, stream_thread, &a));
        (void) usleep(50000);

        ASSERT_OK(container_log_open(AT_FDCWD, dir, NULL, &l));
        ASSERT_OK(container_log_write(l, LOG_STREAM_STDOUT, "first\n", 6, 0));
        read_until(p[0], &out, &size, "first\n");
        ASSERT_OK(container_log_close_final(TAKE_PTR(l)));
        read_until(p[0], &out, &size, NULL);
        ASSERT_OK(-pthread_join(t, NULL));
        ASSERT_EQ(a.r, 0);
        close(p[0]);
        ASSERT_STREQ(out, "first\n");

        /* Already ended: the history, then return. */
        ASSERT_OK(pipe2(p, O_CLOEXEC));
        ASSERT_OK(container_log_stream(AT_FDCWD, dir, 0, UINT64_MAX, true, true, p[1], -1));
        close(p[1]);
        out = mfree(out);
        size = 0;
        read_until(p[0], &out, &size, NULL);
        close(p[0]);
        ASSERT_STREQ(out, "first\n");
}

TEST(follow_ends_when_the_reader_goes_away) {
        _cleanup_(container_log_freep) ContainerLog *l = NULL;
        const char *dir = tmp_path("epipe");
        _cleanup_free_ char *out = NULL;
        StreamArgs a = { .dir = dir, .tail = UINT64_MAX, .stop_fd = -1 };
        size_t size = 0;
        pthread_t t;
        int p[2];

        ASSERT_OK(container_log_open(AT_FDCWD, dir, NULL, &l));
        ASSERT_OK(container_log_write(l, LOG_STREAM_STDOUT, "one\n", 4, 0));
        ASSERT_OK(pipe2(p, O_CLOEXEC));
        a.out_fd = p[1];
        ASSERT_OK(-pthread_create(&t, NULL, stream_thread, &a));
        read_until(p[0], &out, &size, "one\n");
        close(p[0]);
        /* Whether the poll sees POLLERR first or the write gets EPIPE, the stream ends and the
         * process does not die of SIGPIPE. */
        ASSERT_OK(container_log_write(l, LOG_STREAM_STDOUT, "two\n", 4, 0));
        ASSERT_OK(-pthread_join(t, NULL));
        ASSERT_EQ(a.r, 0);
}

TEST(follow_ends_at_stop_fd) {
        _cleanup_(container_log_freep) ContainerLog *l = NULL;
        const char *dir = tmp_path("stop");
        _cleanup_free_ char *out = NULL;
        StreamArgs a = { .dir = dir, .tail = UINT64_MAX };
        size_t size = 0;
        pthread_t t;
        int p[2], s[2];

        ASSERT_OK(container_log_open(AT_FDCWD, dir, NULL, &l));
        ASSERT_OK(container_log_write(l, LOG_STREAM_STDOUT, "one\n", 4, 0));
        ASSERT_OK(pipe2(p, O_CLOEXEC));
        ASSERT_OK(pipe2(s, O_CLOEXEC));
        a.out_fd = p[1];
        a.stop_fd = s[0];
        ASSERT_OK(-pthread_create(&t, NULL, stream_thread, &a));
        read_until(p[0], &out, &size, "one\n");
        ASSERT_EQ(write(s[1], "x", 1), 1);
        read_until(p[0], &out, &size, NULL);
        ASSERT_OK(-pthread_join(t, NULL));
        ASSERT_EQ(a.r, 0);
        ASSERT_STREQ(out, "one\n");
        close(p[0]);
        close(s[0]);
        close(s[1]);
}

/* In the child: checks one native-protocol datagram holds these fields. */
static bool datagram_has(const char *d, size_t n, const char *field) {
        size_t len = strlen(field);

        for (const char *p = d; p < d + n;) {
                const char *nl = memchr(p, '\n', (size_t) (d + n - p));
                size_t l = nl ? (size_t) (nl - p) : (size_t) (d + n - p);

                if (l == len && memcmp(p, field, len) == 0)
                        return true;
                p += l + 1;
        }
        return false;
}

static int journal_child(const void *userdata) {
        const char *dir = userdata;
        const char *sock_path = "/run/systemd/journal/socket";
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        ContainerLogOptions o = {
                .journal = true,
                .container_id = "0123abcd",
                .container_name = "web-1",
        };
        ContainerLog *l = NULL;
        char d[4096];
        ssize_t n;
        int fd;

        if (unshare(CLONE_NEWNS) < 0)
                return 77;
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
            mount("tmpfs", "/run", "tmpfs", 0, "mode=0755") < 0)
                return 10;
        if (mkdir("/run/systemd", 0755) < 0 || mkdir("/run/systemd/journal", 0755) < 0)
                return 11;
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        strcpy(sa.sun_path, sock_path);
        if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof sa) < 0)
                return 12;

        if (container_log_open(AT_FDCWD, dir, &o, &l) < 0)
                return 13;
        if (container_log_write(l, LOG_STREAM_STDOUT, "hello journal\n", 14, 0) < 0 ||
            container_log_write(l, LOG_STREAM_STDERR, "it\r broke\n", 10, 0) < 0)
                return 14;
        container_log_free(l);

        n = recv(fd, d, sizeof d, MSG_DONTWAIT);
        if (n <= 0)
                return 15;
        if (!datagram_has(d, (size_t) n, "MESSAGE=hello journal") ||
            !datagram_has(d, (size_t) n, "PRIORITY=6") ||
            !datagram_has(d, (size_t) n, "CONTAINER_ID=0123abcd") ||
            !datagram_has(d, (size_t) n, "CONTAINER_NAME=web-1") ||
            !datagram_has(d, (size_t) n, "CONTAINER_STREAM=stdout") ||
            !datagram_has(d, (size_t) n, "SYSLOG_IDENTIFIER=web-1"))
                return 16;
        n = recv(fd, d, sizeof d, MSG_DONTWAIT);
        if (n <= 0)
                return 17;
        if (!datagram_has(d, (size_t) n, "MESSAGE=it\r broke") ||
            !datagram_has(d, (size_t) n, "PRIORITY=3") ||
            !datagram_has(d, (size_t) n, "CONTAINER_STREAM=stderr"))
                return 18;
        if (recv(fd, d, sizeof d, MSG_DONTWAIT) >= 0)
                return 19;
        return 0;
}

TEST(journal) {
        const char *dir = tmp_path("journal");
        Recs c;
        int r;

        /* A journal socket of our own, in a private mount namespace, so that the datagrams can
         * be checked. */
        r = run_in_child(journal_child, dir);
        if (r == 77) {
                ContainerLogOptions o = { .journal = true, .container_id = "x" };
                _cleanup_(container_log_freep) ContainerLog *l = NULL;

                if (access("/run/systemd/journal/socket", F_OK) < 0)
                        test_skip("no private mount namespace (not root?) and no journal socket");
                /* Only the real journal: it must accept the line and the file must too. */
                ASSERT_OK(container_log_open(AT_FDCWD, dir, &o, &l));
                ASSERT_OK(container_log_write(l, LOG_STREAM_STDOUT, "to the journal\n", 15, 0));
        } else
                ASSERT_EQ(r, 0);

        /* The file got the lines all the same. */
        read_all(dir, 0, UINT64_MAX, &c);
        ASSERT_GE(c.n, 1u);
        recs_done(&c);
}
