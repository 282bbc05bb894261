/* SPDX-License-Identifier: Apache-2.0 */
/* sched-test-fake.h: in-memory SchedBackends and SchedStore for the scheduler's unit tests. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "macro.h"
#include "sched-backends.h"
#include "sched-state.h"

/* Linked into the test executables only (libzlsched_test_fake in meson.build).
 *
 * FakeBackends: a container table and a proxy on an sd_event loop. Every call returns 0 and
 * completes on a later loop iteration (a defer source, or a monotonic timer with a delay); the
 * effect (a container created, started...) happens when it completes, just before the done
 * callback. Containers: id 64 hex digits (a counter, so ids are reproducible), name unique,
 * state created/running/exited, labels, ip "10.200.0.N" (N from 2, given on create; listed as
 * "" once exited, as zl-runtimed does), exit code (-1 unless exited). Rules, as Runtime1's:
 *   create: -EEXIST for a name in use;
 *   start:  created only, else -EBUSY; sets started;
 *   stop:   running -> exited with 128+15 (a container not running succeeds at once);
 *   remove: -EBUSY for a running container unless force;
 *   exec:   running or created, else -EBUSY; exit 0 and no output unless injected;
 *   list:   the containers carrying the label key, oldest first;
 *   set_routes: kept per owner (fake_backends_get_routes()).
 * Unknown ids: -ENOENT "no container 'ID'". Ids may also be given as names.
 *
 * Every state change (created, running, exited, removed), whether from a call or from
 * fake_backends_container_exit(), is reported to the changed hook as zl-runtimed's
 * ContainerStateChanged would be: for a call, right before its done callback.
 *
 * FakeStore: a SchedState (owned) behind the SchedStore table. submit copies the command and
 * returns 0; on a later iteration it is applied with sched_state_apply(), then the change hook
 * (only when applied) and then done are called. read runs fn at once. is_leader is what
 * fake_store_set_leader() set (true at first); it does not gate submits. */

/* ---- backends ------------------------------------------------------------------------------- */

typedef enum FakeOp {
        FAKE_OP_CREATE,
        FAKE_OP_START,
        FAKE_OP_STOP,
        FAKE_OP_REMOVE,
        FAKE_OP_LIST,
        FAKE_OP_EXEC,
        FAKE_OP_SET_ROUTES,
        _FAKE_OP_MAX,
        _FAKE_OP_INVALID = -EINVAL,
} FakeOp;

const char *fake_op_to_string(FakeOp op) _const_;

typedef struct FakeContainer {
        char *id;
        char *name;
        char *image;
        char *state; /* created, running, exited */
        int exit_code;
        json_t *labels;
        char *ip;
        SchedContainerSpec spec; /* as given to create (a deep copy); zeroed for added ones */
        uint64_t seq; /* creation order */
} FakeContainer;

/* One call as made (not as completed). arg: the container id or name for start, stop, remove
 * and exec, the name for create, the label key for list, the owner for set_routes. */
typedef struct FakeCall {
        FakeOp op;
        char *arg;
} FakeCall;

typedef void (*FakeContainerChangedFn)(const char *id, const char *state, int exit_code,
                                       void *userdata);

typedef struct FakeBackends FakeBackends;

int fake_backends_new(sd_event *event, FakeBackends **ret);
/* Drops pending calls without calling them back. */
FakeBackends *fake_backends_free(FakeBackends *fb);
DEFINE_TRIVIAL_CLEANUP_FUNC(FakeBackends *, fake_backends_free);

/* The table to give to the code under test (valid while fb lives). */
const SchedBackends *fake_backends_table(FakeBackends *fb);

void fake_backends_set_changed_hook(FakeBackends *fb, FakeContainerChangedFn fn, void *userdata);

/* The next `count` calls of op (0: all from now on) whose arg, or for create whose image,
 * equals match (NULL: any) fail with -error and message (NULL: "injected failure"). Rules are
 * checked in the order added; a rule used up is dropped. */
int fake_backends_fail(FakeBackends *fb, FakeOp op, const char *match, int error,
                       const char *message, unsigned count);
/* exec in the container with this id or name (NULL: any) exits with exit_code and output
 * (NULL: ""), until replaced. */
int fake_backends_set_exec_result(FakeBackends *fb, const char *match, int exit_code,
                                  const char *out, const char *err);
/* Completions of op wait delay_usec (CLOCK_MONOTONIC) instead of the next iteration. */
void fake_backends_set_delay(FakeBackends *fb, FakeOp op, uint64_t delay_usec);
/* Holds completions of op until released (then they complete on the next iterations). */
void fake_backends_hold(FakeBackends *fb, FakeOp op, bool hold);
/* Pending completions (held ones included). */
size_t fake_backends_n_pending(const FakeBackends *fb) _pure_;

/* The container's process ends with that code: running -> exited, the hook called at once.
 * -ENOENT unknown, -EBUSY not running. */
int fake_backends_container_exit(FakeBackends *fb, const char *id, int exit_code);
/* A container as left by an earlier process (no call logged, no hook): state "created",
 * "running" or "exited"; labels copied (NULL: none). The new id in *ret_id (may be NULL;
 * borrowed, valid while the container exists). */
int fake_backends_add_container(FakeBackends *fb, const char *name, const char *image,
                                const json_t *labels, const char *state, int exit_code,
                                const char **ret_id);
/* A container gone behind our back (no hook). -ENOENT unknown. */
int fake_backends_drop_container(FakeBackends *fb, const char *id);

/* By id or name; NULL when absent. */
const FakeContainer *fake_backends_get_container(const FakeBackends *fb, const char *id);
size_t fake_backends_n_containers(const FakeBackends *fb) _pure_;
/* In creation order; NULL beyond the end. */
const FakeContainer *fake_backends_container_at(const FakeBackends *fb, size_t i);
/* Containers carrying label key=value (value NULL: any value). */
size_t fake_backends_count_labelled(const FakeBackends *fb, const char *key, const char *value);

size_t fake_backends_n_calls(const FakeBackends *fb) _pure_;
const FakeCall *fake_backends_call_at(const FakeBackends *fb, size_t i);
/* Calls of op (with that arg, NULL: any). */
size_t fake_backends_count_calls(const FakeBackends *fb, FakeOp op, const char *arg);
void fake_backends_clear_calls(FakeBackends *fb);
/* The last routes JSON set for owner, NULL if none. */
const char *fake_backends_get_routes(const FakeBackends *fb, const char *owner);

/* ---- store ---------------------------------------------------------------------------------- */

typedef struct FakeStore FakeStore;

/* Called after each applied command, with the command text. */
typedef void (*FakeStoreChangedFn)(const char *cmd, void *userdata);

int fake_store_new(sd_event *event, FakeStore **ret);
/* Drops pending submits without calling them back. */
FakeStore *fake_store_free(FakeStore *fs);
DEFINE_TRIVIAL_CLEANUP_FUNC(FakeStore *, fake_store_free);

const SchedStore *fake_store_table(FakeStore *fs);
/* The state, for reads and for setting up (changes made here call no hook). */
SchedState *fake_store_state(FakeStore *fs);
/* Applies a command now (setup helper): the result of sched_state_apply(); the hook is called
 * when it applied. */
int fake_store_apply(FakeStore *fs, const char *cmd);
void fake_store_set_changed_hook(FakeStore *fs, FakeStoreChangedFn fn, void *userdata);
void fake_store_set_leader(FakeStore *fs, bool leader);
/* The next `count` submits (0: all) whose "op" is op (NULL: any) fail with -error without being
 * applied (done gets a NULL result, as for a transport failure). */
int fake_store_fail(FakeStore *fs, const char *op, int error, unsigned count);
void fake_store_hold(FakeStore *fs, bool hold);
size_t fake_store_n_pending(const FakeStore *fs) _pure_;

/* Every command submitted, in order (applied or not). */
size_t fake_store_n_submitted(const FakeStore *fs) _pure_;
const char *fake_store_submitted_at(const FakeStore *fs, size_t i);
/* Submits whose "op" is op (NULL: any). */
size_t fake_store_count_submitted(const FakeStore *fs, const char *op);
void fake_store_clear_submitted(FakeStore *fs);

/* Runs the loop until nothing is pending in the fakes given (either may be NULL) and no event
 * source is ready, at most max_iterations; returns the iterations run or -ETIME. */
int fake_run_until_idle(sd_event *event, FakeBackends *fb, FakeStore *fs, unsigned max_iterations);
