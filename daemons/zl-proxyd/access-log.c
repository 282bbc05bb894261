/* SPDX-License-Identifier: Apache-2.0 */
/* access-log.c: per-worker rings of finished requests, JSON lines, an appended file. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "access-log.h"
#include "fd-util.h"
#include "string-util.h"

/* Producer and consumer indexes on their own cache lines: the worker writes head, the control
 * thread writes tail. */
typedef struct AccessLogRing {
        _Alignas(64) _Atomic uint32_t head;
        _Alignas(64) _Atomic uint32_t tail;
        _Alignas(64) _Atomic uint64_t dropped;
        AccessLogEntry *entries;
} AccessLogRing;

struct AccessLog {
        unsigned n_rings;
        uint32_t mask;
        /* Written by a worker whose ring reaches a quarter full, so that under load the consumer
         * drains before the ring overflows rather than at its next tick. */
        int wake_fd;
        /* Requests whose random number is below this are logged; UINT64_MAX: all of them. */
        _Atomic uint64_t threshold;
        AccessLogRing *rings;
};

int access_log_new(unsigned n_rings, unsigned ring_size, AccessLog **ret) {
        _cleanup_(access_log_freep) AccessLog *l = NULL;
        uint32_t size = 1;

        if (n_rings == 0 || ring_size == 0 || ring_size > (1U << 20))
                return -EINVAL;
        while (size < ring_size)
                size <<= 1;
        l = calloc(1, sizeof *l);
        if (!l)
                return -ENOMEM;
        l->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (l->wake_fd < 0) {
                int r = -errno;
                free(TAKE_PTR(l));
                return r;
        }
        l->rings = aligned_alloc(64, n_rings * sizeof(AccessLogRing));
        if (!l->rings)
                return -ENOMEM;
        memset(l->rings, 0, n_rings * sizeof(AccessLogRing));
        l->n_rings = n_rings;
        l->mask = size - 1;
        atomic_init(&l->threshold, UINT64_MAX);
        for (unsigned i = 0; i < n_rings; i++) {
                /* malloc, not calloc: the pages stay untouched (not resident) until used. */
                l->rings[i].entries = malloc((size_t) size * sizeof(AccessLogEntry));
                if (!l->rings[i].entries)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

AccessLog *access_log_free(AccessLog *l) {
        if (!l)
                return NULL;
        for (unsigned i = 0; l->rings && i < l->n_rings; i++)
                free(l->rings[i].entries);
        free(l->rings);
        safe_close(l->wake_fd);
        free(l);
        return NULL;
}

void access_log_set_sampling(AccessLog *l, double fraction) {
        uint64_t t;

        if (!(fraction > 0))
                t = 0;
        else if (fraction >= 1)
                t = UINT64_MAX;
        else
                t = (uint64_t) (fraction * 0x1p64); /* < 2^64: fraction < 1 */
        atomic_store(&l->threshold, t);
}

double access_log_get_sampling(const AccessLog *l) {
        uint64_t t = atomic_load(&((AccessLog *) l)->threshold);

        /* Plain arithmetic, not ldexp(): the daemon then needs no libm, whose loading alone
         * costs a third of a megabyte of idle RSS. */
        return t == UINT64_MAX ? 1.0 : (double) t / 0x1p64;
}

bool access_log_sample(const AccessLog *l, uint64_t random) {
        uint64_t t = atomic_load_explicit(&((AccessLog *) l)->threshold, memory_order_relaxed);

        return t == UINT64_MAX || random < t;
}

AccessLogEntry *access_log_reserve(AccessLog *l, unsigned ring) {
        AccessLogRing *r;
        uint32_t head, tail;

        if (ring >= l->n_rings)
                return NULL;
        r = &l->rings[ring];
        head = atomic_load_explicit(&r->head, memory_order_relaxed);
        tail = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (head - tail > l->mask) {
                atomic_fetch_add_explicit(&r->dropped, 1, memory_order_relaxed);
                return NULL;
        }
        return &r->entries[head & l->mask];
}

void access_log_commit(AccessLog *l, unsigned ring) {
        AccessLogRing *r = &l->rings[ring];
        uint32_t head = atomic_load_explicit(&r->head, memory_order_relaxed) + 1;

        atomic_store_explicit(&r->head, head, memory_order_release);
        /* One wake-up per crossing of the mark: a system call every ring/4 requests at most. */
        if (head - atomic_load_explicit(&r->tail, memory_order_relaxed) == (l->mask + 1) / 4) {
                uint64_t one = 1;
                (void) !write(l->wake_fd, &one, sizeof one);
        }
}

int access_log_get_fd(const AccessLog *l) {
        return l->wake_fd;
}

void access_log_clear_wake(AccessLog *l) {
        uint64_t v;
        (void) !read(l->wake_fd, &v, sizeof v);
}

size_t access_log_drain(AccessLog *l, AccessLogSink sink, void *userdata) {
        size_t n = 0;

        for (unsigned i = 0; i < l->n_rings; i++) {
                AccessLogRing *r = &l->rings[i];
                uint32_t head = atomic_load_explicit(&r->head, memory_order_acquire);
                uint32_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);

                for (; tail != head; tail++, n++)
                        sink(&r->entries[tail & l->mask], userdata);
                atomic_store_explicit(&r->tail, tail, memory_order_release);
        }
        return n;
}

uint64_t access_log_dropped(const AccessLog *l) {
        uint64_t n = 0;

        for (unsigned i = 0; i < l->n_rings; i++)
                n += atomic_load(&l->rings[i].dropped);
        return n;
}

void access_log_copy(char *dst, size_t n, const char *src, size_t len) {
        if (!src || len == 0) {
                snprintf(dst, n, "-");
                return;
        }
        len = MIN(len, n - 1);
        memcpy(dst, src, len);
        dst[len] = 0;
}

bool access_log_entry_from_head(AccessLogEntry *e, const char *method, const char *head,
                                size_t size) {
        size_t mlen = strlen(method);
        const char *target, *eol, *sp, *hend, *end = head + size;

        if (!head || size < mlen + 1 || memcmp(head, method, mlen) != 0 || head[mlen] != ' ')
                return false;
        target = head + mlen + 1;
        eol = memmem(target, end - target, "\r\n", 2);
        if (!eol || eol - target < 10 || memcmp(eol - 9, " HTTP/1.1", 9) != 0)
                return false;
        sp = eol - 9;
        access_log_copy(e->path, sizeof e->path, target, sp - target);

        /* Only within the head: a body could hold anything. */
        hend = memmem(eol, end - eol, "\r\n\r\n", 4) ?: end;
        for (const char *line = eol + 2; line < hend;) {
                const char *le = memmem(line, hend - line, "\r\n", 2) ?: hend;

                if (le - line > 13 && strncasecmp(line, "traceparent: ", 13) == 0) {
                        access_log_copy(e->traceparent, sizeof e->traceparent, line + 13,
                                        le - line - 13);
                        break;
                }
                line = le + 2;
        }
        return true;
}

/* Appends s as a JSON string (quotes included); false when it does not fit. */
static bool json_append_string(char **p, char *end, const char *s) {
        char *o = *p;

        if (o >= end)
                return false;
        *o++ = '"';
        for (; *s; s++) {
                unsigned char ch = (unsigned char) *s;

                if (end - o < 8)
                        return false;
                if (ch == '"' || ch == '\\') {
                        *o++ = '\\';
                        *o++ = (char) ch;
                } else if (ch < 0x20 || ch == 0x7f)
                        o += snprintf(o, end - o, "\\u%04x", ch);
                else if (ch >= 0x80)
                        /* Request paths are bytes, not necessarily UTF-8: keep the line valid
                         * JSON by escaping every non-ASCII byte as its code point. */
                        o += snprintf(o, end - o, "\\u%04x", ch);
                else
                        *o++ = (char) ch;
        }
        if (o >= end)
                return false;
        *o++ = '"';
        *p = o;
        return true;
}

static bool append_raw(char **p, char *end, const char *fmt, ...) _printf_(3, 4);
static bool append_raw(char **p, char *end, const char *fmt, ...) {
        va_list ap;
        int n;

        if (*p >= end)
                return false;
        va_start(ap, fmt);
        n = vsnprintf(*p, end - *p, fmt, ap);
        va_end(ap);
        if (n < 0 || n >= end - *p)
                return false;
        *p += n;
        return true;
}

int access_log_format(const AccessLogEntry *e, char *buf, size_t size) {
        char *p = buf, *end = buf + size, ts[32];
        struct tm tm;
        time_t sec = (time_t) (e->realtime_usec / 1000000U);
        bool ok;

        if (!gmtime_r(&sec, &tm) || strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm) == 0)
                snprintf(ts, sizeof ts, "1970-01-01T00:00:00");
        ok = append_raw(&p, end, "{\"time\":\"%s.%06" PRIu64 "Z\",\"route\":", ts,
                        e->realtime_usec % 1000000U) &&
             json_append_string(&p, end, e->route) && append_raw(&p, end, ",\"client\":") &&
             json_append_string(&p, end, e->client) && append_raw(&p, end, ",\"method\":") &&
             json_append_string(&p, end, e->method) && append_raw(&p, end, ",\"path\":") &&
             json_append_string(&p, end, e->path) &&
             append_raw(&p, end,
                        ",\"status\":%u,\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64
                        ",\"duration_us\":%" PRIu64 ",\"backend\":",
                        e->status, e->bytes_in, e->bytes_out, e->duration_usec) &&
             json_append_string(&p, end, e->backend) && append_raw(&p, end, ",\"traceparent\":") &&
             json_append_string(&p, end, e->traceparent) && append_raw(&p, end, "}\n");
        if (!ok)
                return -ENOBUFS;
        return (int) (p - buf);
}

struct AccessLogFile {
        char *path;
        int fd;
        /* Batches lines into few writes. */
        char *buf;
        size_t len;
        int error;
};

#define FILE_BUF_SIZE (64U * 1024U)

static int file_open(const char *path) {
        int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
        return fd < 0 ? -errno : fd;
}

int access_log_file_open(const char *path, AccessLogFile **ret) {
        _cleanup_(access_log_file_freep) AccessLogFile *f = NULL;

        if (!path || path[0] != '/')
                return -EINVAL;
        f = calloc(1, sizeof *f);
        if (!f)
                return -ENOMEM;
        f->fd = -EBADF;
        f->path = strdup(path);
        if (!f->path)
                return -ENOMEM;
        f->fd = file_open(path);
        if (f->fd < 0)
                return f->fd;
        *ret = TAKE_PTR(f);
        return 0;
}

AccessLogFile *access_log_file_free(AccessLogFile *f) {
        if (!f)
                return NULL;
        safe_close(f->fd);
        free(f->path);
        free(f->buf);
        free(f);
        return NULL;
}

int access_log_file_reopen(AccessLogFile *f) {
        int fd = file_open(f->path);

        if (fd < 0)
                return fd;
        safe_close(f->fd);
        f->fd = fd;
        return 0;
}

const char *access_log_file_path(const AccessLogFile *f) {
        return f->path;
}

static void file_flush(AccessLogFile *f) {
        if (f->len > 0 && f->error == 0) {
                int r = loop_write(f->fd, f->buf, f->len);
                if (r < 0)
                        f->error = r;
        }
        f->len = 0;
}

static void file_sink(const AccessLogEntry *e, void *userdata) {
        AccessLogFile *f = userdata;
        int n;

        if (!f->buf) {
                /* Allocated on first use: an idle proxy keeps no batch buffer. */
                f->buf = malloc(FILE_BUF_SIZE);
                if (!f->buf) {
                        f->error = -ENOMEM;
                        return;
                }
        }
        if (FILE_BUF_SIZE - f->len < ACCESS_LOG_LINE_MAX)
                file_flush(f);
        n = access_log_format(e, f->buf + f->len, FILE_BUF_SIZE - f->len);
        if (n > 0)
                f->len += n;
}

int access_log_file_drain(AccessLogFile *f, AccessLog *l) {
        size_t n;
        int r;

        f->error = 0;
        n = access_log_drain(l, file_sink, f);
        if (f->buf)
                file_flush(f);
        r = f->error;
        if (n == 0)
                f->buf = mfree(f->buf); /* idle again */
        if (r < 0)
                return r;
        return (int) MIN(n, (size_t) INT32_MAX);
}
