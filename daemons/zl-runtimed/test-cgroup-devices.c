/* SPDX-License-Identifier: Apache-2.0 */
/* test-cgroup-devices.c: the cgroup2 device program: its rule semantics, run through a small
 * BPF interpreter against a model, and its enforcement on the host's real cgroup2 hierarchy. */
#include <fcntl.h>
#include <ftw.h>
#include <linux/bpf.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgroup-internal.h"
#include "fileio.h"
#include "path-util.h"
#include "string-util.h"
#include "tests.h"

/* Device numbers every Linux host has. */
#define DEV_NULL makedev(1, 3)
#define DEV_ZERO makedev(1, 5)

/* The BPF subset the generator emits, run the way the kernel runs it. */
static int interpret(const struct bpf_insn *insns, size_t n, const struct bpf_cgroup_dev_ctx *ctx) {
        uint64_t reg[11] = {};
        size_t pc = 0;

        reg[BPF_REG_1] = (uint64_t) (uintptr_t) ctx;
        for (size_t steps = 0; steps <= n; steps++) {
                const struct bpf_insn *i;
                uint64_t dst, src;

                ASSERT_LT(pc, n);
                i = insns + pc++;
                ASSERT_LT(i->dst_reg, ELEMENTSOF(reg));
                ASSERT_LT(i->src_reg, ELEMENTSOF(reg));
                dst = reg[i->dst_reg];
                src = reg[i->src_reg];
                switch (i->code) {
                case BPF_LDX | BPF_MEM | BPF_W: {
                        uint32_t v;

                        /* Only the context can be read, and only inside it. */
                        ASSERT_TRUE(src == (uint64_t) (uintptr_t) ctx);
                        ASSERT_GE(i->off, 0);
                        ASSERT_LE((size_t) i->off + sizeof(v), sizeof(*ctx));
                        memcpy(&v, (const char *) ctx + i->off, sizeof(v));
                        reg[i->dst_reg] = v;
                        break;
                }
                case BPF_ALU | BPF_MOV | BPF_K:
                        reg[i->dst_reg] = (uint32_t) i->imm;
                        break;
                case BPF_ALU | BPF_MOV | BPF_X:
                        reg[i->dst_reg] = (uint32_t) src;
                        break;
                case BPF_ALU | BPF_AND | BPF_K:
                        reg[i->dst_reg] = (uint32_t) dst & (uint32_t) i->imm;
                        break;
                case BPF_ALU | BPF_RSH | BPF_K:
                        reg[i->dst_reg] = (uint32_t) dst >> i->imm;
                        break;
                case BPF_ALU64 | BPF_MOV | BPF_K:
                        reg[i->dst_reg] = (uint64_t) (int64_t) i->imm;
                        break;
                case BPF_JMP | BPF_JNE | BPF_K:
                case BPF_JMP | BPF_JEQ | BPF_K:
                case BPF_JMP | BPF_JNE | BPF_X: {
                        uint64_t b = BPF_SRC(i->code) == BPF_X ? src : (uint64_t) (int64_t) i->imm;
                        bool eq = dst == b;

                        /* Forward jumps only: the program cannot loop. */
                        ASSERT_GE(i->off, 0);
                        if (BPF_OP(i->code) == BPF_JEQ ? eq : !eq)
                                pc += (size_t) i->off;
                        break;
                }
                case BPF_JMP | BPF_EXIT:
                        ASSERT_TRUE(reg[BPF_REG_0] <= 1);
                        return (int) reg[BPF_REG_0];
                default:
                        test_fail(__FILE__, __LINE__, "unexpected instruction 0x%02x at %zu",
                                  (unsigned) i->code, pc - 1);
                }
        }
        test_fail(__FILE__, __LINE__, "the program did not exit");
}

/* The verifier refuses a program with an instruction no path reaches, or one that can run off
 * its end: check both, as it does. */
static void assert_well_formed(const struct bpf_insn *insns, size_t n) {
        _cleanup_free_ bool *seen = calloc(n, sizeof(bool));
        _cleanup_free_ size_t *todo = calloc(n, sizeof(size_t));
        size_t n_todo = 0;

        ASSERT_NOT_NULL(seen);
        ASSERT_NOT_NULL(todo);
        ASSERT_GT(n, 0);
        seen[0] = true;
        todo[n_todo++] = 0;
        while (n_todo > 0) {
                size_t pc = todo[--n_todo], next[2], n_next = 0;
                const struct bpf_insn *i = insns + pc;

                if (i->code == (BPF_JMP | BPF_EXIT))
                        continue;
                next[n_next++] = pc + 1;
                if (BPF_CLASS(i->code) == BPF_JMP)
                        next[n_next++] = pc + 1 + (size_t) i->off;
                for (size_t k = 0; k < n_next; k++) {
                        ASSERT_LT(next[k], n);
                        if (!seen[next[k]]) {
                                seen[next[k]] = true;
                                todo[n_todo++] = next[k];
                        }
                }
        }
        for (size_t pc = 0; pc < n; pc++)
                if (!seen[pc])
                        test_fail(__FILE__, __LINE__, "instruction %zu is unreachable", pc);
}

/* What the OCI rules say: each access bit is decided by the last matching rule holding it. */
static bool model(const CgroupDeviceRule *rules, size_t n, char type, uint32_t major,
                  uint32_t minor, const char *access) {
        for (const char *a = access; *a; a++) {
                bool allowed = false;

                for (size_t i = 0; i < n; i++) {
                        const CgroupDeviceRule *d = rules + i;

                        if ((d->type == 'a' || d->type == type) &&
                            (d->major < 0 || (uint32_t) d->major == major) &&
                            (d->minor < 0 || (uint32_t) d->minor == minor) && strchr(d->access, *a))
                                allowed = d->allow;
                }
                if (!allowed)
                        return false;
        }
        return true;
}

static int check(const struct bpf_insn *insns, size_t n, char type, uint32_t major, uint32_t minor,
                 const char *access) {
        struct bpf_cgroup_dev_ctx ctx = { .major = major, .minor = minor };
        uint32_t acc = 0;

        for (const char *a = access; *a; a++)
                acc |= *a == 'r'   ? BPF_DEVCG_ACC_READ
                       : *a == 'w' ? BPF_DEVCG_ACC_WRITE
                                   : BPF_DEVCG_ACC_MKNOD;
        /* As the kernel passes it (and the UAPI header says): access << 16 | type. */
        ctx.access_type =
                acc << 16 | (uint32_t) (type == 'c' ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK);
        return interpret(insns, n, &ctx);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15;

static uint32_t rng(uint32_t bound) {
        /* xorshift64: the same sequence on every run. */
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        return (uint32_t) (rng_state % bound);
}

static const char *const accesses[] = { "r", "w", "m", "rw", "rm", "wm", "rwm" };
/* Numbers that hit the wildcard, small immediates, and those above INT32_MAX that need the
 * 32-bit register compare. */
static const int64_t majors[] = { -1, 1, 5, INT64_C(0x80000001) };
static const int64_t minors[] = { -1, 3, 5, INT64_C(0xfffffffe) };

static void random_rules(CgroupDeviceRule *rules, size_t n) {
        for (size_t i = 0; i < n; i++)
                rules[i] = (CgroupDeviceRule){
                        .allow = rng(2),
                        .type = "acb"[rng(3)],
                        .major = majors[rng(ELEMENTSOF(majors))],
                        .minor = minors[rng(ELEMENTSOF(minors))],
                        .access = accesses[rng(ELEMENTSOF(accesses))],
                };
}

TEST(semantics_match_model) {
        static const uint32_t req_majors[] = { 1, 5, 7, 0x80000001 };
        static const uint32_t req_minors[] = { 3, 5, 9, 0xfffffffe };

        for (unsigned round = 0; round < 1500; round++) {
                _cleanup_free_ struct bpf_insn *insns = NULL;
                CgroupDeviceRule rules[7];
                size_t n = rng(ELEMENTSOF(rules) + 1), n_insns;

                random_rules(rules, n);
                ASSERT_OK(cg_devices_bpf_build(rules, n, &insns, &n_insns));
                assert_well_formed(insns, n_insns);
                for (size_t t = 0; t < 2; t++)
                        for (size_t ma = 0; ma < ELEMENTSOF(req_majors); ma++)
                                for (size_t mi = 0; mi < ELEMENTSOF(req_minors); mi++)
                                        for (size_t a = 0; a < ELEMENTSOF(accesses); a++) {
                                                char type = "cb"[t];
                                                bool want = model(rules, n, type, req_majors[ma],
                                                                  req_minors[mi], accesses[a]);
                                                int got =
                                                        check(insns, n_insns, type, req_majors[ma],
                                                              req_minors[mi], accesses[a]);

                                                if (got != want)
                                                        test_fail(__FILE__, __LINE__,
                                                                  "round %u: %c %" PRIu32
                                                                  ":%" PRIu32 " %s: got %d",
                                                                  round, type, req_majors[ma],
                                                                  req_minors[mi], accesses[a], got);
                                        }
        }
}

TEST(build_shapes) {
        static const CgroupDeviceRule shadowed[] = {
                { .allow = true, .type = 'c', .major = 1, .minor = 3, .access = "rwm" },
                { .allow = false, .type = 'a', .major = -1, .minor = -1, .access = "rwm" },
        };
        static const CgroupDeviceRule split[] = {
                { .allow = true, .type = 'c', .major = 1, .minor = 3, .access = "r" },
                { .allow = true, .type = 'c', .major = 1, .minor = 3, .access = "w" },
                { .allow = false, .type = 'c', .major = -1, .minor = -1, .access = "w" },
        };
        _cleanup_free_ struct bpf_insn *insns = NULL;
        size_t n;

        /* No rules: load the request, deny. */
        ASSERT_OK(cg_devices_bpf_build(NULL, 0, &insns, &n));
        ASSERT_EQ(n, 8);
        ASSERT_EQ(check(insns, n, 'c', 1, 3, "r"), 0);
        insns = mfree(insns);

        /* A deny-all rule at the end decides every request: the rules before it, and the
         * default at the end, are left out (the verifier refuses unreachable code). */
        ASSERT_OK(cg_devices_bpf_build(shadowed, ELEMENTSOF(shadowed), &insns, &n));
        ASSERT_EQ(n, 6 + 2);
        assert_well_formed(insns, n);
        ASSERT_EQ(check(insns, n, 'c', 1, 3, "r"), 0);
        insns = mfree(insns);

        /* The last rule wins per bit: a later "deny w" is not bypassed by asking for "rw" at
         * once, and separate "r" and "w" rules add up to "rw". */
        ASSERT_OK(cg_devices_bpf_build(split, 2, &insns, &n));
        ASSERT_EQ(check(insns, n, 'c', 1, 3, "rw"), 1);
        ASSERT_EQ(check(insns, n, 'c', 1, 3, "rwm"), 0);
        ASSERT_EQ(check(insns, n, 'b', 1, 3, "r"), 0);
        insns = mfree(insns);
        ASSERT_OK(cg_devices_bpf_build(split, 3, &insns, &n));
        ASSERT_EQ(check(insns, n, 'c', 1, 3, "r"), 1);
        ASSERT_EQ(check(insns, n, 'c', 1, 3, "w"), 0);
        ASSERT_EQ(check(insns, n, 'c', 1, 3, "rw"), 0);
        insns = mfree(insns);

        ASSERT_ERROR(cg_devices_bpf_build(NULL, 1, &insns, &n), EINVAL);
        ASSERT_ERROR(cg_devices_bpf_build(split, SIZE_MAX, &insns, &n), E2BIG);
        ASSERT_NULL(insns);
}

/* The kernel part: a cgroup2 hierarchy of the host, with test cgroups below test_parent. */

static char test_parent[64];

static const char *cgroup2_root(CgroupMode *ret_mode) {
        CgroupMode m;

        if (geteuid() != 0)
                test_skip("needs root");
        m = cgroup_detect(NULL);
        if (ret_mode)
                *ret_mode = m;
        if (m == CGROUP_MODE_V2)
                return CGROUP_ROOT_DEFAULT;
        if (m == CGROUP_MODE_HYBRID)
                return CGROUP_ROOT_DEFAULT "/unified";
        test_skip("host has no cgroup2 hierarchy");
}

static int remove_dir(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) st;
        (void) ftw;
        if (flag == FTW_DP)
                (void) rmdir(path);
        return 0;
}

static int kill_dir(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        _cleanup_free_ char *procs = path_join(path, "cgroup.procs"), *data = NULL;

        (void) st;
        (void) ftw;
        if (flag != FTW_DP || !procs)
                return 0;
        if (read_full_file(procs, SIZE_MAX, &data, NULL) >= 0)
                for (char *l = strtok(data, "\n"); l; l = strtok(NULL, "\n"))
                        (void) kill(atoi(l), SIGKILL);
        return 0;
}

/* At exit, also after a failed assertion: nothing of ours stays in any hierarchy (a pure v2
 * host has the cgroup2 root itself at CGROUP_ROOT_DEFAULT, the "" entry). */
static void cleanup_all(void) {
        static const char *const hierarchies[] = { "",        "unified", "cpu",
                                                   "cpuacct", "cpuset",  "memory",
                                                   "devices", "freezer", "pids" };

        for (size_t pass = 0; pass < 2; pass++)
                for (size_t i = 0; i < ELEMENTSOF(hierarchies); i++) {
                        _cleanup_free_ char *dir =
                                path_join(CGROUP_ROOT_DEFAULT, hierarchies[i], test_parent);

                        if (!dir || access(dir, F_OK) < 0)
                                continue;
                        if (pass == 0) {
                                (void) nftw(dir, kill_dir, 16, FTW_PHYS | FTW_DEPTH);
                                while (waitpid(-1, NULL, 0) > 0)
                                        ;
                                continue;
                        }
                        for (int tries = 0;
                             tries < 100 && nftw(dir, remove_dir, 16, FTW_PHYS | FTW_DEPTH) >= 0 &&
                             access(dir, F_OK) >= 0;
                             tries++)
                                usleep(10000);
                }
}

static void __attribute__((constructor)) setup(void) {
        (void) snprintf(test_parent, sizeof(test_parent), "zlayer-test-devices-%d", (int) getpid());
        (void) atexit(cleanup_all);
        (void) prctl(PR_SET_CHILD_SUBREAPER, 1);
}

static char *child_path(const char *name) {
        char *p = path_join(test_parent, name);

        ASSERT_NOT_NULL(p);
        return p;
}

/* A cgroup on the cgroup2 hierarchy alone, so only the device program filters (not v1). */
static Cgroup *new_v2(const char *name, const CgroupDeviceRule *rules, size_t n) {
        _cleanup_free_ char *path = child_path(name);
        CgroupLimits l = CGROUP_LIMITS_INIT;
        const char *root = cgroup2_root(NULL), *reason = NULL;
        Cgroup *cg = NULL;
        int r;

        l.devices_set = true;
        l.devices = rules;
        l.n_devices = n;
        r = cgroup_new(root, CGROUP_MODE_V2, path, &l, &reason, &cg);
        if (r == -EOPNOTSUPP)
                test_skip(reason);
        if (r < 0)
                test_fail(__FILE__, __LINE__, "cgroup_new: %s: %s", strerror(-r), strna(reason));
        return cg;
}

static void destroy(Cgroup *cg) {
        for (int i = 0; i < 2000; i++) {
                int r = cgroup_destroy(cg);

                if (r != -EBUSY) {
                        ASSERT_OK(r);
                        return;
                }
                usleep(1000);
        }
        test_fail(__FILE__, __LINE__, "cgroup stays busy");
}

typedef enum Op {
        OP_READ,
        OP_WRITE,
        OP_READ_WRITE,
        OP_MKNOD,
} Op;

static int child_do(Op op, const char *dev, dev_t devnum) {
        _cleanup_free_ char *node = NULL;
        int fd;

        switch (op) {
        case OP_MKNOD:
                if (asprintf(&node, "%s/node-%d", test_tmpdir(), (int) getpid()) < 0)
                        return ENOMEM;
                if (mknod(node, S_IFCHR | 0600, devnum) < 0)
                        return errno;
                (void) unlink(node);
                return 0;
        default:
                fd = open(dev, (op == OP_READ    ? O_RDONLY
                                : op == OP_WRITE ? O_WRONLY
                                                 : O_RDWR) |
                                       O_CLOEXEC);
                if (fd < 0)
                        return errno;
                close(fd);
                return 0;
        }
}

/* Runs op in a child that is moved into cg first: 0 or the -errno it got. */
static int probe(Cgroup *cg, Op op, const char *dev, dev_t devnum) {
        int gate[2], status;
        pid_t pid;
        char c;

        ASSERT_OK(pipe2(gate, O_CLOEXEC));
        pid = fork();
        ASSERT_OK(pid);
        if (pid == 0) {
                close(gate[1]);
                if (read(gate[0], &c, 1) != 1)
                        _exit(255);
                _exit(child_do(op, dev, devnum));
        }
        close(gate[0]);
        ASSERT_OK(cgroup_add_pid(cg, pid));
        ASSERT_EQ(write(gate[1], "x", 1), 1);
        close(gate[1]);
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        ASSERT_TRUE(WIFEXITED(status));
        ASSERT_NE(WEXITSTATUS(status), 255);
        return -WEXITSTATUS(status);
}

#define ASSERT_ALLOWED(cg, op, dev, num) ASSERT_OK(probe(cg, op, dev, num))
#define ASSERT_DENIED(cg, op, dev, num) ASSERT_ERROR(probe(cg, op, dev, num), EPERM)

static const char *unified_dir(Cgroup *cg) {
        ASSERT_NOT_NULL(cg->unified_dir);
        return cg->unified_dir;
}

TEST(deny_null_writes) {
        static const CgroupDeviceRule rules[] = {
                { .allow = true, .type = 'c', .major = 1, .minor = 3, .access = "rwm" },
                { .allow = false, .type = 'c', .major = 1, .minor = 3, .access = "w" },
        };
        _cleanup_(cgroup_freep) Cgroup *cg = new_v2("deny-write", rules, ELEMENTSOF(rules));

        ASSERT_EQ(cg_devices_bpf_count(unified_dir(cg)), 1);
        ASSERT_ALLOWED(cg, OP_READ, "/dev/null", 0);
        ASSERT_DENIED(cg, OP_WRITE, "/dev/null", 0);
        /* Asking for both at once does not get around the deny. */
        ASSERT_DENIED(cg, OP_READ_WRITE, "/dev/null", 0);
        ASSERT_ALLOWED(cg, OP_MKNOD, NULL, DEV_NULL);
        /* Not in the rules: denied by default. */
        ASSERT_DENIED(cg, OP_READ, "/dev/zero", 0);
        destroy(cg);
}

TEST(allow_all_and_deny_all) {
        static const CgroupDeviceRule all[] = {
                { .allow = true, .type = 'a', .major = -1, .minor = -1, .access = "rwm" },
        };
        _cleanup_(cgroup_freep) Cgroup *cg = new_v2("allow-all", all, ELEMENTSOF(all)),
                                       *none = new_v2("deny-all", NULL, 0);

        ASSERT_ALLOWED(cg, OP_READ_WRITE, "/dev/null", 0);
        ASSERT_ALLOWED(cg, OP_READ_WRITE, "/dev/zero", 0);
        ASSERT_ALLOWED(cg, OP_MKNOD, NULL, DEV_ZERO);
        /* devices_set with no rules: nothing at all. */
        ASSERT_DENIED(none, OP_READ, "/dev/null", 0);
        ASSERT_DENIED(none, OP_MKNOD, NULL, DEV_NULL);
        destroy(cg);
        destroy(none);
}

TEST(wildcards) {
        static const CgroupDeviceRule any_major[] = {
                { .allow = true, .type = 'c', .major = -1, .minor = 5, .access = "rw" },
        };
        static const CgroupDeviceRule any_minor[] = {
                { .allow = true, .type = 'c', .major = 1, .minor = -1, .access = "r" },
        };
        static const CgroupDeviceRule block_only[] = {
                { .allow = true, .type = 'b', .major = -1, .minor = -1, .access = "rwm" },
        };
        _cleanup_(cgroup_freep) Cgroup *a = new_v2("any-major", any_major, 1),
                                       *b = new_v2("any-minor", any_minor, 1),
                                       *c = new_v2("block-only", block_only, 1);

        ASSERT_ALLOWED(a, OP_READ_WRITE, "/dev/zero", 0);
        ASSERT_DENIED(a, OP_READ, "/dev/null", 0);
        ASSERT_DENIED(a, OP_MKNOD, NULL, DEV_ZERO);

        ASSERT_ALLOWED(b, OP_READ, "/dev/null", 0);
        ASSERT_ALLOWED(b, OP_READ, "/dev/zero", 0);
        ASSERT_DENIED(b, OP_WRITE, "/dev/zero", 0);

        /* A block rule says nothing about character devices. */
        ASSERT_DENIED(c, OP_READ, "/dev/null", 0);
        ASSERT_DENIED(c, OP_MKNOD, NULL, DEV_NULL);
        destroy(a);
        destroy(b);
        destroy(c);
}

TEST(mknod_is_its_own_access) {
        static const CgroupDeviceRule no_mknod[] = {
                { .allow = true, .type = 'c', .major = 1, .minor = 3, .access = "rw" },
        };
        static const CgroupDeviceRule only_mknod[] = {
                { .allow = true, .type = 'c', .major = -1, .minor = -1, .access = "m" },
        };
        _cleanup_(cgroup_freep) Cgroup *a = new_v2("no-mknod", no_mknod, 1),
                                       *b = new_v2("only-mknod", only_mknod, 1);

        ASSERT_ALLOWED(a, OP_READ_WRITE, "/dev/null", 0);
        ASSERT_DENIED(a, OP_MKNOD, NULL, DEV_NULL);
        ASSERT_ALLOWED(b, OP_MKNOD, NULL, DEV_NULL);
        ASSERT_ALLOWED(b, OP_MKNOD, NULL, DEV_ZERO);
        ASSERT_DENIED(b, OP_READ, "/dev/null", 0);
        destroy(a);
        destroy(b);
}

TEST(last_rule_wins) {
        static const CgroupDeviceRule deny_last[] = {
                { .allow = true, .type = 'c', .major = 1, .minor = 3, .access = "rw" },
                { .allow = false, .type = 'c', .major = 1, .minor = 3, .access = "rw" },
        };
        static const CgroupDeviceRule allow_last[] = {
                { .allow = false, .type = 'c', .major = 1, .minor = 3, .access = "rw" },
                { .allow = true, .type = 'c', .major = 1, .minor = 3, .access = "rw" },
        };
        static const CgroupDeviceRule hole[] = {
                { .allow = true, .type = 'a', .major = -1, .minor = -1, .access = "rwm" },
                { .allow = false, .type = 'c', .major = 1, .minor = -1, .access = "w" },
                { .allow = true, .type = 'c', .major = 1, .minor = 5, .access = "w" },
        };
        _cleanup_(cgroup_freep) Cgroup *a = new_v2("deny-last", deny_last, 2),
                                       *b = new_v2("allow-last", allow_last, 2),
                                       *c = new_v2("hole", hole, 3);

        ASSERT_DENIED(a, OP_READ, "/dev/null", 0);
        ASSERT_ALLOWED(b, OP_READ_WRITE, "/dev/null", 0);
        /* Allow all, deny writes to major 1, allow them again for 1:5 only. */
        ASSERT_ALLOWED(c, OP_READ, "/dev/null", 0);
        ASSERT_DENIED(c, OP_WRITE, "/dev/null", 0);
        ASSERT_ALLOWED(c, OP_READ_WRITE, "/dev/zero", 0);
        destroy(a);
        destroy(b);
        destroy(c);
}

TEST(apply_replaces_program) {
        static const CgroupDeviceRule read_only[] = {
                { .allow = true, .type = 'c', .major = 1, .minor = 3, .access = "r" },
        };
        static const CgroupDeviceRule read_write[] = {
                { .allow = true, .type = 'c', .major = 1, .minor = 3, .access = "rw" },
        };
        _cleanup_(cgroup_freep) Cgroup *cg = new_v2("replace", read_only, 1), *again = NULL;
        _cleanup_free_ char *path = child_path("replace");
        CgroupLimits l = CGROUP_LIMITS_INIT;
        const char *reason = NULL;

        ASSERT_DENIED(cg, OP_WRITE, "/dev/null", 0);

        l.devices_set = true;
        l.devices = read_write;
        l.n_devices = 1;
        ASSERT_OK(cgroup_apply(cg, &l, &reason));
        ASSERT_EQ(cg_devices_bpf_count(unified_dir(cg)), 1);
        ASSERT_ALLOWED(cg, OP_WRITE, "/dev/null", 0);

        /* Limits without device rules leave the program alone. */
        l = CGROUP_LIMITS_INIT;
        ASSERT_OK(cgroup_apply(cg, &l, &reason));
        ASSERT_EQ(cg_devices_bpf_count(unified_dir(cg)), 1);
        ASSERT_ALLOWED(cg, OP_WRITE, "/dev/null", 0);

        /* After a restart the program attached earlier is found and replaced. */
        ASSERT_OK(cgroup_open(cgroup2_root(NULL), CGROUP_MODE_V2, path, &again));
        l.devices_set = true;
        l.devices = read_only;
        l.n_devices = 1;
        ASSERT_OK(cgroup_apply(again, &l, &reason));
        ASSERT_EQ(cg_devices_bpf_count(unified_dir(cg)), 1);
        ASSERT_DENIED(cg, OP_WRITE, "/dev/null", 0);
        ASSERT_ALLOWED(cg, OP_READ, "/dev/null", 0);

        /* Many replacements, each a program the verifier must accept. */
        for (unsigned i = 0; i < 100; i++) {
                CgroupDeviceRule rules[7];
                size_t n = rng(ELEMENTSOF(rules) + 1);

                random_rules(rules, n);
                ASSERT_OK(cg_devices_bpf_apply(unified_dir(cg), rules, n, &reason));
        }
        ASSERT_EQ(cg_devices_bpf_count(unified_dir(cg)), 1);
        destroy(cg);
}

static int bpf_call(int cmd, union bpf_attr *attr) {
        long r = syscall(__NR_bpf, cmd, attr, sizeof(*attr));

        return r < 0 ? -errno : (int) r;
}

/* Attaches an allow-all program under another name, as systemd or a parent runtime might. */
static void attach_foreign(const char *dir) {
        static const struct bpf_insn allow[] = {
                { .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 1 },
                { .code = BPF_JMP | BPF_EXIT },
        };
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), pfd = -EBADF;
        union bpf_attr attr;

        ASSERT_OK(dfd);
        zero(attr);
        attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
        attr.insns = (uint64_t) (uintptr_t) allow;
        attr.insn_cnt = ELEMENTSOF(allow);
        attr.license = (uint64_t) (uintptr_t) "GPL";
        strcpy(attr.prog_name, "other");
        pfd = bpf_call(BPF_PROG_LOAD, &attr);
        ASSERT_OK(pfd);
        zero(attr);
        attr.target_fd = (uint32_t) dfd;
        attr.attach_bpf_fd = (uint32_t) pfd;
        attr.attach_type = BPF_CGROUP_DEVICE;
        attr.attach_flags = BPF_F_ALLOW_MULTI;
        ASSERT_OK(bpf_call(BPF_PROG_ATTACH, &attr));
}

static int count_all(const char *dir) {
        _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        uint32_t ids[64];
        union bpf_attr attr;

        ASSERT_OK(dfd);
        zero(attr);
        attr.query.target_fd = (uint32_t) dfd;
        attr.query.attach_type = BPF_CGROUP_DEVICE;
        attr.query.prog_ids = (uint64_t) (uintptr_t) ids;
        attr.query.prog_cnt = ELEMENTSOF(ids);
        ASSERT_OK(bpf_call(BPF_PROG_QUERY, &attr));
        return (int) attr.query.prog_cnt;
}

TEST(programs_of_others_stay) {
        static const CgroupDeviceRule read_only[] = {
                { .allow = true, .type = 'c', .major = 1, .minor = 3, .access = "r" },
        };
        static const CgroupDeviceRule none[] = {
                { .allow = true, .type = 'c', .major = 1, .minor = 5, .access = "r" },
        };
        _cleanup_(cgroup_freep) Cgroup *cg = new_v2("others", read_only, 1);
        const char *dir = unified_dir(cg);

        attach_foreign(dir);
        ASSERT_EQ(count_all(dir), 2);
        /* Both programs must allow: the foreign allow-all does not lift our deny. */
        ASSERT_DENIED(cg, OP_WRITE, "/dev/null", 0);
        ASSERT_OK(cg_devices_bpf_apply(dir, none, 1, NULL));
        ASSERT_OK(cg_devices_bpf_apply(dir, read_only, 1, NULL));
        ASSERT_EQ(count_all(dir), 2);
        ASSERT_EQ(cg_devices_bpf_count(dir), 1);
        ASSERT_ALLOWED(cg, OP_READ, "/dev/null", 0);
        ASSERT_DENIED(cg, OP_READ, "/dev/zero", 0);
        destroy(cg);
}

TEST(hybrid_applies_both) {
        static const CgroupDeviceRule rules[] = {
                { .allow = true, .type = 'c', .major = 1, .minor = 3, .access = "rwm" },
                { .allow = false, .type = 'c', .major = 1, .minor = 3, .access = "w" },
        };
        _cleanup_free_ char *path = child_path("hybrid"), *list = NULL, *devices = NULL;
        _cleanup_(cgroup_freep) Cgroup *cg = NULL;
        CgroupLimits l = CGROUP_LIMITS_INIT;
        const char *reason = NULL;
        CgroupMode mode;

        (void) cgroup2_root(&mode);
        if (mode != CGROUP_MODE_HYBRID)
                test_skip("host is not in hybrid mode");
        l.devices_set = true;
        l.devices = rules;
        l.n_devices = ELEMENTSOF(rules);
        ASSERT_OK(cgroup_new(NULL, CGROUP_MODE_HYBRID, path, &l, &reason, &cg));

        devices = path_join(cg->v1_dirs[CGROUP_V1_DEVICES], "devices.list");
        ASSERT_NOT_NULL(devices);
        ASSERT_OK(read_full_file(devices, SIZE_MAX, &list, NULL));
        ASSERT_STREQ(strstrip(list), "c 1:3 rm");
        ASSERT_EQ(cg_devices_bpf_count(unified_dir(cg)), 1);
        ASSERT_ALLOWED(cg, OP_READ, "/dev/null", 0);
        ASSERT_DENIED(cg, OP_WRITE, "/dev/null", 0);
        ASSERT_DENIED(cg, OP_READ, "/dev/zero", 0);

        /* New rules replace the program and the v1 list alike. */
        l.n_devices = 1;
        ASSERT_OK(cgroup_apply(cg, &l, &reason));
        ASSERT_EQ(cg_devices_bpf_count(unified_dir(cg)), 1);
        ASSERT_ALLOWED(cg, OP_WRITE, "/dev/null", 0);
        destroy(cg);
}

TEST(errors) {
        static const CgroupDeviceRule rule[] = {
                { .allow = true, .type = 'c', .major = 1, .minor = 3, .access = "r" },
        };
        _cleanup_free_ char *missing = path_join(test_tmpdir(), "missing");
        const char *reason = NULL;

        (void) cgroup2_root(NULL);
        /* A plain directory is no cgroup. */
        ASSERT_LT(cg_devices_bpf_apply(test_tmpdir(), rule, 1, &reason), 0);
        ASSERT_NOT_NULL(reason);
        ASSERT_STREQ(reason, "cannot query the device programs of the cgroup (BPF_PROG_QUERY)");
        reason = NULL;
        ASSERT_ERROR(cg_devices_bpf_apply(missing, rule, 1, &reason), ENOENT);
        ASSERT_STREQ(reason, "cannot open the cgroup directory for the device program");
        ASSERT_ERROR(cg_devices_bpf_count(missing), ENOENT);
        ASSERT_LT(cg_devices_bpf_count(test_tmpdir()), 0);
}
