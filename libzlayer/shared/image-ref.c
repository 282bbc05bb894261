/* SPDX-License-Identifier: Apache-2.0 */
/* image-ref.c: OCI image reference grammar and Docker Hub normalization. */
#include <stdio.h>

#include "image-ref.h"
#include "string-util.h"

#define IMAGE_NAME_MAX 255U
#define IMAGE_TAG_MAX 128U

ImageRef *image_ref_free(ImageRef *r) {
        if (!r)
                return NULL;
        free(r->domain);
        free(r->path);
        free(r->tag);
        free(r->digest);
        return mfree(r);
}

static bool is_lower_alnum(char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c) {
        return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)* over s[0..n) */
static bool path_component_is_valid(const char *s, size_t n) {
        size_t i = 0;

        if (n == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
                return false;
        while (i < n) {
                if (is_lower_alnum(s[i])) {
                        i++;
                        continue;
                }
                if (s[i] == '.') {
                        i++;
                } else if (s[i] == '_') {
                        i++;
                        if (i < n && s[i] == '_')
                                i++;
                } else if (s[i] == '-') {
                        while (i < n && s[i] == '-')
                                i++;
                } else
                        return false;
                /* A separator must be followed by an alphanumeric. */
                if (i >= n || !is_lower_alnum(s[i]))
                        return false;
        }
        return true;
}

/* host[:port]: dot-separated labels of [A-Za-z0-9-] not starting or ending with '-', or a
 * bracketed IPv6 address; port digits. */
static bool domain_is_valid(const char *s, size_t n) {
        const char *colon = NULL;
        size_t hostlen;

        if (n == 0)
                return false;
        if (s[0] == '[') {
                const char *close = memchr(s, ']', n);

                if (!close || close == s + 1)
                        return false;
                for (const char *p = s + 1; p < close; p++)
                        if (!is_alnum(*p) && *p != ':' && *p != '.')
                                return false;
                hostlen = close - s + 1;
                if (hostlen < n && s[hostlen] != ':')
                        return false;
                if (hostlen < n)
                        colon = s + hostlen;
        } else {
                colon = memchr(s, ':', n);
                hostlen = colon ? (size_t) (colon - s) : n;
                for (size_t i = 0, start = 0; i <= hostlen; i++) {
                        if (i < hostlen && s[i] != '.') {
                                if (!is_alnum(s[i]) && s[i] != '-')
                                        return false;
                                continue;
                        }
                        if (i == start || s[start] == '-' || s[i - 1] == '-')
                                return false;
                        start = i + 1;
                }
        }
        if (colon) {
                size_t plen = n - (colon - s) - 1;

                if (plen == 0 || plen > 5)
                        return false;
                for (size_t i = 1; i <= plen; i++)
                        if (colon[i] < '0' || colon[i] > '9')
                                return false;
        }
        return true;
}

static bool tag_is_valid(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > IMAGE_TAG_MAX)
                return false;
        if (!is_alnum(s[0]) && s[0] != '_')
                return false;
        for (size_t i = 1; i < n; i++)
                if (!is_alnum(s[i]) && !strchr("_.-", s[i]))
                        return false;
        return true;
}

static bool digest_is_valid(const char *s) {
        const char *colon = strchr(s, ':'), *hex;
        size_t alen, hlen;

        if (!colon)
                return false;
        alen = colon - s;
        hex = colon + 1;
        hlen = strlen(hex);
        /* algorithm: [a-z0-9]+ ([+._-] [a-z0-9]+)* */
        if (alen == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[alen - 1]))
                return false;
        for (size_t i = 1; i < alen; i++)
                if (!is_lower_alnum(s[i]) && (!strchr("+._-", s[i]) || !is_lower_alnum(s[i - 1])))
                        return false;
        if (hlen == 0)
                return false;
        if (strneq(s, "sha256:", 7) || strneq(s, "sha512:", 7)) {
                if (hlen != (s[3] == '2' ? 64U : 128U))
                        return false;
                for (size_t i = 0; i < hlen; i++)
                        if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f')))
                                return false;
                return true;
        }
        for (size_t i = 0; i < hlen; i++)
                if (!is_alnum(hex[i]) && !strchr("=_-", hex[i]))
                        return false;
        return true;
}

static int fail(const char **ret_error, const char *why) {
        if (ret_error)
                *ret_error = why;
        return -EINVAL;
}

int image_ref_parse(const char *s, ImageRef **ret, const char **ret_error) {
        _cleanup_(image_ref_freep) ImageRef *r = NULL;
        _cleanup_free_ char *name = NULL;
        const char *at, *slash, *last_slash, *colon, *path;
        size_t n_name;

        assert(ret);

        if (isempty(s))
                return fail(ret_error, "the reference is empty");

        r = calloc(1, sizeof(ImageRef));
        if (!r)
                return -ENOMEM;

        at = strchr(s, '@');
        if (at) {
                if (!digest_is_valid(at + 1))
                        return fail(ret_error, "the digest is not 'algorithm:hex' "
                                               "(sha256 takes 64 lower-case hex digits)");
                r->digest = strdup(at + 1);
                if (!r->digest)
                        return -ENOMEM;
        }
        n_name = at ? (size_t) (at - s) : strlen(s);

        /* A ':' after the last '/' starts the tag; one before it belongs to a registry port. */
        last_slash = memrchr(s, '/', n_name);
        colon = memchr(last_slash ?: s, ':', n_name - (last_slash ? (size_t) (last_slash - s) : 0));
        if (colon) {
                r->tag = strndup(colon + 1, n_name - (colon + 1 - s));
                if (!r->tag)
                        return -ENOMEM;
                if (!tag_is_valid(r->tag))
                        return fail(ret_error, "the tag is not [A-Za-z0-9_][A-Za-z0-9_.-]* "
                                               "of at most 128 characters");
                n_name = colon - s;
        }
        if (n_name == 0)
                return fail(ret_error, "the name is empty");

        name = strndup(s, n_name);
        if (!name)
                return -ENOMEM;

        slash = strchr(name, '/');
        path = name;
        if (slash && (memchr(name, '.', slash - name) || memchr(name, ':', slash - name) ||
                      ((size_t) (slash - name) == strlen("localhost") &&
                       strneq(name, "localhost", slash - name)))) {
                if (!domain_is_valid(name, slash - name))
                        return fail(ret_error, "the registry is not a valid host[:port]");
                r->domain = strndup(name, slash - name);
                path = slash + 1;
        } else
                r->domain = strdup("docker.io");
        if (!r->domain)
                return -ENOMEM;
        if (streq(r->domain, "index.docker.io") || streq(r->domain, "registry-1.docker.io")) {
                char *d = strdup("docker.io");

                if (!d)
                        return -ENOMEM;
                free_and_replace(r->domain, d);
        }

        for (const char *p = path;;) {
                const char *e = strchrnul(p, '/');

                if (!path_component_is_valid(p, e - p))
                        return fail(ret_error,
                                    "the repository path is not lower-case [a-z0-9] components "
                                    "separated by '/', with '.', '_', '__' or '-' inside");
                if (*e == '\0')
                        break;
                p = e + 1;
        }

        if (streq(r->domain, "docker.io") && !strchr(path, '/'))
                r->path = strjoin("library/", path);
        else
                r->path = strdup(path);
        if (!r->path)
                return -ENOMEM;
        /* The limit applies to the normalized name, so a short name that only grows past it
         * through "docker.io/library/" is refused here rather than after a round trip. */
        if (strlen(r->domain) + 1 + strlen(r->path) > IMAGE_NAME_MAX)
                return fail(ret_error, "the repository name with its registry is longer than "
                                       "255 characters");

        if (!r->tag && !r->digest) {
                r->tag = strdup("latest");
                if (!r->tag)
                        return -ENOMEM;
        }

        *ret = TAKE_PTR(r);
        return 0;
}

char *image_ref_repository(const ImageRef *r) {
        assert(r);
        return strjoin(r->domain, "/", r->path);
}

char *image_ref_to_string(const ImageRef *r) {
        assert(r);
        return strjoin(r->domain, "/", r->path, r->tag ? ":" : "", strempty(r->tag),
                       r->digest ? "@" : "", strempty(r->digest));
}

int image_ref_normalize(const char *s, char **ret, const char **ret_error) {
        _cleanup_(image_ref_freep) ImageRef *r = NULL;
        char *t;
        int k;

        assert(ret);

        k = image_ref_parse(s, &r, ret_error);
        if (k < 0)
                return k;
        t = image_ref_to_string(r);
        if (!t)
                return -ENOMEM;
        *ret = t;
        return 0;
}
