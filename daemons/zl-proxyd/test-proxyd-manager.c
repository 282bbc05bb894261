/* SPDX-License-Identifier: Apache-2.0 */
/* test-proxyd-manager.c: configuration, routes per owner, atomic updates, persistence. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fileio.h"
#include "proxyd-manager.h"
#include "string-util.h"
#include "tests.h"

static uint16_t free_port(void) {
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof sa;
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

        ASSERT_OK(fd);
        ASSERT_OK(bind(fd, (struct sockaddr *) &sa, sizeof sa));
        ASSERT_OK(getsockname(fd, (struct sockaddr *) &sa, &len));
        close(fd);
        return ntohs(sa.sin_port);
}

static char *make_dir(void) {
        char *d = strdup("/tmp/test-proxyd-manager.XXXXXX");

        ASSERT_NOT_NULL(d);
        ASSERT_NOT_NULL(mkdtemp(d));
        return d;
}

static void remove_dir(const char *d) {
        char cmd[256];

        snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
        ASSERT_EQ(system(cmd), 0);
}

static Proxyd *manager_new(sd_event *e, const char *dir) {
        ProxydConfig c;
        Proxyd *m;

        ASSERT_OK(proxyd_config_init(&c));
        c.proxy.n_workers = 1;
        ASSERT_OK(proxyd_new(e, &c, dir, NULL, &m));
        proxyd_config_done(&c);
        ASSERT_OK(proxyd_start(m));
        return m;
}

TEST(config) {
        ProxydConfig c;
        _cleanup_free_ char *why = NULL, *dir = make_dir(), *path = NULL;
        const char *w = NULL;

        ASSERT_OK(proxyd_config_init(&c));
        ASSERT_EQ(c.access_log, PROXYD_LOG_NONE);
        ASSERT_DOUBLE_EQ(c.access_log_sampling, 1.0);
        ASSERT_U64_EQ(c.health.interval_usec, 5000000);

        path = strjoin(dir, "/proxyd.conf");
        ASSERT_OK(write_string_file_atomic(path,
                                           "# comment\n\nworkers = 2\nheader_timeout = 1500ms\n"
                                           "access_log = /var/log/zlayer/proxy-access.log\n"
                                           "access_log_sampling = 0.5\n"
                                           "health_interval = 1s\nhealth_timeout = 500ms\n"
                                           "health_unhealthy_threshold = 5\n"
                                           "max_body_size = 1Mi\ncertificates = /etc/zl/certs\n",
                                           0644));
        ASSERT_OK(proxyd_config_load(&c, path, &why));
        ASSERT_EQ(c.proxy.n_workers, 2U);
        ASSERT_U64_EQ(c.proxy.header_timeout_usec, 1500000);
        ASSERT_EQ(c.access_log, PROXYD_LOG_FILE);
        ASSERT_STREQ(c.access_log_path, "/var/log/zlayer/proxy-access.log");
        ASSERT_DOUBLE_EQ(c.access_log_sampling, 0.5);
        ASSERT_U64_EQ(c.health.interval_usec, 1000000);
        ASSERT_U64_EQ(c.health.timeout_usec, 500000);
        ASSERT_EQ(c.health.unhealthy_threshold, 5U);
        ASSERT_U64_EQ(c.proxy.max_body_size, 1048576);
        ASSERT_STREQ(c.certificates, "/etc/zl/certs");

        ASSERT_OK(proxyd_config_set(&c, "access_log", "journal", &w));
        ASSERT_EQ(c.access_log, PROXYD_LOG_JOURNAL);
        ASSERT_NULL(c.access_log_path);
        ASSERT_ERROR(proxyd_config_set(&c, "access_log", "syslog", &w), EINVAL);
        ASSERT_ERROR(proxyd_config_set(&c, "access_log_sampling", "1.5", &w), EINVAL);
        ASSERT_ERROR(proxyd_config_set(&c, "access_log_sampling", "half", &w), EINVAL);
        ASSERT_ERROR(proxyd_config_set(&c, "workers", "65", &w), EINVAL);
        ASSERT_ERROR(proxyd_config_set(&c, "idle_timeout", "30", &w), EINVAL);
        ASSERT_ERROR(proxyd_config_set(&c, "idle_timeout", "0s", &w), EINVAL);
        ASSERT_ERROR(proxyd_config_set(&c, "certificates", "certs", &w), EINVAL);
        ASSERT_ERROR(proxyd_config_set(&c, "colour", "blue", &w), EINVAL);
        ASSERT_STREQ(w, "unknown key");
        proxyd_config_done(&c);

        ASSERT_OK(proxyd_config_init(&c));
        ASSERT_OK(write_string_file_atomic(path, "workers = 1\nretries: 3\n", 0644));
        ASSERT_ERROR(proxyd_config_load(&c, path, &why), EINVAL);
        ASSERT_TRUE(endswith(why, ":2: expected 'key = value'"));
        ASSERT_OK(write_string_file_atomic(path, "health_interval = 1s\nhealth_timeout = 2s\n",
                                           0644));
        ASSERT_ERROR(proxyd_config_load(&c, path, &why), EINVAL);
        ASSERT_TRUE(strstr(why, "health_timeout is longer") != NULL);
        proxyd_config_done(&c);
        ASSERT_ERROR(proxyd_config_load(&c, "/nonexistent/proxyd.conf", NULL), ENOENT);
        remove_dir(dir);
}

/* The data plane's limits: each key reaches ProxyConfig, and a value out of range names the
 * range in the message, with the file and line. */
TEST(config_limits) {
        ProxydConfig c;
        _cleanup_free_ char *dir = make_dir(), *path = NULL;
        const char *w = NULL;

        ASSERT_OK(proxyd_config_init(&c));
        ASSERT_EQ(c.proxy.max_idle_upstreams, 64U);
        ASSERT_U64_EQ(c.proxy.hsts_max_age_sec, 31536000);
        path = strjoin(dir, "/proxyd.conf");
        ASSERT_OK(write_string_file_atomic(path,
                                           "hsts_max_age = 0\nh2_max_concurrent_streams = 7\n"
                                           "udp_idle_timeout = 2s\nudp_max_sessions = 10\n"
                                           "udp_workers = 1\nmax_idle_upstreams = 0\n"
                                           "max_header_size = 8Ki\nmax_headers = 20\n",
                                           0644));
        {
                _cleanup_free_ char *why = NULL;
                ASSERT_OK(proxyd_config_load(&c, path, &why));
        }
        ASSERT_U64_EQ(c.proxy.hsts_max_age_sec, 0);
        ASSERT_EQ(c.proxy.h2_max_concurrent_streams, 7U);
        ASSERT_U64_EQ(c.proxy.udp_idle_timeout_usec, 2000000);
        ASSERT_EQ(c.proxy.udp_max_sessions, 10U);
        ASSERT_EQ(c.proxy.n_udp_workers, 1U);
        ASSERT_EQ(c.proxy.max_idle_upstreams, 0U);
        ASSERT_EQ(c.proxy.max_header_size, 8192U);
        ASSERT_EQ(c.proxy.max_headers, 20U);

        ASSERT_OK(proxyd_config_set(&c, "hsts_max_age", "315360000", &w));
        ASSERT_U64_EQ(c.proxy.hsts_max_age_sec, 315360000);
        ASSERT_ERROR(proxyd_config_set(&c, "hsts_max_age", "315360001", &w), EINVAL);
        ASSERT_STREQ(w, "expected a whole number from 0 to 315360000 (seconds; 0: no header)");
        ASSERT_ERROR(proxyd_config_set(&c, "hsts_max_age", "-1", &w), EINVAL);
        ASSERT_ERROR(proxyd_config_set(&c, "h2_max_concurrent_streams", "0", &w), EINVAL);
        ASSERT_STREQ(w, "expected a whole number from 1 to 1000");
        ASSERT_ERROR(proxyd_config_set(&c, "h2_max_concurrent_streams", "1001", &w), EINVAL);
        ASSERT_ERROR(proxyd_config_set(&c, "udp_idle_timeout", "0s", &w), EINVAL);
        ASSERT_ERROR(proxyd_config_set(&c, "udp_max_sessions", "0", &w), EINVAL);
        ASSERT_ERROR(proxyd_config_set(&c, "udp_workers", "65", &w), EINVAL);
        ASSERT_ERROR(proxyd_config_set(&c, "max_idle_upstreams", "65537", &w), EINVAL);
        ASSERT_STREQ(w, "expected a whole number from 0 to 65536");
        ASSERT_ERROR(proxyd_config_set(&c, "max_idle_upstreams", "4294967296", &w), EINVAL);
        ASSERT_ERROR(proxyd_config_set(&c, "max_header_size", "512", &w), EINVAL);
        ASSERT_ERROR(proxyd_config_set(&c, "max_header_size", "65Ki", &w), EINVAL);
        ASSERT_STREQ(w, "expected a size from 1Ki to 64Ki, such as 16Ki");
        ASSERT_ERROR(proxyd_config_set(&c, "max_headers", "129", &w), EINVAL);
        /* The values refused left the fields alone. */
        ASSERT_EQ(c.proxy.h2_max_concurrent_streams, 7U);
        ASSERT_EQ(c.proxy.max_header_size, 8192U);
        proxyd_config_done(&c);

        ASSERT_OK(proxyd_config_init(&c));
        ASSERT_OK(write_string_file_atomic(
                path, "workers = 1\n# two\nh2_max_concurrent_streams = 5000\n", 0644));
        {
                _cleanup_free_ char *why = NULL, *want = NULL;
                ASSERT_ERROR(proxyd_config_load(&c, path, &why), EINVAL);
                want = strjoin(path, ":3: 'h2_max_concurrent_streams': expected a whole number "
                                     "from 1 to 1000");
                ASSERT_STREQ(why, want);
        }
        proxyd_config_done(&c);
        remove_dir(dir);
}

TEST(owner_names) {
        ASSERT_TRUE(proxyd_owner_is_valid("scheduler"));
        ASSERT_TRUE(proxyd_owner_is_valid("test_1.a-b"));
        ASSERT_FALSE(proxyd_owner_is_valid(""));
        ASSERT_FALSE(proxyd_owner_is_valid(NULL));
        ASSERT_FALSE(proxyd_owner_is_valid("-x"));
        ASSERT_FALSE(proxyd_owner_is_valid(".x"));
        ASSERT_FALSE(proxyd_owner_is_valid("a b"));
        ASSERT_FALSE(proxyd_owner_is_valid("a/b"));
        ASSERT_TRUE(proxyd_owner_is_valid(
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
        ASSERT_FALSE(proxyd_owner_is_valid(
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
}

TEST(owners_merge_atomically_and_persist) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_free_ char *dir = make_dir(), *list = NULL, *saved = NULL;
        _cleanup_strv_free_ char **owners = NULL;
        uint16_t p1 = free_port(), p2 = free_port();
        char a[512], b[512], clash[512], bad[512];
        RouteTableError err = {};
        Proxyd *m;
        int busy;

        ASSERT_OK(sd_event_new(&e));
        m = manager_new(e, dir);
        ASSERT_EQ(proxyd_table(m)->n_routes, 0U);

        snprintf(a, sizeof a,
                 "{\"routes\": [{\"name\": \"web\", \"listen\": \"127.0.0.1:%u\", "
                 "\"backends\": [\"127.0.0.1:9\"]}]}",
                 p1);
        snprintf(b, sizeof b,
                 "{\"routes\": [{\"name\": \"api\", \"listen\": \"127.0.0.1:%u\", \"path\": "
                 "\"/api\", \"backends\": [\"127.0.0.1:9\"], \"health\": {\"type\": \"tcp\", "
                 "\"interval\": 60}}]}",
                 p1);
        ASSERT_ERROR(proxyd_set_routes(m, "bad owner", a, &err), EINVAL);
        ASSERT_OK(proxyd_set_routes(m, "scheduler", a, &err));
        ASSERT_OK(proxyd_set_routes(m, "tests", b, &err));
        ASSERT_EQ(proxyd_table(m)->n_routes, 2U);
        ASSERT_EQ(proxyd_table(m)->n_listeners, 1U);
        ASSERT_STREQ(proxyd_route_owner(m, "web"), "scheduler");
        ASSERT_STREQ(proxyd_route_owner(m, "api"), "tests");
        ASSERT_EQ(health_checker_n_probes(proxyd_health(m)), 1U);
        ASSERT_OK(proxyd_list_owners(m, &owners));
        ASSERT_EQ(strv_length(owners), 2U);
        ASSERT_STREQ(owners[0], "scheduler");
        ASSERT_STREQ(owners[1], "tests");

        /* A name another owner uses: refused, naming the other owner, nothing changes. */
        snprintf(clash, sizeof clash,
                 "{\"routes\": [{\"name\": \"web\", \"listen\": \"127.0.0.1:%u\", "
                 "\"backends\": [\"127.0.0.1:9\"]}]}",
                 p2);
        ASSERT_ERROR(proxyd_set_routes(m, "tests", clash, &err), EINVAL);
        ASSERT_STREQ(err.route, "web");
        ASSERT_TRUE(strstr(err.message, "owner 'scheduler'") != NULL);
        ASSERT_EQ(proxyd_table(m)->n_routes, 2U);
        ASSERT_STREQ(proxyd_route_owner(m, "api"), "tests");

        /* Invalid alone: the error names the owner's own route and field. */
        snprintf(bad, sizeof bad,
                 "{\"routes\": [{\"name\": \"api\", \"listen\": \"127.0.0.1:%u\", "
                 "\"backends\": [{\"address\": \"127.0.0.1:9\", \"weight\": 0}]}]}",
                 p1);
        ASSERT_ERROR(proxyd_set_routes(m, "tests", bad, &err), EINVAL);
        ASSERT_STREQ(err.route, "api");
        ASSERT_STREQ(err.field, "backends[0].weight");
        ASSERT_ERROR(proxyd_set_routes(m, "tests", "{\"routes\": [", &err), EINVAL);
        ASSERT_EQ(proxyd_table(m)->n_routes, 2U);

        /* A listener that cannot be opened: nothing changes either. */
        {
                struct sockaddr_in sa = { .sin_family = AF_INET,
                                          .sin_port = htons(p2),
                                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
                char taken[512];

                busy = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                ASSERT_OK(bind(busy, (struct sockaddr *) &sa, sizeof sa));
                ASSERT_OK(listen(busy, 1));
                snprintf(taken, sizeof taken,
                         "{\"routes\": [{\"name\": \"other\", \"listen\": \"127.0.0.1:%u\", "
                         "\"backends\": [\"127.0.0.1:9\"]}]}",
                         p2);
                ASSERT_ERROR(proxyd_set_routes(m, "tests", taken, &err), EADDRINUSE);
                ASSERT_STREQ(err.route, "other");
                ASSERT_STREQ(err.field, "listen");
                ASSERT_TRUE(startswith(err.message, "cannot listen on 127.0.0.1:"));
                close(busy);
        }
        ASSERT_STREQ(proxyd_route_owner(m, "api"), "tests");
        ASSERT_NULL(proxyd_route_owner(m, "other"));

        ASSERT_OK(proxyd_list_routes(m, &list));
        ASSERT_TRUE(strstr(list, "\"owner\":\"scheduler\"") != NULL);
        ASSERT_TRUE(strstr(list, "\"owner\":\"tests\"") != NULL);
        ASSERT_DOUBLE_EQ(proxyd_route_rate(m, "web"), 0.0);
        ASSERT_DOUBLE_EQ(proxyd_route_rate(m, "nope"), 0.0);

        /* What is on disk is what is served. */
        {
                _cleanup_free_ char *path = strjoin(dir, "/routes.json");
                ASSERT_OK(read_full_file(path, SIZE_MAX, &saved, NULL));
                ASSERT_TRUE(strstr(saved, "\"scheduler\"") != NULL);
                ASSERT_TRUE(strstr(saved, "\"other\"") == NULL);
        }

        ASSERT_ERROR(proxyd_clear_routes(m, "nobody"), ENOENT);
        ASSERT_OK(proxyd_clear_routes(m, "tests"));
        ASSERT_NULL(proxyd_route_owner(m, "api"));
        ASSERT_EQ(health_checker_n_probes(proxyd_health(m)), 0U);
        ASSERT_OK(proxyd_set_routes(m, "tests", b, &err));
        proxyd_free(m);

        /* A restart serves the same routes. */
        m = manager_new(e, dir);
        ASSERT_EQ(proxyd_table(m)->n_routes, 2U);
        ASSERT_STREQ(proxyd_route_owner(m, "web"), "scheduler");
        ASSERT_STREQ(proxyd_route_owner(m, "api"), "tests");
        /* An empty list clears an owner too. */
        ASSERT_OK(proxyd_set_routes(m, "scheduler", "{\"routes\": []}", &err));
        ASSERT_EQ(proxyd_table(m)->n_routes, 1U);
        proxyd_free(m);

        /* A routes file that no longer fits: the owner that cannot be served is left out. */
        {
                _cleanup_free_ char *path = strjoin(dir, "/routes.json");
                char text[1024];

                snprintf(text, sizeof text,
                         "{\"owners\": {\"a\": [{\"name\": \"x\", \"listen\": \"127.0.0.1:%u\", "
                         "\"backends\": [\"127.0.0.1:9\"]}], \"b\": [{\"name\": \"x\", "
                         "\"listen\": \"127.0.0.1:%u\", \"backends\": [\"127.0.0.1:9\"]}], "
                         "\"bad owner\": []}}",
                         p1, p2);
                ASSERT_OK(write_string_file_atomic(path, text, 0600));
                m = manager_new(e, dir);
                ASSERT_EQ(proxyd_table(m)->n_routes, 1U);
                ASSERT_STREQ(proxyd_route_owner(m, "x"), "a");
                proxyd_free(m);
                ASSERT_OK(write_string_file_atomic(path, "not json", 0600));
                m = manager_new(e, dir);
                ASSERT_EQ(proxyd_table(m)->n_routes, 0U);
                proxyd_free(m);
        }
        remove_dir(dir);
}

TEST(access_log_file_through_reload) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_free_ char *dir = make_dir(), *log1 = NULL, *log2 = NULL, *data = NULL;
        ProxydConfig c;
        AccessLogEntry *entry;
        Proxyd *m;

        ASSERT_OK(sd_event_new(&e));
        log1 = strjoin(dir, "/a.log");
        log2 = strjoin(dir, "/b.log");
        ASSERT_OK(proxyd_config_init(&c));
        c.proxy.n_workers = 1;
        c.access_log = PROXYD_LOG_FILE;
        c.access_log_path = strdup(log1);
        ASSERT_OK(proxyd_new(e, &c, dir, NULL, &m));
        proxyd_config_done(&c);

        entry = access_log_reserve(proxyd_access_log(m), 0);
        ASSERT_NOT_NULL(entry);
        *entry = (AccessLogEntry){ .status = 200 };
        snprintf(entry->route, sizeof entry->route, "first");
        access_log_commit(proxyd_access_log(m), 0);
        proxyd_flush_access_log(m);
        ASSERT_OK(read_full_file(log1, SIZE_MAX, &data, NULL));
        ASSERT_TRUE(strstr(data, "\"route\":\"first\"") != NULL);
        data = mfree(data);

        /* Another file and half the requests after a reload. */
        ASSERT_OK(proxyd_config_init(&c));
        c.access_log = PROXYD_LOG_FILE;
        c.access_log_path = strdup(log2);
        c.access_log_sampling = 0.5;
        ASSERT_OK(proxyd_reload(m, &c));
        proxyd_config_done(&c);
        ASSERT_DOUBLE_EQ(access_log_get_sampling(proxyd_access_log(m)), 0.5);
        entry = access_log_reserve(proxyd_access_log(m), 0);
        *entry = (AccessLogEntry){ .status = 201 };
        snprintf(entry->route, sizeof entry->route, "second");
        access_log_commit(proxyd_access_log(m), 0);
        proxyd_flush_access_log(m);
        ASSERT_OK(read_full_file(log2, SIZE_MAX, &data, NULL));
        ASSERT_TRUE(strstr(data, "\"route\":\"second\"") != NULL);
        data = mfree(data);

        /* A file that cannot be opened: the reload fails and the old target stays. */
        ASSERT_OK(proxyd_config_init(&c));
        c.access_log = PROXYD_LOG_FILE;
        c.access_log_path = strdup("/nonexistent-dir/x.log");
        ASSERT_ERROR(proxyd_reload(m, &c), ENOENT);
        proxyd_config_done(&c);
        ASSERT_STREQ(proxyd_config(m)->access_log_path, log2);

        /* Off. */
        ASSERT_OK(proxyd_config_init(&c));
        ASSERT_OK(proxyd_reload(m, &c));
        proxyd_config_done(&c);
        ASSERT_FALSE(access_log_sample(proxyd_access_log(m), 0));
        proxyd_free(m);
        remove_dir(dir);
}
