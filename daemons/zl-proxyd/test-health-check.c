/* SPDX-License-Identifier: Apache-2.0 */
/* test-health-check.c: TCP and HTTP checks against real loopback servers on an sd-event loop. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "health-check.h"
#include "proxy-internal.h"
#include "string-util.h"
#include "tests.h"

/* ---- fixtures ---------------------------------------------------------------------------- */

static int listen_on(uint16_t port, uint16_t *ret_port) {
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_port = htons(port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof sa;
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), one = 1;

        ASSERT_OK(fd);
        ASSERT_OK(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one));
        ASSERT_OK(bind(fd, (struct sockaddr *) &sa, sizeof sa));
        ASSERT_OK(listen(fd, 64));
        ASSERT_OK(getsockname(fd, (struct sockaddr *) &sa, &len));
        if (ret_port)
                *ret_port = ntohs(sa.sin_port);
        return fd;
}

/* An HTTP server on a thread of its own (the checker's loop must not wait for it): answers every
 * request with `status`, or never when 0. */
typedef struct Server {
        int fd;
        uint16_t port;
        _Atomic unsigned status;
        _Atomic unsigned requests;
        atomic_bool stop;
        pthread_mutex_t lock;
        char last_request[512];
        pthread_t thread;
        int silent[64]; /* accepted and never answered, closed by server_stop */
        unsigned n_silent;
} Server;

static void *server_main(void *userdata) {
        Server *srv = userdata;

        while (!atomic_load(&srv->stop)) {
                struct pollfd pfd = { .fd = srv->fd, .events = POLLIN };
                struct timeval tv = { .tv_sec = 1 };
                char buf[512], reply[128];
                ssize_t n;
                int c;

                if (poll(&pfd, 1, 20) <= 0)
                        continue;
                c = accept4(srv->fd, NULL, NULL, SOCK_CLOEXEC);
                if (c < 0)
                        continue;
                if (atomic_load(&srv->status) == 0) {
                        if (srv->n_silent < ELEMENTSOF(srv->silent))
                                srv->silent[srv->n_silent++] = c;
                        else
                                close(c);
                        continue;
                }
                (void) setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
                n = recv(c, buf, sizeof buf - 1, 0);
                if (n > 0) {
                        buf[n] = 0;
                        pthread_mutex_lock(&srv->lock);
                        snprintf(srv->last_request, sizeof srv->last_request, "%s", buf);
                        pthread_mutex_unlock(&srv->lock);
                }
                atomic_fetch_add(&srv->requests, 1);
                n = snprintf(reply, sizeof reply,
                             "HTTP/1.1 %u X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                             atomic_load(&srv->status));
                (void) !write(c, reply, n);
                close(c);
        }
        return NULL;
}

static void server_start(Server *srv, unsigned status) {
        srv->fd = listen_on(0, &srv->port);
        atomic_init(&srv->status, status);
        pthread_mutex_init(&srv->lock, NULL);
        ASSERT_EQ(pthread_create(&srv->thread, NULL, server_main, srv), 0);
}

static void server_last_request(Server *srv, char *buf, size_t size) {
        pthread_mutex_lock(&srv->lock);
        snprintf(buf, size, "%s", srv->last_request);
        pthread_mutex_unlock(&srv->lock);
}

static void server_stop(Server *srv) {
        atomic_store(&srv->stop, true);
        ASSERT_EQ(pthread_join(srv->thread, NULL), 0);
        srv->fd = safe_close(srv->fd);
        while (srv->n_silent > 0)
                close(srv->silent[--srv->n_silent]);
        pthread_mutex_destroy(&srv->lock);
}

/* Changes seen through the callback. */
typedef struct Changes {
        unsigned n;
        char address[64];
        bool healthy;
        char reason[64];
} Changes;

static void on_changed(HealthChecker *h, const char *address, bool healthy, const char *reason,
                       void *userdata) {
        Changes *c = userdata;

        (void) h;
        c->n++;
        snprintf(c->address, sizeof c->address, "%s", address);
        c->healthy = healthy;
        snprintf(c->reason, sizeof c->reason, "%s", reason);
}

/* Runs the loop until *flag reaches want, at most timeout_ms. */
static bool run_until(sd_event *e, const unsigned *counter, unsigned want, unsigned timeout_ms) {
        uint64_t end = proxy_now_usec() + timeout_ms * 1000ULL;

        while (*counter < want && proxy_now_usec() < end)
                ASSERT_OK(sd_event_run(e, 10000));
        return *counter >= want;
}

static void run_for(sd_event *e, unsigned ms) {
        uint64_t end = proxy_now_usec() + ms * 1000ULL;

        while (proxy_now_usec() < end)
                ASSERT_OK(sd_event_run(e, 5000));
}

/* A parsed table whose backends carry BackendHealth objects, as proxy_set_routes leaves them. */
typedef struct Fixture {
        RouteTable *table;
        BackendHealth backends[8];
        unsigned n;
} Fixture;

static unsigned next_id;

static void fixture_parse(Fixture *f, const char *json) {
        RouteTableError err = {};
        int r = route_table_parse(json, strlen(json), &f->table, &err);

        if (r < 0)
                fprintf(stderr, "route %s field %s: %s\n", err.route, err.field, err.message);
        ASSERT_OK(r);
        for (size_t i = 0; i < f->table->n_routes; i++)
                for (size_t k = 0; k < f->table->routes[i].set.n_backends; k++) {
                        RouteBackend *rb = &f->table->routes[i].set.backends[k];
                        unsigned m;

                        for (m = 0; m < f->n; m++)
                                if (route_address_equal(&f->backends[m].address, &rb->address))
                                        break;
                        if (m == f->n) {
                                ASSERT_LT(f->n, 8U);
                                /* Ids are unique over the proxy's life, as backend_get()
                                 * gives them. */
                                f->backends[f->n] =
                                        (BackendHealth){ .address = rb->address, .id = next_id++ };
                                f->n++;
                        }
                        rb->health = &f->backends[m];
                }
}

static void fixture_done(Fixture *f) {
        f->table = route_table_unref(f->table);
}

static BackendHealth *fixture_backend(Fixture *f, uint16_t port) {
        char text[32];

        snprintf(text, sizeof text, "127.0.0.1:%u", port);
        for (unsigned m = 0; m < f->n; m++)
                if (streq(f->backends[m].address.text, text))
                        return &f->backends[m];
        return NULL;
}

static const HealthDefaults fast = {
        .interval_usec = 20000,
        .timeout_usec = 15000,
        .healthy_threshold = 2,
        .unhealthy_threshold = 2,
};

/* ---- tests ------------------------------------------------------------------------------- */

TEST(defaults) {
        HealthDefaults d;

        health_defaults_init(&d);
        ASSERT_U64_EQ(d.interval_usec, 5000000);
        ASSERT_U64_EQ(d.timeout_usec, 2000000);
        ASSERT_EQ(d.healthy_threshold, 2U);
        ASSERT_EQ(d.unhealthy_threshold, 3U);
}

TEST(route_health_validation) {
        static const struct {
                const char *health;
                const char *field;
        } bad[] = {
                { "\"tcp\"", "health" },
                { "{}", "health.type" },
                { "{\"type\": \"icmp\"}", "health.type" },
                { "{\"type\": \"tcp\", \"path\": \"/x\"}", "health.path" },
                { "{\"type\": \"tcp\", \"expect_status\": 200}", "health.expect_status" },
                { "{\"type\": \"http\", \"path\": \"x\"}", "health.path" },
                { "{\"type\": \"http\", \"path\": \"/a b\"}", "health.path" },
                { "{\"type\": \"http\", \"host\": \"*.a.b\"}", "health.host" },
                { "{\"type\": \"http\", \"expect_status\": 99}", "health.expect_status" },
                { "{\"type\": \"http\", \"expect_status\": \"200\"}", "health.expect_status" },
                { "{\"type\": \"tcp\", \"interval\": 0}", "health.interval" },
                { "{\"type\": \"tcp\", \"interval\": 7200}", "health.interval" },
                { "{\"type\": \"tcp\", \"timeout\": \"2s\"}", "health.timeout" },
                { "{\"type\": \"tcp\", \"interval\": 1, \"timeout\": 2}", "health.timeout" },
                { "{\"type\": \"tcp\", \"healthy_threshold\": 0}", "health.healthy_threshold" },
                { "{\"type\": \"tcp\", \"unhealthy_threshold\": 101}",
                  "health.unhealthy_threshold" },
                { "{\"type\": \"tcp\", \"retries\": 1}", "health.retries" },
        };
        RouteTable *t = NULL;
        const Route *r;
        char json[512];

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                RouteTableError err = {};

                snprintf(json, sizeof json,
                         "{\"routes\": [{\"name\": \"w\", \"listen\": \"127.0.0.1:1\", "
                         "\"backends\": [\"127.0.0.1:2\"], \"health\": %s}]}",
                         bad[i].health);
                ASSERT_ERROR(route_table_parse(json, strlen(json), &t, &err), EINVAL);
                ASSERT_STREQ(err.route, "w");
                ASSERT_STREQ(err.field, bad[i].field);
        }
        {
                RouteTableError err = {};
                snprintf(json, sizeof json,
                         "{\"routes\": [{\"name\": \"t\", \"listen\": \"127.0.0.1:1\", "
                         "\"protocol\": \"tcp\", \"backends\": [\"127.0.0.1:2\"], "
                         "\"health\": {\"type\": \"http\"}}]}");
                ASSERT_ERROR(route_table_parse(json, strlen(json), &t, &err), EINVAL);
                ASSERT_STREQ(err.field, "health.type");
        }

        snprintf(json, sizeof json,
                 "{\"routes\": [{\"name\": \"w\", \"listen\": \"127.0.0.1:1\", "
                 "\"backends\": [\"127.0.0.1:2\"], \"health\": {\"type\": \"http\", "
                 "\"path\": \"/healthz?full=1\", \"host\": \"App.Example\", \"interval\": 0.5, "
                 "\"timeout\": 0.25, \"healthy_threshold\": 1, \"unhealthy_threshold\": 4, "
                 "\"expect_status\": 204}}, "
                 "{\"name\": \"plain\", \"listen\": \"127.0.0.1:1\", \"path\": \"/p\", "
                 "\"backends\": [\"127.0.0.1:2\"]}]}");
        ASSERT_OK(route_table_parse(json, strlen(json), &t, NULL));
        r = route_table_find(t, "w");
        ASSERT_EQ(r->health.type, ROUTE_HEALTH_HTTP);
        ASSERT_STREQ(r->health.path, "/healthz?full=1");
        ASSERT_STREQ(r->health.host, "app.example");
        ASSERT_U64_EQ(r->health.interval_usec, 500000);
        ASSERT_U64_EQ(r->health.timeout_usec, 250000);
        ASSERT_EQ(r->health.healthy_threshold, 1U);
        ASSERT_EQ(r->health.unhealthy_threshold, 4U);
        ASSERT_EQ(r->health.expect_status, 204U);
        ASSERT_EQ(route_table_find(t, "plain")->health.type, ROUTE_HEALTH_NONE);
        route_table_unref(t);

        ASSERT_STREQ(route_health_type_to_string(ROUTE_HEALTH_TCP), "tcp");
        ASSERT_EQ(route_health_type_from_string("http"), ROUTE_HEALTH_HTTP);
        ASSERT_EQ(route_health_type_from_string("HTTP"), _ROUTE_HEALTH_TYPE_INVALID);
        ASSERT_NULL(route_health_type_to_string(_ROUTE_HEALTH_TYPE_MAX));
}

TEST(tcp_down_and_up_again) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(health_checker_freep) HealthChecker *h = NULL;
        Changes ch = {};
        Fixture f = {};
        HealthProbeInfo info;
        BackendHealth *b;
        uint16_t port;
        int lfd;
        char json[512];

        ASSERT_OK(sd_event_new(&e));
        lfd = listen_on(0, &port);
        snprintf(json, sizeof json,
                 "{\"routes\": [{\"name\": \"t\", \"listen\": \"127.0.0.1:1\", \"protocol\": "
                 "\"tcp\", \"backends\": [\"127.0.0.1:%u\"], \"health\": {\"type\": \"tcp\"}}]}",
                 port);
        fixture_parse(&f, json);
        b = fixture_backend(&f, port);
        ASSERT_NOT_NULL(b);

        ASSERT_ERROR(health_checker_new(NULL, &fast, on_changed, &ch, &h), EINVAL);
        ASSERT_OK(health_checker_new(e, &fast, on_changed, &ch, &h));
        ASSERT_OK(health_checker_set_table(h, f.table));
        ASSERT_EQ(health_checker_n_probes(h), 1U);
        ASSERT_OK(health_checker_get(h, b->address.text, &info));
        ASSERT_EQ(info.type, ROUTE_HEALTH_TCP);
        ASSERT_TRUE(info.healthy);
        ASSERT_ERROR(health_checker_get(h, "127.0.0.1:1", &info), ENOENT);
        ASSERT_OK(health_checker_get_backend(h, b, &info));
        ASSERT_EQ(info.type, ROUTE_HEALTH_TCP);
        ASSERT_ERROR(health_checker_get_backend(h, NULL, &info), ENOENT);

        /* Up: checks pass, nothing changes. */
        run_for(e, 150);
        ASSERT_EQ(ch.n, 0U);
        ASSERT_FALSE(atomic_load(&b->down));
        ASSERT_OK(health_checker_get(h, b->address.text, &info));
        ASSERT_GE(info.checks, 2U);
        ASSERT_STREQ(info.last_result, "connected");

        /* The backend goes away: down after two refused connects. */
        close(lfd);
        ASSERT_TRUE(run_until(e, &ch.n, 1, 2000));
        ASSERT_FALSE(ch.healthy);
        ASSERT_STREQ(ch.address, b->address.text);
        ASSERT_STREQ(ch.reason, "connection refused");
        ASSERT_TRUE(atomic_load(&b->down));
        ASSERT_OK(health_checker_get(h, b->address.text, &info));
        ASSERT_FALSE(info.healthy);
        ASSERT_GE(info.consecutive_failures, 2U);

        /* Back on the same port: up after two successes. */
        lfd = listen_on(port, NULL);
        ASSERT_TRUE(run_until(e, &ch.n, 2, 2000));
        ASSERT_TRUE(ch.healthy);
        ASSERT_STREQ(ch.reason, "connected");
        ASSERT_FALSE(atomic_load(&b->down));

        /* An empty table stops the probe. */
        close(lfd);
        ASSERT_TRUE(run_until(e, &ch.n, 3, 2000));
        ASSERT_TRUE(atomic_load(&b->down));
        ASSERT_OK(health_checker_set_table(h, NULL));
        ASSERT_EQ(health_checker_n_probes(h), 0U);
        ASSERT_FALSE(atomic_load(&b->down)); /* unchecked: usable again */
        fixture_done(&f);
}

TEST(http_status_and_expect) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(health_checker_freep) HealthChecker *h = NULL;
        Server ok = {}, fail = {}, odd = {};
        Changes ch = {};
        Fixture f = {};
        HealthProbeInfo info;
        char json[1024], request[512];

        ASSERT_OK(sd_event_new(&e));
        server_start(&ok, 200);
        server_start(&fail, 500);
        server_start(&odd, 418);
        snprintf(json, sizeof json,
                 "{\"routes\": ["
                 "{\"name\": \"a\", \"listen\": \"127.0.0.1:1\", \"path\": \"/a\", "
                 " \"backends\": [\"127.0.0.1:%u\", \"127.0.0.1:%u\"], "
                 " \"health\": {\"type\": \"http\", \"path\": \"/healthz\", \"host\": \"svc\"}},"
                 "{\"name\": \"b\", \"listen\": \"127.0.0.1:1\", \"path\": \"/b\", "
                 " \"backends\": [\"127.0.0.1:%u\"], "
                 " \"health\": {\"type\": \"http\", \"expect_status\": 418}},"
                 "{\"name\": \"c\", \"listen\": \"127.0.0.1:1\", \"path\": \"/c\", "
                 " \"backends\": [\"127.0.0.1:%u\"], \"health\": {\"type\": \"tcp\"}}]}",
                 ok.port, fail.port, odd.port, ok.port);
        fixture_parse(&f, json);
        ASSERT_OK(health_checker_new(e, &fast, on_changed, &ch, &h));
        ASSERT_OK(health_checker_set_table(h, f.table));
        /* ok.port is named twice: one probe, configured by the first route ("a", http). */
        ASSERT_EQ(health_checker_n_probes(h), 3U);

        ASSERT_TRUE(run_until(e, &ch.n, 1, 2000));
        ASSERT_FALSE(ch.healthy);
        ASSERT_STREQ(ch.reason, "status 500");
        ASSERT_TRUE(atomic_load(&fixture_backend(&f, fail.port)->down));
        run_for(e, 100);
        ASSERT_EQ(ch.n, 1U);
        ASSERT_FALSE(atomic_load(&fixture_backend(&f, ok.port)->down));
        ASSERT_FALSE(atomic_load(&fixture_backend(&f, odd.port)->down));
        ASSERT_OK(health_checker_get(h, fixture_backend(&f, ok.port)->address.text, &info));
        ASSERT_EQ(info.type, ROUTE_HEALTH_HTTP);
        ASSERT_STREQ(info.last_result, "status 200");
        server_last_request(&ok, request, sizeof request);
        ASSERT_TRUE(strncmp(request, "GET /healthz HTTP/1.1\r\nHost: svc\r\n", 34) == 0);
        ASSERT_OK(health_checker_get(h, fixture_backend(&f, odd.port)->address.text, &info));
        ASSERT_STREQ(info.last_result, "status 418");
        ASSERT_GT(atomic_load(&odd.requests), 0U);
        server_last_request(&odd, request, sizeof request);
        ASSERT_TRUE(startswith(request, "GET / HTTP/1.1\r\nHost: 127.0.0.1:"));

        /* The failing server recovers. */
        atomic_store(&fail.status, 204);
        ASSERT_TRUE(run_until(e, &ch.n, 2, 2000));
        ASSERT_TRUE(ch.healthy);
        ASSERT_FALSE(atomic_load(&fixture_backend(&f, fail.port)->down));

        /* A new table that changes the check of a kept probe: state is kept, config changes. */
        fixture_done(&f);
        f = (Fixture){};
        snprintf(json, sizeof json,
                 "{\"routes\": [{\"name\": \"a\", \"listen\": \"127.0.0.1:1\", "
                 " \"backends\": [\"127.0.0.1:%u\"], "
                 " \"health\": {\"type\": \"http\", \"expect_status\": 201}}]}",
                 ok.port);
        fixture_parse(&f, json);
        /* Backends live in the fixture, so the probe of ok.port is a new one here. */
        ASSERT_OK(health_checker_set_table(h, f.table));
        ASSERT_EQ(health_checker_n_probes(h), 1U);
        ASSERT_TRUE(run_until(e, &ch.n, 3, 2000));
        ASSERT_FALSE(ch.healthy);
        ASSERT_STREQ(ch.reason, "status 200");

        ASSERT_OK(health_checker_set_table(h, NULL));
        fixture_done(&f);
        server_stop(&ok);
        server_stop(&fail);
        server_stop(&odd);
}

TEST(http_timeout_and_garbage) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(health_checker_freep) HealthChecker *h = NULL;
        Server silent = {};
        Changes ch = {};
        Fixture f = {};
        char json[512];

        ASSERT_OK(sd_event_new(&e));
        server_start(&silent, 0);
        snprintf(json, sizeof json,
                 "{\"routes\": [{\"name\": \"a\", \"listen\": \"127.0.0.1:1\", "
                 " \"backends\": [\"127.0.0.1:%u\"], \"health\": {\"type\": \"http\", "
                 " \"timeout\": 0.05, \"interval\": 0.05, \"unhealthy_threshold\": 1}}]}",
                 silent.port);
        fixture_parse(&f, json);
        ASSERT_OK(health_checker_new(e, &fast, on_changed, &ch, &h));
        ASSERT_OK(health_checker_set_table(h, f.table));
        ASSERT_TRUE(run_until(e, &ch.n, 1, 2000));
        ASSERT_FALSE(ch.healthy);
        ASSERT_STREQ(ch.reason, "timed out");
        ASSERT_OK(health_checker_set_table(h, NULL));
        fixture_done(&f);
        server_stop(&silent);
}
