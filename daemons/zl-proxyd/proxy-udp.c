/* SPDX-License-Identifier: Apache-2.0 */
/* proxy-udp.c: udp routes: datagrams relayed per client session on their own threads. */
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>

#include "log.h"
#include "proxy-udp.h"

/* Counting for udp routes (RouteStats), per datagram would drown the numbers that matter:
 *   requests   sessions opened, plus datagrams refused a session (no usable backend, the
 *              session cap, no socket)
 *   errors     those refusals, plus ICMP errors from a backend (connection refused ...)
 *   bytes_in   payload bytes from clients, bytes_out to clients
 *   latency    from a session's first datagram to its backend's first reply; sessions that
 *              never get one are not in the histogram.
 * BackendHealth.active counts sessions, so least_conn balances sessions.
 *
 * Threads: as many as the proxy's workers unless configured (ProxyConfig.n_udp_workers), each
 * with its own socket per listener in one SO_REUSEPORT group and its own sessions, so nothing on
 * the datagram path is shared but counters. Relaying is syscall-bound and scales with threads
 * like the tcp workers do; an idle thread costs its stack and two fds, and batch buffers come
 * with the first udp listener. Measured on the 2-core development machine (loaded by others):
 * one thread relayed 23-40k datagrams/s, two 31-57k, a direct echo without proxy ~40k. */

#define UDP_BATCH 16U
#define UDP_DGRAM_MAX 65536U
#define UDP_ROUNDS 8U /* batches per readiness event before others get their turn */
#define EPOLL_BATCH 64
#define TABLE_MIN_BUCKETS 64U
#define RETRY_CONFIG_MSEC 1000

struct UdpWorker {
        ProxyUdp *udp;
        unsigned index;
        pthread_t thread;
        bool started;
        int epoll_fd;
        int wake_fd;
        UdpTag wake_tag;
        unsigned long generation; /* of the configuration taken */
        bool config_failed; /* taking the last one ran out of memory: retry soon */
        RouteTable *table;
        UdpPort **ports;
        size_t n_ports;
        UdpSessionTable sessions;
        /* Closed during the current epoll batch: later events may still name them. */
        UdpSession *dead;
        uint64_t now;

        /* Batch buffers, allocated with the first port (an idle proxy without udp routes
         * keeps its memory). */
        char *bufs;
        struct iovec iov[UDP_BATCH];
        struct mmsghdr in[UDP_BATCH];
        struct mmsghdr out[UDP_BATCH];
        struct sockaddr_storage names[UDP_BATCH];
};

struct ProxyUdp {
        Proxy *proxy;
        UdpWorker **workers;
        unsigned n_workers;
        bool running;
        atomic_bool stopping;
        atomic_uint n_sessions;
        atomic_bool cap_warned;

        /* The current configuration, written by the control side under the lock; workers copy
         * it (with references) when generation moves. */
        pthread_mutex_t lock;
        RouteTable *table;
        UdpPlan current;
        unsigned long generation;
};

/* ---- listeners ----------------------------------------------------------------------------- */

UdpListener *udp_listener_ref(UdpListener *l) {
        if (l)
                atomic_fetch_add_explicit(&l->n_ref, 1, memory_order_relaxed);
        return l;
}

UdpListener *udp_listener_unref(UdpListener *l) {
        if (!l || atomic_fetch_sub_explicit(&l->n_ref, 1, memory_order_acq_rel) != 1)
                return NULL;
        for (unsigned i = 0; i < l->n_fds; i++)
                safe_close(l->fds[i]);
        free(l);
        return NULL;
}

static int udp_listener_open(const RouteAddress *a, unsigned n, UdpListener **ret) {
        UdpListener *l;
        int r = 0;

        l = calloc(1, sizeof *l + n * sizeof(int));
        if (!l)
                return -ENOMEM;
        atomic_init(&l->n_ref, 1);
        l->address = *a;
        for (unsigned i = 0; i < n; i++) {
                int fd, one = 1;

                fd = socket(a->sa.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                            IPPROTO_UDP);
                if (fd < 0) {
                        r = -errno;
                        break;
                }
                l->fds[l->n_fds++] = fd;
                /* No SO_REUSEADDR: on udp it would let a socket share a port that is taken. */
                if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
                    (a->sa.ss_family == AF_INET6 &&
                     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0) ||
                    bind(fd, (const struct sockaddr *) &a->sa, a->sa_len) < 0) {
                        r = -errno;
                        break;
                }
        }
        if (r < 0) {
                udp_listener_unref(l);
                return r;
        }
        *ret = l;
        return 0;
}

/* ---- the session table -------------------------------------------------------------------- */

int udp_key_init(UdpKey *k, const void *port, const struct sockaddr *sa, socklen_t len) {
        memset(k, 0, sizeof *k);
        k->port = port;
        if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
                const struct sockaddr_in *in = (const struct sockaddr_in *) sa;
                k->addr.in.sin_family = AF_INET;
                k->addr.in.sin_port = in->sin_port;
                k->addr.in.sin_addr = in->sin_addr;
                k->len = sizeof(struct sockaddr_in);
        } else if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
                const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) sa;
                k->addr.in6.sin6_family = AF_INET6;
                k->addr.in6.sin6_port = in6->sin6_port;
                k->addr.in6.sin6_addr = in6->sin6_addr;
                k->addr.in6.sin6_scope_id = in6->sin6_scope_id;
                k->len = sizeof(struct sockaddr_in6);
        } else
                return -EAFNOSUPPORT;
        return 0;
}

static uint64_t mix64(uint64_t x) {
        x ^= x >> 30;
        x *= 0xbf58476d1ce4e5b9ULL;
        x ^= x >> 27;
        x *= 0x94d049bb133111ebULL;
        x ^= x >> 31;
        return x;
}

static uint64_t key_hash(const UdpSessionTable *t, const UdpKey *k) {
        const unsigned char *p = (const unsigned char *) k;
        uint64_t h = t->seed;

        for (size_t i = 0; i + sizeof(uint64_t) <= sizeof *k; i += sizeof(uint64_t)) {
                uint64_t w;
                memcpy(&w, p + i, sizeof w);
                h = mix64(h ^ w);
        }
        return h;
}

int udp_session_table_init(UdpSessionTable *t) {
        *t = (UdpSessionTable){};
        t->buckets = calloc(TABLE_MIN_BUCKETS, sizeof(UdpSession *));
        if (!t->buckets)
                return -ENOMEM;
        t->n_buckets = TABLE_MIN_BUCKETS;
        if (getrandom(&t->seed, sizeof t->seed, GRND_NONBLOCK) != sizeof t->seed)
                t->seed = mix64(proxy_now_usec() ^ (uintptr_t) t);
        return 0;
}

void udp_session_table_done(UdpSessionTable *t) {
        t->buckets = mfree(t->buckets);
        t->n_buckets = t->n = 0;
}

UdpSession *udp_session_table_find(const UdpSessionTable *t, const UdpKey *k) {
        uint64_t h = key_hash(t, k);

        for (UdpSession *s = t->buckets[h & (t->n_buckets - 1)]; s; s = s->hash_next)
                if (s->hash == h && memcmp(&s->key, k, sizeof *k) == 0)
                        return s;
        return NULL;
}

static void table_grow(UdpSessionTable *t) {
        size_t n = t->n_buckets * 2;
        UdpSession **b = calloc(n, sizeof(UdpSession *));

        if (!b)
                return;
        for (size_t i = 0; i < t->n_buckets; i++)
                while (t->buckets[i]) {
                        UdpSession *s = t->buckets[i];
                        t->buckets[i] = s->hash_next;
                        s->hash_next = b[s->hash & (n - 1)];
                        b[s->hash & (n - 1)] = s;
                }
        free(t->buckets);
        t->buckets = b;
        t->n_buckets = n;
}

int udp_session_table_add(UdpSessionTable *t, UdpSession *s) {
        UdpSession **b;

        if (udp_session_table_find(t, &s->key))
                return -EEXIST;
        if (t->n >= t->n_buckets)
                table_grow(t);
        s->hash = key_hash(t, &s->key);
        b = &t->buckets[s->hash & (t->n_buckets - 1)];
        s->hash_next = *b;
        *b = s;
        t->n++;
        return 0;
}

void udp_session_table_remove(UdpSessionTable *t, UdpSession *s) {
        for (UdpSession **p = &t->buckets[s->hash & (t->n_buckets - 1)]; *p; p = &(*p)->hash_next)
                if (*p == s) {
                        *p = s->hash_next;
                        s->hash_next = NULL;
                        t->n--;
                        return;
                }
}

/* ---- backends ------------------------------------------------------------------------------ */

static const ProxyConfig *worker_config(const UdpWorker *w) {
        return &w->udp->proxy->config;
}

static bool backend_excluded(const BackendHealth *b, const void *userdata) {
        return b == userdata;
}

/* As for stream routes (proxy_backend_select()); least_conn counts sessions. Skips `exclude`,
 * the backend that just failed. */
static BackendHealth *backend_select(const RouteBackendSet *set, uint64_t now,
                                     const BackendHealth *exclude) {
        return proxy_backend_select(set, now, backend_excluded, exclude);
}

static bool set_has_backend(const RouteBackendSet *set, const BackendHealth *b) {
        for (size_t i = 0; i < set->n_backends; i++)
                if (set->backends[i].health == b)
                        return true;
        return false;
}

static void backend_failed(UdpWorker *w, BackendHealth *b) {
        proxy_backend_failed(worker_config(w), b, w->now);
}

/* A socket connected to the backend: replies from anyone else are dropped by the kernel, and
 * ICMP errors for what we sent come back on it. */
static int backend_socket(const BackendHealth *b) {
        int fd;

        fd = socket(b->address.sa.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    IPPROTO_UDP);
        if (fd < 0)
                return -errno;
        if (connect(fd, (const struct sockaddr *) &b->address.sa, b->address.sa_len) < 0) {
                int r = -errno;
                safe_close(fd);
                return r;
        }
        return fd;
}

/* ---- sessions ------------------------------------------------------------------------------ */

static void stats_add(RouteStats *s, _Atomic uint64_t *field, uint64_t v) {
        if (s && v)
                atomic_fetch_add_explicit(field, v, memory_order_relaxed);
}

static RouteStats *port_stats(const UdpPort *port) {
        return port->route ? port->route->stats : NULL;
}

static void lru_unlink(UdpPort *port, UdpSession *s) {
        if (s->lru_prev)
                s->lru_prev->lru_next = s->lru_next;
        else
                port->lru_head = s->lru_next;
        if (s->lru_next)
                s->lru_next->lru_prev = s->lru_prev;
        else
                port->lru_tail = s->lru_prev;
        s->lru_prev = s->lru_next = NULL;
}

static void lru_append(UdpPort *port, UdpSession *s) {
        s->lru_prev = port->lru_tail;
        s->lru_next = NULL;
        if (port->lru_tail)
                port->lru_tail->lru_next = s;
        else
                port->lru_head = s;
        port->lru_tail = s;
}

static void session_touch(UdpWorker *w, UdpSession *s) {
        s->last_seen = w->now;
        if (s->port->lru_tail != s) {
                lru_unlink(s->port, s);
                lru_append(s->port, s);
        }
}

static void session_set_backend(UdpSession *s, BackendHealth *b) {
        if (s->backend)
                atomic_fetch_sub_explicit(&s->backend->active, 1, memory_order_relaxed);
        s->backend = b;
        if (b)
                atomic_fetch_add_explicit(&b->active, 1, memory_order_relaxed);
}

static void session_close(UdpWorker *w, UdpSession *s) {
        ProxyUdp *u = w->udp;
        unsigned n;

        if (s->dead)
                return;
        s->dead = true;
        udp_session_table_remove(&w->sessions, s);
        lru_unlink(s->port, s);
        s->port->n_sessions--;
        session_set_backend(s, NULL);
        s->fd = safe_close(s->fd); /* leaves the epoll set with it */
        s->tag.object = NULL;
        n = atomic_fetch_sub(&u->n_sessions, 1) - 1;
        /* Warn again about the cap once the sessions have come well down from it. */
        if (n < worker_config(w)->udp_max_sessions / 10U * 9U)
                atomic_store_explicit(&u->cap_warned, false, memory_order_relaxed);
        s->lru_next = w->dead;
        w->dead = s;
}

static void worker_reap(UdpWorker *w) {
        while (w->dead) {
                UdpSession *s = w->dead;
                w->dead = s->lru_next;
                free(s);
        }
}

/* Points the session at a backend chosen afresh (not `exclude`), on a new socket. */
static int session_connect(UdpWorker *w, UdpSession *s, const BackendHealth *exclude) {
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &s->tag };
        BackendHealth *b;
        int fd;

        b = backend_select(&s->port->route->set, w->now, exclude);
        if (!b)
                return -EHOSTUNREACH;
        fd = backend_socket(b);
        if (fd < 0)
                return fd;
        if (epoll_ctl(w->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
                int r = -errno;
                safe_close(fd);
                return r;
        }
        safe_close(s->fd);
        s->fd = fd;
        session_set_backend(s, b);
        return 0;
}

/* Counts a refused datagram, as a request that failed. */
static void refuse(UdpPort *port) {
        RouteStats *st = port_stats(port);

        stats_add(st, &st->requests, 1);
        stats_add(st, &st->errors, 1);
}

static UdpSession *session_open(UdpWorker *w, UdpPort *port, const UdpKey *key) {
        ProxyUdp *u = w->udp;
        unsigned max = worker_config(w)->udp_max_sessions;
        RouteStats *st = port_stats(port);
        UdpSession *s;

        if (atomic_fetch_add(&u->n_sessions, 1) >= max) {
                atomic_fetch_sub(&u->n_sessions, 1);
                refuse(port);
                if (!atomic_exchange(&u->cap_warned, true))
                        log_warning("UDP session limit of %u reached (on %s): datagrams from "
                                    "new clients are dropped until sessions expire.",
                                    max, port->listener->address.text);
                return NULL;
        }
        s = calloc(1, sizeof *s);
        if (!s) {
                atomic_fetch_sub(&u->n_sessions, 1);
                refuse(port);
                return NULL;
        }
        s->tag = (UdpTag){ UDP_EV_SESSION, s };
        s->key = *key;
        s->port = port;
        s->fd = -EBADF;
        s->created = s->last_seen = w->now;
        if (session_connect(w, s, NULL) < 0) {
                atomic_fetch_sub(&u->n_sessions, 1);
                refuse(port);
                free(s);
                return NULL;
        }
        (void) udp_session_table_add(&w->sessions, s); /* not there: looked up just before */
        lru_append(port, s);
        port->n_sessions++;
        stats_add(st, &st->requests, 1);
        return s;
}

/* The backend answered with an ICMP error (port unreachable and the like): a failure for it,
 * and the session moves to another backend; with none left it closes, and the client's next
 * datagram tries afresh. */
static void session_backend_error(UdpWorker *w, UdpSession *s) {
        RouteStats *st = port_stats(s->port);
        BackendHealth *failed = s->backend;

        stats_add(st, &st->errors, 1);
        backend_failed(w, failed);
        if (session_connect(w, s, failed) < 0)
                session_close(w, s);
}

/* ---- relaying ------------------------------------------------------------------------------ */

static int worker_bufs(UdpWorker *w) {
        if (w->bufs)
                return 0;
        w->bufs = malloc(UDP_BATCH * UDP_DGRAM_MAX);
        if (!w->bufs)
                return -ENOMEM;
        for (unsigned i = 0; i < UDP_BATCH; i++)
                w->iov[i] = (struct iovec){ w->bufs + (size_t) i * UDP_DGRAM_MAX, UDP_DGRAM_MAX };
        return 0;
}

static void prepare_in(UdpWorker *w, bool names) {
        for (unsigned i = 0; i < UDP_BATCH; i++) {
                w->iov[i].iov_len = UDP_DGRAM_MAX;
                w->in[i].msg_hdr = (struct msghdr){
                        .msg_name = names ? &w->names[i] : NULL,
                        .msg_namelen = names ? sizeof w->names[i] : 0,
                        .msg_iov = &w->iov[i],
                        .msg_iovlen = 1,
                };
                w->in[i].msg_len = 0;
        }
}

/* Sends in[first, first + n) on the session's backend socket. A pending ICMP error from an
 * earlier datagram shows up here: the session moves and the datagrams go to the new backend. */
static void session_send(UdpWorker *w, UdpSession *s, unsigned first, unsigned n) {
        for (unsigned attempt = 0; attempt < 2 && !s->dead; attempt++) {
                int k;

                for (unsigned i = 0; i < n; i++)
                        w->out[i].msg_hdr = (struct msghdr){
                                .msg_iov = &w->iov[first + i],
                                .msg_iovlen = 1,
                        };
                k = sendmmsg(s->fd, w->out, n, MSG_DONTWAIT);
                if (k >= 0 || (errno != ECONNREFUSED && errno != EHOSTUNREACH &&
                               errno != ENETUNREACH && errno != EHOSTDOWN))
                        return; /* sent, or dropped like any datagram in a full queue */
                session_backend_error(w, s);
        }
}

static void port_receive(UdpWorker *w, UdpPort *port) {
        RouteStats *st = port_stats(port);

        if (worker_bufs(w) < 0)
                return;
        for (unsigned round = 0; round < UDP_ROUNDS; round++) {
                UdpSession *run = NULL;
                unsigned run_start = 0;
                uint64_t bytes = 0;
                int n;

                prepare_in(w, true);
                n = recvmmsg(port->fd, w->in, UDP_BATCH, MSG_DONTWAIT, NULL);
                if (n <= 0)
                        return;
                for (unsigned i = 0; i < (unsigned) n; i++) {
                        UdpSession *s = NULL;
                        UdpKey key;

                        w->iov[i].iov_len = w->in[i].msg_len;
                        /* Consecutive datagrams of one session go out in one sendmmsg(). */
                        if (udp_key_init(&key, port, (struct sockaddr *) &w->names[i],
                                         w->in[i].msg_hdr.msg_namelen) >= 0) {
                                s = udp_session_table_find(&w->sessions, &key);
                                /* Ejected or down since: move on if another backend is
                                 * usable, else stay (it may still answer). */
                                if (s && !proxy_backend_usable(s->backend, w->now))
                                        (void) session_connect(w, s, s->backend);
                                if (!s)
                                        s = session_open(w, port, &key);
                        }
                        if (run && run != s) {
                                session_send(w, run, run_start, i - run_start);
                                run = NULL;
                        }
                        if (!s)
                                continue;
                        if (!run) {
                                run = s;
                                run_start = i;
                        }
                        bytes += w->in[i].msg_len;
                        session_touch(w, s);
                }
                if (run)
                        session_send(w, run, run_start, (unsigned) n - run_start);
                stats_add(st, &st->bytes_in, bytes);
                if ((unsigned) n < UDP_BATCH)
                        return;
        }
}

static void session_receive(UdpWorker *w, UdpSession *s) {
        RouteStats *st = port_stats(s->port);

        if (worker_bufs(w) < 0)
                return;
        for (unsigned round = 0; round < UDP_ROUNDS && !s->dead; round++) {
                uint64_t bytes = 0;
                int n, k;

                prepare_in(w, false);
                n = recvmmsg(s->fd, w->in, UDP_BATCH, MSG_DONTWAIT, NULL);
                if (n < 0) {
                        if (errno == ECONNREFUSED || errno == EHOSTUNREACH ||
                            errno == ENETUNREACH || errno == EHOSTDOWN)
                                session_backend_error(w, s);
                        return;
                }
                if (n == 0)
                        return;
                for (unsigned i = 0; i < (unsigned) n; i++) {
                        w->iov[i].iov_len = w->in[i].msg_len;
                        w->out[i].msg_hdr = (struct msghdr){
                                .msg_name = &s->key.addr,
                                .msg_namelen = s->key.len,
                                .msg_iov = &w->iov[i],
                                .msg_iovlen = 1,
                        };
                        bytes += w->in[i].msg_len;
                }
                /* From the listener's socket, so the client sees the address it sent to. */
                k = sendmmsg(s->port->fd, w->out, (unsigned) n, MSG_DONTWAIT);
                (void) k; /* what did not fit the socket's queue is dropped, as udp may */
                if (!s->replied) {
                        uint64_t lat = w->now - s->created;
                        size_t bucket = 0;

                        while (bucket < PROXY_LATENCY_BUCKETS - 1 &&
                               lat > proxy_latency_bounds_usec[bucket])
                                bucket++;
                        stats_add(st, &st->latency[bucket], 1);
                        s->replied = true;
                }
                stats_add(st, &st->bytes_out, bytes);
                proxy_backend_succeeded(s->backend);
                session_touch(w, s);
                if ((unsigned) n < UDP_BATCH)
                        return;
        }
}

/* ---- configuration ------------------------------------------------------------------------- */

static void port_free(UdpWorker *w, UdpPort *port) {
        while (port->lru_head)
                session_close(w, port->lru_head);
        (void) epoll_ctl(w->epoll_fd, EPOLL_CTL_DEL, port->fd, NULL);
        udp_listener_unref(port->listener);
        free(port);
}

static void port_configure(UdpWorker *w, UdpPort *port, const Route *route) {
        port->route = route;
        port->idle_usec = route->idle_timeout_usec ?: worker_config(w)->udp_idle_timeout_usec;
        /* Sessions on a backend the route no longer has end; their clients' next datagrams
         * open new ones. */
        for (UdpSession *s = port->lru_head, *next; s; s = next) {
                next = s->lru_next;
                if (!set_has_backend(&route->set, s->backend))
                        session_close(w, s);
        }
}

/* Moves to the control side's current configuration, if it changed. -ENOMEM leaves the old
 * one in place (retried). */
static int worker_configure(UdpWorker *w) {
        ProxyUdp *u = w->udp;
        _cleanup_free_ UdpListener **listeners = NULL;
        _cleanup_free_ UdpPort **ports = NULL;
        RouteTable *table;
        unsigned long generation;
        size_t n, n_ports = 0;
        int r = 0;

        pthread_mutex_lock(&u->lock);
        generation = u->generation;
        if (generation == w->generation) {
                pthread_mutex_unlock(&u->lock);
                return 0;
        }
        n = u->current.n;
        table = route_table_ref(u->table);
        listeners = calloc(MAX(n, 1U), sizeof(UdpListener *));
        if (listeners)
                for (size_t i = 0; i < n; i++)
                        listeners[i] = udp_listener_ref(u->current.listeners[i]);
        pthread_mutex_unlock(&u->lock);

        ports = calloc(MAX(n, 1U), sizeof(UdpPort *));
        if (!listeners || !ports) {
                r = -ENOMEM;
                goto finish;
        }
        for (size_t i = 0; i < n; i++) {
                UdpPort *port = NULL;

                if (!listeners[i])
                        continue;
                for (size_t k = 0; k < w->n_ports; k++)
                        if (w->ports[k] && w->ports[k]->listener == listeners[i]) {
                                port = w->ports[k];
                                break;
                        }
                if (!port) {
                        struct epoll_event ev = { .events = EPOLLIN };

                        port = calloc(1, sizeof *port);
                        if (!port) {
                                r = -ENOMEM;
                                break;
                        }
                        port->tag = (UdpTag){ UDP_EV_PORT, port };
                        port->listener = udp_listener_ref(listeners[i]);
                        port->fd = port->listener->fds[w->index];
                        ev.data.ptr = &port->tag;
                        if (epoll_ctl(w->epoll_fd, EPOLL_CTL_ADD, port->fd, &ev) < 0) {
                                r = -errno;
                                udp_listener_unref(port->listener);
                                free(port);
                                break;
                        }
                }
                ports[n_ports++] = port;
        }
        if (r < 0) {
                /* Undo the ports made here; the ones we had stay as they were. */
                for (size_t i = 0; i < n_ports; i++) {
                        bool had = false;
                        for (size_t k = 0; k < w->n_ports; k++)
                                had = had || w->ports[k] == ports[i];
                        if (!had)
                                port_free(w, ports[i]);
                }
                goto finish;
        }

        for (size_t k = 0; k < w->n_ports; k++) {
                bool kept = false;
                for (size_t i = 0; i < n_ports; i++)
                        kept = kept || ports[i] == w->ports[k];
                if (!kept)
                        port_free(w, w->ports[k]);
        }
        for (size_t i = 0, p = 0; i < n; i++)
                if (listeners[i])
                        port_configure(w, ports[p++], table->listeners[i].routes[0]);
        free(w->ports);
        w->ports = TAKE_PTR(ports);
        w->n_ports = n_ports;
        route_table_unref(w->table);
        w->table = TAKE_PTR(table);
        w->generation = generation;
finish:
        for (size_t i = 0; listeners && i < n; i++)
                udp_listener_unref(listeners[i]);
        route_table_unref(table);
        w->config_failed = r < 0;
        return r;
}

static void worker_clear(UdpWorker *w) {
        for (size_t i = 0; i < w->n_ports; i++)
                port_free(w, w->ports[i]);
        w->ports = mfree(w->ports);
        w->n_ports = 0;
        worker_reap(w);
        w->table = route_table_unref(w->table);
        w->generation = 0;
        w->bufs = mfree(w->bufs);
}

/* ---- the loop ------------------------------------------------------------------------------ */

void udp_worker_expire(UdpWorker *w, uint64_t now) {
        for (size_t i = 0; i < w->n_ports; i++) {
                UdpPort *port = w->ports[i];

                while (port->lru_head && port->lru_head->last_seen + port->idle_usec <= now)
                        session_close(w, port->lru_head);
        }
        worker_reap(w);
}

static int worker_timeout_msec(const UdpWorker *w) {
        uint64_t next = UINT64_MAX;

        for (size_t i = 0; i < w->n_ports; i++) {
                const UdpPort *port = w->ports[i];
                if (port->lru_head)
                        next = MIN(next, port->lru_head->last_seen + port->idle_usec);
        }
        if (next == UINT64_MAX)
                return w->config_failed ? RETRY_CONFIG_MSEC : -1;
        if (next <= w->now)
                return 0;
        /* Rounded up: waking early would find nothing due. */
        return (int) MIN((next - w->now + 999) / 1000,
                         (uint64_t) (w->config_failed ? RETRY_CONFIG_MSEC : INT32_MAX));
}

int udp_worker_step(UdpWorker *w, int timeout_msec) {
        struct epoll_event events[EPOLL_BATCH];
        int n;

        w->now = proxy_now_usec();
        (void) worker_configure(w);
        if (timeout_msec < 0)
                timeout_msec = worker_timeout_msec(w);
        n = epoll_wait(w->epoll_fd, events, EPOLL_BATCH, timeout_msec);
        if (n < 0)
                return errno == EINTR ? 0 : -errno;
        w->now = proxy_now_usec();
        for (int i = 0; i < n; i++) {
                UdpTag *tag = events[i].data.ptr;

                switch (tag->kind) {
                case UDP_EV_WAKE: {
                        uint64_t v;
                        (void) read(w->wake_fd, &v, sizeof v);
                        break;
                }
                case UDP_EV_PORT:
                        port_receive(w, tag->object);
                        break;
                case UDP_EV_SESSION:
                        if (tag->object) /* else closed earlier in this batch */
                                session_receive(w, tag->object);
                        break;
                }
        }
        udp_worker_expire(w, w->now);
        return n;
}

static void *worker_main(void *userdata) {
        UdpWorker *w = userdata;

        while (!atomic_load_explicit(&w->udp->stopping, memory_order_relaxed))
                (void) udp_worker_step(w, -1);
        worker_clear(w);
        return NULL;
}

static UdpWorker *udp_worker_free(UdpWorker *w) {
        if (!w)
                return NULL;
        worker_clear(w);
        udp_session_table_done(&w->sessions);
        safe_close(w->wake_fd);
        safe_close(w->epoll_fd);
        free(w);
        return NULL;
}

static int udp_worker_new(ProxyUdp *u, unsigned index, UdpWorker **ret) {
        struct epoll_event ev = {};
        UdpWorker *w;
        int r;

        w = calloc(1, sizeof *w);
        if (!w)
                return -ENOMEM;
        w->udp = u;
        w->index = index;
        w->wake_fd = -EBADF;
        w->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        if (w->epoll_fd < 0) {
                r = -errno;
                goto fail;
        }
        w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (w->wake_fd < 0) {
                r = -errno;
                goto fail;
        }
        w->wake_tag = (UdpTag){ UDP_EV_WAKE, w };
        ev = (struct epoll_event){ .events = EPOLLIN, .data.ptr = &w->wake_tag };
        if (epoll_ctl(w->epoll_fd, EPOLL_CTL_ADD, w->wake_fd, &ev) < 0) {
                r = -errno;
                goto fail;
        }
        r = udp_session_table_init(&w->sessions);
        if (r < 0)
                goto fail;
        *ret = w;
        return 0;
fail:
        udp_worker_free(w);
        return r;
}

static void udp_worker_wake(UdpWorker *w) {
        uint64_t one = 1;
        (void) write(w->wake_fd, &one, sizeof one);
}

unsigned udp_worker_n_sessions(const UdpWorker *w) {
        return (unsigned) w->sessions.n;
}

UdpSession *udp_worker_find_session(UdpWorker *w, const struct sockaddr *sa, socklen_t len) {
        for (size_t i = 0; i < w->n_ports; i++) {
                UdpKey key;
                UdpSession *s;

                if (udp_key_init(&key, w->ports[i], sa, len) < 0)
                        return NULL;
                s = udp_session_table_find(&w->sessions, &key);
                if (s)
                        return s;
        }
        return NULL;
}

/* ---- the control side ---------------------------------------------------------------------- */

int proxy_udp_new(Proxy *p, ProxyUdp **ret) {
        ProxyUdp *u;
        unsigned n = p->config.n_udp_workers ?: p->n_workers;
        int r;

        u = calloc(1, sizeof *u);
        if (!u)
                return -ENOMEM;
        u->proxy = p;
        pthread_mutex_init(&u->lock, NULL);
        u->workers = calloc(n, sizeof(UdpWorker *));
        if (!u->workers) {
                proxy_udp_free(u);
                return -ENOMEM;
        }
        for (unsigned i = 0; i < n; i++) {
                r = udp_worker_new(u, i, &u->workers[i]);
                if (r < 0) {
                        proxy_udp_free(u);
                        return r;
                }
                u->n_workers++;
        }
        *ret = u;
        return 0;
}

ProxyUdp *proxy_udp_free(ProxyUdp *u) {
        if (!u)
                return NULL;
        proxy_udp_stop(u);
        for (unsigned i = 0; i < u->n_workers; i++)
                udp_worker_free(u->workers[i]);
        free(u->workers);
        udp_plan_done(&u->current);
        route_table_unref(u->table);
        pthread_mutex_destroy(&u->lock);
        free(u);
        return NULL;
}

void udp_plan_done(UdpPlan *plan) {
        for (size_t i = 0; i < plan->n; i++)
                udp_listener_unref(plan->listeners[i]);
        plan->listeners = mfree(plan->listeners);
        plan->n = 0;
}

int proxy_udp_prepare(ProxyUdp *u, const RouteTable *t, UdpPlan *ret) {
        UdpPlan plan = {};
        int r = 0;

        plan.listeners = calloc(MAX(t->n_listeners, 1U), sizeof(UdpListener *));
        if (!plan.listeners)
                return -ENOMEM;
        plan.n = t->n_listeners;
        for (size_t i = 0; i < t->n_listeners; i++) {
                const RouteListener *l = &t->listeners[i];

                if (l->protocol != PROXY_PROTOCOL_UDP)
                        continue;
                /* Only the control side changes `current`: no lock to read it. */
                for (size_t k = 0; k < u->current.n; k++)
                        if (u->current.listeners[k] &&
                            route_address_equal(&u->current.listeners[k]->address, &l->address)) {
                                plan.listeners[i] = udp_listener_ref(u->current.listeners[k]);
                                break;
                        }
                if (!plan.listeners[i]) {
                        r = udp_listener_open(&l->address, u->n_workers, &plan.listeners[i]);
                        if (r < 0)
                                break;
                }
        }
        if (r < 0) {
                udp_plan_done(&plan);
                return r;
        }
        *ret = plan;
        return 0;
}

void proxy_udp_commit(ProxyUdp *u, RouteTable *t, UdpPlan *plan) {
        UdpPlan old;
        RouteTable *old_table;

        pthread_mutex_lock(&u->lock);
        old = u->current;
        old_table = u->table;
        u->current = *plan;
        u->table = route_table_ref(t);
        u->generation++;
        pthread_mutex_unlock(&u->lock);
        *plan = (UdpPlan){};

        udp_plan_done(&old);
        route_table_unref(old_table);
        for (unsigned i = 0; i < u->n_workers; i++)
                udp_worker_wake(u->workers[i]);
}

int proxy_udp_start(ProxyUdp *u) {
        if (u->running)
                return -EBUSY;
        atomic_store(&u->stopping, false);
        for (unsigned i = 0; i < u->n_workers; i++) {
                int r = pthread_create(&u->workers[i]->thread, NULL, worker_main, u->workers[i]);
                if (r != 0) {
                        atomic_store(&u->stopping, true);
                        for (unsigned k = 0; k < i; k++) {
                                udp_worker_wake(u->workers[k]);
                                (void) pthread_join(u->workers[k]->thread, NULL);
                                u->workers[k]->started = false;
                        }
                        return -r;
                }
                u->workers[i]->started = true;
        }
        u->running = true;
        return 0;
}

void proxy_udp_stop(ProxyUdp *u) {
        if (!u->running)
                return;
        atomic_store(&u->stopping, true);
        for (unsigned i = 0; i < u->n_workers; i++)
                udp_worker_wake(u->workers[i]);
        for (unsigned i = 0; i < u->n_workers; i++) {
                (void) pthread_join(u->workers[i]->thread, NULL);
                u->workers[i]->started = false;
        }
        u->running = false;
}

unsigned proxy_udp_n_workers(const ProxyUdp *u) {
        return u->n_workers;
}

unsigned proxy_udp_n_sessions(ProxyUdp *u) {
        return atomic_load(&u->n_sessions);
}

UdpWorker *proxy_udp_worker(ProxyUdp *u, unsigned index) {
        return index < u->n_workers ? u->workers[index] : NULL;
}
