/* SPDX-License-Identifier: Apache-2.0 */
/* user-util.h: Docker-style user specs resolved against a container's /etc/passwd and /etc/group.
 */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* Resolves "name", "uid", "name:group", "uid:gid", "name:gid" or "uid:group" against
 * root/etc/passwd and root/etc/group (root NULL means "/"), without NSS. The files are opened
 * with every path component resolved inside root, so a symlink in the container cannot make us
 * read a host file. A numeric uid absent from passwd is allowed (gid 0 and home "/" then); a
 * name that is absent is -ENOENT, as is a group name absent from /etc/group. *ret_gids gets the
 * user's supplementary groups (groups of /etc/group listing the user's name; deduplicated, in
 * file order) only when the spec has no explicit group, else none; *ret_n_gids their number
 * (*ret_gids is NULL when there are none). *ret_home is the home directory ("/" if unknown).
 * Malformed lines are skipped one by one. A malformed spec is -EINVAL. On failure *ret_error
 * (if not NULL; NULL or an allocated string that is then replaced) receives a message: "user
 * 'nginx' not found in /etc/passwd of the container". Every ret_* may be NULL. */
int user_resolve(const char *root, const char *spec, uid_t *ret_uid, gid_t *ret_gid,
                 gid_t **ret_gids, size_t *ret_n_gids, char **ret_home, char **ret_error);
