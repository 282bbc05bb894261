/* SPDX-License-Identifier: Apache-2.0 */
/* test-signal-util.c: signal names against the C library's numbers, real-time names, errors. */
#include <signal.h>

#include "signal-util.h"
#include "tests.h"

TEST(standard_names_match_libc) {
        static const struct {
                const char *name;
                int sig;
        } table[] = {
                { "SIGHUP", SIGHUP },       { "SIGINT", SIGINT },       { "SIGQUIT", SIGQUIT },
                { "SIGILL", SIGILL },       { "SIGTRAP", SIGTRAP },     { "SIGABRT", SIGABRT },
                { "SIGBUS", SIGBUS },       { "SIGFPE", SIGFPE },       { "SIGKILL", SIGKILL },
                { "SIGUSR1", SIGUSR1 },     { "SIGSEGV", SIGSEGV },     { "SIGUSR2", SIGUSR2 },
                { "SIGPIPE", SIGPIPE },     { "SIGALRM", SIGALRM },     { "SIGTERM", SIGTERM },
                { "SIGSTKFLT", SIGSTKFLT }, { "SIGCHLD", SIGCHLD },     { "SIGCONT", SIGCONT },
                { "SIGSTOP", SIGSTOP },     { "SIGTSTP", SIGTSTP },     { "SIGTTIN", SIGTTIN },
                { "SIGTTOU", SIGTTOU },     { "SIGURG", SIGURG },       { "SIGXCPU", SIGXCPU },
                { "SIGXFSZ", SIGXFSZ },     { "SIGVTALRM", SIGVTALRM }, { "SIGPROF", SIGPROF },
                { "SIGWINCH", SIGWINCH },   { "SIGIO", SIGIO },         { "SIGPWR", SIGPWR },
                { "SIGSYS", SIGSYS },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                ASSERT_EQ(signal_from_string(table[i].name), table[i].sig);
                ASSERT_EQ(signal_from_string(table[i].name + 3), table[i].sig);
                ASSERT_STREQ(signal_to_string(table[i].sig), table[i].name);
        }
        for (int sig = 1; sig <= 31; sig++)
                ASSERT_EQ(signal_from_string(signal_to_string(sig)), sig);
}

TEST(spellings) {
        ASSERT_EQ(signal_from_string("term"), SIGTERM);
        ASSERT_EQ(signal_from_string("sigterm"), SIGTERM);
        ASSERT_EQ(signal_from_string("SigTerm"), SIGTERM);
        ASSERT_EQ(signal_from_string("Kill"), SIGKILL);
        ASSERT_EQ(signal_from_string("15"), SIGTERM);
        ASSERT_EQ(signal_from_string("1"), SIGHUP);
        ASSERT_EQ(signal_from_string("64"), 64);
        ASSERT_EQ(signal_from_string("32"), 32);
        ASSERT_EQ(signal_from_string("SIGIOT"), SIGABRT);
        ASSERT_EQ(signal_from_string("cld"), SIGCHLD);
        ASSERT_EQ(signal_from_string("SIGPOLL"), SIGIO);
}

TEST(realtime) {
        ASSERT_EQ(signal_from_string("SIGRTMIN"), 34);
        ASSERT_EQ(signal_from_string("rtmin"), 34);
        ASSERT_EQ(signal_from_string("SIGRTMIN+0"), 34);
        ASSERT_EQ(signal_from_string("SIGRTMIN+3"), 37);
        ASSERT_EQ(signal_from_string("sigrtmin+30"), 64);
        ASSERT_EQ(signal_from_string("SIGRTMAX"), 64);
        ASSERT_EQ(signal_from_string("RTMAX-1"), 63);
        ASSERT_EQ(signal_from_string("SIGRTMAX-30"), 34);
        /* The C library agrees on this system. */
        ASSERT_EQ(SIGRTMIN, 34);
        ASSERT_EQ(SIGRTMAX, 64);

        ASSERT_STREQ(signal_to_string(34), "SIGRTMIN");
        ASSERT_STREQ(signal_to_string(37), "SIGRTMIN+3");
        ASSERT_STREQ(signal_to_string(49), "SIGRTMIN+15");
        ASSERT_STREQ(signal_to_string(50), "SIGRTMAX-14");
        ASSERT_STREQ(signal_to_string(63), "SIGRTMAX-1");
        ASSERT_STREQ(signal_to_string(64), "SIGRTMAX");
        for (int sig = 34; sig <= 64; sig++)
                ASSERT_EQ(signal_from_string(signal_to_string(sig)), sig);
}

TEST(errors) {
        static const char *const bad[] = {
                "",
                "0",
                "65",
                "-1",
                "+15",
                "15 ",
                " 15",
                "SIG",
                "SIGFOO",
                "SIGSIGTERM",
                "TERMX",
                "SIGRTMIN+31",
                "SIGRTMIN-1",
                "SIGRTMAX+1",
                "SIGRTMAX-31",
                "SIGRTMIN+",
                "SIGRTMIN+x",
                "SIGRTMIN+-1",
                "SIGRTMIN+ 1",
                "RTMIN3",
                "99999999999999999999",
                "0x0f",
                "1.0",
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                if (signal_from_string(bad[i]) != -EINVAL)
                        test_fail(__FILE__, __LINE__, "signal_from_string(\"%s\") = %d", bad[i],
                                  signal_from_string(bad[i]));
        ASSERT_ERROR(signal_from_string(NULL), EINVAL);

        ASSERT_NULL(signal_to_string(0));
        ASSERT_NULL(signal_to_string(-1));
        ASSERT_NULL(signal_to_string(32));
        ASSERT_NULL(signal_to_string(33));
        ASSERT_NULL(signal_to_string(65));
}

TEST(names_list) {
        const char *const *n = signal_names();
        size_t count = 0;

        for (; n[count]; count++)
                ASSERT_TRUE(signal_from_string(n[count]) > 0);
        ASSERT_EQ(count, 33);
        ASSERT_STREQ(n[0], "SIGHUP");
        ASSERT_STREQ(n[30], "SIGSYS");
}
