/* SPDX-License-Identifier: Apache-2.0 */
/* proxy-tls.c: TLS for client connections: certificates by SNI, tickets, non-blocking I/O. */
#include <ctype.h>
#include <dirent.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "hostname-util.h"
#include "proxy-tls-module.h"
#include "proxy-tls.h"

#define PEM_SIZE_MAX (1U << 20)
#define HOST_MAX 253U

/* One name's certificate. host is lower case: "a.example.com", "*.example.com" or "*". */
typedef struct TlsCert {
        char *host;
        X509 *cert;
        EVP_PKEY *key;
        STACK_OF(X509) * chain;
} TlsCert;

/* An immutable snapshot: certs sorted by host. */
typedef struct TlsStore {
        TlsCert *certs;
        size_t n_certs;
        const TlsCert *fallback; /* the configured "*", or TlsContext.self_signed */
} TlsStore;

typedef struct TicketKey {
        unsigned char name[16];
        unsigned char aes[32];
        unsigned char hmac[32];
        uint64_t created_usec;
        bool valid;
} TicketKey;

struct TlsContext {
        /* Made by tls_prepare(), when the first https listener opens: until then no
         * OpenSSL state (and none of its memory) is needed. */
        SSL_CTX *ctx;
        TlsCert self_signed;
        char *fallback_host; /* NULL: the hostname */

        /* The published store. A handshake announces the store it reads in its hazard slot
         * and clears the slot when it has taken what it needs (references to the certificate),
         * so a replaced store is freed once no slot names it. */
        _Atomic(TlsStore *) current;
        _Atomic(TlsStore *) hazards[PROXY_TLS_READERS_MAX];

        pthread_mutex_t lock; /* the control side: the two lists below and publishing */
        TlsCert *dir_certs;
        size_t n_dir_certs;
        TlsCert *added;
        size_t n_added;

        pthread_mutex_t ticket_lock;
        TicketKey keys[2]; /* current, previous */
};

static int reader_index = -1;
static BIO_METHOD *bio_method;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000U + (uint64_t) ts.tv_nsec / 1000U;
}

static void fail(ProxyTlsError *e, const char *fmt, ...) _printf_(2, 3);
static void fail(ProxyTlsError *e, const char *fmt, ...) {
        va_list ap;

        ERR_clear_error();
        if (!e)
                return;
        va_start(ap, fmt);
        vsnprintf(e->message, sizeof e->message, fmt, ap);
        va_end(ap);
}

/* ---- a socket BIO that never raises SIGPIPE --------------------------------------------- */

static int bio_write(BIO *b, const char *data, int size) {
        ssize_t n;

        BIO_clear_retry_flags(b);
        n = send((int) (intptr_t) BIO_get_data(b), data, (size_t) size, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                BIO_set_retry_write(b);
        return (int) n;
}

static int bio_read(BIO *b, char *data, int size) {
        ssize_t n;

        BIO_clear_retry_flags(b);
        n = recv((int) (intptr_t) BIO_get_data(b), data, (size_t) size, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                BIO_set_retry_read(b);
        return (int) n;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr) {
        return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

static int bio_create(BIO *b) {
        BIO_set_init(b, 1);
        return 1;
}

static void init_once_fn(void) {
        reader_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
        bio_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "zl-socket");
        if (bio_method &&
            (!BIO_meth_set_write(bio_method, bio_write) ||
             !BIO_meth_set_read(bio_method, bio_read) || !BIO_meth_set_ctrl(bio_method, bio_ctrl) ||
             !BIO_meth_set_create(bio_method, bio_create))) {
                BIO_meth_free(bio_method);
                bio_method = NULL;
        }
}

/* ---- certificates ----------------------------------------------------------------------- */

static void tls_cert_done(TlsCert *c) {
        free(c->host);
        X509_free(c->cert);
        EVP_PKEY_free(c->key);
        sk_X509_pop_free(c->chain, X509_free);
        *c = (TlsCert){};
}

static int tls_cert_copy(const TlsCert *from, TlsCert *ret) {
        TlsCert c = {};

        c.host = strdup(from->host);
        if (!c.host)
                return -ENOMEM;
        if (from->chain) {
                c.chain = X509_chain_up_ref(from->chain);
                if (!c.chain) {
                        free(c.host);
                        return -ENOMEM;
                }
        }
        X509_up_ref(from->cert);
        c.cert = from->cert;
        EVP_PKEY_up_ref(from->key);
        c.key = from->key;
        *ret = c;
        return 0;
}

static int cert_cmp(const void *a, const void *b) {
        return strcmp(((const TlsCert *) a)->host, ((const TlsCert *) b)->host);
}

/* "Example.COM" -> "example.com", "*.example.com", "*"; NULL when not a usable name. */
static char *host_normalize(const char *host) {
        const char *name = host;
        char *s;

        if (!host || streq(host, "*"))
                return host ? strdup("*") : NULL;
        if (strneq(host, "*.", 2))
                name = host + 2;
        if (!hostname_is_valid(name) || strlen(host) > HOST_MAX)
                return NULL;
        s = strdup(host);
        for (char *p = s; p && *p; p++)
                *p = (char) tolower((unsigned char) *p);
        return s;
}

/* Never prompts for a passphrase: an encrypted key is a bad key here. */
static int no_password(char *buf, int size, int rwflag, void *userdata) {
        return -1;
}

static int cert_parse(const char *host, const char *cert_pem, size_t cert_size, const char *key_pem,
                      size_t key_size, const char *what, TlsCert *ret, ProxyTlsError *e) {
        TlsCert c = {};
        BIO *bio = NULL;
        int r = -EINVAL;

        if (cert_size > PEM_SIZE_MAX || key_size > PEM_SIZE_MAX) {
                fail(e, "%s: PEM data over %u bytes", what, PEM_SIZE_MAX);
                return -EINVAL;
        }
        c.host = host_normalize(host);
        if (!c.host) {
                fail(e, "%s: '%s' is not a host name, \"*.domain\" or \"*\"", what, strempty(host));
                return -EINVAL;
        }

        bio = BIO_new_mem_buf(cert_pem, (int) cert_size);
        if (!bio)
                goto oom;
        c.cert = PEM_read_bio_X509(bio, NULL, no_password, NULL);
        if (!c.cert) {
                fail(e, "%s: no PEM certificate", what);
                goto finish;
        }
        /* Whatever certificates follow the leaf form its chain. */
        for (;;) {
                X509 *x = PEM_read_bio_X509(bio, NULL, no_password, NULL);
                if (!x)
                        break;
                if (!c.chain)
                        c.chain = sk_X509_new_null();
                if (!c.chain || !sk_X509_push(c.chain, x)) {
                        X509_free(x);
                        goto oom;
                }
        }
        ERR_clear_error();
        BIO_free(bio);

        bio = BIO_new_mem_buf(key_pem, (int) key_size);
        if (!bio)
                goto oom;
        c.key = PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL);
        if (!c.key) {
                fail(e, "%s: no PEM private key (or an encrypted one)", what);
                goto finish;
        }
        if (X509_check_private_key(c.cert, c.key) != 1) {
                fail(e, "%s: the private key does not match the certificate", what);
                goto finish;
        }
        *ret = c;
        c = (TlsCert){};
        r = 0;
        goto finish;
oom:
        ERR_clear_error();
        r = -ENOMEM;
finish:
        BIO_free(bio);
        tls_cert_done(&c);
        return r;
}

static void certs_free(TlsCert *certs, size_t n) {
        for (size_t i = 0; i < n; i++)
                tls_cert_done(&certs[i]);
        free(certs);
}

/* The self-signed fallback: EC P-256, CN and DNS SAN = host, valid from an hour ago for ten
 * years. */
static int self_signed_new(const char *host, TlsCert *ret) {
        TlsCert c = {};
        X509_NAME *name;
        X509V3_CTX v3;
        BIGNUM *serial = NULL;
        char san[HOST_MAX + 8];
        static const struct {
                int nid;
                const char *value;
        } exts[] = {
                { NID_basic_constraints, "critical,CA:FALSE" },
                { NID_key_usage, "critical,digitalSignature" },
                { NID_ext_key_usage, "serverAuth" },
                { NID_subject_alt_name, NULL },
        };
        int r = -ENOMEM;

        c.host = strdup("*");
        c.key = EVP_EC_gen("P-256");
        c.cert = X509_new();
        serial = BN_new();
        if (!c.host || !c.key || !c.cert || !serial)
                goto finish;
        if (!X509_set_version(c.cert, X509_VERSION_3) || !BN_rand(serial, 120, 0, 0) ||
            !BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(c.cert)) ||
            !X509_gmtime_adj(X509_getm_notBefore(c.cert), -3600) ||
            !X509_time_adj_ex(X509_getm_notAfter(c.cert), 3650, 0, NULL) ||
            !X509_set_pubkey(c.cert, c.key))
                goto finish;
        name = X509_get_subject_name(c.cert);
        /* A common name is at most 64 characters; the SAN is what clients check anyway. */
        if (strlen(host) <= 64 &&
            !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *) host, -1,
                                        -1, 0))
                goto finish;
        if (!X509_set_issuer_name(c.cert, name))
                goto finish;
        X509V3_set_ctx_nodb(&v3);
        X509V3_set_ctx(&v3, c.cert, c.cert, NULL, NULL, 0);
        snprintf(san, sizeof san, "DNS:%s", host);
        for (size_t i = 0; i < ELEMENTSOF(exts); i++) {
                X509_EXTENSION *ext =
                        X509V3_EXT_conf_nid(NULL, &v3, exts[i].nid, exts[i].value ?: san);
                if (!ext)
                        goto finish;
                if (!X509_add_ext(c.cert, ext, -1)) {
                        X509_EXTENSION_free(ext);
                        goto finish;
                }
                X509_EXTENSION_free(ext);
        }
        if (!X509_sign(c.cert, c.key, EVP_sha256()))
                goto finish;
        *ret = c;
        c = (TlsCert){};
        r = 0;
finish:
        ERR_clear_error();
        BN_free(serial);
        tls_cert_done(&c);
        return r;
}

/* ---- stores ----------------------------------------------------------------------------- */

static void store_free(TlsStore *s) {
        if (!s)
                return;
        certs_free(s->certs, s->n_certs);
        free(s);
}

static const TlsCert *store_find(const TlsStore *s, const char *host) {
        TlsCert key = { .host = (char *) host };

        return s->n_certs > 0 ? bsearch(&key, s->certs, s->n_certs, sizeof(TlsCert), cert_cmp)
                              : NULL;
}

/* Exact name, then the wildcard one label up, then the default. */
static const TlsCert *store_select(const TlsStore *s, const char *servername) {
        char name[HOST_MAX + 3];
        const TlsCert *c;
        size_t n;

        if (servername && (n = strlen(servername)) > 0 && n <= HOST_MAX) {
                for (size_t i = 0; i <= n; i++)
                        name[i] = (char) tolower((unsigned char) servername[i]);
                if (n > 0 && name[n - 1] == '.')
                        name[--n] = 0;
                c = store_find(s, name);
                if (c)
                        return c;
                char *dot = strchr(name, '.');
                if (dot && dot[1]) {
                        char wild[HOST_MAX + 3];
                        snprintf(wild, sizeof wild, "*%s", dot);
                        c = store_find(s, wild);
                        if (c)
                                return c;
                }
        }
        return s->fallback;
}

/* Builds the store from the directory's certificates and the added ones (which win). Caller
 * holds the lock. */
static int store_build(TlsContext *t, const TlsCert *dir, size_t n_dir, TlsStore **ret) {
        TlsStore *s;
        int r;

        s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        s->certs = calloc(MAX(n_dir + t->n_added, 1U), sizeof(TlsCert));
        if (!s->certs) {
                free(s);
                return -ENOMEM;
        }
        for (size_t i = 0; i < t->n_added; i++) {
                r = tls_cert_copy(&t->added[i], &s->certs[s->n_certs]);
                if (r < 0)
                        goto fail;
                s->n_certs++;
        }
        for (size_t i = 0; i < n_dir; i++) {
                bool shadowed = false;
                for (size_t k = 0; k < t->n_added && !shadowed; k++)
                        shadowed = streq(t->added[k].host, dir[i].host);
                if (shadowed)
                        continue;
                r = tls_cert_copy(&dir[i], &s->certs[s->n_certs]);
                if (r < 0)
                        goto fail;
                s->n_certs++;
        }
        qsort(s->certs, s->n_certs, sizeof(TlsCert), cert_cmp);
        s->fallback = store_find(s, "*") ?: &t->self_signed;
        *ret = s;
        return 0;
fail:
        store_free(s);
        return r;
}

/* Caller holds the lock. */
static void store_publish(TlsContext *t, TlsStore *s) {
        TlsStore *old = atomic_exchange(&t->current, s);

        /* A handshake that announced old may still read it: its window is the certificate
         * lookup and taking references, never a blocking call. */
        for (size_t i = 0; old && i < PROXY_TLS_READERS_MAX; i++)
                while (atomic_load(&t->hazards[i]) == old)
                        sched_yield();
        store_free(old);
}

static TlsStore *store_enter(TlsContext *t, unsigned reader) {
        TlsStore *s;

        do {
                s = atomic_load(&t->current);
                atomic_store(&t->hazards[reader], s);
        } while (atomic_load(&t->current) != s);
        return s;
}

static void store_leave(TlsContext *t, unsigned reader) {
        atomic_store_explicit(&t->hazards[reader], NULL, memory_order_release);
}

/* ---- callbacks -------------------------------------------------------------------------- */

static int cert_cb(SSL *ssl, void *userdata) {
        TlsContext *t = userdata;
        unsigned reader = (unsigned) (uintptr_t) SSL_get_ex_data(ssl, reader_index);
        const TlsCert *c;
        TlsStore *s;
        int ok;

        if (reader == 0 || reader > PROXY_TLS_READERS_MAX)
                return 0;
        s = store_enter(t, reader - 1);
        c = store_select(s, SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name));
        /* The session takes its own references: the store may go right after. */
        ok = SSL_use_cert_and_key(ssl, c->cert, c->key, c->chain, 1);
        store_leave(t, reader - 1);
        return ok == 1;
}

static int alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned inlen, void *userdata) {
        static const unsigned char ours[] = "\x02h2\x08http/1.1";
        unsigned char *o;

        if (SSL_select_next_proto(&o, outlen, ours, sizeof ours - 1, in, inlen) !=
            OPENSSL_NPN_NEGOTIATED)
                return SSL_TLSEXT_ERR_NOACK; /* no common protocol: go on without ALPN */
        *out = o;
        return SSL_TLSEXT_ERR_OK;
}

static int ticket_key_new(TicketKey *k) {
        if (RAND_bytes(k->name, sizeof k->name) != 1 || RAND_bytes(k->aes, sizeof k->aes) != 1 ||
            RAND_bytes(k->hmac, sizeof k->hmac) != 1) {
                ERR_clear_error();
                return -EIO;
        }
        k->created_usec = now_usec();
        k->valid = true;
        return 0;
}

static int ticket_rotate_locked(TlsContext *t) {
        TicketKey k;
        int r;

        r = ticket_key_new(&k);
        if (r < 0)
                return r;
        t->keys[1] = t->keys[0];
        t->keys[0] = k;
        OPENSSL_cleanse(&k, sizeof k);
        return 0;
}

/* Tickets are sealed with our keys rather than each SSL_CTX's own, so that they rotate; the
 * one SSL_CTX makes them valid on every worker. */
static int ticket_key_cb(SSL *ssl, unsigned char key_name[16], unsigned char *iv,
                         EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc) {
        TlsContext *t = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
        TicketKey k = {};
        int result = 1;

        pthread_mutex_lock(&t->ticket_lock);
        if (enc) {
                if (now_usec() - t->keys[0].created_usec >= PROXY_TLS_TICKET_ROTATE_USEC)
                        (void) ticket_rotate_locked(t);
                k = t->keys[0];
        } else {
                for (size_t i = 0; i < ELEMENTSOF(t->keys); i++)
                        if (t->keys[i].valid && memcmp(key_name, t->keys[i].name, 16) == 0) {
                                k = t->keys[i];
                                result = i == 0 ? 1 : 2; /* 2: good, but issue a new one */
                        }
        }
        pthread_mutex_unlock(&t->ticket_lock);

        if (!k.valid)
                return 0; /* unknown key: a full handshake */
        OSSL_PARAM params[] = {
                OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, k.hmac, sizeof k.hmac),
                OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *) "SHA256", 0),
                OSSL_PARAM_construct_end(),
        };
        if (enc) {
                memcpy(key_name, k.name, 16);
                if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(EVP_aes_256_cbc())) != 1 ||
                    !EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k.aes, iv))
                        result = -1;
        } else if (!EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k.aes, iv))
                result = -1;
        if (result > 0 && !EVP_MAC_CTX_set_params(hctx, params))
                result = -1;
        OPENSSL_cleanse(&k, sizeof k);
        return result;
}

/* ---- the object ------------------------------------------------------------------------- */

static TlsContext *tls_free(TlsContext *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(TlsContext *, tls_free);

static int tls_new(const char *fallback_host, TlsContext **ret) {
        _cleanup_(tls_freep) TlsContext *t = NULL;
        TlsStore *s;
        int r;

        if (fallback_host && !hostname_is_valid(fallback_host))
                return -EINVAL;
        t = calloc(1, sizeof *t);
        if (!t)
                return -ENOMEM;
        pthread_mutex_init(&t->lock, NULL);
        pthread_mutex_init(&t->ticket_lock, NULL);
        for (size_t i = 0; i < PROXY_TLS_READERS_MAX; i++)
                atomic_init(&t->hazards[i], NULL);
        atomic_init(&t->current, NULL);
        if (fallback_host) {
                t->fallback_host = strdup(fallback_host);
                if (!t->fallback_host)
                        return -ENOMEM;
        }
        r = store_build(t, NULL, 0, &s);
        if (r < 0)
                return r;
        atomic_store(&t->current, s);
        *ret = TAKE_PTR(t);
        return 0;
}

/* The SSL_CTX, the fallback certificate and the first ticket key. Caller holds the lock. */
static int tls_prepare_locked(TlsContext *t) {
        char hostname[HOST_MAX + 1] = "";
        SSL_CTX *ctx;
        int r;

        if (t->ctx)
                return 0;
        pthread_once(&init_once, init_once_fn);
        if (reader_index < 0 || !bio_method)
                return -ENOMEM;
        if (!t->fallback_host &&
            (gethostname(hostname, sizeof hostname - 1) < 0 || !hostname_is_valid(hostname)))
                snprintf(hostname, sizeof hostname, "localhost");
        if (!t->self_signed.cert) {
                r = self_signed_new(t->fallback_host ?: hostname, &t->self_signed);
                if (r < 0)
                        return r;
        }
        r = ticket_key_new(&t->keys[0]);
        if (r < 0)
                return r;

        ctx = SSL_CTX_new(TLS_server_method());
        if (!ctx) {
                ERR_clear_error();
                return -ENOMEM;
        }
        SSL_CTX_set_app_data(ctx, t);
        if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
            !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) ||
            /* TLS 1.2: forward secret AEAD suites only (also what HTTP/2 requires). */
            !SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20")) {
                SSL_CTX_free(ctx);
                ERR_clear_error();
                return -EIO;
        }
        SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                         SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
        /* Idle sessions give their buffers back: a kept-alive connection costs little. */
        SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                      SSL_MODE_RELEASE_BUFFERS);
        /* Stateless tickets only: no session cache to share or lock between workers. */
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_key_cb);
        SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, t);
        SSL_CTX_set_cert_cb(ctx, cert_cb, t);
        t->ctx = ctx;
        return 0;
}

static int tls_prepare(TlsContext *t) {
        int r;

        pthread_mutex_lock(&t->lock);
        r = tls_prepare_locked(t);
        pthread_mutex_unlock(&t->lock);
        return r;
}

static TlsContext *tls_free(TlsContext *t) {
        if (!t)
                return NULL;
        SSL_CTX_free(t->ctx);
        store_free(atomic_load(&t->current));
        certs_free(t->dir_certs, t->n_dir_certs);
        certs_free(t->added, t->n_added);
        tls_cert_done(&t->self_signed);
        free(t->fallback_host);
        OPENSSL_cleanse(t->keys, sizeof t->keys);
        pthread_mutex_destroy(&t->lock);
        pthread_mutex_destroy(&t->ticket_lock);
        free(t);
        return NULL;
}

/* "<host>.crt" -> host, "_wildcard.<domain>.crt" -> "*.<domain>", "_default.crt" -> "*". */
static char *file_host(const char *name) {
        size_t n = strlen(name);
        char *base, *host;

        if (n <= 4 || !streq(name + n - 4, ".crt"))
                return NULL;
        base = strndup(name, n - 4);
        if (!base)
                return NULL;
        if (streq(base, "_default"))
                host = strdup("*");
        else if (strneq(base, "_wildcard.", 10)) {
                if (asprintf(&host, "*.%s", base + 10) < 0)
                        host = NULL;
        } else
                host = strdup(base);
        free(base);
        return host;
}

static int dir_load(const char *dir, TlsCert **ret, size_t *ret_n, ProxyTlsError *e) {
        TlsCert *certs = NULL;
        size_t n = 0;
        DIR *d;
        struct dirent *de;
        int r = 0;

        d = opendir(dir);
        if (!d) {
                r = -errno;
                fail(e, "cannot open '%s': %s", dir, strerror(errno));
                return r;
        }
        while ((de = readdir(d))) {
                _cleanup_free_ char *host = NULL, *crt_path = NULL, *key_path = NULL;
                _cleanup_free_ char *crt = NULL, *key = NULL;
                size_t crt_size, key_size, len = strlen(de->d_name);
                TlsCert c, *grown;

                if (de->d_name[0] == '.' || len <= 4 || !streq(de->d_name + len - 4, ".crt"))
                        continue;
                host = file_host(de->d_name);
                if (!host || asprintf(&crt_path, "%s/%s", dir, de->d_name) < 0 ||
                    asprintf(&key_path, "%s/%.*s.key", dir, (int) (len - 4), de->d_name) < 0) {
                        crt_path = key_path = NULL;
                        r = -ENOMEM;
                        break;
                }
                r = read_full_file(crt_path, PEM_SIZE_MAX, &crt, &crt_size);
                if (r >= 0) {
                        r = read_full_file(key_path, PEM_SIZE_MAX, &key, &key_size);
                        if (r == -ENOENT) {
                                fail(e, "'%s' has no key '%s'", crt_path, key_path);
                                r = -EINVAL;
                                break;
                        }
                }
                if (r < 0) {
                        fail(e, "cannot read the pair of '%s': %s", crt_path, strerror(-r));
                        r = r == -EFBIG ? -EINVAL : r;
                        break;
                }
                r = cert_parse(host, crt, crt_size, key, key_size, crt_path, &c, e);
                if (r < 0)
                        break;
                for (size_t i = 0; i < n; i++)
                        if (streq(certs[i].host, c.host)) {
                                fail(e, "'%s': a second certificate for '%s'", crt_path, c.host);
                                r = -EINVAL;
                        }
                grown = r >= 0 ? reallocarray(certs, n + 1, sizeof(TlsCert)) : NULL;
                if (!grown) {
                        tls_cert_done(&c);
                        r = r < 0 ? r : -ENOMEM;
                        break;
                }
                certs = grown;
                certs[n++] = c;
        }
        closedir(d);
        if (r < 0) {
                certs_free(certs, n);
                return r;
        }
        *ret = certs;
        *ret_n = n;
        return 0;
}

static int tls_reload(TlsContext *t, const char *dir, ProxyTlsError *error) {
        TlsCert *certs = NULL;
        TlsStore *s;
        size_t n = 0;
        int r;

        if (!t || !dir)
                return -EINVAL;
        r = dir_load(dir, &certs, &n, error);
        if (r < 0)
                return r;
        pthread_mutex_lock(&t->lock);
        r = store_build(t, certs, n, &s);
        if (r >= 0) {
                certs_free(t->dir_certs, t->n_dir_certs);
                t->dir_certs = TAKE_PTR(certs);
                t->n_dir_certs = n;
                store_publish(t, s);
        }
        pthread_mutex_unlock(&t->lock);
        if (r < 0) {
                certs_free(certs, n);
                fail(error, "out of memory");
        }
        return r;
}

static int tls_add_certificate(TlsContext *t, const char *host, const char *cert_pem,
                               const char *key_pem, ProxyTlsError *error) {
        TlsCert c, old = {};
        TlsStore *s;
        size_t i;
        int r;

        if (!t || !cert_pem || !key_pem) {
                fail(error, "missing certificate or key");
                return -EINVAL;
        }
        r = cert_parse(host, cert_pem, strlen(cert_pem), key_pem, strlen(key_pem), "certificate",
                       &c, error);
        if (r < 0)
                return r;

        pthread_mutex_lock(&t->lock);
        for (i = 0; i < t->n_added; i++)
                if (streq(t->added[i].host, c.host))
                        break;
        if (i == t->n_added) {
                TlsCert *grown = reallocarray(t->added, t->n_added + 1, sizeof(TlsCert));
                if (!grown) {
                        pthread_mutex_unlock(&t->lock);
                        tls_cert_done(&c);
                        fail(error, "out of memory");
                        return -ENOMEM;
                }
                t->added = grown;
                t->added[t->n_added++] = c;
        } else {
                old = t->added[i];
                t->added[i] = c;
        }
        r = store_build(t, t->dir_certs, t->n_dir_certs, &s);
        if (r < 0) {
                /* Put the list back as it was. */
                if (old.host) {
                        t->added[i] = old;
                        old = (TlsCert){};
                } else
                        t->n_added--;
                tls_cert_done(&c);
                fail(error, "out of memory");
        } else
                store_publish(t, s);
        pthread_mutex_unlock(&t->lock);
        tls_cert_done(&old);
        return r;
}

static X509 *tls_select(TlsContext *t, const char *servername) {
        const TlsCert *c;
        X509 *x = NULL;

        pthread_mutex_lock(&t->lock);
        if (tls_prepare_locked(t) >= 0) {
                c = store_select(atomic_load(&t->current), servername);
                X509_up_ref(c->cert);
                x = c->cert;
        }
        pthread_mutex_unlock(&t->lock);
        return x;
}

static size_t tls_n_certificates(TlsContext *t) {
        size_t n;

        pthread_mutex_lock(&t->lock);
        n = atomic_load(&t->current)->n_certs;
        pthread_mutex_unlock(&t->lock);
        return n;
}

static int tls_rotate_ticket_keys(TlsContext *t) {
        int r;

        pthread_mutex_lock(&t->ticket_lock);
        r = ticket_rotate_locked(t);
        pthread_mutex_unlock(&t->ticket_lock);
        return r;
}

/* ---- sessions --------------------------------------------------------------------------- */

static SSL *tls_session_new(TlsContext *t, int fd, unsigned reader) {
        SSL *ssl;
        BIO *bio;

        if (reader >= PROXY_TLS_READERS_MAX || !t->ctx)
                return NULL;
        ssl = SSL_new(t->ctx);
        bio = BIO_new(bio_method);
        if (!ssl || !bio ||
            !SSL_set_ex_data(ssl, reader_index, (void *) (uintptr_t) (reader + 1))) {
                BIO_free(bio);
                SSL_free(ssl);
                ERR_clear_error();
                return NULL;
        }
        BIO_set_data(bio, (void *) (intptr_t) fd);
        SSL_set_bio(ssl, bio, bio);
        SSL_set_accept_state(ssl);
        return ssl;
}

static void tls_session_free(SSL *ssl) {
        SSL_free(ssl);
}

/* Maps a failed call to -EAGAIN + want, or an error; clears the thread's error queue. */
static int tls_error(SSL *ssl, int ret, ProxyTlsWant *ret_want) {
        int err = SSL_get_error(ssl, ret), saved = errno;

        ERR_clear_error();
        switch (err) {
        case SSL_ERROR_WANT_READ:
                *ret_want = PROXY_TLS_WANT_READ;
                return -EAGAIN;
        case SSL_ERROR_WANT_WRITE:
                *ret_want = PROXY_TLS_WANT_WRITE;
                return -EAGAIN;
        case SSL_ERROR_ZERO_RETURN:
                return 0;
        case SSL_ERROR_SYSCALL:
                return saved > 0 && saved != EAGAIN ? -saved : -ECONNRESET;
        default:
                return -EPROTO;
        }
}

static int tls_handshake(SSL *ssl, ProxyTlsWant *ret_want) {
        int r = SSL_do_handshake(ssl);

        if (r == 1)
                return 1;
        r = tls_error(ssl, r, ret_want);
        return r == -EAGAIN ? 0 : r == 0 ? -ECONNRESET : r;
}

static bool tls_alpn_is_h2(const SSL *ssl) {
        const unsigned char *p;
        unsigned n;

        SSL_get0_alpn_selected(ssl, &p, &n);
        return n == 2 && memcmp(p, "h2", 2) == 0;
}

static ssize_t tls_read(SSL *ssl, void *buf, size_t size, ProxyTlsWant *ret_want) {
        int n = SSL_read(ssl, buf, (int) MIN(size, (size_t) INT_MAX));

        return n > 0 ? n : tls_error(ssl, n, ret_want);
}

static ssize_t tls_write(SSL *ssl, const void *buf, size_t size, ProxyTlsWant *ret_want) {
        int n = SSL_write(ssl, buf, (int) MIN(size, (size_t) INT_MAX));

        if (n > 0)
                return n;
        n = tls_error(ssl, n, ret_want);
        return n == 0 ? -EPIPE : n;
}

static void tls_shutdown(SSL *ssl) {
        if (!(SSL_get_shutdown(ssl) & SSL_SENT_SHUTDOWN) && SSL_is_init_finished(ssl))
                (void) SSL_shutdown(ssl);
        ERR_clear_error();
}

static bool tls_pending(const SSL *ssl) {
        return SSL_pending(ssl) > 0;
}

/* The one symbol the module exports (the build hides everything else). */
_public_ const ProxyTlsModule zl_proxy_tls_module = {
        .abi = PROXY_TLS_MODULE_ABI,
        .context_new = tls_new,
        .context_free = tls_free,
        .prepare = tls_prepare,
        .reload = tls_reload,
        .add_certificate = tls_add_certificate,
        .select = tls_select,
        .n_certificates = tls_n_certificates,
        .rotate_ticket_keys = tls_rotate_ticket_keys,
        .session_new = tls_session_new,
        .session_free = tls_session_free,
        .handshake = tls_handshake,
        .alpn_is_h2 = tls_alpn_is_h2,
        .read = tls_read,
        .write = tls_write,
        .pending = tls_pending,
        .shutdown = tls_shutdown,
};
