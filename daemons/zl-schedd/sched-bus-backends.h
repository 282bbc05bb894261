/* SPDX-License-Identifier: Apache-2.0 */
/* sched-bus-backends.h: SchedBackends over org.zlayer.Runtime1 and org.zlayer.Proxy1. */
#pragma once

#include <systemd/sd-bus.h>

#include "macro.h"
#include "sched-backends.h"

/* Every call is one asynchronous method call on the bus (sd_bus_call_async); its slot is kept
 * until the reply comes, so cancel() drops it and nothing is called back. Errors reach the done
 * callbacks as the errno of the bus error and "Method: message" ("CreateContainer: pull of
 * 'x': manifest unknown"). A zl-proxyd that is not running only fails set_routes: the caller
 * retries. */

#define SCHED_RUNTIME_SERVICE "org.zlayer.Runtime1"
#define SCHED_RUNTIME_PATH "/org/zlayer/Runtime1"
#define SCHED_RUNTIME_INTERFACE "org.zlayer.Runtime1"
#define SCHED_PROXY_SERVICE "org.zlayer.Proxy1"
#define SCHED_PROXY_PATH "/org/zlayer/Proxy1"
#define SCHED_PROXY_INTERFACE "org.zlayer.Proxy1"

typedef struct SchedBusBackends SchedBusBackends;

/* Runtime1.ContainerStateChanged(id, state, exit_code); state is "removed" for a removed
 * container. */
typedef void (*SchedContainerChangedFn)(const char *id, const char *state, int exit_code,
                                        void *userdata);

/* changed (may be NULL) receives every ContainerStateChanged signal from the moment the match
 * is installed. The bus is referenced. */
int sched_bus_backends_new(sd_bus *bus, SchedContainerChangedFn changed, void *userdata,
                           SchedBusBackends **ret);
/* Drops every pending call without calling anything back, and the match. */
SchedBusBackends *sched_bus_backends_free(SchedBusBackends *b);
DEFINE_TRIVIAL_CLEANUP_FUNC(SchedBusBackends *, sched_bus_backends_free);

/* The table for the reconciler and the jobs (userdata is b). */
void sched_bus_backends_table(SchedBusBackends *b, SchedBackends *ret);
/* Calls in flight, for tests and counters. */
size_t sched_bus_backends_n_pending(const SchedBusBackends *b) _pure_;
