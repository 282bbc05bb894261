/* SPDX-License-Identifier: Apache-2.0 */
/* proxy-bus.h: org.zlayer.Proxy1 on the bus. */
#pragma once

#include <stdbool.h>

#include "bus-object.h"
#include "daemon.h"
#include "proxyd-manager.h"

#define PROXY_OBJECT_PATH "/org/zlayer/Proxy1"
#define PROXY_INTERFACE "org.zlayer.Proxy1"

/* What the bus object gets as userdata: the daemon and its manager. */
typedef struct ProxyDaemon {
        ZlDaemon *daemon;
        Proxyd *manager;
} ProxyDaemon;

extern const ZlBusObject proxy_bus_object;

/* BackendHealthChanged, and PropertiesChanged of the properties a reload changes. */
void proxy_bus_emit_health_changed(ProxyDaemon *pd, const char *address, bool healthy);
void proxy_bus_emit_reloaded(ProxyDaemon *pd);
