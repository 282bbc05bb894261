/* SPDX-License-Identifier: Apache-2.0 */
/* zl-proxyd.c: main of the proxy daemon, org.zlayer.Proxy1. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <systemd/sd-journal.h>

#include "daemon.h"
#include "log.h"
#include "proxy-bus.h"
#include "proxyd-manager.h"
#include "string-util.h"

/* The configuration: $ZLAYER_PROXYD_CONFIG (which must exist), else /etc/zlayer/proxyd.conf if it
 * exists, else the defaults. */
static int proxyd_load_config(ProxydConfig *c) {
        _cleanup_free_ char *why = NULL;
        const char *path = getenv("ZLAYER_PROXYD_CONFIG");
        bool explicit = !isempty(path);
        int r;

        (void) proxyd_config_init(c);
        if (!explicit)
                path = PROXYD_CONFIG_PATH_DEFAULT;
        r = proxyd_config_load(c, path, &why);
        if (r == -ENOENT && !explicit) {
                log_debug("No '%s', using the defaults.", path);
                return 0;
        }
        if (r < 0) {
                proxyd_config_done(c);
                if (why)
                        return log_error_errno(r, "Invalid configuration: %s", why);
                return log_error_errno(r, "Failed to read the configuration '%s': %m", path);
        }
        log_debug("Read the configuration '%s'.", path);
        return 0;
}

static void on_health_changed(Proxyd *m, const char *address, bool healthy, const char *reason,
                              void *userdata) {
        ProxyDaemon *pd = userdata;

        (void) m;
        log_struct(healthy ? LOG_NOTICE : LOG_WARNING,
                   LOG_FIELDS({ "ZL_EVENT", healthy ? "backend-healthy" : "backend-unhealthy" },
                              { "ZL_PROXY_BACKEND", address }, { "ZL_PROXY_CHECK", reason }),
                   "Backend %s is %s (%s).", address, healthy ? "healthy again" : "unhealthy",
                   reason);
        proxy_bus_emit_health_changed(pd, address, healthy);
}

/* access_log = journal: one entry per request with its fields, MESSAGE the JSON line. */
static void on_access_log_entry(Proxyd *m, const AccessLogEntry *e, void *userdata) {
        char line[ACCESS_LOG_LINE_MAX];
        int n;

        (void) m, (void) userdata;
        n = access_log_format(e, line, sizeof line);
        if (n <= 0)
                return;
        line[n - 1] = 0; /* the newline */
        (void) sd_journal_send(
                "MESSAGE=%s", line, "PRIORITY=6", "SYSLOG_IDENTIFIER=zl-proxyd",
                "ZL_EVENT=proxy-request", "ZL_PROXY_ROUTE=%s", e->route, "ZL_PROXY_CLIENT=%s",
                e->client, "ZL_PROXY_METHOD=%s", e->method, "ZL_PROXY_PATH=%s", e->path,
                "ZL_PROXY_STATUS=%u", e->status, "ZL_PROXY_BYTES_IN=%" PRIu64, e->bytes_in,
                "ZL_PROXY_BYTES_OUT=%" PRIu64, e->bytes_out, "ZL_PROXY_DURATION_USEC=%" PRIu64,
                e->duration_usec, "ZL_PROXY_BACKEND=%s", e->backend, "TRACEPARENT=%s",
                e->traceparent, NULL);
}

/* Every connection holds a descriptor, a proxied one two: the soft limit goes up to the hard. */
static void raise_nofile(void) {
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
                return;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                log_debug_errno(errno, "Failed to raise the open files limit, ignoring: %m");
}

static int proxyd_init(ZlDaemon *d, void **ret_userdata) {
        _cleanup_free_ ProxyDaemon *pd = NULL;
        ProxydHooks hooks = {
                .health_changed = on_health_changed,
                .access_log_entry = on_access_log_entry,
        };
        ProxydConfig c;
        int r;

        r = proxyd_load_config(&c);
        if (r < 0)
                return r;
        pd = calloc(1, sizeof *pd);
        if (!pd) {
                proxyd_config_done(&c);
                return log_oom();
        }
        pd->daemon = d;
        hooks.userdata = pd;
        raise_nofile();
        r = proxyd_new(zl_daemon_get_event(d), &c, zl_daemon_get_state_dir(d), &hooks,
                       &pd->manager);
        proxyd_config_done(&c);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the proxy: %m");
        r = proxyd_start(pd->manager);
        if (r < 0) {
                pd->manager = proxyd_free(pd->manager);
                return r;
        }
        log_info("Proxy running with %u worker(s).", proxy_n_workers(proxyd_proxy(pd->manager)));
        *ret_userdata = TAKE_PTR(pd);
        return 0;
}

static int proxyd_reload_hook(ZlDaemon *d, void *userdata) {
        ProxyDaemon *pd = userdata;
        ProxydConfig c;
        int r;

        (void) d;
        r = proxyd_load_config(&c);
        if (r < 0)
                return r;
        r = proxyd_reload(pd->manager, &c);
        proxyd_config_done(&c);
        if (r < 0)
                return r;
        proxy_bus_emit_reloaded(pd);
        return 0;
}

static void proxyd_done(ZlDaemon *d, void *userdata) {
        ProxyDaemon *pd = userdata;

        (void) d;
        if (!pd)
                return;
        /* Routes are on disk already: each change was saved before it was served. */
        proxyd_free(pd->manager);
        free(pd);
}

static int proxyd_counters(ZlDaemon *d, void *userdata, ZlCounterSet *set) {
        ProxyDaemon *pd = userdata;
        const RouteTable *t = proxyd_table(pd->manager);
        uint64_t requests = 0, errors = 0;
        int r;

        (void) d;
        for (size_t i = 0; i < t->n_routes; i++) {
                ProxyRouteStats st;
                if (proxy_get_route_stats(proxyd_proxy(pd->manager), t->routes[i].name, &st) >= 0) {
                        requests += st.requests;
                        errors += st.errors;
                }
        }
        r = zl_counter_set_put(set, "routes", (double) t->n_routes);
        if (r >= 0)
                r = zl_counter_set_put(set, "listeners", (double) t->n_listeners);
        if (r >= 0)
                r = zl_counter_set_put(set, "requests_total", (double) requests);
        if (r >= 0)
                r = zl_counter_set_put(set, "errors_total", (double) errors);
        if (r >= 0)
                r = zl_counter_set_put(
                        set, "health_probes",
                        (double) health_checker_n_probes(proxyd_health(pd->manager)));
        if (r >= 0)
                r = zl_counter_set_put(set, "access_log_dropped_total",
                                       (double) access_log_dropped(proxyd_access_log(pd->manager)));
        return r;
}

static const ZlBusObject *const proxy_objects[] = {
        &proxy_bus_object,
        NULL,
};

static const ZlDaemonDescriptor descriptor = {
        .info = &zl_daemon_list[ZL_DAEMON_PROXYD],
        .objects = proxy_objects,
        .init = proxyd_init,
        .reload = proxyd_reload_hook,
        .done = proxyd_done,
        .counters = proxyd_counters,
};

int main(int argc, char *argv[]) {
        return zl_daemon_main(&descriptor, argc, argv);
}
