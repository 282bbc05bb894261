/* SPDX-License-Identifier: Apache-2.0 */
/* test-proxy-h2.c: HTTP/2 streams to HTTP/1.1 and back, flow control, errors, with nghttp2. */
#include <nghttp2/nghttp2.h>
#include <stdio.h>

#include "proxy-h2.h"
#include "tests.h"

/* ---- the worker's side: requests with an input and an output buffer ---- */

typedef struct FakeRequest {
        ProxyBuf *in, *out;
        ProxyH2Stream *stream;
        bool freed;
} FakeRequest;

#define REQUESTS_MAX 256

typedef struct Fake {
        ProxyPool pool;
        FakeRequest requests[REQUESTS_MAX];
        size_t n_requests;
        unsigned kicks, request_kicks, freed;
        bool refuse;
} Fake;

static void *fake_new(void *userdata, ProxyH2Stream *stream) {
        Fake *f = userdata;
        FakeRequest *r;

        if (f->refuse || f->n_requests >= REQUESTS_MAX)
                return NULL;
        r = &f->requests[f->n_requests++];
        *r = (FakeRequest){ .stream = stream };
        return r;
}

static Fake *fake_of_pool;

static ProxyBuf *fake_input(void *request) {
        FakeRequest *r = request;
        if (!r->in)
                r->in = proxy_pool_get(&fake_of_pool->pool);
        return r->in;
}

static ProxyBuf *fake_output(void *request) {
        return ((FakeRequest *) request)->out;
}

static void fake_request_kick(void *request) {
        fake_of_pool->request_kicks++;
}

static void fake_free(void *request) {
        FakeRequest *r = request;

        ASSERT_FALSE(r->freed);
        r->freed = true;
        r->stream = NULL;
        r->in = proxy_pool_put(&fake_of_pool->pool, r->in);
        r->out = proxy_pool_put(&fake_of_pool->pool, r->out);
        fake_of_pool->freed++;
}

static void fake_kick(void *userdata) {
        ((Fake *) userdata)->kicks++;
}

static const ProxyH2Callbacks fake_callbacks = {
        .request_new = fake_new,
        .request_input = fake_input,
        .request_output = fake_output,
        .request_kick = fake_request_kick,
        .request_free = fake_free,
        .kick = fake_kick,
};

/* ---- the client: nghttp2, recording what comes back ---- */

typedef struct Response {
        int32_t id;
        char status[8];
        char headers[2048]; /* "name=value\n"... */
        char body[300000];
        size_t body_len;
        bool closed;
        uint32_t error;
} Response;

typedef struct Client {
        nghttp2_session *session;
        Response responses[8];
        size_t n_responses;
        bool goaway;
        uint32_t goaway_error;
        /* A request body to send. */
        const char *upload;
        size_t upload_len, upload_pos;
} Client;

static Response *response_of(Client *c, int32_t id) {
        for (size_t i = 0; i < c->n_responses; i++)
                if (c->responses[i].id == id)
                        return &c->responses[i];
        ASSERT_LT(c->n_responses, ELEMENTSOF(c->responses));
        c->responses[c->n_responses] = (Response){ .id = id };
        return &c->responses[c->n_responses++];
}

static int c_on_header(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name,
                       size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                       void *userdata) {
        Response *r = response_of(userdata, frame->hd.stream_id);
        size_t n = strlen(r->headers);

        if (namelen == 7 && memcmp(name, ":status", 7) == 0)
                snprintf(r->status, sizeof r->status, "%.*s", (int) valuelen, value);
        else
                snprintf(r->headers + n, sizeof r->headers - n, "%.*s=%.*s\n", (int) namelen, name,
                         (int) valuelen, value);
        return 0;
}

static int c_on_data(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
                     void *userdata) {
        Response *r = response_of(userdata, id);

        ASSERT_LE(r->body_len + len, sizeof r->body);
        memcpy(r->body + r->body_len, data, len);
        r->body_len += len;
        return 0;
}

static int c_on_close(nghttp2_session *s, int32_t id, uint32_t error, void *userdata) {
        Response *r = response_of(userdata, id);

        r->closed = true;
        r->error = error;
        return 0;
}

static int c_on_frame(nghttp2_session *s, const nghttp2_frame *frame, void *userdata) {
        Client *c = userdata;

        if (frame->hd.type == NGHTTP2_GOAWAY) {
                c->goaway = true;
                c->goaway_error = frame->goaway.error_code;
        }
        return 0;
}

static ssize_t c_upload(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length,
                        uint32_t *flags, nghttp2_data_source *source, void *userdata) {
        Client *c = userdata;
        size_t n = MIN(length, c->upload_len - c->upload_pos);

        memcpy(buf, c->upload + c->upload_pos, n);
        c->upload_pos += n;
        if (c->upload_pos == c->upload_len)
                *flags |= NGHTTP2_DATA_FLAG_EOF;
        return (ssize_t) n;
}

static void client_init(Client *c) {
        nghttp2_session_callbacks *cb;

        memset(c, 0, sizeof *c);
        ASSERT_EQ(nghttp2_session_callbacks_new(&cb), 0);
        nghttp2_session_callbacks_set_on_header_callback(cb, c_on_header);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, c_on_data);
        nghttp2_session_callbacks_set_on_stream_close_callback(cb, c_on_close);
        nghttp2_session_callbacks_set_on_frame_recv_callback(cb, c_on_frame);
        ASSERT_EQ(nghttp2_session_client_new(&c->session, cb, c), 0);
        nghttp2_session_callbacks_del(cb);
        ASSERT_EQ(nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, NULL, 0), 0);
}

static int32_t client_request(Client *c, const char *method, const char *path,
                              const nghttp2_nv *extra, size_t n_extra, bool body) {
        nghttp2_nv nv[16] = {
                { (uint8_t *) ":method", (uint8_t *) method, 7, strlen(method), 0 },
                { (uint8_t *) ":scheme", (uint8_t *) "https", 7, 5, 0 },
                { (uint8_t *) ":authority", (uint8_t *) "ex.test", 10, 7, 0 },
                { (uint8_t *) ":path", (uint8_t *) path, 5, strlen(path), 0 },
        };
        nghttp2_data_provider up = { .read_callback = c_upload };
        int32_t id;

        ASSERT_LE(n_extra, 12);
        if (n_extra > 0)
                memcpy(nv + 4, extra, n_extra * sizeof(nghttp2_nv));
        id = nghttp2_submit_request(c->session, NULL, nv, 4 + n_extra, body ? &up : NULL, NULL);
        ASSERT_GT(id, 0);
        return id;
}

#define NV(n, v)                                                                                   \
        { (uint8_t *) (n), (uint8_t *) (v), sizeof(n) - 1, sizeof(v) - 1, 0 }

/* Moves bytes both ways until neither side has anything to say. */
static void pump(Client *c, ProxyH2 *h, ProxyBuf *wire) {
        for (int round = 0; round < 1000; round++) {
                const uint8_t *data;
                ssize_t n;
                bool moved = false;

                while ((n = nghttp2_session_mem_send(c->session, &data)) > 0) {
                        ssize_t k = proxy_h2_recv(h, data, (size_t) n);
                        if (k < 0)
                                return;
                        ASSERT_EQ(k, n);
                        moved = true;
                }
                ASSERT_OK(n);
                wire->start = wire->end = 0;
                ASSERT_OK(proxy_h2_send(h, wire));
                if (proxy_buf_len(wire) > 0) {
                        ASSERT_EQ(nghttp2_session_mem_recv(c->session, (const uint8_t *) wire->data,
                                                           proxy_buf_len(wire)),
                                  (ssize_t) proxy_buf_len(wire));
                        moved = true;
                }
                if (!moved)
                        return;
        }
        ASSERT_TRUE(false);
}

typedef struct Setup {
        Fake fake;
        Client client;
        ProxyH2 *h2;
        ProxyBuf *wire;
} Setup;

static void setup(Setup *s, size_t max_header) {
        ProxyH2Limits limits = { .max_concurrent_streams = 100,
                                 .max_header_list_size = max_header };

        memset(&s->fake, 0, sizeof s->fake);
        proxy_pool_init(&s->fake.pool, 65536, 16);
        fake_of_pool = &s->fake;
        ASSERT_OK(proxy_h2_new(&fake_callbacks, &s->fake, &limits, &s->h2));
        client_init(&s->client);
        s->wire = proxy_pool_get(&s->fake.pool);
}

static void teardown(Setup *s) {
        proxy_h2_free(s->h2);
        nghttp2_session_del(s->client.session);
        proxy_pool_put(&s->fake.pool, s->wire);
        proxy_pool_done(&s->fake.pool);
}

/* The request writes HTTP/1.1 response bytes. */
static void respond(Setup *s, FakeRequest *r, const char *bytes, size_t n, bool ended) {
        if (!r->out)
                r->out = proxy_pool_get(&s->fake.pool);
        if (proxy_buf_space(r->out) < n)
                proxy_buf_compact(r->out);
        ASSERT_LE(n, proxy_buf_space(r->out));
        memcpy(r->out->data + r->out->end, bytes, n);
        r->out->end += n;
        ASSERT_EQ(proxy_h2_stream_update(r->stream, ended), n);
}

static char *input_text(FakeRequest *r) {
        static char buf[70000];

        ASSERT_NOT_NULL(r->in);
        snprintf(buf, sizeof buf, "%.*s", (int) proxy_buf_len(r->in), r->in->data + r->in->start);
        return buf;
}

TEST(get_translated_both_ways) {
        static Setup s; /* megabytes: not for the stack */
        nghttp2_nv extra[] = { NV("x-h", "v"), NV("cookie", "a=1"), NV("cookie", "b=2"),
                               NV("te", "trailers") };
        int32_t id;
        Response *res;
        static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: "
                                     "keep-alive\r\nX-Up: Yes\r\nVia: 1.1 zl-proxyd\r\n\r\nhello";

        setup(&s, 16384);
        id = client_request(&s.client, "GET", "/a?b=1", extra, ELEMENTSOF(extra), false);
        pump(&s.client, s.h2, s.wire);
        ASSERT_EQ(s.fake.n_requests, 1);
        ASSERT_EQ(proxy_h2_stream_id(s.fake.requests[0].stream), id);
        ASSERT_STREQ(input_text(&s.fake.requests[0]),
                     "GET /a?b=1 HTTP/1.1\r\nHost: ex.test\r\nx-h: v\r\nCookie: a=1; b=2\r\n\r\n");
        ASSERT_GT(s.fake.request_kicks, 0);
        /* The remote side sees our limits. */
        ASSERT_EQ(nghttp2_session_get_remote_settings(s.client.session,
                                                      NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS),
                  100);
        ASSERT_EQ(proxy_h2_n_streams(s.h2), 1);

        respond(&s, &s.fake.requests[0], answer, sizeof answer - 1, true);
        pump(&s.client, s.h2, s.wire);
        res = response_of(&s.client, id);
        ASSERT_STREQ(res->status, "200");
        ASSERT_STREQ(res->headers, "content-length=5\nx-up=Yes\nvia=1.1 zl-proxyd\n");
        ASSERT_EQ(res->body_len, 5);
        ASSERT_EQ(memcmp(res->body, "hello", 5), 0);
        ASSERT_TRUE(res->closed);
        ASSERT_EQ(res->error, 0);
        ASSERT_TRUE(s.fake.requests[0].freed);
        ASSERT_EQ(proxy_h2_n_streams(s.h2), 0);
        teardown(&s);
}

TEST(chunked_and_until_eof_responses) {
        static Setup s; /* megabytes: not for the stack */
        int32_t a, b, c;
        static const char chunked[] = "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
                                      "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
        static const char head[] = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\npart1-";

        setup(&s, 16384);
        a = client_request(&s.client, "GET", "/chunked", NULL, 0, false);
        b = client_request(&s.client, "GET", "/eof", NULL, 0, false);
        c = client_request(&s.client, "HEAD", "/head", NULL, 0, false);
        pump(&s.client, s.h2, s.wire);
        ASSERT_EQ(s.fake.n_requests, 3);

        /* The chunked answer arrives in two pieces, split inside a chunk. */
        respond(&s, &s.fake.requests[0], chunked, 60, false);
        respond(&s, &s.fake.requests[0], chunked + 60, sizeof chunked - 1 - 60, true);
        /* A 103 first, then a body up to the end of the backend connection. */
        respond(&s, &s.fake.requests[1], "HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n", 40,
                false);
        respond(&s, &s.fake.requests[1], head, sizeof head - 1, false);
        pump(&s.client, s.h2, s.wire);
        respond(&s, &s.fake.requests[1], "part2", 5, true);
        /* HEAD: the length is announced, no body follows. */
        respond(&s, &s.fake.requests[2], "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", 39, true);
        pump(&s.client, s.h2, s.wire);

        ASSERT_STREQ(response_of(&s.client, a)->status, "201");
        ASSERT_STREQ(response_of(&s.client, a)->headers, "");
        ASSERT_EQ(response_of(&s.client, a)->body_len, 11);
        ASSERT_EQ(memcmp(response_of(&s.client, a)->body, "hello world", 11), 0);
        ASSERT_STREQ(response_of(&s.client, b)->status, "200");
        ASSERT_EQ(response_of(&s.client, b)->body_len, 11);
        ASSERT_EQ(memcmp(response_of(&s.client, b)->body, "part1-part2", 11), 0);
        ASSERT_STREQ(response_of(&s.client, c)->headers, "content-length=10\n");
        ASSERT_EQ(response_of(&s.client, c)->body_len, 0);
        for (int32_t id = a; id <= c; id += 2) {
                ASSERT_TRUE(response_of(&s.client, id)->closed);
                ASSERT_EQ(response_of(&s.client, id)->error, 0);
        }
        ASSERT_EQ(s.fake.freed, 3);
        teardown(&s);
}

TEST(request_bodies_and_flow_control) {
        static Setup s; /* megabytes: not for the stack */
        static char big[200000];
        nghttp2_nv cl[] = { NV("content-length", "200000") };
        size_t got = 0, rounds = 0;
        FakeRequest *r;
        const char *t;
        int32_t id;

        for (size_t i = 0; i < sizeof big; i++)
                big[i] = (char) ('a' + i % 26);

        /* No content-length: chunked towards the request. */
        setup(&s, 16384);
        s.client.upload = "abc";
        s.client.upload_len = 3;
        client_request(&s.client, "POST", "/up", NULL, 0, true);
        pump(&s.client, s.h2, s.wire);
        t = input_text(&s.fake.requests[0]);
        ASSERT_STREQ(t, "POST /up HTTP/1.1\r\nHost: ex.test\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "3\r\nabc\r\n0\r\n\r\n");
        teardown(&s);

        /* 200 kB with a length, while the request takes 10 kB at a time: the stream's window
         * holds the client back, and every byte arrives once, in order. */
        setup(&s, 16384);
        s.client.upload = big;
        s.client.upload_len = sizeof big;
        id = client_request(&s.client, "PUT", "/big", cl, 1, true);
        pump(&s.client, s.h2, s.wire);
        r = &s.fake.requests[0];
        ASSERT_NOT_NULL(strstr(input_text(r), "content-length: 200000\r\n\r\n"));
        r->in->start += strstr(input_text(r), "\r\n\r\n") + 4 - input_text(r);
        while (got < sizeof big && rounds++ < 1000) {
                size_t n = MIN(proxy_buf_len(r->in), 10000U);

                /* Never more than the window and our buffer: 64 kB each. */
                ASSERT_LE(proxy_buf_len(r->in), 65536U);
                ASSERT_EQ(memcmp(r->in->data + r->in->start, big + got, n), 0);
                r->in->start += n;
                got += n;
                (void) proxy_h2_stream_update(r->stream, false);
                pump(&s.client, s.h2, s.wire);
        }
        ASSERT_EQ(got, sizeof big);
        ASSERT_EQ(s.client.upload_pos, sizeof big);
        ASSERT_FALSE(response_of(&s.client, id)->closed);
        teardown(&s);
}

TEST(large_response_follows_client_window) {
        static Setup s; /* megabytes: not for the stack */
        static char big[250000];
        char head[128];
        size_t sent = 0;
        FakeRequest *r;
        Response *res;
        int32_t id;

        for (size_t i = 0; i < sizeof big; i++)
                big[i] = (char) ('A' + i % 23);
        setup(&s, 16384);
        id = client_request(&s.client, "GET", "/big", NULL, 0, false);
        pump(&s.client, s.h2, s.wire);
        r = &s.fake.requests[0];
        snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", sizeof big);
        respond(&s, r, head, strlen(head), false);
        /* The request writes as its buffer has room; the client's window (64 kB, reopened
         * as it reads) paces the DATA frames. */
        for (int round = 0; round < 1000 && sent < sizeof big; round++) {
                size_t room = r->out->capacity - proxy_buf_len(r->out);
                size_t n = MIN(room, sizeof big - sent);
                respond(&s, r, big + sent, n, sent + n == sizeof big);
                sent += n;
                pump(&s.client, s.h2, s.wire);
        }
        res = response_of(&s.client, id);
        ASSERT_EQ(res->body_len, sizeof big);
        ASSERT_EQ(memcmp(res->body, big, sizeof big), 0);
        ASSERT_TRUE(res->closed);
        teardown(&s);
}

TEST(limits_refusals_and_resets) {
        static Setup s; /* megabytes: not for the stack */
        char value[3000];
        nghttp2_nv fat[] = { { (uint8_t *) "x-fat", (uint8_t *) value, 5, sizeof value, 0 } };
        nghttp2_nv proto[] = { NV(":protocol", "websocket") };
        int32_t a, b, c, d;

        memset(value, 'v', sizeof value);
        setup(&s, 2048);
        /* A head over the limit: 431, no request. */
        a = client_request(&s.client, "GET", "/fat", fat, 1, false);
        pump(&s.client, s.h2, s.wire);
        ASSERT_STREQ(response_of(&s.client, a)->status, "431");
        ASSERT_TRUE(response_of(&s.client, a)->closed);
        ASSERT_EQ(s.fake.n_requests, 0);

        /* The worker refuses a stream (out of connections): REFUSED_STREAM. */
        s.fake.refuse = true;
        b = client_request(&s.client, "GET", "/refused", NULL, 0, false);
        pump(&s.client, s.h2, s.wire);
        ASSERT_TRUE(response_of(&s.client, b)->closed);
        ASSERT_EQ(response_of(&s.client, b)->error, NGHTTP2_REFUSED_STREAM);
        s.fake.refuse = false;

        /* A request that fails after its head went out: the stream is reset. */
        c = client_request(&s.client, "GET", "/fails", NULL, 0, false);
        pump(&s.client, s.h2, s.wire);
        ASSERT_EQ(s.fake.n_requests, 1);
        respond(&s, &s.fake.requests[0], "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc", 43,
                false);
        pump(&s.client, s.h2, s.wire);
        ASSERT_STREQ(response_of(&s.client, c)->status, "200");
        ASSERT_EQ(response_of(&s.client, c)->body_len, 3);
        proxy_h2_stream_detach(s.fake.requests[0].stream);
        pump(&s.client, s.h2, s.wire);
        ASSERT_TRUE(response_of(&s.client, c)->closed);
        ASSERT_EQ(response_of(&s.client, c)->error, NGHTTP2_INTERNAL_ERROR);
        ASSERT_FALSE(s.fake.requests[0].freed); /* detached: the worker frees its own */
        fake_free(&s.fake.requests[0]);

        /* A response cut short (the request ended without a complete message). */
        d = client_request(&s.client, "GET", "/short", NULL, 0, false);
        pump(&s.client, s.h2, s.wire);
        respond(&s, &s.fake.requests[1], "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc", 43,
                true);
        pump(&s.client, s.h2, s.wire);
        ASSERT_EQ(response_of(&s.client, d)->error, NGHTTP2_INTERNAL_ERROR);
        ASSERT_TRUE(s.fake.requests[1].freed);

        /* Extended CONNECT is not ours; the client resets a stream; the connection goes on. */
        client_request(&s.client, "GET", "/ws", proto, 1, false);
        pump(&s.client, s.h2, s.wire);
        ASSERT_EQ(s.fake.n_requests, 2);
        a = client_request(&s.client, "GET", "/reset-by-client", NULL, 0, false);
        pump(&s.client, s.h2, s.wire);
        ASSERT_EQ(s.fake.n_requests, 3);
        ASSERT_EQ(nghttp2_submit_rst_stream(s.client.session, NGHTTP2_FLAG_NONE, a, NGHTTP2_CANCEL),
                  0);
        pump(&s.client, s.h2, s.wire);
        ASSERT_TRUE(s.fake.requests[2].freed);
        ASSERT_FALSE(s.client.goaway);

        /* Open streams go with the session. */
        client_request(&s.client, "GET", "/open", NULL, 0, false);
        pump(&s.client, s.h2, s.wire);
        ASSERT_EQ(s.fake.n_requests, 4);
        ASSERT_FALSE(s.fake.requests[3].freed);
        teardown(&s);
        ASSERT_TRUE(s.fake.requests[3].freed);
}

/* Frames written by hand. */
static size_t frame(uint8_t *buf, uint32_t len, uint8_t type, uint8_t flags, uint32_t stream) {
        buf[0] = (uint8_t) (len >> 16);
        buf[1] = (uint8_t) (len >> 8);
        buf[2] = (uint8_t) len;
        buf[3] = type;
        buf[4] = flags;
        buf[5] = (uint8_t) (stream >> 24);
        buf[6] = (uint8_t) (stream >> 16);
        buf[7] = (uint8_t) (stream >> 8);
        buf[8] = (uint8_t) stream;
        return 9;
}

/* The GOAWAY error code in what the server sent, or -1. */
static int64_t goaway_in(const ProxyBuf *b) {
        const uint8_t *p = (const uint8_t *) b->data + b->start, *end = p + proxy_buf_len(b);

        while (end - p >= 9) {
                uint32_t len = (uint32_t) p[0] << 16 | (uint32_t) p[1] << 8 | p[2];
                if (p[3] == NGHTTP2_GOAWAY && len >= 8)
                        return (int64_t) ((uint32_t) p[13] << 24 | (uint32_t) p[14] << 16 |
                                          (uint32_t) p[15] << 8 | p[16]);
                p += 9 + len;
        }
        return -1;
}

TEST(protocol_errors_goaway) {
        static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
        uint8_t buf[64];
        size_t n;
        static Setup s; /* megabytes: not for the stack */

        /* DATA on stream 0. */
        setup(&s, 16384);
        memcpy(buf, preface, 24);
        n = 24 + frame(buf + 24, 0, NGHTTP2_SETTINGS, 0, 0);
        n += frame(buf + n, 3, NGHTTP2_DATA, 0, 0);
        memcpy(buf + n, "abc", 3);
        n += 3;
        (void) proxy_h2_recv(s.h2, buf, n);
        ASSERT_OK(proxy_h2_send(s.h2, s.wire));
        ASSERT_EQ(goaway_in(s.wire), NGHTTP2_PROTOCOL_ERROR);
        ASSERT_FALSE(proxy_h2_want_read(s.h2));
        ASSERT_TRUE(proxy_h2_finished(s.h2));
        teardown(&s);

        /* A SETTINGS frame of 5 bytes. */
        setup(&s, 16384);
        memcpy(buf, preface, 24);
        n = 24 + frame(buf + 24, 5, NGHTTP2_SETTINGS, 0, 0);
        memset(buf + n, 0, 5);
        n += 5;
        (void) proxy_h2_recv(s.h2, buf, n);
        ASSERT_OK(proxy_h2_send(s.h2, s.wire));
        ASSERT_EQ(goaway_in(s.wire), NGHTTP2_FRAME_SIZE_ERROR);
        ASSERT_TRUE(proxy_h2_finished(s.h2));
        teardown(&s);

        /* Not HTTP/2 at all. */
        setup(&s, 16384);
        ASSERT_EQ(proxy_h2_recv(s.h2, (const uint8_t *) "GET / HTTP/1.1\r\n\r\nxxxxxxxxxx", 28),
                  -EPROTO);
        ASSERT_FALSE(proxy_h2_want_read(s.h2));
        ASSERT_EQ(proxy_h2_recv(s.h2, (const uint8_t *) "x", 1), -EPROTO);
        teardown(&s);

        /* A graceful shutdown: GOAWAY(NO_ERROR), finished once the streams are. */
        setup(&s, 16384);
        client_request(&s.client, "GET", "/", NULL, 0, false);
        pump(&s.client, s.h2, s.wire);
        proxy_h2_shutdown(s.h2);
        pump(&s.client, s.h2, s.wire);
        ASSERT_TRUE(s.client.goaway);
        ASSERT_EQ(s.client.goaway_error, NGHTTP2_NO_ERROR);
        ASSERT_FALSE(proxy_h2_finished(s.h2));
        respond(&s, &s.fake.requests[0], "HTTP/1.1 204 No Content\r\n\r\n", 27, true);
        pump(&s.client, s.h2, s.wire);
        ASSERT_TRUE(response_of(&s.client, 1)->closed);
        ASSERT_TRUE(proxy_h2_finished(s.h2));
        teardown(&s);
}

TEST(new_rejects_bad_limits) {
        ProxyH2Limits limits = { .max_concurrent_streams = 0, .max_header_list_size = 100 };
        ProxyH2 *h;

        ASSERT_ERROR(proxy_h2_new(&fake_callbacks, NULL, &limits, &h), EINVAL);
        limits = (ProxyH2Limits){ .max_concurrent_streams = 1, .max_header_list_size = 0 };
        ASSERT_ERROR(proxy_h2_new(&fake_callbacks, NULL, &limits, &h), EINVAL);
        ASSERT_NULL(proxy_h2_free(NULL));
}
