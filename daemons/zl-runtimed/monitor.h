/* SPDX-License-Identifier: Apache-2.0 */
/* monitor.h: the per-container monitor: its directory's files, status and socket protocol. */
#pragma once

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "macro.h"
#include "time-util.h"

/* The container directory zl-runtimed prepares ... */
#define MONITOR_CONFIG_FILE "config.json"
#define MONITOR_SPEC_FILE "monitor.json"
/* ... and what the monitor writes into it. */
#define MONITOR_SOCKET_FILE "monitor.sock"
#define MONITOR_PID_FILE "monitor.pid"
#define MONITOR_STATUS_FILE "status.json"
#define MONITOR_LOG_DIR "logs"

/* One JSON object per SOCK_SEQPACKET packet, in both directions. */
#define MONITOR_PACKET_MAX ((size_t) 65536)
/* The ready fd receives this on success, else "<errno> <message>\n". */
#define MONITOR_READY_OK "ok\n"
#define MONITOR_STOP_TIMEOUT_DEFAULT_USEC (10 * USEC_PER_SEC)

typedef enum MonitorState {
        MONITOR_STATE_CREATED,
        MONITOR_STATE_RUNNING,
        MONITOR_STATE_PAUSED,
        MONITOR_STATE_EXITED,
        _MONITOR_STATE_MAX,
        _MONITOR_STATE_INVALID = -EINVAL,
} MonitorState;

const char *monitor_state_to_string(MonitorState s) _const_;
MonitorState monitor_state_from_string(const char *s) _pure_;

typedef struct MonitorStatus {
        MonitorState state;
        pid_t pid;
        usec_t started_at, finished_at; /* CLOCK_REALTIME; 0 until then */
        int exit_code; /* -1 until exited; 128+N for signal N */
        int signal; /* the signal that ended the init, else 0 */
        bool oom_killed;
        char *error; /* why the container could not start, or NULL */
} MonitorStatus;

#define MONITOR_STATUS_INIT ((MonitorStatus){ .state = MONITOR_STATE_CREATED, .exit_code = -1 })

void monitor_status_done(MonitorStatus *s);
/* Sets the status fields in obj (a status.json, a reply or an event). */
int monitor_status_to_json(const MonitorStatus *s, json_t *obj);
/* Reads them back: -EBADMSG when a field is missing or of the wrong type. */
int monitor_status_from_json(const json_t *obj, MonitorStatus *ret);

/* monitor.json: what zl-runtimed tells the monitor besides the OCI config. */
typedef struct MonitorSpec {
        char *id;
        char *name;
        char *cgroup; /* relative cgroup path, "zlayer/<id>" */
        /* An overlay root when lowers is not NULL (root.path is its mount point). */
        char **lowers;
        char *upper, *work;
        bool default_seccomp;
        char *seccomp_cache; /* compiled seccomp programs are cached here; NULL: no cache */
        uint64_t log_max_size; /* 0: the default */
        unsigned log_max_files; /* 0: the default */
        bool log_journal;
        int stop_signal;
} MonitorSpec;

void monitor_spec_done(MonitorSpec *s);
/* -EINVAL with *ret_error (may be NULL) naming the bad field. Missing optional fields get their
 * defaults (no overlay, no default seccomp, default log sizes, SIGTERM). */
int monitor_spec_from_json(const json_t *obj, MonitorSpec *ret, char **ret_error);
int monitor_spec_to_json(const MonitorSpec *s, json_t **ret);
int monitor_spec_load(const char *path, MonitorSpec *ret, char **ret_error);

/* The monitor itself (zl-monitor). It must be a child subreaper (prctl) before monitor_new(). */
typedef struct Monitor Monitor;

/* Loads dir's config.json and monitor.json, creates the cgroup, spawns the init stopped before
 * execve, writes status.json ("created") and monitor.pid and listens on monitor.sock. On failure
 * everything made is removed again and *ret_error (may be NULL) says why. */
int monitor_new(const char *dir, Monitor **ret, char **ret_error);
/* Serves clients and supervises the init until it has exited and everything is cleaned up. */
int monitor_run(Monitor *m);
Monitor *monitor_free(Monitor *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Monitor *, monitor_free);
