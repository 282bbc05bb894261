/* SPDX-License-Identifier: Apache-2.0 */
/* runtime-container.c: container ids, names, states and the config built from create options. */
#include <errno.h>
#include <linux/capability.h>
#include <math.h>
#include <seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cap-util.h"
#include "cgroup.h"
#include "oci-cgroup.h"
#include "oci-config.h"
#include "path-util.h"
#include "runtime-container.h"
#include "runtime-internal.h"
#include "runtime-storage.h"
#include "seccomp-filter.h"
#include "signal-util.h"
#include "string-util.h"
#include "user-util.h"

static const char *const container_state_table[_CONTAINER_STATE_MAX] = {
        [CONTAINER_CREATED] = "created",
        [CONTAINER_RUNNING] = "running",
        [CONTAINER_PAUSED] = "paused",
        [CONTAINER_EXITED] = "exited",
};

const char *container_state_to_string(ContainerState s) {
        if (s < 0 || s >= _CONTAINER_STATE_MAX)
                return NULL;
        return container_state_table[s];
}

ContainerState container_state_from_string(const char *s) {
        if (!s)
                return _CONTAINER_STATE_INVALID;
        for (ContainerState i = 0; i < _CONTAINER_STATE_MAX; i++)
                if (streq(container_state_table[i], s))
                        return i;
        return _CONTAINER_STATE_INVALID;
}

static bool is_lower_hex(char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static bool hex_of_length(const char *s, size_t min, size_t max) {
        size_t n;

        if (!s)
                return false;
        n = strlen(s);
        if (n < min || n > max)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!is_lower_hex(s[i]))
                        return false;
        return true;
}

bool container_id_is_valid(const char *s) {
        return hex_of_length(s, CONTAINER_ID_LENGTH, CONTAINER_ID_LENGTH);
}

bool container_id_prefix_is_valid(const char *s) {
        return hex_of_length(s, CONTAINER_ID_PREFIX_MIN, CONTAINER_ID_LENGTH);
}

static bool is_alnum(char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool container_name_is_valid(const char *s) {
        size_t n;

        if (!s)
                return false;
        n = strlen(s);
        if (n < 1 || n > CONTAINER_NAME_MAX || !is_alnum(s[0]))
                return false;
        for (size_t i = 1; i < n; i++)
                if (!is_alnum(s[i]) && !strchr("_.-", s[i]))
                        return false;
        return true;
}

int container_id_generate(char ret[static CONTAINER_ID_LENGTH + 1]) {
        uint8_t bytes[CONTAINER_ID_LENGTH / 2];
        size_t got = 0;

        while (got < sizeof(bytes)) {
                ssize_t n = getrandom(bytes + got, sizeof(bytes) - got, 0);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                got += (size_t) n;
        }
        for (size_t i = 0; i < sizeof(bytes); i++)
                snprintf(ret + 2 * i, 3, "%02x", bytes[i]);
        return 0;
}

void container_options_done(ContainerOptions *o) {
        if (!o)
                return;
        free(o->rootfs);
        free(o->bundle);
        strv_free(o->args);
        strv_free(o->env);
        free(o->cwd);
        free(o->user);
        free(o->hostname);
        strv_free(o->cap_add);
        strv_free(o->cap_drop);
        free(o->network);
        free(o->seccomp);
        strv_free(o->labels);
        free(o->image);
        free(o->storage);
        free(o->devices);
        strv_free(o->sysctls);
        *o = CONTAINER_OPTIONS_INIT;
}

static json_t *strv_json(char *const *l) {
        json_t *a = json_array();

        if (!a)
                return NULL;
        for (size_t i = 0; l && l[i]; i++)
                if (json_array_append_new(a, json_string(l[i])) < 0)
                        return json_decref(a), NULL;
        return a;
}

static int set_new(json_t *o, const char *key, json_t *v) {
        /* json_object_set_new steals v even when it fails, and fails when v is NULL. */
        return json_object_set_new(o, key, v) < 0 ? -ENOMEM : 0;
}

/* A JSON option as its value, or as the text when it does not parse (the create then fails). */
static json_t *json_or_string(const char *text) {
        json_t *j = json_loads(text, 0, NULL);
        return j ?: json_string(text);
}

static json_t *string_map_json(char *const *kv) {
        json_t *o = json_object();

        if (!o)
                return NULL;
        for (size_t i = 0; kv && kv[i] && kv[i + 1]; i += 2)
                if (json_object_set_new(o, kv[i], json_string(kv[i + 1])) < 0)
                        return json_decref(o), NULL;
        return o;
}

int container_options_to_json(const ContainerOptions *o, json_t **ret) {
        _cleanup_(json_decrefp) json_t *j = json_object();
        int r = 0;

        assert(o);
        assert(ret);
        if (!j)
                return -ENOMEM;

#define PUT_STR(key, v)                                                                            \
        if (r >= 0 && (v))                                                                         \
        r = set_new(j, key, json_string(v))
#define PUT_STRV(key, v)                                                                           \
        if (r >= 0 && (v))                                                                         \
        r = set_new(j, key, strv_json(v))
#define PUT_U64(key, v)                                                                            \
        if (r >= 0 && (v) != CONTAINER_OPTION_UNSET)                                               \
        r = set_new(j, key, json_integer((json_int_t) (v)))
#define PUT_BOOL(key, v)                                                                           \
        if (r >= 0 && (v) >= 0)                                                                    \
        r = set_new(j, key, json_boolean(v))

        PUT_STR("rootfs", o->rootfs);
        PUT_STR("bundle", o->bundle);
        PUT_STRV("args", o->args);
        PUT_STRV("env", o->env);
        PUT_STR("cwd", o->cwd);
        PUT_STR("user", o->user);
        PUT_STR("hostname", o->hostname);
        PUT_BOOL("terminal", o->terminal);
        PUT_U64("memory", o->memory);
        PUT_U64("memory_swap", o->memory_swap);
        if (r >= 0 && o->cpus >= 0)
                r = set_new(j, "cpus", json_real(o->cpus));
        PUT_U64("cpu_shares", o->cpu_shares);
        PUT_U64("pids", o->pids);
        PUT_STRV("cap_add", o->cap_add);
        PUT_STRV("cap_drop", o->cap_drop);
        PUT_BOOL("read_only", o->read_only);
        PUT_STR("network", o->network);
        PUT_STR("seccomp", o->seccomp);
        PUT_U64("log_max_size", o->log_max_size);
        PUT_U64("log_max_files", o->log_max_files);
        if (r >= 0 && o->storage)
                r = set_new(j, "storage", json_or_string(o->storage));
        if (r >= 0 && o->devices)
                r = set_new(j, "devices", json_or_string(o->devices));
        if (r >= 0 && o->sysctls)
                r = set_new(j, "sysctls", string_map_json(o->sysctls));
        PUT_BOOL("privileged", o->privileged);
#undef PUT_STR
#undef PUT_STRV
#undef PUT_U64
#undef PUT_BOOL
        if (r < 0)
                return r;
        *ret = TAKE_PTR(j);
        return 0;
}

void container_config_done(ContainerConfig *c) {
        if (!c)
                return;
        c->json = mfree(c->json);
        c->root_path = mfree(c->root_path);
}

/* The object at key in parent, created when missing; NULL on OOM or when key holds something
 * else (then the error is -EBADMSG with path). */
static int object_child(json_t *parent, const char *key, const char *path, json_t **ret,
                        char **error) {
        json_t *o = json_object_get(parent, key);

        if (!o) {
                o = json_object();
                if (!o || json_object_set_new(parent, key, o) < 0)
                        return -ENOMEM;
        } else if (!json_is_object(o))
                return error_setf(error, -EBADMSG, "%s: not an object", path);
        *ret = o;
        return 0;
}

static int env_set(json_t *process, const char *assignment, char **error) {
        json_t *env = json_object_get(process, "env");
        const char *eq = strchr(assignment, '=');
        size_t klen, i;
        json_t *v;

        if (!eq || eq == assignment)
                return error_setf(error, -EINVAL, "env: '%s' is not KEY=VALUE", assignment);
        klen = (size_t) (eq - assignment) + 1;
        if (!env) {
                env = json_array();
                if (!env || json_object_set_new(process, "env", env) < 0)
                        return -ENOMEM;
        } else if (!json_is_array(env))
                return error_setf(error, -EBADMSG, "process.env: not an array");

        json_array_foreach (env, i, v) {
                const char *s = json_string_value(v);
                if (s && strneq(s, assignment, klen))
                        return json_array_set_new(env, i, json_string(assignment)) < 0 ? -ENOMEM
                                                                                       : 0;
        }
        return json_array_append_new(env, json_string(assignment)) < 0 ? -ENOMEM : 0;
}

static bool env_has(json_t *process, const char *key) {
        json_t *env = json_object_get(process, "env"), *v;
        size_t klen = strlen(key), i;

        json_array_foreach (env, i, v) {
                const char *s = json_string_value(v);
                if (s && strneq(s, key, klen) && s[klen] == '=')
                        return true;
        }
        return false;
}

static int cap_list_parse(char *const *names, const char *option, bool *ret_all, uint64_t *ret,
                          char **error) {
        uint64_t mask = 0;
        bool all = false;

        for (size_t i = 0; names && names[i]; i++) {
                int cap;

                if (strcasecmp(names[i], "ALL") == 0) {
                        all = true;
                        continue;
                }
                cap = capability_from_name(names[i]);
                if (cap < 0)
                        return error_setf(error, -EINVAL, "%s: unknown capability '%s'", option,
                                          names[i]);
                mask |= UINT64_C(1) << cap;
        }
        *ret_all = all;
        *ret = mask;
        return 0;
}

static uint64_t cap_all(void) {
        int last = capability_last();
        return last >= 63 ? UINT64_MAX : (UINT64_C(1) << (last + 1)) - 1;
}

/* What a privileged container gets as "every capability": the permitted set zl-runtimed holds
 * (a container cannot be given more, and a runtime inside a container holds less than all). */
static uint64_t cap_held(void) {
        struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct d[2] = {};

        if (syscall(SYS_capget, &h, d) < 0)
                return cap_all();
        return ((uint64_t) d[1].permitted << 32 | d[0].permitted) & cap_all();
}

static int cap_set_apply(json_t *caps, const char *set, bool required, bool add_all, uint64_t all,
                         uint64_t add, bool drop_all, uint64_t drop, char **error) {
        json_t *list = json_object_get(caps, set), *v, *out;
        uint64_t mask = 0;
        size_t i;

        if (!list && !required)
                return 0;
        if (list && !json_is_array(list))
                return error_setf(error, -EBADMSG, "process.capabilities.%s: not an array", set);
        json_array_foreach (list, i, v) {
                int cap = json_is_string(v) ? capability_from_name(json_string_value(v)) : -EINVAL;
                if (cap < 0)
                        return error_setf(error, -EBADMSG,
                                          "process.capabilities.%s[%zu]: not a known capability",
                                          set, i);
                mask |= UINT64_C(1) << cap;
        }

        /* Docker's order: ALL in cap_add grants everything but the drops; ALL in cap_drop
         * keeps only the additions. */
        if (add_all)
                mask = all & ~drop;
        else if (drop_all)
                mask = add;
        else
                mask = (mask | add) & ~drop;

        out = json_array();
        if (!out || json_object_set_new(caps, set, out) < 0)
                return -ENOMEM;
        for (int cap = 0; cap <= capability_last(); cap++)
                if (mask & (UINT64_C(1) << cap))
                        if (json_array_append_new(out, json_string(capability_to_name(cap))) < 0)
                                return -ENOMEM;
        return 0;
}

static int apply_caps(json_t *process, const ContainerOptions *o, char **error) {
        uint64_t add, drop, all = cap_all();
        bool add_all, drop_all;
        json_t *caps;
        int r;

        if (!o->cap_add && !o->cap_drop && o->privileged <= 0)
                return 0;
        r = cap_list_parse(o->cap_add, "cap_add", &add_all, &add, error);
        if (r < 0)
                return r;
        /* privileged is every capability held: an explicit cap_drop still drops. */
        if (o->privileged > 0 && !add_all) {
                add_all = true;
                all = cap_held();
        }
        r = cap_list_parse(o->cap_drop, "cap_drop", &drop_all, &drop, error);
        if (r < 0)
                return r;
        r = object_child(process, "capabilities", "process.capabilities", &caps, error);
        if (r < 0)
                return r;
        /* Ambient stays as configured: Docker never raises it from cap_add. Inheritable is
         * changed only where the config has it. */
        static const struct {
                const char *name;
                bool required;
        } sets[] = {
                { "bounding", true },
                { "effective", true },
                { "permitted", true },
                { "inheritable", false },
        };
        for (size_t i = 0; i < ELEMENTSOF(sets); i++) {
                r = cap_set_apply(caps, sets[i].name, sets[i].required, add_all, all, add, drop_all,
                                  drop, error);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int apply_network(json_t *linux_, const char *network, char **error) {
        json_t *ns = json_object_get(linux_, "namespaces"), *v;
        bool found = false;
        size_t i;

        if (!network)
                return 0;
        if (!streq(network, "private") && !streq(network, "none") && !streq(network, "host"))
                return error_setf(error, -EINVAL,
                                  "network: '%s' is not one of 'private', 'none', 'host'", network);
        if (!ns) {
                ns = json_array();
                if (!ns || json_object_set_new(linux_, "namespaces", ns) < 0)
                        return -ENOMEM;
        } else if (!json_is_array(ns))
                return error_setf(error, -EBADMSG, "linux.namespaces: not an array");

        for (i = 0; i < json_array_size(ns);) {
                v = json_array_get(ns, i);
                if (streq(strempty(json_string_value(json_object_get(v, "type"))), "network")) {
                        if (streq(network, "host")) {
                                if (json_array_remove(ns, i) < 0)
                                        return -ENOMEM;
                                continue;
                        }
                        /* A namespace to join is not a private one. */
                        if (json_object_del(v, "path") < 0) {
                                /* no path: nothing to delete */
                        }
                        found = true;
                }
                i++;
        }
        if (!found && !streq(network, "host"))
                if (json_array_append_new(ns, json_pack("{ss}", "type", "network")) < 0)
                        return -ENOMEM;
        return 0;
}

static int set_resource(json_t *linux_, const char *group, const char *key, json_t *value,
                        char **error) {
        json_t *res, *g;
        int r;

        if (!value)
                return -ENOMEM;
        r = object_child(linux_, "resources", "linux.resources", &res, error);
        if (r >= 0)
                r = object_child(res, group, group, &g, error);
        if (r < 0) {
                json_decref(value);
                return r;
        }
        return json_object_set_new(g, key, value) < 0 ? -ENOMEM : 0;
}

static int apply_resources(json_t *linux_, const ContainerOptions *o, char **error) {
        int r = 0;

        if (o->memory != CONTAINER_OPTION_UNSET) {
                if (o->memory < CGROUP_MEMORY_MIN_BYTES || o->memory > INT64_MAX)
                        return error_setf(error, -EINVAL,
                                          "memory: %" PRIu64 " is out of range (at least %" PRIu64
                                          " bytes)",
                                          o->memory, CGROUP_MEMORY_MIN_BYTES);
                r = set_resource(linux_, "memory", "limit", json_integer((json_int_t) o->memory),
                                 error);
        }
        if (r >= 0 && o->memory_swap != CONTAINER_OPTION_UNSET) {
                if (o->memory == CONTAINER_OPTION_UNSET || o->memory_swap < o->memory ||
                    o->memory_swap > INT64_MAX)
                        return error_setf(
                                error, -EINVAL,
                                "memory_swap: needs 'memory' and must be at least as large");
                r = set_resource(linux_, "memory", "swap",
                                 json_integer((json_int_t) o->memory_swap), error);
        }
        if (r >= 0 && o->cpus >= 0) {
                double quota = round(o->cpus * (double) CGROUP_CPU_PERIOD_DEFAULT_USEC);

                if (!isfinite(o->cpus) || quota < (double) CGROUP_CPU_QUOTA_MIN_USEC ||
                    quota > (double) INT64_MAX)
                        return error_setf(error, -EINVAL,
                                          "cpus: %g is out of range (at least 0.01)", o->cpus);
                r = set_resource(linux_, "cpu", "quota", json_integer((json_int_t) quota), error);
                if (r >= 0)
                        r = set_resource(linux_, "cpu", "period",
                                         json_integer((json_int_t) CGROUP_CPU_PERIOD_DEFAULT_USEC),
                                         error);
        }
        if (r >= 0 && o->cpu_shares != CONTAINER_OPTION_UNSET) {
                if (o->cpu_shares < CGROUP_CPU_SHARES_MIN || o->cpu_shares > CGROUP_CPU_SHARES_MAX)
                        return error_setf(error, -EINVAL,
                                          "cpu_shares: %" PRIu64 " is out of range (%" PRIu64
                                          "..%" PRIu64 ")",
                                          o->cpu_shares, CGROUP_CPU_SHARES_MIN,
                                          CGROUP_CPU_SHARES_MAX);
                r = set_resource(linux_, "cpu", "shares", json_integer((json_int_t) o->cpu_shares),
                                 error);
        }
        if (r >= 0 && o->pids != CONTAINER_OPTION_UNSET) {
                if (o->pids < 1 || o->pids > INT64_MAX)
                        return error_setf(error, -EINVAL,
                                          "pids: %" PRIu64 " is out of range (at least 1)",
                                          o->pids);
                r = set_resource(linux_, "pids", "limit", json_integer((json_int_t) o->pids),
                                 error);
        }
        return r;
}

static int apply_user(json_t *process, const char *root, const char *spec, char **error) {
        _cleanup_free_ gid_t *gids = NULL;
        _cleanup_free_ char *home = NULL, *msg = NULL;
        _cleanup_(json_decrefp) json_t *user = NULL, *extra = NULL;
        size_t n_gids = 0;
        uid_t uid;
        gid_t gid;
        int r;

        r = user_resolve(root, spec, &uid, &gid, &gids, &n_gids, &home, &msg);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return error_setf(error, r == -EINVAL ? -EINVAL : -EBADMSG, "%s%s",
                                  r == -EINVAL ? "user: " : "process.user: ",
                                  msg ?: "cannot resolve the user");

        extra = json_array();
        if (!extra)
                return -ENOMEM;
        for (size_t i = 0; i < n_gids; i++)
                if (json_array_append_new(extra, json_integer(gids[i])) < 0)
                        return -ENOMEM;
        user = json_pack("{sIsIsO}", "uid", (json_int_t) uid, "gid", (json_int_t) gid,
                         "additionalGids", extra);
        if (!user || json_object_set(process, "user", user) < 0)
                return -ENOMEM;
        if (!env_has(process, "HOME")) {
                _cleanup_free_ char *a = strjoin("HOME=", home ?: "/");
                if (!a)
                        return -ENOMEM;
                return env_set(process, a, error);
        }
        return 0;
}

static int resolve_root(json_t *root_obj, const ContainerOptions *o, char **ret_path,
                        char **error) {
        const char *p = json_string_value(json_object_get(root_obj, "path"));
        _cleanup_free_ char *abs = NULL;
        struct stat st;

        if (o->rootfs)
                p = o->rootfs;
        if (isempty(p))
                return error_setf(error, -EBADMSG, "root.path: missing");
        if (path_is_absolute(p))
                abs = strdup(p);
        else if (o->bundle)
                abs = path_join(o->bundle, p);
        else
                return error_setf(error, -EBADMSG,
                                  "root.path: '%s' is relative and no 'bundle' option was given",
                                  p);
        if (!abs)
                return -ENOMEM;
        path_simplify(abs);
        if (stat(abs, &st) < 0)
                return error_setf(error, -EBADMSG, "root.path: '%s': %s", abs, strerror(errno));
        if (!S_ISDIR(st.st_mode))
                return error_setf(error, -EBADMSG, "root.path: '%s' is not a directory", abs);
        if (json_object_set_new(root_obj, "path", json_string(abs)) < 0)
                return -ENOMEM;
        *ret_path = TAKE_PTR(abs);
        return 0;
}

static int stop_signal_of(json_t *config, int *ret, char **error) {
        const char *s = json_string_value(
                json_object_get(json_object_get(config, "annotations"), "org.zlayer.stop-signal"));
        int sig;

        if (!s) {
                *ret = SIGTERM;
                return 0;
        }
        sig = signal_from_string(s);
        if (sig < 0)
                return error_setf(error, -EBADMSG,
                                  "annotations.org.zlayer.stop-signal: '%s' is not a signal", s);
        *ret = sig;
        return 0;
}

/* The checks the engine would make later, made now so that nothing gets created for a config
 * that cannot run. */
static int config_check(const char *text, char **error) {
        _cleanup_(oci_config_freep) OciConfig *c = NULL;
        _cleanup_free_ CgroupDeviceRule *devices = NULL;
        _cleanup_free_ char *msg = NULL;
        CgroupLimits limits;
        int r;

        r = oci_config_parse(text, strlen(text), &c, &msg);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return error_setf(error, -EBADMSG, "%s", msg ?: "invalid config");
        r = oci_resources_to_cgroup_limits(&c->linux_.resources, &limits, &devices, &msg);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return error_setf(error, -EBADMSG, "%s", msg ?: "invalid linux.resources");
        r = oci_config_check_rlimits(c, &msg);
        if (r < 0)
                return error_setf(error, -EBADMSG, "%s",
                                  msg ?: "process.rlimits: above the hard limit");
        if (c->linux_.seccomp) {
                scmp_filter_ctx ctx = NULL;

                r = seccomp_filter_from_json(c->linux_.seccomp, &ctx, &msg);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return error_setf(error, -EBADMSG, "%s", msg ?: "invalid linux.seccomp");
                seccomp_release(ctx);
        }
        return 0;
}

/* user (may be NULL) is resolved in user_root, or in the root file system when that is NULL. */
static int config_build(const char *config_json, const ContainerOptions *o, const char *user,
                        const char *user_root, ContainerConfig *ret, char **ret_error) {
        _cleanup_(json_decrefp) json_t *config = NULL;
        _cleanup_free_ char *error = NULL, *root_path = NULL, *text = NULL;
        json_t *root_obj, *process, *linux_;
        bool default_seccomp = true;
        int stop_signal = SIGTERM, r;

        assert(o);
        assert(ret);

        if (isempty(config_json)) {
                _cleanup_free_ char *def = NULL;

                if (!o->rootfs) {
                        r = error_setf(&error, -EINVAL,
                                       "rootfs: required when no config_json is given");
                        goto finish;
                }
                if (o->args && (!o->args[0] || isempty(o->args[0]))) {
                        r = error_setf(&error, -EINVAL, "args: must not be empty");
                        goto finish;
                }
                r = oci_config_default_json(o->rootfs, o->args, &def);
                if (r < 0)
                        goto finish;
                config = json_loads(def, 0, NULL);
                if (!config) {
                        r = -ENOMEM;
                        goto finish;
                }
        } else {
                json_error_t e;

                config = json_loads(config_json, JSON_REJECT_DUPLICATES, &e);
                if (!config) {
                        r = error_setf(&error, -EBADMSG, "%d:%d: %s", e.line, e.column, e.text);
                        goto finish;
                }
                if (!json_is_object(config)) {
                        r = error_setf(&error, -EBADMSG, "config_json: not a JSON object");
                        goto finish;
                }
        }

        r = object_child(config, "root", "root", &root_obj, &error);
        if (r >= 0)
                r = resolve_root(root_obj, o, &root_path, &error);
        if (r >= 0)
                r = object_child(config, "process", "process", &process, &error);
        if (r >= 0)
                r = object_child(config, "linux", "linux", &linux_, &error);
        if (r < 0)
                goto finish;

        if (o->args && !isempty(config_json)) {
                if (!o->args[0] || isempty(o->args[0])) {
                        r = error_setf(&error, -EINVAL, "args: must not be empty");
                        goto finish;
                }
                if (json_object_set_new(process, "args", strv_json(o->args)) < 0) {
                        r = -ENOMEM;
                        goto finish;
                }
        }
        for (size_t i = 0; o->env && o->env[i]; i++) {
                r = env_set(process, o->env[i], &error);
                if (r < 0)
                        goto finish;
        }
        if (o->cwd) {
                if (!path_is_absolute(o->cwd)) {
                        r = error_setf(&error, -EINVAL, "cwd: '%s' is not an absolute path",
                                       o->cwd);
                        goto finish;
                }
                if (json_object_set_new(process, "cwd", json_string(o->cwd)) < 0) {
                        r = -ENOMEM;
                        goto finish;
                }
        }
        if (user) {
                r = apply_user(process, user_root ?: root_path, user, &error);
                if (r < 0)
                        goto finish;
        }
        if (o->hostname && json_object_set_new(config, "hostname", json_string(o->hostname)) < 0) {
                r = -ENOMEM;
                goto finish;
        }
        if (o->terminal >= 0 &&
            json_object_set_new(process, "terminal", json_boolean(o->terminal)) < 0) {
                r = -ENOMEM;
                goto finish;
        }
        if (o->read_only >= 0 &&
            json_object_set_new(root_obj, "readonly", json_boolean(o->read_only)) < 0) {
                r = -ENOMEM;
                goto finish;
        }
        r = apply_resources(linux_, o, &error);
        if (r >= 0)
                r = apply_caps(process, o, &error);
        if (r >= 0)
                r = apply_network(linux_, o->network, &error);
        /* After the network: the sysctls allowed depend on the namespaces. Privileged before
         * the devices, whose rules it would otherwise replace. */
        if (r >= 0)
                r = config_apply_sysctls(config, o->sysctls, &error);
        if (r >= 0 && o->privileged > 0)
                r = config_apply_privileged(config, &error);
        if (r >= 0)
                r = config_apply_devices(config, o->devices, &error);
        if (r < 0)
                goto finish;
        /* privileged is seccomp "unconfined" unless "seccomp" says otherwise. */
        if (!o->seccomp && o->privileged > 0) {
                (void) json_object_del(linux_, "seccomp");
                default_seccomp = false;
        }
        if (o->seccomp) {
                if (streq(o->seccomp, "unconfined")) {
                        (void) json_object_del(linux_, "seccomp");
                        default_seccomp = false;
                } else if (!streq(o->seccomp, "default")) {
                        r = error_setf(&error, -EINVAL,
                                       "seccomp: '%s' is not one of 'default', 'unconfined'",
                                       o->seccomp);
                        goto finish;
                }
        }
        r = stop_signal_of(config, &stop_signal, &error);
        if (r < 0)
                goto finish;

        text = json_dumps(config, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (!text) {
                r = -ENOMEM;
                goto finish;
        }
        r = config_check(text, &error);
        if (r < 0)
                goto finish;

        *ret = (ContainerConfig){
                .json = TAKE_PTR(text),
                .root_path = TAKE_PTR(root_path),
                .default_seccomp = default_seccomp,
                .stop_signal = stop_signal,
        };
        return 0;

finish:
        if (ret_error)
                *ret_error = TAKE_PTR(error);
        return r;
}

int container_config_build(const char *config_json, const ContainerOptions *o, ContainerConfig *ret,
                           char **ret_error) {
        return config_build(config_json, o, o->user, NULL, ret, ret_error);
}

static int strv_extend_all(char ***l, char *const *more) {
        for (size_t i = 0; more && more[i]; i++)
                if (strv_extend(l, more[i]) < 0)
                        return -ENOMEM;
        return 0;
}

/* Docker's ExposedPorts keys: "PORT[/PROTO]", tcp when PROTO is left out. */
static int exposed_port_normalize(const char *s, char **ret) {
        const char *slash = strchr(s, '/'), *proto = slash ? slash + 1 : "tcp";
        size_t digits = slash ? (size_t) (slash - s) : strlen(s);
        unsigned long port;
        char *end;

        if (digits == 0 || digits > 5 || strspn(s, "0123456789") != digits)
                return -EINVAL;
        port = strtoul(s, &end, 10);
        if (port == 0 || port > 65535 ||
            (!streq(proto, "tcp") && !streq(proto, "udp") && !streq(proto, "sctp")))
                return -EINVAL;
        return asprintf(ret, "%lu/%s", port, proto) < 0 ? -ENOMEM : 0;
}

int container_image_annotate(const ContainerImage *img, json_t *options, char **ret_error) {
        _cleanup_(json_decrefp) json_t *ports = json_array();
        _cleanup_free_ char *error = NULL;

        assert(img);
        assert(options);
        if (!ports)
                return -ENOMEM;
        for (size_t i = 0; img->exposed_ports && img->exposed_ports[i]; i++) {
                _cleanup_free_ char *p = NULL;
                json_t *have;
                size_t k;
                bool dup = false;
                int r;

                r = exposed_port_normalize(img->exposed_ports[i], &p);
                if (r == -EINVAL) {
                        r = error_setf(
                                &error, -EBADMSG,
                                "image '%s': config.ExposedPorts: '%s' is not PORT[/tcp|udp|sctp]",
                                img->ref, img->exposed_ports[i]);
                        if (ret_error)
                                *ret_error = TAKE_PTR(error);
                        return r;
                }
                if (r < 0)
                        return r;
                json_array_foreach (ports, k, have)
                        dup = dup || streq(json_string_value(have), p);
                if (!dup && json_array_append_new(ports, json_string(p)) < 0)
                        return -ENOMEM;
        }
        if (json_object_set_new(options, "image_digest", json_string(img->digest)) < 0 ||
            json_object_set(options, "exposed_ports", ports) < 0)
                return -ENOMEM;
        return 0;
}

int container_config_build_image(const ContainerImage *img, const char *root_path,
                                 const char *user_root, const ContainerOptions *o,
                                 ContainerConfig *ret, char **ret_error) {
        _cleanup_(container_config_done) ContainerConfig config = {};
        _cleanup_strv_free_ char **args = NULL, **env = NULL;
        _cleanup_free_ char *error = NULL;
        ContainerOptions effective;
        const char *user;
        int stop_signal = -1, r;

        assert(img);
        assert(root_path);
        assert(o);
        assert(ret);

        /* Docker: an entrypoint given at creation replaces the image's and drops its Cmd. */
        if (img->entrypoint_override)
                r = strv_extend_all(&args, img->entrypoint_override);
        else
                r = strv_extend_all(&args, img->entrypoint);
        if (r >= 0)
                r = strv_extend_all(&args, o->args ?: (img->entrypoint_override ? NULL : img->cmd));
        if (r >= 0)
                r = strv_extend_all(&env, img->env);
        if (r >= 0)
                r = strv_extend_all(&env, o->env);
        if (r < 0)
                return r;
        if (!args || isempty(args[0])) {
                r = error_setf(&error, -EINVAL,
                               "args: image '%s' has neither Entrypoint nor Cmd: give 'args' or "
                               "'entrypoint'",
                               img->ref);
                goto finish;
        }
        if (!isempty(img->stop_signal)) {
                stop_signal = signal_from_string(img->stop_signal);
                if (stop_signal < 0) {
                        r = error_setf(&error, -EBADMSG,
                                       "image '%s': config.StopSignal: '%s' is not a signal",
                                       img->ref, img->stop_signal);
                        goto finish;
                }
        }

        effective = *o;
        effective.rootfs = (char *) root_path;
        effective.bundle = NULL;
        effective.args = args;
        effective.env = env;
        if (!o->cwd && !isempty(img->working_dir))
                effective.cwd = (char *) img->working_dir;
        user = o->user ?: (!isempty(img->user) ? img->user : NULL);
        if (user && !user_root) {
                r = error_setf(&error, -EBADMSG,
                               "user: image '%s' has no /etc/passwd to resolve '%s' in", img->ref,
                               user);
                goto finish;
        }
        r = config_build(NULL, &effective, user, user_root, &config, &error);
        if (r < 0)
                goto finish;
        if (stop_signal > 0)
                config.stop_signal = stop_signal;
        *ret = config;
        config = (ContainerConfig){};
        return 0;

finish:
        if (ret_error)
                *ret_error = TAKE_PTR(error);
        return r;
}

int container_config_add_storage(ContainerConfig *c, const StorageList *l, const char *volumes_dir,
                                 const char *container_dir, char **ret_error) {
        _cleanup_(json_decrefp) json_t *config = NULL;
        _cleanup_free_ char *error = NULL, *text = NULL;
        int r;

        assert(c);
        assert(c->json);
        assert(l);
        if (l->n_volumes == 0)
                return 0;
        config = json_loads(c->json, 0, NULL);
        if (!config)
                return -ENOMEM; /* it was dumped by us: only memory can fail */
        r = storage_apply_mounts(config, l, volumes_dir, container_dir, &error);
        if (r >= 0) {
                text = json_dumps(config, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
                if (!text)
                        return -ENOMEM;
                r = config_check(text, &error);
        }
        if (r < 0) {
                if (ret_error)
                        *ret_error = TAKE_PTR(error);
                return r;
        }
        free_and_replace(c->json, text);
        return 0;
}

int container_config_add_network_files(ContainerConfig *c, const char *hosts, const char *resolv,
                                       char **ret_error) {
        _cleanup_(json_decrefp) json_t *config = NULL;
        _cleanup_free_ char *error = NULL, *text = NULL;
        const struct {
                const char *destination, *source;
        } files[] = {
                { "/etc/hosts", hosts },
                { "/etc/resolv.conf", resolv },
        };
        json_t *mounts, *v;
        size_t i;
        int r;

        assert(c);
        assert(c->json);
        config = json_loads(c->json, 0, NULL);
        if (!config)
                return -ENOMEM; /* it was dumped by us: only memory can fail */
        mounts = json_object_get(config, "mounts");
        if (!mounts) {
                mounts = json_array();
                if (!mounts || json_object_set_new(config, "mounts", mounts) < 0)
                        return -ENOMEM;
        } else if (!json_is_array(mounts)) {
                r = error_setf(&error, -EBADMSG, "mounts: not an array");
                goto finish;
        }
        for (size_t k = 0; k < ELEMENTSOF(files); k++) {
                bool taken = false;

                if (!files[k].source)
                        continue;
                /* A config that mounts something there itself keeps it. */
                json_array_foreach (mounts, i, v)
                        if (streq(strempty(json_string_value(json_object_get(v, "destination"))),
                                  files[k].destination))
                                taken = true;
                if (taken)
                        continue;
                /* Read-only for the container: the files are the node's to rewrite. */
                if (json_array_append_new(mounts,
                                          json_pack("{ss ss ss s[sssss]}", "destination",
                                                    files[k].destination, "type", "bind", "source",
                                                    files[k].source, "options", "rbind", "ro",
                                                    "nosuid", "nodev", "noexec")) < 0)
                        return -ENOMEM;
        }
        text = json_dumps(config, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (!text)
                return -ENOMEM;
        r = config_check(text, &error);
        if (r < 0)
                goto finish;
        free_and_replace(c->json, text);
        return 0;

finish:
        if (ret_error)
                *ret_error = TAKE_PTR(error);
        return r;
}
