/* SPDX-License-Identifier: Apache-2.0 */
/* zlctl.h: shared declarations of the zlctl command tree. */
#pragma once

#include <stdbool.h>

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
