/* SPDX-License-Identifier: Apache-2.0 */
/* netlink-ops.h: the kernel operations of zl-netd as one table: netlink (real) or memory (fake). */
#pragma once

#include <net/ethernet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipam.h"
#include "macro.h"

/* A veth pair: host_ifname stays in our namespace, enslaved to bridge and up; the peer is
 * created directly inside the namespace of peer_netns_fd as peer_ifname (so no name in our
 * namespace is ever taken by it, and no half-moved link can be left behind). */
typedef struct NetdVethConfig {
        const char *host_ifname;
        const char *peer_ifname;
        int peer_netns_fd;
        const char *bridge;
        uint32_t mtu;
} NetdVethConfig;

/* What is set up inside a container's namespace: lo up, ifname with its addresses, up, and a
 * default route per family through that family's gateway. */
typedef struct NetdNetnsConfig {
        const char *ifname;
        uint32_t mtu;
        size_t n_addresses;
        IpPrefix addresses[2]; /* interface addresses: host bits set, prefixlen of the subnet */
        InAddrUnion gateways[2]; /* gateways[i] is the gateway for addresses[i] */
} NetdNetnsConfig;

/* The nftables table `inet zlayer`: masquerade for the cluster CIDR leaving by any interface
 * but the bridge toward any destination outside the cluster, and forward accepts for the
 * bridge. */
typedef struct NetdFirewallConfig {
        const char *bridge;
        IpPrefix cluster4; /* AF_UNSPEC: none */
        IpPrefix cluster6;
} NetdFirewallConfig;

/* Every operation returns 0 or -errno; state is what init() made. Interface names are at
 * most IFNAMSIZ-1 bytes. */
typedef struct NetdLinkOps {
        const char *name;
        int (*init)(void **ret_state);
        void (*done)(void *state);

        /* Creates the bridge if missing (an existing link of that name must be a bridge:
         * -ENOTTY otherwise), gives it the addresses (keeping any it has), a fixed hardware
         * address (netd_bridge_mac()), sets the MTU and brings it up. */
        int (*bridge_ensure)(void *state, const char *name, uint32_t mtu, const IpPrefix *addresses,
                             size_t n_addresses);
        /* Turns on forwarding for a family in our namespace. */
        int (*forwarding_enable)(void *state, int family);
        /* -EEXIST if host_ifname exists, -ENODEV if the bridge does not. */
        int (*veth_create)(void *state, const NetdVethConfig *c);
        /* Moves a link of our namespace into another, renaming it on the way when new_ifname
         * is not NULL. */
        int (*link_move_netns)(void *state, const char *ifname, int netns_fd,
                               const char *new_ifname);
        /* Opens a network namespace by path: -ENOENT when it is gone, -EINVAL when the path is
         * not a network namespace. */
        int (*netns_open)(void *state, const char *path, int *ret_fd);
        /* Configures the namespace as NetdNetnsConfig says; ret_mac gets ifname's address. */
        int (*netns_configure)(void *state, int netns_fd, const NetdNetnsConfig *c,
                               struct ether_addr *ret_mac);
        /* 1 if the link exists in our namespace, 0 if not. */
        int (*link_exists)(void *state, const char *ifname);
        /* Points the neighbour entries of our namespace for these addresses on link ifname at
         * mac, replacing what is cached there (as stale, so the kernel confirms it on use). An
         * address freed by one container and given to the next would otherwise keep the old
         * owner's hardware address here until the entry expires, and connections to the new
         * owner would stall that long. */
        int (*neigh_replace)(void *state, const char *ifname, const IpPrefix *addresses,
                             size_t n_addresses, const struct ether_addr *mac);
        /* Deletes a link of our namespace (a veth takes its peer with it); -ENODEV if none. */
        int (*link_delete)(void *state, const char *ifname);
        /* Names of the links in our namespace starting with prefix, as a NULL-terminated
         * array. */
        int (*link_list)(void *state, const char *prefix, char ***ret);
        /* Replaces the table atomically (idempotent). On failure *reterr_message, when not
         * NULL, may get the firewall's own explanation. */
        int (*firewall_apply)(void *state, const NetdFirewallConfig *c, char **reterr_message);
        /* Removes the table if it exists; nothing else is touched. */
        int (*firewall_remove)(void *state, char **reterr_message);
} NetdLinkOps;

/* The bridge's hardware address: locally administered, from its name and first address, so the
 * same on every start of the node and different between nodes. A Linux bridge left to itself
 * takes the lowest address of its ports, so it changes as containers come and go, and every
 * container's cached entry for its gateway then points nowhere until it expires: all traffic
 * between the node and its containers stalls for up to half a minute. */
void netd_bridge_mac(const char *name, const IpPrefix *first_address, struct ether_addr *ret);

extern const NetdLinkOps netd_link_real_ops;
extern const NetdLinkOps netd_link_fake_ops;

/* An instance of a back end. The ops are chosen once, when the daemon (or a test) starts. */
typedef struct NetdLink {
        const NetdLinkOps *ops;
        void *state;
} NetdLink;

int netd_link_new(const NetdLinkOps *ops, NetdLink **ret);
NetdLink *netd_link_free(NetdLink *l);
DEFINE_TRIVIAL_CLEANUP_FUNC(NetdLink *, netd_link_free);

/* The fake back end keeps links in memory and lets tests look at them and inject faults. Its
 * netns_open opens the path as an ordinary file, so a test stands a namespace in with a file
 * and makes it vanish by unlinking it. */
bool netd_link_fake_has_link(NetdLink *l, const char *ifname);
/* The master of a link, or NULL. */
const char *netd_link_fake_link_master(NetdLink *l, const char *ifname);
size_t netd_link_fake_n_links(NetdLink *l);
/* Adds a plain link, as something a crash or another program left behind. */
int netd_link_fake_add_link(NetdLink *l, const char *ifname);
/* The next call of operation `op` (a field name of NetdLinkOps) fails with -error. */
void netd_link_fake_fail_next(NetdLink *l, const char *op, int error);
/* How often operation `op` succeeded since the back end was made. */
unsigned netd_link_fake_n_calls(NetdLink *l, const char *op);
/* The hardware address the last neigh_replace set for address a (NULL if none did). */
const struct ether_addr *netd_link_fake_neigh(NetdLink *l, const InAddrUnion *a, int family);
/* What the last successful netns_configure was given (NULL before any). */
const NetdNetnsConfig *netd_link_fake_last_netns_config(NetdLink *l);
bool netd_link_fake_firewall_active(NetdLink *l);
bool netd_link_fake_forwarding(NetdLink *l, int family);
