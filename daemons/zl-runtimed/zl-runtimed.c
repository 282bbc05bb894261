/* SPDX-License-Identifier: Apache-2.0 */
/* zl-runtimed.c: main of the runtime daemon, org.zlayer.Runtime1; only its descriptor. */
#include "daemon.h"

static const ZlDaemonDescriptor descriptor = {
        .info = &zl_daemon_list[ZL_DAEMON_RUNTIMED],
};

int main(int argc, char *argv[]) {
        return zl_daemon_main(&descriptor, argc, argv);
}
