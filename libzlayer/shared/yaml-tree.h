/* SPDX-License-Identifier: Apache-2.0 */
/* yaml-tree.h: a YAML document as a tree of scalars, sequences and mappings with source marks. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

/* Budget of nodes after alias expansion: stops "billion laughs" documents. */
#define YAML_TREE_MAX_NODES 100000U
/* Collections nested deeper than this are rejected, so walking the tree cannot exhaust the
 * stack. */
#define YAML_TREE_MAX_DEPTH 256U
/* Input larger than this is rejected before parsing. */
#define YAML_TREE_MAX_SIZE (16U * 1024U * 1024U)

typedef enum YamlNodeType {
        YAML_TREE_SCALAR,
        YAML_TREE_SEQUENCE,
        YAML_TREE_MAPPING,
        _YAML_TREE_TYPE_MAX,
        _YAML_TREE_TYPE_INVALID = -EINVAL,
} YamlNodeType;

/* Our typing of scalars, not YAML 1.1's: only plain scalars are typed; every quoted scalar is a
 * string. */
typedef enum YamlScalarKind {
        YAML_SCALAR_STRING,
        YAML_SCALAR_INTEGER, /* -?[0-9]+ */
        YAML_SCALAR_FLOAT, /* -?[0-9]+.[0-9]+ with an optional exponent */
        YAML_SCALAR_BOOLEAN, /* true/false in any case */
        YAML_SCALAR_NULL, /* ~, null in any case, or empty */
        _YAML_SCALAR_KIND_MAX,
        _YAML_SCALAR_KIND_INVALID = -EINVAL,
} YamlScalarKind;

typedef struct YamlNode YamlNode;

typedef struct YamlPair {
        YamlNode *key;
        YamlNode *value;
} YamlPair;

struct YamlNode {
        YamlNodeType type;
        unsigned line; /* 1-based */
        unsigned column; /* 1-based */

        /* Scalars. text is NUL-terminated; length excludes the NUL (text has no embedded NUL,
         * input containing NUL is rejected). */
        char *text;
        size_t length;
        bool quoted;
        YamlScalarKind kind;
        char *tag; /* explicit tag as resolved by libyaml, or NULL */

        /* Collections. */
        bool flow;
        YamlNode **items; /* sequences */
        size_t n_items;
        YamlPair *pairs; /* mappings, in document order, keys unique */
        size_t n_pairs;
};

/* One problem found while building the tree. */
typedef struct YamlTreeError {
        unsigned line;
        unsigned column;
        char *path; /* "a.b[2].c", "" at the root */
        char *message;
} YamlTreeError;

typedef struct YamlTreeErrors {
        YamlTreeError *items;
        size_t n_items;
} YamlTreeErrors;

void yaml_tree_errors_done(YamlTreeErrors *e);

/* Builds the tree of the single document in data. Returns 0 and the root in *ret when a tree
 * could be built; errors that do not stop the build (duplicate keys, non-scalar keys: the
 * offending pair is dropped) are appended to errors even then, so callers must check
 * errors->n_items. Returns -EINVAL with the error appended when no tree could be built (syntax
 * error, empty stream, second document, unknown alias, node budget, nesting, size, NUL byte),
 * -ENOMEM on allocation failure. */
int yaml_tree_parse(const char *data, size_t size, YamlNode **ret, YamlTreeErrors *errors);

YamlNode *yaml_node_free(YamlNode *n);
DEFINE_TRIVIAL_CLEANUP_FUNC(YamlNode *, yaml_node_free);

/* The value for a key of a mapping, or NULL. */
YamlNode *yaml_node_get(const YamlNode *map, const char *key);
/* The key node for a key of a mapping, or NULL. */
YamlNode *yaml_node_get_key(const YamlNode *map, const char *key);

static inline bool yaml_node_is_null(const YamlNode *n) {
        return n && n->type == YAML_TREE_SCALAR && n->kind == YAML_SCALAR_NULL;
}

/* Applies our scalar typing to a plain scalar's text. */
YamlScalarKind yaml_scalar_kind_from_plain(const char *text);

const char *yaml_node_type_to_string(YamlNodeType t);
