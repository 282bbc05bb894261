/* SPDX-License-Identifier: Apache-2.0 */
/* zlctl-build.c: zlctl build [ls|log|cancel] and zlctl runtimes, on org.zlayer.Builder1. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus-error.h"
#include "bus-options.h"
#include "log.h"
#include "string-util.h"
#include "table.h"
#include "time-util.h"
#include "zlctl-bus.h"
#include "zlctl.h"

#define BUILDER_SERVICE "org.zlayer.Builder1"
#define BUILDER_PATH "/org/zlayer/Builder1"
#define BUILDER_IFACE "org.zlayer.Builder1"
#define BUILD_IFACE "org.zlayer.Builder1.Build"
#define BUILD_PREFIX "/org/zlayer/Builder1/build"
#define CALL_TIMEOUT_USEC (30 * USEC_PER_SEC)
#define WAIT_TIMEOUT_USEC (365 * USEC_PER_DAY)
#define TAIL_LINES 5
#define TAIL_WIDTH 160

/* A Builder1 call with simple arguments; ZLCTL_EXIT_FAILURE after logging. */
static int call(sd_bus *bus, const char *method, sd_bus_message **ret_reply, const char *what,
                const char *types, ...) {
        va_list ap;
        int r;

        va_start(ap, types);
        r = zlctl_callv(bus, BUILDER_SERVICE, BUILDER_PATH, BUILDER_IFACE, method,
                        CALL_TIMEOUT_USEC, ret_reply, what, types, ap);
        va_end(ap);
        return r < 0 ? ZLCTL_EXIT_FAILURE : 0;
}

/* ---- the live view ----------------------------------------------------------------------- */

typedef struct View {
        const char *path; /* the build's object, NULL until Build replied */
        bool tty, quiet;
        usec_t started;
        unsigned total_stages, total_instructions, stage, step;
        char *stage_text; /* "build (golang)" */
        char *step_text; /* "RUN make" */
        usec_t step_started;
        bool step_printed; /* plain: the STEP line is out */
        char *tail[TAIL_LINES];
        unsigned n_tail, tail_next;
        size_t drawn; /* lines of the live area (terminal) */
        bool finished;
        char *state; /* Wait's answer */
        char *wait_error;
        char *image_id;
        char *error;
        json_int_t error_line;
} View;

static void view_done(View *v) {
        free(v->stage_text);
        free(v->step_text);
        for (unsigned i = 0; i < TAIL_LINES; i++)
                free(v->tail[i]);
        free(v->state);
        free(v->wait_error);
        free(v->image_id);
        free(v->error);
}

static void view_clear(View *v) {
        if (!v->tty || v->quiet || v->drawn == 0)
                return;
        printf("\033[%zuA\r\033[J", v->drawn);
        v->drawn = 0;
}

static void view_draw(View *v) {
        char elapsed[64];

        if (!v->tty || v->quiet)
                return;
        view_clear(v);
        format_timespan(now(CLOCK_MONOTONIC) - v->started, USEC_PER_SEC / 10, elapsed,
                        sizeof elapsed);
        printf("\033[1m[%s]\033[0m stage %u/%u %s\n", elapsed, v->stage, v->total_stages,
               strempty(v->stage_text));
        printf("  step %u/%u %s\n", v->step, v->total_instructions, strempty(v->step_text));
        v->drawn = 2;
        for (unsigned i = 0; i < v->n_tail; i++) {
                unsigned k = (v->tail_next + TAIL_LINES - v->n_tail + i) % TAIL_LINES;
                printf("  \033[2m| %.*s\033[0m\n", TAIL_WIDTH, v->tail[k]);
                v->drawn++;
        }
        fflush(stdout);
}

/* Prints a permanent line above the live area. */
static void view_line(View *v, const char *format, ...) _printf_(2, 3);
static void view_line(View *v, const char *format, ...) {
        va_list ap;

        if (v->quiet)
                return;
        view_clear(v);
        va_start(ap, format);
        vprintf(format, ap);
        va_end(ap);
        putchar('\n');
        if (v->tty)
                view_draw(v);
        else
                fflush(stdout);
}

static void view_print_step(View *v, bool cached) {
        char took[64];

        if (v->step_printed)
                return;
        v->step_printed = true;
        if (v->tty && !cached)
                view_line(v, "STEP %u/%u: %s (%s)", v->step, v->total_instructions,
                          strempty(v->step_text),
                          format_timespan(now(CLOCK_MONOTONIC) - v->step_started, USEC_PER_SEC / 10,
                                          took, sizeof took));
        else
                view_line(v, "STEP %u/%u: %s%s", v->step, v->total_instructions,
                          strempty(v->step_text), cached ? " (cached)" : "");
}

static void set_string(char **p, const char *s) {
        char *c = s ? strdup(s) : NULL;

        if (s && !c)
                return;
        free_and_replace(*p, c);
}

static void view_event(View *v, const char *event, json_t *data) {
        const char *s;

        if (streq(event, "build_started")) {
                v->total_stages =
                        (unsigned) json_integer_value(json_object_get(data, "total_stages"));
                v->total_instructions =
                        (unsigned) json_integer_value(json_object_get(data, "total_instructions"));
                s = zlctl_json_str(data, "runtime");
                if (s)
                        view_line(v, "Runtime template: %s", s);
        } else if (streq(event, "stage_started")) {
                const char *name = zlctl_json_str(data, "name");
                const char *base = zlctl_json_str(data, "base_image");
                _cleanup_free_ char *t = NULL;

                v->stage++;
                if (asprintf(&t, "%s%s(%s)", strempty(name), name ? " " : "", strna(base)) >= 0)
                        set_string(&v->stage_text, t);
                view_line(v, "STAGE %u/%u%s%s: FROM %s", v->stage, v->total_stages, name ? " " : "",
                          strempty(name), strna(base));
        } else if (streq(event, "instruction_started")) {
                if (v->step > 0 && !v->step_printed)
                        view_print_step(v, false);
                v->step++;
                v->step_printed = false;
                v->step_started = now(CLOCK_MONOTONIC);
                set_string(&v->step_text, zlctl_json_str(data, "instruction"));
                for (unsigned i = 0; i < TAIL_LINES; i++)
                        v->tail[i] = mfree(v->tail[i]);
                v->n_tail = v->tail_next = 0;
                view_draw(v);
        } else if (streq(event, "output")) {
                s = zlctl_json_str(data, "line");
                if (v->tty) {
                        set_string(&v->tail[v->tail_next], strempty(s));
                        v->tail_next = (v->tail_next + 1) % TAIL_LINES;
                        if (v->n_tail < TAIL_LINES)
                                v->n_tail++;
                        view_draw(v);
                } else {
                        view_print_step(v, false);
                        if (!v->quiet)
                                printf("%s\n", strempty(s));
                }
        } else if (streq(event, "instruction_complete")) {
                view_print_step(v, json_is_true(json_object_get(data, "cached")));
                for (unsigned i = 0; i < TAIL_LINES; i++)
                        v->tail[i] = mfree(v->tail[i]);
                v->n_tail = v->tail_next = 0;
                view_draw(v);
        } else if (streq(event, "build_complete")) {
                set_string(&v->image_id, zlctl_json_str(data, "image_id"));
        } else if (streq(event, "build_failed")) {
                if (v->step > 0 && !v->step_printed)
                        view_print_step(v, false);
                set_string(&v->error, zlctl_json_str(data, "error"));
                v->error_line = json_integer_value(json_object_get(data, "line"));
                /* The last output lines belong above the error, not erased with the view. */
                if (v->tty && !v->quiet) {
                        view_clear(v);
                        for (unsigned i = 0; i < v->n_tail; i++) {
                                unsigned k =
                                        (v->tail_next + TAIL_LINES - v->n_tail + i) % TAIL_LINES;
                                printf("  | %s\n", v->tail[k]);
                        }
                        v->n_tail = 0;
                }
        }
}

static int on_progress(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(json_decrefp) json_t *data = NULL;
        View *v = userdata;
        const char *event, *json;

        (void) error;
        if (!v->path || !streq(strempty(sd_bus_message_get_path(m)), v->path))
                return 0;
        if (sd_bus_message_read(m, "ss", &event, &json) < 0)
                return 0;
        data = json_loads(json, 0, NULL);
        if (json_is_object(data))
                view_event(v, event, data);
        return 0;
}

static int on_wait_reply(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        View *v = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);
        const char *state;

        (void) error;
        v->finished = true;
        if (e) {
                v->wait_error = zlctl_bus_error_message(e);
                return 0;
        }
        if (sd_bus_message_read(m, "s", &state) >= 0)
                set_string(&v->state, state);
        return 0;
}

/* ---- zlctl build ------------------------------------------------------------------------- */

typedef struct BuildArgs {
        const char *context;
        char **tags;
        const char *dockerfile;
        char **build_args; /* "K=V" */
        const char *target, *runtime, *platform;
        bool no_cache, runtime_auto, push, quiet;
} BuildArgs;

static int append_options(sd_bus_message *m, const BuildArgs *a) {
        int r;

        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && a->dockerfile)
                r = sd_bus_message_append(m, "{sv}", "dockerfile", "s", a->dockerfile);
        if (r >= 0 && a->tags)
                r = zl_bus_append_option_strv(m, "tags", a->tags);
        if (r >= 0 && a->build_args) {
                r = sd_bus_message_open_container(m, 'e', "sv");
                if (r >= 0)
                        r = sd_bus_message_append(m, "s", "build_args");
                if (r >= 0)
                        r = sd_bus_message_open_container(m, 'v', "a{ss}");
                if (r >= 0)
                        r = sd_bus_message_open_container(m, 'a', "{ss}");
                for (char **kv = a->build_args; r >= 0 && *kv; kv++) {
                        _cleanup_free_ char *k = strndup(*kv, strcspn(*kv, "="));
                        if (!k)
                                return -ENOMEM;
                        r = sd_bus_message_append(m, "{ss}", k, *kv + strlen(k) + 1);
                }
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
                if (r >= 0)
                        r = sd_bus_message_close_container(m);
        }
        if (r >= 0 && a->target)
                r = sd_bus_message_append(m, "{sv}", "target", "s", a->target);
        if (r >= 0 && a->no_cache)
                r = sd_bus_message_append(m, "{sv}", "no_cache", "b", 1);
        if (r >= 0 && a->runtime)
                r = sd_bus_message_append(m, "{sv}", "runtime", "s", a->runtime);
        if (r >= 0 && a->runtime_auto)
                r = sd_bus_message_append(m, "{sv}", "runtime_auto", "b", 1);
        if (r >= 0 && a->push)
                r = sd_bus_message_append(m, "{sv}", "push", "b", 1);
        if (r >= 0 && a->platform)
                r = sd_bus_message_append(m, "{sv}", "platform", "s", a->platform);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r;
}

static void cancel_build(sd_bus *bus, const char *path) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_call_method(bus, BUILDER_SERVICE, path, BUILD_IFACE, "Cancel", &error, NULL,
                               NULL);
        if (r < 0)
                (void) zlctl_log_call_error(r, &error, "cancel the build");
}

static int get_string_property(sd_bus *bus, const char *path, const char *name, char **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

        return sd_bus_get_property_string(bus, BUILDER_SERVICE, path, BUILD_IFACE, name, &error,
                                          ret);
}

static int run_build(const BuildArgs *a) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(view_done) View v = {
                .tty = isatty(STDOUT_FILENO) > 0,
                .quiet = a->quiet,
                .started = now(CLOCK_MONOTONIC),
        };
        ZlctlSignalGuard g;
        const char *id, *path;
        bool cancelled = false;
        int r;

        r = zlctl_bus_open(&bus, NULL);
        if (r < 0)
                return ZLCTL_EXIT_FAILURE;
        /* Subscribed before the call; the events of our build are told apart by its path once
         * Build replied (zl-buildd starts the job only after the reply, so none is missed). */
        r = sd_bus_add_match(bus, NULL,
                             "type='signal',sender='" BUILDER_SERVICE "',interface='" BUILD_IFACE
                             "',member='Progress',path_namespace='" BUILD_PREFIX "'",
                             on_progress, &v);
        if (r < 0)
                return log_error_errno(r, "Failed to subscribe to the build's progress: %m"),
                       ZLCTL_EXIT_FAILURE;

        r = sd_bus_message_new_method_call(bus, &m, BUILDER_SERVICE, BUILDER_PATH, BUILDER_IFACE,
                                           "Build");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", a->context);
        if (r >= 0)
                r = append_options(m, a);
        if (r < 0)
                return log_error_errno(r, "Failed to build the Build call: %m"), ZLCTL_EXIT_FAILURE;
        r = sd_bus_call(bus, m, CALL_TIMEOUT_USEC, &error, &reply);
        if (r < 0)
                return zlctl_log_call_error(r, &error, "build"), ZLCTL_EXIT_FAILURE;
        r = sd_bus_message_read(reply, "so", &id, &path);
        if (r < 0)
                return log_error_errno(r, "Failed to read the reply to Build: %m"),
                       ZLCTL_EXIT_FAILURE;
        v.path = path;
        if (!v.quiet)
                printf("Build %s of %s\n", id, a->context);
        m = sd_bus_message_unref(m);
        r = sd_bus_message_new_method_call(bus, &m, BUILDER_SERVICE, path, BUILD_IFACE, "Wait");
        if (r >= 0)
                r = sd_bus_call_async(bus, NULL, m, on_wait_reply, &v, WAIT_TIMEOUT_USEC);
        if (r < 0)
                return log_error_errno(r, "Failed to wait for build %s: %m", id),
                       ZLCTL_EXIT_FAILURE;

        /* Ctrl-C cancels the build (a second one leaves without waiting). */
        zlctl_signals_catch(&g);
        while (!v.finished) {
                if (zlctl_interrupted > 1)
                        break;
                if (zlctl_interrupted && !cancelled) {
                        cancelled = true;
                        view_line(&v, "Cancelling build %s ...", id);
                        cancel_build(bus, path);
                }
                r = sd_bus_process(bus, NULL);
                if (r < 0)
                        break;
                if (r > 0)
                        continue;
                r = sd_bus_wait(bus, v.tty ? USEC_PER_SEC / 2 : UINT64_MAX);
                if (r == -EINTR)
                        continue;
                if (r < 0)
                        break;
                if (r == 0)
                        view_draw(&v); /* the elapsed time */
        }
        zlctl_signals_restore(&g);
        view_clear(&v);
        fflush(stdout);
        if (!v.finished) {
                if (r < 0)
                        log_error_errno(r, "Failed to talk to the node: %m");
                else
                        log_error("Interrupted; build %s goes on being cancelled.", id);
                return ZLCTL_EXIT_FAILURE;
        }
        if (v.wait_error) {
                log_error("Failed to wait for build %s: %s", id, v.wait_error);
                return ZLCTL_EXIT_FAILURE;
        }
        if (v.state && streq(v.state, "complete")) {
                _cleanup_free_ char *image = NULL;
                if (!v.image_id && get_string_property(bus, path, "ImageId", &image) >= 0)
                        v.image_id = TAKE_PTR(image);
                if (v.quiet)
                        printf("%s\n", strna(v.image_id));
                else {
                        char took[64];

                        printf("Built %s in %s\n", strna(v.image_id),
                               format_timespan(now(CLOCK_MONOTONIC) - v.started, USEC_PER_SEC / 10,
                                               took, sizeof took));
                        for (char **t = a->tags; t && *t; t++)
                                printf("Tagged %s\n", *t);
                }
                return ZLCTL_EXIT_OK;
        }
        if (!v.error)
                (void) get_string_property(bus, path, "Error", &v.error);
        log_error("Build %s %s: %s", id, strna(v.state), strna(v.error));
        return ZLCTL_EXIT_FAILURE;
}

static void build_help(void) {
        printf("%s build [OPTIONS...] [CONTEXT]\n"
               "%s build ls | log ID | cancel ID\n\n"
               "Build an image from a Dockerfile (or a runtime template) in CONTEXT (default\n"
               "the current directory) on the node, and put it in the node's image store.\n\n"
               "Options:\n"
               "  -h --help              Show this help\n"
               "  -t --tag=REF           Tag the image (repeatable)\n"
               "  -f --file=FILE         The Dockerfile (default CONTEXT/Dockerfile)\n"
               "     --build-arg=K=V     Set a build argument (repeatable)\n"
               "     --target=STAGE      Build up to this stage\n"
               "     --no-cache          Run every step again\n"
               "     --runtime=NAME      Use a runtime template ('%s runtimes')\n"
               "     --runtime-auto      Pick the runtime template from the project's files\n"
               "     --push              Push the tags to their registries too\n"
               "     --platform=P        os/arch[/variant] of the base images\n"
               "  -q --quiet             Print only the image id\n"
               "\nCommands:\n"
               "  ls                     List the node's builds\n"
               "  log ID                 Print a build's log\n"
               "  cancel ID              Cancel a build\n"
               "(A context directory named like a command is given as ./NAME.)\n"
               "\nOn a terminal the current stage, step, elapsed time and the last output\n"
               "lines are shown in place; otherwise plain lines (\"STEP 3/7: COPY . /app\n"
               "(cached)\" and the output). Ctrl-C cancels the build.\n"
               "\nExit status: 0 when the image is in the store, 1 failure, 2 usage error.\n",
               program_name, program_name, program_name);
}

static int parse_build_args(int argc, char *argv[], BuildArgs *a) {
        enum {
                ARG_BUILD_ARG = 0x100,
                ARG_TARGET,
                ARG_NO_CACHE,
                ARG_RUNTIME,
                ARG_RUNTIME_AUTO,
                ARG_PUSH,
                ARG_PLATFORM,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "tag", required_argument, NULL, 't' },
                { "file", required_argument, NULL, 'f' },
                { "build-arg", required_argument, NULL, ARG_BUILD_ARG },
                { "target", required_argument, NULL, ARG_TARGET },
                { "no-cache", no_argument, NULL, ARG_NO_CACHE },
                { "runtime", required_argument, NULL, ARG_RUNTIME },
                { "runtime-auto", no_argument, NULL, ARG_RUNTIME_AUTO },
                { "push", no_argument, NULL, ARG_PUSH },
                { "platform", required_argument, NULL, ARG_PLATFORM },
                { "quiet", no_argument, NULL, 'q' },
                {},
        };
        int c;

        optind = 0;
        while ((c = getopt_long(argc, argv, ":ht:f:q", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        build_help();
                        return -1;
                case 't':
                        if (strv_extend(&a->tags, optarg) < 0)
                                return log_oom(), ZLCTL_EXIT_FAILURE;
                        break;
                case 'f':
                        a->dockerfile = optarg;
                        break;
                case ARG_BUILD_ARG:
                        if (!strchr(optarg, '=') || optarg[0] == '=')
                                return usage_error("build",
                                                   "invalid --build-arg '%s': expected "
                                                   "NAME=VALUE",
                                                   optarg);
                        if (strv_extend(&a->build_args, optarg) < 0)
                                return log_oom(), ZLCTL_EXIT_FAILURE;
                        break;
                case ARG_TARGET:
                        a->target = optarg;
                        break;
                case ARG_NO_CACHE:
                        a->no_cache = true;
                        break;
                case ARG_RUNTIME:
                        a->runtime = optarg;
                        break;
                case ARG_RUNTIME_AUTO:
                        a->runtime_auto = true;
                        break;
                case ARG_PUSH:
                        a->push = true;
                        break;
                case ARG_PLATFORM:
                        a->platform = optarg;
                        break;
                case 'q':
                        a->quiet = true;
                        break;
                default:
                        return zlctl_getopt_failure("build", c, argv);
                }
        if (optind + 1 < argc)
                return usage_error("build", "unexpected argument '%s'", argv[optind + 1]);
        a->context = optind < argc ? argv[optind] : ".";
        return 0;
}

/* ---- build ls, log, cancel --------------------------------------------------------------- */

static const char *format_when(uint64_t t, char *buf, size_t len) {
        time_t sec = (time_t) (t / USEC_PER_SEC);
        struct tm tm;

        if (t == 0 || !gmtime_r(&sec, &tm) || strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
                return NULL;
        return buf;
}

static int verb_build_ls(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(table_freep) Table *t = NULL;
        int r;

        if (zlctl_want_help(argc, argv)) {
                printf("%s build ls\n\nList the node's builds, oldest first.\n\nOptions:\n"
                       "  -h --help              Show this help\n",
                       program_name);
                return ZLCTL_EXIT_OK;
        }
        if (argc != 1)
                return usage_error("build ls", "unexpected argument '%s'", argv[1]);
        t = table_new("ID", "STATE", "TAGS", "STARTED", "DURATION", "IMAGE", "ERROR");
        if (!t)
                return log_oom(), ZLCTL_EXIT_FAILURE;
        if (zlctl_bus_open(&bus, NULL) < 0)
                return ZLCTL_EXIT_FAILURE;
        r = call(bus, "ListBuilds", &reply, "list the builds", NULL);
        if (r != 0)
                return r;
        r = sd_bus_message_enter_container(reply, 'a', "(ssasssstt)");
        while (r > 0) {
                _cleanup_strv_free_ char **tags = NULL;
                _cleanup_free_ char *tag_list = NULL;
                const char *id, *state, *image, *error, *context;
                uint64_t started, finished;
                char when[64], took[64];

                r = sd_bus_message_enter_container(reply, 'r', "ssasssstt");
                if (r <= 0)
                        break;
                r = sd_bus_message_read(reply, "ss", &id, &state);
                if (r >= 0)
                        r = sd_bus_message_read_strv(reply, &tags);
                if (r >= 0)
                        r = sd_bus_message_read(reply, "ssstt", &image, &error, &context, &started,
                                                &finished);
                if (r >= 0)
                        r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        break;
                tag_list = strv_join(tags, ",");
                if (!tag_list)
                        return log_oom(), ZLCTL_EXIT_FAILURE;
                if (table_add_row(t, id, state, isempty(tag_list) ? NULL : tag_list,
                                  format_when(started, when, sizeof when),
                                  started > 0 && finished >= started
                                          ? format_timespan(finished - started, USEC_PER_SEC / 10,
                                                            took, sizeof took)
                                          : NULL,
                                  isempty(image) ? NULL : image, isempty(error) ? NULL : error) < 0)
                        return log_oom(), ZLCTL_EXIT_FAILURE;
        }
        if (r < 0)
                return log_error_errno(r, "Failed to read the build list: %m"), ZLCTL_EXIT_FAILURE;
        table_print(t, stdout);
        return ZLCTL_EXIT_OK;
}

static int verb_build_log(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        char buf[65536];
        int fd, r;

        if (zlctl_want_help(argc, argv)) {
                printf("%s build log ID\n\nPrint a build's whole log (also after it ended).\n\n"
                       "Options:\n"
                       "  -h --help              Show this help\n",
                       program_name);
                return ZLCTL_EXIT_OK;
        }
        if (argc != 2)
                return usage_error("build log",
                                   argc < 2 ? "missing build id" : "unexpected argument");
        if (zlctl_bus_open(&bus, NULL) < 0)
                return ZLCTL_EXIT_FAILURE;
        r = call(bus, "GetLog", &reply, "get the log", "s", argv[1]);
        if (r != 0)
                return r;
        r = sd_bus_message_read(reply, "h", &fd);
        if (r < 0)
                return log_error_errno(r, "Failed to read the reply to GetLog: %m"),
                       ZLCTL_EXIT_FAILURE;
        for (;;) {
                ssize_t n = read(fd, buf, sizeof buf);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return log_error_errno(errno, "Failed to read the log: %m"),
                               ZLCTL_EXIT_FAILURE;
                if (n == 0)
                        break;
                if (fwrite(buf, 1, (size_t) n, stdout) != (size_t) n)
                        return ZLCTL_EXIT_FAILURE;
        }
        return fflush(stdout) == 0 ? ZLCTL_EXIT_OK : ZLCTL_EXIT_FAILURE;
}

static int verb_build_cancel(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        if (zlctl_want_help(argc, argv)) {
                printf("%s build cancel ID\n\nCancel a pending or running build.\n\nOptions:\n"
                       "  -h --help              Show this help\n",
                       program_name);
                return ZLCTL_EXIT_OK;
        }
        if (argc != 2)
                return usage_error("build cancel",
                                   argc < 2 ? "missing build id" : "unexpected argument");
        if (zlctl_bus_open(&bus, NULL) < 0)
                return ZLCTL_EXIT_FAILURE;
        r = call(bus, "Cancel", NULL, "cancel the build", "s", argv[1]);
        if (r != 0)
                return r;
        return ZLCTL_EXIT_OK;
}

static const Verb build_verbs[] = {
        { "ls", verb_build_ls, "List the node's builds" },
        { "log", verb_build_log, "Print a build's log" },
        { "cancel", verb_build_cancel, "Cancel a build" },
        {},
};

int verb_build(int argc, char *argv[]) {
        _cleanup_free_ char *context = NULL;
        BuildArgs a = {};
        int r;

        if (argc >= 2)
                for (const Verb *v = build_verbs; v->name; v++)
                        if (streq(argv[1], v->name))
                                return dispatch_verb("build", build_verbs, argc - 1, argv + 1);
        r = parse_build_args(argc, argv, &a);
        if (r != 0) {
                strv_free(a.tags);
                strv_free(a.build_args);
                return r < 0 ? ZLCTL_EXIT_OK : r;
        }
        context = realpath(a.context, NULL);
        if (!context) {
                log_error_errno(errno, "Failed to resolve the context '%s': %m", a.context);
                strv_free(a.tags);
                strv_free(a.build_args);
                return ZLCTL_EXIT_FAILURE;
        }
        a.context = context;
        r = run_build(&a);
        strv_free(a.tags);
        strv_free(a.build_args);
        return r;
}

/* ---- zlctl runtimes ---------------------------------------------------------------------- */

int verb_runtimes(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(table_freep) Table *t = NULL;
        int r;

        if (zlctl_want_help(argc, argv)) {
                printf("%s runtimes\n\nList the runtime templates 'build --runtime' takes and the\n"
                       "project files 'build --runtime-auto' picks them by.\n\nOptions:\n"
                       "  -h --help              Show this help\n",
                       program_name);
                return ZLCTL_EXIT_OK;
        }
        if (argc != 1)
                return usage_error("runtimes", "unexpected argument '%s'", argv[1]);
        t = table_new("NAME", "DESCRIPTION", "DETECTED FROM");
        if (!t)
                return log_oom(), ZLCTL_EXIT_FAILURE;
        if (zlctl_bus_open(&bus, NULL) < 0)
                return ZLCTL_EXIT_FAILURE;
        r = call(bus, "ListRuntimes", &reply, "list the runtimes", NULL);
        if (r != 0)
                return r;
        r = sd_bus_message_enter_container(reply, 'a', "(sss)");
        while (r > 0) {
                const char *name, *description, *detects;

                r = sd_bus_message_read(reply, "(sss)", &name, &description, &detects);
                if (r <= 0)
                        break;
                if (table_add_row(t, name, description, isempty(detects) ? NULL : detects) < 0)
                        return log_oom(), ZLCTL_EXIT_FAILURE;
        }
        if (r < 0)
                return log_error_errno(r, "Failed to read the runtime list: %m"),
                       ZLCTL_EXIT_FAILURE;
        table_print(t, stdout);
        return ZLCTL_EXIT_OK;
}
