/* SPDX-License-Identifier: Apache-2.0 */
/* route-table.h: proxy routes parsed from JSON, longest-match lookup, lock-free snapshots. */
#pragma once

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "macro.h"

typedef enum ProxyProtocol {
        PROXY_PROTOCOL_HTTP,
        PROXY_PROTOCOL_TCP,
        PROXY_PROTOCOL_UDP, /* datagrams relayed per client session (proxy-udp.c) */
        /* HTTP/1.1 and HTTP/2 (ALPN) over TLS 1.2/1.3; routes as for http, certificates by SNI
         * from the proxy's ProxyTls (proxy-tls.h). */
        PROXY_PROTOCOL_HTTPS,
        _PROXY_PROTOCOL_MAX,
        _PROXY_PROTOCOL_INVALID = -EINVAL,
} ProxyProtocol;

typedef enum ProxyBalance {
        PROXY_BALANCE_ROUND_ROBIN,
        PROXY_BALANCE_LEAST_CONN,
        _PROXY_BALANCE_MAX,
        _PROXY_BALANCE_INVALID = -EINVAL,
} ProxyBalance;

/* http and https listeners share routing by host and path. */
static inline bool proxy_protocol_is_http(ProxyProtocol p) {
        return p == PROXY_PROTOCOL_HTTP || p == PROXY_PROTOCOL_HTTPS;
}

const char *proxy_protocol_to_string(ProxyProtocol p) _const_;
ProxyProtocol proxy_protocol_from_string(const char *s) _pure_;
const char *proxy_balance_to_string(ProxyBalance b) _const_;
ProxyBalance proxy_balance_from_string(const char *s) _pure_;

#define ROUTE_WEIGHT_MAX 1000U
#define ROUTE_NAME_MAX 128U

/* Run-time state the data plane attaches to a table before publishing it (opaque here): they
 * live in the proxy, keyed by route name and backend address, so they survive table swaps. */
typedef struct RouteStats RouteStats;
typedef struct BackendHealth BackendHealth;

/* An IPv4 or IPv6 address with port, as text ("127.0.0.1:80", "[::1]:80") and as a sockaddr. */
typedef struct RouteAddress {
        char text[INET6_ADDRSTRLEN + 8];
        struct sockaddr_storage sa;
        socklen_t sa_len;
} RouteAddress;

/* Parses "a.b.c.d:port" or "[v6]:port" (port 1..65535). -EINVAL when malformed. */
int route_address_parse(const char *s, RouteAddress *ret);
bool route_address_equal(const RouteAddress *a, const RouteAddress *b) _pure_;

typedef struct RouteBackend {
        RouteAddress address;
        unsigned weight; /* 1..ROUTE_WEIGHT_MAX */
        BackendHealth *health; /* attached by the data plane, not owned */
} RouteBackend;

/* An active health check of a route's backends ("health" in the JSON). Zero fields take the
 * checker's defaults (the daemon's configuration). A backend address named by several routes is
 * checked once, with the settings of the first route (in table order) that has a check. */
typedef enum RouteHealthType {
        ROUTE_HEALTH_NONE,
        ROUTE_HEALTH_TCP, /* a connect that succeeds */
        ROUTE_HEALTH_HTTP, /* GET path answered with expect_status (0: any 2xx or 3xx) */
        _ROUTE_HEALTH_TYPE_MAX,
        _ROUTE_HEALTH_TYPE_INVALID = -EINVAL,
} RouteHealthType;

const char *route_health_type_to_string(RouteHealthType t) _const_;
RouteHealthType route_health_type_from_string(const char *s) _pure_;

typedef struct RouteHealthCheck {
        RouteHealthType type;
        char *path; /* http: request target, "/" when not given; NULL for tcp */
        char *host; /* http: Host header; NULL: the backend's address */
        uint64_t interval_usec; /* between the end of a check and the next */
        uint64_t timeout_usec; /* connect plus answer */
        unsigned healthy_threshold; /* consecutive successes that make a down backend up */
        unsigned unhealthy_threshold; /* consecutive failures that make an up backend down */
        unsigned expect_status;
} RouteHealthCheck;

typedef struct RouteBackendSet {
        RouteBackend *backends;
        size_t n_backends;
        unsigned total_weight;
        ProxyBalance balance;
        /* The only mutable part of a published table: where round-robin continues. */
        _Atomic unsigned long rr_next;
} RouteBackendSet;

/* One listening socket the routes share. A listener serves one protocol. */
typedef struct RouteListener {
        RouteAddress address;
        ProxyProtocol protocol;
        /* The routes of this listener, most specific first (host exact > wildcard > any, then
         * longer path prefix). */
        struct Route **routes;
        size_t n_routes;
} RouteListener;

typedef enum RouteHostKind {
        ROUTE_HOST_ANY,
        ROUTE_HOST_WILDCARD, /* host holds ".example.com" for "*.example.com" */
        ROUTE_HOST_EXACT,
} RouteHostKind;

typedef struct Route {
        char *name;
        size_t listener; /* index into RouteTable.listeners */
        RouteHostKind host_kind;
        char *host; /* lower case; NULL for ROUTE_HOST_ANY */
        size_t host_len;
        char *path_prefix; /* always starts with '/' ("/" for tcp and udp routes) */
        size_t path_len;
        RouteBackendSet set;
        RouteStats *stats; /* attached by the data plane, not owned */
        uint64_t idle_timeout_usec; /* udp: a session's idle timeout; 0: the proxy's default */
        RouteHealthCheck health; /* type NONE: no active check */
} Route;

typedef struct RouteTable RouteTable;
struct RouteTable {
        _Atomic unsigned n_ref;
        Route *routes;
        size_t n_routes;
        RouteListener *listeners;
        size_t n_listeners;
        /* Data the publisher hangs on the snapshot (the proxy's listening sockets), freed with
         * it. */
        void *attachment;
        void (*attachment_free)(void *attachment);
};

/* Where validation failed: the route (its name, or "#<index>" when it has none or the name
 * itself is bad), the field ("backends[1].weight") and why. */
typedef struct RouteTableError {
        char route[ROUTE_NAME_MAX + 16];
        char field[64];
        char message[256];
} RouteTableError;

/* Parses and validates {"routes": [...]} (see docs in route-table.c). On success returns 0 and
 * a table with one reference in *ret. -EINVAL with *error filled when the input is invalid,
 * -ENOMEM. Nothing is published: a failure changes nothing. */
int route_table_parse(const char *json, size_t size, RouteTable **ret, RouteTableError *error);
/* An empty table (no routes, no listeners). */
int route_table_new_empty(RouteTable **ret);

RouteTable *route_table_ref(RouteTable *t);
/* Drops a reference; the last one frees the table and its attachment. Any thread. */
RouteTable *route_table_unref(RouteTable *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(RouteTable *, route_table_unref);

/* Sets the attachment of a table not yet published. */
void route_table_set_attachment(RouteTable *t, void *attachment, void (*free_fn)(void *));

/* The stream (http, https, tcp) listener with this address, or -ENOENT. */
int route_table_find_listener(const RouteTable *t, const RouteAddress *address, size_t *ret);
const Route *route_table_find(const RouteTable *t, const char *name) _pure_;

/* The most specific route of a listener for a request. host may carry a ":port" suffix and any
 * case; path may carry a query. NULL when nothing matches. */
const Route *route_table_match(const RouteTable *t, size_t listener, const char *host,
                               size_t host_len, const char *path, size_t path_len);

/* Publishing snapshots to reader threads without locks on the read side. A reader announces
 * the pointer it is about to take in its own hazard slot, checks it is still current, then takes
 * a reference; the publisher swaps the pointer and waits only for the few instructions between
 * a reader's announcement and its reference before dropping its own reference to the old table.
 * Readers then keep their reference as long as they use the table. */
#define ROUTE_PUBLISHER_READERS_MAX 256U

typedef struct RoutePublisher {
        _Atomic(RouteTable *) current;
        _Atomic(RouteTable *) hazards[ROUTE_PUBLISHER_READERS_MAX];
        _Atomic unsigned long generation;
} RoutePublisher;

/* Initial table: an empty one. */
int route_publisher_init(RoutePublisher *p);
void route_publisher_done(RoutePublisher *p);
/* Publishes t (the publisher takes its own reference). Call from one thread at a time. */
void route_publisher_publish(RoutePublisher *p, RouteTable *t);
/* A new reference to the current table; reader is the caller's slot, < READERS_MAX. */
RouteTable *route_publisher_acquire(RoutePublisher *p, unsigned reader);
/* The current table without a reference, for the publisher's own thread only. */
RouteTable *route_publisher_peek(RoutePublisher *p);
static inline unsigned long route_publisher_generation(RoutePublisher *p) {
        return atomic_load_explicit(&p->generation, memory_order_acquire);
}
