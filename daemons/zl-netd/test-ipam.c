/* SPDX-License-Identifier: Apache-2.0 */
/* test-ipam.c: prefixes, node subnets, allocation, persistence across reopen and a kill -9. */
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "ipam.h"
#include "tests.h"

static unsigned db_counter;

static const char *new_db(char *buf, size_t size) {
        snprintf(buf, size, "%s/ipam-%u.db", test_tmpdir(), db_counter++);
        return buf;
}

static const char *addr_str(int family, const InAddrUnion *a) {
        static char buf[IP_PREFIX_STRING_MAX];
        return in_addr_to_string(family, a, buf);
}

static Ipam *open_default(const char *path) {
        IpamConfig c;
        Ipam *ipam = NULL;

        ipam_config_init(&c);
        ASSERT_OK(ipam_open(path, &c, &ipam));
        return ipam;
}

TEST(prefix_parse) {
        char buf[IP_PREFIX_STRING_MAX];
        IpPrefix p;

        ASSERT_OK(ip_prefix_from_string("10.200.0.0/16", &p));
        ASSERT_EQ(p.family, AF_INET);
        ASSERT_EQ(p.prefixlen, 16u);
        ASSERT_STREQ(ip_prefix_to_string(&p, buf), "10.200.0.0/16");
        ASSERT_OK(ip_prefix_from_string("fd00:200::/48", &p));
        ASSERT_EQ(p.family, AF_INET6);
        ASSERT_STREQ(ip_prefix_to_string(&p, buf), "fd00:200::/48");
        ASSERT_OK(ip_prefix_from_string("10.0.0.1", &p));
        ASSERT_EQ(p.prefixlen, 32u);

        /* Host bits set: an interface address, not a CIDR. */
        ASSERT_ERROR(ip_prefix_from_string("10.200.0.1/16", &p), EINVAL);
        ASSERT_ERROR(ip_prefix_from_string("10.200.0.0/33", &p), EINVAL);
        ASSERT_ERROR(ip_prefix_from_string("10.200.0.0/", &p), EINVAL);
        ASSERT_ERROR(ip_prefix_from_string("10.200.0.0/+8", &p), EINVAL);
        ASSERT_ERROR(ip_prefix_from_string("10.200.0/16", &p), EINVAL);
        ASSERT_ERROR(ip_prefix_from_string("", &p), EINVAL);
        ASSERT_ERROR(ip_prefix_from_string(NULL, &p), EINVAL);
        ASSERT_ERROR(ip_prefix_from_string("fd00::/129", &p), EINVAL);

        ASSERT_OK(ip_prefix_from_string("10.200.4.0/24", &p));
        InAddrUnion a = {};
        ASSERT_EQ(inet_pton(AF_INET, "10.200.4.77", &a.in), 1);
        ASSERT_TRUE(ip_prefix_contains(&p, &a));
        ASSERT_EQ(inet_pton(AF_INET, "10.200.5.77", &a.in), 1);
        ASSERT_FALSE(ip_prefix_contains(&p, &a));
}

TEST(default_node_subnet) {
        _cleanup_(ipam_freep) Ipam *ipam = NULL;
        char path[PATH_MAX], buf[IP_PREFIX_STRING_MAX];
        InAddrUnion gw;

        ipam = open_default(new_db(path, sizeof path));
        ASSERT_STREQ(ip_prefix_to_string(ipam_cluster(ipam, AF_INET), buf), "10.200.0.0/16");
        ASSERT_STREQ(ip_prefix_to_string(ipam_node_subnet(ipam, AF_INET), buf), "10.200.0.0/24");
        ASSERT_OK(ipam_gateway(ipam, AF_INET, &gw));
        ASSERT_STREQ(addr_str(AF_INET, &gw), "10.200.0.1");
        ASSERT_U64_EQ(ipam_capacity(ipam, AF_INET), 253);
        ASSERT_NULL(ipam_node_subnet(ipam, AF_INET6));
        ASSERT_ERROR(ipam_gateway(ipam, AF_INET6, &gw), EAFNOSUPPORT);
        ASSERT_U64_EQ(ipam_capacity(ipam, AF_INET6), 0);
}

TEST(node_index_carving) {
        _cleanup_(ipam_freep) Ipam *ipam = NULL;
        char path[PATH_MAX], buf[IP_PREFIX_STRING_MAX];
        IpamConfig c;

        ipam_config_init(&c);
        c.node_index = 37;
        ASSERT_OK(ipam_open(new_db(path, sizeof path), &c, &ipam));
        ASSERT_STREQ(ip_prefix_to_string(ipam_node_subnet(ipam, AF_INET), buf), "10.200.37.0/24");
        ipam = ipam_free(ipam);

        /* The last subnet of the cluster, and one past it. */
        c.node_index = 255;
        ASSERT_OK(ipam_open(new_db(path, sizeof path), &c, &ipam));
        ASSERT_STREQ(ip_prefix_to_string(ipam_node_subnet(ipam, AF_INET), buf), "10.200.255.0/24");
        ipam = ipam_free(ipam);
        c.node_index = 256;
        ASSERT_ERROR(ipam_open(new_db(path, sizeof path), &c, &ipam), ERANGE);

        /* /26 node subnets: index 5 is the second quarter of 10.200.1.0/24. */
        c.node_index = 5;
        c.node_prefixlen4 = 26;
        ASSERT_OK(ipam_open(new_db(path, sizeof path), &c, &ipam));
        ASSERT_STREQ(ip_prefix_to_string(ipam_node_subnet(ipam, AF_INET), buf), "10.200.1.64/26");
        ASSERT_U64_EQ(ipam_capacity(ipam, AF_INET), 61);
        ipam = ipam_free(ipam);

        /* Too small or not smaller than the cluster. */
        c.node_index = 0;
        c.node_prefixlen4 = 31;
        ASSERT_ERROR(ipam_open(new_db(path, sizeof path), &c, &ipam), EINVAL);
        c.node_prefixlen4 = 16;
        ASSERT_ERROR(ipam_open(new_db(path, sizeof path), &c, &ipam), EINVAL);
        c.node_prefixlen4 = 33;
        ASSERT_ERROR(ipam_open(new_db(path, sizeof path), &c, &ipam), EINVAL);

        /* Nothing at all, or a family in the wrong slot. */
        ipam_config_init(&c);
        c.cluster4.family = AF_UNSPEC;
        ASSERT_ERROR(ipam_open(new_db(path, sizeof path), &c, &ipam), EINVAL);
        ASSERT_OK(ip_prefix_from_string("fd00::/48", &c.cluster4));
        ASSERT_ERROR(ipam_open(new_db(path, sizeof path), &c, &ipam), EINVAL);
}

TEST(allocate_release_reuse) {
        _cleanup_(ipam_freep) Ipam *ipam = NULL;
        char path[PATH_MAX];
        InAddrUnion a, b, c, again;
        IpamAllocation *list = NULL;
        size_t n;

        ipam = open_default(new_db(path, sizeof path));
        ASSERT_OK(ipam_allocate(ipam, "alpha", AF_INET, &a));
        ASSERT_STREQ(addr_str(AF_INET, &a), "10.200.0.2");
        ASSERT_OK(ipam_allocate(ipam, "beta", AF_INET, &b));
        ASSERT_STREQ(addr_str(AF_INET, &b), "10.200.0.3");
        ASSERT_OK(ipam_allocate(ipam, "gamma", AF_INET, &c));
        ASSERT_STREQ(addr_str(AF_INET, &c), "10.200.0.4");

        /* Idempotent per owner. */
        ASSERT_OK(ipam_allocate(ipam, "beta", AF_INET, &again));
        ASSERT_STREQ(addr_str(AF_INET, &again), "10.200.0.3");
        ASSERT_OK(ipam_lookup(ipam, "gamma", AF_INET, &again));
        ASSERT_STREQ(addr_str(AF_INET, &again), "10.200.0.4");
        ASSERT_ERROR(ipam_lookup(ipam, "delta", AF_INET, &again), ENOENT);
        ASSERT_ERROR(ipam_lookup(ipam, "alpha", AF_INET6, &again), EAFNOSUPPORT);

        ASSERT_OK(ipam_list(ipam, &list, &n));
        ASSERT_EQ(n, 3u);
        ASSERT_STREQ(list[0].owner, "alpha");
        ASSERT_STREQ(list[2].owner, "gamma");
        ASSERT_STREQ(addr_str(AF_INET, &list[1].address), "10.200.0.3");
        ipam_allocation_array_free(list, n);

        /* The hole left by a release is filled first. */
        ASSERT_EQ(ipam_release(ipam, "beta"), 1);
        ASSERT_EQ(ipam_release(ipam, "beta"), 0);
        ASSERT_ERROR(ipam_lookup(ipam, "beta", AF_INET, &again), ENOENT);
        ASSERT_OK(ipam_allocate(ipam, "delta", AF_INET, &again));
        ASSERT_STREQ(addr_str(AF_INET, &again), "10.200.0.3");
        ASSERT_OK(ipam_allocate(ipam, "epsilon", AF_INET, &again));
        ASSERT_STREQ(addr_str(AF_INET, &again), "10.200.0.5");

        ASSERT_ERROR(ipam_allocate(ipam, "", AF_INET, &again), EINVAL);
        ASSERT_ERROR(ipam_allocate(ipam, NULL, AF_INET, &again), EINVAL);
        ASSERT_ERROR(ipam_allocate(ipam, "x", AF_INET6, &again), EAFNOSUPPORT);
        ASSERT_ERROR(ipam_allocate(ipam, "x", AF_UNIX, &again), EAFNOSUPPORT);
        ASSERT_ERROR(ipam_release(ipam, ""), EINVAL);
}

TEST(exhaustion) {
        _cleanup_(ipam_freep) Ipam *ipam = NULL;
        char path[PATH_MAX], owner[32];
        InAddrUnion a;
        IpamConfig c;

        /* A /29: .1 is the gateway, .7 the broadcast, .2-.6 for containers. */
        ipam_config_init(&c);
        c.node_prefixlen4 = 29;
        c.node_index = 3;
        ASSERT_OK(ipam_open(new_db(path, sizeof path), &c, &ipam));
        ASSERT_U64_EQ(ipam_capacity(ipam, AF_INET), 5);
        for (unsigned i = 0; i < 5; i++) {
                snprintf(owner, sizeof owner, "c%u", i);
                ASSERT_OK(ipam_allocate(ipam, owner, AF_INET, &a));
        }
        ASSERT_STREQ(addr_str(AF_INET, &a), "10.200.0.30");
        ASSERT_ERROR(ipam_allocate(ipam, "one-more", AF_INET, &a), ENOSPC);
        /* Still idempotent when full. */
        ASSERT_OK(ipam_allocate(ipam, "c2", AF_INET, &a));
        ASSERT_STREQ(addr_str(AF_INET, &a), "10.200.0.28");
        ASSERT_EQ(ipam_release(ipam, "c2"), 1);
        ASSERT_OK(ipam_allocate(ipam, "one-more", AF_INET, &a));
        ASSERT_STREQ(addr_str(AF_INET, &a), "10.200.0.28");
}

TEST(persistence_and_subnet_change) {
        char path[PATH_MAX];
        InAddrUnion a;
        IpamConfig c;
        Ipam *ipam;

        new_db(path, sizeof path);
        ipam = open_default(path);
        ASSERT_OK(ipam_allocate(ipam, "keep", AF_INET, &a));
        ipam_free(ipam);

        ipam = open_default(path);
        ASSERT_OK(ipam_lookup(ipam, "keep", AF_INET, &a));
        ASSERT_STREQ(addr_str(AF_INET, &a), "10.200.0.2");
        ASSERT_OK(ipam_allocate(ipam, "next", AF_INET, &a));
        ASSERT_STREQ(addr_str(AF_INET, &a), "10.200.0.3");
        ipam_free(ipam);

        /* Another node subnet under live allocations is refused... */
        ipam_config_init(&c);
        c.node_index = 9;
        ASSERT_ERROR(ipam_open(path, &c, &ipam), EBUSY);

        /* ...and accepted once they are gone. */
        ipam = open_default(path);
        ASSERT_EQ(ipam_release(ipam, "keep"), 1);
        ASSERT_EQ(ipam_release(ipam, "next"), 1);
        ipam_free(ipam);
        ASSERT_OK(ipam_open(path, &c, &ipam));
        ASSERT_OK(ipam_allocate(ipam, "moved", AF_INET, &a));
        ASSERT_STREQ(addr_str(AF_INET, &a), "10.200.9.2");
        ipam_free(ipam);
}

TEST(ipv6_ula) {
        _cleanup_(ipam_freep) Ipam *ipam = NULL;
        char path[PATH_MAX], buf[IP_PREFIX_STRING_MAX];
        IpamAllocation *list = NULL;
        InAddrUnion a;
        IpamConfig c;
        size_t n;

        ipam_config_init(&c);
        c.node_index = 4;
        ASSERT_OK(ip_prefix_from_string("fd00:200::/48", &c.cluster6));
        ASSERT_OK(ipam_open(new_db(path, sizeof path), &c, &ipam));
        ASSERT_STREQ(ip_prefix_to_string(ipam_node_subnet(ipam, AF_INET6), buf),
                     "fd00:200:0:4::/64");
        ASSERT_OK(ipam_gateway(ipam, AF_INET6, &a));
        ASSERT_STREQ(addr_str(AF_INET6, &a), "fd00:200:0:4::1");
        ASSERT_OK(ipam_allocate(ipam, "web", AF_INET6, &a));
        ASSERT_STREQ(addr_str(AF_INET6, &a), "fd00:200:0:4::2");
        ASSERT_OK(ipam_allocate(ipam, "web", AF_INET, &a));
        ASSERT_STREQ(addr_str(AF_INET, &a), "10.200.4.2");
        ASSERT_OK(ipam_allocate(ipam, "db", AF_INET6, &a));
        ASSERT_STREQ(addr_str(AF_INET6, &a), "fd00:200:0:4::3");
        ASSERT_OK(ipam_list(ipam, &list, &n));
        ASSERT_EQ(n, 3u);
        ipam_allocation_array_free(list, n);
        ASSERT_EQ(ipam_release(ipam, "web"), 2);
        ipam = ipam_free(ipam);

        /* Only unique local addresses. */
        ASSERT_OK(ip_prefix_from_string("2001:db8::/48", &c.cluster6));
        ASSERT_ERROR(ipam_open(new_db(path, sizeof path), &c, &ipam), EINVAL);
        /* IPv6 alone. */
        ASSERT_OK(ip_prefix_from_string("fd12:3456::/32", &c.cluster6));
        c.cluster4.family = AF_UNSPEC;
        c.node_index = 0x1234;
        c.node_prefixlen6 = 56;
        ASSERT_OK(ipam_open(new_db(path, sizeof path), &c, &ipam));
        ASSERT_NULL(ipam_node_subnet(ipam, AF_INET));
        ASSERT_STREQ(ip_prefix_to_string(ipam_node_subnet(ipam, AF_INET6), buf),
                     "fd12:3456:12:3400::/56");
        ASSERT_OK(ipam_allocate(ipam, "x", AF_INET6, &a));
        ASSERT_STREQ(addr_str(AF_INET6, &a), "fd12:3456:12:3400::2");
        ASSERT_ERROR(ipam_allocate(ipam, "x", AF_INET, &a), EAFNOSUPPORT);
}

/* A child allocates in a loop and is killed mid-way; after reopening, every address is held
 * by exactly one owner, and new allocations do not collide with the child's. */
TEST(kill9_never_double_allocates) {
        char path[PATH_MAX], owner[32];
        IpamAllocation *list = NULL;
        InAddrUnion a;
        Ipam *ipam;
        size_t n;
        pid_t pid;
        int status;

        new_db(path, sizeof path);
        ipam_free(open_default(path));
        pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                Ipam *child = open_default(path);
                for (unsigned i = 0;; i++) {
                        snprintf(owner, sizeof owner, "child-%u", i % 200);
                        if (ipam_allocate(child, owner, AF_INET, &a) < 0)
                                _exit(1);
                        if (i % 200 == 199)
                                for (unsigned k = 0; k < 200; k += 3) {
                                        snprintf(owner, sizeof owner, "child-%u", k);
                                        (void) ipam_release(child, owner);
                                }
                }
        }
        usleep(150 * 1000);
        ASSERT_OK(kill(pid, SIGKILL));
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        ASSERT_TRUE(WIFSIGNALED(status));

        ipam = open_default(path);
        for (unsigned i = 0; i < 20; i++) {
                snprintf(owner, sizeof owner, "parent-%u", i);
                if (ipam_allocate(ipam, owner, AF_INET, &a) == -ENOSPC)
                        break;
        }
        ASSERT_OK(ipam_list(ipam, &list, &n));
        ASSERT_GT(n, 0u);
        for (size_t i = 0; i < n; i++)
                for (size_t j = i + 1; j < n; j++)
                        ASSERT_FALSE(memcmp(&list[i].address, &list[j].address, 4) == 0);
        ipam_allocation_array_free(list, n);
        ipam_free(ipam);
}

/* Two processes allocating from one store at once: sqlite's write lock serialises them. */
TEST(two_writers) {
        char path[PATH_MAX], owner[32];
        IpamAllocation *list = NULL;
        pid_t pids[2];
        size_t n;
        Ipam *ipam;
        int status;

        new_db(path, sizeof path);
        ipam_free(open_default(path));
        for (unsigned p = 0; p < 2; p++) {
                pids[p] = fork();
                ASSERT_TRUE(pids[p] >= 0);
                if (pids[p] == 0) {
                        Ipam *child = open_default(path);
                        InAddrUnion a;
                        for (unsigned i = 0; i < 60; i++) {
                                snprintf(owner, sizeof owner, "p%u-%u", p, i);
                                if (ipam_allocate(child, owner, AF_INET, &a) < 0)
                                        _exit(1);
                        }
                        ipam_free(child);
                        _exit(0);
                }
        }
        for (unsigned p = 0; p < 2; p++) {
                ASSERT_EQ(waitpid(pids[p], &status, 0), pids[p]);
                ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        }
        ipam = open_default(path);
        ASSERT_OK(ipam_list(ipam, &list, &n));
        ASSERT_EQ(n, 120u);
        for (size_t i = 0; i < n; i++)
                for (size_t j = i + 1; j < n; j++)
                        ASSERT_FALSE(memcmp(&list[i].address, &list[j].address, 4) == 0);
        ipam_allocation_array_free(list, n);
        ipam_free(ipam);
}
