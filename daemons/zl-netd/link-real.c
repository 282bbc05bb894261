/* SPDX-License-Identifier: Apache-2.0 */
/* link-real.c: the kernel back end: rtnetlink through libmnl, nftables through nft.c. */
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/ip.h>
#include <linux/nsfs.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

#include "log.h"
#include "netlink-ops.h"
#include "nft.h"
#include "string-util.h"

/* Dumps of a busy host's links come in multi-part messages of up to a page or so each; a
 * generous buffer takes a whole datagram at once. */
#define NL_BUFFER_SIZE 32768
/* Requests and single answers: MNL_SOCKET_BUFFER_SIZE, but a constant (theirs depends on the
 * page size, which would make every buffer a VLA). */
#define NL_MSG_SIZE 8192

typedef struct Real {
        struct mnl_socket *nl;
        uint32_t seq;
} Real;

static void mnl_socket_closep(struct mnl_socket **nl) {
        if (*nl)
                mnl_socket_close(*nl);
}

static int nl_open_fd(int fd, struct mnl_socket **ret) {
        struct mnl_socket *nl;

        nl = fd >= 0 ? mnl_socket_fdopen(fd) : mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
        if (!nl)
                return -errno;
        if (fd < 0 && mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
                int r = -errno;
                mnl_socket_close(nl);
                return r;
        }
        *ret = nl;
        return 0;
}

/* Sends one request and reads until its answer is complete: the ACK (requests get
 * NLM_F_ACK) or NLMSG_DONE (dumps). The error in the ACK comes back as -errno. */
static int nl_call(struct mnl_socket *nl, uint32_t *seq, struct nlmsghdr *nlh, bool dump,
                   mnl_cb_t cb, void *userdata) {
        _cleanup_free_ char *buf = NULL;
        uint32_t portid = mnl_socket_get_portid(nl);
        ssize_t n;
        int r;

        nlh->nlmsg_seq = ++*seq;
        /* Not a test of NLM_F_DUMP's bits: NLM_F_EXCL and NLM_F_REPLACE share them. */
        if (!dump)
                nlh->nlmsg_flags |= NLM_F_ACK;
        if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
                return -errno;

        buf = malloc(NL_BUFFER_SIZE);
        if (!buf)
                return -ENOMEM;
        for (;;) {
                n = mnl_socket_recvfrom(nl, buf, NL_BUFFER_SIZE);
                if (n < 0)
                        return -errno;
                r = mnl_cb_run(buf, n, nlh->nlmsg_seq, portid, cb, userdata);
                if (r < 0)
                        return errno > 0 ? -errno : -EIO;
                if (r == MNL_CB_STOP)
                        return 0;
        }
}

static struct nlmsghdr *nl_request(char *buf, uint16_t type, uint16_t flags) {
        struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);

        nlh->nlmsg_type = type;
        nlh->nlmsg_flags = NLM_F_REQUEST | flags;
        return nlh;
}

typedef struct LinkInfo {
        int ifindex;
        char kind[32];
        struct ether_addr mac;
        bool have_mac;
} LinkInfo;

static int parse_linkinfo_cb(const struct nlattr *a, void *data) {
        LinkInfo *info = data;

        if (mnl_attr_get_type(a) == IFLA_INFO_KIND && mnl_attr_validate(a, MNL_TYPE_STRING) >= 0)
                snprintf(info->kind, sizeof info->kind, "%s", mnl_attr_get_str(a));
        return MNL_CB_OK;
}

static int parse_link_attr_cb(const struct nlattr *a, void *data) {
        LinkInfo *info = data;

        switch (mnl_attr_get_type(a)) {
        case IFLA_LINKINFO:
                if (mnl_attr_validate(a, MNL_TYPE_NESTED) >= 0)
                        (void) mnl_attr_parse_nested(a, parse_linkinfo_cb, info);
                break;
        case IFLA_ADDRESS:
                if (mnl_attr_get_payload_len(a) == ETH_ALEN) {
                        memcpy(&info->mac, mnl_attr_get_payload(a), ETH_ALEN);
                        info->have_mac = true;
                }
                break;
        }
        return MNL_CB_OK;
}

static int link_info_cb(const struct nlmsghdr *nlh, void *data) {
        struct ifinfomsg *ifm = mnl_nlmsg_get_payload(nlh);
        LinkInfo *info = data;

        info->ifindex = ifm->ifi_index;
        (void) mnl_attr_parse(nlh, sizeof *ifm, parse_link_attr_cb, info);
        return MNL_CB_OK;
}

static int link_get(struct mnl_socket *nl, uint32_t *seq, const char *name, LinkInfo *ret) {
        char buf[NL_MSG_SIZE] = {};
        struct nlmsghdr *nlh;
        struct ifinfomsg *ifm;
        LinkInfo info = {};
        int r;

        if (isempty(name) || strlen(name) >= IFNAMSIZ)
                return -EINVAL;
        nlh = nl_request(buf, RTM_GETLINK, 0);
        ifm = mnl_nlmsg_put_extra_header(nlh, sizeof *ifm);
        ifm->ifi_family = AF_UNSPEC;
        mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
        /* The kernel answers a get with the link and no ACK after it; asking for no ACK
         * keeps the reply a single message. */
        nlh->nlmsg_seq = ++*seq;
        if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
                return -errno;
        for (;;) {
                ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof buf);
                if (n < 0)
                        return -errno;
                r = mnl_cb_run(buf, n, nlh->nlmsg_seq, mnl_socket_get_portid(nl), link_info_cb,
                               &info);
                if (r < 0)
                        return errno > 0 ? -errno : -EIO;
                if (info.ifindex > 0)
                        break;
                if (r == MNL_CB_STOP)
                        return -ENODEV;
        }
        if (ret)
                *ret = info;
        return info.ifindex;
}

static int ack_cb(const struct nlmsghdr *nlh, void *data) {
        return MNL_CB_OK;
}

/* Sets MTU (when not 0), master (when > 0) and brings the link up. */
static int link_set_up(struct mnl_socket *nl, uint32_t *seq, int ifindex, uint32_t mtu) {
        char buf[NL_MSG_SIZE] = {};
        struct nlmsghdr *nlh = nl_request(buf, RTM_NEWLINK, 0);
        struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof *ifm);

        ifm->ifi_family = AF_UNSPEC;
        ifm->ifi_index = ifindex;
        ifm->ifi_flags = IFF_UP;
        ifm->ifi_change = IFF_UP;
        if (mtu > 0)
                mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
        return nl_call(nl, seq, nlh, false, ack_cb, NULL);
}

/* net.ipv4.conf.<link>.arp_notify = 1, through netlink (IFLA_INET_CONF) so that it applies in
 * whatever namespace the socket belongs to: the link announces its address with a gratuitous
 * ARP when it comes up, and a reused address reaches the other containers at once instead of
 * after their neighbour entries for its previous owner expire. */
static int link_set_arp_notify(struct mnl_socket *nl, uint32_t *seq, int ifindex) {
        char buf[NL_MSG_SIZE] = {};
        struct nlmsghdr *nlh = nl_request(buf, RTM_NEWLINK, 0);
        struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof *ifm);
        struct nlattr *af_spec, *inet, *conf;

        ifm->ifi_family = AF_UNSPEC;
        ifm->ifi_index = ifindex;
        af_spec = mnl_attr_nest_start(nlh, IFLA_AF_SPEC);
        inet = mnl_attr_nest_start(nlh, AF_INET);
        conf = mnl_attr_nest_start(nlh, IFLA_INET_CONF);
        mnl_attr_put_u32(nlh, IPV4_DEVCONF_ARP_NOTIFY, 1);
        mnl_attr_nest_end(nlh, conf);
        mnl_attr_nest_end(nlh, inet);
        mnl_attr_nest_end(nlh, af_spec);
        return nl_call(nl, seq, nlh, false, ack_cb, NULL);
}

static int link_set_address(struct mnl_socket *nl, uint32_t *seq, int ifindex,
                            const struct ether_addr *mac) {
        char buf[NL_MSG_SIZE] = {};
        struct nlmsghdr *nlh = nl_request(buf, RTM_NEWLINK, 0);
        struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof *ifm);

        ifm->ifi_family = AF_UNSPEC;
        ifm->ifi_index = ifindex;
        mnl_attr_put(nlh, IFLA_ADDRESS, ETH_ALEN, mac);
        return nl_call(nl, seq, nlh, false, ack_cb, NULL);
}

static int address_add(struct mnl_socket *nl, uint32_t *seq, int ifindex, const IpPrefix *a) {
        char buf[NL_MSG_SIZE] = {};
        struct nlmsghdr *nlh = nl_request(buf, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE);
        struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof *ifa);
        size_t len = a->family == AF_INET ? 4 : 16;

        ifa->ifa_family = a->family;
        ifa->ifa_prefixlen = a->prefixlen;
        ifa->ifa_scope = RT_SCOPE_UNIVERSE;
        ifa->ifa_index = ifindex;
        mnl_attr_put(nlh, IFA_LOCAL, len, &a->address);
        mnl_attr_put(nlh, IFA_ADDRESS, len, &a->address);
        if (a->family == AF_INET) {
                struct in_addr brd = a->address.in;

                if (a->prefixlen < 31)
                        brd.s_addr |= htonl(UINT32_MAX >> a->prefixlen);
                mnl_attr_put(nlh, IFA_BROADCAST, sizeof brd, &brd);
        } else
                /* Addresses come from our allocator, unique by construction: duplicate
                 * detection would only hold the container's network back for a second. */
                mnl_attr_put_u32(nlh, IFA_FLAGS, IFA_F_NODAD);
        return nl_call(nl, seq, nlh, false, ack_cb, NULL);
}

static int route_add_default(struct mnl_socket *nl, uint32_t *seq, int ifindex, int family,
                             const InAddrUnion *gateway) {
        char buf[NL_MSG_SIZE] = {};
        struct nlmsghdr *nlh = nl_request(buf, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE);
        struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof *rtm);

        rtm->rtm_family = family;
        rtm->rtm_table = RT_TABLE_MAIN;
        rtm->rtm_protocol = RTPROT_STATIC;
        rtm->rtm_scope = RT_SCOPE_UNIVERSE;
        rtm->rtm_type = RTN_UNICAST;
        mnl_attr_put_u32(nlh, RTA_OIF, ifindex);
        mnl_attr_put(nlh, RTA_GATEWAY, family == AF_INET ? 4 : 16, gateway);
        return nl_call(nl, seq, nlh, false, ack_cb, NULL);
}

static int real_init(void **ret) {
        _cleanup_free_ Real *real = NULL;
        int r;

        real = calloc(1, sizeof *real);
        if (!real)
                return -ENOMEM;
        r = nl_open_fd(-EBADF, &real->nl);
        if (r < 0)
                return r;
        real->seq = (uint32_t) time(NULL);
        *ret = TAKE_PTR(real);
        return 0;
}

static void real_done(void *state) {
        Real *real = state;

        if (!real)
                return;
        mnl_socket_close(real->nl);
        free(real);
}

static int real_bridge_ensure(void *state, const char *name, uint32_t mtu,
                              const IpPrefix *addresses, size_t n_addresses) {
        char buf[NL_MSG_SIZE] = {};
        Real *real = state;
        struct nlmsghdr *nlh;
        struct ifinfomsg *ifm;
        struct nlattr *linkinfo;
        struct ether_addr mac;
        LinkInfo info;
        int r, ifindex;

        if (isempty(name) || strlen(name) >= IFNAMSIZ)
                return -EINVAL;

        nlh = nl_request(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
        ifm = mnl_nlmsg_put_extra_header(nlh, sizeof *ifm);
        ifm->ifi_family = AF_UNSPEC;
        mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
        linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
        mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "bridge");
        mnl_attr_nest_end(nlh, linkinfo);
        r = nl_call(real->nl, &real->seq, nlh, false, ack_cb, NULL);
        if (r < 0 && r != -EEXIST)
                return r;

        ifindex = link_get(real->nl, &real->seq, name, &info);
        if (ifindex < 0)
                return ifindex;
        if (!streq(info.kind, "bridge"))
                return log_debug_errno(ENOTTY, "Link '%s' exists and is not a bridge ('%s').", name,
                                       info.kind);
        /* Set, not left to the kernel (see netd_bridge_mac()). */
        netd_bridge_mac(name, n_addresses > 0 ? &addresses[0] : NULL, &mac);
        if (!info.have_mac || memcmp(&info.mac, &mac, sizeof mac) != 0) {
                r = link_set_address(real->nl, &real->seq, ifindex, &mac);
                if (r < 0)
                        return r;
        }

        for (size_t i = 0; i < n_addresses; i++) {
                r = address_add(real->nl, &real->seq, ifindex, &addresses[i]);
                if (r < 0)
                        return r;
        }
        return link_set_up(real->nl, &real->seq, ifindex, mtu);
}

static int real_forwarding_enable(void *state, int family) {
        const char *p;

        if (family == AF_INET)
                p = "/proc/sys/net/ipv4/ip_forward";
        else if (family == AF_INET6)
                /* Note that this also stops the host's interfaces from taking router
                 * advertisements unless accept_ra=2: only turned on when IPv6 is in use. */
                p = "/proc/sys/net/ipv6/conf/all/forwarding";
        else
                return -EAFNOSUPPORT;

        _cleanup_close_ int fd = open(p, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (write(fd, "1\n", 2) != 2)
                return errno > 0 ? -errno : -EIO;
        return 0;
}

static int real_veth_create(void *state, const NetdVethConfig *c) {
        char buf[NL_MSG_SIZE] = {};
        Real *real = state;
        struct nlmsghdr *nlh;
        struct ifinfomsg *ifm, *peer;
        struct nlattr *linkinfo, *data, *peer_nest;
        int master;

        if (isempty(c->host_ifname) || strlen(c->host_ifname) >= IFNAMSIZ ||
            isempty(c->peer_ifname) || strlen(c->peer_ifname) >= IFNAMSIZ || c->peer_netns_fd < 0)
                return -EINVAL;

        master = link_get(real->nl, &real->seq, c->bridge, NULL);
        if (master < 0)
                return master;

        nlh = nl_request(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
        ifm = mnl_nlmsg_put_extra_header(nlh, sizeof *ifm);
        ifm->ifi_family = AF_UNSPEC;
        /* Up and on the bridge from the start: the link is whole in one request. */
        ifm->ifi_flags = IFF_UP;
        ifm->ifi_change = IFF_UP;
        mnl_attr_put_strz(nlh, IFLA_IFNAME, c->host_ifname);
        mnl_attr_put_u32(nlh, IFLA_MASTER, master);
        if (c->mtu > 0)
                mnl_attr_put_u32(nlh, IFLA_MTU, c->mtu);
        linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
        mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
        data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
        peer_nest = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
        /* The peer's attributes follow an ifinfomsg of its own. */
        peer = mnl_nlmsg_get_payload_tail(nlh);
        nlh->nlmsg_len += MNL_ALIGN(sizeof *peer);
        memset(peer, 0, sizeof *peer);
        peer->ifi_family = AF_UNSPEC;
        mnl_attr_put_strz(nlh, IFLA_IFNAME, c->peer_ifname);
        mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, c->peer_netns_fd);
        if (c->mtu > 0)
                mnl_attr_put_u32(nlh, IFLA_MTU, c->mtu);
        mnl_attr_nest_end(nlh, peer_nest);
        mnl_attr_nest_end(nlh, data);
        mnl_attr_nest_end(nlh, linkinfo);
        return nl_call(real->nl, &real->seq, nlh, false, ack_cb, NULL);
}

static int real_link_move_netns(void *state, const char *ifname, int netns_fd,
                                const char *new_ifname) {
        char buf[NL_MSG_SIZE] = {};
        Real *real = state;
        struct nlmsghdr *nlh;
        struct ifinfomsg *ifm;
        int ifindex;

        if (netns_fd < 0 || (new_ifname && (isempty(new_ifname) || strlen(new_ifname) >= IFNAMSIZ)))
                return -EINVAL;
        ifindex = link_get(real->nl, &real->seq, ifname, NULL);
        if (ifindex < 0)
                return ifindex;

        nlh = nl_request(buf, RTM_NEWLINK, 0);
        ifm = mnl_nlmsg_put_extra_header(nlh, sizeof *ifm);
        ifm->ifi_family = AF_UNSPEC;
        ifm->ifi_index = ifindex;
        mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, netns_fd);
        if (new_ifname)
                mnl_attr_put_strz(nlh, IFLA_IFNAME, new_ifname);
        return nl_call(real->nl, &real->seq, nlh, false, ack_cb, NULL);
}

static int real_netns_open(void *state, const char *path, int *ret_fd) {
        _cleanup_close_ int fd = -EBADF;
        int type;

        if (isempty(path))
                return -EINVAL;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        type = ioctl(fd, NS_GET_NSTYPE);
        if (type < 0)
                return errno == ENOTTY ? -EINVAL : -errno;
        if (type != CLONE_NEWNET)
                return -EINVAL;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* A netlink socket belongs to the namespace it was made in. A child enters the namespace,
 * makes the socket and hands it back, so our own thread never changes namespace (which would
 * be a disaster for the daemon if changing back failed). The child only makes system calls. */
static int netns_socket(int netns_fd, int *ret) {
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int))];
        } control = {};
        _cleanup_close_ int a = -EBADF, b = -EBADF;
        int pair[2], status, r = 0;
        struct msghdr mh = {};
        struct cmsghdr *cmsg;
        struct iovec iov;
        char c = 0;
        pid_t pid;

        if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, pair) < 0)
                return -errno;
        a = pair[0];
        b = pair[1];

        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                int fd;

                if (setns(netns_fd, CLONE_NEWNET) < 0)
                        _exit(errno);
                fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
                if (fd < 0)
                        _exit(errno);
                iov = (struct iovec){ &c, 1 };
                mh.msg_iov = &iov;
                mh.msg_iovlen = 1;
                mh.msg_control = &control;
                mh.msg_controllen = sizeof control;
                cmsg = CMSG_FIRSTHDR(&mh);
                cmsg->cmsg_level = SOL_SOCKET;
                cmsg->cmsg_type = SCM_RIGHTS;
                cmsg->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
                if (sendmsg(b, &mh, MSG_NOSIGNAL) < 0)
                        _exit(errno);
                _exit(0);
        }
        b = safe_close(b);

        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        if (!WIFEXITED(status))
                return -EPROTO;
        if (WEXITSTATUS(status) != 0)
                return -WEXITSTATUS(status);

        iov = (struct iovec){ &c, 1 };
        mh = (struct msghdr){ .msg_iov = &iov,
                              .msg_iovlen = 1,
                              .msg_control = &control,
                              .msg_controllen = sizeof control };
        if (recvmsg(a, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) < 0)
                return -errno;
        cmsg = CMSG_FIRSTHDR(&mh);
        if (!cmsg || cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS ||
            cmsg->cmsg_len != CMSG_LEN(sizeof(int)))
                r = -EPROTO;
        else
                memcpy(ret, CMSG_DATA(cmsg), sizeof(int));
        return r;
}

static int real_netns_configure(void *state, int netns_fd, const NetdNetnsConfig *c,
                                struct ether_addr *ret_mac) {
        _cleanup_(mnl_socket_closep) struct mnl_socket *nl = NULL;
        _cleanup_close_ int fd = -EBADF;
        uint32_t seq = 0;
        LinkInfo info;
        int r, lo, ifindex;

        if (netns_fd < 0 || !c || isempty(c->ifname) || c->n_addresses == 0 ||
            c->n_addresses > ELEMENTSOF(c->addresses))
                return -EINVAL;

        r = netns_socket(netns_fd, &fd);
        if (r < 0)
                return r;
        r = nl_open_fd(fd, &nl);
        if (r < 0)
                return r;
        TAKE_FD(fd);
        if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
                return -errno;

        lo = link_get(nl, &seq, "lo", NULL);
        if (lo < 0)
                return lo;
        r = link_set_up(nl, &seq, lo, 0);
        if (r < 0)
                return r;

        ifindex = link_get(nl, &seq, c->ifname, &info);
        if (ifindex < 0)
                return ifindex;
        for (size_t i = 0; i < c->n_addresses; i++) {
                r = address_add(nl, &seq, ifindex, &c->addresses[i]);
                if (r < 0)
                        return r;
        }
        r = link_set_arp_notify(nl, &seq, ifindex);
        if (r < 0)
                return r;
        r = link_set_up(nl, &seq, ifindex, c->mtu);
        if (r < 0)
                return r;
        for (size_t i = 0; i < c->n_addresses; i++) {
                r = route_add_default(nl, &seq, ifindex, c->addresses[i].family, &c->gateways[i]);
                if (r < 0)
                        return r;
        }

        if (!info.have_mac)
                return -EADDRNOTAVAIL;
        *ret_mac = info.mac;
        return 0;
}

static int real_link_exists(void *state, const char *ifname) {
        Real *real = state;
        int r;

        r = link_get(real->nl, &real->seq, ifname, NULL);
        if (r == -ENODEV)
                return 0;
        return r < 0 ? r : 1;
}

static int real_neigh_replace(void *state, const char *ifname, const IpPrefix *addresses,
                              size_t n_addresses, const struct ether_addr *mac) {
        Real *real = state;
        int ifindex, r;

        if (!mac || (n_addresses > 0 && !addresses))
                return -EINVAL;
        ifindex = link_get(real->nl, &real->seq, ifname, NULL);
        if (ifindex < 0)
                return ifindex;
        for (size_t i = 0; i < n_addresses; i++) {
                char buf[NL_MSG_SIZE] = {};
                struct nlmsghdr *nlh = nl_request(buf, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE);
                struct ndmsg *ndm = mnl_nlmsg_put_extra_header(nlh, sizeof *ndm);
                int family = addresses[i].family;

                if (family != AF_INET && family != AF_INET6)
                        return -EAFNOSUPPORT;
                ndm->ndm_family = family;
                ndm->ndm_ifindex = ifindex;
                ndm->ndm_state = NUD_STALE;
                mnl_attr_put(nlh, NDA_DST, family == AF_INET ? 4 : 16, &addresses[i].address);
                mnl_attr_put(nlh, NDA_LLADDR, ETH_ALEN, mac);
                r = nl_call(real->nl, &real->seq, nlh, false, ack_cb, NULL);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int real_link_delete(void *state, const char *ifname) {
        char buf[NL_MSG_SIZE] = {};
        Real *real = state;
        struct nlmsghdr *nlh;
        struct ifinfomsg *ifm;

        if (isempty(ifname) || strlen(ifname) >= IFNAMSIZ)
                return -EINVAL;
        nlh = nl_request(buf, RTM_DELLINK, 0);
        ifm = mnl_nlmsg_put_extra_header(nlh, sizeof *ifm);
        ifm->ifi_family = AF_UNSPEC;
        mnl_attr_put_strz(nlh, IFLA_IFNAME, ifname);
        return nl_call(real->nl, &real->seq, nlh, false, ack_cb, NULL);
}

typedef struct LinkList {
        const char *prefix;
        char **names;
        int error;
} LinkList;

static int link_list_attr_cb(const struct nlattr *a, void *data) {
        LinkList *list = data;
        int r;

        if (mnl_attr_get_type(a) != IFLA_IFNAME || mnl_attr_validate(a, MNL_TYPE_STRING) < 0)
                return MNL_CB_OK;
        if (!startswith(mnl_attr_get_str(a), list->prefix))
                return MNL_CB_OK;
        r = strv_extend(&list->names, mnl_attr_get_str(a));
        if (r < 0 && list->error == 0)
                list->error = r;
        return MNL_CB_OK;
}

static int link_list_cb(const struct nlmsghdr *nlh, void *data) {
        (void) mnl_attr_parse(nlh, sizeof(struct ifinfomsg), link_list_attr_cb, data);
        return MNL_CB_OK;
}

static int real_link_list(void *state, const char *prefix, char ***ret) {
        char buf[NL_MSG_SIZE] = {};
        LinkList list = { .prefix = strempty(prefix) };
        Real *real = state;
        struct nlmsghdr *nlh;
        struct ifinfomsg *ifm;
        int r;

        nlh = nl_request(buf, RTM_GETLINK, NLM_F_DUMP);
        ifm = mnl_nlmsg_put_extra_header(nlh, sizeof *ifm);
        ifm->ifi_family = AF_UNSPEC;
        r = nl_call(real->nl, &real->seq, nlh, true, link_list_cb, &list);
        if (r >= 0)
                r = list.error;
        if (r >= 0 && !list.names) {
                list.names = calloc(1, sizeof(char *));
                if (!list.names)
                        r = -ENOMEM;
        }
        if (r < 0) {
                strv_free(list.names);
                return r;
        }
        *ret = list.names;
        return 0;
}

static int real_firewall_apply(void *state, const NetdFirewallConfig *c, char **reterr_message) {
        return nft_zlayer_apply(c, reterr_message);
}

static int real_firewall_remove(void *state, char **reterr_message) {
        return nft_zlayer_remove(reterr_message);
}

const NetdLinkOps netd_link_real_ops = {
        .name = "netlink",
        .init = real_init,
        .done = real_done,
        .bridge_ensure = real_bridge_ensure,
        .forwarding_enable = real_forwarding_enable,
        .veth_create = real_veth_create,
        .link_move_netns = real_link_move_netns,
        .netns_open = real_netns_open,
        .netns_configure = real_netns_configure,
        .link_exists = real_link_exists,
        .neigh_replace = real_neigh_replace,
        .link_delete = real_link_delete,
        .link_list = real_link_list,
        .firewall_apply = real_firewall_apply,
        .firewall_remove = real_firewall_remove,
};
