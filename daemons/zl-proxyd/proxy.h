/* SPDX-License-Identifier: Apache-2.0 */
/* proxy.h: the data plane: worker threads serving the routes of the published table. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "macro.h"
#include "route-table.h"

typedef struct ProxyConfig {
        unsigned n_workers; /* 0: one per online CPU */
        size_t max_header_size; /* request line and headers */
        unsigned max_headers;
        uint64_t max_body_size; /* request bodies; UINT64_MAX: no limit */
        uint64_t header_timeout_usec; /* from accept or the first byte of a request to its head */
        uint64_t idle_timeout_usec; /* keep-alive wait, and no progress in a body or a relay */
        uint64_t backend_timeout_usec; /* connect plus response head, and no backend progress */
        unsigned retries; /* further backends tried when a connect fails */
        unsigned eject_failures; /* consecutive failures that eject a backend ... */
        uint64_t eject_usec; /* ... for this long */
        /* Keep-alive connections kept per backend and worker. A burst of finished requests may
         * park more for a moment: the excess, least recently used first, is closed by the next
         * timer sweep (250 ms), so connections are not torn down and reopened under load. */
        unsigned max_idle_upstreams;
        uint64_t upstream_idle_usec;
        /* udp routes (proxy-udp.c): threads relaying datagrams (0: one per worker), a
         * session's idle timeout unless its route sets one, and the sessions allowed over all
         * listeners (each holds a socket). */
        unsigned n_udp_workers;
        uint64_t udp_idle_timeout_usec;
        unsigned udp_max_sessions;
        /* https listeners (proxy-tls.h): Strict-Transport-Security max-age added to responses
         * that have none (0: no header), and the HTTP/2 streams a client may open at once. */
        uint64_t hsts_max_age_sec;
        unsigned h2_max_concurrent_streams;
} ProxyConfig;

/* Defaults: workers per CPU, 16 KiB of head in at most 100 headers, 64 MiB bodies, 10 s header,
 * 60 s idle, 30 s backend timeouts, 2 retries, 3 failures eject for 10 s, 64 idle upstream
 * connections for 60 s; as many udp threads as workers, 60 s udp sessions, at most 16384 of
 * them; HSTS for a year, 100 HTTP/2 streams. */
void proxy_config_init(ProxyConfig *c);

/* Latency buckets: upper bounds in microseconds; the last bucket is everything above. */
#define PROXY_LATENCY_BUCKETS 12
extern const uint64_t proxy_latency_bounds_usec[PROXY_LATENCY_BUCKETS - 1];

typedef struct ProxyRouteStats {
        uint64_t requests; /* HTTP requests answered, TCP connections relayed, or UDP sessions
                            * opened or refused (see proxy-udp.c) */
        uint64_t errors; /* 5xx answers, proxy-made error answers, failed relays */
        uint64_t bytes_in; /* from clients */
        uint64_t bytes_out; /* to clients */
        uint64_t latency[PROXY_LATENCY_BUCKETS]; /* request start to response end */
} ProxyRouteStats;

typedef struct ProxyBackendState {
        unsigned active; /* requests or relays in flight */
        unsigned failures; /* consecutive */
        bool ejected;
        bool down; /* by the active health check */
} ProxyBackendState;

typedef struct Proxy Proxy;

int proxy_new(const ProxyConfig *config, Proxy **ret);
/* Stops the workers if running, closes every socket. */
Proxy *proxy_free(Proxy *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(Proxy *, proxy_free);

/* Publishes a table (taking a reference): listeners new to it are opened (one SO_REUSEPORT
 * socket per worker), unchanged ones are kept with their connections, removed ones are closed
 * once no worker uses them. If a listener cannot be opened nothing changes and the error is
 * returned (-EADDRINUSE, -EACCES ...). Connections keep the routes they matched until their
 * request ends. One thread at a time. */
int proxy_set_routes(Proxy *p, RouteTable *t);
/* Starts the worker threads and returns. -EBUSY if running. */
int proxy_run(Proxy *p);
/* Makes the workers close their connections and exit, and joins them. */
void proxy_stop(Proxy *p);
unsigned proxy_n_workers(const Proxy *p) _pure_;
/* The certificates of the https listeners (proxy-tls.h: reload, add_certificate), made with a
 * self-signed fallback by proxy_new(); owned by the proxy. */
struct ProxyTls *proxy_get_tls(Proxy *p) _pure_;

/* Counters of a route by name, summed over its life (they survive route updates); -ENOENT. */
int proxy_get_route_stats(Proxy *p, const char *route, ProxyRouteStats *ret);
/* State of a backend by address text as in the table ("127.0.0.1:80"); -ENOENT. */
int proxy_get_backend_state(Proxy *p, const char *address, ProxyBackendState *ret);

/* Workers hand each finished request to this log (see access-log.h), which must outlive the
 * proxy's workers; NULL turns it off. Only while the workers are not running. -EBUSY. */
struct AccessLog;
int proxy_set_access_log(Proxy *p, struct AccessLog *log);
