/* SPDX-License-Identifier: Apache-2.0 */
/* build-bus.h: org.zlayer.Builder1 and its per-build objects on the bus. */
#pragma once

#include "build-manager.h"
#include "bus-object.h"
#include "daemon.h"

#define BUILDER_OBJECT_PATH "/org/zlayer/Builder1"
#define BUILDER_INTERFACE "org.zlayer.Builder1"
#define BUILDER_BUILD_PREFIX "/org/zlayer/Builder1/build"
#define BUILDER_BUILD_INTERFACE "org.zlayer.Builder1.Build"

/* What the bus objects get as userdata: the daemon and its manager. */
typedef struct Builder {
        ZlDaemon *daemon;
        BuildManager *manager;
} Builder;

extern const ZlBusObject builder_bus_object;
extern const ZlBusObject builder_build_bus_object;
/* The manager's callbacks: signals, and the import into zl-runtimed; userdata is the Builder. */
extern const BuildManagerCallbacks builder_bus_callbacks;

int builder_build_path(const Build *b, char **ret);
