/* SPDX-License-Identifier: Apache-2.0 */
/* runtime-manager.h: zl-runtimed's containers, their monitors, exec, logs and stats (no sd-bus). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "cgroup.h"
#include "macro.h"
#include "runtime-container.h"
#include "runtime-network.h"
#include "time-util.h"

typedef struct Manager Manager;
typedef struct Container Container;
typedef struct MonitorClient MonitorClient;
typedef struct PendingRequest PendingRequest;

struct Container {
        Manager *manager;
        char *id;
        char *name;
        char *image;
        char *dir; /* <state>/containers/<id> */
        char *rootfs;
        char *bundle;
        char **labels; /* key, value, ... */
        json_t *options;
        usec_t created_at;
        int stop_signal;

        ContainerState state;
        pid_t pid;
        /* The init's pid while it lives, created (waiting before execve) included: what Exec
         * joins. pid above is the contract's: 0 for a created container. */
        pid_t init_pid;
        int exit_code;
        int signal;
        bool oom_killed;
        usec_t started_at, finished_at;
        char *error;

        /* _NETWORK_MODE_INVALID for a container made before its mode was recorded. net holds
         * the addresses of an attached "private" container (runtime-network.h). */
        NetworkMode network;
        NetworkInfo net;

        MonitorClient *client;
        sd_event_source *client_source;
        /* Requests sent to the monitor that wait for its reply, and callers waiting for the
         * container to exit (StopContainer) or for its monitor to end (RemoveContainer). */
        PendingRequest *pending;
        PendingRequest *exit_waiters;
        PendingRequest *remove_waiters;
};

/* Completion of an asynchronous operation: r >= 0 success, else -errno and a message (may be
 * NULL). Called exactly once, never from inside the call that started the operation. */
typedef void (*manager_done_t)(int r, const char *error, void *userdata);

typedef struct ManagerCallbacks {
        /* A container was created (state_changed true) or one of its State, Pid, ExitCode,
         * OOMKilled, StartedAt, FinishedAt changed. */
        void (*changed)(Manager *m, Container *c, bool state_changed, void *userdata);
        /* A container is being removed: the record is freed right after. */
        void (*removed)(Manager *m, Container *c, void *userdata);
        void (*oom)(Manager *m, Container *c, void *userdata);
} ManagerCallbacks;

/* state_dir: the daemon's <state>/runtime; containers go in its containers/ directory. */
int manager_new(sd_event *event, const char *state_dir, const ManagerCallbacks *callbacks,
                void *userdata, Manager **ret);
/* Fails every pending operation with -ECANCELED and frees everything; the containers and their
 * monitors keep running. */
Manager *manager_free(Manager *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Manager *, manager_free);

/* The back end "private" containers are attached through (see runtime-network.h): set once,
 * before manager_load(); it must outlive the manager. Without one, "private" containers get a
 * network namespace with loopback only, as "none". */
void manager_set_network_backend(Manager *m, const NetworkBackend *backend, void *userdata);

/* Start-up: re-adopts every container directory (see docs/runtime.md, "Recovery"). */
int manager_load(Manager *m);

size_t manager_get_n_containers(Manager *m) _pure_;
/* Oldest first. */
Container *manager_get_container(Manager *m, size_t i) _pure_;
/* By full id, name, or a unique id prefix of at least 4 digits. -ENOENT if none, -ENOTUNIQ if
 * the prefix matches more than one. */
int manager_find(Manager *m, const char *spec, Container **ret);
/* By full id only (object paths). */
Container *manager_get_by_id(Manager *m, const char *id);

/* CreateContainer. -EEXIST for a name in use, -EINVAL for bad options, -EBADMSG for a config
 * that cannot run; *ret_error (may be NULL) says why. Nothing is left behind on failure.
 * Blocks for the monitor's start-up (a few ms). */
int manager_create(Manager *m, const char *name, const char *config_json, const ContainerOptions *o,
                   Container **ret, char **ret_error);

/* The asynchronous operations return < 0 (with *ret_error, callback not called), 0 (pending:
 * done() is called later) or 1 (already done: callback not called). -EBUSY when the state does
 * not allow it. */
int manager_start(Manager *m, Container *c, manager_done_t done, void *userdata, char **ret_error);
int manager_stop(Manager *m, Container *c, usec_t timeout, manager_done_t done, void *userdata,
                 char **ret_error);
int manager_kill(Manager *m, Container *c, int sig, bool all, manager_done_t done, void *userdata,
                 char **ret_error);
int manager_pause(Manager *m, Container *c, manager_done_t done, void *userdata, char **ret_error);
int manager_resume(Manager *m, Container *c, manager_done_t done, void *userdata, char **ret_error);
/* Removal frees c before done() is called. */
int manager_remove(Manager *m, Container *c, bool force, manager_done_t done, void *userdata,
                   char **ret_error);

/* InspectContainer's JSON. */
int container_inspect(Container *c, char **ret_json);
/* The label value for key, or NULL. */
const char *container_get_label(Container *c, const char *key);

/* GetStats: the cgroup's statistics and the config's limits (CGROUP_STAT_UNKNOWN / UINT64_MAX
 * when absent). -EBUSY unless running or paused. */
int manager_get_stats(Manager *m, Container *c, CgroupStats *ret_stats, uint64_t *ret_memory_limit,
                      uint64_t *ret_pids_limit);

/* OpenLogs: the read end of a pipe a child process fills with the log records. */
int manager_open_logs(Manager *m, Container *c, bool follow, uint64_t tail, usec_t since,
                      int *ret_fd);

typedef struct ExecRequest {
        char **argv;
        char **env;
        const char *user;
        const char *cwd;
        usec_t timeout; /* Exec only; 0: none */
        const void *stdin_data; /* Exec only */
        size_t stdin_size;
        bool tty; /* ExecStream only */
} ExecRequest;

#define EXEC_OUTPUT_MAX ((size_t) 16 * 1024 * 1024)

typedef void (*manager_exec_done_t)(int r, const char *error, int exit_code, const void *out,
                                    size_t out_size, const void *err, size_t err_size,
                                    void *userdata);

/* Exec: returns < 0 with *ret_error, or 0 and done() later (-ETIMEDOUT after the timeout). */
int manager_exec(Manager *m, Container *c, const ExecRequest *req, manager_exec_done_t done,
                 void *userdata, char **ret_error);
/* ExecStream: the caller's ends of stdio and stderr and an id for manager_wait_exec(); owner
 * is who may wait for it. */
int manager_exec_stream(Manager *m, Container *c, const ExecRequest *req, const char *owner,
                        int *ret_stdio, int *ret_stderr, char **ret_exec_id, char **ret_error);

typedef void (*manager_wait_done_t)(int r, int exit_code, void *userdata);
/* -ENOENT for an unknown (or expired) id, -EPERM for another owner; 1 with *ret_exit_code when
 * it has ended, else 0 and done() later. */
int manager_wait_exec(Manager *m, const char *exec_id, const char *owner, int *ret_exit_code,
                      manager_wait_done_t done, void *userdata);

/* GetCounters: calls put() for each of the manager's counters. */
int manager_counters(Manager *m, int (*put)(void *set, const char *name, double value), void *set);
