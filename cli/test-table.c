/* SPDX-License-Identifier: Apache-2.0 */
/* test-table.c: column widths, missing cells, the unpadded last column. */
#include <stdio.h>

#include "table.h"
#include "tests.h"

static char *print_to_string(const Table *t) {
        char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);

        ASSERT_NOT_NULL(f);
        ASSERT_OK(table_print(t, f));
        ASSERT_EQ(fclose(f), 0);
        return buf;
}

TEST(widths_follow_the_widest_cell) {
        _cleanup_(table_freep) Table *t = table_new("NAME", "PID", "STATE");
        _cleanup_free_ char *s = NULL;

        ASSERT_NOT_NULL(t);
        ASSERT_OK(table_add_row(t, "zl-runtimed", "12", "ready"));
        ASSERT_OK(table_add_row(t, "a", "123456", "restarting"));
        s = print_to_string(t);
        ASSERT_STREQ(s, "NAME         PID     STATE\n"
                        "zl-runtimed  12      ready\n"
                        "a            123456  restarting\n");
}

TEST(null_cells_print_as_dash) {
        _cleanup_(table_freep) Table *t = table_new("A", "B");
        _cleanup_free_ char *s = NULL;

        ASSERT_NOT_NULL(t);
        ASSERT_OK(table_add_row(t, NULL, NULL));
        s = print_to_string(t);
        ASSERT_STREQ(s, "A  B\n-  -\n");
}

TEST(header_only) {
        _cleanup_(table_freep) Table *t = table_new("ONLY");
        _cleanup_free_ char *s = NULL;

        ASSERT_NOT_NULL(t);
        s = print_to_string(t);
        ASSERT_STREQ(s, "ONLY\n");
}

TEST(free_null) {
        ASSERT_NULL(table_free(NULL));
}

TEST(uptime) {
        char buf[TIMESPAN_MAX_LEN];

        ASSERT_STREQ(format_uptime(0, buf, sizeof(buf)), "<1s");
        ASSERT_STREQ(format_uptime(999999, buf, sizeof(buf)), "<1s");
        ASSERT_STREQ(format_uptime(USEC_PER_SEC, buf, sizeof(buf)), "1s");
        ASSERT_STREQ(format_uptime(3723 * USEC_PER_SEC + 500, buf, sizeof(buf)), "1h 2min 3s");
}
