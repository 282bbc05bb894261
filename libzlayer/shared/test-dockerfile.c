/* SPDX-License-Identifier: Apache-2.0 */
/* test-dockerfile.c: Dockerfile parsing, expansion and the plan: the finer points. */
#include <stdio.h>

#include "tests.h"
#include "zlayer/dockerfile.h"

static void diag_list_donep(ZlDiagList *l) {
        zl_diag_list_done(l);
}
#define _cleanup_diags_ _cleanup_(diag_list_donep)

static void dockerfile_freep(ZlDockerfile **df) {
        zl_dockerfile_free(*df);
}
#define _cleanup_dockerfile_ _cleanup_(dockerfile_freep)

/* Expands word with "SET=value", "EMPTY=", PATH, FILE and GLOB and escape; returns the result or
 * the error text, which the caller frees. */
static char *expand(const char *word, char escape, int *ret_r) {
        _cleanup_(json_decrefp) json_t *vars =
                json_pack("{s:s, s:s, s:s, s:s, s:s}", "SET", "value", "EMPTY", "", "PATH", "/bin",
                          "FILE", "/src/app.tar.gz", "GLOB", "*.gz");
        char *out = NULL, *error = NULL;
        int r;

        ASSERT_NOT_NULL(vars);
        r = zl_dockerfile_expand(word, vars, escape, &out, &error);
        *ret_r = r;
        if (r < 0) {
                ASSERT_NULL(out);
                return error;
        }
        ASSERT_NULL(error);
        return out;
}

#define ASSERT_EXPANDS(word, escape, expected)                                                     \
        do {                                                                                       \
                int _r;                                                                            \
                _cleanup_free_ char *_s = expand(word, escape, &_r);                               \
                ASSERT_OK(_r);                                                                     \
                ASSERT_STREQ(_s, expected);                                                        \
        } while (0)

#define ASSERT_EXPAND_FAILS(word, escape, contains)                                                \
        do {                                                                                       \
                int _r;                                                                            \
                _cleanup_free_ char *_s = expand(word, escape, &_r);                               \
                ASSERT_ERROR(_r, EINVAL);                                                          \
                ASSERT_NOT_NULL(_s);                                                               \
                if (!strstr(_s, contains))                                                         \
                        test_fail(__FILE__, __LINE__, "error '%s' lacks '%s'", _s, contains);      \
        } while (0)

TEST(expand_plain_and_braced) {
        ASSERT_EXPANDS("", '\\', "");
        ASSERT_EXPANDS("no vars", '\\', "no vars");
        ASSERT_EXPANDS("$SET", '\\', "value");
        ASSERT_EXPANDS("${SET}", '\\', "value");
        ASSERT_EXPANDS("a${SET}b", '\\', "avalueb");
        ASSERT_EXPANDS("$SET.txt", '\\', "value.txt");
        ASSERT_EXPANDS("$SETX", '\\', ""); /* the longest name, unset */
        ASSERT_EXPANDS("$UNSET", '\\', "");
        ASSERT_EXPANDS("$PATH:/usr/bin", '\\', "/bin:/usr/bin");
        /* A '$' that starts no name is text. */
        ASSERT_EXPANDS("cost: 5$", '\\', "cost: 5$");
        ASSERT_EXPANDS("$-x $/", '\\', "$-x $/");
        /* Positional parameters are never set. */
        ASSERT_EXPANDS("$1abc", '\\', "abc");
}

TEST(expand_modifiers) {
        ASSERT_EXPANDS("${SET:-d}", '\\', "value");
        ASSERT_EXPANDS("${EMPTY:-d}", '\\', "d");
        ASSERT_EXPANDS("${UNSET:-d}", '\\', "d");
        ASSERT_EXPANDS("${SET-d}", '\\', "value");
        ASSERT_EXPANDS("${EMPTY-d}", '\\', "");
        ASSERT_EXPANDS("${UNSET-d}", '\\', "d");
        ASSERT_EXPANDS("${SET:+alt}", '\\', "alt");
        ASSERT_EXPANDS("${EMPTY:+alt}", '\\', "");
        ASSERT_EXPANDS("${UNSET:+alt}", '\\', "");
        ASSERT_EXPANDS("${SET+alt}", '\\', "alt");
        ASSERT_EXPANDS("${EMPTY+alt}", '\\', "alt");
        ASSERT_EXPANDS("${UNSET+alt}", '\\', "");
        ASSERT_EXPANDS("${UNSET:-}", '\\', "");
        ASSERT_EXPANDS("${SET:?must be set}", '\\', "value");
        /* Words inside are words: nested variables, quotes, escapes. */
        ASSERT_EXPANDS("${UNSET:-${EMPTY:-${SET}}}", '\\', "value");
        ASSERT_EXPANDS("${UNSET:-a b}", '\\', "a b");
        ASSERT_EXPANDS("${UNSET:-'$SET'}", '\\', "$SET");
        ASSERT_EXPANDS("${UNSET:-\"}\"}", '\\', "}");
        ASSERT_EXPANDS("${UNSET:-\\}}", '\\', "}");
        ASSERT_EXPANDS("${SET:+x-$SET}", '\\', "x-value");
}

TEST(expand_pattern_removal) {
        ASSERT_EXPANDS("${FILE#*.}", '\\', "tar.gz");
        ASSERT_EXPANDS("${FILE##*.}", '\\', "gz");
        ASSERT_EXPANDS("${FILE%.*}", '\\', "/src/app.tar");
        ASSERT_EXPANDS("${FILE%%.*}", '\\', "/src/app");
        ASSERT_EXPANDS("${FILE##*/}", '\\', "app.tar.gz");
        ASSERT_EXPANDS("${FILE%/*}", '\\', "/src");
        /* '*' matches '/' too, as in the shell. */
        ASSERT_EXPANDS("${FILE#/*a}", '\\', "pp.tar.gz");
        ASSERT_EXPANDS("${FILE##/*a}", '\\', "r.gz");
        /* No match, an empty pattern, unset and empty variables. */
        ASSERT_EXPANDS("${FILE#x*}", '\\', "/src/app.tar.gz");
        ASSERT_EXPANDS("${FILE%}", '\\', "/src/app.tar.gz");
        ASSERT_EXPANDS("${UNSET#*}", '\\', "");
        ASSERT_EXPANDS("${EMPTY%%*}", '\\', "");
        ASSERT_EXPANDS("${SET#value}", '\\', "");
        ASSERT_EXPANDS("${SET%?}", '\\', "valu");
        ASSERT_EXPANDS("${SET#[uv]}", '\\', "alue");
        /* The pattern is a word: variables (patterns unless quoted), quotes, escapes. */
        ASSERT_EXPANDS("${FILE%$GLOB}", '\\', "/src/app.tar");
        ASSERT_EXPANDS("${FILE%\"$GLOB\"}", '\\', "/src/app.tar.gz");
        ASSERT_EXPANDS("${GLOB#\"*\"}", '\\', ".gz");
        ASSERT_EXPANDS("${GLOB#'*'}", '\\', ".gz");
        ASSERT_EXPANDS("${GLOB#\\*}", '\\', ".gz");
        ASSERT_EXPANDS("${FILE%.${UNSET:-gz}}", '\\', "/src/app.tar");
        ASSERT_EXPANDS("${FILE#*\\}}", '\\', "/src/app.tar.gz");
        ASSERT_EXPANDS("\"${FILE##*/}\"", '\\', "app.tar.gz");
        ASSERT_EXPANDS("x${SET%e}y", '\\', "xvaluy");
}

TEST(expand_quotes_and_escapes) {
        ASSERT_EXPANDS("'$SET'", '\\', "$SET");
        ASSERT_EXPANDS("\"$SET\"", '\\', "value");
        ASSERT_EXPANDS("\"a b\"", '\\', "a b");
        ASSERT_EXPANDS("\\$SET", '\\', "$SET");
        ASSERT_EXPANDS("\"\\$SET\"", '\\', "$SET");
        ASSERT_EXPANDS("\"\\\"\"", '\\', "\"");
        /* Inside double quotes other escapes stay. */
        ASSERT_EXPANDS("\"a\\nb\"", '\\', "a\\nb");
        ASSERT_EXPANDS("a\\ b", '\\', "a b");
        ASSERT_EXPANDS("C:\\\\dir", '\\', "C:\\dir");
        ASSERT_EXPANDS("'it''s'", '\\', "its");
        ASSERT_EXPANDS("\"it's\"", '\\', "it's");
        /* A trailing escape is dropped, as Docker does. */
        ASSERT_EXPANDS("abc\\", '\\', "abc");
        /* With the backtick escape a backslash is text. */
        ASSERT_EXPANDS("C:\\dir\\$SET", '`', "C:\\dir\\value");
        ASSERT_EXPANDS("`$SET", '`', "$SET");
        ASSERT_EXPANDS("\"`$SET\"", '`', "$SET");
        ASSERT_EXPANDS("``", '`', "`");
}

TEST(expand_errors) {
        char *out = NULL;

        ASSERT_EXPAND_FAILS("${", '\\', "bad substitution");
        ASSERT_EXPAND_FAILS("${}", '\\', "bad substitution");
        ASSERT_EXPAND_FAILS("${SET", '\\', "missing '}'");
        ASSERT_EXPAND_FAILS("${SET:-x", '\\', "missing '}'");
        ASSERT_EXPAND_FAILS("${SET:#pre}", '\\', "unsupported operator ':#'");
        ASSERT_EXPAND_FAILS("${SET#pre", '\\', "missing '}'");
        ASSERT_EXPAND_FAILS("${SET/a/b}", '\\', "unsupported operator '/'");
        ASSERT_EXPAND_FAILS("${SET:=x}", '\\', "unsupported operator ':='");
        ASSERT_EXPAND_FAILS("${UNSET:?need it}", '\\', "UNSET: need it");
        ASSERT_EXPAND_FAILS("${EMPTY:?}", '\\', "EMPTY: is not set");
        ASSERT_EXPAND_FAILS("'open", '\\', "unterminated single quote");
        ASSERT_EXPAND_FAILS("\"open", '\\', "unterminated double quote");
        ASSERT_EXPAND_FAILS("${UNSET:-'}", '\\', "unterminated single quote");

        /* Deep nesting is refused rather than recursing without bound. */
        _cleanup_free_ char *deep = calloc(1, 100 * 10 + 1);
        ASSERT_NOT_NULL(deep);
        for (int i = 0; i < 100; i++)
                strcat(deep, "${A:-");
        for (int i = 0; i < 100; i++)
                strcat(deep, "}");
        ASSERT_EXPAND_FAILS(deep, '\\', "nested too deeply");

        /* ret_error may be NULL; vars may be NULL; the escape must be one Docker knows. */
        ASSERT_ERROR(zl_dockerfile_expand("${", NULL, '\\', &out, NULL), EINVAL);
        ASSERT_NULL(out);
        ASSERT_OK(zl_dockerfile_expand("${X:-d}", NULL, '\\', &out, NULL));
        ASSERT_STREQ(out, "d");
        free(out);
        out = NULL;
        ASSERT_ERROR(zl_dockerfile_expand("x", NULL, '|', &out, NULL), EINVAL);
}

static ZlDockerfile *parse_ok(const char *text) {
        _cleanup_diags_ ZlDiagList diags = {};
        ZlDockerfile *df = NULL;
        int r;

        r = zl_dockerfile_parse_string(text, strlen(text), "Dockerfile", &df, &diags);
        if (r < 0) {
                for (size_t i = 0; i < diags.n_items; i++)
                        fprintf(stderr, "%u:%u: %s\n", diags.items[i].line, diags.items[i].column,
                                diags.items[i].message);
        }
        ASSERT_OK(r);
        ASSERT_EQ(diags.n_errors, 0);
        return df;
}

static const json_t *instr(const ZlDockerfile *df, size_t stage, size_t i) {
        const json_t *st =
                json_array_get(json_object_get(zl_dockerfile_get_json(df), "stages"), stage);
        const json_t *o = json_array_get(json_object_get(st, "instructions"), i);
        ASSERT_NOT_NULL(o);
        return o;
}

static const char *str(const json_t *o, const char *key) {
        return json_string_value(json_object_get(o, key));
}

static const char *arg0(const json_t *o) {
        return json_string_value(json_array_get(json_object_get(o, "args"), 0));
}

TEST(line_endings_bom_and_continuations) {
        _cleanup_dockerfile_ ZlDockerfile *df = NULL;

        /* BOM, CRLF, whitespace after the escape, blank and comment lines inside, no final
         * newline. */
        df = parse_ok("\xef\xbb\xbf# syntax=x\r\nFROM alpine\r\nRUN a \\  \r\n\r\n  # c\r\n b\r\n"
                      "\tCMD x \\");
        ASSERT_STREQ(str(zl_dockerfile_get_json(df), "syntax"), "x");
        ASSERT_STREQ(arg0(instr(df, 0, 0)), "a  b");
        ASSERT_EQ(json_integer_value(json_object_get(instr(df, 0, 0), "line")), 3);
        ASSERT_EQ(json_integer_value(json_object_get(instr(df, 0, 0), "end_line")), 6);
        /* A continuation at the end of the file ends the instruction. */
        ASSERT_STREQ(arg0(instr(df, 0, 1)), "x");
        ASSERT_STREQ(str(instr(df, 0, 1), "original"), "CMD x");
}

TEST(escape_directive_changes_continuation) {
        _cleanup_dockerfile_ ZlDockerfile *df = NULL;

        df = parse_ok("# Escape=`\nFROM windows\nCOPY a.txt C:\\dir\\\nRUN echo `\n  done\n");
        ASSERT_STREQ(str(zl_dockerfile_get_json(df), "escape"), "`");
        /* A trailing backslash is a path character now, not a continuation. */
        ASSERT_STREQ(str(instr(df, 0, 0), "dest"), "C:\\dir\\");
        ASSERT_STREQ(arg0(instr(df, 0, 1)), "echo   done");
}

TEST(directives_only_at_the_top) {
        _cleanup_dockerfile_ ZlDockerfile *df = NULL, *df2 = NULL;

        /* After a blank line a directive is a comment. */
        df = parse_ok("\n# escape=`\nFROM alpine\n");
        ASSERT_STREQ(str(zl_dockerfile_get_json(df), "escape"), "\\");
        df2 = parse_ok("FROM alpine\n# escape=`\nRUN a \\\n b\n");
        ASSERT_STREQ(str(zl_dockerfile_get_json(df2), "escape"), "\\");
        ASSERT_STREQ(arg0(instr(df2, 0, 0)), "a  b");
}

TEST(heredoc_then_more_instructions) {
        _cleanup_dockerfile_ ZlDockerfile *df = NULL;
        const json_t *hd;

        /* The terminator must be alone on its line; 'EOF ' or 'xEOF' are content. */
        df = parse_ok("FROM alpine\nRUN <<EOF bash -ex\nEOF \nxEOF\n# not a comment\n\nEOF\n"
                      "COPY --chmod=644 <<-END /etc/x\n\t\tline\n\tEND\nUSER app\n");
        hd = json_array_get(json_object_get(instr(df, 0, 0), "heredocs"), 0);
        ASSERT_STREQ(str(hd, "content"), "EOF \nxEOF\n# not a comment\n\n");
        ASSERT_STREQ(arg0(instr(df, 0, 0)), "<<EOF bash -ex");
        hd = json_array_get(json_object_get(instr(df, 0, 1), "heredocs"), 0);
        ASSERT_STREQ(str(hd, "content"), "line\n");
        ASSERT_STREQ(str(instr(df, 0, 2), "value"), "app");
        ASSERT_EQ(json_integer_value(json_object_get(instr(df, 0, 2), "line")), 11);
}

TEST(heredoc_markers_that_are_not) {
        _cleanup_dockerfile_ ZlDockerfile *df = NULL;

        /* '<<' alone, a here-string and exec form are not heredocs. */
        df = parse_ok("FROM alpine\nRUN cat << x\nRUN cat <<<word\nRUN [\"cat\", \"<<EOF\"]\n");
        for (size_t i = 0; i < 3; i++)
                ASSERT_NULL(json_object_get(instr(df, 0, i), "heredocs"));
}

typedef struct DiagWant {
        unsigned line, column;
        const char *path, *contains;
} DiagWant;

static void assert_diags(const char *text, const DiagWant *want, size_t n) {
        _cleanup_diags_ ZlDiagList diags = {};
        ZlDockerfile *df = NULL;

        ASSERT_ERROR(zl_dockerfile_parse_string(text, strlen(text), "Dockerfile", &df, &diags),
                     EINVAL);
        ASSERT_NULL(df);
        if (diags.n_errors != n)
                for (size_t i = 0; i < diags.n_items; i++)
                        fprintf(stderr, "# %u:%u [%s] %s\n", diags.items[i].line,
                                diags.items[i].column, diags.items[i].path, diags.items[i].message);
        ASSERT_EQ(diags.n_errors, n);
        for (size_t i = 0; i < n; i++) {
                ASSERT_EQ(diags.items[i].severity, ZL_DIAG_ERROR);
                ASSERT_EQ(diags.items[i].line, want[i].line);
                ASSERT_EQ(diags.items[i].column, want[i].column);
                ASSERT_STREQ(diags.items[i].path, want[i].path);
                ASSERT_NOT_NULL(strstr(diags.items[i].message, want[i].contains));
        }
}

TEST(diag_positions_and_collection) {
        static const DiagWant want[] = {
                { 2, 3, "", "unknown instruction 'FORM'" },
                { 3, 6, "COPY", "unknown flag --own" },
                { 5, 9, "RUN", "unknown flag --mnt" },
                { 6, 7, "EXPOSE", "EXPOSE needs at least one port" },
        };

        /* Errors are collected across instructions, in file order, each with the column of
         * what is wrong (the flag on a continuation line keeps its own position). */
        assert_diags("FROM alpine\n  FORM x\nCOPY --own=a a b\nRUN \\\n        --mnt=x true\n"
                     "EXPOSE\nUSER ok\n",
                     want, ELEMENTSOF(want));
}

TEST(diag_hints) {
        _cleanup_diags_ ZlDiagList diags = {};
        ZlDockerfile *df = NULL;
        const char *t = "FROM alpine\nCOPY --exclude=*.md . /app\nWROKDIR /x\n";

        ASSERT_ERROR(zl_dockerfile_parse_string(t, strlen(t), NULL, &df, &diags), EINVAL);
        ASSERT_EQ(diags.n_items, 2);
        ASSERT_NOT_NULL(strstr(diags.items[0].hint, ".dockerignore"));
        ASSERT_NOT_NULL(strstr(diags.items[0].message, "--from, --chown, --chmod, --link"));
        ASSERT_STREQ(diags.items[1].hint, "did you mean WORKDIR?");
}

TEST(heredoc_error_names_start_line) {
        static const DiagWant want[] = {
                { 3, 10, "COPY", "heredoc 'B' has no terminator line 'B'" },
        };

        assert_diags("FROM alpine\n# x\nCOPY <<A <<B /x/\na\nA\nb\n", want, 1);
}

TEST(bad_bytes) {
        static const char nul[] = "FROM alpine\nRUN a\0b\n";
        _cleanup_diags_ ZlDiagList diags = {};
        ZlDockerfile *df = NULL;

        ASSERT_ERROR(zl_dockerfile_parse_string(nul, sizeof nul - 1, NULL, &df, &diags), EINVAL);
        ASSERT_EQ(diags.items[0].line, 2);
        ASSERT_NOT_NULL(strstr(diags.items[0].message, "NUL"));
        zl_diag_list_done(&diags);
        ASSERT_ERROR(zl_dockerfile_parse_string("FROM a\n\xff\n", 9, NULL, &df, &diags), EINVAL);
        ASSERT_EQ(diags.items[0].line, 2);
        ASSERT_NOT_NULL(strstr(diags.items[0].message, "UTF-8"));
        /* Empty input and diags NULL. */
        ASSERT_ERROR(zl_dockerfile_parse_string(NULL, 0, NULL, &df, NULL), EINVAL);
        ASSERT_ERROR(zl_dockerfile_parse_string("   \n# c\n", 7, NULL, &df, NULL), EINVAL);
}

TEST(flags) {
        _cleanup_dockerfile_ ZlDockerfile *df = NULL;
        const json_t *f;

        df = parse_ok("FROM --platform=linux/arm64 alpine\n"
                      "COPY --link=false --chown=\"1000:1000\" -- --odd-name /x\n"
                      "RUN --mount=type=secret,target=/run/s/api.key,required "
                      "--mount=type=cache,target=/c,rw,uid=1000,gid=0,mode=0700 true\n"
                      "RUN --mount=type=ssh,id=gh --mount=type=ssh echo\n");
        ASSERT_STREQ(str(json_array_get(json_object_get(zl_dockerfile_get_json(df), "stages"), 0),
                         "platform"),
                     "linux/arm64");
        f = json_object_get(instr(df, 0, 0), "flags");
        ASSERT_TRUE(json_is_false(json_object_get(f, "link")));
        ASSERT_STREQ(str(f, "chown"), "1000:1000");
        ASSERT_STREQ(
                json_string_value(json_array_get(json_object_get(instr(df, 0, 0), "sources"), 0)),
                "--odd-name");
        f = json_object_get(json_object_get(instr(df, 0, 1), "flags"), "mount");
        ASSERT_EQ(json_array_size(f), 2);
        ASSERT_STREQ(str(json_array_get(f, 0), "id"), "api.key");
        ASSERT_TRUE(json_is_true(json_object_get(json_array_get(f, 0), "required")));
        ASSERT_TRUE(json_is_false(json_object_get(json_array_get(f, 1), "readonly")));
        ASSERT_STREQ(str(json_array_get(f, 1), "uid"), "1000");
        f = json_object_get(json_object_get(instr(df, 0, 2), "flags"), "mount");
        ASSERT_STREQ(str(json_array_get(f, 0), "target"), "/run/buildkit/ssh_agent.0");
        ASSERT_STREQ(str(json_array_get(f, 1), "target"), "/run/buildkit/ssh_agent.1");
        ASSERT_STREQ(str(json_array_get(f, 1), "id"), "default");
}

TEST(flag_errors) {
        static const DiagWant want[] = {
                { 2, 6, "COPY", "flag --link takes true or false" },
                { 3, 6, "COPY", "flag --from needs a value" },
                { 4, 16, "COPY", "flag --chown given twice" },
                { 5, 5, "RUN", "mount option 'sharing' is not valid for type=bind" },
                { 6, 5, "RUN", "secret mount needs id= or target=" },
                { 7, 13, "HEALTHCHECK", "flag --timeout cannot be negative" },
                { 8, 13, "HEALTHCHECK", "flag --interval cannot be less than 1ms" },
                { 9, 13, "HEALTHCHECK", "flag --retries takes a non-negative integer" },
                { 10, 36, "HEALTHCHECK", "HEALTHCHECK NONE takes no flags" },
                { 11, 6, "FROM", "unknown flag --arch for FROM; valid flags: --platform" },
        };

        assert_diags("FROM alpine\nCOPY --link=yes a b\nCOPY --from a b\nCOPY --chown=a "
                     "--chown=b a b\nRUN --mount=sharing=locked,target=/x true\n"
                     "RUN --mount=type=secret true\nHEALTHCHECK --timeout=-1s CMD true\n"
                     "HEALTHCHECK --interval=10us CMD true\nHEALTHCHECK --retries=-3 CMD true\n"
                     "HEALTHCHECK --start-period=1.5h30m NONE\nFROM --arch=x y\n",
                     want, ELEMENTSOF(want));
}

static json_t *plan_of(const char *text, const json_t *args, const char *target) {
        _cleanup_dockerfile_ ZlDockerfile *df = parse_ok(text);
        _cleanup_diags_ ZlDiagList diags = {};
        json_t *plan = NULL;
        int r;

        r = zl_dockerfile_plan(df, args, target, &plan, &diags);
        for (size_t i = 0; i < diags.n_items; i++)
                fprintf(stderr, "# %u: %s\n", diags.items[i].line, diags.items[i].message);
        ASSERT_OK(r);
        ASSERT_EQ(diags.n_items, 0);
        return plan;
}

static const json_t *plan_instr(const json_t *plan, size_t stage, size_t i) {
        const json_t *o = json_array_get(
                json_object_get(json_array_get(json_object_get(plan, "stages"), stage),
                                "instructions"),
                i);
        ASSERT_NOT_NULL(o);
        return o;
}

TEST(plan_env_sees_values_before_the_instruction) {
        _cleanup_(json_decrefp) json_t *plan = NULL;
        const json_t *pairs;

        /* Docker: all values of one ENV see the variables as they were before it. */
        plan = plan_of("FROM alpine\nENV abc=hello\nENV abc=bye def=$abc\nENV ghi=$abc\n", NULL,
                       NULL);
        pairs = json_object_get(plan_instr(plan, 0, 1), "pairs");
        ASSERT_STREQ(json_string_value(json_array_get(json_array_get(pairs, 1), 1)), "hello");
        pairs = json_object_get(plan_instr(plan, 0, 2), "pairs");
        ASSERT_STREQ(json_string_value(json_array_get(json_array_get(pairs, 0), 1)), "bye");
}

TEST(plan_arg_scoping) {
        _cleanup_(json_decrefp) json_t *plan = NULL, *args = NULL;
        const json_t *o;

        args = json_pack("{s:s}", "GLOBAL", "cli");
        ASSERT_NOT_NULL(args);
        /* A stage ARG ends with the stage; the next stage must declare it again. */
        plan = plan_of("ARG GLOBAL=g\nARG OTHER=o\nFROM alpine\nARG LOCAL=l\nARG OTHER\n"
                       "RUN x\nFROM alpine\nRUN y\nARG GLOBAL\nARG OTHER=mine\nWORKDIR "
                       "/$GLOBAL/$OTHER/$LOCAL\n",
                       args, NULL);
        ASSERT_EQ(json_array_size(json_object_get(plan, "stages")), 1);
        o = plan_instr(plan, 0, 0);
        ASSERT_EQ(json_object_size(json_object_get(o, "build_env")), 0);
        o = plan_instr(plan, 0, 3);
        ASSERT_STREQ(str(o, "value"), "/cli/mine/");

        json_decref(plan);
        plan = plan_of("ARG GLOBAL=g\nARG OTHER=o\nFROM alpine\nARG LOCAL=l\nARG OTHER\nRUN x\n"
                       "FROM alpine\n",
                       args, "0");
        o = plan_instr(plan, 0, 2);
        ASSERT_STREQ(str(json_object_get(o, "build_env"), "LOCAL"), "l");
        ASSERT_STREQ(str(json_object_get(o, "build_env"), "OTHER"), "o");
        ASSERT_NULL(json_object_get(json_object_get(o, "build_env"), "GLOBAL"));
        /* GLOBAL is declared before FROM, so it counts as used. */
        ASSERT_EQ(json_array_size(json_object_get(plan, "unused_build_args")), 0);
}

TEST(plan_errors) {
        _cleanup_dockerfile_ ZlDockerfile *df = NULL;
        _cleanup_diags_ ZlDiagList diags = {};
        _cleanup_(json_decrefp) json_t *args = json_pack("{s:s}", "NET", "bridge");
        json_t *plan = NULL;

        df = parse_ok("FROM alpine AS a\nARG NET\nRUN --network=$NET x\nCOPY --from=a /x /y\n"
                      "RUN --mount=type=cache,target=/c,uid=$NET true\n"
                      "STOPSIGNAL ${NET}\n");
        ASSERT_ERROR(zl_dockerfile_plan(df, args, NULL, &plan, &diags), EINVAL);
        ASSERT_NULL(plan);
        ASSERT_EQ(diags.n_errors, 4);
        ASSERT_EQ(diags.items[0].line, 3);
        ASSERT_STREQ(diags.items[0].path, "RUN");
        ASSERT_NOT_NULL(strstr(diags.items[0].message, "--network 'bridge'"));
        ASSERT_EQ(diags.items[1].line, 4);
        ASSERT_NOT_NULL(strstr(diags.items[1].message, "stage 'a' cannot use itself"));
        ASSERT_NOT_NULL(strstr(diags.items[2].message, "mount uid 'bridge'"));
        ASSERT_NOT_NULL(strstr(diags.items[3].message, "STOPSIGNAL 'bridge'"));

        /* build_args must be an object. */
        _cleanup_(json_decrefp) json_t *arr = json_array();
        ASSERT_ERROR(zl_dockerfile_plan(df, arr, NULL, &plan, NULL), EINVAL);
}

TEST(parse_file) {
        char path[PATH_MAX];
        ZlDockerfile *df = NULL;
        FILE *f;

        snprintf(path, sizeof path, "%s/missing", test_tmpdir());
        ASSERT_ERROR(zl_dockerfile_parse_file(path, &df, NULL), ENOENT);
        snprintf(path, sizeof path, "%s/Dockerfile", test_tmpdir());
        f = fopen(path, "we");
        ASSERT_NOT_NULL(f);
        fputs("FROM alpine\nCMD [\"sh\"]\n", f);
        fclose(f);
        ASSERT_OK(zl_dockerfile_parse_file(path, &df, NULL));
        ASSERT_STREQ(arg0(instr(df, 0, 0)), "sh");
        ASSERT_NULL(zl_dockerfile_free(df));
        ASSERT_NULL(zl_dockerfile_free(NULL));
}

TEST(exec_form_detection) {
        static const struct {
                const char *line;
                const char *form;
                const char *arg0;
        } cases[] = {
                { "CMD [ ]", "exec", NULL },
                { "CMD [\"a\"]  ", "exec", "a" },
                { "CMD [\"\\u00e9\\ud83d\\ude00\", \"b\"]", "exec", "\xc3\xa9\xf0\x9f\x98\x80" },
                { "CMD [\"a\",]", "shell", "[\"a\",]" },
                { "CMD [\"a\" \"b\"]", "shell", "[\"a\" \"b\"]" },
                { "CMD [\"a\"] x", "shell", "[\"a\"] x" },
                { "CMD [\"a\\u0000\"]", "shell", "[\"a\\u0000\"]" },
                { "CMD [\"\\ud800\"]", "shell", "[\"\\ud800\"]" },
                { "CMD [\"\\x\"]", "shell", "[\"\\x\"]" },
                { "CMD [1]", "shell", "[1]" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_dockerfile_ ZlDockerfile *df = NULL;
                char text[256];

                snprintf(text, sizeof text, "FROM a\n%s\n", cases[i].line);
                df = parse_ok(text);
                ASSERT_STREQ(str(instr(df, 0, 0), "form"), cases[i].form);
                if (cases[i].arg0)
                        ASSERT_STREQ(arg0(instr(df, 0, 0)), cases[i].arg0);
                else
                        ASSERT_EQ(json_array_size(json_object_get(instr(df, 0, 0), "args")), 0);
        }
}
