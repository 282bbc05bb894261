/* SPDX-License-Identifier: Apache-2.0 */
/* zl-obsd.c: main of the observability daemon, org.zlayer.Observability1; only its descriptor. */
#include "daemon.h"

static const ZlDaemonDescriptor descriptor = {
        .info = &zl_daemon_list[ZL_DAEMON_OBSD],
};

int main(int argc, char *argv[]) {
        return zl_daemon_main(&descriptor, argc, argv);
}
