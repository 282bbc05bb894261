/* SPDX-License-Identifier: Apache-2.0 */
/* bus-trace.c: traceparent parsing and formatting, the options a{sv} reader. */
#include <stdio.h>

#include "bus-error.h"
#include "bus-trace.h"
#include "string-util.h"

static int unhex_lower(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        return -EINVAL;
}

/* n bytes from 2n lower-case hex digits. */
static int unhex_bytes(const char *s, uint8_t *ret, size_t n) {
        for (size_t i = 0; i < n; i++) {
                int hi = unhex_lower(s[2 * i]), lo;

                if (hi < 0)
                        return -EINVAL;
                lo = unhex_lower(s[2 * i + 1]);
                if (lo < 0)
                        return -EINVAL;
                ret[i] = (uint8_t) (hi << 4 | lo);
        }
        return 0;
}

static bool all_zero(const uint8_t *p, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (p[i])
                        return false;
        return true;
}

int zl_traceparent_parse(const char *s, ZlTraceContext *ret) {
        ZlTraceContext c = {};
        size_t len;

        if (!s || !ret)
                return -EINVAL;
        len = strlen(s);
        if (len < ZL_TRACEPARENT_LEN)
                return -EINVAL;
        if (s[2] != '-' || s[35] != '-' || s[52] != '-')
                return -EINVAL;
        if (unhex_bytes(s, &c.version, 1) < 0 || c.version == 0xff)
                return -EINVAL;
        /* Version 00 has nothing after the flags; a later version may, after a '-'. */
        if (c.version == 0 ? len != ZL_TRACEPARENT_LEN
                           : len > ZL_TRACEPARENT_LEN && s[ZL_TRACEPARENT_LEN] != '-')
                return -EINVAL;
        if (unhex_bytes(s + 3, c.trace_id, sizeof c.trace_id) < 0 ||
            unhex_bytes(s + 36, c.parent_id, sizeof c.parent_id) < 0 ||
            unhex_bytes(s + 53, &c.flags, 1) < 0)
                return -EINVAL;
        if (all_zero(c.trace_id, sizeof c.trace_id) || all_zero(c.parent_id, sizeof c.parent_id))
                return -EINVAL;
        *ret = c;
        return 0;
}

char *zl_traceparent_format(const ZlTraceContext *c, char buf[static ZL_TRACEPARENT_LEN + 1]) {
        char *p = buf;

        assert(c);
        p += sprintf(p, "00-");
        for (size_t i = 0; i < sizeof c->trace_id; i++)
                p += sprintf(p, "%02x", c->trace_id[i]);
        *p++ = '-';
        for (size_t i = 0; i < sizeof c->parent_id; i++)
                p += sprintf(p, "%02x", c->parent_id[i]);
        sprintf(p, "-%02x", c->flags);
        return buf;
}

void zl_bus_options_done(ZlBusOptions *o) {
        if (!o)
                return;
        o->tracestate = mfree(o->tracestate);
        o->has_trace = false;
}

/* W3C tracestate: list members of printable ASCII; we pass it on, so only bound its size and
 * character set. */
static bool tracestate_is_valid(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > ZL_TRACESTATE_MAX)
                return false;
        for (const char *p = s; *p; p++)
                if (*p < 0x20 || *p > 0x7e)
                        return false;
        return true;
}

static int read_string_option(sd_bus_message *m, const char *key, const char **ret,
                              sd_bus_error *error) {
        const char *contents;
        int r;

        r = sd_bus_message_peek_type(m, NULL, &contents);
        if (r < 0)
                return r;
        if (!streq(contents, "s"))
                return zl_bus_error_set_errnof(error, EINVAL,
                                               "Option '%s' must be a string, got type '%s'.", key,
                                               contents);
        return sd_bus_message_read(m, "v", "s", ret);
}

int zl_bus_message_read_options(sd_bus_message *m, ZlBusOptions *ret, ZlBusOptionFunc other,
                                void *userdata, sd_bus_error *error) {
        _cleanup_strv_free_ char **seen = NULL;
        _cleanup_free_ char *tracestate = NULL;
        ZlBusOptions o = {};
        int r;

        if (!m || !ret)
                return -EINVAL;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        for (;;) {
                const char *key, *value;

                r = sd_bus_message_enter_container(m, 'e', "sv");
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                r = sd_bus_message_read(m, "s", &key);
                if (r < 0)
                        return r;
                if (strv_contains(seen, key))
                        return zl_bus_error_set_errnof(error, EINVAL, "Option '%s' given twice.",
                                                       key);
                r = strv_extend(&seen, key);
                if (r < 0)
                        return r;

                if (streq(key, "traceparent")) {
                        r = read_string_option(m, key, &value, error);
                        if (r < 0)
                                return r;
                        if (zl_traceparent_parse(value, &o.trace) < 0)
                                return zl_bus_error_set_errnof(
                                        error, EINVAL,
                                        "Option 'traceparent' is not a W3C traceparent "
                                        "(00-<32 hex>-<16 hex>-<2 hex>, ids not all zero).");
                        o.has_trace = true;
                } else if (streq(key, "tracestate")) {
                        r = read_string_option(m, key, &value, error);
                        if (r < 0)
                                return r;
                        if (!tracestate_is_valid(value))
                                return zl_bus_error_set_errnof(
                                        error, EINVAL,
                                        "Option 'tracestate' must be 1-%d printable ASCII "
                                        "characters.",
                                        ZL_TRACESTATE_MAX);
                        tracestate = strdup(value);
                        if (!tracestate)
                                return -ENOMEM;
                } else {
                        r = other ? other(m, key, userdata, error) : 0;
                        if (r < 0)
                                return r;
                        if (r == 0)
                                return zl_bus_error_set_errnof(error, EINVAL,
                                                               "Unknown option '%s'.", key);
                }

                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;

        if (tracestate && !o.has_trace)
                return zl_bus_error_set_errnof(error, EINVAL,
                                               "Option 'tracestate' needs a 'traceparent'.");
        o.tracestate = TAKE_PTR(tracestate);
        *ret = o;
        return 0;
}
