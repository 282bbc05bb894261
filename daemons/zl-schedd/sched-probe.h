/* SPDX-License-Identifier: Apache-2.0 */
/* sched-probe.h: health probes of one replica (tcp, http, command) on an sd-event loop. */
#pragma once

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <systemd/sd-event.h>

#include "macro.h"

/* ---- running a command in a replica's container ------------------------------------------ */

/* How a command ended. r < 0: it could not be run or was cut short (-ETIMEDOUT when it ran past
 * its timeout and was killed); r >= 0: it ran and exited with exit_status (0..255; a signal
 * death is reported as 128 + signal number, like a shell). */
typedef void (*SchedExecDoneFn)(int r, int exit_status, void *done_userdata);

/* Supplied by the caller: the reconciler backs it with Runtime1.Exec in the replica's container,
 * tests with a fork/exec on the host. exec() starts argv (argv[0] is looked up in PATH) and
 * returns >= 0 when it will call done exactly once later, on the same loop (it may also call it
 * before returning); < 0 when it could not start it (done is then never called).
 * cancel() (optional) forgets a pending call: done must not be called for it afterwards. Without
 * cancel, a probe freed while its command runs leaves a small token that the later done call
 * frees, so exec implementations without cancel must always call done eventually. */
typedef struct SchedExec {
        int (*exec)(void *userdata, const char *const *argv, uint64_t timeout_usec,
                    SchedExecDoneFn done, void *done_userdata);
        void (*cancel)(void *userdata, void *done_userdata);
        void *userdata;
} SchedExec;

/* ---- one check (shared by probes and init actions) ----------------------------------------- */

typedef enum SchedCheckType {
        SCHED_CHECK_NONE, /* nothing to check: always succeeds */
        SCHED_CHECK_TCP,
        SCHED_CHECK_HTTP,
        SCHED_CHECK_COMMAND,
        _SCHED_CHECK_TYPE_MAX,
        _SCHED_CHECK_TYPE_INVALID = -EINVAL,
} SchedCheckType;

const char *sched_check_type_to_string(SchedCheckType t) _const_;

/* Host names to addresses, supplied by the caller: the scheduler answers from its own state
 * (service names to replica or service addresses), at once, so that nothing blocks the loop on
 * DNS. Returns 0 and a new numeric IPv4/IPv6 string in *ret_ip, or a negative errno (-ENOENT,
 * -EHOSTUNREACH) when the name has no address now. */
typedef struct SchedResolver {
        int (*resolve)(void *userdata, const char *host, char **ret_ip);
        void *userdata;
} SchedResolver;

/* What one check talks to. Addresses are numeric (IPv4 or IPv6); a host name is passed to the
 * resolver, and refused with -EINVAL when there is none. */
typedef struct SchedCheckTarget {
        SchedCheckType type;
        struct sockaddr_storage addr; /* TCP, HTTP */
        socklen_t addr_len;
        char *address; /* "10.0.0.5:8080", "[fd00::5]:80": for messages */
        char *host; /* HTTP: the Host header */
        char *path; /* HTTP: path and query, starts with '/' */
        int expect_status; /* HTTP: that exact status, or 0 for any 2xx */
        char *command; /* COMMAND: a shell string, run as sh -c */
} SchedCheckTarget;

void sched_check_target_done(SchedCheckTarget *t);

/* host and port into a TCP target. -EINVAL (with *ret_error set when not NULL) for a malformed
 * address or a name without resolver; the resolver's error (and a message) when it has no address
 * for the name. resolver may be NULL. */
int sched_check_target_tcp(SchedCheckTarget *t, const char *host, unsigned port,
                           const SchedResolver *resolver, char **ret_error);
/* An http:// URL into an HTTP target (the Host header keeps the name as written). https, userinfo
 * and bad ports are refused with -EINVAL and a message; names as for sched_check_target_tcp(). */
int sched_check_target_http_url(SchedCheckTarget *t, const char *url, int expect_status,
                                const SchedResolver *resolver, char **ret_error);

typedef struct SchedCheck SchedCheck;

/* ok, or a reason: "connect to 10.0.0.5:8080: Connection refused", "HTTP 503 from /health",
 * "timed out after 5s", "command exited with status 1". Always called from the loop, never from
 * inside sched_check_start(); the check may be freed from within the callback. */
typedef void (*SchedCheckDoneFn)(SchedCheck *c, bool ok, const char *reason, void *userdata);

/* Runs one check against t (which is only read during the call) within timeout_usec. exec is
 * needed for COMMAND checks only. */
int sched_check_start(sd_event *event, const SchedCheckTarget *t, uint64_t timeout_usec,
                      const SchedExec *exec, SchedCheckDoneFn cb, void *userdata, SchedCheck **ret);
/* Cancels a running check: its socket is closed, its timers dropped, its command cancelled; the
 * callback is not called. */
SchedCheck *sched_check_free(SchedCheck *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(SchedCheck *, sched_check_free);

/* ---- the probe of one replica -------------------------------------------------------------- */

typedef enum SchedProbeHealth {
        SCHED_PROBE_HEALTH_UNKNOWN,
        SCHED_PROBE_HEALTH_HEALTHY,
        SCHED_PROBE_HEALTH_UNHEALTHY,
        _SCHED_PROBE_HEALTH_MAX,
        _SCHED_PROBE_HEALTH_INVALID = -EINVAL,
} SchedProbeHealth;

const char *sched_probe_health_to_string(SchedProbeHealth h) _const_;

typedef struct SchedProbe SchedProbe;

/* Called on every change of health, with the check result that caused it. The probe may be
 * freed from within the callback. */
typedef void (*SchedProbeChangedFn)(SchedProbe *p, SchedProbeHealth old_health,
                                    SchedProbeHealth new_health, const char *reason,
                                    void *userdata);

/* A probe for one replica from its service's canonical "health" object and "endpoints" array
 * (both borrowed, either may be NULL), for the replica at ip:
 *   check tcp {port}              connect to ip:port (port defaults to the first endpoint's
 *                                 target_port)
 *   check http {url, expect_status}
 *                                 GET url; a path goes to ip at the target_port of the first
 *                                 http or websocket endpoint; expect_status 0 or absent: any 2xx
 *   check command {command}       sh -c command through exec
 *   no check, endpoints           tcp on the first endpoint's target_port
 *   no check, no endpoints        nothing to check: healthy as soon as started
 * start_grace, interval, timeout are milliseconds (defaults 0, 10000, 5000), retries defaults to 3.
 * -EINVAL with a message in *ret_error (when not NULL) for anything that cannot be probed
 * (wrong types, https, host names, a path with no http endpoint, a command check without exec).
 * The probe is created stopped. */
int sched_probe_new(sd_event *event, const json_t *health, const json_t *endpoints, const char *ip,
                    const SchedExec *exec, SchedProbeChangedFn cb, void *userdata, SchedProbe **ret,
                    char **ret_error);
/* Stops the probe (sched_probe_stop) and frees it. */
SchedProbe *sched_probe_free(SchedProbe *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(SchedProbe *, sched_probe_free);

/* Starts probing: the first check after start_grace, then one every interval (measured from the
 * start of the previous check; a check that outlasts the interval is followed by the next at once).
 * Health starts UNKNOWN. State machine (threshold = retries, at least 1):
 *   UNKNOWN   -> HEALTHY    on the first success
 *   UNKNOWN   -> UNHEALTHY  after threshold consecutive failures (a replica that never passes)
 *   HEALTHY   -> UNHEALTHY  after threshold consecutive failures
 *   UNHEALTHY -> HEALTHY    on one success
 * -EALREADY when running. */
int sched_probe_start(SchedProbe *p);
/* Cancels the pending timer and any check in flight (socket closed, command cancelled). Health
 * and counters keep their values; a later start begins again from UNKNOWN. */
void sched_probe_stop(SchedProbe *p);

SchedProbeHealth sched_probe_get_health(const SchedProbe *p) _pure_;
SchedCheckType sched_probe_get_type(const SchedProbe *p) _pure_;
/* The target as text ("10.0.0.5:8080", "http://10.0.0.5:8080/health", the command), borrowed. */
const char *sched_probe_get_target(const SchedProbe *p) _pure_;
/* The last completed check: false when it failed or none completed yet; reason is "ok", the
 * failure, or NULL before the first check (borrowed, valid until the next check completes). */
bool sched_probe_get_last_result(const SchedProbe *p, const char **ret_reason);
unsigned sched_probe_get_consecutive_failures(const SchedProbe *p) _pure_;
uint64_t sched_probe_get_n_checks(const SchedProbe *p) _pure_;
