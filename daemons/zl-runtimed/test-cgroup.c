/* SPDX-License-Identifier: Apache-2.0 */
/* test-cgroup.c: the cgroup interface on this host's real hierarchies (v1 or hybrid): limits,
 * attaching a process, stats, OOM and pids enforcement, freeze, kill, destroy. */
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cgroup.h"
#include "fileio.h"
#include "path-util.h"
#include "string-util.h"
#include "tests.h"

static const char *const hierarchies[] = { "cpu",     "cpuacct", "cpuset", "memory",
                                           "devices", "freezer", "pids",   "unified" };
static char test_parent[64];

static CgroupMode host_mode(void) {
        CgroupMode m = cgroup_detect(NULL);

        if (geteuid() != 0)
                test_skip("needs root");
        if (m != CGROUP_MODE_V1 && m != CGROUP_MODE_HYBRID)
                test_skip(
                        "host has no cgroup v1 hierarchies (pure v2 is covered by test-cgroup-v2)");
        return m;
}

static char *hier_path(const char *hier, const char *sub) {
        char *p = path_join(CGROUP_ROOT_DEFAULT, hier, test_parent, sub);

        ASSERT_NOT_NULL(p);
        return p;
}

static char *read_cg(const char *hier, const char *sub, const char *file) {
        _cleanup_free_ char *dir = hier_path(hier, sub), *p = path_join(dir, file);
        char *s = NULL;

        ASSERT_NOT_NULL(p);
        ASSERT_OK(read_full_file(p, SIZE_MAX, &s, NULL));
        return strstrip(s);
}

static bool exists_in(const char *hier, const char *sub) {
        _cleanup_free_ char *p = hier_path(hier, sub);

        return access(p, F_OK) >= 0;
}

/* Runs at exit, also after a failed assertion: thaws, kills and removes everything below the
 * test's parent cgroup in every hierarchy. */
static int remove_dir(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) st;
        (void) ftw;
        if (flag == FTW_DP)
                (void) rmdir(path);
        return 0;
}

static int kill_dir(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        _cleanup_free_ char *procs = NULL, *data = NULL, *freezer = NULL, *freeze = NULL;

        (void) st;
        (void) ftw;
        if (flag != FTW_D && flag != FTW_DP)
                return 0;
        freezer = path_join(path, "freezer.state");
        freeze = path_join(path, "cgroup.freeze");
        procs = path_join(path, "cgroup.procs");
        if (!freezer || !freeze || !procs)
                return 0;
        {
                int fd = open(freezer, O_WRONLY | O_CLOEXEC);
                if (fd >= 0) {
                        (void) !write(fd, "THAWED", 6);
                        close(fd);
                }
                fd = open(freeze, O_WRONLY | O_CLOEXEC);
                if (fd >= 0) {
                        (void) !write(fd, "0", 1);
                        close(fd);
                }
        }
        if (read_full_file(procs, SIZE_MAX, &data, NULL) >= 0)
                for (char *l = strtok(data, "\n"); l; l = strtok(NULL, "\n"))
                        (void) kill(atoi(l), SIGKILL);
        return 0;
}

static void cleanup_all(void) {
        for (size_t i = 0; i < ELEMENTSOF(hierarchies); i++) {
                _cleanup_free_ char *p =
                        path_join(CGROUP_ROOT_DEFAULT, hierarchies[i], test_parent);

                if (!p || access(p, F_OK) < 0)
                        continue;
                (void) nftw(p, kill_dir, 16, FTW_PHYS | FTW_DEPTH);
        }
        while (waitpid(-1, NULL, 0) > 0)
                ;
        for (size_t i = 0; i < ELEMENTSOF(hierarchies); i++) {
                _cleanup_free_ char *p =
                        path_join(CGROUP_ROOT_DEFAULT, hierarchies[i], test_parent);

                if (!p || access(p, F_OK) < 0)
                        continue;
                for (int tries = 0;
                     tries < 100 && nftw(p, remove_dir, 16, FTW_PHYS | FTW_DEPTH) >= 0 &&
                     access(p, F_OK) >= 0;
                     tries++)
                        usleep(10000);
        }
}

static void __attribute__((constructor)) setup(void) {
        (void) snprintf(test_parent, sizeof(test_parent), "zlayer-test-cgroup-%d", (int) getpid());
        (void) atexit(cleanup_all);
        /* Orphaned grandchildren come back to us, so nothing lingers as a zombie in a cgroup. */
        (void) prctl(PR_SET_CHILD_SUBREAPER, 1);
}

static char *child_path(const char *name) {
        char *p = path_join(test_parent, name);

        ASSERT_NOT_NULL(p);
        return p;
}

/* A child that waits for a byte on fd before running f, so the parent can move it first. */
static pid_t fork_gated(int *ret_gate, int (*f)(void)) {
        int p[2];
        pid_t pid;

        ASSERT_OK(pipe2(p, O_CLOEXEC));
        pid = fork();
        ASSERT_OK(pid);
        if (pid == 0) {
                char c;

                close(p[1]);
                if (read(p[0], &c, 1) != 1)
                        _exit(100);
                _exit(f());
        }
        close(p[0]);
        *ret_gate = p[1];
        return pid;
}

static void open_gate(int fd) {
        ASSERT_EQ(write(fd, "x", 1), 1);
        close(fd);
}

static int sleep_forever(void) {
        for (;;)
                pause();
        return 0;
}

static int sleep_with_children(void) {
        for (int i = 0; i < 5; i++)
                if (fork() == 0)
                        for (;;)
                                pause();
        for (;;)
                pause();
        return 0;
}

static void wait_unpopulated(Cgroup *cg) {
        for (int i = 0; i < 2000; i++) {
                int r = cgroup_is_populated(cg);

                ASSERT_OK(r);
                if (r == 0)
                        return;
                usleep(1000);
        }
        test_fail(__FILE__, __LINE__, "cgroup still populated");
}

static void assert_killed(pid_t pid) {
        int status;

        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        if (!WIFSIGNALED(status))
                test_fail(__FILE__, __LINE__, "pid %d was not killed: status 0x%x", (int) pid,
                          (unsigned) status);
        ASSERT_EQ(WTERMSIG(status), SIGKILL);
}

TEST(detect) {
        CgroupMode m = host_mode();

        ASSERT_NOT_NULL(cgroup_mode_to_string(m));
        ASSERT_STREQ(cgroup_mode_to_string(CGROUP_MODE_HYBRID), "hybrid");
        ASSERT_NULL(cgroup_mode_to_string(_CGROUP_MODE_MAX));
        /* A directory that holds no cgroup mounts. */
        ASSERT_ERROR(cgroup_detect(test_tmpdir()), ENOMEDIUM);
        ASSERT_ERROR(cgroup_detect("/nonexistent-zlayer"), ENOENT);
}

static void lifecycle(CgroupMode mode, const char *name, pid_t (*spawn)(int *)) {
        static const CgroupDeviceRule rules[] = {
                { .allow = true, .type = 'c', .major = 1, .minor = 3, .access = "rwm" },
                { .allow = true, .type = 'c', .major = 1, .minor = -1, .access = "r" },
        };
        CgroupLimits l = CGROUP_LIMITS_INIT;
        _cleanup_(cgroup_freep) Cgroup *cg = NULL, *again = NULL;
        _cleanup_free_ char *path = child_path(name), *s = NULL;
        const char *reason = NULL;
        CgroupStats st;
        pid_t pid;
        int gate;

        l.cpu_quota_usec = 20000;
        l.cpu_shares = 512;
        l.cpuset_cpus = "0";
        l.cpuset_mems = "0";
        l.memory_limit_bytes = 64 * 1024 * 1024;
        l.memory_swap_bytes = 64 * 1024 * 1024;
        l.pids_limit = 16;
        l.devices_set = true;
        l.devices = rules;
        l.n_devices = ELEMENTSOF(rules);

        ASSERT_OK(cgroup_new(NULL, mode, path, &l, &reason, &cg));
        ASSERT_EQ(cgroup_get_mode(cg), mode);
        ASSERT_STREQ(cgroup_get_path(cg), path);
        ASSERT_ERROR(cgroup_new(NULL, mode, path, NULL, NULL, &again), EEXIST);

        s = read_cg("cpu", name, "cpu.cfs_quota_us");
        ASSERT_STREQ(s, "20000");
        free(s);
        s = read_cg("cpu", name, "cpu.cfs_period_us");
        ASSERT_STREQ(s, "100000");
        free(s);
        s = read_cg("cpu", name, "cpu.shares");
        ASSERT_STREQ(s, "512");
        free(s);
        s = read_cg("cpuset", name, "cpuset.cpus");
        ASSERT_STREQ(s, "0");
        free(s);
        s = read_cg("memory", name, "memory.limit_in_bytes");
        ASSERT_STREQ(s, "67108864");
        free(s);
        s = read_cg("memory", name, "memory.memsw.limit_in_bytes");
        ASSERT_STREQ(s, "67108864");
        free(s);
        s = read_cg("pids", name, "pids.max");
        ASSERT_STREQ(s, "16");
        free(s);
        s = read_cg("devices", name, "devices.list");
        ASSERT_STREQ(s, "c 1:3 rwm\nc 1:* r");
        free(s);
        s = NULL;

        /* Raising the limits later orders the memory writes the kernel accepts. */
        l = CGROUP_LIMITS_INIT;
        l.memory_limit_bytes = 128 * 1024 * 1024;
        l.memory_swap_bytes = 256 * 1024 * 1024;
        l.cpu_quota_usec = CGROUP_LIMIT_MAX;
        l.pids_limit = CGROUP_LIMIT_MAX;
        ASSERT_OK(cgroup_apply(cg, &l, &reason));
        s = read_cg("memory", name, "memory.limit_in_bytes");
        ASSERT_STREQ(s, "134217728");
        free(s);
        s = read_cg("cpu", name, "cpu.cfs_quota_us");
        ASSERT_STREQ(s, "-1");
        free(s);
        s = read_cg("pids", name, "pids.max");
        ASSERT_STREQ(s, "max");
        free(s);
        s = NULL;
        l.memory_limit_bytes = 8 * 1024 * 1024;
        l.memory_swap_bytes = 8 * 1024 * 1024;
        ASSERT_OK(cgroup_apply(cg, &l, &reason));
        s = read_cg("memory", name, "memory.memsw.limit_in_bytes");
        ASSERT_STREQ(s, "8388608");
        s = mfree(s);
        l.memory_limit_bytes = 64 * 1024 * 1024;
        l.memory_swap_bytes = 64 * 1024 * 1024;
        ASSERT_OK(cgroup_apply(cg, &l, &reason));

        ASSERT_EQ(cgroup_is_populated(cg), 0);
        pid = spawn(&gate);
        ASSERT_OK(cgroup_add_pid(cg, pid));
        open_gate(gate);
        ASSERT_EQ(cgroup_is_populated(cg), 1);

        {
                _cleanup_free_ char *p = NULL;
                char buf[64];

                (void) snprintf(buf, sizeof(buf), "/proc/%d/cgroup", (int) pid);
                ASSERT_OK(read_full_file(buf, SIZE_MAX, &p, NULL));
                ASSERT_NOT_NULL(strstr(p, path));
        }

        /* Reopening (as after a daemon restart) finds the same cgroup. */
        ASSERT_OK(cgroup_open(NULL, mode, path, &again));
        ASSERT_EQ(cgroup_is_populated(again), 1);
        again = cgroup_free(again);

        ASSERT_OK(cgroup_get_stats(cg, &st));
        ASSERT_NE(st.cpu_usage_usec, CGROUP_STAT_UNKNOWN);
        ASSERT_NE(st.cpu_nr_periods, CGROUP_STAT_UNKNOWN);
        ASSERT_NE(st.memory_current_bytes, CGROUP_STAT_UNKNOWN);
        ASSERT_NE(st.memory_peak_bytes, CGROUP_STAT_UNKNOWN);
        ASSERT_U64_EQ(st.oom_kill_count, 0);
        ASSERT_GE(st.pids_current, 1);

        ASSERT_ERROR(cgroup_destroy(cg), EBUSY);

        ASSERT_OK(cgroup_freeze(cg));
        if (mode == CGROUP_MODE_V1) {
                s = read_cg("freezer", name, "freezer.state");
                ASSERT_STREQ(s, "FROZEN");
                s = mfree(s);
        }
        ASSERT_OK(cgroup_thaw(cg));
        if (mode == CGROUP_MODE_V1) {
                s = read_cg("freezer", name, "freezer.state");
                ASSERT_STREQ(s, "THAWED");
                s = mfree(s);
        }

        ASSERT_OK(cgroup_kill(cg));
        assert_killed(pid);
        while (waitpid(-1, NULL, WNOHANG) > 0)
                ;
        wait_unpopulated(cg);
        ASSERT_OK(cgroup_destroy(cg));
        ASSERT_OK(cgroup_destroy(cg));
        for (size_t i = 0; i < ELEMENTSOF(hierarchies); i++)
                ASSERT_FALSE(exists_in(hierarchies[i], name));
}

static pid_t spawn_sleeper(int *gate) {
        return fork_gated(gate, sleep_forever);
}

static pid_t spawn_family(int *gate) {
        return fork_gated(gate, sleep_with_children);
}

TEST(lifecycle_host_mode) {
        CgroupMode m = host_mode();

        lifecycle(m, "host", spawn_sleeper);
        lifecycle(m, "host-family", spawn_family);
}

/* Forcing v1 on a hybrid host exercises the v1 freezer and the freeze-and-SIGKILL fallback. */
TEST(lifecycle_v1_only) {
        host_mode();
        lifecycle(CGROUP_MODE_V1, "v1", spawn_sleeper);
        lifecycle(CGROUP_MODE_V1, "v1-family", spawn_family);
}

static int eat_memory(void) {
        size_t size = 256 * 1024 * 1024;
        /* volatile: the stores must happen even though nothing reads them. */
        volatile char *p = malloc(size);

        if (!p)
                return 2;
        for (size_t i = 0; i < size; i += 4096)
                p[i] = 1;
        return 0;
}

TEST(oom_kill_counted) {
        CgroupMode m = host_mode();
        CgroupLimits l = CGROUP_LIMITS_INIT;
        _cleanup_(cgroup_freep) Cgroup *cg = NULL;
        _cleanup_free_ char *path = child_path("oom");
        CgroupStats st;
        pid_t pid;
        int gate;

        l.memory_limit_bytes = 16 * 1024 * 1024;
        l.memory_swap_bytes = 16 * 1024 * 1024;
        ASSERT_OK(cgroup_new(NULL, m, path, &l, NULL, &cg));
        pid = fork_gated(&gate, eat_memory);
        ASSERT_OK(cgroup_add_pid(cg, pid));
        open_gate(gate);
        assert_killed(pid);
        ASSERT_OK(cgroup_get_stats(cg, &st));
        ASSERT_U64_EQ(st.oom_kill_count, 1);
        ASSERT_GE(st.memory_peak_bytes, 15 * 1024 * 1024);
        wait_unpopulated(cg);
        ASSERT_OK(cgroup_destroy(cg));
}

static int fork_many(void) {
        int ok = 0;

        for (int i = 0; i < 10; i++) {
                pid_t p = fork();

                if (p == 0) {
                        pause();
                        _exit(0);
                }
                if (p > 0)
                        ok++;
        }
        /* Killing our own process group ends the children that did start. */
        return ok;
}

TEST(pids_limit_enforced) {
        CgroupMode m = host_mode();
        CgroupLimits l = CGROUP_LIMITS_INIT;
        _cleanup_(cgroup_freep) Cgroup *cg = NULL;
        _cleanup_free_ char *path = child_path("pids");
        CgroupStats st;
        pid_t pid;
        int gate, status;

        l.pids_limit = 4;
        ASSERT_OK(cgroup_new(NULL, m, path, &l, NULL, &cg));
        pid = fork_gated(&gate, fork_many);
        ASSERT_OK(cgroup_add_pid(cg, pid));
        open_gate(gate);
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        ASSERT_TRUE(WIFEXITED(status));
        /* The child itself counts: three more fit. */
        ASSERT_EQ(WEXITSTATUS(status), 3);
        ASSERT_OK(cgroup_get_stats(cg, &st));
        ASSERT_EQ(st.pids_current, 3);
        ASSERT_OK(cgroup_kill(cg));
        while (waitpid(-1, NULL, 0) > 0)
                ;
        wait_unpopulated(cg);
        ASSERT_OK(cgroup_destroy(cg));
}

static int spin(void) {
        struct timespec a, b;

        clock_gettime(CLOCK_MONOTONIC, &a);
        do
                clock_gettime(CLOCK_MONOTONIC, &b);
        while ((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 < 400);
        return 0;
}

TEST(cpu_quota_throttles) {
        CgroupMode m = host_mode();
        CgroupLimits l = CGROUP_LIMITS_INIT;
        _cleanup_(cgroup_freep) Cgroup *cg = NULL;
        _cleanup_free_ char *path = child_path("cpu");
        CgroupStats st;
        pid_t pid;
        int gate, status;

        l.cpu_quota_usec = 5000;
        l.cpu_period_usec = 50000;
        ASSERT_OK(cgroup_new(NULL, m, path, &l, NULL, &cg));
        pid = fork_gated(&gate, spin);
        ASSERT_OK(cgroup_add_pid(cg, pid));
        open_gate(gate);
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        ASSERT_TRUE(WIFEXITED(status));
        ASSERT_OK(cgroup_get_stats(cg, &st));
        ASSERT_GT(st.cpu_nr_throttled, 0);
        ASSERT_GT(st.cpu_throttled_usec, 0);
        /* 10% of one cpu over 400 ms of wall time. */
        ASSERT_LT(st.cpu_usage_usec, 200000);
        ASSERT_OK(cgroup_destroy(cg));
}

TEST(bad_limits_leave_nothing) {
        CgroupMode m = host_mode();
        CgroupLimits l = CGROUP_LIMITS_INIT;
        _cleanup_(cgroup_freep) Cgroup *cg = NULL;
        _cleanup_free_ char *path = child_path("bad"), *nested = child_path("bad-parent/child");
        const char *reason = NULL;

        l.memory_limit_bytes = 0;
        ASSERT_ERROR(cgroup_new(NULL, m, path, &l, &reason, &cg), EINVAL);
        ASSERT_NOT_NULL(reason);
        ASSERT_NULL(cg);
        for (size_t i = 0; i < ELEMENTSOF(hierarchies); i++)
                ASSERT_FALSE(exists_in(hierarchies[i], "bad"));

        /* Valid syntax the kernel refuses: everything created is rolled back, parents too. */
        l = CGROUP_LIMITS_INIT;
        l.cpuset_cpus = "0-4095";
        reason = NULL;
        /* The kernel says -ERANGE or -EINVAL, depending on its version. */
        ASSERT_LT(cgroup_new(NULL, m, nested, &l, &reason, &cg), 0);
        ASSERT_STREQ(reason, "cannot write cpuset.cpus");
        for (size_t i = 0; i < ELEMENTSOF(hierarchies); i++)
                ASSERT_FALSE(exists_in(hierarchies[i], "bad-parent"));

        ASSERT_ERROR(cgroup_new(NULL, m, "../escape", NULL, NULL, &cg), EINVAL);
        ASSERT_ERROR(cgroup_new(NULL, m, "/abs", NULL, NULL, &cg), EINVAL);
        ASSERT_ERROR(cgroup_open(NULL, m, path, &cg), ENOENT);
}
