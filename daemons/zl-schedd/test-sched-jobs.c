/* SPDX-License-Identifier: Apache-2.0 */
/* test-sched-jobs.c: job and cron executions over the fake backends and store. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlayer/spec.h>

#include "sched-jobs.h"
#include "sched-test-fake.h"
#include "string-util.h"
#include "tests.h"
#include "time-util.h"

/* 2027-01-15 08:00:10 UTC: ten seconds after a whole minute. */
#define T0 (UINT64_C(1800000010) * USEC_PER_SEC)
#define MINUTE (60 * USEC_PER_SEC)
/* The whole minutes after T0. */
#define M(n) (T0 - 10 * USEC_PER_SEC + (uint64_t) (n) *MINUTE)

static const char spec_yaml[] = "version: v1\n"
                                "deployment: shop\n"
                                "services:\n"
                                "  migrate:\n"
                                "    rtype: job\n"
                                "    image:\n"
                                "      name: localhost:5000/tools:1\n"
                                "    command:\n"
                                "      args: [migrate, --all]\n"
                                "  secret:\n"
                                "    rtype: job\n"
                                "    image:\n"
                                "      name: localhost:5000/tools:1\n"
                                "    env:\n"
                                "      TOKEN: $E:SHOP_TOKEN\n"
                                "  report:\n"
                                "    rtype: cron\n"
                                "    schedule: '* * * * *'\n"
                                "    image:\n"
                                "      name: localhost:5000/tools:1\n"
                                "  web:\n"
                                "    image:\n"
                                "      name: localhost:5000/httpd:1\n";

static void spec_unrefp(ZlSpec **p) {
        zl_spec_unref(*p);
}

typedef struct Env {
        sd_event *e;
        FakeBackends *fb;
        FakeStore *fs;
        SchedJobs *j;
        uint64_t now;
        char *const *envp;

        unsigned n_finished;
        char finished[2048]; /* "id:state:code;" */
        char last_state[16];
        int last_exit;

        unsigned n_triggered;
        int trigger_r;
        char trigger_id[16];
        char *trigger_error;
} Env;

static uint64_t env_now(void *userdata) {
        Env *env = userdata;

        return env->now;
}

static void on_finished(const char *id, const char *deployment, const char *service,
                        const char *state, int exit_code, void *userdata) {
        Env *env = userdata;
        size_t l = strlen(env->finished);

        ASSERT_STREQ(deployment, "shop");
        env->n_finished++;
        snprintf(env->last_state, sizeof env->last_state, "%s", state);
        env->last_exit = exit_code;
        snprintf(env->finished + l, sizeof env->finished - l, "%s:%s:%d;", service, state,
                 exit_code);
}

static void on_container_changed(const char *id, const char *state, int exit_code, void *userdata) {
        Env *env = userdata;

        if (env->j)
                sched_jobs_container_changed(env->j, id, state, exit_code);
}

static void on_store_changed(const char *cmd, void *userdata) {
        Env *env = userdata;

        if (env->j)
                sched_jobs_state_changed(env->j);
}

static void on_triggered(int r, const char *error, const char *id, void *userdata) {
        Env *env = userdata;

        env->n_triggered++;
        env->trigger_r = r;
        free(env->trigger_error);
        env->trigger_error = error ? strdup(error) : NULL;
        snprintf(env->trigger_id, sizeof env->trigger_id, "%s", strempty(id));
}

static void run(Env *env) {
        ASSERT_GE(fake_run_until_idle(env->e, env->fb, env->fs, 10000), 0);
}

static void jobs_open(Env *env) {
        ASSERT_NULL(env->j);
        ASSERT_OK(sched_jobs_new(env->e, "node-1", env->envp, fake_backends_table(env->fb),
                                 fake_store_table(env->fs), env_now, on_finished, env, &env->j));
}

static void jobs_close(Env *env) {
        env->j = sched_jobs_free(env->j);
}

static void env_setup(Env *env, bool start) {
        _cleanup_(spec_unrefp) ZlSpec *spec = NULL;
        _cleanup_free_ char *text = NULL;
        _cleanup_(json_decrefp) json_t *cmd = NULL;
        _cleanup_free_ char *cmd_text = NULL;

        *env = (Env){ .now = T0 };
        ASSERT_OK(sd_event_new(&env->e));
        ASSERT_OK(fake_backends_new(env->e, &env->fb));
        ASSERT_OK(fake_store_new(env->e, &env->fs));
        fake_backends_set_changed_hook(env->fb, on_container_changed, env);
        fake_store_set_changed_hook(env->fs, on_store_changed, env);

        ASSERT_OK(zl_spec_parse_string(spec_yaml, strlen(spec_yaml), "shop.yaml", &spec, NULL));
        ASSERT_OK(zl_spec_dump_json(spec, &text));
        ASSERT_OK(fake_store_apply(env->fs, "{\"op\":\"node_upsert\",\"id\":\"node-1\","
                                            "\"address\":\"127.0.0.1\"}"));
        cmd = json_pack("{s:s, s:s, s:s, s:i}", "op", "deployment_put", "name", "shop", "spec",
                        text, "expected_generation", 0);
        cmd_text = json_dumps(cmd, JSON_COMPACT);
        ASSERT_OK(fake_store_apply(env->fs, cmd_text));

        if (start) {
                jobs_open(env);
                ASSERT_OK(sched_jobs_start(env->j));
                run(env);
        }
}

static void env_done(Env *env) {
        jobs_close(env);
        /* Nothing may be left in flight. */
        run(env);
        env->fb = fake_backends_free(env->fb);
        env->fs = fake_store_free(env->fs);
        env->e = sd_event_unref(env->e);
        free(env->trigger_error);
}

static const SchedJobExecution *execution(Env *env, const char *id) {
        return sched_state_get_job_execution(fake_store_state(env->fs), id);
}

static size_t n_executions(Env *env, const char *service) {
        const SchedJobExecution **l = NULL;
        size_t n = 0;

        ASSERT_OK(sched_state_list_job_executions(fake_store_state(env->fs), "shop", service, &l,
                                                  &n));
        free(l);
        return n;
}

/* The one execution of a service that is not finished, NULL if none. */
static const SchedJobExecution *unfinished(Env *env, const char *service) {
        const SchedJobExecution **l = NULL, *x = NULL;
        size_t n = 0;

        ASSERT_OK(sched_state_list_job_executions(fake_store_state(env->fs), "shop", service, &l,
                                                  &n));
        for (size_t i = 0; i < n; i++)
                if (l[i]->state == SCHED_JOB_PENDING || l[i]->state == SCHED_JOB_RUNNING) {
                        ASSERT_NULL(x);
                        x = l[i];
                }
        free(l);
        return x;
}

static const char *trigger(Env *env, const char *service) {
        unsigned before = env->n_triggered;

        ASSERT_OK(sched_jobs_trigger(env->j, "shop", service, on_triggered, env));
        /* Never from inside the call. */
        ASSERT_EQ(env->n_triggered, before);
        run(env);
        ASSERT_EQ(env->n_triggered, before + 1);
        ASSERT_OK(env->trigger_r);
        ASSERT_EQ(strlen(env->trigger_id), 12U);
        return env->trigger_id;
}

static void exit_container(Env *env, const char *log_ref, int code) {
        ASSERT_OK(fake_backends_container_exit(env->fb, log_ref, code));
        run(env);
}

TEST(trigger_succeeds) {
        Env env;
        const SchedJobExecution *x;
        const FakeContainer *c;
        char id[16];

        env_setup(&env, true);
        snprintf(id, sizeof id, "%s", trigger(&env, "migrate"));
        for (const char *p = id; *p; p++)
                ASSERT_TRUE(strchr("0123456789abcdef", *p));

        x = execution(&env, id);
        ASSERT_NOT_NULL(x);
        ASSERT_EQ(x->state, SCHED_JOB_RUNNING);
        ASSERT_U64_EQ(x->started_usec, T0);
        ASSERT_EQ(strlen(x->log_ref), 64U);
        c = fake_backends_get_container(env.fb, x->log_ref);
        ASSERT_NOT_NULL(c);
        ASSERT_STREQ(c->state, "running");
        ASSERT_TRUE(startswith(c->name, "shop-migrate-job-"));
        ASSERT_STREQ(json_string_value(json_object_get(c->labels, "zlayer.job-execution")), id);
        ASSERT_NULL(json_object_get(c->labels, "zlayer.replica"));
        ASSERT_STREQ(c->spec.args[0], "migrate");
        ASSERT_EQ(sched_jobs_get_n_active(env.j), 1U);
        /* pending, then running. */
        ASSERT_EQ(fake_store_count_submitted(env.fs, "job_execution_put"), 2U);
        ASSERT_EQ(env.n_finished, 0U);

        env.now = T0 + 3 * USEC_PER_SEC;
        exit_container(&env, x->log_ref, 0);
        x = execution(&env, id);
        ASSERT_EQ(x->state, SCHED_JOB_SUCCEEDED);
        ASSERT_EQ(x->exit_code, 0);
        ASSERT_U64_EQ(x->finished_usec, T0 + 3 * USEC_PER_SEC);
        ASSERT_U64_EQ(x->started_usec, T0);
        ASSERT_EQ(env.n_finished, 1U);
        ASSERT_STREQ(env.finished, "migrate:succeeded:0;");
        ASSERT_EQ(sched_jobs_get_n_active(env.j), 0U);
        ASSERT_STREQ(x->message, "");
        /* Kept for its log. */
        ASSERT_NOT_NULL(fake_backends_get_container(env.fb, x->log_ref));
        env_done(&env);
}

TEST(trigger_fails_exit_3) {
        Env env;
        const SchedJobExecution *x;
        char id[16];

        env_setup(&env, true);
        snprintf(id, sizeof id, "%s", trigger(&env, "migrate"));
        x = execution(&env, id);
        exit_container(&env, x->log_ref, 3);
        x = execution(&env, id);
        ASSERT_EQ(x->state, SCHED_JOB_FAILED);
        ASSERT_EQ(x->exit_code, 3);
        ASSERT_STREQ(env.finished, "migrate:failed:3;");

        /* A second run is another execution and another container. */
        snprintf(id, sizeof id, "%s", trigger(&env, "migrate"));
        ASSERT_EQ(n_executions(&env, "migrate"), 2U);
        ASSERT_EQ(fake_backends_count_labelled(env.fb, "zlayer.job-execution", NULL), 2U);
        exit_container(&env, execution(&env, id)->log_ref, 0);
        ASSERT_STREQ(env.finished, "migrate:failed:3;migrate:succeeded:0;");
        env_done(&env);
}

TEST(exit_before_running_recorded) {
        Env env;
        const SchedJobExecution *x;

        env_setup(&env, true);
        /* The container exits while its running record is in flight. */
        fake_store_hold(env.fs, true);
        ASSERT_OK(sched_jobs_trigger(env.j, "shop", "migrate", on_triggered, &env));
        run(&env);
        ASSERT_EQ(fake_store_n_pending(env.fs), 1U); /* pending */
        fake_store_hold(env.fs, false);
        ASSERT_GE(sd_event_run(env.e, 0), 1);
        fake_store_hold(env.fs, true);
        ASSERT_EQ(env.n_triggered, 1U);
        run(&env);
        ASSERT_EQ(fake_backends_count_calls(env.fb, FAKE_OP_START, NULL), 1U);
        ASSERT_EQ(fake_store_n_pending(env.fs), 1U); /* running */
        x = execution(&env, env.trigger_id);
        ASSERT_EQ(x->state, SCHED_JOB_PENDING);
        ASSERT_OK(
                fake_backends_container_exit(env.fb, fake_backends_container_at(env.fb, 0)->id, 7));
        fake_store_hold(env.fs, false);
        run(&env);
        x = execution(&env, env.trigger_id);
        ASSERT_EQ(x->state, SCHED_JOB_FAILED);
        ASSERT_EQ(x->exit_code, 7);
        ASSERT_STREQ(env.finished, "migrate:failed:7;");
        env_done(&env);
}

TEST(create_failure) {
        Env env;
        const SchedJobExecution *x;
        char id[16];

        env_setup(&env, true);
        ASSERT_OK(fake_backends_fail(env.fb, FAKE_OP_CREATE, "localhost:5000/tools:1", -ENOENT,
                                     "pull of 'localhost:5000/tools:1': manifest unknown", 1));
        snprintf(id, sizeof id, "%s", trigger(&env, "migrate"));
        x = execution(&env, id);
        ASSERT_EQ(x->state, SCHED_JOB_FAILED);
        ASSERT_EQ(x->exit_code, -1);
        ASSERT_U64_EQ(x->started_usec, 0U);
        ASSERT_U64_EQ(x->finished_usec, T0);
        ASSERT_STREQ(x->log_ref, "");
        ASSERT_STREQ(x->message, "pull of 'localhost:5000/tools:1': manifest unknown");
        ASSERT_STREQ(env.finished, "migrate:failed:-1;");
        ASSERT_EQ(fake_backends_n_containers(env.fb), 0U);

        /* A start failure keeps the container, for its log. */
        ASSERT_OK(
                fake_backends_fail(env.fb, FAKE_OP_START, NULL, -ENOEXEC, "exec format error", 1));
        snprintf(id, sizeof id, "%s", trigger(&env, "migrate"));
        x = execution(&env, id);
        ASSERT_EQ(x->state, SCHED_JOB_FAILED);
        ASSERT_EQ(strlen(x->log_ref), 64U);
        ASSERT_STREQ(execution(&env, id)->message, "exec format error");
        env_done(&env);
}

TEST(env_macro) {
        char *envp[] = { (char *) "SHOP_TOKEN=s3cr3t", NULL };
        Env env;
        const SchedJobExecution *x;
        char id[16];

        /* Missing from the environment: failed before any container. */
        env_setup(&env, true);
        snprintf(id, sizeof id, "%s", trigger(&env, "secret"));
        x = execution(&env, id);
        ASSERT_EQ(x->state, SCHED_JOB_FAILED);
        ASSERT_STREQ(execution(&env, id)->message,
                     "services.secret.env.TOKEN: $E:SHOP_TOKEN is not set in zl-schedd's "
                     "environment");
        ASSERT_EQ(fake_backends_count_calls(env.fb, FAKE_OP_CREATE, NULL), 0U);
        env_done(&env);

        env_setup(&env, false);
        env.envp = envp;
        jobs_open(&env);
        ASSERT_OK(sched_jobs_start(env.j));
        snprintf(id, sizeof id, "%s", trigger(&env, "secret"));
        x = execution(&env, id);
        ASSERT_EQ(x->state, SCHED_JOB_RUNNING);
        ASSERT_STREQ(fake_backends_get_container(env.fb, x->log_ref)->spec.env[0], "TOKEN=s3cr3t");
        env_done(&env);
}

TEST(trigger_errors) {
        Env env;

        env_setup(&env, true);
        ASSERT_ERROR(sched_jobs_trigger(env.j, "nope", "migrate", on_triggered, &env), ENOENT);
        ASSERT_ERROR(sched_jobs_trigger(env.j, "shop", "nope", on_triggered, &env), ENOENT);
        ASSERT_ERROR(sched_jobs_trigger(env.j, "shop", "web", on_triggered, &env), EINVAL);
        ASSERT_ERROR(sched_jobs_trigger(env.j, "shop", "", on_triggered, &env), EINVAL);
        ASSERT_ERROR(sched_jobs_trigger(NULL, "shop", "migrate", on_triggered, &env), EINVAL);
        run(&env);
        ASSERT_EQ(env.n_triggered, 0U);
        ASSERT_EQ(fake_store_count_submitted(env.fs, "job_execution_put"), 0U);

        /* A cron service may be run by hand. */
        trigger(&env, "report");

        /* The pending record cannot be committed: done says so, nothing runs. */
        ASSERT_OK(fake_store_fail(env.fs, "job_execution_put", -ESHUTDOWN, 1));
        ASSERT_OK(sched_jobs_trigger(env.j, "shop", "migrate", on_triggered, &env));
        run(&env);
        ASSERT_EQ(env.n_triggered, 2U);
        ASSERT_ERROR(env.trigger_r, ESHUTDOWN);
        ASSERT_NOT_NULL(env.trigger_error);
        ASSERT_STREQ(env.trigger_id, "");
        ASSERT_EQ(fake_backends_count_calls(env.fb, FAKE_OP_CREATE, NULL), 1U);

        /* Not the leader. */
        fake_store_set_leader(env.fs, false);
        sched_jobs_role_changed(env.j, false);
        ASSERT_ERROR(sched_jobs_trigger(env.j, "shop", "migrate", on_triggered, &env), EREMOTE);
        fake_store_set_leader(env.fs, true);
        sched_jobs_role_changed(env.j, true);
        run(&env);

        /* A stopping deployment runs nothing new. */
        ASSERT_OK(fake_store_apply(env.fs, "{\"op\":\"deployment_status\",\"name\":\"shop\","
                                           "\"status\":\"stopping\",\"time\":1}"));
        ASSERT_ERROR(sched_jobs_trigger(env.j, "shop", "migrate", on_triggered, &env), EBUSY);
        env_done(&env);
}

static void on_removed(int r, const char *error, void *userdata) {
        ASSERT_OK(r);
}

TEST(stopping_deployment_cancels) {
        Env env;
        const SchedJobExecution *x;
        char id[16];

        env_setup(&env, true);
        snprintf(id, sizeof id, "%s", trigger(&env, "migrate"));
        ASSERT_OK(fake_store_apply(env.fs, "{\"op\":\"deployment_status\",\"name\":\"shop\","
                                           "\"status\":\"stopping\",\"time\":1}"));
        run(&env);
        x = execution(&env, id);
        ASSERT_EQ(fake_backends_count_calls(env.fb, FAKE_OP_STOP, x->log_ref), 1U);
        ASSERT_EQ(x->state, SCHED_JOB_CANCELLED);
        ASSERT_EQ(x->exit_code, 143);
        ASSERT_STREQ(env.finished, "migrate:cancelled:143;");
        /* Nothing fires for it any more. */
        env.now = M(5);
        sched_jobs_tick(env.j);
        run(&env);
        ASSERT_EQ(n_executions(&env, "report"), 0U);
        env_done(&env);
}

TEST(deleted_deployment_containers_removed) {
        Env env;
        char id[16];
        _cleanup_free_ char *ref = NULL;

        env_setup(&env, true);
        snprintf(id, sizeof id, "%s", trigger(&env, "migrate"));
        ref = strdup(execution(&env, id)->log_ref);
        exit_container(&env, ref, 0);
        ASSERT_NOT_NULL(fake_backends_get_container(env.fb, ref));
        ASSERT_OK(fake_store_apply(env.fs, "{\"op\":\"deployment_delete\",\"name\":\"shop\"}"));
        run(&env);
        ASSERT_NULL(fake_backends_get_container(env.fb, ref));
        ASSERT_EQ(fake_backends_n_containers(env.fb), 0U);
        env_done(&env);
}

TEST(restart_recovery) {
        Env env;
        const SchedJobExecution *x;
        char run_id[16], gone_id[16], exited_id[16], created_id[16];
        const char *orphan = NULL;
        _cleanup_(json_decrefp) json_t *labels = NULL;

        env_setup(&env, true);
        snprintf(run_id, sizeof run_id, "%s", trigger(&env, "migrate"));
        snprintf(gone_id, sizeof gone_id, "%s", trigger(&env, "migrate"));
        snprintf(exited_id, sizeof exited_id, "%s", trigger(&env, "migrate"));
        /* Left created: the start never answered before the process died. */
        fake_backends_hold(env.fb, FAKE_OP_START, true);
        snprintf(created_id, sizeof created_id, "%s", trigger(&env, "report"));
        run(&env);
        jobs_close(&env);
        fake_backends_hold(env.fb, FAKE_OP_START, false);
        run(&env);
        ASSERT_EQ(fake_backends_count_calls(env.fb, FAKE_OP_START, NULL), 4U);

        /* While no zl-schedd runs: one container goes, one exits, a stray one appears. */
        ASSERT_OK(fake_backends_drop_container(env.fb, execution(&env, gone_id)->log_ref));
        ASSERT_OK(fake_backends_container_exit(env.fb, execution(&env, exited_id)->log_ref, 5));
        labels = json_pack("{s:s, s:s}", "zlayer.job-execution", "0123456789ab",
                           "zlayer.deployment", "shop");
        ASSERT_OK(fake_backends_add_container(env.fb, "stray", "x", labels, "exited", 0, &orphan));
        /* A pending record with no container: committed, then the process died. */
        ASSERT_OK(fake_store_apply(env.fs, "{\"op\":\"job_execution_put\",\"id\":\"aaaaaaaaaaaa\","
                                           "\"deployment\":\"shop\",\"service\":\"migrate\","
                                           "\"state\":\"pending\"}"));
        ASSERT_EQ(execution(&env, created_id)->state, SCHED_JOB_PENDING);
        ASSERT_EQ(env.n_finished, 0U);

        env.now = T0 + 20 * USEC_PER_SEC;
        jobs_open(&env);
        ASSERT_OK(sched_jobs_start(env.j));
        ASSERT_ERROR(sched_jobs_start(env.j), EALREADY);
        run(&env);

        x = execution(&env, gone_id);
        ASSERT_EQ(x->state, SCHED_JOB_FAILED);
        ASSERT_EQ(x->exit_code, -1);
        ASSERT_STREQ(x->message, "container gone after restart");
        x = execution(&env, exited_id);
        ASSERT_EQ(x->state, SCHED_JOB_FAILED);
        ASSERT_EQ(x->exit_code, 5);
        /* Resumed: the created container started, the pending one created and started. */
        ASSERT_EQ(execution(&env, created_id)->state, SCHED_JOB_RUNNING);
        ASSERT_U64_EQ(execution(&env, created_id)->started_usec, T0 + 20 * USEC_PER_SEC);
        x = execution(&env, "aaaaaaaaaaaa");
        ASSERT_EQ(x->state, SCHED_JOB_RUNNING);
        ASSERT_NOT_NULL(fake_backends_get_container(env.fb, x->log_ref));
        /* Adopted and still running. */
        ASSERT_EQ(execution(&env, run_id)->state, SCHED_JOB_RUNNING);
        ASSERT_EQ(sched_jobs_get_n_active(env.j), 3U);
        /* The stray container is removed. */
        ASSERT_NULL(fake_backends_get_container(env.fb, "stray"));
        ASSERT_EQ(env.n_finished, 2U);

        exit_container(&env, execution(&env, run_id)->log_ref, 0);
        ASSERT_EQ(execution(&env, run_id)->state, SCHED_JOB_SUCCEEDED);
        exit_container(&env, execution(&env, "aaaaaaaaaaaa")->log_ref, 0);
        exit_container(&env, execution(&env, created_id)->log_ref, 1);
        ASSERT_EQ(env.n_finished, 5U);
        ASSERT_EQ(sched_jobs_get_n_active(env.j), 0U);

        /* A container removed under a running execution fails it. */
        snprintf(run_id, sizeof run_id, "%s", trigger(&env, "migrate"));
        ASSERT_OK(fake_backends_table(env.fb)->remove(fake_backends_table(env.fb)->userdata,
                                                      execution(&env, run_id)->log_ref, true,
                                                      on_removed, NULL));
        run(&env);
        ASSERT_EQ(execution(&env, run_id)->state, SCHED_JOB_FAILED);
        ASSERT_STREQ(execution(&env, run_id)->message, "container removed");
        env_done(&env);
}

static const SchedCronRun *cron_run(Env *env) {
        return sched_state_get_cron_run(fake_store_state(env->fs), "shop", "report");
}

static size_t n_cron_fires(Env *env) {
        size_t n = 0;

        for (size_t i = 0; i < fake_store_n_submitted(env->fs); i++) {
                const char *c = fake_store_submitted_at(env->fs, i);

                if (strstr(c, "\"op\":\"cron_run_put\"") && strstr(c, "\"last\""))
                        n++;
        }
        return n;
}

TEST(cron_next_and_last) {
        Env env;
        const SchedJobExecution *x;

        env_setup(&env, true);
        /* Never ran: the next minute, recorded. */
        ASSERT_NOT_NULL(cron_run(&env));
        ASSERT_U64_EQ(cron_run(&env)->next_usec, M(1));
        ASSERT_U64_EQ(cron_run(&env)->last_usec, 0U);
        ASSERT_EQ(n_cron_fires(&env), 0U);

        /* Not yet. */
        env.now = M(1) - 2 * USEC_PER_SEC;
        sched_jobs_tick(env.j);
        run(&env);
        ASSERT_EQ(n_cron_fires(&env), 0U);

        env.now = M(1);
        sched_jobs_tick(env.j);
        run(&env);
        ASSERT_EQ(n_cron_fires(&env), 1U);
        ASSERT_U64_EQ(cron_run(&env)->last_usec, M(1));
        ASSERT_U64_EQ(cron_run(&env)->next_usec, M(2));
        x = unfinished(&env, "report");
        ASSERT_NOT_NULL(x);
        ASSERT_EQ(x->state, SCHED_JOB_RUNNING);
        env.now = M(1) + 5 * USEC_PER_SEC;
        exit_container(&env, x->log_ref, 0);
        ASSERT_STREQ(env.finished, "report:succeeded:0;");

        /* Ticks before the next time do nothing; at it, the next run. */
        sched_jobs_tick(env.j);
        run(&env);
        ASSERT_EQ(n_cron_fires(&env), 1U);
        env.now = M(2) + 1 * USEC_PER_SEC;
        sched_jobs_tick(env.j);
        run(&env);
        ASSERT_EQ(n_cron_fires(&env), 2U);
        ASSERT_U64_EQ(cron_run(&env)->last_usec, M(2));
        ASSERT_U64_EQ(cron_run(&env)->next_usec, M(3));
        ASSERT_EQ(n_executions(&env, "report"), 2U);
        env_done(&env);
}

TEST(cron_no_double_fire_after_restart) {
        Env env;

        env_setup(&env, true);
        env.now = M(1);
        sched_jobs_tick(env.j);
        run(&env);
        ASSERT_EQ(n_cron_fires(&env), 1U);
        ASSERT_EQ(n_executions(&env, "report"), 1U);
        exit_container(&env, unfinished(&env, "report")->log_ref, 0);

        /* A new process a few seconds later, on the same state and containers. */
        jobs_close(&env);
        env.now = M(1) + 3 * USEC_PER_SEC;
        jobs_open(&env);
        ASSERT_OK(sched_jobs_start(env.j));
        run(&env);
        sched_jobs_tick(env.j);
        run(&env);
        ASSERT_EQ(n_cron_fires(&env), 1U);
        ASSERT_EQ(n_executions(&env, "report"), 1U);

        env.now = M(2);
        sched_jobs_tick(env.j);
        run(&env);
        ASSERT_EQ(n_cron_fires(&env), 2U);
        ASSERT_EQ(n_executions(&env, "report"), 2U);
        env_done(&env);
}

TEST(cron_missed_runs_caught_up_once) {
        Env env;

        env_setup(&env, false);
        ASSERT_OK(fake_store_apply(env.fs, "{\"op\":\"cron_run_put\",\"deployment\":\"shop\","
                                           "\"service\":\"report\",\"last\":1800000000000000,"
                                           "\"next\":1800000060000000}"));
        /* Down for ten minutes and a bit. */
        env.now = M(10) + 5 * USEC_PER_SEC;
        jobs_open(&env);
        ASSERT_OK(sched_jobs_start(env.j));
        run(&env);
        /* The timer was due at once: one run, for the latest missed minute. */
        ASSERT_EQ(n_cron_fires(&env), 1U);
        ASSERT_U64_EQ(cron_run(&env)->last_usec, M(10));
        ASSERT_U64_EQ(cron_run(&env)->next_usec, M(11));
        ASSERT_EQ(n_executions(&env, "report"), 1U);
        sched_jobs_tick(env.j);
        run(&env);
        ASSERT_EQ(n_cron_fires(&env), 1U);
        ASSERT_EQ(n_executions(&env, "report"), 1U);
        env_done(&env);
}

TEST(cron_overlap_skipped) {
        Env env;

        env_setup(&env, true);
        env.now = M(1);
        sched_jobs_tick(env.j);
        run(&env);
        ASSERT_EQ(n_executions(&env, "report"), 1U);

        /* Still running at the next time: that run is skipped, and not caught up later. */
        env.now = M(2);
        sched_jobs_tick(env.j);
        run(&env);
        ASSERT_EQ(n_cron_fires(&env), 2U);
        ASSERT_U64_EQ(cron_run(&env)->last_usec, M(2));
        ASSERT_EQ(n_executions(&env, "report"), 1U);

        exit_container(&env, unfinished(&env, "report")->log_ref, 0);
        env.now = M(2) + 30 * USEC_PER_SEC;
        sched_jobs_tick(env.j);
        run(&env);
        ASSERT_EQ(n_executions(&env, "report"), 1U);
        env.now = M(3);
        sched_jobs_tick(env.j);
        run(&env);
        ASSERT_EQ(n_executions(&env, "report"), 2U);
        env_done(&env);
}

TEST(cron_commit_failure_retried) {
        Env env;

        env_setup(&env, true);
        ASSERT_OK(fake_store_fail(env.fs, "cron_run_put", -ESHUTDOWN, 1));
        env.now = M(1);
        sched_jobs_tick(env.j);
        run(&env);
        ASSERT_EQ(n_executions(&env, "report"), 0U);
        ASSERT_U64_EQ(cron_run(&env)->last_usec, 0U);
        /* Not before the retry delay. */
        env.now = M(1) + 1 * USEC_PER_SEC;
        sched_jobs_tick(env.j);
        run(&env);
        ASSERT_EQ(n_executions(&env, "report"), 0U);
        env.now = M(1) + 6 * USEC_PER_SEC;
        sched_jobs_tick(env.j);
        run(&env);
        ASSERT_EQ(n_executions(&env, "report"), 1U);
        ASSERT_U64_EQ(cron_run(&env)->last_usec, M(1));
        env_done(&env);
}

TEST(follower_does_nothing) {
        Env env;

        env_setup(&env, false);
        fake_store_set_leader(env.fs, false);
        jobs_open(&env);
        ASSERT_OK(sched_jobs_start(env.j));
        run(&env);
        ASSERT_EQ(fake_backends_n_calls(env.fb), 0U);
        ASSERT_EQ(fake_store_n_submitted(env.fs), 0U);
        env.now = M(3);
        sched_jobs_tick(env.j);
        run(&env);
        ASSERT_EQ(fake_store_n_submitted(env.fs), 0U);
        ASSERT_ERROR(sched_jobs_trigger(env.j, "shop", "migrate", on_triggered, &env), EREMOTE);

        /* Leader: recovery and the cron record. */
        fake_store_set_leader(env.fs, true);
        sched_jobs_role_changed(env.j, true);
        run(&env);
        ASSERT_EQ(fake_backends_count_calls(env.fb, FAKE_OP_LIST, "zlayer.job-execution"), 1U);
        ASSERT_U64_EQ(cron_run(&env)->next_usec, M(4));

        /* Follower again: no timers, no fires. */
        fake_store_set_leader(env.fs, false);
        sched_jobs_role_changed(env.j, false);
        env.now = M(5);
        sched_jobs_tick(env.j);
        run(&env);
        ASSERT_EQ(n_cron_fires(&env), 0U);
        env_done(&env);
}

TEST(dropped_executions_containers_removed) {
        Env env;
        char first[16];

        env_setup(&env, true);
        snprintf(first, sizeof first, "%s", trigger(&env, "migrate"));
        _cleanup_free_ char *first_ref = strdup(execution(&env, first)->log_ref);
        exit_container(&env, first_ref, 0);
        for (unsigned i = 0; i < SCHED_JOB_EXECUTIONS_MAX; i++) {
                char id[16];

                /* The state drops the execution that started first. */
                env.now += USEC_PER_SEC;
                snprintf(id, sizeof id, "%s", trigger(&env, "migrate"));
                exit_container(&env, execution(&env, id)->log_ref, 0);
        }
        /* The oldest record was dropped, and its container with it. */
        ASSERT_NULL(execution(&env, first));
        ASSERT_EQ(n_executions(&env, "migrate"), SCHED_JOB_EXECUTIONS_MAX);
        ASSERT_NULL(fake_backends_get_container(env.fb, first_ref));
        /* (The clock passed a minute: the cron service ran too.) */
        ASSERT_EQ(fake_backends_count_labelled(env.fb, "zlayer.service", "migrate"),
                  SCHED_JOB_EXECUTIONS_MAX);
        ASSERT_EQ(fake_backends_count_calls(env.fb, FAKE_OP_REMOVE, NULL), 1U);
        ASSERT_EQ(env.n_finished, SCHED_JOB_EXECUTIONS_MAX + 1);
        env_done(&env);
}

TEST(new_errors) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(fake_backends_freep) FakeBackends *fb = NULL;
        _cleanup_(fake_store_freep) FakeStore *fs = NULL;
        SchedJobs *j = NULL;

        ASSERT_OK(sd_event_new(&e));
        ASSERT_OK(fake_backends_new(e, &fb));
        ASSERT_OK(fake_store_new(e, &fs));
        ASSERT_ERROR(sched_jobs_new(NULL, "n", NULL, fake_backends_table(fb), fake_store_table(fs),
                                    NULL, NULL, NULL, &j),
                     EINVAL);
        ASSERT_ERROR(sched_jobs_new(e, "", NULL, fake_backends_table(fb), fake_store_table(fs),
                                    NULL, NULL, NULL, &j),
                     EINVAL);
        ASSERT_ERROR(sched_jobs_new(e, "n", NULL, NULL, fake_store_table(fs), NULL, NULL, NULL, &j),
                     EINVAL);
        ASSERT_NULL(j);
        /* The real clock. */
        ASSERT_OK(sched_jobs_new(e, "n", NULL, fake_backends_table(fb), fake_store_table(fs), NULL,
                                 NULL, NULL, &j));
        ASSERT_OK(sched_jobs_start(j));
        ASSERT_GE(fake_run_until_idle(e, fb, fs, 100), 0);
        sched_jobs_container_changed(j, "unknown", "exited", 1);
        j = sched_jobs_free(j);
        ASSERT_NULL(sched_jobs_free(NULL));
}
