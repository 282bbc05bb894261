/* SPDX-License-Identifier: Apache-2.0 */
/* oci-config.c: the OCI runtime-spec config.json, parsed and validated into C structs. */
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/resource.h>

#include "cap-util.h"
#include "fileio.h"
#include "hostname-util.h"
#include "oci-config.h"
#include "path-util.h"
#include "string-util.h"

/* Long enough for the deepest path we build ("linux.resources.devices[N].access") with any
 * index jansson can hold. */
#define JPATH_MAX 256
/* mount(2) copies at most one page of data. */
#define MOUNT_DATA_MAX 4095
#define CONFIG_SIZE_MAX (4U * 1024U * 1024U)

static int fail(char **ret_error, const char *path, const char *fmt, ...) _printf_(3, 4);
static int fail(char **ret_error, const char *path, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;
        int r;

        if (!ret_error)
                return -EINVAL;

        va_start(ap, fmt);
        r = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;

        free(*ret_error);
        *ret_error = isempty(path) ? strdup(msg) : strjoin(path, ": ", msg);
        return *ret_error ? -EINVAL : -ENOMEM;
}

/* Paths longer than the buffer (only possible with huge map keys from the document) end in
 * "..." rather than being cut silently. */
static const char *mark_truncated(char buf[static JPATH_MAX], int n) {
        if (n >= JPATH_MAX)
                strcpy(buf + JPATH_MAX - 4, "...");
        return buf;
}

static const char *child(char buf[static JPATH_MAX], const char *parent, const char *key) {
        int n = snprintf(buf, JPATH_MAX, "%s%s%s", parent, parent[0] ? "." : "", key);
        return mark_truncated(buf, n);
}

static const char *element(char buf[static JPATH_MAX], const char *parent, size_t i) {
        int n = snprintf(buf, JPATH_MAX, "%s[%zu]", parent, i);
        return mark_truncated(buf, n);
}

/* JSON null counts as absent, as it does for the Go runtimes. */
static json_t *field(const json_t *obj, const char *key) {
        json_t *v = json_object_get(obj, key);
        return json_is_null(v) ? NULL : v;
}

static const char *json_type_name(const json_t *j) {
        switch (json_typeof(j)) {
        case JSON_OBJECT:
                return "an object";
        case JSON_ARRAY:
                return "an array";
        case JSON_STRING:
                return "a string";
        case JSON_INTEGER:
                return "an integer";
        case JSON_REAL:
                return "a real number";
        case JSON_TRUE:
        case JSON_FALSE:
                return "a boolean";
        default:
                return "null";
        }
}

static int expect(const json_t *j, json_type type, const char *what, const char *path, char **err) {
        if (json_typeof(j) == type)
                return 0;
        return fail(err, path, "expected %s, got %s", what, json_type_name(j));
}

static int get_object(const json_t *parent, const char *key, const char *ppath, json_t **ret,
                      char **err) {
        char p[JPATH_MAX];
        json_t *j = field(parent, key);
        int r;

        if (j) {
                r = expect(j, JSON_OBJECT, "an object", child(p, ppath, key), err);
                if (r < 0)
                        return r;
        }
        *ret = j;
        return !!j;
}

static int get_array(const json_t *parent, const char *key, const char *ppath, json_t **ret,
                     char **err) {
        char p[JPATH_MAX];
        json_t *j = field(parent, key);
        int r;

        if (j) {
                r = expect(j, JSON_ARRAY, "an array", child(p, ppath, key), err);
                if (r < 0)
                        return r;
        }
        *ret = j;
        return !!j;
}

/* Returns 1 if set, 0 if absent (and then *ret is untouched), or an error. */
static int get_string(const json_t *parent, const char *key, const char *ppath, bool required,
                      char **ret, char **err) {
        char p[JPATH_MAX];
        json_t *j = field(parent, key);
        char *s;
        int r;

        child(p, ppath, key);
        if (!j)
                return required ? fail(err, p, "required") : 0;
        r = expect(j, JSON_STRING, "a string", p, err);
        if (r < 0)
                return r;
        s = strdup(json_string_value(j));
        if (!s)
                return -ENOMEM;
        free(*ret);
        *ret = s;
        return 1;
}

static int get_bool(const json_t *parent, const char *key, const char *ppath, bool *ret,
                    char **err) {
        char p[JPATH_MAX];
        json_t *j = field(parent, key);

        if (!j)
                return 0;
        if (!json_is_boolean(j))
                return fail(err, child(p, ppath, key), "expected a boolean, got %s",
                            json_type_name(j));
        *ret = json_is_true(j);
        return 1;
}

static int int_in_range(const json_t *j, const char *path, int64_t min, int64_t max, int64_t *ret,
                        char **err) {
        int64_t v;
        int r;

        r = expect(j, JSON_INTEGER, "an integer", path, err);
        if (r < 0)
                return r;
        v = json_integer_value(j);
        if (v < min || v > max)
                return fail(err, path, "%" PRId64 " is out of range %" PRId64 "..%" PRId64, v, min,
                            max);
        *ret = v;
        return 0;
}

static int get_int(const json_t *parent, const char *key, const char *ppath, bool required,
                   int64_t min, int64_t max, int64_t *ret, char **err) {
        char p[JPATH_MAX];
        json_t *j = field(parent, key);
        int r;

        child(p, ppath, key);
        if (!j)
                return required ? fail(err, p, "required") : 0;
        r = int_in_range(j, p, min, max, ret, err);
        return r < 0 ? r : 1;
}

/* The spec's "-1 or a positive number" limits; 0 is refused because it can never work. */
static int get_limit(const json_t *parent, const char *key, const char *ppath, int64_t *ret,
                     char **err) {
        char p[JPATH_MAX];
        int64_t v;
        int r;

        r = get_int(parent, key, ppath, false, -1, INT64_MAX, &v, err);
        if (r <= 0)
                return r;
        if (v == 0)
                return fail(err, child(p, ppath, key), "must be positive, or -1 for no limit");
        *ret = v;
        return 1;
}

static bool absolute_path_ok(const char *s) {
        return path_is_absolute(s) && strlen(s) < PATH_MAX;
}

static int check_absolute(const char *s, const char *path, char **err) {
        _cleanup_free_ char *e = NULL;

        if (absolute_path_ok(s))
                return 0;
        e = string_escape_for_display(s, 80);
        if (!e)
                return -ENOMEM;
        return fail(err, path, "'%s' is not an absolute path", e);
}

/* Arrays of strings. check may be NULL; it reports errors itself. */
static int get_strv(const json_t *parent, const char *key, const char *ppath,
                    int (*check)(const char *s, const char *path, char **err), char ***ret,
                    char **err) {
        _cleanup_strv_free_ char **l = NULL;
        char p[JPATH_MAX], pe[JPATH_MAX];
        json_t *arr, *v;
        size_t i;
        int r;

        r = get_array(parent, key, ppath, &arr, err);
        if (r <= 0)
                return r;
        child(p, ppath, key);

        /* An empty list is kept as an empty (non-NULL) strv, so "given but empty" survives. */
        l = calloc(1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        json_array_foreach (arr, i, v) {
                element(pe, p, i);
                r = expect(v, JSON_STRING, "a string", pe, err);
                if (r < 0)
                        return r;
                if (check) {
                        r = check(json_string_value(v), pe, err);
                        if (r < 0)
                                return r;
                }
                r = strv_extend(&l, json_string_value(v));
                if (r < 0)
                        return r;
        }
        strv_free(*ret);
        *ret = TAKE_PTR(l);
        return 1;
}

static int get_string_map(const json_t *parent, const char *key, const char *ppath,
                          int (*check_key)(const char *s, const char *path, char **err),
                          OciKeyValue **ret, size_t *ret_n, char **err) {
        char p[JPATH_MAX], pe[JPATH_MAX];
        OciKeyValue *kv = NULL;
        const char *k;
        json_t *obj, *v;
        size_t n = 0;
        int r;

        r = get_object(parent, key, ppath, &obj, err);
        if (r <= 0)
                return r;
        child(p, ppath, key);

        if (json_object_size(obj) > 0) {
                kv = calloc(json_object_size(obj), sizeof(OciKeyValue));
                if (!kv)
                        return -ENOMEM;
        }
        json_object_foreach (obj, k, v) {
                child(pe, p, k);
                if (check_key) {
                        r = check_key(k, pe, err);
                        if (r < 0)
                                goto fail;
                }
                r = expect(v, JSON_STRING, "a string", pe, err);
                if (r < 0)
                        goto fail;
                kv[n].key = strdup(k);
                kv[n].value = strdup(json_string_value(v));
                n++;
                if (!kv[n - 1].key || !kv[n - 1].value) {
                        r = -ENOMEM;
                        goto fail;
                }
        }
        *ret = kv;
        *ret_n = n;
        return 1;

fail:
        for (size_t i = 0; i < n; i++) {
                free(kv[i].key);
                free(kv[i].value);
        }
        free(kv);
        return r;
}

/* An array of objects: allocates n elements of size and calls parse on each. The caller's
 * free function handles partially filled arrays, so elements are counted as they are added. */
static int get_object_array(const json_t *parent, const char *key, const char *ppath, size_t size,
                            int (*parse)(const json_t *j, const char *path, void *elem,
                                         void *userdata, char **err),
                            void *userdata, void **ret, size_t *ret_n, char **err) {
        char p[JPATH_MAX], pe[JPATH_MAX];
        json_t *arr, *v;
        size_t i;
        int r;

        r = get_array(parent, key, ppath, &arr, err);
        if (r <= 0)
                return r;
        child(p, ppath, key);
        if (json_array_size(arr) == 0)
                return 0;

        *ret = calloc(json_array_size(arr), size);
        if (!*ret)
                return -ENOMEM;
        json_array_foreach (arr, i, v) {
                element(pe, p, i);
                r = expect(v, JSON_OBJECT, "an object", pe, err);
                if (r < 0)
                        return r;
                /* Count first: parse() leaves whatever it allocated in the element. */
                (*ret_n)++;
                r = parse(v, pe, (char *) *ret + i * size, userdata, err);
                if (r < 0)
                        return r;
        }
        return 1;
}

/* ---- names ---- */

static const char *const namespace_names[_OCI_NAMESPACE_TYPE_MAX] = {
        [OCI_NAMESPACE_PID] = "pid",       [OCI_NAMESPACE_NETWORK] = "network",
        [OCI_NAMESPACE_MOUNT] = "mount",   [OCI_NAMESPACE_IPC] = "ipc",
        [OCI_NAMESPACE_UTS] = "uts",       [OCI_NAMESPACE_USER] = "user",
        [OCI_NAMESPACE_CGROUP] = "cgroup", [OCI_NAMESPACE_TIME] = "time",
};

const char *oci_namespace_type_to_string(OciNamespaceType t) {
        return t >= 0 && t < _OCI_NAMESPACE_TYPE_MAX ? namespace_names[t] : NULL;
}

OciNamespaceType oci_namespace_type_from_string(const char *s) {
        if (!s)
                return _OCI_NAMESPACE_TYPE_INVALID;
        for (int i = 0; i < _OCI_NAMESPACE_TYPE_MAX; i++)
                if (streq(namespace_names[i], s))
                        return i;
        return _OCI_NAMESPACE_TYPE_INVALID;
}

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

unsigned long oci_namespace_type_to_clone_flag(OciNamespaceType t) {
        static const unsigned long flags[_OCI_NAMESPACE_TYPE_MAX] = {
                [OCI_NAMESPACE_PID] = CLONE_NEWPID,       [OCI_NAMESPACE_NETWORK] = CLONE_NEWNET,
                [OCI_NAMESPACE_MOUNT] = CLONE_NEWNS,      [OCI_NAMESPACE_IPC] = CLONE_NEWIPC,
                [OCI_NAMESPACE_UTS] = CLONE_NEWUTS,       [OCI_NAMESPACE_USER] = CLONE_NEWUSER,
                [OCI_NAMESPACE_CGROUP] = CLONE_NEWCGROUP, [OCI_NAMESPACE_TIME] = CLONE_NEWTIME,
        };
        return t >= 0 && t < _OCI_NAMESPACE_TYPE_MAX ? flags[t] : 0;
}

static const struct {
        const char *name;
        int type;
} rlimit_table[] = {
        { "RLIMIT_CPU", RLIMIT_CPU },           { "RLIMIT_FSIZE", RLIMIT_FSIZE },
        { "RLIMIT_DATA", RLIMIT_DATA },         { "RLIMIT_STACK", RLIMIT_STACK },
        { "RLIMIT_CORE", RLIMIT_CORE },         { "RLIMIT_RSS", RLIMIT_RSS },
        { "RLIMIT_NPROC", RLIMIT_NPROC },       { "RLIMIT_NOFILE", RLIMIT_NOFILE },
        { "RLIMIT_MEMLOCK", RLIMIT_MEMLOCK },   { "RLIMIT_AS", RLIMIT_AS },
        { "RLIMIT_LOCKS", RLIMIT_LOCKS },       { "RLIMIT_SIGPENDING", RLIMIT_SIGPENDING },
        { "RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE }, { "RLIMIT_NICE", RLIMIT_NICE },
        { "RLIMIT_RTPRIO", RLIMIT_RTPRIO },     { "RLIMIT_RTTIME", RLIMIT_RTTIME },
};

int oci_rlimit_from_string(const char *s) {
        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(rlimit_table); i++)
                if (streq(rlimit_table[i].name, s))
                        return rlimit_table[i].type;
        return -EINVAL;
}

const char *oci_rlimit_to_string(int type) {
        for (size_t i = 0; i < ELEMENTSOF(rlimit_table); i++)
                if (rlimit_table[i].type == type)
                        return rlimit_table[i].name;
        return NULL;
}

/* ---- process ---- */

static int check_env(const char *s, const char *path, char **err) {
        const char *eq = strchr(s, '=');
        _cleanup_free_ char *e = NULL;

        if (eq && eq != s)
                return 0;
        e = string_escape_for_display(s, 80);
        if (!e)
                return -ENOMEM;
        return fail(err, path, "'%s' is not of the form KEY=value", e);
}

static int parse_user(const json_t *j, const char *path, OciUser *u, char **err) {
        char p[JPATH_MAX], pe[JPATH_MAX];
        json_t *arr, *v;
        int64_t x;
        size_t i;
        int r;

        /* (uid_t) -1 means "unchanged" to the kernel, so it is never a valid id. */
        r = get_int(j, "uid", path, true, 0, UINT32_MAX - 1, &x, err);
        if (r < 0)
                return r;
        u->uid = (uid_t) x;
        r = get_int(j, "gid", path, true, 0, UINT32_MAX - 1, &x, err);
        if (r < 0)
                return r;
        u->gid = (gid_t) x;
        r = get_int(j, "umask", path, false, 0, 0777, &x, err);
        if (r < 0)
                return r;
        if (r > 0) {
                u->has_umask = true;
                u->umask = (mode_t) x;
        }

        r = get_array(j, "additionalGids", path, &arr, err);
        if (r <= 0)
                return r;
        child(p, path, "additionalGids");
        if (json_array_size(arr) > 65536)
                return fail(err, p, "more than 65536 groups");
        if (json_array_size(arr) == 0)
                return 0;
        u->additional_gids = calloc(json_array_size(arr), sizeof(gid_t));
        if (!u->additional_gids)
                return -ENOMEM;
        json_array_foreach (arr, i, v) {
                r = int_in_range(v, element(pe, p, i), 0, UINT32_MAX - 1, &x, err);
                if (r < 0)
                        return r;
                u->additional_gids[u->n_additional_gids++] = (gid_t) x;
        }
        return 0;
}

static int parse_cap_set(const json_t *j, const char *key, const char *path, uint64_t *ret,
                         char **err) {
        char p[JPATH_MAX], pe[JPATH_MAX];
        json_t *arr, *v;
        uint64_t mask = 0;
        size_t i;
        int r;

        r = get_array(j, key, path, &arr, err);
        if (r <= 0)
                return r;
        child(p, path, key);
        json_array_foreach (arr, i, v) {
                _cleanup_free_ char *e = NULL;
                int cap;

                element(pe, p, i);
                r = expect(v, JSON_STRING, "a capability name", pe, err);
                if (r < 0)
                        return r;
                cap = capability_from_name(json_string_value(v));
                if (cap >= 0 && cap < 64) {
                        mask |= UINT64_C(1) << cap;
                        continue;
                }
                e = string_escape_for_display(json_string_value(v), 64);
                if (!e)
                        return -ENOMEM;
                return fail(err, pe, "unknown capability '%s'", e);
        }
        *ret = mask;
        return 1;
}

static int parse_capabilities(const json_t *j, const char *path, OciCapabilities *c, char **err) {
        char p[JPATH_MAX];
        uint64_t missing;
        int r;

        r = parse_cap_set(j, "bounding", path, &c->bounding, err);
        if (r < 0)
                return r;
        r = parse_cap_set(j, "effective", path, &c->effective, err);
        if (r < 0)
                return r;
        r = parse_cap_set(j, "inheritable", path, &c->inheritable, err);
        if (r < 0)
                return r;
        r = parse_cap_set(j, "permitted", path, &c->permitted, err);
        if (r < 0)
                return r;
        r = parse_cap_set(j, "ambient", path, &c->ambient, err);
        if (r < 0)
                return r;

        /* The kernel refuses to raise an ambient capability that is not both permitted and
         * inheritable; say so now rather than fail inside the half-built container. */
        missing = c->ambient & ~(c->permitted & c->inheritable);
        if (missing != 0)
                return fail(err, child(p, path, "ambient"),
                            "'%s' is not in both the permitted and the inheritable set",
                            strna(capability_to_name(__builtin_ctzll(missing))));
        return 0;
}

static int parse_rlimit(const json_t *j, const char *path, void *elem, void *userdata, char **err) {
        OciRlimit *rl = elem;
        const OciProcess *proc = userdata;
        _cleanup_free_ char *type = NULL;
        char p[JPATH_MAX];
        int64_t x;
        int r;

        r = get_string(j, "type", path, true, &type, err);
        if (r < 0)
                return r;
        rl->type = oci_rlimit_from_string(type);
        if (rl->type < 0) {
                _cleanup_free_ char *e = string_escape_for_display(type, 64);
                if (!e)
                        return -ENOMEM;
                return fail(err, child(p, path, "type"), "unknown rlimit '%s'", e);
        }
        /* Compare against the elements parsed so far; this one is the last counted. */
        for (size_t i = 0; i + 1 < proc->n_rlimits; i++)
                if (proc->rlimits[i].type == rl->type)
                        return fail(err, child(p, path, "type"), "duplicate rlimit '%s'", type);

        r = get_int(j, "hard", path, true, 0, INT64_MAX, &x, err);
        if (r < 0)
                return r;
        rl->hard = (uint64_t) x;
        r = get_int(j, "soft", path, true, 0, INT64_MAX, &x, err);
        if (r < 0)
                return r;
        rl->soft = (uint64_t) x;
        if (rl->soft > rl->hard)
                return fail(err, child(p, path, "soft"),
                            "soft limit %" PRIu64 " is above the hard limit %" PRIu64, rl->soft,
                            rl->hard);
        return 0;
}

static int parse_process(const json_t *root, OciProcess *proc, char **err) {
        json_t *j, *user, *caps;
        int64_t x;
        int r;

        r = get_object(root, "process", "", &j, err);
        if (r < 0)
                return r;
        if (r == 0)
                return fail(err, "process", "required");

        r = get_bool(j, "terminal", "process", &proc->terminal, err);
        if (r < 0)
                return r;

        r = get_object(j, "user", "process", &user, err);
        if (r < 0)
                return r;
        if (r == 0)
                return fail(err, "process.user", "required");
        r = parse_user(user, "process.user", &proc->user, err);
        if (r < 0)
                return r;

        r = get_strv(j, "args", "process", NULL, &proc->args, err);
        if (r < 0)
                return r;
        if (strv_length(proc->args) == 0)
                return fail(err, "process.args", "required, with at least one element");
        if (isempty(proc->args[0]))
                return fail(err, "process.args[0]", "must not be empty");

        r = get_strv(j, "env", "process", check_env, &proc->env, err);
        if (r < 0)
                return r;

        r = get_string(j, "cwd", "process", true, &proc->cwd, err);
        if (r < 0)
                return r;
        r = check_absolute(proc->cwd, "process.cwd", err);
        if (r < 0)
                return r;

        r = get_object(j, "capabilities", "process", &caps, err);
        if (r < 0)
                return r;
        if (r > 0) {
                proc->has_capabilities = true;
                r = parse_capabilities(caps, "process.capabilities", &proc->capabilities, err);
                if (r < 0)
                        return r;
        }

        r = get_object_array(j, "rlimits", "process", sizeof(OciRlimit), parse_rlimit, proc,
                             (void **) &proc->rlimits, &proc->n_rlimits, err);
        if (r < 0)
                return r;

        r = get_bool(j, "noNewPrivileges", "process", &proc->no_new_privileges, err);
        if (r < 0)
                return r;

        r = get_int(j, "oomScoreAdj", "process", false, -1000, 1000, &x, err);
        if (r < 0)
                return r;
        if (r > 0) {
                proc->has_oom_score_adj = true;
                proc->oom_score_adj = (int) x;
        }

        r = get_string(j, "apparmorProfile", "process", false, &proc->apparmor_profile, err);
        if (r < 0)
                return r;
        r = get_string(j, "selinuxLabel", "process", false, &proc->selinux_label, err);
        if (r < 0)
                return r;
        return 0;
}

/* ---- mounts ---- */

static const struct {
        const char *name;
        bool clear;
        unsigned long flag;
} mount_flag_table[] = {
        { "defaults", false, 0 },
        { "ro", false, MS_RDONLY },
        { "rw", true, MS_RDONLY },
        { "nosuid", false, MS_NOSUID },
        { "suid", true, MS_NOSUID },
        { "nodev", false, MS_NODEV },
        { "dev", true, MS_NODEV },
        { "noexec", false, MS_NOEXEC },
        { "exec", true, MS_NOEXEC },
        { "sync", false, MS_SYNCHRONOUS },
        { "async", true, MS_SYNCHRONOUS },
        { "dirsync", false, MS_DIRSYNC },
        { "remount", false, MS_REMOUNT },
        { "mand", false, MS_MANDLOCK },
        { "nomand", true, MS_MANDLOCK },
        { "noatime", false, MS_NOATIME },
        { "atime", true, MS_NOATIME },
        { "nodiratime", false, MS_NODIRATIME },
        { "diratime", true, MS_NODIRATIME },
        { "relatime", false, MS_RELATIME },
        { "norelatime", true, MS_RELATIME },
        { "strictatime", false, MS_STRICTATIME },
        { "nostrictatime", true, MS_STRICTATIME },
        { "lazytime", false, MS_LAZYTIME },
        { "nolazytime", true, MS_LAZYTIME },
        { "silent", false, MS_SILENT },
        { "loud", true, MS_SILENT },
        { "nosymfollow", false, MS_NOSYMFOLLOW },
        { "symfollow", true, MS_NOSYMFOLLOW },
        { "bind", false, MS_BIND },
        { "rbind", false, MS_BIND | MS_REC },
};

static const struct {
        const char *name;
        unsigned long flags;
} propagation_table[] = {
        { "private", MS_PRIVATE },       { "rprivate", MS_PRIVATE | MS_REC },
        { "shared", MS_SHARED },         { "rshared", MS_SHARED | MS_REC },
        { "slave", MS_SLAVE },           { "rslave", MS_SLAVE | MS_REC },
        { "unbindable", MS_UNBINDABLE }, { "runbindable", MS_UNBINDABLE | MS_REC },
};

static int propagation_from_string(const char *s, unsigned long *ret) {
        for (size_t i = 0; i < ELEMENTSOF(propagation_table); i++)
                if (streq(propagation_table[i].name, s)) {
                        *ret = propagation_table[i].flags;
                        return 0;
                }
        return -EINVAL;
}

static int parse_mount_option(OciMount *m, const char *opt, const char *path, char **err) {
        for (size_t i = 0; i < ELEMENTSOF(mount_flag_table); i++)
                if (streq(mount_flag_table[i].name, opt)) {
                        if (mount_flag_table[i].clear)
                                m->flags &= ~mount_flag_table[i].flag;
                        else
                                m->flags |= mount_flag_table[i].flag;
                        return 0;
                }
        if (propagation_from_string(opt, &m->propagation) >= 0)
                return 0;
        if (streq(opt, "tmpcopyup")) {
                m->extra |= OCI_MOUNT_TMPCOPYUP;
                return 0;
        }
        if (streq(opt, "rro")) {
                m->extra |= OCI_MOUNT_RRO;
                return 0;
        }
        if (isempty(opt))
                return fail(err, path, "empty mount option");

        /* Anything else is for the file system to interpret (mode=, size=, lowerdir=...). */
        if (m->data && strextend(&m->data, ",") < 0)
                return -ENOMEM;
        if (strextend(&m->data, opt) < 0)
                return -ENOMEM;
        if (strlen(m->data) > MOUNT_DATA_MAX)
                return fail(err, path, "file system options longer than %d bytes", MOUNT_DATA_MAX);
        return 0;
}

static int parse_mount(const json_t *j, const char *path, void *elem, _unused_ void *userdata,
                       char **err) {
        OciMount *m = elem;
        char p[JPATH_MAX], pe[JPATH_MAX];
        int r;

        r = get_string(j, "destination", path, true, &m->destination, err);
        if (r < 0)
                return r;
        r = check_absolute(m->destination, child(p, path, "destination"), err);
        if (r < 0)
                return r;
        r = get_string(j, "type", path, false, &m->type, err);
        if (r < 0)
                return r;
        r = get_string(j, "source", path, false, &m->source, err);
        if (r < 0)
                return r;
        r = get_strv(j, "options", path, NULL, &m->options, err);
        if (r < 0)
                return r;

        child(p, path, "options");
        for (size_t i = 0; m->options && m->options[i]; i++) {
                r = parse_mount_option(m, m->options[i], element(pe, p, i), err);
                if (r < 0)
                        return r;
        }

        if (m->type && streq(m->type, "bind"))
                m->flags |= MS_BIND;
        if (!m->type && !(m->flags & MS_BIND))
                return fail(err, child(p, path, "type"),
                            "required unless the mount is a bind mount");
        if ((m->flags & MS_BIND) && isempty(m->source))
                return fail(err, child(p, path, "source"), "required for a bind mount");
        return 0;
}

/* ---- linux ---- */

static int parse_namespace(const json_t *j, const char *path, void *elem, void *userdata,
                           char **err) {
        OciNamespace *ns = elem;
        const OciLinux *l = userdata;
        _cleanup_free_ char *type = NULL;
        char p[JPATH_MAX];
        int r;

        r = get_string(j, "type", path, true, &type, err);
        if (r < 0)
                return r;
        ns->type = oci_namespace_type_from_string(type);
        if (ns->type < 0) {
                _cleanup_free_ char *e = string_escape_for_display(type, 64);
                if (!e)
                        return -ENOMEM;
                return fail(err, child(p, path, "type"), "unknown namespace type '%s'", e);
        }
        for (size_t i = 0; i + 1 < l->n_namespaces; i++)
                if (l->namespaces[i].type == ns->type)
                        return fail(err, child(p, path, "type"), "duplicate namespace '%s'", type);

        r = get_string(j, "path", path, false, &ns->path, err);
        if (r < 0)
                return r;
        if (ns->path) {
                r = check_absolute(ns->path, child(p, path, "path"), err);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int parse_id_mapping(const json_t *j, const char *path, void *elem, _unused_ void *userdata,
                            char **err) {
        OciIdMapping *m = elem;
        int64_t c, h, s;
        int r;

        r = get_int(j, "containerID", path, true, 0, UINT32_MAX - 1, &c, err);
        if (r < 0)
                return r;
        r = get_int(j, "hostID", path, true, 0, UINT32_MAX - 1, &h, err);
        if (r < 0)
                return r;
        r = get_int(j, "size", path, true, 1, UINT32_MAX, &s, err);
        if (r < 0)
                return r;
        if (c + s > UINT32_MAX || h + s > UINT32_MAX)
                return fail(err, path, "the range does not fit in 32-bit ids");
        *m = (OciIdMapping){ (uint32_t) c, (uint32_t) h, (uint32_t) s };
        return 0;
}

static int parse_device(const json_t *j, const char *path, void *elem, _unused_ void *userdata,
                        char **err) {
        OciDevice *d = elem;
        _cleanup_free_ char *type = NULL;
        char p[JPATH_MAX];
        int64_t x;
        int r;

        r = get_string(j, "path", path, true, &d->path, err);
        if (r < 0)
                return r;
        r = check_absolute(d->path, child(p, path, "path"), err);
        if (r < 0)
                return r;
        r = get_string(j, "type", path, true, &type, err);
        if (r < 0)
                return r;
        if (strlen(type) != 1 || !strchr("cbpu", type[0]))
                return fail(err, child(p, path, "type"), "must be one of c, b, p, u");
        d->type = type[0];

        /* Linux device numbers: 12-bit major, 20-bit minor. */
        r = get_int(j, "major", path, d->type != 'p', 0, 4095, &d->major, err);
        if (r < 0)
                return r;
        r = get_int(j, "minor", path, d->type != 'p', 0, 1048575, &d->minor, err);
        if (r < 0)
                return r;

        r = get_int(j, "fileMode", path, false, 0, 07777, &x, err);
        if (r < 0)
                return r;
        if (r > 0) {
                d->has_file_mode = true;
                d->file_mode = (mode_t) x;
        }
        r = get_int(j, "uid", path, false, 0, UINT32_MAX - 1, &x, err);
        if (r < 0)
                return r;
        if (r > 0) {
                d->has_uid = true;
                d->uid = (uid_t) x;
        }
        r = get_int(j, "gid", path, false, 0, UINT32_MAX - 1, &x, err);
        if (r < 0)
                return r;
        if (r > 0) {
                d->has_gid = true;
                d->gid = (gid_t) x;
        }
        return 0;
}

static int parse_device_rule(const json_t *j, const char *path, void *elem, _unused_ void *userdata,
                             char **err) {
        OciDeviceRule *d = elem;
        _cleanup_free_ char *type = NULL, *access = NULL;
        char p[JPATH_MAX];
        json_t *allow;
        int r;

        allow = field(j, "allow");
        child(p, path, "allow");
        if (!allow)
                return fail(err, p, "required");
        if (!json_is_boolean(allow))
                return fail(err, p, "expected a boolean, got %s", json_type_name(allow));
        d->allow = json_is_true(allow);

        d->type = 'a';
        r = get_string(j, "type", path, false, &type, err);
        if (r < 0)
                return r;
        if (type) {
                if (strlen(type) != 1 || !strchr("acb", type[0]))
                        return fail(err, child(p, path, "type"), "must be one of a, c, b");
                d->type = type[0];
        }

        d->major = d->minor = -1;
        r = get_int(j, "major", path, false, -1, 4095, &d->major, err);
        if (r < 0)
                return r;
        r = get_int(j, "minor", path, false, -1, 1048575, &d->minor, err);
        if (r < 0)
                return r;

        strcpy(d->access, "rwm");
        r = get_string(j, "access", path, false, &access, err);
        if (r < 0)
                return r;
        if (access) {
                bool seen[3] = {};
                size_t n = 0;

                child(p, path, "access");
                if (isempty(access))
                        return fail(err, p, "must not be empty");
                for (const char *c = access; *c; c++) {
                        const char *k = strchr("rwm", *c);
                        if (!k || seen[k - "rwm"])
                                return fail(err, p, "must be a combination of r, w and m");
                        seen[k - "rwm"] = true;
                        d->access[n++] = *c;
                }
                d->access[n] = '\0';
        }
        return 0;
}

/* "0-3,5,7-8" with ascending ranges. */
static bool cpuset_list_is_valid(const char *s) {
        const char *c = s;

        if (isempty(s))
                return false;
        for (;;) {
                unsigned long a, b;
                char *end;

                if (*c < '0' || *c > '9')
                        return false;
                errno = 0;
                a = strtoul(c, &end, 10);
                if (errno != 0 || a > 65535)
                        return false;
                c = end;
                if (*c == '-') {
                        c++;
                        if (*c < '0' || *c > '9')
                                return false;
                        b = strtoul(c, &end, 10);
                        if (errno != 0 || b > 65535 || b < a)
                                return false;
                        c = end;
                }
                if (*c == '\0')
                        return true;
                if (*c != ',')
                        return false;
                c++;
        }
}

static int get_cpuset(const json_t *j, const char *key, const char *path, char **ret, char **err) {
        _cleanup_free_ char *e = NULL;
        char p[JPATH_MAX];
        int r;

        r = get_string(j, key, path, false, ret, err);
        if (r <= 0)
                return r;
        /* Runtimes write "" for "not set". */
        if (isempty(*ret)) {
                *ret = mfree(*ret);
                return 0;
        }
        if (cpuset_list_is_valid(*ret))
                return 0;
        e = string_escape_for_display(*ret, 64);
        if (!e)
                return -ENOMEM;
        return fail(err, child(p, path, key), "'%s' is not a CPU/node list like '0-3,5'", e);
}

static int parse_resources(const json_t *linux_, OciResources *res, char **err) {
        const char *path = "linux.resources";
        json_t *j, *mem, *cpu, *pids;
        int64_t x;
        int r;

        r = get_object(linux_, "resources", "linux", &j, err);
        if (r <= 0)
                return r;

        r = get_object_array(j, "devices", path, sizeof(OciDeviceRule), parse_device_rule, NULL,
                             (void **) &res->devices, &res->n_devices, err);
        if (r < 0)
                return r;

        r = get_object(j, "memory", path, &mem, err);
        if (r < 0)
                return r;
        if (mem) {
                const char *mp = "linux.resources.memory";

                r = get_limit(mem, "limit", mp, &res->memory_limit, err);
                if (r < 0)
                        return r;
                res->has_memory_limit = r > 0;
                r = get_int(mem, "reservation", mp, false, -1, INT64_MAX, &res->memory_reservation,
                            err);
                if (r < 0)
                        return r;
                res->has_memory_reservation = r > 0;
                r = get_limit(mem, "swap", mp, &res->memory_swap, err);
                if (r < 0)
                        return r;
                res->has_memory_swap = r > 0;
                if (res->has_memory_limit && res->has_memory_swap && res->memory_limit > 0 &&
                    res->memory_swap > 0 && res->memory_swap < res->memory_limit)
                        return fail(err, "linux.resources.memory.swap",
                                    "%" PRId64 " is below memory.limit %" PRId64
                                    " (swap counts memory plus swap)",
                                    res->memory_swap, res->memory_limit);
        }

        r = get_object(j, "cpu", path, &cpu, err);
        if (r < 0)
                return r;
        if (cpu) {
                const char *cp = "linux.resources.cpu";

                /* The ranges the kernel accepts for cpu.shares and the CFS period. */
                r = get_int(cpu, "shares", cp, false, 2, 262144, &x, err);
                if (r < 0)
                        return r;
                res->has_cpu_shares = r > 0;
                res->cpu_shares = (uint64_t) x;
                r = get_int(cpu, "quota", cp, false, -1, INT64_MAX, &res->cpu_quota, err);
                if (r < 0)
                        return r;
                res->has_cpu_quota = r > 0;
                if (res->has_cpu_quota && res->cpu_quota >= 0 && res->cpu_quota < 1000)
                        return fail(err, "linux.resources.cpu.quota",
                                    "must be at least 1000 (microseconds), or -1 for no limit");
                r = get_int(cpu, "period", cp, false, 1000, 1000000, &x, err);
                if (r < 0)
                        return r;
                res->has_cpu_period = r > 0;
                res->cpu_period = (uint64_t) x;
                r = get_cpuset(cpu, "cpus", cp, &res->cpu_cpus, err);
                if (r < 0)
                        return r;
                r = get_cpuset(cpu, "mems", cp, &res->cpu_mems, err);
                if (r < 0)
                        return r;
        }

        r = get_object(j, "pids", path, &pids, err);
        if (r < 0)
                return r;
        if (pids) {
                r = get_limit(pids, "limit", "linux.resources.pids", &res->pids_limit, err);
                if (r < 0)
                        return r;
                res->has_pids_limit = r > 0;
        }
        return 0;
}

static int check_sysctl_key(const char *k, const char *path, char **err) {
        _cleanup_free_ char *e = NULL;
        bool ok = !isempty(k) && strlen(k) < 256 && k[0] != '.' && k[0] != '/';

        for (const char *c = k; ok && *c; c++)
                ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                     (*c >= '0' && *c <= '9') || strchr("._-/", *c);
        /* The key becomes a path under /proc/sys: no way out of it. */
        if (ok && (strstr(k, "..") || strstr(k, "//") || strstr(k, "./") || strstr(k, "/.")))
                ok = false;
        if (ok)
                return 0;
        e = string_escape_for_display(k, 64);
        if (!e)
                return -ENOMEM;
        return fail(err, path, "'%s' is not a valid sysctl name", e);
}

static bool has_namespace(const OciLinux *l, OciNamespaceType t) {
        for (size_t i = 0; i < l->n_namespaces; i++)
                if (l->namespaces[i].type == t)
                        return true;
        return false;
}

static int parse_linux(const json_t *root, OciLinux *l, char **err) {
        _cleanup_free_ char *prop = NULL;
        json_t *j, *seccomp;
        int r;

        r = get_object(root, "linux", "", &j, err);
        if (r <= 0)
                return r;

        r = get_object_array(j, "namespaces", "linux", sizeof(OciNamespace), parse_namespace, l,
                             (void **) &l->namespaces, &l->n_namespaces, err);
        if (r < 0)
                return r;
        r = get_object_array(j, "uidMappings", "linux", sizeof(OciIdMapping), parse_id_mapping,
                             NULL, (void **) &l->uid_mappings, &l->n_uid_mappings, err);
        if (r < 0)
                return r;
        r = get_object_array(j, "gidMappings", "linux", sizeof(OciIdMapping), parse_id_mapping,
                             NULL, (void **) &l->gid_mappings, &l->n_gid_mappings, err);
        if (r < 0)
                return r;
        /* The kernel takes at most 340 lines per map. */
        if (l->n_uid_mappings > 340)
                return fail(err, "linux.uidMappings", "more than 340 mappings");
        if (l->n_gid_mappings > 340)
                return fail(err, "linux.gidMappings", "more than 340 mappings");
        if ((l->n_uid_mappings > 0 || l->n_gid_mappings > 0) &&
            !has_namespace(l, OCI_NAMESPACE_USER))
                return fail(err, l->n_uid_mappings > 0 ? "linux.uidMappings" : "linux.gidMappings",
                            "id mappings need a user namespace");

        r = get_object_array(j, "devices", "linux", sizeof(OciDevice), parse_device, NULL,
                             (void **) &l->devices, &l->n_devices, err);
        if (r < 0)
                return r;

        r = get_string(j, "cgroupsPath", "linux", false, &l->cgroups_path, err);
        if (r < 0)
                return r;
        if (l->cgroups_path &&
            (streq(l->cgroups_path, "..") || strstr(l->cgroups_path, "/../") ||
             startswith(l->cgroups_path, "../") || endswith(l->cgroups_path, "/..")))
                return fail(err, "linux.cgroupsPath", "must not contain '..'");

        r = parse_resources(j, &l->resources, err);
        if (r < 0)
                return r;

        r = get_string_map(j, "sysctl", "linux", check_sysctl_key, &l->sysctl, &l->n_sysctl, err);
        if (r < 0)
                return r;

        seccomp = field(j, "seccomp");
        if (seccomp) {
                r = expect(seccomp, JSON_OBJECT, "an object", "linux.seccomp", err);
                if (r < 0)
                        return r;
                l->seccomp = json_incref(seccomp);
        }

        r = get_strv(j, "maskedPaths", "linux", check_absolute, &l->masked_paths, err);
        if (r < 0)
                return r;
        r = get_strv(j, "readonlyPaths", "linux", check_absolute, &l->readonly_paths, err);
        if (r < 0)
                return r;

        r = get_string(j, "rootfsPropagation", "linux", false, &prop, err);
        if (r < 0)
                return r;
        if (prop && !isempty(prop) && propagation_from_string(prop, &l->rootfs_propagation) < 0) {
                _cleanup_free_ char *e = string_escape_for_display(prop, 64);
                if (!e)
                        return -ENOMEM;
                return fail(err, "linux.rootfsPropagation", "unknown propagation '%s'", e);
        }
        return 0;
}

/* ---- the document ---- */

static int check_oci_version(const char *v, char **err) {
        _cleanup_free_ char *e = NULL;
        const char *rest = startswith(v, "1.");

        /* 1.0.x, 1.1.x and 1.2.x (what current podman writes) share everything we read. */
        if (rest && strchr("012", rest[0]) && rest[0] != '\0' &&
            (rest[1] == '\0' || rest[1] == '.' || rest[1] == '-'))
                return 0;
        e = string_escape_for_display(v, 64);
        if (!e)
                return -ENOMEM;
        return fail(err, "ociVersion", "unsupported version '%s' (1.0, 1.1 or 1.2 expected)", e);
}

static int parse_document(const json_t *root, OciConfig *c, char **err) {
        json_t *rootfs;
        int r;

        if (!json_is_object(root))
                return fail(err, "", "expected a JSON object at the top level, got %s",
                            json_type_name(root));

        r = get_string(root, "ociVersion", "", true, &c->oci_version, err);
        if (r < 0)
                return r;
        r = check_oci_version(c->oci_version, err);
        if (r < 0)
                return r;

        r = get_object(root, "root", "", &rootfs, err);
        if (r < 0)
                return r;
        if (r == 0)
                return fail(err, "root", "required");
        r = get_string(rootfs, "path", "root", true, &c->root_path, err);
        if (r < 0)
                return r;
        if (isempty(c->root_path))
                return fail(err, "root.path", "must not be empty");
        r = get_bool(rootfs, "readonly", "root", &c->root_readonly, err);
        if (r < 0)
                return r;

        r = parse_process(root, &c->process, err);
        if (r < 0)
                return r;

        r = get_object_array(root, "mounts", "", sizeof(OciMount), parse_mount, NULL,
                             (void **) &c->mounts, &c->n_mounts, err);
        if (r < 0)
                return r;

        r = parse_linux(root, &c->linux_, err);
        if (r < 0)
                return r;

        r = get_string(root, "hostname", "", false, &c->hostname, err);
        if (r < 0)
                return r;
        r = get_string(root, "domainname", "", false, &c->domainname, err);
        if (r < 0)
                return r;
        if (!isempty(c->hostname) && !hostname_is_valid(c->hostname)) {
                _cleanup_free_ char *e = string_escape_for_display(c->hostname, 64);
                if (!e)
                        return -ENOMEM;
                return fail(err, "hostname", "'%s' is not a valid host name", e);
        }
        if (!isempty(c->domainname) && !hostname_is_valid(c->domainname)) {
                _cleanup_free_ char *e = string_escape_for_display(c->domainname, 64);
                if (!e)
                        return -ENOMEM;
                return fail(err, "domainname", "'%s' is not a valid domain name", e);
        }
        /* Setting them outside a UTS namespace would rename the host. */
        if (!isempty(c->hostname) && !has_namespace(&c->linux_, OCI_NAMESPACE_UTS))
                return fail(err, "hostname", "needs a UTS namespace in linux.namespaces");
        if (!isempty(c->domainname) && !has_namespace(&c->linux_, OCI_NAMESPACE_UTS))
                return fail(err, "domainname", "needs a UTS namespace in linux.namespaces");

        r = get_string_map(root, "annotations", "", NULL, &c->annotations, &c->n_annotations, err);
        if (r < 0)
                return r;
        return 0;
}

static void key_values_free(OciKeyValue *kv, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(kv[i].key);
                free(kv[i].value);
        }
        free(kv);
}

OciConfig *oci_config_free(OciConfig *c) {
        if (!c)
                return NULL;

        free(c->oci_version);
        free(c->root_path);

        free(c->process.user.additional_gids);
        strv_free(c->process.args);
        strv_free(c->process.env);
        free(c->process.cwd);
        free(c->process.rlimits);
        free(c->process.apparmor_profile);
        free(c->process.selinux_label);

        free(c->hostname);
        free(c->domainname);

        for (size_t i = 0; i < c->n_mounts; i++) {
                free(c->mounts[i].destination);
                free(c->mounts[i].type);
                free(c->mounts[i].source);
                strv_free(c->mounts[i].options);
                free(c->mounts[i].data);
        }
        free(c->mounts);

        for (size_t i = 0; i < c->linux_.n_namespaces; i++)
                free(c->linux_.namespaces[i].path);
        free(c->linux_.namespaces);
        free(c->linux_.uid_mappings);
        free(c->linux_.gid_mappings);
        for (size_t i = 0; i < c->linux_.n_devices; i++)
                free(c->linux_.devices[i].path);
        free(c->linux_.devices);
        free(c->linux_.cgroups_path);
        free(c->linux_.resources.devices);
        free(c->linux_.resources.cpu_cpus);
        free(c->linux_.resources.cpu_mems);
        key_values_free(c->linux_.sysctl, c->linux_.n_sysctl);
        json_decref(c->linux_.seccomp);
        strv_free(c->linux_.masked_paths);
        strv_free(c->linux_.readonly_paths);

        key_values_free(c->annotations, c->n_annotations);
        return mfree(c);
}

int oci_config_parse(const char *json_text, size_t size, OciConfig **ret, char **ret_error) {
        _cleanup_(oci_config_freep) OciConfig *c = NULL;
        _cleanup_(json_decrefp) json_t *root = NULL;
        _cleanup_free_ char *err = NULL;
        json_error_t jerr;
        int r;

        assert(json_text || size == 0);
        assert(ret);

        root = json_loadb(json_text ?: "", size, JSON_REJECT_DUPLICATES, &jerr);
        if (!root) {
                r = fail(&err, "", "%d:%d: %s", jerr.line, jerr.column, jerr.text);
                if (r == -EINVAL && ret_error)
                        *ret_error = TAKE_PTR(err);
                return r;
        }

        c = calloc(1, sizeof(OciConfig));
        if (!c)
                return -ENOMEM;
        r = parse_document(root, c, &err);
        if (r < 0) {
                if (ret_error)
                        *ret_error = TAKE_PTR(err);
                return r;
        }
        *ret = TAKE_PTR(c);
        return 0;
}

int oci_config_load(const char *path, OciConfig **ret, char **ret_error) {
        _cleanup_free_ char *data = NULL, *err = NULL;
        size_t size;
        int r;

        assert(path);
        assert(ret);

        r = read_full_file(path, CONFIG_SIZE_MAX, &data, &size);
        if (r < 0) {
                if (ret_error) {
                        *ret_error = strjoin("cannot read '", path, "': ", strerror(-r));
                        if (!*ret_error)
                                return -ENOMEM;
                }
                return r;
        }
        r = oci_config_parse(data, size, ret, &err);
        if (r < 0 && err && ret_error) {
                *ret_error = strjoin(path, ": ", err);
                if (!*ret_error)
                        return -ENOMEM;
        }
        return r;
}

int oci_config_check_rlimits(const OciConfig *c, char **ret_error) {
        assert(c);

        for (size_t i = 0; i < c->process.n_rlimits; i++) {
                const OciRlimit *rl = &c->process.rlimits[i];
                char p[JPATH_MAX];
                struct rlimit cur;

                if (getrlimit(rl->type, &cur) < 0)
                        return -errno;
                if (cur.rlim_max == RLIM_INFINITY || rl->hard <= cur.rlim_max)
                        continue;

                element(p, "process.rlimits", i);
                if (ret_error) {
                        int r = fail(ret_error, p,
                                     "%s hard limit %" PRIu64
                                     " is above this process's hard limit %" PRIu64,
                                     oci_rlimit_to_string(rl->type), rl->hard,
                                     (uint64_t) cur.rlim_max);
                        if (r == -ENOMEM)
                                return r;
                }
                return -EPERM;
        }
        return 0;
}

/* ---- the default config ---- */

static int add_caps(json_t *arr, uint64_t mask) {
        for (int cap = 0; cap <= capability_last() && cap < 64; cap++) {
                if (!(mask & (UINT64_C(1) << cap)))
                        continue;
                if (json_array_append_new(arr, json_string(capability_to_name(cap))) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static json_t *strv_to_json(const char *const *l) {
        _cleanup_(json_decrefp) json_t *arr = json_array();

        if (!arr)
                return NULL;
        for (; l && *l; l++)
                if (json_array_append_new(arr, json_string(*l)) < 0)
                        return NULL;
        return TAKE_PTR(arr);
}

/* Appends json_pack(fmt, ...) to arr; the packed value is never leaked. */
static int append_packed(json_t *arr, const char *fmt, ...) {
        json_t *v;
        va_list ap;

        va_start(ap, fmt);
        v = json_vpack_ex(NULL, 0, fmt, ap);
        va_end(ap);
        /* json_array_append_new() takes (and on failure drops) the reference, NULL included. */
        return json_array_append_new(arr, v) < 0 ? -ENOMEM : 0;
}

static const char *const default_args[] = { "/bin/sh", NULL };

static const char *const default_env[] = {
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "TERM=xterm",
        NULL,
};

static const char *const default_namespaces[] = {
        "pid", "network", "ipc", "uts", "mount", "cgroup", NULL,
};

static const struct {
        const char *destination, *type, *source;
        const char *options[7];
} default_mounts[] = {
        { "/proc", "proc", "proc", { "nosuid", "noexec", "nodev" } },
        { "/dev", "tmpfs", "tmpfs", { "nosuid", "strictatime", "mode=755", "size=65536k" } },
        { "/dev/pts",
          "devpts",
          "devpts",
          { "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5" } },
        { "/dev/shm", "tmpfs", "shm", { "nosuid", "noexec", "nodev", "mode=1777", "size=65536k" } },
        { "/dev/mqueue", "mqueue", "mqueue", { "nosuid", "noexec", "nodev" } },
        { "/sys", "sysfs", "sysfs", { "nosuid", "noexec", "nodev", "ro" } },
};

/* What Docker masks and makes read-only in /proc and /sys. */
static const char *const default_masked_paths[] = {
        "/proc/asound",
        "/proc/acpi",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/proc/sched_debug",
        "/proc/scsi",
        "/sys/firmware",
        "/sys/devices/virtual/powercap",
        NULL,
};

static const char *const default_readonly_paths[] = {
        "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", NULL,
};

/* The device nodes every container gets. */
static const struct {
        const char *path;
        int major, minor;
} default_devices[] = {
        { "/dev/null", 1, 3 },   { "/dev/zero", 1, 5 },    { "/dev/full", 1, 7 },
        { "/dev/random", 1, 8 }, { "/dev/urandom", 1, 9 }, { "/dev/tty", 5, 0 },
};

/* The device cgroup: nothing but mknod of any node, the pseudo terminals, and the nodes above
 * (appended after these). */
static const struct {
        char type;
        int major, minor;
        const char *access;
} default_device_rules[] = {
        { 'c', -1, -1, "m" },
        { 'b', -1, -1, "m" },
        { 'c', 136, -1, "rwm" }, /* /dev/pts/N */
        { 'c', 5, 2, "rwm" }, /* /dev/ptmx */
};

int oci_config_default_json(const char *rootfs, char *const *args, char **ret_json) {
        _cleanup_(json_decrefp) json_t *root = NULL, *caps = NULL, *mounts = NULL, *ns = NULL,
                                       *devs = NULL, *rules = NULL;
        char *s;

        assert(ret_json);
        if (isempty(rootfs))
                return -EINVAL;
        if (args && (!args[0] || isempty(args[0])))
                return -EINVAL;

        caps = json_array();
        mounts = json_array();
        ns = json_array();
        devs = json_array();
        rules = json_array();
        if (!caps || !mounts || !ns || !devs || !rules)
                return -ENOMEM;

        if (add_caps(caps, capability_default_set()) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(default_mounts); i++)
                if (append_packed(mounts, "{ssssssso}", "destination",
                                  default_mounts[i].destination, "type", default_mounts[i].type,
                                  "source", default_mounts[i].source, "options",
                                  strv_to_json(default_mounts[i].options)) < 0)
                        return -ENOMEM;
        for (size_t i = 0; default_namespaces[i]; i++)
                if (append_packed(ns, "{ss}", "type", default_namespaces[i]) < 0)
                        return -ENOMEM;

        if (append_packed(rules, "{sbss}", "allow", false, "access", "rwm") < 0)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(default_device_rules); i++)
                if (append_packed(rules, "{sbss#sIsIss}", "allow", true, "type",
                                  &default_device_rules[i].type, 1, "major",
                                  (json_int_t) default_device_rules[i].major, "minor",
                                  (json_int_t) default_device_rules[i].minor, "access",
                                  default_device_rules[i].access) < 0)
                        return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(default_devices); i++) {
                if (append_packed(devs, "{sssssIsIsisisi}", "path", default_devices[i].path, "type",
                                  "c", "major", (json_int_t) default_devices[i].major, "minor",
                                  (json_int_t) default_devices[i].minor, "fileMode", 0666, "uid", 0,
                                  "gid", 0) < 0)
                        return -ENOMEM;
                if (append_packed(rules, "{sbsssIsIss}", "allow", true, "type", "c", "major",
                                  (json_int_t) default_devices[i].major, "minor",
                                  (json_int_t) default_devices[i].minor, "access", "rwm") < 0)
                        return -ENOMEM;
        }

        /* 'o' steals references (even on failure), 'O' adds one: caps is used three times. */
        root = json_pack("{ss s{sssb}"
                         " s{sb s{sisi} so so ss s{sO sO sO s[]} sb}"
                         " sO"
                         " s{sO sO s{sO} so so ss}}",
                         "ociVersion", "1.0.2", "root", "path", rootfs, "readonly", false,
                         "process", "terminal", false, "user", "uid", 0, "gid", 0, "args",
                         strv_to_json(args ? (const char *const *) args : default_args), "env",
                         strv_to_json(default_env), "cwd", "/", "capabilities", "bounding", caps,
                         "effective", caps, "permitted", caps, "ambient", "noNewPrivileges", false,
                         "mounts", mounts, "linux", "namespaces", ns, "devices", devs, "resources",
                         "devices", rules, "maskedPaths", strv_to_json(default_masked_paths),
                         "readonlyPaths", strv_to_json(default_readonly_paths), "rootfsPropagation",
                         "rprivate");
        if (!root)
                return -ENOMEM;

        s = json_dumps(root, JSON_INDENT(8) | JSON_PRESERVE_ORDER);
        if (!s)
                return -ENOMEM;
        *ret_json = s;
        return 0;
}

int oci_config_default(const char *rootfs, char *const *args, OciConfig **ret) {
        _cleanup_free_ char *json = NULL;
        int r;

        assert(ret);

        r = oci_config_default_json(rootfs, args, &json);
        if (r < 0)
                return r;
        /* Our own document always validates: only OOM can fail here. */
        return oci_config_parse(json, strlen(json), ret, NULL);
}
