/* SPDX-License-Identifier: Apache-2.0 */
/* signal-util.h: signal names. */
#pragma once

/* SIGRTMIN is 34 as glibc, Docker and kill(1) count (32 and 33 belong to the C library),
 * fixed here rather than asked from the C library at run time. SIGRTMAX is 64. */

/* "SIGTERM", "TERM", "sigterm", the aliases IOT, CLD and POLL, "SIGRTMIN", "SIGRTMIN+N",
 * "SIGRTMAX-N" (any N that stays in 34..64), or a number 1..64. Returns the signal number or
 * -EINVAL. */
int signal_from_string(const char *s);
/* "SIGTERM"; NULL if unknown (0, 32, 33, > 64). Real-time signals are named as kill -l names
 * them: 34..49 "SIGRTMIN", "SIGRTMIN+1".."SIGRTMIN+15", 50..64 "SIGRTMAX-14".."SIGRTMAX". The
 * strings are static. */
const char *signal_to_string(int sig);
/* NULL-terminated list of the standard names "SIGHUP".."SIGSYS", then "SIGRTMIN" and
 * "SIGRTMAX", for suggestions. */
const char *const *signal_names(void);
