/* SPDX-License-Identifier: Apache-2.0 */
/* zlayer/spec.h: the deployment spec v1: parse, validate, canonical JSON and YAML. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One parser for daemons and zlctl. Input is YAML (JSON is YAML too). The result of a
 * successful parse is the canonical form: a JSON object with every default filled in,
 * durations as integer milliseconds, sizes as integer bytes, cpu as float cores, file modes as
 * integers, capabilities as "CAP_*" names, signals as "SIG*" names, the init shorthand turned
 * into {steps: [...]}. The canonical form is itself valid input: a document whose top-level
 * mapping is JSON flow style ('{') may give durations as integer milliseconds.
 *
 * Ownership: functions returning char* or json_t* hand a new reference/allocation to the
 * caller unless documented as borrowed. */

typedef struct ZlSpec ZlSpec;

typedef enum ZlDiagSeverity {
        ZL_DIAG_ERROR,
        ZL_DIAG_WARNING,
} ZlDiagSeverity;

/* One finding in a spec file. line and column are 1-based (0 when the finding concerns the
 * whole document, e.g. an empty file). */
typedef struct ZlDiag {
        ZlDiagSeverity severity;
        unsigned line;
        unsigned column;
        char *path; /* key path: "services.web.endpoints[0].port"; "" for the document root */
        char *message; /* what was found and what is allowed, one sentence, no trailing dot */
        char *hint; /* "did you mean 'replicas'?", or NULL */
} ZlDiag;

typedef struct ZlDiagList {
        ZlDiag *items;
        size_t n_items;
        size_t n_errors;
} ZlDiagList;

/* Frees the items; the list may be reused afterwards. */
void zl_diag_list_done(ZlDiagList *l);

/* Parses and validates. filename is used for messages only. On success returns 0 and stores a
 * new spec in *ret (warnings may still be added to diags). If the spec is invalid, returns
 * -EINVAL with every error appended to diags (sorted by line, column) and leaves *ret
 * untouched. Other negative errno: I/O errors (zl_spec_parse_file), -ENOMEM. diags may be
 * NULL when the caller only wants the verdict. */
int zl_spec_parse_file(const char *path, ZlSpec **ret, ZlDiagList *diags);
int zl_spec_parse_string(const char *data, size_t size, const char *filename, ZlSpec **ret,
                         ZlDiagList *diags);

ZlSpec *zl_spec_ref(ZlSpec *spec);
ZlSpec *zl_spec_unref(ZlSpec *spec);

/* Borrowed: the canonical form. Do not modify. */
const json_t *zl_spec_get_json(const ZlSpec *spec);
/* Borrowed: the deployment name. */
const char *zl_spec_get_deployment(const ZlSpec *spec);

/* Canonical JSON text: keys sorted, two-space indent, trailing newline. Same spec, same bytes. */
int zl_spec_dump_json(const ZlSpec *spec, char **ret);
/* The canonical form as block YAML in schema order; durations written with units ("30s",
 * "1h30m") so the file reads naturally and parses back to the same canonical form. */
int zl_spec_dump_yaml(const ZlSpec *spec, char **ret);

/* Cron expressions (services with rtype cron). */
typedef struct ZlCron ZlCron;

/* Parses 5 fields (m h dom mon dow), 6 (seconds first) or 7 (year last), lists, ranges, steps,
 * month and day names, and @hourly @daily @weekly @monthly @yearly (@annually, @midnight).
 * On error returns -EINVAL and, if ret_error is not NULL, a message naming the field. */
int zl_cron_parse(const char *expr, ZlCron **ret, char **ret_error);
ZlCron *zl_cron_free(ZlCron *c);
/* The normalized text: always 7 fields "sec min hour dom mon dow year", numbers, no names. */
const char *zl_cron_normalized(const ZlCron *c);
/* The first fire time strictly after `after` (seconds since the epoch, UTC). -ENOENT if the
 * expression never fires again (e.g. a past year). */
int zl_cron_next(const ZlCron *c, int64_t after, int64_t *ret_next);
