/* SPDX-License-Identifier: Apache-2.0 */
/* container.h: start a container's init from an OCI config, and run more processes in it. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "cgroup.h"
#include "oci-config.h"

/* An overlay root: lowers (top first, read-only), an upper and a work directory on the same
 * file system. It is mounted on the root path inside the container's own mount namespace, so
 * it disappears with the container and never leaks onto the host. */
typedef struct ContainerOverlay {
        char *const *lowers; /* NULL-terminated, at least one */
        const char *upper;
        const char *work;
} ContainerOverlay;

typedef struct ContainerSpawnOptions {
        const OciConfig *config;
        /* The directory relative root.path values are resolved against; NULL means the
         * current directory. */
        const char *bundle;
        /* When set, root.path is the (existing, empty) mount point the overlay goes on. */
        const ContainerOverlay *overlay;
        /* The cgroup the init runs in (created by the caller with the config's limits), or
         * NULL to stay in the caller's. */
        Cgroup *cgroup;
        /* The init's stdin/stdout/stderr; -1 means /dev/null. Ignored for a terminal. */
        int stdio[3];
        /* Load Docker's default seccomp profile (for the config's bounding set) when the
         * config has no linux.seccomp object. */
        bool default_seccomp;
        /* Where compiled seccomp programs are cached (seccomp_program_get()), or NULL. */
        const char *seccomp_cache_dir;
        /* Extra descriptors passed as fds 3, 4, ... (runc --preserve-fds, LISTEN_FDS). */
        const int *extra_fds;
        size_t n_extra_fds;
        /* Create without starting: the init stops just before execve (everything is set up and
         * the executable was found) until container_start() or, when start_fifo_fd is set, until
         * someone opens that FIFO for reading (runc's exec.fifo, across processes). */
        bool wait_for_start;
        int start_fifo_fd; /* an O_PATH descriptor of a FIFO, or -1 */
} ContainerSpawnOptions;

#define CONTAINER_SPAWN_OPTIONS_INIT                                                               \
        ((ContainerSpawnOptions){ .stdio = { -1, -1, -1 }, .start_fifo_fd = -1 })

typedef struct ContainerInit {
        pid_t pid; /* in the caller's PID namespace */
        int pidfd; /* -1 where pidfd_open is unavailable (old kernels, valgrind) */
        /* With wait_for_start and no FIFO: the channel container_start() uses; closing it
         * instead aborts (the init then exits with 127 without running anything). Else -1. */
        int start_fd;
        /* The pseudo-terminal master when process.terminal is set, else -1. */
        int pty_master;
} ContainerInit;

#define CONTAINER_INIT_NULL                                                                        \
        ((ContainerInit){ .pid = 0, .pidfd = -1, .start_fd = -1, .pty_master = -1 })

/* Closes the descriptors; the process is left alone. */
void container_init_done(ContainerInit *i);

/* Creates the namespaces, sets up the root file system and the process as the config says and
 * either execs the process (returns once execve succeeded) or, with wait_for_start, returns
 * when it is ready to. Everything the config asks for that cannot be done is an error before
 * anything runs: -errno and *ret_error (may be NULL) a message saying what and where
 * ("process.args[0]: 'nosuch': no such file in the container's $PATH"). The child, if any,
 * has been reaped and nothing is left behind then. The caller should be a subreaper or
 * wait for the pid. */
int container_spawn(const ContainerSpawnOptions *o, ContainerInit *ret, char **ret_error);

/* Lets a container created with wait_for_start (and no FIFO) run, and waits until its execve
 * succeeded or failed (-errno with the message; the init is then reaped). Closes start_fd. */
int container_start(ContainerInit *i, char **ret_error);

/* Runs another process in the running container whose init is init_pid: joins its namespaces
 * and cgroup and applies the process's user, capabilities, rlimits, no_new_privs, seccomp
 * filter (seccomp may be NULL for none) and cwd. The new process is the caller's child.
 * *ret_pid and *ret_pidfd (may be NULL; -1 without pidfd_open) receive it; ret_pty_master gets the
 * terminal master when process->terminal. Errors as for container_spawn(). */
typedef struct ContainerExecOptions {
        const OciProcess *process;
        const json_t *seccomp; /* an OCI linux.seccomp object, or NULL */
        bool default_seccomp; /* Docker's profile when seccomp is NULL */
        const char *seccomp_cache_dir; /* as for ContainerSpawnOptions */
        Cgroup *cgroup; /* joined if not NULL */
        int stdio[3];
        /* Passed as fds 3, 4, ... (runc exec --preserve-fds); ignored with a terminal. */
        const int *extra_fds;
        size_t n_extra_fds;
} ContainerExecOptions;

#define CONTAINER_EXEC_OPTIONS_INIT ((ContainerExecOptions){ .stdio = { -1, -1, -1 } })

int container_exec(pid_t init_pid, const ContainerExecOptions *o, pid_t *ret_pid, int *ret_pidfd,
                   int *ret_pty_master, char **ret_error);
