/* SPDX-License-Identifier: Apache-2.0 */
/* bus-object.h: bus objects as data (path, interface, vtable, lookup) and per-object paths. */
#pragma once

#include <stdbool.h>
#include <systemd/sd-bus.h>

#include "macro.h"

/* One interface on one object, or on a family of per-object paths below a prefix.
 *
 * Handlers of the vtable receive the owner's userdata (what *userdata_ref points to when the
 * call arrives, see zl_bus_add_object()), or with `fallback` what `find` returned for the path.
 * While *userdata_ref is NULL the object does not exist yet: calls get UnknownObject. */
typedef struct ZlBusObject {
        /* The object's path; with `fallback`, the prefix under which each child is one object. */
        const char *path;
        const char *interface;
        const sd_bus_vtable *vtable;
        bool fallback;
        /* Only with `fallback`: resolves a child path to its object (returns 1 and sets
         * *ret_found), 0 if there is no such object, or a negative errno. The userdata passed in
         * is the owner's. Usually built on zl_bus_path_decode(). NULL: the owner's userdata
         * serves every child path. */
        sd_bus_object_find_t find;
        /* Lists the child paths (strv, allocated) so that introspection and `busctl tree` show
         * them. Gets the owner's userdata too. */
        sd_bus_node_enumerator_t node_enumerator;
        /* Adds org.freedesktop.DBus.ObjectManager at path, for clients that watch children. */
        bool object_manager;
} ZlBusObject;

/* Registers one object on the bus. `userdata_ref` is read at each call, so the owner may create
 * its state after registering the objects (it must outlive the bus). The registrations float:
 * they go away with the bus. */
int zl_bus_add_object(sd_bus *bus, const ZlBusObject *object, void *const *userdata_ref);
/* Registers a NULL-terminated list (NULL means none). */
int zl_bus_add_objects(sd_bus *bus, const ZlBusObject *const *objects, void *const *userdata_ref);
/* The first object in a NULL-terminated list that carries interface, or NULL. */
const ZlBusObject *zl_bus_objects_find_interface(const ZlBusObject *const *objects,
                                                 const char *interface);

/* Per-object paths: prefix + "/" + the id escaped as one path label (sd_bus_path_encode), so any
 * non-empty id round-trips. -EINVAL for an invalid prefix or an empty id. */
int zl_bus_path_encode(const char *prefix, const char *id, char **ret_path);
/* The reverse: if path is a direct child of prefix, returns 1 and the unescaped id in *ret_id;
 * 0 (and *ret_id untouched) if it is not; -ENOMEM. */
int zl_bus_path_decode(const char *path, const char *prefix, char **ret_id);
