/* SPDX-License-Identifier: Apache-2.0 */
/* sched-plan.c: deployment diff, dependency waves and the rollout plan. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "sched-plan.h"
#include "string-util.h"

/* ---- enums ----------------------------------------------------------------------------- */

static const char *const change_table[_SCHED_PLAN_CHANGE_MAX] = {
        [SCHED_PLAN_ADDED] = "added",         [SCHED_PLAN_REMOVED] = "removed",
        [SCHED_PLAN_UNCHANGED] = "unchanged", [SCHED_PLAN_SCALED] = "scaled",
        [SCHED_PLAN_ROUTES] = "routes",       [SCHED_PLAN_CHANGED] = "changed",
};

static const char *const action_table[_SCHED_PLAN_ACTION_MAX] = {
        [SCHED_PLAN_START] = "start",       [SCHED_PLAN_REPLACE] = "replace",
        [SCHED_PLAN_SCALE] = "scale",       [SCHED_PLAN_UPDATE_ROUTES] = "update_routes",
        [SCHED_PLAN_REGISTER] = "register", [SCHED_PLAN_STOP] = "stop",
        [SCHED_PLAN_KEEP] = "keep",
};

static const char *const condition_table[_SCHED_CONDITION_MAX] = {
        [SCHED_CONDITION_NONE] = "none",
        [SCHED_CONDITION_STARTED] = "started",
        [SCHED_CONDITION_HEALTHY] = "healthy",
        [SCHED_CONDITION_READY] = "ready",
};

static const char *const on_timeout_table[_SCHED_ON_TIMEOUT_MAX] = {
        [SCHED_ON_TIMEOUT_FAIL] = "fail",
        [SCHED_ON_TIMEOUT_WARN] = "warn",
        [SCHED_ON_TIMEOUT_CONTINUE] = "continue",
};

static const char *enum_name(const char *const *table, int n, int i) {
        return i >= 0 && i < n ? table[i] : NULL;
}

const char *sched_plan_change_to_string(SchedPlanChange c) {
        return enum_name(change_table, _SCHED_PLAN_CHANGE_MAX, c);
}

const char *sched_plan_action_to_string(SchedPlanAction a) {
        return enum_name(action_table, _SCHED_PLAN_ACTION_MAX, a);
}

const char *sched_condition_to_string(SchedCondition c) {
        return enum_name(condition_table, _SCHED_CONDITION_MAX, c);
}

SchedCondition sched_condition_from_string(const char *s) {
        return string_table_lookup(condition_table, _SCHED_CONDITION_MAX, s);
}

const char *sched_on_timeout_to_string(SchedOnTimeout o) {
        return enum_name(on_timeout_table, _SCHED_ON_TIMEOUT_MAX, o);
}

SchedOnTimeout sched_on_timeout_from_string(const char *s) {
        return string_table_lookup(on_timeout_table, _SCHED_ON_TIMEOUT_MAX, s);
}

/* ---- the plan -------------------------------------------------------------------------- */

static void step_done_free(SchedPlanStep *s) {
        free(s->service);
        free(s->rtype);
        for (size_t i = 0; i < s->n_waits; i++)
                free(s->waits[i].service);
        free(s->waits);
        strv_free(s->changed_keys);
}

SchedPlan *sched_plan_free(SchedPlan *p) {
        if (!p)
                return NULL;
        for (size_t i = 0; i < p->n_steps; i++)
                step_done_free(&p->steps[i]);
        free(p->steps);
        free(p->deployment);
        strv_free(p->services);
        return mfree(p);
}

bool sched_plan_has_work(const SchedPlan *p) {
        for (size_t i = 0; p && i < p->n_steps; i++)
                if (p->steps[i].action != SCHED_PLAN_KEEP)
                        return true;
        return false;
}

/* One service of either generation while the plan is computed. Pointers into the specs are
 * borrowed. */
typedef struct Svc {
        const char *name;
        const json_t *old;
        const json_t *new;
        bool old_runs; /* the old generation has containers of it (rtype service) */
        bool new_runs;
        SchedPlanChange change;
        char **changed_keys;
        bool scale_changed;
        bool endpoints_changed;
        uint32_t from;
        uint32_t to;
        bool brings_up; /* new containers in this plan, so dependents wait for it */
        bool stops; /* its old containers go away */
        int mark; /* DFS: 0 new, 1 on the stack, 2 done */
        unsigned wave;
        unsigned stop_depth;
} Svc;

typedef struct Ctx {
        char **names; /* sorted; the Svc names point here */
        Svc *svcs;
        size_t n_svcs;
        char *error;
} Ctx;

_printf_(2, 3) static int ctx_error(Ctx *c, const char *fmt, ...) {
        va_list ap;
        char *m = NULL;

        va_start(ap, fmt);
        if (vasprintf(&m, fmt, ap) < 0)
                m = NULL;
        va_end(ap);
        if (!m)
                return -ENOMEM;
        free(c->error);
        c->error = m;
        return 0;
}

static char **strv_dup(char *const *l) {
        size_t n = strv_length(l);
        char **c = calloc(n + 1, sizeof(char *));

        if (!c)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                c[i] = strdup(l[i]);
                if (!c[i])
                        return strv_free(c);
        }
        return c;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

static Svc *ctx_find(Ctx *c, const char *name) {
        for (size_t lo = 0, hi = c->n_svcs; lo < hi;) {
                size_t m = lo + (hi - lo) / 2;
                int k = strcmp(name, c->svcs[m].name);

                if (k == 0)
                        return &c->svcs[m];
                if (k < 0)
                        hi = m;
                else
                        lo = m + 1;
        }
        return NULL;
}

static const char *svc_rtype(const json_t *svc) {
        const char *t = json_string_value(json_object_get(svc, "rtype"));
        return t ?: "service";
}

/* The replica count the spec starts with; -EINVAL if the scale object is not canonical. */
static int scale_initial(const json_t *svc, bool exists, uint32_t current, uint32_t *ret) {
        const json_t *scale = json_object_get(svc, "scale");
        const char *mode = json_string_value(json_object_get(scale, "mode"));
        json_int_t v;

        if (!mode)
                return -EINVAL;
        if (streq(mode, "fixed")) {
                if (!json_is_integer(json_object_get(scale, "replicas")))
                        return -EINVAL;
                v = json_integer_value(json_object_get(scale, "replicas"));
        } else if (streq(mode, "adaptive")) {
                const json_t *jmin = json_object_get(scale, "min"),
                             *jmax = json_object_get(scale, "max");

                if (!json_is_integer(jmin) || !json_is_integer(jmax))
                        return -EINVAL;
                /* A running adaptive service keeps the capacity the autoscaler gave it. */
                v = exists ? CLAMP((json_int_t) current, json_integer_value(jmin),
                                   json_integer_value(jmax))
                           : json_integer_value(jmin);
        } else if (streq(mode, "manual")) {
                const json_t *jr = json_object_get(scale, "replicas");

                if (exists)
                        v = current;
                else
                        v = json_is_integer(jr) ? json_integer_value(jr) : 1;
        } else
                return -EINVAL;
        if (v < 0 || v > UINT32_MAX)
                return -EINVAL;
        *ret = (uint32_t) v;
        return 0;
}

static int collect_names(const json_t *services, char ***names) {
        const char *k;
        json_t *v;

        json_object_foreach ((json_t *) services, k, v)
                if (!strv_contains(*names, k)) {
                        int r = strv_extend(names, k);
                        if (r < 0)
                                return r;
                }
        return 0;
}

static int check_spec(Ctx *c, const json_t *spec, const char *which, const json_t **ret) {
        const json_t *services = json_object_get(spec, "services");
        const char *k;
        json_t *v;
        int r;

        if (!json_is_object(services)) {
                r = ctx_error(c, "%s spec has no services object", which);
                return r < 0 ? r : -EINVAL;
        }
        json_object_foreach ((json_t *) services, k, v) {
                const json_t *deps = json_object_get(v, "depends");

                if (!json_is_object(v) || !json_is_object(json_object_get(v, "image")) ||
                    !json_is_object(json_object_get(v, "scale")) ||
                    (deps && !json_is_array(deps))) {
                        r = ctx_error(c, "%s spec: service '%s' is not in canonical form", which,
                                      k);
                        return r < 0 ? r : -EINVAL;
                }
        }
        *ret = services;
        return 0;
}

/* Which top-level keys of the service differ; scale and endpoints are noted apart. */
static int diff_service(Svc *s) {
        _cleanup_strv_free_ char **keys = NULL;
        bool restart = false;
        int r;

        r = collect_names(s->old, &keys);
        if (r < 0)
                return r;
        r = collect_names(s->new, &keys);
        if (r < 0)
                return r;
        qsort(keys, strv_length(keys), sizeof(char *), cmp_str);

        for (char **key = keys; key && *key; key++) {
                if (json_equal(json_object_get(s->old, *key), json_object_get(s->new, *key)))
                        continue;
                r = strv_extend(&s->changed_keys, *key);
                if (r < 0)
                        return r;
        }
        for (char **key = s->changed_keys; key && *key; key++) {
                if (streq(*key, "scale"))
                        s->scale_changed = true;
                else if (streq(*key, "endpoints"))
                        s->endpoints_changed = true;
                else if (!streq(*key, "depends"))
                        restart = true;
        }

        /* depends alone orders starts only: the running containers stay as they are. */
        if (restart)
                s->change = SCHED_PLAN_CHANGED;
        else if (s->endpoints_changed)
                s->change = SCHED_PLAN_ROUTES;
        else if (s->scale_changed)
                s->change = SCHED_PLAN_SCALED;
        else
                s->change = SCHED_PLAN_UNCHANGED;
        return 0;
}

/* The wave a service's new containers start in: one after its latest dependency that brings
 * up containers too. Dependencies on running services are already met. */
static int compute_wave(Ctx *c, Svc *s) {
        const json_t *dep;
        size_t i;
        unsigned wave = 0;
        int r;

        if (s->mark == 2)
                return 0;
        if (s->mark == 1) {
                r = ctx_error(c, "dependency cycle through service '%s'", s->name);
                return r < 0 ? r : -ELOOP;
        }
        s->mark = 1;
        json_array_foreach (json_object_get(s->new, "depends"), i, dep) {
                const char *name = json_string_value(json_object_get(dep, "service"));
                Svc *d = name ? ctx_find(c, name) : NULL;

                if (d == s) {
                        r = ctx_error(c, "service '%s' depends on itself", s->name);
                        return r < 0 ? r : -ELOOP;
                }
                if (!d || !d->new) {
                        r = ctx_error(c, "service '%s' depends on unknown service '%s'", s->name,
                                      strna(name));
                        return r < 0 ? r : -EINVAL;
                }
                r = compute_wave(c, d);
                if (r < 0)
                        return r;
                if (d->brings_up && s->brings_up)
                        wave = MAX(wave, d->wave + 1);
        }
        s->wave = wave;
        s->mark = 2;
        return 0;
}

/* How many stopping services depend on s in the old generation, transitively: dependents stop
 * first. */
static int compute_stop_depth(Ctx *c, Svc *s) {
        unsigned depth = 0;
        int r;

        if (s->mark == 2)
                return 0;
        if (s->mark == 1) {
                r = ctx_error(c, "dependency cycle through service '%s' in the old spec", s->name);
                return r < 0 ? r : -ELOOP;
        }
        s->mark = 1;
        for (size_t i = 0; i < c->n_svcs; i++) {
                Svc *o = &c->svcs[i];
                const json_t *dep;
                size_t j;

                if (!o->stops || o == s)
                        continue;
                json_array_foreach (json_object_get(o->old, "depends"), j, dep) {
                        const char *name = json_string_value(json_object_get(dep, "service"));

                        if (!name || !streq(name, s->name))
                                continue;
                        r = compute_stop_depth(c, o);
                        if (r < 0)
                                return r;
                        depth = MAX(depth, o->stop_depth + 1);
                }
        }
        s->stop_depth = depth;
        s->mark = 2;
        return 0;
}

static int plan_add_step(SchedPlan *p, Svc *s, SchedPlanAction action, unsigned wave,
                         int64_t replica, SchedPlanStep **ret) {
        SchedPlanStep *n, *st;

        n = reallocarray(p->steps, p->n_steps + 1, sizeof(SchedPlanStep));
        if (!n)
                return -ENOMEM;
        p->steps = n;
        st = &p->steps[p->n_steps];
        *st = (SchedPlanStep){
                .wave = wave,
                .action = action,
                .change = s->change,
                .replicas = s->to,
                .from_replicas = s->from,
                .replica = replica,
        };
        st->service = strdup(s->name);
        st->rtype = strdup(svc_rtype(action == SCHED_PLAN_STOP ? s->old : s->new));
        st->changed_keys = strv_dup(s->changed_keys);
        if (!st->service || !st->rtype || !st->changed_keys) {
                step_done_free(st);
                return -ENOMEM;
        }
        p->n_steps++;
        if (ret)
                *ret = st;
        return 0;
}

static int step_add_waits(Ctx *c, SchedPlanStep *st, const Svc *s) {
        const json_t *dep;
        size_t i;

        json_array_foreach (json_object_get(s->new, "depends"), i, dep) {
                const char *name = json_string_value(json_object_get(dep, "service"));
                const Svc *d = ctx_find(c, name);
                const json_t *jt = json_object_get(dep, "timeout");
                SchedCondition cond;
                SchedOnTimeout ot;
                SchedPlanWait *n;
                int r;

                if (!d->brings_up)
                        continue;
                cond = json_object_get(dep, "condition")
                               ? sched_condition_from_string(
                                         json_string_value(json_object_get(dep, "condition")))
                               : SCHED_CONDITION_HEALTHY;
                ot = json_object_get(dep, "on_timeout")
                             ? sched_on_timeout_from_string(
                                       json_string_value(json_object_get(dep, "on_timeout")))
                             : SCHED_ON_TIMEOUT_FAIL;
                if (cond <= SCHED_CONDITION_NONE || ot < 0 ||
                    (jt && (!json_is_integer(jt) || json_integer_value(jt) < 0))) {
                        r = ctx_error(c,
                                      "service '%s': dependency on '%s' is not in canonical form",
                                      s->name, name);
                        return r < 0 ? r : -EINVAL;
                }
                n = reallocarray(st->waits, st->n_waits + 1, sizeof(SchedPlanWait));
                if (!n)
                        return -ENOMEM;
                st->waits = n;
                n[st->n_waits] = (SchedPlanWait){
                        .service = strdup(name),
                        .condition = cond,
                        .timeout_ms = jt ? (uint64_t) json_integer_value(jt) : 300000,
                        .on_timeout = ot,
                };
                if (!n[st->n_waits].service)
                        return -ENOMEM;
                st->n_waits++;
        }
        return 0;
}

static int cmp_step(const void *a, const void *b) {
        const SchedPlanStep *x = a, *y = b;
        int k;

        if (x->wave != y->wave)
                return x->wave < y->wave ? -1 : 1;
        k = strcmp(x->service, y->service);
        if (k != 0)
                return k;
        /* Within one service: the replacements in replica order, then the rest in action
         * order (the scale-down after a replacement). */
        if ((x->replica < 0) != (y->replica < 0))
                return x->replica < 0 ? 1 : -1;
        if (x->replica != y->replica)
                return x->replica < y->replica ? -1 : 1;
        return (int) x->action - (int) y->action;
}

static int plan_build_steps(Ctx *c, SchedPlan *p) {
        unsigned up_max = 0;
        int r;

        for (size_t i = 0; i < c->n_svcs; i++) {
                Svc *s = &c->svcs[i];
                SchedPlanStep *st;

                if (!s->new)
                        continue;
                up_max = MAX(up_max, s->wave);
                if (!s->new_runs) {
                        /* job and cron: the new spec is what the next trigger or tick runs. */
                        if (s->change == SCHED_PLAN_UNCHANGED && s->old)
                                r = plan_add_step(p, s, SCHED_PLAN_KEEP, 0, -1, NULL);
                        else
                                r = plan_add_step(p, s, SCHED_PLAN_REGISTER, 0, -1, NULL);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (s->change == SCHED_PLAN_ADDED ||
                    (s->change == SCHED_PLAN_CHANGED && !s->old_runs)) {
                        r = plan_add_step(p, s, SCHED_PLAN_START, s->wave, -1, &st);
                        if (r >= 0)
                                r = step_add_waits(c, st, s);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (s->change == SCHED_PLAN_CHANGED) {
                        for (uint32_t k = 0; k < s->to; k++) {
                                r = plan_add_step(p, s, SCHED_PLAN_REPLACE, s->wave, k, &st);
                                if (r >= 0)
                                        r = step_add_waits(c, st, s);
                                if (r < 0)
                                        return r;
                                st->stop_old = k < s->from;
                        }
                        /* Fewer replicas than before: the surplus old ones go once the new
                         * set serves. */
                        if (s->from > s->to) {
                                r = plan_add_step(p, s, SCHED_PLAN_SCALE, s->wave, -1, NULL);
                                if (r < 0)
                                        return r;
                        }
                        continue;
                }
                /* Both may change at once: two steps, each with its own kind of change. */
                if (s->scale_changed) {
                        r = plan_add_step(p, s, SCHED_PLAN_SCALE, 0, -1, &st);
                        if (r < 0)
                                return r;
                        st->change = SCHED_PLAN_SCALED;
                }
                if (s->endpoints_changed) {
                        r = plan_add_step(p, s, SCHED_PLAN_UPDATE_ROUTES, 0, -1, &st);
                        if (r < 0)
                                return r;
                        st->change = SCHED_PLAN_ROUTES;
                }
                if (!s->scale_changed && !s->endpoints_changed) {
                        r = plan_add_step(p, s, SCHED_PLAN_KEEP, 0, -1, NULL);
                        if (r < 0)
                                return r;
                }
        }

        for (size_t i = 0; i < c->n_svcs; i++) {
                Svc *s = &c->svcs[i];

                if (!s->stops)
                        continue;
                r = plan_add_step(p, s, SCHED_PLAN_STOP, up_max + 1 + s->stop_depth, -1, NULL);
                if (r < 0)
                        return r;
                /* A removed service keeps its own change; a service turned into a job stops its
                 * old containers as part of its change. */
                p->steps[p->n_steps - 1].replicas = 0;
        }

        if (p->n_steps > 0)
                qsort(p->steps, p->n_steps, sizeof(SchedPlanStep), cmp_step);
        return 0;
}

static uint32_t current_of(const json_t *current, const char *name, bool *found) {
        const json_t *v = json_object_get(current, name);

        *found = json_is_integer(v) && json_integer_value(v) >= 0 &&
                 json_integer_value(v) <= UINT32_MAX;
        return *found ? (uint32_t) json_integer_value(v) : 0;
}

static int ctx_setup(Ctx *c, const json_t *old_services, const json_t *new_services,
                     const json_t *current) {
        char **names;
        size_t n;
        int r;

        if (old_services) {
                r = collect_names(old_services, &c->names);
                if (r < 0)
                        return r;
        }
        r = collect_names(new_services, &c->names);
        if (r < 0)
                return r;
        names = c->names;
        n = strv_length(names);
        qsort(names, n, sizeof(char *), cmp_str);

        c->svcs = calloc(MAX(n, 1U), sizeof(Svc));
        if (!c->svcs)
                return -ENOMEM;
        c->n_svcs = n;
        for (size_t i = 0; i < n; i++) {
                Svc *s = &c->svcs[i];
                bool found;
                uint32_t cur;

                s->new = json_object_get(new_services, names[i]);
                s->old = old_services ? json_object_get(old_services, names[i]) : NULL;
                s->name = names[i];
                s->old_runs = s->old && streq(svc_rtype(s->old), "service");
                s->new_runs = s->new &&streq(svc_rtype(s->new), "service");

                cur = current_of(current, s->name, &found);
                if (s->old_runs) {
                        if (!found) {
                                r = scale_initial(s->old, false, 0, &cur);
                                if (r < 0)
                                        goto bad_scale;
                        }
                        s->from = cur;
                }
                if (s->new_runs) {
                        r = scale_initial(s->new, s->old_runs, s->from, &s->to);
                        if (r < 0)
                                goto bad_scale;
                }

                if (!s->old)
                        s->change = SCHED_PLAN_ADDED;
                else if (!s->new)
                        s->change = SCHED_PLAN_REMOVED;
                else {
                        r = diff_service(s);
                        if (r < 0)
                                return r;
                }
                s->brings_up = s->new_runs &&
                               (s->change == SCHED_PLAN_ADDED || s->change == SCHED_PLAN_CHANGED);
                /* Removed jobs and crons stop too: their schedule and running executions go. */
                s->stops = (s->old && !s->new) || (s->old_runs && !s->new_runs);
                continue;
bad_scale:
                r = ctx_error(c, "service '%s': scale is not in canonical form", names[i]);
                return r < 0 ? r : -EINVAL;
        }
        return 0;
}

int sched_plan_compute(const json_t *old_spec, const json_t *new_spec,
                       const json_t *current_replicas, SchedPlan **ret, char **ret_error) {
        _cleanup_(sched_plan_freep) SchedPlan *p = NULL;
        const json_t *old_services = NULL, *new_services = NULL;
        const char *deployment;
        Ctx c = {};
        int r;

        assert(new_spec);
        assert(ret);

        r = check_spec(&c, new_spec, "new", &new_services);
        if (r >= 0 && old_spec)
                r = check_spec(&c, old_spec, "old", &old_services);
        if (r < 0)
                goto finish;
        deployment = json_string_value(json_object_get(new_spec, "deployment"));
        if (!deployment) {
                r = ctx_error(&c, "new spec has no deployment name");
                r = r < 0 ? r : -EINVAL;
                goto finish;
        }

        r = ctx_setup(&c, old_services, new_services, current_replicas);
        if (r < 0)
                goto finish;

        for (size_t i = 0; i < c.n_svcs; i++)
                if (c.svcs[i].new) {
                        r = compute_wave(&c, &c.svcs[i]);
                        if (r < 0)
                                goto finish;
                }
        for (size_t i = 0; i < c.n_svcs; i++)
                c.svcs[i].mark = 0;
        for (size_t i = 0; i < c.n_svcs; i++)
                if (c.svcs[i].stops) {
                        r = compute_stop_depth(&c, &c.svcs[i]);
                        if (r < 0)
                                goto finish;
                }

        p = calloc(1, sizeof(SchedPlan));
        if (!p) {
                r = -ENOMEM;
                goto finish;
        }
        p->deployment = strdup(deployment);
        p->services = calloc(c.n_svcs + 1, sizeof(char *));
        if (!p->deployment || !p->services) {
                r = -ENOMEM;
                goto finish;
        }
        for (size_t i = 0; i < c.n_svcs; i++) {
                p->services[i] = strdup(c.svcs[i].name);
                if (!p->services[i]) {
                        r = -ENOMEM;
                        goto finish;
                }
        }
        r = plan_build_steps(&c, p);
        if (r < 0)
                goto finish;

        *ret = TAKE_PTR(p);
        r = 0;
finish:
        for (size_t i = 0; i < c.n_svcs; i++)
                strv_free(c.svcs[i].changed_keys);
        free(c.svcs);
        strv_free(c.names);
        if (r < 0 && ret_error && c.error)
                *ret_error = TAKE_PTR(c.error);
        free(c.error);
        return r;
}

/* ---- output ---------------------------------------------------------------------------- */

static int strv_to_json(char *const *l, json_t **ret) {
        _cleanup_(json_decrefp) json_t *a = json_array();

        if (!a)
                return -ENOMEM;
        for (char *const *s = l; s && *s; s++)
                if (json_array_append_new(a, json_string(*s)) < 0)
                        return -ENOMEM;
        *ret = TAKE_PTR(a);
        return 0;
}

static int step_to_json(const SchedPlanStep *st, json_t **ret) {
        _cleanup_(json_decrefp) json_t *o = NULL, *waits = json_array(), *keys = NULL;
        int r;

        if (!waits)
                return -ENOMEM;
        for (size_t i = 0; i < st->n_waits; i++) {
                const SchedPlanWait *w = &st->waits[i];

                if (json_array_append_new(
                            waits, json_pack("{s:s,s:s,s:I,s:s}", "service", w->service,
                                             "condition", sched_condition_to_string(w->condition),
                                             "timeout_ms", (json_int_t) w->timeout_ms, "on_timeout",
                                             sched_on_timeout_to_string(w->on_timeout))) < 0)
                        return -ENOMEM;
        }
        r = strv_to_json(st->changed_keys, &keys);
        if (r < 0)
                return r;
        o = json_pack("{s:I,s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:b,s:O,s:O}", "wave",
                      (json_int_t) st->wave, "service", st->service, "action",
                      sched_plan_action_to_string(st->action), "change",
                      sched_plan_change_to_string(st->change), "rtype", st->rtype, "replicas",
                      (json_int_t) st->replicas, "from_replicas", (json_int_t) st->from_replicas,
                      "replica", (json_int_t) st->replica, "stop_old", st->stop_old, "waits_for",
                      waits, "changed_keys", keys);
        if (!o)
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

int sched_plan_to_json(const SchedPlan *p, json_t **ret) {
        _cleanup_(json_decrefp) json_t *steps = json_array(), *o = NULL;
        int r;

        assert(p);
        assert(ret);

        if (!steps)
                return -ENOMEM;
        for (size_t i = 0; i < p->n_steps; i++) {
                json_t *s;

                r = step_to_json(&p->steps[i], &s);
                if (r < 0)
                        return r;
                if (json_array_append_new(steps, s) < 0)
                        return -ENOMEM;
        }
        o = json_pack("{s:s,s:O}", "deployment", p->deployment, "steps", steps);
        if (!o)
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

int sched_plan_format_json(const SchedPlan *p, char **ret) {
        _cleanup_(json_decrefp) json_t *j = NULL;
        _cleanup_free_ char *s = NULL;
        int r;

        assert(ret);

        r = sched_plan_to_json(p, &j);
        if (r < 0)
                return r;
        s = json_dumps(j, JSON_SORT_KEYS | JSON_INDENT(2));
        if (!s)
                return -ENOMEM;
        r = strextend(&s, "\n");
        if (r < 0)
                return r;
        *ret = TAKE_PTR(s);
        return 0;
}

/* Durations as the spec writes them: "5m", "1h30m", "250ms", "0s". */
static void format_duration(uint64_t ms, char *buf, size_t len) {
        static const struct {
                const char *suffix;
                uint64_t ms;
        } units[] = {
                { "d", 86400000 }, { "h", 3600000 }, { "m", 60000 }, { "s", 1000 }, { "ms", 1 },
        };
        size_t n = 0;

        if (ms == 0) {
                snprintf(buf, len, "0s");
                return;
        }
        buf[0] = '\0';
        for (size_t i = 0; i < ELEMENTSOF(units) && ms > 0 && n < len; i++) {
                uint64_t k = ms / units[i].ms;

                if (k == 0)
                        continue;
                n += (size_t) snprintf(buf + n, len - n, "%" PRIu64 "%s", k, units[i].suffix);
                ms -= k * units[i].ms;
        }
}

static const char *plural(uint32_t n) {
        return n == 1 ? "" : "s";
}

static int text_waits(char **t, const SchedPlanStep *st) {
        int r;

        for (size_t i = 0; i < st->n_waits; i++) {
                const SchedPlanWait *w = &st->waits[i];
                char d[64];

                format_duration(w->timeout_ms, d, sizeof(d));
                r = strextendf(t, "%s %s %s (timeout %s, on timeout: %s)",
                               i == 0 ? " after" : " and", w->service,
                               sched_condition_to_string(w->condition), d,
                               sched_on_timeout_to_string(w->on_timeout));
                if (r < 0)
                        return r;
        }
        return 0;
}

static int text_changed(char **t, const SchedPlanStep *st) {
        _cleanup_free_ char *keys = strv_join(st->changed_keys, ", ");

        if (!keys)
                return -ENOMEM;
        return strextendf(t, "%s changed", isempty(keys) ? "spec" : keys);
}

int sched_plan_format_text(const SchedPlan *p, char **ret) {
        _cleanup_free_ char *t = strdup("");
        int r = 0;

        assert(p);
        assert(ret);

        if (!t)
                return -ENOMEM;
        for (size_t i = 0; i < p->n_steps; i++) {
                const SchedPlanStep *st = &p->steps[i];

                switch (st->action) {
                case SCHED_PLAN_START:
                        r = strextendf(&t, "+ start %s (%" PRIu32 " replica%s)", st->service,
                                       st->replicas, plural(st->replicas));
                        if (r >= 0 && st->change == SCHED_PLAN_CHANGED) {
                                r = strextend(&t, ": ");
                                if (r >= 0)
                                        r = text_changed(&t, st);
                        }
                        if (r >= 0)
                                r = text_waits(&t, st);
                        break;
                case SCHED_PLAN_REPLACE:
                        /* One line for the whole rolling replacement: its first replica. */
                        if (st->replica != 0)
                                continue;
                        r = strextendf(&t, "~ replace %s: ", st->service);
                        if (r >= 0)
                                r = text_changed(&t, st);
                        if (r >= 0)
                                r = strextendf(&t, " (rolling, %" PRIu32 " replica%s)",
                                               st->replicas, plural(st->replicas));
                        if (r >= 0)
                                r = text_waits(&t, st);
                        break;
                case SCHED_PLAN_SCALE:
                        if (st->change == SCHED_PLAN_CHANGED && st->replicas > 0)
                                r = strextendf(&t,
                                               "~ scale %s down: %" PRIu32 " -> %" PRIu32
                                               " replicas after the replacement",
                                               st->service, st->from_replicas, st->replicas);
                        else
                                r = strextendf(&t,
                                               "~ scale %s: %" PRIu32 " -> %" PRIu32 " replica%s",
                                               st->service, st->from_replicas, st->replicas,
                                               plural(st->replicas));
                        break;
                case SCHED_PLAN_UPDATE_ROUTES:
                        r = strextendf(&t, "~ update routes of %s: endpoints changed (no restart)",
                                       st->service);
                        break;
                case SCHED_PLAN_REGISTER:
                        r = strextendf(&t, "%c register %s (%s: %s)",
                                       st->change == SCHED_PLAN_ADDED ? '+' : '~', st->service,
                                       st->rtype,
                                       streq(st->rtype, "cron") ? "runs on its schedule"
                                                                : "runs when triggered");
                        break;
                case SCHED_PLAN_STOP:
                        r = strextendf(&t, "- stop %s", st->service);
                        if (r >= 0 && st->change != SCHED_PLAN_REMOVED)
                                r = strextendf(&t, " (no longer a %s)", st->rtype);
                        break;
                case SCHED_PLAN_KEEP:
                        r = strextendf(&t, "= %s unchanged", st->service);
                        if (r >= 0 && strv_length(st->changed_keys) > 0) {
                                r = strextend(&t, " (");
                                if (r >= 0)
                                        r = text_changed(&t, st);
                                if (r >= 0)
                                        r = strextend(&t, ", no restart)");
                        }
                        break;
                default:
                        return -EINVAL;
                }
                if (r >= 0)
                        r = strextend(&t, "\n");
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(t);
        return 0;
}
