/* SPDX-License-Identifier: Apache-2.0 */
/* seccomp.c: OCI linux.seccomp JSON to a libseccomp filter. */
#include "seccomp-filter.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>

#include "log.h"

typedef struct NameValue {
        const char *name;
        uint32_t value;
} NameValue;

static const NameValue flag_table[] = {
        { "SECCOMP_FILTER_FLAG_TSYNC", SCMP_FLTATR_CTL_TSYNC },
        { "SECCOMP_FILTER_FLAG_LOG", SCMP_FLTATR_CTL_LOG },
        { "SECCOMP_FILTER_FLAG_SPEC_ALLOW", SCMP_FLTATR_CTL_SSB },
};

static const NameValue op_table[] = {
        { "SCMP_CMP_NE", SCMP_CMP_NE },
        { "SCMP_CMP_LT", SCMP_CMP_LT },
        { "SCMP_CMP_LE", SCMP_CMP_LE },
        { "SCMP_CMP_EQ", SCMP_CMP_EQ },
        { "SCMP_CMP_GE", SCMP_CMP_GE },
        { "SCMP_CMP_GT", SCMP_CMP_GT },
        { "SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ },
};

static const NameValue *name_value_lookup(const NameValue *table, size_t n, const char *name) {
        for (size_t i = 0; i < n; i++)
                if (streq(table[i].name, name))
                        return &table[i];
        return NULL;
}

/* Formats the message only when the caller wants one, and returns r so errors stay one-liners. */
_printf_(3, 4) static int set_error(char **ret_error, int r, const char *fmt, ...) {
        va_list ap;
        char *s;

        if (!ret_error)
                return r;

        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                s = NULL;
        va_end(ap);
        if (!s)
                return -ENOMEM;

        *ret_error = s;
        return r;
}

/* An errno value for ERRNO/TRACE: a non-negative integer that fits the 16 bits of
 * SECCOMP_RET_DATA. */
static int parse_errno_ret(const json_t *v, const char *path, uint32_t *ret, char **ret_error) {
        json_int_t e;

        if (!json_is_integer(v))
                return set_error(ret_error, -EINVAL, "%s: expected an integer", path);
        e = json_integer_value(v);
        if (e < 0 || e > 0xffff)
                return set_error(ret_error, -EINVAL, "%s: %lld is out of range 0..65535", path,
                                 (long long) e);
        *ret = (uint32_t) e;
        return 0;
}

/* action: the JSON string; errno_ret: the errnoRet member or NULL (EPERM by default, as runc). */
static int parse_action(const json_t *action, const json_t *errno_ret, const char *path,
                        const char *errno_path, uint32_t *ret, char **ret_error) {
        uint32_t e = EPERM;
        const char *s;
        int r;

        if (!json_is_string(action))
                return set_error(ret_error, -EINVAL, "%s: expected a string", path);
        s = json_string_value(action);

        if (errno_ret) {
                r = parse_errno_ret(errno_ret, errno_path, &e, ret_error);
                if (r < 0)
                        return r;
        }

        if (streq(s, "SCMP_ACT_ALLOW"))
                *ret = SCMP_ACT_ALLOW;
        else if (streq(s, "SCMP_ACT_ERRNO"))
                *ret = SCMP_ACT_ERRNO(e);
        else if (streq(s, "SCMP_ACT_KILL") || streq(s, "SCMP_ACT_KILL_THREAD"))
                *ret = SCMP_ACT_KILL_THREAD;
        else if (streq(s, "SCMP_ACT_KILL_PROCESS"))
                *ret = SCMP_ACT_KILL_PROCESS;
        else if (streq(s, "SCMP_ACT_TRAP"))
                *ret = SCMP_ACT_TRAP;
        else if (streq(s, "SCMP_ACT_TRACE"))
                *ret = SCMP_ACT_TRACE(e);
        else if (streq(s, "SCMP_ACT_LOG"))
                *ret = SCMP_ACT_LOG;
        else if (streq(s, "SCMP_ACT_NOTIFY"))
                return set_error(ret_error, -EOPNOTSUPP,
                                 "%s: 'SCMP_ACT_NOTIFY' is not supported (no seccomp agent)", path);
        else
                return set_error(ret_error, -EINVAL, "%s: unknown action '%s'", path, s);
        return 0;
}

/* "SCMP_ARCH_X86_64" -> libseccomp's "x86_64". */
static int parse_arch(const json_t *v, const char *path, uint32_t *ret, char **ret_error) {
        char name[32];
        const char *s;
        uint32_t arch;
        size_t i;

        if (!json_is_string(v))
                return set_error(ret_error, -EINVAL, "%s: expected a string", path);
        s = json_string_value(v);
        if (!strneq(s, "SCMP_ARCH_", strlen("SCMP_ARCH_")) ||
            strlen(s + strlen("SCMP_ARCH_")) >= sizeof(name))
                return set_error(ret_error, -EINVAL, "%s: unknown architecture '%s'", path, s);

        for (i = 0; s[strlen("SCMP_ARCH_") + i]; i++)
                name[i] = (char) tolower((unsigned char) s[strlen("SCMP_ARCH_") + i]);
        name[i] = '\0';

        arch = seccomp_arch_resolve_name(name);
        if (arch == 0)
                return set_error(ret_error, -EINVAL, "%s: unknown architecture '%s'", path, s);
        *ret = arch;
        return 0;
}

static int parse_arg(const json_t *v, const char *path, struct scmp_arg_cmp *ret,
                     char **ret_error) {
        const json_t *index, *value, *value_two, *op;
        const NameValue *nv;

        if (!json_is_object(v))
                return set_error(ret_error, -EINVAL, "%s: expected an object", path);

        index = json_object_get(v, "index");
        if (!json_is_integer(index) || json_integer_value(index) < 0 ||
            json_integer_value(index) > 5)
                return set_error(ret_error, -EINVAL, "%s.index: expected an integer 0..5", path);

        value = json_object_get(v, "value");
        if (!value)
                return set_error(ret_error, -EINVAL, "%s.value: missing", path);
        if (!json_is_integer(value) || json_integer_value(value) < 0)
                return set_error(ret_error, -EINVAL, "%s.value: expected a non-negative integer",
                                 path);

        value_two = json_object_get(v, "valueTwo");
        if (value_two && (!json_is_integer(value_two) || json_integer_value(value_two) < 0))
                return set_error(ret_error, -EINVAL, "%s.valueTwo: expected a non-negative integer",
                                 path);

        op = json_object_get(v, "op");
        if (!json_is_string(op))
                return set_error(ret_error, -EINVAL, "%s.op: expected a string", path);
        nv = name_value_lookup(op_table, ELEMENTSOF(op_table), json_string_value(op));
        if (!nv)
                return set_error(ret_error, -EINVAL, "%s.op: unknown operator '%s'", path,
                                 json_string_value(op));

        *ret = (struct scmp_arg_cmp){
                .arg = (unsigned) json_integer_value(index),
                .op = (enum scmp_compare) nv->value,
                .datum_a = (scmp_datum_t) json_integer_value(value),
                .datum_b = value_two ? (scmp_datum_t) json_integer_value(value_two) : 0,
        };
        return 0;
}

int seccomp_add_syscall_rule(scmp_filter_ctx ctx, const char *name, uint32_t action,
                             unsigned n_args, const struct scmp_arg_cmp *args) {
        int nr, r;

        assert(ctx);
        assert(name);
        assert(n_args == 0 || args);

        nr = seccomp_syscall_resolve_name(name);
        if (nr == __NR_SCMP_ERROR) {
                log_debug("seccomp: syscall '%s' unknown to libseccomp, skipping", name);
                return 0;
        }

        r = seccomp_rule_add_array(ctx, action, nr, n_args, args);
        if (r == -EDOM || r == -EOPNOTSUPP) {
                /* A pseudo syscall with no number on any architecture of this filter. */
                log_debug_errno(r, "seccomp: syscall '%s' not on this architecture, skipping",
                                name);
                return 0;
        }
        if (r < 0)
                return r;
        return 1;
}

static bool args_share_index(const struct scmp_arg_cmp *args, size_t n) {
        for (size_t i = 0; i < n; i++)
                for (size_t j = i + 1; j < n; j++)
                        if (args[i].arg == args[j].arg)
                                return true;
        return false;
}

static int add_syscall_entry(scmp_filter_ctx ctx, const json_t *entry, size_t idx,
                             uint32_t default_action, char **ret_error) {
        struct scmp_arg_cmp args[6];
        const json_t *names, *action, *jargs, *v;
        char path[96], path2[128];
        uint32_t act;
        size_t n_args = 0, i;
        int r;

        snprintf(path, sizeof(path), "syscalls[%zu]", idx);
        if (!json_is_object(entry))
                return set_error(ret_error, -EINVAL, "%s: expected an object", path);

        names = json_object_get(entry, "names");
        if (!json_is_array(names) || json_array_size(names) == 0)
                return set_error(ret_error, -EINVAL, "%s.names: expected a non-empty array", path);
        json_array_foreach (names, i, v)
                if (!json_is_string(v) || isempty(json_string_value(v)))
                        return set_error(ret_error, -EINVAL,
                                         "%s.names[%zu]: expected a non-empty string", path, i);

        action = json_object_get(entry, "action");
        snprintf(path2, sizeof(path2), "%s.action", path);
        if (!action)
                return set_error(ret_error, -EINVAL, "%s: missing", path2);
        {
                char epath[128];

                snprintf(epath, sizeof(epath), "%s.errnoRet", path);
                r = parse_action(action, json_object_get(entry, "errnoRet"), path2, epath, &act,
                                 ret_error);
                if (r < 0)
                        return r;
        }

        jargs = json_object_get(entry, "args");
        if (jargs && !json_is_null(jargs)) {
                if (!json_is_array(jargs))
                        return set_error(ret_error, -EINVAL, "%s.args: expected an array", path);
                if (json_array_size(jargs) > ELEMENTSOF(args))
                        return set_error(ret_error, -EINVAL, "%s.args: more than %zu conditions",
                                         path, ELEMENTSOF(args));
                json_array_foreach (jargs, i, v) {
                        snprintf(path2, sizeof(path2), "%s.args[%zu]", path, i);
                        r = parse_arg(v, path2, &args[n_args++], ret_error);
                        if (r < 0)
                                return r;
                }
        }

        /* libseccomp refuses a rule whose action is the default one; runc skips those too. */
        if (act == default_action) {
                log_debug("seccomp: %s has the default action, skipping", path);
                return 0;
        }

        json_array_foreach (names, i, v) {
                const char *name = json_string_value(v);

                if (args_share_index(args, n_args)) {
                        /* Two conditions on one argument can't be ANDed in one libseccomp rule;
                         * like runc, such a list means any of them (one rule each). */
                        for (size_t k = 0; k < n_args; k++) {
                                r = seccomp_add_syscall_rule(ctx, name, act, 1, &args[k]);
                                if (r < 0)
                                        return set_error(ret_error, r,
                                                         "%s: failed to add a rule for '%s': %s",
                                                         path, name, strerror(-r));
                        }
                } else {
                        r = seccomp_add_syscall_rule(ctx, name, act, n_args, args);
                        if (r < 0)
                                return set_error(ret_error, r,
                                                 "%s: failed to add a rule for '%s': %s", path,
                                                 name, strerror(-r));
                }
        }
        return 0;
}

int seccomp_filter_from_json(const json_t *seccomp, scmp_filter_ctx *ret, char **ret_error) {
        _cleanup_(seccomp_releasep) scmp_filter_ctx ctx = NULL;
        const json_t *archs, *flags, *syscalls, *v;
        uint32_t default_action;
        char path[64];
        size_t i;
        int r;

        assert(ret);

        if (!json_is_object(seccomp))
                return set_error(ret_error, -EINVAL, "seccomp: expected an object");

        r = parse_action(json_object_get(seccomp, "defaultAction"),
                         json_object_get(seccomp, "defaultErrnoRet"), "defaultAction",
                         "defaultErrnoRet", &default_action, ret_error);
        if (r < 0)
                return r;

        ctx = seccomp_init(default_action);
        if (!ctx)
                return -ENOMEM;

        /* no_new_privs is the caller's decision (OCI process.noNewPrivileges), not ours. */
        r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
        if (r < 0)
                return r;

        archs = json_object_get(seccomp, "architectures");
        if (archs && !json_is_null(archs)) {
                if (!json_is_array(archs))
                        return set_error(ret_error, -EINVAL, "architectures: expected an array");
                json_array_foreach (archs, i, v) {
                        uint32_t arch = 0;

                        snprintf(path, sizeof(path), "architectures[%zu]", i);
                        r = parse_arch(v, path, &arch, ret_error);
                        if (r < 0)
                                return r;
                        r = seccomp_arch_add(ctx, arch);
                        if (r < 0 && r != -EEXIST)
                                return set_error(ret_error, r, "%s: failed to add '%s': %s", path,
                                                 json_string_value(v), strerror(-r));
                }
        }

        flags = json_object_get(seccomp, "flags");
        if (flags && !json_is_null(flags)) {
                if (!json_is_array(flags))
                        return set_error(ret_error, -EINVAL, "flags: expected an array");
                json_array_foreach (flags, i, v) {
                        const NameValue *nv;

                        snprintf(path, sizeof(path), "flags[%zu]", i);
                        if (!json_is_string(v))
                                return set_error(ret_error, -EINVAL, "%s: expected a string", path);
                        nv = name_value_lookup(flag_table, ELEMENTSOF(flag_table),
                                               json_string_value(v));
                        if (!nv)
                                return set_error(ret_error, -EINVAL, "%s: unknown flag '%s'", path,
                                                 json_string_value(v));
                        r = seccomp_attr_set(ctx, (enum scmp_filter_attr) nv->value, 1);
                        if (r < 0)
                                return set_error(ret_error, r, "%s: '%s' is not supported here: %s",
                                                 path, nv->name, strerror(-r));
                }
        }

        syscalls = json_object_get(seccomp, "syscalls");
        if (syscalls && !json_is_null(syscalls)) {
                if (!json_is_array(syscalls))
                        return set_error(ret_error, -EINVAL, "syscalls: expected an array");
                json_array_foreach (syscalls, i, v) {
                        r = add_syscall_entry(ctx, v, i, default_action, ret_error);
                        if (r < 0)
                                return r;
                }
        }

        *ret = TAKE_PTR(ctx);
        return 0;
}

int seccomp_filter_load(scmp_filter_ctx ctx) {
        assert(ctx);
        return seccomp_load(ctx);
}
