/* SPDX-License-Identifier: Apache-2.0 */
/* test-bus-object.c: per-object paths, and ZlBusObject registration driven over a socketpair
 * bus in this process. */
#include <sys/socket.h>
#include <systemd/sd-event.h>

#include "bus-error.h"
#include "bus-object.h"
#include "string-util.h"
#include "tests.h"

TEST(path_encode) {
        _cleanup_free_ char *p = NULL;

        ASSERT_OK(zl_bus_path_encode("/org/zlayer/Runtime1/container", "web-1", &p));
        ASSERT_STREQ(p, "/org/zlayer/Runtime1/container/web_2d1");
        p = mfree(p);
        ASSERT_OK(zl_bus_path_encode("/org/zlayer/Runtime1/container", "abc123", &p));
        ASSERT_STREQ(p, "/org/zlayer/Runtime1/container/abc123");
        p = mfree(p);
        ASSERT_OK(zl_bus_path_encode("/", "x", &p));
        ASSERT_STREQ(p, "/x");
        p = mfree(p);

        ASSERT_ERROR(zl_bus_path_encode("/org/zlayer/", "x", &p), EINVAL);
        ASSERT_ERROR(zl_bus_path_encode("org/zlayer", "x", &p), EINVAL);
        ASSERT_ERROR(zl_bus_path_encode("/org/zlayer", "", &p), EINVAL);
        ASSERT_ERROR(zl_bus_path_encode("/org/zlayer", NULL, &p), EINVAL);
        ASSERT_NULL(p);
}

TEST(path_round_trip) {
        static const char *const ids[] = {
                "web-1", "a/b", "_", "..", "with space", "ünïcode", "0starts-with-digit", "a.b:c@d",
        };

        for (size_t i = 0; i < ELEMENTSOF(ids); i++) {
                _cleanup_free_ char *p = NULL, *id = NULL;

                ASSERT_OK(zl_bus_path_encode("/org/zlayer/Test1/thing", ids[i], &p));
                ASSERT_TRUE(sd_bus_object_path_is_valid(p));
                ASSERT_EQ(zl_bus_path_decode(p, "/org/zlayer/Test1/thing", &id), 1);
                ASSERT_STREQ(id, ids[i]);
        }
}

TEST(path_decode_not_a_child) {
        char *id = (char *) "untouched";

        ASSERT_EQ(zl_bus_path_decode("/org/zlayer/Test1/thing", "/org/zlayer/Test1/thing", &id), 0);
        ASSERT_EQ(zl_bus_path_decode("/org/zlayer/Test1/thing/a/b", "/org/zlayer/Test1/thing", &id),
                  0);
        ASSERT_EQ(zl_bus_path_decode("/org/zlayer/Test1/things", "/org/zlayer/Test1/thing", &id),
                  0);
        ASSERT_EQ(zl_bus_path_decode("/org/zlayer/Other1/thing/a", "/org/zlayer/Test1/thing", &id),
                  0);
        /* "_" is the encoding of the empty id, which is never an object. */
        ASSERT_EQ(zl_bus_path_decode("/org/zlayer/Test1/thing/_", "/org/zlayer/Test1/thing", &id),
                  0);
        ASSERT_STREQ(id, "untouched");
        ASSERT_ERROR(zl_bus_path_decode(NULL, "/a", &id), EINVAL);
}

/* ---- registration, over a real connection -------------------------------------------------- */

typedef struct Thing {
        const char *id;
        uint32_t calls;
} Thing;

typedef struct Registry {
        Thing things[2];
} Registry;

static int thing_find(sd_bus *bus, const char *path, const char *interface, void *userdata,
                      void **ret_found, sd_bus_error *error) {
        _cleanup_free_ char *id = NULL;
        Registry *reg = userdata;
        int r;

        r = zl_bus_path_decode(path, "/org/zlayer/Test1/thing", &id);
        if (r <= 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(reg->things); i++)
                if (streq(reg->things[i].id, id)) {
                        *ret_found = &reg->things[i];
                        return 1;
                }
        return 0;
}

static int thing_enumerate(sd_bus *bus, const char *prefix, void *userdata, char ***ret_nodes,
                           sd_bus_error *error) {
        _cleanup_strv_free_ char **l = NULL;
        Registry *reg = userdata;
        int r;

        for (size_t i = 0; i < ELEMENTSOF(reg->things); i++) {
                char *p;

                r = zl_bus_path_encode(prefix, reg->things[i].id, &p);
                if (r < 0)
                        return r;
                r = strv_consume(&l, p);
                if (r < 0)
                        return r;
        }
        *ret_nodes = TAKE_PTR(l);
        return 0;
}

static int method_poke(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Thing *t = userdata;

        t->calls++;
        return sd_bus_reply_method_return(m, "s", t->id);
}

static int method_count(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Registry *reg = userdata;

        return sd_bus_reply_method_return(m, "u", (uint32_t) ELEMENTSOF(reg->things));
}

static int method_fail(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return zl_bus_error_set_errnof(error, EEXIST, "Thing '%s' exists.", "a");
}

static const sd_bus_vtable thing_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("Poke", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", id), method_poke,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

static const sd_bus_vtable registry_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("Count", SD_BUS_NO_ARGS, SD_BUS_RESULT("u", n), method_count,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Fail", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_fail,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

static const ZlBusObject registry_object = {
        .path = "/org/zlayer/Test1",
        .interface = "org.zlayer.Test1",
        .vtable = registry_vtable,
};

static const ZlBusObject thing_object = {
        .path = "/org/zlayer/Test1/thing",
        .interface = "org.zlayer.Test1.Thing",
        .vtable = thing_vtable,
        .fallback = true,
        .find = thing_find,
        .node_enumerator = thing_enumerate,
        .object_manager = true,
};

static const ZlBusObject *const test_objects[] = { &registry_object, &thing_object, NULL };

typedef struct Pair {
        sd_event *event;
        sd_bus *server, *client;
} Pair;

static void pair_done(Pair *p) {
        p->client = sd_bus_flush_close_unref(p->client);
        p->server = sd_bus_flush_close_unref(p->server);
        p->event = sd_event_unref(p->event);
}

/* A server and a client bus over a socketpair, both on one event loop, so that asynchronous
 * calls from the client are answered by the server in this thread. */
static void pair_setup(Pair *p) {
        sd_id128_t id;
        int fds[2];

        ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds));
        ASSERT_OK(sd_event_new(&p->event));
        ASSERT_OK(sd_id128_randomize(&id));

        ASSERT_OK(sd_bus_new(&p->server));
        ASSERT_OK(sd_bus_set_fd(p->server, fds[0], fds[0]));
        ASSERT_OK(sd_bus_set_server(p->server, 1, id));
        ASSERT_OK(sd_bus_start(p->server));
        ASSERT_OK(sd_bus_attach_event(p->server, p->event, 0));

        ASSERT_OK(sd_bus_new(&p->client));
        ASSERT_OK(sd_bus_set_fd(p->client, fds[1], fds[1]));
        ASSERT_OK(sd_bus_start(p->client));
        ASSERT_OK(sd_bus_attach_event(p->client, p->event, 0));
}

typedef struct CallResult {
        bool done;
        sd_bus_message *reply;
} CallResult;

static int on_reply(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        CallResult *c = userdata;

        c->reply = sd_bus_message_ref(m);
        c->done = true;
        return 0;
}

/* Calls path.interface.member() without arguments and returns the reply (method return or
 * error), running the loop until it arrives. */
static sd_bus_message *call(Pair *p, const char *path, const char *interface, const char *member) {
        CallResult c = {};

        ASSERT_OK(sd_bus_call_method_async(p->client, NULL, NULL, path, interface, member, on_reply,
                                           &c, NULL));
        for (unsigned i = 0; !c.done; i++) {
                ASSERT_LT(i, 1000);
                ASSERT_OK(sd_event_run(p->event, 5 * 1000 * 1000));
        }
        return c.reply;
}

static void assert_error_reply(sd_bus_message *m, const char *name) {
        const sd_bus_error *e = sd_bus_message_get_error(m);

        ASSERT_NOT_NULL(e);
        ASSERT_STREQ(e->name, name);
}

TEST(objects_over_a_connection) {
        Registry reg = { .things = { { .id = "a" }, { .id = "web-1" } } };
        Registry *owner = NULL;
        _cleanup_(pair_done) Pair p = {};
        sd_bus_message *m;
        const char *s, *xml;
        uint32_t u;

        ASSERT_OK(zl_bus_error_register());
        pair_setup(&p);
        ASSERT_OK(zl_bus_add_objects(p.server, test_objects, (void *const *) &owner));

        /* The owner has no state yet: the objects do not exist. */
        m = call(&p, "/org/zlayer/Test1", "org.zlayer.Test1", "Count");
        assert_error_reply(m, SD_BUS_ERROR_UNKNOWN_OBJECT);
        sd_bus_message_unref(m);

        owner = &reg;
        m = call(&p, "/org/zlayer/Test1", "org.zlayer.Test1", "Count");
        ASSERT_OK(sd_bus_message_read(m, "u", &u));
        ASSERT_EQ(u, 2);
        sd_bus_message_unref(m);

        /* Per-object paths through find. */
        m = call(&p, "/org/zlayer/Test1/thing/web_2d1", "org.zlayer.Test1.Thing", "Poke");
        ASSERT_OK(sd_bus_message_read(m, "s", &s));
        ASSERT_STREQ(s, "web-1");
        sd_bus_message_unref(m);
        ASSERT_EQ(reg.things[1].calls, 1);
        ASSERT_EQ(reg.things[0].calls, 0);

        m = call(&p, "/org/zlayer/Test1/thing/nope", "org.zlayer.Test1.Thing", "Poke");
        assert_error_reply(m, SD_BUS_ERROR_UNKNOWN_OBJECT);
        sd_bus_message_unref(m);
        /* A single object does not answer below its path. */
        m = call(&p, "/org/zlayer/Test1/other", "org.zlayer.Test1", "Count");
        assert_error_reply(m, SD_BUS_ERROR_UNKNOWN_OBJECT);
        sd_bus_message_unref(m);

        /* Named errors from the table. */
        m = call(&p, "/org/zlayer/Test1", "org.zlayer.Test1", "Fail");
        assert_error_reply(m, ZL_BUS_ERROR_EXISTS);
        ASSERT_EQ(sd_bus_message_get_errno(m), EEXIST);
        sd_bus_message_unref(m);

        /* The enumerator makes the children visible to introspection. */
        m = call(&p, "/org/zlayer/Test1/thing", "org.freedesktop.DBus.Introspectable",
                 "Introspect");
        ASSERT_OK(sd_bus_message_read(m, "s", &xml));
        ASSERT_NOT_NULL(strstr(xml, "<node name=\"a\"/>"));
        ASSERT_NOT_NULL(strstr(xml, "<node name=\"web_2d1\"/>"));
        ASSERT_NOT_NULL(strstr(xml, "org.freedesktop.DBus.ObjectManager"));
        sd_bus_message_unref(m);

        m = call(&p, "/org/zlayer/Test1/thing/a", "org.freedesktop.DBus.Introspectable",
                 "Introspect");
        ASSERT_OK(sd_bus_message_read(m, "s", &xml));
        ASSERT_NOT_NULL(strstr(xml, "<interface name=\"org.zlayer.Test1.Thing\">"));
        ASSERT_NOT_NULL(strstr(xml, "<method name=\"Poke\">"));
        sd_bus_message_unref(m);
}

TEST(add_invalid) {
        static const ZlBusObject find_without_fallback = {
                .path = "/a",
                .interface = "org.zlayer.A",
                .vtable = thing_vtable,
                .find = thing_find,
        };
        static const ZlBusObject no_vtable = { .path = "/a", .interface = "org.zlayer.A" };
        _cleanup_(sd_bus_unrefp) sd_bus *bus = NULL;
        void *owner = NULL;

        ASSERT_OK(sd_bus_new(&bus));
        ASSERT_ERROR(zl_bus_add_object(bus, &find_without_fallback, &owner), EINVAL);
        ASSERT_ERROR(zl_bus_add_object(bus, &no_vtable, &owner), EINVAL);
        ASSERT_ERROR(zl_bus_add_object(bus, &registry_object, NULL), EINVAL);
        ASSERT_OK(zl_bus_add_objects(bus, NULL, &owner));
}

TEST(find_interface) {
        ASSERT_TRUE(zl_bus_objects_find_interface(test_objects, "org.zlayer.Test1.Thing") ==
                    &thing_object);
        ASSERT_TRUE(zl_bus_objects_find_interface(test_objects, "org.zlayer.Test1") ==
                    &registry_object);
        ASSERT_NULL(zl_bus_objects_find_interface(test_objects, "org.zlayer.Nope"));
        ASSERT_NULL(zl_bus_objects_find_interface(NULL, "org.zlayer.Test1"));
}
