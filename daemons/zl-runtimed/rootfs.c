/* SPDX-License-Identifier: Apache-2.0 */
/* rootfs.c: build a container's root file system (mounts, /dev, pivot_root, masked paths). */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fd-util.h"
#include "fileio.h"
#include "path-util.h"
#include "rootfs.h"
#include "string-util.h"

#define FD_PATH_MAX (sizeof("/proc/self/fd/") + 11)

typedef struct RootfsContext {
        const RootfsOptions *o;
        int root_fd;
        char **error;
} RootfsContext;

static const struct {
        const char *name;
        unsigned major, minor;
} default_devices[] = {
        { "null", 1, 3 },   { "zero", 1, 5 },    { "full", 1, 7 },
        { "random", 1, 8 }, { "urandom", 1, 9 }, { "tty", 5, 0 },
};

static const struct {
        const char *name, *target;
} default_symlinks[] = {
        { "fd", "/proc/self/fd" },       { "stdin", "/proc/self/fd/0" },
        { "stdout", "/proc/self/fd/1" }, { "stderr", "/proc/self/fd/2" },
        { "ptmx", "pts/ptmx" },
};

/* Stores "<where>: <what>: <strerror>" in *c->error and returns r (negative). */
_printf_(4, 5) static int fail(RootfsContext *c, int r, const char *where, const char *fmt, ...) {
        _cleanup_free_ char *what = NULL;
        va_list ap;
        char *s;

        assert(r < 0);
        if (!c->error)
                return r;
        va_start(ap, fmt);
        if (vasprintf(&what, fmt, ap) < 0)
                what = NULL;
        va_end(ap);
        if (!what || asprintf(&s, "%s: %s: %s", where, what, strerror(-r)) < 0)
                return r; /* no message on OOM: the caller still has the error */
        free(*c->error);
        *c->error = s;
        return r;
}

static char *fd_path(int fd, char buf[static FD_PATH_MAX]) {
        snprintf(buf, FD_PATH_MAX, "/proc/self/fd/%d", fd);
        return buf;
}

/* Opens path (absolute or not, taken relative to the container root) without letting a
 * symlink or ".." lead out of the root. */
static int open_in_root(int root_fd, const char *path, int flags) {
        struct open_how how = {
                .flags = (uint64_t) (flags | O_CLOEXEC),
                .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
        };
        const char *rel = path + strspn(path, "/");

        return (int) RET_NERRNO(syscall(SYS_openat2, root_fd, *rel ? rel : ".", &how, sizeof how));
}

/* Like open_in_root(..., O_PATH), but creates the missing directories and, when file is set,
 * the last component as an empty file. A dangling symlink on the way has its target created,
 * inside the root like everything else. */
static int open_or_create_in_root_depth(int root_fd, const char *path, bool file, unsigned depth);

/* The symlink name in parent_fd (reached as path inside the root) points nowhere: create its
 * target, resolved in the root. */
static int create_link_target(int root_fd, int parent_fd, const char *path, const char *name,
                              bool file, unsigned depth) {
        _cleanup_free_ char *dir = NULL, *t = NULL;
        char target[PATH_MAX];
        ssize_t n;
        int fd;

        if (depth >= 40)
                return -ELOOP;
        n = readlinkat(parent_fd, name, target, sizeof target - 1);
        if (n < 0)
                return -errno;
        target[n] = '\0';
        dir = strndup(path, (size_t) (name - path));
        t = target[0] == '/' ? strdup(target) : path_join(dir, target);
        if (!dir || !t)
                return -ENOMEM;
        fd = open_or_create_in_root_depth(root_fd, t, file, depth + 1);
        if (fd < 0)
                return fd;
        safe_close(fd);
        return 0;
}

static int open_or_create_in_root_depth(int root_fd, const char *path, bool file, unsigned depth) {
        _cleanup_close_ int parent = -EBADF;
        _cleanup_free_ char *p = NULL;
        char *s;
        int fd;

        fd = open_in_root(root_fd, path, O_PATH);
        if (fd != -ENOENT)
                return fd;

        p = strdup(path + strspn(path, "/"));
        if (!p)
                return -ENOMEM;
        path_simplify(p);
        parent = open_in_root(root_fd, ".", O_PATH | O_DIRECTORY);
        if (parent < 0)
                return parent;

        for (s = p;;) {
                char *slash = strchr(s, '/');
                bool last = !slash;

                if (slash)
                        *slash = '\0';
                fd = open_in_root(root_fd, p, O_PATH);
                if (fd == -ENOENT) {
                        int r;

                        if (last && file) {
                                r = openat(parent, s,
                                           O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC,
                                           0644);
                                if (r >= 0)
                                        safe_close(r);
                        } else
                                r = mkdirat(parent, s, 0755);
                        if (r < 0 && errno != EEXIST)
                                return -errno;
                        fd = open_in_root(root_fd, p, O_PATH);
                        if (fd == -ENOENT) {
                                /* EEXIST and still not there: a dangling symlink. */
                                r = create_link_target(root_fd, parent, p, s, last && file, depth);
                                if (r < 0)
                                        return r;
                                fd = open_in_root(root_fd, p, O_PATH);
                        }
                }
                if (fd < 0 || last)
                        return fd;
                safe_close(parent);
                parent = fd;
                *slash = '/';
                s = slash + 1;
        }
}

static int open_or_create_in_root(int root_fd, const char *path, bool file) {
        return open_or_create_in_root_depth(root_fd, path, file, 0);
}

/* Splits an absolute path inside the root into its parent (opened, created if missing) and a
 * pointer to the last component. */
static int open_parent_in_root(int root_fd, const char *path, const char **ret_name) {
        _cleanup_free_ char *dir = NULL;
        const char *name = strrchr(path, '/');
        int r;

        if (!name || isempty(name + 1))
                return -EINVAL;
        r = path_dirname(path, &dir);
        if (r < 0)
                return r;
        r = open_or_create_in_root(root_fd, dir, false);
        if (r < 0)
                return r;
        *ret_name = name + 1;
        return r;
}

static void mount_flags_to_attr(unsigned long flags, struct mount_attr *attr) {
        static const struct {
                unsigned long ms;
                uint64_t attr;
        } map[] = {
                { MS_RDONLY, MOUNT_ATTR_RDONLY },         { MS_NOSUID, MOUNT_ATTR_NOSUID },
                { MS_NODEV, MOUNT_ATTR_NODEV },           { MS_NOEXEC, MOUNT_ATTR_NOEXEC },
                { MS_NODIRATIME, MOUNT_ATTR_NODIRATIME },
        };

        for (size_t i = 0; i < ELEMENTSOF(map); i++)
                if (flags & map[i].ms)
                        attr->attr_set |= map[i].attr;
        /* The atime mode is one field: setting it means clearing the others. */
        if (flags & (MS_NOATIME | MS_STRICTATIME | MS_RELATIME)) {
                attr->attr_clr |= MOUNT_ATTR__ATIME;
                attr->attr_set |= flags & MS_NOATIME       ? MOUNT_ATTR_NOATIME
                                  : flags & MS_STRICTATIME ? MOUNT_ATTR_STRICTATIME
                                                           : MOUNT_ATTR_RELATIME;
        }
}

/* A detached clone of source, with the per-mount flags set only on what was asked (so locked
 * flags of a user namespace stay as they are), moved onto target_fd. */
static int bind_mount(const char *source, int target_fd, bool recursive, unsigned long flags,
                      bool rro) {
        _cleanup_close_ int tree = -EBADF;
        struct mount_attr attr = {};

        tree = open_tree(AT_FDCWD, source,
                         OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0));
        if (tree < 0)
                return -errno;
        mount_flags_to_attr(flags, &attr);
        if ((attr.attr_set | attr.attr_clr) != 0 &&
            mount_setattr(tree, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0)
                return -errno;
        if (rro) {
                attr = (struct mount_attr){ .attr_set = MOUNT_ATTR_RDONLY };
                if (mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) < 0)
                        return -errno;
        }
        if (move_mount(tree, "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) <
            0)
                return -errno;
        return 0;
}

static int copy_data(int from, int to) {
        for (;;) {
                ssize_t n = copy_file_range(from, NULL, to, NULL, SSIZE_MAX, 0);

                if (n == 0)
                        return 0;
                if (n < 0) {
                        char buf[16384];

                        if (errno != EXDEV && errno != EINVAL && errno != EOPNOTSUPP)
                                return -errno;
                        /* Not every file system pair can do it: plain copy. */
                        while ((n = read(from, buf, sizeof buf)) > 0)
                                for (ssize_t w = 0; w < n;) {
                                        ssize_t k = write(to, buf + w, (size_t) (n - w));

                                        if (k < 0)
                                                return -errno;
                                        w += k;
                                }
                        return n < 0 ? -errno : 0;
                }
        }
}

/* Copies the tree below from_fd into to_fd (both directories opened for reading), keeping
 * modes and owners: tmpcopyup. */
static int copy_tree(int from_fd, int to_fd, unsigned depth) {
        _cleanup_close_ int dfd = -EBADF;
        DIR *d;
        struct dirent *de;
        int r = 0;

        if (depth > 256)
                return -ELOOP;
        dfd = fcntl(from_fd, F_DUPFD_CLOEXEC, 3);
        if (dfd < 0)
                return -errno;
        d = fdopendir(dfd);
        if (!d)
                return -errno;
        TAKE_FD(dfd);
        /* fdopendir() shares the offset with from_fd's duplicate: start from the top. */
        rewinddir(d);

        while (r >= 0 && (errno = 0, de = readdir(d))) {
                _cleanup_close_ int src = -EBADF, dst = -EBADF;
                struct stat st;

                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (fstatat(from_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        r = -errno;
                        break;
                }
                if (S_ISDIR(st.st_mode)) {
                        if (mkdirat(to_fd, de->d_name, st.st_mode & 07777) < 0 ||
                            (src = openat(from_fd, de->d_name,
                                          O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
                            (dst = openat(to_fd, de->d_name,
                                          O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
                                r = -errno;
                                break;
                        }
                        r = copy_tree(src, dst, depth + 1);
                } else if (S_ISREG(st.st_mode)) {
                        src = openat(from_fd, de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
                        if (src >= 0)
                                dst = openat(to_fd, de->d_name,
                                             O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                                             st.st_mode & 07777);
                        r = src < 0 || dst < 0 ? -errno : copy_data(src, dst);
                } else if (S_ISLNK(st.st_mode)) {
                        char target[PATH_MAX];
                        ssize_t n = readlinkat(from_fd, de->d_name, target, sizeof target - 1);

                        if (n >= 0) {
                                target[n] = '\0';
                                n = symlinkat(target, to_fd, de->d_name);
                        }
                        r = n < 0 ? -errno : 0;
                } else
                        r = RET_NERRNO(mknodat(to_fd, de->d_name, st.st_mode, st.st_rdev));
                if (r >= 0 &&
                    fchownat(to_fd, de->d_name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
                        r = -errno;
        }
        if (r >= 0 && errno != 0)
                r = -errno;
        closedir(d);
        return r;
}

/* cgroup v1 (or hybrid) as runc shows it: a read-only tmpfs holding each hierarchy, mounted
 * fresh so that the container's cgroup namespace decides what it sees. */
static int mount_cgroup_v1(RootfsContext *c, const OciMount *m, int target_fd, const char *where) {
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_close_ int tmp_fd = -EBADF;
        _cleanup_free_ char *line = NULL;
        unsigned long sub_flags = m->flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
        char fdp[FD_PATH_MAX];
        size_t n = 0;
        int r;

        if (mount("tmpfs", fd_path(target_fd, fdp), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                  "mode=755") < 0)
                return fail(c, -errno, where, "mount of a tmpfs for the cgroup hierarchies failed");
        tmp_fd = open_in_root(c->root_fd, m->destination, O_PATH | O_DIRECTORY);
        if (tmp_fd < 0)
                return fail(c, tmp_fd, where, "cannot open the mounted tmpfs");

        f = fopen("/proc/self/mountinfo", "re");
        if (!f)
                return fail(c, -errno, where, "cannot read /proc/self/mountinfo");
        while (getline(&line, &n, f) > 0) {
                _cleanup_close_ int sub_fd = -EBADF;
                _cleanup_free_ char *opts = NULL;
                char mnt[PATH_MAX], fstype[64], super[1024], *name, *sep, *tok, *save = NULL;
                bool v2;

                if (sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1)
                        continue;
                sep = strstr(line, " - ");
                if (!sep || sscanf(sep, " - %63s %*s %1023s", fstype, super) != 2)
                        continue;
                v2 = streq(fstype, "cgroup2");
                if (!v2 && !streq(fstype, "cgroup"))
                        continue;
                name = path_startswith(mnt, CGROUP_ROOT_DEFAULT);
                if (isempty(name) || strchr(name, '/'))
                        continue;

                /* The controllers and name=, not rw/ro or a release agent (refused in a
                 * namespace). */
                for (tok = strtok_r(super, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
                        if (!v2 && !streq(tok, "rw") && !streq(tok, "ro") &&
                            !startswith(tok, "release_agent=") &&
                            strextend(&opts, opts ? "," : "", tok) < 0)
                                return fail(c, -ENOMEM, where, "out of memory");

                if (mkdirat(tmp_fd, name, 0755) < 0)
                        return fail(c, -errno, where, "cannot create %s/%s", m->destination, name);
                sub_fd = openat(tmp_fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (sub_fd < 0)
                        return fail(c, -errno, where, "cannot open %s/%s", m->destination, name);
                if (mount(v2 ? "cgroup2" : "cgroup", fd_path(sub_fd, fdp), fstype, sub_flags,
                          opts) < 0)
                        return fail(c, -errno, where, "mount of the %s hierarchy '%s' failed",
                                    fstype, name);

                /* Co-mounted controllers ("cpu,cpuacct") get a link by each name. */
                if (!v2 && strchr(name, ',')) {
                        char names[PATH_MAX];

                        snprintf(names, sizeof names, "%s", name);
                        for (tok = strtok_r(names, ",", &save); tok;
                             tok = strtok_r(NULL, ",", &save))
                                if (symlinkat(name, tmp_fd, tok) < 0 && errno != EEXIST)
                                        return fail(c, -errno, where, "cannot link '%s'", tok);
                }
        }

        r = mount(NULL, fd_path(tmp_fd, fdp), NULL,
                  MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
        if (r < 0)
                return fail(c, -errno, where, "remount of the cgroup tmpfs read-only failed");
        return 0;
}

static bool config_has_new_netns(const OciConfig *config) {
        for (size_t i = 0; i < config->linux_.n_namespaces; i++)
                if (config->linux_.namespaces[i].type == OCI_NAMESPACE_NETWORK &&
                    !config->linux_.namespaces[i].path)
                        return true;
        return false;
}

static int setup_mount(RootfsContext *c, size_t i) {
        const OciMount *m = &c->o->config->mounts[i];
        _cleanup_close_ int target_fd = -EBADF, old_fd = -EBADF, top_fd = -EBADF;
        _cleanup_free_ char *where = NULL;
        bool bind = m->flags & MS_BIND, file = false;
        bool cgroup = !bind && m->type && streq(m->type, "cgroup");
        char fdp[FD_PATH_MAX];
        int r;

        if (asprintf(&where, "mounts[%zu] (%s)", i, m->destination) < 0)
                return -ENOMEM;

        if (bind) {
                struct stat st;

                /* Checked first, so that a missing source leaves no destination behind. */
                if (stat(m->source, &st) < 0)
                        return fail(c, -errno, where, "mount of '%s' failed", m->source);
                file = !S_ISDIR(st.st_mode);
        }
        target_fd = open_or_create_in_root(c->root_fd, m->destination, file);
        if (target_fd < 0)
                return fail(c, target_fd, where, "cannot create the mount point");

        if (m->extra & OCI_MOUNT_TMPCOPYUP) {
                old_fd = open_in_root(c->root_fd, m->destination, O_RDONLY | O_DIRECTORY);
                if (old_fd < 0)
                        return fail(c, old_fd, where, "cannot open the directory to copy up");
        }

        if (bind)
                r = bind_mount(m->source, target_fd, m->flags & MS_REC, m->flags,
                               m->extra & OCI_MOUNT_RRO);
        else if (cgroup && c->o->cgroup_mode == CGROUP_MODE_V2)
                r = RET_NERRNO(
                        mount("cgroup2", fd_path(target_fd, fdp), "cgroup2", m->flags, NULL));
        else if (cgroup) {
                r = mount_cgroup_v1(c, m, target_fd, where);
                if (r < 0)
                        return r; /* it said what failed */
        } else {
                r = RET_NERRNO(mount(m->source ?: m->type, fd_path(target_fd, fdp), m->type,
                                     m->flags & ~MS_REC, m->data));
                /* Without a network namespace of our own the kernel refuses a new sysfs
                 * instance: show the host's, read-only. */
                if (r == -EPERM && streq(m->type, "sysfs") && !config_has_new_netns(c->o->config))
                        r = bind_mount("/sys", target_fd, true,
                                       (m->flags & (MS_NOSUID | MS_NODEV | MS_NOEXEC)) | MS_RDONLY,
                                       true);
        }
        if (r < 0)
                return fail(c, r, where, "mount of '%s' failed", strna(m->source ?: m->type));

        if (!(m->extra & (OCI_MOUNT_TMPCOPYUP | OCI_MOUNT_RRO)) && m->propagation == 0)
                return 0;

        /* What follows acts on the new mount, which the old descriptor is beneath. */
        top_fd = open_in_root(c->root_fd, m->destination,
                              (m->extra & OCI_MOUNT_TMPCOPYUP) ? O_RDONLY | O_DIRECTORY : O_PATH);
        if (top_fd < 0)
                return fail(c, top_fd, where, "cannot open the new mount");

        if (m->extra & OCI_MOUNT_TMPCOPYUP) {
                struct stat st;

                if (fstat(old_fd, &st) < 0 || fchmod(top_fd, st.st_mode & 07777) < 0 ||
                    fchown(top_fd, st.st_uid, st.st_gid) < 0)
                        return fail(c, -errno, where, "cannot copy the directory's owner and mode");
                r = copy_tree(old_fd, top_fd, 0);
                if (r < 0)
                        return fail(c, r, where, "copying the directory up failed");
        }
        if ((m->extra & OCI_MOUNT_RRO) && !bind) {
                struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY };

                if (mount_setattr(top_fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) < 0)
                        return fail(c, -errno, where,
                                    "making the mount recursively read-only failed");
        }
        if (m->propagation != 0 &&
            mount(NULL, fd_path(top_fd, fdp), NULL, m->propagation, NULL) < 0)
                return fail(c, -errno, where, "setting the propagation failed");
        return 0;
}

static int make_device(RootfsContext *c, int parent_fd, const char *name, const OciDevice *d,
                       const char *where) {
        mode_t mode = d->has_file_mode ? d->file_mode : 0666;
        char fdp[FD_PATH_MAX];

        if (c->o->in_user_namespace) {
                _cleanup_close_ int fd = -EBADF;

                /* mknod of a device is not allowed here: the host's node is bound onto an empty
                 * file (or onto what the rootfs has there, never opened). */
                if (mknodat(parent_fd, name, S_IFREG, 0) < 0 && errno != EEXIST)
                        return fail(c, -errno, where, "cannot create the mount point");
                fd = openat(parent_fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0)
                        return fail(c, -errno, where, "cannot open the mount point");
                if (mount(d->path, fd_path(fd, fdp), NULL, MS_BIND, NULL) < 0)
                        return fail(c, -errno, where, "bind mount of the host's '%s' failed",
                                    d->path);
                return 0;
        }

        mode |= d->type == 'p' ? S_IFIFO : d->type == 'b' ? S_IFBLK : S_IFCHR;
        for (unsigned attempt = 0;; attempt++) {
                if (mknodat(parent_fd, name, mode,
                            makedev((unsigned) d->major, (unsigned) d->minor)) >= 0)
                        break;
                /* The rootfs may ship its own node or file: ours replaces it. */
                if (errno != EEXIST || attempt > 0 || unlinkat(parent_fd, name, 0) < 0)
                        return fail(c, -errno, where, "mknod failed");
        }
        if ((d->has_uid || d->has_gid) &&
            fchownat(parent_fd, name, d->has_uid ? d->uid : (uid_t) -1,
                     d->has_gid ? d->gid : (gid_t) -1, AT_SYMLINK_NOFOLLOW) < 0)
                return fail(c, -errno, where, "chown failed");
        return 0;
}

static bool config_has_device(const OciConfig *config, const char *path) {
        for (size_t i = 0; i < config->linux_.n_devices; i++)
                if (streq(config->linux_.devices[i].path, path))
                        return true;
        return false;
}

static int setup_dev(RootfsContext *c) {
        const OciConfig *config = c->o->config;
        _cleanup_close_ int dev_fd = -EBADF;
        bool dev_tmpfs = false, dev_bind = false;
        int r;

        for (size_t i = 0; i < config->n_mounts; i++)
                if (streq(config->mounts[i].destination, "/dev") ||
                    streq(config->mounts[i].destination, "/dev/")) {
                        dev_bind = config->mounts[i].flags & MS_BIND;
                        dev_tmpfs = !dev_bind && config->mounts[i].type &&
                                    streq(config->mounts[i].type, "tmpfs");
                }
        /* The host's /dev (or one prepared by the caller) is never written to. */
        if (dev_bind)
                return 0;

        if (dev_tmpfs) {
                dev_fd = open_in_root(c->root_fd, "/dev", O_PATH | O_DIRECTORY);
                if (dev_fd < 0)
                        return fail(c, dev_fd, "/dev", "cannot open");

                for (size_t i = 0; i < ELEMENTSOF(default_devices); i++) {
                        char path[32];
                        OciDevice d = { .path = path,
                                        .type = 'c',
                                        .major = default_devices[i].major,
                                        .minor = default_devices[i].minor };

                        snprintf(path, sizeof path, "/dev/%s", default_devices[i].name);
                        if (config_has_device(config, path))
                                continue;
                        r = make_device(c, dev_fd, default_devices[i].name, &d, path);
                        if (r < 0)
                                return r;
                }
        }

        for (size_t i = 0; i < config->linux_.n_devices; i++) {
                const OciDevice *d = &config->linux_.devices[i];
                _cleanup_close_ int parent_fd = -EBADF;
                _cleanup_free_ char *where = NULL;
                const char *name;

                if (asprintf(&where, "linux.devices[%zu] (%s)", i, d->path) < 0)
                        return -ENOMEM;
                parent_fd = open_parent_in_root(c->root_fd, d->path, &name);
                if (parent_fd < 0)
                        return fail(c, parent_fd, where, "cannot create the parent directory");
                r = make_device(c, parent_fd, name, d, where);
                if (r < 0)
                        return r;
        }

        if (!dev_tmpfs)
                return 0;
        for (size_t i = 0; i < ELEMENTSOF(default_symlinks); i++)
                if (symlinkat(default_symlinks[i].target, dev_fd, default_symlinks[i].name) < 0 &&
                    errno != EEXIST)
                        return fail(c, -errno, "/dev", "cannot create the symlink '%s'",
                                    default_symlinks[i].name);
        if (access("/proc/kcore", F_OK) >= 0 && symlinkat("/proc/kcore", dev_fd, "core") < 0 &&
            errno != EEXIST)
                return fail(c, -errno, "/dev", "cannot create the symlink 'core'");
        return 0;
}

/* Appends s to *p with the characters the overlay option parser splits on escaped. */
static int strextend_escaped(char **p, const char *s) {
        for (; *s; s++) {
                char buf[3] = { '\\', *s, '\0' };
                int r = strextend(p, strchr(",:\\", *s) ? buf : buf + 1);

                if (r < 0)
                        return r;
        }
        return 0;
}

/* Through the new mount API, which takes each layer on its own ("lowerdir+", kernel 6.8):
 * for more layers than one page of mount options holds. */
static int mount_overlay_fsconfig(RootfsContext *c, const ContainerOverlay *ov) {
        _cleanup_close_ int fs_fd = -EBADF, mnt_fd = -EBADF;

        fs_fd = fsopen("overlay", FSOPEN_CLOEXEC);
        if (fs_fd < 0)
                return fail(c, -errno, "root.path", "overlay: fsopen failed");
        for (char *const *l = ov->lowers; *l; l++)
                if (fsconfig(fs_fd, FSCONFIG_SET_STRING, "lowerdir+", *l, 0) < 0)
                        return fail(c, -errno, "root.path", "overlay: lower directory '%s'", *l);
        if (fsconfig(fs_fd, FSCONFIG_SET_STRING, "upperdir", ov->upper, 0) < 0)
                return fail(c, -errno, "root.path", "overlay: upper directory '%s'", ov->upper);
        if (fsconfig(fs_fd, FSCONFIG_SET_STRING, "workdir", ov->work, 0) < 0)
                return fail(c, -errno, "root.path", "overlay: work directory '%s'", ov->work);
        if (c->o->in_user_namespace && fsconfig(fs_fd, FSCONFIG_SET_FLAG, "userxattr", NULL, 0) < 0)
                return fail(c, -errno, "root.path", "overlay: userxattr");
        if (fsconfig(fs_fd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
                return fail(c, -errno, "root.path", "mount of the overlay on '%s' failed",
                            c->o->root);
        mnt_fd = fsmount(fs_fd, FSMOUNT_CLOEXEC, 0);
        if (mnt_fd < 0 || move_mount(mnt_fd, "", AT_FDCWD, c->o->root, MOVE_MOUNT_F_EMPTY_PATH) < 0)
                return fail(c, -errno, "root.path", "mount of the overlay on '%s' failed",
                            c->o->root);
        return 0;
}

static int mount_overlay(RootfsContext *c, const ContainerOverlay *ov) {
        _cleanup_free_ char *opts = NULL;
        int r;

        if (!ov->lowers || !ov->lowers[0] || isempty(ov->upper) || isempty(ov->work))
                return fail(c, -EINVAL, "root.path",
                            "overlay needs a lower, upper and work directory");

        r = strextend(&opts, "lowerdir=");
        for (char *const *l = ov->lowers; r >= 0 && *l; l++) {
                if (l != ov->lowers)
                        r = strextend(&opts, ":");
                if (r >= 0)
                        r = strextend_escaped(&opts, *l);
        }
        if (r >= 0)
                r = strextend(&opts, ",upperdir=");
        if (r >= 0)
                r = strextend_escaped(&opts, ov->upper);
        if (r >= 0)
                r = strextend(&opts, ",workdir=");
        if (r >= 0)
                r = strextend_escaped(&opts, ov->work);
        if (r >= 0 && c->o->in_user_namespace)
                r = strextend(&opts, ",userxattr");
        if (r < 0)
                return fail(c, r, "root.path", "overlay options");

        if (strlen(opts) >= (size_t) sysconf(_SC_PAGESIZE))
                return mount_overlay_fsconfig(c, ov);
        if (mount("overlay", c->o->root, "overlay", 0, opts) < 0)
                return fail(c, -errno, "root.path", "mount of the overlay on '%s' failed",
                            c->o->root);
        return 0;
}

static int mask_paths(RootfsContext *c) {
        char *const *masked = c->o->config->linux_.masked_paths;

        for (size_t i = 0; masked && masked[i]; i++) {
                _cleanup_free_ char *where = NULL;
                struct stat st;
                int r;

                if (stat(masked[i], &st) < 0) {
                        if (errno == ENOENT)
                                continue;
                        r = -errno;
                } else if (S_ISDIR(st.st_mode))
                        r = RET_NERRNO(mount("tmpfs", masked[i], "tmpfs", MS_RDONLY, "mode=555"));
                else
                        r = RET_NERRNO(mount("/dev/null", masked[i], NULL, MS_BIND, NULL));
                if (r >= 0)
                        continue;
                if (asprintf(&where, "linux.maskedPaths[%zu] (%s)", i, masked[i]) < 0)
                        return -ENOMEM;
                return fail(c, r, where, "masking failed");
        }
        return 0;
}

static int readonly_paths(RootfsContext *c) {
        char *const *ro = c->o->config->linux_.readonly_paths;
        struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY };

        for (size_t i = 0; ro && ro[i]; i++) {
                _cleanup_free_ char *where = NULL;
                int r;

                /* mount_setattr() only adds read-only: nosuid, nodev, noexec and flags locked
                 * by a user namespace stay. */
                r = RET_NERRNO(mount(ro[i], ro[i], NULL, MS_BIND | MS_REC, NULL));
                if (r == -ENOENT)
                        continue;
                if (r >= 0)
                        r = RET_NERRNO(
                                mount_setattr(AT_FDCWD, ro[i], AT_RECURSIVE, &attr, sizeof attr));
                if (r >= 0)
                        continue;
                if (asprintf(&where, "linux.readonlyPaths[%zu] (%s)", i, ro[i]) < 0)
                        return -ENOMEM;
                return fail(c, r, where, "making it read-only failed");
        }
        return 0;
}

static int rootfs_setup_real(RootfsContext *c) {
        const RootfsOptions *o = c->o;
        unsigned long propagation = o->config->linux_.rootfs_propagation;
        bool shared = propagation & MS_SHARED, unbindable = propagation & MS_UNBINDABLE;
        char fdp[FD_PATH_MAX];
        int r;

        /* Slave first in every case, so that nothing we do reaches the host. An unbindable
         * root could not be bound onto itself: that one is set after the pivot. */
        if (mount(NULL, "/", NULL, MS_REC | (propagation & MS_PRIVATE ? MS_PRIVATE : MS_SLAVE),
                  NULL) < 0 ||
            (shared && mount(NULL, "/", NULL, MS_REC | MS_SHARED, NULL) < 0))
                return fail(c, -errno, "linux.rootfsPropagation",
                            "cannot change the propagation of '/'");

        if (o->overlay) {
                r = mount_overlay(c, o->overlay);
                if (r < 0)
                        return r;
        } else if (mount(o->root, o->root, NULL, MS_BIND | MS_REC, NULL) < 0)
                /* pivot_root needs the new root to be a mount point. */
                return fail(c, -errno, "root.path", "bind mount of '%s' failed", o->root);

        c->root_fd = open(o->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (c->root_fd < 0)
                return fail(c, -errno, "root.path", "cannot open '%s'", o->root);

        for (size_t i = 0; i < o->config->n_mounts; i++) {
                r = setup_mount(c, i);
                if (r < 0)
                        return r;
        }
        r = setup_dev(c);
        if (r < 0)
                return r;

        /* pivot_root refuses a shared new root or parent: private for the move, shared again
         * (a peer group of the container's own) after. */
        if (shared && (mount(NULL, "/", NULL, MS_PRIVATE, NULL) < 0 ||
                       mount(NULL, fd_path(c->root_fd, fdp), NULL, MS_PRIVATE, NULL) < 0))
                return fail(c, -errno, "linux.rootfsPropagation",
                            "cannot make the roots private for pivot_root");
        if (fchdir(c->root_fd) < 0)
                return fail(c, -errno, "root.path", "chdir to '%s' failed", o->root);
        if (syscall(SYS_pivot_root, ".", ".") < 0)
                return fail(c, -errno, "root.path", "pivot_root to '%s' failed", o->root);
        /* The old root now sits on top of the new one: detach it, and the host with it. */
        if (umount2(".", MNT_DETACH) < 0)
                return fail(c, -errno, "root.path", "detaching the host's root failed");
        if (chdir("/") < 0)
                return fail(c, -errno, "root.path", "chdir to '/' failed");
        if ((shared || unbindable) &&
            mount(NULL, "/", NULL, shared ? MS_SHARED : propagation, NULL) < 0)
                return fail(c, -errno, "linux.rootfsPropagation",
                            "cannot change the propagation of '/'");

        if (o->after_pivot) {
                r = o->after_pivot(o->userdata, c->error);
                if (r < 0)
                        return r;
        }

        r = mask_paths(c);
        if (r < 0)
                return r;
        r = readonly_paths(c);
        if (r < 0)
                return r;

        if (o->config->root_readonly) {
                struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY };

                if (mount_setattr(AT_FDCWD, "/", 0, &attr, sizeof attr) < 0)
                        return fail(c, -errno, "root.readonly", "remount of '/' read-only failed");
        }
        return 0;
}

int rootfs_setup(const RootfsOptions *o, char **ret_error) {
        _cleanup_free_ char *error = NULL;
        RootfsContext c = { .o = o, .root_fd = -EBADF, .error = ret_error ? &error : NULL };
        mode_t saved_umask;
        int r;

        assert(o);
        assert(o->config);
        if (!path_is_absolute(o->root)) {
                if (ret_error)
                        *ret_error = strdup("root.path: the root must be an absolute path");
                return -EINVAL;
        }

        /* Modes in the config are meant literally. */
        saved_umask = umask(0);
        r = rootfs_setup_real(&c);
        umask(saved_umask);
        safe_close(c.root_fd);

        if (r < 0 && ret_error)
                *ret_error = TAKE_PTR(error);
        return r;
}
