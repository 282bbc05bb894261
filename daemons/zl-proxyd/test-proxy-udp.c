/* SPDX-License-Identifier: Apache-2.0 */
/* test-proxy-udp.c: udp routes: the session table, relaying, idle expiry, rebalancing. */
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "proxy-internal.h"
#include "proxy-udp.h"
#include "tests.h"

/* ---- helpers ------------------------------------------------------------------------------- */

static int udp_socket(uint16_t port, uint16_t *ret_port) {
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_port = htons(port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof sa;
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

        ASSERT_OK(fd);
        ASSERT_OK(bind(fd, (struct sockaddr *) &sa, sizeof sa));
        ASSERT_OK(getsockname(fd, (struct sockaddr *) &sa, &len));
        if (ret_port)
                *ret_port = ntohs(sa.sin_port);
        return fd;
}

static uint16_t free_udp_port(void) {
        uint16_t port;
        close(udp_socket(0, &port));
        return port;
}

static void send_to(int fd, uint16_t port, const char *text) {
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_port = htons(port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        ASSERT_EQ(sendto(fd, text, strlen(text), 0, (struct sockaddr *) &sa, sizeof sa),
                  (ssize_t) strlen(text));
}

/* Drives the worker until fd has a datagram (or 3 s pass); returns its length, -ETIMEDOUT. */
static ssize_t step_recv(UdpWorker *w, int fd, char *buf, size_t size, struct sockaddr_in *from) {
        for (unsigned i = 0; i < 150; i++) {
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                socklen_t len = sizeof *from;

                if (w)
                        ASSERT_OK(udp_worker_step(w, 20));
                if (poll(&pfd, 1, w ? 0 : 20) == 1) {
                        ssize_t n = recvfrom(fd, buf, size - 1, MSG_DONTWAIT,
                                             (struct sockaddr *) from, &len);
                        ASSERT_OK(n);
                        buf[n] = 0;
                        return n;
                }
        }
        return -ETIMEDOUT;
}

static RouteTable *parse(const char *json) {
        RouteTable *t = NULL;
        RouteTableError e = {};
        int r = route_table_parse(json, strlen(json), &t, &e);

        if (r < 0)
                test_fail(__FILE__, __LINE__, "route '%s' field '%s': %s", e.route, e.field,
                          e.message);
        return t;
}

static int parse_error(const char *json, RouteTableError *e) {
        RouteTable *t = NULL;
        int r = route_table_parse(json, strlen(json), &t, e);
        route_table_unref(t);
        return r;
}

static void set_routes(Proxy *p, const char *fmt, ...) _printf_(2, 3);
static void set_routes(Proxy *p, const char *fmt, ...) {
        _cleanup_(route_table_unrefp) RouteTable *t = NULL;
        char json[2048];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(json, sizeof json, fmt, ap);
        va_end(ap);
        t = parse(json);
        ASSERT_OK(proxy_set_routes(p, t));
}

static Proxy *proxy_for_udp(unsigned max_sessions) {
        ProxyConfig c;
        Proxy *p = NULL;

        proxy_config_init(&c);
        c.n_workers = 1;
        c.n_udp_workers = 1;
        c.eject_failures = 3;
        if (max_sessions > 0)
                c.udp_max_sessions = max_sessions;
        ASSERT_OK(proxy_new(&c, &p));
        return p;
}

static BackendHealth *backend_of(Proxy *p, uint16_t port) {
        char text[32];

        snprintf(text, sizeof text, "127.0.0.1:%u", port);
        for (BackendHealth *b = p->backends; b; b = b->next)
                if (streq(b->address.text, text))
                        return b;
        return NULL;
}

static UdpSession *session_of(UdpWorker *w, int client) {
        struct sockaddr_in sa;
        socklen_t len = sizeof sa;

        ASSERT_OK(getsockname(client, (struct sockaddr *) &sa, &len));
        return udp_worker_find_session(w, (struct sockaddr *) &sa, len);
}

/* Echoes one datagram from a backend socket back to where it came from, after a prefix. */
static void echo_one(UdpWorker *w, int backend, const char *prefix) {
        struct sockaddr_in from;
        char buf[256], out[300];

        ASSERT_GT(step_recv(w, backend, buf, sizeof buf, &from), 0);
        snprintf(out, sizeof out, "%s%s", prefix, buf);
        ASSERT_EQ(sendto(backend, out, strlen(out), 0, (struct sockaddr *) &from, sizeof from),
                  (ssize_t) strlen(out));
}

/* ---- the session table --------------------------------------------------------------------- */

static UdpSession *session_v4(const void *port, uint32_t addr, uint16_t p) {
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_port = htons(p),
                                  .sin_addr.s_addr = htonl(addr) };
        UdpSession *s = calloc(1, sizeof *s);

        ASSERT_NOT_NULL(s);
        ASSERT_OK(udp_key_init(&s->key, port, (struct sockaddr *) &sa, sizeof sa));
        return s;
}

TEST(session_table) {
        enum { N = 5000 };
        UdpSessionTable t;
        UdpSession **s = calloc(N, sizeof *s);
        int port_a, port_b;

        ASSERT_NOT_NULL(s);
        ASSERT_OK(udp_session_table_init(&t));
        for (unsigned i = 0; i < N; i++) {
                /* Half on one listener, half on another, many sharing addresses or ports. */
                s[i] = session_v4(i % 2 ? &port_a : &port_b, 0x7f000001 + i % 7, 1000 + i / 2);
                ASSERT_OK(udp_session_table_add(&t, s[i]));
        }
        ASSERT_EQ(t.n, N);
        ASSERT_GE(t.n_buckets, N); /* it grew */
        for (unsigned i = 0; i < N; i++)
                ASSERT_TRUE(udp_session_table_find(&t, &s[i]->key) == s[i]);

        /* The same key again is refused. */
        UdpSession *dup = session_v4(&port_a, 0x7f000001 + 1 % 7, 1000 + 1 / 2);
        ASSERT_ERROR(udp_session_table_add(&t, dup), EEXIST);
        free(dup);

        /* The same client on the other listener is another session. */
        UdpSession *other = session_v4(&port_b, 0x7f000001 + 1 % 7, 1000 + 1 / 2);
        ASSERT_NULL(udp_session_table_find(&t, &other->key));
        free(other);

        for (unsigned i = 0; i < N; i += 2)
                udp_session_table_remove(&t, s[i]);
        ASSERT_EQ(t.n, N / 2);
        for (unsigned i = 0; i < N; i++)
                ASSERT_TRUE(udp_session_table_find(&t, &s[i]->key) == (i % 2 ? s[i] : NULL));
        /* Removing what is not there changes nothing. */
        udp_session_table_remove(&t, s[0]);
        ASSERT_EQ(t.n, N / 2);

        for (unsigned i = 0; i < N; i++)
                free(s[i]);
        free(s);
        udp_session_table_done(&t);
        ASSERT_NULL(t.buckets);
}

TEST(session_key) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(53) };
        struct sockaddr_in b = a;
        struct sockaddr_in6 c = { .sin6_family = AF_INET6, .sin6_port = htons(53) };
        struct sockaddr_in6 d = c;
        struct sockaddr_un un = { .sun_family = AF_UNIX };
        UdpKey ka, kb;

        /* Bytes the kernel leaves undefined do not make another client. */
        memset(b.sin_zero, 0xaa, sizeof b.sin_zero);
        ASSERT_OK(udp_key_init(&ka, NULL, (struct sockaddr *) &a, sizeof a));
        ASSERT_OK(udp_key_init(&kb, NULL, (struct sockaddr *) &b, sizeof b));
        ASSERT_EQ(memcmp(&ka, &kb, sizeof ka), 0);
        d.sin6_flowinfo = htonl(12345);
        ASSERT_OK(udp_key_init(&ka, NULL, (struct sockaddr *) &c, sizeof c));
        ASSERT_OK(udp_key_init(&kb, NULL, (struct sockaddr *) &d, sizeof d));
        ASSERT_EQ(memcmp(&ka, &kb, sizeof ka), 0);
        ASSERT_EQ(ka.len, sizeof(struct sockaddr_in6));
        /* The scope does make another client. */
        d.sin6_scope_id = 2;
        ASSERT_OK(udp_key_init(&kb, NULL, (struct sockaddr *) &d, sizeof d));
        ASSERT_NE(memcmp(&ka, &kb, sizeof ka), 0);

        ASSERT_ERROR(udp_key_init(&ka, NULL, (struct sockaddr *) &un, sizeof un), EAFNOSUPPORT);
        ASSERT_ERROR(udp_key_init(&ka, NULL, (struct sockaddr *) &a, sizeof a - 1), EAFNOSUPPORT);
}

/* ---- routes ---------------------------------------------------------------------------- */

TEST(udp_routes_validate) {
        RouteTableError e = {};
        RouteTable *t;

        t = parse("{\"routes\": [{\"name\": \"dns\", \"listen\": \"127.0.0.1:5353\", "
                  "\"protocol\": \"udp\", \"idle_timeout\": 2.5, "
                  "\"backends\": [\"127.0.0.1:1\", \"127.0.0.1:2\"]},"
                  "{\"name\": \"web\", \"listen\": \"127.0.0.1:5353\", "
                  "\"backends\": [\"127.0.0.1:3\"]}]}");
        /* The same address serves tcp (http) and udp as two listeners. */
        ASSERT_EQ(t->n_listeners, 2U);
        ASSERT_EQ(t->listeners[t->routes[0].listener].protocol, PROXY_PROTOCOL_UDP);
        ASSERT_STREQ(t->routes[0].path_prefix, "/");
        ASSERT_U64_EQ(t->routes[0].idle_timeout_usec, 2500000);
        ASSERT_U64_EQ(t->routes[1].idle_timeout_usec, 0);
        ASSERT_TRUE(route_table_match(t, t->routes[0].listener, "a", 1, "/x", 2) == &t->routes[0]);
        route_table_unref(t);
        ASSERT_STREQ(proxy_protocol_to_string(PROXY_PROTOCOL_UDP), "udp");
        ASSERT_EQ(proxy_protocol_from_string("udp"), PROXY_PROTOCOL_UDP);

        ASSERT_ERROR(parse_error("{\"routes\": [{\"name\": \"u\", \"listen\": \"127.0.0.1:53\", "
                                 "\"protocol\": \"udp\", \"host\": \"a.b\", "
                                 "\"backends\": [\"127.0.0.1:1\"]}]}",
                                 &e),
                     EINVAL);
        ASSERT_STREQ(e.field, "host");
        ASSERT_STREQ(e.message, "udp routes match no host");
        ASSERT_ERROR(parse_error("{\"routes\": [{\"name\": \"u\", \"listen\": \"127.0.0.1:53\", "
                                 "\"protocol\": \"udp\", \"path\": \"/x\", "
                                 "\"backends\": [\"127.0.0.1:1\"]}]}",
                                 &e),
                     EINVAL);
        ASSERT_STREQ(e.field, "path");
        ASSERT_STREQ(e.message, "udp routes match no path");
        ASSERT_ERROR(parse_error("{\"routes\": ["
                                 "{\"name\": \"u\", \"listen\": \"127.0.0.1:53\", "
                                 "\"protocol\": \"udp\", \"backends\": [\"127.0.0.1:1\"]},"
                                 "{\"name\": \"v\", \"listen\": \"127.0.0.1:53\", "
                                 "\"protocol\": \"udp\", \"backends\": [\"127.0.0.1:2\"]}]}",
                                 &e),
                     EINVAL);
        ASSERT_STREQ(e.route, "v");
        ASSERT_STREQ(e.field, "listen");
        ASSERT_ERROR(parse_error("{\"routes\": [{\"name\": \"t\", \"listen\": \"127.0.0.1:53\", "
                                 "\"protocol\": \"tcp\", \"idle_timeout\": 5, "
                                 "\"backends\": [\"127.0.0.1:1\"]}]}",
                                 &e),
                     EINVAL);
        ASSERT_STREQ(e.field, "idle_timeout");
        ASSERT_ERROR(parse_error("{\"routes\": [{\"name\": \"u\", \"listen\": \"127.0.0.1:53\", "
                                 "\"protocol\": \"udp\", \"idle_timeout\": 0, "
                                 "\"backends\": [\"127.0.0.1:1\"]}]}",
                                 &e),
                     EINVAL);
        ASSERT_STREQ(e.field, "idle_timeout");
        ASSERT_ERROR(parse_error("{\"routes\": [{\"name\": \"u\", \"listen\": \"127.0.0.1:53\", "
                                 "\"protocol\": \"udp\", \"idle_timeout\": \"5\", "
                                 "\"backends\": [\"127.0.0.1:1\"]}]}",
                                 &e),
                     EINVAL);
        ASSERT_ERROR(parse_error("{\"routes\": [{\"name\": \"u\", \"listen\": \"127.0.0.1:53\", "
                                 "\"protocol\": \"udp\", \"idle_timeout\": 86401, "
                                 "\"backends\": [\"127.0.0.1:1\"]}]}",
                                 &e),
                     EINVAL);
}

TEST(config_validate) {
        ProxyConfig c;
        Proxy *p = NULL;

        proxy_config_init(&c);
        ASSERT_U64_EQ(c.udp_idle_timeout_usec, 60000000);
        c.n_workers = 1;
        c.udp_max_sessions = 0;
        ASSERT_ERROR(proxy_new(&c, &p), EINVAL);
        c.udp_max_sessions = 10;
        c.udp_idle_timeout_usec = 0;
        ASSERT_ERROR(proxy_new(&c, &p), EINVAL);
        c.udp_idle_timeout_usec = 1;
        c.n_udp_workers = 65;
        ASSERT_ERROR(proxy_new(&c, &p), EINVAL);
        c.n_udp_workers = 3;
        ASSERT_OK(proxy_new(&c, &p));
        ASSERT_EQ(proxy_udp_n_workers(p->udp), 3U);
        proxy_free(p);
}

/* ---- relaying ------------------------------------------------------------------------------ */

TEST(relay_and_idle_expiry) {
        _cleanup_(proxy_freep) Proxy *p = proxy_for_udp(0);
        uint16_t pa, pb, listen = free_udp_port();
        int ba = udp_socket(0, &pa), bb = udp_socket(0, &pb);
        int c1 = udp_socket(0, NULL), c2 = udp_socket(0, NULL);
        UdpWorker *w = proxy_udp_worker(p->udp, 0);
        struct sockaddr_in from;
        ProxyRouteStats st;
        char buf[256];
        UdpSession *s1, *s2;

        set_routes(p,
                   "{\"routes\": [{\"name\": \"u\", \"listen\": \"127.0.0.1:%u\", "
                   "\"protocol\": \"udp\", \"backends\": [\"127.0.0.1:%u\", \"127.0.0.1:%u\"]}]}",
                   listen, pa, pb);

        /* The first client lands on the first backend (round-robin), the second on the next. */
        send_to(c1, listen, "one");
        echo_one(w, ba, "A:");
        ASSERT_EQ(step_recv(w, c1, buf, sizeof buf, &from), 5);
        ASSERT_STREQ(buf, "A:one");
        ASSERT_EQ(ntohs(from.sin_port), listen); /* replies come from the listener */
        send_to(c2, listen, "two");
        echo_one(w, bb, "B:");
        ASSERT_EQ(step_recv(w, c2, buf, sizeof buf, &from), 5);
        ASSERT_STREQ(buf, "B:two");

        /* Each client keeps its session and backend. */
        send_to(c1, listen, "again");
        echo_one(w, ba, "A:");
        ASSERT_GT(step_recv(w, c1, buf, sizeof buf, &from), 0);
        ASSERT_STREQ(buf, "A:again");
        ASSERT_EQ(udp_worker_n_sessions(w), 2U);
        ASSERT_EQ(proxy_udp_n_sessions(p->udp), 2U);
        s1 = session_of(w, c1);
        s2 = session_of(w, c2);
        ASSERT_NOT_NULL(s1);
        ASSERT_NOT_NULL(s2);
        ASSERT_TRUE(s1->backend == backend_of(p, pa));
        ASSERT_TRUE(s2->backend == backend_of(p, pb));
        ASSERT_EQ(atomic_load(&backend_of(p, pa)->active), 1);
        ASSERT_EQ(atomic_load(&backend_of(p, pb)->active), 1);

        ASSERT_OK(proxy_get_route_stats(p, "u", &st));
        ASSERT_U64_EQ(st.requests, 2); /* sessions */
        ASSERT_U64_EQ(st.errors, 0);
        ASSERT_U64_EQ(st.bytes_in, 3 + 3 + 5);
        ASSERT_U64_EQ(st.bytes_out, 5 + 5 + 7);
        uint64_t replies = 0;
        for (size_t i = 0; i < PROXY_LATENCY_BUCKETS; i++)
                replies += st.latency[i];
        ASSERT_U64_EQ(replies, 2); /* the first reply of each session */

        /* Idle for just under the default timeout: kept. Then c1 talks again, c2 does not. */
        udp_worker_expire(w, s2->last_seen + 59000000);
        ASSERT_EQ(udp_worker_n_sessions(w), 2U);
        s1->last_seen += 30000000; /* as if c1 spoke 30 s later */
        udp_worker_expire(w, s2->last_seen + 60000000);
        ASSERT_EQ(udp_worker_n_sessions(w), 1U);
        ASSERT_NULL(session_of(w, c2));
        ASSERT_TRUE(session_of(w, c1) == s1);
        ASSERT_EQ(atomic_load(&backend_of(p, pb)->active), 0);
        udp_worker_expire(w, s1->last_seen + 60000000);
        ASSERT_EQ(udp_worker_n_sessions(w), 0U);
        ASSERT_EQ(proxy_udp_n_sessions(p->udp), 0U);
        ASSERT_EQ(atomic_load(&backend_of(p, pa)->active), 0);

        /* After expiry a client gets a new session. */
        send_to(c2, listen, "three");
        ASSERT_GT(step_recv(w, ba, buf, sizeof buf, &from), 0);
        ASSERT_EQ(udp_worker_n_sessions(w), 1U);
        ASSERT_OK(proxy_get_route_stats(p, "u", &st));
        ASSERT_U64_EQ(st.requests, 3);

        close(ba);
        close(bb);
        close(c1);
        close(c2);
}

TEST(route_idle_timeout) {
        _cleanup_(proxy_freep) Proxy *p = proxy_for_udp(0);
        uint16_t pa, listen = free_udp_port();
        int ba = udp_socket(0, &pa), c = udp_socket(0, NULL);
        UdpWorker *w = proxy_udp_worker(p->udp, 0);
        struct sockaddr_in from;
        char buf[64];
        UdpSession *s;
        uint64_t start;

        set_routes(p,
                   "{\"routes\": [{\"name\": \"u\", \"listen\": \"127.0.0.1:%u\", "
                   "\"protocol\": \"udp\", \"idle_timeout\": 0.2, "
                   "\"backends\": [\"127.0.0.1:%u\"]}]}",
                   listen, pa);
        send_to(c, listen, "x");
        ASSERT_GT(step_recv(w, ba, buf, sizeof buf, &from), 0);
        s = session_of(w, c);
        ASSERT_NOT_NULL(s);
        udp_worker_expire(w, s->last_seen + 199000);
        ASSERT_EQ(udp_worker_n_sessions(w), 1U);

        /* The worker's own timer ends it: step with the timeout it computes. */
        start = proxy_now_usec();
        while (udp_worker_n_sessions(w) > 0 && proxy_now_usec() - start < 3000000)
                ASSERT_OK(udp_worker_step(w, -1));
        ASSERT_EQ(udp_worker_n_sessions(w), 0U);
        ASSERT_GE(proxy_now_usec() - start, 150000U);

        close(ba);
        close(c);
}

TEST(icmp_error_rebalances) {
        _cleanup_(proxy_freep) Proxy *p = proxy_for_udp(0);
        uint16_t pb, dead = free_udp_port(), listen = free_udp_port();
        int bb = udp_socket(0, &pb), c = udp_socket(0, NULL);
        UdpWorker *w = proxy_udp_worker(p->udp, 0);
        struct sockaddr_in from;
        ProxyRouteStats st;
        char buf[64];
        UdpSession *s;

        set_routes(p,
                   "{\"routes\": [{\"name\": \"u\", \"listen\": \"127.0.0.1:%u\", "
                   "\"protocol\": \"udp\", \"backends\": [\"127.0.0.1:%u\", \"127.0.0.1:%u\"]}]}",
                   listen, dead, pb);

        /* The first session goes to the dead backend: its ICMP port unreachable comes back on
         * the session's socket, which moves to the live one. The datagram itself is lost. */
        send_to(c, listen, "lost");
        for (unsigned i = 0; i < 100; i++) {
                ASSERT_OK(udp_worker_step(w, 20));
                s = session_of(w, c);
                if (s && s->backend == backend_of(p, pb))
                        break;
        }
        s = session_of(w, c);
        ASSERT_NOT_NULL(s);
        ASSERT_TRUE(s->backend == backend_of(p, pb));
        ASSERT_EQ(atomic_load(&backend_of(p, dead)->failures), 1U);
        ASSERT_EQ(atomic_load(&backend_of(p, dead)->active), 0);
        ASSERT_EQ(atomic_load(&backend_of(p, pb)->active), 1);

        send_to(c, listen, "found");
        echo_one(w, bb, "B:");
        ASSERT_GT(step_recv(w, c, buf, sizeof buf, &from), 0);
        ASSERT_STREQ(buf, "B:found");
        /* The reply reset the live backend's failures; the session is the same one. */
        ASSERT_TRUE(session_of(w, c) == s);
        ASSERT_EQ(udp_worker_n_sessions(w), 1U);
        ASSERT_OK(proxy_get_route_stats(p, "u", &st));
        ASSERT_U64_EQ(st.requests, 1);
        ASSERT_U64_EQ(st.errors, 1);

        /* With no backend left, an ICMP error closes the session. */
        atomic_store(&backend_of(p, dead)->down, true);
        close(bb);
        send_to(c, listen, "nobody");
        for (unsigned i = 0; i < 100 && udp_worker_n_sessions(w) > 0; i++)
                ASSERT_OK(udp_worker_step(w, 20));
        ASSERT_EQ(udp_worker_n_sessions(w), 0U);
        close(c);
}

TEST(down_backend_skipped) {
        _cleanup_(proxy_freep) Proxy *p = proxy_for_udp(0);
        uint16_t pa, pb, listen = free_udp_port();
        int ba = udp_socket(0, &pa), bb = udp_socket(0, &pb);
        int c1 = udp_socket(0, NULL), c2 = udp_socket(0, NULL);
        UdpWorker *w = proxy_udp_worker(p->udp, 0);
        struct sockaddr_in from;
        char buf[64];

        set_routes(p,
                   "{\"routes\": [{\"name\": \"u\", \"listen\": \"127.0.0.1:%u\", "
                   "\"protocol\": \"udp\", \"balance\": \"least_conn\", "
                   "\"backends\": [\"127.0.0.1:%u\", \"127.0.0.1:%u\"]}]}",
                   listen, pa, pb);
        send_to(c1, listen, "1");
        ASSERT_GT(step_recv(w, ba, buf, sizeof buf, &from), 0);

        /* A's health check fails: new sessions avoid it, and c1's moves with its next
         * datagram. */
        atomic_store(&backend_of(p, pa)->down, true);
        send_to(c2, listen, "2");
        ASSERT_GT(step_recv(w, bb, buf, sizeof buf, &from), 0);
        ASSERT_STREQ(buf, "2");
        send_to(c1, listen, "3");
        ASSERT_GT(step_recv(w, bb, buf, sizeof buf, &from), 0);
        ASSERT_STREQ(buf, "3");
        ASSERT_TRUE(session_of(w, c1)->backend == backend_of(p, pb));
        ASSERT_EQ(atomic_load(&backend_of(p, pb)->active), 2);
        ASSERT_EQ(atomic_load(&backend_of(p, pa)->active), 0);

        /* All down: the session stays where it is rather than dropping everything. */
        atomic_store(&backend_of(p, pb)->down, true);
        send_to(c1, listen, "4");
        ASSERT_GT(step_recv(w, bb, buf, sizeof buf, &from), 0);
        ASSERT_STREQ(buf, "4");

        close(ba);
        close(bb);
        close(c1);
        close(c2);
}

TEST(session_cap) {
        _cleanup_(proxy_freep) Proxy *p = proxy_for_udp(1);
        uint16_t pa, listen = free_udp_port();
        int ba = udp_socket(0, &pa), c1 = udp_socket(0, NULL), c2 = udp_socket(0, NULL);
        UdpWorker *w = proxy_udp_worker(p->udp, 0);
        struct sockaddr_in from;
        ProxyRouteStats st;
        char buf[64];

        set_routes(p,
                   "{\"routes\": [{\"name\": \"u\", \"listen\": \"127.0.0.1:%u\", "
                   "\"protocol\": \"udp\", \"backends\": [\"127.0.0.1:%u\"]}]}",
                   listen, pa);
        send_to(c1, listen, "first");
        ASSERT_GT(step_recv(w, ba, buf, sizeof buf, &from), 0);
        send_to(c2, listen, "refused");
        send_to(c1, listen, "second");
        ASSERT_GT(step_recv(w, ba, buf, sizeof buf, &from), 0);
        ASSERT_STREQ(buf, "second"); /* "refused" never came */
        ASSERT_EQ(udp_worker_n_sessions(w), 1U);
        ASSERT_OK(proxy_get_route_stats(p, "u", &st));
        ASSERT_U64_EQ(st.requests, 2);
        ASSERT_U64_EQ(st.errors, 1);

        close(ba);
        close(c1);
        close(c2);
}

TEST(route_updates_keep_sessions) {
        _cleanup_(proxy_freep) Proxy *p = proxy_for_udp(0);
        uint16_t pa, pb, listen = free_udp_port(), listen2 = free_udp_port();
        int ba = udp_socket(0, &pa), bb = udp_socket(0, &pb), c = udp_socket(0, NULL);
        UdpWorker *w = proxy_udp_worker(p->udp, 0);
        struct sockaddr_in from;
        char buf[64];
        UdpSession *s;
        int fd;

        set_routes(p,
                   "{\"routes\": [{\"name\": \"u\", \"listen\": \"127.0.0.1:%u\", "
                   "\"protocol\": \"udp\", \"backends\": [\"127.0.0.1:%u\", \"127.0.0.1:%u\"]}]}",
                   listen, pa, pb);
        send_to(c, listen, "x");
        ASSERT_GT(step_recv(w, ba, buf, sizeof buf, &from), 0);
        s = session_of(w, c);
        ASSERT_NOT_NULL(s);

        /* Another route added and this one renamed: the listener stays, with the session. */
        set_routes(p,
                   "{\"routes\": [{\"name\": \"u2\", \"listen\": \"127.0.0.1:%u\", "
                   "\"protocol\": \"udp\", \"backends\": [\"127.0.0.1:%u\", \"127.0.0.1:%u\"]},"
                   "{\"name\": \"v\", \"listen\": \"127.0.0.1:%u\", \"protocol\": \"udp\", "
                   "\"backends\": [\"127.0.0.1:%u\"]}]}",
                   listen, pa, pb, listen2, pb);
        ASSERT_OK(udp_worker_step(w, 0));
        ASSERT_TRUE(session_of(w, c) == s);
        send_to(c, listen, "y");
        ASSERT_GT(step_recv(w, ba, buf, sizeof buf, &from), 0);
        ASSERT_STREQ(buf, "y");
        ASSERT_TRUE(session_of(w, c) == s);

        /* The backend leaves the route: its sessions end, the next datagram opens another. */
        set_routes(p,
                   "{\"routes\": [{\"name\": \"u2\", \"listen\": \"127.0.0.1:%u\", "
                   "\"protocol\": \"udp\", \"backends\": [\"127.0.0.1:%u\"]}]}",
                   listen, pb);
        ASSERT_OK(udp_worker_step(w, 0));
        ASSERT_EQ(udp_worker_n_sessions(w), 0U);
        send_to(c, listen, "z");
        ASSERT_GT(step_recv(w, bb, buf, sizeof buf, &from), 0);
        ASSERT_STREQ(buf, "z");

        /* A listener that stays bound elsewhere cannot be taken: nothing changes. */
        {
                _cleanup_(route_table_unrefp) RouteTable *t = NULL;
                char json[512];
                uint16_t taken;
                int tfd = udp_socket(0, &taken);

                snprintf(json, sizeof json,
                         "{\"routes\": [{\"name\": \"w\", \"listen\": \"127.0.0.1:%u\", "
                         "\"protocol\": \"udp\", \"backends\": [\"127.0.0.1:%u\"]}]}",
                         taken, pb);
                t = parse(json);
                ASSERT_ERROR(proxy_set_routes(p, t), EADDRINUSE);
                close(tfd);
                ASSERT_OK(udp_worker_step(w, 0));
                ASSERT_EQ(udp_worker_n_sessions(w), 1U);
        }

        /* The listener goes: its session with it, and its port is free again. */
        set_routes(p, "{\"routes\": []}");
        ASSERT_OK(udp_worker_step(w, 0));
        ASSERT_EQ(udp_worker_n_sessions(w), 0U);
        ASSERT_EQ(proxy_udp_n_sessions(p->udp), 0U);
        fd = udp_socket(listen, NULL);
        close(fd);

        close(ba);
        close(bb);
        close(c);
}

/* With the threads running: an echo backend thread, two clients. */
static void *echo_thread(void *arg) {
        int fd = (int) (intptr_t) arg;

        for (;;) {
                struct sockaddr_in from;
                socklen_t len = sizeof from;
                char buf[2048];
                ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *) &from, &len);

                if (n <= 0 || (n == 4 && memcmp(buf, "quit", 4) == 0))
                        return NULL;
                (void) sendto(fd, buf, n, 0, (struct sockaddr *) &from, len);
        }
}

TEST(threads) {
        ProxyConfig cfg;
        Proxy *p = NULL;
        uint16_t pe, listen = free_udp_port();
        int be = udp_socket(0, &pe), c = udp_socket(0, NULL);
        struct sockaddr_in from;
        pthread_t echo;
        char buf[2048], big[1400];

        proxy_config_init(&cfg);
        cfg.n_workers = 1;
        cfg.n_udp_workers = 2;
        ASSERT_OK(proxy_new(&cfg, &p));
        ASSERT_OK(pthread_create(&echo, NULL, echo_thread, (void *) (intptr_t) be));
        set_routes(p,
                   "{\"routes\": [{\"name\": \"u\", \"listen\": \"127.0.0.1:%u\", "
                   "\"protocol\": \"udp\", \"backends\": [\"127.0.0.1:%u\"]}]}",
                   listen, pe);
        ASSERT_OK(proxy_run(p));
        ASSERT_ERROR(proxy_udp_start(p->udp), EBUSY);

        for (unsigned i = 0; i < 20; i++) {
                memset(big, 'a' + i % 26, sizeof big);
                big[sizeof big - 1] = 0;
                send_to(c, listen, big);
                ASSERT_EQ(step_recv(NULL, c, buf, sizeof buf, &from), (ssize_t) sizeof big - 1);
                ASSERT_STREQ(buf, big);
        }
        ASSERT_EQ(proxy_udp_n_sessions(p->udp), 1U);

        /* Stopping closes the sessions; starting again works from the same routes. */
        proxy_stop(p);
        ASSERT_EQ(proxy_udp_n_sessions(p->udp), 0U);
        ASSERT_OK(proxy_run(p));
        send_to(c, listen, "back");
        ASSERT_EQ(step_recv(NULL, c, buf, sizeof buf, &from), 4);
        proxy_free(p);

        send_to(c, pe, "quit");
        ASSERT_OK(pthread_join(echo, NULL));
        close(be);
        close(c);
}

/* Datagrams of several clients interleaved in one batch reach each backend whole and in order. */
TEST(batch_interleaved) {
        _cleanup_(proxy_freep) Proxy *p = proxy_for_udp(0);
        uint16_t pa, pb, listen = free_udp_port();
        int ba = udp_socket(0, &pa), bb = udp_socket(0, &pb);
        int c1 = udp_socket(0, NULL), c2 = udp_socket(0, NULL);
        UdpWorker *w = proxy_udp_worker(p->udp, 0);
        static const char *const order[] = { "a1", "a2", "b1", "a3", "b2", "b3", "a4" };
        struct sockaddr_in from;
        char buf[64];
        unsigned na = 0, nb = 0;

        set_routes(p,
                   "{\"routes\": [{\"name\": \"u\", \"listen\": \"127.0.0.1:%u\", "
                   "\"protocol\": \"udp\", \"backends\": [\"127.0.0.1:%u\", \"127.0.0.1:%u\"]}]}",
                   listen, pa, pb);
        send_to(c1, listen, "a0");
        ASSERT_GT(step_recv(w, ba, buf, sizeof buf, &from), 0);
        send_to(c2, listen, "b0");
        ASSERT_GT(step_recv(w, bb, buf, sizeof buf, &from), 0);

        for (size_t i = 0; i < ELEMENTSOF(order); i++)
                send_to(order[i][0] == 'a' ? c1 : c2, listen, order[i]);
        ASSERT_OK(udp_worker_step(w, 100));
        for (size_t i = 0; i < ELEMENTSOF(order); i++) {
                char want[8];
                bool a = order[i][0] == 'a';

                snprintf(want, sizeof want, "%c%u", order[i][0], a ? ++na : ++nb);
                ASSERT_GT(step_recv(NULL, a ? ba : bb, buf, sizeof buf, &from), 0);
                ASSERT_STREQ(buf, want);
        }
        ASSERT_EQ(udp_worker_n_sessions(w), 2U);

        close(ba);
        close(bb);
        close(c1);
        close(c2);
}

TEST(ipv6) {
        _cleanup_(proxy_freep) Proxy *p = proxy_for_udp(0);
        struct sockaddr_in6 sa = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
        socklen_t len = sizeof sa;
        UdpWorker *w = proxy_udp_worker(p->udp, 0);
        uint16_t pb, listen;
        int b, c, listen_fd;
        char buf[64];

        b = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        ASSERT_OK(b);
        if (bind(b, (struct sockaddr *) &sa, sizeof sa) < 0) {
                close(b);
                test_skip("no IPv6 loopback");
        }
        ASSERT_OK(getsockname(b, (struct sockaddr *) &sa, &len));
        pb = ntohs(sa.sin6_port);
        /* A free port for the listener: bound, then given back. */
        listen_fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        ASSERT_OK(listen_fd);
        sa.sin6_port = 0;
        ASSERT_OK(bind(listen_fd, (struct sockaddr *) &sa, sizeof sa));
        ASSERT_OK(getsockname(listen_fd, (struct sockaddr *) &sa, &len));
        listen = ntohs(sa.sin6_port);
        close(listen_fd);
        c = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        ASSERT_OK(c);
        sa.sin6_port = 0;
        ASSERT_OK(bind(c, (struct sockaddr *) &sa, sizeof sa));

        set_routes(p,
                   "{\"routes\": [{\"name\": \"u6\", \"listen\": \"[::1]:%u\", "
                   "\"protocol\": \"udp\", \"backends\": [\"[::1]:%u\"]}]}",
                   listen, pb);
        sa.sin6_port = htons(listen);
        ASSERT_EQ(sendto(c, "six", 3, 0, (struct sockaddr *) &sa, sizeof sa), 3);
        for (unsigned i = 0; i < 150; i++) {
                struct sockaddr_in6 from;
                socklen_t flen = sizeof from;
                ssize_t n;

                ASSERT_OK(udp_worker_step(w, 20));
                n = recvfrom(b, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *) &from, &flen);
                if (n < 0)
                        continue;
                ASSERT_EQ(n, 3);
                ASSERT_EQ(sendto(b, "SIX", 3, 0, (struct sockaddr *) &from, flen), 3);
                break;
        }
        for (unsigned i = 0; i < 150; i++) {
                struct sockaddr_in6 from;
                socklen_t flen = sizeof from;
                ssize_t n;

                ASSERT_OK(udp_worker_step(w, 20));
                n = recvfrom(c, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *) &from, &flen);
                if (n < 0)
                        continue;
                ASSERT_EQ(n, 3);
                ASSERT_EQ(memcmp(buf, "SIX", 3), 0);
                ASSERT_EQ(ntohs(from.sin6_port), listen);
                close(b);
                close(c);
                return;
        }
        test_fail(__FILE__, __LINE__, "no answer over IPv6");
}
