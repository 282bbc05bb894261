/* SPDX-License-Identifier: Apache-2.0 */
/* test-proxy-tls-loader.c: zl-proxy-tls.so loaded only when needed; a missing module refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "string-util.h"
#include "proxy-tls-module.h"
#include "proxy-tls.h"
#include "tests.h"

/* One test, in order: the module is loaded once per process and stays. */
TEST(loaded_on_demand) {
        _cleanup_(proxy_tls_freep) ProxyTls *t = NULL;
        _cleanup_free_ char *missing = NULL, *bogus = NULL, *empty = NULL, *full = NULL;
        char crt[PATH_MAX], nodir[PATH_MAX];
        ProxyTlsError e = {};
        FILE *f;

        ASSERT_NOT_NULL(missing = strjoin(test_tmpdir(), "/nowhere/" PROXY_TLS_MODULE_NAME));
        ASSERT_NOT_NULL(bogus = strjoin(test_tmpdir(), "/bogus.so"));
        ASSERT_NOT_NULL(empty = strjoin(test_tmpdir(), "/empty"));
        ASSERT_NOT_NULL(full = strjoin(test_tmpdir(), "/full"));
        ASSERT_OK(mkdir_p(empty, 0700));
        ASSERT_OK(mkdir_p(full, 0700));
        snprintf(crt, sizeof crt, "%s/a.test.crt", full);
        snprintf(nodir, sizeof nodir, "%s/no", empty);
        ASSERT_NOT_NULL(f = fopen(bogus, "we"));
        fputs("not an ELF file\n", f);
        fclose(f);
        /* Only the name matters before the module loads: the contents are never read. */
        ASSERT_NOT_NULL(f = fopen(crt, "we"));
        fclose(f);

        ASSERT_OK(setenv(PROXY_TLS_MODULE_ENV, missing, 1));
        ASSERT_ERROR(proxy_tls_new("bad name!", &t), EINVAL);
        ASSERT_OK(proxy_tls_new("node.test", &t));
        ASSERT_FALSE(proxy_tls_module_loaded());
        ASSERT_NULL(proxy_tls_module_error());
        ASSERT_EQ(proxy_tls_n_certificates(t), 0);
        ASSERT_NULL(proxy_tls_session_new(t, 0, 0));

        /* Nothing to load for a directory without certificates; a missing one is still -ENOENT. */
        ASSERT_OK(proxy_tls_reload(t, empty, &e));
        ASSERT_FALSE(proxy_tls_module_loaded());
        ASSERT_ERROR(proxy_tls_reload(t, nodir, &e), ENOENT);
        ASSERT_TRUE(strstr(e.message, "/no'"));
        ASSERT_FALSE(proxy_tls_module_loaded());

        /* Everything that needs OpenSSL fails, naming the path and dlerror(). */
        ASSERT_ERROR(proxy_tls_prepare(t), ELIBACC);
        ASSERT_NOT_NULL(proxy_tls_module_error());
        ASSERT_TRUE(strstr(proxy_tls_module_error(), missing));
        ASSERT_TRUE(strstr(proxy_tls_module_error(), "No such file"));
        e = (ProxyTlsError){};
        ASSERT_ERROR(proxy_tls_reload(t, full, &e), ELIBACC);
        ASSERT_TRUE(strstr(e.message, missing));
        e = (ProxyTlsError){};
        ASSERT_ERROR(proxy_tls_add_certificate(t, "a.test", "x", "y", &e), ELIBACC);
        ASSERT_TRUE(strstr(e.message, "cannot load the TLS module"));
        ASSERT_ERROR(proxy_tls_add_certificate(t, "a.test", NULL, "y", &e), EINVAL);
        ASSERT_NULL(proxy_tls_select(t, "a.test"));
        ASSERT_ERROR(proxy_tls_rotate_ticket_keys(t), ELIBACC);
        ASSERT_FALSE(proxy_tls_module_loaded());

        /* A file that is not a module: dlerror() says why. */
        ASSERT_OK(setenv(PROXY_TLS_MODULE_ENV, bogus, 1));
        ASSERT_ERROR(proxy_tls_prepare(t), ELIBACC);
        ASSERT_TRUE(strstr(proxy_tls_module_error(), bogus));
        ASSERT_TRUE(strstr(proxy_tls_module_error(), "header") ||
                    strstr(proxy_tls_module_error(), "too short"));

        /* Retried at the next call: the build's module (beside this executable) loads. */
        ASSERT_OK(unsetenv(PROXY_TLS_MODULE_ENV));
        ASSERT_OK(proxy_tls_prepare(t));
        ASSERT_TRUE(proxy_tls_module_loaded());
        ASSERT_NULL(proxy_tls_module_error());
        ASSERT_EQ(proxy_tls_n_certificates(t), 0);
        ASSERT_OK(proxy_tls_rotate_ticket_keys(t));
        /* The module now parses the directory: an empty .crt is refused, as before. */
        e = (ProxyTlsError){};
        ASSERT_ERROR(proxy_tls_reload(t, full, &e), EINVAL);
        ASSERT_TRUE(strstr(e.message, "a.test"));
        ASSERT_OK(proxy_tls_reload(t, empty, &e));
        ASSERT_EQ(proxy_tls_n_certificates(t), 0);
}
