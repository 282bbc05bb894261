/* SPDX-License-Identifier: Apache-2.0 */
/* proxy-tls-module.h: the ops table zl-proxy-tls.so exports to libzlproxy's loader. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "proxy-tls.h"

/* OpenSSL costs about 1.7 MB of resident memory just by being linked, so the TLS code lives in a
 * module that libzlproxy dlopen()s when the first https listener (or certificate) appears. The
 * module and the loader are built together from one tree: abi only guards against a stale module
 * left in a directory searched before the right one. */
#define PROXY_TLS_MODULE_NAME "zl-proxy-tls.so"
#define PROXY_TLS_MODULE_SYMBOL "zl_proxy_tls_module"
#define PROXY_TLS_MODULE_ABI 1U
/* Overrides the search (a file path): what the build tree's tests set. */
#define PROXY_TLS_MODULE_ENV "ZL_PROXY_TLS_MODULE"

/* The module's side of a ProxyTls: the SSL_CTX and the certificate store. */
typedef struct TlsContext TlsContext;

/* Each member has the contract of the proxy_tls_* function of the same name in proxy-tls.h. */
typedef struct ProxyTlsModule {
        unsigned abi;
        int (*context_new)(const char *fallback_host, TlsContext **ret);
        TlsContext *(*context_free)(TlsContext *t);
        int (*prepare)(TlsContext *t);
        int (*reload)(TlsContext *t, const char *dir, ProxyTlsError *error);
        int (*add_certificate)(TlsContext *t, const char *host, const char *cert_pem,
                               const char *key_pem, ProxyTlsError *error);
        X509 *(*select)(TlsContext *t, const char *servername);
        size_t (*n_certificates)(TlsContext *t);
        int (*rotate_ticket_keys)(TlsContext *t);
        SSL *(*session_new)(TlsContext *t, int fd, unsigned reader);
        void (*session_free)(SSL *ssl);
        int (*handshake)(SSL *ssl, ProxyTlsWant *ret_want);
        bool (*alpn_is_h2)(const SSL *ssl);
        ssize_t (*read)(SSL *ssl, void *buf, size_t size, ProxyTlsWant *ret_want);
        ssize_t (*write)(SSL *ssl, const void *buf, size_t size, ProxyTlsWant *ret_want);
        bool (*pending)(const SSL *ssl);
        void (*shutdown)(SSL *ssl);
} ProxyTlsModule;
