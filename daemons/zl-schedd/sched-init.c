/* SPDX-License-Identifier: Apache-2.0 */
/* sched-init.c: a service's init steps for one replica, run in order on an sd-event loop. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched-init.h"
#include "string-util.h"
#include "time-util.h"

#define POLL_DEFAULT_USEC (500 * USEC_PER_MSEC)
#define TRY_TIMEOUT_MIN_USEC (1 * USEC_PER_SEC)

uint64_t sched_backoff_delay(unsigned attempt, uint64_t base_usec, uint64_t cap_usec) {
        uint64_t d = base_usec;

        if (attempt <= 1)
                return 0;
        for (unsigned n = 2; n < attempt; n++) {
                if (d >= cap_usec || d > UINT64_MAX / 2)
                        return cap_usec;
                d *= 2;
        }
        return MIN(d, cap_usec);
}

static const char *const on_failure_table[_SCHED_INIT_ON_FAILURE_MAX] = {
        [SCHED_INIT_ON_FAILURE_FAIL] = "fail",
        [SCHED_INIT_ON_FAILURE_WARN] = "warn",
        [SCHED_INIT_ON_FAILURE_CONTINUE] = "continue",
};

const char *sched_init_on_failure_to_string(SchedInitOnFailure f) {
        return f >= 0 && f < _SCHED_INIT_ON_FAILURE_MAX ? on_failure_table[f] : NULL;
}

static const char *const event_table[_SCHED_INIT_EVENT_MAX] = {
        [SCHED_INIT_STEP_STARTED] = "started",
        [SCHED_INIT_STEP_SUCCEEDED] = "succeeded",
        [SCHED_INIT_STEP_FAILED] = "failed",
};

const char *sched_init_event_to_string(SchedInitEvent e) {
        return e >= 0 && e < _SCHED_INIT_EVENT_MAX ? event_table[e] : NULL;
}

typedef enum StepKind {
        STEP_WAIT_TCP,
        STEP_WAIT_HTTP,
        STEP_RUN,
} StepKind;

typedef struct InitStep {
        char *id;
        char *uses;
        StepKind kind;
        SchedCheckTarget target; /* as parsed; waits with a resolver rebuild it for every try */
        char *host; /* wait_tcp */
        unsigned port;
        char *url; /* wait_http */
        int expect_status;
        char *what; /* the target for messages */
        uint64_t timeout_usec;
        unsigned n_attempts;
        SchedInitOnFailure on_failure;
} InitStep;

struct SchedInit {
        sd_event *event;
        SchedExec exec;
        SchedResolver resolver;
        InitStep *steps;
        size_t n_steps;
        uint64_t poll_usec;
        bool started;

        size_t current;
        unsigned attempt;
        SchedCheck *check;
        sd_event_source *timer; /* next try of a wait, next attempt, or the start */
        sd_event_source *deadline; /* the end of a wait attempt */
        char *last_reason; /* of the latest try of a wait */
        unsigned n_warnings;

        SchedInitStepFn step_cb;
        SchedInitDoneFn done_cb;
        void *userdata;
};

static void step_done(InitStep *s) {
        free(s->id);
        free(s->uses);
        free(s->what);
        free(s->host);
        free(s->url);
        sched_check_target_done(&s->target);
}

SchedInit *sched_init_free(SchedInit *i) {
        if (!i)
                return NULL;
        i->check = sched_check_free(i->check);
        i->timer = sd_event_source_disable_unref(i->timer);
        i->deadline = sd_event_source_disable_unref(i->deadline);
        for (size_t k = 0; k < i->n_steps; k++)
                step_done(i->steps + k);
        free(i->steps);
        free(i->last_reason);
        sd_event_unref(i->event);
        return mfree(i);
}

/* Stands in for the caller's resolver while parsing: names are looked up at each try, when the
 * service behind them may have come up. */
static int resolve_placeholder(void *userdata, const char *host, char **ret_ip) {
        *ret_ip = strdup("127.0.0.1");
        return *ret_ip ? 0 : -ENOMEM;
}

static int step_build_target(const InitStep *s, const SchedResolver *resolver, SchedCheckTarget *t,
                             char **ret_error) {
        if (s->kind == STEP_WAIT_TCP)
                return sched_check_target_tcp(t, s->host, s->port, resolver, ret_error);
        return sched_check_target_http_url(t, s->url, s->expect_status, resolver, ret_error);
}

static int parse_step(SchedInit *i, size_t idx, const json_t *j, InitStep *s, char **ret_error) {
        const SchedResolver placeholder = { .resolve = resolve_placeholder };
        _cleanup_free_ char *sub = NULL;
        const char *uses, *id, *of;
        const json_t *with, *v, *timeout;
        uint64_t def_ms;
        int r;

        if (!json_is_object(j))
                return error_setf(ret_error, -EINVAL, "init.steps[%zu]: expected an object", idx);
        uses = json_string_value(json_object_get(j, "uses"));
        if (!uses)
                return error_setf(ret_error, -EINVAL, "init.steps[%zu].uses: missing", idx);
        id = json_string_value(json_object_get(j, "id"));
        if (id) {
                s->id = strdup(id);
        } else if (asprintf(&s->id, "%s-%zu", uses, idx) < 0)
                s->id = NULL;
        s->uses = strdup(uses);
        if (!s->id || !s->uses)
                return -ENOMEM;

        if (streq(uses, "init.s3_pull") || streq(uses, "init.s3_push"))
                return error_setf(ret_error, -EOPNOTSUPP,
                                  "init step '%s': %s is not available until S3 support lands",
                                  s->id, uses);

        with = json_object_get(j, "with");
        if (with && !json_is_object(with))
                return error_setf(ret_error, -EINVAL, "init step '%s': with: expected an object",
                                  s->id);

        v = json_object_get(j, "retry");
        if (v && (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 1000))
                return error_setf(ret_error, -EINVAL,
                                  "init step '%s': retry: expected a count (0-1000)", s->id);
        s->n_attempts = 1 + (v ? (unsigned) json_integer_value(v) : 0);

        of = json_string_value(json_object_get(j, "on_failure"));
        if (!of || streq(of, "fail"))
                s->on_failure = SCHED_INIT_ON_FAILURE_FAIL;
        else if (streq(of, "warn"))
                s->on_failure = SCHED_INIT_ON_FAILURE_WARN;
        else if (streq(of, "continue"))
                s->on_failure = SCHED_INIT_ON_FAILURE_CONTINUE;
        else
                return error_setf(ret_error, -EINVAL,
                                  "init step '%s': on_failure: '%s' is not one of fail, warn, "
                                  "continue",
                                  s->id, of);

        if (streq(uses, "init.wait_tcp")) {
                const char *host = json_string_value(json_object_get(with, "host"));
                const json_t *port = json_object_get(with, "port");

                s->kind = STEP_WAIT_TCP;
                def_ms = 30000;
                if (!host || !json_is_integer(port) || json_integer_value(port) < 1 ||
                    json_integer_value(port) > 65535)
                        return error_setf(ret_error, -EINVAL,
                                          "init step '%s': init.wait_tcp needs host and port",
                                          s->id);
                s->host = strdup(host);
                s->port = (unsigned) json_integer_value(port);
                if (!s->host)
                        return -ENOMEM;
                r = step_build_target(s, i->resolver.resolve ? &placeholder : NULL, &s->target,
                                      &sub);
                if (r < 0)
                        return r == -EINVAL ? error_setf(ret_error, r, "init step '%s': %s", s->id,
                                                         strna(sub))
                                            : r;
                if (asprintf(&s->what, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, s->port) < 0)
                        s->what = NULL;
        } else if (streq(uses, "init.wait_http")) {
                const char *url = json_string_value(json_object_get(with, "url"));
                const json_t *es = json_object_get(with, "expect_status");

                s->kind = STEP_WAIT_HTTP;
                def_ms = 30000;
                if (!url)
                        return error_setf(ret_error, -EINVAL,
                                          "init step '%s': init.wait_http needs url", s->id);
                if (es && !json_is_integer(es))
                        return error_setf(ret_error, -EINVAL,
                                          "init step '%s': expect_status: expected an integer",
                                          s->id);
                s->url = strdup(url);
                s->expect_status = es ? (int) json_integer_value(es) : 0;
                if (!s->url)
                        return -ENOMEM;
                r = step_build_target(s, i->resolver.resolve ? &placeholder : NULL, &s->target,
                                      &sub);
                if (r < 0)
                        return r == -EINVAL ? error_setf(ret_error, r, "init step '%s': %s", s->id,
                                                         strna(sub))
                                            : r;
                s->what = strdup(url);
        } else if (streq(uses, "init.run")) {
                const char *cmd = json_string_value(json_object_get(with, "command"));

                s->kind = STEP_RUN;
                def_ms = 300000;
                if (isempty(cmd))
                        return error_setf(ret_error, -EINVAL,
                                          "init step '%s': init.run needs command", s->id);
                if (!i->exec.exec)
                        return error_setf(ret_error, -EINVAL,
                                          "init step '%s': init.run needs a way to run commands "
                                          "in the container, none was given",
                                          s->id);
                s->target.type = SCHED_CHECK_COMMAND;
                s->target.command = strdup(cmd);
                if (!s->target.command)
                        return -ENOMEM;
                s->what = strdup(cmd);
        } else
                return error_setf(ret_error, -EINVAL, "init step '%s': unknown action '%s'", s->id,
                                  uses);
        if (!s->what)
                return -ENOMEM;

        /* The step's own timeout wins over the action's parameter. */
        timeout = json_object_get(j, "timeout");
        if (!timeout)
                timeout = json_object_get(with, "timeout");
        if (timeout && (!json_is_integer(timeout) || json_integer_value(timeout) <= 0 ||
                        json_integer_value(timeout) > (json_int_t) (UINT64_MAX / USEC_PER_MSEC)))
                return error_setf(ret_error, -EINVAL,
                                  "init step '%s': timeout: expected a positive duration in "
                                  "milliseconds",
                                  s->id);
        s->timeout_usec =
                (timeout ? (uint64_t) json_integer_value(timeout) : def_ms) * USEC_PER_MSEC;
        return 0;
}

int sched_init_new(sd_event *event, const json_t *init, const SchedExec *exec,
                   const SchedResolver *resolver, SchedInit **ret, char **ret_error) {
        _cleanup_(sched_init_freep) SchedInit *i = NULL;
        const json_t *steps = NULL, *j;
        size_t idx;
        int r;

        if (!event || !ret)
                return -EINVAL;
        if (init && !json_is_null(init)) {
                if (!json_is_object(init))
                        return error_setf(ret_error, -EINVAL, "init: expected an object");
                steps = json_object_get(init, "steps");
                if (steps && !json_is_array(steps))
                        return error_setf(ret_error, -EINVAL, "init.steps: expected a list");
        }

        i = calloc(1, sizeof(*i));
        if (!i)
                return -ENOMEM;
        i->event = sd_event_ref(event);
        i->poll_usec = POLL_DEFAULT_USEC;
        if (exec)
                i->exec = *exec;
        if (resolver)
                i->resolver = *resolver;
        if (json_array_size(steps) > 0) {
                i->steps = calloc(json_array_size(steps), sizeof(InitStep));
                if (!i->steps)
                        return -ENOMEM;
        }
        json_array_foreach (steps, idx, j) {
                i->n_steps++;
                r = parse_step(i, idx, j, i->steps + idx, ret_error);
                if (r < 0)
                        return r;
        }

        *ret = TAKE_PTR(i);
        return 0;
}

void sched_init_set_poll_interval(SchedInit *i, uint64_t usec) {
        if (i)
                i->poll_usec = MAX(usec, (uint64_t) 1);
}

unsigned sched_init_get_n_steps(const SchedInit *i) {
        return i ? (unsigned) i->n_steps : 0;
}

static void init_emit(SchedInit *i, SchedInitEvent ev, const char *reason) {
        const InitStep *s = i->steps + i->current;
        SchedInitStepInfo info = {
                .index = (unsigned) i->current,
                .id = s->id,
                .uses = s->uses,
                .attempt = i->attempt,
                .n_attempts = s->n_attempts,
                .on_failure = s->on_failure,
                .reason = reason,
        };

        if (i->step_cb)
                i->step_cb(i, ev, &info, i->userdata);
}

static void init_finish(SchedInit *i, int r, const char *step_id, const char *reason) {
        SchedInitResult res = {
                .r = r,
                .step_id = step_id,
                .reason = reason,
                .n_warnings = i->n_warnings,
        };

        i->check = sched_check_free(i->check);
        i->timer = sd_event_source_disable_unref(i->timer);
        i->deadline = sd_event_source_disable_unref(i->deadline);
        if (i->done_cb)
                i->done_cb(i, &res, i->userdata); /* last: it may free i */
}

static void init_begin_attempt(SchedInit *i);
static void init_try(SchedInit *i);

static int init_set_timer(SchedInit *i, uint64_t usec, sd_event_time_handler_t handler) {
        i->timer = sd_event_source_disable_unref(i->timer);
        return sd_event_add_time_relative(i->event, &i->timer, CLOCK_MONOTONIC, usec, 0, handler,
                                          i);
}

static int init_on_next_attempt(sd_event_source *s, uint64_t usec, void *userdata) {
        init_begin_attempt(userdata);
        return 0;
}

static int init_on_next_try(sd_event_source *s, uint64_t usec, void *userdata) {
        init_try(userdata);
        return 0;
}

/* Moves to the next step, or ends the run. */
static void init_advance(SchedInit *i) {
        i->current++;
        i->attempt = 0;
        if (i->current >= i->n_steps) {
                init_finish(i, 0, NULL, NULL);
                return;
        }
        init_begin_attempt(i);
}

static void init_attempt_failed(SchedInit *i, int err, const char *reason) {
        InitStep *s = i->steps + i->current;
        int r;

        i->check = sched_check_free(i->check);
        i->timer = sd_event_source_disable_unref(i->timer);
        i->deadline = sd_event_source_disable_unref(i->deadline);
        init_emit(i, SCHED_INIT_STEP_FAILED, reason);

        if (i->attempt < s->n_attempts) {
                r = init_set_timer(i, i->poll_usec, init_on_next_attempt);
                if (r >= 0)
                        return;
                init_finish(i, r, s->id, "cannot schedule the next attempt");
                return;
        }
        switch (s->on_failure) {
        case SCHED_INIT_ON_FAILURE_WARN:
                i->n_warnings++;
                _fallthrough_;
        case SCHED_INIT_ON_FAILURE_CONTINUE:
                init_advance(i);
                return;
        default:
                init_finish(i, err, s->id, reason);
                return;
        }
}

static void init_on_check_done(SchedCheck *c, bool ok, const char *reason, void *userdata) {
        SchedInit *i = userdata;
        InitStep *s = i->steps + i->current;
        _cleanup_free_ char *mine = strdup(reason);
        char *copy;
        int r;

        /* reason belongs to c: keep a copy before c goes. */
        reason = mine ?: "out of memory";
        i->check = sched_check_free(c);
        if (ok) {
                i->deadline = sd_event_source_disable_unref(i->deadline);
                init_emit(i, SCHED_INIT_STEP_SUCCEEDED, reason);
                init_advance(i);
                return;
        }
        if (s->kind == STEP_RUN) {
                init_attempt_failed(i, startswith(reason, "timed out") ? -ETIMEDOUT : -EIO, reason);
                return;
        }
        /* A wait: try again until its deadline fires. */
        copy = strdup(reason);
        free_and_replace(i->last_reason, copy);
        r = init_set_timer(i, i->poll_usec, init_on_next_try);
        if (r < 0)
                init_attempt_failed(i, r, "cannot schedule the next try");
}

static void init_try(SchedInit *i) {
        InitStep *s = i->steps + i->current;
        uint64_t timeout;
        int r;

        timeout = s->kind == STEP_RUN
                          ? s->timeout_usec
                          : MIN(s->timeout_usec, MAX(i->poll_usec, TRY_TIMEOUT_MIN_USEC));
        if (s->kind != STEP_RUN && i->resolver.resolve) {
                _cleanup_(sched_check_target_done) SchedCheckTarget t = {};
                _cleanup_free_ char *error = NULL;

                r = step_build_target(s, &i->resolver, &t, &error);
                if (r < 0) {
                        /* Not there yet (no address for the name): a failed try like any other. */
                        free_and_replace(i->last_reason, error);
                        r = init_set_timer(i, i->poll_usec, init_on_next_try);
                        if (r < 0)
                                init_attempt_failed(i, r, "cannot schedule the next try");
                        return;
                }
                r = sched_check_start(i->event, &t, timeout, &i->exec, init_on_check_done, i,
                                      &i->check);
        } else
                r = sched_check_start(i->event, &s->target, timeout, &i->exec, init_on_check_done,
                                      i, &i->check);
        if (r < 0) {
                char reason[128];

                (void) snprintf(reason, sizeof(reason), "cannot start: %s", strerror(-r));
                init_attempt_failed(i, r, reason);
        }
}

static int init_on_deadline(sd_event_source *src, uint64_t usec, void *userdata) {
        SchedInit *i = userdata;
        InitStep *s = i->steps + i->current;
        _cleanup_free_ char *reason = NULL;
        char buf[TIMESPAN_MAX_LEN];

        if (asprintf(&reason, "timed out after %s waiting for %s%s%s%s",
                     format_timespan(s->timeout_usec, USEC_PER_MSEC, buf, sizeof(buf)), s->what,
                     i->last_reason ? " (last: " : "", strempty(i->last_reason),
                     i->last_reason ? ")" : "") < 0)
                reason = NULL;
        init_attempt_failed(i, -ETIMEDOUT, reason ?: "timed out");
        return 0;
}

static void init_begin_attempt(SchedInit *i) {
        InitStep *s = i->steps + i->current;
        int r;

        i->attempt++;
        i->last_reason = mfree(i->last_reason);
        init_emit(i, SCHED_INIT_STEP_STARTED, NULL);
        if (s->kind != STEP_RUN) {
                i->deadline = sd_event_source_disable_unref(i->deadline);
                r = sd_event_add_time_relative(i->event, &i->deadline, CLOCK_MONOTONIC,
                                               s->timeout_usec, 0, init_on_deadline, i);
                if (r < 0) {
                        init_attempt_failed(i, r, "cannot arm the step's timeout");
                        return;
                }
        }
        init_try(i);
}

static int init_on_start(sd_event_source *s, uint64_t usec, void *userdata) {
        SchedInit *i = userdata;

        i->timer = sd_event_source_disable_unref(i->timer);
        if (i->n_steps == 0) {
                init_finish(i, 0, NULL, NULL);
                return 0;
        }
        i->current = 0;
        i->attempt = 0;
        init_begin_attempt(i);
        return 0;
}

int sched_init_start(SchedInit *i, SchedInitStepFn step_cb, SchedInitDoneFn done_cb,
                     void *userdata) {
        int r;

        if (!i)
                return -EINVAL;
        if (i->started)
                return -EALREADY;
        i->step_cb = step_cb;
        i->done_cb = done_cb;
        i->userdata = userdata;
        /* From the loop, so the callbacks never run inside this call. */
        r = init_set_timer(i, 0, init_on_start);
        if (r < 0)
                return r;
        i->started = true;
        return 0;
}
