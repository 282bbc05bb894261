/* SPDX-License-Identifier: Apache-2.0 */
/* proxy-tls.h: TLS for client connections: certificates by SNI, tickets, non-blocking I/O. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "macro.h"

/* OpenSSL's types, declared as its headers do: users of this API need not see OpenSSL (it lives
 * in the zl-proxy-tls.so module, loaded when first needed; see proxy-tls-module.h). */
typedef struct ssl_st SSL;
typedef struct x509_st X509;

/* One SSL_CTX for every TLS listener and worker (so session tickets made by one worker resume on
 * any other), TLS 1.2 and 1.3 only, ALPN "h2" then "http/1.1", and a certificate store published
 * like the route table: readers take the current snapshot without locks, replacing it is a
 * pointer swap, and a handshake keeps the certificate it chose.
 *
 * Certificates come from a directory, one PEM pair per name (the .crt may carry the chain after
 * the leaf):
 *   <dir>/<host>.crt + <host>.key                   exact host ("api.example.com")
 *   <dir>/_wildcard.<domain>.crt + .key             "*.<domain>": one more label in front
 *   <dir>/_default.crt + _default.key               any other name, and clients without SNI
 * and from proxy_tls_add_certificate() (the bus), where host is "api.example.com",
 * "*.example.com" or "*" for the default. Added certificates survive directory reloads and win
 * over a directory pair for the same name. Without a default, a self-signed certificate made at
 * proxy_tls_prepare() (EC P-256, CN and DNS SAN = the node's hostname) serves unknown names.
 *
 * SNI picks the exact host, then the wildcard for the name minus its first label, then the
 * default. */

typedef struct ProxyTls ProxyTls;

/* Module loading. Everything below that needs OpenSSL loads the module first: proxy_tls_prepare,
 * proxy_tls_add_certificate, proxy_tls_select, proxy_tls_rotate_ticket_keys, and
 * proxy_tls_reload when the directory holds a .crt. The module is searched as:
 *   $ZL_PROXY_TLS_MODULE (a file; no fallback when set),
 *   the directory of the running executable (a build tree: zl-proxyd and the unit tests),
 *   ZL_PROXY_TLS_MODULE_DIR, the installed location (libdir/zlayer).
 * When it cannot be loaded these fail with -ELIBACC, and proxy_tls_module_error() says which
 * path was tried and why (dlerror()); loading is retried at the next call. */
/* The last load failure (NULL after a success), valid until the next load attempt: for the
 * control thread that just got -ELIBACC. */
const char *proxy_tls_module_error(void);
/* Whether the module (and so OpenSSL) is loaded in this process. */
bool proxy_tls_module_loaded(void);

/* Why a certificate or a directory was refused, for the caller to pass on. */
typedef struct ProxyTlsError {
        char message[256];
} ProxyTlsError;

/* Hazard slots (one per thread that calls proxy_tls_session_new), like the route publisher's. */
#define PROXY_TLS_READERS_MAX 256U
/* Ticket keys are replaced this often; the previous key still decrypts for as long again. */
#define PROXY_TLS_TICKET_ROTATE_USEC (12ULL * 3600ULL * 1000000ULL)

/* fallback_host: name of the self-signed fallback certificate (NULL: gethostname()). Cheap: the
 * OpenSSL side waits for proxy_tls_prepare(). */
int proxy_tls_new(const char *fallback_host, ProxyTls **ret);
/* Makes the SSL_CTX, the self-signed fallback and the first ticket key, once (later calls do
 * nothing). Before the first session: the proxy calls it when an https listener appears. */
int proxy_tls_prepare(ProxyTls *t);
ProxyTls *proxy_tls_free(ProxyTls *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(ProxyTls *, proxy_tls_free);

/* Re-reads the directory and publishes the new store in one swap. All or nothing: any unusable
 * pair (bad PEM, key not matching its certificate, a .crt without .key, a bad name) is -EINVAL
 * with *error naming the file, and the current store stays. -ENOENT if dir does not exist.
 * Control thread(s) only; serialised with add_certificate. */
int proxy_tls_reload(ProxyTls *t, const char *dir, ProxyTlsError *error);

/* Adds or replaces the certificate of one name ("*" is the default). -EINVAL with *error for a
 * bad name, unparsable PEM or a key that does not match the certificate; nothing changes then. */
int proxy_tls_add_certificate(ProxyTls *t, const char *host, const char *cert_pem,
                              const char *key_pem, ProxyTlsError *error);

/* The leaf certificate a handshake with this SNI name (NULL: none) gets, with a new reference;
 * for tests and listings. Prepares t; NULL if that fails. */
X509 *proxy_tls_select(ProxyTls *t, const char *servername);
/* Certificates in the current store, the fallback not counted. */
size_t proxy_tls_n_certificates(ProxyTls *t);
/* Makes a new ticket key now (tickets under the previous one still resume, and get renewed). */
int proxy_tls_rotate_ticket_keys(ProxyTls *t);

/* ---- the data path ---- */

/* What a non-blocking call waits for, to be turned into epoll interest. */
typedef enum ProxyTlsWant {
        PROXY_TLS_WANT_READ = 1 << 0,
        PROXY_TLS_WANT_WRITE = 1 << 1,
} ProxyTlsWant;

/* A server session on an accepted non-blocking socket. reader: the calling thread's hazard slot
 * (< PROXY_TLS_READERS_MAX), used during the handshake. NULL on allocation failure, or when t
 * was not prepared. */
SSL *proxy_tls_session_new(ProxyTls *t, int fd, unsigned reader);
void proxy_tls_session_free(SSL *ssl);

/* Drives the handshake: 1 done, 0 in progress (*ret_want says on what), -EPROTO when it failed
 * (bad client, no shared version or cipher), -errno for socket errors. */
int proxy_tls_handshake(SSL *ssl, ProxyTlsWant *ret_want);
/* Whether ALPN chose "h2". */
bool proxy_tls_alpn_is_h2(const SSL *ssl);

/* > 0 bytes read, 0 at the peer's close (close_notify or TCP FIN), -EAGAIN with *ret_want, or
 * -EPROTO / -errno when the connection is broken. */
ssize_t proxy_tls_read(SSL *ssl, void *buf, size_t size, ProxyTlsWant *ret_want);
/* > 0 bytes written (a retry after -EAGAIN must pass at least the same bytes again), -EAGAIN
 * with *ret_want, -EPIPE / -EPROTO / -errno when broken. */
ssize_t proxy_tls_write(SSL *ssl, const void *buf, size_t size, ProxyTlsWant *ret_want);
/* Decrypted bytes waiting inside the session (epoll does not see them). */
bool proxy_tls_pending(const SSL *ssl);
/* Sends close_notify, once, without waiting for the peer's. */
void proxy_tls_shutdown(SSL *ssl);
