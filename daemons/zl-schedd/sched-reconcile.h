/* SPDX-License-Identifier: Apache-2.0 */
/* sched-reconcile.h: the reconciler, which makes a node's containers and routes what the state
 * asks. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "macro.h"
#include "sched-backends.h"

/* Level-triggered: each pass compares the desired state (deployments, their services, the
 * replica counts) with the actual one (the containers zl-runtimed has with SCHED_LABEL_* labels,
 * and what this process is doing to them) and starts the actions that close the gap; every
 * action's outcome, every container state change and every health transition schedules another
 * pass, and a timer runs one every resync interval to catch what signals miss. What it observes
 * it writes back as replica_put / deployment_status commands, for `zlctl status` and for the next
 * leader; it never needs its own memory to be right after a restart: a zl-schedd killed with -9
 * finds the running containers by their labels and keeps those whose config hash matches.
 *
 * Per replica: create (the image pulled per pull_policy) -> init steps (sched-init.h; commands
 * run in the created container) -> start -> health probe (sched-probe.h) -> in the proxy's
 * backends while healthy. A container that exits is handled as errors.on_panic says (restart
 * with sched_backoff_delay(), crash-loop after repeated quick exits; shutdown; isolate) and an
 * init failure as errors.on_init_failure says (fail, restart, backoff). A service whose config
 * hash changed is replaced one replica at a time: the new container healthy, the routes moved,
 * then the old one stopped. Services start in depends order (conditions, timeouts, on_timeout).
 * Desired counts: fixed -> the spec's replicas; manual and adaptive -> the last Scale (the state's
 * per-service override), else 1 for manual and min for adaptive. Jobs and cron services are left
 * to sched-jobs.h. A deployment with status "stopping" has every replica stopped and removed, then
 * is deleted. Docs: docs/scheduler.md, "Reconciler".
 *
 * Details the tests pin down:
 *   - A replica that exits is restarted after sched_backoff_delay(restarts) (restarts counted in
 *     its record); 3 or more exits in a row, each within 10 s of its start, make its state
 *     "crashloop" while it waits; it is still retried. Its old container is removed before the
 *     new one (same name) is created.
 *   - errors.on_init_failure "restart" recreates at once up to 5 times, then the replica fails;
 *     "backoff" recreates after sched_backoff_delay() without limit; "fail" (and a spec that
 *     cannot become a container, like a missing $E: variable) fails the replica, and the
 *     deployment when it has not been ready at this generation. A failed replica (also after
 *     on_panic shutdown or isolate, whose container is kept, stopped) is made again only when
 *     its service's config hash changes.
 *   - Depends: a service creates no replica before every entry holds (started: one replica
 *     running; healthy: one healthy; ready: all desired healthy); once open (or once the
 *     service has containers) the gate stays open. The timeout counts from the first pass that
 *     waited; "fail" fails the deployment ("service 'b': dependency 'a' not healthy after 10s").
 *   - Status: deploying, ready (every service of rtype service has all desired replicas healthy
 *     with the current config, nothing replaced or removed), degraded (ready before at this
 *     generation, a replica not healthy now), failed (with the message); written with
 *     services {svc: {desired, running, healthy, message?}} only when something changed.
 *   - Routes: sched_routes_build() over every deployment not stopping, with the healthy
 *     replicas, set as owner "scheduler" when the text differs from the last one set
 *     successfully. A container taken out of service (replaced, scaled down, stopped) is
 *     stopped only once routes without it are in place.
 *   - Only the leader acts: a follower runs no backend call and submits nothing; becoming
 *     leader lists the containers again and adopts them; losing it forgets everything (the
 *     containers stay as they are). */

typedef struct SchedReconciler SchedReconciler;

typedef struct SchedReconcilerConfig {
        const char *node_id; /* this node's id in the state (it is registered if missing) */
        const char *node_address; /* its internal address: internal endpoints listen there */
        const char *public_address; /* public endpoints listen there ("0.0.0.0") */
        char *const *environ; /* resolves $E: values (NULL-terminated, may be NULL) */
        uint64_t resync_usec; /* 0: 10s */
        uint64_t backoff_base_usec; /* 0: SCHED_BACKOFF_BASE_USEC */
        uint64_t backoff_cap_usec; /* 0: SCHED_BACKOFF_CAP_USEC */
        uint64_t init_poll_usec; /* 0: sched-init's default */
        /* A replica whose health check has not passed this long after its start fails its
         * rollout (naming it); 0: 5 min. */
        uint64_t health_deadline_usec;
        /* A replica taken out of the routes (replaced, scaled down) is stopped this long after
         * zl-proxyd confirmed routes without it, so that requests in flight end; 0: 2 s. */
        uint64_t drain_usec;
} SchedReconcilerConfig;

/* Every DeploymentEvent (dbus/org.zlayer.Scheduler1.xml lists them with their fields); data is
 * borrowed. */
typedef void (*SchedEventFn)(const char *deployment, const char *event, const json_t *data,
                             void *userdata);

/* The tables are copied; their userdata must outlive the reconciler. backends->cancel is
 * used for every call in flight at free or at a role change. The store has no cancel: a
 * command still in flight at free ends into a detached record that its done callback frees,
 * so the store must call done for every command it accepted, also when it shuts down. */
int sched_reconciler_new(sd_event *event, const SchedReconcilerConfig *config,
                         const SchedBackends *backends, const SchedStore *store,
                         SchedEventFn event_cb, void *userdata, SchedReconciler **ret);
/* Cancels every action in flight (nothing is called back afterwards); containers are left as
 * they are. */
SchedReconciler *sched_reconciler_free(SchedReconciler *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(SchedReconciler *, sched_reconciler_free);

/* Lists the containers, adopts them, then runs the first pass. */
int sched_reconciler_start(SchedReconciler *r);

/* The state changed (a committed command): schedule a pass (coalesced). */
void sched_reconciler_state_changed(SchedReconciler *r);
/* Runtime1.ContainerStateChanged: a container of ours changed state (exit_code -1 unless
 * exited). Unknown ids are ignored. */
void sched_reconciler_container_changed(SchedReconciler *r, const char *id, const char *state,
                                        int exit_code);
/* This server became leader or follower: only the leader writes. */
void sched_reconciler_role_changed(SchedReconciler *r, bool leader);

/* What the reconciler knows of one replica now, for GetDeployment: the last error or reason
 * ("exited with status 2", "init step 'migrate': ...", a failed health check), NULL when
 * there is none (a healthy replica) or the replica is unknown here. Borrowed: valid until the
 * loop runs again. */
const char *sched_reconciler_replica_message(SchedReconciler *r, const char *deployment,
                                             const char *service, uint32_t index);
/* The number of passes run, for tests. */
uint64_t sched_reconciler_get_n_passes(const SchedReconciler *r) _pure_;
