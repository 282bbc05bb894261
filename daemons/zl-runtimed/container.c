/* SPDX-License-Identifier: Apache-2.0 */
/* container.c: clone the container's init into its namespaces, and join them for exec. */
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <linux/sched.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "container.h"
#include "fd-util.h"
#include "log.h"
#include "process-setup.h"
#include "rootfs.h"
#include "seccomp-filter.h"
#include "string-util.h"

/* The init and its creator talk over a SOCK_SEQPACKET pair, one message per record. The
 * child's end is close-on-exec, so a successful execve shows up as EOF. */
typedef enum SyncType {
        SYNC_GO = 1, /* parent -> child: maps written, cgroup joined */
        SYNC_PTY, /* child -> parent: the terminal master, as SCM_RIGHTS */
        SYNC_READY, /* child -> parent: everything set up, about to wait for start / exec */
        SYNC_START, /* parent -> child: go on and exec */
        SYNC_ERROR, /* child -> parent: errno and a message, then the child exits */
        SYNC_PID, /* exec helper -> parent: the pid of the process it cloned */
} SyncType;

typedef struct SyncHeader {
        uint32_t type;
        int32_t value; /* errno for SYNC_ERROR, pid for SYNC_PID */
} SyncHeader;

#define SYNC_MESSAGE_MAX 4096

void container_init_done(ContainerInit *i) {
        if (!i)
                return;
        i->pidfd = safe_close(i->pidfd);
        i->start_fd = safe_close(i->start_fd);
        i->pty_master = safe_close(i->pty_master);
}

static int sync_send(int fd, SyncType type, int value, const char *text, int pass_fd) {
        SyncHeader h = { .type = type, .value = value };
        struct iovec iov[2] = {
                { .iov_base = &h, .iov_len = sizeof h },
                { .iov_base = (void *) strempty(text), .iov_len = text ? strlen(text) : 0 },
        };
        union {
                struct cmsghdr cmsg;
                char buf[CMSG_SPACE(sizeof(int))];
        } control = {};
        struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };

        if (iov[1].iov_len > SYNC_MESSAGE_MAX - sizeof h)
                iov[1].iov_len = SYNC_MESSAGE_MAX - sizeof h;
        if (pass_fd >= 0) {
                mh.msg_control = &control;
                mh.msg_controllen = sizeof control;
                struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
        }
        if (sendmsg(fd, &mh, MSG_NOSIGNAL) < 0)
                return -errno;
        return 0;
}

/* Returns 0 on EOF, 1 with a message. *ret_text gets the text (NUL-terminated, malloc'ed) when
 * not NULL; a passed descriptor goes to *ret_fd or is closed. */
static int sync_recv(int fd, SyncHeader *ret_h, char **ret_text, int *ret_fd) {
        char buf[SYNC_MESSAGE_MAX + 1];
        union {
                struct cmsghdr cmsg;
                char buf[CMSG_SPACE(sizeof(int))];
        } control = {};
        struct iovec iov = { .iov_base = buf, .iov_len = SYNC_MESSAGE_MAX };
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = &control,
                .msg_controllen = sizeof control,
        };
        ssize_t n;
        int passed = -EBADF;

        do
                n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
                    c->cmsg_len == CMSG_LEN(sizeof(int)))
                        memcpy(&passed, CMSG_DATA(c), sizeof(int));
        if (n == 0) {
                safe_close(passed);
                return 0;
        }
        if ((size_t) n < sizeof(SyncHeader)) {
                safe_close(passed);
                return -EBADMSG;
        }
        memcpy(ret_h, buf, sizeof(SyncHeader));
        buf[n] = 0;
        if (ret_text) {
                *ret_text = strdup(buf + sizeof(SyncHeader));
                if (!*ret_text) {
                        safe_close(passed);
                        return -ENOMEM;
                }
        }
        if (ret_fd)
                *ret_fd = passed;
        else
                safe_close(passed);
        return 1;
}

/* In a child: report and exit. Never returns. */
_noreturn_ _printf_(3, 4) static void child_fail(int sync_fd, int r, const char *fmt, ...) {
        char text[SYNC_MESSAGE_MAX];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(text, sizeof text, fmt, ap);
        va_end(ap);
        (void) sync_send(sync_fd, SYNC_ERROR, r < 0 ? -r : r, text, -1);
        _exit(127);
}

_noreturn_ static void child_fail_msg(int sync_fd, int r, const char *what, char *msg) {
        if (msg)
                child_fail(sync_fd, r, "%s", msg);
        child_fail(sync_fd, r, "%s: %s", what, strerror(r < 0 ? -r : r));
}

static pid_t raw_clone3(uint64_t flags, int *ret_pidfd) {
        struct clone_args args = {
                .flags = flags | (ret_pidfd ? CLONE_PIDFD : 0),
                .pidfd = (uint64_t) (uintptr_t) ret_pidfd,
                .exit_signal = (flags & CLONE_PARENT) ? 0 : SIGCHLD,
        };

        pid_t pid = (pid_t) syscall(SYS_clone3, &args, sizeof args);
        if (pid >= 0 || errno != ENOSYS)
                return pid;
        /* clone3 is filtered or unknown (valgrind): the classic call does the same without a
         * stack, like fork; the pidfd is opened afterwards, which is safe as the child cannot
         * be reaped by anyone but us meanwhile. */
        pid = (pid_t) syscall(SYS_clone, (unsigned long) (flags | args.exit_signal), NULL, NULL,
                              NULL, 0);
        if (pid <= 0 || !ret_pidfd)
                return pid;
        /* Without pidfd_open (valgrind again) the caller works with the pid alone. */
        *ret_pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
        if (*ret_pidfd < 0)
                *ret_pidfd = -EBADF;
        return pid;
}

/* Makes fds[i] descriptor i of the process, keeping every other descriptor above them
 * close-on-exec. fds[i] < 0 becomes /dev/null. */
static int child_setup_fds(const int *fds, size_t n) {
        int moved[64];

        if (n > ELEMENTSOF(moved))
                return -E2BIG;
        for (size_t i = 0; i < n; i++) {
                int src = fds[i];
                if (src < 0) {
                        src = open("/dev/null", O_RDWR | O_CLOEXEC);
                        if (src < 0)
                                return -errno;
                }
                moved[i] = fcntl(src, F_DUPFD_CLOEXEC, (int) n);
                if (moved[i] < 0)
                        return -errno;
        }
        for (size_t i = 0; i < n; i++)
                if (dup2(moved[i], (int) i) < 0)
                        return -errno;
        if (close_range((unsigned) n, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
                return -errno;
        return 0;
}

/* The creator may block signals (sd-event) or ignore some (SIGPIPE): the container starts clean. */
static void child_reset_signals(void) {
        sigset_t all;

        for (int sig = 1; sig < _NSIG; sig++) {
                struct sigaction sa = { .sa_handler = SIG_DFL };
                if (sig == SIGKILL || sig == SIGSTOP)
                        continue;
                (void) sigaction(sig, &sa, NULL);
        }
        sigemptyset(&all);
        (void) sigprocmask(SIG_SETMASK, &all, NULL);
}

static int loopback_up(void) {
        struct ifreq ifr = { .ifr_name = "lo" };
        _cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

        if (fd < 0)
                return -errno;
        if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
                return -errno;
        ifr.ifr_flags |= IFF_UP;
        if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
                return -errno;
        return 0;
}

/* Opens a new pseudo-terminal in the container's /dev/pts, makes its peer the controlling
 * terminal and stdio, binds it over /dev/console when asked, and returns the master. */
static int child_setup_terminal(bool console, int *ret_master) {
        _cleanup_close_ int master = -EBADF, peer = -EBADF;
        int unlock = 0, n;

        master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (master < 0)
                return -errno;
        if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
                return -errno;
        peer = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
        if (peer < 0)
                return -errno;
        if (console) {
                char path[64];
                _cleanup_close_ int c = -EBADF;

                if (ioctl(master, TIOCGPTN, &n) < 0)
                        return -errno;
                snprintf(path, sizeof path, "/dev/pts/%d", n);
                c = open("/dev/console", O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
                if (c < 0)
                        return -errno;
                if (mount(path, "/dev/console", NULL, MS_BIND, NULL) < 0)
                        return -errno;
        }
        if (ioctl(peer, TIOCSCTTY, 0) < 0)
                return -errno;
        for (int i = 0; i < 3; i++)
                if (dup2(peer, i) < 0)
                        return -errno;
        *ret_master = TAKE_FD(master);
        return 0;
}

static bool config_has_namespace(const OciConfig *c, OciNamespaceType t) {
        for (size_t i = 0; i < c->linux_.n_namespaces; i++)
                if (c->linux_.namespaces[i].type == t)
                        return true;
        return false;
}

static int build_seccomp(const json_t *profile, bool use_default, uint64_t bounding,
                         const char *cache_dir, SeccompProgram **ret, char **ret_error) {
        _cleanup_free_ char *msg = NULL;
        int r;

        *ret = NULL;
        if (!profile && !use_default)
                return 0;
        r = seccomp_program_get(profile, bounding, cache_dir, ret, &msg);
        if (r < 0 && ret_error) {
                if (msg)
                        *ret_error = strjoin("linux.seccomp.", msg);
                else if (asprintf(ret_error, "linux.seccomp: building the filter: %s",
                                  strerror(-r)) < 0)
                        *ret_error = NULL;
        }
        return r;
}

static int write_id_map(pid_t pid, const char *file, const OciIdMapping *m, size_t n) {
        char path[64], buf[1024];
        size_t len = 0;
        _cleanup_close_ int fd = -EBADF;

        for (size_t i = 0; i < n; i++) {
                int k = snprintf(buf + len, sizeof buf - len, "%u %u %u\n", m[i].container_id,
                                 m[i].host_id, m[i].size);
                if (k < 0 || (size_t) k >= sizeof buf - len)
                        return -E2BIG;
                len += (size_t) k;
        }
        snprintf(path, sizeof path, "/proc/%d/%s", (int) pid, file);
        fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (write(fd, buf, len) != (ssize_t) len)
                return errno > 0 ? -errno : -EIO;
        return 0;
}

static int fail_msg(char **ret_error, int r, const char *fmt, ...) _printf_(3, 4);
static int fail_msg(char **ret_error, int r, const char *fmt, ...) {
        va_list ap;

        if (ret_error) {
                va_start(ap, fmt);
                if (vasprintf(ret_error, fmt, ap) < 0)
                        *ret_error = NULL;
                va_end(ap);
        }
        return r;
}

typedef struct SpawnPlan {
        const ContainerSpawnOptions *o;
        const OciConfig *c;
        char *root;
        uint64_t clone_flags;
        bool new_user, new_cgroup_ns, new_net;
        int join_fds[_OCI_NAMESPACE_TYPE_MAX]; /* opened linux.namespaces[].path, or -1 */
        SeccompProgram *seccomp;
} SpawnPlan;

static void spawn_plan_done(SpawnPlan *p) {
        free(p->root);
        for (int t = 0; t < _OCI_NAMESPACE_TYPE_MAX; t++)
                safe_close(p->join_fds[t]);
        seccomp_program_free(p->seccomp);
}

/* Everything that can be checked before anything exists. */
static int spawn_plan_make(const ContainerSpawnOptions *o, SpawnPlan *p, char **ret_error) {
        const OciConfig *c = o->config;
        struct stat st;
        int r;

        *p = (SpawnPlan){ .o = o, .c = c };
        for (int t = 0; t < _OCI_NAMESPACE_TYPE_MAX; t++)
                p->join_fds[t] = -EBADF;

        if (!c->root_path)
                return fail_msg(ret_error, -EINVAL, "root.path: missing");
        if (c->root_path[0] == '/' || !o->bundle)
                p->root = strdup(c->root_path);
        else
                p->root = strjoin(o->bundle, "/", c->root_path);
        if (!p->root)
                return -ENOMEM;
        if (p->root[0] != '/') {
                char *cwd = getcwd(NULL, 0);
                if (!cwd)
                        return -errno;
                char *abs = strjoin(cwd, "/", p->root);
                free(cwd);
                if (!abs)
                        return -ENOMEM;
                free_and_replace(p->root, abs);
        }
        if (stat(p->root, &st) < 0)
                return fail_msg(ret_error, -errno, "root.path: '%s': %s", p->root, strerror(errno));
        if (!S_ISDIR(st.st_mode))
                return fail_msg(ret_error, -ENOTDIR, "root.path: '%s' is not a directory", p->root);
        if (o->overlay) {
                const char *dirs[] = { o->overlay->upper, o->overlay->work };
                if (!o->overlay->lowers || !o->overlay->lowers[0])
                        return fail_msg(ret_error, -EINVAL, "overlay: no lower directory");
                for (size_t i = 0; o->overlay->lowers[i]; i++)
                        if (stat(o->overlay->lowers[i], &st) < 0 || !S_ISDIR(st.st_mode))
                                return fail_msg(ret_error, -ENOENT,
                                                "overlay: lower directory '%s' is missing",
                                                o->overlay->lowers[i]);
                for (size_t i = 0; i < ELEMENTSOF(dirs); i++)
                        if (!dirs[i] || stat(dirs[i], &st) < 0 || !S_ISDIR(st.st_mode))
                                return fail_msg(ret_error, -ENOENT,
                                                "overlay: %s directory '%s' is missing",
                                                i == 0 ? "upper" : "work", strna(dirs[i]));
        }

        r = oci_config_check_rlimits(c, ret_error);
        if (r < 0)
                return r;

        for (size_t i = 0; i < c->linux_.n_namespaces; i++) {
                const OciNamespace *ns = &c->linux_.namespaces[i];

                if (ns->path) {
                        int fd = open(ns->path, O_RDONLY | O_CLOEXEC);
                        if (fd < 0)
                                return fail_msg(ret_error, -errno,
                                                "linux.namespaces[%zu].path: '%s': %s", i, ns->path,
                                                strerror(errno));
                        safe_close(p->join_fds[ns->type]);
                        p->join_fds[ns->type] = fd;
                        continue;
                }
                if (ns->type == OCI_NAMESPACE_CGROUP)
                        p->new_cgroup_ns = true; /* after joining the cgroup */
                else
                        p->clone_flags |= oci_namespace_type_to_clone_flag(ns->type);
                if (ns->type == OCI_NAMESPACE_USER)
                        p->new_user = true;
                if (ns->type == OCI_NAMESPACE_NETWORK)
                        p->new_net = true;
        }
        if (!config_has_namespace(c, OCI_NAMESPACE_MOUNT))
                return fail_msg(ret_error, -EINVAL,
                                "linux.namespaces: a mount namespace is required");
        if (p->new_user && (c->linux_.n_uid_mappings == 0 || c->linux_.n_gid_mappings == 0))
                return fail_msg(ret_error, -EINVAL,
                                "linux.uidMappings: a new user namespace needs uid and gid "
                                "mappings");

        return build_seccomp(c->linux_.seccomp, o->default_seccomp,
                             c->process.has_capabilities ? c->process.capabilities.bounding : 0,
                             o->seccomp_cache_dir, &p->seccomp, ret_error);
}

static int setns_joined(const SpawnPlan *p, char **ret_msg) {
        /* The user namespace first: the others are owned by it. */
        static const OciNamespaceType order[] = {
                OCI_NAMESPACE_USER,    OCI_NAMESPACE_IPC,    OCI_NAMESPACE_UTS,
                OCI_NAMESPACE_NETWORK, OCI_NAMESPACE_CGROUP, OCI_NAMESPACE_TIME,
                OCI_NAMESPACE_MOUNT,
        };

        for (size_t i = 0; i < ELEMENTSOF(order); i++) {
                int fd = p->join_fds[order[i]];
                if (fd < 0)
                        continue;
                if (setns(fd, (int) oci_namespace_type_to_clone_flag(order[i])) < 0) {
                        int r = -errno;
                        if (asprintf(ret_msg, "linux.namespaces: joining the %s namespace: %s",
                                     oci_namespace_type_to_string(order[i]), strerror(-r)) < 0)
                                *ret_msg = NULL;
                        return r;
                }
        }
        return 0;
}

typedef struct AfterPivot {
        const SpawnPlan *plan;
        int sync_fd;
} AfterPivot;

/* Inside the new root, before /proc/sys and the root become read-only: the console and the
 * kernel settings (sysctls are written under /proc/sys). */
static int after_pivot(void *userdata, char **ret_error) {
        AfterPivot *ap = userdata;
        const OciConfig *c = ap->plan->c;
        int r;

        if (c->process.terminal) {
                int master = -EBADF;
                r = child_setup_terminal(true, &master);
                if (r < 0) {
                        if (ret_error &&
                            asprintf(ret_error, "process.terminal: %s", strerror(-r)) < 0)
                                *ret_error = NULL;
                        return r;
                }
                r = sync_send(ap->sync_fd, SYNC_PTY, 0, NULL, master);
                safe_close(master);
                if (r < 0)
                        return r;
        }
        return process_setup_kernel(c, ret_error);
}

_noreturn_ static void spawn_child(const SpawnPlan *p, int sync_fd) {
        const ContainerSpawnOptions *o = p->o;
        const OciConfig *c = p->c;
        SyncHeader h;
        char *msg = NULL, *exe = NULL;
        int fds[3 + 64], start_fd = -EBADF, r;
        size_t nfds = 3 + o->n_extra_fds;

        child_reset_signals();
        if (p->new_user) {
                r = sync_recv(sync_fd, &h, NULL, NULL);
                if (r <= 0 || h.type != SYNC_GO)
                        _exit(127);
        }

        r = setns_joined(p, &msg);
        if (r < 0)
                child_fail_msg(sync_fd, r, "linux.namespaces", msg);
        /* Our ids are still the host's, unmapped in a new user namespace: become its root. */
        if ((p->new_user || p->join_fds[OCI_NAMESPACE_USER] >= 0) &&
            (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0))
                child_fail(sync_fd, errno,
                           "linux.uidMappings: becoming root of the user namespace "
                           "(is 0 mapped?): %m");

        if (o->cgroup && !p->new_user) {
                r = cgroup_add_pid(o->cgroup, getpid());
                if (r < 0)
                        child_fail(sync_fd, r, "linux.cgroupsPath: joining the cgroup '%s': %s",
                                   cgroup_get_path(o->cgroup), strerror(-r));
        }
        if (p->new_cgroup_ns && unshare(CLONE_NEWCGROUP) < 0)
                child_fail(sync_fd, errno, "linux.namespaces: new cgroup namespace: %m");

        if (setsid() < 0)
                child_fail(sync_fd, errno, "setsid: %m");

        if (nfds > ELEMENTSOF(fds))
                child_fail(sync_fd, E2BIG, "too many descriptors to pass (%zu)", nfds);
        for (size_t i = 0; i < 3; i++)
                fds[i] = o->stdio[i];
        for (size_t i = 0; i < o->n_extra_fds; i++)
                fds[3 + i] = o->extra_fds[i];
        /* Our own descriptors must stay out of the way of the ones we install. */
        sync_fd = fcntl(sync_fd, F_DUPFD_CLOEXEC, (int) nfds);
        if (sync_fd < 0)
                _exit(127);
        if (o->wait_for_start && o->start_fifo_fd >= 0) {
                start_fd = fcntl(o->start_fifo_fd, F_DUPFD_CLOEXEC, (int) nfds);
                if (start_fd < 0)
                        child_fail(sync_fd, errno, "exec fifo: %m");
        }
        r = child_setup_fds(fds, nfds);
        if (r < 0)
                child_fail(sync_fd, r, "setting up stdio: %s", strerror(-r));

        if (p->new_net) {
                r = loopback_up();
                if (r < 0)
                        child_fail(sync_fd, r, "bringing up lo in the network namespace: %s",
                                   strerror(-r));
        }

        AfterPivot ap = { .plan = p, .sync_fd = sync_fd };
        RootfsOptions ro = {
                .config = c,
                .root = p->root,
                .overlay = o->overlay,
                .in_user_namespace = p->new_user || p->join_fds[OCI_NAMESPACE_USER] >= 0,
                .cgroup_mode = o->cgroup ? cgroup_get_mode(o->cgroup) : cgroup_detect(NULL),
                .after_pivot = after_pivot,
                .userdata = &ap,
        };
        r = rootfs_setup(&ro, &msg);
        if (r < 0)
                child_fail_msg(sync_fd, r, "root file system", msg);

        /* Without no_new_privs the filter can only be loaded while we still hold
         * CAP_SYS_ADMIN; with it, as late as possible so the set-up is not filtered. */
        if (p->seccomp && !c->process.no_new_privileges) {
                r = seccomp_program_load(p->seccomp);
                if (r < 0)
                        child_fail(sync_fd, r, "linux.seccomp: loading the filter: %s",
                                   strerror(-r));
        }
        r = process_setup_identity(&c->process, &msg);
        if (r < 0)
                child_fail_msg(sync_fd, r, "process", msg);
        /* As the container's user, from its cwd. */
        r = process_find_executable(&c->process, &exe, &msg);
        if (r < 0)
                child_fail_msg(sync_fd, r, "process.args[0]", msg);

        if (sync_send(sync_fd, SYNC_READY, 0, NULL, -1) < 0)
                _exit(127);

        if (o->wait_for_start) {
                if (start_fd >= 0) {
                        char path[64];
                        int w;
                        snprintf(path, sizeof path, "/proc/self/fd/%d", start_fd);
                        /* Blocks until `start` opens the FIFO for reading. */
                        w = open(path, O_WRONLY | O_CLOEXEC);
                        if (w < 0 || write(w, "0", 1) != 1)
                                child_fail(sync_fd, errno, "exec fifo: %m");
                        safe_close(w);
                        safe_close(start_fd);
                } else {
                        r = sync_recv(sync_fd, &h, NULL, NULL);
                        if (r <= 0 || h.type != SYNC_START)
                                _exit(127);
                }
        }

        if (p->seccomp && c->process.no_new_privileges) {
                r = seccomp_program_load(p->seccomp);
                if (r < 0)
                        child_fail(sync_fd, r, "linux.seccomp: loading the filter: %s",
                                   strerror(-r));
        }
        execve(exe, c->process.args, c->process.env ? c->process.env : (char *[]){ NULL });
        child_fail(sync_fd, errno, "process.args[0]: executing '%s': %m", exe);
}

static int reap_failed(pid_t pid, int pidfd) {
        int status;

        if (pidfd >= 0)
                (void) syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
        else
                (void) kill(pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        return status;
}

static int describe_death(pid_t pid, int pidfd, char **ret_error) {
        int status = reap_failed(pid, pidfd);

        if (WIFSIGNALED(status))
                return fail_msg(ret_error, -ECHILD, "container init died during set-up (signal %s)",
                                strsignal(WTERMSIG(status)));
        return fail_msg(ret_error, -ECHILD, "container init exited during set-up (status %d)",
                        WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/* Reads the init's messages until READY (when stop_at_ready) or EOF. */
static int wait_child(int sync_fd, pid_t pid, int pidfd, bool stop_at_ready, int *pty_master,
                      char **ret_error) {
        for (;;) {
                SyncHeader h;
                _cleanup_free_ char *text = NULL;
                int fd = -EBADF, r;

                r = sync_recv(sync_fd, &h, &text, &fd);
                if (r < 0)
                        return fail_msg(ret_error, r, "reading from the container init: %s",
                                        strerror(-r));
                if (r == 0)
                        return stop_at_ready ? describe_death(pid, pidfd, ret_error) : 0;
                switch (h.type) {
                case SYNC_PTY:
                        if (fd < 0 || !pty_master)
                                return fail_msg(ret_error, -EBADMSG,
                                                "container init sent no terminal");
                        safe_close(*pty_master);
                        *pty_master = fd;
                        break;
                case SYNC_READY:
                        if (stop_at_ready)
                                return 0;
                        break;
                case SYNC_ERROR:
                        reap_failed(pid, pidfd);
                        if (ret_error) {
                                *ret_error = TAKE_PTR(text);
                        }
                        return h.value > 0 ? -h.value : -EIO;
                default:
                        safe_close(fd);
                        return fail_msg(ret_error, -EBADMSG,
                                        "unexpected message %u from the container init", h.type);
                }
        }
}

int container_spawn(const ContainerSpawnOptions *o, ContainerInit *ret, char **ret_error) {
        _cleanup_(spawn_plan_done) SpawnPlan p = {};
        _cleanup_close_ int pidfd = -EBADF, pty = -EBADF, orig_pidns = -EBADF;
        int sv[2], r;
        pid_t pid;

        if (!o || !o->config || !ret)
                return -EINVAL;
        if (ret_error)
                *ret_error = NULL;

        r = spawn_plan_make(o, &p, ret_error);
        if (r < 0)
                return r;

        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                return -errno;
        _cleanup_close_ int parent_fd = sv[0], child_fd = sv[1];

        /* A PID namespace to join is entered by our children only: switch ours for the clone
         * and back. */
        if (p.join_fds[OCI_NAMESPACE_PID] >= 0) {
                orig_pidns = open("/proc/self/ns/pid_for_children", O_RDONLY | O_CLOEXEC);
                if (orig_pidns < 0)
                        return -errno;
                if (setns(p.join_fds[OCI_NAMESPACE_PID], CLONE_NEWPID) < 0)
                        return fail_msg(ret_error, -errno,
                                        "linux.namespaces: joining the pid namespace: %s",
                                        strerror(errno));
        }
        pid = raw_clone3(p.clone_flags, &pidfd);
        if (pid == 0) {
                safe_close(parent_fd);
                spawn_child(&p, child_fd);
        }
        r = pid < 0 ? -errno : 0;
        if (orig_pidns >= 0 && setns(orig_pidns, CLONE_NEWPID) < 0)
                log_debug_errno(errno, "Failed to switch back to our pid namespace: %m");
        if (r < 0)
                return fail_msg(ret_error, r, "creating the container's namespaces: %s",
                                strerror(-r));
        child_fd = safe_close(child_fd);

        if (p.new_user) {
                r = write_id_map(pid, "uid_map", p.c->linux_.uid_mappings,
                                 p.c->linux_.n_uid_mappings);
                if (r >= 0)
                        r = write_id_map(pid, "gid_map", p.c->linux_.gid_mappings,
                                         p.c->linux_.n_gid_mappings);
                if (r < 0) {
                        reap_failed(pid, pidfd);
                        return fail_msg(ret_error, r, "linux.uidMappings: writing the maps: %s",
                                        strerror(-r));
                }
                if (o->cgroup) {
                        r = cgroup_add_pid(o->cgroup, pid);
                        if (r < 0) {
                                reap_failed(pid, pidfd);
                                return fail_msg(ret_error, r, "joining the cgroup '%s': %s",
                                                cgroup_get_path(o->cgroup), strerror(-r));
                        }
                }
                r = sync_send(parent_fd, SYNC_GO, 0, NULL, -1);
                if (r < 0)
                        return describe_death(pid, pidfd, ret_error);
        }

        r = wait_child(parent_fd, pid, pidfd, true, &pty, ret_error);
        if (r < 0)
                return r;

        if (!o->wait_for_start) {
                /* EOF now means execve succeeded. */
                r = wait_child(parent_fd, pid, pidfd, false, &pty, ret_error);
                if (r < 0)
                        return r;
        }

        *ret = CONTAINER_INIT_NULL;
        ret->pid = pid;
        ret->pidfd = TAKE_FD(pidfd);
        ret->pty_master = TAKE_FD(pty);
        if (o->wait_for_start && o->start_fifo_fd < 0)
                ret->start_fd = TAKE_FD(parent_fd);
        return 0;
}

int container_start(ContainerInit *i, char **ret_error) {
        int r;

        if (!i || i->start_fd < 0)
                return -EINVAL;
        if (ret_error)
                *ret_error = NULL;
        r = sync_send(i->start_fd, SYNC_START, 0, NULL, -1);
        if (r >= 0)
                r = wait_child(i->start_fd, i->pid, i->pidfd, false, NULL, ret_error);
        else
                r = fail_msg(ret_error, r, "the container init is gone: %s", strerror(-r));
        i->start_fd = safe_close(i->start_fd);
        return r;
}

/* ---- exec ---- */

static int open_ns_if_different(pid_t pid, const char *name, int *ret) {
        char path[64];
        struct stat a, b;
        int fd;

        snprintf(path, sizeof path, "/proc/%d/ns/%s", (int) pid, name);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        snprintf(path, sizeof path, "/proc/self/ns/%s", name);
        if (fstat(fd, &a) < 0 || stat(path, &b) < 0) {
                safe_close(fd);
                return -errno;
        }
        if (a.st_ino == b.st_ino && a.st_dev == b.st_dev) {
                safe_close(fd);
                fd = -EBADF;
        }
        *ret = fd;
        return 0;
}

_noreturn_ static void exec_child(const ContainerExecOptions *o, const SeccompProgram *seccomp,
                                  int sync_fd) {
        const OciProcess *proc = o->process;
        OciConfig only_process = { .process = *proc };
        char *msg = NULL, *exe = NULL;
        int r;

        child_reset_signals();
        if (setsid() < 0)
                child_fail(sync_fd, errno, "setsid: %m");
        sync_fd = fcntl(sync_fd, F_DUPFD_CLOEXEC, 3);
        if (sync_fd < 0)
                _exit(127);
        if (proc->terminal) {
                int master = -EBADF;
                r = child_setup_terminal(false, &master);
                if (r < 0)
                        child_fail(sync_fd, r, "process.terminal: %s", strerror(-r));
                r = sync_send(sync_fd, SYNC_PTY, 0, NULL, master);
                safe_close(master);
                if (r < 0)
                        _exit(127);
                if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
                        child_fail(sync_fd, errno, "close_range: %m");
        } else {
                int fds[3 + 64];
                size_t n = 3 + o->n_extra_fds;

                if (n > ELEMENTSOF(fds))
                        child_fail(sync_fd, E2BIG, "too many descriptors to pass (%zu)", n);
                for (size_t i = 0; i < 3; i++)
                        fds[i] = o->stdio[i];
                for (size_t i = 0; i < o->n_extra_fds; i++)
                        fds[3 + i] = o->extra_fds[i];
                /* The sync socket must not sit where an installed descriptor goes. */
                sync_fd = fcntl(sync_fd, F_DUPFD_CLOEXEC, (int) n);
                if (sync_fd < 0)
                        _exit(127);
                r = child_setup_fds(fds, n);
                if (r < 0)
                        child_fail(sync_fd, r, "setting up stdio: %s", strerror(-r));
        }

        /* rlimits and oom_score_adj only: the rest of the config belongs to the init. */
        r = process_setup_kernel(&only_process, &msg);
        if (r < 0)
                child_fail_msg(sync_fd, r, "process", msg);
        if (seccomp && !proc->no_new_privileges) {
                r = seccomp_program_load(seccomp);
                if (r < 0)
                        child_fail(sync_fd, r, "linux.seccomp: loading the filter: %s",
                                   strerror(-r));
        }
        r = process_setup_identity(proc, &msg);
        if (r < 0)
                child_fail_msg(sync_fd, r, "process", msg);
        r = process_find_executable(proc, &exe, &msg);
        if (r < 0)
                child_fail_msg(sync_fd, r, "process.args[0]", msg);
        if (seccomp && proc->no_new_privileges) {
                r = seccomp_program_load(seccomp);
                if (r < 0)
                        child_fail(sync_fd, r, "linux.seccomp: loading the filter: %s",
                                   strerror(-r));
        }
        execve(exe, proc->args, proc->env ? proc->env : (char *[]){ NULL });
        child_fail(sync_fd, errno, "process.args[0]: executing '%s': %m", exe);
}

int container_exec(pid_t init_pid, const ContainerExecOptions *o, pid_t *ret_pid, int *ret_pidfd,
                   int *ret_pty_master, char **ret_error) {
        static const struct {
                const char *name;
                int flag;
        } ns_order[] = {
                /* user first (it owns the others), mnt last (it hides /proc/<pid>). */
                { "user", CLONE_NEWUSER }, { "ipc", CLONE_NEWIPC }, { "uts", CLONE_NEWUTS },
                { "net", CLONE_NEWNET },   { "pid", CLONE_NEWPID }, { "cgroup", CLONE_NEWCGROUP },
                { "mnt", CLONE_NEWNS },
        };
        int ns_fds[ELEMENTSOF(ns_order)];
        SeccompProgram *seccomp = NULL;
        _cleanup_close_ int pty = -EBADF, sync_fd = -EBADF;
        int sv[2], r, status;
        pid_t helper, pid = 0;

        if (!o || !o->process || init_pid <= 0)
                return -EINVAL;
        if (ret_error)
                *ret_error = NULL;

        for (size_t i = 0; i < ELEMENTSOF(ns_fds); i++)
                ns_fds[i] = -EBADF;
        for (size_t i = 0; i < ELEMENTSOF(ns_order); i++) {
                r = open_ns_if_different(init_pid, ns_order[i].name, &ns_fds[i]);
                if (r < 0) {
                        fail_msg(ret_error, r, "container init %d: %s namespace: %s",
                                 (int) init_pid, ns_order[i].name, strerror(-r));
                        goto finish;
                }
        }
        r = build_seccomp(o->seccomp, o->default_seccomp,
                          o->process->has_capabilities ? o->process->capabilities.bounding : 0,
                          o->seccomp_cache_dir, &seccomp, ret_error);
        if (r < 0)
                goto finish;

        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
                r = -errno;
                goto finish;
        }

        helper = fork();
        if (helper < 0) {
                r = -errno;
                safe_close(sv[0]);
                safe_close(sv[1]);
                goto finish;
        }
        if (helper == 0) {
                safe_close(sv[0]);
                if (o->cgroup) {
                        r = cgroup_add_pid(o->cgroup, getpid());
                        if (r < 0)
                                child_fail(sv[1], r, "joining the container's cgroup: %s",
                                           strerror(-r));
                }
                for (size_t i = 0; i < ELEMENTSOF(ns_order); i++)
                        if (ns_fds[i] >= 0 && setns(ns_fds[i], ns_order[i].flag) < 0)
                                child_fail(sv[1], errno, "joining the container's %s namespace: %m",
                                           ns_order[i].name);
                /* The new process is our parent's child, in the container's PID namespace. */
                pid_t child = raw_clone3(CLONE_PARENT, NULL);
                if (child == 0)
                        exec_child(o, seccomp, sv[1]);
                if (child < 0)
                        child_fail(sv[1], errno, "creating the process: %m");
                (void) sync_send(sv[1], SYNC_PID, child, NULL, -1);
                _exit(0);
        }
        safe_close(sv[1]);
        sync_fd = sv[0];

        for (;;) {
                SyncHeader h;
                _cleanup_free_ char *text = NULL;
                int fd = -EBADF;

                r = sync_recv(sync_fd, &h, &text, &fd);
                if (r < 0)
                        break;
                if (r == 0) {
                        r = pid > 0 ? 0 : -ECHILD;
                        if (r < 0)
                                fail_msg(ret_error, r, "exec helper exited without a process");
                        break;
                }
                if (h.type == SYNC_PID)
                        pid = h.value;
                else if (h.type == SYNC_PTY) {
                        safe_close(pty);
                        pty = fd;
                } else if (h.type == SYNC_ERROR) {
                        if (ret_error)
                                *ret_error = TAKE_PTR(text);
                        r = h.value > 0 ? -h.value : -EIO;
                        break;
                } else {
                        safe_close(fd);
                        r = fail_msg(ret_error, -EBADMSG, "unexpected message %u", h.type);
                        break;
                }
        }
        while (waitpid(helper, &status, 0) < 0 && errno == EINTR)
                ;
        if (r < 0) {
                if (pid > 0) {
                        (void) kill(pid, SIGKILL);
                        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                                ;
                }
                goto finish;
        }

        if (ret_pidfd) {
                int fd = (int) syscall(SYS_pidfd_open, pid, 0);
                *ret_pidfd = fd >= 0 ? fd : -EBADF;
        }
        if (ret_pid)
                *ret_pid = pid;
        if (ret_pty_master)
                *ret_pty_master = TAKE_FD(pty);
        r = 0;
finish:
        for (size_t i = 0; i < ELEMENTSOF(ns_fds); i++)
                safe_close(ns_fds[i]);
        seccomp_program_free(seccomp);
        return r;
}
