/* SPDX-License-Identifier: Apache-2.0 */
/* proxy-backend.c: choosing a backend of a set, and passive ejection, for every kind of route. */
#include "proxy-internal.h"

BackendHealth *proxy_backend_select(const RouteBackendSet *cset, uint64_t now,
                                    bool (*skip)(const BackendHealth *b, const void *userdata),
                                    const void *userdata) {
        RouteBackendSet *set = (RouteBackendSet *) cset; /* rr_next is the mutable part */
        unsigned long ticket;
        unsigned pos;
        size_t first = 0;
        BackendHealth *best = NULL;
        long best_active = 0;
        unsigned best_weight = 1;

        if (set->n_backends == 0)
                return NULL;
        ticket = atomic_fetch_add_explicit(&set->rr_next, 1, memory_order_relaxed);
        pos = (unsigned) (ticket % set->total_weight);

        /* Weighted: the ticket falls in one backend's share of the total weight. */
        for (size_t i = 0; i < set->n_backends; i++) {
                if (pos < set->backends[i].weight) {
                        first = i;
                        break;
                }
                pos -= set->backends[i].weight;
        }

        for (size_t k = 0; k < set->n_backends; k++) {
                const RouteBackend *rb = &set->backends[(first + k) % set->n_backends];
                BackendHealth *b = rb->health;
                long active;

                if (!b || (skip && skip(b, userdata)) || !proxy_backend_usable(b, now))
                        continue;
                if (set->balance == PROXY_BALANCE_ROUND_ROBIN)
                        return b;
                active = atomic_load_explicit(&b->active, memory_order_relaxed);
                if (!best || active * (long) best_weight < best_active * (long) rb->weight) {
                        best = b;
                        best_active = active;
                        best_weight = rb->weight;
                }
        }
        return best;
}

void proxy_backend_failed(const ProxyConfig *config, BackendHealth *b, uint64_t now) {
        if (atomic_fetch_add(&b->failures, 1) + 1 >= config->eject_failures) {
                atomic_store(&b->ejected_until, now + config->eject_usec);
                atomic_store(&b->failures, 0);
        }
}

void proxy_backend_succeeded(BackendHealth *b) {
        if (atomic_load_explicit(&b->failures, memory_order_relaxed) != 0)
                atomic_store(&b->failures, 0);
}
