/* SPDX-License-Identifier: Apache-2.0 */
/* test-launcher.c: the supervisor's parts: backoff, notify parsing, bus config from the policy,
 * child environments, finding daemons and the policy, launcher.json, locks, left-over scans. */
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "fileio.h"
#include "launcher.h"
#include "string-util.h"
#include "tests.h"

static char *tmp_path(const char *name) {
        char *p;

        ASSERT_TRUE(asprintf(&p, "%s/%s", test_tmpdir(), name) >= 0);
        return p;
}

static void touch_exec(const char *path) {
        ASSERT_OK(write_string_file_atomic(path, "#!/bin/sh\nexit 0\n", 0755));
}

TEST(daemon_table) {
        ASSERT_EQ(ELEMENTSOF(zl_daemon_list), 7);
        ASSERT_STREQ(zl_daemon_list[0].name, "zl-runtimed");
        ASSERT_STREQ(zl_daemon_list[1].name, "zl-netd");
        for (size_t i = 0; i < ZL_N_DAEMONS; i++) {
                _cleanup_free_ char *path = strjoin("/", zl_daemon_list[i].bus_name);

                /* The object path is the bus name with dots as slashes. */
                for (char *p = path; *p; p++)
                        if (*p == '.')
                                *p = '/';
                ASSERT_STREQ(zl_daemon_list[i].object_path, path);
                ASSERT_EQ(zl_daemon_list[i].stage, i < 2 ? 0u : 1u);
        }
}

TEST(child_state_strings) {
        for (int i = 0; i < _CHILD_STATE_MAX; i++)
                ASSERT_EQ(child_state_from_string(child_state_to_string((ChildState) i)), i);
        ASSERT_STREQ(child_state_to_string(CHILD_RESTARTING), "restarting");
        ASSERT_NULL(child_state_to_string(_CHILD_STATE_MAX));
        ASSERT_NULL(child_state_to_string(_CHILD_STATE_INVALID));
        ASSERT_EQ(child_state_from_string("Ready"), -EINVAL);
        ASSERT_EQ(child_state_from_string(NULL), -EINVAL);
}

TEST(restart_delay) {
        usec_t d = 0;
        usec_t expect[] = { 100, 200, 400, 800, 1600, 3200, 5000, 5000 };

        for (size_t i = 0; i < ELEMENTSOF(expect); i++) {
                d = launcher_restart_delay(d, 1 * USEC_PER_SEC);
                ASSERT_U64_EQ(d, expect[i] * USEC_PER_MSEC);
        }
        /* 30 s of uptime resets the backoff; 29.999 s does not. */
        ASSERT_U64_EQ(launcher_restart_delay(d, 30 * USEC_PER_SEC), 100 * USEC_PER_MSEC);
        ASSERT_U64_EQ(launcher_restart_delay(d, 30 * USEC_PER_SEC - 1), 5 * USEC_PER_SEC);
        ASSERT_U64_EQ(launcher_restart_delay(2600 * USEC_PER_MSEC, 0), 5 * USEC_PER_SEC);
}

TEST(notify_parse) {
        NotifyMessage m = {};
        const char msg[] = "READY=1\nSTATUS=Serving 3 things\nMAINPID=12\nWATCHDOG=1";

        ASSERT_OK(notify_message_parse(msg, strlen(msg), &m));
        ASSERT_TRUE(m.ready);
        ASSERT_TRUE(m.watchdog);
        ASSERT_FALSE(m.stopping);
        ASSERT_FALSE(m.reloading);
        ASSERT_STREQ(m.status, "Serving 3 things");
        notify_message_done(&m);
        ASSERT_NULL(m.status);

        /* Only exact assignments count: READY=0 or READY=10 are not readiness. */
        ASSERT_OK(notify_message_parse("READY=0\nREADY=10\nSTOPPING=1\n", 27, &m));
        ASSERT_FALSE(m.ready);
        ASSERT_TRUE(m.stopping);
        notify_message_done(&m);

        /* The last STATUS= wins; an empty one is kept as empty. */
        ASSERT_OK(notify_message_parse("STATUS=a\nSTATUS=", 16, &m));
        ASSERT_STREQ(m.status, "");
        notify_message_done(&m);

        ASSERT_OK(notify_message_parse("", 0, &m));
        ASSERT_FALSE(m.ready);
        ASSERT_NULL(m.status);

        ASSERT_ERROR(notify_message_parse("READY=1\0x", 9, &m), EINVAL);
}

TEST(bus_address) {
        _cleanup_free_ char *a = bus_address_escape("/tmp/a b/bus,sock=ü*");
        _cleanup_free_ char *b = launcher_bus_address("/run/x.y/bus.sock");

        ASSERT_STREQ(a, "/tmp/a%20b/bus%2csock%3d%c3%bc*");
        ASSERT_STREQ(b, "unix:path=/run/x.y/bus.sock");
}

static const char policy_file[] =
        "<?xml version=\"1.0\"?> <!--*-nxml-*-->\n"
        "<!DOCTYPE busconfig PUBLIC \"x\" \"y\">\n"
        "<!-- <policy user=\"commented\"><allow own=\"x\"/></policy> -->\n"
        "<busconfig>\n"
        "  <policy context=\"default\">\n"
        "    <deny own_prefix=\"org.zlayer\"/> <!-- inline -->\n"
        "  </policy>\n"
        "  <policyx/>\n"
        "  <policy user=\"root\"><allow own_prefix=\"org.zlayer\"/></policy>\n"
        "  <policy group=\"empty\"/>\n"
        "</busconfig>\n";

TEST(policy_extract) {
        _cleanup_free_ char *p = NULL;

        ASSERT_OK(launcher_policy_extract(policy_file, &p));
        ASSERT_STREQ(p, "  <policy context=\"default\">\n"
                        "    <deny own_prefix=\"org.zlayer\"/> \n"
                        "  </policy>\n"
                        "  <policy user=\"root\"><allow own_prefix=\"org.zlayer\"/></policy>\n"
                        "  <policy group=\"empty\"/>\n");
        p = mfree(p);

        ASSERT_ERROR(launcher_policy_extract("<busconfig></busconfig>", &p), EBADMSG);
        ASSERT_ERROR(launcher_policy_extract("<busconfig><policy user=\"a\"><allow/>", &p),
                     EBADMSG);
        ASSERT_ERROR(launcher_policy_extract("<busconfig><!-- <policy/>", &p), EBADMSG);
        ASSERT_ERROR(launcher_policy_extract("<policy", &p), EBADMSG);
        ASSERT_NULL(p);
}

TEST(bus_config) {
        _cleanup_free_ char *c = NULL, *u = NULL;

        ASSERT_OK(
                launcher_bus_config("/tmp/d&x/bus.sock", "  <policy user=\"root\"/>\n", NULL, &c));
        ASSERT_NOT_NULL(strstr(c, "<type>custom</type>"));
        ASSERT_NOT_NULL(strstr(c, "<listen>unix:path=/tmp/d%26x/bus.sock</listen>"));
        ASSERT_NOT_NULL(strstr(c, "<auth>EXTERNAL</auth>"));
        ASSERT_NOT_NULL(strstr(c, "<policy user=\"root\"/>\n</busconfig>\n"));
        ASSERT_NULL(strstr(c, "own_prefix"));

        ASSERT_OK(launcher_bus_config("/b", "", "a\"b", &u));
        ASSERT_NOT_NULL(strstr(u, "<policy user=\"a&quot;b\">\n"
                                  "    <allow own_prefix=\"org.zlayer\"/>\n"));
        ASSERT_TRUE(endswith(u, "</policy>\n</busconfig>\n") != NULL);
}

TEST(child_env) {
        char *base[] = { (char *) "PATH=/bin",
                         (char *) "NOTIFY_SOCKET=/old",
                         (char *) "ZLAYER_LOG_LEVEL=debug",
                         (char *) "ZLAYER_BUS_ADDRESS=old",
                         (char *) "WATCHDOG_PID=1",
                         (char *) "STATE_DIRECTORY=/x",
                         (char *) "LISTEN_FDS=3",
                         NULL };
        _cleanup_strv_free_ char **env = NULL, **bare = NULL, **empty = NULL;

        ASSERT_OK(launcher_child_env(base, "unix:path=/b", "/d/state", "/d/run", "/d/notify.sock",
                                     30 * USEC_PER_SEC, &env));
        ASSERT_EQ(strv_length(env), 7);
        ASSERT_STREQ(env[0], "PATH=/bin");
        ASSERT_STREQ(env[1], "ZLAYER_LOG_LEVEL=debug");
        ASSERT_STREQ(env[2], "ZLAYER_BUS_ADDRESS=unix:path=/b");
        ASSERT_STREQ(env[3], "ZLAYER_STATE_DIR=/d/state");
        ASSERT_STREQ(env[4], "ZLAYER_RUNTIME_DIR=/d/run");
        ASSERT_STREQ(env[5], "NOTIFY_SOCKET=/d/notify.sock");
        ASSERT_STREQ(env[6], "WATCHDOG_USEC=30000000");

        /* Nothing given: the owned variables are only removed. */
        ASSERT_OK(launcher_child_env(base, NULL, NULL, NULL, NULL, 0, &bare));
        ASSERT_EQ(strv_length(bare), 2);

        ASSERT_OK(launcher_child_env(NULL, NULL, NULL, NULL, NULL, 0, &empty));
        ASSERT_NOT_NULL(empty);
        ASSERT_EQ(strv_length(empty), 0);
}

TEST(default_state_dir) {
        _cleanup_free_ char *d = NULL;

        ASSERT_OK(launcher_default_state_dir(&d));
        if (geteuid() == 0)
                ASSERT_STREQ(d, "/var/lib/zlayer/local");
        else
                ASSERT_TRUE(endswith(d, "/zlayer/local") != NULL);
}

TEST(daemon_dir_layout) {
        _cleanup_free_ char *flat = tmp_path("flat"), *tree = tmp_path("tree"),
                            *none = tmp_path("none"), *f = NULL, *t = NULL, *sub = NULL,
                            *found = NULL;
        bool in_tree = true;

        ASSERT_OK(mkdir_p(flat, 0755));
        ASSERT_OK(mkdir_p(none, 0755));
        f = launcher_daemon_path(flat, false, "zl-runtimed");
        ASSERT_TRUE(startswith(f, flat) && streq(f + strlen(flat), "/zl-runtimed"));
        touch_exec(f);
        sub = strjoin(tree, "/zl-runtimed");
        ASSERT_OK(mkdir_p(sub, 0755));
        t = launcher_daemon_path(tree, true, "zl-runtimed");
        touch_exec(t);

        ASSERT_OK(launcher_daemon_dir_layout(flat, &in_tree));
        ASSERT_FALSE(in_tree);
        ASSERT_OK(launcher_daemon_dir_layout(tree, &in_tree));
        ASSERT_TRUE(in_tree);
        ASSERT_ERROR(launcher_daemon_dir_layout(none, &in_tree), ENOENT);
        /* Present but not executable does not count. */
        ASSERT_EQ(chmod(f, 0644), 0);
        ASSERT_ERROR(launcher_daemon_dir_layout(flat, NULL), ENOENT);

        ASSERT_EQ(setenv("ZLAYER_DAEMON_DIR", tree, 1), 0);
        ASSERT_OK(launcher_find_daemon_dir(&found, &in_tree));
        ASSERT_STREQ(found, tree);
        ASSERT_TRUE(in_tree);
        ASSERT_EQ(setenv("ZLAYER_DAEMON_DIR", none, 1), 0);
        ASSERT_ERROR(launcher_find_daemon_dir(&found, &in_tree), ENOENT);
        ASSERT_EQ(unsetenv("ZLAYER_DAEMON_DIR"), 0);
}

TEST(find_policy) {
        _cleanup_free_ char *p = tmp_path("policy.conf"), *found = NULL, *tree = NULL, *data = NULL,
                            *policies = NULL;

        ASSERT_OK(write_string_file_atomic(p, policy_file, 0644));
        ASSERT_EQ(setenv("ZLAYER_BUS_POLICY", p, 1), 0);
        ASSERT_OK(launcher_find_policy(&found));
        ASSERT_STREQ(found, p);
        ASSERT_EQ(setenv("ZLAYER_BUS_POLICY", "/nonexistent/policy.conf", 1), 0);
        ASSERT_ERROR(launcher_find_policy(&found), ENOENT);
        ASSERT_EQ(unsetenv("ZLAYER_BUS_POLICY"), 0);

        /* The test runs from the build tree: the source tree's file, which must parse. */
        ASSERT_TRUE(launcher_in_build_tree());
        ASSERT_OK(launcher_find_policy(&tree));
        ASSERT_STREQ(tree, ZL_SOURCE_ROOT "/dbus/org.zlayer.conf");
        ASSERT_OK(read_full_file(tree, SIZE_MAX, &data, NULL));
        ASSERT_OK(launcher_policy_extract(data, &policies));
        ASSERT_NOT_NULL(strstr(policies, "<policy user=\"root\">"));
}

TEST(status_read) {
        _cleanup_free_ char *dir = tmp_path("status"), *json = NULL;
        LauncherStatus s = {};

        ASSERT_OK(mkdir_p(dir, 0755));
        ASSERT_ERROR(launcher_status_read(dir, &s), ENOENT);

        json = strjoin(dir, "/launcher.json");
        ASSERT_OK(write_string_file_atomic(
                json,
                "{\"supervisor_pid\": 42, \"bus_address\": \"unix:path=/b\", \"stopping\": false,"
                " \"processes\": ["
                "  {\"name\": \"dbus-daemon\", \"pid\": 43, \"state\": \"ready\","
                "   \"started_at\": 1000, \"restarts\": 0},"
                "  {\"name\": \"zl-runtimed\", \"pid\": 0, \"state\": \"restarting\","
                "   \"started_at\": 0, \"restarts\": 3, \"last_exit\": \"signal=SIGKILL\","
                "   \"status\": \"x\"}]}",
                0644));
        ASSERT_OK(launcher_status_read(dir, &s));
        ASSERT_EQ(s.supervisor_pid, 42);
        ASSERT_STREQ(s.bus_address, "unix:path=/b");
        ASSERT_FALSE(s.stopping);
        ASSERT_EQ(s.n_processes, 2);
        ASSERT_STREQ(s.processes[0].name, "dbus-daemon");
        ASSERT_EQ(s.processes[0].state, CHILD_READY);
        ASSERT_U64_EQ(s.processes[0].started_at, 1000);
        ASSERT_NULL(s.processes[0].last_exit);
        ASSERT_EQ(s.processes[1].state, CHILD_RESTARTING);
        ASSERT_EQ(s.processes[1].restarts, 3);
        ASSERT_STREQ(s.processes[1].last_exit, "signal=SIGKILL");
        ASSERT_STREQ(s.processes[1].status, "x");
        launcher_status_done(&s);
        ASSERT_NULL(s.processes);

        ASSERT_OK(write_string_file_atomic(json,
                                           "{\"processes\": [{\"name\": \"x\", "
                                           "\"state\": \"bogus\"}]}",
                                           0644));
        ASSERT_ERROR(launcher_status_read(dir, &s), EBADMSG);
        ASSERT_OK(write_string_file_atomic(json, "not json", 0644));
        ASSERT_ERROR(launcher_status_read(dir, &s), EBADMSG);
        ASSERT_OK(write_string_file_atomic(json, "{\"processes\": []}", 0644));
        ASSERT_ERROR(launcher_status_read(dir, &s), EBADMSG);
}

TEST(is_running_follows_the_lock) {
        _cleanup_free_ char *dir = tmp_path("lock"), *pidfile = NULL;
        _cleanup_close_ int fd = -EBADF;
        pid_t pid = 0;

        ASSERT_OK(mkdir_p(dir, 0755));
        ASSERT_EQ(launcher_is_running(dir, &pid), 0);

        /* A stale PID file without a lock holder is not a running node. */
        pidfile = strjoin(dir, "/launcher.pid");
        ASSERT_OK(write_string_file_atomic(pidfile, "1\n", 0644));
        ASSERT_EQ(launcher_is_running(dir, &pid), 0);

        fd = open(pidfile, O_RDONLY | O_CLOEXEC);
        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ(flock(fd, LOCK_EX | LOCK_NB), 0);
        ASSERT_EQ(launcher_is_running(dir, &pid), 1);
        ASSERT_EQ(pid, 1);
        fd = safe_close(fd);
        ASSERT_EQ(launcher_is_running(dir, NULL), 0);
}

TEST(leftovers_and_pid_gone) {
        _cleanup_free_ char *dir = tmp_path("node"), *env = NULL;
        _cleanup_free_ pid_t *pids = NULL;
        size_t n = 99;
        pid_t child;
        int status;

        env = strjoin("ZLAYER_STATE_DIR=", dir, "/state");
        ASSERT_OK(launcher_find_leftovers(dir, &pids, &n));
        ASSERT_EQ(n, 0);
        pids = mfree(pids);

        child = fork();
        ASSERT_TRUE(child >= 0);
        if (child == 0) {
                char *argv[] = { (char *) "sleep", (char *) "30", NULL };
                char *envp[] = { env, NULL };

                execve("/bin/sleep", argv, envp);
                _exit(127);
        }
        /* Wait until the exec has happened and the environment is the new one. */
        for (int i = 0; i < 500; i++) {
                ASSERT_OK(launcher_find_leftovers(dir, &pids, &n));
                if (n > 0)
                        break;
                pids = mfree(pids);
                usleep(10 * 1000);
        }
        ASSERT_EQ(n, 1);
        ASSERT_EQ(pids[0], child);
        ASSERT_FALSE(launcher_pid_gone(child));

        ASSERT_EQ(kill(child, SIGKILL), 0);
        /* A zombie holds nothing: it no longer counts. */
        for (int i = 0; i < 500 && !launcher_pid_gone(child); i++)
                usleep(10 * 1000);
        ASSERT_TRUE(launcher_pid_gone(child));
        pids = mfree(pids);
        ASSERT_OK(launcher_find_leftovers(dir, &pids, &n));
        ASSERT_EQ(n, 0);
        ASSERT_EQ(waitpid(child, &status, 0), child);
        ASSERT_TRUE(launcher_pid_gone(child));
}

TEST(read_tail) {
        _cleanup_free_ char *p = tmp_path("log"), *t = NULL, *big = NULL;

        ASSERT_OK(write_string_file_atomic(p, "one\ntwo\nthree\nfour\n\n", 0644));
        ASSERT_OK(read_tail(p, 2, &t));
        ASSERT_STREQ(t, "three\nfour");
        t = mfree(t);
        ASSERT_OK(read_tail(p, 10, &t));
        ASSERT_STREQ(t, "one\ntwo\nthree\nfour");
        t = mfree(t);
        ASSERT_OK(write_string_file_atomic(p, "", 0644));
        ASSERT_OK(read_tail(p, 3, &t));
        ASSERT_STREQ(t, "");
        t = mfree(t);

        /* A large file is read from its end only. */
        big = malloc(200001);
        ASSERT_NOT_NULL(big);
        memset(big, 'x', 200000);
        big[200000] = '\0';
        big[199990] = '\n';
        ASSERT_OK(write_string_file_atomic(p, big, 0644));
        ASSERT_OK(read_tail(p, 1, &t));
        ASSERT_STREQ(t, "xxxxxxxxx");
        ASSERT_ERROR(read_tail("/nonexistent/log", 1, &t), ENOENT);
}
