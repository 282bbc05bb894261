/* SPDX-License-Identifier: Apache-2.0 */
/* test-runtime-container.c: containers from images: Docker's rules for the process and ports. */
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "path-util.h"
#include "runtime-internal.h"
#include "string-util.h"
#include "tests.h"

#define DIGEST "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static char **strv_make(const char *first, ...) {
        char **l = NULL;
        va_list ap;

        va_start(ap, first);
        for (const char *s = first; s; s = va_arg(ap, const char *))
                ASSERT_OK(strv_extend(&l, s));
        va_end(ap);
        return l;
}
#define STRV(...) strv_make(__VA_ARGS__, NULL)

/* An empty overlay mount point, and a directory with the image's /etc/passwd and /etc/group. */
static void make_roots(char **ret_root, char **ret_user_root) {
        _cleanup_free_ char *etc = NULL, *passwd = NULL, *group = NULL;

        *ret_root = path_join(test_tmpdir(), "rootfs");
        *ret_user_root = path_join(test_tmpdir(), "user-root");
        ASSERT_NOT_NULL(*ret_root);
        ASSERT_NOT_NULL(*ret_user_root);
        ASSERT_OK(mkdir_p(*ret_root, 0755));
        etc = path_join(*ret_user_root, "etc");
        passwd = path_join(etc, "passwd");
        group = path_join(etc, "group");
        ASSERT_OK(mkdir_p(etc, 0755));
        ASSERT_OK(write_string_file_atomic(passwd,
                                           "root:x:0:0:root:/root:/bin/sh\n"
                                           "nginx:x:101:102:nginx:/var/www:/bin/false\n",
                                           0644));
        ASSERT_OK(write_string_file_atomic(group, "root:x:0:\nnginx:x:102:\nweb:x:200:nginx\n",
                                           0644));
}

/* An image config as the store gives it. */
typedef struct TestImage {
        char **entrypoint, **cmd, **env, **ports, **override;
        const char *working_dir, *user, *stop_signal;
} TestImage;

static void test_image_done(TestImage *t) {
        strv_free(t->entrypoint);
        strv_free(t->cmd);
        strv_free(t->env);
        strv_free(t->ports);
        strv_free(t->override);
}

static ContainerImage image_of(const TestImage *t) {
        return (ContainerImage){
                .ref = "localhost/test:1",
                .digest = DIGEST,
                .entrypoint = t->entrypoint,
                .cmd = t->cmd,
                .env = t->env,
                .working_dir = t->working_dir,
                .user = t->user,
                .stop_signal = t->stop_signal,
                .exposed_ports = t->ports,
                .entrypoint_override = t->override,
        };
}

/* Builds the config and returns its process object (a new reference); *ret_config is kept. */
static json_t *build(const TestImage *t, const ContainerOptions *o, ContainerConfig *ret_config) {
        _cleanup_free_ char *root = NULL, *user_root = NULL, *error = NULL;
        ContainerImage img = image_of(t);
        json_t *j, *process;
        int r;

        make_roots(&root, &user_root);
        r = container_config_build_image(&img, root, user_root, o, ret_config, &error);
        if (r < 0)
                test_fail(__FILE__, __LINE__, "container_config_build_image: %d %s", r,
                          strna(error));
        j = json_loads(ret_config->json, 0, NULL);
        ASSERT_NOT_NULL(j);
        ASSERT_STREQ(json_string_value(json_object_get(json_object_get(j, "root"), "path")), root);
        process = json_incref(json_object_get(j, "process"));
        json_decref(j);
        ASSERT_NOT_NULL(process);
        return process;
}

/* The process args joined by '|'. */
static char *args_of(json_t *process) {
        char *s = strdup("");
        json_t *v;
        size_t i;

        json_array_foreach (json_object_get(process, "args"), i, v)
                ASSERT_OK(strextend(&s, i > 0 ? "|" : "", json_string_value(v)));
        return s;
}

/* The value of key in process.env, or NULL; fails if the key is there twice. */
static const char *env_of(json_t *process, const char *key) {
        const char *found = NULL;
        size_t n = strlen(key), i;
        json_t *v;

        json_array_foreach (json_object_get(process, "env"), i, v) {
                const char *e = json_string_value(v);

                if (strncmp(e, key, n) == 0 && e[n] == '=') {
                        ASSERT_NULL(found);
                        found = e + n + 1;
                }
        }
        return found;
}

static void check_args(const TestImage *t, const ContainerOptions *o, const char *want) {
        _cleanup_(container_config_done) ContainerConfig cfg = {};
        _cleanup_(json_decrefp) json_t *p = build(t, o, &cfg);
        _cleanup_free_ char *got = args_of(p);

        ASSERT_STREQ(got, want);
}

TEST(entrypoint_and_cmd) {
        _cleanup_(container_options_done) ContainerOptions o = CONTAINER_OPTIONS_INIT;
        TestImage t = {
                .entrypoint = STRV("/bin/sh", "-c"),
                .cmd = STRV("echo hi"),
        };

        /* Entrypoint followed by Cmd */
        check_args(&t, &o, "/bin/sh|-c|echo hi");
        /* args replace Cmd, after the Entrypoint */
        o.args = STRV("echo args");
        check_args(&t, &o, "/bin/sh|-c|echo args");
        /* an entrypoint given at creation replaces the image's and drops its Cmd */
        o.args = strv_free(o.args);
        t.override = STRV("/bin/echo", "over");
        check_args(&t, &o, "/bin/echo|over");
        /* ... but not the args given with it */
        o.args = STRV("and", "args");
        check_args(&t, &o, "/bin/echo|over|and|args");
        test_image_done(&t);

        /* only Cmd, only Entrypoint */
        t = (TestImage){ .cmd = STRV("/bin/true", "x") };
        o.args = strv_free(o.args);
        check_args(&t, &o, "/bin/true|x");
        o.args = STRV("/bin/false");
        check_args(&t, &o, "/bin/false");
        test_image_done(&t);
        t = (TestImage){ .entrypoint = STRV("/bin/busybox") };
        o.args = strv_free(o.args);
        check_args(&t, &o, "/bin/busybox");
        o.args = STRV("ls", "/");
        check_args(&t, &o, "/bin/busybox|ls|/");
        test_image_done(&t);
}

TEST(nothing_to_run) {
        _cleanup_(container_options_done) ContainerOptions o = CONTAINER_OPTIONS_INIT;
        _cleanup_free_ char *root = NULL, *user_root = NULL, *error = NULL;
        ContainerConfig cfg = {};
        TestImage t = { .env = STRV("A=1") };
        ContainerImage img = image_of(&t);

        make_roots(&root, &user_root);
        ASSERT_ERROR(container_config_build_image(&img, root, user_root, &o, &cfg, &error), EINVAL);
        ASSERT_STREQ(error, "args: image 'localhost/test:1' has neither Entrypoint nor Cmd: give "
                            "'args' or 'entrypoint'");
        error = mfree(error);
        /* an empty Cmd is no command either */
        t.cmd = STRV("");
        img = image_of(&t);
        ASSERT_ERROR(container_config_build_image(&img, root, user_root, &o, &cfg, &error), EINVAL);
        error = mfree(error);
        /* args alone are enough */
        o.args = STRV("/bin/true");
        t.cmd = strv_free(t.cmd);
        img = image_of(&t);
        ASSERT_OK(container_config_build_image(&img, root, user_root, &o, &cfg, &error));
        container_config_done(&cfg);
        test_image_done(&t);
}

TEST(env_merge_and_override) {
        _cleanup_(container_options_done) ContainerOptions o = CONTAINER_OPTIONS_INIT;
        _cleanup_(container_config_done) ContainerConfig cfg = {};
        _cleanup_(json_decrefp) json_t *p = NULL;
        TestImage t = {
                .cmd = STRV("/bin/true"),
                .env = STRV("PATH=/image/bin:/bin", "A=image", "KEEP=1"),
        };

        o.env = STRV("A=option", "B=new", "EMPTY=");
        p = build(&t, &o, &cfg);
        ASSERT_STREQ(env_of(p, "PATH"), "/image/bin:/bin"); /* the image's over the default */
        ASSERT_STREQ(env_of(p, "A"), "option");
        ASSERT_STREQ(env_of(p, "B"), "new");
        ASSERT_STREQ(env_of(p, "KEEP"), "1");
        ASSERT_STREQ(env_of(p, "EMPTY"), "");
        test_image_done(&t);
}

TEST(working_dir) {
        _cleanup_(container_options_done) ContainerOptions o = CONTAINER_OPTIONS_INIT;
        TestImage t = { .cmd = STRV("/bin/true"), .working_dir = "/srv/app" };

        {
                _cleanup_(container_config_done) ContainerConfig cfg = {};
                _cleanup_(json_decrefp) json_t *p = build(&t, &o, &cfg);
                ASSERT_STREQ(json_string_value(json_object_get(p, "cwd")), "/srv/app");
        }
        o.cwd = strdup("/tmp");
        {
                _cleanup_(container_config_done) ContainerConfig cfg = {};
                _cleanup_(json_decrefp) json_t *p = build(&t, &o, &cfg);
                ASSERT_STREQ(json_string_value(json_object_get(p, "cwd")), "/tmp");
        }
        /* none set: the root */
        o.cwd = mfree(o.cwd);
        t.working_dir = "";
        {
                _cleanup_(container_config_done) ContainerConfig cfg = {};
                _cleanup_(json_decrefp) json_t *p = build(&t, &o, &cfg);
                ASSERT_STREQ(json_string_value(json_object_get(p, "cwd")), "/");
        }
        test_image_done(&t);
}

static void check_user(const TestImage *t, const ContainerOptions *o, int uid, int gid) {
        _cleanup_(container_config_done) ContainerConfig cfg = {};
        _cleanup_(json_decrefp) json_t *p = build(t, o, &cfg);
        json_t *u = json_object_get(p, "user");

        ASSERT_EQ(json_integer_value(json_object_get(u, "uid")), uid);
        ASSERT_EQ(json_integer_value(json_object_get(u, "gid")), gid);
}

TEST(user_from_image_and_override) {
        _cleanup_(container_options_done) ContainerOptions o = CONTAINER_OPTIONS_INIT;
        _cleanup_free_ char *root = NULL, *user_root = NULL, *error = NULL;
        ContainerConfig cfg = {};
        TestImage t = { .cmd = STRV("/bin/true"), .user = "nginx" };
        ContainerImage img;

        /* the image's User, resolved in its /etc/passwd */
        check_user(&t, &o, 101, 102);
        /* numeric, with a group by name */
        t.user = "1000:web";
        check_user(&t, &o, 1000, 200);
        /* the option wins */
        o.user = strdup("root");
        check_user(&t, &o, 0, 0);
        o.user = mfree(o.user);
        /* none: root */
        t.user = NULL;
        check_user(&t, &o, 0, 0);

        /* a user the image does not know */
        t.user = "nobody-here";
        img = image_of(&t);
        make_roots(&root, &user_root);
        ASSERT_ERROR(container_config_build_image(&img, root, user_root, &o, &cfg, &error),
                     EBADMSG);
        ASSERT_NOT_NULL(strstr(error, "nobody-here"));
        error = mfree(error);
        /* a user but no passwd to look it up in */
        ASSERT_ERROR(container_config_build_image(&img, root, NULL, &o, &cfg, &error), EBADMSG);
        ASSERT_STREQ(error, "user: image 'localhost/test:1' has no /etc/passwd to resolve "
                            "'nobody-here' in");
        test_image_done(&t);
}

TEST(stop_signal) {
        _cleanup_(container_options_done) ContainerOptions o = CONTAINER_OPTIONS_INIT;
        _cleanup_free_ char *root = NULL, *user_root = NULL, *error = NULL;
        ContainerConfig cfg = {};
        TestImage t = { .cmd = STRV("/bin/true"), .stop_signal = "SIGQUIT" };
        ContainerImage img;

        {
                _cleanup_(container_config_done) ContainerConfig c = {};
                json_decref(build(&t, &o, &c));
                ASSERT_EQ(c.stop_signal, SIGQUIT);
        }
        t.stop_signal = NULL;
        {
                _cleanup_(container_config_done) ContainerConfig c = {};
                json_decref(build(&t, &o, &c));
                ASSERT_EQ(c.stop_signal, SIGTERM);
        }
        t.stop_signal = "SIGNOPE";
        img = image_of(&t);
        make_roots(&root, &user_root);
        ASSERT_ERROR(container_config_build_image(&img, root, user_root, &o, &cfg, &error),
                     EBADMSG);
        ASSERT_STREQ(error, "image 'localhost/test:1': config.StopSignal: 'SIGNOPE' is not a "
                            "signal");
        test_image_done(&t);
}

TEST(options_still_apply) {
        _cleanup_(container_options_done) ContainerOptions o = CONTAINER_OPTIONS_INIT;
        _cleanup_(container_config_done) ContainerConfig cfg = {};
        _cleanup_(json_decrefp) json_t *p = NULL, *j = NULL;
        TestImage t = { .cmd = STRV("/bin/true") };

        o.hostname = strdup("web-1");
        o.read_only = 1;
        o.rootfs = strdup("/somewhere/else"); /* the overlay's mount point wins */
        p = build(&t, &o, &cfg);
        j = json_loads(cfg.json, 0, NULL);
        ASSERT_STREQ(json_string_value(json_object_get(j, "hostname")), "web-1");
        ASSERT_TRUE(json_is_true(json_object_get(json_object_get(j, "root"), "readonly")));
        test_image_done(&t);
}

TEST(exposed_ports) {
        _cleanup_(json_decrefp) json_t *options = json_object();
        _cleanup_free_ char *error = NULL, *dumped = NULL;
        TestImage t = { .ports = STRV("80/tcp", "53/udp", "8080", "80/tcp", "9/sctp") };
        ContainerImage img = image_of(&t);

        ASSERT_OK(container_image_annotate(&img, options, &error));
        ASSERT_NULL(error);
        dumped = json_dumps(json_object_get(options, "exposed_ports"), JSON_COMPACT);
        ASSERT_STREQ(dumped, "[\"80/tcp\",\"53/udp\",\"8080/tcp\",\"9/sctp\"]");
        ASSERT_STREQ(json_string_value(json_object_get(options, "image_digest")), DIGEST);
        test_image_done(&t);

        /* none: an empty list */
        t = (TestImage){};
        img = image_of(&t);
        ASSERT_OK(container_image_annotate(&img, options, NULL));
        ASSERT_EQ(json_array_size(json_object_get(options, "exposed_ports")), 0);

        for (const char *const *bad = (const char *const[]){ "http", "0/tcp", "65536", "80/icmp",
                                                             "/tcp", "80/", NULL };
             *bad; bad++) {
                t.ports = STRV(*bad);
                img = image_of(&t);
                ASSERT_ERROR(container_image_annotate(&img, options, &error), EBADMSG);
                ASSERT_NOT_NULL(strstr(error, "config.ExposedPorts: '"));
                ASSERT_NOT_NULL(strstr(error, *bad));
                error = mfree(error);
                t.ports = strv_free(t.ports);
        }
}
