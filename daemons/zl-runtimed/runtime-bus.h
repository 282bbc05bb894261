/* SPDX-License-Identifier: Apache-2.0 */
/* runtime-bus.h: org.zlayer.Runtime1 and its per-container objects on the bus. */
#pragma once

#include "bus-object.h"
#include "daemon.h"
#include "runtime-manager.h"

#define RUNTIME_OBJECT_PATH "/org/zlayer/Runtime1"
#define RUNTIME_INTERFACE "org.zlayer.Runtime1"
#define RUNTIME_CONTAINER_PREFIX "/org/zlayer/Runtime1/container"
#define RUNTIME_CONTAINER_INTERFACE "org.zlayer.Runtime1.Container"

/* What the bus objects get as userdata: the daemon and its manager. */
typedef struct Runtime {
        ZlDaemon *daemon;
        Manager *manager;
} Runtime;

extern const ZlBusObject runtime_bus_object;
extern const ZlBusObject runtime_container_bus_object;
/* The manager's callbacks that turn its events into signals; userdata is the Runtime. */
extern const ManagerCallbacks runtime_bus_callbacks;
