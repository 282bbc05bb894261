/* SPDX-License-Identifier: Apache-2.0 */
/* launcher.h: the local-node supervisor: a private dbus-daemon and the seven daemons. */
#pragma once

#include "daemon-list.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "macro.h"
#include "time-util.h"

/* A node started by `zlctl local start` lives in one directory, DIR:
 *   launcher.pid   the supervisor's PID; the supervisor holds an exclusive flock on it
 *   launcher.json  the supervisor's view of its processes, replaced atomically on every change
 *   launcher.log   the supervisor's own output
 *   bus.conf       the generated dbus-daemon configuration
 *   bus.sock       the private bus; bus-address holds its D-Bus address
 *   notify.sock    the datagram socket the daemons send READY=1 and friends to
 *   log/NAME.log   each process's stdout and stderr
 *   state/, run/   ZLAYER_STATE_DIR and ZLAYER_RUNTIME_DIR of the daemons */

/* The daemons, their names and start stages: zl_daemon_list (daemon-list.h), in start order;
 * stopped in the reverse order. */

typedef enum ChildState {
        CHILD_WAITING, /* not started yet: waiting for the bus or for its dependencies */
        CHILD_STARTING, /* running, READY=1 not received yet */
        CHILD_READY,
        CHILD_STOPPING, /* SIGTERM sent */
        CHILD_RESTARTING, /* died, restart timer armed */
        CHILD_FAILED, /* died too often (5 starts within 10 s), no more restarts */
        CHILD_DEAD, /* exited cleanly, or stopped */
        _CHILD_STATE_MAX,
        _CHILD_STATE_INVALID = -EINVAL,
} ChildState;

const char *child_state_to_string(ChildState s) _const_;
ChildState child_state_from_string(const char *s) _pure_;

/* Restart backoff: 100 ms after the first failure, doubling up to 5 s; a process that ran for
 * 30 s or more starts again from 100 ms. `previous` is the last delay (0 if none). */
#define LAUNCHER_RESTART_DELAY_MIN (100 * USEC_PER_MSEC)
#define LAUNCHER_RESTART_DELAY_MAX (5 * USEC_PER_SEC)
#define LAUNCHER_RESTART_RESET_AFTER (30 * USEC_PER_SEC)
usec_t launcher_restart_delay(usec_t previous, usec_t uptime) _const_;

/* Start limit as systemd's defaults: the 6th start within 10 s is refused. */
#define LAUNCHER_START_LIMIT_BURST 5
#define LAUNCHER_START_LIMIT_INTERVAL (10 * USEC_PER_SEC)

/* The fields of one sd_notify datagram that the supervisor acts on. */
typedef struct NotifyMessage {
        bool ready;
        bool stopping;
        bool reloading;
        bool watchdog;
        char *status; /* STATUS=, or NULL */
} NotifyMessage;
void notify_message_done(NotifyMessage *m);
/* Parses newline-separated VAR=VALUE assignments; unknown variables are ignored, as systemd
 * does. -EINVAL for a datagram containing NUL bytes, -ENOMEM. */
int notify_message_parse(const char *buf, size_t size, NotifyMessage *ret);

/* D-Bus address value escaping: bytes outside [-0-9A-Za-z_/.\*] become %XX. NULL on OOM. */
char *bus_address_escape(const char *s);
/* "unix:path=ESCAPED". NULL on OOM. */
char *launcher_bus_address(const char *socket_path);

/* The <policy> elements of a dbus-daemon configuration file, concatenated, comments dropped.
 * -EBADMSG when a <policy> is not closed or there is none. */
int launcher_policy_extract(const char *xml, char **ret);
/* The private bus configuration: a custom bus listening on socket_path with EXTERNAL auth, the
 * system bus's default policy, then `policies` (from launcher_policy_extract). When `user` is
 * not NULL (the supervisor does not run as root), that user may own org.zlayer.* names and call
 * everything too, standing in for root on its own node. */
int launcher_bus_config(const char *socket_path, const char *policies, const char *user,
                        char **ret);

/* The environment of a daemon: `base` without the variables the supervisor owns (NOTIFY_SOCKET,
 * WATCHDOG_*, LISTEN_*, ZLAYER_BUS_ADDRESS, ZLAYER_STATE_DIR, ZLAYER_RUNTIME_DIR, systemd's
 * STATE_DIRECTORY/RUNTIME_DIRECTORY), plus those set to the given values. watchdog_usec 0
 * sets no WATCHDOG_USEC. */
int launcher_child_env(char *const *base, const char *bus_address, const char *state_dir,
                       const char *runtime_dir, const char *notify_socket, usec_t watchdog_usec,
                       char ***ret);

/* The default DIR: /var/lib/zlayer/local for root, else $XDG_STATE_HOME/zlayer/local
 * (~/.local/state/zlayer/local). */
int launcher_default_state_dir(char **ret);
/* Where the daemon binaries are: $ZLAYER_DAEMON_DIR; else, when zlctl runs from a build tree,
 * BUILDDIR/daemons (each binary at daemons/zl-X/zl-X); else LIBEXECDIR/zlayer. *ret_in_tree
 * tells the layout (may be NULL). -ENOENT when none of them has zl-runtimed. */
int launcher_find_daemon_dir(char **ret, bool *ret_in_tree);
/* Whether dir holds the daemons, installed style (dir/zl-X) or build-tree style
 * (dir/zl-X/zl-X); -ENOENT when it holds neither. */
int launcher_daemon_dir_layout(const char *dir, bool *ret_in_tree);
/* The path of one daemon binary in a directory found above. */
char *launcher_daemon_path(const char *daemon_dir, bool in_tree, const char *name);
/* Whether this zlctl runs from a meson build directory (BUILDDIR/cli/zlctl). */
bool launcher_in_build_tree(void);
/* The bus policy file: $ZLAYER_BUS_POLICY; else, from a build tree, the source tree's
 * dbus/org.zlayer.conf; else the installed one (dbus's DATADIR/dbus-1/system.d). */
int launcher_find_policy(char **ret);

typedef struct LauncherOptions {
        const char *state_dir; /* absolute */
        const char *daemon_dir;
        bool daemon_dir_in_tree;
        const char *policy_path;
        const char *dbus_daemon; /* NULL: "dbus-daemon" from $PATH */
        int ready_fd; /* receives "READY\n" or "FAILED NAME\n" once, then is closed; -1: none */
        usec_t watchdog_usec; /* WATCHDOG_USEC given to the daemons; 0: no watchdog */
        usec_t start_timeout_usec; /* a daemon not ready by then is killed and restarted */
} LauncherOptions;

/* Runs the supervisor until SIGTERM or SIGINT, then stops everything in reverse order. Returns
 * 0 after a clean stop, -EBUSY when another supervisor holds DIR, another -errno when setting
 * up failed, -ENOTCONN when the bus could not be kept up. Logs what it does. */
int launcher_run(const LauncherOptions *opts);

/* What launcher.json says about one process. */
typedef struct LauncherProcess {
        char *name;
        pid_t pid; /* 0 when not running */
        ChildState state;
        usec_t started_at; /* CLOCK_REALTIME; 0 when not running */
        unsigned restarts;
        char *last_exit; /* "status=1", "signal=SIGKILL", or NULL */
        char *status; /* the last STATUS= text, or NULL */
} LauncherProcess;

typedef struct LauncherStatus {
        pid_t supervisor_pid;
        char *bus_address;
        bool stopping;
        LauncherProcess *processes; /* dbus-daemon first, then the daemons in start order */
        size_t n_processes;
} LauncherStatus;
void launcher_status_done(LauncherStatus *s);
/* -ENOENT when there is no launcher.json, -EBADMSG when it cannot be understood. */
int launcher_status_read(const char *state_dir, LauncherStatus *ret);

/* Whether a supervisor holds DIR (by its lock, so a stale PID file does not count); its PID in
 * *ret_pid when it does (may be NULL). Returns > 0 running, 0 not running, -errno. */
int launcher_is_running(const char *state_dir, pid_t *ret_pid);

/* Processes whose environment or command line refers to DIR (the daemons carry
 * ZLAYER_STATE_DIR=DIR/state, the supervisor and dbus-daemon name DIR on their command line),
 * except the caller. Zombies are not counted: they hold nothing. */
int launcher_find_leftovers(const char *state_dir, pid_t **ret, size_t *ret_n);

/* Whether pid is gone or a zombie (which holds nothing but its PID). */
bool launcher_pid_gone(pid_t pid);

/* The last `n` lines of a file, for error messages. */
int read_tail(const char *path, unsigned n, char **ret);
