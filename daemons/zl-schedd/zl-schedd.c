/* SPDX-License-Identifier: Apache-2.0 */
/* zl-schedd.c: main of the scheduler daemon, org.zlayer.Scheduler1: configuration, the Raft
 * state on the event loop, and the parts wired together. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf-parse.h"
#include "daemon.h"
#include "log.h"
#include "parse-util.h"
#include "path-util.h"
#include "sched-bus.h"
#include "string-util.h"
#include "time-util.h"

#define CONFIG_SIZE_MAX (64U * 1024U)
#define ROLE_POLL_USEC USEC_PER_SEC

/* ---- configuration ------------------------------------------------------------------------- */

static bool address_is_valid(const char *s) {
        unsigned char buf[16];

        return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* "IPv4:port", as SchedRaft listens and its peers dial. */
static bool raft_address_is_valid(const char *s) {
        _cleanup_free_ char *host = NULL;
        const char *colon = strrchr(s, ':');
        unsigned char buf[4];
        uint16_t port;

        if (!colon || colon == s)
                return false;
        host = strndup(s, colon - s);
        if (!host)
                return false;
        return inet_pton(AF_INET, host, buf) == 1 && parse_port(colon + 1, &port) >= 0 && port > 0;
}

static bool node_id_is_valid(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > SCHED_NAME_MAX)
                return false;
        return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-") == n;
}

int sched_config_init(SchedConfig *c) {
        char host[256] = {};

        *c = (SchedConfig){ .raft_id = 1,
                            .resync_usec = 10 * USEC_PER_SEC,
                            .health_deadline_usec = 300 * USEC_PER_SEC };
        if (gethostname(host, sizeof host - 1) < 0 || !node_id_is_valid(host))
                strcpy(host, "localhost");
        c->node_id = strdup(host);
        c->node_address = strdup("127.0.0.1");
        c->public_address = strdup("0.0.0.0");
        c->raft_address = strdup("127.0.0.1:7690");
        if (!c->node_id || !c->node_address || !c->public_address || !c->raft_address) {
                sched_config_done(c);
                return -ENOMEM;
        }
        return 0;
}

void sched_config_done(SchedConfig *c) {
        free(c->node_id);
        free(c->node_address);
        free(c->public_address);
        free(c->raft_address);
        *c = (SchedConfig){};
}

static int set_string(char **field, const char *value) {
        char *v = strdup(value);

        if (!v)
                return -ENOMEM;
        free(*field);
        *field = v;
        return 0;
}

int sched_config_set(SchedConfig *c, const char *key, const char *value, const char **ret_why) {
        if (streq(key, "node_id")) {
                if (!node_id_is_valid(value)) {
                        *ret_why = "expected 1 to 253 characters of A-Z a-z 0-9 . _ : -";
                        return -EINVAL;
                }
                return set_string(&c->node_id, value);
        }
        if (streq(key, "node_address") || streq(key, "public_address")) {
                if (!address_is_valid(value)) {
                        *ret_why = "expected an IPv4 or IPv6 address";
                        return -EINVAL;
                }
                return set_string(
                        streq(key, "node_address") ? &c->node_address : &c->public_address, value);
        }
        if (streq(key, "raft_address")) {
                if (!raft_address_is_valid(value)) {
                        *ret_why = "expected IPv4:PORT";
                        return -EINVAL;
                }
                return set_string(&c->raft_address, value);
        }
        if (streq(key, "raft_id")) {
                uint64_t id;

                if (safe_atou64(value, &id) < 0 || id == 0) {
                        *ret_why = "expected a positive integer";
                        return -EINVAL;
                }
                c->raft_id = id;
                return 0;
        }
        if (streq(key, "resync_interval") || streq(key, "health_deadline")) {
                uint64_t ms;

                if (parse_duration_ms(value, &ms) < 0 || ms == 0 ||
                    ms > UINT64_MAX / USEC_PER_MSEC) {
                        *ret_why = "expected a duration above 0 (\"10s\", \"500ms\")";
                        return -EINVAL;
                }
                if (streq(key, "resync_interval"))
                        c->resync_usec = ms * USEC_PER_MSEC;
                else
                        c->health_deadline_usec = ms * USEC_PER_MSEC;
                return 0;
        }
        *ret_why = "unknown key";
        return -EINVAL;
}

static int config_set_one(void *userdata, const char *key, const char *value,
                          const char **ret_why) {
        return sched_config_set(userdata, key, value, ret_why);
}

int sched_config_load(SchedConfig *c, const char *path, char **reterr_message) {
        return conf_parse_file(path, CONFIG_SIZE_MAX, config_set_one, c, reterr_message);
}

/* $ZLAYER_SCHEDD_CONFIG (which must exist), else /etc/zlayer/schedd.conf if it exists, else
 * the defaults. */
static int schedd_load_config(SchedConfig *c) {
        _cleanup_free_ char *why = NULL;
        const char *path = getenv(SCHEDD_CONFIG_ENV);
        bool explicit = !isempty(path);
        int r;

        r = sched_config_init(c);
        if (r < 0)
                return log_oom();
        if (!explicit)
                path = SCHEDD_CONFIG_PATH_DEFAULT;
        r = sched_config_load(c, path, &why);
        if (r == -ENOENT && !explicit) {
                log_debug("No '%s', using the defaults.", path);
                return 0;
        }
        if (r < 0) {
                sched_config_done(c);
                if (why)
                        return log_error_errno(r, "Invalid configuration: %s", why);
                return log_error_errno(r, "Failed to read the configuration '%s': %m", path);
        }
        log_debug("Read the configuration '%s'.", path);
        return 0;
}

/* ---- the store over SchedRaft -------------------------------------------------------------- */

/* One submit of the reconciler or the jobs. Detached ones (while stopping) complete silently:
 * their caller is gone by the time SchedRaft runs what it still owes. */
struct StoreCall {
        Scheduler *scheduler;
        SchedStoreDoneFn done;
        void *done_userdata;
        bool detached;
        StoreCall *prev, *next;
};

static void on_store_submitted(SchedRaft *raft, int error, const SchedApplyResult *result,
                               void *userdata) {
        StoreCall *c = userdata;
        Scheduler *s = c->scheduler;
        SchedApplyResult res;

        (void) raft;
        if (c->prev)
                c->prev->next = c->next;
        else if (s->store_calls == c)
                s->store_calls = c->next;
        if (c->next)
                c->next->prev = c->prev;
        if (!c->detached && c->done) {
                /* The core reads result->error: give it the errno also when raft failed. */
                if (!result) {
                        res = (SchedApplyResult){ .error = error };
                        result = &res;
                }
                c->done(error, result, c->done_userdata);
        }
        free(c);
}

static int store_submit(void *userdata, const char *cmd, SchedStoreDoneFn done,
                        void *done_userdata) {
        Scheduler *s = userdata;
        StoreCall *c;
        int r;

        if (s->stopping)
                return -ESHUTDOWN;
        c = calloc(1, sizeof(StoreCall));
        if (!c)
                return -ENOMEM;
        *c = (StoreCall){ .scheduler = s, .done = done, .done_userdata = done_userdata };
        r = sched_raft_submit(s->raft, cmd, on_store_submitted, c);
        if (r < 0) {
                free(c);
                return r;
        }
        c->next = s->store_calls;
        if (s->store_calls)
                s->store_calls->prev = c;
        s->store_calls = c;
        return 0;
}

static void store_read(void *userdata, SchedStoreReadFn fn, void *fn_userdata) {
        Scheduler *s = userdata;

        (void) sched_raft_read(s->raft, fn, fn_userdata);
}

static bool store_is_leader(void *userdata) {
        Scheduler *s = userdata;

        return sched_raft_get_role(s->raft) == SCHED_RAFT_LEADER;
}

/* ---- events -------------------------------------------------------------------------------- */

static void poll_role(Scheduler *s) {
        SchedRaftRole role = sched_raft_get_role(s->raft);
        bool was, is;

        if (role == s->role)
                return;
        was = s->role == SCHED_RAFT_LEADER;
        is = role == SCHED_RAFT_LEADER;
        log_info("Raft role: %s -> %s.", sched_raft_role_to_string(s->role),
                 sched_raft_role_to_string(role));
        s->role = role;
        if (was == is)
                return;
        if (s->reconciler)
                sched_reconciler_role_changed(s->reconciler, is);
        if (s->jobs)
                sched_jobs_role_changed(s->jobs, is);
}

static int on_raft_io(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        Scheduler *s = userdata;

        (void) source, (void) fd, (void) revents;
        (void) sched_raft_dispatch(s->raft);
        poll_role(s);
        return 0;
}

static int on_role_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        Scheduler *s = userdata;

        poll_role(s);
        (void) sd_event_source_set_time(source, usec + ROLE_POLL_USEC);
        return 0;
}

static void on_raft_change(SchedRaft *raft, const char *cmd, uint64_t index,
                           const SchedApplyResult *result, void *userdata) {
        Scheduler *s = userdata;

        (void) raft, (void) cmd, (void) index, (void) result;
        if (s->reconciler)
                sched_reconciler_state_changed(s->reconciler);
        if (s->jobs)
                sched_jobs_state_changed(s->jobs);
}

static void on_container_changed(const char *id, const char *state, int exit_code, void *userdata) {
        Scheduler *s = userdata;

        if (s->reconciler)
                sched_reconciler_container_changed(s->reconciler, id, state, exit_code);
        if (s->jobs)
                sched_jobs_container_changed(s->jobs, id, state, exit_code);
}

static void on_deployment_event(const char *deployment, const char *event, const json_t *data,
                                void *userdata) {
        Scheduler *s = userdata;
        _cleanup_free_ char *text = data ? json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

        log_debug("Deployment '%s': %s %s", deployment, event, strempty(text));
        (void) scheduler_emit_deployment_event(s, deployment, event, data);
}

static void on_job_finished(const char *execution_id, const char *deployment, const char *service,
                            const char *state, int exit_code, void *userdata) {
        Scheduler *s = userdata;

        log_info("Execution %s of '%s' in '%s' %s (exit code %d).", execution_id, service,
                 deployment, state, exit_code);
        (void) scheduler_emit_job_finished(s, execution_id, deployment, service, state, exit_code);
}

/* ---- the scheduler ------------------------------------------------------------------------- */

static int config_copy(const SchedConfig *from, SchedConfig *to) {
        *to = (SchedConfig){
                .node_id = strdup(from->node_id),
                .node_address = strdup(from->node_address),
                .public_address = strdup(from->public_address),
                .raft_address = strdup(from->raft_address),
                .raft_id = from->raft_id,
                .resync_usec = from->resync_usec,
                .health_deadline_usec = from->health_deadline_usec,
        };
        if (!to->node_id || !to->node_address || !to->public_address || !to->raft_address) {
                sched_config_done(to);
                return -ENOMEM;
        }
        return 0;
}

int scheduler_new(sd_event *event, sd_bus *bus, const SchedConfig *config, const char *state_dir,
                  Scheduler **ret) {
        _cleanup_(scheduler_freep) Scheduler *s = NULL;
        _cleanup_free_ char *raft_dir = NULL;
        SchedReconcilerConfig rc;
        SchedRaftConfig raft_config;
        int r;

        s = calloc(1, sizeof(Scheduler));
        if (!s)
                return log_oom();
        s->event = sd_event_ref(event);
        s->bus = sd_bus_ref(bus);
        s->role = SCHED_RAFT_UNAVAILABLE;
        r = config_copy(config, &s->config);
        if (r < 0)
                return log_oom();

        raft_dir = path_join(state_dir, "raft");
        if (!raft_dir)
                return log_oom();
        raft_config = (SchedRaftConfig){
                .dir = raft_dir,
                .id = s->config.raft_id,
                .address = s->config.raft_address,
                .bootstrap = true,
        };
        r = sched_raft_new(&raft_config, &s->raft);
        if (r < 0)
                return log_error_errno(r, "Failed to open the Raft state in '%s' on %s: %m",
                                       raft_dir, s->config.raft_address);
        sched_raft_set_change_callback(s->raft, on_raft_change, s);
        r = sd_event_add_io(event, &s->raft_source, sched_raft_get_fd(s->raft), EPOLLIN, on_raft_io,
                            s);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the Raft thread: %m");
        r = sd_event_add_time_relative(event, &s->role_timer, CLOCK_MONOTONIC, ROLE_POLL_USEC, 0,
                                       on_role_timer, s);
        if (r < 0)
                return log_error_errno(r, "Failed to add the role timer: %m");
        r = sd_event_source_set_enabled(s->role_timer, SD_EVENT_ON);
        if (r < 0)
                return log_error_errno(r, "Failed to enable the role timer: %m");

        s->store = (SchedStore){
                .submit = store_submit,
                .read = store_read,
                .is_leader = store_is_leader,
                .userdata = s,
        };
        r = sched_bus_backends_new(bus, on_container_changed, s, &s->bus_backends);
        if (r < 0)
                return log_error_errno(r, "Failed to subscribe to zl-runtimed's signals: %m");
        sched_bus_backends_table(s->bus_backends, &s->backends);

        rc = (SchedReconcilerConfig){
                .node_id = s->config.node_id,
                .node_address = s->config.node_address,
                .public_address = s->config.public_address,
                .environ = environ,
                .resync_usec = s->config.resync_usec,
                .health_deadline_usec = s->config.health_deadline_usec,
        };
        r = sched_reconciler_new(event, &rc, &s->backends, &s->store, on_deployment_event, s,
                                 &s->reconciler);
        if (r < 0)
                return log_error_errno(r, "Failed to make the reconciler: %m");
        r = sched_jobs_new(event, s->config.node_id, environ, &s->backends, &s->store, NULL,
                           on_job_finished, s, &s->jobs);
        if (r < 0)
                return log_error_errno(r, "Failed to make the jobs: %m");

        r = sched_reconciler_start(s->reconciler);
        if (r < 0)
                return log_error_errno(r, "Failed to start the reconciler: %m");
        r = sched_jobs_start(s->jobs);
        if (r < 0)
                return log_error_errno(r, "Failed to start the jobs: %m");
        poll_role(s);
        *ret = TAKE_PTR(s);
        return 0;
}

Scheduler *scheduler_free(Scheduler *s) {
        if (!s)
                return NULL;
        /* The core goes first (it cancels its calls on the backends, which must still be
         * there); its submits still in SchedRaft complete silently when raft is freed. */
        s->stopping = true;
        for (StoreCall *c = s->store_calls; c; c = c->next)
                c->detached = true;
        s->jobs = sched_jobs_free(s->jobs);
        s->reconciler = sched_reconciler_free(s->reconciler);
        s->bus_backends = sched_bus_backends_free(s->bus_backends);
        sd_event_source_disable_unref(s->role_timer);
        sd_event_source_disable_unref(s->raft_source);
        s->raft = sched_raft_free(s->raft);
        sched_config_done(&s->config);
        sd_bus_unref(s->bus);
        sd_event_unref(s->event);
        free(s);
        return NULL;
}

/* ---- the daemon ---------------------------------------------------------------------------- */

static int schedd_init(ZlDaemon *d, void **ret_userdata) {
        _cleanup_(sched_config_done) SchedConfig c = {};
        Scheduler *s = NULL;
        int r;

        r = schedd_load_config(&c);
        if (r < 0)
                return r;
        r = scheduler_new(zl_daemon_get_event(d), zl_daemon_get_bus(d), &c,
                          zl_daemon_get_state_dir(d), &s);
        if (r < 0)
                return r;
        s->daemon = d;
        log_info("Node '%s' (internal %s, public %s), Raft server %" PRIu64 " on %s, state in "
                 "'%s'.",
                 c.node_id, c.node_address, c.public_address, c.raft_id, c.raft_address,
                 zl_daemon_get_state_dir(d));
        *ret_userdata = s;
        return 0;
}

static void schedd_done(ZlDaemon *d, void *userdata) {
        (void) d;
        scheduler_free(userdata);
}

static int schedd_counters(ZlDaemon *d, void *userdata, ZlCounterSet *set) {
        Scheduler *s = userdata;
        int r;

        (void) d;
        r = zl_counter_set_put(set, "raft_leader", s->role == SCHED_RAFT_LEADER ? 1 : 0);
        if (r >= 0)
                r = zl_counter_set_put(set, "raft_applied_index",
                                       (double) sched_raft_get_applied_index(s->raft));
        if (r >= 0)
                r = zl_counter_set_put(set, "reconcile_passes",
                                       (double) sched_reconciler_get_n_passes(s->reconciler));
        if (r >= 0)
                r = zl_counter_set_put(set, "backend_calls_pending",
                                       (double) sched_bus_backends_n_pending(s->bus_backends));
        return r;
}

static const ZlBusObject *const schedd_objects[] = {
        &scheduler_bus_object,
        NULL,
};

static const ZlDaemonDescriptor descriptor = {
        .info = &zl_daemon_list[ZL_DAEMON_SCHEDD],
        .objects = schedd_objects,
        .init = schedd_init,
        .done = schedd_done,
        .counters = schedd_counters,
};

int main(int argc, char *argv[]) {
        return zl_daemon_main(&descriptor, argc, argv);
}
