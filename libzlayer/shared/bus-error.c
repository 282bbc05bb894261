/* SPDX-License-Identifier: Apache-2.0 */
/* bus-error.c: one table of org.zlayer.Error.* names shared by the daemons and zlctl. */
#include <stdarg.h>
#include <stdio.h>

#include "bus-error.h"

/* The first row for a name gives the errno the name turns back into; further rows only add
 * errno values that are reported under that name. */
typedef struct ErrorRow {
        const char *name;
        int error;
} ErrorRow;

static const ErrorRow error_table[] = {
        { ZL_BUS_ERROR_NOT_FOUND, ENOENT },
        { ZL_BUS_ERROR_NOT_FOUND, ESRCH },
        { ZL_BUS_ERROR_EXISTS, EEXIST },
        { ZL_BUS_ERROR_INVALID_ARGUMENT, EINVAL },
        { ZL_BUS_ERROR_INVALID_SPEC, EBADMSG },
        { ZL_BUS_ERROR_PERMISSION_DENIED, EPERM },
        { ZL_BUS_ERROR_PERMISSION_DENIED, EACCES },
        { ZL_BUS_ERROR_BUSY, EBUSY },
        { ZL_BUS_ERROR_TIMEOUT, ETIMEDOUT },
        { ZL_BUS_ERROR_TIMEOUT, ETIME },
        { ZL_BUS_ERROR_NOT_SUPPORTED, EOPNOTSUPP },
        { ZL_BUS_ERROR_NOT_SUPPORTED, ENOSYS },
        { ZL_BUS_ERROR_NO_SPACE, ENOSPC },
        { ZL_BUS_ERROR_NO_SPACE, EDQUOT },
        { ZL_BUS_ERROR_TOO_LARGE, EFBIG },
        { ZL_BUS_ERROR_TOO_LARGE, E2BIG },
        { ZL_BUS_ERROR_OUT_OF_RANGE, ERANGE },
        { ZL_BUS_ERROR_CANCELLED, ECANCELED },
        { ZL_BUS_ERROR_TRY_AGAIN, EAGAIN },
        { ZL_BUS_ERROR_UNAVAILABLE, EHOSTUNREACH },
        { ZL_BUS_ERROR_UNAVAILABLE, ENXIO },
        { ZL_BUS_ERROR_UNAVAILABLE, ECONNREFUSED },
        { ZL_BUS_ERROR_UNAVAILABLE, ENOTCONN },
        { ZL_BUS_ERROR_FAILED, EIO },
};

const sd_bus_error_map zl_bus_error_map[] = {
        SD_BUS_ERROR_MAP(ZL_BUS_ERROR_NOT_FOUND, ENOENT),
        SD_BUS_ERROR_MAP(ZL_BUS_ERROR_EXISTS, EEXIST),
        SD_BUS_ERROR_MAP(ZL_BUS_ERROR_INVALID_ARGUMENT, EINVAL),
        SD_BUS_ERROR_MAP(ZL_BUS_ERROR_INVALID_SPEC, EBADMSG),
        SD_BUS_ERROR_MAP(ZL_BUS_ERROR_PERMISSION_DENIED, EPERM),
        SD_BUS_ERROR_MAP(ZL_BUS_ERROR_BUSY, EBUSY),
        SD_BUS_ERROR_MAP(ZL_BUS_ERROR_TIMEOUT, ETIMEDOUT),
        SD_BUS_ERROR_MAP(ZL_BUS_ERROR_NOT_SUPPORTED, EOPNOTSUPP),
        SD_BUS_ERROR_MAP(ZL_BUS_ERROR_NO_SPACE, ENOSPC),
        SD_BUS_ERROR_MAP(ZL_BUS_ERROR_TOO_LARGE, EFBIG),
        SD_BUS_ERROR_MAP(ZL_BUS_ERROR_OUT_OF_RANGE, ERANGE),
        SD_BUS_ERROR_MAP(ZL_BUS_ERROR_CANCELLED, ECANCELED),
        SD_BUS_ERROR_MAP(ZL_BUS_ERROR_TRY_AGAIN, EAGAIN),
        SD_BUS_ERROR_MAP(ZL_BUS_ERROR_UNAVAILABLE, EHOSTUNREACH),
        SD_BUS_ERROR_MAP(ZL_BUS_ERROR_FAILED, EIO),
        SD_BUS_ERROR_MAP_END,
};

int zl_bus_error_register(void) {
        return sd_bus_error_add_map(zl_bus_error_map);
}

const char *zl_bus_error_name_from_errno(int error) {
        error = abs(error);
        for (size_t i = 0; i < ELEMENTSOF(error_table); i++)
                if (error_table[i].error == error)
                        return error_table[i].name;
        return ZL_BUS_ERROR_FAILED;
}

int zl_bus_error_name_to_errno(const char *name) {
        if (!name)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(error_table); i++)
                if (streq(error_table[i].name, name))
                        return error_table[i].error;
        return -EINVAL;
}

int zl_bus_error_to_errno(const sd_bus_error *e) {
        int r;

        if (!sd_bus_error_is_set(e))
                return 0;
        r = zl_bus_error_name_to_errno(e->name);
        if (r > 0)
                return r;
        /* Names of sd-bus and the bus daemon (AccessDenied, ServiceUnknown, ...). */
        r = sd_bus_error_get_errno(e);
        return r > 0 ? r : EIO;
}

_printf_(3, 0) static int error_set_errnofv(sd_bus_error *e, int error, const char *format,
                                            va_list ap) {
        _cleanup_free_ char *message = NULL;
        int saved = errno;

        assert(error != 0);

        /* %m in the format means this error, as everywhere else. */
        errno = abs(error);
        if (vasprintf(&message, format, ap) < 0) {
                errno = saved;
                return -ENOMEM;
        }
        errno = saved;
        return sd_bus_error_set(e, zl_bus_error_name_from_errno(error), message);
}

int zl_bus_error_set_errnof(sd_bus_error *e, int error, const char *format, ...) {
        va_list ap;
        int r;

        va_start(ap, format);
        r = error_set_errnofv(e, error, format, ap);
        va_end(ap);
        if (r == -ENOMEM)
                return r;
        return -abs(error);
}

int zl_bus_reply_errnof(sd_bus_message *m, int error, const char *format, ...) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        va_list ap;
        int r;

        va_start(ap, format);
        r = error_set_errnofv(&e, error, format, ap);
        va_end(ap);
        if (r < 0 && !sd_bus_error_is_set(&e))
                return r;
        return sd_bus_reply_method_error(m, &e);
}

int zl_bus_check_root(sd_bus_message *m, const char *what) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        uid_t uid;
        int r;

        r = sd_bus_query_sender_creds(m, SD_BUS_CREDS_EUID, &creds);
        if (r >= 0)
                r = sd_bus_creds_get_euid(creds, &uid);
        if (r < 0)
                return r;
        if (uid == 0)
                return 1;
        r = zl_bus_reply_errnof(m, EPERM, "Only root may %s.", what);
        return r < 0 ? r : 0;
}
