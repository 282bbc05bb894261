/* SPDX-License-Identifier: Apache-2.0 */
/* proxy-udp.h: udp routes: datagrams relayed per client session on their own threads. */
#pragma once

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "proxy-internal.h"

/* A udp listener's sockets, one per UDP worker in one SO_REUSEPORT group: the kernel hashes a
 * client's address to one of them, so each client's session lives on one worker. Shared by
 * the control side and the workers by reference count; kept across route updates while the
 * listener stays, so its sessions do. */
typedef struct UdpListener {
        _Atomic unsigned n_ref;
        RouteAddress address;
        unsigned n_fds;
        int fds[];
} UdpListener;

UdpListener *udp_listener_ref(UdpListener *l);
UdpListener *udp_listener_unref(UdpListener *l);

/* What a session is found by: the listener it came in on and the client's address. Built
 * zero-filled (compared and hashed as bytes). */
typedef struct UdpKey {
        const void *port;
        union {
                struct sockaddr sa;
                struct sockaddr_in in;
                struct sockaddr_in6 in6;
        } addr;
        socklen_t len;
} UdpKey;

/* -EAFNOSUPPORT unless IPv4 or IPv6. */
int udp_key_init(UdpKey *k, const void *port, const struct sockaddr *sa, socklen_t len);

typedef enum UdpEvKind {
        UDP_EV_WAKE,
        UDP_EV_PORT,
        UDP_EV_SESSION,
} UdpEvKind;

typedef struct UdpTag {
        UdpEvKind kind;
        void *object;
} UdpTag;

typedef struct UdpPort UdpPort;

/* A client's session: a socket connected to its backend. */
typedef struct UdpSession {
        UdpTag tag;
        UdpKey key;
        uint64_t hash;
        struct UdpSession *hash_next;
        /* In the port's list, least recently active first; on the worker's dead list once
         * closed. */
        struct UdpSession *lru_prev, *lru_next;
        UdpPort *port;
        int fd;
        BackendHealth *backend;
        uint64_t created, last_seen;
        bool replied;
        bool dead;
} UdpSession;

/* Sessions by key: chained buckets, a power of two of them, grown as sessions come, with a
 * random seed so clients cannot choose addresses that collide. */
typedef struct UdpSessionTable {
        UdpSession **buckets;
        size_t n_buckets;
        size_t n;
        uint64_t seed;
} UdpSessionTable;

int udp_session_table_init(UdpSessionTable *t);
void udp_session_table_done(UdpSessionTable *t);
UdpSession *udp_session_table_find(const UdpSessionTable *t, const UdpKey *k);
/* Sets s->hash. -EEXIST if a session has the key. Never fails otherwise: when growing fails
 * the chains get longer. */
int udp_session_table_add(UdpSessionTable *t, UdpSession *s);
void udp_session_table_remove(UdpSessionTable *t, UdpSession *s);

/* One listener on one worker: its socket and the sessions that came in on it. */
struct UdpPort {
        UdpTag tag;
        UdpListener *listener;
        int fd; /* listener->fds[worker], not owned */
        const Route *route; /* in the worker's table */
        uint64_t idle_usec;
        /* All sessions of a port share its timeout, so least recently active first is also
         * soonest to expire first: expiry looks at the head only. */
        UdpSession *lru_head, *lru_tail;
        unsigned n_sessions;
};

typedef struct ProxyUdp ProxyUdp;
typedef struct UdpWorker UdpWorker;

/* The udp listeners of a table about to be published: listeners[i] for table listener i,
 * NULL for those of other protocols. */
typedef struct UdpPlan {
        size_t n;
        UdpListener **listeners;
} UdpPlan;

int proxy_udp_new(Proxy *p, ProxyUdp **ret);
/* Stops the workers if running and closes every socket. */
ProxyUdp *proxy_udp_free(ProxyUdp *u);

/* Opens the sockets of the udp listeners of t that the current routes do not have (taking
 * those they have). Publishes nothing: -EADDRINUSE, -EACCES ... change nothing. */
int proxy_udp_prepare(ProxyUdp *u, const RouteTable *t, UdpPlan *ret);
void udp_plan_done(UdpPlan *plan);
/* Makes t (its routes attached to stats and backends) and the prepared sockets current, taking
 * them from the plan; the workers move over at their next wakeup: unchanged listeners keep
 * their sessions, removed ones close with theirs. Cannot fail. */
void proxy_udp_commit(ProxyUdp *u, RouteTable *t, UdpPlan *plan);

int proxy_udp_start(ProxyUdp *u);
void proxy_udp_stop(ProxyUdp *u);
unsigned proxy_udp_n_workers(const ProxyUdp *u) _pure_;
/* Sessions open over all workers. */
unsigned proxy_udp_n_sessions(ProxyUdp *u);

/* For the unit test: a worker driven from the calling thread while the proxy is not running. */
UdpWorker *proxy_udp_worker(ProxyUdp *u, unsigned index);
/* Takes a new configuration if there is one, waits up to timeout_msec (-1: until the next
 * expiry) for datagrams, relays them, expires idle sessions. Returns the events handled. */
int udp_worker_step(UdpWorker *w, int timeout_msec);
/* Closes the sessions idle for their port's timeout at time now (CLOCK_MONOTONIC usec). */
void udp_worker_expire(UdpWorker *w, uint64_t now);
unsigned udp_worker_n_sessions(const UdpWorker *w) _pure_;
/* The session of a client on any of the worker's listeners, or NULL. */
UdpSession *udp_worker_find_session(UdpWorker *w, const struct sockaddr *sa, socklen_t len);
