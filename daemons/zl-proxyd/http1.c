/* SPDX-License-Identifier: Apache-2.0 */
/* http1.c: an incremental HTTP/1.x message reader over http_parser, with limits. */
#include <strings.h>

#include "http1.h"

static Http1Parser *parser_of(http_parser *hp) {
        return (Http1Parser *) ((char *) hp - offsetof(Http1Parser, parser));
}

static int fail_cb(Http1Parser *p, int error) {
        p->cb_error = error;
        return -1;
}

static int on_url(http_parser *hp, const char *at, size_t n) {
        Http1Parser *p = parser_of(hp);

        if (!p->url.base)
                p->url = (Http1Slice){ at, n };
        else
                p->url.len += n;
        return 0;
}

static int on_status(http_parser *hp, const char *at, size_t n) {
        Http1Parser *p = parser_of(hp);

        if (!p->reason.base)
                p->reason = (Http1Slice){ at, n };
        else
                p->reason.len += n;
        return 0;
}

/* A name or value split across two reads arrives as two calls over contiguous bytes. */
static int on_header_field(http_parser *hp, const char *at, size_t n) {
        Http1Parser *p = parser_of(hp);
        Http1Header *h = p->n_headers > 0 ? &p->headers[p->n_headers - 1] : NULL;

        if (h && !p->in_value && at == h->name.base + h->name.len) {
                h->name.len += n;
                return 0;
        }
        if (p->n_headers >= p->limits.max_headers)
                return fail_cb(p, -E2BIG);
        p->headers[p->n_headers++] = (Http1Header){ .name = { at, n }, .value = { at + n, 0 } };
        p->in_value = false;
        return 0;
}

static int on_header_value(http_parser *hp, const char *at, size_t n) {
        Http1Parser *p = parser_of(hp);
        Http1Header *h;

        if (p->n_headers == 0)
                return fail_cb(p, -EBADMSG);
        h = &p->headers[p->n_headers - 1];
        if (p->in_value && at == h->value.base + h->value.len)
                h->value.len += n;
        else
                h->value = (Http1Slice){ at, n };
        p->in_value = true;
        return 0;
}

bool http1_slice_has_token(Http1Slice s, const char *lower) {
        size_t want = strlen(lower);
        const char *p = s.base, *end = s.base + s.len;

        while (p < end) {
                const char *comma = memchr(p, ',', end - p) ?: end;
                const char *a = p, *b = comma;

                while (a < b && (*a == ' ' || *a == '\t'))
                        a++;
                while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
                        b--;
                if ((size_t) (b - a) == want && strncasecmp(a, lower, want) == 0)
                        return true;
                p = comma + 1;
        }
        return false;
}

const Http1Header *http1_find_header(const Http1Parser *p, const char *name) {
        for (size_t i = 0; i < p->n_headers; i++)
                if (http1_slice_eq_lower(p->headers[i].name, name))
                        return &p->headers[i];
        return NULL;
}

/* The last coding of a Transfer-Encoding list: the one that frames the message. */
static bool te_ends_with_chunked(Http1Slice s) {
        const char *end = s.base + s.len, *start;

        while (end > s.base && (end[-1] == ' ' || end[-1] == '\t'))
                end--;
        start = end;
        while (start > s.base && start[-1] != ',' && start[-1] != ' ' && start[-1] != '\t')
                start--;
        return end - start == 7 && strncasecmp(start, "chunked", 7) == 0;
}

static int on_headers_complete(http_parser *hp) {
        Http1Parser *p = parser_of(hp);
        unsigned n_cl = 0, n_te = 0, n_host = 0;
        const Http1Header *te = NULL;

        for (size_t i = 0; i < p->n_headers; i++) {
                const Http1Header *h = &p->headers[i];

                if (http1_slice_eq_lower(h->name, "content-length"))
                        n_cl++;
                else if (http1_slice_eq_lower(h->name, "transfer-encoding")) {
                        n_te++;
                        te = h;
                } else if (http1_slice_eq_lower(h->name, "host"))
                        n_host++;
                else if (!p->response && http1_slice_eq_lower(h->name, "expect")) {
                        if (http1_slice_eq_lower(h->value, "100-continue"))
                                p->expect_continue = true;
                        else
                                p->expect_other = true;
                }
        }

        /* Both framings, or several of one, are how requests get smuggled past proxies. */
        if (n_te > 0 && n_cl > 0)
                return fail_cb(p, -EBADMSG);
        if (n_cl > 1 || n_te > 1)
                return fail_cb(p, -EBADMSG);
        if (!p->response) {
                /* A request body must be framed by chunked or a length, nothing else. */
                if (te && !te_ends_with_chunked(te->value))
                        return fail_cb(p, -EBADMSG);
                if (n_host > 1 || (n_host == 0 && hp->http_major == 1 && hp->http_minor >= 1))
                        return fail_cb(p, -EBADMSG);
        }
        if (hp->http_major != 1)
                return fail_cb(p, -EBADMSG);

        p->http_minor = hp->http_minor;
        p->method = hp->method;
        p->status = hp->status_code;
        p->keep_alive = http_should_keep_alive(hp);
        p->chunked = hp->flags & F_CHUNKED;
        p->upgrade = hp->upgrade;
        p->has_content_length = n_cl > 0;
        p->content_length = n_cl > 0 ? hp->content_length : 0;
        if (p->has_content_length && p->content_length > p->limits.max_body_size)
                return fail_cb(p, -EFBIG);
        if (p->response && !p->no_body && !p->chunked && !p->has_content_length &&
            !(p->status / 100 == 1 || p->status == 204 || p->status == 304))
                p->body_until_eof = true;

        p->state = HTTP1_STATE_BODY;
        http_parser_pause(hp, 1);
        return p->no_body ? 1 : 0;
}

static int on_body(http_parser *hp, const char *at, size_t n) {
        Http1Parser *p = parser_of(hp);

        p->body_size += n;
        if (p->body_size > p->limits.max_body_size)
                return fail_cb(p, -EFBIG);
        return 0;
}

static int on_message_complete(http_parser *hp) {
        Http1Parser *p = parser_of(hp);

        p->state = HTTP1_STATE_DONE;
        http_parser_pause(hp, 1);
        return 0;
}

static const http_parser_settings settings = {
        .on_url = on_url,
        .on_status = on_status,
        .on_header_field = on_header_field,
        .on_header_value = on_header_value,
        .on_headers_complete = on_headers_complete,
        .on_body = on_body,
        .on_message_complete = on_message_complete,
};

void http1_parser_init(Http1Parser *p, bool response, const Http1Limits *limits) {
        /* Only what a message's parse reads needs resetting: the header array is filled as the
         * count grows. */
        p->limits = *limits;
        p->limits.max_headers = MIN(p->limits.max_headers, HTTP1_HEADERS_MAX);
        p->state = HTTP1_STATE_HEAD;
        p->response = response;
        p->no_body = false;
        p->head_size = 0;
        p->url = (Http1Slice){};
        p->reason = (Http1Slice){};
        p->n_headers = 0;
        p->in_value = false;
        p->cb_error = 0;
        p->http_minor = 0;
        p->method = 0;
        p->status = 0;
        p->keep_alive = false;
        p->chunked = false;
        p->has_content_length = false;
        p->content_length = 0;
        p->upgrade = false;
        p->expect_continue = false;
        p->expect_other = false;
        p->body_until_eof = false;
        p->body_size = 0;
        http_parser_init(&p->parser, response ? HTTP_RESPONSE : HTTP_REQUEST);
        /* Our own limit applies; http_parser's compile-time one must never be hit first. */
        p->parser.data = p;
}

static int parser_failed(Http1Parser *p) {
        int r = p->cb_error < 0 ? p->cb_error : -EBADMSG;

        p->state = HTTP1_STATE_FAILED;
        return r;
}

int http1_parser_feed(Http1Parser *p, const char *data, size_t size, size_t *ret_consumed) {
        Http1State before = p->state;
        enum http_errno err;
        size_t n;

        if (p->state == HTTP1_STATE_FAILED)
                return -EBADMSG;
        if (p->state == HTTP1_STATE_DONE) {
                *ret_consumed = 0;
                return HTTP1_DONE;
        }
        if (size == 0) {
                *ret_consumed = 0;
                return HTTP1_NEED_MORE;
        }

        n = http_parser_execute(&p->parser, &settings, data, size);
        err = HTTP_PARSER_ERRNO(&p->parser);
        if (err == HPE_PAUSED)
                http_parser_pause(&p->parser, 0);
        else if (err != HPE_OK)
                return parser_failed(p);

        if (before == HTTP1_STATE_HEAD) {
                if (p->state == HTTP1_STATE_HEAD) {
                        p->head_size += n;
                        if (p->head_size > p->limits.max_header_size)
                                return p->state = HTTP1_STATE_FAILED, -E2BIG;
                        *ret_consumed = n;
                        return HTTP1_NEED_MORE;
                }
                /* Paused in on_headers_complete, just before the head's final LF: take that
                 * byte too, so what follows is exactly the body. A message without a body
                 * completes on it. */
                if (n >= size || data[n] != '\n')
                        return parser_failed(p);
                n++;
                p->head_size += n;
                if (p->head_size > p->limits.max_header_size)
                        return p->state = HTTP1_STATE_FAILED, -E2BIG;
                (void) http_parser_execute(&p->parser, &settings, data + n - 1, 1);
                err = HTTP_PARSER_ERRNO(&p->parser);
                if (err == HPE_PAUSED)
                        http_parser_pause(&p->parser, 0);
                else if (err != HPE_OK)
                        return parser_failed(p);
                *ret_consumed = n;
                return HTTP1_HEAD;
        }

        *ret_consumed = n;
        return p->state == HTTP1_STATE_DONE ? HTTP1_DONE : HTTP1_NEED_MORE;
}

int http1_parser_eof(Http1Parser *p) {
        if (p->state == HTTP1_STATE_DONE)
                return HTTP1_DONE;
        if (p->state != HTTP1_STATE_BODY || !p->body_until_eof)
                return parser_failed(p);
        (void) http_parser_execute(&p->parser, &settings, NULL, 0);
        p->state = HTTP1_STATE_DONE;
        return HTTP1_DONE;
}
