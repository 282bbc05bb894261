/* SPDX-License-Identifier: Apache-2.0 */
/* time-util.h: microsecond time values, clocks, RFC 3339 timestamps and human time spans. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef uint64_t usec_t;

#define USEC_INFINITY ((usec_t) UINT64_MAX)
#define NSEC_PER_USEC ((uint64_t) UINT64_C(1000))
#define NSEC_PER_SEC ((uint64_t) UINT64_C(1000000000))
#define USEC_PER_MSEC ((usec_t) UINT64_C(1000))
#define USEC_PER_SEC ((usec_t) UINT64_C(1000000))
#define USEC_PER_MINUTE ((usec_t) (UINT64_C(60) * USEC_PER_SEC))
#define USEC_PER_HOUR ((usec_t) (UINT64_C(60) * USEC_PER_MINUTE))
#define USEC_PER_DAY ((usec_t) (UINT64_C(24) * USEC_PER_HOUR))
#define MSEC_PER_SEC UINT64_C(1000)

/* The clock's current value in microseconds (CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME). */
usec_t now(clockid_t clock);

/* Conversions; USEC_INFINITY maps to and from { -1, -1 } / values that do not fit. */
usec_t timespec_load(const struct timespec *ts);
struct timespec *timespec_store(struct timespec *ts, usec_t u);

/* "2026-11-29T14:12:00Z": RFC 3339 in UTC, whole seconds (the fraction is dropped). Returns buf,
 * or NULL for USEC_INFINITY and times past year 9999. */
#define TIMESTAMP_MAX_LEN sizeof("YYYY-MM-DDTHH:MM:SSZ")
char *format_timestamp(usec_t t, char *buf, size_t len);

/* RFC 3339: "YYYY-MM-DDTHH:MM:SS", an optional fraction of up to 9 digits (truncated to
 * microseconds), then "Z" or a "+HH:MM"/"-HH:MM" offset, which is applied. 't' and 'z' may be
 * lower case. Leap seconds (":60") are not accepted. -EINVAL when malformed or not a real date,
 * -ERANGE before 1970-01-01T00:00:00Z. */
int parse_timestamp(const char *s, usec_t *ret);

/* Human spans for status output: "1h 30min 2s", "3d 4h", "250ms", "0", "infinity". Parts
 * smaller than accuracy are dropped (pass 0 or 1 for full precision: "1s 500ms 20us"). Returns
 * buf. */
#define TIMESPAN_MAX_LEN 64
char *format_timespan(usec_t t, usec_t accuracy, char *buf, size_t len);
