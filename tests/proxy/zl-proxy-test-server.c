/* SPDX-License-Identifier: Apache-2.0 */
/* zl-proxy-test-server.c: libzlproxy with a routes file, for integration tests and benchmarks. */
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>

#include "fileio.h"
#include "log.h"
#include "parse-util.h"
#include "proxy-tls.h"
#include "proxy.h"

/* Not a daemon and not shipped: zl-proxyd gets its routes from Proxy1.SetRoutes (next step).
 * This runs the same data plane from a JSON file: SIGHUP reloads it, SIGUSR1 writes the route
 * counters as JSON to --stats, SIGTERM/SIGINT stop. "READY" on stdout once listening. */

static const char *arg_routes;
static const char *arg_stats;
static const char *arg_certs;
static ProxyConfig arg_config;

static void help(void) {
        printf("zl-proxy-test-server --routes FILE [--stats FILE] [--workers N]\n"
               "        [--header-timeout MS] [--idle-timeout MS] [--backend-timeout MS]\n"
               "        [--max-body BYTES] [--eject-failures N] [--eject-time MS]\n"
               "        [--certs DIR] [--hsts SECONDS] [--max-idle-upstreams N]\n");
}

static int parse_ms(const char *s, uint64_t *ret_usec) {
        uint64_t ms;
        int r = safe_atou64(s, &ms);
        if (r < 0 || ms == 0)
                return -EINVAL;
        *ret_usec = ms * 1000;
        return 0;
}

static int parse_argv(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "routes", required_argument, NULL, 'r' },
                { "stats", required_argument, NULL, 's' },
                { "workers", required_argument, NULL, 'w' },
                { "header-timeout", required_argument, NULL, 'H' },
                { "idle-timeout", required_argument, NULL, 'I' },
                { "backend-timeout", required_argument, NULL, 'B' },
                { "max-body", required_argument, NULL, 'M' },
                { "eject-failures", required_argument, NULL, 'F' },
                { "eject-time", required_argument, NULL, 'E' },
                { "certs", required_argument, NULL, 'C' },
                { "hsts", required_argument, NULL, 'S' },
                { "max-idle-upstreams", required_argument, NULL, 'U' },
                {},
        };
        int c, idx = 0, r = 0;

        proxy_config_init(&arg_config);
        while ((c = getopt_long(argc, argv, "h", options, &idx)) >= 0) {
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case 'r':
                        arg_routes = optarg;
                        break;
                case 's':
                        arg_stats = optarg;
                        break;
                case 'w':
                        r = safe_atou(optarg, &arg_config.n_workers);
                        break;
                case 'H':
                        r = parse_ms(optarg, &arg_config.header_timeout_usec);
                        break;
                case 'I':
                        r = parse_ms(optarg, &arg_config.idle_timeout_usec);
                        break;
                case 'B':
                        r = parse_ms(optarg, &arg_config.backend_timeout_usec);
                        break;
                case 'M':
                        r = safe_atou64(optarg, &arg_config.max_body_size);
                        break;
                case 'F':
                        r = safe_atou(optarg, &arg_config.eject_failures);
                        break;
                case 'E':
                        r = parse_ms(optarg, &arg_config.eject_usec);
                        break;
                case 'C':
                        arg_certs = optarg;
                        break;
                case 'S':
                        r = safe_atou64(optarg, &arg_config.hsts_max_age_sec);
                        break;
                case 'U':
                        r = safe_atou(optarg, &arg_config.max_idle_upstreams);
                        break;
                default:
                        return -EINVAL;
                }
                if (r < 0)
                        return log_error_errno(r, "Invalid value '%s' for --%s.", optarg,
                                               options[idx].name);
        }
        if (!arg_routes)
                return log_error_errno(EINVAL, "--routes FILE is required.");
        return 1;
}

static int load_routes(Proxy *p) {
        _cleanup_free_ char *data = NULL;
        _cleanup_(route_table_unrefp) RouteTable *t = NULL;
        RouteTableError e = {};
        size_t size;
        int r;

        r = read_full_file(arg_routes, 16U << 20, &data, &size);
        if (r < 0)
                return log_error_errno(r, "Failed to read '%s': %m", arg_routes);
        r = route_table_parse(data, size, &t, &e);
        if (r == -EINVAL)
                return log_error_errno(r, "Invalid routes in '%s': route '%s', field '%s': %s",
                                       arg_routes, e.route, e.field, e.message);
        if (r < 0)
                return log_error_errno(r, "Failed to parse '%s': %m", arg_routes);
        r = proxy_set_routes(p, t);
        if (r == -ELIBACC)
                return log_error_errno(r, "Failed to apply the routes of '%s': %s", arg_routes,
                                       proxy_tls_module_error());
        if (r < 0)
                return log_error_errno(r, "Failed to apply the routes of '%s': %m", arg_routes);
        for (size_t i = 0; i < t->n_routes; i++)
                log_debug("Route '%s' on %s.", t->routes[i].name,
                          t->listeners[t->routes[i].listener].address.text);
        return 0;
}

/* https certificates from --certs (SIGHUP reloads them with the routes). */
static int load_certs(Proxy *p) {
        ProxyTlsError e = {};
        int r;

        if (!arg_certs)
                return 0;
        r = proxy_tls_reload(proxy_get_tls(p), arg_certs, &e);
        if (r < 0)
                return log_error_errno(r, "Failed to load the certificates of '%s': %s", arg_certs,
                                       e.message);
        return 0;
}

static int write_stats(Proxy *p) {
        _cleanup_free_ char *data = NULL;
        _cleanup_free_ char *routes_data = NULL;
        RouteTableError e = {};
        RouteTable *t = NULL;
        json_t *root, *routes, *backends;
        size_t size;
        int r;

        r = read_full_file(arg_routes, 16U << 20, &routes_data, &size);
        if (r < 0)
                return r;
        r = route_table_parse(routes_data, size, &t, &e);
        if (r < 0)
                return r;
        root = json_object();
        routes = json_object();
        backends = json_object();
        json_object_set_new(root, "routes", routes);
        json_object_set_new(root, "backends", backends);
        for (size_t i = 0; i < t->n_routes; i++) {
                ProxyRouteStats s;
                json_t *o, *lat;

                if (proxy_get_route_stats(p, t->routes[i].name, &s) < 0)
                        continue;
                lat = json_array();
                for (size_t b = 0; b < PROXY_LATENCY_BUCKETS; b++)
                        json_array_append_new(lat, json_integer((json_int_t) s.latency[b]));
                o = json_pack("{s:I,s:I,s:I,s:I,s:o}", "requests", (json_int_t) s.requests,
                              "errors", (json_int_t) s.errors, "bytes_in", (json_int_t) s.bytes_in,
                              "bytes_out", (json_int_t) s.bytes_out, "latency", lat);
                json_object_set_new(routes, t->routes[i].name, o);
                for (size_t k = 0; k < t->routes[i].set.n_backends; k++) {
                        const char *a = t->routes[i].set.backends[k].address.text;
                        ProxyBackendState b;
                        if (proxy_get_backend_state(p, a, &b) >= 0)
                                json_object_set_new(backends, a,
                                                    json_pack("{s:i,s:i,s:b}", "active",
                                                              (int) b.active, "failures",
                                                              (int) b.failures, "ejected",
                                                              (int) b.ejected));
                }
        }
        route_table_unref(t);
        data = json_dumps(root, JSON_SORT_KEYS);
        json_decref(root);
        if (!data)
                return -ENOMEM;
        return write_string_file_atomic(arg_stats, data, 0644);
}

int main(int argc, char *argv[]) {
        _cleanup_(proxy_freep) Proxy *p = NULL;
        sigset_t mask;
        int r, sig;

        log_parse_environment();
        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? 1 : 0;
        /* Not beside the TLS module (daemons/zl-proxyd/ of the build): point the loader at it,
         * unless the caller chose one (the tests do, to see a missing module refused). */
        if (setenv("ZL_PROXY_TLS_MODULE", ZL_PROXY_TLS_MODULE_BUILD_PATH, 0) < 0)
                return log_oom(), 1;

        /* The workers inherit the mask: only this thread takes the signals. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGUSR1);
        sigaddset(&mask, SIGPIPE);
        pthread_sigmask(SIG_BLOCK, &mask, NULL);

        r = proxy_new(&arg_config, &p);
        if (r < 0)
                return log_error_errno(r, "Failed to create the proxy: %m"), 1;
        if (load_certs(p) < 0 || load_routes(p) < 0)
                return 1;
        r = proxy_run(p);
        if (r < 0)
                return log_error_errno(r, "Failed to start the workers: %m"), 1;
        printf("READY %u\n", proxy_n_workers(p));
        fflush(stdout);

        for (;;) {
                if (sigwait(&mask, &sig) != 0)
                        continue;
                if (sig == SIGHUP) {
                        /* A bad file changes nothing. */
                        (void) load_certs(p);
                        (void) load_routes(p);
                } else if (sig == SIGUSR1 && arg_stats) {
                        r = write_stats(p);
                        if (r < 0)
                                log_warning_errno(r, "Failed to write '%s': %m, ignoring",
                                                  arg_stats);
                } else if (sig == SIGTERM || sig == SIGINT)
                        break;
        }
        proxy_stop(p);
        return 0;
}
