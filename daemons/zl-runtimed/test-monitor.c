/* SPDX-License-Identifier: Apache-2.0 */
/* test-monitor.c: real containers under zl-monitor, driven through the client library. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup.h"
#include "container-log.h"
#include "fileio.h"
#include "log.h"
#include "monitor-client.h"
#include "oci-config.h"
#include "string-util.h"
#include "test-busybox.h"
#include "tests.h"

#define CALL_TIMEOUT (10 * USEC_PER_SEC)
/* RET_NERRNO inside ASSERT_OK would shadow its variable. */
#define ERRNO_OF(expr) ((expr) < 0 ? -errno : 0)

static char *rootfs, *monitor_path;
static unsigned counter;
/* What a failed test may leave behind, cleaned before the next and at exit. */
static char *leftover_cgroups[64];
static pid_t leftover_monitors[64];
static size_t n_leftovers;

static void cleanup_leftovers(void) {
        CgroupMode mode = cgroup_detect(NULL);

        for (size_t i = 0; i < n_leftovers; i++) {
                Cgroup *cg = NULL;

                if (leftover_monitors[i] > 0)
                        (void) kill(leftover_monitors[i], SIGKILL);
                if (mode >= 0 && cgroup_open(NULL, mode, leftover_cgroups[i], &cg) >= 0) {
                        (void) cgroup_kill(cg);
                        (void) cgroup_destroy(cg);
                        cgroup_free(cg);
                }
                free(leftover_cgroups[i]);
        }
        n_leftovers = 0;
}

static void __attribute__((destructor)) cleanup_at_exit(void) {
        cleanup_leftovers();
        free(rootfs);
        free(monitor_path);
}

static void setup(void) {
        int r;

        cleanup_leftovers();
        if (geteuid() != 0)
                test_skip("containers need root");
        rootfs = mfree(rootfs);
        rootfs = strjoin(test_tmpdir(), "/rootfs");
        ASSERT_NOT_NULL(rootfs);
        r = test_busybox_rootfs(rootfs);
        if (r == -ENOENT)
                test_skip("/bin/busybox missing: run scripts/setup (busybox-static)");
        ASSERT_OK(r);
        if (!monitor_path)
                monitor_path = strjoin(getenv("ZL_TEST_BUILDDIR") ?: ".", "/zl-monitor");
        ASSERT_NOT_NULL(monitor_path);
        ASSERT_OK(ERRNO_OF(access(monitor_path, X_OK)));
}

typedef struct Box {
        char *dir;
        char *cgroup;
} Box;

static void box_done(Box *b) {
        free(b->dir);
        free(b->cgroup);
}

/* Writes a container directory for "sh -c cmd"; edit (may be NULL) changes the config. */
static Box make_box(const char *cmd, void (*edit)(json_t *config)) {
        char *args[] = { (char *) "/bin/sh", (char *) "-c", (char *) cmd, NULL };
        _cleanup_free_ char *text = NULL, *cpath = NULL, *mpath = NULL;
        _cleanup_(json_decrefp) json_t *config = NULL, *spec_json = NULL;
        char name[64];
        Box b = {};

        snprintf(name, sizeof name, "c%u", counter);
        b.dir = strjoin(test_tmpdir(), "/", name);
        ASSERT_NOT_NULL(b.dir);
        ASSERT_OK(ERRNO_OF(mkdir(b.dir, 0700)));
        snprintf(name, sizeof name, "zlayer-test-monitor-%d-%u", (int) getpid(), counter++);
        b.cgroup = strdup(name);

        ASSERT_OK(oci_config_default_json(rootfs, args, &text));
        config = json_loads(text, 0, NULL);
        ASSERT_NOT_NULL(config);
        if (edit)
                edit(config);
        cpath = strjoin(b.dir, "/" MONITOR_CONFIG_FILE);
        ASSERT_OK(json_dump_file(config, cpath, 0));

        MonitorSpec spec = { .id = (char *) "test",
                             .name = (char *) "test-box",
                             .cgroup = b.cgroup,
                             .default_seccomp = true,
                             .stop_signal = SIGTERM };
        ASSERT_OK(monitor_spec_to_json(&spec, &spec_json));
        mpath = strjoin(b.dir, "/" MONITOR_SPEC_FILE);
        ASSERT_OK(json_dump_file(spec_json, mpath, 0));
        return b;
}

static void track(const Box *b) {
        _cleanup_free_ char *p = strjoin(b->dir, "/" MONITOR_PID_FILE), *text = NULL;

        ASSERT_TRUE(n_leftovers < ELEMENTSOF(leftover_cgroups));
        leftover_cgroups[n_leftovers] = strdup(b->cgroup);
        leftover_monitors[n_leftovers] = read_full_file(p, 64, &text, NULL) >= 0 ? atoi(text) : 0;
        n_leftovers++;
}

static void launch(const Box *b) {
        _cleanup_free_ char *error = NULL;
        int r = monitor_launch(monitor_path, b->dir, &error);

        if (r < 0)
                log_error("launch: %s", strna(error));
        ASSERT_OK(r);
        ASSERT_NULL(error);
        track(b);
}

static bool cgroup_gone(const char *cg) {
        _cleanup_free_ char *p = strjoin("/sys/fs/cgroup/memory/", cg);
        _cleanup_free_ char *q = strjoin("/sys/fs/cgroup/unified/", cg);
        _cleanup_free_ char *v2 = strjoin("/sys/fs/cgroup/", cg);

        return access(p, F_OK) < 0 && access(q, F_OK) < 0 && access(v2, F_OK) < 0;
}

/* Waits for an event named event (skipping others); returns it. */
static json_t *wait_event(MonitorClient *c, const char *event) {
        usec_t deadline = now(CLOCK_MONOTONIC) + 20 * USEC_PER_SEC;

        while (now(CLOCK_MONOTONIC) < deadline) {
                json_t *msg = NULL;
                int r = monitor_client_receive(c, &msg);

                ASSERT_OK(r);
                if (r == 0) {
                        struct pollfd p = { .fd = monitor_client_get_fd(c), .events = POLLIN };
                        (void) poll(&p, 1, 100);
                        continue;
                }
                const char *e = json_string_value(json_object_get(msg, "event"));
                if (e && streq(e, event))
                        return msg;
                json_decref(msg);
        }
        test_fail(__FILE__, __LINE__, "no '%s' event", event);
}

static json_t *call(MonitorClient *c, const char *cmd, json_t *args) {
        json_t *reply = NULL;
        _cleanup_free_ char *error = NULL;
        int r = monitor_client_call(c, cmd, args, CALL_TIMEOUT, &reply, &error);

        if (r < 0)
                log_error("%s: %s", cmd, strna(error));
        ASSERT_OK(r);
        return reply;
}

static json_int_t int_field(json_t *o, const char *key) {
        ASSERT_TRUE(json_is_integer(json_object_get(o, key)));
        return json_integer_value(json_object_get(o, key));
}

static const char *str_field(json_t *o, const char *key) {
        return json_string_value(json_object_get(o, key));
}

/* The monitor is done once its socket and pid file are gone (the last thing it does). */
static void wait_monitor_gone(const Box *b) {
        _cleanup_free_ char *s = strjoin(b->dir, "/" MONITOR_SOCKET_FILE);
        _cleanup_free_ char *p = strjoin(b->dir, "/" MONITOR_PID_FILE);

        for (unsigned i = 0; i < 500 && (access(s, F_OK) >= 0 || access(p, F_OK) >= 0); i++)
                usleep(10 * 1000);
        ASSERT_TRUE(access(s, F_OK) < 0);
        ASSERT_TRUE(access(p, F_OK) < 0);
        ASSERT_TRUE(cgroup_gone(b->cgroup));
        ASSERT_ERROR(monitor_client_connect(b->dir, &(MonitorClient *){ NULL }), ENOENT);
}

static void stop_box(MonitorClient *c) {
        _cleanup_(json_decrefp) json_t *args = json_pack("{s:I}", "timeout_usec", (json_int_t) 0);
        json_decref(call(c, "stop", args));
}

typedef struct Lines {
        char *text;
} Lines;

static int collect(const ContainerLogEntry *e, void *userdata) {
        Lines *l = userdata;

        return strextendf(&l->text, "%s:%s%s\n", log_stream_to_string(e->stream), e->text,
                          e->partial ? "(P)" : "");
}

static char *read_logs(const Box *b) {
        _cleanup_free_ char *dir = strjoin(b->dir, "/" MONITOR_LOG_DIR);
        Lines l = {};

        ASSERT_OK(container_log_read(AT_FDCWD, dir, 0, UINT64_MAX, collect, &l));
        return l.text ?: strdup("");
}

TEST(spec_and_status_json) {
        char *lowers[] = { (char *) "/l1", (char *) "/l2", NULL };
        MonitorSpec s = { .id = (char *) "abc",
                          .cgroup = (char *) "zlayer/abc",
                          .lowers = lowers,
                          .upper = (char *) "/u",
                          .work = (char *) "/w",
                          .log_max_size = 8192,
                          .log_max_files = 3,
                          .log_journal = true,
                          .stop_signal = SIGINT };
        _cleanup_(json_decrefp) json_t *j = NULL;
        _cleanup_(monitor_spec_done) MonitorSpec t = {};
        _cleanup_free_ char *error = NULL;

        ASSERT_OK(monitor_spec_to_json(&s, &j));
        ASSERT_OK(monitor_spec_from_json(j, &t, &error));
        ASSERT_STREQ(t.id, "abc");
        ASSERT_NULL(t.name);
        ASSERT_STREQ(t.cgroup, "zlayer/abc");
        ASSERT_STREQ(t.lowers[1], "/l2");
        ASSERT_NULL(t.lowers[2]);
        ASSERT_STREQ(t.upper, "/u");
        ASSERT_STREQ(t.work, "/w");
        ASSERT_U64_EQ(t.log_max_size, 8192);
        ASSERT_EQ(t.log_max_files, 3);
        ASSERT_TRUE(t.log_journal);
        ASSERT_EQ(t.stop_signal, SIGINT);

        static const struct {
                const char *json, *msg;
        } bad[] = {
                { "{}", "id: missing" },
                { "{\"id\":\"a\"}", "cgroup: missing" },
                { "{\"id\":\"a\",\"cgroup\":\"../x\"}", "cgroup: must be a relative path" },
                { "{\"id\":\"a\",\"cgroup\":\"/x\"}", "cgroup: must be a relative path" },
                { "{\"id\":\"a\",\"cgroup\":\"x\",\"stop_signal\":0}", "stop_signal" },
                { "{\"id\":\"a\",\"cgroup\":\"x\",\"log\":{\"max_size\":10}}", "log.max_size" },
                { "{\"id\":\"a\",\"cgroup\":\"x\",\"overlay\":{\"lowers\":[]}}", "overlay.lowers" },
                { "{\"id\":\"a\",\"cgroup\":\"x\",\"overlay\":{\"lowers\":[\"/a\"],"
                  "\"upper\":\"u\",\"work\":\"/w\"}}",
                  "overlay.upper" },
                { "{\"id\":1,\"cgroup\":\"x\"}", "id: must be a non-empty string" },
                { "[]", "must be an object" },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_(json_decrefp) json_t *b = json_loads(bad[i].json, 0, NULL);
                _cleanup_free_ char *e = NULL;
                MonitorSpec u = {};
                ASSERT_NOT_NULL(b);
                ASSERT_ERROR(monitor_spec_from_json(b, &u, &e), EINVAL);
                ASSERT_NOT_NULL(e);
                if (!strstr(e, bad[i].msg))
                        test_fail(__FILE__, __LINE__, "'%s': got '%s'", bad[i].json, e);
        }

        MonitorStatus st = { .state = MONITOR_STATE_EXITED,
                             .pid = 42,
                             .started_at = 1,
                             .finished_at = 2,
                             .exit_code = 137,
                             .signal = 9,
                             .oom_killed = true,
                             .error = (char *) "boom" };
        _cleanup_(json_decrefp) json_t *o = json_object();
        _cleanup_(monitor_status_done) MonitorStatus back = {};
        ASSERT_OK(monitor_status_to_json(&st, o));
        ASSERT_OK(monitor_status_from_json(o, &back));
        ASSERT_EQ(back.state, MONITOR_STATE_EXITED);
        ASSERT_EQ(back.pid, 42);
        ASSERT_EQ(back.exit_code, 137);
        ASSERT_EQ(back.signal, 9);
        ASSERT_TRUE(back.oom_killed);
        ASSERT_STREQ(back.error, "boom");
        json_object_del(o, "oom_killed");
        ASSERT_ERROR(monitor_status_from_json(o, &back), EBADMSG);
        ASSERT_EQ(monitor_state_from_string("paused"), MONITOR_STATE_PAUSED);
        ASSERT_EQ(monitor_state_from_string("nope"), -EINVAL);
        ASSERT_NULL(monitor_state_to_string(_MONITOR_STATE_MAX));
}

TEST(start_and_exit) {
        setup();
        _cleanup_(box_done) Box b = make_box("echo out; echo err >&2; exit 3", NULL);
        _cleanup_(monitor_client_freep) MonitorClient *c = NULL;
        _cleanup_(monitor_status_done) MonitorStatus st = {};

        usec_t t0 = now(CLOCK_MONOTONIC);
        launch(&b);
        log_info("launch took %" PRIu64 " us", now(CLOCK_MONOTONIC) - t0);
        ASSERT_OK(monitor_status_read(b.dir, &st));
        ASSERT_EQ(st.state, MONITOR_STATE_CREATED);
        ASSERT_GT(st.pid, 0);
        ASSERT_EQ(st.exit_code, -1);
        ASSERT_FALSE(cgroup_gone(b.cgroup));

        _cleanup_free_ char *sock = strjoin(b.dir, "/" MONITOR_SOCKET_FILE);
        struct stat sb;
        ASSERT_OK(ERRNO_OF(stat(sock, &sb)));
        ASSERT_TRUE(S_ISSOCK(sb.st_mode));
        ASSERT_EQ(sb.st_mode & 07777, 0600);

        ASSERT_OK(monitor_client_connect(b.dir, &c));
        _cleanup_(json_decrefp) json_t *r = call(c, "start", NULL);
        ASSERT_STREQ(str_field(r, "state"), "running");
        ASSERT_GT(int_field(r, "started_at"), 0);

        _cleanup_(json_decrefp) json_t *e = wait_event(c, "exited");
        ASSERT_EQ(int_field(e, "exit_code"), 3);
        ASSERT_EQ(int_field(e, "signal"), 0);
        ASSERT_TRUE(json_is_false(json_object_get(e, "oom_killed")));
        wait_monitor_gone(&b);

        monitor_status_done(&st);
        ASSERT_OK(monitor_status_read(b.dir, &st));
        ASSERT_EQ(st.state, MONITOR_STATE_EXITED);
        ASSERT_EQ(st.exit_code, 3);
        ASSERT_TRUE(st.finished_at >= st.started_at && st.started_at > 0);
        ASSERT_NULL(st.error);

        _cleanup_free_ char *logs = read_logs(&b);
        log_info("logs:\n%s", logs);
        ASSERT_NOT_NULL(strstr(logs, "stdout:out\n"));
        ASSERT_NOT_NULL(strstr(logs, "stderr:err\n"));
        _cleanup_free_ char *ended =
                strjoin(b.dir, "/" MONITOR_LOG_DIR "/" CONTAINER_LOG_ENDED_FILE);
        ASSERT_OK(ERRNO_OF(access(ended, F_OK)));
        /* The connection ends with the monitor. */
        json_t *msg = NULL;
        for (unsigned i = 0; i < 100; i++) {
                int k = monitor_client_receive(c, &msg);
                if (k == -ECONNRESET)
                        break;
                ASSERT_OK(k);
                json_decref(msg);
                msg = NULL;
                usleep(10 * 1000);
                ASSERT_TRUE(i < 99);
        }
}

TEST(stop_kills_after_timeout) {
        setup();
        _cleanup_(box_done) Box b =
                make_box("trap '' TERM; echo up; while :; do sleep 0.05; done", NULL);
        _cleanup_(monitor_client_freep) MonitorClient *c = NULL;

        launch(&b);
        ASSERT_OK(monitor_client_connect(b.dir, &c));
        json_decref(call(c, "start", NULL));
        usleep(100 * 1000);
        _cleanup_(json_decrefp) json_t *args =
                json_pack("{s:I}", "timeout_usec", (json_int_t) (300 * USEC_PER_MSEC));
        usec_t t0 = now(CLOCK_MONOTONIC);
        _cleanup_(json_decrefp) json_t *r = call(c, "stop", args);
        usec_t took = now(CLOCK_MONOTONIC) - t0;
        log_info("stop took %" PRIu64 " us", took);
        ASSERT_TRUE(took >= 300 * USEC_PER_MSEC);
        ASSERT_STREQ(str_field(r, "state"), "exited");
        ASSERT_EQ(int_field(r, "exit_code"), 137);
        ASSERT_EQ(int_field(r, "signal"), SIGKILL);
        wait_monitor_gone(&b);
}

TEST(stop_with_handler_is_quick) {
        setup();
        _cleanup_(box_done) Box b =
                make_box("trap 'exit 5' TERM; while :; do sleep 0.05; done", NULL);
        _cleanup_(monitor_client_freep) MonitorClient *c = NULL;

        launch(&b);
        ASSERT_OK(monitor_client_connect(b.dir, &c));
        json_decref(call(c, "start", NULL));
        usleep(100 * 1000);
        _cleanup_(json_decrefp) json_t *r = call(c, "stop", NULL);
        ASSERT_EQ(int_field(r, "exit_code"), 5);
        ASSERT_EQ(int_field(r, "signal"), 0);
        wait_monitor_gone(&b);
}

TEST(kill_init_and_all) {
        setup();
        _cleanup_(box_done) Box b = make_box("exec sleep 1000", NULL);
        _cleanup_(monitor_client_freep) MonitorClient *c = NULL;
        _cleanup_free_ char *error = NULL;

        launch(&b);
        ASSERT_OK(monitor_client_connect(b.dir, &c));
        json_decref(call(c, "start", NULL));
        _cleanup_(json_decrefp) json_t *bad = json_pack("{s:i}", "signal", 99);
        ASSERT_ERROR(monitor_client_call(c, "kill", bad, CALL_TIMEOUT, NULL, &error), EINVAL);
        ASSERT_NOT_NULL(strstr(error, "signal"));
        _cleanup_(json_decrefp) json_t *args = json_pack("{s:i}", "signal", SIGKILL);
        json_decref(call(c, "kill", args));
        _cleanup_(json_decrefp) json_t *e = wait_event(c, "exited");
        ASSERT_EQ(int_field(e, "exit_code"), 137);
        wait_monitor_gone(&b);

        /* all: the init (pid 1 ignores TERM without a handler) and its children. */
        _cleanup_(box_done) Box d = make_box("sleep 1000 & sleep 1000 & wait", NULL);
        _cleanup_(monitor_client_freep) MonitorClient *k = NULL;
        launch(&d);
        ASSERT_OK(monitor_client_connect(d.dir, &k));
        json_decref(call(k, "start", NULL));
        usleep(100 * 1000);
        _cleanup_(json_decrefp) json_t *all =
                json_pack("{s:i,s:b}", "signal", SIGKILL, "all", true);
        json_decref(call(k, "kill", all));
        _cleanup_(json_decrefp) json_t *f = wait_event(k, "exited");
        ASSERT_EQ(int_field(f, "exit_code"), 137);
        wait_monitor_gone(&d);
}

static bool frozen(const char *cg) {
        _cleanup_free_ char *a = strjoin("/sys/fs/cgroup/unified/", cg, "/cgroup.events");
        _cleanup_free_ char *b = strjoin("/sys/fs/cgroup/", cg, "/cgroup.events");
        _cleanup_free_ char *c = strjoin("/sys/fs/cgroup/freezer/", cg, "/freezer.state");
        _cleanup_free_ char *t = NULL;

        if (read_full_file(a, 4096, &t, NULL) >= 0 || read_full_file(b, 4096, &t, NULL) >= 0)
                return strstr(t, "frozen 1");
        ASSERT_OK(read_full_file(c, 4096, &t, NULL));
        return strneq(t, "FROZEN", 6);
}

TEST(pause_and_resume) {
        setup();
        _cleanup_(box_done) Box b = make_box("while :; do sleep 0.05; done", NULL);
        _cleanup_(monitor_client_freep) MonitorClient *c = NULL;
        _cleanup_(monitor_status_done) MonitorStatus st = {};
        _cleanup_free_ char *error = NULL;

        launch(&b);
        ASSERT_OK(monitor_client_connect(b.dir, &c));
        ASSERT_ERROR(monitor_client_call(c, "pause", NULL, CALL_TIMEOUT, NULL, &error), EBUSY);
        json_decref(call(c, "start", NULL));
        _cleanup_(json_decrefp) json_t *p = call(c, "pause", NULL);
        ASSERT_STREQ(str_field(p, "state"), "paused");
        json_decref(wait_event(c, "paused"));
        ASSERT_TRUE(frozen(b.cgroup));
        ASSERT_OK(monitor_status_read(b.dir, &st));
        ASSERT_EQ(st.state, MONITOR_STATE_PAUSED);

        _cleanup_(json_decrefp) json_t *r = call(c, "resume", NULL);
        ASSERT_STREQ(str_field(r, "state"), "running");
        json_decref(wait_event(c, "resumed"));
        ASSERT_FALSE(frozen(b.cgroup));

        /* A paused container still stops. */
        json_decref(call(c, "pause", NULL));
        stop_box(c);
        wait_monitor_gone(&b);
}

static void edit_memory(json_t *config) {
        json_t *linux_ = json_object_get(config, "linux");
        json_t *res = json_pack("{s:{s:I,s:I}}", "memory", "limit", (json_int_t) (32 << 20), "swap",
                                (json_int_t) (32 << 20));

        ASSERT_NOT_NULL(res);
        ASSERT_OK(json_object_set_new(linux_, "resources", res));
}

TEST(oom_killed) {
        setup();
        _cleanup_(box_done) Box b = make_box("exec tail /dev/zero", edit_memory);
        _cleanup_(monitor_client_freep) MonitorClient *c = NULL;
        _cleanup_(monitor_status_done) MonitorStatus st = {};

        launch(&b);
        ASSERT_OK(monitor_client_connect(b.dir, &c));
        json_decref(call(c, "start", NULL));
        _cleanup_(json_decrefp) json_t *e = wait_event(c, "exited");
        ASSERT_EQ(int_field(e, "signal"), SIGKILL);
        ASSERT_TRUE(json_is_true(json_object_get(e, "oom_killed")));
        wait_monitor_gone(&b);
        ASSERT_OK(monitor_status_read(b.dir, &st));
        ASSERT_TRUE(st.oom_killed);
        ASSERT_EQ(st.exit_code, 137);
}

TEST(survives_its_launcher) {
        setup();
        _cleanup_(box_done) Box b = make_box("echo alive; sleep 1000", NULL);
        _cleanup_(monitor_client_freep) MonitorClient *c = NULL;
        int p[2], status;
        char ok = 0;

        ASSERT_OK(pipe2(p, O_CLOEXEC));
        pid_t pid = fork();
        ASSERT_OK(pid);
        if (pid == 0) {
                char v = monitor_launch(monitor_path, b.dir, NULL) >= 0 ? 'y' : 'n';
                (void) !write(p[1], &v, 1);
                pause();
                _exit(0);
        }
        close(p[1]);
        ASSERT_EQ(read(p[0], &ok, 1), 1);
        close(p[0]);
        ASSERT_EQ(ok, 'y');
        track(&b);
        ASSERT_OK(kill(pid, SIGKILL));
        ASSERT_EQ(waitpid(pid, &status, 0), pid);

        ASSERT_OK(monitor_client_connect(b.dir, &c));
        _cleanup_(json_decrefp) json_t *r = call(c, "start", NULL);
        ASSERT_STREQ(str_field(r, "state"), "running");
        /* SIGTERM is not for the monitor either. */
        _cleanup_free_ char *pidp = strjoin(b.dir, "/" MONITOR_PID_FILE), *text = NULL;
        ASSERT_OK(read_full_file(pidp, 64, &text, NULL));
        ASSERT_OK(kill(atoi(text), SIGTERM));
        usleep(50 * 1000);
        json_decref(call(c, "status", NULL));
        stop_box(c);
        wait_monitor_gone(&b);
        _cleanup_free_ char *logs = read_logs(&b);
        ASSERT_NOT_NULL(strstr(logs, "stdout:alive\n"));
}

TEST(reconnect) {
        setup();
        _cleanup_(box_done) Box b = make_box("sleep 1000", NULL);
        MonitorClient *c = NULL;

        launch(&b);
        ASSERT_OK(monitor_client_connect(b.dir, &c));
        json_decref(call(c, "start", NULL));
        /* A client going away mid-request changes nothing. */
        ASSERT_OK(monitor_client_send(c, "status", NULL, NULL));
        c = monitor_client_free(c);
        ASSERT_OK(monitor_client_connect(b.dir, &c));
        _cleanup_(json_decrefp) json_t *r = call(c, "status", NULL);
        ASSERT_STREQ(str_field(r, "state"), "running");
        c = monitor_client_free(c);

        /* Two clients: both see the end. */
        _cleanup_(monitor_client_freep) MonitorClient *x = NULL, *y = NULL;
        ASSERT_OK(monitor_client_connect(b.dir, &x));
        ASSERT_OK(monitor_client_connect(b.dir, &y));
        stop_box(x);
        _cleanup_(json_decrefp) json_t *e = wait_event(y, "exited");
        ASSERT_EQ(int_field(e, "exit_code"), 137);
        wait_monitor_gone(&b);
}

static void edit_bad_exec(json_t *config) {
        json_t *args = json_object_get(json_object_get(config, "process"), "args");
        ASSERT_OK(json_array_set_new(args, 0, json_string("/bin/nosuch-program")));
}

static void edit_zero_memory(json_t *config) {
        json_t *res = json_pack("{s:{s:i}}", "memory", "limit", 0);
        ASSERT_OK(json_object_set_new(json_object_get(config, "linux"), "resources", res));
}

static void assert_launch_fails(const Box *b, int err, const char *msg) {
        _cleanup_free_ char *error = NULL, *s = strjoin(b->dir, "/" MONITOR_SOCKET_FILE),
                            *p = strjoin(b->dir, "/" MONITOR_PID_FILE),
                            *st = strjoin(b->dir, "/" MONITOR_STATUS_FILE);
        int r = monitor_launch(monitor_path, b->dir, &error);

        log_info("launch error: %s", strna(error));
        ASSERT_ERROR(r, err);
        ASSERT_NOT_NULL(error);
        ASSERT_NOT_NULL(strstr(error, msg));
        ASSERT_TRUE(cgroup_gone(b->cgroup));
        ASSERT_TRUE(access(s, F_OK) < 0);
        ASSERT_TRUE(access(p, F_OK) < 0);
        ASSERT_TRUE(access(st, F_OK) < 0);
}

TEST(launch_errors) {
        setup();
        _cleanup_(box_done) Box b = make_box("true", edit_bad_exec);
        assert_launch_fails(&b, ENOENT, "nosuch-program");

        _cleanup_(box_done) Box z = make_box("true", edit_zero_memory);
        assert_launch_fails(&z, EINVAL, "linux.resources.memory.limit");

        _cleanup_(box_done) Box j = make_box("true", NULL);
        _cleanup_free_ char *mj = strjoin(j.dir, "/" MONITOR_SPEC_FILE);
        ASSERT_OK(write_string_file_atomic(mj, "{\"id\":\"x\"}", 0644));
        assert_launch_fails(&j, EINVAL, "cgroup: missing");

        _cleanup_free_ char *cj = strjoin(j.dir, "/" MONITOR_CONFIG_FILE);
        ASSERT_OK(ERRNO_OF(unlink(cj)));
        ASSERT_OK(ERRNO_OF(unlink(mj)));
        assert_launch_fails(&j, ENOENT, MONITOR_SPEC_FILE);

        _cleanup_free_ char *error = NULL;
        ASSERT_ERROR(monitor_launch("/nonexistent/zl-monitor", j.dir, &error), ENOENT);
        ASSERT_NOT_NULL(strstr(error, "executing"));
        ASSERT_ERROR(monitor_client_connect(j.dir, &(MonitorClient *){ NULL }), ENOENT);
}

TEST(bad_requests) {
        setup();
        _cleanup_(box_done) Box b = make_box("sleep 1000", NULL);
        _cleanup_(monitor_client_freep) MonitorClient *c = NULL;
        _cleanup_free_ char *error = NULL;
        json_t *msg = NULL;

        launch(&b);
        ASSERT_OK(monitor_client_connect(b.dir, &c));
        static const char *const garbage[] = { "not json", "[1,2]", "{\"cmd\":\"status\"}",
                                               "{\"id\":-1,\"cmd\":\"status\"}",
                                               "{\"id\":1,\"cmd\":7}" };
        for (size_t i = 0; i < ELEMENTSOF(garbage); i++) {
                ASSERT_OK(ERRNO_OF(send(monitor_client_get_fd(c), garbage[i], strlen(garbage[i]),
                                        MSG_NOSIGNAL)));
                struct pollfd p = { .fd = monitor_client_get_fd(c), .events = POLLIN };
                ASSERT_EQ(poll(&p, 1, 5000), 1);
                ASSERT_EQ(monitor_client_receive(c, &msg), 1);
                ASSERT_TRUE(json_is_false(json_object_get(msg, "ok")));
                ASSERT_EQ(int_field(msg, "errno"), EINVAL);
                log_info("'%s' -> %s", garbage[i], str_field(msg, "error"));
                json_decref(msg);
        }
        ASSERT_ERROR(monitor_client_call(c, "frobnicate", NULL, CALL_TIMEOUT, NULL, &error),
                     EOPNOTSUPP);
        ASSERT_NOT_NULL(strstr(error, "frobnicate"));
        error = mfree(error);
        _cleanup_(json_decrefp) json_t *t = json_pack("{s:s}", "timeout_usec", "soon");
        ASSERT_ERROR(monitor_client_call(c, "stop", t, CALL_TIMEOUT, NULL, &error), EINVAL);
        error = mfree(error);
        json_decref(call(c, "start", NULL));
        ASSERT_ERROR(monitor_client_call(c, "start", NULL, CALL_TIMEOUT, NULL, &error), EBUSY);
        error = mfree(error);
        ASSERT_ERROR(monitor_client_call(c, "resume", NULL, CALL_TIMEOUT, NULL, &error), EBUSY);
        _cleanup_(json_decrefp) json_t *r = call(c, "status", NULL);
        ASSERT_STREQ(str_field(r, "state"), "running");
        stop_box(c);
        wait_monitor_gone(&b);
}

TEST(terminal_output_is_stdout) {
        setup();
        _cleanup_(box_done) Box b = make_box("echo on-tty; test -t 1 && echo is-a-tty", NULL);
        _cleanup_(monitor_client_freep) MonitorClient *c = NULL;
        _cleanup_free_ char *cj = strjoin(b.dir, "/" MONITOR_CONFIG_FILE);
        _cleanup_(json_decrefp) json_t *config = json_load_file(cj, 0, NULL);

        ASSERT_NOT_NULL(config);
        ASSERT_OK(json_object_set_new(json_object_get(config, "process"), "terminal", json_true()));
        ASSERT_OK(json_dump_file(config, cj, 0));
        launch(&b);
        ASSERT_OK(monitor_client_connect(b.dir, &c));
        json_decref(call(c, "start", NULL));
        json_decref(wait_event(c, "exited"));
        wait_monitor_gone(&b);
        _cleanup_free_ char *logs = read_logs(&b);
        log_info("terminal logs:\n%s", logs);
        ASSERT_NOT_NULL(strstr(logs, "stdout:on-tty"));
        ASSERT_NOT_NULL(strstr(logs, "stdout:is-a-tty"));
}
