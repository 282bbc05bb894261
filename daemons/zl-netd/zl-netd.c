/* SPDX-License-Identifier: Apache-2.0 */
/* zl-netd.c: main of the network daemon, org.zlayer.Network1; only its descriptor. */
#include "daemon.h"

static const ZlDaemonDescriptor descriptor = {
        .info = &zl_daemon_list[ZL_DAEMON_NETD],
};

int main(int argc, char *argv[]) {
        return zl_daemon_main(&descriptor, argc, argv);
}
