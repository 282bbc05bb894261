/* SPDX-License-Identifier: Apache-2.0 */
/* test-image-ref.c: OCI image reference parsing and normalization. */
#include "image-ref.h"
#include "tests.h"

static void test_one(const char *in, const char *out) {
        _cleanup_free_ char *s = NULL;
        const char *why = NULL;

        ASSERT_OK(image_ref_normalize(in, &s, &why));
        ASSERT_STREQ(s, out);
}

static void test_bad(const char *in) {
        _cleanup_free_ char *s = NULL;
        const char *why = NULL;

        ASSERT_ERROR(image_ref_normalize(in, &s, &why), EINVAL);
        ASSERT_NULL(s);
        ASSERT_NOT_NULL(why);
}

#define DIGEST "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

TEST(normalize) {
        test_one("nginx", "docker.io/library/nginx:latest");
        test_one("nginx:1.27", "docker.io/library/nginx:1.27");
        test_one("nginx:latest", "docker.io/library/nginx:latest");
        test_one("library/nginx", "docker.io/library/nginx:latest");
        test_one("bitnami/redis:7", "docker.io/bitnami/redis:7");
        test_one("docker.io/nginx", "docker.io/library/nginx:latest");
        test_one("index.docker.io/nginx", "docker.io/library/nginx:latest");
        test_one("localhost:5000/x", "localhost:5000/x:latest");
        test_one("localhost/x:v1", "localhost/x:v1");
        test_one("ghcr.io/a/b", "ghcr.io/a/b:latest");
        test_one("ghcr.io/a/b@" DIGEST, "ghcr.io/a/b@" DIGEST);
        test_one("ghcr.io/a/b:1.0@" DIGEST, "ghcr.io/a/b:1.0@" DIGEST);
        test_one("nginx@" DIGEST, "docker.io/library/nginx@" DIGEST);
        test_one("my-registry.example.com:443/team/app_x/svc__y:V1.2-rc_3",
                 "my-registry.example.com:443/team/app_x/svc__y:V1.2-rc_3");
        test_one("a--b/c.d", "docker.io/a--b/c.d:latest");
        test_one("[::1]:5000/x", "[::1]:5000/x:latest");
        test_one("Registry.Example.COM/x", "Registry.Example.COM/x:latest");
}

TEST(parts) {
        _cleanup_(image_ref_freep) ImageRef *r = NULL;
        _cleanup_free_ char *repo = NULL;

        ASSERT_OK(image_ref_parse("quay.io:8443/org/app:2@" DIGEST, &r, NULL));
        ASSERT_STREQ(r->domain, "quay.io:8443");
        ASSERT_STREQ(r->path, "org/app");
        ASSERT_STREQ(r->tag, "2");
        ASSERT_STREQ(r->digest, DIGEST);
        repo = image_ref_repository(r);
        ASSERT_STREQ(repo, "quay.io:8443/org/app");
}

TEST(reject) {
        test_bad("");
        test_bad("Nginx");
        test_bad("nginx:");
        test_bad(":tag");
        test_bad("nginx:-bad");
        test_bad("nginx:a b");
        test_bad("nginx@sha256:abc");
        test_bad("nginx@sha256:"
                 "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef");
        test_bad("nginx@");
        test_bad("a//b");
        test_bad("/a");
        test_bad("a/");
        test_bad("a_/b");
        test_bad("a..b");
        test_bad("a___b");
        test_bad("-a");
        test_bad("exa mple.com/a");
        test_bad("example.com:port/a");
        test_bad("example.com:123456/a");
        test_bad("-example.com/a");
        test_bad("localhost:5000/");
        test_bad("x:1:2");
}

TEST(long_names) {
        char name[300], expected[400], tag[200];

        memset(name, 'a', sizeof name - 1);
        name[sizeof name - 1] = '\0';
        test_bad(name);
        /* The 255-character limit counts the normalized "docker.io/library/" prefix too, so
         * the canonical form of every accepted name is accepted again. */
        name[255 - strlen("docker.io/library/")] = '\0';
        snprintf(expected, sizeof expected, "docker.io/library/%s:latest", name);
        test_one(name, expected);
        name[255 - strlen("docker.io/library/")] = 'a';
        name[256 - strlen("docker.io/library/")] = '\0';
        test_bad(name);
        name[255] = '\0';
        test_bad(name);

        memset(tag, 't', sizeof tag - 1);
        tag[128] = '\0';
        snprintf(name, sizeof name, "x:%s", tag);
        snprintf(expected, sizeof expected, "docker.io/library/x:%s", tag);
        test_one(name, expected);
        tag[128] = 't';
        tag[129] = '\0';
        snprintf(name, sizeof name, "x:%s", tag);
        test_bad(name);
}
