/* SPDX-License-Identifier: Apache-2.0 */
/* sched-test-fake.c: in-memory SchedBackends and SchedStore for the scheduler's unit tests. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched-test-fake.h"
#include "string-util.h"
#include "time-util.h"

static const char *const op_table[_FAKE_OP_MAX] = {
        [FAKE_OP_CREATE] = "create",         [FAKE_OP_START] = "start", [FAKE_OP_STOP] = "stop",
        [FAKE_OP_REMOVE] = "remove",         [FAKE_OP_LIST] = "list",   [FAKE_OP_EXEC] = "exec",
        [FAKE_OP_SET_ROUTES] = "set_routes",
};

const char *fake_op_to_string(FakeOp op) {
        return op >= 0 && op < _FAKE_OP_MAX ? op_table[op] : NULL;
}

typedef struct FailRule {
        FakeOp op;
        char *match;
        int error;
        char *message;
        unsigned count; /* 0: forever */
} FailRule;

typedef struct ExecResult {
        char *match;
        int exit_code;
        char *out;
        char *err;
} ExecResult;

typedef struct Pending Pending;

struct FakeBackends {
        sd_event *event;
        SchedBackends table;

        FakeContainer **containers;
        size_t n_containers;
        uint64_t next_seq;
        unsigned next_ip;

        FakeCall *calls;
        size_t n_calls;

        FailRule *rules;
        size_t n_rules;
        ExecResult *exec_results;
        size_t n_exec_results;

        uint64_t delay[_FAKE_OP_MAX];
        bool held[_FAKE_OP_MAX];

        Pending *pending; /* a list, in call order */

        json_t *routes; /* owner -> text */

        FakeContainerChangedFn changed;
        void *changed_userdata;
};

struct Pending {
        FakeBackends *fb;
        Pending *next;
        FakeOp op;
        sd_event_source *source;
        void *done;
        void *done_userdata;

        char *arg; /* id, name, label key or owner */
        SchedContainerSpec spec; /* create */
        unsigned timeout_sec; /* stop */
        bool force; /* remove */
        char **argv; /* exec */
        char *routes; /* set_routes */

        bool failed; /* an injected failure */
        int error;
        char *message;
};

/* ---- containers ----------------------------------------------------------------------------- */

static FakeContainer *container_free(FakeContainer *c) {
        if (!c)
                return NULL;
        free(c->id);
        free(c->name);
        free(c->image);
        free(c->state);
        json_decref(c->labels);
        free(c->ip);
        sched_container_spec_done(&c->spec);
        free(c);
        return NULL;
}

static FakeContainer *container_find(const FakeBackends *fb, const char *id, size_t *ret_i) {
        if (!id)
                return NULL;
        for (size_t i = 0; i < fb->n_containers; i++)
                if (streq(fb->containers[i]->id, id) || streq(fb->containers[i]->name, id)) {
                        if (ret_i)
                                *ret_i = i;
                        return fb->containers[i];
                }
        return NULL;
}

static int container_set_state(FakeContainer *c, const char *state, int exit_code) {
        char *s = strdup(state);

        if (!s)
                return -ENOMEM;
        free_and_replace(c->state, s);
        c->exit_code = exit_code;
        return 0;
}

static int container_new(FakeBackends *fb, const char *name, const char *image,
                         const json_t *labels, FakeContainer **ret) {
        FakeContainer *c, **a;
        uint64_t seq = ++fb->next_seq;

        a = reallocarray(fb->containers, fb->n_containers + 1, sizeof(FakeContainer *));
        if (!a)
                return -ENOMEM;
        fb->containers = a;

        c = calloc(1, sizeof(FakeContainer));
        if (!c)
                return -ENOMEM;
        c->seq = seq;
        c->exit_code = -1;
        /* 64 hex digits, unique and reproducible: the sequence number in every quarter. */
        if (asprintf(&c->id, "%016" PRIx64 "%016" PRIx64 "%016" PRIx64 "%016" PRIx64,
                     UINT64_C(0xfa4e000000000000) | seq, seq, seq, seq) < 0)
                c->id = NULL;
        c->name = name ? strdup(name) : NULL;
        if (!c->name && c->id)
                (void) asprintf(&c->name, "zl-%.8s", c->id + 56);
        c->image = strdup(strempty(image));
        c->state = strdup("created");
        c->labels = labels ? json_deep_copy(labels) : json_object();
        if (asprintf(&c->ip, "10.200.0.%u", 2 + fb->next_ip++ % 250) < 0)
                c->ip = NULL;
        if (!c->id || !c->name || !c->image || !c->state || !c->labels || !c->ip) {
                container_free(c);
                return -ENOMEM;
        }
        fb->containers[fb->n_containers++] = c;
        *ret = c;
        return 0;
}

static void container_remove_at(FakeBackends *fb, size_t i) {
        container_free(fb->containers[i]);
        memmove(fb->containers + i, fb->containers + i + 1,
                (fb->n_containers - i - 1) * sizeof(FakeContainer *));
        fb->n_containers--;
}

static void notify(FakeBackends *fb, const char *id, const char *state, int exit_code) {
        if (fb->changed)
                fb->changed(id, state, exit_code, fb->changed_userdata);
}

/* ---- pending calls -------------------------------------------------------------------------- */

static void pending_free(Pending *p) {
        if (!p)
                return;
        sd_event_source_disable_unref(p->source);
        free(p->arg);
        sched_container_spec_done(&p->spec);
        strv_free(p->argv);
        free(p->routes);
        free(p->message);
        free(p);
}

static void pending_unlink(FakeBackends *fb, Pending *p) {
        for (Pending **q = &fb->pending; *q; q = &(*q)->next)
                if (*q == p) {
                        *q = p->next;
                        p->next = NULL;
                        return;
                }
}

static int spec_copy(const SchedContainerSpec *s, SchedContainerSpec *ret) {
        _cleanup_(sched_container_spec_done) SchedContainerSpec c = {
                .memory = s->memory,
                .cpus = s->cpus,
                .pids = s->pids,
                .privileged = s->privileged,
                .read_only = s->read_only,
                .stop_grace_usec = s->stop_grace_usec,
        };

#define DUP(f)                                                                                     \
        if (s->f && !(c.f = strdup(s->f)))                                                         \
                return -ENOMEM;
#define STRV(f)                                                                                    \
        if (s->f) {                                                                                \
                c.f = calloc(1, sizeof(char *));                                                   \
                if (!c.f)                                                                          \
                        return -ENOMEM;                                                            \
                for (char **x = s->f; *x; x++)                                                     \
                        if (strv_extend(&c.f, *x) < 0)                                             \
                                return -ENOMEM;                                                    \
        }
#define JSON(f)                                                                                    \
        if (s->f && !(c.f = json_deep_copy(s->f)))                                                 \
                return -ENOMEM;
        DUP(name);
        DUP(image);
        DUP(pull_policy);
        STRV(entrypoint);
        STRV(args);
        DUP(cwd);
        DUP(user);
        DUP(hostname);
        STRV(env);
        STRV(cap_add);
        STRV(cap_drop);
        JSON(storage);
        JSON(devices);
        JSON(sysctls);
        JSON(labels);
        DUP(stop_signal);
#undef DUP
#undef STRV
#undef JSON
        *ret = c;
        c = (SchedContainerSpec){};
        return 0;
}

static int complete_error(Pending *p, int error, const char *fmt, ...) _printf_(3, 4);
static int complete_error(Pending *p, int error, const char *fmt, ...) {
        va_list ap;
        char *m = NULL;

        va_start(ap, fmt);
        if (vasprintf(&m, fmt, ap) < 0)
                m = NULL;
        va_end(ap);
        free_and_replace(p->message, m);
        p->error = error;
        return error;
}

static const ExecResult *exec_result_find(const FakeBackends *fb, const FakeContainer *c) {
        for (size_t i = fb->n_exec_results; i > 0; i--) {
                const ExecResult *e = &fb->exec_results[i - 1];

                if (!e->match || streq(e->match, c->id) || streq(e->match, c->name))
                        return e;
        }
        return NULL;
}

/* Does what the call asks, now; the outcome goes to p->error/p->message. */
static void pending_apply(Pending *p, FakeContainer **ret_c) {
        FakeBackends *fb = p->fb;
        FakeContainer *c = NULL;
        size_t i;
        int r;

        *ret_c = NULL;
        if (p->failed)
                return;

        switch (p->op) {
        case FAKE_OP_CREATE:
                if (p->spec.name && container_find(fb, p->spec.name, NULL)) {
                        complete_error(p, -EEXIST, "container name '%s' is already in use",
                                       p->spec.name);
                        return;
                }
                r = container_new(fb, p->spec.name, p->spec.image, p->spec.labels, &c);
                if (r < 0) {
                        complete_error(p, r, "out of memory");
                        return;
                }
                c->spec = p->spec;
                p->spec = (SchedContainerSpec){};
                break;
        case FAKE_OP_START:
        case FAKE_OP_STOP:
        case FAKE_OP_REMOVE:
        case FAKE_OP_EXEC:
                c = container_find(fb, p->arg, &i);
                if (!c) {
                        complete_error(p, -ENOENT, "no container '%s'", p->arg);
                        return;
                }
                if (p->op == FAKE_OP_START) {
                        if (!streq(c->state, "created")) {
                                complete_error(p, -EBUSY, "container '%s' is %s, not created",
                                               p->arg, c->state);
                                return;
                        }
                        if (container_set_state(c, "running", -1) < 0)
                                complete_error(p, -ENOMEM, "out of memory");
                } else if (p->op == FAKE_OP_STOP) {
                        if (!streq(c->state, "running")) {
                                c = NULL; /* nothing changed */
                                return;
                        }
                        if (container_set_state(c, "exited", 128 + 15) < 0)
                                complete_error(p, -ENOMEM, "out of memory");
                } else if (p->op == FAKE_OP_REMOVE) {
                        if (streq(c->state, "running") && !p->force) {
                                complete_error(p, -EBUSY, "container '%s' is running", p->arg);
                                return;
                        }
                        /* The hook gets the id after the container is gone. */
                        free_and_replace(p->arg, c->id);
                        c->id = NULL;
                        container_remove_at(fb, i);
                        *ret_c = NULL;
                        return;
                } else if (!streq(c->state, "running") && !streq(c->state, "created")) {
                        complete_error(p, -EBUSY, "container '%s' is %s", p->arg, c->state);
                        return;
                }
                break;
        case FAKE_OP_SET_ROUTES:
                if (json_object_set_new(fb->routes, p->arg, json_string(p->routes)) < 0)
                        complete_error(p, -ENOMEM, "out of memory");
                return;
        default:
                return;
        }
        *ret_c = c;
}

static int list_build(FakeBackends *fb, const char *key, SchedContainerInfo **ret, size_t *ret_n) {
        SchedContainerInfo *a;
        size_t n = 0;

        a = calloc(MAX(fb->n_containers, 1U), sizeof(SchedContainerInfo));
        if (!a)
                return -ENOMEM;
        for (size_t i = 0; i < fb->n_containers; i++) {
                FakeContainer *c = fb->containers[i];
                SchedContainerInfo *o = &a[n];

                if (!json_object_get(c->labels, key))
                        continue;
                n++;
                o->id = strdup(c->id);
                o->name = strdup(c->name);
                o->image = strdup(c->image);
                o->state = strdup(c->state);
                o->exit_code = c->exit_code;
                o->labels = json_deep_copy(c->labels);
                o->ip = strdup(streq(c->state, "exited") ? "" : c->ip);
                if (!o->id || !o->name || !o->image || !o->state || !o->labels || !o->ip) {
                        sched_container_info_array_free(a, n);
                        return -ENOMEM;
                }
        }
        *ret = a;
        *ret_n = n;
        return 0;
}

static void pending_complete(Pending *p) {
        FakeBackends *fb = p->fb;
        _cleanup_free_ char *id = NULL;
        FakeContainer *c = NULL;
        const char *state = NULL;
        int exit_code = -1;

        pending_unlink(fb, p);
        pending_apply(p, &c);

        /* What zl-runtimed would signal. */
        if (p->error >= 0) {
                if (p->op == FAKE_OP_REMOVE && p->arg && !container_find(fb, p->arg, NULL))
                        state = "removed";
                else if (c && p->op != FAKE_OP_EXEC) {
                        state = c->state;
                        exit_code = c->exit_code;
                }
                id = strdup(c ? c->id : strempty(p->arg));
                if (state && id)
                        notify(fb, id, state, exit_code);
        }

        /* The hook may have changed the table: look the container up again. */
        c = id ? container_find(fb, id, NULL) : NULL;

        switch (p->op) {
        case FAKE_OP_CREATE:
                ((SchedCreatedFn) p->done)(p->error, p->error < 0 ? p->message : NULL,
                                           p->error < 0 ? NULL : id, p->done_userdata);
                break;
        case FAKE_OP_LIST: {
                SchedContainerInfo *a = NULL;
                size_t n = 0;
                int r = p->error;

                if (r >= 0)
                        r = list_build(fb, p->arg, &a, &n);
                ((SchedListFn) p->done)(r, r < 0 ? strempty(p->message) : NULL, a, n,
                                        p->done_userdata);
                sched_container_info_array_free(a, n);
                break;
        }
        case FAKE_OP_EXEC: {
                const ExecResult *e = p->error >= 0 && c ? exec_result_find(fb, c) : NULL;
                const char *out = e ? strempty(e->out) : "", *err = e ? strempty(e->err) : "";

                ((SchedExecDoneResultFn) p->done)(p->error, p->error < 0 ? p->message : NULL,
                                                  p->error < 0 ? -1
                                                  : e          ? e->exit_code
                                                               : 0,
                                                  out, strlen(out), err, strlen(err),
                                                  p->done_userdata);
                break;
        }
        default:
                ((SchedDoneFn) p->done)(p->error, p->error < 0 ? p->message : NULL,
                                        p->done_userdata);
        }
        pending_free(p);
}

static int on_pending(sd_event_source *s, void *userdata) {
        pending_complete(userdata);
        return 0;
}

static int on_pending_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        pending_complete(userdata);
        return 0;
}

static int pending_arm(Pending *p) {
        FakeBackends *fb = p->fb;

        if (fb->held[p->op] || p->source)
                return 0;
        if (fb->delay[p->op] > 0)
                return sd_event_add_time_relative(fb->event, &p->source, CLOCK_MONOTONIC,
                                                  fb->delay[p->op], 0, on_pending_timer, p);
        return sd_event_add_defer(fb->event, &p->source, on_pending, p);
}

static const char *create_match_key(const Pending *p) {
        return p->op == FAKE_OP_CREATE ? p->spec.image : p->arg;
}

static int pending_queue(FakeBackends *fb, Pending *p) {
        FakeCall *calls;
        Pending **tail;
        int r;

        calls = reallocarray(fb->calls, fb->n_calls + 1, sizeof(FakeCall));
        if (!calls)
                return -ENOMEM;
        fb->calls = calls;
        calls[fb->n_calls].op = p->op;
        calls[fb->n_calls].arg = strdup(strempty(p->op == FAKE_OP_CREATE ? p->spec.name : p->arg));
        if (!calls[fb->n_calls].arg)
                return -ENOMEM;
        fb->n_calls++;

        for (size_t i = 0; i < fb->n_rules; i++) {
                FailRule *rule = &fb->rules[i];

                if (rule->op != p->op ||
                    (rule->match && !streq(rule->match, strempty(create_match_key(p)))))
                        continue;
                p->failed = true;
                complete_error(p, -abs(rule->error), "%s", rule->message ?: "injected failure");
                if (rule->count > 0 && --rule->count == 0) {
                        free(rule->match);
                        free(rule->message);
                        memmove(rule, rule + 1, (fb->n_rules - i - 1) * sizeof(FailRule));
                        fb->n_rules--;
                }
                break;
        }

        r = pending_arm(p);
        if (r < 0)
                return r;
        for (tail = &fb->pending; *tail; tail = &(*tail)->next)
                ;
        *tail = p;
        return 0;
}

static Pending *pending_new(FakeBackends *fb, FakeOp op, void *done, void *done_userdata,
                            const char *arg) {
        Pending *p = calloc(1, sizeof(Pending));

        if (!p)
                return NULL;
        *p = (Pending){ .fb = fb, .op = op, .done = done, .done_userdata = done_userdata };
        if (arg && !(p->arg = strdup(arg))) {
                free(p);
                return NULL;
        }
        return p;
}

static int queue_or_free(FakeBackends *fb, Pending *p) {
        int r = pending_queue(fb, p);

        if (r < 0) {
                pending_unlink(fb, p);
                pending_free(p);
        }
        return r;
}

static int fb_create(void *userdata, const SchedContainerSpec *spec, SchedCreatedFn done,
                     void *done_userdata) {
        FakeBackends *fb = userdata;
        Pending *p;
        int r;

        if (!spec || !done)
                return -EINVAL;
        p = pending_new(fb, FAKE_OP_CREATE, (void *) done, done_userdata, NULL);
        if (!p)
                return -ENOMEM;
        r = spec_copy(spec, &p->spec);
        if (r < 0) {
                pending_free(p);
                return r;
        }
        return queue_or_free(fb, p);
}

static int fb_simple(FakeBackends *fb, FakeOp op, const char *id, SchedDoneFn done,
                     void *done_userdata, Pending **ret) {
        Pending *p;

        if (!id || !done)
                return -EINVAL;
        p = pending_new(fb, op, (void *) done, done_userdata, id);
        if (!p)
                return -ENOMEM;
        *ret = p;
        return 0;
}

static int fb_start(void *userdata, const char *id, SchedDoneFn done, void *done_userdata) {
        Pending *p;
        int r = fb_simple(userdata, FAKE_OP_START, id, done, done_userdata, &p);

        return r < 0 ? r : queue_or_free(userdata, p);
}

static int fb_stop(void *userdata, const char *id, unsigned timeout_sec, SchedDoneFn done,
                   void *done_userdata) {
        Pending *p;
        int r = fb_simple(userdata, FAKE_OP_STOP, id, done, done_userdata, &p);

        if (r < 0)
                return r;
        p->timeout_sec = timeout_sec;
        return queue_or_free(userdata, p);
}

static int fb_remove(void *userdata, const char *id, bool force, SchedDoneFn done,
                     void *done_userdata) {
        Pending *p;
        int r = fb_simple(userdata, FAKE_OP_REMOVE, id, done, done_userdata, &p);

        if (r < 0)
                return r;
        p->force = force;
        return queue_or_free(userdata, p);
}

static int fb_list(void *userdata, const char *label_key, SchedListFn done, void *done_userdata) {
        Pending *p;

        if (!label_key || !done)
                return -EINVAL;
        p = pending_new(userdata, FAKE_OP_LIST, (void *) done, done_userdata, label_key);
        if (!p)
                return -ENOMEM;
        return queue_or_free(userdata, p);
}

static int fb_exec(void *userdata, const char *id, const char *const *argv, uint64_t timeout_usec,
                   SchedExecDoneResultFn done, void *done_userdata) {
        Pending *p;

        if (!id || !argv || !argv[0] || !done)
                return -EINVAL;
        p = pending_new(userdata, FAKE_OP_EXEC, (void *) done, done_userdata, id);
        if (!p)
                return -ENOMEM;
        for (const char *const *a = argv; *a; a++)
                if (strv_extend(&p->argv, *a) < 0) {
                        pending_free(p);
                        return -ENOMEM;
                }
        return queue_or_free(userdata, p);
}

static int fb_set_routes(void *userdata, const char *owner, const char *routes_json,
                         SchedDoneFn done, void *done_userdata) {
        Pending *p;

        if (!owner || !routes_json || !done)
                return -EINVAL;
        p = pending_new(userdata, FAKE_OP_SET_ROUTES, (void *) done, done_userdata, owner);
        if (!p)
                return -ENOMEM;
        p->routes = strdup(routes_json);
        if (!p->routes) {
                pending_free(p);
                return -ENOMEM;
        }
        return queue_or_free(userdata, p);
}

static void fb_cancel(void *userdata, void *done_userdata) {
        FakeBackends *fb = userdata;

        for (Pending **q = &fb->pending; *q;) {
                Pending *p = *q;

                if (p->done_userdata == done_userdata) {
                        *q = p->next;
                        pending_free(p);
                } else
                        q = &p->next;
        }
}

int fake_backends_new(sd_event *event, FakeBackends **ret) {
        FakeBackends *fb;

        if (!event || !ret)
                return -EINVAL;
        fb = calloc(1, sizeof(FakeBackends));
        if (!fb)
                return -ENOMEM;
        fb->routes = json_object();
        if (!fb->routes) {
                free(fb);
                return -ENOMEM;
        }
        fb->event = sd_event_ref(event);
        fb->table = (SchedBackends){
                .create = fb_create,
                .start = fb_start,
                .stop = fb_stop,
                .remove = fb_remove,
                .list = fb_list,
                .exec = fb_exec,
                .set_routes = fb_set_routes,
                .cancel = fb_cancel,
                .userdata = fb,
        };
        *ret = fb;
        return 0;
}

FakeBackends *fake_backends_free(FakeBackends *fb) {
        if (!fb)
                return NULL;
        while (fb->pending) {
                Pending *p = fb->pending;

                fb->pending = p->next;
                pending_free(p);
        }
        for (size_t i = 0; i < fb->n_containers; i++)
                container_free(fb->containers[i]);
        free(fb->containers);
        for (size_t i = 0; i < fb->n_calls; i++)
                free(fb->calls[i].arg);
        free(fb->calls);
        for (size_t i = 0; i < fb->n_rules; i++) {
                free(fb->rules[i].match);
                free(fb->rules[i].message);
        }
        free(fb->rules);
        for (size_t i = 0; i < fb->n_exec_results; i++) {
                free(fb->exec_results[i].match);
                free(fb->exec_results[i].out);
                free(fb->exec_results[i].err);
        }
        free(fb->exec_results);
        json_decref(fb->routes);
        sd_event_unref(fb->event);
        free(fb);
        return NULL;
}

const SchedBackends *fake_backends_table(FakeBackends *fb) {
        return &fb->table;
}

void fake_backends_set_changed_hook(FakeBackends *fb, FakeContainerChangedFn fn, void *userdata) {
        fb->changed = fn;
        fb->changed_userdata = userdata;
}

int fake_backends_fail(FakeBackends *fb, FakeOp op, const char *match, int error,
                       const char *message, unsigned count) {
        FailRule *a, rule = { .op = op, .error = error == 0 ? -EIO : error, .count = count };

        if (op < 0 || op >= _FAKE_OP_MAX)
                return -EINVAL;
        if ((match && !(rule.match = strdup(match))) ||
            (message && !(rule.message = strdup(message)))) {
                free(rule.match);
                return -ENOMEM;
        }
        a = reallocarray(fb->rules, fb->n_rules + 1, sizeof(FailRule));
        if (!a) {
                free(rule.match);
                free(rule.message);
                return -ENOMEM;
        }
        fb->rules = a;
        a[fb->n_rules++] = rule;
        return 0;
}

int fake_backends_set_exec_result(FakeBackends *fb, const char *match, int exit_code,
                                  const char *out, const char *err) {
        ExecResult e = { .exit_code = exit_code }, *a;

        if ((match && !(e.match = strdup(match))) || (out && !(e.out = strdup(out))) ||
            (err && !(e.err = strdup(err)))) {
                free(e.match);
                free(e.out);
                free(e.err);
                return -ENOMEM;
        }
        a = reallocarray(fb->exec_results, fb->n_exec_results + 1, sizeof(ExecResult));
        if (!a) {
                free(e.match);
                free(e.out);
                free(e.err);
                return -ENOMEM;
        }
        fb->exec_results = a;
        a[fb->n_exec_results++] = e;
        return 0;
}

void fake_backends_set_delay(FakeBackends *fb, FakeOp op, uint64_t delay_usec) {
        if (op >= 0 && op < _FAKE_OP_MAX)
                fb->delay[op] = delay_usec;
}

void fake_backends_hold(FakeBackends *fb, FakeOp op, bool hold) {
        if (op < 0 || op >= _FAKE_OP_MAX)
                return;
        fb->held[op] = hold;
        if (!hold)
                for (Pending *p = fb->pending; p; p = p->next)
                        if (p->op == op)
                                (void) pending_arm(p);
}

size_t fake_backends_n_pending(const FakeBackends *fb) {
        size_t n = 0;

        for (const Pending *p = fb->pending; p; p = p->next)
                n++;
        return n;
}

static size_t backends_n_armed(const FakeBackends *fb) {
        size_t n = 0;

        for (const Pending *p = fb->pending; p; p = p->next)
                n += !!p->source;
        return n;
}

int fake_backends_container_exit(FakeBackends *fb, const char *id, int exit_code) {
        _cleanup_free_ char *cid = NULL;
        FakeContainer *c = container_find(fb, id, NULL);
        int r;

        if (!c)
                return -ENOENT;
        if (!streq(c->state, "running"))
                return -EBUSY;
        r = container_set_state(c, "exited", exit_code);
        if (r < 0)
                return r;
        cid = strdup(c->id);
        if (!cid)
                return -ENOMEM;
        notify(fb, cid, "exited", exit_code);
        return 0;
}

int fake_backends_add_container(FakeBackends *fb, const char *name, const char *image,
                                const json_t *labels, const char *state, int exit_code,
                                const char **ret_id) {
        FakeContainer *c;
        int r;

        if (!state ||
            (!streq(state, "created") && !streq(state, "running") && !streq(state, "exited")))
                return -EINVAL;
        if (name && container_find(fb, name, NULL))
                return -EEXIST;
        r = container_new(fb, name, image, labels, &c);
        if (r < 0)
                return r;
        r = container_set_state(c, state, streq(state, "exited") ? exit_code : -1);
        if (r < 0)
                return r;
        if (ret_id)
                *ret_id = c->id;
        return 0;
}

int fake_backends_drop_container(FakeBackends *fb, const char *id) {
        size_t i;

        if (!container_find(fb, id, &i))
                return -ENOENT;
        container_remove_at(fb, i);
        return 0;
}

const FakeContainer *fake_backends_get_container(const FakeBackends *fb, const char *id) {
        return container_find(fb, id, NULL);
}

size_t fake_backends_n_containers(const FakeBackends *fb) {
        return fb->n_containers;
}

const FakeContainer *fake_backends_container_at(const FakeBackends *fb, size_t i) {
        return i < fb->n_containers ? fb->containers[i] : NULL;
}

size_t fake_backends_count_labelled(const FakeBackends *fb, const char *key, const char *value) {
        size_t n = 0;

        for (size_t i = 0; i < fb->n_containers; i++) {
                const char *v = json_string_value(json_object_get(fb->containers[i]->labels, key));

                if (v && (!value || streq(v, value)))
                        n++;
        }
        return n;
}

size_t fake_backends_n_calls(const FakeBackends *fb) {
        return fb->n_calls;
}

const FakeCall *fake_backends_call_at(const FakeBackends *fb, size_t i) {
        return i < fb->n_calls ? &fb->calls[i] : NULL;
}

size_t fake_backends_count_calls(const FakeBackends *fb, FakeOp op, const char *arg) {
        size_t n = 0;

        for (size_t i = 0; i < fb->n_calls; i++)
                if (fb->calls[i].op == op && (!arg || streq(fb->calls[i].arg, arg)))
                        n++;
        return n;
}

void fake_backends_clear_calls(FakeBackends *fb) {
        for (size_t i = 0; i < fb->n_calls; i++)
                free(fb->calls[i].arg);
        fb->calls = mfree(fb->calls);
        fb->n_calls = 0;
}

const char *fake_backends_get_routes(const FakeBackends *fb, const char *owner) {
        return json_string_value(json_object_get(fb->routes, owner));
}

/* ---- store ---------------------------------------------------------------------------------- */

typedef struct StorePending StorePending;

typedef struct StoreFailRule {
        char *op;
        int error;
        unsigned count;
} StoreFailRule;

struct FakeStore {
        sd_event *event;
        SchedStore table;
        SchedState *state;
        bool leader;
        bool held;

        StorePending *pending;

        char **submitted;
        size_t n_submitted;

        StoreFailRule *rules;
        size_t n_rules;

        FakeStoreChangedFn changed;
        void *changed_userdata;
};

struct StorePending {
        FakeStore *fs;
        StorePending *next;
        sd_event_source *source;
        char *cmd;
        int error; /* an injected failure */
        SchedStoreDoneFn done;
        void *done_userdata;
};

static void store_pending_free(StorePending *p) {
        if (!p)
                return;
        sd_event_source_disable_unref(p->source);
        free(p->cmd);
        free(p);
}

static void store_pending_unlink(FakeStore *fs, StorePending *p) {
        for (StorePending **q = &fs->pending; *q; q = &(*q)->next)
                if (*q == p) {
                        *q = p->next;
                        return;
                }
}

static int on_store_pending(sd_event_source *s, void *userdata) {
        StorePending *p = userdata;
        FakeStore *fs = p->fs;
        SchedApplyResult result = {};
        int r;

        store_pending_unlink(fs, p);
        if (p->error < 0) {
                if (p->done)
                        p->done(p->error, NULL, p->done_userdata);
        } else {
                r = sched_state_apply(fs->state, p->cmd, strlen(p->cmd), &result);
                if (r >= 0 && fs->changed)
                        fs->changed(p->cmd, fs->changed_userdata);
                if (p->done)
                        p->done(r, r == -ENOMEM ? NULL : &result, p->done_userdata);
        }
        store_pending_free(p);
        return 0;
}

static int store_pending_arm(StorePending *p) {
        if (p->fs->held || p->source)
                return 0;
        return sd_event_add_defer(p->fs->event, &p->source, on_store_pending, p);
}

static char *command_op(const char *cmd) {
        _cleanup_(json_decrefp) json_t *j = json_loads(cmd, 0, NULL);
        const char *op = json_string_value(json_object_get(j, "op"));

        return strdup(strempty(op));
}

static int fs_submit(void *userdata, const char *cmd, SchedStoreDoneFn done, void *done_userdata) {
        FakeStore *fs = userdata;
        _cleanup_free_ char *op = NULL;
        StorePending *p, **tail;
        char **a;
        int r;

        if (!cmd)
                return -EINVAL;
        if (strlen(cmd) > SCHED_COMMAND_MAX)
                return -E2BIG;
        op = command_op(cmd);
        p = calloc(1, sizeof(StorePending));
        a = reallocarray(fs->submitted, fs->n_submitted + 1, sizeof(char *));
        if (a)
                fs->submitted = a;
        if (!op || !p || !a || !(p->cmd = strdup(cmd)) || !(a[fs->n_submitted] = strdup(cmd))) {
                store_pending_free(p);
                return -ENOMEM;
        }
        fs->n_submitted++;
        *p = (StorePending){
                .fs = fs, .cmd = p->cmd, .done = done, .done_userdata = done_userdata
        };

        for (size_t i = 0; i < fs->n_rules; i++) {
                StoreFailRule *rule = &fs->rules[i];

                if (rule->op && !streq(rule->op, op))
                        continue;
                p->error = rule->error;
                if (rule->count > 0 && --rule->count == 0) {
                        free(rule->op);
                        memmove(rule, rule + 1, (fs->n_rules - i - 1) * sizeof(StoreFailRule));
                        fs->n_rules--;
                }
                break;
        }

        r = store_pending_arm(p);
        if (r < 0) {
                store_pending_free(p);
                return r;
        }
        for (tail = &fs->pending; *tail; tail = &(*tail)->next)
                ;
        *tail = p;
        return 0;
}

static void fs_read(void *userdata, SchedStoreReadFn fn, void *fn_userdata) {
        FakeStore *fs = userdata;

        fn(fs->state, fn_userdata);
}

static bool fs_is_leader(void *userdata) {
        FakeStore *fs = userdata;

        return fs->leader;
}

int fake_store_new(sd_event *event, FakeStore **ret) {
        FakeStore *fs;
        int r;

        if (!event || !ret)
                return -EINVAL;
        fs = calloc(1, sizeof(FakeStore));
        if (!fs)
                return -ENOMEM;
        r = sched_state_new(&fs->state);
        if (r < 0) {
                free(fs);
                return r;
        }
        fs->event = sd_event_ref(event);
        fs->leader = true;
        fs->table = (SchedStore){
                .submit = fs_submit,
                .read = fs_read,
                .is_leader = fs_is_leader,
                .userdata = fs,
        };
        *ret = fs;
        return 0;
}

FakeStore *fake_store_free(FakeStore *fs) {
        if (!fs)
                return NULL;
        while (fs->pending) {
                StorePending *p = fs->pending;

                fs->pending = p->next;
                store_pending_free(p);
        }
        fake_store_clear_submitted(fs);
        for (size_t i = 0; i < fs->n_rules; i++)
                free(fs->rules[i].op);
        free(fs->rules);
        sched_state_free(fs->state);
        sd_event_unref(fs->event);
        free(fs);
        return NULL;
}

const SchedStore *fake_store_table(FakeStore *fs) {
        return &fs->table;
}

SchedState *fake_store_state(FakeStore *fs) {
        return fs->state;
}

int fake_store_apply(FakeStore *fs, const char *cmd) {
        int r;

        if (!cmd)
                return -EINVAL;
        r = sched_state_apply(fs->state, cmd, strlen(cmd), NULL);
        if (r >= 0 && fs->changed)
                fs->changed(cmd, fs->changed_userdata);
        return r;
}

void fake_store_set_changed_hook(FakeStore *fs, FakeStoreChangedFn fn, void *userdata) {
        fs->changed = fn;
        fs->changed_userdata = userdata;
}

void fake_store_set_leader(FakeStore *fs, bool leader) {
        fs->leader = leader;
}

int fake_store_fail(FakeStore *fs, const char *op, int error, unsigned count) {
        StoreFailRule rule = { .error = -abs(error ?: EIO), .count = count }, *a;

        if (op && !(rule.op = strdup(op)))
                return -ENOMEM;
        a = reallocarray(fs->rules, fs->n_rules + 1, sizeof(StoreFailRule));
        if (!a) {
                free(rule.op);
                return -ENOMEM;
        }
        fs->rules = a;
        a[fs->n_rules++] = rule;
        return 0;
}

void fake_store_hold(FakeStore *fs, bool hold) {
        fs->held = hold;
        if (!hold)
                for (StorePending *p = fs->pending; p; p = p->next)
                        (void) store_pending_arm(p);
}

size_t fake_store_n_pending(const FakeStore *fs) {
        size_t n = 0;

        for (const StorePending *p = fs->pending; p; p = p->next)
                n++;
        return n;
}

static size_t store_n_armed(const FakeStore *fs) {
        size_t n = 0;

        for (const StorePending *p = fs->pending; p; p = p->next)
                n += !!p->source;
        return n;
}

size_t fake_store_n_submitted(const FakeStore *fs) {
        return fs->n_submitted;
}

const char *fake_store_submitted_at(const FakeStore *fs, size_t i) {
        return i < fs->n_submitted ? fs->submitted[i] : NULL;
}

size_t fake_store_count_submitted(const FakeStore *fs, const char *op) {
        size_t n = 0;

        for (size_t i = 0; i < fs->n_submitted; i++) {
                _cleanup_free_ char *o = command_op(fs->submitted[i]);

                if (!op || (o && streq(o, op)))
                        n++;
        }
        return n;
}

void fake_store_clear_submitted(FakeStore *fs) {
        for (size_t i = 0; i < fs->n_submitted; i++)
                free(fs->submitted[i]);
        fs->submitted = mfree(fs->submitted);
        fs->n_submitted = 0;
}

int fake_run_until_idle(sd_event *event, FakeBackends *fb, FakeStore *fs, unsigned max_iterations) {
        for (unsigned n = 0; n < max_iterations; n++) {
                size_t armed = (fb ? backends_n_armed(fb) : 0) + (fs ? store_n_armed(fs) : 0);
                int r;

                /* Delayed completions are timers: wait for them, but never for anything else. */
                r = sd_event_run(event, armed > 0 ? 5 * USEC_PER_SEC : 0);
                if (r < 0)
                        return r;
                if (r == 0 && armed == 0)
                        return (int) n;
        }
        return -ETIME;
}
