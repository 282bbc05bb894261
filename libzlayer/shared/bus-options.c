/* SPDX-License-Identifier: Apache-2.0 */
/* bus-options.c: reading a method's options a{sv} into a struct, driven by a table. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/uio.h>

#include "bus-error.h"
#include "bus-options.h"
#include "macro.h"
#include "string-util.h"

int zl_bus_option_string(sd_bus_message *m, void *field) {
        const char *s;
        char *copy;
        int r;

        r = sd_bus_message_read(m, "s", &s);
        if (r < 0)
                return r;
        copy = strdup(s);
        if (!copy)
                return -ENOMEM;
        free(*(char **) field);
        *(char **) field = copy;
        return 0;
}

int zl_bus_option_string_ref(sd_bus_message *m, void *field) {
        return sd_bus_message_read(m, "s", (const char **) field);
}

int zl_bus_option_strv(sd_bus_message *m, void *field) {
        char **l = NULL;
        int r;

        r = sd_bus_message_read_strv(m, &l);
        if (r < 0)
                return r;
        /* An empty array is a value (e.g. "no arguments"), not an absent option. */
        if (!l) {
                l = calloc(1, sizeof(char *));
                if (!l)
                        return -ENOMEM;
        }
        strv_free(*(char ***) field);
        *(char ***) field = l;
        return 0;
}

int zl_bus_option_string_map(sd_bus_message *m, void *field) {
        _cleanup_strv_free_ char **l = NULL;
        const char *k, *v;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{ss}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(m, "{ss}", &k, &v)) > 0)
                if (strv_extend(&l, k) < 0 || strv_extend(&l, v) < 0)
                        return -ENOMEM;
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;
        if (!l) {
                l = calloc(1, sizeof(char *));
                if (!l)
                        return -ENOMEM;
        }
        strv_free(*(char ***) field);
        *(char ***) field = TAKE_PTR(l);
        return 0;
}

int zl_bus_option_bool(sd_bus_message *m, void *field) {
        int b, r;

        r = sd_bus_message_read(m, "b", &b);
        if (r >= 0)
                *(bool *) field = b;
        return r;
}

int zl_bus_option_tristate(sd_bus_message *m, void *field) {
        int b, r;

        r = sd_bus_message_read(m, "b", &b);
        if (r >= 0)
                *(int *) field = !!b;
        return r;
}

int zl_bus_option_uint32(sd_bus_message *m, void *field) {
        return sd_bus_message_read(m, "u", (uint32_t *) field);
}

int zl_bus_option_uint32_wide(sd_bus_message *m, void *field) {
        uint32_t u;
        int r;

        r = sd_bus_message_read(m, "u", &u);
        if (r >= 0)
                *(uint64_t *) field = u;
        return r;
}

int zl_bus_option_uint64(sd_bus_message *m, void *field) {
        return sd_bus_message_read(m, "t", (uint64_t *) field);
}

int zl_bus_option_double(sd_bus_message *m, void *field) {
        return sd_bus_message_read(m, "d", (double *) field);
}

int zl_bus_option_bytes_ref(sd_bus_message *m, void *field) {
        struct iovec *iov = field;
        const void *p;
        size_t n;
        int r;

        r = sd_bus_message_read_array(m, 'y', &p, &n);
        if (r < 0)
                return r;
        *iov = (struct iovec){ .iov_base = (void *) p, .iov_len = n };
        return 0;
}

static int unknown_option(const char *what, const char *key, const ZlBusOption *table,
                          size_t n_table, char **ret_error) {
        _cleanup_free_ char *known = NULL;

        for (size_t i = 0; i < n_table; i++)
                if (strextend(&known, i > 0 ? ", " : "", table[i].name) < 0)
                        return -ENOMEM;
        if (asprintf(ret_error, "%s: unknown option '%s' (known: %s)", what, key, known ?: "none") <
            0)
                return -ENOMEM;
        return -EINVAL;
}

static int read_entry(sd_bus_message *m, const char *what, const ZlBusOption *table, size_t n_table,
                      void *dest, char **ret_error) {
        const ZlBusOption *o = NULL;
        const char *key, *contents;
        char type;
        int r;

        r = sd_bus_message_read(m, "s", &key);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n_table && !o; i++)
                if (streq(table[i].name, key))
                        o = &table[i];
        if (!o)
                return unknown_option(what, key, table, n_table, ret_error);

        r = sd_bus_message_peek_type(m, &type, &contents);
        if (r < 0)
                return r;
        if (!streq(contents, o->signature)) {
                if (asprintf(ret_error, "%s: '%s' must be of type '%s', not '%s'", what, key,
                             o->signature, contents) < 0)
                        return -ENOMEM;
                return -EINVAL;
        }
        if (!o->read)
                return sd_bus_message_skip(m, "v");
        r = sd_bus_message_enter_container(m, 'v', contents);
        if (r < 0)
                return r;
        r = o->read(m, (uint8_t *) dest + o->offset);
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

int zl_bus_read_options(sd_bus_message *m, const char *what, const ZlBusOption *table,
                        size_t n_table, void *dest, char **ret_error) {
        _cleanup_free_ char *error = NULL;
        int r;

        if (!m || (!table && n_table > 0) || !ret_error)
                return -EINVAL;
        what = what ?: "options";

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                r = read_entry(m, what, table, n_table, dest, &error);
                if (r == -EINVAL && error) {
                        *ret_error = TAKE_PTR(error);
                        return -EINVAL;
                }
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m);
        return r < 0 ? r : 0;
}

int zl_bus_read_options_or_reply(sd_bus_message *m, const char *what, const ZlBusOption *table,
                                 size_t n_table, void *dest) {
        _cleanup_free_ char *error = NULL;
        int r;

        r = zl_bus_read_options(m, what, table, n_table, dest, &error);
        if (r == -EINVAL && error) {
                r = zl_bus_reply_errnof(m, EINVAL, "%s", error);
                return r < 0 ? r : 0;
        }
        return r < 0 ? r : 1;
}

int zl_bus_append_option_strv(sd_bus_message *m, const char *key, char *const *l) {
        int r;

        r = sd_bus_message_open_container(m, 'e', "sv");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", key);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'v', "as");
        if (r >= 0)
                r = sd_bus_message_append_strv(m, (char **) l);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r;
}

int zl_bus_append_option_string_map(sd_bus_message *m, const char *key, char *const *kv) {
        int r;

        r = sd_bus_message_open_container(m, 'e', "sv");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", key);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'v', "a{ss}");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{ss}");
        for (char *const *p = kv; r >= 0 && p && p[0] && p[1]; p += 2)
                r = sd_bus_message_append(m, "{ss}", p[0], p[1]);
        for (int i = 0; r >= 0 && i < 3; i++)
                r = sd_bus_message_close_container(m);
        return r;
}
