/* SPDX-License-Identifier: Apache-2.0 */
/* sched-plan.h: the diff between two generations of a spec, the rollout plan and its state. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

/* Pure and deterministic: no I/O, no clock. The same inputs give the same plan, the same JSON
 * and the same text, byte for byte. docs/scheduler.md ("Deploy plans") describes the rules. */

/* What happened to a service between the two generations. */
typedef enum SchedPlanChange {
        SCHED_PLAN_ADDED,
        SCHED_PLAN_REMOVED,
        SCHED_PLAN_UNCHANGED,
        SCHED_PLAN_SCALED, /* only the scale settings differ */
        SCHED_PLAN_ROUTES, /* only the endpoints differ: the proxy's routes change, no restart */
        SCHED_PLAN_CHANGED, /* anything that needs new containers */
        _SCHED_PLAN_CHANGE_MAX,
        _SCHED_PLAN_CHANGE_INVALID = -EINVAL,
} SchedPlanChange;

typedef enum SchedPlanAction {
        SCHED_PLAN_START, /* start `replicas` new replicas */
        SCHED_PLAN_REPLACE, /* one replica of a rolling replacement */
        SCHED_PLAN_SCALE, /* from_replicas -> replicas, same containers */
        SCHED_PLAN_UPDATE_ROUTES,
        SCHED_PLAN_REGISTER, /* job/cron: never started at deploy, triggered or scheduled */
        SCHED_PLAN_STOP, /* stop every replica of the old generation */
        SCHED_PLAN_KEEP, /* nothing to do */
        _SCHED_PLAN_ACTION_MAX,
        _SCHED_PLAN_ACTION_INVALID = -EINVAL,
} SchedPlanAction;

/* Ordered: a service that is ready is also healthy and started. */
typedef enum SchedCondition {
        SCHED_CONDITION_NONE,
        SCHED_CONDITION_STARTED,
        SCHED_CONDITION_HEALTHY,
        SCHED_CONDITION_READY,
        _SCHED_CONDITION_MAX,
        _SCHED_CONDITION_INVALID = -EINVAL,
} SchedCondition;

typedef enum SchedOnTimeout {
        SCHED_ON_TIMEOUT_FAIL,
        SCHED_ON_TIMEOUT_WARN,
        SCHED_ON_TIMEOUT_CONTINUE,
        _SCHED_ON_TIMEOUT_MAX,
        _SCHED_ON_TIMEOUT_INVALID = -EINVAL,
} SchedOnTimeout;

const char *sched_plan_change_to_string(SchedPlanChange c) _const_;
const char *sched_plan_action_to_string(SchedPlanAction a) _const_;
const char *sched_condition_to_string(SchedCondition c) _const_;
SchedCondition sched_condition_from_string(const char *s) _pure_;
const char *sched_on_timeout_to_string(SchedOnTimeout o) _const_;
SchedOnTimeout sched_on_timeout_from_string(const char *s) _pure_;

/* A dependency edge: the step may start once `service` reached `condition`. */
typedef struct SchedPlanWait {
        char *service;
        SchedCondition condition;
        uint64_t timeout_ms;
        SchedOnTimeout on_timeout;
} SchedPlanWait;

typedef struct SchedPlanStep {
        unsigned wave;
        char *service;
        SchedPlanAction action;
        SchedPlanChange change;
        char *rtype; /* of the new spec ("service", "job", "cron"); of the old one for stops */
        uint32_t replicas; /* the count after the step */
        uint32_t from_replicas; /* the count before (scale, replace, stop) */
        int64_t replica; /* replace: the replica index; -1 for other actions */
        bool stop_old; /* replace: an old replica with this index exists and is stopped */
        SchedPlanWait *waits;
        size_t n_waits;
        char **changed_keys; /* sorted top-level keys of the service that differ; never NULL */
} SchedPlanStep;

/* Steps are sorted by (wave, service, replica): the starts and replacements in dependency
 * waves, then the stops in reverse dependency order. */
typedef struct SchedPlan {
        char *deployment;
        SchedPlanStep *steps;
        size_t n_steps;
        char **services; /* every service of either generation, sorted, NULL-terminated */
} SchedPlan;

/* Computes the plan from old_spec (NULL for a new deployment) to new_spec, both the canonical
 * JSON of zl_spec_get_json(). current_replicas (may be NULL) maps service -> the number of
 * replicas running now: it is the starting point of manual and adaptive services that exist.
 * -EINVAL for a spec that is not canonical (unknown dependency, a service without image, ...),
 * -ELOOP for a dependency cycle, -ENOMEM; with ret_error (may be NULL) set to a message on
 * -EINVAL and -ELOOP. */
int sched_plan_compute(const json_t *old_spec, const json_t *new_spec,
                       const json_t *current_replicas, SchedPlan **ret, char **ret_error);
SchedPlan *sched_plan_free(SchedPlan *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(SchedPlan *, sched_plan_free);

/* Whether the plan changes anything (every step is "keep": false). */
bool sched_plan_has_work(const SchedPlan *p) _pure_;

/* {"deployment": name, "steps": [{wave, service, action, change, rtype, replicas,
 * from_replicas, replica, stop_old, waits_for: [{service, condition, timeout_ms, on_timeout}],
 * changed_keys}]} as a new reference; sched_plan_format_json() gives it as text (sorted keys,
 * two-space indent, trailing newline). */
int sched_plan_to_json(const SchedPlan *p, json_t **ret);
int sched_plan_format_json(const SchedPlan *p, char **ret);
/* One line per service and action, for `zlctl deploy --dry-run`:
 *   + start web (2 replicas) after db healthy (timeout 5m, on timeout: fail)
 *   ~ replace api: image changed (rolling, 3 replicas) */
int sched_plan_format_text(const SchedPlan *p, char **ret);

/* The rollout of one plan, driven by events from the reconciler. */
typedef enum SchedRolloutStatus {
        SCHED_ROLLOUT_RUNNING,
        SCHED_ROLLOUT_READY,
        SCHED_ROLLOUT_FAILED,
        _SCHED_ROLLOUT_STATUS_MAX,
        _SCHED_ROLLOUT_STATUS_INVALID = -EINVAL,
} SchedRolloutStatus;

typedef enum SchedStepState {
        SCHED_STEP_PENDING,
        SCHED_STEP_RUNNING,
        SCHED_STEP_DONE,
        _SCHED_STEP_STATE_MAX,
        _SCHED_STEP_STATE_INVALID = -EINVAL,
} SchedStepState;

const char *sched_rollout_status_to_string(SchedRolloutStatus s) _const_;

typedef struct SchedRollout SchedRollout;

/* The plan is borrowed and must outlive the rollout. "keep" steps start out done. */
int sched_rollout_new(const SchedPlan *plan, SchedRollout **ret);
SchedRollout *sched_rollout_free(SchedRollout *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(SchedRollout *, sched_rollout_free);

/* The pending steps that may start now (indices into plan->steps, ascending; *ret is NULL when
 * *ret_n is 0). Nothing is runnable once the rollout is ready or failed. */
int sched_rollout_runnable(const SchedRollout *r, size_t **ret, size_t *ret_n);
/* The reconciler took the step up: -ERANGE for an index outside the plan, -EBUSY when it is not
 * runnable (not pending, or waiting), -ESTALE once the rollout has failed. The timeouts of the
 * waits on this service count from here. */
int sched_rollout_step_started(SchedRollout *r, size_t step);
/* The step finished (a replace step: the new replica healthy, traffic moved, the old one
 * stopped). -ERANGE, -EBUSY unless running, -ESTALE once failed. When every step of a service
 * is done the service counts as ready. */
int sched_rollout_step_done(SchedRollout *r, size_t step);
/* The service reached the condition (started, healthy, ready): waits on it are satisfied, and
 * at "ready" its running start step is done. -ENOENT for a service not in the plan, -EINVAL for
 * SCHED_CONDITION_NONE. Conditions never go down. Ignored (0) once the rollout has finished. */
int sched_rollout_service_reached(SchedRollout *r, const char *service, SchedCondition c);
/* The reconciler's timer for `service` waiting on `dependency` fired. Applies the edge's
 * on_timeout and returns it: fail fails the rollout, warn lets the step go on and records a
 * warning, continue lets it go on silently. -ENOENT when no step of service waits on
 * dependency, -EALREADY when every such wait is already satisfied (the timer lost a race). */
int sched_rollout_wait_timed_out(SchedRollout *r, const char *service, const char *dependency);
/* A replica gave up (image pull, init action, health check, crash loop: reason says which). The
 * rollout fails naming the service and the replica. -ENOENT for a service not in the plan. */
int sched_rollout_replica_failed(SchedRollout *r, const char *service, uint32_t index,
                                 const char *reason);

/* service and message are borrowed, NULL unless failed: which service and why. */
SchedRolloutStatus sched_rollout_status(const SchedRollout *r, const char **ret_service,
                                        const char **ret_message);
SchedStepState sched_rollout_step_state(const SchedRollout *r, size_t step);
SchedCondition sched_rollout_service_condition(const SchedRollout *r, const char *service);
/* Borrowed, NULL-terminated, in the order they happened: waits that timed out with warn. */
char *const *sched_rollout_warnings(const SchedRollout *r);
