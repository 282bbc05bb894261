/* SPDX-License-Identifier: Apache-2.0 */
/* test-http1.c: the HTTP/1 reader: heads, bodies, pipelining, limits and every malformed case. */
#include "http1.h"
#include "tests.h"

static const Http1Limits limits = {
        .max_header_size = 1024,
        .max_headers = 8,
        .max_body_size = 100,
};

/* Feeds the whole message at once; returns the first non-NEED_MORE result or error. */
static int feed_all(Http1Parser *p, const char *s, size_t *consumed) {
        size_t total = 0, n = 0;
        int r = HTTP1_NEED_MORE;

        while (total < strlen(s)) {
                r = http1_parser_feed(p, s + total, strlen(s) - total, &n);
                if (r < 0)
                        return r;
                total += n;
                if (r == HTTP1_DONE)
                        break;
        }
        *consumed = total;
        return r;
}

static int parse_request(const char *s) {
        Http1Parser p;
        size_t n;

        http1_parser_init(&p, false, &limits);
        return feed_all(&p, s, &n);
}

static bool slice_is(Http1Slice s, const char *want) {
        return s.len == strlen(want) && memcmp(s.base, want, s.len) == 0;
}

TEST(simple_get) {
        static const char req[] = "GET /a/b?c=d HTTP/1.1\r\nHost: example.com\r\n"
                                  "X-Empty:\r\nUser-Agent: t\r\n\r\n";
        Http1Parser p;
        size_t n;

        http1_parser_init(&p, false, &limits);
        ASSERT_EQ(http1_parser_feed(&p, req, strlen(req), &n), HTTP1_HEAD);
        ASSERT_EQ(n, strlen(req));
        ASSERT_EQ(p.state, HTTP1_STATE_DONE);
        ASSERT_EQ(p.method, HTTP_GET);
        ASSERT_EQ(p.http_minor, 1U);
        ASSERT_TRUE(p.keep_alive);
        ASSERT_FALSE(p.upgrade);
        ASSERT_TRUE(slice_is(p.url, "/a/b?c=d"));
        ASSERT_EQ(p.n_headers, 3U);
        ASSERT_TRUE(slice_is(http1_find_header(&p, "HOST")->value, "example.com"));
        ASSERT_TRUE(slice_is(http1_find_header(&p, "x-empty")->value, ""));
        ASSERT_TRUE(slice_is(http1_find_header(&p, "user-agent")->value, "t"));
        ASSERT_NULL(http1_find_header(&p, "cookie"));
        ASSERT_EQ(http1_parser_feed(&p, "x", 1, &n), HTTP1_DONE);
        ASSERT_EQ(n, 0U);
}

TEST(byte_by_byte) {
        static const char req[] = "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
                                  "Connection: close\r\n\r\nhello";
        Http1Parser p;
        size_t n, i = 0;
        int r;

        http1_parser_init(&p, false, &limits);
        for (;;) {
                r = http1_parser_feed(&p, req + i, 1, &n);
                ASSERT_OK(r);
                i += n;
                if (r == HTTP1_HEAD)
                        break;
                ASSERT_EQ(r, HTTP1_NEED_MORE);
        }
        ASSERT_EQ(i, strlen(req) - 5);
        ASSERT_TRUE(slice_is(p.url, "/up"));
        ASSERT_TRUE(slice_is(http1_find_header(&p, "connection")->value, "close"));
        ASSERT_TRUE(slice_is(http1_find_header(&p, "content-length")->value, "5"));
        ASSERT_FALSE(p.keep_alive);
        ASSERT_TRUE(p.has_content_length);
        ASSERT_EQ(p.content_length, 5U);
        for (; i < strlen(req) - 1; i++) {
                ASSERT_EQ(http1_parser_feed(&p, req + i, 1, &n), HTTP1_NEED_MORE);
                ASSERT_EQ(n, 1U);
        }
        ASSERT_EQ(http1_parser_feed(&p, req + i, 1, &n), HTTP1_DONE);
        ASSERT_EQ(p.body_size, 5U);
}

TEST(pipelining) {
        static const char reqs[] = "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"
                                   "POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
                                   "GET /3 HTTP/1.1\r\nHost: h\r\n\r\n";
        const char *at = reqs, *end = reqs + strlen(reqs);
        const char *want[] = { "/1", "/2", "/3" };
        Http1Parser p;
        size_t n;

        for (size_t i = 0; i < 3; i++) {
                http1_parser_init(&p, false, &limits);
                ASSERT_EQ(http1_parser_feed(&p, at, end - at, &n), HTTP1_HEAD);
                ASSERT_TRUE(slice_is(p.url, want[i]));
                at += n;
                if (p.state != HTTP1_STATE_DONE) {
                        ASSERT_EQ(http1_parser_feed(&p, at, end - at, &n), HTTP1_DONE);
                        ASSERT_EQ(n, 3U);
                        ASSERT_TRUE(memcmp(at, "abc", 3) == 0);
                        at += n;
                }
        }
        ASSERT_TRUE(at == end);
}

TEST(chunked_request_raw) {
        static const char req[] = "PUT /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                                  "5\r\nhello\r\n1;ext=1\r\n!\r\n0\r\nTrailer: t\r\n\r\nGET";
        Http1Parser p;
        size_t n, body;

        http1_parser_init(&p, false, &limits);
        ASSERT_EQ(http1_parser_feed(&p, req, strlen(req), &n), HTTP1_HEAD);
        ASSERT_TRUE(p.chunked);
        ASSERT_FALSE(p.has_content_length);
        ASSERT_EQ(http1_parser_feed(&p, req + n, strlen(req) - n, &body), HTTP1_DONE);
        /* The raw body is consumed with its framing; the next request is left alone. */
        ASSERT_EQ(n + body, strlen(req) - 3);
        ASSERT_EQ(p.body_size, 6U);
}

TEST(expect_and_upgrade) {
        static const char expect[] = "POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\n"
                                     "Content-Length: 2\r\n\r\n";
        static const char ws[] = "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
                                 "Connection: Upgrade\r\n\r\n\x81\x05hello";
        Http1Parser p;
        size_t n;

        http1_parser_init(&p, false, &limits);
        ASSERT_EQ(http1_parser_feed(&p, expect, strlen(expect), &n), HTTP1_HEAD);
        ASSERT_TRUE(p.expect_continue);
        ASSERT_FALSE(p.expect_other);

        http1_parser_init(&p, false, &limits);
        ASSERT_EQ(feed_all(&p, "GET / HTTP/1.1\r\nHost: h\r\nExpect: magic\r\n\r\n", &n),
                  HTTP1_HEAD);
        ASSERT_TRUE(p.expect_other);

        http1_parser_init(&p, false, &limits);
        ASSERT_EQ(http1_parser_feed(&p, ws, strlen(ws), &n), HTTP1_HEAD);
        ASSERT_TRUE(p.upgrade);
        ASSERT_EQ(p.state, HTTP1_STATE_DONE);
        /* What follows the head is not HTTP and stays for the relay. */
        ASSERT_EQ(n, strlen(ws) - 7);
        ASSERT_TRUE(http1_slice_has_token(http1_find_header(&p, "connection")->value, "upgrade"));
}

TEST(http10) {
        Http1Parser p;
        size_t n;

        http1_parser_init(&p, false, &limits);
        ASSERT_EQ(feed_all(&p, "GET / HTTP/1.0\r\n\r\n", &n), HTTP1_HEAD);
        ASSERT_FALSE(p.keep_alive);
        http1_parser_init(&p, false, &limits);
        ASSERT_EQ(feed_all(&p, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &n), HTTP1_HEAD);
        ASSERT_TRUE(p.keep_alive);
}

TEST(tokens) {
        ASSERT_TRUE(http1_slice_has_token(HTTP1_SLICE("keep-alive, Upgrade"), "upgrade"));
        ASSERT_TRUE(http1_slice_has_token(HTTP1_SLICE(" close "), "close"));
        ASSERT_FALSE(http1_slice_has_token(HTTP1_SLICE("closed"), "close"));
        ASSERT_FALSE(http1_slice_has_token(HTTP1_SLICE(""), "close"));
}

TEST(malformed_requests) {
        /* Bad request lines. */
        ASSERT_ERROR(parse_request("GARBAGE\r\n\r\n"), EBADMSG);
        ASSERT_ERROR(parse_request("GET\r\n\r\n"), EBADMSG);
        ASSERT_ERROR(parse_request("GET / HTTP/1.1 extra\r\nHost: h\r\n\r\n"), EBADMSG);
        ASSERT_ERROR(parse_request("GET / FTP/1.1\r\nHost: h\r\n\r\n"), EBADMSG);
        ASSERT_ERROR(parse_request("GET /a b HTTP/1.1\r\nHost: h\r\n\r\n"), EBADMSG);
        ASSERT_ERROR(parse_request("GET / HTTP/2.0\r\nHost: h\r\n\r\n"), EBADMSG);
        ASSERT_ERROR(parse_request("\x01GET / HTTP/1.1\r\n\r\n"), EBADMSG);
        /* Bad headers. */
        ASSERT_ERROR(parse_request("GET / HTTP/1.1\r\nHost h\r\n\r\n"), EBADMSG);
        ASSERT_ERROR(parse_request("GET / HTTP/1.1\r\nHo st: h\r\n\r\n"), EBADMSG);
        ASSERT_ERROR(parse_request("GET / HTTP/1.1\r\nHost: h\r\nX: a\x01b\r\n\r\n"), EBADMSG);
        ASSERT_ERROR(parse_request("GET / HTTP/1.1\r\n\r\n"), EBADMSG); /* no Host */
        ASSERT_ERROR(parse_request("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), EBADMSG);
        /* Conflicting or doubled framing. */
        ASSERT_ERROR(parse_request("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
                                   "Transfer-Encoding: chunked\r\n\r\nabc"),
                     EBADMSG);
        ASSERT_ERROR(parse_request("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                                   "Content-Length: 3\r\n\r\nabc"),
                     EBADMSG);
        ASSERT_ERROR(parse_request("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
                                   "Content-Length: 4\r\n\r\nabcd"),
                     EBADMSG);
        ASSERT_ERROR(parse_request("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
                                   "Content-Length: 3\r\n\r\nabc"),
                     EBADMSG);
        ASSERT_ERROR(parse_request("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n"),
                     EBADMSG);
        ASSERT_ERROR(parse_request("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1x\r\n\r\n"),
                     EBADMSG);
        ASSERT_ERROR(parse_request("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n"
                                   "\r\n"),
                     EBADMSG);
        ASSERT_ERROR(parse_request("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                                   "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
                     EBADMSG);
        /* Invalid chunk sizes. */
        ASSERT_ERROR(parse_request("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                                   "\r\nzz\r\nabc\r\n0\r\n\r\n"),
                     EBADMSG);
        ASSERT_ERROR(parse_request("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                                   "\r\n-1\r\n"),
                     EBADMSG);
        ASSERT_ERROR(parse_request("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                                   "\r\nffffffffffffffffff\r\n"),
                     EBADMSG);
        ASSERT_ERROR(parse_request("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                                   "\r\n3\r\nabcd\r\n0\r\n\r\n"),
                     EBADMSG);
        /* A failed parser stays failed. */
        {
                Http1Parser p;
                size_t n;
                http1_parser_init(&p, false, &limits);
                ASSERT_ERROR(http1_parser_feed(&p, "BAD\r\n", 5, &n), EBADMSG);
                ASSERT_ERROR(http1_parser_feed(&p, "GET / HTTP/1.1\r\n", 16, &n), EBADMSG);
        }
}

TEST(limits) {
        char big[2048];
        Http1Parser p;
        size_t n;
        int r;

        /* Oversize head, in one piece and trickled. */
        snprintf(big, sizeof big, "GET / HTTP/1.1\r\nHost: h\r\nX-Big: %01500d\r\n\r\n", 0);
        ASSERT_ERROR(parse_request(big), E2BIG);
        http1_parser_init(&p, false, &limits);
        r = 0;
        for (size_t i = 0; i < strlen(big) && r >= 0; i += 100)
                r = http1_parser_feed(&p, big + i, MIN((size_t) 100, strlen(big) - i), &n);
        ASSERT_ERROR(r, E2BIG);
        /* Too many headers. */
        ASSERT_ERROR(parse_request("GET / HTTP/1.1\r\nHost: h\r\na: 1\r\nb: 1\r\nc: 1\r\nd: 1\r\n"
                                   "e: 1\r\nf: 1\r\ng: 1\r\nh: 1\r\n\r\n"),
                     E2BIG);
        ASSERT_EQ(parse_request("GET / HTTP/1.1\r\nHost: h\r\na: 1\r\nb: 1\r\nc: 1\r\nd: 1\r\n"
                                "e: 1\r\nf: 1\r\ng: 1\r\n\r\n"),
                  HTTP1_HEAD);
        /* Bodies over the limit, announced and chunked. */
        ASSERT_ERROR(parse_request("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 101\r\n\r\n"),
                     EFBIG);
        http1_parser_init(&p, false, &limits);
        ASSERT_EQ(feed_all(&p, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
                           &n),
                  HTTP1_HEAD);
        ASSERT_EQ(feed_all(&p, "64\r\n", &n), HTTP1_NEED_MORE);
        snprintf(big, sizeof big, "%0100d\r\n1\r\nx\r\n", 0);
        ASSERT_ERROR(feed_all(&p, big, &n), EFBIG);
}

static int parse_response(Http1Parser *p, const char *s, bool head_request) {
        size_t n, total = 0;
        int r;

        http1_parser_init(p, true, &limits);
        p->no_body = head_request;
        r = http1_parser_feed(p, s, strlen(s), &n);
        if (r != HTTP1_HEAD)
                return r < 0 ? r : -EIO;
        total = n;
        if (p->state == HTTP1_STATE_DONE)
                return (int) total;
        r = http1_parser_feed(p, s + total, strlen(s) - total, &n);
        if (r < 0)
                return r;
        total += n;
        if (r == HTTP1_NEED_MORE) {
                r = http1_parser_eof(p);
                if (r < 0)
                        return r;
        }
        return (int) total;
}

TEST(responses) {
        static const char sized[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP";
        static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n";
        static const char eof[] = "HTTP/1.0 200 OK\r\n\r\nuntil the end";
        static const char chunked[] = "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n"
                                      "2\r\nno\r\n0\r\n\r\n";
        static const char no_content[] = "HTTP/1.1 204 No Content\r\n\r\n";
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n";
        static const char switching[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                        "Connection: Upgrade\r\n\r\n\x81";
        Http1Parser p;

        ASSERT_EQ(parse_response(&p, sized, false), (int) strlen(sized) - 4);
        ASSERT_EQ(p.status, 200U);
        ASSERT_TRUE(p.keep_alive);
        ASSERT_EQ(parse_response(&p, head, true), (int) strlen(head));
        ASSERT_EQ(parse_response(&p, eof, false), (int) strlen(eof));
        ASSERT_TRUE(p.body_until_eof);
        ASSERT_FALSE(p.keep_alive);
        ASSERT_EQ(parse_response(&p, chunked, false), (int) strlen(chunked));
        ASSERT_EQ(p.status, 404U);
        ASSERT_EQ(parse_response(&p, no_content, false), (int) strlen(no_content));
        ASSERT_EQ(parse_response(&p, cont, false), 25);
        ASSERT_EQ(p.status, 100U);
        ASSERT_EQ(parse_response(&p, switching, false), (int) strlen(switching) - 1);
        ASSERT_EQ(p.status, 101U);
        ASSERT_TRUE(p.upgrade);

        /* Cut short: in the head, in a sized body, in a chunked body. */
        http1_parser_init(&p, true, &limits);
        ASSERT_ERROR(http1_parser_eof(&p), EBADMSG);
        ASSERT_ERROR(parse_response(&p, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", false),
                     EBADMSG);
        ASSERT_ERROR(parse_response(&p,
                                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n",
                                    false),
                     EBADMSG);
        ASSERT_ERROR(parse_response(&p, "HTTP/1.1 2000 OK\r\n\r\n", false), EBADMSG);
        ASSERT_ERROR(parse_response(&p,
                                    "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
                                    "Transfer-Encoding: chunked\r\n\r\n",
                                    false),
                     EBADMSG);
}
