/* SPDX-License-Identifier: Apache-2.0 */
/* health-check.c: active health checks of backends (TCP connect or HTTP GET) on an sd-event loop.
 */
#include <ctype.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "health-check.h"
#include "log.h"
#include "proxy-internal.h"
#include "string-util.h"

#define RESPONSE_MAX 512U
/* The first check of a new probe: soon, but spread a little so that a table of many backends
 * does not open all its connections in the same instant. */
#define FIRST_CHECK_SPREAD_USEC 100000U

typedef enum ProbePhase {
        PROBE_IDLE,
        PROBE_CONNECTING,
        PROBE_SENDING,
        PROBE_READING,
} ProbePhase;

typedef struct Probe {
        struct Probe *next;
        HealthChecker *checker;
        BackendHealth *backend; /* lives as long as the proxy */
        RouteHealthCheck check; /* path and host owned */
        uint64_t interval_usec, timeout_usec;
        unsigned healthy_threshold, unhealthy_threshold;

        bool healthy;
        bool wanted; /* seen by the set_table in progress */
        unsigned failures, successes;
        uint64_t checks;
        char last_result[64];

        ProbePhase phase;
        int fd;
        sd_event_source *io;
        sd_event_source *timer; /* the next check while idle, the deadline while checking */
        char *request;
        size_t request_len, request_sent;
        char response[RESPONSE_MAX];
        size_t response_len;
} Probe;

struct HealthChecker {
        sd_event *event;
        HealthDefaults defaults;
        HealthChangedFn cb;
        void *userdata;
        Probe *probes;
        unsigned n_probes;
        /* The probe of each backend by BackendHealth.id (dense over the proxy's life). */
        Probe **by_id;
        size_t n_by_id;
};

void health_defaults_init(HealthDefaults *d) {
        *d = (HealthDefaults){
                .interval_usec = 5000000,
                .timeout_usec = 2000000,
                .healthy_threshold = 2,
                .unhealthy_threshold = 3,
        };
}

static void probe_stop_attempt(Probe *p) {
        p->io = sd_event_source_disable_unref(p->io);
        p->fd = safe_close(p->fd);
        p->request = mfree(p->request);
        p->request_len = p->request_sent = p->response_len = 0;
        p->phase = PROBE_IDLE;
}

static void probe_free(Probe *p) {
        if (!p)
                return;
        probe_stop_attempt(p);
        sd_event_source_disable_unref(p->timer);
        free(p->check.path);
        free(p->check.host);
        free(p);
}

HealthChecker *health_checker_free(HealthChecker *h) {
        if (!h)
                return NULL;
        while (h->probes) {
                Probe *p = h->probes;
                h->probes = p->next;
                probe_free(p);
        }
        free(h->by_id);
        sd_event_unref(h->event);
        free(h);
        return NULL;
}

int health_checker_new(sd_event *event, const HealthDefaults *defaults, HealthChangedFn cb,
                       void *userdata, HealthChecker **ret) {
        HealthChecker *h;

        if (!event || !ret)
                return -EINVAL;
        h = calloc(1, sizeof *h);
        if (!h)
                return -ENOMEM;
        h->event = sd_event_ref(event);
        if (defaults)
                h->defaults = *defaults;
        else
                health_defaults_init(&h->defaults);
        h->cb = cb;
        h->userdata = userdata;
        *ret = h;
        return 0;
}

void health_checker_set_defaults(HealthChecker *h, const HealthDefaults *defaults) {
        h->defaults = *defaults;
}

unsigned health_checker_n_probes(const HealthChecker *h) {
        return h->n_probes;
}

static int probe_arm(Probe *p, uint64_t when) {
        int r;

        r = sd_event_source_set_time(p->timer, when);
        if (r >= 0)
                r = sd_event_source_set_enabled(p->timer, SD_EVENT_ONESHOT);
        return r;
}

static uint64_t loop_now(HealthChecker *h) {
        uint64_t t;

        if (sd_event_now(h->event, CLOCK_MONOTONIC, &t) < 0)
                t = proxy_now_usec();
        return t;
}

/* One check ended: count it, change state after the thresholds, schedule the next. */
static void probe_done(Probe *p, bool ok, const char *result) {
        HealthChecker *h = p->checker;
        bool changed = false;
        int r;

        probe_stop_attempt(p);
        p->checks++;
        snprintf(p->last_result, sizeof p->last_result, "%s", result);
        if (ok) {
                p->failures = 0;
                p->successes++;
                if (!p->healthy && p->successes >= p->healthy_threshold) {
                        p->healthy = changed = true;
                        atomic_store(&p->backend->down, false);
                }
        } else {
                p->successes = 0;
                p->failures++;
                if (p->healthy && p->failures >= p->unhealthy_threshold) {
                        p->healthy = false;
                        changed = true;
                        atomic_store(&p->backend->down, true);
                }
        }
        log_debug("Health check of %s: %s.", p->backend->address.text, result);
        r = probe_arm(p, loop_now(h) + p->interval_usec);
        if (r < 0)
                log_debug_errno(r, "Failed to schedule the next check of %s: %m",
                                p->backend->address.text);
        if (changed && h->cb)
                h->cb(h, p->backend->address.text, p->healthy, result, h->userdata);
}

static void probe_failed_errno(Probe *p, int error) {
        char buf[64];

        snprintf(buf, sizeof buf, "%s", strerror(abs(error)));
        if (buf[0])
                buf[0] = (char) tolower((unsigned char) buf[0]);
        probe_done(p, false, buf);
}

/* The status line is all we need: "HTTP/1.x NNN ...". */
static void probe_check_response(Probe *p, bool eof) {
        const char *eol = memmem(p->response, p->response_len, "\r\n", 2);
        unsigned status = 0;
        char buf[64];

        if (!eol) {
                if (eof || p->response_len == RESPONSE_MAX)
                        probe_done(p, false, "malformed response");
                return;
        }
        if (eol - p->response < 12 || !startswith(p->response, "HTTP/1.") ||
            p->response[8] != ' ' || sscanf(p->response + 9, "%3u", &status) != 1 || status < 100 ||
            status > 599)
                return probe_done(p, false, "malformed response");
        snprintf(buf, sizeof buf, "status %u", status);
        if (p->check.expect_status ? status == p->check.expect_status
                                   : status >= 200 && status < 400)
                probe_done(p, true, buf);
        else
                probe_done(p, false, buf);
}

static int probe_build_request(Probe *p) {
        const char *host = p->check.host ?: p->backend->address.text;
        int n;

        n = asprintf(&p->request,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: zl-proxyd-health-check\r\n"
                     "Accept: */*\r\nConnection: close\r\n\r\n",
                     p->check.path ?: "/", host);
        if (n < 0) {
                p->request = NULL;
                return -ENOMEM;
        }
        p->request_len = (size_t) n;
        return 0;
}

static int on_probe_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Probe *p = userdata;
        ssize_t n;
        int r;

        (void) s;
        if (p->phase == PROBE_CONNECTING) {
                int err = 0;
                socklen_t len = sizeof err;

                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                        err = errno;
                if (err == 0 && (revents & (EPOLLERR | EPOLLHUP)))
                        err = ECONNRESET;
                if (err != 0) {
                        probe_failed_errno(p, err);
                        return 0;
                }
                if (p->check.type == ROUTE_HEALTH_TCP) {
                        probe_done(p, true, "connected");
                        return 0;
                }
                r = probe_build_request(p);
                if (r < 0) {
                        probe_failed_errno(p, r);
                        return 0;
                }
                p->phase = PROBE_SENDING;
        }
        if (p->phase == PROBE_SENDING) {
                n = send(fd, p->request + p->request_sent, p->request_len - p->request_sent,
                         MSG_NOSIGNAL);
                if (n < 0) {
                        if (errno != EAGAIN && errno != EINTR)
                                probe_failed_errno(p, errno);
                        return 0;
                }
                p->request_sent += n;
                if (p->request_sent < p->request_len)
                        return 0;
                p->phase = PROBE_READING;
                r = sd_event_source_set_io_events(p->io, EPOLLIN);
                if (r < 0)
                        probe_failed_errno(p, r);
                return 0;
        }
        if (p->phase == PROBE_READING) {
                n = recv(fd, p->response + p->response_len, RESPONSE_MAX - p->response_len, 0);
                if (n < 0) {
                        if (errno != EAGAIN && errno != EINTR)
                                probe_failed_errno(p, errno);
                        return 0;
                }
                p->response_len += n;
                probe_check_response(p, n == 0);
        }
        return 0;
}

static void probe_start(Probe *p) {
        HealthChecker *h = p->checker;
        const RouteAddress *a = &p->backend->address;
        int r;

        p->fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
        if (p->fd < 0)
                return probe_failed_errno(p, errno);
        if (connect(p->fd, (const struct sockaddr *) &a->sa, a->sa_len) < 0 && errno != EINPROGRESS)
                return probe_failed_errno(p, errno);
        p->phase = PROBE_CONNECTING;
        r = sd_event_add_io(h->event, &p->io, p->fd, EPOLLOUT, on_probe_io, p);
        if (r < 0)
                return probe_failed_errno(p, r);
        (void) sd_event_source_set_description(p->io, "health-check-io");
        r = probe_arm(p, loop_now(h) + p->timeout_usec);
        if (r < 0)
                return probe_failed_errno(p, r);
}

static int on_probe_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Probe *p = userdata;

        (void) s, (void) usec;
        if (p->phase == PROBE_IDLE)
                probe_start(p);
        else
                probe_done(p, false, "timed out");
        return 0;
}

static void probe_configure(Probe *p, const RouteHealthCheck *c, const HealthDefaults *d) {
        p->interval_usec = c->interval_usec ?: d->interval_usec;
        p->timeout_usec = c->timeout_usec ?: MIN(d->timeout_usec, p->interval_usec);
        p->healthy_threshold = c->healthy_threshold ?: d->healthy_threshold;
        p->unhealthy_threshold = c->unhealthy_threshold ?: d->unhealthy_threshold;
}

static bool str_equal_or_null(const char *a, const char *b) {
        return a == b || (a && b && streq(a, b));
}

static bool check_equal(const RouteHealthCheck *a, const RouteHealthCheck *b) {
        return a->type == b->type && str_equal_or_null(a->path, b->path) &&
               str_equal_or_null(a->host, b->host) && a->interval_usec == b->interval_usec &&
               a->timeout_usec == b->timeout_usec && a->healthy_threshold == b->healthy_threshold &&
               a->unhealthy_threshold == b->unhealthy_threshold &&
               a->expect_status == b->expect_status;
}

static int check_copy(RouteHealthCheck *dst, const RouteHealthCheck *src) {
        RouteHealthCheck c = *src;

        c.path = NULL;
        c.host = NULL;
        if ((src->path && !(c.path = strdup(src->path))) ||
            (src->host && !(c.host = strdup(src->host)))) {
                free(c.path);
                return -ENOMEM;
        }
        *dst = c;
        return 0;
}

static Probe *probe_find(HealthChecker *h, const BackendHealth *b) {
        return b->id < h->n_by_id ? h->by_id[b->id] : NULL;
}

static int probe_new(HealthChecker *h, BackendHealth *b, const RouteHealthCheck *c, Probe **ret) {
        Probe *p;
        int r;

        p = calloc(1, sizeof *p);
        if (!p)
                return -ENOMEM;
        p->checker = h;
        p->backend = b;
        p->fd = -EBADF;
        p->healthy = true;
        snprintf(p->last_result, sizeof p->last_result, "not checked yet");
        r = check_copy(&p->check, c);
        if (r < 0) {
                free(p);
                return r;
        }
        probe_configure(p, c, &h->defaults);
        r = sd_event_add_time(h->event, &p->timer, CLOCK_MONOTONIC, 0, 1000, on_probe_timer, p);
        if (r < 0) {
                probe_free(p);
                return r;
        }
        (void) sd_event_source_set_description(p->timer, "health-check-timer");
        (void) sd_event_source_set_enabled(p->timer, SD_EVENT_OFF);
        *ret = p;
        return 0;
}

int health_checker_set_table(HealthChecker *h, const RouteTable *t) {
        _cleanup_free_ Probe **fresh = NULL, **fresh_by_id = NULL;
        size_t n_fresh = 0, n_max = 0, n_ids = 0;
        uint64_t now = loop_now(h);
        int r = 0;

        for (size_t i = 0; t && i < t->n_routes; i++)
                if (t->routes[i].health.type != ROUTE_HEALTH_NONE)
                        n_max += t->routes[i].set.n_backends;
        for (size_t i = 0; t && i < t->n_routes; i++)
                for (size_t k = 0; k < t->routes[i].set.n_backends; k++)
                        if (t->routes[i].set.backends[k].health)
                                n_ids = MAX(n_ids, t->routes[i].set.backends[k].health->id + 1U);
        if (n_ids > h->n_by_id) {
                Probe **grown = realloc(h->by_id, n_ids * sizeof(Probe *));
                if (!grown)
                        return -ENOMEM;
                memset(grown + h->n_by_id, 0, (n_ids - h->n_by_id) * sizeof(Probe *));
                h->by_id = grown;
                h->n_by_id = n_ids;
        }
        fresh = calloc(MAX(n_max, 1U), sizeof(Probe *));
        fresh_by_id = calloc(MAX(n_ids, 1U), sizeof(Probe *));
        if (!fresh || !fresh_by_id)
                return -ENOMEM;

        for (Probe *p = h->probes; p; p = p->next)
                p->wanted = false;

        /* First pass: make what is missing, change nothing yet, so a failure leaves all as is. */
        for (size_t i = 0; t && i < t->n_routes && r >= 0; i++) {
                const Route *rt = &t->routes[i];

                if (rt->health.type == ROUTE_HEALTH_NONE)
                        continue;
                for (size_t k = 0; k < rt->set.n_backends && r >= 0; k++) {
                        BackendHealth *b = rt->set.backends[k].health;
                        bool known = false;

                        if (!b)
                                continue;
                        known = probe_find(h, b) || fresh_by_id[b->id];
                        if (!known) {
                                r = probe_new(h, b, &rt->health, &fresh[n_fresh]);
                                if (r >= 0)
                                        fresh_by_id[b->id] = fresh[n_fresh++];
                        }
                }
        }
        if (r < 0) {
                for (size_t m = 0; m < n_fresh; m++)
                        probe_free(fresh[m]);
                return r;
        }

        /* Second pass: reconfigure the kept probes with the first route naming them. */
        for (size_t i = 0; t && i < t->n_routes; i++) {
                const Route *rt = &t->routes[i];

                if (rt->health.type == ROUTE_HEALTH_NONE)
                        continue;
                for (size_t k = 0; k < rt->set.n_backends; k++) {
                        Probe *p = rt->set.backends[k].health
                                           ? probe_find(h, rt->set.backends[k].health)
                                           : NULL;
                        RouteHealthCheck c;

                        if (!p || p->wanted)
                                continue;
                        p->wanted = true;
                        if (!check_equal(&p->check, &rt->health) &&
                            check_copy(&c, &rt->health) >= 0) {
                                free(p->check.path);
                                free(p->check.host);
                                p->check = c;
                        }
                        probe_configure(p, &p->check, &h->defaults);
                }
        }

        for (Probe **pp = &h->probes; *pp;) {
                Probe *p = *pp;

                if (p->wanted) {
                        pp = &p->next;
                        continue;
                }
                /* No longer checked: whatever the last check said, the data path may use it. */
                atomic_store(&p->backend->down, false);
                *pp = p->next;
                h->n_probes--;
                h->by_id[p->backend->id] = NULL;
                probe_free(p);
        }
        for (size_t m = 0; m < n_fresh; m++) {
                Probe *p = fresh[m];

                p->wanted = true;
                p->next = h->probes;
                h->probes = p;
                h->n_probes++;
                h->by_id[p->backend->id] = p;
                atomic_store(&p->backend->down, false);
                (void) probe_arm(p, now + (m * 7919U) % FIRST_CHECK_SPREAD_USEC);
        }
        return 0;
}

static void probe_info(const Probe *p, HealthProbeInfo *ret) {
        *ret = (HealthProbeInfo){
                .type = p->check.type,
                .healthy = p->healthy,
                .consecutive_failures = p->failures,
                .consecutive_successes = p->successes,
                .checks = p->checks,
        };
        snprintf(ret->last_result, sizeof ret->last_result, "%s", p->last_result);
}

int health_checker_get_backend(HealthChecker *h, const BackendHealth *b, HealthProbeInfo *ret) {
        Probe *p = b ? probe_find(h, b) : NULL;

        if (!p)
                return -ENOENT;
        probe_info(p, ret);
        return 0;
}

int health_checker_get(HealthChecker *h, const char *address, HealthProbeInfo *ret) {
        for (Probe *p = h->probes; p; p = p->next)
                if (streq(p->backend->address.text, address)) {
                        probe_info(p, ret);
                        return 0;
                }
        return -ENOENT;
}
