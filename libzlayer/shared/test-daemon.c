/* SPDX-License-Identifier: Apache-2.0 */
/* test-daemon.c: daemon states, counters, and the parts of the common main that run without a
 * bus (options, --bus-introspect, directories, failing to connect). */
#include <stdio.h>
#include <sys/stat.h>

#include "daemon.h"
#include "fileio.h"
#include "log.h"
#include "path-util.h"
#include "string-util.h"
#include "tests.h"

TEST(state_names) {
        ASSERT_STREQ(zl_daemon_state_to_string(ZL_DAEMON_STARTING), "starting");
        ASSERT_STREQ(zl_daemon_state_to_string(ZL_DAEMON_RUNNING), "running");
        ASSERT_STREQ(zl_daemon_state_to_string(ZL_DAEMON_STOPPING), "stopping");
        ASSERT_STREQ(zl_daemon_state_to_string(ZL_DAEMON_DEGRADED), "degraded");
        ASSERT_NULL(zl_daemon_state_to_string(_ZL_DAEMON_STATE_MAX));
        ASSERT_NULL(zl_daemon_state_to_string(_ZL_DAEMON_STATE_INVALID));
        ASSERT_EQ(zl_daemon_state_from_string("degraded"), ZL_DAEMON_DEGRADED);
        ASSERT_ERROR(zl_daemon_state_from_string("Running"), EINVAL);
        ASSERT_ERROR(zl_daemon_state_from_string(NULL), EINVAL);
}

TEST(counters) {
        _cleanup_(zl_counter_set_freep) ZlCounterSet *s = zl_counter_set_new();
        double v;

        ASSERT_NOT_NULL(s);
        ASSERT_EQ(zl_counter_set_size(s), 0);
        ASSERT_OK(zl_counter_set_put(s, "containers_running", 3));
        ASSERT_OK(zl_counter_set_add(s, "pulls_total", 1));
        ASSERT_OK(zl_counter_set_add(s, "pulls_total", 2.5));
        ASSERT_OK(zl_counter_set_put(s, "containers_running", 4));
        ASSERT_EQ(zl_counter_set_size(s), 2);
        ASSERT_STREQ(zl_counter_set_name(s, 0), "containers_running");
        ASSERT_DOUBLE_EQ(zl_counter_set_value(s, 0), 4);
        ASSERT_STREQ(zl_counter_set_name(s, 1), "pulls_total");
        ASSERT_OK(zl_counter_set_get(s, "pulls_total", &v));
        ASSERT_DOUBLE_EQ(v, 3.5);
        ASSERT_ERROR(zl_counter_set_get(s, "nope", &v), ENOENT);

        /* Names become Prometheus metric names. */
        ASSERT_ERROR(zl_counter_set_put(s, "", 1), EINVAL);
        ASSERT_ERROR(zl_counter_set_put(s, "Upper", 1), EINVAL);
        ASSERT_ERROR(zl_counter_set_put(s, "with-dash", 1), EINVAL);
        ASSERT_ERROR(zl_counter_set_put(s, NULL, 1), EINVAL);
        ASSERT_ERROR(zl_counter_set_put(NULL, "x", 1), EINVAL);
        ASSERT_EQ(zl_counter_set_size(s), 2);

        /* Growing past the first allocation. */
        for (int i = 0; i < 40; i++) {
                char name[32];

                snprintf(name, sizeof name, "c%d", i);
                ASSERT_OK(zl_counter_set_add(s, name, i));
        }
        ASSERT_EQ(zl_counter_set_size(s), 42);
        ASSERT_OK(zl_counter_set_get(s, "c39", &v));
        ASSERT_DOUBLE_EQ(v, 39);
        ASSERT_NULL(zl_counter_set_free(NULL));
}

static const sd_bus_vtable extra_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_SIGNAL_WITH_ARGS("Happened", SD_BUS_ARGS("s", what), 0),
        SD_BUS_VTABLE_END,
};

static const ZlBusObject extra_object = {
        .path = "/org/zlayer/Test1",
        .interface = "org.zlayer.Test1",
        .vtable = extra_vtable,
};

static const ZlBusObject *const extra_objects[] = { &extra_object, NULL };

static const ZlDaemonInfo test_info = {
        .name = "zl-testd",
        .short_name = "test",
        .bus_name = "org.zlayer.Test1",
        .object_path = "/org/zlayer/Test1",
        .description = "A daemon for tests.",
};

static const ZlDaemonDescriptor test_descriptor = {
        .info = &test_info,
        .objects = extra_objects,
};

/* Runs zl_daemon_main with the arguments, stdout and stderr going to files in the test
 * directory; returns the exit status and the output in *ret_out (stdout then stderr). */
static int run_main(const ZlDaemonDescriptor *desc, char **ret_out, char *const *args) {
        char out_path[PATH_MAX], err_path[PATH_MAX];
        _cleanup_free_ char *out = NULL, *err = NULL;
        char *argv[16] = { (char *) "zl-testd" };
        int argc = 1, saved_out, saved_err, status;
        LogTarget saved_target = log_get_target();

        for (; args && args[argc - 1]; argc++) {
                ASSERT_LT(argc, (int) ELEMENTSOF(argv) - 1);
                argv[argc] = args[argc - 1];
        }

        snprintf(out_path, sizeof out_path, "%s/stdout", test_tmpdir());
        snprintf(err_path, sizeof err_path, "%s/stderr", test_tmpdir());
        fflush(stdout);
        fflush(stderr);
        saved_out = dup(STDOUT_FILENO);
        saved_err = dup(STDERR_FILENO);
        ASSERT_NOT_NULL(freopen(out_path, "w", stdout));
        ASSERT_NOT_NULL(freopen(err_path, "w", stderr));
        log_set_target(LOG_TARGET_STDERR);

        status = zl_daemon_main(desc, argc, argv);

        fflush(stdout);
        fflush(stderr);
        ASSERT_OK(dup2(saved_out, STDOUT_FILENO));
        ASSERT_OK(dup2(saved_err, STDERR_FILENO));
        close(saved_out);
        close(saved_err);
        log_set_target(saved_target);
        log_set_max_level(LOG_INFO);

        ASSERT_OK(read_full_file(out_path, SIZE_MAX, &out, NULL));
        ASSERT_OK(read_full_file(err_path, SIZE_MAX, &err, NULL));
        *ret_out = strjoin(out, err);
        ASSERT_NOT_NULL(*ret_out);
        return status;
}

#define RUN(out, ...) run_main(&test_descriptor, &(out), (char *const[]){ __VA_ARGS__, NULL })

TEST(help_and_version) {
        _cleanup_free_ char *out = NULL;

        ASSERT_EQ(RUN(out, (char *) "--help"), 0);
        ASSERT_NOT_NULL(strstr(out, "zl-testd [OPTIONS...]\n\nA daemon for tests.\n"));
        ASSERT_NOT_NULL(strstr(out, "--bus-introspect=IFACE"));
        ASSERT_NOT_NULL(strstr(out, "ZLAYER_BUS_ADDRESS"));
        ASSERT_NOT_NULL(strstr(out, "Owns the bus name org.zlayer.Test1"));
        ASSERT_NOT_NULL(strstr(out, "Also serves org.zlayer.Test1 at /org/zlayer/Test1."));
        out = mfree(out);

        ASSERT_EQ(RUN(out, (char *) "--version"), 0);
        ASSERT_STREQ(out, "zl-testd " PROJECT_VERSION "\n");
}

TEST(bus_introspect) {
        _cleanup_free_ char *out = NULL;

        ASSERT_EQ(RUN(out, (char *) "--bus-introspect=org.zlayer.Daemon1"), 0);
        ASSERT_NOT_NULL(strstr(out, "<interface name=\"org.zlayer.Daemon1\">"));
        ASSERT_NOT_NULL(strstr(out, "<property name=\"StartedAt\" type=\"t\" access=\"read\">"));
        out = mfree(out);

        ASSERT_EQ(RUN(out, (char *) "--bus-introspect=org.zlayer.Test1"), 0);
        ASSERT_NOT_NULL(
                strstr(out, "<signal name=\"Happened\">\n   <arg type=\"s\" name=\"what\"/>"));
        out = mfree(out);

        ASSERT_EQ(RUN(out, (char *) "--bus-introspect=org.zlayer.Nope1"), 1);
        ASSERT_STREQ(out, "zl-testd: Unknown interface 'org.zlayer.Nope1'; zl-testd implements "
                          "org.zlayer.Daemon1, org.zlayer.Test1.\n");
}

TEST(bad_options) {
        _cleanup_free_ char *out = NULL;

        ASSERT_EQ(RUN(out, (char *) "--frobnicate"), 1);
        ASSERT_STREQ(out, "zl-testd: Unknown option '--frobnicate'. See --help.\n");
        out = mfree(out);
        ASSERT_EQ(RUN(out, (char *) "--state-dir"), 1);
        ASSERT_STREQ(out, "zl-testd: Option '--state-dir' needs an argument.\n");
        out = mfree(out);
        ASSERT_EQ(RUN(out, (char *) "--state-dir=relative/dir"), 1);
        ASSERT_STREQ(out, "zl-testd: --state-dir needs an absolute path, got 'relative/dir'.\n");
        out = mfree(out);
        ASSERT_EQ(RUN(out, (char *) "--log-level=loud"), 1);
        ASSERT_STREQ(out, "zl-testd: Invalid log level 'loud'.\n");
        out = mfree(out);
        ASSERT_EQ(RUN(out, (char *) "extra"), 1);
        ASSERT_STREQ(out, "zl-testd: zl-testd takes no arguments, got 'extra'.\n");
}

TEST(invalid_descriptor) {
        ZlDaemonDescriptor d = test_descriptor;
        ZlDaemonInfo info = test_info;
        _cleanup_free_ char *out = NULL;

        d.info = &info;
        info.bus_name = "not a bus name";
        ASSERT_EQ(run_main(&d, &out, NULL), 1);
        out = mfree(out);
        info = test_info;
        info.short_name = "a/b";
        ASSERT_EQ(run_main(&d, &out, NULL), 1);
        out = mfree(out);
        info.short_name = "..";
        ASSERT_EQ(run_main(&d, &out, NULL), 1);
        out = mfree(out);
        info = test_info;
        info.object_path = "/trailing/";
        ASSERT_EQ(run_main(&d, &out, NULL), 1);
        out = mfree(out);
        d.info = NULL;
        ASSERT_EQ(run_main(&d, &out, NULL), 1);
        out = mfree(out);
        ASSERT_EQ(zl_daemon_main(NULL, 0, NULL), 1);
}

TEST(directories_then_no_bus) {
        _cleanup_free_ char *out = NULL, *state = NULL, *runtime = NULL, *arg_state = NULL,
                            *arg_runtime = NULL, *addr = NULL, *sub = NULL, *list = NULL;
        struct stat st;

        state = path_join(test_tmpdir(), "state");
        runtime = path_join(test_tmpdir(), "env-runtime");
        ASSERT_NOT_NULL(state);
        ASSERT_NOT_NULL(runtime);
        arg_state = strjoin("--state-dir=", state);
        ASSERT_NOT_NULL(arg_state);
        /* The runtime directory from the environment, the state directory from the option. */
        ASSERT_OK(setenv("ZLAYER_RUNTIME_DIR", runtime, 1));
        ASSERT_OK(setenv("ZLAYER_STATE_DIR", "/nonexistent/never-used", 1));
        addr = strjoin("unix:path=", test_tmpdir(), "/no-bus.sock");
        ASSERT_NOT_NULL(addr);
        ASSERT_OK(setenv("ZLAYER_BUS_ADDRESS", addr, 1));

        ASSERT_EQ(RUN(out, arg_state), 1);
        ASSERT_NOT_NULL(strstr(out, "Failed to connect to the bus at 'unix:path="));

        sub = path_join(state, "test");
        ASSERT_OK(stat(sub, &st));
        ASSERT_TRUE(S_ISDIR(st.st_mode));
        ASSERT_EQ(st.st_mode & 07777, 0700);
        sub = mfree(sub);
        sub = path_join(runtime, "test");
        ASSERT_OK(stat(sub, &st));
        ASSERT_EQ(st.st_mode & 07777, 0700);
        ASSERT_TRUE(access("/nonexistent/never-used", F_OK) < 0);

        /* An existing directory with looser bits is made private again. */
        ASSERT_OK(chmod(sub, 0755));
        out = mfree(out);
        ASSERT_EQ(RUN(out, arg_state), 1);
        ASSERT_OK(stat(sub, &st));
        ASSERT_EQ(st.st_mode & 07777, 0700);

        /* systemd's variables when ours are unset: the first of a colon-separated list. */
        ASSERT_OK(unsetenv("ZLAYER_RUNTIME_DIR"));
        arg_runtime = path_join(test_tmpdir(), "systemd-runtime");
        ASSERT_NOT_NULL(arg_runtime);
        list = strjoin(arg_runtime, ":/nonexistent/second");
        ASSERT_NOT_NULL(list);
        ASSERT_OK(setenv("RUNTIME_DIRECTORY", list, 1));
        out = mfree(out);
        ASSERT_EQ(RUN(out, arg_state), 1);
        sub = mfree(sub);
        sub = path_join(arg_runtime, "test");
        ASSERT_OK(stat(sub, &st));

        ASSERT_OK(unsetenv("RUNTIME_DIRECTORY"));
        ASSERT_OK(unsetenv("ZLAYER_STATE_DIR"));
        ASSERT_OK(unsetenv("ZLAYER_BUS_ADDRESS"));
}
