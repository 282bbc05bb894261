/* SPDX-License-Identifier: Apache-2.0 */
/* test-spec.c: the deployment spec parser: rules with their positions, canonical form, dumps
 * and round trips. */
#include <stdio.h>

#include "string-util.h"
#include "tests.h"
#include "zlayer/spec.h"

#define HEAD "version: v1\ndeployment: my-app\nservices:\n"

static ZlSpec *parse_ok(const char *s) {
        ZlDiagList d = {};
        ZlSpec *spec = NULL;
        int r;

        r = zl_spec_parse_string(s, strlen(s), "test.yaml", &spec, &d);
        for (size_t i = 0; i < d.n_items; i++)
                printf("# %u:%u %s: %s\n", d.items[i].line, d.items[i].column, d.items[i].path,
                       d.items[i].message);
        ASSERT_OK(r);
        ASSERT_EQ(d.n_errors, 0u);
        zl_diag_list_done(&d);
        return spec;
}

static const json_t *svc(const ZlSpec *spec, const char *name) {
        return json_object_get(json_object_get(zl_spec_get_json(spec), "services"), name);
}

/* Parses s expecting errors; checks that error `index` is at line:column with path and a
 * message containing `message` (and the hint, if not NULL). Returns the number of errors. */
static size_t check_error(const char *s, size_t index, unsigned line, unsigned column,
                          const char *path, const char *message, const char *hint) {
        ZlDiagList d = {};
        ZlSpec *spec = NULL;
        size_t n;

        ASSERT_ERROR(zl_spec_parse_string(s, strlen(s), "test.yaml", &spec, &d), EINVAL);
        ASSERT_NULL(spec);
        for (size_t i = 0; i < d.n_items; i++)
                printf("# %u:%u %s: %s [%s]\n", d.items[i].line, d.items[i].column, d.items[i].path,
                       d.items[i].message, strna(d.items[i].hint));
        ASSERT_LT(index, d.n_items);
        ASSERT_EQ(d.n_errors, d.n_items);
        ASSERT_EQ(d.items[index].severity, ZL_DIAG_ERROR);
        ASSERT_EQ(d.items[index].line, line);
        ASSERT_EQ(d.items[index].column, column);
        ASSERT_STREQ(d.items[index].path, path);
        if (!strstr(d.items[index].message, message))
                test_fail(__FILE__, __LINE__, "message '%s' lacks '%s'", d.items[index].message,
                          message);
        if (hint)
                ASSERT_STREQ(d.items[index].hint, hint);
        n = d.n_items;
        zl_diag_list_done(&d);
        return n;
}

static void check_round_trip(const ZlSpec *spec) {
        _cleanup_free_ char *json = NULL, *yaml = NULL, *json2 = NULL, *json3 = NULL;
        ZlSpec *a, *b;

        ASSERT_OK(zl_spec_dump_json(spec, &json));
        ASSERT_OK(zl_spec_dump_yaml(spec, &yaml));
        ASSERT_TRUE(endswith(json, "}\n") != NULL);
        a = parse_ok(yaml);
        b = parse_ok(json);
        ASSERT_OK(zl_spec_dump_json(a, &json2));
        ASSERT_OK(zl_spec_dump_json(b, &json3));
        ASSERT_STREQ(json2, json);
        ASSERT_STREQ(json3, json);
        zl_spec_unref(a);
        zl_spec_unref(b);
}

static const char readme_web[] = "version: v1\n"
                                 "deployment: my-app\n"
                                 "\n"
                                 "services:\n"
                                 "  web:\n"
                                 "    rtype: service\n"
                                 "    image:\n"
                                 "      name: nginx:latest\n"
                                 "    endpoints:\n"
                                 "      - name: http\n"
                                 "        protocol: http\n"
                                 "        port: 80\n"
                                 "        expose: public\n"
                                 "    scale:\n"
                                 "      mode: adaptive\n"
                                 "      min: 1\n"
                                 "      max: 5\n"
                                 "    health:\n"
                                 "      check:\n"
                                 "        type: http\n"
                                 "        url: /health\n"
                                 "        expect_status: 200\n";

static const char readme_storage[] = "version: v1\n"
                                     "deployment: storage-demo\n"
                                     "services:\n"
                                     "  api:\n"
                                     "    image:\n"
                                     "      name: myapi:latest\n"
                                     "    storage:\n"
                                     "      - type: bind\n"
                                     "        source: /etc/myapp/config\n"
                                     "        target: /app/config\n"
                                     "        readonly: true\n"
                                     "      - type: named\n"
                                     "        name: api-data\n"
                                     "        target: /app/data\n"
                                     "        tier: local\n"
                                     "      - type: anonymous\n"
                                     "        target: /app/cache\n"
                                     "      - type: tmpfs\n"
                                     "        target: /app/tmp\n"
                                     "        size: 256Mi\n"
                                     "        mode: 1777\n"
                                     "      - type: s3\n"
                                     "        bucket: my-models\n"
                                     "        prefix: v1/\n"
                                     "        target: /app/models\n"
                                     "        readonly: true\n"
                                     "        endpoint: https://s3.us-west-2.amazonaws.com\n"
                                     "    init:\n"
                                     "      - action: init.s3_pull\n"
                                     "        bucket: my-artifacts\n"
                                     "        key: models/latest.bin\n"
                                     "        destination: /app/models/model.bin\n";

TEST(readme_web) {
        ZlSpec *spec = parse_ok(readme_web);
        const json_t *w = svc(spec, "web"), *e, *h;

        ASSERT_STREQ(zl_spec_get_deployment(spec), "my-app");
        ASSERT_STREQ(json_string_value(json_object_get(json_object_get(w, "image"), "name")),
                     "docker.io/library/nginx:latest");
        e = json_array_get(json_object_get(w, "endpoints"), 0);
        ASSERT_EQ(json_integer_value(json_object_get(e, "target_port")), 80);
        ASSERT_STREQ(json_string_value(json_object_get(e, "expose")), "public");
        ASSERT_NULL(json_object_get(e, "path"));
        h = json_object_get(w, "health");
        ASSERT_EQ(json_integer_value(json_object_get(h, "interval")), 10000);
        ASSERT_EQ(json_integer_value(json_object_get(h, "timeout")), 5000);
        ASSERT_EQ(json_integer_value(json_object_get(h, "retries")), 3);
        ASSERT_STREQ(json_string_value(json_object_get(json_object_get(h, "check"), "url")),
                     "/health");
        ASSERT_EQ(json_integer_value(json_object_get(json_object_get(w, "scale"), "cooldown")),
                  30000);
        ASSERT_EQ(json_integer_value(json_object_get(json_object_get(w, "scale"), "max")), 5);
        ASSERT_NULL(json_object_get(w, "init"));
        ASSERT_NULL(json_object_get(w, "resources"));
        ASSERT_STREQ(json_string_value(json_object_get(w, "stop_signal")), "SIGTERM");
        check_round_trip(spec);
        ASSERT_TRUE(zl_spec_ref(spec) == spec);
        ASSERT_NULL(zl_spec_unref(spec));
        ASSERT_NULL(zl_spec_unref(spec));
}

TEST(readme_storage) {
        ZlSpec *spec = parse_ok(readme_storage);
        const json_t *a = svc(spec, "api"), *st = json_object_get(a, "storage"), *step;

        ASSERT_EQ(json_array_size(st), 5u);
        ASSERT_EQ(json_integer_value(json_object_get(json_array_get(st, 3), "mode")), 01777);
        ASSERT_EQ(json_integer_value(json_object_get(json_array_get(st, 3), "size")),
                  256 * 1024 * 1024);
        ASSERT_STREQ(json_string_value(json_object_get(json_array_get(st, 2), "tier")), "local");
        ASSERT_NULL(json_object_get(json_array_get(st, 2), "readonly"));
        ASSERT_TRUE(json_is_false(json_object_get(json_array_get(st, 1), "readonly")));
        step = json_array_get(json_object_get(json_object_get(a, "init"), "steps"), 0);
        ASSERT_STREQ(json_string_value(json_object_get(step, "id")), "init.s3_pull-0");
        ASSERT_STREQ(json_string_value(json_object_get(step, "uses")), "init.s3_pull");
        ASSERT_EQ(json_integer_value(json_object_get(step, "retry")), 0);
        ASSERT_STREQ(json_string_value(json_object_get(step, "on_failure")), "fail");
        ASSERT_NULL(json_object_get(step, "timeout"));
        ASSERT_STREQ(
                json_string_value(json_object_get(json_object_get(step, "with"), "destination")),
                "/app/models/model.bin");
        /* No endpoints and no check: a running replica counts as healthy. */
        ASSERT_NULL(json_object_get(json_object_get(a, "health"), "check"));
        check_round_trip(spec);
        zl_spec_unref(spec);
}

TEST(dump_formats) {
        ZlSpec *spec = parse_ok(readme_storage);
        _cleanup_free_ char *yaml = NULL, *json = NULL;

        ASSERT_OK(zl_spec_dump_yaml(spec, &yaml));
        ASSERT_TRUE(startswith(yaml, "version: v1\ndeployment: storage-demo\nservices:\n"));
        ASSERT_TRUE(strstr(yaml, "mode: \"01777\"") != NULL);
        ASSERT_TRUE(strstr(yaml, "cooldown: 30s") != NULL);
        ASSERT_TRUE(strstr(yaml, "stop_grace_period: 30s") != NULL);
        ASSERT_TRUE(strstr(yaml, "start_grace: 0s") != NULL);
        /* Schema order within a service. */
        ASSERT_TRUE(strstr(yaml, "rtype:") < strstr(yaml, "image:"));
        ASSERT_TRUE(strstr(yaml, "storage:") < strstr(yaml, "network:"));
        ASSERT_OK(zl_spec_dump_json(spec, &json));
        ASSERT_TRUE(startswith(json, "{\n  \"deployment\": \"storage-demo\",\n"));
        ASSERT_TRUE(strstr(json, "\"mode\": 1023") != NULL);
        zl_spec_unref(spec);
}

TEST(init_forms_are_equal) {
        static const char *const forms[] = {
                HEAD "  a:\n    image: {name: x}\n    init:\n"
                     "      - action: init.wait_tcp\n        host: db\n        port: 5432\n"
                     "      - action: init.run\n        command: echo hi\n        retry: 2\n",
                HEAD "  a:\n    image: {name: x}\n    init:\n"
                     "      - uses: init.wait_tcp\n        with: {host: db, port: 5432}\n"
                     "      - uses: init.run\n        with: {command: echo hi}\n        retry: 2\n",
                HEAD "  a:\n    image: {name: x}\n    init:\n      steps:\n"
                     "        - {uses: init.wait_tcp, id: init.wait_tcp-0, with: {host: db, port: "
                     "5432, timeout: 30s}}\n"
                     "        - {uses: init.run, with: {command: echo hi, timeout: 5m}, retry: 2, "
                     "on_failure: fail}\n",
        };
        _cleanup_free_ char *first = NULL;

        for (size_t i = 0; i < ELEMENTSOF(forms); i++) {
                ZlSpec *spec = parse_ok(forms[i]);
                const json_t *steps =
                        json_object_get(json_object_get(svc(spec, "a"), "init"), "steps");
                char *s = json_dumps(steps, JSON_SORT_KEYS);

                ASSERT_NOT_NULL(s);
                if (!first)
                        first = s;
                else {
                        ASSERT_STREQ(s, first);
                        free(s);
                }
                check_round_trip(spec);
                zl_spec_unref(spec);
        }
        ASSERT_STREQ(first,
                     "[{\"id\": \"init.wait_tcp-0\", \"on_failure\": \"fail\", \"retry\": 0, "
                     "\"uses\": \"init.wait_tcp\", \"with\": {\"host\": \"db\", \"port\": 5432, "
                     "\"timeout\": 30000}}, {\"id\": \"init.run-1\", \"on_failure\": \"fail\", "
                     "\"retry\": 2, \"uses\": \"init.run\", \"with\": {\"command\": \"echo hi\", "
                     "\"timeout\": 300000}}]");
}

TEST(canonical_json_input) {
        const char *s = "{\"version\": \"v1\", \"deployment\": \"abc\", \"services\": {\"w\": "
                        "{\"image\": {\"name\": \"nginx\"}, \"stop_grace_period\": 1500, "
                        "\"storage\": [{\"type\": \"tmpfs\", \"target\": \"/t\", \"mode\": 1023}], "
                        "\"resources\": {\"cpu\": 2, \"memory\": 1048576}}}}";
        ZlSpec *spec = parse_ok(s);
        const json_t *w = svc(spec, "w");

        ASSERT_EQ(json_integer_value(json_object_get(w, "stop_grace_period")), 1500);
        ASSERT_EQ(json_integer_value(json_object_get(
                          json_array_get(json_object_get(w, "storage"), 0), "mode")),
                  01777);
        ASSERT_TRUE(json_is_real(json_object_get(json_object_get(w, "resources"), "cpu")));
        check_round_trip(spec);
        zl_spec_unref(spec);

        /* In block YAML the same numbers are errors or octal digits. */
        check_error(HEAD "  w:\n    image: {name: nginx}\n    stop_grace_period: 1500\n", 0, 6, 24,
                    "services.w.stop_grace_period",
                    "expected a duration with a unit such as \"30s\" or \"5m\", found 1500",
                    "did you mean \"1500s\"?");
        check_error(HEAD "  w:\n    image: {name: nginx}\n    storage:\n"
                         "      - {type: tmpfs, target: /t, mode: 1089}\n",
                    0, 7, 41, "services.w.storage[0].mode", "expected an octal file mode", NULL);
}

TEST(scalar_typing) {
        ZlSpec *spec = parse_ok(HEAD "  w:\n    image: {name: nginx}\n"
                                     "    env: {PORT: 8080, DEBUG: true, RATIO: 0.5, S: \"x\"}\n"
                                     "    labels: {version: 2}\n"
                                     "    user: 1000\n"
                                     "    privileged: TRUE\n"
                                     "    resources: {cpu: 500m, memory: 512Mi, pids: 100}\n"
                                     "    endpoints: ~\n"
                                     "    scale: {mode: fixed}\n"
                                     "    storage: [{type: tmpfs, target: /x, mode: \"0755\"}, "
                                     "{type: tmpfs, target: /y//z/./, mode: 0o700}]\n"
                                     "    capabilities: [net_admin, CAP_NET_ADMIN, Sys_Admin]\n"
                                     "    stop_signal: int\n");
        const json_t *w = svc(spec, "w"), *env = json_object_get(w, "env");

        ASSERT_STREQ(json_string_value(json_object_get(env, "PORT")), "8080");
        ASSERT_STREQ(json_string_value(json_object_get(env, "DEBUG")), "true");
        ASSERT_STREQ(json_string_value(json_object_get(env, "RATIO")), "0.5");
        ASSERT_STREQ(json_string_value(json_object_get(json_object_get(w, "labels"), "version")),
                     "2");
        ASSERT_STREQ(json_string_value(json_object_get(w, "user")), "1000");
        ASSERT_TRUE(json_is_true(json_object_get(w, "privileged")));
        ASSERT_DOUBLE_EQ(json_real_value(json_object_get(json_object_get(w, "resources"), "cpu")),
                         0.5);
        ASSERT_EQ(json_integer_value(json_object_get(json_object_get(w, "resources"), "memory")),
                  512 * 1024 * 1024);
        ASSERT_EQ(json_array_size(json_object_get(w, "endpoints")), 0u);
        ASSERT_EQ(json_integer_value(json_object_get(json_object_get(w, "scale"), "replicas")), 1);
        ASSERT_NULL(json_object_get(json_object_get(w, "scale"), "min"));
        ASSERT_EQ(json_integer_value(json_object_get(
                          json_array_get(json_object_get(w, "storage"), 0), "mode")),
                  0755);
        ASSERT_STREQ(json_string_value(json_object_get(
                             json_array_get(json_object_get(w, "storage"), 1), "target")),
                     "/y/z");
        ASSERT_EQ(json_array_size(json_object_get(w, "capabilities")), 2u);
        ASSERT_STREQ(json_string_value(json_array_get(json_object_get(w, "capabilities"), 1)),
                     "CAP_SYS_ADMIN");
        ASSERT_STREQ(json_string_value(json_object_get(w, "stop_signal")), "SIGINT");
        check_round_trip(spec);
        zl_spec_unref(spec);
}

TEST(health_defaults) {
        ZlSpec *spec =
                parse_ok(HEAD "  w:\n    image: {name: nginx}\n"
                              "    endpoints:\n"
                              "      - {name: a, protocol: tcp, port: 5000, target_port: 6000}\n"
                              "      - {name: b, protocol: http, port: 80}\n"
                              "  v:\n    image: {name: nginx}\n"
                              "    endpoints: [{name: a, protocol: udp, port: 53}]\n"
                              "    health: {check: {type: tcp}, interval: 1m30s}\n");
        const json_t *c = json_object_get(json_object_get(svc(spec, "w"), "health"), "check");

        ASSERT_STREQ(json_string_value(json_object_get(c, "type")), "tcp");
        ASSERT_EQ(json_integer_value(json_object_get(c, "port")), 6000);
        c = json_object_get(json_object_get(svc(spec, "v"), "health"), "check");
        ASSERT_EQ(json_integer_value(json_object_get(c, "port")), 53);
        ASSERT_EQ(json_integer_value(
                          json_object_get(json_object_get(svc(spec, "v"), "health"), "interval")),
                  90000);
        check_round_trip(spec);
        zl_spec_unref(spec);
}

TEST(network_merge) {
        ZlSpec *spec = parse_ok(HEAD "  w:\n    image: {name: nginx}\n"
                                     "    network: {overlays: {global: {enabled: false}}, join: "
                                     "{mode: open}}\n"
                                     "    node_selector: {labels: {zone: a}}\n");
        const json_t *n = json_object_get(svc(spec, "w"), "network");
        _cleanup_free_ char *s = json_dumps(n, JSON_SORT_KEYS);

        ASSERT_STREQ(s, "{\"join\": {\"mode\": \"open\", \"scope\": \"service\"}, \"overlays\": "
                        "{\"global\": {\"enabled\": false, \"encrypted\": true, \"isolated\": "
                        "false}, \"service\": {\"enabled\": true, \"encrypted\": true, "
                        "\"isolated\": false}}}");
        ASSERT_EQ(json_object_size(json_object_get(json_object_get(svc(spec, "w"), "node_selector"),
                                                   "prefer_labels")),
                  0u);
        check_round_trip(spec);
        zl_spec_unref(spec);
}

TEST(cron_schedule) {
        ZlSpec *spec = parse_ok(HEAD "  c:\n    rtype: cron\n    schedule: \"@daily\"\n"
                                     "    image: {name: busybox}\n");

        ASSERT_NOT_NULL(json_string_value(json_object_get(svc(spec, "c"), "schedule")));
        check_round_trip(spec);
        zl_spec_unref(spec);

        check_error(HEAD "  c:\n    rtype: cron\n    image: {name: busybox}\n", 0, 5, 5,
                    "services.c.schedule", "missing required key 'schedule'", NULL);
        check_error(HEAD "  c:\n    schedule: \"@daily\"\n    image: {name: busybox}\n", 0, 5, 5,
                    "services.c.schedule", "only allowed with rtype cron", NULL);
        check_error(HEAD "  c:\n    rtype: cron\n    schedule: \"61 * * * *\"\n"
                         "    image: {name: busybox}\n",
                    0, 6, 15, "services.c.schedule", "expected a cron expression", NULL);
}

TEST(top_level_errors) {
        check_error("deployment: my-app\nservices:\n  w:\n    image: {name: x}\n", 0, 1, 1,
                    "version", "missing required key 'version'", NULL);
        check_error("version: v2\ndeployment: my-app\nservices:\n  w:\n    image: {name: x}\n", 0,
                    1, 10, "version", "expected one of v1, found 'v2'", NULL);
        check_error("version: v1\ndeployment: ab\nservices:\n  w:\n    image: {name: x}\n", 0, 2,
                    13, "deployment", "expected a deployment name", NULL);
        check_error("version: v1\ndeployment: abc\nservices: {}\n", 0, 3, 11, "services",
                    "expected at least one service", NULL);
        check_error("version: v1\ndeployment: abc\nservice:\n  w: {}\n", 1, 3, 1, "service",
                    "unknown key 'service'; allowed keys: version, deployment, services",
                    "did you mean 'services'?");
        check_error("", 0, 0, 0, "", "empty document", NULL);
        check_error("---\n", 0, 0, 0, "", "empty document", NULL);
        check_error("- a\n", 0, 1, 1, "", "expected a mapping, found a list", NULL);
        check_error(HEAD "  w:\n    image: {name: x}\n---\nversion: v1\n", 0, 6, 1, "",
                    "second document", NULL);
        check_error(HEAD "  w:\n    image: {name: x}\n  w:\n    image: {name: y}\n", 0, 6, 3,
                    "services.w", "duplicate key 'w', first defined at line 4", NULL);
        check_error(HEAD "  Web:\n    image: {name: x}\n", 0, 4, 3, "services.Web",
                    "expected a service name that is a DNS label", NULL);
        check_error(HEAD "  w:\n    image: {name: x}\n  bad: [\n", 0, 7, 1, "services.bad[0]", "",
                    NULL);
}

TEST(service_errors) {
        check_error(HEAD "  w:\n    rtype: service\n", 0, 5, 5, "services.w.image",
                    "missing required key 'image'", NULL);
        check_error(HEAD "  w:\n    image: {name: x}\n    scale: {mode: adaptive, replica: 3}\n", 0,
                    6, 29, "services.w.scale.replica",
                    "unknown key 'replica'; allowed keys: mode, min, max, cooldown, targets",
                    "did you mean 'replicas'?");
        check_error(HEAD "  w:\n    image: {name: x}\n    scale: {mode: fixed, min: 3}\n", 0, 6, 26,
                    "services.w.scale.min",
                    "key 'min' is not allowed with mode fixed; allowed keys: mode, replicas", NULL);
        check_error(HEAD "  w:\n    image: {name: x}\n    scale: {min: 5, max: 2}\n", 0, 6, 26,
                    "services.w.scale.max", "expected max >= min", NULL);
        check_error(HEAD "  w:\n    image: {name: x}\n    scale: {max: 0}\n", 0, 6, 18,
                    "services.w.scale.max", "expected an integer between 1 and 1000, found 0",
                    NULL);
        check_error(HEAD "  w:\n    image: {name: x}\n    endpoints:\n"
                         "      - {name: a, protocol: htp, port: 70000}\n",
                    0, 7, 29, "services.w.endpoints[0].protocol",
                    "expected one of http, https, tcp, udp, websocket, found 'htp'",
                    "did you mean 'http'?");
        check_error(HEAD "  w:\n    image: {name: x}\n    endpoints:\n"
                         "      - {name: a, protocol: htp, port: 70000}\n",
                    1, 7, 40, "services.w.endpoints[0].port",
                    "expected an integer between 1 and 65535, found 70000", NULL);
        check_error(HEAD "  w:\n    image: {name: x}\n    endpoints:\n"
                         "      - {name: a, protocol: tcp, port: \"80\"}\n",
                    0, 7, 40, "services.w.endpoints[0].port",
                    "expected an integer, found string '80'", NULL);
        check_error(HEAD "  w:\n    image: {name: x}\n    endpoints:\n"
                         "      - {name: a, protocol: tcp, port: 80}\n"
                         "      - {name: a, protocol: tcp, port: 81}\n",
                    0, 8, 16, "services.w.endpoints[1].name", "duplicate endpoint name 'a'", NULL);
        check_error(HEAD "  w:\n    image: {name: x}\n    endpoints:\n"
                         "      - {protocol: tcp, port: 80}\n",
                    0, 7, 9, "services.w.endpoints[0].name", "missing required key 'name'", NULL);
        check_error(HEAD "  w:\n    image: {name: x}\n    health: {check: {type: tcp}}\n", 0, 6, 21,
                    "services.w.health.check.port", "missing required key 'port'", NULL);
        check_error(HEAD "  w:\n    image: {name: x}\n    endpoints: [{name: a, protocol: tcp, "
                         "port: 1}]\n    health: {check: {type: http, url: /h}}\n",
                    0, 7, 39, "services.w.health.check.url", "websocket endpoint", NULL);
        check_error(HEAD "  w:\n    image: {name: x}\n    health: {check: {type: http}}\n", 0, 6,
                    21, "services.w.health.check.url", "missing required key 'url'", NULL);
        check_error(HEAD "  w:\n    image: {name: x}\n    health: {check: {port: 80}}\n", 0, 6, 21,
                    "services.w.health.check.type", "missing required key 'type'", NULL);
        check_error(HEAD "  w:\n    image: {name: x}\n    health: {retries: 101}\n", 0, 6, 23,
                    "services.w.health.retries", "between 0 and 100", NULL);
        check_error(HEAD "  w:\n    image: {name: Nginx}\n", 0, 5, 19, "services.w.image.name",
                    "expected an OCI image reference", NULL);
        check_error(HEAD "  w:\n    image: {name: x, pull_policy: sometimes}\n", 0, 5, 35,
                    "services.w.image.pull_policy", "expected one of always, if_not_present, never",
                    NULL);
        check_error(HEAD "  w:\n    image: {name: x}\n    env: {1X: a, Y: $E:1}\n", 0, 6, 11,
                    "services.w.env.1X", "expected a variable name", NULL);
        check_error(HEAD "  w:\n    image: {name: x}\n    env: {1X: a, Y: $E:1}\n", 1, 6, 21,
                    "services.w.env.Y", "after '$E:'", NULL);
        check_error(HEAD "  w:\n    image: {name: x}\n    capabilities: [NET_ADMN]\n", 0, 6, 20,
                    "services.w.capabilities[0]", "expected a capability name",
                    "did you mean 'CAP_NET_ADMIN'?");
        check_error(HEAD "  w:\n    image: {name: x}\n    stop_signal: SIGTREM\n", 0, 6, 18,
                    "services.w.stop_signal", "expected a signal name", "did you mean 'SIGTERM'?");
        check_error(HEAD "  w:\n    image: {name: x}\n    privileged: yes\n", 0, 6, 17,
                    "services.w.privileged",
                    "expected a boolean (true or false), found string "
                    "'yes'",
                    NULL);
        check_error(HEAD
                    "  w:\n    image: {name: x}\n    resources: {cpu: 0, memory: 0, pids: 0}\n",
                    0, 6, 22, "services.w.resources.cpu", "CPU cores", NULL);
        check_error(HEAD
                    "  w:\n    image: {name: x}\n    resources: {cpu: 0, memory: 0, pids: 0}\n",
                    1, 6, 33, "services.w.resources.memory", "a size greater than 0", NULL);
        check_error(HEAD
                    "  w:\n    image: {name: x}\n    resources: {cpu: 0, memory: 0, pids: 0}\n",
                    2, 6, 42, "services.w.resources.pids", "an integer >= 1", NULL);
        check_error(HEAD "  w:\n    image: {name: x}\n    scale: {targets: {cpu: 0}}\n", 0, 6, 28,
                    "services.w.scale.targets.cpu", "percentage between 1 and 100", NULL);
        check_error(HEAD "  w:\n    image: {name: x}\n    errors: {on_panic: {action: stop}}\n", 0,
                    6, 33, "services.w.errors.on_panic.action",
                    "expected one of restart, shutdown, isolate", NULL);
        check_error(HEAD "  w:\n    image: {name: x}\n    devices: [{path: dev/null}]\n", 0, 6, 22,
                    "services.w.devices[0].path", "expected an absolute path", NULL);
}

TEST(storage_errors) {
        check_error(HEAD "  w:\n    image: {name: x}\n    storage: [{type: bind, target: /a}]\n", 0,
                    6, 15, "services.w.storage[0].source", "missing required key 'source'", NULL);
        check_error(HEAD "  w:\n    image: {name: x}\n    storage: [{target: /a}]\n", 0, 6, 15,
                    "services.w.storage[0].type", "missing required key 'type'", NULL);
        check_error(HEAD "  w:\n    image: {name: x}\n    storage: [{type: nfs, target: /a}]\n", 0,
                    6, 22, "services.w.storage[0].type",
                    "expected one of bind, named, anonymous, tmpfs, s3, found 'nfs'", NULL);
        check_error(HEAD "  w:\n    image: {name: x}\n    storage: [{type: tmpfs, target: /}]\n", 0,
                    6, 37, "services.w.storage[0].target", "other than '/'", NULL);
        check_error(HEAD
                    "  w:\n    image: {name: x}\n    storage: [{type: tmpfs, target: /a/../b}]\n",
                    0, 6, 37, "services.w.storage[0].target", "'..'", NULL);
        check_error(
                HEAD "  w:\n    image: {name: x}\n    storage:\n"
                     "      - {type: tmpfs, target: /a}\n      - {type: anonymous, target: /a/}\n",
                0, 8, 35, "services.w.storage[1].target", "duplicate storage target '/a'", NULL);
        check_error(HEAD
                    "  w:\n    image: {name: x}\n    storage: [{type: tmpfs, target: /a, mode: "
                    "1789}]\n",
                    0, 6, 47, "services.w.storage[0].mode", "octal file mode", NULL);
        check_error(HEAD "  w:\n    image: {name: x}\n    storage: [{type: anonymous, target: /a, "
                         "readonly: true}]\n",
                    0, 6, 45, "services.w.storage[0].readonly",
                    "key 'readonly' is not allowed with type anonymous", NULL);
        check_error(HEAD "  w:\n    image: {name: x}\n    storage: [{type: s3, bucket: b, target: "
                         "/a, credentials: {access_key: $E:K}}]\n",
                    0, 6, 62, "services.w.storage[0].credentials.secret_key",
                    "missing required key 'secret_key'", NULL);
        check_error(HEAD "  w:\n    image: {name: x}\n    storage: [{type: named, name: Data, "
                         "target: /a}]\n",
                    0, 6, 35, "services.w.storage[0].name", "expected a DNS label", NULL);
}

TEST(depends) {
        ZlSpec *spec = parse_ok(HEAD "  a:\n    image: {name: x}\n    depends: [{service: b}]\n"
                                     "  b:\n    image: {name: x}\n");
        const json_t *d = json_array_get(json_object_get(svc(spec, "a"), "depends"), 0);

        ASSERT_STREQ(json_string_value(json_object_get(d, "condition")), "healthy");
        ASSERT_EQ(json_integer_value(json_object_get(d, "timeout")), 300000);
        ASSERT_STREQ(json_string_value(json_object_get(d, "on_timeout")), "fail");
        zl_spec_unref(spec);

        check_error(HEAD "  web:\n    image: {name: x}\n    depends: [{service: api}]\n"
                         "  api:\n    image: {name: x}\n    depends: [{service: web}]\n",
                    0, 6, 25, "services.web.depends[0].service",
                    "dependency cycle: web -> api -> web", NULL);
        check_error(HEAD "  a:\n    image: {name: x}\n    depends: [{service: b}]\n"
                         "  b:\n    image: {name: x}\n    depends: [{service: c}]\n"
                         "  c:\n    image: {name: x}\n    depends: [{service: a}]\n",
                    0, 6, 25, "services.a.depends[0].service", "dependency cycle: a -> b -> c -> a",
                    NULL);
        check_error(HEAD "  web:\n    image: {name: x}\n    depends: [{service: web}]\n", 0, 6, 25,
                    "services.web.depends[0].service", "found 'web' itself", NULL);
        check_error(HEAD "  web:\n    image: {name: x}\n    depends: [{service: dbb}]\n"
                         "  db:\n    image: {name: x}\n",
                    0, 6, 25, "services.web.depends[0].service",
                    "expected one of the services web, db, found 'dbb'", "did you mean 'db'?");
        /* A service that is invalid otherwise still has its dependencies checked. */
        ASSERT_EQ(check_error(HEAD "  web:\n    image: {name: X}\n    depends: [{service: nope}]\n",
                              1, 6, 25, "services.web.depends[0].service", "found 'nope'", NULL),
                  2u);
}

TEST(init_errors) {
        check_error(HEAD "  w:\n    image: {name: x}\n    init:\n      - action: init.bogus\n"
                         "        whatever: 1\n",
                    0, 7, 17, "services.w.init[0].action",
                    "expected one of init.wait_tcp, init.wait_http, init.run, init.s3_pull, "
                    "init.s3_push, found 'init.bogus'",
                    NULL);
        check_error(HEAD "  w:\n    image: {name: x}\n    init:\n      - action: init.wait_tcp\n"
                         "        host: db\n",
                    0, 7, 9, "services.w.init[0].port", "missing required key 'port'", NULL);
        check_error(HEAD "  w:\n    image: {name: x}\n    init:\n      - action: init.run\n"
                         "        command: x\n        comand: y\n",
                    0, 9, 9, "services.w.init[0].comand", "unknown key 'comand'",
                    "did you mean 'command'?");
        check_error(HEAD "  w:\n    image: {name: x}\n    init:\n      - uses: init.run\n"
                         "        with: {command: x, port: 1}\n",
                    0, 8, 28, "services.w.init[0].with.port", "unknown key 'port'", NULL);
        check_error(HEAD "  w:\n    image: {name: x}\n    init:\n      - uses: init.run\n"
                         "        with: {command: 1}\n        retry: 101\n",
                    0, 9, 16, "services.w.init[0].retry", "between 0 and 100", NULL);
        check_error(HEAD "  w:\n    image: {name: x}\n    init:\n      - uses: init.wait_tcp\n"
                         "        with: {host: h, port: x}\n",
                    0, 8, 31, "services.w.init[0].with.port", "expected an integer", NULL);
        check_error(HEAD "  w:\n    image: {name: x}\n    init:\n"
                         "      - {action: init.run, command: a, id: s}\n"
                         "      - {action: init.run, command: b, id: s}\n",
                    0, 8, 44, "services.w.init[1].id", "duplicate init step id 's'", NULL);
        check_error(HEAD "  w:\n    image: {name: x}\n    init: {stepz: []}\n", 1, 6, 12,
                    "services.w.init.stepz", "unknown key 'stepz'", "did you mean 'steps'?");
        check_error(HEAD "  w:\n    image: {name: x}\n    init: run\n", 0, 6, 11, "services.w.init",
                    "expected a list of init steps", NULL);
}

TEST(all_errors_in_one_run) {
        ZlDiagList d = {};
        ZlSpec *spec = NULL;
        const char *s = HEAD "  w:\n    image: {name: Bad}\n    replica: 3\n"
                             "    endpoints: [{name: a, protocol: tcp, port: 0}]\n"
                             "  v:\n    image: {name: ok}\n    stop_grace_period: 30\n";

        ASSERT_ERROR(zl_spec_parse_string(s, strlen(s), NULL, &spec, &d), EINVAL);
        ASSERT_EQ(d.n_items, 4u);
        ASSERT_EQ(d.n_errors, 4u);
        for (size_t i = 1; i < d.n_items; i++)
                ASSERT_TRUE(d.items[i - 1].line < d.items[i].line ||
                            (d.items[i - 1].line == d.items[i].line &&
                             d.items[i - 1].column <= d.items[i].column));
        ASSERT_STREQ(d.items[0].path, "services.w.image.name");
        ASSERT_STREQ(d.items[1].path, "services.w.replica");
        ASSERT_STREQ(d.items[2].path, "services.w.endpoints[0].port");
        ASSERT_STREQ(d.items[3].path, "services.v.stop_grace_period");
        zl_diag_list_done(&d);
        ASSERT_EQ(d.n_items, 0u);

        /* diags may be NULL. */
        ASSERT_ERROR(zl_spec_parse_string(s, strlen(s), NULL, &spec, NULL), EINVAL);
}

TEST(anchors_in_specs) {
        ZlSpec *spec = parse_ok(HEAD "  a:\n    image: &img {name: nginx}\n    env: &env {A: b}\n"
                                     "  b:\n    image: *img\n    env: *env\n");

        ASSERT_STREQ(
                json_string_value(json_object_get(json_object_get(svc(spec, "b"), "env"), "A")),
                "b");
        zl_spec_unref(spec);
}

TEST(parse_file) {
        char path[PATH_MAX];
        ZlSpec *spec = NULL;
        ZlDiagList d = {};
        FILE *f;

        snprintf(path, sizeof path, "%s/spec.yaml", test_tmpdir());
        f = fopen(path, "we");
        ASSERT_NOT_NULL(f);
        fputs(readme_web, f);
        fclose(f);
        ASSERT_OK(zl_spec_parse_file(path, &spec, &d));
        ASSERT_STREQ(zl_spec_get_deployment(spec), "my-app");
        zl_spec_unref(spec);
        snprintf(path, sizeof path, "%s/missing.yaml", test_tmpdir());
        ASSERT_ERROR(zl_spec_parse_file(path, &spec, &d), ENOENT);
        ASSERT_EQ(d.n_items, 0u);
}

TEST(quoting_in_yaml_dump) {
        ZlSpec *spec = parse_ok(HEAD "  w:\n    image: {name: x}\n"
                                     "    env: {A: \"123\", B: \"true\", C: \"null\", D: \"\", E: "
                                     "\"- x\", F: \"a: b\", G: \"#c\", H: \" sp \", I: \"1.5\", J: "
                                     "\"multi\\nline\", K: \"~\", L: \"'q'\"}\n"
                                     "    labels: {\"123\": x}\n");
        _cleanup_free_ char *yaml = NULL;

        ASSERT_OK(zl_spec_dump_yaml(spec, &yaml));
        ASSERT_TRUE(strstr(yaml, "A: \"123\"") != NULL);
        check_round_trip(spec);
        zl_spec_unref(spec);
}
