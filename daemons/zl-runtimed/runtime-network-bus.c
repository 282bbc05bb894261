/* SPDX-License-Identifier: Apache-2.0 */
/* runtime-network-bus.c: zl-runtimed's network back end: zl-netd's org.zlayer.Network1. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>

#include "bus-error.h"
#include "daemon-list.h"
#include "log.h"
#include "runtime-network.h"
#include "string-util.h"

#define NETWORK_INTERFACE "org.zlayer.Network1"

static const ZlDaemonInfo *netd_info(void) {
        return &zl_daemon_list[ZL_DAEMON_NETD];
}

/* The result of a failed call: -EHOSTUNREACH with a message that says what to do when nobody
 * serves the name (also when activating it failed), else the error zl-netd named, with its
 * message. */
static int call_failed(int r, const sd_bus_error *e, char **ret_error) {
        int k;

        if (sd_bus_error_has_names(e, SD_BUS_ERROR_SERVICE_UNKNOWN, SD_BUS_ERROR_NAME_HAS_NO_OWNER,
                                   SD_BUS_ERROR_UNKNOWN_OBJECT, SD_BUS_ERROR_UNKNOWN_INTERFACE,
                                   SD_BUS_ERROR_DISCONNECTED) ||
            (e && e->name && startswith(e->name, "org.freedesktop.DBus.Error.Spawn."))) {
                if (ret_error)
                        *ret_error =
                                strdup("zl-netd is not running: start it with `systemctl start "
                                       "zl-netd`, or create the container with network "
                                       "'none'");
                return -EHOSTUNREACH;
        }
        if (sd_bus_error_has_name(e, SD_BUS_ERROR_NO_REPLY) || r == -ETIMEDOUT) {
                if (ret_error)
                        (void) asprintf(ret_error, "zl-netd did not answer within %llu s",
                                        NETWORK_BUS_TIMEOUT_USEC / 1000000ULL);
                return -ETIMEDOUT;
        }
        k = zl_bus_error_to_errno(e);
        if (k > 0)
                r = -k;
        if (ret_error)
                (void) asprintf(ret_error, "zl-netd: %s",
                                e && e->message ? e->message : strerror(-r));
        return r;
}

static int read_details(sd_bus_message *m, NetworkInfo *info) {
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *key, *v;

                r = sd_bus_message_read(m, "s", &key);
                if (r < 0)
                        return r;
                if (!streq(key, "hosts") && !streq(key, "resolv_conf") && !streq(key, "ip6")) {
                        r = sd_bus_message_skip(m, "v");
                        if (r < 0)
                                return r;
                        r = sd_bus_message_exit_container(m);
                        if (r < 0)
                                return r;
                        continue;
                }
                r = sd_bus_message_read(m, "v", "s", &v);
                if (r < 0)
                        return r;
                if (streq(key, "ip6")) {
                        if (!isempty(v) && !info->address6) {
                                r = network_parse_prefix(v, &info->address6, &info->prefix_length6);
                                if (r < 0)
                                        return r == -ENOMEM ? r : -EBADMSG;
                        }
                } else {
                        char **field = streq(key, "hosts") ? &info->hosts : &info->resolv_conf;

                        free(*field);
                        *field = strdup(v);
                        if (!*field)
                                return -ENOMEM;
                }
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

static int bus_attach(void *userdata, const char *id, const char *netns_path, const char *hostname,
                      uint32_t mtu, NetworkInfo *ret, char **ret_error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(network_info_done) NetworkInfo info = {};
        const char *ip, *gateway, *mac;
        sd_bus *bus = userdata;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, netd_info()->bus_name, netd_info()->object_path,
                                           NETWORK_INTERFACE, "AttachContainer");
        if (r >= 0)
                r = sd_bus_message_append(m, "ss", id, netns_path);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && hostname)
                r = sd_bus_message_append(m, "{sv}", "hostname", "s", hostname);
        if (r >= 0 && mtu > 0)
                r = sd_bus_message_append(m, "{sv}", "mtu", "u", mtu);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0)
                return r;
        /* Synchronous: CreateContainer is (the monitor's start-up blocks it too), and attaching
         * is local netlink and sqlite work in zl-netd. Other calls wait in sd-bus's queue. */
        r = sd_bus_call(bus, m, NETWORK_BUS_TIMEOUT_USEC, &e, &reply);
        if (r < 0)
                return call_failed(r, &e, ret_error);
        r = sd_bus_message_read(reply, "sss", &ip, &gateway, &mac);
        if (r >= 0)
                r = read_details(reply, &info);
        if (r >= 0) {
                r = network_parse_prefix(ip, &info.address, &info.prefix_length);
                if (r == -EINVAL)
                        r = -EBADMSG;
        }
        if (r >= 0) {
                info.gateway = strdup(gateway);
                info.mac = strdup(mac);
                if (!info.gateway || !info.mac)
                        r = -ENOMEM;
        }
        if (r < 0) {
                if (ret_error)
                        (void) asprintf(ret_error, "zl-netd's reply cannot be understood: %s",
                                        strerror(-r));
                return r;
        }
        *ret = info;
        info = (NetworkInfo){};
        return 0;
}

static int bus_detach(void *userdata, const char *id, char **ret_error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus *bus = userdata;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, netd_info()->bus_name, netd_info()->object_path,
                                           NETWORK_INTERFACE, "DetachContainer");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", id);
        if (r < 0)
                return r;
        r = sd_bus_call(bus, m, NETWORK_BUS_TIMEOUT_USEC, &e, &reply);
        if (r < 0)
                return call_failed(r, &e, ret_error);
        return 0;
}

const NetworkBackend runtime_network_bus_backend = {
        .attach = bus_attach,
        .detach = bus_detach,
};
