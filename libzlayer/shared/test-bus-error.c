/* SPDX-License-Identifier: Apache-2.0 */
/* test-bus-error.c: the org.zlayer.Error.* table both ways, and through sd-bus. */
#include "bus-error.h"
#include "tests.h"

TEST(name_from_errno) {
        ASSERT_STREQ(zl_bus_error_name_from_errno(ENOENT), "org.zlayer.Error.NotFound");
        ASSERT_STREQ(zl_bus_error_name_from_errno(-ENOENT), "org.zlayer.Error.NotFound");
        ASSERT_STREQ(zl_bus_error_name_from_errno(EEXIST), "org.zlayer.Error.Exists");
        ASSERT_STREQ(zl_bus_error_name_from_errno(EINVAL), "org.zlayer.Error.InvalidArgument");
        ASSERT_STREQ(zl_bus_error_name_from_errno(EBADMSG), "org.zlayer.Error.InvalidSpec");
        ASSERT_STREQ(zl_bus_error_name_from_errno(EPERM), "org.zlayer.Error.PermissionDenied");
        ASSERT_STREQ(zl_bus_error_name_from_errno(EACCES), "org.zlayer.Error.PermissionDenied");
        ASSERT_STREQ(zl_bus_error_name_from_errno(EBUSY), "org.zlayer.Error.Busy");
        ASSERT_STREQ(zl_bus_error_name_from_errno(ETIMEDOUT), "org.zlayer.Error.Timeout");
        ASSERT_STREQ(zl_bus_error_name_from_errno(EOPNOTSUPP), "org.zlayer.Error.NotSupported");
        ASSERT_STREQ(zl_bus_error_name_from_errno(ENOSPC), "org.zlayer.Error.NoSpace");
        ASSERT_STREQ(zl_bus_error_name_from_errno(EHOSTUNREACH), "org.zlayer.Error.Unavailable");
        /* No name of its own: Failed. */
        ASSERT_STREQ(zl_bus_error_name_from_errno(EXDEV), "org.zlayer.Error.Failed");
        ASSERT_STREQ(zl_bus_error_name_from_errno(ENOMEM), "org.zlayer.Error.Failed");
        ASSERT_STREQ(zl_bus_error_name_from_errno(99999), "org.zlayer.Error.Failed");
}

TEST(name_to_errno) {
        ASSERT_EQ(zl_bus_error_name_to_errno("org.zlayer.Error.NotFound"), ENOENT);
        ASSERT_EQ(zl_bus_error_name_to_errno("org.zlayer.Error.PermissionDenied"), EPERM);
        ASSERT_EQ(zl_bus_error_name_to_errno("org.zlayer.Error.InvalidSpec"), EBADMSG);
        ASSERT_EQ(zl_bus_error_name_to_errno("org.zlayer.Error.Failed"), EIO);
        ASSERT_ERROR(zl_bus_error_name_to_errno("org.zlayer.Error.Nope"), EINVAL);
        ASSERT_ERROR(zl_bus_error_name_to_errno("org.freedesktop.DBus.Error.AccessDenied"), EINVAL);
        ASSERT_ERROR(zl_bus_error_name_to_errno(NULL), EINVAL);
}

TEST(round_trip_every_name) {
        /* Every name of the sd-bus map turns into its errno and that errno back into it. */
        for (const sd_bus_error_map *m = zl_bus_error_map; m->code != 0 && m->name; m++) {
                int e = zl_bus_error_name_to_errno(m->name);

                ASSERT_EQ(e, m->code);
                ASSERT_STREQ(zl_bus_error_name_from_errno(e), m->name);
                ASSERT_TRUE(strncmp(m->name, ZL_BUS_ERROR_PREFIX, strlen(ZL_BUS_ERROR_PREFIX)) ==
                            0);
        }
}

TEST(set_errnof) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;

        ASSERT_EQ(zl_bus_error_set_errnof(&e, ENOENT, "Container '%s' not found.", "web-1"),
                  -ENOENT);
        ASSERT_STREQ(e.name, ZL_BUS_ERROR_NOT_FOUND);
        ASSERT_STREQ(e.message, "Container 'web-1' not found.");
        sd_bus_error_free(&e);

        /* %m is the error passed in, not whatever errno happens to be. */
        errno = EAGAIN;
        ASSERT_EQ(zl_bus_error_set_errnof(&e, -EACCES, "Cannot open: %m"), -EACCES);
        ASSERT_STREQ(e.name, ZL_BUS_ERROR_PERMISSION_DENIED);
        ASSERT_STREQ(e.message, "Cannot open: Permission denied");
        ASSERT_EQ(errno, EAGAIN);
}

TEST(to_errno_through_sd_bus) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;

        ASSERT_OK(zl_bus_error_register());
        /* Idempotent. */
        ASSERT_OK(zl_bus_error_register());

        /* Registered, sd-bus itself maps our names, as sd_bus_call() does for error replies. */
        ASSERT_EQ(sd_bus_error_set(&e, ZL_BUS_ERROR_INVALID_SPEC, "bad"), -EBADMSG);
        ASSERT_EQ(sd_bus_error_get_errno(&e), EBADMSG);
        ASSERT_EQ(zl_bus_error_to_errno(&e), EBADMSG);
        sd_bus_error_free(&e);

        ASSERT_EQ(sd_bus_error_set(&e, "org.freedesktop.DBus.Error.AccessDenied", "no"), -EACCES);
        ASSERT_EQ(zl_bus_error_to_errno(&e), EACCES);
        sd_bus_error_free(&e);

        ASSERT_EQ(sd_bus_error_set(&e, "com.example.Whatever", "?"), -EIO);
        ASSERT_EQ(zl_bus_error_to_errno(&e), EIO);
        sd_bus_error_free(&e);

        ASSERT_EQ(zl_bus_error_to_errno(&e), 0);
}
