/* SPDX-License-Identifier: Apache-2.0 */
/* proxy-tls-loader.c: the proxy_tls_* API over zl-proxy-tls.so, loaded when first needed. */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hostname-util.h"
#include "log.h"
#include "path-util.h"
#include "proxy-tls-module.h"
#include "proxy-tls.h"

/* Until the module is needed a ProxyTls is only its settings; ctx is the module's object. */
struct ProxyTls {
        char *fallback_host;
        pthread_mutex_t lock; /* creating ctx */
        _Atomic(TlsContext *) ctx;
};

/* The module stays loaded for the life of the process: OpenSSL keeps thread-local state and
 * exit handlers that must not outlive its code. */
static pthread_mutex_t module_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(const ProxyTlsModule *) module;
static char module_error[PATH_MAX + 512];

static const ProxyTlsModule *mod(void) {
        return atomic_load_explicit(&module, memory_order_acquire);
}

/* The module beside the running executable, if there is one there. */
static bool module_beside_exe(char *buf, size_t size) {
        _cleanup_free_ char *p = NULL;

        if (path_beside_self(PROXY_TLS_MODULE_NAME, F_OK, &p) < 0)
                return false;
        return (size_t) snprintf(buf, size, "%s", p) < size;
}

static int module_load_locked(void) {
        char path[PATH_MAX];
        const char *e = getenv(PROXY_TLS_MODULE_ENV);
        const ProxyTlsModule *m;
        void *h;

        if (mod())
                return 0;
        if (e && *e)
                snprintf(path, sizeof path, "%s", e);
        else if (!module_beside_exe(path, sizeof path))
                snprintf(path, sizeof path, "%s/%s", ZL_PROXY_TLS_MODULE_DIR,
                         PROXY_TLS_MODULE_NAME);

        h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (!h) {
                const char *why = dlerror();
                snprintf(module_error, sizeof module_error, "cannot load the TLS module '%s': %s",
                         path, why ?: "unknown error");
                log_debug("%s", module_error);
                return -ELIBACC;
        }
        m = dlsym(h, PROXY_TLS_MODULE_SYMBOL);
        if (!m || m->abi != PROXY_TLS_MODULE_ABI) {
                snprintf(module_error, sizeof module_error,
                         "cannot load the TLS module '%s': %s", path,
                         m ? "built for another version of zl-proxyd" : dlerror() ?: "no ops");
                log_debug("%s", module_error);
                (void) dlclose(h);
                return -ELIBACC;
        }
        module_error[0] = 0;
        log_debug("Loaded the TLS module '%s'.", path);
        atomic_store_explicit(&module, m, memory_order_release);
        return 0;
}

const char *proxy_tls_module_error(void) {
        const char *e;

        pthread_mutex_lock(&module_lock);
        e = module_error[0] ? module_error : NULL;
        pthread_mutex_unlock(&module_lock);
        return e;
}

bool proxy_tls_module_loaded(void) {
        return mod();
}

/* The module's object for t, made (and the module loaded) on first use. */
static int tls_context(ProxyTls *t, TlsContext **ret) {
        TlsContext *c = atomic_load_explicit(&t->ctx, memory_order_acquire);
        int r = 0;

        if (c) {
                *ret = c;
                return 0;
        }
        pthread_mutex_lock(&t->lock);
        c = atomic_load_explicit(&t->ctx, memory_order_relaxed);
        if (!c) {
                pthread_mutex_lock(&module_lock);
                r = module_load_locked();
                pthread_mutex_unlock(&module_lock);
                if (r >= 0)
                        r = mod()->context_new(t->fallback_host, &c);
                if (r >= 0)
                        atomic_store_explicit(&t->ctx, c, memory_order_release);
        }
        pthread_mutex_unlock(&t->lock);
        if (r < 0)
                return r;
        *ret = c;
        return 0;
}

static void fail_module(ProxyTlsError *error) {
        const char *e = proxy_tls_module_error();

        if (error)
                snprintf(error->message, sizeof error->message, "%s",
                         e ?: "the TLS module is not loaded");
}

int proxy_tls_new(const char *fallback_host, ProxyTls **ret) {
        ProxyTls *t;

        if (fallback_host && !hostname_is_valid(fallback_host))
                return -EINVAL;
        t = calloc(1, sizeof *t);
        if (!t)
                return -ENOMEM;
        if (fallback_host) {
                t->fallback_host = strdup(fallback_host);
                if (!t->fallback_host) {
                        free(t);
                        return -ENOMEM;
                }
        }
        pthread_mutex_init(&t->lock, NULL);
        atomic_init(&t->ctx, NULL);
        *ret = t;
        return 0;
}

ProxyTls *proxy_tls_free(ProxyTls *t) {
        TlsContext *c;

        if (!t)
                return NULL;
        c = atomic_load(&t->ctx);
        if (c)
                mod()->context_free(c);
        pthread_mutex_destroy(&t->lock);
        free(t->fallback_host);
        free(t);
        return NULL;
}

int proxy_tls_prepare(ProxyTls *t) {
        TlsContext *c;
        int r;

        r = tls_context(t, &c);
        if (r < 0)
                return r;
        return mod()->prepare(c);
}

/* Whether dir names any certificate: without one a reload needs no OpenSSL. */
static int dir_has_certificates(const char *dir, ProxyTlsError *error) {
        DIR *d = opendir(dir);
        struct dirent *de;
        bool found = false;

        if (!d) {
                int r = -errno;
                if (error)
                        snprintf(error->message, sizeof error->message, "cannot open '%s': %s", dir,
                                 strerror(-r));
                return r;
        }
        while (!found && (de = readdir(d))) {
                size_t n = strlen(de->d_name);
                found = de->d_name[0] != '.' && n > 4 && streq(de->d_name + n - 4, ".crt");
        }
        closedir(d);
        return found;
}

int proxy_tls_reload(ProxyTls *t, const char *dir, ProxyTlsError *error) {
        TlsContext *c;
        int r;

        if (!t || !dir)
                return -EINVAL;
        /* Once loaded, the module reloads (and may empty) the store as always. Before that the
         * store is empty, and an empty directory leaves it so: nothing to load. */
        if (!atomic_load_explicit(&t->ctx, memory_order_acquire)) {
                r = dir_has_certificates(dir, error);
                if (r <= 0)
                        return r;
        }
        r = tls_context(t, &c);
        if (r < 0) {
                fail_module(error);
                return r;
        }
        return mod()->reload(c, dir, error);
}

int proxy_tls_add_certificate(ProxyTls *t, const char *host, const char *cert_pem,
                              const char *key_pem, ProxyTlsError *error) {
        TlsContext *c;
        int r;

        if (!t || !cert_pem || !key_pem) {
                if (error)
                        snprintf(error->message, sizeof error->message,
                                 "missing certificate or key");
                return -EINVAL;
        }
        r = tls_context(t, &c);
        if (r < 0) {
                fail_module(error);
                return r;
        }
        return mod()->add_certificate(c, host, cert_pem, key_pem, error);
}

X509 *proxy_tls_select(ProxyTls *t, const char *servername) {
        TlsContext *c;

        if (tls_context(t, &c) < 0)
                return NULL;
        return mod()->select(c, servername);
}

size_t proxy_tls_n_certificates(ProxyTls *t) {
        TlsContext *c = atomic_load_explicit(&t->ctx, memory_order_acquire);

        return c ? mod()->n_certificates(c) : 0;
}

int proxy_tls_rotate_ticket_keys(ProxyTls *t) {
        TlsContext *c;
        int r;

        r = tls_context(t, &c);
        if (r < 0)
                return r;
        return mod()->rotate_ticket_keys(c);
}

/* The data path: a session exists only once the module made one, so these dispatch directly. */

SSL *proxy_tls_session_new(ProxyTls *t, int fd, unsigned reader) {
        TlsContext *c = atomic_load_explicit(&t->ctx, memory_order_acquire);

        return c ? mod()->session_new(c, fd, reader) : NULL;
}

void proxy_tls_session_free(SSL *ssl) {
        if (ssl)
                mod()->session_free(ssl);
}

int proxy_tls_handshake(SSL *ssl, ProxyTlsWant *ret_want) {
        return mod()->handshake(ssl, ret_want);
}

bool proxy_tls_alpn_is_h2(const SSL *ssl) {
        return mod()->alpn_is_h2(ssl);
}

ssize_t proxy_tls_read(SSL *ssl, void *buf, size_t size, ProxyTlsWant *ret_want) {
        return mod()->read(ssl, buf, size, ret_want);
}

ssize_t proxy_tls_write(SSL *ssl, const void *buf, size_t size, ProxyTlsWant *ret_want) {
        return mod()->write(ssl, buf, size, ret_want);
}

bool proxy_tls_pending(const SSL *ssl) {
        return mod()->pending(ssl);
}

void proxy_tls_shutdown(SSL *ssl) {
        mod()->shutdown(ssl);
}
