/* SPDX-License-Identifier: Apache-2.0 */
/* build-manager.c: zl-buildd's builds: records, queue, zl-build-job processes, logs. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <assert.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "build-manager.h"
#include "conf-parse.h"
#include "fd-util.h"
#include "fileio.h"
#include "image-ref.h"
#include "log.h"
#include "parse-util.h"
#include "path-util.h"
#include "runtime-templates.h"
#include "signal-util.h"
#include "string-util.h"
#include "zlayer/dockerfile.h"

#define CONFIG_SIZE_MAX (64U * 1024U)
#define RECORD_SIZE_MAX (1024U * 1024U)
/* An event line longer than this is cut: the job splits output at 4 KiB, so only a broken job
 * gets there. */
#define LINE_MAX_BYTES (256U * 1024U)
/* A cancelled job gets this long to remove its containers before its group is killed. */
#define CANCEL_KILL_USEC (15 * USEC_PER_SEC)
#define BUILD_ID_BYTES 6
#define STOPPED_ERROR "zl-buildd stopped while the build was running"
#define PID_FMT "%d"

static inline void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}

typedef struct BuildWaiter {
        build_wait_t done;
        void *userdata;
        struct BuildWaiter *next;
} BuildWaiter;

struct BuildManager {
        sd_event *event;
        BuildConfig config;
        char *job_path;
        char *builds_dir, *work_root;
        char *oci_cache; /* final images' layouts, for fully cached rebuilds */
        BuildManagerCallbacks cb;
        void *userdata;
        Build **builds; /* oldest first */
        size_t n_builds;
        unsigned running;
        sd_event_source *dispatch_source;
};

static const char *const build_state_table[_BUILD_STATE_MAX] = {
        [BUILD_PENDING] = "pending", [BUILD_RUNNING] = "running",     [BUILD_COMPLETE] = "complete",
        [BUILD_FAILED] = "failed",   [BUILD_CANCELLED] = "cancelled",
};

const char *build_state_to_string(BuildState s) {
        return s >= 0 && s < _BUILD_STATE_MAX ? build_state_table[s] : NULL;
}

BuildState build_state_from_string(const char *s) {
        for (int i = 0; s && i < _BUILD_STATE_MAX; i++)
                if (streq(build_state_table[i], s))
                        return i;
        return _BUILD_STATE_INVALID;
}

/* ---- configuration ------------------------------------------------------------------------ */

int build_config_init(BuildConfig *c, const char *state_dir, const char *runroot) {
        *c = (BuildConfig){
                .max_concurrent_builds = BUILD_MAX_CONCURRENT_DEFAULT,
                .history_max = BUILD_HISTORY_MAX_DEFAULT,
                .history_max_age = BUILD_HISTORY_MAX_AGE_DEFAULT,
        };
        c->state_dir = strdup(state_dir ?: BUILD_STATE_DIR_DEFAULT);
        c->storage_driver = strdup("overlay");
        c->isolation = strdup("chroot");
        c->storage_runroot =
                runroot ? strdup(runroot) : path_join(BUILD_RUNROOT_DEFAULT, "storage");
        if (!c->state_dir || !c->storage_driver || !c->isolation || !c->storage_runroot) {
                build_config_done(c);
                return -ENOMEM;
        }
        return 0;
}

void build_config_done(BuildConfig *c) {
        c->state_dir = mfree(c->state_dir);
        c->storage_root = mfree(c->storage_root);
        c->storage_runroot = mfree(c->storage_runroot);
        c->storage_driver = mfree(c->storage_driver);
        c->isolation = mfree(c->isolation);
        c->insecure_registries = strv_free(c->insecure_registries);
}

static int config_set(void *userdata, const char *key, const char *value, const char **ret_why) {
        BuildConfig *c = userdata;
        char **field = NULL;
        unsigned u;

        if (streq(key, "state_dir") || streq(key, "storage_root") ||
            streq(key, "storage_runroot")) {
                if (!path_is_absolute(value) || !path_is_normalized(value)) {
                        *ret_why = "not a normalized absolute path";
                        return -EINVAL;
                }
                field = streq(key, "state_dir")      ? &c->state_dir
                        : streq(key, "storage_root") ? &c->storage_root
                                                     : &c->storage_runroot;
        } else if (streq(key, "storage_driver")) {
                if (!streq(value, "overlay") && !streq(value, "vfs")) {
                        *ret_why = "not 'overlay' or 'vfs'";
                        return -EINVAL;
                }
                field = &c->storage_driver;
        } else if (streq(key, "isolation")) {
                if (!streq(value, "chroot") && !streq(value, "oci") && !streq(value, "rootless")) {
                        *ret_why = "not 'chroot', 'oci' or 'rootless'";
                        return -EINVAL;
                }
                field = &c->isolation;
        } else if (streq(key, "max_concurrent_builds")) {
                if (safe_atou(value, &u) < 0 || u < 1 || u > 64) {
                        *ret_why = "not a number from 1 to 64";
                        return -EINVAL;
                }
                c->max_concurrent_builds = u;
        } else if (streq(key, "history_max")) {
                if (safe_atou(value, &u) < 0) {
                        *ret_why = "not a number";
                        return -EINVAL;
                }
                c->history_max = u;
        } else if (streq(key, "history_max_age")) {
                uint64_t ms;
                if (parse_duration_ms(value, &ms) < 0 || ms > UINT64_MAX / USEC_PER_MSEC) {
                        *ret_why = "not a duration (\"7d\", \"12h\")";
                        return -EINVAL;
                }
                c->history_max_age = ms * USEC_PER_MSEC;
        } else if (streq(key, "insecure_registries")) {
                _cleanup_free_ char *copy = strdup(value);
                char **l = NULL;
                if (!copy)
                        return -ENOMEM;
                for (char *w = strtok(copy, " \t,"); w; w = strtok(NULL, " \t,"))
                        if (strv_extend(&l, w) < 0) {
                                strv_free(l);
                                return -ENOMEM;
                        }
                strv_free(c->insecure_registries);
                c->insecure_registries = l;
        } else {
                *ret_why = "unknown key";
                return -EINVAL;
        }
        if (field) {
                char *copy = strdup(value);
                if (!copy)
                        return -ENOMEM;
                free_and_replace(*field, copy);
        }
        return 0;
}

int build_config_load(BuildConfig *c, const char *path, char **reterr_message) {
        return conf_parse_file(path, CONFIG_SIZE_MAX, config_set, c, reterr_message);
}

void build_options_done(BuildOptions *o) {
        o->dockerfile = mfree(o->dockerfile);
        o->tags = strv_free(o->tags);
        o->build_args = strv_free(o->build_args);
        o->target = mfree(o->target);
        o->runtime = mfree(o->runtime);
        o->platform = mfree(o->platform);
        *o = (BuildOptions){};
}

/* ---- small helpers ------------------------------------------------------------------------ */

static int json_set_string(json_t *o, const char *key, const char *value) {
        return json_object_set_new(o, key, value ? json_string(value) : json_null());
}

static json_t *strv_to_json(char **l) {
        json_t *a = json_array();

        for (char **s = l; a && s && *s; s++)
                if (json_array_append_new(a, json_string(*s)) < 0)
                        return json_decref(a), NULL;
        return a;
}

static json_t *pairs_to_json(char **l) {
        json_t *o = json_object();

        for (char **s = l; o && s && s[0] && s[1]; s += 2)
                if (json_object_set_new(o, s[0], json_string(s[1])) < 0)
                        return json_decref(o), NULL;
        return o;
}

static char *json_strdup(const json_t *o, const char *key) {
        const char *s = json_string_value(json_object_get(o, key));
        return s ? strdup(s) : NULL;
}

/* ---- records ------------------------------------------------------------------------------ */

static json_t *build_options_to_json(const BuildOptions *o) {
        json_t *j = json_object();

        if (!j)
                return NULL;
        if (json_set_string(j, "dockerfile", o->dockerfile) < 0 ||
            json_object_set_new(j, "tags", strv_to_json(o->tags)) < 0 ||
            json_object_set_new(j, "build_args", pairs_to_json(o->build_args)) < 0 ||
            json_set_string(j, "target", o->target) < 0 ||
            json_object_set_new(j, "no_cache", json_boolean(o->no_cache)) < 0 ||
            json_set_string(j, "runtime", o->runtime) < 0 ||
            json_object_set_new(j, "runtime_auto", json_boolean(o->runtime_auto)) < 0 ||
            json_object_set_new(j, "push", json_boolean(o->push)) < 0 ||
            json_set_string(j, "platform", o->platform) < 0)
                return json_decref(j), NULL;
        return j;
}

static int build_save(Build *b) {
        _cleanup_(json_decrefp) json_t *j = json_object();
        _cleanup_free_ char *text = NULL, *path = NULL;

        if (!j)
                return -ENOMEM;
        if (json_set_string(j, "id", b->id) < 0 ||
            json_set_string(j, "state", build_state_to_string(b->state)) < 0 ||
            json_set_string(j, "context", b->context) < 0 ||
            json_object_set_new(j, "options", build_options_to_json(&b->options)) < 0 ||
            json_set_string(j, "image_id", b->image_id) < 0 ||
            json_set_string(j, "error", b->error) < 0 ||
            json_object_set_new(j, "created_at", json_integer((json_int_t) b->created_at)) < 0 ||
            json_object_set_new(j, "started_at", json_integer((json_int_t) b->started_at)) < 0 ||
            json_object_set_new(j, "finished_at", json_integer((json_int_t) b->finished_at)) < 0 ||
            json_object_set_new(j, "pid", json_integer(b->pid)) < 0)
                return -ENOMEM;
        text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
        path = path_join(b->dir, "build.json");
        if (!text || !path || strextend(&text, "\n") < 0)
                return -ENOMEM;
        return write_string_file_atomic(path, text, 0600);
}

static void build_save_or_warn(Build *b) {
        int r = build_save(b);
        if (r < 0)
                log_warning_errno(r, "Failed to save the record of build %s, ignoring: %m", b->id);
}

static Build *build_free(Build *b) {
        if (!b)
                return NULL;
        sd_event_source_disable_unref(b->out_source);
        sd_event_source_disable_unref(b->err_source);
        sd_event_source_disable_unref(b->child_source);
        sd_event_source_disable_unref(b->kill_timer);
        safe_close(b->out_fd);
        safe_close(b->err_fd);
        safe_close(b->log_fd);
        while (b->waiters) {
                BuildWaiter *w = b->waiters;
                b->waiters = w->next;
                free(w);
        }
        build_options_done(&b->options);
        free(b->id);
        free(b->context);
        free(b->image_id);
        free(b->error);
        free(b->current_stage);
        free(b->current_instruction);
        free(b->dir);
        free(b->work_dir);
        free(b->pending_header);
        free(b->out_buf);
        free(b->err_buf);
        free(b->failed_error);
        free(b->oci_dir);
        return mfree(b);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(Build *, build_free);

static int build_alloc(BuildManager *m, const char *id, Build **ret) {
        _cleanup_(build_freep) Build *b = calloc(1, sizeof(Build));

        if (!b)
                return -ENOMEM;
        b->manager = m;
        b->out_fd = b->err_fd = b->log_fd = -EBADF;
        b->id = strdup(id);
        b->dir = path_join(m->builds_dir, id);
        b->work_dir = path_join(m->work_root, id);
        if (!b->id || !b->dir || !b->work_dir)
                return -ENOMEM;
        *ret = TAKE_PTR(b);
        return 0;
}

static int manager_add(BuildManager *m, Build *b) {
        Build **a = reallocarray(m->builds, m->n_builds + 1, sizeof(Build *));

        if (!a)
                return -ENOMEM;
        m->builds = a;
        /* Oldest first: records load in any order. */
        size_t i = m->n_builds;
        while (i > 0 && a[i - 1]->created_at > b->created_at) {
                a[i] = a[i - 1];
                i--;
        }
        a[i] = b;
        m->n_builds++;
        return 0;
}

static int build_open_log_append(Build *b) {
        _cleanup_free_ char *path = path_join(b->dir, "log");

        if (!path)
                return -ENOMEM;
        if (b->log_fd >= 0)
                return 0;
        b->log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        return b->log_fd < 0 ? -errno : 0;
}

static void log_write(Build *b, const char *text) {
        if (b->log_fd < 0 && build_open_log_append(b) < 0)
                return;
        (void) loop_write(b->log_fd, text, strlen(text));
}

static void log_writef(Build *b, const char *format, ...) _printf_(2, 3);
static void log_writef(Build *b, const char *format, ...) {
        _cleanup_free_ char *s = NULL;
        va_list ap;
        int k;

        va_start(ap, format);
        k = vasprintf(&s, format, ap);
        va_end(ap);
        if (k >= 0)
                log_write(b, s);
}

static void flush_header(Build *b, bool cached) {
        if (!b->pending_header)
                return;
        log_writef(b, "%s%s\n", b->pending_header, cached ? " (cached)" : "");
        b->pending_header = mfree(b->pending_header);
}

/* ---- the end of a build ------------------------------------------------------------------ */

static void manager_schedule(BuildManager *m);
static void manager_prune(BuildManager *m);
static void oci_cache_touch(BuildManager *m, const char *image_id);

static void emit(Build *b, const char *event, json_t *data) {
        _cleanup_free_ char *text = NULL;
        BuildManager *m = b->manager;

        if (!m->cb.progress)
                return;
        text = json_dumps(data, JSON_COMPACT);
        if (text)
                m->cb.progress(m, b, event, text, m->userdata);
}

static void changed(Build *b) {
        if (b->manager->cb.changed)
                b->manager->cb.changed(b->manager, b, b->manager->userdata);
}

static void build_stop_job_io(Build *b) {
        b->out_source = sd_event_source_disable_unref(b->out_source);
        b->err_source = sd_event_source_disable_unref(b->err_source);
        b->kill_timer = sd_event_source_disable_unref(b->kill_timer);
        b->out_fd = safe_close(b->out_fd);
        b->err_fd = safe_close(b->err_fd);
}

/* Moves b to a final state, records and announces it, and lets the next build run. */
static void build_finish(Build *b, BuildState state, const char *error) {
        BuildManager *m = b->manager;
        bool was_running = b->state == BUILD_RUNNING;
        BuildWaiter *w;

        assert(build_state_is_final(state));
        if (build_state_is_final(b->state))
                return;
        build_stop_job_io(b);
        flush_header(b, false);
        b->state = state;
        b->finished_at = now(CLOCK_REALTIME);
        b->pid = 0;
        b->importing = false;
        if (error) {
                char *e = strdup(error);
                if (e)
                        free_and_replace(b->error, e);
        }
        b->current_instruction = mfree(b->current_instruction);
        b->current_stage = mfree(b->current_stage);
        if (state == BUILD_COMPLETE)
                log_writef(b, "COMPLETE: %s\n", strna(b->image_id));
        else
                log_writef(b, "%s: %s\n", state == BUILD_CANCELLED ? "CANCELLED" : "FAILED",
                           strna(b->error));
        b->log_fd = safe_close(b->log_fd);
        build_save_or_warn(b);
        (void) rm_rf(b->work_dir);
        if (was_running && m->running > 0)
                m->running--;

        _cleanup_(json_decrefp) json_t *data = json_object();
        if (data) {
                if (state == BUILD_COMPLETE)
                        (void) json_set_string(data, "image_id", b->image_id);
                else
                        (void) json_set_string(data, "error", strna(b->error));
                emit(b, state == BUILD_COMPLETE ? "build_complete" : "build_failed", data);
        }
        changed(b);
        log_info("Build %s %s%s%s.", b->id, build_state_to_string(state), b->error ? ": " : "",
                 strempty(b->error));

        while ((w = b->waiters)) {
                b->waiters = w->next;
                w->done(b, w->userdata);
                free(w);
        }
        /* Pruning happens there too, after the callers up the stack are done with b. */
        manager_schedule(m);
}

int build_add_waiter(Build *b, build_wait_t done, void *userdata) {
        BuildWaiter *w, **tail = &b->waiters;

        if (build_state_is_final(b->state))
                return 1;
        w = calloc(1, sizeof(BuildWaiter));
        if (!w)
                return -ENOMEM;
        *w = (BuildWaiter){ .done = done, .userdata = userdata };
        while (*tail)
                tail = &(*tail)->next;
        *tail = w;
        return 0;
}

/* ---- the job's events -------------------------------------------------------------------- */

static unsigned json_uint(const json_t *o, const char *key) {
        json_int_t v = json_integer_value(json_object_get(o, key));
        return v > 0 && v < UINT32_MAX ? (unsigned) v : 0;
}

static void handle_event(Build *b, const char *event, json_t *data) {
        const char *s;

        if (streq(event, "build_started")) {
                b->total_stages = json_uint(data, "total_stages");
                b->total_instructions = json_uint(data, "total_instructions");
                s = json_string_value(json_object_get(data, "runtime"));
                log_writef(b, "BUILD %s: %u stage(s), %u instruction(s)%s%s\n", b->id,
                           b->total_stages, b->total_instructions, s ? ", runtime " : "",
                           strempty(s));
        } else if (streq(event, "stage_started")) {
                const char *name = json_string_value(json_object_get(data, "name"));
                const char *base = json_string_value(json_object_get(data, "base_image"));
                char *t = NULL;

                b->stage_index++;
                flush_header(b, false);
                if (asprintf(&t, "%u/%u %s%s(%s)", b->stage_index, b->total_stages, strempty(name),
                             name ? " " : "", strna(base)) >= 0)
                        free_and_replace(b->current_stage, t);
                log_writef(b, "STAGE %u/%u%s%s: FROM %s\n", b->stage_index, b->total_stages,
                           name ? " " : "", strempty(name), strna(base));
                changed(b);
        } else if (streq(event, "instruction_started")) {
                const char *text = json_string_value(json_object_get(data, "instruction"));
                char *h = NULL, *t = NULL;

                flush_header(b, false);
                b->steps_started++;
                if (asprintf(&h, "STEP %u/%u: %s", b->steps_started, b->total_instructions,
                             strna(text)) >= 0)
                        free_and_replace(b->pending_header, h);
                if (asprintf(&t, "%u/%u %s", b->steps_started, b->total_instructions,
                             strna(text)) >= 0)
                        free_and_replace(b->current_instruction, t);
                changed(b);
        } else if (streq(event, "output")) {
                s = json_string_value(json_object_get(data, "line"));
                flush_header(b, false);
                log_writef(b, "%s\n", strempty(s));
        } else if (streq(event, "instruction_complete")) {
                flush_header(b, json_is_true(json_object_get(data, "cached")));
        } else if (streq(event, "image_ready")) {
                /* Not a Progress event: the build is complete once the image is in the store. */
                char *id = json_strdup(data, "image_id"), *dir = json_strdup(data, "oci_dir");
                if (id)
                        free_and_replace(b->image_id, id);
                if (dir)
                        free_and_replace(b->oci_dir, dir);
                b->saw_image_ready = true;
                oci_cache_touch(b->manager, b->image_id);
                return;
        } else if (streq(event, "build_failed")) {
                const char *e = json_string_value(json_object_get(data, "error"));
                json_int_t line = json_integer_value(json_object_get(data, "line"));
                char *msg = NULL;

                flush_header(b, false);
                if (line > 0)
                        (void) asprintf(&msg, "%s:%lld: %s",
                                        b->options.runtime || b->options.runtime_auto
                                                ? "template"
                                                : (b->options.dockerfile ?: "Dockerfile"),
                                        (long long) line, e ?: "the build failed");
                else
                        msg = strdup(e ?: "the build failed");
                if (msg)
                        free_and_replace(b->failed_error, msg);
                b->saw_build_failed = true;
                /* The end is announced by build_finish() once the job has exited. */
                return;
        } else if (!streq(event, "stage_complete")) {
                log_debug("Build %s: unknown event '%s' from the job, ignoring.", b->id, event);
                return;
        }
        emit(b, event, data);
}

static void handle_line(Build *b, const char *line) {
        _cleanup_(json_decrefp) json_t *j = NULL;
        const char *event;
        json_t *data;

        j = json_loads(line, 0, NULL);
        event = json_string_value(json_object_get(j, "event"));
        data = json_object_get(j, "data");
        if (!event || !json_is_object(data)) {
                /* Not ours: keep it readable in the log rather than lose it. */
                log_writef(b, "%s\n", line);
                return;
        }
        handle_event(b, event, data);
}

/* Appends what fd has to *buf and hands over each complete line. Returns 0 at EOF, 1 if more may
 * come, < 0 on error. */
static int read_lines(Build *b, int fd, char **buf, size_t *len, bool is_stdout) {
        char chunk[16384];

        for (;;) {
                ssize_t n = read(fd, chunk, sizeof chunk);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return 1;
                if (n < 0)
                        return -errno;
                if (n == 0) {
                        if (*len > 0) {
                                (*buf)[*len] = 0;
                                if (is_stdout)
                                        handle_line(b, *buf);
                                else
                                        log_writef(b, "%s\n", *buf);
                                *len = 0;
                        }
                        return 0;
                }
                char *nb = realloc(*buf, *len + (size_t) n + 1);
                if (!nb)
                        return -ENOMEM;
                *buf = nb;
                memcpy(*buf + *len, chunk, (size_t) n);
                *len += (size_t) n;
                (*buf)[*len] = 0;

                char *start = *buf, *nl;
                while ((nl = memchr(start, '\n', *len - (size_t) (start - *buf)))) {
                        *nl = 0;
                        if (is_stdout)
                                handle_line(b, start);
                        else {
                                flush_header(b, false);
                                log_writef(b, "%s\n", start);
                        }
                        start = nl + 1;
                }
                size_t rest = *len - (size_t) (start - *buf);
                memmove(*buf, start, rest);
                *len = rest;
                if (*len > LINE_MAX_BYTES) {
                        (*buf)[*len] = 0;
                        log_writef(b, "%s\n", *buf);
                        *len = 0;
                }
        }
}

static int on_job_out(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Build *b = userdata;
        bool is_stdout = s == b->out_source;
        int r;

        (void) revents;
        r = is_stdout ? read_lines(b, fd, &b->out_buf, &b->out_len, true)
                      : read_lines(b, fd, &b->err_buf, &b->err_len, false);
        if (r <= 0) {
                if (r < 0)
                        log_debug_errno(r, "Build %s: failed to read the job's output: %m", b->id);
                if (is_stdout) {
                        b->out_source = sd_event_source_disable_unref(b->out_source);
                        b->out_fd = safe_close(b->out_fd);
                } else {
                        b->err_source = sd_event_source_disable_unref(b->err_source);
                        b->err_fd = safe_close(b->err_fd);
                }
        }
        return 0;
}

static void build_start_import(Build *b) {
        BuildManager *m = b->manager;
        int r;

        if (!m->cb.import) {
                build_finish(b, BUILD_COMPLETE, NULL);
                return;
        }
        b->importing = true;
        log_writef(b, "IMPORT: %s into the image store\n", strna(b->image_id));
        r = m->cb.import(m, b, b->oci_dir, m->userdata);
        if (r < 0) {
                _cleanup_free_ char *e = NULL;
                (void) asprintf(&e, "Failed to import the image into zl-runtimed: %s",
                                strerror(-r));
                build_finish(b, BUILD_FAILED, e ?: "Failed to import the image");
        }
}

void build_import_finished(Build *b, int r, const char *image_id, const char *error) {
        if (!b->importing)
                return;
        b->importing = false;
        if (b->cancel_requested) {
                build_finish(b, BUILD_CANCELLED, "cancelled");
                return;
        }
        if (r < 0) {
                _cleanup_free_ char *e = NULL;
                (void) asprintf(&e, "Failed to import the image into zl-runtimed: %s",
                                error ?: strerror(-r));
                build_finish(b, BUILD_FAILED, e ?: "Failed to import the image");
                return;
        }
        if (image_id) {
                char *id = strdup(image_id);
                if (id)
                        free_and_replace(b->image_id, id);
        }
        build_finish(b, BUILD_COMPLETE, NULL);
}

static int on_job_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        Build *b = userdata;
        _cleanup_free_ char *e = NULL;

        (void) s;
        b->child_source = sd_event_source_disable_unref(b->child_source);
        b->pid = 0;
        /* The job is gone: what it wrote is all in the pipes now (its buildah children die with
         * it, or else keep the pipes open: read what is there, not until EOF). */
        if (b->out_fd >= 0)
                (void) read_lines(b, b->out_fd, &b->out_buf, &b->out_len, true);
        if (b->err_fd >= 0)
                (void) read_lines(b, b->err_fd, &b->err_buf, &b->err_len, false);
        if (b->out_len > 0) {
                b->out_buf[b->out_len] = 0;
                handle_line(b, b->out_buf);
                b->out_len = 0;
        }
        build_stop_job_io(b);

        if (b->cancel_requested) {
                build_finish(b, BUILD_CANCELLED, "cancelled");
                return 0;
        }
        if (si->si_code == CLD_EXITED && si->si_status == 0 && b->saw_image_ready && b->oci_dir) {
                build_start_import(b);
                return 0;
        }
        if (b->saw_build_failed) {
                build_finish(b, BUILD_FAILED, b->failed_error);
                return 0;
        }
        if (si->si_code == CLD_EXITED && si->si_status == 0)
                (void) asprintf(&e, "%s exited without an image", BUILD_JOB_NAME);
        else if (si->si_code == CLD_EXITED)
                (void) asprintf(&e, "%s exited with status %d", BUILD_JOB_NAME, si->si_status);
        else
                (void) asprintf(&e, "%s was killed by signal %s", BUILD_JOB_NAME,
                                strna(signal_to_string(si->si_status)));
        build_finish(b, BUILD_FAILED, e ?: "the build job failed");
        return 0;
}

/* ---- starting a job ---------------------------------------------------------------------- */

static int build_request(Build *b, char **ret) {
        const BuildConfig *c = &b->manager->config;
        _cleanup_(json_decrefp) json_t *j = json_object(), *storage = json_object();
        char *text;

        if (!j || !storage)
                return -ENOMEM;
        if (json_set_string(storage, "root", c->storage_root) < 0 ||
            json_set_string(storage, "runroot", c->storage_runroot) < 0 ||
            json_set_string(storage, "driver", c->storage_driver) < 0)
                return -ENOMEM;
        if (json_set_string(j, "build_id", b->id) < 0 ||
            json_set_string(j, "context", b->context) < 0 ||
            json_set_string(j, "dockerfile", b->options.dockerfile ?: "Dockerfile") < 0 ||
            json_set_string(j, "runtime", b->options.runtime) < 0 ||
            json_object_set_new(j, "runtime_auto", json_boolean(b->options.runtime_auto)) < 0 ||
            json_object_set_new(j, "tags", strv_to_json(b->options.tags)) < 0 ||
            json_object_set_new(j, "build_args", pairs_to_json(b->options.build_args)) < 0 ||
            json_set_string(j, "target", b->options.target) < 0 ||
            json_object_set_new(j, "no_cache", json_boolean(b->options.no_cache)) < 0 ||
            json_set_string(j, "platform", b->options.platform) < 0 ||
            json_object_set_new(j, "push", json_boolean(b->options.push)) < 0 ||
            json_object_set(j, "storage", storage) < 0 ||
            json_set_string(j, "isolation", c->isolation) < 0 ||
            json_set_string(j, "work_dir", b->work_dir) < 0 ||
            json_set_string(j, "oci_cache", b->manager->oci_cache) < 0 ||
            json_object_set_new(j, "insecure_registries", strv_to_json(c->insecure_registries)) <
                    0 ||
            json_object_set_new(j, "registries_conf", json_null()) < 0)
                return -ENOMEM;
        text = json_dumps(j, JSON_COMPACT);
        if (!text)
                return -ENOMEM;
        *ret = text;
        return 0;
}

static int build_spawn(Build *b) {
        BuildManager *m = b->manager;
        _cleanup_close_ int in = -EBADF, out_r = -EBADF, out_w = -EBADF, err_r = -EBADF,
                            err_w = -EBADF;
        _cleanup_free_ char *request = NULL, *request_path = NULL;
        int fds[2], r;
        pid_t pid;

        r = build_request(b, &request);
        if (r < 0)
                return r;
        r = mkdir_p(b->work_dir, 0700);
        if (r < 0)
                return r;
        /* The request goes through a file: it may be larger than a pipe holds, and it is there to
         * read when a build needs explaining. */
        request_path = path_join(b->dir, "request.json");
        if (!request_path)
                return -ENOMEM;
        r = write_string_file_atomic(request_path, request, 0600);
        if (r < 0)
                return r;
        in = open(request_path, O_RDONLY | O_CLOEXEC);
        if (in < 0)
                return -errno;
        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        out_r = fds[0], out_w = fds[1];
        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        err_r = fds[0], err_w = fds[1];

        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                char *const argv[] = { (char *) BUILD_JOB_NAME, NULL };
                sigset_t none;

                /* Its own group, so that Cancel reaches buildah and what it runs. */
                (void) setpgid(0, 0);
                /* If zl-buildd dies, the job stops and removes its containers (as on Cancel). */
                (void) prctl(PR_SET_PDEATHSIG, SIGTERM);
                sigemptyset(&none);
                (void) sigprocmask(SIG_SETMASK, &none, NULL);
                if (dup2(in, STDIN_FILENO) < 0 || dup2(out_w, STDOUT_FILENO) < 0 ||
                    dup2(err_w, STDERR_FILENO) < 0)
                        _exit(127);
                (void) close_range(3, ~0U, 0);
                if (chdir("/") < 0)
                        _exit(127);
                execv(m->job_path, argv);
                dprintf(STDERR_FILENO, "Failed to execute %s: %s\n", m->job_path, strerror(errno));
                _exit(127);
        }
        (void) setpgid(pid, pid);
        b->pid = pid;
        b->out_fd = TAKE_FD(out_r);
        b->err_fd = TAKE_FD(err_r);
        r = fd_nonblock(b->out_fd, true);
        if (r >= 0)
                r = fd_nonblock(b->err_fd, true);
        if (r >= 0)
                r = sd_event_add_child(m->event, &b->child_source, pid, WEXITED, on_job_exit, b);
        if (r >= 0)
                r = sd_event_add_io(m->event, &b->out_source, b->out_fd, EPOLLIN, on_job_out, b);
        if (r >= 0)
                r = sd_event_add_io(m->event, &b->err_source, b->err_fd, EPOLLIN, on_job_out, b);
        if (r < 0) {
                (void) kill(-pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                b->pid = 0;
                build_stop_job_io(b);
                b->child_source = sd_event_source_disable_unref(b->child_source);
                return r;
        }
        (void) sd_event_source_set_description(b->child_source, "build-job-child");
        (void) sd_event_source_set_description(b->out_source, "build-job-stdout");
        (void) sd_event_source_set_description(b->err_source, "build-job-stderr");
        return 0;
}

static void build_run(Build *b) {
        BuildManager *m = b->manager;
        int r;

        b->state = BUILD_RUNNING;
        b->started_at = now(CLOCK_REALTIME);
        m->running++;
        r = build_spawn(b);
        if (r < 0) {
                _cleanup_free_ char *e = NULL;
                (void) asprintf(&e, "Failed to start %s '%s': %s", BUILD_JOB_NAME, m->job_path,
                                strerror(-r));
                build_finish(b, BUILD_FAILED, e ?: "Failed to start the build job");
                return;
        }
        log_info("Build %s started (%s, pid " PID_FMT ").", b->id, b->context, b->pid);
        build_save_or_warn(b);
        changed(b);
}

static int on_dispatch(sd_event_source *s, void *userdata) {
        BuildManager *m = userdata;

        (void) s;
        manager_prune(m);
        for (size_t i = 0; i < m->n_builds && m->running < m->config.max_concurrent_builds; i++)
                if (m->builds[i]->state == BUILD_PENDING)
                        build_run(m->builds[i]);
        return 0;
}

/* Starts what may start on the next loop iteration: the reply to Build() goes out before the
 * first event of its job can. */
static void manager_schedule(BuildManager *m) {
        int r;

        if (m->dispatch_source)
                r = sd_event_source_set_enabled(m->dispatch_source, SD_EVENT_ONESHOT);
        else {
                r = sd_event_add_defer(m->event, &m->dispatch_source, on_dispatch, m);
                if (r >= 0)
                        r = sd_event_source_set_enabled(m->dispatch_source, SD_EVENT_ONESHOT);
        }
        if (r < 0)
                log_warning_errno(r, "Failed to schedule queued builds, ignoring: %m");
}

/* ---- cancel ------------------------------------------------------------------------------ */

static int on_kill_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Build *b = userdata;

        (void) s, (void) usec;
        if (b->pid > 0) {
                log_warning("Build %s: the job did not stop within %s s, killing it.", b->id,
                            STRINGIFY(CANCEL_KILL_USEC / USEC_PER_SEC));
                (void) kill(-b->pid, SIGKILL);
        }
        return 0;
}

int build_cancel(Build *b) {
        int r;

        if (build_state_is_final(b->state))
                return -ESTALE;
        if (b->state == BUILD_PENDING) {
                build_finish(b, BUILD_CANCELLED, "cancelled");
                return 0;
        }
        if (b->cancel_requested)
                return 0;
        b->cancel_requested = true;
        flush_header(b, false);
        log_writef(b, "CANCEL requested\n");
        if (b->pid <= 0)
                return 0; /* importing: cancelled when the import returns */
        if (kill(-b->pid, SIGTERM) < 0 && errno != ESRCH)
                return -errno;
        r = sd_event_add_time_relative(b->manager->event, &b->kill_timer, CLOCK_MONOTONIC,
                                       CANCEL_KILL_USEC, 0, on_kill_timer, b);
        if (r < 0)
                log_debug_errno(r, "Failed to arm the kill timer, ignoring: %m");
        return 0;
}

/* ---- submit ------------------------------------------------------------------------------ */

static int new_id(char **ret) {
        uint8_t bytes[BUILD_ID_BYTES];
        char *s;

        if (getrandom(bytes, sizeof bytes, 0) != sizeof bytes)
                return -errno ?: -EIO;
        /* A letter first: the id is then its object path's last label as it is (sd-bus
         * escapes a leading digit). */
        bytes[0] = (uint8_t) (((10 + (bytes[0] >> 4) % 6) << 4) | (bytes[0] & 0x0f));
        s = malloc(2 * sizeof bytes + 1);
        if (!s)
                return -ENOMEM;
        for (size_t i = 0; i < sizeof bytes; i++)
                sprintf(s + 2 * i, "%02x", bytes[i]);
        *ret = s;
        return 0;
}

static int fail(char **ret_error, int r, const char *format, ...) _printf_(3, 4);
static int fail(char **ret_error, int r, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        if (vasprintf(ret_error, format, ap) < 0)
                *ret_error = NULL;
        va_end(ap);
        return r;
}

static bool platform_is_valid(const char *p) {
        size_t slashes = 0;

        if (isempty(p) || p[0] == '/' || endswith(p, "/"))
                return false;
        for (const char *c = p; *c; c++) {
                if (*c == '/') {
                        if (c[1] == '/')
                                return false;
                        slashes++;
                } else if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_'))
                        return false;
        }
        return slashes == 1 || slashes == 2;
}

static int diag_error(ZlDiagList *diags, const char *name, char **ret_error) {
        for (size_t i = 0; i < diags->n_items; i++) {
                const ZlDiag *d = diags->items + i;

                if (d->severity != ZL_DIAG_ERROR)
                        continue;
                return fail(ret_error, -EBADMSG, "%s:%u: %s%s%s", name, d->line, d->message,
                            d->hint ? " (" : "", d->hint ? d->hint : "");
        }
        return fail(ret_error, -EBADMSG, "%s: not a valid Dockerfile", name);
}

/* A Dockerfile that does not parse, or names an unknown target, fails Build() at once with its
 * line: the same parser runs again in the job. */
static int check_dockerfile(const char *path, const char *name, const BuildOptions *o,
                            char **ret_error) {
        _cleanup_(zl_diag_list_done) ZlDiagList diags = {};
        _cleanup_(json_decrefp) json_t *args = pairs_to_json(o->build_args), *plan = NULL;
        ZlDockerfile *df = NULL;
        int r;

        if (!args)
                return -ENOMEM;
        r = zl_dockerfile_parse_file(path, &df, &diags);
        if (r == -EINVAL)
                return diag_error(&diags, name, ret_error);
        if (r < 0)
                return fail(ret_error, r, "dockerfile: failed to read '%s': %s", path,
                            strerror(-r));
        r = zl_dockerfile_plan(df, args, o->target, &plan, &diags);
        zl_dockerfile_free(df);
        if (r == -EINVAL)
                return diag_error(&diags, name, ret_error);
        return r < 0 ? r : 0;
}

static int validate(BuildManager *m, const char *context, BuildOptions *o, char **ret_error) {
        struct stat st;

        (void) m;
        if (!path_is_absolute(context))
                return fail(ret_error, -EINVAL, "context: '%s' is not an absolute path", context);
        if (stat(context, &st) < 0)
                return fail(ret_error, -errno, "context: '%s': %s", context, strerror(errno));
        if (!S_ISDIR(st.st_mode))
                return fail(ret_error, -EINVAL, "context: '%s' is not a directory", context);

        for (char **t = o->tags; t && *t; t++) {
                const char *why = NULL;
                char *n = NULL;
                int r = image_ref_normalize(*t, &n, &why);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return fail(ret_error, -EINVAL,
                                    "tags: '%s' is not a valid image reference: %s", *t,
                                    strna(why));
                if (strchr(n, '@')) {
                        free(n);
                        return fail(ret_error, -EINVAL, "tags: '%s' has a digest; tags name one",
                                    *t);
                }
                free_and_replace(*t, n);
        }
        for (char **a = o->build_args; a && a[0] && a[1]; a += 2)
                if (isempty(a[0]) || strpbrk(a[0], "= \t\n"))
                        return fail(ret_error, -EINVAL,
                                    "build_args: '%s' is not a valid argument name", a[0]);
        if (o->platform && !platform_is_valid(o->platform))
                return fail(ret_error, -EINVAL,
                            "platform: '%s' is not os/arch[/variant] (e.g. linux/amd64)",
                            o->platform);
        if (o->target && isempty(o->target))
                return fail(ret_error, -EINVAL, "target: empty stage name");
        if (o->runtime && isempty(o->runtime))
                return fail(ret_error, -EINVAL, "runtime: empty name");
        if (o->runtime && o->runtime_auto)
                return fail(ret_error, -EINVAL,
                            "runtime, runtime_auto: give a runtime or ask for detection, not both");

        if (!o->runtime && !o->runtime_auto) {
                const char *df = o->dockerfile ?: "Dockerfile";
                _cleanup_free_ char *path =
                        path_is_absolute(df) ? strdup(df) : path_join(context, df);
                if (!path)
                        return -ENOMEM;
                if (isempty(df))
                        return fail(ret_error, -EINVAL, "dockerfile: empty path");
                if (stat(path, &st) < 0)
                        return fail(ret_error, -ENOENT,
                                    "dockerfile: '%s' does not exist (give one with -f, or a "
                                    "runtime)",
                                    path);
                if (!S_ISREG(st.st_mode))
                        return fail(ret_error, -EINVAL, "dockerfile: '%s' is not a file", path);
                return check_dockerfile(path, df, o, ret_error);
        }
        if (o->runtime && !runtime_template_get(o->runtime)) {
                _cleanup_free_ char *known = NULL;
                size_t n;
                const RuntimeTemplate *t = runtime_templates(&n);

                for (size_t i = 0; i < n; i++)
                        if (strextend(&known, i > 0 ? ", " : "", t[i].name) < 0)
                                return -ENOMEM;
                return fail(ret_error, -EINVAL, "runtime: unknown runtime '%s' (known: %s)",
                            o->runtime, strempty(known));
        }
        if (o->runtime_auto) {
                _cleanup_free_ char *msg = NULL;
                const RuntimeTemplate *t;
                int r = runtime_template_detect(context, &t, &msg);

                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return fail(ret_error, -EINVAL, "runtime_auto: %s",
                                    msg ?: "no runtime template fits the context");
        }
        return 0;
}

int build_manager_submit(BuildManager *m, const char *context, BuildOptions *o, Build **ret,
                         char **ret_error) {
        _cleanup_(build_freep) Build *b = NULL;
        _cleanup_free_ char *id = NULL, *error = NULL;
        int r;

        r = validate(m, context, o, &error);
        if (r < 0) {
                if (ret_error)
                        *ret_error = TAKE_PTR(error);
                return r;
        }
        r = new_id(&id);
        if (r < 0)
                return r;
        r = build_alloc(m, id, &b);
        if (r < 0)
                return r;
        b->context = strdup(context);
        if (!b->context)
                return -ENOMEM;
        b->options = *o;
        b->state = BUILD_PENDING;
        b->created_at = now(CLOCK_REALTIME);
        if (mkdir(b->dir, 0700) < 0) {
                int k = -errno;
                b->options = (BuildOptions){};
                return k;
        }
        r = build_save(b);
        if (r >= 0)
                r = build_open_log_append(b);
        if (r >= 0)
                r = manager_add(m, b);
        if (r < 0) {
                b->options = (BuildOptions){};
                (void) rm_rf(b->dir);
                return r;
        }
        *o = (BuildOptions){};
        log_info("Build %s queued (%s).", b->id, b->context);
        manager_schedule(m);
        *ret = TAKE_PTR(b);
        return 0;
}

int build_open_log(Build *b) {
        _cleanup_free_ char *path = path_join(b->dir, "log");
        int fd;

        if (!path)
                return -ENOMEM;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        return fd < 0 ? -errno : fd;
}

/* ---- history ------------------------------------------------------------------------------ */

static void build_remove(BuildManager *m, size_t i) {
        Build *b = m->builds[i];

        memmove(m->builds + i, m->builds + i + 1, (m->n_builds - i - 1) * sizeof(Build *));
        m->n_builds--;
        if (m->cb.removed)
                m->cb.removed(m, b, m->userdata);
        (void) rm_rf(b->dir);
        (void) rm_rf(b->work_dir);
        build_free(b);
}

/* ---- the layout cache ------------------------------------------------------------------- */

/* zl-build-job keeps the OCI layout of each final image in <state>/oci-cache/<config hex> so that
 * a rebuild that changes nothing links it instead of exporting the image again. The most
 * recently used OCI_CACHE_KEEP layouts stay; use is the directory's mtime, set here when a job
 * reports the image. */
#define OCI_CACHE_KEEP 8

static void oci_cache_touch(BuildManager *m, const char *image_id) {
        _cleanup_free_ char *p = NULL;
        const char *hex;

        if (!image_id)
                return;
        hex = startswith(image_id, "sha256:") ?: image_id;
        if (!*hex || strchr(hex, '/') || hex[0] == '.')
                return;
        p = path_join(m->oci_cache, hex);
        if (p && utimensat(AT_FDCWD, p, NULL, 0) < 0 && errno != ENOENT)
                log_debug_errno(errno, "Failed to mark '%s' as used, ignoring: %m", p);
}

typedef struct CacheEntry {
        char *name;
        struct timespec mtime;
} CacheEntry;

static int cache_entry_newer_first(const void *a, const void *b) {
        const CacheEntry *x = a, *y = b;

        if (x->mtime.tv_sec != y->mtime.tv_sec)
                return x->mtime.tv_sec < y->mtime.tv_sec ? 1 : -1;
        if (x->mtime.tv_nsec != y->mtime.tv_nsec)
                return x->mtime.tv_nsec < y->mtime.tv_nsec ? 1 : -1;
        return strcmp(x->name, y->name);
}

/* Leftovers of killed jobs ("*.tmp") go once no build runs; whole layouts beyond the newest
 * OCI_CACHE_KEEP go always. */
static void oci_cache_prune(BuildManager *m) {
        _cleanup_(closedirp) DIR *d = opendir(m->oci_cache);
        CacheEntry *entries = NULL;
        size_t n = 0, kept = 0;
        struct dirent *de;

        if (!d)
                return;
        while ((de = readdir(d))) {
                struct stat st;
                CacheEntry *e;

                if (de->d_name[0] == '.' ||
                    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
                    !S_ISDIR(st.st_mode))
                        continue;
                e = reallocarray(entries, n + 1, sizeof *entries);
                if (!e)
                        break;
                entries = e;
                entries[n].name = strdup(de->d_name);
                if (!entries[n].name)
                        break;
                entries[n++].mtime = st.st_mtim;
        }
        qsort(entries, n, sizeof *entries, cache_entry_newer_first);
        for (size_t i = 0; i < n; i++) {
                bool tmp = endswith(entries[i].name, ".tmp");

                if (tmp ? m->running == 0 : ++kept > OCI_CACHE_KEEP) {
                        _cleanup_free_ char *p = path_join(m->oci_cache, entries[i].name);

                        log_debug("Dropping the cached layout %s.", entries[i].name);
                        if (p)
                                (void) rm_rf(p);
                }
                free(entries[i].name);
        }
        free(entries);
}

/* Drops finished builds beyond history_max (oldest first) or older than history_max_age. */
static void manager_prune(BuildManager *m) {
        usec_t t = now(CLOCK_REALTIME);
        size_t finished = 0;

        for (size_t i = 0; i < m->n_builds; i++)
                if (build_state_is_final(m->builds[i]->state))
                        finished++;
        for (size_t i = 0; i < m->n_builds;) {
                Build *b = m->builds[i];
                bool old = b->finished_at + m->config.history_max_age < t;

                if (build_state_is_final(b->state) && !b->waiters &&
                    (finished > m->config.history_max || old)) {
                        log_debug("Build %s leaves the history.", b->id);
                        build_remove(m, i);
                        finished--;
                        continue;
                }
                i++;
        }
        oci_cache_prune(m);
}

/* ---- start ------------------------------------------------------------------------------- */

static char **json_to_strv(const json_t *a) {
        char **l = NULL;
        size_t i;
        json_t *v;

        json_array_foreach (a, i, v)
                if (json_is_string(v) && strv_extend(&l, json_string_value(v)) < 0)
                        return strv_free(l);
        return l;
}

static char **json_to_pairs(const json_t *o) {
        const char *k;
        char **l = NULL;
        json_t *v;

        json_object_foreach ((json_t *) o, k, v)
                if (json_is_string(v) &&
                    (strv_extend(&l, k) < 0 || strv_extend(&l, json_string_value(v)) < 0))
                        return strv_free(l);
        return l;
}

static int build_load(BuildManager *m, const char *id, Build **ret) {
        _cleanup_(build_freep) Build *b = NULL;
        _cleanup_(json_decrefp) json_t *j = NULL;
        _cleanup_free_ char *path = NULL, *data = NULL;
        json_t *o;
        int r;

        r = build_alloc(m, id, &b);
        if (r < 0)
                return r;
        path = path_join(b->dir, "build.json");
        if (!path)
                return -ENOMEM;
        r = read_full_file(path, RECORD_SIZE_MAX, &data, NULL);
        if (r < 0)
                return r;
        j = json_loads(data, 0, NULL);
        if (!json_is_object(j) || !streq(strempty(json_string_value(json_object_get(j, "id"))), id))
                return -EBADMSG;
        b->state = build_state_from_string(json_string_value(json_object_get(j, "state")));
        if (b->state < 0)
                return -EBADMSG;
        b->context = json_strdup(j, "context");
        b->image_id = json_strdup(j, "image_id");
        b->error = json_strdup(j, "error");
        b->created_at = (usec_t) json_integer_value(json_object_get(j, "created_at"));
        b->started_at = (usec_t) json_integer_value(json_object_get(j, "started_at"));
        b->finished_at = (usec_t) json_integer_value(json_object_get(j, "finished_at"));
        b->pid = (pid_t) json_integer_value(json_object_get(j, "pid"));
        o = json_object_get(j, "options");
        b->options = (BuildOptions){
                .dockerfile = json_strdup(o, "dockerfile"),
                .tags = json_to_strv(json_object_get(o, "tags")),
                .build_args = json_to_pairs(json_object_get(o, "build_args")),
                .target = json_strdup(o, "target"),
                .no_cache = json_is_true(json_object_get(o, "no_cache")),
                .runtime = json_strdup(o, "runtime"),
                .runtime_auto = json_is_true(json_object_get(o, "runtime_auto")),
                .push = json_is_true(json_object_get(o, "push")),
                .platform = json_strdup(o, "platform"),
        };
        if (!b->context)
                return -EBADMSG;
        *ret = TAKE_PTR(b);
        return 0;
}

/* Whether pid is still a job process (and not a recycled pid): its comm is the job's name. */
static bool pid_is_job(BuildManager *m, pid_t pid) {
        _cleanup_free_ char *path = NULL, *base = NULL;
        char buf[64];
        ssize_t n;
        int fd;

        if (pid <= 1 || asprintf(&path, "/proc/" PID_FMT "/comm", pid) < 0)
                return false;
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return false;
        n = read(fd, buf, sizeof buf - 1);
        safe_close(fd);
        if (n <= 0)
                return false;
        buf[n] = 0;
        buf[strcspn(buf, "\n")] = 0;
        if (path_basename(m->job_path, &base) < 0)
                return false;
        /* comm holds at most 15 characters. */
        return strneq(buf, base, 15) && strlen(buf) == MIN(strlen(base), (size_t) 15);
}

static int on_cleanup_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        (void) userdata;
        if (si->si_code != CLD_EXITED || si->si_status != 0)
                log_warning("%s --cleanup (pid " PID_FMT ") failed (status %d), ignoring.",
                            BUILD_JOB_NAME, si->si_pid, si->si_status);
        sd_event_source_disable_unref(s);
        return 0;
}

/* Removes what a killed job left in buildah's storage, in the background. */
static void build_spawn_cleanup(Build *b) {
        BuildManager *m = b->manager;
        const BuildConfig *c = &m->config;
        sd_event_source *s = NULL;
        pid_t pid;
        int r;

        pid = fork();
        if (pid < 0) {
                log_warning_errno(errno, "Failed to run %s --cleanup %s, ignoring: %m",
                                  BUILD_JOB_NAME, b->id);
                return;
        }
        if (pid == 0) {
                const char *argv[12];
                size_t n = 0;
                sigset_t none;
                int null;

                sigemptyset(&none);
                (void) sigprocmask(SIG_SETMASK, &none, NULL);
                null = open("/dev/null", O_RDWR | O_CLOEXEC);
                if (null >= 0)
                        (void) dup2(null, STDIN_FILENO);
                argv[n++] = BUILD_JOB_NAME;
                argv[n++] = "--cleanup";
                argv[n++] = b->id;
                if (c->storage_root) {
                        argv[n++] = "--storage-root";
                        argv[n++] = c->storage_root;
                }
                if (c->storage_runroot) {
                        argv[n++] = "--storage-runroot";
                        argv[n++] = c->storage_runroot;
                }
                argv[n] = NULL;
                (void) close_range(3, ~0U, 0);
                execv(m->job_path, (char *const *) argv);
                _exit(127);
        }
        r = sd_event_add_child(m->event, &s, pid, WEXITED, on_cleanup_exit, NULL);
        if (r < 0) {
                (void) waitpid(pid, NULL, 0);
                return;
        }
        (void) sd_event_source_set_floating(s, true);
        sd_event_source_unref(s);
}

int build_manager_start(BuildManager *m) {
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;
        int r;

        r = mkdir_p(m->builds_dir, 0700);
        if (r >= 0)
                r = mkdir_p(m->work_root, 0700);
        if (r < 0)
                return r;
        d = opendir(m->builds_dir);
        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                Build *b = NULL;

                if (de->d_name[0] == '.')
                        continue;
                r = build_load(m, de->d_name, &b);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        log_warning_errno(r, "Failed to load build record '%s', ignoring: %m",
                                          de->d_name);
                        continue;
                }
                r = manager_add(m, b);
                if (r < 0) {
                        build_free(b);
                        return r;
                }
                if (build_state_is_final(b->state))
                        continue;
                /* A previous instance died with this build: it cannot be resumed. */
                if (b->pid > 0 && pid_is_job(m, b->pid)) {
                        log_info("Build %s: killing its leftover job (pid " PID_FMT ").", b->id,
                                 b->pid);
                        (void) kill(-b->pid, SIGKILL);
                        (void) kill(b->pid, SIGKILL);
                }
                b->pid = 0;
                if (b->state == BUILD_RUNNING)
                        build_spawn_cleanup(b);
                b->state = BUILD_FAILED;
                b->finished_at = now(CLOCK_REALTIME);
                free(b->error);
                b->error = strdup(STOPPED_ERROR);
                log_write(b, "FAILED: " STOPPED_ERROR "\n");
                b->log_fd = safe_close(b->log_fd);
                build_save_or_warn(b);
                (void) rm_rf(b->work_dir);
                log_warning("Build %s failed: %s.", b->id, STOPPED_ERROR);
        }
        manager_prune(m);
        return 0;
}

/* ---- the manager ------------------------------------------------------------------------- */

int build_manager_new(sd_event *event, BuildConfig *config, const char *job_path,
                      const BuildManagerCallbacks *cb, void *userdata, BuildManager **ret) {
        BuildManager *m = calloc(1, sizeof(BuildManager));

        if (!m)
                return -ENOMEM;
        m->event = sd_event_ref(event);
        m->config = *config;
        *config = (BuildConfig){};
        if (!m->config.storage_root)
                m->config.storage_root = path_join(m->config.state_dir, "storage");
        m->job_path = strdup(job_path);
        m->builds_dir = path_join(m->config.state_dir, "builds");
        m->work_root = path_join(m->config.state_dir, "work");
        m->oci_cache = path_join(m->config.state_dir, "oci-cache");
        if (cb)
                m->cb = *cb;
        m->userdata = userdata;
        if (!m->job_path || !m->builds_dir || !m->work_root || !m->oci_cache ||
            !m->config.storage_root) {
                build_manager_free(m);
                return -ENOMEM;
        }
        *ret = m;
        return 0;
}

BuildManager *build_manager_free(BuildManager *m) {
        if (!m)
                return NULL;
        for (size_t i = 0; i < m->n_builds; i++) {
                Build *b = m->builds[i];

                if (b->state == BUILD_RUNNING) {
                        /* The job removes its containers on SIGTERM; the record says why it
                         * ended, as after a crash. */
                        if (b->pid > 0)
                                (void) kill(-b->pid, SIGTERM);
                        b->pid = 0;
                        b->state = BUILD_FAILED;
                        b->finished_at = now(CLOCK_REALTIME);
                        free(b->error);
                        b->error = strdup(STOPPED_ERROR);
                        log_write(b, "FAILED: " STOPPED_ERROR "\n");
                        build_save_or_warn(b);
                } else if (b->state == BUILD_PENDING) {
                        b->state = BUILD_FAILED;
                        b->finished_at = now(CLOCK_REALTIME);
                        free(b->error);
                        b->error = strdup(STOPPED_ERROR);
                        build_save_or_warn(b);
                }
                build_free(b);
        }
        free(m->builds);
        sd_event_source_disable_unref(m->dispatch_source);
        build_config_done(&m->config);
        free(m->job_path);
        free(m->builds_dir);
        free(m->work_root);
        free(m->oci_cache);
        sd_event_unref(m->event);
        return mfree(m);
}

Build *build_manager_get(BuildManager *m, const char *id) {
        for (size_t i = 0; i < m->n_builds; i++)
                if (streq(m->builds[i]->id, id))
                        return m->builds[i];
        return NULL;
}

size_t build_manager_count(BuildManager *m) {
        return m->n_builds;
}

Build *build_manager_get_at(BuildManager *m, size_t i) {
        return i < m->n_builds ? m->builds[i] : NULL;
}

const BuildConfig *build_manager_config(BuildManager *m) {
        return &m->config;
}

unsigned build_manager_running(BuildManager *m) {
        return m->running;
}
