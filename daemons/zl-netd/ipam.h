/* SPDX-License-Identifier: Apache-2.0 */
/* ipam.h: the node's addresses: cluster CIDR, node subnet, one address per container, in sqlite. */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

typedef union InAddrUnion {
        struct in_addr in;
        struct in6_addr in6;
        uint8_t bytes[16];
} InAddrUnion;

/* An address with a prefix length; family is AF_INET, AF_INET6, or AF_UNSPEC for "none". */
typedef struct IpPrefix {
        int family;
        InAddrUnion address;
        unsigned prefixlen;
} IpPrefix;

/* "10.200.0.0/16" or "fd00:200::/48" fits; so does an address alone. */
#define IP_PREFIX_STRING_MAX (INET6_ADDRSTRLEN + 4)

/* Parses "ADDRESS/LEN". The address must be the network address (no host bits set): a CIDR,
 * not an interface address. -EINVAL when malformed or host bits are set. */
int ip_prefix_from_string(const char *s, IpPrefix *ret);
const char *ip_prefix_to_string(const IpPrefix *p, char buf[static IP_PREFIX_STRING_MAX]);
const char *in_addr_to_string(int family, const InAddrUnion *a,
                              char buf[static IP_PREFIX_STRING_MAX]);
/* Whether address (of p's family) lies inside p. */
bool ip_prefix_contains(const IpPrefix *p, const InAddrUnion *address);

typedef struct IpamConfig {
        IpPrefix cluster4; /* AF_INET; family AF_UNSPEC turns IPv4 off */
        unsigned node_prefixlen4;
        IpPrefix cluster6; /* a ULA (fd00::/8) or AF_UNSPEC for no IPv6 */
        unsigned node_prefixlen6;
        uint32_t node_index; /* which node subnet of the cluster CIDR this node owns */
} IpamConfig;

#define IPAM_DEFAULT_CLUSTER4 "10.200.0.0/16"
#define IPAM_DEFAULT_NODE_PREFIXLEN4 24
#define IPAM_DEFAULT_NODE_PREFIXLEN6 64

/* The defaults: 10.200.0.0/16 with /24 node subnets, no IPv6, node index 0. */
void ipam_config_init(IpamConfig *c);

/* One container's address. */
typedef struct IpamAllocation {
        char *owner;
        int family;
        InAddrUnion address;
} IpamAllocation;

void ipam_allocation_array_free(IpamAllocation *a, size_t n);

typedef struct Ipam Ipam;

/* Opens (creating) the store at db_path and derives the node subnets from c. The store
 * remembers the node subnets it allocated from: -EBUSY if it holds allocations from a
 * different one (the node's index or the cluster CIDR changed under live containers). -EINVAL
 * for a configuration that does not fit (node subnet not longer than the cluster CIDR, fewer
 * than two hosts, index beyond the cluster, IPv6 prefix not a ULA), -ERANGE for an index that
 * does not fit in the cluster CIDR. */
int ipam_open(const char *db_path, const IpamConfig *c, Ipam **ret);
Ipam *ipam_free(Ipam *ipam);
DEFINE_TRIVIAL_CLEANUP_FUNC(Ipam *, ipam_free);

/* The node subnet for a family; NULL when that family is off. */
const IpPrefix *ipam_node_subnet(const Ipam *ipam, int family);
const IpPrefix *ipam_cluster(const Ipam *ipam, int family);
/* The gateway (the bridge's address): the first host of the node subnet. -EAFNOSUPPORT when
 * the family is off. */
int ipam_gateway(const Ipam *ipam, int family, InAddrUnion *ret);
/* Number of container addresses the node subnet has room for. */
uint64_t ipam_capacity(const Ipam *ipam, int family);

/* Gives owner an address of family, or the one it already has: one committed transaction, so
 * after a crash the address is either durably the owner's or free, never given twice. The
 * lowest free address is taken. -ENOSPC when the node subnet is full, -EAFNOSUPPORT for a
 * family that is off, -EINVAL for an empty owner. */
int ipam_allocate(Ipam *ipam, const char *owner, int family, InAddrUnion *ret);
/* The owner's address of family; -ENOENT if it has none. */
int ipam_lookup(Ipam *ipam, const char *owner, int family, InAddrUnion *ret);
/* Frees every address of owner. Returns how many were freed (0 if none). */
int ipam_release(Ipam *ipam, const char *owner);
/* All allocations, ordered by owner then family. */
int ipam_list(Ipam *ipam, IpamAllocation **ret, size_t *ret_n);
