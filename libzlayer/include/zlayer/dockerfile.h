/* SPDX-License-Identifier: Apache-2.0 */
/* zlayer/dockerfile.h: Dockerfile parsing, variable expansion and the build plan. */
#pragma once

#include <jansson.h>
#include <stddef.h>

#include "zlayer/spec.h" /* ZlDiag, ZlDiagList */

/* One parser for zl-buildd, zlctl and zl-apid: a Dockerfile is checked the same way with or
 * without the daemon. Two steps:
 *
 * 1. zl_dockerfile_parse_*() reads the text: parser directives, comments, continuations, heredocs,
 *    JSON (exec) form vs shell form, every instruction with its flags checked. Nothing is
 *    expanded yet. The result is the parsed form (JSON, below).
 * 2. zl_dockerfile_plan() takes build args and a target and returns the build plan: only the
 *    stages the target needs, in the order they must be built, every instruction's arguments
 *    expanded ($V, ${V}, ${V:-x}, ${V:+x}, ${V-x}, ${V+x}) where Docker expands them, with the
 *    precedence --build-arg > ENV > ARG default.
 *
 * Errors go to a ZlDiagList: line and column are 1-based positions in the Dockerfile, path is the
 * instruction keyword in upper case ("COPY") or "" for the file, message says what is wrong and
 * hint, when there is one, the fix.
 *
 * Parsed form (zl_dockerfile_get_json), keys always present unless marked optional:
 *   { "escape": "\\" | "`", "syntax": string|null,
 *     "args": [ {"name", "default": string|null, "line"} ],          global ARGs before FROM
 *     "stages": [ {
 *         "index": n, "name": string|null (lower-cased AS name), "line": n,
 *         "base": string (unexpanded FROM image, "scratch" allowed), "platform": string|null,
 *         "instructions": [ {
 *             "cmd": "RUN" ... (upper case), "line": n (first line), "end_line": n,
 *             "original": the instruction text as written (continuations joined, no heredoc
 *                         bodies), used in progress messages and cache keys,
 *             "flags": { "name": value } ("--chown=a" -> "chown": "a"; repeatable --mount is an
 *                      array of objects {"type": "bind"|"cache"|"tmpfs"|"secret"|"ssh",
 *                      "target", "source"?, "from"?, "id"?, "readonly"?, "sharing"?, "mode"?,
 *                      "uid"?, "gid"?, "required"?, "size"?}, "--link" -> "link": true;
 *                      mount "readonly"/"required" are booleans, the other mount values strings
 *                      as written (checked after expansion); "--keep-git-dir" -> "keep_git_dir"),
 *             "heredocs": [ {"name", "content", "expand": bool, "chomp": bool} ] (optional;
 *                      "content" ends each line with "\n"; with chomp (<<-) its leading tabs are
 *                      already removed; expand is false when any part of the name is quoted),
 *             ... the instruction's own fields:
 *             RUN / CMD / ENTRYPOINT: "form": "exec"|"shell", "args": [strings]
 *                 (shell form: one string, the command line as written)
 *             SHELL: "args": [strings] (exec form only)
 *             COPY / ADD: "sources": [strings], "dest": string (either form; heredoc sources are
 *                 "<<NAME" and refer to "heredocs")
 *             ENV / LABEL: "pairs": [ ["key", "value"] ] (quotes removed, escapes kept for
 *                 expansion)
 *             ARG: "name", "default": string|null ("ARG A B=2" gives one object per name,
 *                 with the same line and original)
 *             WORKDIR / USER / STOPSIGNAL: "value"
 *             EXPOSE / VOLUME: "values": [strings]
 *             HEALTHCHECK: "none": true, or "args" + "form" as CMD, and optional flags
 *                 "interval", "timeout", "start_period", "start_interval" (strings as written),
 *                 "retries" (integer); these are fields of the instruction itself, its "flags"
 *                 stays {}
 *             ONBUILD: "trigger": an instruction object (ONBUILD, FROM and MAINTAINER excluded)
 *             MAINTAINER: "value" (deprecated; kept as a label by the executor)
 *         } ]
 *     } ] }
 *
 * Plan (zl_dockerfile_plan), a new JSON object:
 *   { "target": stage index,
 *     "build_args": {name: value} the ones used, "unused_build_args": [names] (a warning),
 *     "stages": [ {   in build order, dependencies first
 *         "index", "name", "line",
 *         "base": expanded image reference, or "scratch",
 *         "base_stage": index of an earlier stage named in FROM, or null,
 *         "platform": expanded or null,
 *         "depends": [stage indexes used by COPY --from / RUN --mount from=],
 *         "instructions": [ the parsed instruction with arguments expanded for COPY, ADD, ENV,
 *             LABEL, WORKDIR, USER, EXPOSE, VOLUME, STOPSIGNAL, ARG and the flags of COPY/ADD
 *             (--chown, --chmod, --from) and RUN (--mount, --network), plus for RUN
 *             "build_env": {name: value} the ARGs in scope at that point (they reach the
 *             command's environment but not the image), and for COPY/ADD/RUN --mount with a
 *             stage source "from_stage": index (null when from= names an image) (on the COPY/ADD
 *             object, and on each --mount object with from=); ARG gets "value": its
 *             effective value (string|null); COPY/ADD heredocs with expand true are expanded
 *             here and say "expand": false; "build_env" values take precedence over the image
 *             ENV for that RUN (a declared build arg wins over an ENV of the same name) ]
 *     } ] }
 */

typedef struct ZlDockerfile ZlDockerfile;

/* Parse. filename is used in messages only. On success returns 0 and a new ZlDockerfile in *ret
 * (warnings, e.g. MAINTAINER, may be appended to diags). On a syntax error returns -EINVAL with
 * every error appended to diags (sorted by line) and *ret untouched. Other negative errno: I/O
 * errors (zl_dockerfile_parse_file), -ENOMEM. diags may be NULL. */
int zl_dockerfile_parse_string(const char *data, size_t size, const char *filename,
                               ZlDockerfile **ret, ZlDiagList *diags);
int zl_dockerfile_parse_file(const char *path, ZlDockerfile **ret, ZlDiagList *diags);

ZlDockerfile *zl_dockerfile_free(ZlDockerfile *df);

/* Borrowed: the parsed form. Do not modify. */
const json_t *zl_dockerfile_get_json(const ZlDockerfile *df);

/* Expands and selects stages. build_args: JSON object name -> string, or NULL. target: a stage
 * name or index ("0"), NULL for the last stage. Errors (-EINVAL with diags): unknown target,
 * FROM or --from naming an unknown or later stage, a dependency cycle, a variable expansion
 * syntax error (bad ${...}), an empty image reference after expansion, an invalid --chown/
 * --chmod value. */
int zl_dockerfile_plan(const ZlDockerfile *df, const json_t *build_args, const char *target,
                       json_t **ret_plan, ZlDiagList *diags);

/* Expands one word with the variables in vars (JSON object name -> string) and the escape
 * character of the file: the building block of zl_dockerfile_plan(), exposed for the executor
 * (e.g. heredocs with expand true). -EINVAL with *ret_error set for a bad ${...}. */
int zl_dockerfile_expand(const char *word, const json_t *vars, char escape, char **ret,
                         char **ret_error);
