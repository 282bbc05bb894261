/* SPDX-License-Identifier: Apache-2.0 */
/* proxyd-manager.c: zl-proxyd's state: configuration, routes per owner, health, access log. */
#include <ctype.h>
#include <sys/epoll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "conf-parse.h"
#include "fileio.h"
#include "log.h"
#include "parse-util.h"
#include "path-util.h"
#include "proxy-tls.h"
#include "proxyd-manager.h"
#include "string-util.h"

#define CONFIG_SIZE_MAX (64U * 1024U)
#define ROUTES_FILE_SIZE_MAX (64U * 1024U * 1024U)
#define ROUTES_FILE "routes.json"
#define ACCESS_LOG_DRAIN_USEC 200000U
#define RATE_SAMPLE_USEC 1000000U
#define RATE_SAMPLES 11U /* one more than the window has seconds */

/* ---- configuration ----------------------------------------------------------------------- */

int proxyd_config_init(ProxydConfig *c) {
        *c = (ProxydConfig){ .access_log = PROXYD_LOG_NONE, .access_log_sampling = 1.0 };
        proxy_config_init(&c->proxy);
        health_defaults_init(&c->health);
        return 0;
}

void proxyd_config_done(ProxydConfig *c) {
        c->certificates = mfree(c->certificates);
        c->access_log_path = mfree(c->access_log_path);
}

static int parse_duration_usec(const char *v, bool zero_ok, uint64_t *ret) {
        uint64_t ms;
        int r = parse_duration_ms(v, &ms);

        if (r < 0)
                return r;
        if ((ms == 0 && !zero_ok) || ms > UINT64_MAX / 1000U)
                return -ERANGE;
        *ret = ms * 1000U;
        return 0;
}

/* The message names the allowed range, so a refused line says how to fix it. */
#define WHOLE_NUMBER(min, max) "expected a whole number from " #min " to " #max

int proxyd_config_set(ProxydConfig *c, const char *key, const char *value, const char **ret_why) {
        static const struct {
                const char *key;
                size_t offset;
        } durations[] = {
                { "header_timeout", offsetof(ProxydConfig, proxy.header_timeout_usec) },
                { "idle_timeout", offsetof(ProxydConfig, proxy.idle_timeout_usec) },
                { "backend_timeout", offsetof(ProxydConfig, proxy.backend_timeout_usec) },
                { "eject_time", offsetof(ProxydConfig, proxy.eject_usec) },
                { "upstream_idle_timeout", offsetof(ProxydConfig, proxy.upstream_idle_usec) },
                { "udp_idle_timeout", offsetof(ProxydConfig, proxy.udp_idle_timeout_usec) },
                { "health_interval", offsetof(ProxydConfig, health.interval_usec) },
                { "health_timeout", offsetof(ProxydConfig, health.timeout_usec) },
        };
        /* The ranges are those proxy_new() accepts, or what makes sense where it has none. */
        static const struct {
                const char *key;
                size_t offset;
                bool wide; /* a uint64_t field, else unsigned */
                uint64_t min, max;
                const char *why;
        } numbers[] = {
                { "workers", offsetof(ProxydConfig, proxy.n_workers), false, 0, 64,
                  WHOLE_NUMBER(0, 64) },
                { "retries", offsetof(ProxydConfig, proxy.retries), false, 0, 8,
                  WHOLE_NUMBER(0, 8) },
                { "eject_failures", offsetof(ProxydConfig, proxy.eject_failures), false, 1, 1000,
                  WHOLE_NUMBER(1, 1000) },
                { "max_idle_upstreams", offsetof(ProxydConfig, proxy.max_idle_upstreams), false, 0,
                  65536, WHOLE_NUMBER(0, 65536) },
                { "max_headers", offsetof(ProxydConfig, proxy.max_headers), false, 1, 128,
                  WHOLE_NUMBER(1, 128) },
                { "h2_max_concurrent_streams",
                  offsetof(ProxydConfig, proxy.h2_max_concurrent_streams), false, 1, 1000,
                  WHOLE_NUMBER(1, 1000) },
                { "hsts_max_age", offsetof(ProxydConfig, proxy.hsts_max_age_sec), true, 0,
                  315360000, WHOLE_NUMBER(0, 315360000) " (seconds; 0: no header)" },
                { "udp_workers", offsetof(ProxydConfig, proxy.n_udp_workers), false, 0, 64,
                  WHOLE_NUMBER(0, 64) },
                { "udp_max_sessions", offsetof(ProxydConfig, proxy.udp_max_sessions), false, 1,
                  1048576, WHOLE_NUMBER(1, 1048576) },
                { "health_healthy_threshold", offsetof(ProxydConfig, health.healthy_threshold),
                  false, 1, 100, WHOLE_NUMBER(1, 100) },
                { "health_unhealthy_threshold", offsetof(ProxydConfig, health.unhealthy_threshold),
                  false, 1, 100, WHOLE_NUMBER(1, 100) },
        };
        int r;

        for (size_t i = 0; i < ELEMENTSOF(durations); i++)
                if (streq(key, durations[i].key)) {
                        r = parse_duration_usec(value, false,
                                                (uint64_t *) ((char *) c + durations[i].offset));
                        if (r < 0) {
                                *ret_why = "expected a duration above zero such as 500ms, 30s or "
                                           "1m";
                                return -EINVAL;
                        }
                        return 0;
                }
        for (size_t i = 0; i < ELEMENTSOF(numbers); i++)
                if (streq(key, numbers[i].key)) {
                        uint64_t u;

                        if (safe_atou64(value, &u) < 0 || u < numbers[i].min ||
                            u > numbers[i].max) {
                                *ret_why = numbers[i].why;
                                return -EINVAL;
                        }
                        if (numbers[i].wide)
                                *(uint64_t *) ((char *) c + numbers[i].offset) = u;
                        else
                                *(unsigned *) ((char *) c + numbers[i].offset) = (unsigned) u;
                        return 0;
                }
        if (streq(key, "max_header_size")) {
                uint64_t v;
                /* proxy_new()'s bounds: the head must fit a buffer with room to spare. */
                if (parse_size(value, &v) < 0 || v < 1024 || v > 65536) {
                        *ret_why = "expected a size from 1Ki to 64Ki, such as 16Ki";
                        return -EINVAL;
                }
                c->proxy.max_header_size = (size_t) v;
                return 0;
        }
        if (streq(key, "max_body_size")) {
                uint64_t v;
                if (parse_size(value, &v) < 0) {
                        *ret_why = "expected a size such as 64Mi";
                        return -EINVAL;
                }
                c->proxy.max_body_size = v;
                return 0;
        }
        if (streq(key, "certificates")) {
                char *d;
                if (value[0] != '/') {
                        *ret_why = "expected an absolute directory";
                        return -EINVAL;
                }
                d = strdup(value);
                if (!d)
                        return -ENOMEM;
                free(c->certificates);
                c->certificates = d;
                return 0;
        }
        if (streq(key, "access_log")) {
                char *p = NULL;
                if (streq(value, "none"))
                        c->access_log = PROXYD_LOG_NONE;
                else if (streq(value, "journal"))
                        c->access_log = PROXYD_LOG_JOURNAL;
                else if (value[0] == '/') {
                        p = strdup(value);
                        if (!p)
                                return -ENOMEM;
                        c->access_log = PROXYD_LOG_FILE;
                } else {
                        *ret_why = "expected none, journal or an absolute file path";
                        return -EINVAL;
                }
                free(c->access_log_path);
                c->access_log_path = p;
                return 0;
        }
        if (streq(key, "access_log_sampling")) {
                char *end;
                double d;

                errno = 0;
                d = strtod(value, &end);
                if (errno != 0 || end == value || *end != 0 || !(d >= 0 && d <= 1)) {
                        *ret_why = "expected a fraction from 0 to 1";
                        return -EINVAL;
                }
                c->access_log_sampling = d;
                return 0;
        }
        *ret_why = "unknown key";
        return -EINVAL;
}

static int config_set_one(void *userdata, const char *key, const char *value,
                          const char **ret_why) {
        return proxyd_config_set(userdata, key, value, ret_why);
}

int proxyd_config_load(ProxydConfig *c, const char *path, char **reterr_message) {
        int r;

        r = conf_parse_file(path, CONFIG_SIZE_MAX, config_set_one, c, reterr_message);
        if (r < 0)
                return r;
        if (c->health.timeout_usec > c->health.interval_usec) {
                if (reterr_message) {
                        free(*reterr_message);
                        *reterr_message = NULL;
                        (void) asprintf(reterr_message,
                                        "%s: health_timeout is longer than health_interval", path);
                }
                return -EINVAL;
        }
        return 0;
}

static bool route_is_named(json_t *route, const char *name) {
        const char *n = json_string_value(json_object_get(route, "name"));
        return n && streq(n, name);
}

static int cmp_strp(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* ---- the manager ------------------------------------------------------------------------- */

typedef struct RateSeries {
        struct RateSeries *next;
        char *route;
        bool seen;
        unsigned n, pos;
        uint64_t at[RATE_SAMPLES];
        uint64_t requests[RATE_SAMPLES];
} RateSeries;

struct Proxyd {
        sd_event *event;
        ProxydConfig config;
        ProxydHooks hooks;
        char *state_dir;
        char *routes_path;
        char *certs_dir;

        Proxy *proxy;
        RouteTable *table; /* as published, with a reference */
        /* owner -> the array of its route objects, as set. */
        json_t *owners;
        /* route name -> owner, for the current table. */
        json_t *route_owner;

        HealthChecker *health;
        AccessLog *access_log;
        AccessLogFile *access_file;
        sd_event_source *access_timer;
        sd_event_source *access_wake;
        sd_event_source *rate_timer;
        RateSeries *rates;
        bool started;
};

Proxy *proxyd_proxy(Proxyd *m) {
        return m->proxy;
}

const RouteTable *proxyd_table(Proxyd *m) {
        return m->table;
}

HealthChecker *proxyd_health(Proxyd *m) {
        return m->health;
}

const ProxydConfig *proxyd_config(Proxyd *m) {
        return &m->config;
}

AccessLog *proxyd_access_log(Proxyd *m) {
        return m->access_log;
}

bool proxyd_owner_is_valid(const char *owner) {
        size_t n = owner ? strlen(owner) : 0;

        if (n == 0 || n > PROXYD_OWNER_MAX || owner[0] == '.' || owner[0] == '-')
                return false;
        for (const char *p = owner; *p; p++)
                if (!isalnum((unsigned char) *p) && !strchr("._-", *p))
                        return false;
        return true;
}

static void on_health_changed(HealthChecker *h, const char *address, bool healthy,
                              const char *reason, void *userdata) {
        Proxyd *m = userdata;

        (void) h;
        if (m->hooks.health_changed)
                m->hooks.health_changed(m, address, healthy, reason, m->hooks.userdata);
}

static void journal_sink(const AccessLogEntry *e, void *userdata) {
        Proxyd *m = userdata;

        if (m->hooks.access_log_entry)
                m->hooks.access_log_entry(m, e, m->hooks.userdata);
}

void proxyd_flush_access_log(Proxyd *m) {
        int r;

        if (!m->access_log)
                return;
        if (m->access_file) {
                r = access_log_file_drain(m->access_file, m->access_log);
                if (r < 0)
                        log_debug_errno(r, "Failed to write the access log '%s': %m",
                                        access_log_file_path(m->access_file));
        } else
                (void) access_log_drain(m->access_log, journal_sink, m);
}

static int on_access_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Proxyd *m = userdata;

        proxyd_flush_access_log(m);
        (void) sd_event_source_set_time(s, usec + ACCESS_LOG_DRAIN_USEC);
        return 0;
}

static int on_access_wake(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Proxyd *m = userdata;

        (void) s, (void) fd, (void) revents;
        access_log_clear_wake(m->access_log);
        proxyd_flush_access_log(m);
        return 0;
}

static RateSeries *rate_find(Proxyd *m, const char *route) {
        for (RateSeries *s = m->rates; s; s = s->next)
                if (streq(s->route, route))
                        return s;
        return NULL;
}

static void rate_sample(Proxyd *m, uint64_t now) {
        for (RateSeries *s = m->rates; s; s = s->next) {
                ProxyRouteStats st;

                if (proxy_get_route_stats(m->proxy, s->route, &st) < 0)
                        continue;
                s->at[s->pos] = now;
                s->requests[s->pos] = st.requests;
                s->pos = (s->pos + 1) % RATE_SAMPLES;
                if (s->n < RATE_SAMPLES)
                        s->n++;
        }
}

/* Keeps a series per route of the table: new routes get one, gone ones lose theirs. */
static int rate_sync(Proxyd *m) {
        for (RateSeries *s = m->rates; s; s = s->next)
                s->seen = false;
        for (size_t i = 0; i < m->table->n_routes; i++) {
                RateSeries *s = rate_find(m, m->table->routes[i].name);

                if (!s) {
                        s = calloc(1, sizeof *s);
                        if (!s)
                                return -ENOMEM;
                        s->route = strdup(m->table->routes[i].name);
                        if (!s->route) {
                                free(s);
                                return -ENOMEM;
                        }
                        s->next = m->rates;
                        m->rates = s;
                }
                s->seen = true;
        }
        for (RateSeries **pp = &m->rates; *pp;) {
                RateSeries *s = *pp;
                if (s->seen) {
                        pp = &s->next;
                        continue;
                }
                *pp = s->next;
                free(s->route);
                free(s);
        }
        return 0;
}

double proxyd_route_rate(Proxyd *m, const char *route) {
        RateSeries *s = rate_find(m, route);
        ProxyRouteStats st;
        uint64_t now, oldest_at = 0, oldest_n = 0;
        bool found = false;

        if (!s || s->n == 0 || proxy_get_route_stats(m->proxy, route, &st) < 0)
                return 0;
        if (sd_event_now(m->event, CLOCK_MONOTONIC, &now) < 0)
                return 0;
        /* The oldest sample still inside the window. */
        for (unsigned k = 0; k < s->n; k++) {
                unsigned i = (s->pos + RATE_SAMPLES - s->n + k) % RATE_SAMPLES;
                if (s->at[i] + PROXYD_RATE_WINDOW_USEC >= now) {
                        oldest_at = s->at[i];
                        oldest_n = s->requests[i];
                        found = true;
                        break;
                }
        }
        if (!found || now <= oldest_at || st.requests < oldest_n)
                return 0;
        return (double) (st.requests - oldest_n) * 1e6 / (double) (now - oldest_at);
}

static int on_rate_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Proxyd *m = userdata;

        rate_sample(m, usec);
        (void) sd_event_source_set_time(s, usec + RATE_SAMPLE_USEC);
        return 0;
}

static void rates_free(Proxyd *m) {
        while (m->rates) {
                RateSeries *s = m->rates;
                m->rates = s->next;
                free(s->route);
                free(s);
        }
}

/* The access log as configured: rings for the workers, and a file or the journal. */
static int access_log_apply(Proxyd *m) {
        _cleanup_(access_log_file_freep) AccessLogFile *f = NULL;
        int r;

        if (m->config.access_log == PROXYD_LOG_FILE) {
                if (!m->access_file ||
                    !streq(access_log_file_path(m->access_file), m->config.access_log_path)) {
                        r = access_log_file_open(m->config.access_log_path, &f);
                        if (r < 0)
                                return log_error_errno(r, "Failed to open the access log '%s': %m",
                                                       m->config.access_log_path);
                }
        }
        if (m->access_log) {
                /* Drain what the old target still has coming. */
                proxyd_flush_access_log(m);
                access_log_set_sampling(m->access_log, m->config.access_log == PROXYD_LOG_NONE
                                                               ? 0
                                                               : m->config.access_log_sampling);
        }
        if (f) {
                access_log_file_free(m->access_file);
                m->access_file = TAKE_PTR(f);
        } else if (m->config.access_log != PROXYD_LOG_FILE)
                m->access_file = access_log_file_free(m->access_file);
        if (m->access_timer)
                (void) sd_event_source_set_enabled(
                        m->access_timer,
                        m->config.access_log == PROXYD_LOG_NONE ? SD_EVENT_OFF : SD_EVENT_ON);
        return 0;
}

Proxyd *proxyd_free(Proxyd *m) {
        if (!m)
                return NULL;
        /* Workers first: nothing may touch the access log or the backends after this. */
        if (m->proxy)
                proxy_stop(m->proxy);
        proxyd_flush_access_log(m);
        health_checker_free(m->health);
        sd_event_source_disable_unref(m->access_timer);
        sd_event_source_disable_unref(m->access_wake);
        sd_event_source_disable_unref(m->rate_timer);
        rates_free(m);
        route_table_unref(m->table);
        proxy_free(m->proxy);
        access_log_file_free(m->access_file);
        access_log_free(m->access_log);
        json_decref(m->owners);
        json_decref(m->route_owner);
        proxyd_config_done(&m->config);
        free(m->state_dir);
        free(m->routes_path);
        free(m->certs_dir);
        sd_event_unref(m->event);
        free(m);
        return NULL;
}

int proxyd_new(sd_event *event, ProxydConfig *c, const char *state_dir, const ProxydHooks *hooks,
               Proxyd **ret) {
        _cleanup_(proxyd_freep) Proxyd *m = NULL;
        int r;

        m = calloc(1, sizeof *m);
        if (!m)
                return -ENOMEM;
        m->event = sd_event_ref(event);
        m->config = *c;
        (void) proxyd_config_init(c);
        if (hooks)
                m->hooks = *hooks;
        m->state_dir = strdup(state_dir);
        m->routes_path = path_join(state_dir, ROUTES_FILE);
        m->certs_dir = m->config.certificates ? strdup(m->config.certificates)
                                              : path_join(state_dir, "certs");
        m->owners = json_object();
        m->route_owner = json_object();
        if (!m->state_dir || !m->routes_path || !m->certs_dir || !m->owners || !m->route_owner)
                return -ENOMEM;

        r = mkdir_p(m->certs_dir, 0700);
        if (r < 0)
                log_warning_errno(r, "Failed to create '%s', ignoring: %m", m->certs_dir);
        r = proxy_new(&m->config.proxy, &m->proxy);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the proxy: %m");
        r = route_table_new_empty(&m->table);
        if (r < 0)
                return r;
        r = access_log_new(proxy_n_workers(m->proxy), ACCESS_LOG_RING_SIZE_DEFAULT, &m->access_log);
        if (r < 0)
                return r;
        r = proxy_set_access_log(m->proxy, m->access_log);
        if (r < 0)
                return r;
        r = health_checker_new(event, &m->config.health, on_health_changed, m, &m->health);
        if (r < 0)
                return r;
        r = sd_event_add_time_relative(event, &m->access_timer, CLOCK_MONOTONIC,
                                       ACCESS_LOG_DRAIN_USEC, 10000, on_access_timer, m);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(m->access_timer, "access-log");
        r = sd_event_add_io(event, &m->access_wake, access_log_get_fd(m->access_log), EPOLLIN,
                            on_access_wake, m);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(m->access_wake, "access-log-wake");
        r = sd_event_add_time_relative(event, &m->rate_timer, CLOCK_MONOTONIC, RATE_SAMPLE_USEC,
                                       10000, on_rate_timer, m);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(m->rate_timer, "route-rates");
        (void) sd_event_source_set_enabled(m->rate_timer, SD_EVENT_ON);
        (void) sd_event_source_set_enabled(m->access_timer, SD_EVENT_ON);
        r = access_log_apply(m);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

/* {"routes": [...]} of every owner in name order, with `owner` standing for `routes` (NULL:
 * leave that owner out). Also fills owner_of (route name -> owner) when given. */
static int merged_json(Proxyd *m, const char *owner, json_t *routes, char **ret,
                       json_t **ret_owner_of) {
        _cleanup_(json_decrefp) json_t *all = json_array(), *owner_of = json_object();
        _cleanup_(json_decrefp) json_t *root = NULL;
        _cleanup_(json_decrefp) json_t *owners = json_deep_copy(m->owners);
        const char *name;
        json_t *arr;
        char *text;

        if (!all || !owner_of || !owners)
                return -ENOMEM;
        if (owner && json_object_set(owners, owner, routes ?: json_array()) < 0)
                return -ENOMEM;
        if (owner && (!routes || json_array_size(routes) == 0))
                (void) json_object_del(owners, owner);

        /* jansson iterates in insertion order; sort the owner names for a stable table. */
        {
                _cleanup_free_ const char **keys =
                        calloc(MAX(json_object_size(owners), 1U), sizeof(char *));
                size_t n = 0;

                if (!keys)
                        return -ENOMEM;
                json_object_foreach (owners, name, arr)
                        keys[n++] = name;
                qsort(keys, n, sizeof(char *), cmp_strp);
                for (size_t i = 0; i < n; i++) {
                        size_t k;
                        json_t *route;

                        arr = json_object_get(owners, keys[i]);
                        json_array_foreach (arr, k, route) {
                                const char *rn = json_string_value(json_object_get(route, "name"));
                                if (json_array_append(all, route) < 0)
                                        return -ENOMEM;
                                if (rn && !json_object_get(owner_of, rn) &&
                                    json_object_set_new(owner_of, rn, json_string(keys[i])) < 0)
                                        return -ENOMEM;
                        }
                }
        }
        root = json_pack("{s:O}", "routes", all);
        if (!root)
                return -ENOMEM;
        text = json_dumps(root, JSON_COMPACT);
        if (!text)
                return -ENOMEM;
        *ret = text;
        if (ret_owner_of)
                *ret_owner_of = TAKE_PTR(owner_of);
        return 0;
}

static int persist(Proxyd *m, json_t *owners) {
        _cleanup_(json_decrefp) json_t *root = json_pack("{s:O}", "owners", owners);
        _cleanup_free_ char *text = NULL;

        if (!root)
                return -ENOMEM;
        text = json_dumps(root, JSON_INDENT(1) | JSON_SORT_KEYS);
        if (!text)
                return -ENOMEM;
        return write_string_file_atomic(m->routes_path, text, 0600);
}

/* Another owner than except with a route of this name, or NULL. */
static const char *owner_of_route(Proxyd *m, const char *route, const char *except) {
        const char *owner;
        json_t *arr;

        json_object_foreach (m->owners, owner, arr) {
                size_t i;
                json_t *r;

                if (except && streq(owner, except))
                        continue;
                json_array_foreach (arr, i, r)
                        if (route_is_named(r, route))
                                return owner;
        }
        return NULL;
}

/* The proxy does not say which listener it could not open: name the first route on a listener
 * the served table does not have yet (kept listeners were open already). */
static void listen_error(Proxyd *m, const RouteTable *t, int r, RouteTableError *error) {
        *error = (RouteTableError){};
        snprintf(error->field, sizeof error->field, "listen");
        if (r == -ELIBACC) {
                /* An https listener needs the TLS module, and it could not be loaded. */
                for (size_t i = 0; i < t->n_routes; i++)
                        if (t->listeners[t->routes[i].listener].protocol == PROXY_PROTOCOL_HTTPS) {
                                snprintf(error->route, sizeof error->route, "%s",
                                         t->routes[i].name);
                                break;
                        }
                snprintf(error->field, sizeof error->field, "protocol");
                snprintf(error->message, sizeof error->message, "%s",
                         proxy_tls_module_error() ?: "the TLS module cannot be loaded");
                return;
        }
        for (size_t i = 0; i < t->n_routes; i++) {
                const RouteListener *l = &t->listeners[t->routes[i].listener];
                size_t k;

                if (route_table_find_listener(m->table, &l->address, &k) >= 0 &&
                    m->table->listeners[k].protocol == l->protocol)
                        continue;
                snprintf(error->route, sizeof error->route, "%s", t->routes[i].name);
                snprintf(error->message, sizeof error->message, "cannot listen on %s: %s",
                         l->address.text, strerror(-r));
                return;
        }
        snprintf(error->message, sizeof error->message, "a listener cannot be opened: %s",
                 strerror(-r));
}

/* Validates, publishes and checks the merged table; on failure nothing changed. */
static int apply(Proxyd *m, const char *owner, json_t *routes, RouteTableError *error) {
        _cleanup_(route_table_unrefp) RouteTable *t = NULL;
        _cleanup_(json_decrefp) json_t *owner_of = NULL;
        _cleanup_free_ char *text = NULL;
        RouteTableError e = {};
        int r;

        r = merged_json(m, owner, routes, &text, &owner_of);
        if (r < 0)
                return r;
        r = route_table_parse(text, strlen(text), &t, &e);
        if (r < 0) {
                /* The owner's own routes were fine alone: the clash is with another owner's. */
                if (r == -EINVAL && error) {
                        const char *other = owner_of_route(m, e.route, owner);
                        *error = e;
                        if (other && owner && !streq(other, owner))
                                snprintf(error->message, sizeof error->message,
                                         "%.100s (route '%.60s' of owner '%.64s')", e.message,
                                         e.route, other);
                }
                return r;
        }
        r = proxy_set_routes(m->proxy, t);
        if (r < 0) {
                if (error)
                        listen_error(m, t, r, error);
                return r;
        }
        route_table_unref(m->table);
        m->table = TAKE_PTR(t);
        json_decref(m->route_owner);
        m->route_owner = TAKE_PTR(owner_of);
        r = health_checker_set_table(m->health, m->table);
        if (r < 0)
                log_warning_errno(r, "Failed to update the health checks, ignoring: %m");
        r = rate_sync(m);
        if (r < 0)
                log_warning_errno(r, "Failed to track the route rates, ignoring: %m");
        return 0;
}

static int owner_routes_validate(const char *routes_json, json_t **ret_routes,
                                 RouteTableError *error) {
        _cleanup_(route_table_unrefp) RouteTable *t = NULL;
        json_t *root, *routes;
        int r;

        /* Alone first: errors then name the owner's own routes by their index. */
        r = route_table_parse(routes_json, strlen(routes_json), &t, error);
        if (r < 0)
                return r;
        root = json_loads(routes_json, JSON_REJECT_DUPLICATES, NULL);
        if (!root)
                return -ENOMEM; /* parsed once already: only memory can fail */
        routes = json_incref(json_object_get(root, "routes"));
        json_decref(root);
        if (!routes)
                return -ENOMEM;
        *ret_routes = routes;
        return 0;
}

int proxyd_set_routes(Proxyd *m, const char *owner, const char *routes_json,
                      RouteTableError *error) {
        _cleanup_(json_decrefp) json_t *routes = NULL, *owners = NULL;
        int r;

        if (!proxyd_owner_is_valid(owner) || !routes_json)
                return -EINVAL;
        r = owner_routes_validate(routes_json, &routes, error);
        if (r < 0)
                return r;
        owners = json_deep_copy(m->owners);
        if (!owners)
                return -ENOMEM;
        if (json_array_size(routes) == 0)
                (void) json_object_del(owners, owner);
        else if (json_object_set(owners, owner, routes) < 0)
                return -ENOMEM;

        /* Persist first: a table on disk the proxy does not serve yet is retried at the next
         * start, while a served one missing from disk would vanish. If publishing fails, the
         * old file goes back. */
        r = persist(m, owners);
        if (r < 0)
                return log_error_errno(r, "Failed to save the routes to '%s': %m",
                                       m->routes_path) == -ENOMEM
                               ? -ENOMEM
                               : -EIO;
        r = apply(m, owner, routes, error);
        if (r < 0) {
                int k = persist(m, m->owners);
                if (k < 0)
                        log_warning_errno(k, "Failed to restore '%s', ignoring: %m",
                                          m->routes_path);
                return r;
        }
        json_decref(m->owners);
        m->owners = TAKE_PTR(owners);
        return 0;
}

int proxyd_clear_routes(Proxyd *m, const char *owner) {
        if (!proxyd_owner_is_valid(owner))
                return -EINVAL;
        if (!json_object_get(m->owners, owner))
                return -ENOENT;
        return proxyd_set_routes(m, owner, "{\"routes\": []}", NULL);
}

int proxyd_list_routes(Proxyd *m, char **ret_json) {
        _cleanup_(json_decrefp) json_t *all = json_array(), *root = NULL;
        const char *owner;
        json_t *arr;
        char *text;

        if (!all)
                return -ENOMEM;
        json_object_foreach (m->owners, owner, arr) {
                size_t i;
                json_t *route;

                json_array_foreach (arr, i, route) {
                        json_t *copy = json_deep_copy(route);
                        if (!copy || json_object_set_new(copy, "owner", json_string(owner)) < 0 ||
                            json_array_append_new(all, copy) < 0) {
                                json_decref(copy);
                                return -ENOMEM;
                        }
                }
        }
        root = json_pack("{s:O}", "routes", all);
        if (!root)
                return -ENOMEM;
        text = json_dumps(root, JSON_COMPACT);
        if (!text)
                return -ENOMEM;
        *ret_json = text;
        return 0;
}

int proxyd_list_owners(Proxyd *m, char ***ret) {
        _cleanup_(strv_freep) char **l = NULL;
        const char *owner;
        json_t *arr;

        json_object_foreach (m->owners, owner, arr)
                if (strv_extend(&l, owner) < 0)
                        return -ENOMEM;
        if (!l) {
                l = calloc(1, sizeof(char *));
                if (!l)
                        return -ENOMEM;
        }
        qsort(l, strv_length(l), sizeof(char *), cmp_strp);
        *ret = TAKE_PTR(l);
        return 0;
}

const char *proxyd_route_owner(Proxyd *m, const char *route) {
        return json_string_value(json_object_get(m->route_owner, route));
}

/* routes.json of the last run: each owner is added in turn, one that does not fit (its listener
 * is taken now, or the file was edited) is left out. */
static int load_routes(Proxyd *m) {
        _cleanup_(json_decrefp) json_t *root = NULL;
        _cleanup_free_ char *data = NULL;
        json_error_t jerr;
        const char *owner;
        json_t *owners, *routes;
        unsigned n = 0;
        int r;

        r = read_full_file(m->routes_path, ROUTES_FILE_SIZE_MAX, &data, NULL);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return log_error_errno(r, "Failed to read '%s': %m", m->routes_path);
        root = json_loads(data, JSON_REJECT_DUPLICATES, &jerr);
        owners = json_object_get(root, "owners");
        if (!json_is_object(owners)) {
                log_warning("'%s' is not a routes file (line %d: %s), serving no routes.",
                            m->routes_path, jerr.line, root ? "no \"owners\" object" : jerr.text);
                return 0;
        }
        json_object_foreach (owners, owner, routes) {
                RouteTableError e = {};

                if (!proxyd_owner_is_valid(owner) || !json_is_array(routes)) {
                        log_warning("'%s': owner '%s' is invalid, leaving it out.", m->routes_path,
                                    owner);
                        continue;
                }
                r = apply(m, owner, routes, &e);
                if (r == -ENOMEM)
                        return log_oom();
                if (r < 0) {
                        log_warning_errno(r,
                                          "Routes of owner '%s' cannot be served, leaving them "
                                          "out: route '%s', field '%s': %s",
                                          owner, e.route, e.field, e.message);
                        continue;
                }
                if (json_object_set(m->owners, owner, routes) < 0)
                        return log_oom();
                n += json_array_size(routes);
        }
        log_info("Serving %u route(s) of %zu owner(s) from '%s'.", n, json_object_size(m->owners),
                 m->routes_path);
        return 0;
}

static int certs_reload(Proxyd *m, char **reterr_message) {
        ProxyTlsError e = {};
        int r;

        r = proxy_tls_reload(proxy_get_tls(m->proxy), m->certs_dir, &e);
        if (r < 0 && reterr_message)
                (void) asprintf(reterr_message, "%s: %s", m->certs_dir,
                                e.message[0] ? e.message : strerror(-r));
        return r;
}

int proxyd_start(Proxyd *m) {
        _cleanup_free_ char *why = NULL;
        int r;

        r = certs_reload(m, &why);
        if (r < 0)
                log_warning_errno(r, "Failed to load the certificates, serving the fallback: %s",
                                  strna(why));
        r = load_routes(m);
        if (r < 0)
                return r;
        r = proxy_run(m->proxy);
        if (r < 0)
                return log_error_errno(r, "Failed to start the workers: %m");
        m->started = true;
        return 0;
}

int proxyd_reload_files(Proxyd *m, char **reterr_message) {
        int r, ret = 0;

        if (m->access_file) {
                proxyd_flush_access_log(m);
                r = access_log_file_reopen(m->access_file);
                if (r < 0) {
                        if (reterr_message)
                                (void) asprintf(reterr_message,
                                                "Failed to reopen the access log '%s': %s",
                                                access_log_file_path(m->access_file), strerror(-r));
                        ret = r;
                }
        }
        r = certs_reload(m, ret < 0 ? NULL : reterr_message);
        if (r < 0 && ret == 0)
                ret = r;
        return ret;
}

/* The settings the configuration file can change (not memcmp: padding). */
static bool worker_settings_equal(const ProxyConfig *a, const ProxyConfig *b) {
        return a->n_workers == b->n_workers && a->header_timeout_usec == b->header_timeout_usec &&
               a->idle_timeout_usec == b->idle_timeout_usec &&
               a->backend_timeout_usec == b->backend_timeout_usec && a->retries == b->retries &&
               a->eject_failures == b->eject_failures && a->eject_usec == b->eject_usec &&
               a->max_idle_upstreams == b->max_idle_upstreams &&
               a->upstream_idle_usec == b->upstream_idle_usec &&
               a->max_body_size == b->max_body_size && a->max_header_size == b->max_header_size &&
               a->max_headers == b->max_headers && a->n_udp_workers == b->n_udp_workers &&
               a->udp_idle_timeout_usec == b->udp_idle_timeout_usec &&
               a->udp_max_sessions == b->udp_max_sessions &&
               a->hsts_max_age_sec == b->hsts_max_age_sec &&
               a->h2_max_concurrent_streams == b->h2_max_concurrent_streams;
}

int proxyd_reload(Proxyd *m, ProxydConfig *c) {
        _cleanup_free_ char *why = NULL;
        ProxydConfig old = m->config;
        int r;

        if (!worker_settings_equal(&c->proxy, &m->config.proxy))
                log_notice("Changed worker settings (workers, timeouts, limits, HSTS, HTTP/2 and "
                           "UDP settings) apply at the next start, ignoring them now.");
        if (!streq(strempty(c->certificates), strempty(m->config.certificates)))
                log_notice("A changed certificates directory applies at the next start, "
                           "ignoring it now.");
        m->config.access_log = c->access_log;
        m->config.access_log_path = c->access_log_path;
        m->config.access_log_sampling = c->access_log_sampling;
        m->config.health = c->health;
        r = access_log_apply(m);
        if (r < 0) {
                /* Keep the old target. */
                m->config.access_log = old.access_log;
                m->config.access_log_path = old.access_log_path;
                m->config.access_log_sampling = old.access_log_sampling;
                (void) access_log_apply(m);
                return r;
        }
        c->access_log_path = old.access_log_path; /* freed with c */
        health_checker_set_defaults(m->health, &m->config.health);
        r = health_checker_set_table(m->health, m->table);
        if (r < 0)
                return r;
        r = proxyd_reload_files(m, &why);
        if (r < 0)
                return log_error_errno(r, "%s", strna(why));
        return 0;
}

/* PEM text as a file, ending with a newline like the tools write them. */
static int write_pem(const char *path, const char *pem, mode_t mode) {
        _cleanup_free_ char *text = NULL;

        if (!endswith(pem, "\n")) {
                text = strjoin(pem, "\n");
                if (!text)
                        return -ENOMEM;
        }
        return write_string_file_atomic(path, text ?: pem, mode);
}

static int certificate_file_stem(const char *host, char **ret) {
        if (streq(host, "*"))
                *ret = strdup("_default");
        else if (startswith(host, "*."))
                *ret = strjoin("_wildcard.", host + 2);
        else
                *ret = strdup(host);
        return *ret ? 0 : -ENOMEM;
}

int proxyd_add_certificate(Proxyd *m, const char *host, const char *cert_pem, const char *key_pem,
                           char **reterr_message) {
        _cleanup_free_ char *stem = NULL, *crt = NULL, *key = NULL;
        ProxyTlsError e = {};
        int r;

        r = proxy_tls_add_certificate(proxy_get_tls(m->proxy), host, cert_pem, key_pem, &e);
        if (r < 0) {
                if (reterr_message)
                        *reterr_message = strdup(e.message[0] ? e.message : strerror(-r));
                return r;
        }
        /* host passed the store's name check: it is a plain name, "*.name" or "*". */
        r = certificate_file_stem(host, &stem);
        if (r < 0)
                return r;
        crt = strjoin(m->certs_dir, "/", stem, ".crt");
        key = strjoin(m->certs_dir, "/", stem, ".key");
        if (!crt || !key)
                return -ENOMEM;
        /* Key first: a directory reload never sees a new certificate with an old key. */
        r = write_pem(key, key_pem, 0600);
        if (r >= 0)
                r = write_pem(crt, cert_pem, 0644);
        if (r < 0) {
                log_warning_errno(r, "Failed to save the certificate of '%s' in '%s': %m", host,
                                  m->certs_dir);
                if (reterr_message)
                        (void) asprintf(reterr_message,
                                        "The certificate is in use but could not be saved in "
                                        "'%s': %s",
                                        m->certs_dir, strerror(-r));
                return -EIO;
        }
        return 0;
}
