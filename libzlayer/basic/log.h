/* SPDX-License-Identifier: Apache-2.0 */
/* log.h: leveled logging to the journal (native protocol) or stderr, errno-returning helpers. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <syslog.h>

#include "macro.h"

typedef enum LogTarget {
        LOG_TARGET_AUTO, /* journal if our stderr is connected to it, else stderr */
        LOG_TARGET_JOURNAL, /* native journal protocol, stderr when the socket is missing */
        LOG_TARGET_STDERR,
        LOG_TARGET_NULL,
        _LOG_TARGET_MAX,
        _LOG_TARGET_INVALID = -EINVAL,
} LogTarget;

/* A structured journal field. Keys are upper case [A-Z0-9_], not starting with '_'. */
typedef struct LogField {
        const char *key;
        const char *value;
} LogField;

void log_set_max_level(int level);
int log_get_max_level(void);
void log_set_target(LogTarget target);
LogTarget log_get_target(void);
/* The identifier shown in the journal (SYSLOG_IDENTIFIER) and as a stderr prefix when set. */
void log_set_ident(const char *ident);
/* Prefix stderr lines with "<ident>: " (off by default: command-line tools print bare lines). */
void log_set_show_ident(bool b);
/* Applies ZLAYER_LOG_LEVEL and ZLAYER_LOG_TARGET from the environment, ignoring bad values. */
void log_parse_environment(void);

int log_level_from_string(const char *s);
const char *log_level_to_string(int level);
int log_target_from_string(const char *s);
const char *log_target_to_string(LogTarget t);

/* Logs and returns -abs(error) (or 0 if error is 0). `%m` in the format expands to
 * strerror(abs(error)). */
int log_internal(int level, int error, const char *file, int line, const char *func,
                 const char *format, ...) _printf_(6, 7);
int log_struct_internal(int level, int error, const char *file, int line, const char *func,
                        const LogField *fields, size_t n_fields, const char *format, ...)
        _printf_(8, 9);

#define log_full_errno(level, error, ...)                                                          \
        ({                                                                                         \
                int _l_ = (level), _e_ = (error);                                                  \
                (log_get_max_level() >= _l_)                                                       \
                        ? log_internal(_l_, _e_, __FILE__, __LINE__, __func__, __VA_ARGS__)        \
                        : -abs(_e_);                                                               \
        })
#define log_full(level, ...) (void) log_full_errno(level, 0, __VA_ARGS__)

#define log_debug(...) log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, __VA_ARGS__)

#define log_debug_errno(error, ...) log_full_errno(LOG_DEBUG, error, __VA_ARGS__)
#define log_info_errno(error, ...) log_full_errno(LOG_INFO, error, __VA_ARGS__)
#define log_notice_errno(error, ...) log_full_errno(LOG_NOTICE, error, __VA_ARGS__)
#define log_warning_errno(error, ...) log_full_errno(LOG_WARNING, error, __VA_ARGS__)
#define log_error_errno(error, ...) log_full_errno(LOG_ERR, error, __VA_ARGS__)

#define log_oom() log_error_errno(ENOMEM, "Out of memory.")

/* log_struct(LOG_INFO, LOG_FIELDS({"ZL_EVENT", "started"}, {"ZL_CONTAINER", id}),
 *            "Container '%s' started.", id); */
#define LOG_FIELDS(...)                                                                            \
        ((const LogField[]){ __VA_ARGS__ }), ELEMENTSOF(((const LogField[]){ __VA_ARGS__ }))
#define log_struct_errno(level, error, fields_and_n, ...)                                          \
        log_struct_internal(level, error, __FILE__, __LINE__, __func__, fields_and_n, __VA_ARGS__)
#define log_struct(level, fields_and_n, ...)                                                       \
        (void) log_struct_errno(level, 0, fields_and_n, __VA_ARGS__)
