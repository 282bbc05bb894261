/* SPDX-License-Identifier: Apache-2.0 */
/* runtime-bus.c: the org.zlayer.Runtime1 vtables: arguments checked, manager calls, signals. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus-error.h"
#include "log.h"
#include "runtime-bus.h"
#include "signal-util.h"
#include "string-util.h"

#define EXEC_TIMEOUT_DEFAULT_SEC 60U

/* Replaces *p with a copy of s. */
static int strdup_to(char **p, const char *s) {
        char *copy = strdup(s);

        if (!copy)
                return -ENOMEM;
        free_and_replace(*p, copy);
        return 0;
}

static void bus_message_unrefp(sd_bus_message **m) {
        sd_bus_message_unref(*m);
}

static int reply_error(sd_bus_message *m, int r, const char *error) {
        if (error)
                return zl_bus_reply_errnof(m, r, "%s", error);
        return zl_bus_reply_errnof(m, r, "%s", strerror(abs(r)));
}

/* Resolves the id argument, or replies the error (returns 0 then, with *ret NULL). */
static int lookup(sd_bus_message *m, Runtime *rt, const char *spec, Container **ret) {
        int r;

        *ret = NULL;
        if (isempty(spec)) {
                r = zl_bus_reply_errnof(m, EINVAL, "id: must not be empty");
                return r < 0 ? r : 0;
        }
        r = manager_find(rt->manager, spec, ret);
        if (r == -ENOENT)
                r = zl_bus_reply_errnof(m, ENOENT, "No such container '%s'.", spec);
        else if (r == -ENOTUNIQ)
                r = zl_bus_reply_errnof(
                        m, EINVAL, "id: '%s' is a prefix of more than one container's id", spec);
        else if (r < 0)
                r = zl_bus_reply_errnof(m, -r, "Failed to look up '%s': %s", spec, strerror(-r));
        else
                return 1;
        return r < 0 ? r : 0;
}

/* Completion of the asynchronous operations: userdata is the method call (a reference). */
static void on_done(int r, const char *error, void *userdata) {
        _cleanup_(bus_message_unrefp) sd_bus_message *m = userdata;
        int k;

        if (r < 0)
                k = reply_error(m, r, error);
        else
                k = sd_bus_reply_method_return(m, NULL);
        if (k < 0)
                log_debug_errno(k, "Failed to reply to %s(), ignoring: %m",
                                sd_bus_message_get_member(m));
}

typedef int (*async_op_t)(Manager *m, Container *c, manager_done_t done, void *userdata,
                          char **ret_error);

/* After an operation got a reference to m as its userdata: when it failed or was done at once
 * (its callback will not run) drops that reference and replies now; else the callback will. */
static int run_async(sd_bus_message *m, Runtime *rt, Container *c, int r_call, char *error) {
        _cleanup_free_ char *e = error;

        (void) rt;
        (void) c;
        if (r_call < 0) {
                sd_bus_message_unref(m);
                return reply_error(m, r_call, e);
        }
        if (r_call > 0) {
                int k = sd_bus_reply_method_return(m, NULL);
                sd_bus_message_unref(m);
                return k;
        }
        return 1;
}

static int method_simple(sd_bus_message *m, Runtime *rt, async_op_t op) {
        _cleanup_free_ char *error = NULL;
        const char *id;
        Container *c;
        int r;

        r = sd_bus_message_read(m, "s", &id);
        if (r < 0)
                return r;
        r = lookup(m, rt, id, &c);
        if (r <= 0)
                return r;
        sd_bus_message_ref(m);
        r = op(rt->manager, c, on_done, m, &error);
        return run_async(m, rt, c, r, TAKE_PTR(error));
}

/* ---- CreateContainer ------------------------------------------------------------------- */

typedef enum OptionKind { OPT_S, OPT_AS, OPT_B, OPT_T, OPT_U, OPT_D, OPT_ASS } OptionKind;

typedef struct CreateOption {
        const char *name;
        OptionKind kind;
        size_t offset; /* in ContainerOptions; SIZE_MAX: accepted and ignored */
} CreateOption;

static const char *const option_signature[] = {
        [OPT_S] = "s", [OPT_AS] = "as", [OPT_B] = "b",       [OPT_T] = "t",
        [OPT_U] = "u", [OPT_D] = "d",   [OPT_ASS] = "a{ss}",
};

#define OPT(n, k, field)                                                                           \
        { n, k, offsetof(ContainerOptions, field) }
static const CreateOption create_options[] = {
        OPT("rootfs", OPT_S, rootfs),
        OPT("bundle", OPT_S, bundle),
        OPT("args", OPT_AS, args),
        OPT("env", OPT_AS, env),
        OPT("cwd", OPT_S, cwd),
        OPT("user", OPT_S, user),
        OPT("hostname", OPT_S, hostname),
        OPT("terminal", OPT_B, terminal),
        OPT("memory", OPT_T, memory),
        OPT("memory_swap", OPT_T, memory_swap),
        OPT("cpus", OPT_D, cpus),
        OPT("cpu_shares", OPT_T, cpu_shares),
        OPT("pids", OPT_T, pids),
        OPT("cap_add", OPT_AS, cap_add),
        OPT("cap_drop", OPT_AS, cap_drop),
        OPT("read_only", OPT_B, read_only),
        OPT("network", OPT_S, network),
        OPT("seccomp", OPT_S, seccomp),
        OPT("labels", OPT_ASS, labels),
        OPT("image", OPT_S, image),
        OPT("log_max_size", OPT_T, log_max_size),
        OPT("log_max_files", OPT_U, log_max_files),
        { "traceparent", OPT_S, SIZE_MAX },
};
#undef OPT

static int read_string_dict(sd_bus_message *m, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        const char *k, *v;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{ss}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(m, "{ss}", &k, &v)) > 0)
                if (strv_extend(&l, k) < 0 || strv_extend(&l, v) < 0)
                        return -ENOMEM;
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(l);
        return 0;
}

static int read_option_value(sd_bus_message *m, const CreateOption *o, ContainerOptions *opts) {
        void *field = o->offset == SIZE_MAX ? NULL : (uint8_t *) opts + o->offset;
        const char *s;
        int b, r;

        switch (o->kind) {
        case OPT_S:
                r = sd_bus_message_read(m, "s", &s);
                if (r < 0 || !field)
                        return r;
                return strdup_to(field, s);
        case OPT_AS: {
                char **l = NULL;
                r = sd_bus_message_read_strv(m, &l);
                if (r < 0)
                        return r;
                strv_free(*(char ***) field);
                *(char ***) field = l ?: calloc(1, sizeof(char *));
                return *(char ***) field ? 0 : -ENOMEM;
        }
        case OPT_ASS: {
                char **l = NULL;
                r = read_string_dict(m, &l);
                if (r < 0)
                        return r;
                strv_free(*(char ***) field);
                *(char ***) field = l;
                return 0;
        }
        case OPT_B:
                r = sd_bus_message_read(m, "b", &b);
                if (r >= 0)
                        *(int *) field = !!b;
                return r;
        case OPT_T:
                return sd_bus_message_read(m, "t", (uint64_t *) field);
        case OPT_U: {
                uint32_t u;
                r = sd_bus_message_read(m, "u", &u);
                if (r >= 0)
                        *(uint64_t *) field = u;
                return r;
        }
        case OPT_D:
                return sd_bus_message_read(m, "d", (double *) field);
        }
        return -EINVAL;
}

/* Reads the options a{sv}; replies InvalidArgument naming the option (returning 0) for an
 * unknown key or a value of the wrong type. */
static int read_create_options(sd_bus_message *m, ContainerOptions *opts) {
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const CreateOption *o = NULL;
                const char *key, *contents;
                char type;

                r = sd_bus_message_read(m, "s", &key);
                if (r < 0)
                        return r;
                for (size_t i = 0; i < ELEMENTSOF(create_options); i++)
                        if (streq(create_options[i].name, key))
                                o = &create_options[i];
                if (!o) {
                        r = zl_bus_reply_errnof(m, EINVAL, "options: unknown option '%s'", key);
                        return r < 0 ? r : 0;
                }
                r = sd_bus_message_peek_type(m, &type, &contents);
                if (r < 0)
                        return r;
                if (!streq(contents, option_signature[o->kind])) {
                        r = zl_bus_reply_errnof(m, EINVAL,
                                                "options: '%s' must be of type '%s', not '%s'", key,
                                                option_signature[o->kind], contents);
                        return r < 0 ? r : 0;
                }
                r = sd_bus_message_enter_container(m, 'v', contents);
                if (r < 0)
                        return r;
                r = read_option_value(m, o, opts);
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m);
        return r < 0 ? r : 1;
}

static int method_create_container(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(container_options_done) ContainerOptions opts = CONTAINER_OPTIONS_INIT;
        _cleanup_free_ char *msg = NULL, *path = NULL;
        Runtime *rt = userdata;
        const char *name, *config_json;
        Container *c;
        int r;

        (void) error;
        r = sd_bus_message_read(m, "ss", &name, &config_json);
        if (r < 0)
                return r;
        r = read_create_options(m, &opts);
        if (r <= 0)
                return r;

        r = manager_create(rt->manager, name, config_json, &opts, &c, &msg);
        if (r < 0)
                return reply_error(m, r, msg);
        r = zl_bus_path_encode(RUNTIME_CONTAINER_PREFIX, c->id, &path);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(m, "so", c->id, path);
}

static int method_start_container(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        (void) error;
        return method_simple(m, userdata, manager_start);
}

static int method_pause_container(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        (void) error;
        return method_simple(m, userdata, manager_pause);
}

static int method_resume_container(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        (void) error;
        return method_simple(m, userdata, manager_resume);
}

static int method_stop_container(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_free_ char *msg = NULL;
        Runtime *rt = userdata;
        const char *id;
        uint32_t timeout;
        Container *c;
        int r;

        (void) error;
        r = sd_bus_message_read(m, "su", &id, &timeout);
        if (r < 0)
                return r;
        r = lookup(m, rt, id, &c);
        if (r <= 0)
                return r;
        r = manager_stop(rt->manager, c, (usec_t) timeout * USEC_PER_SEC, on_done,
                         sd_bus_message_ref(m), &msg);
        return run_async(m, rt, c, r, TAKE_PTR(msg));
}

static int method_kill_container(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_free_ char *msg = NULL;
        Runtime *rt = userdata;
        const char *id, *signal;
        Container *c;
        int all, sig, r;

        (void) error;
        r = sd_bus_message_read(m, "ssb", &id, &signal, &all);
        if (r < 0)
                return r;
        sig = signal_from_string(signal);
        if (sig < 0)
                return zl_bus_reply_errnof(m, EINVAL, "signal: '%s' is not a signal", signal);
        r = lookup(m, rt, id, &c);
        if (r <= 0)
                return r;
        r = manager_kill(rt->manager, c, sig, all, on_done, sd_bus_message_ref(m), &msg);
        return run_async(m, rt, c, r, TAKE_PTR(msg));
}

static int method_remove_container(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_free_ char *msg = NULL;
        Runtime *rt = userdata;
        const char *id;
        Container *c;
        int force, r;

        (void) error;
        r = sd_bus_message_read(m, "sb", &id, &force);
        if (r < 0)
                return r;
        r = lookup(m, rt, id, &c);
        if (r <= 0)
                return r;
        r = manager_remove(rt->manager, c, force, on_done, sd_bus_message_ref(m), &msg);
        /* c may be gone now. */
        return run_async(m, rt, NULL, r, TAKE_PTR(msg));
}

/* ---- ListContainers / InspectContainer ------------------------------------------------- */

static int append_labels(sd_bus_message *reply, Container *c) {
        int r;

        r = sd_bus_message_open_container(reply, 'a', "{ss}");
        if (r < 0)
                return r;
        for (size_t i = 0; c->labels && c->labels[i] && c->labels[i + 1]; i += 2) {
                r = sd_bus_message_append(reply, "{ss}", c->labels[i], c->labels[i + 1]);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_close_container(reply);
}

static bool container_matches_labels(Container *c, char *const *labels) {
        for (size_t i = 0; labels && labels[i]; i++) {
                const char *eq = strchr(labels[i], '=');
                _cleanup_free_ char *key =
                        eq ? strndup(labels[i], (size_t) (eq - labels[i])) : strdup(labels[i]);
                const char *v = key ? container_get_label(c, key) : NULL;

                if (!v || (eq && !streq(v, eq + 1)))
                        return false;
        }
        return true;
}

static int method_list_containers(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_strv_free_ char **labels = NULL;
        _cleanup_free_ char *name = NULL;
        ContainerState state = _CONTAINER_STATE_INVALID;
        Runtime *rt = userdata;
        int r;

        (void) error;
        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *key, *contents, *s;
                char type;

                r = sd_bus_message_read(m, "s", &key);
                if (r < 0)
                        return r;
                r = sd_bus_message_peek_type(m, &type, &contents);
                if (r < 0)
                        return r;
                if (streq(key, "state") || streq(key, "name")) {
                        if (!streq(contents, "s"))
                                return zl_bus_reply_errnof(m, EINVAL,
                                                           "filter: '%s' must be of type 's'", key);
                        r = sd_bus_message_read(m, "v", "s", &s);
                        if (r < 0)
                                return r;
                        if (streq(key, "state")) {
                                state = container_state_from_string(s);
                                if (state < 0)
                                        return zl_bus_reply_errnof(
                                                m, EINVAL,
                                                "filter: state '%s' is not one of 'created', "
                                                "'running', 'paused', 'exited'",
                                                s);
                        } else if (strdup_to(&name, s) < 0)
                                return -ENOMEM;
                } else if (streq(key, "label")) {
                        if (!streq(contents, "as"))
                                return zl_bus_reply_errnof(m, EINVAL,
                                                           "filter: 'label' must be of type 'as'");
                        r = sd_bus_message_enter_container(m, 'v', "as");
                        if (r < 0)
                                return r;
                        labels = strv_free(labels);
                        r = sd_bus_message_read_strv(m, &labels);
                        if (r < 0)
                                return r;
                        r = sd_bus_message_exit_container(m);
                        if (r < 0)
                                return r;
                } else
                        return zl_bus_reply_errnof(m, EINVAL,
                                                   "filter: unknown key '%s' (known: state, name, "
                                                   "label)",
                                                   key);
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;

        r = sd_bus_message_new_method_return(m, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "(ssssuittta{ss})");
        if (r < 0)
                return r;
        for (size_t i = 0; i < manager_get_n_containers(rt->manager); i++) {
                Container *c = manager_get_container(rt->manager, i);

                if (state >= 0 && c->state != state)
                        continue;
                if (name && !streq(c->name, name))
                        continue;
                if (!container_matches_labels(c, labels))
                        continue;
                r = sd_bus_message_open_container(reply, 'r', "ssssuittta{ss}");
                if (r >= 0)
                        r = sd_bus_message_append(
                                reply, "ssssuittt", c->id, c->name, strempty(c->image),
                                container_state_to_string(c->state), (uint32_t) c->pid,
                                c->exit_code, (uint64_t) c->created_at, (uint64_t) c->started_at,
                                (uint64_t) c->finished_at);
                if (r >= 0)
                        r = append_labels(reply, c);
                if (r >= 0)
                        r = sd_bus_message_close_container(reply);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_inspect_container(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_free_ char *json = NULL;
        Runtime *rt = userdata;
        const char *id;
        Container *c;
        int r;

        (void) error;
        r = sd_bus_message_read(m, "s", &id);
        if (r < 0)
                return r;
        r = lookup(m, rt, id, &c);
        if (r <= 0)
                return r;
        r = container_inspect(c, &json);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(m, "s", json);
}

/* ---- Exec, ExecStream, WaitExec --------------------------------------------------------- */

typedef struct ExecArgs {
        const char *id;
        char **argv;
        char **env;
        char *user;
        char *cwd;
        uint32_t timeout;
        bool tty;
        const void *stdin_data;
        size_t stdin_size;
} ExecArgs;

static void exec_args_done(ExecArgs *a) {
        strv_free(a->argv);
        strv_free(a->env);
        free(a->user);
        free(a->cwd);
}

/* Reads (id, argv, env, options); 0 after replying an error. */
static int read_exec_args(sd_bus_message *m, bool stream, ExecArgs *a) {
        int r;

        r = sd_bus_message_read(m, "s", &a->id);
        if (r < 0)
                return r;
        r = sd_bus_message_read_strv(m, &a->argv);
        if (r < 0)
                return r;
        r = sd_bus_message_read_strv(m, &a->env);
        if (r < 0)
                return r;
        if (strv_length(a->argv) == 0 || isempty(a->argv[0])) {
                r = zl_bus_reply_errnof(m, EINVAL, "argv: must name a command");
                return r < 0 ? r : 0;
        }
        for (size_t i = 0; a->env && a->env[i]; i++) {
                const char *eq = strchr(a->env[i], '=');
                if (!eq || eq == a->env[i]) {
                        r = zl_bus_reply_errnof(m, EINVAL, "env: '%s' is not KEY=VALUE", a->env[i]);
                        return r < 0 ? r : 0;
                }
        }
        a->timeout = EXEC_TIMEOUT_DEFAULT_SEC;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *key, *contents, *want, *s;
                char type;

                r = sd_bus_message_read(m, "s", &key);
                if (r < 0)
                        return r;
                if (streq(key, "user") || streq(key, "cwd") || streq(key, "traceparent"))
                        want = "s";
                else if (!stream && streq(key, "timeout"))
                        want = "u";
                else if (!stream && streq(key, "stdin"))
                        want = "ay";
                else if (stream && streq(key, "tty"))
                        want = "b";
                else {
                        r = zl_bus_reply_errnof(m, EINVAL, "options: unknown option '%s'", key);
                        return r < 0 ? r : 0;
                }
                r = sd_bus_message_peek_type(m, &type, &contents);
                if (r < 0)
                        return r;
                if (!streq(contents, want)) {
                        r = zl_bus_reply_errnof(m, EINVAL,
                                                "options: '%s' must be of type '%s', not '%s'", key,
                                                want, contents);
                        return r < 0 ? r : 0;
                }
                r = sd_bus_message_enter_container(m, 'v', want);
                if (r < 0)
                        return r;
                if (streq(key, "user") || streq(key, "cwd")) {
                        char **field = streq(key, "user") ? &a->user : &a->cwd;
                        r = sd_bus_message_read(m, "s", &s);
                        if (r >= 0)
                                r = strdup_to(field, s);
                } else if (streq(key, "traceparent"))
                        r = sd_bus_message_read(m, "s", &s);
                else if (streq(key, "timeout")) {
                        r = sd_bus_message_read(m, "u", &a->timeout);
                        if (r >= 0 && a->timeout == 0) {
                                r = zl_bus_reply_errnof(m, EINVAL,
                                                        "options: 'timeout' must be positive");
                                return r < 0 ? r : 0;
                        }
                } else if (streq(key, "stdin"))
                        r = sd_bus_message_read_array(m, 'y', &a->stdin_data, &a->stdin_size);
                else {
                        int b;
                        r = sd_bus_message_read(m, "b", &b);
                        a->tty = b;
                }
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r >= 0)
                        r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m);
        return r < 0 ? r : 1;
}

static void on_exec_done(int r, const char *error, int exit_code, const void *out, size_t out_size,
                         const void *err, size_t err_size, void *userdata) {
        _cleanup_(bus_message_unrefp) sd_bus_message *m = userdata, *reply = NULL;
        int k;

        if (r < 0) {
                k = reply_error(m, r, error);
                goto finish;
        }
        k = sd_bus_message_new_method_return(m, &reply);
        if (k >= 0)
                k = sd_bus_message_append(reply, "i", exit_code);
        if (k >= 0)
                k = sd_bus_message_append_array(reply, 'y', out, out_size);
        if (k >= 0)
                k = sd_bus_message_append_array(reply, 'y', err, err_size);
        if (k >= 0)
                k = sd_bus_send(NULL, reply, NULL);
        else
                k = reply_error(m, k, "Failed to build the reply");
finish:
        if (k < 0)
                log_debug_errno(k, "Failed to reply to Exec(), ignoring: %m");
}

static int method_exec(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(exec_args_done) ExecArgs a = {};
        _cleanup_free_ char *msg = NULL;
        Runtime *rt = userdata;
        Container *c;
        int r;

        (void) error;
        r = read_exec_args(m, false, &a);
        if (r <= 0)
                return r;
        r = lookup(m, rt, a.id, &c);
        if (r <= 0)
                return r;
        ExecRequest req = {
                .argv = a.argv,
                .env = a.env,
                .user = a.user,
                .cwd = a.cwd,
                .timeout = (usec_t) a.timeout * USEC_PER_SEC,
                .stdin_data = a.stdin_data,
                .stdin_size = a.stdin_size,
        };
        r = manager_exec(rt->manager, c, &req, on_exec_done, sd_bus_message_ref(m), &msg);
        if (r < 0) {
                sd_bus_message_unref(m);
                return reply_error(m, r, msg);
        }
        return 1;
}

static int method_exec_stream(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(exec_args_done) ExecArgs a = {};
        _cleanup_free_ char *msg = NULL, *exec_id = NULL;
        _cleanup_close_ int stdio_fd = -EBADF, stderr_fd = -EBADF;
        Runtime *rt = userdata;
        Container *c;
        int r;

        (void) error;
        r = read_exec_args(m, true, &a);
        if (r <= 0)
                return r;
        r = lookup(m, rt, a.id, &c);
        if (r <= 0)
                return r;
        ExecRequest req = {
                .argv = a.argv,
                .env = a.env,
                .user = a.user,
                .cwd = a.cwd,
                .tty = a.tty,
        };
        r = manager_exec_stream(rt->manager, c, &req, strempty(sd_bus_message_get_sender(m)),
                                &stdio_fd, &stderr_fd, &exec_id, &msg);
        if (r < 0)
                return reply_error(m, r, msg);
        return sd_bus_reply_method_return(m, "hhs", stdio_fd, stderr_fd, exec_id);
}

static void on_wait_done(int r, int exit_code, void *userdata) {
        _cleanup_(bus_message_unrefp) sd_bus_message *m = userdata;
        int k;

        if (r < 0)
                k = reply_error(m, r, NULL);
        else
                k = sd_bus_reply_method_return(m, "i", exit_code);
        if (k < 0)
                log_debug_errno(k, "Failed to reply to WaitExec(), ignoring: %m");
}

static int method_wait_exec(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Runtime *rt = userdata;
        const char *exec_id;
        int exit_code, r;

        (void) error;
        r = sd_bus_message_read(m, "s", &exec_id);
        if (r < 0)
                return r;
        r = manager_wait_exec(rt->manager, exec_id, strempty(sd_bus_message_get_sender(m)),
                              &exit_code, on_wait_done, m);
        if (r == -ENOENT)
                return zl_bus_reply_errnof(m, ENOENT, "No command '%s' (or its result expired).",
                                           exec_id);
        if (r == -EPERM)
                return zl_bus_reply_errnof(m, EPERM, "Command '%s' was started by another caller.",
                                           exec_id);
        if (r == -EBUSY)
                return zl_bus_reply_errnof(m, EBUSY, "Somebody already waits for '%s'.", exec_id);
        if (r < 0)
                return r;
        if (r > 0)
                return sd_bus_reply_method_return(m, "i", exit_code);
        sd_bus_message_ref(m);
        return 1;
}

/* ---- OpenLogs, GetStats ----------------------------------------------------------------- */

static int method_open_logs(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_close_ int fd = -EBADF;
        Runtime *rt = userdata;
        const char *id;
        int follow, r;
        int64_t tail;
        uint64_t since;
        Container *c;

        (void) error;
        r = sd_bus_message_read(m, "sbxt", &id, &follow, &tail, &since);
        if (r < 0)
                return r;
        if (tail < -1)
                return zl_bus_reply_errnof(m, EINVAL, "tail: %" PRIi64 " is not -1 or a count",
                                           tail);
        r = lookup(m, rt, id, &c);
        if (r <= 0)
                return r;
        r = manager_open_logs(rt->manager, c, follow, tail < 0 ? UINT64_MAX : (uint64_t) tail,
                              since, &fd);
        if (r < 0)
                return zl_bus_reply_errnof(m, -r, "Failed to open the logs of '%s': %s", c->id,
                                           strerror(-r));
        return sd_bus_reply_method_return(m, "h", fd);
}

static int method_get_stats(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(bus_message_unrefp) sd_bus_message *reply = NULL;
        Runtime *rt = userdata;
        uint64_t memory_limit, pids_limit;
        CgroupStats st;
        const char *id;
        Container *c;
        int r;

        (void) error;
        r = sd_bus_message_read(m, "s", &id);
        if (r < 0)
                return r;
        r = lookup(m, rt, id, &c);
        if (r <= 0)
                return r;
        r = manager_get_stats(rt->manager, c, &st, &memory_limit, &pids_limit);
        if (r == -EBUSY)
                return zl_bus_reply_errnof(m, EBUSY, "Container %s is %s: no statistics.", c->id,
                                           container_state_to_string(c->state));
        if (r < 0)
                return zl_bus_reply_errnof(m, -r, "Failed to read the statistics of %s: %s", c->id,
                                           strerror(-r));

        const struct {
                const char *name;
                uint64_t value;
        } stats[] = {
                { "cpu_usage_usec", st.cpu_usage_usec },
                { "cpu_user_usec", st.cpu_user_usec },
                { "cpu_system_usec", st.cpu_system_usec },
                { "cpu_nr_periods", st.cpu_nr_periods },
                { "cpu_nr_throttled", st.cpu_nr_throttled },
                { "cpu_throttled_usec", st.cpu_throttled_usec },
                { "memory_current_bytes", st.memory_current_bytes },
                { "memory_peak_bytes", st.memory_peak_bytes },
                { "memory_limit_bytes", memory_limit },
                { "pids_current", st.pids_current },
                { "pids_limit", pids_limit },
                { "oom_kill_count", st.oom_kill_count },
        };
        r = sd_bus_message_new_method_return(m, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(stats); i++) {
                if (stats[i].value == CGROUP_STAT_UNKNOWN)
                        continue;
                r = sd_bus_message_append(reply, "{sv}", stats[i].name, "t", stats[i].value);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static const sd_bus_vtable runtime_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("CreateContainer",
                                SD_BUS_ARGS("s", name, "s", config_json, "a{sv}", options),
                                SD_BUS_RESULT("s", id, "o", path), method_create_container,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("StartContainer", SD_BUS_ARGS("s", id), SD_BUS_NO_RESULT,
                                method_start_container, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("StopContainer", SD_BUS_ARGS("s", id, "u", timeout),
                                SD_BUS_NO_RESULT, method_stop_container,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("KillContainer", SD_BUS_ARGS("s", id, "s", signal, "b", all),
                                SD_BUS_NO_RESULT, method_kill_container,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("RemoveContainer", SD_BUS_ARGS("s", id, "b", force),
                                SD_BUS_NO_RESULT, method_remove_container,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("PauseContainer", SD_BUS_ARGS("s", id), SD_BUS_NO_RESULT,
                                method_pause_container, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ResumeContainer", SD_BUS_ARGS("s", id), SD_BUS_NO_RESULT,
                                method_resume_container, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListContainers", SD_BUS_ARGS("a{sv}", filter),
                                SD_BUS_RESULT("a(ssssuittta{ss})", containers),
                                method_list_containers, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("InspectContainer", SD_BUS_ARGS("s", id), SD_BUS_RESULT("s", json),
                                method_inspect_container, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Exec",
                                SD_BUS_ARGS("s", id, "as", argv, "as", env, "a{sv}", options),
                                SD_BUS_RESULT("i", exit_code, "ay", stdout, "ay", stderr),
                                method_exec, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ExecStream",
                                SD_BUS_ARGS("s", id, "as", argv, "as", env, "a{sv}", options),
                                SD_BUS_RESULT("h", stdio, "h", stderr, "s", exec_id),
                                method_exec_stream, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("WaitExec", SD_BUS_ARGS("s", exec_id),
                                SD_BUS_RESULT("i", exit_code), method_wait_exec,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS(
                "OpenLogs", SD_BUS_ARGS("s", id, "b", follow, "x", tail, "t", since),
                SD_BUS_RESULT("h", fd), method_open_logs, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetStats", SD_BUS_ARGS("s", id), SD_BUS_RESULT("a{sv}", stats),
                                method_get_stats, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("ContainerStateChanged",
                                SD_BUS_ARGS("s", id, "s", state, "i", exit_code), 0),
        SD_BUS_SIGNAL_WITH_ARGS("ContainerOOM", SD_BUS_ARGS("s", id), 0),
        SD_BUS_VTABLE_END,
};

const ZlBusObject runtime_bus_object = {
        .path = RUNTIME_OBJECT_PATH,
        .interface = RUNTIME_INTERFACE,
        .vtable = runtime_vtable,
};

/* ---- the per-container objects ---------------------------------------------------------- */

static int property_get_state(sd_bus *bus, const char *path, const char *interface,
                              const char *property, sd_bus_message *reply, void *userdata,
                              sd_bus_error *error) {
        Container *c = userdata;

        (void) bus, (void) path, (void) interface, (void) property, (void) error;
        return sd_bus_message_append(reply, "s", container_state_to_string(c->state));
}

static int property_get_oom_killed(sd_bus *bus, const char *path, const char *interface,
                                   const char *property, sd_bus_message *reply, void *userdata,
                                   sd_bus_error *error) {
        Container *c = userdata;

        (void) bus, (void) path, (void) interface, (void) property, (void) error;
        return sd_bus_message_append(reply, "b", c->oom_killed);
}

static int property_get_image(sd_bus *bus, const char *path, const char *interface,
                              const char *property, sd_bus_message *reply, void *userdata,
                              sd_bus_error *error) {
        Container *c = userdata;

        (void) bus, (void) path, (void) interface, (void) property, (void) error;
        return sd_bus_message_append(reply, "s", strempty(c->image));
}

static int property_get_pid(sd_bus *bus, const char *path, const char *interface,
                            const char *property, sd_bus_message *reply, void *userdata,
                            sd_bus_error *error) {
        Container *c = userdata;

        (void) bus, (void) path, (void) interface, (void) property, (void) error;
        return sd_bus_message_append(reply, "u", (uint32_t) (c->pid > 0 ? c->pid : 0));
}

static int property_get_labels(sd_bus *bus, const char *path, const char *interface,
                               const char *property, sd_bus_message *reply, void *userdata,
                               sd_bus_error *error) {
        (void) bus, (void) path, (void) interface, (void) property, (void) error;
        return append_labels(reply, userdata);
}

static const sd_bus_vtable container_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Id", "s", NULL, offsetof(Container, id), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Name", "s", NULL, offsetof(Container, name), SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("State", "s", property_get_state, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Pid", "u", property_get_pid, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("ExitCode", "i", NULL, offsetof(Container, exit_code),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("OOMKilled", "b", property_get_oom_killed, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("CreatedAt", "t", NULL, offsetof(Container, created_at),
                        SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("StartedAt", "t", NULL, offsetof(Container, started_at),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("FinishedAt", "t", NULL, offsetof(Container, finished_at),
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Image", "s", property_get_image, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Labels", "a{ss}", property_get_labels, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_VTABLE_END,
};

static int container_find(sd_bus *bus, const char *path, const char *interface, void *userdata,
                          void **ret_found, sd_bus_error *error) {
        _cleanup_free_ char *id = NULL;
        Runtime *rt = userdata;
        Container *c;
        int r;

        (void) bus, (void) interface, (void) error;
        if (!rt)
                return 0;
        r = zl_bus_path_decode(path, RUNTIME_CONTAINER_PREFIX, &id);
        if (r <= 0)
                return r;
        c = manager_get_by_id(rt->manager, id);
        if (!c)
                return 0;
        *ret_found = c;
        return 1;
}

static int container_enumerate(sd_bus *bus, const char *prefix, void *userdata, char ***ret_nodes,
                               sd_bus_error *error) {
        _cleanup_strv_free_ char **l = NULL;
        Runtime *rt = userdata;

        (void) bus, (void) prefix, (void) error;
        for (size_t i = 0; rt && i < manager_get_n_containers(rt->manager); i++) {
                char *p = NULL;
                int r = zl_bus_path_encode(RUNTIME_CONTAINER_PREFIX,
                                           manager_get_container(rt->manager, i)->id, &p);
                if (r < 0)
                        return r;
                if (strv_consume(&l, p) < 0)
                        return -ENOMEM;
        }
        *ret_nodes = TAKE_PTR(l);
        return 0;
}

const ZlBusObject runtime_container_bus_object = {
        .path = RUNTIME_CONTAINER_PREFIX,
        .interface = RUNTIME_CONTAINER_INTERFACE,
        .vtable = container_vtable,
        .fallback = true,
        .find = container_find,
        .node_enumerator = container_enumerate,
};

/* ---- signals ---------------------------------------------------------------------------- */

static void emit_state(Runtime *rt, Container *c, const char *state) {
        sd_bus *bus = zl_daemon_get_bus(rt->daemon);
        int r;

        if (!bus)
                return;
        r = sd_bus_emit_signal(bus, RUNTIME_OBJECT_PATH, RUNTIME_INTERFACE, "ContainerStateChanged",
                               "ssi", c->id, state, c->exit_code);
        if (r < 0)
                log_debug_errno(r, "Failed to emit ContainerStateChanged, ignoring: %m");
}

static void on_changed(Manager *m, Container *c, bool state_changed, void *userdata) {
        _cleanup_free_ char *path = NULL;
        Runtime *rt = userdata;
        sd_bus *bus = zl_daemon_get_bus(rt->daemon);
        int r;

        (void) m;
        if (!bus)
                return;
        r = zl_bus_path_encode(RUNTIME_CONTAINER_PREFIX, c->id, &path);
        if (r >= 0)
                r = sd_bus_emit_properties_changed(bus, path, RUNTIME_CONTAINER_INTERFACE, "State",
                                                   "Pid", "ExitCode", "OOMKilled", "StartedAt",
                                                   "FinishedAt", NULL);
        if (r < 0)
                log_debug_errno(r, "Failed to emit PropertiesChanged, ignoring: %m");
        if (state_changed)
                emit_state(rt, c, container_state_to_string(c->state));
}

static void on_removed(Manager *m, Container *c, void *userdata) {
        (void) m;
        emit_state(userdata, c, "removed");
}

static void on_oom(Manager *m, Container *c, void *userdata) {
        Runtime *rt = userdata;
        sd_bus *bus = zl_daemon_get_bus(rt->daemon);
        int r;

        (void) m;
        if (!bus)
                return;
        r = sd_bus_emit_signal(bus, RUNTIME_OBJECT_PATH, RUNTIME_INTERFACE, "ContainerOOM", "s",
                               c->id);
        if (r < 0)
                log_debug_errno(r, "Failed to emit ContainerOOM, ignoring: %m");
}

const ManagerCallbacks runtime_bus_callbacks = {
        .changed = on_changed,
        .removed = on_removed,
        .oom = on_oom,
};
