/* SPDX-License-Identifier: Apache-2.0 */
/* zl-schedd.c: main of the scheduler daemon, org.zlayer.Scheduler1; only its descriptor. */
#include "daemon.h"

static const ZlDaemonDescriptor descriptor = {
        .info = &zl_daemon_list[ZL_DAEMON_SCHEDD],
};

int main(int argc, char *argv[]) {
        return zl_daemon_main(&descriptor, argc, argv);
}
