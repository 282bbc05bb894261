/* SPDX-License-Identifier: Apache-2.0 */
/* sched-bus.c: org.zlayer.Scheduler1: deployments, plans, scaling, jobs, and their signals. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus-error.h"
#include "bus-options.h"
#include "log.h"
#include "sched-bus.h"
#include "sched-container.h"
#include "sched-plan.h"
#include "string-util.h"
#include "time-util.h"
#include "zlayer/spec.h"

#define PORT_MAX 65535U
#define NO_GENERATION UINT64_MAX

static bool streq_ptr(const char *a, const char *b) {
        return a && b && streq(a, b);
}

static const char *empty_to_null(const char *s) {
        return isempty(s) ? NULL : s;
}

static int dump_compact(const json_t *j, char **ret) {
        char *t = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);

        if (!t)
                return -ENOMEM;
        *ret = t;
        return 0;
}

/* For the helpers that either let a handler go on (1) or answered the call themselves (0):
 * sd_bus_reply_method_error() returns 1 once sent. */
static int replied(int r) {
        return r < 0 ? r : 0;
}

static uint64_t wall_usec(void) {
        return now(CLOCK_REALTIME);
}

/* ---- errors -------------------------------------------------------------------------------- */

/* Replies to m for a submit that failed: Raft's own errors as Unavailable (naming the leader
 * when this server is not it), the state machine's refusals with their message. */
static int reply_submit_error(Scheduler *s, sd_bus_message *m, int r,
                              const SchedApplyResult *result) {
        const char *msg = result && result->message[0] ? result->message : NULL;

        switch (r) {
        case -EREMOTE: {
                _cleanup_free_ char *address = NULL;

                (void) sched_raft_get_leader(s->raft, &address);
                return zl_bus_reply_errnof(m, EHOSTUNREACH, "not the leader (leader: %s)",
                                           address ?: "unknown");
        }
        case -ECONNABORTED:
                return zl_bus_reply_errnof(m, EHOSTUNREACH,
                                           "leadership was lost during the change; read the "
                                           "state to know whether it was applied");
        case -ETIMEDOUT:
                return zl_bus_reply_errnof(m, EHOSTUNREACH,
                                           "no quorum: the change was not committed in time");
        case -ESHUTDOWN:
                return zl_bus_reply_errnof(m, EHOSTUNREACH, "zl-schedd is stopping");
        case -ESTALE:
        case -EEXIST:
                return zl_bus_reply_errnof(m, EBUSY, "%s (the state changed, retry)",
                                           msg ?: "generation mismatch");
        default:
                return zl_bus_reply_errnof(m, -r, "%s", msg ?: strerror(-r));
        }
}

/* A method that changes the state: only on the leader (the others name it). Returns 1 when
 * the call may go on, 0 when it was answered. */
static int check_leader_or_reply(Scheduler *s, sd_bus_message *m) {
        if (s->store.is_leader(s->store.userdata))
                return 1;
        return replied(reply_submit_error(s, m, -EREMOTE, NULL));
}

/* ---- submits with a reply ------------------------------------------------------------------ */

typedef void (*CallDoneFn)(Scheduler *s, sd_bus_message *m, const SchedApplyResult *result,
                           void *extra);

typedef struct Call {
        Scheduler *scheduler;
        sd_bus_message *message;
        CallDoneFn done; /* on success; NULL: an empty reply */
        char *extra;
} Call;

static void call_free(Call *c) {
        if (!c)
                return;
        sd_bus_message_unref(c->message);
        free(c->extra);
        free(c);
}

static void on_call_submitted(SchedRaft *raft, int error, const SchedApplyResult *result,
                              void *userdata) {
        Call *c = userdata;
        int r;

        (void) raft;
        if (error < 0)
                r = reply_submit_error(c->scheduler, c->message, error, result);
        else if (c->done) {
                c->done(c->scheduler, c->message, result, c->extra);
                r = 0;
        } else
                r = sd_bus_reply_method_return(c->message, NULL);
        if (r < 0)
                log_debug_errno(r, "Failed to reply to %s(), ignoring: %m",
                                sd_bus_message_get_member(c->message));
        call_free(c);
}

/* Submits cmd and answers m once it is committed. extra (taken, may be NULL) goes to done. */
static int submit_and_reply(Scheduler *s, sd_bus_message *m, json_t *cmd, CallDoneFn done,
                            char *extra) {
        _cleanup_free_ char *text = NULL;
        Call *c;
        int r;

        r = dump_compact(cmd, &text);
        if (r < 0) {
                free(extra);
                return r;
        }
        c = calloc(1, sizeof(Call));
        if (!c) {
                free(extra);
                return -ENOMEM;
        }
        *c = (Call){
                .scheduler = s,
                .message = sd_bus_message_ref(m),
                .done = done,
                .extra = extra,
        };
        r = sched_raft_submit(s->raft, text, on_call_submitted, c);
        if (r < 0) {
                call_free(c);
                return reply_submit_error(s, m, r, NULL);
        }
        return 1;
}

/* ---- specs --------------------------------------------------------------------------------- */

typedef struct SpecOptions {
        char *filename;
        uint32_t port_offset;
        uint64_t expected_generation; /* NO_GENERATION: not given */
} SpecOptions;

static void spec_options_done(SpecOptions *o) {
        free(o->filename);
}

static const ZlBusOption spec_options[] = {
        ZL_BUS_OPTION("filename", "s", zl_bus_option_string, SpecOptions, filename),
        ZL_BUS_OPTION("port_offset", "u", zl_bus_option_uint32, SpecOptions, port_offset),
        ZL_BUS_OPTION("expected_generation", "t", zl_bus_option_uint64, SpecOptions,
                      expected_generation),
        ZL_BUS_OPTION_IGNORED("traceparent", "s"),
};

/* Public endpoints listen port_offset higher. */
static int apply_port_offset(json_t *spec, uint32_t offset, char **ret_error) {
        const char *name;
        json_t *svc;

        if (offset == 0)
                return 0;
        json_object_foreach (json_object_get(spec, "services"), name, svc) {
                json_t *eps = json_object_get(svc, "endpoints"), *ep;
                size_t i;

                json_array_foreach (eps, i, ep) {
                        json_int_t port = json_integer_value(json_object_get(ep, "port"));

                        if (!streq_ptr(json_string_value(json_object_get(ep, "expose")), "public"))
                                continue;
                        if ((uint64_t) port + offset > PORT_MAX) {
                                if (asprintf(ret_error,
                                             "options: port_offset %" PRIu32
                                             " pushes services.%s.endpoints[%zu].port (%lld) "
                                             "past %u",
                                             offset, name, i, (long long) port, PORT_MAX) < 0)
                                        return -ENOMEM;
                                return -ERANGE;
                        }
                        if (json_object_set_new(ep, "port", json_integer(port + offset)) < 0)
                                return -ENOMEM;
                }
        }
        return 0;
}

/* Parses the spec of a Deploy or Plan: returns 1 with the canonical spec (port offset applied)
 * and its compact text, 0 after replying with the error. */
static int parse_spec_or_reply(sd_bus_message *m, const char *yaml, const SpecOptions *o,
                               json_t **ret_spec, char **ret_text) {
        _cleanup_(zl_diag_list_done) ZlDiagList diags = {};
        _cleanup_(json_decrefp) json_t *spec = NULL;
        _cleanup_free_ char *error = NULL, *text = NULL;
        const char *filename = isempty(o->filename) ? "spec.yaml" : o->filename;
        ZlSpec *parsed = NULL;
        int r;

        r = zl_spec_parse_string(yaml, strlen(yaml), filename, &parsed, &diags);
        if (r == -EINVAL) {
                _cleanup_free_ char *msg = NULL;

                for (size_t i = 0; i < diags.n_items; i++) {
                        const ZlDiag *d = &diags.items[i];

                        if (d->severity != ZL_DIAG_ERROR)
                                continue;
                        r = strextendf(&msg, "%s%s:%u:%u: %s: %s%s%s%s", msg ? "\n" : "", filename,
                                       d->line, d->column,
                                       isempty(d->path) ? "(document)" : d->path, d->message,
                                       d->hint ? " (" : "", strempty(d->hint), d->hint ? ")" : "");
                        if (r < 0)
                                return r;
                }
                return replied(
                        zl_bus_reply_errnof(m, EBADMSG, "%s", msg ?: "the spec does not validate"));
        }
        if (r < 0)
                return r;
        spec = json_deep_copy(zl_spec_get_json(parsed));
        zl_spec_unref(parsed);
        if (!spec)
                return -ENOMEM;
        r = apply_port_offset(spec, o->port_offset, &error);
        if (r == -ERANGE)
                return replied(zl_bus_reply_errnof(m, EINVAL, "%s", error));
        if (r < 0)
                return r;
        r = dump_compact(spec, &text);
        if (r < 0)
                return r;
        *ret_spec = TAKE_PTR(spec);
        *ret_text = TAKE_PTR(text);
        return 1;
}

/* ---- Deploy -------------------------------------------------------------------------------- */

typedef struct DeploymentSnapshot {
        const char *name;
        bool exists;
        uint64_t generation;
        SchedDeploymentStatus status;
        char *spec;
        json_t *replicas; /* service -> number of replica records */
} DeploymentSnapshot;

static void deployment_snapshot_done(DeploymentSnapshot *d) {
        free(d->spec);
        json_decref(d->replicas);
}

static void read_deployment_snapshot(const SchedState *st, void *userdata) {
        DeploymentSnapshot *ds = userdata;
        const SchedDeployment *d = sched_state_get_deployment(st, ds->name);
        _cleanup_free_ const SchedReplica **reps = NULL;
        size_t n = 0;

        if (!d)
                return;
        ds->exists = true;
        ds->generation = d->generation;
        ds->status = d->status;
        ds->spec = strdup(d->spec);
        ds->replicas = json_object();
        if (!ds->spec || !ds->replicas)
                return;
        if (sched_state_list_replicas(st, ds->name, NULL, &reps, &n) < 0)
                return;
        for (size_t i = 0; i < n; i++) {
                json_int_t c = json_integer_value(json_object_get(ds->replicas, reps[i]->service));

                (void) json_object_set_new(ds->replicas, reps[i]->service, json_integer(c + 1));
        }
}

static int read_snapshot(Scheduler *s, const char *name, DeploymentSnapshot *ret) {
        *ret = (DeploymentSnapshot){ .name = name };
        s->store.read(s->store.userdata, read_deployment_snapshot, ret);
        if (ret->exists && (!ret->spec || !ret->replicas))
                return -ENOMEM;
        return 0;
}

static void on_deployed(Scheduler *s, sd_bus_message *m, const SchedApplyResult *result,
                        void *extra) {
        _cleanup_(json_decrefp) json_t *data = NULL;
        const char *name = extra;
        int r;

        data = json_pack("{s:I}", "generation", (json_int_t) result->generation);
        if (data)
                (void) scheduler_emit_deployment_event(s, name, "deploying", data);
        r = sd_bus_reply_method_return(m, "st", name, result->generation);
        if (r < 0)
                log_debug_errno(r, "Failed to reply to Deploy(), ignoring: %m");
}

static int method_deploy(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(spec_options_done) SpecOptions o = { .expected_generation = NO_GENERATION };
        _cleanup_(deployment_snapshot_done) DeploymentSnapshot ds = {};
        _cleanup_(json_decrefp) json_t *spec = NULL, *cmd = NULL;
        _cleanup_free_ char *text = NULL, *name = NULL;
        Scheduler *s = userdata;
        const char *yaml;
        uint64_t expected;
        int r;

        (void) error;
        r = sd_bus_message_read(m, "s", &yaml);
        if (r < 0)
                return r;
        r = zl_bus_read_options_or_reply(m, "options", spec_options, ELEMENTSOF(spec_options), &o);
        if (r <= 0)
                return r;
        r = zl_bus_check_root(m, "deploy");
        if (r <= 0)
                return r;
        r = parse_spec_or_reply(m, yaml, &o, &spec, &text);
        if (r <= 0)
                return r;
        r = check_leader_or_reply(s, m);
        if (r <= 0)
                return r;
        name = strdup(json_string_value(json_object_get(spec, "deployment")));
        if (!name)
                return -ENOMEM;
        r = read_snapshot(s, name, &ds);
        if (r < 0)
                return r;
        if (ds.exists && ds.status == SCHED_DEPLOYMENT_STOPPING)
                return zl_bus_reply_errnof(m, EBUSY,
                                           "Deployment '%s' is stopping; deploy it again once "
                                           "it is gone.",
                                           name);
        expected = o.expected_generation != NO_GENERATION ? o.expected_generation : ds.generation;
        if (expected != ds.generation)
                return zl_bus_reply_errnof(m, EBUSY,
                                           "Deployment '%s' is at generation %" PRIu64
                                           ", not %" PRIu64 " (the state changed, retry).",
                                           name, ds.generation, expected);
        /* The same spec again changes nothing: no new generation, no rollout. */
        if (ds.exists && streq(ds.spec, text))
                return sd_bus_reply_method_return(m, "st", name, ds.generation);

        cmd = json_pack("{s:s, s:s, s:s, s:I, s:I}", "op", "deployment_put", "name", name, "spec",
                        text, "expected_generation", (json_int_t) expected, "time",
                        (json_int_t) wall_usec());
        if (!cmd)
                return -ENOMEM;
        return submit_and_reply(s, m, cmd, on_deployed, TAKE_PTR(name));
}

/* ---- Plan ---------------------------------------------------------------------------------- */

static int method_plan(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(spec_options_done) SpecOptions o = { .expected_generation = NO_GENERATION };
        _cleanup_(deployment_snapshot_done) DeploymentSnapshot ds = {};
        _cleanup_(json_decrefp) json_t *spec = NULL, *old = NULL;
        _cleanup_free_ char *text = NULL, *plan_text = NULL, *plan_json = NULL, *why = NULL;
        _cleanup_(sched_plan_freep) SchedPlan *plan = NULL;
        Scheduler *s = userdata;
        const char *yaml;
        int r;

        (void) error;
        r = sd_bus_message_read(m, "s", &yaml);
        if (r < 0)
                return r;
        r = zl_bus_read_options_or_reply(m, "options", spec_options, ELEMENTSOF(spec_options), &o);
        if (r <= 0)
                return r;
        r = parse_spec_or_reply(m, yaml, &o, &spec, &text);
        if (r <= 0)
                return r;
        r = read_snapshot(s, json_string_value(json_object_get(spec, "deployment")), &ds);
        if (r < 0)
                return r;
        if (ds.exists) {
                old = json_loads(ds.spec, 0, NULL);
                if (!old)
                        return zl_bus_reply_errnof(m, EIO, "The stored spec of '%s' is not JSON.",
                                                   ds.name);
        }
        r = sched_plan_compute(old, spec, ds.replicas, &plan, &why);
        if (r == -EINVAL || r == -ELOOP)
                return zl_bus_reply_errnof(m, EBADMSG, "%s", why ?: strerror(-r));
        if (r < 0)
                return r;
        r = sched_plan_format_text(plan, &plan_text);
        if (r >= 0)
                r = sched_plan_format_json(plan, &plan_json);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(m, "ss", plan_text, plan_json);
}

/* ---- Stop and Scale ------------------------------------------------------------------------ */

typedef struct ServiceLookup {
        const char *deployment;
        const char *service; /* NULL: the deployment only */
        bool found_deployment;
        bool found_service;
        SchedDeploymentStatus status;
        json_t *spec_service; /* the canonical service */
} ServiceLookup;

static void read_service_lookup(const SchedState *st, void *userdata) {
        ServiceLookup *l = userdata;
        const SchedDeployment *d = sched_state_get_deployment(st, l->deployment);
        _cleanup_(json_decrefp) json_t *spec = NULL;

        if (!d)
                return;
        l->found_deployment = true;
        l->status = d->status;
        if (!l->service || !sched_deployment_has_service(d, l->service))
                return;
        l->found_service = true;
        spec = json_loads(d->spec, 0, NULL);
        l->spec_service =
                json_incref(json_object_get(json_object_get(spec, "services"), l->service));
}

static int lookup_or_reply(Scheduler *s, sd_bus_message *m, ServiceLookup *l) {
        s->store.read(s->store.userdata, read_service_lookup, l);
        if (!l->found_deployment)
                return replied(
                        zl_bus_reply_errnof(m, ENOENT, "No such deployment '%s'.", l->deployment));
        if (l->service && !l->found_service)
                return replied(zl_bus_reply_errnof(m, ENOENT,
                                                   "Deployment '%s' has no service '%s'.",
                                                   l->deployment, l->service));
        if (l->service && !l->spec_service)
                return -ENOMEM;
        return 1;
}

/* A service of a deployment, named (else InvalidArgument) and present (else NotFound): as
 * lookup_or_reply(), with l->spec_service set (the caller drops it) only when this returns 1. */
static int lookup_service_or_reply(Scheduler *s, sd_bus_message *m, const char *deployment,
                                   const char *service, ServiceLookup *l) {
        int r;

        *l = (ServiceLookup){ .deployment = deployment, .service = service };
        if (isempty(service))
                return replied(
                        zl_bus_reply_errnof(m, EINVAL, "service: a service name is required."));
        r = lookup_or_reply(s, m, l);
        if (r <= 0) {
                json_decref(l->spec_service);
                l->spec_service = NULL;
        }
        return r;
}

static int submit_scale(Scheduler *s, sd_bus_message *m, const char *deployment,
                        const char *service, uint32_t replicas, const char *reason) {
        _cleanup_(json_decrefp) json_t *cmd = NULL;

        cmd = json_pack("{s:s, s:s, s:s, s:I, s:s, s:I}", "op", "service_scale", "deployment",
                        deployment, "service", service, "replicas", (json_int_t) replicas, "reason",
                        reason, "time", (json_int_t) wall_usec());
        if (!cmd)
                return -ENOMEM;
        return submit_and_reply(s, m, cmd, NULL, NULL);
}

static int method_stop(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(json_decrefp) json_t *cmd = NULL;
        Scheduler *s = userdata;
        const char *deployment, *service;
        uint32_t timeout;
        ServiceLookup l;
        int r;

        (void) error;
        r = sd_bus_message_read(m, "ssu", &deployment, &service, &timeout);
        if (r < 0)
                return r;
        r = zl_bus_check_root(m, "stop deployments");
        if (r <= 0)
                return r;
        r = check_leader_or_reply(s, m);
        if (r <= 0)
                return r;
        l = (ServiceLookup){ .deployment = deployment,
                             .service = isempty(service) ? NULL : service };
        r = lookup_or_reply(s, m, &l);
        json_decref(l.spec_service);
        if (r <= 0)
                return r;
        if (!isempty(service))
                return submit_scale(s, m, deployment, service, 0, "stop");
        if (l.status == SCHED_DEPLOYMENT_STOPPING)
                return sd_bus_reply_method_return(m, NULL);
        /* 0 leaves each service's stop_grace_period to the reconciler. */
        cmd = json_pack("{s:s, s:s, s:s, s:I}", "op", "deployment_status", "name", deployment,
                        "status", "stopping", "time", (json_int_t) wall_usec());
        if (!cmd)
                return -ENOMEM;
        if (timeout > 0 && json_object_set_new(cmd, "stop_timeout", json_integer(timeout)) < 0)
                return -ENOMEM;
        return submit_and_reply(s, m, cmd, NULL, NULL);
}

static int method_scale(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Scheduler *s = userdata;
        const char *deployment, *service, *rtype, *mode;
        uint32_t replicas;
        ServiceLookup l;
        int r;

        (void) error;
        r = sd_bus_message_read(m, "ssu", &deployment, &service, &replicas);
        if (r < 0)
                return r;
        r = zl_bus_check_root(m, "scale services");
        if (r <= 0)
                return r;
        if (replicas > SCHED_SCALE_REPLICAS_MAX)
                return zl_bus_reply_errnof(m, EINVAL, "replicas: %" PRIu32 " is more than %u.",
                                           replicas, SCHED_SCALE_REPLICAS_MAX);
        r = check_leader_or_reply(s, m);
        if (r <= 0)
                return r;
        r = lookup_service_or_reply(s, m, deployment, service, &l);
        if (r <= 0)
                return r;
        rtype = json_string_value(json_object_get(l.spec_service, "rtype")) ?: "service";
        mode = json_string_value(json_object_get(json_object_get(l.spec_service, "scale"), "mode"))
                       ?: "fixed";
        r = 1;
        if (!streq(rtype, "service"))
                r = replied(zl_bus_reply_errnof(m, EINVAL,
                                                "Service '%s' of '%s' is a %s: only services "
                                                "of rtype service scale.",
                                                service, deployment, rtype));
        else if (streq(mode, "adaptive"))
                r = replied(zl_bus_reply_errnof(m, EINVAL,
                                                "Service '%s' of '%s' scales adaptively: the "
                                                "autoscaler sets its replicas.",
                                                service, deployment));
        else if (l.status == SCHED_DEPLOYMENT_STOPPING)
                r = replied(
                        zl_bus_reply_errnof(m, EBUSY, "Deployment '%s' is stopping.", deployment));
        json_decref(l.spec_service);
        if (r <= 0)
                return r;
        return submit_scale(s, m, deployment, service, replicas, "manual");
}

/* ---- reading ------------------------------------------------------------------------------- */

typedef struct ReadJson {
        Scheduler *scheduler;
        const char *deployment; /* NULL or "": all */
        const char *service;
        json_t *result;
        int error; /* -ENOENT: no such deployment */
} ReadJson;

static void read_list_deployments(const SchedState *st, void *userdata) {
        ReadJson *rj = userdata;
        _cleanup_free_ const SchedDeployment **ds = NULL;
        size_t n = 0;

        rj->error = sched_state_list_deployments(st, &ds, &n);
        if (rj->error < 0)
                return;
        rj->result = json_array();
        if (!rj->result) {
                rj->error = -ENOMEM;
                return;
        }
        for (size_t i = 0; i < n; i++)
                if (json_array_append_new(
                            rj->result,
                            json_pack("{s:s, s:s, s:I, s:s, s:I}", "name", ds[i]->name, "status",
                                      sched_deployment_status_to_string(ds[i]->status),
                                      "generation", (json_int_t) ds[i]->generation, "message",
                                      strempty(ds[i]->message), "updated_at",
                                      (json_int_t) ds[i]->updated_at_usec)) < 0) {
                        rj->error = -ENOMEM;
                        return;
                }
}

static int method_list_deployments(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        ReadJson rj = { .scheduler = userdata };
        Scheduler *s = userdata;
        json_t *d;
        size_t i;
        int r;

        (void) error;
        s->store.read(s->store.userdata, read_list_deployments, &rj);
        if (rj.error < 0) {
                json_decref(rj.result);
                return rj.error;
        }
        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(sstst)");
        json_array_foreach (rj.result, i, d) {
                if (r < 0)
                        break;
                r = sd_bus_message_append(
                        reply, "(sstst)", json_string_value(json_object_get(d, "name")),
                        json_string_value(json_object_get(d, "status")),
                        (uint64_t) json_integer_value(json_object_get(d, "generation")),
                        json_string_value(json_object_get(d, "message")),
                        (uint64_t) json_integer_value(json_object_get(d, "updated_at")));
        }
        json_decref(rj.result);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

/* Newest first: the pending ones (not started) before everything, then by start time, then by
 * id. */
static int compare_executions(const void *a, const void *b) {
        const SchedJobExecution *x = *(const SchedJobExecution *const *) a;
        const SchedJobExecution *y = *(const SchedJobExecution *const *) b;
        uint64_t sx = x->started_usec ?: UINT64_MAX, sy = y->started_usec ?: UINT64_MAX;

        if (sx != sy)
                return sx > sy ? -1 : 1;
        return -strcmp(x->id, y->id);
}

static json_t *execution_to_json(const SchedJobExecution *e) {
        json_t *o;

        uint64_t duration_ms = e->finished_usec > e->started_usec && e->started_usec > 0
                                       ? (e->finished_usec - e->started_usec) / USEC_PER_MSEC
                                       : 0;

        o = json_pack("{s:s, s:s, s:s, s:s, s:i, s:I, s:I, s:I, s:s}", "id", e->id, "deployment",
                      e->deployment, "service", e->service, "state",
                      sched_job_state_to_string(e->state), "exit_code", (int) e->exit_code,
                      "started", (json_int_t) e->started_usec, "finished",
                      (json_int_t) e->finished_usec, "duration_ms", (json_int_t) duration_ms,
                      "container_id", strempty(e->log_ref));
        /* Why it failed before its process ran. */
        if (o && !isempty(e->message) &&
            json_object_set_new(o, "message", json_string(e->message)) < 0) {
                json_decref(o);
                return NULL;
        }
        return o;
}

static int executions_json(const SchedState *st, const char *deployment, const char *service,
                           json_t **ret) {
        _cleanup_free_ const SchedJobExecution **es = NULL;
        _cleanup_(json_decrefp) json_t *a = json_array();
        size_t n = 0;
        int r;

        if (!a)
                return -ENOMEM;
        r = sched_state_list_job_executions(st, deployment, service, &es, &n);
        if (r < 0)
                return r;
        if (n > 0)
                qsort(es, n, sizeof(*es), compare_executions);
        for (size_t i = 0; i < n; i++)
                if (json_array_append_new(a, execution_to_json(es[i])) < 0)
                        return -ENOMEM;
        *ret = TAKE_PTR(a);
        return 0;
}

static json_t *cron_json(const SchedState *st, const char *deployment, const char *service,
                         const json_t *svc) {
        const SchedCronRun *c = sched_state_get_cron_run(st, deployment, service);

        return json_pack("{s:s, s:s, s:s, s:I, s:I}", "deployment", deployment, "service", service,
                         "schedule", json_string_value(json_object_get(svc, "schedule")) ?: "",
                         "last", (json_int_t) (c ? c->last_usec : 0), "next",
                         (json_int_t) (c ? c->next_usec : 0));
}

static int endpoints_json(Scheduler *s, const json_t *svc, json_t **ret) {
        _cleanup_(json_decrefp) json_t *a = json_array();
        json_t *ep;
        size_t i;

        if (!a)
                return -ENOMEM;
        json_array_foreach (json_object_get(svc, "endpoints"), i, ep) {
                _cleanup_free_ char *listen = NULL, *url = NULL;
                const char *expose = json_string_value(json_object_get(ep, "expose")) ?: "";
                const char *address =
                        streq(expose, "public") ? s->config.public_address : s->config.node_address;
                int r;

                /* An IPv6 listen address takes brackets so that the port stays apart. */
                if (asprintf(&listen, strchr(address, ':') ? "[%s]:%lld" : "%s:%lld", address,
                             (long long) json_integer_value(json_object_get(ep, "port"))) < 0)
                        return -ENOMEM;
                /* A wildcard listener is reached on this node at its loopback address: the URL
                 * a user on the node can open. */
                if (streq(address, "0.0.0.0") || streq(address, "::")) {
                        _cleanup_free_ char *local = NULL;

                        if (asprintf(&local, streq(address, "::") ? "[::1]:%lld" : "127.0.0.1:%lld",
                                     (long long) json_integer_value(json_object_get(ep, "port"))) <
                            0)
                                return -ENOMEM;
                        r = sched_endpoint_url(ep, local, &url);
                } else
                        r = sched_endpoint_url(ep, listen, &url);
                if (r < 0)
                        return r;
                if (json_array_append_new(a, json_pack("{s:O*, s:O*, s:s, s:s, s:s}", "name",
                                                       json_object_get(ep, "name"), "protocol",
                                                       json_object_get(ep, "protocol"), "expose",
                                                       expose, "listen", listen, "url", url)) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(a);
        return 0;
}

static int service_json(ReadJson *rj, const SchedState *st, const SchedDeployment *d,
                        const char *name, const json_t *svc, json_t **ret) {
        _cleanup_(json_decrefp) json_t *o = NULL, *replicas = NULL, *endpoints = NULL;
        _cleanup_free_ const SchedReplica **reps = NULL;
        const char *rtype = json_string_value(json_object_get(svc, "rtype")) ?: "service";
        const char *msg =
                json_string_value(json_object_get(json_object_get(d->services, name), "message"));
        uint32_t running = 0, healthy = 0, desired = 0;
        size_t n = 0;
        int r;

        r = sched_state_list_replicas(st, d->name, name, &reps, &n);
        if (r < 0)
                return r;
        replicas = json_array();
        if (!replicas)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const SchedReplica *p = reps[i];
                const char *live = sched_reconciler_replica_message(rj->scheduler->reconciler,
                                                                    d->name, name, p->index);

                if (p->state == SCHED_REPLICA_RUNNING)
                        running++;
                if (p->health == SCHED_HEALTH_HEALTHY)
                        healthy++;
                if (json_array_append_new(
                            replicas,
                            json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s}", "index",
                                      (json_int_t) p->index, "node", p->node, "container_id",
                                      strempty(p->container_id), "state",
                                      sched_replica_state_to_string(p->state), "health",
                                      sched_replica_health_to_string(p->health), "ip",
                                      strempty(p->ip), "restarts", (json_int_t) p->restarts,
                                      "generation", (json_int_t) p->generation, "message",
                                      live ?: strempty(p->message))) < 0)
                        return -ENOMEM;
        }
        if (streq(rtype, "service"))
                desired = d->status == SCHED_DEPLOYMENT_STOPPING
                                  ? 0
                                  : sched_service_replicas(svc, d, name);
        r = endpoints_json(rj->scheduler, svc, &endpoints);
        if (r < 0)
                return r;
        o = json_pack("{s:s, s:I, s:I, s:I, s:O, s:O, s:s}", "rtype", rtype, "desired",
                      (json_int_t) desired, "running", (json_int_t) running, "healthy",
                      (json_int_t) healthy, "endpoints", endpoints, "replicas", replicas, "message",
                      strempty(msg));
        if (!o)
                return -ENOMEM;
        if (streq(rtype, "job") || streq(rtype, "cron")) {
                json_t *ex = NULL;

                r = executions_json(st, d->name, name, &ex);
                if (r < 0)
                        return r;
                if (json_object_set_new(o, "executions", ex) < 0)
                        return -ENOMEM;
        }
        if (streq(rtype, "cron") &&
            json_object_set_new(o, "cron", cron_json(st, d->name, name, svc)) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

static int deployment_json(ReadJson *rj, const SchedState *st, const SchedDeployment *d,
                           json_t **ret) {
        _cleanup_(json_decrefp) json_t *spec = NULL, *o = NULL, *services = NULL, *events = NULL;
        _cleanup_free_ const SchedScaleEvent **evs = NULL;
        const char *name;
        json_t *svc;
        size_t n = 0;
        int r;

        spec = json_loads(d->spec, 0, NULL);
        if (!spec)
                return -EIO;
        services = json_object();
        events = json_array();
        if (!services || !events)
                return -ENOMEM;
        json_object_foreach (json_object_get(spec, "services"), name, svc) {
                json_t *sj = NULL;

                r = service_json(rj, st, d, name, svc, &sj);
                if (r < 0)
                        return r;
                if (json_object_set_new(services, name, sj) < 0)
                        return -ENOMEM;
        }
        r = sched_state_list_scale_events(st, d->name, NULL, &evs, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                json_t *e = NULL;

                r = sched_scale_event_to_json(evs[i], &e);
                if (r < 0)
                        return r;
                if (json_array_append_new(events, e) < 0)
                        return -ENOMEM;
        }
        o = json_pack("{s:s, s:I, s:s, s:s, s:I, s:O, s:O, s:O}", "name", d->name, "generation",
                      (json_int_t) d->generation, "status",
                      sched_deployment_status_to_string(d->status), "message", strempty(d->message),
                      "updated_at", (json_int_t) d->updated_at_usec, "spec", spec, "services",
                      services, "scale_events", events);
        if (!o)
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

static void read_get_deployment(const SchedState *st, void *userdata) {
        ReadJson *rj = userdata;
        const SchedDeployment *d = sched_state_get_deployment(st, rj->deployment);

        if (!d) {
                rj->error = -ENOENT;
                return;
        }
        rj->error = deployment_json(rj, st, d, &rj->result);
}

static int reply_json(sd_bus_message *m, json_t *j) {
        _cleanup_free_ char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);

        if (!text)
                return -ENOMEM;
        return sd_bus_reply_method_return(m, "s", text);
}

static int method_get_deployment(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(json_decrefp) json_t *result = NULL;
        Scheduler *s = userdata;
        ReadJson rj = { .scheduler = s };
        int r;

        (void) error;
        r = sd_bus_message_read(m, "s", &rj.deployment);
        if (r < 0)
                return r;
        s->store.read(s->store.userdata, read_get_deployment, &rj);
        result = rj.result;
        if (rj.error == -ENOENT)
                return zl_bus_reply_errnof(m, ENOENT, "No such deployment '%s'.", rj.deployment);
        if (rj.error < 0)
                return rj.error;
        return reply_json(m, result);
}

static void read_list_executions(const SchedState *st, void *userdata) {
        ReadJson *rj = userdata;
        json_t *a = NULL;

        if (!isempty(rj->deployment)) {
                const SchedDeployment *d = sched_state_get_deployment(st, rj->deployment);

                if (!d ||
                    (!isempty(rj->service) && !sched_deployment_has_service(d, rj->service))) {
                        rj->error = -ENOENT;
                        return;
                }
        }
        rj->error =
                executions_json(st, empty_to_null(rj->deployment),
                                isempty(rj->deployment) ? NULL : empty_to_null(rj->service), &a);
        if (rj->error >= 0) {
                rj->result = json_pack("{s:o}", "executions", a);
                if (!rj->result)
                        rj->error = -ENOMEM;
        }
}

static int method_list_job_executions(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(json_decrefp) json_t *result = NULL;
        Scheduler *s = userdata;
        ReadJson rj = { .scheduler = s };
        int r;

        (void) error;
        r = sd_bus_message_read(m, "ss", &rj.deployment, &rj.service);
        if (r < 0)
                return r;
        if (isempty(rj.deployment) && !isempty(rj.service))
                return zl_bus_reply_errnof(m, EINVAL, "service: needs a deployment.");
        s->store.read(s->store.userdata, read_list_executions, &rj);
        result = rj.result;
        if (rj.error == -ENOENT)
                return zl_bus_reply_errnof(m, ENOENT, "No such deployment or service '%s%s%s'.",
                                           rj.deployment, isempty(rj.service) ? "" : "/",
                                           strempty(rj.service));
        if (rj.error < 0)
                return rj.error;
        return reply_json(m, result);
}

static void read_list_cron(const SchedState *st, void *userdata) {
        ReadJson *rj = userdata;
        _cleanup_free_ const SchedDeployment **ds = NULL;
        json_t *a;
        size_t n = 0;

        rj->error = sched_state_list_deployments(st, &ds, &n);
        if (rj->error < 0)
                return;
        rj->result = json_pack("{s:[]}", "cron");
        if (!rj->result) {
                rj->error = -ENOMEM;
                return;
        }
        a = json_object_get(rj->result, "cron");
        for (size_t i = 0; i < n; i++) {
                _cleanup_(json_decrefp) json_t *spec = json_loads(ds[i]->spec, 0, NULL);
                const char *name;
                json_t *svc;

                json_object_foreach (json_object_get(spec, "services"), name, svc) {
                        if (!streq_ptr(json_string_value(json_object_get(svc, "rtype")), "cron"))
                                continue;
                        if (json_array_append_new(a, cron_json(st, ds[i]->name, name, svc)) < 0) {
                                rj->error = -ENOMEM;
                                return;
                        }
                }
        }
}

static int method_list_cron_jobs(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(json_decrefp) json_t *result = NULL;
        Scheduler *s = userdata;
        ReadJson rj = { .scheduler = s };

        (void) error;
        s->store.read(s->store.userdata, read_list_cron, &rj);
        result = rj.result;
        if (rj.error < 0)
                return rj.error;
        return reply_json(m, result);
}

/* ---- TriggerJob ---------------------------------------------------------------------------- */

static void on_job_triggered(int r, const char *error, const char *execution_id, void *userdata) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = userdata;
        int k;

        if (r < 0)
                k = zl_bus_reply_errnof(m, r == -EREMOTE ? EHOSTUNREACH : -r, "%s",
                                        error ?: strerror(-r));
        else
                k = sd_bus_reply_method_return(m, "s", execution_id);
        if (k < 0)
                log_debug_errno(k, "Failed to reply to TriggerJob(), ignoring: %m");
}

static int method_trigger_job(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Scheduler *s = userdata;
        const char *deployment, *service;
        ServiceLookup l;
        const char *rtype;
        int r;

        (void) error;
        r = sd_bus_message_read(m, "ss", &deployment, &service);
        if (r < 0)
                return r;
        r = zl_bus_check_root(m, "trigger jobs");
        if (r <= 0)
                return r;
        r = check_leader_or_reply(s, m);
        if (r <= 0)
                return r;
        r = lookup_service_or_reply(s, m, deployment, service, &l);
        if (r <= 0)
                return r;
        rtype = json_string_value(json_object_get(l.spec_service, "rtype")) ?: "service";
        if (!streq(rtype, "job") && !streq(rtype, "cron")) {
                r = zl_bus_reply_errnof(m, EINVAL,
                                        "Service '%s' of '%s' is a %s, not a job or cron service.",
                                        service, deployment, rtype);
                json_decref(l.spec_service);
                return r;
        }
        json_decref(l.spec_service);
        r = sched_jobs_trigger(s->jobs, deployment, service, on_job_triggered,
                               sd_bus_message_ref(m));
        if (r < 0) {
                sd_bus_message_unref(m);
                if (r == -EREMOTE)
                        return reply_submit_error(s, m, r, NULL);
                if (r == -EBUSY)
                        return zl_bus_reply_errnof(m, EBUSY, "Deployment '%s' is stopping.",
                                                   deployment);
                return zl_bus_reply_errnof(m, -r, "Failed to trigger '%s' of '%s': %s", service,
                                           deployment, strerror(-r));
        }
        return 1;
}

/* ---- signals ------------------------------------------------------------------------------- */

int scheduler_emit_deployment_event(Scheduler *s, const char *deployment, const char *event,
                                    const json_t *data) {
        _cleanup_free_ char *text = NULL;
        int r;

        if (data)
                r = dump_compact(data, &text);
        else
                r = (text = strdup("{}")) ? 0 : -ENOMEM;
        if (r < 0)
                return r;
        r = sd_bus_emit_signal(s->bus, SCHEDULER_OBJECT_PATH, SCHEDULER_INTERFACE,
                               "DeploymentEvent", "sss", deployment, event, text);
        if (r < 0)
                return log_debug_errno(r, "Failed to emit DeploymentEvent %s of '%s': %m", event,
                                       deployment);
        return 0;
}

int scheduler_emit_job_finished(Scheduler *s, const char *execution_id, const char *deployment,
                                const char *service, const char *state, int exit_code) {
        int r;

        r = sd_bus_emit_signal(s->bus, SCHEDULER_OBJECT_PATH, SCHEDULER_INTERFACE, "JobFinished",
                               "ssssi", execution_id, deployment, service, state,
                               (int32_t) exit_code);
        if (r < 0)
                return log_debug_errno(r, "Failed to emit JobFinished of '%s': %m", execution_id);
        return 0;
}

/* ---- the object ---------------------------------------------------------------------------- */

static const sd_bus_vtable scheduler_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("Deploy", SD_BUS_ARGS("s", spec_yaml, "a{sv}", options),
                                SD_BUS_RESULT("s", deployment, "t", generation), method_deploy,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Plan", SD_BUS_ARGS("s", spec_yaml, "a{sv}", options),
                                SD_BUS_RESULT("s", text, "s", plan_json), method_plan,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Stop", SD_BUS_ARGS("s", deployment, "s", service, "u", timeout),
                                SD_BUS_NO_RESULT, method_stop, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Scale", SD_BUS_ARGS("s", deployment, "s", service, "u", replicas),
                                SD_BUS_NO_RESULT, method_scale, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListDeployments", SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("a(sstst)", deployments), method_list_deployments,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetDeployment", SD_BUS_ARGS("s", deployment),
                                SD_BUS_RESULT("s", json), method_get_deployment,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("TriggerJob", SD_BUS_ARGS("s", deployment, "s", service),
                                SD_BUS_RESULT("s", execution_id), method_trigger_job,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListJobExecutions", SD_BUS_ARGS("s", deployment, "s", service),
                                SD_BUS_RESULT("s", json), method_list_job_executions,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListCronJobs", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", json),
                                method_list_cron_jobs, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("DeploymentEvent",
                                SD_BUS_ARGS("s", deployment, "s", event, "s", json), 0),
        SD_BUS_SIGNAL_WITH_ARGS("JobFinished",
                                SD_BUS_ARGS("s", execution_id, "s", deployment, "s", service, "s",
                                            state, "i", exit_code),
                                0),
        SD_BUS_VTABLE_END,
};

const ZlBusObject scheduler_bus_object = {
        .path = SCHEDULER_OBJECT_PATH,
        .interface = SCHEDULER_INTERFACE,
        .vtable = scheduler_vtable,
};
