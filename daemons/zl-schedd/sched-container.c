/* SPDX-License-Identifier: Apache-2.0 */
/* sched-container.c: a service of the canonical spec as containers and proxy routes. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched-container.h"
#include "string-util.h"

#define CONTAINER_NAME_MAX 63U
#define NAME_HASH_DIGITS 8U

/* The keys of a service that go into its containers (see sched_container_config_hash()).
 * Anything else (scale, endpoints, depends, node_mode, node_selector, errors, rtype, schedule)
 * changes routes, counts, placement or policy, never a container. */
static const char *const config_keys[] = {
        "cap_drop",
        "capabilities",
        "command",
        "devices",
        "env",
        "health",
        "hostname",
        "image",
        "init",
        "labels",
        "network",
        "privileged",
        "read_only_root_fs",
        "resources",
        "stop_grace_period",
        "stop_signal",
        "storage",
        "sysctls",
        "user",
        NULL,
};

int sched_container_config_hash(const json_t *service, char **ret) {
        _cleanup_(json_decrefp) json_t *o = NULL;
        _cleanup_free_ char *text = NULL;
        char *h;

        if (!json_is_object(service) || !ret)
                return -EINVAL;

        o = json_object();
        if (!o)
                return -ENOMEM;
        for (const char *const *k = config_keys; *k; k++) {
                json_t *v = json_object_get(service, *k);

                if (v && json_object_set(o, *k, v) < 0)
                        return -ENOMEM;
        }
        text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
        if (!text)
                return -ENOMEM;
        if (asprintf(&h, "%016" PRIx64, fnv1a64_string(text)) < 0)
                return -ENOMEM;
        *ret = h;
        return 0;
}

/* ---- the container spec --------------------------------------------------------------------- */

static int set_error(char **ret_error, int r, const char *fmt, ...) _printf_(3, 4);
static int set_error(char **ret_error, int r, const char *fmt, ...) {
        va_list ap;
        char *m;

        if (!ret_error)
                return r;
        va_start(ap, fmt);
        if (vasprintf(&m, fmt, ap) < 0)
                m = NULL;
        va_end(ap);
        if (!m)
                return -ENOMEM;
        free(*ret_error);
        *ret_error = m;
        return r;
}

/* Names longer than a host name may be are cut and made unique again by their own hash. */
static int container_name(const char *full, char **ret) {
        char *n;

        if (strlen(full) <= CONTAINER_NAME_MAX) {
                n = strdup(full);
                if (!n)
                        return -ENOMEM;
        } else {
                size_t keep = CONTAINER_NAME_MAX - NAME_HASH_DIGITS - 1;
                uint64_t h = fnv1a64_string(full);

                if (asprintf(&n, "%.*s-%08" PRIx64, (int) keep, full, h >> 32) < 0)
                        return -ENOMEM;
        }
        *ret = n;
        return 0;
}

static int strv_from_json(const json_t *a, const char *path, char ***ret, char **ret_error) {
        _cleanup_strv_free_ char **l = NULL;
        const json_t *v;
        size_t i;
        int r;

        if (a && !json_is_array(a))
                return set_error(ret_error, -EINVAL, "%s: not a list", path);
        /* An empty list still gives a non-NULL vector: "none" is not "the image's". */
        l = calloc(1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        json_array_foreach (a, i, v) {
                if (!json_is_string(v))
                        return set_error(ret_error, -EINVAL, "%s[%zu]: not a string", path, i);
                r = strv_extend(&l, json_string_value(v));
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

static const char *environ_lookup(char *const *envp, const char *name) {
        size_t n = strlen(name);

        for (char *const *e = envp; e && *e; e++)
                if (strneq(*e, name, n) && (*e)[n] == '=')
                        return *e + n + 1;
        return NULL;
}

static int cmp_strp(const void *a, const void *b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static int env_build(const char *service_name, const json_t *env, char *const *envp, char ***ret,
                     char **ret_error) {
        _cleanup_strv_free_ char **l = NULL;
        const char *key;
        json_t *v;
        int r;

        l = calloc(1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        if (env && !json_is_object(env))
                return set_error(ret_error, -EINVAL, "services.%s.env: not a mapping",
                                 service_name);
        json_object_foreach ((json_t *) env, key, v) {
                const char *value = json_string_value(v), *name;

                if (!value)
                        return set_error(ret_error, -EINVAL, "services.%s.env.%s: not a string",
                                         service_name, key);
                name = startswith(value, "$E:");
                if (name) {
                        value = environ_lookup(envp, name);
                        if (!value)
                                return set_error(ret_error, -ENOKEY,
                                                 "services.%s.env.%s: $E:%s is not set in "
                                                 "zl-schedd's environment",
                                                 service_name, key, name);
                }
                r = strv_consume(&l, strjoin(key, "=", value));
                if (r < 0)
                        return r;
        }
        /* Object order is insertion order; sorted, equal services give equal vectors. */
        qsort(l, strv_length(l), sizeof(char *), cmp_strp);
        *ret = TAKE_PTR(l);
        return 0;
}

static int json_copy_or_new(const json_t *v, bool array, const char *path, json_t **ret,
                            char **ret_error) {
        json_t *c;

        if (!v)
                c = array ? json_array() : json_object();
        else if (array ? !json_is_array(v) : !json_is_object(v))
                return set_error(ret_error, -EINVAL, "%s: not a %s", path,
                                 array ? "list" : "mapping");
        else
                c = json_deep_copy(v);
        if (!c)
                return -ENOMEM;
        *ret = c;
        return 0;
}

static int opt_strdup(const json_t *v, char **ret) {
        if (!json_is_string(v)) {
                *ret = NULL;
                return 0;
        }
        *ret = strdup(json_string_value(v));
        return *ret ? 0 : -ENOMEM;
}

static int label_set(json_t *labels, const char *key, const char *value) {
        return json_object_set_new(labels, key, json_string(value)) < 0 ? -ENOMEM : 0;
}

int sched_container_spec_from_service(const char *deployment, const char *service_name,
                                      const json_t *service, uint64_t generation, uint32_t index,
                                      const char *job_id, char *const *envp,
                                      SchedContainerSpec *ret, char **ret_error) {
        _cleanup_(sched_container_spec_done) SchedContainerSpec s = {};
        _cleanup_free_ char *hash = NULL, *full = NULL, *path = NULL;
        const json_t *image, *command, *resources, *storage, *v;
        char num[32];
        size_t i;
        int r;

        if (isempty(deployment) || isempty(service_name) || !json_is_object(service) || !ret)
                return -EINVAL;

        image = json_object_get(service, "image");
        if (!json_is_string(json_object_get(image, "name")))
                return set_error(ret_error, -EINVAL, "services.%s.image.name: missing",
                                 service_name);

        r = sched_container_config_hash(service, &hash);
        if (r < 0)
                return r;

        if (job_id)
                full = strjoin(deployment, "-", service_name, "-job-", job_id);
        else {
                snprintf(num, sizeof num, "%" PRIu32, index);
                full = strjoin(deployment, "-", service_name, "-", num, "-");
                if (full)
                        r = strextendf(&full, "%.8s", hash);
                if (r < 0)
                        return r;
        }
        if (!full)
                return -ENOMEM;
        r = container_name(full, &s.name);
        if (r < 0)
                return r;

        s.image = strdup(json_string_value(json_object_get(image, "name")));
        v = json_object_get(image, "pull_policy");
        s.pull_policy = strdup(json_is_string(v) ? json_string_value(v) : "if_not_present");
        if (!s.image || !s.pull_policy)
                return -ENOMEM;

        command = json_object_get(service, "command");
        if (command && !json_is_object(command))
                return set_error(ret_error, -EINVAL, "services.%s.command: not a mapping",
                                 service_name);
        if (json_object_get(command, "entrypoint")) {
                path = strjoin("services.", service_name, ".command.entrypoint");
                if (!path)
                        return -ENOMEM;
                r = strv_from_json(json_object_get(command, "entrypoint"), path, &s.entrypoint,
                                   ret_error);
                if (r < 0)
                        return r;
                path = mfree(path);
        }
        if (json_object_get(command, "args")) {
                path = strjoin("services.", service_name, ".command.args");
                if (!path)
                        return -ENOMEM;
                r = strv_from_json(json_object_get(command, "args"), path, &s.args, ret_error);
                if (r < 0)
                        return r;
                path = mfree(path);
        }
        r = opt_strdup(json_object_get(command, "workdir"), &s.cwd);
        if (r < 0)
                return r;
        r = opt_strdup(json_object_get(service, "user"), &s.user);
        if (r < 0)
                return r;
        r = opt_strdup(json_object_get(service, "hostname"), &s.hostname);
        if (r < 0)
                return r;
        if (!s.hostname) {
                snprintf(num, sizeof num, "%" PRIu32, index);
                s.hostname = strjoin(service_name, "-", num);
                if (!s.hostname)
                        return -ENOMEM;
        }

        r = env_build(service_name, json_object_get(service, "env"), envp, &s.env, ret_error);
        if (r < 0)
                return r;

        resources = json_object_get(service, "resources");
        if (json_is_object(resources)) {
                v = json_object_get(resources, "memory");
                if (json_is_integer(v) && json_integer_value(v) > 0)
                        s.memory = (uint64_t) json_integer_value(v);
                v = json_object_get(resources, "cpu");
                if (json_is_number(v) && json_number_value(v) > 0)
                        s.cpus = json_number_value(v);
                v = json_object_get(resources, "pids");
                if (json_is_integer(v) && json_integer_value(v) > 0)
                        s.pids = (uint64_t) json_integer_value(v);
        }

        path = strjoin("services.", service_name, ".capabilities");
        if (!path)
                return -ENOMEM;
        r = strv_from_json(json_object_get(service, "capabilities"), path, &s.cap_add, ret_error);
        if (r < 0)
                return r;
        path = mfree(path);
        path = strjoin("services.", service_name, ".cap_drop");
        if (!path)
                return -ENOMEM;
        r = strv_from_json(json_object_get(service, "cap_drop"), path, &s.cap_drop, ret_error);
        if (r < 0)
                return r;
        path = mfree(path);

        s.privileged = json_is_true(json_object_get(service, "privileged"));
        s.read_only = json_is_true(json_object_get(service, "read_only_root_fs"));

        storage = json_object_get(service, "storage");
        json_array_foreach (storage, i, v)
                if (streq(strempty(json_string_value(json_object_get(v, "type"))), "s3"))
                        return set_error(ret_error, -EINVAL,
                                         "services.%s.storage[%zu]: s3 volumes are not supported "
                                         "yet",
                                         service_name, i);
        path = strjoin("services.", service_name, ".storage");
        if (!path)
                return -ENOMEM;
        r = json_copy_or_new(storage, true, path, &s.storage, ret_error);
        if (r < 0)
                return r;
        path = mfree(path);
        path = strjoin("services.", service_name, ".devices");
        if (!path)
                return -ENOMEM;
        r = json_copy_or_new(json_object_get(service, "devices"), true, path, &s.devices,
                             ret_error);
        if (r < 0)
                return r;
        path = mfree(path);
        path = strjoin("services.", service_name, ".sysctls");
        if (!path)
                return -ENOMEM;
        r = json_copy_or_new(json_object_get(service, "sysctls"), false, path, &s.sysctls,
                             ret_error);
        if (r < 0)
                return r;
        path = mfree(path);
        path = strjoin("services.", service_name, ".labels");
        if (!path)
                return -ENOMEM;
        r = json_copy_or_new(json_object_get(service, "labels"), false, path, &s.labels, ret_error);
        if (r < 0)
                return r;

        /* Ours last: a service label of the same name must not hide a container from us. */
        r = label_set(s.labels, SCHED_LABEL_DEPLOYMENT, deployment);
        if (r >= 0)
                r = label_set(s.labels, SCHED_LABEL_SERVICE, service_name);
        if (r >= 0)
                r = label_set(s.labels, SCHED_LABEL_CONFIG, hash);
        snprintf(num, sizeof num, "%" PRIu64, generation);
        if (r >= 0)
                r = label_set(s.labels, SCHED_LABEL_GENERATION, num);
        if (r >= 0 && job_id) {
                /* Only replicas carry an index: the reconciler leaves executions alone. */
                json_object_del(s.labels, SCHED_LABEL_REPLICA);
                r = label_set(s.labels, SCHED_LABEL_JOB, job_id);
        } else if (r >= 0) {
                json_object_del(s.labels, SCHED_LABEL_JOB);
                snprintf(num, sizeof num, "%" PRIu32, index);
                r = label_set(s.labels, SCHED_LABEL_REPLICA, num);
        }
        if (r < 0)
                return r;

        r = opt_strdup(json_object_get(service, "stop_signal"), &s.stop_signal);
        if (r < 0)
                return r;
        v = json_object_get(service, "stop_grace_period");
        s.stop_grace_usec = json_is_integer(v) && json_integer_value(v) > 0
                                    ? (uint64_t) json_integer_value(v) * UINT64_C(1000)
                                    : UINT64_C(30000000);

        *ret = s;
        s = (SchedContainerSpec){};
        return 0;
}

/* ---- routes ------------------------------------------------------------------------------- */

/* "address:port", with an IPv6 address in brackets. */
static int host_port(const char *address, unsigned port, char **ret) {
        bool v6 = strchr(address, ':') && address[0] != '[';

        return asprintf(ret, "%s%s%s:%u", v6 ? "[" : "", address, v6 ? "]" : "", port) < 0 ? -ENOMEM
                                                                                           : 0;
}

static const char *route_protocol(const char *endpoint_protocol) {
        if (streq(endpoint_protocol, "http") || streq(endpoint_protocol, "websocket"))
                return "http";
        if (streq(endpoint_protocol, "https"))
                return "https";
        if (streq(endpoint_protocol, "tcp"))
                return "tcp";
        if (streq(endpoint_protocol, "udp"))
                return "udp";
        return NULL;
}

static int route_build(const char *deployment, const char *service_name, const json_t *ep,
                       const json_t *ips, const char *public_address, const char *internal_address,
                       json_t **ret) {
        _cleanup_(json_decrefp) json_t *route = NULL, *backends = NULL;
        _cleanup_free_ char *name = NULL, *listen = NULL;
        const char *proto, *epname, *expose;
        const json_t *v;
        json_int_t port, target;
        size_t i;
        int r;

        epname = json_string_value(json_object_get(ep, "name"));
        proto = route_protocol(strempty(json_string_value(json_object_get(ep, "protocol"))));
        port = json_integer_value(json_object_get(ep, "port"));
        v = json_object_get(ep, "target_port");
        target = json_is_integer(v) ? json_integer_value(v) : port;
        if (!epname || !proto || port <= 0 || port > 65535 || target <= 0 || target > 65535)
                return -EINVAL;
        expose = json_string_value(json_object_get(ep, "expose"));

        backends = json_array();
        if (!backends)
                return -ENOMEM;
        json_array_foreach (ips, i, v) {
                char *b;

                if (isempty(json_string_value(v)))
                        continue;
                r = host_port(json_string_value(v), (unsigned) target, &b);
                if (r < 0)
                        return r;
                if (json_array_append_new(backends, json_string(b)) < 0) {
                        free(b);
                        return -ENOMEM;
                }
                free(b);
        }
        name = strjoin(deployment, ".", service_name, ".", epname);
        if (!name)
                return -ENOMEM;
        r = host_port(streq(strempty(expose), "public") ? public_address : internal_address,
                      (unsigned) port, &listen);
        if (r < 0)
                return r;

        route = json_pack("{s:s, s:s, s:s, s:s, s:O}", "name", name, "listen", listen, "protocol",
                          proto, "balance", "round_robin", "backends", backends);
        if (!route)
                return -ENOMEM;
        if (streq(proto, "http") || streq(proto, "https")) {
                v = json_object_get(ep, "host");
                if (json_is_string(v) && json_object_set(route, "host", (json_t *) v) < 0)
                        return -ENOMEM;
                v = json_object_get(ep, "path");
                if (json_is_string(v) && json_object_set(route, "path", (json_t *) v) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(route);
        return 0;
}

static int cmp_json_str(const void *a, const void *b) {
        return strcmp(json_string_value(*(json_t *const *) a),
                      json_string_value(*(json_t *const *) b));
}

static int cmp_route(const void *a, const void *b) {
        return strcmp(json_string_value(json_object_get(*(json_t *const *) a, "name")),
                      json_string_value(json_object_get(*(json_t *const *) b, "name")));
}

/* A new array of the same strings, sorted: the order replicas became healthy must not change
 * the routes' text. */
static int sorted_strings(const json_t *a, json_t **ret) {
        _cleanup_free_ json_t **items = NULL;
        _cleanup_(json_decrefp) json_t *o = NULL;
        size_t n = 0, i;
        json_t *v;

        o = json_array();
        if (!o)
                return -ENOMEM;
        if (json_is_array(a) && json_array_size(a) > 0) {
                items = calloc(json_array_size(a), sizeof(json_t *));
                if (!items)
                        return -ENOMEM;
                json_array_foreach (a, i, v)
                        if (json_is_string(v))
                                items[n++] = v;
                qsort(items, n, sizeof(json_t *), cmp_json_str);
                for (i = 0; i < n; i++)
                        if (json_array_append(o, items[i]) < 0)
                                return -ENOMEM;
        }
        *ret = TAKE_PTR(o);
        return 0;
}

int sched_routes_build(const json_t *deployments, const char *public_address,
                       const char *internal_address, char **ret_json) {
        _cleanup_(json_decrefp) json_t *routes = NULL, *out = NULL;
        _cleanup_free_ json_t **items = NULL;
        const json_t *d;
        size_t i, n;
        char *text;
        int r;

        if (!json_is_array(deployments) || isempty(public_address) || isempty(internal_address) ||
            !ret_json)
                return -EINVAL;

        routes = json_array();
        if (!routes)
                return -ENOMEM;

        json_array_foreach (deployments, i, d) {
                _cleanup_(json_decrefp) json_t *parsed = NULL;
                const char *dname = json_string_value(json_object_get(d, "name")), *sname;
                const json_t *spec = json_object_get(d, "spec"), *services, *svc;

                if (!dname)
                        return -EINVAL;
                /* The state keeps specs as text; take either. */
                if (json_is_string(spec)) {
                        parsed = json_loads(json_string_value(spec), 0, NULL);
                        if (!parsed)
                                return -EINVAL;
                        spec = parsed;
                }
                services = json_object_get(spec, "services");
                if (!json_is_object(services))
                        return -EINVAL;

                json_object_foreach ((json_t *) services, sname, svc) {
                        _cleanup_(json_decrefp) json_t *ips = NULL;
                        const char *rtype = json_string_value(json_object_get(svc, "rtype"));
                        const json_t *ep;
                        size_t k;

                        if (rtype && !streq(rtype, "service"))
                                continue;
                        r = sorted_strings(json_object_get(json_object_get(d, "backends"), sname),
                                           &ips);
                        if (r < 0)
                                return r;
                        json_array_foreach (json_object_get(svc, "endpoints"), k, ep) {
                                json_t *route = NULL;

                                r = route_build(dname, sname, ep, ips, public_address,
                                                internal_address, &route);
                                if (r < 0)
                                        return r;
                                if (route && json_array_append_new(routes, route) < 0)
                                        return -ENOMEM;
                        }
                }
        }

        /* By name: equal inputs give equal text whatever the order of the deployments. */
        n = json_array_size(routes);
        if (n > 0) {
                json_t *sorted = json_array();

                items = calloc(n, sizeof(json_t *));
                if (!items || !sorted) {
                        json_decref(sorted);
                        return -ENOMEM;
                }
                for (i = 0; i < n; i++)
                        items[i] = json_array_get(routes, i);
                qsort(items, n, sizeof(json_t *), cmp_route);
                for (i = 0; i < n; i++)
                        if (json_array_append(sorted, items[i]) < 0) {
                                json_decref(sorted);
                                return -ENOMEM;
                        }
                json_decref(routes);
                routes = sorted;
        }

        out = json_pack("{s:O}", "routes", routes);
        if (!out)
                return -ENOMEM;
        text = json_dumps(out, JSON_COMPACT | JSON_SORT_KEYS);
        if (!text)
                return -ENOMEM;
        *ret_json = text;
        return 0;
}

int sched_endpoint_url(const json_t *endpoint, const char *listen, char **ret) {
        _cleanup_free_ char *addr = NULL;
        const char *proto, *scheme, *path, *colon;
        char *u;

        if (!json_is_object(endpoint) || isempty(listen) || !ret)
                return -EINVAL;
        proto = json_string_value(json_object_get(endpoint, "protocol"));
        if (!proto)
                return -EINVAL;

        /* "::1:8080" -> "[::1]:8080": an IPv6 address takes brackets in a URL. */
        colon = strrchr(listen, ':');
        if (!colon || colon == listen || !colon[1])
                return -EINVAL;
        if (listen[0] != '[' && memchr(listen, ':', (size_t) (colon - listen))) {
                if (asprintf(&addr, "[%.*s]%s", (int) (colon - listen), listen, colon) < 0)
                        return -ENOMEM;
        } else {
                addr = strdup(listen);
                if (!addr)
                        return -ENOMEM;
        }

        if (streq(proto, "http") || streq(proto, "websocket") || streq(proto, "https")) {
                scheme = streq(proto, "https") ? "https" : streq(proto, "http") ? "http" : "ws";
                path = json_string_value(json_object_get(endpoint, "path"));
                if (asprintf(&u, "%s://%s%s", scheme, addr, isempty(path) ? "/" : path) < 0)
                        return -ENOMEM;
        } else if (streq(proto, "tcp") || streq(proto, "udp")) {
                if (asprintf(&u, "%s://%s", proto, addr) < 0)
                        return -ENOMEM;
        } else
                return -EINVAL;
        *ret = u;
        return 0;
}
