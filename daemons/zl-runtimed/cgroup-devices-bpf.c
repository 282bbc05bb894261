/* SPDX-License-Identifier: Apache-2.0 */
/* cgroup-devices-bpf.c: OCI device rules as a cgroup2 BPF device program, built by hand. */
#include <fcntl.h>
#include <linux/bpf.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cgroup-internal.h"
#include "log.h"

/* The kernel allows 64 programs per cgroup and attach type (BPF_CGROUP_MAX_PROGS). */
#define CG_BPF_MAX_PROGS 64
#define CG_BPF_LOG_SIZE (64 * 1024)

/* Registers of the program: the request as the kernel passes it, and one scratch register. */
#define R_RET BPF_REG_0
#define R_CTX BPF_REG_1
#define R_TMP BPF_REG_1
#define R_TYPE BPF_REG_2
#define R_ACCESS BPF_REG_3 /* the access bits not yet allowed by a rule */
#define R_MAJOR BPF_REG_4
#define R_MINOR BPF_REG_5

/* The instructions of the prologue, epilogue and the longest block of one rule (type check,
 * a major and a minor each needing two instructions, then the access part). */
#define PROLOGUE_INSNS 6
#define EPILOGUE_INSNS 2
#define RULE_MAX_INSNS 11
/* Far below what size_t holds, and above what the kernel loads (a million instructions). */
#define RULES_MAX (UINT32_MAX / RULE_MAX_INSNS)

typedef struct Program {
        struct bpf_insn *insns;
        size_t n;
        size_t allocated;
} Program;

static void emit(Program *p, uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
        /* The buffer is sized for the worst case up front. */
        assert(p->n < p->allocated);
        p->insns[p->n++] = (struct bpf_insn){
                .code = code,
                .dst_reg = dst,
                .src_reg = src,
                .off = off,
                .imm = imm,
        };
}

static void emit_return(Program *p, bool allow) {
        emit(p, BPF_ALU64 | BPF_MOV | BPF_K, R_RET, 0, 0, allow ? 1 : 0);
        emit(p, BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
}

/* A jump to the next rule when reg != value; returns its index, patched once the rule's block
 * ends. BPF_JMP compares 64 bits with the immediate sign-extended, so numbers above INT32_MAX
 * go through a 32-bit move, which zero-extends like the loads of the context do. */
static size_t emit_jne(Program *p, uint8_t reg, uint32_t value) {
        if (value <= INT32_MAX)
                emit(p, BPF_JMP | BPF_JNE | BPF_K, reg, 0, 0, (int32_t) value);
        else {
                emit(p, BPF_ALU | BPF_MOV | BPF_K, R_TMP, 0, 0, (int32_t) value);
                emit(p, BPF_JMP | BPF_JNE | BPF_X, reg, R_TMP, 0, 0);
        }
        return p->n - 1;
}

static uint32_t access_mask(const char *access) {
        uint32_t m = 0;

        for (const char *c = access; c && *c; c++)
                m |= *c == 'r'   ? BPF_DEVCG_ACC_READ
                     : *c == 'w' ? BPF_DEVCG_ACC_WRITE
                     : *c == 'm' ? BPF_DEVCG_ACC_MKNOD
                                 : 0;
        return m;
}

#define ACC_ALL (BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD)

/* Appends the check of one rule. Returns true when the rule matches every request, so the
 * rules before it can never decide anything. */
static bool emit_rule(Program *p, const CgroupDeviceRule *d) {
        uint32_t acc = access_mask(d->access);
        size_t jumps[4], n_jumps = 0;
        bool unconditional;

        if (d->type == 'c' || d->type == 'b')
                jumps[n_jumps++] = emit_jne(
                        p, R_TYPE, d->type == 'c' ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK);
        if (d->major >= 0)
                jumps[n_jumps++] = emit_jne(p, R_MAJOR, (uint32_t) d->major);
        if (d->minor >= 0)
                jumps[n_jumps++] = emit_jne(p, R_MINOR, (uint32_t) d->minor);
        unconditional = n_jumps == 0 && acc == ACC_ALL;

        if (acc == ACC_ALL)
                /* Every bit still asked for is this rule's to decide. */
                emit_return(p, d->allow);
        else if (d->allow) {
                /* The bits this rule allows are settled; allowed once none is left. */
                emit(p, BPF_ALU | BPF_AND | BPF_K, R_ACCESS, 0, 0, (int32_t) (~acc & 0xffff));
                jumps[n_jumps++] = emit_jne(p, R_ACCESS, 0);
                emit_return(p, true);
        } else {
                /* Any bit still asked for that this rule denies denies the request. */
                emit(p, BPF_ALU | BPF_MOV | BPF_X, R_TMP, R_ACCESS, 0, 0);
                emit(p, BPF_ALU | BPF_AND | BPF_K, R_TMP, 0, 0, (int32_t) acc);
                jumps[n_jumps++] = p->n;
                emit(p, BPF_JMP | BPF_JEQ | BPF_K, R_TMP, 0, 0, 0);
                emit_return(p, false);
        }

        for (size_t i = 0; i < n_jumps; i++)
                p->insns[jumps[i]].off = (int16_t) (p->n - jumps[i] - 1);
        return unconditional;
}

int cg_devices_bpf_build(const CgroupDeviceRule *rules, size_t n, struct bpf_insn **ret,
                         size_t *ret_n) {
        Program p = {};

        assert(ret);
        assert(ret_n);
        if (n > 0 && !rules)
                return -EINVAL;
        if (n > RULES_MAX)
                return -E2BIG;

        p.allocated = PROLOGUE_INSNS + n * RULE_MAX_INSNS + EPILOGUE_INSNS;
        p.insns = calloc(p.allocated, sizeof(struct bpf_insn));
        if (!p.insns)
                return -ENOMEM;

        /* access_type holds the access bits in the upper and the device type in the lower 16
         * bits; major and minor are 32-bit numbers. */
        emit(&p, BPF_LDX | BPF_MEM | BPF_W, R_ACCESS, R_CTX,
             offsetof(struct bpf_cgroup_dev_ctx, access_type), 0);
        emit(&p, BPF_ALU | BPF_MOV | BPF_X, R_TYPE, R_ACCESS, 0, 0);
        emit(&p, BPF_ALU | BPF_AND | BPF_K, R_TYPE, 0, 0, 0xffff);
        emit(&p, BPF_ALU | BPF_RSH | BPF_K, R_ACCESS, 0, 0, 16);
        emit(&p, BPF_LDX | BPF_MEM | BPF_W, R_MAJOR, R_CTX,
             offsetof(struct bpf_cgroup_dev_ctx, major), 0);
        emit(&p, BPF_LDX | BPF_MEM | BPF_W, R_MINOR, R_CTX,
             offsetof(struct bpf_cgroup_dev_ctx, minor), 0);

        /* The last rule that matches wins (OCI): check from the last rule backwards. Each access
         * bit is decided on its own, so "allow r" then "allow w" together allow "rw", and a
         * later "deny w" is not bypassed by asking for "rw" at once. */
        for (size_t i = n; i > 0; i--)
                if (emit_rule(&p, rules + i - 1))
                        /* Nothing after an unconditional return: the verifier refuses
                         * unreachable instructions. */
                        goto done;
        emit_return(&p, false);
done:

        *ret = p.insns;
        *ret_n = p.n;
        return 0;
}

static int bpf_call(int cmd, union bpf_attr *attr) {
        long r = syscall(__NR_bpf, cmd, attr, sizeof(*attr));

        if (r < 0)
                return -errno;
        return (int) r;
}

static uint64_t ptr_to_u64(const void *p) {
        return (uint64_t) (uintptr_t) p;
}

static int prog_load(const struct bpf_insn *insns, size_t n, char *log, size_t log_size) {
        union bpf_attr attr;

        zero(attr);
        attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
        attr.insns = ptr_to_u64(insns);
        attr.insn_cnt = (uint32_t) n;
        /* Device programs call no helpers, so no GPL-only one: any license string loads. */
        attr.license = ptr_to_u64("Apache-2.0");
        if (log) {
                attr.log_buf = ptr_to_u64(log);
                attr.log_size = (uint32_t) log_size;
                attr.log_level = 1;
        }
        static_assert(sizeof(CG_DEVICES_BPF_NAME) <= sizeof(attr.prog_name), "name too long");
        memcpy(attr.prog_name, CG_DEVICES_BPF_NAME, sizeof(CG_DEVICES_BPF_NAME));
        return bpf_call(BPF_PROG_LOAD, &attr);
}

/* Loads the program; a kernel without cgroup device programs is -EOPNOTSUPP. */
static int devices_prog_load(const struct bpf_insn *insns, size_t n, const char **ret_reason) {
        static const struct bpf_insn allow_all[] = {
                { .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = R_RET, .imm = 1 },
                { .code = BPF_JMP | BPF_EXIT },
        };
        _cleanup_free_ char *log = NULL;
        int fd, r;

        fd = prog_load(insns, n, NULL, 0);
        if (fd >= 0)
                return fd;
        r = fd;
        if (r == -ENOSYS) {
                *ret_reason = "the kernel has no bpf(2)";
                return -EOPNOTSUPP;
        }
        if (r != -EINVAL && r != -EACCES) {
                *ret_reason = "cannot load the device program (BPF_PROG_LOAD)";
                return r;
        }

        /* Refused: either the kernel knows no device programs at all, or the verifier did not
         * accept ours, which is a bug worth its log. */
        fd = prog_load(allow_all, ELEMENTSOF(allow_all), NULL, 0);
        if (fd < 0) {
                *ret_reason = "the kernel has no cgroup device programs "
                              "(BPF_PROG_TYPE_CGROUP_DEVICE)";
                return -EOPNOTSUPP;
        }
        safe_close(fd);
        log = calloc(1, CG_BPF_LOG_SIZE);
        if (log) {
                fd = prog_load(insns, n, log, CG_BPF_LOG_SIZE);
                if (fd >= 0)
                        return fd;
                log_debug("The verifier refused the device program: %s", log);
        }
        *ret_reason = "the kernel refused the device program (BPF_PROG_LOAD)";
        return r;
}

/* The fds of the programs with our name attached directly to the cgroup. */
static int devices_progs_ours(int cgroup_fd, int *ret_fds, size_t *ret_n) {
        uint32_t ids[CG_BPF_MAX_PROGS];
        union bpf_attr attr;
        size_t n = 0;
        int r;

        zero(attr);
        attr.query.target_fd = (uint32_t) cgroup_fd;
        attr.query.attach_type = BPF_CGROUP_DEVICE;
        attr.query.prog_ids = ptr_to_u64(ids);
        attr.query.prog_cnt = ELEMENTSOF(ids);
        r = bpf_call(BPF_PROG_QUERY, &attr);
        if (r < 0)
                return r;

        for (uint32_t i = 0; i < MIN(attr.query.prog_cnt, (uint32_t) ELEMENTSOF(ids)); i++) {
                _cleanup_close_ int fd = -EBADF;
                struct bpf_prog_info info;
                union bpf_attr a;

                zero(a);
                a.prog_id = ids[i];
                fd = bpf_call(BPF_PROG_GET_FD_BY_ID, &a);
                if (fd == -ENOENT)
                        continue; /* detached and freed meanwhile */
                if (fd < 0) {
                        r = fd;
                        goto fail;
                }
                zero(info);
                zero(a);
                a.info.bpf_fd = (uint32_t) fd;
                a.info.info_len = sizeof(info);
                a.info.info = ptr_to_u64(&info);
                r = bpf_call(BPF_OBJ_GET_INFO_BY_FD, &a);
                if (r < 0)
                        goto fail;
                if (info.type == BPF_PROG_TYPE_CGROUP_DEVICE &&
                    strneq(info.name, CG_DEVICES_BPF_NAME, sizeof(info.name)))
                        ret_fds[n++] = TAKE_FD(fd);
        }
        *ret_n = n;
        return 0;

fail:
        for (size_t i = 0; i < n; i++)
                safe_close(ret_fds[i]);
        return r;
}

static void close_all(int *fds, size_t n) {
        for (size_t i = 0; i < n; i++)
                safe_close(fds[i]);
}

static int prog_attach(int cgroup_fd, int prog_fd, int replace_fd) {
        union bpf_attr attr;

        zero(attr);
        attr.target_fd = (uint32_t) cgroup_fd;
        attr.attach_bpf_fd = (uint32_t) prog_fd;
        attr.attach_type = BPF_CGROUP_DEVICE;
        /* Other programs may sit on the same cgroup (systemd's, a parent's); all of them must
         * agree for an access to pass. */
        attr.attach_flags = BPF_F_ALLOW_MULTI;
        if (replace_fd >= 0) {
                attr.attach_flags |= BPF_F_REPLACE;
                attr.replace_bpf_fd = (uint32_t) replace_fd;
        }
        return bpf_call(BPF_PROG_ATTACH, &attr);
}

static int prog_detach(int cgroup_fd, int prog_fd) {
        union bpf_attr attr;

        zero(attr);
        attr.target_fd = (uint32_t) cgroup_fd;
        attr.attach_bpf_fd = (uint32_t) prog_fd;
        attr.attach_type = BPF_CGROUP_DEVICE;
        return bpf_call(BPF_PROG_DETACH, &attr);
}

int cg_devices_bpf_apply(const char *dir, const CgroupDeviceRule *rules, size_t n,
                         const char **ret_reason) {
        _cleanup_free_ struct bpf_insn *insns = NULL;
        _cleanup_close_ int cgroup_fd = -EBADF, prog_fd = -EBADF;
        int old[CG_BPF_MAX_PROGS];
        const char *reason = NULL;
        size_t n_insns, n_old = 0;
        bool replaced = false;
        int r;

        assert(dir);

        r = cg_devices_bpf_build(rules, n, &insns, &n_insns);
        if (r < 0) {
                reason = "cannot build the device program";
                goto finish;
        }
        cgroup_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (cgroup_fd < 0) {
                r = -errno;
                reason = "cannot open the cgroup directory for the device program";
                goto finish;
        }
        prog_fd = devices_prog_load(insns, n_insns, &reason);
        if (prog_fd < 0) {
                r = prog_fd;
                goto finish;
        }
        r = devices_progs_ours(cgroup_fd, old, &n_old);
        if (r < 0) {
                /* Not a cgroup2 directory (EBADF), or no cgroup BPF in this kernel (EINVAL). */
                reason = "cannot query the device programs of the cgroup (BPF_PROG_QUERY)";
                goto finish;
        }

        /* One program of ours is swapped atomically. Without BPF_F_REPLACE (before 5.6), or
         * with several, the new one goes on first: for a moment both must allow an access,
         * which is stricter than either, never looser. */
        if (n_old == 1) {
                r = prog_attach(cgroup_fd, prog_fd, old[0]);
                replaced = r >= 0;
        }
        if (!replaced) {
                r = prog_attach(cgroup_fd, prog_fd, -EBADF);
                if (r < 0) {
                        reason = "cannot attach the device program (BPF_PROG_ATTACH)";
                        goto finish;
                }
                for (size_t i = 0; i < n_old; i++) {
                        int k = prog_detach(cgroup_fd, old[i]);

                        if (k < 0 && k != -ENOENT && r >= 0) {
                                r = k;
                                reason = "cannot detach the previous device program";
                        }
                }
        }
        /* Attached, the program lives as long as the cgroup: our fd can go. */

finish:
        close_all(old, n_old);
        if (r < 0) {
                if (ret_reason)
                        *ret_reason = reason;
                return log_debug_errno(r, "Failed to apply the device rules to '%s': %s: %m", dir,
                                       strna(reason));
        }
        return 0;
}

int cg_devices_bpf_count(const char *dir) {
        _cleanup_close_ int fd = -EBADF;
        int fds[CG_BPF_MAX_PROGS];
        size_t n;
        int r;

        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = devices_progs_ours(fd, fds, &n);
        if (r < 0)
                return r;
        close_all(fds, n);
        return (int) n;
}
