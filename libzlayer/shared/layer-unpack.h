/* SPDX-License-Identifier: Apache-2.0 */
/* layer-unpack.h: unpacking one OCI image layer (tar, gzip or zstd) into a directory, safely. */
#pragma once

#include <stdbool.h>

#include "macro.h"

/* "sha256:" followed by 64 lower-case hex digits: the only digest the store accepts. */
bool layer_digest_is_valid(const char *digest);

/* Unpacks the layer read from fd (a tar stream, uncompressed or compressed with gzip or zstd)
 * into the directory dir_fd, which should be empty. OCI whiteouts become overlayfs ones: ".wh.X"
 * a character device 0:0 named X, ".wh..wh..opq" the xattr trusted.overlay.opaque=y on its
 * directory. Hard links (within the layer), symlinks (kept verbatim: they are resolved inside the
 * container), device nodes, FIFOs, modes, ownership, xattrs and mtimes are preserved;
 * trusted.overlay.* and user.overlay.* xattrs in the archive are dropped, since they would
 * steer overlayfs.
 *
 * The diff-id (sha256 of the uncompressed tar) is computed while unpacking; when expected_diff_id
 * is not NULL a mismatch fails with -EBADMSG. Entries with an absolute path or a ".." component
 * fail with -EINVAL, entries whose parent path goes through a symlink (or a non-directory) with
 * -ELOOP, a corrupt or truncated archive with -EBADMSG. On failure dir_fd holds a partial tree
 * the caller must remove, and *ret_error (if not NULL) gets a message naming the layer (`name`)
 * and the entry. On success *ret_diff_id (if not NULL) gets "sha256:<hex>". */
int layer_unpack(int fd, int dir_fd, const char *name, const char *expected_diff_id,
                 char **ret_diff_id, char **ret_error);
