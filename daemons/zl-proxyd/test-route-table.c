/* SPDX-License-Identifier: Apache-2.0 */
/* test-route-table.c: route parsing, validation errors, longest match, snapshot publishing. */
#include <pthread.h>

#include "proxy-internal.h"
#include "route-table.h"
#include "tests.h"

static RouteTable *parse_ok(const char *json) {
        RouteTableError e = {};
        RouteTable *t = NULL;
        int r = route_table_parse(json, strlen(json), &t, &e);
        if (r < 0)
                test_fail(__FILE__, __LINE__, "parse failed: route '%s' field '%s': %s", e.route,
                          e.field, e.message);
        return t;
}

#define ASSERT_INVALID(json, want_route, want_field)                                               \
        do {                                                                                       \
                RouteTableError _e_ = {};                                                          \
                RouteTable *_t_ = NULL;                                                            \
                ASSERT_ERROR(route_table_parse(json, strlen(json), &_t_, &_e_), EINVAL);           \
                ASSERT_NULL(_t_);                                                                  \
                ASSERT_STREQ(_e_.route, want_route);                                               \
                ASSERT_STREQ(_e_.field, want_field);                                               \
                ASSERT_TRUE(strlen(_e_.message) > 0);                                              \
        } while (0)

TEST(address_parse) {
        RouteAddress a, b;

        ASSERT_OK(route_address_parse("127.0.0.1:8080", &a));
        ASSERT_STREQ(a.text, "127.0.0.1:8080");
        ASSERT_EQ(a.sa.ss_family, AF_INET);
        ASSERT_OK(route_address_parse("[::1]:443", &b));
        ASSERT_STREQ(b.text, "[::1]:443");
        ASSERT_EQ(b.sa.ss_family, AF_INET6);
        ASSERT_FALSE(route_address_equal(&a, &b));
        ASSERT_OK(route_address_parse("127.0.0.1:8080", &b));
        ASSERT_TRUE(route_address_equal(&a, &b));
        ASSERT_ERROR(route_address_parse("127.0.0.1", &a), EINVAL);
        ASSERT_ERROR(route_address_parse("127.0.0.1:0", &a), EINVAL);
        ASSERT_ERROR(route_address_parse("127.0.0.1:65536", &a), EINVAL);
        ASSERT_ERROR(route_address_parse("127.0.0.1:-1", &a), EINVAL);
        ASSERT_ERROR(route_address_parse("127.0.0.1:80x", &a), EINVAL);
        ASSERT_ERROR(route_address_parse("localhost:80", &a), EINVAL);
        ASSERT_ERROR(route_address_parse("::1:80", &a), EINVAL);
        ASSERT_ERROR(route_address_parse("[::1]80", &a), EINVAL);
        ASSERT_ERROR(route_address_parse(":80", &a), EINVAL);
}

TEST(enums) {
        ASSERT_EQ(proxy_protocol_from_string("tcp"), PROXY_PROTOCOL_TCP);
        ASSERT_EQ(proxy_protocol_from_string("sctp"), _PROXY_PROTOCOL_INVALID);
        ASSERT_STREQ(proxy_balance_to_string(PROXY_BALANCE_LEAST_CONN), "least_conn");
        ASSERT_EQ(proxy_balance_from_string(NULL), _PROXY_BALANCE_INVALID);
}

static const char table_json[] =
        "{\"routes\": ["
        " {\"name\": \"any\", \"listen\": \"127.0.0.1:8080\", \"backends\": [\"127.0.0.1:9000\"]},"
        " {\"name\": \"api\", \"listen\": \"127.0.0.1:8080\", \"path\": \"/api\","
        "  \"backends\": [{\"address\": \"127.0.0.1:9001\", \"weight\": 3}, \"127.0.0.1:9002\"],"
        "  \"balance\": \"least_conn\"},"
        " {\"name\": \"api-v2\", \"listen\": \"127.0.0.1:8080\", \"path\": \"/api/v2/\","
        "  \"backends\": [\"127.0.0.1:9003\"]},"
        " {\"name\": \"wild\", \"listen\": \"127.0.0.1:8080\", \"host\": \"*.Example.com\","
        "  \"backends\": [\"127.0.0.1:9004\"]},"
        " {\"name\": \"wild-deep\", \"listen\": \"127.0.0.1:8080\", \"host\": \"*.a.example.com\","
        "  \"backends\": [\"127.0.0.1:9005\"]},"
        " {\"name\": \"exact\", \"listen\": \"127.0.0.1:8080\", \"host\": \"www.example.com\","
        "  \"path\": \"/\", \"backends\": [\"127.0.0.1:9006\"]},"
        " {\"name\": \"exact-static\", \"listen\": \"127.0.0.1:8080\","
        "  \"host\": \"www.example.com\", \"path\": \"/static\", \"backends\": [\"[::1]:9007\"]},"
        " {\"name\": \"db\", \"listen\": \"[::1]:5432\", \"protocol\": \"tcp\","
        "  \"backends\": [\"127.0.0.1:15432\"]}"
        "]}";

static const char *match(const RouteTable *t, size_t l, const char *host, const char *path) {
        const Route *r = route_table_match(t, l, host, host ? strlen(host) : 0, path,
                                           path ? strlen(path) : 0);
        return r ? r->name : "(none)";
}

TEST(parse_and_match) {
        _cleanup_(route_table_unrefp) RouteTable *t = parse_ok(table_json);
        RouteAddress a;
        size_t l, tcp;
        const Route *r;

        ASSERT_EQ(t->n_routes, 8U);
        ASSERT_EQ(t->n_listeners, 2U);
        ASSERT_OK(route_address_parse("127.0.0.1:8080", &a));
        ASSERT_OK(route_table_find_listener(t, &a, &l));
        ASSERT_EQ(t->listeners[l].protocol, PROXY_PROTOCOL_HTTP);
        ASSERT_OK(route_address_parse("[::1]:5432", &a));
        ASSERT_OK(route_table_find_listener(t, &a, &tcp));
        ASSERT_EQ(t->listeners[tcp].protocol, PROXY_PROTOCOL_TCP);
        ASSERT_OK(route_address_parse("127.0.0.1:1", &a));
        ASSERT_ERROR(route_table_find_listener(t, &a, &l), ENOENT);
        ASSERT_OK(route_address_parse("127.0.0.1:8080", &a));
        ASSERT_OK(route_table_find_listener(t, &a, &l));

        r = route_table_find(t, "api");
        ASSERT_NOT_NULL(r);
        ASSERT_EQ(r->set.n_backends, 2U);
        ASSERT_EQ(r->set.total_weight, 4U);
        ASSERT_EQ(r->set.backends[0].weight, 3U);
        ASSERT_EQ(r->set.balance, PROXY_BALANCE_LEAST_CONN);
        ASSERT_NULL(route_table_find(t, "nope"));

        /* Path prefixes on segment boundaries, the longest winning. */
        ASSERT_STREQ(match(t, l, "other.org", "/"), "any");
        ASSERT_STREQ(match(t, l, NULL, "/x"), "any");
        ASSERT_STREQ(match(t, l, "other.org", "/api"), "api");
        ASSERT_STREQ(match(t, l, "other.org", "/api?x=1"), "api");
        ASSERT_STREQ(match(t, l, "other.org", "/api/v1/x"), "api");
        ASSERT_STREQ(match(t, l, "other.org", "/apix"), "any");
        ASSERT_STREQ(match(t, l, "other.org", "/api/v2"), "api");
        ASSERT_STREQ(match(t, l, "other.org", "/api/v2/users"), "api-v2");
        /* Hosts: exact before wildcard, the longer wildcard first, any case, port ignored. */
        ASSERT_STREQ(match(t, l, "www.example.com", "/"), "exact");
        ASSERT_STREQ(match(t, l, "WWW.Example.COM:8080", "/static/a.css"), "exact-static");
        ASSERT_STREQ(match(t, l, "www.example.com.", "/api"), "exact");
        ASSERT_STREQ(match(t, l, "shop.example.com", "/api"), "wild");
        ASSERT_STREQ(match(t, l, "x.a.example.com", "/"), "wild-deep");
        ASSERT_STREQ(match(t, l, "a.example.com", "/"), "wild");
        ASSERT_STREQ(match(t, l, "example.com", "/"), "any");
        ASSERT_STREQ(match(t, l, "badexample.com", "/"), "any");
        ASSERT_STREQ(match(t, l, "[::1]:8080", "/api"), "api");
        /* tcp listeners have one route. */
        ASSERT_STREQ(match(t, tcp, NULL, NULL), "db");
        ASSERT_STREQ(match(t, 7, NULL, "/"), "(none)");
}

TEST(no_catch_all) {
        _cleanup_(route_table_unrefp) RouteTable *t = parse_ok(
                "{\"routes\": [{\"name\": \"h\", \"listen\": \"127.0.0.1:1\", \"host\": \"a.b\","
                " \"path\": \"/p/\", \"backends\": [\"127.0.0.1:2\"]}]}");
        ASSERT_STREQ(match(t, 0, "a.b", "/p/x"), "h");
        ASSERT_STREQ(match(t, 0, "a.b", "/p"), "(none)");
        ASSERT_STREQ(match(t, 0, NULL, "/p/x"), "(none)");
        ASSERT_STREQ(match(t, 0, "c.b", "/p/x"), "(none)");
}

TEST(empty) {
        _cleanup_(route_table_unrefp) RouteTable *t = parse_ok("{\"routes\": []}");
        ASSERT_EQ(t->n_routes, 0U);
        ASSERT_EQ(t->n_listeners, 0U);
        ASSERT_STREQ(match(t, 0, "a", "/"), "(none)");
}

/* A route without backends keeps its listener; a worker finds no backend to pick (503). */
TEST(no_backends) {
        _cleanup_(route_table_unrefp) RouteTable *t = parse_ok(
                "{\"routes\": [{\"name\": \"e\", \"listen\": \"127.0.0.1:1\", \"backends\": []},"
                " {\"name\": \"t\", \"listen\": \"127.0.0.1:2\", \"protocol\": \"tcp\","
                " \"backends\": []}]}");
        ASSERT_EQ(t->n_routes, 2U);
        ASSERT_EQ(t->n_listeners, 2U);
        ASSERT_STREQ(match(t, 0, "a", "/x"), "e");
        for (size_t i = 0; i < t->n_routes; i++) {
                ASSERT_EQ(t->routes[i].set.n_backends, 0U);
                ASSERT_NULL(proxy_backend_select(&t->routes[i].set, 0, NULL, NULL));
        }
}

#define R(extra) "{\"routes\": [{\"name\": \"r\", " extra "}]}"
#define OKR "\"listen\": \"127.0.0.1:80\", \"backends\": [\"127.0.0.1:81\"]"

TEST(invalid) {
        ASSERT_INVALID("", "", "");
        ASSERT_INVALID("[1]", "", "routes");
        ASSERT_INVALID("{\"routes\": {}}", "", "routes");
        ASSERT_INVALID("{\"routes\": [], \"extra\": 1}", "", "extra");
        ASSERT_INVALID("{\"routes\": [], \"routes\": []}", "", "");
        ASSERT_INVALID("{\"routes\": [7]}", "#0", "");
        ASSERT_INVALID("{\"routes\": [{" OKR "}]}", "#0", "name");
        ASSERT_INVALID("{\"routes\": [{\"name\": \"a b\", " OKR "}]}", "#0", "name");
        ASSERT_INVALID(R("\"backends\": [\"127.0.0.1:81\"]"), "r", "listen");
        ASSERT_INVALID(R("\"listen\": \"host:80\", \"backends\": [\"127.0.0.1:81\"]"), "r",
                       "listen");
        ASSERT_INVALID(R(OKR ", \"protocol\": \"sctp\""), "r", "protocol");
        ASSERT_INVALID(R(OKR ", \"colour\": 1"), "r", "colour");
        ASSERT_INVALID(R(OKR ", \"host\": \"a..b\""), "r", "host");
        ASSERT_INVALID(R(OKR ", \"host\": \"*\""), "r", "host");
        ASSERT_INVALID(R(OKR ", \"host\": \"a.*.b\""), "r", "host");
        ASSERT_INVALID(R(OKR ", \"host\": \"a_b.c\""), "r", "host");
        ASSERT_INVALID(R(OKR ", \"host\": 5"), "r", "host");
        ASSERT_INVALID(R(OKR ", \"path\": \"api\""), "r", "path");
        ASSERT_INVALID(R(OKR ", \"path\": \"/a b\""), "r", "path");
        ASSERT_INVALID(R(OKR ", \"path\": \"/a?b\""), "r", "path");
        ASSERT_INVALID(R(OKR ", \"balance\": \"random\""), "r", "balance");
        ASSERT_INVALID(R(OKR ", \"protocol\": \"tcp\", \"path\": \"/\""), "r", "path");
        ASSERT_INVALID(R(OKR ", \"protocol\": \"tcp\", \"host\": \"a.b\""), "r", "host");
        ASSERT_INVALID(R("\"listen\": \"127.0.0.1:80\""), "r", "backends");
        ASSERT_INVALID(R("\"listen\": \"127.0.0.1:80\", \"backends\": {}"), "r", "backends");
        ASSERT_INVALID(R("\"listen\": \"127.0.0.1:80\", \"backends\": [\"x:1\"]"), "r",
                       "backends[0]");
        ASSERT_INVALID(R("\"listen\": \"127.0.0.1:80\", \"backends\": [\"127.0.0.1:1\", 3]"), "r",
                       "backends[1]");
        ASSERT_INVALID(R("\"listen\": \"127.0.0.1:80\", \"backends\": [{\"weight\": 1}]"), "r",
                       "backends[0].address");
        ASSERT_INVALID(R("\"listen\": \"127.0.0.1:80\", \"backends\": [{\"address\": "
                         "\"127.0.0.1:1\", \"weight\": 0}]"),
                       "r", "backends[0].weight");
        ASSERT_INVALID(R("\"listen\": \"127.0.0.1:80\", \"backends\": [{\"address\": "
                         "\"127.0.0.1:1\", \"weight\": 1001}]"),
                       "r", "backends[0].weight");
        ASSERT_INVALID(R("\"listen\": \"127.0.0.1:80\", \"backends\": [{\"address\": "
                         "\"127.0.0.1:1\", \"port\": 1}]"),
                       "r", "backends[0].port");
        ASSERT_INVALID(R("\"listen\": \"127.0.0.1:80\", \"backends\": [\"127.0.0.1:1\", "
                         "\"127.0.0.1:1\"]"),
                       "r", "backends[1].address");
        /* Conflicts between routes name the later route. */
        ASSERT_INVALID("{\"routes\": [{\"name\": \"a\", " OKR "}, {\"name\": \"a\", " OKR "}]}",
                       "a", "name");
        ASSERT_INVALID("{\"routes\": [{\"name\": \"a\", " OKR "}, {\"name\": \"b\", " OKR "}]}",
                       "b", "path");
        ASSERT_INVALID("{\"routes\": [{\"name\": \"a\", " OKR "}, {\"name\": \"b\", " OKR
                       ", \"protocol\": \"tcp\"}]}",
                       "b", "protocol");
        ASSERT_INVALID("{\"routes\": [{\"name\": \"a\", \"protocol\": \"tcp\", " OKR
                       "}, {\"name\": \"b\", \"protocol\": \"tcp\", " OKR "}]}",
                       "b", "listen");
}

/* Readers keep acquiring and dropping while the publisher swaps tables: every reader always
 * sees a whole table, and every table is freed once (valgrind and ASan check the latter). */
#define N_READERS 3
static RoutePublisher publisher;
static atomic_bool stop_readers;

static void *reader_thread(void *arg) {
        unsigned slot = (unsigned) (uintptr_t) arg;
        unsigned long seen = 0;

        /* At least one acquire each: on a loaded machine a reader may first run after the
         * writer is done. */
        while (seen == 0 || !atomic_load(&stop_readers)) {
                RouteTable *t = route_publisher_acquire(&publisher, slot);
                /* Every published table but the first has one listener and route "r". */
                if (t->n_routes > 0) {
                        const Route *r = route_table_match(t, 0, "h", 1, "/", 1);
                        if (!r || !streq(r->name, "r"))
                                abort();
                }
                route_table_unref(t);
                seen++;
        }
        return (void *) (uintptr_t) seen;
}

/* Readers drop the last reference of a table as often as the writer does: count atomically. */
static atomic_uint freed_attachments;
static void attachment_free(void *p) {
        atomic_fetch_add(&freed_attachments, 1);
        free(p);
}

TEST(publisher_concurrent_readers) {
        pthread_t th[N_READERS];
        RouteTable *held;

        ASSERT_OK(route_publisher_init(&publisher));
        atomic_store(&stop_readers, false);
        atomic_store(&freed_attachments, 0);
        for (unsigned i = 0; i < N_READERS; i++)
                ASSERT_EQ(pthread_create(&th[i], NULL, reader_thread, (void *) (uintptr_t) i), 0);

        held = route_publisher_acquire(&publisher, N_READERS);
        ASSERT_EQ(held->n_routes, 0U);
        for (unsigned n = 0; n < 2000; n++) {
                RouteTable *t = parse_ok(R(OKR));
                void *a = malloc(1);
                ASSERT_NOT_NULL(a);
                route_table_set_attachment(t, a, attachment_free);
                route_publisher_publish(&publisher, t);
                ASSERT_TRUE(route_publisher_peek(&publisher) == t);
                route_table_unref(t);
        }
        ASSERT_EQ(route_publisher_generation(&publisher), 2000U);

        atomic_store(&stop_readers, true);
        for (unsigned i = 0; i < N_READERS; i++) {
                void *seen;
                ASSERT_EQ(pthread_join(th[i], &seen), 0);
                ASSERT_GT((uintptr_t) seen, 0U);
        }
        /* The first table outlives its replacement while a reader holds it. */
        ASSERT_EQ(held->n_routes, 0U);
        route_table_unref(held);
        ASSERT_EQ(atomic_load(&freed_attachments), 1999U);
        route_publisher_done(&publisher);
        ASSERT_EQ(atomic_load(&freed_attachments), 2000U);
}
