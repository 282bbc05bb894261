/* SPDX-License-Identifier: Apache-2.0 */
/* cgroup.c: mode detection, limit validation, the ops-table dispatch and shared file helpers. */
#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "cgroup-internal.h"
#include "fileio.h"
#include "log.h"
#include "parse-util.h"
#include "path-util.h"
#include "string-util.h"

#define CG_WAIT_USEC UINT64_C(5000000)
#define CG_POLL_USEC UINT64_C(1000)

static const char *const cgroup_mode_table[_CGROUP_MODE_MAX] = {
        [CGROUP_MODE_V1] = "v1",
        [CGROUP_MODE_V2] = "v2",
        [CGROUP_MODE_HYBRID] = "hybrid",
};

const char *cgroup_mode_to_string(CgroupMode m) {
        if (m < 0 || m >= _CGROUP_MODE_MAX)
                return NULL;
        return cgroup_mode_table[m];
}

static int statfs_magic(const char *path, const char *sub, long *ret) {
        _cleanup_free_ char *p = path_join(path, sub);
        struct statfs sfs;

        if (!p)
                return -ENOMEM;
        if (statfs(p, &sfs) < 0)
                return -errno;
        *ret = (long) sfs.f_type;
        return 0;
}

CgroupMode cgroup_detect(const char *root) {
        static const char *const v1_names[] = { "memory", "cpu", "pids", "freezer", "cpuset" };
        bool have_v1 = false;
        long magic;
        int r;

        root = root ?: CGROUP_ROOT_DEFAULT;
        r = statfs_magic(root, NULL, &magic);
        if (r < 0)
                return r;
        if (magic == CGROUP2_SUPER_MAGIC)
                return CGROUP_MODE_V2;

        for (size_t i = 0; i < ELEMENTSOF(v1_names); i++)
                if (statfs_magic(root, v1_names[i], &magic) >= 0 && magic == CGROUP_SUPER_MAGIC) {
                        have_v1 = true;
                        break;
                }
        if (!have_v1)
                return -ENOMEDIUM;

        if (statfs_magic(root, "unified", &magic) >= 0 && magic == CGROUP2_SUPER_MAGIC)
                return CGROUP_MODE_HYBRID;
        return CGROUP_MODE_V1;
}

uint64_t cgroup_shares_to_weight(uint64_t shares) {
        shares = CLAMP(shares, CGROUP_CPU_SHARES_MIN, CGROUP_CPU_SHARES_MAX);
        return 1 + ((shares - 2) * 9999) / 262142;
}

/* "0-3,5": comma-separated numbers and ascending ranges. */
static bool cpuset_list_is_valid(const char *s) {
        if (isempty(s))
                return false;
        for (;;) {
                char *end;
                unsigned long a, b;

                if (*s < '0' || *s > '9')
                        return false;
                a = strtoul(s, &end, 10);
                s = end;
                if (*s == '-') {
                        s++;
                        if (*s < '0' || *s > '9')
                                return false;
                        b = strtoul(s, &end, 10);
                        s = end;
                        if (b < a)
                                return false;
                }
                if (*s == '\0')
                        return true;
                if (*s != ',')
                        return false;
                s++;
        }
}

static int fail(const char **ret_reason, const char *reason, int r) {
        if (ret_reason)
                *ret_reason = reason;
        return r;
}

static bool access_is_valid(const char *a) {
        if (isempty(a) || strlen(a) > 3)
                return false;
        for (const char *p = a; *p; p++)
                if (!strchr("rwm", *p) || strchr(p + 1, *p))
                        return false;
        return true;
}

int cgroup_limits_validate(const CgroupLimits *l, CgroupMode mode, const char **ret_reason) {
        if (!l)
                return fail(ret_reason, "no limits", -EINVAL);
        if (mode < 0 || mode >= _CGROUP_MODE_MAX)
                return fail(ret_reason, "invalid cgroup mode", -EINVAL);

        if (l->cpu_quota_usec != CGROUP_LIMIT_UNSET && l->cpu_quota_usec != CGROUP_LIMIT_MAX &&
            l->cpu_quota_usec < CGROUP_CPU_QUOTA_MIN_USEC)
                return fail(ret_reason, "cpu quota must be at least 1000 us", -EINVAL);
        if (l->cpu_period_usec != CGROUP_LIMIT_UNSET &&
            (l->cpu_period_usec < CGROUP_CPU_PERIOD_MIN_USEC ||
             l->cpu_period_usec > CGROUP_CPU_PERIOD_MAX_USEC))
                return fail(ret_reason, "cpu period must be between 1000 and 1000000 us", -EINVAL);
        if (l->cpu_shares != CGROUP_LIMIT_UNSET &&
            (l->cpu_shares < CGROUP_CPU_SHARES_MIN || l->cpu_shares > CGROUP_CPU_SHARES_MAX))
                return fail(ret_reason, "cpu shares must be between 2 and 262144", -EINVAL);
        if (l->cpuset_cpus && !cpuset_list_is_valid(l->cpuset_cpus))
                return fail(ret_reason, "cpuset cpus is not a list like '0-3,5'", -EINVAL);
        if (l->cpuset_mems && !cpuset_list_is_valid(l->cpuset_mems))
                return fail(ret_reason, "cpuset mems is not a list like '0-1'", -EINVAL);

        if (l->memory_limit_bytes != CGROUP_LIMIT_UNSET &&
            l->memory_limit_bytes != CGROUP_LIMIT_MAX &&
            l->memory_limit_bytes < CGROUP_MEMORY_MIN_BYTES)
                return fail(ret_reason, "memory limit must be at least 4096 bytes", -EINVAL);
        if (l->memory_swap_bytes != CGROUP_LIMIT_UNSET &&
            l->memory_swap_bytes != CGROUP_LIMIT_MAX) {
                if (l->memory_limit_bytes == CGROUP_LIMIT_UNSET ||
                    l->memory_limit_bytes == CGROUP_LIMIT_MAX)
                        return fail(ret_reason, "memory swap needs a memory limit", -EINVAL);
                if (l->memory_swap_bytes < l->memory_limit_bytes)
                        return fail(ret_reason,
                                    "memory swap (memory plus swap) is below the memory limit",
                                    -EINVAL);
        }
        if (l->pids_limit == 0)
                return fail(ret_reason, "pids limit must be at least 1", -EINVAL);

        if (l->n_devices > 0 && !l->devices)
                return fail(ret_reason, "device rules missing", -EINVAL);
        for (size_t i = 0; i < l->n_devices; i++) {
                const CgroupDeviceRule *d = l->devices + i;

                if (d->type == '\0' || !strchr("acb", d->type))
                        return fail(ret_reason, "device rule type must be 'a', 'c' or 'b'",
                                    -EINVAL);
                if (d->major < -1 || d->minor < -1 || d->major > UINT32_MAX ||
                    d->minor > UINT32_MAX)
                        return fail(ret_reason, "device rule major/minor out of range", -EINVAL);
                if (!access_is_valid(d->access))
                        return fail(ret_reason, "device rule access must be a subset of 'rwm'",
                                    -EINVAL);
        }
        return 0;
}

static int cgroup_alloc(const char *root, CgroupMode mode, const char *path, Cgroup **ret) {
        _cleanup_(cgroup_freep) Cgroup *cg = NULL;

        if (mode < 0 || mode >= _CGROUP_MODE_MAX)
                return -EINVAL;
        if (!path_is_safe_relative(path) || !path_is_normalized(path))
                return -EINVAL;
        root = root ?: CGROUP_ROOT_DEFAULT;
        if (!path_is_absolute(root))
                return -EINVAL;

        cg = calloc(1, sizeof(Cgroup));
        if (!cg)
                return -ENOMEM;
        cg->mode = mode;
        cg->ops = mode == CGROUP_MODE_V2 ? &cgroup_v2_ops : &cgroup_v1_ops;
        cg->root = strdup(root);
        cg->path = strdup(path);
        if (!cg->root || !cg->path)
                return -ENOMEM;
        *ret = TAKE_PTR(cg);
        return 0;
}

static void cgroup_rollback(Cgroup *cg) {
        for (size_t n = strv_length(cg->created); n > 0; n--)
                if (rmdir(cg->created[n - 1]) < 0 && errno != ENOENT)
                        log_debug_errno(errno, "Failed to remove '%s' on rollback, ignoring: %m",
                                        cg->created[n - 1]);
}

int cgroup_new(const char *root, CgroupMode mode, const char *path, const CgroupLimits *limits,
               const char **ret_reason, Cgroup **ret) {
        _cleanup_(cgroup_freep) Cgroup *cg = NULL;
        int r;

        if (!ret)
                return -EINVAL;
        if (limits) {
                r = cgroup_limits_validate(limits, mode, ret_reason);
                if (r < 0)
                        return r;
        }
        r = cgroup_alloc(root, mode, path, &cg);
        if (r < 0)
                return fail(ret_reason, "invalid cgroup root, mode or path", r);

        r = cg->ops->create(cg);
        if (r < 0) {
                cgroup_rollback(cg);
                return fail(ret_reason, "cannot create the cgroup directories", r);
        }
        if (limits) {
                r = cg->ops->apply(cg, limits, ret_reason);
                if (r < 0) {
                        cgroup_rollback(cg);
                        return r;
                }
        }
        cg->created = strv_free(cg->created);
        *ret = TAKE_PTR(cg);
        return 0;
}

int cgroup_open(const char *root, CgroupMode mode, const char *path, Cgroup **ret) {
        _cleanup_(cgroup_freep) Cgroup *cg = NULL;
        int r;

        if (!ret)
                return -EINVAL;
        r = cgroup_alloc(root, mode, path, &cg);
        if (r < 0)
                return r;
        r = cg->ops->open(cg);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(cg);
        return 0;
}

Cgroup *cgroup_free(Cgroup *cg) {
        if (!cg)
                return NULL;
        for (size_t i = 0; i < _CGROUP_V1_MAX; i++)
                free(cg->v1_dirs[i]);
        free(cg->unified_dir);
        strv_free(cg->created);
        free(cg->root);
        free(cg->path);
        return mfree(cg);
}

CgroupMode cgroup_get_mode(const Cgroup *cg) {
        return cg ? cg->mode : _CGROUP_MODE_INVALID;
}

const char *cgroup_get_path(const Cgroup *cg) {
        return cg ? cg->path : NULL;
}

int cgroup_apply(Cgroup *cg, const CgroupLimits *limits, const char **ret_reason) {
        int r;

        if (!cg)
                return fail(ret_reason, "no cgroup", -EINVAL);
        r = cgroup_limits_validate(limits, cg->mode, ret_reason);
        if (r < 0)
                return r;
        return cg->ops->apply(cg, limits, ret_reason);
}

int cgroup_add_pid(Cgroup *cg, pid_t pid) {
        if (!cg || pid <= 0)
                return -EINVAL;
        return cg->ops->add_pid(cg, pid);
}

int cgroup_freeze(Cgroup *cg) {
        if (!cg)
                return -EINVAL;
        return cg->ops->freeze(cg, true);
}

int cgroup_thaw(Cgroup *cg) {
        if (!cg)
                return -EINVAL;
        return cg->ops->freeze(cg, false);
}

int cgroup_kill(Cgroup *cg) {
        if (!cg)
                return -EINVAL;
        return cg->ops->kill(cg);
}

int cgroup_is_populated(Cgroup *cg) {
        if (!cg)
                return -EINVAL;
        return cg->ops->is_populated(cg);
}

int cgroup_get_stats(Cgroup *cg, CgroupStats *ret) {
        CgroupStats s;
        int r;

        if (!cg || !ret)
                return -EINVAL;
        s = (CgroupStats){
                .cpu_usage_usec = CGROUP_STAT_UNKNOWN,
                .cpu_user_usec = CGROUP_STAT_UNKNOWN,
                .cpu_system_usec = CGROUP_STAT_UNKNOWN,
                .cpu_nr_periods = CGROUP_STAT_UNKNOWN,
                .cpu_nr_throttled = CGROUP_STAT_UNKNOWN,
                .cpu_throttled_usec = CGROUP_STAT_UNKNOWN,
                .memory_current_bytes = CGROUP_STAT_UNKNOWN,
                .memory_peak_bytes = CGROUP_STAT_UNKNOWN,
                .pids_current = CGROUP_STAT_UNKNOWN,
                .oom_kill_count = CGROUP_STAT_UNKNOWN,
        };
        r = cg->ops->get_stats(cg, &s);
        if (r < 0)
                return r;
        *ret = s;
        return 0;
}

int cgroup_destroy(Cgroup *cg) {
        if (!cg)
                return -EINVAL;
        return cg->ops->destroy(cg);
}

/* Shared helpers. */

int cg_write(const char *dir, const char *file, const char *value) {
        _cleanup_free_ char *p = path_join(dir, file);
        _cleanup_close_ int fd = -EBADF;
        size_t len = strlen(value);
        ssize_t n;

        if (!p)
                return -ENOMEM;
        fd = open(p, O_WRONLY | O_CLOEXEC | O_TRUNC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        n = write(fd, value, len);
        if (n < 0)
                return log_debug_errno(errno, "Failed to write '%s' to '%s': %m", value, p);
        if ((size_t) n != len)
                return -EIO;
        return 0;
}

int cg_writef(const char *dir, const char *file, const char *format, ...) {
        _cleanup_free_ char *v = NULL;
        va_list ap;
        int r;

        va_start(ap, format);
        r = vasprintf(&v, format, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        return cg_write(dir, file, v);
}

int cg_read(const char *dir, const char *file, char **ret) {
        _cleanup_free_ char *p = path_join(dir, file);

        if (!p)
                return -ENOMEM;
        return read_full_file(p, 1024 * 1024, ret, NULL);
}

int cg_read_u64(const char *dir, const char *file, uint64_t *ret) {
        _cleanup_free_ char *s = NULL;
        int r;

        r = cg_read(dir, file, &s);
        if (r < 0)
                return r;
        strstrip(s);
        if (streq(s, "max")) {
                *ret = CGROUP_LIMIT_MAX;
                return 0;
        }
        return safe_atou64(s, ret);
}

int cg_read_key_u64(const char *dir, const char *file, const char *key, uint64_t *ret) {
        _cleanup_free_ char *s = NULL;
        size_t klen = strlen(key);
        int r;

        r = cg_read(dir, file, &s);
        if (r < 0)
                return r;
        for (char *line = s, *next; line && *line; line = next) {
                next = strchr(line, '\n');
                if (next)
                        *next++ = '\0';
                if (strneq(line, key, klen) && line[klen] == ' ')
                        return safe_atou64(strstrip(line + klen + 1), ret);
        }
        return -ENOENT;
}

int cg_read_stat(const char *dir, const char *file, const char *key, uint64_t divisor,
                 uint64_t *v) {
        uint64_t x;
        int r;

        assert(divisor > 0);
        if (!dir)
                return 0;
        r = key ? cg_read_key_u64(dir, file, key, &x) : cg_read_u64(dir, file, &x);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        *v = x / divisor;
        return 0;
}

int cg_mkdir(Cgroup *cg, const char *dir) {
        if (mkdir(dir, 0755) < 0)
                return -errno;
        return strv_extend(&cg->created, dir);
}

int cg_mkdir_parents(Cgroup *cg, const char *dir) {
        _cleanup_free_ char *parent = NULL;
        struct stat st;
        int r;

        r = path_dirname(dir, &parent);
        if (r < 0)
                return r;
        if (stat(parent, &st) < 0) {
                if (errno != ENOENT)
                        return -errno;
                r = cg_mkdir_parents(cg, parent);
                if (r < 0)
                        return r;
        } else if (!S_ISDIR(st.st_mode))
                return -ENOTDIR;
        return cg_mkdir(cg, dir);
}

int cg_rmdir(const char *dir) {
        if (rmdir(dir) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

int cg_read_pids(const char *dir, pid_t **ret, size_t *ret_n) {
        _cleanup_free_ char *s = NULL;
        _cleanup_free_ pid_t *pids = NULL;
        size_t n = 0, allocated = 0;
        int r;

        r = cg_read(dir, "cgroup.procs", &s);
        if (r < 0)
                return r;
        for (char *line = s, *next; line && *line; line = next) {
                int pid;

                next = strchr(line, '\n');
                if (next)
                        *next++ = '\0';
                r = safe_atoi(line, &pid);
                if (r < 0 || pid <= 0)
                        return -EBADMSG;
                if (n == allocated) {
                        size_t na = MAX(allocated * 2, (size_t) 16);
                        pid_t *np = reallocarray(pids, na, sizeof(pid_t));

                        if (!np)
                                return -ENOMEM;
                        pids = np;
                        allocated = na;
                }
                pids[n++] = pid;
        }
        *ret = TAKE_PTR(pids);
        *ret_n = n;
        return 0;
}

void cg_poll_sleep(void) {
        struct timespec ts = { .tv_nsec = CG_POLL_USEC * 1000 };

        (void) nanosleep(&ts, NULL);
}

int cg_wait_key(const char *dir, const char *file, const char *key, uint64_t want) {
        for (uint64_t waited = 0;; waited += CG_POLL_USEC) {
                uint64_t v;
                int r;

                r = cg_read_key_u64(dir, file, key, &v);
                if (r < 0)
                        return r;
                if (v == want)
                        return 0;
                if (waited >= CG_WAIT_USEC)
                        return -ETIMEDOUT;
                cg_poll_sleep();
        }
}

int cg_kill_by_pids(Cgroup *cg, const char *procs_dir) {
        for (uint64_t waited = 0;; waited += CG_POLL_USEC) {
                _cleanup_free_ pid_t *pids = NULL;
                size_t n;
                int r, k;

                r = cg_read_pids(procs_dir, &pids, &n);
                if (r < 0)
                        return r;
                if (n == 0)
                        return 0;
                if (waited >= CG_WAIT_USEC)
                        return -EBUSY;
                pids = mfree(pids);

                /* Frozen, nothing can fork between reading the list and the kill. */
                r = cg->ops->freeze(cg, true);
                if (r < 0)
                        return r;
                r = cg_read_pids(procs_dir, &pids, &n);
                if (r >= 0)
                        for (size_t i = 0; i < n; i++)
                                if (kill(pids[i], SIGKILL) < 0 && errno != ESRCH)
                                        r = -errno;
                k = cg->ops->freeze(cg, false);
                if (r < 0)
                        return r;
                if (k < 0)
                        return k;
                cg_poll_sleep();
        }
}
