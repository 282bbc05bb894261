/* SPDX-License-Identifier: Apache-2.0 */
/* spec.c: the public spec API: parse, the ZlSpec object, canonical JSON and YAML dumps. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <yaml.h>

#include "log.h"
#include "parse-util.h"
#include "spec-internal.h"
#include "string-util.h"
#include "yaml-tree.h"
#include "zlayer/spec.h"

struct ZlSpec {
        unsigned n_ref;
        json_t *json;
};

static void zl_diag_done(ZlDiag *d) {
        d->path = mfree(d->path);
        d->message = mfree(d->message);
        d->hint = mfree(d->hint);
}

void zl_diag_list_done(ZlDiagList *l) {
        if (!l)
                return;
        for (size_t i = 0; i < l->n_items; i++)
                zl_diag_done(l->items + i);
        l->items = mfree(l->items);
        l->n_items = 0;
        l->n_errors = 0;
}

static void spec_context_done(SpecContext *c) {
        zl_diag_list_done(&c->diags);
}

typedef struct DiagOrder {
        ZlDiag *diag;
        size_t index;
} DiagOrder;

static int diag_order_compare(const void *a, const void *b) {
        const DiagOrder *x = a, *y = b;

        if (x->diag->line != y->diag->line)
                return x->diag->line < y->diag->line ? -1 : 1;
        if (x->diag->column != y->diag->column)
                return x->diag->column < y->diag->column ? -1 : 1;
        return x->index < y->index ? -1 : x->index > y->index;
}

/* Moves the diagnostics of src to the end of dst, sorted by line and column (stable). */
static int diags_move_sorted(ZlDiagList *src, ZlDiagList *dst) {
        _cleanup_free_ DiagOrder *order = NULL;
        ZlDiag *items;

        if (src->n_items == 0)
                return 0;
        order = calloc(src->n_items, sizeof(DiagOrder));
        items = reallocarray(dst->items, dst->n_items + src->n_items, sizeof(ZlDiag));
        if (!order || !items) {
                if (items)
                        dst->items = items;
                return -ENOMEM;
        }
        dst->items = items;
        for (size_t i = 0; i < src->n_items; i++)
                order[i] = (DiagOrder){ .diag = src->items + i, .index = i };
        qsort(order, src->n_items, sizeof(DiagOrder), diag_order_compare);
        for (size_t i = 0; i < src->n_items; i++)
                dst->items[dst->n_items++] = *order[i].diag;
        dst->n_errors += src->n_errors;
        src->items = mfree(src->items);
        src->n_items = src->n_errors = 0;
        return 0;
}

int zl_spec_parse_string(const char *data, size_t size, const char *filename, ZlSpec **ret,
                         ZlDiagList *diags) {
        _cleanup_(spec_context_done) SpecContext c = {};
        _cleanup_(yaml_tree_errors_done) YamlTreeErrors errors = {};
        _cleanup_(yaml_node_freep) YamlNode *root = NULL;
        _cleanup_(json_decrefp) json_t *json = NULL;
        ZlSpec *spec;
        int r;

        assert(data || size == 0);
        assert(ret);

        r = yaml_tree_parse(data, size, &root, &errors);
        if (r == -ENOMEM)
                return r;
        for (size_t i = 0; i < errors.n_items; i++) {
                YamlTreeError *e = errors.items + i;

                r = spec_diag_append(&c.diags, ZL_DIAG_ERROR, e->line, e->column, e->path, NULL,
                                     TAKE_PTR(e->message));
                if (r < 0)
                        return r;
        }
        if (root) {
                r = spec_validate(&c, root, &json);
                if (r < 0)
                        return r;
        }

        if (c.diags.n_errors > 0 || !json) {
                log_debug("%s: %zu errors in the spec", strna(filename), c.diags.n_errors);
                if (diags) {
                        r = diags_move_sorted(&c.diags, diags);
                        if (r < 0)
                                return r;
                }
                return -EINVAL;
        }

        spec = calloc(1, sizeof(ZlSpec));
        if (!spec)
                return -ENOMEM;
        spec->n_ref = 1;
        spec->json = TAKE_PTR(json);
        if (diags) {
                /* Warnings, if any. */
                r = diags_move_sorted(&c.diags, diags);
                if (r < 0) {
                        zl_spec_unref(spec);
                        return r;
                }
        }
        *ret = spec;
        return 0;
}

int zl_spec_parse_file(const char *path, ZlSpec **ret, ZlDiagList *diags) {
        _cleanup_free_ char *buf = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t size = 0, alloc = 0;

        assert(path);
        assert(ret);

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        /* Read one byte past the limit so the parser can tell "too large" apart. */
        for (;;) {
                ssize_t n;

                if (size >= alloc) {
                        size_t a = MIN(MAX(alloc * 2, (size_t) 64 * 1024),
                                       (size_t) YAML_TREE_MAX_SIZE + 1);
                        char *p;

                        if (a <= size)
                                break;
                        p = realloc(buf, a);
                        if (!p)
                                return -ENOMEM;
                        buf = p;
                        alloc = a;
                }
                n = read(fd, buf + size, alloc - size);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                size += n;
        }
        return zl_spec_parse_string(buf ?: "", size, path, ret, diags);
}

ZlSpec *zl_spec_ref(ZlSpec *spec) {
        if (!spec)
                return NULL;
        assert(spec->n_ref > 0);
        spec->n_ref++;
        return spec;
}

ZlSpec *zl_spec_unref(ZlSpec *spec) {
        if (!spec)
                return NULL;
        assert(spec->n_ref > 0);
        if (--spec->n_ref > 0)
                return NULL;
        json_decref(spec->json);
        return mfree(spec);
}

const json_t *zl_spec_get_json(const ZlSpec *spec) {
        assert(spec);
        return spec->json;
}

const char *zl_spec_get_deployment(const ZlSpec *spec) {
        assert(spec);
        return json_string_value(json_object_get(spec->json, "deployment"));
}

int zl_spec_dump_json(const ZlSpec *spec, char **ret) {
        _cleanup_free_ char *s = NULL;
        char *t;

        assert(spec);
        assert(ret);

        s = json_dumps(spec->json, JSON_SORT_KEYS | JSON_INDENT(2) | JSON_REAL_PRECISION(15));
        if (!s)
                return -ENOMEM;
        t = strjoin(s, "\n");
        if (!t)
                return -ENOMEM;
        *ret = t;
        return 0;
}

/* ---- YAML ------------------------------------------------------------------------------- */

typedef struct Buffer {
        char *data;
        size_t size;
        size_t alloc;
} Buffer;

static int buffer_write(void *userdata, unsigned char *data, size_t size) {
        Buffer *b = userdata;

        if (b->size + size + 1 > b->alloc) {
                size_t a = MAX(b->alloc * 2, b->size + size + 1);
                char *p = realloc(b->data, a);

                if (!p)
                        return 0;
                b->data = p;
                b->alloc = a;
        }
        memcpy(b->data + b->size, data, size);
        b->size += size;
        b->data[b->size] = '\0';
        return 1;
}

static int emitter_error(const yaml_emitter_t *e) {
        /* Besides memory, the emitter fails only for event sequences we never produce. */
        return e->error == YAML_MEMORY_ERROR || e->error == YAML_WRITER_ERROR ? -ENOMEM : -EINVAL;
}

static int emit(yaml_emitter_t *e, yaml_event_t *ev, int ok) {
        if (!ok)
                return -ENOMEM;
        if (!yaml_emitter_emit(e, ev))
                return emitter_error(e);
        return 0;
}

static int emit_scalar(yaml_emitter_t *e, const char *text, yaml_scalar_style_t style) {
        yaml_event_t ev;

        return emit(e, &ev,
                    yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *) text,
                                                 (int) strlen(text), 1, 1, style));
}

/* Strings that our typing would read as something else are quoted. */
static int emit_string(yaml_emitter_t *e, const char *s) {
        return emit_scalar(e, s,
                           yaml_scalar_kind_from_plain(s) == YAML_SCALAR_STRING
                                   ? YAML_ANY_SCALAR_STYLE
                                   : YAML_DOUBLE_QUOTED_SCALAR_STYLE);
}

static int emit_mapping_start(yaml_emitter_t *e, bool empty) {
        yaml_event_t ev;

        return emit(e, &ev,
                    yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
                                                        empty ? YAML_FLOW_MAPPING_STYLE
                                                              : YAML_BLOCK_MAPPING_STYLE));
}

static int emit_mapping_end(yaml_emitter_t *e) {
        yaml_event_t ev;

        return emit(e, &ev, yaml_mapping_end_event_initialize(&ev));
}

static int dump_value(yaml_emitter_t *e, const json_t *v, const Field *f, const json_t *parent);

static int dump_object(yaml_emitter_t *e, const json_t *obj, const Schema *s) {
        const char *key;
        json_t *v;
        int r;

        r = emit_mapping_start(e, json_object_size(obj) == 0);
        if (r < 0)
                return r;
        for (const Field *f = s->fields; f->name; f++) {
                v = json_object_get(obj, f->name);
                if (!v)
                        continue;
                r = emit_string(e, f->name);
                if (r < 0)
                        return r;
                r = dump_value(e, v, f, obj);
                if (r < 0)
                        return r;
        }
        /* Keys the schema does not know cannot come from the validator; keep them anyway. */
        json_object_foreach ((json_t *) obj, key, v) {
                bool known = false;

                for (const Field *f = s->fields; f->name; f++)
                        if (streq(f->name, key))
                                known = true;
                if (known)
                        continue;
                r = emit_string(e, key);
                if (r < 0)
                        return r;
                r = dump_value(e, v, NULL, obj);
                if (r < 0)
                        return r;
        }
        return emit_mapping_end(e);
}

static int dump_value(yaml_emitter_t *e, const json_t *v, const Field *f, const json_t *parent) {
        const Schema *s = NULL;
        yaml_event_t ev;
        const char *key;
        json_t *item;
        size_t i;
        int r;

        if (f)
                s = f->dynamic_schema ? f->dynamic_schema(parent) : f->schema;

        switch (json_typeof(v)) {
        case JSON_STRING:
                return emit_string(e, json_string_value(v));

        case JSON_INTEGER: {
                char buf[MAX(DURATION_MAX_LEN, 32)];
                json_int_t n = json_integer_value(v);

                if (f && f->kind == FIELD_DURATION && n >= 0)
                        return emit_scalar(e, format_duration_ms(n, buf, sizeof buf),
                                           YAML_PLAIN_SCALAR_STYLE);
                if (f && f->kind == FIELD_MODE) {
                        snprintf(buf, sizeof buf, "0%llo", (unsigned long long) n);
                        return emit_scalar(e, buf, YAML_DOUBLE_QUOTED_SCALAR_STYLE);
                }
                snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, n);
                return emit_scalar(e, buf, YAML_PLAIN_SCALAR_STYLE);
        }

        case JSON_REAL: {
                /* The same digits as the JSON dump, so both read back to the same double. */
                _cleanup_free_ char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));

                if (!t)
                        return -ENOMEM;
                return emit_scalar(e, t, YAML_PLAIN_SCALAR_STYLE);
        }

        case JSON_TRUE:
        case JSON_FALSE:
                return emit_scalar(e, json_is_true(v) ? "true" : "false", YAML_PLAIN_SCALAR_STYLE);

        case JSON_NULL:
                return emit_scalar(e, "null", YAML_PLAIN_SCALAR_STYLE);

        case JSON_ARRAY:
                r = emit(e, &ev,
                         yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
                                                              json_array_size(v) == 0
                                                                      ? YAML_FLOW_SEQUENCE_STYLE
                                                                      : YAML_BLOCK_SEQUENCE_STYLE));
                if (r < 0)
                        return r;
                json_array_foreach (v, i, item) {
                        if (s && json_is_object(item))
                                r = dump_object(e, item, s);
                        else
                                r = dump_value(e, item, NULL, v);
                        if (r < 0)
                                return r;
                }
                return emit(e, &ev, yaml_sequence_end_event_initialize(&ev));

        case JSON_OBJECT:
                if (s && !(f->flags & FIELD_MAP_OF))
                        return dump_object(e, v, s);
                r = emit_mapping_start(e, json_object_size(v) == 0);
                if (r < 0)
                        return r;
                json_object_foreach ((json_t *) v, key, item) {
                        r = emit_string(e, key);
                        if (r < 0)
                                return r;
                        if (s && json_is_object(item))
                                r = dump_object(e, item, s);
                        else
                                r = dump_value(e, item, NULL, v);
                        if (r < 0)
                                return r;
                }
                return emit_mapping_end(e);
        }
        return -EINVAL;
}

static void emitter_deletep(yaml_emitter_t **e) {
        if (*e)
                yaml_emitter_delete(*e);
}

int zl_spec_dump_yaml(const ZlSpec *spec, char **ret) {
        _cleanup_(emitter_deletep) yaml_emitter_t *emitter = NULL;
        _cleanup_free_ char *data = NULL;
        Buffer b = {};
        yaml_emitter_t e;
        yaml_event_t ev;
        int r;

        assert(spec);
        assert(ret);

        if (!yaml_emitter_initialize(&e))
                return -ENOMEM;
        emitter = &e;
        yaml_emitter_set_output(&e, buffer_write, &b);
        yaml_emitter_set_unicode(&e, 1);
        yaml_emitter_set_indent(&e, 2);
        yaml_emitter_set_width(&e, -1);

        r = emit(&e, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING));
        if (r >= 0)
                r = emit(&e, &ev, yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1));
        if (r >= 0)
                r = dump_object(&e, spec->json, &spec_schema);
        if (r >= 0)
                r = emit(&e, &ev, yaml_document_end_event_initialize(&ev, 1));
        if (r >= 0)
                r = emit(&e, &ev, yaml_stream_end_event_initialize(&ev));
        if (r >= 0 && !yaml_emitter_flush(&e))
                r = emitter_error(&e);
        data = b.data;
        if (r < 0)
                return r;
        if (!data)
                return -ENOMEM;
        *ret = TAKE_PTR(data);
        return 0;
}
