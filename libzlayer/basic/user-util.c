/* SPDX-License-Identifier: Apache-2.0 */
/* user-util.c: user and group lookups in a container's own passwd and group files. */
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "fileio.h"
#include "macro.h"
#include "parse-util.h"
#include "string-util.h"
#include "user-util.h"

/* Real passwd/group files are a few KiB; a bound keeps a hostile image from exhausting memory. */
#define USER_DB_MAX_SIZE (16U * 1024U * 1024U)
#define PASSWD_FIELDS 7
#define GROUP_FIELDS 4

_printf_(3, 4) static int fail(char **ret_error, int r, const char *fmt, ...) {
        va_list ap;

        if (ret_error) {
                char *m;

                va_start(ap, fmt);
                if (vasprintf(&m, fmt, ap) < 0)
                        m = NULL;
                va_end(ap);
                if (!m)
                        return -ENOMEM;
                free(*ret_error);
                *ret_error = m;
        }
        return r;
}

/* Ids as the files and specs write them: decimal, and never (uid_t) -1, which the kernel
 * reads as "unchanged". */
static int parse_id(const char *s, uint32_t *ret) {
        unsigned v;
        int r;

        r = safe_atou(s, &v);
        if (r < 0)
                return r;
        if (v == UINT32_MAX)
                return -ERANGE;
        *ret = v;
        return 0;
}

#define FOLLOW_MAX 40

static int reopen_root(int root_fd, int *dir) {
        int fd = fcntl(root_fd, F_DUPFD_CLOEXEC, 3);

        if (fd < 0)
                return -errno;
        safe_close(*dir);
        *dir = fd;
        return 0;
}

/* What RESOLVE_IN_ROOT does, by hand, where openat2() is missing (kernels before 5.6,
 * valgrind): every component is opened with O_NOFOLLOW, symlinks are expanded here with
 * absolute targets starting again at root, and ".." never climbs above root. */
static int open_in_root_by_hand(int root_fd, const char *relpath, int flags) {
        _cleanup_close_ int dir = -EBADF;
        _cleanup_free_ char *todo = NULL;
        struct stat root_st;
        unsigned follows = 0;
        int r;

        todo = strdup(relpath);
        if (!todo)
                return -ENOMEM;
        if (fstat(root_fd, &root_st) < 0)
                return -errno;
        r = reopen_root(root_fd, &dir);
        if (r < 0)
                return r;

        for (;;) {
                _cleanup_close_ int fd = -EBADF;
                char comp[NAME_MAX + 1], *p = todo, *rest;
                struct stat st;
                size_t n;

                p += strspn(p, "/");
                n = strcspn(p, "/");
                if (n == 0)
                        return -EISDIR; /* the path names a directory, not a file */
                if (n > NAME_MAX)
                        return -ENAMETOOLONG;
                memcpy(comp, p, n);
                comp[n] = '\0';
                rest = p + n;
                rest += strspn(rest, "/");

                if (streq(comp, ".") || streq(comp, "..")) {
                        if (fstat(dir, &st) < 0)
                                return -errno;
                        if (streq(comp, "..") &&
                            (st.st_dev != root_st.st_dev || st.st_ino != root_st.st_ino)) {
                                fd = openat(dir, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
                                if (fd < 0)
                                        return -errno;
                                safe_close(dir);
                                dir = TAKE_FD(fd);
                        }
                        memmove(todo, rest, strlen(rest) + 1);
                        continue;
                }

                fd = openat(dir, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0)
                        return -errno;
                if (fstat(fd, &st) < 0)
                        return -errno;
                if (S_ISLNK(st.st_mode)) {
                        char target[PATH_MAX];
                        ssize_t k;
                        char *t;

                        if (++follows > FOLLOW_MAX)
                                return -ELOOP;
                        k = readlinkat(fd, "", target, sizeof target - 1);
                        if (k < 0)
                                return -errno;
                        target[k] = '\0';
                        if (target[0] == '/') {
                                r = reopen_root(root_fd, &dir);
                                if (r < 0)
                                        return r;
                        }
                        t = isempty(rest) ? strdup(target) : strjoin(target, "/", rest);
                        if (!t)
                                return -ENOMEM;
                        free_and_replace(todo, t);
                        continue;
                }
                if (isempty(rest)) {
                        /* O_NOFOLLOW: a symlink swapped in meanwhile fails instead of escaping. */
                        r = openat(dir, comp, flags | O_NOFOLLOW);
                        return r < 0 ? -errno : r;
                }
                if (!S_ISDIR(st.st_mode))
                        return -ENOTDIR;
                safe_close(dir);
                dir = TAKE_FD(fd);
                memmove(todo, rest, strlen(rest) + 1);
        }
}

static int open_in_root(int dfd, const char *relpath) {
        struct open_how how = {
                /* O_NONBLOCK: a FIFO planted at /etc/passwd must not hang us. */
                .flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
                .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
        };
        int fd;

        fd = (int) syscall(SYS_openat2, dfd, relpath, &how, sizeof how);
        if (fd < 0 && errno == ENOSYS)
                return open_in_root_by_hand(dfd, relpath, (int) how.flags);
        if (fd < 0)
                return -errno;
        return fd;
}

/* Reads root/relpath; a missing file is an empty database (*ret NULL). */
static int load_db(int root_fd, const char *relpath, char **ret, size_t *ret_size,
                   char **ret_error) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        int r;

        fd = open_in_root(root_fd, relpath);
        if (fd == -ENOENT) {
                *ret = NULL;
                *ret_size = 0;
                return 0;
        }
        if (fd < 0)
                return fail(ret_error, fd, "cannot open /%s of the container: %s", relpath,
                            strerror(-fd));
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return fail(ret_error, -EINVAL, "/%s of the container is not a regular file",
                            relpath);
        r = read_full_fd(fd, USER_DB_MAX_SIZE, ret, ret_size);
        if (r < 0)
                return fail(ret_error, r, "cannot read /%s of the container: %s", relpath,
                            strerror(-r));
        return 0;
}

/* Splits line at ':' in place into at most max fields (the last keeps any further colons). */
static size_t split_fields(char *line, char **fields, size_t max) {
        size_t n = 0;

        fields[n++] = line;
        for (char *p = line; *p && n < max; p++)
                if (*p == ':') {
                        *p = '\0';
                        fields[n++] = p + 1;
                }
        return n;
}

/* Calls f for each line of a database that is neither empty, a comment, nor holds a NUL.
 * Stops when f returns non-zero and returns that. The buffer is modified. */
typedef int (*LineFunc)(char *line, void *userdata);
static int foreach_line(char *data, size_t size, LineFunc f, void *userdata) {
        char *p = data, *end = data + size;

        while (p && p < end) {
                char *nl = memchr(p, '\n', (size_t) (end - p));
                size_t len = nl ? (size_t) (nl - p) : (size_t) (end - p);
                char *line = p;
                int r;

                p = nl ? nl + 1 : NULL;
                line[len] = '\0';
                if (len > 0 && line[len - 1] == '\r')
                        line[--len] = '\0';
                if (len == 0 || line[0] == '#' || strlen(line) != len)
                        continue;
                r = f(line, userdata);
                if (r != 0)
                        return r;
        }
        return 0;
}

/* NIS compat entries ("+", "-name") name no real user. */
static bool name_is_valid(const char *s) {
        return !isempty(s) && s[0] != '+' && s[0] != '-';
}

typedef struct PasswdMatch {
        const char *name; /* match by name if set, else by uid */
        uid_t uid;
        bool found;
        char *found_name, *home; /* point into the buffer */
        uid_t found_uid;
        gid_t gid;
} PasswdMatch;

static int passwd_line(char *line, void *userdata) {
        PasswdMatch *m = userdata;
        char *f[PASSWD_FIELDS];
        uint32_t uid, gid;
        size_t n;

        n = split_fields(line, f, PASSWD_FIELDS);
        if (n < 4 || !name_is_valid(f[0]))
                return 0;
        if (parse_id(f[2], &uid) < 0 || parse_id(f[3], &gid) < 0)
                return 0;
        if (m->name ? !streq(m->name, f[0]) : m->uid != uid)
                return 0;
        m->found = true;
        m->found_name = f[0];
        m->found_uid = uid;
        m->gid = gid;
        m->home = n >= 6 ? f[5] : NULL;
        return 1;
}

typedef struct GroupMatch {
        const char *name; /* the group to find, or NULL to collect memberships */
        gid_t gid;
        bool found;
        const char *member; /* collect the groups listing this user */
        gid_t *gids;
        size_t n_gids;
        int error;
} GroupMatch;

static bool member_of(char *members, const char *user) {
        for (char *s = members, *comma; s; s = comma ? comma + 1 : NULL) {
                comma = strchr(s, ',');
                if (comma ? (size_t) (comma - s) == strlen(user) && strneq(s, user, comma - s)
                          : streq(s, user))
                        return true;
        }
        return false;
}

static int group_line(char *line, void *userdata) {
        GroupMatch *m = userdata;
        char *f[GROUP_FIELDS];
        uint32_t gid;
        size_t n;
        gid_t *a;

        n = split_fields(line, f, GROUP_FIELDS);
        if (n < 3 || !name_is_valid(f[0]) || parse_id(f[2], &gid) < 0)
                return 0;
        if (m->name) {
                if (!streq(m->name, f[0]))
                        return 0;
                m->found = true;
                m->gid = gid;
                return 1;
        }
        if (n < 4 || !member_of(f[3], m->member))
                return 0;
        for (size_t i = 0; i < m->n_gids; i++)
                if (m->gids[i] == gid)
                        return 0;
        a = reallocarray(m->gids, m->n_gids + 1, sizeof(gid_t));
        if (!a) {
                m->error = -ENOMEM;
                return 1;
        }
        m->gids = a;
        m->gids[m->n_gids++] = gid;
        return 0;
}

static int display(const char *s, char **ret) {
        *ret = string_escape_for_display(s, 128);
        return *ret ? 0 : -ENOMEM;
}

int user_resolve(const char *root, const char *spec, uid_t *ret_uid, gid_t *ret_gid,
                 gid_t **ret_gids, size_t *ret_n_gids, char **ret_home, char **ret_error) {
        _cleanup_free_ char *user = NULL, *passwd = NULL, *group = NULL, *shown = NULL;
        _cleanup_free_ char *home = NULL;
        _cleanup_free_ gid_t *gids = NULL;
        _cleanup_close_ int root_fd = -EBADF;
        size_t passwd_size, group_size, n_gids = 0;
        PasswdMatch pm = {};
        const char *group_part;
        uint32_t id;
        gid_t gid;
        int r;

        if (!spec)
                return -EINVAL;
        r = display(spec, &shown);
        if (r < 0)
                return r;
        group_part = strchr(spec, ':');
        user = group_part ? strndup(spec, (size_t) (group_part - spec)) : strdup(spec);
        if (!user)
                return -ENOMEM;
        if (group_part)
                group_part++;
        if (isempty(user))
                return fail(ret_error, -EINVAL, "user spec '%s': the user is empty", shown);
        if (group_part && (isempty(group_part) || strchr(group_part, ':')))
                return fail(ret_error, -EINVAL, "user spec '%s': bad group", shown);

        root_fd = open(root ?: "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0) {
                _cleanup_free_ char *d = NULL;

                r = -errno;
                if (display(root ?: "/", &d) < 0)
                        return -ENOMEM;
                return fail(ret_error, r, "cannot open the container's root '%s': %s", d,
                            strerror(-r));
        }
        r = load_db(root_fd, "etc/passwd", &passwd, &passwd_size, ret_error);
        if (r < 0)
                return r;
        if (parse_id(user, &id) >= 0) {
                pm.uid = id;
        } else if (strspn(user, "0123456789") == strlen(user)) {
                return fail(ret_error, -EINVAL, "user spec '%s': uid out of range", shown);
        } else
                pm.name = user;
        if (passwd)
                (void) foreach_line(passwd, passwd_size, passwd_line, &pm);
        if (!pm.found) {
                if (pm.name) {
                        _cleanup_free_ char *u = NULL;

                        r = display(user, &u);
                        if (r < 0)
                                return r;
                        return fail(ret_error, -ENOENT,
                                    "user '%s' not found in /etc/passwd of the container", u);
                }
                pm.found_uid = pm.uid;
                pm.gid = 0;
        }
        gid = pm.gid;
        home = strdup(pm.found && !isempty(pm.home) ? pm.home : "/");
        if (!home)
                return -ENOMEM;

        if (group_part || pm.found) {
                r = load_db(root_fd, "etc/group", &group, &group_size, ret_error);
                if (r < 0)
                        return r;
        }
        if (group_part) {
                GroupMatch gm = {};

                if (parse_id(group_part, &id) >= 0)
                        gid = id;
                else if (strspn(group_part, "0123456789") == strlen(group_part))
                        return fail(ret_error, -EINVAL, "user spec '%s': gid out of range", shown);
                else {
                        gm.name = group_part;
                        if (group)
                                (void) foreach_line(group, group_size, group_line, &gm);
                        if (!gm.found) {
                                _cleanup_free_ char *g = NULL;

                                r = display(group_part, &g);
                                if (r < 0)
                                        return r;
                                return fail(ret_error, -ENOENT,
                                            "group '%s' not found in /etc/group of the container",
                                            g);
                        }
                        gid = gm.gid;
                }
        } else if (pm.found && group) {
                GroupMatch gm = { .member = pm.found_name };

                (void) foreach_line(group, group_size, group_line, &gm);
                gids = gm.gids;
                n_gids = gm.n_gids;
                if (gm.error < 0)
                        return gm.error;
        }

        if (ret_uid)
                *ret_uid = pm.found_uid;
        if (ret_gid)
                *ret_gid = gid;
        if (ret_gids)
                *ret_gids = TAKE_PTR(gids);
        if (ret_n_gids)
                *ret_n_gids = n_gids;
        if (ret_home)
                *ret_home = TAKE_PTR(home);
        return 0;
}
