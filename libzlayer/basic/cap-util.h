/* SPDX-License-Identifier: Apache-2.0 */
/* cap-util.h: Linux capability names (libc only, the table is ours). */
#pragma once

#include <stdint.h>

/* "CAP_NET_ADMIN", "NET_ADMIN", "net_admin", "cap_net_admin" -> 12; -EINVAL if unknown. The
 * special name "ALL" is handled by callers, not here. */
int capability_from_name(const char *s);
/* "CAP_NET_ADMIN"; NULL if out of range. */
const char *capability_to_name(int cap);
/* Highest capability number we know (CAP_CHECKPOINT_RESTORE = 40). */
int capability_last(void);
/* NULL-terminated list of names "CAP_CHOWN", ... for suggestions. */
const char *const *capability_names(void);
/* The default set of Docker and ZLayer (CHOWN DAC_OVERRIDE FSETID FOWNER MKNOD NET_RAW SETGID
 * SETUID SETFCAP SETPCAP NET_BIND_SERVICE SYS_CHROOT KILL AUDIT_WRITE) as a bit mask. */
uint64_t capability_default_set(void);
