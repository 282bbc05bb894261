/* SPDX-License-Identifier: Apache-2.0 */
/* dockerfile-expand.c: Dockerfile word expansion and the build plan (stages, ARG scopes). */
#include <ctype.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/utsname.h>

#include "dockerfile-internal.h"
#include "parse-util.h"
#include "signal-util.h"
#include "string-util.h"

#define EXPAND_MAX_DEPTH 32

#define STR_EQ_ANY2(s, a, b) (streq((s), (a)) || streq((s), (b)))

void df_buf_putn(DfBuf *b, const char *s, size_t n) {
        if (b->oom)
                return;
        if (b->n + n + 1 > b->cap) {
                size_t cap = MAX(b->cap * 2, b->n + n + 32);
                char *t = realloc(b->s, cap);
                if (!t) {
                        b->oom = true;
                        return;
                }
                b->s = t;
                b->cap = cap;
        }
        memcpy(b->s + b->n, s, n);
        b->n += n;
        b->s[b->n] = '\0';
}

void df_buf_puts(DfBuf *b, const char *s) {
        df_buf_putn(b, s, strlen(s));
}

void df_buf_putc(DfBuf *b, char c) {
        df_buf_putn(b, &c, 1);
}

char *df_buf_steal(DfBuf *b) {
        char *s;

        if (b->oom) {
                df_buf_done(b);
                return NULL;
        }
        s = b->s ?: strdup("");
        *b = (DfBuf){};
        return s;
}

void df_buf_done(DfBuf *b) {
        b->s = mfree(b->s);
        b->n = b->cap = 0;
        b->oom = false;
}

typedef struct Lexer {
        const char *s;
        size_t i;
        char escape;
        DfExpandMode mode;
        DfLookup lookup;
        void *userdata;
        unsigned depth;
        bool pattern; /* reading the pattern of ${V#...} or ${V%...} */
        bool quoted; /* inside double quotes */
        char *error;
} Lexer;

_printf_(2, 3) static int lexer_error(Lexer *l, const char *format, ...) {
        va_list ap;

        if (l->error)
                return -EINVAL;
        va_start(ap, format);
        if (vasprintf(&l->error, format, ap) < 0) {
                l->error = NULL;
                va_end(ap);
                return -ENOMEM;
        }
        va_end(ap);
        return -EINVAL;
}

static bool name_char(char c) {
        return isalnum((unsigned char) c) || c == '_';
}

static int lex_until(Lexer *l, char stop, DfBuf *out);

/* Appends a character that is text, not a pattern: in a pattern, quoted and escaped '*', '?',
 * '[' match themselves, as in the shell. */
static void put_literal(Lexer *l, DfBuf *out, char c) {
        if (l->pattern && c != '\0' && strchr("*?[]\\", c))
                df_buf_putc(out, '\\');
        df_buf_putc(out, c);
}

/* Appends a variable's value: a pattern unless quoted, as in the shell. */
static void put_value(Lexer *l, DfBuf *out, const char *v) {
        if (!l->pattern || !l->quoted) {
                df_buf_puts(out, v);
                return;
        }
        for (; *v; v++)
                put_literal(l, out, *v);
}

/* The word of ${NAME<op>word} up to its closing brace, which is consumed. With pattern, read as
 * a pattern (see put_literal()), quotes counted afresh. */
static int lex_braced_word(Lexer *l, const char *name, bool pattern, DfBuf *word) {
        bool saved = l->pattern, saved_quoted = l->quoted;
        int r;

        if (++l->depth > EXPAND_MAX_DEPTH)
                return lexer_error(l, "substitutions nested too deeply");
        if (pattern) {
                l->pattern = true;
                l->quoted = false;
        }
        r = lex_until(l, '}', word);
        l->pattern = saved;
        l->quoted = saved_quoted;
        l->depth--;
        if (r < 0)
                return r;
        if (l->s[l->i] != '}')
                return lexer_error(l, "missing '}' after '${%s'", name);
        l->i++;
        return word->oom ? -ENOMEM : 0;
}

/* Whether v[from, to) matches the shell pattern. */
static int pattern_matches(const char *pattern, const char *v, size_t from, size_t to) {
        _cleanup_free_ char *part = strndup(v + from, to - from);

        if (!part)
                return -ENOMEM;
        return fnmatch(pattern, part, 0) == 0;
}

/* At the '#' or '%' after ${NAME: the value without the shortest ('#', '%') or longest ('##',
 * '%%') prefix ('#') or suffix ('%') that matches the pattern, as BuildKit and the shell do. */
static int lex_remove(Lexer *l, const char *name, DfBuf *out) {
        _cleanup_(df_buf_done) DfBuf pattern = {};
        const char *s = l->s, *v;
        char op = s[l->i];
        bool longest = s[l->i + 1] == op;
        size_t n;
        int r;

        l->i += longest ? 2 : 1;
        r = lex_braced_word(l, name, true, &pattern);
        if (r < 0)
                return r;

        v = l->lookup(name, l->userdata);
        if (!v)
                return 0;
        n = strlen(v);
        for (size_t k = 0; k <= n; k++) {
                /* Prefixes: shortest first for '#', longest first for '##'; suffixes: shortest
                 * (starting at the end) first for '%', longest first for '%%'. */
                size_t at = op == '#' ? (longest ? n - k : k) : (longest ? k : n - k);

                r = op == '#' ? pattern_matches(strempty(pattern.s), v, 0, at)
                              : pattern_matches(strempty(pattern.s), v, at, n);
                if (r < 0)
                        return r;
                if (r > 0) {
                        if (op == '#')
                                df_buf_puts(out, v + at);
                        else
                                df_buf_putn(out, v, at);
                        return 0;
                }
        }
        df_buf_puts(out, v);
        return 0;
}

/* At '$': appends the expansion. */
static int lex_dollar(Lexer *l, DfBuf *out) {
        const char *s = l->s;
        size_t start;
        int r;

        l->i++;
        if (s[l->i] != '{') {
                _cleanup_free_ char *name = NULL;
                const char *v;

                start = l->i;
                if (isdigit((unsigned char) s[l->i]))
                        l->i++; /* $1: positional, never set */
                else
                        while (name_char(s[l->i]))
                                l->i++;
                if (l->i == start) {
                        df_buf_putc(out, '$');
                        return 0;
                }
                name = strndup(s + start, l->i - start);
                if (!name)
                        return -ENOMEM;
                v = l->lookup(name, l->userdata);
                if (v)
                        put_value(l, out, v);
                return 0;
        }

        _cleanup_free_ char *name = NULL;
        _cleanup_(df_buf_done) DfBuf word = {};
        const char *v;
        bool colon = false;
        char op = 0;

        l->i++;
        start = l->i;
        while (name_char(s[l->i]))
                l->i++;
        if (l->i == start)
                return lexer_error(l, "bad substitution: '${' must be followed by a name");
        name = strndup(s + start, l->i - start);
        if (!name)
                return -ENOMEM;
        if (s[l->i] == '}') {
                l->i++;
                v = l->lookup(name, l->userdata);
                if (v)
                        put_value(l, out, v);
                return 0;
        }
        if (s[l->i] == '#' || s[l->i] == '%')
                return lex_remove(l, name, out);
        if (s[l->i] == ':') {
                colon = true;
                l->i++;
        }
        op = s[l->i];
        if (op != '-' && op != '+' && op != '?') {
                if (op == '\0')
                        return lexer_error(l, "missing '}' after '${%s'", name);
                return lexer_error(l, "bad substitution: unsupported operator '%s%c' in '${%s'",
                                   colon ? ":" : "", op, name);
        }
        l->i++;
        r = lex_braced_word(l, name, false, &word);
        if (r < 0)
                return r;

        v = l->lookup(name, l->userdata);
        bool set = v && (!colon || v[0] != '\0');
        switch (op) {
        case '-':
                if (set)
                        put_value(l, out, v);
                else
                        df_buf_puts(out, strempty(word.s));
                break;
        case '+':
                if (set)
                        df_buf_puts(out, strempty(word.s));
                break;
        default:
                if (!set)
                        return lexer_error(l, "%s: %s", name,
                                           isempty(word.s) ? "is not set" : word.s);
                put_value(l, out, v);
        }
        return 0;
}

static int lex_double_quoted(Lexer *l, DfBuf *out) {
        const char *s = l->s;
        bool saved = l->quoted;
        int r = 0;

        l->i++;
        l->quoted = true;
        for (;;) {
                char c = s[l->i];

                if (c == '\0') {
                        r = lexer_error(l, "unterminated double quote");
                        break;
                }
                if (c == '"') {
                        l->i++;
                        break;
                }
                if (c == l->escape) {
                        char d = s[l->i + 1];
                        if (d == '"' || d == '$' || d == l->escape) {
                                put_literal(l, out, d);
                                l->i += 2;
                                continue;
                        }
                        put_literal(l, out, c);
                        l->i++;
                        continue;
                }
                if (c == '$') {
                        r = lex_dollar(l, out);
                        if (r < 0)
                                break;
                        continue;
                }
                put_literal(l, out, c);
                l->i++;
        }
        l->quoted = saved;
        return r;
}

/* Processes the word up to `stop` outside quotes (not consumed) or the end. */
static int lex_until(Lexer *l, char stop, DfBuf *out) {
        const char *s = l->s;
        int r;

        for (;;) {
                char c = s[l->i];

                if (c == '\0' || (stop && c == stop))
                        return 0;
                if (l->mode == DF_EXPAND_HEREDOC) {
                        /* As a shell reads a heredoc: only $ and escape are special. */
                        if (c == l->escape && (s[l->i + 1] == '$' || s[l->i + 1] == l->escape)) {
                                put_literal(l, out, s[l->i + 1]);
                                l->i += 2;
                        } else if (c == '$') {
                                r = lex_dollar(l, out);
                                if (r < 0)
                                        return r;
                        } else {
                                df_buf_putc(out, c);
                                l->i++;
                        }
                        continue;
                }
                if (c == l->escape) {
                        l->i++;
                        if (s[l->i] == '\0')
                                return 0; /* a trailing escape is dropped, as Docker does */
                        put_literal(l, out, s[l->i++]);
                } else if (c == '\'') {
                        const char *end = strchr(s + l->i + 1, '\'');
                        if (!end)
                                return lexer_error(l, "unterminated single quote");
                        for (const char *p = s + l->i + 1; p < end; p++)
                                put_literal(l, out, *p);
                        l->i = end - s + 1;
                } else if (c == '"') {
                        r = lex_double_quoted(l, out);
                        if (r < 0)
                                return r;
                } else if (c == '$') {
                        r = lex_dollar(l, out);
                        if (r < 0)
                                return r;
                } else {
                        df_buf_putc(out, c);
                        l->i++;
                }
        }
}

int df_expand(const char *word, char escape, DfExpandMode mode, DfLookup lookup, void *userdata,
              char **ret, char **ret_error) {
        _cleanup_(df_buf_done) DfBuf out = {};
        Lexer l = {
                .s = word, .escape = escape, .mode = mode, .lookup = lookup, .userdata = userdata
        };
        char *s;
        int r;

        assert(word);
        assert(ret);

        r = lex_until(&l, 0, &out);
        if (r < 0 || out.oom) {
                if (r == -EINVAL && l.error && ret_error)
                        *ret_error = TAKE_PTR(l.error);
                free(l.error);
                return r < 0 && !out.oom ? r : -ENOMEM;
        }
        s = df_buf_steal(&out);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

static const char *json_lookup(const char *name, void *userdata) {
        return json_string_value(json_object_get(userdata, name));
}

int zl_dockerfile_expand(const char *word, const json_t *vars, char escape, char **ret,
                         char **ret_error) {
        json_t *empty = NULL;
        int r;

        assert(word);
        assert(ret);
        if (escape != '\\' && escape != '`')
                return -EINVAL;
        if (!vars)
                vars = empty = json_object();
        if (!vars)
                return -ENOMEM;
        r = df_expand(word, escape, DF_EXPAND_WORD, json_lookup, (void *) vars, ret, ret_error);
        json_decref(empty);
        return r;
}

const char *df_check_chmod(const char *s) {
        size_t n = strlen(s);

        /* buildah (1.28) parses --chmod as an octal number; a symbolic mode is relative to
         * each file's mode, so it has no one octal equivalent to translate it to. */
        if (n > 0 && strspn(s, "ugoa") < n && strchr("+-=", s[strspn(s, "ugoa")]))
                return "an octal mode such as 755 or 0644 (symbolic modes such as u+x are not "
                       "supported by buildah: write the mode the files should have in octal)";
        if (n == 0 || n > 4 || strspn(s, "01234567") != n)
                return "an octal mode such as 755 or 0644";
        return NULL;
}

static bool chown_part_valid(const char *s, size_t n) {
        if (n == 0)
                return false;
        if (strspn(s, "0123456789") >= n)
                return n <= 10;
        if (!(isalpha((unsigned char) s[0]) || s[0] == '_'))
                return false;
        for (size_t i = 1; i < n; i++)
                if (!(isalnum((unsigned char) s[i]) || strchr("_.-", s[i]) ||
                      (s[i] == '$' && i == n - 1)))
                        return false;
        return true;
}

const char *df_check_chown(const char *s) {
        const char *colon = strchr(s, ':');
        static const char *what = "user[:group], each a name or a numeric id";

        if (!chown_part_valid(s, colon ? (size_t) (colon - s) : strlen(s)))
                return what;
        if (colon && !chown_part_valid(colon + 1, strlen(colon + 1)))
                return what;
        return NULL;
}

static const char *parse_port_number(const char *s, unsigned *ret) {
        unsigned v = 0;
        const char *p = s;

        for (; isdigit((unsigned char) *p) && p - s < 6; p++)
                v = v * 10 + (unsigned) (*p - '0');
        if (p == s || v == 0 || v > 65535)
                return NULL;
        *ret = v;
        return p;
}

const char *df_check_port(const char *s) {
        static const char *what = "a port 1-65535 or range 8000-8010, optionally /tcp, /udp or "
                                  "/sctp";
        unsigned a, b;
        const char *p = parse_port_number(s, &a);

        if (!p)
                return what;
        if (*p == '-') {
                p = parse_port_number(p + 1, &b);
                if (!p || b < a)
                        return what;
        }
        if (*p == '/') {
                p++;
                if (strcasecmp(p, "tcp") != 0 && strcasecmp(p, "udp") != 0 &&
                    strcasecmp(p, "sctp") != 0)
                        return what;
                return NULL;
        }
        return *p ? what : NULL;
}

const char *df_check_signal(const char *s) {
        return signal_from_string(s) < 0 ? "a signal name or number" : NULL;
}

bool df_stage_name_valid(const char *s) {
        if (!isalpha((unsigned char) s[0]))
                return false;
        for (s++; *s; s++)
                if (!(isalnum((unsigned char) *s) || strchr("-_.", *s)))
                        return false;
        return true;
}

/* The plan. */

static const char *const proxy_args[] = {
        "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy",
        "NO_PROXY",   "no_proxy",   "ALL_PROXY",   "all_proxy",   NULL,
};

typedef struct StagePlan {
        json_t *out;
        json_t *env; /* the ENV at the end of the stage, for stages built FROM it */
        json_t *used; /* build args the stage declares: name -> true */
        ZlDiagList diags;
        int base_stage;
        bool *deps;
} StagePlan;

typedef struct Planner {
        const ZlDockerfile *df;
        const json_t *build_args;
        json_t *global; /* global ARGs and the automatic platform ARGs: name -> string|null */
        json_t *global_used;
        StagePlan *stages;
        size_t n_stages;
        /* scope of the stage being planned */
        json_t *args; /* ARGs declared so far: name -> value without build arg, or null */
        json_t *env;
        bool global_scope;
        ZlDiagList *diags; /* where errors go now */
        size_t current;
} Planner;

static const char *build_arg(const Planner *p, const char *name) {
        return json_string_value(json_object_get(p->build_args, name));
}

/* build-arg > ENV > ARG default: the issue's rule, which differs from Docker (ENV wins there). */
static const char *planner_lookup(const char *name, void *userdata) {
        Planner *p = userdata;
        json_t *a;

        if (p->global_scope)
                return json_string_value(json_object_get(p->global, name));
        a = json_object_get(p->args, name);
        if (a && build_arg(p, name))
                return build_arg(p, name);
        if (json_object_get(p->env, name))
                return json_string_value(json_object_get(p->env, name));
        return json_string_value(a);
}

_printf_(5, 6) static int plan_error(Planner *p, const json_t *instr, unsigned line,
                                     const char *cmd, const char *format, ...) {
        char *m = NULL;
        va_list ap;
        int r;

        if (instr)
                line = (unsigned) json_integer_value(json_object_get(instr, "line"));
        va_start(ap, format);
        if (vasprintf(&m, format, ap) < 0)
                m = NULL;
        va_end(ap);
        r = df_diag(p->diags, ZL_DIAG_ERROR, line, 1, cmd, NULL, m);
        return r < 0 ? r : -EINVAL;
}

/* Expands the string o[key] (or array element when key is NULL and index is given) in place.
 * Returns 0, -EINVAL after recording an error, -ENOMEM. */
static int expand_in(Planner *p, const json_t *instr, const char *cmd, json_t *o, const char *key,
                     size_t index, DfExpandMode mode) {
        json_t *v = key ? json_object_get(o, key) : json_array_get(o, index);
        _cleanup_free_ char *out = NULL, *error = NULL;
        int r;

        if (!json_is_string(v))
                return 0;
        r = df_expand(json_string_value(v), p->df->escape, mode, planner_lookup, p, &out, &error);
        if (r == -EINVAL)
                return plan_error(p, instr, 0, cmd, "cannot expand '%s': %s", json_string_value(v),
                                  strna(error));
        if (r < 0)
                return r;
        r = json_string_set_nocheck(v, out);
        return r < 0 ? -ENOMEM : 0;
}

/* A stage reference in FROM, --from or from=: the stage index, -1 for an image, or an error. */
static int resolve_stage(Planner *p, const json_t *instr, const char *cmd, const char *ref,
                         bool numeric_ok, int *ret) {
        const json_t *stages = json_object_get(p->df->json, "stages");
        size_t i;
        json_t *st;

        if (numeric_ok && ref[0] && strspn(ref, "0123456789") == strlen(ref)) {
                unsigned idx;
                if (safe_atou(ref, &idx) < 0 || idx >= p->current)
                        return plan_error(p, instr, 0, cmd,
                                          "'%s' does not name a stage before this one (stages "
                                          "are counted from 0)",
                                          ref);
                *ret = (int) idx;
                return 0;
        }
        json_array_foreach (stages, i, st) {
                const char *name = json_string_value(json_object_get(st, "name"));
                if (name && strcasecmp(name, ref) == 0) {
                        if (i == p->current)
                                return plan_error(p, instr, 0, cmd, "stage '%s' cannot use itself",
                                                  ref);
                        if (i > p->current)
                                return plan_error(
                                        p, instr, 0, cmd,
                                        "stage '%s' is defined at line %d, after this "
                                        "use",
                                        ref, (int) json_integer_value(json_object_get(st, "line")));
                        *ret = (int) i;
                        return 0;
                }
        }
        *ret = -1;
        return 0;
}

static int set_from_stage(Planner *p, const json_t *instr, const char *cmd, json_t *o,
                          const char *ref) {
        int idx, r;

        r = resolve_stage(p, instr, cmd, ref, true, &idx);
        if (r < 0)
                return r;
        if (idx >= 0)
                p->stages[p->current].deps[idx] = true;
        return json_object_set_new(o, "from_stage", idx >= 0 ? json_integer(idx) : json_null()) < 0
                       ? -ENOMEM
                       : 0;
}

static int check_value(Planner *p, const json_t *instr, const char *cmd, const char *what,
                       const char *value, const char *(*check)(const char *) ) {
        const char *bad = check(value);

        if (!bad)
                return 0;
        return plan_error(p, instr, 0, cmd, "%s '%s' is not valid: expected %s", what, value, bad);
}

static int plan_flags_copy(Planner *p, const json_t *instr, const char *cmd, json_t *o) {
        json_t *flags = json_object_get(o, "flags");
        int r;

        for (const char *const *k = (const char *const[]){ "chown", "chmod", "from", NULL }; *k;
             k++) {
                r = expand_in(p, instr, cmd, flags, *k, 0, DF_EXPAND_WORD);
                if (r < 0)
                        return r;
        }
        const char *chown = json_string_value(json_object_get(flags, "chown"));
        const char *chmod = json_string_value(json_object_get(flags, "chmod"));
        const char *from = json_string_value(json_object_get(flags, "from"));
        if (chown && (r = check_value(p, instr, cmd, "--chown", chown, df_check_chown)) < 0)
                return r;
        if (chmod && (r = check_value(p, instr, cmd, "--chmod", chmod, df_check_chmod)) < 0)
                return r;
        if (from) {
                if (isempty(from))
                        return plan_error(p, instr, 0, cmd, "--from is empty after expansion");
                r = set_from_stage(p, instr, cmd, o, from);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int plan_copy(Planner *p, const json_t *instr, const char *cmd, json_t *o) {
        json_t *sources = json_object_get(o, "sources"), *v, *hd;
        size_t i;
        int r;

        json_array_foreach (sources, i, v)
                if (!startswith(json_string_value(v), "<<")) {
                        r = expand_in(p, instr, cmd, sources, NULL, i, DF_EXPAND_WORD);
                        if (r < 0)
                                return r;
                }
        r = expand_in(p, instr, cmd, o, "dest", 0, DF_EXPAND_WORD);
        if (r < 0)
                return r;
        /* COPY heredocs are files: expanded here, so the executor writes them as they are. */
        json_array_foreach (json_object_get(o, "heredocs"), i, hd)
                if (json_is_true(json_object_get(hd, "expand"))) {
                        r = expand_in(p, instr, cmd, hd, "content", 0, DF_EXPAND_HEREDOC);
                        if (r < 0)
                                return r;
                        if (json_object_set_new(hd, "expand", json_false()) < 0)
                                return -ENOMEM;
                }
        return plan_flags_copy(p, instr, cmd, o);
}

static int plan_run(Planner *p, const json_t *instr, json_t *o) {
        json_t *flags = json_object_get(o, "flags"), *m, *env;
        const char *key;
        json_t *v;
        size_t i;
        int r;

        r = expand_in(p, instr, "RUN", flags, "network", 0, DF_EXPAND_WORD);
        if (r < 0)
                return r;
        const char *net = json_string_value(json_object_get(flags, "network"));
        if (net && !streq(net, "default") && !streq(net, "none") && !streq(net, "host"))
                return plan_error(p, instr, 0, "RUN",
                                  "--network '%s' is not valid: expected default, none or host",
                                  net);

        json_array_foreach (json_object_get(flags, "mount"), i, m) {
                static const char *const keys[] = { "target", "source", "from", "id",  "sharing",
                                                    "mode",   "uid",    "gid",  "size" };
                for (size_t k = 0; k < ELEMENTSOF(keys); k++) {
                        r = expand_in(p, instr, "RUN", m, keys[k], 0, DF_EXPAND_WORD);
                        if (r < 0)
                                return r;
                }
                const char *mode = json_string_value(json_object_get(m, "mode"));
                if (mode &&
                    (r = check_value(p, instr, "RUN", "mount mode", mode, df_check_chmod)) < 0)
                        return r;
                for (const char *const *k = (const char *const[]){ "uid", "gid", NULL }; *k; k++) {
                        const char *id = json_string_value(json_object_get(m, *k));
                        unsigned u;
                        if (id && safe_atou(id, &u) < 0)
                                return plan_error(p, instr, 0, "RUN",
                                                  "mount %s '%s' is not a numeric id", *k, id);
                }
                const char *sharing = json_string_value(json_object_get(m, "sharing"));
                if (sharing && !streq(sharing, "shared") && !streq(sharing, "private") &&
                    !streq(sharing, "locked"))
                        return plan_error(p, instr, 0, "RUN",
                                          "mount sharing '%s' is not valid: expected shared, "
                                          "private or locked",
                                          sharing);
                const char *size = json_string_value(json_object_get(m, "size"));
                uint64_t bytes;
                if (size && parse_size(size, &bytes) < 0)
                        return plan_error(p, instr, 0, "RUN",
                                          "mount size '%s' is not a size (e.g. 64Mi)", size);
                const char *from = json_string_value(json_object_get(m, "from"));
                if (from) {
                        if (isempty(from))
                                return plan_error(p, instr, 0, "RUN",
                                                  "mount from= is empty after expansion");
                        r = set_from_stage(p, instr, "RUN", m, from);
                        if (r < 0)
                                return r;
                }
        }

        env = json_object();
        if (!env || json_object_set_new(o, "build_env", env) < 0)
                return -ENOMEM;
        json_object_foreach (p->args, key, v) {
                const char *val = planner_lookup(key, p);
                if (val && json_object_set_new(env, key, json_string_nocheck(val)) < 0)
                        return -ENOMEM;
        }
        for (const char *const *k = proxy_args; *k; k++)
                if (build_arg(p, *k) && !json_object_get(env, *k) &&
                    json_object_set_new(env, *k, json_string_nocheck(build_arg(p, *k))) < 0)
                        return -ENOMEM;
        return 0;
}

static int plan_pairs(Planner *p, const json_t *instr, const char *cmd, json_t *o) {
        json_t *pairs = json_object_get(o, "pairs"), *pair;
        size_t i;
        int r;

        /* All values of one ENV see the variables as they were before it. */
        json_array_foreach (pairs, i, pair) {
                if (streq(cmd, "LABEL")) {
                        r = expand_in(p, instr, cmd, pair, NULL, 0, DF_EXPAND_WORD);
                        if (r < 0)
                                return r;
                }
                r = expand_in(p, instr, cmd, pair, NULL, 1, DF_EXPAND_WORD);
                if (r < 0)
                        return r;
        }
        if (streq(cmd, "ENV"))
                json_array_foreach (pairs, i, pair)
                        if (json_object_set(p->env, json_string_value(json_array_get(pair, 0)),
                                            json_array_get(pair, 1)) < 0)
                                return -ENOMEM;
        return 0;
}

static int plan_arg(Planner *p, const json_t *instr, json_t *o) {
        const char *name = json_string_value(json_object_get(o, "name"));
        json_t *value;
        int r;

        r = expand_in(p, instr, "ARG", o, "default", 0, DF_EXPAND_WORD);
        if (r < 0)
                return r;
        if (json_is_string(json_object_get(o, "default")))
                value = json_object_get(o, "default");
        else
                value = json_object_get(p->global, name) ?: json_null();
        if (json_object_set(p->args, name, value) < 0)
                return -ENOMEM;
        if (build_arg(p, name) &&
            json_object_set_new(p->stages[p->current].used, name, json_true()) < 0)
                return -ENOMEM;
        const char *eff = planner_lookup(name, p);
        return json_object_set_new(o, "value", eff ? json_string_nocheck(eff) : json_null()) < 0
                       ? -ENOMEM
                       : 0;
}

static int plan_values(Planner *p, const json_t *instr, const char *cmd, json_t *o) {
        _cleanup_(json_decrefp) json_t *values = json_incref(json_object_get(o, "values"));
        json_t *out, *v;
        size_t i;
        int r;

        out = json_array();
        if (!out || json_object_set_new(o, "values", out) < 0)
                return -ENOMEM;
        json_array_foreach (values, i, v) {
                r = expand_in(p, instr, cmd, values, NULL, i, DF_EXPAND_WORD);
                if (r < 0)
                        return r;
                const char *s = json_string_value(v);
                if (streq(cmd, "VOLUME")) {
                        if (isempty(s))
                                return plan_error(p, instr, 0, cmd,
                                                  "VOLUME path is empty after expansion");
                        if (json_array_append(out, v) < 0)
                                return -ENOMEM;
                        continue;
                }
                /* EXPOSE $PORTS may give several ports. */
                _cleanup_free_ char *copy = strdup(s);
                char *save = NULL;
                if (!copy)
                        return -ENOMEM;
                for (char *t = strtok_r(copy, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
                        r = check_value(p, instr, cmd, "EXPOSE port", t, df_check_port);
                        if (r < 0)
                                return r;
                        if (json_array_append_new(out, json_string_nocheck(t)) < 0)
                                return -ENOMEM;
                }
        }
        if (json_array_size(out) == 0)
                return plan_error(p, instr, 0, cmd, "EXPOSE has no port after expansion");
        return 0;
}

static int plan_instruction(Planner *p, const json_t *instr, json_t **ret) {
        _cleanup_(json_decrefp) json_t *o = json_deep_copy(instr);
        const char *cmd = json_string_value(json_object_get(instr, "cmd"));
        int r = 0;

        if (!o)
                return -ENOMEM;
        if (STR_EQ_ANY2(cmd, "COPY", "ADD"))
                r = plan_copy(p, instr, cmd, o);
        else if (streq(cmd, "RUN"))
                r = plan_run(p, instr, o);
        else if (STR_EQ_ANY2(cmd, "ENV", "LABEL"))
                r = plan_pairs(p, instr, cmd, o);
        else if (streq(cmd, "ARG"))
                r = plan_arg(p, instr, o);
        else if (STR_EQ_ANY2(cmd, "EXPOSE", "VOLUME"))
                r = plan_values(p, instr, cmd, o);
        else if (STR_EQ_ANY2(cmd, "WORKDIR", "USER") || streq(cmd, "STOPSIGNAL")) {
                r = expand_in(p, instr, cmd, o, "value", 0, DF_EXPAND_WORD);
                if (r >= 0) {
                        const char *v = json_string_value(json_object_get(o, "value"));
                        if (isempty(v))
                                r = plan_error(p, instr, 0, cmd, "%s is empty after expansion",
                                               cmd);
                        else if (streq(cmd, "STOPSIGNAL"))
                                r = check_value(p, instr, cmd, "STOPSIGNAL", v, df_check_signal);
                }
        }
        if (r < 0)
                return r;
        *ret = TAKE_PTR(o);
        return 0;
}

static int plan_stage(Planner *p, size_t idx) {
        const json_t *st = json_array_get(json_object_get(p->df->json, "stages"), idx);
        StagePlan *sp = p->stages + idx;
        _cleanup_(json_decrefp) json_t *args = json_object();
        _cleanup_free_ char *base = NULL, *platform = NULL, *error = NULL;
        unsigned line = (unsigned) json_integer_value(json_object_get(st, "line"));
        const json_t *in;
        json_t *instructions, *depends;
        int r, base_stage = -1, failed = 0;
        size_t i;

        p->current = idx;
        p->diags = &sp->diags;
        sp->base_stage = -1;
        sp->env = json_object();
        sp->used = json_object();
        sp->deps = calloc(p->n_stages, sizeof(bool));
        if (!args || !sp->env || !sp->used || !sp->deps)
                return -ENOMEM;

        /* FROM sees only the global ARGs. */
        p->global_scope = true;
        r = df_expand(json_string_value(json_object_get(st, "base")), p->df->escape, DF_EXPAND_WORD,
                      planner_lookup, p, &base, &error);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return plan_error(p, NULL, line, "FROM", "cannot expand '%s': %s",
                                  json_string_value(json_object_get(st, "base")), strna(error));
        if (isempty(base))
                return plan_error(p, NULL, line, "FROM", "the image '%s' is empty after expansion",
                                  json_string_value(json_object_get(st, "base")));
        if (json_is_string(json_object_get(st, "platform"))) {
                r = df_expand(json_string_value(json_object_get(st, "platform")), p->df->escape,
                              DF_EXPAND_WORD, planner_lookup, p, &platform, &error);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return plan_error(p, NULL, line, "FROM", "cannot expand --platform: %s",
                                          strna(error));
        }
        p->global_scope = false;
        r = resolve_stage(p, NULL, "FROM", base, false, &base_stage);
        if (r < 0)
                return r;
        sp->base_stage = base_stage;
        if (base_stage >= 0) {
                json_decref(sp->env);
                sp->env = json_deep_copy(p->stages[base_stage].env);
                if (!sp->env)
                        return -ENOMEM;
        }

        sp->out = json_pack("{s:O, s:O, s:O, s:s, s:o, s:o, s:[], s:[]}", "index",
                            json_object_get(st, "index"), "name", json_object_get(st, "name"),
                            "line", json_object_get(st, "line"), "base", base, "base_stage",
                            base_stage >= 0 ? json_integer(base_stage) : json_null(), "platform",
                            !isempty(platform) ? json_string_nocheck(platform) : json_null(),
                            "depends", "instructions");
        if (!sp->out)
                return -ENOMEM;
        instructions = json_object_get(sp->out, "instructions");
        depends = json_object_get(sp->out, "depends");

        p->args = args;
        p->env = sp->env;
        json_array_foreach (json_object_get(st, "instructions"), i, in) {
                json_t *o = NULL;
                r = plan_instruction(p, in, &o);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        failed = r;
                        continue;
                }
                if (json_array_append_new(instructions, o) < 0)
                        return -ENOMEM;
        }
        p->args = NULL;
        p->env = NULL;
        for (size_t d = 0; d < p->n_stages; d++)
                if (sp->deps[d] && json_array_append_new(depends, json_integer((json_int_t) d)) < 0)
                        return -ENOMEM;
        return failed;
}

static void host_platform(const char **ret_arch, const char **ret_variant) {
        struct utsname u;

        *ret_arch = "amd64";
        *ret_variant = "";
        if (uname(&u) < 0)
                return;
        if (streq(u.machine, "aarch64"))
                *ret_arch = "arm64";
        else if (startswith(u.machine, "armv7")) {
                *ret_arch = "arm";
                *ret_variant = "v7";
        } else if (startswith(u.machine, "armv6")) {
                *ret_arch = "arm";
                *ret_variant = "v6";
        } else if (streq(u.machine, "i686") || streq(u.machine, "i386"))
                *ret_arch = "386";
        else if (STR_EQ_ANY2(u.machine, "ppc64le", "s390x") || streq(u.machine, "riscv64"))
                *ret_arch = u.machine[0] == 'p'   ? "ppc64le"
                            : u.machine[0] == 's' ? "s390x"
                                                  : "riscv64";
}

/* The automatic platform ARGs of the global scope, for the machine we run on. */
static int set_platform_args(json_t *global) {
        const char *arch, *variant;
        char platform[64];
        int r = 0;

        host_platform(&arch, &variant);
        snprintf(platform, sizeof platform, "linux/%s%s%s", arch, *variant ? "/" : "", variant);
        for (const char *const *pre = (const char *const[]){ "BUILD", "TARGET", NULL }; *pre;
             pre++) {
                char k[32];
                snprintf(k, sizeof k, "%sPLATFORM", *pre);
                r |= json_object_set_new(global, k, json_string(platform));
                snprintf(k, sizeof k, "%sOS", *pre);
                r |= json_object_set_new(global, k, json_string("linux"));
                snprintf(k, sizeof k, "%sARCH", *pre);
                r |= json_object_set_new(global, k, json_string(arch));
                snprintf(k, sizeof k, "%sVARIANT", *pre);
                r |= json_object_set_new(global, k, json_string(variant));
        }
        return r < 0 ? -ENOMEM : 0;
}

static bool is_automatic_arg(const char *name) {
        static const char *const platform_args[] = {
                "BUILDPLATFORM",  "BUILDOS",  "BUILDARCH",  "BUILDVARIANT",
                "TARGETPLATFORM", "TARGETOS", "TARGETARCH", "TARGETVARIANT",
        };
        for (size_t i = 0; i < ELEMENTSOF(platform_args); i++)
                if (streq(name, platform_args[i]))
                        return true;
        return strv_contains((char *const *) proxy_args, name);
}

static int plan_globals(Planner *p, ZlDiagList *diags) {
        const json_t *a;
        const char *key;
        json_t *v;
        size_t i;
        int r;

        r = set_platform_args(p->global);
        if (r < 0)
                return r;
        json_object_foreach ((json_t *) p->build_args, key, v)
                if (is_automatic_arg(key) && json_object_get(p->global, key) &&
                    json_object_set(p->global, key, v) < 0)
                        return -ENOMEM;

        p->global_scope = true;
        p->diags = diags;
        json_array_foreach (json_object_get(p->df->json, "args"), i, a) {
                const char *name = json_string_value(json_object_get(a, "name"));
                const json_t *def = json_object_get(a, "default");
                _cleanup_free_ char *value = NULL, *error = NULL;

                if (build_arg(p, name)) {
                        value = strdup(build_arg(p, name));
                        if (!value || json_object_set_new(p->global_used, name, json_true()) < 0)
                                return -ENOMEM;
                } else if (json_is_string(def)) {
                        r = df_expand(json_string_value(def), p->df->escape, DF_EXPAND_WORD,
                                      planner_lookup, p, &value, &error);
                        if (r == -ENOMEM)
                                return r;
                        if (r < 0)
                                return plan_error(p, a, 0, "ARG", "cannot expand '%s': %s",
                                                  json_string_value(def), strna(error));
                }
                if (json_object_set_new(p->global, name,
                                        value ? json_string_nocheck(value) : json_null()) < 0)
                        return -ENOMEM;
        }
        p->global_scope = false;
        return 0;
}

static int resolve_target(Planner *p, const char *target, ZlDiagList *diags, size_t *ret) {
        const json_t *stages = json_object_get(p->df->json, "stages");
        unsigned idx;
        json_t *st;
        size_t i;
        char *m = NULL;
        int r;

        if (!target) {
                *ret = p->n_stages - 1;
                return 0;
        }
        if (safe_atou(target, &idx) >= 0) {
                if (idx < p->n_stages) {
                        *ret = idx;
                        return 0;
                }
        } else
                json_array_foreach (stages, i, st) {
                        const char *name = json_string_value(json_object_get(st, "name"));
                        if (name && strcasecmp(name, target) == 0) {
                                *ret = i;
                                return 0;
                        }
                }

        _cleanup_(df_buf_done) DfBuf names = {};
        json_array_foreach (stages, i, st) {
                const char *name = json_string_value(json_object_get(st, "name"));
                if (name) {
                        df_buf_puts(&names, names.n ? ", " : "stages: ");
                        df_buf_puts(&names, name);
                }
        }
        if (asprintf(&m, "unknown target stage '%s'", target) < 0)
                m = NULL;
        r = df_diag(diags, ZL_DIAG_ERROR, 0, 0, "", names.s, m);
        return r < 0 ? r : -EINVAL;
}

static int json_strcmp(const void *a, const void *b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

int zl_dockerfile_plan(const ZlDockerfile *df, const json_t *build_args, const char *target,
                       json_t **ret_plan, ZlDiagList *diags) {
        _cleanup_(json_decrefp) json_t *global = json_object(), *global_used = json_object();
        _cleanup_(json_decrefp) json_t *empty_args = NULL, *plan = NULL;
        ZlDiagList local = {};
        Planner p = {};
        size_t tgt = 0, i;
        bool *selected = NULL;
        int r = 0, failed = 0;

        assert(df);
        assert(ret_plan);
        if (!build_args)
                build_args = empty_args = json_object();
        if (!global || !global_used || !build_args)
                return -ENOMEM;
        if (!json_is_object(build_args))
                return -EINVAL;

        p = (Planner){
                .df = df,
                .build_args = build_args,
                .global = global,
                .global_used = global_used,
                .n_stages = json_array_size(json_object_get(df->json, "stages")),
        };
        p.stages = calloc(p.n_stages, sizeof(StagePlan));
        selected = calloc(p.n_stages, sizeof(bool));
        if (!p.stages || !selected) {
                r = -ENOMEM;
                goto finish;
        }

        r = resolve_target(&p, target, &local, &tgt);
        if (r < 0)
                goto finish;
        r = plan_globals(&p, &local);
        if (r < 0)
                goto finish;
        for (i = 0; i < p.n_stages; i++) {
                r = plan_stage(&p, i);
                if (r == -ENOMEM)
                        goto finish;
        }
        r = 0;

        /* Dependencies come before their users, so one sweep down from the target finds them. */
        selected[tgt] = true;
        for (size_t k = tgt + 1; k-- > 0;) {
                if (!selected[k])
                        continue;
                if (p.stages[k].base_stage >= 0)
                        selected[p.stages[k].base_stage] = true;
                for (size_t d = 0; p.stages[k].deps && d < k; d++)
                        if (p.stages[k].deps[d])
                                selected[d] = true;
        }

        plan = json_pack("{s:I, s:{}, s:[], s:[]}", "target", (json_int_t) tgt, "build_args",
                         "unused_build_args", "stages");
        if (!plan) {
                r = -ENOMEM;
                goto finish;
        }
        for (i = 0; i < p.n_stages; i++) {
                const char *key;
                json_t *v;

                if (!selected[i])
                        continue;
                if (p.stages[i].diags.n_errors > 0 || !p.stages[i].out) {
                        failed = -EINVAL;
                        for (size_t k = 0; k < p.stages[i].diags.n_items; k++) {
                                ZlDiag *d = p.stages[i].diags.items + k;
                                r = df_diag(&local, d->severity, d->line, d->column, d->path,
                                            d->hint, TAKE_PTR(d->message));
                                if (r < 0)
                                        goto finish;
                        }
                        continue;
                }
                json_object_foreach (p.stages[i].used, key, v)
                        if (json_object_set(global_used, key, v) < 0) {
                                r = -ENOMEM;
                                goto finish;
                        }
                if (json_array_append(json_object_get(plan, "stages"), p.stages[i].out) < 0) {
                        r = -ENOMEM;
                        goto finish;
                }
        }

        {
                _cleanup_free_ const char **unused =
                        calloc(json_object_size(build_args) + 1, sizeof(char *));
                size_t n_unused = 0;
                const char *key;
                json_t *v;

                if (!unused) {
                        r = -ENOMEM;
                        goto finish;
                }
                json_object_foreach ((json_t *) build_args, key, v) {
                        if (json_object_get(global_used, key) || is_automatic_arg(key)) {
                                if (json_object_set(json_object_get(plan, "build_args"), key, v) <
                                    0) {
                                        r = -ENOMEM;
                                        goto finish;
                                }
                        } else
                                unused[n_unused++] = key;
                }
                qsort(unused, n_unused, sizeof(char *), json_strcmp);
                for (size_t k = 0; k < n_unused; k++)
                        if (json_array_append_new(json_object_get(plan, "unused_build_args"),
                                                  json_string_nocheck(unused[k])) < 0) {
                                r = -ENOMEM;
                                goto finish;
                        }
        }

finish:
        for (i = 0; p.stages && i < p.n_stages; i++) {
                json_decref(p.stages[i].out);
                json_decref(p.stages[i].env);
                json_decref(p.stages[i].used);
                zl_diag_list_done(&p.stages[i].diags);
                free(p.stages[i].deps);
        }
        free(p.stages);
        free(selected);
        if (r >= 0 && (failed < 0 || local.n_errors > 0))
                r = -EINVAL;
        if (diags && local.n_items > 0) {
                ZlDiag *items =
                        reallocarray(diags->items, diags->n_items + local.n_items, sizeof(ZlDiag));
                if (!items)
                        r = -ENOMEM;
                else {
                        diags->items = items;
                        memcpy(items + diags->n_items, local.items, local.n_items * sizeof(ZlDiag));
                        diags->n_items += local.n_items;
                        diags->n_errors += local.n_errors;
                        local.items = mfree(local.items);
                        local.n_items = local.n_errors = 0;
                }
        }
        zl_diag_list_done(&local);
        if (r < 0)
                return r;
        *ret_plan = TAKE_PTR(plan);
        return 0;
}
