/* SPDX-License-Identifier: Apache-2.0 */
/* signal-util.c: Linux signal names and numbers, including the real-time range. */
#include <strings.h>

#include "macro.h"
#include "parse-util.h"
#include "signal-util.h"
#include "string-util.h"

/* Fixed rather than glibc's run-time SIGRTMIN: the number must not depend on which libraries
 * the orchestrator links. 34 is what glibc, Docker and kill(1) use; 32 and 33 are reserved by
 * the C library and have no name. */
#define ZL_SIGRTMIN 34
#define ZL_SIGRTMAX 64

static const char *const signal_table[] = {
        "SIGHUP",  "SIGINT",    "SIGQUIT", "SIGILL",   "SIGTRAP",   "SIGABRT", "SIGBUS",
        "SIGFPE",  "SIGKILL",   "SIGUSR1", "SIGSEGV",  "SIGUSR2",   "SIGPIPE", "SIGALRM",
        "SIGTERM", "SIGSTKFLT", "SIGCHLD", "SIGCONT",  "SIGSTOP",   "SIGTSTP", "SIGTTIN",
        "SIGTTOU", "SIGURG",    "SIGXCPU", "SIGXFSZ",  "SIGVTALRM", "SIGPROF", "SIGWINCH",
        "SIGIO",   "SIGPWR",    "SIGSYS",  "SIGRTMIN", "SIGRTMAX",  NULL,
};
/* signal_table[i] is signal i + 1 up to SIGSYS (31). */
#define SIGNAL_STANDARD_LAST 31

/* Names as kill -l prints them: the lower half counts up from SIGRTMIN, the upper half down
 * from SIGRTMAX. */
static const char *const rt_table[ZL_SIGRTMAX - ZL_SIGRTMIN + 1] = {
        "SIGRTMIN",    "SIGRTMIN+1",  "SIGRTMIN+2",  "SIGRTMIN+3",  "SIGRTMIN+4",  "SIGRTMIN+5",
        "SIGRTMIN+6",  "SIGRTMIN+7",  "SIGRTMIN+8",  "SIGRTMIN+9",  "SIGRTMIN+10", "SIGRTMIN+11",
        "SIGRTMIN+12", "SIGRTMIN+13", "SIGRTMIN+14", "SIGRTMIN+15", "SIGRTMAX-14", "SIGRTMAX-13",
        "SIGRTMAX-12", "SIGRTMAX-11", "SIGRTMAX-10", "SIGRTMAX-9",  "SIGRTMAX-8",  "SIGRTMAX-7",
        "SIGRTMAX-6",  "SIGRTMAX-5",  "SIGRTMAX-4",  "SIGRTMAX-3",  "SIGRTMAX-2",  "SIGRTMAX-1",
        "SIGRTMAX",
};

static const struct {
        const char *name;
        int sig;
} signal_aliases[] = {
        { "IOT", 6 },
        { "CLD", 17 },
        { "POLL", 29 },
};

/* "RTMIN", "RTMIN+N", "RTMAX", "RTMAX-N" (without "SIG"), any case. */
static int rt_signal_from_string(const char *s) {
        const char *p;
        unsigned n = 0;
        int base, dir;

        if ((p = startswith_no_case(s, "RTMIN"))) {
                base = ZL_SIGRTMIN;
                dir = 1;
        } else if ((p = startswith_no_case(s, "RTMAX"))) {
                base = ZL_SIGRTMAX;
                dir = -1;
        } else
                return -EINVAL;

        if (*p != '\0') {
                if (*p != (dir > 0 ? '+' : '-'))
                        return -EINVAL;
                if (safe_atou(p + 1, &n) < 0 || n > ZL_SIGRTMAX - ZL_SIGRTMIN)
                        return -EINVAL;
        }
        return base + dir * (int) n;
}

int signal_from_string(const char *s) {
        const char *p;
        int sig;

        if (isempty(s))
                return -EINVAL;

        if (s[0] >= '0' && s[0] <= '9') {
                if (safe_atoi(s, &sig) < 0 || sig < 1 || sig > ZL_SIGRTMAX)
                        return -EINVAL;
                return sig;
        }

        p = startswith_no_case(s, "SIG") ?: s;
        for (int i = 0; i < SIGNAL_STANDARD_LAST; i++)
                if (strcasecmp(p, signal_table[i] + 3) == 0)
                        return i + 1;
        for (size_t i = 0; i < ELEMENTSOF(signal_aliases); i++)
                if (strcasecmp(p, signal_aliases[i].name) == 0)
                        return signal_aliases[i].sig;
        return rt_signal_from_string(p);
}

const char *signal_to_string(int sig) {
        if (sig >= 1 && sig <= SIGNAL_STANDARD_LAST)
                return signal_table[sig - 1];
        if (sig >= ZL_SIGRTMIN && sig <= ZL_SIGRTMAX)
                return rt_table[sig - ZL_SIGRTMIN];
        return NULL;
}

const char *const *signal_names(void) {
        return signal_table;
}
