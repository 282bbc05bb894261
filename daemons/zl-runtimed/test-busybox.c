/* SPDX-License-Identifier: Apache-2.0 */
/* test-busybox.c: a minimal root file system from busybox-static, for engine tests. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "macro.h"
#include "string-util.h"
#include "test-busybox.h"

#define BUSYBOX "/bin/busybox"

static int copy_file(const char *from, const char *to, mode_t mode) {
        _cleanup_close_ int in = -EBADF, out = -EBADF;
        struct stat st;

        in = open(from, O_RDONLY | O_CLOEXEC);
        if (in < 0)
                return -errno;
        if (fstat(in, &st) < 0)
                return -errno;
        out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        if (out < 0)
                return -errno;
        for (off_t left = st.st_size; left > 0;) {
                ssize_t n = copy_file_range(in, NULL, out, NULL, (size_t) left, 0);
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return -EIO;
                left -= n;
        }
        return 0;
}

int test_busybox_rootfs(const char *dir) {
        static const char *const dirs[] = { "bin", "sbin", "usr/bin",  "usr/sbin",
                                            "etc", "proc", "sys",      "dev",
                                            "tmp", "root", "home/app", "var" };
        _cleanup_free_ char *bin = NULL;
        FILE *list;
        char line[256];
        int r;

        if (access(BUSYBOX, X_OK) < 0)
                return -ENOENT;
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                _cleanup_free_ char *p = strjoin(dir, "/", dirs[i]);
                if (!p)
                        return -ENOMEM;
                r = mkdir_p(p, 0755);
                if (r < 0)
                        return r;
        }
        bin = strjoin(dir, "/bin/busybox");
        if (!bin)
                return -ENOMEM;
        r = copy_file(BUSYBOX, bin, 0755);
        if (r < 0)
                return r;

        /* "/usr/sbin/httpd" etc.: one symlink per applet where busybox says it lives. */
        list = popen(BUSYBOX " --list-full", "re");
        if (!list)
                return -errno;
        while (fgets(line, sizeof line, list)) {
                line[strcspn(line, "\n")] = 0;
                if (line[0] == 0 || streq(line, "bin/busybox"))
                        continue;
                _cleanup_free_ char *p = strjoin(dir, "/", line);
                if (!p) {
                        pclose(list);
                        return -ENOMEM;
                }
                if (symlink("/bin/busybox", p) < 0 && errno != EEXIST) {
                        r = -errno;
                        pclose(list);
                        return r;
                }
        }
        if (pclose(list) != 0)
                return -EIO;

        static const struct {
                const char *path, *text;
        } files[] = {
                { "etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"
                                "app:x:1000:1000:app:/home/app:/bin/sh\n"
                                "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n" },
                { "etc/group", "root:x:0:\napp:x:1000:\nextra:x:2000:app\nnogroup:x:65534:\n" },
                { "etc/hostname", "busybox\n" },
        };
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                _cleanup_free_ char *p = strjoin(dir, "/", files[i].path);
                if (!p)
                        return -ENOMEM;
                r = write_file_atomic(p, files[i].text, strlen(files[i].text), 0644);
                if (r < 0)
                        return r;
        }
        return 0;
}
