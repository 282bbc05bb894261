/* SPDX-License-Identifier: Apache-2.0 */
/* dockerfile.c: the Dockerfile parser: directives, continuations, heredocs, instructions. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>

#include "dockerfile-internal.h"
#include "fileio.h"
#include "log.h"
#include "parse-util.h"
#include "spec-internal.h"
#include "string-util.h"

#define DOCKERFILE_MAX_SIZE (16U * 1024U * 1024U)

static bool str_in_set(const char *s, const char *const *set) {
        for (; *set; set++)
                if (streq(s, *set))
                        return true;
        return false;
}
#define STR_IN_SET_BOOL(s, ...) str_in_set((s), (const char *const[]){ __VA_ARGS__, NULL })

/* A logical line: physical lines joined at continuations, comment lines inside dropped. Every
 * byte remembers where it came from, so errors point into the file. */
typedef struct Logical {
        char *text;
        unsigned *line, *col;
        size_t len, cap;
        unsigned first_line, last_line;
} Logical;

typedef struct Parser {
        char *buf; /* the file, one NUL-terminated string per physical line */
        char **lines;
        size_t n_lines;
        size_t next; /* index of the next physical line to read */
        char escape;
        ZlDiagList diags;
        json_t *root, *args, *stages;
        json_t *stage; /* current stage or NULL before the first FROM */
        bool seen_from; /* even a FROM with errors ends the global part */
} Parser;

typedef enum FlagKind {
        FLAG_STRING,
        FLAG_BOOL,
        FLAG_MOUNT, /* repeatable, comma-separated key=value */
        FLAG_DURATION,
        FLAG_UINT,
} FlagKind;

typedef struct FlagDef {
        const char *name;
        FlagKind kind;
        const char *key; /* JSON key; NULL: the name */
        const char *const *values; /* allowed values, literal ones checked at parse */
} FlagDef;

typedef struct Instr Instr;
typedef int (*InstrParse)(Parser *p, const Instr *in, const Logical *lg, size_t pos, json_t *o);

struct Instr {
        const char *name;
        InstrParse parse;
        const FlagDef *flags;
        bool top_level_flags; /* HEALTHCHECK: flags are fields of the instruction */
};

int df_diag(ZlDiagList *l, ZlDiagSeverity severity, unsigned line, unsigned column,
            const char *path, const char *hint, char *message) {
        return spec_diag_append(l, severity, line, column, path, hint, message);
}

static void logical_done(Logical *lg) {
        lg->text = mfree(lg->text);
        lg->line = mfree(lg->line);
        lg->col = mfree(lg->col);
        lg->len = lg->cap = 0;
}

static int logical_append(Logical *lg, const char *s, size_t n, unsigned line, unsigned col) {
        if (lg->len + n + 1 > lg->cap) {
                size_t cap = MAX(lg->cap * 2, lg->len + n + 64);
                char *t = realloc(lg->text, cap);
                if (!t)
                        return -ENOMEM;
                lg->text = t;
                unsigned *l = reallocarray(lg->line, cap, sizeof(unsigned));
                if (!l)
                        return -ENOMEM;
                lg->line = l;
                unsigned *c = reallocarray(lg->col, cap, sizeof(unsigned));
                if (!c)
                        return -ENOMEM;
                lg->col = c;
                lg->cap = cap;
        }
        for (size_t i = 0; i < n; i++) {
                lg->text[lg->len] = s[i];
                lg->line[lg->len] = line;
                lg->col[lg->len] = col + (unsigned) i;
                lg->len++;
        }
        lg->text[lg->len] = '\0';
        return 0;
}

static void logical_pos(const Logical *lg, size_t pos, unsigned *line, unsigned *col) {
        if (lg->len == 0) {
                *line = lg->first_line;
                *col = 1;
        } else if (pos >= lg->len) {
                *line = lg->line[lg->len - 1];
                *col = lg->col[lg->len - 1] + 1;
        } else {
                *line = lg->line[pos];
                *col = lg->col[pos];
        }
}

_printf_(6, 7) static int parser_error(Parser *p, const Logical *lg, size_t pos, const char *cmd,
                                       const char *hint, const char *format, ...) {
        unsigned line = 0, col = 0;
        char *m = NULL;
        va_list ap;
        int r;

        if (lg)
                logical_pos(lg, pos, &line, &col);
        va_start(ap, format);
        if (vasprintf(&m, format, ap) < 0)
                m = NULL;
        va_end(ap);
        r = df_diag(&p->diags, ZL_DIAG_ERROR, line, col, cmd, hint, m);
        return r < 0 ? r : 0;
}

static bool is_blank(char c) {
        return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

static size_t skip_blank(const char *s, size_t i) {
        while (s[i] && is_blank(s[i]))
                i++;
        return i;
}

/* A word ends at whitespace outside quotes; an escape keeps the next character in the word. */
static size_t word_end(const char *s, size_t i, char escape) {
        char quote = 0;

        for (; s[i]; i++) {
                if (quote) {
                        if (s[i] == escape && quote == '"' && s[i + 1])
                                i++;
                        else if (s[i] == quote)
                                quote = 0;
                } else if (s[i] == escape) {
                        if (s[i + 1])
                                i++;
                } else if (s[i] == '"' || s[i] == '\'')
                        quote = s[i];
                else if (is_blank(s[i]))
                        break;
        }
        return i;
}

/* Quotes removed, with what they meant kept as escapes, so that expanding the result later
 * gives what Docker gives for the quoted text: single quotes make '$' and the escape literal. */
static char *unquote_to_word(const char *s, size_t n, char escape) {
        _cleanup_(df_buf_done) DfBuf b = {};
        char quote = 0;

        for (size_t i = 0; i < n; i++) {
                char c = s[i];

                if (quote == '\'') {
                        if (c == '\'')
                                quote = 0;
                        else {
                                if (c == '$' || c == '"' || c == escape)
                                        df_buf_putc(&b, escape);
                                df_buf_putc(&b, c);
                        }
                } else if (quote == '"') {
                        if (c == '"')
                                quote = 0;
                        else if (c == escape && i + 1 < n) {
                                char d = s[i + 1];
                                if (d == '"' || d == '$' || d == escape) {
                                        df_buf_putc(&b, escape);
                                        df_buf_putc(&b, d);
                                        i++;
                                } else {
                                        df_buf_putc(&b, escape);
                                        df_buf_putc(&b, escape);
                                }
                        } else {
                                if (c == '\'')
                                        df_buf_putc(&b, escape);
                                df_buf_putc(&b, c);
                        }
                } else if (c == escape && i + 1 < n) {
                        df_buf_putc(&b, c);
                        df_buf_putc(&b, s[++i]);
                } else if (c == '"' || c == '\'')
                        quote = c;
                else
                        df_buf_putc(&b, c);
        }
        return df_buf_steal(&b);
}

/* Strips one pair of matching outer quotes (flag values). */
static char *strip_quotes(const char *s, size_t n) {
        if (n >= 2 && (s[0] == '"' || s[0] == '\'') && s[n - 1] == s[0])
                return strndup(s + 1, n - 2);
        return strndup(s, n);
}

static int json_set_new_checked(json_t *o, const char *key, json_t *v) {
        if (!v)
                return -ENOMEM;
        return json_object_set_new(o, key, v) < 0 ? -ENOMEM : 0;
}

static int json_append_checked(json_t *a, json_t *v) {
        if (!v)
                return -ENOMEM;
        return json_array_append_new(a, v) < 0 ? -ENOMEM : 0;
}

static json_t *json_stringn_or_null(const char *s, size_t n) {
        return json_stringn_nocheck(s, n);
}

/* Words of text[pos...] split at whitespace outside quotes, quotes kept. */
typedef struct Word {
        size_t start, len;
} Word;

static int split_words(const char *s, size_t pos, char escape, Word **ret, size_t *ret_n) {
        _cleanup_free_ Word *w = NULL;
        size_t n = 0;

        for (pos = skip_blank(s, pos); s[pos]; pos = skip_blank(s, pos)) {
                size_t end = word_end(s, pos, escape);
                Word *t = reallocarray(w, n + 1, sizeof(Word));
                if (!t)
                        return -ENOMEM;
                w = t;
                w[n++] = (Word){ .start = pos, .len = end - pos };
                pos = end;
        }
        *ret = TAKE_PTR(w);
        *ret_n = n;
        return 0;
}

/* Heredoc markers: <<NAME, <<-NAME, <<"NAME", <<'NAME'. */
static bool heredoc_marker(const char *w, size_t n, bool *ret_chomp, bool *ret_expand,
                           char **ret_name) {
        bool chomp = false, expand = true;
        size_t i = 2;

        if (n < 3 || w[0] != '<' || w[1] != '<')
                return false;
        if (w[i] == '-') {
                chomp = true;
                i++;
        }
        /* Quoting any part of the name ("EOF", 'EOF', E"OF") turns expansion off. */
        _cleanup_(df_buf_done) DfBuf name = {};
        char quote = 0;
        for (; i < n; i++) {
                if (quote && w[i] == quote)
                        quote = 0;
                else if (!quote && (w[i] == '"' || w[i] == '\'')) {
                        quote = w[i];
                        expand = false;
                } else if (w[i] == '<')
                        return false;
                else
                        df_buf_putc(&name, w[i]);
        }
        if (name.oom) {
                *ret_name = NULL; /* the caller reports -ENOMEM */
                *ret_chomp = *ret_expand = false;
                return true;
        }
        if (quote || name.n == 0)
                return false;
        *ret_name = df_buf_steal(&name);
        *ret_chomp = chomp;
        *ret_expand = expand;
        return true;
}

static const char *const network_values[] = { "default", "none", "host", NULL };
static const char *const security_values[] = { "insecure", "sandbox", NULL };

static const FlagDef from_flags[] = {
        { "platform", FLAG_STRING },
        {},
};
static const FlagDef run_flags[] = {
        { "mount", FLAG_MOUNT },
        { "network", FLAG_STRING, NULL, network_values },
        { "security", FLAG_STRING, NULL, security_values },
        {},
};
static const FlagDef copy_flags[] = {
        { "from", FLAG_STRING },
        { "chown", FLAG_STRING },
        { "chmod", FLAG_STRING },
        { "link", FLAG_BOOL },
        {},
};
static const FlagDef add_flags[] = {
        { "chown", FLAG_STRING },
        { "chmod", FLAG_STRING },
        { "link", FLAG_BOOL },
        { "checksum", FLAG_STRING },
        { "keep-git-dir", FLAG_BOOL, "keep_git_dir" },
        {},
};
static const FlagDef healthcheck_flags[] = {
        { "interval", FLAG_DURATION },
        { "timeout", FLAG_DURATION },
        { "start-period", FLAG_DURATION, "start_period" },
        { "start-interval", FLAG_DURATION, "start_interval" },
        { "retries", FLAG_UINT },
        {},
};

/* Go's time.ParseDuration syntax: "0", or [-+]? (number unit)+ with units ns us µs ms s m h.
 * Returns 0 and the value in nanoseconds (saturated), -EINVAL if malformed. */
static int parse_go_duration(const char *s, double *ret_ns) {
        double total = 0;
        bool neg = false;

        if (*s == '-' || *s == '+')
                neg = *s++ == '-';
        if (streq(s, "0")) {
                *ret_ns = 0;
                return 0;
        }
        if (!*s)
                return -EINVAL;
        while (*s) {
                static const struct {
                        const char *unit;
                        double ns;
                } units[] = {
                        { "ns", 1 },   { "us", 1e3 }, { "\xc2\xb5s", 1e3 }, { "\xce\xbcs", 1e3 },
                        { "ms", 1e6 }, { "s", 1e9 },  { "m", 60e9 },        { "h", 3600e9 },
                };
                double v = 0, frac = 0.1;
                bool digits = false;
                size_t best = 0;
                int unit = -1;

                for (; isdigit((unsigned char) *s); s++, digits = true)
                        v = v * 10 + (*s - '0');
                if (*s == '.') {
                        s++;
                        for (; isdigit((unsigned char) *s); s++, digits = true, frac /= 10)
                                v += (*s - '0') * frac;
                }
                if (!digits)
                        return -EINVAL;
                for (size_t i = 0; i < ELEMENTSOF(units); i++) {
                        size_t l = strlen(units[i].unit);
                        if (strneq(s, units[i].unit, l) && l > best) {
                                best = l;
                                unit = (int) i;
                        }
                }
                if (unit < 0)
                        return -EINVAL;
                total += v * units[unit].ns;
                s += best;
        }
        *ret_ns = neg ? -total : total;
        return 0;
}

/* RUN --mount=type=cache,target=/x,... */
static int parse_mount(Parser *p, const Logical *lg, size_t pos, const char *value, size_t n_ssh,
                       json_t **ret) {
        static const struct {
                const char *type;
                const char *keys; /* allowed keys, space separated */
        } types[] = {
                { "bind", " target source from readonly " },
                { "cache", " target source from id readonly sharing mode uid gid " },
                { "tmpfs", " target size " },
                { "secret", " target id required mode uid gid " },
                { "ssh", " target id required mode uid gid " },
        };
        _cleanup_(json_decrefp) json_t *m = json_object();
        const char *type = "bind";
        int type_index = 0;
        size_t i = 0;
        int r;

        if (!m)
                return -ENOMEM;

        while (value[i]) {
                _cleanup_free_ char *field = NULL, *key = NULL, *val = NULL;
                _cleanup_(df_buf_done) DfBuf b = {};
                const char *canon, *eq;
                char quote = 0;

                for (; value[i] && (quote || value[i] != ','); i++) {
                        if (quote && value[i] == quote)
                                quote = 0;
                        else if (!quote && (value[i] == '"' || value[i] == '\''))
                                quote = value[i];
                        else
                                df_buf_putc(&b, value[i]);
                }
                if (value[i] == ',')
                        i++;
                field = df_buf_steal(&b);
                if (!field)
                        return -ENOMEM;
                if (isempty(field))
                        continue;
                eq = strchr(field, '=');
                key = eq ? strndup(field, eq - field) : strdup(field);
                if (!key)
                        return -ENOMEM;
                ascii_strlower(key);
                if (eq) {
                        val = strdup(eq + 1);
                        if (!val)
                                return -ENOMEM;
                }

                if (streq(key, "type")) {
                        bool found = false;
                        for (size_t t = 0; t < ELEMENTSOF(types); t++)
                                if (val && streq(val, types[t].type)) {
                                        type = types[t].type;
                                        type_index = (int) t;
                                        found = true;
                                }
                        if (!found) {
                                r = parser_error(p, lg, pos, "RUN", NULL,
                                                 "unknown mount type '%s': expected bind, cache, "
                                                 "tmpfs, secret or ssh",
                                                 strempty(val));
                                return r < 0 ? r : -EINVAL;
                        }
                        continue;
                }

                canon = streq(key, "dst") || streq(key, "destination") ? "target"
                        : streq(key, "src")                            ? "source"
                        : streq(key, "ro")                             ? "readonly"
                        : streq(key, "rw") || streq(key, "readwrite")  ? "readwrite"
                                                                       : key;
                if (STR_IN_SET_BOOL(canon, "readonly", "readwrite", "required")) {
                        bool b_val;
                        if (!val || streq(val, "true"))
                                b_val = true;
                        else if (streq(val, "false"))
                                b_val = false;
                        else {
                                r = parser_error(p, lg, pos, "RUN", NULL,
                                                 "mount option '%s' must be true or false, not "
                                                 "'%s'",
                                                 key, val);
                                return r < 0 ? r : -EINVAL;
                        }
                        if (streq(canon, "readwrite")) {
                                canon = "readonly";
                                b_val = !b_val;
                        }
                        r = json_set_new_checked(m, canon, json_boolean(b_val));
                } else {
                        static const char *const known[] = { "target",  "source", "from", "id",
                                                             "sharing", "mode",   "uid",  "gid",
                                                             "size",    NULL };
                        if (!strv_contains((char *const *) known, canon)) {
                                r = parser_error(p, lg, pos, "RUN", NULL,
                                                 "unknown mount option '%s'", key);
                                return r < 0 ? r : -EINVAL;
                        }
                        if (!val) {
                                r = parser_error(p, lg, pos, "RUN", NULL,
                                                 "mount option '%s' needs a value (%s=...)", key,
                                                 key);
                                return r < 0 ? r : -EINVAL;
                        }
                        r = json_set_new_checked(m, canon, json_string_nocheck(val));
                }
                if (r < 0)
                        return r;
        }

        /* Keys are checked against the final type, wherever "type=" stood. */
        {
                const char *key;
                json_t *v;
                json_object_foreach (m, key, v) {
                        _cleanup_free_ char *k = strjoin(" ", key, " ");
                        if (!k)
                                return -ENOMEM;
                        if (!strstr(types[type_index].keys, k)) {
                                r = parser_error(p, lg, pos, "RUN", NULL,
                                                 "mount option '%s' is not valid for type=%s", key,
                                                 type);
                                return r < 0 ? r : -EINVAL;
                        }
                }
        }

        const char *sharing = json_string_value(json_object_get(m, "sharing"));
        if (sharing && !strchr(sharing, '$') &&
            !STR_IN_SET_BOOL(sharing, "shared", "private", "locked")) {
                r = parser_error(p, lg, pos, "RUN", NULL,
                                 "mount sharing '%s' is not valid: expected shared, private or "
                                 "locked",
                                 sharing);
                return r < 0 ? r : -EINVAL;
        }

        const char *target = json_string_value(json_object_get(m, "target"));
        const char *id = json_string_value(json_object_get(m, "id"));
        if (streq(type, "secret")) {
                if (!id && !target) {
                        r = parser_error(p, lg, pos, "RUN", NULL,
                                         "secret mount needs id= or target=");
                        return r < 0 ? r : -EINVAL;
                }
                if (!id) {
                        const char *base = strrchr(target, '/');
                        r = json_set_new_checked(m, "id",
                                                 json_string_nocheck(base ? base + 1 : target));
                        if (r < 0)
                                return r;
                } else if (!target) {
                        _cleanup_free_ char *t = strjoin("/run/secrets/", id);
                        if (!t)
                                return -ENOMEM;
                        r = json_set_new_checked(m, "target", json_string_nocheck(t));
                        if (r < 0)
                                return r;
                }
        } else if (streq(type, "ssh")) {
                if (!id) {
                        r = json_set_new_checked(m, "id", json_string("default"));
                        if (r < 0)
                                return r;
                }
                if (!target) {
                        char t[64];
                        snprintf(t, sizeof t, "/run/buildkit/ssh_agent.%zu", n_ssh);
                        r = json_set_new_checked(m, "target", json_string(t));
                        if (r < 0)
                                return r;
                }
        } else if (!target) {
                r = parser_error(p, lg, pos, "RUN", NULL, "%s mount needs target=", type);
                return r < 0 ? r : -EINVAL;
        }
        r = json_set_new_checked(m, "type", json_string(type));
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}

static char *flag_list(const FlagDef *defs) {
        _cleanup_(df_buf_done) DfBuf b = {};

        for (const FlagDef *d = defs; d && d->name; d++) {
                if (d != defs)
                        df_buf_puts(&b, ", ");
                df_buf_puts(&b, "--");
                df_buf_puts(&b, d->name);
        }
        return df_buf_steal(&b);
}

/* Reads the leading --flags at *pos into o["flags"] (or o itself). Returns 0, -EINVAL after
 * recording errors, or -ENOMEM. */
static int parse_flags(Parser *p, const Instr *in, const Logical *lg, size_t *pos, json_t *o) {
        const char *s = lg->text;
        json_t *flags = in->top_level_flags ? o : json_object_get(o, "flags");
        size_t n_ssh = 0;
        int r, ret = 0;

        for (;;) {
                _cleanup_free_ char *name = NULL, *value = NULL;
                size_t start = skip_blank(s, *pos), end, eq;
                const FlagDef *def = NULL;

                if (!strneq(s + start, "--", 2))
                        break;
                end = word_end(s, start, p->escape);
                *pos = end;
                if (end == start + 2)
                        break; /* "--" ends the flags */
                for (eq = start + 2; eq < end && s[eq] != '='; eq++)
                        ;
                name = strndup(s + start + 2, eq - start - 2);
                if (!name)
                        return -ENOMEM;
                if (eq < end) {
                        value = strip_quotes(s + eq + 1, end - eq - 1);
                        if (!value)
                                return -ENOMEM;
                }
                for (const FlagDef *d = in->flags; d && d->name; d++)
                        if (streq(d->name, name))
                                def = d;
                if (!def) {
                        _cleanup_free_ char *valid = flag_list(in->flags);
                        const char *hint = NULL;

                        if (!valid)
                                return -ENOMEM;
                        if (streq(in->name, "COPY") && streq(name, "exclude"))
                                hint = "list the paths to leave out in .dockerignore";
                        else if (streq(in->name, "COPY") && streq(name, "parents"))
                                hint = "copy each directory to its destination with its own COPY";
                        if (isempty(valid))
                                r = parser_error(p, lg, start, in->name, hint,
                                                 "unknown flag --%s: %s takes no flags", name,
                                                 in->name);
                        else
                                r = parser_error(p, lg, start, in->name, hint,
                                                 "unknown flag --%s for %s; valid flags: %s", name,
                                                 in->name, valid);
                        if (r < 0)
                                return r;
                        ret = -EINVAL;
                        continue;
                }
                const char *key = def->key ?: def->name;
                if (def->kind != FLAG_MOUNT && json_object_get(flags, key)) {
                        r = parser_error(p, lg, start, in->name, NULL, "flag --%s given twice",
                                         name);
                        if (r < 0)
                                return r;
                        ret = -EINVAL;
                        continue;
                }
                if (def->kind == FLAG_BOOL) {
                        bool b;
                        if (!value || streq(value, "true"))
                                b = true;
                        else if (streq(value, "false"))
                                b = false;
                        else {
                                r = parser_error(p, lg, start, in->name, NULL,
                                                 "flag --%s takes true or false, not '%s'", name,
                                                 value);
                                if (r < 0)
                                        return r;
                                ret = -EINVAL;
                                continue;
                        }
                        r = json_set_new_checked(flags, key, json_boolean(b));
                        if (r < 0)
                                return r;
                        continue;
                }
                if (isempty(value)) {
                        r = parser_error(p, lg, start, in->name, NULL,
                                         "flag --%s needs a value (--%s=...)", name, name);
                        if (r < 0)
                                return r;
                        ret = -EINVAL;
                        continue;
                }
                switch (def->kind) {
                case FLAG_MOUNT: {
                        json_t *m = NULL, *a = json_object_get(flags, key);
                        r = parse_mount(p, lg, start, value, n_ssh, &m);
                        if (r == -ENOMEM)
                                return r;
                        if (r < 0) {
                                ret = -EINVAL;
                                continue;
                        }
                        if (streq(json_string_value(json_object_get(m, "type")), "ssh"))
                                n_ssh++;
                        if (!a) {
                                a = json_array();
                                r = json_set_new_checked(flags, key, a);
                                if (r < 0) {
                                        json_decref(m);
                                        return r;
                                }
                        }
                        r = json_append_checked(a, m);
                        if (r < 0)
                                return r;
                        continue;
                }
                case FLAG_DURATION: {
                        double ns;
                        if (parse_go_duration(value, &ns) < 0) {
                                r = parser_error(p, lg, start, in->name, "e.g. 30s, 1m30s, 500ms",
                                                 "flag --%s: '%s' is not a duration", name, value);
                        } else if (ns < 0) {
                                r = parser_error(p, lg, start, in->name, NULL,
                                                 "flag --%s cannot be negative", name);
                        } else if (ns != 0 && ns < 1e6) {
                                r = parser_error(p, lg, start, in->name, NULL,
                                                 "flag --%s cannot be less than 1ms", name);
                        } else {
                                r = json_set_new_checked(flags, key, json_string_nocheck(value));
                                if (r < 0)
                                        return r;
                                continue;
                        }
                        break;
                }
                case FLAG_UINT: {
                        unsigned u;
                        if (safe_atou(value, &u) >= 0) {
                                r = json_set_new_checked(flags, key, json_integer(u));
                                if (r < 0)
                                        return r;
                                continue;
                        }
                        r = parser_error(p, lg, start, in->name, NULL,
                                         "flag --%s takes a non-negative integer, not '%s'", name,
                                         value);
                        break;
                }
                default:
                        if (def->values && !strchr(value, '$') &&
                            !strv_contains((char *const *) def->values, value)) {
                                _cleanup_free_ char *list = strv_join((char **) def->values, ", ");
                                r = parser_error(p, lg, start, in->name, NULL,
                                                 "flag --%s: '%s' is not valid; expected one of "
                                                 "%s",
                                                 name, value, strna(list));
                                break;
                        }
                        r = json_set_new_checked(flags, key, json_string_nocheck(value));
                        if (r < 0)
                                return r;
                        continue;
                }
                if (r < 0)
                        return r;
                ret = -EINVAL;
        }
        return ret;
}

/* Reads heredoc bodies for the markers among the words, from the physical lines after the
 * instruction. */
static int read_heredocs(Parser *p, const char *cmd, const Logical *lg, size_t pos, json_t *o) {
        _cleanup_free_ Word *w = NULL;
        size_t n_w = 0;
        int r;

        r = split_words(lg->text, pos, p->escape, &w, &n_w);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n_w; i++) {
                _cleanup_(df_buf_done) DfBuf body = {};
                _cleanup_free_ char *name = NULL, *content = NULL;
                bool chomp, expand, found = false;
                json_t *hd, *list;

                if (!heredoc_marker(lg->text + w[i].start, w[i].len, &chomp, &expand, &name))
                        continue;
                if (!name)
                        return -ENOMEM;
                while (p->next < p->n_lines) {
                        const char *l = p->lines[p->next++];
                        if (chomp)
                                while (*l == '\t')
                                        l++;
                        if (streq(l, name)) {
                                found = true;
                                break;
                        }
                        df_buf_puts(&body, l);
                        df_buf_putc(&body, '\n');
                }
                if (!found) {
                        r = parser_error(p, lg, w[i].start, cmd, NULL,
                                         "heredoc '%s' has no terminator line '%s'", name, name);
                        return r < 0 ? r : -EINVAL;
                }
                content = df_buf_steal(&body);
                if (!content)
                        return -ENOMEM;
                list = json_object_get(o, "heredocs");
                if (!list) {
                        list = json_array();
                        r = json_set_new_checked(o, "heredocs", list);
                        if (r < 0)
                                return r;
                }
                hd = json_pack("{s:s, s:s, s:b, s:b}", "name", name, "content", content, "expand",
                               expand, "chomp", chomp);
                r = json_append_checked(list, hd);
                if (r < 0)
                        return r;
        }
        return 0;
}

static const char *json_ws(const char *s) {
        while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
                s++;
        return s;
}

static int json_hex4(const char *s) {
        int v = 0;

        for (int i = 0; i < 4; i++) {
                int d = s[i] >= '0' && s[i] <= '9'   ? s[i] - '0'
                        : s[i] >= 'a' && s[i] <= 'f' ? s[i] - 'a' + 10
                        : s[i] >= 'A' && s[i] <= 'F' ? s[i] - 'A' + 10
                                                     : -1;
                if (d < 0)
                        return -1;
                v = v * 16 + d;
        }
        return v;
}

/* After the opening quote: the end of a JSON string jansson accepts, or NULL. */
static const char *json_string_end(const char *s) {
        for (;;) {
                unsigned char c = (unsigned char) *s++;
                int u;

                if (c == '"')
                        return s;
                if (c < 0x20)
                        return NULL;
                if (c != '\\')
                        continue;
                c = (unsigned char) *s++;
                if (strchr("\"\\/bfnrt", c) && c)
                        continue;
                if (c != 'u' || (u = json_hex4(s)) <= 0)
                        return NULL; /* \u0000 is refused too */
                s += 4;
                if (u >= 0xdc00 && u <= 0xdfff)
                        return NULL;
                if (u >= 0xd800 && u <= 0xdbff) {
                        if (s[0] != '\\' || s[1] != 'u')
                                return NULL;
                        u = json_hex4(s + 2);
                        if (u < 0xdc00 || u > 0xdfff)
                                return NULL;
                        s += 6;
                }
        }
}

/* Whether text is a JSON array of strings, checked without allocating, so that a failure of
 * json_loads() afterwards can only mean memory (jansson does not say so reliably). */
static bool json_string_array_syntax(const char *s) {
        s = json_ws(s);
        if (*s++ != '[')
                return false;
        s = json_ws(s);
        if (*s != ']')
                for (;;) {
                        if (*s++ != '"' || !(s = json_string_end(s)))
                                return false;
                        s = json_ws(s);
                        if (*s == ']')
                                break;
                        if (*s++ != ',')
                                return false;
                        s = json_ws(s);
                }
        return *json_ws(s + 1) == '\0';
}

/* A JSON array of strings in *ret, or NULL when text is not one (then it is shell form).
 * Returns 0 or -ENOMEM. */
static int parse_json_array(const char *text, json_t **ret) {
        json_t *a;

        *ret = NULL;
        if (!json_string_array_syntax(text))
                return 0;
        a = json_loads(text, 0, NULL);
        if (!a || !json_is_array(a)) {
                json_decref(a);
                return -ENOMEM;
        }
        *ret = a;
        return 0;
}

static size_t rstrip_len(const char *s, size_t pos) {
        size_t n = strlen(s + pos);
        while (n > 0 && is_blank(s[pos + n - 1]))
                n--;
        return n;
}

static int missing(Parser *p, const Logical *lg, size_t pos, const char *cmd, const char *what) {
        int r = parser_error(p, lg, pos, cmd, NULL, "%s needs %s", cmd, what);
        return r < 0 ? r : -EINVAL;
}

static int parse_command(Parser *p, const Instr *in, const Logical *lg, size_t pos, json_t *o) {
        const char *rest = lg->text + pos;
        json_t *a;
        int r;

        r = parse_json_array(rest, &a);
        if (r < 0)
                return r;
        if (a) {
                if (json_array_size(a) == 0 && !STR_IN_SET_BOOL(in->name, "CMD", "ENTRYPOINT")) {
                        json_decref(a);
                        return missing(p, lg, pos, in->name, "a command");
                }
                r = json_set_new_checked(o, "form", json_string("exec"));
                if (r < 0) {
                        json_decref(a);
                        return r;
                }
                return json_set_new_checked(o, "args", a);
        }
        if (streq(in->name, "SHELL")) {
                r = parser_error(p, lg, pos, in->name, "SHELL [\"/bin/sh\", \"-c\"]",
                                 "SHELL needs a JSON array of strings");
                return r < 0 ? r : -EINVAL;
        }
        if (*rest == '\0')
                return missing(p, lg, pos, in->name, "a command");
        r = json_set_new_checked(o, "form", json_string("shell"));
        if (r < 0)
                return r;
        return json_set_new_checked(o, "args",
                                    json_pack("[s%]", rest, rstrip_len(lg->text, pos)) ?: NULL);
}

static int parse_run(Parser *p, const Instr *in, const Logical *lg, size_t pos, json_t *o) {
        int r = parse_command(p, in, lg, pos, o);
        if (r < 0)
                return r;
        if (streq(json_string_value(json_object_get(o, "form")), "shell"))
                return read_heredocs(p, in->name, lg, pos, o);
        return 0;
}

static int parse_healthcheck(Parser *p, const Instr *in, const Logical *lg, size_t pos, json_t *o) {
        const char *rest = lg->text + pos;
        size_t end = word_end(lg->text, pos, p->escape);

        if (end - pos == 4 && strncasecmp(rest, "NONE", 4) == 0 &&
            !lg->text[skip_blank(lg->text, end)]) {
                static const char *const keys[] = { "interval", "timeout", "start_period",
                                                    "start_interval", "retries" };
                for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                        if (json_object_get(o, keys[i])) {
                                int r = parser_error(p, lg, pos, in->name, NULL,
                                                     "HEALTHCHECK NONE takes no flags");
                                return r < 0 ? r : -EINVAL;
                        }
                return json_set_new_checked(o, "none", json_true());
        }
        if (end - pos != 3 || strncasecmp(rest, "CMD", 3) != 0) {
                int r = parser_error(p, lg, pos, in->name,
                                     "HEALTHCHECK CMD curl -f http://localhost/",
                                     "HEALTHCHECK needs CMD followed by a command, or NONE");
                return r < 0 ? r : -EINVAL;
        }
        return parse_command(p, in, lg, skip_blank(lg->text, end), o);
}

static int parse_copy(Parser *p, const Instr *in, const Logical *lg, size_t pos, json_t *o) {
        _cleanup_(json_decrefp) json_t *a = NULL, *sources = NULL;
        _cleanup_free_ Word *w = NULL;
        size_t n_w = 0;
        int r;

        r = parse_json_array(lg->text + pos, &a);
        if (r < 0)
                return r;
        if (!a) {
                r = split_words(lg->text, pos, p->escape, &w, &n_w);
                if (r < 0)
                        return r;
                a = json_array();
                if (!a)
                        return -ENOMEM;
                for (size_t i = 0; i < n_w; i++) {
                        _cleanup_free_ char *name = NULL;
                        bool chomp, expand;
                        json_t *s;

                        if (heredoc_marker(lg->text + w[i].start, w[i].len, &chomp, &expand,
                                           &name)) {
                                if (!name)
                                        return -ENOMEM;
                                _cleanup_free_ char *t = strjoin("<<", name);
                                s = t ? json_string_nocheck(t) : NULL;
                        } else
                                s = json_stringn_or_null(lg->text + w[i].start, w[i].len);
                        r = json_append_checked(a, s);
                        if (r < 0)
                                return r;
                }
                r = read_heredocs(p, in->name, lg, pos, o);
                if (r < 0)
                        return r;
        }
        if (json_array_size(a) < 2)
                return missing(p, lg, pos, in->name, "at least a source and a destination");

        for (const char *const *f = (const char *const[]){ "chmod", "chown", NULL }; *f; f++) {
                const char *v = json_string_value(json_object_get(json_object_get(o, "flags"), *f));
                const char *bad;
                if (!v || strchr(v, '$'))
                        continue;
                bad = streq(*f, "chmod") ? df_check_chmod(v) : df_check_chown(v);
                if (bad) {
                        r = parser_error(p, lg, pos, in->name, NULL,
                                         "--%s value '%s' is not valid: expected %s", *f, v, bad);
                        return r < 0 ? r : -EINVAL;
                }
        }
        const char *sum =
                json_string_value(json_object_get(json_object_get(o, "flags"), "checksum"));
        if (sum && !strchr(sum, '$')) {
                const char *colon = strchr(sum, ':');
                size_t want = 0;
                if (colon && (size_t) (colon - sum) == 6)
                        want = strneq(sum, "sha256", 6)   ? 64
                               : strneq(sum, "sha384", 6) ? 96
                               : strneq(sum, "sha512", 6) ? 128
                                                          : 0;
                bool ok = want > 0 && strlen(colon + 1) == want;
                for (const char *c = colon ? colon + 1 : ""; ok && *c; c++)
                        ok = isxdigit((unsigned char) *c);
                if (!ok) {
                        r = parser_error(p, lg, pos, in->name,
                                         "e.g. --checksum=sha256:<64 hex digits>",
                                         "--checksum value '%s' is not a digest", sum);
                        return r < 0 ? r : -EINVAL;
                }
        }

        sources = json_array();
        if (!sources)
                return -ENOMEM;
        for (size_t i = 0; i + 1 < json_array_size(a); i++)
                if (json_array_append(sources, json_array_get(a, i)) < 0)
                        return -ENOMEM;
        r = json_set_new_checked(o, "sources", TAKE_PTR(sources));
        if (r < 0)
                return r;
        return json_object_set(o, "dest", json_array_get(a, json_array_size(a) - 1)) < 0 ? -ENOMEM
                                                                                         : 0;
}

/* ENV and LABEL: "K=V K2=V2" or the legacy "K V with spaces". */
static int parse_pairs(Parser *p, const Instr *in, const Logical *lg, size_t pos, json_t *o) {
        _cleanup_(json_decrefp) json_t *pairs = json_array();
        _cleanup_free_ Word *w = NULL;
        const char *s = lg->text;
        size_t n_w = 0;
        int r;

        if (!pairs)
                return -ENOMEM;
        r = split_words(s, pos, p->escape, &w, &n_w);
        if (r < 0)
                return r;
        if (n_w == 0)
                return missing(p, lg, pos, in->name, "at least one key=value pair");

        for (size_t i = 0; i < n_w; i++) {
                _cleanup_free_ char *key = NULL, *value = NULL;
                size_t eq = SIZE_MAX;
                char quote = 0;

                for (size_t j = 0; j < w[i].len; j++) {
                        char c = s[w[i].start + j];
                        if (quote) {
                                if (c == quote)
                                        quote = 0;
                        } else if (c == p->escape)
                                j++;
                        else if (c == '"' || c == '\'')
                                quote = c;
                        else if (c == '=') {
                                eq = j;
                                break;
                        }
                }
                if (eq == SIZE_MAX) {
                        if (i > 0) {
                                r = parser_error(p, lg, w[i].start, in->name,
                                                 "quote values with spaces: KEY=\"a b\"",
                                                 "%s: '%.*s' is not of the form key=value",
                                                 in->name, (int) w[i].len, s + w[i].start);
                                return r < 0 ? r : -EINVAL;
                        }
                        /* The legacy form: the rest of the line is the value. */
                        if (n_w < 2)
                                return missing(p, lg, w[0].start, in->name,
                                               "a value (KEY=value or KEY value)");
                        key = unquote_to_word(s + w[0].start, w[0].len, p->escape);
                        value = unquote_to_word(s + w[1].start, rstrip_len(s, w[1].start),
                                                p->escape);
                        if (!key || !value)
                                return -ENOMEM;
                        r = json_append_checked(pairs, json_pack("[s,s]", key, value));
                        if (r < 0)
                                return r;
                        break;
                }
                if (eq == 0) {
                        r = parser_error(p, lg, w[i].start, in->name, NULL,
                                         "%s: a key=value pair has an empty key", in->name);
                        return r < 0 ? r : -EINVAL;
                }
                key = unquote_to_word(s + w[i].start, eq, p->escape);
                value = unquote_to_word(s + w[i].start + eq + 1, w[i].len - eq - 1, p->escape);
                if (!key || !value)
                        return -ENOMEM;
                if (isempty(key)) {
                        r = parser_error(p, lg, w[i].start, in->name, NULL,
                                         "%s: a key=value pair has an empty key", in->name);
                        return r < 0 ? r : -EINVAL;
                }
                r = json_append_checked(pairs, json_pack("[s,s]", key, value));
                if (r < 0)
                        return r;
        }
        return json_set_new_checked(o, "pairs", TAKE_PTR(pairs));
}

static bool var_name_valid(const char *s, size_t n) {
        if (n == 0 || !(isalpha((unsigned char) s[0]) || s[0] == '_'))
                return false;
        for (size_t i = 1; i < n; i++)
                if (!(isalnum((unsigned char) s[i]) || s[i] == '_'))
                        return false;
        return true;
}

/* Fills name/default of ARG instructions; ARG A B=2 is split in one instruction per name,
 * returned in *ret as an array of objects. */
static int parse_arg_words(Parser *p, const Logical *lg, size_t pos, const json_t *proto,
                           json_t **ret) {
        _cleanup_(json_decrefp) json_t *out = json_array();
        _cleanup_free_ Word *w = NULL;
        const char *s = lg->text;
        size_t n_w = 0;
        int r;

        if (!out)
                return -ENOMEM;
        r = split_words(s, pos, p->escape, &w, &n_w);
        if (r < 0)
                return r;
        if (n_w == 0)
                return missing(p, lg, pos, "ARG", "a name");
        for (size_t i = 0; i < n_w; i++) {
                const char *word = s + w[i].start, *eq = memchr(word, '=', w[i].len);
                size_t name_len = eq ? (size_t) (eq - word) : w[i].len;
                _cleanup_free_ char *def = NULL;
                json_t *o;

                if (!var_name_valid(word, name_len)) {
                        r = parser_error(p, lg, w[i].start, "ARG",
                                         "names are letters, digits and '_', not starting with a "
                                         "digit",
                                         "ARG name '%.*s' is not valid", (int) name_len, word);
                        return r < 0 ? r : -EINVAL;
                }
                if (eq) {
                        def = unquote_to_word(eq + 1, w[i].len - name_len - 1, p->escape);
                        if (!def)
                                return -ENOMEM;
                }
                o = json_deep_copy(proto);
                r = json_append_checked(out, o);
                if (r < 0)
                        return r;
                r = json_set_new_checked(o, "name", json_stringn_nocheck(word, name_len));
                if (r >= 0)
                        r = json_set_new_checked(o, "default",
                                                 def ? json_string_nocheck(def) : json_null());
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(out);
        return 0;
}

static int parse_value(Parser *p, const Instr *in, const Logical *lg, size_t pos, json_t *o) {
        size_t n = rstrip_len(lg->text, pos);
        const char *v = lg->text + pos;

        if (n == 0)
                return missing(p, lg, pos, in->name, "a value");
        if (STR_IN_SET_BOOL(in->name, "USER", "STOPSIGNAL") &&
            word_end(lg->text, pos, p->escape) < pos + n) {
                int r = parser_error(p, lg, pos, in->name, NULL, "%s takes exactly one argument",
                                     in->name);
                return r < 0 ? r : -EINVAL;
        }
        if (streq(in->name, "STOPSIGNAL") && !memchr(v, '$', n)) {
                _cleanup_free_ char *t = strndup(v, n);
                if (!t)
                        return -ENOMEM;
                if (df_check_signal(t)) {
                        int r = parser_error(p, lg, pos, in->name, "e.g. SIGTERM, SIGQUIT or 15",
                                             "STOPSIGNAL '%s' is not a signal", t);
                        return r < 0 ? r : -EINVAL;
                }
        }
        if (streq(in->name, "MAINTAINER")) {
                int r = df_diag(&p->diags, ZL_DIAG_WARNING, lg->first_line, 1, "MAINTAINER",
                                "LABEL org.opencontainers.image.authors=\"...\"",
                                strdup("MAINTAINER is deprecated; it is kept as a label"));
                if (r < 0)
                        return r;
        }
        return json_set_new_checked(o, "value", json_stringn_nocheck(v, n));
}

static int parse_values(Parser *p, const Instr *in, const Logical *lg, size_t pos, json_t *o) {
        _cleanup_(json_decrefp) json_t *a = NULL;
        _cleanup_free_ Word *w = NULL;
        size_t n_w = 0, i;
        json_t *v;
        int r;

        if (streq(in->name, "VOLUME")) {
                r = parse_json_array(lg->text + pos, &a);
                if (r < 0)
                        return r;
        }
        if (!a) {
                r = split_words(lg->text, pos, p->escape, &w, &n_w);
                if (r < 0)
                        return r;
                a = json_array();
                if (!a)
                        return -ENOMEM;
                for (i = 0; i < n_w; i++) {
                        r = json_append_checked(
                                a, json_stringn_nocheck(lg->text + w[i].start, w[i].len));
                        if (r < 0)
                                return r;
                }
        }
        if (json_array_size(a) == 0)
                return missing(p, lg, pos, in->name,
                               streq(in->name, "VOLUME") ? "at least one path"
                                                         : "at least one port");
        json_array_foreach (a, i, v) {
                const char *s = json_string_value(v);
                const char *bad = NULL;

                if (streq(in->name, "VOLUME") && isempty(s))
                        bad = "a path";
                else if (streq(in->name, "EXPOSE") && !strchr(s, '$'))
                        bad = df_check_port(s);
                if (bad) {
                        r = parser_error(p, lg, n_w > i ? w[i].start : pos, in->name, NULL,
                                         "%s value '%s' is not valid: expected %s", in->name, s,
                                         bad);
                        return r < 0 ? r : -EINVAL;
                }
        }
        return json_set_new_checked(o, "values", TAKE_PTR(a));
}

static int parse_from(Parser *p, const Instr *in, const Logical *lg, size_t pos, json_t *o);
static int parse_onbuild(Parser *p, const Instr *in, const Logical *lg, size_t pos, json_t *o);

static const Instr instructions[] = {
        { "ADD", parse_copy, add_flags },
        { "ARG", NULL },
        { "CMD", parse_command },
        { "COPY", parse_copy, copy_flags },
        { "ENTRYPOINT", parse_command },
        { "ENV", parse_pairs },
        { "EXPOSE", parse_values },
        { "FROM", parse_from, from_flags },
        { "HEALTHCHECK", parse_healthcheck, healthcheck_flags, true },
        { "LABEL", parse_pairs },
        { "MAINTAINER", parse_value },
        { "ONBUILD", parse_onbuild },
        { "RUN", parse_run, run_flags },
        { "SHELL", parse_command },
        { "STOPSIGNAL", parse_value },
        { "USER", parse_value },
        { "VOLUME", parse_values },
        { "WORKDIR", parse_value },
};

static const Instr *instr_find(const char *s, size_t n) {
        for (size_t i = 0; i < ELEMENTSOF(instructions); i++)
                if (strlen(instructions[i].name) == n &&
                    strncasecmp(instructions[i].name, s, n) == 0)
                        return instructions + i;
        return NULL;
}

static int parse_from(Parser *p, const Instr *in, const Logical *lg, size_t pos, json_t *o) {
        _cleanup_free_ Word *w = NULL;
        _cleanup_free_ char *name = NULL;
        const char *s = lg->text;
        size_t n_w = 0, i;
        json_t *st;
        int r;

        r = split_words(s, pos, p->escape, &w, &n_w);
        if (r < 0)
                return r;
        if (n_w == 0)
                return missing(p, lg, pos, in->name, "an image");
        if (n_w != 1 && !(n_w == 3 && w[1].len == 2 && strncasecmp(s + w[1].start, "AS", 2) == 0)) {
                r = parser_error(p, lg, pos, in->name, "FROM image[:tag] [AS name]",
                                 "FROM takes an image and optionally AS name");
                return r < 0 ? r : -EINVAL;
        }
        if (n_w == 3) {
                name = strndup(s + w[2].start, w[2].len);
                if (!name)
                        return -ENOMEM;
                ascii_strlower(name);
                if (!df_stage_name_valid(name)) {
                        r = parser_error(p, lg, w[2].start, in->name,
                                         "stage names start with a letter, then letters, digits, "
                                         "'-', '_' or '.'",
                                         "stage name '%s' is not valid", name);
                        return r < 0 ? r : -EINVAL;
                }
                json_array_foreach (p->stages, i, st)
                        if (streq(json_string_value(json_object_get(st, "name")) ?: "", name)) {
                                r = parser_error(
                                        p, lg, w[2].start, in->name, NULL,
                                        "duplicate stage name '%s' (first at line %d)", name,
                                        (int) json_integer_value(json_object_get(st, "line")));
                                return r < 0 ? r : -EINVAL;
                        }
        }
        json_t *flags = json_object_get(o, "flags");
        st = json_pack("{s:I, s:o, s:I, s:s%, s:O, s:[]}", "index",
                       (json_int_t) json_array_size(p->stages), "name",
                       name ? json_string_nocheck(name) : json_null(), "line",
                       (json_int_t) lg->first_line, "base", s + w[0].start, w[0].len, "platform",
                       json_object_get(flags, "platform") ?: json_null(), "instructions");
        if (!st)
                return -ENOMEM;
        r = json_append_checked(p->stages, st);
        if (r < 0)
                return r;
        p->stage = st;
        return 0;
}

static int parse_instruction(Parser *p, const Logical *lg, size_t pos, bool in_onbuild,
                             json_t **ret);

static int parse_onbuild(Parser *p, const Instr *in, const Logical *lg, size_t pos, json_t *o) {
        _cleanup_(json_decrefp) json_t *trigger = NULL;
        int r;

        if (!lg->text[pos])
                return missing(p, lg, pos, in->name, "an instruction");
        r = parse_instruction(p, lg, pos, true, &trigger);
        if (r < 0)
                return r;
        return json_set_new_checked(o, "trigger", TAKE_PTR(trigger));
}

/* Parses the instruction at lg->text[pos]. Returns 0 and the object (NULL for FROM and global
 * ARGs, which are recorded directly), -EINVAL after recording errors, or -ENOMEM. */
static int parse_instruction(Parser *p, const Logical *lg, size_t pos, bool in_onbuild,
                             json_t **ret) {
        _cleanup_(json_decrefp) json_t *o = NULL;
        _cleanup_free_ char *original = NULL;
        size_t kw_end = pos;
        const Instr *in;
        int r;

        while (lg->text[kw_end] && !is_blank(lg->text[kw_end]))
                kw_end++;
        in = instr_find(lg->text + pos, kw_end - pos);
        if (!in) {
                static const char *names[ELEMENTSOF(instructions) + 1];
                _cleanup_free_ char *kw = strndup(lg->text + pos, MIN(kw_end - pos, 64U));
                const char *guess;
                _cleanup_free_ char *hint = NULL;

                if (!kw)
                        return -ENOMEM;
                for (size_t i = 0; i < ELEMENTSOF(instructions); i++)
                        names[i] = instructions[i].name;
                ascii_strupper(kw);
                guess = string_suggest(kw, names);
                if (guess && asprintf(&hint, "did you mean %s?", guess) < 0)
                        return -ENOMEM;
                r = parser_error(p, lg, pos, "", hint, "unknown instruction '%s'", kw);
                return r < 0 ? r : -EINVAL;
        }
        if (in_onbuild && STR_IN_SET_BOOL(in->name, "ONBUILD", "FROM", "MAINTAINER")) {
                r = parser_error(p, lg, pos, "ONBUILD", NULL, "ONBUILD %s is not allowed",
                                 in->name);
                return r < 0 ? r : -EINVAL;
        }
        if (streq(in->name, "FROM") && !in_onbuild)
                p->seen_from = true;
        if (!in_onbuild && !p->seen_from && !STR_IN_SET_BOOL(in->name, "FROM", "ARG")) {
                r = parser_error(p, lg, pos, in->name, "start the Dockerfile with FROM image",
                                 "%s before the first FROM: only ARG may come before FROM",
                                 in->name);
                return r < 0 ? r : -EINVAL;
        }

        original = strndup(lg->text + pos, rstrip_len(lg->text, pos));
        if (!original)
                return -ENOMEM;
        o = json_pack("{s:s, s:I, s:I, s:s, s:{}}", "cmd", in->name, "line",
                      (json_int_t) lg->first_line, "end_line", (json_int_t) lg->last_line,
                      "original", original, "flags");
        if (!o)
                return -ENOMEM;

        pos = skip_blank(lg->text, kw_end);
        r = parse_flags(p, in, lg, &pos, o);
        if (r < 0)
                return r;
        pos = skip_blank(lg->text, pos);

        if (streq(in->name, "ARG")) {
                _cleanup_(json_decrefp) json_t *list = NULL;
                size_t i;
                json_t *a;

                r = parse_arg_words(p, lg, pos, o, &list);
                if (r < 0)
                        return r;
                if (in_onbuild) {
                        /* ONBUILD ARG A B: the trigger keeps the first; more is unusual. */
                        if (json_array_size(list) != 1) {
                                r = parser_error(p, lg, pos, "ONBUILD", NULL,
                                                 "ONBUILD ARG takes one name");
                                return r < 0 ? r : -EINVAL;
                        }
                        *ret = json_incref(json_array_get(list, 0));
                        return 0;
                }
                json_array_foreach (list, i, a) {
                        if (!p->seen_from) {
                                r = json_append_checked(
                                        p->args, json_pack("{s:O, s:O, s:O}", "name",
                                                           json_object_get(a, "name"), "default",
                                                           json_object_get(a, "default"), "line",
                                                           json_object_get(a, "line")));
                        } else if (p->stage)
                                r = json_array_append(json_object_get(p->stage, "instructions"),
                                                      a) < 0
                                            ? -ENOMEM
                                            : 0;
                        if (r < 0)
                                return r;
                }
                *ret = NULL;
                return 0;
        }

        r = in->parse(p, in, lg, pos, o);
        if (r < 0)
                return r;
        *ret = streq(in->name, "FROM") ? NULL : TAKE_PTR(o);
        return 0;
}

static int parse_directives(Parser *p) {
        bool seen_escape = false, seen_syntax = false, seen_check = false;
        int r;

        for (; p->next < p->n_lines; p->next++) {
                const char *l = p->lines[p->next], *k, *v;
                size_t kn, vn;
                unsigned line = (unsigned) p->next + 1;

                if (l[0] != '#')
                        return 0;
                l = l + 1 + strspn(l + 1, " \t");
                k = l;
                if (!isalpha((unsigned char) *l))
                        return 0;
                while (isalnum((unsigned char) *l))
                        l++;
                kn = (size_t) (l - k);
                l += strspn(l, " \t");
                if (*l != '=')
                        return 0;
                l++;
                l += strspn(l, " \t");
                v = l;
                vn = strlen(v);
                while (vn > 0 && is_blank(v[vn - 1]))
                        vn--;
                if (vn == 0)
                        return 0; /* "# escape=" with no value is a comment */

                bool *seen = kn == 6 && strncasecmp(k, "escape", 6) == 0   ? &seen_escape
                             : kn == 6 && strncasecmp(k, "syntax", 6) == 0 ? &seen_syntax
                             : kn == 5 && strncasecmp(k, "check", 5) == 0  ? &seen_check
                                                                           : NULL;
                if (!seen)
                        return 0; /* an unknown directive is a comment and ends directives */
                if (*seen) {
                        char *m = NULL;
                        if (asprintf(&m, "duplicate parser directive '%.*s'", (int) kn, k) < 0)
                                m = NULL;
                        r = df_diag(&p->diags, ZL_DIAG_ERROR, line, 1, "",
                                    "each parser directive may appear once", m);
                        if (r < 0)
                                return r;
                        continue;
                }
                *seen = true;
                if (seen == &seen_escape) {
                        if (vn != 1 || (v[0] != '\\' && v[0] != '`')) {
                                char *m = NULL;
                                if (asprintf(&m,
                                             "invalid escape character '%.*s': expected \\ or `",
                                             (int) vn, v) < 0)
                                        m = NULL;
                                r = df_diag(&p->diags, ZL_DIAG_ERROR, line, 1, "", NULL, m);
                                if (r < 0)
                                        return r;
                                continue;
                        }
                        p->escape = v[0];
                        r = json_set_new_checked(p->root, "escape", json_stringn(v, 1));
                } else if (seen == &seen_syntax)
                        r = json_set_new_checked(p->root, "syntax", json_stringn_nocheck(v, vn));
                else
                        r = 0;
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Joins physical lines into the next instruction. Returns 1 with *lg filled, 0 at the end. */
static int read_logical(Parser *p, Logical *lg) {
        bool started = false;
        int r;

        while (p->next < p->n_lines) {
                const char *l = p->lines[p->next];
                unsigned line = (unsigned) p->next + 1;
                size_t i = skip_blank(l, 0), n = strlen(l), m = n, start;
                bool cont;

                p->next++;
                /* Blank lines and comment lines are dropped, inside continuations too. */
                if (!l[i] || l[i] == '#')
                        continue;
                while (m > i && is_blank(l[m - 1]))
                        m--;
                cont = l[m - 1] == p->escape;
                start = started ? 0 : i;
                if (!started)
                        lg->first_line = line;
                r = logical_append(lg, l + start, (cont ? m - 1 : n) - start, line,
                                   (unsigned) start + 1);
                if (r < 0)
                        return r;
                lg->last_line = line;
                started = true;
                if (!cont)
                        break;
        }
        return started;
}

static bool utf8_valid(const char *s, size_t n) {
        const unsigned char *u = (const unsigned char *) s;

        for (size_t i = 0; i < n;) {
                unsigned c = u[i], len, cp;
                if (c < 0x80) {
                        i++;
                        continue;
                }
                if (c >= 0xc2 && c <= 0xdf)
                        len = 2, cp = c & 0x1f;
                else if (c >= 0xe0 && c <= 0xef)
                        len = 3, cp = c & 0x0f;
                else if (c >= 0xf0 && c <= 0xf4)
                        len = 4, cp = c & 0x07;
                else
                        return false;
                if (i + len > n)
                        return false;
                for (unsigned k = 1; k < len; k++) {
                        if ((u[i + k] & 0xc0) != 0x80)
                                return false;
                        cp = (cp << 6) | (u[i + k] & 0x3f);
                }
                if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
                    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
                        return false;
                i += len;
        }
        return true;
}

/* Splits the text into physical lines. Returns 0, -EINVAL after recording an error, or
 * -ENOMEM. */
static int split_lines(Parser *p, const char *data, size_t size) {
        size_t n = 1;

        if (size >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0) {
                data += 3;
                size -= 3;
        }
        p->buf = malloc(size + 1);
        if (!p->buf)
                return -ENOMEM;
        memcpy(p->buf, data, size);
        p->buf[size] = '\0';
        for (size_t i = 0; i < size; i++)
                if (p->buf[i] == '\n')
                        n++;
        p->lines = calloc(n, sizeof(char *));
        if (!p->lines)
                return -ENOMEM;
        for (char *l = p->buf, *end = p->buf + size; l <= end;) {
                char *nl = memchr(l, '\n', end - l);
                size_t len = (nl ?: end) - l;
                unsigned line = (unsigned) p->n_lines + 1;

                if (memchr(l, '\0', len) || !utf8_valid(l, len)) {
                        int r = df_diag(&p->diags, ZL_DIAG_ERROR, line, 1, "", NULL,
                                        strdup(memchr(l, '\0', len)
                                                       ? "the Dockerfile contains a NUL byte"
                                                       : "the Dockerfile is not valid UTF-8"));
                        return r < 0 ? r : -EINVAL;
                }
                l[len] = '\0';
                if (len > 0 && l[len - 1] == '\r')
                        l[len - 1] = '\0';
                p->lines[p->n_lines++] = l;
                l += len + 1;
        }
        /* A final newline does not start another line. */
        if (p->n_lines > 1 && size > 0 && data[size - 1] == '\n')
                p->n_lines--;
        return 0;
}

static void parser_done(Parser *p) {
        free(p->buf);
        free(p->lines);
        json_decref(p->root);
        zl_diag_list_done(&p->diags);
}

static int diag_compare(const void *a, const void *b) {
        const ZlDiag *x = a, *y = b;

        if (x->line != y->line)
                return x->line < y->line ? -1 : 1;
        return (x->column > y->column) - (x->column < y->column);
}

/* Moves p's diagnostics to the caller's list, sorted by position. */
static int diags_hand_over(ZlDiagList *src, ZlDiagList *dst) {
        ZlDiag *items;

        if (!dst || src->n_items == 0)
                return 0;
        /* Stable enough: errors at one position come from one instruction, in order. */
        qsort(src->items, src->n_items, sizeof(ZlDiag), diag_compare);
        items = reallocarray(dst->items, dst->n_items + src->n_items, sizeof(ZlDiag));
        if (!items)
                return -ENOMEM;
        dst->items = items;
        memcpy(dst->items + dst->n_items, src->items, src->n_items * sizeof(ZlDiag));
        dst->n_items += src->n_items;
        dst->n_errors += src->n_errors;
        src->items = mfree(src->items);
        src->n_items = src->n_errors = 0;
        return 0;
}

int zl_dockerfile_parse_string(const char *data, size_t size, const char *filename,
                               ZlDockerfile **ret, ZlDiagList *diags) {
        _cleanup_(parser_done) Parser p = { .escape = '\\' };
        ZlDockerfile *df;
        int r;

        assert(data || size == 0);
        assert(ret);

        p.root = json_pack("{s:s, s:n, s:[], s:[]}", "escape", "\\", "syntax", "args", "stages");
        if (!p.root)
                return -ENOMEM;
        p.args = json_object_get(p.root, "args");
        p.stages = json_object_get(p.root, "stages");

        r = split_lines(&p, data ?: "", size);
        if (r == -ENOMEM)
                return r;
        if (r >= 0) {
                r = parse_directives(&p);
                if (r < 0)
                        return r;
                for (;;) {
                        _cleanup_(logical_done) Logical lg = {};
                        _cleanup_(json_decrefp) json_t *o = NULL;

                        r = read_logical(&p, &lg);
                        if (r < 0)
                                return r;
                        if (r == 0)
                                break;
                        r = parse_instruction(&p, &lg, 0, false, &o);
                        if (r == -ENOMEM)
                                return r;
                        if (r >= 0 && o && p.stage &&
                            json_array_append(json_object_get(p.stage, "instructions"), o) < 0)
                                return -ENOMEM;
                }
                if (json_array_size(p.stages) == 0 && p.diags.n_errors == 0) {
                        r = df_diag(&p.diags, ZL_DIAG_ERROR, 0, 0, "", "start with FROM image",
                                    strdup("the Dockerfile has no FROM instruction"));
                        if (r < 0)
                                return r;
                }
        }

        if (p.diags.n_errors > 0) {
                log_debug("%s: %zu errors in the Dockerfile", strna(filename), p.diags.n_errors);
                r = diags_hand_over(&p.diags, diags);
                return r < 0 ? r : -EINVAL;
        }
        df = calloc(1, sizeof(ZlDockerfile));
        if (!df)
                return -ENOMEM;
        r = diags_hand_over(&p.diags, diags);
        if (r < 0) {
                free(df);
                return r;
        }
        df->json = TAKE_PTR(p.root);
        df->escape = p.escape;
        *ret = df;
        return 0;
}

int zl_dockerfile_parse_file(const char *path, ZlDockerfile **ret, ZlDiagList *diags) {
        _cleanup_free_ char *data = NULL;
        size_t size = 0;
        int r;

        assert(path);
        r = read_full_file(path, DOCKERFILE_MAX_SIZE, &data, &size);
        if (r < 0)
                return r;
        return zl_dockerfile_parse_string(data, size, path, ret, diags);
}

ZlDockerfile *zl_dockerfile_free(ZlDockerfile *df) {
        if (!df)
                return NULL;
        json_decref(df->json);
        free(df);
        return NULL;
}

const json_t *zl_dockerfile_get_json(const ZlDockerfile *df) {
        assert(df);
        return df->json;
}
