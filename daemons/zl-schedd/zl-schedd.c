/* SPDX-License-Identifier: Apache-2.0 */
/* zl-schedd.c: main of the scheduler daemon, org.zlayer.Scheduler1; only its descriptor. */
#include "daemon.h"

static const ZlDaemonDescriptor descriptor = {
        .name = "zl-schedd",
        .short_name = "scheduler",
        .bus_name = "org.zlayer.Scheduler1",
        .object_path = "/org/zlayer/Scheduler1",
        .description =
                "ZLayer scheduler daemon: cluster state, deployments, placement, scaling and jobs.",
};

int main(int argc, char *argv[]) {
        return zl_daemon_main(&descriptor, argc, argv);
}
