/* SPDX-License-Identifier: Apache-2.0 */
/* monitor.c: the per-container monitor: supervises one init, keeps its logs, serves a socket. */
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "container-log.h"
#include "container.h"
#include "fd-util.h"
#include "fileio.h"
#include "log.h"
#include "monitor.h"
#include "oci-cgroup.h"
#include "path-util.h"
#include "string-util.h"

static const char *const monitor_state_table[_MONITOR_STATE_MAX] = {
        [MONITOR_STATE_CREATED] = "created",
        [MONITOR_STATE_RUNNING] = "running",
        [MONITOR_STATE_PAUSED] = "paused",
        [MONITOR_STATE_EXITED] = "exited",
};

const char *monitor_state_to_string(MonitorState s) {
        if (s < 0 || s >= _MONITOR_STATE_MAX)
                return NULL;
        return monitor_state_table[s];
}

MonitorState monitor_state_from_string(const char *s) {
        if (!s)
                return _MONITOR_STATE_INVALID;
        for (MonitorState i = 0; i < _MONITOR_STATE_MAX; i++)
                if (streq(monitor_state_table[i], s))
                        return i;
        return _MONITOR_STATE_INVALID;
}

void monitor_status_done(MonitorStatus *s) {
        if (!s)
                return;
        s->error = mfree(s->error);
}

/* json_object_set_new() takes the value even when it fails; NULL values mean OOM. */
static int json_set(json_t *obj, const char *key, json_t *value) {
        if (!value || json_object_set_new(obj, key, value) < 0)
                return -ENOMEM;
        return 0;
}

int monitor_status_to_json(const MonitorStatus *s, json_t *obj) {
        const char *state = monitor_state_to_string(s->state);
        int r = 0;

        if (!state || !json_is_object(obj))
                return -EINVAL;
        if (r >= 0)
                r = json_set(obj, "state", json_string(state));
        if (r >= 0)
                r = json_set(obj, "pid", json_integer(s->pid));
        if (r >= 0)
                r = json_set(obj, "started_at", json_integer((json_int_t) s->started_at));
        if (r >= 0)
                r = json_set(obj, "finished_at", json_integer((json_int_t) s->finished_at));
        if (r >= 0)
                r = json_set(obj, "exit_code", json_integer(s->exit_code));
        if (r >= 0)
                r = json_set(obj, "signal", json_integer(s->signal));
        if (r >= 0)
                r = json_set(obj, "oom_killed", json_boolean(s->oom_killed));
        if (r >= 0)
                r = json_set(obj, "error", s->error ? json_string(s->error) : json_null());
        return r;
}

static int json_get_int(const json_t *obj, const char *key, json_int_t min, json_int_t max,
                        json_int_t *ret) {
        json_t *v = json_object_get(obj, key);

        if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
                return -EBADMSG;
        *ret = json_integer_value(v);
        return 0;
}

int monitor_status_from_json(const json_t *obj, MonitorStatus *ret) {
        json_int_t pid, started, finished, code, sig;
        json_t *v;
        MonitorState state;
        _cleanup_free_ char *error = NULL;

        if (!json_is_object(obj) || !ret)
                return -EBADMSG;
        state = monitor_state_from_string(json_string_value(json_object_get(obj, "state")));
        if (state < 0)
                return -EBADMSG;
        if (json_get_int(obj, "pid", 0, INT_MAX, &pid) < 0 ||
            json_get_int(obj, "started_at", 0, INT64_MAX, &started) < 0 ||
            json_get_int(obj, "finished_at", 0, INT64_MAX, &finished) < 0 ||
            json_get_int(obj, "exit_code", -1, 255, &code) < 0 ||
            json_get_int(obj, "signal", 0, 64, &sig) < 0)
                return -EBADMSG;
        v = json_object_get(obj, "oom_killed");
        if (!json_is_boolean(v))
                return -EBADMSG;
        bool oom = json_is_true(v);
        v = json_object_get(obj, "error");
        if (json_is_string(v)) {
                error = strdup(json_string_value(v));
                if (!error)
                        return -ENOMEM;
        } else if (v && !json_is_null(v))
                return -EBADMSG;

        *ret = (MonitorStatus){
                .state = state,
                .pid = (pid_t) pid,
                .started_at = (usec_t) started,
                .finished_at = (usec_t) finished,
                .exit_code = (int) code,
                .signal = (int) sig,
                .oom_killed = oom,
                .error = TAKE_PTR(error),
        };
        return 0;
}

void monitor_spec_done(MonitorSpec *s) {
        if (!s)
                return;
        s->id = mfree(s->id);
        s->name = mfree(s->name);
        s->cgroup = mfree(s->cgroup);
        s->lowers = strv_free(s->lowers);
        s->upper = mfree(s->upper);
        s->work = mfree(s->work);
        s->seccomp_cache = mfree(s->seccomp_cache);
}

static int spec_fail(char **ret_error, const char *field, const char *why) {
        if (ret_error) {
                *ret_error = strjoin(MONITOR_SPEC_FILE ": ", field, ": ", why);
                if (!*ret_error)
                        return -ENOMEM;
        }
        return -EINVAL;
}

static int spec_string(const json_t *obj, const char *key, bool required, char **ret,
                       char **ret_error) {
        json_t *v = json_object_get(obj, key);

        if (!v || json_is_null(v)) {
                if (required)
                        return spec_fail(ret_error, key, "missing");
                *ret = NULL;
                return 0;
        }
        if (!json_is_string(v) || isempty(json_string_value(v)))
                return spec_fail(ret_error, key, "must be a non-empty string");
        *ret = strdup(json_string_value(v));
        return *ret ? 0 : -ENOMEM;
}

static int spec_bool(const json_t *obj, const char *key, bool *ret, char **ret_error) {
        json_t *v = json_object_get(obj, key);

        if (!v) {
                *ret = false;
                return 0;
        }
        if (!json_is_boolean(v))
                return spec_fail(ret_error, key, "must be a boolean");
        *ret = json_is_true(v);
        return 0;
}

static int spec_path(const json_t *obj, const char *key, const char *field, char **ret,
                     char **ret_error) {
        json_t *v = json_object_get(obj, key);

        if (!json_is_string(v) || !path_is_absolute(json_string_value(v)))
                return spec_fail(ret_error, field, "must be an absolute path");
        *ret = strdup(json_string_value(v));
        return *ret ? 0 : -ENOMEM;
}

static int spec_overlay(const json_t *o, MonitorSpec *s, char **ret_error) {
        json_t *lowers = json_object_get(o, "lowers"), *v;
        size_t i;
        int r;

        if (!json_is_array(lowers) || json_array_size(lowers) == 0)
                return spec_fail(ret_error, "overlay.lowers", "must be a non-empty array");
        json_array_foreach (lowers, i, v) {
                if (!json_is_string(v) || !path_is_absolute(json_string_value(v)))
                        return spec_fail(ret_error, "overlay.lowers", "must hold absolute paths");
                r = strv_extend(&s->lowers, json_string_value(v));
                if (r < 0)
                        return r;
        }
        r = spec_path(o, "upper", "overlay.upper", &s->upper, ret_error);
        if (r < 0)
                return r;
        r = spec_path(o, "work", "overlay.work", &s->work, ret_error);
        if (r < 0)
                return r;
        return 0;
}

int monitor_spec_from_json(const json_t *obj, MonitorSpec *ret, char **ret_error) {
        _cleanup_(monitor_spec_done) MonitorSpec s = { .stop_signal = SIGTERM };
        json_t *v;
        json_int_t n;
        int r;

        if (ret_error)
                *ret_error = NULL;
        if (!json_is_object(obj))
                return spec_fail(ret_error, "(root)", "must be an object");
        r = spec_string(obj, "id", true, &s.id, ret_error);
        if (r >= 0)
                r = spec_string(obj, "name", false, &s.name, ret_error);
        if (r >= 0)
                r = spec_string(obj, "cgroup", true, &s.cgroup, ret_error);
        if (r < 0)
                return r;
        if (path_is_absolute(s.cgroup) || !path_is_safe_relative(s.cgroup))
                return spec_fail(ret_error, "cgroup", "must be a relative path without '..'");

        v = json_object_get(obj, "overlay");
        if (v && !json_is_null(v)) {
                if (!json_is_object(v))
                        return spec_fail(ret_error, "overlay", "must be null or an object");
                r = spec_overlay(v, &s, ret_error);
                if (r < 0)
                        return r;
        }
        r = spec_bool(obj, "default_seccomp", &s.default_seccomp, ret_error);
        if (r >= 0)
                r = spec_string(obj, "seccomp_cache", false, &s.seccomp_cache, ret_error);
        if (r < 0)
                return r;
        if (s.seccomp_cache && !path_is_absolute(s.seccomp_cache))
                return spec_fail(ret_error, "seccomp_cache", "must be an absolute path");

        v = json_object_get(obj, "log");
        if (v && !json_is_null(v)) {
                if (!json_is_object(v))
                        return spec_fail(ret_error, "log", "must be an object");
                if (json_object_get(v, "max_size")) {
                        if (json_get_int(v, "max_size", 0, INT64_MAX, &n) < 0)
                                return spec_fail(ret_error, "log.max_size",
                                                 "must be a non-negative integer");
                        if (n != 0 && (uint64_t) n < CONTAINER_LOG_MAX_SIZE_MIN)
                                return spec_fail(ret_error, "log.max_size",
                                                 "must be at least 4096 bytes");
                        s.log_max_size = (uint64_t) n;
                }
                if (json_object_get(v, "max_files")) {
                        if (json_get_int(v, "max_files", 0, CONTAINER_LOG_MAX_FILES_MAX, &n) < 0)
                                return spec_fail(ret_error, "log.max_files",
                                                 "must be an integer from 0 to 1000");
                        s.log_max_files = (unsigned) n;
                }
                r = spec_bool(v, "journal", &s.log_journal, ret_error);
                if (r < 0)
                        return r;
        }
        if (json_object_get(obj, "stop_signal")) {
                if (json_get_int(obj, "stop_signal", 1, _NSIG - 1, &n) < 0)
                        return spec_fail(ret_error, "stop_signal", "must be a signal number");
                s.stop_signal = (int) n;
        }
        *ret = s;
        s = (MonitorSpec){};
        return 0;
}

int monitor_spec_to_json(const MonitorSpec *s, json_t **ret) {
        _cleanup_(json_decrefp) json_t *obj = json_object(), *log = json_object(), *overlay = NULL;
        int r = 0;

        if (!obj || !log)
                return -ENOMEM;
        if (!s->id || !s->cgroup)
                return -EINVAL;
        if (s->lowers) {
                json_t *lowers = json_array();
                overlay = json_object();
                if (!overlay || json_set(overlay, "lowers", lowers) < 0)
                        return -ENOMEM;
                for (char **l = s->lowers; *l; l++)
                        if (json_array_append_new(lowers, json_string(*l)) < 0)
                                return -ENOMEM;
                r = json_set(overlay, "upper", json_string(strempty(s->upper)));
                if (r >= 0)
                        r = json_set(overlay, "work", json_string(strempty(s->work)));
                if (r < 0)
                        return r;
        }
        r = json_set(obj, "id", json_string(s->id));
        if (r >= 0)
                r = json_set(obj, "name", s->name ? json_string(s->name) : json_null());
        if (r >= 0)
                r = json_set(obj, "cgroup", json_string(s->cgroup));
        if (r >= 0)
                r = json_set(obj, "overlay", overlay ? TAKE_PTR(overlay) : json_null());
        if (r >= 0)
                r = json_set(obj, "default_seccomp", json_boolean(s->default_seccomp));
        if (r >= 0 && s->seccomp_cache)
                r = json_set(obj, "seccomp_cache", json_string(s->seccomp_cache));
        if (r >= 0)
                r = json_set(log, "max_size", json_integer((json_int_t) s->log_max_size));
        if (r >= 0)
                r = json_set(log, "max_files", json_integer(s->log_max_files));
        if (r >= 0)
                r = json_set(log, "journal", json_boolean(s->log_journal));
        if (r >= 0)
                r = json_set(obj, "log", TAKE_PTR(log));
        if (r >= 0)
                r = json_set(obj, "stop_signal", json_integer(s->stop_signal));
        if (r < 0)
                return r;
        *ret = TAKE_PTR(obj);
        return 0;
}

int monitor_spec_load(const char *path, MonitorSpec *ret, char **ret_error) {
        _cleanup_(json_decrefp) json_t *obj = NULL;
        json_error_t e;

        if (ret_error)
                *ret_error = NULL;
        obj = json_load_file(path, JSON_REJECT_DUPLICATES, &e);
        if (!obj) {
                if (ret_error &&
                    asprintf(ret_error, "%s:%d:%d: %s", path, e.line, e.column, e.text) < 0)
                        *ret_error = NULL;
                return json_error_code(&e) == json_error_cannot_open_file ? -ENOENT : -EINVAL;
        }
        return monitor_spec_from_json(obj, ret, ret_error);
}

/* ---- the monitor ---------------------------------------------------------------------------- */

typedef struct Client Client;

struct Client {
        Monitor *monitor;
        int fd;
        sd_event_source *source;
        Client *prev, *next;
};

/* A "stop" request waiting for the init to exit. */
typedef struct StopWaiter {
        Client *client;
        json_t *id;
} StopWaiter;

struct Monitor {
        char *dir;
        int dir_fd;
        char *status_path, *pid_path;
        MonitorSpec spec;
        OciConfig *config;
        CgroupMode cg_mode;
        Cgroup *cgroup;
        CgroupDeviceRule *devices;
        ContainerInit init;
        int out_fd, err_fd; /* read ends; out_fd is the terminal master for a terminal */
        ContainerLog *log;
        MonitorStatus status;
        int listen_fd;
        bool made_cgroup, made_socket, made_pid_file, made_status;
        sd_event *event;
        sd_event_source *init_source, *out_source, *err_source, *listen_source, *chld_source,
                *stop_timer, *oom_source;
        int oom_fd, oom_control_fd;
        uint64_t oom_count;
        bool oom_seen;
        Client *clients;
        StopWaiter *waiters;
        size_t n_waiters;
        bool exited;
        char *packet;
};

static Client *client_free(Client *c) {
        Monitor *m;

        if (!c)
                return NULL;
        m = c->monitor;
        for (size_t i = 0; i < m->n_waiters;)
                if (m->waiters[i].client == c) {
                        json_decref(m->waiters[i].id);
                        m->waiters[i] = m->waiters[--m->n_waiters];
                } else
                        i++;
        if (c->prev)
                c->prev->next = c->next;
        else
                m->clients = c->next;
        if (c->next)
                c->next->prev = c->prev;
        sd_event_source_disable_unref(c->source);
        safe_close(c->fd);
        free(c);
        return NULL;
}

Monitor *monitor_free(Monitor *m) {
        if (!m)
                return NULL;
        while (m->clients)
                client_free(m->clients);
        for (size_t i = 0; i < m->n_waiters; i++)
                json_decref(m->waiters[i].id);
        free(m->waiters);
        sd_event_source_disable_unref(m->init_source);
        sd_event_source_disable_unref(m->out_source);
        sd_event_source_disable_unref(m->err_source);
        sd_event_source_disable_unref(m->listen_source);
        sd_event_source_disable_unref(m->chld_source);
        sd_event_source_disable_unref(m->stop_timer);
        sd_event_source_disable_unref(m->oom_source);
        sd_event_unref(m->event);
        safe_close(m->oom_fd);
        safe_close(m->oom_control_fd);
        safe_close(m->listen_fd);
        safe_close(m->out_fd);
        safe_close(m->err_fd);
        container_log_free(m->log);
        container_init_done(&m->init);
        cgroup_free(m->cgroup);
        free(m->devices);
        oci_config_free(m->config);
        monitor_spec_done(&m->spec);
        monitor_status_done(&m->status);
        safe_close(m->dir_fd);
        free(m->status_path);
        free(m->pid_path);
        free(m->dir);
        free(m->packet);
        return mfree(m);
}

static int monitor_write_status(Monitor *m) {
        _cleanup_(json_decrefp) json_t *obj = json_object();
        _cleanup_free_ char *text = NULL;
        int r;

        if (!obj)
                return -ENOMEM;
        r = monitor_status_to_json(&m->status, obj);
        if (r < 0)
                return r;
        text = json_dumps(obj, JSON_COMPACT);
        if (!text)
                return -ENOMEM;
        /* Readers (a restarted zl-runtimed) need it whole, not durable: the container does not
         * outlive the machine, and fsyncs would double the cost of starting one. */
        r = write_file_atomic_full(m->status_path, text, strlen(text), 0644, WRITE_FILE_NO_SYNC);
        if (r < 0)
                return log_warning_errno(r, "Failed to write '%s': %m", m->status_path);
        m->made_status = true;
        return 0;
}

static int client_send_json(Client *c, json_t *obj) {
        _cleanup_free_ char *text = json_dumps(obj, JSON_COMPACT);

        if (!text)
                return -ENOMEM;
        /* A client that does not read its replies loses its connection, never blocks us. */
        if (send(c->fd, text, strlen(text), MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
                return log_debug_errno(errno, "Failed to send to a client: %m");
        return 0;
}

static json_t *status_object(Monitor *m, const char *key, json_t *value) {
        json_t *obj = json_object();

        if (!obj || json_set(obj, key, value) < 0 || monitor_status_to_json(&m->status, obj) < 0)
                return json_decref(obj), NULL;
        return obj;
}

static void monitor_broadcast(Monitor *m, const char *event) {
        _cleanup_(json_decrefp) json_t *obj = status_object(m, "event", json_string(event));
        if (!obj) {
                log_oom();
                return;
        }
        /* A client whose connection broke is freed by its own handler (EOF or error there),
         * never here: this may run in the middle of serving a request of that client. */
        for (Client *c = m->clients; c; c = c->next)
                (void) client_send_json(c, obj);
}

static int client_reply_ok(Client *c, json_t *id) {
        _cleanup_(json_decrefp) json_t *obj = status_object(c->monitor, "id", json_incref(id));

        if (!obj || json_set(obj, "ok", json_true()) < 0)
                return -ENOMEM;
        return client_send_json(c, obj);
}

static int client_reply_error(Client *c, json_t *id, int error, const char *fmt, ...)
        _printf_(4, 5);
static int client_reply_error(Client *c, json_t *id, int error, const char *fmt, ...) {
        _cleanup_(json_decrefp) json_t *obj = json_object();
        _cleanup_free_ char *msg = NULL;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (r < 0 || !obj)
                return -ENOMEM;
        r = json_set(obj, "id", id ? json_incref(id) : json_null());
        if (r >= 0)
                r = json_set(obj, "ok", json_false());
        if (r >= 0)
                r = json_set(obj, "errno", json_integer(abs(error)));
        if (r >= 0)
                r = json_set(obj, "error", json_string(msg));
        if (r < 0)
                return r;
        return client_send_json(c, obj);
}

static void monitor_set_state(Monitor *m, MonitorState s, const char *event) {
        m->status.state = s;
        (void) monitor_write_status(m);
        monitor_broadcast(m, event);
}

/* Reads what is there now; returns 1 at EOF (the terminal master reports EIO then). */
static int drain_fd(Monitor *m, int fd, LogStream stream) {
        char buf[65536];

        for (unsigned i = 0; i < 16; i++) {
                ssize_t n = read(fd, buf, sizeof buf);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                return 0;
                        if (errno != EIO)
                                log_debug_errno(errno, "Failed to read container output: %m");
                        return 1;
                }
                if (n == 0)
                        return 1;
                if (m->log)
                        (void) container_log_write(m->log, stream, buf, (size_t) n, 0);
        }
        return 0;
}

static int on_output(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Monitor *m = userdata;
        bool is_out = s == m->out_source;

        if (drain_fd(m, fd, is_out ? LOG_STREAM_STDOUT : LOG_STREAM_STDERR) > 0) {
                if (is_out) {
                        m->out_source = sd_event_source_disable_unref(m->out_source);
                        m->out_fd = safe_close(m->out_fd);
                } else {
                        m->err_source = sd_event_source_disable_unref(m->err_source);
                        m->err_fd = safe_close(m->err_fd);
                }
        }
        return 0;
}

static void drain_all(Monitor *m) {
        /* Everything that could write is dead now: read up to EOF (bounded, in case a writer
         * escaped the cgroup). */
        for (unsigned i = 0; i < 64 && m->out_fd >= 0; i++)
                if (drain_fd(m, m->out_fd, LOG_STREAM_STDOUT) != 0 || i == 63) {
                        m->out_source = sd_event_source_disable_unref(m->out_source);
                        m->out_fd = safe_close(m->out_fd);
                }
        for (unsigned i = 0; i < 64 && m->err_fd >= 0; i++)
                if (drain_fd(m, m->err_fd, LOG_STREAM_STDERR) != 0 || i == 63) {
                        m->err_source = sd_event_source_disable_unref(m->err_source);
                        m->err_fd = safe_close(m->err_fd);
                }
}

static void monitor_remove_files(Monitor *m) {
        if (m->made_socket && unlinkat(m->dir_fd, MONITOR_SOCKET_FILE, 0) < 0 && errno != ENOENT)
                log_debug_errno(errno, "Failed to remove the socket: %m");
        m->made_socket = false;
        if (m->made_pid_file && unlinkat(m->dir_fd, MONITOR_PID_FILE, 0) < 0 && errno != ENOENT)
                log_debug_errno(errno, "Failed to remove the pid file: %m");
        m->made_pid_file = false;
}

static void monitor_finish(Monitor *m, int code, int sig) {
        CgroupStats st;
        int r;

        if (m->exited)
                return;
        m->exited = true;
        m->init_source = sd_event_source_disable_unref(m->init_source);
        m->stop_timer = sd_event_source_disable_unref(m->stop_timer);
        m->oom_source = sd_event_source_disable_unref(m->oom_source);

        /* The init's end is the container's end: nothing it left behind keeps running. */
        r = cgroup_kill(m->cgroup);
        if (r < 0)
                log_warning_errno(r, "Failed to kill what is left of container '%s': %m",
                                  m->spec.id);
        drain_all(m);

        if (cgroup_get_stats(m->cgroup, &st) >= 0 && st.oom_kill_count != CGROUP_STAT_UNKNOWN &&
            st.oom_kill_count > 0)
                m->status.oom_killed = true;
        if (m->oom_seen && sig == SIGKILL)
                m->status.oom_killed = true;
        m->oom_control_fd = safe_close(m->oom_control_fd);
        m->oom_fd = safe_close(m->oom_fd);

        r = cgroup_destroy(m->cgroup);
        if (r < 0)
                log_warning_errno(r, "Failed to remove the cgroup '%s': %m", m->spec.cgroup);
        else
                m->made_cgroup = false;

        m->status.state = MONITOR_STATE_EXITED;
        m->status.finished_at = now(CLOCK_REALTIME);
        m->status.exit_code = code;
        m->status.signal = sig;
        (void) monitor_write_status(m);
        if (m->log) {
                r = container_log_close_final(TAKE_PTR(m->log));
                if (r < 0)
                        log_warning_errno(r, "Failed to close the log of '%s': %m", m->spec.id);
        }

        log_struct(LOG_INFO, LOG_FIELDS({ "ZL_EVENT", "exited" }, { "ZL_CONTAINER", m->spec.id }),
                   "Container '%s' exited with %d%s.", m->spec.id, code,
                   m->status.oom_killed ? " (OOM-killed)" : "");

        for (size_t i = 0; i < m->n_waiters; i++)
                (void) client_reply_ok(m->waiters[i].client, m->waiters[i].id);
        monitor_broadcast(m, "exited");

        m->listen_source = sd_event_source_disable_unref(m->listen_source);
        m->listen_fd = safe_close(m->listen_fd);
        monitor_remove_files(m);
        (void) sd_event_exit(m->event, 0);
}

static void monitor_init_died(Monitor *m, const siginfo_t *si) {
        if (si->si_code == CLD_EXITED)
                monitor_finish(m, si->si_status, 0);
        else
                monitor_finish(m, 128 + si->si_status, si->si_status);
}

static int on_init_exit(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Monitor *m = userdata;
        siginfo_t si = {};

        if (waitid(P_PIDFD, (id_t) fd, &si, WEXITED | WNOHANG) < 0) {
                /* Reaped by the SIGCHLD handler, which finished already. */
                m->init_source = sd_event_source_disable_unref(m->init_source);
                return 0;
        }
        if (si.si_pid != 0)
                monitor_init_died(m, &si);
        return 0;
}

static int on_sigchld(sd_event_source *s, const struct signalfd_siginfo *ssi, void *userdata) {
        Monitor *m = userdata;

        /* We are a subreaper: every orphan of the container ends up here. */
        for (;;) {
                siginfo_t si = {};
                if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG) < 0 || si.si_pid == 0)
                        break;
                if (si.si_pid == m->init.pid)
                        monitor_init_died(m, &si);
        }
        return 0;
}

static int signal_init(Monitor *m, int sig) {
        if (syscall(SYS_pidfd_send_signal, m->init.pidfd, sig, NULL, 0) < 0)
                return -errno;
        return 0;
}

/* Where cgroup.procs lists the container's processes, whatever the hierarchy. */
static int cgroup_procs_path(Monitor *m, const char *file, char **ret) {
        static const char *const v1[] = { "pids", "freezer", "memory", "unified" };

        if (m->cg_mode == CGROUP_MODE_V2) {
                *ret = path_join(CGROUP_ROOT_DEFAULT, m->spec.cgroup, file);
                return *ret ? 0 : -ENOMEM;
        }
        for (size_t i = 0; i < ELEMENTSOF(v1); i++) {
                _cleanup_free_ char *p =
                        path_join(CGROUP_ROOT_DEFAULT, v1[i], m->spec.cgroup, file);
                if (!p)
                        return -ENOMEM;
                if (access(p, F_OK) >= 0) {
                        *ret = TAKE_PTR(p);
                        return 0;
                }
        }
        return -ENOENT;
}

static int kill_all(Monitor *m, int sig) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        int r;

        r = cgroup_procs_path(m, "cgroup.procs", &path);
        if (r >= 0)
                r = read_full_file(path, 4 << 20, &text, NULL);
        if (r < 0)
                return r;
        for (char *p = text, *e; *p; p = e) {
                long pid = strtol(p, &e, 10);
                if (e == p)
                        break;
                if (pid > 0 && kill((pid_t) pid, sig) < 0 && errno != ESRCH)
                        return -errno;
        }
        return 0;
}

static int on_stop_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Monitor *m = userdata;
        int r;

        m->stop_timer = sd_event_source_disable_unref(m->stop_timer);
        log_info("Container '%s' did not stop in time, killing it.", m->spec.id);
        (void) signal_init(m, SIGKILL);
        r = cgroup_kill(m->cgroup);
        if (r < 0)
                log_warning_errno(r, "Failed to kill container '%s': %m", m->spec.id);
        return 0;
}

static int monitor_thaw(Monitor *m) {
        int r;

        if (m->status.state != MONITOR_STATE_PAUSED)
                return 0;
        r = cgroup_thaw(m->cgroup);
        if (r < 0)
                return r;
        monitor_set_state(m, MONITOR_STATE_RUNNING, "resumed");
        return 0;
}

static int cmd_start(Client *c, json_t *id, json_t *req) {
        Monitor *m = c->monitor;
        _cleanup_free_ char *error = NULL;
        int r;

        if (m->status.state != MONITOR_STATE_CREATED)
                return client_reply_error(c, id, EBUSY, "the container is %s, not created",
                                          monitor_state_to_string(m->status.state));
        r = container_start(&m->init, &error);
        if (r < 0) {
                /* The init is gone (container_start reaped it): the container has ended. */
                m->status.error = error ? strdup(error) : NULL;
                (void) client_reply_error(c, id, r, "%s", error ?: strerror(-r));
                monitor_finish(m, 127, 0);
                return 0;
        }
        m->status.started_at = now(CLOCK_REALTIME);
        monitor_set_state(m, MONITOR_STATE_RUNNING, "started");
        log_struct(LOG_INFO, LOG_FIELDS({ "ZL_EVENT", "started" }, { "ZL_CONTAINER", m->spec.id }),
                   "Container '%s' started.", m->spec.id);
        return client_reply_ok(c, id);
}

static int get_signal(json_t *req, int def, int *ret) {
        json_t *v = json_object_get(req, "signal");

        if (!v) {
                *ret = def;
                return 0;
        }
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) >= _NSIG)
                return -EINVAL;
        *ret = (int) json_integer_value(v);
        return 0;
}

static int cmd_kill(Client *c, json_t *id, json_t *req) {
        Monitor *m = c->monitor;
        json_t *all = json_object_get(req, "all");
        int sig, r;

        if (get_signal(req, SIGKILL, &sig) < 0)
                return client_reply_error(c, id, EINVAL, "'signal' must be a number 1..%d",
                                          _NSIG - 1);
        if (all && !json_is_boolean(all))
                return client_reply_error(c, id, EINVAL, "'all' must be a boolean");
        if (m->status.state == MONITOR_STATE_EXITED)
                return client_reply_error(c, id, ESRCH, "the container has exited");
        r = json_is_true(all) ? kill_all(m, sig) : signal_init(m, sig);
        if (r < 0)
                return client_reply_error(c, id, r, "sending signal %d: %s", sig, strerror(-r));
        /* A frozen process only dies once thawed. */
        if (sig == SIGKILL)
                (void) monitor_thaw(m);
        return client_reply_ok(c, id);
}

static int cmd_stop(Client *c, json_t *id, json_t *req) {
        Monitor *m = c->monitor;
        json_t *t = json_object_get(req, "timeout_usec");
        usec_t timeout = MONITOR_STOP_TIMEOUT_DEFAULT_USEC;
        StopWaiter *w;
        int sig, r;

        if (get_signal(req, m->spec.stop_signal, &sig) < 0)
                return client_reply_error(c, id, EINVAL, "'signal' must be a number 1..%d",
                                          _NSIG - 1);
        if (t) {
                if (!json_is_integer(t) || json_integer_value(t) < 0)
                        return client_reply_error(c, id, EINVAL,
                                                  "'timeout_usec' must be a non-negative integer");
                timeout = (usec_t) json_integer_value(t);
        }
        if (m->status.state == MONITOR_STATE_EXITED)
                return client_reply_ok(c, id);

        w = reallocarray(m->waiters, m->n_waiters + 1, sizeof(StopWaiter));
        if (!w)
                return client_reply_error(c, id, ENOMEM, "out of memory");
        m->waiters = w;
        m->waiters[m->n_waiters++] = (StopWaiter){ .client = c, .id = json_incref(id) };

        r = signal_init(m, sig);
        if (r < 0 && r != -ESRCH)
                log_warning_errno(r, "Failed to signal container '%s': %m", m->spec.id);
        r = monitor_thaw(m);
        if (r < 0)
                log_warning_errno(r, "Failed to thaw container '%s': %m", m->spec.id);

        usec_t deadline = now(CLOCK_MONOTONIC) + timeout;
        uint64_t current;
        if (m->stop_timer) {
                if (sd_event_source_get_time(m->stop_timer, &current) >= 0 && current <= deadline)
                        return 0;
                m->stop_timer = sd_event_source_disable_unref(m->stop_timer);
        }
        r = sd_event_add_time(m->event, &m->stop_timer, CLOCK_MONOTONIC, deadline, 0,
                              on_stop_timeout, m);
        if (r < 0) {
                /* Without a grace period the stop still has to happen. */
                (void) signal_init(m, SIGKILL);
                (void) cgroup_kill(m->cgroup);
        }
        return 0;
}

static int cmd_pause(Client *c, json_t *id, bool pause) {
        Monitor *m = c->monitor;
        MonitorState want = pause ? MONITOR_STATE_RUNNING : MONITOR_STATE_PAUSED;
        int r;

        if (m->status.state != want)
                return client_reply_error(c, id, EBUSY, "the container is %s, not %s",
                                          monitor_state_to_string(m->status.state),
                                          monitor_state_to_string(want));
        r = pause ? cgroup_freeze(m->cgroup) : cgroup_thaw(m->cgroup);
        if (r < 0)
                return client_reply_error(c, id, r, "%s the cgroup: %s",
                                          pause ? "freezing" : "thawing", strerror(-r));
        monitor_set_state(m, pause ? MONITOR_STATE_PAUSED : MONITOR_STATE_RUNNING,
                          pause ? "paused" : "resumed");
        return client_reply_ok(c, id);
}

static int client_dispatch(Client *c, const char *data, size_t size) {
        _cleanup_(json_decrefp) json_t *req = NULL;
        json_error_t e;
        json_t *id;
        const char *cmd;

        req = json_loadb(data, size, JSON_REJECT_DUPLICATES, &e);
        if (!req)
                return client_reply_error(c, NULL, EINVAL, "not JSON: %d:%d: %s", e.line, e.column,
                                          e.text);
        if (!json_is_object(req))
                return client_reply_error(c, NULL, EINVAL, "a request must be a JSON object");
        id = json_object_get(req, "id");
        if (!json_is_integer(id) || json_integer_value(id) < 0)
                return client_reply_error(c, NULL, EINVAL, "'id' must be a non-negative integer");
        cmd = json_string_value(json_object_get(req, "cmd"));
        if (!cmd)
                return client_reply_error(c, id, EINVAL, "'cmd' must be a string");

        if (streq(cmd, "status"))
                return client_reply_ok(c, id);
        if (streq(cmd, "start"))
                return cmd_start(c, id, req);
        if (streq(cmd, "kill"))
                return cmd_kill(c, id, req);
        if (streq(cmd, "stop"))
                return cmd_stop(c, id, req);
        if (streq(cmd, "pause") || streq(cmd, "resume"))
                return cmd_pause(c, id, streq(cmd, "pause"));
        return client_reply_error(c, id, EOPNOTSUPP, "unknown command '%s'", cmd);
}

static int on_client(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Client *c = userdata;
        Monitor *m = c->monitor;
        ssize_t n;

        n = recv(fd, m->packet, MONITOR_PACKET_MAX, MSG_DONTWAIT | MSG_TRUNC);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        if (n <= 0) {
                client_free(c);
                return 0;
        }
        if ((size_t) n > MONITOR_PACKET_MAX) {
                if (client_reply_error(c, NULL, EMSGSIZE, "request larger than %zu bytes",
                                       MONITOR_PACKET_MAX) < 0)
                        client_free(c);
                return 0;
        }
        /* After the init exited the monitor is done: the loop ends, clients see EOF. */
        if (client_dispatch(c, m->packet, (size_t) n) < 0 && !m->exited)
                client_free(c);
        return 0;
}

static int on_listen(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Monitor *m = userdata;
        _cleanup_close_ int cfd = -EBADF;
        Client *c;
        int r;

        cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (cfd < 0) {
                log_debug_errno(errno, "Failed to accept a client: %m");
                return 0;
        }
        c = calloc(1, sizeof(Client));
        if (!c)
                return 0;
        *c = (Client){ .monitor = m, .fd = TAKE_FD(cfd), .next = m->clients };
        if (m->clients)
                m->clients->prev = c;
        m->clients = c;
        r = sd_event_add_io(m->event, &c->source, c->fd, EPOLLIN, on_client, c);
        if (r < 0)
                client_free(c);
        return 0;
}

static int on_oom(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Monitor *m = userdata;
        uint64_t v = 0;
        bool fire = false;

        if (m->cg_mode == CGROUP_MODE_V2) {
                char buf[4096];
                _cleanup_free_ char *path = NULL, *text = NULL;

                /* Consume the inotify events, then look at the counter. */
                while (read(fd, buf, sizeof buf) > 0)
                        ;
                if (cgroup_procs_path(m, "memory.events", &path) < 0 ||
                    read_full_file(path, 65536, &text, NULL) < 0)
                        return 0;
                for (char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
                        if (startswith(l, "oom_kill "))
                                v = strtoull(l + 9, NULL, 10);
                fire = v > m->oom_count;
                m->oom_count = v;
        } else
                fire = read(fd, &v, sizeof v) == sizeof v && v > 0;

        /* v1 also signals the eventfd when the cgroup is removed; that is not an OOM. */
        if (fire && !m->exited) {
                m->oom_seen = true;
                log_struct(LOG_WARNING,
                           LOG_FIELDS({ "ZL_EVENT", "oom" }, { "ZL_CONTAINER", m->spec.id }),
                           "Container '%s' ran out of memory.", m->spec.id);
                monitor_broadcast(m, "oom");
        }
        return 0;
}

/* Live OOM notifications, where they cost a few syscalls: v1 memory.oom_control through an
 * eventfd, v2 memory.events through inotify. Best effort: the exit status is checked anyway. */
static void monitor_watch_oom(Monitor *m) {
        _cleanup_close_ int efd = -EBADF, cfd = -EBADF;
        int r;

        if (m->cg_mode == CGROUP_MODE_V2) {
                _cleanup_free_ char *path = NULL;

                if (cgroup_procs_path(m, "memory.events", &path) < 0 || access(path, F_OK) < 0)
                        return;
                efd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
                if (efd < 0 || inotify_add_watch(efd, path, IN_MODIFY) < 0)
                        return;
        } else {
                _cleanup_free_ char *dir = path_join(CGROUP_ROOT_DEFAULT, "memory", m->spec.cgroup);
                char line[64];

                if (!dir)
                        return;
                _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (dfd < 0)
                        return;
                cfd = openat(dfd, "memory.oom_control", O_RDONLY | O_CLOEXEC);
                efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
                if (cfd < 0 || efd < 0)
                        return;
                _cleanup_close_ int ctl = openat(dfd, "cgroup.event_control", O_WRONLY | O_CLOEXEC);
                snprintf(line, sizeof line, "%d %d", efd, cfd);
                if (ctl < 0 || write(ctl, line, strlen(line)) < 0)
                        return;
        }
        r = sd_event_add_io(m->event, &m->oom_source, efd, EPOLLIN, on_oom, m);
        if (r < 0)
                return;
        m->oom_fd = TAKE_FD(efd);
        m->oom_control_fd = TAKE_FD(cfd);
}

static int monitor_listen(Monitor *m) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -EBADF;

        /* Through our directory descriptor: the state directory's path may be too long. */
        snprintf(sa.sun_path, sizeof sa.sun_path, "/proc/self/fd/%d/" MONITOR_SOCKET_FILE,
                 m->dir_fd);
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        if (unlinkat(m->dir_fd, MONITOR_SOCKET_FILE, 0) < 0 && errno != ENOENT)
                return -errno;
        if (bind(fd, (struct sockaddr *) &sa, sizeof sa) < 0)
                return -errno;
        m->made_socket = true;
        if (fchmodat(m->dir_fd, MONITOR_SOCKET_FILE, 0600, 0) < 0)
                return -errno;
        if (listen(fd, 64) < 0)
                return -errno;
        m->listen_fd = TAKE_FD(fd);
        return 0;
}

static int setup_fail(char **ret_error, int r, const char *fmt, ...) _printf_(3, 4);
static int setup_fail(char **ret_error, int r, const char *fmt, ...) {
        va_list ap;

        if (ret_error && !*ret_error) {
                va_start(ap, fmt);
                if (vasprintf(ret_error, fmt, ap) < 0)
                        *ret_error = NULL;
                va_end(ap);
        }
        return r;
}

static int monitor_setup(Monitor *m, char **ret_error) {
        ContainerSpawnOptions o = CONTAINER_SPAWN_OPTIONS_INIT;
        ContainerOverlay overlay;
        CgroupLimits limits;
        const char *reason = NULL;
        _cleanup_free_ char *error = NULL, *spec_path = NULL, *config_path = NULL;
        _cleanup_close_ int out_w = -EBADF, err_w = -EBADF;
        char pid_text[32];
        int r, p[2];

        spec_path = path_join(m->dir, MONITOR_SPEC_FILE);
        config_path = path_join(m->dir, MONITOR_CONFIG_FILE);
        m->status_path = path_join(m->dir, MONITOR_STATUS_FILE);
        m->pid_path = path_join(m->dir, MONITOR_PID_FILE);
        m->packet = malloc(MONITOR_PACKET_MAX);
        if (!spec_path || !config_path || !m->status_path || !m->pid_path || !m->packet)
                return -ENOMEM;

        m->dir_fd = open(m->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (m->dir_fd < 0) {
                r = -errno;
                return setup_fail(ret_error, r, "opening '%s': %s", m->dir, strerror(-r));
        }
        r = monitor_spec_load(spec_path, &m->spec, &error);
        if (r < 0)
                return setup_fail(ret_error, r, "%s", error ?: strerror(-r));
        r = oci_config_load(config_path, &m->config, &error);
        if (r < 0)
                return setup_fail(ret_error, r, "%s", error ?: strerror(-r));
        if (!path_is_absolute(m->config->root_path))
                return setup_fail(ret_error, -EINVAL, "root.path: must be absolute");
        r = oci_config_check_rlimits(m->config, &error);
        if (r < 0)
                return setup_fail(ret_error, r, "%s", error ?: strerror(-r));

        m->cg_mode = cgroup_detect(NULL);
        if (m->cg_mode < 0)
                return setup_fail(ret_error, (int) m->cg_mode, "detecting the cgroup mode: %s",
                                  strerror(-(int) m->cg_mode));
        r = oci_resources_to_cgroup_limits(&m->config->linux_.resources, &limits, &m->devices,
                                           &error);
        if (r < 0)
                return setup_fail(ret_error, r, "%s", error ?: strerror(-r));
        r = cgroup_new(NULL, m->cg_mode, m->spec.cgroup, &limits, &reason, &m->cgroup);
        if (r < 0)
                return setup_fail(ret_error, r, "creating the cgroup '%s': %s%s%s", m->spec.cgroup,
                                  strerror(-r), reason ? ": " : "", strempty(reason));
        m->made_cgroup = true;

        if (!m->config->process.terminal) {
                if (pipe2(p, O_CLOEXEC) < 0)
                        return -errno;
                m->out_fd = p[0];
                out_w = p[1];
                if (pipe2(p, O_CLOEXEC) < 0)
                        return -errno;
                m->err_fd = p[0];
                err_w = p[1];
                o.stdio[1] = out_w;
                o.stdio[2] = err_w;
        }
        o.config = m->config;
        o.bundle = m->dir;
        o.cgroup = m->cgroup;
        o.default_seccomp = m->spec.default_seccomp;
        o.seccomp_cache_dir = m->spec.seccomp_cache;
        o.wait_for_start = true;
        if (m->spec.lowers) {
                overlay = (ContainerOverlay){ .lowers = m->spec.lowers,
                                              .upper = m->spec.upper,
                                              .work = m->spec.work };
                o.overlay = &overlay;
        }
        r = container_spawn(&o, &m->init, &error);
        if (r < 0)
                return setup_fail(ret_error, r, "%s", error ?: strerror(-r));
        out_w = safe_close(out_w);
        err_w = safe_close(err_w);
        if (m->init.pty_master >= 0) {
                m->out_fd = TAKE_FD(m->init.pty_master);
                m->init.pty_master = -1;
        }
        if ((m->out_fd >= 0 && fd_nonblock(m->out_fd, true) < 0) ||
            (m->err_fd >= 0 && fd_nonblock(m->err_fd, true) < 0))
                return -errno;

        ContainerLogOptions lo = {
                .max_size = m->spec.log_max_size,
                .max_files = m->spec.log_max_files,
                .journal = m->spec.log_journal,
                .container_id = m->spec.id,
                .container_name = m->spec.name,
        };
        r = container_log_open(m->dir_fd, MONITOR_LOG_DIR, &lo, &m->log);
        if (r < 0)
                return setup_fail(ret_error, r, "opening the log in '%s/" MONITOR_LOG_DIR "': %s",
                                  m->dir, strerror(-r));

        m->status.pid = m->init.pid;
        r = monitor_write_status(m);
        if (r < 0)
                return setup_fail(ret_error, r, "writing '%s': %s", m->status_path, strerror(-r));
        snprintf(pid_text, sizeof pid_text, "%d\n", (int) getpid());
        r = write_file_atomic_full(m->pid_path, pid_text, strlen(pid_text), 0644,
                                   WRITE_FILE_NO_SYNC);
        if (r < 0)
                return setup_fail(ret_error, r, "writing '%s': %s", m->pid_path, strerror(-r));
        m->made_pid_file = true;

        r = sd_event_new(&m->event);
        if (r < 0)
                return r;
        r = sd_event_add_signal(m->event, &m->chld_source, SIGCHLD, on_sigchld, m);
        if (r >= 0)
                r = sd_event_add_io(m->event, &m->init_source, m->init.pidfd, EPOLLIN, on_init_exit,
                                    m);
        if (r >= 0 && m->out_fd >= 0)
                r = sd_event_add_io(m->event, &m->out_source, m->out_fd, EPOLLIN, on_output, m);
        if (r >= 0 && m->err_fd >= 0)
                r = sd_event_add_io(m->event, &m->err_source, m->err_fd, EPOLLIN, on_output, m);
        if (r < 0)
                return setup_fail(ret_error, r, "setting up the event loop: %s", strerror(-r));
        monitor_watch_oom(m);

        r = monitor_listen(m);
        if (r < 0)
                return setup_fail(ret_error, r, "listening on '%s/" MONITOR_SOCKET_FILE "': %s",
                                  m->dir, strerror(-r));
        r = sd_event_add_io(m->event, &m->listen_source, m->listen_fd, EPOLLIN, on_listen, m);
        if (r < 0)
                return setup_fail(ret_error, r, "setting up the event loop: %s", strerror(-r));
        return 0;
}

/* Undoes what monitor_setup() made: the container, its cgroup and our files. */
static void monitor_rollback(Monitor *m) {
        if (m->init.pid > 0) {
                (void) signal_init(m, SIGKILL);
                while (waitpid(m->init.pid, NULL, 0) < 0 && errno == EINTR)
                        ;
        }
        if (m->made_cgroup) {
                (void) cgroup_kill(m->cgroup);
                if (cgroup_destroy(m->cgroup) < 0)
                        log_debug("Failed to remove the cgroup '%s'.", m->spec.cgroup);
        }
        monitor_remove_files(m);
        if (m->made_status && unlinkat(m->dir_fd, MONITOR_STATUS_FILE, 0) < 0)
                log_debug_errno(errno, "Failed to remove the status file: %m");
}

int monitor_new(const char *dir, Monitor **ret, char **ret_error) {
        _cleanup_(monitor_freep) Monitor *m = NULL;
        sigset_t mask;
        int r;

        if (!dir || !ret)
                return -EINVAL;
        if (ret_error)
                *ret_error = NULL;

        /* Blocked before the init exists, so that its SIGCHLD cannot be lost. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return -errno;

        m = calloc(1, sizeof(Monitor));
        if (!m)
                return -ENOMEM;
        m->dir_fd = m->listen_fd = m->out_fd = m->err_fd = m->oom_fd = m->oom_control_fd = -EBADF;
        m->init = CONTAINER_INIT_NULL;
        m->status = MONITOR_STATUS_INIT;
        m->dir = strdup(dir);
        if (!m->dir)
                return -ENOMEM;

        r = monitor_setup(m, ret_error);
        if (r < 0) {
                monitor_rollback(m);
                if (ret_error && !*ret_error)
                        (void) setup_fail(ret_error, r, "%s", strerror(-r));
                return r;
        }
        *ret = TAKE_PTR(m);
        return 0;
}

int monitor_run(Monitor *m) {
        if (!m || !m->event)
                return -EINVAL;
        return sd_event_loop(m->event);
}
