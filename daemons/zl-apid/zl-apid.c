/* SPDX-License-Identifier: Apache-2.0 */
/* zl-apid.c: main of the api daemon, org.zlayer.Api1; only its descriptor. */
#include "daemon.h"

static const ZlDaemonDescriptor descriptor = {
        .name = "zl-apid",
        .short_name = "api",
        .bus_name = "org.zlayer.Api1",
        .object_path = "/org/zlayer/Api1",
        .description = "ZLayer api daemon: the REST API and the cluster join handshake.",
};

int main(int argc, char *argv[]) {
        return zl_daemon_main(&descriptor, argc, argv);
}
