/* SPDX-License-Identifier: Apache-2.0 */
/* seccomp-program.c: compiled seccomp filters, loaded with one syscall and cached in files. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fileio.h"
#include "log.h"
#include "seccomp-filter.h"
#include "string-util.h"

#define CACHE_MAGIC "ZLSECCOMP1\n"
#define PROGRAM_MAX_INSNS 65536 /* BPF_MAXINSNS is 4096; libseccomp never gets near this */

struct SeccompProgram {
        unsigned flags; /* SECCOMP_FILTER_FLAG_* */
        size_t n;
        struct sock_filter insns[];
};

SeccompProgram *seccomp_program_free(SeccompProgram *p) {
        free(p);
        return NULL;
}

size_t seccomp_program_size(const SeccompProgram *p) {
        return p ? p->n : 0;
}

static int program_new(const void *insns, size_t size, unsigned flags, SeccompProgram **ret) {
        SeccompProgram *p;

        if (size == 0 || size % sizeof(struct sock_filter) != 0 ||
            size / sizeof(struct sock_filter) > PROGRAM_MAX_INSNS)
                return -EBADMSG;
        p = malloc(sizeof(SeccompProgram) + size);
        if (!p)
                return -ENOMEM;
        p->flags = flags;
        p->n = size / sizeof(struct sock_filter);
        memcpy(p->insns, insns, size);
        *ret = p;
        return 0;
}

int seccomp_program_compile(scmp_filter_ctx ctx, SeccompProgram **ret) {
        static const struct {
                enum scmp_filter_attr attr;
                unsigned flag;
        } flag_attrs[] = {
                { SCMP_FLTATR_CTL_TSYNC, SECCOMP_FILTER_FLAG_TSYNC },
                { SCMP_FLTATR_CTL_LOG, SECCOMP_FILTER_FLAG_LOG },
                { SCMP_FLTATR_CTL_SSB, SECCOMP_FILTER_FLAG_SPEC_ALLOW },
        };
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *data = NULL;
        unsigned flags = 0;
        size_t size;
        int r;

        assert(ctx);
        assert(ret);

        for (size_t i = 0; i < ELEMENTSOF(flag_attrs); i++) {
                uint32_t v = 0;
                if (seccomp_attr_get(ctx, flag_attrs[i].attr, &v) >= 0 && v)
                        flags |= flag_attrs[i].flag;
        }
        /* libseccomp 2.5 exports to a descriptor only. */
        fd = memfd_create("zl-seccomp", MFD_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = seccomp_export_bpf(ctx, fd);
        if (r < 0)
                return r;
        if (lseek(fd, 0, SEEK_SET) < 0)
                return -errno;
        r = read_full_fd(fd, PROGRAM_MAX_INSNS * sizeof(struct sock_filter), &data, &size);
        if (r < 0)
                return r;
        return program_new(data, size, flags, ret);
}

int seccomp_program_load(const SeccompProgram *p) {
        struct sock_fprog prog = {
                .len = (unsigned short) p->n,
                .filter = (struct sock_filter *) p->insns,
        };

        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, p->flags, &prog) >= 0)
                return 0;
        /* Where seccomp(2) is unknown (valgrind), prctl() does the same without flags. */
        if (errno == ENOSYS && p->flags == 0 &&
            prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) >= 0)
                return 0;
        return -errno;
}

static char *cache_key(const json_t *profile, uint64_t capabilities) {
        const struct scmp_version *v = seccomp_version();
        _cleanup_free_ char *what = NULL;
        char *key = NULL;

        if (profile) {
                what = json_dumps(profile, JSON_SORT_KEYS | JSON_COMPACT);
                if (!what)
                        return NULL;
        }
        if (asprintf(&key, "libseccomp %u.%u.%u arch %" PRIu32 " %s %s", v->major, v->minor,
                     v->micro, seccomp_arch_native(), profile ? "profile" : "default-caps",
                     profile ? what : "") < 0)
                return NULL;
        if (!profile) {
                char *k = NULL;
                if (asprintf(&k, "%s%016" PRIx64, key, capabilities) < 0)
                        k = NULL;
                free(key);
                key = k;
        }
        return key;
}

static int cache_path(const char *dir, const char *key, char **ret) {
        char name[64];

        snprintf(name, sizeof name, "/%016" PRIx64 ".bpf",
                 fnv1a64_string(key)); /* names the file; the stored key decides */
        *ret = strjoin(dir, name);
        return *ret ? 0 : -ENOMEM;
}

static int cache_read(const char *path, const char *key, SeccompProgram **ret) {
        _cleanup_free_ char *data = NULL;
        size_t size, klen = strlen(key), hlen = strlen(CACHE_MAGIC);
        unsigned flags;
        int r;

        r = read_full_file(path, (PROGRAM_MAX_INSNS + 1) * sizeof(struct sock_filter) + klen + 64,
                           &data, &size);
        if (r < 0)
                return r;
        /* magic, key, '\n', flags as 8 hex digits, '\n', then the instructions */
        if (size < hlen + klen + 10 || memcmp(data, CACHE_MAGIC, hlen) != 0 ||
            memcmp(data + hlen, key, klen) != 0 || data[hlen + klen] != '\n' ||
            data[hlen + klen + 9] != '\n')
                return -ESTALE;
        if (sscanf(data + hlen + klen + 1, "%8x", &flags) != 1)
                return -EBADMSG;
        return program_new(data + hlen + klen + 10, size - (hlen + klen + 10), flags, ret);
}

static int cache_write(const char *path, const char *key, const SeccompProgram *p) {
        _cleanup_free_ char *data = NULL;
        size_t hlen = strlen(CACHE_MAGIC), klen = strlen(key);
        size_t size = hlen + klen + 10 + p->n * sizeof(struct sock_filter);
        char flags[10];

        data = malloc(size);
        if (!data)
                return -ENOMEM;
        snprintf(flags, sizeof flags, "%08x\n", p->flags);
        memcpy(data, CACHE_MAGIC, hlen);
        memcpy(data + hlen, key, klen);
        data[hlen + klen] = '\n';
        memcpy(data + hlen + klen + 1, flags, 9);
        memcpy(data + hlen + klen + 10, p->insns, p->n * sizeof(struct sock_filter));
        return write_file_atomic_full(path, data, size, 0600, WRITE_FILE_NO_SYNC);
}

int seccomp_program_get(const json_t *profile, uint64_t capabilities, const char *cache_dir,
                        SeccompProgram **ret, char **ret_error) {
        _cleanup_(seccomp_releasep) scmp_filter_ctx ctx = NULL;
        _cleanup_free_ char *key = NULL, *path = NULL;
        SeccompProgram *p = NULL;
        int r;

        assert(ret);

        if (cache_dir) {
                key = cache_key(profile, capabilities);
                if (!key)
                        return -ENOMEM;
                r = cache_path(cache_dir, key, &path);
                if (r < 0)
                        return r;
                r = cache_read(path, key, &p);
                if (r >= 0) {
                        *ret = p;
                        return 0;
                }
                if (r == -ENOMEM)
                        return r;
                if (r != -ENOENT)
                        log_debug_errno(r, "seccomp cache '%s' unusable, rebuilding: %m", path);
        }

        if (profile)
                r = seccomp_filter_from_json(profile, &ctx, ret_error);
        else
                r = seccomp_filter_default(&ctx, capabilities);
        if (r < 0)
                return r;
        r = seccomp_program_compile(ctx, &p);
        if (r < 0)
                return r;

        if (path) {
                int k = mkdir_p(cache_dir, 0700);
                if (k >= 0)
                        k = cache_write(path, key, p);
                if (k < 0)
                        log_debug_errno(k,
                                        "Failed to cache the seccomp program in '%s', ignoring: %m",
                                        path);
        }
        *ret = p;
        return 0;
}
