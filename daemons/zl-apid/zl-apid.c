/* SPDX-License-Identifier: Apache-2.0 */
/* zl-apid.c: main of the api daemon, org.zlayer.Api1; only its descriptor. */
#include "daemon.h"

static const ZlDaemonDescriptor descriptor = {
        .info = &zl_daemon_list[ZL_DAEMON_APID],
};

int main(int argc, char *argv[]) {
        return zl_daemon_main(&descriptor, argc, argv);
}
