/* SPDX-License-Identifier: Apache-2.0 */
/* seccomp-default.c: Docker's default seccomp profile as C data, and the filter built from it. */
#include <linux/capability.h>

#include "log.h"
#include "seccomp-filter.h"

/* The rules are derived from moby's profiles/seccomp/default.json (github.com/moby/profiles,
 * vendored in moby/moby at commit b985e2313a86, August 2026): the same allow-list, argument
 * conditions and capability/architecture conditions, expressed as our own table. One
 * deliberate difference: moby allows ptrace, process_vm_readv and process_vm_writev to
 * everyone on kernels >= 4.8; ZLayer requires CAP_SYS_PTRACE for them (its rule below), so a
 * default container cannot ptrace. */

#define CAP(c) (UINT64_C(1) << (c))
#define MAX_ARCHES 3

typedef struct DefaultRule {
        const char *const *names; /* NULL-terminated */
        uint32_t action;
        bool has_arg;
        struct scmp_arg_cmp arg;
        uint64_t caps_include; /* all of them must be in the set */
        uint64_t caps_exclude; /* none of them may be in the set */
        uint32_t arches_include[MAX_ARCHES]; /* the native arch must be one of them, if any */
        uint32_t arches_exclude[MAX_ARCHES]; /* the native arch must be none of them */
} DefaultRule;

/* Name lists packed by hand: clang-format would give each name its own line. */
/* clang-format off */
static const char *const syscalls_allowed[] = {
        "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "cachestat", "capget",
        "capset", "chdir", "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64",
        "clock_getres", "clock_getres_time64", "clock_gettime", "clock_gettime64",
        "clock_nanosleep", "clock_nanosleep_time64", "close", "close_range", "connect",
        "copy_file_range", "creat", "dup", "dup2", "dup3", "epoll_create", "epoll_create1",
        "epoll_ctl", "epoll_ctl_old", "epoll_pwait", "epoll_pwait2", "epoll_wait", "epoll_wait_old",
        "eventfd", "eventfd2", "execve", "execveat", "exit", "exit_group", "faccessat",
        "faccessat2", "fadvise64", "fadvise64_64", "fallocate", "fanotify_mark", "fchdir", "fchmod",
        "fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat", "fcntl", "fcntl64", "fdatasync",
        "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr", "fsetxattr", "fstat", "fstat64",
        "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate", "ftruncate64", "futex",
        "futex_requeue", "futex_time64", "futex_wait", "futex_waitv", "futex_wake", "futimesat",
        "getcpu", "getcwd", "getdents", "getdents64", "getegid", "getegid32", "geteuid",
        "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32", "getitimer", "getpeername",
        "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrandom", "getresgid",
        "getresgid32", "getresuid", "getresuid32", "getrlimit", "get_robust_list", "getrusage",
        "getsid", "getsockname", "getsockopt", "get_thread_area", "gettid", "gettimeofday",
        "getuid", "getuid32", "getxattr", "getxattrat", "inotify_add_watch", "inotify_init",
        "inotify_init1", "inotify_rm_watch", "io_cancel", "ioctl", "io_destroy", "io_getevents",
        "io_pgetevents", "io_pgetevents_time64", "ioprio_get", "ioprio_set", "io_setup",
        "io_submit", "ipc", "kill", "landlock_add_rule", "landlock_create_ruleset",
        "landlock_restrict_self", "lchown", "lchown32", "lgetxattr", "link", "linkat", "listen",
        "listmount", "listxattr", "listxattrat", "llistxattr", "_llseek", "lremovexattr", "lseek",
        "lsetxattr", "lstat", "lstat64", "madvise", "map_shadow_stack", "membarrier",
        "memfd_create", "memfd_secret", "mincore", "mkdir", "mkdirat", "mknod", "mknodat", "mlock",
        "mlock2", "mlockall", "mmap", "mmap2", "mprotect", "mq_getsetattr", "mq_notify", "mq_open",
        "mq_timedreceive", "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64",
        "mq_unlink", "mremap", "mseal", "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock",
        "munlockall", "munmap", "name_to_handle_at", "nanosleep", "newfstatat", "_newselect",
        "open", "openat", "openat2", "pause", "pidfd_open", "pidfd_send_signal", "pipe", "pipe2",
        "pkey_alloc", "pkey_free", "pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl",
        "pread64", "preadv", "preadv2", "prlimit64", "process_mrelease", "pselect6",
        "pselect6_time64", "pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink",
        "readlinkat", "readv", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg",
        "remap_file_pages", "removexattr", "removexattrat", "rename", "renameat", "renameat2",
        "restart_syscall", "riscv_hwprobe", "rmdir", "rseq", "rt_sigaction", "rt_sigpending",
        "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
        "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr",
        "sched_getparam", "sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler",
        "sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_setaffinity",
        "sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select",
        "semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "send", "sendfile",
        "sendfile64", "sendmmsg", "sendmsg", "sendto", "setfsgid", "setfsgid32", "setfsuid",
        "setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32", "setitimer", "setpgid",
        "setpriority", "setregid", "setregid32", "setresgid", "setresgid32", "setresuid",
        "setresuid32", "setreuid", "setreuid32", "setrlimit", "set_robust_list", "setsid",
        "setsockopt", "set_thread_area", "set_tid_address", "setuid", "setuid32", "setxattr",
        "setxattrat", "shmat", "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack", "signalfd",
        "signalfd4", "sigprocmask", "sigreturn", "socketcall", "socketpair", "splice", "stat",
        "stat64", "statfs", "statfs64", "statmount", "statx", "symlink", "symlinkat", "sync",
        "sync_file_range", "syncfs", "sysinfo", "tee", "tgkill", "time", "timer_create",
        "timer_delete", "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime",
        "timer_settime64", "timerfd_create", "timerfd_gettime", "timerfd_gettime64",
        "timerfd_settime", "timerfd_settime64", "times", "tkill", "truncate", "truncate64",
        "ugetrlimit", "umask", "uname", "unlink", "unlinkat", "uretprobe", "utime", "utimensat",
        "utimensat_time64", "utimes", "vfork", "vmsplice", "wait4", "waitid", "waitpid", "write",
        "writev", NULL,
};

static const char *const syscalls_ppc64le[] = {
        "sync_file_range2", "swapcontext", NULL,
};

static const char *const syscalls_arm_arm64[] = {
        "arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush",
        "set_tls", NULL,
};

static const char *const syscalls_s390_s390x[] = {
        "s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr", NULL,
};

static const char *const syscalls_sys_admin[] = {
        "bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
        "lookup_dcookie", "lsm_get_self_attr", "lsm_list_modules", "lsm_set_self_attr", "mount",
        "mount_setattr", "move_mount", "open_tree", "perf_event_open", "quotactl", "quotactl_fd",
        "setdomainname", "sethostname", "setns", "syslog", "umount", "umount2", "unshare", NULL,
};

static const char *const syscalls_sys_module[] = {
        "delete_module", "init_module", "finit_module", NULL,
};

static const char *const syscalls_sys_ptrace[] = {
        "kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace",
        NULL,
};

static const char *const syscalls_sys_rawio[] = {
        "iopl", "ioperm", NULL,
};

static const char *const syscalls_sys_time[] = {
        "settimeofday", "stime", "clock_settime", "clock_settime64", NULL,
};

static const char *const syscalls_sys_nice[] = {
        "get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node", NULL,
};
/* clang-format on */

static const DefaultRule default_rules[] = {
        {
                .names = syscalls_allowed,
                .action = SCMP_ACT_ALLOW,
        },
        {
                .names = (const char *const[]){ "socket", NULL },
                .action = SCMP_ACT_ALLOW,
                .has_arg = true,
                .arg = { .arg = 0, .op = SCMP_CMP_LT, .datum_a = 38 },
        },
        {
                .names = (const char *const[]){ "socket", NULL },
                .action = SCMP_ACT_ALLOW,
                .has_arg = true,
                .arg = { .arg = 0, .op = SCMP_CMP_EQ, .datum_a = 39 },
        },
        {
                .names = (const char *const[]){ "socket", NULL },
                .action = SCMP_ACT_ALLOW,
                .has_arg = true,
                .arg = { .arg = 0, .op = SCMP_CMP_GT, .datum_a = 40 },
        },
        {
                .names = (const char *const[]){ "personality", NULL },
                .action = SCMP_ACT_ALLOW,
                .has_arg = true,
                .arg = { .arg = 0, .op = SCMP_CMP_EQ, .datum_a = 0 },
        },
        {
                .names = (const char *const[]){ "personality", NULL },
                .action = SCMP_ACT_ALLOW,
                .has_arg = true,
                .arg = { .arg = 0, .op = SCMP_CMP_EQ, .datum_a = 8 },
        },
        {
                .names = (const char *const[]){ "personality", NULL },
                .action = SCMP_ACT_ALLOW,
                .has_arg = true,
                .arg = { .arg = 0, .op = SCMP_CMP_EQ, .datum_a = UINT64_C(0x20000) },
        },
        {
                .names = (const char *const[]){ "personality", NULL },
                .action = SCMP_ACT_ALLOW,
                .has_arg = true,
                .arg = { .arg = 0, .op = SCMP_CMP_EQ, .datum_a = UINT64_C(0x20008) },
        },
        {
                .names = (const char *const[]){ "personality", NULL },
                .action = SCMP_ACT_ALLOW,
                .has_arg = true,
                .arg = { .arg = 0, .op = SCMP_CMP_EQ, .datum_a = UINT64_C(0xffffffff) },
        },
        {
                .names = syscalls_ppc64le,
                .action = SCMP_ACT_ALLOW,
                .arches_include = { SCMP_ARCH_PPC64LE },
        },
        {
                .names = syscalls_arm_arm64,
                .action = SCMP_ACT_ALLOW,
                .arches_include = { SCMP_ARCH_ARM, SCMP_ARCH_AARCH64 },
        },
        {
                .names = (const char *const[]){ "arch_prctl", NULL },
                .action = SCMP_ACT_ALLOW,
                .arches_include = { SCMP_ARCH_X86_64, SCMP_ARCH_X32 },
        },
        {
                .names = (const char *const[]){ "modify_ldt", NULL },
                .action = SCMP_ACT_ALLOW,
                .arches_include = { SCMP_ARCH_X86_64, SCMP_ARCH_X32, SCMP_ARCH_X86 },
        },
        {
                .names = syscalls_s390_s390x,
                .action = SCMP_ACT_ALLOW,
                .arches_include = { SCMP_ARCH_S390, SCMP_ARCH_S390X },
        },
        {
                .names = (const char *const[]){ "riscv_flush_icache", NULL },
                .action = SCMP_ACT_ALLOW,
                .arches_include = { SCMP_ARCH_RISCV64 },
        },
        {
                .names = (const char *const[]){ "open_by_handle_at", NULL },
                .action = SCMP_ACT_ALLOW,
                .caps_include = CAP(CAP_DAC_READ_SEARCH),
        },
        {
                .names = syscalls_sys_admin,
                .action = SCMP_ACT_ALLOW,
                .caps_include = CAP(CAP_SYS_ADMIN),
        },
        {
                .names = (const char *const[]){ "clone", NULL },
                .action = SCMP_ACT_ALLOW,
                .has_arg = true,
                .arg = { .arg = 0, .op = SCMP_CMP_MASKED_EQ, .datum_a = UINT64_C(0x7e020000) },
                .caps_exclude = CAP(CAP_SYS_ADMIN),
                .arches_exclude = { SCMP_ARCH_S390, SCMP_ARCH_S390X },
        },
        {
                .names = (const char *const[]){ "clone", NULL },
                .action = SCMP_ACT_ALLOW,
                .has_arg = true,
                .arg = { .arg = 1, .op = SCMP_CMP_MASKED_EQ, .datum_a = UINT64_C(0x7e020000) },
                .caps_exclude = CAP(CAP_SYS_ADMIN),
                .arches_include = { SCMP_ARCH_S390, SCMP_ARCH_S390X },
        },
        {
                .names = (const char *const[]){ "clone3", NULL },
                .action = SCMP_ACT_ERRNO(ENOSYS),
                .caps_exclude = CAP(CAP_SYS_ADMIN),
        },
        {
                .names = (const char *const[]){ "reboot", NULL },
                .action = SCMP_ACT_ALLOW,
                .caps_include = CAP(CAP_SYS_BOOT),
        },
        {
                .names = (const char *const[]){ "chroot", NULL },
                .action = SCMP_ACT_ALLOW,
                .caps_include = CAP(CAP_SYS_CHROOT),
        },
        {
                .names = syscalls_sys_module,
                .action = SCMP_ACT_ALLOW,
                .caps_include = CAP(CAP_SYS_MODULE),
        },
        {
                .names = (const char *const[]){ "acct", NULL },
                .action = SCMP_ACT_ALLOW,
                .caps_include = CAP(CAP_SYS_PACCT),
        },
        {
                .names = syscalls_sys_ptrace,
                .action = SCMP_ACT_ALLOW,
                .caps_include = CAP(CAP_SYS_PTRACE),
        },
        {
                .names = syscalls_sys_rawio,
                .action = SCMP_ACT_ALLOW,
                .caps_include = CAP(CAP_SYS_RAWIO),
        },
        {
                .names = syscalls_sys_time,
                .action = SCMP_ACT_ALLOW,
                .caps_include = CAP(CAP_SYS_TIME),
        },
        {
                .names = (const char *const[]){ "vhangup", NULL },
                .action = SCMP_ACT_ALLOW,
                .caps_include = CAP(CAP_SYS_TTY_CONFIG),
        },
        {
                .names = syscalls_sys_nice,
                .action = SCMP_ACT_ALLOW,
                .caps_include = CAP(CAP_SYS_NICE),
        },
        {
                .names = (const char *const[]){ "syslog", NULL },
                .action = SCMP_ACT_ALLOW,
                .caps_include = CAP(CAP_SYSLOG),
        },
        {
                .names = (const char *const[]){ "bpf", NULL },
                .action = SCMP_ACT_ALLOW,
                .caps_include = CAP(CAP_BPF),
        },
        {
                .names = (const char *const[]){ "perf_event_open", NULL },
                .action = SCMP_ACT_ALLOW,
                .caps_include = CAP(CAP_PERFMON),
        },
};

/* Compat architectures that run on each native one (moby's archMap), so a 32-bit binary in
 * the container meets the same filter instead of the bad-arch action. */
static const struct {
        uint32_t native;
        uint32_t sub[2];
} arch_map[] = {
        { SCMP_ARCH_X86_64, { SCMP_ARCH_X86, SCMP_ARCH_X32 } },
        { SCMP_ARCH_AARCH64, { SCMP_ARCH_ARM } },
        { SCMP_ARCH_S390X, { SCMP_ARCH_S390 } },
};

static bool arch_in(const uint32_t *list, uint32_t arch) {
        for (size_t i = 0; i < MAX_ARCHES && list[i] != 0; i++)
                if (list[i] == arch)
                        return true;
        return false;
}

static bool rule_applies(const DefaultRule *rule, uint32_t native, uint64_t capabilities) {
        if ((rule->caps_include & capabilities) != rule->caps_include)
                return false;
        if (rule->caps_exclude & capabilities)
                return false;
        if (rule->arches_include[0] != 0 && !arch_in(rule->arches_include, native))
                return false;
        if (arch_in(rule->arches_exclude, native))
                return false;
        return true;
}

int seccomp_filter_default(scmp_filter_ctx *ret, uint64_t capabilities) {
        _cleanup_(seccomp_releasep) scmp_filter_ctx ctx = NULL;
        uint32_t native = seccomp_arch_native();
        int r;

        assert(ret);

        ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
        if (!ctx)
                return -ENOMEM;

        r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
        if (r < 0)
                return r;

        for (size_t i = 0; i < ELEMENTSOF(arch_map); i++) {
                if (arch_map[i].native != native)
                        continue;
                for (size_t j = 0; j < ELEMENTSOF(arch_map[i].sub) && arch_map[i].sub[j] != 0;
                     j++) {
                        r = seccomp_arch_add(ctx, arch_map[i].sub[j]);
                        if (r < 0 && r != -EEXIST)
                                return log_debug_errno(r, "seccomp: failed to add arch %#x: %m",
                                                       arch_map[i].sub[j]);
                }
        }

        for (size_t i = 0; i < ELEMENTSOF(default_rules); i++) {
                const DefaultRule *rule = &default_rules[i];

                if (!rule_applies(rule, native, capabilities))
                        continue;

                for (const char *const *n = rule->names; *n; n++) {
                        r = seccomp_add_syscall_rule(ctx, *n, rule->action, rule->has_arg ? 1 : 0,
                                                     rule->has_arg ? &rule->arg : NULL);
                        if (r < 0)
                                return log_debug_errno(r, "seccomp: failed to add '%s': %m", *n);
                }
        }

        *ret = TAKE_PTR(ctx);
        return 0;
}
