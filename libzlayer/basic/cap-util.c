/* SPDX-License-Identifier: Apache-2.0 */
/* cap-util.c: the capability name table, numbered as in linux/capability.h. */
#include <strings.h>

#include "cap-util.h"
#include "macro.h"
#include "string-util.h"

static const char *const capability_table[] = {
        [0] = "CAP_CHOWN",
        [1] = "CAP_DAC_OVERRIDE",
        [2] = "CAP_DAC_READ_SEARCH",
        [3] = "CAP_FOWNER",
        [4] = "CAP_FSETID",
        [5] = "CAP_KILL",
        [6] = "CAP_SETGID",
        [7] = "CAP_SETUID",
        [8] = "CAP_SETPCAP",
        [9] = "CAP_LINUX_IMMUTABLE",
        [10] = "CAP_NET_BIND_SERVICE",
        [11] = "CAP_NET_BROADCAST",
        [12] = "CAP_NET_ADMIN",
        [13] = "CAP_NET_RAW",
        [14] = "CAP_IPC_LOCK",
        [15] = "CAP_IPC_OWNER",
        [16] = "CAP_SYS_MODULE",
        [17] = "CAP_SYS_RAWIO",
        [18] = "CAP_SYS_CHROOT",
        [19] = "CAP_SYS_PTRACE",
        [20] = "CAP_SYS_PACCT",
        [21] = "CAP_SYS_ADMIN",
        [22] = "CAP_SYS_BOOT",
        [23] = "CAP_SYS_NICE",
        [24] = "CAP_SYS_RESOURCE",
        [25] = "CAP_SYS_TIME",
        [26] = "CAP_SYS_TTY_CONFIG",
        [27] = "CAP_MKNOD",
        [28] = "CAP_LEASE",
        [29] = "CAP_AUDIT_WRITE",
        [30] = "CAP_AUDIT_CONTROL",
        [31] = "CAP_SETFCAP",
        [32] = "CAP_MAC_OVERRIDE",
        [33] = "CAP_MAC_ADMIN",
        [34] = "CAP_SYSLOG",
        [35] = "CAP_WAKE_ALARM",
        [36] = "CAP_BLOCK_SUSPEND",
        [37] = "CAP_AUDIT_READ",
        [38] = "CAP_PERFMON",
        [39] = "CAP_BPF",
        [40] = "CAP_CHECKPOINT_RESTORE",
        NULL,
};

int capability_from_name(const char *s) {
        const char *p;

        if (isempty(s))
                return -EINVAL;
        p = startswith_no_case(s, "CAP_") ?: s;
        for (int i = 0; i <= capability_last(); i++)
                if (strcasecmp(p, capability_table[i] + 4) == 0)
                        return i;
        return -EINVAL;
}

const char *capability_to_name(int cap) {
        if (cap < 0 || cap > capability_last())
                return NULL;
        return capability_table[cap];
}

int capability_last(void) {
        return (int) ELEMENTSOF(capability_table) - 2;
}

const char *const *capability_names(void) {
        return capability_table;
}

uint64_t capability_default_set(void) {
        /* The numbers are those of the table above. */
        static const int defaults[] = {
                0, /* CHOWN */
                1, /* DAC_OVERRIDE */
                4, /* FSETID */
                3, /* FOWNER */
                27, /* MKNOD */
                13, /* NET_RAW */
                6, /* SETGID */
                7, /* SETUID */
                31, /* SETFCAP */
                8, /* SETPCAP */
                10, /* NET_BIND_SERVICE */
                18, /* SYS_CHROOT */
                5, /* KILL */
                29, /* AUDIT_WRITE */
        };
        uint64_t mask = 0;

        for (size_t i = 0; i < ELEMENTSOF(defaults); i++)
                mask |= UINT64_C(1) << defaults[i];
        return mask;
}
