/* SPDX-License-Identifier: Apache-2.0 */
/* yaml-tree.c: builds a node tree from libyaml events: aliases expanded under a budget,
 * duplicate keys detected, one document only. */
#include <stdarg.h>
#include <stdio.h>
#include <yaml.h>

#include "string-util.h"
#include "yaml-tree.h"

DEFINE_TRIVIAL_CLEANUP_FUNC_FULL(yaml_parser_t *, yaml_parser_delete, NULL);

typedef struct Anchor {
        char *name;
        YamlNode *node; /* borrowed: owned by the tree */
} Anchor;

typedef struct Frame {
        YamlNode *node;
        char *anchor;
        YamlNode *key; /* mappings: the key waiting for its value */
        size_t alloc;
} Frame;

typedef struct Builder {
        const char *data;
        size_t size;
        YamlTreeErrors *errors;
        Frame *stack;
        size_t n_stack;
        Anchor *anchors;
        size_t n_anchors;
        size_t n_nodes;
        YamlNode *root;
        unsigned n_documents;
        /* Keys and values dropped from mappings (duplicates, non-scalar keys). An anchor defined
         * inside one may still be aliased later, so they live until the parse ends. */
        YamlNode **discarded;
        size_t n_discarded;
} Builder;

static char *memdup_nul(const void *p, size_t n) {
        char *s = malloc(n + 1);

        if (!s)
                return NULL;
        memcpy(s, p, n);
        s[n] = '\0';
        return s;
}

static const char *const node_type_table[_YAML_TREE_TYPE_MAX] = {
        [YAML_TREE_SCALAR] = "scalar",
        [YAML_TREE_SEQUENCE] = "sequence",
        [YAML_TREE_MAPPING] = "mapping",
};

const char *yaml_node_type_to_string(YamlNodeType t) {
        if (t < 0 || t >= _YAML_TREE_TYPE_MAX)
                return NULL;
        return node_type_table[t];
}

void yaml_tree_errors_done(YamlTreeErrors *e) {
        if (!e)
                return;
        for (size_t i = 0; i < e->n_items; i++) {
                free(e->items[i].path);
                free(e->items[i].message);
        }
        e->items = mfree(e->items);
        e->n_items = 0;
}

YamlNode *yaml_node_free(YamlNode *n) {
        if (!n)
                return NULL;
        free(n->text);
        free(n->tag);
        for (size_t i = 0; i < n->n_items; i++)
                yaml_node_free(n->items[i]);
        free(n->items);
        for (size_t i = 0; i < n->n_pairs; i++) {
                yaml_node_free(n->pairs[i].key);
                yaml_node_free(n->pairs[i].value);
        }
        free(n->pairs);
        return mfree(n);
}

YamlNode *yaml_node_get_key(const YamlNode *map, const char *key) {
        if (!map || map->type != YAML_TREE_MAPPING)
                return NULL;
        for (size_t i = 0; i < map->n_pairs; i++)
                if (map->pairs[i].key->type == YAML_TREE_SCALAR &&
                    streq(map->pairs[i].key->text, key))
                        return map->pairs[i].key;
        return NULL;
}

YamlNode *yaml_node_get(const YamlNode *map, const char *key) {
        if (!map || map->type != YAML_TREE_MAPPING)
                return NULL;
        for (size_t i = 0; i < map->n_pairs; i++)
                if (map->pairs[i].key->type == YAML_TREE_SCALAR &&
                    streq(map->pairs[i].key->text, key))
                        return map->pairs[i].value;
        return NULL;
}

static bool all_digits(const char *s, const char **end) {
        const char *p = s;

        while (*p >= '0' && *p <= '9')
                p++;
        *end = p;
        return p > s;
}

YamlScalarKind yaml_scalar_kind_from_plain(const char *text) {
        const char *p = text, *e;

        if (isempty(text) || streq(text, "~") || strcasecmp(text, "null") == 0)
                return YAML_SCALAR_NULL;
        if (strcasecmp(text, "true") == 0 || strcasecmp(text, "false") == 0)
                return YAML_SCALAR_BOOLEAN;

        if (*p == '-')
                p++;
        if (!all_digits(p, &e))
                return YAML_SCALAR_STRING;
        if (*e == '\0')
                return YAML_SCALAR_INTEGER;
        if (*e == '.') {
                if (!all_digits(e + 1, &e))
                        return YAML_SCALAR_STRING;
        }
        if (*e == 'e' || *e == 'E') {
                e++;
                if (*e == '+' || *e == '-')
                        e++;
                if (!all_digits(e, &e))
                        return YAML_SCALAR_STRING;
        }
        if (*e != '\0')
                return YAML_SCALAR_STRING;
        return YAML_SCALAR_FLOAT;
}

static void offset_to_mark(const char *data, size_t size, size_t offset, unsigned *ret_line,
                           unsigned *ret_column) {
        unsigned line = 1, column = 1;

        for (size_t i = 0; i < offset && i < size; i++) {
                if (data[i] == '\n') {
                        line++;
                        column = 1;
                } else if (((unsigned char) data[i] & 0xC0) != 0x80)
                        /* Columns count characters, as libyaml's marks do. */
                        column++;
        }
        *ret_line = line;
        *ret_column = column;
}

static int builder_path(Builder *b, char **ret) {
        _cleanup_free_ char *p = strdup("");

        if (!p)
                return -ENOMEM;
        for (size_t i = 0; i < b->n_stack; i++) {
                Frame *f = b->stack + i;
                int r;

                if (f->node->type == YAML_TREE_SEQUENCE)
                        r = strextendf(&p, "[%zu]", f->node->n_items);
                else if (f->key && f->key->type == YAML_TREE_SCALAR)
                        r = strextendf(&p, "%s%s", isempty(p) ? "" : ".", f->key->text);
                else
                        break;
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(p);
        return 0;
}

_printf_(5, 0) static int add_error_path(YamlTreeErrors *errors, unsigned line, unsigned column,
                                         char *path, const char *format, va_list ap) {
        _cleanup_free_ char *owned_path = path, *message = NULL;
        YamlTreeError *items;

        if (vasprintf(&message, format, ap) < 0)
                return -ENOMEM;
        if (!owned_path) {
                owned_path = strdup("");
                if (!owned_path)
                        return -ENOMEM;
        }
        items = reallocarray(errors->items, errors->n_items + 1, sizeof(YamlTreeError));
        if (!items)
                return -ENOMEM;
        errors->items = items;
        items[errors->n_items++] = (YamlTreeError){
                .line = line,
                .column = column,
                .path = TAKE_PTR(owned_path),
                .message = TAKE_PTR(message),
        };
        return 0;
}

/* Records an error at the builder's current path. Returns -EINVAL (the error is recorded) or
 * -ENOMEM. */
_printf_(4, 5) static int builder_error(Builder *b, unsigned line, unsigned column,
                                        const char *format, ...) {
        char *path = NULL;
        va_list ap;
        int r;

        r = builder_path(b, &path);
        if (r < 0)
                return r;
        va_start(ap, format);
        r = add_error_path(b->errors, line, column, path, format, ap);
        va_end(ap);
        return r < 0 ? r : -EINVAL;
}

/* Same, with the path of a key of the innermost mapping. */
_printf_(5, 6) static int builder_key_error(Builder *b, const char *key, unsigned line,
                                            unsigned column, const char *format, ...) {
        _cleanup_free_ char *path = NULL;
        va_list ap;
        int r;

        r = builder_path(b, &path);
        if (r < 0)
                return r;
        r = strextend(&path, isempty(path) ? "" : ".", key);
        if (r < 0)
                return r;
        va_start(ap, format);
        r = add_error_path(b->errors, line, column, TAKE_PTR(path), format, ap);
        va_end(ap);
        return r;
}

static int node_new(Builder *b, YamlNodeType type, const yaml_mark_t *mark, YamlNode **ret) {
        YamlNode *n;

        if (b->n_nodes >= YAML_TREE_MAX_NODES)
                return builder_error(b, mark->line + 1, mark->column + 1,
                                     "document has more than %u nodes (after alias expansion)",
                                     YAML_TREE_MAX_NODES);
        n = calloc(1, sizeof(YamlNode));
        if (!n)
                return -ENOMEM;
        n->type = type;
        n->line = mark->line + 1;
        n->column = mark->column + 1;
        b->n_nodes++;
        *ret = n;
        return 0;
}

static int node_copy(Builder *b, const YamlNode *src, const yaml_mark_t *mark, YamlNode **ret) {
        _cleanup_(yaml_node_freep) YamlNode *n = NULL;
        int r;

        r = node_new(b, src->type, mark, &n);
        if (r < 0)
                return r;
        /* Inner nodes keep their marks: errors in them point into the anchored text. */
        n->line = src->line;
        n->column = src->column;
        n->length = src->length;
        n->quoted = src->quoted;
        n->kind = src->kind;
        n->flow = src->flow;
        if (src->text) {
                n->text = memdup_nul(src->text, src->length);
                if (!n->text)
                        return -ENOMEM;
        }
        if (src->tag) {
                n->tag = strdup(src->tag);
                if (!n->tag)
                        return -ENOMEM;
        }
        if (src->n_items > 0) {
                n->items = calloc(src->n_items, sizeof(YamlNode *));
                if (!n->items)
                        return -ENOMEM;
                for (size_t i = 0; i < src->n_items; i++) {
                        r = node_copy(b, src->items[i], mark, &n->items[i]);
                        if (r < 0)
                                return r;
                        n->n_items++;
                }
        }
        if (src->n_pairs > 0) {
                n->pairs = calloc(src->n_pairs, sizeof(YamlPair));
                if (!n->pairs)
                        return -ENOMEM;
                for (size_t i = 0; i < src->n_pairs; i++) {
                        YamlNode *k = NULL;

                        r = node_copy(b, src->pairs[i].key, mark, &k);
                        if (r < 0)
                                return r;
                        n->pairs[i].key = k;
                        r = node_copy(b, src->pairs[i].value, mark, &n->pairs[i].value);
                        n->n_pairs++;
                        if (r < 0)
                                return r;
                }
        }
        *ret = TAKE_PTR(n);
        return 0;
}

static int add_anchor(Builder *b, const char *name, YamlNode *node) {
        _cleanup_free_ char *copy = NULL;
        Anchor *a;

        copy = strdup(name);
        if (!copy)
                return -ENOMEM;
        a = reallocarray(b->anchors, b->n_anchors + 1, sizeof(Anchor));
        if (!a)
                return -ENOMEM;
        b->anchors = a;
        a[b->n_anchors++] = (Anchor){ .name = TAKE_PTR(copy), .node = node };
        return 0;
}

static const YamlNode *find_anchor(Builder *b, const char *name) {
        /* The latest definition wins: YAML allows redefining an anchor. */
        for (size_t i = b->n_anchors; i > 0; i--)
                if (streq(b->anchors[i - 1].name, name))
                        return b->anchors[i - 1].node;
        return NULL;
}

/* Takes ownership of n in all cases. */
static int add_node(Builder *b, YamlNode *n) {
        Frame *f;

        if (b->n_stack == 0) {
                b->root = n;
                return 0;
        }
        f = b->stack + b->n_stack - 1;
        if (f->node->type == YAML_TREE_SEQUENCE) {
                if (f->node->n_items >= f->alloc) {
                        size_t a = MAX(f->alloc * 2, 4U);
                        YamlNode **items = reallocarray(f->node->items, a, sizeof(YamlNode *));

                        if (!items) {
                                yaml_node_free(n);
                                return -ENOMEM;
                        }
                        f->node->items = items;
                        f->alloc = a;
                }
                f->node->items[f->node->n_items++] = n;
                return 0;
        }

        if (!f->key) {
                f->key = n;
                return 0;
        }
        if (f->node->n_pairs >= f->alloc) {
                size_t a = MAX(f->alloc * 2, 4U);
                YamlPair *pairs = reallocarray(f->node->pairs, a, sizeof(YamlPair));

                if (!pairs) {
                        yaml_node_free(n);
                        return -ENOMEM;
                }
                f->node->pairs = pairs;
                f->alloc = a;
        }
        f->node->pairs[f->node->n_pairs++] = (YamlPair){ .key = TAKE_PTR(f->key), .value = n };
        return 0;
}

static int push_frame(Builder *b, YamlNode *n, const char *anchor) {
        _cleanup_(yaml_node_freep) YamlNode *owned = n;
        _cleanup_free_ char *a = NULL;
        Frame *stack;

        if (b->n_stack >= YAML_TREE_MAX_DEPTH)
                return builder_error(b, n->line, n->column, "nesting deeper than %u levels",
                                     YAML_TREE_MAX_DEPTH);
        if (anchor) {
                a = strdup(anchor);
                if (!a)
                        return -ENOMEM;
        }
        stack = reallocarray(b->stack, b->n_stack + 1, sizeof(Frame));
        if (!stack)
                return -ENOMEM;
        b->stack = stack;
        stack[b->n_stack++] = (Frame){ .node = TAKE_PTR(owned), .anchor = TAKE_PTR(a) };
        return 0;
}

/* Takes ownership of n in every case. On OOM n is freed at once: the parse is over then, and
 * nothing dereferences the anchors again. */
static int builder_discard(Builder *b, YamlNode *n) {
        YamlNode **d;

        if (!n)
                return 0;
        d = reallocarray(b->discarded, b->n_discarded + 1, sizeof(YamlNode *));
        if (!d) {
                yaml_node_free(n);
                return -ENOMEM;
        }
        b->discarded = d;
        d[b->n_discarded++] = n;
        return 0;
}

static int pair_compare(const void *a, const void *b) {
        const YamlPair *x = *(const YamlPair *const *) a, *y = *(const YamlPair *const *) b;
        int c = strcmp(x->key->text, y->key->text);

        if (c != 0)
                return c;
        /* Pointers into one array: document order. */
        return x < y ? -1 : x > y;
}

/* Drops pairs whose key is not a scalar and later duplicates of a key, recording errors. */
static int mapping_check_keys(Builder *b, YamlNode *map) {
        _cleanup_free_ YamlPair **sorted = NULL;
        size_t n_scalar = 0, j = 0;
        int r, ret = 0;

        for (size_t i = 0; i < map->n_pairs; i++) {
                YamlNode *k = map->pairs[i].key;

                if (k->type == YAML_TREE_SCALAR) {
                        n_scalar++;
                        continue;
                }
                r = builder_error(b, k->line, k->column, "expected a string as key, found a %s",
                                  yaml_node_type_to_string(k->type));
                if (r != -EINVAL)
                        return r;
                map->pairs[i].key = NULL;
                r = builder_discard(b, k);
                if (r < 0)
                        return r;
        }
        if (n_scalar > 1) {
                sorted = calloc(n_scalar, sizeof(YamlPair *));
                if (!sorted)
                        return -ENOMEM;
                for (size_t i = 0, s = 0; i < map->n_pairs; i++)
                        if (map->pairs[i].key)
                                sorted[s++] = map->pairs + i;
                qsort(sorted, n_scalar, sizeof(YamlPair *), pair_compare);
                for (size_t i = 1; i < n_scalar; i++) {
                        YamlPair *first = sorted[i - 1], *dup = sorted[i];

                        if (!first->key || !streq(first->key->text, dup->key->text))
                                continue;
                        /* Keep the first definition; compare later ones with it. */
                        r = builder_key_error(b, dup->key->text, dup->key->line, dup->key->column,
                                              "duplicate key '%s', first defined at line %u",
                                              dup->key->text, first->key->line);
                        if (r < 0)
                                return r;
                        r = builder_discard(b, TAKE_PTR(dup->key));
                        if (r < 0)
                                return r;
                        sorted[i] = first;
                }
        }
        for (size_t i = 0; i < map->n_pairs; i++) {
                if (!map->pairs[i].key) {
                        /* Finish compacting even on OOM, so no pair is left in two slots. */
                        r = builder_discard(b, TAKE_PTR(map->pairs[i].value));
                        if (r < 0)
                                ret = r;
                        continue;
                }
                map->pairs[j++] = map->pairs[i];
        }
        map->n_pairs = j;
        return ret;
}

static int pop_frame(Builder *b) {
        Frame *f = b->stack + b->n_stack - 1;
        _cleanup_free_ char *anchor = TAKE_PTR(f->anchor);
        YamlNode *n = f->node;
        int r;

        if (n->type == YAML_TREE_MAPPING) {
                r = mapping_check_keys(b, n);
                if (r < 0)
                        return r;
        }
        /* A dangling key cannot happen with a well-formed event stream. */
        f->key = yaml_node_free(f->key);
        b->n_stack--;
        r = add_node(b, n);
        if (r < 0)
                return r;
        if (anchor)
                return add_anchor(b, anchor, n);
        return 0;
}

static int builder_scalar(Builder *b, const yaml_event_t *e) {
        _cleanup_(yaml_node_freep) YamlNode *n = NULL;
        const char *tag = (const char *) e->data.scalar.tag;
        YamlNode *borrowed;
        int r;

        r = node_new(b, YAML_TREE_SCALAR, &e->start_mark, &n);
        if (r < 0)
                return r;
        n->text = memdup_nul(e->data.scalar.value, e->data.scalar.length);
        if (!n->text)
                return -ENOMEM;
        n->length = e->data.scalar.length;
        n->quoted = e->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
        if (tag) {
                n->tag = strdup(tag);
                if (!n->tag)
                        return -ENOMEM;
        }
        if (n->quoted || (tag && (streq(tag, YAML_STR_TAG) || streq(tag, "!"))))
                n->kind = YAML_SCALAR_STRING;
        else
                n->kind = yaml_scalar_kind_from_plain(n->text);

        if (strlen(n->text) != n->length) {
                /* An escaped "\0": strings are C strings everywhere after this point. */
                r = builder_error(b, n->line, n->column, "NUL character in a string");
                if (r != -EINVAL)
                        return r;
                n->length = strlen(n->text);
        }

        borrowed = n;
        r = add_node(b, TAKE_PTR(n));
        if (r < 0)
                return r;
        if (e->data.scalar.anchor)
                return add_anchor(b, (const char *) e->data.scalar.anchor, borrowed);
        return 0;
}

static int builder_event(Builder *b, const yaml_event_t *e) {
        _cleanup_(yaml_node_freep) YamlNode *n = NULL;
        const YamlNode *target;
        const char *anchor;
        int r;

        switch (e->type) {
        case YAML_DOCUMENT_START_EVENT:
                if (++b->n_documents > 1)
                        return builder_error(b, e->start_mark.line + 1, e->start_mark.column + 1,
                                             "a second document is not allowed, found '---'");
                return 0;

        case YAML_SCALAR_EVENT:
                return builder_scalar(b, e);

        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
                if (e->type == YAML_SEQUENCE_START_EVENT) {
                        r = node_new(b, YAML_TREE_SEQUENCE, &e->start_mark, &n);
                        anchor = (const char *) e->data.sequence_start.anchor;
                        if (r >= 0)
                                n->flow = e->data.sequence_start.style == YAML_FLOW_SEQUENCE_STYLE;
                } else {
                        r = node_new(b, YAML_TREE_MAPPING, &e->start_mark, &n);
                        anchor = (const char *) e->data.mapping_start.anchor;
                        if (r >= 0)
                                n->flow = e->data.mapping_start.style == YAML_FLOW_MAPPING_STYLE;
                }
                if (r < 0)
                        return r;
                return push_frame(b, TAKE_PTR(n), anchor);

        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
                assert(b->n_stack > 0);
                return pop_frame(b);

        case YAML_ALIAS_EVENT:
                target = find_anchor(b, (const char *) e->data.alias.anchor);
                if (!target)
                        return builder_error(b, e->start_mark.line + 1, e->start_mark.column + 1,
                                             "unknown alias '*%s'",
                                             (const char *) e->data.alias.anchor);
                r = node_copy(b, target, &e->start_mark, &n);
                if (r < 0)
                        return r;
                /* The copy as a whole sits where the alias is. */
                n->line = e->start_mark.line + 1;
                n->column = e->start_mark.column + 1;
                return add_node(b, TAKE_PTR(n));

        default:
                return 0;
        }
}

static void builder_done(Builder *b) {
        for (size_t i = 0; i < b->n_stack; i++) {
                yaml_node_free(b->stack[i].node);
                yaml_node_free(b->stack[i].key);
                free(b->stack[i].anchor);
        }
        free(b->stack);
        for (size_t i = 0; i < b->n_anchors; i++)
                free(b->anchors[i].name);
        free(b->anchors);
        for (size_t i = 0; i < b->n_discarded; i++)
                yaml_node_free(b->discarded[i]);
        free(b->discarded);
        yaml_node_free(b->root);
}

static int builder_syntax_error(Builder *b, const yaml_parser_t *p) {
        unsigned line, column;

        if (p->error == YAML_MEMORY_ERROR)
                return -ENOMEM;
        if (p->error == YAML_READER_ERROR)
                offset_to_mark(b->data, b->size, p->problem_offset, &line, &column);
        else {
                line = p->problem_mark.line + 1;
                column = p->problem_mark.column + 1;
        }
        if (p->context)
                return builder_error(b, line, column, "%s %s", p->context, strna(p->problem));
        return builder_error(b, line, column, "%s", strna(p->problem));
}

int yaml_tree_parse(const char *data, size_t size, YamlNode **ret, YamlTreeErrors *errors) {
        _cleanup_(yaml_parser_deletep) yaml_parser_t *parser = NULL;
        Builder b = { .data = data, .size = size, .errors = errors };
        yaml_parser_t p;
        const char *nul;
        int r;

        assert(data || size == 0);
        assert(ret);
        assert(errors);

        if (size > YAML_TREE_MAX_SIZE)
                return builder_error(&b, 0, 0, "document is larger than %u MiB",
                                     YAML_TREE_MAX_SIZE / 1024U / 1024U);
        nul = size > 0 ? memchr(data, 0, size) : NULL;
        if (nul) {
                unsigned line, column;

                offset_to_mark(data, size, nul - data, &line, &column);
                return builder_error(&b, line, column, "NUL byte in input");
        }

        if (!yaml_parser_initialize(&p))
                return -ENOMEM;
        parser = &p;
        yaml_parser_set_input_string(&p, (const unsigned char *) (data ?: ""), size);

        for (;;) {
                yaml_event_t e;
                bool end;

                if (!yaml_parser_parse(&p, &e)) {
                        r = builder_syntax_error(&b, &p);
                        goto finish;
                }
                end = e.type == YAML_STREAM_END_EVENT;
                r = builder_event(&b, &e);
                yaml_event_delete(&e);
                if (r < 0)
                        goto finish;
                if (end)
                        break;
        }

        if (!b.root) {
                r = builder_error(&b, 0, 0, "empty document");
                goto finish;
        }
        *ret = TAKE_PTR(b.root);
        r = 0;
finish:
        builder_done(&b);
        return r;
}
