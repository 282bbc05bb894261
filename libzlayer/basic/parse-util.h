/* SPDX-License-Identifier: Apache-2.0 */
/* parse-util.h: parsers for the scalar syntaxes of the spec and the command line. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* All parsers take the whole string (no leading/trailing whitespace allowed), write the result
 * only on success, and return 0 or a negative errno:
 *   -EINVAL  malformed
 *   -ERANGE  well-formed but out of the allowed range (overflow, zero where > 0 is required)
 *   -EDOM    a bare number where a unit is required (durations): callers suggest "30s". */

/* Integers in base 10, no sign for unsigned, no leading '+', no whitespace. */
int safe_atou64(const char *s, uint64_t *ret);
int safe_atoi64(const char *s, int64_t *ret);
int safe_atou(const char *s, unsigned *ret);
int safe_atoi(const char *s, int *ret);

/* "100ms", "30s", "5m", "1h30m", "2d", "1h 30m" is rejected (no spaces); units ms s m h d, each
 * at most once, in decreasing order; components are non-negative integers; the total must fit
 * in uint64 milliseconds. "0s" is allowed (0). A bare number ("30") gives -EDOM. */
int parse_duration_ms(const char *s, uint64_t *ret_ms);
/* Formats as the shortest unit string that parse_duration_ms reads back exactly: 0 -> "0s",
 * 250 -> "250ms", 90000 -> "1m30s", 5400000 -> "1h30m", 86400000 -> "1d". buf must hold at
 * least DURATION_MAX_LEN bytes. Returns buf. */
#define DURATION_MAX_LEN 64
char *format_duration_ms(uint64_t ms, char *buf, size_t len);

/* Sizes: plain integer bytes, or a number with K M G T (powers of 1000) or Ki Mi Gi Ti (powers
 * of 1024); a suffix "B", lower case units and spaces are not accepted. With a unit the number
 * may have a decimal fraction ("1.5Gi") if the result is a whole number of bytes ("1.3Ki" is
 * -EINVAL, as is a fraction on plain bytes or one with more than 18 significant digits). Must
 * be > 0 (-ERANGE for 0 and overflow). */
int parse_size(const char *s, uint64_t *ret_bytes);
/* "256Mi" style when exact in a binary unit, else plain bytes. */
#define SIZE_MAX_LEN 32
char *format_size(uint64_t bytes, char *buf, size_t len);

/* CPU: "0.5", "2", "1.25" (cores, plain decimal with digits on both sides of the '.', > 0) or
 * "500m" (millicores, integer, > 0). No exponents, signs, "inf" or "nan". Fractional digits
 * past the 18th are ignored. */
int parse_cpu(const char *s, double *ret_cores);

/* Port 1..65535. */
int parse_port(const char *s, uint16_t *ret);

/* File modes as chmod reads them: "1777", "0755", "755", "0o755" (or "0O755"); octal digits
 * only, at most 07777 (-ERANGE above). Never decimal. */
int parse_file_mode(const char *s, mode_t *ret);

/* "70" or "70%", 1..100. */
int parse_percent(const char *s, unsigned *ret);

/* "true"/"false" and the YAML 1.1 spellings yes/no/on/off, any case, and "1"/"0". */
int parse_boolean(const char *s, bool *ret);
