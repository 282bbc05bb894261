/* SPDX-License-Identifier: Apache-2.0 */
/* runtime-container.h: container ids, names, states and the config built from create options. */
#pragma once

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "macro.h"

typedef enum ContainerState {
        CONTAINER_CREATED,
        CONTAINER_RUNNING,
        CONTAINER_PAUSED,
        CONTAINER_EXITED,
        _CONTAINER_STATE_MAX,
        _CONTAINER_STATE_INVALID = -EINVAL,
} ContainerState;

const char *container_state_to_string(ContainerState s) _const_;
ContainerState container_state_from_string(const char *s) _pure_;

#define CONTAINER_ID_LENGTH 64
#define CONTAINER_ID_PREFIX_MIN 4
#define CONTAINER_NAME_MAX 63

/* 64 lowercase hex digits. */
bool container_id_is_valid(const char *s) _pure_;
/* 4 to 64 lowercase hex digits: what may abbreviate an id. */
bool container_id_prefix_is_valid(const char *s) _pure_;
/* 1-63 characters of [a-zA-Z0-9_.-], starting with a letter or digit. */
bool container_name_is_valid(const char *s) _pure_;
/* A random id from getrandom(). */
int container_id_generate(char ret[static CONTAINER_ID_LENGTH + 1]);

/* A value that was not given. */
#define CONTAINER_OPTION_UNSET UINT64_MAX

/* The options of CreateContainer, already type-checked by the bus layer. Owns its strings. */
typedef struct ContainerOptions {
        char *rootfs;
        char *bundle;
        char **args; /* NULL: unset */
        char **env;
        char *cwd;
        char *user;
        char *hostname;
        int terminal; /* -1: unset */
        uint64_t memory;
        uint64_t memory_swap;
        double cpus; /* < 0: unset */
        uint64_t cpu_shares;
        uint64_t pids;
        char **cap_add;
        char **cap_drop;
        int read_only; /* -1: unset */
        char *network; /* "private", "none", "host"; NULL: unset */
        char *seccomp; /* "default", "unconfined"; NULL: unset */
        char **labels; /* key, value, key, value ... */
        char *image;
        uint64_t log_max_size;
        uint64_t log_max_files;
        char *storage; /* JSON array of volumes (runtime-storage.h); applied by the manager */
        char *devices; /* JSON array of {path, read, write, mknod} */
        char **sysctls; /* key, value, key, value ... */
        int privileged; /* -1: unset */
} ContainerOptions;

#define CONTAINER_OPTIONS_INIT                                                                     \
        ((ContainerOptions){                                                                       \
                .terminal = -1,                                                                    \
                .memory = CONTAINER_OPTION_UNSET,                                                  \
                .memory_swap = CONTAINER_OPTION_UNSET,                                             \
                .cpus = -1,                                                                        \
                .cpu_shares = CONTAINER_OPTION_UNSET,                                              \
                .pids = CONTAINER_OPTION_UNSET,                                                    \
                .read_only = -1,                                                                   \
                .log_max_size = CONTAINER_OPTION_UNSET,                                            \
                .log_max_files = CONTAINER_OPTION_UNSET,                                           \
                .privileged = -1,                                                                  \
        })

void container_options_done(ContainerOptions *o);
/* The options as a JSON object for container.json (unset ones left out). */
int container_options_to_json(const ContainerOptions *o, json_t **ret);

/* The result of container_config_build(). */
typedef struct ContainerConfig {
        char *json; /* the config.json text, root.path absolute */
        char *root_path; /* absolute */
        bool default_seccomp;
        int stop_signal;
} ContainerConfig;

void container_config_done(ContainerConfig *c);

/* Builds the config a container runs: config_json (or, when empty, ZLayer's default for the
 * "rootfs" option) with the options applied, then validated by oci_config_parse(). "storage"
 * is not applied here (it needs the container's directory: container_config_add_storage()),
 * "devices", "sysctls" and "privileged" are. -EINVAL for
 * an option that cannot be applied (the message names the option), -EBADMSG for a config that
 * does not validate or a user that does not exist (the message starts with the JSON path),
 * -ENOMEM. *ret_error (may be NULL) receives the message on failure. */
int container_config_build(const char *config_json, const ContainerOptions *o, ContainerConfig *ret,
                           char **ret_error);

typedef struct StorageList StorageList;
/* Adds the mounts of the volumes (runtime-storage.h) to c->json: named ones from volumes_dir,
 * anonymous ones from container_dir. -EBADMSG with *ret_error when the result does not
 * validate. */
int container_config_add_storage(ContainerConfig *c, const StorageList *l, const char *volumes_dir,
                                 const char *container_dir, char **ret_error);

/* Adds read-only bind mounts of hosts onto /etc/hosts and of resolv onto /etc/resolv.conf (either
 * may be NULL: not added) to c->json, unless the config mounts something there itself. The
 * engine creates missing mount points in the root before it is made read-only. -EBADMSG with
 * *ret_error (may be NULL) when the result does not validate. */
int container_config_add_network_files(ContainerConfig *c, const char *hosts, const char *resolv,
                                       char **ret_error);
