/* SPDX-License-Identifier: Apache-2.0 */
/* seccomp-filter.h: libseccomp filters from an OCI linux.seccomp object, and Docker's default
 * profile. (Not seccomp.h: that name would shadow libseccomp's own header on the include path.) */
#pragma once

#include <jansson.h>
#include <seccomp.h>
#include <stdint.h>

#include "macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC_FULL(scmp_filter_ctx, seccomp_release, NULL);

/* Builds a filter from the OCI runtime-spec `linux.seccomp` object. On success *ret owns the new
 * filter (free it with seccomp_release()). On a bad profile returns -EINVAL (or -EOPNOTSUPP for
 * something valid that this libseccomp cannot express) and, when ret_error is non-NULL, stores a
 * newly allocated message naming the JSON path (the caller frees it), e.g.
 * "syscalls[2].args[0].op: unknown operator 'SCMP_CMP_FOO'".
 * Syscall names this libseccomp does not know are skipped, as runc does. The filter does not
 * set no_new_privs by itself when loaded: see seccomp_filter_load(). */
int seccomp_filter_from_json(const json_t *seccomp, scmp_filter_ctx *ret, char **ret_error);

/* Builds Docker's default profile (moby profiles/seccomp/default.json) for the native
 * architecture and its compat architectures: default action ERRNO(EPERM), an allow-list, and
 * the rules that depend on capabilities. `capabilities` is the bounding set as a bit mask
 * (bit n = capability n, e.g. capability_default_set()). Unlike Docker on kernels >= 4.8,
 * ptrace, process_vm_readv and process_vm_writev need CAP_SYS_PTRACE. */
int seccomp_filter_default(scmp_filter_ctx *ret, uint64_t capabilities);

/* Loads the filter into the calling thread (all threads when the profile asked for TSYNC).
 * The caller must first set PR_SET_NO_NEW_PRIVS or hold CAP_SYS_ADMIN, otherwise the kernel
 * refuses with -EACCES; the filter never sets it on its own, so the OCI noNewPrivileges setting
 * stays the caller's decision. */
int seccomp_filter_load(scmp_filter_ctx ctx);

/* Adds one rule for a syscall by name. Names unknown to libseccomp are skipped: returns 0
 * (logged at debug). Otherwise returns 1; a name libseccomp knows but that has no number on the
 * filter's architectures (chown32 on x86-64 alone) is accepted and has no effect. The
 * comparisons are ANDed; callers that need an OR add several rules. */
int seccomp_add_syscall_rule(scmp_filter_ctx ctx, const char *name, uint32_t action,
                             unsigned n_args, const struct scmp_arg_cmp *args);

/* A compiled filter: the BPF program libseccomp generates from a filter, with its
 * SECCOMP_FILTER_FLAG_* flags. Compiling is the slow part of seccomp (tens of ms for Docker's
 * profile); a program loads with one syscall and can be cached in a file. */
typedef struct SeccompProgram SeccompProgram;

int seccomp_program_compile(scmp_filter_ctx ctx, SeccompProgram **ret);
SeccompProgram *seccomp_program_free(SeccompProgram *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(SeccompProgram *, seccomp_program_free);
size_t seccomp_program_size(const SeccompProgram *p) _pure_; /* instructions */
/* Loads it into the calling thread (all threads with TSYNC). Needs no_new_privs or
 * CAP_SYS_ADMIN, as seccomp_filter_load(). Async-signal-safe: no allocation. */
int seccomp_program_load(const SeccompProgram *p);

/* The program for an OCI linux.seccomp object (profile != NULL) or else Docker's default profile
 * for the bounding set `capabilities`, built and compiled, or taken from cache_dir (NULL: no
 * cache) where compiled programs are kept in files named by a hash of what they were made from
 * (the canonical JSON or the capability set, the libseccomp version and the architecture; the
 * whole key is stored and compared, so a hash collision is a miss). A cache that cannot be read
 * or written is ignored. Errors as seccomp_filter_from_json(). */
int seccomp_program_get(const json_t *profile, uint64_t capabilities, const char *cache_dir,
                        SeccompProgram **ret, char **ret_error);
