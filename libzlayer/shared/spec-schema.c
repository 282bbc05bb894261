/* SPDX-License-Identifier: Apache-2.0 */
/* spec-schema.c: the spec v1 schema as tables and the walker that checks a node tree against
 * them, producing the canonical JSON form and every diagnostic. */
#include <inttypes.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>

#include "cap-util.h"
#include "hostname-util.h"
#include "image-ref.h"
#include "parse-util.h"
#include "signal-util.h"
#include "spec-internal.h"
#include "string-util.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(ZlCron *, zl_cron_free);

static bool streq_ptr(const char *a, const char *b) {
        return a && b && streq(a, b);
}

/* ---- diagnostics -------------------------------------------------------------------------- */

int spec_diag_append(ZlDiagList *l, ZlDiagSeverity severity, unsigned line, unsigned column,
                     const char *path, const char *hint, char *message) {
        _cleanup_free_ char *m = message, *p = NULL, *h = NULL;
        ZlDiag *items;

        if (!m)
                return -ENOMEM;
        p = strdup(strempty(path));
        if (!p)
                return -ENOMEM;
        if (hint) {
                h = strdup(hint);
                if (!h)
                        return -ENOMEM;
        }
        items = reallocarray(l->items, l->n_items + 1, sizeof(ZlDiag));
        if (!items)
                return -ENOMEM;
        l->items = items;
        items[l->n_items++] = (ZlDiag){
                .severity = severity,
                .line = line,
                .column = column,
                .path = TAKE_PTR(p),
                .message = TAKE_PTR(m),
                .hint = TAKE_PTR(h),
        };
        if (severity == ZL_DIAG_ERROR)
                l->n_errors++;
        return 0;
}

int spec_error(SpecContext *c, const YamlNode *at, const char *path, const char *hint,
               const char *format, ...) {
        char *message = NULL;
        va_list ap;
        int r;

        va_start(ap, format);
        r = vasprintf(&message, format, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        r = spec_diag_append(&c->diags, ZL_DIAG_ERROR, at ? at->line : 0, at ? at->column : 0, path,
                             hint, message);
        return r < 0 ? r : 0;
}

/* How a node reads in "found ...": 30, true, string '30', a mapping, a list, null. */
static char *describe(const YamlNode *n) {
        _cleanup_free_ char *e = NULL;

        if (!n || yaml_node_is_null(n))
                return strdup("null");
        if (n->type == YAML_TREE_MAPPING)
                return strdup("a mapping");
        if (n->type == YAML_TREE_SEQUENCE)
                return strdup("a list");
        e = string_escape_for_display(n->text, 64);
        if (!e)
                return NULL;
        if (n->kind == YAML_SCALAR_STRING)
                return strjoin("string '", e, "'");
        return TAKE_PTR(e);
}

/* Like describe(), but strings are just quoted: for values compared with names. */
static char *describe_value(const YamlNode *n) {
        _cleanup_free_ char *e = NULL;

        if (!n || n->type != YAML_TREE_SCALAR || n->kind != YAML_SCALAR_STRING)
                return describe(n);
        e = string_escape_for_display(n->text, 64);
        if (!e)
                return NULL;
        return strjoin("'", e, "'");
}

/* Records "expected <what>, found <node>". Returns 0 or -ENOMEM. */
static int expected(SpecContext *c, const YamlNode *n, const char *path, const char *hint,
                    const char *what) {
        _cleanup_free_ char *d = describe(n);

        if (!d)
                return -ENOMEM;
        return spec_error(c, n, path, hint, "expected %s, found %s", what, d);
}

static int expected_value(SpecContext *c, const YamlNode *n, const char *path, const char *hint,
                          const char *what) {
        _cleanup_free_ char *d = describe_value(n);

        if (!d)
                return -ENOMEM;
        return spec_error(c, n, path, hint, "expected %s, found %s", what, d);
}

static char *path_key(const char *path, const char *key) {
        return isempty(path) ? strdup(key) : strjoin(path, ".", key);
}

static char *path_index(const char *path, size_t i) {
        char *p;

        if (asprintf(&p, "%s[%zu]", path, i) < 0)
                return NULL;
        return p;
}

static char *join_names(const char *const *names) {
        _cleanup_free_ char *s = strdup("");

        if (!s)
                return NULL;
        for (size_t i = 0; names[i]; i++)
                if (strextend(&s, i > 0 ? ", " : "", names[i]) < 0)
                        return NULL;
        return TAKE_PTR(s);
}

static char *suggestion(const char *s, const char *const *candidates) {
        const char *m = string_suggest(s, candidates);

        if (!m)
                return NULL;
        return strjoin("did you mean '", m, "'?");
}

static bool is_text(const YamlNode *n) {
        return n && n->type == YAML_TREE_SCALAR && n->kind != YAML_SCALAR_NULL;
}

static bool is_integer(const YamlNode *n) {
        return n && n->type == YAML_TREE_SCALAR && n->kind == YAML_SCALAR_INTEGER;
}

static int set_new(json_t *obj, const char *key, json_t *v) {
        if (!v || json_object_set_new(obj, key, v) < 0)
                return -ENOMEM;
        return 0;
}

/* ---- string checks ------------------------------------------------------------------------ */

#define DNS_LABEL_RULE "[a-z0-9-], 1 to 63 characters, starting and ending with a letter or digit"

static const char *check_dns_label(const char *s) {
        return dns_label_is_valid(s) ? NULL : "a DNS label (" DNS_LABEL_RULE ")";
}

static const char *check_deployment_name(const char *s) {
        return dns_label_is_valid_len(s, 3, 63)
                       ? NULL
                       : "a deployment name ([a-z0-9-], 3 to 63 characters, starting and ending "
                         "with a letter or digit)";
}

static const char *check_absolute_path(const char *s) {
        return s[0] == '/' ? NULL : "an absolute path";
}

static const char *check_non_empty(const char *s) {
        return s[0] != '\0' ? NULL : "a non-empty string";
}

static const char *check_hostname(const char *s) {
        return hostname_is_valid(s) ? NULL : "a hostname";
}

static const char *check_host_pattern(const char *s) {
        const char *rest = startswith(s, "*.");

        return hostname_is_valid(rest ?: s) ? NULL
                                            : "a host name or pattern such as '*.example.com'";
}

static const char *check_route_path(const char *s) {
        return s[0] == '/' ? NULL : "a path starting with '/'";
}

static const char *check_http_url(const char *s) {
        const char *rest = startswith(s, "http://") ?: startswith(s, "https://");

        return !isempty(rest) ? NULL : "an http:// or https:// URL";
}

static const char *check_health_url(const char *s) {
        return s[0] == '/' || !check_http_url(s) ? NULL
                                                 : "a path such as '/health' or an http(s) URL";
}

static bool env_name_is_valid(const char *s) {
        if (!s || !((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
                return false;
        for (const char *p = s + 1; *p; p++)
                if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                      (*p >= '0' && *p <= '9') || *p == '_'))
                        return false;
        return true;
}

static const char *check_env_name(const char *s) {
        return env_name_is_valid(s) ? NULL : "a variable name ([A-Za-z_][A-Za-z0-9_]*)";
}

/* "$E:NAME" takes NAME from the daemon's environment; anything else is literal. */
static const char *check_env_value(const char *s) {
        const char *name = startswith(s, "$E:");

        return !name || env_name_is_valid(name)
                       ? NULL
                       : "a variable name ([A-Za-z_][A-Za-z0-9_]*) after '$E:'";
}

static const char *check_sysctl_name(const char *s) {
        if (isempty(s) || s[0] == '.' || s[0] == '/')
                return "a sysctl name such as 'net.core.somaxconn'";
        for (const char *p = s; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                      (*p >= '0' && *p <= '9') || strchr("._-/", *p)))
                        return "a sysctl name such as 'net.core.somaxconn'";
        return NULL;
}

/* ---- scalar fields ------------------------------------------------------------------------ */

static int parse_string(SpecContext *c, const Field *f, const YamlNode *n, const char *path,
                        json_t **ret) {
        const char *allowed;

        if (!is_text(n))
                return expected(c, n, path, NULL, "a string");
        if (f->check) {
                allowed = f->check(n->text);
                if (allowed)
                        return expected_value(c, n, path, NULL, allowed);
        }
        *ret = json_string(n->text);
        return *ret ? 1 : -ENOMEM;
}

static int parse_integer(SpecContext *c, const Field *f, const YamlNode *n, const char *path,
                         json_t **ret) {
        _cleanup_free_ char *what = NULL;
        int64_t v;
        int r;

        if (f->max == INT64_MAX)
                r = asprintf(&what, "an integer >= %" PRId64, f->min);
        else
                r = asprintf(&what, "an integer between %" PRId64 " and %" PRId64, f->min, f->max);
        if (r < 0)
                return -ENOMEM;
        if (!is_integer(n))
                return expected(c, n, path, NULL, "an integer");
        r = safe_atoi64(n->text, &v);
        if (r < 0 || v < f->min || v > f->max)
                return expected(c, n, path, NULL, what);
        *ret = json_integer(v);
        return *ret ? 1 : -ENOMEM;
}

static int parse_bool(SpecContext *c, const YamlNode *n, const char *path, json_t **ret) {
        if (!n || n->type != YAML_TREE_SCALAR || n->kind != YAML_SCALAR_BOOLEAN)
                return expected(c, n, path, NULL, "a boolean (true or false)");
        *ret = json_boolean(strcasecmp(n->text, "true") == 0);
        return *ret ? 1 : -ENOMEM;
}

static int parse_enum(SpecContext *c, const char *const *values, const YamlNode *n,
                      const char *path, json_t **ret) {
        _cleanup_free_ char *list = NULL, *hint = NULL, *what = NULL;

        if (is_text(n))
                for (size_t i = 0; values[i]; i++)
                        if (streq(n->text, values[i])) {
                                *ret = json_string(values[i]);
                                return *ret ? 1 : -ENOMEM;
                        }
        list = join_names(values);
        if (!list)
                return -ENOMEM;
        if (is_text(n))
                /* Out of memory here only loses the hint. */
                hint = suggestion(n->text, values);
        what = strjoin("one of ", list);
        if (!what)
                return -ENOMEM;
        return expected_value(c, n, path, hint, what);
}

static int parse_duration(SpecContext *c, const YamlNode *n, const char *path, json_t **ret) {
        static const char what[] = "a duration with a unit such as \"30s\" or \"5m\"";
        _cleanup_free_ char *hint = NULL;
        uint64_t ms;
        int r;

        if (!is_text(n) || n->kind == YAML_SCALAR_BOOLEAN)
                return expected(c, n, path, NULL, what);
        if (is_integer(n) && c->canonical) {
                r = safe_atou64(n->text, &ms);
                if (r < 0 || ms > INT64_MAX)
                        return expected(c, n, path, NULL, "a duration in milliseconds");
        } else {
                r = parse_duration_ms(n->text, &ms);
                if (r == -EDOM && n->text[0] != '-') {
                        hint = strjoin("did you mean \"", n->text, "s\"?");
                        if (!hint)
                                return -ENOMEM;
                }
                if (r < 0 || ms > INT64_MAX)
                        return expected(c, n, path, hint, what);
        }
        *ret = json_integer((json_int_t) ms);
        return *ret ? 1 : -ENOMEM;
}

static int parse_size_field(SpecContext *c, const YamlNode *n, const char *path, json_t **ret) {
        uint64_t v;

        if (!is_text(n) || parse_size(n->text, &v) < 0 || v > INT64_MAX)
                return expected(c, n, path, NULL,
                                "a size greater than 0 in bytes or with a unit such as \"512Mi\" "
                                "or \"1G\"");
        *ret = json_integer((json_int_t) v);
        return *ret ? 1 : -ENOMEM;
}

static int parse_cpu_field(SpecContext *c, const YamlNode *n, const char *path, json_t **ret) {
        double v;

        /* Canonical cpu is whole millicores expressed in cores, the resolution cgroup quotas
         * are set with, so 0.1 stays 0.1 through every dump and parse. */
        if (!is_text(n) || n->kind == YAML_SCALAR_BOOLEAN || parse_cpu(n->text, &v) < 0 ||
            v < 0.001 || v > 1e6)
                return expected(c, n, path, NULL,
                                "a number of CPU cores between 0.001 and 1000000 such as 0.5, or "
                                "millicores such as \"500m\"");
        *ret = json_real(round(v * 1000.0) / 1000.0);
        return *ret ? 1 : -ENOMEM;
}

static int parse_mode_field(SpecContext *c, const YamlNode *n, const char *path, json_t **ret) {
        static const char what[] = "an octal file mode such as \"0755\" or \"1777\"";
        mode_t m;

        if (!is_text(n) || n->kind == YAML_SCALAR_BOOLEAN || n->kind == YAML_SCALAR_FLOAT)
                return expected(c, n, path, NULL, what);
        if (is_integer(n) && c->canonical) {
                /* Canonical documents carry the numeric value, not octal digits. */
                unsigned v;

                if (safe_atou(n->text, &v) < 0 || v > 07777)
                        return expected(c, n, path, NULL, "a file mode between 0 and 4095");
                m = v;
        } else if (parse_file_mode(n->text, &m) < 0)
                return expected(c, n, path, NULL, what);
        *ret = json_integer(m);
        return *ret ? 1 : -ENOMEM;
}

static int parse_percent_field(SpecContext *c, const YamlNode *n, const char *path, json_t **ret) {
        unsigned v;

        if (!is_text(n) || n->kind == YAML_SCALAR_BOOLEAN || n->kind == YAML_SCALAR_FLOAT ||
            parse_percent(n->text, &v) < 0)
                return expected(c, n, path, NULL,
                                "a percentage between 1 and 100 such as 70 or \"70%\"");
        *ret = json_integer(v);
        return *ret ? 1 : -ENOMEM;
}

static int parse_string_map(SpecContext *c, const Field *f, const YamlNode *n, const char *path,
                            json_t **ret) {
        _cleanup_(json_decrefp) json_t *obj = NULL;
        bool valid = true;
        int r;

        if (!n || n->type != YAML_TREE_MAPPING)
                return expected(c, n, path, NULL, "a mapping of names to strings");
        obj = json_object();
        if (!obj)
                return -ENOMEM;
        for (size_t i = 0; i < n->n_pairs; i++) {
                const YamlNode *k = n->pairs[i].key, *v = n->pairs[i].value;
                _cleanup_free_ char *p = path_key(path, k->text);
                const char *allowed;

                if (!p)
                        return -ENOMEM;
                allowed = f->key_check ? f->key_check(k->text) : check_non_empty(k->text);
                if (allowed) {
                        _cleanup_free_ char *d = string_escape_for_display(k->text, 64);

                        if (!d)
                                return -ENOMEM;
                        r = spec_error(c, k, p, NULL, "expected %s as key, found '%s'", allowed, d);
                        if (r < 0)
                                return r;
                        valid = false;
                        continue;
                }
                if (!is_text(v)) {
                        r = expected(c, v, p, NULL, "a string");
                        if (r < 0)
                                return r;
                        valid = false;
                        continue;
                }
                if (f->check) {
                        allowed = f->check(v->text);
                        if (allowed) {
                                r = expected_value(c, v, p, NULL, allowed);
                                if (r < 0)
                                        return r;
                                valid = false;
                                continue;
                        }
                }
                r = set_new(obj, k->text, json_string(v->text));
                if (r < 0)
                        return r;
        }
        if (!valid)
                return 0;
        *ret = TAKE_PTR(obj);
        return 1;
}

/* ---- objects ------------------------------------------------------------------------------ */

static int parse_object(SpecContext *c, const Schema *s, const YamlNode *n, const YamlNode *where,
                        const char *path, json_t **ret);

/* Parses one list item; returns 1 and the value, 0 if invalid (errors recorded), or -errno. */
typedef int (*ItemParser)(SpecContext *c, const Field *f, const YamlNode *item, const char *path,
                          json_t **ret);

static int parse_string_item(SpecContext *c, const Field *f, const YamlNode *item, const char *path,
                             json_t **ret) {
        return parse_string(c, f, item, path, ret);
}

static int parse_object_item(SpecContext *c, const Field *f, const YamlNode *item, const char *path,
                             json_t **ret) {
        return parse_object(c, f->schema, item, item, path, ret);
}

/* A list whose items all parse; every item is checked even after an invalid one, so all errors
 * are reported. */
static int parse_list(SpecContext *c, const Field *f, const YamlNode *n, const char *path,
                      const char *what, ItemParser parse_item, json_t **ret) {
        _cleanup_(json_decrefp) json_t *arr = NULL;
        bool valid = true;
        int r;

        if (!n || n->type != YAML_TREE_SEQUENCE)
                return expected(c, n, path, NULL, what);
        arr = json_array();
        if (!arr)
                return -ENOMEM;
        for (size_t i = 0; i < n->n_items; i++) {
                _cleanup_free_ char *p = path_index(path, i);
                json_t *v = NULL;

                if (!p)
                        return -ENOMEM;
                r = parse_item(c, f, n->items[i], p, &v);
                if (r < 0)
                        return r;
                if (r == 0) {
                        valid = false;
                        continue;
                }
                if (json_array_append_new(arr, v) < 0)
                        return -ENOMEM;
        }
        if (!valid)
                return 0;
        *ret = TAKE_PTR(arr);
        return 1;
}

static int parse_field(SpecContext *c, const Field *f, const YamlNode *n, const YamlNode *where,
                       const char *path, json_t **ret) {
        switch (f->kind) {
        case FIELD_STRING:
                return parse_string(c, f, n, path, ret);
        case FIELD_INTEGER:
                return parse_integer(c, f, n, path, ret);
        case FIELD_BOOLEAN:
                return parse_bool(c, n, path, ret);
        case FIELD_ENUM:
                return parse_enum(c, f->values, n, path, ret);
        case FIELD_DURATION:
                return parse_duration(c, n, path, ret);
        case FIELD_SIZE:
                return parse_size_field(c, n, path, ret);
        case FIELD_CPU:
                return parse_cpu_field(c, n, path, ret);
        case FIELD_MODE:
                return parse_mode_field(c, n, path, ret);
        case FIELD_PERCENT:
                return parse_percent_field(c, n, path, ret);
        case FIELD_STRING_MAP:
                return parse_string_map(c, f, n, path, ret);
        case FIELD_STRING_LIST:
                return parse_list(c, f, n, path, "a list of strings", parse_string_item, ret);
        case FIELD_OBJECT:
                return parse_object(c, f->schema, n, where, path, ret);
        case FIELD_OBJECT_LIST:
                return parse_list(c, f, n, path, "a list", parse_object_item, ret);
        case FIELD_CUSTOM:
                return f->parse(c, n, where, path, ret);
        default:
                return -EINVAL;
        }
}

static const Field *schema_find(const Schema *s, const char *key) {
        for (const Field *f = s->fields; f->name; f++)
                if (streq(f->name, key))
                        return f;
        return NULL;
}

static int schema_names(const Schema *s, unsigned tag_bit, const char ***ret) {
        size_t n = 0, j = 0;
        const char **names;

        for (const Field *f = s->fields; f->name; f++)
                n++;
        names = calloc(n + 1, sizeof(char *));
        if (!names)
                return -ENOMEM;
        for (const Field *f = s->fields; f->name; f++)
                if (tag_bit == 0 || f->tags == 0 || (f->tags & tag_bit))
                        names[j++] = f->name;
        *ret = names;
        return 0;
}

/* Lists the keys allowed with the variant chosen by the tag (all keys when tag_bit is 0), but
 * suggests from all keys: a near miss of another variant's key is still worth naming. */
static int unknown_key(SpecContext *c, const Schema *s, unsigned tag_bit, const YamlNode *k,
                       const char *path) {
        _cleanup_free_ const char **names = NULL, **allowed = NULL;
        _cleanup_free_ char *list = NULL, *hint = NULL, *d = NULL;
        int r;

        r = schema_names(s, 0, &names);
        if (r < 0)
                return r;
        r = schema_names(s, tag_bit, &allowed);
        if (r < 0)
                return r;
        list = join_names(allowed);
        d = string_escape_for_display(k->text, 64);
        if (!list || !d)
                return -ENOMEM;
        hint = suggestion(k->text, names);
        return spec_error(c, k, path, hint, "unknown key '%s'; allowed keys: %s", d, list);
}

/* Defaults are tiny JSON texts: "\"str\"", "123", "true", "false", "[]", "{}". Built by hand:
 * json_loads() asserts when an allocation fails inside its lexer. NULL on OOM. */
static json_t *default_value(const char *def) {
        size_t n = strlen(def);

        if (def[0] == '"')
                return json_stringn(def + 1, n - 2);
        if (streq(def, "true"))
                return json_true();
        if (streq(def, "false"))
                return json_false();
        if (streq(def, "[]"))
                return json_array();
        if (streq(def, "{}"))
                return json_object();
        return json_integer(strtoll(def, NULL, 10));
}

static int parse_object(SpecContext *c, const Schema *s, const YamlNode *n, const YamlNode *where,
                        const char *path, json_t **ret) {
        _cleanup_(json_decrefp) json_t *obj = NULL;
        _cleanup_free_ bool *seen = NULL;
        size_t n_fields = 0, errors_before = c->diags.n_errors;
        const char *tag = NULL;
        unsigned tag_bit = 0;
        bool tag_known = true;
        int r;

        assert(s);

        if (n && yaml_node_is_null(n))
                n = NULL;
        if (n && n->type != YAML_TREE_MAPPING)
                return expected(c, n, path, NULL, "a mapping");

        for (const Field *f = s->fields; f->name; f++)
                n_fields++;
        seen = calloc(n_fields, sizeof(bool));
        obj = json_object();
        if (!seen || !obj)
                return -ENOMEM;

        if (s->tag_key) {
                const YamlNode *t = n ? yaml_node_get(n, s->tag_key) : NULL;
                _cleanup_free_ char *p = path_key(path, s->tag_key);

                if (!p)
                        return -ENOMEM;
                if (t && !yaml_node_is_null(t)) {
                        json_t *v = NULL;

                        r = parse_enum(c, s->tag_values, t, p, &v);
                        if (r < 0)
                                return r;
                        if (r > 0) {
                                json_decref(v);
                                tag = t->text;
                        }
                } else if (s->tag_default)
                        tag = s->tag_default;
                else {
                        r = spec_error(c, n ?: where, p, NULL, "missing required key '%s'",
                                       s->tag_key);
                        if (r < 0)
                                return r;
                }
                if (tag) {
                        for (size_t i = 0; s->tag_values[i]; i++)
                                if (streq(s->tag_values[i], tag))
                                        tag_bit = 1U << i;
                } else
                        tag_known = false;
        }

        for (size_t i = 0; n && i < n->n_pairs; i++) {
                const YamlNode *k = n->pairs[i].key, *v = n->pairs[i].value;
                _cleanup_free_ char *p = path_key(path, k->text);
                const Field *f = schema_find(s, k->text);
                json_t *value = NULL;

                if (!p)
                        return -ENOMEM;
                if (!f) {
                        r = unknown_key(c, s, tag_bit, k, p);
                        if (r < 0)
                                return r;
                        continue;
                }
                seen[f - s->fields] = true;
                if (s->tag_key && streq(f->name, s->tag_key)) {
                        if (tag && tag_known)
                                r = set_new(obj, f->name, json_string(tag));
                        else
                                r = 0;
                        if (r < 0)
                                return r;
                        continue;
                }
                if (tag_bit && f->tags && !(f->tags & tag_bit)) {
                        _cleanup_free_ const char **names = NULL;
                        _cleanup_free_ char *list = NULL;

                        r = schema_names(s, tag_bit, &names);
                        if (r < 0)
                                return r;
                        list = join_names(names);
                        if (!list)
                                return -ENOMEM;
                        r = spec_error(c, k, p, NULL,
                                       "key '%s' is not allowed with %s %s; allowed keys: %s",
                                       k->text, s->tag_key, tag, list);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (yaml_node_is_null(v) && !(f->flags & FIELD_FILL)) {
                        /* null means absent: defaults apply below. */
                        seen[f - s->fields] = false;
                        continue;
                }
                r = parse_field(c, f, yaml_node_is_null(v) ? NULL : v, n, p, &value);
                if (r < 0)
                        return r;
                if (r > 0) {
                        r = set_new(obj, f->name, value);
                        if (r < 0)
                                return r;
                }
        }

        for (const Field *f = s->fields; f->name; f++) {
                json_t *value = NULL;

                if (seen[f - s->fields])
                        continue;
                if (s->tag_key && streq(f->name, s->tag_key)) {
                        if (tag && tag_known) {
                                r = set_new(obj, f->name, json_string(tag));
                                if (r < 0)
                                        return r;
                        }
                        continue;
                }
                if (f->tags && (!tag_known || !(f->tags & tag_bit)))
                        continue;
                if (f->flags & FIELD_REQUIRED) {
                        _cleanup_free_ char *p = path_key(path, f->name);

                        if (!p)
                                return -ENOMEM;
                        r = spec_error(c, n ?: where, p, NULL, "missing required key '%s'",
                                       f->name);
                        if (r < 0)
                                return r;
                } else if (f->def) {
                        value = default_value(f->def);
                        r = set_new(obj, f->name, value);
                        if (r < 0)
                                return r;
                } else if (f->flags & FIELD_FILL) {
                        _cleanup_free_ char *p = path_key(path, f->name);

                        if (!p)
                                return -ENOMEM;
                        r = parse_field(c, f, NULL, n ?: where, p, &value);
                        if (r < 0)
                                return r;
                        if (r > 0) {
                                r = set_new(obj, f->name, value);
                                if (r < 0)
                                        return r;
                        }
                }
        }

        if (s->post && tag_known) {
                r = s->post(c, n ?: where, path, obj);
                if (r < 0)
                        return r;
        }

        if (c->diags.n_errors != errors_before)
                return 0;
        *ret = TAKE_PTR(obj);
        return 1;
}

/* ---- custom fields ------------------------------------------------------------------------ */

static int parse_image_name(SpecContext *c, const YamlNode *n, const YamlNode *where,
                            const char *path, json_t **ret) {
        _cleanup_free_ char *normalized = NULL, *what = NULL;
        const char *why = NULL;
        int r;

        if (!is_text(n))
                return expected(c, n, path, NULL, "an image reference such as 'nginx:1.27'");
        r = image_ref_normalize(n->text, &normalized, &why);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                what = strjoin("an OCI image reference such as 'nginx:1.27' (", strna(why), ")");
                if (!what)
                        return -ENOMEM;
                return expected_value(c, n, path, NULL, what);
        }
        *ret = json_string(normalized);
        return *ret ? 1 : -ENOMEM;
}

static int parse_schedule(SpecContext *c, const YamlNode *n, const YamlNode *where,
                          const char *path, json_t **ret) {
        _cleanup_(zl_cron_freep) ZlCron *cron = NULL;
        _cleanup_free_ char *error = NULL, *what = NULL;
        int r;

        if (!is_text(n))
                return expected(c, n, path, NULL, "a cron expression such as '*/5 * * * *'");
        r = zl_cron_parse(n->text, &cron, &error);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                if (error)
                        what = strjoin("a cron expression (", error, ")");
                else
                        what = strdup("a cron expression such as '*/5 * * * *'");
                if (!what)
                        return -ENOMEM;
                return expected_value(c, n, path, NULL, what);
        }
        *ret = json_string(zl_cron_normalized(cron));
        return *ret ? 1 : -ENOMEM;
}

static int parse_stop_signal(SpecContext *c, const YamlNode *n, const YamlNode *where,
                             const char *path, json_t **ret) {
        _cleanup_free_ char *hint = NULL, *up = NULL;
        const char *name;
        int sig;

        if (!is_text(n) || n->kind == YAML_SCALAR_BOOLEAN || n->kind == YAML_SCALAR_FLOAT)
                return expected(c, n, path, NULL, "a signal name such as SIGTERM");
        sig = signal_from_string(n->text);
        name = sig > 0 ? signal_to_string(sig) : NULL;
        if (!name) {
                up = startswith_no_case(n->text, "sig") ? strdup(n->text) : strjoin("SIG", n->text);
                if (!up)
                        return -ENOMEM;
                ascii_strupper(up);
                hint = suggestion(up, signal_names());
                return expected_value(c, n, path, hint, "a signal name such as SIGTERM");
        }
        *ret = json_string(name);
        return *ret ? 1 : -ENOMEM;
}

static int parse_capabilities(SpecContext *c, const YamlNode *n, const YamlNode *where,
                              const char *path, json_t **ret) {
        _cleanup_(json_decrefp) json_t *arr = NULL;
        bool valid = true;
        int r;

        if (!n || n->type != YAML_TREE_SEQUENCE)
                return expected(c, n, path, NULL, "a list of capability names");
        arr = json_array();
        if (!arr)
                return -ENOMEM;
        for (size_t i = 0; i < n->n_items; i++) {
                const YamlNode *item = n->items[i];
                _cleanup_free_ char *p = path_index(path, i);
                const char *name = NULL;
                bool dup = false;
                size_t j;
                json_t *v;

                if (!p)
                        return -ENOMEM;
                if (is_text(item) && item->kind == YAML_SCALAR_STRING) {
                        int cap;

                        if (strcasecmp(item->text, "ALL") == 0)
                                name = "ALL";
                        else if ((cap = capability_from_name(item->text)) >= 0)
                                name = capability_to_name(cap);
                }
                if (!name) {
                        _cleanup_free_ char *up = NULL, *hint = NULL;

                        if (is_text(item)) {
                                up = startswith_no_case(item->text, "cap_")
                                             ? strdup(item->text)
                                             : strjoin("CAP_", item->text);
                                if (!up)
                                        return -ENOMEM;
                                ascii_strupper(up);
                                hint = suggestion(up, capability_names());
                        }
                        r = expected_value(c, item, p, hint,
                                           "a capability name such as CAP_NET_ADMIN");
                        if (r < 0)
                                return r;
                        valid = false;
                        continue;
                }
                json_array_foreach (arr, j, v)
                        if (streq(json_string_value(v), name))
                                dup = true;
                if (dup)
                        continue;
                if (json_array_append_new(arr, json_string(name)) < 0)
                        return -ENOMEM;
        }
        if (!valid)
                return 0;
        *ret = TAKE_PTR(arr);
        return 1;
}

static int target_normalize(const char *s, char **ret);

/* Absolute, not "/", no ".." components. */
static int parse_target(SpecContext *c, const YamlNode *n, const YamlNode *where, const char *path,
                        json_t **ret) {
        _cleanup_free_ char *norm = NULL;

        if (is_text(n)) {
                int r = target_normalize(n->text, &norm);

                if (r == -ENOMEM)
                        return r;
        }
        if (!norm)
                return expected_value(c, n, path, NULL,
                                      "an absolute path other than '/' without '..' components");
        *ret = json_string(norm);
        return *ret ? 1 : -ENOMEM;
}

static int parse_services(SpecContext *c, const YamlNode *n, const YamlNode *where,
                          const char *path, json_t **ret);
static int parse_init(SpecContext *c, const YamlNode *n, const YamlNode *where, const char *path,
                      json_t **ret);
static int parse_steps(SpecContext *c, const YamlNode *n, const YamlNode *where, const char *path,
                       json_t **ret);
static int parse_with(SpecContext *c, const YamlNode *n, const YamlNode *where, const char *path,
                      json_t **ret);
static const Schema *step_with_schema(const json_t *step);

/* ---- cross-field rules -------------------------------------------------------------------- */

static int post_endpoint(SpecContext *c, const YamlNode *n, const char *path, json_t *obj) {
        json_t *port = json_object_get(obj, "port");
        const YamlNode *t = yaml_node_get(n, "target_port");

        /* Only when the key is absent: an invalid target_port must not get a default. */
        if (port && (!t || yaml_node_is_null(t)))
                return set_new(obj, "target_port", json_integer(json_integer_value(port)));
        return 0;
}

static int post_scale(SpecContext *c, const YamlNode *n, const char *path, json_t *obj) {
        json_t *min = json_object_get(obj, "min"), *max = json_object_get(obj, "max");
        const YamlNode *at;
        _cleanup_free_ char *p = NULL;

        if (!min || !max || json_integer_value(min) <= json_integer_value(max))
                return 0;
        at = yaml_node_get(n, "max");
        p = path_key(path, at ? "max" : "min");
        if (!p)
                return -ENOMEM;
        return spec_error(c, at ?: yaml_node_get(n, "min") ?: n, p, NULL,
                          "expected max >= min, found min %" JSON_INTEGER_FORMAT
                          " and max %" JSON_INTEGER_FORMAT,
                          json_integer_value(min), json_integer_value(max));
}

/* "//", "/./" and a trailing '/' are folded. -EINVAL for relative paths, "/" and ".."
 * components. */
static int target_normalize(const char *s, char **ret) {
        _cleanup_free_ char *norm = NULL;
        size_t j = 0;

        if (s[0] != '/')
                return -EINVAL;
        norm = malloc(strlen(s) + 1);
        if (!norm)
                return -ENOMEM;
        for (const char *p = s; *p;) {
                size_t len;

                while (*p == '/')
                        p++;
                len = strcspn(p, "/");
                if (len == 0)
                        break;
                if (len == 1 && p[0] == '.') {
                        p += len;
                        continue;
                }
                if (len == 2 && p[0] == '.' && p[1] == '.')
                        return -EINVAL;
                norm[j++] = '/';
                memcpy(norm + j, p, len);
                j += len;
                p += len;
        }
        if (j == 0)
                return -EINVAL;
        norm[j] = '\0';
        *ret = TAKE_PTR(norm);
        return 0;
}

/* Values of `key` in the items of the list `list_key` must be unique. Checked on the nodes so
 * that an invalid item elsewhere in the list does not hide a duplicate; values that are
 * themselves invalid are left to their own error. */
static int check_unique(SpecContext *c, const YamlNode *n, const char *path, const char *list_key,
                        const char *key, bool is_target, const char *what) {
        const YamlNode *l = yaml_node_get(n, list_key);
        _cleanup_strv_free_ char **values = NULL;
        int r;

        if (!l || l->type != YAML_TREE_SEQUENCE)
                return 0;
        values = calloc(l->n_items + 1, sizeof(char *));
        if (!values)
                return -ENOMEM;
        for (size_t i = 0; i < l->n_items; i++) {
                const YamlNode *v = yaml_node_get(l->items[i], key);

                if (!is_text(v))
                        continue;
                if (is_target) {
                        r = target_normalize(v->text, &values[i]);
                        if (r == -ENOMEM)
                                return r;
                } else if (!check_dns_label(v->text)) {
                        values[i] = strdup(v->text);
                        if (!values[i])
                                return -ENOMEM;
                }
        }
        for (size_t i = 0; i < l->n_items; i++)
                for (size_t j = 0; values[i] && j < i; j++) {
                        _cleanup_free_ char *p = NULL;

                        if (!values[j] || !streq(values[i], values[j]))
                                continue;
                        if (asprintf(&p, "%s.%s[%zu].%s", path, list_key, i, key) < 0)
                                return -ENOMEM;
                        r = spec_error(c, yaml_node_get(l->items[i], key), p, NULL,
                                       "duplicate %s '%s', also used by %s[%zu]", what, values[i],
                                       list_key, j);
                        if (r < 0)
                                return r;
                        break;
                }
        /* The array has holes: free every slot, not up to the first NULL. */
        for (size_t i = 0; i < l->n_items; i++)
                values[i] = mfree(values[i]);
        return 0;
}

static int post_health(SpecContext *c, const YamlNode *service, const char *path, json_t *svc) {
        json_t *health = json_object_get(svc, "health"), *endpoints, *check, *first;
        const YamlNode *hn = yaml_node_get(service, "health"), *cn = yaml_node_get(hn, "check");
        const char *type;
        int r;

        endpoints = json_object_get(svc, "endpoints");
        if (!health || !endpoints)
                return 0;
        first = json_array_get(endpoints, 0);
        check = json_object_get(health, "check");
        if (!check) {
                if (cn && !yaml_node_is_null(cn))
                        return 0; /* invalid: already reported */
                if (!first)
                        return 0; /* a running replica counts as healthy */
                return set_new(health, "check",
                               json_pack("{s:s,s:O}", "type", "tcp", "port",
                                         json_object_get(first, "target_port")));
        }

        type = json_string_value(json_object_get(check, "type"));
        if (streq_ptr(type, "tcp") && !json_object_get(check, "port")) {
                _cleanup_free_ char *p = NULL;

                if (first)
                        return set_new(check, "port",
                                       json_incref(json_object_get(first, "target_port")));
                p = strjoin(path, ".health.check.port");
                if (!p)
                        return -ENOMEM;
                return spec_error(c, cn, p, NULL,
                                  "missing required key 'port'; the service has no endpoints to "
                                  "take it from");
        }
        if (streq_ptr(type, "http")) {
                const char *url = json_string_value(json_object_get(check, "url"));
                bool found = false;
                size_t i;
                json_t *e;

                if (!url || url[0] != '/')
                        return 0;
                json_array_foreach (endpoints, i, e) {
                        const char *proto = json_string_value(json_object_get(e, "protocol"));

                        if (streq_ptr(proto, "http") || streq_ptr(proto, "https") ||
                            streq_ptr(proto, "websocket"))
                                found = true;
                }
                if (!found) {
                        _cleanup_free_ char *p = strjoin(path, ".health.check.url");

                        if (!p)
                                return -ENOMEM;
                        r = spec_error(c, yaml_node_get(cn, "url") ?: cn, p, NULL,
                                       "expected an http, https or websocket endpoint for the "
                                       "health check url '%s', found none",
                                       url);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static int post_service(SpecContext *c, const YamlNode *n, const char *path, json_t *svc) {
        const char *rtype = json_string_value(json_object_get(svc, "rtype"));
        const YamlNode *sched = yaml_node_get(n, "schedule");
        int r;

        if (rtype) {
                bool has = sched && !yaml_node_is_null(sched);
                _cleanup_free_ char *p = path_key(path, "schedule");

                if (!p)
                        return -ENOMEM;
                if (streq(rtype, "cron") && !has)
                        r = spec_error(c, n, p, NULL,
                                       "missing required key 'schedule'; rtype cron needs it");
                else if (!streq(rtype, "cron") && has)
                        r = spec_error(c, yaml_node_get_key(n, "schedule"), p, NULL,
                                       "key 'schedule' is only allowed with rtype cron, found "
                                       "rtype %s",
                                       rtype);
                else
                        r = 0;
                if (r < 0)
                        return r;
        }

        r = check_unique(c, n, path, "endpoints", "name", false, "endpoint name");
        if (r < 0)
                return r;
        r = check_unique(c, n, path, "storage", "target", true, "storage target");
        if (r < 0)
                return r;
        return post_health(c, n, path, svc);
}

/* Dependencies are checked on the nodes, so that a service that is invalid for another reason
 * still gets its dependencies checked, and nothing cascades from it. */
typedef struct DepGraph {
        SpecContext *c;
        const YamlNode *services;
        uint8_t *color;
        size_t *stack, *edge;
        size_t depth;
} DepGraph;

static const YamlNode *dep_target(const YamlNode *service, size_t i) {
        const YamlNode *deps = yaml_node_get(service, "depends"), *t;

        if (!deps || deps->type != YAML_TREE_SEQUENCE || i >= deps->n_items)
                return NULL;
        t = yaml_node_get(deps->items[i], "service");
        return is_text(t) ? t : NULL;
}

static size_t dep_count(const YamlNode *service) {
        const YamlNode *deps = yaml_node_get(service, "depends");

        return deps && deps->type == YAML_TREE_SEQUENCE ? deps->n_items : 0;
}

static ssize_t dep_index(DepGraph *g, const char *name) {
        for (size_t i = 0; i < g->services->n_pairs; i++)
                if (streq(g->services->pairs[i].key->text, name))
                        return (ssize_t) i;
        return -1;
}

static int dep_visit(DepGraph *g, size_t u) {
        const YamlNode *svc = g->services->pairs[u].value;
        int r;

        g->color[u] = 1;
        g->stack[g->depth++] = u;
        for (size_t i = 0; i < dep_count(svc); i++) {
                const YamlNode *t = dep_target(svc, i);
                ssize_t v = t ? dep_index(g, t->text) : -1;

                if (v < 0 || (size_t) v == u)
                        continue;
                g->edge[g->depth - 1] = i;
                if (g->color[v] == 1) {
                        _cleanup_free_ char *msg = NULL, *p = NULL;
                        const char *first = g->services->pairs[v].key->text;
                        size_t start = 0;

                        while (g->stack[start] != (size_t) v)
                                start++;
                        msg = strdup("dependency cycle:");
                        if (!msg)
                                return -ENOMEM;
                        for (size_t k = start; k < g->depth; k++)
                                if (strextend(&msg, k > start ? " -> " : " ",
                                              g->services->pairs[g->stack[k]].key->text) < 0)
                                        return -ENOMEM;
                        if (strextend(&msg, " -> ", first) < 0)
                                return -ENOMEM;
                        /* Reported where the cycle's first edge is written. */
                        if (asprintf(&p, "services.%s.depends[%zu].service", first,
                                     g->edge[start]) < 0)
                                return -ENOMEM;
                        r = spec_error(g->c,
                                       dep_target(g->services->pairs[v].value, g->edge[start]), p,
                                       NULL, "%s", msg);
                        if (r < 0)
                                return r;
                } else if (g->color[v] == 0) {
                        r = dep_visit(g, v);
                        if (r < 0)
                                return r;
                }
        }
        g->depth--;
        g->color[u] = 2;
        return 0;
}

static int post_top(SpecContext *c, const YamlNode *n, const char *path, json_t *top) {
        const YamlNode *sn = yaml_node_get(n, "services");
        _cleanup_free_ const char **all = NULL;
        _cleanup_free_ uint8_t *color = NULL;
        _cleanup_free_ size_t *stack = NULL, *edge = NULL;
        DepGraph g;
        int r;

        if (!sn || sn->type != YAML_TREE_MAPPING)
                return 0;

        all = calloc(sn->n_pairs + 1, sizeof(char *));
        if (!all)
                return -ENOMEM;
        for (size_t i = 0; i < sn->n_pairs; i++)
                all[i] = sn->pairs[i].key->text;

        for (size_t u = 0; u < sn->n_pairs; u++) {
                const YamlNode *svc = sn->pairs[u].value;
                const char *name = sn->pairs[u].key->text;

                for (size_t i = 0; i < dep_count(svc); i++) {
                        const YamlNode *t = dep_target(svc, i);
                        _cleanup_free_ char *p = NULL, *hint = NULL, *list = NULL;

                        if (!t)
                                continue;
                        if (asprintf(&p, "services.%s.depends[%zu].service", name, i) < 0)
                                return -ENOMEM;
                        if (streq(t->text, name))
                                r = spec_error(c, t, p, NULL,
                                               "expected another service, found '%s' itself",
                                               t->text);
                        else if (!yaml_node_get(sn, t->text)) {
                                list = join_names(all);
                                if (!list)
                                        return -ENOMEM;
                                hint = suggestion(t->text, all);
                                r = spec_error(c, t, p, hint,
                                               "expected one of the services %s, found '%s'", list,
                                               t->text);
                        } else
                                r = 0;
                        if (r < 0)
                                return r;
                }
        }

        color = calloc(sn->n_pairs + 1, 1);
        stack = calloc(sn->n_pairs + 1, sizeof(size_t));
        edge = calloc(sn->n_pairs + 1, sizeof(size_t));
        if (!color || !stack || !edge)
                return -ENOMEM;
        g = (DepGraph){ .c = c, .services = sn, .color = color, .stack = stack, .edge = edge };
        for (size_t i = 0; i < sn->n_pairs; i++)
                if (color[i] == 0) {
                        r = dep_visit(&g, i);
                        if (r < 0)
                                return r;
                }
        return 0;
}

/* ---- the schema --------------------------------------------------------------------------- */

#define END                                                                                        \
        { .name = NULL }

static const char *const pull_policies[] = { "always", "if_not_present", "never", NULL };
static const char *const rtypes[] = { "service", "job", "cron", NULL };
static const char *const protocols[] = { "http", "https", "tcp", "udp", "websocket", NULL };
static const char *const exposes[] = { "public", "internal", NULL };
static const char *const scale_modes[] = { "adaptive", "fixed", "manual", NULL };
static const char *const conditions[] = { "started", "healthy", "ready", NULL };
static const char *const on_timeouts[] = { "fail", "warn", "continue", NULL };
static const char *const check_types[] = { "tcp", "http", "command", NULL };
static const char *const init_failure_actions[] = { "fail", "restart", "backoff", NULL };
static const char *const panic_actions[] = { "restart", "shutdown", "isolate", NULL };
static const char *const storage_types[] = { "bind", "named", "anonymous", "tmpfs", "s3", NULL };
static const char *const tiers[] = { "local", "cached", "network", NULL };
static const char *const node_modes[] = { "shared", "dedicated", "exclusive", NULL };
static const char *const join_modes[] = { "open", "token", "closed", NULL };
static const char *const join_scopes[] = { "service", "global", NULL };
static const char *const versions[] = { "v1", NULL };
static const char *const init_actions[] = { "init.wait_tcp", "init.wait_http", "init.run",
                                            "init.s3_pull",  "init.s3_push",   NULL };
static const char *const on_failures[] = { "fail", "warn", "continue", NULL };

#define STR(n, ...)                                                                                \
        { .name = n, .kind = FIELD_STRING, __VA_ARGS__ }
#define INT(n, lo, hi, ...)                                                                        \
        { .name = n, .kind = FIELD_INTEGER, .min = lo, .max = hi, __VA_ARGS__ }
#define BOOL(n, d, ...)                                                                            \
        { .name = n, .kind = FIELD_BOOLEAN, .def = d, __VA_ARGS__ }
#define ENUM(n, v, ...)                                                                            \
        { .name = n, .kind = FIELD_ENUM, .values = v, __VA_ARGS__ }
#define DURATION(n, ...)                                                                           \
        { .name = n, .kind = FIELD_DURATION, __VA_ARGS__ }
#define OBJECT(n, s, ...)                                                                          \
        { .name = n, .kind = FIELD_OBJECT, .schema = &s, __VA_ARGS__ }
#define OBJECT_LIST(n, s, ...)                                                                     \
        { .name = n, .kind = FIELD_OBJECT_LIST, .schema = &s, .def = "[]", __VA_ARGS__ }
#define STRING_MAP(n, ...)                                                                         \
        { .name = n, .kind = FIELD_STRING_MAP, .def = "{}", __VA_ARGS__ }
#define CUSTOM(n, p, ...)                                                                          \
        { .name = n, .kind = FIELD_CUSTOM, .parse = p, __VA_ARGS__ }

static const Schema image_schema = {
        .fields =
                (const Field[]){
                        CUSTOM("name", parse_image_name, .flags = FIELD_REQUIRED),
                        ENUM("pull_policy", pull_policies, .def = "\"if_not_present\""),
                        END,
                },
};

static const Schema resources_schema = {
        .fields =
                (const Field[]){
                        { .name = "cpu", .kind = FIELD_CPU },
                        { .name = "memory", .kind = FIELD_SIZE },
                        INT("pids", 1, INT64_MAX),
                        END,
                },
};

static const Schema command_schema = {
        .fields =
                (const Field[]){
                        { .name = "entrypoint", .kind = FIELD_STRING_LIST },
                        { .name = "args", .kind = FIELD_STRING_LIST },
                        STR("workdir", .check = check_absolute_path),
                        END,
                },
};

static const Schema endpoint_schema = {
        .fields =
                (const Field[]){
                        STR("name", .flags = FIELD_REQUIRED, .check = check_dns_label),
                        ENUM("protocol", protocols, .flags = FIELD_REQUIRED),
                        INT("port", 1, 65535, .flags = FIELD_REQUIRED),
                        INT("target_port", 1, 65535),
                        STR("path", .check = check_route_path),
                        STR("host", .check = check_host_pattern),
                        ENUM("expose", exposes, .def = "\"internal\""),
                        END,
                },
        .post = post_endpoint,
};

static const Schema targets_schema = {
        .fields =
                (const Field[]){
                        { .name = "cpu", .kind = FIELD_PERCENT },
                        { .name = "memory", .kind = FIELD_PERCENT },
                        INT("rps", 1, INT64_MAX),
                        END,
                },
};

#define ADAPTIVE (1U << 0)
#define FIXED (1U << 1)
#define MANUAL (1U << 2)

static const Schema scale_schema = {
        .fields =
                (const Field[]){
                        ENUM("mode", scale_modes),
                        INT("min", 0, 1000, .tags = ADAPTIVE, .def = "1"),
                        INT("max", 1, 1000, .tags = ADAPTIVE, .def = "10"),
                        DURATION("cooldown", .tags = ADAPTIVE, .def = "30000"),
                        OBJECT("targets", targets_schema, .tags = ADAPTIVE),
                        INT("replicas", 0, 1000, .tags = FIXED | MANUAL, .def = "1"),
                        END,
                },
        .tag_key = "mode",
        .tag_values = scale_modes,
        .tag_default = "adaptive",
        .post = post_scale,
};

static const Schema depends_schema = {
        .fields =
                (const Field[]){
                        STR("service", .flags = FIELD_REQUIRED),
                        ENUM("condition", conditions, .def = "\"healthy\""),
                        DURATION("timeout", .def = "300000"),
                        ENUM("on_timeout", on_timeouts, .def = "\"fail\""),
                        END,
                },
};

#define TCP (1U << 0)
#define HTTP (1U << 1)
#define COMMAND (1U << 2)

static const Schema check_schema = {
        .fields =
                (const Field[]){
                        ENUM("type", check_types),
                        INT("port", 1, 65535, .tags = TCP),
                        STR("url", .tags = HTTP, .flags = FIELD_REQUIRED,
                            .check = check_health_url),
                        INT("expect_status", 100, 599, .tags = HTTP, .def = "200"),
                        STR("command", .tags = COMMAND, .flags = FIELD_REQUIRED,
                            .check = check_non_empty),
                        END,
                },
        .tag_key = "type",
        .tag_values = check_types,
};

static const Schema health_schema = {
        .fields =
                (const Field[]){
                        DURATION("start_grace", .def = "0"),
                        DURATION("interval", .def = "10000"),
                        DURATION("timeout", .def = "5000"),
                        INT("retries", 0, 100, .def = "3"),
                        OBJECT("check", check_schema),
                        END,
                },
};

#define STEP_SHORT_FIELDS                                                                          \
        ENUM("action", init_actions, .flags = FIELD_REQUIRED),                                     \
                STR("id", .check = check_non_empty), INT("retry", 0, 100, .def = "0"),             \
                ENUM("on_failure", on_failures, .def = "\"fail\"")
#define WAIT_TCP_PARAMS                                                                            \
        STR("host", .flags = FIELD_REQUIRED, .check = check_non_empty),                            \
                INT("port", 1, 65535, .flags = FIELD_REQUIRED),                                    \
                DURATION("timeout", .def = "30000")
#define WAIT_HTTP_PARAMS                                                                           \
        STR("url", .flags = FIELD_REQUIRED, .check = check_http_url),                              \
                INT("expect_status", 100, 599), DURATION("timeout", .def = "30000")
#define RUN_PARAMS                                                                                 \
        STR("command", .flags = FIELD_REQUIRED, .check = check_non_empty),                         \
                DURATION("timeout", .def = "300000")
#define S3_PULL_PARAMS                                                                             \
        STR("bucket", .flags = FIELD_REQUIRED, .check = check_non_empty),                          \
                STR("key", .flags = FIELD_REQUIRED, .check = check_non_empty),                     \
                STR("destination", .flags = FIELD_REQUIRED, .check = check_absolute_path),         \
                STR("endpoint", .check = check_http_url), STR("region", .check = check_non_empty)
#define S3_PUSH_PARAMS                                                                             \
        STR("source", .flags = FIELD_REQUIRED, .check = check_absolute_path),                      \
                STR("bucket", .flags = FIELD_REQUIRED, .check = check_non_empty),                  \
                STR("key", .flags = FIELD_REQUIRED, .check = check_non_empty),                     \
                STR("endpoint", .check = check_http_url), STR("region", .check = check_non_empty)

typedef struct InitAction {
        const char *name;
        Schema with; /* the parameters */
        Schema short_form; /* `- action: NAME` + step keys + parameters */
} InitAction;

static const InitAction init_action_table[] = {
        { "init.wait_tcp",
          { .fields = (const Field[]){ WAIT_TCP_PARAMS, END } },
          { .fields = (const Field[]){ STEP_SHORT_FIELDS, WAIT_TCP_PARAMS, END } } },
        { "init.wait_http",
          { .fields = (const Field[]){ WAIT_HTTP_PARAMS, END } },
          { .fields = (const Field[]){ STEP_SHORT_FIELDS, WAIT_HTTP_PARAMS, END } } },
        { "init.run",
          { .fields = (const Field[]){ RUN_PARAMS, END } },
          { .fields = (const Field[]){ STEP_SHORT_FIELDS, RUN_PARAMS, END } } },
        /* Without a timeout parameter, a shorthand `timeout` is the step's. */
        { "init.s3_pull",
          { .fields = (const Field[]){ S3_PULL_PARAMS, END } },
          { .fields = (const Field[]){ STEP_SHORT_FIELDS, DURATION("timeout"), S3_PULL_PARAMS,
                                       END } } },
        { "init.s3_push",
          { .fields = (const Field[]){ S3_PUSH_PARAMS, END } },
          { .fields = (const Field[]){ STEP_SHORT_FIELDS, DURATION("timeout"), S3_PUSH_PARAMS,
                                       END } } },
};

static const InitAction *init_action_find(const char *name) {
        for (size_t i = 0; name && i < ELEMENTSOF(init_action_table); i++)
                if (streq(init_action_table[i].name, name))
                        return init_action_table + i;
        return NULL;
}

const Schema *spec_init_action_schema(const char *action) {
        const InitAction *a = init_action_find(action);

        return a ? &a->with : NULL;
}

static const Schema step_schema = {
        .fields =
                (const Field[]){
                        STR("id", .check = check_non_empty),
                        ENUM("uses", init_actions, .flags = FIELD_REQUIRED),
                        CUSTOM("with", parse_with, .flags = FIELD_FILL,
                               .dynamic_schema = step_with_schema),
                        DURATION("timeout"),
                        INT("retry", 0, 100, .def = "0"),
                        ENUM("on_failure", on_failures, .def = "\"fail\""),
                        END,
                },
};

static const Schema init_schema = {
        .fields =
                (const Field[]){
                        CUSTOM("steps", parse_steps, .flags = FIELD_REQUIRED,
                               .schema = &step_schema),
                        END,
                },
};

static const Schema on_init_failure_schema = {
        .fields =
                (const Field[]){
                        ENUM("action", init_failure_actions, .def = "\"fail\""),
                        END,
                },
};

static const Schema on_panic_schema = {
        .fields =
                (const Field[]){
                        ENUM("action", panic_actions, .def = "\"restart\""),
                        END,
                },
};

static const Schema errors_schema = {
        .fields =
                (const Field[]){
                        OBJECT("on_init_failure", on_init_failure_schema, .flags = FIELD_FILL),
                        OBJECT("on_panic", on_panic_schema, .flags = FIELD_FILL),
                        END,
                },
};

static const Schema credentials_schema = {
        .fields =
                (const Field[]){
                        STR("access_key", .flags = FIELD_REQUIRED, .check = check_env_value),
                        STR("secret_key", .flags = FIELD_REQUIRED, .check = check_env_value),
                        END,
                },
};

#define BIND (1U << 0)
#define NAMED (1U << 1)
#define ANONYMOUS (1U << 2)
#define TMPFS (1U << 3)
#define S3 (1U << 4)

static const Schema storage_schema = {
        .fields =
                (const Field[]){
                        ENUM("type", storage_types),
                        STR("source", .tags = BIND, .flags = FIELD_REQUIRED,
                            .check = check_absolute_path),
                        STR("name", .tags = NAMED, .flags = FIELD_REQUIRED,
                            .check = check_dns_label),
                        STR("bucket", .tags = S3, .flags = FIELD_REQUIRED,
                            .check = check_non_empty),
                        STR("prefix", .tags = S3),
                        CUSTOM("target", parse_target, .flags = FIELD_REQUIRED),
                        BOOL("readonly", "false", .tags = BIND | NAMED | S3),
                        ENUM("tier", tiers, .tags = NAMED | ANONYMOUS, .def = "\"local\""),
                        { .name = "size", .kind = FIELD_SIZE, .tags = NAMED | TMPFS },
                        { .name = "mode", .kind = FIELD_MODE, .tags = TMPFS },
                        STR("endpoint", .tags = S3, .check = check_http_url),
                        STR("region", .tags = S3, .check = check_non_empty),
                        OBJECT("credentials", credentials_schema, .tags = S3),
                        END,
                },
        .tag_key = "type",
        .tag_values = storage_types,
};

static const Schema device_schema = {
        .fields =
                (const Field[]){
                        STR("path", .flags = FIELD_REQUIRED, .check = check_absolute_path),
                        BOOL("read", "true"),
                        BOOL("write", "true"),
                        BOOL("mknod", "false"),
                        END,
                },
};

static const Schema node_selector_schema = {
        .fields =
                (const Field[]){
                        STRING_MAP("labels"),
                        STRING_MAP("prefer_labels"),
                        END,
                },
};

static const Schema overlay_schema = {
        .fields =
                (const Field[]){
                        BOOL("enabled", "true"),
                        BOOL("encrypted", "true"),
                        BOOL("isolated", "false"),
                        END,
                },
};

static const Schema overlays_schema = {
        .fields =
                (const Field[]){
                        OBJECT("service", overlay_schema, .flags = FIELD_FILL),
                        OBJECT("global", overlay_schema, .flags = FIELD_FILL),
                        END,
                },
};

static const Schema join_schema = {
        .fields =
                (const Field[]){
                        ENUM("mode", join_modes, .def = "\"token\""),
                        ENUM("scope", join_scopes, .def = "\"service\""),
                        END,
                },
};

static const Schema network_schema = {
        .fields =
                (const Field[]){
                        OBJECT("overlays", overlays_schema, .flags = FIELD_FILL),
                        OBJECT("join", join_schema, .flags = FIELD_FILL),
                        END,
                },
};

static const Schema service_schema = {
        .fields =
                (const Field[]){
                        ENUM("rtype", rtypes, .def = "\"service\""),
                        CUSTOM("schedule", parse_schedule),
                        OBJECT("image", image_schema, .flags = FIELD_REQUIRED),
                        OBJECT("resources", resources_schema),
                        STRING_MAP("env", .key_check = check_env_name, .check = check_env_value),
                        OBJECT("command", command_schema),
                        STR("user", .check = check_non_empty),
                        STR("hostname", .check = check_hostname),
                        OBJECT_LIST("endpoints", endpoint_schema),
                        OBJECT("scale", scale_schema, .flags = FIELD_FILL),
                        OBJECT_LIST("depends", depends_schema),
                        OBJECT("health", health_schema, .flags = FIELD_FILL),
                        CUSTOM("init", parse_init, .schema = &init_schema),
                        OBJECT("errors", errors_schema, .flags = FIELD_FILL),
                        OBJECT_LIST("storage", storage_schema),
                        OBJECT_LIST("devices", device_schema),
                        CUSTOM("capabilities", parse_capabilities, .def = "[]"),
                        CUSTOM("cap_drop", parse_capabilities, .def = "[]"),
                        BOOL("privileged", "false"),
                        BOOL("read_only_root_fs", "false"),
                        STRING_MAP("sysctls", .key_check = check_sysctl_name),
                        STRING_MAP("labels"),
                        CUSTOM("stop_signal", parse_stop_signal, .def = "\"SIGTERM\""),
                        DURATION("stop_grace_period", .def = "30000"),
                        ENUM("node_mode", node_modes, .def = "\"shared\""),
                        OBJECT("node_selector", node_selector_schema),
                        OBJECT("network", network_schema, .flags = FIELD_FILL),
                        END,
                },
        .post = post_service,
};

const Schema spec_schema = {
        .fields =
                (const Field[]){
                        ENUM("version", versions, .flags = FIELD_REQUIRED),
                        STR("deployment", .flags = FIELD_REQUIRED, .check = check_deployment_name),
                        CUSTOM("services", parse_services, .flags = FIELD_REQUIRED | FIELD_MAP_OF,
                               .schema = &service_schema),
                        END,
                },
        .post = post_top,
};

/* ---- services and init -------------------------------------------------------------------- */

static int parse_services(SpecContext *c, const YamlNode *n, const YamlNode *where,
                          const char *path, json_t **ret) {
        _cleanup_(json_decrefp) json_t *obj = NULL;
        bool valid = true;
        int r;

        if (!n || n->type != YAML_TREE_MAPPING)
                return expected(c, n, path, NULL, "a mapping of service names to services");
        if (n->n_pairs == 0)
                return spec_error(c, n, path, NULL,
                                  "expected at least one service, found an empty mapping");
        obj = json_object();
        if (!obj)
                return -ENOMEM;
        for (size_t i = 0; i < n->n_pairs; i++) {
                const YamlNode *k = n->pairs[i].key, *v = n->pairs[i].value;
                _cleanup_free_ char *p = path_key(path, k->text);
                json_t *svc = NULL;

                if (!p)
                        return -ENOMEM;
                if (!dns_label_is_valid(k->text)) {
                        r = expected_value(c, k, p, NULL,
                                           "a service name that is a DNS label (" DNS_LABEL_RULE
                                           ")");
                        if (r < 0)
                                return r;
                        valid = false;
                }
                if (!v || v->type != YAML_TREE_MAPPING) {
                        r = expected(c, v, p, NULL, "a mapping");
                        if (r < 0)
                                return r;
                        valid = false;
                        continue;
                }
                r = parse_object(c, &service_schema, v, v, p, &svc);
                if (r < 0)
                        return r;
                if (r == 0) {
                        valid = false;
                        continue;
                }
                r = set_new(obj, k->text, svc);
                if (r < 0)
                        return r;
        }
        if (!valid)
                return 0;
        *ret = TAKE_PTR(obj);
        return 1;
}

static const Schema *step_with_schema(const json_t *step) {
        return spec_init_action_schema(json_string_value(json_object_get(step, "uses")));
}

static int parse_with(SpecContext *c, const YamlNode *n, const YamlNode *where, const char *path,
                      json_t **ret) {
        if (!c->init_action) {
                /* The action is unknown or missing, which is reported already. */
                if (n && n->type != YAML_TREE_MAPPING)
                        return expected(c, n, path, NULL, "a mapping");
                return 0;
        }
        return parse_object(c, c->init_action, n, where, path, ret);
}

static int parse_step(SpecContext *c, const YamlNode *n, const char *path, size_t index,
                      json_t **ret) {
        _cleanup_(json_decrefp) json_t *obj = NULL, *step = NULL, *with = NULL;
        const YamlNode *action_node = yaml_node_get(n, "action"), *uses;
        const InitAction *action;
        const char *key;
        json_t *v;
        int r;

        if (!n || n->type != YAML_TREE_MAPPING)
                return expected(c, n, path, NULL, "a mapping");

        if (!action_node) {
                uses = yaml_node_get(n, "uses");
                action = is_text(uses) ? init_action_find(uses->text) : NULL;
                c->init_action = action ? &action->with : NULL;
                r = parse_object(c, &step_schema, n, n, path, &obj);
                c->init_action = NULL;
                if (r <= 0)
                        return r;
                step = TAKE_PTR(obj);
        } else {
                _cleanup_free_ char *p = path_key(path, "action");

                if (!p)
                        return -ENOMEM;
                action = is_text(action_node) ? init_action_find(action_node->text) : NULL;
                if (!action) {
                        /* Without a known action the other keys cannot be checked. */
                        r = parse_enum(c, init_actions, action_node, p, &v);
                        if (r > 0)
                                json_decref(v);
                        return r < 0 ? r : 0;
                }
                r = parse_object(c, &action->short_form, n, n, path, &obj);
                if (r <= 0)
                        return r;
                step = json_object();
                with = json_object();
                if (!step || !with)
                        return -ENOMEM;
                json_object_foreach (obj, key, v) {
                        json_t *dest = schema_find(&action->with, key) ? with : step;

                        if (streq(key, "action"))
                                r = set_new(step, "uses", json_incref(v));
                        else
                                r = set_new(dest, key, json_incref(v));
                        if (r < 0)
                                return r;
                }
                r = set_new(step, "with", TAKE_PTR(with));
                if (r < 0)
                        return r;
        }

        if (!json_object_get(step, "id")) {
                _cleanup_free_ char *id = NULL;

                if (asprintf(&id, "%s-%zu", json_string_value(json_object_get(step, "uses")),
                             index) < 0)
                        return -ENOMEM;
                r = set_new(step, "id", json_string(id));
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(step);
        return 1;
}

static int parse_steps(SpecContext *c, const YamlNode *n, const YamlNode *where, const char *path,
                       json_t **ret) {
        _cleanup_(json_decrefp) json_t *arr = NULL;
        bool valid = true;
        json_t *a, *b;
        size_t i;
        int r;

        if (!n || n->type != YAML_TREE_SEQUENCE)
                return expected(c, n, path, NULL, "a list of init steps");
        arr = json_array();
        if (!arr)
                return -ENOMEM;
        for (i = 0; i < n->n_items; i++) {
                _cleanup_free_ char *p = path_index(path, i);
                json_t *step = NULL;

                if (!p)
                        return -ENOMEM;
                r = parse_step(c, n->items[i], p, i, &step);
                if (r < 0)
                        return r;
                if (r == 0) {
                        valid = false;
                        continue;
                }
                if (json_array_append_new(arr, step) < 0)
                        return -ENOMEM;
        }
        if (!valid)
                return 0;

        json_array_foreach (arr, i, a) {
                const char *id = json_string_value(json_object_get(a, "id"));

                for (size_t j = 0; j < i; j++) {
                        _cleanup_free_ char *p = NULL;
                        const YamlNode *item = n->items[i];

                        b = json_array_get(arr, j);
                        if (!streq(json_string_value(json_object_get(b, "id")), id))
                                continue;
                        if (asprintf(&p, "%s[%zu].id", path, i) < 0)
                                return -ENOMEM;
                        r = spec_error(c, yaml_node_get(item, "id") ?: item, p, NULL,
                                       "duplicate init step id '%s', also used by step %zu", id, j);
                        if (r < 0)
                                return r;
                        valid = false;
                        break;
                }
        }
        if (!valid)
                return 0;
        *ret = TAKE_PTR(arr);
        return 1;
}

static int parse_init(SpecContext *c, const YamlNode *n, const YamlNode *where, const char *path,
                      json_t **ret) {
        _cleanup_(json_decrefp) json_t *steps = NULL;
        int r;

        if (n && n->type == YAML_TREE_MAPPING)
                return parse_object(c, &init_schema, n, n, path, ret);
        if (!n || n->type != YAML_TREE_SEQUENCE)
                return expected(c, n, path, NULL, "a list of init steps or a mapping with 'steps'");
        r = parse_steps(c, n, where, path, &steps);
        if (r <= 0)
                return r;
        *ret = json_pack("{s:O}", "steps", steps);
        return *ret ? 1 : -ENOMEM;
}

int spec_validate(SpecContext *c, const YamlNode *root, json_t **ret) {
        assert(c);
        assert(root);

        c->root = root;
        c->canonical = root->type == YAML_TREE_MAPPING && root->flow;
        if (yaml_node_is_null(root))
                return spec_error(c, NULL, "", NULL, "empty document");
        return parse_object(c, &spec_schema, root, root, "", ret);
}
