/* SPDX-License-Identifier: Apache-2.0 */
/* test-bus-introspect.c: introspection XML from vtables, signature splitting. */
#include <stdio.h>

#include "bus-introspect.h"
#include "daemon.h"
#include "tests.h"

static int handler(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return 0;
}

static int getter(sd_bus *bus, const char *path, const char *interface, const char *property,
                  sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return 0;
}

static int setter(sd_bus *bus, const char *path, const char *interface, const char *property,
                  sd_bus_message *value, void *userdata, sd_bus_error *error) {
        return 0;
}

static const sd_bus_vtable test_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("Create", SD_BUS_ARGS("s", name, "a{sv}", options),
                                SD_BUS_RESULT("o", path), handler, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("Anonymous", "a(sx)u", "", handler, 0),
        SD_BUS_METHOD_WITH_ARGS("Forget", SD_BUS_ARGS("s", id), SD_BUS_NO_RESULT, handler,
                                SD_BUS_VTABLE_UNPRIVILEGED | SD_BUS_VTABLE_METHOD_NO_REPLY |
                                        SD_BUS_VTABLE_DEPRECATED),
        SD_BUS_METHOD("Secret", "", "", handler, SD_BUS_VTABLE_HIDDEN),
        SD_BUS_SIGNAL_WITH_ARGS("Changed", SD_BUS_ARGS("o", path, "a{sv}", properties), 0),
        SD_BUS_SIGNAL("Ping", "", 0),
        SD_BUS_PROPERTY("Count", "u", getter, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Id", "s", getter, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Load", "d", getter, 0, 0),
        SD_BUS_PROPERTY("Items", "a(so)", getter, 0, SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION),
        SD_BUS_WRITABLE_PROPERTY("Mode", "s", getter, setter, 0,
                                 SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_VTABLE_END,
};

static const char expected_test[] =
        " <interface name=\"org.zlayer.Test1\">\n"
        "  <method name=\"Create\">\n"
        "   <arg type=\"s\" name=\"name\" direction=\"in\"/>\n"
        "   <arg type=\"a{sv}\" name=\"options\" direction=\"in\"/>\n"
        "   <arg type=\"o\" name=\"path\" direction=\"out\"/>\n"
        "  </method>\n"
        "  <method name=\"Anonymous\">\n"
        "   <arg type=\"a(sx)\" direction=\"in\"/>\n"
        "   <arg type=\"u\" direction=\"in\"/>\n"
        "   <annotation name=\"org.freedesktop.systemd1.Privileged\" value=\"true\"/>\n"
        "  </method>\n"
        "  <method name=\"Forget\">\n"
        "   <arg type=\"s\" name=\"id\" direction=\"in\"/>\n"
        "   <annotation name=\"org.freedesktop.DBus.Deprecated\" value=\"true\"/>\n"
        "   <annotation name=\"org.freedesktop.DBus.Method.NoReply\" value=\"true\"/>\n"
        "  </method>\n"
        "  <signal name=\"Changed\">\n"
        "   <arg type=\"o\" name=\"path\"/>\n"
        "   <arg type=\"a{sv}\" name=\"properties\"/>\n"
        "  </signal>\n"
        "  <signal name=\"Ping\">\n"
        "  </signal>\n"
        "  <property name=\"Count\" type=\"u\" access=\"read\">\n"
        "  </property>\n"
        "  <property name=\"Id\" type=\"s\" access=\"read\">\n"
        "   <annotation name=\"org.freedesktop.DBus.Property.EmitsChangedSignal\" "
        "value=\"const\"/>\n"
        "  </property>\n"
        "  <property name=\"Load\" type=\"d\" access=\"read\">\n"
        "   <annotation name=\"org.freedesktop.DBus.Property.EmitsChangedSignal\" "
        "value=\"false\"/>\n"
        "  </property>\n"
        "  <property name=\"Items\" type=\"a(so)\" access=\"read\">\n"
        "   <annotation name=\"org.freedesktop.DBus.Property.EmitsChangedSignal\" "
        "value=\"invalidates\"/>\n"
        "  </property>\n"
        "  <property name=\"Mode\" type=\"s\" access=\"readwrite\">\n"
        "   <annotation name=\"org.freedesktop.systemd1.Privileged\" value=\"true\"/>\n"
        "  </property>\n"
        " </interface>\n";

/* Runs the generator into a memory stream; returns the text (caller frees) or NULL on error,
 * with the error in *ret_r. */
static char *introspect(const sd_bus_vtable *vtable, const char *interface, bool document,
                        int *ret_r) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f;

        f = open_memstream(&buf, &size);
        ASSERT_NOT_NULL(f);
        *ret_r = document ? zl_bus_introspect_document(vtable, interface, f)
                          : zl_bus_introspect_interface(vtable, interface, f);
        fclose(f);
        if (*ret_r < 0)
                return mfree(buf);
        return buf;
}

TEST(interface) {
        _cleanup_free_ char *xml = NULL;
        int r;

        xml = introspect(test_vtable, "org.zlayer.Test1", false, &r);
        ASSERT_OK(r);
        ASSERT_STREQ(xml, expected_test);
}

TEST(document) {
        _cleanup_free_ char *xml = NULL;
        int r;

        xml = introspect(zl_daemon_vtable, ZL_DAEMON_INTERFACE, true, &r);
        ASSERT_OK(r);
        ASSERT_TRUE(strncmp(xml, "<!DOCTYPE node PUBLIC", 21) == 0);
        ASSERT_NOT_NULL(strstr(xml, "\n<node>\n <interface name=\"org.zlayer.Daemon1\">\n"));
        ASSERT_NOT_NULL(strstr(xml, "  <method name=\"GetCounters\">\n"
                                    "   <arg type=\"a{sd}\" name=\"counters\" "
                                    "direction=\"out\"/>\n"
                                    "  </method>\n"));
        ASSERT_NOT_NULL(strstr(xml, "  <property name=\"LogLevel\" type=\"s\" "
                                    "access=\"readwrite\">\n  </property>\n"));
        /* Everything in Daemon1 is callable by the zlayer group: no Privileged marks. */
        ASSERT_NULL(strstr(xml, "Privileged"));
        ASSERT_TRUE(strlen(xml) > 8 && streq(xml + strlen(xml) - 8, "</node>\n"));
}

static const sd_bus_vtable bad_property_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Two", "ss", getter, 0, 0),
        SD_BUS_VTABLE_END,
};

static const sd_bus_vtable bad_signature_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("Bad", "a{vs}", "", handler, 0),
        SD_BUS_VTABLE_END,
};

TEST(invalid) {
        _cleanup_free_ char *xml = NULL;
        int r;

        xml = introspect(test_vtable, "not an interface", false, &r);
        ASSERT_ERROR(r, EINVAL);
        xml = introspect(test_vtable + 1, "org.zlayer.Test1", false, &r);
        ASSERT_ERROR(r, EINVAL);
        xml = introspect(bad_property_vtable, "org.zlayer.Test1", false, &r);
        ASSERT_ERROR(r, EINVAL);
        xml = introspect(bad_signature_vtable, "org.zlayer.Test1", false, &r);
        ASSERT_ERROR(r, EINVAL);
        ASSERT_ERROR(zl_bus_introspect_interface(NULL, "org.zlayer.Test1", stdout), EINVAL);
}

TEST(signature_elements) {
        static const struct {
                const char *signature;
                int length; /* -1: invalid */
        } cases[] = {
                { "s", 1 },      { "sa{sv}", 1 },   { "a{sv}i", 5 },
                { "a(sx)u", 5 }, { "aas", 3 },      { "(a{sv}(uu))", 11 },
                { "v", 1 },      { "h", 1 },        { "a{vs}", -1 },
                { "{sv}", -1 },  { "()", -1 },      { "(s", -1 },
                { "a", -1 },     { "", -1 },        { "z", -1 },
                { "a{s}", -1 },  { "a{(s)v}", -1 }, { "a{svv}", -1 },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                size_t n = 0;
                int r = zl_bus_signature_element_length(cases[i].signature, &n);

                if (cases[i].length < 0) {
                        if (r != -EINVAL)
                                test_fail(__FILE__, __LINE__, "'%s' accepted", cases[i].signature);
                } else if (r < 0 || n != (size_t) cases[i].length)
                        test_fail(__FILE__, __LINE__, "'%s': r=%d n=%zu, expected %d",
                                  cases[i].signature, r, n, cases[i].length);
        }
}

TEST(signature_too_deep) {
        char deep[200];

        memset(deep, 'a', sizeof deep - 2);
        deep[sizeof deep - 2] = 's';
        deep[sizeof deep - 1] = '\0';
        size_t n;
        ASSERT_ERROR(zl_bus_signature_element_length(deep, &n), EINVAL);
        ASSERT_OK(zl_bus_signature_element_length(deep + sizeof deep - 10, &n));
        ASSERT_EQ(n, 9);
}
