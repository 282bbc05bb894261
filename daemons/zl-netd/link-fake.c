/* SPDX-License-Identifier: Apache-2.0 */
/* link-fake.c: the kernel back end in memory, for unit tests of the logic above it. */
#include <fcntl.h>
#include <net/if.h>
#include <sys/socket.h>

#include "netlink-ops.h"
#include "string-util.h"

#define FAKE_LINKS_MAX 1024

typedef struct FakeLink {
        char name[IFNAMSIZ];
        char master[IFNAMSIZ];
        bool bridge;
} FakeLink;

/* Operations by field name, for counters and injected failures. */
#define FAKE_OPS(X)                                                                                \
        X(bridge_ensure)                                                                           \
        X(forwarding_enable)                                                                       \
        X(veth_create)                                                                             \
        X(link_move_netns)                                                                         \
        X(netns_open)                                                                              \
        X(netns_configure)                                                                         \
        X(link_exists)                                                                             \
        X(neigh_replace)                                                                           \
        X(link_delete)                                                                             \
        X(link_list)                                                                               \
        X(firewall_apply)                                                                          \
        X(firewall_remove)

typedef enum FakeOp {
#define X(n) FAKE_OP_##n,
        FAKE_OPS(X)
#undef X
                _FAKE_OP_MAX,
        _FAKE_OP_INVALID = -EINVAL,
} FakeOp;

static const char *const fake_op_names[_FAKE_OP_MAX] = {
#define X(n) [FAKE_OP_##n] = #n,
        FAKE_OPS(X)
#undef X
};

typedef struct Fake {
        FakeLink links[FAKE_LINKS_MAX];
        size_t n_links;
        unsigned n_calls[_FAKE_OP_MAX];
        int fail[_FAKE_OP_MAX];
        struct {
                IpPrefix dst;
                struct ether_addr mac;
        } neigh[FAKE_LINKS_MAX];
        size_t n_neigh;
        NetdNetnsConfig last_config;
        bool have_config;
        bool firewall;
        bool forwarding[2];
} Fake;

static FakeOp fake_op_from_name(const char *name) {
        for (FakeOp o = 0; o < _FAKE_OP_MAX; o++)
                if (streq(fake_op_names[o], name))
                        return o;
        return _FAKE_OP_INVALID;
}

/* Called at the start of every operation: an injected failure is consumed and returned. */
static int fake_enter(Fake *f, FakeOp op) {
        int r = f->fail[op];

        f->fail[op] = 0;
        return r < 0 ? r : 0;
}

static int fake_done(Fake *f, FakeOp op, int r) {
        if (r >= 0)
                f->n_calls[op]++;
        return r;
}

static FakeLink *fake_find(Fake *f, const char *name) {
        for (size_t i = 0; i < f->n_links; i++)
                if (streq(f->links[i].name, name))
                        return &f->links[i];
        return NULL;
}

static int fake_add(Fake *f, const char *name, const char *master, bool bridge) {
        FakeLink *k;

        if (isempty(name) || strlen(name) >= IFNAMSIZ || (master && strlen(master) >= IFNAMSIZ))
                return -EINVAL;
        if (fake_find(f, name))
                return -EEXIST;
        if (f->n_links >= FAKE_LINKS_MAX)
                return -ENOBUFS;
        k = &f->links[f->n_links++];
        *k = (FakeLink){ .bridge = bridge };
        strcpy(k->name, name);
        if (master)
                strcpy(k->master, master);
        return 0;
}

static int fake_init(void **ret) {
        Fake *f = calloc(1, sizeof *f);

        if (!f)
                return -ENOMEM;
        *ret = f;
        return 0;
}

static void fake_free(void *state) {
        free(state);
}

static int fake_bridge_ensure(void *state, const char *name, uint32_t mtu,
                              const IpPrefix *addresses, size_t n_addresses) {
        Fake *f = state;
        FakeLink *k;
        int r;

        r = fake_enter(f, FAKE_OP_bridge_ensure);
        if (r < 0)
                return r;
        k = fake_find(f, name);
        if (k && !k->bridge)
                return -ENOTTY;
        if (!k)
                r = fake_add(f, name, NULL, true);
        return fake_done(f, FAKE_OP_bridge_ensure, r);
}

static int fake_forwarding_enable(void *state, int family) {
        Fake *f = state;
        int r;

        r = fake_enter(f, FAKE_OP_forwarding_enable);
        if (r < 0)
                return r;
        if (family != AF_INET && family != AF_INET6)
                return -EAFNOSUPPORT;
        f->forwarding[family == AF_INET6] = true;
        return fake_done(f, FAKE_OP_forwarding_enable, 0);
}

static int fake_veth_create(void *state, const NetdVethConfig *c) {
        Fake *f = state;
        FakeLink *bridge;
        int r;

        r = fake_enter(f, FAKE_OP_veth_create);
        if (r < 0)
                return r;
        if (c->peer_netns_fd < 0 || isempty(c->peer_ifname))
                return -EINVAL;
        bridge = fake_find(f, c->bridge);
        if (!bridge || !bridge->bridge)
                return -ENODEV;
        r = fake_add(f, c->host_ifname, c->bridge, false);
        return fake_done(f, FAKE_OP_veth_create, r);
}

static int fake_link_move_netns(void *state, const char *ifname, int netns_fd,
                                const char *new_ifname) {
        Fake *f = state;
        FakeLink *k;
        int r;

        r = fake_enter(f, FAKE_OP_link_move_netns);
        if (r < 0)
                return r;
        k = fake_find(f, ifname);
        if (!k)
                return -ENODEV;
        if (netns_fd < 0)
                return -EBADF;
        /* Gone from our namespace; what is in the other one is not ours to model. */
        *k = f->links[--f->n_links];
        return fake_done(f, FAKE_OP_link_move_netns, 0);
}

static int fake_netns_open(void *state, const char *path, int *ret_fd) {
        Fake *f = state;
        int fd, r;

        r = fake_enter(f, FAKE_OP_netns_open);
        if (r < 0)
                return r;
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        *ret_fd = fd;
        return fake_done(f, FAKE_OP_netns_open, 0);
}

static int fake_netns_configure(void *state, int netns_fd, const NetdNetnsConfig *c,
                                struct ether_addr *ret_mac) {
        Fake *f = state;
        int r;

        r = fake_enter(f, FAKE_OP_netns_configure);
        if (r < 0)
                return r;
        if (netns_fd < 0)
                return -EBADF;
        if (c->n_addresses == 0 || c->n_addresses > ELEMENTSOF(c->addresses))
                return -EINVAL;
        f->last_config = *c;
        f->last_config.ifname = NULL; /* not ours to keep */
        f->have_config = true;
        /* A locally administered unicast address, different for every address given. */
        *ret_mac = (struct ether_addr){
                { 0x02, 0x5a, c->addresses[0].address.bytes[0], c->addresses[0].address.bytes[1],
                  c->addresses[0].address.bytes[2], c->addresses[0].address.bytes[3] }
        };
        return fake_done(f, FAKE_OP_netns_configure, 0);
}

static int fake_link_exists(void *state, const char *ifname) {
        Fake *f = state;
        int r;

        r = fake_enter(f, FAKE_OP_link_exists);
        if (r < 0)
                return r;
        return fake_done(f, FAKE_OP_link_exists, !!fake_find(f, ifname));
}

static bool fake_neigh_is(const IpPrefix *p, const InAddrUnion *a, int family) {
        return p->family == family &&
               memcmp(&p->address, a,
                      family == AF_INET ? sizeof(struct in_addr) : sizeof(struct in6_addr)) == 0;
}

static int fake_neigh_replace(void *state, const char *ifname, const IpPrefix *addresses,
                              size_t n_addresses, const struct ether_addr *mac) {
        Fake *f = state;
        int r;

        r = fake_enter(f, FAKE_OP_neigh_replace);
        if (r < 0)
                return r;
        if (!fake_find(f, ifname))
                return -ENODEV;
        for (size_t i = 0; i < n_addresses; i++) {
                size_t k;

                for (k = 0; k < f->n_neigh; k++)
                        if (fake_neigh_is(&f->neigh[k].dst, &addresses[i].address,
                                          addresses[i].family))
                                break;
                if (k == f->n_neigh) {
                        if (f->n_neigh >= ELEMENTSOF(f->neigh))
                                return -ENOSPC;
                        f->n_neigh++;
                }
                f->neigh[k].dst = addresses[i];
                f->neigh[k].mac = *mac;
        }
        return fake_done(f, FAKE_OP_neigh_replace, 0);
}

static int fake_link_delete(void *state, const char *ifname) {
        Fake *f = state;
        FakeLink *k;
        int r;

        r = fake_enter(f, FAKE_OP_link_delete);
        if (r < 0)
                return r;
        k = fake_find(f, ifname);
        if (!k)
                return -ENODEV;
        *k = f->links[--f->n_links];
        return fake_done(f, FAKE_OP_link_delete, 0);
}

static int fake_link_list(void *state, const char *prefix, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        Fake *f = state;
        int r;

        r = fake_enter(f, FAKE_OP_link_list);
        if (r < 0)
                return r;
        /* An empty list is an array holding only NULL, as from the real back end. */
        l = calloc(1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i < f->n_links; i++)
                if (startswith(f->links[i].name, prefix)) {
                        r = strv_extend(&l, f->links[i].name);
                        if (r < 0)
                                return r;
                }
        *ret = TAKE_PTR(l);
        return fake_done(f, FAKE_OP_link_list, 0);
}

static int fake_firewall_apply(void *state, const NetdFirewallConfig *c, char **reterr_message) {
        Fake *f = state;
        int r;

        r = fake_enter(f, FAKE_OP_firewall_apply);
        if (r < 0) {
                if (reterr_message)
                        *reterr_message = strdup("injected failure");
                return r;
        }
        if (isempty(c->bridge))
                return -EINVAL;
        f->firewall = true;
        return fake_done(f, FAKE_OP_firewall_apply, 0);
}

static int fake_firewall_remove(void *state, char **reterr_message) {
        Fake *f = state;
        int r;

        r = fake_enter(f, FAKE_OP_firewall_remove);
        if (r < 0)
                return r;
        f->firewall = false;
        return fake_done(f, FAKE_OP_firewall_remove, 0);
}

const NetdLinkOps netd_link_fake_ops = {
        .name = "fake",
        .init = fake_init,
        .done = fake_free,
        .bridge_ensure = fake_bridge_ensure,
        .forwarding_enable = fake_forwarding_enable,
        .veth_create = fake_veth_create,
        .link_move_netns = fake_link_move_netns,
        .netns_open = fake_netns_open,
        .netns_configure = fake_netns_configure,
        .link_exists = fake_link_exists,
        .neigh_replace = fake_neigh_replace,
        .link_delete = fake_link_delete,
        .link_list = fake_link_list,
        .firewall_apply = fake_firewall_apply,
        .firewall_remove = fake_firewall_remove,
};

static Fake *fake_of(NetdLink *l) {
        assert(l->ops == &netd_link_fake_ops);
        return l->state;
}

bool netd_link_fake_has_link(NetdLink *l, const char *ifname) {
        return fake_find(fake_of(l), ifname);
}

const char *netd_link_fake_link_master(NetdLink *l, const char *ifname) {
        FakeLink *k = fake_find(fake_of(l), ifname);

        return k && k->master[0] ? k->master : NULL;
}

size_t netd_link_fake_n_links(NetdLink *l) {
        return fake_of(l)->n_links;
}

int netd_link_fake_add_link(NetdLink *l, const char *ifname) {
        return fake_add(fake_of(l), ifname, NULL, false);
}

void netd_link_fake_fail_next(NetdLink *l, const char *op, int error) {
        FakeOp o = fake_op_from_name(op);

        assert(o >= 0);
        fake_of(l)->fail[o] = -abs(error);
}

unsigned netd_link_fake_n_calls(NetdLink *l, const char *op) {
        FakeOp o = fake_op_from_name(op);

        assert(o >= 0);
        return fake_of(l)->n_calls[o];
}

const struct ether_addr *netd_link_fake_neigh(NetdLink *l, const InAddrUnion *a, int family) {
        Fake *f = fake_of(l);

        for (size_t k = 0; k < f->n_neigh; k++)
                if (fake_neigh_is(&f->neigh[k].dst, a, family))
                        return &f->neigh[k].mac;
        return NULL;
}

const NetdNetnsConfig *netd_link_fake_last_netns_config(NetdLink *l) {
        Fake *f = fake_of(l);

        return f->have_config ? &f->last_config : NULL;
}

bool netd_link_fake_firewall_active(NetdLink *l) {
        return fake_of(l)->firewall;
}

bool netd_link_fake_forwarding(NetdLink *l, int family) {
        return fake_of(l)->forwarding[family == AF_INET6];
}
