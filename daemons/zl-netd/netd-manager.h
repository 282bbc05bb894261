/* SPDX-License-Identifier: Apache-2.0 */
/* netd-manager.h: zl-netd's Manager: configuration, the network core, the containers' files. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "ipam.h"
#include "macro.h"
#include "netd-attach.h"
#include "netlink-ops.h"

/* Where the configuration is read from unless $ZLAYER_NETD_CONFIG names another file. */
#define NETD_CONFIG_PATH_DEFAULT "/etc/zlayer/netd.conf"
#define NETD_RESOLV_CONF_DEFAULT "/etc/resolv.conf"
#define NETD_RESOLV_CONF_FALLBACK_DEFAULT "/run/systemd/resolve/resolv.conf"

typedef struct ManagerConfig {
        IpamConfig ipam;
        char *bridge;
        uint32_t mtu;
        bool firewall;
        char *resolv_conf;
        char *resolv_conf_fallback;
} ManagerConfig;

/* The defaults: see docs/networking.md. -ENOMEM. */
int manager_config_init(ManagerConfig *c);
void manager_config_done(ManagerConfig *c);
/* Reads "key = value" lines ('#' comments) from path over what c holds. -ENOENT when the file
 * does not exist; -EINVAL for a bad line, with "PATH:LINE: why" in *reterr_message. */
int manager_config_load(ManagerConfig *c, const char *path, char **reterr_message);

/* The resolv.conf for containers: the nameservers of primary that a container can reach (not
 * on 127.0.0.0/8 or ::1), with its search, domain and options lines; when none are left, the
 * same from fallback; when none there either, only a comment. *ret_source gets the file used,
 * or NULL for none. */
int netd_resolv_conf_build(const char *primary, const char *fallback, char **ret_contents,
                           char **ret_source);
/* The hosts file for an attachment: localhost, and hostname (may be NULL) with its addresses. */
int netd_hosts_build(const NetdAttachment *a, const char *hostname, char **ret_contents);

typedef struct ManagerAttachResult {
        NetdAttachment *attachment;
        bool created; /* false: it was attached already */
        char *hosts_path;
        char *resolv_conf_path;
        char *resolv_conf_source; /* NULL: no resolvers */
} ManagerAttachResult;

void manager_attach_result_done(ManagerAttachResult *r);

typedef struct Manager {
        ManagerConfig config;
        Netd *netd;
        NetdLink *link; /* the kernel back end, owned by netd */
        char *files_dir; /* <runtime dir>/containers/<id>/{hosts,resolv.conf} */
        bool set_up; /* bridge, forwarding and firewall are in place */
        NetdSweepResult sweep;
        uint64_t n_attach;
        uint64_t n_attach_failed;
        uint64_t n_detach;
} Manager;

/* Opens the store <state_dir>/network.sqlite with config c (taken over, also on failure). */
int manager_new(ManagerConfig *c, const char *state_dir, const char *runtime_dir,
                const NetdLinkOps *ops, Manager **ret);
Manager *manager_free(Manager *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Manager *, manager_free);

/* After a (re)start: the sweep, then the bridge and firewall if any container is attached (a
 * node without containers leaves the host's network alone until the first attach), and the
 * files of containers no longer attached removed. *reterr_message may get the firewall's
 * explanation. */
int manager_start(Manager *m, char **reterr_message);
/* Sets up bridge, forwarding and firewall if not done yet. */
int manager_ensure_setup(Manager *m, char **reterr_message);

/* netd_attach() (after manager_ensure_setup()), then the container's hosts and resolv.conf.
 * Errors as netd_attach(), and those of the setup. */
int manager_attach(Manager *m, const char *container_id, const char *netns_path, uint32_t mtu,
                   const char *hostname, ManagerAttachResult *ret, char **reterr_message);
/* netd_detach(), and the files removed. */
int manager_detach(Manager *m, const char *container_id);
