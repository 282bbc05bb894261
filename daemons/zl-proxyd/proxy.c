/* SPDX-License-Identifier: Apache-2.0 */
/* proxy.c: the data plane's control side: configuration, listeners, tables, counters. */
#include <netinet/tcp.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>

#include "proxy-internal.h"
#include "proxy-tls.h"
#include "proxy-udp.h"

#define LISTEN_BACKLOG 4096

const uint64_t proxy_latency_bounds_usec[PROXY_LATENCY_BUCKETS - 1] = {
        500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000, 5000000,
};

uint64_t proxy_now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000U + (uint64_t) ts.tv_nsec / 1000U;
}

void proxy_config_init(ProxyConfig *c) {
        *c = (ProxyConfig){
                .n_workers = 0,
                .max_header_size = 16384,
                .max_headers = 100,
                .max_body_size = 64U << 20,
                .header_timeout_usec = 10000000,
                .idle_timeout_usec = 60000000,
                .backend_timeout_usec = 30000000,
                .retries = 2,
                .eject_failures = 3,
                .eject_usec = 10000000,
                .max_idle_upstreams = 64,
                .upstream_idle_usec = 60000000,
                .n_udp_workers = 0,
                .udp_idle_timeout_usec = 60000000,
                .udp_max_sessions = 16384,
                .hsts_max_age_sec = 31536000,
                .h2_max_concurrent_streams = 100,
        };
}

static int config_validate(const ProxyConfig *c) {
        if (c->n_workers > ROUTE_PUBLISHER_READERS_MAX - 1)
                return -EINVAL;
        /* The head must fit a pool buffer with room to spare for the added headers. */
        if (c->max_header_size < 256 || c->max_header_size > 65536)
                return -EINVAL;
        if (c->max_headers == 0 || c->max_headers > 128)
                return -EINVAL;
        if (c->header_timeout_usec == 0 || c->idle_timeout_usec == 0 ||
            c->backend_timeout_usec == 0 || c->eject_failures == 0)
                return -EINVAL;
        if (c->n_udp_workers > 64 || c->udp_idle_timeout_usec == 0 || c->udp_max_sessions == 0)
                return -EINVAL;
        if (c->h2_max_concurrent_streams == 0 || c->h2_max_concurrent_streams > 1000)
                return -EINVAL;
        return 0;
}

int proxy_new(const ProxyConfig *config, Proxy **ret) {
        _cleanup_(proxy_freep) Proxy *p = NULL;
        ProxyConfig c;
        long ncpu;
        int r;

        if (config)
                c = *config;
        else
                proxy_config_init(&c);
        r = config_validate(&c);
        if (r < 0)
                return r;
        if (c.n_workers == 0) {
                ncpu = sysconf(_SC_NPROCESSORS_ONLN);
                c.n_workers = (unsigned) CLAMP(ncpu, 1L, 64L);
        }

        p = calloc(1, sizeof *p);
        if (!p)
                return -ENOMEM;
        p->config = c;
        pthread_mutex_init(&p->registry_lock, NULL);
        r = route_publisher_init(&p->publisher);
        if (r < 0) {
                free(TAKE_PTR(p));
                return r;
        }
        p->workers = calloc(c.n_workers, sizeof(Worker *));
        if (!p->workers)
                return -ENOMEM;
        for (unsigned i = 0; i < c.n_workers; i++) {
                r = worker_new(p, i, &p->workers[i]);
                if (r < 0)
                        return r;
                p->n_workers++;
        }
        r = proxy_udp_new(p, &p->udp);
        if (r < 0)
                return r;
        r = proxy_tls_new(NULL, &p->tls);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(p);
        return 0;
}

Proxy *proxy_free(Proxy *p) {
        if (!p)
                return NULL;
        proxy_stop(p);
        p->udp = proxy_udp_free(p->udp);
        p->tls = proxy_tls_free(p->tls);
        for (unsigned i = 0; i < p->n_workers; i++)
                worker_free(p->workers[i]);
        proxy_listen_set_release(route_publisher_peek(&p->publisher)->attachment);
        free(p->workers);
        route_publisher_done(&p->publisher);
        while (p->stats) {
                RouteStats *s = p->stats;
                p->stats = s->next;
                free(s->name);
                free(s);
        }
        while (p->backends) {
                BackendHealth *b = p->backends;
                p->backends = b->next;
                free(b);
        }
        pthread_mutex_destroy(&p->registry_lock);
        free(p);
        return NULL;
}

unsigned proxy_n_workers(const Proxy *p) {
        return p->n_workers;
}

struct ProxyTls *proxy_get_tls(Proxy *p) {
        return p->tls;
}

void proxy_listen_socket_unref(ProxyListenSocket *s) {
        if (!s || atomic_fetch_sub(&s->n_ref, 1) != 1)
                return;
        for (unsigned i = 0; i < s->n_fds; i++)
                safe_close(s->fds[i]);
        free(s->fds);
        free(s->tags);
        free(s);
}

static void listen_set_close(ProxyListenSet *set) {
        for (size_t i = 0; i < set->n; i++)
                proxy_listen_socket_unref(set->sockets[i]);
        set->n = 0;
}

bool proxy_listen_set_use(ProxyListenSet *set) {
        unsigned n = atomic_load(&set->n_users);

        do
                if (n == 0)
                        return false;
        while (!atomic_compare_exchange_weak(&set->n_users, &n, n + 1));
        return true;
}

void proxy_listen_set_release(ProxyListenSet *set) {
        if (set && atomic_fetch_sub(&set->n_users, 1) == 1)
                listen_set_close(set);
}

static void listen_set_relisten(ProxyListenSet *set) {
        for (size_t i = 0; set && i < set->n; i++)
                for (unsigned k = 0; k < set->sockets[i]->n_fds; k++)
                        if (set->sockets[i]->fds[k] >= 0)
                                (void) listen(set->sockets[i]->fds[k], LISTEN_BACKLOG);
}

static void listen_set_free(void *userdata) {
        ProxyListenSet *set = userdata;

        if (!set)
                return;
        /* Users hold the table, so by now there are none (or the set was never published). */
        listen_set_close(set);
        free(set->sockets);
        free(set);
}

static int listen_socket_open(Proxy *p, const RouteListener *l, ProxyListenSocket **ret) {
        ProxyListenSocket *s;
        int r = 0;

        s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        atomic_init(&s->n_ref, 1);
        s->address = l->address;
        s->protocol = l->protocol;
        s->fds = malloc(p->n_workers * sizeof(int));
        s->tags = calloc(p->n_workers, sizeof(EvTag));
        if (!s->fds || !s->tags) {
                r = -ENOMEM;
                goto fail;
        }
        if (l->protocol == PROXY_PROTOCOL_UDP) {
                /* A placeholder keeping the set aligned with the table's listeners: udp sockets
                 * belong to proxy-udp.c, and the workers' epoll refuses these fds. */
                for (unsigned i = 0; i < p->n_workers; i++)
                        s->fds[s->n_fds++] = -EBADF;
                *ret = s;
                return 0;
        }
        for (unsigned i = 0; i < p->n_workers; i++) {
                int fd, one = 1;

                fd = socket(l->address.sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                            IPPROTO_TCP);
                if (fd < 0) {
                        r = -errno;
                        goto fail;
                }
                s->fds[s->n_fds++] = fd;
                s->tags[i] = (EvTag){ .kind = EV_LISTEN, .object = s };
                if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
                    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
                    (l->address.sa.ss_family == AF_INET6 &&
                     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0)) {
                        r = -errno;
                        goto fail;
                }
                if (bind(fd, (const struct sockaddr *) &l->address.sa, l->address.sa_len) < 0 ||
                    listen(fd, LISTEN_BACKLOG) < 0) {
                        r = -errno;
                        goto fail;
                }
        }
        *ret = s;
        return 0;
fail:
        proxy_listen_socket_unref(s);
        return r;
}

static RouteStats *stats_get(Proxy *p, const char *name) {
        RouteStats *s;

        for (s = p->stats; s; s = s->next)
                if (streq(s->name, name))
                        return s;
        s = calloc(1, sizeof *s);
        if (!s)
                return NULL;
        s->name = strdup(name);
        if (!s->name)
                return mfree(s);
        s->next = p->stats;
        p->stats = s;
        return s;
}

static BackendHealth *backend_get(Proxy *p, const RouteAddress *a) {
        BackendHealth *b;

        for (b = p->backends; b; b = b->next)
                if (route_address_equal(&b->address, a))
                        return b;
        b = calloc(1, sizeof *b);
        if (!b)
                return NULL;
        b->address = *a;
        b->id = p->n_backend_ids++;
        b->next = p->backends;
        p->backends = b;
        return b;
}

int proxy_set_routes(Proxy *p, RouteTable *t) {
        RouteTable *current = route_publisher_peek(&p->publisher);
        ProxyListenSet *old = current->attachment, *set;
        UdpPlan udp_plan = {};
        int r = 0;

        if (!t || t->attachment)
                return -EINVAL;
        /* OpenSSL comes in with the first https listener (its memory too). */
        for (size_t i = 0; i < t->n_listeners; i++)
                if (t->listeners[i].protocol == PROXY_PROTOCOL_HTTPS) {
                        r = proxy_tls_prepare(p->tls);
                        if (r < 0)
                                return r;
                        break;
                }

        set = calloc(1, sizeof *set);
        if (!set)
                return -ENOMEM;
        atomic_init(&set->n_users, 1); /* ours, while the table is current */
        set->sockets = calloc(MAX(t->n_listeners, 1U), sizeof(ProxyListenSocket *));
        if (!set->sockets) {
                free(set);
                return -ENOMEM;
        }
        for (size_t i = 0; i < t->n_listeners; i++) {
                const RouteListener *l = &t->listeners[i];
                ProxyListenSocket *s = NULL;

                for (size_t k = 0; old && k < old->n; k++)
                        if (route_address_equal(&old->sockets[k]->address, &l->address) &&
                            old->sockets[k]->protocol == l->protocol) {
                                s = old->sockets[k];
                                atomic_fetch_add(&s->n_ref, 1);
                                break;
                        }
                if (!s) {
                        /* A listener changing protocol binds beside the old socket (both
                         * have SO_REUSEPORT); the old one closes once no worker uses it. */
                        r = listen_socket_open(p, l, &s);
                        if (r < 0)
                                break;
                }
                set->sockets[set->n++] = s;
        }
        if (r < 0) {
                listen_set_free(set);
                return r;
        }

        pthread_mutex_lock(&p->registry_lock);
        for (size_t i = 0; i < t->n_routes && r >= 0; i++) {
                Route *rt = &t->routes[i];

                rt->stats = stats_get(p, rt->name);
                if (!rt->stats)
                        r = -ENOMEM;
                for (size_t k = 0; k < rt->set.n_backends && r >= 0; k++) {
                        rt->set.backends[k].health = backend_get(p, &rt->set.backends[k].address);
                        if (!rt->set.backends[k].health)
                                r = -ENOMEM;
                }
        }
        pthread_mutex_unlock(&p->registry_lock);
        if (r >= 0)
                r = proxy_udp_prepare(p->udp, t, &udp_plan);
        if (r < 0) {
                listen_set_free(set);
                return r;
        }

        route_table_set_attachment(t, set, listen_set_free);
        /* The publisher drops its reference to the old table, and a worker that moved on may
         * drop the last other one, freeing the old set: hold the table until it is released. */
        route_table_ref(current);
        route_publisher_publish(&p->publisher, t);
        proxy_udp_commit(p->udp, t, &udp_plan);
        proxy_listen_set_release(old);
        route_table_unref(current);
        for (unsigned i = 0; i < p->n_workers; i++)
                worker_wake(p->workers[i]);
        return 0;
}

int proxy_run(Proxy *p) {
        int r;

        if (p->running)
                return -EBUSY;
        /* A stop took the listening sockets out of listening (see worker_stop_begin); on a
         * socket that listens already this changes nothing. */
        listen_set_relisten(route_publisher_peek(&p->publisher)->attachment);
        atomic_store(&p->stopping, false);
        for (unsigned i = 0; i < p->n_workers; i++) {
                r = worker_start(p->workers[i]);
                if (r < 0) {
                        atomic_store(&p->stopping, true);
                        for (unsigned k = 0; k < i; k++) {
                                worker_wake(p->workers[k]);
                                worker_join(p->workers[k]);
                        }
                        return r;
                }
        }
        r = proxy_udp_start(p->udp);
        if (r < 0) {
                atomic_store(&p->stopping, true);
                for (unsigned k = 0; k < p->n_workers; k++) {
                        worker_wake(p->workers[k]);
                        worker_join(p->workers[k]);
                }
                return r;
        }
        p->running = true;
        return 0;
}

void proxy_stop(Proxy *p) {
        if (!p->running)
                return;
        atomic_store(&p->stopping, true);
        for (unsigned i = 0; i < p->n_workers; i++)
                worker_wake(p->workers[i]);
        proxy_udp_stop(p->udp);
        for (unsigned i = 0; i < p->n_workers; i++)
                worker_join(p->workers[i]);
        p->running = false;
}

int proxy_get_route_stats(Proxy *p, const char *route, ProxyRouteStats *ret) {
        int r = -ENOENT;

        pthread_mutex_lock(&p->registry_lock);
        for (RouteStats *s = p->stats; s; s = s->next)
                if (streq(s->name, route)) {
                        ProxyRouteStats st = {
                                .requests =
                                        atomic_load_explicit(&s->requests, memory_order_relaxed),
                                .errors = atomic_load_explicit(&s->errors, memory_order_relaxed),
                                .bytes_in =
                                        atomic_load_explicit(&s->bytes_in, memory_order_relaxed),
                                .bytes_out =
                                        atomic_load_explicit(&s->bytes_out, memory_order_relaxed),
                        };
                        for (size_t i = 0; i < PROXY_LATENCY_BUCKETS; i++)
                                st.latency[i] =
                                        atomic_load_explicit(&s->latency[i], memory_order_relaxed);
                        *ret = st;
                        r = 0;
                        break;
                }
        pthread_mutex_unlock(&p->registry_lock);
        return r;
}

int proxy_get_backend_state(Proxy *p, const char *address, ProxyBackendState *ret) {
        int r = -ENOENT;

        pthread_mutex_lock(&p->registry_lock);
        for (BackendHealth *b = p->backends; b; b = b->next)
                if (streq(b->address.text, address)) {
                        *ret = (ProxyBackendState){
                                .active = (unsigned) MAX(atomic_load(&b->active), 0),
                                .failures = atomic_load(&b->failures),
                                .ejected = atomic_load(&b->ejected_until) > proxy_now_usec(),
                                .down = atomic_load(&b->down),
                        };
                        r = 0;
                        break;
                }
        pthread_mutex_unlock(&p->registry_lock);
        return r;
}

int proxy_set_access_log(Proxy *p, struct AccessLog *log) {
        if (p->running)
                return -EBUSY;
        p->access_log = log;
        return 0;
}
