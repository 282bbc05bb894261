/* SPDX-License-Identifier: Apache-2.0 */
/* test-process-setup.c: kernel settings, identity and executable lookup, each in a forked child. */
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>

#include "cap-util.h"
#include "fileio.h"
#include "path-util.h"
#include "process-setup.h"
#include "string-util.h"
#include "tests.h"

#define CAP(c) (UINT64_C(1) << (c))
#define CAP_NET_BIND_SERVICE_BIT 10
#define CAP_NET_ADMIN_BIT 12
#define CAP_SYS_ADMIN_BIT 21
#define CAP_SYS_RESOURCE_BIT 24

/* ---- children ---- */

typedef int (*ChildFunc)(void *userdata, FILE *out);

/* Runs f in a child that first unshares `flags`. The child reports on `out` (which is a pipe
 * to us), never asserts, and _exit()s; returns the child's exit status, the report in
 * *ret_output. */
static int run_child(int flags, ChildFunc f, void *userdata, char **ret_output) {
        int pipefd[2], status;
        pid_t pid;

        ASSERT_OK(pipe2(pipefd, O_CLOEXEC));
        fflush(stdout);
        fflush(stderr);
        pid = fork();
        ASSERT_OK(pid);
        if (pid == 0) {
                FILE *out;
                int r;

                safe_close(pipefd[0]);
                out = fdopen(pipefd[1], "w");
                if (!out)
                        _exit(3);
                if (flags != 0 && unshare(flags) < 0) {
                        fprintf(out, "unshare: %m\n");
                        fclose(out);
                        _exit(2);
                }
                r = f(userdata, out);
                fclose(out);
                _exit(r < 0 ? 1 : 0);
        }
        safe_close(pipefd[1]);
        ASSERT_OK(read_full_fd(pipefd[0], 1U << 20, ret_output, NULL));
        safe_close(pipefd[0]);
        if (getenv("ZL_TEST_DEBUG"))
                fprintf(stderr, "child report:\n%s\n", *ret_output);
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        ASSERT_TRUE(WIFEXITED(status));
        return WEXITSTATUS(status);
}

/* The value after "key:" or "key=" on its own line, with surrounding blanks stripped. */
static const char *field(const char *out, const char *key, char *buf, size_t size) {
        size_t n = strlen(key);

        for (const char *l = out; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
                if (strneq(l, key, n) && (l[n] == ':' || l[n] == '=')) {
                        size_t len = strcspn(l + n + 1, "\n");

                        snprintf(buf, size, "%.*s", (int) len, l + n + 1);
                        return strstrip(buf);
                }
        return NULL;
}
#define FIELD(out, key) field((out), (key), (char[512]){}, 512)

static uint64_t cap_field(const char *out, const char *key) {
        const char *v = FIELD(out, key);

        ASSERT_NOT_NULL(v);
        return strtoull(v, NULL, 16);
}

/* Messages escape user strings, so they hold no newline that would break the report. */
static void report(FILE *out, int r, const char *error) {
        fprintf(out, "r=%d\n", r);
        if (error)
                fprintf(out, "error=%s\n", error);
}

static void report_file(FILE *out, const char *path) {
        char *s = NULL;

        if (read_full_file(path, 1U << 16, &s, NULL) >= 0)
                fputs(s, out);
        free(s);
}

static bool have_cap(int cap) {
        char *s = NULL;
        uint64_t eff;
        const char *v;

        ASSERT_OK(read_full_file("/proc/self/status", 1U << 16, &s, NULL));
        v = FIELD(s, "CapEff");
        ASSERT_NOT_NULL(v);
        eff = strtoull(v, NULL, 16);
        free(s);
        return eff & CAP(cap);
}

static void require_root(void) {
        if (geteuid() != 0 || !have_cap(CAP_SYS_ADMIN_BIT))
                test_skip("needs root with CAP_SYS_ADMIN");
}

/* ---- process_setup_kernel ---- */

static int kernel_child(void *userdata, FILE *out) {
        const OciConfig *c = userdata;
        _cleanup_free_ char *error = NULL;
        char host[256] = {}, dom[256] = {};
        struct rlimit nofile, core, mq;
        int r;

        /* A known name before, to see whether a failing call left it alone; in a UTS
         * namespace of our own whatever the test asked for, never the host's. */
        if (unshare(CLONE_NEWUTS) < 0)
                return -errno;
        (void) sethostname("before", 6);
        r = process_setup_kernel(c, &error);
        report(out, r, error);
        (void) gethostname(host, sizeof host - 1);
        (void) getdomainname(dom, sizeof dom - 1);
        fprintf(out, "hostname=%s\ndomainname=%s\n", host, dom);
        if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && getrlimit(RLIMIT_CORE, &core) == 0 &&
            getrlimit(RLIMIT_MSGQUEUE, &mq) == 0)
                fprintf(out, "nofile=%llu/%llu\ncore=%llu/%llu\nmsgqueue=%llu/%llu\n",
                        (unsigned long long) nofile.rlim_cur, (unsigned long long) nofile.rlim_max,
                        (unsigned long long) core.rlim_cur, (unsigned long long) core.rlim_max,
                        (unsigned long long) mq.rlim_cur, (unsigned long long) mq.rlim_max);
        fputs("msgmax=", out);
        report_file(out, "/proc/sys/kernel/msgmax");
        fputs("ip_forward=", out);
        report_file(out, "/proc/sys/net/ipv4/ip_forward");
        fputs("oom=", out);
        report_file(out, "/proc/self/oom_score_adj");
        return r;
}

static OciNamespace all_ns[] = {
        { OCI_NAMESPACE_UTS, NULL },
        { OCI_NAMESPACE_IPC, NULL },
        { OCI_NAMESPACE_NETWORK, NULL },
};

TEST(kernel_names_and_sysctls) {
        OciKeyValue sysctl[] = {
                { (char *) "kernel.msgmax", (char *) "12345" },
                { (char *) "net/ipv4/ip_forward", (char *) "1" },
        };
        OciConfig c = {
                .hostname = (char *) "zl-test-host",
                .domainname = (char *) "zl.example",
                .linux_ = { .sysctl = sysctl,
                            .n_sysctl = ELEMENTSOF(sysctl),
                            .namespaces = all_ns,
                            .n_namespaces = ELEMENTSOF(all_ns) },
        };
        _cleanup_free_ char *out = NULL, *host_msgmax = NULL;

        require_root();
        ASSERT_OK(read_full_file("/proc/sys/kernel/msgmax", 64, &host_msgmax, NULL));
        ASSERT_EQ(run_child(CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET, kernel_child, &c, &out), 0);
        ASSERT_STREQ(FIELD(out, "r"), "0");
        ASSERT_NULL(FIELD(out, "error"));
        ASSERT_STREQ(FIELD(out, "hostname"), "zl-test-host");
        ASSERT_STREQ(FIELD(out, "domainname"), "zl.example");
        ASSERT_STREQ(FIELD(out, "msgmax"), "12345");
        ASSERT_STREQ(FIELD(out, "ip_forward"), "1");

        /* The host's own values are untouched. */
        free(out);
        out = NULL;
        ASSERT_OK(read_full_file("/proc/sys/kernel/msgmax", 64, &out, NULL));
        ASSERT_STREQ(out, host_msgmax);
}

static int dotted_child(void *userdata, FILE *out) {
        /* An interface with a dot in its name, only in this network namespace. */
        if (system("ip link add zl.5 type veth peer name zl6") != 0) {
                fputs("skip=1\n", out);
                return 0;
        }
        (void) kernel_child(userdata, out);
        fputs("dotted=", out);
        report_file(out, "/proc/sys/net/ipv4/conf/zl.5/forwarding");
        fputs("slashed=", out);
        report_file(out, "/proc/sys/net/ipv4/conf/lo/forwarding");
        return 0;
}

TEST(kernel_sysctl_dotted_slash) {
        /* In the dotted form a '/' stands for a literal dot, as in sysctl(8); a name whose
         * first separator is '/' is a path as it is. */
        OciKeyValue sysctl[] = {
                { (char *) "net.ipv4.conf.zl/5.forwarding", (char *) "1" },
                { (char *) "net/ipv4/conf/lo/forwarding", (char *) "1" },
        };
        OciConfig c = { .linux_ = { .sysctl = sysctl,
                                    .n_sysctl = ELEMENTSOF(sysctl),
                                    .namespaces = all_ns,
                                    .n_namespaces = ELEMENTSOF(all_ns) } };
        _cleanup_free_ char *out = NULL;

        require_root();
        ASSERT_EQ(run_child(CLONE_NEWNET | CLONE_NEWUTS, dotted_child, &c, &out), 0);
        if (FIELD(out, "skip")) {
                out = mfree(out); /* test_skip() does not return through the cleanups */
                test_skip("cannot create a veth pair");
        }
        ASSERT_STREQ(FIELD(out, "r"), "0");
        ASSERT_STREQ(FIELD(out, "dotted"), "1");
        ASSERT_STREQ(FIELD(out, "slashed"), "1");
}

TEST(kernel_refuses_without_partial_changes) {
        OciKeyValue missing[] = {
                { (char *) "kernel.msgmax", (char *) "12345" },
                { (char *) "net.ipv4.zl_no_such_sysctl", (char *) "1" },
        };
        OciKeyValue bad_names[][1] = {
                { { (char *) "../../etc/passwd", (char *) "1" } },
                { { (char *) "kernel..msgmax", (char *) "1" } },
                { { (char *) "kernel/", (char *) "1" } },
                { { (char *) "net/ipv4/../ipv4/ip_forward", (char *) "1" } },
        };
        char host_domain[256] = {};
        OciConfig c = {
                .hostname = (char *) "after",
                .linux_ = { .sysctl = missing,
                            .n_sysctl = ELEMENTSOF(missing),
                            .namespaces = all_ns,
                            .n_namespaces = ELEMENTSOF(all_ns) },
        };
        _cleanup_free_ char *out = NULL;

        require_root();
        ASSERT_EQ(run_child(CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET, kernel_child, &c, &out), 1);
        ASSERT_STREQ(FIELD(out, "r"), "-2");
        ASSERT_STREQ(FIELD(out, "error"),
                     "linux.sysctl: 'net.ipv4.zl_no_such_sysctl': No such file or directory");
        ASSERT_STREQ(FIELD(out, "hostname"), "before");
        ASSERT_TRUE(!streq(FIELD(out, "msgmax"), "12345"));

        for (size_t i = 0; i < ELEMENTSOF(bad_names); i++) {
                char want[256];

                c.linux_.sysctl = bad_names[i];
                c.linux_.n_sysctl = 1;
                free(out);
                out = NULL;
                ASSERT_EQ(run_child(CLONE_NEWUTS | CLONE_NEWIPC, kernel_child, &c, &out), 1);
                ASSERT_STREQ(FIELD(out, "r"), "-22");
                snprintf(want, sizeof want, "linux.sysctl: '%s' is not a valid sysctl name",
                         bad_names[i][0].key);
                ASSERT_STREQ(FIELD(out, "error"), want);
                ASSERT_STREQ(FIELD(out, "hostname"), "before");
        }

        /* A value the kernel refuses. */
        OciKeyValue bad_value[] = { { (char *) "kernel.msgmax", (char *) "not-a-number" } };
        c.linux_.sysctl = bad_value;
        free(out);
        out = NULL;
        ASSERT_EQ(run_child(CLONE_NEWUTS | CLONE_NEWIPC, kernel_child, &c, &out), 1);
        ASSERT_STREQ(FIELD(out, "r"), "-22");
        ASSERT_STREQ(
                FIELD(out, "error"),
                "linux.sysctl: 'kernel.msgmax': cannot write 'not-a-number': Invalid argument");

        /* Names the kernel cannot take. */
        c = (OciConfig){ .hostname = (char *) "a-very-long-host-name-that-does-not-fit-into-the-"
                                              "uts-name-field-at-all",
                         .linux_ = { .namespaces = all_ns, .n_namespaces = 1 } };
        free(out);
        out = NULL;
        ASSERT_EQ(run_child(CLONE_NEWUTS, kernel_child, &c, &out), 1);
        ASSERT_STREQ(FIELD(out, "r"), "-22");
        ASSERT_TRUE(startswith(FIELD(out, "error"), "hostname: 'a-very-long"));

        /* Without a UTS namespace in the config the names would be the host's. */
        c = (OciConfig){ .domainname = (char *) "zl.example" };
        free(out);
        out = NULL;
        ASSERT_EQ(run_child(CLONE_NEWUTS, kernel_child, &c, &out), 1);
        ASSERT_STREQ(FIELD(out, "r"), "-1");
        ASSERT_STREQ(FIELD(out, "error"),
                     "domainname: setting it needs a uts namespace of the container's own");
        ASSERT_OK(getdomainname(host_domain, sizeof host_domain - 1));
        ASSERT_STREQ(FIELD(out, "domainname"), host_domain);
}

TEST(kernel_sysctl_needs_namespace) {
        _cleanup_free_ char *out = NULL, *panic = NULL;
        OciKeyValue sysctl[1] = {};
        OciNamespace uts_only[] = { { OCI_NAMESPACE_UTS, NULL } };
        OciConfig c = { .linux_ = { .sysctl = sysctl,
                                    .n_sysctl = 1,
                                    .namespaces = uts_only,
                                    .n_namespaces = 1 } };

        require_root();
        sysctl[0] = (OciKeyValue){ (char *) "kernel.msgmax", (char *) "12345" };
        ASSERT_EQ(run_child(CLONE_NEWUTS | CLONE_NEWIPC, kernel_child, &c, &out), 1);
        ASSERT_STREQ(FIELD(out, "r"), "-1");
        ASSERT_STREQ(FIELD(out, "error"),
                     "linux.sysctl: 'kernel.msgmax' needs its own ipc namespace");
        ASSERT_STREQ(FIELD(out, "hostname"), "before");

        sysctl[0] = (OciKeyValue){ (char *) "net.ipv4.ip_forward", (char *) "1" };
        free(out);
        out = NULL;
        ASSERT_EQ(run_child(CLONE_NEWUTS | CLONE_NEWNET, kernel_child, &c, &out), 1);
        ASSERT_STREQ(FIELD(out, "error"),
                     "linux.sysctl: 'net.ipv4.ip_forward' needs its own network namespace");

        /* Not namespaced at all: refused whatever the config has (the value written, were it
         * not, is the host's own). */
        ASSERT_OK(read_full_file("/proc/sys/kernel/panic", 64, &panic, NULL));
        sysctl[0] = (OciKeyValue){ (char *) "kernel.panic", strstrip(panic) };
        c.linux_.namespaces = all_ns;
        c.linux_.n_namespaces = ELEMENTSOF(all_ns);
        free(out);
        out = NULL;
        ASSERT_EQ(run_child(CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET, kernel_child, &c, &out), 1);
        ASSERT_STREQ(FIELD(out, "error"), "linux.sysctl: 'kernel.panic' is not namespaced, "
                                          "setting it would change the host");
}

TEST(kernel_rlimits) {
        struct rlimit cur, mq;
        OciRlimit ok[3];
        OciConfig c = { .process = { .rlimits = ok, .n_rlimits = ELEMENTSOF(ok) } };
        _cleanup_free_ char *out = NULL;
        char want[256];

        ASSERT_OK(getrlimit(RLIMIT_NOFILE, &cur));
        ASSERT_OK(getrlimit(RLIMIT_MSGQUEUE, &mq));
        /* The NOFILE hard limit stays as it is: valgrind refuses to let it change. */
        ok[0] = (OciRlimit){ RLIMIT_CORE, 0, 0 };
        ok[1] = (OciRlimit){ RLIMIT_NOFILE, 100, cur.rlim_max };
        ok[2] = (OciRlimit){ RLIMIT_MSGQUEUE, 4096, 8192 };
        ASSERT_EQ(run_child(0, kernel_child, &c, &out), 0);
        ASSERT_STREQ(FIELD(out, "r"), "0");
        snprintf(want, sizeof want, "100/%llu", (unsigned long long) cur.rlim_max);
        ASSERT_STREQ(FIELD(out, "nofile"), want);
        ASSERT_STREQ(FIELD(out, "msgqueue"), "4096/8192");
        ASSERT_STREQ(FIELD(out, "core"), "0/0");

        if (cur.rlim_max == RLIM_INFINITY || have_cap(CAP_SYS_RESOURCE_BIT))
                return; /* nothing is above the hard limit for us */

        /* Above the hard limit: refused, and the rlimit listed before it is not applied. */
        OciRlimit above[] = {
                { RLIMIT_MSGQUEUE, 1024, 2048 },
                { RLIMIT_NOFILE, 100, (uint64_t) cur.rlim_max + 1 },
        };
        c.process.rlimits = above;
        c.process.n_rlimits = ELEMENTSOF(above);
        free(out);
        out = NULL;
        ASSERT_EQ(run_child(0, kernel_child, &c, &out), 1);
        ASSERT_STREQ(FIELD(out, "r"), "-1");
        snprintf(want, sizeof want,
                 "process.rlimits[1]: RLIMIT_NOFILE hard limit %llu is above this process's "
                 "hard limit %llu",
                 (unsigned long long) cur.rlim_max + 1, (unsigned long long) cur.rlim_max);
        ASSERT_STREQ(FIELD(out, "error"), want);
        snprintf(want, sizeof want, "%llu/%llu", (unsigned long long) cur.rlim_cur,
                 (unsigned long long) cur.rlim_max);
        ASSERT_STREQ(FIELD(out, "nofile"), want);
        snprintf(want, sizeof want, "%llu/%llu", (unsigned long long) mq.rlim_cur,
                 (unsigned long long) mq.rlim_max);
        ASSERT_STREQ(FIELD(out, "msgqueue"), want);

        /* soft above hard */
        OciRlimit inverted[] = { { RLIMIT_NOFILE, 300, 200 } };
        c.process.rlimits = inverted;
        c.process.n_rlimits = 1;
        free(out);
        out = NULL;
        ASSERT_EQ(run_child(0, kernel_child, &c, &out), 1);
        ASSERT_STREQ(FIELD(out, "r"), "-22");
}

TEST(kernel_oom_score_adj) {
        OciConfig c = { .process = { .has_oom_score_adj = true, .oom_score_adj = 500 } };
        _cleanup_free_ char *out = NULL;

        ASSERT_EQ(run_child(0, kernel_child, &c, &out), 0);
        ASSERT_STREQ(FIELD(out, "r"), "0");
        ASSERT_STREQ(FIELD(out, "oom"), "500");

        /* Lowering it to -1000 needs CAP_SYS_RESOURCE, which this machine's root lacks. */
        c.process.oom_score_adj = -1000;
        free(out);
        out = NULL;
        if (run_child(0, kernel_child, &c, &out) == 0) {
                ASSERT_STREQ(FIELD(out, "oom"), "-1000");
                return;
        }
        ASSERT_FALSE(have_cap(CAP_SYS_RESOURCE_BIT));
        ASSERT_STREQ(FIELD(out, "r"), "-13");
        ASSERT_STREQ(FIELD(out, "error"), "process.oomScoreAdj: cannot set -1000: Permission "
                                          "denied (lowering it needs CAP_SYS_RESOURCE)");
}

/* ---- process_setup_identity ---- */

typedef struct IdentityCase {
        const OciProcess *process;
        bool userns_deny_setgroups;
        char *const *exec_argv; /* exec this afterwards, stdout to the report */
} IdentityCase;

static int identity_child(void *userdata, FILE *out) {
        const IdentityCase *ic = userdata;
        _cleanup_free_ char *error = NULL;
        char cwd[PATH_MAX] = {};
        int r;

        if (ic->userns_deny_setgroups) {
                if (write_string_file_atomic("/proc/self/setgroups", "deny", 0644) < 0) {
                        int fd = open("/proc/self/setgroups", O_WRONLY | O_CLOEXEC);

                        if (fd < 0 || write(fd, "deny", 4) != 4)
                                return -EIO;
                        close(fd);
                }
                for (size_t i = 0; i < 2; i++) {
                        const char *f = i == 0 ? "/proc/self/uid_map" : "/proc/self/gid_map";
                        int fd = open(f, O_WRONLY | O_CLOEXEC);

                        if (fd < 0 || write(fd, "0 0 1", 5) != 5)
                                return -EIO;
                        close(fd);
                }
        }
        r = process_setup_identity(ic->process, &error);
        report(out, r, error);
        if (getcwd(cwd, sizeof cwd))
                fprintf(out, "cwd=%s\n", cwd);
        report_file(out, "/proc/self/status");
        if (r >= 0 && ic->exec_argv) {
                fputs("exec:\n", out);
                fflush(out);
                if (dup2(fileno(out), STDOUT_FILENO) < 0)
                        return -errno;
                execv(ic->exec_argv[0], ic->exec_argv);
                return -errno;
        }
        return r;
}

static OciProcess process_default(void) {
        uint64_t d = capability_default_set();

        return (OciProcess){
                .cwd = (char *) "/",
                .has_capabilities = true,
                .capabilities = { .bounding = d, .effective = d, .permitted = d },
        };
}

static uint64_t host_bounding(void) {
        char *s = NULL;
        uint64_t b;

        ASSERT_OK(read_full_file("/proc/self/status", 1U << 16, &s, NULL));
        b = cap_field(s, "CapBnd");
        free(s);
        return b;
}

TEST(identity_docker_default_root) {
        OciProcess p = process_default();
        IdentityCase ic = { .process = &p };
        _cleanup_free_ char *out = NULL;
        uint64_t d = capability_default_set();

        require_root();
        ASSERT_EQ(run_child(0, identity_child, &ic, &out), 0);
        ASSERT_STREQ(FIELD(out, "r"), "0");
        ASSERT_STREQ(FIELD(out, "Uid"), "0\t0\t0\t0");
        ASSERT_STREQ(FIELD(out, "Gid"), "0\t0\t0\t0");
        ASSERT_STREQ(FIELD(out, "Groups"), "");
        ASSERT_U64_EQ(cap_field(out, "CapBnd"), d);
        ASSERT_U64_EQ(cap_field(out, "CapEff"), d);
        ASSERT_U64_EQ(cap_field(out, "CapPrm"), d);
        ASSERT_U64_EQ(cap_field(out, "CapInh"), 0);
        ASSERT_U64_EQ(cap_field(out, "CapAmb"), 0);
        ASSERT_FALSE(cap_field(out, "CapEff") & CAP(CAP_NET_ADMIN_BIT));
        ASSERT_STREQ(FIELD(out, "NoNewPrivs"), "0");
        ASSERT_STREQ(FIELD(out, "Umask"), "0022");
        ASSERT_STREQ(FIELD(out, "cwd"), "/");
}

TEST(identity_net_admin_groups_umask_cwd) {
        uint64_t d = capability_default_set() | CAP(CAP_NET_ADMIN_BIT);
        gid_t gids[] = { 10, 20, 30 };
        OciProcess p = {
                .cwd = (char *) "/tmp",
                .no_new_privileges = true,
                .user = { .uid = 0,
                          .gid = 5,
                          .has_umask = true,
                          .umask = 027,
                          .additional_gids = gids,
                          .n_additional_gids = 3 },
                .has_capabilities = true,
                .capabilities = { .bounding = d, .effective = d, .permitted = d },
        };
        IdentityCase ic = { .process = &p };
        _cleanup_free_ char *out = NULL;

        require_root();
        ASSERT_EQ(run_child(0, identity_child, &ic, &out), 0);
        ASSERT_STREQ(FIELD(out, "r"), "0");
        ASSERT_STREQ(FIELD(out, "Gid"), "5\t5\t5\t5");
        ASSERT_STREQ(FIELD(out, "Groups"), "10 20 30");
        ASSERT_U64_EQ(cap_field(out, "CapBnd"), d);
        ASSERT_U64_EQ(cap_field(out, "CapEff"), d);
        ASSERT_TRUE(cap_field(out, "CapEff") & CAP(CAP_NET_ADMIN_BIT));
        ASSERT_STREQ(FIELD(out, "NoNewPrivs"), "1");
        ASSERT_STREQ(FIELD(out, "Umask"), "0027");
        ASSERT_STREQ(FIELD(out, "cwd"), "/tmp");
}

TEST(identity_non_root_ambient_survives_exec) {
        uint64_t nbs = CAP(CAP_NET_BIND_SERVICE_BIT);
        gid_t gids[] = { 100 };
        OciProcess p = {
                .cwd = (char *) "/",
                .user = { .uid = 1000,
                          .gid = 1000,
                          .additional_gids = gids,
                          .n_additional_gids = 1 },
                .has_capabilities = true,
                .capabilities = { .bounding = capability_default_set(),
                                  .effective = nbs,
                                  .permitted = nbs,
                                  .inheritable = nbs,
                                  .ambient = nbs },
        };
        char *argv[] = { (char *) "/bin/cat", (char *) "/proc/self/status", NULL };
        IdentityCase ic = { .process = &p, .exec_argv = argv };
        _cleanup_free_ char *out = NULL;
        const char *after;

        require_root();
        if (access(argv[0], X_OK) < 0)
                test_skip("no /bin/cat");
        ASSERT_EQ(run_child(0, identity_child, &ic, &out), 0);
        ASSERT_STREQ(FIELD(out, "r"), "0");
        ASSERT_STREQ(FIELD(out, "Uid"), "1000\t1000\t1000\t1000");
        ASSERT_STREQ(FIELD(out, "Gid"), "1000\t1000\t1000\t1000");
        ASSERT_STREQ(FIELD(out, "Groups"), "100");
        ASSERT_U64_EQ(cap_field(out, "CapEff"), nbs);
        ASSERT_U64_EQ(cap_field(out, "CapPrm"), nbs);
        ASSERT_U64_EQ(cap_field(out, "CapInh"), nbs);
        ASSERT_U64_EQ(cap_field(out, "CapAmb"), nbs);

        /* What the executed program (a plain binary, no file capabilities) holds. */
        after = strstr(out, "exec:\n");
        ASSERT_NOT_NULL(after);
        ASSERT_STREQ(FIELD(after + 6, "Uid"), "1000\t1000\t1000\t1000");
        ASSERT_U64_EQ(cap_field(after + 6, "CapEff"), nbs);
        ASSERT_U64_EQ(cap_field(after + 6, "CapPrm"), nbs);
        ASSERT_U64_EQ(cap_field(after + 6, "CapAmb"), nbs);
        ASSERT_U64_EQ(cap_field(after + 6, "CapBnd"), capability_default_set());
}

TEST(identity_non_root_without_ambient_loses_caps_on_exec) {
        OciProcess p = process_default();
        char *argv[] = { (char *) "/bin/cat", (char *) "/proc/self/status", NULL };
        IdentityCase ic = { .process = &p, .exec_argv = argv };
        _cleanup_free_ char *out = NULL;
        const char *after;

        require_root();
        if (access(argv[0], X_OK) < 0)
                test_skip("no /bin/cat");
        p.user.uid = 65534;
        p.user.gid = 65534;
        ASSERT_EQ(run_child(0, identity_child, &ic, &out), 0);
        ASSERT_U64_EQ(cap_field(out, "CapEff"), capability_default_set());
        after = strstr(out, "exec:\n");
        ASSERT_NOT_NULL(after);
        ASSERT_U64_EQ(cap_field(after + 6, "CapEff"), 0);
        ASSERT_U64_EQ(cap_field(after + 6, "CapPrm"), 0);
}

TEST(identity_no_capabilities) {
        OciProcess p = { .cwd = (char *) "/" };
        IdentityCase ic = { .process = &p };
        _cleanup_free_ char *out = NULL;

        require_root();
        ASSERT_EQ(run_child(0, identity_child, &ic, &out), 0);
        ASSERT_STREQ(FIELD(out, "Uid"), "0\t0\t0\t0");
        ASSERT_U64_EQ(cap_field(out, "CapBnd"), 0);
        ASSERT_U64_EQ(cap_field(out, "CapEff"), 0);
        ASSERT_U64_EQ(cap_field(out, "CapPrm"), 0);
}

TEST(identity_refuses_bad_sets_unchanged) {
        uint64_t d = capability_default_set(), nbs = CAP(CAP_NET_BIND_SERVICE_BIT);
        OciProcess p = process_default();
        IdentityCase ic = { .process = &p };
        _cleanup_free_ char *out = NULL;

        require_root();
        p.user.uid = 1000;
        p.capabilities.ambient = nbs; /* permitted but not inheritable */
        ASSERT_EQ(run_child(0, identity_child, &ic, &out), 1);
        ASSERT_STREQ(FIELD(out, "r"), "-22");
        ASSERT_STREQ(FIELD(out, "error"),
                     "process.capabilities.ambient: 'CAP_NET_BIND_SERVICE' is not in the "
                     "permitted and inheritable sets");
        /* Checked before anything changed. */
        ASSERT_STREQ(FIELD(out, "Uid"), "0\t0\t0\t0");
        ASSERT_U64_EQ(cap_field(out, "CapBnd"), host_bounding());

        p.capabilities.ambient = 0;
        p.capabilities.effective = d | CAP(CAP_NET_ADMIN_BIT);
        free(out);
        out = NULL;
        ASSERT_EQ(run_child(0, identity_child, &ic, &out), 1);
        ASSERT_STREQ(FIELD(out, "error"), "process.capabilities.effective: 'CAP_NET_ADMIN' is "
                                          "not in the permitted set");

        p.capabilities.effective = d;
        p.capabilities.inheritable = CAP(CAP_NET_ADMIN_BIT);
        free(out);
        out = NULL;
        ASSERT_EQ(run_child(0, identity_child, &ic, &out), 1);
        ASSERT_STREQ(FIELD(out, "error"), "process.capabilities.inheritable: 'CAP_NET_ADMIN' is "
                                          "not in the bounding set");

        if (!have_cap(CAP_SYS_RESOURCE_BIT)) {
                p.capabilities.inheritable = 0;
                p.capabilities.permitted = d | CAP(CAP_SYS_RESOURCE_BIT);
                free(out);
                out = NULL;
                ASSERT_EQ(run_child(0, identity_child, &ic, &out), 1);
                ASSERT_STREQ(FIELD(out, "r"), "-1");
                ASSERT_STREQ(FIELD(out, "error"), "process.capabilities.permitted: "
                                                  "'CAP_SYS_RESOURCE' is not held by the runtime");
        }
}

TEST(identity_cwd_missing) {
        OciProcess p = process_default();
        IdentityCase ic = { .process = &p };
        _cleanup_free_ char *out = NULL;

        require_root();
        p.cwd = (char *) "/nonexistent-zl-cwd";
        ASSERT_EQ(run_child(0, identity_child, &ic, &out), 1);
        ASSERT_STREQ(FIELD(out, "r"), "-2");
        ASSERT_STREQ(FIELD(out, "error"),
                     "process.cwd: '/nonexistent-zl-cwd': No such file or directory");
}

TEST(identity_userns_setgroups_denied) {
        OciProcess p = process_default();
        IdentityCase ic = { .process = &p, .userns_deny_setgroups = true };
        gid_t gids[] = { 0 };
        _cleanup_free_ char *out = NULL;

        require_root();
        /* An empty list is fine where setgroups is denied ... */
        ASSERT_EQ(run_child(CLONE_NEWUSER, identity_child, &ic, &out), 0);
        ASSERT_STREQ(FIELD(out, "r"), "0");
        ASSERT_U64_EQ(cap_field(out, "CapEff"), capability_default_set());

        /* ... a non-empty one is not. */
        p.user.additional_gids = gids;
        p.user.n_additional_gids = 1;
        free(out);
        out = NULL;
        ASSERT_EQ(run_child(CLONE_NEWUSER, identity_child, &ic, &out), 1);
        ASSERT_STREQ(FIELD(out, "r"), "-1");
        ASSERT_STREQ(FIELD(out, "error"),
                     "process.user.additionalGids: setgroups is denied in this user namespace");
}

/* ---- process_find_executable ---- */

typedef struct FindCase {
        const char *dir;
        const char *name;
        char **env;
} FindCase;

static int find_child(void *userdata, FILE *out) {
        const FindCase *fc = userdata;
        _cleanup_free_ char *path = NULL, *error = NULL;
        char *args[] = { (char *) fc->name, NULL };
        OciProcess p = { .args = args, .env = fc->env };
        int r;

        if (chdir(fc->dir) < 0)
                return -errno;
        r = process_find_executable(&p, &path, &error);
        report(out, r, error);
        fprintf(out, "path=%s\n", strna(path));
        return r;
}

static char *make_file(const char *dir, const char *name, mode_t mode) {
        char *p = path_join(dir, name);

        ASSERT_NOT_NULL(p);
        ASSERT_OK(write_string_file_atomic(p, "#!/bin/sh\nexit 0\n", mode));
        return p;
}

static int find(char **env, const char *name, char **ret_path, char **ret_error) {
        char *args[] = { (char *) name, NULL };
        OciProcess p = { .args = args, .env = env };

        *ret_path = NULL;
        *ret_error = NULL;
        return process_find_executable(&p, ret_path, ret_error);
}

TEST(find_executable) {
        _cleanup_free_ char *bin = NULL, *other = NULL, *tool = NULL, *data = NULL, *dir = NULL;
        _cleanup_free_ char *path_env = NULL, *path = NULL, *error = NULL, *shadow = NULL;
        _cleanup_free_ char *want = NULL, *long_name = NULL;
        char *env[3] = {};

        bin = path_join(test_tmpdir(), "bin");
        other = path_join(test_tmpdir(), "other");
        ASSERT_OK(mkdir_p(bin, 0755));
        ASSERT_OK(mkdir_p(other, 0755));
        tool = make_file(bin, "tool", 0755);
        data = make_file(bin, "data", 0644);
        shadow = make_file(other, "data", 0755); /* a later executable one wins */
        free(make_file(bin, "only-data", 0644));
        dir = path_join(bin, "dir");
        ASSERT_OK(mkdir_p(dir, 0755));
        path_env = strjoin("PATH=", bin, ":", other);
        env[0] = (char *) "HOME=/";
        env[1] = path_env;

        ASSERT_OK(find(env, "tool", &path, &error));
        ASSERT_STREQ(path, tool);
        ASSERT_NULL(error);
        path = mfree(path);

        ASSERT_OK(find(env, "data", &path, &error));
        ASSERT_STREQ(path, shadow);
        path = mfree(path);

        ASSERT_ERROR(find(env, "only-data", &path, &error), EACCES);
        want = strjoin("process.args[0]: 'only-data': '", bin, "/only-data' is not executable");
        ASSERT_STREQ(error, want);
        ASSERT_NULL(path);
        error = mfree(error);
        want = mfree(want);

        ASSERT_ERROR(find(env, "nosuch", &path, &error), ENOENT);
        want = strjoin("process.args[0]: 'nosuch': not found in $PATH (", bin, ":", other, ")");
        ASSERT_STREQ(error, want);
        error = mfree(error);
        want = mfree(want);

        /* A directory found in PATH is passed over. */
        ASSERT_ERROR(find(env, "dir", &path, &error), ENOENT);
        error = mfree(error);

        /* Names with '/' are used as they are. */
        ASSERT_OK(find(env, tool, &path, &error));
        ASSERT_STREQ(path, tool);
        path = mfree(path);
        ASSERT_ERROR(find(env, "/etc/passwd", &path, &error), EACCES);
        ASSERT_STREQ(error, "process.args[0]: '/etc/passwd' is not executable");
        error = mfree(error);
        ASSERT_ERROR(find(env, dir, &path, &error), EISDIR);
        want = strjoin("process.args[0]: '", dir, "' is a directory");
        ASSERT_STREQ(error, want);
        error = mfree(error);
        want = mfree(want);
        ASSERT_ERROR(find(env, "/dev/null", &path, &error), EACCES);
        ASSERT_STREQ(error, "process.args[0]: '/dev/null' is not a regular file");
        error = mfree(error);
        ASSERT_ERROR(find(env, "/nonexistent/zl-tool", &path, &error), ENOENT);
        ASSERT_STREQ(error, "process.args[0]: '/nonexistent/zl-tool': No such file or directory");
        error = mfree(error);
        ASSERT_ERROR(find(env, "/etc/passwd/x", &path, &error), ENOTDIR);
        error = mfree(error);
        ASSERT_ERROR(find(env, "", &path, &error), ENOENT);
        ASSERT_STREQ(error, "process.args[0]: empty");
        error = mfree(error);

        long_name = malloc(NAME_MAX + 2);
        ASSERT_NOT_NULL(long_name);
        memset(long_name, 'x', NAME_MAX + 1);
        long_name[NAME_MAX + 1] = '\0';
        ASSERT_ERROR(find(env, long_name, &path, &error), ENAMETOOLONG);
        error = mfree(error);

        /* Without PATH in the environment the default applies. */
        ASSERT_OK(find(NULL, "sh", &path, &error));
        ASSERT_TRUE(streq(path, "/usr/bin/sh") || streq(path, "/bin/sh") ||
                    streq(path, "/usr/local/bin/sh") || streq(path, "/usr/sbin/sh"));
        path = mfree(path);
        ASSERT_ERROR(find((char *[]){ (char *) "PATHX=/", NULL }, "zl-nosuch", &path, &error),
                     ENOENT);
        ASSERT_STREQ(error, "process.args[0]: 'zl-nosuch': not found in $PATH "
                            "(/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)");
        error = mfree(error);

        /* An empty PATH element is the current directory. */
        ASSERT_ERROR(find((char *[]){ (char *) "PATH=/nonexistent:", NULL }, "tool", &path, &error),
                     ENOENT);
        error = mfree(error);
}

TEST(find_executable_relative) {
        _cleanup_free_ char *bin = path_join(test_tmpdir(), "bin"), *out = NULL;
        FindCase fc = { .dir = test_tmpdir(), .name = "bin/tool" };

        ASSERT_OK(mkdir_p(bin, 0755));
        free(make_file(bin, "tool", 0755));
        ASSERT_EQ(run_child(0, find_child, &fc, &out), 0);
        ASSERT_STREQ(FIELD(out, "path"), "bin/tool");

        fc.name = "./bin/nosuch";
        free(out);
        out = NULL;
        ASSERT_EQ(run_child(0, find_child, &fc, &out), 1);
        ASSERT_STREQ(FIELD(out, "error"),
                     "process.args[0]: './bin/nosuch': No such file or directory");

        /* An empty PATH element searches the current directory. */
        fc.dir = bin;
        fc.name = "tool";
        free(out);
        out = NULL;
        ASSERT_EQ(run_child(0, find_child, &fc, &out), 1); /* default PATH: not found */
        fc.env = (char *[]){ (char *) "PATH=/nonexistent:", NULL };
        free(out);
        out = NULL;
        ASSERT_EQ(run_child(0, find_child, &fc, &out), 0);
        ASSERT_STREQ(FIELD(out, "path"), "./tool");
}
