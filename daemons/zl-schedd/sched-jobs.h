/* SPDX-License-Identifier: Apache-2.0 */
/* sched-jobs.h: executions of services of rtype "job" and "cron". */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "macro.h"
#include "sched-backends.h"
#include "sched-reconcile.h"

/* A job runs when triggered; a cron service on its schedule (zl_cron_*). An execution is a
 * record (job_execution_put: pending -> running -> succeeded/failed/cancelled, exit code,
 * started, finished, log_ref = its container id) and a container labelled SCHED_LABEL_JOB
 * (sched_container_spec_from_service() with the execution id as job_id), kept after it ends so
 * its log can be read (the containers of executions the state no longer has, dropped beyond
 * SCHED_JOB_EXECUTIONS_MAX or with their deployment, are removed). An execution is committed
 * as pending before its container is created, and at start (or on becoming leader) every
 * pending or running execution is matched with its container: a pending one is resumed (created
 * if it has no container, started if created), a running one whose container exited is settled
 * with its exit code, one whose container is gone fails with "container gone after restart":
 * none is lost or run twice. An execution that fails before its process runs (the spec, the
 * pull, the creation, the start) is "failed" with exit code -1 and the reason in the record's
 * message.
 *
 * Cron: the next fire time is computed from the committed cron run (cron_run_put): the first
 * time after its "last", or its "next" when it never fired, or after now when it has no record
 * (then {next} is committed, for ListCronJobs). A fire commits {last: the scheduled time, next:
 * the one after} before it starts the execution, so a restart never fires the same time twice
 * (a zl-schedd killed between the two loses that run rather than running it twice). Runs missed
 * while no zl-schedd was leader: one execution at once for the latest missed time, the older
 * ones skipped (docs/scheduler.md, "Jobs and cron"). An execution of the service still pending
 * or running at a fire time: that fire is skipped (no overlap), but still committed as "last",
 * so it is not caught up later. Deployments with status stopping or stopped fire nothing, and
 * their running executions are stopped (StopContainer with the service's stop_grace_period):
 * they end "cancelled" with the exit code the stop gave.
 * Only the leader writes and keeps timers; a follower does nothing until it becomes leader. */

typedef struct SchedJobs SchedJobs;

/* state: succeeded, failed or cancelled; exit_code -1 when the process never ran. Called once
 * the final record is committed. */
typedef void (*SchedJobFinishedFn)(const char *execution_id, const char *deployment,
                                   const char *service, const char *state, int exit_code,
                                   void *userdata);

/* now_usec: the clock (CLOCK_REALTIME microseconds), called with userdata; NULL: the real one
 * (tests pass their own). environ resolves "$E:" values (NULL-terminated, may be NULL; kept,
 * not copied). The tables are copied; their userdata must outlive the SchedJobs. */
int sched_jobs_new(sd_event *event, const char *node_id, char *const *environ,
                   const SchedBackends *backends, const SchedStore *store,
                   uint64_t (*now_usec)(void *userdata), SchedJobFinishedFn finished_cb,
                   void *userdata, SchedJobs **ret);
/* Cancels every backend call in flight (nothing is called back afterwards); containers and
 * records are left as they are, for the next process. */
SchedJobs *sched_jobs_free(SchedJobs *j);
DEFINE_TRIVIAL_CLEANUP_FUNC(SchedJobs *, sched_jobs_free);

/* Finds executions left by an earlier process (listing the containers with SCHED_LABEL_JOB),
 * then arms the cron timers (leader only). */
int sched_jobs_start(SchedJobs *j);
/* Re-reads the state (deployments added, changed, stopped: timers follow). */
void sched_jobs_state_changed(SchedJobs *j);
/* Runtime1.ContainerStateChanged (exit_code -1 unless exited); ids not of an execution are
 * ignored. */
void sched_jobs_container_changed(SchedJobs *j, const char *id, const char *state, int exit_code);
/* This server became leader (recovery and timers as at start) or follower (timers dropped). */
void sched_jobs_role_changed(SchedJobs *j, bool leader);
/* Fires the cron services that are due by the clock now. The timers call it; tests with their
 * own clock call it after moving the clock. */
void sched_jobs_tick(SchedJobs *j);

/* Starts an execution now. Returns < 0 without calling done when it cannot: -ENOENT (unknown
 * deployment or service), -EINVAL (not a job or cron service), -EBUSY (the deployment is
 * stopping or stopped), -EREMOTE (this server is not the leader). Otherwise returns 0 and calls
 * done once, later: with the new execution's id once its pending record is committed, or with
 * the error (and a message) when the commit failed. The execution then runs on its own;
 * finished_cb tells its end. */
typedef void (*SchedJobTriggeredFn)(int r, const char *error, const char *execution_id,
                                    void *userdata);
int sched_jobs_trigger(SchedJobs *j, const char *deployment, const char *service,
                       SchedJobTriggeredFn done, void *userdata);

/* Executions this process is running (pending commit to final commit), for tests. */
unsigned sched_jobs_get_n_active(const SchedJobs *j) _pure_;
