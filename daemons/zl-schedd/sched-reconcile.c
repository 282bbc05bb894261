/* SPDX-License-Identifier: Apache-2.0 */
/* sched-reconcile.c: the reconciler: containers, health and routes brought to the state. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sched-container.h"
#include "sched-reconcile-probe.h"
#include "sched-reconcile.h"
#include "string-util.h"
#include "time-util.h"

#define RESYNC_USEC_DEFAULT (10ULL * USEC_PER_SEC)
#define HEALTH_DEADLINE_USEC_DEFAULT (300ULL * USEC_PER_SEC)
#define DRAIN_USEC_DEFAULT (2ULL * USEC_PER_SEC)
/* A container that exits within this time of its start counts as a quick exit; that many quick
 * exits in a row make a crash loop. */
#define QUICK_EXIT_USEC (10ULL * USEC_PER_SEC)
#define CRASHLOOP_EXITS 3U
/* errors.on_init_failure "restart": this many immediate recreations, then the replica fails. */
#define INIT_RESTART_MAX 5U
#define ROUTES_OWNER "scheduler"

typedef struct Slot Slot;
typedef struct Instance Instance;

typedef enum Phase {
        PHASE_IDLE, /* nothing in flight (an adopted or kept container, or one to remove) */
        PHASE_CREATING, /* create call in flight */
        PHASE_INIT, /* init steps running in the created container */
        PHASE_STARTING, /* start call in flight */
        PHASE_ATTACHING, /* listing for its address */
        PHASE_RUNNING, /* started, probed */
        PHASE_EXITED, /* exited and kept (on_panic shutdown, isolate) */
        PHASE_STOPPING, /* stop call in flight */
        PHASE_REMOVING, /* remove call in flight */
} Phase;

/* One backend call of an instance, the done_userdata that cancel() names. */
typedef struct Call {
        SchedReconciler *r;
        Instance *inst;
} Call;

/* A command of a probe or init step running through backends->exec. */
typedef struct ExecCall {
        Instance *inst;
        SchedRExecDoneFn done;
        void *done_userdata;
        struct ExecCall *next;
} ExecCall;

/* One container of a replica. */
struct Instance {
        SchedReconciler *r;
        Slot *slot; /* NULL once retired */
        char *deployment, *service; /* for retired ones */
        uint32_t index;
        char *id; /* NULL until created */
        char *name;
        char *hash;
        char *image;
        uint64_t generation;
        char *ip;
        Phase phase;
        bool running; /* started and not seen exited */
        bool pulling; /* image_pull_complete owed */
        SchedRHealth health;
        bool ever_healthy; /* its check passed once (or it was adopted healthy) */
        char *health_reason; /* the last failed check, while it never passed */
        sd_event_source *health_timer; /* the health deadline, while it never passed */
        SchedRProbe *probe;
        SchedRInit *init;
        Call *call;
        ExecCall *execs;
        uint64_t started_usec; /* CLOCK_MONOTONIC */
        unsigned stop_timeout_sec;
        /* retired: kept in the routes until a routes update made after mark_serial is in place */
        bool wait_routes;
        /* out of the routes: stopped once the requests in flight to it had time to end */
        uint64_t drain_until; /* CLOCK_MONOTONIC, 0: no wait */
        sd_event_source *drain_timer;
        uint64_t mark_serial;
        uint64_t run_serial; /* when it was seen running: lists older than that miss it */
        bool stop_failed; /* go straight to remove */
        bool backend_lost; /* its last exec got no answer from the runtime (-ENOTCONN) */
};

/* A replica: (deployment, service, index). */
struct Slot {
        SchedReconciler *r;
        char *deployment, *service;
        uint32_t index;
        Instance *cur; /* its container */
        Instance *next; /* the replacement being made (config hash changed) */
        sd_event_source *timer; /* restart backoff */
        bool waiting_restart;
        bool failed; /* nothing more until the config changes */
        char *failed_hash; /* the config hash it failed with */
        uint32_t restarts;
        unsigned quick_exits;
        unsigned init_failures;
        unsigned interruptions; /* in a row, by a runtime that did not answer */
        char *message;
        json_t *last_put; /* the replica_put fields last submitted */
        bool delete_submitted;
        bool excess; /* beyond the desired count, or its service or deployment gone */
        bool stopped_event;
        uint64_t seen;
};

/* Per (deployment, service): depends gating and counts. */
typedef struct ServiceRt {
        SchedReconciler *r;
        char *deployment, *service;
        uint64_t generation;
        bool gate_open;
        bool waiting_emitted;
        uint64_t waiting_since; /* CLOCK_MONOTONIC, 0: never waited */
        sd_event_source *timer; /* depends timeout */
        int64_t last_desired; /* -1: none yet */
        uint64_t seen;
} ServiceRt;

typedef struct DeploymentRt {
        char *name;
        uint64_t generation;
        json_t *spec; /* parsed canonical spec of that generation */
        char *failed_message; /* this generation failed */
        char *failed_service;
        int64_t failed_replica; /* -1: not one replica's failure (a dependency timed out) */
        bool reached_ready;
        char *last_status; /* the status this process decided last (events) */
        json_t *last_submitted; /* {status, message, services} last submitted */
        bool delete_submitted;
        uint64_t seen;
} DeploymentRt;

/* A container of ours as the runtime listed it. */
typedef struct Known {
        char *id, *name, *state, *ip;
        char *deployment, *service, *hash;
        uint32_t index;
        uint64_t generation;
        int exit_code;
        bool job;
        bool valid; /* has our replica labels */
} Known;

/* A store command in flight; detached (r NULL) when the reconciler is freed before it ends. */
typedef struct Submit {
        SchedReconciler *r;
        char *deployment, *service;
        int64_t index; /* -1: a deployment command */
        char *op;
        /* Emitted once the command is applied: a deployment's status event, so that a client
         * that sees it and asks GetDeployment reads the same status. */
        char *event;
        json_t *event_data;
        struct Submit *prev, *next;
} Submit;

struct SchedReconciler {
        sd_event *event;
        char *node_id, *node_address, *public_address;
        char **environ;
        uint64_t resync_usec, backoff_base_usec, backoff_cap_usec, init_poll_usec;
        uint64_t health_deadline_usec, drain_usec;
        SchedBackends backends;
        SchedStore store;
        SchedEventFn event_cb;
        void *userdata;

        bool started;
        bool leader;
        bool listed; /* a list completed since becoming leader */
        bool node_submitted;
        sd_event_source *defer;
        sd_event_source *resync;
        Call *list_call;
        Call *routes_call;
        char *routes_ok; /* the routes text last set successfully */
        char *routes_pending;
        uint64_t routes_call_serial;
        uint64_t list_serial;
        uint64_t serial;
        uint64_t pass_serial;
        uint64_t n_passes;

        Slot **slots;
        size_t n_slots;
        Instance **dying;
        size_t n_dying;
        ServiceRt **services;
        size_t n_services;
        DeploymentRt **deployments;
        size_t n_deployments;
        Known *known;
        size_t n_known;
        Submit *submits;
};

static void schedule_pass(SchedReconciler *r);
static void instance_advance_dying(Instance *i);
static int instance_start_probe(Instance *i, const json_t *svc);

/* ---- small helpers ------------------------------------------------------------------------ */

static int ptr_array_add(void ***a, size_t *n, void *p) {
        void **b = reallocarray(*a, *n + 1, sizeof(void *));

        if (!b)
                return -ENOMEM;
        b[(*n)++] = p;
        *a = b;
        return 0;
}

static void ptr_array_remove(void **a, size_t *n, void *p) {
        for (size_t k = 0; k < *n; k++)
                if (a[k] == p) {
                        memmove(a + k, a + k + 1, (*n - k - 1) * sizeof(void *));
                        (*n)--;
                        return;
                }
}

static bool streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return streq(a, b);
}

/* Copies v (NULL stays NULL); on no memory the old value stays. */
static void set_str(char **p, const char *v) {
        char *c = NULL;

        if (v && !(c = strdup(v)))
                return;
        free(*p);
        *p = c;
}

static uint64_t realtime_usec(void) {
        return now(CLOCK_REALTIME);
}

static uint64_t monotonic_usec(void) {
        return now(CLOCK_MONOTONIC);
}

static void emit(SchedReconciler *r, const char *deployment, const char *event, json_t *data) {
        /* An event that could not be built (no memory) is dropped: events are progress reports,
         * the state holds the truth. */
        if (r->event_cb)
                r->event_cb(deployment, event, data, r->userdata);
        json_decref(data);
}

static const json_t *spec_service(const json_t *spec, const char *name) {
        return json_object_get(json_object_get(spec, "services"), name);
}

static const char *service_rtype(const json_t *svc) {
        return json_string_value(json_object_get(svc, "rtype")) ?: "service";
}

static const char *service_policy(const json_t *svc, const char *which, const char *dflt) {
        return json_string_value(json_object_get(
                       json_object_get(json_object_get(svc, "errors"), which), "action"))
                       ?: dflt;
}

static unsigned service_stop_timeout(const json_t *svc, const SchedDeployment *d) {
        json_t *g = json_object_get(svc, "stop_grace_period");

        if (d && d->status == SCHED_DEPLOYMENT_STOPPING && d->stop_timeout > 0)
                return (unsigned) MIN(d->stop_timeout, (uint64_t) UINT32_MAX);
        if (json_is_integer(g) && json_integer_value(g) >= 0)
                return (unsigned) MIN(((uint64_t) json_integer_value(g) + 999U) / 1000U,
                                      (uint64_t) UINT32_MAX);
        return 30;
}

/* ---- lookups ------------------------------------------------------------------------------ */

static Slot *slot_find(SchedReconciler *r, const char *deployment, const char *service,
                       uint32_t index) {
        for (size_t k = 0; k < r->n_slots; k++) {
                Slot *s = r->slots[k];

                if (s->index == index && streq(s->service, service) &&
                    streq(s->deployment, deployment))
                        return s;
        }
        return NULL;
}

static ServiceRt *service_rt(SchedReconciler *r, const char *deployment, const char *service,
                             bool create) {
        ServiceRt *v;

        for (size_t k = 0; k < r->n_services; k++)
                if (streq(r->services[k]->service, service) &&
                    streq(r->services[k]->deployment, deployment))
                        return r->services[k];
        if (!create)
                return NULL;
        v = calloc(1, sizeof(*v));
        if (!v)
                return NULL;
        v->r = r;
        v->deployment = strdup(deployment);
        v->service = strdup(service);
        v->last_desired = -1;
        if (!v->deployment || !v->service ||
            ptr_array_add((void ***) &r->services, &r->n_services, v) < 0) {
                free(v->deployment);
                free(v->service);
                free(v);
                return NULL;
        }
        return v;
}

static void service_rt_free(ServiceRt *v) {
        if (!v)
                return;
        sd_event_source_disable_unref(v->timer);
        free(v->deployment);
        free(v->service);
        free(v);
}

static DeploymentRt *deployment_rt(SchedReconciler *r, const char *name, bool create) {
        DeploymentRt *d;

        for (size_t k = 0; k < r->n_deployments; k++)
                if (streq(r->deployments[k]->name, name))
                        return r->deployments[k];
        if (!create)
                return NULL;
        d = calloc(1, sizeof(*d));
        if (!d)
                return NULL;
        d->name = strdup(name);
        if (!d->name || ptr_array_add((void ***) &r->deployments, &r->n_deployments, d) < 0) {
                free(d->name);
                free(d);
                return NULL;
        }
        return d;
}

static void deployment_rt_free(DeploymentRt *d) {
        if (!d)
                return;
        free(d->name);
        json_decref(d->spec);
        free(d->failed_message);
        free(d->failed_service);
        free(d->last_status);
        json_decref(d->last_submitted);
        free(d);
}

static Known *known_find(SchedReconciler *r, const char *id) {
        for (size_t k = 0; k < r->n_known; k++)
                if (streq(r->known[k].id, id))
                        return &r->known[k];
        return NULL;
}

static void known_done(Known *k) {
        free(k->id);
        free(k->name);
        free(k->state);
        free(k->ip);
        free(k->deployment);
        free(k->service);
        free(k->hash);
}

static void known_clear(SchedReconciler *r) {
        for (size_t k = 0; k < r->n_known; k++)
                known_done(&r->known[k]);
        r->known = mfree(r->known);
        r->n_known = 0;
}

static void known_remove(SchedReconciler *r, const char *id) {
        Known *k = known_find(r, id);
        size_t i;

        if (!k)
                return;
        i = (size_t) (k - r->known);
        known_done(k);
        memmove(r->known + i, r->known + i + 1, (r->n_known - i - 1) * sizeof(Known));
        r->n_known--;
}

static int known_fill(Known *k, const SchedContainerInfo *c) {
        const char *idx = json_string_value(json_object_get(c->labels, SCHED_LABEL_REPLICA));
        const char *gen = json_string_value(json_object_get(c->labels, SCHED_LABEL_GENERATION));
        const char *dep = json_string_value(json_object_get(c->labels, SCHED_LABEL_DEPLOYMENT));
        const char *svc = json_string_value(json_object_get(c->labels, SCHED_LABEL_SERVICE));
        const char *hash = json_string_value(json_object_get(c->labels, SCHED_LABEL_CONFIG));
        char *end;

        *k = (Known){ .exit_code = c->exit_code };
        k->id = strdup(c->id);
        k->name = strdup(c->name ?: "");
        k->state = strdup(c->state ?: "");
        k->ip = strdup(c->ip ?: "");
        if (!k->id || !k->name || !k->state || !k->ip)
                return -ENOMEM;
        k->job = json_object_get(c->labels, SCHED_LABEL_JOB) != NULL;
        if (k->job || !dep || !svc || !idx || !hash)
                return 0;
        errno = 0;
        unsigned long long v = strtoull(idx, &end, 10);
        if (errno != 0 || end == idx || *end || v > UINT32_MAX)
                return 0;
        k->index = (uint32_t) v;
        k->generation = gen ? strtoull(gen, NULL, 10) : 0;
        k->deployment = strdup(dep);
        k->service = strdup(svc);
        k->hash = strdup(hash);
        if (!k->deployment || !k->service || !k->hash)
                return -ENOMEM;
        k->valid = true;
        return 0;
}

static bool id_claimed(SchedReconciler *r, const char *id) {
        for (size_t k = 0; k < r->n_slots; k++) {
                Slot *s = r->slots[k];

                if ((s->cur && streq_ptr(s->cur->id, id)) ||
                    (s->next && streq_ptr(s->next->id, id)))
                        return true;
        }
        for (size_t k = 0; k < r->n_dying; k++)
                if (streq_ptr(r->dying[k]->id, id))
                        return true;
        return false;
}

/* ---- exec and resolver for probes and init steps -------------------------------------------- */

static void exec_done(int r, const char *error, int exit_code, const char *out, size_t out_len,
                      const char *err, size_t err_len, void *userdata) {
        ExecCall *c = userdata, **p;
        SchedRExecDoneFn done = c->done;
        void *ud = c->done_userdata;

        for (p = &c->inst->execs; *p; p = &(*p)->next)
                if (*p == c) {
                        *p = c->next;
                        break;
                }
        /* The last command decides: a step that failed after the runtime came back failed. */
        c->inst->backend_lost = r == -ENOTCONN;
        free(c);
        done(r < 0 ? r : 0, exit_code, ud);
}

static int instance_exec(void *userdata, const char *const *argv, uint64_t timeout_usec,
                         SchedRExecDoneFn done, void *done_userdata) {
        Instance *i = userdata;
        ExecCall *c;
        int r;

        if (!i->id)
                return -ENXIO;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        *c = (ExecCall){ .inst = i, .done = done, .done_userdata = done_userdata };
        r = i->r->backends.exec(i->r->backends.userdata, i->id, argv, timeout_usec, exec_done, c);
        if (r < 0) {
                free(c);
                return r;
        }
        c->next = i->execs;
        i->execs = c;
        return 0;
}

static void instance_exec_cancel(void *userdata, void *done_userdata) {
        Instance *i = userdata;

        for (ExecCall **p = &i->execs; *p; p = &(*p)->next)
                if ((*p)->done_userdata == done_userdata) {
                        ExecCall *c = *p;

                        *p = c->next;
                        if (i->r->backends.cancel)
                                i->r->backends.cancel(i->r->backends.userdata, c);
                        free(c);
                        return;
                }
}

/* Service names of the same deployment: the address of one of its healthy replicas. */
static int instance_resolve(void *userdata, const char *host, char **ret_ip) {
        Instance *i = userdata;
        SchedReconciler *r = i->r;
        char *ip;

        for (size_t k = 0; k < r->n_slots; k++) {
                Slot *s = r->slots[k];

                if (!streq(s->deployment, i->deployment) || !streq(s->service, host) || !s->cur ||
                    s->cur->phase != PHASE_RUNNING || s->cur->health != SCHED_RHEALTH_HEALTHY ||
                    !s->cur->ip || !*s->cur->ip)
                        continue;
                ip = strdup(s->cur->ip);
                if (!ip)
                        return -ENOMEM;
                *ret_ip = ip;
                return 0;
        }
        return -EHOSTUNREACH;
}

/* ---- instances ------------------------------------------------------------------------------ */

static Instance *instance_new(SchedReconciler *r, Slot *s) {
        Instance *i = calloc(1, sizeof(*i));

        if (!i)
                return NULL;
        i->r = r;
        i->slot = s;
        i->index = s->index;
        i->deployment = strdup(s->deployment);
        i->service = strdup(s->service);
        if (!i->deployment || !i->service) {
                free(i->deployment);
                free(i->service);
                free(i);
                return NULL;
        }
        return i;
}

static void instance_cancel_call(Instance *i) {
        if (!i->call)
                return;
        if (i->r->backends.cancel)
                i->r->backends.cancel(i->r->backends.userdata, i->call);
        i->call = mfree(i->call);
}

static void instance_stop_activity(Instance *i) {
        i->health_timer = sd_event_source_disable_unref(i->health_timer);
        i->probe = sched_rprobe_free(i->probe);
        i->init = sched_rinit_free(i->init);
        while (i->execs) {
                ExecCall *c = i->execs;

                i->execs = c->next;
                if (i->r->backends.cancel)
                        i->r->backends.cancel(i->r->backends.userdata, c);
                free(c);
        }
}

static Instance *instance_free(Instance *i) {
        if (!i)
                return NULL;
        instance_stop_activity(i);
        instance_cancel_call(i);
        free(i->deployment);
        free(i->service);
        free(i->id);
        free(i->name);
        free(i->hash);
        free(i->image);
        free(i->ip);
        free(i->health_reason);
        sd_event_source_disable_unref(i->drain_timer);
        return mfree(i);
}

static Call *instance_call(Instance *i) {
        assert(!i->call);
        i->call = calloc(1, sizeof(Call));
        if (!i->call)
                return NULL;
        *i->call = (Call){ .r = i->r, .inst = i };
        return i->call;
}

/* Hands an instance to the dying list: its probe and init stop now, the container is stopped
 * and removed from the next pass on (after the routes left it when wait_routes). */
static void instance_retire(Instance *i, bool wait_routes) {
        SchedReconciler *r = i->r;

        if (!i)
                return;
        if (i->slot) {
                if (i->slot->cur == i)
                        i->slot->cur = NULL;
                if (i->slot->next == i)
                        i->slot->next = NULL;
                i->slot = NULL;
        }
        i->probe = sched_rprobe_free(i->probe);
        if (i->init) {
                i->init = sched_rinit_free(i->init);
                if (i->phase == PHASE_INIT)
                        i->phase = PHASE_IDLE;
        }
        i->health = SCHED_RHEALTH_UNKNOWN;
        i->wait_routes = wait_routes;
        i->mark_serial = ++r->serial;
        if (ptr_array_add((void ***) &r->dying, &r->n_dying, i) < 0) {
                /* Out of memory: forget it; the resync finds the container as an orphan. */
                instance_free(i);
                return;
        }
        schedule_pass(r);
}

/* ---- store commands ----------------------------------------------------------------------- */

static Submit *submit_free(Submit *s) {
        if (!s)
                return NULL;
        free(s->deployment);
        free(s->service);
        free(s->op);
        free(s->event);
        json_decref(s->event_data);
        return mfree(s);
}

static void submit_unlink(SchedReconciler *r, Submit *s) {
        if (s->prev)
                s->prev->next = s->next;
        else if (r->submits == s)
                r->submits = s->next;
        if (s->next)
                s->next->prev = s->prev;
        s->prev = s->next = NULL;
}

static void submit_done(int rr, const SchedApplyResult *result, void *userdata) {
        Submit *s = userdata;
        SchedReconciler *r = s->r;

        if (!r) {
                submit_free(s);
                return;
        }
        submit_unlink(r, s);
        if (rr < 0) {
                /* Forget what was submitted so the next pass submits it again (or what is
                 * right by then). */
                if (s->index >= 0) {
                        Slot *slot = slot_find(r, s->deployment, s->service, (uint32_t) s->index);

                        if (slot) {
                                slot->last_put = (json_decref(slot->last_put), NULL);
                                slot->delete_submitted = false;
                        }
                } else if (s->deployment) {
                        DeploymentRt *d = deployment_rt(r, s->deployment, false);

                        if (d) {
                                d->last_submitted = (json_decref(d->last_submitted), NULL);
                                d->delete_submitted = false;
                        }
                } else
                        r->node_submitted = false;
        } else if (streq(s->op, "deployment_delete"))
                emit(r, s->deployment, "stopped", json_object());
        else if (s->event)
                emit(r, s->deployment, s->event, TAKE_PTR(s->event_data));
        submit_free(s);
        schedule_pass(r);
}

/* event (may be NULL) and its data (taken, even on failure) are emitted once cmd is applied. */
static int submit_with_event(SchedReconciler *r, json_t *cmd, const char *deployment,
                             const char *service, int64_t index, const char *event,
                             json_t *event_data) {
        Submit *s;
        int k;

        s = calloc(1, sizeof(*s));
        if (!s) {
                json_decref(event_data);
                return -ENOMEM;
        }
        s->r = r;
        s->index = index;
        s->event_data = event_data;
        if (event && !(s->event = strdup(event))) {
                submit_free(s);
                return -ENOMEM;
        }
        s->op = strdup(json_string_value(json_object_get(cmd, "op")));
        s->deployment = deployment ? strdup(deployment) : NULL;
        s->service = service ? strdup(service) : NULL;
        if (!s->op || (deployment && !s->deployment) || (service && !s->service)) {
                submit_free(s);
                return -ENOMEM;
        }
        k = sched_store_submit_json(&r->store, cmd, submit_done, s);
        if (k < 0) {
                submit_free(s);
                return k;
        }
        s->next = r->submits;
        if (s->next)
                s->next->prev = s;
        r->submits = s;
        return 0;
}

static int submit(SchedReconciler *r, json_t *cmd, const char *deployment, const char *service,
                  int64_t index) {
        return submit_with_event(r, cmd, deployment, service, index, NULL, NULL);
}

/* ---- the container life cycle ------------------------------------------------------------- */

static void slot_set_message(Slot *s, const char *m) {
        char *c = strdup(m ?: "");

        if (c)
                free_and_replace(s->message, c);
}

static void slot_message_printf(Slot *s, const char *fmt, ...) _printf_(2, 3);
static void slot_message_printf(Slot *s, const char *fmt, ...) {
        va_list ap;
        char *m;

        va_start(ap, fmt);
        if (vasprintf(&m, fmt, ap) < 0)
                m = NULL;
        va_end(ap);
        if (m)
                free_and_replace(s->message, m);
}

static int restart_timer_cb(sd_event_source *es, uint64_t usec, void *userdata) {
        Slot *s = userdata;

        s->timer = sd_event_source_disable_unref(s->timer);
        s->waiting_restart = false;
        schedule_pass(s->r);
        return 0;
}

static void slot_wait_restart(Slot *s, uint64_t delay) {
        SchedReconciler *r = s->r;

        s->timer = sd_event_source_disable_unref(s->timer);
        s->waiting_restart = true;
        if (delay == 0) {
                s->waiting_restart = false;
                schedule_pass(r);
                return;
        }
        if (sd_event_add_time_relative(r->event, &s->timer, CLOCK_MONOTONIC, delay, 0,
                                       restart_timer_cb, s) < 0)
                /* No timer: retry at the next resync instead. */
                s->waiting_restart = false;
}

static DeploymentRt *slot_deployment_rt(Slot *s) {
        return deployment_rt(s->r, s->deployment, false);
}

static const json_t *slot_service_spec(Slot *s) {
        DeploymentRt *d = slot_deployment_rt(s);

        return d ? spec_service(d->spec, s->service) : NULL;
}

static void deployment_fail(SchedReconciler *r, const char *deployment, const char *service,
                            int64_t replica, const char *message) {
        DeploymentRt *d = deployment_rt(r, deployment, false);
        char *m, *sv;

        if (!d || d->failed_message)
                return;
        m = strdup(message);
        sv = strdup(service ?: "");
        if (!m || !sv) {
                free(m);
                free(sv);
                return;
        }
        d->failed_message = m;
        d->failed_service = sv;
        d->failed_replica = replica;
        schedule_pass(r);
}

/* A container of the slot was cut off on its way up by a runtime that did not answer: it is
 * removed (once the runtime is back) and made again, with no failure counted. */
static void slot_interrupted(Slot *s, Instance *i, const char *reason) {
        SchedReconciler *r = s->r;

        slot_message_printf(s, "waiting for the runtime: %s", reason);
        instance_retire(i, false);
        emit(r, s->deployment, "warning",
             json_pack("{s:s, s:i, s:s}", "service", s->service, "replica", (int) s->index,
                       "message", s->message ?: reason));
        /* The backoff's first steps only (1, 2, 4, 8 s): soon after the runtime is back, and
         * neither a busy loop nor a flood of warnings while it is away. */
        s->interruptions = MIN(s->interruptions + 1, 4U);
        slot_wait_restart(s, sched_rbackoff_delay(s->interruptions + 1, r->backoff_base_usec,
                                                  r->backoff_cap_usec));
}

/* A container of the slot failed to come up (create, init): errors.on_init_failure. */
static void slot_init_failed(Slot *s, Instance *i, const char *reason) {
        SchedReconciler *r = s->r;
        const json_t *svc = slot_service_spec(s);
        const char *action = service_policy(svc, "on_init_failure", "fail");
        DeploymentRt *d = slot_deployment_rt(s);
        bool replacing = s->next == i;
        _cleanup_free_ char *hash = i->hash ? strdup(i->hash) : NULL;

        slot_set_message(s, reason);
        s->init_failures++;
        instance_retire(i, false);
        emit(r, s->deployment, "replica_failed",
             json_pack("{s:s, s:i, s:s}", "service", s->service, "replica", (int) s->index,
                       "reason", reason));

        if (streq(action, "backoff") ||
            (streq(action, "restart") && s->init_failures <= INIT_RESTART_MAX)) {
                uint64_t delay =
                        streq(action, "backoff")
                                ? sched_rbackoff_delay(s->init_failures + 1, r->backoff_base_usec,
                                                       r->backoff_cap_usec)
                                : 0;

                emit(r, s->deployment, "replica_restarting",
                     json_pack("{s:s, s:i, s:i, s:I}", "service", s->service, "replica",
                               (int) s->index, "restarts", (int) s->restarts, "delay_ms",
                               (json_int_t) (delay / USEC_PER_MSEC)));
                slot_wait_restart(s, delay);
                return;
        }
        /* fail, or restart past its limit: the replica stays failed for this config. */
        /* A replacement that failed for good leaves the old container serving; either way this
         * config is not tried again for the replica until the deployment changes. */
        if (!replacing)
                s->failed = true;
        set_str(&s->failed_hash, hash);
        if (d && !d->reached_ready) {
                _cleanup_free_ char *m = NULL;

                if (asprintf(&m, "service '%s' replica %" PRIu32 ": %s", s->service, s->index,
                             reason) >= 0)
                        deployment_fail(r, s->deployment, s->service, s->index, m);
        }
        schedule_pass(r);
}

/* As slot_init_failed(), for a failure with that errno: a backend that did not answer
 * (-ENOTCONN, see sched-backends.h) is no failure of the container. */
static void slot_up_failed(Slot *s, Instance *i, int error, const char *reason) {
        if (error == -ENOTCONN)
                slot_interrupted(s, i, reason);
        else
                slot_init_failed(s, i, reason);
}

static void on_removed(int rr, const char *error, void *userdata) {
        Call *c = userdata;
        Instance *i = c->inst;
        SchedReconciler *r = c->r;

        i->call = mfree(i->call);
        if (rr < 0 && rr != -ENOENT) {
                /* Kept in the dying list: the next pass tries again. */
                i->phase = PHASE_IDLE;
                i->stop_failed = true;
                schedule_pass(r);
                return;
        }
        if (i->id)
                known_remove(r, i->id);
        ptr_array_remove((void **) r->dying, &r->n_dying, i);
        instance_free(i);
        schedule_pass(r);
}

static void on_stopped(int rr, const char *error, void *userdata) {
        Call *c = userdata;
        Instance *i = c->inst;

        i->call = mfree(i->call);
        i->running = false;
        /* A failed stop (already stopped, gone) goes on to the forced remove anyway. */
        i->phase = PHASE_IDLE;
        i->stop_failed = true;
        instance_advance_dying(i);
}

static int drain_timer_cb(sd_event_source *es, uint64_t usec, void *userdata) {
        Instance *i = userdata;

        i->drain_timer = sd_event_source_disable_unref(i->drain_timer);
        schedule_pass(i->r);
        return 0;
}

static void instance_advance_dying(Instance *i) {
        SchedReconciler *r = i->r;
        Call *c;
        int k;

        if (i->call || i->phase == PHASE_CREATING)
                return; /* its create completes first */
        if (i->wait_routes)
                return;
        if (i->drain_until > 0 && monotonic_usec() < i->drain_until) {
                if (!i->drain_timer && sd_event_add_time(r->event, &i->drain_timer, CLOCK_MONOTONIC,
                                                         i->drain_until, 0, drain_timer_cb, i) < 0)
                        i->drain_until = 0; /* no timer: stop it now rather than never */
                else
                        return;
        }
        if (!i->id) {
                ptr_array_remove((void **) r->dying, &r->n_dying, i);
                instance_free(i);
                return;
        }
        c = instance_call(i);
        if (!c)
                return;
        if (i->running && !i->stop_failed) {
                i->phase = PHASE_STOPPING;
                k = r->backends.stop(r->backends.userdata, i->id, i->stop_timeout_sec, on_stopped,
                                     c);
        } else {
                i->phase = PHASE_REMOVING;
                k = r->backends.remove(r->backends.userdata, i->id, true, on_removed, c);
        }
        if (k < 0) {
                i->call = mfree(i->call);
                i->phase = PHASE_IDLE;
                i->stop_failed = true;
        }
}

static void on_probe_changed(SchedRHealth new_health, const char *reason, void *userdata) {
        Instance *i = userdata;
        SchedReconciler *r = i->r;
        Slot *s = i->slot;

        i->health = new_health;
        if (new_health == SCHED_RHEALTH_HEALTHY) {
                i->ever_healthy = true;
                i->health_timer = sd_event_source_disable_unref(i->health_timer);
                i->health_reason = mfree(i->health_reason);
        } else if (new_health == SCHED_RHEALTH_UNHEALTHY && !i->ever_healthy)
                /* The deployment's message names it while it waits; the deadline fails it. */
                set_str(&i->health_reason, reason ?: "failed");
        if (s && s->cur == i) {
                if (new_health == SCHED_RHEALTH_HEALTHY) {
                        slot_set_message(s, "");
                        s->init_failures = 0;
                        s->interruptions = 0;
                        emit(r, s->deployment, "replica_healthy",
                             json_pack("{s:s, s:i}", "service", s->service, "replica",
                                       (int) s->index));
                } else if (new_health == SCHED_RHEALTH_UNHEALTHY) {
                        slot_set_message(s, reason);
                        emit(r, s->deployment, "replica_unhealthy",
                             json_pack("{s:s, s:i, s:s}", "service", s->service, "replica",
                                       (int) s->index, "reason", reason ?: ""));
                }
        } else if (s && s->next == i) {
                if (new_health == SCHED_RHEALTH_HEALTHY)
                        emit(r, s->deployment, "replica_healthy",
                             json_pack("{s:s, s:i}", "service", s->service, "replica",
                                       (int) s->index));
                else if (new_health == SCHED_RHEALTH_UNHEALTHY && s->next == i)
                        slot_set_message(s, reason);
        }
        schedule_pass(r);
}

/* A replica of a rollout whose check did not pass within the health deadline of its start:
 * the rollout fails, naming it. Its container keeps running for inspection and its probe goes
 * on, out of the routes. A deployment that was ready once is degraded instead (the status). */
static int health_deadline_cb(sd_event_source *es, uint64_t usec, void *userdata) {
        Instance *i = userdata;
        SchedReconciler *r = i->r;
        Slot *s = i->slot;
        DeploymentRt *d;
        _cleanup_free_ char *m = NULL;
        char span[64];

        i->health_timer = sd_event_source_disable_unref(i->health_timer);
        if (!s || i->ever_healthy || !i->running || (s->cur != i && s->next != i))
                return 0;
        d = slot_deployment_rt(s);
        if (d && !d->reached_ready &&
            asprintf(&m,
                     "service '%s' replica %" PRIu32 ": health check never passed within %s: %s",
                     s->service, s->index,
                     format_timespan(r->health_deadline_usec, USEC_PER_SEC, span, sizeof span),
                     i->health_reason ?: "no check completed") >= 0)
                deployment_fail(r, s->deployment, s->service, s->index, m);
        schedule_pass(r);
        return 0;
}

static int instance_start_probe(Instance *i, const json_t *svc) {
        _cleanup_free_ char *error = NULL;
        SchedRExec exec = {
                .exec = instance_exec,
                .cancel = instance_exec_cancel,
                .userdata = i,
        };
        int k;

        i->probe = sched_rprobe_free(i->probe);
        i->health = SCHED_RHEALTH_UNKNOWN;
        i->health_timer = sd_event_source_disable_unref(i->health_timer);
        if (!i->ever_healthy)
                (void) sd_event_add_time_relative(i->r->event, &i->health_timer, CLOCK_MONOTONIC,
                                                  i->r->health_deadline_usec, 0, health_deadline_cb,
                                                  i);
        k = sched_rprobe_start(i->r->event, json_object_get(svc, "health"),
                               json_object_get(svc, "endpoints"), i->ip ?: "", &exec,
                               on_probe_changed, i, &i->probe, &error);
        if (k < 0 && i->slot)
                slot_message_printf(i->slot, "health probe: %s", error ?: strerror(-k));
        return k;
}

/* The container exited (or vanished): errors.on_panic. */
static void instance_exited(Instance *i, int exit_code, const char *why) {
        SchedReconciler *r = i->r;
        Slot *s = i->slot;
        const json_t *svc;
        const char *action;
        _cleanup_free_ char *reason = NULL;
        uint64_t ran;

        i->running = false;
        instance_stop_activity(i);
        instance_cancel_call(i);
        i->health = SCHED_RHEALTH_UNKNOWN;
        if (!s) {
                /* a retired one: nothing to heal, only to remove */
                i->phase = PHASE_IDLE;
                i->stop_failed = true;
                schedule_pass(r);
                return;
        }
        if (why)
                reason = strdup(why);
        else if (asprintf(&reason, "exited with status %d", exit_code) < 0)
                reason = NULL;
        ran = i->started_usec > 0 ? monotonic_usec() - i->started_usec : 0;

        if (s->next == i) {
                /* A replacement that died: the old container keeps serving; try again later. */
                s->restarts++;
                slot_set_message(s, reason);
                instance_retire(i, false);
                slot_wait_restart(s, sched_rbackoff_delay(s->restarts, r->backoff_base_usec,
                                                          r->backoff_cap_usec));
                return;
        }

        svc = slot_service_spec(s);
        action = service_policy(svc, "on_panic", "restart");
        slot_set_message(s, reason);
        if (streq(action, "shutdown") || streq(action, "isolate")) {
                i->phase = PHASE_EXITED;
                s->failed = true;
                set_str(&s->failed_hash, i->hash);
                slot_message_printf(s, "%s (%s)", reason ?: "exited",
                                    streq(action, "isolate") ? "isolated for inspection"
                                                             : "shut down");
                emit(r, s->deployment, "replica_failed",
                     json_pack("{s:s, s:i, s:s}", "service", s->service, "replica", (int) s->index,
                               "reason", s->message));
                schedule_pass(r);
                return;
        }

        /* restart */
        s->restarts++;
        if (ran < QUICK_EXIT_USEC)
                s->quick_exits++;
        else
                s->quick_exits = 0;
        uint64_t delay =
                sched_rbackoff_delay(s->restarts, r->backoff_base_usec, r->backoff_cap_usec);
        emit(r, s->deployment, "replica_restarting",
             json_pack("{s:s, s:i, s:i, s:I}", "service", s->service, "replica", (int) s->index,
                       "restarts", (int) s->restarts, "delay_ms",
                       (json_int_t) (delay / USEC_PER_MSEC)));
        instance_retire(i, false);
        slot_wait_restart(s, delay);
}

static void on_listed_after_start(int rr, const char *error, const SchedContainerInfo *c, size_t n,
                                  void *userdata) {
        Call *call = userdata;
        Instance *i = call->inst;
        SchedReconciler *r = call->r;
        Slot *s = i->slot;

        i->call = mfree(i->call);
        for (size_t k = 0; rr >= 0 && k < n; k++)
                if (streq(c[k].id, i->id)) {
                        char *ip = strdup(c[k].ip ?: "");

                        if (ip)
                                free_and_replace(i->ip, ip);
                        if (streq_ptr(c[k].state, "exited")) {
                                i->phase = PHASE_RUNNING;
                                instance_exited(i, c[k].exit_code, NULL);
                                return;
                        }
                }
        i->phase = PHASE_RUNNING;
        i->run_serial = ++r->serial;
        if (!s) {
                instance_advance_dying(i);
                return;
        }
        emit(r, s->deployment, "replica_started",
             json_pack("{s:s, s:i, s:s}", "service", s->service, "replica", (int) s->index, "ip",
                       i->ip ?: ""));
        (void) instance_start_probe(i, slot_service_spec(s));
        schedule_pass(r);
}

static void on_started(int rr, const char *error, void *userdata) {
        Call *c = userdata;
        Instance *i = c->inst;
        SchedReconciler *r = c->r;
        Call *nc;
        int k;

        i->call = mfree(i->call);
        if (rr < 0) {
                _cleanup_free_ char *m = NULL;

                if (!i->slot) {
                        i->phase = PHASE_IDLE;
                        instance_advance_dying(i);
                        return;
                }
                if (asprintf(&m, "start: %s", error ?: strerror(-rr)) < 0)
                        m = NULL;
                slot_up_failed(i->slot, i, rr, m ?: "start failed");
                return;
        }
        i->running = true;
        i->started_usec = monotonic_usec();
        /* The runtime gives the address once the container is attached: list again. */
        i->phase = PHASE_ATTACHING;
        nc = instance_call(i);
        k = nc ? r->backends.list(r->backends.userdata, SCHED_LABEL_DEPLOYMENT,
                                  on_listed_after_start, nc)
               : -ENOMEM;
        if (k < 0) {
                i->call = mfree(i->call);
                on_listed_after_start(k, NULL, NULL, 0, &(Call){ .r = r, .inst = i });
        }
}

static void instance_do_start(Instance *i) {
        SchedReconciler *r = i->r;
        Call *c = instance_call(i);
        int k;

        i->phase = PHASE_STARTING;
        k = c ? r->backends.start(r->backends.userdata, i->id, on_started, c) : -ENOMEM;
        if (k < 0) {
                i->call = mfree(i->call);
                if (i->slot)
                        slot_up_failed(i->slot, i, k, "start could not be requested");
        }
}

static void on_init_done(int rr, const char *step_id, const char *reason, unsigned n_warnings,
                         void *userdata) {
        Instance *i = userdata;
        _cleanup_free_ char *m = NULL;

        if (rr < 0 &&
            asprintf(&m, "init step '%s': %s", step_id ?: "?", reason ?: strerror(-rr)) < 0)
                m = NULL;
        i->init = sched_rinit_free(i->init);
        if (!i->slot) {
                i->phase = PHASE_IDLE;
                instance_advance_dying(i);
                return;
        }
        if (rr < 0) {
                slot_up_failed(i->slot, i, i->backend_lost ? -ENOTCONN : rr, m ?: "init failed");
                return;
        }
        instance_do_start(i);
}

/* A step with on_failure warn failed for good: the event says so, the init goes on. */
static void on_init_warn(const char *step_id, const char *reason, void *userdata) {
        Instance *i = userdata;
        _cleanup_free_ char *m = NULL;

        if (asprintf(&m, "init step '%s' failed: %s", step_id ?: "?", reason ?: "") >= 0)
                emit(i->r, i->deployment, "warning",
                     json_pack("{s:s, s:s}", "service", i->service, "message", m));
}

static void on_created(int rr, const char *error, const char *id, void *userdata) {
        Call *c = userdata;
        Instance *i = c->inst;
        SchedReconciler *r = c->r;
        Slot *s = i->slot;
        _cleanup_free_ char *m = NULL, *ierr = NULL;
        SchedRExec exec = { .exec = instance_exec, .cancel = instance_exec_cancel, .userdata = i };
        const json_t *svc;
        int k;

        i->call = mfree(i->call);
        i->phase = PHASE_IDLE;
        if (rr >= 0) {
                i->id = strdup(id);
                if (!i->id)
                        rr = -ENOMEM;
        }
        if (i->pulling && rr >= 0)
                emit(r, i->deployment, "image_pull_complete",
                     json_pack("{s:s, s:s}", "service", i->service, "image", i->image ?: ""));
        i->pulling = false;
        if (!s) {
                instance_advance_dying(i);
                return;
        }
        if (rr < 0) {
                if (asprintf(&m, "create: %s", error ?: strerror(-rr)) < 0)
                        m = NULL;
                slot_up_failed(s, i, rr, m ?: "create failed");
                return;
        }
        emit(r, s->deployment, "replica_created",
             json_pack("{s:s, s:i, s:s}", "service", s->service, "replica", (int) s->index,
                       "container_id", i->id));

        svc = slot_service_spec(s);
        i->phase = PHASE_INIT;
        k = sched_rinit_start(r->event, json_object_get(svc, "init"), &exec, instance_resolve,
                              r->init_poll_usec, on_init_warn, on_init_done, i, &i->init, &ierr);
        if (k < 0) {
                i->init = sched_rinit_free(i->init);
                i->phase = PHASE_IDLE;
                if (asprintf(&m, "init: %s", ierr ?: strerror(-k)) < 0)
                        m = NULL;
                slot_init_failed(s, i, m ?: "init failed");
        }
}

/* Creates the slot's container (as its replacement when next). */
static void slot_create(Slot *s, const SchedDeployment *d, const json_t *svc, const char *hash,
                        bool next) {
        SchedReconciler *r = s->r;
        _cleanup_(sched_container_spec_done) SchedContainerSpec spec = {};
        _cleanup_free_ char *error = NULL;
        Instance *i;
        Call *c;
        int k;

        k = sched_container_spec_from_service(d->name, s->service, svc, d->generation, s->index,
                                              NULL, r->environ, &spec, &error);
        if (k < 0) {
                /* The spec cannot become a container here (a $E: variable missing, an s3
                 * volume): nothing to retry until the deployment changes. */
                slot_set_message(s, error ?: strerror(-k));
                if (!s->failed) {
                        s->failed = true;
                        set_str(&s->failed_hash, hash);
                        emit(r, s->deployment, "replica_failed",
                             json_pack("{s:s, s:i, s:s}", "service", s->service, "replica",
                                       (int) s->index, "reason", s->message ?: ""));
                        deployment_fail(r, s->deployment, s->service, s->index, s->message ?: "");
                }
                return;
        }
        i = instance_new(r, s);
        if (!i)
                return;
        i->hash = strdup(hash);
        i->name = strdup(spec.name);
        i->image = strdup(spec.image ?: "");
        i->generation = d->generation;
        i->stop_timeout_sec = service_stop_timeout(svc, NULL);
        c = i->hash && i->name && i->image ? instance_call(i) : NULL;
        if (!c) {
                instance_free(i);
                return;
        }
        i->phase = PHASE_CREATING;
        i->pulling = !streq_ptr(spec.pull_policy, "never");
        if (next)
                s->next = i;
        else
                s->cur = i;
        if (i->pulling)
                emit(r, s->deployment, "image_pull_started",
                     json_pack("{s:s, s:s}", "service", s->service, "image", i->image));
        k = r->backends.create(r->backends.userdata, &spec, on_created, c);
        if (k < 0) {
                i->call = mfree(i->call);
                i->pulling = false;
                slot_up_failed(s, i, k, "create could not be requested");
        }
}

/* ---- slots ------------------------------------------------------------------------------- */

static Slot *slot_new(SchedReconciler *r, const char *deployment, const char *service,
                      uint32_t index, const SchedReplica *rec) {
        Slot *s = calloc(1, sizeof(*s));

        if (!s)
                return NULL;
        s->r = r;
        s->index = index;
        s->deployment = strdup(deployment);
        s->service = strdup(service);
        if (rec)
                s->restarts = rec->restarts;
        if (!s->deployment || !s->service ||
            ptr_array_add((void ***) &r->slots, &r->n_slots, s) < 0) {
                free(s->deployment);
                free(s->service);
                free(s);
                return NULL;
        }
        return s;
}

/* Frees the runtime side only; containers are left as they are. */
static Slot *slot_free(Slot *s) {
        if (!s)
                return NULL;
        instance_free(s->cur);
        instance_free(s->next);
        sd_event_source_disable_unref(s->timer);
        free(s->deployment);
        free(s->service);
        free(s->failed_hash);
        free(s->message);
        json_decref(s->last_put);
        return mfree(s);
}

static void slot_drop(SchedReconciler *r, Slot *s) {
        ptr_array_remove((void **) r->slots, &r->n_slots, s);
        slot_free(s);
}

/* A container of ours for this replica, listed and not used by anything yet. */
static Known *slot_find_adoptable(Slot *s, const char *hash) {
        SchedReconciler *r = s->r;
        Known *best = NULL;

        for (size_t k = 0; k < r->n_known; k++) {
                Known *c = &r->known[k];

                if (!c->valid || c->index != s->index || !streq(c->service, s->service) ||
                    !streq(c->deployment, s->deployment) || id_claimed(r, c->id))
                        continue;
                /* the running one with the current config first */
                if (!best || (streq(c->state, "running") && streq_ptr(c->hash, hash) &&
                              !(streq(best->state, "running") && streq_ptr(best->hash, hash))))
                        best = c;
        }
        return best;
}

/* state (may be NULL) says how the container was last seen: one recorded healthy keeps its
 * place in the routes while its probe starts again, so that a restart of zl-schedd does not take
 * healthy replicas out of service. */
static void slot_adopt(Slot *s, Known *c, const json_t *svc, const SchedState *state) {
        SchedReconciler *r = s->r;
        Instance *i = instance_new(r, s);
        const SchedReplica *rec;

        if (!i)
                return;
        i->id = strdup(c->id);
        i->name = strdup(c->name);
        i->hash = strdup(c->hash);
        i->ip = strdup(c->ip);
        i->generation = c->generation;
        i->stop_timeout_sec = service_stop_timeout(svc, NULL);
        if (!i->id || !i->name || !i->hash || !i->ip) {
                instance_free(i);
                return;
        }
        if (streq(c->state, "created")) {
                /* Interrupted before it started (maybe in its init steps): made again. */
                instance_retire(i, false);
                return;
        }
        s->cur = i;
        i->phase = PHASE_RUNNING;
        i->run_serial = ++r->serial;
        i->running = true;
        /* Its start time is unknown: an exit soon after adoption is not a quick one. */
        i->started_usec = 0;
        if (streq(c->state, "exited")) {
                instance_exited(i, c->exit_code, NULL);
                return;
        }
        rec = state ? sched_state_get_replica(state, s->deployment, s->service, s->index) : NULL;
        if (rec && streq(rec->container_id, c->id) && rec->health == SCHED_HEALTH_HEALTHY)
                i->ever_healthy = true;
        if (instance_start_probe(i, svc) >= 0 && i->ever_healthy)
                i->health = SCHED_RHEALTH_HEALTHY;
}

/* ---- passes ----------------------------------------------------------------------------- */

typedef struct ServiceCounts {
        uint32_t desired, running, healthy;
        bool replacing; /* a container with another config or generation remains */
} ServiceCounts;

static void service_counts(SchedReconciler *r, const char *deployment, const char *service,
                           uint32_t desired, const char *hash, ServiceCounts *ret) {
        *ret = (ServiceCounts){ .desired = desired };
        for (size_t k = 0; k < r->n_slots; k++) {
                Slot *s = r->slots[k];

                if (!streq(s->deployment, deployment) || !streq(s->service, service))
                        continue;
                if (s->index >= desired) {
                        if (s->cur || s->next)
                                ret->replacing = true;
                        continue;
                }
                if (s->next)
                        ret->replacing = true;
                if (!s->cur || s->cur->phase != PHASE_RUNNING)
                        continue;
                ret->running++;
                if (s->cur->health == SCHED_RHEALTH_HEALTHY) {
                        if (hash && !streq_ptr(s->cur->hash, hash))
                                ret->replacing = true;
                        else
                                ret->healthy++;
                }
        }
}

static bool dependency_met(SchedReconciler *r, const SchedDeployment *d, const json_t *spec,
                           const char *dep, const char *condition) {
        const json_t *svc = spec_service(spec, dep);
        ServiceCounts c;

        if (!svc)
                return true;
        service_counts(r, d->name, dep, sched_service_replicas(svc, d, dep), NULL, &c);
        if (streq(condition, "started"))
                return c.running >= 1;
        if (streq(condition, "ready"))
                return c.healthy >= c.desired;
        return c.healthy >= 1;
}

static int depends_timer_cb(sd_event_source *es, uint64_t usec, void *userdata) {
        ServiceRt *v = userdata;

        v->timer = sd_event_source_disable_unref(v->timer);
        schedule_pass(v->r);
        return 0;
}

/* Whether the service may create replicas: every depends entry met, or timed out with warn or
 * continue. Writes the deployment's failure for on_timeout fail. */
static bool service_gate(SchedReconciler *r, const SchedDeployment *d, const json_t *spec,
                         const char *name, const json_t *svc, ServiceRt *v) {
        json_t *deps = json_object_get(svc, "depends"), *e;
        uint64_t nowm = monotonic_usec(), next_deadline = UINT64_MAX;
        bool open = true;
        size_t k;

        if (v->gate_open)
                return true;
        json_array_foreach (deps, k, e) {
                const char *dep = json_string_value(json_object_get(e, "service")) ?: "";
                const char *cond = json_string_value(json_object_get(e, "condition")) ?: "healthy";
                const char *on_timeout =
                        json_string_value(json_object_get(e, "on_timeout")) ?: "fail";
                json_t *t = json_object_get(e, "timeout");
                uint64_t timeout = json_is_integer(t) && json_integer_value(t) >= 0
                                           ? (uint64_t) json_integer_value(t) * USEC_PER_MSEC
                                           : 300ULL * USEC_PER_SEC;
                _cleanup_free_ char *m = NULL;

                if (dependency_met(r, d, spec, dep, cond))
                        continue;
                if (v->waiting_since == 0)
                        v->waiting_since = nowm;
                if (!v->waiting_emitted)
                        emit(r, d->name, "service_waiting",
                             json_pack("{s:s, s:s, s:s}", "service", name, "dependency", dep,
                                       "condition", cond));
                if (nowm - v->waiting_since < timeout) {
                        open = false;
                        next_deadline = MIN(next_deadline, v->waiting_since + timeout);
                        continue;
                }
                if (asprintf(&m, "service '%s': dependency '%s' not %s after %" PRIu64 "%s", name,
                             dep, cond,
                             timeout % USEC_PER_SEC == 0 ? timeout / USEC_PER_SEC
                                                         : timeout / USEC_PER_MSEC,
                             timeout % USEC_PER_SEC == 0 ? "s" : "ms") < 0)
                        m = NULL;
                if (streq(on_timeout, "fail")) {
                        deployment_fail(r, d->name, name, -1, m ?: "dependency timed out");
                        open = false;
                        next_deadline = UINT64_MAX;
                        break;
                }
                if (streq(on_timeout, "warn"))
                        emit(r, d->name, "warning",
                             json_pack("{s:s, s:s}", "service", name, "message", m ?: ""));
                /* warn and continue: go on as if met (this entry only) */
        }
        /* entries warned about must not warn again: once every entry is met or past its
         * timeout the gate stays open */
        v->waiting_emitted = v->waiting_emitted || !open || v->waiting_since != 0;
        if (open) {
                v->gate_open = true;
                v->timer = sd_event_source_disable_unref(v->timer);
                return true;
        }
        if (next_deadline != UINT64_MAX) {
                v->timer = sd_event_source_disable_unref(v->timer);
                (void) sd_event_add_time(r->event, &v->timer, CLOCK_MONOTONIC, next_deadline, 0,
                                         depends_timer_cb, v);
        }
        return false;
}

/* The replica record the slot should have now, as replica_put fields (without op and time). */
static json_t *slot_record(Slot *s, const SchedDeployment *d, SchedReconciler *r) {
        Instance *i = s->cur;
        SchedReplicaState st;
        SchedReplicaHealth h = SCHED_HEALTH_UNKNOWN;

        if (s->failed)
                st = SCHED_REPLICA_FAILED;
        else if (!i)
                st = SCHED_REPLICA_PENDING;
        else
                switch (i->phase) {
                case PHASE_CREATING:
                case PHASE_INIT:
                case PHASE_IDLE:
                        st = SCHED_REPLICA_CREATING;
                        break;
                case PHASE_STARTING:
                case PHASE_ATTACHING:
                        st = SCHED_REPLICA_STARTING;
                        break;
                case PHASE_RUNNING:
                        st = SCHED_REPLICA_RUNNING;
                        break;
                case PHASE_EXITED:
                        st = SCHED_REPLICA_FAILED;
                        break;
                default:
                        st = SCHED_REPLICA_STOPPING;
                        break;
                }
        if (!s->failed && st != SCHED_REPLICA_RUNNING && s->quick_exits >= CRASHLOOP_EXITS)
                st = SCHED_REPLICA_CRASHLOOP;
        if (i && i->phase == PHASE_RUNNING)
                h = i->health == SCHED_RHEALTH_HEALTHY     ? SCHED_HEALTH_HEALTHY
                    : i->health == SCHED_RHEALTH_UNHEALTHY ? SCHED_HEALTH_UNHEALTHY
                                                           : SCHED_HEALTH_STARTING;

        return json_pack("{s:s, s:s, s:i, s:s, s:s, s:I, s:s, s:s, s:s, s:i, s:s}", "deployment",
                         s->deployment, "service", s->service, "index", (int) s->index, "node",
                         r->node_id, "container_id", i && i->id ? i->id : "", "generation",
                         (json_int_t) (i ? i->generation : d->generation), "state",
                         sched_replica_state_to_string(st), "health",
                         sched_replica_health_to_string(h), "ip",
                         i && i->ip && i->phase == PHASE_RUNNING ? i->ip : "", "restarts",
                         (int) s->restarts, "message", s->message ?: "");
}

static void slot_write_record(Slot *s, const SchedState *state, const SchedDeployment *d) {
        SchedReconciler *r = s->r;
        _cleanup_(json_decrefp) json_t *want = slot_record(s, d, r), *have = NULL, *cmd = NULL;
        const SchedReplica *rec =
                sched_state_get_replica(state, s->deployment, s->service, s->index);
        const char *k;
        json_t *v;

        if (!want)
                return;
        if (rec && sched_replica_to_json(rec, &have) >= 0) {
                bool same = true;

                json_object_foreach (want, k, v)
                        if (!json_equal(v, json_object_get(have, k))) {
                                same = false;
                                break;
                        }
                if (same) {
                        s->last_put = (json_decref(s->last_put), NULL);
                        return;
                }
        }
        if (s->last_put && json_equal(s->last_put, want))
                return; /* in flight */
        cmd = json_deep_copy(want);
        if (!cmd || json_object_set_new(cmd, "op", json_string("replica_put")) < 0 ||
            json_object_set_new(cmd, "time", json_integer((json_int_t) realtime_usec())) < 0)
                return;
        if (submit(r, cmd, s->deployment, s->service, s->index) >= 0) {
                json_decref(s->last_put);
                s->last_put = TAKE_PTR(want);
        }
}

/* Retires the slot's containers (scale down, service or deployment gone, stopping); true when
 * nothing of it remains. */
static bool slot_empty_out(Slot *s, unsigned stop_timeout) {
        s->timer = sd_event_source_disable_unref(s->timer);
        s->waiting_restart = false;
        if (s->cur) {
                s->cur->stop_timeout_sec = stop_timeout;
                instance_retire(s->cur, true);
        }
        if (s->next) {
                s->next->stop_timeout_sec = stop_timeout;
                instance_retire(s->next, true);
        }
        for (size_t k = 0; k < s->r->n_dying; k++) {
                Instance *i = s->r->dying[k];

                if (i->index == s->index && streq(i->service, s->service) &&
                    streq(i->deployment, s->deployment))
                        return false;
        }
        return true;
}

/* Whether a retired container of the replica with this config (so with the name a new one
 * would get) still exists: the new one waits for its removal. */
static bool slot_name_busy(Slot *s, const char *hash) {
        for (size_t k = 0; k < s->r->n_dying; k++) {
                Instance *i = s->r->dying[k];

                if (i->index == s->index && streq(i->service, s->service) &&
                    streq(i->deployment, s->deployment) && streq_ptr(i->hash, hash))
                        return true;
        }
        return false;
}

/* Drives one replica of a service that wants it. */
static void slot_reconcile(Slot *s, const SchedState *state, const SchedDeployment *d,
                           const json_t *svc, const char *hash, bool gate_open, bool may_replace) {
        Instance *i;

        s->excess = false;
        s->delete_submitted = false;
        if (s->failed && !streq_ptr(s->failed_hash, hash)) {
                /* A new config: the failed replica gets another chance. */
                s->failed = false;
                s->init_failures = 0;
                s->quick_exits = 0;
                slot_set_message(s, "");
                if (s->cur)
                        instance_retire(s->cur, false);
        }
        if (s->next && !streq_ptr(s->next->hash, hash))
                /* replacing with a config that is not current any more */
                instance_retire(s->next, false);
        if (!s->cur && !s->failed) {
                Known *c = slot_find_adoptable(s, hash);

                if (c)
                        slot_adopt(s, c, svc, state);
        }
        i = s->cur;
        if (i && i->phase == PHASE_RUNNING && streq_ptr(i->hash, hash))
                /* Same containers: scale, endpoints or depends changed at most. */
                i->generation = d->generation;

        if (!s->cur && !s->failed && !s->waiting_restart && gate_open && !slot_name_busy(s, hash))
                slot_create(s, d, svc, hash, false);
        else if (s->cur && s->cur->phase == PHASE_RUNNING && !streq_ptr(s->cur->hash, hash) &&
                 !s->failed) {
                if (s->cur->health != SCHED_RHEALTH_HEALTHY && !s->next) {
                        /* Nothing served by it: replaced in place. */
                        s->cur->stop_timeout_sec = service_stop_timeout(svc, NULL);
                        instance_retire(s->cur, true);
                        if (!s->waiting_restart && !slot_name_busy(s, hash))
                                slot_create(s, d, svc, hash, false);
                } else if (!s->next && may_replace && !s->waiting_restart &&
                           !streq_ptr(s->failed_hash, hash) && !slot_name_busy(s, hash))
                        slot_create(s, d, svc, hash, true);
        }
        if (s->next && s->next->phase == PHASE_RUNNING &&
            s->next->health == SCHED_RHEALTH_HEALTHY) {
                /* The replacement serves: the routes move to it, then the old one stops (it
                 * waits in the dying list until the proxy has the new routes). */
                Instance *old = s->cur;

                s->cur = s->next;
                s->next = NULL;
                slot_set_message(s, "");
                if (old) {
                        old->stop_timeout_sec = service_stop_timeout(svc, NULL);
                        instance_retire(old, true);
                }
        }
        slot_write_record(s, state, d);
}

static void reconcile_service(SchedReconciler *r, const SchedState *state, const SchedDeployment *d,
                              DeploymentRt *drt, const char *name, const json_t *svc,
                              json_t *status_services, bool *all_ready, bool *any_unhealthy) {
        _cleanup_free_ const SchedReplica **recs = NULL;
        _cleanup_free_ char *hash = NULL;
        ServiceRt *v = service_rt(r, d->name, name, true);
        uint32_t desired = sched_service_replicas(svc, d, name);
        ServiceCounts c;
        bool gate, may_replace = true;
        size_t n = 0;

        if (!v || sched_container_config_hash(svc, &hash) < 0)
                return;
        v->seen = r->pass_serial;
        if (v->generation != d->generation) {
                v->generation = d->generation;
                /* depends gating is per rollout, except for a service already running */
        }
        if (v->last_desired >= 0 && (uint32_t) v->last_desired != desired)
                emit(r, d->name, "service_scaling",
                     json_pack("{s:s, s:i, s:i}", "service", name, "from", (int) v->last_desired,
                               "to", (int) desired));
        v->last_desired = desired;

        for (uint32_t k = 0; k < desired; k++)
                if (!slot_find(r, d->name, name, k))
                        (void) slot_new(r, d->name, name, k,
                                        sched_state_get_replica(state, d->name, name, k));
        if (sched_state_list_replicas(state, d->name, name, &recs, &n) >= 0)
                for (size_t k = 0; k < n; k++)
                        if (!slot_find(r, d->name, name, recs[k]->index))
                                (void) slot_new(r, d->name, name, recs[k]->index, recs[k]);
        for (size_t k = 0; k < r->n_known; k++) {
                Known *kc = &r->known[k];

                if (kc->valid && streq(kc->deployment, d->name) && streq(kc->service, name) &&
                    !slot_find(r, d->name, name, kc->index) && !id_claimed(r, kc->id))
                        (void) slot_new(r, d->name, name, kc->index, NULL);
        }

        /* a service that has containers already passed its gate (adopted after a restart) */
        for (size_t k = 0; k < r->n_slots && !v->gate_open; k++) {
                Slot *s = r->slots[k];

                if (streq(s->deployment, d->name) && streq(s->service, name) && s->cur)
                        v->gate_open = true;
        }
        gate = drt->failed_message ? v->gate_open : service_gate(r, d, drt->spec, name, svc, v);

        /* one replacement at a time per service */
        for (size_t k = 0; k < r->n_slots; k++) {
                Slot *s = r->slots[k];

                if (streq(s->deployment, d->name) && streq(s->service, name) && s->next)
                        may_replace = false;
        }
        /* ... and the replaced container stopped (its drain over) before the next one, so that
         * a service never runs more than one container beyond its count */
        for (size_t k = 0; k < r->n_dying && may_replace; k++)
                if (r->dying[k]->running && streq(r->dying[k]->deployment, d->name) &&
                    streq(r->dying[k]->service, name))
                        may_replace = false;
        for (size_t k = 0; k < r->n_slots; k++) {
                Slot *s = r->slots[k];

                if (!streq(s->deployment, d->name) || !streq(s->service, name))
                        continue;
                s->seen = r->pass_serial;
                if (s->index >= desired) {
                        s->excess = true;
                        continue;
                }
                slot_reconcile(s, state, d, svc, hash, gate, may_replace);
                if (s->next)
                        may_replace = false;
        }

        service_counts(r, d->name, name, desired, hash, &c);
        if (c.healthy < c.desired || c.replacing)
                *all_ready = false;
        if (c.healthy < c.desired)
                *any_unhealthy = true;
        json_t *o = json_pack("{s:i, s:i, s:i}", "desired", (int) c.desired, "running",
                              (int) c.running, "healthy", (int) c.healthy);
        if (o && !gate && !v->gate_open)
                json_object_set_new(o, "message", json_string("waiting for dependencies"));
        if (o)
                json_object_set_new(status_services, name, o);
}

static int deployment_rt_update(DeploymentRt *drt, const SchedDeployment *d) {
        json_t *spec;

        if (drt->spec && drt->generation == d->generation)
                return 0;
        spec = json_loads(d->spec, 0, NULL);
        if (!spec)
                return -EINVAL;
        json_decref(drt->spec);
        drt->spec = spec;
        drt->generation = d->generation;
        drt->failed_message = mfree(drt->failed_message);
        drt->failed_service = mfree(drt->failed_service);
        drt->reached_ready =
                (d->status == SCHED_DEPLOYMENT_READY || d->status == SCHED_DEPLOYMENT_DEGRADED);
        drt->delete_submitted = false;
        return 0;
}

static void deployment_write_status(SchedReconciler *r, const SchedDeployment *d, DeploymentRt *drt,
                                    const char *status, const char *message, json_t *services) {
        _cleanup_(json_decrefp) json_t *want = NULL, *cmd = NULL, *event_data = NULL;
        SchedDeploymentStatus st = sched_deployment_status_from_string(status);
        const char *event = NULL;

        if (!streq_ptr(drt->last_status, status)) {
                char *c = strdup(status);

                if (c) {
                        free_and_replace(drt->last_status, c);
                        /* "deploying" is Scheduler1.Deploy's own event, sent when the new
                         * generation is committed. */
                        event = status;
                        if (streq(status, "degraded"))
                                event_data =
                                        json_pack("{s:I, s:s}", "generation",
                                                  (json_int_t) d->generation, "message", message);
                        else if (streq(status, "failed")) {
                                event_data = json_pack(
                                        "{s:I, s:s, s:s}", "generation", (json_int_t) d->generation,
                                        "service", drt->failed_service ?: "", "message", message);
                                if (event_data && drt->failed_replica >= 0)
                                        json_object_set_new(event_data, "replica",
                                                            json_integer(drt->failed_replica));
                        } else if (streq(status, "ready"))
                                event_data = json_pack("{s:I}", "generation",
                                                       (json_int_t) d->generation);
                        else
                                event = NULL;
                }
        }

        want = json_pack("{s:s, s:s, s:O}", "status", status, "message", message, "services",
                         services);
        if (!want)
                return;
        if (d->status == st && streq(d->message, message) && json_equal(d->services, services)) {
                drt->last_submitted = (json_decref(drt->last_submitted), NULL);
                /* Already the state's: the event can go now. */
                if (event)
                        emit(r, d->name, event, TAKE_PTR(event_data));
                return;
        }
        if (drt->last_submitted && json_equal(drt->last_submitted, want)) {
                if (event)
                        emit(r, d->name, event, TAKE_PTR(event_data));
                return;
        }
        cmd = json_pack("{s:s, s:s, s:s, s:s, s:O, s:I, s:I}", "op", "deployment_status", "name",
                        d->name, "status", status, "message", message, "services", services,
                        "generation", (json_int_t) d->generation, "time",
                        (json_int_t) realtime_usec());
        if (cmd && submit_with_event(r, cmd, d->name, NULL, -1, event, TAKE_PTR(event_data)) >= 0) {
                json_decref(drt->last_submitted);
                drt->last_submitted = TAKE_PTR(want);
        }
}

static bool deployment_has_leftovers(SchedReconciler *r, const char *name) {
        for (size_t k = 0; k < r->n_slots; k++)
                if (streq(r->slots[k]->deployment, name))
                        return true;
        for (size_t k = 0; k < r->n_dying; k++)
                if (streq(r->dying[k]->deployment, name))
                        return true;
        for (size_t k = 0; k < r->n_known; k++)
                if (r->known[k].valid && streq(r->known[k].deployment, name))
                        return true;
        return false;
}

static void reconcile_stopping(SchedReconciler *r, const SchedState *state,
                               const SchedDeployment *d, DeploymentRt *drt) {
        _cleanup_free_ const SchedReplica **recs = NULL;
        size_t n = 0;

        /* Every record's replica becomes a slot to empty, so its record is deleted. */
        if (sched_state_list_replicas(state, d->name, NULL, &recs, &n) >= 0)
                for (size_t k = 0; k < n; k++)
                        if (!slot_find(r, d->name, recs[k]->service, recs[k]->index))
                                (void) slot_new(r, d->name, recs[k]->service, recs[k]->index,
                                                recs[k]);
        for (size_t k = 0; k < r->n_known; k++) {
                Known *kc = &r->known[k];

                if (kc->valid && streq(kc->deployment, d->name) && !id_claimed(r, kc->id) &&
                    !slot_find(r, d->name, kc->service, kc->index))
                        (void) slot_new(r, d->name, kc->service, kc->index, NULL);
        }
        for (size_t k = 0; k < r->n_slots; k++) {
                Slot *s = r->slots[k];

                if (!streq(s->deployment, d->name))
                        continue;
                s->excess = true;
                s->seen = r->pass_serial;
                if (!s->cur) {
                        Known *c = slot_find_adoptable(s, NULL);

                        if (c)
                                slot_adopt(s, c, spec_service(drt->spec, s->service), state);
                }
        }
        if (n == 0 && !deployment_has_leftovers(r, d->name) && !drt->delete_submitted) {
                _cleanup_(json_decrefp) json_t *cmd =
                        json_pack("{s:s, s:s, s:I}", "op", "deployment_delete", "name", d->name,
                                  "expected_generation", (json_int_t) d->generation);

                if (cmd && submit(r, cmd, d->name, NULL, -1) >= 0)
                        drt->delete_submitted = true;
        }
}

static void reconcile_deployment(SchedReconciler *r, const SchedState *state,
                                 const SchedDeployment *d) {
        _cleanup_(json_decrefp) json_t *services = NULL;
        DeploymentRt *drt = deployment_rt(r, d->name, true);
        const char *status, *message = "";
        _cleanup_free_ char *waiting = NULL;
        bool all_ready = true, any_unhealthy = false;
        json_t *svcs, *svc;
        const char *name;

        if (!drt || deployment_rt_update(drt, d) < 0)
                return;
        drt->seen = r->pass_serial;
        if (d->status == SCHED_DEPLOYMENT_STOPPING) {
                reconcile_stopping(r, state, d, drt);
                return;
        }
        services = json_object();
        if (!services)
                return;
        svcs = json_object_get(drt->spec, "services");
        json_object_foreach (svcs, name, svc) {
                if (!streq(service_rtype(svc), "service"))
                        continue;
                reconcile_service(r, state, d, drt, name, svc, services, &all_ready,
                                  &any_unhealthy);
        }

        if (drt->failed_message) {
                status = "failed";
                message = drt->failed_message;
        } else if (all_ready) {
                status = "ready";
                drt->reached_ready = true;
        } else if (drt->reached_ready && any_unhealthy) {
                status = "degraded";
                message = "some replicas are not healthy";
        } else {
                status = "deploying";
                /* Name a replica whose health check has not passed yet, and why. */
                for (size_t k = 0; k < r->n_slots && !waiting; k++) {
                        Slot *s = r->slots[k];
                        Instance *i = s->next && s->next->health_reason ? s->next : s->cur;

                        if (streq(s->deployment, d->name) && i && i->health_reason &&
                            asprintf(&waiting,
                                     "service '%s' replica %" PRIu32
                                     ": health check not passing yet: %s",
                                     s->service, s->index, i->health_reason) < 0)
                                waiting = NULL;
                }
                message = waiting ?: "";
        }
        deployment_write_status(r, d, drt, status, message, services);
}

/* Containers of ours that no replica uses: left by a crash, by deleted deployments, by old
 * replacements. */
static void remove_orphans(SchedReconciler *r) {
        for (size_t k = 0; k < r->n_known; k++) {
                Known *c = &r->known[k];
                Instance *i;

                if (c->job || id_claimed(r, c->id))
                        continue;
                i = calloc(1, sizeof(*i));
                if (!i)
                        return;
                i->r = r;
                i->id = strdup(c->id);
                i->deployment = strdup(c->deployment ?: "");
                i->service = strdup(c->service ?: "");
                i->index = c->index;
                i->running = streq(c->state, "running") || streq(c->state, "paused");
                i->stop_timeout_sec = 10;
                if (!i->id || !i->deployment || !i->service) {
                        instance_free(i);
                        return;
                }
                instance_retire(i, false);
        }
}

/* The proxy's routes leave the retired instance out: requests already sent to it get the drain
 * time to end before it is stopped. */
static void instance_left_routes(Instance *i) {
        if (!i->wait_routes)
                return;
        i->wait_routes = false;
        if (i->running && i->r->drain_usec > 0)
                i->drain_until = monotonic_usec() + i->r->drain_usec;
}

static void on_routes_set(int rr, const char *error, void *userdata) {
        Call *c = userdata;
        SchedReconciler *r = c->r;

        r->routes_call = mfree(r->routes_call);
        if (rr >= 0) {
                free(r->routes_ok);
                r->routes_ok = TAKE_PTR(r->routes_pending);
                for (size_t j = 0; j < r->n_dying; j++)
                        if (r->dying[j]->mark_serial <= r->routes_call_serial)
                                instance_left_routes(r->dying[j]);
        } else
                /* sent again by the next pass (the resync timer makes one) */
                r->routes_pending = mfree(r->routes_pending);
        schedule_pass(r);
}

/* The routes of every deployment that is not stopping, with the healthy replicas. */
static void routes_update(SchedReconciler *r, const SchedState *state) {
        _cleanup_free_ const SchedDeployment **ds = NULL;
        _cleanup_(json_decrefp) json_t *arr = json_array();
        _cleanup_free_ char *text = NULL;
        size_t n = 0;
        Call *c;
        int k;

        if (!arr || sched_state_list_deployments(state, &ds, &n) < 0)
                return;
        for (size_t j = 0; j < n; j++) {
                DeploymentRt *drt = deployment_rt(r, ds[j]->name, false);
                json_t *backends, *o;

                if (ds[j]->status == SCHED_DEPLOYMENT_STOPPING || !drt || !drt->spec)
                        continue;
                backends = json_object();
                o = json_pack("{s:s, s:O, s:o}", "name", ds[j]->name, "spec", drt->spec, "backends",
                              backends);
                if (!o || json_array_append_new(arr, o) < 0)
                        return;
                for (size_t m = 0; m < r->n_slots; m++) {
                        Slot *s = r->slots[m];
                        json_t *list;

                        if (!streq(s->deployment, ds[j]->name) || !s->cur || s->excess ||
                            s->cur->phase != PHASE_RUNNING ||
                            s->cur->health != SCHED_RHEALTH_HEALTHY || !s->cur->ip || !*s->cur->ip)
                                continue;
                        list = json_object_get(backends, s->service);
                        if (!list) {
                                list = json_array();
                                if (!list || json_object_set_new(backends, s->service, list) < 0)
                                        return;
                        }
                        if (json_array_append_new(list, json_string(s->cur->ip)) < 0)
                                return;
                }
        }
        if (sched_routes_build(arr, r->public_address, r->node_address, &text) < 0)
                return;
        if (r->routes_call)
                return; /* the next pass sends what is right once this one ended */
        if (streq_ptr(text, r->routes_ok)) {
                /* what the proxy has already leaves every retired instance out */
                for (size_t j = 0; j < r->n_dying; j++)
                        if (r->dying[j]->mark_serial <= r->serial)
                                instance_left_routes(r->dying[j]);
                return;
        }
        c = calloc(1, sizeof(*c));
        if (!c)
                return;
        c->r = r;
        r->routes_call = c;
        k = r->backends.set_routes(r->backends.userdata, ROUTES_OWNER, text, on_routes_set, c);
        if (k < 0) {
                r->routes_call = mfree(r->routes_call);
                return;
        }
        r->routes_call_serial = r->serial;
        free(r->routes_pending);
        r->routes_pending = TAKE_PTR(text);
}

static void pass_run(const SchedState *state, void *userdata) {
        SchedReconciler *r = userdata;
        _cleanup_free_ const SchedDeployment **ds = NULL;
        size_t n = 0;

        r->n_passes++;
        r->pass_serial++;
        if (!r->leader || !r->listed)
                return;
        if (!sched_state_get_node(state, r->node_id)) {
                if (!r->node_submitted) {
                        _cleanup_(json_decrefp) json_t *cmd = json_pack(
                                "{s:s, s:s, s:s, s:I}", "op", "node_upsert", "id", r->node_id,
                                "address", r->node_address, "time", (json_int_t) realtime_usec());

                        if (cmd && submit(r, cmd, NULL, NULL, -1) >= 0)
                                r->node_submitted = true;
                }
                return;
        }
        if (sched_state_list_deployments(state, &ds, &n) < 0)
                return;
        for (size_t k = 0; k < n; k++)
                reconcile_deployment(r, state, ds[k]);

        /* Slots no deployment wants any more: scale down, removed services and deployments. */
        for (size_t k = 0; k < r->n_slots; k++) {
                Slot *s = r->slots[k];

                if (s->seen != r->pass_serial)
                        s->excess = true;
        }
        for (size_t k = r->n_slots; k > 0; k--) {
                Slot *s = r->slots[k - 1];
                const SchedDeployment *d = sched_state_get_deployment(state, s->deployment);
                const json_t *svc = slot_service_spec(s);
                const SchedReplica *rec;

                if (!s->excess)
                        continue;
                if (!slot_empty_out(s, service_stop_timeout(svc, d)))
                        continue;
                rec = sched_state_get_replica(state, s->deployment, s->service, s->index);
                if (!s->stopped_event && d) {
                        s->stopped_event = true;
                        emit(r, s->deployment, "replica_stopped",
                             json_pack("{s:s, s:i}", "service", s->service, "replica",
                                       (int) s->index));
                }
                if (rec && !s->delete_submitted) {
                        _cleanup_(json_decrefp) json_t *cmd = json_pack(
                                "{s:s, s:s, s:s, s:i}", "op", "replica_delete", "deployment",
                                s->deployment, "service", s->service, "index", (int) s->index);

                        if (cmd && submit(r, cmd, s->deployment, s->service, s->index) >= 0)
                                s->delete_submitted = true;
                } else if (!rec)
                        slot_drop(r, s);
        }
        for (size_t k = r->n_services; k > 0; k--)
                if (r->services[k - 1]->seen != r->pass_serial &&
                    !sched_state_get_deployment(state, r->services[k - 1]->deployment)) {
                        ServiceRt *v = r->services[k - 1];

                        ptr_array_remove((void **) r->services, &r->n_services, v);
                        service_rt_free(v);
                }
        for (size_t k = r->n_deployments; k > 0; k--)
                if (!sched_state_get_deployment(state, r->deployments[k - 1]->name) &&
                    !deployment_has_leftovers(r, r->deployments[k - 1]->name)) {
                        DeploymentRt *d = r->deployments[k - 1];

                        ptr_array_remove((void **) r->deployments, &r->n_deployments, d);
                        deployment_rt_free(d);
                }

        remove_orphans(r);
        routes_update(r, state);
        for (size_t k = r->n_dying; k > 0; k--)
                if (k <= r->n_dying)
                        instance_advance_dying(r->dying[k - 1]);
}

static void on_list(int rr, const char *error, const SchedContainerInfo *c, size_t n,
                    void *userdata) {
        Call *call = userdata;
        SchedReconciler *r = call->r;
        Known *known;

        r->list_call = mfree(r->list_call);
        if (rr < 0) {
                /* the resync timer tries again */
                schedule_pass(r);
                return;
        }
        known = calloc(MAX(n, 1U), sizeof(Known));
        if (!known)
                return;
        for (size_t k = 0; k < n; k++)
                if (known_fill(&known[k], &c[k]) < 0) {
                        for (size_t j = 0; j <= k; j++)
                                known_done(&known[j]);
                        free(known);
                        return;
                }
        known_clear(r);
        r->known = known;
        r->n_known = n;

        /* What the signals missed: containers that exited or vanished. */
        for (size_t k = 0; k < r->n_slots; k++) {
                Slot *s = r->slots[k];
                Instance *is[2] = { s->cur, s->next };

                for (size_t j = 0; j < 2; j++) {
                        Instance *i = is[j];
                        Known *kc;

                        if (!i || !i->id || i->call || i->phase != PHASE_RUNNING ||
                            i->run_serial > r->list_serial)
                                continue;
                        kc = known_find(r, i->id);
                        if (!kc)
                                instance_exited(i, -1, "container vanished");
                        else if (streq(kc->state, "exited"))
                                instance_exited(i, kc->exit_code, NULL);
                }
        }
        for (size_t k = r->n_dying; k > 0; k--) {
                Instance *i = r->dying[k - 1];

                if (i->id && !i->call && i->phase != PHASE_CREATING &&
                    i->mark_serial <= r->list_serial && !known_find(r, i->id)) {
                        ptr_array_remove((void **) r->dying, &r->n_dying, i);
                        instance_free(i);
                }
        }
        r->listed = true;
        schedule_pass(r);
}

static int list_start(SchedReconciler *r) {
        Call *c;
        int k;

        if (r->list_call)
                return 0;
        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->r = r;
        r->list_call = c;
        r->list_serial = r->serial;
        k = r->backends.list(r->backends.userdata, SCHED_LABEL_DEPLOYMENT, on_list, c);
        if (k < 0)
                r->list_call = mfree(r->list_call);
        return k;
}

static int pass_defer_cb(sd_event_source *es, void *userdata) {
        SchedReconciler *r = userdata;

        r->store.read(r->store.userdata, pass_run, r);
        return 0;
}

static void schedule_pass(SchedReconciler *r) {
        if (!r->started)
                return;
        if (!r->defer) {
                if (sd_event_add_defer(r->event, &r->defer, pass_defer_cb, r) < 0)
                        return;
        }
        (void) sd_event_source_set_enabled(r->defer, SD_EVENT_ONESHOT);
}

static int resync_cb(sd_event_source *es, uint64_t usec, void *userdata) {
        SchedReconciler *r = userdata;

        if (r->leader)
                (void) list_start(r);
        schedule_pass(r);
        (void) sd_event_source_set_time_relative(es, r->resync_usec);
        (void) sd_event_source_set_enabled(es, SD_EVENT_ON);
        return 0;
}

/* Forgets everything this process did or knew, the containers staying as they are. */
static void forget_all(SchedReconciler *r) {
        if (r->list_call) {
                if (r->backends.cancel)
                        r->backends.cancel(r->backends.userdata, r->list_call);
                r->list_call = mfree(r->list_call);
        }
        if (r->routes_call) {
                if (r->backends.cancel)
                        r->backends.cancel(r->backends.userdata, r->routes_call);
                r->routes_call = mfree(r->routes_call);
        }
        for (size_t k = 0; k < r->n_slots; k++)
                slot_free(r->slots[k]);
        r->slots = mfree(r->slots);
        r->n_slots = 0;
        for (size_t k = 0; k < r->n_dying; k++)
                instance_free(r->dying[k]);
        r->dying = mfree(r->dying);
        r->n_dying = 0;
        for (size_t k = 0; k < r->n_services; k++)
                service_rt_free(r->services[k]);
        r->services = mfree(r->services);
        r->n_services = 0;
        for (size_t k = 0; k < r->n_deployments; k++)
                deployment_rt_free(r->deployments[k]);
        r->deployments = mfree(r->deployments);
        r->n_deployments = 0;
        known_clear(r);
        r->routes_ok = mfree(r->routes_ok);
        r->routes_pending = mfree(r->routes_pending);
        r->listed = false;
        r->node_submitted = false;
}

int sched_reconciler_new(sd_event *event, const SchedReconcilerConfig *config,
                         const SchedBackends *backends, const SchedStore *store,
                         SchedEventFn event_cb, void *userdata, SchedReconciler **ret) {
        _cleanup_(sched_reconciler_freep) SchedReconciler *r = NULL;

        if (!event || !config || !backends || !store || !ret || !config->node_id ||
            !config->node_address || !backends->create || !backends->start || !backends->stop ||
            !backends->remove || !backends->list || !backends->exec || !backends->set_routes ||
            !store->submit || !store->read || !store->is_leader)
                return -EINVAL;
        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->event = sd_event_ref(event);
        r->backends = *backends;
        r->store = *store;
        r->event_cb = event_cb;
        r->userdata = userdata;
        r->node_id = strdup(config->node_id);
        r->node_address = strdup(config->node_address);
        r->public_address = strdup(config->public_address ?: "0.0.0.0");
        if (!r->node_id || !r->node_address || !r->public_address)
                return -ENOMEM;
        for (char *const *e = config->environ; e && *e; e++)
                if (strv_extend(&r->environ, *e) < 0)
                        return -ENOMEM;
        if (!r->environ) {
                r->environ = calloc(1, sizeof(char *));
                if (!r->environ)
                        return -ENOMEM;
        }
        r->resync_usec = config->resync_usec ?: RESYNC_USEC_DEFAULT;
        r->health_deadline_usec = config->health_deadline_usec ?: HEALTH_DEADLINE_USEC_DEFAULT;
        r->drain_usec = config->drain_usec ?: DRAIN_USEC_DEFAULT;
        r->backoff_base_usec = config->backoff_base_usec;
        r->backoff_cap_usec = config->backoff_cap_usec;
        r->init_poll_usec = config->init_poll_usec;
        *ret = TAKE_PTR(r);
        return 0;
}

SchedReconciler *sched_reconciler_free(SchedReconciler *r) {
        if (!r)
                return NULL;
        forget_all(r);
        /* Commands in flight end later: their records free themselves then. */
        for (Submit *s = r->submits; s; s = s->next)
                s->r = NULL;
        r->submits = NULL;
        sd_event_source_disable_unref(r->defer);
        sd_event_source_disable_unref(r->resync);
        sd_event_unref(r->event);
        free(r->node_id);
        free(r->node_address);
        free(r->public_address);
        strv_free(r->environ);
        return mfree(r);
}

int sched_reconciler_start(SchedReconciler *r) {
        int k;

        if (!r)
                return -EINVAL;
        if (r->started)
                return -EALREADY;
        k = sd_event_add_time_relative(r->event, &r->resync, CLOCK_MONOTONIC, r->resync_usec, 0,
                                       resync_cb, r);
        if (k < 0)
                return k;
        r->started = true;
        r->leader = r->store.is_leader(r->store.userdata);
        if (r->leader) {
                k = list_start(r);
                if (k < 0)
                        return k;
        }
        return 0;
}

void sched_reconciler_state_changed(SchedReconciler *r) {
        if (r)
                schedule_pass(r);
}

void sched_reconciler_container_changed(SchedReconciler *r, const char *id, const char *state,
                                        int exit_code) {
        Known *kc;

        if (!r || !id || !state)
                return;
        kc = known_find(r, id);
        if (kc) {
                set_str(&kc->state, state);
                kc->exit_code = exit_code;
        }
        for (size_t k = 0; k < r->n_slots; k++) {
                Slot *s = r->slots[k];
                Instance *is[2] = { s->cur, s->next };

                for (size_t j = 0; j < 2; j++) {
                        Instance *i = is[j];

                        if (!i || !streq_ptr(i->id, id))
                                continue;
                        if (streq(state, "exited") &&
                            (i->phase == PHASE_STARTING || i->phase == PHASE_ATTACHING ||
                             i->phase == PHASE_RUNNING)) {
                                i->phase = PHASE_RUNNING;
                                instance_exited(i, exit_code, NULL);
                        }
                        schedule_pass(r);
                        return;
                }
        }
        for (size_t k = 0; k < r->n_dying; k++)
                if (streq_ptr(r->dying[k]->id, id) && streq(state, "exited"))
                        r->dying[k]->running = false;
        schedule_pass(r);
}

void sched_reconciler_role_changed(SchedReconciler *r, bool leader) {
        if (!r || leader == r->leader)
                return;
        r->leader = leader;
        forget_all(r);
        if (leader && r->started)
                (void) list_start(r);
}

const char *sched_reconciler_replica_message(SchedReconciler *r, const char *deployment,
                                             const char *service, uint32_t index) {
        Slot *s;

        if (!r || !deployment || !service)
                return NULL;
        s = slot_find(r, deployment, service, index);
        if (!s || !s->message || !*s->message)
                return NULL;
        return s->message;
}

uint64_t sched_reconciler_get_n_passes(const SchedReconciler *r) {
        return r ? r->n_passes : 0;
}
