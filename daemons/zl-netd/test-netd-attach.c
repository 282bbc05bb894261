/* SPDX-License-Identifier: Apache-2.0 */
/* test-netd-attach.c: attach, detach, idempotence, failure clean-up and the sweep, on the fake
 * kernel. */
#include <fcntl.h>
#include <netinet/ether.h>
#include <stdio.h>
#include <sys/socket.h>

#include "netd-attach.h"
#include "string-util.h"
#include "tests.h"

static unsigned counter;

typedef struct Env {
        char db[PATH_MAX];
        NetdLink *link; /* owned by netd */
        Netd *netd;
} Env;

static void env_open(Env *e, const NetdConfig *config) {
        NetdConfig c;

        if (config)
                c = *config;
        else
                netd_config_init(&c);
        c.db_path = e->db;
        ASSERT_OK(netd_link_new(&netd_link_fake_ops, &e->link));
        ASSERT_OK(netd_new(&c, e->link, &e->netd));
}

static void env_init(Env *e, const NetdConfig *config) {
        *e = (Env){};
        snprintf(e->db, sizeof e->db, "%s/netd-%u.db", test_tmpdir(), counter++);
        env_open(e, config);
        ASSERT_OK(netd_setup(e->netd, NULL));
}

/* A restart: the store stays, the fake kernel's links are carried over into the new one. */
static void env_restart(Env *e) {
        _cleanup_strv_free_ char **links = NULL;

        ASSERT_OK(e->link->ops->link_list(e->link->state, "", &links));
        e->netd = netd_free(e->netd);
        env_open(e, NULL);
        for (char **l = links; *l; l++)
                if (!streq(*l, NETD_BRIDGE_DEFAULT))
                        ASSERT_OK(netd_link_fake_add_link(e->link, *l));
        ASSERT_OK(netd_setup(e->netd, NULL));
}

static const char *new_netns(void) {
        static char path[PATH_MAX];
        int fd;

        snprintf(path, sizeof path, "%s/netns-%u", test_tmpdir(), counter++);
        fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        ASSERT_TRUE(fd >= 0);
        close(fd);
        return path;
}

static const char *addr_str(const IpPrefix *p) {
        static char buf[IP_PREFIX_STRING_MAX];
        return ip_prefix_to_string(p, buf);
}

TEST(setup) {
        Env e;

        env_init(&e, NULL);
        ASSERT_TRUE(netd_link_fake_has_link(e.link, "zl0"));
        ASSERT_TRUE(netd_link_fake_firewall_active(e.link));
        ASSERT_TRUE(netd_link_fake_forwarding(e.link, AF_INET));
        ASSERT_FALSE(netd_link_fake_forwarding(e.link, AF_INET6));
        ASSERT_STREQ(netd_bridge(e.netd), "zl0");
        /* Idempotent. */
        ASSERT_OK(netd_setup(e.netd, NULL));
        ASSERT_EQ(netd_link_fake_n_calls(e.link, "bridge_ensure"), 2u);
        ASSERT_EQ(netd_link_fake_n_links(e.link), 1u);

        ASSERT_OK(netd_teardown(e.netd));
        ASSERT_FALSE(netd_link_fake_has_link(e.link, "zl0"));
        ASSERT_FALSE(netd_link_fake_firewall_active(e.link));
        ASSERT_OK(netd_teardown(e.netd));
        netd_free(e.netd);
}

TEST(setup_errors) {
        _cleanup_free_ char *msg = NULL;
        NetdConfig c;
        Env e;

        env_init(&e, NULL);
        netd_link_fake_fail_next(e.link, "firewall_apply", EPERM);
        ASSERT_ERROR(netd_setup(e.netd, &msg), EPERM);
        ASSERT_STREQ(msg, "injected failure");
        netd_free(e.netd);

        /* A link of the bridge's name that is no bridge. */
        *(&e) = (Env){};
        snprintf(e.db, sizeof e.db, "%s/netd-%u.db", test_tmpdir(), counter++);
        env_open(&e, NULL);
        ASSERT_OK(netd_link_fake_add_link(e.link, "zl0"));
        ASSERT_ERROR(netd_setup(e.netd, NULL), ENOTTY);
        netd_free(e.netd);

        netd_config_init(&c);
        c.db_path = e.db;
        c.bridge = "zlv-not-allowed";
        ASSERT_OK(netd_link_new(&netd_link_fake_ops, &e.link));
        ASSERT_ERROR(netd_new(&c, e.link, &e.netd), EINVAL);
        c.bridge = "a-name-far-too-long";
        ASSERT_OK(netd_link_new(&netd_link_fake_ops, &e.link));
        ASSERT_ERROR(netd_new(&c, e.link, &e.netd), EINVAL);
        c.bridge = NULL;
        c.mtu = 100;
        ASSERT_OK(netd_link_new(&netd_link_fake_ops, &e.link));
        ASSERT_ERROR(netd_new(&c, e.link, &e.netd), ERANGE);
}

TEST(attach_detach) {
        _cleanup_(netd_attachment_freep) NetdAttachment *a = NULL, *b = NULL, *again = NULL;
        const NetdNetnsConfig *cfg;
        char ifname[16], buf[IP_PREFIX_STRING_MAX];
        const char *ns1, *ns2;
        NetdAttachment **list = NULL;
        size_t n;
        Env e;

        env_init(&e, NULL);
        ns1 = strdupa(new_netns());
        ns2 = strdupa(new_netns());

        ASSERT_OK(netd_attach(e.netd, "web-1", ns1, NULL, &a));
        ASSERT_STREQ(a->container_id, "web-1");
        ASSERT_STREQ(a->netns_path, ns1);
        netd_host_ifname("web-1", ifname);
        ASSERT_STREQ(a->host_ifname, ifname);
        ASSERT_TRUE(startswith(a->host_ifname, "zlv"));
        ASSERT_EQ(strlen(a->host_ifname), 15u);
        ASSERT_EQ(a->n_addresses, 1u);
        ASSERT_STREQ(addr_str(&a->addresses[0]), "10.200.0.2/24");
        ASSERT_STREQ(in_addr_to_string(AF_INET, &a->gateways[0], buf), "10.200.0.1");
        ASSERT_EQ(a->mtu, 1500u);
        ASSERT_TRUE(netd_link_fake_has_link(e.link, ifname));
        ASSERT_STREQ(netd_link_fake_link_master(e.link, ifname), "zl0");

        cfg = netd_link_fake_last_netns_config(e.link);
        ASSERT_NOT_NULL(cfg);
        ASSERT_EQ(cfg->n_addresses, 1u);
        ASSERT_STREQ(addr_str(&cfg->addresses[0]), "10.200.0.2/24");
        ASSERT_STREQ(in_addr_to_string(AF_INET, &cfg->gateways[0], buf), "10.200.0.1");
        ASSERT_EQ(cfg->mtu, 1500u);

        ASSERT_OK(netd_attach(e.netd, "db-1", ns2, &(NetdAttachOptions){ .mtu = 1400 }, &b));
        ASSERT_STREQ(addr_str(&b->addresses[0]), "10.200.0.3/24");
        ASSERT_EQ(b->mtu, 1400u);
        ASSERT_FALSE(memcmp(&a->mac, &b->mac, sizeof a->mac) == 0);

        /* A second attach is the same attachment, and touches nothing. */
        ASSERT_OK(netd_attach(e.netd, "web-1", ns1, NULL, &again));
        ASSERT_STREQ(addr_str(&again->addresses[0]), "10.200.0.2/24");
        ASSERT_TRUE(memcmp(&again->mac, &a->mac, sizeof a->mac) == 0);
        ASSERT_EQ(netd_link_fake_n_calls(e.link, "veth_create"), 2u);
        /* With another namespace it is a conflict. */
        ASSERT_ERROR(netd_attach(e.netd, "web-1", ns2, NULL, NULL), EEXIST);

        ASSERT_OK(netd_list(e.netd, &list, &n));
        ASSERT_EQ(n, 2u);
        ASSERT_STREQ(list[0]->container_id, "db-1");
        ASSERT_STREQ(list[1]->container_id, "web-1");
        netd_attachment_array_free(list, n);

        ASSERT_OK(netd_detach(e.netd, "web-1"));
        ASSERT_FALSE(netd_link_fake_has_link(e.link, ifname));
        ASSERT_ERROR(netd_detach(e.netd, "web-1"), ENOENT);
        ASSERT_ERROR(netd_get(e.netd, "web-1", &again), ENOENT);
        /* Its address is free again. */
        again = netd_attachment_free(again);
        ASSERT_OK(netd_attach(e.netd, "web-2", ns1, NULL, &again));
        ASSERT_STREQ(addr_str(&again->addresses[0]), "10.200.0.2/24");
        /* ... and our neighbour entry for it names its new owner, not web-1. */
        ASSERT_NOT_NULL(netd_link_fake_neigh(e.link, &again->addresses[0].address, AF_INET));
        ASSERT_TRUE(memcmp(netd_link_fake_neigh(e.link, &again->addresses[0].address, AF_INET),
                           &again->mac, sizeof again->mac) == 0);
        ASSERT_TRUE(memcmp(netd_link_fake_neigh(e.link, &b->addresses[0].address, AF_INET), &b->mac,
                           sizeof b->mac) == 0);
        ASSERT_EQ(netd_link_fake_n_calls(e.link, "neigh_replace"), 3u);
        netd_free(e.netd);
}

/* The neighbour entries are a help, not a condition: the attach stands without them. */
TEST(neigh_failure_keeps_attach) {
        _cleanup_(netd_attachment_freep) NetdAttachment *a = NULL;
        Env e;

        env_init(&e, NULL);
        netd_link_fake_fail_next(e.link, "neigh_replace", EIO);
        ASSERT_OK(netd_attach(e.netd, "c", new_netns(), NULL, &a));
        ASSERT_EQ(a->n_addresses, 1u);
        ASSERT_NULL(netd_link_fake_neigh(e.link, &a->addresses[0].address, AF_INET));
        netd_free(e.netd);
}

TEST(bad_arguments) {
        char longid[NETD_CONTAINER_ID_MAX + 2];
        Env e;

        env_init(&e, NULL);
        ASSERT_ERROR(netd_attach(e.netd, "", "/x", NULL, NULL), EINVAL);
        ASSERT_ERROR(netd_attach(e.netd, NULL, "/x", NULL, NULL), EINVAL);
        ASSERT_ERROR(netd_attach(e.netd, "a b", "/x", NULL, NULL), EINVAL);
        ASSERT_ERROR(netd_attach(e.netd, "-a", "/x", NULL, NULL), EINVAL);
        ASSERT_ERROR(netd_attach(e.netd, "a'b", "/x", NULL, NULL), EINVAL);
        memset(longid, 'a', sizeof longid - 1);
        longid[sizeof longid - 1] = 0;
        ASSERT_ERROR(netd_attach(e.netd, longid, "/x", NULL, NULL), EINVAL);
        longid[NETD_CONTAINER_ID_MAX] = 0;
        ASSERT_TRUE(netd_container_id_is_valid(longid));
        ASSERT_ERROR(netd_attach(e.netd, "a", "relative/path", NULL, NULL), EINVAL);
        ASSERT_ERROR(netd_attach(e.netd, "a", "", NULL, NULL), EINVAL);
        ASSERT_ERROR(
                netd_attach(e.netd, "a", new_netns(), &(NetdAttachOptions){ .mtu = 100 }, NULL),
                ERANGE);
        ASSERT_ERROR(netd_detach(e.netd, "../x"), EINVAL);
        ASSERT_EQ(netd_link_fake_n_calls(e.link, "veth_create"), 0u);
        netd_free(e.netd);
}

static void assert_nothing_left(Env *e, const char *id) {
        NetdAttachment **list = NULL;
        IpamAllocation *allocs = NULL;
        char ifname[16];
        size_t n;

        netd_host_ifname(id, ifname);
        ASSERT_FALSE(netd_link_fake_has_link(e->link, ifname));
        ASSERT_OK(netd_list(e->netd, &list, &n));
        ASSERT_EQ(n, 0u);
        netd_attachment_array_free(list, n);
        ASSERT_OK(ipam_list(netd_ipam(e->netd), &allocs, &n));
        ASSERT_EQ(n, 0u);
        ipam_allocation_array_free(allocs, n);
}

TEST(vanished_netns_releases) {
        _cleanup_(netd_attachment_freep) NetdAttachment *a = NULL;
        Env e;

        env_init(&e, NULL);
        ASSERT_ERROR(netd_attach(e.netd, "gone", "/nonexistent/netns", NULL, NULL), ENOENT);
        assert_nothing_left(&e, "gone");
        /* The address it had for a moment goes to the next one. */
        ASSERT_OK(netd_attach(e.netd, "next", new_netns(), NULL, &a));
        ASSERT_STREQ(addr_str(&a->addresses[0]), "10.200.0.2/24");
        netd_free(e.netd);
}

TEST(failures_release_everything) {
        static const char *const ops[] = { "netns_open", "veth_create", "netns_configure" };
        Env e;

        env_init(&e, NULL);
        for (size_t i = 0; i < ELEMENTSOF(ops); i++) {
                netd_link_fake_fail_next(e.link, ops[i], EIO);
                ASSERT_ERROR(netd_attach(e.netd, "c", new_netns(), NULL, NULL), EIO);
                assert_nothing_left(&e, "c");
        }
        /* A veth name that is taken (another program's link, or a hash collision). */
        {
                char ifname[16];
                netd_host_ifname("c", ifname);
                ASSERT_OK(netd_link_fake_add_link(e.link, ifname));
                ASSERT_ERROR(netd_attach(e.netd, "c", new_netns(), NULL, NULL), EEXIST);
                /* The undo deletes the name it tried: the next try works. */
                ASSERT_OK(netd_attach(e.netd, "c", new_netns(), NULL, NULL));
        }
        netd_free(e.netd);
}

TEST(exhaustion) {
        NetdConfig c;
        char id[32];
        Env e;

        netd_config_init(&c);
        c.ipam.node_prefixlen4 = 30; /* .1 gateway, .2 the only container */
        env_init(&e, &c);
        ASSERT_OK(netd_attach(e.netd, "first", new_netns(), NULL, NULL));
        ASSERT_ERROR(netd_attach(e.netd, "second", new_netns(), NULL, NULL), ENOSPC);
        ASSERT_EQ(netd_link_fake_n_links(e.link), 2u);
        ASSERT_OK(netd_detach(e.netd, "first"));
        for (unsigned i = 0; i < 3; i++) {
                snprintf(id, sizeof id, "again-%u", i);
                ASSERT_OK(netd_attach(e.netd, id, new_netns(), NULL, NULL));
                ASSERT_OK(netd_detach(e.netd, id));
        }
        netd_free(e.netd);
}

TEST(dual_stack) {
        _cleanup_(netd_attachment_freep) NetdAttachment *a = NULL;
        char buf[IP_PREFIX_STRING_MAX];
        NetdConfig c;
        Env e;

        netd_config_init(&c);
        c.ipam.node_index = 2;
        ASSERT_OK(ip_prefix_from_string("fd00:200::/48", &c.ipam.cluster6));
        env_init(&e, &c);
        ASSERT_TRUE(netd_link_fake_forwarding(e.link, AF_INET6));
        ASSERT_OK(netd_attach(e.netd, "dual", new_netns(), NULL, &a));
        ASSERT_EQ(a->n_addresses, 2u);
        ASSERT_STREQ(addr_str(&a->addresses[0]), "10.200.2.2/24");
        ASSERT_STREQ(addr_str(&a->addresses[1]), "fd00:200:0:2::2/64");
        ASSERT_STREQ(in_addr_to_string(AF_INET6, &a->gateways[1], buf), "fd00:200:0:2::1");
        ASSERT_EQ(netd_link_fake_last_netns_config(e.link)->n_addresses, 2u);
        ASSERT_OK(netd_detach(e.netd, "dual"));
        assert_nothing_left(&e, "dual");
        netd_free(e.netd);
}

TEST(restart_keeps_attachments) {
        _cleanup_(netd_attachment_freep) NetdAttachment *a = NULL, *b = NULL;
        NetdSweepResult s;
        Env e;

        env_init(&e, NULL);
        ASSERT_OK(netd_attach(e.netd, "one", new_netns(), NULL, &a));
        ASSERT_OK(netd_attach(e.netd, "two", new_netns(), NULL, NULL));
        env_restart(&e);
        ASSERT_OK(netd_sweep(e.netd, &s));
        ASSERT_EQ(s.kept, 2u);
        ASSERT_EQ(s.unfinished + s.vanished + s.orphan_links + s.orphan_addresses, 0u);
        ASSERT_OK(netd_get(e.netd, "one", &b));
        ASSERT_STREQ(addr_str(&b->addresses[0]), addr_str(&a->addresses[0]));
        ASSERT_TRUE(memcmp(&a->mac, &b->mac, sizeof a->mac) == 0);
        ASSERT_STREQ(b->netns_path, a->netns_path);
        netd_free(e.netd);
}

/* What a kill -9 at each step of an attach leaves behind, and what the sweep makes of it. */
TEST(sweep_reconciles) {
        NetdAttachment **list = NULL;
        IpamAllocation *allocs = NULL;
        char ifname[16];
        NetdSweepResult s;
        const char *ns;
        InAddrUnion addr;
        size_t n;
        Env e;

        env_init(&e, NULL);
        ASSERT_OK(netd_attach(e.netd, "kept", new_netns(), NULL, NULL));
        ASSERT_OK(netd_attach(e.netd, "vanished", new_netns(), NULL, NULL));

        /* An attach killed after it allocated and created the veth but before it finished:
         * simulated by failing the configure step without letting the undo run (the undo's
         * link_delete fails too, and the record stays). */
        ns = new_netns();
        netd_link_fake_fail_next(e.link, "netns_configure", EIO);
        netd_link_fake_fail_next(e.link, "link_delete", EIO);
        ASSERT_ERROR(netd_attach(e.netd, "unfinished", ns, NULL, NULL), EIO);
        netd_host_ifname("unfinished", ifname);
        ASSERT_TRUE(netd_link_fake_has_link(e.link, ifname));
        ASSERT_ERROR(netd_get(e.netd, "unfinished", NULL), ENOENT);

        /* A veth nobody knows about, and an address nobody holds. */
        netd_host_ifname("orphan", ifname);
        ASSERT_OK(netd_link_fake_add_link(e.link, ifname));
        ASSERT_OK(ipam_allocate(netd_ipam(e.netd), "stray", AF_INET, &addr));
        /* A link that is not ours stays. */
        ASSERT_OK(netd_link_fake_add_link(e.link, "eth7"));

        /* The container of "vanished" went away with its namespace, and its veth with it. */
        netd_host_ifname("vanished", ifname);
        ASSERT_OK(e.link->ops->link_delete(e.link->state, ifname));

        env_restart(&e);
        ASSERT_OK(netd_sweep(e.netd, &s));
        ASSERT_EQ(s.kept, 1u);
        ASSERT_EQ(s.unfinished, 1u);
        ASSERT_EQ(s.vanished, 1u);
        ASSERT_EQ(s.orphan_links, 1u);
        ASSERT_EQ(s.orphan_addresses, 1u);

        ASSERT_OK(netd_list(e.netd, &list, &n));
        ASSERT_EQ(n, 1u);
        ASSERT_STREQ(list[0]->container_id, "kept");
        netd_attachment_array_free(list, n);
        ASSERT_OK(ipam_list(netd_ipam(e.netd), &allocs, &n));
        ASSERT_EQ(n, 1u);
        ASSERT_STREQ(allocs[0].owner, "kept");
        ipam_allocation_array_free(allocs, n);
        /* zl0, kept's veth and eth7. */
        ASSERT_EQ(netd_link_fake_n_links(e.link), 3u);
        ASSERT_TRUE(netd_link_fake_has_link(e.link, "eth7"));

        /* A second sweep has nothing to do. */
        ASSERT_OK(netd_sweep(e.netd, &s));
        ASSERT_EQ(s.kept, 1u);
        ASSERT_EQ(s.unfinished + s.vanished + s.orphan_links + s.orphan_addresses, 0u);

        /* The interrupted attach, tried again, works and gets the lowest free address. */
        ASSERT_OK(netd_attach(e.netd, "unfinished", ns, NULL, NULL));
        netd_free(e.netd);
}

/* Attach again over an unfinished record (the daemon crashed and the caller retried before a
 * sweep): the attach starts over with the address it had. */
TEST(attach_over_unfinished) {
        _cleanup_(netd_attachment_freep) NetdAttachment *a = NULL;
        const char *ns;
        Env e;

        env_init(&e, NULL);
        ns = strdupa(new_netns());
        netd_link_fake_fail_next(e.link, "netns_configure", EIO);
        netd_link_fake_fail_next(e.link, "link_delete", EIO);
        ASSERT_ERROR(netd_attach(e.netd, "retry", ns, NULL, NULL), EIO);
        ASSERT_OK(netd_attach(e.netd, "retry", ns, NULL, &a));
        ASSERT_STREQ(addr_str(&a->addresses[0]), "10.200.0.2/24");
        ASSERT_EQ(netd_link_fake_n_links(e.link), 2u);
        netd_free(e.netd);
}
