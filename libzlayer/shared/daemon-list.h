/* SPDX-License-Identifier: Apache-2.0 */
/* daemon-list.h: the seven daemons of a node: names, bus names, paths, start order. */
#pragma once

#include <stddef.h>

/* One entry per daemon, shared by the daemons' mains, the local-node launcher and zlctl. */
typedef struct ZlDaemonInfo {
        const char *name; /* the binary and log identifier: "zl-runtimed" */
        const char *short_name; /* "runtime": its subdirectory of the state and runtime dirs */
        const char *bus_name; /* "org.zlayer.Runtime1" */
        const char *object_path; /* "/org/zlayer/Runtime1": where org.zlayer.Daemon1 lives */
        const char *description; /* one line for --help */
        /* 0: started as soon as the bus is up; 1: after every stage-0 daemon is ready (the
         * order the units give with Before=/After=). */
        unsigned stage;
} ZlDaemonInfo;

typedef enum ZlDaemonId {
        ZL_DAEMON_RUNTIMED,
        ZL_DAEMON_NETD,
        ZL_DAEMON_PROXYD,
        ZL_DAEMON_SCHEDD,
        ZL_DAEMON_BUILDD,
        ZL_DAEMON_APID,
        ZL_DAEMON_OBSD,
        _ZL_DAEMON_MAX,
} ZlDaemonId;

#define ZL_N_DAEMONS ((size_t) _ZL_DAEMON_MAX)

/* In start order; stopped in the reverse order. */
extern const ZlDaemonInfo zl_daemon_list[_ZL_DAEMON_MAX];

/* By binary name ("zl-netd"); NULL if unknown. */
const ZlDaemonInfo *zl_daemon_info_find(const char *name);
