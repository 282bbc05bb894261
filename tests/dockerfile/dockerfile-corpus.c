/* SPDX-License-Identifier: Apache-2.0 */
/* dockerfile-corpus.c: runs the Dockerfile corpus (TAP), or dumps one file's parsed form or
 * plan as JSON for writing and checking expectations. */
#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "fileio.h"
#include "macro.h"
#include "string-util.h"
#include "zlayer/dockerfile.h"

/* The corpus brief asks for at least this many cases; fewer means files went missing. */
#define CORPUS_MIN_CASES 40

static void diag_list_donep(ZlDiagList *l) {
        zl_diag_list_done(l);
}

static void dockerfile_freep(ZlDockerfile **df) {
        zl_dockerfile_free(*df);
}

static void print_diags(FILE *f, const ZlDiagList *l, const char *prefix) {
        for (size_t i = 0; i < l->n_items; i++) {
                const ZlDiag *d = l->items + i;
                fprintf(f, "%s%u:%u: %s: %s%s%s%s\n", prefix, d->line, d->column,
                        d->severity == ZL_DIAG_ERROR ? "error" : "warning", d->message,
                        d->hint ? " (" : "", strempty(d->hint), d->hint ? ")" : "");
        }
}

/* expected is a subset of actual: objects may leave keys out, arrays must match in length. */
static bool json_subset(const json_t *expected, const json_t *actual, char *where, size_t n) {
        const char *key;
        json_t *v;
        size_t i;

        if (json_is_object(expected)) {
                if (!json_is_object(actual))
                        return false;
                json_object_foreach ((json_t *) expected, key, v) {
                        size_t len = strlen(where);
                        snprintf(where + len, n - len, ".%s", key);
                        if (!json_subset(v, json_object_get(actual, key), where, n))
                                return false;
                        where[len] = '\0';
                }
                return true;
        }
        if (json_is_array(expected)) {
                if (!json_is_array(actual) || json_array_size(actual) != json_array_size(expected))
                        return false;
                json_array_foreach ((json_t *) expected, i, v) {
                        size_t len = strlen(where);
                        snprintf(where + len, n - len, "[%zu]", i);
                        if (!json_subset(v, json_array_get(actual, i), where, n))
                                return false;
                        where[len] = '\0';
                }
                return true;
        }
        return actual && json_equal((json_t *) expected, (json_t *) actual);
}

static bool diags_match(const ZlDiagList *l, const json_t *want, ZlDiagSeverity severity) {
        json_int_t line = json_integer_value(json_object_get(want, "line"));
        const char *contains = json_string_value(json_object_get(want, "contains"));

        for (size_t i = 0; i < l->n_items; i++) {
                const ZlDiag *d = l->items + i;
                if (d->severity == severity && (json_int_t) d->line == line &&
                    (!contains || strstr(d->message, contains)))
                        return true;
        }
        return false;
}

/* Runs one case. Returns 1 when it passes, 0 when it fails (with a diagnosis on stdout). */
static int run_case(const char *dir, const char *name) {
        _cleanup_(dockerfile_freep) ZlDockerfile *df = NULL;
        _cleanup_(diag_list_donep) ZlDiagList diags = {};
        _cleanup_(json_decrefp) json_t *spec = NULL, *plan = NULL;
        _cleanup_free_ char *df_path = NULL, *json_path = NULL;
        const json_t *error, *expect, *warning, *actual;
        const char *check;
        json_error_t jerr;
        char where[512] = "";
        int r;

        if (asprintf(&df_path, "%s/%s.Dockerfile", dir, name) < 0 ||
            asprintf(&json_path, "%s/%s.json", dir, name) < 0)
                return 0;
        spec = json_load_file(json_path, 0, &jerr);
        if (!spec) {
                printf("# %s: %s\n", json_path, jerr.text);
                return 0;
        }
        error = json_object_get(spec, "error");
        expect = json_object_get(spec, "expect");
        warning = json_object_get(spec, "warning");
        check = json_string_value(json_object_get(spec, "check")) ?: "parsed";

        r = zl_dockerfile_parse_file(df_path, &df, &diags);
        if (r >= 0 && (streq(check, "plan") || error))
                r = zl_dockerfile_plan(df, json_object_get(spec, "args"),
                                       json_string_value(json_object_get(spec, "target")), &plan,
                                       &diags);
        if (error) {
                if (r != -EINVAL || !diags_match(&diags, error, ZL_DIAG_ERROR)) {
                        printf("# %s: expected error at line %d containing '%s', got %d\n", name,
                               (int) json_integer_value(json_object_get(error, "line")),
                               strna(json_string_value(json_object_get(error, "contains"))), r);
                        print_diags(stdout, &diags, "#   ");
                        return 0;
                }
                return 1;
        }
        if (r < 0) {
                printf("# %s: unexpected failure %d\n", name, r);
                print_diags(stdout, &diags, "#   ");
                return 0;
        }
        if (diags.n_errors > 0) {
                printf("# %s: success with errors\n", name);
                return 0;
        }
        if (warning && !diags_match(&diags, warning, ZL_DIAG_WARNING)) {
                printf("# %s: expected warning missing\n", name);
                print_diags(stdout, &diags, "#   ");
                return 0;
        }
        actual = streq(check, "plan") ? plan : zl_dockerfile_get_json(df);
        if (!expect || !json_subset(expect, actual, where, sizeof where)) {
                _cleanup_free_ char *dump = json_dumps(actual, JSON_INDENT(2) | JSON_SORT_KEYS);
                printf("# %s: %s differs at '%s'; actual:\n", name, check, where);
                for (char *l = dump, *save = NULL; (l = strtok_r(l, "\n", &save)); l = NULL)
                        printf("#   %s\n", l);
                return 0;
        }
        return 1;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static int run_corpus(const char *dir) {
        _cleanup_strv_free_ char **names = NULL;
        int failed = 0;
        DIR *d;

        d = opendir(dir);
        if (!d) {
                printf("1..0 # SKIP cannot open %s: %m\n", dir);
                return EXIT_FAILURE;
        }
        for (struct dirent *de; (de = readdir(d));) {
                const char *e = endswith(de->d_name, ".Dockerfile");
                if (!e)
                        continue;
                if (strv_consume(&names, strndup(de->d_name, e - de->d_name)) < 0) {
                        closedir(d);
                        return EXIT_FAILURE;
                }
        }
        closedir(d);

        size_t n = strv_length(names);
        qsort(names, n, sizeof(char *), cmp_str);
        printf("1..%zu\n", n + 1);
        for (size_t i = 0; i < n; i++) {
                int ok = run_case(dir, names[i]);
                printf("%s %zu - %s\n", ok ? "ok" : "not ok", i + 1, names[i]);
                failed += !ok;
        }
        printf("%s %zu - at least %d cases (%zu)\n", n >= CORPUS_MIN_CASES ? "ok" : "not ok", n + 1,
               CORPUS_MIN_CASES, n);
        return failed || n < CORPUS_MIN_CASES ? EXIT_FAILURE : EXIT_SUCCESS;
}

static int dump(const char *path, bool want_plan, const char *target, json_t *args) {
        _cleanup_(dockerfile_freep) ZlDockerfile *df = NULL;
        _cleanup_(diag_list_donep) ZlDiagList diags = {};
        _cleanup_(json_decrefp) json_t *plan = NULL;
        int r;

        r = zl_dockerfile_parse_file(path, &df, &diags);
        if (r >= 0 && want_plan)
                r = zl_dockerfile_plan(df, args, target, &plan, &diags);
        print_diags(stderr, &diags, "");
        if (r < 0) {
                fprintf(stderr, "%s: %s\n", path, strerror(-r));
                return EXIT_FAILURE;
        }
        json_dumpf(want_plan ? plan : zl_dockerfile_get_json(df), stdout,
                   JSON_INDENT(2) | JSON_SORT_KEYS);
        putchar('\n');
        return EXIT_SUCCESS;
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "dump", no_argument, NULL, 'd' },
                { "plan", no_argument, NULL, 'p' },
                { "target", required_argument, NULL, 't' },
                { "build-arg", required_argument, NULL, 'a' },
                {},
        };
        _cleanup_(json_decrefp) json_t *args = json_object();
        bool do_dump = false, want_plan = false;
        const char *target = NULL;
        int c;

        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0) {
                switch (c) {
                case 'd':
                        do_dump = true;
                        break;
                case 'p':
                        want_plan = do_dump = true;
                        break;
                case 't':
                        target = optarg;
                        break;
                case 'a': {
                        char *eq = strchr(optarg, '=');
                        if (!eq) {
                                fprintf(stderr, "--build-arg takes NAME=VALUE\n");
                                return EXIT_FAILURE;
                        }
                        *eq = '\0';
                        json_object_set_new(args, optarg, json_string(eq + 1));
                        break;
                }
                default:
                        return EXIT_FAILURE;
                }
        }
        if (optind != argc - 1) {
                fprintf(stderr,
                        "usage: %s DIR | --dump [--plan] [--target T] [--build-arg K=V] "
                        "FILE\n",
                        argv[0]);
                return EXIT_FAILURE;
        }
        if (do_dump)
                return dump(argv[optind], want_plan, target, args);
        return run_corpus(argv[optind]);
}
