/* SPDX-License-Identifier: Apache-2.0 */
/* zl-proxyd.c: main of the proxy daemon, org.zlayer.Proxy1; only its descriptor. */
#include "daemon.h"

static const ZlDaemonDescriptor descriptor = {
        .info = &zl_daemon_list[ZL_DAEMON_PROXYD],
};

int main(int argc, char *argv[]) {
        return zl_daemon_main(&descriptor, argc, argv);
}
