/* SPDX-License-Identifier: Apache-2.0 */
/* zl-runc.c: the container engine as an OCI runtime command line, compatible with runc. */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>

#include "cap-util.h"
#include "cgroup.h"
#include "container.h"
#include "fd-util.h"
#include "fileio.h"
#include "log.h"
#include "oci-cgroup.h"
#include "oci-config.h"
#include "parse-util.h"
#include "path-util.h"
#include "runc-state.h"
#include "seccomp-filter.h"
#include "signal-util.h"
#include "string-util.h"
#include "time-util.h"

#define CONFIG_FILE_MAX (4U * 1024U * 1024U)
/* How long delete/kill wait for a killed init to be gone. */
#define DEATH_TIMEOUT_USEC (10 * USEC_PER_SEC)

static const char *arg_root = RUNC_ROOT_DEFAULT;
static const char *arg_log_path = NULL;
static bool arg_log_json = false;
static bool arg_debug = false;
static FILE *log_file = NULL;

/* ---- logging ------------------------------------------------------------------------------ */

static const char *level_name(int level) {
        switch (level) {
        case LOG_EMERG:
        case LOG_ALERT:
        case LOG_CRIT:
        case LOG_ERR:
                return "error";
        case LOG_WARNING:
                return "warning";
        case LOG_NOTICE:
        case LOG_INFO:
                return "info";
        default:
                return "debug";
        }
}

static void log_file_write(int level, const char *msg) {
        char ts[RUNC_TIMESTAMP_MAX];
        struct timespec t;

        (void) clock_gettime(CLOCK_REALTIME, &t);
        if (!runc_format_timestamp((uint64_t) t.tv_sec * NSEC_PER_SEC + (uint64_t) t.tv_nsec, ts,
                                   sizeof(ts)))
                ts[0] = '\0';
        if (arg_log_json) {
                _cleanup_(json_decrefp) json_t *j = NULL;
                _cleanup_free_ char *line = NULL;

                /* The keys in the order logrus writes them; podman and conmon read "msg". */
                j = json_pack("{s:s, s:s, s:s}", "level", level_name(level), "msg", msg, "time",
                              ts);
                line = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
                if (line)
                        (void) fprintf(log_file, "%s\n", line);
        } else {
                _cleanup_free_ char *e = string_escape_for_display(msg, SIZE_MAX);

                (void) fprintf(log_file, "time=\"%s\" level=%s msg=\"%s\"\n", ts, level_name(level),
                               e ?: msg);
        }
        (void) fflush(log_file);
}

/* Errors go to stderr and to the --log file, as runc does; everything else to the log file, or
 * to stderr without one. Debug messages only with --debug. Returns -abs(error). */
static int runc_log(int level, int error, const char *format, ...) _printf_(3, 4);
static int runc_log(int level, int error, const char *format, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;

        if (level >= LOG_DEBUG && !arg_debug)
                return -abs(error);
        errno = abs(error);
        va_start(ap, format);
        if (vasprintf(&msg, format, ap) < 0)
                msg = NULL;
        va_end(ap);
        if (!msg)
                return -abs(error);
        if (log_file)
                log_file_write(level, msg);
        if (!log_file || level <= LOG_ERR)
                (void) fprintf(stderr, "%s\n", msg);
        return -abs(error);
}

#define runc_error(error, ...) runc_log(LOG_ERR, error, __VA_ARGS__)
#define runc_warning(...) (void) runc_log(LOG_WARNING, 0, __VA_ARGS__)
#define runc_debug(...) (void) runc_log(LOG_DEBUG, 0, __VA_ARGS__)
#define runc_oom() runc_error(ENOMEM, "Out of memory.")

/* ---- small helpers ------------------------------------------------------------------------ */

static int pidfd_open_checked(pid_t pid, uint64_t start_time) {
        int fd, r;

        fd = (int) syscall(SYS_pidfd_open, pid, 0);
        if (fd < 0)
                return errno == ESRCH ? -ESRCH : -errno;
        /* Checked after the pidfd pins the process, so the pid cannot be reused in between. */
        r = proc_pid_is_alive(pid, start_time);
        if (r <= 0) {
                safe_close(fd);
                return r < 0 ? r : -ESRCH;
        }
        return fd;
}

static int pidfd_signal(int pidfd, int sig) {
        return RET_NERRNO((int) syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0));
}

static int exit_status_to_code(int status) {
        if (WIFEXITED(status))
                return WEXITSTATUS(status);
        if (WIFSIGNALED(status))
                return 128 + WTERMSIG(status);
        return 255;
}

static int write_pid_file(const char *path, pid_t pid) {
        char buf[32];
        int r;

        if (!path)
                return 0;
        (void) snprintf(buf, sizeof(buf), "%" PRIi32, (int32_t) pid);
        r = write_string_file_atomic(path, buf, 0644);
        if (r < 0)
                return runc_error(r, "Failed to write pid file '%s': %m", path);
        return 0;
}

static int console_socket_connect(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -EBADF;

        if (strlen(path) >= sizeof(sa.sun_path))
                return runc_error(ENAMETOOLONG, "Console socket path '%s' is too long.", path);
        memcpy(sa.sun_path, path, strlen(path));
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return runc_error(errno, "Failed to create a socket: %m");
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return runc_error(errno, "Failed to connect to console socket '%s': %m", path);
        return TAKE_FD(fd);
}

/* Passes the terminal master as runc does: one message, its name as data, the fd attached. */
static int console_socket_send(int sock, int master) {
        static const char name[] = "/dev/ptmx";
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int))];
        } control = {};
        struct iovec iov = { .iov_base = (void *) name, .iov_len = sizeof(name) - 1 };
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = &control,
                .msg_controllen = sizeof(control),
        };
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &master, sizeof(int));
        if (sendmsg(sock, &mh, MSG_NOSIGNAL) < 0)
                return runc_error(errno, "Failed to send the terminal over the console socket: %m");
        return 0;
}

/* The directory that lists the cgroup's processes, whichever hierarchy has it. */
static int cgroup_procs_dir(CgroupMode mode, const char *path, char **ret) {
        static const char *const v1[] = { "pids", "freezer", "memory", "cpu", "devices" };
        _cleanup_free_ char *d = NULL;

        if (mode == CGROUP_MODE_V2) {
                d = path_join(CGROUP_ROOT_DEFAULT, path);
                if (!d)
                        return -ENOMEM;
                *ret = TAKE_PTR(d);
                return 0;
        }
        if (mode == CGROUP_MODE_HYBRID) {
                d = path_join(CGROUP_ROOT_DEFAULT, "unified", path);
                if (!d)
                        return -ENOMEM;
                if (access(d, F_OK) >= 0) {
                        *ret = TAKE_PTR(d);
                        return 0;
                }
                d = mfree(d);
        }
        for (size_t i = 0; i < ELEMENTSOF(v1); i++) {
                d = path_join(CGROUP_ROOT_DEFAULT, v1[i], path);
                if (!d)
                        return -ENOMEM;
                if (access(d, F_OK) >= 0) {
                        *ret = TAKE_PTR(d);
                        return 0;
                }
                d = mfree(d);
        }
        return -ENOENT;
}

static int cgroup_read_pids(CgroupMode mode, const char *path, pid_t **ret, size_t *ret_n) {
        _cleanup_free_ char *dir = NULL, *procs = NULL, *text = NULL;
        _cleanup_free_ pid_t *pids = NULL;
        size_t n = 0, cap = 0;
        int r;

        r = cgroup_procs_dir(mode, path, &dir);
        if (r < 0)
                return r;
        procs = path_join(dir, "cgroup.procs");
        if (!procs)
                return -ENOMEM;
        r = read_full_file(procs, SIZE_MAX, &text, NULL);
        if (r < 0)
                return r;
        for (char *p = text, *line; (line = strsep(&p, "\n"));) {
                int32_t pid;

                if (isempty(line))
                        continue;
                if (safe_atoi(line, &pid) < 0 || pid <= 0)
                        continue;
                if (n == cap) {
                        pid_t *m;

                        cap = cap ? cap * 2 : 16;
                        m = reallocarray(pids, cap, sizeof(pid_t));
                        if (!m)
                                return -ENOMEM;
                        pids = m;
                }
                pids[n++] = pid;
        }
        *ret = TAKE_PTR(pids);
        *ret_n = n;
        return 0;
}

/* ---- the container ------------------------------------------------------------------------ */

/* What one zl-runc invocation knows about a container. */
typedef struct Container {
        char *id;
        char *dir; /* <root>/<id> */
        RuncState *state;
        CgroupMode mode;
        Cgroup *cgroup;
} Container;

static void container_done(Container *c) {
        free(c->id);
        free(c->dir);
        runc_state_free(c->state);
        cgroup_free(c->cgroup);
        *c = (Container){};
}

static int check_id(const char *id) {
        if (!runc_id_is_valid(id))
                return runc_error(EINVAL,
                                  "Invalid container id '%s': use 1..1024 characters of "
                                  "[A-Za-z0-9_+.-].",
                                  strempty(id));
        return 0;
}

/* Loads the state of an existing container: -ENOENT (not logged) if there is none. */
static int container_load(const char *id, Container *ret) {
        Container c = {};
        int r;

        r = check_id(id);
        if (r < 0)
                return r;
        c.id = strdup(id);
        c.dir = runc_state_dir(arg_root, id);
        if (!c.id || !c.dir) {
                container_done(&c);
                return runc_oom();
        }
        r = runc_state_load(c.dir, &c.state);
        if (r < 0) {
                container_done(&c);
                if (r == -ENOENT)
                        return r;
                return runc_error(r, "Failed to load the state of container '%s': %m", id);
        }
        c.mode = CGROUP_MODE_V1;
        if (c.state->cgroup_path) {
                c.mode = cgroup_detect(NULL);
                if (c.mode < 0) {
                        r = c.mode;
                        container_done(&c);
                        return runc_error(r, "Failed to detect the cgroup hierarchy: %m");
                }
                r = cgroup_open(NULL, c.mode, c.state->cgroup_path, &c.cgroup);
                if (r < 0 && r != -ENOENT) {
                        container_done(&c);
                        return runc_error(r, "Failed to open cgroup '%s': %m",
                                          c.state->cgroup_path);
                }
        }
        *ret = c;
        return 0;
}

static int container_load_or_fail(const char *id, Container *ret) {
        int r = container_load(id, ret);

        if (r == -ENOENT)
                return runc_error(ENOENT, "container \"%s\" does not exist", id);
        return r;
}

static int remove_state_dir(const char *dir) {
        static const char *const files[] = { RUNC_STATE_FILE, RUNC_EXEC_FIFO };
        int r = 0;

        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                _cleanup_free_ char *p = path_join(dir, files[i]);

                if (!p)
                        return -ENOMEM;
                if (unlink(p) < 0 && errno != ENOENT)
                        r = -errno;
        }
        if (rmdir(dir) < 0 && errno != ENOENT)
                return -errno;
        return r;
}

/* Waits until the init is gone (a zombie counts as gone: its parent reaps it). */
static int wait_for_death(const RuncState *s) {
        usec_t until = now(CLOCK_MONOTONIC) + DEATH_TIMEOUT_USEC;

        while (proc_pid_is_alive(s->pid, s->start_time) > 0) {
                if (now(CLOCK_MONOTONIC) > until)
                        return -ETIMEDOUT;
                (void) usleep(1000);
        }
        return 0;
}

/* Kills whatever remains and removes the cgroup and the state directory. */
static int container_destroy(Container *c) {
        int r;

        if (c->cgroup) {
                for (int attempt = 0;; attempt++) {
                        r = cgroup_destroy(c->cgroup);
                        if (r != -EBUSY || attempt >= 3)
                                break;
                        /* Processes remain (forked ones without a PID namespace, or ones just
                         * exiting): kill the whole cgroup, thawed so the kill lands. */
                        r = cgroup_kill(c->cgroup);
                        if (r < 0 && r != -EBUSY)
                                break;
                        (void) cgroup_thaw(c->cgroup);
                }
                if (r < 0)
                        return runc_error(r, "Failed to remove cgroup '%s': %m",
                                          cgroup_get_path(c->cgroup));
        }
        r = remove_state_dir(c->dir);
        if (r < 0)
                return runc_error(r, "Failed to remove '%s': %m", c->dir);
        return 0;
}

/* ---- hooks -------------------------------------------------------------------------------- */

/* Only the hooks that run in the runtime's namespaces can be run from here; the engine has no
 * place for createContainer/startContainer inside the container, so configs with those are
 * refused before anything is created. */
static const char *const hook_kinds_supported[] = {
        "prestart", "createRuntime", "poststart", "poststop", NULL,
};

static int hooks_check(const json_t *hooks) {
        const char *kind;
        json_t *list;

        if (!hooks)
                return 0;
        if (!json_is_object(hooks))
                return runc_error(EINVAL, "hooks: expected an object");
        json_object_foreach ((json_t *) hooks, kind, list) {
                size_t i;
                json_t *h;

                if (!strv_contains((char *const *) hook_kinds_supported, kind))
                        return runc_error(EOPNOTSUPP,
                                          "hooks.%s: zl-runc runs prestart, createRuntime, "
                                          "poststart and poststop hooks only",
                                          kind);
                if (!json_is_array(list))
                        return runc_error(EINVAL, "hooks.%s: expected an array", kind);
                json_array_foreach (list, i, h) {
                        json_t *p = json_object_get(h, "path"), *t = json_object_get(h, "timeout");

                        if (!json_is_string(p) || !path_is_absolute(json_string_value(p)))
                                return runc_error(EINVAL,
                                                  "hooks.%s[%zu].path: expected an "
                                                  "absolute path",
                                                  kind, i);
                        if (t && (!json_is_integer(t) || json_integer_value(t) <= 0))
                                return runc_error(EINVAL,
                                                  "hooks.%s[%zu].timeout: expected a "
                                                  "positive number of seconds",
                                                  kind, i);
                }
        }
        return 0;
}

static int strv_from_json(const json_t *a, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        size_t i;
        json_t *v;
        int r;

        json_array_foreach (a, i, v) {
                if (!json_is_string(v))
                        return -EINVAL;
                r = strv_extend(&l, json_string_value(v));
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

/* Runs one hook with the state on stdin, as the runtime spec says: a failure or a timeout is an
 * error. */
static int hook_run(const char *kind, size_t index, const json_t *h, const char *state_json) {
        _cleanup_strv_free_ char **args = NULL, **env = NULL;
        const char *path = json_string_value(json_object_get(h, "path"));
        const json_t *t = json_object_get(h, "timeout");
        usec_t deadline = t ? now(CLOCK_MONOTONIC) + (usec_t) json_integer_value(t) * USEC_PER_SEC
                            : USEC_INFINITY;
        int pipefd[2], status, r;
        pid_t pid;

        r = strv_from_json(json_object_get(h, "args"), &args);
        if (r < 0)
                return runc_error(r, "hooks.%s[%zu].args: %m", kind, index);
        r = strv_from_json(json_object_get(h, "env"), &env);
        if (r < 0)
                return runc_error(r, "hooks.%s[%zu].env: %m", kind, index);
        if (!args && strv_extend(&args, path) < 0)
                return runc_oom();
        if (!env) {
                env = calloc(1, sizeof(char *));
                if (!env)
                        return runc_oom();
        }
        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return runc_error(errno, "Failed to create a pipe: %m");
        pid = fork();
        if (pid < 0) {
                safe_close(pipefd[0]);
                safe_close(pipefd[1]);
                return runc_error(errno, "Failed to fork: %m");
        }
        if (pid == 0) {
                if (dup2(pipefd[0], STDIN_FILENO) < 0)
                        _exit(127);
                execve(path, args, env);
                _exit(127);
        }
        safe_close(pipefd[0]);
        /* A hook that does not read its stdin must not block us: ignore EPIPE. */
        (void) signal(SIGPIPE, SIG_IGN);
        (void) !write(pipefd[1], state_json, strlen(state_json));
        safe_close(pipefd[1]);
        for (;;) {
                pid_t w = waitpid(pid, &status, deadline == USEC_INFINITY ? 0 : WNOHANG);

                if (w == pid)
                        break;
                if (w < 0 && errno != EINTR)
                        return runc_error(errno, "Failed to wait for hook '%s': %m", path);
                if (deadline != USEC_INFINITY && now(CLOCK_MONOTONIC) > deadline) {
                        (void) kill(pid, SIGKILL);
                        (void) waitpid(pid, NULL, 0);
                        return runc_error(ETIMEDOUT, "hooks.%s[%zu]: '%s' timed out", kind, index,
                                          path);
                }
                if (w == 0)
                        (void) usleep(1000);
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return runc_error(EIO, "hooks.%s[%zu]: '%s' failed (%s %d)", kind, index, path,
                                  WIFEXITED(status) ? "exit status" : "signal",
                                  WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        return 0;
}

static int hooks_run(const json_t *hooks, const char *kind, const RuncState *s, RuncStatus status) {
        _cleanup_(json_decrefp) json_t *state = NULL;
        _cleanup_free_ char *text = NULL;
        json_t *list = json_object_get(hooks, kind), *h;
        size_t i;
        int r;

        if (json_array_size(list) == 0)
                return 0;
        r = runc_state_to_oci_json(s, status, &state);
        if (r < 0)
                return runc_error(r, "Failed to format the state: %m");
        text = json_dumps(state, JSON_COMPACT);
        if (!text)
                return runc_oom();
        json_array_foreach (list, i, h) {
                r = hook_run(kind, i, h, text);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* The hooks of a container are read again from its config when needed, so create does not
 * have to store them. */
static int hooks_load(const RuncState *s, json_t **ret) {
        _cleanup_(json_decrefp) json_t *j = NULL;
        _cleanup_free_ char *p = path_join(s->bundle, "config.json");

        if (!p)
                return -ENOMEM;
        j = json_load_file(p, 0, NULL);
        *ret = j ? json_incref(json_object_get(j, "hooks")) : NULL;
        return 0;
}

/* ---- create ------------------------------------------------------------------------------- */

typedef struct CreateArgs {
        const char *id;
        const char *bundle;
        const char *pid_file;
        const char *console_socket;
        unsigned preserve_fds;
        /* run in the foreground: the terminal, if any, stays with us. */
        bool foreground;
        /* create: the init waits on exec.fifo; run: it runs at once. */
        bool wait_for_start;
} CreateArgs;

typedef struct Created {
        Container c;
        ContainerInit init;
        json_t *hooks;
} Created;

static void created_done(Created *x) {
        container_done(&x->c);
        container_init_done(&x->init);
        json_decref(x->hooks);
        x->hooks = NULL;
}

static int annotations_to_json(const OciConfig *config, json_t **ret) {
        _cleanup_(json_decrefp) json_t *a = NULL;

        if (config->n_annotations == 0) {
                *ret = NULL;
                return 0;
        }
        a = json_object();
        if (!a)
                return -ENOMEM;
        for (size_t i = 0; i < config->n_annotations; i++)
                if (json_object_set_new(a, config->annotations[i].key,
                                        json_string(config->annotations[i].value)) < 0)
                        return -ENOMEM;
        *ret = TAKE_PTR(a);
        return 0;
}

/* linux.cgroupsPath as runc reads it with cgroupfs: relative to the cgroup root, a leading '/'
 * allowed. The systemd form "slice:prefix:name" needs a systemd cgroup manager. */
static int cgroup_path_for(const OciConfig *config, const char *id, char **ret) {
        const char *p = config->linux_.cgroups_path;
        char *s;

        if (isempty(p)) {
                s = path_join("zl-runc", id);
                if (!s)
                        return runc_oom();
                *ret = s;
                return 0;
        }
        if (strchr(p, ':'))
                return runc_error(EOPNOTSUPP,
                                  "linux.cgroupsPath '%s': a systemd slice:prefix:name path, but "
                                  "zl-runc manages cgroups through cgroupfs only (podman: "
                                  "--cgroup-manager=cgroupfs)",
                                  p);
        while (*p == '/')
                p++;
        s = strdup(p);
        if (!s)
                return runc_oom();
        path_simplify(s);
        if (isempty(s) || !path_is_safe_relative(s)) {
                free(s);
                return runc_error(EINVAL, "linux.cgroupsPath '%s': not a cgroup below the root",
                                  config->linux_.cgroups_path);
        }
        *ret = s;
        return 0;
}

static bool json_strv_contains(const json_t *a, const char *s) {
        size_t i;
        json_t *v;

        json_array_foreach (a, i, v)
                if (json_is_string(v) && streq(json_string_value(v), s))
                        return true;
        return false;
}

/* What runc tolerates and the strict parser does not: an ambient capability must be permitted
 * and inheritable, and runc only warns when raising one fails, which buildah relies on (it
 * sets ambient capabilities without inheritable ones). Those are dropped here, as their raise
 * would fail anyway. */
static int runc_compat_fixups(json_t *config, bool *changed) {
        json_t *caps = json_object_get(json_object_get(config, "process"), "capabilities");
        json_t *ambient = json_object_get(caps, "ambient");
        json_t *permitted = json_object_get(caps, "permitted");
        json_t *inheritable = json_object_get(caps, "inheritable");

        if (!json_is_array(ambient))
                return 0;
        for (size_t i = 0; i < json_array_size(ambient);) {
                const char *name = json_string_value(json_array_get(ambient, i));

                if (name && (!json_strv_contains(permitted, name) ||
                             !json_strv_contains(inheritable, name))) {
                        runc_debug("process.capabilities.ambient: '%s' is not both permitted and "
                                   "inheritable, dropping it as runc would.",
                                   name);
                        if (json_array_remove(ambient, i) < 0)
                                return -ENOMEM;
                        *changed = true;
                } else
                        i++;
        }
        return 0;
}

static int do_create(const CreateArgs *a, Created *ret) {
        _cleanup_(oci_config_freep) OciConfig *config = NULL;
        _cleanup_(json_decrefp) json_t *raw = NULL, *hooks = NULL;
        _cleanup_free_ char *bundle = NULL, *config_path = NULL, *text = NULL, *err = NULL,
                            *dir = NULL, *cg_path = NULL, *fifo = NULL, *rootfs = NULL;
        _cleanup_free_ CgroupDeviceRule *devices = NULL;
        _cleanup_free_ int *extra = NULL;
        _cleanup_close_ int fifo_fd = -EBADF, console = -EBADF;
        _cleanup_(cgroup_freep) Cgroup *cg = NULL;
        _cleanup_(runc_state_freep) RuncState *s = NULL;
        ContainerSpawnOptions o = CONTAINER_SPAWN_OPTIONS_INIT;
        ContainerInit init = CONTAINER_INIT_NULL;
        CgroupLimits limits;
        const char *reason = NULL;
        bool dir_made = false, spawned = false;
        CgroupMode mode;
        struct timespec ts;
        size_t size;
        int r;

        r = check_id(a->id);
        if (r < 0)
                return r;

        bundle = realpath(a->bundle ?: ".", NULL);
        if (!bundle)
                return runc_error(errno, "Failed to resolve bundle '%s': %m", a->bundle ?: ".");
        config_path = path_join(bundle, "config.json");
        if (!config_path)
                return runc_oom();
        r = read_full_file(config_path, CONFIG_FILE_MAX, &text, &size);
        if (r < 0)
                return runc_error(r, "Failed to read '%s': %m", config_path);
        raw = json_loadb(text, size, 0, NULL);
        if (raw && json_is_object(raw)) {
                bool changed = false;

                r = runc_compat_fixups(raw, &changed);
                if (r < 0)
                        return runc_oom();
                if (changed) {
                        free(text);
                        text = json_dumps(raw, JSON_COMPACT);
                        if (!text)
                                return runc_oom();
                        size = strlen(text);
                }
        }
        /* Also when jansson refused it: the parser says why in its own words. */
        r = oci_config_parse(text, size, &config, &err);
        if (r == -ENOMEM)
                return runc_oom();
        if (r < 0)
                return runc_error(r, "%s: %s", config_path, strna(err));
        hooks = json_incref(json_object_get(raw, "hooks"));
        r = hooks_check(hooks);
        if (r < 0)
                return r;

        r = oci_config_check_rlimits(config, &err);
        if (r < 0)
                return runc_error(r, "%s", strna(err));
        if (config->linux_.seccomp) {
                scmp_filter_ctx ctx = NULL;

                err = mfree(err);
                r = seccomp_filter_from_json(config->linux_.seccomp, &ctx, &err);
                if (r < 0)
                        return runc_error(r, "linux.seccomp.%s", strna(err));
                seccomp_release(ctx);
        }
        if (config->process.terminal && !a->console_socket && !a->foreground)
                return runc_error(EINVAL, "process.terminal is set: --console-socket is needed "
                                          "when zl-runc does not stay in the foreground");
        if (a->console_socket && !config->process.terminal)
                runc_debug("--console-socket given but process.terminal is false, ignoring.");

        rootfs = path_is_absolute(config->root_path) ? strdup(config->root_path)
                                                     : path_join(bundle, config->root_path);
        if (!rootfs)
                return runc_oom();

        r = oci_config_to_cgroup_limits(config, &limits, &devices, &err);
        if (r == -ENOMEM)
                return runc_oom();
        if (r < 0)
                return runc_error(r, "%s", strna(err));
        r = cgroup_path_for(config, a->id, &cg_path);
        if (r < 0)
                return r;
        mode = cgroup_detect(NULL);
        if (mode < 0)
                return runc_error(mode, "Failed to detect the cgroup hierarchy: %m");
        r = cgroup_limits_validate(&limits, mode, &reason);
        if (r < 0)
                return runc_error(r, "linux.resources: %s", reason);

        if (a->preserve_fds > 0) {
                extra = calloc(a->preserve_fds, sizeof(int));
                if (!extra)
                        return runc_oom();
                for (unsigned i = 0; i < a->preserve_fds; i++)
                        extra[i] = 3 + (int) i;
        }
        if (a->console_socket && config->process.terminal) {
                console = console_socket_connect(a->console_socket);
                if (console < 0)
                        return console;
        }

        /* Nothing has been created so far; from here on everything is undone on failure. */
        r = mkdir_p(arg_root, 0711);
        if (r < 0)
                return runc_error(r, "Failed to create '%s': %m", arg_root);
        dir = runc_state_dir(arg_root, a->id);
        if (!dir)
                return runc_oom();
        if (mkdir(dir, 0711) < 0) {
                if (errno == EEXIST)
                        return runc_error(EEXIST, "container with id exists: %s", a->id);
                return runc_error(errno, "Failed to create '%s': %m", dir);
        }
        dir_made = true;

        r = cgroup_new(NULL, mode, cg_path, &limits, &reason, &cg);
        if (r < 0) {
                if (reason)
                        runc_error(r, "linux.resources: %s", reason);
                else if (r == -EEXIST)
                        runc_error(r, "linux.cgroupsPath: cgroup '%s' exists already", cg_path);
                else
                        runc_error(r, "Failed to create cgroup '%s': %m", cg_path);
                goto fail;
        }

        if (a->wait_for_start) {
                fifo = path_join(dir, RUNC_EXEC_FIFO);
                if (!fifo) {
                        r = runc_oom();
                        goto fail;
                }
                if (mkfifo(fifo, 0622) < 0) {
                        r = runc_error(errno, "Failed to create '%s': %m", fifo);
                        goto fail;
                }
                fifo_fd = open(fifo, O_PATH | O_CLOEXEC);
                if (fifo_fd < 0) {
                        r = runc_error(errno, "Failed to open '%s': %m", fifo);
                        goto fail;
                }
        }

        o.config = config;
        o.bundle = bundle;
        o.cgroup = cg;
        for (int i = 0; i < 3; i++)
                o.stdio[i] = i;
        o.extra_fds = extra;
        o.n_extra_fds = a->preserve_fds;
        o.wait_for_start = a->wait_for_start;
        o.start_fifo_fd = fifo_fd;
        err = mfree(err);
        r = container_spawn(&o, &init, &err);
        if (r < 0) {
                if (err)
                        runc_error(r, "%s", err);
                else
                        runc_error(r, "Failed to create the container: %m");
                goto fail;
        }
        spawned = true;
        fifo_fd = safe_close(fifo_fd);

        s = calloc(1, sizeof(RuncState));
        if (!s) {
                r = runc_oom();
                goto fail;
        }
        s->pid = init.pid;
        r = proc_pid_stat(init.pid, NULL, &s->start_time);
        if (r < 0) {
                runc_error(r, "Failed to read the start time of the container init: %m");
                goto fail;
        }
        (void) clock_gettime(CLOCK_REALTIME, &ts);
        s->created_nsec = (uint64_t) ts.tv_sec * NSEC_PER_SEC + (uint64_t) ts.tv_nsec;
        s->id = strdup(a->id);
        s->cgroup_path = strdup(cg_path);
        if (!s->id || !s->cgroup_path) {
                r = runc_oom();
                goto fail;
        }
        s->bundle = TAKE_PTR(bundle);
        s->rootfs = TAKE_PTR(rootfs);
        r = annotations_to_json(config, &s->annotations);
        if (r < 0) {
                runc_oom();
                goto fail;
        }
        r = runc_state_save(dir, s);
        if (r < 0) {
                runc_error(r, "Failed to write the state of '%s': %m", a->id);
                goto fail;
        }

        /* Hooks that set things up around the container (networking) see it created. */
        r = hooks_run(hooks, "prestart", s, RUNC_STATUS_CREATED);
        if (r >= 0)
                r = hooks_run(hooks, "createRuntime", s, RUNC_STATUS_CREATED);
        if (r < 0)
                goto fail;

        if (console >= 0) {
                r = console_socket_send(console, init.pty_master);
                if (r < 0)
                        goto fail;
                init.pty_master = safe_close(init.pty_master);
        }
        r = write_pid_file(a->pid_file, init.pid);
        if (r < 0)
                goto fail;

        ret->c = (Container){
                .id = strdup(a->id),
                .dir = TAKE_PTR(dir),
                .state = TAKE_PTR(s),
                .mode = mode,
                .cgroup = TAKE_PTR(cg),
        };
        if (!ret->c.id) {
                container_done(&ret->c);
                return runc_oom();
        }
        ret->init = init;
        ret->hooks = TAKE_PTR(hooks);
        return 0;

fail:
        if (spawned) {
                int status;

                if (init.pidfd >= 0)
                        (void) pidfd_signal(init.pidfd, SIGKILL);
                else
                        (void) kill(init.pid, SIGKILL);
                while (waitpid(init.pid, &status, 0) < 0 && errno == EINTR)
                        ;
                container_init_done(&init);
        }
        if (cg) {
                (void) cgroup_kill(cg);
                if (cgroup_destroy(cg) < 0)
                        runc_warning("Failed to remove cgroup '%s', ignoring.", cg_path);
        }
        if (dir_made)
                (void) remove_state_dir(dir);
        return r;
}

/* ---- waiting in the foreground ------------------------------------------------------------ */

static const int forwarded_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };

static void forward_mask(sigset_t *m) {
        sigemptyset(m);
        for (size_t i = 0; i < ELEMENTSOF(forwarded_signals); i++)
                sigaddset(m, forwarded_signals[i]);
        sigaddset(m, SIGCHLD);
        sigaddset(m, SIGWINCH);
}

static void resize_terminal(int master) {
        struct winsize ws;

        if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) >= 0)
                (void) ioctl(master, TIOCSWINSZ, &ws);
}

static int copy_some(int from, int to) {
        char buf[8192];
        ssize_t n = read(from, buf, sizeof(buf));

        if (n <= 0)
                return n < 0 && errno == EAGAIN ? 1 : 0;
        for (ssize_t off = 0; off < n;) {
                ssize_t w = write(to, buf + off, (size_t) (n - off));

                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        return 0;
                }
                off += w;
        }
        return 1;
}

/* Waits for our child pid with the signals of mask blocked, forwarding the forwarded ones to
 * it, reaping whatever else gets reparented to us, and with master >= 0 relaying the terminal
 * between our stdin/stdout and the container. Returns the exit code (128+N for signal N). */
static int wait_forwarding(pid_t pid, int pidfd, int master, const sigset_t *mask) {
        _cleanup_close_ int sfd = -EBADF;
        struct termios saved;
        bool raw = false, stdin_open = master >= 0;
        int code = -1;

        sfd = signalfd(-1, mask, SFD_CLOEXEC | SFD_NONBLOCK);
        if (sfd < 0)
                return runc_error(errno, "Failed to create a signalfd: %m");
        if (master >= 0) {
                (void) fd_nonblock(master, true);
                if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) >= 0) {
                        struct termios t = saved;

                        cfmakeraw(&t);
                        raw = tcsetattr(STDIN_FILENO, TCSANOW, &t) >= 0;
                        resize_terminal(master);
                }
        }

        while (code < 0) {
                struct pollfd p[3] = {
                        { .fd = sfd, .events = POLLIN },
                        { .fd = master, .events = POLLIN },
                        { .fd = stdin_open ? STDIN_FILENO : -1, .events = POLLIN },
                };
                struct signalfd_siginfo si;

                if (poll(p, master >= 0 ? 3 : 1, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        code = runc_error(errno, "Failed to poll: %m");
                        break;
                }
                if (master >= 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR)))
                        if (copy_some(master, STDOUT_FILENO) == 0)
                                p[1].fd = -1;
                if (stdin_open && (p[2].revents & (POLLIN | POLLHUP | POLLERR)))
                        stdin_open = copy_some(STDIN_FILENO, master) > 0;
                while (read(sfd, &si, sizeof(si)) == (ssize_t) sizeof(si)) {
                        if ((int) si.ssi_signo == SIGWINCH) {
                                if (master >= 0)
                                        resize_terminal(master);
                        } else if ((int) si.ssi_signo != SIGCHLD)
                                (void) pidfd_signal(pidfd, (int) si.ssi_signo);
                }
                for (;;) {
                        int status;
                        pid_t w = waitpid(-1, &status, WNOHANG);

                        if (w <= 0)
                                break;
                        if (w == pid)
                                code = exit_status_to_code(status);
                }
        }
        if (master >= 0)
                /* Whatever the container wrote last. */
                while (copy_some(master, STDOUT_FILENO) > 0)
                        ;
        if (raw)
                (void) tcsetattr(STDIN_FILENO, TCSANOW, &saved);
        return code;
}

/* ---- verbs -------------------------------------------------------------------------------- */

typedef struct Verb {
        const char *name;
        int (*run)(int argc, char *argv[]);
        const char *usage;
} Verb;

static int verb_help(int argc, char *argv[]);

static int parse_unsigned(const char *flag, const char *value, unsigned *ret) {
        if (safe_atou(value, ret) < 0)
                return runc_error(EINVAL, "Invalid value '%s' for %s.", value, flag);
        return 0;
}

/* Exactly n positional arguments (the id, usually). */
static int need_args(int argc, char *argv[], int n, const char *verb) {
        if (argc - optind != n)
                return runc_error(EINVAL, "\"%s\" requires exactly %d argument%s", verb, n,
                                  n == 1 ? "" : "s");
        return 0;
}

enum {
        OPT_PID_FILE = 0x100,
        OPT_CONSOLE_SOCKET,
        OPT_PRESERVE_FDS,
        OPT_NO_PIVOT,
        OPT_NO_NEW_KEYRING,
        OPT_NO_SUBREAPER,
        OPT_KEEP,
        OPT_CWD,
        OPT_NO_NEW_PRIVS,
        OPT_PROCESS_LABEL,
        OPT_APPARMOR,
        OPT_IGNORE_PAUSED,
        OPT_ADDITIONAL_GIDS,
        OPT_CAP,
        OPT_ROOTLESS,
};

static int parse_create_args(int argc, char *argv[], bool run, CreateArgs *a, bool *ret_detach) {
        static const struct option options[] = {
                { "bundle", required_argument, NULL, 'b' },
                { "pid-file", required_argument, NULL, OPT_PID_FILE },
                { "console-socket", required_argument, NULL, OPT_CONSOLE_SOCKET },
                { "preserve-fds", required_argument, NULL, OPT_PRESERVE_FDS },
                { "no-pivot", no_argument, NULL, OPT_NO_PIVOT },
                { "no-new-keyring", no_argument, NULL, OPT_NO_NEW_KEYRING },
                { "no-subreaper", no_argument, NULL, OPT_NO_SUBREAPER },
                { "keep", no_argument, NULL, OPT_KEEP },
                { "detach", no_argument, NULL, 'd' },
                {},
        };
        bool detach = false;
        int c, r;

        optind = 0;
        while ((c = getopt_long_only(argc, argv, run ? "+b:d" : "+b:", options, NULL)) >= 0) {
                switch (c) {
                case 'b':
                        a->bundle = optarg;
                        break;
                case OPT_PID_FILE:
                        a->pid_file = optarg;
                        break;
                case OPT_CONSOLE_SOCKET:
                        a->console_socket = optarg;
                        break;
                case OPT_PRESERVE_FDS:
                        r = parse_unsigned("--preserve-fds", optarg, &a->preserve_fds);
                        if (r < 0)
                                return r;
                        break;
                case 'd':
                        if (!run)
                                return runc_error(EINVAL, "Unknown option '-d'.");
                        detach = true;
                        break;
                case OPT_NO_PIVOT:
                case OPT_NO_NEW_KEYRING:
                case OPT_NO_SUBREAPER:
                case OPT_KEEP:
                        /* The engine always pivots, never creates a session keyring, and run
                         * always cleans up: nothing to change. */
                        runc_debug("Option '%s' has no effect with zl-runc, ignoring.",
                                   argv[optind - 1]);
                        break;
                default:
                        return -EINVAL;
                }
        }
        r = need_args(argc, argv, 1, run ? "run" : "create");
        if (r < 0)
                return r;
        a->id = argv[optind];
        if (ret_detach)
                *ret_detach = detach;
        return 0;
}

static int verb_create(int argc, char *argv[]) {
        CreateArgs a = { .wait_for_start = true };
        Created x = { .init = CONTAINER_INIT_NULL };
        int r;

        r = parse_create_args(argc, argv, false, &a, NULL);
        if (r < 0)
                return r;
        r = do_create(&a, &x);
        if (r < 0)
                return r;
        created_done(&x);
        return 0;
}

/* Opens exec.fifo without blocking and waits for the init's byte, checking that the init is
 * still alive, so a dead init is an error rather than a hang. */
static int start_created(Container *c) {
        _cleanup_free_ char *fifo = path_join(c->dir, RUNC_EXEC_FIFO);
        _cleanup_close_ int fd = -EBADF;
        char b;

        if (!fifo)
                return runc_oom();
        fd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
                return runc_error(errno, "Failed to open '%s': %m", fifo);
        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                ssize_t n;

                if (poll(&p, 1, 100) < 0 && errno != EINTR)
                        return runc_error(errno, "Failed to poll '%s': %m", fifo);
                n = read(fd, &b, 1);
                if (n == 1)
                        break;
                if (n < 0 && errno != EAGAIN && errno != EINTR)
                        return runc_error(errno, "Failed to read '%s': %m", fifo);
                if (proc_pid_is_alive(c->state->pid, c->state->start_time) <= 0)
                        return runc_error(ESRCH, "container \"%s\": its init exited before start",
                                          c->id);
        }
        if (unlink(fifo) < 0)
                return runc_error(errno, "Failed to remove '%s': %m", fifo);
        return 0;
}

static int verb_start(int argc, char *argv[]) {
        _cleanup_(json_decrefp) json_t *hooks = NULL;
        Container c = {};
        RuncStatus st;
        int r;

        optind = 0;
        if (getopt_long_only(argc, argv, "+", (const struct option[]){ {} }, NULL) >= 0)
                return -EINVAL;
        r = need_args(argc, argv, 1, "start");
        if (r < 0)
                return r;
        r = container_load_or_fail(argv[optind], &c);
        if (r < 0)
                return r;
        st = runc_state_status(c.state, c.dir);
        if (st != RUNC_STATUS_CREATED) {
                r = runc_error(EINVAL, "cannot start a container that is %s",
                               runc_status_to_string(st));
                goto finish;
        }
        r = start_created(&c);
        if (r < 0)
                goto finish;
        r = hooks_load(c.state, &hooks);
        if (r >= 0 && hooks)
                /* The container runs; a failing poststart hook is reported, as runc does. */
                r = hooks_run(hooks, "poststart", c.state, RUNC_STATUS_RUNNING);
finish:
        container_done(&c);
        return r;
}

static int verb_state(int argc, char *argv[]) {
        _cleanup_(json_decrefp) json_t *j = NULL;
        _cleanup_free_ char *text = NULL;
        Container c = {};
        int r;

        optind = 0;
        if (getopt_long_only(argc, argv, "+", (const struct option[]){ {} }, NULL) >= 0)
                return -EINVAL;
        r = need_args(argc, argv, 1, "state");
        if (r < 0)
                return r;
        r = container_load_or_fail(argv[optind], &c);
        if (r < 0)
                return r;
        r = runc_state_to_oci_json(c.state, runc_state_status(c.state, c.dir), &j);
        container_done(&c);
        if (r < 0)
                return runc_error(r, "Failed to format the state: %m");
        text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (!text)
                return runc_oom();
        (void) printf("%s\n", text);
        return 0;
}

static int kill_all(Container *c, int sig) {
        _cleanup_free_ pid_t *pids = NULL;
        size_t n = 0;
        int r;

        if (!c->state->cgroup_path)
                return runc_error(EINVAL, "container \"%s\" has no cgroup", c->id);
        if (sig == SIGKILL && c->cgroup) {
                r = cgroup_kill(c->cgroup);
                if (r < 0)
                        return runc_error(r, "Failed to kill cgroup '%s': %m",
                                          c->state->cgroup_path);
                return 0;
        }
        r = cgroup_read_pids(c->mode, c->state->cgroup_path, &pids, &n);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return runc_error(r, "Failed to list the processes of '%s': %m", c->id);
        for (size_t i = 0; i < n; i++)
                if (kill(pids[i], sig) < 0 && errno != ESRCH)
                        return runc_error(errno, "Failed to signal process %" PRIi32 ": %m",
                                          (int32_t) pids[i]);
        return 0;
}

static int verb_kill(int argc, char *argv[]) {
        static const struct option options[] = {
                { "all", no_argument, NULL, 'a' },
                {},
        };
        _cleanup_close_ int pidfd = -EBADF;
        Container c = {};
        bool all = false;
        int sig = SIGTERM, ch, r;

        optind = 0;
        while ((ch = getopt_long_only(argc, argv, "+a", options, NULL)) >= 0) {
                if (ch != 'a')
                        return -EINVAL;
                all = true;
        }
        if (argc - optind < 1 || argc - optind > 2)
                return runc_error(EINVAL, "\"kill\" requires 1 or 2 arguments: ID [SIGNAL]");
        if (argc - optind == 2) {
                sig = signal_from_string(argv[optind + 1]);
                if (sig < 0)
                        return runc_error(EINVAL, "unknown signal \"%s\"", argv[optind + 1]);
        }
        r = container_load_or_fail(argv[optind], &c);
        if (r < 0)
                return r;
        if (all)
                r = kill_all(&c, sig);
        else {
                pidfd = pidfd_open_checked(c.state->pid, c.state->start_time);
                if (pidfd == -ESRCH)
                        r = runc_error(ESRCH, "container not running");
                else if (pidfd < 0)
                        r = runc_error(pidfd, "Failed to open the container init: %m");
                else {
                        r = pidfd_signal(pidfd, sig);
                        if (r < 0)
                                runc_error(r, "Failed to send %s to the container init: %m",
                                           strna(signal_to_string(sig)));
                }
        }
        container_done(&c);
        return r;
}

static int verb_delete(int argc, char *argv[]) {
        static const struct option options[] = {
                { "force", no_argument, NULL, 'f' },
                {},
        };
        _cleanup_(json_decrefp) json_t *hooks = NULL;
        Container c = {};
        bool force = false;
        RuncStatus st;
        int ch, r;

        optind = 0;
        while ((ch = getopt_long_only(argc, argv, "+f", options, NULL)) >= 0) {
                if (ch != 'f')
                        return -EINVAL;
                force = true;
        }
        r = need_args(argc, argv, 1, "delete");
        if (r < 0)
                return r;
        r = container_load(argv[optind], &c);
        if (r == -ENOENT) {
                if (force)
                        return 0;
                return runc_error(ENOENT, "container \"%s\" does not exist", argv[optind]);
        }
        if (r < 0)
                return r;

        st = runc_state_status(c.state, c.dir);
        if ((st == RUNC_STATUS_RUNNING || st == RUNC_STATUS_PAUSED) && !force) {
                r = runc_error(EBUSY, "cannot delete container %s that is not stopped: %s", c.id,
                               runc_status_to_string(st));
                goto finish;
        }
        if (st != RUNC_STATUS_STOPPED) {
                /* A created container is deleted as runc does, without --force. */
                if (c.cgroup) {
                        r = cgroup_kill(c.cgroup);
                        if (r < 0)
                                runc_warning("Failed to kill cgroup '%s': %s, ignoring.",
                                             c.state->cgroup_path, strerror(-r));
                        (void) cgroup_thaw(c.cgroup);
                } else {
                        int fd = pidfd_open_checked(c.state->pid, c.state->start_time);

                        if (fd >= 0) {
                                (void) pidfd_signal(fd, SIGKILL);
                                safe_close(fd);
                        }
                }
                r = wait_for_death(c.state);
                if (r < 0) {
                        runc_error(r, "container \"%s\": its init did not die", c.id);
                        goto finish;
                }
        }
        r = hooks_load(c.state, &hooks);
        if (r < 0) {
                runc_oom();
                goto finish;
        }
        r = container_destroy(&c);
        if (r >= 0 && hooks)
                r = hooks_run(hooks, "poststop", c.state, RUNC_STATUS_STOPPED);
finish:
        container_done(&c);
        return r;
}

static int verb_run(int argc, char *argv[]) {
        _cleanup_(json_decrefp) json_t *hooks = NULL;
        CreateArgs a = {};
        Created x = { .init = CONTAINER_INIT_NULL };
        sigset_t mask, old;
        bool detach = false;
        int r, code;

        r = parse_create_args(argc, argv, true, &a, &detach);
        if (r < 0)
                return r;
        a.foreground = !detach;

        if (detach) {
                r = do_create(&a, &x);
                if (r < 0)
                        return r;
                r = hooks_run(x.hooks, "poststart", x.c.state, RUNC_STATUS_RUNNING);
                created_done(&x);
                return r;
        }

        /* Orphans of the container (without a PID namespace) are ours to reap, and no signal
         * may be lost between the spawn and the wait: the engine resets the mask in the
         * container. */
        if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
                return runc_error(errno, "Failed to become a subreaper: %m");
        forward_mask(&mask);
        if (sigprocmask(SIG_BLOCK, &mask, &old) < 0)
                return runc_error(errno, "Failed to block signals: %m");

        r = do_create(&a, &x);
        if (r < 0)
                return r;
        r = hooks_run(x.hooks, "poststart", x.c.state, RUNC_STATUS_RUNNING);
        if (r < 0) {
                (void) pidfd_signal(x.init.pidfd, SIGKILL);
                code = wait_forwarding(x.init.pid, x.init.pidfd, -1, &mask);
        } else
                code = wait_forwarding(x.init.pid, x.init.pidfd,
                                       a.console_socket ? -1 : x.init.pty_master, &mask);

        hooks = TAKE_PTR(x.hooks);
        r = container_destroy(&x.c);
        if (r >= 0 && hooks)
                (void) hooks_run(hooks, "poststop", x.c.state, RUNC_STATUS_STOPPED);
        created_done(&x);
        (void) sigprocmask(SIG_SETMASK, &old, NULL);
        if (r < 0)
                return r;
        return code;
}

/* ---- exec --------------------------------------------------------------------------------- */

typedef struct ExecArgs {
        const char *process_file;
        bool tty;
        const char *console_socket;
        const char *cwd;
        char **env;
        const char *user;
        char **additional_gids;
        char **caps;
        bool no_new_privs;
        bool detach;
        const char *pid_file;
        unsigned preserve_fds;
        bool ignore_paused;
} ExecArgs;

static void exec_args_done(ExecArgs *a) {
        strv_free(a->env);
        strv_free(a->additional_gids);
        strv_free(a->caps);
}

static int json_set_env(json_t *proc, char *const *env) {
        json_t *list = json_object_get(proc, "env");

        if (!list) {
                list = json_array();
                if (!list || json_object_set_new(proc, "env", list) < 0)
                        return -ENOMEM;
        }
        if (!json_is_array(list))
                return -EINVAL;
        for (char *const *e = env; e && *e; e++) {
                const char *eq = strchr(*e, '=');
                size_t klen = eq ? (size_t) (eq - *e) : strlen(*e);
                bool replaced = false;
                size_t i;
                json_t *v;

                if (!eq || klen == 0)
                        return -EINVAL;
                /* A later value replaces the config's one rather than hiding behind it. */
                json_array_foreach (list, i, v) {
                        const char *old = json_string_value(v);

                        if (old && strneq(old, *e, klen + 1)) {
                                if (json_array_set_new(list, i, json_string(*e)) < 0)
                                        return -ENOMEM;
                                replaced = true;
                                break;
                        }
                }
                if (!replaced && json_array_append_new(list, json_string(*e)) < 0)
                        return -ENOMEM;
        }
        return 0;
}

/* The process object for exec: --process, or the container's process with the flags applied
 * over it, as runc builds it. */
static int exec_process_json(const ExecArgs *a, json_t *config, char *const *args, json_t **ret) {
        static const char *const cap_sets[] = { "bounding", "effective", "inheritable", "permitted",
                                                "ambient" };
        _cleanup_(json_decrefp) json_t *proc = NULL;
        json_error_t e;
        int r;

        if (a->process_file) {
                proc = json_load_file(a->process_file, 0, &e);
                if (!proc)
                        return runc_error(EINVAL, "%s:%d:%d: %s", a->process_file, e.line, e.column,
                                          e.text);
                if (!json_is_object(proc))
                        return runc_error(EINVAL, "%s: expected a process object", a->process_file);
                *ret = TAKE_PTR(proc);
                return 0;
        }

        if (strv_length(args) == 0)
                return runc_error(EINVAL, "exec: no command given (ID COMMAND [ARGS...])");
        proc = json_deep_copy(json_object_get(config, "process"));
        if (!json_is_object(proc))
                return runc_error(EINVAL, "config.json of the container has no process");
        {
                json_t *l = json_array();

                if (!l || json_object_set_new(proc, "args", l) < 0)
                        return runc_oom();
                for (char *const *p = args; *p; p++)
                        if (json_array_append_new(l, json_string(*p)) < 0)
                                return runc_oom();
        }
        if (json_object_set_new(proc, "terminal", json_boolean(a->tty)) < 0)
                return runc_oom();
        if (a->cwd && json_object_set_new(proc, "cwd", json_string(a->cwd)) < 0)
                return runc_oom();
        r = json_set_env(proc, a->env);
        if (r == -EINVAL)
                return runc_error(r, "--env: expected KEY=VALUE");
        if (r < 0)
                return runc_oom();
        if (a->user || a->additional_gids) {
                json_t *u = json_object_get(proc, "user");

                if (!json_is_object(u)) {
                        u = json_object();
                        if (!u || json_object_set_new(proc, "user", u) < 0)
                                return runc_oom();
                }
                if (a->user) {
                        _cleanup_free_ char *uid_s = strdup(a->user);
                        char *colon;
                        uint32_t uid, gid;

                        if (!uid_s)
                                return runc_oom();
                        colon = strchr(uid_s, ':');
                        if (colon)
                                *colon++ = '\0';
                        if (safe_atou(uid_s, &uid) < 0 || (colon && safe_atou(colon, &gid) < 0))
                                return runc_error(EINVAL, "--user '%s': expected UID[:GID]",
                                                  a->user);
                        if (json_object_set_new(u, "uid", json_integer(uid)) < 0 ||
                            (colon && json_object_set_new(u, "gid", json_integer(gid)) < 0))
                                return runc_oom();
                }
                if (a->additional_gids) {
                        json_t *l = json_array();

                        if (!l || json_object_set_new(u, "additionalGids", l) < 0)
                                return runc_oom();
                        for (char **g = a->additional_gids; *g; g++) {
                                uint32_t gid;

                                if (safe_atou(*g, &gid) < 0)
                                        return runc_error(EINVAL,
                                                          "--additional-gids '%s': not a gid", *g);
                                if (json_array_append_new(l, json_integer(gid)) < 0)
                                        return runc_oom();
                        }
                }
        }
        if (a->caps) {
                json_t *caps = json_object_get(proc, "capabilities");

                if (!json_is_object(caps)) {
                        caps = json_object();
                        if (!caps || json_object_set_new(proc, "capabilities", caps) < 0)
                                return runc_oom();
                }
                for (char **c = a->caps; *c; c++) {
                        int n = capability_from_name(*c);

                        if (n < 0)
                                return runc_error(EINVAL, "--cap '%s': unknown capability", *c);
                        for (size_t i = 0; i < ELEMENTSOF(cap_sets); i++) {
                                json_t *l = json_object_get(caps, cap_sets[i]);

                                if (!json_is_array(l)) {
                                        l = json_array();
                                        if (!l || json_object_set_new(caps, cap_sets[i], l) < 0)
                                                return runc_oom();
                                }
                                if (json_array_append_new(l, json_string(capability_to_name(n))) <
                                    0)
                                        return runc_oom();
                        }
                }
        }
        if (a->no_new_privs && json_object_set_new(proc, "noNewPrivileges", json_true()) < 0)
                return runc_oom();
        *ret = TAKE_PTR(proc);
        return 0;
}

static int parse_exec_args(int argc, char *argv[], ExecArgs *a) {
        static const struct option options[] = {
                { "process", required_argument, NULL, 'p' },
                { "tty", no_argument, NULL, 't' },
                { "console-socket", required_argument, NULL, OPT_CONSOLE_SOCKET },
                { "cwd", required_argument, NULL, OPT_CWD },
                { "env", required_argument, NULL, 'e' },
                { "user", required_argument, NULL, 'u' },
                { "additional-gids", required_argument, NULL, 'g' },
                { "cap", required_argument, NULL, 'c' },
                { "no-new-privs", no_argument, NULL, OPT_NO_NEW_PRIVS },
                { "detach", no_argument, NULL, 'd' },
                { "pid-file", required_argument, NULL, OPT_PID_FILE },
                { "preserve-fds", required_argument, NULL, OPT_PRESERVE_FDS },
                { "process-label", required_argument, NULL, OPT_PROCESS_LABEL },
                { "apparmor", required_argument, NULL, OPT_APPARMOR },
                { "ignore-paused", no_argument, NULL, OPT_IGNORE_PAUSED },
                {},
        };
        int c, r;

        optind = 0;
        while ((c = getopt_long_only(argc, argv, "+p:te:u:g:c:d", options, NULL)) >= 0) {
                switch (c) {
                case 'p':
                        a->process_file = optarg;
                        break;
                case 't':
                        a->tty = true;
                        break;
                case OPT_CONSOLE_SOCKET:
                        a->console_socket = optarg;
                        break;
                case OPT_CWD:
                        a->cwd = optarg;
                        break;
                case 'e':
                        if (strv_extend(&a->env, optarg) < 0)
                                return runc_oom();
                        break;
                case 'u':
                        a->user = optarg;
                        break;
                case 'g':
                        if (strv_extend(&a->additional_gids, optarg) < 0)
                                return runc_oom();
                        break;
                case 'c':
                        if (strv_extend(&a->caps, optarg) < 0)
                                return runc_oom();
                        break;
                case OPT_NO_NEW_PRIVS:
                        a->no_new_privs = true;
                        break;
                case 'd':
                        a->detach = true;
                        break;
                case OPT_PID_FILE:
                        a->pid_file = optarg;
                        break;
                case OPT_PRESERVE_FDS:
                        r = parse_unsigned("--preserve-fds", optarg, &a->preserve_fds);
                        if (r < 0)
                                return r;
                        break;
                case OPT_PROCESS_LABEL:
                case OPT_APPARMOR:
                        runc_debug("Option '%s': no LSM support in zl-runc, ignoring.",
                                   c == OPT_APPARMOR ? "--apparmor" : "--process-label");
                        break;
                case OPT_IGNORE_PAUSED:
                        a->ignore_paused = true;
                        break;
                default:
                        return -EINVAL;
                }
        }
        if (argc - optind < 1)
                return runc_error(EINVAL, "\"exec\" requires at least 1 argument: ID [COMMAND...]");
        return 0;
}

static int verb_exec(int argc, char *argv[]) {
        _cleanup_(json_decrefp) json_t *config = NULL, *proc = NULL;
        _cleanup_(oci_config_freep) OciConfig *c2 = NULL;
        _cleanup_free_ char *config_path = NULL, *text = NULL, *err = NULL;
        _cleanup_close_ int console = -EBADF, pidfd = -EBADF, pty = -EBADF;
        ContainerExecOptions eo = CONTAINER_EXEC_OPTIONS_INIT;
        _cleanup_free_ int *extra = NULL;
        ExecArgs a = {};
        Container c = {};
        sigset_t mask;
        json_error_t e;
        RuncStatus st;
        pid_t pid;
        int r;

        r = parse_exec_args(argc, argv, &a);
        if (r < 0)
                goto finish;
        r = container_load_or_fail(argv[optind], &c);
        if (r < 0)
                goto finish;
        st = runc_state_status(c.state, c.dir);
        if (st == RUNC_STATUS_STOPPED) {
                r = runc_error(EINVAL, "cannot exec in a stopped container");
                goto finish;
        }
        if (st == RUNC_STATUS_PAUSED && !a.ignore_paused) {
                r = runc_error(EINVAL, "cannot exec in a paused container (use --ignore-paused)");
                goto finish;
        }

        config_path = path_join(c.state->bundle, "config.json");
        if (!config_path) {
                r = runc_oom();
                goto finish;
        }
        config = json_load_file(config_path, 0, &e);
        if (!config) {
                r = runc_error(EINVAL, "%s:%d:%d: %s", config_path, e.line, e.column, e.text);
                goto finish;
        }
        r = exec_process_json(&a, config, argv + optind + 1, &proc);
        if (r < 0)
                goto finish;
        /* The process goes through the same parser as a config's: same checks, same
         * messages. The root is the one the container was created with. */
        if (json_object_set(config, "process", proc) < 0 ||
            json_object_set_new(config, "root", json_pack("{s:s}", "path", c.state->rootfs)) < 0 ||
            !(text = json_dumps(config, JSON_COMPACT))) {
                r = runc_oom();
                goto finish;
        }
        r = oci_config_parse(text, strlen(text), &c2, &err);
        if (r < 0) {
                r = runc_error(r, "%s: %s", a.process_file ?: "exec", strna(err));
                goto finish;
        }
        r = oci_config_check_rlimits(c2, &err);
        if (r < 0) {
                r = runc_error(r, "%s", strna(err));
                goto finish;
        }
        if (c2->process.terminal) {
                if (a.console_socket) {
                        console = console_socket_connect(a.console_socket);
                        if (console < 0) {
                                r = console;
                                goto finish;
                        }
                } else if (a.detach) {
                        r = runc_error(EINVAL, "exec --tty --detach needs --console-socket");
                        goto finish;
                }
        }

        forward_mask(&mask);
        if (!a.detach && sigprocmask(SIG_BLOCK, &mask, NULL) < 0) {
                r = runc_error(errno, "Failed to block signals: %m");
                goto finish;
        }
        eo.process = &c2->process;
        eo.seccomp = c2->linux_.seccomp;
        eo.cgroup = c.cgroup;
        for (int i = 0; i < 3; i++)
                eo.stdio[i] = i;
        if (a.preserve_fds > 0) {
                extra = calloc(a.preserve_fds, sizeof(int));
                if (!extra) {
                        r = runc_oom();
                        goto finish;
                }
                for (unsigned i = 0; i < a.preserve_fds; i++)
                        extra[i] = 3 + (int) i;
                eo.extra_fds = extra;
                eo.n_extra_fds = a.preserve_fds;
        }
        err = mfree(err);
        r = container_exec(c.state->pid, &eo, &pid, &pidfd, &pty, &err);
        if (r < 0) {
                if (err)
                        r = runc_error(r, "%s", err);
                else
                        r = runc_error(r, "Failed to run the process in '%s': %m", c.id);
                goto finish;
        }
        if (console >= 0 && pty >= 0) {
                r = console_socket_send(console, pty);
                pty = safe_close(pty);
                if (r < 0) {
                        (void) pidfd_signal(pidfd, SIGKILL);
                        goto finish;
                }
        }
        r = write_pid_file(a.pid_file, pid);
        if (r < 0) {
                (void) pidfd_signal(pidfd, SIGKILL);
                goto finish;
        }
        if (!a.detach)
                r = wait_forwarding(pid, pidfd, pty, &mask);
finish:
        container_done(&c);
        exec_args_done(&a);
        return r;
}

/* ---- ps, pause, resume, list -------------------------------------------------------------- */

static int parse_format(const char *s, bool *ret_json) {
        if (streq(s, "table"))
                *ret_json = false;
        else if (streq(s, "json"))
                *ret_json = true;
        else
                return runc_error(EINVAL, "invalid format option '%s': use table or json", s);
        return 0;
}

static int verb_ps(int argc, char *argv[]) {
        static const struct option options[] = {
                { "format", required_argument, NULL, 'f' },
                {},
        };
        _cleanup_free_ pid_t *pids = NULL;
        Container c = {};
        bool json = false;
        size_t n = 0;
        int ch, r;

        optind = 0;
        while ((ch = getopt_long_only(argc, argv, "+f:", options, NULL)) >= 0) {
                if (ch != 'f')
                        return -EINVAL;
                r = parse_format(optarg, &json);
                if (r < 0)
                        return r;
        }
        r = need_args(argc, argv, 1, "ps");
        if (r < 0)
                return r;
        r = container_load_or_fail(argv[optind], &c);
        if (r < 0)
                return r;
        if (c.state->cgroup_path) {
                r = cgroup_read_pids(c.mode, c.state->cgroup_path, &pids, &n);
                if (r < 0 && r != -ENOENT) {
                        r = runc_error(r, "Failed to list the processes of '%s': %m", c.id);
                        goto finish;
                }
        }
        r = 0;
        if (json) {
                (void) fputc('[', stdout);
                for (size_t i = 0; i < n; i++)
                        (void) printf("%s%" PRIi32, i > 0 ? "," : "", (int32_t) pids[i]);
                (void) fputs("]\n", stdout);
                goto finish;
        }
        (void) printf("%-8s %s\n", "PID", "CMD");
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *cmd = NULL;
                char p[64];
                size_t len = 0;

                (void) snprintf(p, sizeof(p), "/proc/%" PRIi32 "/cmdline", (int32_t) pids[i]);
                if (read_full_file(p, 4096, &cmd, &len) < 0)
                        continue;
                for (size_t k = 0; k + 1 < len; k++)
                        if (cmd[k] == '\0')
                                cmd[k] = ' ';
                (void) printf("%-8" PRIi32 " %s\n", (int32_t) pids[i], cmd);
        }
finish:
        container_done(&c);
        return r;
}

static int pause_or_resume(int argc, char *argv[], bool pause) {
        const char *verb = pause ? "pause" : "resume";
        Container c = {};
        RuncStatus st;
        int r;

        optind = 0;
        if (getopt_long_only(argc, argv, "+", (const struct option[]){ {} }, NULL) >= 0)
                return -EINVAL;
        r = need_args(argc, argv, 1, verb);
        if (r < 0)
                return r;
        r = container_load_or_fail(argv[optind], &c);
        if (r < 0)
                return r;
        st = runc_state_status(c.state, c.dir);
        if (st != (pause ? RUNC_STATUS_RUNNING : RUNC_STATUS_PAUSED)) {
                r = runc_error(EINVAL, "container \"%s\" is %s, not %s", c.id,
                               runc_status_to_string(st), pause ? "running" : "paused");
                goto finish;
        }
        if (!c.cgroup) {
                r = runc_error(ENOENT, "container \"%s\" has no cgroup to freeze", c.id);
                goto finish;
        }
        r = pause ? cgroup_freeze(c.cgroup) : cgroup_thaw(c.cgroup);
        if (r < 0) {
                r = runc_error(r, "Failed to %s container \"%s\": %m", verb, c.id);
                goto finish;
        }
        c.state->paused = pause;
        r = runc_state_save(c.dir, c.state);
        if (r < 0)
                r = runc_error(r, "Failed to save the state of '%s': %m", c.id);
finish:
        container_done(&c);
        return r;
}

static int verb_pause(int argc, char *argv[]) {
        return pause_or_resume(argc, argv, true);
}

static int verb_resume(int argc, char *argv[]) {
        return pause_or_resume(argc, argv, false);
}

static int verb_list(int argc, char *argv[]) {
        static const struct option options[] = {
                { "format", required_argument, NULL, 'f' },
                { "quiet", no_argument, NULL, 'q' },
                {},
        };
        _cleanup_(json_decrefp) json_t *all = NULL;
        _cleanup_strv_free_ char **ids = NULL;
        bool json = false, quiet = false;
        int ch, r;

        optind = 0;
        while ((ch = getopt_long_only(argc, argv, "+f:q", options, NULL)) >= 0) {
                if (ch == 'q')
                        quiet = true;
                else if (ch == 'f') {
                        r = parse_format(optarg, &json);
                        if (r < 0)
                                return r;
                } else
                        return -EINVAL;
        }
        r = need_args(argc, argv, 0, "list");
        if (r < 0)
                return r;
        r = runc_state_list(arg_root, &ids);
        if (r < 0)
                return runc_error(r, "Failed to list '%s': %m", arg_root);
        all = json_array();
        if (!all)
                return runc_oom();
        for (char **id = ids; *id; id++) {
                _cleanup_(runc_state_freep) RuncState *s = NULL;
                _cleanup_free_ char *dir = runc_state_dir(arg_root, *id);
                json_t *j;

                if (!dir)
                        return runc_oom();
                /* A directory that is half made or half removed is not a container yet. */
                if (runc_state_load(dir, &s) < 0)
                        continue;
                r = runc_state_to_oci_json(s, runc_state_status(s, dir), &j);
                if (r < 0)
                        return runc_error(r, "Failed to format the state of '%s': %m", *id);
                if (json_array_append_new(all, j) < 0)
                        return runc_oom();
        }
        if (quiet) {
                size_t i;
                json_t *j;

                json_array_foreach (all, i, j)
                        (void) printf("%s\n", json_string_value(json_object_get(j, "id")));
        } else if (json) {
                _cleanup_free_ char *text = json_dumps(all, JSON_COMPACT | JSON_PRESERVE_ORDER);

                if (!text)
                        return runc_oom();
                (void) printf("%s\n", text);
        } else {
                size_t i;
                json_t *j;

                (void) printf("%-20s %-8s %-10s %-40s %-32s %s\n", "ID", "PID", "STATUS", "BUNDLE",
                              "CREATED", "OWNER");
                json_array_foreach (all, i, j)
                        (void) printf("%-20s %-8" JSON_INTEGER_FORMAT " %-10s %-40s %-32s %s\n",
                                      json_string_value(json_object_get(j, "id")),
                                      json_integer_value(json_object_get(j, "pid")),
                                      json_string_value(json_object_get(j, "status")),
                                      json_string_value(json_object_get(j, "bundle")),
                                      json_string_value(json_object_get(j, "created")), "root");
        }
        return 0;
}

/* ---- features, spec ----------------------------------------------------------------------- */

static int strv_to_json(const char *const *l, json_t **ret) {
        _cleanup_(json_decrefp) json_t *a = json_array();

        if (!a)
                return -ENOMEM;
        for (; l && *l; l++)
                if (json_array_append_new(a, json_string(*l)) < 0)
                        return -ENOMEM;
        *ret = TAKE_PTR(a);
        return 0;
}

static int verb_features(int argc, char *argv[]) {
        static const char *const mount_options[] = {
                "async",       "atime",    "bind",       "defaults",      "dev",
                "diratime",    "dirsync",  "exec",       "lazytime",      "loud",
                "mand",        "noatime",  "nodev",      "nodiratime",    "noexec",
                "nolazytime",  "nomand",   "norelatime", "nostrictatime", "nosuid",
                "nosymfollow", "private",  "rbind",      "relatime",      "remount",
                "ro",          "rprivate", "rro",        "rshared",       "rslave",
                "runbindable", "rw",       "shared",     "silent",        "slave",
                "strictatime", "suid",     "symfollow",  "sync",          "tmpcopyup",
                "unbindable",  NULL,
        };
        static const char *const namespaces[] = {
                "cgroup", "ipc", "mount", "network", "pid", "user", "uts", NULL,
        };
        static const char *const actions[] = {
                "SCMP_ACT_ALLOW",        "SCMP_ACT_ERRNO",       "SCMP_ACT_KILL",
                "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG",
                "SCMP_ACT_TRACE",        "SCMP_ACT_TRAP",        NULL,
        };
        static const char *const operators[] = {
                "SCMP_CMP_EQ", "SCMP_CMP_GE",        "SCMP_CMP_GT", "SCMP_CMP_LE",
                "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE", NULL,
        };
        static const char *const archs[] = {
                "SCMP_ARCH_AARCH64",  "SCMP_ARCH_ARM",         "SCMP_ARCH_MIPS",
                "SCMP_ARCH_MIPS64",   "SCMP_ARCH_MIPS64N32",   "SCMP_ARCH_MIPSEL",
                "SCMP_ARCH_MIPSEL64", "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC",
                "SCMP_ARCH_PPC64",    "SCMP_ARCH_PPC64LE",     "SCMP_ARCH_RISCV64",
                "SCMP_ARCH_S390",     "SCMP_ARCH_S390X",       "SCMP_ARCH_X32",
                "SCMP_ARCH_X86",      "SCMP_ARCH_X86_64",      NULL,
        };
        _cleanup_(json_decrefp) json_t *j = NULL, *caps = NULL, *mo = NULL, *ns = NULL, *ac = NULL,
                                       *op = NULL, *ar = NULL, *hk = NULL;
        _cleanup_free_ char *text = NULL;

        optind = 0;
        if (getopt_long_only(argc, argv, "+", (const struct option[]){ {} }, NULL) >= 0)
                return -EINVAL;
        if (need_args(argc, argv, 0, "features") < 0)
                return -EINVAL;
        if (strv_to_json(capability_names(), &caps) < 0 || strv_to_json(mount_options, &mo) < 0 ||
            strv_to_json(namespaces, &ns) < 0 || strv_to_json(actions, &ac) < 0 ||
            strv_to_json(operators, &op) < 0 || strv_to_json(archs, &ar) < 0 ||
            strv_to_json(hook_kinds_supported, &hk) < 0)
                return runc_oom();
        j = json_pack("{s:s, s:s, s:O, s:O, s:{s:O, s:O, s:{s:b, s:b, s:b, s:b}, "
                      "s:{s:b, s:O, s:O, s:O}, s:{s:b}, s:{s:b}}, s:{s:s}}",
                      "ociVersionMin", "1.0.0", "ociVersionMax", RUNC_OCI_VERSION, "hooks", hk,
                      "mountOptions", mo, "linux", "namespaces", ns, "capabilities", caps, "cgroup",
                      "v1", true, "v2", true, "systemd", false, "systemdUser", false, "seccomp",
                      "enabled", true, "actions", ac, "operators", op, "archs", ar, "apparmor",
                      "enabled", false, "selinux", "enabled", false, "annotations",
                      "org.zlayer.zl-runc.version", PROJECT_VERSION);
        if (!j)
                return runc_oom();
        text = json_dumps(j, JSON_INDENT(4) | JSON_PRESERVE_ORDER);
        if (!text)
                return runc_oom();
        (void) printf("%s\n", text);
        return 0;
}

/* A rootless bundle as runc spec --rootless makes one: a user namespace mapping us to root, no
 * network namespace or cgroup limits we could not set, /sys bound from the host. */
static int make_rootless(json_t *config) {
        json_t *linux_ = json_object_get(config, "linux"), *ns, *mounts, *m;
        size_t i;

        ns = json_object_get(linux_, "namespaces");
        for (i = 0; i < json_array_size(ns);) {
                const char *t = json_string_value(json_object_get(json_array_get(ns, i), "type"));

                if (t && streq(t, "network"))
                        (void) json_array_remove(ns, i);
                else
                        i++;
        }
        if (json_array_append_new(ns, json_pack("{s:s}", "type", "user")) < 0 ||
            json_object_set_new(linux_, "uidMappings",
                                json_pack("[{s:i, s:I, s:i}]", "containerID", 0, "hostID",
                                          (json_int_t) geteuid(), "size", 1)) < 0 ||
            json_object_set_new(linux_, "gidMappings",
                                json_pack("[{s:i, s:I, s:i}]", "containerID", 0, "hostID",
                                          (json_int_t) getegid(), "size", 1)) < 0)
                return -ENOMEM;
        (void) json_object_del(linux_, "resources");
        mounts = json_object_get(config, "mounts");
        json_array_foreach (mounts, i, m) {
                const char *d = json_string_value(json_object_get(m, "destination"));
                json_t *opts;

                if (d && streq(d, "/sys")) {
                        opts = json_pack("[s, s, s, s, s]", "rbind", "nosuid", "noexec", "nodev",
                                         "ro");
                        if (!opts || json_object_set_new(m, "type", json_string("none")) < 0 ||
                            json_object_set_new(m, "source", json_string("/sys")) < 0 ||
                            json_object_set_new(m, "options", opts) < 0)
                                return -ENOMEM;
                        continue;
                }
                /* gid= and uid= options name ids that are not mapped. */
                opts = json_object_get(m, "options");
                for (size_t k = 0; k < json_array_size(opts);) {
                        const char *o = json_string_value(json_array_get(opts, k));

                        if (o && (startswith(o, "gid=") || startswith(o, "uid=")))
                                (void) json_array_remove(opts, k);
                        else
                                k++;
                }
        }
        return 0;
}

static int verb_spec(int argc, char *argv[]) {
        static const struct option options[] = {
                { "bundle", required_argument, NULL, 'b' },
                { "rootless", no_argument, NULL, OPT_ROOTLESS },
                {},
        };
        _cleanup_(json_decrefp) json_t *j = NULL;
        _cleanup_free_ char *text = NULL, *path = NULL, *out = NULL;
        const char *bundle = ".";
        bool rootless = false;
        int ch, r;

        optind = 0;
        while ((ch = getopt_long_only(argc, argv, "+b:", options, NULL)) >= 0) {
                if (ch == 'b')
                        bundle = optarg;
                else if (ch == OPT_ROOTLESS)
                        rootless = true;
                else
                        return -EINVAL;
        }
        r = need_args(argc, argv, 0, "spec");
        if (r < 0)
                return r;
        path = path_join(bundle, "config.json");
        if (!path)
                return runc_oom();
        if (access(path, F_OK) >= 0)
                return runc_error(EEXIST, "File %s exists. Remove it first", path);
        r = oci_config_default_json("rootfs", (char *const[]){ (char *) "sh", NULL }, &text);
        if (r < 0)
                return runc_error(r, "Failed to build the default config: %m");
        j = json_loads(text, 0, NULL);
        if (!j)
                return runc_oom();
        if (json_object_set_new(json_object_get(j, "process"), "terminal", json_true()) < 0)
                return runc_oom();
        if (rootless && make_rootless(j) < 0)
                return runc_oom();
        out = json_dumps(j, JSON_INDENT(8) | JSON_PRESERVE_ORDER);
        if (!out || strextend(&out, "\n") < 0)
                return runc_oom();
        r = write_string_file_atomic(path, out, 0644);
        if (r < 0)
                return runc_error(r, "Failed to write '%s': %m", path);
        return 0;
}

/* ---- main --------------------------------------------------------------------------------- */

static const Verb verbs[] = {
        { "create", verb_create,
          "create [--bundle DIR] [--pid-file F] [--console-socket S] [--preserve-fds N] ID" },
        { "start", verb_start, "start ID" },
        { "run", verb_run,
          "run [--bundle DIR] [--pid-file F] [--console-socket S] [-d] [--preserve-fds N] ID" },
        { "state", verb_state, "state ID" },
        { "kill", verb_kill, "kill [--all] ID [SIGNAL]" },
        { "delete", verb_delete, "delete [--force] ID" },
        { "exec", verb_exec,
          "exec [--process F] [--tty] [--console-socket S] [--cwd DIR] [--env K=V]... "
          "[--user UID[:GID]] [--additional-gids GID]... [--cap CAP]... [--no-new-privs] "
          "[-d] [--pid-file F] ID [COMMAND...]" },
        { "ps", verb_ps, "ps [--format table|json] ID" },
        { "pause", verb_pause, "pause ID" },
        { "resume", verb_resume, "resume ID" },
        { "list", verb_list, "list [--format table|json] [--quiet]" },
        { "features", verb_features, "features" },
        { "spec", verb_spec, "spec [--bundle DIR] [--rootless]" },
        { "help", verb_help, "help" },
};

static int verb_help(int argc, char *argv[]) {
        (void) printf("%s [GLOBAL OPTIONS] COMMAND [OPTIONS] ID\n\n"
                      "The ZLayer container engine as an OCI runtime, compatible with runc.\n\n"
                      "Global options:\n"
                      "  --root DIR             State directory (default " RUNC_ROOT_DEFAULT ")\n"
                      "  --log FILE             Write log messages to FILE\n"
                      "  --log-format FORMAT    text (default) or json\n"
                      "  --debug                Log debug messages\n"
                      "  --systemd-cgroup       Refused: zl-runc manages cgroups via cgroupfs\n"
                      "  -h --help              Show this help\n"
                      "  -v --version           Show the version\n\n"
                      "Commands:\n",
                      program_invocation_short_name);
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                (void) printf("  %s\n", verbs[i].usage);
        return 0;
}

static int parse_bool_flag(const char *flag, const char *value, bool *ret) {
        if (!value) {
                *ret = true;
                return 0;
        }
        if (parse_boolean(value, ret) < 0)
                return runc_error(EINVAL, "Invalid value '%s' for %s.", value, flag);
        return 0;
}

static int parse_global(int argc, char *argv[]) {
        enum {
                ARG_ROOT = 0x100,
                ARG_LOG,
                ARG_LOG_FORMAT,
                ARG_DEBUG,
                ARG_SYSTEMD_CGROUP,
                ARG_ROOTLESS,
                ARG_CRIU,
        };
        static const struct option options[] = {
                { "root", required_argument, NULL, ARG_ROOT },
                { "log", required_argument, NULL, ARG_LOG },
                { "log-format", required_argument, NULL, ARG_LOG_FORMAT },
                { "debug", optional_argument, NULL, ARG_DEBUG },
                { "systemd-cgroup", optional_argument, NULL, ARG_SYSTEMD_CGROUP },
                { "rootless", required_argument, NULL, ARG_ROOTLESS },
                { "criu", required_argument, NULL, ARG_CRIU },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'v' },
                {},
        };
        const char *ignored[8];
        size_t n_ignored = 0;
        bool systemd = false;
        int c, r;

        optind = 0;
        while ((c = getopt_long_only(argc, argv, "+hv", options, NULL)) >= 0) {
                switch (c) {
                case ARG_ROOT:
                        arg_root = optarg;
                        break;
                case ARG_LOG:
                        arg_log_path = optarg;
                        break;
                case ARG_LOG_FORMAT:
                        if (streq(optarg, "json"))
                                arg_log_json = true;
                        else if (streq(optarg, "text"))
                                arg_log_json = false;
                        else
                                return runc_error(EINVAL, "invalid log-format: %s", optarg);
                        break;
                case ARG_DEBUG:
                        r = parse_bool_flag("--debug", optarg, &arg_debug);
                        if (r < 0)
                                return r;
                        break;
                case ARG_SYSTEMD_CGROUP:
                        r = parse_bool_flag("--systemd-cgroup", optarg, &systemd);
                        if (r < 0)
                                return r;
                        break;
                case ARG_ROOTLESS:
                case ARG_CRIU:
                        if (n_ignored < ELEMENTSOF(ignored))
                                ignored[n_ignored++] = c == ARG_ROOTLESS ? "--rootless" : "--criu";
                        break;
                case 'h':
                        (void) verb_help(0, NULL);
                        return 0;
                case 'v':
                        (void) printf("zl-runc version %s\nspec: %s\n", PROJECT_VERSION,
                                      RUNC_OCI_VERSION);
                        {
                                const struct scmp_version *v = seccomp_version();

                                if (v)
                                        (void) printf("libseccomp: %u.%u.%u\n", v->major, v->minor,
                                                      v->micro);
                        }
                        return 0;
                default:
                        return -EINVAL;
                }
        }

        if (arg_log_path) {
                int fd = open(arg_log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

                if (fd < 0)
                        return runc_error(errno, "Failed to open log file '%s': %m", arg_log_path);
                log_file = fdopen(fd, "a");
                if (!log_file) {
                        safe_close(fd);
                        return runc_oom();
                }
        }
        log_set_target(LOG_TARGET_STDERR);
        log_set_max_level(arg_debug ? LOG_DEBUG : LOG_WARNING);
        for (size_t i = 0; i < n_ignored; i++)
                runc_debug("Global option '%s' has no effect with zl-runc, ignoring.", ignored[i]);
        if (systemd)
                return runc_error(EOPNOTSUPP,
                                  "--systemd-cgroup is not supported: zl-runc manages cgroups "
                                  "through cgroupfs (with podman use --cgroup-manager=cgroupfs)");
        return 1;
}

int main(int argc, char *argv[]) {
        const char *verb;
        int r;

        r = parse_global(argc, argv);
        if (r <= 0)
                goto finish;
        if (optind >= argc) {
                (void) verb_help(0, NULL);
                r = runc_error(EINVAL, "No command given.");
                goto finish;
        }
        verb = argv[optind];
        argc -= optind;
        argv += optind;
        r = -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(verb, verbs[i].name)) {
                        r = verbs[i].run(argc, argv);
                        goto finish;
                }
        runc_error(EINVAL, "No help topic for '%s'", verb);
finish:
        if (log_file)
                (void) fclose(log_file);
        if (r < 0)
                return EXIT_FAILURE;
        return r > 255 ? 255 : r;
}
