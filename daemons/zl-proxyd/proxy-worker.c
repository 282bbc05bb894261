/* SPDX-License-Identifier: Apache-2.0 */
/* proxy-worker.c: one data-path thread: epoll over its listeners, clients and backends. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "http1.h"
#include "proxy-h2.h"
#include "proxy-internal.h"
#include "proxy-pool.h"
#include "proxy-tls.h"

#define BUF_SIZE (64U * 1024U)
#define PIPE_SIZE (64U * 1024U)
#define SWEEP_USEC 250000U
#define EPOLL_BATCH 128
#define TRIED_MAX 8
#define VIA_TOKEN "1.1 zl-proxyd"
/* How long a stopping proxy waits for a client to close after its last answer went out. */
#define STOP_LINGER_USEC 1000000U

typedef enum ConnState {
        CONN_HEAD, /* reading a request head (or waiting for one on a kept-alive connection) */
        CONN_CONNECT, /* connecting to a backend */
        CONN_PROXY, /* request sent or being sent, response being read and relayed */
        CONN_RELAY, /* bytes both ways: a tcp route or an upgraded connection */
        CONN_CLOSING, /* flushing a final answer, then closing */
        CONN_HANDSHAKE, /* https: the TLS handshake */
        CONN_H2, /* HTTP/2: frames both ways, each stream a child Conn (see proxy-h2.h) */
} ConnState;

typedef struct Conn Conn;

/* A backend connection. Registered in epoll from connect to close; between requests it waits
 * in its worker's idle pool, where a readable event means the backend closed it. */
typedef struct Upstream {
        EvTag tag;
        int fd;
        uint32_t events;
        BackendHealth *backend;
        Conn *conn; /* NULL while idle */
        struct Upstream *next_idle;
        uint64_t idle_since;
        bool reused;
} Upstream;

/* One direction of a relay: leftover bytes first, then splice through a pipe. */
typedef struct RelayDir {
        int pipe[2];
        size_t in_pipe;
        bool eof, shut;
} RelayDir;

struct Conn {
        EvTag tag;
        Worker *worker;
        Conn *prev, *next;
        int fd;
        uint32_t events;
        char peer[INET6_ADDRSTRLEN];
        RouteAddress listen_address; /* to find our listener again in a newer table */
        size_t listener;
        bool tcp;
        bool accounted;
        bool draining;
        bool client_eof; /* the client shut its side after a whole request: answer, then close */
        /* HTTP/1.1 graceful close (the proxy stops, or the listener went away): the request
         * under way is served, with "Connection: close", and no further one is read. */
        bool last_request;
        RouteTable *table;
        const Route *route;
        ConnState state;
        uint64_t deadline;
        uint64_t started;

        ProxyBuf *cin; /* from the client: head then body bytes */
        size_t head_parsed; /* bytes of cin after start the request parser has seen */
        ProxyBuf *uout; /* to the backend: rewritten head then body; data[0..] kept for replay */
        bool replayable;
        ProxyBuf *uin; /* from the backend */
        ProxyBuf *cout; /* to the client */
        Http1Parser req, resp;
        bool req_done, resp_started, resp_done;
        bool client_keep_alive, sent_continue, upgrade;
        bool head_request;

        Upstream *up;
        BackendHealth *tried[TRIED_MAX];
        unsigned n_tried;
        bool counted_active;

        RelayDir c2u, u2c;
        uint64_t bytes_in, bytes_out;

        /* TLS: the client side reads and writes through ssl (conn_fill, conn_flush); what a
         * stalled read or write waits for becomes epoll interest. */
        SSL *ssl;
        ProxyTlsWant tls_read_want, tls_write_want;
        bool secure; /* came over TLS: X-Forwarded-Proto https, HSTS */
        bool maybe_h2c; /* a new plain connection: the HTTP/2 preface is still possible */
        /* HTTP/2: a client connection has h2; each of its streams is a child Conn without a
         * socket, with stream set, whose cin and cout carry HTTP/1.1 for the stream. */
        ProxyH2 *h2;
        ProxyH2Stream *stream;
        /* GOAWAY sent (the proxy stops, or the listener went away): the open streams finish,
         * but by h2_goaway_deadline at the latest, however they progress. */
        uint64_t h2_goaway_deadline;
        /* On the worker's list of connections to run after the current events. */
        bool in_ready;
        Conn *ready_prev, *ready_next;
};

typedef struct IdlePool {
        Upstream *head;
        unsigned n;
} IdlePool;

struct Worker {
        Proxy *proxy;
        unsigned index;
        pthread_t thread;
        bool started;
        int epoll_fd;
        int wake_fd;
        EvTag wake_tag;
        RouteTable *table;
        ProxyListenSet *lset; /* the listeners of table we serve, NULL if superseded already */
        unsigned long generation;
        ProxyPool bufs;
        Http1Limits limits;
        Conn *conns;
        Conn *free_conns;
        unsigned n_free_conns;
        /* Freed during the current epoll batch: events later in the batch may still name them,
         * so they are recycled only after it (their tags' objects are NULL meanwhile). */
        Conn *dead_conns;
        Upstream *dead_upstreams;
        /* Connections with work that no epoll event announces: TLS bytes decrypted ahead, HTTP/2
         * streams and sessions kicked by one another. Run after each batch, in order. */
        Conn *ready_head, *ready_tail;
        unsigned n_ready;
        IdlePool *idle;
        unsigned n_idle;
        uint64_t now;
        uint64_t next_sweep;
        uint64_t rng;
        /* The proxy is stopping: no more accepts; HTTP/2 connections finish their streams. */
        bool stopping;
        uint64_t stop_deadline;
};

static uint64_t rng_next(Worker *w) {
        /* xorshift64*: trace and span ids need uniqueness, not secrecy. */
        w->rng ^= w->rng >> 12;
        w->rng ^= w->rng << 25;
        w->rng ^= w->rng >> 27;
        return w->rng * 0x2545F4914F6CDD1DULL;
}

static void ev_set(Worker *w, int fd, uint32_t *current, uint32_t want, EvTag *tag) {
        struct epoll_event ev = { .events = want, .data.ptr = tag };

        if (*current == want)
                return;
        if (epoll_ctl(w->epoll_fd, EPOLL_CTL_MOD, fd, &ev) >= 0)
                *current = want;
}

static int ev_add(Worker *w, int fd, uint32_t events, EvTag *tag) {
        struct epoll_event ev = { .events = events, .data.ptr = tag };

        return RET_NERRNO(epoll_ctl(w->epoll_fd, EPOLL_CTL_ADD, fd, &ev));
}

/* ---- backends ---------------------------------------------------------------------------- */

static bool backend_tried(const BackendHealth *b, const void *userdata) {
        const Conn *c = userdata;

        for (unsigned i = 0; i < c->n_tried; i++)
                if (c->tried[i] == b)
                        return true;
        return false;
}

static BackendHealth *backend_select(Conn *c, const RouteBackendSet *set) {
        return proxy_backend_select(set, c->worker->now, backend_tried, c);
}

static void backend_failed(Worker *w, BackendHealth *b) {
        proxy_backend_failed(&w->proxy->config, b, w->now);
}

static void upstream_close(Worker *w, Upstream *u) {
        if (!u)
                return;
        u->fd = safe_close(u->fd);
        u->tag.object = NULL;
        u->conn = NULL;
        u->next_idle = w->dead_upstreams;
        w->dead_upstreams = u;
}

static void idle_pool_remove(Worker *w, Upstream *u) {
        IdlePool *pool = &w->idle[u->backend->id];

        for (Upstream **p = &pool->head; *p; p = &(*p)->next_idle)
                if (*p == u) {
                        *p = u->next_idle;
                        pool->n--;
                        return;
                }
}

static int idle_pool_grow(Worker *w, unsigned id) {
        IdlePool *n;

        if (id < w->n_idle)
                return 0;
        n = realloc(w->idle, (id + 16) * sizeof(IdlePool));
        if (!n)
                return -ENOMEM;
        memset(n + w->n_idle, 0, (id + 16 - w->n_idle) * sizeof(IdlePool));
        w->idle = n;
        w->n_idle = id + 16;
        return 0;
}

static void upstream_release(Worker *w, Upstream *u, bool reusable) {
        IdlePool *pool;

        u->conn = NULL;
        /* No cap here: the sweep trims the pool (see max_idle_upstreams). */
        if (!reusable || atomic_load(&w->proxy->stopping) ||
            idle_pool_grow(w, u->backend->id) < 0) {
                upstream_close(w, u);
                return;
        }
        pool = &w->idle[u->backend->id];
        /* Idle: only a close (or stray bytes) from the backend is of interest. In use, the
         * interest is usually the same (see conn_update), so parking costs no epoll_ctl. */
        ev_set(w, u->fd, &u->events, EPOLLIN | EPOLLRDHUP, &u->tag);
        u->idle_since = w->now;
        u->reused = true;
        u->next_idle = pool->head;
        pool->head = u;
        pool->n++;
}

/* Idle connections to backends that no route of the worker's table names any more are closed:
 * a replaced replica's address can come back on another container, and a request must never go
 * out on a connection to the one that is gone. */
static void idle_pool_drop_unrouted(Worker *w) {
        _cleanup_free_ bool *routed = NULL;

        if (w->n_idle == 0)
                return;
        routed = calloc(w->n_idle, sizeof(bool));
        if (!routed)
                return; /* they expire with the idle timeout */
        for (size_t i = 0; w->table && i < w->table->n_routes; i++) {
                const RouteBackendSet *set = &w->table->routes[i].set;

                for (size_t k = 0; k < set->n_backends; k++) {
                        const BackendHealth *b = set->backends[k].health;

                        if (b && b->id < w->n_idle)
                                routed[b->id] = true;
                }
        }
        for (unsigned id = 0; id < w->n_idle; id++) {
                IdlePool *pool = &w->idle[id];

                if (routed[id])
                        continue;
                while (pool->head) {
                        Upstream *u = pool->head;

                        pool->head = u->next_idle;
                        pool->n--;
                        u->next_idle = NULL;
                        upstream_close(w, u);
                }
        }
}

static Upstream *idle_pool_take(Worker *w, BackendHealth *b) {
        IdlePool *pool;
        Upstream *u;

        if (b->id >= w->n_idle)
                return NULL;
        pool = &w->idle[b->id];
        u = pool->head;
        if (u) {
                pool->head = u->next_idle;
                pool->n--;
                u->next_idle = NULL;
        }
        return u;
}

static int upstream_connect(Worker *w, BackendHealth *b, Upstream **ret) {
        Upstream *u;
        int fd, one = 1;

        fd = socket(b->address.sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    IPPROTO_TCP);
        if (fd < 0)
                return -errno;
        (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(fd, (const struct sockaddr *) &b->address.sa, b->address.sa_len) < 0 &&
            errno != EINPROGRESS) {
                int r = -errno;
                safe_close(fd);
                return r;
        }
        u = calloc(1, sizeof *u);
        if (!u) {
                safe_close(fd);
                return -ENOMEM;
        }
        *u = (Upstream){ .tag = { EV_UPSTREAM, u }, .fd = fd, .backend = b };
        if (ev_add(w, fd, 0, &u->tag) < 0) {
                upstream_close(w, u);
                return -errno;
        }
        *ret = u;
        return 0;
}

/* ---- connections ------------------------------------------------------------------------- */

static void conn_free(Conn *c);
static void conn_update(Conn *c);
static void conn_process(Conn *c);
static void conn_start_backend(Conn *c);
static void conn_start_h2(Conn *c);
static void conn_h2_process(Conn *c);
static void conn_stream_output(Conn *c);
static void conn_handshake(Conn *c);
static void conn_stop_linger(Conn *c);
static void on_client(Conn *c, uint32_t events);

static ProxyBuf *buf_ensure(Worker *w, ProxyBuf **b) {
        if (!*b)
                *b = proxy_pool_get(&w->bufs);
        return *b;
}

static void buf_release_if_empty(Worker *w, ProxyBuf **b) {
        if (*b && (*b)->start == (*b)->end)
                *b = proxy_pool_put(&w->bufs, *b);
}

static void stats_add(RouteStats *s, _Atomic uint64_t *field, uint64_t v) {
        if (s && v)
                atomic_fetch_add_explicit(field, v, memory_order_relaxed);
}

static void conn_account(Conn *c, bool error) {
        RouteStats *s = c->route ? c->route->stats : NULL;
        uint64_t lat = c->worker->now - c->started;
        AccessLog *log = c->worker->proxy->access_log;
        /* Bytes of this answer still queued for the client are counted now, and taken off the
         * counter in advance, so they do not count for the next request when they go out. */
        uint64_t queued = c->tcp || c->stream ? 0 : proxy_buf_len(c->cout);
        size_t bucket = 0;

        if (c->accounted)
                return;
        /* The access log gets a copy of what the request left behind: the head we sent the
         * backend (path, traceparent) while uout still holds it, else the parsed target while
         * it still lies in cin; our own answers start cout, a backend's status is its parser's. */
        if (log && (s || !c->tcp) && access_log_sample(log, rng_next(c->worker))) {
                AccessLogEntry *e = access_log_reserve(log, c->worker->index);
                struct timespec ts;

                if (e) {
                        const char *method = c->tcp ? "-" : http_method_str(c->req.method);

                        clock_gettime(CLOCK_REALTIME, &ts);
                        *e = (AccessLogEntry){
                                .realtime_usec = (uint64_t) ts.tv_sec * 1000000U +
                                                 (uint64_t) ts.tv_nsec / 1000U,
                                .duration_usec = c->started ? lat : 0,
                                .bytes_in = c->bytes_in,
                                .bytes_out = c->bytes_out + queued,
                        };
                        access_log_copy(e->route, sizeof e->route, c->route ? c->route->name : NULL,
                                        c->route ? strlen(c->route->name) : 0);
                        access_log_copy(e->client, sizeof e->client, c->peer, strlen(c->peer));
                        access_log_copy(e->method, sizeof e->method, method, strlen(method));
                        access_log_copy(e->path, sizeof e->path, NULL, 0);
                        access_log_copy(e->traceparent, sizeof e->traceparent, NULL, 0);
                        access_log_copy(e->backend, sizeof e->backend,
                                        c->up ? c->up->backend->address.text : NULL,
                                        c->up ? strlen(c->up->backend->address.text) : 0);
                        if (c->tcp)
                                e->status = 0;
                        else if (c->up)
                                e->status = c->resp_started ? c->resp.status : 0;
                        else if (proxy_buf_len(c->cout) >= 12 &&
                                 memcmp(c->cout->data + c->cout->start, "HTTP/1.1 ", 9) == 0)
                                e->status = (unsigned) atoi(c->cout->data + c->cout->start + 9);
                        if (!c->tcp &&
                            !(c->uout &&
                              access_log_entry_from_head(e, method, c->uout->data, c->uout->end)) &&
                            c->cin && c->req.url.base >= c->cin->data &&
                            c->req.url.base + c->req.url.len <= c->cin->data + c->cin->capacity)
                                access_log_copy(e->path, sizeof e->path, c->req.url.base,
                                                c->req.url.len);
                        access_log_commit(log, c->worker->index);
                }
        }
        if (!s) {
                c->bytes_in = 0;
                c->bytes_out = 0 - queued;
                return;
        }
        c->accounted = true;
        while (bucket < PROXY_LATENCY_BUCKETS - 1 && lat > proxy_latency_bounds_usec[bucket])
                bucket++;
        stats_add(s, &s->requests, 1);
        stats_add(s, &s->errors, error);
        stats_add(s, &s->bytes_in, c->bytes_in);
        stats_add(s, &s->bytes_out, c->bytes_out + queued);
        stats_add(s, &s->latency[bucket], 1);
        c->bytes_in = 0;
        c->bytes_out = 0 - queued;
}

static void conn_backend_done(Conn *c, bool reusable) {
        if (c->counted_active && c->up) {
                atomic_fetch_sub_explicit(&c->up->backend->active, 1, memory_order_relaxed);
                c->counted_active = false;
        }
        if (c->up) {
                upstream_release(c->worker, c->up, reusable);
                c->up = NULL;
        }
}

static void relay_dir_done(RelayDir *d) {
        d->pipe[0] = safe_close(d->pipe[0]);
        d->pipe[1] = safe_close(d->pipe[1]);
}

/* Runs c after the current batch of events (see Worker.ready_head). */
static void conn_schedule(Conn *c) {
        Worker *w = c->worker;

        if (c->in_ready)
                return;
        c->in_ready = true;
        c->ready_next = NULL;
        c->ready_prev = w->ready_tail;
        if (w->ready_tail)
                w->ready_tail->ready_next = c;
        else
                w->ready_head = c;
        w->ready_tail = c;
        w->n_ready++;
}

static void conn_unschedule(Conn *c) {
        Worker *w = c->worker;

        if (!c->in_ready)
                return;
        if (c->ready_prev)
                c->ready_prev->ready_next = c->ready_next;
        else
                w->ready_head = c->ready_next;
        if (c->ready_next)
                c->ready_next->ready_prev = c->ready_prev;
        else
                w->ready_tail = c->ready_prev;
        c->in_ready = false;
        w->n_ready--;
}

static void conn_free(Conn *c) {
        Worker *w = c->worker;

        /* A request or relay cut short counts as an error. */
        if (c->route && c->started)
                conn_account(c, true);
        conn_backend_done(c, false);
        relay_dir_done(&c->c2u);
        relay_dir_done(&c->u2c);
        conn_unschedule(c);
        if (c->stream) {
                /* A stream's request failed on its own: the stream is reset. */
                proxy_h2_stream_detach(c->stream);
                c->stream = NULL;
        }
        /* The streams' requests (child Conns) go with the session. */
        c->h2 = proxy_h2_free(c->h2);
        if (c->ssl) {
                proxy_tls_session_free(c->ssl);
                c->ssl = NULL;
        }
        safe_close(c->fd);
        c->cin = proxy_pool_put(&w->bufs, c->cin);
        c->cout = proxy_pool_put(&w->bufs, c->cout);
        c->uin = proxy_pool_put(&w->bufs, c->uin);
        c->uout = proxy_pool_put(&w->bufs, c->uout);
        c->table = route_table_unref(c->table);
        if (c->prev)
                c->prev->next = c->next;
        else
                w->conns = c->next;
        if (c->next)
                c->next->prev = c->prev;
        c->fd = -EBADF;
        c->tag.object = NULL;
        c->next = w->dead_conns;
        w->dead_conns = c;
}

/* After a batch: nothing refers to the dead any more. */
static void worker_reap(Worker *w) {
        while (w->dead_conns) {
                Conn *c = w->dead_conns;
                w->dead_conns = c->next;
                if (w->n_free_conns < 256) {
                        c->next = w->free_conns;
                        w->free_conns = c;
                        w->n_free_conns++;
                } else
                        free(c);
        }
        while (w->dead_upstreams) {
                Upstream *u = w->dead_upstreams;
                w->dead_upstreams = u->next_idle;
                free(u);
        }
}

/* Writes what a buffer holds; -errno on a broken connection. */
static int buf_flush(int fd, ProxyBuf *b, uint64_t *counter) {
        while (b && b->start < b->end) {
                ssize_t n = send(fd, b->data + b->start, b->end - b->start, MSG_NOSIGNAL);
                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                return 0;
                        return -errno;
                }
                b->start += n;
                if (counter)
                        *counter += n;
        }
        return 0;
}

static int buf_fill(int fd, ProxyBuf *b) {
        ssize_t n;

        if (proxy_buf_space(b) == 0)
                proxy_buf_compact(b);
        if (proxy_buf_space(b) == 0)
                return -ENOBUFS;
        n = recv(fd, b->data + b->end, proxy_buf_space(b), 0);
        if (n < 0)
                return errno == EAGAIN || errno == EINTR ? -EAGAIN : -errno;
        b->end += n;
        return (int) n;
}

/* buf_fill from the client, through TLS when there is. A TLS read takes at most a record:
 * keep reading until the socket or the buffer runs dry, so one event moves everything. */
static int conn_fill(Conn *c, ProxyBuf *b) {
        ssize_t n;
        size_t total = 0;

        if (!c->ssl)
                return buf_fill(c->fd, b);
        if (proxy_buf_space(b) == 0)
                proxy_buf_compact(b);
        if (proxy_buf_space(b) == 0)
                return -ENOBUFS;
        c->tls_read_want = 0;
        while (proxy_buf_space(b) > 0) {
                n = proxy_tls_read(c->ssl, b->data + b->end, proxy_buf_space(b), &c->tls_read_want);
                if (n <= 0)
                        return total > 0 ? (int) total : (int) n;
                c->tls_read_want = 0;
                b->end += n;
                total += n;
        }
        return (int) total;
}

/* buf_flush to the client, through TLS when there is. */
static int conn_flush(Conn *c, ProxyBuf *b, uint64_t *counter) {
        if (!c->ssl)
                return buf_flush(c->fd, b, counter);
        c->tls_write_want = 0;
        while (b && b->start < b->end) {
                ssize_t n = proxy_tls_write(c->ssl, b->data + b->start, b->end - b->start,
                                            &c->tls_write_want);
                if (n == -EAGAIN)
                        return 0;
                if (n < 0)
                        return (int) n;
                c->tls_write_want = 0;
                b->start += n;
                if (counter)
                        *counter += n;
        }
        return 0;
}

/* Whether a buffer can take more bytes (after compacting). */
static bool buf_has_room(const ProxyBuf *b) {
        return !b || proxy_buf_len(b) < b->capacity;
}

static bool buf_append(ProxyBuf *b, const void *p, size_t n) {
        if (proxy_buf_space(b) < n)
                return false;
        memcpy(b->data + b->end, p, n);
        b->end += n;
        return true;
}

static bool buf_append_slice(ProxyBuf *b, Http1Slice s) {
        return buf_append(b, s.base, s.len);
}

static bool buf_appendf(ProxyBuf *b, const char *fmt, ...) _printf_(2, 3);
static bool buf_appendf(ProxyBuf *b, const char *fmt, ...) {
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(b->data + b->end, proxy_buf_space(b), fmt, ap);
        va_end(ap);
        if (n < 0 || (size_t) n >= proxy_buf_space(b))
                return false;
        b->end += n;
        return true;
}

/* The per-request heads are built with these rather than buf_appendf: vsnprintf's format
 * parsing was the largest user-space cost after http_parser. */
static bool buf_append_str(ProxyBuf *b, const char *s) {
        return buf_append(b, s, strlen(s));
}

static bool buf_append_uint(ProxyBuf *b, uint64_t v) {
        char digits[20];
        size_t i = sizeof digits;

        do {
                digits[--i] = (char) ('0' + v % 10);
                v /= 10;
        } while (v > 0);
        return buf_append(b, digits + i, sizeof digits - i);
}

/* Lower-case hex, zero-padded to 16 digits (PRIx64 with %016). */
static void hex16(char dst[static 16], uint64_t v) {
        static const char xdigits[] = "0123456789abcdef";

        for (size_t i = 16; i > 0; i--, v >>= 4)
                dst[i - 1] = xdigits[v & 0xf];
}

static const char *status_reason(unsigned status) {
        switch (status) {
        case 400:
                return "Bad Request";
        case 404:
                return "Not Found";
        case 408:
                return "Request Timeout";
        case 413:
                return "Content Too Large";
        case 417:
                return "Expectation Failed";
        case 502:
                return "Bad Gateway";
        case 503:
                return "Service Unavailable";
        case 504:
                return "Gateway Timeout";
        default:
                return "Error";
        }
}

/* An answer of our own. The connection closes after it unless the request was read whole and
 * both sides can keep it. */
static void conn_answer(Conn *c, unsigned status) {
        Worker *w = c->worker;
        /* A stream's answer ends its stream: there is no next request on it. */
        bool keep = c->req_done && c->client_keep_alive && !c->resp_started && !c->stream;
        char body[96], hsts[80] = "";
        int n;

        if (c->tcp || c->resp_started || !buf_ensure(w, &c->cout)) {
                conn_free(c);
                return;
        }
        conn_backend_done(c, false);
        n = snprintf(body, sizeof body, "%u %s\n", status, status_reason(status));
        if (c->secure && w->proxy->config.hsts_max_age_sec > 0)
                snprintf(hsts, sizeof hsts, "Strict-Transport-Security: max-age=%" PRIu64 "\r\n",
                         w->proxy->config.hsts_max_age_sec);
        c->cout->start = c->cout->end = 0;
        (void) buf_appendf(c->cout,
                           "HTTP/1.1 %u %s\r\nServer: zl-proxyd\r\n%sContent-Type: text/plain\r\n"
                           "Content-Length: %d\r\nConnection: %s\r\n\r\n%s",
                           status, status_reason(status), hsts, n, keep ? "keep-alive" : "close",
                           c->head_request ? "" : body);
        c->resp_started = true;
        conn_account(c, status >= 500 || status == 400);
        if (!keep) {
                c->state = CONN_CLOSING;
                c->deadline = w->now + w->proxy->config.header_timeout_usec;
                return conn_process(c);
        }
        if (c->cin) {
                c->cin->start += c->head_parsed;
                c->head_parsed = 0;
        }
        c->state = CONN_HEAD;
        c->resp_done = true;
        conn_process(c);
}

/* Copies the request head for the backend, with hop-by-hop headers dropped and the forwarding
 * headers added. */
static int build_request_head(Conn *c, Http1Slice host) {
        Http1Parser *p = &c->req;
        ProxyBuf *b = c->uout;
        const Http1Header *xff = NULL, *via = NULL, *tp = NULL;
        Worker *w = c->worker;
        bool ok;

        ok = buf_append_str(b, http_method_str(p->method)) && buf_append(b, " ", 1) &&
             buf_append_slice(b, p->url) && buf_append(b, " HTTP/1.1\r\n", 11);
        for (size_t i = 0; ok && i < p->n_headers; i++) {
                const Http1Header *h = &p->headers[i];
                Http1Slice n = h->name;

                if (http1_slice_eq_lower(n, "connection") ||
                    http1_slice_eq_lower(n, "keep-alive") ||
                    http1_slice_eq_lower(n, "proxy-connection") || http1_slice_eq_lower(n, "te") ||
                    http1_slice_eq_lower(n, "upgrade") || http1_slice_eq_lower(n, "expect") ||
                    http1_slice_eq_lower(n, "x-forwarded-proto") ||
                    http1_slice_eq_lower(n, "x-forwarded-host"))
                        continue;
                if (http1_slice_eq_lower(n, "x-forwarded-for")) {
                        xff = h;
                        continue;
                }
                if (http1_slice_eq_lower(n, "via")) {
                        via = h;
                        continue;
                }
                if (http1_slice_eq_lower(n, "traceparent")) {
                        tp = h;
                        continue;
                }
                ok = buf_append_slice(b, n) && buf_append(b, ": ", 2) &&
                     buf_append_slice(b, h->value) && buf_append(b, "\r\n", 2);
        }
        if (!ok)
                return -ENOBUFS;

        ok = buf_append(b, "X-Forwarded-For: ", 17) &&
             (!xff || (buf_append_slice(b, xff->value) && buf_append(b, ", ", 2))) &&
             buf_append_str(b, c->peer) && buf_append(b, "\r\n", 2) &&
             (c->secure ? buf_append(b, "X-Forwarded-Proto: https\r\n", 26)
                        : buf_append(b, "X-Forwarded-Proto: http\r\n", 25));
        if (ok && host.len > 0)
                ok = buf_append(b, "X-Forwarded-Host: ", 18) && buf_append_slice(b, host) &&
                     buf_append(b, "\r\n", 2);
        if (ok)
                ok = via ? buf_append(b, "Via: ", 5) && buf_append_slice(b, via->value) &&
                                     buf_append(b, ", " VIA_TOKEN "\r\n", 2 + strlen(VIA_TOKEN) + 2)
                         : buf_append(b, "Via: " VIA_TOKEN "\r\n", 5 + strlen(VIA_TOKEN) + 2);

        /* W3C trace context: keep a valid incoming trace id and flags, with our own span as the
         * parent; start a trace otherwise. */
        if (ok) {
                char trace[32], flags[2] = { '0', '1' }, span[16];
                bool valid = tp && tp->value.len == 55 && tp->value.base[2] == '-' &&
                             tp->value.base[35] == '-' && tp->value.base[52] == '-' &&
                             strneq(tp->value.base, "00", 2);

                for (size_t i = 0; valid && i < 55; i++)
                        if (i != 2 && i != 35 && i != 52 &&
                            !strchr("0123456789abcdef", tp->value.base[i]))
                                valid = false;
                if (valid && (strspn(tp->value.base + 3, "0") >= 32 ||
                              strspn(tp->value.base + 36, "0") >= 16))
                        valid = false;
                if (valid) {
                        memcpy(trace, tp->value.base + 3, 32);
                        memcpy(flags, tp->value.base + 53, 2);
                } else {
                        hex16(trace, rng_next(w));
                        hex16(trace + 16, rng_next(w));
                }
                hex16(span, rng_next(w) | 1);
                ok = buf_append(b, "traceparent: 00-", 16) && buf_append(b, trace, 32) &&
                     buf_append(b, "-", 1) && buf_append(b, span, 16) && buf_append(b, "-", 1) &&
                     buf_append(b, flags, 2) && buf_append(b, "\r\n", 2);
        }
        if (ok)
                ok = c->upgrade ? buf_appendf(b, "Connection: upgrade\r\nUpgrade: %.*s\r\n\r\n",
                                              (int) http1_find_header(p, "upgrade")->value.len,
                                              http1_find_header(p, "upgrade")->value.base)
                                : buf_append(b, "Connection: keep-alive\r\n\r\n", 26);
        return ok ? 0 : -ENOBUFS;
}

/* Host and path of the request target (origin form, or absolute form whose authority wins). */
static void request_target(const Http1Parser *p, Http1Slice *ret_host, Http1Slice *ret_path) {
        const Http1Header *h = http1_find_header(p, "host");
        Http1Slice url = p->url;

        *ret_host = h ? h->value : (Http1Slice){};
        *ret_path = url;
        if (url.len > 7 && strncasecmp(url.base, "http://", 7) == 0) {
                const char *a = url.base + 7, *end = url.base + url.len;
                const char *slash = memchr(a, '/', end - a) ?: end;
                *ret_host = (Http1Slice){ a, slash - a };
                *ret_path = slash < end ? (Http1Slice){ slash, end - slash } : HTTP1_SLICE("/");
        }
}

static void conn_request_head(Conn *c) {
        Worker *w = c->worker;
        Http1Slice host, path;
        const Http1Header *up;
        int r;

        /* Routes come from the newest table for each new request, unless the connection is
         * being closed: then its listener may be gone from the newest one. */
        if (c->table != w->table && !c->last_request) {
                route_table_unref(c->table);
                c->table = route_table_ref(w->table);
                if (route_table_find_listener(c->table, &c->listen_address, &c->listener) < 0)
                        c->listener = SIZE_MAX;
        }
        c->client_keep_alive = c->req.keep_alive && !c->last_request;
        c->req_done = c->req.state == HTTP1_STATE_DONE;
        c->head_request = c->req.method == HTTP_HEAD;
        up = http1_find_header(&c->req, "upgrade");
        c->upgrade = c->req.upgrade && up && c->req.method != HTTP_CONNECT;

        request_target(&c->req, &host, &path);
        c->route = c->listener < c->table->n_listeners
                           ? route_table_match(c->table, c->listener, host.base, host.len,
                                               path.base, path.len)
                           : NULL;
        c->bytes_in += c->req.head_size;
        if (c->req.method == HTTP_CONNECT) {
                c->client_keep_alive = false;
                return conn_answer(c, 400);
        }
        if (!c->route)
                return conn_answer(c, 404);
        if (c->req.expect_other)
                return conn_answer(c, 417);

        if (!buf_ensure(w, &c->uout))
                return conn_free(c);
        c->uout->start = c->uout->end = 0;
        r = build_request_head(c, host);
        if (r < 0) {
                c->client_keep_alive = false;
                return conn_answer(c, 400);
        }
        c->replayable = true;
        /* The head now lives in uout; drop it from cin so cin holds body bytes only. */
        c->cin->start += c->head_parsed;
        c->head_parsed = 0;
        c->n_tried = 0;
        conn_start_backend(c);
}

static void conn_start_backend(Conn *c) {
        Worker *w = c->worker;
        BackendHealth *b;
        Upstream *u = NULL;
        int r;

        for (;;) {
                b = backend_select(c, &c->route->set);
                if (!b || c->n_tried > w->proxy->config.retries) {
                        c->client_keep_alive = c->client_keep_alive && c->req_done;
                        return conn_answer(c, 503);
                }
                if (c->n_tried < TRIED_MAX)
                        c->tried[c->n_tried] = b;
                c->n_tried++;

                u = idle_pool_take(w, b);
                if (u)
                        break;
                r = upstream_connect(w, b, &u);
                if (r >= 0)
                        break;
                if (r == -ENOMEM || r == -EMFILE || r == -ENFILE)
                        return conn_answer(c, 503);
                backend_failed(w, b);
        }

        u->conn = c;
        c->up = u;
        atomic_fetch_add_explicit(&b->active, 1, memory_order_relaxed);
        c->counted_active = true;
        c->state = u->reused ? CONN_PROXY : CONN_CONNECT;
        c->uout->start = 0; /* (re)send the whole head */
        c->resp_started = c->resp_done = false;
        http1_parser_init(&c->resp, true, &w->limits);
        c->resp.limits.max_body_size = UINT64_MAX;
        c->resp.no_body = c->head_request;
        c->deadline = w->now + w->proxy->config.backend_timeout_usec;
        if (c->req.expect_continue && !c->req_done && !c->sent_continue &&
            buf_ensure(w, &c->cout)) {
                /* We drop Expect towards the backend and invite the body ourselves. */
                (void) buf_append(c->cout, "HTTP/1.1 100 Continue\r\n\r\n", 25);
                c->sent_continue = true;
        }
        conn_process(c);
}

/* A backend connection failed before any of its answer arrived: try the next backend if the
 * request can still be replayed, else answer. */
static void conn_backend_failed(Conn *c, bool count_failure, unsigned status) {
        Worker *w = c->worker;
        bool stale = c->up && c->up->reused;

        if (count_failure && c->up && !stale)
                backend_failed(w, c->up->backend);
        conn_backend_done(c, false);
        if (c->resp_started || !c->replayable)
                return c->resp_started ? conn_free(c) : conn_answer(c, status);
        if (stale && c->n_tried > 0)
                c->n_tried--; /* a kept-alive connection the backend had closed: not a failure */
        conn_start_backend(c);
}

/* Feeds request body bytes from cin to uout, as much as uout takes. */
static int pump_request_body(Conn *c) {
        while (!c->req_done && proxy_buf_len(c->cin) > 0) {
                size_t room, n;
                int r;

                if (proxy_buf_space(c->uout) == 0) {
                        if (c->uout->start == 0)
                                return 0;
                        proxy_buf_compact(c->uout);
                        c->replayable = false;
                }
                room = MIN(proxy_buf_space(c->uout), proxy_buf_len(c->cin));
                r = http1_parser_feed(&c->req, c->cin->data + c->cin->start, room, &n);
                if (r < 0)
                        return r;
                (void) buf_append(c->uout, c->cin->data + c->cin->start, n);
                c->cin->start += n;
                c->bytes_in += n;
                if (r == HTTP1_DONE)
                        c->req_done = true;
        }
        return 0;
}

static void response_head(Conn *c) {
        Http1Parser *p = &c->resp;
        ProxyBuf *b = c->cout;
        uint64_t hsts =
                c->secure && p->status != 101 ? c->worker->proxy->config.hsts_max_age_sec : 0;
        bool keep, ok;

        c->resp_started = true;
        keep = c->client_keep_alive && !p->body_until_eof;
        if (p->status == 101)
                keep = true;
        ok = buf_append(b, "HTTP/1.1 ", 9) && buf_append_uint(b, p->status) &&
             buf_append(b, " ", 1) && buf_append_slice(b, p->reason) && buf_append(b, "\r\n", 2);
        for (size_t i = 0; ok && i < p->n_headers; i++) {
                const Http1Header *h = &p->headers[i];
                if (http1_slice_eq_lower(h->name, "connection") ||
                    http1_slice_eq_lower(h->name, "keep-alive") ||
                    (p->status != 101 && http1_slice_eq_lower(h->name, "upgrade")))
                        continue;
                /* The backend's own HSTS policy stands. */
                if (hsts > 0 && http1_slice_eq_lower(h->name, "strict-transport-security"))
                        hsts = 0;
                ok = buf_append_slice(b, h->name) && buf_append(b, ": ", 2) &&
                     buf_append_slice(b, h->value) && buf_append(b, "\r\n", 2);
        }
        if (ok && hsts > 0)
                ok = buf_append(b, "Strict-Transport-Security: max-age=", 35) &&
                     buf_append_uint(b, hsts) && buf_append(b, "\r\n", 2);
        if (ok && p->status == 101)
                ok = buf_append(b, "Connection: upgrade\r\n\r\n", 23);
        else if (ok)
                ok = keep ? buf_append_str(b,
                                           "Via: " VIA_TOKEN "\r\nConnection: keep-alive\r\n\r\n")
                          : buf_append_str(b, "Via: " VIA_TOKEN "\r\nConnection: close\r\n\r\n");
        if (!ok) {
                c->resp_started = false;
                return conn_answer(c, 502);
        }
        if (!keep)
                c->client_keep_alive = false;
}

static void conn_enter_relay(Conn *c);

static void conn_request_finished(Conn *c) {
        Worker *w = c->worker;
        bool reusable = c->resp.keep_alive && !c->resp.body_until_eof && c->req_done &&
                        proxy_buf_len(c->uin) == 0 && c->resp.state == HTTP1_STATE_DONE;

        conn_account(c, c->resp.status >= 500);
        if (c->up)
                proxy_backend_succeeded(c->up->backend);
        conn_backend_done(c, reusable);
        buf_release_if_empty(w, &c->uin);
        c->resp_done = true;
}

/* Moves response bytes from uin to cout through the response parser. */
static int pump_response(Conn *c) {
        Worker *w = c->worker;

        while (!c->resp_done && proxy_buf_len(c->uin) > 0) {
                size_t n;
                int r;

                if (!buf_ensure(w, &c->cout))
                        return -ENOMEM;
                if (c->resp.state == HTTP1_STATE_HEAD) {
                        r = http1_parser_feed(&c->resp, c->uin->data + c->uin->start,
                                              proxy_buf_len(c->uin), &n);
                        if (r < 0)
                                return r;
                        if (r == HTTP1_NEED_MORE) {
                                c->uin->start += n;
                                continue;
                        }
                        /* The head's slices point into uin: copy it out before consuming. */
                        if (c->resp.status / 100 == 1 && c->resp.status != 101) {
                                if (!(c->resp.status == 100 && c->sent_continue)) {
                                        (void) buf_appendf(c->cout, "HTTP/1.1 %u %s\r\n\r\n",
                                                           c->resp.status,
                                                           http_status_str(c->resp.status));
                                }
                                c->uin->start += n;
                                http1_parser_init(&c->resp, true, &w->limits);
                                c->resp.limits.max_body_size = UINT64_MAX;
                                c->resp.no_body = c->head_request;
                                continue;
                        }
                        if (proxy_buf_len(c->cout) > 0 && c->cout->start > 0)
                                proxy_buf_compact(c->cout);
                        response_head(c);
                        if (!c->resp_started)
                                return -EPROTO;
                        c->uin->start += n;
                        c->replayable = false;
                        if (c->resp.status == 101) {
                                if (!c->upgrade)
                                        return -EPROTO;
                                conn_enter_relay(c);
                                return 1;
                        }
                        if (c->resp.state == HTTP1_STATE_DONE)
                                conn_request_finished(c);
                        continue;
                }
                if (proxy_buf_space(c->cout) == 0) {
                        if (c->cout->start == 0)
                                return 0; /* full: wait for the client to drain it */
                        proxy_buf_compact(c->cout);
                }
                r = http1_parser_feed(&c->resp, c->uin->data + c->uin->start,
                                      MIN(proxy_buf_space(c->cout), proxy_buf_len(c->uin)), &n);
                if (r < 0)
                        return r;
                (void) buf_append(c->cout, c->uin->data + c->uin->start, n);
                c->uin->start += n;
                if (r == HTTP1_DONE)
                        conn_request_finished(c);
        }
        return 0;
}

static void conn_next_request(Conn *c) {
        Worker *w = c->worker;

        c->state = CONN_HEAD;
        c->route = NULL;
        c->started = 0;
        c->accounted = false;
        c->req_done = c->resp_done = c->resp_started = false;
        c->sent_continue = c->upgrade = false;
        c->uout = proxy_pool_put(&w->bufs, c->uout);
        http1_parser_init(&c->req, false, &w->limits);
        c->head_parsed = 0;
        if (proxy_buf_len(c->cin) == 0) {
                c->cin = proxy_pool_put(&w->bufs, c->cin);
                c->deadline = w->now + w->proxy->config.idle_timeout_usec;
        } else {
                proxy_buf_compact(c->cin);
                c->deadline = w->now + w->proxy->config.header_timeout_usec;
        }
}

/* Returns 0 when more bytes are needed, 1 when the request went on (c may be gone). */
static int conn_read_head(Conn *c) {
        Worker *w = c->worker;
        size_t n;
        int r;

        if (proxy_buf_len(c->cin) == c->head_parsed)
                return 0;
        if (c->maybe_h2c) {
                /* h2c with prior knowledge: the connection starts with the HTTP/2 preface. */
                static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
                size_t k = MIN(proxy_buf_len(c->cin), sizeof preface - 1);

                if (memcmp(c->cin->data + c->cin->start, preface, k) != 0)
                        c->maybe_h2c = false;
                else if (k < sizeof preface - 1)
                        return 0;
                else {
                        c->maybe_h2c = false;
                        conn_start_h2(c);
                        return 1;
                }
        }
        if (!c->started) {
                c->started = w->now;
                c->deadline = w->now + w->proxy->config.header_timeout_usec;
        }
        r = http1_parser_feed(&c->req, c->cin->data + c->cin->start + c->head_parsed,
                              proxy_buf_len(c->cin) - c->head_parsed, &n);
        if (r < 0) {
                c->client_keep_alive = false;
                c->req_done = false;
                /* Every malformed head is 400; a body announced over the limit is 413. */
                conn_answer(c, r == -EFBIG ? 413 : 400);
                return 1;
        }
        c->head_parsed += n;
        if (r == HTTP1_NEED_MORE) {
                if (proxy_buf_space(c->cin) == 0 && c->cin->start > 0)
                        proxy_buf_compact(c->cin);
                return 0;
        }
        conn_request_head(c);
        return 1;
}

/* ---- relay (tcp routes and upgraded connections) ----------------------------------------- */

static int relay_dir_init(RelayDir *d) {
        if (pipe2(d->pipe, O_NONBLOCK | O_CLOEXEC) < 0)
                return -errno;
        (void) fcntl(d->pipe[1], F_SETPIPE_SZ, PIPE_SIZE);
        return 0;
}

static void conn_enter_relay(Conn *c) {
        Worker *w = c->worker;

        c->state = CONN_RELAY;
        c->deadline = w->now + w->proxy->config.idle_timeout_usec;
        /* Spliced through pipes, unless TLS needs the bytes in user space (conn_relay_copy). */
        if (!c->ssl && (relay_dir_init(&c->c2u) < 0 || relay_dir_init(&c->u2c) < 0)) {
                c->resp_started = true;
                return conn_free(c);
        }
        /* Bytes already read past the heads go first: client bytes after the request head,
         * backend bytes after the 101. */
        if (proxy_buf_len(c->cin) > c->head_parsed && buf_ensure(w, &c->uout)) {
                proxy_buf_compact(c->uout);
                (void) buf_append(c->uout, c->cin->data + c->cin->start, proxy_buf_len(c->cin));
                c->cin->start = c->cin->end;
        }
        if (proxy_buf_len(c->uin) > 0 && buf_ensure(w, &c->cout)) {
                proxy_buf_compact(c->cout);
                if (!buf_append(c->cout, c->uin->data + c->uin->start, proxy_buf_len(c->uin))) {
                        c->resp_started = true;
                        return conn_free(c);
                }
                c->uin->start = c->uin->end;
        }
}

/* One direction: pending bytes, then splice src -> pipe -> dst. Returns < 0 when broken. */
static int relay_pump(Conn *c, RelayDir *d, int src, int dst, ProxyBuf *pending,
                      uint64_t *counter) {
        int r;

        r = buf_flush(dst, pending, counter);
        if (r < 0)
                return r;
        if (proxy_buf_len(pending) > 0)
                return 0;
        for (;;) {
                ssize_t n;
                bool progress = false;

                if (!d->eof && d->in_pipe < PIPE_SIZE) {
                        n = splice(src, NULL, d->pipe[1], NULL, PIPE_SIZE - d->in_pipe,
                                   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
                        if (n == 0)
                                d->eof = true;
                        else if (n > 0) {
                                d->in_pipe += n;
                                progress = true;
                        } else if (errno != EAGAIN && errno != EINTR)
                                return -errno;
                }
                if (d->in_pipe > 0) {
                        n = splice(d->pipe[0], NULL, dst, NULL, d->in_pipe,
                                   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
                        if (n > 0) {
                                d->in_pipe -= n;
                                if (counter)
                                        *counter += n;
                                progress = true;
                        } else if (n < 0 && errno != EAGAIN && errno != EINTR)
                                return -errno;
                }
                if (!progress)
                        break;
        }
        if (d->eof && d->in_pipe == 0 && !d->shut) {
                (void) shutdown(dst, SHUT_WR);
                d->shut = true;
        }
        return 0;
}

/* The relay of a TLS client: buffered copies both ways (uout and cout). */
static int conn_relay_copy(Conn *c) {
        Worker *w = c->worker;
        int r;

        if (!buf_ensure(w, &c->uout) || !buf_ensure(w, &c->cout))
                return -ENOMEM;
        if (!c->c2u.eof) {
                r = conn_fill(c, c->uout);
                if (r == 0)
                        c->c2u.eof = true;
                else if (r < 0 && r != -EAGAIN && r != -ENOBUFS)
                        return r;
        }
        r = buf_flush(c->up->fd, c->uout, &c->bytes_in);
        if (r < 0)
                return r;
        if (c->c2u.eof && proxy_buf_len(c->uout) == 0 && !c->c2u.shut) {
                (void) shutdown(c->up->fd, SHUT_WR);
                c->c2u.shut = true;
        }
        if (!c->u2c.eof) {
                r = buf_fill(c->up->fd, c->cout);
                if (r == 0)
                        c->u2c.eof = true;
                else if (r < 0 && r != -EAGAIN && r != -ENOBUFS)
                        return r;
        }
        r = conn_flush(c, c->cout, &c->bytes_out);
        if (r < 0)
                return r;
        if (c->u2c.eof && proxy_buf_len(c->cout) == 0 && !c->u2c.shut) {
                proxy_tls_shutdown(c->ssl);
                (void) shutdown(c->fd, SHUT_WR);
                c->u2c.shut = true;
        }
        return 0;
}

static void conn_relay(Conn *c) {
        Worker *w = c->worker;
        int r;

        if (c->ssl)
                r = conn_relay_copy(c);
        else {
                r = relay_pump(c, &c->c2u, c->fd, c->up->fd, c->uout, &c->bytes_in);
                if (r >= 0)
                        r = relay_pump(c, &c->u2c, c->up->fd, c->fd, c->cout, &c->bytes_out);
        }
        if (r < 0 || (c->c2u.shut && c->u2c.shut)) {
                conn_account(c, r < 0);
                c->state = CONN_CLOSING;
                c->resp_started = true;
                if (c->up)
                        proxy_backend_succeeded(c->up->backend);
                return conn_free(c);
        }
        c->deadline = w->now + w->proxy->config.idle_timeout_usec;
        conn_update(c);
}

/* ---- event handling ----------------------------------------------------------------------- */

static void conn_update(Conn *c) {
        Worker *w = c->worker;
        uint32_t cev = 0, uev = 0;

        switch (c->state) {
        case CONN_HEAD:
                if (proxy_buf_len(c->cout) == 0)
                        cev |= EPOLLIN;
                break;
        case CONN_CONNECT:
                uev |= EPOLLOUT;
                break;
        case CONN_PROXY:
                /* Reading goes on after the request body, into cin (a pipelined request, or
                 * the client closing), so the interest does not flap with every request. */
                if (!c->client_eof &&
                    (!c->cin || proxy_buf_space(c->cin) > 0 || c->cin->start > 0) &&
                    (c->req_done || proxy_buf_space(c->uout) > 0 || c->uout->start > 0))
                        cev |= EPOLLIN;
                if (proxy_buf_len(c->uout) > 0)
                        uev |= EPOLLOUT;
                if (!c->resp_done && (!c->cout || proxy_buf_len(c->cout) < BUF_SIZE / 2))
                        uev |= EPOLLIN | EPOLLRDHUP; /* as when idle: no change on release */
                break;
        case CONN_RELAY:
                if (c->ssl) {
                        if (!c->c2u.eof && buf_has_room(c->uout))
                                cev |= EPOLLIN;
                        if (!c->u2c.eof && buf_has_room(c->cout))
                                uev |= EPOLLIN;
                        if (proxy_buf_len(c->uout) > 0)
                                uev |= EPOLLOUT;
                        break;
                }
                if (!c->c2u.eof && c->c2u.in_pipe < PIPE_SIZE && proxy_buf_len(c->uout) == 0)
                        cev |= EPOLLIN;
                if (!c->u2c.eof && c->u2c.in_pipe < PIPE_SIZE && proxy_buf_len(c->cout) == 0)
                        uev |= EPOLLIN;
                if (c->c2u.in_pipe > 0 || proxy_buf_len(c->uout) > 0)
                        uev |= EPOLLOUT;
                break;
        case CONN_CLOSING:
                if (c->draining)
                        cev |= EPOLLIN;
                break;
        case CONN_HANDSHAKE:
                cev |= c->tls_read_want == PROXY_TLS_WANT_WRITE ? EPOLLOUT : EPOLLIN;
                break;
        case CONN_H2:
                if (proxy_h2_want_read(c->h2) && buf_has_room(c->cin))
                        cev |= EPOLLIN;
                break;
        }
        if (proxy_buf_len(c->cout) > 0 || (c->state == CONN_RELAY && c->u2c.in_pipe > 0))
                cev |= EPOLLOUT;
        if (c->ssl && c->state != CONN_HANDSHAKE) {
                /* A TLS read may have to write first, and a write to read. */
                if (c->tls_read_want == PROXY_TLS_WANT_WRITE)
                        cev |= EPOLLOUT;
                if (c->tls_write_want == PROXY_TLS_WANT_READ)
                        cev |= EPOLLIN;
                /* Bytes decrypted ahead wait in the session, where epoll does not see them. */
                if ((cev & EPOLLIN) && proxy_tls_pending(c->ssl))
                        conn_schedule(c);
        }
        if (c->fd >= 0)
                ev_set(w, c->fd, &c->events, cev, &c->tag);
        if (c->up)
                ev_set(w, c->up->fd, &c->up->events, uev, &c->up->tag);
}

/* Moves everything that can move without waiting, then sets the epoll interest. */
static void conn_process(Conn *c) {
        Worker *w = c->worker;
        int r;

        for (;;) {
                switch (c->state) {
                case CONN_HEAD:
                        if (c->cin && proxy_buf_len(c->cin) > c->head_parsed &&
                            proxy_buf_len(c->cout) == 0 && conn_read_head(c) > 0)
                                return; /* handled, and c may be gone */
                        break;
                case CONN_CONNECT:
                        break;
                case CONN_PROXY:
                        if (c->cin) {
                                r = pump_request_body(c);
                                if (r < 0) {
                                        c->client_keep_alive = false;
                                        return conn_answer(c, r == -EFBIG ? 413 : 400);
                                }
                        }
                        r = c->up ? buf_flush(c->up->fd, c->uout, NULL) : 0;
                        if (r < 0)
                                return conn_backend_failed(c, true, 502);
                        r = pump_response(c);
                        if (r < 0)
                                return c->resp_started ? conn_free(c) : conn_answer(c, 502);
                        if (r > 0)
                                continue; /* upgraded */
                        break;
                case CONN_RELAY:
                        return conn_relay(c);
                case CONN_CLOSING:
                case CONN_HANDSHAKE:
                        break;
                case CONN_H2:
                        return conn_h2_process(c);
                }
                break;
        }

        if (c->stream)
                return conn_stream_output(c);
        r = conn_flush(c, c->cout, &c->bytes_out);
        if (r < 0)
                return conn_free(c);
        if (c->state == CONN_CLOSING && proxy_buf_len(c->cout) == 0 && !c->draining) {
                /* Read what the client still sends until it closes too, so that closing with
                 * unread bytes does not reset the connection before it read our answer. */
                if (c->ssl)
                        proxy_tls_shutdown(c->ssl);
                (void) shutdown(c->fd, SHUT_WR);
                c->draining = true;
                if (w->stopping)
                        conn_stop_linger(c);
        }
        if (c->state == CONN_PROXY && c->resp_done && proxy_buf_len(c->cout) == 0) {
                if (!c->client_keep_alive || !c->req_done) {
                        c->state = CONN_CLOSING;
                        return conn_process(c);
                }
                conn_next_request(c);
                if (c->cin)
                        return conn_process(c); /* a pipelined request is waiting */
        }
        if (c->state == CONN_HEAD && c->resp_done && proxy_buf_len(c->cout) == 0) {
                /* Our own keep-alive answer went out. */
                if (c->last_request) {
                        c->state = CONN_CLOSING;
                        return conn_process(c);
                }
                conn_next_request(c);
                if (c->cin)
                        return conn_process(c);
        }
        buf_release_if_empty(w, &c->cout);
        conn_update(c);
}

static void on_client(Conn *c, uint32_t events) {
        Worker *w = c->worker;
        int r;

        if (c->ssl && (events & EPOLLOUT) && c->tls_read_want == PROXY_TLS_WANT_WRITE)
                events |= EPOLLIN; /* the stalled read can go on */
        if (c->state == CONN_HANDSHAKE)
                return conn_handshake(c);
        if (c->state == CONN_RELAY) {
                if (events & EPOLLERR)
                        return conn_free(c);
                if (events & EPOLLHUP)
                        c->u2c.eof = c->u2c.shut = true; /* nobody left to send to */
                return conn_relay(c);
        }
        if ((events & (EPOLLERR | EPOLLHUP)) && c->state != CONN_CLOSING)
                return conn_free(c); /* the client is gone */
        if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                if (c->state == CONN_CLOSING) {
                        char drain[4096];
                        if (recv(c->fd, drain, sizeof drain, 0) <= 0)
                                return conn_free(c);
                } else if (c->state == CONN_H2) {
                        if (!buf_ensure(w, &c->cin))
                                return conn_free(c);
                        r = conn_fill(c, c->cin);
                        if (r == 0 || (r < 0 && r != -EAGAIN && r != -ENOBUFS))
                                return conn_free(c);
                } else if (c->state == CONN_HEAD || c->state == CONN_PROXY) {
                        if (!buf_ensure(w, &c->cin))
                                return conn_free(c);
                        r = conn_fill(c, c->cin);
                        if (r == -ENOBUFS && c->state == CONN_HEAD) {
                                c->client_keep_alive = false;
                                return conn_answer(c, 400);
                        }
                        if (r == 0 && c->state == CONN_PROXY && c->req_done) {
                                /* A half-close after the request still gets its answer. */
                                c->client_eof = true;
                                c->client_keep_alive = false;
                        } else if (r == 0 || (r < 0 && r != -EAGAIN && r != -ENOBUFS))
                                return conn_free(c); /* the client left */
                        else if (c->state != CONN_HEAD && !c->req_done)
                                c->deadline = w->now + w->proxy->config.idle_timeout_usec;
                }
        }
        conn_process(c);
}

static void on_upstream(Upstream *u, uint32_t events) {
        Conn *c = u->conn;
        Worker *w;
        int r;

        if (!c)
                return;
        w = c->worker;
        if (c->state == CONN_CONNECT) {
                int err = 0;
                socklen_t len = sizeof err;

                if (getsockopt(u->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                        err = errno;
                if (err != 0 || (events & (EPOLLERR | EPOLLHUP)))
                        return conn_backend_failed(c, true, 503);
                if (c->tcp) {
                        proxy_backend_succeeded(u->backend);
                        conn_enter_relay(c);
                        return conn_process(c);
                }
                c->state = CONN_PROXY;
                return conn_process(c);
        }
        if (c->state == CONN_RELAY) {
                if (events & EPOLLERR)
                        return conn_free(c);
                if (events & EPOLLHUP)
                        c->c2u.eof = c->c2u.shut = true;
                return conn_relay(c);
        }
        if (c->state != CONN_PROXY)
                return;
        if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                if (!buf_ensure(w, &c->uin))
                        return conn_free(c);
                r = buf_fill(u->fd, c->uin);
                if (r == 0 || (r < 0 && r != -EAGAIN && r != -ENOBUFS)) {
                        /* The backend closed: the end of an until-close body, a stale kept-alive
                         * connection, or a failure. */
                        if (c->resp.state == HTTP1_STATE_BODY && c->resp.body_until_eof) {
                                (void) pump_response(c);
                                if (http1_parser_eof(&c->resp) >= 0) {
                                        c->client_keep_alive = false;
                                        conn_request_finished(c);
                                        return conn_process(c);
                                }
                        }
                        if (!c->resp_started && proxy_buf_len(c->uin) == 0 &&
                            c->resp.state == HTTP1_STATE_HEAD)
                                return conn_backend_failed(c, !u->reused, 502);
                        return c->resp_started ? conn_free(c) : conn_answer(c, 502);
                }
                c->deadline = w->now + w->proxy->config.backend_timeout_usec;
        }
        conn_process(c);
}

static void on_idle_upstream(Worker *w, Upstream *u, uint32_t events) {
        /* Only a close or stray bytes from the backend matter while it is parked. */
        if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
                return;
        idle_pool_remove(w, u);
        upstream_close(w, u);
}

static Conn *conn_alloc(Worker *w, int fd) {
        Conn *c = w->free_conns;

        if (c) {
                w->free_conns = c->next;
                w->n_free_conns--;
        } else {
                c = malloc(sizeof *c);
                if (!c)
                        return NULL;
        }
        memset(c, 0, offsetof(Conn, req));
        memset(&c->req_done, 0, sizeof *c - offsetof(Conn, req_done));
        c->tag = (EvTag){ EV_CLIENT, c };
        c->worker = w;
        c->fd = fd;
        c->c2u = c->u2c = (RelayDir){ .pipe = { -EBADF, -EBADF } };
        http1_parser_init(&c->req, false, &w->limits);
        c->next = w->conns;
        if (w->conns)
                w->conns->prev = c;
        w->conns = c;
        return c;
}

static Conn *conn_new(Worker *w, int fd, size_t listener) {
        Conn *c = conn_alloc(w, fd);

        if (!c)
                return NULL;
        c->listener = listener;
        c->listen_address = w->table->listeners[listener].address;
        c->tcp = w->table->listeners[listener].protocol == PROXY_PROTOCOL_TCP;
        c->table = route_table_ref(w->table);
        return c;
}

/* ---- TLS and HTTP/2 client connections ---------------------------------------------------- */

/* A stream of an HTTP/2 connection becomes a child Conn: no socket, the parent's listener,
 * peer and TLS-ness, and from there the HTTP/1.1 path with cin and cout fed by proxy-h2.c. */
static void *h2_request_new(void *userdata, ProxyH2Stream *stream) {
        Conn *parent = userdata;
        Worker *w = parent->worker;
        Conn *c = conn_alloc(w, -EBADF);

        if (!c)
                return NULL;
        c->listener = parent->listener;
        c->listen_address = parent->listen_address;
        c->table = route_table_ref(parent->table);
        memcpy(c->peer, parent->peer, sizeof c->peer);
        c->secure = parent->secure;
        c->stream = stream;
        c->deadline = w->now + w->proxy->config.header_timeout_usec;
        return c;
}

static ProxyBuf *h2_request_input(void *request) {
        Conn *c = request;
        return buf_ensure(c->worker, &c->cin);
}

static ProxyBuf *h2_request_output(void *request) {
        Conn *c = request;
        return c->cout;
}

static void h2_request_kick(void *request) {
        Conn *c = request;

        /* Body bytes for a request still uploading: progress, as a read is for HTTP/1.1
         * (on_client), so a long upload is not taken for a stalled backend. */
        if (c->state == CONN_PROXY && !c->req_done && proxy_buf_len(c->cin) > 0)
                c->deadline = c->worker->now + c->worker->proxy->config.idle_timeout_usec;
        conn_schedule(c);
}

static void h2_request_free(void *request) {
        Conn *c = request;

        c->stream = NULL; /* the stream is going: nothing to detach from */
        conn_free(c);
}

static void h2_kick(void *userdata) {
        conn_schedule(userdata);
}

static const ProxyH2Callbacks h2_callbacks = {
        .request_new = h2_request_new,
        .request_input = h2_request_input,
        .request_output = h2_request_output,
        .request_kick = h2_request_kick,
        .request_free = h2_request_free,
        .kick = h2_kick,
};

static void conn_start_h2(Conn *c) {
        Worker *w = c->worker;
        const ProxyConfig *cfg = &w->proxy->config;
        ProxyH2Limits limits = {
                .max_concurrent_streams = cfg->h2_max_concurrent_streams,
                .max_header_list_size = cfg->max_header_size,
        };

        if (proxy_h2_new(&h2_callbacks, c, &limits, &c->h2) < 0)
                return conn_free(c);
        c->state = CONN_H2;
        c->started = 0;
        c->deadline = w->now + cfg->idle_timeout_usec;
        conn_process(c);
}

/* Frames in (what cin holds) and out (into cout, then to the client). */
static void conn_h2_process(Conn *c) {
        Worker *w = c->worker;
        ssize_t n;
        int r;

        /* Any progress of the connection or its streams keeps it; silence for the idle timeout
         * ends it (a stream waiting on a backend has the backend timeout first). After a
         * GOAWAY, progress no longer extends it. */
        c->deadline = w->now + w->proxy->config.idle_timeout_usec;
        if (c->h2_goaway_deadline > 0)
                c->deadline = MIN(c->deadline, c->h2_goaway_deadline);
        if (proxy_buf_len(c->cin) > 0) {
                n = proxy_h2_recv(c->h2, (const uint8_t *) c->cin->data + c->cin->start,
                                  proxy_buf_len(c->cin));
                /* After a connection error the rest is not read: a GOAWAY may be queued. */
                c->cin->start = n >= 0 ? c->cin->start + n : c->cin->end;
        }
        buf_release_if_empty(w, &c->cin);
        for (;;) {
                if (!buf_ensure(w, &c->cout))
                        return conn_free(c);
                r = proxy_h2_send(c->h2, c->cout);
                if (r < 0)
                        return conn_free(c);
                r = conn_flush(c, c->cout, NULL);
                if (r < 0)
                        return conn_free(c);
                if (proxy_buf_len(c->cout) > 0 || !proxy_h2_want_write(c->h2))
                        break;
        }
        if (proxy_buf_len(c->cout) == 0 && proxy_h2_finished(c->h2))
                return conn_free(c);
        buf_release_if_empty(w, &c->cout);
        conn_update(c);
}

/* Graceful close: GOAWAY with the last stream taken; the others finish within the idle
 * timeout, then conn_h2_process frees the connection (proxy_h2_finished). */
static void conn_h2_goaway(Conn *c) {
        Worker *w = c->worker;

        if (c->h2_goaway_deadline > 0)
                return;
        c->h2_goaway_deadline = w->now + w->proxy->config.idle_timeout_usec;
        proxy_h2_shutdown(c->h2);
        conn_schedule(c);
}

/* The answer is out and our side shut: a stopping proxy waits only a moment for the client to
 * close its side too (its answer is not at risk then, unless it sends more). */
static void conn_stop_linger(Conn *c) {
        uint64_t until = c->worker->now + STOP_LINGER_USEC;

        if (c->deadline == 0 || c->deadline > until)
                c->deadline = until;
}

/* HTTP/1.1's graceful close. A connection waiting for its next request closes now (nothing is
 * lost: the client retries on a new connection); one with a request under way, from its first
 * byte to the last of the answer, finishes it and closes after it. */
static void conn_h1_drain(Conn *c) {
        if (c->last_request)
                return;
        c->last_request = true;
        c->client_keep_alive = false;
        if (c->state == CONN_HANDSHAKE ||
            (c->state == CONN_HEAD && !c->started && proxy_buf_len(c->cout) == 0))
                conn_free(c);
}

/* A stream's request moved: its output goes to the stream, its input is refilled. */
static void conn_stream_output(Conn *c) {
        Worker *w = c->worker;
        bool ended = c->state == CONN_CLOSING || c->resp_done;

        c->bytes_out += proxy_h2_stream_update(c->stream, ended);
        if (ended)
                c->deadline = 0; /* the stream's own pace now: the connection's idle timeout */
        buf_release_if_empty(w, &c->cout);
        conn_update(c);
}

static void conn_handshake(Conn *c) {
        Worker *w = c->worker;
        int r;

        r = proxy_tls_handshake(c->ssl, &c->tls_read_want);
        if (r < 0)
                return conn_free(c);
        if (r == 0)
                return conn_update(c);
        c->tls_read_want = 0;
        c->deadline = w->now + w->proxy->config.header_timeout_usec;
        if (proxy_tls_alpn_is_h2(c->ssl))
                return conn_start_h2(c);
        c->state = CONN_HEAD;
        on_client(c, EPOLLIN); /* the first request may have come with the handshake */
}

static void on_listen(Worker *w, ProxyListenSocket *s) {
        ProxyListenSet *set = w->lset;
        size_t listener = SIZE_MAX;

        for (size_t i = 0; set && i < set->n; i++)
                if (set->sockets[i] == s)
                        listener = i;
        if (listener == SIZE_MAX)
                return;

        for (unsigned n = 0; n < 64; n++) {
                struct sockaddr_storage sa;
                socklen_t len = sizeof sa;
                Conn *c;
                int fd, one = 1;

                fd = accept4(s->fds[w->index], (struct sockaddr *) &sa, &len,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0)
                        return;
                (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                c = conn_new(w, fd, listener);
                if (!c) {
                        safe_close(fd);
                        continue;
                }
                if (sa.ss_family == AF_INET6)
                        inet_ntop(AF_INET6, &((struct sockaddr_in6 *) &sa)->sin6_addr, c->peer,
                                  sizeof c->peer);
                else
                        inet_ntop(AF_INET, &((struct sockaddr_in *) &sa)->sin_addr, c->peer,
                                  sizeof c->peer);
                if (ev_add(w, fd, 0, &c->tag) < 0) {
                        conn_free(c);
                        continue;
                }
                if (s->protocol == PROXY_PROTOCOL_HTTPS) {
                        c->ssl = proxy_tls_session_new(w->proxy->tls, fd, w->index);
                        if (!c->ssl) {
                                conn_free(c);
                                continue;
                        }
                        c->secure = true;
                        c->state = CONN_HANDSHAKE;
                } else if (s->protocol == PROXY_PROTOCOL_HTTP)
                        c->maybe_h2c = true;
                if (s->protocol == PROXY_PROTOCOL_TCP) {
                        c->route = route_table_match(c->table, listener, NULL, 0, NULL, 0);
                        c->started = w->now;
                        c->replayable = true;
                        c->req_done = true;
                        if (!c->route || !buf_ensure(w, &c->uout)) {
                                conn_free(c);
                                continue;
                        }
                        conn_start_backend(c);
                        continue;
                }
                c->deadline = w->now + w->proxy->config.header_timeout_usec;
                conn_update(c);
        }
}

/* ---- tables, timers, the loop ------------------------------------------------------------- */

/* Whether t still serves the listener c came in on, with the same protocol. */
static bool conn_listener_served(const Conn *c, const RouteTable *t) {
        ProxyProtocol want = c->tcp      ? PROXY_PROTOCOL_TCP
                             : c->secure ? PROXY_PROTOCOL_HTTPS
                                         : PROXY_PROTOCOL_HTTP;
        size_t k;

        return route_table_find_listener(t, &c->listen_address, &k) >= 0 &&
               t->listeners[k].protocol == want;
}

static void worker_switch_table(Worker *w) {
        RouteTable *new = route_publisher_acquire(&w->proxy->publisher, w->index);
        ProxyListenSet *old_set = w->lset;
        ProxyListenSet *new_set = new->attachment;

        /* A set already left by everyone belongs to a table replaced since: its sockets are
         * closed, and the next generation check brings the current one. */
        if (new_set && !proxy_listen_set_use(new_set))
                new_set = NULL;

        for (size_t i = 0; old_set && i < old_set->n; i++) {
                ProxyListenSocket *s = old_set->sockets[i];
                bool kept = false;
                for (size_t k = 0; new_set && k < new_set->n; k++)
                        kept = kept || new_set->sockets[k] == s;
                if (!kept)
                        (void) epoll_ctl(w->epoll_fd, EPOLL_CTL_DEL, s->fds[w->index], NULL);
        }
        for (size_t i = 0; new_set && i < new_set->n; i++) {
                ProxyListenSocket *s = new_set->sockets[i];
                bool had = false;
                for (size_t k = 0; old_set && k < old_set->n; k++)
                        had = had || old_set->sockets[k] == s;
                if (!had)
                        (void) ev_add(w, s->fds[w->index], EPOLLIN, &s->tags[w->index]);
        }
        proxy_listen_set_release(old_set);
        w->lset = new_set;

        /* Clients of a listener no longer served are told to go: HTTP/2 ones by GOAWAY,
         * HTTP/1.1 ones by "Connection: close" on the request under way, or at once when there
         * is none. Those keep the table they have, which still has their listener; a request
         * yet to be matched takes the one being replaced, the newest with it. TCP relays and
         * upgraded connections go on until either side closes. */
        for (Conn *c = w->conns, *next; c; c = next) {
                next = c->next;
                if (c->stream || c->tcp || c->state == CONN_RELAY || c->state == CONN_CLOSING ||
                    conn_listener_served(c, new))
                        continue;
                if (c->h2) {
                        if (c->h2_goaway_deadline == 0)
                                conn_h2_goaway(c);
                        continue;
                }
                if (c->state == CONN_HEAD && !c->route && c->table != w->table && w->table &&
                    conn_listener_served(c, w->table)) {
                        const RouteAddress *a = &c->listen_address;

                        route_table_unref(c->table);
                        c->table = route_table_ref(w->table);
                        (void) route_table_find_listener(c->table, a, &c->listener); /* served */
                }
                conn_h1_drain(c);
        }
        route_table_unref(w->table);
        w->table = new;
        idle_pool_drop_unrouted(w);
}

/* The proxy stops: no more accepts, and the listening sockets stop listening, so that a new
 * connection is refused rather than left in a backlog nobody reads. HTTP/2 connections get
 * GOAWAY and may finish their streams, HTTP/1.1 ones the request under way (both within the
 * idle timeout); idle ones, TCP relays and upgraded connections close now. */
static void worker_stop_begin(Worker *w) {
        w->stopping = true;
        w->stop_deadline = w->now + w->proxy->config.idle_timeout_usec;
        for (size_t i = 0; w->lset && i < w->lset->n; i++) {
                int fd = w->lset->sockets[i]->fds[w->index];

                if (fd < 0)
                        continue;
                (void) epoll_ctl(w->epoll_fd, EPOLL_CTL_DEL, fd, NULL);
                /* On Linux this takes a listening socket out of listening, the port kept; each
                 * worker does it for its own socket of the SO_REUSEPORT group. */
                (void) shutdown(fd, SHUT_RD);
        }
        for (Conn *c = w->conns, *next; c; c = next) {
                next = c->next;
                if (c->h2)
                        conn_h2_goaway(c);
                else if (c->stream)
                        continue;
                else if (c->tcp || c->state == CONN_RELAY)
                        conn_free(c);
                else if (c->draining)
                        conn_stop_linger(c);
                else
                        conn_h1_drain(c);
        }
}

static bool worker_stopped(Worker *w) {
        return !w->conns || w->now >= w->stop_deadline;
}

static void worker_sweep(Worker *w) {
        const ProxyConfig *cfg = &w->proxy->config;

        for (Conn *c = w->conns, *next; c; c = next) {
                next = c->next;
                if (c->deadline == 0 || c->deadline > w->now)
                        continue;
                if (c->tcp)
                        conn_free(c);
                else if ((c->state == CONN_CONNECT || c->state == CONN_PROXY) && !c->resp_started) {
                        if (c->state == CONN_CONNECT && c->up)
                                backend_failed(w, c->up->backend);
                        c->client_keep_alive = false;
                        conn_answer(c, 504);
                } else if (c->state == CONN_HEAD && c->started) {
                        c->client_keep_alive = false;
                        conn_answer(c, 408);
                } else if (c->h2) {
                        /* Its streams go with it, next among them maybe: start over. */
                        conn_free(c);
                        next = w->conns;
                } else
                        conn_free(c);
        }
        for (unsigned i = 0; i < w->n_idle; i++) {
                unsigned kept = 0;

                /* Most recently parked first: the excess over the cap is the least used. */
                for (Upstream **p = &w->idle[i].head; *p;) {
                        Upstream *u = *p;
                        if (kept >= cfg->max_idle_upstreams ||
                            u->idle_since + cfg->upstream_idle_usec <= w->now) {
                                *p = u->next_idle;
                                w->idle[i].n--;
                                upstream_close(w, u);
                        } else {
                                kept++;
                                p = &u->next_idle;
                        }
                }
        }
}

/* Runs what was queued by now; what that queues runs after the next events. */
static void worker_run_ready(Worker *w) {
        for (unsigned n = w->n_ready; n > 0 && w->ready_head; n--) {
                Conn *c = w->ready_head;

                conn_unschedule(c);
                if (c->ssl && c->state != CONN_HANDSHAKE && proxy_tls_pending(c->ssl))
                        on_client(c, EPOLLIN);
                else
                        conn_process(c);
        }
}

static void *worker_main(void *userdata) {
        Worker *w = userdata;
        struct epoll_event events[EPOLL_BATCH];

        w->now = proxy_now_usec();
        w->stopping = false; /* from an earlier run */
        worker_switch_table(w);
        w->generation = route_publisher_generation(&w->proxy->publisher);
        w->next_sweep = w->now + SWEEP_USEC;

        for (;;) {
                unsigned long gen = route_publisher_generation(&w->proxy->publisher);
                int n, timeout;

                if (atomic_load_explicit(&w->proxy->stopping, memory_order_relaxed)) {
                        if (!w->stopping) {
                                worker_stop_begin(w);
                                worker_run_ready(w);
                                worker_reap(w);
                        }
                        if (worker_stopped(w))
                                break;
                } else if (gen != w->generation) {
                        w->generation = gen;
                        worker_switch_table(w);
                }
                timeout = (int) ((w->next_sweep > w->now ? w->next_sweep - w->now : 0) / 1000) + 1;
                if (w->ready_head)
                        timeout = 0;
                n = epoll_wait(w->epoll_fd, events, EPOLL_BATCH, timeout);
                w->now = proxy_now_usec();
                for (int i = 0; i < n; i++) {
                        EvTag *tag = events[i].data.ptr;

                        switch (tag->kind) {
                        case EV_WAKE: {
                                uint64_t v;
                                (void) read(w->wake_fd, &v, sizeof v);
                                break;
                        }
                        case EV_LISTEN:
                                if (!w->stopping) /* else no longer ours to accept on */
                                        on_listen(w, tag->object);
                                break;
                        case EV_CLIENT:
                                if (tag->object) /* else freed earlier in this batch */
                                        on_client(tag->object, events[i].events);
                                break;
                        case EV_UPSTREAM: {
                                Upstream *u = tag->object;
                                if (!u)
                                        break;
                                if (u->conn)
                                        on_upstream(u, events[i].events);
                                else
                                        on_idle_upstream(w, u, events[i].events);
                                break;
                        }
                        }
                }
                worker_run_ready(w);
                worker_reap(w);
                if (w->now >= w->next_sweep) {
                        worker_sweep(w);
                        worker_reap(w);
                        w->next_sweep = w->now + SWEEP_USEC;
                }
        }

        while (w->conns)
                conn_free(w->conns);
        for (unsigned i = 0; i < w->n_idle; i++)
                while (w->idle[i].head) {
                        Upstream *u = w->idle[i].head;
                        w->idle[i].head = u->next_idle;
                        upstream_close(w, u);
                }
        worker_reap(w);
        w->n_idle = 0;
        free(w->idle);
        w->idle = NULL;
        while (w->free_conns) {
                Conn *c = w->free_conns;
                w->free_conns = c->next;
                free(c);
        }
        w->n_free_conns = 0;
        for (size_t i = 0; w->lset && i < w->lset->n; i++)
                (void) epoll_ctl(w->epoll_fd, EPOLL_CTL_DEL, w->lset->sockets[i]->fds[w->index],
                                 NULL);
        proxy_listen_set_release(w->lset);
        w->lset = NULL;
        w->table = route_table_unref(w->table);
        proxy_pool_done(&w->bufs);
        return NULL;
}

int worker_new(Proxy *p, unsigned index, Worker **ret) {
        Worker *w;

        w = calloc(1, sizeof *w);
        if (!w)
                return -ENOMEM;
        w->proxy = p;
        w->index = index;
        w->wake_fd = -EBADF;
        w->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        if (w->epoll_fd < 0)
                goto fail;
        w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (w->wake_fd < 0)
                goto fail;
        w->wake_tag = (EvTag){ EV_WAKE, w };
        if (ev_add(w, w->wake_fd, EPOLLIN, &w->wake_tag) < 0)
                goto fail;
        proxy_pool_init(&w->bufs, BUF_SIZE, 1024);
        w->limits = (Http1Limits){
                .max_header_size = p->config.max_header_size,
                .max_headers = p->config.max_headers,
                .max_body_size = p->config.max_body_size,
        };
        if (getrandom(&w->rng, sizeof w->rng, 0) != sizeof w->rng || w->rng == 0)
                w->rng = proxy_now_usec() ^ ((uint64_t) index << 32) ^ 0x9E3779B97F4A7C15ULL;
        *ret = w;
        return 0;
fail:
        worker_free(w);
        return -errno;
}

Worker *worker_free(Worker *w) {
        if (!w)
                return NULL;
        safe_close(w->wake_fd);
        safe_close(w->epoll_fd);
        free(w);
        return NULL;
}

int worker_start(Worker *w) {
        int r = pthread_create(&w->thread, NULL, worker_main, w);
        if (r != 0)
                return -r;
        w->started = true;
        return 0;
}

void worker_wake(Worker *w) {
        uint64_t one = 1;
        (void) write(w->wake_fd, &one, sizeof one);
}

void worker_join(Worker *w) {
        if (!w->started)
                return;
        (void) pthread_join(w->thread, NULL);
        w->started = false;
}
