/* SPDX-License-Identifier: Apache-2.0 */
/* sched-init.h: a service's init steps for one replica, run in order on an sd-event loop. */
#pragma once

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "macro.h"
#include "sched-probe.h"

/* Delay before attempt n (1-based) of something that keeps failing: 0 for the first attempt,
 * then base, 2*base, 4*base ... doubling per attempt and capped at cap (overflow-safe). The
 * reconciler uses it for errors.on_init_failure "backoff" and for crash restarts. */
uint64_t sched_backoff_delay(unsigned attempt, uint64_t base_usec, uint64_t cap_usec) _const_;
#define SCHED_BACKOFF_BASE_USEC (1ULL * 1000000ULL) /* 1s */
#define SCHED_BACKOFF_CAP_USEC (300ULL * 1000000ULL) /* 5min */

typedef enum SchedInitOnFailure {
        SCHED_INIT_ON_FAILURE_FAIL, /* stop: the init fails with this step */
        SCHED_INIT_ON_FAILURE_WARN, /* go on, and count a warning the caller reports */
        SCHED_INIT_ON_FAILURE_CONTINUE, /* go on quietly */
        _SCHED_INIT_ON_FAILURE_MAX,
        _SCHED_INIT_ON_FAILURE_INVALID = -EINVAL,
} SchedInitOnFailure;

const char *sched_init_on_failure_to_string(SchedInitOnFailure f) _const_;

typedef enum SchedInitEvent {
        SCHED_INIT_STEP_STARTED, /* an attempt of a step started */
        SCHED_INIT_STEP_SUCCEEDED,
        SCHED_INIT_STEP_FAILED, /* an attempt failed; more may follow (attempt < n_attempts) */
        _SCHED_INIT_EVENT_MAX,
        _SCHED_INIT_EVENT_INVALID = -EINVAL,
} SchedInitEvent;

const char *sched_init_event_to_string(SchedInitEvent e) _const_;

typedef struct SchedInitStepInfo {
        unsigned index; /* 0-based position in init.steps */
        const char *id;
        const char *uses; /* "init.wait_tcp" ... */
        unsigned attempt; /* 1-based */
        unsigned n_attempts; /* 1 + retry */
        SchedInitOnFailure on_failure;
        const char *reason; /* SUCCEEDED/FAILED: what happened; NULL for STARTED */
} SchedInitStepInfo;

/* The outcome of the whole run. r == 0: every step succeeded or failed with warn/continue
 * (n_warnings counts the warn ones). r < 0: the step step_id failed for good with on_failure
 * fail (-ETIMEDOUT for a wait that ran out of time, -EIO for other failures); reason says why.
 * What to do next (errors.on_init_failure fail/restart/backoff) is the caller's choice. */
typedef struct SchedInitResult {
        int r;
        const char *step_id;
        const char *reason;
        unsigned n_warnings;
} SchedInitResult;

typedef struct SchedInit SchedInit;

/* Called for every attempt's start and end. The runner must not be freed from here. */
typedef void (*SchedInitStepFn)(SchedInit *i, SchedInitEvent event, const SchedInitStepInfo *info,
                                void *userdata);
/* Called once at the end; the runner may be freed from here. */
typedef void (*SchedInitDoneFn)(SchedInit *i, const SchedInitResult *result, void *userdata);

/* A runner for the canonical "init" object ({steps: [{id, uses, with, timeout, retry,
 * on_failure}]}), borrowed; NULL or no steps gives a runner that succeeds at once.
 *   init.wait_tcp {host, port, timeout}   connect to host:port until it works or timeout runs
 *                                          out (tried every poll interval)
 *   init.wait_http {url, expect_status, timeout}
 *                                          GET url the same way, until expect_status (any 2xx
 *                                          when absent)
 *   init.run {command, timeout}           sh -c command through exec; exit status 0 passes
 * A step's own "timeout" overrides its parameters'. Host names (host, the URL's host) go to
 * resolver at every try, so a wait for a service that has no address yet keeps waiting; without
 * a resolver only numeric addresses are accepted. init.s3_pull and init.s3_push are refused with
 * -EOPNOTSUPP and a message naming them: they are not available until S3 support lands. Other bad
 * input: -EINVAL with a message in *ret_error (when not NULL). exec is needed only when a step runs
 * a command. */
int sched_init_new(sd_event *event, const json_t *init, const SchedExec *exec,
                   const SchedResolver *resolver, SchedInit **ret, char **ret_error);
/* Cancels whatever runs (sockets, timers, commands); no callback is called afterwards. */
SchedInit *sched_init_free(SchedInit *i);
DEFINE_TRIVIAL_CLEANUP_FUNC(SchedInit *, sched_init_free);

/* Time between two tries of a wait step, and between a failed attempt and the next (default
 * 500ms; also caps each try's own timeout at 1s or the poll interval, whichever is longer). */
void sched_init_set_poll_interval(SchedInit *i, uint64_t usec);

/* Starts the steps; the callbacks come from the loop. -EALREADY when started before. */
int sched_init_start(SchedInit *i, SchedInitStepFn step_cb, SchedInitDoneFn done_cb,
                     void *userdata);

unsigned sched_init_get_n_steps(const SchedInit *i) _pure_;
