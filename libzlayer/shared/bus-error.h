/* SPDX-License-Identifier: Apache-2.0 */
/* bus-error.h: the org.zlayer.Error.* names and their errno values, both ways. */
#pragma once

#include <systemd/sd-bus.h>

#include "macro.h"

#define ZL_BUS_ERROR_PREFIX "org.zlayer.Error."

#define ZL_BUS_ERROR_NOT_FOUND ZL_BUS_ERROR_PREFIX "NotFound"
#define ZL_BUS_ERROR_EXISTS ZL_BUS_ERROR_PREFIX "Exists"
#define ZL_BUS_ERROR_INVALID_ARGUMENT ZL_BUS_ERROR_PREFIX "InvalidArgument"
#define ZL_BUS_ERROR_INVALID_SPEC ZL_BUS_ERROR_PREFIX "InvalidSpec"
#define ZL_BUS_ERROR_PERMISSION_DENIED ZL_BUS_ERROR_PREFIX "PermissionDenied"
#define ZL_BUS_ERROR_BUSY ZL_BUS_ERROR_PREFIX "Busy"
#define ZL_BUS_ERROR_TIMEOUT ZL_BUS_ERROR_PREFIX "Timeout"
#define ZL_BUS_ERROR_NOT_SUPPORTED ZL_BUS_ERROR_PREFIX "NotSupported"
#define ZL_BUS_ERROR_NO_SPACE ZL_BUS_ERROR_PREFIX "NoSpace"
#define ZL_BUS_ERROR_TOO_LARGE ZL_BUS_ERROR_PREFIX "TooLarge"
#define ZL_BUS_ERROR_OUT_OF_RANGE ZL_BUS_ERROR_PREFIX "OutOfRange"
#define ZL_BUS_ERROR_CANCELLED ZL_BUS_ERROR_PREFIX "Cancelled"
#define ZL_BUS_ERROR_TRY_AGAIN ZL_BUS_ERROR_PREFIX "TryAgain"
#define ZL_BUS_ERROR_UNAVAILABLE ZL_BUS_ERROR_PREFIX "Unavailable"
#define ZL_BUS_ERROR_FAILED ZL_BUS_ERROR_PREFIX "Failed"

/* The table in the form sd-bus takes (name -> errno), terminated by SD_BUS_ERROR_MAP_END. */
extern const sd_bus_error_map zl_bus_error_map[];

/* Registers the table with sd-bus, so that replies carrying our names come back from
 * sd_bus_call() and sd_bus_error_get_errno() as the right errno. Idempotent; call once before
 * the first call on the bus (the daemon framework does; clients like zlctl must too). */
int zl_bus_error_register(void);

/* The full error name for an errno value (positive or negative): every errno has one, errors
 * without a name of their own are ZL_BUS_ERROR_FAILED. */
const char *zl_bus_error_name_from_errno(int error) _const_;
/* The errno value (positive) for one of our names, or -EINVAL if name is not in the table. */
int zl_bus_error_name_to_errno(const char *name) _pure_;
/* The errno (positive) an error received from the bus stands for: our names through the table,
 * anything else as sd-bus maps it (EIO if it knows nothing better). 0 if the error is not set. */
int zl_bus_error_to_errno(const sd_bus_error *e);

/* Sets e to the name for `error` and the formatted message; returns -abs(error). */
int zl_bus_error_set_errnof(sd_bus_error *e, int error, const char *format, ...) _printf_(3, 4);
/* Replies to the method call m with the name for `error` and the formatted message. Returns
 * what sd_bus_reply_method_error() returns, so a handler can `return zl_bus_reply_errnof(...)`. */
int zl_bus_reply_errnof(sd_bus_message *m, int error, const char *format, ...) _printf_(3, 4);

/* For methods that change the node: only a caller with effective uid 0 may, also on a bus whose
 * policy lets others call. Returns 1 for root; replies PermissionDenied "Only root may <what>."
 * and returns 0 otherwise; < 0 when the caller's credentials cannot be had. */
int zl_bus_check_root(sd_bus_message *m, const char *what);
