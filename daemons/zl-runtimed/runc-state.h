/* SPDX-License-Identifier: Apache-2.0 */
/* runc-state.h: zl-runc's per-container state directory, <root>/<id>/state.json, and status. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "macro.h"

#define RUNC_ROOT_DEFAULT "/run/zl-runc"
#define RUNC_STATE_FILE "state.json"
#define RUNC_EXEC_FIFO "exec.fifo"
/* The runtime-spec version we implement, reported by `state`, `--version` and `features`. */
#define RUNC_OCI_VERSION "1.1.0"

typedef enum RuncStatus {
        RUNC_STATUS_CREATED,
        RUNC_STATUS_RUNNING,
        RUNC_STATUS_PAUSED,
        RUNC_STATUS_STOPPED,
        _RUNC_STATUS_MAX,
        _RUNC_STATUS_INVALID = -EINVAL,
} RuncStatus;

const char *runc_status_to_string(RuncStatus s) _const_;

typedef struct RuncState {
        char *id;
        pid_t pid; /* the init, in zl-runc's PID namespace */
        /* Field 22 of /proc/<pid>/stat when the init was created: a pid whose start time
         * differs is another process that reused the number. */
        uint64_t start_time;
        char *bundle; /* absolute */
        char *rootfs; /* absolute */
        uint64_t created_nsec; /* CLOCK_REALTIME */
        char *cgroup_path; /* relative to the cgroup root; NULL when the init has none */
        bool paused;
        json_t *annotations; /* an object we hold a reference to, or NULL */
} RuncState;

RuncState *runc_state_free(RuncState *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(RuncState *, runc_state_free);

/* As runc: 1..1024 characters of [A-Za-z0-9_+.-], not "." or "..". */
bool runc_id_is_valid(const char *id) _pure_;

/* <root>/<id>, NULL on OOM. */
char *runc_state_dir(const char *root, const char *id);

/* The persistent form (every field) and back; -EINVAL for a document that is not one. */
int runc_state_to_json(const RuncState *s, json_t **ret);
int runc_state_from_json(const json_t *j, RuncState **ret);
/* dir/state.json, replaced atomically. */
int runc_state_save(const char *dir, const RuncState *s);
/* -ENOENT when dir or its state.json is missing. */
int runc_state_load(const char *dir, RuncState **ret);

/* Parses the text of /proc/<pid>/stat (the command may contain spaces and parentheses):
 * *ret_state (may be NULL) gets field 3, *ret_start_time (may be NULL) field 22. */
int proc_stat_parse(const char *text, char *ret_state, uint64_t *ret_start_time);
/* The same for a live pid: -ESRCH when there is no such process. */
int proc_pid_stat(pid_t pid, char *ret_state, uint64_t *ret_start_time);
/* 1 when pid is a live (not zombie) process started at start_time, else 0. */
int proc_pid_is_alive(pid_t pid, uint64_t start_time);

/* The status of the container whose state directory is dir: stopped when the init is gone (or
 * a zombie, or the pid was reused), created while dir/exec.fifo exists, else paused or
 * running. */
RuncStatus runc_state_status(const RuncState *s, const char *dir);

/* The runtime-spec state object `zl-runc state` prints: ociVersion, id, status, pid (0 when
 * stopped), bundle, rootfs, created (RFC 3339 with nanoseconds), owner, annotations. */
int runc_state_to_oci_json(const RuncState *s, RuncStatus status, json_t **ret);

/* "2026-11-29T14:12:00.123456789Z" as Go's RFC3339Nano writes it (trailing zeros of the fraction
 * dropped, no fraction when it is 0). buf holds at least RUNC_TIMESTAMP_MAX bytes. */
#define RUNC_TIMESTAMP_MAX sizeof("YYYY-MM-DDTHH:MM:SS.123456789Z")
char *runc_format_timestamp(uint64_t nsec, char *buf, size_t len);

/* The ids of the state directories under root, sorted; an empty list when root is missing. */
int runc_state_list(const char *root, char ***ret);
