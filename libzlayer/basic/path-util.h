/* SPDX-License-Identifier: Apache-2.0 */
/* path-util.h: path syntax: joining, simplifying, prefixes, components. No file system access. */
#pragma once

#include <stdbool.h>

#include "macro.h"

static inline bool path_is_absolute(const char *p) {
        return p && p[0] == '/';
}

/* No "." or ".." components, no "//", no trailing '/' except for "/" itself. Relative paths
 * may be normalized too; "" is not. */
bool path_is_normalized(const char *p);

/* Joins the components up to the NULL sentinel with exactly one '/' at each junction; NULL and
 * empty components are skipped. Returns a new string, NULL on OOM. */
char *path_join_real(const char *first, ...) _sentinel_;
#define path_join(...) path_join_real(__VA_ARGS__, NULL)

/* In place: collapses repeated '/', drops "." components and the trailing '/'. ".." is kept
 * (resolving it needs the file system). "" stays "", a relative path of only "." becomes ".".
 * Returns p. */
char *path_simplify(char *p);

/* If prefix names path or one of its parent directories, compared component by component (so
 * "/a/b" is a prefix of "/a//b/c" but not of "/a/bc"), returns a pointer into path at the rest,
 * without leading '/' ("" if equal); else NULL. Both must be absolute or both relative. */
char *path_startswith(const char *path, const char *prefix) _pure_;

/* The last component as a new string: "/a/b/" -> "b". -EINVAL for "", "/" and paths whose last
 * component is "." or "..", -ENOMEM on OOM. */
int path_basename(const char *p, char **ret);
/* Everything before the last component, without trailing '/': "/a/b" -> "/a", "/a" -> "/",
 * "a" -> ".", "a/b/" -> "a". "/" -> "/". -EINVAL for "", -ENOMEM on OOM. */
int path_dirname(const char *p, char **ret);

/* For paths taken from untrusted input such as archive members: not empty, not absolute, no
 * ".." component, shorter than PATH_MAX. */
bool path_is_safe_relative(const char *p);

/* The running executable (from /proc/self/exe), resolved now: a program upgraded in place keeps
 * running its own helpers' code, and under valgrind the link names the program, not the tool. */
int path_self_exe(char **ret);
/* The directory of the running executable (from /proc/self/exe): where a build tree or an
 * installation keeps the programs and modules that belong beside it. */
int path_self_dir(char **ret);
/* DIR/name for that directory when such a file exists there (access(mode)); -ENOENT if not. */
int path_beside_self(const char *name, int mode, char **ret);
