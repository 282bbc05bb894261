/* SPDX-License-Identifier: Apache-2.0 */
/* test-cgroup-v2.c: the cgroup v2 code path against a fake cgroupfs tree, limit validation, and
 * what works of a real private cgroup2 mount on this host (freeze, kill, events). */
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup-internal.h"
#include "fileio.h"
#include "path-util.h"
#include "string-util.h"
#include "tests.h"

/* Files the kernel would create in a new v2 cgroup with cpuset, cpu, memory and pids on. */
static const char *const leaf_files[] = {
        "cgroup.controllers",
        "cgroup.subtree_control",
        "cgroup.procs",
        "cgroup.freeze",
        "cgroup.kill",
        "cgroup.events",
        "cpu.max",
        "cpu.weight",
        "cpu.stat",
        "cpuset.cpus",
        "cpuset.mems",
        "memory.max",
        "memory.swap.max",
        "memory.current",
        "memory.peak",
        "memory.events",
        "pids.max",
        "pids.current",
};

static void put(const char *dir, const char *file, const char *contents) {
        _cleanup_free_ char *p = path_join(dir, file);

        ASSERT_NOT_NULL(p);
        ASSERT_OK(write_string_file_atomic(p, contents, 0644));
}

static char *get(const char *dir, const char *file) {
        _cleanup_free_ char *p = path_join(dir, file);
        char *s = NULL;

        ASSERT_NOT_NULL(p);
        ASSERT_OK(read_full_file(p, SIZE_MAX, &s, NULL));
        return s;
}

#define ASSERT_FILE(dir, file, expected)                                                           \
        do {                                                                                       \
                _cleanup_free_ char *_s_ = get(dir, file);                                         \
                ASSERT_STREQ(_s_, expected);                                                       \
        } while (0)

static bool exists(const char *dir, const char *sub) {
        _cleanup_free_ char *p = path_join(dir, sub);

        return p && access(p, F_OK) >= 0;
}

/* root with "zlayer" below it, both offering controllers, as the kernel shows them. */
static char *fake_tree(void) {
        char *root = path_join(test_tmpdir(), "cg");
        _cleanup_free_ char *zl = NULL;

        ASSERT_NOT_NULL(root);
        ASSERT_OK(mkdir_p(root, 0755));
        put(root, "cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n");
        put(root, "cgroup.subtree_control", "");
        zl = path_join(root, "zlayer");
        ASSERT_NOT_NULL(zl);
        ASSERT_OK(mkdir_p(zl, 0755));
        put(zl, "cgroup.controllers", "cpu memory pids\n");
        put(zl, "cgroup.subtree_control", "");
        return root;
}

static void populate(const char *dir) {
        for (size_t i = 0; i < ELEMENTSOF(leaf_files); i++)
                put(dir, leaf_files[i], "");
}

static void unpopulate(const char *dir) {
        for (size_t i = 0; i < ELEMENTSOF(leaf_files); i++) {
                _cleanup_free_ char *p = path_join(dir, leaf_files[i]);

                ASSERT_NOT_NULL(p);
                (void) unlink(p);
        }
}

TEST(shares_to_weight) {
        ASSERT_U64_EQ(cgroup_shares_to_weight(2), 1);
        ASSERT_U64_EQ(cgroup_shares_to_weight(1024), 39);
        ASSERT_U64_EQ(cgroup_shares_to_weight(262144), 10000);
        /* Out-of-range input is clamped, never 0 or above 10000. */
        ASSERT_U64_EQ(cgroup_shares_to_weight(0), 1);
        ASSERT_U64_EQ(cgroup_shares_to_weight(UINT64_MAX), 10000);
}

TEST(validate) {
        static const CgroupDeviceRule bad_type[] = { { .type = 'x', .access = "r" } };
        static const CgroupDeviceRule bad_access[] = { { .type = 'c', .access = "rwx" } };
        static const CgroupDeviceRule dup_access[] = { { .type = 'c', .access = "rr" } };
        static const CgroupDeviceRule bad_major[] = { { .type = 'c', .major = -2, .access = "r" } };
        static const CgroupDeviceRule good[] = {
                { .allow = true, .type = 'c', .major = 1, .minor = -1, .access = "rwm" },
        };
        CgroupLimits l = CGROUP_LIMITS_INIT;
        const char *reason = NULL;

        ASSERT_OK(cgroup_limits_validate(&l, CGROUP_MODE_V2, &reason));
        ASSERT_ERROR(cgroup_limits_validate(NULL, CGROUP_MODE_V2, &reason), EINVAL);
        ASSERT_ERROR(cgroup_limits_validate(&l, _CGROUP_MODE_MAX, NULL), EINVAL);

#define BAD(field, value, err)                                                                     \
        do {                                                                                       \
                l = CGROUP_LIMITS_INIT;                                                            \
                l.field = value;                                                                   \
                reason = NULL;                                                                     \
                ASSERT_ERROR(cgroup_limits_validate(&l, CGROUP_MODE_V1, &reason), err);            \
                ASSERT_NOT_NULL(reason);                                                           \
        } while (0)
#define GOOD(field, value)                                                                         \
        do {                                                                                       \
                l = CGROUP_LIMITS_INIT;                                                            \
                l.field = value;                                                                   \
                ASSERT_OK(cgroup_limits_validate(&l, CGROUP_MODE_V1, NULL));                       \
        } while (0)

        BAD(cpu_quota_usec, 0, EINVAL);
        BAD(cpu_quota_usec, 999, EINVAL);
        GOOD(cpu_quota_usec, 1000);
        GOOD(cpu_quota_usec, CGROUP_LIMIT_MAX);
        BAD(cpu_period_usec, 999, EINVAL);
        BAD(cpu_period_usec, 1000001, EINVAL);
        BAD(cpu_period_usec, CGROUP_LIMIT_MAX, EINVAL);
        GOOD(cpu_period_usec, 1000000);
        BAD(cpu_shares, 1, EINVAL);
        BAD(cpu_shares, 262145, EINVAL);
        GOOD(cpu_shares, 2);
        BAD(cpuset_cpus, "", EINVAL);
        BAD(cpuset_cpus, "3-1", EINVAL);
        BAD(cpuset_cpus, "a", EINVAL);
        BAD(cpuset_cpus, "0,", EINVAL);
        BAD(cpuset_cpus, "0-", EINVAL);
        BAD(cpuset_cpus, " 0", EINVAL);
        GOOD(cpuset_cpus, "0-3,5,7-7");
        BAD(cpuset_mems, "0--1", EINVAL);
        GOOD(cpuset_mems, "0");
        BAD(memory_limit_bytes, 0, EINVAL);
        BAD(memory_limit_bytes, 4095, EINVAL);
        GOOD(memory_limit_bytes, 4096);
        GOOD(memory_limit_bytes, CGROUP_LIMIT_MAX);
        BAD(memory_swap_bytes, 1 << 20, EINVAL); /* without a memory limit */
        GOOD(memory_swap_bytes, CGROUP_LIMIT_MAX);
        BAD(pids_limit, 0, EINVAL);
        GOOD(pids_limit, 1);
        GOOD(pids_limit, CGROUP_LIMIT_MAX);

        l = CGROUP_LIMITS_INIT;
        l.memory_limit_bytes = 2 << 20;
        l.memory_swap_bytes = 1 << 20;
        ASSERT_ERROR(cgroup_limits_validate(&l, CGROUP_MODE_V2, &reason), EINVAL);
        l.memory_swap_bytes = 2 << 20;
        ASSERT_OK(cgroup_limits_validate(&l, CGROUP_MODE_V2, &reason));

        l = CGROUP_LIMITS_INIT;
        l.n_devices = 1;
        ASSERT_ERROR(cgroup_limits_validate(&l, CGROUP_MODE_V1, NULL), EINVAL);
        l.devices = bad_type;
        ASSERT_ERROR(cgroup_limits_validate(&l, CGROUP_MODE_V1, NULL), EINVAL);
        l.devices = bad_access;
        ASSERT_ERROR(cgroup_limits_validate(&l, CGROUP_MODE_V1, NULL), EINVAL);
        l.devices = dup_access;
        ASSERT_ERROR(cgroup_limits_validate(&l, CGROUP_MODE_V1, NULL), EINVAL);
        l.devices = bad_major;
        ASSERT_ERROR(cgroup_limits_validate(&l, CGROUP_MODE_V1, NULL), EINVAL);
        l.devices = good;
        ASSERT_OK(cgroup_limits_validate(&l, CGROUP_MODE_V1, NULL));
        ASSERT_OK(cgroup_limits_validate(&l, CGROUP_MODE_HYBRID, NULL));
        /* v2 enforces them with a BPF device program (see test-cgroup-devices). */
        ASSERT_OK(cgroup_limits_validate(&l, CGROUP_MODE_V2, NULL));
        l = CGROUP_LIMITS_INIT;
        l.devices_set = true;
        ASSERT_OK(cgroup_limits_validate(&l, CGROUP_MODE_V2, NULL));
#undef BAD
#undef GOOD
}

TEST(fake_create_and_apply) {
        _cleanup_free_ char *root = fake_tree(), *leaf = NULL;
        _cleanup_(cgroup_freep) Cgroup *cg = NULL, *other = NULL;
        CgroupLimits l = CGROUP_LIMITS_INIT;
        const char *reason = NULL;

        ASSERT_OK(cgroup_new(root, CGROUP_MODE_V2, "zlayer/c1", NULL, &reason, &cg));
        ASSERT_EQ(cgroup_get_mode(cg), CGROUP_MODE_V2);
        /* Each level enables what it offers of the controllers we use, in our order. */
        ASSERT_FILE(root, "cgroup.subtree_control", "+cpuset +cpu +memory +pids");
        leaf = path_join(root, "zlayer");
        ASSERT_FILE(leaf, "cgroup.subtree_control", "+cpu +memory +pids");
        free(leaf);
        leaf = path_join(root, "zlayer/c1");
        ASSERT_NOT_NULL(leaf);
        ASSERT_TRUE(exists(leaf, NULL));
        ASSERT_ERROR(cgroup_new(root, CGROUP_MODE_V2, "zlayer/c1", NULL, NULL, &other), EEXIST);
        populate(leaf);

        l.cpu_quota_usec = 50000;
        l.cpu_shares = 1024;
        l.cpuset_cpus = "0-1";
        l.cpuset_mems = "0";
        l.memory_limit_bytes = 64 << 20;
        l.memory_swap_bytes = 192 << 20;
        l.pids_limit = 100;
        ASSERT_OK(cgroup_apply(cg, &l, &reason));
        ASSERT_FILE(leaf, "cpu.max", "50000 100000");
        ASSERT_FILE(leaf, "cpu.weight", "39");
        ASSERT_FILE(leaf, "cpuset.cpus", "0-1");
        ASSERT_FILE(leaf, "cpuset.mems", "0");
        ASSERT_FILE(leaf, "memory.max", "67108864");
        /* OCI's swap is memory plus swap; v2 takes the swap alone. */
        ASSERT_FILE(leaf, "memory.swap.max", "134217728");
        ASSERT_FILE(leaf, "pids.max", "100");

        /* Changing only the period keeps the quota. */
        l = CGROUP_LIMITS_INIT;
        l.cpu_period_usec = 200000;
        ASSERT_OK(cgroup_apply(cg, &l, NULL));
        ASSERT_FILE(leaf, "cpu.max", "50000 200000");
        put(leaf, "cpu.max", "max 100000\n");
        ASSERT_OK(cgroup_apply(cg, &l, NULL));
        ASSERT_FILE(leaf, "cpu.max", "max 200000");

        l = CGROUP_LIMITS_INIT;
        l.cpu_quota_usec = CGROUP_LIMIT_MAX;
        l.memory_limit_bytes = CGROUP_LIMIT_MAX;
        l.memory_swap_bytes = CGROUP_LIMIT_MAX;
        l.pids_limit = CGROUP_LIMIT_MAX;
        ASSERT_OK(cgroup_apply(cg, &l, NULL));
        ASSERT_FILE(leaf, "cpu.max", "max 100000");
        ASSERT_FILE(leaf, "memory.max", "max");
        ASSERT_FILE(leaf, "memory.swap.max", "max");
        ASSERT_FILE(leaf, "pids.max", "max");

        /* A controller that is not enabled has no files: refused, with the file named. */
        {
                _cleanup_free_ char *p = path_join(leaf, "memory.swap.max");

                ASSERT_OK(unlink(p));
        }
        l = CGROUP_LIMITS_INIT;
        l.memory_limit_bytes = 1 << 20;
        l.memory_swap_bytes = 2 << 20;
        reason = NULL;
        ASSERT_ERROR(cgroup_apply(cg, &l, &reason), EOPNOTSUPP);
        ASSERT_NOT_NULL(strstr(reason, "memory.swap.max"));
        l.memory_limit_bytes = 0;
        ASSERT_ERROR(cgroup_apply(cg, &l, &reason), EINVAL);

        ASSERT_OK(cgroup_add_pid(cg, 1234));
        ASSERT_FILE(leaf, "cgroup.procs", "1234");
        ASSERT_ERROR(cgroup_add_pid(cg, 0), EINVAL);

        /* Reopen, as after a restart. */
        ASSERT_OK(cgroup_open(root, CGROUP_MODE_V2, "zlayer/c1", &other));
        ASSERT_STREQ(cgroup_get_path(other), "zlayer/c1");
        other = cgroup_free(other);
        ASSERT_ERROR(cgroup_open(root, CGROUP_MODE_V2, "zlayer/c2", &other), ENOENT);

        /* rmdir fails while the (fake) interface files are there, as it would with tasks. */
        ASSERT_ERROR(cgroup_destroy(cg), ENOTEMPTY);
        unpopulate(leaf);
        ASSERT_OK(cgroup_destroy(cg));
        ASSERT_FALSE(exists(leaf, NULL));
        ASSERT_OK(cgroup_destroy(cg));
}

TEST(fake_freeze_kill_events_stats) {
        _cleanup_free_ char *root = fake_tree(), *leaf = NULL;
        _cleanup_(cgroup_freep) Cgroup *cg = NULL;
        CgroupStats st;

        ASSERT_OK(cgroup_new(root, CGROUP_MODE_V2, "zlayer/c2", NULL, NULL, &cg));
        leaf = path_join(root, "zlayer/c2");
        ASSERT_NOT_NULL(leaf);
        populate(leaf);

        /* The fake kernel reports the state the test wants the freeze to reach. */
        put(leaf, "cgroup.events", "populated 1\nfrozen 1\n");
        ASSERT_OK(cgroup_freeze(cg));
        ASSERT_FILE(leaf, "cgroup.freeze", "1");
        ASSERT_EQ(cgroup_is_populated(cg), 1);
        put(leaf, "cgroup.events", "populated 0\nfrozen 0\n");
        ASSERT_OK(cgroup_thaw(cg));
        ASSERT_FILE(leaf, "cgroup.freeze", "0");
        ASSERT_EQ(cgroup_is_populated(cg), 0);

        ASSERT_OK(cgroup_kill(cg));
        ASSERT_FILE(leaf, "cgroup.kill", "1");
        /* Without cgroup.kill (kernels before 5.14) the pids are killed one by one; here there
         * are none, so nothing is frozen either. */
        {
                _cleanup_free_ char *p = path_join(leaf, "cgroup.kill");

                ASSERT_OK(unlink(p));
        }
        put(leaf, "cgroup.freeze", "");
        ASSERT_OK(cgroup_kill(cg));
        ASSERT_FILE(leaf, "cgroup.freeze", "");

        put(leaf, "cpu.stat",
            "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\ncore_sched.force_idle_usec 0\n"
            "nr_periods 10\nnr_throttled 4\nthrottled_usec 777\nnr_bursts 0\nburst_usec 0\n");
        put(leaf, "memory.current", "4096\n");
        put(leaf, "memory.peak", "8192\n");
        put(leaf, "memory.events", "low 0\nhigh 0\nmax 3\noom 2\noom_kill 2\noom_group_kill 0\n");
        put(leaf, "pids.current", "7\n");
        ASSERT_OK(cgroup_get_stats(cg, &st));
        ASSERT_U64_EQ(st.cpu_usage_usec, 1500);
        ASSERT_U64_EQ(st.cpu_user_usec, 1000);
        ASSERT_U64_EQ(st.cpu_system_usec, 500);
        ASSERT_U64_EQ(st.cpu_nr_periods, 10);
        ASSERT_U64_EQ(st.cpu_nr_throttled, 4);
        ASSERT_U64_EQ(st.cpu_throttled_usec, 777);
        ASSERT_U64_EQ(st.memory_current_bytes, 4096);
        ASSERT_U64_EQ(st.memory_peak_bytes, 8192);
        ASSERT_U64_EQ(st.oom_kill_count, 2);
        ASSERT_U64_EQ(st.pids_current, 7);

        /* Older kernels have no memory.peak: unknown, not an error. Garbage is an error. */
        {
                _cleanup_free_ char *p = path_join(leaf, "memory.peak");

                ASSERT_OK(unlink(p));
        }
        put(leaf, "pids.current", "max\n");
        ASSERT_OK(cgroup_get_stats(cg, &st));
        ASSERT_U64_EQ(st.memory_peak_bytes, CGROUP_STAT_UNKNOWN);
        put(leaf, "memory.current", "lots\n");
        ASSERT_ERROR(cgroup_get_stats(cg, &st), EINVAL);

        unpopulate(leaf);
        ASSERT_OK(cgroup_destroy(cg));
}

TEST(fake_bad_input_creates_nothing) {
        static const CgroupDeviceRule rule[] = { { .allow = true, .type = 'a', .access = "rwm" } };
        _cleanup_free_ char *root = fake_tree();
        _cleanup_(cgroup_freep) Cgroup *cg = NULL;
        CgroupLimits l = CGROUP_LIMITS_INIT;
        const char *reason = NULL;

        /* A fake tree is no cgroup2 file system: the device program has nothing to attach
         * to (or, without privileges, cannot even load), and the cgroup goes again. */
        l.devices = rule;
        l.n_devices = 1;
        ASSERT_LT(cgroup_new(root, CGROUP_MODE_V2, "zlayer/c3", &l, &reason, &cg), 0);
        ASSERT_NOT_NULL(reason);
        ASSERT_FALSE(exists(root, "zlayer/c3"));

        /* Applying needs the interface files, which the fake kernel never made: the cgroup and
         * the parent created for it are removed again. */
        l = CGROUP_LIMITS_INIT;
        l.pids_limit = 5;
        ASSERT_ERROR(cgroup_new(root, CGROUP_MODE_V2, "new/c4", &l, &reason, &cg), EOPNOTSUPP);
        ASSERT_STREQ(reason, "cannot write pids.max");
        ASSERT_FALSE(exists(root, "new"));
        ASSERT_NULL(cg);

        ASSERT_ERROR(cgroup_new(root, CGROUP_MODE_V2, "", NULL, NULL, &cg), EINVAL);
        ASSERT_ERROR(cgroup_new(root, CGROUP_MODE_V2, "a/../b", NULL, NULL, &cg), EINVAL);
        ASSERT_ERROR(cgroup_new(root, CGROUP_MODE_V2, "a//b", NULL, NULL, &cg), EINVAL);
        ASSERT_ERROR(cgroup_new("relative", CGROUP_MODE_V2, "a", NULL, NULL, &cg), EINVAL);
        ASSERT_ERROR(cgroup_new(root, _CGROUP_MODE_INVALID, "a", NULL, NULL, &cg), EINVAL);
        ASSERT_ERROR(cgroup_new(root, CGROUP_MODE_V2, "a", NULL, NULL, NULL), EINVAL);
        ASSERT_ERROR(cgroup_detect(root), ENOMEDIUM);
}

/* A real cgroup2 mount, private to this test's mount namespace. Here it has no controllers, so
 * only the core files are tested: procs, freeze, kill, events; limits must be refused cleanly. */
static char *mount_cgroup2(void) {
        char *mnt = path_join(test_tmpdir(), "cgroup2");

        ASSERT_NOT_NULL(mnt);
        if (geteuid() != 0)
                test_skip("needs root");
        ASSERT_OK(mkdir_p(mnt, 0755));
        if (unshare(CLONE_NEWNS) < 0)
                test_skip("cannot create a mount namespace");
        ASSERT_OK(mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL));
        if (mount("cgroup2", mnt, "cgroup2", 0, NULL) < 0) {
                free(mnt);
                test_skip("cannot mount cgroup2");
        }
        return mnt;
}

static void run_real(bool fallback_kill) {
        _cleanup_free_ char *mnt = mount_cgroup2(), *parent = NULL, *path = NULL, *dir = NULL;
        _cleanup_(cgroup_freep) Cgroup *cg = NULL;
        CgroupLimits l = CGROUP_LIMITS_INIT;
        const char *reason = NULL;
        int status;
        pid_t pid;

        ASSERT_EQ(cgroup_detect(mnt), CGROUP_MODE_V2);
        ASSERT_OK(asprintf(&parent, "zlayer-test-cgroup-v2-%d", (int) getpid()));
        path = path_join(parent, "c");
        dir = path_join(mnt, path);
        ASSERT_NOT_NULL(dir);

        /* No memory controller on this mount: refused, and the created directories go away. */
        l.memory_limit_bytes = 1 << 20;
        if (cgroup_new(mnt, CGROUP_MODE_V2, path, &l, &reason, &cg) >= 0) {
                /* A host with a real v2 memory controller: the limit is really there. */
                ASSERT_FILE(dir, "memory.max", "1048576\n");
        } else {
                ASSERT_STREQ(reason, "cannot write memory.max");
                ASSERT_FALSE(exists(mnt, parent));
                ASSERT_OK(cgroup_new(mnt, CGROUP_MODE_V2, path, NULL, NULL, &cg));
        }

        pid = fork();
        ASSERT_OK(pid);
        if (pid == 0) {
                for (;;)
                        pause();
        }
        ASSERT_OK(cgroup_add_pid(cg, pid));
        ASSERT_EQ(cgroup_is_populated(cg), 1);
        ASSERT_OK(cgroup_freeze(cg));
        {
                _cleanup_free_ char *ev = get(dir, "cgroup.events");

                ASSERT_NOT_NULL(strstr(ev, "frozen 1"));
        }
        ASSERT_OK(cgroup_thaw(cg));
        ASSERT_ERROR(cgroup_destroy(cg), EBUSY);

        if (fallback_kill)
                ASSERT_OK(cg_kill_by_pids(cg, dir));
        else
                ASSERT_OK(cgroup_kill(cg));
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        for (int i = 0; i < 2000 && cgroup_is_populated(cg) > 0; i++)
                usleep(1000);
        ASSERT_EQ(cgroup_is_populated(cg), 0);
        ASSERT_OK(cgroup_destroy(cg));
        ASSERT_FALSE(exists(dir, NULL));
        {
                _cleanup_free_ char *p = path_join(mnt, parent);

                ASSERT_OK(rmdir(p));
        }
        ASSERT_OK(umount2(mnt, MNT_DETACH));
}

TEST(real_cgroup2_kill) {
        run_real(false);
}

TEST(real_cgroup2_fallback_kill) {
        run_real(true);
}
