/* SPDX-License-Identifier: Apache-2.0 */
/* registry.c: the OCI distribution pull and push flows over libcurl, with token auth. */
#include <curl/curl.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>

#include "fd-util.h"
#include "log.h"
#include "registry.h"
#include "string-util.h"
#include "time-util.h"

#define ACCEPT_MANIFESTS                                                                           \
        "Accept: " REGISTRY_MEDIA_OCI_MANIFEST ", " REGISTRY_MEDIA_OCI_INDEX                       \
        ", " REGISTRY_MEDIA_DOCKER_MANIFEST ", " REGISTRY_MEDIA_DOCKER_LIST
#define MANIFEST_MAX (4U * 1024U * 1024U)
#define ERROR_BODY_MAX 512U
#define USER_AGENT "zlayer/" PROJECT_VERSION

typedef struct AuthEntry {
        char *host;
        char *scope; /* NULL: a Basic entry valid for every scope of host */
        char *header; /* "Authorization: ..." */
        usec_t expires;
} AuthEntry;

struct RegistryClient {
        char *login_file;
        char **auth_files;
        char **insecure;
        unsigned parallel, retries, backoff_ms;
        char *platform;
        AuthEntry *auth;
        size_t n_auth;
        CURL *easy; /* reused by the sequential requests so connections are kept */
        bool curl_initialized;
};

static bool streq_ptr(const char *a, const char *b) {
        return a && b ? streq(a, b) : a == b;
}

/* Splits s at any of the separators, dropping empty fields. NULL on OOM. */
static char **strv_split(const char *s, const char *separators) {
        _cleanup_strv_free_ char **l = calloc(1, sizeof(char *));

        if (!l)
                return NULL;
        while (*s) {
                size_t n = strcspn(s, separators);
                if (n > 0 && strv_consume(&l, strndup(s, n)) < 0)
                        return NULL;
                s += n;
                s += strspn(s, separators);
        }
        return TAKE_PTR(l);
}

static void curl_slist_free_allp(struct curl_slist **l) {
        if (*l)
                curl_slist_free_all(*l);
}

static char *error_new(const char *name, const char *fmt, ...) _printf_(2, 3);
static char *error_new(const char *name, const char *fmt, ...) {
        _cleanup_free_ char *cause = NULL;
        char *s = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&cause, fmt, ap) < 0)
                cause = NULL;
        va_end(ap);
        if (!cause || asprintf(&s, "%s: %s", name, cause) < 0)
                return NULL;
        return s;
}

/* Stores an error for the caller (first one wins) and passes r through. */
static int fail(char **ret_error, int r, const char *name, const char *fmt, ...) _printf_(4, 5);
static int fail(char **ret_error, int r, const char *name, const char *fmt, ...) {
        _cleanup_free_ char *cause = NULL;
        va_list ap;

        if (!ret_error || *ret_error)
                return r;
        va_start(ap, fmt);
        if (vasprintf(&cause, fmt, ap) < 0)
                cause = NULL;
        va_end(ap);
        if (cause)
                *ret_error = error_new(name, "%s", cause);
        return r;
}

const char *registry_host_platform(void) {
        struct utsname u;

        if (uname(&u) < 0)
                return "linux/amd64";
        if (streq(u.machine, "x86_64"))
                return "linux/amd64";
        if (streq(u.machine, "aarch64"))
                return "linux/arm64/v8";
        if (startswith(u.machine, "armv7"))
                return "linux/arm/v7";
        if (startswith(u.machine, "armv6"))
                return "linux/arm/v6";
        if (streq(u.machine, "i686") || streq(u.machine, "i386"))
                return "linux/386";
        if (streq(u.machine, "ppc64le"))
                return "linux/ppc64le";
        if (streq(u.machine, "s390x"))
                return "linux/s390x";
        if (streq(u.machine, "riscv64"))
                return "linux/riscv64";
        return "linux/amd64";
}

RegistryClient *registry_client_free(RegistryClient *c) {
        if (!c)
                return NULL;
        free(c->login_file);
        strv_free(c->auth_files);
        strv_free(c->insecure);
        free(c->platform);
        for (size_t i = 0; i < c->n_auth; i++) {
                free(c->auth[i].host);
                free(c->auth[i].scope);
                free(c->auth[i].header);
        }
        free(c->auth);
        if (c->easy)
                curl_easy_cleanup(c->easy);
        if (c->curl_initialized)
                curl_global_cleanup();
        return mfree(c);
}

static int strv_copy(char **l, char ***ret) {
        _cleanup_strv_free_ char **n = calloc(1, sizeof(char *));

        if (!n)
                return -ENOMEM;
        for (char **s = l; s && *s; s++)
                if (strv_extend(&n, *s) < 0)
                        return -ENOMEM;
        *ret = TAKE_PTR(n);
        return 0;
}

int registry_client_new(const RegistryOptions *o, RegistryClient **ret) {
        _cleanup_(registry_client_freep) RegistryClient *c = NULL;
        static const RegistryOptions defaults = {};
        int r;

        assert(ret);
        if (!o)
                o = &defaults;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        /* counted, and thread-safe in the curl we require (7.84+); balanced in _free() */
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                return -ENOMEM;
        c->curl_initialized = true;
        c->parallel = o->parallel ?: 4;
        c->retries = o->retries ?: 3;
        c->backoff_ms = o->backoff_ms ?: 250;
        c->platform = strdup(o->platform ?: registry_host_platform());
        if (!c->platform)
                return -ENOMEM;
        if (strchr(c->platform, '/') == NULL)
                return -EINVAL;
        if (o->login_file) {
                c->login_file = strdup(o->login_file);
                if (!c->login_file)
                        return -ENOMEM;
        }
        if (o->auth_files)
                r = strv_copy(o->auth_files, &c->auth_files);
        else {
                _cleanup_strv_free_ char **l = NULL;
                const char *home = getenv("HOME"), *xdg = getenv("XDG_RUNTIME_DIR");

                if (home && strv_consume(&l, strjoin(home, "/.docker/config.json")) < 0)
                        return -ENOMEM;
                if (xdg && strv_consume(&l, strjoin(xdg, "/containers/auth.json")) < 0)
                        return -ENOMEM;
                if (strv_extend(&l, "/run/containers/0/auth.json") < 0)
                        return -ENOMEM;
                c->auth_files = TAKE_PTR(l);
                r = 0;
        }
        if (r < 0)
                return r;
        r = strv_copy(o->insecure, &c->insecure);
        if (r < 0)
                return r;
        c->easy = curl_easy_init();
        if (!c->easy)
                return -ENOMEM;
        *ret = TAKE_PTR(c);
        return 0;
}

RegistryImage *registry_image_free(RegistryImage *i) {
        if (!i)
                return NULL;
        free(i->name);
        free(i->index_digest);
        free(i->manifest);
        free(i->manifest_digest);
        free(i->media_type);
        free(i->config_desc.media_type);
        free(i->config_desc.digest);
        free(i->config);
        for (size_t k = 0; k < i->n_layers; k++) {
                free(i->layers[k].media_type);
                free(i->layers[k].digest);
        }
        free(i->layers);
        return mfree(i);
}

/* ---- hosts and URLs ---------------------------------------------------------------------- */

static bool host_is_loopback(const char *host) {
        _cleanup_free_ char *h = NULL;
        const char *end;

        if (host[0] == '[') {
                end = strchr(host, ']');
                if (!end)
                        return false;
                h = strndup(host + 1, (size_t) (end - host - 1));
        } else {
                end = strchr(host, ':');
                h = end ? strndup(host, (size_t) (end - host)) : strdup(host);
        }
        if (!h)
                return false;
        return streq(h, "localhost") || startswith(h, "127.") || streq(h, "::1");
}

static const char *api_host(const char *domain) {
        return streq(domain, "docker.io") ? "registry-1.docker.io" : domain;
}

static bool plain_http_allowed(RegistryClient *c, const char *domain) {
        return host_is_loopback(domain) || strv_contains(c->insecure, domain);
}

static char *base_url(RegistryClient *c, const char *domain) {
        return strjoin(plain_http_allowed(c, domain) ? "http://" : "https://", api_host(domain));
}

static bool digest_is_sha256(const char *d) {
        const char *hex = d ? startswith(d, "sha256:") : NULL;

        if (!hex || strlen(hex) != 64)
                return false;
        return strspn(hex, "0123456789abcdef") == 64;
}

static void sha256_format(const unsigned char md[32], char ret[72]) {
        memcpy(ret, "sha256:", 7);
        for (size_t i = 0; i < 32; i++)
                snprintf(ret + 7 + i * 2, 3, "%02x", md[i]);
}

static int sha256_buf(const void *p, size_t n, char ret[72]) {
        unsigned char md[32];
        unsigned len = 0;

        if (EVP_Digest(p, n, md, &len, EVP_sha256(), NULL) != 1 || len != 32)
                return -EIO;
        sha256_format(md, ret);
        return 0;
}

/* ---- one HTTP exchange --------------------------------------------------------------------- */

typedef struct Body {
        const char *mem;
        int fd;
        uint64_t offset, size, pos;
} Body;

typedef struct Response {
        long status;
        char *body;
        size_t size, max;
        char *content_type, *digest, *location, *www_auth, *content_range;
        bool too_big;
        CURLcode code;
        char errbuf[CURL_ERROR_SIZE];
} Response;

static void response_done(Response *r) {
        free(r->body);
        free(r->content_type);
        free(r->digest);
        free(r->location);
        free(r->www_auth);
        free(r->content_range);
        *r = (Response){};
}

static size_t on_body(char *p, size_t sz, size_t n, void *userdata) {
        Response *r = userdata;
        size_t len = sz * n;

        if (r->size + len > r->max) {
                r->too_big = true; /* larger than any document we accept: abort the transfer */
                return 0;
        }
        char *b = realloc(r->body, r->size + len + 1);
        if (!b)
                return 0;
        memcpy(b + r->size, p, len);
        r->body = b;
        r->size += len;
        r->body[r->size] = '\0';
        return len;
}

static int header_value(const char *line, size_t len, const char *name, char **ret) {
        size_t nl = strlen(name);

        if (len <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
                return 0;
        char *v = strndup(line + nl + 1, len - nl - 1);
        if (!v)
                return -ENOMEM;
        strstrip(v);
        free(*ret);
        *ret = v;
        return 1;
}

static size_t on_header(char *p, size_t sz, size_t n, void *userdata) {
        Response *r = userdata;
        size_t len = sz * n;

        if (len >= 5 && strneq(p, "HTTP/", 5)) {
                /* a new response (after a redirect): forget the previous one's headers */
                r->content_type = mfree(r->content_type);
                r->digest = mfree(r->digest);
                r->location = mfree(r->location);
                r->www_auth = mfree(r->www_auth);
                r->content_range = mfree(r->content_range);
                return len;
        }
        if (header_value(p, len, "Content-Type", &r->content_type) < 0 ||
            header_value(p, len, "Docker-Content-Digest", &r->digest) < 0 ||
            header_value(p, len, "Location", &r->location) < 0 ||
            header_value(p, len, "WWW-Authenticate", &r->www_auth) < 0 ||
            header_value(p, len, "Content-Range", &r->content_range) < 0)
                return 0;
        return len;
}

static size_t on_read(char *p, size_t sz, size_t n, void *userdata) {
        Body *b = userdata;
        size_t want = MIN(sz * n, (size_t) (b->size - b->pos));

        if (want == 0)
                return 0;
        if (b->mem)
                memcpy(p, b->mem + b->offset + b->pos, want);
        else {
                ssize_t k = pread(b->fd, p, want, (off_t) (b->offset + b->pos));
                if (k <= 0)
                        return CURL_READFUNC_ABORT;
                want = (size_t) k;
        }
        b->pos += want;
        return want;
}

static void easy_common(CURL *e) {
        curl_easy_setopt(e, CURLOPT_USERAGENT, USER_AGENT);
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(e, CURLOPT_MAXREDIRS, 10L);
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 30L);
        /* a stalled transfer (under 1 KiB/s for 60 s) is a network error, and retried */
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1024L);
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, 60L);
}

static void http_once(RegistryClient *c, const char *method, const char *url,
                      struct curl_slist *headers, Body *body, size_t max, Response *resp) {
        CURL *e = c->easy;
        Body empty = { .fd = -EBADF };

        curl_easy_reset(e);
        easy_common(e);
        *resp = (Response){ .max = max };
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, resp);
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(e, CURLOPT_HEADERDATA, resp);
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, resp->errbuf);
        if (streq(method, "HEAD"))
                curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
        else if (streq(method, "POST")) {
                curl_easy_setopt(e, CURLOPT_POST, 1L);
                curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) 0);
                curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
        } else if (streq(method, "PUT") || streq(method, "PATCH")) {
                Body *b = body ?: &empty;

                b->pos = 0;
                curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
                curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
                curl_easy_setopt(e, CURLOPT_READDATA, b);
                curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t) b->size);
                if (streq(method, "PATCH"))
                        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PATCH");
        }
        resp->code = curl_easy_perform(e);
        if (resp->code == CURLE_OK)
                curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &resp->status);
}

/* ---- authentication -------------------------------------------------------------------------- */

static int credentials(RegistryClient *c, const char *domain, char **ret) {
        int r;

        if (c->login_file) {
                r = registry_auth_lookup_file(c->login_file, true, domain, ret);
                if (r != -ENOENT)
                        return r;
        }
        for (char **f = c->auth_files; f && *f; f++) {
                r = registry_auth_lookup_file(*f, false, domain, ret);
                if (r >= 0)
                        return r;
                if (r != -ENOENT)
                        log_debug_errno(r, "Failed to read credentials from '%s', ignoring: %m",
                                        *f);
        }
        return -ENOENT;
}

static char *basic_header(const char *userpass) {
        size_t n = strlen(userpass);
        _cleanup_free_ char *b64 = malloc(4 * DIV_ROUND_UP(n, 3) + 1);

        if (!b64)
                return NULL;
        EVP_EncodeBlock((unsigned char *) b64, (const unsigned char *) userpass, (int) n);
        return strjoin("Authorization: Basic ", b64);
}

static const char *auth_find(RegistryClient *c, const char *domain, const char *scope) {
        usec_t t = now(CLOCK_MONOTONIC);

        for (size_t i = 0; i < c->n_auth; i++) {
                AuthEntry *a = c->auth + i;
                if (!streq(a->host, domain) || a->expires <= t)
                        continue;
                if (!a->scope || streq(a->scope, scope))
                        return a->header;
        }
        return NULL;
}

static int auth_store(RegistryClient *c, const char *domain, const char *scope, char *header,
                      usec_t expires) {
        _cleanup_free_ char *h = header;

        for (size_t i = 0; i < c->n_auth; i++) {
                AuthEntry *a = c->auth + i;
                if (streq(a->host, domain) && streq_ptr(a->scope, scope)) {
                        free_and_replace(a->header, h);
                        a->expires = expires;
                        return 0;
                }
        }
        AuthEntry *n = reallocarray(c->auth, c->n_auth + 1, sizeof(AuthEntry));
        if (!n)
                return -ENOMEM;
        c->auth = n;
        n[c->n_auth] = (AuthEntry){ .host = strdup(domain),
                                    .scope = scope ? strdup(scope) : NULL,
                                    .header = TAKE_PTR(h),
                                    .expires = expires };
        c->n_auth++;
        if (!n[c->n_auth - 1].host || (scope && !n[c->n_auth - 1].scope))
                return -ENOMEM;
        return 0;
}

static int url_add_param(CURL *e, char **url, const char *key, const char *value) {
        _cleanup_free_ char *v = NULL;
        char *esc = curl_easy_escape(e, value, 0);

        if (!esc)
                return -ENOMEM;
        v = strdup(esc);
        curl_free(esc);
        if (!v)
                return -ENOMEM;
        return strextend(url, strchr(*url, '?') ? "&" : "?", key, "=", v);
}

/* Answers a 401 challenge so that the next attempt carries credentials. */
static int authenticate(RegistryClient *c, const char *name, const char *domain, const char *scope,
                        const char *www_auth, char **ret_error) {
        _cleanup_(registry_challenge_done) RegistryChallenge ch = {};
        _cleanup_free_ char *userpass = NULL, *url = NULL;
        _cleanup_(curl_slist_free_allp) struct curl_slist *headers = NULL;
        int r;

        if (!www_auth)
                return fail(ret_error, -EACCES, name, "401 unauthorized without a challenge");
        r = registry_challenge_parse(www_auth, &ch);
        if (r < 0)
                return fail(ret_error, -EPROTO, name, "malformed WWW-Authenticate header '%s'",
                            www_auth);
        r = credentials(c, domain, &userpass);
        if (r < 0 && r != -ENOENT)
                return fail(ret_error, r, name, "cannot read credentials for %s: %s", domain,
                            strerror(-r));

        if (streq(ch.scheme, "basic")) {
                if (!userpass)
                        return fail(ret_error, -EACCES, name,
                                    "authentication required, and no credentials for %s", domain);
                char *h = basic_header(userpass);
                if (!h)
                        return -ENOMEM;
                return auth_store(c, domain, NULL, h, USEC_INFINITY);
        }
        if (!streq(ch.scheme, "bearer"))
                return fail(ret_error, -EPROTONOSUPPORT, name,
                            "unsupported authentication scheme '%s'", ch.scheme);
        if (!ch.realm || !(startswith(ch.realm, "https://") || startswith(ch.realm, "http://")))
                return fail(ret_error, -EPROTO, name, "bearer challenge without a usable realm");
        /* credentials travel in clear only where the registry itself is allowed plain HTTP */
        if (userpass && startswith(ch.realm, "http://") && !plain_http_allowed(c, domain))
                return fail(ret_error, -EACCES, name,
                            "refusing to send credentials to plain-HTTP token server %s", ch.realm);

        url = strdup(ch.realm);
        if (!url)
                return -ENOMEM;
        if (ch.service && url_add_param(c->easy, &url, "service", ch.service) < 0)
                return -ENOMEM;
        /* what we need, plus what the registry asked for if that differs */
        _cleanup_strv_free_ char **scopes = strv_split(scope, " ");
        if (!scopes)
                return -ENOMEM;
        if (ch.scope && !strv_contains(scopes, ch.scope) && strv_extend(&scopes, ch.scope) < 0)
                return -ENOMEM;
        for (char **s = scopes; *s; s++)
                if (url_add_param(c->easy, &url, "scope", *s) < 0)
                        return -ENOMEM;
        if (userpass) {
                _cleanup_free_ char *h = basic_header(userpass);
                if (!h)
                        return -ENOMEM;
                headers = curl_slist_append(NULL, h);
                if (!headers)
                        return -ENOMEM;
        }

        for (unsigned attempt = 0;; attempt++) {
                _cleanup_(response_done) Response resp = {};

                http_once(c, "GET", url, headers, NULL, 1024 * 1024, &resp);
                if (resp.code == CURLE_OK && resp.status == 200) {
                        _cleanup_(json_decrefp) json_t *j =
                                json_loadb(resp.body ?: "", resp.size, 0, NULL);
                        const char *tok =
                                json_string_value(json_object_get(j, "token"))
                                        ?: json_string_value(json_object_get(j, "access_token"));
                        json_int_t exp = json_integer_value(json_object_get(j, "expires_in"));
                        if (!tok || isempty(tok))
                                return fail(ret_error, -EPROTO, name,
                                            "token server %s returned no token", ch.realm);
                        /* the spec's default lifetime is 60 s; renew a little early */
                        usec_t life = (exp > 0 ? (usec_t) exp : 60) * USEC_PER_SEC;
                        char *h = strjoin("Authorization: Bearer ", tok);
                        if (!h)
                                return -ENOMEM;
                        return auth_store(c, domain, scope, h,
                                          now(CLOCK_MONOTONIC) + life -
                                                  MIN(life / 10, 10 * USEC_PER_SEC));
                }
                if (resp.code == CURLE_OK && (resp.status == 401 || resp.status == 403))
                        return fail(ret_error, -EACCES, name,
                                    userpass ? "token server %s refused the credentials (wrong "
                                               "user name or password?)"
                                             : "token server %s requires credentials",
                                    ch.realm);
                bool retriable = resp.code != CURLE_OK || resp.status >= 500 || resp.status == 429;
                if (!retriable || attempt >= c->retries)
                        return fail(ret_error, -EIO, name, "token server %s failed: %s", ch.realm,
                                    resp.code != CURLE_OK ? resp.errbuf : "unexpected status");
                usleep((useconds_t) c->backoff_ms * 1000U << MIN(attempt, 6U));
        }
}

/* A request against the registry API: adds credentials, answers challenges, retries 5xx and
 * network errors with backoff. Returns the final response (any status) or an error. */
static int request(RegistryClient *c, const char *name, const char *domain, const char *scope,
                   const char *method, const char *url, const char *extra_header, Body *body,
                   size_t max, Response *ret, char **ret_error) {
        bool auth_tried = false;
        int r;

        for (unsigned attempt = 0;;) {
                _cleanup_(curl_slist_free_allp) struct curl_slist *headers = NULL;
                _cleanup_(response_done) Response resp = {};
                const char *auth = auth_find(c, domain, scope);

                if (auth && !(headers = curl_slist_append(headers, auth)))
                        return -ENOMEM;
                if (extra_header) {
                        struct curl_slist *l = curl_slist_append(headers, extra_header);
                        if (!l)
                                return -ENOMEM;
                        headers = l;
                }
                http_once(c, method, url, headers, body, max, &resp);
                if (resp.code == CURLE_OK && resp.status == 401) {
                        if (auth_tried)
                                return fail(ret_error, -EACCES, name,
                                            "401 unauthorized: the registry refused the "
                                            "credentials (wrong user name or password?)");
                        auth_tried = true;
                        r = authenticate(c, name, domain, scope, resp.www_auth, ret_error);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (resp.code == CURLE_WRITE_ERROR && resp.too_big)
                        return fail(ret_error, -EFBIG, name,
                                    "%s %s: response larger than %zu bytes", method, url, max);
                bool retriable = resp.code != CURLE_OK || resp.status >= 500 || resp.status == 429;
                if (!retriable) {
                        *ret = resp;
                        resp = (Response){};
                        return 0;
                }
                if (attempt >= c->retries) {
                        if (resp.code != CURLE_OK)
                                return fail(ret_error, -EIO, name, "%s %s failed: %s", method, url,
                                            resp.errbuf[0] ? resp.errbuf
                                                           : curl_easy_strerror(resp.code));
                        return fail(ret_error, -EIO, name,
                                    "%s %s failed with HTTP %ld after %u tries", method, url,
                                    resp.status, attempt + 1);
                }
                if (resp.code != CURLE_OK)
                        log_debug("%s %s failed (%s), retrying", method, url,
                                  curl_easy_strerror(resp.code));
                else
                        log_debug("%s %s failed (HTTP %ld), retrying", method, url, resp.status);
                usleep((useconds_t) c->backoff_ms * 1000U << MIN(attempt, 6U));
                attempt++;
        }
}

static char *scope_pull(const ImageRef *ref) {
        return strjoin("repository:", ref->path, ":pull");
}

/* Maps a final status to an error: registries describe errors in a JSON body. */
static int status_error(const Response *resp, const char *what, char *name, char **ret_error) {
        _cleanup_(json_decrefp) json_t *j =
                resp->body ? json_loadb(resp->body, resp->size, 0, NULL) : NULL;
        const char *msg = json_string_value(
                json_object_get(json_array_get(json_object_get(j, "errors"), 0), "message"));
        int r = resp->status == 404 ? -ENOENT : resp->status == 403 ? -EACCES : -EIO;

        return fail(ret_error, r, name, "%s: HTTP %ld%s%s", what, resp->status, msg ? ": " : "",
                    strempty(msg));
}

/* ---- resolve --------------------------------------------------------------------------------- */

static bool media_is_index(const char *m) {
        return streq(m, REGISTRY_MEDIA_OCI_INDEX) || streq(m, REGISTRY_MEDIA_DOCKER_LIST);
}

static bool media_is_manifest(const char *m) {
        return streq(m, REGISTRY_MEDIA_OCI_MANIFEST) || streq(m, REGISTRY_MEDIA_DOCKER_MANIFEST);
}

static int platform_split(const char *p, char **os, char **arch, char **variant) {
        _cleanup_strv_free_ char **l = strv_split(p, "/");

        if (!l)
                return -ENOMEM;
        size_t n = strv_length(l);
        if (n < 2 || n > 3)
                return -EINVAL;
        *os = strdup(l[0]);
        *arch = strdup(l[1]);
        *variant = n == 3 ? strdup(l[2]) : NULL;
        if (!*os || !*arch || (n == 3 && !*variant))
                return -ENOMEM;
        return 0;
}

int registry_index_pick(const char *index_json, const char *platform, char **ret_digest,
                        char **ret_available) {
        _cleanup_free_ char *os = NULL, *arch = NULL, *variant = NULL, *avail = NULL;
        _cleanup_(json_decrefp) json_t *j = NULL;
        const char *best = NULL;
        int best_score = -1, r;
        size_t i;
        json_t *m;

        r = platform_split(platform, &os, &arch, &variant);
        if (r < 0)
                return r;
        j = json_loads(index_json, 0, NULL);
        json_t *ms = json_object_get(j, "manifests");
        if (!json_is_array(ms))
                return -EBADMSG;
        json_array_foreach (ms, i, m) {
                json_t *p = json_object_get(m, "platform");
                const char *mos = json_string_value(json_object_get(p, "os"));
                const char *march = json_string_value(json_object_get(p, "architecture"));
                const char *mvar = json_string_value(json_object_get(p, "variant"));
                const char *d = json_string_value(json_object_get(m, "digest"));

                if (!mos || !march || !d)
                        continue; /* e.g. attestation manifests have "unknown" or no platform */
                if (!streq(mos, "unknown") &&
                    strextendf(&avail, "%s%s/%s%s%s", avail ? ", " : "", mos, march,
                               mvar ? "/" : "", strempty(mvar)) < 0)
                        return -ENOMEM;
                if (!streq(mos, os) || !streq(march, arch))
                        continue;
                /* arm64 images usually omit the default variant v8 */
                const char *v = mvar ?: (streq(march, "arm64") ? "v8" : NULL);
                int score;
                if (variant && v && !streq(variant, v))
                        continue;
                score = variant && v ? 2 : 1;
                if (score > best_score) {
                        best_score = score;
                        best = d;
                }
        }
        if (!best) {
                if (ret_available)
                        *ret_available = avail ? TAKE_PTR(avail) : strdup("nothing");
                return -ENOENT;
        }
        if (!digest_is_sha256(best))
                return -EBADMSG;
        char *d = strdup(best);
        if (!d)
                return -ENOMEM;
        *ret_digest = d;
        return 0;
}

static char *ref_url(RegistryClient *c, const ImageRef *ref, const char *kind, const char *what) {
        _cleanup_free_ char *base = base_url(c, ref->domain);

        if (!base)
                return NULL;
        return strjoin(base, "/v2/", ref->path, "/", kind, "/", what);
}

/* GETs a manifest or index and checks it against the expected digest (if reference is one) or
 * the registry's Docker-Content-Digest. */
static int fetch_manifest(RegistryClient *c, const ImageRef *ref, char *name, const char *reference,
                          char **ret_body, size_t *ret_size, char **ret_type, char **ret_digest,
                          char **ret_error) {
        _cleanup_(response_done) Response resp = {};
        _cleanup_free_ char *url = ref_url(c, ref, "manifests", reference),
                            *scope = scope_pull(ref);
        char digest[72];
        int r;

        if (!url || !scope)
                return -ENOMEM;
        r = request(c, name, ref->domain, scope, "GET", url, ACCEPT_MANIFESTS, NULL, MANIFEST_MAX,
                    &resp, ret_error);
        if (r < 0)
                return r;
        if (resp.status != 200)
                return status_error(&resp, resp.status == 404 ? "manifest unknown" : "manifest",
                                    name, ret_error);
        if (sha256_buf(resp.body ?: "", resp.size, digest) < 0)
                return -EIO;
        const char *want = digest_is_sha256(reference)     ? reference
                           : digest_is_sha256(resp.digest) ? resp.digest
                                                           : NULL;
        if (want && !streq(want, digest))
                return fail(ret_error, -EBADMSG, name,
                            "manifest digest mismatch: expected %s, got %s", want, digest);

        _cleanup_free_ char *type = NULL;
        if (resp.content_type) {
                type = strndup(resp.content_type, strcspn(resp.content_type, "; "));
                if (!type)
                        return -ENOMEM;
        }
        if (!type || streq(type, "application/json") || streq(type, "application/octet-stream")) {
                _cleanup_(json_decrefp) json_t *j = json_loadb(resp.body ?: "", resp.size, 0, NULL);
                const char *mt = json_string_value(json_object_get(j, "mediaType"));
                if (!mt)
                        return fail(ret_error, -EPROTONOSUPPORT, name,
                                    "manifest without a media type");
                free(type);
                type = strdup(mt);
                if (!type)
                        return -ENOMEM;
        }
        if (!media_is_index(type) && !media_is_manifest(type))
                return fail(ret_error, -EPROTONOSUPPORT, name, "unknown manifest media type '%s'",
                            type);

        *ret_type = TAKE_PTR(type);
        *ret_digest = strdup(digest);
        if (!*ret_digest)
                return -ENOMEM;
        *ret_body = resp.body ?: strdup("");
        resp.body = NULL;
        *ret_size = resp.size;
        return 0;
}

static int descriptor_parse(json_t *j, RegistryDescriptor *d) {
        const char *mt = json_string_value(json_object_get(j, "mediaType"));
        const char *digest = json_string_value(json_object_get(j, "digest"));
        json_t *size = json_object_get(j, "size");

        if (!mt || !digest_is_sha256(digest) || !json_is_integer(size) ||
            json_integer_value(size) < 0)
                return -EBADMSG;
        d->media_type = strdup(mt);
        d->digest = strdup(digest);
        d->size = (uint64_t) json_integer_value(size);
        if (!d->media_type || !d->digest)
                return -ENOMEM;
        return 0;
}

static int fetch_small_blob(RegistryClient *c, const ImageRef *ref, char *name,
                            const RegistryDescriptor *d, char **ret, size_t *ret_size,
                            char **ret_error) {
        _cleanup_(response_done) Response resp = {};
        _cleanup_free_ char *url = ref_url(c, ref, "blobs", d->digest), *scope = scope_pull(ref);
        char digest[72];
        int r;

        if (!url || !scope)
                return -ENOMEM;
        if (d->size > MANIFEST_MAX)
                return fail(ret_error, -EFBIG, name, "config blob of %" PRIu64 " bytes", d->size);
        r = request(c, name, ref->domain, scope, "GET", url, NULL, NULL, MANIFEST_MAX, &resp,
                    ret_error);
        if (r < 0)
                return r;
        if (resp.status != 200)
                return status_error(&resp, "config blob", name, ret_error);
        if (sha256_buf(resp.body ?: "", resp.size, digest) < 0)
                return -EIO;
        if (!streq(digest, d->digest))
                return fail(ret_error, -EBADMSG, name,
                            "config digest mismatch: expected %s, got %s", d->digest, digest);
        *ret = resp.body ?: strdup("");
        resp.body = NULL;
        *ret_size = resp.size;
        return *ret ? 0 : -ENOMEM;
}

int registry_resolve(RegistryClient *c, const ImageRef *ref, RegistryImage **ret,
                     char **ret_error) {
        _cleanup_(registry_image_freep) RegistryImage *img = NULL;
        _cleanup_free_ char *body = NULL, *type = NULL, *digest = NULL, *err = NULL;
        size_t size;
        int r;

        assert(c);
        assert(ref);
        assert(ret);

        img = calloc(1, sizeof(*img));
        if (!img)
                return -ENOMEM;
        img->name = image_ref_to_string(ref);
        if (!img->name)
                return -ENOMEM;

        r = fetch_manifest(c, ref, img->name, ref->digest ?: ref->tag ?: "latest", &body, &size,
                           &type, &digest, &err);
        if (r >= 0 && media_is_index(type)) {
                _cleanup_free_ char *pick = NULL, *avail = NULL;

                r = registry_index_pick(body, c->platform, &pick, &avail);
                if (r == -ENOENT)
                        r = fail(&err, r, img->name, "no manifest for platform %s (available: %s)",
                                 c->platform, avail);
                else if (r == -EBADMSG)
                        r = fail(&err, r, img->name, "malformed image index");
                if (r >= 0) {
                        img->index_digest = TAKE_PTR(digest);
                        body = mfree(body);
                        type = mfree(type);
                        r = fetch_manifest(c, ref, img->name, pick, &body, &size, &type, &digest,
                                           &err);
                }
                if (r >= 0 && !media_is_manifest(type))
                        r = fail(&err, -EBADMSG, img->name, "index entry %s is not a manifest",
                                 pick);
        }
        if (r < 0) {
                if (ret_error)
                        *ret_error = TAKE_PTR(err);
                return r;
        }

        _cleanup_(json_decrefp) json_t *j = json_loadb(body, size, 0, NULL);
        json_t *layers = json_object_get(j, "layers"), *l;
        size_t i;
        if (!j || !json_is_array(layers) ||
            descriptor_parse(json_object_get(j, "config"), &img->config_desc) < 0)
                return fail(ret_error, -EBADMSG, img->name, "malformed %s manifest", type);
        img->layers = calloc(MAX(json_array_size(layers), 1U), sizeof(RegistryDescriptor));
        if (!img->layers)
                return -ENOMEM;
        json_array_foreach (layers, i, l) {
                r = descriptor_parse(l, img->layers + i);
                img->n_layers = i + 1;
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return fail(ret_error, r, img->name, "malformed layer %zu in manifest", i);
        }
        img->manifest = TAKE_PTR(body);
        img->manifest_size = size;
        img->manifest_digest = TAKE_PTR(digest);
        img->media_type = TAKE_PTR(type);

        r = fetch_small_blob(c, ref, img->name, &img->config_desc, &img->config, &img->config_size,
                             ret_error);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(img);
        return 0;
}

/* ---- parallel blob downloads ------------------------------------------------------------------
 */

#define BLOB_BUFFER_SIZE (256L * 1024L)
#define BLOB_WRITEBACK_CHUNK (8U * 1024U * 1024U)

typedef enum BlobState {
        BLOB_QUEUED,
        BLOB_ACTIVE,
        BLOB_DONE,
        BLOB_FAILED,
} BlobState;

typedef struct Blob {
        const char *digest;
        char partial[80], final[72];
        uint64_t size; /* expected, 0: unknown */
        int fd;
        EVP_MD_CTX *md;
        uint64_t offset; /* bytes in the partial file, all hashed */
        uint64_t total;
        CURL *easy;
        struct curl_slist *headers;
        BlobState state;
        unsigned attempts;
        bool auth_tried, started, failed_write, too_large;
        usec_t not_before;
        Response resp; /* headers, and the body of an error response */
        RegistryProgress progress;
        void *userdata;
} Blob;

static void blob_done(Blob *b) {
        if (b->easy)
                curl_easy_cleanup(b->easy);
        b->easy = NULL;
        curl_slist_free_all(b->headers);
        b->headers = NULL;
        response_done(&b->resp);
        b->fd = safe_close(b->fd);
        if (b->md)
                EVP_MD_CTX_free(b->md);
        b->md = NULL;
}

/* Hashes what an earlier attempt left, so the download continues from there. */
static int blob_open(Blob *b, int dir_fd) {
        unsigned char buf[64 * 1024];
        struct stat st;

        b->fd = openat(dir_fd, b->partial, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (b->fd < 0)
                return -errno;
        if (fstat(b->fd, &st) < 0)
                return -errno;
        b->md = EVP_MD_CTX_new();
        if (!b->md || EVP_DigestInit_ex(b->md, EVP_sha256(), NULL) != 1)
                return -ENOMEM;
        b->offset = 0;
        if (b->size > 0 && (uint64_t) st.st_size > b->size) {
                if (ftruncate(b->fd, 0) < 0)
                        return -errno;
                return 0;
        }
        for (;;) {
                ssize_t n = read(b->fd, buf, sizeof buf);
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                if (EVP_DigestUpdate(b->md, buf, (size_t) n) != 1)
                        return -EIO;
                b->offset += (uint64_t) n;
        }
        return 0;
}

static int blob_restart(Blob *b) {
        if (ftruncate(b->fd, 0) < 0 || lseek(b->fd, 0, SEEK_SET) < 0)
                return -errno;
        if (EVP_DigestInit_ex(b->md, EVP_sha256(), NULL) != 1)
                return -EIO;
        b->offset = 0;
        return 0;
}

static size_t blob_on_header(char *p, size_t sz, size_t n, void *userdata) {
        Blob *b = userdata;

        if (sz * n >= 5 && strneq(p, "HTTP/", 5))
                b->started = false;
        return on_header(p, sz, n, &b->resp);
}

static bool range_starts_at(const char *content_range, uint64_t offset) {
        char want[48];
        const char *p = content_range ? startswith(content_range, "bytes ") : NULL;

        snprintf(want, sizeof want, "%" PRIu64 "-", offset);
        return p && startswith(p, want);
}

static size_t blob_on_write(char *p, size_t sz, size_t n, void *userdata) {
        Blob *b = userdata;
        size_t len = sz * n;
        long status = 0;

        curl_easy_getinfo(b->easy, CURLINFO_RESPONSE_CODE, &status);
        if (status != 200 && status != 206) {
                b->resp.max = ERROR_BODY_MAX;
                (void) on_body(p, sz, MIN(n, ERROR_BODY_MAX - MIN(b->resp.size, ERROR_BODY_MAX)),
                               &b->resp);
                return len;
        }
        if (!b->started) {
                b->started = true;
                /* a server ignoring our Range sends everything again */
                if (status == 200 && b->offset > 0 && blob_restart(b) < 0) {
                        b->failed_write = true;
                        return 0;
                }
                /* a range other than the one we asked for cannot be appended: start over */
                if (status == 206 && !range_starts_at(b->resp.content_range, b->offset)) {
                        if (blob_restart(b) < 0)
                                b->failed_write = true;
                        return 0;
                }
        }
        if (b->size > 0 && b->offset + len > b->size) {
                b->failed_write = b->too_large = true; /* longer than the manifest says */
                return 0;
        }
        if (loop_write(b->fd, p, len) < 0 || EVP_DigestUpdate(b->md, p, len) != 1) {
                b->failed_write = true;
                return 0;
        }
        /* Writeback starts as the data arrives, so the fdatasync() before the rename finds
         * little left to write instead of stalling every transfer for the whole blob. */
        if ((b->offset + len) / BLOB_WRITEBACK_CHUNK != b->offset / BLOB_WRITEBACK_CHUNK)
                (void) sync_file_range(
                        b->fd, (off_t) (b->offset / BLOB_WRITEBACK_CHUNK * BLOB_WRITEBACK_CHUNK),
                        (off_t) BLOB_WRITEBACK_CHUNK, SYNC_FILE_RANGE_WRITE);
        b->offset += len;
        if (b->progress)
                b->progress(b->digest, b->offset, b->size, b->userdata);
        return len;
}

static int blob_start(RegistryClient *c, const ImageRef *ref, Blob *b, const char *url,
                      const char *scope, CURLM *multi) {
        const char *auth = auth_find(c, ref->domain, scope);
        char range[64];

        response_done(&b->resp);
        b->resp.max = ERROR_BODY_MAX;
        b->started = b->failed_write = b->too_large = false;
        b->easy = curl_easy_init();
        if (!b->easy)
                return -ENOMEM;
        easy_common(b->easy);
        if (auth && !(b->headers = curl_slist_append(NULL, auth)))
                return -ENOMEM;
        curl_easy_setopt(b->easy, CURLOPT_URL, url);
        curl_easy_setopt(b->easy, CURLOPT_HTTPHEADER, b->headers);
        /* Blobs are large: fewer, larger reads and writes (curl's default is 16 KiB). */
        curl_easy_setopt(b->easy, CURLOPT_BUFFERSIZE, BLOB_BUFFER_SIZE);
        curl_easy_setopt(b->easy, CURLOPT_WRITEFUNCTION, blob_on_write);
        curl_easy_setopt(b->easy, CURLOPT_WRITEDATA, b);
        curl_easy_setopt(b->easy, CURLOPT_HEADERFUNCTION, blob_on_header);
        curl_easy_setopt(b->easy, CURLOPT_HEADERDATA, b);
        curl_easy_setopt(b->easy, CURLOPT_ERRORBUFFER, b->resp.errbuf);
        curl_easy_setopt(b->easy, CURLOPT_PRIVATE, b);
        if (b->offset > 0) {
                snprintf(range, sizeof range, "%" PRIu64 "-", b->offset);
                curl_easy_setopt(b->easy, CURLOPT_RANGE, range);
        }
        if (lseek(b->fd, (off_t) b->offset, SEEK_SET) < 0)
                return -errno;
        if (curl_multi_add_handle(multi, b->easy) != CURLM_OK)
                return -ENOMEM;
        b->state = BLOB_ACTIVE;
        return 0;
}

/* Decides what a finished transfer means: done, retry later, or a final error. */
static int blob_finish(RegistryClient *c, const ImageRef *ref, char *name, Blob *b, CURLcode code,
                       int dir_fd, const char *scope, char **ret_error) {
        long status = 0;
        int r;

        curl_easy_getinfo(b->easy, CURLINFO_RESPONSE_CODE, &status);
        b->state = BLOB_QUEUED;
        b->not_before = 0;

        if (code == CURLE_OK && (status == 200 || status == 206)) {
                unsigned char md[32];
                char got[72];

                if (b->size > 0 && b->offset != b->size)
                        return fail(ret_error, -EBADMSG, name,
                                    "blob %s: size mismatch: expected %" PRIu64 ", got %" PRIu64,
                                    b->digest, b->size, b->offset);
                if (EVP_DigestFinal_ex(b->md, md, NULL) != 1)
                        return -EIO;
                sha256_format(md, got);
                if (!streq(got, b->digest)) {
                        (void) unlinkat(dir_fd, b->partial, 0);
                        return fail(ret_error, -EBADMSG, name,
                                    "blob digest mismatch: expected %s, got %s", b->digest, got);
                }
                if (fdatasync(b->fd) < 0)
                        return -errno;
                if (renameat(dir_fd, b->partial, dir_fd, b->final) < 0)
                        return -errno;
                b->state = BLOB_DONE;
                return 0;
        }
        if (code == CURLE_OK && status == 401 && !b->auth_tried) {
                b->auth_tried = true;
                return authenticate(c, name, ref->domain, scope, b->resp.www_auth, ret_error);
        }
        if (code == CURLE_OK && status == 401)
                return fail(ret_error, -EACCES, name, "blob %s: 401 unauthorized", b->digest);
        if (code == CURLE_OK && status == 416 && b->offset > 0) {
                /* our partial file does not fit what the registry has: start over */
                r = blob_restart(b);
                if (r < 0)
                        return r;
        } else if (code == CURLE_OK && status < 500 && status != 429) {
                b->resp.status = status;
                return status_error(&b->resp, status == 404 ? "blob unknown" : "blob", name,
                                    ret_error);
        } else if (b->failed_write && code == CURLE_WRITE_ERROR) {
                if (b->too_large) {
                        (void) unlinkat(dir_fd, b->partial, 0);
                        return fail(ret_error, -EBADMSG, name,
                                    "blob %s is larger than %" PRIu64 " bytes", b->digest, b->size);
                }
                return fail(ret_error, -EIO, name, "blob %s: cannot write the partial file",
                            b->digest);
        }

        if (b->attempts >= c->retries)
                return fail(ret_error, -EIO, name, "blob %s: %s after %u tries", b->digest,
                            code != CURLE_OK ? (b->resp.errbuf[0] ? b->resp.errbuf
                                                                  : curl_easy_strerror(code))
                                             : "server error",
                            b->attempts + 1);
        b->not_before = now(CLOCK_MONOTONIC) +
                        (usec_t) c->backoff_ms * USEC_PER_MSEC * (1U << MIN(b->attempts, 6U));
        b->attempts++;
        log_debug("%s: blob %s: transfer failed (%s, HTTP %ld), retrying from byte %" PRIu64, name,
                  b->digest, code != CURLE_OK ? curl_easy_strerror(code) : "server error", status,
                  b->offset);
        return 0;
}

int registry_fetch_blobs(RegistryClient *c, const ImageRef *ref, const char *const *digests,
                         const uint64_t *sizes, int dir_fd, RegistryProgress progress,
                         void *userdata, char **ret_error) {
        _cleanup_free_ char *name = NULL, *scope = NULL, *err = NULL;
        _cleanup_free_ Blob *blobs = NULL;
        size_t n = 0, remaining = 0;
        CURLM *multi = NULL;
        int r = 0;

        assert(c);
        assert(ref);
        assert(digests);

        name = image_ref_to_string(ref);
        scope = scope_pull(ref);
        if (!name || !scope)
                return -ENOMEM;
        while (digests[n])
                n++;
        blobs = calloc(MAX(n, 1U), sizeof(Blob));
        if (!blobs)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                Blob *b = blobs + i;

                b->fd = -EBADF;
                b->digest = digests[i];
                b->size = sizes ? sizes[i] : 0;
                b->progress = progress;
                b->userdata = userdata;
                if (!digest_is_sha256(b->digest)) {
                        r = fail(&err, -EINVAL, name, "unsupported blob digest '%s'", b->digest);
                        goto finish;
                }
                snprintf(b->final, sizeof b->final, "%s", b->digest + 7);
                snprintf(b->partial, sizeof b->partial, "%s.partial", b->digest + 7);
                if (faccessat(dir_fd, b->final, F_OK, AT_SYMLINK_NOFOLLOW) >= 0) {
                        b->state = BLOB_DONE;
                        continue;
                }
                r = blob_open(b, dir_fd);
                if (r < 0) {
                        r = fail(&err, r, name, "blob %s: cannot open partial file: %s", b->digest,
                                 strerror(-r));
                        goto finish;
                }
                remaining++;
        }

        multi = curl_multi_init();
        if (!multi) {
                r = -ENOMEM;
                goto finish;
        }
        while (remaining > 0) {
                size_t active = 0;
                usec_t t = now(CLOCK_MONOTONIC), next = USEC_INFINITY;
                int running, msgs;
                CURLMsg *m;

                for (size_t i = 0; i < n; i++)
                        if (blobs[i].state == BLOB_ACTIVE)
                                active++;
                for (size_t i = 0; i < n && active < c->parallel; i++) {
                        Blob *b = blobs + i;
                        _cleanup_free_ char *url = NULL;

                        if (b->state != BLOB_QUEUED)
                                continue;
                        if (b->not_before > t) {
                                next = MIN(next, b->not_before);
                                continue;
                        }
                        url = ref_url(c, ref, "blobs", b->digest);
                        if (!url) {
                                r = -ENOMEM;
                                goto finish;
                        }
                        r = blob_start(c, ref, b, url, scope, multi);
                        if (r < 0)
                                goto finish;
                        active++;
                }

                if (curl_multi_perform(multi, &running) != CURLM_OK) {
                        r = -EIO;
                        goto finish;
                }
                while ((m = curl_multi_info_read(multi, &msgs))) {
                        Blob *b = NULL;

                        if (m->msg != CURLMSG_DONE)
                                continue;
                        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **) &b);
                        curl_multi_remove_handle(multi, b->easy);
                        r = blob_finish(c, ref, name, b, m->data.result, dir_fd, scope, &err);
                        curl_easy_cleanup(b->easy);
                        b->easy = NULL;
                        curl_slist_free_all(b->headers);
                        b->headers = NULL;
                        if (r < 0) {
                                b->state = BLOB_FAILED;
                                goto finish;
                        }
                        if (b->state == BLOB_DONE) {
                                blob_done(b);
                                remaining--;
                        }
                }
                if (remaining == 0)
                        break;
                /* wake for transfers, or when the next delayed retry is due */
                long timeout = 1000;
                if (next != USEC_INFINITY)
                        timeout = (long) MIN(
                                (next - MIN(next, now(CLOCK_MONOTONIC))) / USEC_PER_MSEC + 1,
                                1000U);
                if (curl_multi_poll(multi, NULL, 0, (int) timeout, NULL) != CURLM_OK) {
                        r = -EIO;
                        goto finish;
                }
        }
        r = 0;

finish:
        for (size_t i = 0; i < n; i++) {
                if (blobs[i].easy && multi)
                        curl_multi_remove_handle(multi, blobs[i].easy);
                blob_done(blobs + i);
        }
        if (multi)
                curl_multi_cleanup(multi);
        if (r < 0 && ret_error)
                *ret_error = TAKE_PTR(err);
        return r;
}

/* ---- push -------------------------------------------------------------------------------------
 */

static int absolute_location(RegistryClient *c, const ImageRef *ref, const char *loc, char **ret) {
        if (!loc)
                return -EPROTO;
        if (startswith(loc, "http://") || startswith(loc, "https://"))
                *ret = strdup(loc);
        else {
                _cleanup_free_ char *base = base_url(c, ref->domain);
                *ret = base ? strjoin(base, loc[0] == '/' ? "" : "/", loc) : NULL;
        }
        return *ret ? 0 : -ENOMEM;
}

static int push_blob(RegistryClient *c, const ImageRef *ref, char *name, const char *scope,
                     int dir_fd, const RegistryDescriptor *d, const RegistryPushOptions *o,
                     char **ret_error) {
        _cleanup_free_ char *url = ref_url(c, ref, "blobs", d->digest), *loc = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        int r;

        if (!url)
                return -ENOMEM;
        {
                _cleanup_(response_done) Response resp = {};
                r = request(c, name, ref->domain, scope, "HEAD", url, NULL, NULL, 0, &resp,
                            ret_error);
                if (r < 0)
                        return r;
                if (resp.status == 200)
                        return 0;
        }

        fd = openat(dir_fd, d->digest + 7, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return fail(ret_error, -errno, name, "blob %s: %m", d->digest);
        if (fstat(fd, &st) < 0)
                return -errno;
        if ((uint64_t) st.st_size != d->size)
                return fail(ret_error, -EBADMSG, name,
                            "blob %s: local size %" PRIu64 " differs from the manifest's %" PRIu64,
                            d->digest, (uint64_t) st.st_size, d->size);

        {
                _cleanup_(response_done) Response resp = {};
                _cleanup_free_ char *start = ref_url(c, ref, "blobs", "uploads/");
                if (!start)
                        return -ENOMEM;
                if (o && o->mount_from) {
                        if (url_add_param(c->easy, &start, "mount", d->digest) < 0 ||
                            url_add_param(c->easy, &start, "from", o->mount_from) < 0)
                                return -ENOMEM;
                }
                r = request(c, name, ref->domain, scope, "POST", start, NULL, NULL, ERROR_BODY_MAX,
                            &resp, ret_error);
                if (r < 0)
                        return r;
                if (resp.status == 201)
                        return 0; /* mounted */
                if (resp.status != 202)
                        return status_error(&resp, "starting blob upload", name, ret_error);
                r = absolute_location(c, ref, resp.location, &loc);
                if (r < 0)
                        return fail(ret_error, r, name, "upload without a Location");
        }

        uint64_t chunk = o && o->chunk_size > 0 ? o->chunk_size : d->size;
        uint64_t off = 0;
        if (o && o->chunk_size > 0)
                while (off < d->size) {
                        _cleanup_(response_done) Response resp = {};
                        uint64_t len = MIN(chunk, d->size - off);
                        Body body = { .fd = fd, .offset = off, .size = len };
                        char range[96];

                        snprintf(range, sizeof range, "Content-Range: %" PRIu64 "-%" PRIu64, off,
                                 off + len - 1);
                        r = request(c, name, ref->domain, scope, "PATCH", loc, range, &body,
                                    ERROR_BODY_MAX, &resp, ret_error);
                        if (r < 0)
                                return r;
                        if (resp.status != 202)
                                return status_error(&resp, "blob chunk upload", name, ret_error);
                        free(loc);
                        loc = NULL;
                        r = absolute_location(c, ref, resp.location, &loc);
                        if (r < 0)
                                return fail(ret_error, r, name, "chunk upload without a Location");
                        off += len;
                }

        Body body = { .fd = fd, .offset = off, .size = d->size - off };
        _cleanup_(response_done) Response resp = {};
        if (url_add_param(c->easy, &loc, "digest", d->digest) < 0)
                return -ENOMEM;
        r = request(c, name, ref->domain, scope, "PUT", loc,
                    "Content-Type: application/octet-stream", &body, ERROR_BODY_MAX, &resp,
                    ret_error);
        if (r < 0)
                return r;
        if (resp.status != 201)
                return status_error(&resp, "blob upload", name, ret_error);
        return 0;
}

int registry_push(RegistryClient *c, const ImageRef *ref, int dir_fd, const char *manifest,
                  size_t manifest_size, const char *media_type, const RegistryPushOptions *o,
                  char **ret_digest, char **ret_error) {
        _cleanup_free_ char *name = NULL, *scope = NULL, *url = NULL, *ctype = NULL;
        _cleanup_(json_decrefp) json_t *j = NULL;
        RegistryDescriptor d = {};
        char digest[72];
        json_t *l;
        size_t i;
        int r;

        assert(c);
        assert(ref);
        assert(manifest);
        assert(media_type);

        name = image_ref_to_string(ref);
        if (!name)
                return -ENOMEM;
        if (!media_is_manifest(media_type))
                return fail(ret_error, -EPROTONOSUPPORT, name, "cannot push media type '%s'",
                            media_type);
        scope = strjoin("repository:", ref->path, ":pull,push");
        if (!scope)
                return -ENOMEM;
        if (o && o->mount_from && strextend(&scope, " repository:", o->mount_from, ":pull") < 0)
                return -ENOMEM;

        j = json_loadb(manifest, manifest_size, 0, NULL);
        if (!j || !json_is_array(json_object_get(j, "layers")))
                return fail(ret_error, -EBADMSG, name, "malformed manifest");
        if (sha256_buf(manifest, manifest_size, digest) < 0)
                return -EIO;
        if (ref->digest && !streq(ref->digest, digest))
                return fail(ret_error, -EBADMSG, name,
                            "manifest digest mismatch: expected %s, got %s", ref->digest, digest);

        /* the config first, then the layers: the registry checks the manifest against both */
        json_t *layers = json_object_get(j, "layers");
        for (i = 0; i <= json_array_size(layers); i++) {
                l = i == 0 ? json_object_get(j, "config") : json_array_get(layers, i - 1);
                r = descriptor_parse(l, &d);
                if (r >= 0)
                        r = push_blob(c, ref, name, scope, dir_fd, &d, o, ret_error);
                else if (r != -ENOMEM)
                        r = fail(ret_error, r, name, "malformed descriptor in manifest");
                free(d.media_type);
                free(d.digest);
                d = (RegistryDescriptor){};
                if (r < 0)
                        return r;
        }

        url = ref_url(c, ref, "manifests", ref->tag ?: digest);
        ctype = strjoin("Content-Type: ", media_type);
        if (!url || !ctype)
                return -ENOMEM;
        Body body = { .mem = manifest, .fd = -EBADF, .size = manifest_size };
        _cleanup_(response_done) Response resp = {};
        r = request(c, name, ref->domain, scope, "PUT", url, ctype, &body, ERROR_BODY_MAX, &resp,
                    ret_error);
        if (r < 0)
                return r;
        if (resp.status != 201)
                return status_error(&resp, "manifest upload", name, ret_error);
        if (ret_digest) {
                *ret_digest = strdup(digest);
                if (!*ret_digest)
                        return -ENOMEM;
        }
        return 0;
}
