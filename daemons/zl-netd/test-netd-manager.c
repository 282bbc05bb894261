/* SPDX-License-Identifier: Apache-2.0 */
/* test-netd-manager.c: configuration file, resolv.conf and hosts for containers, and the
 * Manager's start-up, lazy setup and files, on the fake kernel. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "netd-manager.h"
#include "path-util.h"
#include "string-util.h"
#include "tests.h"

static unsigned counter;

static const char *write_tmp(const char *contents) {
        static char path[4][PATH_MAX];
        static unsigned i;
        char *p = path[i++ % 4];

        snprintf(p, PATH_MAX, "%s/file-%u", test_tmpdir(), counter++);
        ASSERT_OK(write_string_file_atomic(p, contents, 0644));
        return p;
}

static bool exists(const char *p) {
        return access(p, F_OK) == 0;
}

TEST(config_defaults) {
        ManagerConfig c;
        char buf[IP_PREFIX_STRING_MAX];

        ASSERT_OK(manager_config_init(&c));
        ASSERT_STREQ(ip_prefix_to_string(&c.ipam.cluster4, buf), "10.200.0.0/16");
        ASSERT_EQ(c.ipam.node_prefixlen4, 24u);
        ASSERT_EQ(c.ipam.cluster6.family, AF_UNSPEC);
        ASSERT_EQ(c.ipam.node_index, 0u);
        ASSERT_STREQ(c.bridge, "zl0");
        ASSERT_EQ(c.mtu, 1500u);
        ASSERT_TRUE(c.firewall);
        ASSERT_STREQ(c.resolv_conf, "/etc/resolv.conf");
        ASSERT_STREQ(c.resolv_conf_fallback, "/run/systemd/resolve/resolv.conf");
        manager_config_done(&c);
}

TEST(config_load) {
        _cleanup_free_ char *why = NULL;
        ManagerConfig c;
        char buf[IP_PREFIX_STRING_MAX];
        const char *p;

        ASSERT_OK(manager_config_init(&c));
        p = write_tmp("# the test node\n"
                      "\n"
                      "cluster_cidr = 10.251.0.0/16\n"
                      "  node_prefix_length=30  \n"
                      "node_index = 7\n"
                      "cluster_cidr6 = fd00:251::/48\n"
                      "node_prefix_length6 = 64\n"
                      "bridge = zlt0\n"
                      "mtu = 1400\n"
                      "firewall = no\n"
                      "resolv_conf = /tmp/r\n"
                      "resolv_conf_fallback =\n");
        ASSERT_OK(manager_config_load(&c, p, &why));
        ASSERT_NULL(why);
        ASSERT_STREQ(ip_prefix_to_string(&c.ipam.cluster4, buf), "10.251.0.0/16");
        ASSERT_EQ(c.ipam.node_prefixlen4, 30u);
        ASSERT_EQ(c.ipam.node_index, 7u);
        ASSERT_STREQ(ip_prefix_to_string(&c.ipam.cluster6, buf), "fd00:251::/48");
        ASSERT_STREQ(c.bridge, "zlt0");
        ASSERT_EQ(c.mtu, 1400u);
        ASSERT_FALSE(c.firewall);
        ASSERT_STREQ(c.resolv_conf, "/tmp/r");
        ASSERT_STREQ(c.resolv_conf_fallback, "");

        /* An empty cluster_cidr6 turns IPv6 off again. */
        ASSERT_OK(manager_config_load(&c, write_tmp("cluster_cidr6=\n"), &why));
        ASSERT_EQ(c.ipam.cluster6.family, AF_UNSPEC);
        manager_config_done(&c);
}

TEST(config_errors) {
        static const struct {
                const char *text;
                const char *message; /* after "PATH:" */
        } cases[] = {
                { "mtu = 1500\nfoo = 1\n", "2: 'foo': unknown key" },
                { "cluster_cidr = 10.200.0.1/16\n", "1: 'cluster_cidr': not an IPv4 CIDR" },
                { "cluster_cidr = fd00::/48\n", "1: 'cluster_cidr': not an IPv4 CIDR" },
                { "cluster_cidr6 = 10.0.0.0/8\n", "1: 'cluster_cidr6': not an IPv6 CIDR" },
                { "node_prefix_length = 31\n", "1: 'node_prefix_length': not a prefix length" },
                { "node_prefix_length = 0\n", "1: 'node_prefix_length': not a prefix length" },
                { "node_index = -1\n", "1: 'node_index': not a number" },
                { "bridge = a-bridge-name-too-long\n", "1: 'bridge': not an interface name" },
                { "bridge = a/b\n", "1: 'bridge': not an interface name" },
                { "mtu = 100\n", "1: 'mtu': not an MTU" },
                { "firewall = maybe\n", "1: 'firewall': not a boolean" },
                { "resolv_conf = relative\n", "1: 'resolv_conf': not an absolute path" },
                { "\n\njust words\n", "3: expected 'key = value'" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *why = NULL, *want = NULL;
                const char *p = write_tmp(cases[i].text);
                ManagerConfig c;

                ASSERT_OK(manager_config_init(&c));
                ASSERT_ERROR(manager_config_load(&c, p, &why), EINVAL);
                ASSERT_NOT_NULL(why);
                want = strjoin(p, ":", cases[i].message);
                ASSERT_NOT_NULL(want);
                if (!startswith(why, want))
                        ASSERT_STREQ(why, want);
                manager_config_done(&c);
        }

        ManagerConfig c;
        ASSERT_OK(manager_config_init(&c));
        ASSERT_ERROR(manager_config_load(&c, "/nonexistent/netd.conf", NULL), ENOENT);
        manager_config_done(&c);
}

TEST(resolv_conf) {
        _cleanup_free_ char *out = NULL, *source = NULL;
        const char *primary, *fallback;

        primary = write_tmp("# comment\n"
                            "nameserver 127.0.0.53\n"
                            "nameserver 10.1.1.1 # the office\n"
                            "nameserver ::1\n"
                            "nameserver fe80::1%eth0\n"
                            "nameserver 2001:db8::53\n"
                            "search example.com corp.example.com\n"
                            "options edns0 trust-ad\n"
                            "nameserverx 1.2.3.4\n"
                            "sortlist 130.155.160.0/255.255.240.0\n");
        ASSERT_OK(netd_resolv_conf_build(primary, NULL, &out, &source));
        ASSERT_STREQ(source, primary);
        ASSERT_NOT_NULL(strstr(out, "\nnameserver 10.1.1.1\nnameserver 2001:db8::53\n"
                                    "search example.com corp.example.com\n"
                                    "options edns0 trust-ad\n"));
        ASSERT_NULL(strstr(out, "127.0.0.53"));
        ASSERT_NULL(strstr(out, "::1\n"));
        ASSERT_NULL(strstr(out, "fe80"));
        ASSERT_NULL(strstr(out, "1.2.3.4"));
        out = mfree(out), source = mfree(source);

        /* Only a local stub (systemd-resolved): its upstream list instead. */
        primary = write_tmp("nameserver 127.0.0.53\noptions edns0\nsearch lan\n");
        fallback = write_tmp("nameserver 192.0.2.53\nsearch lan\n");
        ASSERT_OK(netd_resolv_conf_build(primary, fallback, &out, &source));
        ASSERT_STREQ(source, fallback);
        ASSERT_NOT_NULL(strstr(out, "nameserver 192.0.2.53\nsearch lan\n"));
        ASSERT_NULL(strstr(out, "127.0.0.53"));
        out = mfree(out), source = mfree(source);

        /* A missing primary goes to the fallback too. */
        ASSERT_OK(netd_resolv_conf_build("/nonexistent/resolv.conf", fallback, &out, &source));
        ASSERT_STREQ(source, fallback);
        out = mfree(out), source = mfree(source);

        /* Nothing reachable anywhere: a file without nameservers. */
        ASSERT_OK(netd_resolv_conf_build(primary, "/nonexistent/resolv.conf", &out, &source));
        ASSERT_NULL(source);
        ASSERT_NULL(strstr(out, "nameserver"));
        out = mfree(out);
        ASSERT_OK(netd_resolv_conf_build(NULL, "", &out, &source));
        ASSERT_NULL(source);
}

TEST(hosts) {
        _cleanup_free_ char *out = NULL;
        NetdAttachment a = { .n_addresses = 2 };

        ASSERT_OK(ip_prefix_from_string("10.200.0.0/24", &a.addresses[0]));
        a.addresses[0].address.bytes[3] = 7;
        ASSERT_OK(ip_prefix_from_string("fd00:200::/64", &a.addresses[1]));
        a.addresses[1].address.bytes[15] = 7;
        ASSERT_OK(netd_hosts_build(&a, "web-1", &out));
        ASSERT_STREQ(out, "# Generated by zl-netd.\n"
                          "127.0.0.1\tlocalhost\n"
                          "::1\tlocalhost ip6-localhost ip6-loopback\n"
                          "10.200.0.7\tweb-1\n"
                          "fd00:200::7\tweb-1\n");
        out = mfree(out);
        ASSERT_OK(netd_hosts_build(&a, NULL, &out));
        ASSERT_NULL(strstr(out, "10.200.0.7"));
}

typedef struct Env {
        char state[PATH_MAX];
        char run[PATH_MAX];
        char resolv[PATH_MAX];
        Manager *m;
} Env;

static void env_open(Env *e, const char *config) {
        ManagerConfig c;

        ASSERT_OK(manager_config_init(&c));
        free(c.resolv_conf);
        c.resolv_conf = strdup(e->resolv);
        ASSERT_NOT_NULL(c.resolv_conf);
        if (config)
                ASSERT_OK(manager_config_load(&c, write_tmp(config), NULL));
        ASSERT_OK(manager_new(&c, e->state, e->run, &netd_link_fake_ops, &e->m));
        ASSERT_OK(manager_start(e->m, NULL));
}

static void env_init(Env *e, const char *config) {
        unsigned k = counter++;

        *e = (Env){};
        snprintf(e->state, sizeof e->state, "%s/state-%u", test_tmpdir(), k);
        snprintf(e->run, sizeof e->run, "%s/run-%u", test_tmpdir(), k);
        snprintf(e->resolv, sizeof e->resolv, "%s/resolv-%u", test_tmpdir(), k);
        ASSERT_OK(mkdir_p(e->state, 0700));
        ASSERT_OK(write_string_file_atomic(e->resolv, "nameserver 127.0.0.1\nnameserver 10.9.9.9\n",
                                           0644));
        env_open(e, config);
}

static const char *new_netns(void) {
        static char path[PATH_MAX];

        snprintf(path, sizeof path, "%s/netns-%u", test_tmpdir(), counter++);
        ASSERT_OK(write_string_file_atomic(path, "", 0644));
        return path;
}

static NetdLink *fake(Env *e) {
        return e->m->link;
}

TEST(manager_lazy_setup_and_files) {
        _cleanup_(manager_attach_result_done) ManagerAttachResult r1 = {}, r2 = {};
        _cleanup_free_ char *hosts = NULL, *resolv = NULL;
        char buf[IP_PREFIX_STRING_MAX];
        Env e;

        env_init(&e, NULL);
        /* No container: the host's network is not touched. */
        ASSERT_FALSE(netd_link_fake_has_link(fake(&e), "zl0"));
        ASSERT_FALSE(netd_link_fake_firewall_active(fake(&e)));

        const char *ns = new_netns();
        ASSERT_OK(manager_attach(e.m, "web-1", ns, 0, NULL, &r1, NULL));
        ASSERT_TRUE(r1.created);
        ASSERT_TRUE(netd_link_fake_has_link(fake(&e), "zl0"));
        ASSERT_TRUE(netd_link_fake_firewall_active(fake(&e)));
        ASSERT_STREQ(ip_prefix_to_string(&r1.attachment->addresses[0], buf), "10.200.0.2/24");
        ASSERT_OK(read_full_file(r1.hosts_path, 4096, &hosts, NULL));
        ASSERT_NOT_NULL(strstr(hosts, "10.200.0.2\tweb-1\n"));
        ASSERT_OK(read_full_file(r1.resolv_conf_path, 4096, &resolv, NULL));
        ASSERT_NOT_NULL(strstr(resolv, "nameserver 10.9.9.9\n"));
        ASSERT_NULL(strstr(resolv, "127.0.0.1"));
        ASSERT_STREQ(r1.resolv_conf_source, e.resolv);
        struct stat st;
        ASSERT_OK(stat(r1.hosts_path, &st));
        ASSERT_EQ(st.st_mode & 07777, 0644u);

        /* Again: the same, not new; a hostname given now goes into the hosts file. */
        ASSERT_OK(manager_attach(e.m, "web-1", ns, 0, "alias", &r2, NULL));
        ASSERT_FALSE(r2.created);
        ASSERT_STREQ(ip_prefix_to_string(&r2.attachment->addresses[0], buf), "10.200.0.2/24");
        hosts = mfree(hosts);
        ASSERT_OK(read_full_file(r2.hosts_path, 4096, &hosts, NULL));
        ASSERT_NOT_NULL(strstr(hosts, "10.200.0.2\talias\n"));
        ASSERT_EQ(e.m->n_attach, 2u);

        ASSERT_OK(manager_detach(e.m, "web-1"));
        ASSERT_FALSE(exists(r1.hosts_path));
        ASSERT_FALSE(exists(r1.resolv_conf_path));
        ASSERT_ERROR(manager_detach(e.m, "web-1"), ENOENT);
        ASSERT_EQ(e.m->n_detach, 1u);
        manager_free(e.m);
}

TEST(manager_errors) {
        _cleanup_(manager_attach_result_done) ManagerAttachResult r1 = {};
        ManagerAttachResult r2 = {};
        NetdAttachment **all = NULL;
        size_t n;
        Env e;

        /* A /30: room for one container. */
        env_init(&e, "cluster_cidr = 10.251.0.0/16\nnode_prefix_length = 30\nnode_index = 1\n");
        ASSERT_OK(manager_attach(e.m, "a", new_netns(), 0, NULL, &r1, NULL));
        ASSERT_ERROR(manager_attach(e.m, "b", new_netns(), 0, NULL, &r2, NULL), ENOSPC);
        ASSERT_NULL(r2.attachment);

        /* A vanished namespace: nothing allocated, no files. */
        ASSERT_OK(manager_detach(e.m, "a"));
        const char *ns = new_netns();
        ASSERT_OK(unlink(ns));
        ASSERT_ERROR(manager_attach(e.m, "gone", ns, 0, NULL, &r2, NULL), ENOENT);
        ASSERT_OK(netd_list(e.m->netd, &all, &n));
        ASSERT_EQ(n, 0u);
        netd_attachment_array_free(all, n);
        _cleanup_free_ char *dir = path_join(e.m->files_dir, "gone");
        ASSERT_FALSE(exists(dir));
        ASSERT_EQ(e.m->n_attach_failed, 2u);

        /* Another namespace for an attached container. */
        ASSERT_OK(manager_attach(e.m, "b", new_netns(), 0, NULL, &r2, NULL));
        manager_attach_result_done(&r2);
        ASSERT_ERROR(manager_attach(e.m, "b", new_netns(), 0, NULL, &r2, NULL), EEXIST);
        manager_free(e.m);
}

TEST(manager_restart) {
        _cleanup_(manager_attach_result_done) ManagerAttachResult r = {};
        _cleanup_free_ char *stale = NULL, *stale_hosts = NULL;
        Env e;

        env_init(&e, NULL);
        ASSERT_OK(manager_attach(e.m, "kept", new_netns(), 0, NULL, &r, NULL));
        /* Files of a container detached while we were away. */
        stale = path_join(e.m->files_dir, "stale");
        stale_hosts = path_join(stale, "hosts");
        ASSERT_OK(mkdir_p(stale, 0755));
        ASSERT_OK(write_string_file_atomic(stale_hosts, "x\n", 0644));
        e.m = manager_free(e.m);

        /* The fake kernel does not survive the restart: the veth has "vanished", so the sweep
         * drops the attachment; its files go with it, and so do the stale ones. */
        env_open(&e, NULL);
        ASSERT_EQ(e.m->sweep.vanished, 1u);
        ASSERT_FALSE(exists(stale));
        ASSERT_FALSE(exists(r.hosts_path));
        /* Nothing attached: no bridge made at start. */
        ASSERT_FALSE(netd_link_fake_has_link(fake(&e), "zl0"));
        manager_free(e.m);
}
