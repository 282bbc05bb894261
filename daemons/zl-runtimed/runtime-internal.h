/* SPDX-License-Identifier: Apache-2.0 */
/* runtime-internal.h: what the manager's files share: the Manager itself and small helpers. */
#pragma once

#include <dirent.h>
#include <stdlib.h>

#include "cgroup.h"
#include "runtime-manager.h"

#define new0(t, n) ((t *) calloc((n), sizeof(t)))

static inline bool streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return strcmp(a, b) == 0;
}

static inline bool int_in_set(int x, const int *set, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (set[i] == x)
                        return true;
        return false;
}

#define IN_SET(x, ...)                                                                             \
        int_in_set((int) (x), (const int[]){ __VA_ARGS__ },                                        \
                   sizeof((const int[]){ __VA_ARGS__ }) / sizeof(int))

static inline void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}

typedef struct ExecOp ExecOp;

struct Manager {
        sd_event *event;
        char *state_dir;
        char *containers_dir;
        char *seccomp_cache_dir;
        char *monitor_path;
        ManagerCallbacks callbacks;
        void *userdata;
        CgroupMode cgroup_mode; /* < 0: no cgroups here (stats unavailable) */

        Container **containers; /* oldest first */
        size_t n_containers;

        ExecOp *execs;

        uint64_t created_total;
        uint64_t removed_total;
        uint64_t oom_total;
        uint64_t monitors_lost_total;
        uint64_t exec_total;
        uint64_t exec_stream_total;
        uint64_t logs_opened_total;
};

/* Removes path and everything below it (not following symlinks). */
int runtime_rm_rf(const char *path);
/* "zlayer/<id>". */
int runtime_cgroup_path(const char *id, char **ret);
/* "2026-01-02T03:04:05.123456Z" in buf, or NULL for 0 (not yet). */
char *runtime_format_rfc3339(usec_t t, char buf[static 64]);

/* runtime-exec.c */
void manager_exec_free_all(Manager *m);
