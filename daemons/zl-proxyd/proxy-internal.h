/* SPDX-License-Identifier: Apache-2.0 */
/* proxy-internal.h: what proxy.c (control side) and proxy-worker.c (data path) share. */
#pragma once

#include <pthread.h>
#include <stdatomic.h>

#include "access-log.h"
#include "proxy.h"

/* Counters shared by the workers, kept by route name for the proxy's lifetime. */
struct RouteStats {
        RouteStats *next;
        char *name;
        _Atomic uint64_t requests, errors, bytes_in, bytes_out;
        _Atomic uint64_t latency[PROXY_LATENCY_BUCKETS];
};

/* Health of a backend address, shared by every route and worker that uses it. */
struct BackendHealth {
        BackendHealth *next;
        RouteAddress address;
        unsigned id; /* dense, indexes the workers' idle connection pools */
        _Atomic int active;
        _Atomic unsigned failures;
        _Atomic uint64_t ejected_until; /* CLOCK_MONOTONIC usec */
        /* The active health check (health-check.c, on the control thread) found it down; the
         * workers skip it like an ejected one. */
        _Atomic bool down;
};

/* One listening address: a socket per worker (SO_REUSEPORT spreads connections over them). A
 * table's attachment holds references; the last one closes the sockets. */
typedef struct ProxyListenSocket {
        _Atomic unsigned n_ref;
        RouteAddress address;
        ProxyProtocol protocol;
        unsigned n_fds;
        int *fds;
        struct EvTag *tags; /* one per worker, for epoll */
} ProxyListenSocket;

/* A table's attachment: socket i serves table listener i. Its sockets stay open while the set
 * has users: the control side while the table is current, and each worker while it serves it.
 * Connections keep their table (for the routes) but not its listeners: a replaced listener
 * closes as soon as every worker has moved on, even if old connections live on. */
typedef struct ProxyListenSet {
        atomic_uint n_users;
        size_t n;
        ProxyListenSocket **sockets;
} ProxyListenSet;

/* Becomes a user; false when the set has none left (its sockets are closed). */
bool proxy_listen_set_use(ProxyListenSet *set);
void proxy_listen_set_release(ProxyListenSet *set);

typedef enum EvKind {
        EV_WAKE,
        EV_LISTEN,
        EV_CLIENT,
        EV_UPSTREAM,
} EvKind;

typedef struct EvTag {
        EvKind kind;
        void *object;
} EvTag;

typedef struct Worker Worker;

struct Proxy {
        ProxyConfig config;
        RoutePublisher publisher;
        pthread_mutex_t registry_lock; /* stats and backends lists: set_routes vs getters */
        RouteStats *stats;
        BackendHealth *backends;
        unsigned n_backend_ids;

        /* Where workers hand finished requests (access-log.h); NULL: no access log. Set before
         * proxy_run(). */
        struct AccessLog *access_log;

        Worker **workers;
        unsigned n_workers;
        struct ProxyUdp *udp; /* udp routes, on threads of their own (proxy-udp.c) */
        struct ProxyTls *tls; /* certificates and the SSL_CTX of https listeners */
        bool running;
        atomic_bool stopping;
};

int worker_new(Proxy *p, unsigned index, Worker **ret);
Worker *worker_free(Worker *w);
int worker_start(Worker *w);
/* Wakes the worker (new table, or stop). */
void worker_wake(Worker *w);
void worker_join(Worker *w);

void proxy_listen_socket_unref(ProxyListenSocket *s);

uint64_t proxy_now_usec(void);

/* ---- backend choice, shared by the stream workers and the UDP workers (proxy-backend.c) ---- */

/* Neither marked down by an active check nor ejected at `now` (CLOCK_MONOTONIC usec). */
static inline bool proxy_backend_usable(const BackendHealth *b, uint64_t now) {
        return !atomic_load_explicit(&b->down, memory_order_relaxed) &&
               atomic_load_explicit(&b->ejected_until, memory_order_relaxed) <= now;
}

/* A usable backend of the set, skipping those skip() returns true for (already tried, just
 * failed); NULL when none is left. round_robin: a weighted rotation on the set's shared ticket.
 * least_conn: the usable backend with the fewest requests, relays or sessions in flight
 * (BackendHealth.active, one count per backend address across routes and workers, read without
 * a lock) per unit of weight, ties going to the ticket, i.e. to round-robin. Two workers choosing
 * at the same instant may see the same counts: exact for sequential choices, approximate for
 * simultaneous ones. */
BackendHealth *proxy_backend_select(const RouteBackendSet *set, uint64_t now,
                                    bool (*skip)(const BackendHealth *b, const void *userdata),
                                    const void *userdata);
/* Passive outlier ejection: config->eject_failures consecutive failures eject the backend for
 * config->eject_usec from `now`; a success resets the count. */
void proxy_backend_failed(const ProxyConfig *config, BackendHealth *b, uint64_t now);
void proxy_backend_succeeded(BackendHealth *b);
