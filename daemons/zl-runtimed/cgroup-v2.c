/* SPDX-License-Identifier: Apache-2.0 */
/* cgroup-v2.c: the unified cgroup2 hierarchy: controllers enabled down the path, one directory. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgroup-internal.h"
#include "log.h"
#include "path-util.h"
#include "string-util.h"

/* The controllers our limits use, in the order they are enabled. */
static const char *const v2_controllers[] = { "cpuset", "cpu", "memory", "pids" };

static bool word_in(const char *list, const char *word) {
        size_t len = strlen(word);

        for (const char *p = list; (p = strstr(p, word)); p += len)
                if ((p == list || p[-1] == ' ' || p[-1] == '\n') &&
                    (p[len] == '\0' || p[len] == ' ' || p[len] == '\n'))
                        return true;
        return false;
}

/* Enables in dir's cgroup.subtree_control those of our controllers dir offers, so its children
 * get their interface files. */
static int v2_enable_controllers(const char *dir) {
        _cleanup_free_ char *avail = NULL, *want = NULL;
        int r;

        r = cg_read(dir, "cgroup.controllers", &avail);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(v2_controllers); i++)
                if (word_in(avail, v2_controllers[i])) {
                        r = strextend(&want, want ? " +" : "+", v2_controllers[i]);
                        if (r < 0)
                                return r;
                }
        if (!want)
                return 0;
        return cg_write(dir, "cgroup.subtree_control", want);
}

static int v2_create(Cgroup *cg) {
        _cleanup_free_ char *cur = strdup(cg->root), *rest = strdup(cg->path);
        char *state = NULL;
        int r;

        if (!cur || !rest)
                return -ENOMEM;
        for (char *comp = strtok_r(rest, "/", &state); comp; comp = strtok_r(NULL, "/", &state)) {
                bool last = !state || *state == '\0';
                char *next;

                r = v2_enable_controllers(cur);
                if (r < 0)
                        return r;
                next = path_join(cur, comp);
                if (!next)
                        return -ENOMEM;
                free_and_replace(cur, next);
                r = cg_mkdir(cg, cur);
                if (r == -EEXIST && !last)
                        continue;
                if (r < 0)
                        return r;
        }
        cg->unified_dir = TAKE_PTR(cur);
        return 0;
}

static int v2_open(Cgroup *cg) {
        _cleanup_free_ char *dir = path_join(cg->root, cg->path);

        if (!dir)
                return -ENOMEM;
        if (access(dir, F_OK) < 0)
                return -errno;
        cg->unified_dir = TAKE_PTR(dir);
        return 0;
}

static int v2_write(const char *dir, const char *file, const char **ret_reason, const char *reason,
                    const char *value) {
        int r;

        r = cg_write(dir, file, value);
        if (r == -ENOENT) {
                /* The interface file is missing: its controller is not enabled for us. */
                if (ret_reason)
                        *ret_reason = reason;
                return -EOPNOTSUPP;
        }
        if (r < 0 && ret_reason)
                *ret_reason = reason;
        return r;
}

static int v2_apply(Cgroup *cg, const CgroupLimits *l, const char **ret_reason) {
        const char *dir = cg->unified_dir;
        char buf[64];
        int r;

        if (l->cpu_shares != CGROUP_LIMIT_UNSET) {
                (void) snprintf(buf, sizeof(buf), "%" PRIu64,
                                cgroup_shares_to_weight(l->cpu_shares));
                r = v2_write(dir, "cpu.weight", ret_reason, "cannot write cpu.weight", buf);
                if (r < 0)
                        return r;
        }

        if (l->cpu_quota_usec != CGROUP_LIMIT_UNSET || l->cpu_period_usec != CGROUP_LIMIT_UNSET) {
                uint64_t period = l->cpu_period_usec != CGROUP_LIMIT_UNSET
                                          ? l->cpu_period_usec
                                          : CGROUP_CPU_PERIOD_DEFAULT_USEC;
                _cleanup_free_ char *quota = NULL;

                if (l->cpu_quota_usec == CGROUP_LIMIT_MAX)
                        quota = strdup("max");
                else if (l->cpu_quota_usec != CGROUP_LIMIT_UNSET) {
                        if (asprintf(&quota, "%" PRIu64, l->cpu_quota_usec) < 0)
                                return -ENOMEM;
                } else {
                        /* Only the period changes: keep the quota cpu.max has. */
                        char *space;

                        r = cg_read(dir, "cpu.max", &quota);
                        if (r < 0) {
                                if (ret_reason)
                                        *ret_reason = "cannot read cpu.max";
                                return r == -ENOENT ? -EOPNOTSUPP : r;
                        }
                        space = strchr(strstrip(quota), ' ');
                        if (space)
                                *space = '\0';
                        if (isempty(quota)) {
                                free(quota);
                                quota = strdup("max");
                        }
                }
                if (!quota)
                        return -ENOMEM;
                (void) snprintf(buf, sizeof(buf), "%s %" PRIu64, quota, period);
                r = v2_write(dir, "cpu.max", ret_reason, "cannot write cpu.max", buf);
                if (r < 0)
                        return r;
        }

        if (l->cpuset_cpus) {
                r = v2_write(dir, "cpuset.cpus", ret_reason, "cannot write cpuset.cpus",
                             l->cpuset_cpus);
                if (r < 0)
                        return r;
        }
        if (l->cpuset_mems) {
                r = v2_write(dir, "cpuset.mems", ret_reason, "cannot write cpuset.mems",
                             l->cpuset_mems);
                if (r < 0)
                        return r;
        }

        if (l->memory_limit_bytes != CGROUP_LIMIT_UNSET) {
                if (l->memory_limit_bytes == CGROUP_LIMIT_MAX)
                        strcpy(buf, "max");
                else
                        (void) snprintf(buf, sizeof(buf), "%" PRIu64, l->memory_limit_bytes);
                r = v2_write(dir, "memory.max", ret_reason, "cannot write memory.max", buf);
                if (r < 0)
                        return r;
        }
        if (l->memory_swap_bytes != CGROUP_LIMIT_UNSET) {
                /* OCI counts memory plus swap; memory.swap.max is the swap alone. */
                if (l->memory_swap_bytes == CGROUP_LIMIT_MAX)
                        strcpy(buf, "max");
                else
                        (void) snprintf(buf, sizeof(buf), "%" PRIu64,
                                        l->memory_swap_bytes - l->memory_limit_bytes);
                r = v2_write(dir, "memory.swap.max", ret_reason,
                             "cannot write memory.swap.max (swap accounting off?)", buf);
                if (r < 0)
                        return r;
        }

        if (l->pids_limit != CGROUP_LIMIT_UNSET) {
                if (l->pids_limit == CGROUP_LIMIT_MAX)
                        strcpy(buf, "max");
                else
                        (void) snprintf(buf, sizeof(buf), "%" PRIu64, l->pids_limit);
                r = v2_write(dir, "pids.max", ret_reason, "cannot write pids.max", buf);
                if (r < 0)
                        return r;
        }

        /* v2 has no devices controller: the rules become a BPF program on the cgroup. */
        if (l->devices_set || l->n_devices > 0) {
                r = cg_devices_bpf_apply(dir, l->devices, l->n_devices, ret_reason);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int v2_add_pid(Cgroup *cg, pid_t pid) {
        return cg_writef(cg->unified_dir, "cgroup.procs", "%d", (int) pid);
}

static int v2_freeze(Cgroup *cg, bool frozen) {
        int r;

        r = cg_write(cg->unified_dir, "cgroup.freeze", frozen ? "1" : "0");
        if (r == -ENOENT)
                return -EOPNOTSUPP;
        if (r < 0)
                return r;
        return cg_wait_key(cg->unified_dir, "cgroup.events", "frozen", frozen);
}

static int v2_kill(Cgroup *cg) {
        int r;

        r = cg_write(cg->unified_dir, "cgroup.kill", "1");
        if (r != -ENOENT)
                return r;
        /* Kernels before 5.14 have no cgroup.kill. */
        return cg_kill_by_pids(cg, cg->unified_dir);
}

static int v2_is_populated(Cgroup *cg) {
        uint64_t v;
        int r;

        r = cg_read_key_u64(cg->unified_dir, "cgroup.events", "populated", &v);
        if (r < 0)
                return r;
        return v > 0;
}

static int v2_get_stats(Cgroup *cg, CgroupStats *s) {
        const char *d = cg->unified_dir;
        const struct {
                const char *dir, *file, *key;
                uint64_t divisor;
                uint64_t *v;
        } stats[] = {
                { d, "cpu.stat", "usage_usec", 1, &s->cpu_usage_usec },
                { d, "cpu.stat", "user_usec", 1, &s->cpu_user_usec },
                { d, "cpu.stat", "system_usec", 1, &s->cpu_system_usec },
                { d, "cpu.stat", "nr_periods", 1, &s->cpu_nr_periods },
                { d, "cpu.stat", "nr_throttled", 1, &s->cpu_nr_throttled },
                { d, "cpu.stat", "throttled_usec", 1, &s->cpu_throttled_usec },
                { d, "memory.current", NULL, 1, &s->memory_current_bytes },
                { d, "memory.peak", NULL, 1, &s->memory_peak_bytes },
                { d, "memory.events", "oom_kill", 1, &s->oom_kill_count },
                { d, "pids.current", NULL, 1, &s->pids_current },
        };
        int r;

        for (size_t i = 0; i < ELEMENTSOF(stats); i++) {
                r = cg_read_stat(stats[i].dir, stats[i].file, stats[i].key, stats[i].divisor,
                                 stats[i].v);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int v2_destroy(Cgroup *cg) {
        return cg_rmdir(cg->unified_dir);
}

const CgroupOps cgroup_v2_ops = {
        .create = v2_create,
        .open = v2_open,
        .apply = v2_apply,
        .add_pid = v2_add_pid,
        .freeze = v2_freeze,
        .kill = v2_kill,
        .is_populated = v2_is_populated,
        .get_stats = v2_get_stats,
        .destroy = v2_destroy,
};
