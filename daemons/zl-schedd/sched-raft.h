/* SPDX-License-Identifier: Apache-2.0 */
/* sched-raft.h: the scheduler state replicated with libraft, on a thread of its own. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"
#include "sched-state.h"

/* SchedRaft runs libraft (libuv backend: log and snapshots on disk under config.dir, TCP between
 * servers) on its own thread with its own uv loop; its state machine is a SchedState
 * (sched-state.h) and every committed entry is one command given to sched_state_apply().
 *
 * Threads. One thread, the owner, creates the object, calls every function below and frees it;
 * in zl-schedd that is the sd-event thread. Requests go to the raft thread through a locked
 * queue and a uv_async wake-up. Their completions come back through a queue and an eventfd:
 * the owner polls sched_raft_get_fd() for EPOLLIN (sd_event_add_io) and calls
 * sched_raft_dispatch(), which runs the callbacks of everything completed, in order, on the
 * owner's thread. No callback ever runs on the raft thread or inside a submit call.
 *
 * Reads. sched_raft_read() runs a function on the caller's thread with the state under a
 * read lock that the raft thread takes for writing while it applies an entry or restores a
 * snapshot: the function sees a state with whole commands only, as of the last applied entry
 * on this server (on a follower that may trail the leader; after a completed submit or barrier
 * on this server it includes that command). It must be quick and must not call sched_raft_*.
 *
 * Start. The first start with an empty dir and config.bootstrap bootstraps a one-node cluster
 * of this server; later starts load the snapshot and log, and raft replays them into a fresh
 * state. Without bootstrap the server waits to be added by a leader (sched_raft_add_node()).
 *
 * Errors given to callbacks: 0; a refusal of the state machine (see sched_state_apply(), with
 * its message); -EREMOTE: this server is not the leader (sched_raft_get_leader() names it);
 * -ECONNABORTED: leadership was lost while the request was in flight, it may or may not have
 * been applied (read the state to know); -ETIMEDOUT: no outcome within
 * config.submit_timeout_msec or change_timeout_msec (same caveat); -ESHUTDOWN: the object is being
 * freed; -ENOMEM, -EIO (disk), -E2BIG, -EBUSY (a membership change is already running), -EEXIST,
 * -ENOENT. */

typedef struct SchedRaft SchedRaft;

typedef struct SchedRaftConfig {
        const char *dir; /* <state>/raft: created (0700) if missing */
        uint64_t id; /* this server's id, > 0, unique in the cluster */
        const char *address; /* "IPv4:port" this server listens on and peers dial */
        bool bootstrap; /* on the first start, bootstrap a one-node cluster of this server */
        unsigned election_timeout_msec; /* 0: 1000 */
        unsigned heartbeat_timeout_msec; /* 0: 100 */
        unsigned snapshot_threshold; /* entries between snapshots; 0: 1024 */
        unsigned snapshot_trailing; /* entries kept in the log after a snapshot; 0: 128 */
        unsigned submit_timeout_msec; /* submits and barriers; 0: 10000 */
        unsigned change_timeout_msec; /* membership changes (they wait for catch-up); 0: 60000 */
} SchedRaftConfig;

typedef enum SchedRaftRole {
        SCHED_RAFT_UNAVAILABLE,
        SCHED_RAFT_FOLLOWER,
        SCHED_RAFT_CANDIDATE,
        SCHED_RAFT_LEADER,
        _SCHED_RAFT_ROLE_MAX,
        _SCHED_RAFT_ROLE_INVALID = -EINVAL,
} SchedRaftRole;

const char *sched_raft_role_to_string(SchedRaftRole r) _const_;

/* result is NULL when error is not a refusal of the state machine, else the outcome (message,
 * generation, revision); valid during the call only. */
typedef void (*SchedRaftSubmitFunc)(SchedRaft *r, int error, const SchedApplyResult *result,
                                    void *userdata);
/* For barriers and membership changes. */
typedef void (*SchedRaftDoneFunc)(SchedRaft *r, int error, void *userdata);
/* One call per command applied (not for refused ones), in log order, on every server. cmd is
 * the command as submitted, index its raft log index; both valid during the call only. */
typedef void (*SchedRaftChangeFunc)(SchedRaft *r, const char *cmd, uint64_t index,
                                    const SchedApplyResult *result, void *userdata);
typedef void (*SchedRaftReadFunc)(const SchedState *state, void *userdata);

/* Opens the log, bootstraps if asked and new, and starts the raft thread. -EINVAL for a bad
 * config, -EADDRINUSE when the address is taken, -EIO for a broken log, -ENOMEM. */
int sched_raft_new(const SchedRaftConfig *config, SchedRaft **ret);
/* Stops the raft thread cleanly (raft_close, then the loop), then runs every callback still
 * owed: completed ones with their outcome, the others with -ESHUTDOWN. */
SchedRaft *sched_raft_free(SchedRaft *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(SchedRaft *, sched_raft_free);

/* The eventfd to poll for EPOLLIN, and the function to call then (it never blocks; it returns
 * the number of callbacks run). */
int sched_raft_get_fd(SchedRaft *r) _pure_;
int sched_raft_dispatch(SchedRaft *r);

/* Replicates one command (JSON text, copied) and calls callback with the outcome once it is
 * committed and applied here, or failed. The command is validated when applied, not before, so
 * a refusal comes back through the callback. Returns < 0 only if the request could not be
 * queued (-ENOMEM, -E2BIG, -ESHUTDOWN); callback may be NULL. */
int sched_raft_submit(SchedRaft *r, const char *cmd, SchedRaftSubmitFunc callback, void *userdata);
/* Completes once every entry committed before it is applied here (leader only). */
int sched_raft_barrier(SchedRaft *r, SchedRaftDoneFunc callback, void *userdata);
/* Runs fn(state, userdata) now, on the caller's thread: see "Reads" above. Returns 0. */
int sched_raft_read(SchedRaft *r, SchedRaftReadFunc fn, void *userdata);
/* Subscribes to applied commands (one subscriber; NULL unsubscribes). */
void sched_raft_set_change_callback(SchedRaft *r, SchedRaftChangeFunc callback, void *userdata);

/* Membership, on the leader: adds a server as a voter (it is added as a spare, caught up, then
 * promoted), or removes one. The new server must be running without bootstrap. */
int sched_raft_add_node(SchedRaft *r, uint64_t id, const char *address, SchedRaftDoneFunc callback,
                        void *userdata);
int sched_raft_remove_node(SchedRaft *r, uint64_t id, SchedRaftDoneFunc callback, void *userdata);

/* What the raft thread last published (updated on every turn of its loop, read lock-free): this
 * server's role, the leader it knows (0 and NULL when none), and the last applied index. */
SchedRaftRole sched_raft_get_role(SchedRaft *r);
uint64_t sched_raft_get_leader(SchedRaft *r, char **ret_address);
uint64_t sched_raft_get_applied_index(SchedRaft *r);
/* The last index covered by a snapshot stored on disk (0: none yet). */
uint64_t sched_raft_get_snapshot_index(SchedRaft *r);
/* How many snapshots this process started to take from its state, and restored (at start, or
 * sent by a leader). */
unsigned sched_raft_get_snapshots_taken(SchedRaft *r);
unsigned sched_raft_get_snapshots_restored(SchedRaft *r);
