/* SPDX-License-Identifier: Apache-2.0 */
/* zlctl.c: the command-line client: global options and the top-level command table. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "macro.h"
#include "string-util.h"
#include "zlctl.h"

const char *program_name = "zlctl";

static const Verb top_verbs[] = {
        { "validate", verb_validate, "Validate deployment spec files" },
        { "spec", verb_spec, "Inspect deployment specs (dump, validate)" },
        { "deploy", verb_deploy, "Deploy a spec to zl-schedd (--wait until ready, --dry-run)" },
        { "status", verb_status, "Show the node's daemons and deployments, or one deployment" },
        { "stop", verb_stop, "Stop a deployment or one of its services" },
        { "scale", verb_scale, "Set the number of replicas of a service" },
        { "logs", verb_logs, "Print a deployment's logs, merged and prefixed by replica" },
        { "job", verb_sched_job, "Run jobs and show their executions (run, ls, status)" },
        { "cron", verb_sched_cron, "Show the cron services and their next runs (ls)" },
        { "run", verb_run, "Deploy for as long as it runs: local node, logs, Ctrl-C stops" },
        { "local", verb_local, "Run a node without systemd (start, status, stop)" },
        { "container", verb_container, "Run and manage containers (run, ls, logs, exec ...)" },
        { "ps", verb_ps, "List the containers of deployed services" },
        { "network", verb_network, "Show the node's network and attached containers" },
        { "proxy", verb_proxy, "Show and set the node proxy's routes (routes, backends, stats)" },
        { "image", verb_image, "Manage the node's images (ls, inspect, rm, tag, prune, import)" },
        { "pull", verb_pull, "Pull an image into the node's store" },
        { "push", verb_push, "Push an image of the node's store to its registry" },
        { "login", verb_login, "Store credentials for a registry on the node" },
        { "logout", verb_logout, "Forget the node's credentials for a registry" },
        { "build", verb_build, "Build an image on the node (ls, log, cancel)" },
        { "runtimes", verb_runtimes, "List the runtime templates builds can use" },
        {},
};

static void help(void) {
        printf("%s [OPTIONS...] COMMAND ...\n\n"
               "Control a ZLayer node: validate and inspect deployment specs, deploy them and\n"
               "follow their replicas, run a local node and show its daemons.\n\n"
               "Commands:\n",
               program_name);
        for (const Verb *v = top_verbs; v->name; v++)
                printf("  %-22s %s\n", v->name, v->summary);
        printf("\nOptions:\n"
               "  -h --help              Show this help\n"
               "     --version           Show the version\n"
               "\nRun '%s COMMAND --help' for the options of a command.\n"
               "\nExit status: 0 success, 1 failure or invalid input, 2 usage error.\n"
               "Environment: ZLAYER_LOG_LEVEL (err, warning, info, debug);\n"
               "  ZLAYER_BUS_ADDRESS (the node's bus; else the system bus if it has\n"
               "  org.zlayer names, else the local node's).\n",
               program_name);
}

int usage_error(const char *command, const char *format, ...) {
        va_list ap;

        fprintf(stderr, "%s: ", program_name);
        va_start(ap, format);
        vfprintf(stderr, format, ap);
        va_end(ap);
        fprintf(stderr, "\nTry '%s%s%s --help' for more information.\n", program_name,
                isempty(command) ? "" : " ", strempty(command));
        return ZLCTL_EXIT_USAGE;
}

static void group_help(const char *group, const Verb verbs[]) {
        printf("%s %s COMMAND ...\n\nCommands:\n", program_name, group);
        for (const Verb *v = verbs; v->name; v++)
                printf("  %-22s %s\n", v->name, v->summary);
        printf("\nRun '%s %s COMMAND --help' for the options of a command.\n", program_name, group);
}

int dispatch_verb(const char *group, const Verb verbs[], int argc, char *argv[]) {
        const char *names[64];
        size_t n = 0;

        if (argc < 1)
                return usage_error(group, "missing command");
        if (!isempty(group) && (streq(argv[0], "--help") || streq(argv[0], "-h"))) {
                group_help(group, verbs);
                return ZLCTL_EXIT_OK;
        }

        for (const Verb *v = verbs; v->name; v++) {
                if (streq(v->name, argv[0]))
                        return v->run(argc, argv);
                if (n < ELEMENTSOF(names) - 1)
                        names[n++] = v->name;
        }
        names[n] = NULL;

        const char *guess = string_suggest(argv[0], names);
        if (guess)
                return usage_error(group, "unknown command '%s%s%s'; did you mean '%s'?",
                                   strempty(group), isempty(group) ? "" : " ", argv[0], guess);
        return usage_error(group, "unknown command '%s%s%s'", strempty(group),
                           isempty(group) ? "" : " ", argv[0]);
}

int main(int argc, char *argv[]) {
        enum { ARG_VERSION = 0x100 };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {},
        };
        const char *slash = strrchr(argv[0], '/');
        int c;

        program_name = slash ? slash + 1 : argv[0];
        log_set_ident(program_name);
        log_set_target(LOG_TARGET_STDERR);
        log_set_max_level(LOG_WARNING);
        log_parse_environment();

        /* '+': stop at the first non-option, which is the command. */
        while ((c = getopt_long(argc, argv, "+h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return ZLCTL_EXIT_OK;
                case ARG_VERSION:
                        printf("%s %s\n", program_name, PROJECT_VERSION);
                        return ZLCTL_EXIT_OK;
                default:
                        return usage_error(NULL, "invalid option");
                }

        if (optind >= argc) {
                help();
                return ZLCTL_EXIT_USAGE;
        }
        return dispatch_verb("", top_verbs, argc - optind, argv + optind);
}
