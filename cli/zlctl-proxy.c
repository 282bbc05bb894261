/* SPDX-License-Identifier: Apache-2.0 */
/* zlctl-proxy.c: `zlctl proxy routes|backends|stats|apply|clear`: the node proxy's routes. */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>

#include "fileio.h"
#include "log.h"
#include "string-util.h"
#include "table.h"
#include "yaml-tree.h"
#include "zlctl-bus.h"
#include "zlctl.h"

#define PROXY_SERVICE "org.zlayer.Proxy1"
#define PROXY_PATH "/org/zlayer/Proxy1"
#define PROXY_IFACE "org.zlayer.Proxy1"
#define PROXY_CALL_TIMEOUT_USEC (30 * USEC_PER_SEC)
#define ROUTES_FILE_MAX (16U * 1024U * 1024U)
#define OWNER_DEFAULT "operator"

/* --help, --output and, for apply, --owner. Returns 1 to go on, 0 after --help, or minus the exit
 * status of a usage error. Positional arguments are left at argv[optind...]. */
static int parse_options(const char *command, const char *args, const char *summary, bool owner,
                         int argc, char *argv[], bool *ret_json, const char **ret_owner) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "output", required_argument, NULL, 'o' },
                { "owner", required_argument, NULL, 'O' },
                {},
        };
        int c;

        if (ret_json)
                *ret_json = false;
        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":ho:", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        printf("%s proxy %s%s\n\n%s\n\n"
                               "Options:\n"
                               "  -h --help              Show this help\n"
                               "%s%s"
                               "\nExit status: 0 success, 1 failure, 2 usage error.\n",
                               program_name, command, args, summary,
                               ret_json ? "  -o --output=FORMAT     table (default) or json\n" : "",
                               owner ? "     --owner=NAME       Owner of the routes (default "
                                       "\"" OWNER_DEFAULT "\")\n"
                                     : "");
                        return 0;
                case 'o':
                        if (!ret_json)
                                return -usage_error(command, "unknown option '%s'",
                                                    argv[optind - 1]);
                        if (streq(optarg, "json"))
                                *ret_json = true;
                        else if (!streq(optarg, "table"))
                                return -usage_error(command,
                                                    "invalid --output '%s'; expected table or json",
                                                    optarg);
                        break;
                case 'O':
                        if (!owner)
                                return -usage_error(command, "unknown option '--owner'");
                        *ret_owner = optarg;
                        break;
                default:
                        return -zlctl_getopt_failure(command, c, argv);
                }
        return 1;
}

/* ---- routes ------------------------------------------------------------------------------ */

static int list_routes(sd_bus *bus, json_t **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        json_error_t jerr;
        const char *text;
        json_t *root;
        int r;

        r = sd_bus_call_method(bus, PROXY_SERVICE, PROXY_PATH, PROXY_IFACE, "ListRoutes", &e,
                               &reply, "");
        if (r < 0)
                return zlctl_log_call_error(r, &e, "list the routes");
        r = sd_bus_message_read(reply, "s", &text);
        if (r < 0)
                return log_error_errno(r, "Failed to parse the routes: %m");
        root = json_loads(text, 0, &jerr);
        if (!json_is_array(json_object_get(root, "routes"))) {
                json_decref(root);
                return log_error_errno(-EBADMSG, "The proxy's route list is not valid: %s",
                                       jerr.text);
        }
        *ret = root;
        return 0;
}

static char *backends_text(json_t *backends) {
        _cleanup_free_ char *s = NULL;
        size_t i;
        json_t *b;

        json_array_foreach (backends, i, b) {
                const char *a =
                        json_is_string(b) ? json_string_value(b) : zlctl_json_str(b, "address");
                json_t *w = json_object_get(b, "weight");
                int r;

                if (w)
                        r = strextendf(&s, "%s%s*%" JSON_INTEGER_FORMAT, i ? "," : "", strna(a),
                                       json_integer_value(w));
                else
                        r = strextendf(&s, "%s%s", i ? "," : "", strna(a));
                if (r < 0)
                        return NULL;
        }
        return s ? TAKE_PTR(s) : strdup("-");
}

static int verb_proxy_routes(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(json_decrefp) json_t *root = NULL;
        _cleanup_(table_freep) Table *t = NULL;
        size_t i;
        json_t *route;
        bool json;
        int r;

        r = parse_options("routes", "",
                          "List the routes the node's proxy serves, with their owner.", false, argc,
                          argv, &json, NULL);
        if (r <= 0)
                return -r;
        if (optind < argc)
                return usage_error("routes", "unexpected argument '%s'", argv[optind]);
        if (zlctl_bus_open(&bus, NULL) < 0 || list_routes(bus, &root) < 0)
                return ZLCTL_EXIT_FAILURE;
        if (json)
                return zlctl_print_json(json_object_get(root, "routes")) < 0 ? ZLCTL_EXIT_FAILURE
                                                                             : ZLCTL_EXIT_OK;

        t = table_new("NAME", "OWNER", "LISTEN", "PROTOCOL", "HOST", "PATH", "BALANCE", "HEALTH",
                      "BACKENDS");
        if (!t)
                return log_oom(), ZLCTL_EXIT_FAILURE;
        json_array_foreach (json_object_get(root, "routes"), i, route) {
                _cleanup_free_ char *backends = backends_text(json_object_get(route, "backends"));
                const char *protocol = zlctl_json_str(route, "protocol");
                const char *balance = zlctl_json_str(route, "balance");
                const char *health = json_string_value(
                        json_object_get(json_object_get(route, "health"), "type"));

                if (!backends)
                        return log_oom(), ZLCTL_EXIT_FAILURE;
                if (table_add_row(t, zlctl_json_str(route, "name"), zlctl_json_str(route, "owner"),
                                  zlctl_json_str(route, "listen"), protocol ?: "http",
                                  zlctl_json_str(route, "host"), zlctl_json_str(route, "path"),
                                  balance ?: "round_robin", health, backends) < 0)
                        return log_oom(), ZLCTL_EXIT_FAILURE;
        }
        return table_print(t, stdout) < 0 ? ZLCTL_EXIT_FAILURE : ZLCTL_EXIT_OK;
}

/* ---- backends ---------------------------------------------------------------------------- */

static int verb_proxy_backends(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(json_decrefp) json_t *arr = json_array();
        _cleanup_(table_freep) Table *t = NULL;
        bool json;
        int r;

        r = parse_options("backends", "",
                          "List the backends of the proxy's routes: health (healthy, unhealthy\n"
                          "by the active check, ejected after failures), requests in flight.",
                          false, argc, argv, &json, NULL);
        if (r <= 0)
                return -r;
        if (optind < argc)
                return usage_error("backends", "unexpected argument '%s'", argv[optind]);
        if (zlctl_bus_open(&bus, NULL) < 0)
                return ZLCTL_EXIT_FAILURE;
        r = sd_bus_call_method(bus, PROXY_SERVICE, PROXY_PATH, PROXY_IFACE, "ListBackends", &e,
                               &reply, "");
        if (r < 0)
                return zlctl_log_call_error(r, &e, "list the backends"), ZLCTL_EXIT_FAILURE;
        t = table_new("ADDRESS", "HEALTH", "CHECK", "LAST-CHECK", "ACTIVE", "FAILURES", "ROUTES");
        if (!t || !arr)
                return log_oom(), ZLCTL_EXIT_FAILURE;
        r = sd_bus_message_enter_container(reply, 'a', "(ssssuuas)");
        while (r >= 0) {
                _cleanup_strv_free_ char **routes = NULL;
                _cleanup_free_ char *joined = NULL;
                const char *address, *health, *check, *last;
                uint32_t active, failures;
                char sa[16], sf[16];
                json_t *o, *jr;

                r = sd_bus_message_enter_container(reply, 'r', "ssssuuas");
                if (r <= 0)
                        break;
                r = sd_bus_message_read(reply, "ssssuu", &address, &health, &check, &last, &active,
                                        &failures);
                if (r >= 0)
                        r = sd_bus_message_read_strv(reply, &routes);
                if (r >= 0)
                        r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        break;
                joined = strv_join(routes, ",");
                jr = json_array();
                o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:o}", "address", address, "health",
                              health, "check", check, "last_check", last, "active",
                              (json_int_t) active, "failures", (json_int_t) failures, "routes", jr);
                if (!joined || !o || json_array_append_new(arr, o) < 0)
                        return log_oom(), ZLCTL_EXIT_FAILURE;
                for (char **s = routes; s && *s; s++)
                        if (json_array_append_new(jr, json_string(*s)) < 0)
                                return log_oom(), ZLCTL_EXIT_FAILURE;
                snprintf(sa, sizeof sa, "%" PRIu32, active);
                snprintf(sf, sizeof sf, "%" PRIu32, failures);
                if (table_add_row(t, address, health, check, last, sa, sf, joined) < 0)
                        return log_oom(), ZLCTL_EXIT_FAILURE;
        }
        if (r < 0)
                return log_error_errno(r, "Failed to parse the backends: %m"), ZLCTL_EXIT_FAILURE;
        if (json)
                return zlctl_print_json(arr) < 0 ? ZLCTL_EXIT_FAILURE : ZLCTL_EXIT_OK;
        return table_print(t, stdout) < 0 ? ZLCTL_EXIT_FAILURE : ZLCTL_EXIT_OK;
}

/* ---- stats ------------------------------------------------------------------------------- */

/* The upper bound of the bucket holding the q-quantile; UINT64_MAX for the open last bucket. */
static uint64_t quantile_bound(const uint64_t *counts, size_t n, const uint64_t *bounds,
                               size_t n_bounds, double q) {
        uint64_t total = 0, seen = 0, want;

        for (size_t i = 0; i < n; i++)
                total += counts[i];
        if (total == 0)
                return 0;
        want = (uint64_t) (q * (double) total + 0.5);
        want = MAX(want, (uint64_t) 1);
        for (size_t i = 0; i < n; i++) {
                seen += counts[i];
                if (seen >= want)
                        return i < n_bounds ? bounds[i] : UINT64_MAX;
        }
        return UINT64_MAX;
}

static const char *format_bound(uint64_t usec, uint64_t last_bound, char *buf, size_t size) {
        if (usec == 0)
                return "-";
        if (usec == UINT64_MAX)
                snprintf(buf, size, ">%" PRIu64 "ms", last_bound / 1000);
        else if (usec < 1000)
                snprintf(buf, size, "<=%" PRIu64 "us", usec);
        else
                snprintf(buf, size, "<=%" PRIu64 "ms", usec / 1000);
        return buf;
}

static int verb_proxy_stats(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL, *bounds_reply = NULL;
        _cleanup_(json_decrefp) json_t *arr = json_array(), *jbounds = json_array();
        _cleanup_(table_freep) Table *t = NULL;
        const uint64_t *bounds = NULL;
        size_t n_bounds = 0;
        bool json;
        int r;

        r = parse_options("stats", "",
                          "Show the counters of each route: requests, errors, bytes, current\n"
                          "requests per second (10 s window) and latency quantiles (histogram\n"
                          "bucket bounds).",
                          false, argc, argv, &json, NULL);
        if (r <= 0)
                return -r;
        if (optind < argc)
                return usage_error("stats", "unexpected argument '%s'", argv[optind]);
        if (zlctl_bus_open(&bus, NULL) < 0)
                return ZLCTL_EXIT_FAILURE;
        r = sd_bus_get_property(bus, PROXY_SERVICE, PROXY_PATH, PROXY_IFACE, "LatencyBounds", &e,
                                &bounds_reply, "at");
        if (r >= 0)
                r = sd_bus_message_read_array(bounds_reply, 't', (const void **) &bounds,
                                              &n_bounds);
        if (r < 0)
                return zlctl_log_call_error(r, &e, "read the latency bounds"), ZLCTL_EXIT_FAILURE;
        n_bounds /= sizeof(uint64_t);
        r = sd_bus_call_method(bus, PROXY_SERVICE, PROXY_PATH, PROXY_IFACE, "GetRouteStats", &e,
                               &reply, "");
        if (r < 0)
                return zlctl_log_call_error(r, &e, "get the route counters"), ZLCTL_EXIT_FAILURE;
        t = table_new("ROUTE", "REQUESTS", "ERRORS", "BYTES-IN", "BYTES-OUT", "RPS", "P50", "P99");
        if (!t || !arr || !jbounds)
                return log_oom(), ZLCTL_EXIT_FAILURE;
        for (size_t i = 0; i < n_bounds; i++)
                if (json_array_append_new(jbounds, json_integer((json_int_t) bounds[i])) < 0)
                        return log_oom(), ZLCTL_EXIT_FAILURE;

        r = sd_bus_message_enter_container(reply, 'a', "(sttttatd)");
        while (r >= 0) {
                const char *route;
                uint64_t req, err, bin, bout;
                const uint64_t *lat;
                size_t n_lat;
                double rps;
                char c[4][24], srps[32], p50[32], p99[32];
                json_t *o, *jl;

                r = sd_bus_message_enter_container(reply, 'r', "sttttatd");
                if (r <= 0)
                        break;
                r = sd_bus_message_read(reply, "stttt", &route, &req, &err, &bin, &bout);
                if (r >= 0)
                        r = sd_bus_message_read_array(reply, 't', (const void **) &lat, &n_lat);
                if (r >= 0)
                        r = sd_bus_message_read(reply, "d", &rps);
                if (r >= 0)
                        r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        break;
                n_lat /= sizeof(uint64_t);
                jl = json_array();
                o = json_pack("{s:s, s:I, s:I, s:I, s:I, s:f, s:o}", "route", route, "requests",
                              (json_int_t) req, "errors", (json_int_t) err, "bytes_in",
                              (json_int_t) bin, "bytes_out", (json_int_t) bout, "rps", rps,
                              "latency", jl);
                if (!o || json_array_append_new(arr, o) < 0)
                        return log_oom(), ZLCTL_EXIT_FAILURE;
                for (size_t i = 0; i < n_lat; i++)
                        if (json_array_append_new(jl, json_integer((json_int_t) lat[i])) < 0)
                                return log_oom(), ZLCTL_EXIT_FAILURE;
                snprintf(c[0], sizeof c[0], "%" PRIu64, req);
                snprintf(c[1], sizeof c[1], "%" PRIu64, err);
                snprintf(c[2], sizeof c[2], "%" PRIu64, bin);
                snprintf(c[3], sizeof c[3], "%" PRIu64, bout);
                snprintf(srps, sizeof srps, "%.1f", rps);
                if (table_add_row(
                            t, route, c[0], c[1], c[2], c[3], srps,
                            format_bound(quantile_bound(lat, n_lat, bounds, n_bounds, 0.5),
                                         n_bounds ? bounds[n_bounds - 1] : 0, p50, sizeof p50),
                            format_bound(quantile_bound(lat, n_lat, bounds, n_bounds, 0.99),
                                         n_bounds ? bounds[n_bounds - 1] : 0, p99, sizeof p99)) < 0)
                        return log_oom(), ZLCTL_EXIT_FAILURE;
        }
        if (r < 0)
                return log_error_errno(r, "Failed to parse the counters: %m"), ZLCTL_EXIT_FAILURE;
        if (json) {
                _cleanup_(json_decrefp) json_t *root =
                        json_pack("{s:O, s:O}", "latency_bounds_us", jbounds, "routes", arr);
                if (!root)
                        return log_oom(), ZLCTL_EXIT_FAILURE;
                return zlctl_print_json(root) < 0 ? ZLCTL_EXIT_FAILURE : ZLCTL_EXIT_OK;
        }
        return table_print(t, stdout) < 0 ? ZLCTL_EXIT_FAILURE : ZLCTL_EXIT_OK;
}

/* ---- apply and clear --------------------------------------------------------------------- */

/* A YAML tree as JSON, with our scalar typing: plain integers, floats, booleans and nulls become
 * JSON ones, everything else strings. NULL on OOM or an integer out of range (*ret_bad). */
static json_t *yaml_to_json(const YamlNode *n, const YamlNode **ret_bad) {
        json_t *j;

        switch (n->type) {
        case YAML_TREE_MAPPING:
                j = json_object();
                for (size_t i = 0; j && i < n->n_pairs; i++) {
                        json_t *v = yaml_to_json(n->pairs[i].value, ret_bad);
                        if (!v || json_object_set_new(j, n->pairs[i].key->text, v) < 0) {
                                json_decref(j);
                                return NULL;
                        }
                }
                return j;
        case YAML_TREE_SEQUENCE:
                j = json_array();
                for (size_t i = 0; j && i < n->n_items; i++) {
                        json_t *v = yaml_to_json(n->items[i], ret_bad);
                        if (!v || json_array_append_new(j, v) < 0) {
                                json_decref(j);
                                return NULL;
                        }
                }
                return j;
        case YAML_TREE_SCALAR:
                switch (n->quoted ? YAML_SCALAR_STRING : n->kind) {
                case YAML_SCALAR_INTEGER: {
                        char *end;
                        long long v;

                        errno = 0;
                        v = strtoll(n->text, &end, 10);
                        if (errno != 0 || *end != 0) {
                                *ret_bad = n;
                                return NULL;
                        }
                        return json_integer(v);
                }
                case YAML_SCALAR_FLOAT:
                        return json_real(strtod(n->text, NULL));
                case YAML_SCALAR_BOOLEAN:
                        return json_boolean(strcasecmp(n->text, "true") == 0);
                case YAML_SCALAR_NULL:
                        return json_null();
                default:
                        return json_string(n->text);
                }
        default:
                return NULL;
        }
}

/* The routes file as the JSON SetRoutes takes: JSON when it parses as JSON, else YAML. */
static int read_routes_file(const char *path, char **ret) {
        _cleanup_(yaml_tree_errors_done) YamlTreeErrors errors = {};
        _cleanup_(yaml_node_freep) YamlNode *root = NULL;
        _cleanup_(json_decrefp) json_t *j = NULL;
        _cleanup_free_ char *data = NULL;
        const YamlNode *bad = NULL;
        const char *shown = streq(path, "-") ? "<stdin>" : path;
        const char *p;
        size_t size;
        int r;

        if (streq(path, "-"))
                r = read_full_stream(stdin, ROUTES_FILE_MAX, &data, &size);
        else
                r = read_full_file(path, ROUTES_FILE_MAX, &data, &size);
        if (r < 0)
                return log_error_errno(r, "Failed to read '%s': %m", shown);

        p = data + strspn(data, " \t\r\n");
        if (*p == '{') {
                json_error_t jerr;

                j = json_loadb(data, size, JSON_REJECT_DUPLICATES, &jerr);
                if (!j)
                        return log_error_errno(-EINVAL, "%s:%d:%d: %s", shown, jerr.line,
                                               jerr.column, jerr.text);
        } else {
                r = yaml_tree_parse(data, size, &root, &errors);
                if (r == -ENOMEM)
                        return log_oom();
                if (errors.n_items > 0) {
                        for (size_t i = 0; i < errors.n_items; i++)
                                log_error("%s:%u:%u: %s%s%s", shown, errors.items[i].line,
                                          errors.items[i].column,
                                          isempty(errors.items[i].path) ? "" : errors.items[i].path,
                                          isempty(errors.items[i].path) ? "" : ": ",
                                          errors.items[i].message);
                        return -EINVAL;
                }
                if (r < 0)
                        return log_error_errno(r, "Failed to parse '%s': %m", shown);
                j = yaml_to_json(root, &bad);
                if (bad)
                        return log_error_errno(-EINVAL, "%s:%u:%u: '%s' is out of range", shown,
                                               bad->line, bad->column, bad->text);
                if (!j)
                        return log_oom();
        }
        *ret = json_dumps(j, JSON_COMPACT);
        if (!*ret)
                return log_oom();
        return 0;
}

static int verb_proxy_apply(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *json = NULL, *what = NULL;
        const char *owner = OWNER_DEFAULT;
        int r;

        r = parse_options("apply", " FILE [--owner=NAME]",
                          "Set the routes of one owner from a YAML or JSON file (\"-\" reads\n"
                          "standard input), replacing all its routes; see docs/proxy.md.",
                          true, argc, argv, NULL, &owner);
        if (r <= 0)
                return -r;
        if (optind >= argc)
                return usage_error("apply", "missing the routes file");
        if (optind + 1 < argc)
                return usage_error("apply", "unexpected argument '%s'", argv[optind + 1]);
        if (read_routes_file(argv[optind], &json) < 0)
                return ZLCTL_EXIT_FAILURE;
        if (zlctl_bus_open(&bus, NULL) < 0)
                return ZLCTL_EXIT_FAILURE;
        r = sd_bus_call_method(bus, PROXY_SERVICE, PROXY_PATH, PROXY_IFACE, "SetRoutes", &e, NULL,
                               "ss", owner, json);
        if (r < 0) {
                what = strjoin("set the routes of '", owner, "'");
                return zlctl_log_call_error(r, &e, what ?: "set the routes"), ZLCTL_EXIT_FAILURE;
        }
        log_info("Routes of '%s' set from '%s'.", owner,
                 streq(argv[optind], "-") ? "<stdin>" : argv[optind]);
        return ZLCTL_EXIT_OK;
}

static int verb_proxy_clear(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *what = NULL;
        int r;

        r = parse_options("clear", " OWNER", "Remove every route of one owner.", false, argc, argv,
                          NULL, NULL);
        if (r <= 0)
                return -r;
        if (optind >= argc)
                return usage_error("clear", "missing the owner");
        if (optind + 1 < argc)
                return usage_error("clear", "unexpected argument '%s'", argv[optind + 1]);
        if (zlctl_bus_open(&bus, NULL) < 0)
                return ZLCTL_EXIT_FAILURE;
        r = sd_bus_call_method(bus, PROXY_SERVICE, PROXY_PATH, PROXY_IFACE, "ClearRoutes", &e, NULL,
                               "s", argv[optind]);
        if (r < 0) {
                what = strjoin("clear the routes of '", argv[optind], "'");
                return zlctl_log_call_error(r, &e, what ?: "clear the routes"), ZLCTL_EXIT_FAILURE;
        }
        return ZLCTL_EXIT_OK;
}

static const Verb proxy_verbs[] = {
        { "routes", verb_proxy_routes, "List the routes and their owners" },
        { "backends", verb_proxy_backends, "List the backends with health and load" },
        { "stats", verb_proxy_stats, "Show requests, errors, bytes, rate and latency per route" },
        { "apply", verb_proxy_apply, "Set the routes of an owner from a YAML or JSON file" },
        { "clear", verb_proxy_clear, "Remove the routes of an owner" },
        {},
};

int verb_proxy(int argc, char *argv[]) {
        return dispatch_verb("proxy", proxy_verbs, argc - 1, argv + 1);
}
