/* SPDX-License-Identifier: Apache-2.0 */
/* zlctl-bus.c: finding and connecting to the node's bus, shared by every bus-talking command. */
#include <stdio.h>

#include "bus-error.h"
#include "fileio.h"
#include "launcher.h"
#include "log.h"
#include "path-util.h"
#include "string-util.h"
#include "zlctl-bus.h"

static int bus_open_address(const char *address, sd_bus **ret) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        r = sd_bus_new(&bus);
        if (r < 0)
                return r;
        r = sd_bus_set_address(bus, address);
        if (r < 0)
                return r;
        r = sd_bus_set_bus_client(bus, true);
        if (r < 0)
                return r;
        r = sd_bus_start(bus);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(bus);
        return 0;
}

/* Whether the bus has any org.zlayer.* name, owned right now (activatable ones do not count:
 * asking them would start daemons that nobody set up). */
static int bus_has_zlayer_names(sd_bus *bus) {
        _cleanup_strv_free_ char **names = NULL;
        int r;

        r = sd_bus_list_names(bus, &names, NULL);
        if (r < 0)
                return r;
        for (char **n = names; n && *n; n++)
                if (startswith(*n, "org.zlayer."))
                        return 1;
        return 0;
}

int zlctl_bus_open(sd_bus **ret, char **ret_where) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *dir = NULL, *path = NULL, *address = NULL, *where = NULL;
        const char *e;
        int r;

        r = zl_bus_error_register();
        if (r < 0)
                return log_error_errno(r, "Failed to register the bus error table: %m");

        e = getenv("ZLAYER_BUS_ADDRESS");
        if (!isempty(e)) {
                r = bus_open_address(e, &bus);
                if (r < 0)
                        return log_error_errno(r,
                                               "Failed to connect to the bus at '%s' "
                                               "($ZLAYER_BUS_ADDRESS): %m",
                                               e);
                where = strjoin(e, " ($ZLAYER_BUS_ADDRESS)");
                goto done;
        }

        if (sd_bus_open_system(&bus) >= 0) {
                r = bus_has_zlayer_names(bus);
                if (r > 0) {
                        where = strdup("the system bus");
                        goto done;
                }
                if (r < 0)
                        log_debug_errno(r, "Failed to list the names on the system bus: %m");
                bus = sd_bus_flush_close_unref(bus);
        }

        r = launcher_default_state_dir(&dir);
        if (r < 0)
                return log_error_errno(r, "Failed to determine the local node's directory: %m");
        path = path_join(dir, "bus-address");
        if (!path)
                return log_oom();
        r = read_full_file(path, 4096, &address, NULL);
        if (r == -ENOENT)
                return log_error_errno(r,
                                       "No ZLayer node found: $ZLAYER_BUS_ADDRESS is not set, the "
                                       "system bus has no org.zlayer names, and no local node "
                                       "runs in '%s' (start one with '%s local start').",
                                       dir, "zlctl");
        if (r < 0)
                return log_error_errno(r, "Failed to read '%s': %m", path);
        strstrip(address);
        r = bus_open_address(address, &bus);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the local node's bus at '%s': %m",
                                       address);
        where = strjoin(address, " (the local node in ", dir, ")");

done:
        if (!where)
                return log_oom();
        *ret = TAKE_PTR(bus);
        if (ret_where)
                *ret_where = TAKE_PTR(where);
        return 0;
}

char *zlctl_bus_error_message(const sd_bus_error *e) {
        char *s = NULL;
        int error = zl_bus_error_to_errno(e);

        if (!sd_bus_error_is_set(e))
                return strdup("no error");
        if (asprintf(&s, "%s (%s)", !isempty(e->message) ? e->message : strerror(error), e->name) <
            0)
                return NULL;
        return s;
}

int zlctl_log_call_error(int r, const sd_bus_error *e, const char *what) {
        _cleanup_free_ char *m = NULL;

        if (sd_bus_error_is_set(e)) {
                m = zlctl_bus_error_message(e);
                if (!m)
                        return log_oom();
                log_error("Failed to %s: %s", what, m);
                return r;
        }
        return log_error_errno(r, "Failed to %s: %m", what);
}

int zlctl_callv(sd_bus *bus, const char *service, const char *path, const char *interface,
                const char *method, uint64_t timeout, sd_bus_message **ret_reply, const char *what,
                const char *types, va_list ap) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, service, path, interface, method);
        if (r >= 0 && types)
                r = sd_bus_message_appendv(m, types, ap);
        if (r < 0)
                return log_error_errno(r, "Failed to build the %s call: %m", method);
        r = sd_bus_call(bus, m, timeout, &error, ret_reply);
        if (r < 0)
                return zlctl_log_call_error(r, &error, what);
        return 0;
}
