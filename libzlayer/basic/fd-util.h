/* SPDX-License-Identifier: Apache-2.0 */
/* fd-util.h: file descriptor flags and FILE* cleanup. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "macro.h"

/* Sets or clears FD_CLOEXEC / O_NONBLOCK. 0 or -errno. */
int fd_cloexec(int fd, bool cloexec);
int fd_nonblock(int fd, bool nonblock);

/* Writes all of data, retrying after EINTR and short writes; on a non-blocking descriptor it
 * waits (poll) instead of failing with EAGAIN. 0, or -errno (-EIO if write returned 0). */
int loop_write(int fd, const void *data, size_t size);

/* Closes f if non-NULL, preserving errno; returns NULL. */
FILE *safe_fclose(FILE *f);
static inline void fclosep(FILE **f) {
        safe_fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(fclosep)
