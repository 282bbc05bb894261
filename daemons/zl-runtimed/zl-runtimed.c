/* SPDX-License-Identifier: Apache-2.0 */
/* zl-runtimed.c: main of the runtime daemon, org.zlayer.Runtime1; only its descriptor. */
#include "daemon.h"

static const ZlDaemonDescriptor descriptor = {
        .name = "zl-runtimed",
        .short_name = "runtime",
        .bus_name = "org.zlayer.Runtime1",
        .object_path = "/org/zlayer/Runtime1",
        .description = "ZLayer runtime daemon: containers, images, volumes and their health.",
};

int main(int argc, char *argv[]) {
        return zl_daemon_main(&descriptor, argc, argv);
}
