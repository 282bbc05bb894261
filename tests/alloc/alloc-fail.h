/* SPDX-License-Identifier: Apache-2.0 */
/* alloc-fail.h: a malloc replacement for tests that fails the Nth allocation and counts live
 * blocks, to prove code returns -ENOMEM cleanly and frees everything on every path. */
#pragma once

#include <stdbool.h>

/* Fail the allocation with this 0-based index counted from the last alloc_fail_reset(); -1 never.
 */
void alloc_fail_reset(long fail_at);
/* Allocations attempted since the last reset. */
long alloc_fail_count(void);
/* Whether the armed failure was hit. */
bool alloc_fail_triggered(void);
/* Blocks allocated and not yet freed, process-wide. */
long alloc_live_blocks(void);
