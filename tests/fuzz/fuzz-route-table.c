/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz-route-table.c: fuzz target for the route table: JSON validation, then matching. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "route-table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what, const char *route) {
        fprintf(stderr, "route table broken: %s (route '%s')\n", what, route ?: "");
        abort();
}

static int host_rank(const Route *r) {
        return r->host_kind == ROUTE_HOST_EXACT ? 2 : r->host_kind == ROUTE_HOST_WILDCARD ? 1 : 0;
}

/* Whether a is at least as specific as b (the order listeners keep their routes in). */
static bool as_specific(const Route *a, const Route *b) {
        if (host_rank(a) != host_rank(b))
                return host_rank(a) > host_rank(b);
        if (a->host_len != b->host_len)
                return a->host_len > b->host_len;
        return a->path_len >= b->path_len;
}

static void check_match(const RouteTable *t, size_t listener, const char *host, size_t host_len,
                        const char *path, size_t path_len) {
        const Route *m = route_table_match(t, listener, host, host_len, path, path_len);

        if (!m)
                return;
        if (m < t->routes || m >= t->routes + t->n_routes)
                die("match outside the table", NULL);
        if (m->listener != listener)
                die("match on another listener", m->name);
}

/* A request each route must match, and check the winner is at least as specific. */
static void check_own_request(const RouteTable *t, const Route *r) {
        char host[300];
        const Route *m;
        size_t host_len = 0;

        if (!proxy_protocol_is_http(t->listeners[r->listener].protocol)) {
                if (r->host || r->path_len != 1 || t->listeners[r->listener].n_routes != 1)
                        die("an L4 route with a host, a path or company", r->name);
                if (route_table_match(t, r->listener, "x", 1, "/y", 2) != r)
                        die("an L4 listener matched another route", r->name);
                return;
        }
        if (r->host_kind == ROUTE_HOST_EXACT)
                host_len = (size_t) snprintf(host, sizeof host, "%s:80", r->host);
        else if (r->host_kind == ROUTE_HOST_WILDCARD)
                host_len = (size_t) snprintf(host, sizeof host, "a%s.", r->host);
        m = route_table_match(t, r->listener, host_len ? host : NULL, host_len, r->path_prefix,
                              r->path_len);
        if (!m)
                die("a route does not match its own host and path", r->name);
        if (m != r && !as_specific(m, r))
                die("a less specific route won", r->name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        RouteTable *t = NULL;
        RouteTableError e = {};
        int r;

        r = route_table_parse((const char *) data, size, &t, &e);
        if (r == -EINVAL) {
                /* A refused table says why, and gives nothing back. */
                if (t || e.message[0] == 0)
                        die("an error without a message, or a table with an error", e.route);
                return 0;
        }
        if (r == -ENOMEM)
                return 0;
        if (r != 0 || !t)
                die("unexpected result", NULL);

        for (size_t l = 0; l < t->n_listeners; l++) {
                const RouteListener *li = &t->listeners[l];

                if (li->n_routes == 0)
                        die("a listener without routes", NULL);
                for (size_t i = 1; i < li->n_routes; i++)
                        if (!as_specific(li->routes[i - 1], li->routes[i]))
                                die("routes out of order", li->routes[i]->name);
        }
        for (size_t i = 0; i < t->n_routes; i++) {
                const Route *rt = &t->routes[i];

                if (rt->listener >= t->n_listeners)
                        die("a route on no listener", rt->name);
                /* No backends is allowed (the listener answers 503); some backends, some
                 * weight. */
                if ((rt->set.n_backends == 0) != (rt->set.total_weight == 0))
                        die("backends without weight, or weight without backends", rt->name);
                if (route_table_find(t, rt->name) != rt)
                        die("a route not found by its name", rt->name);
                check_own_request(t, rt);
        }

        /* The input itself as host and path, cut in a few places: the matcher takes any bytes
         * (ports, brackets, dots, no NUL at the end). */
        for (size_t l = 0; l < t->n_listeners; l++) {
                size_t half = size / 2;

                check_match(t, l, (const char *) data, size, (const char *) data, size);
                check_match(t, l, (const char *) data, half, (const char *) data + half,
                            size - half);
                check_match(t, l, NULL, 0, "/", 1);
                check_match(t, l, "", 0, NULL, 0);
        }
        if (route_table_match(t, t->n_listeners, "a", 1, "/", 1))
                die("a match on a listener that does not exist", NULL);

        route_table_unref(t);
        return 0;
}
