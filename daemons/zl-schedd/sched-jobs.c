/* SPDX-License-Identifier: Apache-2.0 */
/* sched-jobs.c: executions of services of rtype "job" and "cron". */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <zlayer/spec.h>

#include "log.h"
#include "sched-container.h"
#include "sched-jobs.h"
#include "string-util.h"
#include "time-util.h"

/* A fire whose commit failed is tried again after this. */
#define CRON_RETRY_USEC (5 * USEC_PER_SEC)
/* Timers may fire this much early (their accuracy); it is still that fire. */
#define CRON_ACCURACY_USEC (1 * USEC_PER_MSEC)
/* Looking for the latest missed run gives up after this many steps (a per-second schedule
 * missed for 11 days) and takes the one it reached. */
#define CRON_CATCHUP_STEPS_MAX 1000000U

typedef enum Phase {
        PHASE_COMMIT_PENDING, /* the pending record in flight */
        PHASE_CREATING,
        PHASE_STARTING,
        PHASE_COMMIT_RUNNING, /* started; the running record in flight */
        PHASE_RUNNING, /* waiting for the container to exit */
        PHASE_SETTLING, /* the final record in flight */
} Phase;

typedef struct Execution Execution;
typedef struct Cron Cron;

struct Execution {
        SchedJobs *j;
        Execution *next;
        char *id;
        char *deployment;
        char *service;
        json_t *spec; /* the canonical service, as when it was triggered */
        uint64_t generation;
        char *container_id; /* NULL until created */
        Phase phase;
        bool exited; /* the container exited before its running record was committed */
        bool cancel_wanted; /* its deployment is stopping or gone */
        bool cancelling; /* stopped by us: it ends "cancelled" */
        int exit_code;
        uint64_t started_usec;
        SchedJobTriggeredFn done;
        void *done_userdata;
};

struct Cron {
        Cron *next;
        char *deployment;
        char *service;
        char *schedule;
        ZlCron *cron; /* NULL: the schedule does not parse */
        uint64_t due_usec; /* the time the next fire is for, 0: none */
        uint64_t commit_next_usec; /* a "next" to record for a service with no cron run */
        uint64_t next_submitted_usec;
        uint64_t retry_usec; /* no fire before this after a failed commit */
        bool firing; /* its cron_run_put in flight */
        bool seen;
        sd_event_source *timer;
};

typedef enum OpKind {
        OP_PENDING,
        OP_RUNNING,
        OP_FINAL,
        OP_CRON_FIRE,
        OP_CRON_NEXT,
} OpKind;

/* One submit in flight. SchedStore has no cancel: a SchedJobs freed meanwhile leaves its ops
 * behind, detached, and their callback only frees them. */
typedef struct StoreOp StoreOp;
struct StoreOp {
        SchedJobs *j;
        StoreOp *next;
        OpKind kind;
        Execution *e;
        Cron *c;
        uint64_t scheduled_usec; /* OP_CRON_FIRE */
        bool skip; /* OP_CRON_FIRE: overlap, no execution */
        char *state; /* OP_FINAL */
        int exit_code; /* OP_FINAL */
};

struct SchedJobs {
        sd_event *event;
        char *node_id;
        char *const *environ;
        SchedBackends backends;
        SchedStore store;
        uint64_t (*now_usec)(void *userdata);
        SchedJobFinishedFn finished_cb;
        void *userdata;

        bool started;
        bool leader;

        Execution *executions;
        Cron *crons;
        StoreOp *ops;

        /* Their addresses are the done_userdata of the lists and removals. */
        char recovery_token;
        char gc_token;
        bool gc_running;
        bool gc_again;
        size_t n_records_seen;
};

#define JOBS_OF(p, field) ((SchedJobs *) ((char *) (p) -offsetof(SchedJobs, field)))

static void execution_created(int r, const char *error, const char *id, void *userdata);
static void execution_started(int r, const char *error, void *userdata);
static void cron_sync(SchedJobs *j);
static void gc_schedule(SchedJobs *j);

static uint64_t jobs_now(SchedJobs *j) {
        return j->now_usec ? j->now_usec(j->userdata) : now(CLOCK_REALTIME);
}

/* ---- store ops ---------------------------------------------------------------------------- */

static void op_free(StoreOp *op) {
        if (!op)
                return;
        free(op->state);
        free(op);
}

static void op_unlink(SchedJobs *j, StoreOp *op) {
        for (StoreOp **q = &j->ops; *q; q = &(*q)->next)
                if (*q == op) {
                        *q = op->next;
                        op->next = NULL;
                        return;
                }
}

static void op_done(int r, const SchedApplyResult *result, void *userdata);

/* Takes cmd. */
static int op_submit(SchedJobs *j, OpKind kind, Execution *e, Cron *c, json_t *cmd, StoreOp **ret) {
        _cleanup_(json_decrefp) json_t *owned = cmd;
        StoreOp *op;
        int r;

        if (!owned)
                return -ENOMEM;
        op = calloc(1, sizeof(StoreOp));
        if (!op)
                return -ENOMEM;
        *op = (StoreOp){ .j = j, .kind = kind, .e = e, .c = c, .exit_code = -1 };
        r = sched_store_submit_json(&j->store, owned, op_done, op);
        if (r < 0) {
                op_free(op);
                return r;
        }
        op->next = j->ops;
        j->ops = op;
        if (ret)
                *ret = op;
        return 0;
}

static const char *result_message(int r, const SchedApplyResult *result) {
        return result && !isempty(result->message) ? result->message : strerror(-r);
}

/* ---- executions --------------------------------------------------------------------------- */

static Execution *execution_free(Execution *e) {
        SchedJobs *j;

        if (!e)
                return NULL;
        j = e->j;
        for (Execution **q = &j->executions; *q; q = &(*q)->next)
                if (*q == e) {
                        *q = e->next;
                        break;
                }
        if (j->backends.cancel)
                j->backends.cancel(j->backends.userdata, e);
        for (StoreOp *op = j->ops; op; op = op->next)
                if (op->e == e)
                        op->e = NULL;
        free(e->id);
        free(e->deployment);
        free(e->service);
        json_decref(e->spec);
        free(e->container_id);
        free(e);
        return NULL;
}

static Execution *execution_find(SchedJobs *j, const char *id) {
        for (Execution *e = j->executions; e; e = e->next)
                if (streq(e->id, id))
                        return e;
        return NULL;
}

static Execution *execution_find_container(SchedJobs *j, const char *container_id) {
        for (Execution *e = j->executions; e; e = e->next)
                if (e->container_id && streq(e->container_id, container_id))
                        return e;
        return NULL;
}

static int execution_new(SchedJobs *j, const char *id, const char *deployment, const char *service,
                         json_t *spec, uint64_t generation, Execution **ret) {
        Execution *e = calloc(1, sizeof(Execution));

        if (!e)
                return -ENOMEM;
        *e = (Execution){ .j = j, .exit_code = -1, .generation = generation };
        e->id = strdup(id);
        e->deployment = strdup(deployment);
        e->service = strdup(service);
        e->spec = json_incref(spec);
        if (!e->id || !e->deployment || !e->service) {
                e->next = NULL;
                json_decref(e->spec);
                free(e->id);
                free(e->deployment);
                free(e->service);
                free(e);
                return -ENOMEM;
        }
        e->next = j->executions;
        j->executions = e;
        *ret = e;
        return 0;
}

/* The final record: succeeded with exit code 0, else failed. message: why it never ran. */
static void execution_settle(Execution *e, int exit_code, const char *message) {
        SchedJobs *j = e->j;
        json_t *cmd;
        const char *state = e->cancelling ? "cancelled" : exit_code == 0 ? "succeeded" : "failed";
        StoreOp *op = NULL;
        int r;

        if (message) {
                log_debug("Job execution '%s' of '%s' of '%s' failed: %s", e->id, e->service,
                          e->deployment, message);
        }
        e->phase = PHASE_SETTLING;
        cmd = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:I, s:I, s:s}", "op", "job_execution_put",
                        "id", e->id, "deployment", e->deployment, "service", e->service, "state",
                        state, "exit_code", exit_code, "started", (json_int_t) e->started_usec,
                        "finished", (json_int_t) jobs_now(j), "log_ref", strempty(e->container_id));
        /* The reason is kept with the record (cut to what the state takes), so `zlctl job
         * status` shows it after a restart too. */
        if (cmd && message)
                json_object_set_new(cmd, "message",
                                    json_stringn(message, MIN(strlen(message), SCHED_MESSAGE_MAX)));
        r = op_submit(j, OP_FINAL, e, NULL, cmd, &op);
        if (r < 0) {
                /* The record stays pending or running: the next recovery settles it. */
                log_debug_errno(r, "Failed to record the end of job execution '%s', ignoring: %m",
                                e->id);
                execution_free(e);
                return;
        }
        op->exit_code = exit_code;
        op->state = strdup(state);
}

/* Failed before its process ran: "prefix: detail", or detail alone. */
static void execution_fail(Execution *e, const char *prefix, const char *detail) {
        _cleanup_free_ char *m =
                prefix ? strjoin(prefix, ": ", strempty(detail)) : strdup(strempty(detail));

        execution_settle(e, -1, m ?: "out of memory");
}

static void execution_create(Execution *e) {
        SchedJobs *j = e->j;
        _cleanup_(sched_container_spec_done) SchedContainerSpec spec = {};
        _cleanup_free_ char *error = NULL;
        int r;

        e->phase = PHASE_CREATING;
        r = sched_container_spec_from_service(e->deployment, e->service, e->spec, e->generation, 0,
                                              e->id, j->environ, &spec, &error);
        if (r < 0)
                return execution_fail(e, NULL, error ?: strerror(-r));
        r = j->backends.create(j->backends.userdata, &spec, execution_created, e);
        if (r < 0)
                return execution_fail(e, "Failed to create the container", strerror(-r));
}

static void execution_start(Execution *e) {
        SchedJobs *j = e->j;
        int r;

        e->phase = PHASE_STARTING;
        r = j->backends.start(j->backends.userdata, e->container_id, execution_started, e);
        if (r < 0)
                return execution_fail(e, "Failed to start the container", strerror(-r));
}

static void execution_commit_running(Execution *e) {
        SchedJobs *j = e->j;
        int r;

        e->phase = PHASE_COMMIT_RUNNING;
        r = op_submit(j, OP_RUNNING, e, NULL,
                      json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:s}", "op", "job_execution_put",
                                "id", e->id, "deployment", e->deployment, "service", e->service,
                                "state", "running", "started", (json_int_t) e->started_usec,
                                "log_ref", e->container_id),
                      NULL);
        if (r < 0) {
                log_debug_errno(r, "Failed to record job execution '%s' as running, ignoring: %m",
                                e->id);
                e->phase = PHASE_RUNNING;
                if (e->exited)
                        execution_settle(e, e->exit_code, NULL);
        }
}

static void execution_created(int r, const char *error, const char *id, void *userdata) {
        Execution *e = userdata;

        if (r < 0)
                return execution_fail(e, NULL, error ?: strerror(-r));
        e->container_id = strdup(id);
        if (!e->container_id)
                return execution_fail(e, NULL, "out of memory");
        execution_start(e);
}

static void execution_started(int r, const char *error, void *userdata) {
        Execution *e = userdata;

        if (r < 0)
                return execution_fail(e, NULL, error ?: strerror(-r));
        e->started_usec = jobs_now(e->j);
        execution_commit_running(e);
}

static void execution_stopped(int r, const char *error, void *userdata) {
        Execution *e = userdata;

        /* Its exit comes as a container change. */
        if (r < 0)
                log_debug("Failed to stop job execution '%s', ignoring: %s", e->id, strna(error));
}

/* Its deployment is stopping or gone: stop the container, within the service's grace period. */
static void execution_cancel(Execution *e) {
        SchedJobs *j = e->j;
        json_t *grace = json_object_get(e->spec, "stop_grace_period");
        unsigned timeout =
                json_is_integer(grace) && json_integer_value(grace) >= 0
                        ? (unsigned) DIV_ROUND_UP(
                                  MIN(json_integer_value(grace), (json_int_t) 86400000), 1000)
                        : 30;
        int r;

        if (e->cancelling || e->phase != PHASE_RUNNING || !e->container_id)
                return;
        e->cancelling = true;
        r = j->backends.stop(j->backends.userdata, e->container_id, timeout, execution_stopped, e);
        if (r < 0)
                log_debug_errno(r, "Failed to stop job execution '%s', ignoring: %m", e->id);
}

static void execution_committed(Execution *e, StoreOp *op, int r, const SchedApplyResult *result) {
        SchedJobs *j = e->j;

        switch (op->kind) {
        case OP_PENDING:
                if (r < 0) {
                        if (e->done)
                                e->done(r, result_message(r, result), NULL, e->done_userdata);
                        execution_free(e);
                        return;
                }
                if (e->done) {
                        SchedJobTriggeredFn done = TAKE_PTR(e->done);

                        done(0, NULL, e->id, e->done_userdata);
                }
                execution_create(e);
                return;
        case OP_RUNNING:
                if (r < 0)
                        log_debug("Failed to record job execution '%s' as running, ignoring: %s",
                                  e->id, result_message(r, result));
                e->phase = PHASE_RUNNING;
                if (e->exited)
                        execution_settle(e, e->exit_code, NULL);
                else if (e->cancel_wanted)
                        execution_cancel(e);
                return;
        case OP_FINAL:
                if (r >= 0 && j->finished_cb)
                        j->finished_cb(e->id, e->deployment, e->service, op->state ?: "failed",
                                       op->exit_code, j->userdata);
                else if (r < 0)
                        log_debug("Failed to record the end of job execution '%s', ignoring: %s",
                                  e->id, result_message(r, result));
                execution_free(e);
                gc_schedule(j);
                return;
        default:
                return;
        }
}

/* ---- lookups in the state ----------------------------------------------------------------- */

typedef struct Lookup {
        const char *deployment;
        const char *service;
        int r;
        json_t *spec; /* the service's canonical JSON */
        uint64_t generation;
        char id[13];
        bool busy; /* an execution of the service is pending or running */
} Lookup;

static bool id_in_use(SchedJobs *j, const SchedState *s, const char *id) {
        return sched_state_get_job_execution(s, id) || execution_find(j, id);
}

static void lookup_read(const SchedState *s, void *userdata) {
        Lookup *l = userdata;
        const SchedDeployment *d = sched_state_get_deployment(s, l->deployment);
        _cleanup_(json_decrefp) json_t *spec = NULL;
        const SchedJobExecution **list = NULL;
        const char *rtype;
        json_t *svc;
        size_t n = 0;

        if (!d) {
                l->r = -ENOENT;
                return;
        }
        if (d->status == SCHED_DEPLOYMENT_STOPPING || d->status == SCHED_DEPLOYMENT_STOPPED) {
                l->r = -EBUSY;
                return;
        }
        spec = json_loads(d->spec, 0, NULL);
        svc = json_object_get(json_object_get(spec, "services"), l->service);
        if (!json_is_object(svc)) {
                l->r = spec ? -ENOENT : -EINVAL;
                return;
        }
        rtype = json_string_value(json_object_get(svc, "rtype"));
        if (!rtype || (!streq(rtype, "job") && !streq(rtype, "cron"))) {
                l->r = -EINVAL;
                return;
        }
        l->spec = json_incref(svc);
        l->generation = d->generation;

        if (sched_state_list_job_executions(s, l->deployment, l->service, &list, &n) >= 0) {
                for (size_t i = 0; i < n; i++)
                        if (list[i]->state == SCHED_JOB_PENDING ||
                            list[i]->state == SCHED_JOB_RUNNING)
                                l->busy = true;
                free(list);
        }
        l->r = 0;
}

static int random_id(char ret[static 13]) {
        uint8_t b[6];

        if (getrandom(b, sizeof b, 0) != (ssize_t) sizeof b)
                return -errno ?: -EIO;
        snprintf(ret, 13, "%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
        return 0;
}

typedef struct IdCheck {
        SchedJobs *j;
        const char *id;
        bool used;
} IdCheck;

static void id_check_read(const SchedState *s, void *userdata) {
        IdCheck *c = userdata;

        c->used = id_in_use(c->j, s, c->id);
}

/* A new execution of l's service: its pending record submitted. */
static int execution_begin(SchedJobs *j, Lookup *l, SchedJobTriggeredFn done, void *userdata) {
        Execution *e;
        int r;

        for (unsigned tries = 0;; tries++) {
                IdCheck c = { .j = j, .id = l->id };

                r = random_id(l->id);
                if (r < 0)
                        return r;
                j->store.read(j->store.userdata, id_check_read, &c);
                if (!c.used)
                        break;
                if (tries >= 8)
                        return -EEXIST;
        }

        r = execution_new(j, l->id, l->deployment, l->service, l->spec, l->generation, &e);
        if (r < 0)
                return r;
        e->done = done;
        e->done_userdata = userdata;
        e->phase = PHASE_COMMIT_PENDING;
        r = op_submit(j, OP_PENDING, e, NULL,
                      json_pack("{s:s, s:s, s:s, s:s, s:s, s:i}", "op", "job_execution_put", "id",
                                e->id, "deployment", e->deployment, "service", e->service, "state",
                                "pending", "exit_code", -1),
                      NULL);
        if (r < 0) {
                e->done = NULL;
                execution_free(e);
                return r;
        }
        return 0;
}

int sched_jobs_trigger(SchedJobs *j, const char *deployment, const char *service,
                       SchedJobTriggeredFn done, void *userdata) {
        Lookup l = { .deployment = deployment, .service = service };
        int r;

        if (!j || isempty(deployment) || isempty(service))
                return -EINVAL;
        if (!j->leader)
                return -EREMOTE;
        j->store.read(j->store.userdata, lookup_read, &l);
        if (l.r < 0)
                return l.r;
        r = execution_begin(j, &l, done, userdata);
        json_decref(l.spec);
        return r;
}

/* ---- recovery and garbage collection ------------------------------------------------------ */

/* What the state says of one unfinished execution, copied out of the read. */
typedef struct Unfinished {
        char *id;
        char *deployment;
        char *service;
        SchedJobState state;
        uint64_t started_usec;
        json_t *spec; /* NULL: the service is gone */
        uint64_t generation;
} Unfinished;

typedef struct RecoveryRead {
        SchedJobs *j;
        const SchedContainerInfo *c;
        size_t n;
        Unfinished *u;
        size_t n_u;
        bool *orphan; /* per container: its execution is not in the state */
        int r;
} RecoveryRead;

static void recovery_read(const SchedState *s, void *userdata) {
        RecoveryRead *rr = userdata;
        const SchedJobExecution **list = NULL;
        size_t n = 0;

        for (size_t i = 0; i < rr->n; i++) {
                const char *id =
                        json_string_value(json_object_get(rr->c[i].labels, SCHED_LABEL_JOB));

                rr->orphan[i] =
                        id && !sched_state_get_job_execution(s, id) && !execution_find(rr->j, id);
        }

        rr->r = sched_state_list_job_executions(s, NULL, NULL, &list, &n);
        if (rr->r < 0)
                return;
        rr->u = calloc(MAX(n, 1U), sizeof(Unfinished));
        if (!rr->u) {
                free(list);
                rr->r = -ENOMEM;
                return;
        }
        for (size_t i = 0; i < n; i++) {
                const SchedJobExecution *x = list[i];
                const SchedDeployment *d;
                Unfinished *u;

                if (x->state != SCHED_JOB_PENDING && x->state != SCHED_JOB_RUNNING)
                        continue;
                if (execution_find(rr->j, x->id))
                        continue;
                u = &rr->u[rr->n_u++];
                u->id = strdup(x->id);
                u->deployment = strdup(x->deployment);
                u->service = strdup(x->service);
                u->state = x->state;
                u->started_usec = x->started_usec;
                if (!u->id || !u->deployment || !u->service) {
                        rr->r = -ENOMEM;
                        break;
                }
                d = sched_state_get_deployment(s, x->deployment);
                if (d) {
                        _cleanup_(json_decrefp) json_t *spec = json_loads(d->spec, 0, NULL);
                        json_t *svc =
                                json_object_get(json_object_get(spec, "services"), x->service);

                        if (json_is_object(svc))
                                u->spec = json_incref(svc);
                        u->generation = d->generation;
                }
        }
        free(list);
}

static const SchedContainerInfo *container_of(const SchedContainerInfo *c, size_t n,
                                              const char *id) {
        for (size_t i = 0; i < n; i++)
                if (streq(strempty(
                                  json_string_value(json_object_get(c[i].labels, SCHED_LABEL_JOB))),
                          id))
                        return &c[i];
        return NULL;
}

static void removed(int r, const char *error, void *userdata) {
        if (r < 0)
                log_debug("Failed to remove a finished job container, ignoring: %s", strna(error));
}

static void remove_orphans(SchedJobs *j, const SchedContainerInfo *c, size_t n,
                           const bool *orphan) {
        for (size_t i = 0; i < n; i++) {
                int r;

                if (!orphan[i])
                        continue;
                r = j->backends.remove(j->backends.userdata, c[i].id, true, removed, &j->gc_token);
                if (r < 0)
                        log_debug_errno(r, "Failed to remove job container '%s', ignoring: %m",
                                        c[i].id);
        }
}

/* Takes up one unfinished execution where the earlier process left it. */
static void recover_one(SchedJobs *j, Unfinished *u, const SchedContainerInfo *c) {
        Execution *e;
        int r;

        r = execution_new(j, u->id, u->deployment, u->service, u->spec, u->generation, &e);
        if (r < 0) {
                log_debug_errno(r, "Failed to take up job execution '%s', ignoring: %m", u->id);
                return;
        }
        e->started_usec = u->started_usec;
        if (c) {
                e->container_id = strdup(c->id);
                if (!e->container_id)
                        return execution_fail(e, NULL, "out of memory");
        }

        if (c && streq(c->state, "exited")) {
                if (!e->started_usec)
                        e->started_usec = c->started_usec;
                return execution_settle(e, c->exit_code, NULL);
        }
        if (u->state == SCHED_JOB_RUNNING) {
                if (!c)
                        return execution_settle(e, -1, "container gone after restart");
                if (streq(c->state, "created"))
                        return execution_start(e);
                e->phase = PHASE_RUNNING;
                return;
        }

        /* Pending: committed, never recorded as running. */
        if (!c) {
                if (!u->spec)
                        return execution_settle(e, -1, "service gone after restart");
                return execution_create(e);
        }
        if (streq(c->state, "created"))
                return execution_start(e);
        e->started_usec = c->started_usec ?: jobs_now(j);
        execution_commit_running(e);
}

static void recovery_listed(int r, const char *error, const SchedContainerInfo *c, size_t n,
                            void *userdata) {
        SchedJobs *j = JOBS_OF(userdata, recovery_token);
        _cleanup_free_ bool *orphan = NULL;
        RecoveryRead rr = { .j = j, .c = c, .n = n };

        if (r < 0) {
                log_debug("Failed to list job containers, ignoring: %s", strna(error));
                return;
        }
        orphan = calloc(MAX(n, 1U), sizeof(bool));
        if (!orphan)
                return;
        rr.orphan = orphan;
        j->store.read(j->store.userdata, recovery_read, &rr);
        if (rr.r < 0)
                log_debug_errno(rr.r, "Failed to read job executions, ignoring: %m");
        for (size_t i = 0; i < rr.n_u; i++) {
                if (rr.r >= 0 && j->leader)
                        recover_one(j, &rr.u[i], container_of(c, n, rr.u[i].id));
                free(rr.u[i].id);
                free(rr.u[i].deployment);
                free(rr.u[i].service);
                json_decref(rr.u[i].spec);
        }
        free(rr.u);
        if (j->leader)
                remove_orphans(j, c, n, orphan);
}

static void recovery_run(SchedJobs *j) {
        int r;

        j->backends.cancel(j->backends.userdata, &j->recovery_token);
        r = j->backends.list(j->backends.userdata, SCHED_LABEL_JOB, recovery_listed,
                             &j->recovery_token);
        if (r < 0)
                log_debug_errno(r, "Failed to list job containers, ignoring: %m");
}

typedef struct GcRead {
        SchedJobs *j;
        const SchedContainerInfo *c;
        size_t n;
        bool *orphan;
} GcRead;

static void gc_read(const SchedState *s, void *userdata) {
        GcRead *g = userdata;

        for (size_t i = 0; i < g->n; i++) {
                const char *id =
                        json_string_value(json_object_get(g->c[i].labels, SCHED_LABEL_JOB));

                g->orphan[i] =
                        id && !sched_state_get_job_execution(s, id) && !execution_find(g->j, id);
        }
}

static void gc_listed(int r, const char *error, const SchedContainerInfo *c, size_t n,
                      void *userdata) {
        SchedJobs *j = JOBS_OF(userdata, gc_token);
        _cleanup_free_ bool *orphan = NULL;
        GcRead g = { .j = j, .c = c, .n = n };

        j->gc_running = false;
        if (r < 0)
                log_debug("Failed to list job containers, ignoring: %s", strna(error));
        else if (j->leader && (orphan = calloc(MAX(n, 1U), sizeof(bool)))) {
                g.orphan = orphan;
                j->store.read(j->store.userdata, gc_read, &g);
                remove_orphans(j, c, n, orphan);
        }
        if (j->gc_again) {
                j->gc_again = false;
                gc_schedule(j);
        }
}

/* Removes the containers of executions the state dropped; one list at a time. */
static void gc_schedule(SchedJobs *j) {
        int r;

        if (!j->started || !j->leader)
                return;
        if (j->gc_running) {
                j->gc_again = true;
                return;
        }
        r = j->backends.list(j->backends.userdata, SCHED_LABEL_JOB, gc_listed, &j->gc_token);
        if (r < 0) {
                log_debug_errno(r, "Failed to list job containers, ignoring: %m");
                return;
        }
        j->gc_running = true;
}

/* ---- cron ------------------------------------------------------------------------------- */

static Cron *cron_free(SchedJobs *j, Cron *c) {
        if (!c)
                return NULL;
        for (StoreOp *op = j->ops; op; op = op->next)
                if (op->c == c)
                        op->c = NULL;
        sd_event_source_disable_unref(c->timer);
        zl_cron_free(c->cron);
        free(c->deployment);
        free(c->service);
        free(c->schedule);
        free(c);
        return NULL;
}

static void crons_clear(SchedJobs *j) {
        while (j->crons) {
                Cron *c = j->crons;

                j->crons = c->next;
                cron_free(j, c);
        }
}

static Cron *cron_find(SchedJobs *j, const char *deployment, const char *service) {
        for (Cron *c = j->crons; c; c = c->next)
                if (streq(c->deployment, deployment) && streq(c->service, service))
                        return c;
        return NULL;
}

/* The first fire time strictly after `after`, in microseconds; 0 when there is none. */
static uint64_t cron_next_usec(const ZlCron *cron, uint64_t after_usec) {
        int64_t next;

        if (zl_cron_next(cron, (int64_t) (after_usec / USEC_PER_SEC), &next) < 0 || next <= 0)
                return 0;
        return (uint64_t) next * USEC_PER_SEC;
}

typedef struct CronRead {
        SchedJobs *j;
        uint64_t now_usec;
        size_t n_records;
        int r;
} CronRead;

static int cron_update(SchedJobs *j, const SchedState *s, const char *deployment,
                       const char *service, const char *schedule, uint64_t now_usec) {
        const SchedCronRun *run = sched_state_get_cron_run(s, deployment, service);
        Cron *c = cron_find(j, deployment, service);

        if (!c) {
                c = calloc(1, sizeof(Cron));
                if (!c)
                        return -ENOMEM;
                c->deployment = strdup(deployment);
                c->service = strdup(service);
                if (!c->deployment || !c->service) {
                        cron_free(j, c);
                        return -ENOMEM;
                }
                c->next = j->crons;
                j->crons = c;
        }
        c->seen = true;

        if (!c->schedule || !streq(c->schedule, schedule)) {
                _cleanup_free_ char *error = NULL;
                char *t = strdup(schedule);

                if (!t)
                        return -ENOMEM;
                free_and_replace(c->schedule, t);
                c->cron = zl_cron_free(c->cron);
                if (zl_cron_parse(schedule, &c->cron, &error) < 0)
                        log_debug("Cron schedule '%s' of '%s' of '%s' does not parse, "
                                  "ignoring: %s",
                                  schedule, service, deployment, strna(error));
        }

        c->commit_next_usec = 0;
        if (!c->cron)
                c->due_usec = 0;
        else if (run && run->last_usec > 0)
                c->due_usec = cron_next_usec(c->cron, run->last_usec);
        else if (run && run->next_usec > 0)
                /* The recorded next, unless the schedule changed since. */
                c->due_usec = cron_next_usec(c->cron, run->next_usec - USEC_PER_SEC);
        else {
                c->due_usec = cron_next_usec(c->cron, now_usec);
                c->commit_next_usec = c->due_usec;
        }
        return 0;
}

static void cron_read(const SchedState *s, void *userdata) {
        CronRead *cr = userdata;
        SchedJobs *j = cr->j;
        const SchedDeployment **list = NULL;
        size_t n = 0;

        for (Execution *e = j->executions; e; e = e->next) {
                const SchedDeployment *d = sched_state_get_deployment(s, e->deployment);

                e->cancel_wanted = !d || d->status == SCHED_DEPLOYMENT_STOPPING ||
                                   d->status == SCHED_DEPLOYMENT_STOPPED;
        }

        cr->r = sched_state_list_deployments(s, &list, &n);
        if (cr->r < 0)
                return;
        for (size_t i = 0; i < n && cr->r >= 0; i++) {
                _cleanup_(json_decrefp) json_t *spec = NULL;
                const char *name;
                json_t *svc;

                if (list[i]->status == SCHED_DEPLOYMENT_STOPPING ||
                    list[i]->status == SCHED_DEPLOYMENT_STOPPED)
                        continue;
                spec = json_loads(list[i]->spec, 0, NULL);
                json_object_foreach (json_object_get(spec, "services"), name, svc) {
                        const char *schedule = json_string_value(json_object_get(svc, "schedule"));

                        if (!streq(strempty(json_string_value(json_object_get(svc, "rtype"))),
                                   "cron") ||
                            !schedule)
                                continue;
                        cr->r = cron_update(j, s, list[i]->name, name, schedule, cr->now_usec);
                        if (cr->r < 0)
                                break;
                }
        }
        free(list);

        list = NULL;
        if (sched_state_list_job_executions(s, NULL, NULL, (const SchedJobExecution ***) &list,
                                            &cr->n_records) < 0)
                cr->n_records = 0;
        free(list);
}

static int on_cron_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        sched_jobs_tick(userdata);
        return 0;
}

static void cron_arm(SchedJobs *j, Cron *c, uint64_t now_usec) {
        uint64_t at = MAX(c->due_usec, c->retry_usec), real;
        int r;

        c->timer = sd_event_source_disable_unref(c->timer);
        if (c->firing || at == 0)
                return;
        /* The clock may be the tests': wait as long as it says, on the real one. */
        real = now(CLOCK_REALTIME);
        r = sd_event_add_time(j->event, &c->timer, CLOCK_REALTIME,
                              at > now_usec ? real + (at - now_usec) : real, CRON_ACCURACY_USEC,
                              on_cron_timer, j);
        if (r < 0)
                log_debug_errno(r, "Failed to arm the timer of cron '%s' of '%s', ignoring: %m",
                                c->service, c->deployment);
}

static void cron_sync(SchedJobs *j) {
        CronRead cr = { .j = j };

        if (!j->started)
                return;
        if (!j->leader) {
                crons_clear(j);
                return;
        }
        cr.now_usec = jobs_now(j);
        for (Cron *c = j->crons; c; c = c->next)
                c->seen = false;
        j->store.read(j->store.userdata, cron_read, &cr);
        if (cr.r < 0) {
                log_debug_errno(cr.r, "Failed to read the cron services, ignoring: %m");
                return;
        }
        for (Cron **q = &j->crons; *q;) {
                Cron *c = *q;

                if (!c->seen) {
                        *q = c->next;
                        cron_free(j, c);
                        continue;
                }
                q = &c->next;
                if (c->commit_next_usec > 0 && c->commit_next_usec != c->next_submitted_usec) {
                        int r = op_submit(j, OP_CRON_NEXT, NULL, c,
                                          json_pack("{s:s, s:s, s:s, s:I}", "op", "cron_run_put",
                                                    "deployment", c->deployment, "service",
                                                    c->service, "next",
                                                    (json_int_t) c->commit_next_usec),
                                          NULL);
                        if (r >= 0)
                                c->next_submitted_usec = c->commit_next_usec;
                }
                cron_arm(j, c, cr.now_usec);
        }

        for (Execution *e = j->executions; e; e = e->next)
                if (e->cancel_wanted)
                        execution_cancel(e);

        /* Fewer records: some were dropped (trimmed, or with their deployment). */
        if (cr.n_records < j->n_records_seen)
                gc_schedule(j);
        j->n_records_seen = cr.n_records;
}

static bool service_busy(SchedJobs *j, const char *deployment, const char *service) {
        for (Execution *e = j->executions; e; e = e->next)
                if (streq(e->deployment, deployment) && streq(e->service, service))
                        return true;
        return false;
}

static void cron_fire(SchedJobs *j, Cron *c, uint64_t now_usec) {
        Lookup l = { .deployment = c->deployment, .service = c->service };
        uint64_t scheduled = c->due_usec, following;
        StoreOp *op = NULL;
        int r;

        /* Runs missed while nobody was leader: only the latest. */
        for (unsigned n = 0; n < CRON_CATCHUP_STEPS_MAX; n++) {
                uint64_t t = cron_next_usec(c->cron, scheduled);

                if (t == 0 || t > now_usec + CRON_ACCURACY_USEC)
                        break;
                scheduled = t;
        }
        following = cron_next_usec(c->cron, scheduled);

        j->store.read(j->store.userdata, lookup_read, &l);
        json_decref(TAKE_PTR(l.spec));
        r = op_submit(j, OP_CRON_FIRE, NULL, c,
                      json_pack("{s:s, s:s, s:s, s:I, s:I}", "op", "cron_run_put", "deployment",
                                c->deployment, "service", c->service, "last",
                                (json_int_t) scheduled, "next", (json_int_t) following),
                      &op);
        if (r < 0) {
                log_debug_errno(r, "Failed to record a run of cron '%s' of '%s', ignoring: %m",
                                c->service, c->deployment);
                c->retry_usec = now_usec + CRON_RETRY_USEC;
                cron_arm(j, c, now_usec);
                return;
        }
        op->scheduled_usec = scheduled;
        op->skip = l.r < 0 || l.busy || service_busy(j, c->deployment, c->service);
        if (op->skip)
                log_debug("Cron '%s' of '%s': the run of %" PRIu64 " skipped, %s.", c->service,
                          c->deployment, scheduled,
                          l.r < 0 ? "the service cannot run" : "the last one still runs");
        c->firing = true;
        c->retry_usec = 0;
        c->timer = sd_event_source_disable_unref(c->timer);
}

static void cron_committed(SchedJobs *j, StoreOp *op, int r, const SchedApplyResult *result) {
        Cron *c = op->c;
        Lookup l = {};

        if (op->kind == OP_CRON_NEXT) {
                if (r < 0 && c)
                        c->next_submitted_usec = 0;
                return;
        }
        if (c)
                c->firing = false;
        if (r < 0) {
                log_debug("Failed to record a run of a cron service, ignoring: %s",
                          result_message(r, result));
                if (c) {
                        c->retry_usec = jobs_now(j) + CRON_RETRY_USEC;
                        cron_arm(j, c, jobs_now(j));
                }
                return;
        }
        if (c && !op->skip) {
                l = (Lookup){ .deployment = c->deployment, .service = c->service };
                j->store.read(j->store.userdata, lookup_read, &l);
                if (l.r >= 0) {
                        r = execution_begin(j, &l, NULL, NULL);
                        if (r < 0)
                                log_debug_errno(r,
                                                "Failed to start cron '%s' of '%s', ignoring: %m",
                                                c->service, c->deployment);
                }
                json_decref(l.spec);
        }
        cron_sync(j);
}

void sched_jobs_tick(SchedJobs *j) {
        uint64_t now_usec;

        if (!j || !j->started || !j->leader)
                return;
        now_usec = jobs_now(j);
        for (Cron *c = j->crons; c; c = c->next) {
                if (c->firing || c->due_usec == 0 || !c->cron)
                        continue;
                if (c->retry_usec > now_usec + CRON_ACCURACY_USEC)
                        continue;
                if (c->due_usec > now_usec + CRON_ACCURACY_USEC) {
                        cron_arm(j, c, now_usec);
                        continue;
                }
                cron_fire(j, c, now_usec);
        }
}

/* ---- the store's answers ----------------------------------------------------------------- */

static void op_done(int r, const SchedApplyResult *result, void *userdata) {
        StoreOp *op = userdata;
        SchedJobs *j = op->j;

        /* A refusal by the state machine comes as a negative r with the result's message. */
        if (r >= 0 && result && result->error < 0)
                r = result->error;
        if (j) {
                op_unlink(j, op);
                switch (op->kind) {
                case OP_PENDING:
                case OP_RUNNING:
                case OP_FINAL:
                        if (op->e)
                                execution_committed(op->e, op, r, result);
                        break;
                case OP_CRON_FIRE:
                case OP_CRON_NEXT:
                        cron_committed(j, op, r, result);
                        break;
                }
        }
        op_free(op);
}

/* ---- the object ------------------------------------------------------------------------- */

int sched_jobs_new(sd_event *event, const char *node_id, char *const *envp,
                   const SchedBackends *backends, const SchedStore *store,
                   uint64_t (*now_usec)(void *userdata), SchedJobFinishedFn finished_cb,
                   void *userdata, SchedJobs **ret) {
        SchedJobs *j;

        if (!event || isempty(node_id) || !backends || !store || !ret)
                return -EINVAL;
        if (!backends->create || !backends->start || !backends->stop || !backends->remove ||
            !backends->list || !backends->cancel || !store->submit || !store->read ||
            !store->is_leader)
                return -EINVAL;

        j = calloc(1, sizeof(SchedJobs));
        if (!j)
                return -ENOMEM;
        j->node_id = strdup(node_id);
        if (!j->node_id) {
                free(j);
                return -ENOMEM;
        }
        j->event = sd_event_ref(event);
        j->environ = envp;
        j->backends = *backends;
        j->store = *store;
        j->now_usec = now_usec;
        j->finished_cb = finished_cb;
        j->userdata = userdata;
        j->leader = store->is_leader(store->userdata);
        *ret = j;
        return 0;
}

SchedJobs *sched_jobs_free(SchedJobs *j) {
        if (!j)
                return NULL;
        while (j->executions)
                execution_free(j->executions);
        crons_clear(j);
        j->backends.cancel(j->backends.userdata, &j->recovery_token);
        j->backends.cancel(j->backends.userdata, &j->gc_token);
        /* Submits still in flight find no SchedJobs and only free themselves. */
        for (StoreOp *op = j->ops; op; op = op->next)
                op->j = NULL;
        free(j->node_id);
        sd_event_unref(j->event);
        free(j);
        return NULL;
}

int sched_jobs_start(SchedJobs *j) {
        if (!j)
                return -EINVAL;
        if (j->started)
                return -EALREADY;
        j->started = true;
        j->leader = j->store.is_leader(j->store.userdata);
        if (!j->leader)
                return 0;
        recovery_run(j);
        cron_sync(j);
        return 0;
}

void sched_jobs_state_changed(SchedJobs *j) {
        if (j)
                cron_sync(j);
}

void sched_jobs_container_changed(SchedJobs *j, const char *id, const char *state, int exit_code) {
        Execution *e;

        if (!j || !id || !state)
                return;
        e = execution_find_container(j, id);
        if (!e || e->phase == PHASE_SETTLING)
                return;
        if (streq(state, "exited") || streq(state, "removed")) {
                bool removed_first = streq(state, "removed") && !e->exited;
                int code = removed_first ? -1 : streq(state, "exited") ? exit_code : e->exit_code;

                if (e->phase == PHASE_RUNNING) {
                        if (removed_first)
                                return execution_settle(e, -1, "container removed");
                        return execution_settle(e, code, NULL);
                }
                /* Not yet recorded as running: settled once it is. */
                e->exited = true;
                e->exit_code = code;
        }
}

void sched_jobs_role_changed(SchedJobs *j, bool leader) {
        if (!j || j->leader == leader)
                return;
        j->leader = leader;
        if (!j->started)
                return;
        if (leader) {
                recovery_run(j);
                cron_sync(j);
        } else
                crons_clear(j);
}

unsigned sched_jobs_get_n_active(const SchedJobs *j) {
        unsigned n = 0;

        for (const Execution *e = j ? j->executions : NULL; e; e = e->next)
                n++;
        return n;
}
