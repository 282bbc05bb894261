/* SPDX-License-Identifier: Apache-2.0 */
/* zlctl.h: shared declarations of the zlctl command tree. */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <systemd/sd-bus.h>

/* A command: `name` within its group, the function that runs it (argv[0] is the command name,
 * options not yet parsed), a one-line summary for the group's help. */
typedef struct Verb {
        const char *name;
        int (*run)(int argc, char *argv[]);
        const char *summary;
} Verb;

/* Exit codes, as documented in zlctl --help. */
enum {
        ZLCTL_EXIT_OK = 0,
        ZLCTL_EXIT_FAILURE = 1, /* invalid input, failed operation */
        ZLCTL_EXIT_USAGE = 2, /* bad command line */
};

/* The name zlctl was invoked as ("zlctl" or "zlayer"), for help texts and messages. */
extern const char *program_name;

/* Runs the verb named argv[0] from the table, or prints the group help. `group` is the command
 * path so far ("" for the top level, "spec" for `zlctl spec ...`). */
int dispatch_verb(const char *group, const Verb verbs[], int argc, char *argv[]);
/* Prints "usage error" style messages and returns ZLCTL_EXIT_USAGE. */
int usage_error(const char *command, const char *format, ...) __attribute__((format(printf, 2, 3)));

int verb_validate(int argc, char *argv[]);
int verb_spec(int argc, char *argv[]);
int verb_status(int argc, char *argv[]);
int verb_local(int argc, char *argv[]);
int verb_container(int argc, char *argv[]);
int verb_ps(int argc, char *argv[]);
int verb_network(int argc, char *argv[]);
int verb_proxy(int argc, char *argv[]);
int verb_image(int argc, char *argv[]);
int verb_pull(int argc, char *argv[]);
int verb_push(int argc, char *argv[]);
int verb_login(int argc, char *argv[]);
int verb_logout(int argc, char *argv[]);
int verb_build(int argc, char *argv[]);
int verb_runtimes(int argc, char *argv[]);
int verb_deploy(int argc, char *argv[]);
int verb_stop(int argc, char *argv[]);
int verb_scale(int argc, char *argv[]);
int verb_logs(int argc, char *argv[]);
int verb_sched_job(int argc, char *argv[]);
int verb_sched_cron(int argc, char *argv[]);
int verb_run(int argc, char *argv[]);

/* ---- zlctl-util.c: helpers several commands share ---- */

typedef struct Table Table;

/* How many characters of a container id lists show. */
#define ZLCTL_SHORT_ID_LEN 12
/* The largest deployment spec zlctl reads. */
#define ZLCTL_SPEC_MAX_SIZE (16U * 1024U * 1024U)

/* For the failure of getopt_long with a ':'-prefixed optstring (c is ':' or '?'): reports the
 * option argv[optind - 1] and returns ZLCTL_EXIT_USAGE. */
int zlctl_getopt_failure(const char *command, int c, char *argv[]);
/* Parses an --output value: "table" or "json". Returns 0, or ZLCTL_EXIT_USAGE after a usage
 * error. */
int zlctl_parse_output(const char *command, const char *s, bool *ret_json);
/* Parses a --tail value: a number of lines >= 0, or "all" (-1). Returns 0, or ZLCTL_EXIT_USAGE
 * after a usage error. */
int zlctl_parse_tail(const char *command, const char *s, int64_t *ret);
/* Whether -h or --help is among argv[1..]. */
bool zlctl_want_help(int argc, char *argv[]);
/* Prints j (any JSON value) indented, keys sorted, and a newline. Logs; -errno. */
int zlctl_print_json(json_t *j);
/* Prints t to stdout. Logs; -errno. */
int zlctl_print_table(const Table *t);
/* A string / integer member of a JSON object: NULL / 0 when absent or of another type. */
const char *zlctl_json_str(json_t *o, const char *key);
json_int_t zlctl_json_int(json_t *o, const char *key);
/* The first ZLCTL_SHORT_ID_LEN characters of id into buf; NULL when id is NULL or empty. */
const char *zlctl_short_id(const char *id, char *buf, size_t len);
/* Reads a spec file, "-" for stdin, up to ZLCTL_SPEC_MAX_SIZE (-EFBIG beyond). */
int zlctl_read_spec(const char *path, char **ret_data, size_t *ret_size);

/* One record of Runtime1.OpenLogs, "<time> <stdout|stderr> <F|P> <text>", pointing into the
 * line: partial (P) records are parts of one line, the F record ends it. */
typedef struct ZlctlLogRecord {
        const char *time;
        size_t time_len;
        bool err; /* of stderr */
        bool partial;
        const char *text;
        size_t text_len;
} ZlctlLogRecord;

/* Splits one record (without its newline). -EBADMSG when it is not one. */
int zlctl_log_record_parse(const char *line, size_t n, ZlctlLogRecord *ret);

/* Bytes read from a stream, not yet a whole line. */
typedef struct ZlctlLineBuffer {
        char *buf;
        size_t len, size;
} ZlctlLineBuffer;

void zlctl_line_buffer_done(ZlctlLineBuffer *b);
/* Appends data and calls line() for each complete line (without its newline); the rest waits
 * for more. Stops at the first error of line(). -ENOMEM. */
int zlctl_line_buffer_feed(ZlctlLineBuffer *b, const char *data, size_t n,
                           int (*line)(const char *l, size_t n, void *userdata), void *userdata);

/* The log descriptor of an OpenLogs reply, duplicated (close-on-exec) so that it outlives the
 * reply. Logs; -errno. */
int zlctl_logs_reply_fd(sd_bus_message *reply, int *ret_fd);

/* How many SIGINT and SIGTERM came since zlctl_signals_catch(). */
extern volatile sig_atomic_t zlctl_interrupted;

typedef struct ZlctlSignalGuard {
        struct sigaction old_int, old_term;
} ZlctlSignalGuard;

/* Until zlctl_signals_restore(), SIGINT and SIGTERM only count in zlctl_interrupted (reset to 0
 * here), and interrupt waits with EINTR. */
void zlctl_signals_catch(ZlctlSignalGuard *g);
void zlctl_signals_restore(ZlctlSignalGuard *g);

/* zlctl-local.c, for `zlctl run`: starts the local node in state_dir (NULL: the default one)
 * unless one runs there, waiting up to timeout_usec (0: the default) for its daemons;
 * *ret_started (may be NULL) tells whether this call started it. Logs; -errno. */
int zlctl_local_node_start(const char *state_dir, uint64_t timeout_usec, bool *ret_started);
/* Stops the local node in state_dir (NULL: the default one), if one runs. Logs; -errno. */
int zlctl_local_node_stop(const char *state_dir);

/* zlctl-deploy.c, for `zlctl status`: the deployments of zl-schedd (ListDeployments). With
 * json_root NULL prints a table (or one line saying zl-schedd is not running) to stdout; else
 * sets json_root's "deployments" (null when zl-schedd is not running). Logs; -errno. */
int zlctl_print_deployments(sd_bus *bus, json_t *json_root);
/* `zlctl status DEPLOYMENT [-o json]`. Returns an exit code. */
int zlctl_deployment_status(const char *name, bool json);
