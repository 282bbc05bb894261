/* SPDX-License-Identifier: Apache-2.0 */
/* registry-auth.c: WWW-Authenticate challenges and credentials from auth.json files. */
#include <ctype.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <strings.h>
#include <sys/stat.h>

#include "fd-util.h"
#include "registry.h"
#include "string-util.h"

void registry_challenge_done(RegistryChallenge *ch) {
        if (!ch)
                return;
        ch->scheme = mfree(ch->scheme);
        ch->realm = mfree(ch->realm);
        ch->service = mfree(ch->service);
        ch->scope = mfree(ch->scope);
}

static bool is_token_char(char c) {
        return c > ' ' && c < 127 && !strchr("\",;=()<>@:\\/[]?{}", c);
}

int registry_challenge_parse(const char *header, RegistryChallenge *ret) {
        _cleanup_(registry_challenge_done) RegistryChallenge ch = {};
        const char *p = header;

        assert(header);
        assert(ret);

        p += strspn(p, " \t");
        size_t n = 0;
        while (is_token_char(p[n]))
                n++;
        if (n == 0)
                return -EINVAL;
        ch.scheme = strndup(p, n);
        if (!ch.scheme)
                return -ENOMEM;
        for (char *s = ch.scheme; *s; s++)
                *s = (char) tolower((unsigned char) *s);
        p += n;

        for (;;) {
                _cleanup_free_ char *key = NULL, *value = NULL;

                p += strspn(p, " \t,");
                if (*p == '\0')
                        break;
                n = 0;
                while (is_token_char(p[n]))
                        n++;
                if (n == 0)
                        return -EINVAL;
                key = strndup(p, n);
                if (!key)
                        return -ENOMEM;
                p += n;
                p += strspn(p, " \t");
                if (*p != '=')
                        return -EINVAL;
                p++;
                p += strspn(p, " \t");
                if (*p == '"') {
                        size_t len = 0;

                        value = malloc(strlen(p));
                        if (!value)
                                return -ENOMEM;
                        for (p++; *p != '"'; p++) {
                                if (*p == '\\' && p[1] != '\0')
                                        p++;
                                if (*p == '\0')
                                        return -EINVAL; /* unterminated */
                                value[len++] = *p;
                        }
                        value[len] = '\0';
                        p++;
                } else {
                        n = 0;
                        /* token68 values may end in '=' padding */
                        while (p[n] != '\0' && p[n] != ',' && p[n] != ' ' && p[n] != '\t')
                                n++;
                        value = strndup(p, n);
                        if (!value)
                                return -ENOMEM;
                        p += n;
                }
                if (!strcasecmp(key, "realm"))
                        free_and_replace(ch.realm, value);
                else if (!strcasecmp(key, "service"))
                        free_and_replace(ch.service, value);
                else if (!strcasecmp(key, "scope"))
                        free_and_replace(ch.scope, value);
        }

        *ret = ch;
        ch = (RegistryChallenge){};
        return 0;
}

static int decode_auth(const char *b64, char **ret) {
        size_t len = strlen(b64);
        _cleanup_free_ char *out = NULL;

        if (len == 0 || len % 4 != 0)
                return -EBADMSG;
        out = malloc(len / 4 * 3 + 1);
        if (!out)
                return -ENOMEM;
        int n = EVP_DecodeBlock((unsigned char *) out, (const unsigned char *) b64, (int) len);
        if (n < 0)
                return -EBADMSG;
        /* EVP_DecodeBlock counts the padding as zero bytes */
        for (const char *e = b64 + len - 1; e > b64 && *e == '='; e--)
                n--;
        out[n] = '\0';
        if ((size_t) n != strlen(out) || !strchr(out, ':'))
                return -EBADMSG;
        *ret = TAKE_PTR(out);
        return 0;
}

int registry_auth_lookup(const char *json, const char *host, char **ret_userpass) {
        static const char *const hub_keys[] = {
                "docker.io",
                "index.docker.io",
                "registry-1.docker.io",
                "https://index.docker.io/v1/",
        };
        json_t *root, *auths, *entry = NULL;
        json_error_t err;
        int r;

        assert(json);
        assert(host);
        assert(ret_userpass);

        root = json_loads(json, 0, &err);
        if (!root)
                return -EBADMSG;
        auths = json_object_get(root, "auths");
        if (auths && !json_is_object(auths)) {
                json_decref(root);
                return -EBADMSG;
        }
        if (auths) {
                bool hub = false;

                entry = json_object_get(auths, host);
                for (size_t i = 0; i < ELEMENTSOF(hub_keys); i++)
                        hub = hub || streq(hub_keys[i], host);
                for (size_t i = 0; hub && !entry && i < ELEMENTSOF(hub_keys); i++)
                        entry = json_object_get(auths, hub_keys[i]);
                if (!entry) {
                        /* keys may carry a scheme: "https://host" */
                        const char *k;
                        json_t *v;
                        json_object_foreach (auths, k, v) {
                                const char *s =
                                        startswith(k, "https://") ?: startswith(k, "http://");
                                if (s && strneq(s, host, strlen(host)) &&
                                    (s[strlen(host)] == '\0' || s[strlen(host)] == '/')) {
                                        entry = v;
                                        break;
                                }
                        }
                }
        }
        if (!entry) {
                json_decref(root);
                return -ENOENT;
        }
        const char *auth = json_string_value(json_object_get(entry, "auth"));
        if (!auth) {
                json_decref(root);
                return -ENOENT; /* a credential helper entry, which we do not run */
        }
        r = decode_auth(auth, ret_userpass);
        json_decref(root);
        return r;
}

int registry_auth_lookup_file(const char *path, bool must_be_private, const char *host,
                              char **ret_userpass) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        size_t len = 0;

        assert(path);

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADMSG;
        if (must_be_private && ((st.st_mode & 077) || st.st_uid != geteuid()))
                return -EPERM;
        if (st.st_size > 4 * 1024 * 1024)
                return -EFBIG;
        buf = malloc((size_t) st.st_size + 1);
        if (!buf)
                return -ENOMEM;
        while (len < (size_t) st.st_size) {
                ssize_t n = read(fd, buf + len, (size_t) st.st_size - len);
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                len += (size_t) n;
        }
        buf[len] = '\0';
        return registry_auth_lookup(buf, host, ret_userpass);
}
