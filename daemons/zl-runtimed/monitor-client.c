/* SPDX-License-Identifier: Apache-2.0 */
/* monitor-client.c: launching a container's monitor and talking to it over its socket. */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fd-util.h"
#include "fileio.h"
#include "monitor-client.h"
#include "path-util.h"

/* How long zl-monitor may take to create the container before the launch gives up. */
#define MONITOR_LAUNCH_TIMEOUT_USEC (60 * USEC_PER_SEC)

struct MonitorClient {
        int fd;
        uint64_t next_id;
        json_t *queue; /* messages read while waiting for a reply */
        char *buf;
};

/* Only async-signal-safe calls between fork and exec: the caller may have threads. */
_noreturn_ static void launch_fail(int fd, int error, const char *what) {
        char num[16];
        size_t i = sizeof num;

        num[--i] = ' ';
        do
                num[--i] = (char) ('0' + error % 10);
        while ((error /= 10) > 0 && i > 0);
        (void) !write(fd, num + i, sizeof num - i);
        (void) !write(fd, what, strlen(what));
        _exit(127);
}

_noreturn_ static void launch_child(int ready_fd, char *const *argv) {
        sigset_t none;
        int null, fd;
        pid_t pid;

        if (setsid() < 0)
                launch_fail(ready_fd, errno, "setsid() failed\n");
        /* The monitor must be nobody's child: it outlives whoever launched it. */
        pid = fork();
        if (pid < 0)
                launch_fail(ready_fd, errno, "fork() failed\n");
        if (pid > 0)
                _exit(0);

        sigemptyset(&none);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);
        fd = fcntl(ready_fd, F_DUPFD, 10);
        if (fd < 0)
                launch_fail(ready_fd, errno, "duplicating the ready pipe failed\n");
        null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null < 0)
                launch_fail(fd, errno, "opening /dev/null failed\n");
        for (int i = 0; i < 3; i++)
                if (dup2(null, i) < 0)
                        launch_fail(fd, errno, "setting up stdio failed\n");
        if (dup2(fd, 3) < 0)
                launch_fail(fd, errno, "setting up the ready pipe failed\n");
        (void) close_range(4, ~0U, CLOSE_RANGE_CLOEXEC);
        execv(argv[0], argv);
        launch_fail(3, errno, "executing the monitor failed\n");
}

static int launch_result(const char *text, char **ret_error) {
        char *end;
        long e;

        if (streq(text, MONITOR_READY_OK))
                return 0;
        e = strtol(text, &end, 10);
        if (end == text || *end != ' ' || e <= 0 || e > 4095) {
                if (ret_error)
                        *ret_error = strdup(isempty(text) ? "the monitor exited without reporting"
                                                          : text);
                return -EIO;
        }
        if (ret_error) {
                *ret_error = strdup(end + 1);
                if (*ret_error)
                        (*ret_error)[strcspn(*ret_error, "\n")] = 0;
        }
        return (int) -e;
}

int monitor_launch(const char *monitor_path, const char *dir, char **ret_error) {
        _cleanup_close_ int rfd = -EBADF, wfd = -EBADF;
        char buf[4096];
        size_t size = 0;
        usec_t deadline;
        int p[2], status;
        pid_t pid;

        if (!monitor_path || !dir)
                return -EINVAL;
        if (ret_error)
                *ret_error = NULL;
        char *argv[] = { (char *) monitor_path, (char *) "--dir", (char *) dir,
                         (char *) "--ready-fd", (char *) "3",     NULL };

        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        rfd = p[0];
        wfd = p[1];
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0)
                launch_child(wfd, argv);
        wfd = safe_close(wfd);
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;

        /* The monitor writes one line, then closes the pipe. */
        deadline = now(CLOCK_MONOTONIC) + MONITOR_LAUNCH_TIMEOUT_USEC;
        while (size < sizeof buf - 1 && !memchr(buf, '\n', size)) {
                struct pollfd pfd = { .fd = rfd, .events = POLLIN };
                usec_t n = now(CLOCK_MONOTONIC);
                ssize_t k;

                if (n >= deadline)
                        return -ETIMEDOUT;
                k = poll(&pfd, 1, (int) DIV_ROUND_UP(deadline - n, USEC_PER_MSEC));
                if (k < 0 && errno != EINTR)
                        return -errno;
                if (k <= 0)
                        continue;
                k = read(rfd, buf + size, sizeof buf - 1 - size);
                if (k < 0 && errno != EINTR)
                        return -errno;
                if (k == 0)
                        break;
                if (k > 0)
                        size += (size_t) k;
        }
        buf[size] = 0;
        return launch_result(buf, ret_error);
}

MonitorClient *monitor_client_free(MonitorClient *c) {
        if (!c)
                return NULL;
        safe_close(c->fd);
        json_decref(c->queue);
        free(c->buf);
        return mfree(c);
}

int monitor_client_connect(const char *dir, MonitorClient **ret) {
        _cleanup_(monitor_client_freep) MonitorClient *c = NULL;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int dfd = -EBADF;

        if (!dir || !ret)
                return -EINVAL;
        c = calloc(1, sizeof(MonitorClient));
        if (!c)
                return -ENOMEM;
        c->fd = -EBADF;
        c->next_id = 1;
        c->queue = json_array();
        c->buf = malloc(MONITOR_PACKET_MAX);
        if (!c->queue || !c->buf)
                return -ENOMEM;

        /* Through a descriptor: the directory's path may not fit in sun_path. */
        dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        snprintf(sa.sun_path, sizeof sa.sun_path, "/proc/self/fd/%d/" MONITOR_SOCKET_FILE, dfd);
        c->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (c->fd < 0)
                return -errno;
        if (connect(c->fd, (struct sockaddr *) &sa, sizeof sa) < 0)
                return -errno;
        if (fd_nonblock(c->fd, true) < 0)
                return -errno;
        *ret = TAKE_PTR(c);
        return 0;
}

int monitor_client_get_fd(MonitorClient *c) {
        return c ? c->fd : -EINVAL;
}

int monitor_client_send(MonitorClient *c, const char *cmd, json_t *args, uint64_t *ret_id) {
        _cleanup_(json_decrefp) json_t *req = json_object();
        _cleanup_free_ char *text = NULL;
        uint64_t id;

        if (!c || !cmd || (args && !json_is_object(args)))
                return -EINVAL;
        if (!req)
                return -ENOMEM;
        if (args && json_object_update(req, args) < 0)
                return -ENOMEM;
        id = c->next_id++;
        if (json_object_set_new(req, "id", json_integer((json_int_t) id)) < 0 ||
            json_object_set_new(req, "cmd", json_string(cmd)) < 0)
                return -ENOMEM;
        text = json_dumps(req, JSON_COMPACT);
        if (!text)
                return -ENOMEM;
        for (;;) {
                struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };

                if (send(c->fd, text, strlen(text), MSG_NOSIGNAL) >= 0)
                        break;
                if (errno == EPIPE)
                        return -ECONNRESET;
                if (errno != EAGAIN && errno != EINTR)
                        return -errno;
                /* A full socket buffer: the monitor is busy, give it a second. */
                if (poll(&pfd, 1, 1000) == 0)
                        return -ETIMEDOUT;
        }
        if (ret_id)
                *ret_id = id;
        return 0;
}

/* One message from the socket, bypassing the queue. */
static int client_recv(MonitorClient *c, json_t **ret) {
        json_t *msg;
        ssize_t n;

        n = recv(c->fd, c->buf, MONITOR_PACKET_MAX, MSG_DONTWAIT | MSG_TRUNC);
        if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                        return 0;
                return errno == EPIPE ? -ECONNRESET : -errno;
        }
        if (n == 0)
                return -ECONNRESET;
        if ((size_t) n > MONITOR_PACKET_MAX)
                return -EMSGSIZE;
        msg = json_loadb(c->buf, (size_t) n, 0, NULL);
        if (!json_is_object(msg)) {
                json_decref(msg);
                return -EBADMSG;
        }
        *ret = msg;
        return 1;
}

int monitor_client_receive(MonitorClient *c, json_t **ret) {
        if (!c || !ret)
                return -EINVAL;
        if (json_array_size(c->queue) > 0) {
                *ret = json_incref(json_array_get(c->queue, 0));
                (void) json_array_remove(c->queue, 0);
                return 1;
        }
        return client_recv(c, ret);
}

int monitor_client_call(MonitorClient *c, const char *cmd, json_t *args, usec_t timeout,
                        json_t **ret_reply, char **ret_error) {
        usec_t deadline;
        uint64_t id;
        int r;

        if (ret_error)
                *ret_error = NULL;
        r = monitor_client_send(c, cmd, args, &id);
        if (r < 0)
                return r;
        deadline = timeout == USEC_INFINITY ? USEC_INFINITY : now(CLOCK_MONOTONIC) + timeout;
        for (;;) {
                _cleanup_(json_decrefp) json_t *msg = NULL;
                json_t *mid;

                r = client_recv(c, &msg);
                if (r < 0)
                        return r;
                if (r == 0) {
                        struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
                        int ms = -1;

                        if (deadline != USEC_INFINITY) {
                                usec_t n = now(CLOCK_MONOTONIC);
                                if (n >= deadline)
                                        return -ETIMEDOUT;
                                ms = (int) MIN(DIV_ROUND_UP(deadline - n, USEC_PER_MSEC),
                                               (usec_t) INT32_MAX);
                        }
                        if (poll(&pfd, 1, ms) < 0 && errno != EINTR)
                                return -errno;
                        continue;
                }
                mid = json_object_get(msg, "id");
                if (!json_is_integer(mid) || (uint64_t) json_integer_value(mid) != id) {
                        if (json_array_append(c->queue, msg) < 0)
                                return -ENOMEM;
                        continue;
                }
                if (json_is_true(json_object_get(msg, "ok"))) {
                        if (ret_reply)
                                *ret_reply = TAKE_PTR(msg);
                        return 0;
                }
                json_int_t e = json_integer_value(json_object_get(msg, "errno"));
                if (ret_error) {
                        const char *text = json_string_value(json_object_get(msg, "error"));
                        *ret_error = strdup(text ?: "the monitor refused the request");
                }
                return e > 0 && e < 4096 ? (int) -e : -EIO;
        }
}

int monitor_status_read(const char *dir, MonitorStatus *ret) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        _cleanup_(json_decrefp) json_t *obj = NULL;
        size_t size;
        int r;

        if (!dir || !ret)
                return -EINVAL;
        path = path_join(dir, MONITOR_STATUS_FILE);
        if (!path)
                return -ENOMEM;
        r = read_full_file(path, 1 << 20, &text, &size);
        if (r < 0)
                return r;
        obj = json_loadb(text, size, 0, NULL);
        if (!obj)
                return -EBADMSG;
        return monitor_status_from_json(obj, ret);
}
