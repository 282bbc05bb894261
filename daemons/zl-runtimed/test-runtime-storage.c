/* SPDX-License-Identifier: Apache-2.0 */
/* test-runtime-storage.c: storage, devices, sysctls and privileged options in a config. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cap-util.h"
#include "fileio.h"
#include "oci-config.h"
#include "path-util.h"
#include "runtime-internal.h"
#include "runtime-storage.h"
#include "string-util.h"
#include "tests.h"

/* A NULL-terminated list of string literals as the options carry it. */
#define STRV(...) ((char *const *) (const char *const[]){ __VA_ARGS__, NULL })

/* A directory under the test's tmpdir, created. */
static char *tmp_path(const char *name, bool create) {
        char *p = path_join(test_tmpdir(), name);

        ASSERT_NOT_NULL(p);
        if (create)
                ASSERT_OK(mkdir_p(p, 0755));
        return p;
}

/* Parses text, expecting -EINVAL and an error that contains want. */
static void parse_fails(const char *text, const char *want) {
        _cleanup_(storage_list_done) StorageList l = {};
        _cleanup_free_ char *error = NULL;

        ASSERT_ERROR(storage_parse(text, &l, &error), EINVAL);
        ASSERT_NOT_NULL(error);
        if (!strstr(error, want))
                test_fail(__FILE__, __LINE__, "error '%s' does not contain '%s'", error, want);
        ASSERT_EQ(l.n_volumes, 0u);
}

TEST(storage_parse_empty) {
        _cleanup_(storage_list_done) StorageList l = {};

        ASSERT_OK(storage_parse(NULL, &l, NULL));
        ASSERT_EQ(l.n_volumes, 0u);
        ASSERT_OK(storage_parse("", &l, NULL));
        ASSERT_EQ(l.n_volumes, 0u);
        ASSERT_OK(storage_parse("[]", &l, NULL));
        ASSERT_EQ(l.n_volumes, 0u);
}

TEST(storage_parse_all_types) {
        _cleanup_(storage_list_done) StorageList l = {};
        _cleanup_free_ char *src = tmp_path("bind-src", true), *text = NULL, *error = NULL;

        ASSERT_TRUE(
                asprintf(&text,
                         "[{\"type\": \"bind\", \"source\": \"%s\", \"target\": \"/app/config\","
                         "  \"readonly\": true},"
                         " {\"type\": \"named\", \"name\": \"api-data\", \"target\": \"/data/\","
                         "  \"tier\": \"cached\", \"size\": 1048576},"
                         " {\"type\": \"anonymous\", \"target\": \"/cache\"},"
                         " {\"type\": \"tmpfs\", \"target\": \"/tmp/x\", \"size\": \"2Mi\","
                         "  \"mode\": 1023, \"unknown\": 1},"
                         " {\"type\": \"tmpfs\", \"target\": \"/t2\", \"mode\": \"0700\"}]",
                         src) > 0);
        ASSERT_OK(storage_parse(text, &l, &error));
        ASSERT_NULL(error);
        ASSERT_EQ(l.n_volumes, 5u);

        ASSERT_EQ(l.volumes[0].type, STORAGE_BIND);
        ASSERT_STREQ(l.volumes[0].source, src);
        ASSERT_STREQ(l.volumes[0].target, "/app/config");
        ASSERT_TRUE(l.volumes[0].readonly);

        ASSERT_EQ(l.volumes[1].type, STORAGE_NAMED);
        ASSERT_STREQ(l.volumes[1].name, "api-data");
        ASSERT_STREQ(l.volumes[1].target, "/data"); /* simplified */
        ASSERT_FALSE(l.volumes[1].readonly);
        ASSERT_STREQ(l.volumes[1].tier, "cached");
        ASSERT_U64_EQ(l.volumes[1].size, 1048576);

        ASSERT_EQ(l.volumes[2].type, STORAGE_ANONYMOUS);
        ASSERT_STREQ(l.volumes[2].tier, "local");
        ASSERT_NULL(l.volumes[2].name);

        ASSERT_EQ(l.volumes[3].type, STORAGE_TMPFS);
        ASSERT_U64_EQ(l.volumes[3].size, 2 * 1024 * 1024);
        ASSERT_EQ(l.volumes[3].mode, 01777);
        ASSERT_EQ(l.volumes[4].mode, 0700);
        ASSERT_U64_EQ(l.volumes[4].size, 0);
}

TEST(storage_parse_tmpfs_defaults) {
        _cleanup_(storage_list_done) StorageList l = {};

        ASSERT_OK(storage_parse("[{\"type\": \"tmpfs\", \"target\": \"/t\"}]", &l, NULL));
        ASSERT_EQ(l.n_volumes, 1u);
        ASSERT_EQ(l.volumes[0].mode, 01777);
        ASSERT_U64_EQ(l.volumes[0].size, 0);
}

TEST(storage_parse_errors) {
        parse_fails("{", "storage: 1:");
        parse_fails("{}", "storage: expected a JSON array");
        parse_fails("[1]", "storage[0]: expected an object");
        parse_fails("[{\"target\": \"/x\"}]", "storage[0].type: required");
        parse_fails("[{\"type\": \"nfs\", \"target\": \"/x\"}]", "storage[0].type: 'nfs' is not");
        parse_fails("[{\"type\": \"anonymous\", \"target\": \"/a\"},"
                    " {\"type\": \"s3\", \"bucket\": \"b\", \"target\": \"/m\"}]",
                    "storage[1]: s3 volumes are not supported yet");
        parse_fails("[{\"type\": \"anonymous\"}]", "storage[0].target: required");
        parse_fails("[{\"type\": \"anonymous\", \"target\": \"rel\"}]",
                    "storage[0].target: 'rel' is not an absolute path");
        parse_fails("[{\"type\": \"anonymous\", \"target\": \"/\"}]", "storage[0].target: '/'");
        parse_fails("[{\"type\": \"anonymous\", \"target\": \"/a/../b\"}]",
                    "storage[0].target: '/a/../b'");
        parse_fails("[{\"type\": \"anonymous\", \"target\": 5}]",
                    "storage[0].target: expected a string");
        parse_fails("[{\"type\": \"anonymous\", \"target\": \"/a\"},"
                    " {\"type\": \"tmpfs\", \"target\": \"/a/\"}]",
                    "storage[1].target: '/a' is already the target of storage[0]");
        parse_fails("[{\"type\": \"bind\", \"source\": \"/nonexistent/zl-test\", \"target\": "
                    "\"/a\"}]",
                    "storage[0].source: '/nonexistent/zl-test': No such file or directory");
        parse_fails("[{\"type\": \"bind\", \"source\": \"etc\", \"target\": \"/a\"}]",
                    "storage[0].source: 'etc' is not an absolute path");
        parse_fails("[{\"type\": \"bind\", \"target\": \"/a\"}]", "storage[0].source: required");
        parse_fails("[{\"type\": \"named\", \"target\": \"/a\"}]", "storage[0].name: required");
        parse_fails("[{\"type\": \"named\", \"name\": \"../etc\", \"target\": \"/a\"}]",
                    "storage[0].name: '../etc' is not");
        parse_fails("[{\"type\": \"named\", \"name\": \"a/b\", \"target\": \"/a\"}]",
                    "storage[0].name: 'a/b' is not");
        parse_fails("[{\"type\": \"named\", \"name\": \"n\", \"target\": \"/a\", \"readonly\": "
                    "\"yes\"}]",
                    "storage[0].readonly: expected a boolean");
        parse_fails("[{\"type\": \"named\", \"name\": \"n\", \"target\": \"/a\", \"tier\": "
                    "\"fast\"}]",
                    "storage[0].tier: 'fast' is not one of");
        parse_fails("[{\"type\": \"tmpfs\", \"target\": \"/a\", \"size\": 0}]",
                    "storage[0].size: expected a size");
        parse_fails("[{\"type\": \"tmpfs\", \"target\": \"/a\", \"size\": \"lots\"}]",
                    "storage[0].size: expected a size");
        parse_fails("[{\"type\": \"tmpfs\", \"target\": \"/a\", \"mode\": 4096}]",
                    "storage[0].mode: expected a file mode");
        parse_fails("[{\"type\": \"tmpfs\", \"target\": \"/a\", \"mode\": \"999\"}]",
                    "storage[0].mode: expected a file mode");
}

TEST(storage_prepare_and_mounts) {
        _cleanup_(storage_list_done) StorageList l = {};
        _cleanup_free_ char *src = tmp_path("prep-src", true),
                            *volumes = tmp_path("volumes", false),
                            *cdir = tmp_path("container", true), *text = NULL, *error = NULL,
                            *named = NULL, *anon = NULL, *dumped = NULL;
        _cleanup_strv_free_ char **created = NULL;
        _cleanup_(json_decrefp) json_t *config = json_object();
        json_t *mounts;
        struct stat st;

        ASSERT_NOT_NULL(config);
        ASSERT_TRUE(asprintf(&text,
                             "[{\"type\": \"bind\", \"source\": \"%s\", \"target\": \"/b\"},"
                             " {\"type\": \"named\", \"name\": \"data\", \"target\": \"/d\","
                             "  \"readonly\": true},"
                             " {\"type\": \"anonymous\", \"target\": \"/a\"},"
                             " {\"type\": \"tmpfs\", \"target\": \"/t\", \"size\": 65536,"
                             "  \"mode\": 448}]",
                             src) > 0);
        ASSERT_OK(storage_parse(text, &l, NULL));

        ASSERT_OK(storage_volume_host_path(&l, 0, volumes, cdir, &named));
        ASSERT_NULL(named);
        ASSERT_OK(storage_volume_host_path(&l, 1, volumes, cdir, &named));
        ASSERT_OK(storage_volume_host_path(&l, 2, volumes, cdir, &anon));
        ASSERT_NOT_NULL(named);
        ASSERT_NOT_NULL(anon);
        ASSERT_NOT_NULL(path_startswith(named, volumes));
        ASSERT_NOT_NULL(endswith(named, "/data"));
        ASSERT_NOT_NULL(path_startswith(anon, cdir));
        ASSERT_NOT_NULL(endswith(anon, "/volumes/2"));

        /* First use creates the named volume (reported) and the anonymous one. */
        umask(077);
        ASSERT_OK(storage_prepare(&l, volumes, cdir, NULL, &created, &error));
        umask(022);
        ASSERT_NULL(error);
        ASSERT_EQ(strv_length(created), 1u);
        ASSERT_STREQ(created[0], named);
        ASSERT_OK(stat(named, &st));
        ASSERT_TRUE(S_ISDIR(st.st_mode));
        ASSERT_EQ(st.st_mode & 07777, 0755);
        ASSERT_OK(stat(anon, &st));
        ASSERT_TRUE(S_ISDIR(st.st_mode));
        created = strv_free(created);

        /* Second use: the named volume is kept, not reported as created. */
        ASSERT_OK(storage_prepare(&l, volumes, cdir, NULL, &created, NULL));
        ASSERT_EQ(strv_length(created), 0u);
        created = strv_free(created);

        ASSERT_OK(storage_apply_mounts(config, &l, volumes, cdir, &error));
        mounts = json_object_get(config, "mounts");
        ASSERT_EQ(json_array_size(mounts), 4u);
        dumped = json_dumps(mounts, JSON_COMPACT);
        ASSERT_NOT_NULL(dumped);
        {
                _cleanup_free_ char *want = NULL;

                ASSERT_TRUE(asprintf(&want,
                                     "[{\"destination\":\"/b\",\"type\":\"bind\",\"source\":\"%s\","
                                     "\"options\":[\"rbind\",\"rw\",\"rprivate\"]},"
                                     "{\"destination\":\"/d\",\"type\":\"bind\",\"source\":\"%s\","
                                     "\"options\":[\"rbind\",\"ro\",\"rprivate\"]},"
                                     "{\"destination\":\"/a\",\"type\":\"bind\",\"source\":\"%s\","
                                     "\"options\":[\"rbind\",\"rw\",\"rprivate\"]},"
                                     "{\"destination\":\"/t\",\"type\":\"tmpfs\",\"source\":"
                                     "\"tmpfs\",\"options\":[\"nosuid\",\"nodev\",\"mode=0700\","
                                     "\"size=65536\"]}]",
                                     src, named, anon) > 0);
                ASSERT_STREQ(dumped, want);
        }
}

TEST(storage_prepare_failure_removes_created) {
        _cleanup_(storage_list_done) StorageList l = {};
        _cleanup_free_ char *volumes = tmp_path("volumes-fail", true),
                            *cdir = tmp_path("container-fail", true), *blocker = NULL,
                            *fresh = NULL, *error = NULL;
        _cleanup_strv_free_ char **created = NULL;
        struct stat st;

        /* "taken" exists as a file where its directory would go. */
        blocker = path_join(volumes, "taken");
        fresh = path_join(volumes, "fresh");
        ASSERT_NOT_NULL(blocker);
        ASSERT_NOT_NULL(fresh);
        ASSERT_OK(write_string_file_atomic(blocker, "x", 0644));
        ASSERT_OK(storage_parse("[{\"type\": \"named\", \"name\": \"fresh\", \"target\": \"/f\"},"
                                " {\"type\": \"named\", \"name\": \"taken\", \"target\": \"/t\"}]",
                                &l, NULL));
        ASSERT_ERROR(storage_prepare(&l, volumes, cdir, NULL, &created, &error), ENOTDIR);
        ASSERT_NOT_NULL(strstr(error, "storage[1]: '"));
        ASSERT_NULL(created);
        ASSERT_ERROR(stat(fresh, &st) < 0 ? -errno : 0, ENOENT);
}

/* Three layers, top first, as the image store unpacks them (overlayfs whiteouts). */
static char **make_layers(void) {
        static const char *const dirs[] = {
                "layers/top/srv/gone",       "layers/top/opaque",      "layers/mid/srv/data",
                "layers/mid/srv/gone",       "layers/base/opaque/old", "layers/base/srv/data/x",
                "layers/base/file-then-dir",
        };
        char **lowers = NULL;

        for (size_t i = 0; i < ELEMENTSOF(dirs); i++)
                free(tmp_path(dirs[i], true));
        ASSERT_OK(strv_consume(&lowers, tmp_path("layers/top", false)));
        ASSERT_OK(strv_consume(&lowers, tmp_path("layers/mid", false)));
        ASSERT_OK(strv_consume(&lowers, tmp_path("layers/base", false)));
        return lowers;
}

TEST(layers_lookup) {
        _cleanup_strv_free_ char **lowers = make_layers();
        _cleanup_free_ char *path = NULL, *mid = tmp_path("layers/mid/srv/data", false),
                            *file = tmp_path("layers/mid/file-then-dir", false);
        struct stat st;

        /* The topmost copy wins; a path in no layer is absent. */
        ASSERT_OK(layers_lookup(lowers, "srv/data", &st, &path));
        ASSERT_STREQ(path, mid);
        ASSERT_TRUE(S_ISDIR(st.st_mode));
        ASSERT_OK(layers_lookup(lowers, "/srv//data/x/", &st, NULL));
        ASSERT_ERROR(layers_lookup(lowers, "srv/nosuch", &st, NULL), ENOENT);
        ASSERT_ERROR(layers_lookup(NULL, "srv", &st, NULL), ENOENT);
        /* A file in a higher layer hides a directory of the same name below. */
        ASSERT_OK(write_string_file_atomic(file, "x", 0644));
        ASSERT_ERROR(layers_lookup(lowers, "file-then-dir/anything", &st, NULL), ENOENT);
        ASSERT_OK(layers_lookup(lowers, "file-then-dir", &st, NULL));
        ASSERT_TRUE(S_ISREG(st.st_mode));

        if (geteuid() != 0)
                return; /* whiteouts and trusted.* xattrs need root, as for the image store */
        {
                _cleanup_free_ char *wh = tmp_path("layers/top/srv/gone/w", false),
                                    *below = tmp_path("layers/mid/srv/gone/w", false),
                                    *opaque = tmp_path("layers/top/opaque", false);

                ASSERT_OK(mkdir(below, 0755));
                ASSERT_OK(layers_lookup(lowers, "srv/gone/w", &st, NULL));
                ASSERT_OK(mknod(wh, S_IFCHR | 0000, makedev(0, 0)));
                ASSERT_ERROR(layers_lookup(lowers, "srv/gone/w", &st, NULL), ENOENT);
                /* An opaque directory hides what the layers below have under it. */
                ASSERT_OK(layers_lookup(lowers, "opaque/old", &st, NULL));
                ASSERT_OK(lsetxattr(opaque, "trusted.overlay.opaque", "y", 1, 0));
                ASSERT_ERROR(layers_lookup(lowers, "opaque/old", &st, NULL), ENOENT);
                ASSERT_OK(layers_lookup(lowers, "opaque", &st, NULL));
        }
}

/* A new volume takes the owner and mode of the image's directory at its target (an existing
 * named volume keeps its own); without such a directory it is 0755. */
TEST(storage_prepare_image_owner) {
        _cleanup_(storage_list_done) StorageList l = {};
        _cleanup_strv_free_ char **lowers = make_layers(), **created = NULL;
        _cleanup_free_ char *volumes = tmp_path("volumes-owner", false),
                            *cdir = tmp_path("container-owner", true),
                            *img_dir = tmp_path("layers/mid/srv/data", false), *named = NULL,
                            *anon = NULL, *other = NULL;
        uid_t uid = geteuid() == 0 ? 1234 : geteuid();
        gid_t gid = geteuid() == 0 ? 2345 : getegid();
        struct stat st;

        ASSERT_OK(chown(img_dir, uid, gid));
        ASSERT_OK(chmod(img_dir, 0710));
        ASSERT_OK(
                storage_parse("[{\"type\": \"named\", \"name\": \"pg\", \"target\": \"/srv/data\"},"
                              " {\"type\": \"anonymous\", \"target\": \"/srv/data/x\"},"
                              " {\"type\": \"named\", \"name\": \"o\", \"target\": \"/nowhere\"}]",
                              &l, NULL));
        ASSERT_OK(storage_prepare(&l, volumes, cdir, lowers, &created, NULL));
        ASSERT_OK(storage_volume_host_path(&l, 0, volumes, cdir, &named));
        ASSERT_OK(storage_volume_host_path(&l, 1, volumes, cdir, &anon));
        ASSERT_OK(storage_volume_host_path(&l, 2, volumes, cdir, &other));
        ASSERT_OK(stat(named, &st));
        ASSERT_EQ(st.st_uid, uid);
        ASSERT_EQ(st.st_gid, gid);
        ASSERT_EQ(st.st_mode & 07777, 0710);
        ASSERT_OK(stat(anon, &st));
        ASSERT_EQ(st.st_uid, geteuid()); /* the base layer's x: the test's own directory */
        ASSERT_EQ(st.st_mode & 07777, 0755);
        ASSERT_OK(stat(other, &st));
        ASSERT_EQ(st.st_mode & 07777, 0755);
        created = strv_free(created);

        /* Kept as it is once it exists: what the containers did to it stays. */
        ASSERT_OK(chmod(named, 0700));
        ASSERT_OK(storage_prepare(&l, volumes, cdir, lowers, &created, NULL));
        ASSERT_OK(stat(named, &st));
        ASSERT_EQ(st.st_mode & 07777, 0700);
}

TEST(devices) {
        _cleanup_(json_decrefp) json_t *config = NULL;
        _cleanup_free_ char *error = NULL, *file = tmp_path("not-a-device", false);
        json_t *devs, *rules, *d;

        config = json_pack("{s{s[{sssssisi}]s{s[]}}}", "linux", "devices", "path", "/dev/null",
                           "type", "c", "major", 9, "minor", 9, "resources", "devices");
        ASSERT_NOT_NULL(config);
        ASSERT_OK(config_apply_devices(config, NULL, NULL));
        ASSERT_OK(config_apply_devices(config, "", NULL));
        ASSERT_OK(config_apply_devices(config,
                                       "[{\"path\": \"/dev/null\", \"read\": true, \"write\": "
                                       "false},"
                                       " {\"path\": \"/dev/zero\"},"
                                       " {\"path\": \"/dev/full\", \"read\": false, \"write\": "
                                       "false, \"mknod\": true},"
                                       " {\"path\": \"/dev/random\", \"read\": false, \"write\": "
                                       "false}]",
                                       &error));
        ASSERT_NULL(error);
        devs = json_object_get(json_object_get(config, "linux"), "devices");
        rules = json_object_get(json_object_get(json_object_get(config, "linux"), "resources"),
                                "devices");
        /* /dev/null replaced, not added twice */
        ASSERT_EQ(json_array_size(devs), 4u);
        d = json_array_get(devs, 0);
        ASSERT_STREQ(json_string_value(json_object_get(d, "path")), "/dev/null");
        ASSERT_STREQ(json_string_value(json_object_get(d, "type")), "c");
        ASSERT_EQ(json_integer_value(json_object_get(d, "major")), 1);
        ASSERT_EQ(json_integer_value(json_object_get(d, "minor")), 3);
        ASSERT_EQ(json_integer_value(json_object_get(d, "fileMode")), 0666);
        ASSERT_EQ(json_integer_value(json_object_get(json_array_get(devs, 1), "minor")), 5);
        /* the last one asks for nothing: no rule */
        ASSERT_EQ(json_array_size(rules), 3u);
        ASSERT_STREQ(json_string_value(json_object_get(json_array_get(rules, 0), "access")), "r");
        ASSERT_TRUE(json_is_true(json_object_get(json_array_get(rules, 0), "allow")));
        ASSERT_EQ(json_integer_value(json_object_get(json_array_get(rules, 0), "minor")), 3);
        ASSERT_STREQ(json_string_value(json_object_get(json_array_get(rules, 1), "access")), "rw");
        ASSERT_STREQ(json_string_value(json_object_get(json_array_get(rules, 2), "access")), "m");
        ASSERT_EQ(json_integer_value(json_object_get(json_array_get(rules, 2), "minor")), 7);

        ASSERT_OK(write_string_file_atomic(file, "x", 0644));
        static const struct {
                const char *json, *want;
        } bad[] = {
                { "{", "devices: 1:" },
                { "{}", "devices: expected a JSON array" },
                { "[3]", "devices[0]: expected an object" },
                { "[{}]", "devices[0].path: required" },
                { "[{\"path\": \"dev/null\"}]", "devices[0].path: 'dev/null' is not" },
                { "[{\"path\": \"/dev/null\", \"read\": 1}]",
                  "devices[0].read: expected a boolean" },
                { "[{\"path\": \"/dev/zl-nosuch\"}]",
                  "devices[0].path: '/dev/zl-nosuch': No such file or directory" },
                { "[{\"path\": \"/dev/null\"}, {\"path\": \"@FILE@\"}]", "is not a device node" },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_free_ char *text = NULL;
                const char *at = strstr(bad[i].json, "@FILE@");

                if (at)
                        ASSERT_TRUE(asprintf(&text, "%.*s%s%s", (int) (at - bad[i].json),
                                             bad[i].json, file, at + 6) > 0);
                error = mfree(error);
                ASSERT_ERROR(config_apply_devices(config, text ?: bad[i].json, &error), EINVAL);
                ASSERT_NOT_NULL(error);
                if (!strstr(error, bad[i].want))
                        test_fail(__FILE__, __LINE__, "'%s' does not contain '%s'", error,
                                  bad[i].want);
        }
}

TEST(sysctl_namespace) {
        ASSERT_STREQ(sysctl_namespace("net.ipv4.ip_forward"), "network");
        ASSERT_STREQ(sysctl_namespace("net.core.somaxconn"), "network");
        ASSERT_STREQ(sysctl_namespace("kernel.msgmax"), "ipc");
        ASSERT_STREQ(sysctl_namespace("kernel.sem"), "ipc");
        ASSERT_STREQ(sysctl_namespace("kernel.shmmax"), "ipc");
        ASSERT_STREQ(sysctl_namespace("kernel.shm_rmid_forced"), "ipc");
        ASSERT_STREQ(sysctl_namespace("fs.mqueue.msg_max"), "ipc");
        ASSERT_STREQ(sysctl_namespace("kernel.hostname"), "uts");
        ASSERT_STREQ(sysctl_namespace("kernel.domainname"), "uts");
        ASSERT_NULL(sysctl_namespace("kernel.semx"));
        ASSERT_NULL(sysctl_namespace("fs.mqueue."));
        ASSERT_NULL(sysctl_namespace("net."));
        ASSERT_NULL(sysctl_namespace("vm.swappiness"));
        ASSERT_NULL(sysctl_namespace("kernel.pid_max"));
        ASSERT_NULL(sysctl_namespace("fs.file-max"));
        ASSERT_NULL(sysctl_namespace(""));
        ASSERT_NULL(sysctl_namespace(NULL));
}

TEST(sysctls) {
        _cleanup_(json_decrefp) json_t *config = NULL;
        _cleanup_free_ char *error = NULL;
        json_t *map;

        config = json_pack("{s{s[{ss}{ss}]}}", "linux", "namespaces", "type", "network", "type",
                           "ipc");
        ASSERT_NOT_NULL(config);
        ASSERT_OK(config_apply_sysctls(config, NULL, NULL));
        ASSERT_NULL(json_object_get(json_object_get(config, "linux"), "sysctl"));
        ASSERT_OK(config_apply_sysctls(config,
                                       STRV("net.ipv4.ip_forward", "1", "net/core/somaxconn", "512",
                                            "kernel.shmmax", "1000"),
                                       &error));
        ASSERT_NULL(error);
        map = json_object_get(json_object_get(config, "linux"), "sysctl");
        ASSERT_EQ(json_object_size(map), 3u);
        ASSERT_STREQ(json_string_value(json_object_get(map, "net.ipv4.ip_forward")), "1");
        ASSERT_STREQ(json_string_value(json_object_get(map, "net.core.somaxconn")), "512");
        ASSERT_STREQ(json_string_value(json_object_get(map, "kernel.shmmax")), "1000");

        ASSERT_ERROR(config_apply_sysctls(config, STRV("vm.swappiness", "1"), &error), EINVAL);
        ASSERT_NOT_NULL(strstr(error, "sysctls: 'vm.swappiness' is not namespaced"));
        error = mfree(error);
        ASSERT_ERROR(config_apply_sysctls(config, STRV("kernel.hostname", "x"), &error), EINVAL);
        ASSERT_NOT_NULL(strstr(error, "needs a private uts namespace"));
        error = mfree(error);
        ASSERT_ERROR(config_apply_sysctls(config, STRV("net.ipv4.ip_forward"), NULL), EINVAL);

        /* host network: net.* is the node's */
        json_decref(config);
        config = json_pack("{s{s[{ss}]}}", "linux", "namespaces", "type", "uts");
        ASSERT_NOT_NULL(config);
        ASSERT_ERROR(config_apply_sysctls(config, STRV("net.core.somaxconn", "1"), &error), EINVAL);
        ASSERT_NOT_NULL(strstr(error, "'net.core.somaxconn' needs a private network namespace"));
        ASSERT_OK(config_apply_sysctls(config, STRV("kernel.hostname", "h"), NULL));
}

TEST(privileged) {
        _cleanup_(json_decrefp) json_t *config = NULL;
        _cleanup_free_ char *def = NULL, *error = NULL;
        json_t *linux_, *m, *options, *rules;
        size_t i;
        bool sys_seen = false;

        ASSERT_OK(oci_config_default_json("/", NULL, &def));
        config = json_loads(def, 0, NULL);
        ASSERT_NOT_NULL(config);
        ASSERT_OK(config_apply_privileged(config, &error));
        linux_ = json_object_get(config, "linux");
        ASSERT_NULL(json_object_get(linux_, "maskedPaths"));
        ASSERT_NULL(json_object_get(linux_, "readonlyPaths"));
        rules = json_object_get(json_object_get(linux_, "resources"), "devices");
        ASSERT_EQ(json_array_size(rules), 1u);
        ASSERT_STREQ(json_string_value(json_object_get(json_array_get(rules, 0), "type")), "a");
        ASSERT_STREQ(json_string_value(json_object_get(json_array_get(rules, 0), "access")), "rwm");
        json_array_foreach (json_object_get(config, "mounts"), i, m) {
                json_t *o;
                size_t k;
                bool rw = false;

                if (!streq(json_string_value(json_object_get(m, "destination")), "/sys"))
                        continue;
                sys_seen = true;
                options = json_object_get(m, "options");
                json_array_foreach (options, k, o) {
                        ASSERT_FALSE(streq(json_string_value(o), "ro"));
                        rw = rw || streq(json_string_value(o), "rw");
                }
                ASSERT_TRUE(rw);
        }
        ASSERT_TRUE(sys_seen);
}

/* The options through container_config_build(): what the engine will run. */
static json_t *build(const ContainerOptions *o, ContainerConfig *ret, int *ret_r,
                     char **ret_error) {
        ContainerOptions effective = *o;
        json_t *j;

        effective.rootfs = (char *) test_tmpdir();
        *ret_r = container_config_build(NULL, &effective, ret, ret_error);
        if (*ret_r < 0)
                return NULL;
        j = json_loads(ret->json, 0, NULL);
        ASSERT_NOT_NULL(j);
        return j;
}

TEST(config_build_privileged) {
        _cleanup_(container_config_done) ContainerConfig c = {};
        _cleanup_(json_decrefp) json_t *j = NULL;
        _cleanup_free_ char *error = NULL;
        ContainerOptions o = CONTAINER_OPTIONS_INIT;
        json_t *caps;
        int r;

        o.privileged = true;
        o.cap_drop = (char *[]){ (char *) "CAP_NET_RAW", NULL };
        j = build(&o, &c, &r, &error);
        if (r < 0)
                test_fail(__FILE__, __LINE__, "build: %d %s", r, strna(error));
        ASSERT_FALSE(c.default_seccomp);
        ASSERT_NULL(json_object_get(json_object_get(j, "linux"), "seccomp"));
        ASSERT_NULL(json_object_get(json_object_get(j, "linux"), "maskedPaths"));
        caps = json_object_get(json_object_get(j, "process"), "capabilities");
        /* everything held but the explicit drop: CAP_SYS_ADMIN is in, which no default has */
        ASSERT_GE(json_array_size(json_object_get(caps, "bounding")), 20u);
        ASSERT_EQ(json_array_size(json_object_get(caps, "effective")),
                  json_array_size(json_object_get(caps, "bounding")));
        {
                json_t *v;
                size_t i;
                bool admin = false;

                json_array_foreach (json_object_get(caps, "effective"), i, v)
                        admin = admin || streq(json_string_value(v), "CAP_SYS_ADMIN");
                ASSERT_TRUE(admin);
        }
        {
                json_t *v;
                size_t i;

                json_array_foreach (json_object_get(caps, "bounding"), i, v)
                        ASSERT_FALSE(streq(json_string_value(v), "CAP_NET_RAW"));
        }
        container_config_done(&c);
        json_decref(j);

        /* An explicit seccomp profile stays. */
        o.seccomp = (char *) "default";
        j = build(&o, &c, &r, &error);
        ASSERT_OK(r);
        ASSERT_TRUE(c.default_seccomp);
        container_config_done(&c);
        json_decref(j);

        /* Not privileged: Docker's masked paths and 14 capabilities. */
        o = CONTAINER_OPTIONS_INIT;
        o.privileged = false;
        j = build(&o, &c, &r, &error);
        ASSERT_OK(r);
        ASSERT_TRUE(c.default_seccomp);
        ASSERT_NOT_NULL(json_object_get(json_object_get(j, "linux"), "maskedPaths"));
        ASSERT_LT(json_array_size(json_object_get(
                          json_object_get(json_object_get(j, "process"), "capabilities"),
                          "bounding")),
                  20u);
}

TEST(config_build_sysctls_devices) {
        _cleanup_(container_config_done) ContainerConfig c = {};
        _cleanup_(json_decrefp) json_t *j = NULL;
        _cleanup_free_ char *error = NULL;
        ContainerOptions o = CONTAINER_OPTIONS_INIT;
        int r;

        o.sysctls = (char *[]){ (char *) "net.core.somaxconn", (char *) "1024", NULL };
        o.devices = (char *) "[{\"path\": \"/dev/zero\", \"write\": false}]";
        o.network = (char *) "none";
        j = build(&o, &c, &r, &error);
        if (r < 0)
                test_fail(__FILE__, __LINE__, "build: %d %s", r, strna(error));
        ASSERT_STREQ(json_string_value(
                             json_object_get(json_object_get(json_object_get(j, "linux"), "sysctl"),
                                             "net.core.somaxconn")),
                     "1024");
        container_config_done(&c);

        /* "host" network: net.* would change the node */
        o.network = (char *) "host";
        ASSERT_NULL(build(&o, &c, &r, &error));
        ASSERT_EQ(r, -EINVAL);
        ASSERT_NOT_NULL(strstr(error, "needs a private network namespace"));
        error = mfree(error);

        o.network = NULL;
        o.sysctls = NULL;
        o.devices = (char *) "[{\"path\": \"/dev/zl-nosuch\"}]";
        ASSERT_NULL(build(&o, &c, &r, &error));
        ASSERT_EQ(r, -EINVAL);
        ASSERT_NOT_NULL(strstr(error, "devices[0].path: '/dev/zl-nosuch'"));
}

TEST(config_add_storage) {
        _cleanup_(container_config_done) ContainerConfig c = {};
        _cleanup_(storage_list_done) StorageList l = {};
        _cleanup_(json_decrefp) json_t *j = NULL;
        _cleanup_free_ char *error = NULL, *volumes = tmp_path("v", false),
                            *cdir = tmp_path("c", true);
        ContainerOptions o = CONTAINER_OPTIONS_INIT;
        json_t *mounts, *last;
        size_t before;
        int r;

        j = build(&o, &c, &r, &error);
        ASSERT_OK(r);
        before = json_array_size(json_object_get(j, "mounts"));
        json_decref(j);

        /* empty: unchanged */
        ASSERT_OK(container_config_add_storage(&c, &l, volumes, cdir, NULL));
        ASSERT_OK(storage_parse("[{\"type\": \"tmpfs\", \"target\": \"/scratch\", \"size\": 4096},"
                                " {\"type\": \"named\", \"name\": \"n1\", \"target\": \"/n\"}]",
                                &l, NULL));
        ASSERT_OK(container_config_add_storage(&c, &l, volumes, cdir, &error));
        j = json_loads(c.json, 0, NULL);
        ASSERT_NOT_NULL(j);
        mounts = json_object_get(j, "mounts");
        ASSERT_EQ(json_array_size(mounts), before + 2);
        last = json_array_get(mounts, before + 1);
        ASSERT_STREQ(json_string_value(json_object_get(last, "destination")), "/n");
        ASSERT_NOT_NULL(endswith(json_string_value(json_object_get(last, "source")), "/v/n1"));
}

TEST(options_to_json) {
        _cleanup_(json_decrefp) json_t *j = NULL;
        ContainerOptions o = CONTAINER_OPTIONS_INIT;
        _cleanup_free_ char *dumped = NULL;

        o.storage = (char *) "[{\"type\": \"anonymous\", \"target\": \"/a\"}]";
        o.devices = (char *) "not json";
        o.sysctls = (char *[]){ (char *) "net.core.somaxconn", (char *) "1", NULL };
        o.privileged = true;
        ASSERT_OK(container_options_to_json(&o, &j));
        dumped = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
        ASSERT_STREQ(dumped,
                     "{\"devices\":\"not json\",\"privileged\":true,\"storage\":[{\"target\":"
                     "\"/a\",\"type\":\"anonymous\"}],\"sysctls\":{\"net.core.somaxconn\":"
                     "\"1\"}}");
}
