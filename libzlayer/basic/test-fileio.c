/* SPDX-License-Identifier: Apache-2.0 */
/* test-fileio.c: bounded reads from files, streams and pipes; atomic writes; mkdir -p; fd flags. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "fd-util.h"
#include <unistd.h>
#include "fileio.h"
#include "path-util.h"
#include "tests.h"

static char *tmp_path(const char *name) {
        char *p;

        ASSERT_TRUE(asprintf(&p, "%s/%s", test_tmpdir(), name) >= 0);
        return p;
}

static void write_raw(const char *path, const void *data, size_t size) {
        _cleanup_fclose_ FILE *f = fopen(path, "we");

        ASSERT_NOT_NULL(f);
        ASSERT_EQ(fwrite(data, 1, size, f), size);
        ASSERT_EQ(fflush(f), 0);
}

/* A pattern that shows misplaced bytes, not just wrong lengths. */
static char *pattern(size_t n) {
        char *p = malloc(n);

        ASSERT_NOT_NULL(p);
        for (size_t i = 0; i < n; i++)
                p[i] = (char) ('a' + (i * 7 + i / 251) % 26);
        return p;
}

static size_t count_dir_entries(const char *dir) {
        DIR *d = opendir(dir);
        struct dirent *de;
        size_t n = 0;

        ASSERT_NOT_NULL(d);
        while ((de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        n++;
        closedir(d);
        return n;
}

TEST(read_full_file_basic) {
        _cleanup_free_ char *p = tmp_path("f"), *data = NULL;
        size_t size = 0;

        write_raw(p, "hello\0world", 11);
        ASSERT_OK(read_full_file(p, 1024, &data, &size));
        ASSERT_EQ(size, 11);
        ASSERT_EQ(memcmp(data, "hello\0world", 11), 0);
        ASSERT_EQ(data[11], '\0');
        data = mfree(data);

        /* Exactly max_size is fine, one more is not; nothing is returned on failure. */
        ASSERT_OK(read_full_file(p, 11, &data, NULL));
        data = mfree(data);
        ASSERT_ERROR(read_full_file(p, 10, &data, &size), EFBIG);
        ASSERT_NULL(data);
        ASSERT_ERROR(read_full_file(p, 0, &data, &size), EFBIG);
        ASSERT_NULL(data);
}

TEST(read_full_file_empty_and_errors) {
        _cleanup_free_ char *p = tmp_path("empty"), *missing = tmp_path("missing"), *data = NULL;
        size_t size = 99;

        write_raw(p, "", 0);
        ASSERT_OK(read_full_file(p, 0, &data, &size));
        ASSERT_EQ(size, 0);
        ASSERT_STREQ(data, "");
        data = mfree(data);

        ASSERT_ERROR(read_full_file(missing, 100, &data, &size), ENOENT);
        ASSERT_ERROR(read_full_file(test_tmpdir(), 100, &data, &size), EISDIR);
        ASSERT_ERROR(read_full_fd(-1, 100, &data, &size), EBADF);
        ASSERT_NULL(data);
        ASSERT_EQ(size, 0);
}

TEST(read_full_file_large) {
        _cleanup_free_ char *p = tmp_path("large"), *data = NULL, *src = pattern(300001);
        size_t size = 0;

        write_raw(p, src, 300001);
        ASSERT_OK(read_full_file(p, SIZE_MAX, &data, &size));
        ASSERT_EQ(size, 300001);
        ASSERT_EQ(memcmp(data, src, size), 0);
}

TEST(read_proc_file) {
        _cleanup_free_ char *data = NULL;
        size_t size = 0;

        /* Claims a size of 0 in stat(): the contents still come through. */
        ASSERT_OK(read_full_file("/proc/self/status", 1024 * 1024, &data, &size));
        ASSERT_GT(size, 0);
        ASSERT_TRUE(strstr(data, "Pid:") != NULL);
        data = mfree(data);
        ASSERT_ERROR(read_full_file("/proc/self/status", 10, &data, &size), EFBIG);
}

TEST(read_full_stream) {
        _cleanup_free_ char *p = tmp_path("stream"), *data = NULL, *src = pattern(100000);
        _cleanup_fclose_ FILE *f = NULL;
        size_t size = 0;

        write_raw(p, src, 100000);
        f = fopen(p, "re");
        ASSERT_NOT_NULL(f);
        ASSERT_OK(read_full_stream(f, 100000, &data, &size));
        ASSERT_EQ(size, 100000);
        ASSERT_EQ(memcmp(data, src, size), 0);
        ASSERT_EQ(data[size], '\0');
        data = mfree(data);

        /* From the current position on. */
        rewind(f);
        ASSERT_EQ(fgetc(f), src[0]);
        ASSERT_OK(read_full_stream(f, SIZE_MAX, &data, &size));
        ASSERT_EQ(size, 99999);
        data = mfree(data);

        rewind(f);
        ASSERT_ERROR(read_full_stream(f, 99999, &data, &size), EFBIG);
        ASSERT_NULL(data);
}

TEST(read_full_stream_memory) {
        static const char text[] = "key: value\n";
        _cleanup_fclose_ FILE *f = fmemopen((void *) text, sizeof text - 1, "r");
        _cleanup_free_ char *data = NULL;
        size_t size = 0;

        ASSERT_NOT_NULL(f);
        ASSERT_OK(read_full_stream(f, 1024, &data, &size));
        ASSERT_EQ(size, sizeof text - 1);
        ASSERT_STREQ(data, text);
}

/* A child writes n bytes of the pattern into a pipe; the parent reads them with read_full_fd. */
static int read_from_pipe(size_t n, size_t max_size, char **ret, size_t *ret_size) {
        int fds[2], status, r;
        pid_t pid;

        ASSERT_OK(pipe2(fds, O_CLOEXEC));
        pid = fork();
        ASSERT_OK(pid);
        if (pid == 0) {
                char *src = pattern(n);
                size_t off = 0;
                int code = 0;

                (void) signal(SIGPIPE, SIG_IGN);
                close(fds[0]);
                while (off < n) {
                        ssize_t k = write(fds[1], src + off, n - off);

                        /* EPIPE: the reader gave up on an oversized input. */
                        if (k <= 0) {
                                code = errno == EPIPE ? 0 : 1;
                                break;
                        }
                        off += (size_t) k;
                }
                free(src);
                _exit(code);
        }
        close(fds[1]);
        r = read_full_fd(fds[0], max_size, ret, ret_size);
        close(fds[0]);
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        return r;
}

TEST(read_full_fd_pipe) {
        _cleanup_free_ char *data = NULL, *src = pattern(200000);
        size_t size = 0;

        ASSERT_OK(read_from_pipe(200000, 200000, &data, &size));
        ASSERT_EQ(size, 200000);
        ASSERT_EQ(memcmp(data, src, size), 0);
        data = mfree(data);
        ASSERT_ERROR(read_from_pipe(200000, 199999, &data, &size), EFBIG);
        ASSERT_NULL(data);
        ASSERT_OK(read_from_pipe(0, 0, &data, &size));
        ASSERT_EQ(size, 0);
}

TEST(write_atomic) {
        _cleanup_free_ char *p = tmp_path("out"), *data = NULL;
        mode_t saved = umask(0077);
        struct stat st;
        size_t size = 0;

        ASSERT_OK(write_string_file_atomic(p, "first\n", 0644));
        ASSERT_OK(read_full_file(p, 1024, &data, &size));
        ASSERT_STREQ(data, "first\n");
        data = mfree(data);
        ASSERT_OK(stat(p, &st));
        /* The umask does not apply. */
        ASSERT_EQ(st.st_mode & 07777, 0644);

        ASSERT_OK(write_string_file_atomic(p, "second", 0600));
        ASSERT_OK(read_full_file(p, 1024, &data, &size));
        ASSERT_STREQ(data, "second");
        data = mfree(data);
        ASSERT_OK(stat(p, &st));
        ASSERT_EQ(st.st_mode & 07777, 0600);

        ASSERT_OK(write_string_file_atomic(p, "", 0640));
        ASSERT_OK(read_full_file(p, 1024, &data, &size));
        ASSERT_EQ(size, 0);

        ASSERT_OK(write_file_atomic(p, "a\0b", 3, 0640));
        data = mfree(data);
        ASSERT_OK(read_full_file(p, 1024, &data, &size));
        ASSERT_EQ(size, 3);
        ASSERT_EQ(memcmp(data, "a\0b", 3), 0);

        /* Without fsync: the same replacement and mode, as readers see it. */
        ASSERT_OK(write_file_atomic_full(p, "nosync", 6, 0604, WRITE_FILE_NO_SYNC));
        data = mfree(data);
        ASSERT_OK(read_full_file(p, 1024, &data, &size));
        ASSERT_STREQ(data, "nosync");
        ASSERT_OK(stat(p, &st));
        ASSERT_EQ(st.st_mode & 07777, 0604);

        /* No temporary file is left behind. */
        ASSERT_EQ(count_dir_entries(test_tmpdir()), 1);
        umask(saved);
}

TEST(write_atomic_replaces_symlink) {
        _cleanup_free_ char *target = tmp_path("target"), *link = tmp_path("link"), *data = NULL;
        struct stat st;

        ASSERT_OK(write_string_file_atomic(target, "target", 0644));
        ASSERT_OK(symlink(target, link));
        ASSERT_OK(write_string_file_atomic(link, "new", 0644));
        ASSERT_OK(lstat(link, &st));
        ASSERT_TRUE(S_ISREG(st.st_mode));
        ASSERT_OK(read_full_file(target, 1024, &data, NULL));
        ASSERT_STREQ(data, "target");
}

TEST(write_atomic_errors) {
        _cleanup_free_ char *nodir = tmp_path("nodir/file"), *sub = tmp_path("sub");

        ASSERT_ERROR(write_string_file_atomic(nodir, "x", 0644), ENOENT);
        ASSERT_ERROR(write_string_file_atomic("/", "x", 0644), EINVAL);
        ASSERT_ERROR(write_string_file_atomic("", "x", 0644), EINVAL);
        /* Renaming a file over a directory fails, and the temporary file goes away. */
        ASSERT_OK(mkdir(sub, 0755));
        ASSERT_ERROR(write_string_file_atomic(sub, "x", 0644), EISDIR);
        ASSERT_EQ(count_dir_entries(test_tmpdir()), 1);
}

TEST(mkdir_p) {
        _cleanup_free_ char *deep = tmp_path("a/b//c/"), *file = tmp_path("file"),
                            *under_file = tmp_path("file/x"), *c = tmp_path("a/b/c");
        struct stat st;

        ASSERT_OK(mkdir_p(deep, 0755));
        ASSERT_OK(stat(c, &st));
        ASSERT_TRUE(S_ISDIR(st.st_mode));
        ASSERT_OK(mkdir_p(c, 0755)); /* exists already */
        ASSERT_OK(mkdir_p("/", 0755));

        write_raw(file, "", 0);
        ASSERT_ERROR(mkdir_p(under_file, 0755), ENOTDIR);
        ASSERT_ERROR(mkdir_p(file, 0755), EEXIST);
        ASSERT_ERROR(mkdir_p("", 0755), EINVAL);
}

TEST(mkdir_p_relative) {
        _cleanup_free_ char *cwd = get_current_dir_name(), *made = tmp_path("rel/x");
        struct stat st;

        ASSERT_NOT_NULL(cwd);
        ASSERT_OK(chdir(test_tmpdir()));
        ASSERT_OK(mkdir_p("./rel/x", 0700));
        ASSERT_OK(chdir(cwd));
        ASSERT_OK(stat(made, &st));
        ASSERT_TRUE(S_ISDIR(st.st_mode));
}

TEST(fd_flags) {
        int fds[2];

        ASSERT_OK(pipe(fds));
        ASSERT_EQ(fcntl(fds[0], F_GETFD) & FD_CLOEXEC, 0);
        ASSERT_OK(fd_cloexec(fds[0], true));
        ASSERT_EQ(fcntl(fds[0], F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
        ASSERT_OK(fd_cloexec(fds[0], true));
        ASSERT_OK(fd_cloexec(fds[0], false));
        ASSERT_EQ(fcntl(fds[0], F_GETFD) & FD_CLOEXEC, 0);

        ASSERT_OK(fd_nonblock(fds[0], true));
        ASSERT_EQ(fcntl(fds[0], F_GETFL) & O_NONBLOCK, O_NONBLOCK);
        {
                char c;

                ASSERT_EQ(read(fds[0], &c, 1), -1);
                ASSERT_EQ(errno, EAGAIN);
        }
        ASSERT_OK(fd_nonblock(fds[0], false));
        ASSERT_EQ(fcntl(fds[0], F_GETFL) & O_NONBLOCK, 0);

        close(fds[0]);
        close(fds[1]);
        ASSERT_ERROR(fd_cloexec(fds[0], true), EBADF);
        ASSERT_ERROR(fd_nonblock(-1, true), EBADF);
}

TEST(safe_fclose) {
        _cleanup_free_ char *p = tmp_path("fc");
        FILE *f = fopen(p, "we");

        ASSERT_NOT_NULL(f);
        errno = 1234;
        ASSERT_NULL(safe_fclose(f));
        ASSERT_EQ(errno, 1234);
        ASSERT_NULL(safe_fclose(NULL));
}

TEST(loop_write_waits_on_a_full_nonblocking_pipe) {
        _cleanup_free_ char *buf = malloc(1 << 20);
        int p[2], status;
        pid_t pid;

        ASSERT_NOT_NULL(buf);
        memset(buf, 'x', 1 << 20);
        ASSERT_OK(pipe2(p, O_CLOEXEC));
        ASSERT_OK(fd_nonblock(p[1], true));
        pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                /* A slow reader: the writer must wait, not fail with EAGAIN. */
                char chunk[65536];
                size_t total = 0;
                ssize_t n;

                close(p[1]);
                buf = mfree(buf); /* valgrind counts what a child leaves */
                usleep(50 * 1000);
                while ((n = read(p[0], chunk, sizeof chunk)) > 0)
                        total += (size_t) n;
                _exit(total == (1 << 20) ? 0 : 1);
        }
        close(p[0]);
        ASSERT_OK(loop_write(p[1], buf, 1 << 20));
        close(p[1]);
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

        /* A closed reader is an error, not a hang. */
        ASSERT_OK(pipe2(p, O_CLOEXEC));
        close(p[0]);
        signal(SIGPIPE, SIG_IGN);
        ASSERT_EQ(loop_write(p[1], "x", 1), -EPIPE);
        close(p[1]);
}

TEST(rm_rf_tree_not_symlink_targets) {
        _cleanup_free_ char *outside = path_join(test_tmpdir(), "outside"),
                            *keep = path_join(test_tmpdir(), "outside/keep"),
                            *tree = path_join(test_tmpdir(), "tree"),
                            *deep = path_join(test_tmpdir(), "tree/a/b/c"),
                            *file = path_join(test_tmpdir(), "tree/a/b/c/f"),
                            *link = path_join(test_tmpdir(), "tree/a/out");

        ASSERT_OK(mkdir_p(outside, 0755));
        ASSERT_OK(write_string_file_atomic(keep, "kept\n", 0644));
        ASSERT_OK(mkdir_p(deep, 0755));
        ASSERT_OK(write_string_file_atomic(file, "x", 0644));
        ASSERT_OK(symlink(outside, link));

        ASSERT_OK(rm_rf(tree));
        ASSERT_TRUE(access(tree, F_OK) < 0 && errno == ENOENT);
        /* The symlink went, not what it pointed at. */
        ASSERT_OK(access(keep, F_OK));
        /* Nothing there is nothing to do. */
        ASSERT_OK(rm_rf(tree));
        ASSERT_ERROR(rm_rf(NULL), EINVAL);
}
