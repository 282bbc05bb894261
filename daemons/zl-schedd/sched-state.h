/* SPDX-License-Identifier: Apache-2.0 */
/* sched-state.h: the scheduler's cluster state, a deterministic state machine driven by commands.
 */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

/* The cluster state replicated by Raft (sched-raft.h): nodes, deployments, replicas, scale
 * events, job executions and cron runs. It changes only through commands, JSON objects
 * {"op": "...", ...} given to sched_state_apply(); the same commands in the same order give the
 * same state on every node, always: no clock, no randomness, no I/O. Times travel inside the
 * commands, as microseconds since the epoch (UTC).
 *
 * Commands (fields marked ? are optional; "time" is the time of the event, set by the writer):
 *
 *   node_upsert        {id, address?, labels?, cpu?, memory?, time?}
 *                      creates (address required) or updates the given fields; cpu is
 *                      millicores, memory bytes, labels an object of strings; time sets the
 *                      heartbeat.
 *   node_heartbeat     {id, time}                                 -ENOENT if unknown
 *   node_delete        {id}                                       -EBUSY while replicas use it
 *   deployment_put     {name, spec, expected_generation, time?}
 *                      spec is the canonical JSON text (zl_spec_dump_json) whose "deployment"
 *                      is name. A compare-and-set: expected_generation is the generation the
 *                      writer based its change on, 0 for a new deployment; otherwise -ESTALE
 *                      (or -EEXIST for 0 when it exists), so of two writers only one wins. The
 *                      new generation is the old plus one; status goes back to "pending".
 *   deployment_status  {name, status, generation?, message?, services?, stop_timeout?, time}
 *                      services: object service -> object, the per-service status (free
 *                      form, replaced as a whole). With generation, -ESTALE unless current.
 *                      stop_timeout (seconds, only with status "stopping": how long each
 *                      container gets to stop) is kept while the deployment is stopping.
 *   deployment_delete  {name, expected_generation?}
 *                      -EBUSY while replicas remain (stop them first); drops the deployment's
 *                      scale events, job executions and cron runs with it.
 *   replica_put        {deployment, service, index, node?, container_id?, generation?, state?,
 *                       health?, ip?, restarts?, message?, time}
 *                      creates or updates the given fields (node required on creation); the
 *                      deployment and service must exist, the node too.
 *   replica_delete     {deployment, service, index}
 *   scale_event        {deployment, service, from, to, reason, time}
 *                      appended; the oldest beyond SCHED_SCALE_EVENTS_MAX per service dropped.
 *   job_execution_put  {id, deployment, service, state?, exit_code?, started?, finished?,
 *                       log_ref?, message?}
 *                      creates or updates; beyond SCHED_JOB_EXECUTIONS_MAX per service the
 *                      oldest finished executions are dropped.
 *   cron_run_put       {deployment, service, last?, next?}
 *   service_scale      {deployment, service, replicas, reason, time}
 *                      sets the service's replica override (0..SCHED_SCALE_REPLICAS_MAX; the
 *                      service must be of rtype "service") and appends a scale event from the
 *                      count asked before (sched_service_replicas()) to replicas. A
 *                      deployment_put drops the overrides of services it removes or makes
 *                      fixed.
 *
 * Names (node ids, deployments, services, job ids) are 1..253 characters of [A-Za-z0-9._:-].
 * Unknown fields and unknown ops are refused: a command either applies whole or not at all. */

#define SCHED_NAME_MAX 253U
/* Messages, reasons (deployment, replica, job execution, scale event) are at most this long. */
#define SCHED_MESSAGE_MAX 4096U
#define SCHED_SCALE_EVENTS_MAX 64U
#define SCHED_JOB_EXECUTIONS_MAX 100U
#define SCHED_SCALE_REPLICAS_MAX 1000U
/* Commands and snapshots bigger than this are refused, whatever the transport allows. */
#define SCHED_COMMAND_MAX (4U * 1024U * 1024U)
/* The snapshot format written by this code; restore reads it and every older one. */
#define SCHED_SNAPSHOT_VERSION 1U

typedef enum SchedDeploymentStatus {
        SCHED_DEPLOYMENT_PENDING, /* put, not yet picked up */
        SCHED_DEPLOYMENT_DEPLOYING,
        SCHED_DEPLOYMENT_READY,
        SCHED_DEPLOYMENT_DEGRADED, /* running, some replicas not healthy */
        SCHED_DEPLOYMENT_FAILED,
        SCHED_DEPLOYMENT_STOPPING,
        SCHED_DEPLOYMENT_STOPPED,
        _SCHED_DEPLOYMENT_STATUS_MAX,
        _SCHED_DEPLOYMENT_STATUS_INVALID = -EINVAL,
} SchedDeploymentStatus;

typedef enum SchedReplicaState {
        SCHED_REPLICA_PENDING, /* placed, nothing created yet */
        SCHED_REPLICA_CREATING, /* pulling, creating, attaching, init actions */
        SCHED_REPLICA_STARTING,
        SCHED_REPLICA_RUNNING,
        SCHED_REPLICA_STOPPING,
        SCHED_REPLICA_STOPPED,
        SCHED_REPLICA_FAILED,
        SCHED_REPLICA_CRASHLOOP,
        _SCHED_REPLICA_STATE_MAX,
        _SCHED_REPLICA_STATE_INVALID = -EINVAL,
} SchedReplicaState;

typedef enum SchedReplicaHealth {
        SCHED_HEALTH_UNKNOWN,
        SCHED_HEALTH_STARTING, /* within start_grace */
        SCHED_HEALTH_HEALTHY,
        SCHED_HEALTH_UNHEALTHY,
        _SCHED_HEALTH_MAX,
        _SCHED_HEALTH_INVALID = -EINVAL,
} SchedReplicaHealth;

typedef enum SchedJobState {
        SCHED_JOB_PENDING,
        SCHED_JOB_RUNNING,
        SCHED_JOB_SUCCEEDED,
        SCHED_JOB_FAILED,
        SCHED_JOB_CANCELLED,
        _SCHED_JOB_STATE_MAX,
        _SCHED_JOB_STATE_INVALID = -EINVAL,
} SchedJobState;

const char *sched_deployment_status_to_string(SchedDeploymentStatus s) _const_;
SchedDeploymentStatus sched_deployment_status_from_string(const char *s) _pure_;
const char *sched_replica_state_to_string(SchedReplicaState s) _const_;
SchedReplicaState sched_replica_state_from_string(const char *s) _pure_;
const char *sched_replica_health_to_string(SchedReplicaHealth h) _const_;
SchedReplicaHealth sched_replica_health_from_string(const char *s) _pure_;
const char *sched_job_state_to_string(SchedJobState s) _const_;
SchedJobState sched_job_state_from_string(const char *s) _pure_;

/* The records. Readers get const pointers owned by the state: valid until the next
 * sched_state_apply() or sched_state_free() on that state. JSON field names are the member
 * names without the _usec suffix ("heartbeat", "updated_at", "started", ...). */

typedef struct SchedNode {
        char *id;
        char *address;
        json_t *labels; /* object: string -> string, never NULL */
        uint64_t cpu; /* capacity, millicores */
        uint64_t memory; /* capacity, bytes */
        uint64_t heartbeat_usec; /* last heartbeat, 0 = never */
} SchedNode;

typedef struct SchedDeployment {
        char *name;
        char *spec; /* canonical spec JSON text, as given */
        uint64_t generation; /* 1 on the first put, +1 on each put */
        SchedDeploymentStatus status;
        char *message; /* "" or why (e.g. which service failed) */
        json_t *services; /* object: service -> status object, never NULL */
        uint64_t updated_at_usec;
        char **service_names; /* sorted, NULL-terminated: the spec's services */
        json_t *scale; /* object: service -> replica override (service_scale), never NULL */
        uint64_t stop_timeout; /* seconds, while stopping; 0: the services' stop_grace_period */
} SchedDeployment;

typedef struct SchedReplica {
        char *deployment;
        char *service;
        uint32_t index;
        char *node;
        char *container_id; /* "" until created */
        uint64_t generation; /* the deployment generation this replica runs */
        SchedReplicaState state;
        SchedReplicaHealth health;
        char *ip; /* "" until attached */
        uint32_t restarts;
        char *message; /* "" or the last error */
        uint64_t updated_at_usec;
} SchedReplica;

typedef struct SchedScaleEvent {
        uint64_t seq; /* state-wide sequence number, increasing */
        char *deployment;
        char *service;
        uint32_t from;
        uint32_t to;
        char *reason;
        uint64_t time_usec;
} SchedScaleEvent;

typedef struct SchedJobExecution {
        char *id;
        char *deployment;
        char *service;
        SchedJobState state;
        int32_t exit_code; /* -1 until known */
        uint64_t started_usec; /* 0 = not started */
        uint64_t finished_usec; /* 0 = not finished */
        char *log_ref; /* "" or where the log lives */
        char *message; /* "" or why it failed (it never ran, its container vanished) */
} SchedJobExecution;

typedef struct SchedCronRun {
        char *deployment;
        char *service;
        uint64_t last_usec; /* 0 = never ran */
        uint64_t next_usec; /* 0 = not scheduled */
} SchedCronRun;

typedef struct SchedState SchedState;

/* What a command did. On refusal error is the negative errno sched_state_apply() returned and
 * message says which field and why; the state is unchanged. */
typedef struct SchedApplyResult {
        int error;
        char message[256];
        uint64_t generation; /* deployment_put: the new generation */
        uint64_t revision; /* the state's revision after the command */
} SchedApplyResult;

int sched_state_new(SchedState **ret);
SchedState *sched_state_free(SchedState *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(SchedState *, sched_state_free);

/* Validates and applies one command (JSON text, not necessarily NUL-terminated). Returns 0
 * when applied, or a negative errno when refused, with the state unchanged: -EINVAL (malformed,
 * unknown op or field, bad value), -ENOENT (what it refers to does not exist), -EEXIST/-ESTALE
 * (generation compare-and-set lost), -EBUSY (still in use), -E2BIG. -ENOMEM is the only
 * non-deterministic failure (state also unchanged): a replicated caller must not treat it as a
 * refusal. ret_result may be NULL; it is written in every case but -ENOMEM. */
int sched_state_apply(SchedState *s, const char *cmd, size_t len, SchedApplyResult *ret_result);
/* The same for a command already parsed. */
int sched_state_apply_json(SchedState *s, const json_t *cmd, SchedApplyResult *ret_result);

/* Number of commands applied since the empty state (refused ones do not count). */
uint64_t sched_state_revision(const SchedState *s) _pure_;

/* Lookups: NULL when absent. */
const SchedNode *sched_state_get_node(const SchedState *s, const char *id);
const SchedDeployment *sched_state_get_deployment(const SchedState *s, const char *name);
const SchedReplica *sched_state_get_replica(const SchedState *s, const char *deployment,
                                            const char *service, uint32_t index);
const SchedJobExecution *sched_state_get_job_execution(const SchedState *s, const char *id);
const SchedCronRun *sched_state_get_cron_run(const SchedState *s, const char *deployment,
                                             const char *service);
/* Whether the deployment's spec has this service. */
bool sched_deployment_has_service(const SchedDeployment *d, const char *service) _pure_;

/* The replica count a canonical service (rtype service) asks for: the deployment's override
 * for service_name when it has one (d may be NULL), else fixed: its replicas, manual: its
 * replicas (1 when absent), adaptive: its min. */
uint32_t sched_service_replicas(const json_t *service, const SchedDeployment *d,
                                const char *service_name) _pure_;

/* Lists: a new array of borrowed pointers (free() the array only), in key order: nodes by id,
 * deployments by name, replicas by (deployment, service, index), scale events by (deployment,
 * service, seq), job executions by id, cron runs by (deployment, service). A NULL deployment
 * means all, a NULL service all of the deployment. Replicas of one (deployment, service) are
 * found through the index in O(log n + k). *ret is NULL when *ret_n is 0. */
int sched_state_list_nodes(const SchedState *s, const SchedNode ***ret, size_t *ret_n);
int sched_state_list_deployments(const SchedState *s, const SchedDeployment ***ret, size_t *ret_n);
int sched_state_list_replicas(const SchedState *s, const char *deployment, const char *service,
                              const SchedReplica ***ret, size_t *ret_n);
int sched_state_list_replicas_on_node(const SchedState *s, const char *node,
                                      const SchedReplica ***ret, size_t *ret_n);
int sched_state_list_scale_events(const SchedState *s, const char *deployment, const char *service,
                                  const SchedScaleEvent ***ret, size_t *ret_n);
int sched_state_list_job_executions(const SchedState *s, const char *deployment,
                                    const char *service, const SchedJobExecution ***ret,
                                    size_t *ret_n);
int sched_state_list_cron_runs(const SchedState *s, const char *deployment,
                               const SchedCronRun ***ret, size_t *ret_n);

/* JSON of one record, and of whole tables (arrays in list order), new references. Table names:
 * "nodes", "deployments", "replicas", "scale_events", "job_executions", "cron_runs"; -EINVAL
 * for others. sched_state_dump_json() gives all tables and the revision in one object. */
int sched_node_to_json(const SchedNode *n, json_t **ret);
int sched_deployment_to_json(const SchedDeployment *d, json_t **ret);
int sched_replica_to_json(const SchedReplica *r, json_t **ret);
int sched_scale_event_to_json(const SchedScaleEvent *e, json_t **ret);
int sched_job_execution_to_json(const SchedJobExecution *j, json_t **ret);
int sched_cron_run_to_json(const SchedCronRun *c, json_t **ret);
int sched_state_dump_table(const SchedState *s, const char *table, json_t **ret);
int sched_state_dump_json(const SchedState *s, json_t **ret);

/* The whole state as bytes (compact JSON with sorted keys and a "version" field; equal states
 * give equal bytes) and back. Restore validates every record as a command would and refuses
 * with -EBADMSG what is not a snapshot, -EPROTONOSUPPORT a version newer than this code. */
int sched_state_snapshot(const SchedState *s, char **ret_buf, size_t *ret_len);
int sched_state_restore(const void *buf, size_t len, SchedState **ret);
