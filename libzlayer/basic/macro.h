/* SPDX-License-Identifier: Apache-2.0 */
/* macro.h: cleanup attributes, ownership transfer and small helpers used everywhere. */
#pragma once

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _unused_ __attribute__((__unused__))
#define _pure_ __attribute__((__pure__))
#define _const_ __attribute__((__const__))
#define _noreturn_ __attribute__((__noreturn__))
#define _printf_(a, b) __attribute__((__format__(printf, a, b)))
#define _sentinel_ __attribute__((__sentinel__))
#define _warn_unused_result_ __attribute__((__warn_unused_result__))
#define _cleanup_(f) __attribute__((__cleanup__(f)))
#define _likely_(x) (__builtin_expect(!!(x), 1))
#define _unlikely_(x) (__builtin_expect(!!(x), 0))
#define _public_ __attribute__((__visibility__("default")))
#define _fallthrough_ __attribute__((__fallthrough__))

#define ELEMENTSOF(x)                                                                              \
        (__builtin_choose_expr(!__builtin_types_compatible_p(typeof(x), typeof(&*(x))),            \
                               sizeof(x) / sizeof((x)[0]), (void) 0))

#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define CLAMP(x, lo, hi) (MIN(MAX((x), (lo)), (hi)))

#define STRINGIFY_INTERNAL(x) #x
#define STRINGIFY(x) STRINGIFY_INTERNAL(x)

#define DIV_ROUND_UP(x, y) (((x) + (y) -1) / (y))

/* Ownership transfer: returns the pointer and leaves NULL behind, so a _cleanup_ variable no
 * longer frees it. TAKE_FD does the same for file descriptors, leaving -EBADF. */
#define TAKE_PTR(p)                                                                                \
        ({                                                                                         \
                typeof(p) _take_ptr_ = (p);                                                        \
                (p) = NULL;                                                                        \
                _take_ptr_;                                                                        \
        })

#define TAKE_FD(fd)                                                                                \
        ({                                                                                         \
                int _take_fd_ = (fd);                                                              \
                (fd) = -EBADF;                                                                     \
                _take_fd_;                                                                         \
        })

/* Defines foo_freep(Foo **p) that calls foo_free(*p) when *p is non-NULL. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                                                    \
        static inline void func##p(type *p) {                                                      \
                if (*p)                                                                            \
                        func(*p);                                                                  \
        }

/* The same for functions returning void and taking a pointer we must not pass NULL to. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC_FULL(type, func, empty)                                        \
        static inline void func##p(type *p) {                                                      \
                if (*p != (empty))                                                                 \
                        func(*p);                                                                  \
        }

static inline void *mfree(void *p) {
        free(p);
        return NULL;
}

#define free_and_replace(a, b)                                                                     \
        ({                                                                                         \
                free(a);                                                                           \
                (a) = (b);                                                                         \
                (b) = NULL;                                                                        \
                0;                                                                                 \
        })

static inline void freep(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(freep)

/* Closes an fd if valid and returns -EBADF, preserving errno. */
static inline int safe_close(int fd) {
        if (fd >= 0) {
                int saved = errno;
                (void) close(fd);
                errno = saved;
        }
        return -EBADF;
}

static inline void closep(int *fd) {
        safe_close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

#define zero(x) (memset(&(x), 0, sizeof(x)))

#define streq(a, b) (strcmp((a), (b)) == 0)
#define strneq(a, b, n) (strncmp((a), (b), (n)) == 0)
#define isempty(s) (!(s) || (s)[0] == '\0')

static inline const char *strempty(const char *s) {
        return s ?: "";
}
static inline const char *strna(const char *s) {
        return s ?: "n/a";
}
static inline const char *yes_no(bool b) {
        return b ? "yes" : "no";
}

/* errno values are positive; our functions return them negated. Never return 0 by accident
 * when errno happened to be unset. */
static inline int negative_errno(void) {
        assert(errno > 0);
        return -errno;
}
#define RET_NERRNO(expr)                                                                           \
        ({                                                                                         \
                __auto_type _r_ = (expr);                                                          \
                _r_ < 0 ? -errno : _r_;                                                            \
        })

/* For enums: `_FOO_INVALID = -EINVAL` keeps the type signed so errors travel through it. */
#define ERRNO_IS_NEG_NOT_FOUND(r) ((r) == -ENOENT)
