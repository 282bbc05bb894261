/* SPDX-License-Identifier: Apache-2.0 */
/* spec-internal.h: the schema of the deployment spec as data, shared by validator and dumper. */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "macro.h"
#include "yaml-tree.h"
#include "zlayer/spec.h"

typedef struct SpecContext SpecContext;
typedef struct Schema Schema;

typedef enum FieldKind {
        FIELD_STRING, /* scalar as text; plain numbers and booleans give their text */
        FIELD_INTEGER, /* plain integer within [min, max] */
        FIELD_BOOLEAN, /* plain true/false */
        FIELD_ENUM, /* one of values[] */
        FIELD_DURATION, /* "30s" -> 30000; integer milliseconds in canonical documents */
        FIELD_SIZE, /* "256Mi" or integer bytes -> bytes */
        FIELD_CPU, /* cores or "500m" -> float cores */
        FIELD_MODE, /* octal file mode -> integer */
        FIELD_PERCENT, /* 70 or "70%" -> integer */
        FIELD_STRING_MAP, /* mapping of string -> string */
        FIELD_STRING_LIST, /* list of strings */
        FIELD_OBJECT, /* mapping described by schema */
        FIELD_OBJECT_LIST, /* list of mappings described by schema */
        FIELD_CUSTOM, /* parse() decides; schema (if set) describes the result for dumps */
        _FIELD_KIND_MAX,
        _FIELD_KIND_INVALID = -EINVAL,
} FieldKind;

enum {
        FIELD_REQUIRED = 1U << 0,
        /* Absent objects (and custom fields) are built from their defaults (or from a NULL
         * node for custom fields) instead of being omitted. */
        FIELD_FILL = 1U << 1,
        /* Custom fields whose result is a mapping of names to objects of schema. */
        FIELD_MAP_OF = 1U << 2,
};

/* Checks a string value. Returns NULL if acceptable, else what would be allowed, phrased to
 * follow "expected ": "an absolute path". */
typedef const char *(*StringCheck)(const char *s);

/* Parses the value node n (NULL for absent FIELD_FILL custom fields; `where` is the mapping that
 * holds the field, for marks). Returns 1 with *ret set when valid, 0 when invalid (errors have
 * been recorded), or a negative errno. */
typedef int (*FieldParser)(SpecContext *c, const YamlNode *n, const YamlNode *where,
                           const char *path, json_t **ret);

typedef struct Field {
        const char *name;
        FieldKind kind;
        unsigned flags;
        unsigned tags; /* tagged unions: bit i set = allowed with tag_values[i]; 0 = always */
        const char *def; /* default as JSON text, applied when the key is absent */
        int64_t min, max;
        const char *const *values;
        const Schema *schema;
        StringCheck check; /* strings; values of string maps; items of string lists */
        StringCheck key_check; /* keys of string maps */
        FieldParser parse;
        /* For dumps of fields whose schema depends on a sibling value (init step `with`). */
        const Schema *(*dynamic_schema)(const json_t *parent);
} Field;

struct Schema {
        const Field *fields; /* terminated by an entry with name NULL */
        const char *tag_key; /* tagged unions: the key choosing the variant */
        const char *const *tag_values;
        const char *tag_default; /* NULL: the tag key is required */
        /* Rules across fields, run after the fields; obj holds only the valid fields. Returns 0
         * or a negative errno; records errors itself. */
        int (*post)(SpecContext *c, const YamlNode *n, const char *path, json_t *obj);
};

struct SpecContext {
        ZlDiagList diags;
        bool canonical; /* the document is JSON-like: integer durations are milliseconds */
        const YamlNode *root;
        const Schema *init_action; /* parameters of the init step being parsed */
};

/* The top of the spec: {version, deployment, services}. */
extern const Schema spec_schema;

/* Appends an error. hint may be NULL. Returns 0 (the convention for "invalid") or -ENOMEM. */
int spec_error(SpecContext *c, const YamlNode *at, const char *path, const char *hint,
               const char *format, ...) _printf_(5, 6);
int spec_diag_append(ZlDiagList *l, ZlDiagSeverity severity, unsigned line, unsigned column,
                     const char *path, const char *hint, char *message);

/* Validates the whole document. Returns 1 and the canonical form, 0 if invalid (errors in
 * c->diags), or a negative errno. */
int spec_validate(SpecContext *c, const YamlNode *root, json_t **ret);

/* The schema of an init action's parameters by action name, or NULL. */
const Schema *spec_init_action_schema(const char *action);
