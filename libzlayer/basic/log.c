/* SPDX-License-Identifier: Apache-2.0 */
/* log.c: the logging back ends: journal native protocol over a datagram socket, or stderr. */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <endian.h>

#include "log.h"

#define JOURNAL_SOCKET "/run/systemd/journal/socket"
#define LOG_MAX_FIELDS 32

static int log_max_level = LOG_INFO;
static LogTarget log_target = LOG_TARGET_AUTO;
static const char *log_ident = NULL;
static bool log_show_ident = false;
static int journal_fd = -EBADF;

static const char *const level_table[] = {
        [LOG_EMERG] = "emerg", [LOG_ALERT] = "alert",     [LOG_CRIT] = "crit",
        [LOG_ERR] = "err",     [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
        [LOG_INFO] = "info",   [LOG_DEBUG] = "debug",
};

static const char *const target_table[_LOG_TARGET_MAX] = {
        [LOG_TARGET_AUTO] = "auto",
        [LOG_TARGET_JOURNAL] = "journal",
        [LOG_TARGET_STDERR] = "stderr",
        [LOG_TARGET_NULL] = "null",
};

void log_set_max_level(int level) {
        assert(level >= LOG_EMERG && level <= LOG_DEBUG);
        log_max_level = level;
}

int log_get_max_level(void) {
        return log_max_level;
}

void log_set_target(LogTarget target) {
        assert(target >= 0 && target < _LOG_TARGET_MAX);
        log_target = target;
}

LogTarget log_get_target(void) {
        return log_target;
}

void log_set_ident(const char *ident) {
        log_ident = ident;
}

void log_set_show_ident(bool b) {
        log_show_ident = b;
}

int log_level_from_string(const char *s) {
        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(level_table); i++)
                if (streq(s, level_table[i]))
                        return (int) i;
        if (streq(s, "error"))
                return LOG_ERR;
        if (streq(s, "warn"))
                return LOG_WARNING;
        /* Numeric levels as syslog writes them. */
        if (s[0] >= '0' && s[0] <= '7' && s[1] == '\0')
                return s[0] - '0';
        return -EINVAL;
}

const char *log_level_to_string(int level) {
        if (level < 0 || (size_t) level >= ELEMENTSOF(level_table))
                return NULL;
        return level_table[level];
}

int log_target_from_string(const char *s) {
        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(target_table); i++)
                if (streq(s, target_table[i]))
                        return (int) i;
        return -EINVAL;
}

const char *log_target_to_string(LogTarget t) {
        if (t < 0 || t >= _LOG_TARGET_MAX)
                return NULL;
        return target_table[t];
}

void log_parse_environment(void) {
        const char *e;
        int r;

        e = getenv("ZLAYER_LOG_LEVEL");
        if (e) {
                r = log_level_from_string(e);
                if (r >= 0)
                        log_max_level = r;
        }
        e = getenv("ZLAYER_LOG_TARGET");
        if (e) {
                r = log_target_from_string(e);
                if (r >= 0)
                        log_target = r;
        }
}

/* stderr counts as connected to the journal when $JOURNAL_STREAM names its device:inode, as
 * systemd sets it for services whose output goes to the journal. */
static bool stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return false;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino;
}

static bool journal_open(void) {
        if (journal_fd >= 0)
                return true;
        if (access(JOURNAL_SOCKET, W_OK) < 0)
                return false;
        journal_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        return journal_fd >= 0;
}

static bool use_journal(void) {
        switch (log_target) {
        case LOG_TARGET_JOURNAL:
                return journal_open();
        case LOG_TARGET_AUTO:
                return stderr_is_journal() && journal_open();
        default:
                return false;
        }
}

static void field_iov(struct iovec *iov, size_t *n, const char *s) {
        iov[(*n)++] = (struct iovec){ .iov_base = (char *) s, .iov_len = strlen(s) };
}

/* Sends one entry with the native protocol. Values with a newline use the binary form
 * (KEY\n<le64 length><value>\n); everything else is KEY=value\n. Entries too large for one
 * datagram fall back to stderr: log lines are short by design. */
static int journal_send(int level, int error, const char *file, int line, const char *func,
                        const LogField *fields, size_t n_fields, const char *message) {
        char prio[sizeof("PRIORITY=") + 2], errbuf[sizeof("ERRNO=") + 12];
        char cline[sizeof("CODE_LINE=") + 12];
        _cleanup_free_ char *cfile = NULL, *cfunc = NULL, *ident = NULL;
        uint64_t lens[LOG_MAX_FIELDS + 1];
        struct iovec iov[16 + 4 * (LOG_MAX_FIELDS + 1)];
        size_t n_iov = 0;
        struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = JOURNAL_SOCKET };
        struct msghdr mh = {
                .msg_name = &sa,
                .msg_namelen = offsetof(struct sockaddr_un, sun_path) + sizeof(JOURNAL_SOCKET),
                .msg_iov = iov,
        };

        n_fields = MIN(n_fields, (size_t) LOG_MAX_FIELDS);
        snprintf(prio, sizeof prio, "PRIORITY=%d\n", level);
        field_iov(iov, &n_iov, prio);
        if (error != 0) {
                snprintf(errbuf, sizeof errbuf, "ERRNO=%d\n", abs(error));
                field_iov(iov, &n_iov, errbuf);
        }
        if (log_ident) {
                if (asprintf(&ident, "SYSLOG_IDENTIFIER=%s\n", log_ident) < 0)
                        return -ENOMEM;
                field_iov(iov, &n_iov, ident);
        }
        if (file && asprintf(&cfile, "CODE_FILE=%s\n", file) >= 0)
                field_iov(iov, &n_iov, cfile);
        if (func && asprintf(&cfunc, "CODE_FUNC=%s\n", func) >= 0)
                field_iov(iov, &n_iov, cfunc);
        snprintf(cline, sizeof cline, "CODE_LINE=%d\n", line);
        field_iov(iov, &n_iov, cline);

        for (size_t i = 0; i <= n_fields; i++) {
                const char *key = i < n_fields ? fields[i].key : "MESSAGE";
                const char *value = i < n_fields ? strempty(fields[i].value) : message;

                field_iov(iov, &n_iov, key);
                if (strchr(value, '\n')) {
                        lens[i] = htole64(strlen(value));
                        field_iov(iov, &n_iov, "\n");
                        iov[n_iov++] = (struct iovec){ .iov_base = &lens[i], .iov_len = 8 };
                } else
                        field_iov(iov, &n_iov, "=");
                field_iov(iov, &n_iov, value);
                field_iov(iov, &n_iov, "\n");
        }
        assert(n_iov <= ELEMENTSOF(iov));
        mh.msg_iovlen = n_iov;

        if (sendmsg(journal_fd, &mh, MSG_NOSIGNAL) < 0)
                return -errno;
        return 0;
}

static void stderr_send(int level, const char *message) {
        bool color = isatty(STDERR_FILENO) && !getenv("NO_COLOR");
        const char *on = "", *off = "";

        if (color && level <= LOG_ERR)
                on = "\x1b[1;31m", off = "\x1b[0m";
        else if (color && level == LOG_WARNING)
                on = "\x1b[1;33m", off = "\x1b[0m";
        else if (color && level == LOG_DEBUG)
                on = "\x1b[2m", off = "\x1b[0m";

        if (log_show_ident && log_ident)
                fprintf(stderr, "%s%s: %s%s\n", on, log_ident, message, off);
        else
                fprintf(stderr, "%s%s%s\n", on, message, off);
}

_printf_(8, 0) static int log_dispatch(int level, int error, const char *file, int line,
                                       const char *func, const LogField *fields, size_t n_fields,
                                       const char *format, va_list ap) {
        char buf[2048];
        int saved = errno;

        if (error != 0)
                errno = abs(error);
        vsnprintf(buf, sizeof buf, format, ap);

        if (log_target != LOG_TARGET_NULL) {
                if (!use_journal() ||
                    journal_send(level, error, file, line, func, fields, n_fields, buf) < 0)
                        stderr_send(level, buf);
        }

        errno = saved;
        return -abs(error);
}

int log_internal(int level, int error, const char *file, int line, const char *func,
                 const char *format, ...) {
        va_list ap;
        int r;

        if (level > log_max_level)
                return -abs(error);
        va_start(ap, format);
        r = log_dispatch(level, error, file, line, func, NULL, 0, format, ap);
        va_end(ap);
        return r;
}

int log_struct_internal(int level, int error, const char *file, int line, const char *func,
                        const LogField *fields, size_t n_fields, const char *format, ...) {
        va_list ap;
        int r;

        if (level > log_max_level)
                return -abs(error);
        va_start(ap, format);
        r = log_dispatch(level, error, file, line, func, fields, n_fields, format, ap);
        va_end(ap);
        return r;
}
