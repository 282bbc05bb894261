/* SPDX-License-Identifier: Apache-2.0 */
/* zlctl-bus.h: how zlctl finds the bus of the node it talks to. */
#pragma once

#include <stdarg.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

/* Connects to the node's bus, in this order:
 *   1. $ZLAYER_BUS_ADDRESS, when set;
 *   2. the system bus, when some org.zlayer.* name is on it (a node run by systemd);
 *   3. the local node of the default state directory (its DIR/bus-address), as `zlctl local
 *      start` leaves it.
 * Registers the org.zlayer.Error table first. On success *ret_where (may be NULL) describes the
 * choice for messages: "ADDRESS ($ZLAYER_BUS_ADDRESS)", "the system bus", "ADDRESS (the local
 * node in DIR)".
 * Logs the reason and returns -errno when no node is found or the connection fails. */
int zlctl_bus_open(sd_bus **ret, char **ret_where);

/* The message for an error received from the bus: "MESSAGE (org.zlayer.Error.NotFound)" style
 * text into a new string; NULL on OOM. */
char *zlctl_bus_error_message(const sd_bus_error *e);

/* Logs "Failed to WHAT: MESSAGE (org.zlayer.Error.X)" for a failed call (or the errno text
 * when no bus error is set) and returns r (-ENOMEM on OOM). */
int zlctl_log_call_error(int r, const sd_bus_error *e, const char *what);

/* Calls METHOD of the object (service, path, interface) with simple arguments (types and the
 * values, as sd_bus_message_append(); types NULL for none) and waits up to timeout. On failure
 * logs "Failed to WHAT: ..." (zlctl_log_call_error) and returns -errno. */
int zlctl_callv(sd_bus *bus, const char *service, const char *path, const char *interface,
                const char *method, uint64_t timeout, sd_bus_message **ret_reply, const char *what,
                const char *types, va_list ap);
