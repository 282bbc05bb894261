/* SPDX-License-Identifier: Apache-2.0 */
/* test-sched-probe.c: probes against real sockets on loopback, commands through a fake exec. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sched-probe.h"
#include "string-util.h"
#include "tests.h"
#include "time-util.h"

/* ---- fixtures ------------------------------------------------------------------------------ */

static sd_event *new_event(void) {
        sd_event *e = NULL;

        ASSERT_OK(sd_event_new(&e));
        return e;
}

/* Runs the loop until *flag is set or timeout passes; returns *flag. */
static bool run_until(sd_event *e, const bool *flag, uint64_t timeout_usec) {
        uint64_t end = now(CLOCK_MONOTONIC) + timeout_usec;

        while (!*flag && now(CLOCK_MONOTONIC) < end)
                ASSERT_OK(sd_event_run(e, 10 * USEC_PER_MSEC));
        return *flag;
}

static void run_for(sd_event *e, uint64_t usec) {
        bool never = false;

        (void) run_until(e, &never, usec);
}

static int listen_on(unsigned port, unsigned *ret_port) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
        socklen_t len = sizeof(sa);
        int fd, one = 1;

        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        ASSERT_GE(fd, 0);
        ASSERT_OK(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)));
        ASSERT_OK(bind(fd, (struct sockaddr *) &sa, sizeof(sa)));
        ASSERT_OK(listen(fd, 16));
        ASSERT_OK(getsockname(fd, (struct sockaddr *) &sa, &len));
        if (ret_port)
                *ret_port = ntohs(sa.sin_port);
        return fd;
}

/* A port nobody listens on (bound once, then closed). */
static unsigned free_port(void) {
        unsigned port;

        safe_close(listen_on(0, &port));
        return port;
}

/* A tiny HTTP server on the loop: answers every request with `status`, or never (silent). */
typedef struct HttpServer {
        int fd;
        unsigned port;
        sd_event_source *src;
        int status;
        bool silent;
        unsigned n_accepted;
        unsigned n_requests;
        char last_request[1024];
        int held[16]; /* silent connections, kept open */
        unsigned n_held;
} HttpServer;

static int server_on_conn(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        HttpServer *srv = userdata;
        char buf[1024] = {}, resp[128];
        ssize_t n;

        n = recv(fd, buf, sizeof(buf) - 1, 0);
        if (n < 0 && errno == EAGAIN)
                return 0;
        if (n > 0 && strstr(buf, "\r\n\r\n")) {
                srv->n_requests++;
                memcpy(srv->last_request, buf, sizeof(buf));
                (void) snprintf(resp, sizeof(resp),
                                "HTTP/1.1 %d Whatever\r\nContent-Length: 0\r\n"
                                "Connection: close\r\n\r\n",
                                srv->status);
                (void) send(fd, resp, strlen(resp), MSG_NOSIGNAL);
        }
        /* The source floats (the loop frees it); switched off before its fd goes. */
        (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
        safe_close(fd);
        return 0;
}

static int server_on_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        HttpServer *srv = userdata;
        int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (c < 0)
                return 0;
        srv->n_accepted++;
        if (srv->silent) {
                ASSERT_LT(srv->n_held, ELEMENTSOF(srv->held));
                srv->held[srv->n_held++] = c;
                return 0;
        }
        ASSERT_OK(sd_event_add_io(sd_event_source_get_event(s), NULL, c, EPOLLIN, server_on_conn,
                                  srv));
        return 0;
}

static void server_start(sd_event *e, HttpServer *srv, int status) {
        *srv = (HttpServer){ .status = status };
        srv->fd = listen_on(0, &srv->port);
        ASSERT_OK(sd_event_add_io(e, &srv->src, srv->fd, EPOLLIN, server_on_accept, srv));
}

static void server_stop(HttpServer *srv) {
        srv->src = sd_event_source_disable_unref(srv->src);
        srv->fd = safe_close(srv->fd);
        for (unsigned k = 0; k < srv->n_held; k++)
                safe_close(srv->held[k]);
        srv->n_held = 0;
}

/* A fake exec: runs argv on the host in a child; kills it at its timeout. */
typedef struct HostExec {
        unsigned n_calls;
        unsigned n_cancelled;
        bool canned; /* answer at once with canned_status instead of running anything */
        int canned_status;
        bool hang; /* never answer (until cancelled) */
        struct Call *pending;
} HostExec;

typedef struct Call {
        HostExec *x;
        pid_t pid;
        sd_event_source *child;
        sd_event_source *timer;
        SchedExecDoneFn done;
        void *done_userdata;
} Call;

static void call_free(Call *c) {
        if (!c)
                return;
        c->child = sd_event_source_disable_unref(c->child);
        c->timer = sd_event_source_disable_unref(c->timer);
        if (c->pid > 0) {
                /* The whole group: sh may have forked the command it runs. */
                (void) kill(-c->pid, SIGKILL);
                (void) waitpid(c->pid, NULL, 0);
        }
        if (c->x->pending == c)
                c->x->pending = NULL;
        free(c);
}

static int call_on_child(sd_event_source *s, const siginfo_t *si, void *userdata) {
        Call *c = userdata;
        SchedExecDoneFn done = c->done;
        void *ud = c->done_userdata;
        int status = si->si_code == CLD_EXITED ? si->si_status : 128 + si->si_status;

        c->pid = 0;
        call_free(c);
        done(0, status, ud);
        return 0;
}

static int call_on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Call *c = userdata;
        SchedExecDoneFn done = c->done;
        void *ud = c->done_userdata;

        call_free(c);
        done(-ETIMEDOUT, 0, ud);
        return 0;
}

static sd_event *exec_event;

static int host_exec(void *userdata, const char *const *argv, uint64_t timeout_usec,
                     SchedExecDoneFn done, void *done_userdata) {
        HostExec *x = userdata;
        Call *c;
        sigset_t mask;

        x->n_calls++;
        if (x->canned) {
                done(0, x->canned_status, done_userdata);
                return 0;
        }
        c = calloc(1, sizeof(*c));
        ASSERT_NOT_NULL(c);
        c->x = x;
        c->done = done;
        c->done_userdata = done_userdata;
        x->pending = c;
        if (x->hang)
                return 0;

        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        ASSERT_OK(sigprocmask(SIG_BLOCK, &mask, NULL));
        c->pid = fork();
        ASSERT_GE(c->pid, 0);
        if (c->pid == 0) {
                (void) setpgid(0, 0);
                execv(argv[0], (char *const *) argv);
                _exit(127);
        }
        /* Both sides set the group, so a kill right after fork finds it. */
        (void) setpgid(c->pid, c->pid);
        ASSERT_OK(sd_event_add_child(exec_event, &c->child, c->pid, WEXITED, call_on_child, c));
        ASSERT_OK(sd_event_add_time_relative(exec_event, &c->timer, CLOCK_MONOTONIC, timeout_usec,
                                             0, call_on_timeout, c));
        return 0;
}

static void host_cancel(void *userdata, void *done_userdata) {
        HostExec *x = userdata;

        x->n_cancelled++;
        if (x->pending && x->pending->done_userdata == done_userdata)
                call_free(x->pending);
}

/* Transitions seen by a probe. */
typedef struct Seen {
        unsigned n;
        SchedProbeHealth old[16];
        SchedProbeHealth new[16];
        char reason[16][256];
        uint64_t checks_at[16];
        bool changed;
        bool free_on_change;
} Seen;

static void on_changed(SchedProbe *p, SchedProbeHealth old, SchedProbeHealth new,
                       const char *reason, void *userdata) {
        Seen *s = userdata;

        ASSERT_NE(old, new);
        ASSERT_LT(s->n, ELEMENTSOF(s->old));
        s->old[s->n] = old;
        s->new[s->n] = new;
        s->checks_at[s->n] = sched_probe_get_n_checks(p);
        (void) snprintf(s->reason[s->n], sizeof(s->reason[0]), "%s", reason);
        s->n++;
        s->changed = true;
        if (s->free_on_change)
                sched_probe_free(p);
}

static json_t *json_of(const char *text) {
        json_error_t err;
        json_t *j = json_loads(text, 0, &err);

        if (!j)
                test_fail(__FILE__, __LINE__, "bad JSON in test: %s", err.text);
        return j;
}

_printf_(1, 2) static char *strf(const char *fmt, ...) {
        va_list ap;
        char *s;

        va_start(ap, fmt);
        ASSERT_GT(vasprintf(&s, fmt, ap), 0);
        va_end(ap);
        return s;
}

/* Takes the texts (either may be NULL). */
static SchedProbe *probe_of(sd_event *e, char *health, char *endpoints, const SchedExec *exec,
                            Seen *seen) {
        _cleanup_free_ char *h = health, *ep = endpoints, *error = NULL;
        json_t *hj, *ej = NULL;
        SchedProbe *p = NULL;
        int r;

        ASSERT_NOT_NULL(h);
        hj = json_of(h);
        if (ep)
                ej = json_of(ep);
        r = sched_probe_new(e, hj, ej, "127.0.0.1", exec, on_changed, seen, &p, &error);
        if (r < 0)
                test_fail(__FILE__, __LINE__, "sched_probe_new: %s: %s", strerror(-r),
                          strna(error));
        json_decref(hj);
        json_decref(ej);
        return p;
}

/* ---- probes -------------------------------------------------------------------------------- */

TEST(tcp_transitions_with_retries) {
        _cleanup_(sd_event_unrefp) sd_event *e = new_event();
        _cleanup_(sched_probe_freep) SchedProbe *p = NULL;
        _cleanup_free_ char *expect = NULL;
        Seen seen = {};
        const char *reason;
        unsigned port;
        int fd = listen_on(0, &port);

        p = probe_of(e,
                     strf("{\"check\": {\"type\": \"tcp\", \"port\": %u}, \"interval\": 20, "
                          "\"timeout\": 500, \"retries\": 3}",
                          port),
                     NULL, NULL, &seen);
        ASSERT_EQ(sched_probe_get_type(p), SCHED_CHECK_TCP);
        ASSERT_EQ(sched_probe_get_health(p), SCHED_PROBE_HEALTH_UNKNOWN);
        ASSERT_FALSE(sched_probe_get_last_result(p, &reason));
        ASSERT_NULL(reason);
        ASSERT_OK(sched_probe_start(p));
        ASSERT_ERROR(sched_probe_start(p), EALREADY);

        ASSERT_TRUE(run_until(e, &seen.changed, 5 * USEC_PER_SEC));
        ASSERT_EQ(seen.n, 1U);
        ASSERT_EQ(seen.old[0], SCHED_PROBE_HEALTH_UNKNOWN);
        ASSERT_EQ(seen.new[0], SCHED_PROBE_HEALTH_HEALTHY);
        ASSERT_EQ(seen.checks_at[0], 1U);
        ASSERT_GT(asprintf(&expect, "connected to 127.0.0.1:%u", port), 0);
        ASSERT_STREQ(seen.reason[0], expect);
        ASSERT_TRUE(sched_probe_get_last_result(p, &reason));
        ASSERT_STREQ(reason, expect);

        /* Healthy stays healthy over further checks. */
        run_for(e, 100 * USEC_PER_MSEC);
        ASSERT_EQ(seen.n, 1U);
        ASSERT_GE(sched_probe_get_n_checks(p), 3U);

        /* Gone: unhealthy after exactly 3 consecutive failures. */
        safe_close(fd);
        seen.changed = false;
        ASSERT_TRUE(run_until(e, &seen.changed, 5 * USEC_PER_SEC));
        ASSERT_EQ(seen.n, 2U);
        ASSERT_EQ(seen.old[1], SCHED_PROBE_HEALTH_HEALTHY);
        ASSERT_EQ(seen.new[1], SCHED_PROBE_HEALTH_UNHEALTHY);
        ASSERT_EQ(sched_probe_get_consecutive_failures(p), 3U);
        free(expect);
        ASSERT_GT(asprintf(&expect, "connect to 127.0.0.1:%u: Connection refused", port), 0);
        ASSERT_STREQ(seen.reason[1], expect);
        ASSERT_FALSE(sched_probe_get_last_result(p, &reason));
        ASSERT_STREQ(reason, expect);

        /* Back on one success. */
        fd = listen_on(port, NULL);
        seen.changed = false;
        ASSERT_TRUE(run_until(e, &seen.changed, 5 * USEC_PER_SEC));
        ASSERT_EQ(seen.n, 3U);
        ASSERT_EQ(seen.new[2], SCHED_PROBE_HEALTH_HEALTHY);
        ASSERT_EQ(sched_probe_get_consecutive_failures(p), 0U);
        safe_close(fd);
}

TEST(tcp_never_passing_becomes_unhealthy) {
        _cleanup_(sd_event_unrefp) sd_event *e = new_event();
        _cleanup_(sched_probe_freep) SchedProbe *p = NULL;
        Seen seen = {};

        p = probe_of(e,
                     strf("{\"check\": {\"type\": \"tcp\", \"port\": %u}, \"interval\": 10, "
                          "\"timeout\": 500, \"retries\": 2}",
                          free_port()),
                     NULL, NULL, &seen);
        ASSERT_OK(sched_probe_start(p));
        ASSERT_TRUE(run_until(e, &seen.changed, 5 * USEC_PER_SEC));
        ASSERT_EQ(seen.old[0], SCHED_PROBE_HEALTH_UNKNOWN);
        ASSERT_EQ(seen.new[0], SCHED_PROBE_HEALTH_UNHEALTHY);
        ASSERT_EQ(seen.checks_at[0], 2U);
        ASSERT_TRUE(strstr(seen.reason[0], "Connection refused"));
}

TEST(retries_zero_means_one_failure) {
        _cleanup_(sd_event_unrefp) sd_event *e = new_event();
        _cleanup_(sched_probe_freep) SchedProbe *p = NULL;
        Seen seen = {};

        p = probe_of(e,
                     strf("{\"check\": {\"type\": \"tcp\", \"port\": %u}, \"interval\": 10, "
                          "\"retries\": 0}",
                          free_port()),
                     NULL, NULL, &seen);
        ASSERT_OK(sched_probe_start(p));
        ASSERT_TRUE(run_until(e, &seen.changed, 5 * USEC_PER_SEC));
        ASSERT_EQ(seen.new[0], SCHED_PROBE_HEALTH_UNHEALTHY);
        ASSERT_EQ(seen.checks_at[0], 1U);
}

TEST(default_check_is_tcp_on_first_endpoint) {
        _cleanup_(sd_event_unrefp) sd_event *e = new_event();
        _cleanup_(sched_probe_freep) SchedProbe *p = NULL;
        _cleanup_free_ char *expect = NULL;
        Seen seen = {};
        unsigned port;
        _unused_ _cleanup_close_ int fd = listen_on(0, &port);

        p = probe_of(e, strdup("{\"interval\": 20}"),
                     strf("[{\"name\": \"web\", \"protocol\": \"http\", \"port\": 80, "
                          "\"target_port\": %u}]",
                          port),
                     NULL, &seen);
        ASSERT_EQ(sched_probe_get_type(p), SCHED_CHECK_TCP);
        ASSERT_GT(asprintf(&expect, "127.0.0.1:%u", port), 0);
        ASSERT_STREQ(sched_probe_get_target(p), expect);
        ASSERT_OK(sched_probe_start(p));
        ASSERT_TRUE(run_until(e, &seen.changed, 5 * USEC_PER_SEC));
        ASSERT_EQ(seen.new[0], SCHED_PROBE_HEALTH_HEALTHY);
}

TEST(no_check_no_endpoints_is_healthy_when_running) {
        _cleanup_(sd_event_unrefp) sd_event *e = new_event();
        _cleanup_(sched_probe_freep) SchedProbe *p = NULL;
        Seen seen = {};

        /* start_grace is irrelevant without a check. */
        p = probe_of(e, strdup("{\"start_grace\": 60000, \"interval\": 10000}"), strdup("[]"), NULL,
                     &seen);
        ASSERT_EQ(sched_probe_get_type(p), SCHED_CHECK_NONE);
        ASSERT_OK(sched_probe_start(p));
        ASSERT_TRUE(run_until(e, &seen.changed, USEC_PER_SEC));
        ASSERT_EQ(seen.new[0], SCHED_PROBE_HEALTH_HEALTHY);
        ASSERT_TRUE(strstr(seen.reason[0], "running replica counts as healthy"));
        run_for(e, 50 * USEC_PER_MSEC);
        ASSERT_EQ(sched_probe_get_n_checks(p), 1U);

        /* And with no health object at all. */
        p = sched_probe_free(p);
        ASSERT_OK(sched_probe_new(e, NULL, NULL, "10.0.0.5", NULL, NULL, NULL, &p, NULL));
        ASSERT_EQ(sched_probe_get_type(p), SCHED_CHECK_NONE);
}

TEST(http_status_and_expect_status) {
        _cleanup_(sd_event_unrefp) sd_event *e = new_event();
        _cleanup_(sched_probe_freep) SchedProbe *p = NULL;
        _cleanup_free_ char *host = NULL, *target = NULL;
        HttpServer srv;
        Seen seen = {};

        server_start(e, &srv, 200);
        p = probe_of(
                e,
                strdup("{\"check\": {\"type\": \"http\", \"url\": \"/health\", "
                       "\"expect_status\": 200}, \"interval\": 20, \"timeout\": 1000, "
                       "\"retries\": 2}"),
                strf("[{\"name\": \"raw\", \"protocol\": \"tcp\", \"port\": 9, \"target_port\": 9},"
                     " {\"name\": \"web\", \"protocol\": \"http\", \"port\": 80, "
                     "\"target_port\": %u}]",
                     srv.port),
                NULL, &seen);
        ASSERT_EQ(sched_probe_get_type(p), SCHED_CHECK_HTTP);
        ASSERT_GT(asprintf(&target, "http://127.0.0.1:%u/health", srv.port), 0);
        ASSERT_STREQ(sched_probe_get_target(p), target);
        ASSERT_OK(sched_probe_start(p));
        ASSERT_TRUE(run_until(e, &seen.changed, 5 * USEC_PER_SEC));
        ASSERT_EQ(seen.new[0], SCHED_PROBE_HEALTH_HEALTHY);
        ASSERT_STREQ(seen.reason[0], "HTTP 200 from /health");

        /* The request: a GET of the path, Host, Connection: close. */
        ASSERT_TRUE(startswith(srv.last_request, "GET /health HTTP/1.1\r\n"));
        ASSERT_GT(asprintf(&host, "\r\nHost: 127.0.0.1:%u\r\n", srv.port), 0);
        ASSERT_TRUE(strstr(srv.last_request, host));
        ASSERT_TRUE(strstr(srv.last_request, "\r\nConnection: close\r\n"));

        srv.status = 503;
        seen.changed = false;
        ASSERT_TRUE(run_until(e, &seen.changed, 5 * USEC_PER_SEC));
        ASSERT_EQ(seen.new[1], SCHED_PROBE_HEALTH_UNHEALTHY);
        ASSERT_STREQ(seen.reason[1], "HTTP 503 from /health");
        ASSERT_EQ(sched_probe_get_consecutive_failures(p), 2U);

        /* 204 is not the expected 200. */
        srv.status = 204;
        run_for(e, 100 * USEC_PER_MSEC);
        ASSERT_EQ(seen.n, 2U);
        ASSERT_EQ(sched_probe_get_health(p), SCHED_PROBE_HEALTH_UNHEALTHY);

        srv.status = 200;
        seen.changed = false;
        ASSERT_TRUE(run_until(e, &seen.changed, 5 * USEC_PER_SEC));
        ASSERT_EQ(seen.new[2], SCHED_PROBE_HEALTH_HEALTHY);
        server_stop(&srv);
}

TEST(http_full_url_any_2xx) {
        _cleanup_(sd_event_unrefp) sd_event *e = new_event();
        _cleanup_(sched_probe_freep) SchedProbe *p = NULL;
        HttpServer srv;
        Seen seen = {};

        server_start(e, &srv, 204);
        /* Without expect_status (only non-canonical input leaves it out), any 2xx passes. */
        p = probe_of(
                e,
                strf("{\"check\": {\"type\": \"http\", \"url\": \"http://127.0.0.1:%u/ready?x=1\"},"
                     " \"interval\": 20, \"retries\": 1}",
                     srv.port),
                NULL, NULL, &seen);
        ASSERT_OK(sched_probe_start(p));
        ASSERT_TRUE(run_until(e, &seen.changed, 5 * USEC_PER_SEC));
        ASSERT_EQ(seen.new[0], SCHED_PROBE_HEALTH_HEALTHY);
        ASSERT_STREQ(seen.reason[0], "HTTP 204 from /ready?x=1");
        ASSERT_TRUE(startswith(srv.last_request, "GET /ready?x=1 HTTP/1.1\r\n"));

        srv.status = 302;
        seen.changed = false;
        ASSERT_TRUE(run_until(e, &seen.changed, 5 * USEC_PER_SEC));
        ASSERT_EQ(seen.new[1], SCHED_PROBE_HEALTH_UNHEALTHY);
        ASSERT_STREQ(seen.reason[1], "HTTP 302 from /ready?x=1");
        server_stop(&srv);
}

TEST(http_timeout_when_server_never_answers) {
        _cleanup_(sd_event_unrefp) sd_event *e = new_event();
        _cleanup_(sched_probe_freep) SchedProbe *p = NULL;
        HttpServer srv;
        Seen seen = {};

        server_start(e, &srv, 200);
        srv.silent = true;
        p = probe_of(e,
                     strf("{\"check\": {\"type\": \"http\", \"url\": \"http://127.0.0.1:%u/\"}, "
                          "\"interval\": 20, \"timeout\": 50, \"retries\": 1}",
                          srv.port),
                     NULL, NULL, &seen);
        ASSERT_OK(sched_probe_start(p));
        ASSERT_TRUE(run_until(e, &seen.changed, 5 * USEC_PER_SEC));
        ASSERT_EQ(seen.new[0], SCHED_PROBE_HEALTH_UNHEALTHY);
        ASSERT_STREQ(seen.reason[0], "timed out after 50ms");
        ASSERT_GE(srv.n_accepted, 1U);
        p = sched_probe_free(p);
        server_stop(&srv);
}

TEST(http_garbage_answer) {
        _cleanup_(sd_event_unrefp) sd_event *e = new_event();
        _cleanup_(sched_probe_freep) SchedProbe *p = NULL;
        HttpServer srv;
        Seen seen = {};

        server_start(e, &srv, 99); /* "HTTP/1.1 99 ..." is not a valid status */
        p = probe_of(e,
                     strf("{\"check\": {\"type\": \"http\", \"url\": \"http://127.0.0.1:%u/\"}, "
                          "\"interval\": 20, \"retries\": 1}",
                          srv.port),
                     NULL, NULL, &seen);
        ASSERT_OK(sched_probe_start(p));
        ASSERT_TRUE(run_until(e, &seen.changed, 5 * USEC_PER_SEC));
        ASSERT_EQ(seen.new[0], SCHED_PROBE_HEALTH_UNHEALTHY);
        if (!startswith(seen.reason[0], "HTTP: malformed status code"))
                test_fail(__FILE__, __LINE__, "unexpected reason '%s'", seen.reason[0]);
        server_stop(&srv);
}

TEST(command_through_exec) {
        _cleanup_(sd_event_unrefp) sd_event *e = new_event();
        _cleanup_(sched_probe_freep) SchedProbe *p = NULL;
        _cleanup_free_ char *dir = NULL, *health = NULL;
        HostExec x = {};
        SchedExec exec = { .exec = host_exec, .cancel = host_cancel, .userdata = &x };
        Seen seen = {};

        exec_event = e;
        /* Passes while the file exists. */
        ASSERT_GT(asprintf(&dir, "%s/ok", test_tmpdir()), 0);
        ASSERT_GT(asprintf(&health,
                           "{\"check\": {\"type\": \"command\", \"command\": \"test -e %s\"}, "
                           "\"interval\": 20, \"timeout\": 2000, \"retries\": 1}",
                           dir),
                  0);
        p = probe_of(e, strdup(health), NULL, &exec, &seen);
        ASSERT_EQ(sched_probe_get_type(p), SCHED_CHECK_COMMAND);
        ASSERT_OK(sched_probe_start(p));
        ASSERT_TRUE(run_until(e, &seen.changed, 5 * USEC_PER_SEC));
        ASSERT_EQ(seen.new[0], SCHED_PROBE_HEALTH_UNHEALTHY);
        ASSERT_STREQ(seen.reason[0], "command exited with status 1");

        ASSERT_OK(mkdir(dir, 0755));
        seen.changed = false;
        ASSERT_TRUE(run_until(e, &seen.changed, 5 * USEC_PER_SEC));
        ASSERT_EQ(seen.new[1], SCHED_PROBE_HEALTH_HEALTHY);
        ASSERT_STREQ(seen.reason[1], "command exited with status 0");
        ASSERT_GE(x.n_calls, 2U);
}

TEST(command_timeout_and_canned_results) {
        _cleanup_(sd_event_unrefp) sd_event *e = new_event();
        _cleanup_(sched_probe_freep) SchedProbe *p = NULL;
        HostExec x = {};
        SchedExec exec = { .exec = host_exec, .cancel = host_cancel, .userdata = &x };
        Seen seen = {};

        exec_event = e;
        p = probe_of(e,
                     strdup("{\"check\": {\"type\": \"command\", \"command\": \"sleep 10\"}, "
                            "\"interval\": 20, \"timeout\": 50, \"retries\": 1}"),
                     NULL, &exec, &seen);
        ASSERT_OK(sched_probe_start(p));
        ASSERT_TRUE(run_until(e, &seen.changed, 5 * USEC_PER_SEC));
        ASSERT_EQ(seen.new[0], SCHED_PROBE_HEALTH_UNHEALTHY);
        ASSERT_STREQ(seen.reason[0], "timed out after 50ms");
        p = sched_probe_free(p);
        ASSERT_NULL(x.pending);

        /* An exec that answers before returning (canned): exit 0 then exit 7. */
        x = (HostExec){ .canned = true, .canned_status = 0 };
        seen = (Seen){};
        p = probe_of(e,
                     strdup("{\"check\": {\"type\": \"command\", \"command\": \"true\"}, "
                            "\"interval\": 10, \"retries\": 2}"),
                     NULL, &exec, &seen);
        ASSERT_OK(sched_probe_start(p));
        ASSERT_TRUE(run_until(e, &seen.changed, 5 * USEC_PER_SEC));
        ASSERT_EQ(seen.new[0], SCHED_PROBE_HEALTH_HEALTHY);
        x.canned_status = 7;
        seen.changed = false;
        ASSERT_TRUE(run_until(e, &seen.changed, 5 * USEC_PER_SEC));
        ASSERT_EQ(seen.new[1], SCHED_PROBE_HEALTH_UNHEALTHY);
        ASSERT_STREQ(seen.reason[1], "command exited with status 7");
        ASSERT_EQ(seen.checks_at[1] - seen.checks_at[0], 2U);
}

TEST(start_grace_is_honoured) {
        _cleanup_(sd_event_unrefp) sd_event *e = new_event();
        _cleanup_(sched_probe_freep) SchedProbe *p = NULL;
        Seen seen = {};
        unsigned port;
        _unused_ _cleanup_close_ int fd = listen_on(0, &port);
        uint64_t t0;

        p = probe_of(e,
                     strf("{\"check\": {\"type\": \"tcp\", \"port\": %u}, \"start_grace\": 200, "
                          "\"interval\": 10}",
                          port),
                     NULL, NULL, &seen);
        t0 = now(CLOCK_MONOTONIC);
        ASSERT_OK(sched_probe_start(p));
        run_for(e, 100 * USEC_PER_MSEC);
        ASSERT_EQ(sched_probe_get_n_checks(p), 0U);
        ASSERT_EQ(sched_probe_get_health(p), SCHED_PROBE_HEALTH_UNKNOWN);
        ASSERT_TRUE(run_until(e, &seen.changed, 5 * USEC_PER_SEC));
        ASSERT_GE(now(CLOCK_MONOTONIC) - t0, 200 * USEC_PER_MSEC);
        ASSERT_EQ(seen.new[0], SCHED_PROBE_HEALTH_HEALTHY);
}

TEST(free_mid_check_closes_the_socket) {
        _cleanup_(sd_event_unrefp) sd_event *e = new_event();
        SchedProbe *p;
        HttpServer srv;
        Seen seen = {};
        char c;

        server_start(e, &srv, 200);
        srv.silent = true;
        p = probe_of(e,
                     strf("{\"check\": {\"type\": \"http\", \"url\": \"http://127.0.0.1:%u/\"}, "
                          "\"interval\": 20, \"timeout\": 60000}",
                          srv.port),
                     NULL, NULL, &seen);
        ASSERT_OK(sched_probe_start(p));
        for (uint64_t end = now(CLOCK_MONOTONIC) + 5 * USEC_PER_SEC;
             srv.n_held == 0 && now(CLOCK_MONOTONIC) < end;)
                ASSERT_OK(sd_event_run(e, 10 * USEC_PER_MSEC));
        ASSERT_EQ(srv.n_held, 1U);
        sched_probe_free(p);
        run_for(e, 20 * USEC_PER_MSEC);
        /* The server sees the request, then the end of the connection. */
        for (;;) {
                ssize_t n = recv(srv.held[0], &c, 1, MSG_DONTWAIT);

                if (n == 0)
                        break;
                ASSERT_TRUE(n == 1);
        }
        ASSERT_EQ(seen.n, 0U);
        server_stop(&srv);
}

TEST(free_mid_command) {
        _cleanup_(sd_event_unrefp) sd_event *e = new_event();
        SchedProbe *p;
        HostExec x = { .hang = true };
        SchedExec exec = { .exec = host_exec, .cancel = host_cancel, .userdata = &x };
        Call *orphan;
        Seen seen = {};

        exec_event = e;
        p = probe_of(e, strdup("{\"check\": {\"type\": \"command\", \"command\": \"true\"}}"), NULL,
                     &exec, &seen);
        ASSERT_OK(sched_probe_start(p));
        for (uint64_t end = now(CLOCK_MONOTONIC) + 5 * USEC_PER_SEC;
             !x.pending && now(CLOCK_MONOTONIC) < end;)
                ASSERT_OK(sd_event_run(e, 10 * USEC_PER_MSEC));
        ASSERT_NOT_NULL(x.pending);
        sched_probe_free(p);
        ASSERT_EQ(x.n_cancelled, 1U);
        ASSERT_NULL(x.pending);

        /* Without cancel, a late answer goes to nobody, safely. */
        exec.cancel = NULL;
        x = (HostExec){ .hang = true };
        p = probe_of(e, strdup("{\"check\": {\"type\": \"command\", \"command\": \"true\"}}"), NULL,
                     &exec, &seen);
        ASSERT_OK(sched_probe_start(p));
        for (uint64_t end = now(CLOCK_MONOTONIC) + 5 * USEC_PER_SEC;
             !x.pending && now(CLOCK_MONOTONIC) < end;)
                ASSERT_OK(sd_event_run(e, 10 * USEC_PER_MSEC));
        orphan = x.pending;
        ASSERT_NOT_NULL(orphan);
        sched_probe_free(p);
        orphan->done(0, 0, orphan->done_userdata);
        call_free(orphan);
        ASSERT_EQ(seen.n, 0U);
}

TEST(free_from_the_callback) {
        _cleanup_(sd_event_unrefp) sd_event *e = new_event();
        SchedProbe *p;
        Seen seen = { .free_on_change = true };
        unsigned port;
        _unused_ _cleanup_close_ int fd = listen_on(0, &port);

        p = probe_of(e,
                     strf("{\"check\": {\"type\": \"tcp\", \"port\": %u}, \"interval\": 10}", port),
                     NULL, NULL, &seen);
        ASSERT_OK(sched_probe_start(p));
        ASSERT_TRUE(run_until(e, &seen.changed, 5 * USEC_PER_SEC));
        run_for(e, 50 * USEC_PER_MSEC);
        ASSERT_EQ(seen.n, 1U);
}

TEST(stop_and_restart) {
        _cleanup_(sd_event_unrefp) sd_event *e = new_event();
        _cleanup_(sched_probe_freep) SchedProbe *p = NULL;
        Seen seen = {};
        unsigned port;
        _unused_ _cleanup_close_ int fd = listen_on(0, &port);
        uint64_t n;

        p = probe_of(e,
                     strf("{\"check\": {\"type\": \"tcp\", \"port\": %u}, \"interval\": 10}", port),
                     NULL, NULL, &seen);
        ASSERT_OK(sched_probe_start(p));
        ASSERT_TRUE(run_until(e, &seen.changed, 5 * USEC_PER_SEC));
        sched_probe_stop(p);
        n = sched_probe_get_n_checks(p);
        run_for(e, 60 * USEC_PER_MSEC);
        ASSERT_EQ(sched_probe_get_n_checks(p), n);
        ASSERT_EQ(sched_probe_get_health(p), SCHED_PROBE_HEALTH_HEALTHY);

        ASSERT_OK(sched_probe_start(p));
        ASSERT_EQ(sched_probe_get_health(p), SCHED_PROBE_HEALTH_UNKNOWN);
        seen.changed = false;
        ASSERT_TRUE(run_until(e, &seen.changed, 5 * USEC_PER_SEC));
        ASSERT_EQ(seen.n, 2U);
        ASSERT_EQ(seen.old[1], SCHED_PROBE_HEALTH_UNKNOWN);
        ASSERT_EQ(seen.new[1], SCHED_PROBE_HEALTH_HEALTHY);
}

static void assert_invalid(const char *health, const char *endpoints, const char *ip,
                           const SchedExec *exec, const char *needle) {
        _cleanup_(sd_event_unrefp) sd_event *e = new_event();
        _cleanup_free_ char *error = NULL;
        SchedProbe *p = NULL;
        json_t *h = health ? json_of(health) : NULL, *ep = endpoints ? json_of(endpoints) : NULL;

        ASSERT_ERROR(sched_probe_new(e, h, ep, ip, exec, NULL, NULL, &p, &error), EINVAL);
        ASSERT_NULL(p);
        ASSERT_NOT_NULL(error);
        if (!strstr(error, needle))
                test_fail(__FILE__, __LINE__, "error '%s' does not mention '%s'", error, needle);
        json_decref(h);
        json_decref(ep);
}

TEST(invalid_health_is_refused_with_a_message) {
        SchedExec exec = { .exec = host_exec };
        const char *web = "[{\"name\": \"web\", \"protocol\": \"http\", \"target_port\": 8080}]";

        assert_invalid("{\"check\": {\"type\": \"http\", \"url\": \"https://10.0.0.1/\"}}", NULL,
                       "10.0.0.5", NULL, "https is not supported");
        assert_invalid("{\"check\": {\"type\": \"http\", \"url\": \"http://db:80/\"}}", NULL,
                       "10.0.0.5", NULL,
                       "'db' is not a numeric IPv4 or IPv6 address, and there is no resolver");
        assert_invalid("{\"check\": {\"type\": \"http\", \"url\": \"http://1.2.3.4:99999/\"}}",
                       NULL, "10.0.0.5", NULL, "bad port");
        assert_invalid("{\"check\": {\"type\": \"http\", \"url\": \"/health\"}}",
                       "[{\"name\": \"raw\", \"protocol\": \"tcp\", \"target_port\": 9}]",
                       "10.0.0.5", NULL, "no http or websocket endpoint");
        assert_invalid("{\"check\": {\"type\": \"http\", \"url\": \"/health\"}}",
                       "[{\"name\": \"s\", \"protocol\": \"https\", \"target_port\": 443}]",
                       "10.0.0.5", NULL, "https, which probes do not speak");
        assert_invalid("{\"check\": {\"type\": \"http\", \"url\": \"/he alth\"}}", web, "10.0.0.5",
                       NULL, "spaces or control characters");
        assert_invalid("{\"check\": {\"type\": \"command\", \"command\": \"true\"}}", NULL,
                       "10.0.0.5", NULL, "command checks need a way to run commands");
        assert_invalid("{\"check\": {\"type\": \"command\", \"command\": \"\"}}", NULL, "10.0.0.5",
                       &exec, "health.check.command");
        assert_invalid("{\"check\": {\"type\": \"grpc\"}}", NULL, "10.0.0.5", NULL,
                       "'grpc' is not one of tcp, http, command");
        assert_invalid("{\"check\": {\"type\": \"tcp\"}}", NULL, "10.0.0.5", NULL,
                       "no endpoints to take it from");
        assert_invalid("{\"check\": {\"type\": \"tcp\", \"port\": 0}}", NULL, "10.0.0.5", NULL,
                       "health.check.port");
        assert_invalid("{\"interval\": 0}", web, "10.0.0.5", NULL, "health.interval");
        assert_invalid("{\"timeout\": \"5s\"}", web, "10.0.0.5", NULL, "health.timeout");
        assert_invalid("{\"retries\": -1}", web, "10.0.0.5", NULL, "health.retries");
        assert_invalid("[]", NULL, "10.0.0.5", NULL, "health: expected an object");
        assert_invalid("{}", web, "web-1", NULL, "'web-1' is not a numeric");
        assert_invalid("{}", "{}", "10.0.0.5", NULL, "endpoints: expected a list");
}

TEST(ipv6_targets) {
        _cleanup_(sd_event_unrefp) sd_event *e = new_event();
        _cleanup_(sched_probe_freep) SchedProbe *p = NULL;
        SchedCheckTarget t = {};
        json_t *h = json_of("{\"check\": {\"type\": \"http\", \"url\": \"/h\"}}");
        json_t *ep = json_of("[{\"name\": \"w\", \"protocol\": \"websocket\", "
                             "\"target_port\": 81}]");

        ASSERT_OK(sched_probe_new(e, h, ep, "fd00::5", NULL, NULL, NULL, &p, NULL));
        ASSERT_STREQ(sched_probe_get_target(p), "http://[fd00::5]:81/h");
        ASSERT_OK(sched_check_target_http_url(&t, "http://[::1]:8080", 0, NULL, NULL));
        ASSERT_STREQ(t.address, "[::1]:8080");
        ASSERT_STREQ(t.path, "/");
        ASSERT_STREQ(t.host, "[::1]:8080");
        ASSERT_OK(sched_check_target_http_url(&t, "http://127.0.0.1/x", 0, NULL, NULL));
        ASSERT_STREQ(t.address, "127.0.0.1:80");
        ASSERT_STREQ(t.host, "127.0.0.1");
        sched_check_target_done(&t);
        json_decref(h);
        json_decref(ep);
}

TEST(enum_names) {
        ASSERT_STREQ(sched_probe_health_to_string(SCHED_PROBE_HEALTH_UNHEALTHY), "unhealthy");
        ASSERT_NULL(sched_probe_health_to_string(_SCHED_PROBE_HEALTH_MAX));
        ASSERT_STREQ(sched_check_type_to_string(SCHED_CHECK_COMMAND), "command");
        ASSERT_NULL(sched_check_type_to_string(_SCHED_CHECK_TYPE_INVALID));
}
