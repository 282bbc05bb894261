/* SPDX-License-Identifier: Apache-2.0 */
/* build-exec.c: the executor: the plan's stages and instructions as buildah commands. */
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <linux/openat2.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "build-cache.h"
#include "build-context.h"
#include "build-exec.h"
#include "fileio.h"
#include "image-ref.h"
#include "log.h"
#include "path-util.h"
#include "runtime-templates.h"
#include "string-util.h"
#include "zlayer/dockerfile.h"

/* buildah's output lines are cut at this size so one event stays small. */
#define OUTPUT_LINE_MAX 4096
#define CONTAINER_PREFIX "zlb-"

DEFINE_TRIVIAL_CLEANUP_FUNC(ZlDockerfile *, zl_dockerfile_free);

static bool streq_ptr(const char *a, const char *b) {
        return a && b ? streq(a, b) : a == b;
}

struct BuildJob {
        const BuildRequest *req;
        FILE *events;
        int signal_fd;
        char *buildah;
        bool failed; /* build_failed was sent */
        bool cancelled;
        char *last_error; /* the last line buildah wrote to stderr */
        BuildImageList *images;
        char **ignore;
        char *ignore_file;
        json_t *stage_images; /* stage index (string) -> image id */
        char **containers; /* working containers created and not yet removed */
        unsigned heredoc_seq;
        struct Fold *fold; /* the folded RUNs whose output is being read, if any */
        char *final_layout; /* where the final stage's commit wrote its OCI layout, if it did */
};

/* ---- request --------------------------------------------------------------------------- */

BuildRequest *build_request_free(BuildRequest *r) {
        if (!r)
                return NULL;
        free(r->build_id);
        free(r->context);
        free(r->dockerfile);
        free(r->runtime);
        strv_free(r->tags);
        json_decref(r->build_args);
        free(r->target);
        free(r->platform);
        free(r->storage_root);
        free(r->storage_runroot);
        free(r->storage_driver);
        free(r->isolation);
        free(r->work_dir);
        strv_free(r->insecure_registries);
        free(r->registries_conf);
        free(r->oci_cache);
        return mfree(r);
}

static int set_error(char **ret_error, const char *fmt, ...) _printf_(2, 3);
static int set_error(char **ret_error, const char *fmt, ...) {
        va_list ap;

        if (ret_error) {
                va_start(ap, fmt);
                if (vasprintf(ret_error, fmt, ap) < 0)
                        *ret_error = NULL;
                va_end(ap);
        }
        return -EINVAL;
}

/* Optional string field: absent or null leaves *ret NULL. */
static int get_string(const json_t *j, const char *key, bool required, char **ret,
                      char **ret_error) {
        const json_t *v = json_object_get(j, key);

        if (!v || json_is_null(v)) {
                if (required)
                        return set_error(ret_error, "'%s' is required", key);
                return 0;
        }
        if (!json_is_string(v))
                return set_error(ret_error, "'%s' must be a string", key);
        *ret = strdup(json_string_value(v));
        return *ret ? 0 : -ENOMEM;
}

static int get_bool(const json_t *j, const char *key, bool def, bool *ret, char **ret_error) {
        const json_t *v = json_object_get(j, key);

        if (!v || json_is_null(v)) {
                *ret = def;
                return 0;
        }
        if (!json_is_boolean(v))
                return set_error(ret_error, "'%s' must be true or false", key);
        *ret = json_is_true(v);
        return 0;
}

static int get_strv(const json_t *j, const char *key, char ***ret, char **ret_error) {
        const json_t *v = json_object_get(j, key), *e;
        size_t i;
        int r;

        if (!v || json_is_null(v))
                return 0;
        if (!json_is_array(v))
                return set_error(ret_error, "'%s' must be an array of strings", key);
        json_array_foreach (v, i, e) {
                if (!json_is_string(e) || isempty(json_string_value(e)))
                        return set_error(ret_error, "'%s' must be an array of strings", key);
                r = strv_extend(ret, json_string_value(e));
                if (r < 0)
                        return r;
        }
        return 0;
}

static bool build_id_is_valid(const char *s) {
        size_t n = strlen(s);

        return n > 0 && n <= 64 &&
               strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") ==
                       n &&
               s[0] != '.' && s[0] != '-';
}

int build_request_parse(const json_t *j, BuildRequest **ret, char **ret_error) {
        _cleanup_(build_request_freep) BuildRequest *r = NULL;
        const json_t *v, *storage, *prune;
        const char *k;
        int q;

        assert(ret);

        if (!json_is_object(j))
                return set_error(ret_error, "the request must be a JSON object");
        r = calloc(1, sizeof *r);
        if (!r)
                return -ENOMEM;

        if ((q = get_string(j, "build_id", true, &r->build_id, ret_error)) < 0 ||
            (q = get_string(j, "context", true, &r->context, ret_error)) < 0 ||
            (q = get_string(j, "dockerfile", false, &r->dockerfile, ret_error)) < 0 ||
            (q = get_string(j, "runtime", false, &r->runtime, ret_error)) < 0 ||
            (q = get_bool(j, "runtime_auto", false, &r->runtime_auto, ret_error)) < 0 ||
            (q = get_strv(j, "tags", &r->tags, ret_error)) < 0 ||
            (q = get_string(j, "target", false, &r->target, ret_error)) < 0 ||
            (q = get_bool(j, "no_cache", false, &r->no_cache, ret_error)) < 0 ||
            (q = get_string(j, "platform", false, &r->platform, ret_error)) < 0 ||
            (q = get_bool(j, "push", false, &r->push, ret_error)) < 0 ||
            (q = get_string(j, "isolation", false, &r->isolation, ret_error)) < 0 ||
            (q = get_string(j, "work_dir", true, &r->work_dir, ret_error)) < 0 ||
            (q = get_strv(j, "insecure_registries", &r->insecure_registries, ret_error)) < 0 ||
            (q = get_string(j, "registries_conf", false, &r->registries_conf, ret_error)) < 0 ||
            (q = get_bool(j, "step_commits", true, &r->step_commits, ret_error)) < 0 ||
            (q = get_string(j, "oci_cache", false, &r->oci_cache, ret_error)) < 0)
                return q;

        if (!build_id_is_valid(r->build_id))
                return set_error(ret_error,
                                 "'build_id' must be 1-64 characters of [A-Za-z0-9_.-]: '%s'",
                                 r->build_id);
        if (!path_is_absolute(r->context))
                return set_error(ret_error, "'context' must be an absolute path: '%s'", r->context);
        if (r->oci_cache && !path_is_absolute(r->oci_cache))
                return set_error(ret_error, "'oci_cache' must be an absolute path: '%s'",
                                 r->oci_cache);
        if (!path_is_absolute(r->work_dir))
                return set_error(ret_error, "'work_dir' must be an absolute path: '%s'",
                                 r->work_dir);
        if (!r->dockerfile) {
                r->dockerfile = strdup("Dockerfile");
                if (!r->dockerfile)
                        return -ENOMEM;
        }
        if (!r->isolation) {
                r->isolation = strdup("chroot");
                if (!r->isolation)
                        return -ENOMEM;
        }
        if (!streq(r->isolation, "chroot") && !streq(r->isolation, "oci"))
                return set_error(ret_error, "'isolation' must be 'chroot' or 'oci': '%s'",
                                 r->isolation);
        if (r->runtime && !runtime_template_get(r->runtime))
                return set_error(ret_error, "'runtime': no runtime template '%s'", r->runtime);
        for (char **t = r->tags; t && *t; t++) {
                _cleanup_free_ char *norm = NULL;
                const char *why = NULL;

                if (image_ref_normalize(*t, &norm, &why) < 0)
                        return set_error(ret_error, "'tags': '%s' is not an image reference: %s",
                                         *t, strna(why));
        }

        v = json_object_get(j, "build_args");
        if (v && !json_is_null(v)) {
                json_t *e;

                if (!json_is_object(v))
                        return set_error(ret_error, "'build_args' must be an object of strings");
                json_object_foreach ((json_t *) v, k, e)
                        if (!json_is_string(e))
                                return set_error(ret_error, "'build_args': '%s' must be a string",
                                                 k);
                r->build_args = json_deep_copy(v);
        } else
                r->build_args = json_object();
        if (!r->build_args)
                return -ENOMEM;

        storage = json_object_get(j, "storage");
        if (storage && !json_is_null(storage)) {
                if (!json_is_object(storage))
                        return set_error(ret_error, "'storage' must be an object");
                if ((q = get_string(storage, "root", false, &r->storage_root, ret_error)) < 0 ||
                    (q = get_string(storage, "runroot", false, &r->storage_runroot, ret_error)) <
                            0 ||
                    (q = get_string(storage, "driver", false, &r->storage_driver, ret_error)) < 0)
                        return q;
        }

        prune = json_object_get(j, "prune_cache");
        if (prune && !json_is_null(prune)) {
                const json_t *b = json_object_get(prune, "max_bytes"),
                             *a = json_object_get(prune, "max_age_sec");

                if (!json_is_object(prune) || (b && !json_is_integer(b)) ||
                    (a && !json_is_integer(a)) || json_integer_value(b) < 0 ||
                    json_integer_value(a) < 0)
                        return set_error(ret_error, "'prune_cache' must be an object with "
                                                    "non-negative integers 'max_bytes' and "
                                                    "'max_age_sec'");
                r->prune_max_bytes = (uint64_t) json_integer_value(b);
                r->prune_max_age_sec = (uint64_t) json_integer_value(a);
        }

        *ret = TAKE_PTR(r);
        return 0;
}

/* ---- events ---------------------------------------------------------------------------- */

/* Takes data. */
static void emit(BuildJob *j, const char *event, json_t *data) {
        _cleanup_(json_decrefp) json_t *o = NULL;

        if (!data)
                data = json_object();
        o = json_pack("{s:s,s:o}", "event", event, "data", data);
        if (!o || !j->events)
                return;
        (void) json_dumpf(o, j->events, JSON_COMPACT | JSON_ENSURE_ASCII);
        fputc('\n', j->events);
        fflush(j->events);
}

static json_t *json_int_or_null(int v) {
        return v >= 0 ? json_integer(v) : json_null();
}

/* Sends build_failed (once) and returns -EIO: the error already went out as an event. */
static int fail(BuildJob *j, int stage, int index, int line, const char *fmt, ...) _printf_(5, 6);
static int fail(BuildJob *j, int stage, int index, int line, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;

        if (j->failed || j->cancelled)
                return j->cancelled ? -ECANCELED : -EIO;
        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        j->failed = true;
        log_debug("Build failed: %s", strna(msg));
        emit(j, "build_failed",
             json_pack("{s:s,s:o,s:o,s:o}", "error", msg ?: "out of memory", "stage",
                       json_int_or_null(stage), "index", json_int_or_null(index), "line",
                       json_int_or_null(line)));
        return -EIO;
}

/* ---- running buildah ------------------------------------------------------------------- */

typedef enum RunMode {
        RUN_EVENTS, /* every line of stdout and stderr becomes an output event */
        RUN_FOLDED, /* as RUN_EVENTS, routed to its instruction by j->fold (see run_steps()) */
        RUN_QUIET, /* stdout is captured, stderr copied to ours */
} RunMode;

/* Consecutive RUNs run by one `buildah run` (see run_steps()). A wrapper script writes a marker
 * line to stdout and to stderr before each command after the first; each stream keeps its own
 * order, so a line belongs to the step of the last marker on its stream. The next step is shown
 * (instruction_complete, instruction_started) once both streams have passed its marker; lines
 * of a stream that is ahead wait until then. */
typedef struct FoldLine {
        size_t step;
        bool is_stderr;
        char *text;
        size_t n;
} FoldLine;

typedef struct Fold {
        char marker[64]; /* "zlb-fold-<32 hex>:"; a marker line is this and the step number */
        const json_t *instructions;
        int stage;
        size_t first, n; /* the instructions [first, first + n) */
        size_t at[2]; /* per stream (stdout, stderr): the step its last marker named */
        size_t shown; /* the step whose instruction_started went out */
        bool held_empty[2]; /* an empty line that may be the one before a marker */
        FoldLine *queue;
        size_t n_queue;
} Fold;

static void fold_line(BuildJob *j, bool is_stderr, const char *line, size_t n);

typedef struct LineBuf {
        char buf[OUTPUT_LINE_MAX];
        size_t n;
} LineBuf;

static void set_last_error(BuildJob *j, const char *line, size_t n) {
        while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\r'))
                n--;
        if (n == 0)
                return;
        free(j->last_error);
        j->last_error = strndup(line, n);
}

static void line_out(BuildJob *j, RunMode mode, bool is_stderr, const char *line, size_t n) {
        if (mode == RUN_FOLDED && j->fold) {
                fold_line(j, is_stderr, line, n);
                return;
        }
        if (is_stderr)
                set_last_error(j, line, n);
        if (mode == RUN_EVENTS) {
                /* json_stringn() refuses invalid UTF-8 (and NUL bytes): such a line goes out
                 * with '?' for every non-ASCII byte rather than not at all. */
                json_t *s = json_stringn(line, n);

                if (!s) {
                        _cleanup_free_ char *copy = malloc(n + 1);

                        if (copy) {
                                memcpy(copy, line, n);
                                copy[n] = '\0';
                        }

                        for (size_t k = 0; copy && k < n; k++)
                                if ((unsigned char) copy[k] >= 0x80 || copy[k] == '\0')
                                        copy[k] = '?';
                        s = json_string(copy ?: "");
                }
                emit(j, "output", json_pack("{s:o,s:b}", "line", s, "is_stderr", is_stderr));
        } else if (is_stderr)
                /* buildah's own diagnostics, passed on to the build log as they are. */
                fprintf(stderr, "%.*s\n", (int) n, line);
}

static void feed(BuildJob *j, RunMode mode, bool is_stderr, LineBuf *lb, const char *data,
                 size_t n) {
        for (size_t i = 0; i < n; i++) {
                if (data[i] == '\n') {
                        line_out(j, mode, is_stderr, lb->buf, lb->n);
                        lb->n = 0;
                        continue;
                }
                lb->buf[lb->n++] = data[i];
                if (lb->n == sizeof lb->buf) {
                        line_out(j, mode, is_stderr, lb->buf, lb->n);
                        lb->n = 0;
                }
        }
}

static bool signal_pending(BuildJob *j) {
        struct pollfd p = { .fd = j->signal_fd, .events = POLLIN };

        if (j->cancelled)
                return true;
        if (j->signal_fd < 0)
                return false;
        if (poll(&p, 1, 0) > 0 && (p.revents & POLLIN)) {
                struct signalfd_siginfo si;

                (void) read(j->signal_fd, &si, sizeof si);
                j->cancelled = true;
        }
        return j->cancelled;
}

static void stop_child(pid_t pid) {
        (void) kill(-pid, SIGTERM);
        for (int i = 0; i < 100; i++) {
                if (waitpid(pid, NULL, WNOHANG) == pid)
                        goto done;
                (void) nanosleep(&(struct timespec){ .tv_nsec = 100 * 1000 * 1000 }, NULL);
        }
        (void) kill(-pid, SIGKILL);
        (void) waitpid(pid, NULL, 0);
done:
        /* Whatever else the group still holds goes too. */
        (void) kill(-pid, SIGKILL);
}

static int append_global_args(BuildJob *j, char ***argv) {
        const BuildRequest *q = j->req;
        int r;

        r = strv_extend(argv, j->buildah);
        if (r >= 0 && q->storage_root)
                r = strv_extend(argv, "--root") ?: strv_extend(argv, q->storage_root);
        if (r >= 0 && q->storage_runroot)
                r = strv_extend(argv, "--runroot") ?: strv_extend(argv, q->storage_runroot);
        if (r >= 0 && q->storage_driver)
                r = strv_extend(argv, "--storage-driver") ?: strv_extend(argv, q->storage_driver);
        return r;
}

static int spawn_argv(char **argv, const char *cwd, int out_fd, int err_fd, pid_t *ret_pid) {
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        sigset_t none, deflt;
        int r;

        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO);
        posix_spawn_file_actions_adddup2(&fa, err_fd, STDERR_FILENO);
        if (cwd)
                posix_spawn_file_actions_addchdir_np(&fa, cwd);
        posix_spawnattr_init(&attr);
        sigemptyset(&none);
        sigemptyset(&deflt);
        sigaddset(&deflt, SIGTERM);
        sigaddset(&deflt, SIGINT);
        sigaddset(&deflt, SIGPIPE);
        posix_spawnattr_setsigmask(&attr, &none);
        posix_spawnattr_setsigdefault(&attr, &deflt);
        /* Its own process group: cancelling stops buildah and what it started, not us. */
        posix_spawnattr_setpgroup(&attr, 0);
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                                POSIX_SPAWN_SETPGROUP);
        r = posix_spawn(ret_pid, argv[0], &fa, &attr, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        return -r;
}

/* Starts buildah without waiting: stdout discarded, stderr to ours (the build log). For a step
 * that can overlap another one. */
static int buildah_start(BuildJob *j, char *const *args, pid_t *ret_pid) {
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_close_ int null_fd = -EBADF;
        int r;

        if (signal_pending(j))
                return -ECANCELED;
        r = append_global_args(j, &argv);
        for (char *const *a = args; r >= 0 && *a; a++)
                r = strv_extend(&argv, *a);
        if (r < 0)
                return r;
        null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (null_fd < 0)
                return -errno;
        return spawn_argv(argv, NULL, null_fd, STDERR_FILENO, ret_pid);
}

/* Waits for a buildah_start() child: its exit status, or -ECANCELED (and the child stopped)
 * when cancelled meanwhile. */
static int buildah_wait(BuildJob *j, pid_t pid) {
        int status;

        for (;;) {
                pid_t k = waitpid(pid, &status, WNOHANG);

                if (k == pid)
                        break;
                if (k < 0 && errno != EINTR)
                        return -errno;
                if (signal_pending(j)) {
                        stop_child(pid);
                        return -ECANCELED;
                }
                (void) poll(&(struct pollfd){ .fd = j->signal_fd, .events = POLLIN },
                            j->signal_fd >= 0 ? 1 : 0, 20);
        }
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Runs buildah with args (after the global options). Returns the exit status (0..255, 128+signal
 * for a signal), -ECANCELED when cancelled, or a negative errno when it could not run. */
static int buildah(BuildJob *j, char *const *args, const char *cwd, RunMode mode,
                   char **ret_stdout) {
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_close_ int out_r = -EBADF, out_w = -EBADF, err_r = -EBADF, err_w = -EBADF;
        _cleanup_free_ char *captured = NULL;
        size_t captured_n = 0;
        LineBuf lb_out = {}, lb_err = {};
        int fds[2], r, status;
        pid_t pid;

        if (signal_pending(j))
                return -ECANCELED;

        r = append_global_args(j, &argv);
        for (char *const *a = args; r >= 0 && *a; a++)
                r = strv_extend(&argv, *a);
        if (r < 0)
                return r;
        if (log_get_max_level() >= LOG_DEBUG) {
                _cleanup_free_ char *s = strv_join(argv, " ");
                log_debug("Running %s", strna(s));
        }

        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        out_r = fds[0];
        out_w = fds[1];
        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        err_r = fds[0];
        err_w = fds[1];
        r = spawn_argv(argv, cwd, out_w, err_w, &pid);
        if (r < 0)
                return r;
        out_w = safe_close(out_w);
        err_w = safe_close(err_w);

        while (out_r >= 0 || err_r >= 0) {
                struct pollfd p[3] = {
                        { .fd = out_r, .events = POLLIN },
                        { .fd = err_r, .events = POLLIN },
                        { .fd = j->signal_fd, .events = POLLIN },
                };
                char buf[16384];

                if (poll(p, 3, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        stop_child(pid);
                        return r;
                }
                if (p[2].revents & POLLIN) {
                        struct signalfd_siginfo si;

                        (void) read(j->signal_fd, &si, sizeof si);
                        j->cancelled = true;
                        stop_child(pid);
                        return -ECANCELED;
                }
                for (int i = 0; i < 2; i++) {
                        int *fd = i == 0 ? &out_r : &err_r;
                        ssize_t k;

                        if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                                continue;
                        k = read(*fd, buf, sizeof buf);
                        if (k < 0 && (errno == EINTR || errno == EAGAIN))
                                continue;
                        if (k <= 0) {
                                LineBuf *lb = i == 0 ? &lb_out : &lb_err;

                                if (lb->n > 0 && (i == 1 || mode != RUN_QUIET))
                                        line_out(j, mode, i == 1, lb->buf, lb->n);
                                lb->n = 0;
                                *fd = safe_close(*fd);
                                continue;
                        }
                        if (i == 0 && ret_stdout) {
                                char *c = realloc(captured, captured_n + (size_t) k + 1);

                                if (!c) {
                                        stop_child(pid);
                                        return -ENOMEM;
                                }
                                captured = c;
                                memcpy(captured + captured_n, buf, (size_t) k);
                                captured_n += (size_t) k;
                                captured[captured_n] = '\0';
                        }
                        if (i == 1 || mode != RUN_QUIET)
                                feed(j, mode, i == 1, i == 0 ? &lb_out : &lb_err, buf, (size_t) k);
                }
        }

        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        if (ret_stdout) {
                if (!captured) {
                        captured = strdup("");
                        if (!captured)
                                return -ENOMEM;
                }
                *ret_stdout = TAKE_PTR(captured);
        }
        if (WIFEXITED(status))
                return WEXITSTATUS(status);
        return 128 + WTERMSIG(status);
}

/* The last non-empty line of s, stripped, as a new string. */
static char *last_line(const char *s) {
        const char *end, *start;

        if (!s)
                return NULL;
        end = s + strlen(s);
        while (end > s && (end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\r'))
                end--;
        start = end;
        while (start > s && start[-1] != '\n')
                start--;
        return strndup(start, (size_t) (end - start));
}

/* Runs buildah and returns 0 only when it exited 0. Its last stderr line is in j->last_error. */
static int buildah_ok(BuildJob *j, char *const *args, const char *cwd, RunMode mode,
                      char **ret_stdout) {
        int r;

        j->last_error = mfree(j->last_error);
        r = buildah(j, args, cwd, mode, ret_stdout);
        if (r < 0)
                return r;
        if (r > 0) {
                if (ret_stdout)
                        *ret_stdout = mfree(*ret_stdout);
                return -EPROTO;
        }
        return 0;
}

static int find_in_path(const char *name, char **ret) {
        const char *path = getenv("PATH") ?: "/usr/local/bin:/usr/bin:/bin";

        for (const char *p = path; *p;) {
                size_t len = strcspn(p, ":");
                _cleanup_free_ char *dir = strndup(p, len), *full = NULL;

                if (!dir)
                        return -ENOMEM;
                full = path_join(isempty(dir) ? "." : dir, name);
                if (!full)
                        return -ENOMEM;
                if (access(full, X_OK) == 0) {
                        *ret = TAKE_PTR(full);
                        return 0;
                }
                p += len;
                if (*p == ':')
                        p++;
        }
        return -ENOENT;
}

bool build_buildah_version_ok(const char *s) {
        const char *v;
        unsigned major = 0, minor = 0;

        if (!s)
                return false;
        v = strstr(s, "version ");
        v = v ? v + strlen("version ") : s;
        if (sscanf(v, "%u.%u", &major, &minor) != 2)
                return false;
        return major > 1 || (major == 1 && minor >= 23);
}

/* ---- the plan -------------------------------------------------------------------------- */

static const char *jstr(const json_t *o, const char *key) {
        return json_string_value(json_object_get(o, key));
}

static int jint(const json_t *o, const char *key) {
        const json_t *v = json_object_get(o, key);

        return json_is_integer(v) ? (int) json_integer_value(v) : -1;
}

static bool cmd_is(const json_t *ins, const char *cmd) {
        const char *c = jstr(ins, "cmd");

        return c && streq(c, cmd);
}

/* The steps after which a cache image is committed. WORKDIR changes the file system too, but
 * only by a directory: it folds into the next commit like a config step. */
static bool cmd_commits(const json_t *ins) {
        return cmd_is(ins, "RUN") || cmd_is(ins, "COPY") || cmd_is(ins, "ADD");
}

/* ---- folded RUNs ----------------------------------------------------------------------- */

static void fold_output(BuildJob *j, Fold *f, bool is_stderr, const char *line, size_t n) {
        FoldLine *q;

        if (f->at[is_stderr] <= f->shown) {
                line_out(j, RUN_EVENTS, is_stderr, line, n);
                return;
        }
        q = reallocarray(f->queue, f->n_queue + 1, sizeof *f->queue);
        if (q) {
                f->queue = q;
                q[f->n_queue].text = malloc(MAX(n, 1u));
                if (q[f->n_queue].text)
                        memcpy(q[f->n_queue].text, line, n);
        }
        if (!q || !q[f->n_queue].text) {
                /* Out of memory: out of order rather than lost. */
                line_out(j, RUN_EVENTS, is_stderr, line, n);
                return;
        }
        q[f->n_queue].step = f->at[is_stderr];
        q[f->n_queue].is_stderr = is_stderr;
        q[f->n_queue].n = n;
        f->n_queue++;
}

/* Shows the steps up to upto, each followed by the lines that waited for it. */
static void fold_advance(BuildJob *j, Fold *f, size_t upto) {
        while (f->shown < upto) {
                const json_t *ins;
                size_t k = 0;

                emit(j, "instruction_complete",
                     json_pack("{s:i,s:i,s:b}", "stage", f->stage, "index",
                               (int) (f->first + f->shown), "cached", false));
                f->shown++;
                ins = json_array_get(f->instructions, f->first + f->shown);
                emit(j, "instruction_started",
                     json_pack("{s:i,s:i,s:s,s:i}", "stage", f->stage, "index",
                               (int) (f->first + f->shown), "instruction",
                               strempty(jstr(ins, "original")), "line", jint(ins, "line")));
                for (size_t q = 0; q < f->n_queue; q++) {
                        FoldLine *l = f->queue + q;

                        if (l->step <= f->shown) {
                                line_out(j, RUN_EVENTS, l->is_stderr, l->text, l->n);
                                free(l->text);
                        } else
                                f->queue[k++] = *l;
                }
                f->n_queue = k;
        }
}

static void fold_line(BuildJob *j, bool is_stderr, const char *line, size_t n) {
        Fold *f = j->fold;
        size_t ml = strlen(f->marker), step = 0;
        bool marker = n > ml && memcmp(line, f->marker, ml) == 0 && n - ml <= 9;

        for (size_t i = ml; marker && i < n; i++) {
                if (line[i] < '0' || line[i] > '9')
                        marker = false;
                else
                        step = step * 10 + (size_t) (line[i] - '0');
        }
        if (marker && step > f->at[is_stderr] && step < f->n) {
                /* The wrapper starts each marker with a newline, in case the command's output
                 * did not end with one: the empty line that makes when it did is not output. */
                f->held_empty[is_stderr] = false;
                f->at[is_stderr] = step;
                fold_advance(j, f, MIN(f->at[0], f->at[1]));
                return;
        }
        if (f->held_empty[is_stderr])
                fold_output(j, f, is_stderr, "", 0);
        f->held_empty[is_stderr] = n == 0;
        if (n > 0)
                fold_output(j, f, is_stderr, line, n);
}

/* After the last line: shows what is left. */
static void fold_finish(BuildJob *j, Fold *f) {
        for (int s = 0; s < 2; s++)
                if (f->held_empty[s]) {
                        f->held_empty[s] = false;
                        fold_output(j, f, s, "", 0);
                }
        fold_advance(j, f, MAX(f->at[0], f->at[1]));
        for (size_t q = 0; q < f->n_queue; q++) {
                line_out(j, RUN_EVENTS, f->queue[q].is_stderr, f->queue[q].text, f->queue[q].n);
                free(f->queue[q].text);
        }
        f->queue = mfree(f->queue);
        f->n_queue = 0;
}

static void fold_done(Fold *f) {
        for (size_t q = 0; q < f->n_queue; q++)
                free(f->queue[q].text);
        f->queue = mfree(f->queue);
        f->n_queue = 0;
}

/* The Dockerfile text: the runtime template's or the file's. */
static int load_dockerfile(BuildJob *j, char **ret_text, char **ret_name, char **ret_runtime) {
        const BuildRequest *q = j->req;
        const RuntimeTemplate *t = NULL;
        _cleanup_free_ char *path = NULL, *data = NULL;
        int r;

        if (q->runtime)
                t = runtime_template_get(q->runtime);
        else if (q->runtime_auto) {
                _cleanup_free_ char *msg = NULL;

                r = runtime_template_detect(q->context, &t, &msg);
                if (r == -ENOENT)
                        return fail(j, -1, -1, -1, "%s", msg ?: "no runtime template fits");
                if (r < 0)
                        return fail(j, -1, -1, -1, "detecting the runtime in '%s' failed: %s",
                                    q->context, strerror(-r));
        }
        if (t) {
                *ret_text = strdup(t->dockerfile);
                *ret_name = strjoin("runtime template ", t->name);
                *ret_runtime = strdup(t->name);
                return *ret_text && *ret_name && *ret_runtime ? 0 : -ENOMEM;
        }
        path = path_is_absolute(q->dockerfile) ? strdup(q->dockerfile)
                                               : path_join(q->context, q->dockerfile);
        if (!path)
                return -ENOMEM;
        r = read_full_file(path, 16 * 1024 * 1024, &data, NULL);
        if (r < 0)
                return fail(j, -1, -1, -1, "cannot read the Dockerfile '%s': %s", path,
                            strerror(-r));
        *ret_text = TAKE_PTR(data);
        *ret_name = TAKE_PTR(path);
        *ret_runtime = NULL;
        return 0;
}

static int fail_diags(BuildJob *j, const char *what, const ZlDiagList *d) {
        for (size_t i = 0; i < d->n_items; i++)
                if (d->items[i].severity == ZL_DIAG_ERROR)
                        return fail(j, -1, -1, (int) d->items[i].line, "%s: line %u: %s%s%s%s",
                                    what, d->items[i].line, d->items[i].message,
                                    d->items[i].hint ? " (" : "", strempty(d->items[i].hint),
                                    d->items[i].hint ? ")" : "");
        return fail(j, -1, -1, -1, "%s: invalid", what);
}

static int make_plan(BuildJob *j, json_t **ret_plan, char **ret_runtime) {
        _cleanup_free_ char *text = NULL, *name = NULL, *runtime = NULL;
        _cleanup_(zl_dockerfile_freep) ZlDockerfile *df = NULL;
        _cleanup_(zl_diag_list_done) ZlDiagList diags = {};
        json_t *plan = NULL;
        int r;

        r = load_dockerfile(j, &text, &name, &runtime);
        if (r < 0)
                return r;
        r = zl_dockerfile_parse_string(text, strlen(text), name, &df, &diags);
        if (r == -EINVAL)
                return fail_diags(j, name, &diags);
        if (r < 0)
                return fail(j, -1, -1, -1, "parsing '%s' failed: %s", name, strerror(-r));
        r = zl_dockerfile_plan(df, j->req->build_args, j->req->target, &plan, &diags);
        if (r == -EINVAL)
                return fail_diags(j, name, &diags);
        if (r < 0)
                return fail(j, -1, -1, -1, "planning '%s' failed: %s", name, strerror(-r));
        for (size_t i = 0; i < diags.n_items; i++)
                if (diags.items[i].severity == ZL_DIAG_WARNING)
                        log_warning("%s: line %u: %s", name, diags.items[i].line,
                                    diags.items[i].message);
        *ret_plan = plan;
        *ret_runtime = TAKE_PTR(runtime);
        return 0;
}

/* ---- instructions -> buildah arguments ------------------------------------------------- */

static int strv_push(char ***l, const char *a, const char *b) {
        int r = strv_extend(l, a);

        if (r >= 0 && b)
                r = strv_extend(l, b);
        return r;
}

/* Exec form as is; shell form through the current SHELL, as Docker stores it. */
static json_t *command_vector(const json_t *ins, char *const *shell) {
        const json_t *args = json_object_get(ins, "args");
        json_t *v;

        if (!json_is_array(args))
                return NULL;
        if (!streq_ptr(jstr(ins, "form"), "shell"))
                return json_deep_copy(args);
        v = json_array();
        for (char *const *s = shell; v && s && *s; s++)
                json_array_append_new(v, json_string(*s));
        if (v)
                json_array_append(v, json_array_get(args, 0));
        return v;
}

static int push_json(char ***l, const char *flag, const json_t *v) {
        _cleanup_free_ char *s = NULL;

        if (!v)
                return -ENOMEM;
        s = json_dumps(v, JSON_COMPACT);
        if (!s)
                return -ENOMEM;
        return strv_push(l, flag, s);
}

static int push_pairs(char ***l, const char *flag, const json_t *pairs) {
        const json_t *p;
        size_t i;

        json_array_foreach (pairs, i, p) {
                _cleanup_free_ char *kv =
                        strjoin(strempty(json_string_value(json_array_get(p, 0))), "=",
                                strempty(json_string_value(json_array_get(p, 1))));
                int r;

                if (!kv)
                        return -ENOMEM;
                r = strv_push(l, flag, kv);
                if (r < 0)
                        return r;
        }
        return 0;
}

int build_config_args(const json_t *ins, char *const *shell, bool cmd_set, char ***args) {
        const char *cmd = jstr(ins, "cmd");
        const json_t *v;
        size_t i;
        int r;

        assert(args);

        if (!cmd)
                return -EINVAL;
        if (streq(cmd, "ENV"))
                return push_pairs(args, "--env", json_object_get(ins, "pairs"));
        if (streq(cmd, "LABEL"))
                return push_pairs(args, "--label", json_object_get(ins, "pairs"));
        if (streq(cmd, "USER"))
                return strv_push(args, "--user", strempty(jstr(ins, "value")));
        if (streq(cmd, "WORKDIR"))
                return strv_push(args, "--workingdir", strempty(jstr(ins, "value")));
        if (streq(cmd, "STOPSIGNAL"))
                return strv_push(args, "--stop-signal", strempty(jstr(ins, "value")));
        if (streq(cmd, "MAINTAINER")) {
                _cleanup_free_ char *kv = strjoin("maintainer=", strempty(jstr(ins, "value")));
                return kv ? strv_push(args, "--label", kv) : -ENOMEM;
        }
        if (streq(cmd, "EXPOSE") || streq(cmd, "VOLUME")) {
                json_array_foreach (json_object_get(ins, "values"), i, v) {
                        r = strv_push(args, streq(cmd, "EXPOSE") ? "--port" : "--volume",
                                      strempty(json_string_value(v)));
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        if (streq(cmd, "CMD")) {
                _cleanup_(json_decrefp) json_t *vec = command_vector(ins, shell);
                return push_json(args, "--cmd", vec);
        }
        if (streq(cmd, "ENTRYPOINT")) {
                _cleanup_(json_decrefp) json_t *vec = command_vector(ins, shell);

                r = push_json(args, "--entrypoint", vec);
                /* Docker: ENTRYPOINT drops a CMD inherited from the base image, not one set
                 * earlier in the same stage. */
                if (r >= 0 && !cmd_set)
                        r = strv_push(args, "--cmd", "");
                return r;
        }
        if (streq(cmd, "SHELL")) {
                _cleanup_strv_free_ char **l = NULL;
                _cleanup_free_ char *s = NULL;

                json_array_foreach (json_object_get(ins, "args"), i, v) {
                        r = strv_extend(&l, strempty(json_string_value(v)));
                        if (r < 0)
                                return r;
                }
                s = strv_join(l, " ");
                return s ? strv_push(args, "--shell", s) : -ENOMEM;
        }
        if (streq(cmd, "HEALTHCHECK")) {
                static const struct {
                        const char *key, *flag;
                } opts[] = {
                        { "interval", "--healthcheck-interval" },
                        { "timeout", "--healthcheck-timeout" },
                        { "start_period", "--healthcheck-start-period" },
                };
                const json_t *flags = json_object_get(ins, "flags");
                _cleanup_free_ char *test = NULL;

                if (json_is_true(json_object_get(ins, "none")))
                        return strv_push(args, "--healthcheck", "NONE");
                if (streq_ptr(jstr(ins, "form"), "shell"))
                        test = strjoin("CMD-SHELL ", strempty(json_string_value(json_array_get(
                                                             json_object_get(ins, "args"), 0))));
                else {
                        _cleanup_strv_free_ char **l = NULL;
                        _cleanup_free_ char *joined = NULL;

                        json_array_foreach (json_object_get(ins, "args"), i, v) {
                                r = strv_extend(&l, strempty(json_string_value(v)));
                                if (r < 0)
                                        return r;
                        }
                        joined = strv_join(l, " ");
                        test = joined ? strjoin("CMD ", joined) : NULL;
                }
                if (!test)
                        return -ENOMEM;
                r = strv_push(args, "--healthcheck", test);
                for (size_t k = 0; r >= 0 && k < ELEMENTSOF(opts); k++)
                        if (jstr(flags, opts[k].key))
                                r = strv_push(args, opts[k].flag, jstr(flags, opts[k].key));
                if (r >= 0 && json_object_get(flags, "retries")) {
                        const json_t *rv = json_object_get(flags, "retries");
                        char buf[32];

                        if (json_is_integer(rv))
                                snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT,
                                         json_integer_value(rv));
                        else
                                snprintf(buf, sizeof buf, "%s", strempty(json_string_value(rv)));
                        r = strv_push(args, "--healthcheck-retries", buf);
                }
                return r;
        }
        if (streq(cmd, "ONBUILD")) {
                const char *orig = jstr(json_object_get(ins, "trigger"), "original");

                if (!orig)
                        return -EINVAL;
                return strv_push(args, "--onbuild", orig);
        }
        if (streq(cmd, "ARG"))
                return 0;
        return -EOPNOTSUPP;
}

static int mount_opt(char **s, const char *key, const char *value) {
        if (!value)
                return 0;
        return strextend_real(s, ",", key, "=", value, NULL);
}

int build_mount_arg(const json_t *mount, const char *context, const char *from_image, char **ret,
                    char **ret_error) {
        _cleanup_free_ char *s = NULL, *src = NULL;
        const char *type = jstr(mount, "type") ?: "bind";
        const json_t *ro = json_object_get(mount, "readonly");
        char num[32];
        int r;

        assert(ret);

        if (streq(type, "secret") || streq(type, "ssh")) {
                if (ret_error)
                        *ret_error = strjoin("RUN --mount=type=", type,
                                             " is not supported: builds carry no secrets or SSH "
                                             "agents");
                return -EOPNOTSUPP;
        }
        if (!streq(type, "bind") && !streq(type, "cache") && !streq(type, "tmpfs")) {
                if (ret_error)
                        *ret_error = strjoin("RUN --mount=type=", type, " is unknown");
                return -EOPNOTSUPP;
        }
        if (!jstr(mount, "target")) {
                if (ret_error)
                        *ret_error = strdup("RUN --mount needs a target");
                return -EINVAL;
        }
        s = strjoin("type=", type);
        if (!s)
                return -ENOMEM;
        r = mount_opt(&s, "target", jstr(mount, "target"));
        if (r < 0)
                return r;

        if (streq(type, "bind")) {
                const char *source = jstr(mount, "source") ?: ".";

                if (from_image) {
                        r = mount_opt(&s, "from", from_image);
                        if (r >= 0)
                                r = mount_opt(&s, "src", source);
                } else {
                        /* Without from= the source is a path in the build context. */
                        while (*source == '/')
                                source++;
                        if (!isempty(source) && !path_is_safe_relative(source) &&
                            !streq(source, ".")) {
                                if (ret_error)
                                        *ret_error = strjoin("RUN --mount source '", source,
                                                             "' leaves the build context");
                                return -EPERM;
                        }
                        src = path_join(context, isempty(source) ? "." : source);
                        if (!src)
                                return -ENOMEM;
                        r = mount_opt(&s, "src", src);
                }
                /* Docker's bind mounts are read-only unless rw is asked for. */
                if (r >= 0 && !(ro && json_is_false(ro)))
                        r = strextend_real(&s, ",ro", NULL);
                else if (r >= 0)
                        r = strextend_real(&s, ",rw", NULL);
        } else if (streq(type, "cache")) {
                r = mount_opt(&s, "id", jstr(mount, "id"));
                if (r >= 0)
                        r = mount_opt(&s, "sharing", jstr(mount, "sharing"));
                if (r >= 0 && from_image)
                        r = mount_opt(&s, "from", from_image);
                if (r >= 0 && jstr(mount, "source"))
                        r = mount_opt(&s, "src", jstr(mount, "source"));
                if (r >= 0 && json_is_true(ro))
                        r = strextend_real(&s, ",ro", NULL);
        } else { /* tmpfs */
                const json_t *size = json_object_get(mount, "size");

                if (json_is_integer(size)) {
                        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT,
                                 json_integer_value(size));
                        r = mount_opt(&s, "tmpfs-size", num);
                } else
                        r = mount_opt(&s, "tmpfs-size", json_string_value(size));
        }
        if (r < 0)
                return r;

        for (const char *const *k = (const char *const[]){ "mode", "uid", "gid", NULL }; *k; k++) {
                const json_t *v = json_object_get(mount, *k);

                if (streq(type, "tmpfs") && !streq(*k, "mode"))
                        continue;
                if (json_is_integer(v)) {
                        /* A numeric mode is the value; buildah reads it in octal. */
                        if (streq(*k, "mode"))
                                snprintf(num, sizeof num, "%04llo",
                                         (unsigned long long) json_integer_value(v));
                        else
                                snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT,
                                         json_integer_value(v));
                        r = mount_opt(&s, *k, num);
                } else
                        r = mount_opt(&s, *k, json_string_value(v));
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(s);
        return 0;
}

/* ---- stages ---------------------------------------------------------------------------- */

typedef struct Stage {
        const json_t *plan_stage;
        int index; /* the stage's index in the Dockerfile */
        char *container; /* working container, once created */
        const char *image; /* what the container starts from: an image id or "scratch" */
        char **shell;
        char *workdir;
        bool cmd_set;
        bool workdir_missing; /* WORKDIR named a directory nothing has created yet */
        json_t *vars; /* ARGs and ENVs, for heredocs with expansion */
        char **pending; /* buildah config arguments not yet applied */
} Stage;

static void stage_done(Stage *s) {
        free(s->container);
        strv_free(s->shell);
        free(s->workdir);
        json_decref(s->vars);
        strv_free(s->pending);
}

static bool is_loopback_host(const char *host) {
        return streq(host, "localhost") || startswith(host, "localhost:") ||
               startswith(host, "127.") || startswith(host, "[::1]");
}

/* --tls-verify=false for loopback registries and the insecure ones the request names. */
static bool registry_is_insecure(BuildJob *j, const char *ref) {
        _cleanup_(image_ref_freep) ImageRef *r = NULL;

        if (image_ref_parse(ref, &r, NULL) < 0)
                return false;
        if (is_loopback_host(r->domain))
                return true;
        return strv_contains(j->req->insecure_registries, r->domain);
}

static int remember_container(BuildJob *j, const char *name) {
        return strv_extend(&j->containers, name);
}

static void forget_container(BuildJob *j, const char *name) {
        size_t n = strv_length(j->containers), k = 0;

        for (size_t i = 0; i < n; i++) {
                if (streq(j->containers[i], name))
                        free(j->containers[i]);
                else
                        j->containers[k++] = j->containers[i];
        }
        if (j->containers)
                j->containers[k] = NULL;
}

/* The id of the base image, pulled when it is not in the store yet (Docker's "missing"
 * policy: a tag already present is not checked against the registry again). */
static int resolve_base(BuildJob *j, const json_t *ps, int stage, char **ret_id) {
        const json_t *bs = json_object_get(ps, "base_stage");
        const char *base = jstr(ps, "base"), *platform = jstr(ps, "platform") ?: j->req->platform;
        _cleanup_strv_free_ char **args = NULL;
        _cleanup_free_ char *out = NULL, *id = NULL;
        const char *found;
        int r;

        if (json_is_integer(bs)) {
                char key[32];

                snprintf(key, sizeof key, "%" JSON_INTEGER_FORMAT, json_integer_value(bs));
                found = json_string_value(json_object_get(j->stage_images, key));
                if (!found)
                        return fail(j, stage, -1, jint(ps, "line"),
                                    "stage %s was not built before stage %d", key, stage);
                *ret_id = strdup(found);
                return *ret_id ? 0 : -ENOMEM;
        }
        if (!base)
                return fail(j, stage, -1, jint(ps, "line"), "stage %d has no base image", stage);
        if (streq(base, "scratch")) {
                *ret_id = strdup("scratch");
                return *ret_id ? 0 : -ENOMEM;
        }
        found = build_image_list_find(j->images, base);
        if (found) {
                *ret_id = strdup(found);
                return *ret_id ? 0 : -ENOMEM;
        }

        r = strv_push(&args, "pull", "--quiet");
        if (r >= 0 && platform)
                r = strv_push(&args, "--platform", platform);
        if (r >= 0 && registry_is_insecure(j, base))
                r = strv_extend(&args, "--tls-verify=false");
        if (r >= 0)
                r = strv_extend(&args, base);
        if (r < 0)
                return r;
        log_info("Pulling '%s'", base);
        r = buildah_ok(j, args, NULL, RUN_QUIET, &out);
        if (r == -ECANCELED)
                return r;
        if (r < 0)
                return fail(j, stage, -1, jint(ps, "line"), "pulling '%s' failed: %s", base,
                            j->last_error ?: strerror(-r));
        id = last_line(out);
        if (isempty(id))
                return fail(j, stage, -1, jint(ps, "line"), "pulling '%s' gave no image id", base);
        {
                _cleanup_free_ char *norm = NULL;

                (void) image_ref_normalize(base, &norm, NULL);
                r = build_image_list_add(j->images, id, norm ?: base);
                if (r < 0)
                        return r;
        }
        *ret_id = startswith(id, "sha256:") ? TAKE_PTR(id) : strjoin("sha256:", id);
        return *ret_id ? 0 : -ENOMEM;
}

static json_t *key_view(const json_t *ins) {
        json_t *c = json_deep_copy(ins);

        /* Moving an instruction to another line must not invalidate the cache. */
        if (c) {
                json_object_del(c, "line");
                json_object_del(c, "end_line");
        }
        return c;
}

static const char *stage_image_of(BuildJob *j, const json_t *from_stage) {
        char key[32];

        if (!json_is_integer(from_stage))
                return NULL;
        snprintf(key, sizeof key, "%" JSON_INTEGER_FORMAT, json_integer_value(from_stage));
        return json_string_value(json_object_get(j->stage_images, key));
}

/* What besides the instruction itself decides a step's result: the context files COPY/ADD and
 * bind mounts read, the image of a --from stage. */
static int step_extra(BuildJob *j, const json_t *ins, char **ret) {
        const json_t *flags = json_object_get(ins, "flags");
        _cleanup_free_ char *s = NULL;
        char hex[65];
        int r;

        if (cmd_is(ins, "COPY") || cmd_is(ins, "ADD")) {
                const char *from = jstr(flags, "from");

                if (from) {
                        const char *img = stage_image_of(j, json_object_get(ins, "from_stage"));

                        s = strjoin("from:", img ?: from);
                } else {
                        r = build_context_hash(j->req->context, j->ignore,
                                               json_object_get(ins, "sources"), hex);
                        if (r < 0)
                                return r;
                        s = strjoin("context:", hex);
                }
                if (!s)
                        return -ENOMEM;
        } else if (cmd_is(ins, "RUN")) {
                const json_t *mounts = json_object_get(flags, "mount"), *m;
                size_t i;

                json_array_foreach (mounts, i, m) {
                        const char *type = jstr(m, "type") ?: "bind";
                        const char *img = stage_image_of(j, json_object_get(m, "from_stage"));

                        if (img)
                                r = strextend(&s, "mount-from:", img, ";");
                        else if (streq(type, "bind") && !jstr(m, "from")) {
                                _cleanup_(json_decrefp) json_t *src =
                                        json_pack("[s]", jstr(m, "source") ?: ".");

                                if (!src)
                                        return -ENOMEM;
                                r = build_context_hash(j->req->context, j->ignore, src, hex);
                                if (r >= 0)
                                        r = strextend(&s, "mount-context:", hex, ";");
                        } else
                                r = 0;
                        if (r < 0)
                                return r;
                }
        }
        *ret = TAKE_PTR(s);
        return 0;
}

static int compute_keys(BuildJob *j, const json_t *instructions, const char *base_id,
                        const char *platform, char (*keys)[65], size_t *ret_failed) {
        const json_t *ins;
        char prev[65];
        size_t i;
        int r;

        r = build_cache_base_key(base_id, platform, prev);
        if (r < 0)
                return r;
        json_array_foreach (instructions, i, ins) {
                _cleanup_(json_decrefp) json_t *view = key_view(ins);
                _cleanup_free_ char *extra = NULL;

                if (!view)
                        return -ENOMEM;
                r = step_extra(j, ins, &extra);
                if (r < 0) {
                        *ret_failed = i;
                        return r;
                }
                r = build_cache_key(prev, view, json_object_get(ins, "build_env"), extra, keys[i]);
                if (r < 0)
                        return r;
                memcpy(prev, keys[i], sizeof prev);
        }
        return 0;
}

static int set_var(Stage *s, const char *name, const char *value) {
        return json_object_set_new(s->vars, name, json_string(value ?: "")) < 0 ? -ENOMEM : 0;
}

/* What an instruction changes in what later instructions see: SHELL, WORKDIR, variables, whether
 * CMD was set. Applied to cached steps too. */
static int stage_track(BuildJob *j, Stage *s, const json_t *ins) {
        const json_t *v;
        size_t i;
        int r;

        if (cmd_is(ins, "SHELL")) {
                _cleanup_strv_free_ char **l = NULL;

                json_array_foreach (json_object_get(ins, "args"), i, v) {
                        r = strv_extend(&l, strempty(json_string_value(v)));
                        if (r < 0)
                                return r;
                }
                strv_free(s->shell);
                s->shell = TAKE_PTR(l);
        } else if (cmd_is(ins, "WORKDIR")) {
                const char *w = strempty(jstr(ins, "value"));
                char *n = path_is_absolute(w) ? strdup(w)
                                              : path_join(s->workdir ?: "/", isempty(w) ? "." : w);

                if (!n)
                        return -ENOMEM;
                path_simplify(n);
                free_and_replace(s->workdir, n);
        } else if (cmd_is(ins, "CMD"))
                s->cmd_set = true;
        else if (cmd_is(ins, "ENV")) {
                json_array_foreach (json_object_get(ins, "pairs"), i, v) {
                        r = set_var(s, json_string_value(json_array_get(v, 0)),
                                    json_string_value(json_array_get(v, 1)));
                        if (r < 0)
                                return r;
                }
        } else if (cmd_is(ins, "ARG")) {
                const char *name = jstr(ins, "name");
                const char *val = json_string_value(json_object_get(j->req->build_args, name));

                if (name && !json_object_get(s->vars, name))
                        return set_var(s, name, val ?: jstr(ins, "default"));
        }
        return 0;
}

static int container_name(BuildJob *j, int stage, char **ret) {
        return asprintf(ret, CONTAINER_PREFIX "%s-%d", j->req->build_id, stage) < 0 ? -ENOMEM : 0;
}

static int stage_container(BuildJob *j, Stage *s) {
        _cleanup_strv_free_ char **args = NULL;
        _cleanup_free_ char *name = NULL;
        const char *platform = jstr(s->plan_stage, "platform") ?: j->req->platform;
        int r;

        if (s->container)
                return 0;
        r = container_name(j, s->index, &name);
        if (r < 0)
                return r;
        r = strv_push(&args, "from", "--quiet");
        if (r >= 0)
                r = strv_push(&args, "--name", name);
        if (r >= 0 && !streq(s->image, "scratch"))
                r = strv_extend(&args, "--pull=never");
        if (r >= 0 && platform)
                r = strv_push(&args, "--platform", platform);
        if (r >= 0)
                r = strv_extend(&args, s->image);
        if (r < 0)
                return r;
        r = buildah_ok(j, args, NULL, RUN_QUIET, NULL);
        if (r == -EPROTO && j->last_error && strstr(j->last_error, "already in use")) {
                /* A leftover of a killed run of the same build id. */
                (void) buildah(j, (char *[]){ (char *) "rm", name, NULL }, NULL, RUN_QUIET, NULL);
                r = buildah_ok(j, args, NULL, RUN_QUIET, NULL);
        }
        if (r == -ECANCELED)
                return r;
        if (r < 0)
                return fail(j, s->index, -1, jint(s->plan_stage, "line"),
                            "creating the working container of stage %d failed: %s", s->index,
                            j->last_error ?: strerror(-r));
        r = remember_container(j, name);
        if (r < 0)
                return r;
        s->container = TAKE_PTR(name);
        return 0;
}

static int flush_config(BuildJob *j, Stage *s, int index, int line) {
        _cleanup_strv_free_ char **args = NULL;
        int r;

        if (strv_length(s->pending) == 0)
                return 0;
        r = strv_extend(&args, "config");
        for (char **a = s->pending; r >= 0 && *a; a++)
                r = strv_extend(&args, *a);
        if (r >= 0)
                r = strv_extend(&args, s->container);
        if (r < 0)
                return r;
        r = buildah_ok(j, args, NULL, RUN_QUIET, NULL);
        if (r == -ECANCELED)
                return r;
        if (r < 0)
                return fail(j, s->index, index, line, "buildah config failed: %s",
                            j->last_error ?: strerror(-r));
        s->pending = strv_free(s->pending);
        return 0;
}

/* Writes a heredoc body to a new file under work_dir and returns its path. */
static int write_heredoc(BuildJob *j, Stage *s, const json_t *hd, mode_t mode, char **ret_path) {
        const char *name = jstr(hd, "name") ?: "heredoc", *content = jstr(hd, "content") ?: "";
        _cleanup_free_ char *dir = NULL, *path = NULL, *expanded = NULL, *err = NULL;
        char seq[32];
        int r;

        if (json_is_true(json_object_get(hd, "expand"))) {
                r = zl_dockerfile_expand(content, s->vars, '\\', &expanded, &err);
                if (r < 0)
                        return r;
                content = expanded;
        }
        snprintf(seq, sizeof seq, "%u", j->heredoc_seq++);
        dir = path_join(j->req->work_dir, "heredocs", seq);
        if (!dir)
                return -ENOMEM;
        r = mkdir_p(dir, 0700);
        if (r < 0)
                return r;
        if (!path_is_safe_relative(name) || strchr(name, '/'))
                name = "heredoc";
        path = path_join(dir, name);
        if (!path)
                return -ENOMEM;
        r = write_file_atomic(path, content, strlen(content), mode);
        if (r < 0)
                return r;
        *ret_path = TAKE_PTR(path);
        return 0;
}

static const json_t *find_heredoc(const json_t *ins, const char *name) {
        const json_t *hd;
        size_t i;

        json_array_foreach (json_object_get(ins, "heredocs"), i, hd)
                if (streq_ptr(jstr(hd, "name"), name))
                        return hd;
        return NULL;
}

/* "<<EOF", "<<-EOF", "<<'EOF'", "<<\"EOF\"" alone on the command line: the body is the script. */
static bool is_bare_heredoc(const char *cmdline) {
        const char *p = cmdline;

        while (*p == ' ' || *p == '\t')
                p++;
        if (!startswith(p, "<<"))
                return false;
        p += 2;
        if (*p == '-')
                p++;
        p += strspn(p, "'\"");
        p += strcspn(p, " \t'\"");
        p += strspn(p, "'\"");
        p += strspn(p, " \t\n");
        return *p == '\0';
}

/* The arguments of `buildah run` for a RUN up to the container name, and the command. */
static int run_prepare(BuildJob *j, Stage *s, const json_t *ins, int index, char ***ret_args,
                       char ***ret_cmd) {
        const json_t *flags = json_object_get(ins, "flags"), *args_j = json_object_get(ins, "args");
        const json_t *heredocs = json_object_get(ins, "heredocs"), *v;
        _cleanup_strv_free_ char **args = NULL, **cmd = NULL;
        const char *network = jstr(flags, "network"), *key;
        int line = jint(ins, "line"), r;
        size_t i;

        r = strv_push(&args, "run", "--isolation");
        if (r >= 0)
                r = strv_extend(&args, j->req->isolation);
        /* chroot isolation always shares the host's network: "default" and "host" are what it
         * does; "none" needs isolation oci. */
        if (network && !streq(network, "default") && !streq(network, "host")) {
                if (streq(j->req->isolation, "chroot"))
                        return fail(j, s->index, index, line,
                                    "RUN --network=%s is not possible with chroot isolation, which "
                                    "shares the host's network",
                                    network);
                if (r >= 0)
                        r = strv_push(&args, "--network", network);
        }
        json_object_foreach ((json_t *) json_object_get(ins, "build_env"), key, v) {
                _cleanup_free_ char *kv = strjoin(key, "=", strempty(json_string_value(v)));

                r = kv ? strv_push(&args, "--env", kv) : -ENOMEM;
                if (r < 0)
                        return r;
        }
        /* Config changes not yet applied to the container that a command sees: applying them
         * costs a buildah call, so they are flags of this run and reach the container at the
         * next commit. buildah run creates the working directory. */
        for (char **p = s->pending; r >= 0 && p && p[0] && p[1]; p += 2)
                if (streq(p[0], "--env") || streq(p[0], "--user") || streq(p[0], "--workingdir"))
                        r = strv_push(&args, p[0], p[1]);
        if (r < 0)
                return r;
        json_array_foreach (json_object_get(flags, "mount"), i, v) {
                _cleanup_free_ char *m = NULL, *err = NULL;
                const char *from =
                        stage_image_of(j, json_object_get(v, "from_stage")) ?: jstr(v, "from");

                r = build_mount_arg(v, j->req->context, from, &m, &err);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return fail(j, s->index, index, line, "%s",
                                    err ?: "RUN --mount is not supported");
                r = strv_push(&args, "--mount", m);
                if (r < 0)
                        return r;
        }

        if (streq_ptr(jstr(ins, "form"), "shell")) {
                const char *text = strempty(json_string_value(json_array_get(args_j, 0)));
                _cleanup_free_ char *full = NULL;

                if (json_array_size(heredocs) == 1 && is_bare_heredoc(text)) {
                        const json_t *hd = json_array_get(heredocs, 0);
                        const char *body = strempty(jstr(hd, "content"));

                        if (startswith(body, "#!")) {
                                /* A script with its own interpreter runs as a file. */
                                _cleanup_free_ char *path = NULL, *vol = NULL, *inside = NULL;
                                char seq[32];

                                r = write_heredoc(j, s, hd, 0755, &path);
                                if (r < 0)
                                        return r;
                                snprintf(seq, sizeof seq, "%u", j->heredoc_seq);
                                inside = strjoin("/run/zlb-heredoc-", seq);
                                vol = inside ? strjoin(path, ":", inside, ":ro") : NULL;
                                if (!vol)
                                        return -ENOMEM;
                                r = strv_push(&args, "--volume", vol);
                                if (r >= 0)
                                        r = strv_extend(&cmd, inside);
                                if (r < 0)
                                        return r;
                        } else
                                full = strdup(body);
                } else {
                        /* The shell reads the here-documents itself, as it would in a script. */
                        full = strdup(text);
                        json_array_foreach (heredocs, i, v) {
                                const char *body = strempty(jstr(v, "content"));

                                r = strextend(&full, "\n", body,
                                              isempty(body) || endswith(body, "\n") ? "" : "\n",
                                              strempty(jstr(v, "name")));
                                if (r < 0)
                                        return r;
                        }
                }
                if (!cmd) {
                        if (!full)
                                return -ENOMEM;
                        for (char **sh = s->shell; *sh; sh++) {
                                r = strv_extend(&cmd, *sh);
                                if (r < 0)
                                        return r;
                        }
                        r = strv_extend(&cmd, full);
                        if (r < 0)
                                return r;
                }
        } else
                json_array_foreach (args_j, i, v) {
                        r = strv_extend(&cmd, strempty(json_string_value(v)));
                        if (r < 0)
                                return r;
                }
        if (strv_length(cmd) == 0)
                return fail(j, s->index, index, line, "RUN has no command");
        *ret_args = TAKE_PTR(args);
        *ret_cmd = TAKE_PTR(cmd);
        return 0;
}

static bool strv_equal(char *const *a, char *const *b) {
        for (; a && b && *a && *b; a++, b++)
                if (!streq(*a, *b))
                        return false;
        return (!a || !*a) == (!b || !*b);
}

/* Whether a RUN may share a `buildah run` with the RUNs next to it: shell form through
 * /bin/sh (so the wrapper's shell is one the command needs anyway), nothing that differs per
 * RUN besides the command (mounts, --network, a here-document script mounted as a file). */
static bool run_foldable(const Stage *s, const json_t *ins) {
        const json_t *flags = json_object_get(ins, "flags"), *heredocs;
        const char *text;

        if (!cmd_is(ins, "RUN") || !streq_ptr(jstr(ins, "form"), "shell"))
                return false;
        if (json_array_size(json_object_get(flags, "mount")) > 0 || jstr(flags, "network"))
                return false;
        if (strv_length(s->shell) != 2 || !streq(s->shell[0], "/bin/sh") ||
            !streq(s->shell[1], "-c"))
                return false;
        heredocs = json_object_get(ins, "heredocs");
        text = strempty(json_string_value(json_array_get(json_object_get(ins, "args"), 0)));
        return !(json_array_size(heredocs) == 1 && is_bare_heredoc(text) &&
                 startswith(strempty(jstr(json_array_get(heredocs, 0), "content")), "#!"));
}

/* Appends s to *script in single quotes. */
static int shell_quote_append(char **script, const char *s) {
        int r = strextend(script, " '");

        for (const char *p = s; r >= 0 && *p; p++) {
                size_t k = strcspn(p, "'");

                if (k > 0) {
                        _cleanup_free_ char *part = strndup(p, k);

                        r = part ? strextend(script, part) : -ENOMEM;
                        p += k;
                        if (!*p || r < 0)
                                break;
                }
                r = strextend(script, "'\\''");
        }
        return r < 0 ? r : strextend(script, "'");
}

static int run_exec(BuildJob *j, Stage *s, char ***args, char *const *cmd, int index, int line) {
        int r;

        r = strv_push(args, s->container, "--");
        for (char *const *c = cmd; r >= 0 && *c; c++)
                r = strv_extend(args, *c);
        if (r < 0)
                return r;
        r = buildah(j, *args, NULL, RUN_EVENTS, NULL);
        if (r < 0)
                return r == -ECANCELED
                               ? r
                               : fail(j, s->index, index, line, "RUN failed: %s", strerror(-r));
        if (r > 0)
                return fail(j, s->index, index, line, "RUN exited with status %d", r);
        s->workdir_missing = false;
        return 0;
}

/* Runs the RUN at instructions[first] and, when fold is true (nothing is committed between
 * steps), the RUNs right after it that can share its `buildah run`: setting up the container's
 * root and namespaces costs most of a short RUN's time. Each command still runs as a process
 * of its own, in order, stopping at the first failure, and every instruction is still its own
 * pair of events with its own output (see Fold). *ret_last: the last instruction run. */
static int run_steps(BuildJob *j, Stage *s, const json_t *instructions, size_t first, bool fold,
                     size_t *ret_last) {
        const json_t *ins = json_array_get(instructions, first);
        _cleanup_strv_free_ char **args = NULL, **cmd = NULL;
        _cleanup_free_ char *script = NULL;
        size_t count = 1, n = json_array_size(instructions);
        uint8_t nonce[16];
        Fold f = {};
        int line = jint(ins, "line"), r;

        *ret_last = first;
        r = run_prepare(j, s, ins, (int) first, &args, &cmd);
        if (r < 0)
                return r;
        if (!fold || !run_foldable(s, ins) || first + 1 >= n ||
            !run_foldable(s, json_array_get(instructions, first + 1)))
                return run_exec(j, s, &args, cmd, (int) first, line);

        if (getrandom(nonce, sizeof nonce, 0) != (ssize_t) sizeof nonce)
                return run_exec(j, s, &args, cmd, (int) first, line);
        strcpy(f.marker, "zlb-fold-");
        for (size_t k = 0; k < sizeof nonce; k++)
                sprintf(f.marker + strlen(f.marker), "%02x", nonce[k]);
        strcat(f.marker, ":");

        /* (exec ...) in a subshell: a command that is a shell builtin's name runs as the
         * program, as it would under buildah run; `|| exit` stops at the first failure with
         * its status. */
        r = strextend(&script, "(exec");
        for (char **c = cmd; r >= 0 && *c; c++)
                r = shell_quote_append(&script, *c);
        if (r >= 0)
                r = strextend(&script, ") || exit $?\n");
        for (size_t k = first + 1; r >= 0 && k < n; k++) {
                const json_t *next = json_array_get(instructions, k);
                _cleanup_strv_free_ char **a = NULL, **c = NULL;
                char step[32];

                if (!run_foldable(s, next))
                        break;
                r = run_prepare(j, s, next, (int) k, &a, &c);
                if (r < 0)
                        return r;
                if (!strv_equal(a, args))
                        break;
                snprintf(step, sizeof step, "%zu", count);
                r = strextend(&script, "printf '\\n%s\\n' '", f.marker, step,
                              "'; printf '\\n%s\\n' '", f.marker, step, "' >&2; (exec");
                for (char **x = c; r >= 0 && *x; x++)
                        r = shell_quote_append(&script, *x);
                if (r >= 0)
                        r = strextend(&script, ") || exit $?\n");
                count++;
        }
        if (r < 0)
                return r;
        if (count == 1)
                return run_exec(j, s, &args, cmd, (int) first, line);

        r = strv_push(&args, s->container, "--");
        if (r >= 0)
                r = strv_push(&args, "/bin/sh", "-c");
        if (r >= 0)
                r = strv_extend(&args, script);
        if (r < 0)
                return r;
        f.instructions = instructions;
        f.stage = s->index;
        f.first = first;
        f.n = count;
        j->fold = &f;
        r = buildah(j, args, NULL, RUN_FOLDED, NULL);
        if (r != -ECANCELED)
                fold_finish(j, &f);
        j->fold = NULL;
        fold_done(&f);
        ins = json_array_get(instructions, first + f.shown);
        line = jint(ins, "line");
        if (r < 0)
                return r == -ECANCELED ? r
                                       : fail(j, s->index, (int) (first + f.shown), line,
                                              "RUN failed: %s", strerror(-r));
        if (r > 0)
                return fail(j, s->index, (int) (first + f.shown), line, "RUN exited with status %d",
                            r);
        if (f.shown + 1 != count)
                return fail(j, s->index, (int) (first + f.shown), line,
                            "RUN ended the shell that runs the RUNs after it");
        s->workdir_missing = false;
        *ret_last = first + count - 1;
        return 0;
}

static int copy_step(BuildJob *j, Stage *s, const json_t *ins, int index) {
        const json_t *flags = json_object_get(ins, "flags"), *v;
        const char *from = jstr(flags, "from"), *dest = strempty(jstr(ins, "dest"));
        _cleanup_strv_free_ char **common = NULL, **plain = NULL, **docs = NULL;
        _cleanup_free_ char *dest_abs = NULL;
        int line = jint(ins, "line"), r = 0;
        bool add = cmd_is(ins, "ADD");
        size_t i;

        json_array_foreach (json_object_get(ins, "sources"), i, v) {
                const char *src = strempty(json_string_value(v));

                if (startswith(src, "<<")) {
                        const json_t *hd = find_heredoc(ins, src + 2);
                        _cleanup_free_ char *path = NULL;

                        if (!hd)
                                return fail(j, s->index, index, line, "%s: no here-document '%s'",
                                            add ? "ADD" : "COPY", src + 2);
                        r = write_heredoc(j, s, hd, 0644, &path);
                        if (r < 0)
                                return r;
                        r = strv_consume(&docs, TAKE_PTR(path));
                } else if (from || startswith(src, "http://") || startswith(src, "https://"))
                        r = strv_extend(&plain, src);
                else
                        /* buildah wants context sources as absolute paths inside --contextdir;
                         * it refuses those that leave it. A trailing '/' is kept. */
                        r = strv_consume(&plain, path_join(j->req->context, src));
                if (r < 0)
                        return r;
        }
        /* A relative destination is inside WORKDIR. With no WORKDIR in this stage buildah
         * resolves it against the base image's, which the container's config still holds. */
        if (!path_is_absolute(dest) && s->workdir) {
                dest_abs = streq(dest, ".") || streq(dest, "./") ? strdup(s->workdir)
                                                                 : path_join(s->workdir, dest);
                if (!dest_abs)
                        return -ENOMEM;
                if ((endswith(dest, "/") || streq(dest, ".")) && !endswith(dest_abs, "/")) {
                        r = strextend(&dest_abs, "/");
                        if (r < 0)
                                return r;
                }
                /* Copying creates the destination with its parents, WORKDIR among them. */
                s->workdir_missing = false;
        }
        if (dest_abs)
                dest = dest_abs;
        else if (s->workdir && path_startswith(dest, s->workdir))
                /* COPY x /app/src/ after WORKDIR /app creates /app too. */
                s->workdir_missing = false;
        r = strv_push(&common, add ? "add" : "copy", "--quiet");
        if (r >= 0 && jstr(flags, "chown"))
                r = strv_push(&common, "--chown", jstr(flags, "chown"));
        if (r >= 0 && jstr(flags, "chmod"))
                r = strv_push(&common, "--chmod", jstr(flags, "chmod"));
        if (r < 0)
                return r;

        for (int pass = 0; pass < 2; pass++) {
                _cleanup_strv_free_ char **args = NULL;
                char **srcs = pass == 0 ? plain : docs;

                if (strv_length(srcs) == 0)
                        continue;
                for (char **a = common; r >= 0 && *a; a++)
                        r = strv_extend(&args, *a);
                if (r >= 0 && pass == 0 && from) {
                        const char *img = stage_image_of(j, json_object_get(ins, "from_stage"));

                        r = strv_push(&args, "--from", img ?: from);
                } else if (r >= 0 && pass == 0) {
                        r = strv_push(&args, "--contextdir", j->req->context);
                        if (r >= 0 && j->ignore_file)
                                r = strv_push(&args, "--ignorefile", j->ignore_file);
                }
                if (r >= 0)
                        r = strv_extend(&args, s->container);
                for (char **a = srcs; r >= 0 && *a; a++)
                        r = strv_extend(&args, *a);
                if (r >= 0)
                        r = strv_extend(&args, dest);
                if (r < 0)
                        return r;
                r = buildah(j, args, pass == 0 && !from ? j->req->context : NULL, RUN_EVENTS, NULL);
                if (r == -ECANCELED)
                        return r;
                if (r != 0)
                        return fail(j, s->index, index, line, "%s failed: %s", add ? "ADD" : "COPY",
                                    j->last_error ?: (r < 0 ? strerror(-r) : "buildah failed"));
        }
        return 0;
}

static int workdir_step(Stage *s) {
        int r;

        r = strv_push(&s->pending, "--workingdir", s->workdir);
        if (r < 0)
                return r;
        /* Created by the next RUN or relative COPY, else before the commit. */
        s->workdir_missing = true;
        return 0;
}

/* mkdir -p of path inside root, resolving every component inside root: a symlink in the image
 * cannot point the creation outside it. */
static int mkdir_in_root(const char *root, const char *path) {
        _cleanup_close_ int rfd = -EBADF;
        _cleanup_free_ char *prefix = NULL;
        const char *p = path;
        int r;

        rfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (rfd < 0)
                return -errno;
        while (*p) {
                size_t len;
                _cleanup_close_ int parent = -EBADF;
                _cleanup_free_ char *name = NULL;
                struct open_how how = {
                        .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
                        .resolve = RESOLVE_IN_ROOT,
                };

                p += strspn(p, "/");
                len = strcspn(p, "/");
                if (len == 0)
                        break;
                name = strndup(p, len);
                if (!name)
                        return -ENOMEM;
                parent = (int) syscall(SYS_openat2, rfd, isempty(prefix) ? "." : prefix, &how,
                                       sizeof how);
                if (parent < 0)
                        return -errno;
                if (mkdirat(parent, name, 0755) < 0 && errno != EEXIST)
                        return -errno;
                r = strextend(&prefix, isempty(prefix) ? "" : "/", name);
                if (r < 0)
                        return r;
                p += len;
        }
        return 0;
}

static int ensure_workdir(BuildJob *j, Stage *s, int index, int line) {
        _cleanup_free_ char *out = NULL, *root = NULL;
        int r;

        if (!s->workdir_missing)
                return 0;
        r = buildah_ok(j, (char *[]){ (char *) "mount", s->container, NULL }, NULL, RUN_QUIET,
                       &out);
        if (r == -ECANCELED)
                return r;
        if (r < 0)
                return fail(j, s->index, index, line, "mounting the working container failed: %s",
                            j->last_error ?: strerror(-r));
        root = last_line(out);
        if (!root)
                return -ENOMEM;
        r = mkdir_in_root(root, s->workdir);
        if (r < 0)
                return fail(j, s->index, index, line, "WORKDIR: creating '%s' failed: %s",
                            s->workdir, strerror(-r));
        s->workdir_missing = false;
        return 0;
}

/* The first tag, normalized, or NULL: the reference the OCI layout names. */
static int first_tag(BuildJob *j, char **ret) {
        _cleanup_free_ char *norm = NULL;

        if (!j->req->tags || !j->req->tags[0]) {
                *ret = NULL;
                return 0;
        }
        (void) image_ref_normalize(j->req->tags[0], &norm, NULL);
        *ret = norm ? TAKE_PTR(norm) : strdup(j->req->tags[0]);
        return *ret ? 0 : -ENOMEM;
}

/* Where the final commit writes the OCI layout: work_dir/oci naming the first tag, or, with a
 * layout cache, a directory beside the cache that write_layout() renames into it once the
 * image id is known. */
static int final_layout_dest(BuildJob *j, char **ret_dir, char **ret_ref) {
        _cleanup_free_ char *dir = NULL, *ref = NULL;
        int r;

        if (j->req->oci_cache) {
                r = mkdir_p(j->req->oci_cache, 0700);
                if (r < 0)
                        return fail(j, -1, -1, -1, "cannot create '%s': %s", j->req->oci_cache,
                                    strerror(-r));
                dir = strjoin(j->req->oci_cache, "/", j->req->build_id, ".commit.tmp");
        } else {
                dir = path_join(j->req->work_dir, "oci");
                if (dir) {
                        r = first_tag(j, &ref);
                        if (r < 0)
                                return r;
                }
        }
        if (!dir)
                return -ENOMEM;
        /* A leftover of a killed run of the same build id. */
        (void) rm_rf(dir);
        *ret_dir = TAKE_PTR(dir);
        *ret_ref = TAKE_PTR(ref);
        return 0;
}

/* Commits the stage as localhost/zlayer-cache:<key>. With final (the build's last stage), the
 * OCI layout zl-runtimed imports is written at the same time by a second `buildah commit`
 * into an oci: layout, instead of exported from the stored image afterwards: both read the
 * container, neither changes it, so they run side by side. */
static int commit(BuildJob *j, Stage *s, const char *key, bool remove, bool final, int index,
                  int line, char **ret_id) {
        _cleanup_free_ char *name = strjoin(BUILD_CACHE_REPO ":", key), *out = NULL, *id = NULL;
        _cleanup_free_ char *layout = NULL, *ref = NULL, *dest = NULL;
        _cleanup_strv_free_ char **args = NULL;
        pid_t oci_pid = 0;
        int r, k;

        if (!name)
                return -ENOMEM;
        r = ensure_workdir(j, s, index, line);
        if (r >= 0)
                r = flush_config(j, s, index, line);
        if (r < 0)
                return r;
        if (final) {
                r = final_layout_dest(j, &layout, &ref);
                if (r < 0)
                        return r;
                dest = strjoin("oci:", layout, ref ? ":" : "", strempty(ref));
                if (!dest)
                        return -ENOMEM;
                r = buildah_start(j,
                                  (char *[]){ (char *) "commit", (char *) "--quiet",
                                              (char *) "--format", (char *) "oci", s->container,
                                              dest, NULL },
                                  &oci_pid);
                if (r < 0)
                        return r == -ECANCELED
                                       ? r
                                       : fail(j, s->index, index, line,
                                              "writing the OCI layout failed: %s", strerror(-r));
                /* The container is removed when the layout is written too (finish_image()). */
                remove = false;
        }
        r = strv_push(&args, "commit", "--quiet");
        if (r >= 0)
                r = strv_push(&args, "--format", "oci");
        if (r >= 0 && remove)
                r = strv_extend(&args, "--rm");
        if (r >= 0)
                r = strv_push(&args, s->container, name);
        if (r >= 0)
                r = buildah_ok(j, args, NULL, RUN_QUIET, &out);
        if (oci_pid > 0) {
                if (r < 0)
                        stop_child(oci_pid);
                k = r < 0 ? 0 : buildah_wait(j, oci_pid);
                if (r < 0 || k != 0)
                        (void) rm_rf(layout);
                if (k == -ECANCELED)
                        return k;
                if (k != 0 && r >= 0)
                        return fail(j, s->index, index, line,
                                    "writing the OCI layout '%s' failed: %s", layout,
                                    k < 0 ? strerror(-k) : "buildah commit failed (see the log)");
        }
        if (r == -ECANCELED)
                return r;
        if (r < 0)
                return fail(j, s->index, index, line, "committing stage %d failed: %s", s->index,
                            j->last_error ?: strerror(-r));
        if (remove) {
                forget_container(j, s->container);
                s->container = mfree(s->container);
        }
        id = last_line(out);
        if (isempty(id))
                return fail(j, s->index, index, line, "buildah commit gave no image id");
        r = build_image_list_add(j->images, id, name);
        if (r < 0)
                return r;
        if (final)
                free_and_replace(j->final_layout, layout);
        *ret_id = startswith(id, "sha256:") ? TAKE_PTR(id) : strjoin("sha256:", id);
        return *ret_id ? 0 : -ENOMEM;
}

static int build_stage(BuildJob *j, const json_t *ps, bool final) {
        const json_t *instructions = json_object_get(ps, "instructions"), *ins;
        const char *platform = jstr(ps, "platform") ?: j->req->platform;
        size_t n = json_array_size(instructions), i;
        _cleanup_free_ char *base_id = NULL, *image_id = NULL;
        _cleanup_free_ char(*keys)[65] = NULL;
        Stage s = { .plan_stage = ps, .index = jint(ps, "index") };
        /* A no_cache build commits once per stage, as `buildah bud` without --layers does: the
         * stage's image is still its last step's cache entry, so an unchanged rebuild finds it,
         * but nothing finds the steps before it. */
        bool step_commits = j->req->step_commits && !j->req->no_cache;
        const char *cached_image = NULL;
        ssize_t cached_upto = -1;
        size_t failed = 0;
        char key[32];
        int r;

        emit(j, "stage_started",
             json_pack("{s:i,s:o,s:s}", "index", s.index, "name",
                       jstr(ps, "name") ? json_string(jstr(ps, "name")) : json_null(), "base_image",
                       strempty(jstr(ps, "base"))));

        s.vars = json_object();
        r = s.vars ? strv_push(&s.shell, "/bin/sh", "-c") : -ENOMEM;
        if (r < 0)
                goto finish;
        r = resolve_base(j, ps, s.index, &base_id);
        if (r < 0)
                goto finish;

        keys = calloc(MAX(n, 1u), sizeof *keys);
        if (!keys) {
                r = -ENOMEM;
                goto finish;
        }
        r = compute_keys(j, instructions, base_id, platform, keys, &failed);
        if (r < 0) {
                const json_t *bad = json_array_get(instructions, failed);
                const char *cmd = strempty(jstr(bad, "cmd"));

                /* The context is read before anything runs: a missing source fails the build
                 * at once, tied to its instruction. */
                r = bad ? fail(j, s.index, (int) failed, jint(bad, "line"), "%s: %s", cmd,
                               r == -ENOENT  ? "a source does not exist in the build context"
                               : r == -EPERM ? "a source is outside the build context"
                                             : strerror(-r))
                        : r;
                goto finish;
        }
        /* The longest prefix of this stage the cache already holds. */
        if (!j->req->no_cache)
                for (ssize_t k = (ssize_t) n - 1; k >= 0; k--) {
                        const json_t *x = json_array_get(instructions, (size_t) k);

                        if (!cmd_commits(x) && k != (ssize_t) n - 1)
                                continue;
                        cached_image = build_image_list_find_cache(j->images, keys[k]);
                        if (cached_image) {
                                cached_upto = k;
                                break;
                        }
                }
        s.image = cached_image ?: base_id;

        json_array_foreach (instructions, i, ins) {
                int line = jint(ins, "line");
                bool cached = (ssize_t) i <= cached_upto;

                emit(j, "instruction_started",
                     json_pack("{s:i,s:i,s:s,s:i}", "stage", s.index, "index", (int) i,
                               "instruction", strempty(jstr(ins, "original")), "line", line));
                r = stage_track(j, &s, ins);
                if (r < 0)
                        goto finish;
                if (!cached) {
                        r = stage_container(j, &s);
                        if (r < 0)
                                goto finish;
                        if (cmd_is(ins, "RUN")) {
                                size_t last;

                                r = run_steps(j, &s, instructions, i, !step_commits, &last);
                                if (r >= 0 && last != i) {
                                        i = last;
                                        ins = json_array_get(instructions, i);
                                        line = jint(ins, "line");
                                }
                        } else if (cmd_is(ins, "COPY") || cmd_is(ins, "ADD"))
                                r = copy_step(j, &s, ins, (int) i);
                        else if (cmd_is(ins, "WORKDIR"))
                                r = workdir_step(&s);
                        else {
                                r = build_config_args(ins, s.shell, s.cmd_set, &s.pending);
                                if (r == -EOPNOTSUPP)
                                        r = fail(j, s.index, (int) i, line,
                                                 "%s is not supported by the executor",
                                                 strempty(jstr(ins, "cmd")));
                        }
                        if (r < 0)
                                goto finish;
                        if (cmd_commits(ins) && step_commits && i + 1 < n) {
                                _cleanup_free_ char *id = NULL;

                                r = commit(j, &s, keys[i], false, false, (int) i, line, &id);
                                if (r < 0)
                                        goto finish;
                        }
                }
                emit(j, "instruction_complete",
                     json_pack("{s:i,s:i,s:b}", "stage", s.index, "index", (int) i, "cached",
                               cached));
        }

        if (n > 0 && cached_upto == (ssize_t) n - 1)
                image_id = strdup(cached_image);
        else if (n == 0 && !streq(base_id, "scratch"))
                image_id = strdup(base_id);
        else {
                char empty_key[65];

                if (n == 0) {
                        r = build_cache_base_key(base_id, platform, empty_key);
                        if (r < 0)
                                goto finish;
                        r = stage_container(j, &s);
                        if (r < 0)
                                goto finish;
                }
                r = commit(j, &s, n > 0 ? keys[n - 1] : empty_key, true, final, -1,
                           jint(ps, "line"), &image_id);
                if (r < 0)
                        goto finish;
        }
        if (!image_id) {
                r = -ENOMEM;
                goto finish;
        }
        snprintf(key, sizeof key, "%d", s.index);
        if (json_object_set_new(j->stage_images, key, json_string(image_id)) < 0) {
                r = -ENOMEM;
                goto finish;
        }
        emit(j, "stage_complete", json_pack("{s:i}", "index", s.index));
        r = 0;
finish:
        stage_done(&s);
        return r;
}

/* ---- the job --------------------------------------------------------------------------- */

int build_job_new(const BuildRequest *req, FILE *events, int signal_fd, BuildJob **ret) {
        _cleanup_(build_job_freep) BuildJob *j = NULL;

        assert(req);
        assert(ret);

        j = calloc(1, sizeof *j);
        if (!j)
                return -ENOMEM;
        j->req = req;
        j->events = events;
        j->signal_fd = signal_fd;
        j->stage_images = json_object();
        if (!j->stage_images)
                return -ENOMEM;
        *ret = TAKE_PTR(j);
        return 0;
}

BuildJob *build_job_free(BuildJob *j) {
        if (!j)
                return NULL;
        free(j->buildah);
        free(j->last_error);
        build_image_list_free(j->images);
        strv_free(j->ignore);
        free(j->ignore_file);
        json_decref(j->stage_images);
        strv_free(j->containers);
        free(j->final_layout);
        return mfree(j);
}

/* "path size mtime inode" of the buildah binary: a version check is valid as long as this is
 * the same. */
static char *buildah_identity(const char *path) {
        struct stat st;
        char *s = NULL;

        if (stat(path, &st) < 0)
                return NULL;
        if (asprintf(&s, "%s %jd %jd.%09ld %ju\n", path, (intmax_t) st.st_size,
                     (intmax_t) st.st_mtim.tv_sec, st.st_mtim.tv_nsec, (uintmax_t) st.st_ino) < 0)
                return NULL;
        return s;
}

static int check_buildah(BuildJob *j) {
        _cleanup_free_ char *out = NULL, *stamp = NULL, *identity = NULL, *seen = NULL;
        int r;

        if (j->buildah)
                return 0;
        r = find_in_path("buildah", &j->buildah);
        if (r == -ENOENT)
                return fail(j, -1, -1, -1, "buildah is not installed: apt-get install buildah");
        if (r < 0)
                return r;

        /* Starting buildah costs 0.1-0.3 s: the verdict is kept in the run root (a tmpfs that a
         * reboot clears) for as long as the binary is the same file. */
        if (j->req->storage_runroot) {
                stamp = path_join(j->req->storage_runroot, "zlayer-buildah-checked");
                identity = buildah_identity(j->buildah);
                if (stamp && identity && read_full_file(stamp, 4096, &seen, NULL) >= 0 &&
                    streq(seen, identity))
                        return 0;
        }
        r = buildah_ok(j, (char *[]){ (char *) "--version", NULL }, NULL, RUN_QUIET, &out);
        if (r == -ECANCELED)
                return r;
        if (r < 0)
                return fail(j, -1, -1, -1, "'%s --version' failed: %s", j->buildah,
                            j->last_error ?: strerror(-r));
        if (!build_buildah_version_ok(out)) {
                _cleanup_free_ char *line = last_line(out);
                return fail(j, -1, -1, -1, "buildah 1.23 or newer is needed, found '%s'",
                            strna(line));
        }
        if (stamp && identity && mkdir_p(j->req->storage_runroot, 0700) >= 0)
                (void) write_string_file_atomic(stamp, identity, 0644);
        return 0;
}

static int list_images(BuildJob *j) {
        _cleanup_free_ char *out = NULL;
        int r;

        r = buildah_ok(
                j, (char *[]){ (char *) "images", (char *) "--json", (char *) "--no-trunc", NULL },
                NULL, RUN_QUIET, &out);
        if (r == -ECANCELED)
                return r;
        if (r < 0)
                return fail(j, -1, -1, -1, "listing the images in buildah's storage failed: %s",
                            j->last_error ?: strerror(-r));
        build_image_list_free(j->images);
        j->images = NULL;
        r = build_image_list_parse(out, &j->images);
        if (r < 0)
                return fail(j, -1, -1, -1, "cannot read buildah's image list: %s", strerror(-r));
        return 0;
}

int build_job_remove_containers(BuildJob *j) {
        _cleanup_free_ char *out = NULL, *prefix = NULL;
        _cleanup_(json_decrefp) json_t *l = NULL;
        const json_t *c;
        size_t i;
        int r, n = 0;

        if (!j->buildah) {
                r = find_in_path("buildah", &j->buildah);
                if (r < 0)
                        return r;
        }
        /* Called after a cancellation too: the signal that stopped the build must not stop the
         * clean-up. A second one still does. */
        j->cancelled = false;
        (void) signal_pending(j);
        j->cancelled = false;
        /* Also ours from an earlier, killed run of the same build: listed, not remembered. */
        r = buildah_ok(j, (char *[]){ (char *) "containers", (char *) "--json", NULL }, NULL,
                       RUN_QUIET, &out);
        if (r < 0)
                return r;
        prefix = strjoin(CONTAINER_PREFIX, j->req->build_id, "-");
        if (!prefix)
                return -ENOMEM;
        l = json_loads(out, 0, NULL);
        json_array_foreach (l, i, c) {
                const char *name = jstr(c, "containername");

                if (!name || !startswith(name, prefix))
                        continue;
                r = buildah(j, (char *[]){ (char *) "rm", (char *) name, NULL }, NULL, RUN_QUIET,
                            NULL);
                if (r == 0)
                        n++;
                forget_container(j, name);
        }
        return n;
}

static int remove_own_containers(BuildJob *j) {
        int n = 0;

        while (strv_length(j->containers) > 0) {
                _cleanup_free_ char *name = strdup(j->containers[0]);

                if (!name)
                        return -ENOMEM;
                if (buildah(j, (char *[]){ (char *) "rm", name, NULL }, NULL, RUN_QUIET, NULL) == 0)
                        n++;
                forget_container(j, name);
        }
        return n;
}

int build_job_prune_cache(BuildJob *j, uint64_t max_bytes, uint64_t max_age_sec) {
        _cleanup_strv_free_ char **ids = NULL, **args = NULL;
        int r;

        if (!j->buildah) {
                r = find_in_path("buildah", &j->buildah);
                if (r < 0)
                        return r;
        }
        if (!j->images) {
                r = list_images(j);
                if (r < 0)
                        return r;
        }
        r = build_cache_select_prune(j->images, max_bytes ?: UINT64_MAX, max_age_sec,
                                     (int64_t) time(NULL), &ids);
        if (r < 0 || strv_length(ids) == 0)
                return r;
        r = strv_extend(&args, "rmi");
        for (char **id = ids; r >= 0 && *id; id++)
                r = strv_extend(&args, *id);
        if (r < 0)
                return r;
        /* An image still used by a container or a newer cache image stays; not an error. */
        r = buildah(j, args, NULL, RUN_QUIET, NULL);
        if (r < 0)
                return r;
        return (int) strv_length(ids);
}

static int count_instructions(const json_t *plan) {
        const json_t *st;
        size_t i;
        int n = 0;

        json_array_foreach (json_object_get(plan, "stages"), i, st)
                n += (int) json_array_size(json_object_get(st, "instructions"));
        return n;
}

static int copy_file_fd(int from_dir, const char *name, int to_dir) {
        _cleanup_close_ int in = -EBADF, out = -EBADF;
        struct stat st;

        in = openat(from_dir, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (in < 0)
                return -errno;
        if (fstat(in, &st) < 0)
                return -errno;
        out = openat(to_dir, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (out < 0)
                return -errno;
        for (off_t left = st.st_size; left > 0;) {
                ssize_t k = copy_file_range(in, NULL, out, NULL, (size_t) MIN(left, 1 << 30), 0);

                if (k < 0)
                        return -errno;
                if (k == 0)
                        return -EIO;
                left -= k;
        }
        return 0;
}

/* Hard-links the blobs of the layout in src into dst (copies across file systems) and writes
 * dst's index.json naming ref (none when NULL). Blobs are named by their digest and never
 * change, so sharing them is safe. */
static int link_layout(const char *src, const char *dst, const char *ref) {
        _cleanup_free_ char *sblobs = path_join(src, "blobs", "sha256");
        _cleanup_free_ char *dblobs = path_join(dst, "blobs", "sha256");
        _cleanup_free_ char *sindex = path_join(src, "index.json");
        _cleanup_free_ char *dindex = path_join(dst, "index.json");
        _cleanup_free_ char *dlayout = path_join(dst, "oci-layout");
        _cleanup_free_ char *text = NULL;
        _cleanup_(json_decrefp) json_t *index = NULL;
        _cleanup_close_ int sfd = -EBADF, dfd = -EBADF;
        json_t *m, *ann;
        DIR *d;
        struct dirent *de;
        size_t i;
        int r = 0;

        if (!sblobs || !dblobs || !sindex || !dindex || !dlayout)
                return -ENOMEM;
        r = mkdir_p(dblobs, 0755);
        if (r < 0)
                return r;
        sfd = open(sblobs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        dfd = open(dblobs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (sfd < 0 || dfd < 0)
                return -errno;
        d = fdopendir(fcntl(sfd, F_DUPFD_CLOEXEC, 3));
        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                if (linkat(sfd, de->d_name, dfd, de->d_name, 0) == 0 || errno == EEXIST)
                        continue;
                if (errno != EXDEV && errno != EPERM) {
                        r = -errno;
                        break;
                }
                r = copy_file_fd(sfd, de->d_name, dfd);
                if (r < 0)
                        break;
        }
        closedir(d);
        if (r < 0)
                return r;

        index = json_load_file(sindex, 0, NULL);
        if (!json_is_object(index))
                return -EBADMSG;
        json_array_foreach (json_object_get(index, "manifests"), i, m) {
                ann = json_object_get(m, "annotations");
                if (!ann) {
                        ann = json_object();
                        if (!ann || json_object_set_new(m, "annotations", ann) < 0)
                                return -ENOMEM;
                }
                if (ref)
                        r = json_object_set_new(ann, "org.opencontainers.image.ref.name",
                                                json_string(ref));
                else {
                        /* Absent is as good as removed. */
                        (void) json_object_del(ann, "org.opencontainers.image.ref.name");
                        r = 0;
                }
                if (r < 0)
                        return -ENOMEM;
        }
        text = json_dumps(index, JSON_COMPACT);
        if (!text)
                return -ENOMEM;
        r = write_string_file_atomic(dindex, text, 0644);
        if (r < 0)
                return r;
        return write_string_file_atomic(dlayout, "{\"imageLayoutVersion\":\"1.0.0\"}", 0644);
}

static int export_layout(BuildJob *j, const char *image_id, const char *dir, const char *ref) {
        _cleanup_free_ char *dest = strjoin("oci:", dir, ref ? ":" : "", strempty(ref));
        int r;

        if (!dest)
                return -ENOMEM;
        /* Uncompressed layers: the layout is read once, locally, by ImportImage; gzip would
         * only cost time. */
        r = buildah_ok(j,
                       (char *[]){ (char *) "push", (char *) "--quiet",
                                   (char *) "--disable-compression", (char *) image_id, dest,
                                   NULL },
                       NULL, RUN_QUIET, NULL);
        if (r == -ECANCELED)
                return r;
        if (r < 0)
                return fail(j, -1, -1, -1, "writing the OCI layout '%s' failed: %s", dir,
                            j->last_error ?: strerror(-r));
        return 0;
}

/* The OCI layout of the final image in work_dir/oci: from the layout cache when it holds this
 * image, else exported by buildah (into the cache first when there is one). */
static int write_layout(BuildJob *j, const char *image_id, const char *ref, const char *oci) {
        _cleanup_free_ char *cached = NULL, *index = NULL, *tmp = NULL;
        const char *hex = startswith(image_id, "sha256:") ?: image_id;
        int r;

        if (!j->req->oci_cache)
                /* The final commit wrote it in place (final_layout_dest()). */
                return j->final_layout ? 0 : export_layout(j, image_id, oci, ref);

        cached = path_join(j->req->oci_cache, hex);
        index = cached ? path_join(cached, "index.json") : NULL;
        tmp = cached ? strjoin(cached, ".", j->req->build_id, ".tmp") : NULL;
        if (!index || !tmp)
                return -ENOMEM;
        if (j->final_layout) {
                /* Complete: the commit that wrote it has exited 0. An equal layout already in
                 * the cache is kept. */
                if (access(index, F_OK) >= 0 || (rename(j->final_layout, cached) < 0 &&
                                                 (errno == ENOTEMPTY || errno == EEXIST)))
                        (void) rm_rf(j->final_layout);
                else if (access(index, F_OK) < 0)
                        return fail(j, -1, -1, -1, "cannot move the layout to '%s': %m", cached);
        } else if (access(index, F_OK) < 0) {
                r = mkdir_p(j->req->oci_cache, 0700);
                if (r < 0)
                        return fail(j, -1, -1, -1, "cannot create '%s': %s", j->req->oci_cache,
                                    strerror(-r));
                /* Written aside and renamed: a half-written layout of a killed job must not
                 * be taken for a whole one. */
                r = export_layout(j, image_id, tmp, NULL);
                if (r < 0)
                        return r;
                if (rename(tmp, cached) < 0 && errno != ENOTEMPTY && errno != EEXIST)
                        return fail(j, -1, -1, -1, "cannot move the layout to '%s': %m", cached);
        }
        r = link_layout(cached, oci, ref);
        if (r < 0)
                return fail(j, -1, -1, -1, "writing the OCI layout '%s' failed: %s", oci,
                            strerror(-r));
        return 0;
}

static bool tags_point_at(BuildJob *j, const json_t *tags, const char *image_id) {
        const json_t *t;
        size_t i;

        json_array_foreach (tags, i, t) {
                const char *id = build_image_list_find(j->images, json_string_value(t));

                if (!id || !streq(id, image_id))
                        return false;
        }
        return true;
}

static int finish_image(BuildJob *j, const char *image_id) {
        const BuildRequest *q = j->req;
        _cleanup_free_ char *oci = NULL;
        pid_t tag_pid = 0, rm_pid = 0;
        _cleanup_(json_decrefp) json_t *tags = json_array();
        int r;

        if (!tags)
                return -ENOMEM;
        for (char **t = q->tags; t && *t; t++) {
                _cleanup_free_ char *norm = NULL;

                (void) image_ref_normalize(*t, &norm, NULL);
                if (json_array_append_new(tags, json_string(norm ?: *t)) < 0)
                        return -ENOMEM;
        }
        /* A rebuild that changed nothing finds its tags in place already. Tagging and writing
         * the layout only read the image: they run side by side. */
        if (json_array_size(tags) > 0 && !tags_point_at(j, tags, image_id)) {
                _cleanup_strv_free_ char **args = NULL;

                r = strv_push(&args, "tag", image_id);
                for (char **t = q->tags; r >= 0 && *t; t++)
                        r = strv_extend(&args, *t);
                if (r < 0)
                        return r;
                r = buildah_start(j, args, &tag_pid);
                if (r < 0)
                        return r == -ECANCELED ? r
                                               : fail(j, -1, -1, -1, "tagging the image failed: %s",
                                                      strerror(-r));
        }
        /* The working container the final commit left (see commit()) goes meanwhile; one that
         * stays is removed after the build as usual. */
        if (j->final_layout && strv_length(j->containers) > 0) {
                _cleanup_strv_free_ char **args = NULL;

                r = strv_extend(&args, "rm");
                for (char **c = j->containers; r >= 0 && *c; c++)
                        r = strv_extend(&args, *c);
                if (r >= 0 && buildah_start(j, args, &rm_pid) < 0)
                        rm_pid = 0;
        }

        oci = path_join(q->work_dir, "oci");
        if (!oci)
                r = -ENOMEM;
        else
                r = write_layout(j, image_id, json_string_value(json_array_get(tags, 0)), oci);
        if (rm_pid > 0 && buildah_wait(j, rm_pid) == 0)
                j->containers = strv_free(j->containers);
        if (tag_pid > 0) {
                int k;

                if (r < 0)
                        stop_child(tag_pid);
                k = r < 0 ? 0 : buildah_wait(j, tag_pid);
                if (k == -ECANCELED)
                        return k;
                if (k != 0 && r >= 0)
                        return fail(j, -1, -1, -1, "tagging the image failed: %s",
                                    k < 0 ? strerror(-k) : "buildah tag failed (see the log)");
        }
        if (r < 0)
                return r;

        if (q->push)
                for (char **t = q->tags; t && *t; t++) {
                        _cleanup_free_ char *ref = strjoin("docker://", *t);
                        _cleanup_strv_free_ char **args = NULL;

                        if (!ref)
                                return -ENOMEM;
                        r = strv_push(&args, "push", "--quiet");
                        if (r >= 0 && registry_is_insecure(j, *t))
                                r = strv_extend(&args, "--tls-verify=false");
                        if (r >= 0)
                                r = strv_push(&args, image_id, ref);
                        if (r < 0)
                                return r;
                        log_info("Pushing '%s'", *t);
                        r = buildah_ok(j, args, NULL, RUN_QUIET, NULL);
                        if (r == -ECANCELED)
                                return r;
                        if (r < 0)
                                return fail(j, -1, -1, -1, "pushing '%s' failed: %s", *t,
                                            j->last_error ?: strerror(-r));
                }

        emit(j, "image_ready",
             json_pack("{s:s,s:s,s:O}", "image_id", image_id, "oci_dir", oci, "tags", tags));
        return 0;
}

static int run_plan(BuildJob *j, const json_t *plan_in) {
        _cleanup_(json_decrefp) json_t *plan = NULL;
        _cleanup_free_ char *runtime = NULL;
        const json_t *stages, *st, *last;
        const char *final;
        char key[32];
        size_t i;
        int r;

        r = check_buildah(j);
        if (r < 0)
                return r;
        if (j->req->registries_conf &&
            setenv("CONTAINERS_REGISTRIES_CONF", j->req->registries_conf, 1) < 0)
                return -errno;
        r = mkdir_p(j->req->work_dir, 0700);
        if (r < 0)
                return fail(j, -1, -1, -1, "cannot create the work directory '%s': %s",
                            j->req->work_dir, strerror(-r));

        if (plan_in)
                plan = json_incref((json_t *) plan_in);
        else {
                r = make_plan(j, &plan, &runtime);
                if (r < 0)
                        return r;
        }
        stages = json_object_get(plan, "stages");
        if (json_array_size(stages) == 0)
                return fail(j, -1, -1, -1, "the Dockerfile has no stage to build");

        r = build_ignore_load(j->req->context, &j->ignore, &j->ignore_file);
        if (r < 0)
                return fail(j, -1, -1, -1, "cannot read the .dockerignore of '%s': %s",
                            j->req->context, strerror(-r));
        r = list_images(j);
        if (r < 0)
                return r;

        {
                json_t *d = json_pack("{s:i,s:i}", "total_stages", (int) json_array_size(stages),
                                      "total_instructions", count_instructions(plan));

                if (d && runtime)
                        json_object_set_new(d, "runtime", json_string(runtime));
                emit(j, "build_started", d);
        }

        json_array_foreach (stages, i, st) {
                r = build_stage(j, st, i + 1 == json_array_size(stages));
                if (r < 0)
                        return r;
        }

        last = json_array_get(stages, json_array_size(stages) - 1);
        snprintf(key, sizeof key, "%d", jint(last, "index"));
        final = json_string_value(json_object_get(j->stage_images, key));
        if (!final)
                return fail(j, -1, -1, -1, "the final stage produced no image");
        return finish_image(j, final);
}

int build_job_run(BuildJob *j, const json_t *plan) {
        int r;

        assert(j);

        r = run_plan(j, plan);
        if (r == -ECANCELED || j->cancelled)
                return -ECANCELED;
        if (r < 0 && !j->failed)
                (void) fail(j, -1, -1, -1, "the build failed: %s", strerror(-r));
        (void) remove_own_containers(j);
        if (r >= 0 && (j->req->prune_max_bytes > 0 || j->req->prune_max_age_sec > 0)) {
                int k = build_job_prune_cache(j, j->req->prune_max_bytes,
                                              j->req->prune_max_age_sec);
                if (k < 0)
                        (void) log_warning_errno(k, "Pruning the build cache failed: %m, ignoring");
                else if (k > 0)
                        log_info("Pruned %d cache images", k);
        }
        return r < 0 ? (j->cancelled ? -ECANCELED : r) : 0;
}
