/* SPDX-License-Identifier: Apache-2.0 */
/* sched-backends.h: what the scheduler core asks of its node and of the replicated state. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"
#include "sched-state.h"

/* The scheduler's core (the reconciler, jobs and cron) never talks D-Bus or Raft itself: it goes
 * through two tables of functions. zl-schedd implements them over org.zlayer.Runtime1 and
 * org.zlayer.Proxy1 (sched-bus-backends.c) and over SchedRaft; the unit tests implement them with
 * fakes.
 *
 * Every asynchronous function returns >= 0 when its done callback will be called exactly once,
 * later, from the event loop (never from inside the call), and < 0 when it could not start (done
 * is then never called). error is NULL on success, else a message naming what failed ("pull of
 * 'nginx:1': manifest unknown"); r the negative errno.
 *
 * -ENOTCONN (from the call or in done) means the daemon behind the call did not answer: it is
 * not running, it went away before replying (killed, restarting), or it did not reply in time.
 * Nothing is known about whether the request took effect; it is no verdict on the container, so
 * the reconciler retries later instead of counting a failure of the replica. */

/* ---- containers (zl-runtimed) -------------------------------------------------------------- */

/* Labels every container the scheduler makes carries (the actual state is found again from
 * them after a restart of zl-schedd). */
#define SCHED_LABEL_DEPLOYMENT "zlayer.deployment"
#define SCHED_LABEL_SERVICE "zlayer.service"
#define SCHED_LABEL_REPLICA "zlayer.replica" /* the index, decimal */
#define SCHED_LABEL_GENERATION "zlayer.generation"
#define SCHED_LABEL_CONFIG "zlayer.config-hash" /* sched_container_config_hash() */
#define SCHED_LABEL_JOB "zlayer.job-execution" /* job and cron executions: the execution id */

/* One container to create: CreateContainer's options (dbus/org.zlayer.Runtime1.xml) from a
 * service of the canonical spec (sched-container.h). Strings and arrays are owned. */
typedef struct SchedContainerSpec {
        char *name; /* unique on the node */
        char *image;
        char *pull_policy; /* always, if_not_present, never */
        char **entrypoint; /* NULL: the image's */
        char **args; /* NULL: the image's */
        char *cwd; /* NULL: the image's */
        char *user; /* NULL: the image's */
        char *hostname; /* NULL: the runtime's default */
        char **env; /* "K=V", $E: resolved; never NULL */
        uint64_t memory; /* bytes, 0: no limit */
        double cpus; /* 0: no limit */
        uint64_t pids; /* 0: no limit */
        char **cap_add; /* never NULL */
        char **cap_drop; /* never NULL */
        bool privileged;
        bool read_only;
        json_t *storage; /* the service's canonical "storage" array, never NULL */
        json_t *devices; /* canonical "devices" array, never NULL */
        json_t *sysctls; /* object string -> string, never NULL */
        json_t *labels; /* object string -> string (the service's labels and ours), never NULL */
        char *stop_signal; /* NULL: SIGTERM */
        uint64_t stop_grace_usec;
} SchedContainerSpec;

void sched_container_spec_done(SchedContainerSpec *s);

/* A container as ListContainers reports it. */
typedef struct SchedContainerInfo {
        char *id;
        char *name;
        char *image;
        char *state; /* created, running, paused, exited */
        int exit_code; /* -1 unless exited */
        uint64_t started_usec;
        uint64_t finished_usec;
        json_t *labels; /* object string -> string, never NULL */
        char *ip; /* "" when none */
} SchedContainerInfo;

void sched_container_info_done(SchedContainerInfo *i);
void sched_container_info_array_free(SchedContainerInfo *a, size_t n);

typedef void (*SchedDoneFn)(int r, const char *error, void *userdata);
typedef void (*SchedCreatedFn)(int r, const char *error, const char *id, void *userdata);
/* The containers carrying label `key`; both arrays valid during the call only. */
typedef void (*SchedListFn)(int r, const char *error, const SchedContainerInfo *c, size_t n,
                            void *userdata);
typedef void (*SchedExecDoneResultFn)(int r, const char *error, int exit_code, const char *out,
                                      size_t out_len, const char *err, size_t err_len,
                                      void *userdata);

typedef struct SchedBackends {
        /* CreateContainer (pulling as pull_policy says) and report its id. */
        int (*create)(void *userdata, const SchedContainerSpec *spec, SchedCreatedFn done,
                      void *done_userdata);
        int (*start)(void *userdata, const char *id, SchedDoneFn done, void *done_userdata);
        /* StopContainer with that grace period in seconds. */
        int (*stop)(void *userdata, const char *id, unsigned timeout_sec, SchedDoneFn done,
                    void *done_userdata);
        int (*remove)(void *userdata, const char *id, bool force, SchedDoneFn done,
                      void *done_userdata);
        /* ListContainers filtered on one label key (present, any value). */
        int (*list)(void *userdata, const char *label_key, SchedListFn done, void *done_userdata);
        /* Exec argv in the container (running, or created and waiting to start), at most
         * timeout_usec. */
        int (*exec)(void *userdata, const char *id, const char *const *argv, uint64_t timeout_usec,
                    SchedExecDoneResultFn done, void *done_userdata);
        /* Proxy1.SetRoutes(owner, routes_json). */
        int (*set_routes)(void *userdata, const char *owner, const char *routes_json,
                          SchedDoneFn done, void *done_userdata);
        /* Forget a pending call: its done callback must not be called afterwards. Called with the
         * done_userdata given to the call. */
        void (*cancel)(void *userdata, void *done_userdata);
        void *userdata;
} SchedBackends;

/* ---- the replicated state ------------------------------------------------------------------ */

typedef void (*SchedStoreDoneFn)(int r, const SchedApplyResult *result, void *userdata);
typedef void (*SchedStoreReadFn)(const SchedState *s, void *userdata);

typedef struct SchedStore {
        /* Replicates one command (JSON text, copied) and calls done once it is applied here or
         * failed; the errors are sched_raft_submit()'s. done may be NULL. */
        int (*submit)(void *userdata, const char *cmd, SchedStoreDoneFn done, void *done_userdata);
        /* Runs fn on the state now, on the caller's thread (see sched_raft_read()). */
        void (*read)(void *userdata, SchedStoreReadFn fn, void *fn_userdata);
        /* Whether this server may write (is the Raft leader). */
        bool (*is_leader)(void *userdata);
        void *userdata;
} SchedStore;

/* Submits cmd built with json_pack-style arguments; helper for both sides. */
int sched_store_submit_json(const SchedStore *st, json_t *cmd, SchedStoreDoneFn done,
                            void *done_userdata);
