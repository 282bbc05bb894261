/* SPDX-License-Identifier: Apache-2.0 */
/* netd-manager.c: zl-netd's Manager: configuration, the network core, the containers' files. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf-parse.h"
#include "fileio.h"
#include "hostname-util.h"
#include "log.h"
#include "netd-manager.h"
#include "parse-util.h"
#include "path-util.h"
#include "string-util.h"

#define CONFIG_SIZE_MAX (64U * 1024U)
#define RESOLV_CONF_SIZE_MAX (256U * 1024U)

int manager_config_init(ManagerConfig *c) {
        *c = (ManagerConfig){
                .mtu = NETD_MTU_DEFAULT,
                .firewall = true,
        };
        ipam_config_init(&c->ipam);
        c->bridge = strdup(NETD_BRIDGE_DEFAULT);
        c->resolv_conf = strdup(NETD_RESOLV_CONF_DEFAULT);
        c->resolv_conf_fallback = strdup(NETD_RESOLV_CONF_FALLBACK_DEFAULT);
        if (!c->bridge || !c->resolv_conf || !c->resolv_conf_fallback) {
                manager_config_done(c);
                return -ENOMEM;
        }
        return 0;
}

void manager_config_done(ManagerConfig *c) {
        c->bridge = mfree(c->bridge);
        c->resolv_conf = mfree(c->resolv_conf);
        c->resolv_conf_fallback = mfree(c->resolv_conf_fallback);
}

static bool ifname_is_valid(const char *s) {
        if (isempty(s) || strlen(s) >= IFNAMSIZ || streq(s, ".") || streq(s, ".."))
                return false;
        for (const char *p = s; *p; p++)
                if (*p == '/' || *p == ':' || *p <= ' ' || *p >= 127)
                        return false;
        return true;
}

static int parse_prefixlen(const char *v, unsigned max, unsigned *ret) {
        unsigned u;

        if (safe_atou(v, &u) < 0 || u == 0 || u > max)
                return -EINVAL;
        *ret = u;
        return 0;
}

/* One "key = value"; returns -EINVAL with a reason in *ret_why. */
static int config_set(ManagerConfig *c, const char *key, const char *value, const char **ret_why) {
        char **path_field = NULL;
        unsigned u;
        bool b;

        if (streq(key, "cluster_cidr")) {
                IpPrefix p;
                if (ip_prefix_from_string(value, &p) < 0 || p.family != AF_INET) {
                        *ret_why = "not an IPv4 CIDR with no host bits set (\"10.200.0.0/16\")";
                        return -EINVAL;
                }
                c->ipam.cluster4 = p;
        } else if (streq(key, "cluster_cidr6")) {
                IpPrefix p;
                if (isempty(value)) {
                        c->ipam.cluster6 = (IpPrefix){ .family = AF_UNSPEC };
                        return 0;
                }
                if (ip_prefix_from_string(value, &p) < 0 || p.family != AF_INET6) {
                        *ret_why = "not an IPv6 CIDR with no host bits set (\"fd00:200::/48\")";
                        return -EINVAL;
                }
                c->ipam.cluster6 = p;
        } else if (streq(key, "node_prefix_length")) {
                if (parse_prefixlen(value, 30, &c->ipam.node_prefixlen4) < 0) {
                        *ret_why = "not a prefix length from 1 to 30";
                        return -EINVAL;
                }
        } else if (streq(key, "node_prefix_length6")) {
                if (parse_prefixlen(value, 126, &c->ipam.node_prefixlen6) < 0) {
                        *ret_why = "not a prefix length from 1 to 126";
                        return -EINVAL;
                }
        } else if (streq(key, "node_index")) {
                if (safe_atou(value, &u) < 0) {
                        *ret_why = "not a number";
                        return -EINVAL;
                }
                c->ipam.node_index = u;
        } else if (streq(key, "bridge")) {
                if (!ifname_is_valid(value)) {
                        *ret_why = "not an interface name (1-15 characters, no '/', ':' or "
                                   "spaces)";
                        return -EINVAL;
                }
                path_field = &c->bridge;
        } else if (streq(key, "mtu")) {
                if (safe_atou(value, &u) < 0 || u < 576 || u > 65535) {
                        *ret_why = "not an MTU from 576 to 65535";
                        return -EINVAL;
                }
                c->mtu = u;
        } else if (streq(key, "firewall")) {
                if (parse_boolean(value, &b) < 0) {
                        *ret_why = "not a boolean";
                        return -EINVAL;
                }
                c->firewall = b;
        } else if (streq(key, "resolv_conf") || streq(key, "resolv_conf_fallback")) {
                if (!isempty(value) && !path_is_absolute(value)) {
                        *ret_why = "not an absolute path";
                        return -EINVAL;
                }
                path_field = streq(key, "resolv_conf") ? &c->resolv_conf : &c->resolv_conf_fallback;
        } else {
                *ret_why = "unknown key";
                return -EINVAL;
        }

        if (path_field) {
                char *copy = strdup(value);
                if (!copy)
                        return -ENOMEM;
                free_and_replace(*path_field, copy);
        }
        return 0;
}

static int config_set_one(void *userdata, const char *key, const char *value,
                          const char **ret_why) {
        return config_set(userdata, key, value, ret_why);
}

int manager_config_load(ManagerConfig *c, const char *path, char **reterr_message) {
        return conf_parse_file(path, CONFIG_SIZE_MAX, config_set_one, c, reterr_message);
}

/* Whether a resolver at this address can be reached from a container's namespace: not the
 * host's own loopback (a local stub like systemd-resolved's 127.0.0.53). */
static bool resolver_is_reachable(const char *address) {
        struct in_addr a4;
        struct in6_addr a6;

        if (inet_pton(AF_INET, address, &a4) == 1)
                return (ntohl(a4.s_addr) >> 24) != 127;
        if (inet_pton(AF_INET6, address, &a6) == 1)
                return !IN6_IS_ADDR_LOOPBACK(&a6);
        /* "fe80::1%eth0" and the like: an interface of the host, not of the container. */
        return false;
}

/* Reads path's resolvers: *ret_n_servers counts the nameserver lines kept. */
static int resolv_conf_filter(const char *path, char **ret, unsigned *ret_n_servers) {
        _cleanup_free_ char *data = NULL, *out = NULL;
        unsigned n = 0;
        char *p, *next;
        int r;

        r = read_full_file(path, RESOLV_CONF_SIZE_MAX, &data, NULL);
        if (r < 0)
                return r;
        out = strdup("");
        if (!out)
                return -ENOMEM;
        for (p = data; p; p = next) {
                char *l, *word;

                next = strchr(p, '\n');
                if (next)
                        *next++ = '\0';
                l = strstrip(p);
                word = l + strcspn(l, " \t");
                if (startswith(l, "nameserver") && word == l + strlen("nameserver")) {
                        const char *addr = word + strspn(word, " \t");
                        _cleanup_free_ char *a = strndup(addr, strcspn(addr, " \t#;"));

                        if (!a)
                                return -ENOMEM;
                        if (!resolver_is_reachable(a))
                                continue;
                        r = strextendf(&out, "nameserver %s\n", a);
                        n++;
                } else if ((startswith(l, "search") && word == l + strlen("search")) ||
                           (startswith(l, "domain") && word == l + strlen("domain")) ||
                           (startswith(l, "options") && word == l + strlen("options")))
                        r = strextendf(&out, "%s\n", l);
                else
                        continue;
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(out);
        *ret_n_servers = n;
        return 0;
}

int netd_resolv_conf_build(const char *primary, const char *fallback, char **ret_contents,
                           char **ret_source) {
        const char *const sources[] = { primary, fallback };
        _cleanup_free_ char *source = NULL, *contents = NULL;
        int r;

        for (size_t i = 0; i < ELEMENTSOF(sources); i++) {
                _cleanup_free_ char *body = NULL;
                unsigned n;

                if (isempty(sources[i]))
                        continue;
                r = resolv_conf_filter(sources[i], &body, &n);
                if (r == -ENOENT)
                        continue;
                if (r < 0)
                        return log_debug_errno(r, "Failed to read '%s': %m", sources[i]);
                if (n == 0)
                        continue;
                if (asprintf(&contents, "# Generated by zl-netd from %s.\n%s", sources[i], body) <
                    0)
                        return -ENOMEM;
                source = strdup(sources[i]);
                if (!source)
                        return -ENOMEM;
                break;
        }
        if (!contents) {
                contents = strdup("# Generated by zl-netd: the host has no resolver a container "
                                  "can reach.\n");
                if (!contents)
                        return -ENOMEM;
        }
        *ret_contents = TAKE_PTR(contents);
        *ret_source = TAKE_PTR(source);
        return 0;
}

int netd_hosts_build(const NetdAttachment *a, const char *hostname, char **ret_contents) {
        _cleanup_free_ char *s = NULL;
        int r;

        s = strdup("# Generated by zl-netd.\n"
                   "127.0.0.1\tlocalhost\n"
                   "::1\tlocalhost ip6-localhost ip6-loopback\n");
        if (!s)
                return -ENOMEM;
        for (size_t i = 0; hostname && i < a->n_addresses; i++) {
                char buf[IP_PREFIX_STRING_MAX];

                r = strextendf(
                        &s, "%s\t%s\n",
                        in_addr_to_string(a->addresses[i].family, &a->addresses[i].address, buf),
                        hostname);
                if (r < 0)
                        return r;
        }
        *ret_contents = TAKE_PTR(s);
        return 0;
}

void manager_attach_result_done(ManagerAttachResult *r) {
        r->attachment = netd_attachment_free(r->attachment);
        r->hosts_path = mfree(r->hosts_path);
        r->resolv_conf_path = mfree(r->resolv_conf_path);
        r->resolv_conf_source = mfree(r->resolv_conf_source);
}

int manager_new(ManagerConfig *c, const char *state_dir, const char *runtime_dir,
                const NetdLinkOps *ops, Manager **ret) {
        _cleanup_(manager_freep) Manager *m = NULL;
        _cleanup_free_ char *db = NULL;
        NetdLink *link = NULL;
        NetdConfig nc;
        int r;

        m = calloc(1, sizeof(Manager));
        if (!m) {
                manager_config_done(c);
                return -ENOMEM;
        }
        m->config = *c;
        *c = (ManagerConfig){};

        db = path_join(state_dir, "network.sqlite");
        m->files_dir = path_join(runtime_dir, "containers");
        if (!db || !m->files_dir)
                return -ENOMEM;
        r = mkdir_p(m->files_dir, 0755);
        if (r < 0)
                return r;

        r = netd_link_new(ops, &link);
        if (r < 0)
                return r;
        netd_config_init(&nc);
        nc.db_path = db;
        nc.bridge = m->config.bridge;
        nc.mtu = m->config.mtu;
        nc.ipam = m->config.ipam;
        nc.firewall = m->config.firewall;
        m->link = link;
        r = netd_new(&nc, link, &m->netd);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        netd_free(m->netd);
        manager_config_done(&m->config);
        free(m->files_dir);
        return mfree(m);
}

static int container_files_remove(Manager *m, const char *container_id) {
        _cleanup_free_ char *dir = path_join(m->files_dir, container_id);
        int r = 0;

        if (!dir)
                return -ENOMEM;
        for (size_t i = 0; i < 2; i++) {
                _cleanup_free_ char *f = path_join(dir, i == 0 ? "hosts" : "resolv.conf");
                if (!f)
                        return -ENOMEM;
                if (unlink(f) < 0 && errno != ENOENT)
                        r = -errno;
        }
        if (rmdir(dir) < 0 && errno != ENOENT && r == 0)
                r = -errno;
        return r;
}

static void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}

/* The files of containers that are no longer attached (detached while we were down, or swept). */
static int container_files_sweep(Manager *m) {
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;
        int r;

        d = opendir(m->files_dir);
        if (!d)
                return errno == ENOENT ? 0 : -errno;
        while ((de = readdir(d))) {
                _cleanup_(netd_attachment_freep) NetdAttachment *a = NULL;

                if (de->d_name[0] == '.')
                        continue;
                r = netd_get(m->netd, de->d_name, &a);
                if (r >= 0)
                        continue;
                if (r != -ENOENT && r != -EINVAL)
                        return r;
                r = container_files_remove(m, de->d_name);
                if (r < 0)
                        log_warning_errno(r, "Failed to remove the files of '%s', ignoring: %m",
                                          de->d_name);
        }
        return 0;
}

int manager_ensure_setup(Manager *m, char **reterr_message) {
        int r;

        if (m->set_up)
                return 0;
        r = netd_setup(m->netd, reterr_message);
        if (r < 0)
                return r;
        m->set_up = true;
        return 0;
}

int manager_start(Manager *m, char **reterr_message) {
        NetdAttachment **all = NULL;
        size_t n = 0;
        int r;

        r = netd_sweep(m->netd, &m->sweep);
        if (r < 0)
                return r;
        r = netd_list(m->netd, &all, &n);
        if (r < 0)
                return r;
        netd_attachment_array_free(all, n);
        /* With containers attached the bridge must be there now (a reboot took it); without,
         * the first attach makes it. */
        if (n > 0) {
                r = manager_ensure_setup(m, reterr_message);
                if (r < 0)
                        return r;
        }
        return container_files_sweep(m);
}

static int container_files_write(Manager *m, const NetdAttachment *a, const char *hostname,
                                 ManagerAttachResult *res) {
        _cleanup_free_ char *dir = NULL, *hosts = NULL, *resolv = NULL, *hosts_path = NULL,
                            *resolv_path = NULL, *source = NULL;
        int r;

        dir = path_join(m->files_dir, a->container_id);
        if (!dir)
                return -ENOMEM;
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return -errno;
        hosts_path = path_join(dir, "hosts");
        resolv_path = path_join(dir, "resolv.conf");
        if (!hosts_path || !resolv_path)
                return -ENOMEM;

        r = netd_hosts_build(a, hostname, &hosts);
        if (r < 0)
                return r;
        r = netd_resolv_conf_build(m->config.resolv_conf, m->config.resolv_conf_fallback, &resolv,
                                   &source);
        if (r < 0)
                return r;
        if (!source)
                log_warning("Neither '%s' nor '%s' lists a resolver a container can reach: "
                            "'%s' gets a resolv.conf without nameservers, ignoring.",
                            strempty(m->config.resolv_conf),
                            strempty(m->config.resolv_conf_fallback), a->container_id);
        r = write_string_file_atomic(hosts_path, hosts, 0644);
        if (r < 0)
                return r;
        r = write_string_file_atomic(resolv_path, resolv, 0644);
        if (r < 0)
                return r;
        res->hosts_path = TAKE_PTR(hosts_path);
        res->resolv_conf_path = TAKE_PTR(resolv_path);
        res->resolv_conf_source = TAKE_PTR(source);
        return 0;
}

int manager_attach(Manager *m, const char *container_id, const char *netns_path, uint32_t mtu,
                   const char *hostname, ManagerAttachResult *ret, char **reterr_message) {
        _cleanup_(manager_attach_result_done) ManagerAttachResult res = {};
        NetdAttachOptions o = { .mtu = mtu };
        bool existed;
        int r;

        r = manager_ensure_setup(m, reterr_message);
        if (r < 0)
                goto fail;

        {
                _cleanup_(netd_attachment_freep) NetdAttachment *old = NULL;
                existed = netd_get(m->netd, container_id, &old) >= 0;
        }
        r = netd_attach(m->netd, container_id, netns_path, &o, &res.attachment);
        if (r < 0)
                goto fail;
        res.created = !existed;

        if (!hostname && hostname_is_valid(container_id))
                hostname = container_id;
        r = container_files_write(m, res.attachment, hostname, &res);
        if (r < 0) {
                int q;

                /* An attachment the runtime cannot use must not stay: its address would leak. */
                if (res.created) {
                        q = netd_detach(m->netd, container_id);
                        if (q < 0)
                                log_warning_errno(q,
                                                  "Failed to undo the attach of '%s', "
                                                  "ignoring: %m",
                                                  container_id);
                        (void) container_files_remove(m, container_id);
                }
                goto fail;
        }
        m->n_attach++;
        *ret = res;
        res = (ManagerAttachResult){};
        return 0;
fail:
        m->n_attach_failed++;
        return r;
}

int manager_detach(Manager *m, const char *container_id) {
        int r;

        r = netd_detach(m->netd, container_id);
        if (r < 0)
                return r;
        m->n_detach++;
        r = container_files_remove(m, container_id);
        if (r < 0)
                log_warning_errno(r, "Failed to remove the files of '%s', ignoring: %m",
                                  container_id);
        return 0;
}
