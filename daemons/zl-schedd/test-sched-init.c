/* SPDX-License-Identifier: Apache-2.0 */
/* test-sched-init.c: init steps against real sockets on loopback and commands run on the host. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sched-init.h"
#include "string-util.h"
#include "tests.h"
#include "time-util.h"

static sd_event *new_event(void) {
        sd_event *e = NULL;

        ASSERT_OK(sd_event_new(&e));
        return e;
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

/* Commands run with sh on the host: the reconciler's exec runs them in the container instead. */
typedef struct Call {
        sd_event *event;
        pid_t pid;
        sd_event_source *child;
        sd_event_source *timer;
        SchedExecDoneFn done;
        void *done_userdata;
} Call;

static unsigned n_exec_calls;
static Call *pending_call;

static void call_free(Call *c) {
        if (pending_call == c)
                pending_call = NULL;
        c->child = sd_event_source_disable_unref(c->child);
        c->timer = sd_event_source_disable_unref(c->timer);
        if (c->pid > 0) {
                /* The whole group: sh may have forked the command it runs. */
                (void) kill(-c->pid, SIGKILL);
                (void) waitpid(c->pid, NULL, 0);
        }
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

static int host_exec(void *userdata, const char *const *argv, uint64_t timeout_usec,
                     SchedExecDoneFn done, void *done_userdata) {
        Call *c = calloc(1, sizeof(*c));
        sigset_t mask;

        ASSERT_NOT_NULL(c);
        n_exec_calls++;
        c->event = userdata;
        c->done = done;
        c->done_userdata = done_userdata;
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
        ASSERT_OK(sd_event_add_child(c->event, &c->child, c->pid, WEXITED, call_on_child, c));
        ASSERT_OK(sd_event_add_time_relative(c->event, &c->timer, CLOCK_MONOTONIC, timeout_usec, 0,
                                             call_on_timeout, c));
        pending_call = c;
        return 0;
}

static void host_cancel(void *userdata, void *done_userdata) {
        if (pending_call && pending_call->done_userdata == done_userdata)
                call_free(pending_call);
}

/* What a run reported. */
typedef struct Run {
        unsigned n;
        SchedInitEvent event[32];
        unsigned index[32];
        unsigned attempt[32];
        unsigned n_attempts[32];
        char reason[32][256];
        bool done;
        int r;
        char step_id[64];
        char final_reason[256];
        unsigned n_warnings;
} Run;

static void on_step(SchedInit *i, SchedInitEvent ev, const SchedInitStepInfo *info,
                    void *userdata) {
        Run *run = userdata;

        ASSERT_LT(run->n, ELEMENTSOF(run->event));
        ASSERT_FALSE(run->done);
        run->event[run->n] = ev;
        run->index[run->n] = info->index;
        run->attempt[run->n] = info->attempt;
        run->n_attempts[run->n] = info->n_attempts;
        ASSERT_TRUE((ev == SCHED_INIT_STEP_STARTED) == (info->reason == NULL));
        (void) snprintf(run->reason[run->n], sizeof(run->reason[0]), "%s", strempty(info->reason));
        run->n++;
}

static void on_done(SchedInit *i, const SchedInitResult *res, void *userdata) {
        Run *run = userdata;

        ASSERT_FALSE(run->done);
        run->done = true;
        run->r = res->r;
        run->n_warnings = res->n_warnings;
        (void) snprintf(run->step_id, sizeof(run->step_id), "%s", strempty(res->step_id));
        (void) snprintf(run->final_reason, sizeof(run->final_reason), "%s", strempty(res->reason));
}

static void run_until_done(sd_event *e, Run *run, uint64_t timeout_usec) {
        uint64_t end = now(CLOCK_MONOTONIC) + timeout_usec;

        while (!run->done && now(CLOCK_MONOTONIC) < end)
                ASSERT_OK(sd_event_run(e, 10 * USEC_PER_MSEC));
        ASSERT_TRUE(run->done);
}

static SchedInit *init_of(sd_event *e, const char *fmt, ...) _printf_(2, 3);
static SchedInit *init_of(sd_event *e, const char *fmt, ...) {
        _cleanup_free_ char *text = NULL, *error = NULL;
        SchedExec exec = { .exec = host_exec, .cancel = host_cancel, .userdata = e };
        json_error_t jerr;
        SchedInit *i = NULL;
        va_list ap;
        json_t *j;
        int r;

        va_start(ap, fmt);
        ASSERT_GT(vasprintf(&text, fmt, ap), 0);
        va_end(ap);
        for (char *p = text; *p; p++)
                if (*p == '\'')
                        *p = '"';
        j = json_loads(text, 0, &jerr);
        if (!j)
                test_fail(__FILE__, __LINE__, "bad JSON in test: %s", jerr.text);
        r = sched_init_new(e, j, &exec, NULL, &i, &error);
        if (r < 0)
                test_fail(__FILE__, __LINE__, "sched_init_new: %s: %s", strerror(-r), strna(error));
        json_decref(j);
        sched_init_set_poll_interval(i, 20 * USEC_PER_MSEC);
        return i;
}

static int listen_later(sd_event_source *s, uint64_t usec, void *userdata) {
        int *fd = userdata;
        unsigned port = (unsigned) fd[1];

        fd[0] = listen_on(port, NULL);
        return 0;
}

TEST(wait_tcp_succeeds_once_a_listener_appears) {
        _cleanup_(sd_event_unrefp) sd_event *e = new_event();
        _cleanup_(sched_init_freep) SchedInit *i = NULL;
        _cleanup_(sd_event_source_disable_unrefp) sd_event_source *later = NULL;
        Run run = {};
        unsigned port;
        int fds[2];

        safe_close(listen_on(0, &port));
        fds[0] = -EBADF;
        fds[1] = (int) port;
        i = init_of(e,
                    "{'steps': [{'id': 'db', 'uses': 'init.wait_tcp', 'with': {'host': "
                    "'127.0.0.1', 'port': %u, 'timeout': 5000}, 'retry': 0, "
                    "'on_failure': 'fail'}]}",
                    port);
        ASSERT_EQ(sched_init_get_n_steps(i), 1U);
        ASSERT_OK(sd_event_add_time_relative(e, &later, CLOCK_MONOTONIC, 150 * USEC_PER_MSEC, 0,
                                             listen_later, fds));
        ASSERT_OK(sched_init_start(i, on_step, on_done, &run));
        ASSERT_ERROR(sched_init_start(i, on_step, on_done, &run), EALREADY);
        run_until_done(e, &run, 5 * USEC_PER_SEC);
        ASSERT_GE(fds[0], 0);
        ASSERT_EQ(run.r, 0);
        ASSERT_EQ(run.n, 2U);
        ASSERT_EQ(run.event[0], SCHED_INIT_STEP_STARTED);
        ASSERT_EQ(run.attempt[0], 1U);
        ASSERT_EQ(run.event[1], SCHED_INIT_STEP_SUCCEEDED);
        ASSERT_TRUE(startswith(run.reason[1], "connected to 127.0.0.1:"));
        safe_close(fds[0]);
}

/* Knows 'db' once it is up; nothing else. */
typedef struct Names {
        bool db_up;
        unsigned port;
        unsigned n_lookups;
} Names;

static int resolve_names(void *userdata, const char *host, char **ret_ip) {
        Names *n = userdata;

        n->n_lookups++;
        if (!streq(host, "db") || !n->db_up)
                return -EHOSTUNREACH;
        *ret_ip = strdup("127.0.0.1");
        return *ret_ip ? 0 : -ENOMEM;
}

static int db_comes_up(sd_event_source *s, uint64_t usec, void *userdata) {
        Names *n = userdata;

        n->db_up = true;
        return 0;
}

TEST(wait_for_names_through_the_resolver) {
        _cleanup_(sd_event_unrefp) sd_event *e = new_event();
        _cleanup_(sched_init_freep) SchedInit *i = NULL;
        _cleanup_(sd_event_source_disable_unrefp) sd_event_source *later = NULL;
        _cleanup_free_ char *text = NULL, *error = NULL, *expect = NULL;
        Names names = {};
        SchedResolver resolver = { .resolve = resolve_names, .userdata = &names };
        unsigned port;
        _unused_ _cleanup_close_ int fd = listen_on(0, &port);
        json_t *j;
        Run run = {};

        /* 'db' has no address at first: the wait keeps trying until it has one. */
        ASSERT_GT(asprintf(&text,
                           "{\"steps\": [{\"uses\": \"init.wait_tcp\", \"with\": {\"host\": "
                           "\"db\", \"port\": %u, \"timeout\": 5000}}]}",
                           port),
                  0);
        j = json_loads(text, 0, NULL);
        ASSERT_NOT_NULL(j);
        ASSERT_OK(sched_init_new(e, j, NULL, &resolver, &i, &error));
        ASSERT_EQ(names.n_lookups, 0U); /* not while parsing */
        sched_init_set_poll_interval(i, 20 * USEC_PER_MSEC);
        ASSERT_OK(sd_event_add_time_relative(e, &later, CLOCK_MONOTONIC, 100 * USEC_PER_MSEC, 0,
                                             db_comes_up, &names));
        ASSERT_OK(sched_init_start(i, on_step, on_done, &run));
        run_until_done(e, &run, 5 * USEC_PER_SEC);
        ASSERT_EQ(run.r, 0);
        ASSERT_GE(names.n_lookups, 2U);
        ASSERT_GT(asprintf(&expect, "connected to 127.0.0.1:%u", port), 0);
        ASSERT_STREQ(run.reason[1], expect);
        json_decref(j);
        i = sched_init_free(i);

        /* A name that never gets an address: the timeout names it. */
        j = json_loads("{\"steps\": [{\"uses\": \"init.wait_http\", \"with\": {\"url\": "
                       "\"http://config:8080/health\", \"timeout\": 100}}]}",
                       0, NULL);
        ASSERT_NOT_NULL(j);
        ASSERT_OK(sched_init_new(e, j, NULL, &resolver, &i, &error));
        sched_init_set_poll_interval(i, 20 * USEC_PER_MSEC);
        run = (Run){};
        ASSERT_OK(sched_init_start(i, on_step, on_done, &run));
        run_until_done(e, &run, 5 * USEC_PER_SEC);
        ASSERT_EQ(run.r, -ETIMEDOUT);
        ASSERT_STREQ(run.final_reason,
                     "timed out after 100ms waiting for http://config:8080/health (last: cannot "
                     "resolve 'config': No route to host)");
        json_decref(j);
}

TEST(wait_tcp_times_out) {
        _cleanup_(sd_event_unrefp) sd_event *e = new_event();
        _cleanup_(sched_init_freep) SchedInit *i = NULL;
        _cleanup_free_ char *expect = NULL;
        Run run = {};
        unsigned port;

        safe_close(listen_on(0, &port));
        i = init_of(e,
                    "{'steps': [{'uses': 'init.wait_tcp', 'with': {'host': '127.0.0.1', "
                    "'port': %u}, 'timeout': 120}]}",
                    port);
        ASSERT_OK(sched_init_start(i, on_step, on_done, &run));
        run_until_done(e, &run, 5 * USEC_PER_SEC);
        ASSERT_EQ(run.r, -ETIMEDOUT);
        ASSERT_STREQ(run.step_id, "init.wait_tcp-0");
        ASSERT_GT(asprintf(&expect,
                           "timed out after 120ms waiting for 127.0.0.1:%u (last: connect to "
                           "127.0.0.1:%u: Connection refused)",
                           port, port),
                  0);
        ASSERT_STREQ(run.final_reason, expect);
        ASSERT_EQ(run.event[run.n - 1], SCHED_INIT_STEP_FAILED);
}

TEST(wait_http_times_out_when_nobody_answers) {
        _cleanup_(sd_event_unrefp) sd_event *e = new_event();
        _cleanup_(sched_init_freep) SchedInit *i = NULL;
        _cleanup_free_ char *expect = NULL;
        Run run = {};
        unsigned port;
        /* Listening but never accepting: connections complete, requests are never answered. */
        _unused_ _cleanup_close_ int fd = listen_on(0, &port);

        i = init_of(e,
                    "{'steps': [{'id': 'cfg', 'uses': 'init.wait_http', 'with': {'url': "
                    "'http://127.0.0.1:%u/ready', 'timeout': 150}, 'on_failure': 'fail'}]}",
                    port);
        ASSERT_OK(sched_init_start(i, on_step, on_done, &run));
        run_until_done(e, &run, 5 * USEC_PER_SEC);
        ASSERT_EQ(run.r, -ETIMEDOUT);
        ASSERT_STREQ(run.step_id, "cfg");
        ASSERT_GT(asprintf(&expect, "timed out after 150ms waiting for http://127.0.0.1:%u/ready",
                           port),
                  0);
        ASSERT_STREQ(run.final_reason, expect);
}

TEST(run_success_and_failure) {
        _cleanup_(sd_event_unrefp) sd_event *e = new_event();
        SchedInit *i;
        Run run = {};

        i = init_of(e, "{'steps': [{'id': 'a', 'uses': 'init.run', 'with': {'command': 'true'}},"
                       " {'id': 'b', 'uses': 'init.run', 'with': {'command': 'exit 3'}},"
                       " {'id': 'c', 'uses': 'init.run', 'with': {'command': 'true'}}]}");
        ASSERT_EQ(sched_init_get_n_steps(i), 3U);
        ASSERT_OK(sched_init_start(i, on_step, on_done, &run));
        run_until_done(e, &run, 5 * USEC_PER_SEC);
        ASSERT_EQ(run.r, -EIO);
        ASSERT_STREQ(run.step_id, "b");
        ASSERT_STREQ(run.final_reason, "command exited with status 3");
        /* a started, a succeeded, b started, b failed; c never ran. */
        ASSERT_EQ(run.n, 4U);
        ASSERT_EQ(run.event[1], SCHED_INIT_STEP_SUCCEEDED);
        ASSERT_STREQ(run.reason[1], "command exited with status 0");
        ASSERT_EQ(run.index[3], 1U);
        ASSERT_EQ(run.event[3], SCHED_INIT_STEP_FAILED);
        sched_init_free(i);
}

TEST(run_timeout) {
        _cleanup_(sd_event_unrefp) sd_event *e = new_event();
        _cleanup_(sched_init_freep) SchedInit *i = NULL;
        Run run = {};

        i = init_of(e, "{'steps': [{'uses': 'init.run', 'with': {'command': 'sleep 10', "
                       "'timeout': 300000}, 'timeout': 80}]}");
        ASSERT_OK(sched_init_start(i, on_step, on_done, &run));
        run_until_done(e, &run, 5 * USEC_PER_SEC);
        ASSERT_EQ(run.r, -ETIMEDOUT);
        ASSERT_STREQ(run.final_reason, "timed out after 80ms");
}

TEST(retry_counts) {
        _cleanup_(sd_event_unrefp) sd_event *e = new_event();
        _cleanup_(sched_init_freep) SchedInit *i = NULL;
        _cleanup_free_ char *marker = NULL;
        Run run = {};
        unsigned calls;

        /* Always failing, retry 2: three attempts, then the failure. */
        i = init_of(e, "{'steps': [{'id': 'x', 'uses': 'init.run', 'with': {'command': 'exit 1'},"
                       " 'retry': 2}]}");
        calls = n_exec_calls;
        ASSERT_OK(sched_init_start(i, on_step, on_done, &run));
        run_until_done(e, &run, 5 * USEC_PER_SEC);
        ASSERT_EQ(run.r, -EIO);
        ASSERT_EQ(n_exec_calls - calls, 3U);
        ASSERT_EQ(run.n, 6U);
        for (unsigned k = 0; k < 3; k++) {
                ASSERT_EQ(run.event[2 * k], SCHED_INIT_STEP_STARTED);
                ASSERT_EQ(run.event[2 * k + 1], SCHED_INIT_STEP_FAILED);
                ASSERT_EQ(run.attempt[2 * k + 1], k + 1);
                ASSERT_EQ(run.n_attempts[2 * k + 1], 3U);
        }
        i = sched_init_free(i);

        /* Failing once, retry 1: the second attempt passes. */
        ASSERT_GT(asprintf(&marker, "%s/marker", test_tmpdir()), 0);
        i = init_of(e,
                    "{'steps': [{'id': 'y', 'uses': 'init.run', 'with': {'command': "
                    "'test -e %s || { touch %s; exit 1; }'}, 'retry': 1}]}",
                    marker, marker);
        run = (Run){};
        ASSERT_OK(sched_init_start(i, on_step, on_done, &run));
        run_until_done(e, &run, 5 * USEC_PER_SEC);
        ASSERT_EQ(run.r, 0);
        ASSERT_EQ(run.n, 4U);
        ASSERT_EQ(run.event[1], SCHED_INIT_STEP_FAILED);
        ASSERT_EQ(run.event[3], SCHED_INIT_STEP_SUCCEEDED);
        ASSERT_EQ(run.attempt[3], 2U);
}

TEST(on_failure_warn_and_continue) {
        _cleanup_(sd_event_unrefp) sd_event *e = new_event();
        _cleanup_(sched_init_freep) SchedInit *i = NULL;
        Run run = {};

        i = init_of(e, "{'steps': [{'id': 'w', 'uses': 'init.run', 'with': {'command': 'exit 1'},"
                       " 'on_failure': 'warn'},"
                       " {'id': 'c', 'uses': 'init.run', 'with': {'command': 'exit 2'},"
                       " 'on_failure': 'continue'},"
                       " {'id': 'ok', 'uses': 'init.run', 'with': {'command': 'true'}}]}");
        ASSERT_OK(sched_init_start(i, on_step, on_done, &run));
        run_until_done(e, &run, 5 * USEC_PER_SEC);
        ASSERT_EQ(run.r, 0);
        ASSERT_EQ(run.n_warnings, 1U);
        ASSERT_STREQ(run.step_id, "");
        ASSERT_EQ(run.n, 6U);
        ASSERT_EQ(run.event[1], SCHED_INIT_STEP_FAILED);
        ASSERT_STREQ(run.reason[1], "command exited with status 1");
        ASSERT_EQ(run.event[3], SCHED_INIT_STEP_FAILED);
        ASSERT_STREQ(run.reason[3], "command exited with status 2");
        ASSERT_EQ(run.index[5], 2U);
        ASSERT_EQ(run.event[5], SCHED_INIT_STEP_SUCCEEDED);
}

TEST(no_steps_succeeds) {
        _cleanup_(sd_event_unrefp) sd_event *e = new_event();
        _cleanup_(sched_init_freep) SchedInit *i = NULL;
        Run run = {};

        ASSERT_OK(sched_init_new(e, NULL, NULL, NULL, &i, NULL));
        ASSERT_EQ(sched_init_get_n_steps(i), 0U);
        ASSERT_OK(sched_init_start(i, on_step, on_done, &run));
        ASSERT_FALSE(run.done); /* never inside start */
        run_until_done(e, &run, USEC_PER_SEC);
        ASSERT_EQ(run.r, 0);
        ASSERT_EQ(run.n, 0U);
}

TEST(free_mid_run) {
        _cleanup_(sd_event_unrefp) sd_event *e = new_event();
        SchedInit *i;
        Run run = {};
        unsigned port;
        _unused_ _cleanup_close_ int fd = listen_on(0, &port);

        i = init_of(e, "{'steps': [{'uses': 'init.run', 'with': {'command': 'sleep 10'}}]}");
        ASSERT_OK(sched_init_start(i, on_step, on_done, &run));
        for (uint64_t end = now(CLOCK_MONOTONIC) + 5 * USEC_PER_SEC;
             run.n == 0 && now(CLOCK_MONOTONIC) < end;)
                ASSERT_OK(sd_event_run(e, 10 * USEC_PER_MSEC));
        ASSERT_EQ(run.n, 1U);
        ASSERT_NOT_NULL(pending_call);
        sched_init_free(i);
        ASSERT_NULL(pending_call); /* cancelled: the child was killed and reaped */

        i = init_of(e,
                    "{'steps': [{'uses': 'init.wait_http', 'with': {'url': "
                    "'http://127.0.0.1:%u/', 'timeout': 60000}}]}",
                    port);
        run = (Run){};
        ASSERT_OK(sched_init_start(i, on_step, on_done, &run));
        for (uint64_t end = now(CLOCK_MONOTONIC) + 100 * USEC_PER_MSEC; now(CLOCK_MONOTONIC) < end;)
                ASSERT_OK(sd_event_run(e, 10 * USEC_PER_MSEC));
        sched_init_free(i);
        for (uint64_t end = now(CLOCK_MONOTONIC) + 50 * USEC_PER_MSEC; now(CLOCK_MONOTONIC) < end;)
                ASSERT_OK(sd_event_run(e, 10 * USEC_PER_MSEC));
        ASSERT_FALSE(run.done);
}

static void assert_refused(const char *json, int err, const char *needle) {
        _cleanup_(sd_event_unrefp) sd_event *e = new_event();
        _cleanup_free_ char *text = strdup(json), *error = NULL;
        SchedExec exec = { .exec = host_exec, .userdata = e };
        SchedInit *i = NULL;
        json_t *j;

        ASSERT_NOT_NULL(text);
        for (char *p = text; *p; p++)
                if (*p == '\'')
                        *p = '"';
        j = json_loads(text, 0, NULL);
        ASSERT_NOT_NULL(j);
        ASSERT_ERROR(sched_init_new(e, j, &exec, NULL, &i, &error), err);
        ASSERT_NULL(i);
        ASSERT_NOT_NULL(error);
        if (!strstr(error, needle))
                test_fail(__FILE__, __LINE__, "error '%s' does not mention '%s'", error, needle);
        json_decref(j);
}

TEST(s3_steps_are_refused) {
        assert_refused("{'steps': [{'id': 'model', 'uses': 'init.s3_pull', 'with': {'bucket': "
                       "'m', 'key': 'k', 'destination': '/data/m'}}]}",
                       EOPNOTSUPP,
                       "init step 'model': init.s3_pull is not available until S3 support lands");
        assert_refused("{'steps': [{'uses': 'init.run', 'with': {'command': 'true'}}, "
                       "{'uses': 'init.s3_push', 'with': {'source': '/d', 'bucket': 'b', "
                       "'key': 'k'}}]}",
                       EOPNOTSUPP,
                       "init step 'init.s3_push-1': init.s3_push is not available until S3 "
                       "support lands");
}

TEST(bad_steps_are_refused) {
        assert_refused(
                "{'steps': [{'uses': 'init.wait_tcp', 'with': {'host': 'db', 'port': 5432}}]}",
                EINVAL, "'db' is not a numeric IPv4 or IPv6 address, and there is no resolver");
        assert_refused("{'steps': [{'uses': 'init.wait_tcp', 'with': {'host': '10.0.0.1'}}]}",
                       EINVAL, "init.wait_tcp needs host and port");
        assert_refused("{'steps': [{'uses': 'init.wait_http', 'with': {'url': 'https://x/'}}]}",
                       EINVAL, "https is not supported");
        assert_refused("{'steps': [{'uses': 'init.run', 'with': {}}]}", EINVAL,
                       "init.run needs command");
        assert_refused("{'steps': [{'uses': 'init.mount', 'with': {}}]}", EINVAL,
                       "unknown action 'init.mount'");
        assert_refused("{'steps': [{'uses': 'init.run', 'with': {'command': 'true'}, "
                       "'on_failure': 'ignore'}]}",
                       EINVAL, "'ignore' is not one of fail, warn, continue");
        assert_refused("{'steps': [{'uses': 'init.run', 'with': {'command': 'true'}, "
                       "'timeout': 0}]}",
                       EINVAL, "timeout: expected a positive duration");
        assert_refused("{'steps': [{'uses': 'init.run', 'with': {'command': 'true'}, "
                       "'retry': -1}]}",
                       EINVAL, "retry: expected a count");
        assert_refused("{'steps': {}}", EINVAL, "init.steps: expected a list");
        assert_refused("{'steps': [{'with': {}}]}", EINVAL, "init.steps[0].uses: missing");
}

TEST(run_needs_exec) {
        _cleanup_(sd_event_unrefp) sd_event *e = new_event();
        _cleanup_free_ char *error = NULL;
        SchedInit *i = NULL;
        json_t *j = json_pack("{s:[{s:s,s:{s:s}}]}", "steps", "uses", "init.run", "with", "command",
                              "true");

        ASSERT_NOT_NULL(j);
        ASSERT_ERROR(sched_init_new(e, j, NULL, NULL, &i, &error), EINVAL);
        ASSERT_TRUE(strstr(error, "needs a way to run commands"));
        json_decref(j);
}

TEST(backoff_delay) {
        const uint64_t s = USEC_PER_SEC;

        ASSERT_U64_EQ(sched_backoff_delay(0, s, 300 * s), 0);
        ASSERT_U64_EQ(sched_backoff_delay(1, s, 300 * s), 0);
        ASSERT_U64_EQ(sched_backoff_delay(2, s, 300 * s), s);
        ASSERT_U64_EQ(sched_backoff_delay(3, s, 300 * s), 2 * s);
        ASSERT_U64_EQ(sched_backoff_delay(4, s, 300 * s), 4 * s);
        ASSERT_U64_EQ(sched_backoff_delay(10, s, 300 * s), 256 * s);
        ASSERT_U64_EQ(sched_backoff_delay(11, s, 300 * s), 300 * s);
        ASSERT_U64_EQ(sched_backoff_delay(UINT_MAX, s, 300 * s), 300 * s);
        ASSERT_U64_EQ(sched_backoff_delay(200, UINT64_MAX / 3, UINT64_MAX), UINT64_MAX);
        ASSERT_U64_EQ(sched_backoff_delay(5, s, s / 2), s / 2);
        ASSERT_U64_EQ(sched_backoff_delay(2, SCHED_BACKOFF_BASE_USEC, SCHED_BACKOFF_CAP_USEC),
                      SCHED_BACKOFF_BASE_USEC);
}

TEST(enum_names) {
        ASSERT_STREQ(sched_init_on_failure_to_string(SCHED_INIT_ON_FAILURE_CONTINUE), "continue");
        ASSERT_NULL(sched_init_on_failure_to_string(_SCHED_INIT_ON_FAILURE_INVALID));
        ASSERT_STREQ(sched_init_event_to_string(SCHED_INIT_STEP_FAILED), "failed");
}
