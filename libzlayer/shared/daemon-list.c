/* SPDX-License-Identifier: Apache-2.0 */
/* daemon-list.c: the table of the seven daemons. */
#include <string.h>

#include "daemon-list.h"

const ZlDaemonInfo zl_daemon_list[_ZL_DAEMON_MAX] = {
        [ZL_DAEMON_RUNTIMED] = {
                .name = "zl-runtimed",
                .short_name = "runtime",
                .bus_name = "org.zlayer.Runtime1",
                .object_path = "/org/zlayer/Runtime1",
                .description = "ZLayer runtime daemon: containers, images, volumes and their "
                               "health.",
                .stage = 0,
        },
        [ZL_DAEMON_NETD] = {
                .name = "zl-netd",
                .short_name = "network",
                .bus_name = "org.zlayer.Network1",
                .object_path = "/org/zlayer/Network1",
                .description = "ZLayer network daemon: the node bridge, container links, IP "
                               "addresses and the overlay mesh.",
                .stage = 0,
        },
        [ZL_DAEMON_PROXYD] = {
                .name = "zl-proxyd",
                .short_name = "proxy",
                .bus_name = "org.zlayer.Proxy1",
                .object_path = "/org/zlayer/Proxy1",
                .description = "ZLayer proxy daemon: public and internal listeners, TLS and load "
                               "balancing over healthy replicas.",
                .stage = 1,
        },
        [ZL_DAEMON_SCHEDD] = {
                .name = "zl-schedd",
                .short_name = "scheduler",
                .bus_name = "org.zlayer.Scheduler1",
                .object_path = "/org/zlayer/Scheduler1",
                .description = "ZLayer scheduler daemon: cluster state, deployments, placement, "
                               "scaling and jobs.",
                .stage = 1,
        },
        [ZL_DAEMON_BUILDD] = {
                .name = "zl-buildd",
                .short_name = "builder",
                .bus_name = "org.zlayer.Builder1",
                .object_path = "/org/zlayer/Builder1",
                .description = "ZLayer builder daemon: image builds from Dockerfiles through "
                               "buildah.",
                .stage = 1,
        },
        [ZL_DAEMON_APID] = {
                .name = "zl-apid",
                .short_name = "api",
                .bus_name = "org.zlayer.Api1",
                .object_path = "/org/zlayer/Api1",
                .description = "ZLayer api daemon: the REST API and the cluster join handshake.",
                .stage = 1,
        },
        [ZL_DAEMON_OBSD] = {
                .name = "zl-obsd",
                .short_name = "observability",
                .bus_name = "org.zlayer.Observability1",
                .object_path = "/org/zlayer/Observability1",
                .description = "ZLayer observability daemon: metrics for Prometheus, trace export "
                               "and daemon statistics.",
                .stage = 1,
        },
};

const ZlDaemonInfo *zl_daemon_info_find(const char *name) {
        if (!name)
                return NULL;
        for (size_t i = 0; i < ZL_N_DAEMONS; i++)
                if (strcmp(zl_daemon_list[i].name, name) == 0)
                        return &zl_daemon_list[i];
        return NULL;
}
