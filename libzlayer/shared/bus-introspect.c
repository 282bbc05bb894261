/* SPDX-License-Identifier: Apache-2.0 */
/* bus-introspect.c: walks an sd_bus_vtable and writes the XML sd-bus would serve for it, so a
 * daemon can print its contract without being on a bus (--bus-introspect). */
#include "bus-introspect.h"
#include "macro.h"

#define SIGNATURE_DEPTH_MAX 64

#define INTROSPECT_DOCTYPE                                                                         \
        "<!DOCTYPE node PUBLIC \"-//freedesktop//DTD D-BUS Object Introspection 1.0//EN\"\n"       \
        "\"https://www.freedesktop.org/standards/dbus/1.0/introspect.dtd\">\n"

static bool is_basic_type(char c) {
        return c && strchr("ybnqiuxtdsogh", c);
}

static int element_length(const char *s, unsigned depth, size_t *ret) {
        size_t n, k;
        int r;

        if (depth > SIGNATURE_DEPTH_MAX)
                return -EINVAL;
        if (is_basic_type(*s) || *s == 'v') {
                *ret = 1;
                return 0;
        }
        switch (*s) {
        case 'a':
                if (s[1] == '{') {
                        /* A dict entry: a basic key and one complete value, only inside arrays. */
                        if (!is_basic_type(s[2]))
                                return -EINVAL;
                        r = element_length(s + 3, depth + 1, &k);
                        if (r < 0)
                                return r;
                        if (s[3 + k] != '}')
                                return -EINVAL;
                        *ret = 3 + k + 1;
                        return 0;
                }
                r = element_length(s + 1, depth + 1, &k);
                if (r < 0)
                        return r;
                *ret = 1 + k;
                return 0;
        case '(':
                n = 1;
                if (s[n] == ')')
                        return -EINVAL;
                while (s[n] != ')') {
                        if (!s[n])
                                return -EINVAL;
                        r = element_length(s + n, depth + 1, &k);
                        if (r < 0)
                                return r;
                        n += k;
                }
                *ret = n + 1;
                return 0;
        default:
                return -EINVAL;
        }
}

int zl_bus_signature_element_length(const char *signature, size_t *ret) {
        size_t n;
        int r;

        if (!signature || !ret)
                return -EINVAL;
        r = element_length(signature, 0, &n);
        if (r < 0)
                return r;
        *ret = n;
        return 0;
}

/* One <arg> per complete type of the signature; names (consumed as they are used) come from
 * the NUL-separated list of the vtable entry when it has them. direction may be NULL. */
static int write_args(FILE *f, const char *signature, const char **names, const char *direction) {
        int r;

        for (const char *p = signature ?: ""; *p;) {
                size_t n;

                r = zl_bus_signature_element_length(p, &n);
                if (r < 0)
                        return r;
                fprintf(f, "   <arg type=\"%.*s\"", (int) n, p);
                if (names && *names && **names) {
                        fprintf(f, " name=\"%s\"", *names);
                        *names += strlen(*names) + 1;
                }
                if (direction)
                        fprintf(f, " direction=\"%s\"", direction);
                fputs("/>\n", f);
                p += n;
        }
        return 0;
}

static void write_annotation(FILE *f, const char *name, const char *value) {
        fprintf(f, "   <annotation name=\"%s\" value=\"%s\"/>\n", name, value);
}

static void write_flags(FILE *f, int type, uint64_t flags) {
        if (flags & SD_BUS_VTABLE_DEPRECATED)
                write_annotation(f, "org.freedesktop.DBus.Deprecated", "true");
        if (type == _SD_BUS_VTABLE_METHOD && (flags & SD_BUS_VTABLE_METHOD_NO_REPLY))
                write_annotation(f, "org.freedesktop.DBus.Method.NoReply", "true");
        if (type == _SD_BUS_VTABLE_PROPERTY || type == _SD_BUS_VTABLE_WRITABLE_PROPERTY) {
                if (flags & SD_BUS_VTABLE_PROPERTY_EXPLICIT)
                        write_annotation(f, "org.freedesktop.systemd1.Explicit", "true");
                if (flags & SD_BUS_VTABLE_PROPERTY_CONST)
                        write_annotation(f, "org.freedesktop.DBus.Property.EmitsChangedSignal",
                                         "const");
                else if (flags & SD_BUS_VTABLE_PROPERTY_EMITS_INVALIDATION)
                        write_annotation(f, "org.freedesktop.DBus.Property.EmitsChangedSignal",
                                         "invalidates");
                else if (!(flags & SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE))
                        write_annotation(f, "org.freedesktop.DBus.Property.EmitsChangedSignal",
                                         "false");
        }
        /* On an untrusted bus sd-bus lets only CAP_SYS_ADMIN callers at members not marked
         * UNPRIVILEGED, and says so in the XML. */
        if ((type == _SD_BUS_VTABLE_METHOD || type == _SD_BUS_VTABLE_WRITABLE_PROPERTY) &&
            !(flags & SD_BUS_VTABLE_UNPRIVILEGED))
                write_annotation(f, "org.freedesktop.systemd1.Privileged", "true");
}

int zl_bus_introspect_interface(const sd_bus_vtable *vtable, const char *interface, FILE *f) {
        const sd_bus_vtable *v;
        size_t element_size;
        bool with_names;
        int r;

        if (!vtable || !interface || !f || !sd_bus_interface_name_is_valid(interface))
                return -EINVAL;
        if (vtable[0].type != _SD_BUS_VTABLE_START)
                return -EINVAL;
        /* Entries may be larger than ours in a vtable built against a newer header. */
        element_size = vtable[0].x.start.element_size;
        if (element_size < offsetof(sd_bus_vtable, x) + sizeof(vtable[0].x.start))
                return -EINVAL;
        with_names = element_size >= sizeof(sd_bus_vtable) &&
                     (vtable[0].x.start.features & _SD_BUS_VTABLE_PARAM_NAMES);

        fprintf(f, " <interface name=\"%s\">\n", interface);
        if (vtable[0].flags & SD_BUS_VTABLE_DEPRECATED)
                write_annotation(f, "org.freedesktop.DBus.Deprecated", "true");

        for (v = (const sd_bus_vtable *) ((const uint8_t *) vtable + element_size);
             v->type != _SD_BUS_VTABLE_END;
             v = (const sd_bus_vtable *) ((const uint8_t *) v + element_size)) {
                const char *names = NULL;

                if (v->flags & SD_BUS_VTABLE_HIDDEN)
                        continue;

                switch (v->type) {
                case _SD_BUS_VTABLE_METHOD:
                        if (!v->x.method.member)
                                return -EINVAL;
                        names = with_names ? v->x.method.names : NULL;
                        fprintf(f, "  <method name=\"%s\">\n", v->x.method.member);
                        r = write_args(f, v->x.method.signature, &names, "in");
                        if (r < 0)
                                return r;
                        r = write_args(f, v->x.method.result, &names, "out");
                        if (r < 0)
                                return r;
                        write_flags(f, v->type, v->flags);
                        fputs("  </method>\n", f);
                        break;

                case _SD_BUS_VTABLE_SIGNAL:
                        if (!v->x.signal.member)
                                return -EINVAL;
                        names = with_names ? v->x.signal.names : NULL;
                        fprintf(f, "  <signal name=\"%s\">\n", v->x.signal.member);
                        r = write_args(f, v->x.signal.signature, &names, NULL);
                        if (r < 0)
                                return r;
                        write_flags(f, v->type, v->flags);
                        fputs("  </signal>\n", f);
                        break;

                case _SD_BUS_VTABLE_PROPERTY:
                case _SD_BUS_VTABLE_WRITABLE_PROPERTY: {
                        size_t n;

                        if (!v->x.property.member || !v->x.property.signature)
                                return -EINVAL;
                        /* A property has exactly one complete type. */
                        r = zl_bus_signature_element_length(v->x.property.signature, &n);
                        if (r < 0)
                                return r;
                        if (v->x.property.signature[n])
                                return -EINVAL;
                        fprintf(f, "  <property name=\"%s\" type=\"%s\" access=\"%s\">\n",
                                v->x.property.member, v->x.property.signature,
                                v->type == _SD_BUS_VTABLE_WRITABLE_PROPERTY ? "readwrite" : "read");
                        write_flags(f, v->type, v->flags);
                        fputs("  </property>\n", f);
                        break;
                }

                default:
                        return -EINVAL;
                }
        }

        fputs(" </interface>\n", f);
        if (fflush(f) != 0 || ferror(f))
                return -EIO;
        return 0;
}

int zl_bus_introspect_document(const sd_bus_vtable *vtable, const char *interface, FILE *f) {
        int r;

        if (!f)
                return -EINVAL;
        fputs(INTROSPECT_DOCTYPE "<node>\n", f);
        r = zl_bus_introspect_interface(vtable, interface, f);
        if (r < 0)
                return r;
        fputs("</node>\n", f);
        if (fflush(f) != 0 || ferror(f))
                return -EIO;
        return 0;
}
