/* SPDX-License-Identifier: Apache-2.0 */
/* proxy-bus.c: the org.zlayer.Proxy1 vtable: arguments checked, manager calls, signals. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus-error.h"
#include "log.h"
#include "proxy-bus.h"
#include "string-util.h"

#define ROUTES_JSON_MAX (16U * 1024U * 1024U)
#define PEM_MAX (1024U * 1024U)

static int check_owner(sd_bus_message *m, const char *owner) {
        int r;

        if (proxyd_owner_is_valid(owner))
                return 1;
        r = zl_bus_reply_errnof(m, EINVAL,
                                "owner: '%s' is not 1-%u characters of [A-Za-z0-9._-] not "
                                "starting with '.' or '-'",
                                owner, PROXYD_OWNER_MAX);
        return r < 0 ? r : 0;
}

static void emit_routes_changed(sd_bus *bus) {
        int r = sd_bus_emit_properties_changed(bus, PROXY_OBJECT_PATH, PROXY_INTERFACE, "Listeners",
                                               "Owners", NULL);
        if (r < 0)
                log_debug_errno(r, "Failed to emit PropertiesChanged, ignoring: %m");
}

static int method_set_routes(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        ProxyDaemon *pd = userdata;
        RouteTableError e = {};
        const char *owner, *json;
        int r;

        (void) error;
        r = sd_bus_message_read(m, "ss", &owner, &json);
        if (r < 0)
                return r;
        r = check_owner(m, owner);
        if (r <= 0)
                return r;
        if (strlen(json) > ROUTES_JSON_MAX)
                return zl_bus_reply_errnof(m, EFBIG, "routes_json: more than %u bytes",
                                           ROUTES_JSON_MAX);
        r = zl_bus_check_root(m, "change the proxy's routes");
        if (r <= 0)
                return r;

        r = proxyd_set_routes(pd->manager, owner, json, &e);
        if (r == -EINVAL) {
                if (isempty(e.route) && isempty(e.field))
                        return zl_bus_reply_errnof(m, EINVAL, "routes_json: %s", e.message);
                if (isempty(e.route))
                        return zl_bus_reply_errnof(m, EINVAL, "routes_json: '%s': %s", e.field,
                                                   e.message);
                return zl_bus_reply_errnof(m, EINVAL, "routes_json: route '%s', field '%s': %s",
                                           e.route, e.field, e.message);
        }
        /* https without the TLS module (NotSupported): the message names its path and why. */
        if (r == -ELIBACC)
                return zl_bus_reply_errnof(m, ENOSYS, "routes_json: route '%s': %s", e.route,
                                           e.message);
        /* In use by another program: Exists; not ours to bind: PermissionDenied. */
        if (r == -EADDRINUSE || r == -EACCES || r == -EADDRNOTAVAIL || r == -EPERM)
                return zl_bus_reply_errnof(m, r == -EADDRINUSE ? EEXIST : -r,
                                           "routes_json: route '%s', field '%s': %s", e.route,
                                           e.field, e.message);
        if (r < 0) {
                log_warning_errno(r, "Failed to set the routes of '%s': %m", owner);
                return zl_bus_reply_errnof(m, r, "Failed to set the routes of '%s': %s", owner,
                                           strerror(-r));
        }
        log_struct(LOG_INFO,
                   LOG_FIELDS({ "ZL_EVENT", "proxy-routes-set" }, { "ZL_PROXY_OWNER", owner }),
                   "Routes of '%s' set; %zu route(s) served.", owner,
                   proxyd_table(pd->manager)->n_routes);
        r = sd_bus_reply_method_return(m, NULL);
        emit_routes_changed(sd_bus_message_get_bus(m));
        return r;
}

static int method_clear_routes(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        ProxyDaemon *pd = userdata;
        const char *owner;
        int r;

        (void) error;
        r = sd_bus_message_read(m, "s", &owner);
        if (r < 0)
                return r;
        r = check_owner(m, owner);
        if (r <= 0)
                return r;
        r = zl_bus_check_root(m, "change the proxy's routes");
        if (r <= 0)
                return r;
        r = proxyd_clear_routes(pd->manager, owner);
        if (r == -ENOENT)
                return zl_bus_reply_errnof(m, ENOENT, "owner: '%s' has no routes", owner);
        if (r < 0) {
                log_warning_errno(r, "Failed to clear the routes of '%s': %m", owner);
                return zl_bus_reply_errnof(m, r, "Failed to clear the routes of '%s': %s", owner,
                                           strerror(-r));
        }
        log_struct(LOG_INFO,
                   LOG_FIELDS({ "ZL_EVENT", "proxy-routes-cleared" }, { "ZL_PROXY_OWNER", owner }),
                   "Routes of '%s' cleared.", owner);
        r = sd_bus_reply_method_return(m, NULL);
        emit_routes_changed(sd_bus_message_get_bus(m));
        return r;
}

static int method_list_routes(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_free_ char *json = NULL;
        ProxyDaemon *pd = userdata;
        int r;

        (void) error;
        r = proxyd_list_routes(pd->manager, &json);
        if (r < 0)
                return zl_bus_reply_errnof(m, r, "Failed to list the routes: %s", strerror(-r));
        return sd_bus_reply_method_return(m, "s", json);
}

static const char *backend_health(const ProxyBackendState *st) {
        return st->down ? "unhealthy" : st->ejected ? "ejected" : "healthy";
}

/* One use of a backend address by a route, in table order. */
typedef struct BackendUse {
        const RouteAddress *address;
        const BackendHealth *health;
        size_t order;
        size_t route;
} BackendUse;

static int backend_use_cmp_address(const void *a, const void *b) {
        const BackendUse *x = a, *y = b;
        int c = strcmp(x->address->text, y->address->text);

        return c != 0 ? c : x->order < y->order ? -1 : x->order > y->order;
}

/* Groups of uses of one address: [start, start + n), first named at order. */
typedef struct BackendGroup {
        size_t start, n, order;
} BackendGroup;

static int backend_group_cmp_order(const void *a, const void *b) {
        const BackendGroup *x = a, *y = b;

        return x->order < y->order ? -1 : x->order > y->order;
}

static int method_list_backends(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ BackendUse *uses = NULL;
        _cleanup_free_ BackendGroup *groups = NULL;
        ProxyDaemon *pd = userdata;
        const RouteTable *t = proxyd_table(pd->manager);
        size_t n = 0, n_groups = 0;
        int r;

        (void) error;
        /* Each address once, in the order the table first names it, with every route using it:
         * sorted by address, then the groups by first use (tables have up to a million uses). */
        for (size_t i = 0; i < t->n_routes; i++)
                n += t->routes[i].set.n_backends;
        uses = calloc(MAX(n, 1U), sizeof(BackendUse));
        groups = calloc(MAX(n, 1U), sizeof(BackendGroup));
        if (!uses || !groups)
                return -ENOMEM;
        n = 0;
        for (size_t i = 0; i < t->n_routes; i++)
                for (size_t k = 0; k < t->routes[i].set.n_backends; k++, n++)
                        uses[n] = (BackendUse){ &t->routes[i].set.backends[k].address,
                                                t->routes[i].set.backends[k].health, n, i };
        qsort(uses, n, sizeof(BackendUse), backend_use_cmp_address);
        for (size_t i = 0; i < n; i++) {
                if (i == 0 || !streq(uses[i].address->text, uses[i - 1].address->text))
                        groups[n_groups++] = (BackendGroup){ .start = i, .order = uses[i].order };
                groups[n_groups - 1].n++;
        }
        qsort(groups, n_groups, sizeof(BackendGroup), backend_group_cmp_order);

        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(ssssuuas)");
        for (size_t g = 0; r >= 0 && g < n_groups; g++) {
                const RouteAddress *a = uses[groups[g].start].address;
                ProxyBackendState st = {};
                HealthProbeInfo info = {};

                (void) proxy_get_backend_state(proxyd_proxy(pd->manager), a->text, &st);
                if (health_checker_get_backend(proxyd_health(pd->manager),
                                               uses[groups[g].start].health, &info) < 0)
                        snprintf(info.last_result, sizeof info.last_result, "-");
                r = sd_bus_message_open_container(reply, 'r', "ssssuuas");
                if (r >= 0)
                        r = sd_bus_message_append(reply, "ssssuu", a->text, backend_health(&st),
                                                  route_health_type_to_string(info.type),
                                                  info.last_result, st.active, st.failures);
                if (r >= 0)
                        r = sd_bus_message_open_container(reply, 'a', "s");
                for (size_t k = 0; r >= 0 && k < groups[g].n; k++)
                        r = sd_bus_message_append(reply, "s",
                                                  t->routes[uses[groups[g].start + k].route].name);
                if (r >= 0)
                        r = sd_bus_message_close_container(reply);
                if (r >= 0)
                        r = sd_bus_message_close_container(reply);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_get_route_stats(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        ProxyDaemon *pd = userdata;
        const RouteTable *t = proxyd_table(pd->manager);
        int r;

        (void) error;
        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(sttttatd)");
        for (size_t i = 0; r >= 0 && i < t->n_routes; i++) {
                ProxyRouteStats st = {};

                (void) proxy_get_route_stats(proxyd_proxy(pd->manager), t->routes[i].name, &st);
                r = sd_bus_message_open_container(reply, 'r', "sttttatd");
                if (r >= 0)
                        r = sd_bus_message_append(reply, "stttt", t->routes[i].name, st.requests,
                                                  st.errors, st.bytes_in, st.bytes_out);
                if (r >= 0)
                        r = sd_bus_message_append_array(reply, 't', st.latency, sizeof st.latency);
                if (r >= 0)
                        r = sd_bus_message_append(
                                reply, "d", proxyd_route_rate(pd->manager, t->routes[i].name));
                if (r >= 0)
                        r = sd_bus_message_close_container(reply);
        }
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_add_certificate(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_free_ char *why = NULL;
        ProxyDaemon *pd = userdata;
        const char *host, *cert, *key;
        int r;

        (void) error;
        r = sd_bus_message_read(m, "sss", &host, &cert, &key);
        if (r < 0)
                return r;
        if (strlen(cert) > PEM_MAX || strlen(key) > PEM_MAX)
                return zl_bus_reply_errnof(m, EFBIG, "cert_pem, key_pem: more than %u bytes",
                                           PEM_MAX);
        r = zl_bus_check_root(m, "add certificates");
        if (r <= 0)
                return r;
        r = proxyd_add_certificate(pd->manager, host, cert, key, &why);
        if (r == -EINVAL)
                return zl_bus_reply_errnof(m, EINVAL, "%s", strna(why));
        if (r < 0)
                return zl_bus_reply_errnof(m, r, "Failed to add the certificate of '%s': %s", host,
                                           why ?: strerror(-r));
        log_struct(LOG_INFO,
                   LOG_FIELDS({ "ZL_EVENT", "proxy-certificate-added" }, { "ZL_PROXY_HOST", host }),
                   "Certificate of '%s' added.", host);
        return sd_bus_reply_method_return(m, NULL);
}

static int method_reload(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_free_ char *why = NULL;
        ProxyDaemon *pd = userdata;
        int r;

        (void) error;
        r = zl_bus_check_root(m, "reload the proxy");
        if (r <= 0)
                return r;
        r = proxyd_reload_files(pd->manager, &why);
        if (r < 0)
                return zl_bus_reply_errnof(m, r, "%s", why ?: strerror(-r));
        log_info("Certificates reloaded and the access log reopened.");
        return sd_bus_reply_method_return(m, NULL);
}

static int property_get_workers(sd_bus *bus, const char *path, const char *interface,
                                const char *property, sd_bus_message *reply, void *userdata,
                                sd_bus_error *error) {
        ProxyDaemon *pd = userdata;

        (void) bus, (void) path, (void) interface, (void) property, (void) error;
        return sd_bus_message_append(reply, "u", proxy_n_workers(proxyd_proxy(pd->manager)));
}

static int property_get_listeners(sd_bus *bus, const char *path, const char *interface,
                                  const char *property, sd_bus_message *reply, void *userdata,
                                  sd_bus_error *error) {
        ProxyDaemon *pd = userdata;
        const RouteTable *t = proxyd_table(pd->manager);
        int r;

        (void) bus, (void) path, (void) interface, (void) property, (void) error;
        r = sd_bus_message_open_container(reply, 'a', "s");
        for (size_t i = 0; r >= 0 && i < t->n_listeners; i++) {
                _cleanup_free_ char *s = strjoin(proxy_protocol_to_string(t->listeners[i].protocol),
                                                 " ", t->listeners[i].address.text);
                if (!s)
                        return -ENOMEM;
                r = sd_bus_message_append(reply, "s", s);
        }
        if (r < 0)
                return r;
        return sd_bus_message_close_container(reply);
}

static int property_get_owners(sd_bus *bus, const char *path, const char *interface,
                               const char *property, sd_bus_message *reply, void *userdata,
                               sd_bus_error *error) {
        _cleanup_strv_free_ char **owners = NULL;
        ProxyDaemon *pd = userdata;
        int r;

        (void) bus, (void) path, (void) interface, (void) property, (void) error;
        r = proxyd_list_owners(pd->manager, &owners);
        if (r < 0)
                return r;
        return sd_bus_message_append_strv(reply, owners);
}

static int property_get_latency_bounds(sd_bus *bus, const char *path, const char *interface,
                                       const char *property, sd_bus_message *reply, void *userdata,
                                       sd_bus_error *error) {
        (void) bus, (void) path, (void) interface, (void) property, (void) userdata, (void) error;
        return sd_bus_message_append_array(reply, 't', proxy_latency_bounds_usec,
                                           sizeof proxy_latency_bounds_usec);
}

static int property_get_access_log(sd_bus *bus, const char *path, const char *interface,
                                   const char *property, sd_bus_message *reply, void *userdata,
                                   sd_bus_error *error) {
        ProxyDaemon *pd = userdata;
        const ProxydConfig *c = proxyd_config(pd->manager);

        (void) bus, (void) path, (void) interface, (void) error;
        if (streq(property, "AccessLogSampling"))
                return sd_bus_message_append(
                        reply, "d", c->access_log == PROXYD_LOG_NONE ? 0 : c->access_log_sampling);
        return sd_bus_message_append(reply, "s",
                                     c->access_log == PROXYD_LOG_FILE      ? c->access_log_path
                                     : c->access_log == PROXYD_LOG_JOURNAL ? "journal"
                                                                           : "none");
}

void proxy_bus_emit_health_changed(ProxyDaemon *pd, const char *address, bool healthy) {
        sd_bus *bus = zl_daemon_get_bus(pd->daemon);
        int r;

        if (!bus)
                return;
        r = sd_bus_emit_signal(bus, PROXY_OBJECT_PATH, PROXY_INTERFACE, "BackendHealthChanged",
                               "ss", address, healthy ? "healthy" : "unhealthy");
        if (r < 0)
                log_debug_errno(r, "Failed to emit BackendHealthChanged, ignoring: %m");
}

void proxy_bus_emit_reloaded(ProxyDaemon *pd) {
        sd_bus *bus = zl_daemon_get_bus(pd->daemon);
        int r;

        if (!bus)
                return;
        r = sd_bus_emit_properties_changed(bus, PROXY_OBJECT_PATH, PROXY_INTERFACE, "AccessLog",
                                           "AccessLogSampling", NULL);
        if (r < 0)
                log_debug_errno(r, "Failed to emit PropertiesChanged, ignoring: %m");
}

static const sd_bus_vtable proxy_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("SetRoutes", SD_BUS_ARGS("s", owner, "s", routes_json),
                                SD_BUS_NO_RESULT, method_set_routes, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ClearRoutes", SD_BUS_ARGS("s", owner), SD_BUS_NO_RESULT,
                                method_clear_routes, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListRoutes", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", routes_json),
                                method_list_routes, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListBackends", SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("a(ssssuuas)", backends), method_list_backends,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetRouteStats", SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("a(sttttatd)", stats), method_get_route_stats,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("AddCertificate",
                                SD_BUS_ARGS("s", host, "s", cert_pem, "s", key_pem),
                                SD_BUS_NO_RESULT, method_add_certificate,
                                SD_BUS_VTABLE_UNPRIVILEGED | SD_BUS_VTABLE_SENSITIVE),
        SD_BUS_METHOD_WITH_ARGS("Reload", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_reload,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("BackendHealthChanged", SD_BUS_ARGS("s", address, "s", state), 0),
        SD_BUS_PROPERTY("Workers", "u", property_get_workers, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Listeners", "as", property_get_listeners, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Owners", "as", property_get_owners, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("LatencyBounds", "at", property_get_latency_bounds, 0,
                        SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("AccessLog", "s", property_get_access_log, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("AccessLogSampling", "d", property_get_access_log, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_VTABLE_END,
};

const ZlBusObject proxy_bus_object = {
        .path = PROXY_OBJECT_PATH,
        .interface = PROXY_INTERFACE,
        .vtable = proxy_vtable,
};
