/* SPDX-License-Identifier: Apache-2.0 */
/* access-log.h: finished requests handed from the workers to the control thread, one line each. */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"
#include "route-table.h"

/* One finished request (or tcp relay), as the worker saw it. Strings are NUL-terminated and cut
 * to their field; "-" stands for unknown. */
typedef struct AccessLogEntry {
        uint64_t realtime_usec; /* when it ended, CLOCK_REALTIME */
        uint64_t duration_usec; /* from its first byte to its end */
        uint64_t bytes_in; /* from the client */
        uint64_t bytes_out; /* to the client */
        unsigned status; /* 0: none (a tcp relay, or the client or backend left first) */
        char route[ROUTE_NAME_MAX + 1];
        char client[INET6_ADDRSTRLEN];
        char method[24];
        char path[512];
        char backend[INET6_ADDRSTRLEN + 8];
        char traceparent[56];
} AccessLogEntry;

/* Per-worker single-producer single-consumer rings of entries: a worker never waits for the
 * consumer nor the disk, it drops the entry (counted) when its ring is full. The consumer (the
 * daemon's event loop) drains them in batches. */
typedef struct AccessLog AccessLog;

#define ACCESS_LOG_RING_SIZE_DEFAULT 512U

/* n_rings: one per worker; ring_size: entries per ring, rounded up to a power of two. Memory is
 * only touched as entries are used. */
int access_log_new(unsigned n_rings, unsigned ring_size, AccessLog **ret);
AccessLog *access_log_free(AccessLog *l);
DEFINE_TRIVIAL_CLEANUP_FUNC(AccessLog *, access_log_free);

/* The fraction of requests logged, 0 to 1 (clamped). Any thread. */
void access_log_set_sampling(AccessLog *l, double fraction);
double access_log_get_sampling(const AccessLog *l) _pure_;

/* ---- worker side ---- */

/* Whether a request with this random number is logged. */
bool access_log_sample(const AccessLog *l, uint64_t random) _pure_;
/* A slot to fill in the ring of worker `ring`, or NULL when it is full (the entry is counted as
 * dropped). Must be followed by access_log_commit() before the next reserve. */
AccessLogEntry *access_log_reserve(AccessLog *l, unsigned ring);
void access_log_commit(AccessLog *l, unsigned ring);

/* Fills the path and the traceparent sent of an entry from the request head as the worker sent it
 * to the backend ("GET /x HTTP/1.1\r\n...traceparent: ...\r\n\r\n"): returns false, leaving
 * them alone, when head does not start with a request line of this method. */
bool access_log_entry_from_head(AccessLogEntry *e, const char *method, const char *head,
                                size_t size);
/* Copies a string into a field of size n, cut if needed, "-" for NULL or empty. */
void access_log_copy(char *dst, size_t n, const char *src, size_t len);

/* ---- consumer side (one thread) ---- */

/* An eventfd that becomes readable when some ring is a quarter full: drain then (and also on a
 * timer, for the stragglers). Read it clear with access_log_clear_wake(). */
int access_log_get_fd(const AccessLog *l) _pure_;
void access_log_clear_wake(AccessLog *l);

typedef void (*AccessLogSink)(const AccessLogEntry *e, void *userdata);
/* Hands every committed entry to sink, oldest first per ring. Returns how many. */
size_t access_log_drain(AccessLog *l, AccessLogSink sink, void *userdata);
uint64_t access_log_dropped(const AccessLog *l) _pure_;

/* The entry as one JSON object and a newline:
 *   {"time":"2026-01-02T03:04:05.678901Z","route":"web","client":"127.0.0.1","method":"GET",
 *    "path":"/x","status":200,"bytes_in":78,"bytes_out":1024,"duration_us":512,
 *    "backend":"10.0.0.2:80","traceparent":"00-..."}
 * Returns the length, or -ENOBUFS when buf is too small (ACCESS_LOG_LINE_MAX always fits). */
#define ACCESS_LOG_LINE_MAX 4096U
int access_log_format(const AccessLogEntry *e, char *buf, size_t size);

/* A file the entries are appended to (O_APPEND, created 0640). */
typedef struct AccessLogFile AccessLogFile;
int access_log_file_open(const char *path, AccessLogFile **ret);
AccessLogFile *access_log_file_free(AccessLogFile *f);
DEFINE_TRIVIAL_CLEANUP_FUNC(AccessLogFile *, access_log_file_free);
/* Opens the path again (after logrotate moved the file); on failure the old file stays. */
int access_log_file_reopen(AccessLogFile *f);
const char *access_log_file_path(const AccessLogFile *f) _pure_;
/* Drains l into the file in large writes. Returns the entries written, or -errno of a failed
 * write (the entries of that batch are lost). */
int access_log_file_drain(AccessLogFile *f, AccessLog *l);
