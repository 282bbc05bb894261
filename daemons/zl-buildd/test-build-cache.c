/* SPDX-License-Identifier: Apache-2.0 */
/* test-build-cache.c: step keys, buildah's image listing, pruning choices. */
#include "build-cache.h"
#include "string-util.h"
#include "tests.h"

TEST(keys_chain_and_differ) {
        _cleanup_(json_decrefp) json_t *a =
                json_pack("{s:s,s:s,s:[s]}", "cmd", "RUN", "form", "shell", "args", "make");
        _cleanup_(json_decrefp) json_t *b =
                json_pack("{s:s,s:[s],s:s}", "form", "shell", "args", "make", "cmd", "RUN");
        _cleanup_(json_decrefp) json_t *env = json_pack("{s:s}", "V", "1");
        char base[65], k1[65], k2[65], k3[65], k4[65], k5[65];

        ASSERT_OK(build_cache_base_key("sha256:abc", NULL, base));
        ASSERT_OK(build_cache_key(base, a, NULL, NULL, k1));
        /* Key order in the object does not matter. */
        ASSERT_OK(build_cache_key(base, b, NULL, NULL, k2));
        ASSERT_STREQ(k1, k2);
        ASSERT_OK(build_cache_key(base, a, env, NULL, k3));
        ASSERT_TRUE(!streq(k1, k3));
        ASSERT_OK(build_cache_key(base, a, NULL, "context:1", k4));
        ASSERT_TRUE(!streq(k1, k4));
        ASSERT_OK(build_cache_key(k1, a, NULL, NULL, k5));
        ASSERT_TRUE(!streq(k1, k5));

        ASSERT_OK(build_cache_base_key("sha256:abc", "linux/arm64", k2));
        ASSERT_TRUE(!streq(base, k2));
        ASSERT_OK(build_cache_base_key("scratch", NULL, k2));
        ASSERT_TRUE(!streq(base, k2));
        ASSERT_EQ(strlen(k2), 64u);
}

static const char listing[] =
        "[{\"id\":\"sha256:1111111111111111111111111111111111111111111111111111111111111111\","
        "\"names\":[\"127.0.0.1:5000/zlayer/shell:latest\"],\"size\":\"2.13 MB\","
        "\"created\":1700000000},"
        "{\"id\":\"2222222222222222222222222222222222222222222222222222222222222222\","
        "\"names\":[\"localhost/zlayer-cache:aaaa\"],\"size\":\"10 MB\",\"created\":100},"
        "{\"id\":\"3333333333333333333333333333333333333333333333333333333333333333\","
        "\"names\":[\"localhost/zlayer-cache:bbbb\"],\"size\":\"20 MB\",\"created\":200},"
        "{\"id\":\"4444444444444444444444444444444444444444444444444444444444444444\","
        "\"names\":[\"localhost/zlayer-cache:cccc\",\"localhost/app:1\"],\"size\":\"5 MB\","
        "\"created\":50},"
        "{\"id\":\"5555555555555555555555555555555555555555555555555555555555555555\","
        "\"names\":[\"docker.io/library/alpine:latest\"],\"size\":\"7.5 MB\",\"created\":1}]";

TEST(listing) {
        _cleanup_(build_image_list_freep) BuildImageList *l = NULL;

        ASSERT_OK(build_image_list_parse(listing, &l));
        ASSERT_EQ(l->n_items, 5u);
        ASSERT_U64_EQ(l->items[0].size, 2130000);
        ASSERT_EQ(l->items[0].created, 1700000000);
        /* Ids always carry the algorithm. */
        ASSERT_STREQ(l->items[1].id,
                     "sha256:2222222222222222222222222222222222222222222222222222222222222222");
        ASSERT_STREQ(build_image_list_find(l, "127.0.0.1:5000/zlayer/shell"), l->items[0].id);
        ASSERT_STREQ(build_image_list_find(l, "alpine"), l->items[4].id);
        ASSERT_STREQ(build_image_list_find(l, "docker.io/library/alpine:latest"), l->items[4].id);
        ASSERT_STREQ(build_image_list_find(
                             l, "3333333333333333333333333333333333333333333333333333333333333333"),
                     l->items[2].id);
        ASSERT_NULL(build_image_list_find(l, "alpine:3"));
        ASSERT_NULL(build_image_list_find(l, ""));
        ASSERT_STREQ(build_image_list_find_cache(l, "bbbb"), l->items[2].id);
        ASSERT_NULL(build_image_list_find_cache(l, "dddd"));

        ASSERT_OK(build_image_list_add(l, "6666", "localhost/zlayer-cache:dddd"));
        ASSERT_STREQ(build_image_list_find_cache(l, "dddd"), "sha256:6666");
}

TEST(listing_empty_and_bad) {
        _cleanup_(build_image_list_freep) BuildImageList *l = NULL, *m = NULL;
        BuildImageList *x = NULL;

        /* An empty store prints nothing. */
        ASSERT_OK(build_image_list_parse("", &l));
        ASSERT_EQ(l->n_items, 0u);
        ASSERT_OK(build_image_list_parse("[]\n", &m));
        ASSERT_EQ(m->n_items, 0u);
        ASSERT_ERROR(build_image_list_parse("{}", &x), EBADMSG);
        ASSERT_ERROR(build_image_list_parse("[{\"names\":[]}]", &x), EBADMSG);
        ASSERT_NULL(x);
}

TEST(sizes) {
        uint64_t v;

        ASSERT_OK(build_parse_size("2.13 MB", &v));
        ASSERT_U64_EQ(v, 2130000);
        ASSERT_OK(build_parse_size("512 B", &v));
        ASSERT_U64_EQ(v, 512);
        ASSERT_OK(build_parse_size("1.5 GB", &v));
        ASSERT_U64_EQ(v, 1500000000);
        ASSERT_OK(build_parse_size("2 KiB", &v));
        ASSERT_U64_EQ(v, 2048);
        ASSERT_OK(build_parse_size("77", &v));
        ASSERT_U64_EQ(v, 77);
        ASSERT_ERROR(build_parse_size("", &v), EINVAL);
        ASSERT_ERROR(build_parse_size("MB", &v), EINVAL);
        ASSERT_ERROR(build_parse_size("3 parsecs", &v), EINVAL);
        ASSERT_ERROR(build_parse_size("-1 MB", &v), EINVAL);
}

TEST(prune_selection) {
        _cleanup_(build_image_list_freep) BuildImageList *l = NULL;
        _cleanup_strv_free_ char **ids = NULL;

        ASSERT_OK(build_image_list_parse(listing, &l));
        /* No limits: nothing. */
        ASSERT_OK(build_cache_select_prune(l, UINT64_MAX, 0, 1000, &ids));
        ASSERT_EQ(strv_length(ids), 0u);
        ids = strv_free(ids);

        /* Size: 30 MB of cache-only images; at most 25 MB drops the oldest (aaaa). The image
         * also tagged localhost/app:1 is never a candidate. */
        ASSERT_OK(build_cache_select_prune(l, 25000000, 0, 1000, &ids));
        ASSERT_EQ(strv_length(ids), 1u);
        ASSERT_STREQ(ids[0], l->items[1].id);
        ids = strv_free(ids);

        ASSERT_OK(build_cache_select_prune(l, 0, 0, 1000, &ids));
        ASSERT_EQ(strv_length(ids), 2u);
        ids = strv_free(ids);

        /* Age: older than 850 s at now=1000 means created before 150. */
        ASSERT_OK(build_cache_select_prune(l, UINT64_MAX, 850, 1000, &ids));
        ASSERT_EQ(strv_length(ids), 1u);
        ASSERT_STREQ(ids[0], l->items[1].id);
}
