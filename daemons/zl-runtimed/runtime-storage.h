/* SPDX-License-Identifier: Apache-2.0 */
/* runtime-storage.h: CreateContainer's storage, devices, sysctls and privileged options. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "macro.h"

typedef enum StorageType {
        STORAGE_BIND,
        STORAGE_NAMED,
        STORAGE_ANONYMOUS,
        STORAGE_TMPFS,
        _STORAGE_TYPE_MAX,
        _STORAGE_TYPE_INVALID = -EINVAL,
} StorageType;

/* One entry of the spec's canonical storage array (SPEC.md, "Storage"). */
typedef struct StorageVolume {
        StorageType type;
        char *source; /* bind: an absolute host path that exists */
        char *name; /* named: 1-63 of [a-zA-Z0-9_.-], starting with a letter or digit */
        char *target; /* absolute and normalized, not "/" */
        bool readonly; /* bind, named */
        char *tier; /* named, anonymous: "local", "cached" or "network" */
        uint64_t size; /* named (recorded, not enforced), tmpfs; 0: unset */
        mode_t mode; /* tmpfs: 01777 unless given */
} StorageVolume;

typedef struct StorageList {
        StorageVolume *volumes;
        size_t n_volumes;
} StorageList;

void storage_list_done(StorageList *l);

/* Parses the "storage" option: a JSON array of volumes. NULL or "" is the empty list. Unknown
 * keys are ignored (the spec's canonical form carries defaults and more). -EINVAL with
 * *ret_error (may be NULL) "storage[2].target: ..." for anything wrong, among them a bind
 * source that does not exist, an s3 volume ("storage[i]: s3 volumes are not supported yet")
 * and a target given twice; -ENOMEM. */
int storage_parse(const char *json_text, StorageList *ret, char **ret_error);

/* Where a volume's host directory is: <volumes_dir>/<name> for a named one, and
 * <container_dir>/volumes/<index> for an anonymous one; NULL *ret for bind and tmpfs. */
int storage_volume_host_path(const StorageList *l, size_t index, const char *volumes_dir,
                             const char *container_dir, char **ret);

/* The path rel ("var/lib/data") as the overlay of the layer directories lowers (top first)
 * shows it: its lstat() and the path of the topmost copy. -ENOENT when it is absent, whited
 * out, or hidden by an opaque directory or a non-directory above it in a higher layer. */
int layers_lookup(char *const *lowers, const char *rel, struct stat *ret_st, char **ret_path);

/* Creates the host directories of the named volumes that do not exist yet and of the anonymous
 * ones: with the owner and mode of the target directory as the image's layers (lowers, top
 * first; NULL for a container without an image) show it, as Docker does, so that a volume on
 * a directory the image gives to a non-root user stays writable by it; 0755 root:root when
 * the image has no such directory. The image's files there are not copied into the volume.
 * *ret_created receives the named volume directories this call created, which the caller
 * removes when the container does not come into being. On failure nothing this call created is
 * left, and *ret_error (may be NULL) names the volume. */
int storage_prepare(const StorageList *l, const char *volumes_dir, const char *container_dir,
                    char *const *lowers, char ***ret_created, char **ret_error);

/* Appends the OCI mounts of the volumes to config's "mounts" (created if missing): binds with
 * "rbind" and "ro"/"rw", tmpfs with "size=" (when given) and "mode=". */
int storage_apply_mounts(json_t *config, const StorageList *l, const char *volumes_dir,
                         const char *container_dir, char **ret_error);

/* The "devices" option: a JSON array of {path, read, write, mknod} (read and write default to
 * true, mknod to false). Each host path is stat()ed: its type, major and minor, mode, owner go
 * to linux.devices (replacing an entry at the same path), and an allow rule with the access
 * asked for goes to linux.resources.devices (none when nothing is asked). -EINVAL with
 * *ret_error "devices[0].path: '/dev/nosuch': No such file or directory". */
int config_apply_devices(json_t *config, const char *devices_json, char **ret_error);

/* The "sysctls" option (key, value, key, value ...): set in linux.sysctl, after refusing (-EINVAL
 * with *ret_error) any key the namespaces in config's linux.namespaces do not isolate, as runc
 * does: kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.* need "ipc"; net.* needs "network";
 * kernel.hostname and kernel.domainname need "uts"; anything else is refused. Keys may use '/'
 * as the separator ("net/ipv4/ip_forward"). */
int config_apply_sysctls(json_t *config, char *const *sysctls, char **ret_error);
/* The type of the namespace that isolates the sysctl key (dotted): "ipc", "network" or "uts";
 * NULL when none does. */
const char *sysctl_namespace(const char *key) _pure_;

/* The parts of "privileged" that live in the config outside capabilities and seccomp: no masked
 * or read-only paths, /sys mounted read-write, every device allowed in the device cgroup. */
int config_apply_privileged(json_t *config, char **ret_error);
