/* SPDX-License-Identifier: Apache-2.0 */
/* sched-bus-backends.c: SchedBackends over org.zlayer.Runtime1 and org.zlayer.Proxy1. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus-error.h"
#include "bus-options.h"
#include "log.h"
#include "sched-bus-backends.h"
#include "string-util.h"
#include "time-util.h"

/* A create may pull the image first; the reply comes once the container exists. */
#define CREATE_TIMEOUT_USEC (15 * USEC_PER_MINUTE)
/* Start waits for zl-netd's attach and the process's execve. */
#define START_TIMEOUT_USEC (2 * USEC_PER_MINUTE)
/* A stop lasts its grace period, then the kill; a forced remove may stop first. */
#define STOP_SLACK_USEC (30 * USEC_PER_SEC)
#define REMOVE_TIMEOUT_USEC (2 * USEC_PER_MINUTE)
#define LIST_TIMEOUT_USEC (30 * USEC_PER_SEC)
#define EXEC_SLACK_USEC (30 * USEC_PER_SEC)
#define ROUTES_TIMEOUT_USEC (30 * USEC_PER_SEC)

typedef enum CallKind {
        CALL_CREATE,
        CALL_DONE, /* start, stop, remove, set_routes */
        CALL_LIST,
        CALL_EXEC,
} CallKind;

typedef struct Pending Pending;
struct Pending {
        SchedBusBackends *backends;
        sd_bus_slot *slot;
        CallKind kind;
        const char *method;
        union {
                SchedCreatedFn created;
                SchedDoneFn done;
                SchedListFn list;
                SchedExecDoneResultFn exec;
        } fn;
        void *done_userdata;
        Pending *prev, *next;
};

struct SchedBusBackends {
        sd_bus *bus;
        sd_bus_slot *match;
        SchedContainerChangedFn changed;
        void *changed_userdata;
        Pending *pending;
        size_t n_pending;
};

/* Takes p off the list (so a cancel from inside its own callback finds nothing) and drops its
 * slot; the caller frees p. */
static void pending_detach(Pending *p) {
        SchedBusBackends *b = p->backends;

        if (p->prev)
                p->prev->next = p->next;
        else
                b->pending = p->next;
        if (p->next)
                p->next->prev = p->prev;
        p->prev = p->next = NULL;
        b->n_pending--;
        p->slot = sd_bus_slot_unref(p->slot);
}

static void pending_unlink_free(Pending *p) {
        pending_detach(p);
        free(p);
}

/* The errno and "Method: message" of an error reply; 0 for a method return. The bus's own
 * errors for a peer that is absent, went away before replying or never replied are all
 * -ENOTCONN (see sched-backends.h): the caller retries rather than judging the container. */
static int reply_error(sd_bus_message *m, const char *method, char **ret_msg) {
        const sd_bus_error *e = sd_bus_message_get_error(m);
        int r;

        if (!e)
                return 0;
        if (sd_bus_error_has_names(e, SD_BUS_ERROR_NO_REPLY, SD_BUS_ERROR_SERVICE_UNKNOWN,
                                   SD_BUS_ERROR_NAME_HAS_NO_OWNER, SD_BUS_ERROR_DISCONNECTED,
                                   SD_BUS_ERROR_TIMEOUT)) {
                if (asprintf(ret_msg, "%s: no answer from %s (%s)", method,
                             streq(method, "SetRoutes") ? "zl-proxyd" : "zl-runtimed",
                             e->message ?: e->name) < 0)
                        *ret_msg = NULL;
                return -ENOTCONN;
        }
        r = zl_bus_error_to_errno(e);
        if (r <= 0)
                r = EIO;
        if (asprintf(ret_msg, "%s: %s", method, e->message ?: e->name) < 0)
                *ret_msg = NULL;
        return -r;
}

static void deliver_error(Pending *p, int r, const char *msg) {
        switch (p->kind) {
        case CALL_CREATE:
                p->fn.created(r, msg, NULL, p->done_userdata);
                break;
        case CALL_DONE:
                p->fn.done(r, msg, p->done_userdata);
                break;
        case CALL_LIST:
                p->fn.list(r, msg, NULL, 0, p->done_userdata);
                break;
        case CALL_EXEC:
                p->fn.exec(r, msg, -1, NULL, 0, NULL, 0, p->done_userdata);
                break;
        }
}

static int read_labels(sd_bus_message *m, json_t **ret) {
        _cleanup_(json_decrefp) json_t *o = json_object();
        const char *k, *v;
        int r;

        if (!o)
                return -ENOMEM;
        r = sd_bus_message_enter_container(m, 'a', "{ss}");
        if (r < 0)
                return r;
        /* Entry by entry: reading "{ss}" past the end of the array is an error, not 0. */
        while ((r = sd_bus_message_enter_container(m, 'e', "ss")) > 0) {
                r = sd_bus_message_read(m, "ss", &k, &v);
                if (r < 0)
                        return r;
                if (json_object_set_new(o, k, json_string(v)) < 0)
                        return -ENOMEM;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(o);
        return 0;
}

static int read_containers(sd_bus_message *m, SchedContainerInfo **ret, size_t *ret_n) {
        SchedContainerInfo *a = NULL;
        size_t n = 0;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "(ssssuittta{ss}s)");
        if (r < 0)
                return r;
        for (;;) {
                const char *id, *name, *image, *state, *ip;
                uint32_t pid;
                int32_t exit_code;
                uint64_t created, started, finished;
                SchedContainerInfo *na, *c;

                r = sd_bus_message_enter_container(m, 'r', "ssssuittta{ss}s");
                if (r < 0)
                        goto fail;
                if (r == 0)
                        break;
                r = sd_bus_message_read(m, "ssssuittt", &id, &name, &image, &state, &pid,
                                        &exit_code, &created, &started, &finished);
                if (r < 0)
                        goto fail;
                na = reallocarray(a, n + 1, sizeof(SchedContainerInfo));
                if (!na) {
                        r = -ENOMEM;
                        goto fail;
                }
                a = na;
                c = &a[n++];
                *c = (SchedContainerInfo){
                        .exit_code = exit_code,
                        .started_usec = started,
                        .finished_usec = finished,
                };
                r = read_labels(m, &c->labels);
                if (r >= 0)
                        r = sd_bus_message_read(m, "s", &ip);
                if (r < 0)
                        goto fail;
                c->id = strdup(id);
                c->name = strdup(name);
                c->image = strdup(image);
                c->state = strdup(state);
                c->ip = strdup(ip);
                if (!c->id || !c->name || !c->image || !c->state || !c->ip) {
                        r = -ENOMEM;
                        goto fail;
                }
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        goto fail;
        }
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                goto fail;
        *ret = a;
        *ret_n = n;
        return 0;
fail:
        sched_container_info_array_free(a, n);
        return r;
}

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Pending *p = userdata;
        _cleanup_free_ char *msg = NULL;
        int r;

        (void) ret_error;
        pending_detach(p);
        r = reply_error(m, p->method, &msg);
        if (r < 0) {
                deliver_error(p, r, msg ?: p->method);
                free(p);
                return 0;
        }

        switch (p->kind) {
        case CALL_CREATE: {
                const char *id, *path;

                r = sd_bus_message_read(m, "so", &id, &path);
                if (r < 0)
                        break;
                p->fn.created(0, NULL, id, p->done_userdata);
                free(p);
                return 0;
        }
        case CALL_DONE:
                p->fn.done(0, NULL, p->done_userdata);
                free(p);
                return 0;
        case CALL_LIST: {
                SchedContainerInfo *a = NULL;
                size_t n = 0;

                r = read_containers(m, &a, &n);
                if (r < 0)
                        break;
                p->fn.list(0, NULL, a, n, p->done_userdata);
                sched_container_info_array_free(a, n);
                free(p);
                return 0;
        }
        case CALL_EXEC: {
                const void *out = NULL, *err = NULL;
                size_t out_len = 0, err_len = 0;
                int32_t code;

                r = sd_bus_message_read(m, "i", &code);
                if (r >= 0)
                        r = sd_bus_message_read_array(m, 'y', &out, &out_len);
                if (r >= 0)
                        r = sd_bus_message_read_array(m, 'y', &err, &err_len);
                if (r < 0)
                        break;
                p->fn.exec(0, NULL, code, out, out_len, err, err_len, p->done_userdata);
                free(p);
                return 0;
        }
        }

        free(msg);
        msg = NULL;
        if (asprintf(&msg, "%s: unreadable reply: %s", p->method, strerror(-r)) < 0)
                msg = NULL;
        deliver_error(p, r, msg ?: p->method);
        free(p);
        return 0;
}

/* Sends m and keeps its slot; on success the callback comes later, exactly once. */
static int send_call(SchedBusBackends *b, sd_bus_message *m, const char *method, uint64_t usec,
                     CallKind kind, void (*fn)(void), void *done_userdata) {
        Pending *p;
        int r;

        p = calloc(1, sizeof(Pending));
        if (!p)
                return -ENOMEM;
        *p = (Pending){
                .backends = b,
                .kind = kind,
                .method = method,
                .done_userdata = done_userdata,
        };
        switch (kind) {
        case CALL_CREATE:
                p->fn.created = (SchedCreatedFn) fn;
                break;
        case CALL_DONE:
                p->fn.done = (SchedDoneFn) fn;
                break;
        case CALL_LIST:
                p->fn.list = (SchedListFn) fn;
                break;
        case CALL_EXEC:
                p->fn.exec = (SchedExecDoneResultFn) fn;
                break;
        }
        r = sd_bus_call_async(b->bus, &p->slot, m, on_reply, p, usec);
        if (r < 0) {
                free(p);
                return r;
        }
        p->next = b->pending;
        if (b->pending)
                b->pending->prev = p;
        b->pending = p;
        b->n_pending++;
        return 0;
}

static int new_runtime_call(SchedBusBackends *b, const char *method, sd_bus_message **ret) {
        return sd_bus_message_new_method_call(b->bus, ret, SCHED_RUNTIME_SERVICE,
                                              SCHED_RUNTIME_PATH, SCHED_RUNTIME_INTERFACE, method);
}

/* a{ss} from a JSON object of strings (other values are skipped: the spec has none). */
static int append_map_option(sd_bus_message *m, const char *key, const json_t *o) {
        _cleanup_strv_free_ char **kv = NULL;
        const char *k;
        json_t *v;
        int r;

        json_object_foreach ((json_t *) o, k, v) {
                if (!json_is_string(v))
                        continue;
                r = strv_extend(&kv, k);
                if (r >= 0)
                        r = strv_extend(&kv, json_string_value(v));
                if (r < 0)
                        return r;
        }
        return zl_bus_append_option_string_map(m, key, kv);
}

static int append_json_text_option(sd_bus_message *m, const char *key, const json_t *v) {
        _cleanup_free_ char *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);

        if (!text)
                return -ENOMEM;
        return sd_bus_message_append(m, "{sv}", key, "s", text);
}

static int append_create_options(sd_bus_message *m, const SchedContainerSpec *s) {
        int r;

        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "{sv}", "image", "s", s->image);
        if (r >= 0 && s->pull_policy)
                r = sd_bus_message_append(m, "{sv}", "pull_policy", "s", s->pull_policy);
        if (r >= 0 && s->entrypoint)
                r = zl_bus_append_option_strv(m, "entrypoint", s->entrypoint);
        if (r >= 0 && s->args)
                r = zl_bus_append_option_strv(m, "args", s->args);
        if (r >= 0 && s->cwd)
                r = sd_bus_message_append(m, "{sv}", "cwd", "s", s->cwd);
        if (r >= 0 && s->user)
                r = sd_bus_message_append(m, "{sv}", "user", "s", s->user);
        if (r >= 0 && s->hostname)
                r = sd_bus_message_append(m, "{sv}", "hostname", "s", s->hostname);
        if (r >= 0 && s->env && s->env[0])
                r = zl_bus_append_option_strv(m, "env", s->env);
        if (r >= 0 && s->memory > 0)
                r = sd_bus_message_append(m, "{sv}", "memory", "t", s->memory);
        if (r >= 0 && s->cpus > 0)
                r = sd_bus_message_append(m, "{sv}", "cpus", "d", s->cpus);
        if (r >= 0 && s->pids > 0)
                r = sd_bus_message_append(m, "{sv}", "pids", "t", s->pids);
        if (r >= 0 && s->cap_add && s->cap_add[0])
                r = zl_bus_append_option_strv(m, "cap_add", s->cap_add);
        if (r >= 0 && s->cap_drop && s->cap_drop[0])
                r = zl_bus_append_option_strv(m, "cap_drop", s->cap_drop);
        if (r >= 0 && s->read_only)
                r = sd_bus_message_append(m, "{sv}", "read_only", "b", 1);
        if (r >= 0 && s->labels)
                r = append_map_option(m, "labels", s->labels);
        /* Options zl-runtimed learnt later: sent only when they say something, so that a
         * runtime without them still runs the services that do not use them. */
        if (r >= 0 && s->storage && json_array_size(s->storage) > 0)
                r = append_json_text_option(m, "storage", s->storage);
        if (r >= 0 && s->devices && json_array_size(s->devices) > 0)
                r = append_json_text_option(m, "devices", s->devices);
        if (r >= 0 && s->sysctls && json_object_size(s->sysctls) > 0)
                r = append_map_option(m, "sysctls", s->sysctls);
        if (r >= 0 && s->privileged)
                r = sd_bus_message_append(m, "{sv}", "privileged", "b", 1);
        if (r < 0)
                return r;
        return sd_bus_message_close_container(m);
}

static int backend_create(void *userdata, const SchedContainerSpec *spec, SchedCreatedFn done,
                          void *done_userdata) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        SchedBusBackends *b = userdata;
        int r;

        if (!spec || !spec->image || !done)
                return -EINVAL;
        r = new_runtime_call(b, "CreateContainer", &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "ss", strempty(spec->name), "");
        if (r >= 0)
                r = append_create_options(m, spec);
        if (r < 0)
                return r;
        return send_call(b, m, "CreateContainer", CREATE_TIMEOUT_USEC, CALL_CREATE,
                         (void (*)(void)) done, done_userdata);
}

static int simple_call(SchedBusBackends *b, const char *method, const char *id, uint64_t usec,
                       SchedDoneFn done, void *done_userdata) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        if (isempty(id) || !done)
                return -EINVAL;
        r = new_runtime_call(b, method, &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "s", id);
        if (r < 0)
                return r;
        return send_call(b, m, method, usec, CALL_DONE, (void (*)(void)) done, done_userdata);
}

static int backend_start(void *userdata, const char *id, SchedDoneFn done, void *done_userdata) {
        return simple_call(userdata, "StartContainer", id, START_TIMEOUT_USEC, done, done_userdata);
}

static int backend_stop(void *userdata, const char *id, unsigned timeout_sec, SchedDoneFn done,
                        void *done_userdata) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        SchedBusBackends *b = userdata;
        int r;

        if (isempty(id) || !done)
                return -EINVAL;
        r = new_runtime_call(b, "StopContainer", &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "su", id, (uint32_t) timeout_sec);
        if (r < 0)
                return r;
        return send_call(b, m, "StopContainer", timeout_sec * USEC_PER_SEC + STOP_SLACK_USEC,
                         CALL_DONE, (void (*)(void)) done, done_userdata);
}

static int backend_remove(void *userdata, const char *id, bool force, SchedDoneFn done,
                          void *done_userdata) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        SchedBusBackends *b = userdata;
        int r;

        if (isempty(id) || !done)
                return -EINVAL;
        r = new_runtime_call(b, "RemoveContainer", &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "sb", id, (int) force);
        if (r < 0)
                return r;
        return send_call(b, m, "RemoveContainer", REMOVE_TIMEOUT_USEC, CALL_DONE,
                         (void (*)(void)) done, done_userdata);
}

static int backend_list(void *userdata, const char *label_key, SchedListFn done,
                        void *done_userdata) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        SchedBusBackends *b = userdata;
        int r;

        if (isempty(label_key) || !done)
                return -EINVAL;
        r = new_runtime_call(b, "ListContainers", &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "a{sv}", 1, "label", "as", 1, label_key);
        if (r < 0)
                return r;
        return send_call(b, m, "ListContainers", LIST_TIMEOUT_USEC, CALL_LIST,
                         (void (*)(void)) done, done_userdata);
}

static int backend_exec(void *userdata, const char *id, const char *const *argv,
                        uint64_t timeout_usec, SchedExecDoneResultFn done, void *done_userdata) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        SchedBusBackends *b = userdata;
        uint64_t sec;
        int r;

        if (isempty(id) || !argv || !argv[0] || !done)
                return -EINVAL;
        /* Runtime1.Exec counts whole seconds: round up, so a command never gets less. */
        sec = timeout_usec == 0 ? 60 : (timeout_usec + USEC_PER_SEC - 1) / USEC_PER_SEC;
        if (sec > UINT32_MAX)
                sec = UINT32_MAX;
        r = new_runtime_call(b, "Exec", &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "s", id);
        if (r >= 0)
                r = sd_bus_message_append_strv(m, (char **) argv);
        if (r >= 0)
                r = sd_bus_message_append(m, "as", 0);
        if (r >= 0)
                r = sd_bus_message_append(m, "a{sv}", 1, "timeout", "u", (uint32_t) sec);
        if (r < 0)
                return r;
        return send_call(b, m, "Exec", sec * USEC_PER_SEC + EXEC_SLACK_USEC, CALL_EXEC,
                         (void (*)(void)) done, done_userdata);
}

static int backend_set_routes(void *userdata, const char *owner, const char *routes_json,
                              SchedDoneFn done, void *done_userdata) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        SchedBusBackends *b = userdata;
        int r;

        if (isempty(owner) || !routes_json || !done)
                return -EINVAL;
        r = sd_bus_message_new_method_call(b->bus, &m, SCHED_PROXY_SERVICE, SCHED_PROXY_PATH,
                                           SCHED_PROXY_INTERFACE, "SetRoutes");
        if (r >= 0)
                r = sd_bus_message_append(m, "ss", owner, routes_json);
        if (r < 0)
                return r;
        return send_call(b, m, "SetRoutes", ROUTES_TIMEOUT_USEC, CALL_DONE, (void (*)(void)) done,
                         done_userdata);
}

static void backend_cancel(void *userdata, void *done_userdata) {
        SchedBusBackends *b = userdata;
        Pending *p, *next;

        for (p = b->pending; p; p = next) {
                next = p->next;
                if (p->done_userdata == done_userdata)
                        pending_unlink_free(p);
        }
}

static int on_container_state_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        SchedBusBackends *b = userdata;
        const char *id, *state;
        int32_t exit_code;
        int r;

        (void) ret_error;
        r = sd_bus_message_read(m, "ssi", &id, &state, &exit_code);
        if (r < 0) {
                log_debug_errno(r, "Unreadable ContainerStateChanged signal, ignoring: %m");
                return 0;
        }
        if (b->changed)
                b->changed(id, state, exit_code, b->changed_userdata);
        return 0;
}

int sched_bus_backends_new(sd_bus *bus, SchedContainerChangedFn changed, void *userdata,
                           SchedBusBackends **ret) {
        _cleanup_(sched_bus_backends_freep) SchedBusBackends *b = NULL;
        int r;

        if (!bus || !ret)
                return -EINVAL;
        b = calloc(1, sizeof(SchedBusBackends));
        if (!b)
                return -ENOMEM;
        b->bus = sd_bus_ref(bus);
        b->changed = changed;
        b->changed_userdata = userdata;
        /* No sender in the match: sd-bus compares a sender with the unique name of the message,
         * which a well-known name never is; the bus policy says who may send on Runtime1's
         * path and interface. */
        r = sd_bus_match_signal_async(bus, &b->match, NULL, SCHED_RUNTIME_PATH,
                                      SCHED_RUNTIME_INTERFACE, "ContainerStateChanged",
                                      on_container_state_changed, NULL, b);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(b);
        return 0;
}

SchedBusBackends *sched_bus_backends_free(SchedBusBackends *b) {
        if (!b)
                return NULL;
        while (b->pending)
                pending_unlink_free(b->pending);
        sd_bus_slot_unref(b->match);
        sd_bus_unref(b->bus);
        free(b);
        return NULL;
}

void sched_bus_backends_table(SchedBusBackends *b, SchedBackends *ret) {
        *ret = (SchedBackends){
                .create = backend_create,
                .start = backend_start,
                .stop = backend_stop,
                .remove = backend_remove,
                .list = backend_list,
                .exec = backend_exec,
                .set_routes = backend_set_routes,
                .cancel = backend_cancel,
                .userdata = b,
        };
}

size_t sched_bus_backends_n_pending(const SchedBusBackends *b) {
        return b ? b->n_pending : 0;
}
