/* SPDX-License-Identifier: Apache-2.0 */
/* container-log.h: size-rotated container log files in the CRI format, their writer and reader. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"
#include "time-util.h"

/* On disk, in the log directory: "container.log" (the one being written), "container.log.1" ..
 * "container.log.<max_files - 1>" (1 the newest), and "container.log.ended" once the container
 * is gone. One record a line:
 *
 *     2026-01-02T03:04:05.123456000Z stdout F some text
 *
 * The text is the bytes the container wrote, without the newline (CR and binary bytes are kept).
 * A line longer than CONTAINER_LOG_LINE_MAX, or one still without a newline when the writer
 * flushes, is written as P (partial) records, the last piece as F. */
#define CONTAINER_LOG_FILE "container.log"
#define CONTAINER_LOG_ENDED_FILE "container.log.ended"
#define CONTAINER_LOG_LINE_MAX ((size_t) 16384)
#define CONTAINER_LOG_MAX_SIZE_DEFAULT (UINT64_C(10) * 1024 * 1024)
#define CONTAINER_LOG_MAX_SIZE_MIN UINT64_C(4096)
#define CONTAINER_LOG_MAX_FILES_DEFAULT 5U
#define CONTAINER_LOG_MAX_FILES_MAX 1000U

typedef enum LogStream {
        LOG_STREAM_STDOUT,
        LOG_STREAM_STDERR,
        _LOG_STREAM_MAX,
        _LOG_STREAM_INVALID = -EINVAL,
} LogStream;

const char *log_stream_to_string(LogStream s) _const_;
LogStream log_stream_from_string(const char *s);

/* "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ", always nine fraction digits so records sort as text.
 * Returns buf, or NULL for times past year 9999. */
#define CONTAINER_LOG_TIMESTAMP_MAX sizeof("YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ")
char *container_log_format_timestamp(usec_t t, char buf[static CONTAINER_LOG_TIMESTAMP_MAX]);
/* Strict RFC 3339 of exactly n bytes: "YYYY-MM-DDTHH:MM:SS", an optional "." with 1 to 9 digits
 * (truncated to microseconds), then "Z" or "+HH:MM"/"-HH:MM". Upper case 'T' and 'Z' only; no
 * leap seconds. -EINVAL when malformed or not a real date, -ERANGE before the epoch. */
int container_log_parse_timestamp(const char *s, size_t n, usec_t *ret);

typedef struct ContainerLog ContainerLog;

typedef struct ContainerLogOptions {
        uint64_t max_size; /* bytes of container.log before it rotates; 0: the default */
        unsigned max_files; /* files kept in total, container.log included; 0: the default */
        /* Also send records to the journal, when its socket exists. */
        bool journal;
        const char *container_id, *container_name; /* journal fields; may be NULL */
} ContainerLogOptions;

/* Opens (creating it and the directory's last component when missing) dir/container.log for
 * appending; an existing log is continued, and an old end marker is removed. o may be NULL for
 * the defaults. -EINVAL for a max_size below CONTAINER_LOG_MAX_SIZE_MIN or more files than
 * CONTAINER_LOG_MAX_FILES_MAX. */
int container_log_open(int dir_fd, const char *dir, const ContainerLogOptions *o,
                       ContainerLog **ret);
/* Takes data as read from the container's pipe or terminal: complete lines become records, the
 * rest waits in a per-stream buffer for its newline. Each record is one write(2), and rotation
 * happens before a record that would take container.log past max_size. now_realtime 0 means
 * "read the clock". On a failed write the record is lost and -errno returned; later writes
 * carry on. */
int container_log_write(ContainerLog *l, LogStream s, const void *data, size_t size,
                        usec_t now_realtime);
/* Writes the buffered unterminated lines as P records (at EOF of the container's output). */
int container_log_flush(ContainerLog *l, usec_t now_realtime);
/* Flushes (errors ignored) and frees. Returns NULL. */
ContainerLog *container_log_free(ContainerLog *l);
DEFINE_TRIVIAL_CLEANUP_FUNC(ContainerLog *, container_log_free);
/* The container has ended: flushes, writes the end marker that makes followers stop after
 * draining, and frees l (also on failure). */
int container_log_close_final(ContainerLog *l);

typedef struct ContainerLogEntry {
        usec_t timestamp;
        LogStream stream;
        bool partial;
        const char *text; /* NUL-terminated at text[size]; valid during the callback only */
        size_t size;
} ContainerLogEntry;

typedef int (*container_log_callback_t)(const ContainerLogEntry *e, void *userdata);

/* Reads the records oldest first over the rotated files, as they are when called. since (0 =
 * all) keeps records stamped at or after it; tail (UINT64_MAX = all) keeps the records of the
 * last tail lines (a line is its P pieces and its F, counted per stream; an unterminated last
 * piece counts as a line), found by reading backwards from the end. Malformed records are
 * skipped. A callback returning < 0 stops the read with that error; returns the number of
 * records passed to cb. -ENOENT when dir does not exist. */
int container_log_read(int dir_fd, const char *dir, usec_t since, uint64_t tail,
                       container_log_callback_t cb, void *userdata);

/* Writes the records container_log_read() would select to out_fd: with raw, the text as the
 * container wrote it (F records get their newline back); otherwise the record lines. With
 * follow it then waits (inotify on the directory) for appends and rotations, and returns 0
 * once the end marker exists and everything is written, once stop_fd (-1 for none) becomes
 * readable, or once out_fd's reader went away (EPIPE, POLLHUP, POLLERR). SIGPIPE is blocked in
 * the calling thread meanwhile. Blocks: run it in its own thread or process. */
int container_log_stream(int dir_fd, const char *dir, usec_t since, uint64_t tail, bool follow,
                         bool raw, int out_fd, int stop_fd);
