/* SPDX-License-Identifier: Apache-2.0 */
/* signal-util.h: signal names. */
#pragma once

/* "SIGTERM", "TERM", "sigterm", "SIGRTMIN+3", or a number "15". Returns the signal number or
 * -EINVAL. */
int signal_from_string(const char *s);
/* "SIGTERM"; NULL if unknown. Real-time signals are "SIGRTMIN+N" (in a static buffer per
 * thread). */
const char *signal_to_string(int sig);
/* NULL-terminated list of the standard names ("SIGHUP", ...) for suggestions. */
const char *const *signal_names(void);
