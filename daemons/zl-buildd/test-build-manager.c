/* SPDX-License-Identifier: Apache-2.0 */
/* test-build-manager.c: configuration, checks of a build request, and builds run by a fake
 * zl-build-job (a shell script speaking the job protocol): events, log, failure, cancel,
 * concurrency, restart and history. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build-manager.h"
#include "fileio.h"
#include "log.h"
#include "path-util.h"
#include "string-util.h"
#include "tests.h"

static unsigned counter;

static char *tmp_path(const char *name) {
        char *p = NULL;

        ASSERT_TRUE(asprintf(&p, "%s/%s-%u", test_tmpdir(), name, counter++) > 0);
        return p;
}

static void write_file(const char *dir, const char *name, const char *contents) {
        _cleanup_free_ char *p = path_join(dir, name);

        ASSERT_NOT_NULL(p);
        ASSERT_OK(write_string_file_atomic(p, contents, 0755));
}

/* The fake job: reads the request, then acts as the file "mode" in the context says. */
static const char fake_job[] =
        "#!/bin/sh\n"
        "if [ \"$1\" = --cleanup ]; then echo \"$2\" >> \"$(dirname \"$0\")/cleanups\"; exit 0; "
        "fi\n"
        "req=$(cat)\n"
        "ctx=$(printf '%s' \"$req\" | sed 's/.*\"context\":\"\\([^\"]*\\)\".*/\\1/')\n"
        "wd=$(printf '%s' \"$req\" | sed 's/.*\"work_dir\":\"\\([^\"]*\\)\".*/\\1/')\n"
        "printf '%s\\n' \"$req\" > \"$ctx/request-seen\"\n"
        "mode=$(cat \"$ctx/mode\" 2>/dev/null)\n"
        "e() { printf '{\"event\":\"%s\",\"data\":%s}\\n' \"$1\" \"$2\"; }\n"
        "e build_started '{\"total_stages\":1,\"total_instructions\":2}'\n"
        "e stage_started '{\"index\":0,\"name\":null,\"base_image\":\"busybox\"}'\n"
        "e instruction_started '{\"stage\":0,\"index\":0,\"instruction\":\"COPY . /app\","
        "\"line\":2}'\n"
        "e instruction_complete '{\"stage\":0,\"index\":0,\"cached\":true}'\n"
        "e instruction_started '{\"stage\":0,\"index\":1,\"instruction\":\"RUN make\","
        "\"line\":3}'\n"
        "printf '{\"event\":\"output\",\"data\":{\"line\":\"compiling\",\"is_stderr\":false}}'\n"
        "sleep 0.1\n"
        "printf '\\n'\n"
        "echo 'a diagnostic' >&2\n"
        "case \"$mode\" in\n"
        "fail) e build_failed '{\"error\":\"RUN exited with status 2\",\"stage\":0,"
        "\"index\":1,\"line\":3}'; exit 1;;\n"
        "crash) exit 3;;\n"
        "hang) trap 'echo stopping >&2; exit 130' TERM; while :; do sleep 0.05; done;;\n"
        "esac\n"
        "e instruction_complete '{\"stage\":0,\"index\":1,\"cached\":false}'\n"
        "e stage_complete '{\"index\":0}'\n"
        "mkdir -p \"$wd/oci\"\n"
        "e image_ready \"{\\\"image_id\\\":\\\"sha256:abc\\\",\\\"oci_dir\\\":\\\"$wd/oci\\\","
        "\\\"tags\\\":[]}\"\n"
        "exit 0\n";

typedef struct Recorder {
        char *events; /* "name name ..." */
        unsigned changed;
        unsigned imports;
        int import_result; /* 0: finish at once with sha256:imported */
        Build *import_pending;
} Recorder;

static void on_progress(BuildManager *m, Build *b, const char *event, const char *json,
                        void *userdata) {
        Recorder *rec = userdata;

        (void) m, (void) b;
        ASSERT_NOT_NULL(json);
        ASSERT_TRUE(json[0] == '{');
        ASSERT_OK(strextend(&rec->events, isempty(rec->events) ? "" : " ", event));
}

static void on_changed(BuildManager *m, Build *b, void *userdata) {
        Recorder *rec = userdata;

        (void) m, (void) b;
        rec->changed++;
}

static int on_import(BuildManager *m, Build *b, const char *oci_dir, void *userdata) {
        Recorder *rec = userdata;

        (void) m;
        ASSERT_NOT_NULL(oci_dir);
        ASSERT_TRUE(access(oci_dir, F_OK) == 0);
        rec->imports++;
        if (rec->import_result < 0)
                return rec->import_result;
        rec->import_pending = b;
        return 0;
}

static const BuildManagerCallbacks callbacks = {
        .progress = on_progress,
        .changed = on_changed,
        .import = on_import,
};

typedef struct Env {
        sd_event *event;
        char *state, *job, *context;
        BuildManager *m;
        Recorder rec;
} Env;

static void env_start(Env *e, unsigned max_concurrent) {
        BuildConfig c;

        ASSERT_OK(build_config_init(&c, e->state, NULL));
        c.max_concurrent_builds = max_concurrent;
        ASSERT_OK(build_manager_new(e->event, &c, e->job, &callbacks, &e->rec, &e->m));
        build_config_done(&c);
        ASSERT_OK(build_manager_start(e->m));
}

static void env_init(Env *e, unsigned max_concurrent) {
        sigset_t mask;

        /* sd-event watches children through SIGCHLD, which must be blocked. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        ASSERT_OK(sigprocmask(SIG_BLOCK, &mask, NULL));
        *e = (Env){};
        ASSERT_OK(sd_event_new(&e->event));
        e->state = tmp_path("state");
        e->context = tmp_path("ctx");
        ASSERT_OK(mkdir_p(e->context, 0755));
        write_file(e->context, "Dockerfile", "FROM busybox\nCOPY . /app\nRUN make\n");
        e->job = path_join(e->context, "zl-build-job");
        write_file(e->context, "zl-build-job", fake_job);
        env_start(e, max_concurrent);
}

static void env_done(Env *e) {
        build_manager_free(e->m);
        sd_event_unref(e->event);
        free(e->state);
        free(e->job);
        free(e->context);
        free(e->rec.events);
}

/* Runs the loop until b has ended (or the import is asked for). */
static void run_until_final(Env *e, Build *b) {
        usec_t deadline = now(CLOCK_MONOTONIC) + 20 * USEC_PER_SEC;

        while (!build_state_is_final(b->state) && !e->rec.import_pending) {
                ASSERT_LT(now(CLOCK_MONOTONIC), deadline);
                ASSERT_TRUE(sd_event_run(e->event, 100 * USEC_PER_MSEC) >= 0);
        }
}

static Build *submit(Env *e, const char *mode) {
        BuildOptions o = {};
        Build *b = NULL;
        char *error = NULL;

        write_file(e->context, "mode", mode);
        o.tags = NULL;
        ASSERT_OK(strv_extend(&o.tags, "app:1"));
        ASSERT_OK(strv_extend(&o.tags, "localhost:5000/app"));
        ASSERT_OK(build_manager_submit(e->m, e->context, &o, &b, &error));
        ASSERT_NULL(error);
        ASSERT_NULL(o.tags);
        ASSERT_EQ(b->state, BUILD_PENDING);
        return b;
}

static char *read_log(Build *b) {
        _cleanup_close_ int fd = build_open_log(b);
        char *data = NULL;

        ASSERT_TRUE(fd >= 0);
        ASSERT_OK(read_full_fd(fd, 1 << 20, &data, NULL));
        return data;
}

static bool exists(const char *p) {
        return access(p, F_OK) == 0;
}

TEST(state_strings) {
        for (BuildState s = 0; s < _BUILD_STATE_MAX; s++)
                ASSERT_EQ(build_state_from_string(build_state_to_string(s)), s);
        ASSERT_EQ(build_state_from_string("done"), _BUILD_STATE_INVALID);
        ASSERT_EQ(build_state_from_string(NULL), _BUILD_STATE_INVALID);
        ASSERT_NULL(build_state_to_string(_BUILD_STATE_MAX));
        ASSERT_TRUE(build_state_is_final(BUILD_CANCELLED));
        ASSERT_FALSE(build_state_is_final(BUILD_RUNNING));
}

TEST(config) {
        _cleanup_free_ char *dir = tmp_path("conf"), *path = NULL, *why = NULL;
        BuildConfig c;

        ASSERT_OK(mkdir_p(dir, 0755));
        ASSERT_OK(build_config_init(&c, NULL, NULL));
        ASSERT_STREQ(c.state_dir, "/var/lib/zlayer/build");
        ASSERT_STREQ(c.storage_runroot, "/run/zlayer/build/storage");
        ASSERT_NULL(c.storage_root);
        ASSERT_STREQ(c.storage_driver, "overlay");
        ASSERT_STREQ(c.isolation, "chroot");
        ASSERT_EQ(c.max_concurrent_builds, 2u);
        ASSERT_EQ(c.history_max, 100u);

        path = path_join(dir, "buildd.conf");
        ASSERT_OK(write_string_file_atomic(path,
                                           "# comment\n"
                                           "state_dir = /srv/build\n"
                                           "max_concurrent_builds = 4\n"
                                           "storage_root = /srv/build/storage\n"
                                           "storage_driver = vfs\n"
                                           "insecure_registries = a:5000 b.example\n"
                                           "history_max = 7\n"
                                           "history_max_age = 2d\n",
                                           0644));
        ASSERT_OK(build_config_load(&c, path, &why));
        ASSERT_STREQ(c.state_dir, "/srv/build");
        ASSERT_EQ(c.max_concurrent_builds, 4u);
        ASSERT_STREQ(c.storage_root, "/srv/build/storage");
        ASSERT_STREQ(c.storage_driver, "vfs");
        ASSERT_EQ(strv_length(c.insecure_registries), 2u);
        ASSERT_STREQ(c.insecure_registries[1], "b.example");
        ASSERT_EQ(c.history_max, 7u);
        ASSERT_U64_EQ(c.history_max_age, 2 * USEC_PER_DAY);

        static const char *const bad[][2] = {
                { "max_concurrent_builds = 0\n", "not a number from 1 to 64" },
                { "state_dir = relative\n", "not a normalized absolute path" },
                { "storage_driver = btrfs\n", "not 'overlay' or 'vfs'" },
                { "history_max_age = soon\n", "not a duration" },
                { "colour = blue\n", "unknown key" },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                why = mfree(why);
                ASSERT_OK(write_string_file_atomic(path, bad[i][0], 0644));
                ASSERT_ERROR(build_config_load(&c, path, &why), EINVAL);
                ASSERT_NOT_NULL(why);
                ASSERT_NOT_NULL(strstr(why, bad[i][1]));
                ASSERT_NOT_NULL(strstr(why, "buildd.conf:1:"));
        }
        ASSERT_ERROR(build_config_load(&c, "/nonexistent/buildd.conf", NULL), ENOENT);
        build_config_done(&c);
}

static void expect_rejected(Env *e, const char *context, BuildOptions *o, int err,
                            const char *needle) {
        _cleanup_free_ char *error = NULL;
        Build *b = NULL;
        size_t before = build_manager_count(e->m);

        ASSERT_ERROR(build_manager_submit(e->m, context, o, &b, &error), err);
        ASSERT_NULL(b);
        ASSERT_NOT_NULL(error);
        if (!strstr(error, needle))
                log_error("'%s' not in '%s'", needle, error);
        ASSERT_NOT_NULL(strstr(error, needle));
        ASSERT_EQ(build_manager_count(e->m), before);
        build_options_done(o);
}

TEST(submit_checks) {
        _cleanup_free_ char *file = NULL;
        BuildOptions o = {};
        Env e;

        env_init(&e, 2);
        expect_rejected(&e, "ctx", &o, EINVAL, "context: 'ctx' is not an absolute path");
        expect_rejected(&e, "/nonexistent/ctx", &o, ENOENT, "context: '/nonexistent/ctx'");
        file = path_join(e.context, "Dockerfile");
        expect_rejected(&e, file, &o, EINVAL, "is not a directory");

        o.dockerfile = strdup("Nope.dockerfile");
        expect_rejected(&e, e.context, &o, ENOENT, "Nope.dockerfile' does not exist");
        ASSERT_OK(strv_extend(&o.tags, "Bad:Ref"));
        expect_rejected(&e, e.context, &o, EINVAL, "tags: 'Bad:Ref' is not a valid image ref");
        ASSERT_OK(strv_extend(&o.tags,
                              "app@sha256:0123456789012345678901234567890123456789012345678901"
                              "234567890123"));
        expect_rejected(&e, e.context, &o, EINVAL, "has a digest");
        ASSERT_OK(strv_extend(&o.build_args, "A=B"));
        ASSERT_OK(strv_extend(&o.build_args, "x"));
        expect_rejected(&e, e.context, &o, EINVAL, "build_args: 'A=B'");
        o.platform = strdup("linux");
        expect_rejected(&e, e.context, &o, EINVAL, "platform: 'linux'");
        o.runtime = strdup("node22");
        o.runtime_auto = true;
        expect_rejected(&e, e.context, &o, EINVAL, "not both");

        o.runtime = strdup("cobol");
        expect_rejected(&e, e.context, &o, EINVAL, "runtime: unknown runtime 'cobol' (known: ");
        o.runtime_auto = true;
        expect_rejected(&e, e.context, &o, EINVAL, "runtime_auto: ");
        write_file(e.context, "Bad.dockerfile", "FROM busybox\nRUN true\nFROBNICATE x\n");
        o.dockerfile = strdup("Bad.dockerfile");
        expect_rejected(&e, e.context, &o, EBADMSG, "Bad.dockerfile:3: ");
        o.target = strdup("nosuchstage");
        expect_rejected(&e, e.context, &o, EBADMSG, "Dockerfile:");

        /* Nothing was recorded. */
        _cleanup_free_ char *builds = path_join(e.state, "builds");
        ASSERT_EQ(build_manager_count(e.m), 0u);
        ASSERT_TRUE(exists(builds));
        ASSERT_EQ(rmdir(builds), 0);
        env_done(&e);
}

TEST(build_complete) {
        _cleanup_free_ char *log = NULL, *record = NULL, *data = NULL, *req = NULL, *work = NULL;
        Env e;
        Build *b;

        env_init(&e, 2);
        b = submit(&e, "ok");
        ASSERT_STREQ(b->options.tags[0], "docker.io/library/app:1");
        ASSERT_STREQ(b->options.tags[1], "localhost:5000/app:latest");
        record = path_join(b->dir, "build.json");
        ASSERT_TRUE(exists(record));
        work = strdup(b->work_dir);

        run_until_final(&e, b);
        ASSERT_EQ(b->state, BUILD_RUNNING);
        ASSERT_NOT_NULL(e.rec.import_pending);
        ASSERT_EQ(e.rec.imports, 1u);
        ASSERT_STREQ(b->image_id, "sha256:abc");
        ASSERT_STREQ(b->current_stage, "1/1 (busybox)");
        ASSERT_STREQ(b->current_instruction, "2/2 RUN make");
        build_import_finished(b, 0, "sha256:imported", NULL);
        ASSERT_EQ(b->state, BUILD_COMPLETE);
        ASSERT_STREQ(b->image_id, "sha256:imported");
        ASSERT_NULL(b->error);
        ASSERT_GT(b->finished_at, 0u);
        ASSERT_GE(b->finished_at, b->started_at);
        ASSERT_STREQ(e.rec.events, "build_started stage_started instruction_started "
                                   "instruction_complete instruction_started output "
                                   "instruction_complete stage_complete build_complete");
        ASSERT_GT(e.rec.changed, 3u);
        ASSERT_FALSE(exists(work)); /* removed at the end */

        log = read_log(b);
        ASSERT_NOT_NULL(strstr(log, "STAGE 1/1: FROM busybox\n"
                                    "STEP 1/2: COPY . /app (cached)\n"
                                    "STEP 2/2: RUN make\n"
                                    "compiling\n"));
        ASSERT_NOT_NULL(strstr(log, "a diagnostic\n"));
        ASSERT_NOT_NULL(strstr(log, "COMPLETE: sha256:imported\n"));

        ASSERT_OK(read_full_file(record, 1 << 20, &data, NULL));
        ASSERT_NOT_NULL(strstr(data, "\"state\": \"complete\""));
        req = path_join(e.context, "request-seen");
        data = mfree(data);
        ASSERT_OK(read_full_file(req, 1 << 20, &data, NULL));
        ASSERT_NOT_NULL(strstr(data, "\"tags\":[\"docker.io/library/app:1\""));
        ASSERT_NOT_NULL(strstr(data, "\"dockerfile\":\"Dockerfile\""));
        ASSERT_NOT_NULL(strstr(data, "\"isolation\":\"chroot\""));
        ASSERT_NOT_NULL(strstr(data, "\"storage\":{"));

        /* Ended: cancelling is refused; a late import answer changes nothing. */
        ASSERT_ERROR(build_cancel(b), ESTALE);
        build_import_finished(b, -EIO, NULL, "late");
        ASSERT_EQ(b->state, BUILD_COMPLETE);
        env_done(&e);
}

TEST(build_failed_and_crash) {
        _cleanup_free_ char *log = NULL;
        Env e;
        Build *b;

        env_init(&e, 2);
        b = submit(&e, "fail");
        run_until_final(&e, b);
        ASSERT_EQ(b->state, BUILD_FAILED);
        ASSERT_STREQ(b->error, "Dockerfile:3: RUN exited with status 2");
        ASSERT_EQ(e.rec.imports, 0u);
        ASSERT_TRUE(endswith(e.rec.events, "output build_failed"));
        log = read_log(b);
        ASSERT_NOT_NULL(strstr(log, "STEP 2/2: RUN make\ncompiling\n"));
        ASSERT_NOT_NULL(strstr(log, "FAILED: Dockerfile:3: RUN exited with status 2\n"));

        b = submit(&e, "crash");
        run_until_final(&e, b);
        ASSERT_EQ(b->state, BUILD_FAILED);
        ASSERT_STREQ(b->error, "zl-build-job exited with status 3");

        /* The import cannot start: failed with the reason. */
        e.rec.import_result = -ECONNREFUSED;
        b = submit(&e, "ok");
        run_until_final(&e, b);
        ASSERT_EQ(b->state, BUILD_FAILED);
        ASSERT_NOT_NULL(strstr(b->error, "Failed to import the image into zl-runtimed"));

        /* The import fails. */
        e.rec.import_result = 0;
        b = submit(&e, "ok");
        run_until_final(&e, b);
        build_import_finished(b, -EHOSTUNREACH, NULL, "zl-runtimed is not reachable");
        ASSERT_EQ(b->state, BUILD_FAILED);
        ASSERT_STREQ(b->error, "Failed to import the image into zl-runtimed: zl-runtimed is not "
                               "reachable");
        env_done(&e);
}

static void on_waited(Build *b, void *userdata) {
        unsigned *n = userdata;

        (void) b;
        (*n)++;
}

TEST(cancel_and_concurrency) {
        _cleanup_free_ char *log = NULL;
        unsigned waited = 0;
        Env e;
        Build *a, *b, *c;

        env_init(&e, 1);
        a = submit(&e, "hang");
        b = submit(&e, "hang");
        ASSERT_OK(build_add_waiter(a, on_waited, &waited));
        ASSERT_OK(build_add_waiter(a, on_waited, &waited));
        /* One at a time: a runs, b waits. */
        for (unsigned i = 0; i < 20; i++)
                ASSERT_TRUE(sd_event_run(e.event, 50 * USEC_PER_MSEC) >= 0);
        ASSERT_EQ(a->state, BUILD_RUNNING);
        ASSERT_EQ(b->state, BUILD_PENDING);
        ASSERT_EQ(build_manager_running(e.m), 1u);
        ASSERT_GT(a->pid, 0);

        /* Cancel a pending one: at once. */
        ASSERT_OK(build_cancel(b));
        ASSERT_EQ(b->state, BUILD_CANCELLED);
        ASSERT_STREQ(b->error, "cancelled");

        ASSERT_OK(build_cancel(a));
        ASSERT_OK(build_cancel(a)); /* twice is fine */
        run_until_final(&e, a);
        ASSERT_EQ(a->state, BUILD_CANCELLED);
        ASSERT_EQ(waited, 2u);
        ASSERT_EQ(build_add_waiter(a, on_waited, &waited), 1);
        ASSERT_TRUE(endswith(e.rec.events, "build_failed"));
        log = read_log(a);
        ASSERT_NOT_NULL(strstr(log, "stopping\n")); /* the job's stderr after SIGTERM */
        ASSERT_NOT_NULL(strstr(log, "CANCELLED: cancelled\n"));
        ASSERT_EQ(build_manager_running(e.m), 0u);

        /* The queue moves on. */
        c = submit(&e, "ok");
        run_until_final(&e, c);
        ASSERT_NOT_NULL(e.rec.import_pending);
        build_import_finished(c, 0, "sha256:x", NULL);
        ASSERT_EQ(c->state, BUILD_COMPLETE);
        env_done(&e);
}

TEST(restart) {
        _cleanup_free_ char *id = NULL, *cleanups = NULL, *data = NULL, *log = NULL;
        Env e;
        Build *a, *done;

        env_init(&e, 2);
        done = submit(&e, "ok");
        run_until_final(&e, done);
        build_import_finished(done, 0, "sha256:kept", NULL);
        e.rec.import_pending = NULL;
        a = submit(&e, "hang");
        while (!a->current_instruction || !startswith(a->current_instruction, "2/2"))
                ASSERT_TRUE(sd_event_run(e.event, 50 * USEC_PER_MSEC) >= 0);
        id = strdup(a->id);
        /* zl-buildd killed: the record still says running, the job (a shell here, so it is
         * not taken for a job and not killed by pid) is gone. */
        pid_t pid = a->pid;
        _cleanup_free_ char *record = path_join(a->dir, "build.json");
        ASSERT_OK(read_full_file(record, 1 << 20, &data, NULL));
        ASSERT_NOT_NULL(strstr(data, "\"state\": \"running\""));
        ASSERT_EQ(kill(-pid, SIGKILL), 0);
        _cleanup_free_ char *copy = path_join(test_tmpdir(), "record-copy");
        ASSERT_OK(write_string_file_atomic(copy, data, 0600));
        build_manager_free(e.m);
        /* What a crash leaves: the record as it was while running. */
        ASSERT_OK(write_string_file_atomic(record, data, 0600));

        env_start(&e, 2);
        ASSERT_EQ(build_manager_count(e.m), 2u);
        a = build_manager_get(e.m, id);
        ASSERT_NOT_NULL(a);
        ASSERT_EQ(a->state, BUILD_FAILED);
        ASSERT_STREQ(a->error, "zl-buildd stopped while the build was running");
        log = read_log(a);
        ASSERT_NOT_NULL(strstr(log, "STEP 1/2: COPY . /app (cached)\n"));
        ASSERT_NOT_NULL(strstr(log, "FAILED: zl-buildd stopped while the build was running\n"));
        done = build_manager_get_at(e.m, 0);
        ASSERT_EQ(done->state, BUILD_COMPLETE);
        ASSERT_STREQ(done->image_id, "sha256:kept");
        ASSERT_STREQ(done->options.tags[0], "docker.io/library/app:1");

        /* --cleanup ran for the build that was running. */
        cleanups = path_join(e.context, "cleanups");
        usec_t deadline = now(CLOCK_MONOTONIC) + 10 * USEC_PER_SEC;
        while (!exists(cleanups)) {
                ASSERT_LT(now(CLOCK_MONOTONIC), deadline);
                ASSERT_TRUE(sd_event_run(e.event, 50 * USEC_PER_MSEC) >= 0);
        }
        data = mfree(data);
        ASSERT_OK(read_full_file(cleanups, 4096, &data, NULL));
        ASSERT_TRUE(startswith(data, id));
        for (unsigned i = 0; i < 5; i++)
                (void) sd_event_run(e.event, 10 * USEC_PER_MSEC);
        env_done(&e);
}

TEST(history) {
        _cleanup_free_ char *first_dir = NULL;
        Env e;
        Build *b;

        env_init(&e, 2);
        build_manager_free(e.m);
        {
                BuildConfig c;
                ASSERT_OK(build_config_init(&c, e.state, NULL));
                c.history_max = 2;
                ASSERT_OK(build_manager_new(e.event, &c, e.job, &callbacks, &e.rec, &e.m));
                build_config_done(&c);
                ASSERT_OK(build_manager_start(e.m));
        }
        for (unsigned i = 0; i < 3; i++) {
                e.rec.import_pending = NULL;
                b = submit(&e, "crash");
                if (i == 0)
                        first_dir = strdup(b->dir);
                run_until_final(&e, b);
                ASSERT_EQ(b->state, BUILD_FAILED);
        }
        /* Pruned on the next turn of the loop, once nothing up the stack uses the build. */
        for (unsigned i = 0; i < 3; i++)
                ASSERT_TRUE(sd_event_run(e.event, 10 * USEC_PER_MSEC) >= 0);
        ASSERT_EQ(build_manager_count(e.m), 2u);
        ASSERT_FALSE(exists(first_dir));
        env_done(&e);
}
