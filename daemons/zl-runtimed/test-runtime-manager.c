/* SPDX-License-Identifier: Apache-2.0 */
/* test-runtime-manager.c: ids, names, config building from options, lookup and recovery. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "monitor.h"
#include "oci-config.h"
#include "path-util.h"
#include "runtime-manager.h"
#include "string-util.h"
#include "tests.h"

static char **strv_new_real(const char *first, ...) {
        char **l = NULL;
        va_list ap;

        va_start(ap, first);
        for (const char *s = first; s; s = va_arg(ap, const char *))
                ASSERT_OK(strv_extend(&l, s));
        va_end(ap);
        return l;
}
#define strv_new_test(...) strv_new_real(__VA_ARGS__, NULL)

/* ZLayer's default config with a relative root and a stop-signal annotation. */
static int oci_config_default_json_test(const char *root, char **ret) {
        _cleanup_free_ char *text = NULL;
        _cleanup_(json_decrefp) json_t *j = NULL;

        ASSERT_OK(oci_config_default_json(root, NULL, &text));
        j = json_loads(text, 0, NULL);
        ASSERT_NOT_NULL(j);
        ASSERT_EQ(json_object_set_new(j, "annotations",
                                      json_pack("{ss}", "org.zlayer.stop-signal", "SIGQUIT")),
                  0);
        *ret = json_dumps(j, 0);
        return *ret ? 0 : -ENOMEM;
}

static char *make_rootfs(const char *name) {
        char *root = path_join(test_tmpdir(), name);
        _cleanup_free_ char *etc = NULL, *passwd = NULL, *group = NULL;

        ASSERT_NOT_NULL(root);
        etc = path_join(root, "etc");
        passwd = path_join(etc, "passwd");
        group = path_join(etc, "group");
        ASSERT_OK(mkdir_p(etc, 0755));
        ASSERT_OK(write_string_file_atomic(passwd,
                                           "root:x:0:0:root:/root:/bin/sh\n"
                                           "nginx:x:101:102:nginx:/var/www:/bin/false\n",
                                           0644));
        ASSERT_OK(write_string_file_atomic(group, "root:x:0:\nnginx:x:102:\nweb:x:200:nginx\n",
                                           0644));
        return root;
}

static json_t *build(const char *config_json, const ContainerOptions *o, ContainerConfig *cfg) {
        _cleanup_free_ char *error = NULL;
        json_t *j;
        int r;

        r = container_config_build(config_json, o, cfg, &error);
        if (r < 0)
                test_fail(__FILE__, __LINE__, "container_config_build: %d %s", r, strna(error));
        j = json_loads(cfg->json, 0, NULL);
        ASSERT_NOT_NULL(j);
        return j;
}

static bool json_array_has_string(json_t *a, const char *s) {
        size_t i;
        json_t *v;

        json_array_foreach (a, i, v)
                if (streq(json_string_value(v), s))
                        return true;
        return false;
}

TEST(state_names) {
        ASSERT_STREQ(container_state_to_string(CONTAINER_PAUSED), "paused");
        ASSERT_EQ(container_state_from_string("exited"), CONTAINER_EXITED);
        ASSERT_ERROR(container_state_from_string("removed"), EINVAL);
        ASSERT_ERROR(container_state_from_string(NULL), EINVAL);
        ASSERT_NULL(container_state_to_string(_CONTAINER_STATE_MAX));
        /* The monitor's states are ours, number for number. */
        ASSERT_EQ((int) MONITOR_STATE_RUNNING, (int) CONTAINER_RUNNING);
        ASSERT_EQ((int) MONITOR_STATE_EXITED, (int) CONTAINER_EXITED);
}

TEST(ids) {
        char a[CONTAINER_ID_LENGTH + 1], b[CONTAINER_ID_LENGTH + 1];

        ASSERT_OK(container_id_generate(a));
        ASSERT_OK(container_id_generate(b));
        ASSERT_EQ(strlen(a), 64U);
        ASSERT_TRUE(container_id_is_valid(a));
        ASSERT_TRUE(strcmp(a, b) != 0);
        ASSERT_TRUE(container_id_prefix_is_valid("abcd"));
        ASSERT_TRUE(container_id_prefix_is_valid(a));
        ASSERT_FALSE(container_id_prefix_is_valid("abc"));
        ASSERT_FALSE(container_id_prefix_is_valid("ABCD"));
        ASSERT_FALSE(container_id_prefix_is_valid("abcg"));
        ASSERT_FALSE(container_id_is_valid("abcd"));
        ASSERT_FALSE(container_id_is_valid(NULL));
        a[10] = 'G';
        ASSERT_FALSE(container_id_is_valid(a));
}

TEST(names) {
        char long_name[CONTAINER_NAME_MAX + 2];

        ASSERT_TRUE(container_name_is_valid("web"));
        ASSERT_TRUE(container_name_is_valid("0web_1.a-b"));
        ASSERT_FALSE(container_name_is_valid(""));
        ASSERT_FALSE(container_name_is_valid(NULL));
        ASSERT_FALSE(container_name_is_valid("-web"));
        ASSERT_FALSE(container_name_is_valid(".web"));
        ASSERT_FALSE(container_name_is_valid("we b"));
        ASSERT_FALSE(container_name_is_valid("we/b"));
        ASSERT_FALSE(container_name_is_valid("wéb"));
        memset(long_name, 'a', CONTAINER_NAME_MAX);
        long_name[CONTAINER_NAME_MAX] = 0;
        ASSERT_TRUE(container_name_is_valid(long_name));
        long_name[CONTAINER_NAME_MAX] = 'a';
        long_name[CONTAINER_NAME_MAX + 1] = 0;
        ASSERT_FALSE(container_name_is_valid(long_name));
}

TEST(config_default_with_options) {
        _cleanup_free_ char *root = make_rootfs("root-options");
        _cleanup_(container_options_done) ContainerOptions o = CONTAINER_OPTIONS_INIT;
        _cleanup_(container_config_done) ContainerConfig cfg = {};
        _cleanup_(json_decrefp) json_t *j = NULL;
        json_t *res, *ns, *v;
        size_t i;

        o.rootfs = strdup(root);
        o.args = strv_new_test("/bin/echo", "hi");
        o.env = strv_new_test("FOO=bar", "PATH=/x");
        o.cwd = strdup("/tmp");
        o.hostname = strdup("box");
        o.terminal = 1;
        o.memory = 64 * 1024 * 1024;
        o.memory_swap = 128 * 1024 * 1024;
        o.cpus = 0.5;
        o.cpu_shares = 512;
        o.pids = 100;
        o.read_only = 1;
        o.network = strdup("host");
        o.seccomp = strdup("unconfined");
        j = build("", &o, &cfg);

        ASSERT_STREQ(cfg.root_path, root);
        ASSERT_FALSE(cfg.default_seccomp);
        ASSERT_EQ(cfg.stop_signal, SIGTERM);
        ASSERT_STREQ(json_string_value(json_object_get(json_object_get(j, "root"), "path")), root);
        ASSERT_TRUE(json_is_true(json_object_get(json_object_get(j, "root"), "readonly")));
        ASSERT_STREQ(json_string_value(json_array_get(
                             json_object_get(json_object_get(j, "process"), "args"), 1)),
                     "hi");
        v = json_object_get(json_object_get(j, "process"), "env");
        ASSERT_TRUE(json_array_has_string(v, "FOO=bar"));
        /* Replaced, not added twice. */
        ASSERT_TRUE(json_array_has_string(v, "PATH=/x"));
        json_array_foreach (v, i, res)
                ASSERT_FALSE(startswith(json_string_value(res), "PATH=/usr"));
        ASSERT_STREQ(json_string_value(json_object_get(json_object_get(j, "process"), "cwd")),
                     "/tmp");
        ASSERT_TRUE(json_is_true(json_object_get(json_object_get(j, "process"), "terminal")));
        ASSERT_STREQ(json_string_value(json_object_get(j, "hostname")), "box");

        res = json_object_get(json_object_get(j, "linux"), "resources");
        ASSERT_EQ(json_integer_value(json_object_get(json_object_get(res, "memory"), "limit")),
                  64 * 1024 * 1024);
        ASSERT_EQ(json_integer_value(json_object_get(json_object_get(res, "memory"), "swap")),
                  128 * 1024 * 1024);
        ASSERT_EQ(json_integer_value(json_object_get(json_object_get(res, "cpu"), "quota")), 50000);
        ASSERT_EQ(json_integer_value(json_object_get(json_object_get(res, "cpu"), "period")),
                  100000);
        ASSERT_EQ(json_integer_value(json_object_get(json_object_get(res, "cpu"), "shares")), 512);
        ASSERT_EQ(json_integer_value(json_object_get(json_object_get(res, "pids"), "limit")), 100);
        /* Device rules of the default config are kept next to the new limits. */
        ASSERT_TRUE(json_array_size(json_object_get(res, "devices")) > 0);

        ns = json_object_get(json_object_get(j, "linux"), "namespaces");
        ASSERT_TRUE(json_array_size(ns) > 0);
        json_array_foreach (ns, i, v)
                ASSERT_FALSE(streq(json_string_value(json_object_get(v, "type")), "network"));
        ASSERT_NULL(json_object_get(json_object_get(j, "linux"), "seccomp"));
}

TEST(config_capabilities) {
        _cleanup_free_ char *root = make_rootfs("root-caps");
        _cleanup_(container_options_done) ContainerOptions o = CONTAINER_OPTIONS_INIT;
        _cleanup_(container_config_done) ContainerConfig cfg = {}, cfg2 = {};
        _cleanup_(json_decrefp) json_t *j = NULL, *j2 = NULL;
        json_t *caps;

        o.rootfs = strdup(root);
        o.cap_add = strv_new_test("NET_ADMIN", "cap_sys_time");
        o.cap_drop = strv_new_test("CAP_CHOWN");
        j = build("", &o, &cfg);
        caps = json_object_get(json_object_get(j, "process"), "capabilities");
        ASSERT_TRUE(json_array_has_string(json_object_get(caps, "bounding"), "CAP_NET_ADMIN"));
        ASSERT_TRUE(json_array_has_string(json_object_get(caps, "effective"), "CAP_SYS_TIME"));
        ASSERT_TRUE(json_array_has_string(json_object_get(caps, "permitted"), "CAP_NET_ADMIN"));
        ASSERT_TRUE(json_array_has_string(json_object_get(caps, "bounding"), "CAP_KILL"));
        ASSERT_FALSE(json_array_has_string(json_object_get(caps, "bounding"), "CAP_CHOWN"));
        ASSERT_FALSE(json_array_has_string(json_object_get(caps, "permitted"), "CAP_CHOWN"));
        /* Ambient is left as it was (empty). */
        ASSERT_EQ(json_array_size(json_object_get(caps, "ambient")), 0U);

        /* Docker's "drop ALL, add one". */
        o.cap_add = strv_free(o.cap_add);
        o.cap_drop = strv_free(o.cap_drop);
        o.cap_add = strv_new_test("NET_BIND_SERVICE");
        o.cap_drop = strv_new_test("ALL");
        j2 = build("", &o, &cfg2);
        caps = json_object_get(json_object_get(j2, "process"), "capabilities");
        ASSERT_EQ(json_array_size(json_object_get(caps, "bounding")), 1U);
        ASSERT_TRUE(
                json_array_has_string(json_object_get(caps, "bounding"), "CAP_NET_BIND_SERVICE"));
}

TEST(config_user) {
        _cleanup_free_ char *root = make_rootfs("root-user"), *error = NULL;
        _cleanup_(container_options_done) ContainerOptions o = CONTAINER_OPTIONS_INIT;
        _cleanup_(container_config_done) ContainerConfig cfg = {}, bad = {};
        _cleanup_(json_decrefp) json_t *j = NULL;
        json_t *user;

        o.rootfs = strdup(root);
        o.user = strdup("nginx");
        j = build("", &o, &cfg);
        user = json_object_get(json_object_get(j, "process"), "user");
        ASSERT_EQ(json_integer_value(json_object_get(user, "uid")), 101);
        ASSERT_EQ(json_integer_value(json_object_get(user, "gid")), 102);
        ASSERT_EQ(json_integer_value(json_array_get(json_object_get(user, "additionalGids"), 0)),
                  200);
        ASSERT_TRUE(json_array_has_string(json_object_get(json_object_get(j, "process"), "env"),
                                          "HOME=/var/www"));

        free(o.user);
        o.user = strdup("nosuch");
        ASSERT_ERROR(container_config_build("", &o, &bad, &error), EBADMSG);
        ASSERT_NOT_NULL(strstr(error, "'nosuch'"));
        ASSERT_NOT_NULL(strstr(error, "not found"));
}

TEST(config_given_json) {
        _cleanup_free_ char *root = make_rootfs("root-json"), *config = NULL, *error = NULL;
        _cleanup_(container_options_done) ContainerOptions o = CONTAINER_OPTIONS_INIT;
        _cleanup_(container_config_done) ContainerConfig cfg = {}, bad = {};
        _cleanup_(json_decrefp) json_t *j = NULL;

        /* A relative root.path is resolved against the bundle; the annotation sets the stop
         * signal. */
        ASSERT_OK(oci_config_default_json_test("root-json", &config));
        o.bundle = strdup(test_tmpdir());
        o.args = strv_new_test("/bin/true");
        j = build(config, &o, &cfg);
        ASSERT_STREQ(cfg.root_path, root);
        ASSERT_TRUE(cfg.default_seccomp);
        ASSERT_EQ(cfg.stop_signal, SIGQUIT);
        ASSERT_STREQ(json_string_value(json_array_get(
                             json_object_get(json_object_get(j, "process"), "args"), 0)),
                     "/bin/true");

        /* Without a bundle a relative root cannot be resolved. */
        o.bundle = mfree(o.bundle);
        ASSERT_ERROR(container_config_build(config, &o, &bad, &error), EBADMSG);
        ASSERT_TRUE(startswith(error, "root.path: "));
}

TEST(config_errors) {
        _cleanup_free_ char *root = make_rootfs("root-errors");
        _cleanup_(container_options_done) ContainerOptions o = CONTAINER_OPTIONS_INIT;
        ContainerConfig cfg = {};
        char *error = NULL;

        /* No rootfs and no config. */
        ASSERT_ERROR(container_config_build("", &o, &cfg, &error), EINVAL);
        ASSERT_TRUE(startswith(error, "rootfs: "));
        error = mfree(error);

        o.rootfs = strdup("/nonexistent/rootfs");
        ASSERT_ERROR(container_config_build("", &o, &cfg, &error), EBADMSG);
        ASSERT_TRUE(startswith(error, "root.path: "));
        error = mfree(error);
        free(o.rootfs);
        o.rootfs = strdup(root);

        ASSERT_ERROR(container_config_build("{\"ociVersion\": ", &o, &cfg, &error), EBADMSG);
        ASSERT_NOT_NULL(error);
        error = mfree(error);

        ASSERT_ERROR(container_config_build("[1]", &o, &cfg, &error), EBADMSG);
        error = mfree(error);

        /* The parser's message, with its JSON path. */
        ASSERT_ERROR(container_config_build("{\"ociVersion\": \"1.0.2\", \"process\": "
                                            "{\"user\": {\"uid\": 0, \"gid\": 0}, \"args\": [], "
                                            "\"cwd\": \"/\"}}",
                                            &o, &cfg, &error),
                     EBADMSG);
        ASSERT_TRUE(startswith(error, "process.args"));
        error = mfree(error);

        o.cap_add = strv_new_test("NET_FOO");
        ASSERT_ERROR(container_config_build("", &o, &cfg, &error), EINVAL);
        ASSERT_STREQ(error, "cap_add: unknown capability 'NET_FOO'");
        error = mfree(error);
        o.cap_add = strv_free(o.cap_add);

        o.memory = 0;
        ASSERT_ERROR(container_config_build("", &o, &cfg, &error), EINVAL);
        ASSERT_TRUE(startswith(error, "memory: "));
        error = mfree(error);
        o.memory = CONTAINER_OPTION_UNSET;

        o.memory_swap = 1 << 20;
        ASSERT_ERROR(container_config_build("", &o, &cfg, &error), EINVAL);
        ASSERT_TRUE(startswith(error, "memory_swap: "));
        error = mfree(error);
        o.memory_swap = CONTAINER_OPTION_UNSET;

        o.pids = 0;
        ASSERT_ERROR(container_config_build("", &o, &cfg, &error), EINVAL);
        error = mfree(error);
        o.pids = CONTAINER_OPTION_UNSET;

        o.cpus = 0;
        ASSERT_ERROR(container_config_build("", &o, &cfg, &error), EINVAL);
        error = mfree(error);
        o.cpus = -1;

        o.network = strdup("bridge");
        ASSERT_ERROR(container_config_build("", &o, &cfg, &error), EINVAL);
        ASSERT_TRUE(startswith(error, "network: "));
        error = mfree(error);
        o.network = mfree(o.network);

        o.seccomp = strdup("strict");
        ASSERT_ERROR(container_config_build("", &o, &cfg, &error), EINVAL);
        error = mfree(error);
        o.seccomp = mfree(o.seccomp);

        o.cwd = strdup("relative");
        ASSERT_ERROR(container_config_build("", &o, &cfg, &error), EINVAL);
        error = mfree(error);
        o.cwd = mfree(o.cwd);

        o.env = strv_new_test("=x");
        ASSERT_ERROR(container_config_build("", &o, &cfg, &error), EINVAL);
        error = mfree(error);
        ASSERT_NULL(cfg.json);
}

TEST(options_to_json) {
        _cleanup_(container_options_done) ContainerOptions o = CONTAINER_OPTIONS_INIT;
        _cleanup_(json_decrefp) json_t *j = NULL, *empty = NULL;

        ASSERT_OK(container_options_to_json(&o, &empty));
        ASSERT_EQ(json_object_size(empty), 0U);
        o.rootfs = strdup("/r");
        o.memory = 4096;
        o.read_only = 0;
        o.cap_add = strv_new_test("NET_ADMIN");
        ASSERT_OK(container_options_to_json(&o, &j));
        ASSERT_STREQ(json_string_value(json_object_get(j, "rootfs")), "/r");
        ASSERT_EQ(json_integer_value(json_object_get(j, "memory")), 4096);
        ASSERT_TRUE(json_is_false(json_object_get(j, "read_only")));
        ASSERT_NULL(json_object_get(j, "terminal"));
        ASSERT_EQ(json_array_size(json_object_get(j, "cap_add")), 1U);
}

/* A container directory as CreateContainer leaves it, with the status a monitor left. */
static void fake_container(const char *state_dir, const char *id, const char *name,
                           uint64_t created_at, const char *state, bool with_container_json) {
        _cleanup_free_ char *dir = NULL, *file = NULL, *status = NULL, *text = NULL;
        _cleanup_(json_decrefp) json_t *j = NULL, *s = json_object();
        MonitorStatus st = MONITOR_STATUS_INIT;

        dir = strjoin(state_dir, "/containers/", id);
        ASSERT_OK(mkdir_p(dir, 0700));
        if (with_container_json) {
                j = json_pack("{sssss{ss}sssIsis{}ss}", "id", id, "name", name, "labels", "app",
                              name, "image", "", "created_at", (json_int_t) created_at,
                              "stop_signal", 15, "options", "rootfs", "/nonexistent");
                ASSERT_NOT_NULL(j);
                file = path_join(dir, "container.json");
                ASSERT_EQ(json_dump_file(j, file, 0), 0);
        }
        if (state) {
                st.state = monitor_state_from_string(state);
                if (st.state == MONITOR_STATE_EXITED) {
                        st.exit_code = 3;
                        st.finished_at = created_at + 10;
                } else
                        st.pid = 999999;
                ASSERT_OK(monitor_status_to_json(&st, s));
                text = json_dumps(s, 0);
                status = path_join(dir, MONITOR_STATUS_FILE);
                ASSERT_OK(write_string_file_atomic(status, text, 0600));
        }
}

TEST(load_and_lookup) {
        _cleanup_free_ char *state_dir = path_join(test_tmpdir(), "state");
        _cleanup_(manager_freep) Manager *m = NULL;
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_free_ char *half = NULL, *json = NULL, *garbled = NULL;
        const char *a = "abcd000000000000000000000000000000000000000000000000000000000001",
                   *b = "abcd000000000000000000000000000000000000000000000000000000000002",
                   *c = "ef00000000000000000000000000000000000000000000000000000000000003",
                   *h = "1234000000000000000000000000000000000000000000000000000000000004",
                   *g = "5678000000000000000000000000000000000000000000000000000000000005";
        Container *found;

        ASSERT_OK(sd_event_new(&e));
        fake_container(state_dir, b, "second", 2000, "exited", true);
        fake_container(state_dir, a, "first", 1000, "exited", true);
        /* Its monitor is gone while it ran: recovered as exited, exit code -1. */
        fake_container(state_dir, c, "lost", 3000, "running", true);
        /* CreateContainer never finished this one. */
        fake_container(state_dir, h, "half", 4000, "created", false);
        /* A container.json that cannot be read is kept, but not loaded. */
        fake_container(state_dir, g, "garbled", 5000, "exited", false);
        garbled = strjoin(state_dir, "/containers/", g, "/container.json");
        ASSERT_OK(write_string_file_atomic(garbled, "{\"id\": 1", 0600));

        ASSERT_OK(manager_new(e, state_dir, NULL, NULL, &m));
        ASSERT_OK(manager_load(m));
        ASSERT_EQ(manager_get_n_containers(m), 3U);
        /* Oldest first. */
        ASSERT_STREQ(manager_get_container(m, 0)->name, "first");
        ASSERT_STREQ(manager_get_container(m, 1)->name, "second");
        ASSERT_STREQ(manager_get_container(m, 2)->name, "lost");
        half = strjoin(state_dir, "/containers/", h);
        ASSERT_TRUE(access(half, F_OK) < 0 && errno == ENOENT);
        ASSERT_OK(access(garbled, F_OK));

        ASSERT_OK(manager_find(m, "first", &found));
        ASSERT_STREQ(found->id, a);
        ASSERT_EQ(found->state, CONTAINER_EXITED);
        ASSERT_EQ(found->exit_code, 3);
        ASSERT_STREQ(container_get_label(found, "app"), "first");
        ASSERT_NULL(container_get_label(found, "nope"));
        ASSERT_OK(manager_find(m, b, &found));
        ASSERT_STREQ(found->name, "second");
        ASSERT_OK(manager_find(m, "ef00", &found));
        ASSERT_STREQ(found->name, "lost");
        ASSERT_EQ(found->state, CONTAINER_EXITED);
        ASSERT_EQ(found->exit_code, -1);
        ASSERT_EQ(found->pid, 0);
        ASSERT_STREQ(found->error, "monitor lost");
        ASSERT_ERROR(manager_find(m, "abcd", &found), ENOTUNIQ);
        ASSERT_ERROR(manager_find(m, "abc", &found), ENOENT);
        ASSERT_ERROR(manager_find(m, "ffff", &found), ENOENT);
        ASSERT_ERROR(manager_find(m, "", &found), ENOENT);
        ASSERT_ERROR(manager_find(m, "nobody", &found), ENOENT);
        ASSERT_NULL(manager_get_by_id(m, "abcd"));

        ASSERT_OK(manager_find(m, "first", &found));
        ASSERT_OK(container_inspect(found, &json));
        ASSERT_NOT_NULL(strstr(json, "\"state\": \"exited\""));
        ASSERT_NOT_NULL(strstr(json, "\"finished_at\": \"1970-01-01T00:00:00.001010Z\""));

        /* Exited containers have no monitor: removal is immediate. */
        ASSERT_EQ(manager_remove(m, found, false, NULL, NULL, NULL), 1);
        ASSERT_EQ(manager_get_n_containers(m), 2U);
        ASSERT_ERROR(manager_find(m, "first", &found), ENOENT);
        ASSERT_OK(manager_find(m, "abcd", &found));
        ASSERT_STREQ(found->name, "second");
        m = manager_free(m);

        /* A restart sees the same, and the lost one stays exited with -1. */
        ASSERT_OK(manager_new(e, state_dir, NULL, NULL, &m));
        ASSERT_OK(manager_load(m));
        ASSERT_EQ(manager_get_n_containers(m), 2U);
        ASSERT_OK(manager_find(m, "lost", &found));
        ASSERT_EQ(found->exit_code, -1);
}
