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
typedef struct Images Images;

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
        /* The image side (runtime-images.c, only in zl-runtimed): set and freed by its owner. */
        Images *images;
        /* Where "private" containers are attached (zl-netd in zl-runtimed); NULL: nowhere, they
         * keep loopback only. Set by manager_set_network_backend(). */
        const NetworkBackend *network;
        void *network_userdata;

        uint64_t created_total;
        uint64_t removed_total;
        uint64_t oom_total;
        uint64_t monitors_lost_total;
        uint64_t exec_total;
        uint64_t exec_stream_total;
        uint64_t logs_opened_total;
};

/* "zlayer/<id>". */
int runtime_cgroup_path(const char *id, char **ret);
/* "2026-01-02T03:04:05.123456Z" in buf, or NULL for 0 (not yet). */
char *runtime_format_rfc3339(usec_t t, char buf[static 64]);

/* runtime-exec.c */
void manager_exec_free_all(Manager *m);

/* What a container made from an image runs: the image's layers and the parts of its config that
 * decide the process, as the image store gives them. */
typedef struct ContainerImage {
        const char *ref; /* the normalized reference: the container's Image */
        const char *digest; /* the manifest digest, recorded in the container's options */
        char *const *lowers; /* overlay lowerdirs, top layer first */
        char *const *entrypoint, *const *cmd, *const *env; /* NULL: unset */
        const char *working_dir, *user, *stop_signal; /* NULL or "": unset */
        char *const *exposed_ports; /* "80/tcp" */
        char *const *entrypoint_override; /* the "entrypoint" option; NULL: unset */
} ContainerImage;

/* runtime-container.c: the config for a container from an image with Docker's semantics:
 * entrypoint_override (which drops the image's Cmd) or Entrypoint, then args or Cmd; the image's
 * Env under the "env" option; WorkingDir unless "cwd"; User unless "user", resolved in
 * user_root's /etc/passwd and /etc/group (NULL: the user is not resolved, root); StopSignal.
 * root_path is the (existing, empty) mount point of the overlay. */
int container_config_build_image(const ContainerImage *img, const char *root_path,
                                 const char *user_root, const ContainerOptions *o,
                                 ContainerConfig *ret, char **ret_error);

/* runtime-container.c: records what InspectContainer shows of the image in the container's
 * options: "image_digest" and "exposed_ports" (normalized "80/tcp", a bare port being tcp, each
 * once). -EBADMSG with *ret_error for an entry that is not PORT[/tcp|udp|sctp]. */
int container_image_annotate(const ContainerImage *img, json_t *options, char **ret_error);

/* runtime-manager.c: CreateContainer for an image already in the store. The root is an overlay
 * of img->lowers with an upper and work directory in the container's directory, mounted by the
 * engine inside the container. Errors as manager_create(). */
int manager_create_image(Manager *m, const char *name, const ContainerOptions *o,
                         const ContainerImage *img, Container **ret, char **ret_error);
