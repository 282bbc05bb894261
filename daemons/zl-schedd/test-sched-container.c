/* SPDX-License-Identifier: Apache-2.0 */
/* test-sched-container.c: services as containers and routes, and the fake backends. */
#include <stdlib.h>
#include <string.h>

#include "sched-container.h"
#include "sched-test-fake.h"
#include "string-util.h"
#include "tests.h"

/* A canonical service as zl_spec_get_json() gives it (the keys that matter here). */
#define BASE_SERVICE                                                                               \
        "{\"rtype\": \"service\", \"image\": {\"name\": \"docker.io/library/nginx:1.27\", "        \
        "\"pull_policy\": \"if_not_present\"}, \"env\": {\"MODE\": \"prod\"}, "                    \
        "\"command\": {\"args\": [\"serve\"]}, \"labels\": {}, \"capabilities\": [], "             \
        "\"cap_drop\": [], \"devices\": [], \"storage\": [], \"sysctls\": {}, "                    \
        "\"privileged\": false, \"read_only_root_fs\": false, \"stop_signal\": \"SIGTERM\", "      \
        "\"stop_grace_period\": 30000, \"depends\": [], \"endpoints\": [], "                       \
        "\"scale\": {\"mode\": \"fixed\", \"replicas\": 2}, \"health\": {\"interval\": 10000, "    \
        "\"retries\": 3, \"start_grace\": 0, \"timeout\": 5000}}"

static json_t *service_new(void) {
        json_error_t e;
        json_t *j = json_loads(BASE_SERVICE, 0, &e);

        if (!j)
                test_fail(__FILE__, __LINE__, "bad fixture: %s", e.text);
        return j;
}

/* The fixture with one key replaced by a JSON value. */
static json_t *service_with(const char *key, const char *value_json) {
        json_t *j = service_new(), *v = json_loads(value_json, JSON_DECODE_ANY, NULL);

        ASSERT_NOT_NULL(v);
        ASSERT_OK(json_object_set_new(j, key, v));
        return j;
}

static char *hash_of(const json_t *svc) {
        char *h = NULL;

        ASSERT_OK(sched_container_config_hash(svc, &h));
        ASSERT_EQ(strlen(h), 16U);
        for (const char *p = h; *p; p++)
                ASSERT_TRUE(strchr("0123456789abcdef", *p));
        return h;
}

TEST(config_hash_stable) {
        _cleanup_(json_decrefp) json_t *a = service_new(), *b = NULL;
        _cleanup_free_ char *ha = hash_of(a), *ha2 = hash_of(a), *hb = NULL;
        _cleanup_free_ char *text = NULL;

        ASSERT_STREQ(ha, ha2);
        /* The same service with its keys in another order: the same hash. */
        text = json_dumps(a, JSON_SORT_KEYS);
        b = json_loads(text, 0, NULL);
        ASSERT_NOT_NULL(b);
        hb = hash_of(b);
        ASSERT_STREQ(ha, hb);

        ASSERT_ERROR(sched_container_config_hash(NULL, &text), EINVAL);
        _cleanup_(json_decrefp) json_t *arr = json_array();
        ASSERT_ERROR(sched_container_config_hash(arr, &text), EINVAL);
}

TEST(config_hash_insensitive_and_sensitive) {
        static const struct {
                const char *key;
                const char *value;
                bool changes;
        } cases[] = {
                { "scale", "{\"mode\": \"fixed\", \"replicas\": 5}", false },
                { "scale", "{\"mode\": \"manual\"}", false },
                { "endpoints",
                  "[{\"name\": \"web\", \"protocol\": \"http\", \"port\": 80, \"target_port\": 80, "
                  "\"expose\": \"public\"}]",
                  false },
                { "depends", "[{\"service\": \"db\", \"condition\": \"healthy\"}]", false },
                { "node_selector", "{\"labels\": {\"zone\": \"a\"}}", false },
                { "errors", "{\"on_panic\": {\"action\": \"shutdown\"}}", false },
                { "image",
                  "{\"name\": \"docker.io/library/nginx:1.28\", \"pull_policy\": "
                  "\"if_not_present\"}",
                  true },
                { "image",
                  "{\"name\": \"docker.io/library/nginx:1.27\", \"pull_policy\": "
                  "\"always\"}",
                  true },
                { "env", "{\"MODE\": \"dev\"}", true },
                { "env", "{\"MODE\": \"prod\", \"X\": \"$E:X\"}", true },
                { "command", "{\"args\": [\"serve\", \"--debug\"]}", true },
                { "command", "{\"entrypoint\": [\"/bin/sh\"], \"args\": [\"serve\"]}", true },
                { "resources", "{\"memory\": 1048576}", true },
                { "labels", "{\"team\": \"a\"}", true },
                { "user", "\"1000\"", true },
                { "privileged", "true", true },
                { "health",
                  "{\"interval\": 5000, \"retries\": 3, \"start_grace\": 0, "
                  "\"timeout\": 5000}",
                  true },
        };
        _cleanup_(json_decrefp) json_t *base = service_new();
        _cleanup_free_ char *h0 = hash_of(base);

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(json_decrefp) json_t *s = service_with(cases[i].key, cases[i].value);
                _cleanup_free_ char *h = hash_of(s);

                if (cases[i].changes != !streq(h, h0))
                        test_fail(__FILE__, __LINE__, "case %zu (%s): hash %s, base %s", i,
                                  cases[i].key, h, h0);
        }
}

static void spec_ok(const char *deployment, const char *service, const json_t *svc, uint32_t index,
                    const char *job_id, char *const *envp, SchedContainerSpec *ret) {
        _cleanup_free_ char *error = NULL;
        int r = sched_container_spec_from_service(deployment, service, svc, 7, index, job_id, envp,
                                                  ret, &error);
        if (r < 0)
                test_fail(__FILE__, __LINE__, "spec_from_service: %d %s", r, strna(error));
        ASSERT_NULL(error);
}

TEST(spec_basic) {
        _cleanup_(json_decrefp) json_t *svc = service_new();
        _cleanup_(sched_container_spec_done) SchedContainerSpec s = {};
        _cleanup_free_ char *h = hash_of(svc), *want = NULL;

        spec_ok("shop", "web", svc, 1, NULL, NULL, &s);
        want = strjoin("shop-web-1-", "");
        ASSERT_OK(strextendf(&want, "%.8s", h));
        ASSERT_STREQ(s.name, want);
        ASSERT_STREQ(s.image, "docker.io/library/nginx:1.27");
        ASSERT_STREQ(s.pull_policy, "if_not_present");
        ASSERT_NULL(s.entrypoint);
        ASSERT_NOT_NULL(s.args);
        ASSERT_STREQ(s.args[0], "serve");
        ASSERT_NULL(s.args[1]);
        ASSERT_NULL(s.cwd);
        ASSERT_NULL(s.user);
        ASSERT_STREQ(s.hostname, "web-1");
        ASSERT_STREQ(s.env[0], "MODE=prod");
        ASSERT_NULL(s.env[1]);
        ASSERT_NOT_NULL(s.cap_add);
        ASSERT_NULL(s.cap_add[0]);
        ASSERT_NOT_NULL(s.cap_drop);
        ASSERT_EQ(json_array_size(s.storage), 0U);
        ASSERT_EQ(json_array_size(s.devices), 0U);
        ASSERT_EQ(json_object_size(s.sysctls), 0U);
        ASSERT_STREQ(s.stop_signal, "SIGTERM");
        ASSERT_U64_EQ(s.stop_grace_usec, 30000000U);
        ASSERT_U64_EQ(s.memory, 0U);
        ASSERT_STREQ(json_string_value(json_object_get(s.labels, SCHED_LABEL_DEPLOYMENT)), "shop");
        ASSERT_STREQ(json_string_value(json_object_get(s.labels, SCHED_LABEL_SERVICE)), "web");
        ASSERT_STREQ(json_string_value(json_object_get(s.labels, SCHED_LABEL_REPLICA)), "1");
        ASSERT_STREQ(json_string_value(json_object_get(s.labels, SCHED_LABEL_GENERATION)), "7");
        ASSERT_STREQ(json_string_value(json_object_get(s.labels, SCHED_LABEL_CONFIG)), h);
        ASSERT_NULL(json_object_get(s.labels, SCHED_LABEL_JOB));
}

TEST(spec_full_fields) {
        _cleanup_(json_decrefp) json_t *svc = service_new();
        _cleanup_(sched_container_spec_done) SchedContainerSpec s = {};

        ASSERT_OK(json_object_set_new(svc, "command",
                                      json_pack("{s:[s,s], s:[s], s:s}", "entrypoint", "/bin/sh",
                                                "-c", "args", "exec httpd", "workdir", "/srv")));
        ASSERT_OK(json_object_set_new(svc, "user", json_string("1000:1000")));
        ASSERT_OK(json_object_set_new(svc, "hostname", json_string("web-main")));
        ASSERT_OK(
                json_object_set_new(svc, "resources",
                                    json_pack("{s:f, s:I, s:I}", "cpu", 1.5, "memory",
                                              (json_int_t) 2147483648, "pids", (json_int_t) 512)));
        ASSERT_OK(json_object_set_new(svc, "capabilities", json_pack("[s]", "CAP_NET_ADMIN")));
        ASSERT_OK(
                json_object_set_new(svc, "cap_drop", json_pack("[s,s]", "CAP_CHOWN", "CAP_MKNOD")));
        ASSERT_OK(json_object_set_new(svc, "privileged", json_true()));
        ASSERT_OK(json_object_set_new(svc, "read_only_root_fs", json_true()));
        ASSERT_OK(json_object_set_new(svc, "stop_signal", json_string("SIGQUIT")));
        ASSERT_OK(json_object_set_new(svc, "stop_grace_period", json_integer(1500)));
        ASSERT_OK(json_object_set_new(svc, "sysctls",
                                      json_pack("{s:s}", "net.core.somaxconn", "1024")));
        ASSERT_OK(json_object_set_new(svc, "storage",
                                      json_pack("[{s:s, s:s, s:s, s:b}]", "type", "bind", "source",
                                                "/srv/config", "target", "/etc/app", "readonly",
                                                false)));
        ASSERT_OK(json_object_set_new(svc, "devices",
                                      json_pack("[{s:s, s:b, s:b, s:b}]", "path", "/dev/fuse",
                                                "read", true, "write", true, "mknod", false)));
        ASSERT_OK(json_object_set_new(
                svc, "env", json_pack("{s:s, s:s, s:s}", "Z", "last", "A", "first", "M", "mid")));

        spec_ok("shop", "web", svc, 0, NULL, NULL, &s);
        ASSERT_STREQ(s.entrypoint[0], "/bin/sh");
        ASSERT_STREQ(s.entrypoint[1], "-c");
        ASSERT_NULL(s.entrypoint[2]);
        ASSERT_STREQ(s.args[0], "exec httpd");
        ASSERT_STREQ(s.cwd, "/srv");
        ASSERT_STREQ(s.user, "1000:1000");
        ASSERT_STREQ(s.hostname, "web-main");
        ASSERT_DOUBLE_EQ(s.cpus, 1.5);
        ASSERT_U64_EQ(s.memory, UINT64_C(2147483648));
        ASSERT_U64_EQ(s.pids, 512U);
        ASSERT_STREQ(s.cap_add[0], "CAP_NET_ADMIN");
        ASSERT_EQ(strv_length(s.cap_drop), 2U);
        ASSERT_TRUE(s.privileged);
        ASSERT_TRUE(s.read_only);
        ASSERT_STREQ(s.stop_signal, "SIGQUIT");
        ASSERT_U64_EQ(s.stop_grace_usec, 1500000U);
        ASSERT_STREQ(json_string_value(json_object_get(s.sysctls, "net.core.somaxconn")), "1024");
        ASSERT_EQ(json_array_size(s.storage), 1U);
        ASSERT_EQ(json_array_size(s.devices), 1U);
        /* Sorted: equal services give equal vectors. */
        ASSERT_STREQ(s.env[0], "A=first");
        ASSERT_STREQ(s.env[1], "M=mid");
        ASSERT_STREQ(s.env[2], "Z=last");
        ASSERT_NULL(s.env[3]);
}

TEST(spec_names) {
        static const struct {
                const char *deployment, *service;
                uint32_t index;
                const char *job_id;
                const char *prefix; /* what the name starts with */
                size_t len; /* 0: strlen(prefix) + 8 */
        } cases[] = {
                { "shop", "web", 0, NULL, "shop-web-0-", 0 },
                { "shop", "web", 12, NULL, "shop-web-12-", 0 },
                { "shop", "migrate", 0, "0123456789ab", "shop-migrate-job-0123456789ab", 0 },
                { "a-very-long-deployment-name-for-testing", "an-even-longer-service-name", 3, NULL,
                  "a-very-long-deployment-name-for-testing-an-even-longer-", 63 },
                { "a-very-long-deployment-name-for-testing", "an-even-longer-service-name", 0,
                  "0123456789ab", "a-very-long-deployment-name-for-testing-an-even-longer-", 63 },
        };
        _cleanup_(json_decrefp) json_t *svc = service_new();

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(sched_container_spec_done) SchedContainerSpec s = {};
                size_t want = cases[i].len ?: strlen(cases[i].prefix) + (cases[i].job_id ? 0 : 8);

                spec_ok(cases[i].deployment, cases[i].service, svc, cases[i].index, cases[i].job_id,
                        NULL, &s);
                if (!startswith(s.name, cases[i].prefix) || strlen(s.name) != want)
                        test_fail(__FILE__, __LINE__, "case %zu: name '%s'", i, s.name);
        }

        /* Cut names stay apart: the hash is of the whole name. */
        _cleanup_(sched_container_spec_done) SchedContainerSpec a = {}, b = {}, c = {}, d = {};
        spec_ok(cases[3].deployment, cases[3].service, svc, 3, NULL, NULL, &a);
        spec_ok(cases[3].deployment, cases[3].service, svc, 4, NULL, NULL, &b);
        ASSERT_TRUE(!streq(a.name, b.name));
        spec_ok(cases[3].deployment, cases[3].service, svc, 3, NULL, NULL, &c);
        ASSERT_STREQ(a.name, c.name);

        /* A replacement (another config hash) of the same index has another name. */
        _cleanup_(json_decrefp) json_t *svc2 = service_with("env", "{\"MODE\": \"dev\"}");
        spec_ok("shop", "web", svc2, 0, NULL, NULL, &d);
        _cleanup_(sched_container_spec_done) SchedContainerSpec e = {};
        spec_ok("shop", "web", svc, 0, NULL, NULL, &e);
        ASSERT_TRUE(!streq(d.name, e.name));
}

TEST(spec_job_labels) {
        _cleanup_(json_decrefp) json_t *svc =
                service_with("labels", "{\"zlayer.replica\": \"9\", \"team\": \"a\", "
                                       "\"zlayer.deployment\": \"evil\"}");
        _cleanup_(sched_container_spec_done) SchedContainerSpec s = {}, r = {};

        spec_ok("shop", "migrate", svc, 0, "00000000abcd", NULL, &s);
        ASSERT_STREQ(json_string_value(json_object_get(s.labels, SCHED_LABEL_JOB)), "00000000abcd");
        ASSERT_NULL(json_object_get(s.labels, SCHED_LABEL_REPLICA));
        ASSERT_STREQ(json_string_value(json_object_get(s.labels, "team")), "a");
        ASSERT_STREQ(json_string_value(json_object_get(s.labels, SCHED_LABEL_DEPLOYMENT)), "shop");

        /* Ours win over the service's labels of the same name. */
        spec_ok("shop", "web", svc, 2, NULL, NULL, &r);
        ASSERT_STREQ(json_string_value(json_object_get(r.labels, SCHED_LABEL_REPLICA)), "2");
        ASSERT_STREQ(json_string_value(json_object_get(r.labels, SCHED_LABEL_DEPLOYMENT)), "shop");
        ASSERT_STREQ(json_string_value(json_object_get(r.labels, "team")), "a");
        ASSERT_EQ(json_object_size(r.labels), 6U);
}

TEST(spec_env_macro) {
        _cleanup_(json_decrefp) json_t *svc = service_with(
                "env",
                "{\"DB\": \"$E:DATABASE_URL\", \"LIT\": \"plain $E:X\", \"T\": \"$E:TOKEN\"}");
        char *envp[] = { (char *) "DATABASE_URL=postgres://db/x",
                         (char *) "TOKEN=", (char *) "DATABASE_URL_OTHER=no", NULL };
        char *envp_missing[] = { (char *) "DATABASE_URL=postgres://db/x", (char *) "TOKENX=1",
                                 NULL };
        _cleanup_(sched_container_spec_done) SchedContainerSpec s = {}, m = {};
        _cleanup_free_ char *error = NULL;

        spec_ok("shop", "web", svc, 0, NULL, envp, &s);
        ASSERT_STREQ(s.env[0], "DB=postgres://db/x");
        ASSERT_STREQ(s.env[1], "LIT=plain $E:X");
        ASSERT_STREQ(s.env[2], "T=");

        ASSERT_ERROR(sched_container_spec_from_service("shop", "web", svc, 1, 0, NULL, envp_missing,
                                                       &m, &error),
                     ENOKEY);
        ASSERT_STREQ(error, "services.web.env.T: $E:TOKEN is not set in zl-schedd's environment");
        ASSERT_NULL(m.name);

        error = mfree(error);
        ASSERT_ERROR(
                sched_container_spec_from_service("shop", "web", svc, 1, 0, NULL, NULL, &m, &error),
                ENOKEY);
        ASSERT_TRUE(startswith(error, "services.web.env.DB: $E:DATABASE_URL is not set"));

        /* The hash counts env as written, not resolved. */
        _cleanup_free_ char *h = hash_of(svc);
        ASSERT_STREQ(json_string_value(json_object_get(s.labels, SCHED_LABEL_CONFIG)), h);
}

TEST(spec_refusals) {
        _cleanup_(json_decrefp) json_t *s3 = service_with(
                "storage", "[{\"type\": \"bind\", \"source\": \"/a\", \"target\": \"/b\", "
                           "\"readonly\": false}, {\"type\": \"s3\", \"bucket\": \"models\", "
                           "\"target\": \"/models\", \"readonly\": true}]");
        _cleanup_(json_decrefp) json_t *noimage = service_new();
        _cleanup_(sched_container_spec_done) SchedContainerSpec s = {};
        _cleanup_free_ char *error = NULL;

        ASSERT_ERROR(
                sched_container_spec_from_service("shop", "web", s3, 1, 0, NULL, NULL, &s, &error),
                EINVAL);
        ASSERT_STREQ(error, "services.web.storage[1]: s3 volumes are not supported yet");
        ASSERT_NULL(s.name);

        error = mfree(error);
        json_object_del(noimage, "image");
        ASSERT_ERROR(sched_container_spec_from_service("shop", "web", noimage, 1, 0, NULL, NULL, &s,
                                                       &error),
                     EINVAL);
        ASSERT_STREQ(error, "services.web.image.name: missing");

        ASSERT_ERROR(sched_container_spec_from_service("", "web", s3, 1, 0, NULL, NULL, &s, NULL),
                     EINVAL);
        ASSERT_ERROR(
                sched_container_spec_from_service("shop", "web", NULL, 1, 0, NULL, NULL, &s, NULL),
                EINVAL);
        /* ret_error may be NULL. */
        ASSERT_ERROR(
                sched_container_spec_from_service("shop", "web", s3, 1, 0, NULL, NULL, &s, NULL),
                EINVAL);
}

/* ---- routes ------------------------------------------------------------------------------- */

#define ROUTES_SPEC                                                                                \
        "{\"deployment\": \"shop\", \"version\": \"v1\", \"services\": {"                          \
        "\"web\": {\"rtype\": \"service\", \"endpoints\": ["                                       \
        "  {\"name\": \"site\", \"protocol\": \"http\", \"port\": 8080, \"target_port\": 80, "     \
        "   \"expose\": \"public\", \"host\": \"*.example.com\", \"path\": \"/shop\"},"            \
        "  {\"name\": \"api\", \"protocol\": \"https\", \"port\": 8443, \"target_port\": 443, "    \
        "   \"expose\": \"internal\"},"                                                            \
        "  {\"name\": \"live\", \"protocol\": \"websocket\", \"port\": 8081, \"target_port\": "    \
        "81, "                                                                                     \
        "   \"expose\": \"public\"}]},"                                                            \
        "\"db\": {\"rtype\": \"service\", \"endpoints\": ["                                        \
        "  {\"name\": \"pg\", \"protocol\": \"tcp\", \"port\": 5432, \"target_port\": 5432, "      \
        "   \"expose\": \"internal\"}]},"                                                          \
        "\"dns\": {\"rtype\": \"service\", \"endpoints\": ["                                       \
        "  {\"name\": \"q\", \"protocol\": \"udp\", \"port\": 53, \"target_port\": 5353, "         \
        "   \"expose\": \"public\"}]},"                                                            \
        "\"idle\": {\"rtype\": \"service\", \"endpoints\": ["                                      \
        "  {\"name\": \"x\", \"protocol\": \"http\", \"port\": 9000, \"target_port\": 9000, "      \
        "   \"expose\": \"internal\"}]},"                                                          \
        "\"migrate\": {\"rtype\": \"job\", \"endpoints\": ["                                       \
        "  {\"name\": \"m\", \"protocol\": \"http\", \"port\": 9100, \"target_port\": 9100, "      \
        "   \"expose\": \"internal\"}]}}}"

static json_t *deployments_new(bool spec_as_text) {
        json_t *spec = json_loads(ROUTES_SPEC, 0, NULL), *d;

        ASSERT_NOT_NULL(spec);
        if (spec_as_text) {
                char *t = json_dumps(spec, JSON_COMPACT);

                json_decref(spec);
                spec = json_string(t);
                free(t);
        }
        d = json_pack("[{s:s, s:o, s:{s:[s,s], s:[s], s:[s], s:[]}}]", "name", "shop", "spec", spec,
                      "backends", "web", "10.200.0.3", "10.200.0.2", "db", "10.200.0.4", "dns",
                      "fd00::5", "idle");
        ASSERT_NOT_NULL(d);
        return d;
}

static json_t *route_named(const json_t *routes, const char *name) {
        size_t i;
        json_t *r;

        json_array_foreach (json_object_get(routes, "routes"), i, r)
                if (streq(json_string_value(json_object_get(r, "name")), name))
                        return r;
        return NULL;
}

TEST(routes_build) {
        _cleanup_(json_decrefp) json_t *d = deployments_new(false), *out = NULL;
        _cleanup_free_ char *text = NULL;
        json_t *r;

        ASSERT_OK(sched_routes_build(d, "0.0.0.0", "10.0.0.1", &text));
        out = json_loads(text, 0, NULL);
        ASSERT_NOT_NULL(out);
        /* idle has no healthy replica: its route has no backends (503); migrate is a job: no
         * route. */
        ASSERT_EQ(json_array_size(json_object_get(out, "routes")), 6U);
        r = route_named(out, "shop.idle.x");
        ASSERT_NOT_NULL(r);
        ASSERT_EQ(json_array_size(json_object_get(r, "backends")), 0U);
        ASSERT_NULL(route_named(out, "shop.migrate.m"));

        r = route_named(out, "shop.web.site");
        ASSERT_NOT_NULL(r);
        ASSERT_STREQ(json_string_value(json_object_get(r, "listen")), "0.0.0.0:8080");
        ASSERT_STREQ(json_string_value(json_object_get(r, "protocol")), "http");
        ASSERT_STREQ(json_string_value(json_object_get(r, "host")), "*.example.com");
        ASSERT_STREQ(json_string_value(json_object_get(r, "path")), "/shop");
        ASSERT_STREQ(json_string_value(json_object_get(r, "balance")), "round_robin");
        ASSERT_NULL(json_object_get(r, "health"));
        /* Sorted backends, at the target port. */
        ASSERT_STREQ(json_string_value(json_array_get(json_object_get(r, "backends"), 0)),
                     "10.200.0.2:80");
        ASSERT_STREQ(json_string_value(json_array_get(json_object_get(r, "backends"), 1)),
                     "10.200.0.3:80");

        r = route_named(out, "shop.web.api");
        ASSERT_STREQ(json_string_value(json_object_get(r, "listen")), "10.0.0.1:8443");
        ASSERT_STREQ(json_string_value(json_object_get(r, "protocol")), "https");
        ASSERT_NULL(json_object_get(r, "host"));
        ASSERT_NULL(json_object_get(r, "path"));

        r = route_named(out, "shop.web.live");
        ASSERT_STREQ(json_string_value(json_object_get(r, "protocol")), "http");
        ASSERT_STREQ(json_string_value(json_object_get(r, "listen")), "0.0.0.0:8081");

        r = route_named(out, "shop.db.pg");
        ASSERT_STREQ(json_string_value(json_object_get(r, "protocol")), "tcp");
        ASSERT_STREQ(json_string_value(json_object_get(r, "listen")), "10.0.0.1:5432");
        ASSERT_STREQ(json_string_value(json_array_get(json_object_get(r, "backends"), 0)),
                     "10.200.0.4:5432");

        r = route_named(out, "shop.dns.q");
        ASSERT_STREQ(json_string_value(json_object_get(r, "protocol")), "udp");
        ASSERT_STREQ(json_string_value(json_object_get(r, "listen")), "0.0.0.0:53");
        ASSERT_STREQ(json_string_value(json_array_get(json_object_get(r, "backends"), 0)),
                     "[fd00::5]:5353");

        /* Routes by name. */
        ASSERT_STREQ(json_string_value(json_object_get(
                             json_array_get(json_object_get(out, "routes"), 0), "name")),
                     "shop.db.pg");
}

TEST(routes_stable_text) {
        _cleanup_(json_decrefp) json_t *a = deployments_new(false), *b = deployments_new(true);
        _cleanup_(json_decrefp) json_t *two = NULL, *two_rev = NULL, *other = NULL;
        _cleanup_free_ char *ta = NULL, *tb = NULL, *t2 = NULL, *t2r = NULL;

        ASSERT_OK(sched_routes_build(a, "127.0.0.1", "127.0.0.2", &ta));
        ASSERT_OK(sched_routes_build(b, "127.0.0.1", "127.0.0.2", &tb));
        /* Spec as text or as JSON, backends in any order: the same bytes. */
        ASSERT_STREQ(ta, tb);
        ASSERT_TRUE(startswith(ta, "{\"routes\":[{\"backends\":[\"10.200.0.4:5432\"],"));

        other = json_pack("{s:s, s:{s:s, s:{s:{s:[{s:s, s:s, s:i, s:i, s:s}]}}}, s:{s:[s]}}",
                          "name", "blog", "spec", "deployment", "blog", "services", "www",
                          "endpoints", "name", "h", "protocol", "http", "port", 80, "target_port",
                          8080, "expose", "public", "backends", "www", "10.200.0.9");
        ASSERT_NOT_NULL(other);
        two = json_pack("[O,O]", json_array_get(a, 0), other);
        two_rev = json_pack("[O,O]", other, json_array_get(a, 0));
        ASSERT_OK(sched_routes_build(two, "127.0.0.1", "127.0.0.2", &t2));
        ASSERT_OK(sched_routes_build(two_rev, "127.0.0.1", "127.0.0.2", &t2r));
        ASSERT_STREQ(t2, t2r);
        ASSERT_TRUE(strstr(t2, "\"name\":\"blog.www.h\""));
        ASSERT_TRUE(strstr(t2, "\"listen\":\"127.0.0.1:80\""));
}

TEST(routes_empty_and_errors) {
        _cleanup_(json_decrefp) json_t *empty = json_array(), *bad = NULL, *obj = json_object();
        _cleanup_(json_decrefp) json_t *nobackends = NULL;
        _cleanup_free_ char *text = NULL, *t2 = NULL;

        ASSERT_OK(sched_routes_build(empty, "0.0.0.0", "10.0.0.1", &text));
        ASSERT_STREQ(text, "{\"routes\":[]}");

        /* No backends at all (the key missing): every route is there, without backends. */
        nobackends = deployments_new(false);
        json_object_del(json_array_get(nobackends, 0), "backends");
        ASSERT_OK(sched_routes_build(nobackends, "0.0.0.0", "10.0.0.1", &t2));
        ASSERT_NOT_NULL(strstr(t2, "\"name\":\"shop.web.site\""));
        ASSERT_NULL(strstr(t2, "\"backends\":[\""));

        ASSERT_ERROR(sched_routes_build(obj, "0.0.0.0", "10.0.0.1", &text), EINVAL);
        ASSERT_ERROR(sched_routes_build(empty, "", "10.0.0.1", &text), EINVAL);
        bad = json_pack("[{s:s, s:s}]", "name", "x", "spec", "{not json");
        ASSERT_ERROR(sched_routes_build(bad, "0.0.0.0", "10.0.0.1", &text), EINVAL);
        json_decref(bad);
        bad = json_pack("[{s:s}]", "spec", "{}");
        ASSERT_ERROR(sched_routes_build(bad, "0.0.0.0", "10.0.0.1", &text), EINVAL);
        json_decref(bad);
        bad = json_pack("[{s:s, s:{s:{s:{s:[{s:s, s:s, s:i}]}}}, s:{s:[s]}}]", "name", "x", "spec",
                        "services", "s", "endpoints", "name", "e", "protocol", "sctp", "port", 1,
                        "backends", "s", "10.0.0.9");
        ASSERT_ERROR(sched_routes_build(bad, "0.0.0.0", "10.0.0.1", &text), EINVAL);
}

TEST(endpoint_url) {
        static const struct {
                const char *endpoint;
                const char *listen;
                const char *url; /* NULL: -EINVAL */
        } cases[] = {
                { "{\"protocol\": \"http\", \"port\": 8080}", "127.0.0.1:8080",
                  "http://127.0.0.1:8080/" },
                { "{\"protocol\": \"http\", \"path\": \"/api\"}", "127.0.0.1:8080",
                  "http://127.0.0.1:8080/api" },
                { "{\"protocol\": \"https\"}", "10.0.0.1:8443", "https://10.0.0.1:8443/" },
                { "{\"protocol\": \"websocket\", \"path\": \"/ws\"}", "127.0.0.1:81",
                  "ws://127.0.0.1:81/ws" },
                { "{\"protocol\": \"tcp\"}", "127.0.0.1:5432", "tcp://127.0.0.1:5432" },
                { "{\"protocol\": \"udp\"}", "0.0.0.0:53", "udp://0.0.0.0:53" },
                { "{\"protocol\": \"http\"}", "[::1]:8080", "http://[::1]:8080/" },
                { "{\"protocol\": \"http\"}", "::1:8080", "http://[::1]:8080/" },
                { "{\"protocol\": \"tcp\"}", "fd00::1:5432", "tcp://[fd00::1]:5432" },
                { "{\"protocol\": \"sctp\"}", "127.0.0.1:1", NULL },
                { "{}", "127.0.0.1:1", NULL },
                { "{\"protocol\": \"tcp\"}", "127.0.0.1", NULL },
                { "{\"protocol\": \"tcp\"}", "127.0.0.1:", NULL },
                { "{\"protocol\": \"tcp\"}", "", NULL },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(json_decrefp) json_t *ep = json_loads(cases[i].endpoint, 0, NULL);
                _cleanup_free_ char *url = NULL;
                int r;

                ASSERT_NOT_NULL(ep);
                r = sched_endpoint_url(ep, cases[i].listen, &url);
                if (cases[i].url) {
                        if (r < 0 || !streq(url, cases[i].url))
                                test_fail(__FILE__, __LINE__, "case %zu: %d '%s'", i, r,
                                          strna(url));
                } else if (r != -EINVAL)
                        test_fail(__FILE__, __LINE__, "case %zu: expected -EINVAL, got %d", i, r);
        }
}

/* ---- the fakes ---------------------------------------------------------------------------- */

typedef struct Recorder {
        int r;
        char *error;
        char *id;
        int calls;
        int exit_code;
        char *out;
        size_t n_listed;
        char changes[512];
} Recorder;

static void recorder_done(Recorder *rec) {
        free(rec->error);
        free(rec->id);
        free(rec->out);
}

static void on_created(int r, const char *error, const char *id, void *userdata) {
        Recorder *rec = userdata;

        rec->r = r;
        rec->calls++;
        free(rec->error);
        rec->error = error ? strdup(error) : NULL;
        free(rec->id);
        rec->id = id ? strdup(id) : NULL;
}

static void on_done(int r, const char *error, void *userdata) {
        Recorder *rec = userdata;

        rec->r = r;
        rec->calls++;
        free(rec->error);
        rec->error = error ? strdup(error) : NULL;
}

static void on_listed(int r, const char *error, const SchedContainerInfo *c, size_t n,
                      void *userdata) {
        Recorder *rec = userdata;

        rec->r = r;
        rec->calls++;
        rec->n_listed = n;
        for (size_t i = 0; i < n; i++) {
                ASSERT_EQ(strlen(c[i].id), 64U);
                ASSERT_NOT_NULL(c[i].labels);
        }
}

static void on_exec(int r, const char *error, int exit_code, const char *out, size_t out_len,
                    const char *err, size_t err_len, void *userdata) {
        Recorder *rec = userdata;

        rec->r = r;
        rec->calls++;
        rec->exit_code = exit_code;
        free(rec->out);
        rec->out = out ? strndup(out, out_len) : NULL;
}

static void on_changed(const char *id, const char *state, int exit_code, void *userdata) {
        Recorder *rec = userdata;
        size_t l = strlen(rec->changes);

        snprintf(rec->changes + l, sizeof rec->changes - l, "%s:%d;", state, exit_code);
}

TEST(fake_backends_lifecycle) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(fake_backends_freep) FakeBackends *fb = NULL;
        _cleanup_(json_decrefp) json_t *svc = service_new();
        _cleanup_(sched_container_spec_done) SchedContainerSpec s = {};
        _cleanup_(recorder_done) Recorder rec = {}, chg = {};
        const SchedBackends *b;
        const FakeContainer *c;
        const char *argv[] = { "true", NULL };
        _cleanup_free_ char *id = NULL;

        ASSERT_OK(sd_event_new(&e));
        ASSERT_OK(fake_backends_new(e, &fb));
        b = fake_backends_table(fb);
        fake_backends_set_changed_hook(fb, on_changed, &chg);
        spec_ok("shop", "web", svc, 0, NULL, NULL, &s);

        ASSERT_OK(b->create(b->userdata, &s, on_created, &rec));
        /* Never from inside the call. */
        ASSERT_EQ(rec.calls, 0);
        ASSERT_EQ(fake_backends_n_pending(fb), 1U);
        ASSERT_GE(fake_run_until_idle(e, fb, NULL, 100), 1);
        ASSERT_EQ(rec.calls, 1);
        ASSERT_OK(rec.r);
        ASSERT_EQ(strlen(rec.id), 64U);
        id = strdup(rec.id);
        c = fake_backends_get_container(fb, id);
        ASSERT_NOT_NULL(c);
        ASSERT_STREQ(c->state, "created");
        ASSERT_STREQ(c->name, s.name);
        ASSERT_STREQ(c->ip, "10.200.0.2");
        ASSERT_STREQ(c->spec.image, s.image);
        ASSERT_TRUE(fake_backends_get_container(fb, s.name) == c);

        /* The same name again: -EEXIST. */
        ASSERT_OK(b->create(b->userdata, &s, on_created, &rec));
        fake_run_until_idle(e, fb, NULL, 100);
        ASSERT_ERROR(rec.r, EEXIST);
        ASSERT_TRUE(strstr(rec.error, "already in use"));

        ASSERT_OK(b->exec(b->userdata, id, argv, 1000000, on_exec, &rec));
        fake_run_until_idle(e, fb, NULL, 100);
        ASSERT_OK(rec.r);
        ASSERT_EQ(rec.exit_code, 0);

        ASSERT_OK(b->start(b->userdata, id, on_done, &rec));
        fake_run_until_idle(e, fb, NULL, 100);
        ASSERT_OK(rec.r);
        ASSERT_STREQ(fake_backends_get_container(fb, id)->state, "running");
        ASSERT_OK(b->start(b->userdata, id, on_done, &rec));
        fake_run_until_idle(e, fb, NULL, 100);
        ASSERT_ERROR(rec.r, EBUSY);

        ASSERT_OK(b->list(b->userdata, SCHED_LABEL_DEPLOYMENT, on_listed, &rec));
        fake_run_until_idle(e, fb, NULL, 100);
        ASSERT_EQ(rec.n_listed, 1U);
        ASSERT_OK(b->list(b->userdata, SCHED_LABEL_JOB, on_listed, &rec));
        fake_run_until_idle(e, fb, NULL, 100);
        ASSERT_EQ(rec.n_listed, 0U);

        ASSERT_OK(b->remove(b->userdata, id, false, on_done, &rec));
        fake_run_until_idle(e, fb, NULL, 100);
        ASSERT_ERROR(rec.r, EBUSY);

        ASSERT_OK(fake_backends_container_exit(fb, id, 3));
        ASSERT_STREQ(fake_backends_get_container(fb, id)->state, "exited");
        ASSERT_EQ(fake_backends_get_container(fb, id)->exit_code, 3);
        ASSERT_ERROR(fake_backends_container_exit(fb, id, 3), EBUSY);
        ASSERT_ERROR(fake_backends_container_exit(fb, "nope", 3), ENOENT);

        ASSERT_OK(b->stop(b->userdata, id, 10, on_done, &rec));
        fake_run_until_idle(e, fb, NULL, 100);
        ASSERT_OK(rec.r);

        ASSERT_OK(b->remove(b->userdata, id, false, on_done, &rec));
        fake_run_until_idle(e, fb, NULL, 100);
        ASSERT_OK(rec.r);
        ASSERT_NULL(fake_backends_get_container(fb, id));
        ASSERT_OK(b->start(b->userdata, id, on_done, &rec));
        fake_run_until_idle(e, fb, NULL, 100);
        ASSERT_ERROR(rec.r, ENOENT);

        ASSERT_STREQ(chg.changes, "created:-1;running:-1;exited:3;removed:-1;");
        ASSERT_EQ(fake_backends_count_calls(fb, FAKE_OP_CREATE, s.name), 2U);
        ASSERT_EQ(fake_backends_count_calls(fb, FAKE_OP_START, id), 3U);
        ASSERT_EQ(fake_backends_call_at(fb, 0)->op, FAKE_OP_CREATE);
        ASSERT_STREQ(fake_op_to_string(fake_backends_call_at(fb, 1)->op), "create");
        ASSERT_EQ(fake_backends_n_pending(fb), 0U);
}

TEST(fake_backends_failures_and_cancel) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(fake_backends_freep) FakeBackends *fb = NULL;
        _cleanup_(json_decrefp) json_t *svc = service_new();
        _cleanup_(sched_container_spec_done) SchedContainerSpec s = {};
        _cleanup_(recorder_done) Recorder rec = {}, other = {};
        const SchedBackends *b;
        const char *argv[] = { "sh", "-c", "exit 4", NULL };
        const char *id = NULL;

        ASSERT_OK(sd_event_new(&e));
        ASSERT_OK(fake_backends_new(e, &fb));
        b = fake_backends_table(fb);
        spec_ok("shop", "web", svc, 0, NULL, NULL, &s);

        ASSERT_OK(fake_backends_fail(fb, FAKE_OP_CREATE, "docker.io/library/nginx:1.27", -ENOENT,
                                     "pull of 'nginx:1.27': manifest unknown", 1));
        ASSERT_OK(b->create(b->userdata, &s, on_created, &rec));
        fake_run_until_idle(e, fb, NULL, 100);
        ASSERT_ERROR(rec.r, ENOENT);
        ASSERT_STREQ(rec.error, "pull of 'nginx:1.27': manifest unknown");
        ASSERT_EQ(fake_backends_n_containers(fb), 0U);
        /* Used up. */
        ASSERT_OK(b->create(b->userdata, &s, on_created, &rec));
        fake_run_until_idle(e, fb, NULL, 100);
        ASSERT_OK(rec.r);
        ASSERT_EQ(fake_backends_n_containers(fb), 1U);

        ASSERT_OK(fake_backends_add_container(fb, "old", "busybox", NULL, "running", 0, &id));
        ASSERT_EQ(strlen(id), 64U);
        ASSERT_ERROR(fake_backends_add_container(fb, "old", "busybox", NULL, "running", 0, NULL),
                     EEXIST);
        ASSERT_ERROR(fake_backends_add_container(fb, "x", "busybox", NULL, "paused", 0, NULL),
                     EINVAL);
        ASSERT_OK(fake_backends_set_exec_result(fb, "old", 4, "hello", NULL));
        ASSERT_OK(b->exec(b->userdata, "old", argv, 1000000, on_exec, &rec));
        fake_run_until_idle(e, fb, NULL, 100);
        ASSERT_OK(rec.r);
        ASSERT_EQ(rec.exit_code, 4);
        ASSERT_STREQ(rec.out, "hello");

        /* Cancel drops one caller's pending calls only. */
        rec.calls = other.calls = 0;
        ASSERT_OK(b->start(b->userdata, id, on_done, &rec));
        ASSERT_OK(b->stop(b->userdata, id, 1, on_done, &other));
        b->cancel(b->userdata, &rec);
        ASSERT_EQ(fake_backends_n_pending(fb), 1U);
        fake_run_until_idle(e, fb, NULL, 100);
        ASSERT_EQ(rec.calls, 0);
        ASSERT_EQ(other.calls, 1);

        /* Held, then released. */
        fake_backends_hold(fb, FAKE_OP_SET_ROUTES, true);
        ASSERT_OK(b->set_routes(b->userdata, "scheduler", "{\"routes\":[]}", on_done, &rec));
        fake_run_until_idle(e, fb, NULL, 100);
        ASSERT_EQ(rec.calls, 0);
        ASSERT_NULL(fake_backends_get_routes(fb, "scheduler"));
        fake_backends_hold(fb, FAKE_OP_SET_ROUTES, false);
        fake_run_until_idle(e, fb, NULL, 100);
        ASSERT_EQ(rec.calls, 1);
        ASSERT_STREQ(fake_backends_get_routes(fb, "scheduler"), "{\"routes\":[]}");

        /* Delayed completions are waited for. */
        fake_backends_set_delay(fb, FAKE_OP_LIST, 20000);
        ASSERT_OK(b->list(b->userdata, "k", on_listed, &rec));
        fake_run_until_idle(e, fb, NULL, 100);
        ASSERT_EQ(rec.calls, 2);

        /* id is borrowed: gone with the container. */
        ASSERT_OK(fake_backends_drop_container(fb, "old"));
        ASSERT_ERROR(fake_backends_drop_container(fb, "old"), ENOENT);

        /* Pending calls at free are dropped (no callback, no leak). */
        ASSERT_OK(b->start(b->userdata, "old", on_done, &rec));
}

static void on_store_done(int r, const SchedApplyResult *result, void *userdata) {
        Recorder *rec = userdata;

        rec->r = r;
        rec->calls++;
        rec->exit_code = result ? 1 : 0;
}

static void on_store_changed(const char *cmd, void *userdata) {
        Recorder *rec = userdata;

        rec->n_listed++;
}

TEST(fake_store) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(fake_store_freep) FakeStore *fs = NULL;
        _cleanup_(recorder_done) Recorder rec = {}, chg = {};
        _cleanup_(json_decrefp) json_t *cmd = NULL;
        const SchedStore *st;

        ASSERT_OK(sd_event_new(&e));
        ASSERT_OK(fake_store_new(e, &fs));
        st = fake_store_table(fs);
        fake_store_set_changed_hook(fs, on_store_changed, &chg);
        ASSERT_TRUE(st->is_leader(st->userdata));
        fake_store_set_leader(fs, false);
        ASSERT_FALSE(st->is_leader(st->userdata));

        cmd = json_pack("{s:s, s:s, s:s}", "op", "node_upsert", "id", "n1", "address", "127.0.0.1");
        ASSERT_OK(sched_store_submit_json(st, cmd, on_store_done, &rec));
        ASSERT_EQ(rec.calls, 0);
        ASSERT_STREQ(fake_store_submitted_at(fs, 0),
                     "{\"address\":\"127.0.0.1\",\"id\":\"n1\",\"op\":\"node_upsert\"}");
        fake_run_until_idle(e, NULL, fs, 100);
        ASSERT_EQ(rec.calls, 1);
        ASSERT_OK(rec.r);
        ASSERT_EQ(chg.n_listed, 1U);
        ASSERT_NOT_NULL(sched_state_get_node(fake_store_state(fs), "n1"));

        /* A refusal: done gets it with a result, no change hook. */
        ASSERT_OK(st->submit(st->userdata, "{\"op\":\"node_heartbeat\",\"id\":\"n2\",\"time\":1}",
                             on_store_done, &rec));
        fake_run_until_idle(e, NULL, fs, 100);
        ASSERT_ERROR(rec.r, ENOENT);
        ASSERT_EQ(rec.exit_code, 1);
        ASSERT_EQ(chg.n_listed, 1U);

        /* An injected transport failure: not applied, no result. */
        ASSERT_OK(fake_store_fail(fs, "node_heartbeat", -ESHUTDOWN, 1));
        ASSERT_OK(st->submit(st->userdata, "{\"op\":\"node_heartbeat\",\"id\":\"n1\",\"time\":1}",
                             on_store_done, &rec));
        fake_run_until_idle(e, NULL, fs, 100);
        ASSERT_ERROR(rec.r, ESHUTDOWN);
        ASSERT_EQ(rec.exit_code, 0);
        ASSERT_OK(st->submit(st->userdata, "{\"op\":\"node_heartbeat\",\"id\":\"n1\",\"time\":1}",
                             NULL, NULL));
        fake_store_hold(fs, true);
        ASSERT_OK(st->submit(st->userdata, "{\"op\":\"node_heartbeat\",\"id\":\"n1\",\"time\":2}",
                             on_store_done, &rec));
        fake_run_until_idle(e, NULL, fs, 100);
        ASSERT_EQ(fake_store_n_pending(fs), 1U);
        ASSERT_EQ(chg.n_listed, 2U);
        fake_store_hold(fs, false);
        fake_run_until_idle(e, NULL, fs, 100);
        ASSERT_EQ(fake_store_n_pending(fs), 0U);
        ASSERT_EQ(chg.n_listed, 3U);
        ASSERT_U64_EQ(sched_state_get_node(fake_store_state(fs), "n1")->heartbeat_usec, 2U);

        ASSERT_EQ(fake_store_count_submitted(fs, "node_heartbeat"), 4U);
        ASSERT_EQ(fake_store_count_submitted(fs, NULL), 5U);
        ASSERT_ERROR(fake_store_apply(fs, "{\"op\":\"bogus\"}"), EINVAL);
        ASSERT_OK(fake_store_apply(fs, "{\"op\":\"node_heartbeat\",\"id\":\"n1\",\"time\":3}"));
        ASSERT_EQ(chg.n_listed, 4U);
        fake_store_clear_submitted(fs);
        ASSERT_EQ(fake_store_n_submitted(fs), 0U);

        ASSERT_ERROR(sched_store_submit_json(st, NULL, NULL, NULL), EINVAL);
        /* Pending at free: dropped. */
        ASSERT_OK(st->submit(st->userdata, "{\"op\":\"node_heartbeat\",\"id\":\"n1\",\"time\":4}",
                             on_store_done, &rec));
}
