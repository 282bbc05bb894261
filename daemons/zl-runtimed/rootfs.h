/* SPDX-License-Identifier: Apache-2.0 */
/* rootfs.h: build a container's root file system (mounts, /dev, pivot_root, masked paths). */
#pragma once

#include <stdbool.h>

#include "cgroup.h"
#include "container.h"
#include "oci-config.h"

typedef struct RootfsOptions {
        const OciConfig *config;
        const char *root; /* absolute host path of the root directory */
        const ContainerOverlay *overlay; /* NULL, or mount this overlay on root first */
        bool in_user_namespace; /* devices are bind-mounted from the host, not mknod'ed */
        CgroupMode cgroup_mode; /* how to satisfy a mount of type "cgroup" */
        /* Called right after the pivot, before masked and read-only paths and root.readonly
         * are applied: what must still write /proc/sys or /dev (sysctls, the console) goes
         * here. A failure is returned as it is; the callback sets *ret_error. May be NULL. */
        int (*after_pivot)(void *userdata, char **ret_error);
        void *userdata;
} RootfsOptions;

/* Runs in the container's init, already in its own new mount namespace (and user namespace if
 * any), before anything else touches the file system. On success the process's root and cwd
 * are the container root ("/"), the host is no longer reachable, and all of the config's mounts,
 * devices, masked/readonly paths and root.readonly are in place. On failure -errno and
 * *ret_error (malloc'ed, may be NULL) naming the JSON place and the path:
 * "mounts[3] (/data): mount of '/nosuch' failed: No such file or directory". A failure leaves
 * the mount namespace half set up: the caller throws it away (the init exits). The umask is
 * 0 while this runs and restored afterwards. */
int rootfs_setup(const RootfsOptions *o, char **ret_error);
