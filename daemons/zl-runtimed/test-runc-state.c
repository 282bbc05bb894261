/* SPDX-License-Identifier: Apache-2.0 */
/* test-runc-state.c: zl-runc's state.json round trip, status from pid and start time, ids,
 * timestamps, listing, and the signal names zl-runc kill accepts. */
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "fileio.h"
#include "path-util.h"
#include "runc-state.h"
#include "signal-util.h"
#include "string-util.h"
#include "tests.h"

static RuncState *state_new(const char *id, pid_t pid, uint64_t start_time) {
        RuncState *s = calloc(1, sizeof(RuncState));

        ASSERT_NOT_NULL(s);
        s->id = strdup(id);
        s->bundle = strdup("/srv/bundle");
        s->rootfs = strdup("/srv/bundle/rootfs");
        ASSERT_TRUE(s->id && s->bundle && s->rootfs);
        s->pid = pid;
        s->start_time = start_time;
        s->created_nsec = UINT64_C(1795615920123456789);
        return s;
}

TEST(ids) {
        ASSERT_TRUE(runc_id_is_valid("abc"));
        ASSERT_TRUE(runc_id_is_valid("a-b_c.d+e9"));
        ASSERT_TRUE(runc_id_is_valid("..."));
        ASSERT_FALSE(runc_id_is_valid(""));
        ASSERT_FALSE(runc_id_is_valid(NULL));
        ASSERT_FALSE(runc_id_is_valid("."));
        ASSERT_FALSE(runc_id_is_valid(".."));
        ASSERT_FALSE(runc_id_is_valid("a/b"));
        ASSERT_FALSE(runc_id_is_valid("a b"));
        ASSERT_FALSE(runc_id_is_valid("a:b"));

        char long_id[1026];
        memset(long_id, 'x', sizeof(long_id) - 1);
        long_id[1025] = '\0';
        ASSERT_FALSE(runc_id_is_valid(long_id));
        long_id[1024] = '\0';
        ASSERT_TRUE(runc_id_is_valid(long_id));
}

TEST(status_names) {
        ASSERT_STREQ(runc_status_to_string(RUNC_STATUS_CREATED), "created");
        ASSERT_STREQ(runc_status_to_string(RUNC_STATUS_RUNNING), "running");
        ASSERT_STREQ(runc_status_to_string(RUNC_STATUS_PAUSED), "paused");
        ASSERT_STREQ(runc_status_to_string(RUNC_STATUS_STOPPED), "stopped");
        ASSERT_NULL(runc_status_to_string(_RUNC_STATUS_MAX));
        ASSERT_NULL(runc_status_to_string(_RUNC_STATUS_INVALID));
}

TEST(round_trip) {
        _cleanup_(runc_state_freep) RuncState *s = NULL, *t = NULL, *u = NULL;
        _cleanup_free_ char *dir = NULL;

        s = state_new("c1", 4242, 987654321);
        s->cgroup_path = strdup("zl-runc/c1");
        s->paused = true;
        s->annotations = json_pack("{s:s}", "org.example", "yes");
        ASSERT_TRUE(s->cgroup_path && s->annotations);

        dir = runc_state_dir(test_tmpdir(), "c1");
        ASSERT_NOT_NULL(dir);
        ASSERT_ERROR(runc_state_load(dir, &t), ENOENT);
        ASSERT_OK(mkdir(dir, 0700));
        ASSERT_ERROR(runc_state_load(dir, &t), ENOENT);
        ASSERT_OK(runc_state_save(dir, s));
        ASSERT_OK(runc_state_load(dir, &t));
        ASSERT_STREQ(t->id, "c1");
        ASSERT_EQ(t->pid, 4242);
        ASSERT_U64_EQ(t->start_time, 987654321);
        ASSERT_STREQ(t->bundle, "/srv/bundle");
        ASSERT_STREQ(t->rootfs, "/srv/bundle/rootfs");
        ASSERT_U64_EQ(t->created_nsec, UINT64_C(1795615920123456789));
        ASSERT_STREQ(t->cgroup_path, "zl-runc/c1");
        ASSERT_TRUE(t->paused);
        ASSERT_STREQ(json_string_value(json_object_get(t->annotations, "org.example")), "yes");

        /* Optional fields stay absent; saving again replaces the file. */
        t->paused = false;
        t->cgroup_path = mfree(t->cgroup_path);
        json_decref(t->annotations);
        t->annotations = NULL;
        ASSERT_OK(runc_state_save(dir, t));
        ASSERT_OK(runc_state_load(dir, &u));
        ASSERT_FALSE(u->paused);
        ASSERT_NULL(u->cgroup_path);
        ASSERT_NULL(u->annotations);
}

static void check_bad_state(const char *text) {
        _cleanup_(json_decrefp) json_t *j = json_loads(text, 0, NULL);
        RuncState *s = NULL;

        ASSERT_NOT_NULL(j);
        ASSERT_ERROR(runc_state_from_json(j, &s), EINVAL);
        ASSERT_NULL(s);
}

TEST(bad_state) {
        check_bad_state("[]");
        check_bad_state("{}");
        check_bad_state("{\"id\":\"a/b\",\"pid\":1,\"startTime\":1,\"bundle\":\"/b\",\"rootfs\":"
                        "\"/r\",\"created\":1}");
        check_bad_state("{\"id\":\"a\",\"pid\":0,\"startTime\":1,\"bundle\":\"/b\",\"rootfs\":"
                        "\"/r\",\"created\":1}");
        check_bad_state("{\"id\":\"a\",\"pid\":-3,\"startTime\":1,\"bundle\":\"/b\",\"rootfs\":"
                        "\"/r\",\"created\":1}");
        check_bad_state("{\"id\":\"a\",\"pid\":1,\"startTime\":\"x\",\"bundle\":\"/b\","
                        "\"rootfs\":\"/r\",\"created\":1}");
        check_bad_state("{\"id\":\"a\",\"pid\":1,\"startTime\":1,\"bundle\":3,\"rootfs\":\"/r\","
                        "\"created\":1}");
        check_bad_state("{\"id\":\"a\",\"pid\":1,\"startTime\":1,\"bundle\":\"/b\",\"rootfs\":"
                        "\"/r\",\"created\":1,\"paused\":\"no\"}");
        check_bad_state("{\"id\":\"a\",\"pid\":1,\"startTime\":1,\"bundle\":\"/b\",\"rootfs\":"
                        "\"/r\",\"created\":1,\"annotations\":[]}");

        /* A corrupt file is -EINVAL, not a crash. */
        _cleanup_(runc_state_freep) RuncState *s = NULL;
        _cleanup_free_ char *dir = path_join(test_tmpdir(), "corrupt"), *f = NULL;
        ASSERT_NOT_NULL(dir);
        ASSERT_OK(mkdir(dir, 0700));
        f = path_join(dir, RUNC_STATE_FILE);
        ASSERT_OK(write_string_file_atomic(f, "{\"id\":", 0600));
        ASSERT_ERROR(runc_state_load(dir, &s), EINVAL);
}

TEST(proc_stat_parse) {
        char st = 0;
        uint64_t t = 0;

        ASSERT_OK(proc_stat_parse("1 (init) S 0 1 1 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 1 0 42 1000 "
                                  "50\n",
                                  &st, &t));
        ASSERT_EQ(st, 'S');
        ASSERT_U64_EQ(t, 42);
        /* A command with spaces and parentheses of its own. */
        ASSERT_OK(proc_stat_parse("77 (a) b (c) Z 1 77 77 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 "
                                  "18446744073709551615 0 0",
                                  &st, &t));
        ASSERT_EQ(st, 'Z');
        ASSERT_U64_EQ(t, UINT64_MAX);
        ASSERT_OK(proc_stat_parse("5 (x) R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 99", NULL,
                                  &t));
        ASSERT_U64_EQ(t, 99);
        ASSERT_ERROR(proc_stat_parse("", &st, &t), EINVAL);
        ASSERT_ERROR(proc_stat_parse("1 (init", &st, &t), EINVAL);
        ASSERT_ERROR(proc_stat_parse("1 (init) S 0 1", &st, &t), EINVAL);
        ASSERT_ERROR(
                proc_stat_parse("1 (init) S 0 1 1 0 -1 0 1 2 3 4 5 6 7 8 20 0 1 0 x 1", &st, &t),
                EINVAL);
        ASSERT_ERROR(
                proc_stat_parse("1 (init) S 0 1 1 0 -1 0 1 2 3 4 5 6 7 8 20 0 1 0 12x 1", &st, &t),
                EINVAL);
}

TEST(status_from_pid_and_start_time) {
        _cleanup_(runc_state_freep) RuncState *s = NULL;
        _cleanup_free_ char *dir = NULL, *fifo = NULL;
        uint64_t t;
        char st;

        ASSERT_OK(proc_pid_stat(getpid(), &st, &t));
        ASSERT_EQ(st, 'R');
        ASSERT_EQ(proc_pid_is_alive(getpid(), t), 1);
        /* The same pid with another start time is a reused pid: not ours. */
        ASSERT_EQ(proc_pid_is_alive(getpid(), t + 1), 0);
        ASSERT_ERROR(proc_pid_stat(0, &st, &t), ESRCH);
        ASSERT_ERROR(proc_pid_stat(INT32_MAX, &st, &t), ESRCH);
        ASSERT_EQ(proc_pid_is_alive(INT32_MAX, 1), 0);

        dir = runc_state_dir(test_tmpdir(), "st");
        fifo = path_join(dir, RUNC_EXEC_FIFO);
        ASSERT_TRUE(dir && fifo);
        ASSERT_OK(mkdir(dir, 0700));

        ASSERT_OK(proc_pid_stat(getpid(), NULL, &t));
        s = state_new("st", getpid(), t);
        ASSERT_EQ(runc_state_status(s, dir), RUNC_STATUS_RUNNING);
        s->paused = true;
        ASSERT_EQ(runc_state_status(s, dir), RUNC_STATUS_PAUSED);
        s->paused = false;
        ASSERT_OK(mkfifo(fifo, 0622));
        ASSERT_EQ(runc_state_status(s, dir), RUNC_STATUS_CREATED);
        ASSERT_OK(unlink(fifo));
        s->start_time = t + 1;
        ASSERT_EQ(runc_state_status(s, dir), RUNC_STATUS_STOPPED);
}

/* A zombie has exited: stopped, even before its parent reaps it. */
TEST(zombie_is_stopped) {
        /* Fork before allocating anything, so the child has nothing to leak under valgrind. */
        pid_t child = fork();
        uint64_t t;
        char st = 0;

        ASSERT_OK(child);
        if (child == 0)
                _exit(0);

        _cleanup_(runc_state_freep) RuncState *s = NULL;
        _cleanup_free_ char *dir = runc_state_dir(test_tmpdir(), "zombie");

        ASSERT_NOT_NULL(dir);
        ASSERT_OK(proc_pid_stat(child, NULL, &t));
        s = state_new("zombie", child, t);
        for (int i = 0; i < 5000; i++) {
                ASSERT_OK(proc_pid_stat(child, &st, NULL));
                if (st == 'Z')
                        break;
                usleep(1000);
        }
        ASSERT_EQ(st, 'Z');
        ASSERT_EQ(runc_state_status(s, dir), RUNC_STATUS_STOPPED);
        ASSERT_EQ(waitpid(child, NULL, 0), child);
        ASSERT_EQ(runc_state_status(s, dir), RUNC_STATUS_STOPPED);
}

TEST(timestamps) {
        char buf[RUNC_TIMESTAMP_MAX];

        ASSERT_STREQ(runc_format_timestamp(0, buf, sizeof(buf)), "1970-01-01T00:00:00Z");
        ASSERT_STREQ(runc_format_timestamp(UINT64_C(1795615920123456789), buf, sizeof(buf)),
                     "2026-11-25T14:12:00.123456789Z");
        ASSERT_STREQ(runc_format_timestamp(UINT64_C(1795615920120000000), buf, sizeof(buf)),
                     "2026-11-25T14:12:00.12Z");
        ASSERT_STREQ(runc_format_timestamp(UINT64_C(1795615920000000001), buf, sizeof(buf)),
                     "2026-11-25T14:12:00.000000001Z");
        ASSERT_NULL(runc_format_timestamp(0, buf, 10));
}

TEST(oci_state_json) {
        _cleanup_(runc_state_freep) RuncState *s = state_new("web", 99, 1);
        _cleanup_(json_decrefp) json_t *j = NULL, *k = NULL;

        ASSERT_OK(runc_state_to_oci_json(s, RUNC_STATUS_RUNNING, &j));
        ASSERT_STREQ(json_string_value(json_object_get(j, "ociVersion")), RUNC_OCI_VERSION);
        ASSERT_STREQ(json_string_value(json_object_get(j, "id")), "web");
        ASSERT_EQ(json_integer_value(json_object_get(j, "pid")), 99);
        ASSERT_STREQ(json_string_value(json_object_get(j, "status")), "running");
        ASSERT_STREQ(json_string_value(json_object_get(j, "bundle")), "/srv/bundle");
        ASSERT_STREQ(json_string_value(json_object_get(j, "rootfs")), "/srv/bundle/rootfs");
        ASSERT_STREQ(json_string_value(json_object_get(j, "created")),
                     "2026-11-25T14:12:00.123456789Z");
        ASSERT_STREQ(json_string_value(json_object_get(j, "owner")), "");
        ASSERT_NULL(json_object_get(j, "annotations"));

        /* A stopped container has no pid any more. */
        s->annotations = json_pack("{s:s}", "a", "b");
        ASSERT_OK(runc_state_to_oci_json(s, RUNC_STATUS_STOPPED, &k));
        ASSERT_EQ(json_integer_value(json_object_get(k, "pid")), 0);
        ASSERT_STREQ(json_string_value(json_object_get(k, "status")), "stopped");
        ASSERT_STREQ(json_string_value(json_object_get(json_object_get(k, "annotations"), "a")),
                     "b");
        ASSERT_ERROR(runc_state_to_oci_json(s, _RUNC_STATUS_MAX, &j), EINVAL);
}

TEST(list) {
        _cleanup_free_ char *root = path_join(test_tmpdir(), "root"), *a = NULL, *b = NULL,
                            *f = NULL, *missing = NULL;
        _cleanup_strv_free_ char **l = NULL, **m = NULL;

        ASSERT_NOT_NULL(root);
        a = path_join(root, "zeta");
        b = path_join(root, "alpha");
        f = path_join(root, "not-a-dir");
        missing = path_join(root, "missing");
        ASSERT_TRUE(a && b && f && missing);
        ASSERT_OK(mkdir(root, 0700));
        ASSERT_OK(mkdir(a, 0700));
        ASSERT_OK(mkdir(b, 0700));
        ASSERT_OK(write_string_file_atomic(f, "", 0600));
        ASSERT_OK(runc_state_list(root, &l));
        ASSERT_EQ(strv_length(l), 2);
        ASSERT_STREQ(l[0], "alpha");
        ASSERT_STREQ(l[1], "zeta");
        ASSERT_OK(runc_state_list(missing, &m));
        ASSERT_EQ(strv_length(m), 0);
}

/* zl-runc kill takes signals as runc does: names with or without SIG, any case, numbers. */
TEST(kill_signal_names) {
        ASSERT_EQ(signal_from_string("KILL"), SIGKILL);
        ASSERT_EQ(signal_from_string("SIGKILL"), SIGKILL);
        ASSERT_EQ(signal_from_string("term"), SIGTERM);
        ASSERT_EQ(signal_from_string("9"), SIGKILL);
        ASSERT_EQ(signal_from_string("SIGRTMIN+1"), 35);
        ASSERT_ERROR(signal_from_string("0"), EINVAL);
        ASSERT_ERROR(signal_from_string("65"), EINVAL);
        ASSERT_ERROR(signal_from_string("SIGFOO"), EINVAL);
        ASSERT_ERROR(signal_from_string(""), EINVAL);
}
