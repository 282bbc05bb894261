/* SPDX-License-Identifier: Apache-2.0 */
/* zl-monitor.c: the per-container monitor process, started by monitor_launch(). */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "log.h"
#include "monitor.h"
#include "parse-util.h"

static const char *arg_dir;
static int arg_ready_fd = -EBADF;

static void help(void) {
        printf("%s --dir DIR [--ready-fd N]\n\n"
               "Supervise the container described by DIR/" MONITOR_CONFIG_FILE
               " and DIR/" MONITOR_SPEC_FILE ".\n\n"
               "  -h --help          Show this help\n"
               "     --version       Show the version\n"
               "     --dir DIR       The container's directory\n"
               "     --ready-fd N    Write \"ok\" or the error there once set up\n",
               program_invocation_short_name);
}

static int parse_argv(int argc, char *argv[]) {
        enum { ARG_VERSION = 0x100, ARG_DIR, ARG_READY_FD };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "dir", required_argument, NULL, ARG_DIR },
                { "ready-fd", required_argument, NULL, ARG_READY_FD },
                {},
        };
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("zl-monitor %s\n", PROJECT_VERSION);
                        return 0;
                case ARG_DIR:
                        arg_dir = optarg;
                        break;
                case ARG_READY_FD:
                        if (safe_atoi(optarg, &arg_ready_fd) < 0 || arg_ready_fd < 0)
                                return log_error_errno(EINVAL, "Invalid --ready-fd '%s'.", optarg);
                        break;
                case '?':
                        return -EINVAL;
                default:
                        return -EINVAL;
                }
        if (optind < argc)
                return log_error_errno(EINVAL, "Unexpected argument '%s'.", argv[optind]);
        if (!arg_dir)
                return log_error_errno(EINVAL, "--dir is required.");
        return 1;
}

static void report_ready(int r, const char *error) {
        char buf[4096];
        int n;

        if (arg_ready_fd < 0)
                return;
        if (r >= 0)
                n = snprintf(buf, sizeof buf, MONITOR_READY_OK);
        else
                n = snprintf(buf, sizeof buf, "%d %s\n", -r, error ?: strerror(-r));
        if (n > 0 && write(arg_ready_fd, buf, MIN((size_t) n, sizeof buf - 1)) < 0)
                log_debug_errno(errno, "Failed to report readiness: %m");
        arg_ready_fd = safe_close(arg_ready_fd);
}

int main(int argc, char *argv[]) {
        _cleanup_(monitor_freep) Monitor *m = NULL;
        _cleanup_free_ char *error = NULL;
        int r;

        log_set_ident("zl-monitor");
        /* Our stdio is /dev/null: the journal is where messages can be seen. */
        log_set_target(LOG_TARGET_JOURNAL);
        log_parse_environment();

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;

        /* The container must outlive a "systemctl stop" of zl-runtimed: its SIGTERM is not for
         * us. A SIGKILL is a crash; zl-runtimed recovers from it. */
        (void) signal(SIGTERM, SIG_IGN);
        (void) signal(SIGHUP, SIG_IGN);
        (void) signal(SIGPIPE, SIG_IGN);
        if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
                r = -errno;
                report_ready(r, "becoming a subreaper failed");
                return log_error_errno(r, "Failed to become a subreaper: %m"), EXIT_FAILURE;
        }

        r = monitor_new(arg_dir, &m, &error);
        report_ready(r, error);
        if (r < 0) {
                log_error_errno(r, "Failed to set up the container in '%s': %s", arg_dir,
                                error ?: strerror(-r));
                return EXIT_FAILURE;
        }
        r = monitor_run(m);
        if (r < 0) {
                log_error_errno(r, "Failed to run the event loop: %m");
                return EXIT_FAILURE;
        }
        return EXIT_SUCCESS;
}
