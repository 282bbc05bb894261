/* SPDX-License-Identifier: Apache-2.0 */
/* zlctl-local.c: `zlctl local start|status|stop`: a node without systemd, on a private bus. */
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "fileio.h"
#include "launcher.h"
#include "log.h"
#include "parse-util.h"
#include "path-util.h"
#include "string-util.h"
#include "table.h"
#include "zlctl.h"

#define START_TIMEOUT_USEC_DEFAULT (10 * USEC_PER_SEC)
/* Seven daemons and the bus, each allowed 10 s between SIGTERM and SIGKILL, and some slack. */
#define STOP_WAIT_USEC (90 * USEC_PER_SEC)
#define WATCHDOG_USEC_DEFAULT (30 * USEC_PER_SEC)
#define DAEMON_START_TIMEOUT_USEC (30 * USEC_PER_SEC)
#define TAIL_LINES 15

static void launcher_status_donep(LauncherStatus *s) {
        launcher_status_done(s);
}

/* The directory as an absolute, simplified path: the supervisor runs from "/". */
static int resolve_state_dir(const char *arg, char **ret) {
        _cleanup_free_ char *cwd = NULL;
        char *p;
        int r;

        if (!arg) {
                r = launcher_default_state_dir(ret);
                if (r < 0)
                        return log_error_errno(r, "Failed to determine the default state "
                                                  "directory, use --state-dir: %m");
                return 0;
        }
        if (isempty(arg))
                return log_error_errno(EINVAL, "Empty --state-dir.");
        if (path_is_absolute(arg))
                p = strdup(arg);
        else {
                cwd = getcwd(NULL, 0);
                if (!cwd)
                        return log_error_errno(errno, "Failed to get the current directory: %m");
                p = path_join(cwd, arg);
        }
        if (!p)
                return log_oom();
        *ret = path_simplify(p);
        return 0;
}

/* A shell-safe rendering of the export line: addresses are escaped D-Bus style, but '*' and a
 * few others may remain. */
static void print_export(const char *address) {
        bool plain = true;

        for (const char *p = address; *p; p++)
                if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                            "-_/.:=,%",
                            *p))
                        plain = false;
        if (plain)
                printf("export ZLAYER_BUS_ADDRESS=%s\n", address);
        else
                printf("export ZLAYER_BUS_ADDRESS='%s'\n", address);
        fflush(stdout);
}

static char *node_address(const char *dir) {
        _cleanup_free_ char *path = path_join(dir, "bus-address"), *data = NULL;
        _cleanup_free_ char *sock = path_join(dir, "bus.sock");

        if (path && read_full_file(path, 4096, &data, NULL) >= 0)
                return strdup(strstrip(data));
        /* The supervisor writes the file once the bus is up; until then the address is known. */
        return sock ? launcher_bus_address(sock) : NULL;
}

static void print_tail(const char *path) {
        _cleanup_free_ char *tail = NULL;
        int r;

        r = read_tail(path, TAIL_LINES, &tail);
        if (r < 0) {
                fprintf(stderr, "  (cannot read '%s': %s)\n", path, strerror(-r));
                return;
        }
        fprintf(stderr, "Last lines of %s:\n", path);
        for (char *line = tail, *next; line; line = next) {
                next = strchr(line, '\n');
                if (next)
                        *next++ = '\0';
                fprintf(stderr, "  | %s\n", line);
        }
}

/* Waits until no supervisor holds dir, then until its process is gone. */
static int wait_supervisor_gone(const char *dir, pid_t pid, usec_t timeout) {
        usec_t deadline = now(CLOCK_MONOTONIC) + timeout;

        for (;;) {
                int r = launcher_is_running(dir, NULL);

                if (r < 0)
                        return r;
                /* The lock goes a moment before the process does. */
                if (r == 0 && (pid <= 0 || launcher_pid_gone(pid)))
                        return 0;
                if (now(CLOCK_MONOTONIC) > deadline)
                        return -ETIMEDOUT;
                (void) usleep(10 * 1000);
        }
}

/* Makes sure nothing of the node in dir is left: processes (killed), sockets (removed). Returns
 * the number of things that had to be cleaned up, or -errno. */
static int clean_leftovers(const char *dir) {
        _cleanup_free_ pid_t *pids = NULL;
        size_t n = 0;
        int cleaned = 0, r;

        r = launcher_find_leftovers(dir, &pids, &n);
        if (r < 0)
                return log_error_errno(r, "Failed to look for left-over processes: %m");
        for (size_t i = 0; i < n; i++) {
                log_warning("Process %d of the node in '%s' was still running, killing it.",
                            (int) pids[i], dir);
                (void) kill(pids[i], SIGKILL);
                cleaned++;
        }

        for (const char *const *f = (const char *const[]){ "bus.sock", "notify.sock", NULL }; *f;
             f++) {
                _cleanup_free_ char *p = path_join(dir, *f);

                if (!p)
                        return log_oom();
                if (unlink(p) >= 0) {
                        log_warning("Removed the left-over socket '%s'.", p);
                        cleaned++;
                }
        }
        return cleaned;
}

static int stop_node(const char *dir, pid_t pid) {
        int r;

        if (kill(pid, SIGTERM) < 0 && errno != ESRCH)
                return log_error_errno(errno, "Failed to signal the supervisor (PID %d): %m",
                                       (int) pid);
        r = wait_supervisor_gone(dir, pid, STOP_WAIT_USEC);
        if (r == -ETIMEDOUT) {
                log_warning("The supervisor (PID %d) did not stop in time, killing it.", (int) pid);
                (void) kill(pid, SIGKILL);
                r = wait_supervisor_gone(dir, pid, 5 * USEC_PER_SEC);
        }
        if (r < 0)
                return log_error_errno(r, "Failed to wait for the supervisor: %m");
        r = clean_leftovers(dir);
        return r < 0 ? r : 0;
}

/* Execs `zlctl local supervise` detached from us: new session, output to launcher.log, the
 * write end of the readiness pipe as fd 3. Runs in the grandchild; never returns. */
_noreturn_ static void exec_supervisor(const char *exe, const char *dir, const char *daemon_dir,
                                       const char *policy, int ready_fd) {
        _cleanup_free_ char *log_path = path_join(dir, "launcher.log");
        _cleanup_free_ char *a_dir = strjoin("--state-dir=", dir);
        _cleanup_free_ char *a_daemons = strjoin("--daemon-dir=", daemon_dir);
        _cleanup_free_ char *a_policy = strjoin("--bus-policy=", policy);
        int null_fd, log_fd;

        if (!log_path || !a_dir || !a_daemons || !a_policy)
                _exit(EXIT_FAILURE);
        null_fd = open("/dev/null", O_RDONLY | O_NOCTTY);
        log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_NOCTTY, 0600);
        if (null_fd < 0 || log_fd < 0)
                _exit(EXIT_FAILURE);
        if (dup2(null_fd, STDIN_FILENO) < 0 || dup2(log_fd, STDOUT_FILENO) < 0 ||
            dup2(log_fd, STDERR_FILENO) < 0)
                _exit(EXIT_FAILURE);
        if (ready_fd == 3) {
                if (fcntl(3, F_SETFD, 0) < 0)
                        _exit(EXIT_FAILURE);
        } else if (dup2(ready_fd, 3) < 0)
                _exit(EXIT_FAILURE);
        (void) close_range(4, ~0U, 0);
        if (chdir("/") < 0)
                _exit(EXIT_FAILURE);
        umask(0022);

        execl(exe, "zlctl", "local", "supervise", a_dir, a_daemons, a_policy, "--ready-fd=3",
              (char *) NULL);
        fprintf(stderr, "zlctl: cannot execute '%s': %m\n", exe);
        _exit(127);
}

static int spawn_supervisor(const char *dir, const char *daemon_dir, const char *policy,
                            int *ret_ready_fd) {
        _cleanup_close_ int pipe_r = -EBADF, pipe_w = -EBADF;
        _cleanup_free_ char *exe = NULL;
        int p[2], r, status;
        pid_t pid;

        r = path_self_exe(&exe);
        if (r < 0)
                return log_error_errno(r, "Failed to find our own executable: %m");
        if (pipe2(p, O_CLOEXEC) < 0)
                return log_error_errno(errno, "Failed to create a pipe: %m");
        pipe_r = p[0];
        pipe_w = p[1];

        fflush(stdout);
        fflush(stderr);
        pid = fork();
        if (pid < 0)
                return log_error_errno(errno, "Failed to fork: %m");
        if (pid == 0) {
                /* The double fork: the supervisor is nobody's child but init's (or the nearest
                 * subreaper's), and no terminal's. */
                if (setsid() < 0)
                        _exit(EXIT_FAILURE);
                pid = fork();
                if (pid < 0)
                        _exit(EXIT_FAILURE);
                if (pid == 0)
                        exec_supervisor(exe, dir, daemon_dir, policy, pipe_w);
                _exit(EXIT_SUCCESS);
        }
        if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return log_error_errno(ECHILD, "Failed to start the supervisor.");

        *ret_ready_fd = TAKE_FD(pipe_r);
        return 0;
}

/* Reads the supervisor's one line: "READY" or "FAILED NAME". Returns 1 ready, 0 failed (name in
 * *ret_failed, or NULL when the supervisor exited without a word), -ETIMEDOUT. */
static int wait_ready(int fd, usec_t timeout, char **ret_failed) {
        usec_t deadline = now(CLOCK_MONOTONIC) + timeout;
        char buf[256];
        size_t len = 0;

        *ret_failed = NULL;
        for (;;) {
                usec_t t = now(CLOCK_MONOTONIC);
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                ssize_t n;
                int r;

                if (t >= deadline)
                        return -ETIMEDOUT;
                r = poll(&pfd, 1, (int) DIV_ROUND_UP(deadline - t, USEC_PER_MSEC));
                if (r < 0 && errno != EINTR)
                        return -errno;
                if (r <= 0)
                        continue;
                n = read(fd, buf + len, sizeof(buf) - 1 - len);
                if (n < 0 && errno != EINTR && errno != EAGAIN)
                        return -errno;
                if (n < 0)
                        continue;
                len += (size_t) n;
                buf[len] = '\0';
                if (n == 0 || strchr(buf, '\n') || len == sizeof(buf) - 1) {
                        char *nl = strchr(buf, '\n');
                        const char *name;

                        if (nl)
                                *nl = '\0';
                        if (streq(buf, "READY"))
                                return 1;
                        name = startswith(buf, "FAILED ");
                        if (name) {
                                *ret_failed = strdup(name);
                                if (!*ret_failed)
                                        return -ENOMEM;
                        }
                        return 0;
                }
        }
}

/* Explains a failed start: which process did not come up, and the end of its log. */
static void explain_failure(const char *dir, const char *failed, bool timed_out, usec_t timeout) {
        _cleanup_(launcher_status_donep) LauncherStatus s = {};
        _cleanup_free_ char *log_path = NULL;
        const LauncherProcess *culprit = NULL;
        char span[TIMESPAN_MAX_LEN];

        if (launcher_status_read(dir, &s) >= 0)
                for (size_t i = 0; i < s.n_processes; i++) {
                        const LauncherProcess *p = &s.processes[i];

                        if (failed ? streq(p->name, failed) : (p->state != CHILD_READY)) {
                                culprit = p;
                                break;
                        }
                }

        if (!failed && !culprit) {
                log_error("The supervisor exited during start.");
                log_path = path_join(dir, "launcher.log");
        } else {
                const char *name = culprit ? culprit->name : failed;

                if (timed_out)
                        log_error("%s did not become ready within %s.", name,
                                  format_timespan(timeout, USEC_PER_MSEC, span, sizeof(span)));
                else
                        log_error("%s failed to start and was given up on.", name);
                if (culprit)
                        fprintf(stderr, "%s: state %s, %u restart%s, last exit %s\n", name,
                                child_state_to_string(culprit->state), culprit->restarts,
                                culprit->restarts == 1 ? "" : "s", culprit->last_exit ?: "none");
                log_path = strjoin(dir, "/log/", name, ".log");
        }
        if (log_path)
                print_tail(log_path);
}

static int local_start(const char *dir, usec_t timeout, bool *ret_started) {
        _cleanup_free_ char *daemon_dir = NULL, *policy = NULL, *address = NULL, *failed = NULL;
        _cleanup_close_ int ready_fd = -EBADF;
        usec_t t0 = now(CLOCK_MONOTONIC);
        char span[TIMESPAN_MAX_LEN];
        struct stat st;
        pid_t pid = 0;
        int r;

        r = launcher_is_running(dir, &pid);
        if (r < 0)
                return log_error_errno(r, "Failed to check for a node in '%s': %m", dir);
        if (r > 0) {
                address = node_address(dir);
                if (!address)
                        return log_oom();
                fprintf(stderr, "A local node is already running in %s (supervisor PID %d).\n", dir,
                        (int) pid);
                print_export(address);
                if (ret_started)
                        *ret_started = false;
                return 0;
        }

        r = launcher_find_daemon_dir(&daemon_dir, NULL);
        if (r == -ENOENT)
                return log_error_errno(r,
                                       "Cannot find the ZLayer daemons: not in $ZLAYER_DAEMON_DIR, "
                                       "the build tree, or '%s'.",
                                       LIBEXECDIR "/zlayer");
        if (r < 0)
                return log_error_errno(r, "Failed to find the ZLayer daemons: %m");
        r = launcher_find_policy(&policy);
        if (r < 0)
                return log_error_errno(r, "Cannot read the bus policy org.zlayer.conf: %m");

        if (stat(dir, &st) < 0) {
                if (errno != ENOENT)
                        return log_error_errno(errno, "Failed to access '%s': %m", dir);
                r = mkdir_p(dir, 0700);
                if (r < 0)
                        return log_error_errno(r, "Failed to create '%s': %m", dir);
                if (chmod(dir, 0700) < 0)
                        return log_error_errno(errno, "Failed to set the mode of '%s': %m", dir);
        } else if (!S_ISDIR(st.st_mode))
                return log_error_errno(ENOTDIR, "'%s' is not a directory.", dir);

        r = spawn_supervisor(dir, daemon_dir, policy, &ready_fd);
        if (r < 0)
                return r;

        r = wait_ready(ready_fd, timeout, &failed);
        if (r < 0 && r != -ETIMEDOUT)
                log_error_errno(r, "Failed to wait for the node: %m");
        if (r <= 0) {
                explain_failure(dir, failed, r == -ETIMEDOUT, timeout);
                if (launcher_is_running(dir, &pid) > 0) {
                        fprintf(stderr, "Stopping the node; the logs stay in %s/log.\n", dir);
                        (void) stop_node(dir, pid);
                }
                return -ECHILD;
        }

        address = node_address(dir);
        if (!address)
                return log_oom();
        fprintf(stderr, "Local node started in %s: the bus and %zu daemons ready in %s.\n", dir,
                ZL_N_DAEMONS,
                format_timespan(now(CLOCK_MONOTONIC) - t0, USEC_PER_MSEC, span, sizeof(span)));
        print_export(address);
        if (ret_started)
                *ret_started = true;
        return 0;
}

static int print_status_json(const char *dir, const LauncherStatus *s, bool running) {
        _cleanup_(json_decrefp) json_t *root = NULL, *arr = NULL;
        _cleanup_free_ char *text = NULL;
        usec_t n = now(CLOCK_REALTIME);

        arr = json_array();
        if (!arr)
                return log_oom();
        for (size_t i = 0; s && i < s->n_processes; i++) {
                const LauncherProcess *p = &s->processes[i];
                bool up = p->pid > 0 && p->started_at > 0 && p->started_at <= n;
                json_t *o =
                        json_pack("{s:s, s:I, s:s, s:o, s:I, s:s?, s:s?}", "name", p->name, "pid",
                                  (json_int_t) p->pid, "state", child_state_to_string(p->state),
                                  "uptime_usec",
                                  up ? json_integer((json_int_t) (n - p->started_at)) : json_null(),
                                  "restarts", (json_int_t) p->restarts, "last_exit", p->last_exit,
                                  "status", p->status);

                if (!o || json_array_append_new(arr, o) < 0)
                        return log_oom();
        }
        root = json_pack("{s:s, s:b, s:I, s:s?, s:O}", "state_dir", dir, "running", running,
                         "supervisor_pid", (json_int_t) (s ? s->supervisor_pid : 0), "bus_address",
                         s ? s->bus_address : NULL, "processes", arr);
        if (!root)
                return log_oom();
        text = json_dumps(root, JSON_INDENT(2));
        if (!text)
                return log_oom();
        printf("%s\n", text);
        return 0;
}

static int print_status_table(const char *dir, const LauncherStatus *s) {
        _cleanup_(table_freep) Table *t = NULL;
        usec_t n = now(CLOCK_REALTIME);
        int r;

        t = table_new("PROCESS", "PID", "STATE", "UPTIME", "RESTARTS", "LAST EXIT");
        if (!t)
                return log_oom();
        for (size_t i = 0; i < s->n_processes; i++) {
                const LauncherProcess *p = &s->processes[i];
                char pid[32], restarts[32], span[TIMESPAN_MAX_LEN];
                bool up = p->pid > 0 && p->started_at > 0 && p->started_at <= n;

                snprintf(pid, sizeof(pid), "%d", (int) p->pid);
                snprintf(restarts, sizeof(restarts), "%u", p->restarts);
                r = table_add_row(t, p->name, p->pid > 0 ? pid : NULL,
                                  child_state_to_string(p->state),
                                  up ? format_uptime(n - p->started_at, span, sizeof(span)) : NULL,
                                  restarts, p->last_exit);
                if (r < 0)
                        return log_oom();
        }
        printf("Local node in %s, supervisor PID %d%s\nBus: %s\n\n", dir, (int) s->supervisor_pid,
               s->stopping ? " (stopping)" : "", strna(s->bus_address));
        return zlctl_print_table(t);
}

static int local_status(const char *dir, bool json) {
        _cleanup_(launcher_status_donep) LauncherStatus s = {};
        bool all_ready = true;
        int r;

        r = launcher_is_running(dir, NULL);
        if (r < 0)
                return log_error_errno(r, "Failed to check for a node in '%s': %m", dir);
        if (r == 0) {
                if (json)
                        (void) print_status_json(dir, NULL, false);
                else
                        printf("No local node is running in %s.\n", dir);
                return -ESRCH;
        }
        r = launcher_status_read(dir, &s);
        if (r < 0)
                return log_error_errno(r, "Failed to read the node's status in '%s': %m", dir);

        r = json ? print_status_json(dir, &s, true) : print_status_table(dir, &s);
        if (r < 0)
                return r;
        for (size_t i = 0; i < s.n_processes; i++)
                if (s.processes[i].state != CHILD_READY)
                        all_ready = false;
        return all_ready ? 0 : -EAGAIN;
}

static int local_stop(const char *dir) {
        pid_t pid = 0;
        int r;

        r = launcher_is_running(dir, &pid);
        if (r < 0)
                return log_error_errno(r, "Failed to check for a node in '%s': %m", dir);
        if (r == 0) {
                /* Nothing to stop, but a supervisor killed outright may have left things. */
                r = clean_leftovers(dir);
                if (r < 0)
                        return r;
                fprintf(stderr, "No local node is running in %s.\n", dir);
                return 0;
        }
        r = stop_node(dir, pid);
        if (r < 0)
                return r;
        fprintf(stderr, "Stopped the local node in %s.\n", dir);
        return 0;
}

static int local_supervise(const char *dir, const char *daemon_dir_arg, const char *policy_arg,
                           int ready_fd) {
        _cleanup_free_ char *daemon_dir = NULL, *policy = NULL;
        bool in_tree = false;
        int r;

        /* Logs go to launcher.log (or the terminal), with the time, since it runs for long. */
        log_set_ident("zl-launcher");
        log_set_show_ident(true);
        if (!getenv("ZLAYER_LOG_LEVEL"))
                log_set_max_level(LOG_INFO);

        if (daemon_dir_arg) {
                r = launcher_daemon_dir_layout(daemon_dir_arg, &in_tree);
                if (r < 0)
                        return log_error_errno(r, "No ZLayer daemons in '%s'.", daemon_dir_arg);
                daemon_dir = strdup(daemon_dir_arg);
                if (!daemon_dir)
                        return log_oom();
        } else {
                r = launcher_find_daemon_dir(&daemon_dir, &in_tree);
                if (r < 0)
                        return log_error_errno(r, "Cannot find the ZLayer daemons: %m");
        }
        if (policy_arg) {
                policy = strdup(policy_arg);
                if (!policy)
                        return log_oom();
        } else {
                r = launcher_find_policy(&policy);
                if (r < 0)
                        return log_error_errno(r, "Cannot read the bus policy org.zlayer.conf: %m");
        }

        /* Only the supervisor writes to it; its children must not keep it open. */
        if (ready_fd >= 0 && fcntl(ready_fd, F_SETFD, FD_CLOEXEC) < 0)
                return log_error_errno(errno, "Bad --ready-fd %d: %m", ready_fd);

        LauncherOptions opts = {
                .state_dir = dir,
                .daemon_dir = daemon_dir,
                .daemon_dir_in_tree = in_tree,
                .policy_path = policy,
                .ready_fd = ready_fd,
                .watchdog_usec = WATCHDOG_USEC_DEFAULT,
                .start_timeout_usec = DAEMON_START_TIMEOUT_USEC,
        };
        return launcher_run(&opts);
}

static int local_verb(const char *verb, int argc, char *argv[]) {
        enum {
                ARG_STATE_DIR = 0x100,
                ARG_TIMEOUT,
                ARG_DAEMON_DIR,
                ARG_BUS_POLICY,
                ARG_READY_FD,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "state-dir", required_argument, NULL, ARG_STATE_DIR },
                { "output", required_argument, NULL, 'o' },
                { "timeout", required_argument, NULL, ARG_TIMEOUT },
                { "daemon-dir", required_argument, NULL, ARG_DAEMON_DIR },
                { "bus-policy", required_argument, NULL, ARG_BUS_POLICY },
                { "ready-fd", required_argument, NULL, ARG_READY_FD },
                {},
        };
        _cleanup_free_ char *command = strjoin("local ", verb), *dir = NULL;
        const char *state_dir = NULL, *daemon_dir = NULL, *policy = NULL;
        bool supervise = streq(verb, "supervise"), json = false;
        usec_t timeout = START_TIMEOUT_USEC_DEFAULT;
        int ready_fd = -1, c, r;

        if (!command)
                return log_oom(), ZLCTL_EXIT_FAILURE;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":ho:", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        printf("%s %s [--state-dir=DIR]%s%s\n\n", program_name, command,
                               streq(verb, "status") ? " [--output=table|json]" : "",
                               streq(verb, "start") ? " [--timeout=DURATION]" : "");
                        if (streq(verb, "start"))
                                printf("Start a private bus and the seven daemons in the "
                                       "background,\n"
                                       "wait until all are ready, and print the export line for\n"
                                       "ZLAYER_BUS_ADDRESS. Does nothing (and prints the same "
                                       "line)\n"
                                       "when the node already runs.\n");
                        else if (streq(verb, "status"))
                                printf("Show the local node's processes: PID, state, uptime and\n"
                                       "restarts, as the supervisor sees them.\n");
                        else if (streq(verb, "stop"))
                                printf("Stop the daemons in reverse order, then the bus, and "
                                       "check\n"
                                       "that nothing of the node is left running.\n");
                        else
                                printf("Run the supervisor in the foreground (what 'start' runs "
                                       "in\n"
                                       "the background).\n");
                        printf("\nOptions:\n"
                               "  -h --help              Show this help\n"
                               "     --state-dir=DIR     The node's directory (default\n"
                               "                         /var/lib/zlayer/local as root, else\n"
                               "                         $XDG_STATE_HOME/zlayer/local)\n");
                        if (streq(verb, "status"))
                                printf("  -o --output=FORMAT     table (default) or json\n"
                                       "\nExit status: 0 running and all ready, 1 otherwise.\n");
                        if (streq(verb, "start"))
                                printf("     --timeout=DURATION  How long to wait for the daemons "
                                       "(10s)\n");
                        return ZLCTL_EXIT_OK;
                case ARG_STATE_DIR:
                        state_dir = optarg;
                        break;
                case 'o':
                        if (!streq(verb, "status"))
                                return usage_error(command, "unknown option '%s'",
                                                   argv[optind - 1]);
                        r = zlctl_parse_output(command, optarg, &json);
                        if (r != 0)
                                return r;
                        break;
                case ARG_TIMEOUT: {
                        uint64_t ms;

                        if (!streq(verb, "start"))
                                return usage_error(command, "unknown option '%s'",
                                                   argv[optind - 1]);
                        if (parse_duration_ms(optarg, &ms) < 0 || ms == 0)
                                return usage_error(command,
                                                   "invalid --timeout '%s'; expected a duration "
                                                   "such as 10s",
                                                   optarg);
                        timeout = ms * USEC_PER_MSEC;
                        break;
                }
                case ARG_DAEMON_DIR:
                case ARG_BUS_POLICY:
                case ARG_READY_FD:
                        if (!supervise)
                                return usage_error(command, "unknown option '%s'",
                                                   argv[optind - 1]);
                        if (c == ARG_DAEMON_DIR)
                                daemon_dir = optarg;
                        else if (c == ARG_BUS_POLICY)
                                policy = optarg;
                        else if (safe_atoi(optarg, &ready_fd) < 0 || ready_fd < 0)
                                return usage_error(command, "invalid --ready-fd '%s'", optarg);
                        break;
                default:
                        return zlctl_getopt_failure(command, c, argv);
                }
        if (optind < argc)
                return usage_error(command, "unexpected argument '%s'", argv[optind]);

        r = resolve_state_dir(state_dir, &dir);
        if (r < 0)
                return ZLCTL_EXIT_FAILURE;

        if (streq(verb, "start"))
                r = local_start(dir, timeout, NULL);
        else if (streq(verb, "status"))
                r = local_status(dir, json);
        else if (streq(verb, "stop"))
                r = local_stop(dir);
        else
                r = local_supervise(dir, daemon_dir, policy, ready_fd);
        return r < 0 ? ZLCTL_EXIT_FAILURE : ZLCTL_EXIT_OK;
}

int zlctl_local_node_start(const char *state_dir, uint64_t timeout_usec, bool *ret_started) {
        _cleanup_free_ char *dir = NULL;
        int r;

        r = resolve_state_dir(state_dir, &dir);
        if (r < 0)
                return r;
        return local_start(dir, timeout_usec > 0 ? timeout_usec : START_TIMEOUT_USEC_DEFAULT,
                           ret_started);
}

int zlctl_local_node_stop(const char *state_dir) {
        _cleanup_free_ char *dir = NULL;
        int r;

        r = resolve_state_dir(state_dir, &dir);
        if (r < 0)
                return r;
        return local_stop(dir);
}

static int verb_local_start(int argc, char *argv[]) {
        return local_verb("start", argc, argv);
}

static int verb_local_status(int argc, char *argv[]) {
        return local_verb("status", argc, argv);
}

static int verb_local_stop(int argc, char *argv[]) {
        return local_verb("stop", argc, argv);
}

int verb_local(int argc, char *argv[]) {
        static const Verb verbs[] = {
                { "start", verb_local_start, "Start a local node: private bus and seven daemons" },
                { "status", verb_local_status, "Show the local node's processes" },
                { "stop", verb_local_stop, "Stop the local node" },
                {},
        };

        /* Hidden from the help: what `start` runs in the background. */
        if (argc >= 2 && streq(argv[1], "supervise"))
                return local_verb("supervise", argc - 1, argv + 1);
        return dispatch_verb("local", verbs, argc - 1, argv + 1);
}
