/* SPDX-License-Identifier: Apache-2.0 */
/* monitor-client.h: launching a container's monitor and talking to it over its socket. */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "macro.h"
#include "monitor.h"
#include "time-util.h"

/* Starts monitor_path (zl-monitor) on dir in a new session, detached from us (double fork), and
 * waits until it has created the container (state "created") or failed: then -errno and
 * *ret_error (may be NULL) its message, and the monitor has removed what it made. */
int monitor_launch(const char *monitor_path, const char *dir, char **ret_error);

typedef struct MonitorClient MonitorClient;

/* -ENOENT or -ECONNREFUSED: no monitor runs on dir. */
int monitor_client_connect(const char *dir, MonitorClient **ret);
/* For an event loop: readable when a message may be waiting (also see receive's queue). */
int monitor_client_get_fd(MonitorClient *c);
/* Sends {"id": <new id>, "cmd": cmd, ...args}; args (may be NULL) is borrowed. */
int monitor_client_send(MonitorClient *c, const char *cmd, json_t *args, uint64_t *ret_id);
/* Non-blocking: 0 and nothing when no message waits, 1 and a reply or event (the caller owns
 * it). -ECONNRESET once the monitor is gone, -EBADMSG for a packet that is not a JSON object. */
int monitor_client_receive(MonitorClient *c, json_t **ret);
/* Sends and waits up to timeout (USEC_INFINITY: no limit) for the reply; events arriving
 * meanwhile are queued for monitor_client_receive(). An {"ok": false} reply is its -errno with
 * *ret_error (may be NULL) the message; ret_reply (may be NULL) receives an ok reply. */
int monitor_client_call(MonitorClient *c, const char *cmd, json_t *args, usec_t timeout,
                        json_t **ret_reply, char **ret_error);
MonitorClient *monitor_client_free(MonitorClient *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(MonitorClient *, monitor_client_free);

/* Reads dir/status.json (written atomically by the monitor): -ENOENT when there is none. */
int monitor_status_read(const char *dir, MonitorStatus *ret);
