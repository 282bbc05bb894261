/* SPDX-License-Identifier: Apache-2.0 */
/* cgroup-v1.c: cgroup v1 controllers, one hierarchy each; also the hybrid mode, which adds the
 * unified cgroup2 hierarchy for freeze, kill and events when its files are there. */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup-internal.h"
#include "log.h"
#include "path-util.h"
#include "string-util.h"

static const char *const v1_names[_CGROUP_V1_MAX] = {
        [CGROUP_V1_CPU] = "cpu",         [CGROUP_V1_CPUACCT] = "cpuacct",
        [CGROUP_V1_CPUSET] = "cpuset",   [CGROUP_V1_MEMORY] = "memory",
        [CGROUP_V1_DEVICES] = "devices", [CGROUP_V1_FREEZER] = "freezer",
        [CGROUP_V1_PIDS] = "pids",
};

/* Co-mounted controllers (cpu,cpuacct) share one directory: act on it once. */
static bool v1_is_duplicate(const Cgroup *cg, CgroupV1Controller c) {
        for (CgroupV1Controller i = 0; i < c; i++)
                if (cg->v1_dirs[i] && streq(cg->v1_dirs[i], cg->v1_dirs[c]))
                        return true;
        return false;
}

/* A new cpuset cgroup starts with no cpus or mems, and no task can join it until it has some. */
static int v1_cpuset_seed(const char *dir) {
        _cleanup_free_ char *parent = NULL;
        static const char *const files[] = { "cpuset.cpus", "cpuset.mems" };
        int r;

        r = path_dirname(dir, &parent);
        if (r < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                _cleanup_free_ char *cur = NULL, *val = NULL;

                r = cg_read(dir, files[i], &cur);
                if (r < 0)
                        return r;
                if (!isempty(strstrip(cur)))
                        continue;
                r = cg_read(parent, files[i], &val);
                if (r < 0)
                        return r;
                r = cg_write(dir, files[i], strstrip(val));
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Creates hier/path one component at a time: parents may exist, the last must not. */
static int v1_mkdir_path(Cgroup *cg, const char *hier, bool cpuset, char **ret_dir) {
        _cleanup_free_ char *cur = strdup(hier), *rest = strdup(cg->path);
        char *state = NULL;
        int r;

        if (!cur || !rest)
                return -ENOMEM;
        for (char *comp = strtok_r(rest, "/", &state); comp; comp = strtok_r(NULL, "/", &state)) {
                bool last = !state || *state == '\0';
                char *next = path_join(cur, comp);

                if (!next)
                        return -ENOMEM;
                free_and_replace(cur, next);
                r = cg_mkdir(cg, cur);
                if (r == -EEXIST && !last)
                        continue;
                if (r < 0)
                        return r;
                if (cpuset) {
                        r = v1_cpuset_seed(cur);
                        if (r < 0)
                                return r;
                }
        }
        *ret_dir = TAKE_PTR(cur);
        return 0;
}

static int v1_hierarchy(const Cgroup *cg, const char *name, char **ret) {
        _cleanup_free_ char *p = path_join(cg->root, name);
        char *real;

        if (!p)
                return -ENOMEM;
        real = realpath(p, NULL);
        if (!real)
                return -errno;
        *ret = real;
        return 0;
}

static int v1_create(Cgroup *cg) {
        int r;

        for (CgroupV1Controller c = 0; c < _CGROUP_V1_MAX; c++) {
                _cleanup_free_ char *hier = NULL;

                r = v1_hierarchy(cg, v1_names[c], &hier);
                if (r == -ENOENT)
                        continue;
                if (r < 0)
                        return r;
                cg->v1_dirs[c] = path_join(hier, cg->path);
                if (!cg->v1_dirs[c])
                        return -ENOMEM;
                if (v1_is_duplicate(cg, c))
                        continue;
                free(cg->v1_dirs[c]);
                cg->v1_dirs[c] = NULL;
                r = v1_mkdir_path(cg, hier, c == CGROUP_V1_CPUSET, &cg->v1_dirs[c]);
                if (r < 0)
                        return r;
        }

        if (cg->mode == CGROUP_MODE_HYBRID) {
                _cleanup_free_ char *hier = NULL, *dir = NULL;

                r = v1_hierarchy(cg, "unified", &hier);
                if (r >= 0)
                        r = v1_mkdir_path(cg, hier, false, &dir);
                if (r == -EEXIST)
                        return r;
                if (r < 0)
                        log_debug_errno(r, "Unified hierarchy unusable for '%s', ignoring: %m",
                                        cg->path);
                else
                        cg->unified_dir = TAKE_PTR(dir);
        }
        return 0;
}

static int v1_open(Cgroup *cg) {
        int r;

        for (CgroupV1Controller c = 0; c < _CGROUP_V1_MAX; c++) {
                _cleanup_free_ char *hier = NULL;

                r = v1_hierarchy(cg, v1_names[c], &hier);
                if (r == -ENOENT)
                        continue;
                if (r < 0)
                        return r;
                cg->v1_dirs[c] = path_join(hier, cg->path);
                if (!cg->v1_dirs[c])
                        return -ENOMEM;
                if (access(cg->v1_dirs[c], F_OK) < 0)
                        return -errno;
        }
        if (cg->mode == CGROUP_MODE_HYBRID) {
                _cleanup_free_ char *hier = NULL, *dir = NULL;

                if (v1_hierarchy(cg, "unified", &hier) >= 0) {
                        dir = path_join(hier, cg->path);
                        if (!dir)
                                return -ENOMEM;
                        if (access(dir, F_OK) >= 0)
                                cg->unified_dir = TAKE_PTR(dir);
                }
        }
        return 0;
}

static int v1_dir(Cgroup *cg, CgroupV1Controller c, const char **ret_reason, const char **ret) {
        static const char *const missing[_CGROUP_V1_MAX] = {
                [CGROUP_V1_CPU] = "the cpu controller is not mounted",
                [CGROUP_V1_CPUACCT] = "the cpuacct controller is not mounted",
                [CGROUP_V1_CPUSET] = "the cpuset controller is not mounted",
                [CGROUP_V1_MEMORY] = "the memory controller is not mounted",
                [CGROUP_V1_DEVICES] = "the devices controller is not mounted",
                [CGROUP_V1_FREEZER] = "the freezer controller is not mounted",
                [CGROUP_V1_PIDS] = "the pids controller is not mounted",
        };

        if (!cg->v1_dirs[c]) {
                if (ret_reason)
                        *ret_reason = missing[c];
                return -EOPNOTSUPP;
        }
        *ret = cg->v1_dirs[c];
        return 0;
}

#define V1_WRITE(dir, file, reason, ...)                                                           \
        do {                                                                                       \
                int _r_ = cg_writef(dir, file, __VA_ARGS__);                                       \
                if (_r_ < 0) {                                                                     \
                        if (reason)                                                                \
                                *(reason) = "cannot write " file;                                  \
                        return _r_;                                                                \
                }                                                                                  \
        } while (0)

static int v1_apply_memory(const char *dir, const CgroupLimits *l, const char **ret_reason) {
        uint64_t mem = l->memory_limit_bytes, swap = l->memory_swap_bytes;
        int r;

        if (mem == CGROUP_LIMIT_UNSET && swap == CGROUP_LIMIT_UNSET)
                return 0;
        if (swap == CGROUP_LIMIT_UNSET) {
                V1_WRITE(dir, "memory.limit_in_bytes", ret_reason, "%" PRIi64,
                         mem == CGROUP_LIMIT_MAX ? INT64_C(-1) : (int64_t) mem);
                return 0;
        }

        /* The kernel keeps limit <= memsw at every step: try one order, then the other. */
        r = cg_writef(dir, "memory.limit_in_bytes", "%" PRIi64,
                      mem == CGROUP_LIMIT_MAX ? INT64_C(-1) : (int64_t) mem);
        if (r == -EINVAL) {
                V1_WRITE(dir, "memory.memsw.limit_in_bytes", ret_reason, "%" PRIi64,
                         swap == CGROUP_LIMIT_MAX ? INT64_C(-1) : (int64_t) swap);
                V1_WRITE(dir, "memory.limit_in_bytes", ret_reason, "%" PRIi64,
                         mem == CGROUP_LIMIT_MAX ? INT64_C(-1) : (int64_t) mem);
                return 0;
        }
        if (r < 0) {
                if (ret_reason)
                        *ret_reason = "cannot write memory.limit_in_bytes";
                return r;
        }
        r = cg_writef(dir, "memory.memsw.limit_in_bytes", "%" PRIi64,
                      swap == CGROUP_LIMIT_MAX ? INT64_C(-1) : (int64_t) swap);
        if (r == -ENOENT) {
                if (ret_reason)
                        *ret_reason = "swap limits need swap accounting (memory.memsw.*)";
                return -EOPNOTSUPP;
        }
        if (r < 0) {
                if (ret_reason)
                        *ret_reason = "cannot write memory.memsw.limit_in_bytes";
                return r;
        }
        return 0;
}

static int v1_apply_devices(const char *dir, const CgroupLimits *l, const char **ret_reason) {
        V1_WRITE(dir, "devices.deny", ret_reason, "a");
        for (size_t i = 0; i < l->n_devices; i++) {
                const CgroupDeviceRule *d = l->devices + i;
                char major[24] = "*", minor[24] = "*";
                int r;

                if (d->major >= 0)
                        (void) snprintf(major, sizeof(major), "%" PRIi64, d->major);
                if (d->minor >= 0)
                        (void) snprintf(minor, sizeof(minor), "%" PRIi64, d->minor);
                /* "a" means every device, with no numbers after it. */
                if (d->type == 'a')
                        r = cg_writef(dir, d->allow ? "devices.allow" : "devices.deny", "a");
                else
                        r = cg_writef(dir, d->allow ? "devices.allow" : "devices.deny",
                                      "%c %s:%s %s", d->type, major, minor, d->access);
                if (r < 0) {
                        if (ret_reason)
                                *ret_reason = "cannot write a device rule";
                        return r;
                }
        }
        return 0;
}

static int v1_apply(Cgroup *cg, const CgroupLimits *l, const char **ret_reason) {
        const char *dir;
        int r;

        if (l->cpu_shares != CGROUP_LIMIT_UNSET || l->cpu_quota_usec != CGROUP_LIMIT_UNSET ||
            l->cpu_period_usec != CGROUP_LIMIT_UNSET) {
                r = v1_dir(cg, CGROUP_V1_CPU, ret_reason, &dir);
                if (r < 0)
                        return r;
                if (l->cpu_shares != CGROUP_LIMIT_UNSET)
                        V1_WRITE(dir, "cpu.shares", ret_reason, "%" PRIu64, l->cpu_shares);
                if (l->cpu_period_usec != CGROUP_LIMIT_UNSET)
                        V1_WRITE(dir, "cpu.cfs_period_us", ret_reason, "%" PRIu64,
                                 l->cpu_period_usec);
                else if (l->cpu_quota_usec != CGROUP_LIMIT_UNSET)
                        V1_WRITE(dir, "cpu.cfs_period_us", ret_reason, "%" PRIu64,
                                 CGROUP_CPU_PERIOD_DEFAULT_USEC);
                if (l->cpu_quota_usec != CGROUP_LIMIT_UNSET)
                        V1_WRITE(dir, "cpu.cfs_quota_us", ret_reason, "%" PRIi64,
                                 l->cpu_quota_usec == CGROUP_LIMIT_MAX
                                         ? INT64_C(-1)
                                         : (int64_t) l->cpu_quota_usec);
        }

        if (l->cpuset_cpus || l->cpuset_mems) {
                r = v1_dir(cg, CGROUP_V1_CPUSET, ret_reason, &dir);
                if (r < 0)
                        return r;
                if (l->cpuset_cpus)
                        V1_WRITE(dir, "cpuset.cpus", ret_reason, "%s", l->cpuset_cpus);
                if (l->cpuset_mems)
                        V1_WRITE(dir, "cpuset.mems", ret_reason, "%s", l->cpuset_mems);
        }

        if (l->memory_limit_bytes != CGROUP_LIMIT_UNSET ||
            l->memory_swap_bytes != CGROUP_LIMIT_UNSET) {
                r = v1_dir(cg, CGROUP_V1_MEMORY, ret_reason, &dir);
                if (r < 0)
                        return r;
                r = v1_apply_memory(dir, l, ret_reason);
                if (r < 0)
                        return r;
        }

        if (l->pids_limit != CGROUP_LIMIT_UNSET) {
                r = v1_dir(cg, CGROUP_V1_PIDS, ret_reason, &dir);
                if (r < 0)
                        return r;
                if (l->pids_limit == CGROUP_LIMIT_MAX)
                        V1_WRITE(dir, "pids.max", ret_reason, "max");
                else
                        V1_WRITE(dir, "pids.max", ret_reason, "%" PRIu64, l->pids_limit);
        }

        if (l->devices_set || l->n_devices > 0) {
                r = v1_dir(cg, CGROUP_V1_DEVICES, ret_reason, &dir);
                if (r < 0)
                        return r;
                r = v1_apply_devices(dir, l, ret_reason);
                if (r < 0)
                        return r;
                /* The unified hierarchy enforces device programs as well, and both must allow
                 * an access: with the program there, nothing passes on a hybrid host that a
                 * v2 host would deny. A kernel without device programs still has the v1
                 * controller. */
                if (cg->unified_dir) {
                        const char *reason = NULL;

                        r = cg_devices_bpf_apply(cg->unified_dir, l->devices, l->n_devices,
                                                 &reason);
                        if (r == -EOPNOTSUPP)
                                log_debug_errno(r, "No device program for '%s' (%s), ignoring: %m",
                                                cg->path, reason);
                        else if (r < 0) {
                                if (ret_reason)
                                        *ret_reason = reason;
                                return r;
                        }
                }
        }
        return 0;
}

static int v1_add_pid(Cgroup *cg, pid_t pid) {
        int r;

        for (CgroupV1Controller c = 0; c < _CGROUP_V1_MAX; c++) {
                if (!cg->v1_dirs[c] || v1_is_duplicate(cg, c))
                        continue;
                r = cg_writef(cg->v1_dirs[c], "cgroup.procs", "%d", (int) pid);
                if (r < 0)
                        return r;
        }
        if (cg->unified_dir) {
                r = cg_writef(cg->unified_dir, "cgroup.procs", "%d", (int) pid);
                if (r < 0)
                        return r;
        }
        return 0;
}

static bool unified_has(const Cgroup *cg, const char *file) {
        _cleanup_free_ char *p = NULL;

        if (!cg->unified_dir)
                return false;
        p = path_join(cg->unified_dir, file);
        return p && access(p, F_OK) >= 0;
}

static int v1_freeze(Cgroup *cg, bool frozen) {
        const char *want = frozen ? "FROZEN" : "THAWED";
        const char *dir;
        int r;

        if (unified_has(cg, "cgroup.freeze")) {
                r = cg_write(cg->unified_dir, "cgroup.freeze", frozen ? "1" : "0");
                if (r < 0)
                        return r;
                return cg_wait_key(cg->unified_dir, "cgroup.events", "frozen", frozen);
        }

        r = v1_dir(cg, CGROUP_V1_FREEZER, NULL, &dir);
        if (r < 0)
                return r;
        r = cg_write(dir, "freezer.state", want);
        if (r < 0)
                return r;
        /* FREEZING may show for a while; re-writing FROZEN retries tasks that were busy. */
        for (unsigned i = 0; i < 5000; i++) {
                _cleanup_free_ char *state = NULL;

                r = cg_read(dir, "freezer.state", &state);
                if (r < 0)
                        return r;
                if (streq(strstrip(state), want))
                        return 0;
                cg_poll_sleep();
                if (frozen)
                        (void) cg_write(dir, "freezer.state", want);
        }
        return -ETIMEDOUT;
}

static const char *v1_procs_dir(const Cgroup *cg) {
        static const CgroupV1Controller order[] = {
                CGROUP_V1_FREEZER, CGROUP_V1_PIDS,   CGROUP_V1_MEMORY,  CGROUP_V1_CPU,
                CGROUP_V1_CPUACCT, CGROUP_V1_CPUSET, CGROUP_V1_DEVICES,
        };

        for (size_t i = 0; i < ELEMENTSOF(order); i++)
                if (cg->v1_dirs[order[i]])
                        return cg->v1_dirs[order[i]];
        return cg->unified_dir;
}

static int v1_kill(Cgroup *cg) {
        const char *dir;

        if (unified_has(cg, "cgroup.kill"))
                return cg_write(cg->unified_dir, "cgroup.kill", "1");
        dir = v1_procs_dir(cg);
        if (!dir)
                return -EOPNOTSUPP;
        return cg_kill_by_pids(cg, dir);
}

static int v1_is_populated(Cgroup *cg) {
        _cleanup_free_ pid_t *pids = NULL;
        const char *dir;
        uint64_t v;
        size_t n;
        int r;

        if (unified_has(cg, "cgroup.events")) {
                r = cg_read_key_u64(cg->unified_dir, "cgroup.events", "populated", &v);
                if (r < 0)
                        return r;
                return v > 0;
        }
        dir = v1_procs_dir(cg);
        if (!dir)
                return -EOPNOTSUPP;
        r = cg_read_pids(dir, &pids, &n);
        if (r < 0)
                return r;
        return n > 0;
}

static int v1_get_stats(Cgroup *cg, CgroupStats *s) {
        const char *acct = cg->v1_dirs[CGROUP_V1_CPUACCT], *cpu = cg->v1_dirs[CGROUP_V1_CPU],
                   *mem = cg->v1_dirs[CGROUP_V1_MEMORY], *pids = cg->v1_dirs[CGROUP_V1_PIDS];
        const struct {
                const char *dir, *file, *key;
                uint64_t divisor;
                uint64_t *v;
        } stats[] = {
                { acct, "cpuacct.usage", NULL, 1000, &s->cpu_usage_usec },
                { acct, "cpuacct.usage_user", NULL, 1000, &s->cpu_user_usec },
                { acct, "cpuacct.usage_sys", NULL, 1000, &s->cpu_system_usec },
                { cpu, "cpu.stat", "nr_periods", 1, &s->cpu_nr_periods },
                { cpu, "cpu.stat", "nr_throttled", 1, &s->cpu_nr_throttled },
                { cpu, "cpu.stat", "throttled_time", 1000, &s->cpu_throttled_usec },
                { mem, "memory.usage_in_bytes", NULL, 1, &s->memory_current_bytes },
                { mem, "memory.max_usage_in_bytes", NULL, 1, &s->memory_peak_bytes },
                { mem, "memory.oom_control", "oom_kill", 1, &s->oom_kill_count },
                { pids, "pids.current", NULL, 1, &s->pids_current },
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

static int v1_destroy(Cgroup *cg) {
        int r = 0, k;

        for (CgroupV1Controller c = 0; c < _CGROUP_V1_MAX; c++) {
                if (!cg->v1_dirs[c] || v1_is_duplicate(cg, c))
                        continue;
                k = cg_rmdir(cg->v1_dirs[c]);
                if (k < 0 && r == 0)
                        r = k;
        }
        if (cg->unified_dir) {
                k = cg_rmdir(cg->unified_dir);
                if (k < 0 && r == 0)
                        r = k;
        }
        return r;
}

const CgroupOps cgroup_v1_ops = {
        .create = v1_create,
        .open = v1_open,
        .apply = v1_apply,
        .add_pid = v1_add_pid,
        .freeze = v1_freeze,
        .kill = v1_kill,
        .is_populated = v1_is_populated,
        .get_stats = v1_get_stats,
        .destroy = v1_destroy,
};
