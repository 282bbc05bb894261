/* SPDX-License-Identifier: Apache-2.0 */
/* netd-attach.h: containers on the node's bridge: attach, detach, list, and the start-up sweep. */
#pragma once

#include <net/ethernet.h>
#include <stdint.h>

#include "ipam.h"
#include "macro.h"
#include "netlink-ops.h"

#define NETD_BRIDGE_DEFAULT "zl0"
#define NETD_CONTAINER_IFNAME "eth0"
/* Host ends of container veths are "zlv" and 12 hex digits of a hash of the container id:
 * stable across restarts, so the sweep can tell ours from everything else. */
#define NETD_HOST_IFNAME_PREFIX "zlv"
#define NETD_MTU_DEFAULT 1500
#define NETD_CONTAINER_ID_MAX 128

typedef struct NetdConfig {
        const char *db_path; /* the sqlite store (addresses and attachments) */
        const char *bridge; /* NULL: NETD_BRIDGE_DEFAULT */
        uint32_t mtu; /* 0: NETD_MTU_DEFAULT */
        IpamConfig ipam;
        bool firewall; /* manage nftables table inet zlayer */
} NetdConfig;

void netd_config_init(NetdConfig *c);

typedef struct NetdAttachment {
        char *container_id;
        char *netns_path;
        char host_ifname[16];
        size_t n_addresses;
        IpPrefix addresses[2]; /* the container's addresses, with the node subnet's length */
        InAddrUnion gateways[2];
        struct ether_addr mac; /* of the container's eth0 */
        uint32_t mtu;
} NetdAttachment;

NetdAttachment *netd_attachment_free(NetdAttachment *a);
DEFINE_TRIVIAL_CLEANUP_FUNC(NetdAttachment *, netd_attachment_free);
void netd_attachment_array_free(NetdAttachment **a, size_t n);

typedef struct NetdAttachOptions {
        uint32_t mtu; /* 0: the node's */
} NetdAttachOptions;

/* What a sweep found and put right. */
typedef struct NetdSweepResult {
        unsigned kept; /* attachments whose veth is there */
        unsigned unfinished; /* attaches a crash interrupted, undone */
        unsigned vanished; /* veth gone with its namespace: address freed */
        unsigned orphan_links; /* our veths the store does not know, deleted */
        unsigned orphan_addresses; /* addresses without an attachment, freed */
} NetdSweepResult;

typedef struct Netd Netd;

/* Opens the store and the address allocator; takes ownership of link (also on failure). No
 * kernel state is touched until netd_setup(). */
int netd_new(const NetdConfig *c, NetdLink *link, Netd **ret);
Netd *netd_free(Netd *n);
DEFINE_TRIVIAL_CLEANUP_FUNC(Netd *, netd_free);

Ipam *netd_ipam(Netd *n);
const char *netd_bridge(Netd *n);

/* Brings up the bridge with the gateway addresses, forwarding and (when configured) the
 * nftables table. Idempotent. *reterr_message may get the firewall's explanation. */
int netd_setup(Netd *n, char **reterr_message);
/* Removes the bridge and the nftables table; the attachments' records stay. For tests and
 * for taking a node out of service. */
int netd_teardown(Netd *n);

/* Reconciles the kernel with the store after a (re)start: unfinished attaches are undone,
 * attachments whose veth has gone are dropped with their addresses, veths of ours that the
 * store does not know are deleted, addresses without an attachment are freed. */
int netd_sweep(Netd *n, NetdSweepResult *ret);

/* Connects the container's network namespace: veth, address, default route. A second call for
 * the same container and namespace returns the same attachment; for another namespace it is
 * -EEXIST. Whatever fails, nothing stays allocated or created. Errors: -EINVAL for a bad id
 * or a path that is not absolute or not a network namespace, -ENOENT when the namespace no
 * longer exists, -ENOSPC when the node subnet is full. */
int netd_attach(Netd *n, const char *container_id, const char *netns_path,
                const NetdAttachOptions *options, NetdAttachment **ret);
/* Removes the veth and frees the address. -ENOENT if the container is not attached. */
int netd_detach(Netd *n, const char *container_id);
/* -ENOENT if the container is not attached. */
int netd_get(Netd *n, const char *container_id, NetdAttachment **ret);
/* Every attachment, ordered by container id. */
int netd_list(Netd *n, NetdAttachment ***ret, size_t *ret_n);

/* Whether s is usable as a container id here: 1..NETD_CONTAINER_ID_MAX bytes of
 * [A-Za-z0-9_.-], not starting with '.' or '-'. */
bool netd_container_id_is_valid(const char *s);
/* The host-side interface name for a container id. */
void netd_host_ifname(const char *container_id, char ret[static 16]);
