/* SPDX-License-Identifier: Apache-2.0 */
/* test-sched-state.c: every command, refusals that change nothing, snapshots, determinism. */
#include <stdarg.h>
#include <stdio.h>

#include "sched-state.h"
#include "string-util.h"
#include "tests.h"
#include "zlayer/spec.h"

/* Commands are written with ' for " to stay readable. */
static int apply(SchedState *s, SchedApplyResult *res, const char *cmd) {
        _cleanup_free_ char *c = strdup(cmd);

        ASSERT_NOT_NULL(c);
        for (char *p = c; *p; p++)
                if (*p == '\'')
                        *p = '"';
        return sched_state_apply(s, c, strlen(c), res);
}

#define APPLY_OK(s, cmd)                                                                           \
        do {                                                                                       \
                SchedApplyResult _res_;                                                            \
                int _r_ = apply(s, &_res_, cmd);                                                   \
                if (_r_ < 0)                                                                       \
                        test_fail(__FILE__, __LINE__, "%s refused: %s", cmd, _res_.message);       \
        } while (0)

static char *snapshot_of(const SchedState *s) {
        char *buf;
        size_t len;

        ASSERT_OK(sched_state_snapshot(s, &buf, &len));
        ASSERT_EQ(strlen(buf), len);
        return buf;
}

/* A refused command leaves the state byte for byte as it was, and says why. */
static void assert_refused(SchedState *s, const char *cmd, int err, const char *needle,
                           const char *file, int line) {
        _cleanup_free_ char *before = snapshot_of(s), *after = NULL;
        SchedApplyResult res;
        int r = apply(s, &res, cmd);

        if (r != -err)
                test_fail(file, line, "%s: expected %s, got %d (%s)", cmd, strerror(err), r,
                          res.message);
        if (res.error != r)
                test_fail(file, line, "%s: result error %d != %d", cmd, res.error, r);
        if (!strstr(res.message, needle))
                test_fail(file, line, "%s: message '%s' lacks '%s'", cmd, res.message, needle);
        after = snapshot_of(s);
        if (!streq(before, after))
                test_fail(file, line, "%s: state changed by a refused command", cmd);
        ASSERT_EQ(res.revision, sched_state_revision(s));
}
#define ASSERT_REFUSED(s, cmd, err, needle) assert_refused(s, cmd, err, needle, __FILE__, __LINE__)

static const char *spec_json(const char *deployment, const char *services) {
        static char buf[512];

        (void) snprintf(buf, sizeof(buf),
                        "{\"deployment\":\"%s\",\"services\":{%s},\"version\":\"v1\"}", deployment,
                        services);
        return buf;
}

static int put_deployment(SchedState *s, const char *name, const char *spec, uint64_t expected,
                          SchedApplyResult *res) {
        _cleanup_(json_decrefp) json_t *c = json_pack(
                "{s:s,s:s,s:s,s:I,s:I}", "op", "deployment_put", "name", name, "spec", spec,
                "expected_generation", (json_int_t) expected, "time", (json_int_t) 1000);

        ASSERT_NOT_NULL(c);
        return sched_state_apply_json(s, c, res);
}

/* Two nodes, deployment "app" (services web, db), two web replicas, one db replica. */
static SchedState *populated(void) {
        SchedState *s;
        SchedApplyResult res;

        ASSERT_OK(sched_state_new(&s));
        APPLY_OK(s, "{'op':'node_upsert','id':'n1','address':'10.0.0.1:7000','labels':{'zone':'a'},"
                    "'cpu':2000,'memory':1073741824,'time':100}");
        APPLY_OK(s, "{'op':'node_upsert','id':'n2','address':'10.0.0.2:7000','time':100}");
        ASSERT_OK(put_deployment(s, "app", spec_json("app", "\"web\":{},\"db\":{}"), 0, &res));
        APPLY_OK(s, "{'op':'replica_put','deployment':'app','service':'web','index':0,"
                    "'node':'n1','time':200}");
        APPLY_OK(s, "{'op':'replica_put','deployment':'app','service':'web','index':1,"
                    "'node':'n2','time':200}");
        APPLY_OK(s, "{'op':'replica_put','deployment':'app','service':'db','index':0,"
                    "'node':'n1','time':200}");
        return s;
}

TEST(enum_names) {
        ASSERT_STREQ(sched_deployment_status_to_string(SCHED_DEPLOYMENT_DEGRADED), "degraded");
        ASSERT_EQ(sched_deployment_status_from_string("ready"), SCHED_DEPLOYMENT_READY);
        ASSERT_ERROR(sched_deployment_status_from_string("bogus"), EINVAL);
        ASSERT_STREQ(sched_replica_state_to_string(SCHED_REPLICA_CRASHLOOP), "crashloop");
        ASSERT_EQ(sched_replica_state_from_string("running"), SCHED_REPLICA_RUNNING);
        ASSERT_STREQ(sched_replica_health_to_string(SCHED_HEALTH_UNHEALTHY), "unhealthy");
        ASSERT_ERROR(sched_replica_health_from_string(NULL), EINVAL);
        ASSERT_STREQ(sched_job_state_to_string(SCHED_JOB_CANCELLED), "cancelled");
        ASSERT_NULL(sched_job_state_to_string(_SCHED_JOB_STATE_MAX));
}

TEST(node_ops) {
        _cleanup_(sched_state_freep) SchedState *s = NULL;
        const SchedNode *n;

        ASSERT_OK(sched_state_new(&s));
        ASSERT_EQ(sched_state_revision(s), 0);
        APPLY_OK(s, "{'op':'node_upsert','id':'n1','address':'10.0.0.1:7000','labels':{'zone':'a'},"
                    "'cpu':2000,'memory':1024,'time':5}");
        n = sched_state_get_node(s, "n1");
        ASSERT_NOT_NULL(n);
        ASSERT_STREQ(n->address, "10.0.0.1:7000");
        ASSERT_STREQ(json_string_value(json_object_get(n->labels, "zone")), "a");
        ASSERT_EQ(n->cpu, 2000);
        ASSERT_EQ(n->memory, 1024);
        ASSERT_EQ(n->heartbeat_usec, 5);
        ASSERT_EQ(sched_state_revision(s), 1);

        /* An update changes only what it names. */
        APPLY_OK(s, "{'op':'node_upsert','id':'n1','cpu':4000}");
        n = sched_state_get_node(s, "n1");
        ASSERT_EQ(n->cpu, 4000);
        ASSERT_EQ(n->memory, 1024);
        ASSERT_STREQ(n->address, "10.0.0.1:7000");

        APPLY_OK(s, "{'op':'node_heartbeat','id':'n1','time':99}");
        ASSERT_EQ(sched_state_get_node(s, "n1")->heartbeat_usec, 99);

        ASSERT_REFUSED(s, "{'op':'node_upsert','id':'n2'}", EINVAL, "'address' is required");
        ASSERT_REFUSED(s, "{'op':'node_upsert','id':'bad id','address':'x'}", EINVAL, "'id'");
        ASSERT_REFUSED(s, "{'op':'node_upsert','id':'n1','cpu':-1}", EINVAL, "'cpu'");
        ASSERT_REFUSED(s, "{'op':'node_upsert','id':'n1','cpu':1.5}", EINVAL, "integer");
        ASSERT_REFUSED(s, "{'op':'node_upsert','id':'n1','labels':{'a':1}}", EINVAL, "labels.a");
        ASSERT_REFUSED(s, "{'op':'node_upsert','id':'n1','heartbeat':3}", EINVAL,
                       "unknown field 'heartbeat'");
        ASSERT_REFUSED(s, "{'op':'node_heartbeat','id':'n9','time':1}", ENOENT, "'n9'");
        ASSERT_REFUSED(s, "{'op':'node_heartbeat','id':'n1'}", EINVAL, "'time' is required");
        ASSERT_REFUSED(s, "{'op':'node_delete','id':'n9'}", ENOENT, "n9");

        APPLY_OK(s, "{'op':'node_delete','id':'n1'}");
        ASSERT_NULL(sched_state_get_node(s, "n1"));
        ASSERT_EQ(sched_state_revision(s), 4);
}

TEST(malformed_commands) {
        _cleanup_(sched_state_freep) SchedState *s = populated();
        SchedApplyResult res;

        ASSERT_REFUSED(s, "", EINVAL, "malformed");
        ASSERT_REFUSED(s, "{'op':", EINVAL, "malformed");
        ASSERT_REFUSED(s, "[1,2]", EINVAL, "JSON object");
        ASSERT_REFUSED(s, "{'id':'n1'}", EINVAL, "'op' is required");
        ASSERT_REFUSED(s, "{'op':7}", EINVAL, "'op' is required");
        ASSERT_REFUSED(s, "{'op':'node_explode'}", EINVAL, "unknown op 'node_explode'");
        ASSERT_REFUSED(s, "{'op':'node_delete','id':'n2','id':'n1'}", EINVAL, "malformed");
        ASSERT_REFUSED(s, "{'op':'node_upsert','id':'n1','extra':true}", EINVAL,
                       "unknown field 'extra'");
        ASSERT_REFUSED(s, "{'op':'node_upsert','id':'n1','address':'a\\u0000b'}", EINVAL,
                       "malformed");
        ASSERT_REFUSED(s, "{'op':'node_upsert','id':'n1','cpu':99999999999999999999}", EINVAL,
                       "malformed");

        /* Not NUL-terminated: the length counts. */
        ASSERT_OK(sched_state_apply(s, "{\"op\":\"node_heartbeat\",\"id\":\"n1\",\"time\":7}XXXX",
                                    strlen("{\"op\":\"node_heartbeat\",\"id\":\"n1\",\"time\":7}"),
                                    &res));
        ASSERT_EQ(sched_state_get_node(s, "n1")->heartbeat_usec, 7);
        ASSERT_ERROR(sched_state_apply(s, "{}", SCHED_COMMAND_MAX + 1, &res), E2BIG);
        ASSERT_EQ(res.error, -E2BIG);
        /* ret_result is optional. */
        ASSERT_ERROR(sched_state_apply(s, "{}", 2, NULL), EINVAL);
}

TEST(deployment_compare_and_set) {
        _cleanup_(sched_state_freep) SchedState *s = NULL;
        _cleanup_free_ char *before = NULL, *after = NULL;
        const SchedDeployment *d;
        SchedApplyResult res;

        ASSERT_OK(sched_state_new(&s));
        ASSERT_OK(put_deployment(s, "app", spec_json("app", "\"web\":{}"), 0, &res));
        ASSERT_EQ(res.generation, 1);
        d = sched_state_get_deployment(s, "app");
        ASSERT_NOT_NULL(d);
        ASSERT_EQ(d->generation, 1);
        ASSERT_EQ(d->status, SCHED_DEPLOYMENT_PENDING);
        ASSERT_EQ(d->updated_at_usec, 1000);
        ASSERT_TRUE(sched_deployment_has_service(d, "web"));
        ASSERT_FALSE(sched_deployment_has_service(d, "db"));

        /* Two writers read generation 1; the first wins, the second is told it is stale. */
        ASSERT_OK(put_deployment(s, "app", spec_json("app", "\"web\":{},\"db\":{}"), 1, &res));
        ASSERT_EQ(res.generation, 2);
        before = snapshot_of(s);
        ASSERT_ERROR(put_deployment(s, "app", spec_json("app", "\"api\":{}"), 1, &res), ESTALE);
        ASSERT_TRUE(strstr(res.message, "generation 2, not 1") != NULL);
        ASSERT_ERROR(put_deployment(s, "app", spec_json("app", "\"api\":{}"), 0, &res), EEXIST);
        ASSERT_ERROR(put_deployment(s, "new", spec_json("new", "\"api\":{}"), 3, &res), ESTALE);
        ASSERT_ERROR(put_deployment(s, "app", spec_json("other", "\"api\":{}"), 2, &res), EINVAL);
        ASSERT_TRUE(strstr(res.message, "not the spec of 'app'") != NULL);
        ASSERT_ERROR(put_deployment(s, "app", "{\"deployment\":\"app\"}", 2, &res), EINVAL);
        ASSERT_TRUE(strstr(res.message, "no services") != NULL);
        ASSERT_ERROR(put_deployment(s, "app", "not json", 2, &res), EINVAL);
        ASSERT_TRUE(strstr(res.message, "not JSON") != NULL);
        ASSERT_ERROR(put_deployment(s, "app", spec_json("app", "\"b@d\":{}"), 2, &res), EINVAL);
        after = snapshot_of(s);
        ASSERT_STREQ(before, after);
        d = sched_state_get_deployment(s, "app");
        ASSERT_EQ(d->generation, 2);
        ASSERT_TRUE(sched_deployment_has_service(d, "db"));
        ASSERT_REFUSED(s, "{'op':'deployment_put','name':'x','spec':'{}'}", EINVAL,
                       "'expected_generation' is required");
        ASSERT_REFUSED(s,
                       "{'op':'deployment_put','name':'x','spec':'{}','expected_generation':0,"
                       "'generation':5}",
                       EINVAL, "unknown field 'generation'");
}

TEST(deployment_with_canonical_spec) {
        static const char yaml[] = "version: v1\n"
                                   "deployment: shop\n"
                                   "services:\n"
                                   "  web:\n"
                                   "    image:\n"
                                   "      name: nginx\n"
                                   "  cache:\n"
                                   "    image:\n"
                                   "      name: redis\n";
        _cleanup_(sched_state_freep) SchedState *s = NULL;
        _cleanup_free_ char *text = NULL;
        const SchedDeployment *d;
        SchedApplyResult res;
        ZlSpec *spec = NULL;

        ASSERT_OK(zl_spec_parse_string(yaml, strlen(yaml), "shop.yaml", &spec, NULL));
        ASSERT_OK(zl_spec_dump_json(spec, &text));
        zl_spec_unref(spec);
        ASSERT_OK(sched_state_new(&s));
        ASSERT_OK(put_deployment(s, "shop", text, 0, &res));
        d = sched_state_get_deployment(s, "shop");
        ASSERT_STREQ(d->spec, text);
        ASSERT_STREQ(d->service_names[0], "cache");
        ASSERT_STREQ(d->service_names[1], "web");
        ASSERT_NULL(d->service_names[2]);
}

TEST(deployment_status_and_delete) {
        _cleanup_(sched_state_freep) SchedState *s = populated();
        const SchedDeployment *d;
        SchedApplyResult res;

        APPLY_OK(s, "{'op':'deployment_status','name':'app','generation':1,'status':'degraded',"
                    "'message':'db not healthy','services':{'web':{'desired':2,'healthy':2},"
                    "'db':{'desired':1,'healthy':0}},'time':300}");
        d = sched_state_get_deployment(s, "app");
        ASSERT_EQ(d->status, SCHED_DEPLOYMENT_DEGRADED);
        ASSERT_STREQ(d->message, "db not healthy");
        ASSERT_EQ(
                json_integer_value(json_object_get(json_object_get(d->services, "web"), "healthy")),
                2);
        ASSERT_EQ(d->updated_at_usec, 300);
        /* Status without message clears the old one. */
        APPLY_OK(s, "{'op':'deployment_status','name':'app','status':'ready'}");
        d = sched_state_get_deployment(s, "app");
        ASSERT_EQ(d->status, SCHED_DEPLOYMENT_READY);
        ASSERT_STREQ(d->message, "");
        ASSERT_EQ(json_object_size(d->services), 2);

        ASSERT_REFUSED(s, "{'op':'deployment_status','name':'app','generation':7,'status':'ready'}",
                       ESTALE, "generation 1, not 7");
        ASSERT_REFUSED(s, "{'op':'deployment_status','name':'nope','status':'ready'}", ENOENT,
                       "'nope' does not exist");
        ASSERT_REFUSED(s, "{'op':'deployment_status','name':'app','status':'sleeping'}", EINVAL,
                       "'status'");
        ASSERT_REFUSED(s, "{'op':'deployment_status','name':'app'}", EINVAL,
                       "'status' is required");
        ASSERT_REFUSED(s,
                       "{'op':'deployment_status','name':'app','status':'ready','services':"
                       "{'web':3}}",
                       EINVAL, "services.web");

        /* History goes with the deployment, replicas must be stopped first. */
        APPLY_OK(s, "{'op':'scale_event','deployment':'app','service':'web','from':1,'to':2,"
                    "'reason':'manual','time':1}");
        APPLY_OK(s, "{'op':'cron_run_put','deployment':'app','service':'db','last':1,'next':2}");
        APPLY_OK(s, "{'op':'job_execution_put','id':'j1','deployment':'app','service':'db'}");
        ASSERT_REFUSED(s, "{'op':'deployment_delete','name':'app'}", EBUSY, "3 replicas");
        ASSERT_REFUSED(s, "{'op':'node_delete','id':'n1'}", EBUSY, "still has replicas");
        APPLY_OK(s, "{'op':'replica_delete','deployment':'app','service':'web','index':0}");
        APPLY_OK(s, "{'op':'replica_delete','deployment':'app','service':'web','index':1}");
        APPLY_OK(s, "{'op':'replica_delete','deployment':'app','service':'db','index':0}");
        ASSERT_REFUSED(s, "{'op':'deployment_delete','name':'app','expected_generation':4}", ESTALE,
                       "not 4");
        ASSERT_REFUSED(s, "{'op':'deployment_delete','name':'zzz'}", ENOENT, "zzz");
        ASSERT_EQ(apply(s, &res, "{'op':'deployment_delete','name':'app','expected_generation':1}"),
                  0);
        ASSERT_NULL(sched_state_get_deployment(s, "app"));
        ASSERT_NULL(sched_state_get_cron_run(s, "app", "db"));
        ASSERT_NULL(sched_state_get_job_execution(s, "j1"));
        {
                _cleanup_free_ const SchedScaleEvent **ev = NULL;
                size_t n;

                ASSERT_OK(sched_state_list_scale_events(s, NULL, NULL, &ev, &n));
                ASSERT_EQ(n, 0);
                ASSERT_NULL(ev);
        }
        /* A new deployment of the same name starts again at generation 1. */
        ASSERT_OK(put_deployment(s, "app", spec_json("app", "\"web\":{}"), 0, &res));
        ASSERT_EQ(res.generation, 1);
}

TEST(replica_ops_and_index) {
        _cleanup_(sched_state_freep) SchedState *s = populated();
        _cleanup_free_ const SchedReplica **v = NULL;
        const SchedReplica *r;
        size_t n;

        r = sched_state_get_replica(s, "app", "web", 1);
        ASSERT_NOT_NULL(r);
        ASSERT_STREQ(r->node, "n2");
        ASSERT_EQ(r->state, SCHED_REPLICA_PENDING);
        ASSERT_EQ(r->health, SCHED_HEALTH_UNKNOWN);
        ASSERT_STREQ(r->container_id, "");
        ASSERT_EQ(r->updated_at_usec, 200);

        APPLY_OK(s, "{'op':'replica_put','deployment':'app','service':'web','index':1,"
                    "'container_id':'app-web-1','generation':1,'state':'running',"
                    "'health':'healthy','ip':'10.200.0.5','restarts':2,'time':400}");
        r = sched_state_get_replica(s, "app", "web", 1);
        ASSERT_STREQ(r->node, "n2");
        ASSERT_STREQ(r->container_id, "app-web-1");
        ASSERT_EQ(r->generation, 1);
        ASSERT_EQ(r->state, SCHED_REPLICA_RUNNING);
        ASSERT_EQ(r->health, SCHED_HEALTH_HEALTHY);
        ASSERT_STREQ(r->ip, "10.200.0.5");
        ASSERT_EQ(r->restarts, 2);
        ASSERT_EQ(r->updated_at_usec, 400);

        /* Replica 10 sorts after 2 (indexes are numbers, not text). */
        APPLY_OK(s, "{'op':'replica_put','deployment':'app','service':'web','index':10,"
                    "'node':'n1','time':1}");
        APPLY_OK(s, "{'op':'replica_put','deployment':'app','service':'web','index':2,"
                    "'node':'n1','time':1}");
        ASSERT_OK(sched_state_list_replicas(s, "app", "web", &v, &n));
        ASSERT_EQ(n, 4);
        ASSERT_EQ(v[0]->index, 0);
        ASSERT_EQ(v[1]->index, 1);
        ASSERT_EQ(v[2]->index, 2);
        ASSERT_EQ(v[3]->index, 10);
        v = mfree(v);
        ASSERT_OK(sched_state_list_replicas(s, "app", "db", &v, &n));
        ASSERT_EQ(n, 1);
        v = mfree(v);
        ASSERT_OK(sched_state_list_replicas(s, "app", NULL, &v, &n));
        ASSERT_EQ(n, 5);
        ASSERT_STREQ(v[0]->service, "db");
        v = mfree(v);
        ASSERT_OK(sched_state_list_replicas(s, "ap", NULL, &v, &n));
        ASSERT_EQ(n, 0);
        ASSERT_OK(sched_state_list_replicas(s, NULL, NULL, &v, &n));
        ASSERT_EQ(n, 5);
        v = mfree(v);
        ASSERT_OK(sched_state_list_replicas_on_node(s, "n1", &v, &n));
        ASSERT_EQ(n, 4);
        v = mfree(v);

        ASSERT_REFUSED(s,
                       "{'op':'replica_put','deployment':'app','service':'web','index':5,"
                       "'time':1}",
                       EINVAL, "'node' is required");
        ASSERT_REFUSED(s,
                       "{'op':'replica_put','deployment':'app','service':'api','index':0,"
                       "'node':'n1','time':1}",
                       ENOENT, "no service 'api'");
        ASSERT_REFUSED(s,
                       "{'op':'replica_put','deployment':'x','service':'web','index':0,"
                       "'node':'n1','time':1}",
                       ENOENT, "deployment 'x' does not exist");
        ASSERT_REFUSED(s,
                       "{'op':'replica_put','deployment':'app','service':'web','index':0,"
                       "'node':'n7','time':1}",
                       ENOENT, "node 'n7'");
        ASSERT_REFUSED(s,
                       "{'op':'replica_put','deployment':'app','service':'web','index':0,"
                       "'state':'dancing','time':1}",
                       EINVAL, "'state'");
        ASSERT_REFUSED(s,
                       "{'op':'replica_put','deployment':'app','service':'web','index':-1,"
                       "'node':'n1','time':1}",
                       EINVAL, "'index'");
        ASSERT_REFUSED(s, "{'op':'replica_put','deployment':'app','service':'web','index':0}",
                       EINVAL, "'time' is required");
        ASSERT_REFUSED(s, "{'op':'replica_delete','deployment':'app','service':'web','index':9}",
                       ENOENT, "app/web/9");
        ASSERT_REFUSED(s, "{'op':'replica_delete','deployment':'app','service':'web'}", EINVAL,
                       "'index' is required");
}

TEST(scale_events_bounded) {
        _cleanup_(sched_state_freep) SchedState *s = populated();
        _cleanup_free_ const SchedScaleEvent **v = NULL;
        char cmd[256];
        size_t n;

        for (unsigned i = 0; i < SCHED_SCALE_EVENTS_MAX + 10; i++) {
                (void) snprintf(cmd, sizeof(cmd),
                                "{'op':'scale_event','deployment':'app','service':'web','from':%u,"
                                "'to':%u,'reason':'cpu above target','time':%u}",
                                i, i + 1, 1000 + i);
                APPLY_OK(s, cmd);
        }
        APPLY_OK(s, "{'op':'scale_event','deployment':'app','service':'db','from':1,'to':0,"
                    "'reason':'manual','time':5}");
        ASSERT_OK(sched_state_list_scale_events(s, "app", "web", &v, &n));
        ASSERT_EQ(n, SCHED_SCALE_EVENTS_MAX);
        /* The oldest were dropped; the rest are in order. */
        ASSERT_EQ(v[0]->from, 10);
        ASSERT_EQ(v[0]->seq, 11);
        ASSERT_EQ(v[n - 1]->to, SCHED_SCALE_EVENTS_MAX + 10);
        ASSERT_STREQ(v[n - 1]->reason, "cpu above target");
        ASSERT_EQ(v[n - 1]->time_usec, 1000 + SCHED_SCALE_EVENTS_MAX + 9);
        v = mfree(v);
        ASSERT_OK(sched_state_list_scale_events(s, "app", NULL, &v, &n));
        ASSERT_EQ(n, SCHED_SCALE_EVENTS_MAX + 1);
        ASSERT_STREQ(v[0]->service, "db");
        ASSERT_EQ(v[0]->seq, SCHED_SCALE_EVENTS_MAX + 11);

        ASSERT_REFUSED(s,
                       "{'op':'scale_event','deployment':'app','service':'web','from':1,"
                       "'to':2,'time':1}",
                       EINVAL, "'reason' is required");
        ASSERT_REFUSED(s,
                       "{'op':'scale_event','deployment':'app','service':'nope','from':1,"
                       "'to':2,'reason':'x','time':1}",
                       ENOENT, "no service 'nope'");
}

TEST(job_executions) {
        _cleanup_(sched_state_freep) SchedState *s = populated();
        _cleanup_free_ const SchedJobExecution **v = NULL;
        const SchedJobExecution *j;
        char cmd[256];
        size_t n;

        APPLY_OK(s, "{'op':'job_execution_put','id':'run-1','deployment':'app','service':'db',"
                    "'state':'running','started':10}");
        j = sched_state_get_job_execution(s, "run-1");
        ASSERT_NOT_NULL(j);
        ASSERT_EQ(j->state, SCHED_JOB_RUNNING);
        ASSERT_EQ(j->exit_code, -1);
        ASSERT_EQ(j->started_usec, 10);
        APPLY_OK(s, "{'op':'job_execution_put','id':'run-1','state':'failed','exit_code':3,"
                    "'finished':20,'log_ref':'journal:app/db/run-1','message':'exit 3'}");
        j = sched_state_get_job_execution(s, "run-1");
        ASSERT_EQ(j->state, SCHED_JOB_FAILED);
        ASSERT_EQ(j->exit_code, 3);
        ASSERT_EQ(j->finished_usec, 20);
        ASSERT_STREQ(j->log_ref, "journal:app/db/run-1");
        ASSERT_STREQ(j->message, "exit 3");
        ASSERT_STREQ(j->deployment, "app");

        ASSERT_REFUSED(s,
                       "{'op':'job_execution_put','id':'run-1','deployment':'app',"
                       "'service':'web'}",
                       EINVAL, "cannot change");
        ASSERT_REFUSED(s, "{'op':'job_execution_put','id':'run-1','exit_code':256}", EINVAL,
                       "between -1 and 255");
        ASSERT_REFUSED(s, "{'op':'job_execution_put','id':'run-2','deployment':'app'}", EINVAL,
                       "'service' is required");
        ASSERT_REFUSED(s,
                       "{'op':'job_execution_put','id':'run-2','deployment':'app',"
                       "'service':'zz'}",
                       ENOENT, "no service 'zz'");

        /* Beyond the bound the finished ones that started first go; running ones stay. */
        APPLY_OK(s, "{'op':'job_execution_put','id':'long','deployment':'app','service':'db',"
                    "'state':'running','started':0}");
        for (unsigned i = 0; i < SCHED_JOB_EXECUTIONS_MAX; i++) {
                (void) snprintf(cmd, sizeof(cmd),
                                "{'op':'job_execution_put','id':'b-%03u','deployment':'app',"
                                "'service':'db','state':'succeeded','exit_code':0,'started':%u}",
                                i, 100 + i);
                APPLY_OK(s, cmd);
        }
        ASSERT_OK(sched_state_list_job_executions(s, "app", "db", &v, &n));
        ASSERT_EQ(n, SCHED_JOB_EXECUTIONS_MAX);
        v = mfree(v);
        ASSERT_NOT_NULL(sched_state_get_job_execution(s, "long"));
        ASSERT_NULL(sched_state_get_job_execution(s, "run-1"));
        ASSERT_NULL(sched_state_get_job_execution(s, "b-000"));
        ASSERT_NOT_NULL(sched_state_get_job_execution(s, "b-001"));
        ASSERT_OK(sched_state_list_job_executions(s, "app", "web", &v, &n));
        ASSERT_EQ(n, 0);
}

TEST(cron_runs) {
        _cleanup_(sched_state_freep) SchedState *s = populated();
        _cleanup_free_ const SchedCronRun **v = NULL;
        const SchedCronRun *c;
        size_t n;

        APPLY_OK(s, "{'op':'cron_run_put','deployment':'app','service':'db','next':60000000}");
        c = sched_state_get_cron_run(s, "app", "db");
        ASSERT_NOT_NULL(c);
        ASSERT_EQ(c->last_usec, 0);
        ASSERT_EQ(c->next_usec, 60000000);
        APPLY_OK(s, "{'op':'cron_run_put','deployment':'app','service':'db','last':60000000,"
                    "'next':120000000}");
        c = sched_state_get_cron_run(s, "app", "db");
        ASSERT_EQ(c->last_usec, 60000000);
        ASSERT_EQ(c->next_usec, 120000000);
        APPLY_OK(s, "{'op':'cron_run_put','deployment':'app','service':'web','next':1}");
        ASSERT_OK(sched_state_list_cron_runs(s, "app", &v, &n));
        ASSERT_EQ(n, 2);
        ASSERT_STREQ(v[0]->service, "db");
        ASSERT_STREQ(v[1]->service, "web");
        ASSERT_NULL(sched_state_get_cron_run(s, "app", "nope"));
        ASSERT_REFUSED(s, "{'op':'cron_run_put','deployment':'app','service':'db','last':'x'}",
                       EINVAL, "'last'");
        ASSERT_REFUSED(s, "{'op':'cron_run_put','deployment':'zz','service':'db'}", ENOENT, "'zz'");
}

TEST(dumps) {
        _cleanup_(sched_state_freep) SchedState *s = populated();
        _cleanup_(json_decrefp) json_t *t = NULL, *all = NULL, *one = NULL;
        _cleanup_free_ char *text = NULL;

        ASSERT_OK(sched_state_dump_table(s, "nodes", &t));
        ASSERT_EQ(json_array_size(t), 2);
        text = json_dumps(json_array_get(t, 0), JSON_COMPACT | JSON_SORT_KEYS);
        ASSERT_STREQ(text, "{\"address\":\"10.0.0.1:7000\",\"cpu\":2000,\"heartbeat\":100,"
                           "\"id\":\"n1\",\"labels\":{\"zone\":\"a\"},\"memory\":1073741824}");
        ASSERT_ERROR(sched_state_dump_table(s, "bogus", &one), EINVAL);
        ASSERT_OK(sched_replica_to_json(sched_state_get_replica(s, "app", "db", 0), &one));
        ASSERT_STREQ(json_string_value(json_object_get(one, "state")), "pending");
        ASSERT_STREQ(json_string_value(json_object_get(one, "health")), "unknown");
        ASSERT_OK(sched_state_dump_json(s, &all));
        ASSERT_EQ(json_array_size(json_object_get(all, "replicas")), 3);
        ASSERT_EQ(json_array_size(json_object_get(all, "deployments")), 1);
        ASSERT_EQ(json_integer_value(json_object_get(all, "revision")), 6);
}

TEST(snapshot_round_trip) {
        _cleanup_(sched_state_freep) SchedState *s = populated(), *copy = NULL;
        _cleanup_free_ char *a = NULL, *b = NULL;
        SchedApplyResult res, res2;
        size_t len;

        APPLY_OK(s, "{'op':'scale_event','deployment':'app','service':'web','from':1,'to':2,"
                    "'reason':'manual','time':1}");
        APPLY_OK(s, "{'op':'job_execution_put','id':'j1','deployment':'app','service':'db',"
                    "'state':'succeeded','exit_code':0,'started':1,'finished':2}");
        APPLY_OK(s, "{'op':'cron_run_put','deployment':'app','service':'db','last':1,'next':2}");
        ASSERT_OK(sched_state_snapshot(s, &a, &len));
        ASSERT_TRUE(strstr(a, "\"version\":1") != NULL);
        ASSERT_OK(sched_state_restore(a, len, &copy));
        ASSERT_OK(sched_state_snapshot(copy, &b, &len));
        ASSERT_STREQ(a, b);
        ASSERT_EQ(sched_state_revision(copy), sched_state_revision(s));
        ASSERT_TRUE(sched_deployment_has_service(sched_state_get_deployment(copy, "app"), "db"));

        /* The restored state goes on exactly as the original: same sequence numbers too. */
        ASSERT_EQ(apply(s, &res,
                        "{'op':'scale_event','deployment':'app','service':'web','from':2,"
                        "'to':3,'reason':'x','time':2}"),
                  0);
        ASSERT_EQ(apply(copy, &res2,
                        "{'op':'scale_event','deployment':'app','service':'web',"
                        "'from':2,'to':3,'reason':'x','time':2}"),
                  0);
        a = mfree(a);
        b = mfree(b);
        a = snapshot_of(s);
        b = snapshot_of(copy);
        ASSERT_STREQ(a, b);
        ASSERT_EQ(res.revision, res2.revision);
}

TEST(snapshot_refused) {
        _cleanup_(sched_state_freep) SchedState *s = NULL;
        static const char *const bad[] = {
                "",
                "[]",
                "{\"format\":\"other\",\"version\":1}",
                "{\"format\":\"zlayer-sched-state\"}",
                "{\"format\":\"zlayer-sched-state\",\"version\":0}",
                "{\"format\":\"zlayer-sched-state\",\"version\":1}",
                "{\"format\":\"zlayer-sched-state\",\"version\":1,\"revision\":0,\"scale_seq\":0,"
                "\"nodes\":[{\"id\":\"n1\"}],\"deployments\":[],\"replicas\":[],"
                "\"scale_events\":[],\"job_executions\":[],\"cron_runs\":[]}",
                "{\"format\":\"zlayer-sched-state\",\"version\":1,\"revision\":0,\"scale_seq\":0,"
                "\"nodes\":[{\"id\":\"n1\",\"address\":\"a\"},{\"id\":\"n1\",\"address\":\"b\"}],"
                "\"deployments\":[],\"replicas\":[],\"scale_events\":[],\"job_executions\":[],"
                "\"cron_runs\":[]}",
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                ASSERT_ERROR(sched_state_restore(bad[i], strlen(bad[i]), &s), EBADMSG);
        ASSERT_NULL(s);
        ASSERT_ERROR(sched_state_restore(
                             "{\"format\":\"zlayer-sched-state\",\"version\":2}",
                             strlen("{\"format\":\"zlayer-sched-state\",\"version\":2}"), &s),
                     EPROTONOSUPPORT);
        ASSERT_OK(sched_state_new(&s));
        {
                _cleanup_free_ char *buf = NULL;
                _cleanup_(sched_state_freep) SchedState *e = NULL;
                size_t len;

                ASSERT_OK(sched_state_snapshot(s, &buf, &len));
                ASSERT_OK(sched_state_restore(buf, len, &e));
                ASSERT_EQ(sched_state_revision(e), 0);
        }
}

/* A fixed pseudo-random command stream (a linear congruential generator with a constant seed)
 * applied to two states gives identical states, refusals included. */
TEST(determinism) {
        _cleanup_(sched_state_freep) SchedState *a = populated(), *b = populated();
        _cleanup_free_ char *sa = NULL, *sb = NULL;
        uint32_t x = 12345;
        char cmd[256];
        unsigned refused = 0;

        for (unsigned i = 0; i < 2000; i++) {
                SchedApplyResult ra, rb;
                int r1, r2;

                x = x * 1103515245U + 12345U;
                switch ((x >> 16) % 5) {
                case 0:
                        (void) snprintf(cmd, sizeof(cmd),
                                        "{'op':'replica_put','deployment':'app','service':'web',"
                                        "'index':%u,'node':'n%u','time':%u}",
                                        (x >> 8) % 7, 1 + (x >> 4) % 3, i);
                        break;
                case 1:
                        (void) snprintf(cmd, sizeof(cmd),
                                        "{'op':'replica_delete','deployment':'app','service':'web',"
                                        "'index':%u}",
                                        (x >> 8) % 7);
                        break;
                case 2:
                        (void) snprintf(cmd, sizeof(cmd),
                                        "{'op':'scale_event','deployment':'app','service':'db',"
                                        "'from':%u,'to':%u,'reason':'r','time':%u}",
                                        x % 9, (x >> 3) % 9, i);
                        break;
                case 3:
                        (void) snprintf(cmd, sizeof(cmd),
                                        "{'op':'node_heartbeat','id':'n%u','time':%u}",
                                        1 + (x >> 6) % 3, i);
                        break;
                default:
                        (void) snprintf(cmd, sizeof(cmd),
                                        "{'op':'job_execution_put','id':'j%u','deployment':'app',"
                                        "'service':'db','state':'%s','started':%u}",
                                        (x >> 5) % 150, (x & 1) ? "succeeded" : "running", i);
                        break;
                }
                r1 = apply(a, &ra, cmd);
                r2 = apply(b, &rb, cmd);
                ASSERT_EQ(r1, r2);
                ASSERT_EQ(ra.revision, rb.revision);
                ASSERT_STREQ(ra.message, rb.message);
                if (r1 < 0)
                        refused++;
        }
        /* Both outcomes were exercised (n3 does not exist, deleted replicas cannot be deleted). */
        ASSERT_GT(refused, 0);
        ASSERT_GT(sched_state_revision(a), 1000);
        sa = snapshot_of(a);
        sb = snapshot_of(b);
        ASSERT_STREQ(sa, sb);
}

/* "web" adaptive (min 2), "db" fixed 3, "m" manual, "cron" a cron service. */
static SchedState *scalable(void) {
        SchedState *s;
        SchedApplyResult res;

        ASSERT_OK(sched_state_new(&s));
        APPLY_OK(s, "{'op':'node_upsert','id':'n1','address':'10.0.0.1:7000','time':100}");
        ASSERT_OK(put_deployment(
                s, "app",
                spec_json("app", "\"web\":{\"scale\":{\"mode\":\"adaptive\",\"min\":2,\"max\":5}},"
                                 "\"db\":{\"scale\":{\"mode\":\"fixed\",\"replicas\":3}},"
                                 "\"m\":{\"scale\":{\"mode\":\"manual\"}},"
                                 "\"cron\":{\"rtype\":\"cron\",\"schedule\":\"* * * * *\"}"),
                0, &res));
        return s;
}

TEST(service_replicas_defaults) {
        _cleanup_(json_decrefp)
                json_t *fixed = json_pack("{s:{s:s,s:i}}", "scale", "mode", "fixed", "replicas", 4),
                       *manual = json_pack("{s:{s:s}}", "scale", "mode", "manual"),
                       *manual0 =
                               json_pack("{s:{s:s,s:i}}", "scale", "mode", "manual", "replicas", 0),
                       *adaptive = json_pack("{s:{s:s,s:i,s:i}}", "scale", "mode", "adaptive",
                                             "min", 2, "max", 3),
                       *none = json_object();

        ASSERT_EQ(sched_service_replicas(fixed, NULL, "x"), 4U);
        ASSERT_EQ(sched_service_replicas(manual, NULL, NULL), 1U);
        ASSERT_EQ(sched_service_replicas(manual0, NULL, NULL), 0U);
        ASSERT_EQ(sched_service_replicas(adaptive, NULL, NULL), 2U);
        ASSERT_EQ(sched_service_replicas(none, NULL, NULL), 1U);
}

TEST(service_scale) {
        _cleanup_(sched_state_freep) SchedState *s = scalable();
        _cleanup_(json_decrefp) json_t *dj = NULL;
        _cleanup_free_ const SchedScaleEvent **ev = NULL;
        _cleanup_(json_decrefp) json_t *web =
                json_pack("{s:{s:s,s:i}}", "scale", "mode", "adaptive", "min", 2);
        const SchedDeployment *d;
        size_t n;

        APPLY_OK(s, "{'op':'service_scale','deployment':'app','service':'web','replicas':4,"
                    "'reason':'manual','time':5}");
        d = sched_state_get_deployment(s, "app");
        ASSERT_EQ(json_integer_value(json_object_get(d->scale, "web")), 4);
        ASSERT_EQ(sched_service_replicas(web, d, "web"), 4U);
        ASSERT_OK(sched_state_list_scale_events(s, "app", "web", &ev, &n));
        ASSERT_EQ(n, 1U);
        ASSERT_EQ(ev[0]->from, 2U); /* adaptive min: what was asked before */
        ASSERT_EQ(ev[0]->to, 4U);
        ASSERT_STREQ(ev[0]->reason, "manual");
        ASSERT_EQ(ev[0]->time_usec, 5U);
        ev = mfree(ev);

        /* the second one starts from the override */
        APPLY_OK(s, "{'op':'service_scale','deployment':'app','service':'web','replicas':0,"
                    "'reason':'stop','time':6}");
        ASSERT_OK(sched_state_list_scale_events(s, "app", "web", &ev, &n));
        ASSERT_EQ(n, 2U);
        ASSERT_EQ(ev[1]->from, 4U);
        ASSERT_EQ(ev[1]->to, 0U);
        ev = mfree(ev);

        /* fixed services take an override too, from their spec count */
        APPLY_OK(s, "{'op':'service_scale','deployment':'app','service':'db','replicas':1,"
                    "'reason':'manual','time':7}");
        ASSERT_OK(sched_state_list_scale_events(s, "app", "db", &ev, &n));
        ASSERT_EQ(n, 1U);
        ASSERT_EQ(ev[0]->from, 3U);

        ASSERT_OK(sched_deployment_to_json(sched_state_get_deployment(s, "app"), &dj));
        ASSERT_EQ(json_integer_value(json_object_get(json_object_get(dj, "scale"), "web")), 0);
        ASSERT_EQ(json_integer_value(json_object_get(json_object_get(dj, "scale"), "db")), 1);
        ASSERT_EQ(json_integer_value(json_object_get(dj, "stop_timeout")), 0);

        ASSERT_REFUSED(s,
                       "{'op':'service_scale','deployment':'app','service':'web','replicas':1001,"
                       "'reason':'x','time':1}",
                       EINVAL, "between 0 and 1000");
        ASSERT_REFUSED(s,
                       "{'op':'service_scale','deployment':'app','service':'web','replicas':-1,"
                       "'reason':'x','time':1}",
                       EINVAL, "replicas");
        ASSERT_REFUSED(s,
                       "{'op':'service_scale','deployment':'app','service':'web','replicas':'2',"
                       "'reason':'x','time':1}",
                       EINVAL, "replicas");
        ASSERT_REFUSED(s,
                       "{'op':'service_scale','deployment':'app','service':'nope','replicas':1,"
                       "'reason':'x','time':1}",
                       ENOENT, "no service 'nope'");
        ASSERT_REFUSED(s,
                       "{'op':'service_scale','deployment':'zz','service':'web','replicas':1,"
                       "'reason':'x','time':1}",
                       ENOENT, "'zz' does not exist");
        ASSERT_REFUSED(s,
                       "{'op':'service_scale','deployment':'app','service':'cron','replicas':1,"
                       "'reason':'x','time':1}",
                       EINVAL, "is a cron, not a service");
        ASSERT_REFUSED(s,
                       "{'op':'service_scale','deployment':'app','service':'web','replicas':1,"
                       "'time':1}",
                       EINVAL, "'reason' is required");
        ASSERT_REFUSED(s,
                       "{'op':'service_scale','deployment':'app','service':'web','replicas':1,"
                       "'reason':'x'}",
                       EINVAL, "'time' is required");
        ASSERT_REFUSED(s,
                       "{'op':'service_scale','deployment':'app','service':'web','replicas':1,"
                       "'reason':'x','time':1,'scale':{}}",
                       EINVAL, "unknown field 'scale'");
        /* a deployment_put cannot set overrides itself */
        ASSERT_REFUSED(s,
                       "{'op':'deployment_put','name':'app','spec':'{}','expected_generation':1,"
                       "'scale':{'web':3}}",
                       EINVAL, "unknown field 'scale'");
}

TEST(deployment_put_drops_overrides) {
        _cleanup_(sched_state_freep) SchedState *s = scalable();
        const SchedDeployment *d;
        SchedApplyResult res;

        APPLY_OK(s, "{'op':'service_scale','deployment':'app','service':'web','replicas':4,"
                    "'reason':'manual','time':5}");
        APPLY_OK(s, "{'op':'service_scale','deployment':'app','service':'db','replicas':1,"
                    "'reason':'manual','time':5}");
        APPLY_OK(s, "{'op':'service_scale','deployment':'app','service':'m','replicas':2,"
                    "'reason':'manual','time':5}");
        /* web stays adaptive (kept), db stays fixed (dropped), m is gone (dropped) */
        ASSERT_OK(put_deployment(
                s, "app",
                spec_json("app", "\"web\":{\"scale\":{\"mode\":\"adaptive\",\"min\":1}},"
                                 "\"db\":{\"scale\":{\"mode\":\"fixed\",\"replicas\":2}}"),
                1, &res));
        d = sched_state_get_deployment(s, "app");
        ASSERT_EQ(json_object_size(d->scale), 1U);
        ASSERT_EQ(json_integer_value(json_object_get(d->scale, "web")), 4);

        /* web becomes fixed: its override goes too */
        ASSERT_OK(put_deployment(
                s, "app",
                spec_json("app", "\"web\":{\"scale\":{\"mode\":\"fixed\",\"replicas\":1}}"), 2,
                &res));
        d = sched_state_get_deployment(s, "app");
        ASSERT_EQ(json_object_size(d->scale), 0U);
}

TEST(deployment_stop_timeout) {
        _cleanup_(sched_state_freep) SchedState *s = scalable();
        _cleanup_(json_decrefp) json_t *dj = NULL;
        const SchedDeployment *d;

        ASSERT_REFUSED(s,
                       "{'op':'deployment_status','name':'app','status':'ready','stop_timeout':5,"
                       "'time':1}",
                       EINVAL, "only valid with status 'stopping'");
        ASSERT_REFUSED(s,
                       "{'op':'deployment_status','name':'app','status':'stopping',"
                       "'stop_timeout':-5,'time':1}",
                       EINVAL, "stop_timeout");
        APPLY_OK(s, "{'op':'deployment_status','name':'app','status':'stopping','stop_timeout':7,"
                    "'time':2}");
        d = sched_state_get_deployment(s, "app");
        ASSERT_EQ(d->stop_timeout, 7U);
        ASSERT_OK(sched_deployment_to_json(d, &dj));
        ASSERT_EQ(json_integer_value(json_object_get(dj, "stop_timeout")), 7);
        /* still stopping: kept when not given */
        APPLY_OK(s, "{'op':'deployment_status','name':'app','status':'stopping','message':'x',"
                    "'time':3}");
        ASSERT_EQ(sched_state_get_deployment(s, "app")->stop_timeout, 7U);
        APPLY_OK(s, "{'op':'deployment_status','name':'app','status':'failed','time':4}");
        ASSERT_EQ(sched_state_get_deployment(s, "app")->stop_timeout, 0U);
}

TEST(snapshot_scale_round_trip) {
        _cleanup_(sched_state_freep) SchedState *s = scalable(), *copy = NULL, *old = NULL;
        _cleanup_free_ char *a = NULL, *b = NULL;
        _cleanup_(json_decrefp) json_t *o = NULL;
        json_t *dep;
        size_t len, i;

        APPLY_OK(s, "{'op':'service_scale','deployment':'app','service':'web','replicas':4,"
                    "'reason':'manual','time':5}");
        APPLY_OK(s, "{'op':'deployment_status','name':'app','status':'stopping','stop_timeout':9,"
                    "'time':6}");
        ASSERT_OK(sched_state_snapshot(s, &a, &len));
        ASSERT_OK(sched_state_restore(a, len, &copy));
        ASSERT_OK(sched_state_snapshot(copy, &b, &len));
        ASSERT_STREQ(a, b);
        ASSERT_EQ(json_integer_value(
                          json_object_get(sched_state_get_deployment(copy, "app")->scale, "web")),
                  4);
        ASSERT_EQ(sched_state_get_deployment(copy, "app")->stop_timeout, 9U);

        /* a snapshot written before these fields existed restores with no overrides */
        o = json_loads(a, 0, NULL);
        ASSERT_NOT_NULL(o);
        json_array_foreach (json_object_get(o, "deployments"), i, dep) {
                ASSERT_OK(json_object_del(dep, "scale"));
                ASSERT_OK(json_object_del(dep, "stop_timeout"));
        }
        b = mfree(b);
        b = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
        ASSERT_NOT_NULL(b);
        ASSERT_OK(sched_state_restore(b, strlen(b), &old));
        ASSERT_EQ(json_object_size(sched_state_get_deployment(old, "app")->scale), 0U);
        ASSERT_EQ(sched_state_get_deployment(old, "app")->stop_timeout, 0U);

        /* bad override values in a snapshot are refused */
        json_array_foreach (json_object_get(o, "deployments"), i, dep)
                ASSERT_OK(json_object_set_new(dep, "scale", json_pack("{s:i}", "web", 5000)));
        b = mfree(b);
        b = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
        ASSERT_NOT_NULL(b);
        ASSERT_ERROR(sched_state_restore(b, strlen(b), &copy), EBADMSG);
}
