/* SPDX-License-Identifier: Apache-2.0 */
/* netlink-ops.c: making and freeing a kernel back end instance. */
#include "netlink-ops.h"

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
