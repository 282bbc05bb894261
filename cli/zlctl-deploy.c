/* SPDX-License-Identifier: Apache-2.0 */
/* zlctl-deploy.c: deploy, status DEPLOYMENT, stop, scale, logs, job, cron and run on Scheduler1. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus-error.h"
#include "fd-util.h"
#include "fileio.h"
#include "log.h"
#include "parse-util.h"
#include "string-util.h"
#include "table.h"
#include "time-util.h"
#include "zlctl-bus.h"
#include "zlctl.h"

#define SCHED_SERVICE "org.zlayer.Scheduler1"
#define SCHED_PATH "/org/zlayer/Scheduler1"
#define SCHED_IFACE "org.zlayer.Scheduler1"
#define RUNTIME_SERVICE "org.zlayer.Runtime1"
#define RUNTIME_PATH "/org/zlayer/Runtime1"
#define RUNTIME_IFACE "org.zlayer.Runtime1"

#define CALL_TIMEOUT_USEC (60 * USEC_PER_SEC)
#define POLL_INTERVAL_USEC (1 * USEC_PER_SEC)
#define STOP_POLL_USEC (500 * USEC_PER_MSEC)
#define DEPLOY_TIMEOUT_DEFAULT_USEC (10 * USEC_PER_MINUTE)
#define RUN_STOP_WAIT_USEC (3 * USEC_PER_MINUTE)
#define RUN_NODE_START_USEC (60 * USEC_PER_SEC)
#define LOG_COLLECT_QUIET_MSEC 200
#define LOG_COLLECT_MAX_USEC (2 * USEC_PER_SEC)
#define LOG_REFRESH_USEC (2 * USEC_PER_SEC)
#define VIEW_MESSAGE_WIDTH 60
#define SCALE_MAX 1000U

#define SCHEDD_NOT_RUNNING                                                                         \
        "zl-schedd is not running: start it with systemctl start zl-schedd or zlctl local start"

/* ---- small helpers ----------------------------------------------------------------------- */

static const char *nonempty(const char *s) {
        return isempty(s) ? NULL : s;
}

static int cmp_strp(const void *a, const void *b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* An object's keys in byte order, so that every listing is stable. */
static int sorted_keys(json_t *o, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        const char *key;
        json_t *v;

        json_object_foreach (o, key, v)
                if (strv_extend(&l, key) < 0)
                        return -ENOMEM;
        if (l)
                qsort(l, strv_length(l), sizeof(char *), cmp_strp);
        *ret = TAKE_PTR(l);
        return 0;
}

static const char *format_when(json_int_t t, char *buf, size_t len) {
        if (t <= 0)
                return NULL;
        return format_timestamp((usec_t) t, buf, len);
}

/* A scalar JSON value as text for a table cell; NULL for null/absent. */
static const char *json_cell(json_t *v, char *buf, size_t len) {
        if (json_is_string(v))
                return nonempty(json_string_value(v));
        if (json_is_integer(v)) {
                snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
                return buf;
        }
        if (json_is_true(v))
                return "yes";
        if (json_is_false(v))
                return "no";
        return NULL;
}

/* ---- Scheduler1 calls -------------------------------------------------------------------- */

static bool error_is_no_schedd(const sd_bus_error *e) {
        return sd_bus_error_has_names(e, SD_BUS_ERROR_SERVICE_UNKNOWN,
                                      SD_BUS_ERROR_NAME_HAS_NO_OWNER);
}

/* Logs a failed Scheduler1 call: zl-schedd absent, an invalid spec (its messages as they come,
 * each naming FILE:LINE:COLUMN and the path), or "Failed to WHAT: ...". Returns r. */
static int log_sched_error(int r, const sd_bus_error *e, const char *what) {
        if (sd_bus_error_is_set(e) && error_is_no_schedd(e)) {
                log_error("%s", SCHEDD_NOT_RUNNING);
                return r;
        }
        if (sd_bus_error_has_name(e, ZL_BUS_ERROR_INVALID_SPEC) && !isempty(e->message)) {
                fputs(e->message, stderr);
                if (!endswith(e->message, "\n"))
                        fputc('\n', stderr);
                log_error("Failed to %s: the spec is not valid.", what);
                return r;
        }
        return zlctl_log_call_error(r, e, what);
}

static int sched_new_call(sd_bus *bus, const char *method, sd_bus_message **ret) {
        return sd_bus_message_new_method_call(bus, ret, SCHED_SERVICE, SCHED_PATH, SCHED_IFACE,
                                              method);
}

/* A Scheduler1 call with simple arguments. With ret_error the error is handed back unlogged;
 * else it is logged. */
static int sched_callv(sd_bus *bus, const char *method, sd_bus_message **ret_reply,
                       sd_bus_error *ret_error, const char *what, const char *types, va_list ap) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sched_new_call(bus, method, &m);
        if (r >= 0 && types)
                r = sd_bus_message_appendv(m, types, ap);
        if (r < 0)
                return log_error_errno(r, "Failed to build the %s call: %m", method);
        r = sd_bus_call(bus, m, CALL_TIMEOUT_USEC, &error, ret_reply);
        if (r < 0) {
                if (ret_error)
                        return sd_bus_error_move(ret_error, &error), r;
                return log_sched_error(r, &error, what);
        }
        return 0;
}

static int sched_call(sd_bus *bus, const char *method, sd_bus_message **ret_reply, const char *what,
                      const char *types, ...) {
        va_list ap;
        int r;

        va_start(ap, types);
        r = sched_callv(bus, method, ret_reply, NULL, what, types, ap);
        va_end(ap);
        return r;
}

/* A call whose reply is one JSON text ("s"), parsed. */
static int sched_call_json(sd_bus *bus, const char *method, sd_bus_error *ret_error,
                           const char *what, json_t **ret, const char *types, ...) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        json_error_t jerr;
        const char *text;
        json_t *j;
        va_list ap;
        int r;

        va_start(ap, types);
        r = sched_callv(bus, method, &reply, ret_error, what, types, ap);
        va_end(ap);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "s", &text);
        if (r < 0)
                return log_error_errno(r, "Failed to read the reply to %s: %m", method);
        j = json_loads(text, 0, &jerr);
        if (!json_is_object(j)) {
                json_decref(j);
                return log_error_errno(EBADMSG, "Bad JSON in the reply to %s: %s", method,
                                       jerr.text);
        }
        *ret = j;
        return 0;
}

/* GetDeployment, parsed. -ENOENT for an unknown deployment: logged unless quiet_not_found. */
static int get_deployment(sd_bus *bus, const char *name, bool quiet_not_found, json_t **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sched_call_json(bus, "GetDeployment", &error, NULL, ret, "s", name);
        if (r >= 0)
                return 0;
        if (sd_bus_error_has_name(&error, ZL_BUS_ERROR_NOT_FOUND)) {
                if (!quiet_not_found)
                        log_error("No deployment '%s'.", name);
                return -ENOENT;
        }
        if (!sd_bus_error_is_set(&error))
                return r;
        return log_sched_error(r, &error, "get the deployment");
}

/* ---- deployment outcome and events ------------------------------------------------------- */

/* What GetDeployment says about generation: 1 ready, -1 failed (message in *ret_message), 0
 * not yet. Deploy puts the status back to "pending", so "ready" at this generation is fresh. */
static int deployment_outcome(json_t *d, uint64_t generation, char **ret_message) {
        const char *status = zlctl_json_str(d, "status");

        *ret_message = NULL;
        if (!status || (uint64_t) zlctl_json_int(d, "generation") != generation)
                return 0;
        if (streq(status, "ready"))
                return 1;
        if (streq(status, "failed")) {
                *ret_message = strdup(zlctl_json_str(d, "message") ?: "failed");
                return -1;
        }
        return 0;
}

/* "web-1" for a service and replica index, "web" without index, NULL without service. */
static char *event_who(json_t *d) {
        const char *service = zlctl_json_str(d, "service");
        json_t *replica = json_object_get(d, "replica");
        char *s = NULL;

        if (!service)
                return NULL;
        /* A negative index stands for "no replica in particular". */
        if (json_is_integer(replica) && json_integer_value(replica) >= 0) {
                if (asprintf(&s, "%s-%" JSON_INTEGER_FORMAT, service, json_integer_value(replica)) <
                    0)
                        return NULL;
                return s;
        }
        return strdup(service);
}

/* One line for a DeploymentEvent; NULL on OOM. */
static char *event_describe(const char *event, json_t *d) {
        _cleanup_free_ char *who = event_who(d), *rest = NULL;
        const char *w = who ?: "-";
        char *s = NULL;
        int r;

        if (streq(event, "deploying"))
                r = asprintf(&s, "deploying generation %" JSON_INTEGER_FORMAT,
                             zlctl_json_int(d, "generation"));
        else if (streq(event, "image_pull_started"))
                r = asprintf(&s, "%s: pulling %s", w, strna(zlctl_json_str(d, "image")));
        else if (streq(event, "image_pull_complete"))
                r = asprintf(&s, "%s: pulled %s", w, strna(zlctl_json_str(d, "image")));
        else if (streq(event, "service_waiting"))
                r = asprintf(&s, "%s: waiting for %s to be %s", w,
                             strna(zlctl_json_str(d, "dependency")),
                             strna(zlctl_json_str(d, "condition")));
        else if (streq(event, "service_scaling"))
                r = asprintf(&s,
                             "%s: scaling from %" JSON_INTEGER_FORMAT " to %" JSON_INTEGER_FORMAT
                             " replicas",
                             w, zlctl_json_int(d, "from"), zlctl_json_int(d, "to"));
        else if (streq(event, "replica_created")) {
                char id[ZLCTL_SHORT_ID_LEN + 1];

                r = asprintf(
                        &s, "%s: created container %s", w,
                        strna(zlctl_short_id(zlctl_json_str(d, "container_id"), id, sizeof id)));
        } else if (streq(event, "replica_started"))
                r = asprintf(&s, "%s: started%s%s%s", w, zlctl_json_str(d, "ip") ? " (" : "",
                             strempty(zlctl_json_str(d, "ip")), zlctl_json_str(d, "ip") ? ")" : "");
        else if (streq(event, "replica_healthy"))
                r = asprintf(&s, "%s: healthy", w);
        else if (streq(event, "replica_unhealthy"))
                r = asprintf(&s, "%s: unhealthy: %s", w, strna(zlctl_json_str(d, "reason")));
        else if (streq(event, "replica_failed"))
                r = asprintf(&s, "%s: failed: %s", w, strna(zlctl_json_str(d, "reason")));
        else if (streq(event, "replica_restarting"))
                r = asprintf(&s,
                             "%s: restarting (restart %" JSON_INTEGER_FORMAT
                             ", in %" JSON_INTEGER_FORMAT " ms)",
                             w, zlctl_json_int(d, "restarts"), zlctl_json_int(d, "delay_ms"));
        else if (streq(event, "replica_stopped"))
                r = asprintf(&s, "%s: stopped", w);
        else if (streq(event, "warning"))
                r = asprintf(&s, "%s: warning: %s", w, strna(zlctl_json_str(d, "message")));
        else if (streq(event, "ready"))
                r = asprintf(&s, "ready (generation %" JSON_INTEGER_FORMAT ")",
                             zlctl_json_int(d, "generation"));
        else if (streq(event, "degraded"))
                r = asprintf(&s, "degraded: %s", strna(zlctl_json_str(d, "message")));
        else if (streq(event, "failed")) {
                if (who)
                        r = asprintf(&s, "failed: %s: %s", who,
                                     strna(zlctl_json_str(d, "message")));
                else
                        r = asprintf(&s, "failed: %s", strna(zlctl_json_str(d, "message")));
        } else if (streq(event, "stopped"))
                r = asprintf(&s, "stopped");
        else {
                /* An event this zlctl does not know yet: its name and fields, unabridged. */
                rest = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
                r = asprintf(&s, "%s %s", event, strempty(rest));
        }
        return r < 0 ? NULL : s;
}

/* ---- zlctl deploy ------------------------------------------------------------------------ */

typedef struct DeployWait {
        const char *name; /* NULL until Deploy replied: events before are not ours to judge */
        uint64_t generation;
        bool tty, quiet;
        usec_t started;
        json_t *deployment; /* the last GetDeployment */
        size_t drawn; /* lines of the live area */
        int outcome; /* 0 waiting, 1 ready, -1 failed */
        char *failure;
} DeployWait;

static void deploy_wait_done(DeployWait *w) {
        json_decref(w->deployment);
        w->deployment = NULL;
        w->failure = mfree(w->failure);
}

static void view_clear(DeployWait *w) {
        if (!w->tty || w->drawn == 0)
                return;
        printf("\033[%zuA\r\033[J", w->drawn);
        w->drawn = 0;
}

/* The live area: elapsed time and status, then one line per service. */
static void view_draw(DeployWait *w) {
        _cleanup_strv_free_ char **names = NULL;
        json_t *services;
        char elapsed[TIMESPAN_MAX_LEN];

        if (!w->tty || w->quiet)
                return;
        view_clear(w);
        format_timespan(now(CLOCK_MONOTONIC) - w->started, USEC_PER_SEC / 10, elapsed,
                        sizeof elapsed);
        printf("\033[1m[%s]\033[0m %s: %s (generation %" PRIu64 ")\n", elapsed, strna(w->name),
               strna(zlctl_json_str(w->deployment, "status")), w->generation);
        w->drawn = 1;
        services = json_object_get(w->deployment, "services");
        if (!json_is_object(services) || sorted_keys(services, &names) < 0 || !names)
                goto done;
        printf("  %-20s %8s %8s %8s  %s\n", "SERVICE", "DESIRED", "RUNNING", "HEALTHY", "MESSAGE");
        w->drawn++;
        for (char **n = names; *n; n++) {
                json_t *s = json_object_get(services, *n);

                printf("  %-20s %8" JSON_INTEGER_FORMAT " %8" JSON_INTEGER_FORMAT
                       " %8" JSON_INTEGER_FORMAT "  %.*s\n",
                       *n, zlctl_json_int(s, "desired"), zlctl_json_int(s, "running"),
                       zlctl_json_int(s, "healthy"), VIEW_MESSAGE_WIDTH,
                       strempty(zlctl_json_str(s, "message")));
                w->drawn++;
        }
done:
        fflush(stdout);
}

/* A permanent line: above the live area on a terminal, else a plain line. */
static void view_line(DeployWait *w, const char *line) {
        if (w->quiet)
                return;
        view_clear(w);
        printf("%s: %s\n", strna(w->name), line);
        if (w->tty)
                view_draw(w);
        else
                fflush(stdout);
}

static int on_deployment_event(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        _cleanup_(json_decrefp) json_t *data = NULL;
        _cleanup_free_ char *line = NULL;
        DeployWait *w = userdata;
        const char *deployment, *event, *json;
        json_int_t gen;

        (void) ret_error;
        if (sd_bus_message_read(m, "sss", &deployment, &event, &json) < 0)
                return 0;
        if (!w->name || !streq(deployment, w->name) || w->outcome != 0)
                return 0;
        data = json_loads(json, 0, NULL);
        if (!json_is_object(data)) {
                json_decref(data);
                data = json_object();
                if (!data)
                        return 0;
        }
        line = event_describe(event, data);
        if (line)
                view_line(w, line);
        /* Events of the generation before ours may still come in after Deploy replied. */
        gen = zlctl_json_int(data, "generation");
        if (gen > 0 && (uint64_t) gen < w->generation)
                return 0;
        if (streq(event, "ready"))
                w->outcome = 1;
        else if (streq(event, "failed")) {
                w->outcome = -1;
                free(w->failure);
                w->failure = strdup(startswith(strempty(line), "failed: ") ?: strempty(line));
        } else if (streq(event, "stopped")) {
                w->outcome = -1;
                free(w->failure);
                w->failure = strdup("the deployment was stopped");
        }
        return 0;
}

/* Which replicas failed and why, from GetDeployment. */
static void print_failures(json_t *d) {
        _cleanup_strv_free_ char **names = NULL;
        json_t *services = json_object_get(d, "services");

        if (!json_is_object(services) || sorted_keys(services, &names) < 0)
                return;
        for (char **n = names; n && *n; n++) {
                json_t *s = json_object_get(services, *n), *rep;
                size_t i;

                if (!isempty(zlctl_json_str(s, "message")))
                        fprintf(stderr, "  %s: %s\n", *n, zlctl_json_str(s, "message"));
                json_array_foreach (json_object_get(s, "replicas"), i, rep) {
                        const char *state = zlctl_json_str(rep, "state"),
                                   *health = zlctl_json_str(rep, "health");

                        if (isempty(zlctl_json_str(rep, "message")) &&
                            !(state && streq(state, "failed")) &&
                            !(health && streq(health, "unhealthy")))
                                continue;
                        fprintf(stderr, "  %s-%" JSON_INTEGER_FORMAT ": %s, %s: %s\n", *n,
                                zlctl_json_int(rep, "index"), strna(state), strna(health),
                                strna(zlctl_json_str(rep, "message")));
                }
        }
}

typedef struct DeployArgs {
        const char *file;
        bool dry_run, wait, quiet;
        bool run; /* for zlctl run, which stops the deployment on Ctrl-C */
        bool have_port_offset;
        uint32_t port_offset;
        usec_t timeout;
} DeployArgs;

static int append_deploy_options(sd_bus_message *m, const DeployArgs *a, const char *filename) {
        int r;

        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0)
                r = sd_bus_message_append(m, "{sv}", "filename", "s", filename);
        if (r >= 0 && a->have_port_offset)
                r = sd_bus_message_append(m, "{sv}", "port_offset", "u", a->port_offset);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r;
}

/* Deploy (or Plan) of a->file. With a->wait follows the deployment until ready, failed, the
 * timeout or Ctrl-C. *ret_name gets the deployment's name once Deploy accepted the spec.
 * Returns an exit code. */
static int deploy(sd_bus *bus, const DeployArgs *a, char **ret_name) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
        _cleanup_(deploy_wait_done) DeployWait w = {
                .tty = isatty(STDOUT_FILENO) > 0,
                .quiet = a->quiet,
                .started = now(CLOCK_MONOTONIC),
        };
        _cleanup_free_ char *text = NULL, *name = NULL;
        const char *filename = streq(a->file, "-") ? "stdin" : a->file;
        usec_t deadline, next_poll = 0;
        char span[TIMESPAN_MAX_LEN];
        const char *dname;
        int r;

        r = zlctl_read_spec(a->file, &text, NULL);
        if (r < 0)
                return log_error_errno(r, "Failed to read '%s': %m", a->file), ZLCTL_EXIT_FAILURE;

        if (a->wait && !a->dry_run) {
                /* Subscribed before Deploy, so that no event of the new generation is missed:
                 * what comes during the call is queued and judged once the name is known. */
                r = sd_bus_match_signal(bus, &slot, SCHED_SERVICE, SCHED_PATH, SCHED_IFACE,
                                        "DeploymentEvent", on_deployment_event, &w);
                if (r < 0)
                        return log_error_errno(r, "Failed to subscribe to deployment events: %m"),
                               ZLCTL_EXIT_FAILURE;
        }

        r = sched_new_call(bus, a->dry_run ? "Plan" : "Deploy", &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "s", text);
        if (r >= 0)
                r = append_deploy_options(m, a, filename);
        if (r < 0)
                return log_error_errno(r, "Failed to build the call: %m"), ZLCTL_EXIT_FAILURE;
        r = sd_bus_call(bus, m, CALL_TIMEOUT_USEC, &error, &reply);
        if (r < 0)
                return log_sched_error(r, &error, a->dry_run ? "plan" : "deploy"),
                       ZLCTL_EXIT_FAILURE;

        if (a->dry_run) {
                const char *plan, *plan_json;

                r = sd_bus_message_read(reply, "ss", &plan, &plan_json);
                if (r < 0)
                        return log_error_errno(r, "Failed to read the plan: %m"),
                               ZLCTL_EXIT_FAILURE;
                fputs(plan, stdout);
                if (!isempty(plan) && !endswith(plan, "\n"))
                        fputc('\n', stdout);
                return ZLCTL_EXIT_OK;
        }

        r = sd_bus_message_read(reply, "st", &dname, &w.generation);
        if (r < 0)
                return log_error_errno(r, "Failed to read the reply to Deploy: %m"),
                       ZLCTL_EXIT_FAILURE;
        name = strdup(dname);
        if (!name)
                return log_oom(), ZLCTL_EXIT_FAILURE;
        w.name = name;
        if (ret_name) {
                *ret_name = strdup(name);
                if (!*ret_name)
                        return log_oom(), ZLCTL_EXIT_FAILURE;
        }
        if (!a->quiet)
                printf("Deployment %s generation %" PRIu64 " accepted.\n", name, w.generation);
        if (!a->wait) {
                if (!a->quiet)
                        printf("Follow it with '%s status %s'.\n", program_name, name);
                return ZLCTL_EXIT_OK;
        }
        fflush(stdout);

        deadline = now(CLOCK_MONOTONIC) + a->timeout;
        while (w.outcome == 0 && !zlctl_interrupted) {
                usec_t t = now(CLOCK_MONOTONIC), until;

                if (t >= deadline)
                        break;
                if (t >= next_poll) {
                        _cleanup_free_ char *message = NULL;
                        json_t *d = NULL;

                        next_poll = t + POLL_INTERVAL_USEC;
                        r = get_deployment(bus, name, true, &d);
                        if (r == -ENOENT) {
                                w.outcome = -1;
                                w.failure = strdup("the deployment is gone (stopped)");
                                break;
                        }
                        if (r >= 0) {
                                json_decref(w.deployment);
                                w.deployment = d;
                                r = deployment_outcome(d, w.generation, &message);
                                if (r != 0 && w.outcome == 0) {
                                        w.outcome = r;
                                        if (message)
                                                free_and_replace(w.failure, message);
                                }
                                view_draw(&w);
                        }
                        if (w.outcome != 0)
                                break;
                }
                r = sd_bus_process(bus, NULL);
                if (r < 0) {
                        log_error_errno(r, "Failed to talk to the node: %m");
                        break;
                }
                if (r > 0)
                        continue;
                until = MIN(next_poll, deadline);
                t = now(CLOCK_MONOTONIC);
                r = sd_bus_wait(bus, until > t ? until - t : 0);
                if (r < 0 && r != -EINTR) {
                        log_error_errno(r, "Failed to wait for the node: %m");
                        break;
                }
        }
        view_clear(&w);
        fflush(stdout);
        format_timespan(now(CLOCK_MONOTONIC) - w.started, USEC_PER_SEC / 10, span, sizeof span);

        if (w.outcome > 0) {
                if (!a->quiet)
                        printf("Deployment %s is ready (generation %" PRIu64 ", %s).\n", name,
                               w.generation, span);
                return ZLCTL_EXIT_OK;
        }
        if (w.outcome < 0) {
                _cleanup_(json_decrefp) json_t *d = NULL;

                log_error("Deployment %s failed: %s", name, strna(w.failure));
                if (get_deployment(bus, name, true, &d) >= 0)
                        print_failures(d);
                return ZLCTL_EXIT_FAILURE;
        }
        if (zlctl_interrupted) {
                if (!a->run)
                        log_error("Interrupted; deployment %s goes on (see '%s status %s').", name,
                                  program_name, name);
                return ZLCTL_EXIT_FAILURE;
        }
        if (now(CLOCK_MONOTONIC) >= deadline) {
                log_error("Timed out after %s waiting for deployment %s: status %s%s%s.", span,
                          name, strna(zlctl_json_str(w.deployment, "status")),
                          isempty(zlctl_json_str(w.deployment, "message")) ? "" : ", ",
                          strempty(zlctl_json_str(w.deployment, "message")));
                if (w.deployment)
                        print_failures(w.deployment);
        }
        return ZLCTL_EXIT_FAILURE;
}

static int parse_timeout(const char *command, const char *s, usec_t *ret) {
        uint64_t ms;

        if (parse_duration_ms(s, &ms) < 0 || ms == 0 || ms > UINT64_MAX / USEC_PER_MSEC)
                return usage_error(command,
                                   "invalid --timeout '%s'; expected a duration such as 5m", s);
        *ret = ms * USEC_PER_MSEC;
        return 0;
}

static int parse_port_offset(const char *command, const char *s, DeployArgs *a) {
        unsigned u;

        if (safe_atou(s, &u) < 0 || u > 65535)
                return usage_error(command, "invalid --port-offset '%s'; expected 0..65535", s);
        a->port_offset = u;
        a->have_port_offset = true;
        return 0;
}

int verb_deploy(int argc, char *argv[]) {
        enum { ARG_WAIT = 0x100, ARG_NO_WAIT, ARG_DRY_RUN, ARG_PORT_OFFSET, ARG_TIMEOUT };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "wait", no_argument, NULL, ARG_WAIT },
                { "no-wait", no_argument, NULL, ARG_NO_WAIT },
                { "dry-run", no_argument, NULL, ARG_DRY_RUN },
                { "port-offset", required_argument, NULL, ARG_PORT_OFFSET },
                { "timeout", required_argument, NULL, ARG_TIMEOUT },
                { "quiet", no_argument, NULL, 'q' },
                {},
        };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        DeployArgs a = {
                .wait = isatty(STDOUT_FILENO) > 0,
                .timeout = DEPLOY_TIMEOUT_DEFAULT_USEC,
        };
        ZlctlSignalGuard g;
        int c, r;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":hq", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        printf("%s deploy [OPTIONS...] FILE\n\n"
                               "Send a deployment spec (YAML or JSON; '-' for stdin) to "
                               "zl-schedd,\n"
                               "which validates it and makes it the deployment's next generation.\n"
                               "An invalid spec changes nothing; its errors name FILE:LINE:COLUMN\n"
                               "and the key path.\n\n"
                               "Options:\n"
                               "  -h --help              Show this help\n"
                               "     --wait              Follow the deployment until it is ready\n"
                               "                         or failed (default on a terminal)\n"
                               "     --no-wait           Return once the spec is accepted\n"
                               "                         (default otherwise)\n"
                               "     --dry-run           Print what would be done, change nothing\n"
                               "     --port-offset=N     Add N to the port of every public "
                               "endpoint\n"
                               "     --timeout=DURATION  How long --wait waits (default 10m)\n"
                               "  -q --quiet             Print nothing but errors\n"
                               "\nWhile waiting, a terminal shows each service's desired, running\n"
                               "and healthy replicas in place, with the events above; otherwise\n"
                               "one plain line per event. Ctrl-C stops waiting (the deployment\n"
                               "goes on).\n"
                               "\nExit status: 0 accepted (with --wait: ready), 1 invalid spec,\n"
                               "failed deployment or timeout, 2 usage error.\n",
                               program_name);
                        return ZLCTL_EXIT_OK;
                case ARG_WAIT:
                        a.wait = true;
                        break;
                case ARG_NO_WAIT:
                        a.wait = false;
                        break;
                case ARG_DRY_RUN:
                        a.dry_run = true;
                        break;
                case ARG_PORT_OFFSET:
                        r = parse_port_offset("deploy", optarg, &a);
                        if (r != 0)
                                return r;
                        break;
                case ARG_TIMEOUT:
                        r = parse_timeout("deploy", optarg, &a.timeout);
                        if (r != 0)
                                return r;
                        break;
                case 'q':
                        a.quiet = true;
                        break;
                default:
                        return zlctl_getopt_failure("deploy", c, argv);
                }
        if (optind >= argc)
                return usage_error("deploy", "missing FILE");
        if (optind + 1 < argc)
                return usage_error("deploy", "unexpected argument '%s'", argv[optind + 1]);
        a.file = argv[optind];

        if (zlctl_bus_open(&bus, NULL) < 0)
                return ZLCTL_EXIT_FAILURE;
        zlctl_signals_catch(&g);
        r = deploy(bus, &a, NULL);
        zlctl_signals_restore(&g);
        return r;
}

/* ---- zlctl status [DEPLOYMENT] ----------------------------------------------------------- */

int zlctl_print_deployments(sd_bus *bus, json_t *json_root) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(json_decrefp) json_t *arr = NULL;
        _cleanup_(table_freep) Table *t = NULL;
        size_t n = 0;
        int r;

        r = sched_new_call(bus, "ListDeployments", &m);
        /* An overview must not start zl-schedd through bus activation. */
        if (r >= 0)
                r = sd_bus_message_set_auto_start(m, false);
        if (r < 0)
                return log_error_errno(r, "Failed to build the ListDeployments call: %m");
        r = sd_bus_call(bus, m, CALL_TIMEOUT_USEC, &error, &reply);
        if (r < 0 && error_is_no_schedd(&error)) {
                if (json_root)
                        return json_object_set_new(json_root, "deployments", json_null()) < 0
                                       ? log_oom()
                                       : 0;
                printf("zl-schedd is not running: no deployments to show.\n");
                return 0;
        }
        if (r < 0)
                return log_sched_error(r, &error, "list the deployments");

        arr = json_array();
        t = table_new("DEPLOYMENT", "STATUS", "GENERATION", "UPDATED", "MESSAGE");
        if (!arr || !t)
                return log_oom();
        r = sd_bus_message_enter_container(reply, 'a', "(sstst)");
        while (r > 0) {
                const char *name, *status, *message;
                uint64_t generation, updated;
                char gen[32], when[TIMESTAMP_MAX_LEN];

                r = sd_bus_message_read(reply, "(sstst)", &name, &status, &generation, &message,
                                        &updated);
                if (r <= 0)
                        break;
                snprintf(gen, sizeof gen, "%" PRIu64, generation);
                if (table_add_row(t, name, status, gen,
                                  format_when((json_int_t) updated, when, sizeof when),
                                  nonempty(message)) < 0 ||
                    json_array_append_new(
                            arr, json_pack("{s:s, s:s, s:I, s:s, s:I}", "name", name, "status",
                                           status, "generation", (json_int_t) generation, "message",
                                           message, "updated_at", (json_int_t) updated)) < 0)
                        return log_oom();
                n++;
        }
        if (r < 0)
                return log_error_errno(r, "Failed to read the deployment list: %m");
        if (json_root)
                return json_object_set(json_root, "deployments", arr) < 0 ? log_oom() : 0;
        if (n == 0) {
                printf("No deployments.\n");
                return 0;
        }
        return zlctl_print_table(t);
}

static int print_deployment(json_t *d) {
        _cleanup_(table_freep) Table *svc = NULL, *eps = NULL, *reps = NULL;
        _cleanup_strv_free_ char **names = NULL;
        json_t *services = json_object_get(d, "services");
        char when[TIMESTAMP_MAX_LEN];
        size_t n_eps = 0, n_reps = 0;

        printf("Deployment %s: %s, generation %" JSON_INTEGER_FORMAT,
               strna(zlctl_json_str(d, "name")), strna(zlctl_json_str(d, "status")),
               zlctl_json_int(d, "generation"));
        if (format_when(zlctl_json_int(d, "updated_at"), when, sizeof when))
                printf(", updated %s", when);
        printf("\n");
        if (!isempty(zlctl_json_str(d, "message")))
                printf("  %s\n", zlctl_json_str(d, "message"));

        svc = table_new("SERVICE", "TYPE", "DESIRED", "RUNNING", "HEALTHY", "MESSAGE");
        eps = table_new("ENDPOINT", "PROTOCOL", "EXPOSE", "LISTEN", "URL");
        reps = table_new("REPLICA", "STATE", "HEALTH", "IP", "RESTARTS", "CONTAINER", "MESSAGE");
        if (!svc || !eps || !reps)
                return log_oom();
        if (json_is_object(services) && sorted_keys(services, &names) < 0)
                return log_oom();
        for (char **n = names; n && *n; n++) {
                json_t *s = json_object_get(services, *n), *v;
                char desired[32], running[32], healthy[32];
                size_t i;

                snprintf(desired, sizeof desired, "%" JSON_INTEGER_FORMAT,
                         zlctl_json_int(s, "desired"));
                snprintf(running, sizeof running, "%" JSON_INTEGER_FORMAT,
                         zlctl_json_int(s, "running"));
                snprintf(healthy, sizeof healthy, "%" JSON_INTEGER_FORMAT,
                         zlctl_json_int(s, "healthy"));
                if (table_add_row(svc, *n, zlctl_json_str(s, "rtype"), desired, running, healthy,
                                  nonempty(zlctl_json_str(s, "message"))) < 0)
                        return log_oom();

                json_array_foreach (json_object_get(s, "endpoints"), i, v) {
                        _cleanup_free_ char *ep =
                                strjoin(*n, "/", strna(zlctl_json_str(v, "name")));
                        char lbuf[64];

                        if (!ep || table_add_row(eps, ep, zlctl_json_str(v, "protocol"),
                                                 zlctl_json_str(v, "expose"),
                                                 json_cell(json_object_get(v, "listen"), lbuf,
                                                           sizeof lbuf),
                                                 nonempty(zlctl_json_str(v, "url"))) < 0)
                                return log_oom();
                        n_eps++;
                }
                json_array_foreach (json_object_get(s, "replicas"), i, v) {
                        _cleanup_free_ char *rep = NULL;
                        char restarts[32], id[ZLCTL_SHORT_ID_LEN + 1];

                        if (asprintf(&rep, "%s-%" JSON_INTEGER_FORMAT, *n,
                                     zlctl_json_int(v, "index")) < 0)
                                return log_oom();
                        snprintf(restarts, sizeof restarts, "%" JSON_INTEGER_FORMAT,
                                 zlctl_json_int(v, "restarts"));
                        if (table_add_row(reps, rep, zlctl_json_str(v, "state"),
                                          zlctl_json_str(v, "health"),
                                          nonempty(zlctl_json_str(v, "ip")), restarts,
                                          zlctl_short_id(zlctl_json_str(v, "container_id"), id,
                                                         sizeof id),
                                          nonempty(zlctl_json_str(v, "message"))) < 0)
                                return log_oom();
                        n_reps++;
                }
        }
        printf("\n");
        if (zlctl_print_table(svc) < 0)
                return -EIO;
        if (n_eps > 0) {
                printf("\n");
                if (zlctl_print_table(eps) < 0)
                        return -EIO;
        }
        if (n_reps > 0) {
                printf("\n");
                if (zlctl_print_table(reps) < 0)
                        return -EIO;
        }
        return 0;
}

int zlctl_deployment_status(const char *name, bool json) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(json_decrefp) json_t *d = NULL;

        if (zlctl_bus_open(&bus, NULL) < 0)
                return ZLCTL_EXIT_FAILURE;
        if (get_deployment(bus, name, false, &d) < 0)
                return ZLCTL_EXIT_FAILURE;
        if ((json ? zlctl_print_json(d) : print_deployment(d)) < 0)
                return ZLCTL_EXIT_FAILURE;
        return ZLCTL_EXIT_OK;
}

/* ---- logs of replicas -------------------------------------------------------------------- */

typedef struct LogSource {
        char *label; /* "web-0" */
        char *container_id;
        int fd;
        ZlctlLineBuffer lines;
        char *part[2]; /* P records of stdout / stderr waiting for their F record */
        char *part_time[2];
        bool eof;
} LogSource;

typedef struct LogLine {
        char *time;
        char *text;
        size_t source, seq;
} LogLine;

typedef struct LogSet {
        LogSource *sources;
        size_t n_sources;
        bool prefix; /* "web-0 | " before each line */
        size_t width; /* of the labels */
        bool collecting; /* gather lines to print them sorted by time */
        LogLine *lines;
        size_t n_lines, seq;
} LogSet;

static void log_set_done(LogSet *s) {
        for (size_t i = 0; i < s->n_sources; i++) {
                LogSource *src = &s->sources[i];

                free(src->label);
                free(src->container_id);
                safe_close(src->fd);
                zlctl_line_buffer_done(&src->lines);
                for (int k = 0; k < 2; k++) {
                        free(src->part[k]);
                        free(src->part_time[k]);
                }
        }
        free(s->sources);
        for (size_t i = 0; i < s->n_lines; i++) {
                free(s->lines[i].time);
                free(s->lines[i].text);
        }
        free(s->lines);
        *s = (LogSet){};
}

static bool log_set_has(const LogSet *s, const char *container_id) {
        for (size_t i = 0; i < s->n_sources; i++)
                if (streq(s->sources[i].container_id, container_id))
                        return true;
        return false;
}

static void log_print(const LogSet *s, size_t source, const char *text, size_t len) {
        if (s->prefix)
                printf("%-*s | ", (int) s->width, s->sources[source].label);
        fwrite(text, 1, len, stdout);
        fputc('\n', stdout);
}

static int log_emit(LogSet *s, size_t source, const char *time, size_t time_len, const char *text,
                    size_t len) {
        LogLine *l;

        if (!s->collecting) {
                log_print(s, source, text, len);
                return 0;
        }
        l = reallocarray(s->lines, s->n_lines + 1, sizeof(LogLine));
        if (!l)
                return -ENOMEM;
        s->lines = l;
        l = &s->lines[s->n_lines];
        *l = (LogLine){
                .time = strndup(time, time_len),
                .text = strndup(text, len),
                .source = source,
                .seq = s->seq++,
        };
        if (!l->time || !l->text) {
                free(l->time);
                free(l->text);
                return -ENOMEM;
        }
        s->n_lines++;
        return 0;
}

static int cmp_log_line(const void *a, const void *b) {
        const LogLine *x = a, *y = b;
        int c = strcmp(x->time, y->time);

        if (c != 0)
                return c;
        return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Prints what was collected, merged by time (RFC 3339 UTC with nanoseconds sorts as text),
 * and stops collecting. */
static void log_flush(LogSet *s) {
        if (s->n_lines > 0)
                qsort(s->lines, s->n_lines, sizeof(LogLine), cmp_log_line);
        for (size_t i = 0; i < s->n_lines; i++) {
                log_print(s, s->lines[i].source, s->lines[i].text, strlen(s->lines[i].text));
                free(s->lines[i].time);
                free(s->lines[i].text);
        }
        s->lines = mfree(s->lines);
        s->n_lines = 0;
        s->collecting = false;
        fflush(stdout);
}

/* One record; P parts are joined up to their F. */
static int log_record(LogSet *s, size_t source, const char *line, size_t n) {
        LogSource *src = &s->sources[source];
        ZlctlLogRecord rec;
        int err;

        if (zlctl_log_record_parse(line, n, &rec) < 0)
                /* Not a record: show it rather than lose it. */
                return log_emit(s, source, "", 0, line, n);
        err = rec.err;
        if (rec.partial) {
                if (!src->part_time[err]) {
                        src->part_time[err] = strndup(rec.time, rec.time_len);
                        if (!src->part_time[err])
                                return -ENOMEM;
                }
                _cleanup_free_ char *chunk = strndup(rec.text, rec.text_len);
                if (!chunk || strextend(&src->part[err], chunk) < 0)
                        return -ENOMEM;
                return 0;
        }
        if (src->part[err]) {
                _cleanup_free_ char *chunk = strndup(rec.text, rec.text_len), *time = NULL;
                int r;

                if (!chunk || strextend(&src->part[err], chunk) < 0)
                        return -ENOMEM;
                time = TAKE_PTR(src->part_time[err]);
                r = log_emit(s, source, strempty(time), strlen(strempty(time)), src->part[err],
                             strlen(src->part[err]));
                src->part[err] = mfree(src->part[err]);
                return r;
        }
        return log_emit(s, source, rec.time, rec.time_len, rec.text, rec.text_len);
}

typedef struct LogFeed {
        LogSet *set;
        size_t source;
} LogFeed;

static int log_feed_line(const char *line, size_t n, void *userdata) {
        LogFeed *f = userdata;

        return log_record(f->set, f->source, line, n);
}

static int log_feed(LogSet *s, size_t source, const char *data, size_t n) {
        LogFeed f = { .set = s, .source = source };

        return zlctl_line_buffer_feed(&s->sources[source].lines, data, n, log_feed_line, &f);
}

/* At EOF: a last record without its newline, and parts without their end, still count. */
static int log_source_eof(LogSet *s, size_t source) {
        LogSource *src = &s->sources[source];
        int r;

        src->eof = true;
        src->fd = safe_close(src->fd);
        if (src->lines.len > 0) {
                r = log_record(s, source, src->lines.buf, src->lines.len);
                src->lines.len = 0;
                if (r < 0)
                        return r;
        }
        for (int k = 0; k < 2; k++)
                if (src->part[k]) {
                        r = log_emit(s, source, strempty(src->part_time[k]),
                                     strlen(strempty(src->part_time[k])), src->part[k],
                                     strlen(src->part[k]));
                        src->part[k] = mfree(src->part[k]);
                        src->part_time[k] = mfree(src->part_time[k]);
                        if (r < 0)
                                return r;
                }
        return 0;
}

/* Runtime1.OpenLogs of a container; -ENOENT (logged at debug) when it is gone. */
static int open_container_logs(sd_bus *bus, const char *id, bool follow, int64_t tail,
                               int *ret_fd) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_call_method(bus, RUNTIME_SERVICE, RUNTIME_PATH, RUNTIME_IFACE, "OpenLogs",
                               &error, &reply, "sbxt", id, follow, tail, (uint64_t) 0);
        if (r < 0) {
                if (sd_bus_error_has_name(&error, ZL_BUS_ERROR_NOT_FOUND)) {
                        log_debug("Container %s is gone, no logs.", id);
                        return -ENOENT;
                }
                _cleanup_free_ char *what = strjoin("read the logs of container ", id);
                return zlctl_log_call_error(r, &error, what ?: "read the logs");
        }
        return zlctl_logs_reply_fd(reply, ret_fd);
}

static int log_set_add(LogSet *s, sd_bus *bus, const char *label, const char *container_id,
                       bool follow, int64_t tail) {
        _cleanup_close_ int fd = -EBADF;
        LogSource *a;
        int r;

        r = open_container_logs(bus, container_id, follow, tail, &fd);
        if (r < 0)
                return r;
        if (follow) {
                r = fd_nonblock(fd, true);
                if (r < 0)
                        return log_error_errno(r, "Failed to set up the log descriptor: %m");
        }
        a = reallocarray(s->sources, s->n_sources + 1, sizeof(LogSource));
        if (!a)
                return log_oom();
        s->sources = a;
        a = &s->sources[s->n_sources];
        *a = (LogSource){
                .label = strdup(label),
                .container_id = strdup(container_id),
                .fd = -EBADF,
        };
        if (!a->label || !a->container_id) {
                free(a->label);
                free(a->container_id);
                return log_oom();
        }
        a->fd = TAKE_FD(fd);
        s->width = MAX(s->width, strlen(label));
        s->n_sources++;
        return 0;
}

/* Adds the replicas of the deployment d (of one service and replica index, or all) that have a
 * container not in the set yet. Returns how many were added. */
static int log_set_add_replicas(LogSet *s, sd_bus *bus, json_t *d, const char *service, int replica,
                                bool follow, int64_t tail) {
        _cleanup_strv_free_ char **names = NULL;
        json_t *services = json_object_get(d, "services");
        int added = 0, failed = 0, r;

        if (json_is_object(services) && sorted_keys(services, &names) < 0)
                return log_oom();
        for (char **n = names; n && *n; n++) {
                json_t *rep;
                size_t i;

                if (service && !streq(service, *n))
                        continue;
                json_array_foreach (json_object_get(json_object_get(services, *n), "replicas"), i,
                                    rep) {
                        const char *id = zlctl_json_str(rep, "container_id");
                        _cleanup_free_ char *label = NULL;

                        if (isempty(id) || log_set_has(s, id))
                                continue;
                        if (replica >= 0 && zlctl_json_int(rep, "index") != replica)
                                continue;
                        if (asprintf(&label, "%s-%" JSON_INTEGER_FORMAT, *n,
                                     zlctl_json_int(rep, "index")) < 0)
                                return log_oom();
                        r = log_set_add(s, bus, label, id, follow, tail);
                        if (r == -ENOMEM)
                                return r;
                        if (r == -ENOENT)
                                continue;
                        /* Logged; the other replicas' logs are still worth showing. */
                        if (r < 0) {
                                failed = r;
                                continue;
                        }
                        added++;
                }
        }
        return added > 0 || failed == 0 ? added : failed;
}

/* Reads every source to its end, then prints the lines merged by time. */
static int log_set_dump(LogSet *s) {
        s->collecting = true;
        for (size_t i = 0; i < s->n_sources; i++)
                while (!s->sources[i].eof) {
                        char buf[64 * 1024];
                        ssize_t n = read(s->sources[i].fd, buf, sizeof buf);
                        int r;

                        if (n < 0 && errno == EINTR && !zlctl_interrupted)
                                continue;
                        if (n < 0 && errno == EINTR)
                                return -EINTR;
                        if (n < 0)
                                return log_error_errno(errno, "Failed to read the logs: %m");
                        r = n == 0 ? log_source_eof(s, i) : log_feed(s, i, buf, (size_t) n);
                        if (r < 0)
                                return log_oom();
                }
        log_flush(s);
        return 0;
}

typedef int (*LogRefresh)(LogSet *s, void *userdata);

/* Follows every source until all ended (without refresh) or Ctrl-C. What is there at the start
 * is printed merged by time; after that, lines as they come. refresh (may be NULL) is called
 * every few seconds to add the logs of new containers. */
static int log_set_follow(LogSet *s, LogRefresh refresh, void *userdata) {
        usec_t start = now(CLOCK_MONOTONIC), next_refresh = start + LOG_REFRESH_USEC;
        _cleanup_free_ struct pollfd *pfd = NULL;
        _cleanup_free_ size_t *idx = NULL;
        int r;

        s->collecting = true;
        while (!zlctl_interrupted) {
                size_t n = 0;
                int timeout;

                pfd = mfree(pfd);
                idx = mfree(idx);
                pfd = calloc(s->n_sources + 1, sizeof(struct pollfd));
                idx = calloc(s->n_sources + 1, sizeof(size_t));
                if (!pfd || !idx)
                        return log_oom();
                for (size_t i = 0; i < s->n_sources; i++)
                        if (!s->sources[i].eof) {
                                pfd[n] =
                                        (struct pollfd){ .fd = s->sources[i].fd, .events = POLLIN };
                                idx[n++] = i;
                        }
                if (n == 0 && !refresh)
                        break;
                if (s->collecting)
                        timeout = LOG_COLLECT_QUIET_MSEC;
                else if (refresh)
                        timeout = (int) (LOG_REFRESH_USEC / USEC_PER_MSEC);
                else
                        timeout = -1;
                r = poll(pfd, n, timeout);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return log_error_errno(errno, "Failed to wait for the logs: %m");
                if (s->collecting &&
                    (r == 0 || now(CLOCK_MONOTONIC) - start > LOG_COLLECT_MAX_USEC))
                        log_flush(s);
                for (size_t k = 0; k < n && r > 0; k++) {
                        char buf[64 * 1024];
                        ssize_t got;

                        if (pfd[k].revents == 0)
                                continue;
                        got = read(pfd[k].fd, buf, sizeof buf);
                        if (got < 0 && (errno == EAGAIN || errno == EINTR))
                                continue;
                        if (got < 0) {
                                log_warning_errno(errno, "Failed to read the logs of %s: %m",
                                                  s->sources[idx[k]].label);
                                got = 0;
                        }
                        r = got == 0 ? log_source_eof(s, idx[k])
                                     : log_feed(s, idx[k], buf, (size_t) got);
                        if (r < 0)
                                return log_oom();
                        r = 1;
                }
                if (!s->collecting)
                        fflush(stdout);
                if (refresh && now(CLOCK_MONOTONIC) >= next_refresh) {
                        next_refresh = now(CLOCK_MONOTONIC) + LOG_REFRESH_USEC;
                        r = refresh(s, userdata);
                        if (r < 0)
                                return r;
                }
        }
        if (s->collecting)
                log_flush(s);
        return 0;
}

int verb_logs(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "deployment", required_argument, NULL, 'd' },
                { "service", required_argument, NULL, 's' },
                { "follow", no_argument, NULL, 'f' },
                { "tail", required_argument, NULL, 'n' },
                { "replica", required_argument, NULL, 'i' },
                {},
        };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(json_decrefp) json_t *d = NULL;
        _cleanup_(log_set_done) LogSet set = { .prefix = true };
        const char *deployment = NULL, *service = NULL;
        bool follow = false;
        int64_t tail = -1;
        int replica = -1, c, r;
        ZlctlSignalGuard g;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":hd:s:fn:i:", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        printf("%s logs [OPTIONS...] DEPLOYMENT [SERVICE]\n"
                               "%s logs -d DEPLOYMENT [-s] [SERVICE] [OPTIONS...]\n\n"
                               "Print the output of a deployment's replicas (of one service, or\n"
                               "all), merged by time, each line prefixed with 'SERVICE-INDEX | "
                               "'.\n\n"
                               "Options:\n"
                               "  -h --help              Show this help\n"
                               "  -d --deployment=NAME   The deployment\n"
                               "  -s --service=NAME      Only this service\n"
                               "  -i --replica=INDEX     Only the replica of this index\n"
                               "  -n --tail=N            Only the last N lines of each replica\n"
                               "                         (or 'all', the default)\n"
                               "  -f --follow            Keep printing new lines until Ctrl-C or\n"
                               "                         every replica's container ended\n"
                               "\nExit status: 0 success, 1 failure, 2 usage error.\n",
                               program_name, program_name);
                        return ZLCTL_EXIT_OK;
                case 'd':
                        deployment = optarg;
                        break;
                case 's':
                        service = optarg;
                        break;
                case 'f':
                        follow = true;
                        break;
                case 'n':
                        r = zlctl_parse_tail("logs", optarg, &tail);
                        if (r != 0)
                                return r;
                        break;
                case 'i':
                        if (safe_atoi(optarg, &replica) < 0 || replica < 0)
                                return usage_error("logs",
                                                   "invalid --replica '%s': expected an index "
                                                   ">= 0",
                                                   optarg);
                        break;
                default:
                        return zlctl_getopt_failure("logs", c, argv);
                }
        for (; optind < argc; optind++) {
                if (!deployment)
                        deployment = argv[optind];
                else if (!service)
                        service = argv[optind];
                else
                        return usage_error("logs", "unexpected argument '%s'", argv[optind]);
        }
        if (!deployment)
                return usage_error("logs", "missing DEPLOYMENT");

        if (zlctl_bus_open(&bus, NULL) < 0)
                return ZLCTL_EXIT_FAILURE;
        if (get_deployment(bus, deployment, false, &d) < 0)
                return ZLCTL_EXIT_FAILURE;
        if (service && !json_object_get(json_object_get(d, "services"), service))
                return log_error("Deployment %s has no service '%s'.", deployment, service),
                       ZLCTL_EXIT_FAILURE;
        r = log_set_add_replicas(&set, bus, d, service, replica, follow, tail);
        if (r < 0)
                return ZLCTL_EXIT_FAILURE;
        if (r == 0) {
                log_error("No replica of %s%s%s has a container%s.", deployment,
                          service ? " service " : "", strempty(service),
                          replica >= 0 ? " at that index" : "");
                return ZLCTL_EXIT_FAILURE;
        }
        zlctl_signals_catch(&g);
        r = follow ? log_set_follow(&set, NULL, NULL) : log_set_dump(&set);
        zlctl_signals_restore(&g);
        if (r == -EINTR || (r >= 0 && zlctl_interrupted && !follow))
                return ZLCTL_EXIT_FAILURE;
        return r < 0 ? ZLCTL_EXIT_FAILURE : ZLCTL_EXIT_OK;
}

/* ---- zlctl stop, zlctl scale ------------------------------------------------------------- */

/* Polls until the deployment is gone (service NULL) or the service has no running replica.
 * Returns 0, or -EINTR / -ETIMEDOUT / another -errno (logged). */
static int wait_stopped(sd_bus *bus, const char *name, const char *service, usec_t timeout) {
        usec_t deadline = timeout > 0 ? now(CLOCK_MONOTONIC) + timeout : USEC_INFINITY;

        for (;;) {
                _cleanup_(json_decrefp) json_t *d = NULL;
                int r;

                r = get_deployment(bus, name, true, &d);
                if (r == -ENOENT)
                        return 0;
                if (r < 0)
                        return r;
                if (service) {
                        json_t *s = json_object_get(json_object_get(d, "services"), service);

                        if (!s || zlctl_json_int(s, "running") == 0)
                                return 0;
                }
                if (zlctl_interrupted)
                        return -EINTR;
                if (now(CLOCK_MONOTONIC) >= deadline)
                        return -ETIMEDOUT;
                (void) usleep(STOP_POLL_USEC);
        }
}

int verb_stop(int argc, char *argv[]) {
        enum { ARG_TIMEOUT = 0x100, ARG_WAIT };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "service", required_argument, NULL, 's' },
                { "timeout", required_argument, NULL, ARG_TIMEOUT },
                { "wait", no_argument, NULL, ARG_WAIT },
                {},
        };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        const char *service = NULL, *name;
        unsigned timeout = 0;
        bool wait = false;
        ZlctlSignalGuard g;
        int c, r;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":hs:", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        printf("%s stop [OPTIONS...] DEPLOYMENT\n\n"
                               "Stop a deployment: every replica is stopped and removed, then the\n"
                               "deployment is deleted with its routes. With --service, only that\n"
                               "service is scaled to 0 (a later deploy or scale brings it "
                               "back).\n\n"
                               "Options:\n"
                               "  -h --help              Show this help\n"
                               "  -s --service=NAME      Stop only this service\n"
                               "     --timeout=SECONDS   Between each container's stop signal and\n"
                               "                         SIGKILL (default: the service's\n"
                               "                         stop_grace_period)\n"
                               "     --wait              Return once it is gone (the service has\n"
                               "                         no running replica)\n"
                               "\nExit status: 0 success, 1 failure, 2 usage error.\n",
                               program_name);
                        return ZLCTL_EXIT_OK;
                case 's':
                        service = optarg;
                        break;
                case ARG_TIMEOUT:
                        if (safe_atou(optarg, &timeout) < 0)
                                return usage_error(
                                        "stop", "invalid --timeout '%s'; expected seconds", optarg);
                        break;
                case ARG_WAIT:
                        wait = true;
                        break;
                default:
                        return zlctl_getopt_failure("stop", c, argv);
                }
        if (optind >= argc)
                return usage_error("stop", "missing DEPLOYMENT");
        if (optind + 1 < argc)
                return usage_error("stop", "unexpected argument '%s'", argv[optind + 1]);
        name = argv[optind];

        if (zlctl_bus_open(&bus, NULL) < 0)
                return ZLCTL_EXIT_FAILURE;
        if (sched_call(bus, "Stop", NULL, "stop", "ssu", name, strempty(service), timeout) < 0)
                return ZLCTL_EXIT_FAILURE;
        if (service)
                printf("Stopping service %s of %s.\n", service, name);
        else
                printf("Stopping deployment %s.\n", name);
        if (!wait)
                return ZLCTL_EXIT_OK;
        fflush(stdout);
        zlctl_signals_catch(&g);
        r = wait_stopped(bus, name, service, 0);
        zlctl_signals_restore(&g);
        if (r == -EINTR)
                return log_error("Interrupted; %s goes on stopping.", name), ZLCTL_EXIT_FAILURE;
        if (r < 0)
                return ZLCTL_EXIT_FAILURE;
        printf("Stopped.\n");
        return ZLCTL_EXIT_OK;
}

int verb_scale(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                {},
        };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        unsigned replicas;
        int c;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        printf("%s scale [OPTIONS...] DEPLOYMENT SERVICE REPLICAS\n\n"
                               "Set the number of replicas (0..%u) of a service with scale mode\n"
                               "fixed or manual. It holds until the next scale, or for a fixed\n"
                               "service until a deploy changes it.\n\n"
                               "Options:\n"
                               "  -h --help              Show this help\n"
                               "\nExit status: 0 success, 1 failure, 2 usage error.\n",
                               program_name, SCALE_MAX);
                        return ZLCTL_EXIT_OK;
                default:
                        return zlctl_getopt_failure("scale", c, argv);
                }
        if (argc - optind < 3)
                return usage_error("scale", "expected DEPLOYMENT SERVICE REPLICAS");
        if (argc - optind > 3)
                return usage_error("scale", "unexpected argument '%s'", argv[optind + 3]);
        if (safe_atou(argv[optind + 2], &replicas) < 0 || replicas > SCALE_MAX)
                return usage_error("scale", "invalid REPLICAS '%s'; expected 0..%u",
                                   argv[optind + 2], SCALE_MAX);

        if (zlctl_bus_open(&bus, NULL) < 0)
                return ZLCTL_EXIT_FAILURE;
        if (sched_call(bus, "Scale", NULL, "scale", "ssu", argv[optind], argv[optind + 1],
                       replicas) < 0)
                return ZLCTL_EXIT_FAILURE;
        printf("Scaling %s of %s to %u replica%s.\n", argv[optind + 1], argv[optind], replicas,
               replicas == 1 ? "" : "s");
        return ZLCTL_EXIT_OK;
}

/* ---- zlctl job, zlctl cron --------------------------------------------------------------- */

static bool want_help(int argc, char *argv[]) {
        for (int i = 1; i < argc; i++) {
                if (streq(argv[i], "--"))
                        return false;
                if (streq(argv[i], "-h") || streq(argv[i], "--help"))
                        return true;
        }
        return false;
}

static int list_executions(sd_bus *bus, const char *deployment, const char *service, json_t **ret) {
        return sched_call_json(bus, "ListJobExecutions", NULL, "list the job executions", ret, "ss",
                               strempty(deployment), strempty(service));
}

static json_t *find_execution(json_t *list, const char *id) {
        json_t *e;
        size_t i;

        json_array_foreach (json_object_get(list, "executions"), i, e)
                if (streq(strempty(zlctl_json_str(e, "id")), id))
                        return e;
        return NULL;
}

static bool execution_ended(json_t *e) {
        const char *state = zlctl_json_str(e, "state");

        return state &&
               (streq(state, "succeeded") || streq(state, "failed") || streq(state, "cancelled"));
}

typedef struct JobWait {
        const char *id; /* NULL until TriggerJob replied */
        bool done;
        char *state;
        int exit_code;
} JobWait;

static int on_job_finished(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        JobWait *w = userdata;
        const char *id, *deployment, *service, *state;
        int exit_code;

        (void) ret_error;
        if (sd_bus_message_read(m, "ssssi", &id, &deployment, &service, &state, &exit_code) < 0)
                return 0;
        if (!w->id || !streq(id, w->id) || w->done)
                return 0;
        free(w->state);
        w->state = strdup(state);
        w->exit_code = exit_code;
        w->done = true;
        return 0;
}

static int job_print_log(sd_bus *bus, const char *container_id) {
        _cleanup_(log_set_done) LogSet set = {};
        int r;

        r = log_set_add(&set, bus, "job", container_id, false, -1);
        if (r == -ENOENT)
                return log_warning("The execution's container %s is gone; no log.", container_id),
                       0;
        if (r < 0)
                return r;
        return log_set_dump(&set);
}

static int verb_job_run(int argc, char *argv[]) {
        enum { ARG_WAIT = 0x100 };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "wait", no_argument, NULL, ARG_WAIT },
                {},
        };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
        _cleanup_(json_decrefp) json_t *list = NULL;
        _cleanup_free_ char *id = NULL;
        JobWait w = { .exit_code = -1 };
        usec_t next_poll = 0;
        bool wait = false;
        const char *rid, *container_id;
        ZlctlSignalGuard g;
        int c, r;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        printf("%s job run [OPTIONS...] DEPLOYMENT SERVICE\n\n"
                               "Start one execution of a service of rtype job (or cron, out of\n"
                               "schedule) and print its id.\n\n"
                               "Options:\n"
                               "  -h --help              Show this help\n"
                               "     --wait              Wait until it ends, print its output\n"
                               "\nExit status: 0 started; with --wait the job's own exit code\n"
                               "(1 when it never ran or was cancelled); 1 failure; 2 usage\n"
                               "error.\n",
                               program_name);
                        return ZLCTL_EXIT_OK;
                case ARG_WAIT:
                        wait = true;
                        break;
                default:
                        return zlctl_getopt_failure("job run", c, argv);
                }
        if (argc - optind < 2)
                return usage_error("job run", "expected DEPLOYMENT SERVICE");
        if (argc - optind > 2)
                return usage_error("job run", "unexpected argument '%s'", argv[optind + 2]);

        if (zlctl_bus_open(&bus, NULL) < 0)
                return ZLCTL_EXIT_FAILURE;
        if (wait) {
                r = sd_bus_match_signal(bus, &slot, SCHED_SERVICE, SCHED_PATH, SCHED_IFACE,
                                        "JobFinished", on_job_finished, &w);
                if (r < 0)
                        return log_error_errno(r, "Failed to subscribe to JobFinished: %m"),
                               ZLCTL_EXIT_FAILURE;
        }
        if (sched_call(bus, "TriggerJob", &reply, "trigger the job", "ss", argv[optind],
                       argv[optind + 1]) < 0)
                return ZLCTL_EXIT_FAILURE;
        r = sd_bus_message_read(reply, "s", &rid);
        if (r < 0)
                return log_error_errno(r, "Failed to read the reply to TriggerJob: %m"),
                       ZLCTL_EXIT_FAILURE;
        id = strdup(rid);
        if (!id)
                return log_oom(), ZLCTL_EXIT_FAILURE;
        printf("%s\n", id);
        fflush(stdout);
        if (!wait)
                return ZLCTL_EXIT_OK;

        w.id = id;
        zlctl_signals_catch(&g);
        while (!w.done && !zlctl_interrupted) {
                if (now(CLOCK_MONOTONIC) >= next_poll) {
                        /* The signal is the fast path; polling covers a lost one. */
                        _cleanup_(json_decrefp) json_t *l = NULL;
                        json_t *e;

                        next_poll = now(CLOCK_MONOTONIC) + POLL_INTERVAL_USEC;
                        if (list_executions(bus, argv[optind], argv[optind + 1], &l) >= 0 &&
                            (e = find_execution(l, id)) && execution_ended(e)) {
                                free(w.state);
                                w.state = strdup(zlctl_json_str(e, "state"));
                                w.exit_code = (int) zlctl_json_int(e, "exit_code");
                                w.done = true;
                                break;
                        }
                }
                r = sd_bus_process(bus, NULL);
                if (r < 0)
                        break;
                if (r > 0)
                        continue;
                r = sd_bus_wait(bus, POLL_INTERVAL_USEC);
                if (r < 0 && r != -EINTR)
                        break;
        }
        zlctl_signals_restore(&g);
        if (!w.done) {
                free(w.state);
                if (r < 0)
                        log_error_errno(r, "Failed to talk to the node: %m");
                else
                        log_error("Interrupted; execution %s goes on.", id);
                return ZLCTL_EXIT_FAILURE;
        }

        if (list_executions(bus, argv[optind], argv[optind + 1], &list) >= 0) {
                container_id = zlctl_json_str(find_execution(list, id), "container_id");
                if (!isempty(container_id))
                        (void) job_print_log(bus, container_id);
        }
        fflush(stdout);
        fprintf(stderr, "Execution %s %s, exit code %d.\n", id, strna(w.state), w.exit_code);
        r = w.exit_code;
        free(w.state);
        if (r < 0 || r > 255)
                return ZLCTL_EXIT_FAILURE;
        return r;
}

static int execution_row(Table *t, json_t *e) {
        char code[32], started[TIMESTAMP_MAX_LEN], took[TIMESPAN_MAX_LEN],
                id[ZLCTL_SHORT_ID_LEN + 1];
        json_t *dur = json_object_get(e, "duration_ms");

        snprintf(code, sizeof code, "%" JSON_INTEGER_FORMAT, zlctl_json_int(e, "exit_code"));
        return table_add_row(
                t, zlctl_json_str(e, "id"), zlctl_json_str(e, "deployment"),
                zlctl_json_str(e, "service"), zlctl_json_str(e, "state"),
                zlctl_json_int(e, "exit_code") >= 0 ? code : NULL,
                format_when(zlctl_json_int(e, "started"), started, sizeof started),
                json_is_integer(dur) && json_integer_value(dur) >= 0
                        ? format_timespan((usec_t) json_integer_value(dur) * USEC_PER_MSEC,
                                          USEC_PER_MSEC, took, sizeof took)
                        : NULL,
                zlctl_short_id(zlctl_json_str(e, "container_id"), id, sizeof id));
}

static int verb_job_ls(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "output", required_argument, NULL, 'o' },
                {},
        };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(json_decrefp) json_t *list = NULL;
        _cleanup_(table_freep) Table *t = NULL;
        bool json = false;
        json_t *e;
        size_t i;
        int c, r;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":ho:", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        printf("%s job ls [OPTIONS...] [DEPLOYMENT [SERVICE]]\n\n"
                               "List the executions of jobs and cron services, newest first.\n\n"
                               "Options:\n"
                               "  -h --help              Show this help\n"
                               "  -o --output=FORMAT     table (default) or json\n"
                               "\nExit status: 0 success, 1 failure, 2 usage error.\n",
                               program_name);
                        return ZLCTL_EXIT_OK;
                case 'o':
                        r = zlctl_parse_output("job ls", optarg, &json);
                        if (r != 0)
                                return r;
                        break;
                default:
                        return zlctl_getopt_failure("job ls", c, argv);
                }
        if (argc - optind > 2)
                return usage_error("job ls", "unexpected argument '%s'", argv[optind + 2]);

        if (zlctl_bus_open(&bus, NULL) < 0)
                return ZLCTL_EXIT_FAILURE;
        if (list_executions(bus, optind < argc ? argv[optind] : NULL,
                            optind + 1 < argc ? argv[optind + 1] : NULL, &list) < 0)
                return ZLCTL_EXIT_FAILURE;
        if (json)
                return zlctl_print_json(list) < 0 ? ZLCTL_EXIT_FAILURE : ZLCTL_EXIT_OK;
        t = table_new("ID", "DEPLOYMENT", "SERVICE", "STATE", "EXIT", "STARTED", "DURATION",
                      "CONTAINER");
        if (!t)
                return log_oom(), ZLCTL_EXIT_FAILURE;
        json_array_foreach (json_object_get(list, "executions"), i, e)
                if (execution_row(t, e) < 0)
                        return log_oom(), ZLCTL_EXIT_FAILURE;
        return zlctl_print_table(t) < 0 ? ZLCTL_EXIT_FAILURE : ZLCTL_EXIT_OK;
}

static int verb_job_status(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "output", required_argument, NULL, 'o' },
                {},
        };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(json_decrefp) json_t *list = NULL;
        _cleanup_strv_free_ char **keys = NULL;
        bool json = false;
        json_t *e;
        int c, r;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":ho:", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        printf("%s job status [OPTIONS...] EXECUTION_ID\n\n"
                               "Show one execution of a job or cron service: its state, exit\n"
                               "code, times and container.\n\n"
                               "Options:\n"
                               "  -h --help              Show this help\n"
                               "  -o --output=FORMAT     table (default) or json\n"
                               "\nExit status: 0 success, 1 failure or unknown id, 2 usage "
                               "error.\n",
                               program_name);
                        return ZLCTL_EXIT_OK;
                case 'o':
                        r = zlctl_parse_output("job status", optarg, &json);
                        if (r != 0)
                                return r;
                        break;
                default:
                        return zlctl_getopt_failure("job status", c, argv);
                }
        if (optind >= argc)
                return usage_error("job status", "missing EXECUTION_ID");
        if (optind + 1 < argc)
                return usage_error("job status", "unexpected argument '%s'", argv[optind + 1]);

        if (zlctl_bus_open(&bus, NULL) < 0)
                return ZLCTL_EXIT_FAILURE;
        if (list_executions(bus, NULL, NULL, &list) < 0)
                return ZLCTL_EXIT_FAILURE;
        e = find_execution(list, argv[optind]);
        if (!e)
                return log_error("No job execution '%s'.", argv[optind]), ZLCTL_EXIT_FAILURE;
        if (json)
                return zlctl_print_json(e) < 0 ? ZLCTL_EXIT_FAILURE : ZLCTL_EXIT_OK;
        if (sorted_keys(e, &keys) < 0)
                return log_oom(), ZLCTL_EXIT_FAILURE;
        for (char **k = keys; k && *k; k++) {
                json_t *v = json_object_get(e, *k);
                char buf[64], when[TIMESTAMP_MAX_LEN];
                const char *text = json_cell(v, buf, sizeof buf);

                if ((streq(*k, "started") || streq(*k, "finished")) && json_is_integer(v))
                        text = format_when(json_integer_value(v), when, sizeof when);
                printf("%-12s %s\n", *k, text ?: "-");
        }
        return ZLCTL_EXIT_OK;
}

int verb_sched_job(int argc, char *argv[]) {
        static const Verb verbs[] = {
                { "run", verb_job_run, "Start an execution of a job (--wait for its end)" },
                { "ls", verb_job_ls, "List the executions of jobs and cron services" },
                { "status", verb_job_status, "Show one execution" },
                {},
        };

        return dispatch_verb("job", verbs, argc - 1, argv + 1);
}

static int verb_cron_ls(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(json_decrefp) json_t *list = NULL;
        _cleanup_(table_freep) Table *t = NULL;
        bool json = false;
        json_t *e;
        size_t i;
        int r;

        if (want_help(argc, argv)) {
                printf("%s cron ls [-o|--output=table|json]\n\n"
                       "List the services of rtype cron: schedule, last and next run (UTC).\n\n"
                       "Options:\n"
                       "  -h --help              Show this help\n"
                       "  -o --output=FORMAT     table (default) or json\n",
                       program_name);
                return ZLCTL_EXIT_OK;
        }
        for (int k = 1; k < argc; k++) {
                const char *v = NULL;

                if ((streq(argv[k], "-o") || streq(argv[k], "--output")) && k + 1 < argc)
                        v = argv[++k];
                else if (startswith(argv[k], "--output="))
                        v = argv[k] + strlen("--output=");
                else
                        return usage_error("cron ls", "unexpected argument '%s'", argv[k]);
                r = zlctl_parse_output("cron ls", v, &json);
                if (r != 0)
                        return r;
        }

        if (zlctl_bus_open(&bus, NULL) < 0)
                return ZLCTL_EXIT_FAILURE;
        if (sched_call_json(bus, "ListCronJobs", NULL, "list the cron jobs", &list, NULL) < 0)
                return ZLCTL_EXIT_FAILURE;
        if (json)
                return zlctl_print_json(list) < 0 ? ZLCTL_EXIT_FAILURE : ZLCTL_EXIT_OK;
        t = table_new("DEPLOYMENT", "SERVICE", "SCHEDULE", "LAST", "NEXT");
        if (!t)
                return log_oom(), ZLCTL_EXIT_FAILURE;
        json_array_foreach (json_object_get(list, "cron"), i, e) {
                char last[TIMESTAMP_MAX_LEN], next[TIMESTAMP_MAX_LEN];

                if (table_add_row(t, zlctl_json_str(e, "deployment"), zlctl_json_str(e, "service"),
                                  zlctl_json_str(e, "schedule"),
                                  format_when(zlctl_json_int(e, "last"), last, sizeof last),
                                  format_when(zlctl_json_int(e, "next"), next, sizeof next)) < 0)
                        return log_oom(), ZLCTL_EXIT_FAILURE;
        }
        return zlctl_print_table(t) < 0 ? ZLCTL_EXIT_FAILURE : ZLCTL_EXIT_OK;
}

int verb_sched_cron(int argc, char *argv[]) {
        static const Verb verbs[] = {
                { "ls", verb_cron_ls, "List the cron services and their next runs" },
                {},
        };

        return dispatch_verb("cron", verbs, argc - 1, argv + 1);
}

/* ---- zlctl run --------------------------------------------------------------------------- */

typedef struct RunRefresh {
        sd_bus *bus;
        const char *name;
} RunRefresh;

/* Replicas come and go (restarts, scaling): follow the new containers too. */
static int run_refresh(LogSet *s, void *userdata) {
        _cleanup_(json_decrefp) json_t *d = NULL;
        RunRefresh *rr = userdata;
        int r;

        r = get_deployment(rr->bus, rr->name, true, &d);
        if (r == -ENOENT) {
                log_error("Deployment %s is gone.", rr->name);
                zlctl_interrupted++;
                return 0;
        }
        if (r < 0)
                return 0; /* logged; the next round may do better */
        r = log_set_add_replicas(s, rr->bus, d, NULL, -1, true, -1);
        return r == -ENOMEM ? r : 0;
}

/* Whether a node answers on the bus, without the error messages of zlctl_bus_open. */
static int try_open_bus(sd_bus **ret) {
        int level = log_get_max_level(), r;

        log_set_max_level(LOG_CRIT);
        r = zlctl_bus_open(ret, NULL);
        log_set_max_level(level);
        return r;
}

int verb_run(int argc, char *argv[]) {
        enum { ARG_PORT_OFFSET = 0x100, ARG_TIMEOUT };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "port-offset", required_argument, NULL, ARG_PORT_OFFSET },
                { "timeout", required_argument, NULL, ARG_TIMEOUT },
                {},
        };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(log_set_done) LogSet set = { .prefix = true };
        _cleanup_free_ char *name = NULL;
        DeployArgs a = { .wait = true, .run = true, .timeout = DEPLOY_TIMEOUT_DEFAULT_USEC };
        bool started = false, ok = false;
        ZlctlSignalGuard g;
        int c, r;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        printf("%s run [OPTIONS...] FILE\n\n"
                               "Run a deployment for as long as this command runs: start a local\n"
                               "node when no node answers (as '%s local start'), deploy FILE and\n"
                               "wait until it is ready, show its status, then follow the logs of\n"
                               "every replica. Ctrl-C (or SIGTERM) stops the deployment, waits\n"
                               "until it is gone, and stops the node if this command started "
                               "it.\n\n"
                               "Options:\n"
                               "  -h --help              Show this help\n"
                               "     --port-offset=N     Add N to the port of every public "
                               "endpoint,\n"
                               "                         so several copies run side by side\n"
                               "     --timeout=DURATION  How long to wait for ready (default 10m)\n"
                               "\nExit status: 0 ran and stopped cleanly, 1 failure, 2 usage "
                               "error.\n",
                               program_name, program_name);
                        return ZLCTL_EXIT_OK;
                case ARG_PORT_OFFSET:
                        r = parse_port_offset("run", optarg, &a);
                        if (r != 0)
                                return r;
                        break;
                case ARG_TIMEOUT:
                        r = parse_timeout("run", optarg, &a.timeout);
                        if (r != 0)
                                return r;
                        break;
                default:
                        return zlctl_getopt_failure("run", c, argv);
                }
        if (optind >= argc)
                return usage_error("run", "missing FILE");
        if (optind + 1 < argc)
                return usage_error("run", "unexpected argument '%s'", argv[optind + 1]);
        a.file = argv[optind];
        if (access(a.file, R_OK) < 0 && !streq(a.file, "-"))
                return log_error_errno(errno, "Cannot read '%s': %m", a.file), ZLCTL_EXIT_FAILURE;

        if (try_open_bus(&bus) < 0) {
                /* $ZLAYER_BUS_ADDRESS names the node to use: starting another one would not
                 * help. */
                if (!isempty(getenv("ZLAYER_BUS_ADDRESS")))
                        return zlctl_bus_open(&bus, NULL), ZLCTL_EXIT_FAILURE;
                fprintf(stderr, "No node answers; starting a local node.\n");
                if (zlctl_local_node_start(NULL, RUN_NODE_START_USEC, &started) < 0)
                        return ZLCTL_EXIT_FAILURE;
                if (zlctl_bus_open(&bus, NULL) < 0)
                        goto stop_node;
        }

        zlctl_signals_catch(&g);
        r = deploy(bus, &a, &name);
        ok = r == ZLCTL_EXIT_OK;
        if (ok && !zlctl_interrupted) {
                RunRefresh rr = { .bus = bus, .name = name };

                printf("\n");
                (void) zlctl_deployment_status(name, false);
                printf("\nFollowing the logs; Ctrl-C stops the deployment%s.\n\n",
                       started ? " and the node" : "");
                fflush(stdout);
                r = run_refresh(&set, &rr);
                if (r >= 0)
                        r = log_set_follow(&set, run_refresh, &rr);
                if (r < 0)
                        ok = false;
        }

        if (name) {
                /* A second Ctrl-C during the wait leaves without waiting. */
                zlctl_interrupted = 0;
                fprintf(stderr, "Stopping deployment %s ...\n", name);
                if (sched_call(bus, "Stop", NULL, "stop", "ssu", name, "", 0U) < 0)
                        ok = false;
                else {
                        r = wait_stopped(bus, name, NULL, RUN_STOP_WAIT_USEC);
                        if (r == -EINTR)
                                log_error("Interrupted; %s goes on stopping.", name);
                        else if (r == -ETIMEDOUT)
                                log_error("Deployment %s is not gone yet; it goes on stopping.",
                                          name);
                        else if (r >= 0)
                                fprintf(stderr, "Deployment %s stopped.\n", name);
                        if (r < 0)
                                ok = false;
                }
        }
        zlctl_signals_restore(&g);

stop_node:
        if (started) {
                bus = sd_bus_flush_close_unref(bus);
                if (zlctl_local_node_stop(NULL) < 0)
                        ok = false;
        }
        return ok ? ZLCTL_EXIT_OK : ZLCTL_EXIT_FAILURE;
}
