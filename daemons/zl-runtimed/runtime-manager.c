/* SPDX-License-Identifier: Apache-2.0 */
/* runtime-manager.c: zl-runtimed's containers, their monitors and recovery after a restart. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "config.h"
#include "fileio.h"
#include "hostname-util.h"
#include "log.h"
#include "monitor-client.h"
#include "monitor.h"
#include "oci-config.h"
#include "path-util.h"
#include "runtime-internal.h"
#include "runtime-manager.h"
#include "runtime-storage.h"
#include "string-util.h"

#define CONTAINER_FILE "container.json"

struct PendingRequest {
        PendingRequest *next;
        uint64_t id;
        const char *cmd; /* static */
        manager_done_t done; /* NULL: nobody waits for the reply */
        void *userdata;
};

static void pending_list_fail(PendingRequest **list, int r, const char *error) {
        while (*list) {
                PendingRequest *p = *list;

                *list = p->next;
                if (p->done)
                        p->done(r, error, p->userdata);
                free(p);
        }
}

static int pending_add(PendingRequest **list, uint64_t id, const char *cmd, manager_done_t done,
                       void *userdata) {
        PendingRequest *p = new0(PendingRequest, 1), **tail = list;

        if (!p)
                return -ENOMEM;
        *p = (PendingRequest){ .id = id, .cmd = cmd, .done = done, .userdata = userdata };
        /* Kept in order, so waiters complete in the order they came. */
        while (*tail)
                tail = &(*tail)->next;
        *tail = p;
        return 0;
}

static PendingRequest *pending_take(PendingRequest **list, uint64_t id) {
        for (PendingRequest **p = list; *p; p = &(*p)->next)
                if ((*p)->id == id) {
                        PendingRequest *found = *p;
                        *p = found->next;
                        found->next = NULL;
                        return found;
                }
        return NULL;
}

static void container_free(Container *c) {
        if (!c)
                return;
        /* Callers have completed the waiters; this only catches what is left on exit. */
        pending_list_fail(&c->pending, -ECANCELED, "zl-runtimed is stopping");
        pending_list_fail(&c->exit_waiters, -ECANCELED, "zl-runtimed is stopping");
        pending_list_fail(&c->remove_waiters, -ECANCELED, "zl-runtimed is stopping");
        sd_event_source_disable_unref(c->client_source);
        monitor_client_free(c->client);
        free(c->id);
        free(c->name);
        free(c->image);
        free(c->dir);
        free(c->rootfs);
        free(c->bundle);
        strv_free(c->labels);
        json_decref(c->options);
        free(c->error);
        network_info_done(&c->net);
        free(c);
}

Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        manager_exec_free_all(m);
        for (size_t i = 0; i < m->n_containers; i++)
                container_free(m->containers[i]);
        free(m->containers);
        free(m->state_dir);
        free(m->containers_dir);
        free(m->seccomp_cache_dir);
        free(m->monitor_path);
        sd_event_unref(m->event);
        return mfree(m);
}

/* zl-monitor is installed beside zl-runtimed, and built beside it: look there first, so a
 * build tree (zlctl local start) runs its own monitor rather than an installed one. */
static char *monitor_default_path(void) {
        char *p;

        if (path_beside_self("zl-monitor", X_OK, &p) >= 0)
                return p;
        return strdup(ZL_LIBEXECDIR "/zl-monitor");
}

int manager_new(sd_event *event, const char *state_dir, const ManagerCallbacks *callbacks,
                void *userdata, Manager **ret) {
        _cleanup_(manager_freep) Manager *m = NULL;
        const char *e;
        int r;

        assert(event);
        assert(state_dir);
        assert(ret);

        m = new0(Manager, 1);
        if (!m)
                return -ENOMEM;
        m->event = sd_event_ref(event);
        if (callbacks)
                m->callbacks = *callbacks;
        m->userdata = userdata;
        m->state_dir = strdup(state_dir);
        m->containers_dir = path_join(state_dir, "containers");
        /* Compiled seccomp programs, shared by the monitors: compiling Docker's profile is most
         * of a container's start otherwise. */
        m->seccomp_cache_dir = path_join(state_dir, "seccomp-cache");
        e = getenv("ZL_MONITOR_PATH");
        m->monitor_path = !isempty(e) ? strdup(e) : monitor_default_path();
        if (!m->state_dir || !m->containers_dir || !m->seccomp_cache_dir || !m->monitor_path)
                return -ENOMEM;
        r = mkdir_p(m->containers_dir, 0700);
        if (r < 0)
                return r;
        m->cgroup_mode = cgroup_detect(NULL);
        *ret = TAKE_PTR(m);
        return 0;
}

void manager_set_network_backend(Manager *m, const NetworkBackend *backend, void *userdata) {
        assert(m);
        m->network = backend;
        m->network_userdata = userdata;
}

size_t manager_get_n_containers(Manager *m) {
        return m->n_containers;
}

Container *manager_get_container(Manager *m, size_t i) {
        return i < m->n_containers ? m->containers[i] : NULL;
}

Container *manager_get_by_id(Manager *m, const char *id) {
        for (size_t i = 0; i < m->n_containers; i++)
                if (streq(m->containers[i]->id, id))
                        return m->containers[i];
        return NULL;
}

int manager_find(Manager *m, const char *spec, Container **ret) {
        Container *found = NULL;
        size_t n;

        assert(m);
        assert(ret);
        if (isempty(spec))
                return -ENOENT;
        found = manager_get_by_id(m, spec);
        if (!found)
                for (size_t i = 0; i < m->n_containers; i++)
                        if (streq(m->containers[i]->name, spec)) {
                                found = m->containers[i];
                                break;
                        }
        if (!found && container_id_prefix_is_valid(spec)) {
                n = strlen(spec);
                for (size_t i = 0; i < m->n_containers; i++)
                        if (strneq(m->containers[i]->id, spec, n)) {
                                if (found)
                                        return -ENOTUNIQ;
                                found = m->containers[i];
                        }
        }
        if (!found)
                return -ENOENT;
        *ret = found;
        return 0;
}

const char *container_get_label(Container *c, const char *key) {
        for (size_t i = 0; c->labels && c->labels[i] && c->labels[i + 1]; i += 2)
                if (streq(c->labels[i], key))
                        return c->labels[i + 1];
        return NULL;
}

static int container_add(Manager *m, Container *c) {
        Container **a;
        size_t i;

        a = reallocarray(m->containers, m->n_containers + 1, sizeof(Container *));
        if (!a)
                return -ENOMEM;
        m->containers = a;
        /* Oldest first, also when recovery finds them in directory order. */
        for (i = m->n_containers; i > 0 && m->containers[i - 1]->created_at > c->created_at; i--)
                m->containers[i] = m->containers[i - 1];
        m->containers[i] = c;
        m->n_containers++;
        c->manager = m;
        return 0;
}

static void container_unlink(Manager *m, Container *c) {
        for (size_t i = 0; i < m->n_containers; i++)
                if (m->containers[i] == c) {
                        memmove(m->containers + i, m->containers + i + 1,
                                (m->n_containers - i - 1) * sizeof(Container *));
                        m->n_containers--;
                        return;
                }
}

int runtime_cgroup_path(const char *id, char **ret) {
        char *p = strjoin("zlayer/", id);

        if (!p)
                return -ENOMEM;
        *ret = p;
        return 0;
}

/* Kills whatever is left in the container's cgroup and removes it. */
static int container_cgroup_remove(Manager *m, const char *id) {
        _cleanup_(cgroup_freep) Cgroup *cg = NULL;
        _cleanup_free_ char *path = NULL;
        int r;

        if (m->cgroup_mode < 0)
                return 0;
        r = runtime_cgroup_path(id, &path);
        if (r < 0)
                return r;
        r = cgroup_open(NULL, m->cgroup_mode, path, &cg);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        r = cgroup_kill(cg);
        if (r < 0)
                log_debug_errno(r, "Failed to kill cgroup '%s', ignoring: %m", path);
        return cgroup_destroy(cg);
}

static void container_network_release(Container *c);

static void container_notify(Container *c, bool state_changed) {
        Manager *m = c->manager;

        /* Before the bus hears of the exit, so that it sees the address gone with it. */
        if (state_changed && c->state == CONTAINER_EXITED)
                container_network_release(c);
        if (m->callbacks.changed)
                m->callbacks.changed(m, c, state_changed, m->userdata);
}

/* Applies a status object (status.json, an event or a reply). Returns whether anything the bus
 * shows changed; *ret_state_changed says whether the state did. */
static bool container_apply_status(Container *c, const MonitorStatus *s, bool *ret_state_changed) {
        ContainerState state = (ContainerState) s->state;
        bool changed = false, state_changed = false;
        /* The contract's Pid is that of a live init only. */
        pid_t pid = state == CONTAINER_RUNNING || state == CONTAINER_PAUSED ? s->pid : 0;

        if (state != c->state) {
                c->state = state;
                changed = state_changed = true;
        }
        if (pid != c->pid || s->exit_code != c->exit_code || s->oom_killed != c->oom_killed ||
            s->started_at != c->started_at || s->finished_at != c->finished_at)
                changed = true;
        c->pid = pid;
        c->init_pid =
                IN_SET(state, CONTAINER_CREATED, CONTAINER_RUNNING, CONTAINER_PAUSED) ? s->pid : 0;
        c->exit_code = s->exit_code;
        c->signal = s->signal;
        c->oom_killed = s->oom_killed;
        c->started_at = s->started_at;
        c->finished_at = s->finished_at;
        if (s->error && !streq_ptr(s->error, c->error)) {
                char *e = strdup(s->error);
                if (e)
                        free_and_replace(c->error, e);
        }
        if (ret_state_changed)
                *ret_state_changed = state_changed;
        return changed;
}

static void container_complete_exit_waiters(Container *c) {
        pending_list_fail(&c->exit_waiters, 0, NULL);
}

static int container_write_status(Container *c) {
        _cleanup_(json_decrefp) json_t *j = json_object();
        _cleanup_free_ char *text = NULL, *path = NULL;
        MonitorStatus s = {
                .state = (MonitorState) c->state,
                .pid = c->pid,
                .started_at = c->started_at,
                .finished_at = c->finished_at,
                .exit_code = c->exit_code,
                .signal = c->signal,
                .oom_killed = c->oom_killed,
                .error = c->error,
        };
        int r;

        if (!j)
                return -ENOMEM;
        r = monitor_status_to_json(&s, j);
        if (r < 0)
                return r;
        text = json_dumps(j, JSON_COMPACT);
        path = path_join(c->dir, MONITOR_STATUS_FILE);
        if (!text || !path)
                return -ENOMEM;
        return write_file_atomic_full(path, text, strlen(text), 0600, WRITE_FILE_NO_SYNC);
}

/* The monitor is gone while the container was not known to have exited: it crashed or was
 * killed. The init may still run, orphaned: kill everything and record what we know. */
static void container_monitor_lost(Container *c) {
        Manager *m = c->manager;
        int r;

        r = container_cgroup_remove(m, c->id);
        if (r < 0)
                log_warning_errno(r, "Failed to remove the cgroup of container %s, ignoring: %m",
                                  c->id);
        c->state = CONTAINER_EXITED;
        c->pid = 0;
        c->exit_code = -1;
        if (c->finished_at == 0)
                c->finished_at = now(CLOCK_REALTIME);
        {
                char *e = strdup("monitor lost");
                if (e)
                        free_and_replace(c->error, e);
        }
        r = container_write_status(c);
        if (r < 0)
                log_warning_errno(r, "Failed to write the status of container %s, ignoring: %m",
                                  c->id);
        m->monitors_lost_total++;
}

static int container_read_status(Container *c, MonitorStatus *ret) {
        _cleanup_(json_decrefp) json_t *j = NULL;
        _cleanup_free_ char *path = path_join(c->dir, MONITOR_STATUS_FILE);
        json_error_t e;

        if (!path)
                return -ENOMEM;
        j = json_load_file(path, 0, &e);
        if (!j)
                return access(path, F_OK) < 0 ? -errno : -EBADMSG;
        return monitor_status_from_json(j, ret);
}

static void container_finish_remove(Container *c);

static void container_detach_client(Container *c) {
        c->client_source = sd_event_source_disable_unref(c->client_source);
        c->client = monitor_client_free(c->client);
}

static void container_monitor_gone(Container *c) {
        MonitorStatus s = MONITOR_STATUS_INIT;
        bool state_changed = false, changed = false;
        int r;

        container_detach_client(c);
        r = container_read_status(c, &s);
        if (r >= 0)
                changed = container_apply_status(c, &s, &state_changed);
        monitor_status_done(&s);
        if (c->state != CONTAINER_EXITED) {
                log_warning("The monitor of container %s ('%s') went away; killing the container.",
                            c->id, c->name);
                container_monitor_lost(c);
                changed = state_changed = true;
        }
        pending_list_fail(&c->pending, -EHOSTUNREACH, "the container's monitor went away");
        if (changed)
                container_notify(c, state_changed);
        container_complete_exit_waiters(c);
        if (c->remove_waiters)
                container_finish_remove(c);
}

static void container_handle_message(Container *c, json_t *msg) {
        Manager *m = c->manager;
        MonitorStatus s = MONITOR_STATUS_INIT;
        bool have_status, state_changed = false, changed = false;
        const char *event = json_string_value(json_object_get(msg, "event"));

        have_status = monitor_status_from_json(msg, &s) >= 0;
        if (event) {
                if (streq(event, "oom")) {
                        m->oom_total++;
                        c->oom_killed = true;
                        log_struct(LOG_WARNING,
                                   LOG_FIELDS({ "ZL_EVENT", "container-oom" },
                                              { "ZL_CONTAINER_ID", c->id },
                                              { "ZL_CONTAINER_NAME", c->name }),
                                   "Container %s ('%s') was OOM-killed.", c->id, c->name);
                        if (m->callbacks.oom)
                                m->callbacks.oom(m, c, m->userdata);
                        changed = true;
                }
                if (have_status)
                        changed = container_apply_status(c, &s, &state_changed) || changed;
                if (state_changed && c->state == CONTAINER_EXITED)
                        log_struct(LOG_INFO,
                                   LOG_FIELDS({ "ZL_EVENT", "container-exited" },
                                              { "ZL_CONTAINER_ID", c->id },
                                              { "ZL_CONTAINER_NAME", c->name }),
                                   "Container %s ('%s') exited with code %d.", c->id, c->name,
                                   c->exit_code);
                if (changed)
                        container_notify(c, state_changed);
                if (c->state == CONTAINER_EXITED)
                        container_complete_exit_waiters(c);
        } else if (json_is_integer(json_object_get(msg, "id"))) {
                uint64_t id = (uint64_t) json_integer_value(json_object_get(msg, "id"));
                PendingRequest *p = pending_take(&c->pending, id);
                const char *error = json_string_value(json_object_get(msg, "error"));
                bool ok = json_is_true(json_object_get(msg, "ok"));

                if (!p) {
                        log_debug("Container %s: reply to unknown request %" PRIu64 ", ignoring.",
                                  c->id, id);
                        goto finish;
                }
                if (ok) {
                        if (have_status)
                                changed = container_apply_status(c, &s, &state_changed);
                        else {
                                /* A reply without the status: the state the command leads to,
                                 * unless an event already told us more. */
                                ContainerState want = _CONTAINER_STATE_INVALID;

                                if (streq(p->cmd, "start") && c->state == CONTAINER_CREATED)
                                        want = CONTAINER_RUNNING;
                                else if (streq(p->cmd, "pause") && c->state == CONTAINER_RUNNING)
                                        want = CONTAINER_PAUSED;
                                else if (streq(p->cmd, "resume") && c->state == CONTAINER_PAUSED)
                                        want = CONTAINER_RUNNING;
                                if (want >= 0) {
                                        c->state = want;
                                        changed = state_changed = true;
                                }
                        }
                        if (changed)
                                container_notify(c, state_changed);
                        if (streq(p->cmd, "stop") && c->state != CONTAINER_EXITED) {
                                /* StopContainer returns once the container has exited: the
                                 * event may still be on its way. */
                                p->next = c->exit_waiters;
                                c->exit_waiters = p;
                                p = NULL;
                        } else if (p->done)
                                p->done(0, NULL, p->userdata);
                } else {
                        int64_t e = json_integer_value(json_object_get(msg, "errno"));

                        if (p->done)
                                p->done(e > 0 && e < 4096 ? -(int) e : -EIO,
                                        error ?: "the monitor refused the request", p->userdata);
                }
                free(p);
        }
finish:
        monitor_status_done(&s);
}

static int on_client_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Container *c = userdata;

        (void) s;
        (void) fd;
        (void) revents;
        for (;;) {
                _cleanup_(json_decrefp) json_t *msg = NULL;
                int r;

                r = monitor_client_receive(c->client, &msg);
                if (r < 0) {
                        if (r != -ECONNRESET)
                                log_debug_errno(r, "Container %s: monitor connection: %m", c->id);
                        container_monitor_gone(c);
                        return 0;
                }
                if (r == 0)
                        return 0;
                container_handle_message(c, msg);
                /* A removal may have freed c. */
                if (!c->client)
                        return 0;
        }
}

static int container_attach(Container *c) {
        _cleanup_(monitor_client_freep) MonitorClient *client = NULL;
        int r;

        r = monitor_client_connect(c->dir, &client);
        if (r < 0)
                return r;
        r = sd_event_add_io(c->manager->event, &c->client_source, monitor_client_get_fd(client),
                            EPOLLIN, on_client_io, c);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(c->client_source, "monitor-client");
        c->client = TAKE_PTR(client);
        return 0;
}

static int container_send(Container *c, const char *cmd, json_t *args, manager_done_t done,
                          void *userdata, char **ret_error) {
        uint64_t id;
        int r;

        if (!c->client) {
                if (ret_error)
                        *ret_error = strdup("the container has no monitor");
                return -EHOSTUNREACH;
        }
        r = monitor_client_send(c->client, cmd, args, &id);
        if (r < 0) {
                if (ret_error)
                        (void) asprintf(ret_error, "Failed to talk to the monitor: %s",
                                        strerror(-r));
                return r;
        }
        r = pending_add(&c->pending, id, cmd, done, userdata);
        if (r < 0)
                return r;
        return 0;
}

static int container_to_json(Container *c, json_t **ret) {
        _cleanup_(json_decrefp) json_t *j = NULL, *labels = json_object();

        if (!labels)
                return -ENOMEM;
        for (size_t i = 0; c->labels && c->labels[i] && c->labels[i + 1]; i += 2)
                if (json_object_set_new(labels, c->labels[i], json_string(c->labels[i + 1])) < 0)
                        return -ENOMEM;
        j = json_pack("{ss ss sO ss sI si sO* ss* ss*}", "id", c->id, "name", c->name, "labels",
                      labels, "image", strempty(c->image), "created_at", (json_int_t) c->created_at,
                      "stop_signal", c->stop_signal, "options", c->options, "rootfs", c->rootfs,
                      "bundle", c->bundle);
        if (!j)
                return -ENOMEM;
        *ret = TAKE_PTR(j);
        return 0;
}

static int container_from_json(Manager *m, const char *dir, json_t *j, Container **ret) {
        const char *id = NULL, *name = NULL, *image = NULL, *rootfs = NULL, *bundle = NULL;
        json_t *labels = NULL, *options = NULL, *v;
        json_int_t created_at = 0;
        int stop_signal = SIGTERM;
        Container *c;
        const char *key;
        json_error_t e;

        if (json_unpack_ex(j, &e, 0, "{ss ss s?o s?s s?I s?i s?o s?s s?s}", "id", &id, "name",
                           &name, "labels", &labels, "image", &image, "created_at", &created_at,
                           "stop_signal", &stop_signal, "options", &options, "rootfs", &rootfs,
                           "bundle", &bundle) < 0)
                return -EBADMSG;
        if (!container_id_is_valid(id) || !container_name_is_valid(name))
                return -EBADMSG;

        c = new0(Container, 1);
        if (!c)
                return -ENOMEM;
        c->id = strdup(id);
        c->name = strdup(name);
        c->image = image ? strdup(image) : NULL;
        c->dir = strdup(dir);
        c->rootfs = rootfs ? strdup(rootfs) : NULL;
        c->bundle = bundle ? strdup(bundle) : NULL;
        c->options = options ? json_incref(options) : json_object();
        c->created_at = (usec_t) created_at;
        c->stop_signal = stop_signal;
        c->exit_code = -1;
        c->network = _NETWORK_MODE_INVALID;
        c->manager = m;
        if (!c->id || !c->name || (image && !c->image) || !c->dir || (rootfs && !c->rootfs) ||
            (bundle && !c->bundle) || !c->options)
                goto oom;
        json_object_foreach (labels, key, v) {
                if (!json_is_string(v))
                        continue;
                if (strv_extend(&c->labels, key) < 0 ||
                    strv_extend(&c->labels, json_string_value(v)) < 0)
                        goto oom;
        }
        *ret = c;
        return 0;
oom:
        container_free(c);
        return -ENOMEM;
}

/* Container state is written whole but not fsynced: it must survive a restart of the daemon,
 * and the containers it describes do not survive the machine. */
static int write_json_atomic(const char *dir, const char *file, json_t *j) {
        _cleanup_free_ char *path = path_join(dir, file), *text = NULL;

        text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (!path || !text)
                return -ENOMEM;
        return write_file_atomic_full(path, text, strlen(text), 0600, WRITE_FILE_NO_SYNC);
}

static bool name_in_use(Manager *m, const char *name) {
        for (size_t i = 0; i < m->n_containers; i++)
                if (streq(m->containers[i]->name, name))
                        return true;
        return false;
}

/* Errors of the container set-up the monitor reports, which are the config's fault. */
static bool error_is_config(int r) {
        return IN_SET(r, -EINVAL, -ENOENT, -ENOEXEC, -EACCES, -ENOTDIR, -EOPNOTSUPP, -EBADMSG,
                      -ELOOP, -ENAMETOOLONG, -EPERM);
}

/* A directory with the image's /etc/passwd and /etc/group as the merged layers show them, to
 * resolve the user in without mounting anything. */
static int image_user_root(char *const *lowers, const char *dir, char **ret) {
        _cleanup_free_ char *root = path_join(dir, "userdb"), *etc = NULL;
        int r;

        if (!root)
                return -ENOMEM;
        etc = path_join(root, "etc");
        if (!etc)
                return -ENOMEM;
        r = mkdir_p(etc, 0700);
        if (r < 0)
                return r;
        static const char *const files[] = { "passwd", "group" };
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                const char *file = files[i];
                _cleanup_free_ char *src = NULL, *data = NULL, *dst = path_join(etc, file);
                size_t size;

                if (!dst)
                        return -ENOMEM;
                _cleanup_free_ char *rel = path_join("etc", file);
                struct stat st;

                if (!rel)
                        return -ENOMEM;
                r = layers_lookup(lowers, rel, &st, &src);
                if (r == -ENOENT || (r >= 0 && !S_ISREG(st.st_mode)))
                        continue;
                if (r < 0)
                        return r;
                r = read_full_file(src, 16 * 1024 * 1024, &data, &size);
                if (r < 0)
                        return r;
                r = write_file_atomic_full(dst, data, size, 0600, WRITE_FILE_NO_SYNC);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(root);
        return 0;
}

/* ---- networking ---------------------------------------------------------------------------- */

/* Detaches a "private" container from the back end. Nothing to do for one that is not attached;
 * a back end that is away is logged and ignored: zl-netd's start-up sweep drops attachments
 * whose veth went with the container's namespace. */
static void container_network_detach(Container *c) {
        Manager *m = c->manager;
        _cleanup_free_ char *error = NULL;
        int r;

        /* An exited container was detached when it exited, unless that failed. */
        if (c->network != NETWORK_PRIVATE || !m->network ||
            (c->state == CONTAINER_EXITED && !c->net.address))
                return;
        r = m->network->detach(m->network_userdata, c->id, &error);
        if (r < 0 && r != -ENOENT)
                log_warning("Failed to detach container %s from the network, ignoring (zl-netd "
                            "drops attachments whose namespace is gone when it starts): %s",
                            c->id, error ?: strerror(-r));
}

/* An exited container's namespace is gone, and its veth with it; containers never start again,
 * so its address goes back to the node now rather than at removal. When the back end cannot be
 * told, the address stays recorded and removal tries again (zl-netd's start-up sweep frees it
 * meanwhile, the veth being gone). */
static void container_network_release(Container *c) {
        Manager *m = c->manager;
        _cleanup_free_ char *error = NULL;
        int r;

        if (c->network != NETWORK_PRIVATE || !m->network || !c->net.address)
                return;
        r = m->network->detach(m->network_userdata, c->id, &error);
        if (r < 0 && r != -ENOENT) {
                log_warning("Failed to release the address of exited container %s, ignoring: %s",
                            c->id, error ?: strerror(-r));
                return;
        }
        network_info_done(&c->net);
        r = network_state_save(c->dir, c->network, NULL);
        if (r < 0)
                log_warning_errno(r,
                                  "Failed to record the network state of container %s, "
                                  "ignoring: %m",
                                  c->id);
}

/* Attaches a just-created container (its init waits before execve) through the back end, with
 * the network namespace of its init, then writes what the back end gave into the files bound on
 * its /etc/hosts and /etc/resolv.conf, and records the addresses in network.json. On failure
 * nothing stays attached. */
static int container_network_attach(Container *c, const char *hostname, char **ret_error) {
        _cleanup_(network_info_done) NetworkInfo info = {};
        _cleanup_free_ char *netns = NULL, *error = NULL;
        MonitorStatus s = MONITOR_STATUS_INIT;
        Manager *m = c->manager;
        pid_t pid;
        int r;

        r = container_read_status(c, &s);
        pid = s.pid;
        monitor_status_done(&s);
        if (r >= 0 && pid <= 0)
                r = -ESRCH;
        if (r >= 0)
                r = network_netns_path(pid, &netns);
        if (r < 0) {
                if (ret_error)
                        (void) asprintf(ret_error,
                                        "network: cannot find the container's network namespace: "
                                        "%s",
                                        strerror(-r));
                return r;
        }
        /* The back end names the address in the hosts file after a valid hostname only. */
        r = m->network->attach(m->network_userdata, c->id, netns,
                               hostname && hostname_is_valid(hostname) ? hostname : NULL, 0, &info,
                               &error);
        if (r < 0) {
                if (ret_error)
                        (void) asprintf(ret_error, "network: %s", error ?: strerror(-r));
                /* A reply that was lost (a timeout) may leave an attachment behind. */
                if (r != -EHOSTUNREACH)
                        container_network_detach(c);
                return r;
        }
        r = network_files_fill(c->dir, &info);
        if (r < 0) {
                if (ret_error)
                        (void) asprintf(ret_error,
                                        "network: cannot write the container's hosts and "
                                        "resolv.conf: %s",
                                        strerror(-r));
                container_network_detach(c);
                return r;
        }
        info.hosts = mfree(info.hosts);
        info.resolv_conf = mfree(info.resolv_conf);
        r = network_state_save(c->dir, NETWORK_PRIVATE, &info);
        if (r < 0) {
                if (ret_error)
                        (void) asprintf(ret_error, "network: cannot record the addresses: %s",
                                        strerror(-r));
                container_network_detach(c);
                return r;
        }
        network_info_done(&c->net);
        c->net = info;
        info = (NetworkInfo){};
        log_debug("Container %s attached: %s/%u, gateway %s.", c->id, c->net.address,
                  c->net.prefix_length, strna(c->net.gateway));
        return 0;
}

/* Takes down a container whose creation failed after its monitor started: kills the init and
 * waits (briefly) for the monitor to end, so that it writes nothing into the directory that is
 * removed next. */
static void container_abort(Container *c) {
        _cleanup_(json_decrefp) json_t *args = json_pack("{sisb}", "signal", SIGKILL, "all", true);
        usec_t deadline = now(CLOCK_MONOTONIC) + 5 * USEC_PER_SEC;
        int r;

        if (c->client && args) {
                r = monitor_client_call(c->client, "kill", args, 2 * USEC_PER_SEC, NULL, NULL);
                if (r < 0)
                        log_debug_errno(r, "Failed to kill container %s, ignoring: %m", c->id);
        }
        while (c->client) {
                _cleanup_(json_decrefp) json_t *msg = NULL;
                struct pollfd p = { .fd = monitor_client_get_fd(c->client), .events = POLLIN };
                usec_t n = now(CLOCK_MONOTONIC);

                r = monitor_client_receive(c->client, &msg);
                if (r < 0)
                        break; /* the monitor is gone */
                if (r > 0)
                        continue;
                if (n >= deadline) {
                        log_warning("The monitor of container %s did not end, ignoring.", c->id);
                        break;
                }
                if (poll(&p, 1, (int) DIV_ROUND_UP(deadline - n, USEC_PER_MSEC)) < 0 &&
                    errno != EINTR)
                        break;
        }
        container_detach_client(c);
        r = container_cgroup_remove(c->manager, c->id);
        if (r < 0)
                log_debug_errno(r, "Failed to remove the cgroup of container %s, ignoring: %m",
                                c->id);
}

static int create_common(Manager *m, const char *name, const char *config_json,
                         const ContainerOptions *o, const ContainerImage *img, Container **ret,
                         char **ret_error) {
        _cleanup_(container_config_done) ContainerConfig config = {};
        _cleanup_free_ char *error = NULL, *dir = NULL, *cgroup = NULL, *gen_name = NULL;
        _cleanup_free_ char *upper = NULL, *work = NULL;
        _cleanup_free_ char *hostname = NULL, *hosts = NULL, *resolv = NULL, *volumes_dir = NULL;
        _cleanup_(json_decrefp) json_t *options = NULL, *cj = NULL, *spec_json = NULL;
        _cleanup_(storage_list_done) StorageList storage = {};
        _cleanup_strv_free_ char **created_volumes = NULL;
        char id[CONTAINER_ID_LENGTH + 1];
        Container *c = NULL;
        MonitorSpec spec = {};
        NetworkMode network;
        int r;

        assert(m);
        assert(o);
        assert(ret);

        r = container_id_generate(id);
        if (r < 0)
                return r;
        if (isempty(name)) {
                /* "zl-" and 8 hex digits; retried on the (unlikely) collision. */
                for (int tries = 0; tries < 16; tries++) {
                        char more[CONTAINER_ID_LENGTH + 1];

                        r = container_id_generate(more);
                        if (r < 0)
                                return r;
                        gen_name = mfree(gen_name);
                        if (asprintf(&gen_name, "zl-%.8s", more) < 0)
                                return -ENOMEM;
                        if (!name_in_use(m, gen_name))
                                break;
                }
                name = gen_name;
        } else if (!container_name_is_valid(name)) {
                r = -EINVAL;
                (void) asprintf(&error,
                                "name: '%s' is not 1-63 characters of [a-zA-Z0-9_.-] starting "
                                "with a letter or digit",
                                name);
                goto fail;
        }
        if (name_in_use(m, name)) {
                Container *other = NULL;

                (void) manager_find(m, name, &other);
                r = -EEXIST;
                (void) asprintf(&error, "name: '%s' is already used by container %s", name,
                                other ? other->id : "?");
                goto fail;
        }
        if (o->labels && strv_length(o->labels) % 2 != 0)
                return -EINVAL;
        if (o->sysctls && strv_length(o->sysctls) % 2 != 0)
                return -EINVAL;
        /* Checked before anything is created; the directories are made once the container's
         * own exists. */
        r = storage_parse(o->storage, &storage, &error);
        if (r < 0)
                goto fail;

        /* ZLayer's default config names the host after the container, as Docker does with
         * the id: a container should not see the node's name by default. */
        ContainerOptions effective = *o;
        if (isempty(config_json) && !effective.hostname)
                effective.hostname = (char *) name;
        if (img)
                effective.image = (char *) img->ref;

        dir = path_join(m->containers_dir, id);
        r = runtime_cgroup_path(id, &cgroup);
        if (!dir || r < 0) {
                r = -ENOMEM;
                goto fail;
        }
        if (!img) {
                r = container_config_build(config_json, &effective, &config, &error);
                if (r < 0)
                        goto fail;
        }
        r = container_options_to_json(&effective, &options);
        if (r < 0)
                goto fail;
        if (mkdir(dir, 0700) < 0) {
                r = -errno;
                goto fail;
        }
        if (img) {
                /* The overlay's mount point, upper and work directories live with the container
                 * and go with it: nothing of the image is copied. */
                _cleanup_free_ char *root = path_join(dir, "rootfs"), *user_root = NULL;

                upper = path_join(dir, "upper");
                work = path_join(dir, "work");
                if (!root || !upper || !work) {
                        r = -ENOMEM;
                        goto fail_dir;
                }
                if (mkdir(root, 0755) < 0 || mkdir(upper, 0755) < 0 || mkdir(work, 0700) < 0) {
                        r = -errno;
                        goto fail_dir;
                }
                if (o->user || !isempty(img->user)) {
                        r = image_user_root(img->lowers, dir, &user_root);
                        if (r < 0)
                                goto fail_dir;
                }
                r = container_config_build_image(img, root, user_root, &effective, &config, &error);
                if (user_root)
                        (void) rm_rf(user_root);
                if (r < 0)
                        goto fail_dir;
                r = container_image_annotate(img, options, &error);
                if (r < 0)
                        goto fail_dir;
        }

        /* Before the network files: a volume mounted on /etc/hosts keeps its place. */
        volumes_dir = path_join(m->state_dir, "volumes");
        if (!volumes_dir) {
                r = -ENOMEM;
                goto fail_dir;
        }
        r = storage_prepare(&storage, volumes_dir, dir, img ? img->lowers : NULL, &created_volumes,
                            &error);
        if (r >= 0)
                r = container_config_add_storage(&config, &storage, volumes_dir, dir, &error);
        if (r < 0)
                goto fail_dir;

        /* The files the container's /etc/hosts and /etc/resolv.conf are bound to exist before
         * the engine mounts them: a "host" container's are copies of the host's, a "private"
         * one's are filled after the attach, in place. */
        r = network_mode_of_config(effective.network, config.json, &network, &hostname);
        if (r < 0)
                goto fail_dir;
        if (network == NETWORK_HOST || (network == NETWORK_PRIVATE && m->network)) {
                r = network_files_prepare(dir, network, NULL, &hosts, &resolv);
                if (r >= 0)
                        r = container_config_add_network_files(&config, hosts, resolv, &error);
                if (r < 0)
                        goto fail_dir;
        }
        r = network_state_save(dir, network, NULL);
        if (r < 0)
                goto fail_dir;

        c = new0(Container, 1);
        if (!c) {
                r = -ENOMEM;
                goto fail_dir;
        }
        c->id = strdup(id);
        c->name = strdup(name);
        c->image = effective.image ? strdup(effective.image) : NULL;
        c->dir = strdup(dir);
        c->rootfs = strdup(config.root_path);
        c->bundle = o->bundle ? strdup(o->bundle) : NULL;
        c->options = TAKE_PTR(options);
        c->created_at = now(CLOCK_REALTIME);
        c->stop_signal = config.stop_signal;
        c->state = CONTAINER_CREATED;
        c->exit_code = -1;
        c->network = network;
        c->manager = m;
        if (!c->id || !c->name || (effective.image && !c->image) || !c->dir || !c->rootfs ||
            (o->bundle && !c->bundle)) {
                r = -ENOMEM;
                goto fail_dir;
        }
        for (size_t i = 0; o->labels && o->labels[i]; i++)
                if (strv_extend(&c->labels, o->labels[i]) < 0) {
                        r = -ENOMEM;
                        goto fail_dir;
                }

        {
                _cleanup_free_ char *p = path_join(dir, MONITOR_CONFIG_FILE);
                if (!p) {
                        r = -ENOMEM;
                        goto fail_dir;
                }
                r = write_file_atomic_full(p, config.json, strlen(config.json), 0600,
                                           WRITE_FILE_NO_SYNC);
                if (r < 0)
                        goto fail_dir;
        }
        spec = (MonitorSpec){
                .id = c->id,
                .name = c->name,
                .cgroup = cgroup,
                .default_seccomp = config.default_seccomp,
                .seccomp_cache = m->seccomp_cache_dir,
                .log_max_size = o->log_max_size != CONTAINER_OPTION_UNSET ? o->log_max_size : 0,
                .log_max_files = o->log_max_files != CONTAINER_OPTION_UNSET
                                         ? (unsigned) o->log_max_files
                                         : 0,
                .log_journal = true,
                .stop_signal = config.stop_signal,
                .lowers = img ? (char **) img->lowers : NULL,
                .upper = upper,
                .work = work,
        };
        r = monitor_spec_to_json(&spec, &spec_json);
        if (r >= 0)
                r = write_json_atomic(dir, MONITOR_SPEC_FILE, spec_json);
        if (r >= 0)
                r = container_to_json(c, &cj);
        if (r >= 0)
                r = write_json_atomic(dir, CONTAINER_FILE, cj);
        if (r < 0)
                goto fail_dir;

        /* Blocks the loop for the monitor's start-up (fork, exec, namespaces, rootfs: a few ms).
         * Acceptable for now; an operation object replying later would keep the loop free. */
        r = monitor_launch(m->monitor_path, dir, &error);
        if (r < 0) {
                if (error_is_config(r) && error)
                        r = -EBADMSG;
                goto fail_dir;
        }
        r = container_attach(c);
        if (r < 0) {
                /* The monitor runs but cannot be reached: take it down with its container. */
                error = mfree(error);
                (void) asprintf(&error, "Failed to connect to the monitor: %s", strerror(-r));
                (void) container_cgroup_remove(m, c->id);
                goto fail_dir;
        }
        {
                /* Exec in the created container joins the waiting init. */
                MonitorStatus st = MONITOR_STATUS_INIT;

                if (container_read_status(c, &st) >= 0 && st.state == MONITOR_STATE_CREATED)
                        c->init_pid = st.pid;
                monitor_status_done(&st);
        }
        if (c->network == NETWORK_PRIVATE && m->network) {
                error = mfree(error);
                r = container_network_attach(c, hostname, &error);
                if (r < 0) {
                        container_abort(c);
                        goto fail_dir;
                }
        }
        r = container_add(m, c);
        if (r < 0) {
                container_abort(c);
                container_network_detach(c);
                goto fail_dir;
        }
        m->created_total++;
        log_struct(LOG_INFO,
                   LOG_FIELDS({ "ZL_EVENT", "container-created" }, { "ZL_CONTAINER_ID", c->id },
                              { "ZL_CONTAINER_NAME", c->name }),
                   "Container %s ('%s') created.", c->id, c->name);
        container_notify(c, true);
        *ret = c;
        return 0;

fail_dir:
        container_free(c);
        if (rm_rf(dir) < 0)
                log_warning("Failed to remove '%s' after a failed create, ignoring.", dir);
        /* Named volumes this create made are empty: the container never ran. */
        for (size_t i = 0; created_volumes && created_volumes[i]; i++)
                if (rm_rf(created_volumes[i]) < 0)
                        log_warning("Failed to remove volume '%s' after a failed create, ignoring.",
                                    created_volumes[i]);
fail:
        if (ret_error)
                *ret_error = TAKE_PTR(error);
        return r;
}

int manager_create(Manager *m, const char *name, const char *config_json, const ContainerOptions *o,
                   Container **ret, char **ret_error) {
        return create_common(m, name, config_json, o, NULL, ret, ret_error);
}

int manager_create_image(Manager *m, const char *name, const ContainerOptions *o,
                         const ContainerImage *img, Container **ret, char **ret_error) {
        assert(img);
        assert(img->ref);
        assert(img->digest);
        assert(img->lowers && img->lowers[0]);
        return create_common(m, name, NULL, o, img, ret, ret_error);
}

static int busy(Container *c, const char *what, char **ret_error) {
        if (ret_error)
                (void) asprintf(ret_error, "cannot %s container %s: it is %s", what, c->id,
                                container_state_to_string(c->state));
        return -EBUSY;
}

int manager_start(Manager *m, Container *c, manager_done_t done, void *userdata, char **ret_error) {
        (void) m;
        if (c->state != CONTAINER_CREATED || c->remove_waiters)
                return busy(c, "start", ret_error);
        return container_send(c, "start", NULL, done, userdata, ret_error);
}

int manager_stop(Manager *m, Container *c, usec_t timeout, manager_done_t done, void *userdata,
                 char **ret_error) {
        _cleanup_(json_decrefp) json_t *args = NULL;

        (void) m;
        if (!IN_SET(c->state, CONTAINER_RUNNING, CONTAINER_PAUSED))
                return 1;
        args = json_pack("{sIsi}", "timeout_usec", (json_int_t) timeout, "signal", c->stop_signal);
        if (!args)
                return -ENOMEM;
        return container_send(c, "stop", args, done, userdata, ret_error);
}

int manager_kill(Manager *m, Container *c, int sig, bool all, manager_done_t done, void *userdata,
                 char **ret_error) {
        _cleanup_(json_decrefp) json_t *args = NULL;

        (void) m;
        if (!IN_SET(c->state, CONTAINER_RUNNING, CONTAINER_PAUSED))
                return busy(c, "kill", ret_error);
        args = json_pack("{sisb}", "signal", sig, "all", all);
        if (!args)
                return -ENOMEM;
        return container_send(c, "kill", args, done, userdata, ret_error);
}

int manager_pause(Manager *m, Container *c, manager_done_t done, void *userdata, char **ret_error) {
        (void) m;
        if (c->state != CONTAINER_RUNNING)
                return busy(c, "pause", ret_error);
        return container_send(c, "pause", NULL, done, userdata, ret_error);
}

int manager_resume(Manager *m, Container *c, manager_done_t done, void *userdata,
                   char **ret_error) {
        (void) m;
        if (c->state != CONTAINER_PAUSED)
                return busy(c, "resume", ret_error);
        return container_send(c, "resume", NULL, done, userdata, ret_error);
}

static void container_remove_now(Container *c) {
        Manager *m = c->manager;
        int r;

        r = container_cgroup_remove(m, c->id);
        if (r < 0)
                log_warning_errno(r, "Failed to remove the cgroup of container %s, ignoring: %m",
                                  c->id);
        container_network_detach(c);
        r = rm_rf(c->dir);
        if (r < 0)
                log_warning_errno(r, "Failed to remove '%s', ignoring: %m", c->dir);
        if (m->callbacks.removed)
                m->callbacks.removed(m, c, m->userdata);
        log_struct(LOG_INFO,
                   LOG_FIELDS({ "ZL_EVENT", "container-removed" }, { "ZL_CONTAINER_ID", c->id },
                              { "ZL_CONTAINER_NAME", c->name }),
                   "Container %s ('%s') removed.", c->id, c->name);
        m->removed_total++;
        container_unlink(m, c);
}

static void container_finish_remove(Container *c) {
        PendingRequest *waiters = TAKE_PTR(c->remove_waiters);

        container_detach_client(c);
        container_remove_now(c);
        container_free(c);
        pending_list_fail(&waiters, 0, NULL);
}

int manager_remove(Manager *m, Container *c, bool force, manager_done_t done, void *userdata,
                   char **ret_error) {
        int r;

        (void) m;
        if (IN_SET(c->state, CONTAINER_RUNNING, CONTAINER_PAUSED) && !force)
                return busy(c, "remove", ret_error);
        if (!c->client) {
                container_remove_now(c);
                container_free(c);
                return 1;
        }
        /* The monitor still runs: kill what is left and remove once it has ended, so that it
         * never writes into a directory we removed. */
        if (c->state != CONTAINER_EXITED && !c->remove_waiters) {
                _cleanup_(json_decrefp) json_t *args =
                        json_pack("{sisb}", "signal", SIGKILL, "all", true);
                if (!args)
                        return -ENOMEM;
                r = container_send(c, "kill", args, NULL, NULL, ret_error);
                if (r < 0)
                        return r;
        }
        return pending_add(&c->remove_waiters, 0, "remove", done, userdata);
}

int container_inspect(Container *c, char **ret_json) {
        _cleanup_(json_decrefp) json_t *j = NULL, *labels = json_object(), *config = NULL;
        _cleanup_free_ char *config_path = path_join(c->dir, MONITOR_CONFIG_FILE),
                            *log_path = path_join(c->dir, MONITOR_LOG_DIR "/container.log"),
                            *cgroup = NULL;
        char created[64], started[64], finished[64];
        char *s;

        if (!labels || !config_path || !log_path || runtime_cgroup_path(c->id, &cgroup) < 0)
                return -ENOMEM;
        for (size_t i = 0; c->labels && c->labels[i] && c->labels[i + 1]; i += 2)
                if (json_object_set_new(labels, c->labels[i], json_string(c->labels[i + 1])) < 0)
                        return -ENOMEM;
        config = json_load_file(config_path, 0, NULL);
        j = json_pack("{ss ss ss si si sb ss? ss? ss? ss sO ss? ss? ss ss ss so* ss? si}", "id",
                      c->id, "name", c->name, "state", container_state_to_string(c->state), "pid",
                      (int) c->pid, "exit_code", c->exit_code, "oom_killed", c->oom_killed,
                      "created_at", runtime_format_rfc3339(c->created_at, created), "started_at",
                      runtime_format_rfc3339(c->started_at, started), "finished_at",
                      runtime_format_rfc3339(c->finished_at, finished), "image", strempty(c->image),
                      "labels", labels, "rootfs", c->rootfs, "bundle", c->bundle, "cgroup", cgroup,
                      "log_path", log_path, "dir", c->dir, "config", json_incref(config), "error",
                      c->error, "signal", c->signal);
        if (!j)
                return -ENOMEM;
        if (c->network >= 0) {
                json_t *net = json_pack("{ss}", "mode", network_mode_to_string(c->network));

                if (!net || json_object_set_new(j, "network", net) < 0)
                        return -ENOMEM;
                if (c->net.address) {
                        json_t *a = json_pack("{ss si ss* ss*}", "ip_address", c->net.address,
                                              "ip_prefix_length", (int) c->net.prefix_length,
                                              "gateway", c->net.gateway, "mac_address", c->net.mac);

                        if (!a || json_object_update_new(net, a) < 0)
                                return -ENOMEM;
                }
                if (c->net.address6) {
                        json_t *a = json_pack("{ss si}", "ip6_address", c->net.address6,
                                              "ip6_prefix_length", (int) c->net.prefix_length6);

                        if (!a || json_object_update_new(net, a) < 0)
                                return -ENOMEM;
                }
        }
        /* The volumes as asked for: tier and size are recorded here, not enforced. */
        if (json_object_get(c->options, "storage") &&
            json_object_set(j, "storage", json_object_get(c->options, "storage")) < 0)
                return -ENOMEM;
        /* What came from the image: its manifest digest and the ports it declares. */
        if (json_object_get(c->options, "image_digest")) {
                json_t *ports = json_object_get(c->options, "exposed_ports");

                if (json_object_set(j, "image_digest",
                                    json_object_get(c->options, "image_digest")) < 0 ||
                    json_object_set_new(j, "exposed_ports",
                                        ports ? json_incref(ports) : json_array()) < 0)
                        return -ENOMEM;
        }
        s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (!s)
                return -ENOMEM;
        *ret_json = s;
        return 0;
}

char *runtime_format_rfc3339(usec_t t, char buf[static 64]) {
        struct tm tm;
        time_t sec;

        if (t == 0)
                return NULL;
        sec = (time_t) (t / USEC_PER_SEC);
        if (!gmtime_r(&sec, &tm))
                return NULL;
        if (strftime(buf, 64, "%Y-%m-%dT%H:%M:%S", &tm) == 0)
                return NULL;
        snprintf(buf + strlen(buf), 64 - strlen(buf), ".%06" PRIu64 "Z", t % USEC_PER_SEC);
        return buf;
}

int manager_get_stats(Manager *m, Container *c, CgroupStats *ret_stats, uint64_t *ret_memory_limit,
                      uint64_t *ret_pids_limit) {
        _cleanup_(cgroup_freep) Cgroup *cg = NULL;
        _cleanup_(oci_config_freep) OciConfig *config = NULL;
        _cleanup_free_ char *path = NULL, *config_path = NULL;
        uint64_t memory_limit = UINT64_MAX, pids_limit = UINT64_MAX;
        int r;

        if (!IN_SET(c->state, CONTAINER_RUNNING, CONTAINER_PAUSED))
                return -EBUSY;
        if (m->cgroup_mode < 0)
                return -EOPNOTSUPP;
        r = runtime_cgroup_path(c->id, &path);
        if (r < 0)
                return r;
        r = cgroup_open(NULL, m->cgroup_mode, path, &cg);
        if (r < 0)
                return r;
        r = cgroup_get_stats(cg, ret_stats);
        if (r < 0)
                return r;
        config_path = path_join(c->dir, MONITOR_CONFIG_FILE);
        if (!config_path)
                return -ENOMEM;
        if (oci_config_load(config_path, &config, NULL) >= 0) {
                const OciResources *res = &config->linux_.resources;

                if (res->has_memory_limit && res->memory_limit > 0)
                        memory_limit = (uint64_t) res->memory_limit;
                if (res->has_pids_limit && res->pids_limit > 0)
                        pids_limit = (uint64_t) res->pids_limit;
        }
        *ret_memory_limit = memory_limit;
        *ret_pids_limit = pids_limit;
        return 0;
}

/* Re-adopts one container directory; 0 when it was removed as half-made. */
static int manager_load_one(Manager *m, const char *id) {
        _cleanup_free_ char *dir = path_join(m->containers_dir, id), *file = NULL;
        _cleanup_(json_decrefp) json_t *j = NULL;
        MonitorStatus s = MONITOR_STATUS_INIT;
        Container *c = NULL;
        const char *how;
        int r;

        if (!dir)
                return -ENOMEM;
        file = path_join(dir, CONTAINER_FILE);
        if (!file)
                return -ENOMEM;
        j = json_load_file(file, 0, NULL);
        if (!j && access(file, F_OK) < 0 && errno == ENOENT) {
                /* container.json is written last by CreateContainer: without it the container
                 * was never made. Its monitor, if it got that far, goes with it. */
                log_info("Removing half-made container directory '%s'.", dir);
                r = container_cgroup_remove(m, id);
                if (r < 0)
                        log_warning_errno(r, "Failed to remove the cgroup of '%s', ignoring: %m",
                                          id);
                r = rm_rf(dir);
                if (r < 0)
                        log_warning_errno(r, "Failed to remove '%s', ignoring: %m", dir);
                return 0;
        }
        /* Anything else is kept for an operator to look at, never removed. */
        if (!j) {
                log_error("Cannot read '%s', ignoring the container.", file);
                return 0;
        }
        r = container_from_json(m, dir, j, &c);
        if (r == -ENOMEM)
                return r;
        if (r < 0 || !streq(c->id, id)) {
                if (c)
                        container_free(c);
                log_error("Malformed '%s', ignoring the container.", file);
                return 0;
        }

        r = network_state_load(dir, &c->network, &c->net);
        if (r == -ENOMEM) {
                container_free(c);
                return r;
        }
        if (r < 0 && r != -ENOENT)
                log_warning_errno(r, "Cannot read the network state of container %s, ignoring: %m",
                                  c->id);

        if (container_read_status(c, &s) >= 0)
                (void) container_apply_status(c, &s, NULL);
        monitor_status_done(&s);

        r = container_attach(c);
        if (r >= 0) {
                /* The monitor is alive: what it says now wins over the file. */
                r = container_send(c, "status", NULL, NULL, NULL, NULL);
                if (r < 0)
                        log_warning_errno(r, "Failed to ask the monitor of %s, ignoring: %m",
                                          c->id);
                how = "its monitor is running";
        } else if (c->state == CONTAINER_EXITED)
                how = "exited";
        else {
                container_monitor_lost(c);
                how = "its monitor was lost, killed";
        }
        /* It may have exited while we were away. */
        if (c->state == CONTAINER_EXITED)
                container_network_release(c);
        r = container_add(m, c);
        if (r < 0) {
                container_free(c);
                return r;
        }
        log_info("Re-adopted container %s ('%s', %s): %s.", c->id, c->name,
                 container_state_to_string(c->state), how);
        return 1;
}

int manager_load(Manager *m) {
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;
        int r;

        d = opendir(m->containers_dir);
        if (!d)
                return errno == ENOENT ? 0 : -errno;
        while ((de = readdir(d))) {
                if (!container_id_is_valid(de->d_name))
                        continue;
                r = manager_load_one(m, de->d_name);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        log_warning_errno(r, "Failed to load container '%s', ignoring: %m",
                                          de->d_name);
        }
        return 0;
}

int manager_counters(Manager *m, int (*put)(void *set, const char *name, double value), void *set) {
        size_t by_state[_CONTAINER_STATE_MAX] = {};
        int r;

        for (size_t i = 0; i < m->n_containers; i++)
                by_state[m->containers[i]->state]++;
        for (ContainerState s = 0; s < _CONTAINER_STATE_MAX; s++) {
                char name[64];

                snprintf(name, sizeof(name), "containers_%s", container_state_to_string(s));
                r = put(set, name, (double) by_state[s]);
                if (r < 0)
                        return r;
        }
        const struct {
                const char *name;
                uint64_t value;
        } totals[] = {
                { "containers", m->n_containers },
                { "containers_created_total", m->created_total },
                { "containers_removed_total", m->removed_total },
                { "containers_oom_total", m->oom_total },
                { "monitors_lost_total", m->monitors_lost_total },
                { "exec_total", m->exec_total },
                { "exec_stream_total", m->exec_stream_total },
                { "logs_opened_total", m->logs_opened_total },
        };
        for (size_t i = 0; i < ELEMENTSOF(totals); i++) {
                r = put(set, totals[i].name, (double) totals[i].value);
                if (r < 0)
                        return r;
        }
        return 0;
}
