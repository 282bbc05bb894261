/* SPDX-License-Identifier: Apache-2.0 */
/* test-spec-corpus.c: the spec corpus: valid cases against canonical JSON and round trips,
 * invalid cases against their expected diagnostics. */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "macro.h"
#include "string-util.h"
#include "tests.h"
#include "zlayer/spec.h"

/* The brief for the corpus asks for at least this many cases; fewer means files went missing. */
#define CORPUS_MIN_CASES 90

static void diag_list_donep(ZlDiagList *l) {
        zl_diag_list_done(l);
}
#define _cleanup_diags_ _cleanup_(diag_list_donep)

static void spec_unrefp(ZlSpec **s) {
        if (*s)
                zl_spec_unref(*s);
}
#define _cleanup_spec_ _cleanup_(spec_unrefp)

static void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}

static void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}

typedef struct CaseList {
        char **names;
        size_t n;
} CaseList;

static void case_list_done(CaseList *l) {
        for (size_t i = 0; i < l->n; i++)
                free(l->names[i]);
        l->names = mfree(l->names);
        l->n = 0;
}

static int read_text(const char *path, char **ret, size_t *ret_size) {
        _cleanup_(fclosep) FILE *f = NULL;
        _cleanup_free_ char *buf = NULL;
        size_t n = 0, allocated = 0;

        f = fopen(path, "re");
        if (!f)
                return -errno;
        for (;;) {
                size_t k;

                if (allocated - n < 4096) {
                        char *p = realloc(buf, allocated + 65536);

                        if (!p)
                                return -ENOMEM;
                        buf = p;
                        allocated += 65536;
                }
                k = fread(buf + n, 1, allocated - n - 1, f);
                n += k;
                if (k == 0)
                        break;
        }
        if (ferror(f))
                return -EIO;
        buf[n] = '\0';
        *ret = TAKE_PTR(buf);
        if (ret_size)
                *ret_size = n;
        return 0;
}

static int name_cmp(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The subdirectories of dir, sorted, so that output is stable. */
static int list_cases(const char *dir, CaseList *ret) {
        _cleanup_(closedirp) DIR *d = NULL;
        CaseList l = {};
        struct dirent *de;

        d = opendir(dir);
        if (!d)
                return -errno;
        while ((de = readdir(d))) {
                char **p;

                if (de->d_name[0] == '.' || de->d_type != DT_DIR)
                        continue;
                p = realloc(l.names, (l.n + 1) * sizeof(char *));
                if (!p) {
                        case_list_done(&l);
                        return -ENOMEM;
                }
                l.names = p;
                l.names[l.n] = strdup(de->d_name);
                if (!l.names[l.n]) {
                        case_list_done(&l);
                        return -ENOMEM;
                }
                l.n++;
        }
        if (l.n > 0)
                qsort(l.names, l.n, sizeof(char *), name_cmp);
        *ret = l;
        return 0;
}

static char *path_of(const char *a, const char *b, const char *c) {
        char *p = NULL;

        if (asprintf(&p, "%s/%s%s%s", a, b, c ? "/" : "", strempty(c)) < 0)
                return NULL;
        return p;
}

/* With ZL_CORPUS_ACTUAL_DIR set, what the parser produced is written there
 * (<dir>/<kind>/<case>/<file>), which makes reviewing a changed expectation a diff away. */
static void save_actual(const char *kind, const char *name, const char *file, const char *data) {
        const char *base = getenv("ZL_CORPUS_ACTUAL_DIR");
        _cleanup_free_ char *dir = NULL, *path = NULL;
        _cleanup_(fclosep) FILE *f = NULL;

        if (!base)
                return;
        if (asprintf(&dir, "%s/%s", base, kind) < 0)
                return;
        (void) mkdir(base, 0755);
        (void) mkdir(dir, 0755);
        dir = mfree(dir);
        if (asprintf(&dir, "%s/%s/%s", base, kind, name) < 0)
                return;
        (void) mkdir(dir, 0755);
        path = path_of(dir, file, NULL);
        if (!path)
                return;
        f = fopen(path, "we");
        if (f)
                fputs(data, f);
}

static void print_diags(const char *prefix, const ZlDiagList *l) {
        for (size_t i = 0; i < l->n_items; i++) {
                const ZlDiag *d = &l->items[i];

                printf("#   %s%u:%u %s: %s: %s%s%s%s\n", prefix, d->line, d->column,
                       isempty(d->path) ? "-" : d->path,
                       d->severity == ZL_DIAG_ERROR ? "error" : "warning", strna(d->message),
                       d->hint ? " (" : "", strempty(d->hint), d->hint ? ")" : "");
        }
}

/* Prints the first line where two texts differ. */
static void print_first_difference(const char *what, const char *expected, const char *got) {
        unsigned line = 1;
        const char *e = expected, *g = got;

        while (*e && *g && *e == *g) {
                if (*e == '\n') {
                        line++;
                        expected = e + 1;
                        got = g + 1;
                }
                e++;
                g++;
        }
        printf("#   %s differs at line %u:\n#     expected: %.*s\n#     got:      %.*s\n", what,
               line, (int) strcspn(expected, "\n"), expected, (int) strcspn(got, "\n"), got);
}

/* Parses text and returns its canonical JSON dump, or NULL (after printing why). */
static char *reparse(const char *name, const char *what, const char *text) {
        _cleanup_spec_ ZlSpec *spec = NULL;
        _cleanup_diags_ ZlDiagList diags = {};
        char *json = NULL;
        int r;

        r = zl_spec_parse_string(text, strlen(text), what, &spec, &diags);
        if (r < 0) {
                printf("# valid/%s: parsing the %s failed: %s\n", name, what, strerror(-r));
                print_diags("", &diags);
                printf("#   the %s was:\n%s", what, text);
                return NULL;
        }
        r = zl_spec_dump_json(spec, &json);
        if (r < 0) {
                printf("# valid/%s: dump_json after parsing the %s failed: %s\n", name, what,
                       strerror(-r));
                return NULL;
        }
        return json;
}

static bool check_valid_file(const char *kind, const char *name, const char *input,
                             const char *expected_path) {
        _cleanup_spec_ ZlSpec *spec = NULL;
        _cleanup_diags_ ZlDiagList diags = {};
        _cleanup_free_ char *expected = NULL, *json = NULL, *yaml = NULL, *from_yaml = NULL,
                            *from_json = NULL;
        const char *deployment;
        bool ok = true;
        int r;

        r = zl_spec_parse_file(input, &spec, &diags);
        if (r < 0) {
                printf("# %s/%s: parse failed: %s\n", kind, name, strerror(-r));
                print_diags("", &diags);
                return false;
        }
        if (diags.n_errors > 0) {
                printf("# %s/%s: parse succeeded but reported %zu errors\n", kind, name,
                       diags.n_errors);
                print_diags("", &diags);
                ok = false;
        }

        r = zl_spec_dump_json(spec, &json);
        if (r < 0) {
                printf("# %s/%s: dump_json failed: %s\n", kind, name, strerror(-r));
                return false;
        }
        save_actual(kind, name, "actual.json", json);

        deployment = json_string_value(json_object_get(zl_spec_get_json(spec), "deployment"));
        if (!deployment || !zl_spec_get_deployment(spec) ||
            !streq(deployment, zl_spec_get_deployment(spec))) {
                printf("# %s/%s: zl_spec_get_deployment() disagrees with the canonical JSON\n",
                       kind, name);
                ok = false;
        }

        if (expected_path) {
                r = read_text(expected_path, &expected, NULL);
                if (r < 0) {
                        printf("# %s/%s: cannot read expected.json: %s\n", kind, name,
                               strerror(-r));
                        return false;
                }
                if (!streq(json, expected)) {
                        printf("# %s/%s: canonical JSON mismatch\n", kind, name);
                        print_first_difference("dump_json", expected, json);
                        ok = false;
                }
        }

        r = zl_spec_dump_yaml(spec, &yaml);
        if (r < 0) {
                printf("# %s/%s: dump_yaml failed: %s\n", kind, name, strerror(-r));
                return false;
        }
        save_actual(kind, name, "actual.yaml", yaml);

        from_yaml = reparse(name, "YAML dump", yaml);
        if (!from_yaml)
                ok = false;
        else if (!streq(from_yaml, json)) {
                printf("# %s/%s: parse(dump_yaml) gives a different canonical form\n", kind, name);
                print_first_difference("round trip through YAML", json, from_yaml);
                ok = false;
        }

        from_json = reparse(name, "JSON dump", json);
        if (!from_json)
                ok = false;
        else if (!streq(from_json, json)) {
                printf("# %s/%s: parse(dump_json) gives a different canonical form\n", kind, name);
                print_first_difference("round trip through JSON", json, from_json);
                ok = false;
        }

        return ok;
}

static bool check_valid(const char *dir, const char *name) {
        _cleanup_free_ char *input = path_of(dir, name, "input.yaml"),
                            *expected = path_of(dir, name, "expected.json");

        if (!input || !expected) {
                printf("# valid/%s: out of memory\n", name);
                return false;
        }
        return check_valid_file("valid", name, input, expected);
}

typedef struct ExpectedError {
        unsigned line;
        unsigned column;
        char *path;
        char *substring; /* or NULL */
} ExpectedError;

typedef struct ExpectedErrors {
        ExpectedError *items;
        size_t n;
} ExpectedErrors;

static void expected_errors_done(ExpectedErrors *e) {
        for (size_t i = 0; i < e->n; i++) {
                free(e->items[i].path);
                free(e->items[i].substring);
        }
        e->items = mfree(e->items);
        e->n = 0;
}

/* One error a line: "LINE:COLUMN PATH" with an optional " ~ SUBSTRING"; PATH "-" is the root.
 * Blank lines and lines starting with '#' are skipped. */
static int parse_expected_errors(char *text, ExpectedErrors *ret, unsigned *ret_bad_line) {
        ExpectedErrors e = {};
        unsigned lineno = 0;
        char *save = NULL;

        for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                ExpectedError x = {};
                ExpectedError *p;
                char *sub, *space;
                int consumed = 0;

                lineno++;
                if (l[0] == '\0' || l[0] == '#')
                        continue;
                if (sscanf(l, "%u:%u %n", &x.line, &x.column, &consumed) != 2 || consumed == 0)
                        goto bad;
                l += consumed;
                sub = strstr(l, " ~ ");
                if (sub) {
                        *sub = '\0';
                        sub += 3;
                }
                space = strchr(l, ' ');
                if (space || l[0] == '\0')
                        goto bad;
                p = realloc(e.items, (e.n + 1) * sizeof(ExpectedError));
                if (!p) {
                        expected_errors_done(&e);
                        return -ENOMEM;
                }
                e.items = p;
                x.path = strdup(streq(l, "-") ? "" : l);
                x.substring = sub ? strdup(sub) : NULL;
                e.items[e.n++] = x;
                if (!x.path || (sub && !x.substring)) {
                        expected_errors_done(&e);
                        return -ENOMEM;
                }
                continue;
bad:
                expected_errors_done(&e);
                *ret_bad_line = lineno;
                return -EINVAL;
        }
        *ret = e;
        return 0;
}

static bool diag_matches(const ZlDiag *d, const ExpectedError *x) {
        if (d->line != x->line || d->column != x->column || !streq(strempty(d->path), x->path))
                return false;
        if (!x->substring)
                return true;
        return (d->message && strstr(d->message, x->substring)) ||
               (d->hint && strstr(d->hint, x->substring));
}

static void diags_to_text(const ZlDiagList *l, char **ret) {
        char *s = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&s, &n);

        *ret = NULL;
        if (!f)
                return;
        for (size_t i = 0; i < l->n_items; i++)
                if (l->items[i].severity == ZL_DIAG_ERROR)
                        fprintf(f, "%u:%u %s # %s%s%s\n", l->items[i].line, l->items[i].column,
                                isempty(l->items[i].path) ? "-" : l->items[i].path,
                                strna(l->items[i].message), l->items[i].hint ? " | " : "",
                                strempty(l->items[i].hint));
        if (fclose(f) == 0)
                *ret = s;
        else
                free(s);
}

static bool check_invalid(const char *dir, const char *name) {
        _cleanup_free_ char *input = path_of(dir, name, "input.yaml"),
                            *errors_path = path_of(dir, name, "expected-errors"),
                            *errors_text = NULL, *actual = NULL;
        _cleanup_(expected_errors_done) ExpectedErrors expected = {};
        _cleanup_diags_ ZlDiagList diags = {};
        ZlSpec *spec = NULL;
        unsigned bad_line = 0;
        size_t n_errors = 0, j = 0;
        bool ok = true;
        int r;

        if (!input || !errors_path) {
                printf("# invalid/%s: out of memory\n", name);
                return false;
        }
        r = read_text(errors_path, &errors_text, NULL);
        if (r < 0) {
                printf("# invalid/%s: cannot read expected-errors: %s\n", name, strerror(-r));
                return false;
        }
        r = parse_expected_errors(errors_text, &expected, &bad_line);
        if (r < 0) {
                printf("# invalid/%s: expected-errors line %u is malformed\n", name, bad_line);
                return false;
        }
        if (expected.n == 0) {
                printf("# invalid/%s: expected-errors lists no error\n", name);
                return false;
        }

        /* The verdict alone, without a diagnostics list, must be the same. */
        r = zl_spec_parse_file(input, &spec, NULL);
        if (r != -EINVAL || spec) {
                printf("# invalid/%s: without diags: expected -EINVAL and no spec, got %d%s\n",
                       name, r, spec ? " and a spec" : "");
                spec = zl_spec_unref(spec);
                ok = false;
        }

        r = zl_spec_parse_file(input, &spec, &diags);
        diags_to_text(&diags, &actual);
        if (actual)
                save_actual("invalid", name, "actual-errors", actual);
        if (r != -EINVAL) {
                printf("# invalid/%s: expected -EINVAL, got %d (%s)\n", name, r,
                       r < 0 ? strerror(-r) : "success");
                spec = zl_spec_unref(spec);
                return false;
        }
        if (spec) {
                printf("# invalid/%s: a spec was returned although parsing failed\n", name);
                spec = zl_spec_unref(spec);
                ok = false;
        }

        for (size_t i = 0; i < diags.n_items; i++)
                if (diags.items[i].severity == ZL_DIAG_ERROR)
                        n_errors++;
        if (n_errors != diags.n_errors) {
                printf("# invalid/%s: n_errors is %zu but %zu items are errors\n", name,
                       diags.n_errors, n_errors);
                ok = false;
        }
        if (n_errors != expected.n)
                ok = false;
        for (size_t i = 0; i < diags.n_items && j < expected.n; i++) {
                if (diags.items[i].severity != ZL_DIAG_ERROR)
                        continue;
                if (!diag_matches(&diags.items[i], &expected.items[j]))
                        ok = false;
                j++;
        }

        if (!ok) {
                printf("# invalid/%s: diagnostics differ from expected-errors\n", name);
                for (size_t i = 0; i < expected.n; i++)
                        printf("#   expected %u:%u %s%s%s\n", expected.items[i].line,
                               expected.items[i].column,
                               isempty(expected.items[i].path) ? "-" : expected.items[i].path,
                               expected.items[i].substring ? " ~ " : "",
                               strempty(expected.items[i].substring));
                print_diags("got ", &diags);
        }
        return ok;
}

static size_t run_dir(const char *kind, bool (*check)(const char *dir, const char *name),
                      size_t *ret_failed) {
        _cleanup_free_ char *dir = path_of(test_srcdir(), "spec", kind);
        _cleanup_(case_list_done) CaseList cases = {};
        size_t failed = 0;
        int r;

        ASSERT_NOT_NULL(dir);
        r = list_cases(dir, &cases);
        if (r < 0)
                test_fail(__FILE__, __LINE__, "Cannot list %s: %s", dir, strerror(-r));
        for (size_t i = 0; i < cases.n; i++)
                if (!check(dir, cases.names[i]))
                        failed++;
        printf("# %s: %zu cases, %zu failed\n", kind, cases.n, failed);
        *ret_failed = failed;
        return cases.n;
}

TEST(valid_cases) {
        size_t failed, n;

        n = run_dir("valid", check_valid, &failed);
        ASSERT_GT(n, 0);
        ASSERT_EQ(failed, 0);
}

TEST(invalid_cases) {
        size_t failed, n;

        n = run_dir("invalid", check_invalid, &failed);
        ASSERT_GT(n, 0);
        ASSERT_EQ(failed, 0);
}

TEST(corpus_size) {
        _cleanup_(case_list_done) CaseList valid = {}, invalid = {};
        _cleanup_free_ char *v = path_of(test_srcdir(), "spec", "valid"),
                            *i = path_of(test_srcdir(), "spec", "invalid");

        ASSERT_NOT_NULL(v);
        ASSERT_NOT_NULL(i);
        ASSERT_OK(list_cases(v, &valid));
        ASSERT_OK(list_cases(i, &invalid));
        ASSERT_GE(valid.n + invalid.n, CORPUS_MIN_CASES);
}

/* The shipped examples (the .yaml files in examples/, beside tests/) must parse and round trip.
 * Their exact canonical form is not pinned: they change with the docs. */
TEST(examples) {
        _cleanup_free_ char *dir = path_of(test_srcdir(), "..", "examples");
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;
        size_t n = 0, failed = 0;

        ASSERT_NOT_NULL(dir);
        d = opendir(dir);
        if (!d)
                test_fail(__FILE__, __LINE__, "Cannot open %s: %m", dir);
        while ((de = readdir(d))) {
                _cleanup_free_ char *path = NULL;

                if (de->d_name[0] == '.' || !endswith(de->d_name, ".yaml"))
                        continue;
                path = path_of(dir, de->d_name, NULL);
                ASSERT_NOT_NULL(path);
                n++;
                if (!check_valid_file("examples", de->d_name, path, NULL))
                        failed++;
        }
        printf("# examples: %zu files, %zu failed\n", n, failed);
        ASSERT_GT(n, 0);
        ASSERT_EQ(failed, 0);
}
