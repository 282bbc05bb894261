/* SPDX-License-Identifier: Apache-2.0 */
/* alloc-fail.c: replaces malloc/calloc/realloc/free (glibc allows this) to inject failures. */
#include <errno.h>
#include <stddef.h>

#include "alloc-fail.h"

void *__libc_malloc(size_t size);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t size);
void __libc_free(void *p);

void *malloc(size_t size);
void *calloc(size_t n, size_t size);
void *realloc(void *p, size_t size);
void free(void *p);

static long fail_index = -1;
static long counter;
static long live;
static bool triggered;

void alloc_fail_reset(long fail_at) {
        fail_index = fail_at;
        counter = 0;
        triggered = false;
}

long alloc_fail_count(void) {
        return counter;
}

bool alloc_fail_triggered(void) {
        return triggered;
}

long alloc_live_blocks(void) {
        return live;
}

static bool should_fail(void) {
        if (counter++ == fail_index) {
                triggered = true;
                errno = ENOMEM;
                return true;
        }
        return false;
}

void *malloc(size_t size) {
        void *p;
        if (should_fail())
                return NULL;
        p = __libc_malloc(size);
        if (p)
                live++;
        return p;
}

void *calloc(size_t n, size_t size) {
        void *p;
        if (should_fail())
                return NULL;
        p = __libc_calloc(n, size);
        if (p)
                live++;
        return p;
}

void *realloc(void *p, size_t size) {
        void *q;
        if (!p)
                return malloc(size);
        if (size == 0) {
                free(p);
                return NULL;
        }
        if (should_fail())
                return NULL;
        q = __libc_realloc(p, size);
        return q;
}

void free(void *p) {
        if (p)
                live--;
        __libc_free(p);
}
