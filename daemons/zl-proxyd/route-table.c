/* SPDX-License-Identifier: Apache-2.0 */
/* route-table.c: proxy routes parsed from JSON, longest-match lookup, lock-free snapshots. */
#include <arpa/inet.h>
#include <ctype.h>
#include <jansson.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>

#include "route-table.h"
#include "string-util.h"

/* The input, one object per route:
 *   {"routes": [{"name": "web", "listen": "127.0.0.1:8080", "protocol": "http",
 *                "host": "*.example.com", "path": "/api", "balance": "least_conn",
 *                "backends": [{"address": "10.0.0.2:80", "weight": 2}, "10.0.0.3:80"]}]}
 * protocol defaults to http, path to "/", balance to round_robin, weight to 1. https routes are
 * http routes on a TLS listener (HTTP/1.1 or HTTP/2 by ALPN). tcp routes take
 * neither host nor path, and own their listener alone. So do udp routes, which may also set
 * "idle_timeout" (seconds, fractions allowed) for their client sessions. */

#define ROUTES_MAX 4096U
#define BACKENDS_MAX 256U
#define PATH_MAX_LEN 1024U
#define HOST_MAX_LEN 253U
#define IDLE_TIMEOUT_MAX_SEC 86400.0

static const char *const protocol_table[_PROXY_PROTOCOL_MAX] = {
        [PROXY_PROTOCOL_HTTP] = "http",
        [PROXY_PROTOCOL_TCP] = "tcp",
        [PROXY_PROTOCOL_UDP] = "udp",
        [PROXY_PROTOCOL_HTTPS] = "https",
};

static const char *const balance_table[_PROXY_BALANCE_MAX] = {
        [PROXY_BALANCE_ROUND_ROBIN] = "round_robin",
        [PROXY_BALANCE_LEAST_CONN] = "least_conn",
};

const char *proxy_protocol_to_string(ProxyProtocol p) {
        return p >= 0 && p < _PROXY_PROTOCOL_MAX ? protocol_table[p] : NULL;
}

ProxyProtocol proxy_protocol_from_string(const char *s) {
        for (size_t i = 0; s && i < _PROXY_PROTOCOL_MAX; i++)
                if (streq(s, protocol_table[i]))
                        return (ProxyProtocol) i;
        return _PROXY_PROTOCOL_INVALID;
}

const char *proxy_balance_to_string(ProxyBalance b) {
        return b >= 0 && b < _PROXY_BALANCE_MAX ? balance_table[b] : NULL;
}

ProxyBalance proxy_balance_from_string(const char *s) {
        for (size_t i = 0; s && i < _PROXY_BALANCE_MAX; i++)
                if (streq(s, balance_table[i]))
                        return (ProxyBalance) i;
        return _PROXY_BALANCE_INVALID;
}

int route_address_parse(const char *s, RouteAddress *ret) {
        char host[INET6_ADDRSTRLEN + 1];
        const char *port_str;
        RouteAddress a = {};
        size_t n;
        char *end;
        unsigned long port;

        if (!s || !ret)
                return -EINVAL;

        if (s[0] == '[') {
                const char *close = strchr(s, ']');
                if (!close || close[1] != ':')
                        return -EINVAL;
                n = close - s - 1;
                if (n == 0 || n >= sizeof host)
                        return -EINVAL;
                memcpy(host, s + 1, n);
                host[n] = 0;
                port_str = close + 2;
        } else {
                const char *colon = strrchr(s, ':');
                if (!colon)
                        return -EINVAL;
                n = colon - s;
                if (n == 0 || n >= sizeof host || memchr(s, ':', n))
                        return -EINVAL;
                memcpy(host, s, n);
                host[n] = 0;
                port_str = colon + 1;
        }

        if (!isdigit((unsigned char) port_str[0]))
                return -EINVAL;
        errno = 0;
        port = strtoul(port_str, &end, 10);
        if (errno != 0 || *end != 0 || port == 0 || port > 65535)
                return -EINVAL;

        if (s[0] == '[') {
                struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) &a.sa;
                if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
                        return -EINVAL;
                sin6->sin6_family = AF_INET6;
                sin6->sin6_port = htons(port);
                a.sa_len = sizeof *sin6;
                snprintf(a.text, sizeof a.text, "[%s]:%lu",
                         inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof host), port);
        } else {
                struct sockaddr_in *sin = (struct sockaddr_in *) &a.sa;
                if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
                        return -EINVAL;
                sin->sin_family = AF_INET;
                sin->sin_port = htons(port);
                a.sa_len = sizeof *sin;
                snprintf(a.text, sizeof a.text, "%s:%lu",
                         inet_ntop(AF_INET, &sin->sin_addr, host, sizeof host), port);
        }

        *ret = a;
        return 0;
}

bool route_address_equal(const RouteAddress *a, const RouteAddress *b) {
        return a->sa_len == b->sa_len && memcmp(&a->sa, &b->sa, a->sa_len) == 0;
}

static void route_done(Route *r) {
        free(r->health.path);
        free(r->health.host);
        free(r->name);
        free(r->host);
        free(r->path_prefix);
        free(r->set.backends);
}

static void route_table_free(RouteTable *t) {
        if (t->attachment_free)
                t->attachment_free(t->attachment);
        for (size_t i = 0; i < t->n_routes; i++)
                route_done(&t->routes[i]);
        free(t->routes);
        for (size_t i = 0; i < t->n_listeners; i++)
                free(t->listeners[i].routes);
        free(t->listeners);
        free(t);
}

RouteTable *route_table_ref(RouteTable *t) {
        if (t)
                atomic_fetch_add_explicit(&t->n_ref, 1, memory_order_relaxed);
        return t;
}

RouteTable *route_table_unref(RouteTable *t) {
        if (!t)
                return NULL;
        if (atomic_fetch_sub_explicit(&t->n_ref, 1, memory_order_acq_rel) == 1)
                route_table_free(t);
        return NULL;
}

void route_table_set_attachment(RouteTable *t, void *attachment, void (*free_fn)(void *)) {
        t->attachment = attachment;
        t->attachment_free = free_fn;
}

int route_table_new_empty(RouteTable **ret) {
        RouteTable *t = calloc(1, sizeof *t);
        if (!t)
                return -ENOMEM;
        atomic_init(&t->n_ref, 1);
        *ret = t;
        return 0;
}

_printf_(4, 5) static int fail(RouteTableError *e, const char *route, const char *field,
                               const char *fmt, ...) {
        va_list ap;

        if (e) {
                snprintf(e->route, sizeof e->route, "%s", route);
                snprintf(e->field, sizeof e->field, "%s", field);
                va_start(ap, fmt);
                vsnprintf(e->message, sizeof e->message, fmt, ap);
                va_end(ap);
        }
        return -EINVAL;
}

static bool name_valid(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > ROUTE_NAME_MAX)
                return false;
        for (const char *p = s; *p; p++)
                if (!isalnum((unsigned char) *p) && !strchr("._-/:", *p))
                        return false;
        return true;
}

/* Host names and "*.suffix" patterns, made lower case. Labels are letters, digits and '-', not
 * empty; '*' only as the whole first label. */
static int host_pattern_parse(const char *s, RouteHostKind *ret_kind, char **ret_host) {
        RouteHostKind kind = ROUTE_HOST_EXACT;
        _cleanup_free_ char *h = NULL;
        size_t label = 0;

        if (strneq(s, "*.", 2)) {
                kind = ROUTE_HOST_WILDCARD;
                s++; /* keep the dot: ".example.com" matches suffixes on a label boundary */
        }
        if (strlen(s) == 0 || strlen(s) > HOST_MAX_LEN)
                return -EINVAL;
        h = strdup(s);
        if (!h)
                return -ENOMEM;
        for (char *p = h + (kind == ROUTE_HOST_WILDCARD); *p; p++) {
                *p = (char) tolower((unsigned char) *p);
                if (*p == '.') {
                        if (label == 0)
                                return -EINVAL;
                        label = 0;
                } else if (isalnum((unsigned char) *p) || *p == '-') {
                        if (++label > 63)
                                return -EINVAL;
                } else
                        return -EINVAL;
        }
        if (label == 0)
                return -EINVAL;
        *ret_kind = kind;
        *ret_host = TAKE_PTR(h);
        return 0;
}

static bool path_valid(const char *s) {
        if (s[0] != '/' || strlen(s) > PATH_MAX_LEN)
                return false;
        for (const char *p = s; *p; p++)
                if ((unsigned char) *p <= 0x20 || *p == 0x7f || *p == '?' || *p == '#')
                        return false;
        return true;
}

static int backend_parse(json_t *j, const char *rname, size_t i, RouteBackend *ret,
                         RouteTableError *e) {
        char field[64];
        const char *addr;
        json_t *w = NULL;
        RouteBackend b = { .weight = 1 };

        snprintf(field, sizeof field, "backends[%zu]", i);
        if (json_is_string(j))
                addr = json_string_value(j);
        else if (json_is_object(j)) {
                const char *key;
                json_t *v;

                json_object_foreach (j, key, v)
                        if (!streq(key, "address") && !streq(key, "weight")) {
                                snprintf(field, sizeof field, "backends[%zu].%s", i, key);
                                return fail(e, rname, field, "unknown field");
                        }
                addr = json_string_value(json_object_get(j, "address"));
                w = json_object_get(j, "weight");
                snprintf(field, sizeof field, "backends[%zu].address", i);
                if (!addr)
                        return fail(e, rname, field, "missing or not a string");
        } else
                return fail(e, rname, field, "must be an \"ip:port\" string or an object");

        if (route_address_parse(addr, &b.address) < 0)
                return fail(e, rname, field, "'%s' is not an IPv4 or [IPv6] address with a port",
                            addr);
        if (w) {
                snprintf(field, sizeof field, "backends[%zu].weight", i);
                if (!json_is_integer(w) || json_integer_value(w) < 1 ||
                    json_integer_value(w) > ROUTE_WEIGHT_MAX)
                        return fail(e, rname, field, "must be an integer from 1 to %u",
                                    ROUTE_WEIGHT_MAX);
                b.weight = (unsigned) json_integer_value(w);
        }
        *ret = b;
        return 0;
}

static const char *const route_fields[] = {
        "name",    "listen",   "protocol",     "host",   "path",
        "balance", "backends", "idle_timeout", "health", NULL,
};

/* "health": {"type": "tcp" | "http", "path": "/healthz", "host": "name", "interval": 5,
 *            "timeout": 2, "healthy_threshold": 2, "unhealthy_threshold": 3,
 *            "expect_status": 200}
 * Durations are seconds (fractions allowed); all but type are optional (the checker's defaults);
 * path, host and expect_status only for http. */
#define HEALTH_INTERVAL_MIN_SEC 0.05
#define HEALTH_INTERVAL_MAX_SEC 3600.0
#define HEALTH_THRESHOLD_MAX 100

static const char *const health_type_table[_ROUTE_HEALTH_TYPE_MAX] = {
        [ROUTE_HEALTH_NONE] = "none",
        [ROUTE_HEALTH_TCP] = "tcp",
        [ROUTE_HEALTH_HTTP] = "http",
};

const char *route_health_type_to_string(RouteHealthType t) {
        return t >= 0 && t < _ROUTE_HEALTH_TYPE_MAX ? health_type_table[t] : NULL;
}

RouteHealthType route_health_type_from_string(const char *s) {
        for (size_t i = 0; s && i < _ROUTE_HEALTH_TYPE_MAX; i++)
                if (streq(s, health_type_table[i]))
                        return (RouteHealthType) i;
        return _ROUTE_HEALTH_TYPE_INVALID;
}

static const char *const health_fields[] = {
        "type",
        "path",
        "host",
        "interval",
        "timeout",
        "healthy_threshold",
        "unhealthy_threshold",
        "expect_status",
        NULL,
};

/* Like a route's path, but a query is fine. */
static bool health_path_valid(const char *s) {
        if (s[0] != '/' || strlen(s) > PATH_MAX_LEN)
                return false;
        for (const char *p = s; *p; p++)
                if ((unsigned char) *p <= 0x20 || *p == 0x7f || *p == '#')
                        return false;
        return true;
}

static int health_seconds(json_t *o, const char *key, const char *rname, uint64_t *ret,
                          RouteTableError *e) {
        json_t *v = json_object_get(o, key);
        char field[64];

        if (!v)
                return 0;
        snprintf(field, sizeof field, "health.%s", key);
        if (!json_is_number(v) || !(json_number_value(v) >= HEALTH_INTERVAL_MIN_SEC) ||
            json_number_value(v) > HEALTH_INTERVAL_MAX_SEC)
                return fail(e, rname, field, "must be a number of seconds from %g to %.0f",
                            HEALTH_INTERVAL_MIN_SEC, HEALTH_INTERVAL_MAX_SEC);
        *ret = (uint64_t) (json_number_value(v) * 1e6);
        return 0;
}

static int health_threshold(json_t *o, const char *key, const char *rname, unsigned *ret,
                            RouteTableError *e) {
        json_t *v = json_object_get(o, key);
        char field[64];

        if (!v)
                return 0;
        snprintf(field, sizeof field, "health.%s", key);
        if (!json_is_integer(v) || json_integer_value(v) < 1 ||
            json_integer_value(v) > HEALTH_THRESHOLD_MAX)
                return fail(e, rname, field, "must be an integer from 1 to %d",
                            HEALTH_THRESHOLD_MAX);
        *ret = (unsigned) json_integer_value(v);
        return 0;
}

static int health_parse(json_t *j, const char *rname, ProxyProtocol protocol, RouteHealthCheck *ret,
                        RouteTableError *e) {
        RouteHealthCheck h = {};
        const char *key, *s;
        json_t *v;
        int k;

        if (!json_is_object(j))
                return fail(e, rname, "health", "must be an object");
        json_object_foreach (j, key, v)
                if (!strv_contains((char **) health_fields, key)) {
                        char field[64];
                        snprintf(field, sizeof field, "health.%s", key);
                        return fail(e, rname, field, "unknown field");
                }
        h.type = route_health_type_from_string(json_string_value(json_object_get(j, "type")));
        if (h.type != ROUTE_HEALTH_TCP && h.type != ROUTE_HEALTH_HTTP)
                return fail(e, rname, "health.type", "missing, or not \"tcp\" or \"http\"");
        if (h.type == ROUTE_HEALTH_HTTP && !proxy_protocol_is_http(protocol))
                return fail(e, rname, "health.type", "%s routes take tcp checks only",
                            proxy_protocol_to_string(protocol));
        if (h.type == ROUTE_HEALTH_TCP)
                for (size_t i = 0; i < 3; i++) {
                        static const char *const http_only[] = { "path", "host", "expect_status" };
                        char field[64];

                        if (!json_object_get(j, http_only[i]))
                                continue;
                        snprintf(field, sizeof field, "health.%s", http_only[i]);
                        return fail(e, rname, field, "only http checks take it");
                }

        k = health_seconds(j, "interval", rname, &h.interval_usec, e);
        if (k >= 0)
                k = health_seconds(j, "timeout", rname, &h.timeout_usec, e);
        if (k >= 0)
                k = health_threshold(j, "healthy_threshold", rname, &h.healthy_threshold, e);
        if (k >= 0)
                k = health_threshold(j, "unhealthy_threshold", rname, &h.unhealthy_threshold, e);
        if (k < 0)
                return k;
        if (h.interval_usec > 0 && h.timeout_usec > h.interval_usec)
                return fail(e, rname, "health.timeout", "must not be longer than the interval");

        v = json_object_get(j, "expect_status");
        if (v) {
                if (!json_is_integer(v) || json_integer_value(v) < 100 ||
                    json_integer_value(v) > 599)
                        return fail(e, rname, "health.expect_status",
                                    "must be an HTTP status from 100 to 599");
                h.expect_status = (unsigned) json_integer_value(v);
        }
        if (h.type == ROUTE_HEALTH_HTTP) {
                v = json_object_get(j, "path");
                s = v ? json_string_value(v) : "/";
                if (!s || !health_path_valid(s))
                        return fail(e, rname, "health.path",
                                    "must start with '/', without spaces or '#', at most %u bytes",
                                    PATH_MAX_LEN);
                h.path = strdup(s);
                if (!h.path)
                        return -ENOMEM;
                v = json_object_get(j, "host");
                if (v) {
                        RouteHostKind kind;
                        _cleanup_free_ char *host = NULL;

                        s = json_string_value(v);
                        k = s ? host_pattern_parse(s, &kind, &host) : -EINVAL;
                        if (k == -ENOMEM) {
                                free(h.path);
                                return k;
                        }
                        if (k < 0 || kind != ROUTE_HOST_EXACT) {
                                free(h.path);
                                return fail(e, rname, "health.host", "must be a host name");
                        }
                        h.host = TAKE_PTR(host);
                }
        }
        *ret = h;
        return 0;
}

static int route_parse(json_t *j, size_t index, Route *r, RouteAddress *ret_listen,
                       ProxyProtocol *ret_protocol, RouteTableError *e) {
        char rname[ROUTE_NAME_MAX + 16];
        const char *key, *s;
        json_t *v, *backends;
        RouteAddress listen;
        ProxyProtocol protocol = PROXY_PROTOCOL_HTTP;
        int k;

        snprintf(rname, sizeof rname, "#%zu", index);
        if (!json_is_object(j))
                return fail(e, rname, "", "a route must be an object");

        s = json_string_value(json_object_get(j, "name"));
        if (s && name_valid(s))
                snprintf(rname, sizeof rname, "%s", s);
        else
                return fail(e, rname, "name",
                            "missing, or not 1-%u characters of letters, digits and ._-/:",
                            ROUTE_NAME_MAX);

        json_object_foreach (j, key, v)
                if (!strv_contains((char **) route_fields, key))
                        return fail(e, rname, key, "unknown field");

        s = json_string_value(json_object_get(j, "listen"));
        if (!s)
                return fail(e, rname, "listen", "missing or not a string");
        if (route_address_parse(s, &listen) < 0)
                return fail(e, rname, "listen", "'%s' is not an IPv4 or [IPv6] address with a port",
                            s);

        v = json_object_get(j, "protocol");
        if (v) {
                protocol = proxy_protocol_from_string(json_string_value(v));
                if (protocol < 0)
                        return fail(e, rname, "protocol",
                                    "must be \"http\", \"https\", \"tcp\" or \"udp\"");
        }

        r->name = strdup(rname);
        if (!r->name)
                return -ENOMEM;

        v = json_object_get(j, "host");
        if (v) {
                if (!proxy_protocol_is_http(protocol))
                        return fail(e, rname, "host", "%s routes match no host",
                                    proxy_protocol_to_string(protocol));
                if (!json_is_string(v))
                        return fail(e, rname, "host", "must be a string");
                k = host_pattern_parse(json_string_value(v), &r->host_kind, &r->host);
                if (k == -ENOMEM)
                        return k;
                if (k < 0)
                        return fail(e, rname, "host",
                                    "'%s' is not a host name or a \"*.domain\" pattern",
                                    json_string_value(v));
                r->host_len = strlen(r->host);
        }

        v = json_object_get(j, "path");
        if (v) {
                if (!proxy_protocol_is_http(protocol))
                        return fail(e, rname, "path", "%s routes match no path",
                                    proxy_protocol_to_string(protocol));
                if (!json_is_string(v) || !path_valid(json_string_value(v)))
                        return fail(e, rname, "path",
                                    "must start with '/', without spaces, '?' or '#', at most %u "
                                    "bytes",
                                    PATH_MAX_LEN);
        }
        r->path_prefix = strdup(v ? json_string_value(v) : "/");
        if (!r->path_prefix)
                return -ENOMEM;
        r->path_len = strlen(r->path_prefix);

        v = json_object_get(j, "balance");
        if (v) {
                r->set.balance = proxy_balance_from_string(json_string_value(v));
                if (r->set.balance < 0)
                        return fail(e, rname, "balance",
                                    "must be \"round_robin\" or \"least_conn\"");
        }

        v = json_object_get(j, "idle_timeout");
        if (v) {
                if (protocol != PROXY_PROTOCOL_UDP)
                        return fail(e, rname, "idle_timeout",
                                    "only udp routes take an idle timeout");
                /* The bounds also keep the conversion to microseconds in range. */
                if (!json_is_number(v) || !(json_number_value(v) >= 0.001) ||
                    json_number_value(v) > IDLE_TIMEOUT_MAX_SEC)
                        return fail(e, rname, "idle_timeout",
                                    "must be a number of seconds from 0.001 to %.0f",
                                    IDLE_TIMEOUT_MAX_SEC);
                r->idle_timeout_usec = (uint64_t) (json_number_value(v) * 1e6);
        }

        v = json_object_get(j, "health");
        if (v) {
                k = health_parse(v, rname, protocol, &r->health, e);
                if (k < 0)
                        return k;
        }

        backends = json_object_get(j, "backends");
        /* An empty set is allowed: the scheduler keeps the listener of a service whose replicas
         * are not healthy (yet), and clients get 503 (or a closed connection) at once. */
        if (!json_is_array(backends))
                return fail(e, rname, "backends", "missing, or not an array");
        if (json_array_size(backends) > BACKENDS_MAX)
                return fail(e, rname, "backends", "more than %u backends", BACKENDS_MAX);
        r->set.backends = calloc(MAX(json_array_size(backends), 1U), sizeof(RouteBackend));
        if (!r->set.backends)
                return -ENOMEM;
        for (size_t i = 0; i < json_array_size(backends); i++) {
                k = backend_parse(json_array_get(backends, i), rname, i, &r->set.backends[i], e);
                if (k < 0)
                        return k;
                for (size_t m = 0; m < i; m++)
                        if (route_address_equal(&r->set.backends[m].address,
                                                &r->set.backends[i].address)) {
                                char field[64];
                                snprintf(field, sizeof field, "backends[%zu].address", i);
                                return fail(e, rname, field, "'%s' is listed twice",
                                            r->set.backends[i].address.text);
                        }
                r->set.n_backends++;
                r->set.total_weight += r->set.backends[i].weight;
        }

        *ret_listen = listen;
        *ret_protocol = protocol;
        return 0;
}

static int host_rank(const Route *r) {
        return r->host_kind == ROUTE_HOST_EXACT ? 2 : r->host_kind == ROUTE_HOST_WILDCARD ? 1 : 0;
}

/* Most specific first: exact host, then the longest wildcard suffix, then any host; within the
 * same host, the longest path prefix. */
static int route_cmp(const void *a, const void *b) {
        const Route *x = *(Route *const *) a, *y = *(Route *const *) b;

        if (host_rank(x) != host_rank(y))
                return host_rank(y) - host_rank(x);
        if (x->host_len != y->host_len)
                return x->host_len < y->host_len ? 1 : -1;
        if (x->path_len != y->path_len)
                return x->path_len < y->path_len ? 1 : -1;
        return strcmp(x->name, y->name);
}

int route_table_parse(const char *json, size_t size, RouteTable **ret, RouteTableError *e) {
        _cleanup_(route_table_unrefp) RouteTable *t = NULL;
        _cleanup_free_ RouteAddress *listens = NULL;
        _cleanup_free_ ProxyProtocol *protocols = NULL;
        json_error_t jerr;
        json_t *root, *routes;
        const char *key;
        json_t *v;
        size_t n;
        int r;

        if (!json || !ret)
                return -EINVAL;

        root = json_loadb(json, size, JSON_REJECT_DUPLICATES, &jerr);
        if (!root)
                return fail(e, "", "", "invalid JSON at line %d, column %d: %s", jerr.line,
                            jerr.column, jerr.text);

        json_object_foreach (root, key, v)
                if (!streq(key, "routes")) {
                        r = fail(e, "", key, "unknown field");
                        json_decref(root);
                        return r;
                }
        routes = json_object_get(root, "routes");
        if (!json_is_array(routes)) {
                json_decref(root);
                return fail(e, "", "routes", "missing or not an array");
        }
        n = json_array_size(routes);
        if (n > ROUTES_MAX) {
                json_decref(root);
                return fail(e, "", "routes", "more than %u routes", ROUTES_MAX);
        }

        r = route_table_new_empty(&t);
        if (r < 0)
                goto finish;
        t->routes = calloc(MAX(n, 1U), sizeof(Route));
        listens = calloc(MAX(n, 1U), sizeof(RouteAddress));
        protocols = calloc(MAX(n, 1U), sizeof(ProxyProtocol));
        t->listeners = calloc(MAX(n, 1U), sizeof(RouteListener));
        if (!t->routes || !listens || !protocols || !t->listeners) {
                r = -ENOMEM;
                goto finish;
        }

        for (size_t i = 0; i < n; i++) {
                Route *rt = &t->routes[i];
                size_t l;

                t->n_routes++;
                r = route_parse(json_array_get(routes, i), i, rt, &listens[i], &protocols[i], e);
                if (r < 0)
                        goto finish;
                for (size_t m = 0; m < i; m++)
                        if (streq(t->routes[m].name, rt->name)) {
                                r = fail(e, rt->name, "name", "two routes are named '%s'",
                                         rt->name);
                                goto finish;
                        }

                /* A udp and a stream listener on one address are two sockets (DNS takes port
                 * 53 on both). */
                for (l = 0; l < t->n_listeners; l++)
                        if (route_address_equal(&t->listeners[l].address, &listens[i]) &&
                            (t->listeners[l].protocol == PROXY_PROTOCOL_UDP) ==
                                    (protocols[i] == PROXY_PROTOCOL_UDP))
                                break;
                if (l == t->n_listeners) {
                        t->listeners[l] =
                                (RouteListener){ .address = listens[i], .protocol = protocols[i] };
                        t->n_listeners++;
                } else if (t->listeners[l].protocol != protocols[i]) {
                        r = fail(e, rt->name, "protocol",
                                 "listener %s already serves %s for another route", listens[i].text,
                                 proxy_protocol_to_string(t->listeners[l].protocol));
                        goto finish;
                }
                rt->listener = l;

                for (size_t m = 0; m < i; m++) {
                        const Route *o = &t->routes[m];

                        if (o->listener != l)
                                continue;
                        if (!proxy_protocol_is_http(protocols[i])) {
                                r = fail(e, rt->name, "listen",
                                         "%s listener %s is already used by route '%s'",
                                         proxy_protocol_to_string(protocols[i]), listens[i].text,
                                         o->name);
                                goto finish;
                        }
                        if (o->host_kind == rt->host_kind &&
                            streq(strempty(o->host), strempty(rt->host)) &&
                            streq(o->path_prefix, rt->path_prefix)) {
                                r = fail(e, rt->name, "path",
                                         "route '%s' has the same listener, host and path",
                                         o->name);
                                goto finish;
                        }
                }
        }

        for (size_t i = 0; i < n; i++)
                t->listeners[t->routes[i].listener].n_routes++;
        for (size_t l = 0; l < t->n_listeners; l++) {
                RouteListener *li = &t->listeners[l];
                size_t k = 0;

                li->routes = calloc(li->n_routes, sizeof(Route *));
                if (!li->routes) {
                        r = -ENOMEM;
                        goto finish;
                }
                for (size_t i = 0; i < n; i++)
                        if (t->routes[i].listener == l)
                                li->routes[k++] = &t->routes[i];
                qsort(li->routes, li->n_routes, sizeof(Route *), route_cmp);
        }

        *ret = TAKE_PTR(t);
        r = 0;
finish:
        json_decref(root);
        return r;
}

int route_table_find_listener(const RouteTable *t, const RouteAddress *address, size_t *ret) {
        for (size_t l = 0; l < t->n_listeners; l++)
                if (t->listeners[l].protocol != PROXY_PROTOCOL_UDP &&
                    route_address_equal(&t->listeners[l].address, address)) {
                        *ret = l;
                        return 0;
                }
        return -ENOENT;
}

const Route *route_table_find(const RouteTable *t, const char *name) {
        for (size_t i = 0; i < t->n_routes; i++)
                if (streq(t->routes[i].name, name))
                        return &t->routes[i];
        return NULL;
}

static bool host_matches(const Route *r, const char *host, size_t len) {
        switch (r->host_kind) {
        case ROUTE_HOST_ANY:
                return true;
        case ROUTE_HOST_EXACT:
                return len == r->host_len && strncasecmp(host, r->host, len) == 0;
        case ROUTE_HOST_WILDCARD:
                /* "*.example.com" takes "a.example.com" and "a.b.example.com", not the apex. */
                return len > r->host_len &&
                       strncasecmp(host + len - r->host_len, r->host, r->host_len) == 0;
        }
        return false;
}

static bool path_matches(const Route *r, const char *path, size_t len) {
        if (len < r->path_len || memcmp(path, r->path_prefix, r->path_len) != 0)
                return false;
        /* "/api" takes "/api", "/api/x" and "/api?q", not "/apix"; "/api/" takes "/api/x". */
        return len == r->path_len || r->path_prefix[r->path_len - 1] == '/' ||
               path[r->path_len] == '/' || path[r->path_len] == '?';
}

const Route *route_table_match(const RouteTable *t, size_t listener, const char *host,
                               size_t host_len, const char *path, size_t path_len) {
        const RouteListener *li;

        if (!t || listener >= t->n_listeners)
                return NULL;
        li = &t->listeners[listener];

        if (!host)
                host_len = 0;
        else {
                /* Drop the port ("example.com:8080", "[::1]:8080") and a trailing dot. */
                const char *colon = memrchr(host, ':', host_len);
                const char *bracket = memrchr(host, ']', host_len);
                if (colon && (!bracket || colon > bracket))
                        host_len = colon - host;
                if (host_len > 0 && host[host_len - 1] == '.')
                        host_len--;
        }
        if (!path)
                path_len = 0;

        for (size_t i = 0; i < li->n_routes; i++) {
                const Route *r = li->routes[i];

                if (!proxy_protocol_is_http(li->protocol))
                        return r;
                if (r->host_kind != ROUTE_HOST_ANY && host_len == 0)
                        continue;
                if (host_matches(r, host, host_len) && path_matches(r, path, path_len))
                        return r;
        }
        return NULL;
}

int route_publisher_init(RoutePublisher *p) {
        RouteTable *t;
        int r;

        r = route_table_new_empty(&t);
        if (r < 0)
                return r;
        atomic_init(&p->current, t);
        for (size_t i = 0; i < ROUTE_PUBLISHER_READERS_MAX; i++)
                atomic_init(&p->hazards[i], NULL);
        atomic_init(&p->generation, 0);
        return 0;
}

void route_publisher_done(RoutePublisher *p) {
        route_table_unref(atomic_exchange(&p->current, NULL));
}

void route_publisher_publish(RoutePublisher *p, RouteTable *t) {
        RouteTable *old;

        old = atomic_exchange(&p->current, route_table_ref(t));
        atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);

        /* A reader that announced old before the swap may be about to take its reference:
         * wait until no slot names it. The window is a handful of instructions on the reader's
         * side, never a blocking call. */
        for (size_t i = 0; i < ROUTE_PUBLISHER_READERS_MAX; i++)
                while (atomic_load(&p->hazards[i]) == old)
                        sched_yield();
        route_table_unref(old);
}

RouteTable *route_publisher_acquire(RoutePublisher *p, unsigned reader) {
        RouteTable *t;

        assert(reader < ROUTE_PUBLISHER_READERS_MAX);
        for (;;) {
                t = atomic_load(&p->current);
                atomic_store(&p->hazards[reader], t);
                if (atomic_load(&p->current) == t)
                        break;
        }
        route_table_ref(t);
        atomic_store(&p->hazards[reader], NULL);
        return t;
}

RouteTable *route_publisher_peek(RoutePublisher *p) {
        return atomic_load(&p->current);
}
