/* SPDX-License-Identifier: Apache-2.0 */
/* sqlite-util.h: sqlite result codes as negative errno, and cleanup helpers. Header-only, so
 * it adds no sqlite dependency to what includes libzlayer without using sqlite. */
#pragma once

#include <errno.h>
#include <sqlite3.h>

#include "macro.h"

/* 0 for OK/ROW/DONE; -ENOMEM, -EBUSY (busy, locked), -EEXIST (constraint), -ENOSPC (full),
 * -EROFS (read-only, permission), -EIO for anything else. */
static inline int sqlite_errno(int rc) {
        switch (rc & 0xff) { /* the primary code of an extended one */
        case SQLITE_OK:
        case SQLITE_ROW:
        case SQLITE_DONE:
                return 0;
        case SQLITE_NOMEM:
                return -ENOMEM;
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
                return -EBUSY;
        case SQLITE_CONSTRAINT:
                return -EEXIST;
        case SQLITE_FULL:
                return -ENOSPC;
        case SQLITE_READONLY:
        case SQLITE_PERM:
                return -EROFS;
        default:
                return -EIO;
        }
}

DEFINE_TRIVIAL_CLEANUP_FUNC(sqlite3_stmt *, sqlite3_finalize);
