/* SPDX-License-Identifier: Apache-2.0 */
/* runtime-exec.c: commands run in running containers (Exec, ExecStream, WaitExec) and OpenLogs. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "container-log.h"
#include "container.h"
#include "fd-util.h"
#include "log.h"
#include "monitor.h"
#include "oci-config.h"
#include "path-util.h"
#include "runtime-internal.h"
#include "string-util.h"
#include "user-util.h"

/* How long a finished ExecStream's exit code waits for WaitExec. */
#define EXEC_RESULT_KEEP_USEC (60 * USEC_PER_SEC)

struct ExecOp {
        Manager *manager;
        ExecOp *next;
        char *id; /* ExecStream only */
        char *owner;

        pid_t pid;
        sd_event_source *child_source;
        sd_event_source *out_source, *err_source, *in_source;
        sd_event_source *timer;
        int out_fd, err_fd, in_fd;
        char *out, *err;
        size_t out_size, err_size;
        char *in_data;
        size_t in_size, in_offset;

        bool exited;
        bool timed_out;
        int exit_code;

        manager_exec_done_t done;
        void *userdata;
        manager_wait_done_t wait_done;
        void *wait_userdata;
};

static void exec_op_free(ExecOp *op) {
        if (!op)
                return;
        sd_event_source_disable_unref(op->child_source);
        sd_event_source_disable_unref(op->out_source);
        sd_event_source_disable_unref(op->err_source);
        sd_event_source_disable_unref(op->in_source);
        sd_event_source_disable_unref(op->timer);
        safe_close(op->out_fd);
        safe_close(op->err_fd);
        safe_close(op->in_fd);
        free(op->out);
        free(op->err);
        free(op->in_data);
        free(op->id);
        free(op->owner);
        free(op);
}

static void exec_op_unlink(ExecOp *op) {
        for (ExecOp **p = &op->manager->execs; *p; p = &(*p)->next)
                if (*p == op) {
                        *p = op->next;
                        return;
                }
}

void manager_exec_free_all(Manager *m) {
        while (m->execs) {
                ExecOp *op = m->execs;

                m->execs = op->next;
                if (op->done)
                        op->done(-ECANCELED, "zl-runtimed is stopping", -1, NULL, 0, NULL, 0,
                                 op->userdata);
                if (op->wait_done)
                        op->wait_done(-ECANCELED, -1, op->wait_userdata);
                exec_op_free(op);
        }
}

static int exit_code_of(const siginfo_t *si) {
        if (si->si_code == CLD_EXITED)
                return si->si_status;
        return 128 + si->si_status;
}

/* Reads what is available; 0 at EOF, 1 when more may come. */
static int drain(int fd, char **buf, size_t *size) {
        for (;;) {
                char chunk[65536];
                ssize_t n = read(fd, chunk, sizeof(chunk));

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return errno == EAGAIN ? 1 : 0;
                }
                if (n == 0)
                        return 0;
                if (*size < EXEC_OUTPUT_MAX) {
                        size_t take = MIN((size_t) n, EXEC_OUTPUT_MAX - *size);
                        char *p = realloc(*buf, *size + take + 1);

                        if (!p)
                                return -ENOMEM;
                        memcpy(p + *size, chunk, take);
                        *size += take;
                        p[*size] = 0;
                        *buf = p;
                }
        }
}

static void exec_op_complete(ExecOp *op) {
        Manager *m = op->manager;

        if (op->out_fd >= 0)
                (void) drain(op->out_fd, &op->out, &op->out_size);
        if (op->err_fd >= 0)
                (void) drain(op->err_fd, &op->err, &op->err_size);
        exec_op_unlink(op);
        if (op->timed_out)
                op->done(-ETIMEDOUT, "the command did not finish in time and was killed",
                         op->exit_code, NULL, 0, NULL, 0, op->userdata);
        else
                op->done(0, NULL, op->exit_code, op->out ?: "", op->out_size, op->err ?: "",
                         op->err_size, op->userdata);
        (void) m;
        exec_op_free(op);
}

static int on_exec_output(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        ExecOp *op = userdata;
        bool is_out = s == op->out_source;
        int r;

        (void) revents;
        r = drain(fd, is_out ? &op->out : &op->err, is_out ? &op->out_size : &op->err_size);
        if (r <= 0) {
                if (is_out) {
                        op->out_source = sd_event_source_disable_unref(op->out_source);
                        op->out_fd = safe_close(op->out_fd);
                } else {
                        op->err_source = sd_event_source_disable_unref(op->err_source);
                        op->err_fd = safe_close(op->err_fd);
                }
        }
        return 0;
}

static int on_exec_input(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        ExecOp *op = userdata;

        (void) s;
        if (!(revents & (EPOLLERR | EPOLLHUP)))
                while (op->in_offset < op->in_size) {
                        ssize_t n =
                                write(fd, op->in_data + op->in_offset, op->in_size - op->in_offset);
                        if (n < 0) {
                                if (errno == EINTR)
                                        continue;
                                if (errno == EAGAIN)
                                        return 0;
                                break;
                        }
                        op->in_offset += (size_t) n;
                }
        /* All written, or the reader went away: EOF on its stdin. */
        op->in_source = sd_event_source_disable_unref(op->in_source);
        op->in_fd = safe_close(op->in_fd);
        return 0;
}

static int on_exec_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        ExecOp *op = userdata;

        (void) s;
        (void) usec;
        op->timed_out = true;
        (void) sd_event_source_send_child_signal(op->child_source, SIGKILL, NULL, 0);
        return 0;
}

static int on_result_expired(sd_event_source *s, uint64_t usec, void *userdata) {
        ExecOp *op = userdata;

        (void) s;
        (void) usec;
        exec_op_unlink(op);
        exec_op_free(op);
        return 0;
}

static int on_exec_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        ExecOp *op = userdata;
        int r;

        (void) s;
        op->exited = true;
        op->exit_code = exit_code_of(si);
        op->pid = 0;
        if (op->done) {
                exec_op_complete(op);
                return 0;
        }
        /* ExecStream: keep the exit code for WaitExec a while. */
        if (op->wait_done) {
                manager_wait_done_t done = op->wait_done;

                op->wait_done = NULL;
                done(0, op->exit_code, op->wait_userdata);
        }
        op->timer = sd_event_source_disable_unref(op->timer);
        r = sd_event_add_time_relative(op->manager->event, &op->timer, CLOCK_MONOTONIC,
                                       EXEC_RESULT_KEEP_USEC, 0, on_result_expired, op);
        if (r < 0) {
                exec_op_unlink(op);
                exec_op_free(op);
        }
        return 0;
}

static int fail_msg(char **ret_error, int r, const char *msg) {
        if (ret_error && !*ret_error)
                *ret_error = strdup(msg);
        return r;
}

/* The container's process, with what the request changes: the caller's copy, whose arrays
 * (args, env, additional gids) belong to the ExecProcess. */
typedef struct ExecProcess {
        OciConfig *config;
        OciProcess process;
        char **env;
        gid_t *gids;
} ExecProcess;

static void exec_process_done(ExecProcess *p) {
        oci_config_free(p->config);
        strv_free(p->env);
        free(p->gids);
}

static int env_merge(char *const *base, char *const *add, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;

        for (size_t i = 0; base && base[i]; i++)
                if (strv_extend(&l, base[i]) < 0)
                        return -ENOMEM;
        for (size_t i = 0; add && add[i]; i++) {
                const char *eq = strchr(add[i], '=');
                size_t klen;
                bool replaced = false;

                if (!eq || eq == add[i])
                        return -EINVAL;
                klen = (size_t) (eq - add[i]) + 1;
                for (size_t j = 0; l && l[j]; j++)
                        if (strneq(l[j], add[i], klen)) {
                                char *v = strdup(add[i]);
                                if (!v)
                                        return -ENOMEM;
                                free_and_replace(l[j], v);
                                replaced = true;
                                break;
                        }
                if (!replaced && strv_extend(&l, add[i]) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

static int exec_process_build(Container *c, const ExecRequest *req, bool terminal, ExecProcess *p,
                              char **ret_error) {
        _cleanup_free_ char *config_path = path_join(c->dir, MONITOR_CONFIG_FILE);
        int r;

        if (!config_path)
                return -ENOMEM;
        if (!req->argv || !req->argv[0] || isempty(req->argv[0]))
                return fail_msg(ret_error, -EINVAL, "argv: must not be empty");
        r = oci_config_load(config_path, &p->config, ret_error);
        if (r < 0)
                return r;
        p->process = p->config->process;
        p->process.args = req->argv;
        p->process.terminal = terminal;
        r = env_merge(p->config->process.env, req->env, &p->env);
        if (r == -EINVAL)
                return fail_msg(ret_error, r, "env: every entry must be KEY=VALUE");
        if (r < 0)
                return r;
        p->process.env = p->env;
        if (req->cwd) {
                if (!path_is_absolute(req->cwd))
                        return fail_msg(ret_error, -EINVAL, "cwd: not an absolute path");
                p->process.cwd = (char *) req->cwd;
        }
        if (req->user) {
                size_t n = 0;

                r = user_resolve(c->rootfs, req->user, &p->process.user.uid, &p->process.user.gid,
                                 &p->gids, &n, NULL, ret_error);
                if (r < 0)
                        return r == -ENOENT ? -EINVAL : r;
                p->process.user.additional_gids = p->gids;
                p->process.user.n_additional_gids = n;
        }
        return 0;
}

static int exec_spawn(Manager *m, Container *c, const ExecProcess *p, const int stdio[3],
                      pid_t *ret_pid, int *ret_pidfd, int *ret_pty, char **ret_error) {
        _cleanup_(cgroup_freep) Cgroup *cg = NULL;
        _cleanup_free_ char *cgroup_path = NULL;
        ContainerExecOptions o = CONTAINER_EXEC_OPTIONS_INIT;
        int r;

        /* A created container's init waits before execve with its namespaces, root and network
         * in place: commands run there before it starts (the scheduler's init steps). */
        if (!IN_SET(c->state, CONTAINER_CREATED, CONTAINER_RUNNING) || c->init_pid <= 0)
                return fail_msg(ret_error, -EBUSY, "the container is neither created nor running");
        r = runtime_cgroup_path(c->id, &cgroup_path);
        if (r < 0)
                return r;
        if (m->cgroup_mode >= 0) {
                r = cgroup_open(NULL, m->cgroup_mode, cgroup_path, &cg);
                if (r < 0 && r != -ENOENT)
                        return r;
        }
        o.process = &p->process;
        o.seccomp = p->config->linux_.seccomp;
        /* Commands get the same filter as the container's process. */
        o.default_seccomp =
                !streq_ptr(json_string_value(json_object_get(c->options, "seccomp")), "unconfined");
        o.cgroup = cg;
        memcpy(o.stdio, stdio, sizeof(o.stdio));
        return container_exec(c->init_pid, &o, ret_pid, ret_pidfd, ret_pty, ret_error);
}

static int exec_op_watch_child(ExecOp *op, int pidfd) {
        int r;

        r = sd_event_add_child_pidfd(op->manager->event, &op->child_source, pidfd, WEXITED,
                                     on_exec_exit, op);
        if (r < 0)
                return r;
        (void) sd_event_source_set_child_pidfd_own(op->child_source, true);
        return 0;
}

int manager_exec(Manager *m, Container *c, const ExecRequest *req, manager_exec_done_t done,
                 void *userdata, char **ret_error) {
        _cleanup_(exec_process_done) ExecProcess p = {};
        _cleanup_close_ int out_r = -EBADF, out_w = -EBADF, err_r = -EBADF, err_w = -EBADF,
                            in_r = -EBADF, in_w = -EBADF, pidfd = -EBADF;
        ExecOp *op = NULL;
        pid_t pid;
        int pipes[2], r;

        r = exec_process_build(c, req, false, &p, ret_error);
        if (r < 0)
                return r;
        if (pipe2(pipes, O_CLOEXEC) < 0)
                return -errno;
        out_r = pipes[0], out_w = pipes[1];
        if (pipe2(pipes, O_CLOEXEC) < 0)
                return -errno;
        err_r = pipes[0], err_w = pipes[1];
        if (req->stdin_size > 0) {
                if (pipe2(pipes, O_CLOEXEC) < 0)
                        return -errno;
                in_r = pipes[0], in_w = pipes[1];
        }

        r = exec_spawn(m, c, &p, (int[3]){ in_r >= 0 ? in_r : -1, out_w, err_w }, &pid, &pidfd,
                       NULL, ret_error);
        if (r < 0)
                return r;
        out_w = safe_close(out_w);
        err_w = safe_close(err_w);
        in_r = safe_close(in_r);

        op = new0(ExecOp, 1);
        if (!op) {
                (void) syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
                return -ENOMEM;
        }
        *op = (ExecOp){
                .manager = m,
                .pid = pid,
                .out_fd = TAKE_FD(out_r),
                .err_fd = TAKE_FD(err_r),
                .in_fd = TAKE_FD(in_w),
                .done = done,
                .userdata = userdata,
        };
        (void) fd_nonblock(op->out_fd, true);
        (void) fd_nonblock(op->err_fd, true);
        r = sd_event_add_io(m->event, &op->out_source, op->out_fd, EPOLLIN, on_exec_output, op);
        if (r >= 0)
                r = sd_event_add_io(m->event, &op->err_source, op->err_fd, EPOLLIN, on_exec_output,
                                    op);
        if (r >= 0 && op->in_fd >= 0) {
                op->in_data = malloc(req->stdin_size);
                if (op->in_data)
                        memcpy(op->in_data, req->stdin_data, req->stdin_size);
                op->in_size = req->stdin_size;
                (void) fd_nonblock(op->in_fd, true);
                r = op->in_data ? sd_event_add_io(m->event, &op->in_source, op->in_fd, EPOLLOUT,
                                                  on_exec_input, op)
                                : -ENOMEM;
        }
        if (r >= 0 && req->timeout > 0)
                r = sd_event_add_time_relative(m->event, &op->timer, CLOCK_MONOTONIC, req->timeout,
                                               0, on_exec_timeout, op);
        if (r >= 0)
                r = exec_op_watch_child(op, pidfd);
        if (r < 0) {
                (void) syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
                (void) waitpid(pid, NULL, 0);
                exec_op_free(op);
                return r;
        }
        TAKE_FD(pidfd);
        op->next = m->execs;
        m->execs = op;
        m->exec_total++;
        return 0;
}

int manager_exec_stream(Manager *m, Container *c, const ExecRequest *req, const char *owner,
                        int *ret_stdio, int *ret_stderr, char **ret_exec_id, char **ret_error) {
        _cleanup_(exec_process_done) ExecProcess p = {};
        _cleanup_close_ int sock_ours = -EBADF, sock_theirs = -EBADF, err_r = -EBADF,
                            err_w = -EBADF, pidfd = -EBADF, pty = -EBADF;
        _cleanup_free_ char *id = NULL, *owner_copy = NULL;
        char idbuf[CONTAINER_ID_LENGTH + 1];
        ExecOp *op;
        pid_t pid;
        int fds[2], r;

        r = exec_process_build(c, req, req->tty, &p, ret_error);
        if (r < 0)
                return r;
        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        err_r = fds[0], err_w = fds[1];
        if (!req->tty) {
                if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
                        return -errno;
                sock_ours = fds[0], sock_theirs = fds[1];
        }
        r = container_id_generate(idbuf);
        if (r < 0)
                return r;
        id = strndup(idbuf, 32);
        owner_copy = strdup(owner);
        if (!id || !owner_copy)
                return -ENOMEM;

        r = exec_spawn(m, c, &p,
                       req->tty ? (int[3]){ -1, -1, -1 }
                                : (int[3]){ sock_theirs, sock_theirs, err_w },
                       &pid, &pidfd, req->tty ? &pty : NULL, ret_error);
        if (r < 0)
                return r;
        /* With a terminal, stderr is a descriptor that only ever reads EOF. */
        err_w = safe_close(err_w);
        sock_theirs = safe_close(sock_theirs);

        op = new0(ExecOp, 1);
        if (!op) {
                (void) syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
                return -ENOMEM;
        }
        *op = (ExecOp){
                .manager = m,
                .pid = pid,
                .out_fd = -EBADF,
                .err_fd = -EBADF,
                .in_fd = -EBADF,
                .id = TAKE_PTR(id),
                .owner = TAKE_PTR(owner_copy),
        };
        r = exec_op_watch_child(op, pidfd);
        if (r < 0) {
                (void) syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
                (void) waitpid(pid, NULL, 0);
                exec_op_free(op);
                return r;
        }
        TAKE_FD(pidfd);
        *ret_exec_id = strdup(op->id);
        if (!*ret_exec_id) {
                /* The command runs; without an id nobody can wait for it, which is harmless. */
                op->next = m->execs;
                m->execs = op;
                return -ENOMEM;
        }
        op->next = m->execs;
        m->execs = op;
        m->exec_stream_total++;
        *ret_stdio = req->tty ? TAKE_FD(pty) : TAKE_FD(sock_ours);
        *ret_stderr = TAKE_FD(err_r);
        return 0;
}

int manager_wait_exec(Manager *m, const char *exec_id, const char *owner, int *ret_exit_code,
                      manager_wait_done_t done, void *userdata) {
        for (ExecOp *op = m->execs; op; op = op->next) {
                if (!op->id || !streq(op->id, exec_id))
                        continue;
                if (!streq(op->owner, owner))
                        return -EPERM;
                if (op->exited) {
                        *ret_exit_code = op->exit_code;
                        return 1;
                }
                if (op->wait_done)
                        return -EBUSY;
                op->wait_done = done;
                op->wait_userdata = userdata;
                return 0;
        }
        return -ENOENT;
}

static int on_log_child(sd_event_source *s, const siginfo_t *si, void *userdata) {
        (void) si;
        (void) userdata;
        /* Floating: the loop holds the only reference; giving it up frees the source. */
        (void) sd_event_source_set_floating(s, false);
        return 0;
}

int manager_open_logs(Manager *m, Container *c, bool follow, uint64_t tail, usec_t since,
                      int *ret_fd) {
        _cleanup_close_ int rfd = -EBADF, wfd = -EBADF;
        _cleanup_free_ char *dir = path_join(c->dir, MONITOR_LOG_DIR);
        sd_event_source *s = NULL;
        int fds[2], r;
        pid_t pid;

        if (!dir)
                return -ENOMEM;
        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        rfd = fds[0], wfd = fds[1];

        /* container_log_stream() blocks (it follows with inotify until the end marker or the
         * reader's hang-up): a child of its own keeps it off the loop. */
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                sigset_t none;

                sigemptyset(&none);
                (void) sigprocmask(SIG_SETMASK, &none, NULL);
                if (dup2(wfd, 3) < 0)
                        _exit(EXIT_FAILURE);
                (void) close_range(4, ~0U, 0);
                r = container_log_stream(AT_FDCWD, dir, since, tail, follow, false, 3, -1);
                _exit(r < 0 ? EXIT_FAILURE : EXIT_SUCCESS);
        }
        r = sd_event_add_child(m->event, &s, pid, WEXITED, on_log_child, NULL);
        if (r < 0) {
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                return r;
        }
        (void) sd_event_source_set_floating(s, true);
        sd_event_source_unref(s);
        m->logs_opened_total++;
        *ret_fd = TAKE_FD(rfd);
        return 0;
}
