/* SPDX-License-Identifier: Apache-2.0 */
/* daemon.h: the one main of every ZLayer daemon and the org.zlayer.Daemon1 interface. */
#pragma once

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "bus-object.h"
#include "daemon-list.h"
#include "macro.h"

#define ZL_DAEMON_INTERFACE "org.zlayer.Daemon1"
/* Where state and runtime files live when neither options, ZLAYER_* nor systemd's
 * $STATE_DIRECTORY/$RUNTIME_DIRECTORY say otherwise. */
#define ZL_DAEMON_STATE_DIR_DEFAULT "/var/lib/zlayer"
#define ZL_DAEMON_RUNTIME_DIR_DEFAULT "/run/zlayer"

typedef enum ZlDaemonState {
        ZL_DAEMON_STARTING,
        ZL_DAEMON_RUNNING,
        ZL_DAEMON_STOPPING,
        ZL_DAEMON_DEGRADED,
        _ZL_DAEMON_STATE_MAX,
        _ZL_DAEMON_STATE_INVALID = -EINVAL,
} ZlDaemonState;

const char *zl_daemon_state_to_string(ZlDaemonState s) _const_;
ZlDaemonState zl_daemon_state_from_string(const char *s) _pure_;

typedef struct ZlDaemon ZlDaemon;

/* Named counters, as GetCounters() returns them. Names are [a-z0-9_]+ (they become Prometheus
 * metric names in zl-obsd). */
typedef struct ZlCounterSet ZlCounterSet;
ZlCounterSet *zl_counter_set_new(void);
ZlCounterSet *zl_counter_set_free(ZlCounterSet *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(ZlCounterSet *, zl_counter_set_free);
/* Sets a counter, adding it if new. -EINVAL for a bad name, -ENOMEM. */
int zl_counter_set_put(ZlCounterSet *s, const char *name, double value);
/* Adds delta to a counter, starting from 0 if new. */
int zl_counter_set_add(ZlCounterSet *s, const char *name, double delta);
/* The value in *ret, or -ENOENT. */
int zl_counter_set_get(const ZlCounterSet *s, const char *name, double *ret);
size_t zl_counter_set_size(const ZlCounterSet *s) _pure_;
/* The i-th counter in insertion order; i < size. */
const char *zl_counter_set_name(const ZlCounterSet *s, size_t i) _pure_;
double zl_counter_set_value(const ZlCounterSet *s, size_t i) _pure_;

/* What makes one daemon: its names and the hooks into the common main. Hooks run on the event
 * loop and must not block it. */
typedef struct ZlDaemonDescriptor {
        /* Names, bus name, object path and description: an entry of zl_daemon_list for the
         * seven daemons (tests bring their own). */
        const ZlDaemonInfo *info;
        /* The daemon's own interfaces, NULL-terminated (NULL: none). Their handlers get the
         * userdata init returned. */
        const ZlBusObject *const *objects;

        /* Loads state, once the bus name is ours (so a second instance never touches it), and
         * returns the daemon's own object. Failing (after freeing what it made) makes the
         * daemon exit 1. May be NULL. */
        int (*init)(ZlDaemon *d, void **ret_userdata);
        /* SIGHUP and Reload(): re-read configuration. Failing leaves the daemon degraded. */
        int (*reload)(ZlDaemon *d, void *userdata);
        /* On exit after a successful init: persist what is not yet on disk, free userdata. */
        void (*done)(ZlDaemon *d, void *userdata);
        /* Adds the daemon's own counters for GetCounters(). */
        int (*counters)(ZlDaemon *d, void *userdata, ZlCounterSet *set);
} ZlDaemonDescriptor;

/* The whole life of a daemon: logging, options (--help, --version, --bus-introspect=IFACE,
 * --state-dir=, --runtime-dir=, --log-level=), directories, event loop with SIGTERM/SIGINT/SIGHUP,
 * watchdog, bus connection (ZLAYER_BUS_ADDRESS or the system bus), objects, the bus name
 * (requested last), init, READY=1, the loop, STOPPING=1, done, and freeing everything. Returns
 * the exit status for main(): 0 after SIGTERM/SIGINT, --help, --version; 1 on failure. */
int zl_daemon_main(const ZlDaemonDescriptor *desc, int argc, char *argv[]);

sd_event *zl_daemon_get_event(ZlDaemon *d) _pure_;
sd_bus *zl_daemon_get_bus(ZlDaemon *d) _pure_;
/* <state dir>/<short name> and <runtime dir>/<short name>, created with mode 0700. */
const char *zl_daemon_get_state_dir(ZlDaemon *d) _pure_;
const char *zl_daemon_get_runtime_dir(ZlDaemon *d) _pure_;
const ZlDaemonDescriptor *zl_daemon_get_descriptor(ZlDaemon *d) _pure_;
/* The userdata init returned (NULL before init). */
void *zl_daemon_get_userdata(ZlDaemon *d) _pure_;
ZlDaemonState zl_daemon_get_state(ZlDaemon *d) _pure_;
/* Changes State, emitting PropertiesChanged and a STATUS= line. Daemons use it for DEGRADED and
 * back to RUNNING; the framework sets STARTING, RUNNING and STOPPING. */
int zl_daemon_set_state(ZlDaemon *d, ZlDaemonState state);

/* The daemon's persistent counters, reported by GetCounters() next to uptime_seconds,
 * bus_calls_total and rss_bytes. */
int zl_daemon_counter_add(ZlDaemon *d, const char *name, double delta);
int zl_daemon_counter_set(ZlDaemon *d, const char *name, double value);

/* org.zlayer.Daemon1 (see dbus/org.zlayer.Daemon1.xml); handlers take a ZlDaemon. */
extern const sd_bus_vtable zl_daemon_vtable[];
