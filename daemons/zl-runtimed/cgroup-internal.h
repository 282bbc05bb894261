/* SPDX-License-Identifier: Apache-2.0 */
/* cgroup-internal.h: the per-version ops table and the file helpers cgroup-v1.c and
 * cgroup-v2.c share. Not for use outside the cgroup module. */
#pragma once

#include "cgroup.h"

/* v1 controllers we use, each on its own hierarchy <root>/<name> (possibly co-mounted, then
 * several entries resolve to one directory). */
typedef enum CgroupV1Controller {
        CGROUP_V1_CPU,
        CGROUP_V1_CPUACCT,
        CGROUP_V1_CPUSET,
        CGROUP_V1_MEMORY,
        CGROUP_V1_DEVICES,
        CGROUP_V1_FREEZER,
        CGROUP_V1_PIDS,
        _CGROUP_V1_MAX,
} CgroupV1Controller;

typedef struct CgroupOps {
        /* Creates the directories; records each it made with cg_created_push() for rollback. */
        int (*create)(Cgroup *cg);
        /* Checks the directories exist (cgroup_open). */
        int (*open)(Cgroup *cg);
        int (*apply)(Cgroup *cg, const CgroupLimits *l, const char **ret_reason);
        int (*add_pid)(Cgroup *cg, pid_t pid);
        int (*freeze)(Cgroup *cg, bool frozen);
        int (*kill)(Cgroup *cg);
        int (*is_populated)(Cgroup *cg);
        int (*get_stats)(Cgroup *cg, CgroupStats *ret);
        int (*destroy)(Cgroup *cg);
} CgroupOps;

struct Cgroup {
        CgroupMode mode;
        const CgroupOps *ops;
        char *root;
        char *path; /* relative to each hierarchy's root */
        /* v1/hybrid: the cgroup's directory in each controller's hierarchy, NULL where that
         * hierarchy is not mounted. */
        char *v1_dirs[_CGROUP_V1_MAX];
        /* v2: the cgroup's directory; hybrid: its directory in the unified hierarchy, or NULL
         * when that is unusable. */
        char *unified_dir;
        /* Directories created by cgroup_new, in creation order, removed in reverse on failure. */
        char **created;
};

extern const CgroupOps cgroup_v1_ops;
extern const CgroupOps cgroup_v2_ops;

/* Writes value to dir/file (which must exist: cgroupfs files are never created). */
int cg_write(const char *dir, const char *file, const char *value);
int cg_writef(const char *dir, const char *file, const char *format, ...) _printf_(3, 4);
int cg_read(const char *dir, const char *file, char **ret);
/* A single number; "max" reads as CGROUP_LIMIT_MAX. */
int cg_read_u64(const char *dir, const char *file, uint64_t *ret);
/* The value of "key N" in a flat-keyed file (cpu.stat, memory.events, cgroup.events). -ENOENT if
 * the key is missing. */
int cg_read_key_u64(const char *dir, const char *file, const char *key, uint64_t *ret);
/* One statistic for CgroupStats: the number in dir/file, or the value of key in it when key is
 * not NULL, divided by divisor. A missing directory, file or key leaves *v as it was (unknown);
 * other errors are returned. */
int cg_read_stat(const char *dir, const char *file, const char *key, uint64_t divisor, uint64_t *v);
/* mkdir, recording the directory in cg->created. -EEXIST if it exists. */
int cg_mkdir(Cgroup *cg, const char *dir);
/* Creates dir's missing parents (recorded), then dir itself (recorded; -EEXIST if present). */
int cg_mkdir_parents(Cgroup *cg, const char *dir);
/* rmdir; ENOENT is success. */
int cg_rmdir(const char *dir);
/* The pids of dir/cgroup.procs. */
int cg_read_pids(const char *dir, pid_t **ret, size_t *ret_n);
/* Polls dir/file until "key N" reads want, up to 5 s. */
int cg_wait_key(const char *dir, const char *file, const char *key, uint64_t want);
/* The fallback kill: freeze, SIGKILL every pid in procs_dir/cgroup.procs, thaw, until empty. */
int cg_kill_by_pids(Cgroup *cg, const char *procs_dir);
/* Pauses about a millisecond between polls. */
void cg_poll_sleep(void);

/* Device rules on cgroup2 (cgroup-devices-bpf.c), which has no devices controller: a
 * BPF_PROG_TYPE_CGROUP_DEVICE program under this name, one per cgroup. */
#define CG_DEVICES_BPF_NAME "zl_devices"

struct bpf_insn;

/* Compiles rules into the program (*ret is the caller's to free). Everything is denied unless
 * allowed; for each access bit a request asks for (r, w, m), the last rule that matches the
 * device and holds that bit decides, and the request passes only if every bit is allowed. */
int cg_devices_bpf_build(const CgroupDeviceRule *rules, size_t n, struct bpf_insn **ret,
                         size_t *ret_n);
/* Builds and loads the program for rules and attaches it to the cgroup2 directory dir,
 * replacing the one an earlier call attached there (programs of others stay). -EOPNOTSUPP
 * when the kernel has no cgroup device programs; *ret_reason (may be NULL) names the step
 * that failed. */
int cg_devices_bpf_apply(const char *dir, const CgroupDeviceRule *rules, size_t n,
                         const char **ret_reason);
/* How many of our device programs are attached to dir (1 after cg_devices_bpf_apply). */
int cg_devices_bpf_count(const char *dir);
