/* SPDX-License-Identifier: Apache-2.0 */
/* bus-options.h: reading a method's options a{sv} into a struct, driven by a table; writing the
 * entries whose values are containers. */
#pragma once

#include <stddef.h>
#include <systemd/sd-bus.h>

/* Reads the value of one option (the variant is entered; the reader reads exactly one value of
 * the entry's signature) into field. The string readers copy unless named _ref, whose pointers
 * stay valid as long as the message. */
typedef int (*zl_bus_option_read_t)(sd_bus_message *m, void *field);

typedef struct ZlBusOption {
        const char *name;
        const char *signature; /* "s", "as", "a{ss}", "b", "u", "t", "d", "ay" */
        zl_bus_option_read_t read; /* NULL: accepted and skipped (e.g. "traceparent") */
        size_t offset; /* of the field in the destination struct */
} ZlBusOption;

#define ZL_BUS_OPTION(n, sig, fn, type, member)                                                    \
        { n, sig, fn, offsetof(type, member) }
#define ZL_BUS_OPTION_IGNORED(n, sig)                                                              \
        { n, sig, NULL, 0 }

/* The readers, by field type. */
int zl_bus_option_string(sd_bus_message *m, void *field); /* s -> char * (old value freed) */
int zl_bus_option_string_ref(sd_bus_message *m, void *field); /* s -> const char * */
int zl_bus_option_strv(sd_bus_message *m, void *field); /* as -> char ** (empty: {NULL}) */
int zl_bus_option_string_map(sd_bus_message *m, void *field); /* a{ss} -> char ** k,v,k,v */
int zl_bus_option_bool(sd_bus_message *m, void *field); /* b -> bool */
int zl_bus_option_tristate(sd_bus_message *m, void *field); /* b -> int 0/1 (-1 stays unset) */
int zl_bus_option_uint32(sd_bus_message *m, void *field); /* u -> uint32_t */
int zl_bus_option_uint32_wide(sd_bus_message *m, void *field); /* u -> uint64_t */
int zl_bus_option_uint64(sd_bus_message *m, void *field); /* t -> uint64_t */
int zl_bus_option_double(sd_bus_message *m, void *field); /* d -> double */
int zl_bus_option_bytes_ref(sd_bus_message *m, void *field); /* ay -> struct iovec */

/* Reads the a{sv} at the current position of m into dest. A key not in the table or a value whose
 * type is not the entry's signature is the caller's mistake: -EINVAL with *ret_error naming the
 * option ("options: unknown option 'x' (known: a, b)", "options: 'a' must be of type 's', not
 * 'u'"), prefixed with what instead of "options" when given. Other negative errno: the message
 * is malformed or memory ran out. Fields of options read before a failure keep their values. */
int zl_bus_read_options(sd_bus_message *m, const char *what, const ZlBusOption *table,
                        size_t n_table, void *dest, char **ret_error);

/* Writers of one entry each, inside an a{sv} the caller opened: key -> as (l may be NULL: an
 * empty array), key -> a{ss} from a NULL-terminated k, v, k, v... array (NULL: empty). Simple
 * values need no helper: sd_bus_message_append(m, "{sv}", key, "s", value). */
int zl_bus_append_option_strv(sd_bus_message *m, const char *key, char *const *l);
int zl_bus_append_option_string_map(sd_bus_message *m, const char *key, char *const *kv);

/* The same for a method handler: on -EINVAL replies org.zlayer.Error.InvalidArgument with the
 * message and returns 0; returns 1 when the options were read; other errors are returned. */
int zl_bus_read_options_or_reply(sd_bus_message *m, const char *what, const ZlBusOption *table,
                                 size_t n_table, void *dest);
