/* SPDX-License-Identifier: Apache-2.0 */
/* container-log.c: the CRI-format log writer with size rotation, the backwards tail, the follower.
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#include "container-log.h"
#include "fd-util.h"
#include "log.h"
#include "string-util.h"

/* "<timestamp> stdout P " */
#define RECORD_HEADER_MAX (CONTAINER_LOG_TIMESTAMP_MAX - 1 + sizeof(" stdout P ") - 1)
#define RECORD_MAX (RECORD_HEADER_MAX + CONTAINER_LOG_LINE_MAX + 1)
/* Other CRI writers may use longer records than ours; a line beyond this is malformed. */
#define READ_LINE_MAX ((size_t) 256 * 1024)
#define READ_BLOCK ((size_t) 64 * 1024)
#define OUT_BUFFER_SIZE ((size_t) 64 * 1024)
#define ROTATED_NAME_MAX sizeof(CONTAINER_LOG_FILE ".4294967295")

#define STRLEN(s) (sizeof(s) - 1)

#define JOURNAL_SOCKET "/run/systemd/journal/socket"
/* The monitor may start before the journal does: look for its socket again now and then. */
#define JOURNAL_RECHECK_USEC (10 * USEC_PER_SEC)
/* Readers hold the directory lock only while opening files; a writer that still cannot get it
 * after this many milliseconds (a stopped reader) rotates without it rather than stall the
 * container's output. */
#define ROTATE_LOCK_TRIES 50

static const char *const log_stream_table[_LOG_STREAM_MAX] = {
        [LOG_STREAM_STDOUT] = "stdout",
        [LOG_STREAM_STDERR] = "stderr",
};

const char *log_stream_to_string(LogStream s) {
        if (s < 0 || s >= _LOG_STREAM_MAX)
                return NULL;
        return log_stream_table[s];
}

LogStream log_stream_from_string(const char *s) {
        if (!s)
                return _LOG_STREAM_INVALID;
        for (LogStream i = 0; i < _LOG_STREAM_MAX; i++)
                if (streq(log_stream_table[i], s))
                        return i;
        return _LOG_STREAM_INVALID;
}

/* ---- timestamps ------------------------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date, and back (H. Hinnant's algorithms). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
        int64_t era;
        unsigned yoe, doy, doe;

        y -= m <= 2;
        era = (y >= 0 ? y : y - 399) / 400;
        yoe = (unsigned) (y - era * 400);
        doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
        doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + (int64_t) doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *ret_y, unsigned *ret_m, unsigned *ret_d) {
        int64_t era, y;
        unsigned doe, yoe, doy, mp, m;

        z += 719468;
        era = (z >= 0 ? z : z - 146096) / 146097;
        doe = (unsigned) (z - era * 146097);
        yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
        y = (int64_t) yoe + era * 400;
        doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        mp = (5 * doy + 2) / 153;
        *ret_d = doy - (153 * mp + 2) / 5 + 1;
        m = mp < 10 ? mp + 3 : mp - 9;
        *ret_m = m;
        *ret_y = y + (m <= 2);
}

static bool leap_year(int64_t y) {
        return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(int64_t y, unsigned m) {
        static const unsigned days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

        return m == 2 && leap_year(y) ? 29 : days[m - 1];
}

char *container_log_format_timestamp(usec_t t, char buf[static CONTAINER_LOG_TIMESTAMP_MAX]) {
        uint64_t secs = t / USEC_PER_SEC, rem;
        char tmp[64];
        unsigned m, d;
        int64_t y;
        int n;

        if (t == USEC_INFINITY)
                return NULL;
        civil_from_days((int64_t) (secs / 86400), &y, &m, &d);
        if (y > 9999)
                return NULL;
        rem = secs % 86400;
        /* The compiler cannot see that the fields fit; they do, as the year does. */
        n = snprintf(tmp, sizeof tmp, "%04u-%02u-%02uT%02u:%02u:%02u.%09uZ", (unsigned) y, m, d,
                     (unsigned) (rem / 3600), (unsigned) (rem / 60 % 60), (unsigned) (rem % 60),
                     (unsigned) (t % USEC_PER_SEC * NSEC_PER_USEC));
        if (n != (int) CONTAINER_LOG_TIMESTAMP_MAX - 1)
                return NULL;
        memcpy(buf, tmp, CONTAINER_LOG_TIMESTAMP_MAX);
        return buf;
}

static int parse_fixed_digits(const char *s, size_t n, unsigned *ret) {
        unsigned v = 0;

        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                v = v * 10 + (unsigned) (s[i] - '0');
        }
        *ret = v;
        return 0;
}

int container_log_parse_timestamp(const char *s, size_t n, usec_t *ret) {
        unsigned year, mon, day, hour, min, sec;
        const char *p, *end;
        int64_t secs, offset = 0;
        usec_t frac = 0;

        if (!s || n < STRLEN("YYYY-MM-DDTHH:MM:SSZ"))
                return -EINVAL;
        if (s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':')
                return -EINVAL;
        if (parse_fixed_digits(s, 4, &year) < 0 || parse_fixed_digits(s + 5, 2, &mon) < 0 ||
            parse_fixed_digits(s + 8, 2, &day) < 0 || parse_fixed_digits(s + 11, 2, &hour) < 0 ||
            parse_fixed_digits(s + 14, 2, &min) < 0 || parse_fixed_digits(s + 17, 2, &sec) < 0)
                return -EINVAL;

        p = s + 19;
        end = s + n;
        if (*p == '.') {
                size_t digits = 0;

                for (p++; p < end && *p >= '0' && *p <= '9'; p++, digits++)
                        if (digits < 6)
                                frac = frac * 10 + (usec_t) (*p - '0');
                if (digits == 0 || digits > 9)
                        return -EINVAL;
                for (; digits < 6; digits++)
                        frac *= 10;
        }
        if (p >= end)
                return -EINVAL;
        if (*p == 'Z')
                p++;
        else if (*p == '+' || *p == '-') {
                unsigned oh, om;

                if (end - p < 6 || p[3] != ':' || parse_fixed_digits(p + 1, 2, &oh) < 0 ||
                    parse_fixed_digits(p + 4, 2, &om) < 0 || oh > 23 || om > 59)
                        return -EINVAL;
                offset = ((int64_t) oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
                p += 6;
        } else
                return -EINVAL;
        if (p != end)
                return -EINVAL;

        if (mon < 1 || mon > 12 || day < 1 || day > days_in_month(year, mon) || hour > 23 ||
            min > 59 || sec > 59)
                return -EINVAL;

        secs = days_from_civil(year, mon, day) * 86400 + (int64_t) hour * 3600 + min * 60 + sec -
               offset;
        if (secs < 0)
                return -ERANGE;
        *ret = (usec_t) secs * USEC_PER_SEC + frac;
        return 0;
}

/* ---- writer ------------------------------------------------------------------------------ */

typedef struct PartialLine {
        size_t size;
        char data[CONTAINER_LOG_LINE_MAX];
} PartialLine;

struct ContainerLog {
        int dir_fd;
        int fd;
        uint64_t size;
        uint64_t max_size;
        unsigned max_files;

        bool journal;
        bool journal_present;
        usec_t journal_checked;
        char *field_id, *field_name, *field_ident;

        PartialLine partial[_LOG_STREAM_MAX];
        char record[RECORD_MAX];
};

static void rotated_name(unsigned k, char buf[static ROTATED_NAME_MAX]) {
        (void) snprintf(buf, ROTATED_NAME_MAX, CONTAINER_LOG_FILE ".%u", k);
}

static int renameat_optional(int dir_fd, const char *from, const char *to) {
        if (renameat(dir_fd, from, dir_fd, to) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

/* 1 when locked, 0 when we go on without the lock (busy for too long, or the file system has no
 * flock()), never an error: rotation must not depend on readers. */
static int lock_dir_for_rotation(int dir_fd) {
        for (unsigned i = 0;; i++) {
                if (flock(dir_fd, LOCK_EX | LOCK_NB) >= 0)
                        return 1;
                if (errno != EWOULDBLOCK && errno != EINTR) {
                        log_debug_errno(errno,
                                        "Cannot lock the log directory, rotating anyway: %m");
                        return 0;
                }
                if (i >= ROTATE_LOCK_TRIES) {
                        log_debug(
                                "Log directory locked by a reader for too long, rotating anyway.");
                        return 0;
                }
                (void) usleep(USEC_PER_MSEC);
        }
}

/* Renames, so a reader holding a file open reads it to its end and then moves on. */
static int container_log_rotate(ContainerLog *l) {
        char from[ROTATED_NAME_MAX], to[ROTATED_NAME_MAX];
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        int locked, r = 0;

        locked = lock_dir_for_rotation(l->dir_fd);

        /* The oldest file goes, and any beyond it that an earlier, larger max_files left. */
        for (unsigned k = MAX(l->max_files - 1, 1U); k <= CONTAINER_LOG_MAX_FILES_MAX; k++) {
                rotated_name(k, to);
                if (unlinkat(l->dir_fd, to, 0) < 0) {
                        if (errno != ENOENT)
                                r = -errno;
                        break;
                }
        }
        if (r >= 0 && l->max_files == 1) {
                if (unlinkat(l->dir_fd, CONTAINER_LOG_FILE, 0) < 0 && errno != ENOENT)
                        r = -errno;
        } else if (r >= 0) {
                for (unsigned k = l->max_files - 1; r >= 0 && k > 1; k--) {
                        rotated_name(k - 1, from);
                        rotated_name(k, to);
                        r = renameat_optional(l->dir_fd, from, to);
                }
                if (r >= 0) {
                        rotated_name(1, to);
                        r = RET_NERRNO(renameat(l->dir_fd, CONTAINER_LOG_FILE, l->dir_fd, to));
                }
        }
        if (r >= 0) {
                fd = openat(l->dir_fd, CONTAINER_LOG_FILE,
                            O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
                if (fd < 0 || fstat(fd, &st) < 0)
                        r = -errno;
        }
        if (locked > 0)
                (void) flock(l->dir_fd, LOCK_UN);
        if (r < 0)
                return log_debug_errno(r, "Failed to rotate the container log: %m");

        safe_close(l->fd);
        l->fd = TAKE_FD(fd);
        l->size = (uint64_t) st.st_size;
        return 0;
}

static bool container_log_journal_ready(ContainerLog *l, usec_t now_realtime) {
        if (!l->journal)
                return false;
        if (l->journal_present)
                return true;
        if (l->journal_checked != 0 && now_realtime >= l->journal_checked &&
            now_realtime - l->journal_checked < JOURNAL_RECHECK_USEC)
                return false;
        l->journal_checked = now_realtime;
        l->journal_present = access(JOURNAL_SOCKET, F_OK) >= 0;
        return l->journal_present;
}

/* The record is already in l->record with its text at offset header; the bytes in front of the
 * text are reused for "MESSAGE=" so the text is not copied again. */
static void container_log_send_journal(ContainerLog *l, LogStream s, bool partial, size_t header,
                                       size_t size, usec_t now_realtime) {
        struct iovec iov[7];
        size_t n = 0;
        int r;

        if (!container_log_journal_ready(l, now_realtime))
                return;

        memcpy(l->record + header - STRLEN("MESSAGE="), "MESSAGE=", STRLEN("MESSAGE="));
        iov[n++] = (struct iovec){ l->record + header - STRLEN("MESSAGE="),
                                   STRLEN("MESSAGE=") + size };
        iov[n++] = (struct iovec){ (char *) (s == LOG_STREAM_STDERR ? "PRIORITY=3" : "PRIORITY=6"),
                                   STRLEN("PRIORITY=6") };
        iov[n++] = (struct iovec){ (char *) (s == LOG_STREAM_STDERR ? "CONTAINER_STREAM=stderr"
                                                                    : "CONTAINER_STREAM=stdout"),
                                   STRLEN("CONTAINER_STREAM=stdout") };
        if (l->field_id)
                iov[n++] = (struct iovec){ l->field_id, strlen(l->field_id) };
        if (l->field_name)
                iov[n++] = (struct iovec){ l->field_name, strlen(l->field_name) };
        iov[n++] = (struct iovec){ l->field_ident, strlen(l->field_ident) };
        /* As Docker's journald driver marks the pieces of an over-long line. */
        if (partial)
                iov[n++] = (struct iovec){ (char *) "CONTAINER_PARTIAL_MESSAGE=true",
                                           STRLEN("CONTAINER_PARTIAL_MESSAGE=true") };

        r = sd_journal_sendv(iov, (int) n);
        if (r < 0) {
                log_debug_errno(r,
                                "Failed to send a container log line to the journal, ignoring: %m");
                l->journal_present = false;
                l->journal_checked = now_realtime;
        }
}

static int container_log_write_record(ContainerLog *l, LogStream s, bool partial, const char *text,
                                      size_t size, usec_t now_realtime) {
        char ts[CONTAINER_LOG_TIMESTAMP_MAX];
        size_t header, len;
        int r;

        assert(size <= CONTAINER_LOG_LINE_MAX);

        if (!container_log_format_timestamp(now_realtime, ts))
                return -ERANGE;
        header = (size_t) snprintf(l->record, RECORD_HEADER_MAX + 1, "%s %s %c ", ts,
                                   log_stream_to_string(s), partial ? 'P' : 'F');
        memcpy(l->record + header, text, size);
        l->record[header + size] = '\n';
        len = header + size + 1;

        /* A failed rotation keeps the current file: better too big than lost. */
        if (l->size > 0 && l->size + len > l->max_size)
                (void) container_log_rotate(l);

        r = loop_write(l->fd, l->record, len);
        if (r < 0)
                return log_debug_errno(r, "Failed to write to the container log: %m");
        l->size += len;

        container_log_send_journal(l, s, partial, header, size, now_realtime);
        return 0;
}

int container_log_open(int dir_fd, const char *dir, const ContainerLogOptions *o,
                       ContainerLog **ret) {
        _cleanup_(container_log_freep) ContainerLog *l = NULL;
        _cleanup_close_ int dfd = -EBADF, fd = -EBADF;
        const char *ident;
        struct stat st;

        if (isempty(dir) || !ret)
                return -EINVAL;
        if (o && o->max_size != 0 && o->max_size < CONTAINER_LOG_MAX_SIZE_MIN)
                return -EINVAL;
        if (o && o->max_files > CONTAINER_LOG_MAX_FILES_MAX)
                return -EINVAL;

        if (mkdirat(dir_fd, dir, 0750) < 0 && errno != EEXIST)
                return -errno;
        dfd = openat(dir_fd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        fd = openat(dfd, CONTAINER_LOG_FILE, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY,
                    0640);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        /* A container started again writes on: its followers must not stop at the old end. */
        if (unlinkat(dfd, CONTAINER_LOG_ENDED_FILE, 0) < 0 && errno != ENOENT)
                return -errno;

        l = calloc(1, sizeof(ContainerLog));
        if (!l)
                return -ENOMEM;
        l->dir_fd = TAKE_FD(dfd);
        l->fd = TAKE_FD(fd);
        l->size = (uint64_t) st.st_size;
        l->max_size = o && o->max_size > 0 ? o->max_size : CONTAINER_LOG_MAX_SIZE_DEFAULT;
        l->max_files = o && o->max_files > 0 ? o->max_files : CONTAINER_LOG_MAX_FILES_DEFAULT;
        l->journal = o && o->journal;

        if (l->journal) {
                if (o->container_id) {
                        l->field_id = strjoin("CONTAINER_ID=", o->container_id);
                        if (!l->field_id)
                                return -ENOMEM;
                }
                if (o->container_name) {
                        l->field_name = strjoin("CONTAINER_NAME=", o->container_name);
                        if (!l->field_name)
                                return -ENOMEM;
                }
                ident = o->container_name ?: o->container_id ?: "container";
                l->field_ident = strjoin("SYSLOG_IDENTIFIER=", ident);
                if (!l->field_ident)
                        return -ENOMEM;
                (void) container_log_journal_ready(l, now(CLOCK_REALTIME));
        }

        *ret = TAKE_PTR(l);
        return 0;
}

int container_log_write(ContainerLog *l, LogStream s, const void *data, size_t size,
                        usec_t now_realtime) {
        const char *p = data;
        PartialLine *b;
        int ret = 0;

        if (!l || s < 0 || s >= _LOG_STREAM_MAX || (!data && size > 0))
                return -EINVAL;
        if (now_realtime == 0)
                now_realtime = now(CLOCK_REALTIME);

        b = &l->partial[s];
        while (size > 0) {
                const char *nl = memchr(p, '\n', size);
                size_t n = nl ? (size_t) (nl - p) : size, room = CONTAINER_LOG_LINE_MAX - b->size;
                size_t consumed;
                int r = 0;

                if (n > room) {
                        /* More than one record holds: a full piece goes out as P. */
                        if (b->size == 0)
                                r = container_log_write_record(l, s, true, p, room, now_realtime);
                        else {
                                memcpy(b->data + b->size, p, room);
                                r = container_log_write_record(
                                        l, s, true, b->data, CONTAINER_LOG_LINE_MAX, now_realtime);
                                b->size = 0;
                        }
                        consumed = room;
                } else if (!nl) {
                        memcpy(b->data + b->size, p, n);
                        b->size += n;
                        consumed = n;
                } else {
                        if (b->size == 0)
                                r = container_log_write_record(l, s, false, p, n, now_realtime);
                        else {
                                memcpy(b->data + b->size, p, n);
                                r = container_log_write_record(l, s, false, b->data, b->size + n,
                                                               now_realtime);
                                b->size = 0;
                        }
                        consumed = n + 1;
                }
                /* Carry on with the rest so that the line state stays right; report the first
                 * failure. */
                if (r < 0 && ret == 0)
                        ret = r;
                p += consumed;
                size -= consumed;
        }
        return ret;
}

int container_log_flush(ContainerLog *l, usec_t now_realtime) {
        int ret = 0;

        if (!l)
                return -EINVAL;
        if (now_realtime == 0)
                now_realtime = now(CLOCK_REALTIME);

        for (LogStream s = 0; s < _LOG_STREAM_MAX; s++) {
                PartialLine *b = &l->partial[s];
                int r;

                if (b->size == 0)
                        continue;
                r = container_log_write_record(l, s, true, b->data, b->size, now_realtime);
                b->size = 0;
                if (r < 0 && ret == 0)
                        ret = r;
        }
        return ret;
}

ContainerLog *container_log_free(ContainerLog *l) {
        if (!l)
                return NULL;
        (void) container_log_flush(l, 0);
        safe_close(l->fd);
        safe_close(l->dir_fd);
        free(l->field_id);
        free(l->field_name);
        free(l->field_ident);
        return mfree(l);
}

int container_log_close_final(ContainerLog *l) {
        int r, fd;

        if (!l)
                return -EINVAL;

        r = container_log_flush(l, 0);
        fd = openat(l->dir_fd, CONTAINER_LOG_ENDED_FILE,
                    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0640);
        if (fd < 0 && r >= 0)
                r = -errno;
        safe_close(fd);
        container_log_free(l);
        return r;
}

/* ---- reader ------------------------------------------------------------------------------ */

typedef struct LogPos {
        size_t file;
        uint64_t offset;
} LogPos;

static int log_pos_compare(LogPos a, LogPos b) {
        if (a.file != b.file)
                return a.file < b.file ? -1 : 1;
        if (a.offset != b.offset)
                return a.offset < b.offset ? -1 : 1;
        return 0;
}

typedef struct LogFile {
        int fd; /* -EBADF: container.log does not exist (yet) */
        dev_t dev;
        ino_t ino;
        uint64_t offset; /* the next unread record */
        bool skipping; /* inside an over-long line, up to its newline */
} LogFile;

typedef struct LogReader LogReader;
typedef int (*LogEmitFunc)(LogReader *r, const ContainerLogEntry *e, const char *line,
                           size_t line_size);

struct LogReader {
        int dir_fd;
        LogFile *files; /* oldest first; the last is container.log */
        size_t n_files;

        usec_t since;
        /* While reading the selected history: per stream, the first record tail keeps. */
        bool use_start;
        LogPos start[_LOG_STREAM_MAX];

        char *buf; /* READ_LINE_MAX + READ_BLOCK */

        LogEmitFunc emit;
        container_log_callback_t cb;
        void *userdata;
        int n_emitted;

        /* container_log_stream() output */
        int out_fd, stop_fd;
        bool raw;
        char *out;
        size_t out_size;
};

static void log_reader_close_files(LogReader *r) {
        for (size_t i = 0; i < r->n_files; i++)
                safe_close(r->files[i].fd);
        r->files = mfree(r->files);
        r->n_files = 0;
}

static void log_reader_done(LogReader *r) {
        log_reader_close_files(r);
        safe_close(r->dir_fd);
        free(r->buf);
        free(r->out);
}

/* Readers lock only while opening files, so that they never see a rotation half done. A file
 * system without flock() leaves a small race, not an error. */
static void lock_dir_shared(int dir_fd, bool lock) {
        while (flock(dir_fd, lock ? LOCK_SH : LOCK_UN) < 0 && errno == EINTR)
                ;
}

static int log_file_open(int dir_fd, const char *name, LogFile *ret) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        *ret = (LogFile){ .fd = TAKE_FD(fd), .dev = st.st_dev, .ino = st.st_ino };
        return 0;
}

static int log_files_append(LogFile **files, size_t *n, LogFile f) {
        LogFile *a = reallocarray(*files, *n + 1, sizeof(LogFile));

        if (!a) {
                safe_close(f.fd);
                return -ENOMEM;
        }
        a[(*n)++] = f;
        *files = a;
        return 0;
}

static void log_files_reverse(LogFile *files, size_t n) {
        for (size_t i = 0; i < n / 2; i++) {
                LogFile t = files[i];
                files[i] = files[n - 1 - i];
                files[n - 1 - i] = t;
        }
}

static void log_files_free(LogFile *files, size_t n) {
        for (size_t i = 0; i < n; i++)
                safe_close(files[i].fd);
        free(files);
}

/* Opens container.log and the rotated files .1, .2 ... from newest to oldest under the lock;
 * with stop_ino set, stops before the file that has that inode (and reports whether it was
 * found). The result is oldest first. */
static int log_files_open_locked(int dir_fd, bool stop_set, dev_t stop_dev, ino_t stop_ino,
                                 LogFile **ret, size_t *ret_n, bool *ret_found) {
        LogFile *files = NULL, f;
        bool found = false;
        size_t n = 0;
        int r;

        r = log_file_open(dir_fd, CONTAINER_LOG_FILE, &f);
        if (r == -ENOENT)
                f = (LogFile){ .fd = -EBADF };
        else if (r < 0)
                return r;
        r = log_files_append(&files, &n, f);
        if (r < 0)
                return r;

        for (unsigned k = 1; k <= CONTAINER_LOG_MAX_FILES_MAX; k++) {
                char name[ROTATED_NAME_MAX];

                rotated_name(k, name);
                r = log_file_open(dir_fd, name, &f);
                if (r == -ENOENT)
                        break;
                if (r < 0) {
                        log_files_free(files, n);
                        return r;
                }
                if (stop_set && f.dev == stop_dev && f.ino == stop_ino) {
                        safe_close(f.fd);
                        found = true;
                        break;
                }
                r = log_files_append(&files, &n, f);
                if (r < 0) {
                        log_files_free(files, n);
                        return r;
                }
        }

        log_files_reverse(files, n);
        *ret = files;
        *ret_n = n;
        if (ret_found)
                *ret_found = found;
        return 0;
}

static int log_reader_init(LogReader *r, int dir_fd, const char *dir, usec_t since) {
        *r = (LogReader){ .dir_fd = -EBADF, .out_fd = -EBADF, .stop_fd = -EBADF, .since = since };

        if (isempty(dir))
                return -EINVAL;
        r->dir_fd = openat(dir_fd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (r->dir_fd < 0)
                return -errno;
        r->buf = malloc(READ_LINE_MAX + READ_BLOCK);
        if (!r->buf)
                return -ENOMEM;
        return 0;
}

static int log_reader_open_snapshot(LogReader *r) {
        int k;

        lock_dir_shared(r->dir_fd, true);
        k = log_files_open_locked(r->dir_fd, false, 0, 0, &r->files, &r->n_files, NULL);
        lock_dir_shared(r->dir_fd, false);
        return k;
}

/* Parses one record; line[n] (its newline) becomes the text's NUL. */
static int parse_record(char *line, size_t n, ContainerLogEntry *ret) {
        const char *sp = memchr(line, ' ', n), *rest;
        size_t left;
        LogStream s;
        usec_t ts;

        if (n > READ_LINE_MAX)
                return -EINVAL;
        if (!sp || container_log_parse_timestamp(line, (size_t) (sp - line), &ts) < 0)
                return -EINVAL;
        rest = sp + 1;
        left = n - (size_t) (rest - line);
        /* "stdout F " */
        if (left < 9 || rest[6] != ' ' || rest[8] != ' ' || (rest[7] != 'F' && rest[7] != 'P'))
                return -EINVAL;
        if (memcmp(rest, "stdout", 6) == 0)
                s = LOG_STREAM_STDOUT;
        else if (memcmp(rest, "stderr", 6) == 0)
                s = LOG_STREAM_STDERR;
        else
                return -EINVAL;

        line[n] = '\0';
        *ret = (ContainerLogEntry){
                .timestamp = ts,
                .stream = s,
                .partial = rest[7] == 'P',
                .text = rest + 9,
                .size = left - 9,
        };
        return 0;
}

static int log_reader_process(LogReader *r, size_t file, uint64_t offset, char *line, size_t n) {
        ContainerLogEntry e;

        if (parse_record(line, n, &e) < 0)
                return 0; /* malformed: skipped */
        if (r->use_start && log_pos_compare((LogPos){ file, offset }, r->start[e.stream]) < 0)
                return 0;
        if (r->since > 0 && e.timestamp < r->since)
                return 0;
        return r->emit(r, &e, line, n);
}

/* Reads the records of one file from its offset to its current end; an unterminated last line
 * is left for later (the writer may be in the middle of it). */
static int log_reader_read_file(LogReader *r, size_t idx) {
        LogFile *f = &r->files[idx];
        size_t have = 0;

        if (f->fd < 0)
                return 0;

        for (;;) {
                ssize_t k = pread(f->fd, r->buf + have, READ_LINE_MAX + READ_BLOCK - have,
                                  (off_t) (f->offset + have));
                char *p, *end;
                size_t consumed;

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        return 0;
                have += (size_t) k;

                p = r->buf;
                end = r->buf + have;
                for (char *nl; (nl = memchr(p, '\n', (size_t) (end - p))); p = nl + 1) {
                        int q;

                        if (f->skipping) {
                                f->skipping = false;
                                continue;
                        }
                        q = log_reader_process(r, idx, f->offset + (uint64_t) (p - r->buf), p,
                                               (size_t) (nl - p));
                        if (q < 0)
                                return q;
                }
                consumed = (size_t) (p - r->buf);
                f->offset += consumed;
                have -= consumed;
                memmove(r->buf, p, have);

                if (have >= READ_LINE_MAX) {
                        /* No record is this long: skip to the next newline. */
                        f->skipping = true;
                        f->offset += have;
                        have = 0;
                }
        }
}

typedef struct TailState {
        uint64_t tail, count;
        bool seen[_LOG_STREAM_MAX], closed[_LOG_STREAM_MAX];
        LogPos next[_LOG_STREAM_MAX]; /* the earliest record of the stream seen so far */
        LogPos end;
} TailState;

static bool tail_all_closed(const TailState *t) {
        for (LogStream s = 0; s < _LOG_STREAM_MAX; s++)
                if (!t->closed[s])
                        return false;
        return true;
}

static void tail_close_unseen(LogReader *r, TailState *t) {
        for (LogStream s = 0; s < _LOG_STREAM_MAX; s++)
                if (!t->seen[s] && !t->closed[s]) {
                        t->closed[s] = true;
                        r->start[s] = t->end;
                }
}

/* One record, walking backwards. Lines are counted per stream at their end (F, or a stream's
 * trailing P); once tail lines are counted, a stream is done at the end of its previous line,
 * so only the P pieces of lines already counted extend the walk. Returns 1 when done. */
static int tail_process(LogReader *r, TailState *t, size_t file, uint64_t offset, char *line,
                        size_t n) {
        ContainerLogEntry e;
        LogStream s;

        if (parse_record(line, n, &e) < 0)
                return 0;
        s = e.stream;
        if (t->closed[s])
                return 0;
        if (!e.partial || !t->seen[s]) {
                if (t->count >= t->tail) {
                        t->closed[s] = true;
                        r->start[s] = t->next[s];
                        return tail_all_closed(t);
                }
                t->count++;
        }
        t->seen[s] = true;
        t->next[s] = (LogPos){ file, offset };
        if (t->count >= t->tail)
                tail_close_unseen(r, t);
        return tail_all_closed(t);
}

/* Walks one file backwards from end in blocks. Returns 1 when the tail is complete. */
static int tail_scan_file(LogReader *r, TailState *t, size_t idx, uint64_t end) {
        LogFile *f = &r->files[idx];
        uint64_t wstart = end; /* r->buf holds the bytes [wstart, wstart + len) */
        size_t len = 0;
        /* The bytes after the last newline are a record still being written, skipped like an
         * over-long line. */
        bool skipping = true;

        for (;;) {
                char *nl = NULL;
                size_t k;

                if (len > 0)
                        nl = memrchr(r->buf, '\n', skipping ? len : len - 1);
                if (nl || (wstart == 0 && len > 0)) {
                        size_t b = nl ? (size_t) (nl - r->buf) + 1 : 0;

                        if (!skipping) {
                                int q = tail_process(r, t, idx, wstart + b, r->buf + b,
                                                     len - 1 - b);
                                if (q != 0)
                                        return q;
                        }
                        skipping = false;
                        len = b;
                        continue;
                }
                if (wstart == 0)
                        return 0;

                k = (size_t) MIN((uint64_t) READ_BLOCK, wstart);
                if (len + k > READ_LINE_MAX + READ_BLOCK) {
                        skipping = true;
                        len = 0;
                }
                memmove(r->buf + k, r->buf, len);
                for (size_t got = 0; got < k;) {
                        ssize_t q = pread(f->fd, r->buf + got, k - got, (off_t) (wstart - k + got));
                        if (q < 0) {
                                if (errno == EINTR)
                                        continue;
                                return -errno;
                        }
                        if (q == 0)
                                return -EIO; /* shrank under us */
                        got += (size_t) q;
                }
                wstart -= k;
                len += k;
        }
}

static int log_reader_find_tail(LogReader *r, uint64_t tail) {
        TailState t = { .tail = tail };
        struct stat st;

        r->use_start = true;
        if (r->n_files == 0)
                return 0;
        t.end = (LogPos){ r->n_files - 1, 0 };
        if (r->files[r->n_files - 1].fd >= 0) {
                if (fstat(r->files[r->n_files - 1].fd, &st) < 0)
                        return -errno;
                t.end.offset = (uint64_t) st.st_size;
        }

        if (tail == 0)
                tail_close_unseen(r, &t);
        for (size_t i = r->n_files; i > 0 && !tail_all_closed(&t); i--) {
                uint64_t end;
                int q;

                if (r->files[i - 1].fd < 0)
                        continue;
                if (i == r->n_files)
                        end = t.end.offset;
                else {
                        if (fstat(r->files[i - 1].fd, &st) < 0)
                                return -errno;
                        end = (uint64_t) st.st_size;
                }
                q = tail_scan_file(r, &t, i - 1, end);
                if (q < 0)
                        return q;
        }
        /* Lines that began before the oldest file: everything of theirs that is left. */
        for (LogStream s = 0; s < _LOG_STREAM_MAX; s++)
                if (!t.closed[s])
                        r->start[s] = (LogPos){ 0, 0 };
        return 0;
}

/* The selected history, oldest first. */
static int log_reader_read_history(LogReader *r, uint64_t tail) {
        int q;

        if (tail != UINT64_MAX) {
                q = log_reader_find_tail(r, tail);
                if (q < 0)
                        return q;
        }
        if (r->use_start && r->n_files > 0) {
                /* Start reading where the earliest kept record is, not at the beginning. */
                LogPos first = r->start[0];

                for (LogStream s = 1; s < _LOG_STREAM_MAX; s++)
                        if (log_pos_compare(r->start[s], first) < 0)
                                first = r->start[s];
                for (size_t i = 0; i < first.file; i++)
                        r->files[i].fd = safe_close(r->files[i].fd);
                r->files[first.file].offset = first.offset;
        }
        for (size_t i = 0; i < r->n_files; i++) {
                q = log_reader_read_file(r, i);
                if (q < 0)
                        return q;
        }
        r->use_start = false;
        return 0;
}

static int emit_callback(LogReader *r, const ContainerLogEntry *e, const char *line,
                         size_t line_size) {
        int q;

        (void) line;
        (void) line_size;
        q = r->cb(e, r->userdata);
        if (q < 0)
                return q;
        r->n_emitted++;
        return 0;
}

int container_log_read(int dir_fd, const char *dir, usec_t since, uint64_t tail,
                       container_log_callback_t cb, void *userdata) {
        _cleanup_(log_reader_done) LogReader r;
        int q;

        q = log_reader_init(&r, dir_fd, dir, since);
        if (q < 0)
                return q;
        if (!cb)
                return -EINVAL;
        r.emit = emit_callback;
        r.cb = cb;
        r.userdata = userdata;

        q = log_reader_open_snapshot(&r);
        if (q < 0)
                return q;
        q = log_reader_read_history(&r, tail);
        if (q < 0)
                return q;
        return r.n_emitted;
}

/* ---- streaming to a file descriptor -------------------------------------------------------- */

/* Internal results that end a stream normally. */
#define STREAM_GONE 1
#define STREAM_STOPPED 2

/* Writes everything, waiting on a non-blocking fd; STREAM_GONE when the reader went away,
 * STREAM_STOPPED when stop_fd turned readable meanwhile. */
static int stream_write(LogReader *r, const char *data, size_t size) {
        while (size > 0) {
                ssize_t k = write(r->out_fd, data, size);

                if (k < 0) {
                        struct pollfd p[2] = {
                                { .fd = r->out_fd, .events = POLLOUT },
                                { .fd = r->stop_fd, .events = POLLIN },
                        };

                        if (errno == EINTR)
                                continue;
                        if (errno == EPIPE || errno == ECONNRESET)
                                return STREAM_GONE;
                        if (errno != EAGAIN)
                                return -errno;
                        if (poll(p, r->stop_fd >= 0 ? 2 : 1, -1) < 0 && errno != EINTR)
                                return -errno;
                        if (p[1].revents != 0)
                                return STREAM_STOPPED;
                        continue;
                }
                data += k;
                size -= (size_t) k;
        }
        return 0;
}

static int stream_flush(LogReader *r) {
        int q;

        if (r->out_size == 0)
                return 0;
        q = stream_write(r, r->out, r->out_size);
        r->out_size = 0;
        return q;
}

static int stream_append(LogReader *r, const char *data, size_t size) {
        int q;

        if (r->out_size + size > OUT_BUFFER_SIZE) {
                q = stream_flush(r);
                if (q != 0)
                        return q;
        }
        if (size > OUT_BUFFER_SIZE)
                return stream_write(r, data, size);
        memcpy(r->out + r->out_size, data, size);
        r->out_size += size;
        return 0;
}

static int emit_stream(LogReader *r, const ContainerLogEntry *e, const char *line,
                       size_t line_size) {
        int q;

        if (r->raw) {
                q = stream_append(r, e->text, e->size);
                if (q == 0 && !e->partial)
                        q = stream_append(r, "\n", 1);
        } else {
                q = stream_append(r, line, line_size);
                if (q == 0)
                        q = stream_append(r, "\n", 1);
        }
        if (q != 0)
                return q > 0 ? -ECANCELED : q; /* stops the read; the reason is kept below */
        r->n_emitted++;
        return 0;
}

/* Reads the current file; when container.log is another file now, finishes the old one and
 * goes on with every file rotated since, in order. */
static int log_reader_drain(LogReader *r) {
        for (;;) {
                LogFile *cur = &r->files[r->n_files - 1], *succ = NULL;
                size_t n_succ = 0;
                struct stat st;
                bool found;
                int q;

                q = log_reader_read_file(r, r->n_files - 1);
                if (q < 0)
                        return q;

                if (fstatat(r->dir_fd, CONTAINER_LOG_FILE, &st, 0) < 0) {
                        if (errno != ENOENT)
                                return -errno;
                } else if (cur->fd >= 0 && st.st_dev == cur->dev && st.st_ino == cur->ino)
                        return 0;
                else if (cur->fd < 0) {
                        LogFile f;

                        q = log_file_open(r->dir_fd, CONTAINER_LOG_FILE, &f);
                        if (q == -ENOENT)
                                return 0;
                        if (q < 0)
                                return q;
                        *cur = f;
                        continue;
                }
                if (cur->fd < 0)
                        return 0;

                /* Rotated (or removed): under the lock, finish the old file and find where it
                 * went; the files newer than it follow. */
                lock_dir_shared(r->dir_fd, true);
                q = log_reader_read_file(r, r->n_files - 1);
                if (q >= 0)
                        q = log_files_open_locked(r->dir_fd, true, cur->dev, cur->ino, &succ,
                                                  &n_succ, &found);
                lock_dir_shared(r->dir_fd, false);
                if (q < 0)
                        return q;
                if (n_succ == 1 && succ[0].fd < 0 && !found) {
                        /* Removed and not created again yet: wait for it. */
                        log_files_free(succ, n_succ);
                        return 0;
                }

                log_reader_close_files(r);
                r->files = succ;
                r->n_files = n_succ;
                for (size_t i = 0; i + 1 < r->n_files; i++) {
                        q = log_reader_read_file(r, i);
                        if (q < 0)
                                return q;
                        r->files[i].fd = safe_close(r->files[i].fd);
                }
        }
}

static int drain_inotify(int fd) {
        union {
                struct inotify_event ev;
                char raw[4096];
        } buf;
        bool gone = false;

        for (;;) {
                ssize_t k = read(fd, &buf, sizeof buf);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                return gone ? STREAM_GONE : 0;
                        return -errno;
                }
                for (char *p = buf.raw; p < buf.raw + k;) {
                        const struct inotify_event *ev = (const struct inotify_event *) p;

                        if (ev->mask & (IN_DELETE_SELF | IN_IGNORED | IN_UNMOUNT))
                                gone = true;
                        p += sizeof(struct inotify_event) + ev->len;
                }
        }
}

static int log_reader_follow(LogReader *r, int inotify_fd) {
        for (;;) {
                struct pollfd p[3] = {
                        { .fd = inotify_fd, .events = POLLIN },
                        { .fd = r->out_fd, .events = 0 },
                        { .fd = r->stop_fd, .events = POLLIN },
                };
                bool ended;
                int q;

                /* The monitor marks the end after its last write: seen first, then drained. */
                ended = faccessat(r->dir_fd, CONTAINER_LOG_ENDED_FILE, F_OK, 0) >= 0;
                q = log_reader_drain(r);
                if (q == -ECANCELED)
                        return 0;
                if (q < 0)
                        return q;
                q = stream_flush(r);
                if (q != 0)
                        return q < 0 ? q : 0;
                if (ended)
                        return 0;

                if (poll(p, r->stop_fd >= 0 ? 3 : 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (p[2].revents != 0 || (p[1].revents & (POLLHUP | POLLERR)))
                        return 0;
                if (p[0].revents != 0) {
                        q = drain_inotify(inotify_fd);
                        if (q == STREAM_GONE)
                                return 0; /* the directory was removed */
                        if (q < 0)
                                return q;
                }
        }
}

static int container_log_stream_internal(LogReader *r, uint64_t tail, bool follow) {
        _cleanup_close_ int inotify_fd = -EBADF;
        char path[sizeof("/proc/self/fd/") + 12];
        int q;

        if (follow) {
                /* Watching before the snapshot: nothing written after it goes unnoticed. */
                inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
                if (inotify_fd < 0)
                        return -errno;
                (void) snprintf(path, sizeof path, "/proc/self/fd/%d", r->dir_fd);
                if (inotify_add_watch(inotify_fd, path,
                                      IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM |
                                              IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF) < 0)
                        return -errno;
        }

        q = log_reader_open_snapshot(r);
        if (q < 0)
                return q;
        q = log_reader_read_history(r, tail);
        if (q == -ECANCELED)
                return 0;
        if (q < 0)
                return q;
        q = stream_flush(r);
        if (q != 0)
                return q < 0 ? q : 0;
        if (!follow)
                return 0;
        return log_reader_follow(r, inotify_fd);
}

int container_log_stream(int dir_fd, const char *dir, usec_t since, uint64_t tail, bool follow,
                         bool raw, int out_fd, int stop_fd) {
        _cleanup_(log_reader_done) LogReader r;
        sigset_t block, saved, pending;
        bool was_pending;
        int q;

        q = log_reader_init(&r, dir_fd, dir, since);
        if (q < 0)
                return q;
        if (out_fd < 0)
                return -EBADF;
        r.out = malloc(OUT_BUFFER_SIZE);
        if (!r.out)
                return -ENOMEM;
        r.emit = emit_stream;
        r.out_fd = out_fd;
        r.stop_fd = stop_fd;
        r.raw = raw;

        /* A reader that goes away must end the stream, not the process. */
        sigemptyset(&block);
        sigaddset(&block, SIGPIPE);
        sigpending(&pending);
        was_pending = sigismember(&pending, SIGPIPE);
        q = -pthread_sigmask(SIG_BLOCK, &block, &saved);
        if (q < 0)
                return q;

        q = container_log_stream_internal(&r, tail, follow);

        if (!was_pending) {
                const struct timespec zero = {};

                sigpending(&pending);
                if (sigismember(&pending, SIGPIPE))
                        (void) sigtimedwait(&block, NULL, &zero);
        }
        (void) pthread_sigmask(SIG_SETMASK, &saved, NULL);
        return q;
}
