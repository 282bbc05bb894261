/* SPDX-License-Identifier: Apache-2.0 */
/* daemon-list.c: the table of the seven daemons. */
#include <string.h>

#include "daemon-list.h"

const ZlDaemonInfo zl_daemon_list[_ZL_DAEMON_MAX] = {
        [ZL_DAEMON_RUNTIMED] = { "zl-runtimed", "runtime", "org.zlayer.Runtime1",
                                 "/org/zlayer/Runtime1",
                                 "ZLayer runtime daemon: containers, images, volumes and their "
                                 "health.",
                                 0 },
        [ZL_DAEMON_NETD] = { "zl-netd", "network", "org.zlayer.Network1", "/org/zlayer/Network1",
                             "ZLayer network daemon: the node bridge, container links, IP "
                             "addresses and the "
                             "overlay mesh.",
                             0 },
        [ZL_DAEMON_PROXYD] = { "zl-proxyd", "proxy", "org.zlayer.Proxy1", "/org/zlayer/Proxy1",
                               "ZLayer proxy daemon: public and internal listeners, TLS and load "
                               "balancing over "
                               "healthy replicas.",
                               1 },
        [ZL_DAEMON_SCHEDD] = { "zl-schedd", "scheduler", "org.zlayer.Scheduler1",
                               "/org/zlayer/Scheduler1",
                               "ZLayer scheduler daemon: cluster state, deployments, placement, "
                               "scaling and jobs.",
                               1 },
        [ZL_DAEMON_BUILDD] = { "zl-buildd", "builder", "org.zlayer.Builder1",
                               "/org/zlayer/Builder1",
                               "ZLayer builder daemon: image builds from Dockerfiles through "
                               "buildah.",
                               1 },
        [ZL_DAEMON_APID] = { "zl-apid", "api", "org.zlayer.Api1", "/org/zlayer/Api1",
                             "ZLayer api daemon: the REST API and the cluster join handshake.", 1 },
        [ZL_DAEMON_OBSD] = { "zl-obsd", "observability", "org.zlayer.Observability1",
                             "/org/zlayer/Observability1",
                             "ZLayer observability daemon: metrics for Prometheus, trace export "
                             "and daemon "
                             "statistics.",
                             1 },
};

const ZlDaemonInfo *zl_daemon_info_find(const char *name) {
        if (!name)
                return NULL;
        for (size_t i = 0; i < ZL_N_DAEMONS; i++)
                if (strcmp(zl_daemon_list[i].name, name) == 0)
                        return &zl_daemon_list[i];
        return NULL;
}
