/* SPDX-License-Identifier: Apache-2.0 */
/* test-link-real.c: the netlink back end against the kernel, in network namespaces the test
 * makes (the whole test runs in a private one, so the host is never touched). nftables is
 * test-nft.c's. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/ether.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "netd-attach.h"
#include "netlink-ops.h"
#include "string-util.h"
#include "netd-test-netns.h"
#include "tests.h"

TEST(netns_open) {
        _cleanup_(netd_link_freep) NetdLink *l = NULL;
        char path[PATH_MAX];
        int fd = -EBADF, ns;

        netd_test_private_netns();
        l = netd_test_real_link();
        ns = netd_test_new_netns();
        ASSERT_OK(l->ops->netns_open(l->state, netd_test_netns_path(ns), &fd));
        ASSERT_TRUE(fd >= 0);
        close(fd);
        ASSERT_ERROR(l->ops->netns_open(l->state, "/nonexistent/netns", &fd), ENOENT);
        ASSERT_ERROR(l->ops->netns_open(l->state, "/proc/self/ns/uts", &fd), EINVAL);
        snprintf(path, sizeof path, "%s/plain", test_tmpdir());
        fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        ASSERT_TRUE(fd >= 0);
        close(fd);
        ASSERT_ERROR(l->ops->netns_open(l->state, path, &fd), EINVAL);
        close(ns);
}

/* The hardware address that follows the word `keyword` in the output of the iproute2 command
 * cmd, as ether_ntoa() writes it; "" when there is none. */
static const char *ip_lladdr(const char *cmd, const char *keyword) {
        static char buf[64];
        char word[32];
        struct ether_addr ea;
        FILE *f;

        f = popen(cmd, "r");
        ASSERT_NOT_NULL(f);
        buf[0] = 0;
        while (fscanf(f, "%31s", word) == 1)
                if (streq(word, keyword)) {
                        if (fscanf(f, "%31s", word) == 1 && ether_aton_r(word, &ea))
                                snprintf(buf, sizeof buf, "%s", ether_ntoa(&ea));
                        break;
                }
        pclose(f);
        return buf;
}

/* Of a link of our namespace. */
static const char *link_lladdr(const char *ifname) {
        char cmd[128];

        snprintf(cmd, sizeof cmd, "ip -o link show dev %s", ifname);
        return ip_lladdr(cmd, "link/ether");
}

/* Of our neighbour entry for address on ifname. */
static const char *neigh_lladdr(const char *ifname, const char *address) {
        char cmd[128];

        snprintf(cmd, sizeof cmd, "ip neigh show dev %s to %s", ifname, address);
        return ip_lladdr(cmd, "lladdr");
}

TEST(bridge_and_veth) {
        _cleanup_(netd_link_freep) NetdLink *l = NULL;
        _cleanup_strv_free_ char **names = NULL;
        struct ether_addr want;
        IpPrefix gw;
        int ns, ns2;

        netd_test_private_netns();
        l = netd_test_real_link();
        ASSERT_OK(ip_prefix_from_string("10.99.0.0/24", &gw));
        gw.address.bytes[3] = 1;
        ASSERT_OK(l->ops->bridge_ensure(l->state, "tbr0", 1500, &gw, 1));
        ASSERT_OK(l->ops->bridge_ensure(l->state, "tbr0", 1500, &gw, 1));
        ASSERT_EQ(l->ops->link_exists(l->state, "tbr0"), 1);
        ASSERT_EQ(l->ops->link_exists(l->state, "nosuch0"), 0);

        /* The bridge's hardware address is ours, and stays when a port with a lower one
         * joins (the kernel would otherwise take the port's). */
        netd_bridge_mac("tbr0", &gw, &want);
        ASSERT_STREQ(link_lladdr("tbr0"), ether_ntoa(&want));
        ASSERT_TRUE(system("ip link add tlow0 address 02:00:00:00:00:01 type veth "
                           "peer name tlow1 && "
                           "ip link set tlow0 master tbr0 up") == 0);
        ASSERT_STREQ(link_lladdr("tbr0"), ether_ntoa(&want));
        ASSERT_OK(l->ops->link_delete(l->state, "tlow0"));

        ns = netd_test_new_netns();
        ASSERT_OK(l->ops->veth_create(l->state, &(NetdVethConfig){ .host_ifname = "tv-host",
                                                                   .peer_ifname = "eth0",
                                                                   .peer_netns_fd = ns,
                                                                   .bridge = "tbr0",
                                                                   .mtu = 1400 }));
        ASSERT_TRUE(netd_test_link_in(ns, "eth0"));
        ASSERT_FALSE(netd_test_link_in(netd_test_host_ns, "eth0"));
        ASSERT_ERROR(l->ops->veth_create(l->state, &(NetdVethConfig){ .host_ifname = "tv-host",
                                                                      .peer_ifname = "eth1",
                                                                      .peer_netns_fd = ns,
                                                                      .bridge = "tbr0" }),
                     EEXIST);
        ASSERT_ERROR(l->ops->veth_create(l->state, &(NetdVethConfig){ .host_ifname = "tv-x",
                                                                      .peer_ifname = "eth1",
                                                                      .peer_netns_fd = ns,
                                                                      .bridge = "nobridge" }),
                     ENODEV);
        /* Not a bridge. */
        ASSERT_ERROR(l->ops->bridge_ensure(l->state, "tv-host", 1500, &gw, 1), ENOTTY);

        ASSERT_OK(l->ops->link_list(l->state, "tv-", &names));
        ASSERT_EQ(strv_length(names), 1u);
        ASSERT_STREQ(names[0], "tv-host");

        /* Moving a link, renamed on the way. */
        ns2 = netd_test_new_netns();
        ASSERT_OK(l->ops->link_move_netns(l->state, "tv-host", ns2, "moved0"));
        ASSERT_EQ(l->ops->link_exists(l->state, "tv-host"), 0);
        ASSERT_TRUE(netd_test_link_in(ns2, "moved0"));
        ASSERT_ERROR(l->ops->link_move_netns(l->state, "tv-host", ns2, NULL), ENODEV);

        ASSERT_OK(l->ops->link_delete(l->state, "tbr0"));
        ASSERT_ERROR(l->ops->link_delete(l->state, "tbr0"), ENODEV);
        close(ns2);
        close(ns);
}

TEST(netns_configure) {
        _cleanup_(netd_link_freep) NetdLink *l = NULL;
        NetdNetnsConfig cfg = { .ifname = "eth0", .mtu = 1420, .n_addresses = 1 };
        struct ether_addr mac = {}, zero = {};
        IpPrefix gw;
        int ns;

        netd_test_private_netns();
        l = netd_test_real_link();
        ASSERT_OK(ip_prefix_from_string("10.98.0.0/24", &gw));
        gw.address.bytes[3] = 1;
        ASSERT_OK(l->ops->bridge_ensure(l->state, "tbr1", 1500, &gw, 1));
        ns = netd_test_new_netns();
        ASSERT_OK(l->ops->veth_create(l->state, &(NetdVethConfig){ .host_ifname = "tc-host",
                                                                   .peer_ifname = "eth0",
                                                                   .peer_netns_fd = ns,
                                                                   .bridge = "tbr1",
                                                                   .mtu = 1420 }));
        cfg.addresses[0] = gw;
        cfg.addresses[0].address.bytes[3] = 9;
        cfg.gateways[0] = gw.address;
        ASSERT_OK(l->ops->netns_configure(l->state, ns, &cfg, &mac));
        ASSERT_FALSE(memcmp(&mac, &zero, sizeof mac) == 0);
        /* The container reaches the gateway, and the host sees its address. */
        ASSERT_STREQ(netd_test_tcp_source(netd_test_host_ns, "10.98.0.1", ns), "10.98.0.9");
        ASSERT_STREQ(netd_test_tcp_source(ns, "10.98.0.9", netd_test_host_ns), "10.98.0.1");
        /* Loopback is up inside. */
        ASSERT_STREQ(netd_test_tcp_source(ns, "127.0.0.1", ns), "127.0.0.1");

        /* The host's neighbour entry follows neigh_replace: first a stale owner's address (as
         * left by a container that had 10.98.0.9 before), then the real one, which the host
         * reaches at once. */
        ASSERT_OK(l->ops->neigh_replace(l->state, "tbr1", cfg.addresses, 1,
                                        &(struct ether_addr){ { 0x02, 0, 0, 0, 0, 0x01 } }));
        ASSERT_STREQ(neigh_lladdr("tbr1", "10.98.0.9"), "2:0:0:0:0:1");
        ASSERT_OK(l->ops->neigh_replace(l->state, "tbr1", cfg.addresses, 1, &mac));
        ASSERT_STREQ(neigh_lladdr("tbr1", "10.98.0.9"), ether_ntoa(&mac));
        ASSERT_STREQ(netd_test_tcp_source(ns, "10.98.0.9", netd_test_host_ns), "10.98.0.1");
        ASSERT_ERROR(l->ops->neigh_replace(l->state, "nosuch0", cfg.addresses, 1, &mac), ENODEV);

        /* A missing interface inside. */
        cfg.ifname = "eth5";
        ASSERT_ERROR(l->ops->netns_configure(l->state, ns, &cfg, &mac), ENODEV);
        cfg.n_addresses = 0;
        ASSERT_ERROR(l->ops->netns_configure(l->state, ns, &cfg, &mac), EINVAL);

        ASSERT_OK(l->ops->link_delete(l->state, "tc-host"));
        /* The peer went with it. */
        ASSERT_FALSE(netd_test_link_in(ns, "eth0"));
        ASSERT_OK(l->ops->link_delete(l->state, "tbr1"));
        close(ns);
}

/* The node as zl-netd will run it: bridge, containers in namespaces, a restart in the middle.
 * The firewall is test-nft.c's (libnftables upsets valgrind). */
TEST(node_end_to_end) {
        _cleanup_(netd_attachment_freep) NetdAttachment *a = NULL, *b = NULL, *again = NULL;
        _cleanup_strv_free_ char **links = NULL;
        char db[PATH_MAX], buf[IP_PREFIX_STRING_MAX], ifname[16];
        NetdAttachment **list = NULL;
        IpamAllocation *allocs = NULL;
        NetdSweepResult s;
        NetdConfig c;
        NetdLink *l;
        Netd *n;
        IpPrefix p;
        int ns1, ns2, gone;
        size_t k;

        netd_test_private_netns();
        snprintf(db, sizeof db, "%s/netd.db", test_tmpdir());
        netd_config_init(&c);
        c.db_path = db;
        c.ipam.node_index = 3;
        c.firewall = false;
        l = netd_test_real_link();
        ASSERT_OK(netd_new(&c, l, &n));
        ASSERT_OK(netd_setup(n, NULL));
        ASSERT_OK(netd_setup(n, NULL));

        ns1 = netd_test_new_netns();
        ns2 = netd_test_new_netns();
        ASSERT_OK(netd_attach(n, "c1", netd_test_netns_path(ns1), NULL, &a));
        ASSERT_OK(netd_attach(n, "c2", netd_test_netns_path(ns2), NULL, &b));
        ASSERT_STREQ(ip_prefix_to_string(&a->addresses[0], buf), "10.200.3.2/24");
        ASSERT_STREQ(ip_prefix_to_string(&b->addresses[0], buf), "10.200.3.3/24");
        ASSERT_TRUE(netd_test_link_in(ns1, "eth0"));

        /* Container to container, host to container, container to host. */
        ASSERT_STREQ(netd_test_tcp_source(ns2, "10.200.3.3", ns1), "10.200.3.2");
        ASSERT_STREQ(netd_test_tcp_source(ns1, "10.200.3.2", netd_test_host_ns), "10.200.3.1");
        ASSERT_STREQ(netd_test_tcp_source(netd_test_host_ns, "10.200.3.1", ns2), "10.200.3.3");

        /* Idempotent attach. */
        ASSERT_OK(netd_attach(n, "c1", netd_test_netns_path(ns1), NULL, &again));
        ASSERT_TRUE(memcmp(&again->mac, &a->mac, sizeof a->mac) == 0);

        /* A namespace that is gone: a clear error and nothing left. */
        gone = netd_test_new_netns();
        {
                char path[64];
                snprintf(path, sizeof path, "%s", netd_test_netns_path(gone));
                close(gone);
                ASSERT_ERROR(netd_attach(n, "c3", path, NULL, NULL), ENOENT);
        }
        netd_host_ifname("c3", ifname);
        ASSERT_EQ(l->ops->link_exists(l->state, ifname), 0);
        ASSERT_ERROR(ipam_lookup(netd_ipam(n), "c3", AF_INET, &p.address), ENOENT);

        /* A restart keeps both; an orphan veth left by a crash is swept. */
        n = netd_free(n);
        l = netd_test_real_link();
        ASSERT_OK(l->ops->veth_create(l->state, &(NetdVethConfig){ .host_ifname = "zlvdeadbeef0000",
                                                                   .peer_ifname = "orphan",
                                                                   .peer_netns_fd = ns2,
                                                                   .bridge = "zl0" }));
        ASSERT_OK(netd_new(&c, l, &n));
        ASSERT_OK(netd_setup(n, NULL));
        ASSERT_OK(netd_sweep(n, &s));
        ASSERT_EQ(s.kept, 2u);
        ASSERT_EQ(s.orphan_links, 1u);
        ASSERT_FALSE(netd_test_link_in(ns2, "orphan"));
        ASSERT_STREQ(netd_test_tcp_source(ns2, "10.200.3.3", ns1), "10.200.3.2");

        /* Detach removes the veth (and its peer) and frees the address. */
        ASSERT_OK(netd_detach(n, "c1"));
        ASSERT_EQ(l->ops->link_exists(l->state, a->host_ifname), 0);
        ASSERT_FALSE(netd_test_link_in(ns1, "eth0"));
        ASSERT_ERROR(ipam_lookup(netd_ipam(n), "c1", AF_INET, &p.address), ENOENT);

        /* The container of c2 exits: its namespace and veth go; the sweep frees the address. */
        close(ns2);
        for (unsigned i = 0; i < 100 && l->ops->link_exists(l->state, b->host_ifname) > 0; i++)
                usleep(20 * 1000);
        ASSERT_OK(netd_sweep(n, &s));
        ASSERT_EQ(s.vanished, 1u);
        ASSERT_OK(netd_list(n, &list, &k));
        ASSERT_EQ(k, 0u);
        netd_attachment_array_free(list, k);
        ASSERT_OK(ipam_list(netd_ipam(n), &allocs, &k));
        ASSERT_EQ(k, 0u);
        ipam_allocation_array_free(allocs, k);

        /* Clean up: everything of ours, checked. */
        ASSERT_OK(netd_teardown(n));
        ASSERT_OK(l->ops->link_list(l->state, "", &links));
        ASSERT_EQ(strv_length(links), 1u); /* lo */
        ASSERT_STREQ(links[0], "lo");
        netd_free(n);
        close(ns1);
}

/* Dual stack: both addresses and both default routes inside, IPv6 between containers. */
TEST(dual_stack) {
        _cleanup_(netd_attachment_freep) NetdAttachment *a = NULL, *b = NULL;
        char db[PATH_MAX], buf[IP_PREFIX_STRING_MAX];
        NetdConfig c;
        Netd *n;
        int ns1, ns2;

        netd_test_private_netns();
        snprintf(db, sizeof db, "%s/netd-dual.db", test_tmpdir());
        netd_config_init(&c);
        c.db_path = db;
        c.bridge = "zl6";
        c.firewall = false;
        c.ipam.node_index = 7;
        ASSERT_OK(ip_prefix_from_string("fd00:200::/48", &c.ipam.cluster6));
        ASSERT_OK(netd_new(&c, netd_test_real_link(), &n));
        ASSERT_OK(netd_setup(n, NULL));

        ns1 = netd_test_new_netns();
        ns2 = netd_test_new_netns();
        ASSERT_OK(netd_attach(n, "v6-a", netd_test_netns_path(ns1), NULL, &a));
        ASSERT_OK(netd_attach(n, "v6-b", netd_test_netns_path(ns2), NULL, &b));
        ASSERT_EQ(a->n_addresses, 2u);
        ASSERT_STREQ(ip_prefix_to_string(&a->addresses[1], buf), "fd00:200:0:7::2/64");
        ASSERT_STREQ(netd_test_tcp_source(ns2, "fd00:200:0:7::3", ns1), "fd00:200:0:7::2");
        ASSERT_STREQ(netd_test_tcp_source(netd_test_host_ns, "fd00:200:0:7::1", ns2),
                     "fd00:200:0:7::3");
        ASSERT_STREQ(netd_test_tcp_source(ns1, "10.200.7.2", ns2), "10.200.7.3");

        ASSERT_OK(netd_detach(n, "v6-a"));
        ASSERT_OK(netd_detach(n, "v6-b"));
        ASSERT_OK(netd_teardown(n));
        ASSERT_FALSE(netd_test_link_in(netd_test_host_ns, "zl6"));
        netd_free(n);
        close(ns1);
        close(ns2);
}
