/* SPDX-License-Identifier: Apache-2.0 */
/* oci-config.h: the OCI runtime-spec config.json, parsed and validated into C structs. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "macro.h"

/* Extra mount behaviour that has no MS_* flag: the engine applies it itself. */
enum {
        OCI_MOUNT_TMPCOPYUP = 1U << 0, /* copy the lower directory into a fresh tmpfs */
        OCI_MOUNT_RRO = 1U << 1, /* recursive read-only (mount_setattr) */
};

typedef enum OciNamespaceType {
        OCI_NAMESPACE_PID,
        OCI_NAMESPACE_NETWORK,
        OCI_NAMESPACE_MOUNT,
        OCI_NAMESPACE_IPC,
        OCI_NAMESPACE_UTS,
        OCI_NAMESPACE_USER,
        OCI_NAMESPACE_CGROUP,
        OCI_NAMESPACE_TIME,
        _OCI_NAMESPACE_TYPE_MAX,
        _OCI_NAMESPACE_TYPE_INVALID = -EINVAL,
} OciNamespaceType;

typedef struct OciKeyValue {
        char *key;
        char *value;
} OciKeyValue;

typedef struct OciUser {
        uid_t uid;
        gid_t gid;
        bool has_umask;
        mode_t umask;
        gid_t *additional_gids;
        size_t n_additional_gids;
} OciUser;

/* Bit masks indexed by capability number (cap-util.h). */
typedef struct OciCapabilities {
        uint64_t bounding;
        uint64_t effective;
        uint64_t inheritable;
        uint64_t permitted;
        uint64_t ambient;
} OciCapabilities;

typedef struct OciRlimit {
        int type; /* RLIMIT_* */
        uint64_t soft;
        uint64_t hard;
} OciRlimit;

typedef struct OciProcess {
        bool terminal;
        OciUser user;
        char **args; /* never empty */
        char **env; /* "KEY=value", may be NULL */
        char *cwd; /* absolute */
        bool has_capabilities; /* false: the field was absent, so no capabilities at all */
        OciCapabilities capabilities;
        OciRlimit *rlimits;
        size_t n_rlimits;
        bool no_new_privileges;
        bool has_oom_score_adj;
        int oom_score_adj;
        char *apparmor_profile; /* kept, not applied */
        char *selinux_label; /* kept, not applied */
} OciProcess;

typedef struct OciMount {
        char *destination; /* absolute */
        char *type; /* may be NULL (bind mounts) */
        char *source; /* may be NULL */
        char **options; /* as given */
        unsigned long flags; /* MS_* without the propagation flags */
        unsigned long propagation; /* MS_PRIVATE/MS_SLAVE/MS_SHARED/MS_UNBINDABLE [|MS_REC], or 0 */
        unsigned extra; /* OCI_MOUNT_* */
        char *data; /* options the file system interprets ("mode=755,size=65536k"), or NULL */
} OciMount;

typedef struct OciNamespace {
        OciNamespaceType type;
        char *path; /* join this one instead of creating; NULL to create */
} OciNamespace;

typedef struct OciIdMapping {
        uint32_t container_id;
        uint32_t host_id;
        uint32_t size;
} OciIdMapping;

typedef struct OciDevice {
        char *path; /* absolute, inside the container */
        char type; /* 'c', 'b', 'p' or 'u' */
        int64_t major, minor; /* unused for 'p' */
        bool has_file_mode;
        mode_t file_mode; /* permission bits only */
        bool has_uid, has_gid;
        uid_t uid;
        gid_t gid;
} OciDevice;

typedef struct OciDeviceRule {
        bool allow;
        char type; /* 'a', 'c' or 'b' */
        int64_t major, minor; /* -1 is any */
        char access[4]; /* subset of "rwm", never empty */
} OciDeviceRule;

typedef struct OciResources {
        OciDeviceRule *devices;
        size_t n_devices;

        /* Memory in bytes; -1 is unlimited. */
        bool has_memory_limit, has_memory_reservation, has_memory_swap;
        int64_t memory_limit;
        int64_t memory_reservation;
        int64_t memory_swap; /* memory plus swap, as the spec defines it */

        bool has_cpu_shares, has_cpu_quota, has_cpu_period;
        uint64_t cpu_shares;
        int64_t cpu_quota; /* microseconds per period; -1 is unlimited */
        uint64_t cpu_period;
        char *cpu_cpus; /* cpuset list "0-3,5", NULL if unset */
        char *cpu_mems;

        bool has_pids_limit;
        int64_t pids_limit; /* -1 is unlimited */
} OciResources;

typedef struct OciLinux {
        OciNamespace *namespaces;
        size_t n_namespaces;
        OciIdMapping *uid_mappings, *gid_mappings;
        size_t n_uid_mappings, n_gid_mappings;
        OciDevice *devices;
        size_t n_devices;
        char *cgroups_path;
        OciResources resources;
        OciKeyValue *sysctl;
        size_t n_sysctl;
        /* The seccomp object as given (a reference we own), or NULL: seccomp.c validates it. */
        json_t *seccomp;
        char **masked_paths;
        char **readonly_paths;
        unsigned long rootfs_propagation; /* MS_* propagation flags, 0 if unset */
} OciLinux;

typedef struct OciConfig {
        char *oci_version;
        char *root_path; /* relative paths are relative to the bundle */
        bool root_readonly;
        OciProcess process;
        char *hostname;
        char *domainname;
        OciMount *mounts;
        size_t n_mounts;
        OciLinux linux_;
        OciKeyValue *annotations;
        size_t n_annotations;
} OciConfig;

/* Parses and validates a config.json. Errors are -EINVAL for anything wrong with the document
 * (syntax or content), -ENOMEM on OOM; then *ret_error (if not NULL) receives a message that
 * starts with the JSON path: "process.capabilities.bounding[2]: unknown capability 'CAP_FOO'",
 * or with "line:column:" for syntax errors. Unknown properties are ignored, as the spec
 * requires. */
int oci_config_parse(const char *json_text, size_t size, OciConfig **ret, char **ret_error);
/* The same for a file (at most 4 MiB); errors reading it are returned as they are, with a
 * message naming the file. */
int oci_config_load(const char *path, OciConfig **ret, char **ret_error);
OciConfig *oci_config_free(OciConfig *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(OciConfig *, oci_config_free);

/* Refuses (-EPERM, with a message) an rlimit whose hard or soft value exceeds the hard limit
 * the calling process has now: without CAP_SYS_RESOURCE setting it would fail in the container,
 * so we fail before anything is created. */
int oci_config_check_rlimits(const OciConfig *c, char **ret_error);

/* The config ZLayer uses for a plain rootfs: Docker's defaults (its capability set, masked
 * and read-only paths, /proc /dev /dev/pts /dev/shm /dev/mqueue /sys mounts, every namespace
 * but user and time, no_new_privileges off, cwd "/", a PATH and TERM environment). args may be
 * NULL for "/bin/sh". The JSON text is a complete config.json that oci_config_parse accepts. */
int oci_config_default_json(const char *rootfs, char *const *args, char **ret_json);
int oci_config_default(const char *rootfs, char *const *args, OciConfig **ret);

const char *oci_namespace_type_to_string(OciNamespaceType t) _const_;
OciNamespaceType oci_namespace_type_from_string(const char *s) _pure_;
/* CLONE_NEWPID etc. */
unsigned long oci_namespace_type_to_clone_flag(OciNamespaceType t) _const_;

/* "RLIMIT_NOFILE" <-> RLIMIT_NOFILE; -EINVAL/NULL if unknown. */
int oci_rlimit_from_string(const char *s) _pure_;
const char *oci_rlimit_to_string(int type) _const_;
