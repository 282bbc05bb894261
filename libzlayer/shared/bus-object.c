/* SPDX-License-Identifier: Apache-2.0 */
/* bus-object.c: registers ZlBusObject descriptors with sd-bus, builds per-object paths. */
#include "bus-object.h"
#include "string-util.h"

/* What the trampolines below get as userdata: the descriptor and where the owner's state is.
 * One per slot, freed by the slot's destroy callback. */
typedef struct ObjectBinding {
        const ZlBusObject *object;
        void *const *userdata_ref;
} ObjectBinding;

static int object_find(sd_bus *bus, const char *path, const char *interface, void *userdata,
                       void **ret_found, sd_bus_error *error) {
        ObjectBinding *b = userdata;
        void *owner = *b->userdata_ref;

        if (!owner)
                return 0;
        if (!b->object->fallback) {
                /* Registered as a fallback only to get here; the object itself has one path. */
                if (!streq(path, b->object->path))
                        return 0;
                *ret_found = owner;
                return 1;
        }
        if (b->object->find)
                return b->object->find(bus, path, interface, owner, ret_found, error);
        *ret_found = owner;
        return 1;
}

static int object_enumerate(sd_bus *bus, const char *prefix, void *userdata, char ***ret_nodes,
                            sd_bus_error *error) {
        ObjectBinding *b = userdata;
        void *owner = *b->userdata_ref;

        if (!owner) {
                *ret_nodes = NULL;
                return 0;
        }
        return b->object->node_enumerator(bus, prefix, owner, ret_nodes, error);
}

static ObjectBinding *binding_new(const ZlBusObject *object, void *const *userdata_ref) {
        ObjectBinding *b = malloc(sizeof *b);

        if (b)
                *b = (ObjectBinding){ .object = object, .userdata_ref = userdata_ref };
        return b;
}

/* Hands the binding to the slot (freed with it) and the slot to the bus. */
static int slot_float(sd_bus_slot *slot, ObjectBinding **b) {
        int r;

        if (b) {
                r = sd_bus_slot_set_destroy_callback(slot, free);
                if (r < 0)
                        return r;
                *b = NULL;
        }
        r = sd_bus_slot_set_floating(slot, 1);
        return r < 0 ? r : 0;
}

int zl_bus_add_object(sd_bus *bus, const ZlBusObject *object, void *const *userdata_ref) {
        _cleanup_free_ ObjectBinding *b = NULL;
        int r;

        if (!bus || !object || !object->path || !object->interface || !object->vtable ||
            !userdata_ref)
                return -EINVAL;
        if (object->find && !object->fallback)
                return -EINVAL;

        {
                _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;

                b = binding_new(object, userdata_ref);
                if (!b)
                        return -ENOMEM;
                r = sd_bus_add_fallback_vtable(bus, &slot, object->path, object->interface,
                                               object->vtable, object_find, b);
                if (r < 0)
                        return r;
                r = slot_float(slot, &b);
                if (r < 0)
                        return r;
        }

        if (object->node_enumerator) {
                _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;

                b = binding_new(object, userdata_ref);
                if (!b)
                        return -ENOMEM;
                r = sd_bus_add_node_enumerator(bus, &slot, object->path, object_enumerate, b);
                if (r < 0)
                        return r;
                r = slot_float(slot, &b);
                if (r < 0)
                        return r;
        }

        if (object->object_manager) {
                _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;

                r = sd_bus_add_object_manager(bus, &slot, object->path);
                if (r < 0)
                        return r;
                r = slot_float(slot, NULL);
                if (r < 0)
                        return r;
        }
        return 0;
}

int zl_bus_add_objects(sd_bus *bus, const ZlBusObject *const *objects, void *const *userdata_ref) {
        int r;

        for (const ZlBusObject *const *o = objects; o && *o; o++) {
                r = zl_bus_add_object(bus, *o, userdata_ref);
                if (r < 0)
                        return r;
        }
        return 0;
}

const ZlBusObject *zl_bus_objects_find_interface(const ZlBusObject *const *objects,
                                                 const char *interface) {
        if (!interface)
                return NULL;
        for (const ZlBusObject *const *o = objects; o && *o; o++)
                if (streq((*o)->interface, interface))
                        return *o;
        return NULL;
}

int zl_bus_path_encode(const char *prefix, const char *id, char **ret_path) {
        if (!prefix || !sd_bus_object_path_is_valid(prefix) || isempty(id) || !ret_path)
                return -EINVAL;
        return sd_bus_path_encode(prefix, id, ret_path);
}

int zl_bus_path_decode(const char *path, const char *prefix, char **ret_id) {
        _cleanup_free_ char *id = NULL;
        const char *rest;
        size_t n;

        if (!path || !prefix || !ret_id)
                return -EINVAL;
        /* Only direct children: "prefix/label" with one non-empty label. */
        n = strlen(prefix);
        if (streq(prefix, "/"))
                rest = path[0] == '/' ? path + 1 : NULL;
        else
                rest = strneq(path, prefix, n) && path[n] == '/' ? path + n + 1 : NULL;
        if (!rest || isempty(rest) || strchr(rest, '/'))
                return 0;
        if (!sd_bus_object_path_is_valid(path))
                return 0;

        if (sd_bus_path_decode(path, prefix, &id) < 0)
                return -ENOMEM;
        if (isempty(id))
                return 0;
        *ret_id = TAKE_PTR(id);
        return 1;
}
