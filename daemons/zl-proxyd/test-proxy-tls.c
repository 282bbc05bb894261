/* SPDX-License-Identifier: Apache-2.0 */
/* test-proxy-tls.c: the certificate store, SNI selection, bad certificates, handshakes. */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "fileio.h"
#include "proxy-tls.h"
#include "route-table.h"
#include "tests.h"

typedef struct Pem {
        char *cert;
        char *key;
} Pem;

static void pem_done(Pem *p) {
        free(p->cert);
        free(p->key);
}

static char *bio_text(BIO *b) {
        char *data;
        long n = BIO_get_mem_data(b, &data);
        char *s = strndup(data, (size_t) n);

        ASSERT_NOT_NULL(s);
        return s;
}

/* A self-signed certificate for cn with an EC key, as PEM. */
static Pem pem_new(const char *cn) {
        EVP_PKEY *key = EVP_EC_gen("P-256");
        X509 *x = X509_new();
        BIO *cb = BIO_new(BIO_s_mem()), *kb = BIO_new(BIO_s_mem());
        Pem p;

        ASSERT_NOT_NULL(key);
        ASSERT_NOT_NULL(x);
        ASSERT_TRUE(X509_set_version(x, X509_VERSION_3));
        ASSERT_TRUE(ASN1_INTEGER_set(X509_get_serialNumber(x), 7));
        ASSERT_NOT_NULL(X509_gmtime_adj(X509_getm_notBefore(x), 0));
        ASSERT_NOT_NULL(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
        ASSERT_TRUE(X509_set_pubkey(x, key));
        ASSERT_TRUE(X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
                                               (const unsigned char *) cn, -1, -1, 0));
        ASSERT_TRUE(X509_set_issuer_name(x, X509_get_subject_name(x)));
        ASSERT_TRUE(X509_sign(x, key, EVP_sha256()));
        ASSERT_TRUE(PEM_write_bio_X509(cb, x));
        ASSERT_TRUE(PEM_write_bio_PrivateKey(kb, key, NULL, NULL, 0, NULL, NULL));
        p = (Pem){ bio_text(cb), bio_text(kb) };
        BIO_free(cb);
        BIO_free(kb);
        X509_free(x);
        EVP_PKEY_free(key);
        return p;
}

static void cn_of(X509 *x, char *buf, size_t size) {
        ASSERT_NOT_NULL(x);
        ASSERT_GT(X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, buf,
                                            (int) size),
                  0);
}

/* The CN of the certificate a name gets. */
static const char *selected(ProxyTls *t, const char *name) {
        static char cn[256];
        X509 *x = proxy_tls_select(t, name);

        cn_of(x, cn, sizeof cn);
        X509_free(x);
        return cn;
}

TEST(fallback_is_self_signed_p256) {
        _cleanup_(proxy_tls_freep) ProxyTls *t = NULL;
        X509 *x;
        EVP_PKEY *pub;
        GENERAL_NAMES *sans;
        char name[64];

        ASSERT_ERROR(proxy_tls_new("not a host", &t), EINVAL);
        ASSERT_OK(proxy_tls_new("node1.zlayer.test", &t));
        ASSERT_EQ(proxy_tls_n_certificates(t), 0);
        ASSERT_STREQ(selected(t, "anything.example"), "node1.zlayer.test");
        ASSERT_STREQ(selected(t, NULL), "node1.zlayer.test");

        x = proxy_tls_select(t, NULL);
        pub = X509_get0_pubkey(x);
        ASSERT_EQ(EVP_PKEY_get_base_id(pub), EVP_PKEY_EC);
        ASSERT_TRUE(EVP_PKEY_get_group_name(pub, name, sizeof name, NULL));
        ASSERT_STREQ(name, "prime256v1");
        ASSERT_EQ(X509_check_host(x, "node1.zlayer.test", 0, 0, NULL), 1);
        sans = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
        ASSERT_NOT_NULL(sans);
        ASSERT_EQ(sk_GENERAL_NAME_num(sans), 1);
        GENERAL_NAMES_free(sans);
        /* Self-signed, and valid now. */
        ASSERT_EQ(X509_verify(x, pub), 1);
        ASSERT_LT(X509_cmp_current_time(X509_get0_notBefore(x)), 0);
        ASSERT_GT(X509_cmp_current_time(X509_get0_notAfter(x)), 0);
        X509_free(x);

        /* Without a name, the node's hostname. */
        proxy_tls_free(TAKE_PTR(t));
        ASSERT_OK(proxy_tls_new(NULL, &t));
        ASSERT_NOT_NULL(t);
}

TEST(sni_exact_wildcard_default) {
        _cleanup_(proxy_tls_freep) ProxyTls *t = NULL;
        ProxyTlsError e = {};
        Pem a = pem_new("a.example.com"), w = pem_new("wild"), d = pem_new("default");

        ASSERT_OK(proxy_tls_new("node", &t));
        ASSERT_OK(proxy_tls_add_certificate(t, "A.Example.com", a.cert, a.key, &e));
        ASSERT_OK(proxy_tls_add_certificate(t, "*.example.com", w.cert, w.key, &e));
        ASSERT_EQ(proxy_tls_n_certificates(t), 2);

        ASSERT_STREQ(selected(t, "a.example.com"), "a.example.com");
        ASSERT_STREQ(selected(t, "A.EXAMPLE.COM."), "a.example.com");
        ASSERT_STREQ(selected(t, "b.example.com"), "wild");
        /* A wildcard covers one label, not the domain itself or deeper names. */
        ASSERT_STREQ(selected(t, "example.com"), "node");
        ASSERT_STREQ(selected(t, "x.b.example.com"), "node");
        ASSERT_STREQ(selected(t, "other.test"), "node");

        ASSERT_OK(proxy_tls_add_certificate(t, "*", d.cert, d.key, &e));
        ASSERT_STREQ(selected(t, "other.test"), "default");
        ASSERT_STREQ(selected(t, NULL), "default");
        ASSERT_STREQ(selected(t, "a.example.com"), "a.example.com");

        /* Replacing one name keeps the others. */
        ASSERT_OK(proxy_tls_add_certificate(t, "a.example.com", d.cert, d.key, &e));
        ASSERT_STREQ(selected(t, "a.example.com"), "default");
        ASSERT_EQ(proxy_tls_n_certificates(t), 3);
        pem_done(&a);
        pem_done(&w);
        pem_done(&d);
}

TEST(add_certificate_errors_change_nothing) {
        _cleanup_(proxy_tls_freep) ProxyTls *t = NULL;
        ProxyTlsError e = {};
        Pem a = pem_new("a.test"), b = pem_new("b.test");
        _cleanup_free_ char *truncated = strndup(a.cert, strlen(a.cert) / 2);

        ASSERT_OK(proxy_tls_new("node", &t));
        ASSERT_OK(proxy_tls_add_certificate(t, "a.test", a.cert, a.key, &e));

        ASSERT_ERROR(proxy_tls_add_certificate(t, "a.test", "garbage", a.key, &e), EINVAL);
        ASSERT_NOT_NULL(strstr(e.message, "no PEM certificate"));
        ASSERT_ERROR(proxy_tls_add_certificate(t, "a.test", truncated, a.key, &e), EINVAL);
        e = (ProxyTlsError){};
        ASSERT_ERROR(proxy_tls_add_certificate(t, "a.test", b.cert, "nokey", &e), EINVAL);
        ASSERT_NOT_NULL(strstr(e.message, "private key"));
        e = (ProxyTlsError){};
        ASSERT_ERROR(proxy_tls_add_certificate(t, "a.test", b.cert, a.key, &e), EINVAL);
        ASSERT_NOT_NULL(strstr(e.message, "does not match"));
        ASSERT_ERROR(proxy_tls_add_certificate(t, "bad name", b.cert, b.key, &e), EINVAL);
        ASSERT_NOT_NULL(strstr(e.message, "bad name"));
        ASSERT_ERROR(proxy_tls_add_certificate(t, "*.*.test", b.cert, b.key, &e), EINVAL);
        ASSERT_ERROR(proxy_tls_add_certificate(t, "", b.cert, b.key, &e), EINVAL);
        ASSERT_ERROR(proxy_tls_add_certificate(t, "a.test", NULL, b.key, &e), EINVAL);
        ASSERT_ERROR(proxy_tls_add_certificate(t, "a.test", "garbage", b.key, NULL), EINVAL);
        ASSERT_EQ(proxy_tls_n_certificates(t), 1);
        ASSERT_STREQ(selected(t, "a.test"), "a.test");
        pem_done(&a);
        pem_done(&b);
}

static void write_file(const char *dir, const char *name, const char *data) {
        char path[512];

        snprintf(path, sizeof path, "%s/%s", dir, name);
        ASSERT_OK(write_string_file_atomic(path, data, 0600));
}

TEST(reload_directory) {
        _cleanup_(proxy_tls_freep) ProxyTls *t = NULL;
        ProxyTlsError e = {};
        Pem a = pem_new("a.test"), w = pem_new("wild.test"), d = pem_new("dir-default"),
            x = pem_new("added-a");
        char dir[256], path[512];

        snprintf(dir, sizeof dir, "%s/certs", test_tmpdir());
        ASSERT_OK(mkdir(dir, 0700));
        ASSERT_OK(proxy_tls_new("node", &t));

        ASSERT_ERROR(proxy_tls_reload(t, "/nonexistent/certs", &e), ENOENT);

        write_file(dir, "a.test.crt", a.cert);
        write_file(dir, "a.test.key", a.key);
        write_file(dir, "_wildcard.wild.test.crt", w.cert);
        write_file(dir, "_wildcard.wild.test.key", w.key);
        write_file(dir, "_default.crt", d.cert);
        write_file(dir, "_default.key", d.key);
        write_file(dir, "README", "not a certificate");
        ASSERT_OK(proxy_tls_reload(t, dir, &e));
        ASSERT_EQ(proxy_tls_n_certificates(t), 3);
        ASSERT_STREQ(selected(t, "a.test"), "a.test");
        ASSERT_STREQ(selected(t, "x.wild.test"), "wild.test");
        ASSERT_STREQ(selected(t, "unknown.test"), "dir-default");

        /* An added certificate wins over the directory's, and survives reloads. */
        ASSERT_OK(proxy_tls_add_certificate(t, "a.test", x.cert, x.key, &e));
        ASSERT_STREQ(selected(t, "a.test"), "added-a");
        ASSERT_OK(proxy_tls_reload(t, dir, &e));
        ASSERT_STREQ(selected(t, "a.test"), "added-a");

        /* A bad pair fails the whole reload, naming the file; the store stays. */
        write_file(dir, "b.test.crt", a.cert);
        ASSERT_ERROR(proxy_tls_reload(t, dir, &e), EINVAL);
        ASSERT_NOT_NULL(strstr(e.message, "b.test.key"));
        write_file(dir, "b.test.key", w.key);
        ASSERT_ERROR(proxy_tls_reload(t, dir, &e), EINVAL);
        ASSERT_NOT_NULL(strstr(e.message, "b.test.crt"));
        ASSERT_NOT_NULL(strstr(e.message, "does not match"));
        write_file(dir, "bad_name!.crt", a.cert);
        write_file(dir, "bad_name!.key", a.key);
        snprintf(path, sizeof path, "%s/b.test.crt", dir);
        ASSERT_OK(unlink(path));
        snprintf(path, sizeof path, "%s/b.test.key", dir);
        ASSERT_OK(unlink(path));
        ASSERT_ERROR(proxy_tls_reload(t, dir, &e), EINVAL);
        ASSERT_NOT_NULL(strstr(e.message, "bad_name!"));
        ASSERT_EQ(proxy_tls_n_certificates(t), 3);
        ASSERT_STREQ(selected(t, "x.wild.test"), "wild.test");

        /* Files removed: the next reload drops them. */
        snprintf(path, sizeof path, "%s/bad_name!.crt", dir);
        ASSERT_OK(unlink(path));
        snprintf(path, sizeof path, "%s/_default.crt", dir);
        ASSERT_OK(unlink(path));
        ASSERT_OK(proxy_tls_reload(t, dir, &e));
        ASSERT_STREQ(selected(t, "unknown.test"), "node");
        ASSERT_EQ(proxy_tls_n_certificates(t), 2);
        pem_done(&a);
        pem_done(&w);
        pem_done(&d);
        pem_done(&x);
}

/* ---- handshakes over a socket pair ---- */

typedef struct Pair {
        int fds[2];
        SSL *server, *client;
        SSL_CTX *cctx;
} Pair;

static void pair_done(Pair *p) {
        /* As if closed properly: OpenSSL makes sessions of unclean ends not resumable. */
        if (p->client)
                SSL_set_shutdown(p->client, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
        proxy_tls_session_free(p->server);
        SSL_free(p->client);
        SSL_CTX_free(p->cctx);
        safe_close(p->fds[0]);
        safe_close(p->fds[1]);
        ERR_clear_error();
}

/* Returns 1 when both sides finished, a negative errno from the server side, or -EPROTO when
 * the client failed. */
static int handshake(ProxyTls *t, Pair *p, const char *sni, int max_version, const char *alpn,
                     SSL_SESSION *resume) {
        bool server_done = false, client_done = false;

        *p = (Pair){};
        ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, p->fds));
        p->server = proxy_tls_session_new(t, p->fds[0], 3);
        ASSERT_NOT_NULL(p->server);
        p->cctx = SSL_CTX_new(TLS_client_method());
        ASSERT_NOT_NULL(p->cctx);
        SSL_CTX_set_security_level(p->cctx, 0);
        ASSERT_TRUE(SSL_CTX_set_min_proto_version(p->cctx, TLS1_VERSION));
        ASSERT_TRUE(SSL_CTX_set_max_proto_version(p->cctx, max_version));
        p->client = SSL_new(p->cctx);
        ASSERT_TRUE(SSL_set_fd(p->client, p->fds[1]));
        if (sni)
                ASSERT_TRUE(SSL_set_tlsext_host_name(p->client, sni));
        if (alpn)
                ASSERT_EQ(
                        SSL_set_alpn_protos(p->client, (const unsigned char *) alpn, strlen(alpn)),
                        0);
        if (resume)
                ASSERT_TRUE(SSL_set_session(p->client, resume));
        SSL_set_connect_state(p->client);

        for (int i = 0; i < 100 && !(server_done && client_done); i++) {
                ProxyTlsWant want;
                int r;

                if (!client_done) {
                        r = SSL_do_handshake(p->client);
                        if (r == 1)
                                client_done = true;
                        else if (SSL_get_error(p->client, r) != SSL_ERROR_WANT_READ) {
                                ERR_clear_error();
                                /* Let the server see the alert. */
                                r = proxy_tls_handshake(p->server, &want);
                                return r < 0 ? r : -EPROTO;
                        }
                }
                if (!server_done) {
                        r = proxy_tls_handshake(p->server, &want);
                        if (r < 0)
                                return r;
                        if (r > 0)
                                server_done = true;
                        else
                                ASSERT_EQ(want, PROXY_TLS_WANT_READ);
                }
        }
        ASSERT_TRUE(server_done && client_done);
        return 1;
}

/* Server to client and back, which also delivers TLS 1.3 tickets to the client. */
static void exchange(Pair *p) {
        char buf[64];
        ProxyTlsWant want;
        ssize_t n;

        ASSERT_EQ(proxy_tls_write(p->server, "ping", 4, &want), 4);
        n = SSL_read(p->client, buf, sizeof buf);
        ASSERT_EQ(n, 4);
        ASSERT_EQ(memcmp(buf, "ping", 4), 0);
        ASSERT_EQ(SSL_write(p->client, "pong!", 5), 5);
        n = proxy_tls_read(p->server, buf, sizeof buf, &want);
        ASSERT_EQ(n, 5);
        ASSERT_EQ(proxy_tls_read(p->server, buf, sizeof buf, &want), -EAGAIN);
        ASSERT_EQ(want, PROXY_TLS_WANT_READ);
}

TEST(handshake_sni_alpn_versions) {
        _cleanup_(proxy_tls_freep) ProxyTls *t = NULL;
        ProxyTlsError e = {};
        Pem a = pem_new("a.test");
        Pair p;
        char cn[64];
        X509 *peer;

        ASSERT_OK(proxy_tls_new("node", &t));
        ASSERT_OK(proxy_tls_add_certificate(t, "a.test", a.cert, a.key, &e));
        ASSERT_OK(proxy_tls_prepare(t));
        ASSERT_OK(proxy_tls_prepare(t));

        ASSERT_EQ(handshake(t, &p, "a.test", TLS1_3_VERSION, "\x02h2\x08http/1.1", NULL), 1);
        peer = SSL_get1_peer_certificate(p.client);
        cn_of(peer, cn, sizeof cn);
        ASSERT_STREQ(cn, "a.test");
        X509_free(peer);
        ASSERT_TRUE(proxy_tls_alpn_is_h2(p.server));
        ASSERT_EQ(SSL_version(p.server), TLS1_3_VERSION);
        exchange(&p);
        /* The client closes: a clean end of stream. */
        ASSERT_EQ(SSL_shutdown(p.client), 0);
        {
                char buf[16];
                ProxyTlsWant want;
                ASSERT_EQ(proxy_tls_read(p.server, buf, sizeof buf, &want), 0);
        }
        pair_done(&p);

        /* http/1.1 only, TLS 1.2, unknown name: the fallback. */
        ASSERT_EQ(handshake(t, &p, "b.test", TLS1_2_VERSION, "\x08http/1.1", NULL), 1);
        peer = SSL_get1_peer_certificate(p.client);
        cn_of(peer, cn, sizeof cn);
        ASSERT_STREQ(cn, "node");
        X509_free(peer);
        ASSERT_FALSE(proxy_tls_alpn_is_h2(p.server));
        ASSERT_EQ(SSL_version(p.server), TLS1_2_VERSION);
        exchange(&p);
        pair_done(&p);

        /* No ALPN in common, no ALPN at all: HTTP/1.1. */
        ASSERT_EQ(handshake(t, &p, NULL, TLS1_3_VERSION, "\x06spdy/3", NULL), 1);
        ASSERT_FALSE(proxy_tls_alpn_is_h2(p.server));
        pair_done(&p);

        /* TLS 1.1 and 1.0 are refused. */
        ASSERT_EQ(handshake(t, &p, "a.test", TLS1_1_VERSION, NULL, NULL), -EPROTO);
        pair_done(&p);
        ASSERT_EQ(handshake(t, &p, "a.test", TLS1_VERSION, NULL, NULL), -EPROTO);
        pair_done(&p);
        pem_done(&a);
}

static SSL_SESSION *session_of(ProxyTls *t, int version) {
        SSL_SESSION *s;
        Pair p;

        ASSERT_EQ(handshake(t, &p, "a.test", version, NULL, NULL), 1);
        exchange(&p);
        ASSERT_FALSE(SSL_session_reused(p.client));
        s = SSL_get1_session(p.client);
        ASSERT_NOT_NULL(s);
        ASSERT_TRUE(SSL_SESSION_has_ticket(s));
        pair_done(&p);
        return s;
}

static bool resumes(ProxyTls *t, SSL_SESSION *s, int version) {
        Pair p;
        bool reused;

        ASSERT_EQ(handshake(t, &p, "a.test", version, NULL, s), 1);
        exchange(&p);
        reused = SSL_session_reused(p.client);
        pair_done(&p);
        return reused;
}

TEST(ticket_resumption_and_rotation) {
        _cleanup_(proxy_tls_freep) ProxyTls *t = NULL, *other = NULL;

        ASSERT_OK(proxy_tls_new("node", &t));
        ASSERT_OK(proxy_tls_new("node", &other));
        ASSERT_OK(proxy_tls_prepare(t));
        ASSERT_OK(proxy_tls_prepare(other));
        for (int v = TLS1_2_VERSION; v <= TLS1_3_VERSION; v++) {
                SSL_SESSION *s = session_of(t, v);

                ASSERT_TRUE(resumes(t, s, v));
                /* Another proxy has other keys: a full handshake. */
                ASSERT_FALSE(resumes(other, s, v));
                /* One rotation: the previous key still opens the ticket. */
                ASSERT_OK(proxy_tls_rotate_ticket_keys(t));
                ASSERT_TRUE(resumes(t, s, v));
                /* Two: it is gone. */
                ASSERT_OK(proxy_tls_rotate_ticket_keys(t));
                ASSERT_FALSE(resumes(t, s, v));
                SSL_SESSION_free(s);
        }
}

TEST(session_errors) {
        _cleanup_(proxy_tls_freep) ProxyTls *t = NULL;
        ProxyTlsWant want;
        int fds[2];
        SSL *s;

        ASSERT_OK(proxy_tls_new("node", &t));
        /* Not prepared yet: no sessions. */
        ASSERT_NULL(proxy_tls_session_new(t, 0, 0));
        ASSERT_OK(proxy_tls_prepare(t));
        ASSERT_NULL(proxy_tls_session_new(t, 0, PROXY_TLS_READERS_MAX));

        /* Not TLS at all. */
        ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds));
        s = proxy_tls_session_new(t, fds[0], 0);
        ASSERT_NOT_NULL(s);
        ASSERT_EQ(proxy_tls_handshake(s, &want), 0);
        ASSERT_EQ(want, PROXY_TLS_WANT_READ);
        ASSERT_EQ(write(fds[1], "GET / HTTP/1.1\r\n\r\n", 18), 18);
        ASSERT_EQ(proxy_tls_handshake(s, &want), -EPROTO);
        proxy_tls_session_free(s);
        close(fds[0]);

        /* The peer leaves mid-handshake. */
        ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds + 0));
        s = proxy_tls_session_new(t, fds[0], 0);
        close(fds[1]);
        ASSERT_LT(proxy_tls_handshake(s, &want), 0);
        proxy_tls_shutdown(s);
        proxy_tls_session_free(s);
        close(fds[0]);
}

TEST(https_routes) {
        static const char json[] =
                "{\"routes\": ["
                "{\"name\": \"a\", \"listen\": \"127.0.0.1:8443\", \"protocol\": \"https\", "
                "\"host\": \"*.example.com\", \"path\": \"/api\", \"backends\": [\"127.0.0.1:1\"]},"
                "{\"name\": \"b\", \"listen\": \"127.0.0.1:8443\", \"protocol\": \"https\", "
                "\"backends\": [\"127.0.0.1:2\"]}]}";
        static const char mixed[] =
                "{\"routes\": ["
                "{\"name\": \"a\", \"listen\": \"127.0.0.1:8443\", \"protocol\": \"https\", "
                "\"backends\": [\"127.0.0.1:1\"]},"
                "{\"name\": \"b\", \"listen\": \"127.0.0.1:8443\", \"protocol\": \"http\", "
                "\"path\": \"/x\", \"backends\": [\"127.0.0.1:2\"]}]}";
        _cleanup_(route_table_unrefp) RouteTable *t = NULL;
        RouteTableError e = {};

        ASSERT_EQ(proxy_protocol_from_string("https"), PROXY_PROTOCOL_HTTPS);
        ASSERT_STREQ(proxy_protocol_to_string(PROXY_PROTOCOL_HTTPS), "https");
        ASSERT_TRUE(proxy_protocol_is_http(PROXY_PROTOCOL_HTTPS));
        ASSERT_FALSE(proxy_protocol_is_http(PROXY_PROTOCOL_TCP));

        /* Hosts and paths route as on http listeners. */
        ASSERT_OK(route_table_parse(json, strlen(json), &t, &e));
        ASSERT_EQ(t->n_listeners, 1);
        ASSERT_EQ(t->listeners[0].protocol, PROXY_PROTOCOL_HTTPS);
        ASSERT_STREQ(route_table_match(t, 0, "x.example.com", 13, "/api/v1", 7)->name, "a");
        ASSERT_STREQ(route_table_match(t, 0, "x.example.com", 13, "/web", 4)->name, "b");
        ASSERT_STREQ(route_table_match(t, 0, "other.test", 10, "/api", 4)->name, "b");

        /* One listener, one protocol. */
        route_table_unref(TAKE_PTR(t));
        ASSERT_ERROR(route_table_parse(mixed, strlen(mixed), &t, &e), EINVAL);
        ASSERT_STREQ(e.field, "protocol");
}
