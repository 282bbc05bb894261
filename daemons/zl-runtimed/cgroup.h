/* SPDX-License-Identifier: Apache-2.0 */
/* cgroup.h: one interface over cgroup v1, v2 and hybrid hierarchies for container limits. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "macro.h"

#define CGROUP_ROOT_DEFAULT "/sys/fs/cgroup"

typedef enum CgroupMode {
        /* Every controller on its own (or co-mounted) v1 hierarchy under the root. */
        CGROUP_MODE_V1,
        /* The root is itself a cgroup2 mount. */
        CGROUP_MODE_V2,
        /* v1 controllers, plus a cgroup2 mount at <root>/unified: limits go through v1, freeze,
         * kill and events through the unified hierarchy where its files exist. */
        CGROUP_MODE_HYBRID,
        _CGROUP_MODE_MAX,
        _CGROUP_MODE_INVALID = -EINVAL,
} CgroupMode;

/* Looks at the file systems mounted at root (NULL means CGROUP_ROOT_DEFAULT). Call it once at
 * start and pass the result to cgroup_new(). -ENOMEDIUM when root holds no cgroup mounts,
 * other -errno when it cannot be inspected. */
CgroupMode cgroup_detect(const char *root);
const char *cgroup_mode_to_string(CgroupMode m) _const_;

/* A limit field holds CGROUP_LIMIT_UNSET (leave the kernel's value alone), CGROUP_LIMIT_MAX
 * (explicitly unlimited, "max"/-1) or a value. */
#define CGROUP_LIMIT_UNSET UINT64_MAX
#define CGROUP_LIMIT_MAX (UINT64_MAX - 1)

#define CGROUP_CPU_PERIOD_DEFAULT_USEC UINT64_C(100000)
#define CGROUP_CPU_QUOTA_MIN_USEC UINT64_C(1000)
#define CGROUP_CPU_PERIOD_MIN_USEC UINT64_C(1000)
#define CGROUP_CPU_PERIOD_MAX_USEC UINT64_C(1000000)
#define CGROUP_CPU_SHARES_MIN UINT64_C(2)
#define CGROUP_CPU_SHARES_MAX UINT64_C(262144)
#define CGROUP_MEMORY_MIN_BYTES UINT64_C(4096)

/* One OCI device-cgroup rule. major/minor -1 is the wildcard '*'. */
typedef struct CgroupDeviceRule {
        bool allow;
        char type; /* 'a' (all), 'c' or 'b' */
        int64_t major;
        int64_t minor;
        const char *access; /* non-empty subset of "rwm" */
} CgroupDeviceRule;

typedef struct CgroupLimits {
        uint64_t cpu_quota_usec; /* >= 1 ms, or MAX */
        uint64_t cpu_period_usec; /* 1 ms .. 1 s; with a quota but unset: 100 ms */
        uint64_t cpu_shares; /* v1 shares 2..262144; v2 gets cgroup_shares_to_weight() */
        const char *cpuset_cpus; /* "0-3,5"; NULL = unset */
        const char *cpuset_mems;
        uint64_t memory_limit_bytes; /* >= CGROUP_MEMORY_MIN_BYTES, or MAX */
        /* Memory plus swap, as OCI and v1 memory.memsw count it (v2 writes the difference to
         * memory.swap.max). Needs a memory limit and must be at least as large. */
        uint64_t memory_swap_bytes;
        uint64_t pids_limit; /* >= 1, or MAX */
        /* When devices_set, every device is denied first and the rules are applied in order,
         * the last that matches winning. v1 writes them to devices.deny/allow; v2 attaches a
         * BPF device program built from them, and hybrid does both (the program on the
         * unified hierarchy), so the same rules hold everywhere. cgroup_apply() with new
         * rules replaces the earlier ones. */
        bool devices_set;
        const CgroupDeviceRule *devices;
        size_t n_devices;
} CgroupLimits;

#define CGROUP_LIMITS_INIT                                                                         \
        ((CgroupLimits){                                                                           \
                .cpu_quota_usec = CGROUP_LIMIT_UNSET,                                              \
                .cpu_period_usec = CGROUP_LIMIT_UNSET,                                             \
                .cpu_shares = CGROUP_LIMIT_UNSET,                                                  \
                .memory_limit_bytes = CGROUP_LIMIT_UNSET,                                          \
                .memory_swap_bytes = CGROUP_LIMIT_UNSET,                                           \
                .pids_limit = CGROUP_LIMIT_UNSET,                                                  \
        })

/* Checks limits for mode without touching the file system. -EINVAL for out-of-range or
 * malformed values, -EOPNOTSUPP for what mode cannot do; *ret_reason (may be NULL) then names
 * the problem in a static string. */
int cgroup_limits_validate(const CgroupLimits *l, CgroupMode mode, const char **ret_reason);

/* The standard conversion of v1 shares (2..262144) to v2 weight (1..10000): 1024 -> 39. */
uint64_t cgroup_shares_to_weight(uint64_t shares) _const_;

/* A statistic the hierarchy does not provide is CGROUP_STAT_UNKNOWN. */
#define CGROUP_STAT_UNKNOWN UINT64_MAX

typedef struct CgroupStats {
        uint64_t cpu_usage_usec;
        uint64_t cpu_user_usec;
        uint64_t cpu_system_usec;
        uint64_t cpu_nr_periods;
        uint64_t cpu_nr_throttled;
        uint64_t cpu_throttled_usec;
        uint64_t memory_current_bytes;
        uint64_t memory_peak_bytes; /* v1: memory.max_usage_in_bytes */
        uint64_t pids_current;
        uint64_t oom_kill_count;
} CgroupStats;

typedef struct Cgroup Cgroup;

/* Validates limits (may be NULL) and only then creates path (relative, e.g. "zlayer/<id>")
 * under root (NULL means CGROUP_ROOT_DEFAULT) in every hierarchy of mode, enabling the
 * controllers on v2 and seeding cpuset cpus/mems on v1, and applies the limits. An existing
 * cgroup at path is -EEXIST. On any failure every directory it created is removed again.
 * *ret_reason (may be NULL) explains validation and apply failures. */
int cgroup_new(const char *root, CgroupMode mode, const char *path, const CgroupLimits *limits,
               const char **ret_reason, Cgroup **ret);
/* Opens an existing cgroup (e.g. after a restart) without creating or changing anything:
 * -ENOENT if it is missing. */
int cgroup_open(const char *root, CgroupMode mode, const char *path, Cgroup **ret);
/* Frees the object only; the cgroup stays. */
Cgroup *cgroup_free(Cgroup *cg);
DEFINE_TRIVIAL_CLEANUP_FUNC(Cgroup *, cgroup_free);

CgroupMode cgroup_get_mode(const Cgroup *cg) _pure_;
const char *cgroup_get_path(const Cgroup *cg) _pure_;

/* Changes limits of an existing cgroup; unset fields are left alone. */
int cgroup_apply(Cgroup *cg, const CgroupLimits *limits, const char **ret_reason);
/* Moves the process pid (all its threads) into the cgroup in every hierarchy. */
int cgroup_add_pid(Cgroup *cg, pid_t pid);
/* Freezes or thaws every process and waits (up to 5 s, else -ETIMEDOUT) until done. */
int cgroup_freeze(Cgroup *cg);
int cgroup_thaw(Cgroup *cg);
/* SIGKILLs every process in the cgroup: cgroup.kill where it exists, else freeze, SIGKILL every
 * pid of cgroup.procs, thaw, repeated until no process is left (up to 5 s, else -EBUSY). */
int cgroup_kill(Cgroup *cg);
/* 1 if a process is in the cgroup (or its children), 0 if not. */
int cgroup_is_populated(Cgroup *cg);
int cgroup_get_stats(Cgroup *cg, CgroupStats *ret);
/* Removes the cgroup's directory in every hierarchy (not its parents). -EBUSY while processes
 * remain; directories already gone are fine, so it can be called again. */
int cgroup_destroy(Cgroup *cg);
