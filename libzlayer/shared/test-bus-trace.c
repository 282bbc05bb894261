/* SPDX-License-Identifier: Apache-2.0 */
/* test-bus-trace.c: traceparent parsing and formatting, the options a{sv} reader. */
#include <sys/socket.h>

#include "bus-error.h"
#include "bus-trace.h"
#include "tests.h"

#define TP_VALID "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

TEST(traceparent_valid) {
        char buf[ZL_TRACEPARENT_LEN + 1];
        ZlTraceContext c;

        ASSERT_OK(zl_traceparent_parse(TP_VALID, &c));
        ASSERT_EQ(c.version, 0);
        ASSERT_EQ(c.trace_id[0], 0x4b);
        ASSERT_EQ(c.trace_id[15], 0x36);
        ASSERT_EQ(c.parent_id[0], 0x00);
        ASSERT_EQ(c.parent_id[7], 0xb7);
        ASSERT_EQ(c.flags, ZL_TRACE_FLAG_SAMPLED);
        ASSERT_STREQ(zl_traceparent_format(&c, buf), TP_VALID);

        ASSERT_OK(zl_traceparent_parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
                                       &c));
        ASSERT_EQ(c.flags, 0);
}

TEST(traceparent_future_version) {
        char buf[ZL_TRACEPARENT_LEN + 1];
        ZlTraceContext c;

        /* A later version may carry more after a '-'; we read the fields we know and send on
         * version 00. */
        ASSERT_OK(zl_traceparent_parse(
                "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds",
                &c));
        ASSERT_EQ(c.version, 0xcc);
        ASSERT_STREQ(zl_traceparent_format(&c, buf), TP_VALID);
        ASSERT_OK(zl_traceparent_parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                                       &c));
        ASSERT_ERROR(zl_traceparent_parse(
                             "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x", &c),
                     EINVAL);
}

TEST(traceparent_invalid) {
        static const char *const bad[] = {
                "",
                "00",
                /* version ff is forbidden */
                "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                /* all-zero ids */
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                /* upper case hex */
                "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                /* wrong separators and lengths */
                "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
                /* not hex */
                "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
                "0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-zz",
                " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        };
        ZlTraceContext c = { .version = 42 };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                if (zl_traceparent_parse(bad[i], &c) != -EINVAL)
                        test_fail(__FILE__, __LINE__, "accepted '%s'", bad[i]);
        }
        /* Untouched on failure. */
        ASSERT_EQ(c.version, 42);
        ASSERT_ERROR(zl_traceparent_parse(NULL, &c), EINVAL);
}

/* Builds a method call whose body is the given a{sv}, sealed and rewound for reading. */
static sd_bus_message *options_message(sd_bus *bus, const char *types, ...) {
        sd_bus_message *m = NULL;
        va_list ap;

        ASSERT_OK(sd_bus_message_new_method_call(bus, &m, "org.zlayer.Test1", "/org/zlayer/Test1",
                                                 "org.zlayer.Test1", "Do"));
        va_start(ap, types);
        ASSERT_OK(sd_bus_message_appendv(m, types, ap));
        va_end(ap);
        ASSERT_OK(sd_bus_message_seal(m, 1, 0));
        ASSERT_OK(sd_bus_message_rewind(m, true));
        return m;
}

static sd_bus *test_bus(void) {
        sd_bus *bus = NULL;
        int fds[2];

        /* Messages need a started bus; one end of a socketpair that nobody answers will do,
         * since nothing is sent. */
        ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds));
        ASSERT_OK(sd_bus_new(&bus));
        ASSERT_OK(sd_bus_set_fd(bus, fds[0], fds[0]));
        ASSERT_OK(sd_bus_start(bus));
        close(fds[1]);
        return bus;
}

TEST(options_empty_and_trace) {
        _cleanup_(sd_bus_unrefp) sd_bus *bus = test_bus();
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *m;
        ZlBusOptions o;

        m = options_message(bus, "a{sv}", 0);
        ASSERT_OK(zl_bus_message_read_options(m, &o, NULL, NULL, &error));
        ASSERT_FALSE(o.has_trace);
        ASSERT_NULL(o.tracestate);
        sd_bus_message_unref(m);

        m = options_message(bus, "a{sv}", 2, "traceparent", "s", TP_VALID, "tracestate", "s",
                            "vendor=abc");
        ASSERT_OK(zl_bus_message_read_options(m, &o, NULL, NULL, &error));
        ASSERT_TRUE(o.has_trace);
        ASSERT_EQ(o.trace.flags, 1);
        ASSERT_STREQ(o.tracestate, "vendor=abc");
        /* The whole container was consumed. */
        ASSERT_EQ(sd_bus_message_at_end(m, true), 1);
        zl_bus_options_done(&o);
        ASSERT_NULL(o.tracestate);
        sd_bus_message_unref(m);
}

static void assert_refused(sd_bus *bus, const char *expected_message, sd_bus_message *m) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        ZlBusOptions o = { .has_trace = true };

        ASSERT_ERROR(zl_bus_message_read_options(m, &o, NULL, NULL, &error), EINVAL);
        ASSERT_STREQ(error.name, ZL_BUS_ERROR_INVALID_ARGUMENT);
        ASSERT_STREQ(error.message, expected_message);
        /* *ret untouched */
        ASSERT_TRUE(o.has_trace);
        sd_bus_message_unref(m);
}

TEST(options_refused) {
        _cleanup_(sd_bus_unrefp) sd_bus *bus = test_bus();

        assert_refused(bus,
                       "Option 'traceparent' is not a W3C traceparent (00-<32 hex>-<16 hex>-<2 "
                       "hex>, ids not all zero).",
                       options_message(bus, "a{sv}", 1, "traceparent", "s", "00-abc"));
        assert_refused(bus, "Option 'traceparent' must be a string, got type 'u'.",
                       options_message(bus, "a{sv}", 1, "traceparent", "u", 7));
        assert_refused(bus, "Unknown option 'colour'.",
                       options_message(bus, "a{sv}", 1, "colour", "s", "red"));
        assert_refused(bus, "Option 'traceparent' given twice.",
                       options_message(bus, "a{sv}", 2, "traceparent", "s", TP_VALID, "traceparent",
                                       "s", TP_VALID));
        assert_refused(bus, "Option 'tracestate' needs a 'traceparent'.",
                       options_message(bus, "a{sv}", 1, "tracestate", "s", "a=b"));
        assert_refused(bus, "Option 'tracestate' must be 1-512 printable ASCII characters.",
                       options_message(bus, "a{sv}", 2, "traceparent", "s", TP_VALID, "tracestate",
                                       "s", "a=\x01"));
}

static int take_timeout(sd_bus_message *m, const char *key, void *userdata, sd_bus_error *error) {
        uint64_t *timeout = userdata;

        if (!streq(key, "timeout"))
                return 0;
        return sd_bus_message_read(m, "v", "t", timeout) < 0 ? -EINVAL : 1;
}

TEST(options_other_keys) {
        _cleanup_(sd_bus_unrefp) sd_bus *bus = test_bus();
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        uint64_t timeout = 0;
        sd_bus_message *m;
        ZlBusOptions o;

        m = options_message(bus, "a{sv}", 2, "timeout", "t", UINT64_C(30), "traceparent", "s",
                            TP_VALID);
        ASSERT_OK(zl_bus_message_read_options(m, &o, take_timeout, &timeout, &error));
        ASSERT_U64_EQ(timeout, 30);
        ASSERT_TRUE(o.has_trace);
        zl_bus_options_done(&o);
        sd_bus_message_unref(m);

        m = options_message(bus, "a{sv}", 1, "other", "b", 1);
        ASSERT_ERROR(zl_bus_message_read_options(m, &o, take_timeout, &timeout, &error), EINVAL);
        ASSERT_STREQ(error.message, "Unknown option 'other'.");
        sd_bus_message_unref(m);
}

TEST(options_wrong_signature) {
        _cleanup_(sd_bus_unrefp) sd_bus *bus = test_bus();
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        sd_bus_message *m;
        ZlBusOptions o;

        m = options_message(bus, "s", "not a dict");
        ASSERT_TRUE(zl_bus_message_read_options(m, &o, NULL, NULL, &error) < 0);
        sd_bus_message_unref(m);
}
