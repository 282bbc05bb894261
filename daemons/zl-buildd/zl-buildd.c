/* SPDX-License-Identifier: Apache-2.0 */
/* zl-buildd.c: main of the builder daemon, org.zlayer.Builder1; only its descriptor. */
#include "daemon.h"

static const ZlDaemonDescriptor descriptor = {
        .name = "zl-buildd",
        .short_name = "builder",
        .bus_name = "org.zlayer.Builder1",
        .object_path = "/org/zlayer/Builder1",
        .description = "ZLayer builder daemon: image builds from Dockerfiles through buildah.",
};

int main(int argc, char *argv[]) {
        return zl_daemon_main(&descriptor, argc, argv);
}
