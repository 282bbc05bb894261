/* SPDX-License-Identifier: Apache-2.0 */
/* proxyd-manager.h: zl-proxyd's state: configuration, routes per owner, health, access log. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <systemd/sd-event.h>

#include "access-log.h"
#include "health-check.h"
#include "macro.h"
#include "proxy.h"
#include "route-table.h"

#define PROXYD_CONFIG_PATH_DEFAULT "/etc/zlayer/proxyd.conf"
#define PROXYD_OWNER_MAX 64U
/* Sliding window of the current requests per second. */
#define PROXYD_RATE_WINDOW_USEC (10ULL * 1000000ULL)

typedef enum ProxydLogTarget {
        PROXYD_LOG_NONE,
        PROXYD_LOG_FILE,
        PROXYD_LOG_JOURNAL,
        _PROXYD_LOG_TARGET_MAX,
        _PROXYD_LOG_TARGET_INVALID = -EINVAL,
} ProxydLogTarget;

/* /etc/zlayer/proxyd.conf, "key = value" lines (see docs/proxy.md). */
typedef struct ProxydConfig {
        ProxyConfig proxy;
        char *certificates; /* NULL: <state dir>/certs */
        ProxydLogTarget access_log;
        char *access_log_path; /* PROXYD_LOG_FILE */
        double access_log_sampling;
        HealthDefaults health;
} ProxydConfig;

int proxyd_config_init(ProxydConfig *c);
void proxyd_config_done(ProxydConfig *c);
/* Reads path over the defaults in c. -EINVAL with "path:line: 'key': why" in *reterr_message,
 * -ENOENT, -ENOMEM. */
int proxyd_config_load(ProxydConfig *c, const char *path, char **reterr_message);
/* One assignment; -EINVAL with *ret_why. */
int proxyd_config_set(ProxydConfig *c, const char *key, const char *value, const char **ret_why);

typedef struct Proxyd Proxyd;

/* The bus gets told about health changes (BackendHealthChanged) and journal lines of the
 * access log through these. */
typedef struct ProxydHooks {
        void (*health_changed)(Proxyd *m, const char *address, bool healthy, const char *reason,
                               void *userdata);
        /* PROXYD_LOG_JOURNAL: one finished request. */
        void (*access_log_entry)(Proxyd *m, const AccessLogEntry *e, void *userdata);
        void *userdata;
} ProxydHooks;

/* Takes the configuration (c is left initialised and empty). state_dir holds routes.json and,
 * unless configured otherwise, certs/. */
int proxyd_new(sd_event *event, ProxydConfig *c, const char *state_dir, const ProxydHooks *hooks,
               Proxyd **ret);
Proxyd *proxyd_free(Proxyd *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Proxyd *, proxyd_free);

/* Serves the routes persisted by the last run (owners whose routes can no longer be served, e.g.
 * their port is taken, are left out and logged, and kept on disk), then starts the workers. */
int proxyd_start(Proxyd *m);

/* Replaces every route of owner with those of routes_json ({"routes": [...]}) in one step: the
 * merged table of all owners is validated, listeners opened, published and persisted, or nothing
 * changes. -EINVAL with *error (route, field, message), -EADDRINUSE/-EACCES when a listener
 * cannot be opened (error says which), -ENOMEM, -EIO when persisting failed (then nothing changed
 * either). An empty list is ClearRoutes. */
int proxyd_set_routes(Proxyd *m, const char *owner, const char *routes_json,
                      RouteTableError *error);
/* -ENOENT if owner has no routes. */
int proxyd_clear_routes(Proxyd *m, const char *owner);
bool proxyd_owner_is_valid(const char *owner) _pure_;

/* {"routes": [each route as set, plus "owner"]}, owners in name order. */
int proxyd_list_routes(Proxyd *m, char **ret_json);
/* The owners that have routes, sorted; strv. */
int proxyd_list_owners(Proxyd *m, char ***ret);

/* Re-reads the configuration pieces that apply at run time (access log target and sampling,
 * health defaults, certificates directory), reopens the access log file and reloads the
 * certificates. Settings of the workers (count, timeouts, limits) need a restart: they are
 * logged and otherwise ignored. */
int proxyd_reload(Proxyd *m, ProxydConfig *c);
/* Reopens the access log file and reloads the certificates directory; error text for the bus. */
int proxyd_reload_files(Proxyd *m, char **reterr_message);
/* Adds or replaces a certificate and writes it to the certificates directory, so a restart
 * keeps it. */
int proxyd_add_certificate(Proxyd *m, const char *host, const char *cert_pem, const char *key_pem,
                           char **reterr_message);

Proxy *proxyd_proxy(Proxyd *m) _pure_;
/* The published table (no reference taken); never NULL after proxyd_new. */
const RouteTable *proxyd_table(Proxyd *m) _pure_;
HealthChecker *proxyd_health(Proxyd *m) _pure_;
const ProxydConfig *proxyd_config(Proxyd *m) _pure_;
AccessLog *proxyd_access_log(Proxyd *m) _pure_;
/* Moves the access log's entries to their target now (the loop does it every 200 ms). */
void proxyd_flush_access_log(Proxyd *m);
/* Requests per second of a route over the last PROXYD_RATE_WINDOW_USEC (less right after it
 * appeared), from samples taken each second on the loop. 0 for an unknown route. */
double proxyd_route_rate(Proxyd *m, const char *route);
/* Owner of a route of the current table, or NULL. */
const char *proxyd_route_owner(Proxyd *m, const char *route);
