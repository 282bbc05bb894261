/* SPDX-License-Identifier: Apache-2.0 */
/* bus-trace.h: W3C trace context and the options a{sv} that every work-carrying method takes. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "macro.h"

/* "00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>" */
#define ZL_TRACEPARENT_LEN 55
#define ZL_TRACESTATE_MAX 512
#define ZL_TRACE_FLAG_SAMPLED 0x01

typedef struct ZlTraceContext {
        uint8_t version;
        uint8_t trace_id[16];
        uint8_t parent_id[8];
        uint8_t flags;
} ZlTraceContext;

/* Parses a traceparent header value (W3C Trace Context level 1): lower-case hex only, version
 * ff is invalid, version 00 is exactly 55 characters, later versions may append "-..." which is
 * ignored. All-zero trace or parent ids are invalid. -EINVAL if malformed. */
int zl_traceparent_parse(const char *s, ZlTraceContext *ret);
/* Formats c as a version 00 traceparent (what we send on, whatever version we received) into
 * buf; returns buf. */
char *zl_traceparent_format(const ZlTraceContext *c, char buf[static ZL_TRACEPARENT_LEN + 1]);

/* What the options a{sv} of a method call carried. */
typedef struct ZlBusOptions {
        bool has_trace;
        ZlTraceContext trace;
        char *tracestate; /* the W3C tracestate to pass on with the trace, or NULL */
} ZlBusOptions;

void zl_bus_options_done(ZlBusOptions *o);

/* Called for keys the reader does not know, with m positioned at the value's variant, which it
 * must read completely if it takes the key. Returns 1 if it took the key, 0 if it does not know
 * it either (the call is then refused), or a negative errno with error set. */
typedef int (*ZlBusOptionFunc)(sd_bus_message *m, const char *key, void *userdata,
                               sd_bus_error *error);

/* Reads an a{sv} from m: "traceparent" (s), "tracestate" (s, only next to a traceparent) and
 * whatever `other` (may be NULL) takes. Unknown keys, repeated keys, wrong types and malformed
 * values fail with -EINVAL and error set to org.zlayer.Error.InvalidArgument naming the option.
 * *ret is written only on success. */
int zl_bus_message_read_options(sd_bus_message *m, ZlBusOptions *ret, ZlBusOptionFunc other,
                                void *userdata, sd_bus_error *error);
