/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz-http1.c: fuzz target for the HTTP/1 request reader: any bytes, fed whole and in pieces. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http1.h"
#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Small limits, so the fuzzer reaches them with short inputs. */
static const Http1Limits limits = {
        .max_header_size = 1024,
        .max_headers = 16,
        .max_body_size = 4096,
};

#define MESSAGES_MAX 64U

/* What the parse of one message showed. */
typedef struct Message {
        size_t head_end, end; /* offsets in the input; end 0: not complete */
        enum http_method method;
        unsigned http_minor;
        size_t url_off, url_len;
        size_t n_headers;
        bool keep_alive, chunked, has_content_length, upgrade, expect_continue;
        uint64_t content_length, body_size;
} Message;

/* What a whole input showed; must not depend on how the bytes were split. */
typedef struct Outcome {
        size_t n_messages;
        int error; /* 0, or the first failure */
        size_t failed_at; /* message index of the failure */
        Message m[MESSAGES_MAX];
} Outcome;

static void die(const char *what, size_t split) {
        fprintf(stderr, "http1 reader broken (split %zu): %s\n", split, what);
        abort();
}

static bool slice_inside(Http1Slice s, const char *buf, size_t start, size_t end) {
        if (s.len == 0)
                return true;
        return s.base >= buf + start && s.base + s.len <= buf + end;
}

/* The head's invariants, whatever the input: what it points to lies inside it, within limits,
 * and the framing is unambiguous. */
static void check_head(const Http1Parser *p, const char *buf, size_t start, size_t end,
                       size_t split) {
        if (p->head_size > limits.max_header_size)
                die("head over its limit", split);
        if (p->n_headers > limits.max_headers)
                die("too many headers", split);
        if (!slice_inside(p->url, buf, start, end))
                die("url outside the head", split);
        for (size_t i = 0; i < p->n_headers; i++)
                if (!slice_inside(p->headers[i].name, buf, start, end) ||
                    !slice_inside(p->headers[i].value, buf, start, end))
                        die("header outside the head", split);
        if (p->chunked && p->has_content_length)
                die("both chunked and a length", split);
        if (p->has_content_length && p->content_length > limits.max_body_size)
                die("length over the body limit", split);
}

/* Feeds buf[0, size) in chunks of at most `split` bytes (0: all that is left each time), like a
 * connection reading, and after each message starts the next (pipelining). */
static void run(const char *buf, size_t size, size_t split, Outcome *o) {
        Http1Parser p;
        size_t pos = 0, msg_start = 0, avail;

        /* memset, not an initializer: outcomes are compared with memcmp, padding included. */
        memset(o, 0, sizeof *o);
        http1_parser_init(&p, false, &limits);
        /* Bytes "read" so far: a reader never sees beyond what arrived. */
        avail = split == 0 ? size : MIN(split, size);
        while (o->n_messages < MESSAGES_MAX) {
                size_t consumed = SIZE_MAX;
                int r;

                /* A message without a body is complete with its head: the next feed says so,
                 * even with nothing more to read. */
                if (pos == avail && p.state != HTTP1_STATE_DONE) {
                        if (avail == size)
                                break;
                        avail = MIN(avail + split, size);
                }
                r = http1_parser_feed(&p, buf + pos, avail - pos, &consumed);
                if (r < 0) {
                        if (r != -EBADMSG && r != -E2BIG && r != -EFBIG)
                                die("unexpected error", split);
                        /* A failed reader stays failed. */
                        if (http1_parser_feed(&p, buf + pos, avail - pos, &consumed) != -EBADMSG)
                                die("feed after a failure did not fail", split);
                        o->error = r;
                        o->failed_at = o->n_messages;
                        return;
                }
                if (consumed > avail - pos)
                        die("consumed more than given", split);
                pos += consumed;
                switch (r) {
                case HTTP1_NEED_MORE:
                        if (pos != avail)
                                die("NEED_MORE left bytes unconsumed", split);
                        break;
                case HTTP1_HEAD: {
                        Message *m = &o->m[o->n_messages];

                        check_head(&p, buf, msg_start, pos, split);
                        if (pos - msg_start != p.head_size)
                                die("head size is not what was consumed", split);
                        m->head_end = pos;
                        m->method = p.method;
                        m->http_minor = p.http_minor;
                        m->url_off = p.url.len ? (size_t) (p.url.base - buf) : 0;
                        m->url_len = p.url.len;
                        m->n_headers = p.n_headers;
                        m->keep_alive = p.keep_alive;
                        m->chunked = p.chunked;
                        m->has_content_length = p.has_content_length;
                        m->upgrade = p.upgrade;
                        m->expect_continue = p.expect_continue;
                        m->content_length = p.content_length;
                        if (p.upgrade) {
                                /* The bytes after an upgrade's head are not HTTP. */
                                o->n_messages++;
                                return;
                        }
                        break;
                }
                case HTTP1_DONE: {
                        Message *m = &o->m[o->n_messages];

                        if (m->head_end == 0)
                                die("DONE without HEAD", split);
                        if (p.has_content_length && p.body_size != p.content_length)
                                die("sized body of another size", split);
                        if (p.body_size > limits.max_body_size)
                                die("body over its limit", split);
                        m->end = pos;
                        m->body_size = p.body_size;
                        o->n_messages++;
                        msg_start = pos;
                        http1_parser_init(&p, false, &limits);
                        break;
                }
                default:
                        die("unknown event", split);
                }
        }
}

static bool outcome_equal(const Outcome *a, const Outcome *b) {
        /* Which error is seen first depends on the pieces (a head over its limit may also hold
         * a bad byte, which one read sees and the other not), that a message fails does not. */
        if ((a->error != 0) != (b->error != 0))
                return false;
        if (a->error != 0 && a->failed_at != b->failed_at)
                return false;
        if (a->n_messages != b->n_messages)
                return false;
        for (size_t i = 0; i < a->n_messages; i++)
                if (memcmp(&a->m[i], &b->m[i], sizeof a->m[i]) != 0)
                        return false;
        return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const size_t splits[] = { 1, 2, 3, 7, 64 };
        Outcome *whole, *pieces;
        char *buf;

        if (size > 64 * 1024)
                return 0;
        /* A copy of exactly the input's size: reading past it is caught by ASan. */
        buf = malloc(MAX(size, 1U));
        whole = calloc(1, sizeof *whole);
        pieces = calloc(1, sizeof *pieces);
        if (!buf || !whole || !pieces)
                abort();
        memcpy(buf, data, size);

        run(buf, size, 0, whole);
        for (size_t i = 0; i < ELEMENTSOF(splits); i++) {
                run(buf, size, splits[i], pieces);
                if (!outcome_equal(whole, pieces))
                        die("outcome depends on how the bytes arrive", splits[i]);
        }

        free(pieces);
        free(whole);
        free(buf);
        return 0;
}
