/* SPDX-License-Identifier: Apache-2.0 */
/* test-container.c: real containers from a busybox root: isolation, limits, seccomp, exec. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cap-util.h"
#include "container.h"
#include "fileio.h"
#include "log.h"
#include "string-util.h"
#include "test-busybox.h"
#include "tests.h"

static char *rootfs;
static CgroupMode cg_mode;
static unsigned cg_counter;

/* The harness empties the temporary directory after each test: each builds its own root. */
static void setup_rootfs(void) {
        int r;

        if (geteuid() != 0)
                test_skip("containers need root");
        rootfs = mfree(rootfs);
        rootfs = strjoin(test_tmpdir(), "/rootfs");
        ASSERT_NOT_NULL(rootfs);
        r = test_busybox_rootfs(rootfs);
        if (r == -ENOENT)
                test_skip("/bin/busybox missing: run scripts/setup (busybox-static)");
        ASSERT_OK(r);

        /* The static probe, for syscalls busybox cannot make. */
        _cleanup_free_ char *probe = strjoin(rootfs, "/bin/probe");
        _cleanup_free_ char *src = strjoin(getenv("ZL_TEST_BUILDDIR") ?: ".", "/test-probe");
        _cleanup_free_ char *data = NULL;
        size_t size;
        ASSERT_OK(read_full_file(src, 64 << 20, &data, &size));
        ASSERT_OK(write_file_atomic(probe, data, size, 0755));
        cg_mode = cgroup_detect(NULL);
        ASSERT_OK((int) cg_mode);
}

static OciConfig *config_for(const char *cmd) {
        char *args[] = { (char *) "/bin/sh", (char *) "-c", (char *) cmd, NULL };
        OciConfig *c = NULL;

        ASSERT_OK(oci_config_default(rootfs, args, &c));
        return c;
}

typedef struct Run {
        int status;
        char *out;
        char *err;
        char *error;
        int r;
} Run;

static void run_done(Run *r) {
        free(r->out);
        free(r->err);
        free(r->error);
}

static char *read_all(int fd) {
        char *buf = NULL;
        size_t size = 0;
        char chunk[4096];
        ssize_t n;

        while ((n = read(fd, chunk, sizeof chunk)) > 0) {
                char *nb = realloc(buf, size + (size_t) n + 1);
                ASSERT_NOT_NULL(nb);
                buf = nb;
                memcpy(buf + size, chunk, (size_t) n);
                size += (size_t) n;
        }
        if (!buf)
                buf = calloc(1, 1);
        buf[size] = 0;
        return buf;
}

/* Spawns, reads stdout and stderr to EOF, waits. */
static Run run_config(const OciConfig *c, Cgroup *cg, bool default_seccomp) {
        ContainerSpawnOptions o = CONTAINER_SPAWN_OPTIONS_INIT;
        ContainerInit init = CONTAINER_INIT_NULL;
        Run run = {};
        int out[2], err[2];

        ASSERT_OK(pipe2(out, O_CLOEXEC));
        ASSERT_OK(pipe2(err, O_CLOEXEC));
        o.config = c;
        o.cgroup = cg;
        o.default_seccomp = default_seccomp;
        o.stdio[1] = out[1];
        o.stdio[2] = err[1];
        run.r = container_spawn(&o, &init, &run.error);
        close(out[1]);
        close(err[1]);
        if (run.r < 0) {
                close(out[0]);
                close(err[0]);
                return run;
        }
        /* Small outputs: stderr fits in the pipe while stdout is drained. */
        run.out = read_all(out[0]);
        run.err = read_all(err[0]);
        close(out[0]);
        close(err[0]);
        ASSERT_EQ(waitpid(init.pid, &run.status, 0), init.pid);
        container_init_done(&init);
        return run;
}

static Cgroup *make_cgroup(const CgroupLimits *l) {
        char path[64];
        const char *reason = NULL;
        Cgroup *cg = NULL;

        snprintf(path, sizeof path, "zltest-container-%d-%u", (int) getpid(), cg_counter++);
        int r = cgroup_new(NULL, cg_mode, path, l, &reason, &cg);
        if (r < 0)
                log_error_errno(r, "cgroup_new: %s: %m", strna(reason));
        ASSERT_OK(r);
        return cg;
}

static void drop_cgroup(Cgroup *cg) {
        ASSERT_OK(cgroup_kill(cg));
        ASSERT_OK(cgroup_destroy(cg));
        cgroup_free(cg);
}

TEST(true_exits_zero) {
        setup_rootfs();
        _cleanup_(oci_config_freep) OciConfig *c = config_for("exit 0");
        _cleanup_(run_done) Run r = run_config(c, NULL, true);
        ASSERT_OK(r.r);
        ASSERT_TRUE(WIFEXITED(r.status));
        ASSERT_EQ(WEXITSTATUS(r.status), 0);
}

TEST(exit_code_kept) {
        setup_rootfs();
        _cleanup_(oci_config_freep) OciConfig *c = config_for("echo out; echo err >&2; exit 42");
        _cleanup_(run_done) Run r = run_config(c, NULL, true);
        ASSERT_OK(r.r);
        ASSERT_EQ(WEXITSTATUS(r.status), 42);
        ASSERT_STREQ(r.out, "out\n");
        ASSERT_STREQ(r.err, "err\n");
}

TEST(isolation) {
        setup_rootfs();
        _cleanup_(oci_config_freep) OciConfig *c = config_for(
                "echo pid=$$; echo host=$(hostname); "
                "echo mounts=$(grep -c . /proc/self/mountinfo); "
                "for d in null zero full random urandom tty; do test -c /dev/$d || echo missing "
                "$d; "
                "done; ls /dev | grep -E '^(sda|vda|nvme|kmsg|mem|loop)' ; "
                "echo timer_list=$(wc -c < /proc/timer_list); echo acpi=$(ls /proc/acpi | wc -l); "
                "echo x > /proc/sys/kernel/domainname 2>/dev/null && echo procsys-writable; "
                "touch /sys/x 2>/dev/null && echo sys-writable; "
                "echo procs=$(ls -d /proc/[0-9]* | wc -l); "
                "echo lo=$(cat /sys/class/net/lo/flags); ls /sys/class/net | wc -l");
        free(c->hostname);
        c->hostname = strdup("zltest");
        _cleanup_(run_done) Run r = run_config(c, NULL, true);
        ASSERT_OK(r.r);
        log_info("isolation output:\n%s%s", r.out, r.err);
        ASSERT_EQ(WEXITSTATUS(r.status), 0);
        ASSERT_NOT_NULL(strstr(r.out, "pid=1\n"));
        ASSERT_NOT_NULL(strstr(r.out, "host=zltest\n"));
        ASSERT_NULL(strstr(r.out, "missing"));
        /* Masked: a file reads as empty, a directory as an empty tmpfs. */
        ASSERT_NOT_NULL(strstr(r.out, "timer_list=0\n"));
        ASSERT_NOT_NULL(strstr(r.out, "acpi=0\n"));
        ASSERT_NOT_NULL(strstr(r.out, "lo=0x9\n"));
        ASSERT_NULL(strstr(r.out, "writable"));
        /* Only the shell and the ls/wc it runs. */
        ASSERT_NULL(strstr(r.out, "sda"));
        ASSERT_NULL(strstr(r.out, "kmsg"));
        /* A new network namespace holds only lo, up. */
        ASSERT_NOT_NULL(strstr(r.out, "\n1\n"));

        /* A mount table of the container's own: far smaller than the host's. */
        const char *m = strstr(r.out, "mounts=");
        ASSERT_NOT_NULL(m);
        ASSERT_TRUE(atoi(m + 7) < 30);
}

TEST(default_capabilities) {
        setup_rootfs();
        _cleanup_(oci_config_freep) OciConfig *c = config_for("grep -E '^Cap(Eff|Bnd)' "
                                                              "/proc/self/status");
        _cleanup_(run_done) Run r = run_config(c, NULL, true);
        char expect[128];

        ASSERT_OK(r.r);
        snprintf(expect, sizeof expect, "CapEff:\t%016llx\nCapBnd:\t%016llx\n",
                 (unsigned long long) capability_default_set(),
                 (unsigned long long) capability_default_set());
        ASSERT_STREQ(r.out, expect);
        /* CAP_NET_ADMIN (12) is not in it. */
        ASSERT_EQ(capability_default_set() & (UINT64_C(1) << 12), UINT64_C(0));
}

TEST(net_admin_when_asked) {
        setup_rootfs();
        _cleanup_(oci_config_freep) OciConfig *c =
                config_for("ip addr add 10.99.0.1/32 dev lo && echo added");
        OciCapabilities *caps = &c->process.capabilities;
        uint64_t bit = UINT64_C(1) << 12;
        caps->bounding |= bit;
        caps->effective |= bit;
        caps->permitted |= bit;
        _cleanup_(run_done) Run r = run_config(c, NULL, true);
        ASSERT_OK(r.r);
        ASSERT_STREQ(r.out, "added\n");

        _cleanup_(oci_config_freep) OciConfig *d = config_for("ip addr add 10.99.0.1/32 dev lo");
        _cleanup_(run_done) Run s = run_config(d, NULL, true);
        ASSERT_OK(s.r);
        ASSERT_TRUE(WEXITSTATUS(s.status) != 0);
}

TEST(default_seccomp_profile) {
        setup_rootfs();
        _cleanup_(oci_config_freep) OciConfig *c = config_for(
                "grep ^Seccomp: /proc/self/status; /bin/probe unshare mount keyctl ptrace getpid");
        _cleanup_(run_done) Run r = run_config(c, NULL, true);
        ASSERT_OK(r.r);
        ASSERT_STREQ(r.out, "Seccomp:\t2\nunshare: EPERM\nmount: EPERM\nkeyctl: EPERM\n"
                            "ptrace: EPERM\ngetpid: ok\n");

        /* Without a filter the same calls get as far as the kernel's own checks. */
        _cleanup_(oci_config_freep) OciConfig *d = config_for("/bin/probe unshare keyctl");
        _cleanup_(run_done) Run s = run_config(d, NULL, false);
        ASSERT_OK(s.r);
        ASSERT_STREQ(s.out, "unshare: ok\nkeyctl: ok\n");
}

TEST(sysctl_before_proc_sys_is_read_only) {
        setup_rootfs();
        _cleanup_(oci_config_freep) OciConfig *c =
                config_for("cat /proc/sys/net/ipv4/ping_group_range; "
                           "echo 1 > /proc/sys/net/ipv4/ip_forward 2>/dev/null || echo read-only");
        c->linux_.sysctl = calloc(1, sizeof(OciKeyValue));
        ASSERT_NOT_NULL(c->linux_.sysctl);
        c->linux_.sysctl[0].key = strdup("net.ipv4.ping_group_range");
        c->linux_.sysctl[0].value = strdup("0 0");
        c->linux_.n_sysctl = 1;
        _cleanup_(run_done) Run r = run_config(c, NULL, true);
        ASSERT_OK(r.r);
        ASSERT_STREQ(r.out, "0\t0\nread-only\n");
}

TEST(user_and_groups) {
        setup_rootfs();
        _cleanup_(oci_config_freep) OciConfig *c = config_for("id -u; id -g; id -G; pwd");
        c->process.user.uid = 1000;
        c->process.user.gid = 1000;
        c->process.user.additional_gids = calloc(1, sizeof(gid_t));
        c->process.user.additional_gids[0] = 2000;
        c->process.user.n_additional_gids = 1;
        free(c->process.cwd);
        c->process.cwd = strdup("/home/app");
        _cleanup_(run_done) Run r = run_config(c, NULL, true);
        ASSERT_OK(r.r);
        ASSERT_STREQ(r.out, "1000\n1000\n1000 2000\n/home/app\n");
}

TEST(errors_are_messages) {
        setup_rootfs();
        char *args[] = { (char *) "nosuch-program", NULL };
        _cleanup_(oci_config_freep) OciConfig *c = NULL;
        ASSERT_OK(oci_config_default(rootfs, args, &c));
        _cleanup_(run_done) Run r = run_config(c, NULL, true);
        ASSERT_EQ(r.r, -ENOENT);
        ASSERT_NOT_NULL(r.error);
        log_info("bad exec: %s", r.error);
        ASSERT_NOT_NULL(strstr(r.error, "nosuch-program"));

        free(c->process.cwd);
        c->process.cwd = strdup("/nonexistent");
        free(c->process.args[0]);
        c->process.args[0] = strdup("/bin/true");
        _cleanup_(run_done) Run s = run_config(c, NULL, true);
        ASSERT_TRUE(s.r < 0);
        log_info("bad cwd: %s", s.error);
        ASSERT_NOT_NULL(strstr(s.error, "/nonexistent"));

        free(c->root_path);
        c->root_path = strdup("/nonexistent-root");
        _cleanup_(run_done) Run t = run_config(c, NULL, true);
        ASSERT_EQ(t.r, -ENOENT);
        ASSERT_NOT_NULL(strstr(t.error, "root.path"));
        /* Nothing is left running: we have no children. */
        ASSERT_EQ(waitpid(-1, NULL, WNOHANG), -1);
        ASSERT_EQ(errno, ECHILD);
}

TEST(create_then_start) {
        setup_rootfs();
        _cleanup_(oci_config_freep) OciConfig *c = config_for("exit 7");
        ContainerSpawnOptions o = CONTAINER_SPAWN_OPTIONS_INIT;
        ContainerInit init = CONTAINER_INIT_NULL;
        int status;

        o.config = c;
        o.wait_for_start = true;
        ASSERT_OK(container_spawn(&o, &init, NULL));
        ASSERT_TRUE(init.start_fd >= 0);
        /* Created, not running the program yet. */
        usleep(20 * 1000);
        ASSERT_EQ(waitpid(init.pid, &status, WNOHANG), 0);
        ASSERT_OK(container_start(&init, NULL));
        ASSERT_EQ(waitpid(init.pid, &status, 0), init.pid);
        ASSERT_EQ(WEXITSTATUS(status), 7);
        container_init_done(&init);

        /* Aborting a created container: it runs nothing and exits 127. */
        ASSERT_OK(container_spawn(&o, &init, NULL));
        init.start_fd = safe_close(init.start_fd);
        ASSERT_EQ(waitpid(init.pid, &status, 0), init.pid);
        ASSERT_EQ(WEXITSTATUS(status), 127);
        container_init_done(&init);
}

TEST(exec_joins_the_container) {
        setup_rootfs();
        _cleanup_(oci_config_freep) OciConfig *c = config_for("exec sleep 1000");
        ContainerSpawnOptions o = CONTAINER_SPAWN_OPTIONS_INIT;
        ContainerInit init = CONTAINER_INIT_NULL;
        ContainerExecOptions e = CONTAINER_EXEC_OPTIONS_INIT;
        OciProcess p;
        int out[2], status, pidfd = -EBADF;
        pid_t pid;
        _cleanup_free_ char *error = NULL;

        free(c->hostname);
        c->hostname = strdup("execbox");
        o.config = c;
        o.default_seccomp = true;
        Cgroup *cg = make_cgroup(NULL);
        o.cgroup = cg;
        ASSERT_OK(container_spawn(&o, &init, NULL));

        p = c->process;
        char *args[] = { (char *) "/bin/sh", (char *) "-c",
                         (char *) "hostname; echo $$; cat /proc/1/cmdline | tr '\\0' ' '; echo; "
                                  "grep ^Seccomp: /proc/self/status",
                         NULL };
        p.args = args;
        ASSERT_OK(pipe2(out, O_CLOEXEC));
        e.process = &p;
        e.default_seccomp = true;
        e.cgroup = cg;
        e.stdio[1] = out[1];
        ASSERT_OK(container_exec(init.pid, &e, &pid, &pidfd, NULL, &error));
        close(out[1]);
        _cleanup_free_ char *text = read_all(out[0]);
        close(out[0]);
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        ASSERT_EQ(WEXITSTATUS(status), 0);
        log_info("exec output:\n%s", text);
        ASSERT_TRUE(strneq(text, "execbox\n", 8));
        ASSERT_NOT_NULL(strstr(text, "sleep 1000 \n"));
        ASSERT_NOT_NULL(strstr(text, "Seccomp:\t2\n"));
        /* Its PID is one of the container's, not 1. */
        ASSERT_TRUE(atoi(text + 8) > 1);
        safe_close(pidfd);

        /* A missing program is an error message, and nothing is left behind. */
        char *bad[] = { (char *) "/bin/nosuch", NULL };
        p.args = bad;
        e.stdio[1] = -1;
        free(error);
        error = NULL;
        ASSERT_EQ(container_exec(init.pid, &e, &pid, NULL, NULL, &error), -ENOENT);
        ASSERT_NOT_NULL(strstr(error, "/bin/nosuch"));

        ASSERT_OK(kill(init.pid, SIGKILL));
        ASSERT_EQ(waitpid(init.pid, &status, 0), init.pid);
        container_init_done(&init);
        drop_cgroup(cg);
}

TEST(memory_limit_oom_kills) {
        setup_rootfs();
        CgroupLimits l = CGROUP_LIMITS_INIT;
        l.memory_limit_bytes = 32 << 20;
        l.memory_swap_bytes = 32 << 20;
        Cgroup *cg = make_cgroup(&l);
        _cleanup_(oci_config_freep) OciConfig *c = config_for("exec tail /dev/zero");
        _cleanup_(run_done) Run r = run_config(c, cg, true);
        CgroupStats st;

        ASSERT_OK(r.r);
        ASSERT_TRUE(WIFSIGNALED(r.status));
        ASSERT_EQ(WTERMSIG(r.status), SIGKILL);
        ASSERT_OK(cgroup_get_stats(cg, &st));
        ASSERT_TRUE(st.oom_kill_count >= 1);
        drop_cgroup(cg);
}

TEST(pids_limit) {
        setup_rootfs();
        CgroupLimits l = CGROUP_LIMITS_INIT;
        l.pids_limit = 16;
        Cgroup *cg = make_cgroup(&l);
        _cleanup_(oci_config_freep) OciConfig *c = config_for(
                /* ash gives up on a failed fork: the subshell ends, the test goes on. */
                "(for i in $(seq 1000); do sleep 5 >/dev/null & done) 2>/dev/null; "
                /* Builtins only: no fork is left to count with. */
                "set -- /proc/[0-9]*; echo running=$#; exit 0");
        _cleanup_(run_done) Run r = run_config(c, cg, true);

        ASSERT_OK(r.r);
        log_info("pids output: %s / %s / status %d", r.out, r.err, r.status);
        const char *p = strstr(r.out, "running=");
        ASSERT_NOT_NULL(p);
        ASSERT_TRUE(atoi(p + 8) <= 16);
        drop_cgroup(cg);
}

TEST(cpu_quota_throttles) {
        setup_rootfs();
        CgroupLimits l = CGROUP_LIMITS_INIT;
        l.cpu_quota_usec = 10000;
        l.cpu_period_usec = 100000;
        Cgroup *cg = make_cgroup(&l);
        _cleanup_(oci_config_freep) OciConfig *c =
                config_for("timeout 1 sh -c 'while :; do :; done'; exit 0");
        _cleanup_(run_done) Run r = run_config(c, cg, true);
        CgroupStats st;

        ASSERT_OK(r.r);
        ASSERT_OK(cgroup_get_stats(cg, &st));
        log_info("throttled %" PRIu64 " of %" PRIu64 " periods, usage %" PRIu64 " us",
                 st.cpu_nr_throttled, st.cpu_nr_periods, st.cpu_usage_usec);
        ASSERT_TRUE(st.cpu_nr_throttled > 0);
        /* 10% of one CPU for about a second. */
        ASSERT_TRUE(st.cpu_usage_usec < 400000);
        drop_cgroup(cg);
}

TEST(user_namespace) {
        setup_rootfs();
        /* The mapped root (host uid 100000) must be able to reach the root directory. */
        ASSERT_OK(chmod(test_tmpdir(), 0755));
        _cleanup_(oci_config_freep) OciConfig *c = config_for("id -u; cat /proc/self/uid_map");
        OciNamespace *ns =
                reallocarray(c->linux_.namespaces, c->linux_.n_namespaces + 1, sizeof *ns);
        ASSERT_NOT_NULL(ns);
        c->linux_.namespaces = ns;
        ns[c->linux_.n_namespaces++] = (OciNamespace){ .type = OCI_NAMESPACE_USER };
        c->linux_.uid_mappings = calloc(1, sizeof(OciIdMapping));
        c->linux_.gid_mappings = calloc(1, sizeof(OciIdMapping));
        c->linux_.uid_mappings[0] = (OciIdMapping){ 0, 100000, 65536 };
        c->linux_.gid_mappings[0] = (OciIdMapping){ 0, 100000, 65536 };
        c->linux_.n_uid_mappings = c->linux_.n_gid_mappings = 1;
        _cleanup_(run_done) Run r = run_config(c, NULL, true);
        if (r.r < 0)
                log_error("user namespace: %s", strna(r.error));
        ASSERT_OK(r.r);
        log_info("userns: %s%s", r.out, r.err);
        ASSERT_TRUE(strneq(r.out, "0\n", 2));
        ASSERT_NOT_NULL(strstr(r.out, "100000"));
}

/* The tests reap their containers: be the parent of everything they leave. */
static void __attribute__((constructor)) become_subreaper(void) {
        (void) prctl(PR_SET_CHILD_SUBREAPER, 1);
}
