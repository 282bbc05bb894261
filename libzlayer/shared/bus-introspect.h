/* SPDX-License-Identifier: Apache-2.0 */
/* bus-introspect.h: introspection XML generated from an sd_bus_vtable, as sd-bus serves it. */
#pragma once

#include <stdio.h>
#include <systemd/sd-bus.h>

/* Writes the <interface> element for vtable: methods with their named arguments, signals,
 * properties with type, access and the EmitsChangedSignal/Deprecated/NoReply/Privileged
 * annotations that sd-bus adds on an untrusted bus (the system bus), hidden members left out.
 * -EINVAL for an invalid interface name or a malformed vtable, -EIO if writing failed. */
int zl_bus_introspect_interface(const sd_bus_vtable *vtable, const char *interface, FILE *f);
/* The same as a complete introspection document: DOCTYPE, <node> and the one interface. */
int zl_bus_introspect_document(const sd_bus_vtable *vtable, const char *interface, FILE *f);

/* The length of the first complete type in a D-Bus signature ("a{sv}i" -> 5), or -EINVAL. */
int zl_bus_signature_element_length(const char *signature, size_t *ret);
