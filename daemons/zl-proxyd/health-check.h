/* SPDX-License-Identifier: Apache-2.0 */
/* health-check.h: active health checks of backends (TCP connect or HTTP GET) on an sd-event loop.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "macro.h"
#include "route-table.h"

/* What a route's "health" leaves out. */
typedef struct HealthDefaults {
        uint64_t interval_usec;
        uint64_t timeout_usec;
        unsigned healthy_threshold;
        unsigned unhealthy_threshold;
} HealthDefaults;

/* 5 s interval, 2 s timeout, 2 successes up, 3 failures down. */
void health_defaults_init(HealthDefaults *d);

typedef struct HealthChecker HealthChecker;

/* Called on the loop when a checked backend goes down (healthy false) or comes back; reason is
 * the last check's outcome ("connection refused", "status 500", "timed out", "ok"). */
typedef void (*HealthChangedFn)(HealthChecker *h, const char *address, bool healthy,
                                const char *reason, void *userdata);

int health_checker_new(sd_event *event, const HealthDefaults *defaults, HealthChangedFn cb,
                       void *userdata, HealthChecker **ret);
/* Stops every check. Backends keep their last state flag: free the checker with the proxy, or
 * give it an empty table first. */
HealthChecker *health_checker_free(HealthChecker *h);
DEFINE_TRIVIAL_CLEANUP_FUNC(HealthChecker *, health_checker_free);

/* Defaults for checks started or reconfigured from now on (the next set_table applies them to
 * the existing ones). */
void health_checker_set_defaults(HealthChecker *h, const HealthDefaults *defaults);

/* Checks what a published table asks for (its backends must carry their BackendHealth, as
 * proxy_set_routes() leaves them): one probe per backend address, configured by the first route
 * (in table order) that names it with a "health" block. Probes of addresses still checked keep
 * their state and schedule; new ones start healthy and run their first check at once; probes no
 * longer wanted stop and their backend is usable again. -ENOMEM (the old probes then stay). */
int health_checker_set_table(HealthChecker *h, const RouteTable *t);

typedef struct HealthProbeInfo {
        RouteHealthType type;
        bool healthy;
        unsigned consecutive_failures;
        unsigned consecutive_successes;
        uint64_t checks; /* completed since the probe started */
        char last_result[64];
} HealthProbeInfo;

/* The probe of an address (text as in the table), or -ENOENT when it is not checked. */
int health_checker_get(HealthChecker *h, const char *address, HealthProbeInfo *ret);
/* The same by the backend's BackendHealth, in constant time. */
int health_checker_get_backend(HealthChecker *h, const BackendHealth *b, HealthProbeInfo *ret);
unsigned health_checker_n_probes(const HealthChecker *h) _pure_;
