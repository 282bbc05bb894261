/* SPDX-License-Identifier: Apache-2.0 */
/* test-sched-reconcile.c: the reconciler against fake containers, proxy and store. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "sched-container.h"
#include "sched-reconcile.h"
#include "sched-test-fake.h"
#include "string-util.h"
#include "tests.h"
#include "time-util.h"
#include "zlayer/spec.h"

#define NODE "node-1"
#define WAIT_USEC (10ULL * USEC_PER_SEC)

typedef struct Env {
        sd_event *event;
        FakeBackends *fb;
        FakeStore *fs;
        SchedReconciler *r;
        SchedReconcilerConfig config;
        json_t *events; /* [{deployment, event, data}] */
} Env;

static void on_event(const char *deployment, const char *event, const json_t *data,
                     void *userdata) {
        Env *e = userdata;

        ASSERT_OK(json_array_append_new(e->events,
                                        json_pack("{s:s, s:s, s:O}", "deployment", deployment,
                                                  "event", event, "data", (json_t *) data)));
}

static void on_container_changed(const char *id, const char *state, int exit_code, void *userdata) {
        Env *e = userdata;

        sched_reconciler_container_changed(e->r, id, state, exit_code);
}

static void on_state_changed(const char *cmd, void *userdata) {
        Env *e = userdata;

        sched_reconciler_state_changed(e->r);
}

static void env_reconciler(Env *e) {
        ASSERT_OK(sched_reconciler_new(e->event, &e->config, fake_backends_table(e->fb),
                                       fake_store_table(e->fs), on_event, e, &e->r));
        ASSERT_OK(sched_reconciler_start(e->r));
}

static void env_init(Env *e, bool start) {
        *e = (Env) {
                .config = {
                        .node_id = NODE,
                        .node_address = "127.0.0.1",
                        .public_address = "0.0.0.0",
                        .resync_usec = 200 * USEC_PER_MSEC,
                        .backoff_base_usec = 50 * USEC_PER_MSEC,
                        .backoff_cap_usec = 400 * USEC_PER_MSEC,
                        .init_poll_usec = 20 * USEC_PER_MSEC,
                        .drain_usec = 20 * USEC_PER_MSEC,
                },
        };
        ASSERT_OK(sd_event_new(&e->event));
        ASSERT_OK(fake_backends_new(e->event, &e->fb));
        ASSERT_OK(fake_store_new(e->event, &e->fs));
        e->events = json_array();
        ASSERT_NOT_NULL(e->events);
        fake_backends_set_changed_hook(e->fb, on_container_changed, e);
        fake_store_set_changed_hook(e->fs, on_state_changed, e);
        if (start)
                env_reconciler(e);
}

static void env_done(Env *e) {
        e->r = sched_reconciler_free(e->r);
        /* the store ends the commands still in flight, as a real one does */
        ASSERT_OK(fake_run_until_idle(e->event, NULL, e->fs, 1000));
        fake_backends_free(e->fb);
        fake_store_free(e->fs);
        sd_event_unref(e->event);
        json_decref(e->events);
}

static bool streq_ptr(const char *a, const char *b) {
        return a && b ? streq(a, b) : a == b;
}

typedef bool (*CondFn)(Env *e, const void *arg);

/* Runs the loop until cond holds; fails the test past the deadline. */
static void run_until(Env *e, CondFn cond, const void *arg, const char *what, const char *file,
                      int line) {
        uint64_t deadline = now(CLOCK_MONOTONIC) + WAIT_USEC;

        while (!cond(e, arg)) {
                if (now(CLOCK_MONOTONIC) > deadline)
                        test_fail(file, line, "timed out waiting for %s", what);
                ASSERT_OK(sd_event_run(e->event, 10 * USEC_PER_MSEC));
        }
}
#define RUN_UNTIL(e, cond, ...) run_until(e, cond, __VA_ARGS__, #cond, __FILE__, __LINE__)

/* Runs the loop for that long whatever happens. */
static void run_for(Env *e, uint64_t usec) {
        uint64_t end = now(CLOCK_MONOTONIC) + usec;

        while (now(CLOCK_MONOTONIC) < end)
                ASSERT_OK(sd_event_run(e->event, 10 * USEC_PER_MSEC));
}

static const SchedState *state(Env *e) {
        return fake_store_state(e->fs);
}

/* Deploys YAML text (generation expected + 1). */
static void deploy(Env *e, const char *yaml, uint64_t expected) {
        _cleanup_(json_decrefp) json_t *cmd = NULL;
        _cleanup_free_ char *text = NULL, *c = NULL;
        ZlSpec *spec = NULL;

        ASSERT_OK(zl_spec_parse_string(yaml, strlen(yaml), "t.yaml", &spec, NULL));
        ASSERT_OK(zl_spec_dump_json(spec, &text));
        cmd = json_pack("{s:s, s:s, s:s, s:I, s:I}", "op", "deployment_put", "name",
                        zl_spec_get_deployment(spec), "spec", text, "expected_generation",
                        (json_int_t) expected, "time", (json_int_t) 1);
        zl_spec_unref(spec);
        ASSERT_NOT_NULL(cmd);
        c = json_dumps(cmd, JSON_COMPACT);
        ASSERT_OK(fake_store_apply(e->fs, c));
}

static void apply(Env *e, const char *fmt, ...) _printf_(2, 3);
static void apply(Env *e, const char *fmt, ...) {
        _cleanup_free_ char *c = NULL;
        va_list ap;

        va_start(ap, fmt);
        ASSERT_TRUE(vasprintf(&c, fmt, ap) >= 0);
        va_end(ap);
        for (char *p = c; *p; p++)
                if (*p == '\'')
                        *p = '"';
        ASSERT_OK(fake_store_apply(e->fs, c));
}

typedef struct Want {
        const char *deployment;
        const char *service;
        uint32_t n;
        const char *status;
} Want;

static size_t n_replicas_healthy(Env *e, const char *d, const char *s) {
        _cleanup_free_ const SchedReplica **l = NULL;
        size_t n = 0, k = 0;

        ASSERT_OK(sched_state_list_replicas(state(e), d, s, &l, &n));
        for (size_t i = 0; i < n; i++)
                if (l[i]->state == SCHED_REPLICA_RUNNING && l[i]->health == SCHED_HEALTH_HEALTHY)
                        k++;
        return k;
}

static bool status_is(Env *e, const void *arg) {
        const Want *w = arg;
        const SchedDeployment *d = sched_state_get_deployment(state(e), w->deployment);

        return d && streq(sched_deployment_status_to_string(d->status), w->status);
}

static bool deployment_gone(Env *e, const void *arg) {
        return !sched_state_get_deployment(state(e), arg);
}

static bool healthy_is(Env *e, const void *arg) {
        const Want *w = arg;

        return n_replicas_healthy(e, w->deployment, w->service) == w->n;
}

static const SchedReplica *replica(Env *e, const char *d, const char *s, uint32_t i) {
        return sched_state_get_replica(state(e), d, s, i);
}

typedef struct ReplicaWant {
        const char *deployment, *service;
        uint32_t index;
        SchedReplicaState state;
        uint32_t restarts; /* at least */
} ReplicaWant;

static bool replica_state_is(Env *e, const void *arg) {
        const ReplicaWant *w = arg;
        const SchedReplica *r = replica(e, w->deployment, w->service, w->index);

        return r && r->state == w->state && r->restarts >= w->restarts;
}

static size_t count_events(Env *e, const char *event, const char *service) {
        size_t i, n = 0;
        json_t *v;

        json_array_foreach (e->events, i, v)
                if (streq(json_string_value(json_object_get(v, "event")), event) &&
                    (!service || streq_ptr(json_string_value(json_object_get(
                                                   json_object_get(v, "data"), "service")),
                                           service)))
                        n++;
        return n;
}

static bool event_seen(Env *e, const void *arg) {
        return count_events(e, arg, NULL) > 0;
}

static size_t running_containers(Env *e, const char *service) {
        size_t n = 0;

        for (size_t i = 0; i < fake_backends_n_containers(e->fb); i++) {
                const FakeContainer *c = fake_backends_container_at(e->fb, i);
                const char *s = json_string_value(json_object_get(c->labels, SCHED_LABEL_SERVICE));

                if (streq(c->state, "running") && (!service || streq_ptr(s, service)))
                        n++;
        }
        return n;
}

static size_t count_creates_of(Env *e, const char *service) {
        size_t n = 0;

        for (size_t i = 0; i < fake_backends_n_calls(e->fb); i++) {
                const FakeCall *c = fake_backends_call_at(e->fb, i);
                _cleanup_free_ char *prefix = strjoin("app-", service, "-");

                if (c->op == FAKE_OP_CREATE && startswith(c->arg, prefix))
                        n++;
        }
        return n;
}

static const char *const WEB2 = "version: v1\n"
                                "deployment: app\n"
                                "services:\n"
                                "  web:\n"
                                "    image:\n"
                                "      name: localhost:5000/web:1\n"
                                "    scale:\n"
                                "      mode: fixed\n"
                                "      replicas: 2\n"
                                "    endpoints:\n"
                                "      - name: http\n"
                                "        protocol: http\n"
                                "        port: 8080\n"
                                "        target_port: 80\n"
                                "    health:\n"
                                "      check:\n"
                                "        type: command\n"
                                "        command: 'true'\n";

TEST(deploy_two_replicas) {
        Env e;
        Want ready = { "app", "web", 2, "ready" };
        const char *routes;
        const SchedReplica *r0, *r1;

        env_init(&e, true);
        deploy(&e, WEB2, 0);
        RUN_UNTIL(&e, status_is, &ready);
        RUN_UNTIL(&e, healthy_is, &ready);

        ASSERT_NOT_NULL(sched_state_get_node(state(&e), NODE));
        ASSERT_EQ(fake_backends_count_calls(e.fb, FAKE_OP_CREATE, NULL), 2U);
        ASSERT_EQ(fake_backends_count_calls(e.fb, FAKE_OP_START, NULL), 2U);
        ASSERT_EQ(running_containers(&e, "web"), 2U);
        r0 = replica(&e, "app", "web", 0);
        r1 = replica(&e, "app", "web", 1);
        ASSERT_NOT_NULL(r0);
        ASSERT_NOT_NULL(r1);
        ASSERT_STREQ(r0->node, NODE);
        ASSERT_EQ(r0->generation, 1U);
        ASSERT_TRUE(startswith(r0->ip, "10.200.0.") != NULL);
        ASSERT_TRUE(!streq(r0->ip, r1->ip));
        ASSERT_STREQ(fake_backends_get_container(e.fb, r0->container_id)->state, "running");

        /* the routes carry both replicas */
        RUN_UNTIL(&e, event_seen, "ready");
        run_for(&e, 50 * USEC_PER_MSEC);
        routes = fake_backends_get_routes(e.fb, "scheduler");
        ASSERT_NOT_NULL(routes);
        ASSERT_TRUE(strstr(routes, r0->ip) != NULL);
        ASSERT_TRUE(strstr(routes, r1->ip) != NULL);
        ASSERT_TRUE(strstr(routes, "app.web.http") != NULL);

        /* status per service */
        {
                const SchedDeployment *d = sched_state_get_deployment(state(&e), "app");
                json_t *w = json_object_get(d->services, "web");

                ASSERT_EQ(json_integer_value(json_object_get(w, "desired")), 2);
                ASSERT_EQ(json_integer_value(json_object_get(w, "healthy")), 2);
                ASSERT_EQ(json_integer_value(json_object_get(w, "running")), 2);
        }
        ASSERT_EQ(count_events(&e, "replica_created", "web"), 2U);
        ASSERT_EQ(count_events(&e, "replica_started", "web"), 2U);
        ASSERT_GE(count_events(&e, "replica_healthy", "web"), 2U);
        ASSERT_EQ(count_events(&e, "image_pull_started", "web"), 2U);
        ASSERT_EQ(count_events(&e, "image_pull_complete", "web"), 2U);
        ASSERT_EQ(count_events(&e, "deploying", NULL), 0U); /* Deploy's, not the reconciler's */
        ASSERT_EQ(count_events(&e, "ready", NULL), 1U);
        ASSERT_NULL(sched_reconciler_replica_message(e.r, "app", "web", 0));
        ASSERT_GT(sched_reconciler_get_n_passes(e.r), 0U);

        /* quiet once ready: passes write nothing new */
        {
                size_t before = fake_store_n_submitted(e.fs);
                uint64_t passes = sched_reconciler_get_n_passes(e.r);

                run_for(&e, 500 * USEC_PER_MSEC);
                ASSERT_EQ(fake_store_n_submitted(e.fs), before);
                /* a resync every 200ms, one pass after each list: no pass feeds the next */
                ASSERT_LE(sched_reconciler_get_n_passes(e.r) - passes, 10U);
                ASSERT_EQ(fake_backends_count_calls(e.fb, FAKE_OP_CREATE, NULL), 2U);
        }
        env_done(&e);
}

static const char *const SIMPLE_FMT = "version: v1\n"
                                      "deployment: app\n"
                                      "services:\n"
                                      "  web:\n"
                                      "    image:\n"
                                      "      name: localhost:5000/web:1\n"
                                      "      pull_policy: never\n"
                                      "    scale:\n"
                                      "      mode: fixed\n"
                                      "      replicas: %d\n"
                                      "    errors:\n"
                                      "      on_panic:\n"
                                      "        action: %s\n";

static void deploy_simple(Env *e, int replicas, const char *on_panic, uint64_t expected) {
        _cleanup_free_ char *y = NULL;

        ASSERT_TRUE(asprintf(&y, SIMPLE_FMT, replicas, on_panic) >= 0);
        deploy(e, y, expected);
}

typedef struct ExitWant {
        const char *old_id;
} ExitWant;

static bool replica_has_new_container(Env *e, const void *arg) {
        const char *old = arg;
        const SchedReplica *r = replica(e, "app", "web", 0);

        return r && !streq(r->container_id, "") && !streq(r->container_id, old) &&
               r->state == SCHED_REPLICA_RUNNING && r->health == SCHED_HEALTH_HEALTHY;
}

static bool replica1_has_new_container(Env *e, const void *arg) {
        const char *old = arg;
        const SchedReplica *r = replica(e, "app", "web", 1);

        return r && !streq(r->container_id, "") && !streq(r->container_id, old) &&
               r->state == SCHED_REPLICA_RUNNING && r->health == SCHED_HEALTH_HEALTHY;
}

TEST(exit_restarts_with_backoff) {
        Env e;
        Want ready = { "app", "web", 1, "ready" };
        _cleanup_free_ char *old = NULL;
        const SchedReplica *r;

        env_init(&e, true);
        deploy_simple(&e, 1, "restart", 0);
        RUN_UNTIL(&e, status_is, &ready);
        RUN_UNTIL(&e, healthy_is, &ready);
        ASSERT_EQ(count_events(&e, "image_pull_started", NULL), 0U); /* pull_policy never */
        old = strdup(replica(&e, "app", "web", 0)->container_id);
        ASSERT_NOT_NULL(old);

        ASSERT_OK(fake_backends_container_exit(e.fb, old, 3));
        RUN_UNTIL(&e, replica_has_new_container, old);
        r = replica(&e, "app", "web", 0);
        ASSERT_EQ(r->restarts, 1U);
        ASSERT_EQ(count_events(&e, "replica_restarting", "web"), 1U);
        /* the old container was removed */
        ASSERT_NULL(fake_backends_get_container(e.fb, old));
        ASSERT_EQ(fake_backends_count_calls(e.fb, FAKE_OP_REMOVE, old), 1U);
        RUN_UNTIL(&e, status_is, &ready);

        /* a second exit: restarts 2 with a delay of one base */
        free(old);
        old = strdup(r->container_id);
        ASSERT_OK(fake_backends_container_exit(e.fb, old, 1));
        RUN_UNTIL(&e, replica_has_new_container, old);
        ASSERT_EQ(replica(&e, "app", "web", 0)->restarts, 2U);
        {
                json_t *last = NULL, *v;
                size_t i;

                json_array_foreach (e.events, i, v)
                        if (streq(json_string_value(json_object_get(v, "event")),
                                  "replica_restarting"))
                                last = v;
                ASSERT_NOT_NULL(last);
                ASSERT_EQ(json_integer_value(
                                  json_object_get(json_object_get(last, "data"), "delay_ms")),
                          50);
        }
        env_done(&e);
}

TEST(crash_loop) {
        Env e;
        Want ready = { "app", "web", 1, "ready" };
        ReplicaWant crash = { "app", "web", 0, SCHED_REPLICA_CRASHLOOP, 3 };

        env_init(&e, false);
        e.config.backoff_base_usec = 300 * USEC_PER_MSEC;
        e.config.backoff_cap_usec = 5 * USEC_PER_SEC;
        env_reconciler(&e);
        deploy_simple(&e, 1, "restart", 0);
        RUN_UNTIL(&e, status_is, &ready);

        for (unsigned k = 0; k < 3; k++) {
                _cleanup_free_ char *old = NULL;

                RUN_UNTIL(&e, healthy_is, &ready);
                old = strdup(replica(&e, "app", "web", 0)->container_id);
                ASSERT_OK(fake_backends_container_exit(e.fb, old, 2));
                if (k < 2)
                        RUN_UNTIL(&e, replica_has_new_container, old);
        }
        /* the third quick exit: crash loop while it waits (2 * base), then retried */
        RUN_UNTIL(&e, replica_state_is, &crash);
        ASSERT_EQ(replica(&e, "app", "web", 0)->restarts, 3U);
        ASSERT_TRUE(strstr(replica(&e, "app", "web", 0)->message, "exited with status 2") != NULL);
        ASSERT_STREQ(sched_reconciler_replica_message(e.r, "app", "web", 0),
                     "exited with status 2");
        {
                Want degraded = { "app", "web", 0, "degraded" };

                RUN_UNTIL(&e, status_is, &degraded);
        }
        RUN_UNTIL(&e, healthy_is, &ready);
        RUN_UNTIL(&e, status_is, &ready);
        ASSERT_EQ(fake_backends_count_calls(e.fb, FAKE_OP_CREATE, NULL), 4U);
        env_done(&e);
}

TEST(on_panic_shutdown_and_isolate) {
        const char *actions[] = { "shutdown", "isolate" };

        for (size_t a = 0; a < ELEMENTSOF(actions); a++) {
                Env e;
                Want ready = { "app", "web", 1, "ready" };
                ReplicaWant failed = { "app", "web", 0, SCHED_REPLICA_FAILED, 0 };
                _cleanup_free_ char *id = NULL;

                env_init(&e, true);
                deploy_simple(&e, 1, actions[a], 0);
                RUN_UNTIL(&e, status_is, &ready);
                RUN_UNTIL(&e, healthy_is, &ready);
                id = strdup(replica(&e, "app", "web", 0)->container_id);
                ASSERT_OK(fake_backends_container_exit(e.fb, id, 9));
                RUN_UNTIL(&e, replica_state_is, &failed);
                run_for(&e, 300 * USEC_PER_MSEC);
                /* kept, stopped, not restarted, out of the routes */
                ASSERT_NOT_NULL(fake_backends_get_container(e.fb, id));
                ASSERT_STREQ(fake_backends_get_container(e.fb, id)->state, "exited");
                ASSERT_EQ(fake_backends_count_calls(e.fb, FAKE_OP_CREATE, NULL), 1U);
                ASSERT_EQ(fake_backends_count_calls(e.fb, FAKE_OP_REMOVE, NULL), 0U);
                ASSERT_EQ(replica(&e, "app", "web", 0)->restarts, 0U);
                ASSERT_TRUE(strstr(replica(&e, "app", "web", 0)->message,
                                   actions[a][0] == 's' ? "shut down" : "isolated") != NULL);
                ASSERT_EQ(count_events(&e, "replica_failed", "web"), 1U);
                {
                        Want degraded = { "app", "web", 0, "degraded" };

                        RUN_UNTIL(&e, status_is, &degraded);
                }
                env_done(&e);
        }
}

static const char *const INIT_FMT = "version: v1\n"
                                    "deployment: app\n"
                                    "services:\n"
                                    "  web:\n"
                                    "    image:\n"
                                    "      name: localhost:5000/web:1\n"
                                    "    scale:\n"
                                    "      mode: fixed\n"
                                    "      replicas: 1\n"
                                    "    init:\n"
                                    "      steps:\n"
                                    "        - id: migrate\n"
                                    "          uses: init.run\n"
                                    "          with:\n"
                                    "            command: ./migrate\n"
                                    "    errors:\n"
                                    "      on_init_failure:\n"
                                    "        action: %s\n";

TEST(init_failure_fail) {
        Env e;
        Want failed = { "app", NULL, 0, "failed" };
        ReplicaWant rf = { "app", "web", 0, SCHED_REPLICA_FAILED, 0 };
        _cleanup_free_ char *y = NULL;
        const SchedDeployment *d;

        env_init(&e, true);
        ASSERT_OK(fake_backends_set_exec_result(e.fb, NULL, 1, NULL, "boom"));
        ASSERT_TRUE(asprintf(&y, INIT_FMT, "fail") >= 0);
        deploy(&e, y, 0);
        RUN_UNTIL(&e, status_is, &failed);
        RUN_UNTIL(&e, replica_state_is, &rf);
        d = sched_state_get_deployment(state(&e), "app");
        ASSERT_TRUE(strstr(d->message, "migrate") != NULL);
        ASSERT_TRUE(strstr(d->message, "web") != NULL);
        ASSERT_TRUE(strstr(replica(&e, "app", "web", 0)->message, "init step 'migrate'") != NULL);
        run_for(&e, 300 * USEC_PER_MSEC);
        ASSERT_EQ(fake_backends_count_calls(e.fb, FAKE_OP_CREATE, NULL), 1U);
        ASSERT_EQ(fake_backends_count_calls(e.fb, FAKE_OP_START, NULL), 0U);
        ASSERT_GE(fake_backends_count_calls(e.fb, FAKE_OP_EXEC, NULL), 1U);
        ASSERT_EQ(count_events(&e, "failed", NULL), 1U);
        ASSERT_EQ(fake_backends_n_containers(e.fb), 0U); /* the created container removed */
        env_done(&e);
}

TEST(init_failure_restart_limit) {
        Env e;
        ReplicaWant rf = { "app", "web", 0, SCHED_REPLICA_FAILED, 0 };
        Want failed = { "app", NULL, 0, "failed" };
        _cleanup_free_ char *y = NULL;

        env_init(&e, true);
        ASSERT_OK(fake_backends_set_exec_result(e.fb, NULL, 1, NULL, NULL));
        ASSERT_TRUE(asprintf(&y, INIT_FMT, "restart") >= 0);
        deploy(&e, y, 0);
        RUN_UNTIL(&e, replica_state_is, &rf);
        RUN_UNTIL(&e, status_is, &failed);
        run_for(&e, 200 * USEC_PER_MSEC);
        ASSERT_EQ(fake_backends_count_calls(e.fb, FAKE_OP_CREATE, NULL), 6U);
        ASSERT_EQ(count_events(&e, "replica_restarting", "web"), 5U);
        env_done(&e);
}

TEST(init_failure_backoff_then_success) {
        Env e;
        Want ready = { "app", "web", 1, "ready" };
        _cleanup_free_ char *y = NULL;

        env_init(&e, true);
        ASSERT_OK(fake_backends_set_exec_result(e.fb, NULL, 1, NULL, NULL));
        ASSERT_TRUE(asprintf(&y, INIT_FMT, "backoff") >= 0);
        deploy(&e, y, 0);
        RUN_UNTIL(&e, event_seen, "replica_restarting");
        run_for(&e, 400 * USEC_PER_MSEC);
        ASSERT_GE(fake_backends_count_calls(e.fb, FAKE_OP_CREATE, NULL), 2U);
        ASSERT_EQ(fake_backends_count_calls(e.fb, FAKE_OP_START, NULL), 0U);
        ASSERT_NOT_NULL(sched_reconciler_replica_message(e.r, "app", "web", 0));
        /* the migration starts working: the next attempt goes through */
        ASSERT_OK(fake_backends_set_exec_result(e.fb, NULL, 0, NULL, NULL));
        RUN_UNTIL(&e, status_is, &ready);
        RUN_UNTIL(&e, healthy_is, &ready);
        ASSERT_EQ(running_containers(&e, "web"), 1U);
        ASSERT_EQ(fake_backends_n_containers(e.fb), 1U);
        env_done(&e);
}

/* A runtime that does not answer (-ENOTCONN: killed, restarting) while a replica comes up is
 * no failure of the replica, whatever on_init_failure says: it is made again. */
TEST(runtime_gone_during_init_and_start) {
        Env e;
        Want ready = { "app", "web", 1, "ready" };
        _cleanup_free_ char *y = NULL;

        env_init(&e, true);
        ASSERT_OK(fake_backends_fail(e.fb, FAKE_OP_EXEC, NULL, ENOTCONN, "Exec: no answer", 2));
        ASSERT_OK(fake_backends_fail(e.fb, FAKE_OP_START, NULL, ENOTCONN, "Start: no answer", 1));
        ASSERT_OK(fake_backends_fail(e.fb, FAKE_OP_CREATE, NULL, ENOTCONN, "Create: no answer", 1));
        ASSERT_TRUE(asprintf(&y, INIT_FMT, "fail") >= 0);
        deploy(&e, y, 0);
        RUN_UNTIL(&e, status_is, &ready);
        RUN_UNTIL(&e, healthy_is, &ready);
        ASSERT_EQ(count_events(&e, "failed", NULL), 0U);
        ASSERT_EQ(count_events(&e, "replica_failed", NULL), 0U);
        ASSERT_GE(count_events(&e, "warning", "web"), 4U);
        /* one create refused, two cut off in init, one at start, then the one that runs */
        ASSERT_EQ(fake_backends_count_calls(e.fb, FAKE_OP_CREATE, NULL), 5U);
        ASSERT_EQ(running_containers(&e, "web"), 1U);
        ASSERT_EQ(fake_backends_n_containers(e.fb), 1U); /* the cut-off ones removed */
        env_done(&e);
}

/* While the runtime stays away the replica is tried again after growing delays (50, 100, 200,
 * 400, 400 ms with this test's base), never in a busy loop, and nothing fails. */
TEST(runtime_away_no_busy_loop) {
        Env e;
        _cleanup_free_ char *y = NULL;
        unsigned n;

        env_init(&e, true);
        ASSERT_OK(fake_backends_fail(e.fb, FAKE_OP_CREATE, NULL, ENOTCONN, "Create: no answer", 0));
        ASSERT_TRUE(asprintf(&y, INIT_FMT, "fail") >= 0);
        deploy(&e, y, 0);
        run_for(&e, 1200 * USEC_PER_MSEC);
        n = fake_backends_count_calls(e.fb, FAKE_OP_CREATE, NULL);
        ASSERT_GE(n, 3U);
        ASSERT_LE(n, 8U);
        ASSERT_EQ(count_events(&e, "replica_failed", NULL), 0U);
        ASSERT_EQ(count_events(&e, "failed", NULL), 0U);
        ASSERT_TRUE(strstr(sched_reconciler_replica_message(e.r, "app", "web", 0),
                           "waiting for the runtime") != NULL);
        env_done(&e);
}

/* A step that fails for real after the runtime came back still fails the replica. */
TEST(runtime_back_then_init_fails) {
        Env e;
        Want failed = { "app", NULL, 0, "failed" };
        _cleanup_free_ char *y = NULL;

        env_init(&e, true);
        ASSERT_OK(fake_backends_fail(e.fb, FAKE_OP_EXEC, NULL, ENOTCONN, "Exec: no answer", 1));
        ASSERT_OK(fake_backends_set_exec_result(e.fb, NULL, 1, NULL, "boom"));
        ASSERT_TRUE(asprintf(&y, INIT_FMT, "fail") >= 0);
        deploy(&e, y, 0);
        RUN_UNTIL(&e, status_is, &failed);
        ASSERT_EQ(fake_backends_count_calls(e.fb, FAKE_OP_CREATE, NULL), 2U);
        ASSERT_EQ(count_events(&e, "replica_failed", "web"), 1U);
        env_done(&e);
}

static const char *const DEPENDS_FMT = "version: v1\n"
                                       "deployment: app\n"
                                       "services:\n"
                                       "  a:\n"
                                       "    image:\n"
                                       "      name: localhost:5000/a:1\n"
                                       "    scale:\n"
                                       "      mode: fixed\n"
                                       "      replicas: 1\n"
                                       "  b:\n"
                                       "    image:\n"
                                       "      name: localhost:5000/b:1\n"
                                       "    scale:\n"
                                       "      mode: fixed\n"
                                       "      replicas: 1\n"
                                       "    depends:\n"
                                       "      - service: a\n"
                                       "        condition: healthy\n"
                                       "        timeout: %s\n"
                                       "        on_timeout: %s\n";

static bool b_created(Env *e, const void *arg) {
        return count_creates_of(e, "b") > 0;
}

TEST(depends_order) {
        Env e;
        Want ready = { "app", NULL, 0, "ready" };
        _cleanup_free_ char *y = NULL;

        env_init(&e, true);
        /* a is slow to create: b waits for it */
        fake_backends_set_delay(e.fb, FAKE_OP_CREATE, 300 * USEC_PER_MSEC);
        ASSERT_TRUE(asprintf(&y, DEPENDS_FMT, "60s", "fail") >= 0);
        deploy(&e, y, 0);
        RUN_UNTIL(&e, event_seen, "service_waiting");
        ASSERT_EQ(count_creates_of(&e, "b"), 0U);
        ASSERT_EQ(count_creates_of(&e, "a"), 1U);
        RUN_UNTIL(&e, status_is, &ready);
        ASSERT_EQ(count_events(&e, "service_waiting", "b"), 1U);
        /* b's create came after a's replica was healthy */
        {
                size_t ia = SIZE_MAX, ib = SIZE_MAX, i;
                json_t *v;

                json_array_foreach (e.events, i, v) {
                        const char *ev = json_string_value(json_object_get(v, "event"));
                        const char *s = json_string_value(
                                json_object_get(json_object_get(v, "data"), "service"));

                        if (streq(ev, "replica_healthy") && streq_ptr(s, "a") && ia == SIZE_MAX)
                                ia = i;
                        if (streq(ev, "replica_created") && streq_ptr(s, "b") && ib == SIZE_MAX)
                                ib = i;
                }
                ASSERT_LT(ia, ib);
        }
        env_done(&e);
}

TEST(depends_timeout_fail) {
        Env e;
        Want failed = { "app", NULL, 0, "failed" };
        _cleanup_free_ char *y = NULL;
        const SchedDeployment *d;

        env_init(&e, true);
        fake_backends_hold(e.fb, FAKE_OP_CREATE, true);
        ASSERT_TRUE(asprintf(&y, DEPENDS_FMT, "200ms", "fail") >= 0);
        deploy(&e, y, 0);
        RUN_UNTIL(&e, status_is, &failed);
        d = sched_state_get_deployment(state(&e), "app");
        ASSERT_TRUE(strstr(d->message, "service 'b'") != NULL);
        ASSERT_STREQ(d->message, "service 'b': dependency 'a' not healthy after 200ms");
        ASSERT_EQ(count_creates_of(&e, "b"), 0U);
        fake_backends_hold(e.fb, FAKE_OP_CREATE, false);
        run_for(&e, 300 * USEC_PER_MSEC);
        ASSERT_EQ(count_creates_of(&e, "b"), 0U);
        env_done(&e);
}

TEST(depends_timeout_warn_and_continue) {
        const char *modes[] = { "warn", "continue" };

        for (size_t m = 0; m < ELEMENTSOF(modes); m++) {
                Env e;
                _cleanup_free_ char *y = NULL;

                env_init(&e, true);
                fake_backends_hold(e.fb, FAKE_OP_CREATE, true);
                ASSERT_TRUE(asprintf(&y, DEPENDS_FMT, "200ms", modes[m]) >= 0);
                deploy(&e, y, 0);
                RUN_UNTIL(&e, b_created, NULL);
                ASSERT_EQ(count_events(&e, "warning", "b"), m == 0 ? 1U : 0U);
                ASSERT_EQ(count_events(&e, "service_waiting", "b"), 1U);
                fake_backends_hold(e.fb, FAKE_OP_CREATE, false);
                {
                        Want ready = { "app", NULL, 0, "ready" };

                        RUN_UNTIL(&e, status_is, &ready);
                }
                env_done(&e);
        }
}

typedef struct ImageWant {
        const char *image;
        size_t n;
} ImageWant;

static bool running_with_image(Env *e, const void *arg) {
        const ImageWant *w = arg;
        size_t n = 0, total = 0;

        for (size_t i = 0; i < fake_backends_n_containers(e->fb); i++) {
                const FakeContainer *c = fake_backends_container_at(e->fb, i);

                total++;
                if (streq(c->state, "running") && strstr(c->image, w->image))
                        n++;
        }
        return n == w->n && total == w->n;
}

TEST(rolling_replace) {
        Env e;
        Want ready = { "app", "web", 2, "ready" };
        ImageWant v2 = { "web:2", 2 };
        _cleanup_free_ char *old0 = NULL, *old1 = NULL;
        _cleanup_free_ char *y = NULL;
        size_t max_running = 0;

        env_init(&e, true);
        deploy(&e, WEB2, 0);
        RUN_UNTIL(&e, status_is, &ready);
        RUN_UNTIL(&e, healthy_is, &ready);
        old0 = strdup(replica(&e, "app", "web", 0)->container_id);
        old1 = strdup(replica(&e, "app", "web", 1)->container_id);
        fake_backends_clear_calls(e.fb);

        y = strdup(WEB2);
        ASSERT_NOT_NULL(y);
        memcpy(strstr(y, "web:1"), "web:2", 5);
        deploy(&e, y, 1);
        /* one at a time: never more than one extra container */
        {
                uint64_t deadline = now(CLOCK_MONOTONIC) + WAIT_USEC;

                while (!running_with_image(&e, &v2)) {
                        ASSERT_LT(now(CLOCK_MONOTONIC), deadline);
                        max_running = MAX(max_running, running_containers(&e, NULL));
                        ASSERT_OK(sd_event_run(e.event, 5 * USEC_PER_MSEC));
                }
        }
        ASSERT_EQ(max_running, 3U);
        RUN_UNTIL(&e, status_is, &ready);
        RUN_UNTIL(&e, healthy_is, &ready);
        ASSERT_EQ(replica(&e, "app", "web", 0)->generation, 2U);
        ASSERT_EQ(replica(&e, "app", "web", 1)->generation, 2U);
        ASSERT_TRUE(!streq(replica(&e, "app", "web", 0)->container_id, old0));
        ASSERT_NULL(fake_backends_get_container(e.fb, old0));
        ASSERT_NULL(fake_backends_get_container(e.fb, old1));
        ASSERT_EQ(fake_backends_count_calls(e.fb, FAKE_OP_CREATE, NULL), 2U);
        ASSERT_EQ(fake_backends_count_calls(e.fb, FAKE_OP_STOP, old0), 1U);
        ASSERT_EQ(fake_backends_count_calls(e.fb, FAKE_OP_STOP, old1), 1U);
        /* the old container stopped only after the new one was in the routes */
        {
                size_t i_new_start = SIZE_MAX, i_routes = SIZE_MAX, i_stop = SIZE_MAX;

                for (size_t i = 0; i < fake_backends_n_calls(e.fb); i++) {
                        const FakeCall *c = fake_backends_call_at(e.fb, i);

                        if (c->op == FAKE_OP_START && i_new_start == SIZE_MAX)
                                i_new_start = i;
                        if (c->op == FAKE_OP_SET_ROUTES && i_new_start != SIZE_MAX &&
                            i_routes == SIZE_MAX)
                                i_routes = i;
                        if (c->op == FAKE_OP_STOP && i_stop == SIZE_MAX)
                                i_stop = i;
                }
                ASSERT_LT(i_new_start, i_routes);
                ASSERT_LT(i_routes, i_stop);
        }

        /* a change that keeps the containers (scale, endpoints) only bumps the generation */
        fake_backends_clear_calls(e.fb);
        {
                _cleanup_free_ char *z = strdup(y);
                char *p;

                ASSERT_NOT_NULL(z);
                p = strstr(z, "port: 8080");
                ASSERT_NOT_NULL(p);
                memcpy(p, "port: 8081", 10);
                deploy(&e, z, 2);
        }
        {
                Want r3 = { "app", "web", 2, "ready" };
                const SchedDeployment *d;

                run_for(&e, 300 * USEC_PER_MSEC);
                RUN_UNTIL(&e, status_is, &r3);
                d = sched_state_get_deployment(state(&e), "app");
                ASSERT_EQ(d->generation, 3U);
        }
        ASSERT_EQ(replica(&e, "app", "web", 0)->generation, 3U);
        ASSERT_EQ(fake_backends_count_calls(e.fb, FAKE_OP_CREATE, NULL), 0U);
        ASSERT_EQ(fake_backends_count_calls(e.fb, FAKE_OP_STOP, NULL), 0U);
        ASSERT_TRUE(strstr(fake_backends_get_routes(e.fb, "scheduler"), "8081") != NULL);
        env_done(&e);
}

static bool n_containers_is(Env *e, const void *arg) {
        return fake_backends_n_containers(e->fb) == (size_t) (uintptr_t) arg;
}

static bool n_replica_records_is(Env *e, const void *arg) {
        _cleanup_free_ const SchedReplica **l = NULL;
        size_t n = 0;

        ASSERT_OK(sched_state_list_replicas(state(e), "app", NULL, &l, &n));
        return n == (size_t) (uintptr_t) arg;
}

TEST(scale_up_and_down) {
        Env e;
        Want ready1 = { "app", "web", 1, "ready" }, ready3 = { "app", "web", 3, "ready" };

        env_init(&e, true);
        deploy_simple(&e, 1, "restart", 0);
        RUN_UNTIL(&e, status_is, &ready1);
        RUN_UNTIL(&e, healthy_is, &ready1);

        apply(&e, "{'op':'service_scale','deployment':'app','service':'web','replicas':3,"
                  "'reason':'test','time':1}");
        RUN_UNTIL(&e, healthy_is, &ready3);
        RUN_UNTIL(&e, status_is, &ready3);
        ASSERT_EQ(running_containers(&e, "web"), 3U);
        ASSERT_EQ(count_events(&e, "service_scaling", "web"), 1U);

        apply(&e, "{'op':'service_scale','deployment':'app','service':'web','replicas':1,"
                  "'reason':'test','time':2}");
        RUN_UNTIL(&e, n_containers_is, (const void *) (uintptr_t) 1);
        RUN_UNTIL(&e, n_replica_records_is, (const void *) (uintptr_t) 1);
        RUN_UNTIL(&e, status_is, &ready1);
        ASSERT_NOT_NULL(replica(&e, "app", "web", 0));
        ASSERT_NULL(replica(&e, "app", "web", 2));
        ASSERT_EQ(count_events(&e, "replica_stopped", "web"), 2U);

        /* to zero */
        apply(&e, "{'op':'service_scale','deployment':'app','service':'web','replicas':0,"
                  "'reason':'stop','time':3}");
        RUN_UNTIL(&e, n_containers_is, (const void *) (uintptr_t) 0);
        RUN_UNTIL(&e, n_replica_records_is, (const void *) (uintptr_t) 0);
        {
                Want r0 = { "app", "web", 0, "ready" };

                RUN_UNTIL(&e, status_is, &r0);
        }
        env_done(&e);
}

TEST(stop_deployment) {
        Env e;
        Want ready = { "app", "web", 2, "ready" };
        const char *routes;

        env_init(&e, true);
        deploy(&e, WEB2, 0);
        RUN_UNTIL(&e, status_is, &ready);
        RUN_UNTIL(&e, healthy_is, &ready);

        apply(&e, "{'op':'deployment_status','name':'app','status':'stopping','stop_timeout':3,"
                  "'time':5}");
        RUN_UNTIL(&e, deployment_gone, "app");
        ASSERT_EQ(fake_backends_n_containers(e.fb), 0U);
        ASSERT_EQ(fake_backends_count_calls(e.fb, FAKE_OP_STOP, NULL), 2U);
        ASSERT_EQ(fake_store_count_submitted(e.fs, "replica_delete"), 2U);
        ASSERT_EQ(fake_store_count_submitted(e.fs, "deployment_delete"), 1U);
        RUN_UNTIL(&e, event_seen, "stopped");
        run_for(&e, 100 * USEC_PER_MSEC);
        routes = fake_backends_get_routes(e.fb, "scheduler");
        ASSERT_NOT_NULL(routes);
        ASSERT_NULL(strstr(routes, "app.web"));
        env_done(&e);
}

typedef struct RouteWant {
        const char *ip;
        bool present;
} RouteWant;

static bool routes_have(Env *e, const void *arg) {
        const RouteWant *w = arg;
        const char *routes = fake_backends_get_routes(e->fb, "scheduler");
        _cleanup_free_ char *needle = NULL;

        if (!routes)
                return false;
        /* "10.200.0.2:80", not a prefix of 10.200.0.20 */
        ASSERT_TRUE(asprintf(&needle, "\"%s:80\"", w->ip) >= 0);
        return (strstr(routes, needle) != NULL) == w->present;
}

static bool message_has(Env *e, const void *arg) {
        const SchedDeployment *d = sched_state_get_deployment(state(e), "app");

        return d && strstr(d->message, arg);
}

/* A health check that has not passed yet is named in the deployment's message while it is
 * deploying; past the health deadline the rollout fails naming the service, the replica and the
 * reason. The replica keeps running out of the routes, and the "failed" event, sent once the
 * status is committed, carries the replica. A check that fails at first and then passes within
 * the deadline only delays ready. */
TEST(health_never_passes) {
        Env e;
        Want failed = { "app", NULL, 0, "failed" }, ready = { "app", "web", 2, "ready" };
        _cleanup_free_ char *y = NULL;
        const SchedDeployment *d;
        size_t i;
        json_t *v;
        bool found = false;

        env_init(&e, false);
        e.config.health_deadline_usec = 1500 * USEC_PER_MSEC;
        env_reconciler(&e);
        ASSERT_OK(fake_backends_set_exec_result(e.fb, NULL, 1, NULL, NULL));
        y = strjoin(WEB2, "      interval: 100ms\n      retries: 2\n");
        ASSERT_NOT_NULL(y);
        deploy(&e, y, 0);
        RUN_UNTIL(&e, message_has, "health check not passing yet: command exited with status 1");
        ASSERT_EQ(sched_state_get_deployment(state(&e), "app")->status, SCHED_DEPLOYMENT_DEPLOYING);
        RUN_UNTIL(&e, status_is, &failed);
        d = sched_state_get_deployment(state(&e), "app");
        ASSERT_TRUE(strstr(d->message, "service 'web' replica") != NULL);
        ASSERT_TRUE(strstr(d->message, "health check never passed within") != NULL);
        ASSERT_EQ(count_events(&e, "failed", NULL), 1U);
        json_array_foreach (e.events, i, v)
                if (streq(json_string_value(json_object_get(v, "event")), "failed")) {
                        json_t *data = json_object_get(v, "data");

                        ASSERT_STREQ(json_string_value(json_object_get(data, "service")), "web");
                        ASSERT_TRUE(json_is_integer(json_object_get(data, "replica")));
                        found = true;
                }
        ASSERT_TRUE(found);
        ASSERT_EQ(running_containers(&e, "web"), 2U);
        ASSERT_FALSE(routes_have(
                &e, &(RouteWant){ .ip = replica(&e, "app", "web", 0)->ip, .present = true }));
        env_done(&e);

        /* Failing at first, passing within the deadline: ready, never failed. */
        env_init(&e, false);
        e.config.health_deadline_usec = 5 * USEC_PER_SEC;
        env_reconciler(&e);
        ASSERT_OK(fake_backends_set_exec_result(e.fb, NULL, 1, NULL, NULL));
        deploy(&e, y, 0);
        RUN_UNTIL(&e, message_has, "health check not passing yet");
        ASSERT_OK(fake_backends_set_exec_result(e.fb, NULL, 0, NULL, NULL));
        RUN_UNTIL(&e, status_is, &ready);
        ASSERT_EQ(count_events(&e, "failed", NULL), 0U);
        ASSERT_STREQ(sched_state_get_deployment(state(&e), "app")->message, "");
        env_done(&e);
}

TEST(adoption_after_restart) {
        Env e;
        Want ready = { "app", "web", 2, "ready" };
        _cleanup_free_ char *id0 = NULL, *id1 = NULL;
        const char *stray_id = NULL;

        env_init(&e, true);
        deploy(&e, WEB2, 0);
        RUN_UNTIL(&e, status_is, &ready);
        RUN_UNTIL(&e, healthy_is, &ready);
        id0 = strdup(replica(&e, "app", "web", 0)->container_id);
        id1 = strdup(replica(&e, "app", "web", 1)->container_id);
        ASSERT_OK(fake_run_until_idle(e.event, e.fb, e.fs, 1000));

        /* zl-schedd killed: a new reconciler, same containers and state; plus a stray container
         * of a deleted deployment */
        e.r = sched_reconciler_free(e.r);
        {
                _cleanup_(json_decrefp) json_t *labels = json_pack(
                        "{s:s, s:s, s:s, s:s, s:s}", SCHED_LABEL_DEPLOYMENT, "gone",
                        SCHED_LABEL_SERVICE, "x", SCHED_LABEL_REPLICA, "0", SCHED_LABEL_GENERATION,
                        "1", SCHED_LABEL_CONFIG, "0123456789abcdef");

                ASSERT_OK(fake_backends_add_container(e.fb, "gone-x-0", "img", labels, "running",
                                                      -1, &stray_id));
        }
        fake_backends_clear_calls(e.fb);
        json_array_clear(e.events);
        /* No probe completes yet: the replicas recorded healthy stay in the routes meanwhile. */
        fake_backends_hold(e.fb, FAKE_OP_EXEC, true);
        env_reconciler(&e);
        RUN_UNTIL(&e, n_containers_is, (const void *) (uintptr_t) 2);
        run_for(&e, 300 * USEC_PER_MSEC);
        ASSERT_EQ(count_events(&e, "replica_healthy", "web"), 0U);
        ASSERT_TRUE(routes_have(
                &e, &(RouteWant){ .ip = replica(&e, "app", "web", 0)->ip, .present = true }));
        ASSERT_TRUE(routes_have(
                &e, &(RouteWant){ .ip = replica(&e, "app", "web", 1)->ip, .present = true }));
        fake_backends_hold(e.fb, FAKE_OP_EXEC, false);
        RUN_UNTIL(&e, status_is, &ready);
        ASSERT_EQ(fake_backends_count_calls(e.fb, FAKE_OP_CREATE, NULL), 0U);
        ASSERT_EQ(fake_backends_count_calls(e.fb, FAKE_OP_START, NULL), 0U);
        ASSERT_STREQ(replica(&e, "app", "web", 0)->container_id, id0);
        ASSERT_STREQ(replica(&e, "app", "web", 1)->container_id, id1);
        ASSERT_STREQ(fake_backends_get_container(e.fb, id0)->state, "running");
        ASSERT_NULL(fake_backends_get_container(e.fb, "gone-x-0"));
        ASSERT_NOT_NULL(fake_backends_get_routes(e.fb, "scheduler"));
        ASSERT_TRUE(strstr(fake_backends_get_routes(e.fb, "scheduler"),
                           replica(&e, "app", "web", 0)->ip) != NULL);
        env_done(&e);
}

TEST(adoption_created_and_exited) {
        Env e;
        Want ready = { "app", "web", 2, "ready" };
        _cleanup_free_ char *id0 = NULL, *id1 = NULL;

        env_init(&e, true);
        deploy(&e, WEB2, 0);
        RUN_UNTIL(&e, status_is, &ready);
        RUN_UNTIL(&e, healthy_is, &ready);
        id0 = strdup(replica(&e, "app", "web", 0)->container_id);
        id1 = strdup(replica(&e, "app", "web", 1)->container_id);
        ASSERT_OK(fake_run_until_idle(e.event, e.fb, e.fs, 1000));
        e.r = sched_reconciler_free(e.r);

        /* while no zl-schedd ran: replica 1 exited */
        fake_backends_set_changed_hook(e.fb, NULL, NULL);
        ASSERT_OK(fake_backends_container_exit(e.fb, id1, 1));
        fake_backends_set_changed_hook(e.fb, on_container_changed, &e);
        fake_backends_clear_calls(e.fb);
        env_reconciler(&e);
        RUN_UNTIL(&e, replica1_has_new_container, id1);
        RUN_UNTIL(&e, healthy_is, &ready);
        RUN_UNTIL(&e, status_is, &ready);
        ASSERT_STREQ(replica(&e, "app", "web", 0)->container_id, id0);
        ASSERT_TRUE(!streq(replica(&e, "app", "web", 1)->container_id, id1));
        ASSERT_NULL(fake_backends_get_container(e.fb, id1));
        ASSERT_EQ(fake_backends_count_calls(e.fb, FAKE_OP_CREATE, NULL), 1U);
        ASSERT_EQ(replica(&e, "app", "web", 1)->restarts, 1U);
        env_done(&e);
}

TEST(vanished_container) {
        Env e;
        Want ready = { "app", "web", 1, "ready" };
        _cleanup_free_ char *id = NULL;

        env_init(&e, true);
        deploy_simple(&e, 1, "restart", 0);
        RUN_UNTIL(&e, status_is, &ready);
        RUN_UNTIL(&e, healthy_is, &ready);
        id = strdup(replica(&e, "app", "web", 0)->container_id);
        ASSERT_OK(fake_backends_drop_container(e.fb, id));
        /* the resync notices */
        RUN_UNTIL(&e, replica_has_new_container, id);
        ASSERT_EQ(replica(&e, "app", "web", 0)->restarts, 1U);
        env_done(&e);
}

TEST(follower_does_nothing) {
        Env e;
        Want ready = { "app", "web", 2, "ready" };

        env_init(&e, false);
        fake_store_set_leader(e.fs, false);
        env_reconciler(&e);
        deploy(&e, WEB2, 0);
        run_for(&e, 500 * USEC_PER_MSEC);
        ASSERT_EQ(fake_backends_n_calls(e.fb), 0U);
        ASSERT_EQ(fake_store_n_submitted(e.fs), 0U);
        ASSERT_NULL(sched_state_get_node(state(&e), NODE));

        /* elected: it takes over */
        fake_store_set_leader(e.fs, true);
        sched_reconciler_role_changed(e.r, true);
        RUN_UNTIL(&e, status_is, &ready);
        RUN_UNTIL(&e, healthy_is, &ready);

        /* demoted: nothing more is done */
        sched_reconciler_role_changed(e.r, false);
        fake_store_set_leader(e.fs, false);
        ASSERT_OK(fake_run_until_idle(e.event, e.fb, e.fs, 1000));
        fake_backends_clear_calls(e.fb);
        fake_store_clear_submitted(e.fs);
        ASSERT_OK(
                fake_backends_container_exit(e.fb, replica(&e, "app", "web", 0)->container_id, 1));
        run_for(&e, 400 * USEC_PER_MSEC);
        ASSERT_EQ(fake_backends_n_calls(e.fb), 0U);
        ASSERT_EQ(fake_store_n_submitted(e.fs), 0U);
        env_done(&e);
}

TEST(routes_retry_and_bad_args) {
        Env e;
        Want ready = { "app", "web", 2, "ready" };
        SchedReconciler *r = NULL;
        SchedReconcilerConfig bad = {};

        env_init(&e, false);
        ASSERT_ERROR(sched_reconciler_new(e.event, &bad, fake_backends_table(e.fb),
                                          fake_store_table(e.fs), NULL, NULL, &r),
                     EINVAL);
        ASSERT_OK(fake_backends_fail(e.fb, FAKE_OP_SET_ROUTES, NULL, EIO, "proxy down", 2));
        env_reconciler(&e);
        ASSERT_ERROR(sched_reconciler_start(e.r), EALREADY);
        deploy(&e, WEB2, 0);
        RUN_UNTIL(&e, status_is, &ready);
        RUN_UNTIL(&e, healthy_is, &ready);
        run_for(&e, 600 * USEC_PER_MSEC);
        ASSERT_NOT_NULL(fake_backends_get_routes(e.fb, "scheduler"));
        ASSERT_TRUE(strstr(fake_backends_get_routes(e.fb, "scheduler"),
                           replica(&e, "app", "web", 1)->ip) != NULL);
        ASSERT_NULL(sched_reconciler_replica_message(e.r, "nope", "web", 0));
        env_done(&e);
}

TEST(unhealthy_out_of_routes_and_back) {
        Env e;
        Want ready = { "app", "web", 2, "ready" }, degraded = { "app", "web", 1, "degraded" };
        _cleanup_free_ char *y = NULL, *id0 = NULL, *ip0 = NULL, *ip1 = NULL;

        env_init(&e, true);
        y = strjoin(WEB2, "      interval: 100ms\n      retries: 1\n");
        ASSERT_NOT_NULL(y);
        deploy(&e, y, 0);
        RUN_UNTIL(&e, status_is, &ready);
        RUN_UNTIL(&e, healthy_is, &ready);
        id0 = strdup(replica(&e, "app", "web", 0)->container_id);
        ip0 = strdup(replica(&e, "app", "web", 0)->ip);
        ip1 = strdup(replica(&e, "app", "web", 1)->ip);
        RUN_UNTIL(&e, routes_have, &(RouteWant){ .ip = ip0, .present = true });

        ASSERT_OK(fake_backends_set_exec_result(e.fb, id0, 1, NULL, NULL));
        RUN_UNTIL(&e, status_is, &degraded);
        RUN_UNTIL(&e, healthy_is, &degraded);
        RUN_UNTIL(&e, routes_have, &(RouteWant){ .ip = ip0, .present = false });
        ASSERT_TRUE(routes_have(&e, &(RouteWant){ .ip = ip1, .present = true }));
        ASSERT_GE(count_events(&e, "replica_unhealthy", "web"), 1U);
        ASSERT_EQ(count_events(&e, "degraded", NULL), 1U);
        ASSERT_EQ(replica(&e, "app", "web", 0)->health, SCHED_HEALTH_UNHEALTHY);
        ASSERT_EQ(replica(&e, "app", "web", 0)->state, SCHED_REPLICA_RUNNING);
        ASSERT_NOT_NULL(sched_reconciler_replica_message(e.r, "app", "web", 0));
        /* unhealthy is not an exit: nothing restarted */
        ASSERT_EQ(fake_backends_count_calls(e.fb, FAKE_OP_CREATE, NULL), 2U);

        ASSERT_OK(fake_backends_set_exec_result(e.fb, id0, 0, NULL, NULL));
        RUN_UNTIL(&e, status_is, &ready);
        RUN_UNTIL(&e, routes_have, &(RouteWant){ .ip = ip0, .present = true });
        ASSERT_EQ(count_events(&e, "ready", NULL), 2U);
        env_done(&e);
}

TEST(failed_replica_recovers_on_new_config) {
        Env e;
        Want ready = { "app", "web", 1, "ready" };
        ReplicaWant failed = { "app", "web", 0, SCHED_REPLICA_FAILED, 0 };
        _cleanup_free_ char *id = NULL, *y = NULL;

        env_init(&e, true);
        deploy_simple(&e, 1, "shutdown", 0);
        RUN_UNTIL(&e, status_is, &ready);
        RUN_UNTIL(&e, healthy_is, &ready);
        id = strdup(replica(&e, "app", "web", 0)->container_id);
        ASSERT_OK(fake_backends_container_exit(e.fb, id, 9));
        RUN_UNTIL(&e, replica_state_is, &failed);

        /* a new image: the failed replica is made again, the kept container removed */
        ASSERT_TRUE(asprintf(&y, SIMPLE_FMT, 1, "shutdown") >= 0);
        memcpy(strstr(y, "web:1"), "web:2", 5);
        deploy(&e, y, 1);
        RUN_UNTIL(&e, replica_has_new_container, id);
        RUN_UNTIL(&e, n_containers_is, (const void *) (uintptr_t) 1);
        ASSERT_NULL(fake_backends_get_container(e.fb, id));
        RUN_UNTIL(&e, status_is, &ready);
        ASSERT_EQ(replica(&e, "app", "web", 0)->generation, 2U);
        env_done(&e);
}

TEST(store_failures_are_retried) {
        Env e;
        Want ready = { "app", "web", 1, "ready" };

        env_init(&e, true);
        ASSERT_OK(fake_store_fail(e.fs, "replica_put", EIO, 2));
        ASSERT_OK(fake_store_fail(e.fs, "deployment_status", EIO, 1));
        deploy_simple(&e, 1, "restart", 0);
        RUN_UNTIL(&e, status_is, &ready);
        RUN_UNTIL(&e, healthy_is, &ready);
        env_done(&e);
}

TEST(replacement_superseded) {
        Env e;
        Want ready = { "app", "web", 2, "ready" };
        ImageWant v3 = { "web:3", 2 };
        _cleanup_free_ char *y2 = NULL, *y3 = NULL;

        env_init(&e, true);
        deploy(&e, WEB2, 0);
        RUN_UNTIL(&e, status_is, &ready);
        RUN_UNTIL(&e, healthy_is, &ready);

        /* v2's first replacement is stuck in its create when v3 comes */
        fake_backends_hold(e.fb, FAKE_OP_CREATE, true);
        y2 = strdup(WEB2);
        y3 = strdup(WEB2);
        ASSERT_NOT_NULL(y2);
        ASSERT_NOT_NULL(y3);
        memcpy(strstr(y2, "web:1"), "web:2", 5);
        memcpy(strstr(y3, "web:1"), "web:3", 5);
        deploy(&e, y2, 1);
        run_for(&e, 100 * USEC_PER_MSEC);
        ASSERT_EQ(fake_backends_count_calls(e.fb, FAKE_OP_CREATE, NULL), 3U);
        deploy(&e, y3, 2);
        run_for(&e, 100 * USEC_PER_MSEC);
        fake_backends_hold(e.fb, FAKE_OP_CREATE, false);
        RUN_UNTIL(&e, running_with_image, &v3);
        RUN_UNTIL(&e, status_is, &ready);
        ASSERT_EQ(replica(&e, "app", "web", 0)->generation, 3U);
        ASSERT_EQ(replica(&e, "app", "web", 1)->generation, 3U);
        env_done(&e);
}

static const char *const READY_DEP = "version: v1\n"
                                     "deployment: app\n"
                                     "services:\n"
                                     "  a:\n"
                                     "    image:\n"
                                     "      name: localhost:5000/a:1\n"
                                     "    scale:\n"
                                     "      mode: fixed\n"
                                     "      replicas: 2\n"
                                     "  b:\n"
                                     "    image:\n"
                                     "      name: localhost:5000/b:1\n"
                                     "    scale:\n"
                                     "      mode: fixed\n"
                                     "      replicas: 1\n"
                                     "    depends:\n"
                                     "      - service: a\n"
                                     "        condition: ready\n";

TEST(depends_ready_waits_for_all) {
        Env e;
        Want ready = { "app", NULL, 0, "ready" };
        size_t n_a_healthy = 0, i;
        json_t *v;

        env_init(&e, true);
        fake_backends_set_delay(e.fb, FAKE_OP_START, 100 * USEC_PER_MSEC);
        deploy(&e, READY_DEP, 0);
        RUN_UNTIL(&e, status_is, &ready);
        ASSERT_EQ(count_creates_of(&e, "b"), 1U);
        ASSERT_EQ(count_events(&e, "service_waiting", "b"), 1U);
        /* b's replica was created only after both of a's were healthy */
        json_array_foreach (e.events, i, v) {
                const char *ev = json_string_value(json_object_get(v, "event"));
                const char *sv =
                        json_string_value(json_object_get(json_object_get(v, "data"), "service"));

                if (streq(ev, "replica_healthy") && streq_ptr(sv, "a"))
                        n_a_healthy++;
                if (streq(ev, "replica_created") && streq_ptr(sv, "b"))
                        ASSERT_EQ(n_a_healthy, 2U);
        }
        env_done(&e);
}

static const char *const WAIT_FOR_A = "version: v1\n"
                                      "deployment: app\n"
                                      "services:\n"
                                      "  a:\n"
                                      "    image:\n"
                                      "      name: localhost:5000/a:1\n"
                                      "    scale:\n"
                                      "      mode: fixed\n"
                                      "      replicas: 1\n"
                                      "  b:\n"
                                      "    image:\n"
                                      "      name: localhost:5000/b:1\n"
                                      "    scale:\n"
                                      "      mode: fixed\n"
                                      "      replicas: 1\n"
                                      "    init:\n"
                                      "      steps:\n"
                                      "        - id: wait-a\n"
                                      "          uses: init.wait_tcp\n"
                                      "          with:\n"
                                      "            host: a\n"
                                      "            port: 80\n"
                                      "            timeout: 300ms\n";

TEST(init_resolves_service_names) {
        Env e;
        Want failed = { "app", NULL, 0, "failed" };
        const char *m;

        env_init(&e, true);
        /* a never comes up, so the name 'a' has no address and b's wait runs out */
        ASSERT_OK(fake_backends_fail(e.fb, FAKE_OP_START, NULL, EIO, "no", 0));
        deploy(&e, WAIT_FOR_A, 0);
        RUN_UNTIL(&e, status_is, &failed);
        {
                ReplicaWant bf = { "app", "b", 0, SCHED_REPLICA_FAILED, 0 };

                RUN_UNTIL(&e, replica_state_is, &bf);
        }
        m = replica(&e, "app", "b", 0)->message;
        ASSERT_TRUE(strstr(m, "init step 'wait-a'") != NULL);
        ASSERT_EQ(fake_backends_count_calls(e.fb, FAKE_OP_START, NULL), 1U); /* a's only */
        env_done(&e);
}
