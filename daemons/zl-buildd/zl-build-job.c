/* SPDX-License-Identifier: Apache-2.0 */
/* zl-build-job.c: one build as a process of its own: request on stdin, events on stdout. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/signalfd.h>

#include "build-exec.h"
#include "fileio.h"
#include "log.h"
#include "parse-util.h"

#define REQUEST_SIZE_MAX (4 * 1024 * 1024)

static const char *arg_plan;
static const char *arg_cleanup;
static bool arg_prune;
static uint64_t arg_max_bytes;
static uint64_t arg_max_age;
static const char *arg_storage_root;
static const char *arg_storage_runroot;
static const char *arg_storage_driver;

static void help(void) {
        printf("%s [--plan FILE] < REQUEST\n"
               "%s --cleanup BUILD_ID [--storage-root DIR --storage-runroot DIR]\n"
               "%s --prune-cache [--max-bytes N] [--max-age SECONDS] [--storage-root ...]\n\n"
               "Run one image build on buildah: a JSON request on stdin, one JSON event per line "
               "on stdout.\n\n"
               "  -h --help                 Show this help\n"
               "     --version              Show the version\n"
               "     --plan FILE            Build this plan (JSON) instead of the Dockerfile\n"
               "     --cleanup BUILD_ID     Remove the working containers a killed build left\n"
               "     --prune-cache          Remove build cache images beyond the limits\n"
               "     --max-bytes N          Keep at most N bytes of cache images\n"
               "     --max-age SECONDS      Remove cache images older than this\n"
               "     --storage-root DIR     buildah --root\n"
               "     --storage-runroot DIR  buildah --runroot\n"
               "     --storage-driver NAME  buildah --storage-driver\n",
               program_invocation_short_name, program_invocation_short_name,
               program_invocation_short_name);
}

static int parse_argv(int argc, char *argv[]) {
        enum {
                ARG_VERSION = 0x100,
                ARG_PLAN,
                ARG_CLEANUP,
                ARG_PRUNE,
                ARG_MAX_BYTES,
                ARG_MAX_AGE,
                ARG_ROOT,
                ARG_RUNROOT,
                ARG_DRIVER,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "plan", required_argument, NULL, ARG_PLAN },
                { "cleanup", required_argument, NULL, ARG_CLEANUP },
                { "prune-cache", no_argument, NULL, ARG_PRUNE },
                { "max-bytes", required_argument, NULL, ARG_MAX_BYTES },
                { "max-age", required_argument, NULL, ARG_MAX_AGE },
                { "storage-root", required_argument, NULL, ARG_ROOT },
                { "storage-runroot", required_argument, NULL, ARG_RUNROOT },
                { "storage-driver", required_argument, NULL, ARG_DRIVER },
                {},
        };
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("zl-build-job %s\n", PROJECT_VERSION);
                        return 0;
                case ARG_PLAN:
                        arg_plan = optarg;
                        break;
                case ARG_CLEANUP:
                        arg_cleanup = optarg;
                        break;
                case ARG_PRUNE:
                        arg_prune = true;
                        break;
                case ARG_MAX_BYTES:
                        if (safe_atou64(optarg, &arg_max_bytes) < 0)
                                return log_error_errno(EINVAL, "Invalid --max-bytes '%s'.", optarg);
                        break;
                case ARG_MAX_AGE:
                        if (safe_atou64(optarg, &arg_max_age) < 0)
                                return log_error_errno(EINVAL, "Invalid --max-age '%s'.", optarg);
                        break;
                case ARG_ROOT:
                        arg_storage_root = optarg;
                        break;
                case ARG_RUNROOT:
                        arg_storage_runroot = optarg;
                        break;
                case ARG_DRIVER:
                        arg_storage_driver = optarg;
                        break;
                default:
                        return -EINVAL;
                }
        if (optind < argc)
                return log_error_errno(EINVAL, "Unexpected argument '%s'.", argv[optind]);
        if (arg_cleanup && arg_prune)
                return log_error_errno(EINVAL, "--cleanup and --prune-cache exclude each other.");
        return 1;
}

/* A request for the maintenance modes: only the storage and, for --cleanup, the build id. */
static int maintenance_request(BuildRequest **ret) {
        _cleanup_(json_decrefp) json_t *j = NULL;
        _cleanup_free_ char *error = NULL;
        int r;

        j = json_pack("{s:s,s:s,s:s,s:{s:s?,s:s?,s:s?}}", "build_id", arg_cleanup ?: "prune",
                      "context", "/", "work_dir", "/", "storage", "root", arg_storage_root,
                      "runroot", arg_storage_runroot, "driver", arg_storage_driver);
        if (!j)
                return log_oom();
        r = build_request_parse(j, ret, &error);
        if (r < 0)
                return log_error_errno(r, "Invalid arguments: %s", error ?: strerror(-r));
        return 0;
}

static int emit_request_error(const char *error) {
        _cleanup_(json_decrefp) json_t *o = NULL;

        o = json_pack("{s:s,s:{s:s,s:n,s:n,s:n}}", "event", "build_failed", "data", "error", error,
                      "stage", "index", "line");
        if (!o)
                return log_oom();
        (void) json_dumpf(o, stdout, JSON_COMPACT);
        fputc('\n', stdout);
        fflush(stdout);
        return 0;
}

int main(int argc, char *argv[]) {
        _cleanup_(build_request_freep) BuildRequest *req = NULL;
        _cleanup_(build_job_freep) BuildJob *job = NULL;
        _cleanup_(json_decrefp) json_t *request = NULL, *plan = NULL;
        _cleanup_free_ char *data = NULL, *error = NULL;
        _cleanup_close_ int sfd = -EBADF;
        json_error_t jerr;
        sigset_t mask;
        size_t size;
        int r;

        log_set_ident("zl-build-job");
        log_set_target(LOG_TARGET_STDERR);
        log_parse_environment();

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;

        /* Cancellation arrives as SIGTERM/SIGINT; the executor sees it through the signalfd
         * while it waits for buildah, stops buildah's process group and returns. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(errno, "Failed to block signals: %m"), EXIT_FAILURE;
        sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        if (sfd < 0)
                return log_error_errno(errno, "Failed to create a signalfd: %m"), EXIT_FAILURE;
        (void) signal(SIGPIPE, SIG_IGN);

        if (arg_cleanup || arg_prune) {
                r = maintenance_request(&req);
                if (r < 0)
                        return EXIT_FAILURE;
                r = build_job_new(req, NULL, sfd, &job);
                if (r < 0)
                        return log_error_errno(r, "Failed to set up: %m"), EXIT_FAILURE;
                if (arg_cleanup) {
                        r = build_job_remove_containers(job);
                        if (r < 0)
                                return log_error_errno(r,
                                                       "Failed to remove the containers of "
                                                       "build '%s': %m",
                                                       arg_cleanup),
                                       EXIT_FAILURE;
                        log_info("Removed %d working containers of build '%s'.", r, arg_cleanup);
                } else {
                        r = build_job_prune_cache(job, arg_max_bytes, arg_max_age);
                        if (r < 0)
                                return log_error_errno(r, "Failed to prune the build cache: %m"),
                                       EXIT_FAILURE;
                        log_info("Removed %d cache images.", r);
                }
                return EXIT_SUCCESS;
        }

        r = read_full_stream(stdin, REQUEST_SIZE_MAX, &data, &size);
        if (r < 0)
                return log_error_errno(r, "Failed to read the request: %m"), EXIT_FAILURE;
        request = json_loadb(data, size, JSON_REJECT_DUPLICATES, &jerr);
        if (!request) {
                _cleanup_free_ char *msg = NULL;

                if (asprintf(&msg, "invalid request: line %d: %s", jerr.line, jerr.text) < 0)
                        return log_oom(), EXIT_FAILURE;
                (void) emit_request_error(msg);
                return EXIT_FAILURE;
        }
        r = build_request_parse(request, &req, &error);
        if (r < 0) {
                _cleanup_free_ char *msg = NULL;

                if (asprintf(&msg, "invalid request: %s", error ?: strerror(-r)) < 0)
                        return log_oom(), EXIT_FAILURE;
                (void) emit_request_error(msg);
                return EXIT_FAILURE;
        }
        if (arg_plan) {
                plan = json_load_file(arg_plan, 0, &jerr);
                if (!plan) {
                        _cleanup_free_ char *msg = NULL;

                        if (asprintf(&msg, "invalid plan '%s': line %d: %s", arg_plan, jerr.line,
                                     jerr.text) < 0)
                                return log_oom(), EXIT_FAILURE;
                        (void) emit_request_error(msg);
                        return EXIT_FAILURE;
                }
        }

        r = build_job_new(req, stdout, sfd, &job);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the build: %m"), EXIT_FAILURE;
        r = build_job_run(job, plan);
        if (r == -ECANCELED) {
                log_info("Build '%s' cancelled.", req->build_id);
                (void) build_job_remove_containers(job);
                return 130;
        }
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
