/* SPDX-License-Identifier: Apache-2.0 */
/* sched-reconcile-probe.h: the reconciler's view of probes and init runners (internal). */
#pragma once

#include <jansson.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "macro.h"

/* The reconciler starts probes and init runners in one call each and gets their outcome
 * through callbacks shaped for its replica records: these functions combine sched_probe_new()
 * with sched_probe_start() and sched_init_new() with sched_init_start(), and map their results.
 * Same semantics as the wrapped functions (see sched-probe.h and sched-init.h). */

typedef enum SchedRHealth {
        SCHED_RHEALTH_UNKNOWN,
        SCHED_RHEALTH_HEALTHY,
        SCHED_RHEALTH_UNHEALTHY,
} SchedRHealth;

/* SchedExec, field for field. */
typedef void (*SchedRExecDoneFn)(int r, int exit_status, void *done_userdata);
typedef struct SchedRExec {
        int (*exec)(void *userdata, const char *const *argv, uint64_t timeout_usec,
                    SchedRExecDoneFn done, void *done_userdata);
        void (*cancel)(void *userdata, void *done_userdata);
        void *userdata;
} SchedRExec;

typedef struct SchedRProbe SchedRProbe;
typedef void (*SchedRProbeFn)(SchedRHealth health, const char *reason, void *userdata);

/* sched_probe_new() + sched_probe_start(). */
int sched_rprobe_start(sd_event *event, const json_t *health, const json_t *endpoints,
                       const char *ip, const SchedRExec *exec, SchedRProbeFn cb, void *userdata,
                       SchedRProbe **ret, char **ret_error);
SchedRProbe *sched_rprobe_free(SchedRProbe *p);

typedef struct SchedRInit SchedRInit;
/* A step that failed for good with on_failure warn. */
typedef void (*SchedRInitWarnFn)(const char *step_id, const char *reason, void *userdata);
/* r and the rest as SchedInitResult; the runner may be freed from here. */
typedef void (*SchedRInitDoneFn)(int r, const char *step_id, const char *reason,
                                 unsigned n_warnings, void *userdata);

/* sched_init_new() + sched_init_set_poll_interval() (when poll_usec > 0) + sched_init_start();
 * resolve answers host names (SchedResolver). */
int sched_rinit_start(sd_event *event, const json_t *init, const SchedRExec *exec,
                      int (*resolve)(void *userdata, const char *host, char **ret_ip),
                      uint64_t poll_usec, SchedRInitWarnFn warn_cb, SchedRInitDoneFn done_cb,
                      void *userdata, SchedRInit **ret, char **ret_error);
SchedRInit *sched_rinit_free(SchedRInit *i);

/* sched_backoff_delay(); 0 for base or cap: SCHED_BACKOFF_BASE_USEC, SCHED_BACKOFF_CAP_USEC. */
uint64_t sched_rbackoff_delay(unsigned attempt, uint64_t base_usec, uint64_t cap_usec) _const_;
