/* SPDX-License-Identifier: Apache-2.0 */
/* test-rootfs.c: rootfs_setup() for real, each case in a forked child with its own mount
 * namespace, on a busybox root built in the test's directory. */
#include <fcntl.h>
#include <jansson.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fileio.h"
#include "path-util.h"
#include "rootfs.h"
#include "string-util.h"
#include "test-busybox.h"
#include "tests.h"

#ifndef MQUEUE_MAGIC
#define MQUEUE_MAGIC 0x19800202
#endif

static int report_fd = -EBADF;

/* In the child an assertion must not unwind into the harness: it reports and exits. */
_printf_(2, 3) _noreturn_ static void child_fail(int line, const char *fmt, ...) {
        va_list ap;

        dprintf(report_fd, "test-rootfs.c:%d: ", line);
        va_start(ap, fmt);
        vdprintf(report_fd, fmt, ap);
        va_end(ap);
        _exit(EXIT_FAILURE);
}
#define CHECK(expr)                                                                                \
        do {                                                                                       \
                if (!(expr))                                                                       \
                        child_fail(__LINE__, "check failed: %s (errno: %m)", #expr);               \
        } while (0)

typedef void (*ChildFunc)(void *userdata);

/* The host's mount table, as far as this test can affect it: the root's line and every mount
 * under the test's directory. Other tests may mount elsewhere meanwhile. */
static char *read_mountinfo(void) {
        _cleanup_free_ char *s = NULL;
        char *line, *save = NULL, *ours = NULL;

        ASSERT_OK(read_full_file("/proc/self/mountinfo", SIZE_MAX, &s, NULL));
        for (line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char mnt[PATH_MAX];

                if (sscanf(line, "%*s %*s %*s %*s %4095s", mnt) == 1 &&
                    (streq(mnt, "/") || path_startswith(mnt, test_tmpdir())))
                        ASSERT_OK(strextend(&ours, line, "\n"));
        }
        ASSERT_NOT_NULL(ours);
        return ours;
}

/* Runs f in a child in new namespaces; the host's mount table must be the same afterwards. */
static void run_child(int ns_flags, ChildFunc f, void *userdata) {
        _cleanup_free_ char *before = read_mountinfo(), *after = NULL, *msg = NULL;
        int pipefd[2], status;
        pid_t pid;

        ASSERT_OK(pipe2(pipefd, O_CLOEXEC));
        fflush(NULL);
        pid = fork();
        ASSERT_OK(pid);
        if (pid == 0) {
                safe_close(pipefd[0]);
                report_fd = pipefd[1];
                CHECK(unshare(CLONE_NEWNS | ns_flags) >= 0);
                f(userdata);
                _exit(EXIT_SUCCESS);
        }
        safe_close(pipefd[1]);
        ASSERT_OK(read_full_fd(pipefd[0], 65536, &msg, NULL));
        safe_close(pipefd[0]);
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                test_fail(__FILE__, __LINE__, "child failed (status %d): %s", status, msg);
        after = read_mountinfo();
        ASSERT_STREQ(before, after);
}

static void write_file(const char *dir, const char *name, const char *contents) {
        _cleanup_free_ char *p = path_join(dir, name);

        ASSERT_NOT_NULL(p);
        ASSERT_OK(write_string_file_atomic(p, contents, 0644));
}

static char *make_dir(const char *name) {
        char *p = path_join(test_tmpdir(), name);

        ASSERT_NOT_NULL(p);
        ASSERT_OK(mkdir_p(p, 0755));
        return p;
}

static void populate_busybox(const char *root) {
        int r = test_busybox_rootfs(root);

        if (r == -ENOENT)
                test_skip("/bin/busybox (busybox-static) is not installed");
        ASSERT_OK(r);
        write_file(root, "marker", "inside\n");
}

/* valgrind 3.19 (Debian 12) fails openat2 and the new mount API with ENOSYS. */
static void require_root_and_syscalls(void) {
        struct open_how how = { .flags = O_PATH | O_CLOEXEC };
        long fd;

        if (geteuid() != 0)
                test_skip("needs root");
        fd = syscall(SYS_openat2, AT_FDCWD, "/", &how, sizeof how);
        if (fd < 0 && errno == ENOSYS)
                test_skip("openat2() is not available (under valgrind?)");
        if (fd >= 0)
                close((int) fd);
}

static char *make_rootfs(void) {
        char *root;

        require_root_and_syscalls();
        root = make_dir("rootfs");
        populate_busybox(root);
        return root;
}

/* The default config with extra mounts (a JSON array text, may be NULL) and devices appended
 * and root.readonly set as asked; host_network drops the network namespace; propagation (may
 * be NULL) is linux.rootfsPropagation. */
static OciConfig *make_config_full(const char *root, const char *extra_mounts, const char *devices,
                                   bool readonly, bool host_network, const char *propagation) {
        _cleanup_free_ char *text = NULL, *dump = NULL, *error = NULL;
        json_t *j, *extra;
        OciConfig *c = NULL;

        ASSERT_OK(oci_config_default_json(root, NULL, &text));
        j = json_loads(text, 0, NULL);
        ASSERT_NOT_NULL(j);
        if (extra_mounts) {
                extra = json_loads(extra_mounts, 0, NULL);
                ASSERT_NOT_NULL(extra);
                ASSERT_OK(json_array_extend(json_object_get(j, "mounts"), extra));
                json_decref(extra);
        }
        if (devices) {
                extra = json_loads(devices, 0, NULL);
                ASSERT_NOT_NULL(extra);
                ASSERT_OK(json_array_extend(json_object_get(json_object_get(j, "linux"), "devices"),
                                            extra));
                json_decref(extra);
        }
        if (host_network) {
                json_t *ns = json_object_get(json_object_get(j, "linux"), "namespaces");
                size_t i;
                json_t *v;

                json_array_foreach (ns, i, v)
                        if (streq(json_string_value(json_object_get(v, "type")), "network")) {
                                ASSERT_OK(json_array_remove(ns, i));
                                break;
                        }
        }
        if (propagation)
                ASSERT_OK(json_object_set_new(json_object_get(j, "linux"), "rootfsPropagation",
                                              json_string(propagation)));
        ASSERT_OK(json_object_set_new(json_object_get(j, "root"), "readonly",
                                      json_boolean(readonly)));
        dump = json_dumps(j, 0);
        json_decref(j);
        ASSERT_NOT_NULL(dump);
        if (oci_config_parse(dump, strlen(dump), &c, &error) < 0)
                test_fail(__FILE__, __LINE__, "config: %s", strna(error));
        return c;
}

static OciConfig *make_config(const char *root, const char *extra_mounts, const char *devices,
                              bool readonly) {
        return make_config_full(root, extra_mounts, devices, readonly, false, NULL);
}

typedef struct Case {
        RootfsOptions opts;
        void (*check)(struct Case *c);
        int expect_error;
        const char *expect_message;
        const char *arg;
} Case;

static void case_child(void *userdata) {
        Case *c = userdata;
        _cleanup_free_ char *error = NULL;
        int r;

        r = rootfs_setup(&c->opts, &error);
        if (c->expect_error != 0) {
                if (r != -c->expect_error)
                        child_fail(__LINE__, "expected error %d, got %d (%s)", -c->expect_error, r,
                                   strna(error));
                if (!error || !startswith(error, c->expect_message))
                        child_fail(__LINE__, "unexpected message '%s'", strna(error));
                dprintf(report_fd, "%s", error);
                return;
        }
        if (r < 0)
                child_fail(__LINE__, "rootfs_setup: %d: %s", r, strna(error));
        if (c->check)
                c->check(c);
}

static void run_case(Case *c, int ns_flags) {
        run_child(ns_flags, case_child, c);
}

static bool fs_is(const char *path, long magic) {
        struct statfs sfs;

        return statfs(path, &sfs) >= 0 && sfs.f_type == magic;
}

static bool is_readonly(const char *path) {
        struct statvfs s;

        return statvfs(path, &s) >= 0 && (s.f_flag & ST_RDONLY);
}

static bool is_char_dev(const char *path, unsigned maj, unsigned min, mode_t mode) {
        struct stat st;

        return lstat(path, &st) >= 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) == maj &&
               minor(st.st_rdev) == min && (st.st_mode & 07777) == mode;
}

static bool link_is(const char *path, const char *target) {
        char buf[PATH_MAX];
        ssize_t n = readlink(path, buf, sizeof buf - 1);

        if (n < 0)
                return false;
        buf[n] = '\0';
        return streq(buf, target);
}

static void check_default(Case *c) {
        char cwd[PATH_MAX], buf[16];
        int fd;

        (void) c;
        CHECK(getcwd(cwd, sizeof cwd) && streq(cwd, "/"));
        CHECK(access("/marker", F_OK) >= 0);
        CHECK(access(test_tmpdir(), F_OK) < 0 && errno == ENOENT);
        CHECK(fs_is("/proc", PROC_SUPER_MAGIC));
        CHECK(fs_is("/dev", TMPFS_MAGIC));
        CHECK(fs_is("/dev/pts", DEVPTS_SUPER_MAGIC));
        CHECK(fs_is("/dev/shm", TMPFS_MAGIC));
        CHECK(fs_is("/dev/mqueue", MQUEUE_MAGIC));
        CHECK(fs_is("/sys", SYSFS_MAGIC));
        CHECK(is_readonly("/sys"));
        CHECK(!is_readonly("/"));

        CHECK(is_char_dev("/dev/null", 1, 3, 0666));
        CHECK(is_char_dev("/dev/zero", 1, 5, 0666));
        CHECK(is_char_dev("/dev/full", 1, 7, 0666));
        CHECK(is_char_dev("/dev/random", 1, 8, 0666));
        CHECK(is_char_dev("/dev/urandom", 1, 9, 0666));
        CHECK(is_char_dev("/dev/tty", 5, 0, 0666));
        CHECK(access("/dev/sda", F_OK) < 0 && errno == ENOENT);
        CHECK(access("/dev/kmsg", F_OK) < 0 && errno == ENOENT);
        CHECK(access("/dev/console", F_OK) < 0 && errno == ENOENT);
        CHECK(link_is("/dev/fd", "/proc/self/fd"));
        CHECK(link_is("/dev/stdin", "/proc/self/fd/0"));
        CHECK(link_is("/dev/stderr", "/proc/self/fd/2"));
        CHECK(link_is("/dev/ptmx", "pts/ptmx"));
        CHECK(access("/dev/pts/ptmx", F_OK) >= 0);

        /* Masked: reads nothing (this kernel may lack /proc/kcore; /proc/keys is not empty). */
        CHECK(access("/proc/kcore", F_OK) < 0 || fs_is("/proc/kcore", TMPFS_MAGIC) ||
              is_char_dev("/proc/kcore", 1, 3, 0666));
        fd = open("/proc/keys", O_RDONLY | O_CLOEXEC);
        CHECK(fd >= 0);
        CHECK(read(fd, buf, sizeof buf) == 0);
        close(fd);
        CHECK(is_char_dev("/proc/timer_list", 1, 3, 0666));
        if (access("/proc/acpi", F_OK) >= 0)
                CHECK(fs_is("/proc/acpi", TMPFS_MAGIC) && is_readonly("/proc/acpi"));

        /* Read-only paths refuse writes. */
        fd = open("/proc/sys/kernel/hostname", O_WRONLY | O_CLOEXEC);
        CHECK(fd < 0 && errno == EROFS);
        CHECK(access("/proc/sysrq-trigger", F_OK) < 0 || is_readonly("/proc/sysrq-trigger"));
        CHECK(is_readonly("/proc/irq") && !is_readonly("/proc/self"));

        /* /dev/null works. */
        fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
        CHECK(fd >= 0 && write(fd, "x", 1) == 1);
        close(fd);
}

TEST(default_config) {
        _cleanup_free_ char *root = make_rootfs();
        _cleanup_(oci_config_freep) OciConfig *config = make_config(root, NULL, NULL, false);
        Case c = { .opts = { .config = config, .root = root }, .check = check_default };

        run_case(&c, 0);
}

static void check_readonly(Case *c) {
        (void) c;
        CHECK(is_readonly("/"));
        CHECK(mkdir("/newdir", 0755) < 0 && errno == EROFS);
        CHECK(mkdir("/dev/shm/ok", 0755) >= 0);
        CHECK(!is_readonly("/dev"));
}

TEST(root_readonly) {
        _cleanup_free_ char *root = make_rootfs();
        _cleanup_(oci_config_freep) OciConfig *config = make_config(root, NULL, NULL, true);
        Case c = { .opts = { .config = config, .root = root }, .check = check_readonly };

        run_case(&c, 0);
}

static void check_binds(Case *c) {
        _cleanup_free_ char *s = NULL;
        struct stat st;

        (void) c;
        CHECK(read_full_file("/data/hello", 100, &s, NULL) >= 0 && streq(s, "hello\n"));
        CHECK(is_readonly("/data"));
        CHECK(statvfs("/data", &(struct statvfs){}) >= 0);
        CHECK(open("/data/new", O_CREAT | O_WRONLY | O_CLOEXEC, 0644) < 0 && errno == EROFS);
        s = mfree(s);
        CHECK(read_full_file("/etc/deep/hostfile", 100, &s, NULL) >= 0 && streq(s, "file\n"));
        CHECK(stat("/etc/deep/hostfile", &st) >= 0 && S_ISREG(st.st_mode));
        CHECK(!is_readonly("/etc/deep/hostfile"));
        /* The ro of one bind does not leak onto the root. */
        CHECK(!is_readonly("/"));
        /* nosuid and nodev were asked for the file. */
        struct statvfs v;
        CHECK(statvfs("/etc/deep/hostfile", &v) >= 0 && (v.f_flag & ST_NOSUID) &&
              (v.f_flag & ST_NODEV));
}

TEST(bind_dir_and_file) {
        _cleanup_free_ char *root = make_rootfs(), *host = make_dir("host"), *mounts = NULL,
                            *file = NULL, *deep = NULL;
        _cleanup_(oci_config_freep) OciConfig *config = NULL;
        Case c = { .check = check_binds };

        write_file(host, "hello", "hello\n");
        write_file(test_tmpdir(), "hostfile", "file\n");
        file = path_join(test_tmpdir(), "hostfile");
        ASSERT_OK(asprintf(&mounts,
                           "[{\"destination\":\"/data\",\"type\":\"bind\",\"source\":\"%s\","
                           "\"options\":[\"rbind\",\"ro\"]},"
                           "{\"destination\":\"/etc/deep/hostfile\",\"source\":\"%s\","
                           "\"options\":[\"bind\",\"nosuid\",\"nodev\"]}]",
                           host, file));
        config = make_config(root, mounts, NULL, false);
        c.opts = (RootfsOptions){ .config = config, .root = root };
        run_case(&c, 0);

        /* The file mount point was created inside the root, nothing outside. */
        deep = path_join(root, "etc/deep/hostfile");
        ASSERT_TRUE(access(deep, F_OK) >= 0);
}

static void check_tmpfs(Case *c) {
        struct statfs sfs;
        struct stat st;

        (void) c;
        CHECK(statfs("/scratch", &sfs) >= 0 && sfs.f_type == TMPFS_MAGIC);
        CHECK((uint64_t) sfs.f_blocks * (uint64_t) sfs.f_bsize == 1024 * 1024);
        CHECK(stat("/scratch", &st) >= 0 && (st.st_mode & 07777) == 0700);
        CHECK(access("/scratch/a", F_OK) < 0);
}

TEST(tmpfs_with_data) {
        _cleanup_free_ char *root = make_rootfs();
        _cleanup_(oci_config_freep) OciConfig *config = make_config(
                root,
                "[{\"destination\":\"/scratch\",\"type\":\"tmpfs\",\"source\":\"tmpfs\","
                "\"options\":[\"size=1m\",\"mode=700\",\"nosuid\"]}]",
                NULL, false);
        Case c = { .opts = { .config = config, .root = root }, .check = check_tmpfs };

        run_case(&c, 0);
}

static void check_symlink(Case *c) {
        CHECK(fs_is("/escape", TMPFS_MAGIC));
        CHECK(fs_is(c->arg, TMPFS_MAGIC));
        CHECK(fs_is("/up", TMPFS_MAGIC));
        CHECK(fs_is("/uptarget", TMPFS_MAGIC));
}

TEST(symlink_destination_stays_inside) {
        _cleanup_free_ char *root = make_rootfs(), *outside = make_dir("outside"), *link = NULL,
                            *up = NULL, *inside = NULL, *inside2 = NULL;
        _cleanup_(oci_config_freep) OciConfig *config = make_config(
                root,
                "[{\"destination\":\"/escape\",\"type\":\"tmpfs\",\"source\":\"tmpfs\"},"
                "{\"destination\":\"/up\",\"type\":\"tmpfs\",\"source\":\"tmpfs\"}]",
                NULL, false);
        Case c = { .opts = { .config = config, .root = root },
                   .check = check_symlink,
                   .arg = outside };

        /* An absolute link to a host directory, and one climbing out with "..". */
        link = path_join(root, "escape");
        ASSERT_TRUE(symlink(outside, link) >= 0);
        up = path_join(root, "up");
        ASSERT_TRUE(symlink("../../../../../../../uptarget", up) >= 0);
        run_case(&c, 0);

        inside = path_join(root, outside);
        ASSERT_TRUE(access(inside, F_OK) >= 0);
        inside2 = path_join(root, "uptarget");
        ASSERT_TRUE(access(inside2, F_OK) >= 0);
}

static void check_overlay(Case *c) {
        _cleanup_free_ char *s = NULL;

        (void) c;
        CHECK(fs_is("/", OVERLAYFS_SUPER_MAGIC));
        CHECK(read_full_file("/which", 100, &s, NULL) >= 0 && streq(s, "top\n"));
        s = mfree(s);
        CHECK(read_full_file("/bottom-only", 100, &s, NULL) >= 0 && streq(s, "bottom\n"));
        CHECK(write_string_file_atomic("/new", "new\n", 0644) >= 0);
        CHECK(write_string_file_atomic("/which", "changed\n", 0644) >= 0);
        CHECK(is_char_dev("/dev/null", 1, 3, 0666));
}

static void overlay_case(size_t n_extra_lowers) {
        _cleanup_free_ char *top = make_dir("lower-top"), *bottom = make_dir("lower-bottom"),
                            *upper = make_dir("up,per:1"), *work = make_dir("work"),
                            *mnt = make_dir("merged"), *s = NULL, *p = NULL;
        _cleanup_strv_free_ char **lowers = NULL;
        _cleanup_(oci_config_freep) OciConfig *config = NULL;
        ContainerOverlay ov = {};
        Case c = { .check = check_overlay };

        populate_busybox(bottom);
        write_file(bottom, "which", "bottom\n");
        write_file(bottom, "bottom-only", "bottom\n");
        write_file(top, "which", "top\n");
        ASSERT_OK(strv_extend(&lowers, top));
        /* Long names so that the mount options exceed a page. */
        for (size_t i = 0; i < n_extra_lowers; i++) {
                _cleanup_free_ char *name = NULL, *d = NULL;

                ASSERT_OK(asprintf(&name,
                                   "lower-%03zu-with-a-long-name-to-fill-the-page-of-options-"
                                   "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                                   i));
                d = make_dir(name);
                ASSERT_OK(strv_extend(&lowers, d));
        }
        ASSERT_OK(strv_extend(&lowers, bottom));
        ov = (ContainerOverlay){ .lowers = lowers, .upper = upper, .work = work };
        config = make_config(mnt, NULL, NULL, false);
        c.opts = (RootfsOptions){ .config = config, .root = mnt, .overlay = &ov };
        run_case(&c, 0);

        /* Writes went to the upper directory; the lowers are as they were. */
        p = path_join(upper, "new");
        ASSERT_OK(read_full_file(p, 100, &s, NULL));
        ASSERT_STREQ(s, "new\n");
        s = mfree(s);
        free(p);
        p = path_join(top, "which");
        ASSERT_OK(read_full_file(p, 100, &s, NULL));
        ASSERT_STREQ(s, "top\n");
        free(p);
        p = path_join(bottom, "new");
        ASSERT_TRUE(access(p, F_OK) < 0 && errno == ENOENT);
        free(p);
        p = path_join(mnt, "new");
        ASSERT_TRUE(access(p, F_OK) < 0 && errno == ENOENT);
}

TEST(overlay_root) {
        require_root_and_syscalls();
        overlay_case(0);
}

TEST(overlay_root_many_lowers) {
        require_root_and_syscalls();
        overlay_case(40);
}

TEST(missing_bind_source) {
        _cleanup_free_ char *root = make_rootfs(), *p = NULL;
        _cleanup_(oci_config_freep) OciConfig *config =
                make_config(root,
                            "[{\"destination\":\"/data\",\"type\":\"bind\",\"source\":\"/nosuch\","
                            "\"options\":[\"rbind\"]}]",
                            NULL, false);
        Case c = { .opts = { .config = config, .root = root },
                   .expect_error = ENOENT,
                   .expect_message = "mounts[6] (/data): mount of '/nosuch' failed: No such file "
                                     "or directory" };

        run_case(&c, 0);
        p = path_join(root, "data");
        ASSERT_TRUE(access(p, F_OK) < 0 && errno == ENOENT);
}

TEST(relative_root_refused) {
        _cleanup_(oci_config_freep) OciConfig *config = NULL;
        _cleanup_free_ char *error = NULL;
        RootfsOptions o = {};

        ASSERT_OK(oci_config_default("rootfs", NULL, &config));
        o = (RootfsOptions){ .config = config, .root = "rootfs" };
        ASSERT_ERROR(rootfs_setup(&o, &error), EINVAL);
        ASSERT_TRUE(startswith(error, "root.path: "));
}

static void check_rro(Case *c) {
        (void) c;
        CHECK(is_readonly("/data"));
        CHECK(fs_is("/data/sub", TMPFS_MAGIC));
        CHECK(is_readonly("/data/sub"));
}

static void rro_child(void *userdata) {
        Case *c = userdata;
        _cleanup_free_ char *sub = NULL;

        /* A submount of the source, only in this namespace. */
        CHECK(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) >= 0);
        sub = path_join(c->arg, "sub");
        CHECK(sub && mount("tmpfs", sub, "tmpfs", 0, NULL) >= 0);
        case_child(c);
}

TEST(recursive_readonly_bind) {
        _cleanup_free_ char *root = make_rootfs(), *host = make_dir("rro"), *sub = NULL,
                            *mounts = NULL;
        _cleanup_(oci_config_freep) OciConfig *config = NULL;
        Case c = { .check = check_rro, .arg = host };

        sub = path_join(host, "sub");
        ASSERT_OK(mkdir_p(sub, 0755));
        ASSERT_OK(asprintf(&mounts,
                           "[{\"destination\":\"/data\",\"type\":\"bind\",\"source\":\"%s\","
                           "\"options\":[\"rbind\",\"rro\"]}]",
                           host));
        config = make_config(root, mounts, NULL, false);
        c.opts = (RootfsOptions){ .config = config, .root = root };
        run_child(0, rro_child, &c);
}

static void check_copyup(Case *c) {
        _cleanup_free_ char *s = NULL;
        struct stat st;

        (void) c;
        CHECK(fs_is("/etc", TMPFS_MAGIC));
        CHECK(read_full_file("/etc/copyme", 100, &s, NULL) >= 0 && streq(s, "copied\n"));
        CHECK(stat("/etc/sub", &st) >= 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0710);
        CHECK(link_is("/etc/link", "copyme"));
        CHECK(stat("/etc", &st) >= 0 && (st.st_mode & 07777) == 0751);
        CHECK(write_string_file_atomic("/etc/copyme", "changed\n", 0644) >= 0);
}

TEST(tmpcopyup) {
        _cleanup_free_ char *root = make_rootfs(), *etc = NULL, *sub = NULL, *link = NULL,
                            *p = NULL, *s = NULL;
        _cleanup_(oci_config_freep) OciConfig *config =
                make_config(root,
                            "[{\"destination\":\"/etc\",\"type\":\"tmpfs\",\"source\":\"tmpfs\","
                            "\"options\":[\"tmpcopyup\"]}]",
                            NULL, false);
        Case c = { .opts = { .config = config, .root = root }, .check = check_copyup };

        etc = path_join(root, "etc");
        ASSERT_TRUE(chmod(etc, 0751) >= 0);
        write_file(etc, "copyme", "copied\n");
        sub = path_join(etc, "sub");
        ASSERT_TRUE(mkdir(sub, 0710) >= 0);
        write_file(sub, "deeper", "x\n");
        link = path_join(etc, "link");
        ASSERT_TRUE(symlink("copyme", link) >= 0);
        run_case(&c, 0);

        p = path_join(etc, "copyme");
        ASSERT_OK(read_full_file(p, 100, &s, NULL));
        ASSERT_STREQ(s, "copied\n");
}

static void check_devices(Case *c) {
        struct stat st;

        (void) c;
        CHECK(lstat("/dev/fuse", &st) >= 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) == 10 &&
              minor(st.st_rdev) == 229 && (st.st_mode & 07777) == 0600 && st.st_uid == 1 &&
              st.st_gid == 2);
        CHECK(lstat("/dev/net/tun", &st) >= 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) == 10 &&
              minor(st.st_rdev) == 200);
        CHECK(lstat("/dev/myfifo", &st) >= 0 && S_ISFIFO(st.st_mode));
        /* Overridden by the config: its mode wins over the default. */
        CHECK(is_char_dev("/dev/zero", 1, 5, 0600));
}

TEST(config_devices) {
        _cleanup_free_ char *root = make_rootfs();
        _cleanup_(oci_config_freep) OciConfig *config =
                make_config(root, NULL,
                            "[{\"path\":\"/dev/fuse\",\"type\":\"c\",\"major\":10,\"minor\":229,"
                            "\"fileMode\":384,\"uid\":1,\"gid\":2},"
                            "{\"path\":\"/dev/net/tun\",\"type\":\"c\",\"major\":10,\"minor\":200},"
                            "{\"path\":\"/dev/myfifo\",\"type\":\"p\"},"
                            "{\"path\":\"/dev/zero\",\"type\":\"c\",\"major\":1,\"minor\":5,"
                            "\"fileMode\":384}]",
                            false);
        Case c = { .opts = { .config = config, .root = root }, .check = check_devices };

        run_case(&c, 0);
}

static void check_cgroup(Case *c) {
        if (c->opts.cgroup_mode == CGROUP_MODE_V2) {
                CHECK(fs_is("/sys/fs/cgroup", CGROUP2_SUPER_MAGIC));
                return;
        }
        CHECK(fs_is("/sys/fs/cgroup", TMPFS_MAGIC));
        CHECK(is_readonly("/sys/fs/cgroup"));
        CHECK(fs_is("/sys/fs/cgroup/memory", CGROUP_SUPER_MAGIC));
        CHECK(is_readonly("/sys/fs/cgroup/memory"));
        CHECK(access("/sys/fs/cgroup/memory/memory.limit_in_bytes", F_OK) >= 0);
        CHECK(fs_is("/sys/fs/cgroup/pids", CGROUP_SUPER_MAGIC));
        if (c->opts.cgroup_mode == CGROUP_MODE_HYBRID)
                CHECK(fs_is("/sys/fs/cgroup/unified", CGROUP2_SUPER_MAGIC));
}

TEST(cgroup_mount) {
        _cleanup_free_ char *root = make_rootfs();
        _cleanup_(oci_config_freep) OciConfig *config = make_config(
                root,
                "[{\"destination\":\"/sys/fs/cgroup\",\"type\":\"cgroup\",\"source\":\"cgroup\","
                "\"options\":[\"nosuid\",\"noexec\",\"nodev\",\"relatime\",\"ro\"]}]",
                NULL, false);
        Case c = { .opts = { .config = config, .root = root, .cgroup_mode = cgroup_detect(NULL) },
                   .check = check_cgroup };

        if (c.opts.cgroup_mode < 0)
                test_skip("no cgroup hierarchy on this host");
        run_case(&c, CLONE_NEWCGROUP);
}

static void check_sysfs_netns(Case *c) {
        (void) c;
        CHECK(fs_is("/sys", SYSFS_MAGIC));
        CHECK(is_readonly("/sys"));
        /* Masked directory below /sys. */
        if (access("/sys/firmware", F_OK) >= 0)
                CHECK(fs_is("/sys/firmware", TMPFS_MAGIC));
}

TEST(new_network_namespace) {
        _cleanup_free_ char *root = make_rootfs();
        _cleanup_(oci_config_freep) OciConfig *config = make_config(root, NULL, NULL, false);
        Case c = { .opts = { .config = config, .root = root }, .check = check_sysfs_netns };

        run_case(&c, CLONE_NEWNET);
}

static void write_proc(const char *file, const char *s) {
        int fd = open(file, O_WRONLY | O_CLOEXEC);

        CHECK(fd >= 0);
        CHECK(write(fd, s, strlen(s)) == (ssize_t) strlen(s));
        close(fd);
}

static void check_userns(Case *c) {
        struct stat st;

        check_default(c);
        /* The device is the host's node, bound: same device numbers, not mknod'ed. */
        CHECK(stat("/dev/null", &st) >= 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) == 1);
        CHECK(is_readonly("/sys"));
}

/* Root of a new user namespace (mapped to host root only), which owns new mount, pid and ipc
 * namespaces; /sys without a network namespace of its own falls back to the host's, bound. */
static void userns_child(void *userdata) {
        int status;
        pid_t pid;

        CHECK(unshare(CLONE_NEWUSER) >= 0);
        write_proc("/proc/self/uid_map", "0 0 1");
        write_proc("/proc/self/setgroups", "deny");
        write_proc("/proc/self/gid_map", "0 0 1");
        CHECK(unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC) >= 0);
        pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
                case_child(userdata);
                _exit(EXIT_SUCCESS);
        }
        CHECK(waitpid(pid, &status, 0) == pid);
        _exit(WIFEXITED(status) ? WEXITSTATUS(status) : EXIT_FAILURE);
}

TEST(user_namespace) {
        _cleanup_free_ char *root = make_rootfs();
        _cleanup_(oci_config_freep) OciConfig *config =
                make_config_full(root, NULL, NULL, false, true, NULL);
        Case c = { .opts = { .config = config, .root = root, .in_user_namespace = true },
                   .check = check_userns };

        /* Only uid/gid 0 is mapped: devpts cannot be given gid 5 (runc's rootless specs drop
         * it the same way). */
        for (size_t i = 0; i < config->n_mounts; i++) {
                char *g = config->mounts[i].data ? strstr(config->mounts[i].data, "gid=5") : NULL;

                if (g)
                        memmove(g, g + 5, strlen(g + 5) + 1);
        }
        run_child(0, userns_child, &c);
}

/* The optional fields of the mountinfo line of the mount at path. */
static bool mount_is_shared(const char *path) {
        _cleanup_free_ char *info = NULL;
        char *line, *save = NULL;

        if (read_full_file("/proc/self/mountinfo", SIZE_MAX, &info, NULL) < 0)
                return false;
        for (line = strtok_r(info, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char mnt[PATH_MAX], *sep = strstr(line, " - ");

                if (sscanf(line, "%*s %*s %*s %*s %4095s", mnt) == 1 && streq(mnt, path) && sep) {
                        *sep = '\0';
                        /* The last one stacked there wins. */
                        info[0] = strstr(line, " shared:") ? 'y' : 'n';
                }
        }
        return info[0] == 'y';
}

static void check_propagation(Case *c) {
        (void) c;
        CHECK(mount_is_shared("/"));
        CHECK(mount_is_shared("/shared"));
        CHECK(!mount_is_shared("/private"));
}

TEST(propagation) {
        _cleanup_free_ char *root = make_rootfs();
        _cleanup_(oci_config_freep) OciConfig *config = make_config_full(
                root,
                "[{\"destination\":\"/shared\",\"type\":\"tmpfs\",\"source\":\"tmpfs\","
                "\"options\":[\"shared\"]},"
                "{\"destination\":\"/private\",\"type\":\"tmpfs\",\"source\":\"tmpfs\","
                "\"options\":[\"rprivate\"]}]",
                NULL, false, false, "rshared");
        Case c = { .opts = { .config = config, .root = root }, .check = check_propagation };

        run_case(&c, 0);
}
