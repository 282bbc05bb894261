/* SPDX-License-Identifier: Apache-2.0 */
/* proxy-h2.c: the server side of HTTP/2 (nghttp2), each stream a virtual HTTP/1.1 exchange. */
#include <ctype.h>
#include <http_parser.h>
#include <nghttp2/nghttp2.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

#include "proxy-h2.h"

/* A stream's window: body bytes held here until the request's input has room. The window is
 * given back only as bytes move on, so this never overflows. */
#define STREAM_WINDOW 65535U
#define CONNECTION_WINDOW (1U << 20)
/* Response fields: the HTTP/1 reader's limit, :status and a little slack. */
#define FIELDS_MAX 136U
/* "<hex size>\r\n" ... "\r\n" around a chunk of at most STREAM_WINDOW bytes. */
#define CHUNK_OVERHEAD 12U

struct ProxyH2Stream {
        ProxyH2 *h2;
        ProxyH2Stream *prev, *next;
        int32_t id;
        void *request;

        /* The request head, built while its fields arrive. */
        char *method, *path, *authority, *host;
        char *fields; /* "name: value\r\n"... */
        size_t fields_len, head_size;
        char *cookie;
        bool content_length, too_big, bad;
        bool head_request;

        /* The request body. */
        bool chunked; /* towards the request: no content-length was given */
        bool eos; /* the client ended the stream */
        bool eos_sent; /* ... and the request was told */
        uint8_t *held;
        size_t n_held;

        /* The response: the request's output buffer holds decoded body bytes at its start
         * (out_ready of them), then HTTP/1.1 bytes not parsed yet. */
        http_parser parser;
        size_t out_ready;
        size_t write_pos; /* during a parse: where the next decoded body bytes go */
        ProxyBuf *parse_out;
        unsigned status;
        bool head_done, got_1xx, complete, until_eof, no_body;
        bool submitted, deferred, failed;
};

struct ProxyH2 {
        nghttp2_session *session;
        ProxyH2Callbacks cb;
        void *userdata;
        ProxyH2Limits limits;
        ProxyH2Stream *streams;
        size_t n_streams;
        /* Frame bytes nghttp2 gave us that did not fit the output buffer. */
        uint8_t *spill;
        size_t n_spill, spill_start;
        bool failed;
};

/* The response fields of the stream being parsed: one parse at a time per thread. */
static _Thread_local nghttp2_nv fields[FIELDS_MAX];
static _Thread_local size_t n_fields;
static _Thread_local bool in_value;

static nghttp2_session_callbacks *callbacks;
static pthread_once_t callbacks_once = PTHREAD_ONCE_INIT;

static void stream_kick(ProxyH2Stream *s) {
        if (s->request)
                s->h2->cb.request_kick(s->request);
}

static void h2_kick(ProxyH2 *h) {
        h->cb.kick(h->userdata);
}

static void stream_reset(ProxyH2Stream *s, uint32_t error) {
        if (s->failed)
                return;
        s->failed = true;
        (void) nghttp2_submit_rst_stream(s->h2->session, NGHTTP2_FLAG_NONE, s->id, error);
        h2_kick(s->h2);
}

static void stream_free(ProxyH2Stream *s) {
        ProxyH2 *h = s->h2;

        if (s->prev)
                s->prev->next = s->next;
        else
                h->streams = s->next;
        if (s->next)
                s->next->prev = s->prev;
        h->n_streams--;
        free(s->method);
        free(s->path);
        free(s->authority);
        free(s->host);
        free(s->fields);
        free(s->cookie);
        free(s->held);
        free(s);
}

/* ---- requests --------------------------------------------------------------------------- */

static bool text_ok(const uint8_t *p, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (p[i] <= ' ' || p[i] == 0x7f)
                        return false;
        return n > 0;
}

static int append(char **buf, size_t *len, const char *fmt, ...) _printf_(3, 4);
static int append(char **buf, size_t *len, const char *fmt, ...) {
        va_list ap;
        char *grown;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        if (n < 0)
                return -EINVAL;
        grown = realloc(*buf, *len + n + 1);
        if (!grown)
                return -ENOMEM;
        va_start(ap, fmt);
        vsnprintf(grown + *len, n + 1, fmt, ap);
        va_end(ap);
        *buf = grown;
        *len += n;
        return 0;
}

static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *userdata) {
        ProxyH2 *h = userdata;
        ProxyH2Stream *s;

        if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
                return 0;
        s = calloc(1, sizeof *s);
        if (!s)
                return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        s->h2 = h;
        s->id = frame->hd.stream_id;
        s->next = h->streams;
        if (h->streams)
                h->streams->prev = s;
        h->streams = s;
        h->n_streams++;
        if (nghttp2_session_set_stream_user_data(session, s->id, s) != 0) {
                stream_free(s);
                return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        }
        return 0;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *userdata) {
        ProxyH2 *h = userdata;
        ProxyH2Stream *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
        char **pseudo = NULL;
        int r = 0;

        /* Trailers are dropped: the body towards the backend ends with the stream. */
        if (!s || frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
                return 0;
        s->head_size += namelen + valuelen + 4;
        if (s->head_size > h->limits.max_header_list_size)
                s->too_big = true;
        if (s->too_big || s->bad)
                return 0;

        if (namelen > 0 && name[0] == ':') {
                if (namelen == 7 && memcmp(name, ":method", 7) == 0)
                        pseudo = &s->method;
                else if (namelen == 5 && memcmp(name, ":path", 5) == 0)
                        pseudo = &s->path;
                else if (namelen == 10 && memcmp(name, ":authority", 10) == 0)
                        pseudo = &s->authority;
                else if (namelen == 7 && memcmp(name, ":scheme", 7) == 0)
                        return 0;
                else {
                        /* :protocol (extended CONNECT) and the like: not for us. */
                        s->bad = true;
                        return 0;
                }
                /* nghttp2 checked the syntax already; what becomes a request line must not
                 * carry spaces or controls either way. */
                if (!text_ok(value, valuelen) || *pseudo) {
                        s->bad = true;
                        return 0;
                }
                *pseudo = strndup((const char *) value, valuelen);
                return *pseudo ? 0 : NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        }
        if (namelen == 4 && memcmp(name, "host", 4) == 0) {
                if (s->host || !text_ok(value, valuelen))
                        s->bad = true;
                else if (!(s->host = strndup((const char *) value, valuelen)))
                        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
                return 0;
        }
        if (namelen == 6 && memcmp(name, "cookie", 6) == 0) {
                size_t len = s->cookie ? strlen(s->cookie) : 0;
                r = append(&s->cookie, &len, "%s%.*s", len > 0 ? "; " : "", (int) valuelen,
                           (const char *) value);
                return r < 0 ? NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE : 0;
        }
        /* te: trailers is all h2 allows; HTTP/1.1 hop-by-hop semantics differ: drop it. */
        if (namelen == 2 && memcmp(name, "te", 2) == 0)
                return 0;
        if (namelen == 14 && memcmp(name, "content-length", 14) == 0)
                s->content_length = true;
        r = append(&s->fields, &s->fields_len, "%.*s: %.*s\r\n", (int) namelen, (const char *) name,
                   (int) valuelen, (const char *) value);
        return r < 0 ? NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE : 0;
}

static int stream_answer(ProxyH2Stream *s, const char *status) {
        nghttp2_nv nv[] = {
                { (uint8_t *) ":status", (uint8_t *) status, 7, strlen(status),
                  NGHTTP2_NV_FLAG_NONE },
                { (uint8_t *) "server", (uint8_t *) "zl-proxyd", 6, 9, NGHTTP2_NV_FLAG_NONE },
        };

        s->submitted = s->complete = true;
        if (nghttp2_submit_response(s->h2->session, s->id, nv, ELEMENTSOF(nv), NULL) != 0)
                stream_reset(s, NGHTTP2_INTERNAL_ERROR);
        h2_kick(s->h2);
        return 0;
}

/* Moves body bytes into the request's input, as a chunk when chunked; returns how many. */
static size_t stream_push(ProxyH2Stream *s, const uint8_t *data, size_t size) {
        ProxyBuf *in = s->h2->cb.request_input(s->request);
        size_t overhead = s->chunked ? CHUNK_OVERHEAD : 0, n;

        if (!in || size == 0)
                return 0;
        if (proxy_buf_space(in) < size + overhead && in->start > 0)
                proxy_buf_compact(in);
        if (proxy_buf_space(in) <= overhead)
                return 0;
        n = MIN(size, proxy_buf_space(in) - overhead);
        if (s->chunked)
                in->end += snprintf(in->data + in->end, proxy_buf_space(in), "%zx\r\n", n);
        memcpy(in->data + in->end, data, n);
        in->end += n;
        if (s->chunked) {
                memcpy(in->data + in->end, "\r\n", 2);
                in->end += 2;
        }
        return n;
}

/* Held body bytes and the end of the body move on to the request as it has room. */
static void stream_feed(ProxyH2Stream *s) {
        ProxyH2 *h = s->h2;
        bool moved = false;

        if (!s->request)
                return;
        while (s->n_held > 0) {
                size_t n = stream_push(s, s->held, s->n_held);
                if (n == 0)
                        break;
                memmove(s->held, s->held + n, s->n_held - n);
                s->n_held -= n;
                (void) nghttp2_session_consume(h->session, s->id, n);
                moved = true;
        }
        if (s->eos && !s->eos_sent && s->n_held == 0) {
                ProxyBuf *in = s->chunked ? h->cb.request_input(s->request) : NULL;

                if (!s->chunked)
                        s->eos_sent = true;
                else if (in) {
                        if (proxy_buf_space(in) < 5 && in->start > 0)
                                proxy_buf_compact(in);
                        if (proxy_buf_space(in) >= 5) {
                                memcpy(in->data + in->end, "0\r\n\r\n", 5);
                                in->end += 5;
                                s->eos_sent = moved = true;
                        }
                }
        }
        if (moved) {
                stream_kick(s);
                h2_kick(h); /* window updates to send */
        }
}

static int stream_start(ProxyH2Stream *s) {
        ProxyH2 *h = s->h2;
        _cleanup_free_ char *head = NULL;
        const char *host = s->authority ?: s->host;
        bool connect;
        size_t len = 0;
        ProxyBuf *in;
        void *request;
        int r;

        if (s->too_big)
                return stream_answer(s, "431");
        if (s->bad || !s->method) {
                stream_reset(s, NGHTTP2_PROTOCOL_ERROR);
                return 0;
        }
        connect = streq(s->method, "CONNECT");
        s->head_request = streq(s->method, "HEAD");
        s->chunked = !s->eos && !s->content_length;
        r = append(&head, &len, "%s %s HTTP/1.1\r\n", s->method,
                   connect ? strempty(s->authority) : strempty(s->path));
        if (r >= 0 && host)
                r = append(&head, &len, "Host: %s\r\n", host);
        if (r >= 0 && s->fields)
                r = append(&head, &len, "%s", s->fields);
        if (r >= 0 && s->cookie)
                r = append(&head, &len, "Cookie: %s\r\n", s->cookie);
        if (r >= 0 && s->chunked)
                r = append(&head, &len, "Transfer-Encoding: chunked\r\n");
        if (r >= 0)
                r = append(&head, &len, "\r\n");
        if (r < 0)
                return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        s->fields = mfree(s->fields);
        s->cookie = mfree(s->cookie);
        if (len > h->limits.max_header_list_size)
                return stream_answer(s, "431");

        request = h->cb.request_new(h->userdata, s);
        if (!request) {
                stream_reset(s, NGHTTP2_REFUSED_STREAM);
                return 0;
        }
        s->request = request;
        in = h->cb.request_input(request);
        if (!in || proxy_buf_space(in) < len) {
                /* Out of memory: the request goes, the stream with it. */
                s->request = NULL;
                h->cb.request_free(request);
                stream_reset(s, NGHTTP2_INTERNAL_ERROR);
                return 0;
        }
        memcpy(in->data + in->end, head, len);
        in->end += len;
        stream_feed(s);
        stream_kick(s);
        return 0;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *userdata) {
        ProxyH2Stream *s;

        if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
                return 0;
        s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
        if (!s)
                return 0;
        if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)
                s->eos = true;
        if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST)
                return stream_start(s);
        stream_feed(s);
        return 0;
}

static int on_data_chunk_recv(nghttp2_session *session, uint8_t flags, int32_t stream_id,
                              const uint8_t *data, size_t len, void *userdata) {
        ProxyH2Stream *s = nghttp2_session_get_stream_user_data(session, stream_id);
        size_t n = 0;

        if (!s || !s->request || s->failed) {
                /* Nobody reads it: give the window back right away. */
                (void) nghttp2_session_consume(session, stream_id, len);
                return 0;
        }
        if (s->n_held == 0) {
                n = stream_push(s, data, len);
                if (n > 0) {
                        (void) nghttp2_session_consume(session, stream_id, n);
                        stream_kick(s);
                }
        }
        if (n < len) {
                if (!s->held) {
                        s->held = malloc(STREAM_WINDOW);
                        if (!s->held)
                                return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
                }
                if (s->n_held + (len - n) > STREAM_WINDOW) {
                        stream_reset(s, NGHTTP2_FLOW_CONTROL_ERROR);
                        return 0;
                }
                memcpy(s->held + s->n_held, data + n, len - n);
                s->n_held += len - n;
        }
        return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
                           void *userdata) {
        ProxyH2Stream *s = nghttp2_session_get_stream_user_data(session, stream_id);
        void *request;

        if (!s)
                return 0;
        request = TAKE_PTR(s->request);
        if (request)
                s->h2->cb.request_free(request);
        if (s->n_held > 0)
                (void) nghttp2_session_consume_connection(session, s->n_held);
        stream_free(s);
        return 0;
}

static int on_frame_send(nghttp2_session *session, const nghttp2_frame *frame, void *userdata) {
        /* The answer is complete while the client still sends a body nobody reads: tell it to
         * stop (RFC 9113 8.1). */
        if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
            (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
            nghttp2_session_get_stream_remote_close(session, frame->hd.stream_id) == 0)
                (void) nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                                                 NGHTTP2_NO_ERROR);
        return 0;
}

/* ---- responses -------------------------------------------------------------------------- */

static ProxyH2Stream *stream_of(http_parser *hp) {
        return (ProxyH2Stream *) ((char *) hp - offsetof(ProxyH2Stream, parser));
}

static int on_resp_field(http_parser *hp, const char *at, size_t n) {
        nghttp2_nv *f = n_fields > 0 ? &fields[n_fields - 1] : NULL;

        /* Field names are lower case in HTTP/2; these bytes are ours to change. */
        for (size_t i = 0; i < n; i++)
                ((char *) at)[i] = (char) tolower((unsigned char) at[i]);
        if (f && !in_value && (const uint8_t *) at == f->name + f->namelen) {
                f->namelen += n;
                return 0;
        }
        if (n_fields >= FIELDS_MAX)
                return -1;
        fields[n_fields++] =
                (nghttp2_nv){ (uint8_t *) at, (uint8_t *) at + n, n, 0, NGHTTP2_NV_FLAG_NONE };
        in_value = false;
        return 0;
}

static int on_resp_value(http_parser *hp, const char *at, size_t n) {
        nghttp2_nv *f;

        if (n_fields == 0)
                return -1;
        f = &fields[n_fields - 1];
        if (in_value && (const uint8_t *) at == f->value + f->valuelen)
                f->valuelen += n;
        else {
                f->value = (uint8_t *) at;
                f->valuelen = n;
        }
        in_value = true;
        return 0;
}

static bool field_is(const nghttp2_nv *f, const char *name) {
        return f->namelen == strlen(name) && memcmp(f->name, name, f->namelen) == 0;
}

static ssize_t data_read(nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t length,
                         uint32_t *data_flags, nghttp2_data_source *source, void *userdata);

static int on_resp_headers_complete(http_parser *hp) {
        ProxyH2Stream *s = stream_of(hp);
        ProxyH2 *h = s->h2;
        nghttp2_data_provider provider = { .source.ptr = s, .read_callback = data_read };
        nghttp2_nv nv[FIELDS_MAX + 1];
        char status[4];
        size_t n = 0;
        bool zero_length = false;

        s->status = hp->status_code;
        if (s->status / 100 == 1)
                return 0; /* interim: skipped, its end comes with on_message_complete */
        if (s->status < 200 || s->status > 999)
                return -1;
        snprintf(status, sizeof status, "%u", s->status);
        nv[n++] = (nghttp2_nv){ (uint8_t *) ":status", (uint8_t *) status, 7, 3,
                                NGHTTP2_NV_FLAG_NONE };
        for (size_t i = 0; i < n_fields; i++) {
                const nghttp2_nv *f = &fields[i];
                if (field_is(f, "connection") || field_is(f, "keep-alive") ||
                    field_is(f, "proxy-connection") || field_is(f, "transfer-encoding") ||
                    field_is(f, "upgrade") || field_is(f, "te"))
                        continue;
                if (field_is(f, "content-length") && f->valuelen == 1 && f->value[0] == '0')
                        zero_length = true;
                nv[n++] = *f;
        }
        s->head_done = true;
        s->no_body = s->head_request || s->status == 204 || s->status == 304 || zero_length;
        s->until_eof = !s->no_body && !(hp->flags & (F_CHUNKED | F_CONTENTLENGTH));
        s->submitted = true;
        if (nghttp2_submit_response(h->session, s->id, nv, n, s->no_body ? NULL : &provider) != 0)
                return -1;
        h2_kick(h);
        return s->head_request ? 1 : 0; /* 1: no body follows */
}

static int on_resp_body(http_parser *hp, const char *at, size_t n) {
        ProxyH2Stream *s = stream_of(hp);

        /* Decoded bytes move down to the end of what is ready: never past unparsed input. */
        memmove(s->parse_out->data + s->write_pos, at, n);
        s->write_pos += n;
        return 0;
}

static int on_resp_message_complete(http_parser *hp) {
        ProxyH2Stream *s = stream_of(hp);

        if (s->status / 100 == 1 && !s->head_done)
                s->got_1xx = true;
        else
                s->complete = true;
        http_parser_pause(hp, 1);
        return 0;
}

static const http_parser_settings resp_settings = {
        .on_header_field = on_resp_field,
        .on_header_value = on_resp_value,
        .on_headers_complete = on_resp_headers_complete,
        .on_body = on_resp_body,
        .on_message_complete = on_resp_message_complete,
};

/* Parses what the request wrote since last time; returns the HTTP/1.1 bytes taken. */
static size_t stream_parse(ProxyH2Stream *s, ProxyBuf *out) {
        size_t taken = 0;

        while (out && !s->complete && !s->failed) {
                size_t raw = out->start + s->out_ready, n;
                enum http_errno err;

                if (raw >= out->end)
                        break;
                if (!s->head_done) {
                        /* The head is parsed in one go from its start (the request writes it
                         * whole); a partial one is read again when complete. */
                        http_parser_init(&s->parser, HTTP_RESPONSE);
                        n_fields = 0;
                        in_value = false;
                        s->got_1xx = false;
                }
                s->parse_out = out;
                s->write_pos = raw;
                n = http_parser_execute(&s->parser, &resp_settings, out->data + raw,
                                        out->end - raw);
                err = HTTP_PARSER_ERRNO(&s->parser);
                if (err == HPE_PAUSED)
                        http_parser_pause(&s->parser, 0);
                else if (err != HPE_OK) {
                        stream_reset(s, NGHTTP2_INTERNAL_ERROR);
                        break;
                }
                if (s->got_1xx) {
                        out->start += n; /* nothing is ready before the final head */
                        taken += n;
                        continue;
                }
                if (!s->head_done)
                        break;
                taken += n;
                /* Ready bytes end where the decoded body ends; anything after the message is
                 * not for the client. */
                out->end = s->write_pos;
                s->out_ready = out->end - out->start;
                break;
        }
        return taken;
}

static ssize_t data_read(nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t length,
                         uint32_t *data_flags, nghttp2_data_source *source, void *userdata) {
        ProxyH2Stream *s = source->ptr;
        ProxyBuf *out = s->request ? s->h2->cb.request_output(s->request) : NULL;
        size_t n = out ? MIN(length, s->out_ready) : 0;

        if (!s->request && !(s->complete && s->out_ready == 0))
                return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        if (n > 0) {
                memcpy(buf, out->data + out->start, n);
                out->start += n;
                s->out_ready -= n;
                if (!s->complete)
                        stream_kick(s); /* room for more of the response */
        }
        if (s->complete && s->out_ready == 0)
                *data_flags |= NGHTTP2_DATA_FLAG_EOF;
        else if (n == 0) {
                s->deferred = true;
                return NGHTTP2_ERR_DEFERRED;
        }
        return (ssize_t) n;
}

size_t proxy_h2_stream_update(ProxyH2Stream *s, bool ended) {
        ProxyH2 *h = s->h2;
        size_t taken;

        if (!s->request)
                return 0;
        stream_feed(s);
        taken = stream_parse(s, h->cb.request_output(s->request));
        if (ended && !s->complete && !s->failed) {
                ProxyBuf *out = h->cb.request_output(s->request);
                bool all_parsed = !out || out->start + s->out_ready >= out->end;

                /* A response delimited by the end of its connection ends here. */
                if (s->head_done && s->until_eof && all_parsed) {
                        s->parse_out = out;
                        s->write_pos = out ? out->end : 0;
                        (void) http_parser_execute(&s->parser, &resp_settings, NULL, 0);
                }
                if (!s->complete)
                        stream_reset(s, NGHTTP2_INTERNAL_ERROR); /* cut short */
        }
        if (s->deferred && (s->out_ready > 0 || s->complete)) {
                s->deferred = false;
                (void) nghttp2_session_resume_data(h->session, s->id);
                h2_kick(h);
        }
        return taken;
}

void proxy_h2_stream_detach(ProxyH2Stream *s) {
        if (!s->request)
                return;
        s->request = NULL;
        /* Bytes still held in the request's buffers are gone with it. */
        if (!s->complete || s->out_ready > 0) {
                s->out_ready = 0;
                stream_reset(s, NGHTTP2_INTERNAL_ERROR);
        }
}

int32_t proxy_h2_stream_id(const ProxyH2Stream *s) {
        return s->id;
}

/* ---- the session ------------------------------------------------------------------------ */

static void callbacks_init(void) {
        if (nghttp2_session_callbacks_new(&callbacks) != 0)
                return;
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, on_begin_headers);
        nghttp2_session_callbacks_set_on_header_callback(callbacks, on_header);
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, on_frame_recv);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, on_data_chunk_recv);
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, on_stream_close);
        nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, on_frame_send);
}

int proxy_h2_new(const ProxyH2Callbacks *cb, void *userdata, const ProxyH2Limits *limits,
                 ProxyH2 **ret) {
        nghttp2_option *opt = NULL;
        ProxyH2 *h;
        int r;

        pthread_once(&callbacks_once, callbacks_init);
        if (!callbacks)
                return -ENOMEM;
        if (!cb || !limits || limits->max_concurrent_streams == 0 ||
            limits->max_header_list_size == 0)
                return -EINVAL;
        h = calloc(1, sizeof *h);
        if (!h)
                return -ENOMEM;
        h->cb = *cb;
        h->userdata = userdata;
        h->limits = *limits;
        if (nghttp2_option_new(&opt) != 0) {
                free(h);
                return -ENOMEM;
        }
        /* Windows open as bytes move on to the requests, not as they arrive. */
        nghttp2_option_set_no_auto_window_update(opt, 1);
        r = nghttp2_session_server_new2(&h->session, callbacks, h, opt);
        nghttp2_option_del(opt);
        if (r != 0) {
                free(h);
                return -ENOMEM;
        }
        nghttp2_settings_entry settings[] = {
                { NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, limits->max_concurrent_streams },
                { NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW },
                { NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t) limits->max_header_list_size },
        };
        if (nghttp2_submit_settings(h->session, NGHTTP2_FLAG_NONE, settings,
                                    ELEMENTSOF(settings)) != 0 ||
            nghttp2_session_set_local_window_size(h->session, NGHTTP2_FLAG_NONE, 0,
                                                  CONNECTION_WINDOW) != 0) {
                proxy_h2_free(h);
                return -ENOMEM;
        }
        *ret = h;
        return 0;
}

ProxyH2 *proxy_h2_free(ProxyH2 *h) {
        if (!h)
                return NULL;
        /* nghttp2_session_del() calls no stream callbacks: the requests go here. */
        while (h->streams) {
                ProxyH2Stream *s = h->streams;
                void *request = TAKE_PTR(s->request);
                if (request)
                        h->cb.request_free(request);
                stream_free(s);
        }
        nghttp2_session_del(h->session);
        free(h->spill);
        free(h);
        return NULL;
}

ssize_t proxy_h2_recv(ProxyH2 *h, const uint8_t *data, size_t size) {
        ssize_t n;

        if (h->failed)
                return -EPROTO;
        n = nghttp2_session_mem_recv(h->session, data, size);
        if (n < 0) {
                /* Not even a session error nghttp2 could answer itself (a bad preface, a
                 * flood, no memory): say so if we can, and end. */
                (void) nghttp2_session_terminate_session(h->session, NGHTTP2_PROTOCOL_ERROR);
                h->failed = true;
                return -EPROTO;
        }
        return n;
}

int proxy_h2_send(ProxyH2 *h, ProxyBuf *out) {
        for (;;) {
                const uint8_t *data;
                ssize_t n;
                size_t k;

                if (h->n_spill > 0) {
                        if (proxy_buf_space(out) < h->n_spill && out->start > 0)
                                proxy_buf_compact(out);
                        k = MIN(proxy_buf_space(out), h->n_spill);
                        memcpy(out->data + out->end, h->spill + h->spill_start, k);
                        out->end += k;
                        h->spill_start += k;
                        h->n_spill -= k;
                        if (h->n_spill > 0)
                                return 0;
                }
                if (proxy_buf_space(out) == 0 && out->start > 0)
                        proxy_buf_compact(out);
                if (proxy_buf_space(out) == 0)
                        return 0;
                n = nghttp2_session_mem_send(h->session, &data);
                if (n < 0) {
                        h->failed = true;
                        return -EPROTO;
                }
                if (n == 0)
                        return 0;
                k = MIN(proxy_buf_space(out), (size_t) n);
                memcpy(out->data + out->end, data, k);
                out->end += k;
                if (k < (size_t) n) {
                        /* nghttp2's buffer is only good until its next call: keep the rest. */
                        uint8_t *spill = realloc(h->spill, n - k);
                        if (!spill) {
                                h->failed = true;
                                return -ENOMEM;
                        }
                        h->spill = spill;
                        memcpy(h->spill, data + k, n - k);
                        h->spill_start = 0;
                        h->n_spill = n - k;
                        return 0;
                }
        }
}

bool proxy_h2_want_write(ProxyH2 *h) {
        return h->n_spill > 0 || (!h->failed && nghttp2_session_want_write(h->session));
}

bool proxy_h2_want_read(ProxyH2 *h) {
        return !h->failed && nghttp2_session_want_read(h->session);
}

bool proxy_h2_finished(ProxyH2 *h) {
        return h->n_spill == 0 && !nghttp2_session_want_write(h->session) &&
               (h->failed || !nghttp2_session_want_read(h->session));
}

size_t proxy_h2_n_streams(ProxyH2 *h) {
        return h->n_streams;
}

void proxy_h2_shutdown(ProxyH2 *h) {
        (void) nghttp2_submit_goaway(h->session, NGHTTP2_FLAG_NONE,
                                     nghttp2_session_get_last_proc_stream_id(h->session),
                                     NGHTTP2_NO_ERROR, NULL, 0);
        h2_kick(h);
}
