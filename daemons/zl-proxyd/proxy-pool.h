/* SPDX-License-Identifier: Apache-2.0 */
/* proxy-pool.h: per-worker free lists of fixed-size buffers and objects (no locking). */
#pragma once

#include <stddef.h>

#include "macro.h"

/* A byte buffer of ProxyPool.block_size: data[start, end) holds unconsumed bytes. */
typedef struct ProxyBuf {
        struct ProxyBuf *next_free;
        size_t start, end, capacity;
        char data[];
} ProxyBuf;

static inline size_t proxy_buf_len(const ProxyBuf *b) {
        return b ? b->end - b->start : 0;
}
static inline size_t proxy_buf_space(const ProxyBuf *b) {
        return b->capacity - b->end;
}
/* Moves the unconsumed bytes to the front. */
void proxy_buf_compact(ProxyBuf *b);

/* Blocks come from and go back to one worker's list; at most max_free are kept, the rest are
 * freed, so an idle worker gives memory back. */
typedef struct ProxyPool {
        size_t block_size; /* bytes of data per buffer */
        ProxyBuf *free_list;
        size_t n_free, max_free;
        size_t n_allocated; /* in use, for tests and stats */
} ProxyPool;

void proxy_pool_init(ProxyPool *p, size_t block_size, size_t max_free);
void proxy_pool_done(ProxyPool *p);
/* An empty buffer, or NULL on allocation failure. */
ProxyBuf *proxy_pool_get(ProxyPool *p);
/* Returns a buffer (NULL is fine); returns NULL. */
ProxyBuf *proxy_pool_put(ProxyPool *p, ProxyBuf *b);
