/* SPDX-License-Identifier: Apache-2.0 */
/* sched-plan.h: the diff between two generations of a spec, and the rollout plan. */
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
