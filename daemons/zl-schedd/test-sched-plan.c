/* SPDX-License-Identifier: Apache-2.0 */
/* test-sched-plan.c: deployment diffs, dependency waves and plan output. */
#include <stdio.h>

#include "sched-plan.h"
#include "string-util.h"
#include "tests.h"
#include "zlayer/spec.h"

static ZlSpec *parse(const char *yaml) {
        ZlDiagList diags = {};
        ZlSpec *spec = NULL;
        int r = zl_spec_parse_string(yaml, strlen(yaml), "test.yaml", &spec, &diags);

        if (r < 0)
                test_fail(__FILE__, __LINE__, "spec refused: %s: %s",
                          diags.n_items > 0 ? diags.items[0].path : "",
                          diags.n_items > 0 ? diags.items[0].message : strerror(-r));
        zl_diag_list_done(&diags);
        return spec;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(ZlSpec *, zl_spec_unref);

/* The plan from old (may be NULL) to new; current as JSON text (may be NULL). */
static SchedPlan *plan_of(const char *old_yaml, const char *new_yaml, const char *current) {
        _cleanup_(zl_spec_unrefp) ZlSpec *o = old_yaml ? parse(old_yaml) : NULL;
        _cleanup_(zl_spec_unrefp) ZlSpec *n = parse(new_yaml);
        _cleanup_(json_decrefp) json_t *cur = current ? json_loads(current, 0, NULL) : NULL;
        _cleanup_free_ char *error = NULL;
        SchedPlan *p = NULL;
        int r;

        if (current)
                ASSERT_NOT_NULL(cur);
        r = sched_plan_compute(o ? zl_spec_get_json(o) : NULL, zl_spec_get_json(n), cur, &p,
                               &error);
        if (r < 0)
                test_fail(__FILE__, __LINE__, "plan refused: %s", strna(error));
        return p;
}

static char *text_of(const SchedPlan *p) {
        char *t = NULL;

        ASSERT_OK(sched_plan_format_text(p, &t));
        return t;
}

/* The index of the step of service with action (and replica, -1 for any), or test failure. */
#define HEADER "version: v1\ndeployment: shop\nservices:\n"

/* db <- api <- web, cache <- web, and a diamond: worker needs api and cache. */
static const char *const chain_yaml =
        HEADER "  db:\n    image: {name: postgres:16}\n    scale: {mode: fixed, replicas: 1}\n"
               "  cache:\n    image: {name: redis:7}\n"
               "  api:\n    image: {name: myapi:1}\n    scale: {mode: fixed, replicas: 3}\n"
               "    depends:\n      - {service: db, timeout: 5m}\n"
               "  web:\n    image: {name: nginx}\n    scale: {mode: adaptive, min: 2, max: 5}\n"
               "    depends:\n      - {service: api, condition: ready, on_timeout: warn}\n"
               "      - {service: cache, condition: started, timeout: 10s,"
               " on_timeout: continue}\n"
               "  worker:\n    image: {name: worker:1}\n"
               "    depends:\n      - {service: api, condition: started, timeout: 1h30m}\n"
               "      - {service: cache}\n";

TEST(new_deployment_waves_and_waits) {
        _cleanup_(sched_plan_freep) SchedPlan *p = plan_of(NULL, chain_yaml, NULL);
        const SchedPlanStep *st;

        ASSERT_STREQ(p->deployment, "shop");
        ASSERT_EQ(p->n_steps, 5u);
        ASSERT_TRUE(sched_plan_has_work(p));
        /* Wave 0: cache, db (by name); wave 1: api; wave 2: web, worker. */
        ASSERT_STREQ(p->steps[0].service, "cache");
        ASSERT_STREQ(p->steps[1].service, "db");
        ASSERT_STREQ(p->steps[2].service, "api");
        ASSERT_STREQ(p->steps[3].service, "web");
        ASSERT_STREQ(p->steps[4].service, "worker");
        ASSERT_EQ(p->steps[0].wave, 0u);
        ASSERT_EQ(p->steps[1].wave, 0u);
        ASSERT_EQ(p->steps[2].wave, 1u);
        ASSERT_EQ(p->steps[3].wave, 2u);
        ASSERT_EQ(p->steps[4].wave, 2u);
        for (size_t i = 0; i < p->n_steps; i++) {
                ASSERT_EQ(p->steps[i].action, SCHED_PLAN_START);
                ASSERT_EQ(p->steps[i].change, SCHED_PLAN_ADDED);
                ASSERT_EQ(p->steps[i].replica, -1);
                ASSERT_STREQ(p->steps[i].rtype, "service");
        }
        /* Initial counts: adaptive min 1 by default, fixed replicas, adaptive min. */
        ASSERT_EQ(p->steps[0].replicas, 1u);
        ASSERT_EQ(p->steps[2].replicas, 3u);
        ASSERT_EQ(p->steps[3].replicas, 2u);

        st = &p->steps[2];
        ASSERT_EQ(st->n_waits, 1u);
        ASSERT_STREQ(st->waits[0].service, "db");
        ASSERT_EQ(st->waits[0].condition, SCHED_CONDITION_HEALTHY);
        ASSERT_U64_EQ(st->waits[0].timeout_ms, 300000);
        ASSERT_EQ(st->waits[0].on_timeout, SCHED_ON_TIMEOUT_FAIL);

        st = &p->steps[3];
        ASSERT_EQ(st->n_waits, 2u);
        ASSERT_STREQ(st->waits[0].service, "api");
        ASSERT_EQ(st->waits[0].condition, SCHED_CONDITION_READY);
        ASSERT_EQ(st->waits[0].on_timeout, SCHED_ON_TIMEOUT_WARN);
        ASSERT_STREQ(st->waits[1].service, "cache");
        ASSERT_EQ(st->waits[1].condition, SCHED_CONDITION_STARTED);
        ASSERT_U64_EQ(st->waits[1].timeout_ms, 10000);
        ASSERT_EQ(st->waits[1].on_timeout, SCHED_ON_TIMEOUT_CONTINUE);

        st = &p->steps[4];
        ASSERT_EQ(st->n_waits, 2u);
        ASSERT_EQ(st->waits[0].condition, SCHED_CONDITION_STARTED);
        ASSERT_U64_EQ(st->waits[0].timeout_ms, 5400000);
        ASSERT_EQ(st->waits[1].condition, SCHED_CONDITION_HEALTHY);
}

TEST(dry_run_text_new_deployment) {
        _cleanup_(sched_plan_freep) SchedPlan *p = plan_of(NULL, chain_yaml, NULL);
        _cleanup_free_ char *t = text_of(p);

        ASSERT_STREQ(t, "+ start cache (1 replica)\n"
                        "+ start db (1 replica)\n"
                        "+ start api (3 replicas) after db healthy (timeout 5m, on timeout: fail)\n"
                        "+ start web (2 replicas) after api ready (timeout 5m, on timeout: warn)"
                        " and cache started (timeout 10s, on timeout: continue)\n"
                        "+ start worker (1 replica) after api started (timeout 1h30m, on timeout:"
                        " fail) and cache healthy (timeout 5m, on timeout: fail)\n");
}

TEST(json_output_stable) {
        _cleanup_(sched_plan_freep) SchedPlan *p = plan_of(NULL, chain_yaml, NULL);
        _cleanup_(sched_plan_freep) SchedPlan *q = plan_of(NULL, chain_yaml, NULL);
        _cleanup_free_ char *a = NULL, *b = NULL, *ta = text_of(p), *tb = text_of(q);
        _cleanup_(json_decrefp) json_t *j = NULL;
        json_t *step, *wait;

        ASSERT_OK(sched_plan_format_json(p, &a));
        ASSERT_OK(sched_plan_format_json(q, &b));
        ASSERT_STREQ(a, b);
        ASSERT_STREQ(ta, tb);
        ASSERT_EQ(a[strlen(a) - 1], '\n');

        j = json_loads(a, 0, NULL);
        ASSERT_NOT_NULL(j);
        ASSERT_STREQ(json_string_value(json_object_get(j, "deployment")), "shop");
        ASSERT_EQ(json_array_size(json_object_get(j, "steps")), 5u);
        step = json_array_get(json_object_get(j, "steps"), 2);
        ASSERT_EQ(json_integer_value(json_object_get(step, "wave")), 1);
        ASSERT_STREQ(json_string_value(json_object_get(step, "service")), "api");
        ASSERT_STREQ(json_string_value(json_object_get(step, "action")), "start");
        ASSERT_STREQ(json_string_value(json_object_get(step, "change")), "added");
        ASSERT_EQ(json_integer_value(json_object_get(step, "replicas")), 3);
        ASSERT_EQ(json_integer_value(json_object_get(step, "replica")), -1);
        ASSERT_EQ(json_array_size(json_object_get(step, "changed_keys")), 0u);
        wait = json_array_get(json_object_get(step, "waits_for"), 0);
        ASSERT_STREQ(json_string_value(json_object_get(wait, "service")), "db");
        ASSERT_STREQ(json_string_value(json_object_get(wait, "condition")), "healthy");
        ASSERT_EQ(json_integer_value(json_object_get(wait, "timeout_ms")), 300000);
        ASSERT_STREQ(json_string_value(json_object_get(wait, "on_timeout")), "fail");
}

static const char *const api_v1 =
        HEADER "  db:\n    image: {name: postgres:16}\n"
               "  api:\n    image: {name: myapi:1}\n    scale: {mode: fixed, replicas: 3}\n"
               "    env: {MODE: prod}\n"
               "    endpoints:\n      - {name: http, protocol: http, port: 8080}\n"
               "    depends:\n      - {service: db}\n";

TEST(unchanged_redeploy) {
        _cleanup_(sched_plan_freep) SchedPlan *p = plan_of(api_v1, api_v1, NULL);
        _cleanup_free_ char *t = text_of(p);

        ASSERT_FALSE(sched_plan_has_work(p));
        ASSERT_STREQ(t, "= api unchanged\n= db unchanged\n");
        ASSERT_EQ(p->steps[0].change, SCHED_PLAN_UNCHANGED);
}

TEST(image_change_is_rolling_replace) {
        _cleanup_(sched_plan_freep) SchedPlan *p = plan_of(
                api_v1,
                HEADER "  db:\n    image: {name: postgres:16}\n"
                       "  api:\n    image: {name: myapi:2}\n    scale: {mode: fixed, replicas: 3}\n"
                       "    env: {MODE: prod}\n"
                       "    endpoints:\n      - {name: http, protocol: http, port: 8080}\n"
                       "    depends:\n      - {service: db}\n",
                NULL);
        _cleanup_free_ char *t = text_of(p);

        ASSERT_EQ(p->n_steps, 4u);
        for (int64_t i = 0; i < 3; i++) {
                const SchedPlanStep *st = &p->steps[i];

                ASSERT_STREQ(st->service, "api");
                ASSERT_EQ(st->action, SCHED_PLAN_REPLACE);
                ASSERT_EQ(st->change, SCHED_PLAN_CHANGED);
                ASSERT_EQ(st->replica, i);
                ASSERT_TRUE(st->stop_old);
                ASSERT_EQ(st->replicas, 3u);
                ASSERT_EQ(st->from_replicas, 3u);
                ASSERT_EQ(strv_length(st->changed_keys), 1u);
                ASSERT_STREQ(st->changed_keys[0], "image");
                /* db keeps running: nothing to wait for. */
                ASSERT_EQ(st->n_waits, 0u);
        }
        ASSERT_EQ(p->steps[3].action, SCHED_PLAN_KEEP);
        ASSERT_STREQ(t, "~ replace api: image changed (rolling, 3 replicas)\n= db unchanged\n");
}

TEST(replace_with_more_and_fewer_replicas) {
        /* env and replica count change: 3 old -> 2 new, the third old one goes after. */
        _cleanup_(sched_plan_freep) SchedPlan *p = plan_of(
                api_v1,
                HEADER "  db:\n    image: {name: postgres:16}\n"
                       "  api:\n    image: {name: myapi:1}\n    scale: {mode: fixed, replicas: 2}\n"
                       "    env: {MODE: test}\n"
                       "    endpoints:\n      - {name: http, protocol: http, port: 8080}\n"
                       "    depends:\n      - {service: db}\n",
                NULL);
        _cleanup_free_ char *t = text_of(p);
        _cleanup_(sched_plan_freep) SchedPlan *q = NULL;

        ASSERT_EQ(p->n_steps, 4u);
        ASSERT_EQ(p->steps[0].action, SCHED_PLAN_REPLACE);
        ASSERT_EQ(p->steps[1].action, SCHED_PLAN_REPLACE);
        ASSERT_EQ(p->steps[2].action, SCHED_PLAN_SCALE);
        ASSERT_EQ(p->steps[2].from_replicas, 3u);
        ASSERT_EQ(p->steps[2].replicas, 2u);
        ASSERT_EQ(strv_length(p->steps[0].changed_keys), 2u);
        ASSERT_STREQ(p->steps[0].changed_keys[0], "env");
        ASSERT_STREQ(p->steps[0].changed_keys[1], "scale");
        ASSERT_STREQ(t, "~ replace api: env, scale changed (rolling, 2 replicas)\n"
                        "~ scale api down: 3 -> 2 replicas after the replacement\n"
                        "= db unchanged\n");

        /* 1 running -> 2: replica 1 is new, no old one to stop. */
        q = plan_of(api_v1,
                    HEADER
                    "  db:\n    image: {name: postgres:16}\n"
                    "  api:\n    image: {name: myapi:3}\n    scale: {mode: fixed, replicas: 2}\n"
                    "    env: {MODE: prod}\n"
                    "    endpoints:\n      - {name: http, protocol: http, port: 8080}\n"
                    "    depends:\n      - {service: db}\n",
                    "{\"api\": 1}");
        ASSERT_EQ(q->steps[0].replica, 0);
        ASSERT_TRUE(q->steps[0].stop_old);
        ASSERT_EQ(q->steps[1].replica, 1);
        ASSERT_FALSE(q->steps[1].stop_old);
        ASSERT_EQ(q->steps[2].action, SCHED_PLAN_KEEP);
}

TEST(changed_dependency_orders_replacements) {
        /* Both change: api's replacement waits for db's to finish. */
        _cleanup_(sched_plan_freep) SchedPlan *p = plan_of(
                api_v1,
                HEADER "  db:\n    image: {name: postgres:17}\n"
                       "  api:\n    image: {name: myapi:2}\n    scale: {mode: fixed, replicas: 3}\n"
                       "    env: {MODE: prod}\n"
                       "    endpoints:\n      - {name: http, protocol: http, port: 8080}\n"
                       "    depends:\n      - {service: db}\n",
                NULL);

        ASSERT_STREQ(p->steps[0].service, "db");
        ASSERT_EQ(p->steps[0].wave, 0u);
        ASSERT_EQ(p->steps[1].wave, 1u);
        ASSERT_EQ(p->steps[1].n_waits, 1u);
        ASSERT_STREQ(p->steps[1].waits[0].service, "db");
}

TEST(scale_only) {
        _cleanup_(sched_plan_freep) SchedPlan *p = plan_of(
                api_v1,
                HEADER "  db:\n    image: {name: postgres:16}\n"
                       "  api:\n    image: {name: myapi:1}\n    scale: {mode: fixed, replicas: 5}\n"
                       "    env: {MODE: prod}\n"
                       "    endpoints:\n      - {name: http, protocol: http, port: 8080}\n"
                       "    depends:\n      - {service: db}\n",
                NULL);
        _cleanup_free_ char *t = text_of(p);

        ASSERT_EQ(p->n_steps, 2u);
        ASSERT_EQ(p->steps[0].action, SCHED_PLAN_SCALE);
        ASSERT_EQ(p->steps[0].change, SCHED_PLAN_SCALED);
        ASSERT_EQ(p->steps[0].from_replicas, 3u);
        ASSERT_EQ(p->steps[0].replicas, 5u);
        ASSERT_STREQ(p->steps[0].changed_keys[0], "scale");
        ASSERT_STREQ(t, "~ scale api: 3 -> 5 replicas\n= db unchanged\n");
}

TEST(manual_and_adaptive_counts) {
        static const char *const old_yaml =
                HEADER "  a:\n    image: {name: a}\n    scale: {mode: manual}\n"
                       "  b:\n    image: {name: b}\n    scale: {mode: adaptive, min: 2, max: 8}\n";
        _cleanup_(sched_plan_freep) SchedPlan *p = NULL, *q = NULL, *n = NULL;

        /* A new manual service starts with its replicas (1 by default). */
        n = plan_of(NULL, old_yaml, NULL);
        ASSERT_EQ(n->steps[0].replicas, 1u);
        ASSERT_EQ(n->steps[1].replicas, 2u);

        /* Existing: manual keeps what runs, adaptive keeps it within the new bounds. */
        p = plan_of(old_yaml,
                    HEADER
                    "  a:\n    image: {name: a2}\n    scale: {mode: manual}\n"
                    "  b:\n    image: {name: b}\n    scale: {mode: adaptive, min: 1, max: 4}\n",
                    "{\"a\": 4, \"b\": 6}");
        ASSERT_EQ(p->steps[0].action, SCHED_PLAN_REPLACE);
        ASSERT_EQ(p->steps[0].replicas, 4u);
        ASSERT_EQ(p->steps[3].service[0], 'a');
        ASSERT_EQ(p->steps[4].action, SCHED_PLAN_SCALE);
        ASSERT_EQ(p->steps[4].from_replicas, 6u);
        ASSERT_EQ(p->steps[4].replicas, 4u);

        /* Without a current count the old spec's initial count is assumed. */
        q = plan_of(old_yaml,
                    HEADER
                    "  a:\n    image: {name: a}\n    scale: {mode: fixed, replicas: 3}\n"
                    "  b:\n    image: {name: b}\n    scale: {mode: adaptive, min: 3, max: 8}\n",
                    NULL);
        ASSERT_EQ(q->steps[0].action, SCHED_PLAN_SCALE);
        ASSERT_EQ(q->steps[0].from_replicas, 1u);
        ASSERT_EQ(q->steps[0].replicas, 3u);
        ASSERT_EQ(q->steps[1].from_replicas, 2u);
        ASSERT_EQ(q->steps[1].replicas, 3u);
}

TEST(endpoints_only_is_routes) {
        _cleanup_(sched_plan_freep) SchedPlan *p = plan_of(
                api_v1,
                HEADER "  db:\n    image: {name: postgres:16}\n"
                       "  api:\n    image: {name: myapi:1}\n    scale: {mode: fixed, replicas: 3}\n"
                       "    env: {MODE: prod}\n"
                       "    endpoints:\n      - {name: http, protocol: http, port: 9090,"
                       " target_port: 8080, expose: public}\n"
                       "    depends:\n      - {service: db}\n",
                NULL);
        _cleanup_free_ char *t = text_of(p);

        ASSERT_EQ(p->steps[0].action, SCHED_PLAN_UPDATE_ROUTES);
        ASSERT_EQ(p->steps[0].change, SCHED_PLAN_ROUTES);
        ASSERT_EQ(p->steps[0].replicas, 3u);
        ASSERT_STREQ(t, "~ update routes of api: endpoints changed (no restart)\n= db unchanged\n");
}

TEST(scale_and_routes_together) {
        _cleanup_(sched_plan_freep) SchedPlan *p = plan_of(
                api_v1,
                HEADER
                "  db:\n    image: {name: postgres:16}\n"
                "  api:\n    image: {name: myapi:1}\n    scale: {mode: fixed, replicas: 1}\n"
                "    env: {MODE: prod}\n"
                "    endpoints:\n      - {name: http, protocol: http, port: 8080, expose: public}\n"
                "    depends:\n      - {service: db}\n",
                NULL);
        _cleanup_free_ char *t = text_of(p), *js = NULL;
        _cleanup_(json_decrefp) json_t *j = NULL;
        json_t *step;

        ASSERT_EQ(p->n_steps, 3u);
        ASSERT_EQ(p->steps[0].action, SCHED_PLAN_SCALE);
        ASSERT_EQ(p->steps[0].change, SCHED_PLAN_SCALED);
        ASSERT_EQ(p->steps[1].action, SCHED_PLAN_UPDATE_ROUTES);
        ASSERT_EQ(p->steps[1].change, SCHED_PLAN_ROUTES);
        ASSERT_STREQ(t, "~ scale api: 3 -> 1 replica\n"
                        "~ update routes of api: endpoints changed (no restart)\n"
                        "= db unchanged\n");

        ASSERT_OK(sched_plan_format_json(p, &js));
        j = json_loads(js, 0, NULL);
        ASSERT_NOT_NULL(j);
        step = json_array_get(json_object_get(j, "steps"), 1);
        ASSERT_STREQ(json_string_value(json_object_get(step, "action")), "update_routes");
        ASSERT_STREQ(json_string_value(json_object_get(step, "change")), "routes");
        ASSERT_EQ(json_array_size(json_object_get(step, "changed_keys")), 2u);
        ASSERT_STREQ(json_string_value(json_array_get(json_object_get(step, "changed_keys"), 0)),
                     "endpoints");
}

TEST(replace_steps_in_json) {
        _cleanup_(sched_plan_freep) SchedPlan *p = plan_of(
                api_v1,
                HEADER "  db:\n    image: {name: postgres:16}\n"
                       "  api:\n    image: {name: myapi:1}\n    scale: {mode: fixed, replicas: 3}\n"
                       "    env: {MODE: prod}\n    resources: {memory: 64Mi}\n"
                       "    endpoints:\n      - {name: http, protocol: http, port: 8080}\n"
                       "    depends:\n      - {service: db}\n",
                "{\"api\": 2}");
        _cleanup_(json_decrefp) json_t *j = NULL;
        json_t *steps;

        ASSERT_OK(sched_plan_to_json(p, &j));
        steps = json_object_get(j, "steps");
        ASSERT_EQ(json_array_size(steps), 4u);
        for (int i = 0; i < 3; i++) {
                json_t *st = json_array_get(steps, (size_t) i);

                ASSERT_STREQ(json_string_value(json_object_get(st, "action")), "replace");
                ASSERT_EQ(json_integer_value(json_object_get(st, "replica")), i);
                ASSERT_EQ(json_integer_value(json_object_get(st, "replicas")), 3);
                ASSERT_EQ(json_integer_value(json_object_get(st, "from_replicas")), 2);
                ASSERT_EQ(json_is_true(json_object_get(st, "stop_old")), i < 2);
                ASSERT_STREQ(
                        json_string_value(json_array_get(json_object_get(st, "changed_keys"), 0)),
                        "resources");
        }
}

TEST(depends_only_needs_no_restart) {
        _cleanup_(sched_plan_freep) SchedPlan *p = plan_of(
                api_v1,
                HEADER "  db:\n    image: {name: postgres:16}\n"
                       "  api:\n    image: {name: myapi:1}\n    scale: {mode: fixed, replicas: 3}\n"
                       "    env: {MODE: prod}\n"
                       "    endpoints:\n      - {name: http, protocol: http, port: 8080}\n"
                       "    depends:\n      - {service: db, condition: started}\n",
                NULL);
        _cleanup_free_ char *t = text_of(p);

        ASSERT_FALSE(sched_plan_has_work(p));
        ASSERT_STREQ(t, "= api unchanged (depends changed, no restart)\n= db unchanged\n");
}

TEST(removal_in_reverse_dependency_order) {
        static const char *const old_yaml =
                HEADER "  store:\n    image: {name: s}\n"
                       "  queue:\n    image: {name: q}\n    depends:\n      - {service: store}\n"
                       "  old-worker:\n    image: {name: w}\n"
                       "    depends:\n      - {service: queue}\n      - {service: store}\n"
                       "  web:\n    image: {name: nginx}\n";
        _cleanup_(sched_plan_freep) SchedPlan *p = plan_of(
                old_yaml,
                HEADER "  web:\n    image: {name: nginx}\n  api:\n    image: {name: api}\n", NULL);
        _cleanup_free_ char *t = text_of(p);

        ASSERT_EQ(p->n_steps, 5u);
        ASSERT_STREQ(p->steps[2].service, "old-worker");
        ASSERT_EQ(p->steps[2].action, SCHED_PLAN_STOP);
        ASSERT_EQ(p->steps[2].change, SCHED_PLAN_REMOVED);
        ASSERT_EQ(p->steps[2].wave, 1u);
        ASSERT_STREQ(p->steps[3].service, "queue");
        ASSERT_EQ(p->steps[3].wave, 2u);
        ASSERT_STREQ(p->steps[4].service, "store");
        ASSERT_EQ(p->steps[4].wave, 3u);
        ASSERT_STREQ(t, "+ start api (1 replica)\n= web unchanged\n- stop old-worker\n"
                        "- stop queue\n- stop store\n");
}

TEST(jobs_and_crons_are_never_started) {
        static const char *const yaml = HEADER
                "  db:\n    image: {name: postgres}\n"
                "  migrate:\n    rtype: job\n    image: {name: migrate}\n"
                "    depends:\n      - {service: db}\n"
                "  report:\n    rtype: cron\n    schedule: \"@daily\"\n    image: {name: r}\n"
                "  web:\n    image: {name: nginx}\n"
                "    depends:\n      - {service: migrate}\n";
        _cleanup_(sched_plan_freep) SchedPlan *p = plan_of(NULL, yaml, NULL);
        _cleanup_(sched_plan_freep) SchedPlan *q = NULL;
        _cleanup_free_ char *t = text_of(p), *tq = NULL;

        ASSERT_STREQ(t, "+ start db (1 replica)\n"
                        "+ register migrate (job: runs when triggered)\n"
                        "+ register report (cron: runs on its schedule)\n"
                        "+ start web (1 replica)\n");
        ASSERT_EQ(p->steps[1].action, SCHED_PLAN_REGISTER);
        ASSERT_STREQ(p->steps[1].rtype, "job");
        ASSERT_EQ(p->steps[1].n_waits, 0u);
        ASSERT_EQ(p->steps[1].replicas, 0u);
        ASSERT_STREQ(p->steps[2].rtype, "cron");
        /* A job is no dependency to wait for: it runs when triggered. */
        ASSERT_EQ(p->steps[3].n_waits, 0u);

        /* The cron goes, the job changes, web turns into a job. */
        q = plan_of(yaml,
                    HEADER "  db:\n    image: {name: postgres}\n"
                           "  migrate:\n    rtype: job\n    image: {name: migrate:2}\n"
                           "  web:\n    rtype: job\n    image: {name: nginx}\n",
                    NULL);
        tq = text_of(q);
        ASSERT_STREQ(tq, "= db unchanged\n"
                         "~ register migrate (job: runs when triggered)\n"
                         "~ register web (job: runs when triggered)\n"
                         "- stop report\n"
                         "- stop web (no longer a service)\n");
        ASSERT_STREQ(q->steps[4].rtype, "service");
        ASSERT_EQ(q->steps[4].from_replicas, 1u);
}

TEST(errors) {
        _cleanup_(json_decrefp) json_t *cycle =
                json_loads("{\"deployment\":\"x\",\"services\":{"
                           "\"a\":{\"image\":{},\"scale\":{\"mode\":\"manual\"},"
                           "\"depends\":[{\"service\":\"b\"}]},"
                           "\"b\":{\"image\":{},\"scale\":{\"mode\":\"manual\"},"
                           "\"depends\":[{\"service\":\"a\"}]}}}",
                           0, NULL);
        _cleanup_(json_decrefp) json_t *unknown =
                json_loads("{\"deployment\":\"x\",\"services\":{"
                           "\"a\":{\"image\":{},\"scale\":{\"mode\":\"manual\"},"
                           "\"depends\":[{\"service\":\"nope\"}]}}}",
                           0, NULL);
        _cleanup_(json_decrefp) json_t *noscale =
                json_loads("{\"deployment\":\"x\",\"services\":{\"a\":{\"image\":{}}}}", 0, NULL);
        _cleanup_(json_decrefp) json_t *badmode =
                json_loads("{\"deployment\":\"x\",\"services\":{\"a\":{\"image\":{},"
                           "\"scale\":{\"mode\":\"wild\"}}}}",
                           0, NULL);
        _cleanup_(json_decrefp) json_t *self =
                json_loads("{\"deployment\":\"x\",\"services\":{"
                           "\"a\":{\"image\":{},\"scale\":{\"mode\":\"manual\"},"
                           "\"depends\":[{\"service\":\"a\"}]}}}",
                           0, NULL);
        _cleanup_(json_decrefp) json_t *noservices = json_loads("{\"deployment\":\"x\"}", 0, NULL);
        _cleanup_free_ char *e1 = NULL, *e2 = NULL, *e3 = NULL, *e4 = NULL, *e5 = NULL, *e6 = NULL;
        SchedPlan *p = NULL;

        ASSERT_ERROR(sched_plan_compute(NULL, cycle, NULL, &p, &e1), ELOOP);
        ASSERT_NOT_NULL(strstr(e1, "dependency cycle through service"));
        ASSERT_ERROR(sched_plan_compute(NULL, unknown, NULL, &p, &e2), EINVAL);
        ASSERT_STREQ(e2, "service 'a' depends on unknown service 'nope'");
        ASSERT_ERROR(sched_plan_compute(NULL, noscale, NULL, &p, &e3), EINVAL);
        ASSERT_STREQ(e3, "new spec: service 'a' is not in canonical form");
        ASSERT_ERROR(sched_plan_compute(NULL, badmode, NULL, &p, &e4), EINVAL);
        ASSERT_STREQ(e4, "service 'a': scale is not in canonical form");
        ASSERT_ERROR(sched_plan_compute(noservices, noscale, NULL, &p, &e5), EINVAL);
        ASSERT_STREQ(e5, "new spec: service 'a' is not in canonical form");
        ASSERT_ERROR(sched_plan_compute(NULL, noservices, NULL, &p, NULL), EINVAL);
        ASSERT_ERROR(sched_plan_compute(NULL, self, NULL, &p, &e6), ELOOP);
        ASSERT_STREQ(e6, "service 'a' depends on itself");
        ASSERT_NULL(p);
}

TEST(enum_names) {
        ASSERT_STREQ(sched_plan_change_to_string(SCHED_PLAN_ROUTES), "routes");
        ASSERT_STREQ(sched_plan_action_to_string(SCHED_PLAN_UPDATE_ROUTES), "update_routes");
        ASSERT_NULL(sched_plan_action_to_string(_SCHED_PLAN_ACTION_MAX));
        ASSERT_EQ(sched_condition_from_string("ready"), SCHED_CONDITION_READY);
        ASSERT_ERROR(sched_condition_from_string("alive"), EINVAL);
        ASSERT_ERROR(sched_condition_from_string(NULL), EINVAL);
        ASSERT_EQ(sched_on_timeout_from_string("continue"), SCHED_ON_TIMEOUT_CONTINUE);
        ASSERT_STREQ(sched_on_timeout_to_string(SCHED_ON_TIMEOUT_WARN), "warn");
}
