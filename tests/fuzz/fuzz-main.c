/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz-main.c: runs a fuzz target over files and directories without libFuzzer, so the corpus
 * doubles as a regression test in every build. Prints TAP. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fileio.h"
#include "macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned n_run;

static int run_file(const char *path) {
        char *data = NULL;
        size_t size = 0;
        int r;

        r = read_full_file(path, 64U * 1024U * 1024U, &data, &size);
        if (r < 0) {
                printf("not ok - %s: cannot read: %s\n", path, strerror(-r));
                return r;
        }
        LLVMFuzzerTestOneInput((const uint8_t *) data, size);
        free(data);
        n_run++;
        return 0;
}

static int run_path(const char *path) {
        struct stat st;
        DIR *d;
        int ret = 0;

        if (stat(path, &st) < 0) {
                printf("not ok - %s: %m\n", path);
                return -errno;
        }
        if (!S_ISDIR(st.st_mode))
                return run_file(path);

        d = opendir(path);
        if (!d)
                return -errno;
        for (struct dirent *de; (de = readdir(d));) {
                char sub[PATH_MAX];
                if (de->d_name[0] == '.')
                        continue;
                snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
                if (run_path(sub) < 0)
                        ret = -EIO;
        }
        closedir(d);
        return ret;
}

int main(int argc, char *argv[]) {
        int ret = 0;

        printf("1..%d\n", argc - 1);
        for (int i = 1; i < argc; i++) {
                unsigned before = n_run;
                if (run_path(argv[i]) < 0) {
                        printf("not ok %d - %s\n", i, argv[i]);
                        ret = EXIT_FAILURE;
                } else
                        printf("ok %d - %s (%u inputs)\n", i, argv[i], n_run - before);
        }
        return ret;
}
