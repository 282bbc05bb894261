/* SPDX-License-Identifier: Apache-2.0 */
/* test-bus-options.c: the table-driven a{sv} reader on messages built in this process. */
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bus-options.h"
#include "string-util.h"
#include "tests.h"

typedef struct Opts {
        char *name;
        const char *ref;
        char **args;
        char **labels;
        bool flag;
        int tri;
        uint32_t mtu;
        uint64_t files;
        uint64_t size;
        double cpus;
        struct iovec data;
} Opts;

static const ZlBusOption table[] = {
        ZL_BUS_OPTION("name", "s", zl_bus_option_string, Opts, name),
        ZL_BUS_OPTION("ref", "s", zl_bus_option_string_ref, Opts, ref),
        ZL_BUS_OPTION("args", "as", zl_bus_option_strv, Opts, args),
        ZL_BUS_OPTION("labels", "a{ss}", zl_bus_option_string_map, Opts, labels),
        ZL_BUS_OPTION("flag", "b", zl_bus_option_bool, Opts, flag),
        ZL_BUS_OPTION("tri", "b", zl_bus_option_tristate, Opts, tri),
        ZL_BUS_OPTION("mtu", "u", zl_bus_option_uint32, Opts, mtu),
        ZL_BUS_OPTION("files", "u", zl_bus_option_uint32_wide, Opts, files),
        ZL_BUS_OPTION("size", "t", zl_bus_option_uint64, Opts, size),
        ZL_BUS_OPTION("cpus", "d", zl_bus_option_double, Opts, cpus),
        ZL_BUS_OPTION("data", "ay", zl_bus_option_bytes_ref, Opts, data),
        ZL_BUS_OPTION_IGNORED("traceparent", "s"),
};

static void opts_done(Opts *o) {
        free(o->name);
        strv_free(o->args);
        strv_free(o->labels);
}

/* A client connection that is never answered is enough to build messages. */
static sd_bus *bus_new(void) {
        sd_bus *bus = NULL;
        int fds[2];

        ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds));
        ASSERT_OK(sd_bus_new(&bus));
        ASSERT_OK(sd_bus_set_fd(bus, fds[0], fds[0]));
        ASSERT_OK(sd_bus_start(bus));
        close(fds[1]);
        return bus;
}

static sd_bus_message *message_new(sd_bus *bus) {
        sd_bus_message *m = NULL;

        ASSERT_OK(sd_bus_message_new_method_call(bus, &m, "org.zlayer.Test1", "/org/zlayer/Test1",
                                                 "org.zlayer.Test1", "Do"));
        return m;
}

static void seal(sd_bus_message *m) {
        ASSERT_OK(sd_bus_message_seal(m, 1, 0));
        ASSERT_OK(sd_bus_message_rewind(m, true));
}

TEST(every_type) {
        static const uint8_t bytes[] = { 1, 2, 3 };
        sd_bus *bus = bus_new();
        sd_bus_message *m = message_new(bus);
        Opts o = { .tri = -1 };
        char *error = NULL;

        ASSERT_OK(sd_bus_message_append(m, "a{sv}", 11, "name", "s", "web", "ref", "s", "borrowed",
                                        "args", "as", 2, "a", "b", "labels", "a{ss}", 1, "k", "v",
                                        "flag", "b", 1, "tri", "b", 0, "mtu", "u", 1400, "files",
                                        "u", 7, "size", "t", (uint64_t) 1 << 40, "cpus", "d", 1.5,
                                        "traceparent", "s", "00-x"));
        ASSERT_OK(sd_bus_message_open_container(m, 'a', "{sv}"));
        ASSERT_OK(sd_bus_message_open_container(m, 'e', "sv"));
        ASSERT_OK(sd_bus_message_append(m, "s", "data"));
        ASSERT_OK(sd_bus_message_open_container(m, 'v', "ay"));
        ASSERT_OK(sd_bus_message_append_array(m, 'y', bytes, sizeof bytes));
        ASSERT_OK(sd_bus_message_close_container(m));
        ASSERT_OK(sd_bus_message_close_container(m));
        ASSERT_OK(sd_bus_message_close_container(m));
        ASSERT_OK(sd_bus_message_append(m, "s", "after"));
        seal(m);

        /* Two dictionaries in a row: the second carries the byte array. */
        ASSERT_OK(zl_bus_read_options(m, NULL, table, ELEMENTSOF(table), &o, &error));
        ASSERT_OK(zl_bus_read_options(m, NULL, table, ELEMENTSOF(table), &o, &error));
        ASSERT_NULL(error);
        ASSERT_STREQ(o.name, "web");
        ASSERT_STREQ(o.ref, "borrowed");
        ASSERT_EQ(strv_length(o.args), 2u);
        ASSERT_STREQ(o.args[1], "b");
        ASSERT_EQ(strv_length(o.labels), 2u);
        ASSERT_STREQ(o.labels[0], "k");
        ASSERT_STREQ(o.labels[1], "v");
        ASSERT_TRUE(o.flag);
        ASSERT_EQ(o.tri, 0);
        ASSERT_EQ(o.mtu, 1400u);
        ASSERT_EQ(o.files, 7u);
        ASSERT_EQ(o.size, (uint64_t) 1 << 40);
        ASSERT_TRUE(o.cpus == 1.5);
        ASSERT_EQ(o.data.iov_len, sizeof bytes);
        ASSERT_EQ(((const uint8_t *) o.data.iov_base)[2], 3);

        /* The reader leaves the message right after the dictionary. */
        const char *after;
        ASSERT_OK(sd_bus_message_read(m, "s", &after));
        ASSERT_STREQ(after, "after");

        opts_done(&o);
        sd_bus_message_unref(m);
        sd_bus_flush_close_unref(bus);
}

TEST(empty_lists_are_values) {
        sd_bus *bus = bus_new();
        sd_bus_message *m = message_new(bus);
        Opts o = {};
        char *error = NULL;

        ASSERT_OK(sd_bus_message_append(m, "a{sv}", 2, "args", "as", 0, "labels", "a{ss}", 0));
        seal(m);
        ASSERT_OK(zl_bus_read_options(m, NULL, table, ELEMENTSOF(table), &o, &error));
        ASSERT_NOT_NULL(o.args);
        ASSERT_NULL(o.args[0]);
        ASSERT_NOT_NULL(o.labels);
        ASSERT_NULL(o.labels[0]);
        opts_done(&o);
        sd_bus_message_unref(m);
        sd_bus_flush_close_unref(bus);
}

/* What the writers write, the readers read back. */
TEST(writers_round_trip) {
        sd_bus *bus = bus_new();
        sd_bus_message *m = message_new(bus);
        char *args[] = { (char *) "-c", (char *) "echo hi", NULL };
        char *labels[] = { (char *) "a", (char *) "1", (char *) "b", (char *) "", NULL };
        Opts o = {}, e = {};
        char *error = NULL;

        ASSERT_OK(sd_bus_message_open_container(m, 'a', "{sv}"));
        ASSERT_OK(zl_bus_append_option_strv(m, "args", args));
        ASSERT_OK(zl_bus_append_option_string_map(m, "labels", labels));
        ASSERT_OK(sd_bus_message_close_container(m));
        ASSERT_OK(sd_bus_message_open_container(m, 'a', "{sv}"));
        ASSERT_OK(zl_bus_append_option_strv(m, "args", NULL));
        ASSERT_OK(zl_bus_append_option_string_map(m, "labels", NULL));
        ASSERT_OK(sd_bus_message_close_container(m));
        seal(m);
        ASSERT_OK(zl_bus_read_options(m, NULL, table, ELEMENTSOF(table), &o, &error));
        ASSERT_EQ(strv_length(o.args), 2u);
        ASSERT_STREQ(o.args[1], "echo hi");
        ASSERT_EQ(strv_length(o.labels), 4u);
        ASSERT_STREQ(o.labels[0], "a");
        ASSERT_STREQ(o.labels[1], "1");
        ASSERT_STREQ(o.labels[2], "b");
        ASSERT_STREQ(o.labels[3], "");
        ASSERT_OK(zl_bus_read_options(m, NULL, table, ELEMENTSOF(table), &e, &error));
        ASSERT_NOT_NULL(e.args);
        ASSERT_NULL(e.args[0]);
        ASSERT_NOT_NULL(e.labels);
        ASSERT_NULL(e.labels[0]);
        opts_done(&o);
        opts_done(&e);
        sd_bus_message_unref(m);
        sd_bus_flush_close_unref(bus);
}

TEST(repeated_key_replaces) {
        sd_bus *bus = bus_new();
        sd_bus_message *m = message_new(bus);
        Opts o = {};
        char *error = NULL;

        ASSERT_OK(sd_bus_message_append(m, "a{sv}", 2, "name", "s", "one", "name", "s", "two"));
        seal(m);
        ASSERT_OK(zl_bus_read_options(m, NULL, table, ELEMENTSOF(table), &o, &error));
        ASSERT_STREQ(o.name, "two");
        opts_done(&o);
        sd_bus_message_unref(m);
        sd_bus_flush_close_unref(bus);
}

TEST(unknown_option_lists_known) {
        static const ZlBusOption small[] = {
                ZL_BUS_OPTION("name", "s", zl_bus_option_string, Opts, name),
                ZL_BUS_OPTION("mtu", "u", zl_bus_option_uint32, Opts, mtu),
        };
        sd_bus *bus = bus_new();
        sd_bus_message *m = message_new(bus);
        Opts o = {};
        _cleanup_free_ char *error = NULL;

        ASSERT_OK(sd_bus_message_append(m, "a{sv}", 2, "name", "s", "x", "colour", "s", "red"));
        seal(m);
        ASSERT_ERROR(zl_bus_read_options(m, "filter", small, ELEMENTSOF(small), &o, &error),
                     EINVAL);
        ASSERT_STREQ(error, "filter: unknown option 'colour' (known: name, mtu)");
        /* What came before the bad key was read. */
        ASSERT_STREQ(o.name, "x");
        opts_done(&o);
        sd_bus_message_unref(m);
        sd_bus_flush_close_unref(bus);
}

TEST(wrong_type_named) {
        sd_bus *bus = bus_new();
        sd_bus_message *m = message_new(bus);
        Opts o = {};
        _cleanup_free_ char *error = NULL;

        ASSERT_OK(sd_bus_message_append(m, "a{sv}", 1, "mtu", "t", (uint64_t) 1500));
        seal(m);
        ASSERT_ERROR(zl_bus_read_options(m, NULL, table, ELEMENTSOF(table), &o, &error), EINVAL);
        ASSERT_STREQ(error, "options: 'mtu' must be of type 'u', not 't'");
        ASSERT_EQ(o.mtu, 0u);
        sd_bus_message_unref(m);
        sd_bus_flush_close_unref(bus);
}

TEST(not_a_dictionary) {
        sd_bus *bus = bus_new();
        sd_bus_message *m = message_new(bus);
        Opts o = {};
        char *error = NULL;

        ASSERT_OK(sd_bus_message_append(m, "s", "no options here"));
        seal(m);
        ASSERT_TRUE(zl_bus_read_options(m, NULL, table, ELEMENTSOF(table), &o, &error) < 0);
        ASSERT_NULL(error);
        ASSERT_ERROR(zl_bus_read_options(m, NULL, table, ELEMENTSOF(table), &o, NULL), EINVAL);
        sd_bus_message_unref(m);
        sd_bus_flush_close_unref(bus);
}
