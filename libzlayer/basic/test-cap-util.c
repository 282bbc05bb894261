/* SPDX-License-Identifier: Apache-2.0 */
/* test-cap-util.c: the capability table against linux/capability.h, name parsing, defaults. */
#include <linux/capability.h>

#include "cap-util.h"
#include "tests.h"

TEST(table_matches_kernel_headers) {
        static const struct {
                const char *name;
                int cap;
        } table[] = {
                { "CAP_CHOWN", CAP_CHOWN },
                { "CAP_DAC_OVERRIDE", CAP_DAC_OVERRIDE },
                { "CAP_DAC_READ_SEARCH", CAP_DAC_READ_SEARCH },
                { "CAP_FOWNER", CAP_FOWNER },
                { "CAP_FSETID", CAP_FSETID },
                { "CAP_KILL", CAP_KILL },
                { "CAP_SETGID", CAP_SETGID },
                { "CAP_SETUID", CAP_SETUID },
                { "CAP_SETPCAP", CAP_SETPCAP },
                { "CAP_LINUX_IMMUTABLE", CAP_LINUX_IMMUTABLE },
                { "CAP_NET_BIND_SERVICE", CAP_NET_BIND_SERVICE },
                { "CAP_NET_BROADCAST", CAP_NET_BROADCAST },
                { "CAP_NET_ADMIN", CAP_NET_ADMIN },
                { "CAP_NET_RAW", CAP_NET_RAW },
                { "CAP_IPC_LOCK", CAP_IPC_LOCK },
                { "CAP_IPC_OWNER", CAP_IPC_OWNER },
                { "CAP_SYS_MODULE", CAP_SYS_MODULE },
                { "CAP_SYS_RAWIO", CAP_SYS_RAWIO },
                { "CAP_SYS_CHROOT", CAP_SYS_CHROOT },
                { "CAP_SYS_PTRACE", CAP_SYS_PTRACE },
                { "CAP_SYS_PACCT", CAP_SYS_PACCT },
                { "CAP_SYS_ADMIN", CAP_SYS_ADMIN },
                { "CAP_SYS_BOOT", CAP_SYS_BOOT },
                { "CAP_SYS_NICE", CAP_SYS_NICE },
                { "CAP_SYS_RESOURCE", CAP_SYS_RESOURCE },
                { "CAP_SYS_TIME", CAP_SYS_TIME },
                { "CAP_SYS_TTY_CONFIG", CAP_SYS_TTY_CONFIG },
                { "CAP_MKNOD", CAP_MKNOD },
                { "CAP_LEASE", CAP_LEASE },
                { "CAP_AUDIT_WRITE", CAP_AUDIT_WRITE },
                { "CAP_AUDIT_CONTROL", CAP_AUDIT_CONTROL },
                { "CAP_SETFCAP", CAP_SETFCAP },
                { "CAP_MAC_OVERRIDE", CAP_MAC_OVERRIDE },
                { "CAP_MAC_ADMIN", CAP_MAC_ADMIN },
                { "CAP_SYSLOG", CAP_SYSLOG },
                { "CAP_WAKE_ALARM", CAP_WAKE_ALARM },
                { "CAP_BLOCK_SUSPEND", CAP_BLOCK_SUSPEND },
                { "CAP_AUDIT_READ", CAP_AUDIT_READ },
                { "CAP_PERFMON", CAP_PERFMON },
                { "CAP_BPF", CAP_BPF },
                { "CAP_CHECKPOINT_RESTORE", CAP_CHECKPOINT_RESTORE },
        };

        ASSERT_EQ(ELEMENTSOF(table), 41);
        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                ASSERT_EQ(table[i].cap, (int) i);
                ASSERT_STREQ(capability_to_name(table[i].cap), table[i].name);
                ASSERT_EQ(capability_from_name(table[i].name), table[i].cap);
        }
        ASSERT_EQ(capability_last(), CAP_CHECKPOINT_RESTORE);
        ASSERT_EQ(capability_last(), 40);
}

TEST(spellings) {
        ASSERT_EQ(capability_from_name("CAP_NET_ADMIN"), 12);
        ASSERT_EQ(capability_from_name("NET_ADMIN"), 12);
        ASSERT_EQ(capability_from_name("net_admin"), 12);
        ASSERT_EQ(capability_from_name("cap_net_admin"), 12);
        ASSERT_EQ(capability_from_name("Cap_Sys_Admin"), 21);
        ASSERT_EQ(capability_from_name("chown"), 0);
        ASSERT_EQ(capability_from_name("checkpoint_restore"), 40);
}

TEST(errors) {
        static const char *const bad[] = {
                "",           "ALL",        "CAP_",         "CAP_ALL", "NET-ADMIN",
                "NET_ADMIN ", " NET_ADMIN", "CAP_CAP_KILL", "CAPKILL", "12",
                "CAP_NET",    "NET_ADMINX", "SYS_ADMIN\n",
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                if (capability_from_name(bad[i]) != -EINVAL)
                        test_fail(__FILE__, __LINE__, "capability_from_name(\"%s\") = %d", bad[i],
                                  capability_from_name(bad[i]));
        ASSERT_ERROR(capability_from_name(NULL), EINVAL);
        ASSERT_NULL(capability_to_name(-1));
        ASSERT_NULL(capability_to_name(41));
        ASSERT_NULL(capability_to_name(63));
}

TEST(names_list) {
        const char *const *n = capability_names();
        int count = 0;

        for (; n[count]; count++)
                ASSERT_EQ(capability_from_name(n[count]), count);
        ASSERT_EQ(count, capability_last() + 1);
}

TEST(default_set) {
        uint64_t expected = (UINT64_C(1) << CAP_CHOWN) | (UINT64_C(1) << CAP_DAC_OVERRIDE) |
                            (UINT64_C(1) << CAP_FSETID) | (UINT64_C(1) << CAP_FOWNER) |
                            (UINT64_C(1) << CAP_MKNOD) | (UINT64_C(1) << CAP_NET_RAW) |
                            (UINT64_C(1) << CAP_SETGID) | (UINT64_C(1) << CAP_SETUID) |
                            (UINT64_C(1) << CAP_SETFCAP) | (UINT64_C(1) << CAP_SETPCAP) |
                            (UINT64_C(1) << CAP_NET_BIND_SERVICE) |
                            (UINT64_C(1) << CAP_SYS_CHROOT) | (UINT64_C(1) << CAP_KILL) |
                            (UINT64_C(1) << CAP_AUDIT_WRITE);

        ASSERT_U64_EQ(capability_default_set(), expected);
        ASSERT_EQ(__builtin_popcountll(capability_default_set()), 14);
        ASSERT_FALSE(capability_default_set() & (UINT64_C(1) << CAP_SYS_ADMIN));
        ASSERT_FALSE(capability_default_set() & (UINT64_C(1) << CAP_NET_ADMIN));
}
