/* SPDX-License-Identifier: Apache-2.0 */
/* sched-bus.h: org.zlayer.Scheduler1 on /org/zlayer/Scheduler1, and the daemon's object. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "bus-object.h"
#include "daemon.h"
#include "macro.h"
#include "sched-backends.h"
#include "sched-bus-backends.h"
#include "sched-jobs.h"
#include "sched-raft.h"
#include "sched-reconcile.h"

#define SCHEDULER_INTERFACE "org.zlayer.Scheduler1"
#define SCHEDULER_OBJECT_PATH "/org/zlayer/Scheduler1"
#define SCHEDD_CONFIG_PATH_DEFAULT "/etc/zlayer/schedd.conf"
#define SCHEDD_CONFIG_ENV "ZLAYER_SCHEDD_CONFIG"

/* /etc/zlayer/schedd.conf (docs/scheduler.md, "The daemon"). The configuration and the Scheduler
 * object are implemented in zl-schedd.c, the bus object in sched-bus.c. */
typedef struct SchedConfig {
        char *node_id; /* default: the hostname */
        char *node_address; /* internal endpoints listen there; default 127.0.0.1 */
        char *public_address; /* public endpoints listen there; default 0.0.0.0 */
        char *raft_address; /* "IPv4:port" of the Raft listener; default 127.0.0.1:7690 */
        uint64_t raft_id; /* default 1 */
        uint64_t resync_usec; /* default 10 s */
        uint64_t health_deadline_usec; /* default 5 min */
} SchedConfig;

/* The defaults; -ENOMEM. */
int sched_config_init(SchedConfig *c);
void sched_config_done(SchedConfig *c);
/* One `key = value`; -EINVAL with *ret_why for an unknown key or a bad value. */
int sched_config_set(SchedConfig *c, const char *key, const char *value, const char **ret_why);
/* Reads path over the current values (conf_parse_file's errors and messages). */
int sched_config_load(SchedConfig *c, const char *path, char **reterr_message);

typedef struct StoreCall StoreCall;

/* The daemon: the replicated state, the node's backends, the reconciler and the jobs. */
typedef struct Scheduler {
        ZlDaemon *daemon; /* NULL in tests without the framework */
        sd_event *event;
        sd_bus *bus;
        SchedConfig config;
        SchedRaft *raft;
        sd_event_source *raft_source;
        sd_event_source *role_timer;
        SchedRaftRole role;
        SchedStore store;
        StoreCall *store_calls; /* submits of the core in flight */
        SchedBusBackends *bus_backends;
        SchedBackends backends;
        SchedReconciler *reconciler;
        SchedJobs *jobs;
        bool stopping;
} Scheduler;

/* Makes every part over an existing event loop and bus (state in state_dir/raft) and starts
 * them; the bus objects are registered by the caller (scheduler_bus_object). */
int scheduler_new(sd_event *event, sd_bus *bus, const SchedConfig *config, const char *state_dir,
                  Scheduler **ret);
Scheduler *scheduler_free(Scheduler *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(Scheduler *, scheduler_free);

extern const ZlBusObject scheduler_bus_object;

/* The signals. */
int scheduler_emit_deployment_event(Scheduler *s, const char *deployment, const char *event,
                                    const json_t *data);
int scheduler_emit_job_finished(Scheduler *s, const char *execution_id, const char *deployment,
                                const char *service, const char *state, int exit_code);
