/* SPDX-License-Identifier: Apache-2.0 */
/* test-oci-config.c: config.json parsing, validation messages, rlimit check, default config. */
#include <sched.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/resource.h>

#include "cap-util.h"
#include "fileio.h"
#include "oci-config.h"
#include "path-util.h"
#include "string-util.h"
#include "tests.h"

#define CAP(c) (UINT64_C(1) << (c))

/* A minimal valid document, to which the error cases add one bad field. */
#define MIN_ROOT "\"ociVersion\":\"1.0.2\",\"root\":{\"path\":\"rootfs\"}"
#define MIN_PROC_FIELDS "\"user\":{\"uid\":0,\"gid\":0},\"args\":[\"sh\"],\"cwd\":\"/\""
#define MIN_PROC "\"process\":{" MIN_PROC_FIELDS "}"
#define DOC(...) "{" MIN_ROOT "," MIN_PROC "," __VA_ARGS__ "}"
#define DOC_PROC(...) "{" MIN_ROOT ",\"process\":{" MIN_PROC_FIELDS "," __VA_ARGS__ "}}"

static int parse(const char *json, OciConfig **ret, char **ret_error) {
        return oci_config_parse(json, strlen(json), ret, ret_error);
}

static void check_error_at(const char *file, int line, const char *json, const char *expected) {
        _cleanup_(oci_config_freep) OciConfig *c = NULL;
        _cleanup_free_ char *err = NULL;
        int r;

        r = parse(json, &c, &err);
        if (r != -EINVAL)
                test_fail(file, line, "Expected -EINVAL for %s, got %d", json, r);
        if (c)
                test_fail(file, line, "Output written on failure for %s", json);
        if (!err || !streq(err, expected))
                test_fail(file, line, "Expected error \"%s\", got \"%s\"", expected,
                          err ?: "(null)");
}
#define CHECK_ERROR(json, expected) check_error_at(__FILE__, __LINE__, json, expected)

static const char *runc_spec_path(char buf[static PATH_MAX]) {
        snprintf(buf, PATH_MAX, "%s/../daemons/zl-runtimed/testdata/oci/runc-spec.json",
                 test_srcdir());
        return buf;
}

TEST(runc_spec) {
        _cleanup_(oci_config_freep) OciConfig *c = NULL;
        _cleanup_free_ char *err = NULL;
        char path[PATH_MAX];
        uint64_t three = CAP(capability_from_name("CAP_AUDIT_WRITE")) |
                         CAP(capability_from_name("CAP_KILL")) |
                         CAP(capability_from_name("CAP_NET_BIND_SERVICE"));

        ASSERT_OK(oci_config_load(runc_spec_path(path), &c, &err));
        ASSERT_NULL(err);
        ASSERT_STREQ(c->oci_version, "1.0.2-dev");
        ASSERT_STREQ(c->root_path, "rootfs");
        ASSERT_TRUE(c->root_readonly);
        ASSERT_TRUE(c->process.terminal);
        ASSERT_EQ(c->process.user.uid, 0);
        ASSERT_EQ(c->process.user.gid, 0);
        ASSERT_FALSE(c->process.user.has_umask);
        ASSERT_EQ(c->process.user.n_additional_gids, 0);
        ASSERT_EQ(strv_length(c->process.args), 1);
        ASSERT_STREQ(c->process.args[0], "sh");
        ASSERT_EQ(strv_length(c->process.env), 2);
        ASSERT_STREQ(c->process.env[1], "TERM=xterm");
        ASSERT_STREQ(c->process.cwd, "/");
        ASSERT_TRUE(c->process.has_capabilities);
        ASSERT_U64_EQ(c->process.capabilities.bounding, three);
        ASSERT_U64_EQ(c->process.capabilities.effective, three);
        ASSERT_U64_EQ(c->process.capabilities.permitted, three);
        ASSERT_U64_EQ(c->process.capabilities.inheritable, three);
        ASSERT_U64_EQ(c->process.capabilities.ambient, three);
        ASSERT_EQ(c->process.n_rlimits, 1);
        ASSERT_EQ(c->process.rlimits[0].type, RLIMIT_NOFILE);
        ASSERT_U64_EQ(c->process.rlimits[0].hard, 1024);
        ASSERT_U64_EQ(c->process.rlimits[0].soft, 1024);
        ASSERT_TRUE(c->process.no_new_privileges);
        ASSERT_FALSE(c->process.has_oom_score_adj);
        ASSERT_STREQ(c->hostname, "runc");
        ASSERT_NULL(c->domainname);

        ASSERT_EQ(c->n_mounts, 7);
        ASSERT_STREQ(c->mounts[0].destination, "/proc");
        ASSERT_STREQ(c->mounts[0].type, "proc");
        ASSERT_NULL(c->mounts[0].options);
        ASSERT_EQ(c->mounts[0].flags, 0);
        ASSERT_NULL(c->mounts[0].data);
        ASSERT_EQ(c->mounts[1].flags, MS_NOSUID | MS_STRICTATIME);
        ASSERT_STREQ(c->mounts[1].data, "mode=755,size=65536k");
        ASSERT_EQ(c->mounts[2].flags, MS_NOSUID | MS_NOEXEC);
        ASSERT_STREQ(c->mounts[2].data, "newinstance,ptmxmode=0666,mode=0620,gid=5");
        ASSERT_EQ(c->mounts[5].flags, MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY);
        ASSERT_NULL(c->mounts[5].data);
        ASSERT_EQ(c->mounts[6].flags, MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RELATIME | MS_RDONLY);

        ASSERT_EQ(c->linux_.n_namespaces, 6);
        ASSERT_EQ(c->linux_.namespaces[0].type, OCI_NAMESPACE_PID);
        ASSERT_EQ(c->linux_.namespaces[5].type, OCI_NAMESPACE_CGROUP);
        ASSERT_NULL(c->linux_.namespaces[0].path);
        ASSERT_EQ(c->linux_.resources.n_devices, 1);
        ASSERT_FALSE(c->linux_.resources.devices[0].allow);
        ASSERT_EQ(c->linux_.resources.devices[0].type, 'a');
        ASSERT_EQ(c->linux_.resources.devices[0].major, -1);
        ASSERT_EQ(c->linux_.resources.devices[0].minor, -1);
        ASSERT_STREQ(c->linux_.resources.devices[0].access, "rwm");
        ASSERT_FALSE(c->linux_.resources.has_memory_limit);
        ASSERT_FALSE(c->linux_.resources.has_pids_limit);
        ASSERT_EQ(strv_length(c->linux_.masked_paths), 10);
        ASSERT_STREQ(c->linux_.masked_paths[9], "/proc/scsi");
        ASSERT_EQ(strv_length(c->linux_.readonly_paths), 5);
        ASSERT_NULL(c->linux_.seccomp);
        ASSERT_EQ(c->linux_.rootfs_propagation, 0);
        ASSERT_NULL(c->linux_.cgroups_path);
        ASSERT_EQ(c->n_annotations, 0);
}

static const char full_config[] =
        "{\"ociVersion\": \"1.1.0\","
        " \"root\": {\"path\": \"/var/lib/zlayer/c1/rootfs\", \"readonly\": false},"
        " \"process\": {"
        "   \"terminal\": false,"
        "   \"user\": {\"uid\": 1000, \"gid\": 1001, \"umask\": 18, \"additionalGids\": [5, 6, 7]},"
        "   \"args\": [\"/bin/echo\", \"hello world\", \"\"],"
        "   \"env\": [\"A=1\", \"EMPTY=\", \"X==y\"],"
        "   \"cwd\": \"/home/user\","
        "   \"capabilities\": {\"bounding\": [\"CAP_NET_ADMIN\", \"CAP_CHOWN\"],"
        "                      \"effective\": [\"CAP_CHOWN\"], \"permitted\": [\"CAP_CHOWN\"],"
        "                      \"inheritable\": [\"CAP_CHOWN\"], \"ambient\": [\"CAP_CHOWN\"]},"
        "   \"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"hard\": 4096, \"soft\": 1024},"
        "                 {\"type\": \"RLIMIT_CORE\", \"hard\": 0, \"soft\": 0}],"
        "   \"noNewPrivileges\": true, \"oomScoreAdj\": -500,"
        "   \"apparmorProfile\": \"docker-default\", \"selinuxLabel\": \"system_u:r:c\","
        "   \"unknownField\": {\"deep\": [1, 2, {\"x\": null}]}},"
        " \"hostname\": \"web-1\", \"domainname\": \"example.org\","
        " \"mounts\": ["
        "   {\"destination\": \"/data\", \"type\": \"bind\", \"source\": \"/srv/data\","
        "    \"options\": [\"rbind\", \"ro\", \"nosuid\", \"rslave\"]},"
        "   {\"destination\": \"/tmp\", \"type\": \"tmpfs\", \"source\": \"tmpfs\","
        "    \"options\": [\"rw\", \"noexec\", \"mode=1777\", \"size=64m\", \"tmpcopyup\"]},"
        "   {\"destination\": \"/etc/hosts\", \"source\": \"/run/hosts\", \"options\": [\"bind\","
        "    \"ro\", \"rw\", \"rro\", \"private\"]},"
        "   {\"destination\": \"/x\", \"type\": \"tmpfs\", \"options\": []}"
        " ],"
        " \"linux\": {"
        "   \"namespaces\": [{\"type\": \"pid\"}, {\"type\": \"network\", \"path\": "
        "\"/run/netns/n1\"},"
        "                    {\"type\": \"mount\"}, {\"type\": \"uts\"}, {\"type\": \"user\"},"
        "                    {\"type\": \"ipc\"}, {\"type\": \"cgroup\"}, {\"type\": \"time\"}],"
        "   \"uidMappings\": [{\"containerID\": 0, \"hostID\": 100000, \"size\": 65536}],"
        "   \"gidMappings\": [{\"containerID\": 0, \"hostID\": 100000, \"size\": 65536},"
        "                     {\"containerID\": 65536, \"hostID\": 5000, \"size\": 1}],"
        "   \"devices\": [{\"path\": \"/dev/fuse\", \"type\": \"c\", \"major\": 10, \"minor\": 229,"
        "                  \"fileMode\": 438, \"uid\": 0, \"gid\": 0},"
        "                 {\"path\": \"/dev/fifo\", \"type\": \"p\"}],"
        "   \"cgroupsPath\": \"/zlayer/c1\","
        "   \"resources\": {"
        "     \"devices\": [{\"allow\": false, \"access\": \"rwm\"},"
        "                   {\"allow\": true, \"type\": \"c\", \"major\": 10, \"minor\": 229,"
        "                    \"access\": \"rw\"}],"
        "     \"memory\": {\"limit\": 268435456, \"reservation\": 0, \"swap\": 536870912},"
        "     \"cpu\": {\"shares\": 512, \"quota\": 50000, \"period\": 100000, \"cpus\": \"0-1,3\","
        "             \"mems\": \"0\"},"
        "     \"pids\": {\"limit\": 100}"
        "   },"
        "   \"sysctl\": {\"net.ipv4.ip_forward\": \"1\", \"kernel/msgmax\": \"8192\"},"
        "   \"seccomp\": {\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": []},"
        "   \"maskedPaths\": [\"/proc/kcore\"], \"readonlyPaths\": [],"
        "   \"rootfsPropagation\": \"rslave\""
        " },"
        " \"annotations\": {\"org.zlayer.service\": \"web\", \"empty\": \"\"}"
        "}";

TEST(full_config) {
        _cleanup_(oci_config_freep) OciConfig *c = NULL;
        _cleanup_free_ char *err = NULL;
        const OciResources *res;
        const OciProcess *p;
        const OciLinux *l;

        ASSERT_OK(parse(full_config, &c, &err));
        ASSERT_NULL(err);
        p = &c->process;
        ASSERT_STREQ(c->oci_version, "1.1.0");
        ASSERT_FALSE(c->root_readonly);
        ASSERT_EQ(p->user.uid, 1000);
        ASSERT_EQ(p->user.gid, 1001);
        ASSERT_TRUE(p->user.has_umask);
        ASSERT_EQ(p->user.umask, 022);
        ASSERT_EQ(p->user.n_additional_gids, 3);
        ASSERT_EQ(p->user.additional_gids[2], 7);
        ASSERT_EQ(strv_length(p->args), 3);
        ASSERT_STREQ(p->args[1], "hello world");
        ASSERT_STREQ(p->args[2], "");
        ASSERT_STREQ(p->env[2], "X==y");
        ASSERT_STREQ(p->cwd, "/home/user");
        ASSERT_U64_EQ(p->capabilities.bounding, CAP(12) | CAP(0));
        ASSERT_U64_EQ(p->capabilities.ambient, CAP(0));
        ASSERT_EQ(p->n_rlimits, 2);
        ASSERT_EQ(p->rlimits[1].type, RLIMIT_CORE);
        ASSERT_U64_EQ(p->rlimits[0].hard, 4096);
        ASSERT_U64_EQ(p->rlimits[1].hard, 0);
        ASSERT_TRUE(p->no_new_privileges);
        ASSERT_TRUE(p->has_oom_score_adj);
        ASSERT_EQ(p->oom_score_adj, -500);
        ASSERT_STREQ(p->apparmor_profile, "docker-default");
        ASSERT_STREQ(p->selinux_label, "system_u:r:c");
        ASSERT_STREQ(c->hostname, "web-1");
        ASSERT_STREQ(c->domainname, "example.org");

        ASSERT_EQ(c->n_mounts, 4);
        ASSERT_EQ(c->mounts[0].flags, MS_BIND | MS_REC | MS_RDONLY | MS_NOSUID);
        ASSERT_EQ(c->mounts[0].propagation, MS_SLAVE | MS_REC);
        ASSERT_EQ(c->mounts[0].extra, 0);
        ASSERT_NULL(c->mounts[0].data);
        ASSERT_STREQ(c->mounts[0].source, "/srv/data");
        ASSERT_EQ(c->mounts[1].flags, MS_NOEXEC);
        ASSERT_STREQ(c->mounts[1].data, "mode=1777,size=64m");
        ASSERT_EQ(c->mounts[1].extra, OCI_MOUNT_TMPCOPYUP);
        ASSERT_EQ(c->mounts[2].flags, MS_BIND); /* "rw" after "ro" wins */
        ASSERT_EQ(c->mounts[2].extra, OCI_MOUNT_RRO);
        ASSERT_EQ(c->mounts[2].propagation, MS_PRIVATE);
        ASSERT_NULL(c->mounts[2].type);
        ASSERT_NULL(c->mounts[3].source);
        ASSERT_NOT_NULL(c->mounts[3].options);
        ASSERT_EQ(strv_length(c->mounts[3].options), 0);

        l = &c->linux_;
        ASSERT_EQ(l->n_namespaces, 8);
        ASSERT_EQ(l->namespaces[1].type, OCI_NAMESPACE_NETWORK);
        ASSERT_STREQ(l->namespaces[1].path, "/run/netns/n1");
        ASSERT_EQ(l->namespaces[7].type, OCI_NAMESPACE_TIME);
        ASSERT_EQ(l->n_uid_mappings, 1);
        ASSERT_EQ(l->uid_mappings[0].host_id, 100000);
        ASSERT_EQ(l->uid_mappings[0].size, 65536);
        ASSERT_EQ(l->n_gid_mappings, 2);
        ASSERT_EQ(l->gid_mappings[1].container_id, 65536);
        ASSERT_EQ(l->n_devices, 2);
        ASSERT_STREQ(l->devices[0].path, "/dev/fuse");
        ASSERT_EQ(l->devices[0].type, 'c');
        ASSERT_EQ(l->devices[0].major, 10);
        ASSERT_EQ(l->devices[0].minor, 229);
        ASSERT_TRUE(l->devices[0].has_file_mode);
        ASSERT_EQ(l->devices[0].file_mode, 0666);
        ASSERT_TRUE(l->devices[0].has_uid);
        ASSERT_EQ(l->devices[1].type, 'p');
        ASSERT_FALSE(l->devices[1].has_file_mode);
        ASSERT_FALSE(l->devices[1].has_gid);
        ASSERT_STREQ(l->cgroups_path, "/zlayer/c1");

        res = &l->resources;
        ASSERT_EQ(res->n_devices, 2);
        ASSERT_TRUE(res->devices[1].allow);
        ASSERT_EQ(res->devices[1].type, 'c');
        ASSERT_EQ(res->devices[1].major, 10);
        ASSERT_STREQ(res->devices[1].access, "rw");
        ASSERT_TRUE(res->has_memory_limit);
        ASSERT_EQ(res->memory_limit, 268435456);
        ASSERT_TRUE(res->has_memory_reservation);
        ASSERT_EQ(res->memory_reservation, 0);
        ASSERT_EQ(res->memory_swap, 536870912);
        ASSERT_EQ(res->cpu_shares, 512);
        ASSERT_EQ(res->cpu_quota, 50000);
        ASSERT_EQ(res->cpu_period, 100000);
        ASSERT_STREQ(res->cpu_cpus, "0-1,3");
        ASSERT_STREQ(res->cpu_mems, "0");
        ASSERT_TRUE(res->has_pids_limit);
        ASSERT_EQ(res->pids_limit, 100);

        ASSERT_EQ(l->n_sysctl, 2);
        ASSERT_STREQ(l->sysctl[0].key, "net.ipv4.ip_forward");
        ASSERT_STREQ(l->sysctl[0].value, "1");
        ASSERT_STREQ(l->sysctl[1].key, "kernel/msgmax");
        ASSERT_TRUE(json_is_object(l->seccomp));
        ASSERT_STREQ(json_string_value(json_object_get(l->seccomp, "defaultAction")),
                     "SCMP_ACT_ERRNO");
        ASSERT_EQ(strv_length(l->masked_paths), 1);
        ASSERT_NOT_NULL(l->readonly_paths);
        ASSERT_EQ(strv_length(l->readonly_paths), 0);
        ASSERT_EQ(l->rootfs_propagation, MS_SLAVE | MS_REC);

        ASSERT_EQ(c->n_annotations, 2);
        ASSERT_STREQ(c->annotations[0].key, "org.zlayer.service");
        ASSERT_STREQ(c->annotations[0].value, "web");
        ASSERT_STREQ(c->annotations[1].value, "");
}

TEST(seccomp_outlives_document) {
        _cleanup_(oci_config_freep) OciConfig *c = NULL;
        json_t *s;

        ASSERT_OK(parse(full_config, &c, NULL));
        /* The document is gone; the seccomp object is ours alone. */
        s = c->linux_.seccomp;
        ASSERT_EQ(s->refcount, 1);
        ASSERT_TRUE(json_is_array(json_object_get(s, "syscalls")));
}

TEST(nulls_are_absent) {
        _cleanup_(oci_config_freep) OciConfig *c = NULL;

        ASSERT_OK(parse("{" MIN_ROOT ",\"process\":{" MIN_PROC_FIELDS ", \"env\": null, "
                        "\"capabilities\": null, \"rlimits\": null}, \"hostname\": null, "
                        "\"mounts\": null, \"linux\": {\"resources\": null, \"seccomp\": null}, "
                        "\"annotations\": null}",
                        &c, NULL));
        ASSERT_NULL(c->process.env);
        ASSERT_FALSE(c->process.has_capabilities);
        ASSERT_U64_EQ(c->process.capabilities.bounding, 0);
        ASSERT_NULL(c->hostname);
        ASSERT_EQ(c->n_mounts, 0);
        ASSERT_NULL(c->linux_.seccomp);
}

TEST(accepted_edge_values) {
        _cleanup_(oci_config_freep) OciConfig *c = NULL;

        ASSERT_OK(parse(DOC("\"linux\": {\"resources\": {\"memory\": {\"limit\": -1, \"swap\": "
                            "-1}, \"cpu\": {\"quota\": -1, \"cpus\": \"\"}, \"pids\": {\"limit\": "
                            "-1}}, \"namespaces\": [{\"type\": \"uts\"}]}, \"hostname\": \"\""),
                        &c, NULL));
        ASSERT_EQ(c->linux_.resources.memory_limit, -1);
        ASSERT_EQ(c->linux_.resources.memory_swap, -1);
        ASSERT_EQ(c->linux_.resources.cpu_quota, -1);
        ASSERT_NULL(c->linux_.resources.cpu_cpus);
        ASSERT_EQ(c->linux_.resources.pids_limit, -1);
        ASSERT_STREQ(c->hostname, "");
        c = oci_config_free(c);

        /* Names without the CAP_ prefix and in lower case, and duplicates. */
        ASSERT_OK(parse(DOC_PROC("\"capabilities\": {\"bounding\": [\"net_raw\", \"CAP_NET_RAW\","
                                 " \"KILL\"]}"),
                        &c, NULL));
        ASSERT_U64_EQ(c->process.capabilities.bounding,
                      CAP(capability_from_name("CAP_NET_RAW")) |
                              CAP(capability_from_name("CAP_KILL")));
        c = oci_config_free(c);

        ASSERT_OK(parse("{\"ociVersion\":\"1.2.0\",\"root\":{\"path\":\"r\"}," MIN_PROC "}", &c,
                        NULL));
        c = oci_config_free(c);
        ASSERT_OK(parse("{\"ociVersion\":\"1.0.0-rc5\",\"root\":{\"path\":\"r\"}," MIN_PROC "}", &c,
                        NULL));
        c = oci_config_free(c);

        /* The error pointer is left alone on success, and may be NULL on failure. */
        ASSERT_ERROR(parse("{", &c, NULL), EINVAL);
        ASSERT_NULL(c);
}

TEST(syntax_errors) {
        CHECK_ERROR("", "1:0: '[' or '{' expected near end of file");
        CHECK_ERROR("{\"a\": }", "1:7: unexpected token near '}'");
        CHECK_ERROR("{\"ociVersion\": \"1.0.2\", \"ociVersion\": \"1.0.2\"}",
                    "1:36: duplicate object key near '\"ociVersion\"'");
        CHECK_ERROR("[]", "expected a JSON object at the top level, got an array");
        CHECK_ERROR("42", "1:2: '[' or '{' expected near '42'");
}

TEST(top_level_errors) {
        CHECK_ERROR("{}", "ociVersion: required");
        CHECK_ERROR("{\"ociVersion\": 1}", "ociVersion: expected a string, got an integer");
        CHECK_ERROR("{\"ociVersion\": \"2.0.0\"}",
                    "ociVersion: unsupported version '2.0.0' (1.0, 1.1 or 1.2 expected)");
        CHECK_ERROR("{\"ociVersion\": \"1.3.0\"}",
                    "ociVersion: unsupported version '1.3.0' (1.0, 1.1 or 1.2 expected)");
        CHECK_ERROR("{\"ociVersion\": \"1.0.2\"}", "root: required");
        CHECK_ERROR("{\"ociVersion\": \"1.0.2\", \"root\": []}",
                    "root: expected an object, got an array");
        CHECK_ERROR("{\"ociVersion\": \"1.0.2\", \"root\": {}}", "root.path: required");
        CHECK_ERROR("{\"ociVersion\": \"1.0.2\", \"root\": {\"path\": \"\"}}",
                    "root.path: must not be empty");
        CHECK_ERROR("{\"ociVersion\": \"1.0.2\", \"root\": {\"path\": \"r\", \"readonly\": 1}}",
                    "root.readonly: expected a boolean, got an integer");
        CHECK_ERROR("{" MIN_ROOT "}", "process: required");
        CHECK_ERROR(DOC("\"hostname\": \"bad_host\""),
                    "hostname: 'bad_host' is not a valid host name");
        CHECK_ERROR(DOC("\"hostname\": \"web\""),
                    "hostname: needs a UTS namespace in linux.namespaces");
        CHECK_ERROR(DOC("\"domainname\": \"a..b\""),
                    "domainname: 'a..b' is not a valid domain name");
        CHECK_ERROR(DOC("\"annotations\": {\"a\": 1}"),
                    "annotations.a: expected a string, got an integer");
        CHECK_ERROR(DOC("\"annotations\": []"), "annotations: expected an object, got an array");
}

TEST(process_errors) {
        CHECK_ERROR("{" MIN_ROOT ",\"process\": {}}", "process.user: required");
        CHECK_ERROR("{" MIN_ROOT ",\"process\": {\"user\": {\"uid\": 0}}}",
                    "process.user.gid: required");
        CHECK_ERROR("{" MIN_ROOT ",\"process\": {\"user\": {\"uid\": -1, \"gid\": 0}}}",
                    "process.user.uid: -1 is out of range 0..4294967294");
        CHECK_ERROR("{" MIN_ROOT ",\"process\": {\"user\": {\"uid\": 4294967295, \"gid\": 0}}}",
                    "process.user.uid: 4294967295 is out of range 0..4294967294");
        CHECK_ERROR("{" MIN_ROOT ",\"process\": {\"user\": {\"uid\": 0, \"gid\": 0.5}}}",
                    "process.user.gid: expected an integer, got a real number");
        CHECK_ERROR("{" MIN_ROOT ",\"process\": {\"user\": {\"uid\": 0, \"gid\": 0, \"umask\": "
                    "512}}}",
                    "process.user.umask: 512 is out of range 0..511");
        CHECK_ERROR("{" MIN_ROOT ",\"process\": {\"user\": {\"uid\": 0, \"gid\": 0, "
                    "\"additionalGids\": [1, \"2\"]}}}",
                    "process.user.additionalGids[1]: expected an integer, got a string");
        CHECK_ERROR("{" MIN_ROOT ",\"process\": {\"user\": {\"uid\": 0, \"gid\": 0}}}",
                    "process.args: required, with at least one element");
        CHECK_ERROR("{" MIN_ROOT ",\"process\": {\"user\": {\"uid\": 0, \"gid\": 0}, \"args\": "
                    "[]}}",
                    "process.args: required, with at least one element");
        CHECK_ERROR("{" MIN_ROOT ",\"process\": {\"user\": {\"uid\": 0, \"gid\": 0}, \"args\": "
                    "[\"\"]}}",
                    "process.args[0]: must not be empty");
        CHECK_ERROR("{" MIN_ROOT ",\"process\": {\"user\": {\"uid\": 0, \"gid\": 0}, \"args\": "
                    "[\"sh\", 3]}}",
                    "process.args[1]: expected a string, got an integer");
        CHECK_ERROR("{" MIN_ROOT ",\"process\": {\"user\": {\"uid\": 0, \"gid\": 0}, \"args\": "
                    "\"sh\"}}",
                    "process.args: expected an array, got a string");
        CHECK_ERROR("{" MIN_ROOT ",\"process\": {\"user\": {\"uid\": 0, \"gid\": 0}, \"args\": "
                    "[\"sh\"]}}",
                    "process.cwd: required");
        CHECK_ERROR("{" MIN_ROOT ",\"process\": {\"user\": {\"uid\": 0, \"gid\": 0}, \"args\": "
                    "[\"sh\"], \"cwd\": \"home\"}}",
                    "process.cwd: 'home' is not an absolute path");
        CHECK_ERROR(DOC_PROC("\"terminal\": \"yes\""),
                    "process.terminal: expected a boolean, got a string");
        CHECK_ERROR(DOC_PROC("\"env\": [\"A=1\", \"NOVALUE\"]"),
                    "process.env[1]: 'NOVALUE' is not of the form KEY=value");
        CHECK_ERROR(DOC_PROC("\"env\": [\"=1\"]"),
                    "process.env[0]: '=1' is not of the form KEY=value");
        CHECK_ERROR(DOC_PROC("\"capabilities\": {\"bounding\": [\"CAP_CHOWN\", \"CAP_KILL\", "
                             "\"CAP_FOO\"]}"),
                    "process.capabilities.bounding[2]: unknown capability 'CAP_FOO'");
        CHECK_ERROR(DOC_PROC("\"capabilities\": {\"effective\": [\"CAP_NET_ADMIN\\n\"]}"),
                    "process.capabilities.effective[0]: unknown capability 'CAP_NET_ADMIN\\n'");
        CHECK_ERROR(DOC_PROC("\"capabilities\": {\"permitted\": [1]}"),
                    "process.capabilities.permitted[0]: expected a capability name, got an "
                    "integer");
        CHECK_ERROR(DOC_PROC("\"capabilities\": {\"inheritable\": {}}"),
                    "process.capabilities.inheritable: expected an array, got an object");
        CHECK_ERROR(DOC_PROC("\"capabilities\": {\"ambient\": [\"ALL\"]}"),
                    "process.capabilities.ambient[0]: unknown capability 'ALL'");
        CHECK_ERROR(DOC_PROC("\"capabilities\": {\"permitted\": [\"CAP_KILL\"], \"ambient\": "
                             "[\"CAP_KILL\"]}"),
                    "process.capabilities.ambient: 'CAP_KILL' is not in both the permitted and "
                    "the inheritable set");
        CHECK_ERROR(DOC_PROC("\"rlimits\": [{\"type\": \"RLIMIT_FOO\", \"hard\": 1, \"soft\": "
                             "1}]"),
                    "process.rlimits[0].type: unknown rlimit 'RLIMIT_FOO'");
        CHECK_ERROR(DOC_PROC("\"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"hard\": 1}]"),
                    "process.rlimits[0].soft: required");
        CHECK_ERROR(DOC_PROC("\"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"hard\": 10, "
                             "\"soft\": 11}]"),
                    "process.rlimits[0].soft: soft limit 11 is above the hard limit 10");
        CHECK_ERROR(DOC_PROC("\"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"hard\": -1, "
                             "\"soft\": -1}]"),
                    "process.rlimits[0].hard: -1 is out of range 0..9223372036854775807");
        CHECK_ERROR(DOC_PROC("\"rlimits\": [{\"type\": \"RLIMIT_CORE\", \"hard\": 1, \"soft\": "
                             "1}, {\"type\": \"RLIMIT_CORE\", \"hard\": 1, \"soft\": 1}]"),
                    "process.rlimits[1].type: duplicate rlimit 'RLIMIT_CORE'");
        CHECK_ERROR(DOC_PROC("\"rlimits\": [1]"),
                    "process.rlimits[0]: expected an object, got an integer");
        CHECK_ERROR(DOC_PROC("\"noNewPrivileges\": null, \"oomScoreAdj\": 1001"),
                    "process.oomScoreAdj: 1001 is out of range -1000..1000");
        CHECK_ERROR(DOC_PROC("\"apparmorProfile\": false"),
                    "process.apparmorProfile: expected a string, got a boolean");
}

TEST(mount_errors) {
        CHECK_ERROR(DOC("\"mounts\": {}"), "mounts: expected an array, got an object");
        CHECK_ERROR(DOC("\"mounts\": [{\"type\": \"tmpfs\"}]"), "mounts[0].destination: required");
        CHECK_ERROR(DOC("\"mounts\": [{\"destination\": \"/a\", \"type\": \"tmpfs\"}, "
                        "{\"destination\": \"b\", \"type\": \"tmpfs\"}]"),
                    "mounts[1].destination: 'b' is not an absolute path");
        CHECK_ERROR(DOC("\"mounts\": [{\"destination\": \"/a\"}]"),
                    "mounts[0].type: required unless the mount is a bind mount");
        CHECK_ERROR(DOC("\"mounts\": [{\"destination\": \"/a\", \"type\": \"bind\"}]"),
                    "mounts[0].source: required for a bind mount");
        CHECK_ERROR(DOC("\"mounts\": [{\"destination\": \"/a\", \"options\": [\"rbind\"], "
                        "\"source\": \"\"}]"),
                    "mounts[0].source: required for a bind mount");
        CHECK_ERROR(DOC("\"mounts\": [{\"destination\": \"/a\", \"type\": \"tmpfs\", "
                        "\"options\": [\"ro\", \"\"]}]"),
                    "mounts[0].options[1]: empty mount option");
        CHECK_ERROR(DOC("\"mounts\": [{\"destination\": \"/a\", \"type\": \"tmpfs\", "
                        "\"options\": [\"ro\", 5]}]"),
                    "mounts[0].options[1]: expected a string, got an integer");
}

TEST(mount_data_too_long) {
        _cleanup_free_ char *doc = NULL, *opt = NULL, *err = NULL;
        _cleanup_(oci_config_freep) OciConfig *c = NULL;

        opt = malloc(3000);
        ASSERT_NOT_NULL(opt);
        memset(opt, 'x', 2999);
        opt[2999] = '\0';
        ASSERT_OK(asprintf(&doc,
                           DOC("\"mounts\": [{\"destination\": \"/a\", \"type\": \"tmpfs\", "
                               "\"options\": [\"%s\", \"%s\"]}]"),
                           opt, opt));
        ASSERT_ERROR(parse(doc, &c, &err), EINVAL);
        ASSERT_STREQ(err, "mounts[0].options[1]: file system options longer than 4095 bytes");
}

TEST(linux_errors) {
        CHECK_ERROR(DOC("\"linux\": []"), "linux: expected an object, got an array");
        CHECK_ERROR(DOC("\"linux\": {\"namespaces\": [{\"type\": \"pid\"}, {\"type\": \"net\"}]}"),
                    "linux.namespaces[1].type: unknown namespace type 'net'");
        CHECK_ERROR(DOC("\"linux\": {\"namespaces\": [{\"type\": \"pid\"}, {\"type\": "
                        "\"uts\"}, {\"type\": \"pid\"}]}"),
                    "linux.namespaces[2].type: duplicate namespace 'pid'");
        CHECK_ERROR(DOC("\"linux\": {\"namespaces\": [{\"path\": \"/proc/1/ns/net\"}]}"),
                    "linux.namespaces[0].type: required");
        CHECK_ERROR(DOC("\"linux\": {\"namespaces\": [{\"type\": \"network\", \"path\": "
                        "\"ns\"}]}"),
                    "linux.namespaces[0].path: 'ns' is not an absolute path");
        CHECK_ERROR(DOC("\"linux\": {\"uidMappings\": [{\"containerID\": 0, \"hostID\": 1000, "
                        "\"size\": 1}]}"),
                    "linux.uidMappings: id mappings need a user namespace");
        CHECK_ERROR(DOC("\"linux\": {\"namespaces\": [{\"type\": \"user\"}], \"gidMappings\": "
                        "[{\"containerID\": 0, \"hostID\": 1000, \"size\": 0}]}"),
                    "linux.gidMappings[0].size: 0 is out of range 1..4294967295");
        CHECK_ERROR(DOC("\"linux\": {\"namespaces\": [{\"type\": \"user\"}], \"uidMappings\": "
                        "[{\"containerID\": 0, \"hostID\": 4294967290, \"size\": 10}]}"),
                    "linux.uidMappings[0]: the range does not fit in 32-bit ids");
        CHECK_ERROR(DOC("\"linux\": {\"devices\": [{\"path\": \"/dev/x\", \"type\": \"x\"}]}"),
                    "linux.devices[0].type: must be one of c, b, p, u");
        CHECK_ERROR(DOC("\"linux\": {\"devices\": [{\"path\": \"/dev/x\", \"type\": \"c\"}]}"),
                    "linux.devices[0].major: required");
        CHECK_ERROR(DOC("\"linux\": {\"devices\": [{\"path\": \"/dev/x\", \"type\": \"b\", "
                        "\"major\": 8, \"minor\": 1048576}]}"),
                    "linux.devices[0].minor: 1048576 is out of range 0..1048575");
        CHECK_ERROR(DOC("\"linux\": {\"devices\": [{\"path\": \"dev/x\", \"type\": \"p\"}]}"),
                    "linux.devices[0].path: 'dev/x' is not an absolute path");
        CHECK_ERROR(DOC("\"linux\": {\"devices\": [{\"path\": \"/dev/x\", \"type\": \"p\", "
                        "\"fileMode\": 4096}]}"),
                    "linux.devices[0].fileMode: 4096 is out of range 0..4095");
        CHECK_ERROR(DOC("\"linux\": {\"cgroupsPath\": \"/a/../../b\"}"),
                    "linux.cgroupsPath: must not contain '..'");
        CHECK_ERROR(DOC("\"linux\": {\"sysctl\": {\"net.ipv4.ip_forward\": 1}}"),
                    "linux.sysctl.net.ipv4.ip_forward: expected a string, got an integer");
        CHECK_ERROR(DOC("\"linux\": {\"sysctl\": {\"../../etc/passwd\": \"x\"}}"),
                    "linux.sysctl.../../etc/passwd: '../../etc/passwd' is not a valid sysctl name");
        CHECK_ERROR(DOC("\"linux\": {\"sysctl\": {\"kernel/../x\": \"x\"}}"),
                    "linux.sysctl.kernel/../x: 'kernel/../x' is not a valid sysctl name");
        CHECK_ERROR(DOC("\"linux\": {\"seccomp\": []}"),
                    "linux.seccomp: expected an object, got an array");
        CHECK_ERROR(DOC("\"linux\": {\"maskedPaths\": [\"/proc/kcore\", \"proc\"]}"),
                    "linux.maskedPaths[1]: 'proc' is not an absolute path");
        CHECK_ERROR(DOC("\"linux\": {\"readonlyPaths\": [null]}"),
                    "linux.readonlyPaths[0]: expected a string, got null");
        CHECK_ERROR(DOC("\"linux\": {\"rootfsPropagation\": \"sideways\"}"),
                    "linux.rootfsPropagation: unknown propagation 'sideways'");
}

TEST(resource_errors) {
        CHECK_ERROR(DOC("\"linux\": {\"resources\": {\"memory\": {\"limit\": 0}}}"),
                    "linux.resources.memory.limit: must be positive, or -1 for no limit");
        CHECK_ERROR(DOC("\"linux\": {\"resources\": {\"memory\": {\"limit\": -2}}}"),
                    "linux.resources.memory.limit: -2 is out of range "
                    "-1..9223372036854775807");
        CHECK_ERROR(DOC("\"linux\": {\"resources\": {\"memory\": {\"limit\": \"1G\"}}}"),
                    "linux.resources.memory.limit: expected an integer, got a string");
        CHECK_ERROR(DOC("\"linux\": {\"resources\": {\"memory\": {\"limit\": 1000, \"swap\": "
                        "999}}}"),
                    "linux.resources.memory.swap: 999 is below memory.limit 1000 (swap counts "
                    "memory plus swap)");
        CHECK_ERROR(DOC("\"linux\": {\"resources\": {\"memory\": {\"swap\": 0}}}"),
                    "linux.resources.memory.swap: must be positive, or -1 for no limit");
        CHECK_ERROR(DOC("\"linux\": {\"resources\": {\"pids\": {\"limit\": 0}}}"),
                    "linux.resources.pids.limit: must be positive, or -1 for no limit");
        CHECK_ERROR(DOC("\"linux\": {\"resources\": {\"cpu\": {\"shares\": 1}}}"),
                    "linux.resources.cpu.shares: 1 is out of range 2..262144");
        CHECK_ERROR(DOC("\"linux\": {\"resources\": {\"cpu\": {\"quota\": 0}}}"),
                    "linux.resources.cpu.quota: must be at least 1000 (microseconds), or -1 for "
                    "no limit");
        CHECK_ERROR(DOC("\"linux\": {\"resources\": {\"cpu\": {\"period\": 999}}}"),
                    "linux.resources.cpu.period: 999 is out of range 1000..1000000");
        CHECK_ERROR(DOC("\"linux\": {\"resources\": {\"cpu\": {\"cpus\": \"3-1\"}}}"),
                    "linux.resources.cpu.cpus: '3-1' is not a CPU/node list like '0-3,5'");
        CHECK_ERROR(DOC("\"linux\": {\"resources\": {\"cpu\": {\"mems\": \"0,\"}}}"),
                    "linux.resources.cpu.mems: '0,' is not a CPU/node list like '0-3,5'");
        CHECK_ERROR(DOC("\"linux\": {\"resources\": {\"cpu\": {\"cpus\": \"-1\"}}}"),
                    "linux.resources.cpu.cpus: '-1' is not a CPU/node list like '0-3,5'");
        CHECK_ERROR(DOC("\"linux\": {\"resources\": {\"devices\": [{\"access\": \"r\"}]}}"),
                    "linux.resources.devices[0].allow: required");
        CHECK_ERROR(DOC("\"linux\": {\"resources\": {\"devices\": [{\"allow\": true, \"type\": "
                        "\"p\"}]}}"),
                    "linux.resources.devices[0].type: must be one of a, c, b");
        CHECK_ERROR(DOC("\"linux\": {\"resources\": {\"devices\": [{\"allow\": true, "
                        "\"access\": \"rwx\"}]}}"),
                    "linux.resources.devices[0].access: must be a combination of r, w and m");
        CHECK_ERROR(DOC("\"linux\": {\"resources\": {\"devices\": [{\"allow\": true, "
                        "\"access\": \"rr\"}]}}"),
                    "linux.resources.devices[0].access: must be a combination of r, w and m");
        CHECK_ERROR(DOC("\"linux\": {\"resources\": {\"devices\": [{\"allow\": true, "
                        "\"access\": \"\"}]}}"),
                    "linux.resources.devices[0].access: must not be empty");
        CHECK_ERROR(DOC("\"linux\": {\"resources\": {\"devices\": [{\"allow\": \"yes\"}]}}"),
                    "linux.resources.devices[0].allow: expected a boolean, got a string");
}

TEST(rlimits_against_hard_limit) {
        _cleanup_(oci_config_freep) OciConfig *c = NULL;
        _cleanup_free_ char *doc = NULL, *err = NULL, *expected = NULL;
        struct rlimit cur;

        ASSERT_OK(getrlimit(RLIMIT_NOFILE, &cur));
        if (cur.rlim_max == RLIM_INFINITY)
                test_skip("RLIMIT_NOFILE has no hard limit here");

        /* At the limit is fine. */
        ASSERT_OK(asprintf(&doc,
                           DOC_PROC("\"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"hard\": "
                                    "%llu, \"soft\": %llu}]"),
                           (unsigned long long) cur.rlim_max, (unsigned long long) cur.rlim_max));
        ASSERT_OK(parse(doc, &c, NULL));
        ASSERT_OK(oci_config_check_rlimits(c, &err));
        ASSERT_NULL(err);
        c = oci_config_free(c);
        doc = mfree(doc);

        /* One above is refused, naming the element and both numbers. */
        ASSERT_OK(asprintf(&doc,
                           DOC_PROC("\"rlimits\": [{\"type\": \"RLIMIT_CORE\", \"hard\": 0, "
                                    "\"soft\": 0}, {\"type\": \"RLIMIT_NOFILE\", \"hard\": "
                                    "%llu, \"soft\": 1}]"),
                           (unsigned long long) cur.rlim_max + 1));
        ASSERT_OK(parse(doc, &c, NULL));
        ASSERT_ERROR(oci_config_check_rlimits(c, &err), EPERM);
        ASSERT_OK(asprintf(&expected,
                           "process.rlimits[1]: RLIMIT_NOFILE hard limit %llu is above this "
                           "process's hard limit %llu",
                           (unsigned long long) cur.rlim_max + 1,
                           (unsigned long long) cur.rlim_max));
        ASSERT_STREQ(err, expected);
        ASSERT_ERROR(oci_config_check_rlimits(c, NULL), EPERM);
}

TEST(default_config) {
        _cleanup_(oci_config_freep) OciConfig *c = NULL, *c2 = NULL;
        _cleanup_free_ char *json = NULL, *json2 = NULL;
        char *const args[] = { (char *) "/bin/true", (char *) "x", NULL };
        char *const empty_args[] = { NULL };
        bool seen_user = false;

        ASSERT_OK(oci_config_default("/var/lib/zlayer/rootfs", NULL, &c));
        ASSERT_STREQ(c->root_path, "/var/lib/zlayer/rootfs");
        ASSERT_FALSE(c->root_readonly);
        ASSERT_EQ(strv_length(c->process.args), 1);
        ASSERT_STREQ(c->process.args[0], "/bin/sh");
        ASSERT_STREQ(c->process.cwd, "/");
        ASSERT_TRUE(startswith(c->process.env[0], "PATH=/usr/local/sbin:") != NULL);
        ASSERT_TRUE(c->process.has_capabilities);
        ASSERT_U64_EQ(c->process.capabilities.bounding, capability_default_set());
        ASSERT_U64_EQ(c->process.capabilities.effective, capability_default_set());
        ASSERT_U64_EQ(c->process.capabilities.permitted, capability_default_set());
        ASSERT_U64_EQ(c->process.capabilities.inheritable, 0);
        ASSERT_U64_EQ(c->process.capabilities.ambient, 0);
        ASSERT_FALSE(c->process.capabilities.bounding & CAP(capability_from_name("CAP_NET_ADMIN")));
        ASSERT_EQ(c->process.n_rlimits, 0);

        ASSERT_EQ(c->n_mounts, 6);
        ASSERT_STREQ(c->mounts[0].destination, "/proc");
        ASSERT_EQ(c->mounts[0].flags, MS_NOSUID | MS_NOEXEC | MS_NODEV);
        ASSERT_STREQ(c->mounts[1].destination, "/dev");
        ASSERT_STREQ(c->mounts[1].data, "mode=755,size=65536k");
        ASSERT_STREQ(c->mounts[2].destination, "/dev/pts");
        ASSERT_STREQ(c->mounts[3].destination, "/dev/shm");
        ASSERT_STREQ(c->mounts[3].data, "mode=1777,size=65536k");
        ASSERT_STREQ(c->mounts[4].destination, "/dev/mqueue");
        ASSERT_STREQ(c->mounts[5].destination, "/sys");
        ASSERT_TRUE(c->mounts[5].flags & MS_RDONLY);

        ASSERT_EQ(c->linux_.n_namespaces, 6);
        for (size_t i = 0; i < c->linux_.n_namespaces; i++) {
                seen_user = seen_user || c->linux_.namespaces[i].type == OCI_NAMESPACE_USER;
                ASSERT_NULL(c->linux_.namespaces[i].path);
        }
        ASSERT_FALSE(seen_user);
        ASSERT_EQ(c->linux_.n_devices, 6);
        ASSERT_STREQ(c->linux_.devices[0].path, "/dev/null");
        ASSERT_EQ(c->linux_.devices[0].major, 1);
        ASSERT_EQ(c->linux_.devices[0].minor, 3);
        ASSERT_EQ(c->linux_.devices[0].file_mode, 0666);
        /* Deny everything, then mknod, pts, ptmx and the six nodes. */
        ASSERT_EQ(c->linux_.resources.n_devices, 4 + 1 + 6);
        ASSERT_FALSE(c->linux_.resources.devices[0].allow);
        ASSERT_EQ(c->linux_.resources.devices[0].type, 'a');
        ASSERT_STREQ(c->linux_.resources.devices[1].access, "m");
        ASSERT_TRUE(strv_contains(c->linux_.masked_paths, "/proc/kcore"));
        ASSERT_TRUE(strv_contains(c->linux_.masked_paths, "/sys/firmware"));
        ASSERT_EQ(strv_length(c->linux_.masked_paths), 11);
        ASSERT_TRUE(strv_contains(c->linux_.readonly_paths, "/proc/sys"));
        ASSERT_EQ(strv_length(c->linux_.readonly_paths), 5);
        ASSERT_EQ(c->linux_.rootfs_propagation, MS_PRIVATE | MS_REC);
        ASSERT_NULL(c->linux_.seccomp);
        ASSERT_NULL(c->hostname);

        ASSERT_OK(oci_config_default_json("rootfs", args, &json));
        ASSERT_OK(parse(json, &c2, NULL));
        ASSERT_EQ(strv_length(c2->process.args), 2);
        ASSERT_STREQ(c2->process.args[0], "/bin/true");
        ASSERT_STREQ(c2->root_path, "rootfs");
        /* Deterministic text. */
        ASSERT_OK(oci_config_default_json("rootfs", args, &json2));
        ASSERT_STREQ(json, json2);

        ASSERT_ERROR(oci_config_default("", NULL, &c2), EINVAL);
        ASSERT_ERROR(oci_config_default(NULL, NULL, &c2), EINVAL);
        ASSERT_ERROR(oci_config_default("r", empty_args, &c2), EINVAL);
        ASSERT_NOT_NULL(c2);
}

TEST(load_errors) {
        _cleanup_(oci_config_freep) OciConfig *c = NULL;
        _cleanup_free_ char *err = NULL, *path = NULL, *expected = NULL;

        ASSERT_ERROR(oci_config_load("/nonexistent/config.json", &c, &err), ENOENT);
        ASSERT_STREQ(err, "cannot read '/nonexistent/config.json': No such file or directory");
        err = mfree(err);

        path = path_join(test_tmpdir(), "config.json");
        ASSERT_NOT_NULL(path);
        ASSERT_OK(write_string_file_atomic(path, DOC("\"linux\": {\"namespaces\": 1}"), 0644));
        ASSERT_ERROR(oci_config_load(path, &c, &err), EINVAL);
        expected = strjoin(path, ": linux.namespaces: expected an array, got an integer");
        ASSERT_STREQ(err, expected);
}

TEST(names) {
        ASSERT_EQ(oci_namespace_type_from_string("network"), OCI_NAMESPACE_NETWORK);
        ASSERT_EQ(oci_namespace_type_from_string("time"), OCI_NAMESPACE_TIME);
        ASSERT_ERROR(oci_namespace_type_from_string("net"), EINVAL);
        ASSERT_ERROR(oci_namespace_type_from_string(NULL), EINVAL);
        ASSERT_STREQ(oci_namespace_type_to_string(OCI_NAMESPACE_CGROUP), "cgroup");
        ASSERT_NULL(oci_namespace_type_to_string(_OCI_NAMESPACE_TYPE_MAX));
        ASSERT_NULL(oci_namespace_type_to_string(_OCI_NAMESPACE_TYPE_INVALID));
        ASSERT_EQ(oci_namespace_type_to_clone_flag(OCI_NAMESPACE_MOUNT), CLONE_NEWNS);
        ASSERT_EQ(oci_namespace_type_to_clone_flag(OCI_NAMESPACE_USER), CLONE_NEWUSER);
        ASSERT_EQ(oci_namespace_type_to_clone_flag(_OCI_NAMESPACE_TYPE_MAX), 0);

        ASSERT_EQ(oci_rlimit_from_string("RLIMIT_NPROC"), RLIMIT_NPROC);
        ASSERT_EQ(oci_rlimit_from_string("RLIMIT_RTTIME"), RLIMIT_RTTIME);
        ASSERT_ERROR(oci_rlimit_from_string("NOFILE"), EINVAL);
        ASSERT_ERROR(oci_rlimit_from_string(NULL), EINVAL);
        ASSERT_STREQ(oci_rlimit_to_string(RLIMIT_AS), "RLIMIT_AS");
        ASSERT_NULL(oci_rlimit_to_string(1000));
}

TEST(hostile_inputs) {
        _cleanup_(oci_config_freep) OciConfig *c = NULL;
        _cleanup_free_ char *deep = NULL, *err = NULL;
        const size_t depth = 100000;
        int r;

        /* Nesting far beyond what the parser allows, at the top and inside an ignored field. */
        deep = malloc(2 * depth + 64);
        ASSERT_NOT_NULL(deep);
        memset(deep, '[', depth);
        memset(deep + depth, ']', depth);
        deep[2 * depth] = '\0';
        ASSERT_ERROR(parse(deep, &c, &err), EINVAL);
        ASSERT_NOT_NULL(err);
        err = mfree(err);

        CHECK_ERROR(DOC("\"annotations\": {\"a\": 99999999999999999999}"),
                    "1:149: too big integer near '99999999999999999999'");
        CHECK_ERROR(DOC("\"linux\": {\"resources\": {\"memory\": {\"limit\": 1e999}}}"),
                    "1:157: real number overflow near '1e999'");
        CHECK_ERROR(DOC("\"linux\": {\"resources\": {\"memory\": {\"limit\": 1e3}}}"),
                    "linux.resources.memory.limit: expected an integer, got a real number");
        CHECK_ERROR(DOC_PROC("\"oomScoreAdj\": -9223372036854775808"),
                    "process.oomScoreAdj: -9223372036854775808 is out of range -1000..1000");
        /* NUL bytes are not allowed in strings. */
        CHECK_ERROR(DOC_PROC("\"env\": [\"A=\\u0000\"]"),
                    "1:125: \\u0000 is not allowed without JSON_ALLOW_NUL near '\"A=\\u0000\"'");
        ASSERT_ERROR(oci_config_parse("{\"ociVersion\"\0:1}", 17, &c, &err), EINVAL);
        ASSERT_NOT_NULL(err);
        err = mfree(err);
        ASSERT_ERROR(oci_config_parse(NULL, 0, &c, NULL), EINVAL);

        /* Every prefix of a valid document, and every byte replaced by a few troublesome ones:
         * the parser must fail cleanly or succeed, never crash or leak (valgrind/ASan). */
        size_t n = strlen(full_config);
        _cleanup_free_ char *buf = strdup(full_config);
        ASSERT_NOT_NULL(buf);
        for (size_t i = 0; i < n; i++) {
                r = oci_config_parse(full_config, i, &c, &err);
                ASSERT_ERROR(r, EINVAL);
                ASSERT_NOT_NULL(err);
                err = mfree(err);
        }
        for (size_t i = 0; i < n; i++) {
                static const char subst[] = { '"', '0', '[', '{', '-', ' ', '\\' };
                for (size_t k = 0; k < ELEMENTSOF(subst); k++) {
                        buf[i] = subst[k];
                        r = oci_config_parse(buf, n, &c, &err);
                        ASSERT_TRUE(r == 0 || r == -EINVAL);
                        ASSERT_TRUE((r == 0) == (c != NULL));
                        ASSERT_TRUE((r == 0) == (err == NULL));
                        c = oci_config_free(c);
                        err = mfree(err);
                }
                buf[i] = full_config[i];
        }
}

TEST(wrong_types_everywhere) {
        /* Every field we read, given a value of each wrong type. */
        static const char *const fields[] = {
                "\"hostname\": %s",
                "\"mounts\": [{\"destination\": %s, \"type\": \"tmpfs\"}]",
                "\"mounts\": [{\"destination\": \"/a\", \"type\": %s}]",
                "\"mounts\": [{\"destination\": \"/a\", \"type\": \"t\", \"source\": %s}]",
                "\"mounts\": [{\"destination\": \"/a\", \"type\": \"t\", \"options\": %s}]",
                "\"linux\": {\"namespaces\": [{\"type\": %s}]}",
                "\"linux\": {\"cgroupsPath\": %s}",
                "\"linux\": {\"resources\": %s}",
                "\"linux\": {\"resources\": {\"memory\": %s}}",
                "\"linux\": {\"resources\": {\"cpu\": {\"shares\": %s}}}",
                "\"linux\": {\"resources\": {\"cpu\": {\"cpus\": %s}}}",
                "\"linux\": {\"resources\": {\"pids\": {\"limit\": %s}}}",
                "\"linux\": {\"sysctl\": %s}",
                "\"linux\": {\"maskedPaths\": %s}",
                "\"linux\": {\"uidMappings\": [{\"containerID\": %s}]}",
                "\"annotations\": {\"k\": %s}",
        };
        static const char *const values[] = { "true", "1", "1.5", "\"s\"", "[]", "{}" };

        for (size_t f = 0; f < ELEMENTSOF(fields); f++)
                for (size_t v = 0; v < ELEMENTSOF(values); v++) {
                        _cleanup_(oci_config_freep) OciConfig *c = NULL;
                        _cleanup_free_ char *doc = NULL, *inner = NULL, *err = NULL;
                        int r;

                        const char *hole = strstr(fields[f], "%s");

                        ASSERT_NOT_NULL(hole);
                        ASSERT_OK(asprintf(&inner, "%.*s%s%s", (int) (hole - fields[f]), fields[f],
                                           values[v], hole + 2));
                        ASSERT_OK(asprintf(&doc, DOC("%s"), inner));
                        r = parse(doc, &c, &err);
                        /* A handful of combinations are valid ("s" as a hostname...). */
                        if (r == 0)
                                continue;
                        ASSERT_ERROR(r, EINVAL);
                        ASSERT_NOT_NULL(err);
                        ASSERT_NULL(c);
                }
}
