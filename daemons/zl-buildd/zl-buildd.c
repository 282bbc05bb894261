/* SPDX-License-Identifier: Apache-2.0 */
/* zl-buildd.c: main of the builder daemon, org.zlayer.Builder1; only its descriptor. */
#include "daemon.h"

static const ZlDaemonDescriptor descriptor = {
        .info = &zl_daemon_list[ZL_DAEMON_BUILDD],
};

int main(int argc, char *argv[]) {
        return zl_daemon_main(&descriptor, argc, argv);
}
