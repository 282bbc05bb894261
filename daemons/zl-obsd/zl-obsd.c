/* SPDX-License-Identifier: Apache-2.0 */
/* zl-obsd.c: main of the observability daemon, org.zlayer.Observability1; only its descriptor. */
#include "daemon.h"

static const ZlDaemonDescriptor descriptor = {
        .name = "zl-obsd",
        .short_name = "observability",
        .bus_name = "org.zlayer.Observability1",
        .object_path = "/org/zlayer/Observability1",
        .description = "ZLayer observability daemon: metrics for Prometheus, trace export and "
                       "daemon statistics.",
};

int main(int argc, char *argv[]) {
        return zl_daemon_main(&descriptor, argc, argv);
}
