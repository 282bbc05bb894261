/* SPDX-License-Identifier: Apache-2.0 */
/* netd-bus.h: org.zlayer.Network1 on the bus. */
#pragma once

#include "bus-object.h"
#include "daemon.h"
#include "netd-manager.h"

#define NETWORK_OBJECT_PATH "/org/zlayer/Network1"
#define NETWORK_INTERFACE "org.zlayer.Network1"

/* What the bus object gets as userdata: the daemon and its manager. */
typedef struct Network {
        ZlDaemon *daemon;
        Manager *manager;
} Network;

extern const ZlBusObject network_bus_object;
