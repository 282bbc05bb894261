/* SPDX-License-Identifier: Apache-2.0 */
/* test-proxy.c: the proxy API: configuration, listeners across route updates, pools, counters. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>

#include "proxy-pool.h"
#include "proxy.h"
#include "string-util.h"
#include "tests.h"

/* A listening socket on a free loopback port. */
static int listen_any(uint16_t *ret_port) {
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof sa;
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        ASSERT_OK(fd);
        ASSERT_OK(bind(fd, (struct sockaddr *) &sa, sizeof sa));
        ASSERT_OK(listen(fd, 16));
        ASSERT_OK(getsockname(fd, (struct sockaddr *) &sa, &len));
        *ret_port = ntohs(sa.sin_port);
        return fd;
}

static uint16_t free_port(void) {
        uint16_t port;
        close(listen_any(&port));
        return port;
}

static int connect_port(uint16_t port) {
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_port = htons(port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        ASSERT_OK(fd);
        if (connect(fd, (struct sockaddr *) &sa, sizeof sa) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

/* A backend answering one request per connection with a fixed reply, one thread. */
static void *backend_thread(void *arg) {
        int lfd = (int) (intptr_t) arg;

        for (;;) {
                int fd = accept(lfd, NULL, NULL);
                char buf[8192];
                ssize_t n;

                if (fd < 0)
                        return NULL;
                while ((n = recv(fd, buf, sizeof buf, 0)) > 0) {
                        static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                                                    "Connection: close\r\n\r\nok";
                        if (memmem(buf, n, "\r\n\r\n", 4)) {
                                (void) send(fd, reply, sizeof reply - 1, MSG_NOSIGNAL);
                                break;
                        }
                }
                close(fd);
        }
}

/* Sends a request on fd and reads the answer's status. */
static int request(int fd, const char *path) {
        char req[256], buf[4096];
        size_t got = 0;
        unsigned status = 0;

        snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", path);
        ASSERT_EQ(send(fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t) strlen(req));
        while (got < sizeof buf - 1) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                ssize_t n;

                ASSERT_EQ(poll(&p, 1, 5000), 1);
                n = recv(fd, buf + got, sizeof buf - 1 - got, 0);
                if (n <= 0)
                        return -ECONNRESET;
                got += n;
                buf[got] = 0;
                /* Every answer here has a two-byte body or a plain one ending in '\n'. */
                if (strstr(buf, "\r\n\r\n") && (strstr(buf, "\r\n\r\nok") || buf[got - 1] == '\n'))
                        break;
        }
        ASSERT_EQ(sscanf(buf, "HTTP/1.1 %u", &status), 1);
        return (int) status;
}

/* A backend for one request at a time that answers only once `release` is readable: a request
 * in flight for as long as a test wants. */
typedef struct HoldBackend {
        int lfd;
        int release[2];
        atomic_int held; /* requests read and waiting */
} HoldBackend;

static void *hold_backend_thread(void *arg) {
        HoldBackend *h = arg;

        for (;;) {
                static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                int fd = accept(h->lfd, NULL, NULL);
                char buf[8192], c;
                ssize_t n;

                if (fd < 0)
                        return NULL;
                n = recv(fd, buf, sizeof buf, 0);
                if (n > 0) {
                        atomic_fetch_add(&h->held, 1);
                        if (read(h->release[0], &c, 1) == 1)
                                (void) send(fd, reply, sizeof reply - 1, MSG_NOSIGNAL);
                }
                close(fd);
        }
}

static void send_str(int fd, const char *s) {
        ASSERT_EQ(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t) strlen(s));
}

/* Everything fd receives until the proxy closes it (at most 5 s). */
static void read_to_eof(int fd, char *buf, size_t size) {
        size_t got = 0;

        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                ssize_t n;

                ASSERT_EQ(poll(&p, 1, 5000), 1);
                n = recv(fd, buf + got, size - 1 - got, 0);
                ASSERT_GE(n, 0);
                if (n == 0)
                        break;
                got += n;
                ASSERT_LT(got, size - 1);
        }
        buf[got] = 0;
}

/* An idle keep-alive connection is closed within 1 s. */
static void assert_closed_soon(int fd) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        char c;

        ASSERT_EQ(poll(&p, 1, 1000), 1);
        ASSERT_EQ(recv(fd, &c, 1, 0), 0);
}

static void *stop_thread(void *arg) {
        proxy_stop(arg);
        return NULL;
}

static RouteTable *table(uint16_t listen_port, const char *path, uint16_t backend_port) {
        char json[512];
        RouteTable *t = NULL;
        RouteTableError e;

        snprintf(json, sizeof json,
                 "{\"routes\": [{\"name\": \"r\", \"listen\": \"127.0.0.1:%u\", \"path\": \"%s\","
                 " \"backends\": [\"127.0.0.1:%u\"]}]}",
                 listen_port, path, backend_port);
        ASSERT_OK(route_table_parse(json, strlen(json), &t, &e));
        return t;
}

TEST(config) {
        ProxyConfig c;
        Proxy *p = NULL;

        proxy_config_init(&c);
        ASSERT_EQ(c.max_header_size, 16384U);
        c.max_header_size = 10;
        ASSERT_ERROR(proxy_new(&c, &p), EINVAL);
        proxy_config_init(&c);
        c.max_headers = 0;
        ASSERT_ERROR(proxy_new(&c, &p), EINVAL);
        proxy_config_init(&c);
        c.n_workers = 1000;
        ASSERT_ERROR(proxy_new(&c, &p), EINVAL);
        ASSERT_OK(proxy_new(NULL, &p));
        ASSERT_GE(proxy_n_workers(p), 1U);
        ASSERT_ERROR(proxy_run(p) < 0 ? -1 : proxy_run(p), EBUSY);
        proxy_free(p);
}

TEST(pool) {
        ProxyPool pool;
        ProxyBuf *a, *b;

        proxy_pool_init(&pool, 64, 1);
        a = proxy_pool_get(&pool);
        b = proxy_pool_get(&pool);
        ASSERT_NOT_NULL(a);
        ASSERT_NOT_NULL(b);
        ASSERT_EQ(pool.n_allocated, 2U);
        memcpy(a->data, "xxhello", 7);
        a->start = 2;
        a->end = 7;
        ASSERT_EQ(proxy_buf_len(a), 5U);
        proxy_buf_compact(a);
        ASSERT_EQ(a->start, 0U);
        ASSERT_TRUE(memcmp(a->data, "hello", 5) == 0);
        ASSERT_EQ(proxy_buf_space(a), 59U);
        ASSERT_NULL(proxy_pool_put(&pool, a));
        ASSERT_NULL(proxy_pool_put(&pool, b)); /* over max_free: freed */
        ASSERT_EQ(pool.n_free, 1U);
        ASSERT_EQ(pool.n_allocated, 0U);
        a = proxy_pool_get(&pool);
        ASSERT_EQ(pool.n_free, 0U);
        ASSERT_EQ(proxy_buf_len(a), 0U);
        proxy_pool_put(&pool, a);
        proxy_pool_done(&pool);
}

TEST(routes_update) {
        _cleanup_(proxy_freep) Proxy *p = NULL;
        ProxyConfig c;
        ProxyRouteStats st;
        ProxyBackendState bs;
        pthread_t th;
        uint16_t bport, lport = free_port(), lport2, busy_port;
        int bfd = listen_any(&bport), busy = listen_any(&busy_port), fd, fd2;
        RouteTable *t;
        char addr[64];

        ASSERT_EQ(pthread_create(&th, NULL, backend_thread, (void *) (intptr_t) bfd), 0);
        proxy_config_init(&c);
        c.n_workers = 2;
        ASSERT_OK(proxy_new(&c, &p));
        ASSERT_OK(proxy_run(p));

        t = table(lport, "/", bport);
        ASSERT_OK(proxy_set_routes(p, t));
        ASSERT_ERROR(proxy_set_routes(p, t), EINVAL); /* already published */
        route_table_unref(t);

        fd = connect_port(lport);
        ASSERT_OK(fd);
        ASSERT_EQ(request(fd, "/a"), 200);

        /* A listener that cannot be opened changes nothing. */
        t = table(busy_port, "/", bport);
        ASSERT_ERROR(proxy_set_routes(p, t), EADDRINUSE);
        route_table_unref(t);
        ASSERT_EQ(request(fd, "/b"), 200);

        /* Same listener, other routes: the open connection stays and follows the new table. */
        t = table(lport, "/only", bport);
        ASSERT_OK(proxy_set_routes(p, t));
        route_table_unref(t);
        usleep(100000);
        ASSERT_EQ(request(fd, "/b"), 404);
        ASSERT_EQ(request(fd, "/only/x"), 200);

        /* Another listener: the old one closes, open connections finish their request. */
        lport2 = free_port();
        t = table(lport2, "/", bport);
        ASSERT_OK(proxy_set_routes(p, t));
        route_table_unref(t);
        usleep(100000);
        ASSERT_ERROR(connect_port(lport), ECONNREFUSED);
        fd2 = connect_port(lport2);
        ASSERT_OK(fd2);
        ASSERT_EQ(request(fd2, "/c"), 200);

        ASSERT_OK(proxy_get_route_stats(p, "r", &st));
        ASSERT_EQ(st.requests, 4U); /* the 404 matched no route */
        ASSERT_GE(st.bytes_out, 4U * 40);
        ASSERT_ERROR(proxy_get_route_stats(p, "nope", &st), ENOENT);
        snprintf(addr, sizeof addr, "127.0.0.1:%u", bport);
        ASSERT_OK(proxy_get_backend_state(p, addr, &bs));
        ASSERT_FALSE(bs.ejected);
        ASSERT_ERROR(proxy_get_backend_state(p, "127.0.0.1:1", &bs), ENOENT);

        close(fd);
        close(fd2);
        proxy_stop(p);
        shutdown(bfd, SHUT_RDWR);
        close(busy);
        ASSERT_EQ(pthread_join(th, NULL), 0);
        close(bfd);
}

static RouteTable *hold_table(uint16_t listen_port, uint16_t backend_port, uint16_t hold_port) {
        char json[512];
        RouteTable *t = NULL;
        RouteTableError e;

        snprintf(json, sizeof json,
                 "{\"routes\": [{\"name\": \"r\", \"listen\": \"127.0.0.1:%u\", "
                 "\"backends\": [\"127.0.0.1:%u\"]}, {\"name\": \"hold\", \"listen\": "
                 "\"127.0.0.1:%u\", \"path\": \"/hold\", \"backends\": [\"127.0.0.1:%u\"]}]}",
                 listen_port, backend_port, listen_port, hold_port);
        ASSERT_OK(route_table_parse(json, strlen(json), &t, &e));
        return t;
}

/* HTTP/1.1 graceful close, when the listener goes and when the proxy stops: the request in
 * flight is answered with Connection: close, then the connection closes; an idle keep-alive
 * connection closes at once; a new connection is refused. */
TEST(http1_graceful_close) {
        _cleanup_(proxy_freep) Proxy *p = NULL;
        HoldBackend hold = {};
        ProxyConfig c;
        pthread_t th, hth, sth;
        uint16_t bport, hport, lport = free_port();
        int bfd = listen_any(&bport), idle, held;
        char buf[4096];
        RouteTable *t;
        time_t t0;

        hold.lfd = listen_any(&hport);
        ASSERT_OK(pipe2(hold.release, O_CLOEXEC));
        ASSERT_EQ(pthread_create(&th, NULL, backend_thread, (void *) (intptr_t) bfd), 0);
        ASSERT_EQ(pthread_create(&hth, NULL, hold_backend_thread, &hold), 0);
        proxy_config_init(&c);
        c.n_workers = 1;
        ASSERT_OK(proxy_new(&c, &p));
        ASSERT_OK(proxy_run(p));
        t = hold_table(lport, bport, hport);
        ASSERT_OK(proxy_set_routes(p, t));
        route_table_unref(t);

        /* The listener goes (the routes move to another port). */
        idle = connect_port(lport);
        ASSERT_OK(idle);
        ASSERT_EQ(request(idle, "/a"), 200);
        held = connect_port(lport);
        ASSERT_OK(held);
        send_str(held, "GET /hold/1 HTTP/1.1\r\nHost: t\r\n\r\n");
        while (atomic_load(&hold.held) < 1)
                usleep(10000);
        t = hold_table(free_port(), bport, hport);
        ASSERT_OK(proxy_set_routes(p, t));
        route_table_unref(t);
        assert_closed_soon(idle);
        ASSERT_ERROR(connect_port(lport), ECONNREFUSED);
        ASSERT_EQ(write(hold.release[1], "x", 1), 1);
        read_to_eof(held, buf, sizeof buf);
        ASSERT_TRUE(startswith(buf, "HTTP/1.1 200 OK\r\n"));
        ASSERT_NOT_NULL(strstr(buf, "\r\nConnection: close\r\n"));
        ASSERT_TRUE(endswith(buf, "\r\n\r\nok"));
        close(idle);
        close(held);

        /* The proxy stops: the same, and proxy_stop() returns once the request is done. */
        t = hold_table(lport, bport, hport);
        ASSERT_OK(proxy_set_routes(p, t));
        route_table_unref(t);
        idle = connect_port(lport);
        ASSERT_OK(idle);
        ASSERT_EQ(request(idle, "/b"), 200);
        held = connect_port(lport);
        ASSERT_OK(held);
        send_str(held, "GET /hold/2 HTTP/1.1\r\nHost: t\r\n\r\n");
        while (atomic_load(&hold.held) < 2)
                usleep(10000);
        ASSERT_EQ(pthread_create(&sth, NULL, stop_thread, p), 0);
        assert_closed_soon(idle);
        ASSERT_ERROR(connect_port(lport), ECONNREFUSED);
        ASSERT_EQ(write(hold.release[1], "x", 1), 1);
        read_to_eof(held, buf, sizeof buf);
        ASSERT_TRUE(startswith(buf, "HTTP/1.1 200 OK\r\n"));
        ASSERT_NOT_NULL(strstr(buf, "\r\nConnection: close\r\n"));
        /* The client has not closed its side: the stop waits a moment for it, no longer. */
        t0 = time(NULL);
        ASSERT_EQ(pthread_join(sth, NULL), 0);
        ASSERT_LE(time(NULL) - t0, 3);
        close(idle);
        close(held);

        /* Run again, the listener listens again. */
        ASSERT_OK(proxy_run(p));
        idle = connect_port(lport);
        ASSERT_OK(idle);
        ASSERT_EQ(request(idle, "/c"), 200);
        close(idle);
        proxy_stop(p);

        shutdown(bfd, SHUT_RDWR);
        shutdown(hold.lfd, SHUT_RDWR);
        ASSERT_EQ(pthread_join(th, NULL), 0);
        ASSERT_EQ(pthread_join(hth, NULL), 0);
        close(bfd);
        close(hold.lfd);
        close(hold.release[0]);
        close(hold.release[1]);
}
