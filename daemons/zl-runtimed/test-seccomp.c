/* SPDX-License-Identifier: Apache-2.0 */
/* test-seccomp.c: the default profile and JSON profiles loaded for real in forked children. */
#include <dirent.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/keyctl.h>
#include <sched.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

#include "cap-util.h"
#include "fileio.h"
#include "string-util.h"
#include "seccomp-filter.h"
#include "tests.h"

/* In the child, a failed check prints where and leaves with status 1; _exit skips atexit
 * handlers (LeakSanitizer would ptrace, which the filter forbids). */
#define CHILD_CHECK(expr)                                                                          \
        do {                                                                                       \
                if (!(expr)) {                                                                     \
                        fprintf(stderr, "%s:%d: child check failed: %s (errno %d: %s)\n",          \
                                __FILE__, __LINE__, #expr, errno, strerror(errno));                \
                        _exit(1);                                                                  \
                }                                                                                  \
        } while (0)

/* The syscall returned -1 with exactly this errno. */
#define CHILD_FAILS(expr, err) CHILD_CHECK((errno = 0, (expr) == -1 && errno == (err)))

/* valgrind does not implement seccomp(2), so libseccomp would detect API level 1 and refuse
 * SCMP_ACT_LOG, KILL_PROCESS and the filter flags while the parent builds filters. The parent
 * never loads one (the re-executed children do, natively), so claim the level the kernels we
 * run on have. */
static void __attribute__((constructor)) valgrind_api_level(void) {
        if (RUNNING_ON_VALGRIND)
                (void) seccomp_api_set(6);
}

typedef void (*ChildFunc)(void);
typedef int (*BuildFunc)(scmp_filter_ctx *ret);

#define CHILD_ENV "ZL_TEST_SECCOMP_CHILD"

/* Runs a child case: a fork that re-executes this binary with CHILD_ENV naming the case, so the
 * filter is built, loaded and probed in a fresh process. Under valgrind the re-executed child
 * runs natively (valgrind emulates some syscalls itself, which would hide the filter), and its
 * exit skips the sanitizers' exit hooks. Returns the exit status, or 128 + signal. */
static int run_child(const char *name) {
        char exe[PATH_MAX];
        ssize_t n;
        int status;
        pid_t pid;

        n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
        ASSERT_TRUE(n > 0);
        exe[n] = '\0';

        fflush(NULL);
        pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                if (setenv(CHILD_ENV, name, 1) < 0)
                        _exit(126);
                execl(exe, exe, (char *) NULL);
                _exit(127);
        }
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        if (!WIFEXITED(status))
                return 128 + WTERMSIG(status);
        return WEXITSTATUS(status);
}

static void require_root(void) {
        if (geteuid() != 0)
                test_skip("needs root to load filters that test capability rules");
}

static void child_default(void) {
        char buf[4] = {};
        int p[2], fd, status;
        pid_t pid;

        /* What a container may not do. */
        CHILD_FAILS(unshare(CLONE_NEWNS), EPERM);
        CHILD_FAILS(unshare(CLONE_NEWUSER), EPERM);
        CHILD_FAILS(mount("none", "/mnt", "tmpfs", 0, NULL), EPERM);
        CHILD_FAILS(umount2("/mnt", 0), EPERM);
        CHILD_FAILS(syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0), EPERM);
        CHILD_FAILS(syscall(SYS_add_key, "user", "zl", "x", 1, KEY_SPEC_SESSION_KEYRING), EPERM);
        CHILD_FAILS(ptrace(PTRACE_TRACEME, 0, NULL, NULL), EPERM);
        CHILD_FAILS(syscall(SYS_setns, 0, 0), EPERM);
        CHILD_FAILS(syscall(SYS_reboot, 0, 0, 0, NULL), EPERM);
        CHILD_FAILS(syscall(SYS_init_module, NULL, 0, ""), EPERM);
        CHILD_FAILS(syscall(SYS_acct, NULL), EPERM);
        CHILD_FAILS(syscall(SYS_swapoff, "/nonexistent"), EPERM);
        CHILD_FAILS(syscall(SYS_clone, (unsigned long) CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0), EPERM);
        /* clone3 is refused with ENOSYS so the C library falls back to clone(). */
        CHILD_FAILS(syscall(SYS_clone3, NULL, 0), ENOSYS);
        CHILD_FAILS(socket(AF_VSOCK, SOCK_STREAM, 0), EPERM);
        CHILD_FAILS(socket(AF_ALG, SOCK_SEQPACKET, 0), EPERM);
        CHILD_FAILS(personality(PER_BSD), EPERM);

        /* What it may. */
        CHILD_CHECK(getpid() > 0);
        CHILD_CHECK(personality(0xffffffff) >= 0);
        CHILD_CHECK(pipe(p) == 0);
        CHILD_CHECK(write(p[1], "ok", 2) == 2);
        CHILD_CHECK(read(p[0], buf, sizeof(buf)) == 2 && streq(buf, "ok"));
        CHILD_CHECK(close(p[0]) == 0 && close(p[1]) == 0);
        fd = openat(AT_FDCWD, "/dev/null", O_RDONLY | O_CLOEXEC);
        CHILD_CHECK(fd >= 0);
        CHILD_CHECK(close(fd) == 0);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        CHILD_CHECK(fd >= 0);
        CHILD_CHECK(close(fd) == 0);

        pid = fork();
        CHILD_CHECK(pid >= 0);
        if (pid == 0)
                _exit(7);
        CHILD_CHECK(waitpid(pid, &status, 0) == pid);
        CHILD_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 7);
}

static int build_default(scmp_filter_ctx *ret) {
        return seccomp_filter_default(ret, capability_default_set());
}

TEST(default_profile_denies_and_allows) {
        _cleanup_(seccomp_releasep) scmp_filter_ctx ctx = NULL;

        require_root();
        ASSERT_OK(build_default(&ctx));
        ASSERT_EQ(run_child("default"), 0);
}

static void child_sys_admin(void) {
        /* The child is root with CAP_SYS_ADMIN, so the kernel lets these through too. */
        CHILD_CHECK(unshare(CLONE_NEWNS) == 0);
        CHILD_CHECK(unshare(CLONE_NEWUTS) == 0);
        CHILD_CHECK(sethostname("zl-seccomp", strlen("zl-seccomp")) == 0);
        /* clone3 reaches the kernel now, which rejects the zero size itself. */
        CHILD_FAILS(syscall(SYS_clone3, NULL, 0), EINVAL);
        /* Still no ptrace: that needs CAP_SYS_PTRACE in the set. */
        CHILD_FAILS(ptrace(PTRACE_TRACEME, 0, NULL, NULL), EPERM);
        CHILD_FAILS(syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0), EPERM);
}

static int build_sys_admin(scmp_filter_ctx *ret) {
        return seccomp_filter_default(ret,
                                      capability_default_set() | (UINT64_C(1) << CAP_SYS_ADMIN));
}

TEST(cap_sys_admin_allows_namespaces) {
        _cleanup_(seccomp_releasep) scmp_filter_ctx ctx = NULL;

        require_root();
        ASSERT_OK(build_sys_admin(&ctx));
        ASSERT_EQ(run_child("sys-admin"), 0);
}

static void child_sys_ptrace(void) {
        CHILD_CHECK(ptrace(PTRACE_TRACEME, 0, NULL, NULL) == 0);
        CHILD_FAILS(unshare(CLONE_NEWNS), EPERM);
}

static int build_sys_ptrace(scmp_filter_ctx *ret) {
        return seccomp_filter_default(ret,
                                      capability_default_set() | (UINT64_C(1) << CAP_SYS_PTRACE));
}

TEST(cap_sys_ptrace_allows_ptrace) {
        _cleanup_(seccomp_releasep) scmp_filter_ctx ctx = NULL;

        require_root();
        ASSERT_OK(build_sys_ptrace(&ctx));
        ASSERT_EQ(run_child("sys-ptrace"), 0);
}

TEST(default_profile_builds_for_any_capability_set) {
        /* Overlapping conditional rules (bpf, syslog, perf_event_open appear under two
         * capabilities) must not conflict when every capability is present. */
        uint64_t all = (UINT64_C(1) << (capability_last() + 1)) - 1;
        uint64_t sets[] = { 0, capability_default_set(), all };

        for (size_t i = 0; i < ELEMENTSOF(sets); i++) {
                _cleanup_(seccomp_releasep) scmp_filter_ctx ctx = NULL;

                ASSERT_OK(seccomp_filter_default(&ctx, sets[i]));
                ASSERT_NOT_NULL(ctx);
        }
}

static int filter_from_string(const char *text, scmp_filter_ctx *ret, char **ret_error) {
        _cleanup_(json_decrefp) json_t *j = NULL;
        json_error_t e;

        j = json_loads(text, 0, &e);
        if (!j)
                test_fail(__FILE__, __LINE__, "bad test JSON: %s", e.text);
        return seccomp_filter_from_json(j, ret, ret_error);
}

static void child_custom(void) {
        int fd;

        CHILD_FAILS(chdir("/"), ENOMSG);
        CHILD_FAILS(mkdir("/nonexistent-zl-dir", 0755), EPERM);
        CHILD_FAILS(personality(PER_LINUX32), EDOM);
        CHILD_CHECK(personality(0xffffffff) >= 0);
        /* Two conditions on one argument mean either of them. */
        CHILD_FAILS(socket(AF_UNIX, SOCK_STREAM, 0), EADDRINUSE);
        CHILD_FAILS(socket(AF_INET, SOCK_STREAM, 0), EADDRINUSE);
        fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        CHILD_CHECK(fd >= 0 || errno == EAFNOSUPPORT);
        if (fd >= 0)
                CHILD_CHECK(close(fd) == 0);
        /* Masked comparison: O_CREAT in the flags of openat. */
        CHILD_FAILS(openat(AT_FDCWD, "/dev/null", O_RDONLY | O_CREAT, 0600), EROFS);
        fd = openat(AT_FDCWD, "/dev/null", O_RDONLY | O_CLOEXEC);
        CHILD_CHECK(fd >= 0);
        CHILD_CHECK(close(fd) == 0);
        CHILD_CHECK(getpid() > 0);
}

static int build_custom(scmp_filter_ctx *ret) {
        char text[2048];

        snprintf(text, sizeof(text),
                 "{\"defaultAction\": \"SCMP_ACT_ALLOW\","
                 " \"flags\": [\"SECCOMP_FILTER_FLAG_LOG\"],"
                 " \"syscalls\": ["
                 "  {\"names\": [\"chdir\", \"no_such_syscall_zl\"], \"action\": "
                 "\"SCMP_ACT_ERRNO\", \"errnoRet\": %d},"
                 "  {\"names\": [\"mkdir\", \"mkdirat\"], \"action\": \"SCMP_ACT_ERRNO\"},"
                 "  {\"names\": [\"getpid\"], \"action\": \"SCMP_ACT_ALLOW\"},"
                 "  {\"names\": [\"personality\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": "
                 "%d, \"args\": [{\"index\": 0, \"value\": 8, \"op\": \"SCMP_CMP_EQ\"}]},"
                 "  {\"names\": [\"socket\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": %d,"
                 "   \"args\": [{\"index\": 0, \"value\": %d, \"op\": \"SCMP_CMP_EQ\"},"
                 "              {\"index\": 0, \"value\": %d, \"op\": \"SCMP_CMP_EQ\"}]},"
                 "  {\"names\": [\"openat\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": %d,"
                 "   \"args\": [{\"index\": 2, \"value\": %d, \"valueTwo\": %d, \"op\": "
                 "\"SCMP_CMP_MASKED_EQ\"}]}"
                 " ]}",
                 ENOMSG, EDOM, EADDRINUSE, AF_UNIX, AF_INET, EROFS, O_CREAT, O_CREAT);

        return filter_from_string(text, ret, NULL);
}

TEST(json_profile_custom_errno) {
        _cleanup_(seccomp_releasep) scmp_filter_ctx ctx = NULL;

        require_root();
        ASSERT_OK(build_custom(&ctx));
        ASSERT_EQ(run_child("custom"), 0);
}

static void child_kill(void) {
        (void) syscall(SYS_getppid);
        _exit(0);
}

static int build_kill(scmp_filter_ctx *ret) {
        return filter_from_string("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": "
                                  "[{\"names\": [\"getppid\"], \"action\": "
                                  "\"SCMP_ACT_KILL_PROCESS\"}]}",
                                  ret, NULL);
}

TEST(json_profile_kill_action) {
        _cleanup_(seccomp_releasep) scmp_filter_ctx ctx = NULL;

        require_root();
        ASSERT_OK(build_kill(&ctx));
        ASSERT_EQ(run_child("kill"), 128 + SIGSYS);
}

static const struct {
        const char *name;
        BuildFunc build;
        ChildFunc check;
} child_cases[] = {
        { "default", build_default, child_default },
        { "sys-admin", build_sys_admin, child_sys_admin },
        { "sys-ptrace", build_sys_ptrace, child_sys_ptrace },
        { "custom", build_custom, child_custom },
        { "kill", build_kill, child_kill },
};

/* The re-executed child: runs before the harness's main, loads the named case's filter and
 * probes it, and never returns. */
static void __attribute__((constructor)) child_main(void) {
        const char *name = getenv(CHILD_ENV);

        if (!name)
                return;

        /* Docker's profile as a compiled program, from the cache directory the parent filled. */
        if (streq(name, "program")) {
                SeccompProgram *p = NULL;
                CHILD_CHECK(seccomp_program_get(NULL, capability_default_set(),
                                                getenv("ZL_TEST_SECCOMP_CACHE"), &p, NULL) >= 0);
                CHILD_CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
                CHILD_CHECK(seccomp_program_load(p) >= 0);
                seccomp_program_free(p);
                child_default();
                _exit(0);
        }

        for (size_t i = 0; i < ELEMENTSOF(child_cases); i++) {
                scmp_filter_ctx ctx = NULL;

                if (!streq(child_cases[i].name, name))
                        continue;
                CHILD_CHECK(child_cases[i].build(&ctx) >= 0);
                CHILD_CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
                CHILD_CHECK(seccomp_filter_load(ctx) >= 0);
                seccomp_release(ctx);
                child_cases[i].check();
                _exit(0);
        }
        fprintf(stderr, "unknown child case '%s'\n", name);
        _exit(2);
}

TEST(json_profile_architectures_and_flags) {
        static const char *const ok[] = {
                "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"defaultErrnoRet\": 1}",
                "{\"defaultAction\": \"SCMP_ACT_KILL\", \"syscalls\": null, \"flags\": null,"
                " \"architectures\": null}",
                "{\"defaultAction\": \"SCMP_ACT_LOG\", \"flags\": [\"SECCOMP_FILTER_FLAG_TSYNC\","
                " \"SECCOMP_FILTER_FLAG_SPEC_ALLOW\"]}",
                /* The native architecture listed (twice) and the usual compat ones. */
                "{\"defaultAction\": \"SCMP_ACT_TRAP\", \"architectures\": [\"SCMP_ARCH_X86_64\","
                " \"SCMP_ARCH_X86_64\", \"SCMP_ARCH_X86\", \"SCMP_ARCH_X32\", "
                "\"SCMP_ARCH_AARCH64\", \"SCMP_ARCH_ARM\"], \"syscalls\": [{\"names\": "
                "[\"chown32\", \"arch_prctl\", \"getpid\"], \"action\": \"SCMP_ACT_ALLOW\"}]}",
                /* Rules with the default action are skipped, not an error. */
                "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": "
                "[\"getpid\"], \"action\": \"SCMP_ACT_ALLOW\"}, {\"names\": [\"getppid\"],"
                " \"action\": \"SCMP_ACT_TRACE\", \"errnoRet\": 3}, {\"names\": [\"getuid\"],"
                " \"action\": \"SCMP_ACT_KILL_THREAD\"}, {\"names\": [\"getgid\"], \"action\": "
                "\"SCMP_ACT_LOG\"}]}",
                /* Only names libseccomp does not know. */
                "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": "
                "[\"no_such_syscall_zl\"], \"action\": \"SCMP_ACT_ERRNO\"}]}",
        };

        for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
                _cleanup_(seccomp_releasep) scmp_filter_ctx ctx = NULL;
                _cleanup_free_ char *error = NULL;
                int r;

                r = filter_from_string(ok[i], &ctx, &error);
                if (r < 0)
                        test_fail(__FILE__, __LINE__, "profile %zu: %s", i, strna(error));
                ASSERT_NOT_NULL(ctx);
        }
}

TEST(json_profile_errors) {
        static const struct {
                const char *json;
                int error;
                const char *message;
        } bad[] = {
                { "[]", EINVAL, "seccomp: expected an object" },
                { "{}", EINVAL, "defaultAction: expected a string" },
                { "{\"defaultAction\": 3}", EINVAL, "defaultAction: expected a string" },
                { "{\"defaultAction\": \"SCMP_ACT_FOO\"}", EINVAL,
                  "defaultAction: unknown action 'SCMP_ACT_FOO'" },
                { "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"defaultErrnoRet\": -1}", EINVAL,
                  "defaultErrnoRet: -1 is out of range 0..65535" },
                { "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"defaultErrnoRet\": \"EPERM\"}", EINVAL,
                  "defaultErrnoRet: expected an integer" },
                { "{\"defaultAction\": \"SCMP_ACT_NOTIFY\"}", EOPNOTSUPP,
                  "defaultAction: 'SCMP_ACT_NOTIFY' is not supported (no seccomp agent)" },
                { "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"architectures\": "
                  "[\"SCMP_ARCH_X86_64\", \"SCMP_ARCH_VAX\"]}",
                  EINVAL, "architectures[1]: unknown architecture 'SCMP_ARCH_VAX'" },
                { "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"architectures\": [\"x86_64\"]}",
                  EINVAL, "architectures[0]: unknown architecture 'x86_64'" },
                { "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"architectures\": \"SCMP_ARCH_X86\"}",
                  EINVAL, "architectures: expected an array" },
                { "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"flags\": "
                  "[\"SECCOMP_FILTER_FLAG_LOG\", \"SECCOMP_FILTER_FLAG_BOGUS\"]}",
                  EINVAL, "flags[1]: unknown flag 'SECCOMP_FILTER_FLAG_BOGUS'" },
                { "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": {}}", EINVAL,
                  "syscalls: expected an array" },
                { "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": "
                  "[\"read\"], \"action\": \"SCMP_ACT_ERRNO\"}, {\"names\": [\"write\"], "
                  "\"action\": \"SCMP_ACT_BLOCK\"}]}",
                  EINVAL, "syscalls[1].action: unknown action 'SCMP_ACT_BLOCK'" },
                { "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": "
                  "[\"read\"]}]}",
                  EINVAL, "syscalls[0].action: missing" },
                { "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [], "
                  "\"action\": \"SCMP_ACT_ERRNO\"}]}",
                  EINVAL, "syscalls[0].names: expected a non-empty array" },
                { "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\", "
                  "7], \"action\": \"SCMP_ACT_ERRNO\"}]}",
                  EINVAL, "syscalls[0].names[1]: expected a non-empty string" },
                { "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"],"
                  " \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 70000}]}",
                  EINVAL, "syscalls[0].errnoRet: 70000 is out of range 0..65535" },
                { "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"],"
                  " \"action\": \"SCMP_ACT_ERRNO\", \"args\": [{\"index\": 0, \"value\": 1, "
                  "\"op\": \"SCMP_CMP_EQ\"}, {\"index\": 1, \"value\": 1, \"op\": "
                  "\"SCMP_CMP_ABOUT\"}]}]}",
                  EINVAL, "syscalls[0].args[1].op: unknown operator 'SCMP_CMP_ABOUT'" },
                { "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"],"
                  " \"action\": \"SCMP_ACT_ERRNO\", \"args\": [{\"index\": 6, \"value\": 1, "
                  "\"op\": \"SCMP_CMP_EQ\"}]}]}",
                  EINVAL, "syscalls[0].args[0].index: expected an integer 0..5" },
                { "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"],"
                  " \"action\": \"SCMP_ACT_ERRNO\", \"args\": [{\"index\": 0, \"op\": "
                  "\"SCMP_CMP_EQ\"}]}]}",
                  EINVAL, "syscalls[0].args[0].value: missing" },
                { "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"],"
                  " \"action\": \"SCMP_ACT_ERRNO\", \"args\": [{\"index\": 0, \"value\": -2, "
                  "\"op\": \"SCMP_CMP_EQ\"}]}]}",
                  EINVAL, "syscalls[0].args[0].value: expected a non-negative integer" },
                { "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"],"
                  " \"action\": \"SCMP_ACT_ERRNO\", \"args\": [{\"index\": 0, \"value\": 2, "
                  "\"valueTwo\": \"x\", \"op\": \"SCMP_CMP_MASKED_EQ\"}]}]}",
                  EINVAL, "syscalls[0].args[0].valueTwo: expected a non-negative integer" },
                { "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"],"
                  " \"action\": \"SCMP_ACT_ERRNO\", \"args\": {}}]}",
                  EINVAL, "syscalls[0].args: expected an array" },
                { "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [\"read\"]}", EINVAL,
                  "syscalls[0]: expected an object" },
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                scmp_filter_ctx ctx = NULL;
                _cleanup_free_ char *error = NULL;

                ASSERT_ERROR(filter_from_string(bad[i].json, &ctx, &error), bad[i].error);
                ASSERT_NULL(ctx);
                ASSERT_STREQ(error, bad[i].message);
                /* The same without a message buffer. */
                ASSERT_ERROR(filter_from_string(bad[i].json, &ctx, NULL), bad[i].error);
                ASSERT_NULL(ctx);
        }
}

TEST(add_syscall_rule_skips_unknown_names) {
        _cleanup_(seccomp_releasep) scmp_filter_ctx ctx = NULL;

        ctx = seccomp_init(SCMP_ACT_ALLOW);
        ASSERT_NOT_NULL(ctx);
        ASSERT_EQ(seccomp_add_syscall_rule(ctx, "getpid", SCMP_ACT_ERRNO(EPERM), 0, NULL), 1);
        ASSERT_EQ(
                seccomp_add_syscall_rule(ctx, "no_such_syscall_zl", SCMP_ACT_ERRNO(EPERM), 0, NULL),
                0);
        ASSERT_EQ(seccomp_add_syscall_rule(ctx, "", SCMP_ACT_ERRNO(EPERM), 0, NULL), 0);
        /* Known to libseccomp but not on this architecture (x86-64 has no chown32, arm64 no
         * open): accepted without effect, not an error. */
        ASSERT_OK(seccomp_add_syscall_rule(ctx, "chown32", SCMP_ACT_ERRNO(EPERM), 0, NULL));
        ASSERT_OK(seccomp_add_syscall_rule(ctx, "s390_runtime_instr", SCMP_ACT_ERRNO(EPERM), 0,
                                           NULL));
        /* A rule with the filter's default action is refused by libseccomp itself. */
        ASSERT_TRUE(seccomp_add_syscall_rule(ctx, "getppid", SCMP_ACT_ALLOW, 0, NULL) < 0);
}

TEST(compiled_program_and_cache) {
        _cleanup_(seccomp_program_freep) SeccompProgram *a = NULL, *b = NULL, *c = NULL;
        _cleanup_free_ char *cache = NULL, *data = NULL;
        const char *dir = test_tmpdir();
        struct dirent *de;
        size_t size;
        DIR *d;

        require_root();
        cache = strjoin(dir, "/cache");
        ASSERT_NOT_NULL(cache);
        ASSERT_OK(seccomp_program_get(NULL, capability_default_set(), cache, &a, NULL));
        ASSERT_TRUE(seccomp_program_size(a) > 100);

        /* One file, and the second get is served from it. */
        _cleanup_free_ char *file = NULL;
        d = opendir(cache);
        ASSERT_NOT_NULL(d);
        while ((de = readdir(d)))
                if (de->d_name[0] != '.') {
                        ASSERT_NULL(file);
                        file = strjoin(cache, "/", de->d_name);
                }
        closedir(d);
        ASSERT_NOT_NULL(file);
        ASSERT_OK(seccomp_program_get(NULL, capability_default_set(), cache, &b, NULL));
        ASSERT_EQ(seccomp_program_size(b), seccomp_program_size(a));

        /* Another capability set is another program; a damaged file is rebuilt. */
        ASSERT_OK(seccomp_program_get(NULL, capability_default_set() | (UINT64_C(1) << 21), cache,
                                      &c, NULL));
        ASSERT_TRUE(seccomp_program_size(c) != seccomp_program_size(a));
        ASSERT_OK(write_file_atomic(file, "ZLSECCOMP1\ngarbage", 18, 0600));
        b = seccomp_program_free(b);
        ASSERT_OK(seccomp_program_get(NULL, capability_default_set(), cache, &b, NULL));
        ASSERT_EQ(seccomp_program_size(b), seccomp_program_size(a));
        ASSERT_OK(read_full_file(file, 1 << 20, &data, &size));
        ASSERT_TRUE(size > 18);

        /* The cached program denies and allows exactly what the profile says. */
        ASSERT_OK(setenv("ZL_TEST_SECCOMP_CACHE", cache, 1));
        ASSERT_EQ(run_child("program"), 0);

        /* A bad JSON profile is an error with its path, and nothing is cached for it. */
        _cleanup_free_ char *msg = NULL;
        json_t *bad = json_loads("{\"defaultAction\": \"SCMP_ACT_NOPE\"}", 0, NULL);
        ASSERT_NOT_NULL(bad);
        ASSERT_EQ(seccomp_program_get(bad, 0, cache, &c, &msg), -EINVAL);
        json_decref(bad);
        ASSERT_NOT_NULL(strstr(msg, "defaultAction"));
}
