/* SPDX-License-Identifier: Apache-2.0 */
/* test-log.c: log levels, targets and errno-returning helpers. */
#include <stdio.h>

#include "log.h"
#include "tests.h"

TEST(level_names) {
        ASSERT_EQ(log_level_from_string("debug"), LOG_DEBUG);
        ASSERT_EQ(log_level_from_string("err"), LOG_ERR);
        ASSERT_EQ(log_level_from_string("error"), LOG_ERR);
        ASSERT_EQ(log_level_from_string("warn"), LOG_WARNING);
        ASSERT_EQ(log_level_from_string("3"), LOG_ERR);
        ASSERT_ERROR(log_level_from_string("loud"), EINVAL);
        ASSERT_ERROR(log_level_from_string(NULL), EINVAL);
        ASSERT_STREQ(log_level_to_string(LOG_INFO), "info");
        ASSERT_NULL(log_level_to_string(8));
}

TEST(target_names) {
        ASSERT_EQ(log_target_from_string("journal"), LOG_TARGET_JOURNAL);
        ASSERT_EQ(log_target_from_string("null"), LOG_TARGET_NULL);
        ASSERT_ERROR(log_target_from_string("syslog"), EINVAL);
        ASSERT_STREQ(log_target_to_string(LOG_TARGET_STDERR), "stderr");
}

TEST(errno_is_returned) {
        LogTarget saved = log_get_target();

        log_set_target(LOG_TARGET_NULL);
        ASSERT_EQ(log_error_errno(ENOENT, "Failed to open '%s': %m", "x"), -ENOENT);
        ASSERT_EQ(log_error_errno(-EIO, "Failed: %m"), -EIO);
        /* Below the level the message is not formatted but the error still comes back. */
        log_set_max_level(LOG_ERR);
        ASSERT_EQ(log_debug_errno(EPERM, "hidden"), -EPERM);
        log_set_max_level(LOG_INFO);
        log_set_target(saved);
}

TEST(stderr_output_expands_m) {
        char path[PATH_MAX], buf[256] = {};
        FILE *f;
        int saved_fd;

        snprintf(path, sizeof path, "%s/log", test_tmpdir());
        fflush(stderr);
        saved_fd = dup(STDERR_FILENO);
        ASSERT_TRUE(freopen(path, "w", stderr) != NULL);
        log_set_target(LOG_TARGET_STDERR);
        (void) log_error_errno(ENOENT, "Failed to open 'x': %m");
        log_struct(LOG_WARNING, LOG_FIELDS({ "ZL_EVENT", "test" }), "structured %d", 7);
        fflush(stderr);
        ASSERT_OK(dup2(saved_fd, STDERR_FILENO));
        close(saved_fd);

        f = fopen(path, "re");
        ASSERT_NOT_NULL(f);
        ASSERT_EQ(fread(buf, 1, sizeof buf - 1, f) > 0, 1);
        fclose(f);
        ASSERT_STREQ(buf, "Failed to open 'x': No such file or directory\nstructured 7\n");
}

TEST(environment) {
        setenv("ZLAYER_LOG_LEVEL", "debug", 1);
        setenv("ZLAYER_LOG_TARGET", "null", 1);
        log_parse_environment();
        ASSERT_EQ(log_get_max_level(), LOG_DEBUG);
        ASSERT_EQ(log_get_target(), LOG_TARGET_NULL);
        setenv("ZLAYER_LOG_LEVEL", "bogus", 1);
        log_parse_environment();
        ASSERT_EQ(log_get_max_level(), LOG_DEBUG);
        unsetenv("ZLAYER_LOG_LEVEL");
        unsetenv("ZLAYER_LOG_TARGET");
        log_set_max_level(LOG_INFO);
        log_set_target(LOG_TARGET_STDERR);
}
