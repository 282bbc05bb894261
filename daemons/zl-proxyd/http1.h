/* SPDX-License-Identifier: Apache-2.0 */
/* http1.h: an incremental HTTP/1.x message reader over http_parser, with limits. */
#pragma once

#include <http_parser.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "macro.h"

/* A piece of a buffer the caller owns (h2o's iovec idea): never NUL-terminated. */
typedef struct Http1Slice {
        const char *base;
        size_t len;
} Http1Slice;

#define HTTP1_SLICE(s) ((Http1Slice){ (s), sizeof(s) - 1 })

typedef struct Http1Header {
        Http1Slice name;
        Http1Slice value;
} Http1Header;

#define HTTP1_HEADERS_MAX 128U

typedef struct Http1Limits {
        size_t max_header_size; /* request/status line and headers, bytes */
        unsigned max_headers; /* at most HTTP1_HEADERS_MAX */
        uint64_t max_body_size; /* decoded body bytes; UINT64_MAX: none */
} Http1Limits;

typedef enum Http1Event {
        HTTP1_NEED_MORE, /* everything given was consumed; the message goes on */
        HTTP1_HEAD, /* the head is complete (consumed up to its end); the body may follow */
        HTTP1_DONE, /* the message is complete (consumed up to its end) */
} Http1Event;

typedef enum Http1State {
        HTTP1_STATE_HEAD,
        HTTP1_STATE_BODY,
        HTTP1_STATE_DONE,
        HTTP1_STATE_FAILED,
} Http1State;

typedef struct Http1Parser {
        http_parser parser;
        Http1Limits limits;
        Http1State state;
        bool response;
        /* Set by the caller before the head of a response to HEAD: no body follows. */
        bool no_body;

        size_t head_size;
        Http1Slice url; /* requests */
        Http1Slice reason; /* responses */
        Http1Header headers[HTTP1_HEADERS_MAX];
        size_t n_headers;
        bool in_value;
        int cb_error;

        /* Known once HTTP1_HEAD was returned. */
        unsigned http_minor;
        enum http_method method;
        unsigned status;
        bool keep_alive;
        bool chunked;
        bool has_content_length;
        uint64_t content_length;
        bool upgrade; /* Upgrade/CONNECT request, or 101 response: bytes after the head are not
                       * HTTP any more */
        bool expect_continue;
        bool expect_other; /* an Expect we cannot meet: answer 417 */
        bool body_until_eof; /* response delimited by the end of the connection */
        uint64_t body_size; /* decoded body bytes so far */
} Http1Parser;

void http1_parser_init(Http1Parser *p, bool response, const Http1Limits *limits);

/* Feeds bytes and consumes as many as belong to the current message, stopping after the head
 * and after the end of the message. Until the head is complete, successive calls must pass
 * successive bytes of one contiguous buffer that stays put: the slices point into it. Body bytes
 * are consumed raw (chunk framing included), so the caller can forward exactly what was
 * consumed. Returns an Http1Event and the bytes consumed in *ret_consumed, or -EBADMSG for a
 * malformed message, -E2BIG when the head is over the size or count limits, -EFBIG when the
 * body is over its limit. After HTTP1_DONE, init the parser again for the next message. */
int http1_parser_feed(Http1Parser *p, const char *data, size_t size, size_t *ret_consumed);

/* Tells a response delimited by the end of its connection that the end came. Returns
 * HTTP1_DONE, or -EBADMSG if the message was cut short (in its head or a chunked or sized body). */
int http1_parser_eof(Http1Parser *p);

/* The first header with this name (case-insensitive), or NULL. */
const Http1Header *http1_find_header(const Http1Parser *p, const char *name);

/* Inline: with a literal name the length test folds to a constant and most headers are
 * rejected without a call (the proxy compares every header of every message this way). */
static inline bool http1_slice_eq_lower(Http1Slice s, const char *lower) {
        size_t n = strlen(lower);

        return n == s.len && strncasecmp(s.base, lower, n) == 0;
}

/* Whether a comma-separated header value holds this token (case-insensitive). */
bool http1_slice_has_token(Http1Slice s, const char *lower) _pure_;
