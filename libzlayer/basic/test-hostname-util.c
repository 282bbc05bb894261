/* SPDX-License-Identifier: Apache-2.0 */
/* test-hostname-util.c: DNS labels and hostnames, valid and invalid. */
#include "hostname-util.h"
#include "tests.h"

#define L63                                                                                        \
        "abcdefghij"                                                                               \
        "abcdefghij"                                                                               \
        "abcdefghij"                                                                               \
        "abcdefghij"                                                                               \
        "abcdefghij"                                                                               \
        "abcdefghij"                                                                               \
        "abc"

TEST(dns_label) {
        static const char *const good[] = {
                "a", "0", "web", "my-service", "a1", "1a", "x--y", L63
        };
        static const char *const bad[] = {
                "", "-a", "a-", "-", "Web", "WEB", "my_service", "a.b", "a b", "é", "a\n", L63 "d",
        };

        for (size_t i = 0; i < ELEMENTSOF(good); i++)
                if (!dns_label_is_valid(good[i]))
                        test_fail(__FILE__, __LINE__, "'%s' should be a valid label", good[i]);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                if (dns_label_is_valid(bad[i]))
                        test_fail(__FILE__, __LINE__, "'%s' should not be a valid label", bad[i]);
        ASSERT_FALSE(dns_label_is_valid(NULL));
}

TEST(dns_label_len) {
        ASSERT_TRUE(dns_label_is_valid_len("abc", 3, 63));
        ASSERT_FALSE(dns_label_is_valid_len("ab", 3, 63));
        ASSERT_TRUE(dns_label_is_valid_len(L63, 3, 63));
        ASSERT_FALSE(dns_label_is_valid_len(L63, 3, 62));
        ASSERT_FALSE(dns_label_is_valid_len(L63 "x", 3, 100));
        ASSERT_FALSE(dns_label_is_valid_len("Abc", 3, 63));
        ASSERT_FALSE(dns_label_is_valid_len("ab-", 3, 63));
        ASSERT_FALSE(dns_label_is_valid_len("", 0, 63));
        ASSERT_FALSE(dns_label_is_valid_len(NULL, 0, 63));
}

TEST(hostname) {
        static const char *const good[] = {
                "localhost", "web-1", "Web-1", "node1.example.com", "A.B.C", "1.2.3.4", L63 ".com",
        };
        static const char *const bad[] = {
                "",       ".",    "a.",
                ".a",     "a..b", "-a.com",
                "a-.com", "a.-b", "under_score.com",
                "a b",    "a/b",  L63 "x.com",
                "é.com",
        };
        char long_name[300];

        for (size_t i = 0; i < ELEMENTSOF(good); i++)
                if (!hostname_is_valid(good[i]))
                        test_fail(__FILE__, __LINE__, "'%s' should be a valid hostname", good[i]);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                if (hostname_is_valid(bad[i]))
                        test_fail(__FILE__, __LINE__, "'%s' should not be a valid hostname",
                                  bad[i]);
        ASSERT_FALSE(hostname_is_valid(NULL));

        /* 4 labels of 63 with 3 dots is 255: too long; cut to 253 it is fine. */
        snprintf(long_name, sizeof long_name, "%s.%s.%s.%s", L63, L63, L63, L63);
        ASSERT_EQ(strlen(long_name), 255);
        ASSERT_FALSE(hostname_is_valid(long_name));
        long_name[253] = '\0';
        ASSERT_TRUE(hostname_is_valid(long_name));
}
