/* SPDX-License-Identifier: Apache-2.0 */
/* sched-probe.c: health probes of one replica (tcp, http, command) on an sd-event loop. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "sched-probe.h"
#include "string-util.h"
#include "time-util.h"

static inline bool streq_ptr(const char *a, const char *b) {
        return a && b ? streq(a, b) : a == b;
}

static inline uint64_t usec_add_sat(uint64_t a, uint64_t b) {
        return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* The status line is all we read: "HTTP/1.1 200 OK" fits many times over. */
#define HTTP_READ_MAX 1024U

static const char *const check_type_table[_SCHED_CHECK_TYPE_MAX] = {
        [SCHED_CHECK_NONE] = "none",
        [SCHED_CHECK_TCP] = "tcp",
        [SCHED_CHECK_HTTP] = "http",
        [SCHED_CHECK_COMMAND] = "command",
};

const char *sched_check_type_to_string(SchedCheckType t) {
        return t >= 0 && t < _SCHED_CHECK_TYPE_MAX ? check_type_table[t] : NULL;
}

static const char *const health_table[_SCHED_PROBE_HEALTH_MAX] = {
        [SCHED_PROBE_HEALTH_UNKNOWN] = "unknown",
        [SCHED_PROBE_HEALTH_HEALTHY] = "healthy",
        [SCHED_PROBE_HEALTH_UNHEALTHY] = "unhealthy",
};

const char *sched_probe_health_to_string(SchedProbeHealth h) {
        return h >= 0 && h < _SCHED_PROBE_HEALTH_MAX ? health_table[h] : NULL;
}

_printf_(2, 3) static int set_error(char **ret_error, const char *fmt, ...) {
        va_list ap;
        char *s;
        int r;

        if (!ret_error)
                return -EINVAL;
        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        free_and_replace(*ret_error, s);
        return -EINVAL;
}

/* ---- targets ------------------------------------------------------------------------------- */

void sched_check_target_done(SchedCheckTarget *t) {
        if (!t)
                return;
        t->address = mfree(t->address);
        t->host = mfree(t->host);
        t->path = mfree(t->path);
        t->command = mfree(t->command);
}

static bool is_numeric_address(const char *s) {
        struct in6_addr a;

        return s && (inet_pton(AF_INET, s, &a) == 1 || inet_pton(AF_INET6, s, &a) == 1);
}

static int target_set_address(SchedCheckTarget *t, const char *host, unsigned port,
                              const SchedResolver *resolver, char **ret_error) {
        _cleanup_free_ char *resolved = NULL;
        struct sockaddr_storage ss = {};
        const char *ip = host;
        socklen_t len;
        char *text;
        int r;

        if (port < 1 || port > 65535)
                return set_error(ret_error, "port %u is out of range (1-65535)", port);
        if (isempty(host))
                return set_error(ret_error, "no address to probe");
        if (!is_numeric_address(host) && resolver && resolver->resolve) {
                r = resolver->resolve(resolver->userdata, host, &resolved);
                if (r < 0) {
                        int k = set_error(ret_error, "cannot resolve '%s': %s", host, strerror(-r));

                        return k == -ENOMEM ? k : r;
                }
                if (!is_numeric_address(resolved))
                        return set_error(ret_error, "'%s' resolved to '%s', not an address", host,
                                         strna(resolved));
                ip = resolved;
        }
        if (inet_pton(AF_INET, ip, &((struct sockaddr_in *) &ss)->sin_addr) == 1) {
                struct sockaddr_in *sin = (struct sockaddr_in *) &ss;

                sin->sin_family = AF_INET;
                sin->sin_port = htons(port);
                len = sizeof(*sin);
                r = asprintf(&text, "%s:%u", ip, port);
        } else if (inet_pton(AF_INET6, ip, &((struct sockaddr_in6 *) &ss)->sin6_addr) == 1) {
                struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) &ss;

                sin6->sin6_family = AF_INET6;
                sin6->sin6_port = htons(port);
                len = sizeof(*sin6);
                r = asprintf(&text, "[%s]:%u", ip, port);
        } else
                return set_error(ret_error,
                                 "'%s' is not a numeric IPv4 or IPv6 address, and there is no "
                                 "resolver for host names",
                                 ip);
        if (r < 0)
                return -ENOMEM;
        t->addr = ss;
        t->addr_len = len;
        free_and_replace(t->address, text);
        return 0;
}

int sched_check_target_tcp(SchedCheckTarget *t, const char *host, unsigned port,
                           const SchedResolver *resolver, char **ret_error) {
        int r;

        r = target_set_address(t, host, port, resolver, ret_error);
        if (r < 0)
                return r;
        t->type = SCHED_CHECK_TCP;
        return 0;
}

static int target_set_http(SchedCheckTarget *t, const char *ip, unsigned port, const char *host,
                           const char *path, int expect_status, const SchedResolver *resolver,
                           char **ret_error) {
        _cleanup_free_ char *h = NULL, *p = NULL;
        int r;

        if (expect_status != 0 && (expect_status < 100 || expect_status > 599))
                return set_error(ret_error, "expect_status %d is not an HTTP status (100-599)",
                                 expect_status);
        if (isempty(path) || path[0] != '/')
                return set_error(ret_error, "'%s' is not a path starting with '/'", strempty(path));
        for (const char *c = path; *c; c++)
                if ((unsigned char) *c <= ' ' || *c == 0x7f)
                        return set_error(ret_error,
                                         "path '%s' contains spaces or control characters", path);
        h = strdup(host);
        p = strdup(path);
        if (!h || !p)
                return -ENOMEM;
        r = target_set_address(t, ip, port, resolver, ret_error);
        if (r < 0)
                return r;
        t->type = SCHED_CHECK_HTTP;
        t->expect_status = expect_status;
        free_and_replace(t->host, h);
        free_and_replace(t->path, p);
        return 0;
}

int sched_check_target_http_url(SchedCheckTarget *t, const char *url, int expect_status,
                                const SchedResolver *resolver, char **ret_error) {
        _cleanup_free_ char *host = NULL, *ip = NULL;
        const char *rest, *slash, *hp_end, *port_s = NULL;
        unsigned long port = 80;

        if (!url)
                return set_error(ret_error, "no URL");
        if (startswith(url, "https://"))
                return set_error(ret_error,
                                 "'%s': https is not supported by probes, use http or tcp", url);
        rest = startswith(url, "http://");
        if (!rest)
                return set_error(ret_error, "'%s' is not an http:// URL", url);
        slash = strchr(rest, '/');
        hp_end = slash ?: rest + strlen(rest);
        host = strndup(rest, hp_end - rest);
        if (!host)
                return -ENOMEM;
        if (strchr(host, '@'))
                return set_error(ret_error, "'%s': user information in URLs is not supported", url);
        if (host[0] == '[') {
                char *close = strchr(host, ']');

                if (!close)
                        return set_error(ret_error, "'%s': unterminated IPv6 address", url);
                ip = strndup(host + 1, close - host - 1);
                if (*(close + 1) == ':')
                        port_s = close + 2;
                else if (*(close + 1) != '\0')
                        return set_error(ret_error, "'%s': malformed host", url);
        } else {
                char *colon = strchr(host, ':');

                ip = strndup(host, colon ? (size_t) (colon - host) : strlen(host));
                if (colon)
                        port_s = colon + 1;
        }
        if (!ip)
                return -ENOMEM;
        if (port_s) {
                char *end;

                errno = 0;
                port = strtoul(port_s, &end, 10);
                if (errno != 0 || end == port_s || *end || port < 1 || port > 65535)
                        return set_error(ret_error, "'%s': bad port '%s'", url, port_s);
        }
        return target_set_http(t, ip, port, host, slash ?: "/", expect_status, resolver, ret_error);
}

/* ---- one check ----------------------------------------------------------------------------- */

typedef struct ExecToken {
        SchedCheck *check; /* NULL once the check is gone: the token waits for done to free it */
} ExecToken;

struct SchedCheck {
        sd_event *event;
        SchedCheckType type;
        int fd;
        sd_event_source *io;
        sd_event_source *timer;
        sd_event_source *defer;
        char *address;
        char *path;
        int expect_status;
        char *request;
        size_t request_len;
        size_t written;
        bool connected;
        char buf[HTTP_READ_MAX + 1];
        size_t buf_len;
        uint64_t timeout_usec;
        SchedExec exec;
        ExecToken *token;
        bool finished;
        bool ok;
        char *reason;
        SchedCheckDoneFn cb;
        void *userdata;
};

static void check_release_exec(SchedCheck *c) {
        if (!c->token)
                return;
        if (c->exec.cancel) {
                c->exec.cancel(c->exec.userdata, c->token);
                free(c->token);
        } else
                c->token->check = NULL;
        c->token = NULL;
}

static void check_release_io(SchedCheck *c) {
        c->io = sd_event_source_disable_unref(c->io);
        c->timer = sd_event_source_disable_unref(c->timer);
        c->fd = safe_close(c->fd);
        check_release_exec(c);
}

SchedCheck *sched_check_free(SchedCheck *c) {
        if (!c)
                return NULL;
        check_release_io(c);
        c->defer = sd_event_source_disable_unref(c->defer);
        sd_event_unref(c->event);
        free(c->address);
        free(c->path);
        free(c->request);
        free(c->reason);
        return mfree(c);
}

/* Records the outcome and reports it from a defer source, so that callers never see their callback
 * run inside sched_check_start() and an exec that completes synchronously is no special case. */
_printf_(3, 4) static void check_finish(SchedCheck *c, bool ok, const char *fmt, ...) {
        va_list ap;
        char *s;

        if (c->finished)
                return;
        c->finished = true;
        c->ok = ok;
        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                s = NULL;
        va_end(ap);
        c->reason = s;
        check_release_io(c);
        (void) sd_event_source_set_enabled(c->defer, SD_EVENT_ONESHOT);
}

static int check_on_defer(sd_event_source *s, void *userdata) {
        SchedCheck *c = userdata;

        c->cb(c, c->ok, c->reason ?: (c->ok ? "ok" : "out of memory"), c->userdata);
        return 0;
}

static int check_on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        SchedCheck *c = userdata;
        char buf[TIMESPAN_MAX_LEN];

        check_finish(c, false, "timed out after %s",
                     format_timespan(c->timeout_usec, USEC_PER_MSEC, buf, sizeof(buf)));
        return 0;
}

static void check_http_parse(SchedCheck *c, bool eof) {
        char *eol, *p, *end;
        long status;

        c->buf[c->buf_len] = '\0';
        eol = strstr(c->buf, "\r\n") ?: strchr(c->buf, '\n');
        if (!eol) {
                if (eof)
                        check_finish(c, false,
                                     "HTTP: connection to %s closed before a status line (%s)",
                                     c->address, c->path);
                else if (c->buf_len >= HTTP_READ_MAX)
                        check_finish(c, false, "HTTP: status line too long from %s", c->path);
                return;
        }
        *eol = '\0';
        p = startswith(c->buf, "HTTP/1.");
        if (!p || !(p[0] >= '0' && p[0] <= '9') || p[1] != ' ') {
                _cleanup_free_ char *d = string_escape_for_display(c->buf, 64);

                check_finish(c, false, "HTTP: malformed status line '%s' from %s", strna(d),
                             c->path);
                return;
        }
        p += 2;
        errno = 0;
        status = strtol(p, &end, 10);
        if (errno != 0 || end != p + 3 || status < 100 || status > 599 ||
            !(*end == ' ' || *end == '\0' || *end == '\r')) {
                check_finish(c, false, "HTTP: malformed status code from %s", c->path);
                return;
        }
        if (c->expect_status > 0 ? status == c->expect_status : status >= 200 && status < 300)
                check_finish(c, true, "HTTP %ld from %s", status, c->path);
        else
                check_finish(c, false, "HTTP %ld from %s", status, c->path);
}

static int check_on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        SchedCheck *c = userdata;
        int r;

        if (!c->connected) {
                int err = 0;
                socklen_t len = sizeof(err);

                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                        err = errno;
                if (err != 0) {
                        check_finish(c, false, "connect to %s: %s", c->address, strerror(err));
                        return 0;
                }
                c->connected = true;
                if (c->type == SCHED_CHECK_TCP) {
                        check_finish(c, true, "connected to %s", c->address);
                        return 0;
                }
        }

        while (c->written < c->request_len) {
                ssize_t n = send(fd, c->request + c->written, c->request_len - c->written,
                                 MSG_NOSIGNAL);

                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                return 0;
                        check_finish(c, false, "HTTP: sending to %s: %m", c->address);
                        return 0;
                }
                c->written += n;
                if (c->written == c->request_len) {
                        r = sd_event_source_set_io_events(s, EPOLLIN);
                        if (r < 0) {
                                check_finish(c, false, "HTTP: %s", strerror(-r));
                                return 0;
                        }
                        return 0;
                }
        }

        for (;;) {
                ssize_t n = recv(fd, c->buf + c->buf_len, HTTP_READ_MAX - c->buf_len, 0);

                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                return 0;
                        check_finish(c, false, "HTTP: reading from %s: %m", c->address);
                        return 0;
                }
                c->buf_len += n;
                check_http_parse(c, n == 0);
                if (c->finished || n == 0)
                        return 0;
        }
}

static void check_on_exec_done(int r, int exit_status, void *done_userdata) {
        ExecToken *t = done_userdata;
        SchedCheck *c = t->check;
        char buf[TIMESPAN_MAX_LEN];

        free(t);
        if (!c)
                return; /* the check went away while the command ran */
        c->token = NULL;
        if (r == -ETIMEDOUT)
                check_finish(c, false, "timed out after %s",
                             format_timespan(c->timeout_usec, USEC_PER_MSEC, buf, sizeof(buf)));
        else if (r < 0)
                check_finish(c, false, "command failed: %s", strerror(-r));
        else if (exit_status != 0)
                check_finish(c, false, "command exited with status %d", exit_status);
        else
                check_finish(c, true, "command exited with status 0");
}

static int check_start_socket(SchedCheck *c, const SchedCheckTarget *t) {
        int r;

        if (c->type == SCHED_CHECK_HTTP) {
                if (asprintf(&c->request,
                             "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: zlayer-probe\r\n"
                             "Accept: */*\r\nConnection: close\r\n\r\n",
                             t->path, t->host) < 0) {
                        c->request = NULL;
                        return -ENOMEM;
                }
                c->request_len = strlen(c->request);
        }

        c->fd = socket(t->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c->fd < 0)
                return -errno;
        r = sd_event_add_io(c->event, &c->io, c->fd, EPOLLOUT, check_on_io, c);
        if (r < 0)
                return r;
        if (connect(c->fd, (const struct sockaddr *) &t->addr, t->addr_len) < 0 &&
            errno != EINPROGRESS)
                /* Loopback refusals come back at once: a result, not an error of ours. */
                check_finish(c, false, "connect to %s: %m", c->address);
        /* Connected or pending: the socket reports writable once either is known. */
        return 0;
}

int sched_check_start(sd_event *event, const SchedCheckTarget *t, uint64_t timeout_usec,
                      const SchedExec *exec, SchedCheckDoneFn cb, void *userdata,
                      SchedCheck **ret) {
        _cleanup_(sched_check_freep) SchedCheck *c = NULL;
        int r;

        if (!event || !t || !cb || !ret || t->type < 0 || t->type >= _SCHED_CHECK_TYPE_MAX)
                return -EINVAL;
        if (t->type == SCHED_CHECK_COMMAND && (!exec || !exec->exec || isempty(t->command)))
                return -EINVAL;
        if ((t->type == SCHED_CHECK_TCP || t->type == SCHED_CHECK_HTTP) && t->addr_len == 0)
                return -EINVAL;
        if (t->type == SCHED_CHECK_HTTP && (!t->path || !t->host))
                return -EINVAL;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->fd = -EBADF;
        c->event = sd_event_ref(event);
        c->type = t->type;
        c->expect_status = t->expect_status;
        c->timeout_usec = timeout_usec;
        c->cb = cb;
        c->userdata = userdata;
        if (exec)
                c->exec = *exec;
        c->address = strdup(t->address ?: "");
        c->path = strdup(t->path ?: "");
        if (!c->address || !c->path)
                return -ENOMEM;

        r = sd_event_add_defer(event, &c->defer, check_on_defer, c);
        if (r < 0)
                return r;
        r = sd_event_source_set_enabled(c->defer, SD_EVENT_OFF);
        if (r < 0)
                return r;
        if (timeout_usec > 0 && timeout_usec != UINT64_MAX) {
                r = sd_event_add_time_relative(event, &c->timer, CLOCK_MONOTONIC, timeout_usec, 0,
                                               check_on_timeout, c);
                if (r < 0)
                        return r;
        }

        switch (t->type) {
        case SCHED_CHECK_NONE:
                check_finish(c, true, "no health check: a running replica counts as healthy");
                break;
        case SCHED_CHECK_TCP:
        case SCHED_CHECK_HTTP:
                r = check_start_socket(c, t);
                if (r < 0)
                        return r;
                break;
        case SCHED_CHECK_COMMAND: {
                const char *argv[] = { "/bin/sh", "-c", t->command, NULL };

                c->token = calloc(1, sizeof(*c->token));
                if (!c->token)
                        return -ENOMEM;
                c->token->check = c;
                r = c->exec.exec(c->exec.userdata, argv, timeout_usec, check_on_exec_done,
                                 c->token);
                if (r < 0) {
                        if (c->token) {
                                free(c->token);
                                c->token = NULL;
                        }
                        check_finish(c, false, "command could not be started: %s", strerror(-r));
                }
                break;
        }
        default:
                return -EINVAL;
        }

        *ret = TAKE_PTR(c);
        return 0;
}

/* ---- the probe ----------------------------------------------------------------------------- */

struct SchedProbe {
        sd_event *event;
        SchedCheckTarget target;
        char *target_text;
        uint64_t start_grace_usec;
        uint64_t interval_usec;
        uint64_t timeout_usec;
        unsigned threshold;
        SchedExec exec;
        bool running;
        SchedProbeHealth health;
        sd_event_source *timer;
        SchedCheck *check;
        uint64_t check_started;
        bool last_ok;
        char *last_reason;
        unsigned consecutive_failures;
        uint64_t n_checks;
        SchedProbeChangedFn cb;
        void *userdata;
};

static int json_ms(const json_t *o, const char *key, uint64_t def, bool positive, uint64_t *ret,
                   char **ret_error) {
        const json_t *v = json_object_get(o, key);
        json_int_t i;

        if (!v) {
                *ret = def * USEC_PER_MSEC;
                return 0;
        }
        if (!json_is_integer(v))
                return set_error(ret_error, "health.%s: expected a duration in milliseconds", key);
        i = json_integer_value(v);
        if (i < 0 || i > (json_int_t) (UINT64_MAX / USEC_PER_MSEC) || (positive && i == 0))
                return set_error(ret_error,
                                 "health.%s: %" JSON_INTEGER_FORMAT " ms is out of range", key, i);
        *ret = (uint64_t) i * USEC_PER_MSEC;
        return 0;
}

/* The first endpoint (protocols NULL) or the first whose protocol is listed. */
static const json_t *find_endpoint(const json_t *endpoints, const char *const *protocols) {
        size_t i;
        json_t *e;

        json_array_foreach (endpoints, i, e) {
                const char *proto = json_string_value(json_object_get(e, "protocol"));

                if (!protocols)
                        return e;
                for (const char *const *p = protocols; *p; p++)
                        if (streq_ptr(proto, *p))
                                return e;
        }
        return NULL;
}

static int endpoint_target_port(const json_t *e, unsigned *ret, char **ret_error) {
        const json_t *v = json_object_get(e, "target_port") ?: json_object_get(e, "port");

        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 65535)
                return set_error(ret_error, "endpoint '%s' has no valid target_port",
                                 strna(json_string_value(json_object_get(e, "name"))));
        *ret = (unsigned) json_integer_value(v);
        return 0;
}

static int probe_parse_check(SchedProbe *p, const json_t *health, const json_t *endpoints,
                             const char *ip, char **ret_error) {
        const json_t *check = json_object_get(health, "check"), *e;
        const char *type;
        unsigned port;
        int r;

        if (endpoints && !json_is_array(endpoints))
                return set_error(ret_error, "endpoints: expected a list");
        if (!check || json_is_null(check)) {
                e = find_endpoint(endpoints, NULL);
                if (!e) {
                        p->target.type = SCHED_CHECK_NONE;
                        return 0;
                }
                r = endpoint_target_port(e, &port, ret_error);
                if (r < 0)
                        return r;
                return sched_check_target_tcp(&p->target, ip, port, NULL, ret_error);
        }
        if (!json_is_object(check))
                return set_error(ret_error, "health.check: expected an object");

        type = json_string_value(json_object_get(check, "type"));
        if (streq_ptr(type, "tcp")) {
                const json_t *v = json_object_get(check, "port");

                if (v) {
                        if (!json_is_integer(v) || json_integer_value(v) < 1 ||
                            json_integer_value(v) > 65535)
                                return set_error(ret_error,
                                                 "health.check.port: expected a port (1-65535)");
                        port = (unsigned) json_integer_value(v);
                } else {
                        e = find_endpoint(endpoints, NULL);
                        if (!e)
                                return set_error(ret_error,
                                                 "health.check.port: missing, and the service "
                                                 "has no endpoints to take it from");
                        r = endpoint_target_port(e, &port, ret_error);
                        if (r < 0)
                                return r;
                }
                return sched_check_target_tcp(&p->target, ip, port, NULL, ret_error);
        }
        if (streq_ptr(type, "http")) {
                static const char *const http_protocols[] = { "http", "websocket", NULL };
                const char *url = json_string_value(json_object_get(check, "url"));
                const json_t *es = json_object_get(check, "expect_status");
                int expect = 0;

                if (es) {
                        if (!json_is_integer(es) || json_integer_value(es) < 100 ||
                            json_integer_value(es) > 599)
                                return set_error(ret_error,
                                                 "health.check.expect_status: expected an HTTP "
                                                 "status (100-599)");
                        expect = (int) json_integer_value(es);
                }
                if (!url)
                        return set_error(ret_error, "health.check.url: missing or not a string");
                if (url[0] != '/')
                        return sched_check_target_http_url(&p->target, url, expect, NULL,
                                                           ret_error);

                static const char *const https_protocols[] = { "https", NULL };

                e = find_endpoint(endpoints, http_protocols);
                if (!e && find_endpoint(endpoints, https_protocols))
                        return set_error(ret_error,
                                         "health.check.url: '%s' is a path and the service's web "
                                         "endpoints are https, which probes do not speak; use a "
                                         "tcp check",
                                         url);
                if (!e)
                        return set_error(ret_error,
                                         "health.check.url: '%s' is a path, but the service has "
                                         "no http or websocket endpoint to send it to",
                                         url);
                r = endpoint_target_port(e, &port, ret_error);
                if (r < 0)
                        return r;
                {
                        _cleanup_free_ char *host = NULL;
                        bool v6 = ip && strchr(ip, ':');

                        if (asprintf(&host, v6 ? "[%s]:%u" : "%s:%u", strempty(ip), port) < 0)
                                return -ENOMEM;
                        return target_set_http(&p->target, ip, port, host, url, expect, NULL,
                                               ret_error);
                }
        }
        if (streq_ptr(type, "command")) {
                const char *cmd = json_string_value(json_object_get(check, "command"));

                if (isempty(cmd))
                        return set_error(ret_error, "health.check.command: missing or empty");
                if (!p->exec.exec)
                        return set_error(ret_error,
                                         "health.check: command checks need a way to run "
                                         "commands in the container, none was given");
                p->target.command = strdup(cmd);
                if (!p->target.command)
                        return -ENOMEM;
                p->target.type = SCHED_CHECK_COMMAND;
                return 0;
        }
        return set_error(ret_error, "health.check.type: '%s' is not one of tcp, http, command",
                         strna(type));
}

int sched_probe_new(sd_event *event, const json_t *health, const json_t *endpoints, const char *ip,
                    const SchedExec *exec, SchedProbeChangedFn cb, void *userdata, SchedProbe **ret,
                    char **ret_error) {
        _cleanup_(sched_probe_freep) SchedProbe *p = NULL;
        const json_t *retries;
        int r;

        if (!event || !ret)
                return -EINVAL;
        if (health && !json_is_object(health) && !json_is_null(health))
                return set_error(ret_error, "health: expected an object");

        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->event = sd_event_ref(event);
        p->cb = cb;
        p->userdata = userdata;
        p->health = SCHED_PROBE_HEALTH_UNKNOWN;
        if (exec)
                p->exec = *exec;

        r = json_ms(health, "start_grace", 0, false, &p->start_grace_usec, ret_error);
        if (r < 0)
                return r;
        r = json_ms(health, "interval", 10000, true, &p->interval_usec, ret_error);
        if (r < 0)
                return r;
        r = json_ms(health, "timeout", 5000, true, &p->timeout_usec, ret_error);
        if (r < 0)
                return r;
        retries = json_object_get(health, "retries");
        if (retries && (!json_is_integer(retries) || json_integer_value(retries) < 0 ||
                        json_integer_value(retries) > 1000))
                return set_error(ret_error, "health.retries: expected a count (0-1000)");
        p->threshold = MAX(retries ? (unsigned) json_integer_value(retries) : 3U, 1U);

        r = probe_parse_check(p, health, endpoints, ip, ret_error);
        if (r < 0)
                return r;

        switch (p->target.type) {
        case SCHED_CHECK_NONE:
                p->target_text = strdup("none");
                break;
        case SCHED_CHECK_TCP:
                p->target_text = strdup(p->target.address);
                break;
        case SCHED_CHECK_HTTP:
                p->target_text = strjoin("http://", p->target.address, p->target.path);
                break;
        case SCHED_CHECK_COMMAND:
                p->target_text = strdup(p->target.command);
                break;
        default:
                return -EINVAL;
        }
        if (!p->target_text)
                return -ENOMEM;

        *ret = TAKE_PTR(p);
        return 0;
}

void sched_probe_stop(SchedProbe *p) {
        if (!p)
                return;
        p->timer = sd_event_source_disable_unref(p->timer);
        p->check = sched_check_free(p->check);
        p->running = false;
}

SchedProbe *sched_probe_free(SchedProbe *p) {
        if (!p)
                return NULL;
        sched_probe_stop(p);
        sched_check_target_done(&p->target);
        sd_event_unref(p->event);
        free(p->target_text);
        free(p->last_reason);
        return mfree(p);
}

static int probe_on_timer(sd_event_source *s, uint64_t usec, void *userdata);

static int probe_schedule(SchedProbe *p, uint64_t at) {
        if (p->timer) {
                int r = sd_event_source_set_time(p->timer, at);

                if (r < 0)
                        return r;
                return sd_event_source_set_enabled(p->timer, SD_EVENT_ONESHOT);
        }
        return sd_event_add_time(p->event, &p->timer, CLOCK_MONOTONIC, at, 0, probe_on_timer, p);
}

static void probe_on_check_done(SchedCheck *c, bool ok, const char *reason, void *userdata) {
        SchedProbe *p = userdata;
        SchedProbeHealth old = p->health, new = old;
        char *copy;
        uint64_t next, t;
        int r;

        /* reason belongs to c: keep a copy before c goes. */
        copy = strdup(reason);
        free_and_replace(p->last_reason, copy);
        reason = p->last_reason ?: "out of memory";
        p->check = sched_check_free(c);
        p->n_checks++;
        p->last_ok = ok;

        if (ok) {
                p->consecutive_failures = 0;
                new = SCHED_PROBE_HEALTH_HEALTHY;
        } else {
                p->consecutive_failures++;
                if (p->consecutive_failures >= p->threshold)
                        new = SCHED_PROBE_HEALTH_UNHEALTHY;
        }
        p->health = new;

        /* "Nothing to check" does not change: one answer is enough. */
        if (p->target.type != SCHED_CHECK_NONE) {
                t = now(CLOCK_MONOTONIC);
                next = MAX(p->check_started + p->interval_usec, t);
                r = probe_schedule(p, next);
                if (r < 0) {
                        /* Without a timer the probe cannot go on: say so rather than freeze. */
                        p->running = false;
                        new = SCHED_PROBE_HEALTH_UNKNOWN;
                        p->health = new;
                        if (p->cb && new != old)
                                p->cb(p, old, new, "cannot schedule the next check", p->userdata);
                        return;
                }
        }

        if (p->cb && new != old)
                p->cb(p, old, new, reason, p->userdata);
}

static int probe_run_check(SchedProbe *p) {
        p->check_started = now(CLOCK_MONOTONIC);
        return sched_check_start(p->event, &p->target, p->timeout_usec, &p->exec,
                                 probe_on_check_done, p, &p->check);
}

static int probe_on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        SchedProbe *p = userdata;
        int r;

        r = probe_run_check(p);
        if (r < 0) {
                /* Out of sockets or memory: count it as a failed check and try again later. */
                char reason[128];

                (void) snprintf(reason, sizeof(reason), "cannot start check: %s", strerror(-r));
                p->check_started = now(CLOCK_MONOTONIC);
                probe_on_check_done(NULL, false, reason, p);
        }
        return 0;
}

int sched_probe_start(SchedProbe *p) {
        uint64_t grace;
        int r;

        if (!p)
                return -EINVAL;
        if (p->running)
                return -EALREADY;
        p->health = SCHED_PROBE_HEALTH_UNKNOWN;
        p->consecutive_failures = 0;
        grace = p->target.type == SCHED_CHECK_NONE ? 0 : p->start_grace_usec;
        r = probe_schedule(p, usec_add_sat(now(CLOCK_MONOTONIC), grace));
        if (r < 0)
                return r;
        p->running = true;
        return 0;
}

SchedProbeHealth sched_probe_get_health(const SchedProbe *p) {
        return p ? p->health : _SCHED_PROBE_HEALTH_INVALID;
}

SchedCheckType sched_probe_get_type(const SchedProbe *p) {
        return p ? p->target.type : _SCHED_CHECK_TYPE_INVALID;
}

const char *sched_probe_get_target(const SchedProbe *p) {
        return p ? p->target_text : NULL;
}

bool sched_probe_get_last_result(const SchedProbe *p, const char **ret_reason) {
        if (ret_reason)
                *ret_reason = p ? p->last_reason : NULL;
        return p && p->last_ok;
}

unsigned sched_probe_get_consecutive_failures(const SchedProbe *p) {
        return p ? p->consecutive_failures : 0;
}

uint64_t sched_probe_get_n_checks(const SchedProbe *p) {
        return p ? p->n_checks : 0;
}
