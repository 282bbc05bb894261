/* SPDX-License-Identifier: Apache-2.0 */
/* launcher.c: the local-node supervisor: private bus, seven daemons, restarts, status file. */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <systemd/sd-event.h>

#include "fileio.h"
#include "launcher.h"
#include "log.h"
#include "path-util.h"
#include "signal-util.h"
#include "string-util.h"

/* How long a process gets between SIGTERM and SIGKILL when stopping. */
#define STOP_TIMEOUT_USEC (10 * USEC_PER_SEC)
#define TICK_USEC (1 * USEC_PER_SEC)
#define NOTIFY_BUFFER_SIZE 4096
/* Log files are read from the end: an error message needs a few lines, not megabytes. */
#define TAIL_READ_MAX (64 * 1024)
/* As the daemons' own default state directory, whatever the prefix. */
#define ZL_LOCAL_STATE_DIR_ROOT "/var/lib/zlayer/local"

static const char *const child_state_table[_CHILD_STATE_MAX] = {
        [CHILD_WAITING] = "waiting",   [CHILD_STARTING] = "starting",     [CHILD_READY] = "ready",
        [CHILD_STOPPING] = "stopping", [CHILD_RESTARTING] = "restarting", [CHILD_FAILED] = "failed",
        [CHILD_DEAD] = "dead",
};

const char *child_state_to_string(ChildState s) {
        if (s < 0 || s >= _CHILD_STATE_MAX)
                return NULL;
        return child_state_table[s];
}

ChildState child_state_from_string(const char *s) {
        if (!s)
                return _CHILD_STATE_INVALID;
        for (int i = 0; i < _CHILD_STATE_MAX; i++)
                if (streq(s, child_state_table[i]))
                        return (ChildState) i;
        return _CHILD_STATE_INVALID;
}

usec_t launcher_restart_delay(usec_t previous, usec_t uptime) {
        if (previous == 0 || uptime >= LAUNCHER_RESTART_RESET_AFTER)
                return LAUNCHER_RESTART_DELAY_MIN;
        if (previous >= LAUNCHER_RESTART_DELAY_MAX / 2)
                return LAUNCHER_RESTART_DELAY_MAX;
        return MAX(previous * 2, LAUNCHER_RESTART_DELAY_MIN);
}

void notify_message_done(NotifyMessage *m) {
        if (!m)
                return;
        m->status = mfree(m->status);
}

int notify_message_parse(const char *buf, size_t size, NotifyMessage *ret) {
        NotifyMessage m = {};
        const char *p = buf, *end = buf + size;

        if (memchr(buf, 0, size))
                return -EINVAL;

        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                size_t len = nl ? (size_t) (nl - p) : (size_t) (end - p);

#define IS_ASSIGNMENT(lit) (len == strlen(lit) && strneq(p, lit, len))
                if (IS_ASSIGNMENT("READY=1"))
                        m.ready = true;
                else if (IS_ASSIGNMENT("STOPPING=1"))
                        m.stopping = true;
                else if (IS_ASSIGNMENT("RELOADING=1"))
                        m.reloading = true;
                else if (IS_ASSIGNMENT("WATCHDOG=1"))
                        m.watchdog = true;
                else if (len >= strlen("STATUS=") && strneq(p, "STATUS=", strlen("STATUS="))) {
                        char *s = strndup(p + strlen("STATUS="), len - strlen("STATUS="));
                        if (!s) {
                                notify_message_done(&m);
                                return -ENOMEM;
                        }
                        free_and_replace(m.status, s);
                }
#undef IS_ASSIGNMENT
                p += len + (nl ? 1 : 0);
        }

        *ret = m;
        return 0;
}

static bool address_char_ok(char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
               strchr("-_/.\\*", c);
}

char *bus_address_escape(const char *s) {
        char *r, *t;

        r = malloc(strlen(s) * 3 + 1);
        if (!r)
                return NULL;
        t = r;
        for (const char *p = s; *p; p++)
                if (address_char_ok(*p))
                        *t++ = *p;
                else
                        t += sprintf(t, "%%%02x", (unsigned) (unsigned char) *p);
        *t = '\0';
        return r;
}

char *launcher_bus_address(const char *socket_path) {
        _cleanup_free_ char *e = bus_address_escape(socket_path);

        if (!e)
                return NULL;
        return strjoin("unix:path=", e);
}

static char *xml_escape(const char *s) {
        char *r = NULL;

        for (const char *p = s; *p; p++) {
                const char *rep = *p == '&'    ? "&amp;"
                                  : *p == '<'  ? "&lt;"
                                  : *p == '>'  ? "&gt;"
                                  : *p == '"'  ? "&quot;"
                                  : *p == '\'' ? "&apos;"
                                               : NULL;
                char one[2] = { *p, '\0' };

                if (strextend(&r, rep ?: one) < 0)
                        return mfree(r);
        }
        return r ?: strdup("");
}

/* A copy of xml without <!-- --> comments, so that commented-out policies stay out. */
static int xml_strip_comments(const char *xml, char **ret) {
        _cleanup_free_ char *r = strdup(xml);
        char *w;
        const char *p = xml;

        if (!r)
                return -ENOMEM;
        w = r;
        while (*p) {
                if (startswith(p, "<!--")) {
                        const char *e = strstr(p + 4, "-->");
                        if (!e)
                                return -EBADMSG;
                        p = e + 3;
                        continue;
                }
                *w++ = *p++;
        }
        *w = '\0';
        *ret = TAKE_PTR(r);
        return 0;
}

int launcher_policy_extract(const char *xml, char **ret) {
        _cleanup_free_ char *clean = NULL, *out = NULL;
        const char *p;
        int r;

        r = xml_strip_comments(xml, &clean);
        if (r < 0)
                return r;

        p = clean;
        for (;;) {
                const char *start = strstr(p, "<policy"), *tag_end, *end;

                if (!start)
                        break;
                /* "<policyfoo" is another element. */
                if (!strchr(" \t\r\n>/", start[strlen("<policy")])) {
                        p = start + 1;
                        continue;
                }
                tag_end = strchr(start, '>');
                if (!tag_end)
                        return -EBADMSG;
                if (tag_end[-1] == '/')
                        end = tag_end + 1;
                else {
                        end = strstr(tag_end, "</policy>");
                        if (!end)
                                return -EBADMSG;
                        end += strlen("</policy>");
                }
                r = strextendf(&out, "  %.*s\n", (int) (end - start), start);
                if (r < 0)
                        return r;
                p = end;
        }

        if (!out)
                return -EBADMSG;
        *ret = TAKE_PTR(out);
        return 0;
}

int launcher_bus_config(const char *socket_path, const char *policies, const char *user,
                        char **ret) {
        _cleanup_free_ char *address = NULL, *address_xml = NULL, *user_xml = NULL, *out = NULL;
        int r;

        address = launcher_bus_address(socket_path);
        if (!address)
                return -ENOMEM;
        address_xml = xml_escape(address);
        if (!address_xml)
                return -ENOMEM;

        /* The default policy is the system bus's (dbus-daemon's system.conf), so that the
         * embedded org.zlayer policy means here exactly what it means on the system bus. */
        r = strextendf(&out,
                       "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-BUS Bus Configuration "
                       "1.0//EN\"\n"
                       " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
                       "<!-- Generated by zlctl local start; rewritten at every start. -->\n"
                       "<busconfig>\n"
                       "  <type>custom</type>\n"
                       "  <listen>%s</listen>\n"
                       "  <auth>EXTERNAL</auth>\n"
                       "  <policy context=\"default\">\n"
                       "    <allow user=\"*\"/>\n"
                       "    <deny own=\"*\"/>\n"
                       "    <deny send_type=\"method_call\"/>\n"
                       "    <allow send_type=\"signal\"/>\n"
                       "    <allow send_requested_reply=\"true\" send_type=\"method_return\"/>\n"
                       "    <allow send_requested_reply=\"true\" send_type=\"error\"/>\n"
                       "    <allow receive_type=\"method_call\"/>\n"
                       "    <allow receive_type=\"method_return\"/>\n"
                       "    <allow receive_type=\"error\"/>\n"
                       "    <allow receive_type=\"signal\"/>\n"
                       "    <allow send_destination=\"org.freedesktop.DBus\"\n"
                       "           send_interface=\"org.freedesktop.DBus\"/>\n"
                       "    <allow send_destination=\"org.freedesktop.DBus\"\n"
                       "           send_interface=\"org.freedesktop.DBus.Introspectable\"/>\n"
                       "    <allow send_destination=\"org.freedesktop.DBus\"\n"
                       "           send_interface=\"org.freedesktop.DBus.Properties\"/>\n"
                       "    <deny send_destination=\"org.freedesktop.DBus\"\n"
                       "          send_interface=\"org.freedesktop.DBus\"\n"
                       "          send_member=\"UpdateActivationEnvironment\"/>\n"
                       "    <deny send_destination=\"org.freedesktop.DBus\"\n"
                       "          send_interface=\"org.freedesktop.DBus.Debug.Stats\"/>\n"
                       "  </policy>\n"
                       "  <policy user=\"root\">\n"
                       "    <allow send_destination=\"org.freedesktop.DBus\"\n"
                       "           send_interface=\"org.freedesktop.DBus.Monitoring\"/>\n"
                       "  </policy>\n"
                       "  <!-- From org.zlayer.conf: -->\n"
                       "%s",
                       address_xml, policies);
        if (r < 0)
                return r;

        if (user) {
                user_xml = xml_escape(user);
                if (!user_xml)
                        return -ENOMEM;
                r = strextendf(&out,
                               "  <!-- The node's owner stands in for root on its own bus. -->\n"
                               "  <policy user=\"%s\">\n"
                               "    <allow own_prefix=\"org.zlayer\"/>\n"
                               "    <allow send_destination_prefix=\"org.zlayer\"/>\n"
                               "  </policy>\n",
                               user_xml);
                if (r < 0)
                        return r;
        }

        r = strextend(&out, "</busconfig>\n");
        if (r < 0)
                return r;
        *ret = TAKE_PTR(out);
        return 0;
}

static bool env_is_owned(const char *assignment) {
        static const char *const owned[] = {
                "NOTIFY_SOCKET=",      "WATCHDOG_USEC=",     "WATCHDOG_PID=",
                "LISTEN_FDS=",         "LISTEN_PID=",        "LISTEN_FDNAMES=",
                "ZLAYER_BUS_ADDRESS=", "ZLAYER_STATE_DIR=",  "ZLAYER_RUNTIME_DIR=",
                "STATE_DIRECTORY=",    "RUNTIME_DIRECTORY=",
        };

        for (size_t i = 0; i < ELEMENTSOF(owned); i++)
                if (startswith(assignment, owned[i]))
                        return true;
        return false;
}

static int strv_extend_assignment(char ***l, const char *key, const char *value) {
        if (!value)
                return 0;
        return strv_consume(l, strjoin(key, "=", value));
}

int launcher_child_env(char *const *base, const char *bus_address, const char *state_dir,
                       const char *runtime_dir, const char *notify_socket, usec_t watchdog_usec,
                       char ***ret) {
        _cleanup_strv_free_ char **env = NULL;
        int r;

        /* An empty list, not NULL, even when everything is filtered out. */
        env = calloc(1, sizeof(char *));
        if (!env)
                return -ENOMEM;

        for (char *const *e = base; e && *e; e++) {
                if (env_is_owned(*e))
                        continue;
                r = strv_extend(&env, *e);
                if (r < 0)
                        return r;
        }

        r = strv_extend_assignment(&env, "ZLAYER_BUS_ADDRESS", bus_address);
        if (r < 0)
                return r;
        r = strv_extend_assignment(&env, "ZLAYER_STATE_DIR", state_dir);
        if (r < 0)
                return r;
        r = strv_extend_assignment(&env, "ZLAYER_RUNTIME_DIR", runtime_dir);
        if (r < 0)
                return r;
        r = strv_extend_assignment(&env, "NOTIFY_SOCKET", notify_socket);
        if (r < 0)
                return r;
        if (watchdog_usec > 0) {
                char buf[32];

                snprintf(buf, sizeof(buf), "%" PRIu64, watchdog_usec);
                r = strv_extend_assignment(&env, "WATCHDOG_USEC", buf);
                if (r < 0)
                        return r;
        }

        *ret = TAKE_PTR(env);
        return 0;
}

int launcher_default_state_dir(char **ret) {
        const char *xdg, *home;
        char *p;

        if (geteuid() == 0)
                p = strdup(ZL_LOCAL_STATE_DIR_ROOT);
        else if ((xdg = getenv("XDG_STATE_HOME")) && path_is_absolute(xdg))
                p = path_join(xdg, "zlayer/local");
        else {
                home = getenv("HOME");
                if (!home || !path_is_absolute(home)) {
                        struct passwd *pw = getpwuid(geteuid());
                        if (!pw || !path_is_absolute(pw->pw_dir))
                                return -ENXIO;
                        home = pw->pw_dir;
                }
                p = path_join(home, ".local/state/zlayer/local");
        }
        if (!p)
                return -ENOMEM;
        *ret = p;
        return 0;
}

char *launcher_daemon_path(const char *daemon_dir, bool in_tree, const char *name) {
        if (in_tree)
                return path_join(daemon_dir, name, name);
        return path_join(daemon_dir, name);
}

static bool daemon_dir_usable(const char *dir, bool in_tree) {
        _cleanup_free_ char *p = launcher_daemon_path(dir, in_tree, "zl-runtimed");
        struct stat st;

        /* In a build tree dir/zl-runtimed is a directory, which access(X_OK) would accept. */
        return p && stat(p, &st) >= 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0;
}

int launcher_daemon_dir_layout(const char *dir, bool *ret_in_tree) {
        bool in_tree;

        if (daemon_dir_usable(dir, false))
                in_tree = false;
        else if (daemon_dir_usable(dir, true))
                in_tree = true;
        else
                return -ENOENT;
        if (ret_in_tree)
                *ret_in_tree = in_tree;
        return 0;
}

int launcher_find_daemon_dir(char **ret, bool *ret_in_tree) {
        _cleanup_free_ char *dir = NULL, *tree = NULL;
        const char *e;
        char *p;
        int r;

        e = getenv("ZLAYER_DAEMON_DIR");
        if (!isempty(e)) {
                bool in_tree;

                /* Either layout is accepted, so a build tree's daemons/ works here too. */
                r = launcher_daemon_dir_layout(e, &in_tree);
                if (r < 0)
                        return r;
                p = strdup(e);
                if (!p)
                        return -ENOMEM;
                *ret = p;
                if (ret_in_tree)
                        *ret_in_tree = in_tree;
                return 0;
        }

        if (path_self_dir(&dir) >= 0) {
                _cleanup_free_ char *build = NULL;

                /* zlctl is BUILDDIR/cli/zlctl in a build tree. */
                r = path_dirname(dir, &build);
                if (r < 0)
                        return r;
                tree = path_join(build, "daemons");
                if (!tree)
                        return -ENOMEM;
                if (daemon_dir_usable(tree, true)) {
                        *ret = TAKE_PTR(tree);
                        if (ret_in_tree)
                                *ret_in_tree = true;
                        return 0;
                }
        }

        if (!daemon_dir_usable(LIBEXECDIR "/zlayer", false))
                return -ENOENT;
        p = strdup(LIBEXECDIR "/zlayer");
        if (!p)
                return -ENOMEM;
        *ret = p;
        if (ret_in_tree)
                *ret_in_tree = false;
        return 0;
}

bool launcher_in_build_tree(void) {
        _cleanup_free_ char *dir = NULL, *build = NULL, *marker = NULL;
        struct stat st;

        /* zlctl is BUILDDIR/cli/zlctl, and meson keeps its private state in every build dir. */
        if (path_self_dir(&dir) < 0 || path_dirname(dir, &build) < 0)
                return false;
        marker = path_join(build, "meson-private");
        return marker && stat(marker, &st) >= 0 && S_ISDIR(st.st_mode);
}

int launcher_find_policy(char **ret) {
        const char *e = getenv("ZLAYER_BUS_POLICY"), *p;
        char *s;

        if (!isempty(e))
                p = e;
        else if (launcher_in_build_tree())
                p = ZL_SOURCE_ROOT "/dbus/org.zlayer.conf";
        else
                p = ZL_DBUS_POLICY_PATH;

        if (access(p, R_OK) < 0)
                return -errno;
        s = strdup(p);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

void launcher_status_done(LauncherStatus *s) {
        if (!s)
                return;
        for (size_t i = 0; i < s->n_processes; i++) {
                free(s->processes[i].name);
                free(s->processes[i].last_exit);
                free(s->processes[i].status);
        }
        s->processes = mfree(s->processes);
        s->n_processes = 0;
        s->bus_address = mfree(s->bus_address);
}

static char *json_strdup_or_null(const json_t *v) {
        return json_is_string(v) ? strdup(json_string_value(v)) : NULL;
}

int launcher_status_read(const char *state_dir, LauncherStatus *ret) {
        _cleanup_free_ char *path = NULL, *data = NULL;
        _cleanup_(json_decrefp) json_t *root = NULL;
        _cleanup_(launcher_status_done) LauncherStatus s = {};
        const json_t *procs, *v;
        size_t i;
        int r;

        path = path_join(state_dir, "launcher.json");
        if (!path)
                return -ENOMEM;
        r = read_full_file(path, 1024 * 1024, &data, NULL);
        if (r < 0)
                return r;
        root = json_loads(data, 0, NULL);
        if (!json_is_object(root))
                return -EBADMSG;

        s.supervisor_pid = (pid_t) json_integer_value(json_object_get(root, "supervisor_pid"));
        s.stopping = json_is_true(json_object_get(root, "stopping"));
        s.bus_address = json_strdup_or_null(json_object_get(root, "bus_address"));
        procs = json_object_get(root, "processes");
        if (!json_is_array(procs) || json_array_size(procs) == 0)
                return -EBADMSG;
        s.processes = calloc(json_array_size(procs), sizeof(LauncherProcess));
        if (!s.processes)
                return -ENOMEM;
        json_array_foreach (procs, i, v) {
                LauncherProcess *p = &s.processes[s.n_processes];
                const char *name = json_string_value(json_object_get(v, "name"));
                ChildState st =
                        child_state_from_string(json_string_value(json_object_get(v, "state")));

                if (!name || st < 0)
                        return -EBADMSG;
                p->name = strdup(name);
                if (!p->name)
                        return -ENOMEM;
                s.n_processes++;
                p->state = st;
                p->pid = (pid_t) json_integer_value(json_object_get(v, "pid"));
                p->started_at = (usec_t) json_integer_value(json_object_get(v, "started_at"));
                p->restarts = (unsigned) json_integer_value(json_object_get(v, "restarts"));
                p->last_exit = json_strdup_or_null(json_object_get(v, "last_exit"));
                p->status = json_strdup_or_null(json_object_get(v, "status"));
        }

        *ret = s;
        s = (LauncherStatus){};
        return 0;
}

int launcher_is_running(const char *state_dir, pid_t *ret_pid) {
        _cleanup_free_ char *path = NULL, *data = NULL;
        _cleanup_close_ int fd = -EBADF;
        int pid, r;

        path = path_join(state_dir, "launcher.pid");
        if (!path)
                return -ENOMEM;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        if (flock(fd, LOCK_SH | LOCK_NB) >= 0)
                return 0;
        if (errno != EWOULDBLOCK)
                return -errno;

        if (ret_pid) {
                r = read_full_fd(fd, 64, &data, NULL);
                if (r < 0)
                        return r;
                if (sscanf(data, "%d", &pid) != 1 || pid <= 0)
                        return -EBADMSG;
                *ret_pid = (pid_t) pid;
        }
        return 1;
}

bool launcher_pid_gone(pid_t pid) {
        char path[64], state = 0;
        _cleanup_free_ char *data = NULL;
        const char *p;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        if (read_full_file(path, 4096, &data, NULL) < 0)
                return true; /* gone */
        /* The command name may hold anything, parentheses included: the state follows the last
         * ')'. */
        p = strrchr(data, ')');
        if (p && p[1] == ' ')
                state = p[2];
        return state == 'Z' || state == 'X';
}

static pid_t pid_parent(pid_t pid) {
        char path[64];
        _cleanup_free_ char *data = NULL;
        const char *p;
        int ppid;

        snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        if (read_full_file(path, 4096, &data, NULL) < 0)
                return 0;
        p = strrchr(data, ')');
        if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1)
                return 0;
        return (pid_t) ppid;
}

/* Whether a NUL-separated list holds `item` exactly. */
static bool nulstr_contains(const char *list, size_t size, const char *item) {
        for (size_t i = 0; i < size; i += strlen(list + i) + 1)
                if (streq(list + i, item))
                        return true;
        return false;
}

static bool pid_refers_to(pid_t pid, const char *state_dir, const char *env_item,
                          const char *config_arg, const char *state_arg) {
        char path[64];
        _cleanup_free_ char *env = NULL, *cmdline = NULL;
        size_t n;

        snprintf(path, sizeof(path), "/proc/%d/environ", (int) pid);
        if (read_full_file(path, 4 * 1024 * 1024, &env, &n) >= 0 &&
            nulstr_contains(env, n, env_item))
                return true;

        snprintf(path, sizeof(path), "/proc/%d/cmdline", (int) pid);
        if (read_full_file(path, 1024 * 1024, &cmdline, &n) < 0)
                return false;
        /* The bus started with our configuration, or a supervisor of this directory. */
        if (nulstr_contains(cmdline, n, config_arg))
                return true;
        return nulstr_contains(cmdline, n, "supervise") &&
               (nulstr_contains(cmdline, n, state_arg) || nulstr_contains(cmdline, n, state_dir));
}

int launcher_find_leftovers(const char *state_dir, pid_t **ret, size_t *ret_n) {
        _cleanup_free_ char *env_item = NULL, *config_arg = NULL, *state_arg = NULL;
        _cleanup_free_ pid_t *pids = NULL, *ancestors = NULL;
        size_t n = 0, n_ancestors = 0;
        DIR *d;
        struct dirent *de;

        env_item = strjoin("ZLAYER_STATE_DIR=", state_dir, "/state");
        config_arg = strjoin("--config-file=", state_dir, "/bus.conf");
        state_arg = strjoin("--state-dir=", state_dir);
        if (!env_item || !config_arg || !state_arg)
                return -ENOMEM;

        /* A shell that runs us may have exported ZLAYER_STATE_DIR itself: never count the
         * caller's ancestors. */
        for (pid_t p = getpid(); p > 1; p = pid_parent(p)) {
                pid_t *a = reallocarray(ancestors, n_ancestors + 1, sizeof(pid_t));
                if (!a)
                        return -ENOMEM;
                ancestors = a;
                ancestors[n_ancestors++] = p;
                if (n_ancestors > 4096)
                        break;
        }

        d = opendir("/proc");
        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                int pid;
                char extra;
                bool skip = false;

                if (sscanf(de->d_name, "%d%c", &pid, &extra) != 1 || pid <= 1)
                        continue;
                for (size_t i = 0; i < n_ancestors; i++)
                        if (ancestors[i] == pid)
                                skip = true;
                if (skip || launcher_pid_gone(pid) ||
                    !pid_refers_to(pid, state_dir, env_item, config_arg, state_arg))
                        continue;

                pid_t *a = reallocarray(pids, n + 1, sizeof(pid_t));
                if (!a) {
                        closedir(d);
                        return -ENOMEM;
                }
                pids = a;
                pids[n++] = pid;
        }
        closedir(d);

        *ret = TAKE_PTR(pids);
        *ret_n = n;
        return 0;
}

int read_tail(const char *path, unsigned n, char **ret) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *data = NULL;
        struct stat st;
        size_t size = 0;
        const char *p;
        char *s;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (st.st_size > TAIL_READ_MAX && lseek(fd, st.st_size - TAIL_READ_MAX, SEEK_SET) < 0)
                return -errno;
        /* At most TAIL_READ_MAX bytes, even if the file grows while we read (a live log). */
        data = malloc(TAIL_READ_MAX + 1);
        if (!data)
                return -ENOMEM;
        while (size < TAIL_READ_MAX) {
                ssize_t k = read(fd, data + size, TAIL_READ_MAX - size);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                size += (size_t) k;
        }
        data[size] = '\0';

        while (size > 0 && data[size - 1] == '\n')
                data[--size] = '\0';
        p = data + size;
        for (unsigned i = 0; i < n && p > data; i++) {
                p--;
                while (p > data && p[-1] != '\n')
                        p--;
        }
        s = strdup(p);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

/* ---- the supervisor --------------------------------------------------------------------- */

typedef struct Launcher Launcher;

typedef struct Child {
        Launcher *launcher;
        const char *name;
        const ZlDaemonInfo *info; /* NULL for the bus */
        char *path;
        pid_t pid;
        ChildState state;
        usec_t started_at; /* CLOCK_REALTIME */
        usec_t started_mono;
        usec_t last_watchdog; /* CLOCK_MONOTONIC */
        usec_t restart_delay;
        usec_t start_times[LAUNCHER_START_LIMIT_BURST]; /* ring, CLOCK_MONOTONIC */
        unsigned n_starts;
        unsigned restarts;
        bool ever_started;
        bool restart_after_stop; /* stopped because the bus went away */
        char last_exit[48];
        char *status;
        sd_event_source *timer; /* restart delay, or SIGKILL after SIGTERM */
} Child;

struct Launcher {
        const LauncherOptions *opts;
        sd_event *event;
        char *pid_path, *json_path, *config_path, *bus_socket, *bus_address, *address_path,
                *notify_path, *log_dir, *daemon_state_dir, *daemon_runtime_dir;
        char **base_env;
        int pid_fd;
        int notify_fd;
        int ready_fd;
        int bus_pipe;
        char bus_line[512];
        size_t bus_line_len;
        sd_event_source *notify_source, *bus_pipe_source, *tick_source;
        Child bus;
        Child daemons[ZL_N_DAEMONS];
        bool bus_ready;
        bool stopping;
        int error;
};

static void child_done(Child *c) {
        c->path = mfree(c->path);
        c->status = mfree(c->status);
        c->timer = sd_event_source_disable_unref(c->timer);
}

static void launcher_done(Launcher *l) {
        child_done(&l->bus);
        for (size_t i = 0; i < ZL_N_DAEMONS; i++)
                child_done(&l->daemons[i]);
        l->notify_source = sd_event_source_disable_unref(l->notify_source);
        l->bus_pipe_source = sd_event_source_disable_unref(l->bus_pipe_source);
        l->tick_source = sd_event_source_disable_unref(l->tick_source);
        l->event = sd_event_unref(l->event);
        l->notify_fd = safe_close(l->notify_fd);
        l->bus_pipe = safe_close(l->bus_pipe);
        l->ready_fd = safe_close(l->ready_fd);
        if (l->pid_fd >= 0) {
                /* Unlink before unlocking, so nobody takes a lock on a file about to vanish. */
                (void) unlink(l->pid_path);
                l->pid_fd = safe_close(l->pid_fd);
        }
        free(l->pid_path);
        free(l->json_path);
        free(l->config_path);
        free(l->bus_socket);
        free(l->bus_address);
        free(l->address_path);
        free(l->notify_path);
        free(l->log_dir);
        free(l->daemon_state_dir);
        free(l->daemon_runtime_dir);
        strv_free(l->base_env);
}

static json_t *child_to_json(const Child *c) {
        return json_pack("{s:s, s:I, s:s, s:I, s:I, s:s?, s:s?}", "name", c->name, "pid",
                         (json_int_t) c->pid, "state", child_state_to_string(c->state),
                         "started_at", (json_int_t) c->started_at, "restarts",
                         (json_int_t) c->restarts, "last_exit",
                         c->last_exit[0] ? c->last_exit : NULL, "status", c->status);
}

static void launcher_report_startup(Launcher *l, const char *failed) {
        char buf[128];
        int n;

        if (l->ready_fd < 0)
                return;
        if (failed)
                n = snprintf(buf, sizeof(buf), "FAILED %s\n", failed);
        else
                n = snprintf(buf, sizeof(buf), "READY\n");
        /* The reader may be gone (start timed out): EPIPE is fine, SIGPIPE is blocked. */
        (void) !write(l->ready_fd, buf, (size_t) n);
        l->ready_fd = safe_close(l->ready_fd);
}

static void launcher_check_startup(Launcher *l) {
        bool all_ready = true;

        if (l->ready_fd < 0)
                return;
        if (l->bus.state == CHILD_FAILED)
                return launcher_report_startup(l, l->bus.name);
        for (size_t i = 0; i < ZL_N_DAEMONS; i++) {
                if (l->daemons[i].state == CHILD_FAILED)
                        return launcher_report_startup(l, l->daemons[i].name);
                if (l->daemons[i].state != CHILD_READY)
                        all_ready = false;
        }
        if (all_ready)
                launcher_report_startup(l, NULL);
}

/* launcher.json is what `zlctl local status` shows; failing to write it is not fatal. Called
 * after every change of state. */
static void launcher_save(Launcher *l) {
        _cleanup_(json_decrefp) json_t *root = NULL, *procs = NULL;
        _cleanup_free_ char *text = NULL;
        int r;

        procs = json_array();
        if (!procs)
                goto oom;
        if (json_array_append_new(procs, child_to_json(&l->bus)) < 0)
                goto oom;
        for (size_t i = 0; i < ZL_N_DAEMONS; i++)
                if (json_array_append_new(procs, child_to_json(&l->daemons[i])) < 0)
                        goto oom;
        root = json_pack("{s:I, s:s, s:b, s:O}", "supervisor_pid", (json_int_t) getpid(),
                         "bus_address", l->bus_address, "stopping", l->stopping, "processes",
                         procs);
        if (!root)
                goto oom;
        text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
        if (!text || strextend(&text, "\n") < 0)
                goto oom;
        r = write_string_file_atomic(l->json_path, text, 0644);
        if (r < 0)
                log_warning_errno(r, "Failed to write '%s', ignoring: %m", l->json_path);
        /* Every state change ends up here: the place to tell `start` how things went. */
        launcher_check_startup(l);
        return;
oom:
        log_oom();
        launcher_check_startup(l);
}

static void child_exit_string(const siginfo_t *si, char *buf, size_t len) {
        if (si->si_code == CLD_EXITED)
                snprintf(buf, len, "status=%d", si->si_status);
        else {
                const char *name = signal_to_string(si->si_status);
                if (name)
                        snprintf(buf, len, "signal=%s", name);
                else
                        snprintf(buf, len, "signal=%d", si->si_status);
        }
}

static int open_log(Launcher *l, const char *name) {
        _cleanup_free_ char *path = NULL;
        char ts[TIMESTAMP_MAX_LEN];
        int fd;

        path = strjoin(l->log_dir, "/", name, ".log");
        if (!path)
                return -ENOMEM;
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0600);
        if (fd < 0)
                return -errno;
        /* A marker per start, so the tail of the log tells one attempt from the next. */
        dprintf(fd, "-- %s: starting %s --\n",
                format_timestamp(now(CLOCK_REALTIME), ts, sizeof(ts)), name);
        return fd;
}

/* Runs in the forked child: only async-signal-safe calls until execve(). */
_noreturn_ static void child_exec(const char *path, char *const argv[], char *const envp[],
                                  pid_t parent, int log_fd, int null_fd, int pipe_fd) {
        sigset_t ss;

        sigemptyset(&ss);
        (void) sigprocmask(SIG_SETMASK, &ss, NULL);
        for (int sig = 1; sig < _NSIG; sig++)
                if (sig != SIGKILL && sig != SIGSTOP)
                        (void) signal(sig, SIG_DFL);
        /* Its own process group: ^C on the supervisor's terminal must not reach the daemons
         * behind the supervisor's back; the supervisor stops them in order. */
        (void) setpgid(0, 0);
        /* If the supervisor is killed outright, its children must not outlive it. */
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
                _exit(EXIT_FAILURE);

        if (dup2(null_fd, STDIN_FILENO) < 0 || dup2(log_fd, STDOUT_FILENO) < 0 ||
            dup2(log_fd, STDERR_FILENO) < 0)
                _exit(EXIT_FAILURE);
        if (pipe_fd >= 0) {
                if (pipe_fd == 3) {
                        if (fcntl(3, F_SETFD, 0) < 0)
                                _exit(EXIT_FAILURE);
                } else if (dup2(pipe_fd, 3) < 0)
                        _exit(EXIT_FAILURE);
        }
        (void) close_range(pipe_fd >= 0 ? 4 : 3, ~0U, 0);

        execve(path, argv, envp);
        dprintf(STDERR_FILENO, "launcher: cannot execute '%s': %s\n", path, strerror(errno));
        _exit(127);
}

static void launcher_start_daemons(Launcher *l);

static int child_spawn(Child *c) {
        Launcher *l = c->launcher;
        _cleanup_strv_free_ char **env = NULL;
        _cleanup_close_ int log_fd = -EBADF, null_fd = -EBADF, pipe_r = -EBADF, pipe_w = -EBADF;
        _cleanup_free_ char *config_arg = NULL;
        char *bus_argv[] = { NULL,
                             NULL,
                             (char *) "--nofork",
                             (char *) "--nopidfile",
                             (char *) "--nosyslog",
                             (char *) "--print-address=3",
                             NULL };
        char *daemon_argv[] = { NULL, NULL };
        usec_t mono = now(CLOCK_MONOTONIC);
        pid_t parent = getpid(), pid;
        int r;

        log_fd = open_log(l, c->name);
        if (log_fd < 0)
                return log_error_errno(log_fd, "Failed to open the log of %s: %m", c->name);
        null_fd = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);
        if (null_fd < 0)
                return log_error_errno(errno, "Failed to open /dev/null: %m");

        if (c->info) {
                r = launcher_child_env(l->base_env, l->bus_address, l->daemon_state_dir,
                                       l->daemon_runtime_dir, l->notify_path,
                                       l->opts->watchdog_usec, &env);
                daemon_argv[0] = c->path;
        } else {
                r = launcher_child_env(l->base_env, NULL, NULL, NULL, NULL, 0, &env);
                config_arg = strjoin("--config-file=", l->config_path);
                if (!config_arg)
                        return log_oom();
                bus_argv[0] = c->path;
                bus_argv[1] = config_arg;
                int p[2];
                if (pipe2(p, O_CLOEXEC) < 0)
                        return log_error_errno(errno, "Failed to create a pipe: %m");
                pipe_r = p[0];
                pipe_w = p[1];
        }
        if (r < 0)
                return log_oom();

        pid = fork();
        if (pid < 0)
                return log_error_errno(errno, "Failed to fork for %s: %m", c->name);
        if (pid == 0)
                child_exec(c->path, c->info ? daemon_argv : bus_argv, env, parent, log_fd, null_fd,
                           pipe_w);

        c->pid = pid;
        c->state = CHILD_STARTING;
        c->started_at = now(CLOCK_REALTIME);
        c->started_mono = mono;
        c->last_watchdog = mono;
        c->status = mfree(c->status);
        if (c->ever_started)
                c->restarts++;
        c->ever_started = true;
        c->start_times[c->n_starts++ % LAUNCHER_START_LIMIT_BURST] = mono;
        log_info("Started %s (PID %d).", c->name, (int) pid);

        if (!c->info) {
                l->bus_pipe_source = sd_event_source_disable_unref(l->bus_pipe_source);
                safe_close(l->bus_pipe);
                l->bus_pipe = TAKE_FD(pipe_r);
                l->bus_line_len = 0;
        }
        return 0;
}

static int on_bus_pipe(sd_event_source *s, int fd, uint32_t revents, void *userdata);

static int bus_spawn(Launcher *l) {
        int r;

        r = child_spawn(&l->bus);
        if (r < 0)
                return r;
        r = sd_event_add_io(l->event, &l->bus_pipe_source, l->bus_pipe, EPOLLIN, on_bus_pipe, l);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the bus's address pipe: %m");
        return 0;
}

static void child_kill(Child *c, int sig) {
        if (c->pid > 0 && kill(c->pid, sig) < 0 && errno != ESRCH)
                log_warning_errno(errno, "Failed to send %s to %s, ignoring: %m",
                                  signal_to_string(sig), c->name);
}

static int on_kill_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Child *c = userdata;

        c->timer = sd_event_source_disable_unref(c->timer);
        log_warning("%s (PID %d) did not stop within %s, killing it.", c->name, (int) c->pid,
                    "10s");
        child_kill(c, SIGKILL);
        return 0;
}

static void child_stop(Child *c) {
        int r;

        if (c->pid <= 0 || c->state == CHILD_STOPPING)
                return;
        log_info("Stopping %s (PID %d).", c->name, (int) c->pid);
        child_kill(c, SIGTERM);
        c->state = CHILD_STOPPING;
        c->timer = sd_event_source_disable_unref(c->timer);
        r = sd_event_add_time_relative(c->launcher->event, &c->timer, CLOCK_MONOTONIC,
                                       STOP_TIMEOUT_USEC, 0, on_kill_timer, c);
        if (r < 0) {
                log_warning_errno(r, "Failed to arm the stop timer of %s, killing it now: %m",
                                  c->name);
                child_kill(c, SIGKILL);
        }
}

/* Kills and reaps whatever was reparented to us (the daemons' own children). */
static void launcher_kill_orphans(Launcher *l) {
        DIR *d = opendir("/proc");
        struct dirent *de;
        pid_t self = getpid();

        if (!d)
                return;
        while ((de = readdir(d))) {
                int pid;
                char extra;

                if (sscanf(de->d_name, "%d%c", &pid, &extra) != 1 || pid_parent(pid) != self)
                        continue;
                log_warning("Killing left-over process %d.", pid);
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
        }
        closedir(d);
}

/* One step of the ordered stop: daemons in reverse start order, one at a time, then the bus. */
static void launcher_stop_next(Launcher *l) {
        for (size_t i = ZL_N_DAEMONS; i-- > 0;) {
                Child *c = &l->daemons[i];

                if (c->pid > 0) {
                        child_stop(c);
                        return;
                }
        }
        if (l->bus.pid > 0) {
                child_stop(&l->bus);
                return;
        }
        launcher_kill_orphans(l);
        launcher_save(l);
        (void) sd_event_exit(l->event, 0);
}

static void launcher_begin_stop(Launcher *l) {
        if (l->stopping)
                return;
        l->stopping = true;
        log_info("Stopping the node.");
        for (size_t i = 0; i <= ZL_N_DAEMONS; i++) {
                Child *c = i == 0 ? &l->bus : &l->daemons[i - 1];

                if (c->pid <= 0) {
                        c->timer = sd_event_source_disable_unref(c->timer);
                        c->state = CHILD_DEAD;
                }
        }
        launcher_save(l);
        launcher_stop_next(l);
}

static int on_restart_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Child *c = userdata;
        Launcher *l = c->launcher;

        c->timer = sd_event_source_disable_unref(c->timer);
        if (!c->info) {
                if (bus_spawn(l) < 0) {
                        l->error = -ENOTCONN;
                        launcher_begin_stop(l);
                        return 0;
                }
        } else {
                /* Without a bus it waits; the bus coming up starts it. */
                c->state = CHILD_WAITING;
                launcher_start_daemons(l);
        }
        launcher_save(l);
        return 0;
}

/* The start limit: LAUNCHER_START_LIMIT_BURST starts within the interval already happened. */
static bool child_start_limit_hit(const Child *c, usec_t mono) {
        if (c->n_starts < LAUNCHER_START_LIMIT_BURST)
                return false;
        /* The oldest of the last BURST starts is the next slot of the ring. */
        usec_t oldest = c->start_times[c->n_starts % LAUNCHER_START_LIMIT_BURST];
        return mono - oldest < LAUNCHER_START_LIMIT_INTERVAL;
}

static void child_schedule_restart(Child *c) {
        Launcher *l = c->launcher;
        usec_t mono = now(CLOCK_MONOTONIC);
        char span[TIMESPAN_MAX_LEN];
        int r;

        if (child_start_limit_hit(c, mono)) {
                log_error("%s failed %u times within %s, giving up; see %s/%s.log.", c->name,
                          LAUNCHER_START_LIMIT_BURST, "10s", l->log_dir, c->name);
                c->state = CHILD_FAILED;
                if (!c->info) {
                        l->error = -ENOTCONN;
                        launcher_begin_stop(l);
                }
                return;
        }

        c->restart_delay = launcher_restart_delay(c->restart_delay, mono - c->started_mono);
        log_notice("Restarting %s in %s.", c->name,
                   format_timespan(c->restart_delay, USEC_PER_MSEC, span, sizeof(span)));
        c->state = CHILD_RESTARTING;
        c->timer = sd_event_source_disable_unref(c->timer);
        r = sd_event_add_time_relative(l->event, &c->timer, CLOCK_MONOTONIC, c->restart_delay, 0,
                                       on_restart_timer, c);
        if (r < 0) {
                log_error_errno(r, "Failed to arm the restart timer of %s: %m", c->name);
                c->state = CHILD_FAILED;
        }
}

static bool daemon_dependencies_settled(Launcher *l, const Child *c) {
        for (size_t i = 0; i < ZL_N_DAEMONS; i++) {
                const Child *d = &l->daemons[i];

                if (d->info->stage >= c->info->stage)
                        continue;
                /* Ordering only: a dependency that failed does not hold the others back. */
                if (!(d->state == CHILD_READY || d->state == CHILD_RESTARTING ||
                      d->state == CHILD_FAILED || (d->state == CHILD_DEAD && d->ever_started)))
                        return false;
        }
        return true;
}

static void launcher_start_daemons(Launcher *l) {
        if (!l->bus_ready || l->stopping)
                return;
        for (size_t i = 0; i < ZL_N_DAEMONS; i++) {
                Child *c = &l->daemons[i];

                if (c->state != CHILD_WAITING || !daemon_dependencies_settled(l, c))
                        continue;
                if (child_spawn(c) < 0)
                        child_schedule_restart(c);
        }
}

static void launcher_bus_lost(Launcher *l) {
        l->bus_ready = false;
        (void) unlink(l->address_path);
        for (size_t i = 0; i < ZL_N_DAEMONS; i++) {
                Child *c = &l->daemons[i];

                /* A new bus is a fresh start: failures on the old one do not count. */
                c->n_starts = 0;
                c->restart_delay = 0;
                if (c->pid > 0) {
                        c->restart_after_stop = true;
                        child_stop(c);
                } else {
                        c->timer = sd_event_source_disable_unref(c->timer);
                        c->state = CHILD_WAITING;
                }
        }
}

static void child_exited(Launcher *l, Child *c, const siginfo_t *si) {
        bool clean = si->si_code == CLD_EXITED && si->si_status == 0;

        child_exit_string(si, c->last_exit, sizeof(c->last_exit));
        c->pid = 0;
        c->started_at = 0;
        c->timer = sd_event_source_disable_unref(c->timer);

        if (l->stopping) {
                log_info("%s stopped (%s).", c->name, c->last_exit);
                c->state = CHILD_DEAD;
                launcher_stop_next(l);
                return;
        }

        if (!c->info) {
                log_error("The bus (dbus-daemon) exited (%s); restarting it and the daemons.",
                          c->last_exit);
                l->bus_pipe_source = sd_event_source_disable_unref(l->bus_pipe_source);
                l->bus_pipe = safe_close(l->bus_pipe);
                launcher_bus_lost(l);
                child_schedule_restart(c);
                return;
        }

        if (c->restart_after_stop) {
                log_info("%s stopped (%s); it starts again with the bus.", c->name, c->last_exit);
                c->restart_after_stop = false;
                c->state = CHILD_WAITING;
                launcher_start_daemons(l);
                return;
        }

        if (clean) {
                /* Restart=on-failure: a clean exit was meant. */
                log_notice("%s exited cleanly, not restarting it.", c->name);
                c->state = CHILD_DEAD;
                launcher_start_daemons(l);
                return;
        }

        log_warning("%s (PID %d) died (%s).", c->name, (int) si->si_pid, c->last_exit);
        child_schedule_restart(c);
        launcher_start_daemons(l);
}

static Child *launcher_child_by_pid(Launcher *l, pid_t pid) {
        if (pid <= 0)
                return NULL;
        if (l->bus.pid == pid)
                return &l->bus;
        for (size_t i = 0; i < ZL_N_DAEMONS; i++)
                if (l->daemons[i].pid == pid)
                        return &l->daemons[i];
        return NULL;
}

static int on_sigchld(sd_event_source *s, const struct signalfd_siginfo *ssi, void *userdata) {
        Launcher *l = userdata;

        /* Signals coalesce: reap everything that is ready, ours or reparented to us. */
        for (;;) {
                siginfo_t si = {};
                Child *c;

                if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG) < 0) {
                        if (errno != ECHILD)
                                log_warning_errno(errno, "waitid() failed, ignoring: %m");
                        break;
                }
                if (si.si_pid == 0)
                        break;
                c = launcher_child_by_pid(l, si.si_pid);
                if (c)
                        child_exited(l, c, &si);
        }
        launcher_save(l);
        return 0;
}

static int on_stop_signal(sd_event_source *s, const struct signalfd_siginfo *ssi, void *userdata) {
        Launcher *l = userdata;

        log_info("Received %s.", signal_to_string((int) ssi->ssi_signo));
        launcher_begin_stop(l);
        return 0;
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *ssi, void *userdata) {
        Launcher *l = userdata;

        log_info("Received SIGHUP, asking the daemons to reload.");
        for (size_t i = 0; i < ZL_N_DAEMONS; i++)
                if (l->daemons[i].state == CHILD_READY)
                        child_kill(&l->daemons[i], SIGHUP);
        return 0;
}

static int on_bus_pipe(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Launcher *l = userdata;
        ssize_t n;
        int r;

        n = read(fd, l->bus_line + l->bus_line_len, sizeof(l->bus_line) - 1 - l->bus_line_len);
        if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                        return 0;
                log_warning_errno(errno, "Failed to read the bus address, ignoring: %m");
        }
        if (n <= 0) {
                /* dbus-daemon closed it without an address: its exit is handled by SIGCHLD. */
                l->bus_pipe_source = sd_event_source_disable_unref(l->bus_pipe_source);
                l->bus_pipe = safe_close(l->bus_pipe);
                return 0;
        }
        l->bus_line_len += (size_t) n;
        l->bus_line[l->bus_line_len] = '\0';
        if (!strchr(l->bus_line, '\n'))
                return 0;

        l->bus_pipe_source = sd_event_source_disable_unref(l->bus_pipe_source);
        l->bus_pipe = safe_close(l->bus_pipe);
        if (l->stopping)
                return 0;

        l->bus.state = CHILD_READY;
        l->bus_ready = true;
        log_info("The bus is up at %s.", l->bus_address);
        r = write_string_file_atomic(l->address_path, l->bus_address, 0644);
        if (r < 0)
                log_warning_errno(r, "Failed to write '%s', ignoring: %m", l->address_path);
        launcher_start_daemons(l);
        launcher_save(l);
        return 0;
}

static int on_notify(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Launcher *l = userdata;
        char buf[NOTIFY_BUFFER_SIZE];
        /* Room for credentials and a few file descriptors, which we close: no fd store here. */
        union {
                struct cmsghdr align;
                uint8_t buf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int) * 16)];
        } control = {};
        struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = &control,
                .msg_controllen = sizeof(control),
        };
        _cleanup_(notify_message_done) NotifyMessage m = {};
        struct ucred *ucred = NULL;
        ssize_t n;
        Child *c;
        int r;

        n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC);
        if (n < 0) {
                if (errno != EAGAIN && errno != EINTR)
                        log_warning_errno(errno, "Failed to receive a notification, ignoring: %m");
                return 0;
        }
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
                if (cm->cmsg_level != SOL_SOCKET)
                        continue;
                if (cm->cmsg_type == SCM_CREDENTIALS &&
                    cm->cmsg_len == CMSG_LEN(sizeof(struct ucred)))
                        ucred = (struct ucred *) CMSG_DATA(cm);
                else if (cm->cmsg_type == SCM_RIGHTS) {
                        int *fds = (int *) CMSG_DATA(cm);
                        size_t n_fds = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

                        for (size_t i = 0; i < n_fds; i++)
                                safe_close(fds[i]);
                }
        }
        if ((size_t) n >= sizeof(buf) || (mh.msg_flags & MSG_CTRUNC)) {
                log_warning("Notification too long or truncated, ignoring.");
                return 0;
        }
        /* Like NotifyAccess=main: only the process we started may speak for itself. */
        c = ucred ? launcher_child_by_pid(l, ucred->pid) : NULL;
        if (!c || !c->info) {
                log_debug("Notification from PID %d, which is none of ours, ignoring.",
                          ucred ? (int) ucred->pid : -1);
                return 0;
        }

        r = notify_message_parse(buf, (size_t) n, &m);
        if (r < 0) {
                log_warning_errno(r, "Bad notification from %s, ignoring: %m", c->name);
                return 0;
        }
        if (m.status)
                free_and_replace(c->status, m.status);
        if (m.watchdog)
                c->last_watchdog = now(CLOCK_MONOTONIC);
        if (m.ready && c->state == CHILD_STARTING) {
                char span[TIMESPAN_MAX_LEN];

                c->state = CHILD_READY;
                log_info("%s is ready (PID %d) after %s.", c->name, (int) c->pid,
                         format_timespan(now(CLOCK_MONOTONIC) - c->started_mono, USEC_PER_MSEC,
                                         span, sizeof(span)));
                launcher_start_daemons(l);
        }
        if (m.stopping)
                log_info("%s is stopping.", c->name);
        launcher_save(l);
        return 0;
}

/* Once a second: daemons that never became ready, and daemons whose watchdog ran out. */
static int on_tick(sd_event_source *s, uint64_t usec, void *userdata) {
        Launcher *l = userdata;
        usec_t mono = now(CLOCK_MONOTONIC);

        for (size_t i = 0; i < ZL_N_DAEMONS; i++) {
                Child *c = &l->daemons[i];

                if (c->state == CHILD_STARTING && l->opts->start_timeout_usec > 0 &&
                    mono - c->started_mono > l->opts->start_timeout_usec) {
                        log_error("%s did not become ready in time, killing it.", c->name);
                        child_kill(c, SIGKILL);
                } else if (c->state == CHILD_READY && l->opts->watchdog_usec > 0 &&
                           mono - c->last_watchdog > l->opts->watchdog_usec) {
                        log_error("%s missed its watchdog, killing it.", c->name);
                        child_kill(c, SIGKILL);
                }
        }
        return sd_event_source_set_time_relative(s, TICK_USEC);
}

static int launcher_lock(Launcher *l) {
        _cleanup_close_ int fd = -EBADF;
        char buf[32];
        int n;

        fd = open(l->pid_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
        if (fd < 0)
                return log_error_errno(errno, "Failed to open '%s': %m", l->pid_path);
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                if (errno == EWOULDBLOCK)
                        return log_error_errno(EBUSY, "Another supervisor runs the node in '%s'.",
                                               l->opts->state_dir);
                return log_error_errno(errno, "Failed to lock '%s': %m", l->pid_path);
        }
        n = snprintf(buf, sizeof(buf), "%d\n", (int) getpid());
        if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t) n, 0) != n)
                return log_error_errno(errno, "Failed to write '%s': %m", l->pid_path);
        l->pid_fd = TAKE_FD(fd);
        return 0;
}

static int launcher_open_notify(Launcher *l) {
        _cleanup_close_ int fd = -EBADF;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int one = 1, r;

        if (strlen(l->notify_path) >= sizeof(sa.sun_path))
                return log_error_errno(ENAMETOOLONG, "State directory path too long for '%s'.",
                                       l->notify_path);
        strcpy(sa.sun_path, l->notify_path);
        (void) unlink(l->notify_path);

        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return log_error_errno(errno, "Failed to create the notification socket: %m");
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return log_error_errno(errno, "Failed to bind '%s': %m", l->notify_path);
        if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0)
                return log_error_errno(errno, "Failed to enable SO_PASSCRED: %m");
        r = sd_event_add_io(l->event, &l->notify_source, fd, EPOLLIN, on_notify, l);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the notification socket: %m");
        l->notify_fd = TAKE_FD(fd);
        return 0;
}

static int find_in_path(const char *name, char **ret) {
        const char *path = getenv("PATH") ?: "/usr/local/bin:/usr/bin:/bin";
        _cleanup_free_ char *copy = strdup(path);
        char *save = NULL;

        if (!copy)
                return -ENOMEM;
        for (char *dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
                char *p = path_join(dir, name);

                if (!p)
                        return -ENOMEM;
                if (path_is_absolute(p) && access(p, X_OK) == 0) {
                        *ret = p;
                        return 0;
                }
                free(p);
        }
        return -ENOENT;
}

static int launcher_write_config(Launcher *l) {
        _cleanup_free_ char *policy_xml = NULL, *policies = NULL, *config = NULL;
        _cleanup_free_ char *user = NULL;
        int r;

        r = read_full_file(l->opts->policy_path, 1024 * 1024, &policy_xml, NULL);
        if (r < 0)
                return log_error_errno(r, "Failed to read the bus policy '%s': %m",
                                       l->opts->policy_path);
        r = launcher_policy_extract(policy_xml, &policies);
        if (r < 0)
                return log_error_errno(r, "No usable <policy> elements in '%s': %m",
                                       l->opts->policy_path);
        if (geteuid() != 0) {
                struct passwd *pw = getpwuid(geteuid());

                if (pw)
                        user = strdup(pw->pw_name);
                else
                        r = asprintf(&user, "%u", (unsigned) geteuid());
                if (!user)
                        return log_oom();
        }
        r = launcher_bus_config(l->bus_socket, policies, user, &config);
        if (r < 0)
                return log_oom();
        r = write_string_file_atomic(l->config_path, config, 0644);
        if (r < 0)
                return log_error_errno(r, "Failed to write '%s': %m", l->config_path);
        return 0;
}

static int launcher_init(Launcher *l, const LauncherOptions *opts) {
        const char *dir = opts->state_dir;
        struct sockaddr_un sa;
        int r;

        *l = (Launcher){
                .opts = opts,
                .pid_fd = -EBADF,
                .notify_fd = -EBADF,
                .ready_fd = opts->ready_fd >= 0 ? opts->ready_fd : -EBADF,
                .bus_pipe = -EBADF,
        };

        l->pid_path = path_join(dir, "launcher.pid");
        l->json_path = path_join(dir, "launcher.json");
        l->config_path = path_join(dir, "bus.conf");
        l->bus_socket = path_join(dir, "bus.sock");
        l->address_path = path_join(dir, "bus-address");
        l->notify_path = path_join(dir, "notify.sock");
        l->log_dir = path_join(dir, "log");
        l->daemon_state_dir = path_join(dir, "state");
        l->daemon_runtime_dir = path_join(dir, "run");
        if (!l->pid_path || !l->json_path || !l->config_path || !l->bus_socket ||
            !l->address_path || !l->notify_path || !l->log_dir || !l->daemon_state_dir ||
            !l->daemon_runtime_dir)
                return log_oom();
        l->bus_address = launcher_bus_address(l->bus_socket);
        if (!l->bus_address)
                return log_oom();
        if (strlen(l->bus_socket) >= sizeof(sa.sun_path))
                return log_error_errno(ENAMETOOLONG,
                                       "State directory '%s' is too long for a socket path.", dir);

        r = launcher_child_env(environ, NULL, NULL, NULL, NULL, 0, &l->base_env);
        if (r < 0)
                return log_oom();

        l->bus = (Child){ .launcher = l, .name = "dbus-daemon" };
        if (opts->dbus_daemon)
                l->bus.path = strdup(opts->dbus_daemon);
        else if (find_in_path("dbus-daemon", &l->bus.path) < 0)
                return log_error_errno(ENOENT, "dbus-daemon not found in $PATH.");
        if (!l->bus.path)
                return log_oom();

        for (size_t i = 0; i < ZL_N_DAEMONS; i++) {
                Child *c = &l->daemons[i];

                *c = (Child){ .launcher = l,
                              .name = zl_daemon_list[i].name,
                              .info = &zl_daemon_list[i] };
                c->path = launcher_daemon_path(opts->daemon_dir, opts->daemon_dir_in_tree, c->name);
                if (!c->path)
                        return log_oom();
        }
        return 0;
}

int launcher_run(const LauncherOptions *opts) {
        _cleanup_(launcher_done) Launcher l = {};
        sigset_t ss;
        int r;

        r = launcher_init(&l, opts);
        if (r < 0)
                return r;

        r = mkdir_p(opts->state_dir, 0700);
        if (r < 0)
                return log_error_errno(r, "Failed to create '%s': %m", opts->state_dir);
        r = launcher_lock(&l);
        if (r < 0)
                return r;
        for (const char *const *d = (const char *const[]){ l.log_dir, l.daemon_state_dir,
                                                           l.daemon_runtime_dir, NULL };
             *d; d++)
                if (mkdir(*d, 0700) < 0 && errno != EEXIST)
                        return log_error_errno(errno, "Failed to create '%s': %m", *d);
        /* A previous supervisor that was killed outright leaves these behind. */
        (void) unlink(l.bus_socket);
        (void) unlink(l.address_path);

        /* Orphaned grandchildren come to us, so that nothing escapes `stop`. */
        if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
                return log_error_errno(errno, "Failed to become a subreaper: %m");

        r = launcher_write_config(&l);
        if (r < 0)
                return r;

        sigemptyset(&ss);
        sigaddset(&ss, SIGCHLD);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        sigaddset(&ss, SIGHUP);
        sigaddset(&ss, SIGPIPE);
        if (sigprocmask(SIG_BLOCK, &ss, NULL) < 0)
                return log_error_errno(errno, "Failed to block signals: %m");

        r = sd_event_new(&l.event);
        if (r < 0)
                return log_error_errno(r, "Failed to create the event loop: %m");
        r = sd_event_add_signal(l.event, NULL, SIGCHLD, on_sigchld, &l);
        if (r >= 0)
                r = sd_event_add_signal(l.event, NULL, SIGTERM, on_stop_signal, &l);
        if (r >= 0)
                r = sd_event_add_signal(l.event, NULL, SIGINT, on_stop_signal, &l);
        if (r >= 0)
                r = sd_event_add_signal(l.event, NULL, SIGHUP, on_sighup, &l);
        if (r >= 0)
                r = sd_event_add_time_relative(l.event, &l.tick_source, CLOCK_MONOTONIC, TICK_USEC,
                                               100 * USEC_PER_MSEC, on_tick, &l);
        if (r >= 0)
                r = sd_event_source_set_enabled(l.tick_source, SD_EVENT_ON);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the event loop: %m");

        r = launcher_open_notify(&l);
        if (r < 0)
                return r;

        log_info("Supervisor %d starting the node in '%s' with the daemons of '%s'.",
                 (int) getpid(), opts->state_dir, opts->daemon_dir);
        r = bus_spawn(&l);
        if (r < 0)
                return r;
        launcher_save(&l);

        r = sd_event_loop(l.event);
        if (r < 0)
                log_error_errno(r, "Event loop failed: %m");

        /* Normally everything is reaped by now; after a failed loop make sure of it. */
        for (size_t i = 0; i <= ZL_N_DAEMONS; i++) {
                Child *c = i == 0 ? &l.bus : &l.daemons[i - 1];

                if (c->pid > 0) {
                        (void) kill(c->pid, SIGKILL);
                        (void) waitpid(c->pid, NULL, 0);
                        c->pid = 0;
                }
        }
        launcher_kill_orphans(&l);

        (void) unlink(l.notify_path);
        (void) unlink(l.bus_socket);
        (void) unlink(l.address_path);
        (void) unlink(l.json_path);
        log_info("Supervisor %d stopped.", (int) getpid());
        if (r < 0)
                return r;
        return l.error;
}
