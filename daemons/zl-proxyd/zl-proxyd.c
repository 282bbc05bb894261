/* SPDX-License-Identifier: Apache-2.0 */
/* zl-proxyd.c: main of the proxy daemon, org.zlayer.Proxy1; only its descriptor. */
#include "daemon.h"

static const ZlDaemonDescriptor descriptor = {
        .name = "zl-proxyd",
        .short_name = "proxy",
        .bus_name = "org.zlayer.Proxy1",
        .object_path = "/org/zlayer/Proxy1",
        .description = "ZLayer proxy daemon: public and internal listeners, TLS and load balancing "
                       "over healthy replicas.",
};

int main(int argc, char *argv[]) {
        return zl_daemon_main(&descriptor, argc, argv);
}
