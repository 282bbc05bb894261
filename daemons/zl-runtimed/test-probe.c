/* SPDX-License-Identifier: Apache-2.0 */
/* test-probe.c: a static program the engine tests run inside containers. For each syscall named
 * on the command line it tries a harmless call and prints "name: ok" or "name: ERRNAME". */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>

static long try(const char *name) {
        if (strcmp(name, "unshare") == 0)
                return unshare(CLONE_NEWUSER);
        if (strcmp(name, "mount") == 0)
                return mount("none", "/tmp", "tmpfs", 0, NULL);
        if (strcmp(name, "keyctl") == 0)
                return syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3, 0);
        if (strcmp(name, "ptrace") == 0)
                return ptrace(PTRACE_TRACEME, 0, NULL, NULL);
        if (strcmp(name, "getpid") == 0)
                return syscall(SYS_getpid) > 0 ? 0 : -1;
        errno = EINVAL;
        return -1;
}

int main(int argc, char *argv[]) {
        for (int i = 1; i < argc; i++) {
                if (try(argv[i]) < 0)
                        printf("%s: %s\n", argv[i], strerrorname_np(errno));
                else
                        printf("%s: ok\n", argv[i]);
        }
        return 0;
}
