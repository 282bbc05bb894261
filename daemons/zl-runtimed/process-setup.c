/* SPDX-License-Identifier: Apache-2.0 */
/* process-setup.c: hostname, sysctls, rlimits, identity and executable lookup in the init. */
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/capability.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "cap-util.h"
#include "fileio.h"
#include "macro.h"
#include "path-util.h"
#include "process-setup.h"
#include "string-util.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
/* The kernel's limit for both names (__NEW_UTS_LEN). */
#define UTS_NAME_MAX 64
#define DISPLAY_MAX 256

/* User strings in messages are escaped; on OOM the message says so rather than failing. */
typedef struct Shown {
        char *s;
} Shown;
static void shown_done(Shown *d) {
        free(d->s);
}
#define _cleanup_shown_ _cleanup_(shown_done)
static const char *show(Shown *d, const char *s) {
        free(d->s);
        d->s = string_escape_for_display(strempty(s), DISPLAY_MAX);
        return d->s ?: "(out of memory)";
}

static const char *cap_name(int cap) {
        return capability_to_name(cap) ?: "unknown capability";
}

/* ---- kernel settings ---- */

/* sysctl(8) semantics: when the first separator is '.', dots separate components and a '/'
 * stands for a literal dot (net.ipv4.conf.eth0/100.rp_filter); else the name is a path. */
static int sysctl_path(const char *key, char **ret) {
        _cleanup_free_ char *k = NULL;
        bool dotted;

        if (isempty(key) || key[0] == '/' || key[0] == '.')
                return -EINVAL;
        k = strdup(key);
        if (!k)
                return -ENOMEM;
        dotted = key[strcspn(key, "./")] == '.';
        if (dotted)
                for (char *c = k; *c; c++)
                        *c = *c == '.' ? '/' : *c == '/' ? '.' : *c;
        /* The name becomes a path under /proc/sys: no empty, "." or ".." component. */
        for (const char *c = k; *c;) {
                size_t n = strcspn(c, "/");

                if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && strneq(c, "..", 2)))
                        return -EINVAL;
                c += n;
                if (*c == '/' && *++c == '\0')
                        return -EINVAL;
        }
        *ret = strjoin("/proc/sys/", k);
        return *ret ? 0 : -ENOMEM;
}

static bool has_namespace(const OciLinux *l, OciNamespaceType t) {
        for (size_t i = 0; i < l->n_namespaces; i++)
                if (l->namespaces[i].type == t)
                        return true;
        return false;
}

/* Like runc: a sysctl is only written when it belongs to a namespace of the container's own
 * (created or joined), since anything else would change the host. */
static int sysctl_check_namespace(const OciLinux *l, const char *key, const char *path,
                                  char **ret_error) {
        static const char *const ipc[] = {
                "kernel/msgmax", "kernel/msgmnb", "kernel/msgmni",          "kernel/sem",
                "kernel/shmall", "kernel/shmmax", "kernel/shm_rmid_forced", "kernel/shmmni",
        };
        _cleanup_shown_ Shown a = {};
        const char *rel = path + strlen("/proc/sys/");
        OciNamespaceType need = _OCI_NAMESPACE_TYPE_INVALID;

        if (startswith(rel, "net/"))
                need = OCI_NAMESPACE_NETWORK;
        else if (startswith(rel, "fs/mqueue/"))
                need = OCI_NAMESPACE_IPC;
        else if (streq(rel, "kernel/hostname") || streq(rel, "kernel/domainname"))
                need = OCI_NAMESPACE_UTS;
        for (size_t i = 0; i < ELEMENTSOF(ipc); i++)
                if (streq(rel, ipc[i]))
                        need = OCI_NAMESPACE_IPC;
        if (need < 0)
                return error_setf(
                        ret_error, -EPERM,
                        "linux.sysctl: '%s' is not namespaced, setting it would change the "
                        "host",
                        show(&a, key));
        if (!has_namespace(l, need))
                return error_setf(ret_error, -EPERM,
                                  "linux.sysctl: '%s' needs its own %s namespace", show(&a, key),
                                  oci_namespace_type_to_string(need));
        return 0;
}

static void close_all(int **fds, size_t n) {
        if (!*fds)
                return;
        for (size_t i = 0; i < n; i++)
                safe_close((*fds)[i]);
        *fds = mfree(*fds);
}

static int write_all(int fd, const char *s) {
        size_t n = strlen(s);
        ssize_t k;

        k = write(fd, s, n);
        if (k < 0)
                return -errno;
        return (size_t) k == n ? 0 : -EIO;
}

/* Some sandboxes (and valgrind) lack the syscall; the per-UTS-namespace file does the same. */
static int set_domainname(const char *name) {
        _cleanup_close_ int fd = -EBADF;
        int r;

        if (setdomainname(name, strlen(name)) >= 0)
                return 0;
        if (errno != ENOSYS)
                return -1;
        fd = open("/proc/sys/kernel/domainname", O_WRONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -1;
        r = write_all(fd, name);
        if (r < 0) {
                errno = -r;
                return -1;
        }
        return 0;
}

int process_setup_kernel(const OciConfig *c, char **ret_error) {
        const OciLinux *l;
        _cleanup_shown_ Shown a = {}, b = {};
        _cleanup_close_ int oom_fd = -EBADF;
        int *fds = NULL;
        int r;

        assert(c);
        l = &c->linux_;

        /* Everything that can be checked first, so that a refused config changes nothing. */
        for (size_t i = 0; i < c->process.n_rlimits; i++)
                if (c->process.rlimits[i].soft > c->process.rlimits[i].hard)
                        return error_setf(ret_error, -EINVAL,
                                          "process.rlimits[%zu]: soft limit above the hard limit",
                                          i);
        r = oci_config_check_rlimits(c, ret_error);
        if (r < 0)
                return r;
        if ((!isempty(c->hostname) || !isempty(c->domainname)) &&
            !has_namespace(l, OCI_NAMESPACE_UTS))
                return error_setf(ret_error, -EPERM,
                                  "%s: setting it needs a uts namespace of the container's own",
                                  !isempty(c->hostname) ? "hostname" : "domainname");
        if (c->hostname && strlen(c->hostname) > UTS_NAME_MAX)
                return error_setf(ret_error, -EINVAL, "hostname: '%s' is longer than %d bytes",
                                  show(&a, c->hostname), UTS_NAME_MAX);
        if (c->domainname && strlen(c->domainname) > UTS_NAME_MAX)
                return error_setf(ret_error, -EINVAL, "domainname: '%s' is longer than %d bytes",
                                  show(&a, c->domainname), UTS_NAME_MAX);

        if (l->n_sysctl > 0) {
                fds = malloc(l->n_sysctl * sizeof(int));
                if (!fds)
                        return -ENOMEM;
                for (size_t i = 0; i < l->n_sysctl; i++)
                        fds[i] = -EBADF;
        }
        for (size_t i = 0; i < l->n_sysctl; i++) {
                _cleanup_free_ char *path = NULL;

                r = sysctl_path(l->sysctl[i].key, &path);
                if (r == -ENOMEM)
                        goto finish;
                if (r < 0) {
                        r = error_setf(ret_error, r,
                                       "linux.sysctl: '%s' is not a valid sysctl name",
                                       show(&a, l->sysctl[i].key));
                        goto finish;
                }
                r = sysctl_check_namespace(l, l->sysctl[i].key, path, ret_error);
                if (r < 0)
                        goto finish;
                fds[i] = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
                if (fds[i] < 0) {
                        r = -errno;
                        r = error_setf(ret_error, r, "linux.sysctl: '%s': %s",
                                       show(&a, l->sysctl[i].key), strerror(-r));
                        goto finish;
                }
        }
        if (c->process.has_oom_score_adj) {
                oom_fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC | O_NOCTTY);
                if (oom_fd < 0) {
                        r = -errno;
                        r = error_setf(ret_error, r, "process.oomScoreAdj: cannot open %s: %s",
                                       "/proc/self/oom_score_adj", strerror(-r));
                        goto finish;
                }
        }

        /* The oom score first: lowering it is the one step likely to be refused here. */
        if (oom_fd >= 0) {
                char buf[32];

                snprintf(buf, sizeof buf, "%d", c->process.oom_score_adj);
                r = write_all(oom_fd, buf);
                if (r < 0) {
                        r = error_setf(ret_error, r, "process.oomScoreAdj: cannot set %d: %s%s",
                                       c->process.oom_score_adj, strerror(-r),
                                       r == -EACCES ? " (lowering it needs CAP_SYS_RESOURCE)" : "");
                        goto finish;
                }
        }
        for (size_t i = 0; i < l->n_sysctl; i++) {
                r = write_all(fds[i], strempty(l->sysctl[i].value));
                if (r < 0) {
                        r = error_setf(ret_error, r, "linux.sysctl: '%s': cannot write '%s': %s",
                                       show(&a, l->sysctl[i].key), show(&b, l->sysctl[i].value),
                                       strerror(-r));
                        goto finish;
                }
        }
        if (!isempty(c->hostname) && sethostname(c->hostname, strlen(c->hostname)) < 0) {
                r = -errno;
                r = error_setf(ret_error, r, "hostname: cannot set '%s': %s", show(&a, c->hostname),
                               strerror(-r));
                goto finish;
        }
        if (!isempty(c->domainname) && set_domainname(c->domainname) < 0) {
                r = -errno;
                r = error_setf(ret_error, r, "domainname: cannot set '%s': %s",
                               show(&a, c->domainname), strerror(-r));
                goto finish;
        }
        for (size_t i = 0; i < c->process.n_rlimits; i++) {
                const OciRlimit *rl = &c->process.rlimits[i];
                struct rlimit v = { .rlim_cur = rl->soft, .rlim_max = rl->hard };

                if (setrlimit(rl->type, &v) < 0) {
                        r = -errno;
                        r = error_setf(ret_error, r, "process.rlimits[%zu]: cannot set %s: %s", i,
                                       strna(oci_rlimit_to_string(rl->type)), strerror(-r));
                        goto finish;
                }
        }
        r = 0;
finish:
        close_all(&fds, l->n_sysctl);
        return r;
}

/* ---- the executable ---- */

/* 0 if path is an executable regular file; -ENOEXEC stands for "not a regular file". */
static int check_executable(const char *path) {
        struct stat st;

        if (stat(path, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode))
                return -ENOEXEC;
        /* AT_EACCESS: the effective ids, the ones execve() checks. */
        if (faccessat(AT_FDCWD, path, X_OK, AT_EACCESS) < 0)
                return -errno;
        return 0;
}

static int executable_error(char **ret_error, const char *name, const char *path, int r) {
        _cleanup_shown_ Shown a = {}, b = {};
        const char *prefix = "process.args[0]: '";

        if (streq(name, path))
                switch (r) {
                case -EISDIR:
                        return error_setf(ret_error, r, "%s%s' is a directory", prefix,
                                          show(&a, name));
                case -ENOEXEC:
                        return error_setf(ret_error, -EACCES, "%s%s' is not a regular file", prefix,
                                          show(&a, name));
                case -EACCES:
                        return error_setf(ret_error, r, "%s%s' is not executable", prefix,
                                          show(&a, name));
                default:
                        return error_setf(ret_error, r, "%s%s': %s", prefix, show(&a, name),
                                          strerror(-r));
                }
        return error_setf(ret_error, -EACCES, "%s%s': '%s' is not %s", prefix, show(&a, name),
                          show(&b, path), r == -ENOEXEC ? "a regular file" : "executable");
}

static const char *env_get(char *const *env, const char *key) {
        size_t n = strlen(key);

        for (char *const *e = env; e && *e; e++)
                if (strneq(*e, key, n) && (*e)[n] == '=')
                        return *e + n + 1;
        return NULL;
}

int process_find_executable(const OciProcess *p, char **ret_path, char **ret_error) {
        _cleanup_free_ char *denied = NULL;
        _cleanup_shown_ Shown a = {}, b = {};
        const char *name, *search;
        int denied_r = 0, r;

        assert(p);
        assert(ret_path);

        name = p->args ? p->args[0] : NULL;
        if (isempty(name))
                return error_setf(ret_error, -ENOENT, "process.args[0]: empty");

        if (strchr(name, '/')) {
                char *c;

                r = check_executable(name);
                if (r < 0)
                        return executable_error(ret_error, name, name, r);
                c = strdup(name);
                if (!c)
                        return -ENOMEM;
                *ret_path = c;
                return 0;
        }
        if (strlen(name) > NAME_MAX)
                return error_setf(ret_error, -ENAMETOOLONG, "process.args[0]: '%s': %s",
                                  show(&a, name), strerror(ENAMETOOLONG));

        search = env_get(p->env, "PATH") ?: DEFAULT_PATH;
        for (const char *s = search;; s++) {
                size_t n = strcspn(s, ":");
                _cleanup_free_ char *dir = NULL, *candidate = NULL;

                /* An empty element is the current directory, as for execvp(). */
                dir = n == 0 ? strdup(".") : strndup(s, n);
                if (!dir)
                        return -ENOMEM;
                candidate = strjoin(dir, "/", name);
                if (!candidate)
                        return -ENOMEM;
                r = strlen(candidate) >= PATH_MAX ? -ENAMETOOLONG : check_executable(candidate);
                if (r == 0) {
                        *ret_path = TAKE_PTR(candidate);
                        return 0;
                }
                /* Like execvp(): a file we may not run is reported only if nothing later in
                 * the search can be run. */
                if ((r == -EACCES || r == -ENOEXEC) && !denied) {
                        denied = TAKE_PTR(candidate);
                        denied_r = r;
                }
                s += n;
                if (*s == '\0')
                        break;
        }
        if (denied)
                return executable_error(ret_error, name, denied, denied_r);
        return error_setf(ret_error, -ENOENT, "process.args[0]: '%s': not found in $PATH (%s)",
                          show(&a, name), show(&b, search));
}

/* ---- identity ---- */

/* The last capability the kernel knows, and our bounding set. Probing the bounding set works
 * without /proc and in any namespace. */
static int cap_bounding_get(uint64_t *ret_bounding) {
        uint64_t bounding = 0;
        int last = -1;

        for (int cap = 0; cap < 64; cap++) {
                int k = prctl(PR_CAPBSET_READ, (unsigned long) cap, 0, 0, 0);

                if (k < 0)
                        break;
                if (k > 0)
                        bounding |= UINT64_C(1) << cap;
                last = cap;
        }
        *ret_bounding = bounding;
        return last;
}

typedef struct CapSets {
        uint64_t effective, permitted, inheritable, bounding;
} CapSets;

static int caps_get(CapSets *ret) {
        struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3] = {};

        if (syscall(SYS_capget, &h, d) < 0)
                return -errno;
        ret->effective = d[0].effective | (uint64_t) d[1].effective << 32;
        ret->permitted = d[0].permitted | (uint64_t) d[1].permitted << 32;
        ret->inheritable = d[0].inheritable | (uint64_t) d[1].inheritable << 32;
        return 0;
}

static int caps_set(const CapSets *s) {
        struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3] = {
                { (uint32_t) s->effective, (uint32_t) s->permitted, (uint32_t) s->inheritable },
                { (uint32_t) (s->effective >> 32), (uint32_t) (s->permitted >> 32),
                  (uint32_t) (s->inheritable >> 32) },
        };

        return RET_NERRNO((int) syscall(SYS_capset, &h, d));
}

/* The lowest capability in mask, for messages. */
static int first_cap(uint64_t mask) {
        return mask ? __builtin_ctzll(mask) : -1;
}

static bool setgroups_denied(void) {
        _cleanup_free_ char *s = NULL;

        if (read_full_file("/proc/self/setgroups", 64, &s, NULL) < 0)
                return false;
        return streq(strstrip(s), "deny");
}

static int check_caps(const OciCapabilities *want, const CapSets *cur, char **ret_error) {
        uint64_t bad;

        bad = want->effective & ~want->permitted;
        if (bad)
                return error_setf(
                        ret_error, -EINVAL,
                        "process.capabilities.effective: '%s' is not in the permitted set",
                        cap_name(first_cap(bad)));
        bad = want->ambient & ~(want->permitted & want->inheritable);
        if (bad)
                return error_setf(ret_error, -EINVAL,
                                  "process.capabilities.ambient: '%s' is not in the permitted and "
                                  "inheritable sets",
                                  cap_name(first_cap(bad)));
        bad = want->permitted & ~cur->permitted;
        if (bad)
                return error_setf(ret_error, -EPERM,
                                  "process.capabilities.permitted: '%s' is not held by the runtime",
                                  cap_name(first_cap(bad)));
        /* The kernel only lets inheritable grow within the bounding set and what we hold. */
        bad = want->inheritable & ~cur->inheritable &
              ~(want->bounding & cur->bounding & cur->permitted);
        if (bad)
                return error_setf(
                        ret_error, -EINVAL,
                        "process.capabilities.inheritable: '%s' is not in the bounding set",
                        cap_name(first_cap(bad)));
        return 0;
}

int process_setup_identity(const OciProcess *p, char **ret_error) {
        _cleanup_shown_ Shown a = {};
        OciCapabilities want = {};
        uint64_t known, bounding;
        CapSets cur = {};
        int last, r;

        assert(p);

        last = cap_bounding_get(&bounding);
        if (last < 0)
                return error_setf(ret_error, -EOPNOTSUPP,
                                  "cannot read the capability bounding set");
        known = last >= 63 ? UINT64_MAX : (UINT64_C(1) << (last + 1)) - 1;
        if (p->has_capabilities) {
                want = p->capabilities;
                /* Names this kernel predates cannot be held anyway, as runc ignores them. */
                want.bounding &= known;
                want.effective &= known;
                want.permitted &= known;
                want.inheritable &= known;
                want.ambient &= known;
        }
        r = caps_get(&cur);
        if (r < 0)
                return error_setf(ret_error, r, "capget: %s", strerror(-r));
        cur.bounding = bounding;
        r = check_caps(&want, &cur, ret_error);
        if (r < 0)
                return r;
        if (p->user.has_umask && (p->user.umask & ~(mode_t) 0777))
                return error_setf(ret_error, -EINVAL, "process.user.umask: %#o is not a umask",
                                  (unsigned) p->user.umask);
        if (!path_is_absolute(p->cwd))
                return error_setf(ret_error, -EINVAL, "process.cwd: '%s' is not absolute",
                                  show(&a, p->cwd));

        if (p->no_new_privileges && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return error_setf(ret_error, -errno, "process.noNewPrivileges: %m");

        for (int cap = 0; cap <= last; cap++) {
                if ((want.bounding & (UINT64_C(1) << cap)) || !(bounding & (UINT64_C(1) << cap)))
                        continue;
                if (prctl(PR_CAPBSET_DROP, (unsigned long) cap, 0, 0, 0) < 0)
                        return error_setf(ret_error, -errno,
                                          "process.capabilities.bounding: cannot drop '%s': %m",
                                          cap_name(cap));
        }

        /* Keep the permitted set across the uid change; capset() below trims it. */
        if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
                return error_setf(ret_error, -errno, "PR_SET_KEEPCAPS: %m");

        if (setgroups(p->user.n_additional_gids, p->user.additional_gids) < 0) {
                r = -errno;
                /* A user namespace whose setgroups is "deny" leaves the groups as they are,
                 * which is what an empty list asks for there. */
                if (r != -EPERM || !setgroups_denied())
                        return error_setf(ret_error, r, "process.user.additionalGids: %s",
                                          strerror(-r));
                if (p->user.n_additional_gids > 0)
                        return error_setf(
                                ret_error, r,
                                "process.user.additionalGids: setgroups is denied in this "
                                "user namespace");
        }
        if (setresgid(p->user.gid, p->user.gid, p->user.gid) < 0)
                return error_setf(ret_error, -errno, "process.user.gid: cannot become %u: %m",
                                  (unsigned) p->user.gid);
        if (setresuid(p->user.uid, p->user.uid, p->user.uid) < 0)
                return error_setf(ret_error, -errno, "process.user.uid: cannot become %u: %m",
                                  (unsigned) p->user.uid);

        r = caps_set(&(CapSets){ want.effective, want.permitted, want.inheritable, 0 });
        if (r < 0)
                return error_setf(ret_error, r, "process.capabilities: capset: %s", strerror(-r));
        if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
                return error_setf(ret_error, -errno, "PR_SET_KEEPCAPS: %m");

        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 &&
            (errno != EINVAL || want.ambient != 0))
                return error_setf(ret_error, -errno, "process.capabilities.ambient: %m");
        for (int cap = 0; cap <= last; cap++) {
                if (!(want.ambient & (UINT64_C(1) << cap)))
                        continue;
                if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, (unsigned long) cap, 0, 0) < 0)
                        return error_setf(ret_error, -errno,
                                          "process.capabilities.ambient: cannot raise '%s': %m",
                                          cap_name(cap));
        }

        umask(p->user.has_umask ? p->user.umask : 0022);

        if (chdir(p->cwd) < 0) {
                r = -errno;
                return error_setf(ret_error, r, "process.cwd: '%s': %s", show(&a, p->cwd),
                                  strerror(-r));
        }
        return 0;
}
