/* SPDX-License-Identifier: Apache-2.0 */
/* zl-netd.c: main of the network daemon, org.zlayer.Network1; only its descriptor. */
#include "daemon.h"

static const ZlDaemonDescriptor descriptor = {
        .name = "zl-netd",
        .short_name = "network",
        .bus_name = "org.zlayer.Network1",
        .object_path = "/org/zlayer/Network1",
        .description = "ZLayer network daemon: the node bridge, container links, IP addresses and "
                       "the overlay mesh.",
};

int main(int argc, char *argv[]) {
        return zl_daemon_main(&descriptor, argc, argv);
}
