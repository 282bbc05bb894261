/* SPDX-License-Identifier: Apache-2.0 */
/* fd-util.c: file descriptor flags and FILE* cleanup. */
#include <fcntl.h>

#include "fd-util.h"

int fd_cloexec(int fd, bool cloexec) {
        int flags, nflags;

        if (fd < 0)
                return -EBADF;
        flags = fcntl(fd, F_GETFD);
        if (flags < 0)
                return -errno;
        nflags = cloexec ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC;
        if (nflags != flags && fcntl(fd, F_SETFD, nflags) < 0)
                return -errno;
        return 0;
}

int fd_nonblock(int fd, bool nonblock) {
        int flags, nflags;

        if (fd < 0)
                return -EBADF;
        flags = fcntl(fd, F_GETFL);
        if (flags < 0)
                return -errno;
        nflags = nonblock ? flags | O_NONBLOCK : flags & ~O_NONBLOCK;
        if (nflags != flags && fcntl(fd, F_SETFL, nflags) < 0)
                return -errno;
        return 0;
}

FILE *safe_fclose(FILE *f) {
        if (f) {
                int saved = errno;

                (void) fclose(f);
                errno = saved;
        }
        return NULL;
}
