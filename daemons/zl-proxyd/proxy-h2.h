/* SPDX-License-Identifier: Apache-2.0 */
/* proxy-h2.h: the server side of HTTP/2 (nghttp2), each stream a virtual HTTP/1.1 exchange. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "macro.h"
#include "proxy-pool.h"

/* One client connection speaking HTTP/2 (after ALPN "h2", or the h2c preface). The layer knows
 * nothing of routes or backends: each request stream is handed to the worker as a "request"
 * that reads an HTTP/1.1 request from its input buffer and writes an HTTP/1.1 response to its
 * output buffer, exactly as a client connection would. So routing, balancing, forwarded
 * headers, retries, limits and counters are the HTTP/1.1 ones.
 *
 * Request: :method, :path and :authority become the request line and Host, the other fields
 * follow (cookie fields joined), and the body comes from DATA frames, as is when the client
 * gave a content-length and chunked otherwise. Response: the status and fields (hop-by-hop ones
 * dropped, names lower-cased) become HEADERS, the body, sized, chunked or up to the end, is
 * decoded into DATA frames as the client's flow control allows.
 *
 * Flow control: a stream's window is only given back as the request takes body bytes from its
 * input, so a slow backend slows its own stream only. Protocol errors are nghttp2's: a stream
 * error resets the stream, a connection error sends GOAWAY and ends the session. */

typedef struct ProxyH2 ProxyH2;
typedef struct ProxyH2Stream ProxyH2Stream;

/* What the worker provides. "request" is the worker's object for one stream. None of these
 * may call back into this layer synchronously. */
typedef struct ProxyH2Callbacks {
        /* A stream's request head is complete: a new request, or NULL to refuse the stream. */
        void *(*request_new)(void *userdata, ProxyH2Stream *stream);
        /* The request's input buffer (made on demand; NULL when out of memory). */
        ProxyBuf *(*request_input)(void *request);
        /* The request's output buffer, NULL when it has none. */
        ProxyBuf *(*request_output)(void *request);
        /* The request has new input, or room in its output: let it run (later). */
        void (*request_kick)(void *request);
        /* The stream is gone: drop the request and anything it holds. */
        void (*request_free)(void *request);
        /* The connection has frames to send or input to take again: let it run (later). */
        void (*kick)(void *userdata);
} ProxyH2Callbacks;

typedef struct ProxyH2Limits {
        unsigned max_concurrent_streams;
        size_t max_header_list_size; /* a request's head, as HTTP/1.1 text */
} ProxyH2Limits;

int proxy_h2_new(const ProxyH2Callbacks *cb, void *userdata, const ProxyH2Limits *limits,
                 ProxyH2 **ret);
/* Frees every stream's request (request_free), then the session. */
ProxyH2 *proxy_h2_free(ProxyH2 *h);

/* Takes bytes from the client. Returns how many were taken (fewer when a stream's buffers are
 * full: call again with the rest after a kick), or -EPROTO when the connection is over (a
 * GOAWAY may still be queued: send, then close). */
ssize_t proxy_h2_recv(ProxyH2 *h, const uint8_t *data, size_t size);
/* Appends frames to send to out, as much as fits. */
int proxy_h2_send(ProxyH2 *h, ProxyBuf *out);
/* More to send than proxy_h2_send could fit. */
bool proxy_h2_want_write(ProxyH2 *h) _pure_;
/* Whether input is still of interest, and whether recv stopped early (a stream is full). */
bool proxy_h2_want_read(ProxyH2 *h) _pure_;
/* Nothing left to read or to send: close the connection. */
bool proxy_h2_finished(ProxyH2 *h) _pure_;
/* Streams open now. */
size_t proxy_h2_n_streams(ProxyH2 *h) _pure_;
/* Stops taking new streams (GOAWAY with the last stream id) and ends once the others are. */
void proxy_h2_shutdown(ProxyH2 *h);

/* The request of a stream moved: took input (the stream's window opens again, held body bytes
 * move in) or wrote output (response head and body frames are queued). `ended`: the request
 * writes no more (its response is whole, or it gave up). Returns the output bytes taken. */
size_t proxy_h2_stream_update(ProxyH2Stream *s, bool ended);
/* The request goes away on its own (it failed): the stream is reset unless its response is
 * complete. The stream forgets the request; request_free is not called for it. */
void proxy_h2_stream_detach(ProxyH2Stream *s);
/* The stream's id, for logs and tests. */
int32_t proxy_h2_stream_id(const ProxyH2Stream *s) _pure_;
