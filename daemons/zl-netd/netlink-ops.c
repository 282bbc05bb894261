/* SPDX-License-Identifier: Apache-2.0 */
/* netlink-ops.c: making and freeing a kernel back end instance. */
#include "netlink-ops.h"
#include "string-util.h"

void netd_bridge_mac(const char *name, const IpPrefix *first_address, struct ether_addr *ret) {
        uint64_t h = fnv1a64_string(name);

        if (first_address) {
                h = fnv1a64(h, &first_address->family, sizeof first_address->family);
                h = fnv1a64(h, &first_address->address,
                            first_address->family == AF_INET ? sizeof(struct in_addr)
                                                             : sizeof(struct in6_addr));
        }
        /* 0x02: locally administered, unicast; the rest from the hash. */
        ret->ether_addr_octet[0] = 0x02;
        for (size_t i = 1; i < ETH_ALEN; i++)
                ret->ether_addr_octet[i] = (uint8_t) (h >> (8 * (i - 1)));
}

int netd_link_new(const NetdLinkOps *ops, NetdLink **ret) {
        NetdLink *l;
        int r;

        if (!ops || !ret)
                return -EINVAL;
        l = calloc(1, sizeof *l);
        if (!l)
                return -ENOMEM;
        l->ops = ops;
        r = ops->init(&l->state);
        if (r < 0) {
                free(l);
                return r;
        }
        *ret = l;
        return 0;
}

NetdLink *netd_link_free(NetdLink *l) {
        if (!l)
                return NULL;
        l->ops->done(l->state);
        return mfree(l);
}
