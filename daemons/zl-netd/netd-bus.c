/* SPDX-License-Identifier: Apache-2.0 */
/* netd-bus.c: the org.zlayer.Network1 vtable: arguments checked, manager calls, signals. */
#include <errno.h>
#include <netinet/ether.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus-error.h"
#include "bus-options.h"
#include "hostname-util.h"
#include "log.h"
#include "netd-bus.h"
#include "string-util.h"

#define NETD_MTU_MIN 576U
#define NETD_MTU_MAX 65535U

/* "0a:1b:..." with two digits per byte (ether_ntoa drops leading zeros). */
static const char *mac_to_string(const struct ether_addr *a, char buf[static 18]) {
        const uint8_t *b = a->ether_addr_octet;

        snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
        return buf;
}

typedef struct AttachOptions {
        uint32_t mtu; /* 0: the node's */
        const char *hostname; /* points into the message */
} AttachOptions;

static const ZlBusOption attach_options[] = {
        ZL_BUS_OPTION("mtu", "u", zl_bus_option_uint32, AttachOptions, mtu),
        ZL_BUS_OPTION("hostname", "s", zl_bus_option_string_ref, AttachOptions, hostname),
        ZL_BUS_OPTION_IGNORED("traceparent", "s"),
};

/* 0 after replying InvalidArgument. */
static int read_attach_options(sd_bus_message *m, AttachOptions *o) {
        int r;

        r = zl_bus_read_options_or_reply(m, NULL, attach_options, ELEMENTSOF(attach_options), o);
        if (r <= 0)
                return r;
        if (o->mtu != 0 && (o->mtu < NETD_MTU_MIN || o->mtu > NETD_MTU_MAX)) {
                r = zl_bus_reply_errnof(m, EINVAL, "options: mtu %u is out of range %u-%u", o->mtu,
                                        NETD_MTU_MIN, NETD_MTU_MAX);
                return r < 0 ? r : 0;
        }
        if (o->hostname && !hostname_is_valid(o->hostname)) {
                r = zl_bus_reply_errnof(m, EINVAL, "options: hostname '%s' is not a valid hostname",
                                        o->hostname);
                return r < 0 ? r : 0;
        }
        return 1;
}

static int reply_attach_error(sd_bus_message *m, Manager *mgr, int r, const char *id,
                              const char *netns_path, const char *detail) {
        char buf[IP_PREFIX_STRING_MAX];

        switch (r) {
        case -ENOSPC: {
                const IpPrefix *s = ipam_node_subnet(netd_ipam(mgr->netd), AF_INET);
                return zl_bus_reply_errnof(m, ENOSPC, "node subnet %s is full",
                                           s ? ip_prefix_to_string(s, buf) : "?");
        }
        case -ENOENT:
                return zl_bus_reply_errnof(m, ENOENT,
                                           "netns_path: '%s' does not exist (the network "
                                           "namespace is gone)",
                                           netns_path);
        case -EEXIST: {
                _cleanup_(netd_attachment_freep) NetdAttachment *a = NULL;
                if (netd_get(mgr->netd, id, &a) >= 0)
                        return zl_bus_reply_errnof(m, EEXIST,
                                                   "container_id: '%s' is attached to another "
                                                   "network namespace, '%s'",
                                                   id, a->netns_path);
                return zl_bus_reply_errnof(m, EEXIST,
                                           "container_id: the interface name of '%s' is taken", id);
        }
        case -EINVAL:
                return zl_bus_reply_errnof(m, EINVAL, "netns_path: '%s' is not a network namespace",
                                           netns_path);
        default:
                log_warning_errno(r, "Failed to attach '%s' (%s)%s%s: %m", id, netns_path,
                                  detail ? ": " : "", strempty(detail));
                return zl_bus_reply_errnof(m, r, "Failed to attach '%s': %s%s%s", id, strerror(-r),
                                           detail ? ": " : "", strempty(detail));
        }
}

static int method_attach_container(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(manager_attach_result_done) ManagerAttachResult res = {};
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ char *detail = NULL;
        const char *id, *netns_path;
        AttachOptions o = {};
        char ip[IP_PREFIX_STRING_MAX], gw[IP_PREFIX_STRING_MAX], mac[32];
        Network *nw = userdata;
        Manager *mgr = nw->manager;
        NetdAttachment *a;
        int r;

        (void) error;
        r = sd_bus_message_read(m, "ss", &id, &netns_path);
        if (r < 0)
                return r;
        if (!netd_container_id_is_valid(id))
                return zl_bus_reply_errnof(m, EINVAL,
                                           "container_id: '%s' is not a valid id (1-%d "
                                           "characters of [A-Za-z0-9_.-], not starting with '.' "
                                           "or '-')",
                                           id, NETD_CONTAINER_ID_MAX);
        if (netns_path[0] != '/')
                return zl_bus_reply_errnof(m, EINVAL, "netns_path: '%s' is not an absolute path",
                                           netns_path);
        r = read_attach_options(m, &o);
        if (r <= 0)
                return r;
        r = zl_bus_check_root(m, "change the node's network");
        if (r <= 0)
                return r;

        r = manager_attach(mgr, id, netns_path, o.mtu, o.hostname, &res, &detail);
        if (r < 0)
                return reply_attach_error(m, mgr, r, id, netns_path, detail);
        a = res.attachment;

        r = sd_bus_message_new_method_return(m, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_append(reply, "sss", ip_prefix_to_string(&a->addresses[0], ip),
                                  in_addr_to_string(a->addresses[0].family, &a->gateways[0], gw),
                                  mac_to_string(&a->mac, mac));
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "{sv}");
        if (r < 0)
                return r;
        r = sd_bus_message_append(reply, "{sv}{sv}{sv}{sv}{sv}", "host_interface", "s",
                                  a->host_ifname, "mtu", "u", a->mtu, "hosts", "s", res.hosts_path,
                                  "resolv_conf", "s", res.resolv_conf_path, "resolv_conf_source",
                                  "s", strempty(res.resolv_conf_source));
        if (r < 0)
                return r;
        for (size_t i = 1; i < a->n_addresses; i++)
                if (a->addresses[i].family == AF_INET6) {
                        r = sd_bus_message_append(reply, "{sv}{sv}", "ip6", "s",
                                                  ip_prefix_to_string(&a->addresses[i], ip),
                                                  "gateway6", "s",
                                                  in_addr_to_string(AF_INET6, &a->gateways[i], gw));
                        if (r < 0)
                                return r;
                }
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        r = sd_bus_send(NULL, reply, NULL);
        if (r < 0)
                return r;

        if (res.created) {
                log_struct(LOG_INFO,
                           LOG_FIELDS({ "ZL_EVENT", "container-attached" }, { "ZL_CONTAINER", id },
                                      { "ZL_ADDRESS", ip_prefix_to_string(&a->addresses[0], ip) }),
                           "Attached '%s' as %s.", id, ip);
                r = sd_bus_emit_signal(sd_bus_message_get_bus(m), NETWORK_OBJECT_PATH,
                                       NETWORK_INTERFACE, "ContainerAttached", "sss", id,
                                       ip_prefix_to_string(&a->addresses[0], ip),
                                       mac_to_string(&a->mac, mac));
                if (r < 0)
                        log_debug_errno(r, "Failed to emit ContainerAttached, ignoring: %m");
        }
        return 1;
}

static int method_detach_container(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Network *nw = userdata;
        const char *id;
        int r;

        (void) error;
        r = sd_bus_message_read(m, "s", &id);
        if (r < 0)
                return r;
        if (!netd_container_id_is_valid(id))
                return zl_bus_reply_errnof(m, EINVAL, "container_id: '%s' is not a valid id", id);
        r = zl_bus_check_root(m, "change the node's network");
        if (r <= 0)
                return r;
        r = manager_detach(nw->manager, id);
        if (r == -ENOENT)
                return zl_bus_reply_errnof(m, ENOENT, "container_id: '%s' is not attached", id);
        if (r < 0) {
                log_warning_errno(r, "Failed to detach '%s': %m", id);
                return zl_bus_reply_errnof(m, r, "Failed to detach '%s': %s", id, strerror(-r));
        }
        r = sd_bus_reply_method_return(m, NULL);
        if (r < 0)
                return r;
        log_struct(LOG_INFO,
                   LOG_FIELDS({ "ZL_EVENT", "container-detached" }, { "ZL_CONTAINER", id }),
                   "Detached '%s'.", id);
        r = sd_bus_emit_signal(sd_bus_message_get_bus(m), NETWORK_OBJECT_PATH, NETWORK_INTERFACE,
                               "ContainerDetached", "s", id);
        if (r < 0)
                log_debug_errno(r, "Failed to emit ContainerDetached, ignoring: %m");
        return 1;
}

static void attachments_freep(NetdAttachment ***a, size_t *n) {
        netd_attachment_array_free(*a, *n);
}

static int method_list_attachments(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Network *nw = userdata;
        NetdAttachment **all = NULL;
        size_t n = 0;
        int r;

        (void) error;
        r = netd_list(nw->manager->netd, &all, &n);
        if (r < 0)
                return zl_bus_reply_errnof(m, r, "Failed to list the attachments: %s",
                                           strerror(-r));
        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = sd_bus_message_open_container(reply, 'a', "(ssssssu)");
        for (size_t i = 0; r >= 0 && i < n; i++) {
                const NetdAttachment *a = all[i];
                char ip[IP_PREFIX_STRING_MAX], ip6[IP_PREFIX_STRING_MAX] = "", mac[32];

                ip[0] = '\0';
                for (size_t k = 0; k < a->n_addresses; k++)
                        (void) ip_prefix_to_string(&a->addresses[k],
                                                   a->addresses[k].family == AF_INET6 ? ip6 : ip);
                r = sd_bus_message_append(reply, "(ssssssu)", a->container_id, a->netns_path,
                                          a->host_ifname, ip, ip6, mac_to_string(&a->mac, mac),
                                          a->mtu);
        }
        attachments_freep(&all, &n);
        if (r >= 0)
                r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int property_get_prefix(sd_bus *bus, const char *path, const char *interface,
                               const char *property, sd_bus_message *reply, void *userdata,
                               sd_bus_error *error) {
        Network *nw = userdata;
        Ipam *ipam = netd_ipam(nw->manager->netd);
        char buf[IP_PREFIX_STRING_MAX] = "";
        const IpPrefix *p;

        (void) bus, (void) path, (void) interface, (void) error;
        if (streq(property, "ClusterCidr"))
                p = ipam_cluster(ipam, AF_INET);
        else if (streq(property, "NodeSubnet"))
                p = ipam_node_subnet(ipam, AF_INET);
        else
                p = ipam_node_subnet(ipam, AF_INET6);
        if (p)
                (void) ip_prefix_to_string(p, buf);
        return sd_bus_message_append(reply, "s", buf);
}

static int property_get_bridge(sd_bus *bus, const char *path, const char *interface,
                               const char *property, sd_bus_message *reply, void *userdata,
                               sd_bus_error *error) {
        Network *nw = userdata;

        (void) bus, (void) path, (void) interface, (void) property, (void) error;
        return sd_bus_message_append(reply, "s", netd_bridge(nw->manager->netd));
}

static int property_get_gateway(sd_bus *bus, const char *path, const char *interface,
                                const char *property, sd_bus_message *reply, void *userdata,
                                sd_bus_error *error) {
        Network *nw = userdata;
        char buf[IP_PREFIX_STRING_MAX] = "";
        InAddrUnion gw;

        (void) bus, (void) path, (void) interface, (void) property, (void) error;
        if (ipam_gateway(netd_ipam(nw->manager->netd), AF_INET, &gw) >= 0)
                (void) in_addr_to_string(AF_INET, &gw, buf);
        return sd_bus_message_append(reply, "s", buf);
}

static const sd_bus_vtable network_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("AttachContainer",
                                SD_BUS_ARGS("s", container_id, "s", netns_path, "a{sv}", options),
                                SD_BUS_RESULT("s", ip, "s", gateway, "s", mac, "a{sv}", details),
                                method_attach_container, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("DetachContainer", SD_BUS_ARGS("s", container_id), SD_BUS_NO_RESULT,
                                method_detach_container, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListAttachments", SD_BUS_NO_ARGS,
                                SD_BUS_RESULT("a(ssssssu)", attachments), method_list_attachments,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("ContainerAttached",
                                SD_BUS_ARGS("s", container_id, "s", ip, "s", mac), 0),
        SD_BUS_SIGNAL_WITH_ARGS("ContainerDetached", SD_BUS_ARGS("s", container_id), 0),
        SD_BUS_PROPERTY("ClusterCidr", "s", property_get_prefix, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("NodeSubnet", "s", property_get_prefix, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("NodeSubnet6", "s", property_get_prefix, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Bridge", "s", property_get_bridge, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Gateway", "s", property_get_gateway, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_VTABLE_END,
};

const ZlBusObject network_bus_object = {
        .path = NETWORK_OBJECT_PATH,
        .interface = NETWORK_INTERFACE,
        .vtable = network_vtable,
};
