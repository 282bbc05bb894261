/* SPDX-License-Identifier: Apache-2.0 */
/* runtime-bus.c: the org.zlayer.Runtime1 vtables: arguments checked, manager calls, signals. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bus-error.h"
#include "bus-options.h"
#include "log.h"
#include "runtime-bus.h"
#include "runtime-images.h"
#include "signal-util.h"
#include "string-util.h"

#define EXEC_TIMEOUT_DEFAULT_SEC 60U

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

/* What CreateContainer reads: the container options, and how to get the image. */
typedef struct CreateArgs {
        ContainerOptions o;
        char *pull_policy;
        char **entrypoint;
        char *platform; /* of the pull the image may need */
        char *registry_auth;
} CreateArgs;

#define CREATE_ARGS_INIT ((CreateArgs){ .o = CONTAINER_OPTIONS_INIT })

static void create_args_done(CreateArgs *a) {
        container_options_done(&a->o);
        a->pull_policy = mfree(a->pull_policy);
        a->entrypoint = strv_free(a->entrypoint);
        a->platform = mfree(a->platform);
        if (a->registry_auth)
                explicit_bzero(a->registry_auth, strlen(a->registry_auth));
        a->registry_auth = mfree(a->registry_auth);
}

#define OPT(n, sig, fn, field) ZL_BUS_OPTION(n, sig, fn, CreateArgs, o.field)
#define ARG(n, sig, fn, field) ZL_BUS_OPTION(n, sig, fn, CreateArgs, field)
static const ZlBusOption create_options[] = {
        OPT("rootfs", "s", zl_bus_option_string, rootfs),
        OPT("bundle", "s", zl_bus_option_string, bundle),
        OPT("args", "as", zl_bus_option_strv, args),
        OPT("env", "as", zl_bus_option_strv, env),
        OPT("cwd", "s", zl_bus_option_string, cwd),
        OPT("user", "s", zl_bus_option_string, user),
        OPT("hostname", "s", zl_bus_option_string, hostname),
        OPT("terminal", "b", zl_bus_option_tristate, terminal),
        OPT("memory", "t", zl_bus_option_uint64, memory),
        OPT("memory_swap", "t", zl_bus_option_uint64, memory_swap),
        OPT("cpus", "d", zl_bus_option_double, cpus),
        OPT("cpu_shares", "t", zl_bus_option_uint64, cpu_shares),
        OPT("pids", "t", zl_bus_option_uint64, pids),
        OPT("cap_add", "as", zl_bus_option_strv, cap_add),
        OPT("cap_drop", "as", zl_bus_option_strv, cap_drop),
        OPT("read_only", "b", zl_bus_option_tristate, read_only),
        OPT("network", "s", zl_bus_option_string, network),
        OPT("seccomp", "s", zl_bus_option_string, seccomp),
        OPT("labels", "a{ss}", zl_bus_option_string_map, labels),
        OPT("image", "s", zl_bus_option_string, image),
        OPT("log_max_size", "t", zl_bus_option_uint64, log_max_size),
        OPT("log_max_files", "u", zl_bus_option_uint32_wide, log_max_files),
        OPT("storage", "s", zl_bus_option_string, storage),
        OPT("devices", "s", zl_bus_option_string, devices),
        OPT("sysctls", "a{ss}", zl_bus_option_string_map, sysctls),
        OPT("privileged", "b", zl_bus_option_tristate, privileged),
        ARG("pull_policy", "s", zl_bus_option_string, pull_policy),
        ARG("entrypoint", "as", zl_bus_option_strv, entrypoint),
        ARG("platform", "s", zl_bus_option_string, platform),
        ARG("registry_auth", "s", zl_bus_option_string, registry_auth),
        ZL_BUS_OPTION_IGNORED("traceparent", "s"),
};
#undef OPT
#undef ARG

static int reply_created(sd_bus_message *m, Container *c) {
        _cleanup_free_ char *path = NULL;
        int r;

        r = zl_bus_path_encode(RUNTIME_CONTAINER_PREFIX, c->id, &path);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(m, "so", c->id, path);
}

/* A container from an image that had to be pulled first: userdata is the call (a reference). */
static void on_created(int r, const char *error, Container *c, void *userdata) {
        _cleanup_(bus_message_unrefp) sd_bus_message *m = userdata;
        int k;

        k = r < 0 ? reply_error(m, r, error) : reply_created(m, c);
        if (k < 0)
                log_debug_errno(k, "Failed to reply to CreateContainer(), ignoring: %m");
}

static int method_create_container(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(create_args_done) CreateArgs args = CREATE_ARGS_INIT;
        _cleanup_free_ char *msg = NULL;
        Runtime *rt = userdata;
        const char *name, *config_json;
        Container *c;
        int r;

        (void) error;
        r = sd_bus_message_read(m, "ss", &name, &config_json);
        if (r < 0)
                return r;
        r = zl_bus_read_options_or_reply(m, NULL, create_options, ELEMENTSOF(create_options),
                                         &args);
        if (r <= 0)
                return r;

        /* "image" without a root or config: the image is the root, and says what runs. */
        if (args.o.image && !args.o.rootfs && isempty(config_json)) {
                Images *im = manager_get_images(rt->manager);

                if (!im)
                        return zl_bus_reply_errnof(m, EOPNOTSUPP, "images are not available");
                ImagePullOptions pull = {
                        .platform = args.platform,
                        .auth = args.registry_auth,
                };

                r = images_create_container(im, name, &args.o, TAKE_PTR(args.entrypoint),
                                            args.pull_policy, &pull, on_created,
                                            sd_bus_message_ref(m), &c, &msg);
                if (r != 0)
                        sd_bus_message_unref(m);
                if (r < 0)
                        return reply_error(m, r, msg);
                if (r == 0)
                        return 1;
                return reply_created(m, c);
        }
        if (args.pull_policy || args.entrypoint || args.platform || args.registry_auth)
                return zl_bus_reply_errnof(m, EINVAL,
                                           "options: '%s' needs 'image' without 'rootfs' or "
                                           "config_json",
                                           args.pull_policy  ? "pull_policy"
                                           : args.entrypoint ? "entrypoint"
                                           : args.platform   ? "platform"
                                                             : "registry_auth");

        r = manager_create(rt->manager, name, config_json, &args.o, &c, &msg);
        if (r < 0)
                return reply_error(m, r, msg);
        return reply_created(m, c);
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

typedef struct ListFilter {
        const char *state;
        const char *name;
        char **labels;
} ListFilter;

static void list_filter_done(ListFilter *f) {
        f->labels = strv_free(f->labels);
}

static const ZlBusOption list_filter[] = {
        ZL_BUS_OPTION("state", "s", zl_bus_option_string_ref, ListFilter, state),
        ZL_BUS_OPTION("name", "s", zl_bus_option_string_ref, ListFilter, name),
        ZL_BUS_OPTION("label", "as", zl_bus_option_strv, ListFilter, labels),
};

static int method_list_containers(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(list_filter_done) ListFilter f = {};
        ContainerState state = _CONTAINER_STATE_INVALID;
        Runtime *rt = userdata;
        int r;

        (void) error;
        r = zl_bus_read_options_or_reply(m, "filter", list_filter, ELEMENTSOF(list_filter), &f);
        if (r <= 0)
                return r;
        if (f.state) {
                state = container_state_from_string(f.state);
                if (state < 0)
                        return zl_bus_reply_errnof(m, EINVAL,
                                                   "filter: state '%s' is not one of 'created', "
                                                   "'running', 'paused', 'exited'",
                                                   f.state);
        }

        r = sd_bus_message_new_method_return(m, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "(ssssuittta{ss}s)");
        if (r < 0)
                return r;
        for (size_t i = 0; i < manager_get_n_containers(rt->manager); i++) {
                Container *c = manager_get_container(rt->manager, i);

                if (state >= 0 && c->state != state)
                        continue;
                if (f.name && !streq(c->name, f.name))
                        continue;
                if (!container_matches_labels(c, f.labels))
                        continue;
                r = sd_bus_message_open_container(reply, 'r', "ssssuittta{ss}s");
                if (r >= 0)
                        r = sd_bus_message_append(
                                reply, "ssssuittt", c->id, c->name, strempty(c->image),
                                container_state_to_string(c->state), (uint32_t) c->pid,
                                c->exit_code, (uint64_t) c->created_at, (uint64_t) c->started_at,
                                (uint64_t) c->finished_at);
                if (r >= 0)
                        r = append_labels(reply, c);
                if (r >= 0)
                        r = sd_bus_message_append(reply, "s", strempty(c->net.address));
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
        struct iovec stdin_data;
} ExecArgs;

/* Exec takes a timeout and stdin; ExecStream has a terminal instead. */
static const ZlBusOption exec_options[] = {
        ZL_BUS_OPTION("user", "s", zl_bus_option_string, ExecArgs, user),
        ZL_BUS_OPTION("cwd", "s", zl_bus_option_string, ExecArgs, cwd),
        ZL_BUS_OPTION("timeout", "u", zl_bus_option_uint32, ExecArgs, timeout),
        ZL_BUS_OPTION("stdin", "ay", zl_bus_option_bytes_ref, ExecArgs, stdin_data),
        ZL_BUS_OPTION_IGNORED("traceparent", "s"),
};

static const ZlBusOption exec_stream_options[] = {
        ZL_BUS_OPTION("user", "s", zl_bus_option_string, ExecArgs, user),
        ZL_BUS_OPTION("cwd", "s", zl_bus_option_string, ExecArgs, cwd),
        ZL_BUS_OPTION("tty", "b", zl_bus_option_bool, ExecArgs, tty),
        ZL_BUS_OPTION_IGNORED("traceparent", "s"),
};

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

        if (stream)
                r = zl_bus_read_options_or_reply(m, NULL, exec_stream_options,
                                                 ELEMENTSOF(exec_stream_options), a);
        else
                r = zl_bus_read_options_or_reply(m, NULL, exec_options, ELEMENTSOF(exec_options),
                                                 a);
        if (r <= 0)
                return r;
        if (a->timeout == 0) {
                r = zl_bus_reply_errnof(m, EINVAL, "options: 'timeout' must be positive");
                return r < 0 ? r : 0;
        }
        return 1;
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
                .stdin_data = a.stdin_data.iov_base,
                .stdin_size = a.stdin_data.iov_len,
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

/* ---- images --------------------------------------------------------------------------- */

static Images *images_or_reply(sd_bus_message *m, Runtime *rt, int *ret_r) {
        Images *im = manager_get_images(rt->manager);

        if (!im)
                *ret_r = zl_bus_reply_errnof(m, EOPNOTSUPP, "images are not available");
        return im;
}

static int job_path(ImageJob *j, char **ret) {
        char id[32];

        snprintf(id, sizeof id, "%" PRIu64, image_job_get_id(j));
        return zl_bus_path_encode(RUNTIME_JOB_PREFIX, id, ret);
}

/* The options of PullImage and PushImage; the strings point into the message. */
static const ZlBusOption pull_options[] = {
        ZL_BUS_OPTION("platform", "s", zl_bus_option_string_ref, ImagePullOptions, platform),
        ZL_BUS_OPTION("insecure", "b", zl_bus_option_bool, ImagePullOptions, insecure),
        ZL_BUS_OPTION("auth", "s", zl_bus_option_string_ref, ImagePullOptions, auth),
        ZL_BUS_OPTION_IGNORED("traceparent", "s"),
};

typedef int (*image_job_start_t)(Images *im, const char *ref, const ImagePullOptions *o,
                                 image_job_done_t done, void *userdata, ImageJob **ret_job,
                                 char **ret_error);

static int method_image_job(sd_bus_message *m, Runtime *rt, image_job_start_t start) {
        _cleanup_free_ char *msg = NULL, *path = NULL;
        ImagePullOptions o = {};
        const char *ref;
        ImageJob *j;
        Images *im;
        int r = 0;

        im = images_or_reply(m, rt, &r);
        if (!im)
                return r;
        r = sd_bus_message_read(m, "s", &ref);
        if (r < 0)
                return r;
        r = zl_bus_read_options_or_reply(m, NULL, pull_options, ELEMENTSOF(pull_options), &o);
        if (r <= 0)
                return r;
        r = start(im, ref, &o, NULL, NULL, &j, &msg);
        if (r < 0)
                return reply_error(m, r, msg);
        r = job_path(j, &path);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(m, "o", path);
}

static int method_pull_image(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        (void) error;
        return method_image_job(m, userdata, images_pull);
}

static int method_push_image(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        (void) error;
        return method_image_job(m, userdata, images_push);
}

/* Replies to a call waiting for a job (ImportImage, Job.Wait): userdata is the call. */
static void on_job_done(int r, const char *error, const char *digest, void *userdata) {
        _cleanup_(bus_message_unrefp) sd_bus_message *m = userdata;
        int k;

        if (r < 0)
                k = reply_error(m, r, error);
        else
                k = sd_bus_reply_method_return(m, "s", strempty(digest));
        if (k < 0)
                log_debug_errno(k, "Failed to reply to %s(), ignoring: %m",
                                sd_bus_message_get_member(m));
}

/* ImportImage(path, ref) and ExportImage(ref, path): a job whose end is the reply. */
static int start_archive_job(sd_bus_message *m, Runtime *rt, bool export) {
        _cleanup_free_ char *msg = NULL;
        const char *path, *ref;
        Images *im;
        int r = 0;

        im = images_or_reply(m, rt, &r);
        if (!im)
                return r;
        if (export)
                r = sd_bus_message_read(m, "ss", &ref, &path);
        else
                r = sd_bus_message_read(m, "ss", &path, &ref);
        if (r < 0)
                return r;
        if (export)
                r = images_export(im, ref, path, on_job_done, sd_bus_message_ref(m), NULL, &msg);
        else
                r = images_import(im, path, ref, on_job_done, sd_bus_message_ref(m), NULL, &msg);
        if (r < 0) {
                sd_bus_message_unref(m);
                return reply_error(m, r, msg);
        }
        return 1;
}

static int method_import_image(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        (void) error;
        return start_archive_job(m, userdata, false);
}

static int method_export_image(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        (void) error;
        return start_archive_job(m, userdata, true);
}

static int method_list_images(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ unsigned *users = NULL;
        Runtime *rt = userdata;
        ImageInfo *list = NULL;
        size_t n = 0;
        Images *im;
        int r = 0;

        (void) error;
        im = images_or_reply(m, rt, &r);
        if (!im)
                return r;
        r = images_list(im, &list, &n, &users);
        if (r < 0)
                return zl_bus_reply_errnof(m, -r, "Failed to list the images: %s", strerror(-r));
        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(ssssttu)");
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = sd_bus_message_append(reply, "(ssssttu)", list[i].repository,
                                          strempty(list[i].tag), list[i].manifest_digest,
                                          list[i].config_digest, (uint64_t) list[i].created,
                                          (uint64_t) list[i].last_used, users[i]);
        image_info_list_free(list, n);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_inspect_image(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_free_ char *msg = NULL, *json = NULL;
        Runtime *rt = userdata;
        const char *ref;
        Images *im;
        int r = 0;

        (void) error;
        im = images_or_reply(m, rt, &r);
        if (!im)
                return r;
        r = sd_bus_message_read(m, "s", &ref);
        if (r < 0)
                return r;
        r = images_inspect(im, ref, &json, &msg);
        if (r < 0)
                return reply_error(m, r, msg);
        return sd_bus_reply_method_return(m, "s", json);
}

static int method_remove_image(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_free_ char *msg = NULL;
        Runtime *rt = userdata;
        const char *ref;
        Images *im;
        int force, r = 0;

        (void) error;
        im = images_or_reply(m, rt, &r);
        if (!im)
                return r;
        r = sd_bus_message_read(m, "sb", &ref, &force);
        if (r < 0)
                return r;
        r = images_remove(im, ref, force, &msg);
        if (r < 0)
                return reply_error(m, r, msg);
        return sd_bus_reply_method_return(m, NULL);
}

static int method_tag_image(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_free_ char *msg = NULL;
        Runtime *rt = userdata;
        const char *source, *target;
        Images *im;
        int r = 0;

        (void) error;
        im = images_or_reply(m, rt, &r);
        if (!im)
                return r;
        r = sd_bus_message_read(m, "ss", &source, &target);
        if (r < 0)
                return r;
        r = images_tag(im, source, target, &msg);
        if (r < 0)
                return reply_error(m, r, msg);
        return sd_bus_reply_method_return(m, NULL);
}

static void on_pruned(int r, uint64_t freed, void *userdata) {
        _cleanup_(bus_message_unrefp) sd_bus_message *m = userdata;
        int k;

        if (r < 0)
                k = zl_bus_reply_errnof(m, -r, "Failed to prune the images: %s", strerror(-r));
        else
                k = sd_bus_reply_method_return(m, "t", freed);
        if (k < 0)
                log_debug_errno(k, "Failed to reply to PruneImages(), ignoring: %m");
}

static int method_prune_images(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Runtime *rt = userdata;
        uint64_t freed = 0;
        Images *im;
        int r = 0;

        (void) error;
        im = images_or_reply(m, rt, &r);
        if (!im)
                return r;
        r = images_prune(im, on_pruned, sd_bus_message_ref(m), &freed);
        if (r != 0)
                sd_bus_message_unref(m);
        if (r < 0)
                return zl_bus_reply_errnof(m, -r, "Failed to prune the images: %s", strerror(-r));
        if (r == 0)
                return 1;
        return sd_bus_reply_method_return(m, "t", freed);
}

static int method_login(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_free_ char *msg = NULL;
        Runtime *rt = userdata;
        const char *registry, *user, *password;
        Images *im;
        int r = 0;

        (void) error;
        im = images_or_reply(m, rt, &r);
        if (!im)
                return r;
        r = sd_bus_message_read(m, "sss", &registry, &user, &password);
        if (r < 0)
                return r;
        r = images_login(im, registry, user, password, &msg);
        if (r < 0)
                return reply_error(m, r, msg);
        return sd_bus_reply_method_return(m, NULL);
}

static int method_logout(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_free_ char *msg = NULL;
        Runtime *rt = userdata;
        const char *registry;
        Images *im;
        int r = 0;

        (void) error;
        im = images_or_reply(m, rt, &r);
        if (!im)
                return r;
        r = sd_bus_message_read(m, "s", &registry);
        if (r < 0)
                return r;
        r = images_logout(im, registry, &msg);
        if (r < 0)
                return reply_error(m, r, msg);
        return sd_bus_reply_method_return(m, NULL);
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
                                SD_BUS_RESULT("a(ssssuittta{ss}s)", containers),
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
        SD_BUS_METHOD_WITH_ARGS("PullImage", SD_BUS_ARGS("s", ref, "a{sv}", options),
                                SD_BUS_RESULT("o", job), method_pull_image,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("PushImage", SD_BUS_ARGS("s", ref, "a{sv}", options),
                                SD_BUS_RESULT("o", job), method_push_image,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ImportImage", SD_BUS_ARGS("s", path, "s", ref),
                                SD_BUS_RESULT("s", digest), method_import_image,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ExportImage", SD_BUS_ARGS("s", ref, "s", path),
                                SD_BUS_RESULT("s", digest), method_export_image,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListImages", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(ssssttu)", images),
                                method_list_images, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("InspectImage", SD_BUS_ARGS("s", ref), SD_BUS_RESULT("s", json),
                                method_inspect_image, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("RemoveImage", SD_BUS_ARGS("s", ref, "b", force), SD_BUS_NO_RESULT,
                                method_remove_image, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("TagImage", SD_BUS_ARGS("s", source, "s", target), SD_BUS_NO_RESULT,
                                method_tag_image, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("PruneImages", SD_BUS_NO_ARGS, SD_BUS_RESULT("t", freed),
                                method_prune_images, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Login", SD_BUS_ARGS("s", registry, "s", user, "s", password),
                                SD_BUS_NO_RESULT, method_login, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Logout", SD_BUS_ARGS("s", registry), SD_BUS_NO_RESULT,
                                method_logout, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("JobFinished",
                                SD_BUS_ARGS("o", job, "s", kind, "s", ref, "s", digest, "s", error),
                                0),
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

/* Network: set when the container is created, before its object exists. IPAddress, Gateway,
 * MacAddress: from then until the container exits (its address goes back to the node then). */
static int property_get_network(sd_bus *bus, const char *path, const char *interface,
                                const char *property, sd_bus_message *reply, void *userdata,
                                sd_bus_error *error) {
        Container *c = userdata;
        const char *v = NULL;

        (void) bus, (void) path, (void) interface, (void) error;
        if (streq(property, "Network"))
                v = network_mode_to_string(c->network);
        else if (streq(property, "IPAddress"))
                v = c->net.address;
        else if (streq(property, "Gateway"))
                v = c->net.gateway;
        else if (streq(property, "MacAddress"))
                v = c->net.mac;
        return sd_bus_message_append(reply, "s", strempty(v));
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
        SD_BUS_PROPERTY("Network", "s", property_get_network, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("IPAddress", "s", property_get_network, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Gateway", "s", property_get_network, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("MacAddress", "s", property_get_network, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
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

/* ---- the per-job objects ---------------------------------------------------------------- */

static int method_job_wait(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        ImageJob *j = userdata;
        const char *msg = NULL, *digest = NULL;
        int r, result = 0;

        (void) error;
        r = image_job_wait(j, on_job_done, sd_bus_message_ref(m), &result, &msg, &digest);
        if (r != 0)
                sd_bus_message_unref(m);
        if (r < 0)
                return r;
        if (r == 0)
                return 1;
        if (result < 0)
                return reply_error(m, result, msg);
        return sd_bus_reply_method_return(m, "s", strempty(digest));
}

static int property_get_job_id(sd_bus *bus, const char *path, const char *interface,
                               const char *property, sd_bus_message *reply, void *userdata,
                               sd_bus_error *error) {
        (void) bus, (void) path, (void) interface, (void) property, (void) error;
        return sd_bus_message_append(reply, "t", image_job_get_id(userdata));
}

static int property_get_job_string(sd_bus *bus, const char *path, const char *interface,
                                   const char *property, sd_bus_message *reply, void *userdata,
                                   sd_bus_error *error) {
        ImageJob *j = userdata;
        const char *v;

        (void) bus, (void) path, (void) interface, (void) error;
        if (streq(property, "Kind"))
                v = image_job_kind_to_string(image_job_get_kind(j));
        else if (streq(property, "Ref"))
                v = image_job_get_ref(j);
        else if (streq(property, "State"))
                v = image_job_get_state(j);
        else if (streq(property, "Digest"))
                v = image_job_get_digest(j);
        else
                v = image_job_get_error(j);
        return sd_bus_message_append(reply, "s", strempty(v));
}

static const sd_bus_vtable job_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Id", "t", property_get_job_id, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Kind", "s", property_get_job_string, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Ref", "s", property_get_job_string, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("State", "s", property_get_job_string, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Digest", "s", property_get_job_string, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Error", "s", property_get_job_string, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD_WITH_ARGS("Wait", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", digest), method_job_wait,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("LayerProgress", SD_BUS_ARGS("s", digest, "t", done, "t", total),
                                0),
        SD_BUS_VTABLE_END,
};

static int job_find(sd_bus *bus, const char *path, const char *interface, void *userdata,
                    void **ret_found, sd_bus_error *error) {
        _cleanup_free_ char *id = NULL;
        Runtime *rt = userdata;
        Images *im;
        char *end = NULL;
        uint64_t n;
        ImageJob *j;
        int r;

        (void) bus, (void) interface, (void) error;
        if (!rt || !(im = manager_get_images(rt->manager)))
                return 0;
        r = zl_bus_path_decode(path, RUNTIME_JOB_PREFIX, &id);
        if (r <= 0)
                return r;
        errno = 0;
        n = strtoull(id, &end, 10);
        if (errno != 0 || !end || *end || isempty(id))
                return 0;
        j = images_get_job(im, n);
        if (!j)
                return 0;
        *ret_found = j;
        return 1;
}

static int job_enumerate(sd_bus *bus, const char *prefix, void *userdata, char ***ret_nodes,
                         sd_bus_error *error) {
        _cleanup_strv_free_ char **l = NULL;
        Runtime *rt = userdata;
        Images *im = rt ? manager_get_images(rt->manager) : NULL;

        (void) bus, (void) prefix, (void) error;
        for (size_t i = 0; im && i < images_get_n_jobs(im); i++) {
                char *p = NULL;
                int r = job_path(images_get_job_at(im, i), &p);
                if (r < 0)
                        return r;
                if (strv_consume(&l, p) < 0)
                        return -ENOMEM;
        }
        *ret_nodes = TAKE_PTR(l);
        return 0;
}

const ZlBusObject runtime_job_bus_object = {
        .path = RUNTIME_JOB_PREFIX,
        .interface = RUNTIME_JOB_INTERFACE,
        .vtable = job_vtable,
        .fallback = true,
        .find = job_find,
        .node_enumerator = job_enumerate,
};

static void on_job_progress(Images *im, ImageJob *j, const char *digest, uint64_t done,
                            uint64_t total, void *userdata) {
        _cleanup_free_ char *path = NULL;
        Runtime *rt = userdata;
        sd_bus *bus = zl_daemon_get_bus(rt->daemon);
        int r;

        (void) im;
        if (!bus)
                return;
        r = job_path(j, &path);
        if (r >= 0)
                r = sd_bus_emit_signal(bus, path, RUNTIME_JOB_INTERFACE, "LayerProgress", "stt",
                                       digest, done, total);
        if (r < 0)
                log_debug_errno(r, "Failed to emit LayerProgress, ignoring: %m");
}

static void on_job_state(Images *im, ImageJob *j, void *userdata) {
        _cleanup_free_ char *path = NULL;
        Runtime *rt = userdata;
        sd_bus *bus = zl_daemon_get_bus(rt->daemon);
        int r;

        (void) im;
        if (!bus)
                return;
        r = job_path(j, &path);
        if (r >= 0)
                r = sd_bus_emit_properties_changed(bus, path, RUNTIME_JOB_INTERFACE, "State",
                                                   "Digest", "Error", NULL);
        if (r < 0)
                log_debug_errno(r, "Failed to emit PropertiesChanged, ignoring: %m");
}

static void on_job_finished(Images *im, ImageJob *j, void *userdata) {
        _cleanup_free_ char *path = NULL;
        Runtime *rt = userdata;
        sd_bus *bus = zl_daemon_get_bus(rt->daemon);
        int r;

        (void) im;
        if (!bus)
                return;
        r = job_path(j, &path);
        if (r >= 0)
                r = sd_bus_emit_signal(
                        bus, RUNTIME_OBJECT_PATH, RUNTIME_INTERFACE, "JobFinished", "ossss", path,
                        image_job_kind_to_string(image_job_get_kind(j)), image_job_get_ref(j),
                        strempty(image_job_get_digest(j)), strempty(image_job_get_error(j)));
        if (r < 0)
                log_debug_errno(r, "Failed to emit JobFinished, ignoring: %m");
}

const ImagesCallbacks runtime_images_bus_callbacks = {
        .job_progress = on_job_progress,
        .job_state = on_job_state,
        .job_finished = on_job_finished,
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
                                                   "FinishedAt", "IPAddress", "Gateway",
                                                   "MacAddress", NULL);
        if (r < 0)
                log_debug_errno(r, "Failed to emit PropertiesChanged, ignoring: %m");
        if (state_changed)
                emit_state(rt, c, container_state_to_string(c->state));
}

static void on_removed(Manager *m, Container *c, void *userdata) {
        emit_state(userdata, c, "removed");
        images_container_removed(manager_get_images(m), c);
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
