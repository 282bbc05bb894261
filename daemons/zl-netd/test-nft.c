/* SPDX-License-Identifier: Apache-2.0 */
/* test-nft.c: table inet zlayer against the kernel, and the masquerade it makes, in a network
 * namespace of the test's own. */
#include <stdio.h>
#include <sys/socket.h>

#include "netd-attach.h"
#include "netd-test-netns.h"
#include "nft.h"
#include "string-util.h"
#include "tests.h"

static bool nft_has_table(const char *family, const char *name) {
        _cleanup_free_ char *out = NULL, *cmd = NULL;

        cmd = strjoin("list table ", family, " ", name);
        ASSERT_NOT_NULL(cmd);
        return nft_run(cmd, false, &out, NULL) >= 0;
}

TEST(table) {
        _cleanup_free_ char *ruleset = NULL, *out = NULL, *err = NULL;
        NetdFirewallConfig fw = { .bridge = "zl0", .cluster6.family = AF_UNSPEC };

        netd_test_private_netns();
        ASSERT_OK(ip_prefix_from_string("10.200.0.0/16", &fw.cluster4));
        ASSERT_OK(nft_zlayer_ruleset(&fw, &ruleset));
        ASSERT_NOT_NULL(strstr(
                ruleset,
                "ip saddr 10.200.0.0/16 ip daddr != 10.200.0.0/16 oifname != \"zl0\" masquerade"));

        /* Someone else's table, which must survive everything below. */
        ASSERT_OK(nft_run("add table ip other\nadd chain ip other c\n", false, NULL, NULL));

        ASSERT_EQ(nft_zlayer_exists(), 0);
        ASSERT_OK(nft_zlayer_remove(NULL));
        ASSERT_OK(nft_zlayer_apply(&fw, NULL));
        ASSERT_OK(nft_zlayer_apply(&fw, NULL));
        ASSERT_EQ(nft_zlayer_exists(), 1);
        ASSERT_OK(nft_run("list table inet zlayer", false, &out, NULL));
        ASSERT_NOT_NULL(strstr(out, "masquerade"));
        ASSERT_NOT_NULL(strstr(out, "iifname \"zl0\" accept"));
        /* Applied twice, the rule is there once. */
        ASSERT_NULL(strstr(strstr(out, "masquerade") + 1, "masquerade"));
        ASSERT_TRUE(nft_has_table("ip", "other"));

        ASSERT_OK(nft_zlayer_remove(NULL));
        ASSERT_EQ(nft_zlayer_exists(), 0);
        ASSERT_OK(nft_zlayer_remove(NULL));
        ASSERT_TRUE(nft_has_table("ip", "other"));

        /* Bad input never reaches nftables. */
        fw.bridge = "zl0\" accept; #";
        ASSERT_ERROR(nft_zlayer_apply(&fw, NULL), EINVAL);
        fw.bridge = "zl0";
        fw.cluster4.family = AF_UNSPEC;
        ASSERT_ERROR(nft_zlayer_apply(&fw, NULL), EINVAL);
        /* nftables' own complaint comes back. */
        ASSERT_ERROR(nft_run("add table inet zlayer { bogus }", false, NULL, &err), EPROTO);
        ASSERT_NOT_NULL(err);

        ASSERT_OK(nft_run("delete table ip other", false, NULL, NULL));
}

/* A container reaches a server in another namespace that stands in for "outside" through the
 * masquerade; without the table, the outside would see the container's own address. */
TEST(masquerade) {
        _cleanup_(netd_attachment_freep) NetdAttachment *a = NULL;
        NetdNetnsConfig oc = { .ifname = "eth0", .n_addresses = 1 };
        char db[PATH_MAX];
        struct ether_addr mac;
        NetdConfig c;
        NetdLink *l;
        Netd *n;
        IpPrefix p;
        int ns, outside;

        netd_test_private_netns();
        snprintf(db, sizeof db, "%s/netd.db", test_tmpdir());
        netd_config_init(&c);
        c.db_path = db;
        c.ipam.node_index = 3;
        l = netd_test_real_link();
        ASSERT_OK(netd_new(&c, l, &n));
        ASSERT_OK(netd_setup(n, NULL));
        ASSERT_EQ(nft_zlayer_exists(), 1);

        /* "Outside": a namespace behind a bridge of the host, 192.168.77.0/24. */
        outside = netd_test_new_netns();
        ASSERT_OK(ip_prefix_from_string("192.168.77.0/24", &p));
        p.address.bytes[3] = 2;
        ASSERT_OK(l->ops->bridge_ensure(l->state, "tout", 1500, &p, 1));
        ASSERT_OK(l->ops->veth_create(l->state, &(NetdVethConfig){ .host_ifname = "tout-h",
                                                                   .peer_ifname = "eth0",
                                                                   .peer_netns_fd = outside,
                                                                   .bridge = "tout" }));
        oc.addresses[0] = p;
        oc.addresses[0].address.bytes[3] = 1;
        oc.gateways[0] = p.address;
        ASSERT_OK(l->ops->netns_configure(l->state, outside, &oc, &mac));

        ns = netd_test_new_netns();
        ASSERT_OK(netd_attach(n, "c1", netd_test_netns_path(ns), NULL, &a));
        ASSERT_STREQ(netd_test_tcp_source(outside, "192.168.77.1", ns), "192.168.77.2");

        ASSERT_OK(nft_zlayer_remove(NULL));
        ASSERT_STREQ(netd_test_tcp_source(outside, "192.168.77.1", ns), "10.200.3.2");
        /* setup puts it back. */
        ASSERT_OK(netd_setup(n, NULL));
        ASSERT_STREQ(netd_test_tcp_source(outside, "192.168.77.1", ns), "192.168.77.2");

        ASSERT_OK(netd_detach(n, "c1"));
        ASSERT_OK(l->ops->link_delete(l->state, "tout-h"));
        ASSERT_OK(l->ops->link_delete(l->state, "tout"));
        ASSERT_OK(netd_teardown(n));
        ASSERT_EQ(nft_zlayer_exists(), 0);
        ASSERT_FALSE(netd_test_link_in(netd_test_host_ns, "zl0"));
        netd_free(n);
        close(ns);
        close(outside);
}
