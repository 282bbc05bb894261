/* SPDX-License-Identifier: Apache-2.0 */
/* test-oci-cgroup.c: OCI linux.resources converted to CgroupLimits, field by field. */
#include "oci-cgroup.h"
#include "tests.h"

static int convert(const OciResources *r, CgroupLimits *l, CgroupDeviceRule **d, char **err) {
        return oci_resources_to_cgroup_limits(r, l, d, err);
}

TEST(empty_is_all_unset) {
        OciResources r = {};
        CgroupDeviceRule *d = (CgroupDeviceRule *) 1;
        CgroupLimits l;

        ASSERT_OK(convert(&r, &l, &d, NULL));
        ASSERT_NULL(d);
        ASSERT_U64_EQ(l.memory_limit_bytes, CGROUP_LIMIT_UNSET);
        ASSERT_U64_EQ(l.memory_swap_bytes, CGROUP_LIMIT_UNSET);
        ASSERT_U64_EQ(l.cpu_shares, CGROUP_LIMIT_UNSET);
        ASSERT_U64_EQ(l.cpu_quota_usec, CGROUP_LIMIT_UNSET);
        ASSERT_U64_EQ(l.cpu_period_usec, CGROUP_LIMIT_UNSET);
        ASSERT_U64_EQ(l.pids_limit, CGROUP_LIMIT_UNSET);
        ASSERT_NULL(l.cpuset_cpus);
        ASSERT_NULL(l.cpuset_mems);
        ASSERT_FALSE(l.devices_set);
        ASSERT_EQ(l.n_devices, 0);
        ASSERT_OK(cgroup_limits_validate(&l, CGROUP_MODE_V2, NULL));
}

TEST(every_field) {
        char cpus[] = "0-1", mems[] = "0";
        OciDeviceRule rules[] = {
                { .allow = false, .type = 'a', .major = -1, .minor = -1, .access = "rwm" },
                { .allow = true, .type = 'c', .major = 1, .minor = 3, .access = "rw" },
                { .allow = true, .type = 'b', .major = 8, .minor = -1, .access = "m" },
        };
        OciResources r = {
                .devices = rules,
                .n_devices = ELEMENTSOF(rules),
                .has_memory_limit = true,
                .memory_limit = 64 * 1024 * 1024,
                .has_memory_reservation = true,
                .memory_reservation = 32 * 1024 * 1024,
                .has_memory_swap = true,
                .memory_swap = 128 * 1024 * 1024,
                .has_cpu_shares = true,
                .cpu_shares = 512,
                .has_cpu_quota = true,
                .cpu_quota = 50000,
                .has_cpu_period = true,
                .cpu_period = 100000,
                .cpu_cpus = cpus,
                .cpu_mems = mems,
                .has_pids_limit = true,
                .pids_limit = 100,
        };
        _cleanup_free_ CgroupDeviceRule *d = NULL;
        CgroupLimits l;

        ASSERT_OK(convert(&r, &l, &d, NULL));
        ASSERT_U64_EQ(l.memory_limit_bytes, 64 * 1024 * 1024);
        ASSERT_U64_EQ(l.memory_swap_bytes, 128 * 1024 * 1024);
        ASSERT_U64_EQ(l.cpu_shares, 512);
        ASSERT_U64_EQ(l.cpu_quota_usec, 50000);
        ASSERT_U64_EQ(l.cpu_period_usec, 100000);
        ASSERT_STREQ(l.cpuset_cpus, "0-1");
        ASSERT_STREQ(l.cpuset_mems, "0");
        ASSERT_U64_EQ(l.pids_limit, 100);
        ASSERT_TRUE(l.devices_set);
        ASSERT_EQ(l.n_devices, 3);
        ASSERT_TRUE(l.devices == d);
        ASSERT_FALSE(d[0].allow);
        ASSERT_EQ(d[0].type, 'a');
        ASSERT_EQ(d[0].major, -1);
        ASSERT_EQ(d[0].minor, -1);
        ASSERT_STREQ(d[0].access, "rwm");
        ASSERT_TRUE(d[1].allow);
        ASSERT_EQ(d[1].type, 'c');
        ASSERT_EQ(d[1].major, 1);
        ASSERT_EQ(d[1].minor, 3);
        ASSERT_STREQ(d[1].access, "rw");
        ASSERT_EQ(d[2].type, 'b');
        ASSERT_EQ(d[2].minor, -1);
        ASSERT_STREQ(d[2].access, "m");
        ASSERT_OK(cgroup_limits_validate(&l, CGROUP_MODE_V1, NULL));
        ASSERT_OK(cgroup_limits_validate(&l, CGROUP_MODE_HYBRID, NULL));
        /* Pure v2 takes device rules too, as a BPF device program. */
        ASSERT_OK(cgroup_limits_validate(&l, CGROUP_MODE_V2, NULL));
}

TEST(minus_one_is_unlimited) {
        OciResources r = {
                .has_memory_limit = true,
                .memory_limit = -1,
                .has_memory_swap = true,
                .memory_swap = -1,
                .has_cpu_quota = true,
                .cpu_quota = -1,
                .has_pids_limit = true,
                .pids_limit = -1,
        };
        _cleanup_free_ CgroupDeviceRule *d = NULL;
        CgroupLimits l;

        ASSERT_OK(convert(&r, &l, &d, NULL));
        ASSERT_U64_EQ(l.memory_limit_bytes, CGROUP_LIMIT_MAX);
        ASSERT_U64_EQ(l.memory_swap_bytes, CGROUP_LIMIT_MAX);
        ASSERT_U64_EQ(l.cpu_quota_usec, CGROUP_LIMIT_MAX);
        ASSERT_U64_EQ(l.pids_limit, CGROUP_LIMIT_MAX);
        ASSERT_OK(cgroup_limits_validate(&l, CGROUP_MODE_V2, NULL));
}

TEST(empty_cpuset_is_unset) {
        char empty[] = "";
        OciResources r = { .cpu_cpus = empty, .cpu_mems = empty };
        _cleanup_free_ CgroupDeviceRule *d = NULL;
        CgroupLimits l;

        ASSERT_OK(convert(&r, &l, &d, NULL));
        ASSERT_NULL(l.cpuset_cpus);
        ASSERT_NULL(l.cpuset_mems);
}

static void check_refused(const OciResources *r, const char *message) {
        _cleanup_free_ CgroupDeviceRule *d = NULL;
        _cleanup_free_ char *err = NULL;
        CgroupLimits l = CGROUP_LIMITS_INIT;

        l.pids_limit = 7;
        ASSERT_ERROR(convert(r, &l, &d, &err), EINVAL);
        ASSERT_STREQ(err, message);
        /* Nothing written on failure. */
        ASSERT_U64_EQ(l.pids_limit, 7);
        ASSERT_NULL(d);
        /* And without a place for the message. */
        ASSERT_ERROR(convert(r, &l, &d, NULL), EINVAL);
}

TEST(errors) {
        check_refused(&(OciResources){ .has_memory_limit = true, .memory_limit = 0 },
                      "linux.resources.memory.limit: 0 is not a limit (use -1 for none)");
        check_refused(&(OciResources){ .has_memory_limit = true, .memory_limit = 100 },
                      "linux.resources.memory.limit: 100 is below the minimum of 4096 bytes");
        check_refused(&(OciResources){ .has_memory_limit = true, .memory_limit = -2 },
                      "linux.resources.memory.limit: -2 is below the minimum of 4096 bytes");
        check_refused(&(OciResources){ .has_memory_swap = true, .memory_swap = 1 << 20 },
                      "linux.resources.memory.swap: needs a memory.limit (swap counts memory "
                      "plus swap)");
        check_refused(&(OciResources){ .has_memory_limit = true,
                                       .memory_limit = 2 << 20,
                                       .has_memory_swap = true,
                                       .memory_swap = 1 << 20 },
                      "linux.resources.memory.swap: 1048576 is below memory.limit 2097152 (swap "
                      "counts memory plus swap)");
        check_refused(&(OciResources){ .has_memory_limit = true,
                                       .memory_limit = 2 << 20,
                                       .has_memory_swap = true,
                                       .memory_swap = 0 },
                      "linux.resources.memory.swap: 0 is not a limit (use -1 for none)");
        check_refused(&(OciResources){ .has_cpu_shares = true, .cpu_shares = 0 },
                      "linux.resources.cpu.shares: 0 is not between 2 and 262144");
        check_refused(&(OciResources){ .has_cpu_shares = true, .cpu_shares = 262145 },
                      "linux.resources.cpu.shares: 262145 is not between 2 and 262144");
        check_refused(&(OciResources){ .has_cpu_quota = true, .cpu_quota = 0 },
                      "linux.resources.cpu.quota: 0 is not a limit (use -1 for none)");
        check_refused(&(OciResources){ .has_cpu_quota = true, .cpu_quota = 999 },
                      "linux.resources.cpu.quota: 999 is below the minimum of 1000 microseconds");
        check_refused(&(OciResources){ .has_cpu_period = true, .cpu_period = 999 },
                      "linux.resources.cpu.period: 999 is not between 1000 and 1000000 "
                      "microseconds");
        check_refused(&(OciResources){ .has_cpu_period = true, .cpu_period = 1000001 },
                      "linux.resources.cpu.period: 1000001 is not between 1000 and 1000000 "
                      "microseconds");
        check_refused(&(OciResources){ .has_pids_limit = true, .pids_limit = 0 },
                      "linux.resources.pids.limit: 0 is not a limit (use -1 for none)");
        check_refused(&(OciResources){ .has_pids_limit = true, .pids_limit = -5 },
                      "linux.resources.pids.limit: -5 is below the minimum of 1");

        OciDeviceRule bad[] = {
                { .allow = true, .type = 'c', .major = 1, .minor = 3, .access = "r" },
                { .allow = true, .type = 'x', .major = 1, .minor = 3, .access = "r" },
        };
        check_refused(&(OciResources){ .devices = bad, .n_devices = 2 },
                      "linux.resources.devices[1].type: must be 'a', 'c' or 'b'");
}

TEST(boundaries_accepted) {
        OciResources r = {
                .has_memory_limit = true,
                .memory_limit = 4096,
                .has_memory_swap = true,
                .memory_swap = 4096,
                .has_cpu_shares = true,
                .cpu_shares = 2,
                .has_cpu_quota = true,
                .cpu_quota = 1000,
                .has_cpu_period = true,
                .cpu_period = 1000000,
                .has_pids_limit = true,
                .pids_limit = 1,
        };
        _cleanup_free_ CgroupDeviceRule *d = NULL;
        CgroupLimits l;

        ASSERT_OK(convert(&r, &l, &d, NULL));
        ASSERT_U64_EQ(l.memory_limit_bytes, 4096);
        ASSERT_U64_EQ(l.memory_swap_bytes, 4096);
        ASSERT_U64_EQ(l.cpu_shares, 2);
        ASSERT_U64_EQ(l.cpu_quota_usec, 1000);
        ASSERT_U64_EQ(l.cpu_period_usec, 1000000);
        ASSERT_U64_EQ(l.pids_limit, 1);
        ASSERT_OK(cgroup_limits_validate(&l, CGROUP_MODE_V2, NULL));
}

/* The whole path from a config.json: what oci-config parses is what we convert. */
TEST(from_config) {
        static const char json[] =
                "{\"ociVersion\":\"1.0.2\",\"root\":{\"path\":\"rootfs\"},"
                "\"process\":{\"user\":{\"uid\":0,\"gid\":0},\"args\":[\"/bin/true\"],\"cwd\":\"/"
                "\"},"
                "\"linux\":{\"resources\":{\"memory\":{\"limit\":8388608},"
                "\"pids\":{\"limit\":10},\"cpu\":{\"quota\":20000,\"period\":100000},"
                "\"devices\":[{\"allow\":false,\"access\":\"rwm\"}]}}}";
        _cleanup_(oci_config_freep) OciConfig *c = NULL;
        _cleanup_free_ CgroupDeviceRule *d = NULL;
        _cleanup_free_ char *err = NULL;
        CgroupLimits l;

        ASSERT_OK(oci_config_parse(json, sizeof(json) - 1, &c, &err));
        ASSERT_OK(convert(&c->linux_.resources, &l, &d, NULL));
        ASSERT_U64_EQ(l.memory_limit_bytes, 8388608);
        ASSERT_U64_EQ(l.pids_limit, 10);
        ASSERT_U64_EQ(l.cpu_quota_usec, 20000);
        ASSERT_U64_EQ(l.cpu_period_usec, 100000);
        ASSERT_EQ(l.n_devices, 1);
        ASSERT_FALSE(d[0].allow);
        ASSERT_EQ(d[0].type, 'a');
        ASSERT_STREQ(d[0].access, "rwm");
}
