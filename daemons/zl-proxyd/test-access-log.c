/* SPDX-License-Identifier: Apache-2.0 */
/* test-access-log.c: rings, sampling, JSON lines, the request head, the appended file. */
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "access-log.h"
#include "fileio.h"
#include "tests.h"

static void entry_init(AccessLogEntry *e, const char *route, unsigned status) {
        *e = (AccessLogEntry){
                .realtime_usec = 1767322800123456ULL, /* 2026-01-02T03:00:00.123456Z */
                .duration_usec = 512,
                .bytes_in = 78,
                .bytes_out = 1024,
                .status = status,
        };
        access_log_copy(e->route, sizeof e->route, route, strlen(route));
        access_log_copy(e->client, sizeof e->client, "127.0.0.1", 9);
        access_log_copy(e->method, sizeof e->method, "GET", 3);
        access_log_copy(e->path, sizeof e->path, "/x", 2);
        access_log_copy(e->backend, sizeof e->backend, "10.0.0.2:80", 11);
        access_log_copy(e->traceparent, sizeof e->traceparent, NULL, 0);
}

static bool fd_readable(int fd) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        return poll(&p, 1, 0) == 1;
}

static void count_sink(const AccessLogEntry *e, void *userdata) {
        unsigned *n = userdata;

        ASSERT_EQ(e->status, 200 + *n);
        (*n)++;
}

TEST(ring_fills_drops_and_drains_in_order) {
        _cleanup_(access_log_freep) AccessLog *l = NULL;
        unsigned n = 0;

        ASSERT_ERROR(access_log_new(0, 8, &l), EINVAL);
        ASSERT_ERROR(access_log_new(1, 0, &l), EINVAL);
        ASSERT_OK(access_log_new(2, 5, &l)); /* rounded up to 8 */
        for (unsigned i = 0; i < 8; i++) {
                AccessLogEntry *e = access_log_reserve(l, 1);
                ASSERT_NOT_NULL(e);
                entry_init(e, "r", 200 + i);
                access_log_commit(l, 1);
                /* A quarter full (2 of 8) wakes the consumer. */
                ASSERT_EQ(fd_readable(access_log_get_fd(l)), i >= 1);
        }
        access_log_clear_wake(l);
        ASSERT_FALSE(fd_readable(access_log_get_fd(l)));
        ASSERT_NULL(access_log_reserve(l, 1));
        ASSERT_NULL(access_log_reserve(l, 1));
        ASSERT_U64_EQ(access_log_dropped(l), 2);
        ASSERT_NULL(access_log_reserve(l, 2)); /* no such ring */
        /* A reserved but uncommitted slot is not drained. */
        ASSERT_NOT_NULL(access_log_reserve(l, 0));
        ASSERT_EQ(access_log_drain(l, count_sink, &n), 8U);
        ASSERT_EQ(n, 8U);
        n = 0;
        ASSERT_EQ(access_log_drain(l, count_sink, &n), 0U);
        /* Room again after draining, and indexes wrap around the ring. */
        for (unsigned round = 0; round < 5; round++) {
                n = 0;
                for (unsigned i = 0; i < 6; i++) {
                        entry_init(access_log_reserve(l, 1), "r", 200 + i);
                        access_log_commit(l, 1);
                }
                ASSERT_EQ(access_log_drain(l, count_sink, &n), 6U);
        }
}

TEST(sampling) {
        _cleanup_(access_log_freep) AccessLog *l = NULL;
        unsigned hits = 0;
        uint64_t x = 88172645463325252ULL;

        ASSERT_OK(access_log_new(1, 4, &l));
        ASSERT_DOUBLE_EQ(access_log_get_sampling(l), 1.0);
        ASSERT_TRUE(access_log_sample(l, UINT64_MAX));
        access_log_set_sampling(l, 0);
        ASSERT_FALSE(access_log_sample(l, 0));
        access_log_set_sampling(l, -3);
        ASSERT_FALSE(access_log_sample(l, 0));
        access_log_set_sampling(l, 7);
        ASSERT_TRUE(access_log_sample(l, UINT64_MAX));
        access_log_set_sampling(l, 0.25);
        ASSERT_DOUBLE_EQ(access_log_get_sampling(l), 0.25);
        for (unsigned i = 0; i < 100000; i++) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                hits += access_log_sample(l, x);
        }
        ASSERT_GT(hits, 24000U);
        ASSERT_LT(hits, 26000U);
}

TEST(format_is_one_json_object_per_line) {
        AccessLogEntry e;
        char buf[ACCESS_LOG_LINE_MAX];
        json_error_t err;
        json_t *j;
        int n;

        entry_init(&e, "web", 200);
        n = access_log_format(&e, buf, sizeof buf);
        ASSERT_GT(n, 0);
        ASSERT_EQ(buf[n - 1], '\n');
        ASSERT_EQ((size_t) n, strlen(buf));
        ASSERT_STREQ(buf, "{\"time\":\"2026-01-02T03:00:00.123456Z\",\"route\":\"web\","
                          "\"client\":\"127.0.0.1\",\"method\":\"GET\",\"path\":\"/x\","
                          "\"status\":200,\"bytes_in\":78,\"bytes_out\":1024,\"duration_us\":512,"
                          "\"backend\":\"10.0.0.2:80\",\"traceparent\":\"-\"}\n");

        /* Quotes, backslashes, control characters and non-ASCII bytes stay valid JSON. */
        access_log_copy(e.path, sizeof e.path, "/a\"b\\c\x01\xc3\xa9", 9);
        n = access_log_format(&e, buf, sizeof buf);
        ASSERT_GT(n, 0);
        j = json_loads(buf, 0, &err);
        ASSERT_NOT_NULL(j);
        ASSERT_STREQ(json_string_value(json_object_get(j, "path")), "/a\"b\\c\x01\xc3\x83\xc2\xa9");
        ASSERT_EQ(json_integer_value(json_object_get(j, "status")), 200);
        json_decref(j);

        ASSERT_ERROR(access_log_format(&e, buf, 40), ENOBUFS);
        ASSERT_ERROR(access_log_format(&e, buf, 0), ENOBUFS);

        /* The longest fields still fit a line. */
        memset(e.path, 0x01, sizeof e.path - 1);
        memset(e.route, 'r', sizeof e.route - 1);
        ASSERT_GT(access_log_format(&e, buf, sizeof buf), 0);
}

TEST(copy_cuts_and_marks_unknown) {
        char s[4];

        access_log_copy(s, sizeof s, "abcdef", 6);
        ASSERT_STREQ(s, "abc");
        access_log_copy(s, sizeof s, NULL, 3);
        ASSERT_STREQ(s, "-");
        access_log_copy(s, sizeof s, "x", 0);
        ASSERT_STREQ(s, "-");
}

TEST(entry_from_head) {
        static const char head[] = "POST /api/v1?q=1 HTTP/1.1\r\nHost: a\r\n"
                                   "TraceParent: 00-0af7651916cd43dd8448eb211c80319c-"
                                   "b7ad6b7169203331-01\r\nConnection: keep-alive\r\n\r\n"
                                   "traceparent: body";
        AccessLogEntry e;

        entry_init(&e, "r", 200);
        ASSERT_TRUE(access_log_entry_from_head(&e, "POST", head, strlen(head)));
        ASSERT_STREQ(e.path, "/api/v1?q=1");
        ASSERT_STREQ(e.traceparent, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");

        /* Another method, a body, a cut line: nothing is taken. */
        entry_init(&e, "r", 200);
        ASSERT_FALSE(access_log_entry_from_head(&e, "GET", head, strlen(head)));
        ASSERT_FALSE(access_log_entry_from_head(&e, "POST", "POST /x HTTP/1.1", 16));
        ASSERT_FALSE(access_log_entry_from_head(&e, "POST", "POSTED", 6));
        ASSERT_FALSE(access_log_entry_from_head(&e, "POST", "{\"a\": 1}\r\n", 10));
        ASSERT_STREQ(e.path, "/x");

        /* No traceparent in the head: the one in the body is not taken. */
        entry_init(&e, "r", 200);
        ASSERT_TRUE(access_log_entry_from_head(&e, "GET",
                                               "GET / HTTP/1.1\r\n\r\ntraceparent: x\r\n", 35));
        ASSERT_STREQ(e.path, "/");
        ASSERT_STREQ(e.traceparent, "-");
        ASSERT_TRUE(access_log_entry_from_head(&e, "GET", "GET /y HTTP/1.1\r\n", 17));
        ASSERT_STREQ(e.path, "/y");
}

typedef struct Producer {
        AccessLog *log;
        unsigned ring;
        unsigned n;
} Producer;

static void *produce(void *arg) {
        Producer *p = arg;

        for (unsigned i = 0; i < p->n;) {
                AccessLogEntry *e = access_log_reserve(p->log, p->ring);
                if (!e) {
                        usleep(50);
                        continue;
                }
                e->status = i++;
                e->bytes_in = p->ring;
                access_log_commit(p->log, p->ring);
        }
        return NULL;
}

typedef struct Seen {
        unsigned next[2];
        unsigned bad;
} Seen;

static void check_sink(const AccessLogEntry *e, void *userdata) {
        Seen *s = userdata;

        /* Each ring delivers its entries whole and in order. */
        if (e->bytes_in > 1 || e->status != s->next[e->bytes_in])
                s->bad++;
        else
                s->next[e->bytes_in]++;
}

TEST(producers_and_consumer_threads) {
        _cleanup_(access_log_freep) AccessLog *l = NULL;
        Producer p[2];
        pthread_t t[2];
        Seen seen = {};
        uint64_t dropped;

        ASSERT_OK(access_log_new(2, 64, &l));
        for (unsigned i = 0; i < 2; i++) {
                p[i] = (Producer){ .log = l, .ring = i, .n = 20000 };
                ASSERT_EQ(pthread_create(&t[i], NULL, produce, &p[i]), 0);
        }
        while (seen.next[0] + seen.next[1] + seen.bad < 40000)
                (void) access_log_drain(l, check_sink, &seen);
        for (unsigned i = 0; i < 2; i++)
                ASSERT_EQ(pthread_join(t[i], NULL), 0);
        ASSERT_EQ(seen.bad, 0U);
        ASSERT_EQ(seen.next[0], 20000U);
        ASSERT_EQ(seen.next[1], 20000U);
        dropped = access_log_dropped(l);
        ASSERT_GE(dropped, 0U); /* retried by the producers above, counted all the same */
}

TEST(file_appends_and_reopens) {
        _cleanup_(access_log_freep) AccessLog *l = NULL;
        _cleanup_(access_log_file_freep) AccessLogFile *f = NULL;
        _cleanup_free_ char *data = NULL;
        char dir[] = "/tmp/test-access-log.XXXXXX", path[64], moved[64];
        size_t size;

        ASSERT_NOT_NULL(mkdtemp(dir));
        snprintf(path, sizeof path, "%s/access.log", dir);
        snprintf(moved, sizeof moved, "%s/access.log.1", dir);

        ASSERT_ERROR(access_log_file_open("relative.log", &f), EINVAL);
        ASSERT_ERROR(access_log_file_open("/nonexistent-dir/a.log", &f), ENOENT);
        ASSERT_OK(access_log_new(1, 1024, &l));
        ASSERT_OK(access_log_file_open(path, &f));
        ASSERT_STREQ(access_log_file_path(f), path);
        ASSERT_EQ(access_log_file_drain(f, l), 0);

        for (unsigned i = 0; i < 1000; i++) {
                entry_init(access_log_reserve(l, 0), "web", 200 + i % 300);
                access_log_commit(l, 0);
        }
        ASSERT_EQ(access_log_file_drain(f, l), 1000);
        ASSERT_OK(read_full_file(path, SIZE_MAX, &data, &size));
        {
                unsigned lines = 0;
                for (char *p = data; (p = strchr(p, '\n')); p++)
                        lines++;
                ASSERT_EQ(lines, 1000U);
        }
        data = mfree(data);

        /* logrotate moves the file; the next drain after a reopen starts a new one. */
        ASSERT_OK(rename(path, moved));
        ASSERT_OK(access_log_file_reopen(f));
        entry_init(access_log_reserve(l, 0), "after", 204);
        access_log_commit(l, 0);
        ASSERT_EQ(access_log_file_drain(f, l), 1);
        ASSERT_OK(read_full_file(path, SIZE_MAX, &data, &size));
        ASSERT_TRUE(strstr(data, "\"route\":\"after\"") != NULL);
        ASSERT_EQ(strchr(data, '\n') - data + 1, (long) size);

        /* A failed reopen keeps the old file. */
        ASSERT_OK(unlink(path));
        ASSERT_OK(unlink(moved));
        ASSERT_OK(rmdir(dir));
        ASSERT_ERROR(access_log_file_reopen(f), ENOENT);
}
