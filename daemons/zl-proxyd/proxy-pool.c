/* SPDX-License-Identifier: Apache-2.0 */
/* proxy-pool.c: per-worker free lists of fixed-size buffers and objects (no locking). */
#include <stdlib.h>
#include <string.h>

#include "proxy-pool.h"

void proxy_buf_compact(ProxyBuf *b) {
        if (b->start == 0)
                return;
        if (b->end > b->start)
                memmove(b->data, b->data + b->start, b->end - b->start);
        b->end -= b->start;
        b->start = 0;
}

void proxy_pool_init(ProxyPool *p, size_t block_size, size_t max_free) {
        *p = (ProxyPool){ .block_size = block_size, .max_free = max_free };
}

void proxy_pool_done(ProxyPool *p) {
        while (p->free_list) {
                ProxyBuf *b = p->free_list;
                p->free_list = b->next_free;
                free(b);
        }
        p->n_free = 0;
}

ProxyBuf *proxy_pool_get(ProxyPool *p) {
        ProxyBuf *b = p->free_list;

        if (b) {
                p->free_list = b->next_free;
                p->n_free--;
        } else {
                b = malloc(sizeof(ProxyBuf) + p->block_size);
                if (!b)
                        return NULL;
        }
        b->next_free = NULL;
        b->start = b->end = 0;
        b->capacity = p->block_size;
        p->n_allocated++;
        return b;
}

ProxyBuf *proxy_pool_put(ProxyPool *p, ProxyBuf *b) {
        if (!b)
                return NULL;
        p->n_allocated--;
        if (p->n_free >= p->max_free) {
                free(b);
                return NULL;
        }
        b->next_free = p->free_list;
        p->free_list = b;
        p->n_free++;
        return NULL;
}
