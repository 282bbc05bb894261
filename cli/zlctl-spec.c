/* SPDX-License-Identifier: Apache-2.0 */
/* zlctl-spec.c: `zlctl validate`, `zlctl spec validate` and `zlctl spec dump`. */
#include <getopt.h>
#include <stdio.h>
#include <unistd.h>

#include "diag-print.h"
#include "fileio.h"
#include "log.h"
#include "macro.h"
#include "zlayer/spec.h"
#include "zlctl.h"

/* Specs larger than this are refused before parsing; the parser has the same bound. */

typedef enum ShowSource {
        SHOW_SOURCE_AUTO,
        SHOW_SOURCE_ALWAYS,
        SHOW_SOURCE_NEVER,
} ShowSource;

DEFINE_TRIVIAL_CLEANUP_FUNC(ZlSpec *, zl_spec_unref);

static void zl_diag_list_donep(ZlDiagList *l) {
        zl_diag_list_done(l);
}

static const char *display_name(const char *path) {
        return streq(path, "-") ? "<stdin>" : path;
}

/* Reads, parses and validates one file, printing diagnostics. Returns 0 and the spec when it is
 * valid, -EINVAL when it is not (diagnostics printed), another -errno on I/O errors (logged). */
static int load_spec(const char *path, ShowSource show, ZlSpec **ret) {
        _cleanup_(zl_diag_list_donep) ZlDiagList diags = {};
        _cleanup_(zl_spec_unrefp) ZlSpec *spec = NULL;
        _cleanup_free_ char *data = NULL;
        size_t size = 0;
        int r;

        r = zlctl_read_spec(path, &data, &size);
        if (r == -EFBIG)
                return log_error_errno(r, "%s: error: file is larger than %u MiB, refusing",
                                       display_name(path), ZLCTL_SPEC_MAX_SIZE / 1024 / 1024);
        if (r < 0)
                return log_error_errno(r, "%s: error: cannot read file: %m", display_name(path));

        r = zl_spec_parse_string(data, size, display_name(path), &spec, &diags);
        if (r < 0 && r != -EINVAL)
                return log_error_errno(r, "%s: error: cannot parse: %m", display_name(path));

        if (diags.n_items > 0) {
                DiagPrintOptions opts = {
                        .show_source = show == SHOW_SOURCE_ALWAYS ||
                                       (show == SHOW_SOURCE_AUTO && isatty(STDERR_FILENO)),
                        .color = isatty(STDERR_FILENO) && !getenv("NO_COLOR"),
                };
                diag_print_all(stderr, display_name(path), data, size, &diags, &opts);
        }
        if (r == -EINVAL) {
                fprintf(stderr, "%s: %zu error%s\n", display_name(path), diags.n_errors,
                        diags.n_errors == 1 ? "" : "s");
                return -EINVAL;
        }

        *ret = TAKE_PTR(spec);
        return 0;
}

static int parse_show_source(const char *command, const char *s, ShowSource *ret) {
        if (streq(s, "auto"))
                *ret = SHOW_SOURCE_AUTO;
        else if (streq(s, "always"))
                *ret = SHOW_SOURCE_ALWAYS;
        else if (streq(s, "never"))
                *ret = SHOW_SOURCE_NEVER;
        else
                return usage_error(command,
                                   "invalid --show-source '%s'; expected auto, always or never", s);
        return 0;
}

static int do_validate(const char *command, int argc, char *argv[]) {
        enum { ARG_SHOW_SOURCE = 0x100 };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "quiet", no_argument, NULL, 'q' },
                { "show-source", required_argument, NULL, ARG_SHOW_SOURCE },
                {},
        };
        ShowSource show = SHOW_SOURCE_AUTO;
        bool quiet = false, invalid = false;
        int c, r;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":hq", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        printf("%s %s FILE...\n\n"
                               "Parse and validate deployment specs. Every error is reported with\n"
                               "file:line:column and the key path; '-' reads standard input.\n\n"
                               "Options:\n"
                               "  -h --help              Show this help\n"
                               "  -q --quiet             Print nothing for valid files\n"
                               "     --show-source=WHEN  Show the offending line with a caret:\n"
                               "                         auto (on a terminal), always, never\n"
                               "\nExit status: 0 all valid, 1 some invalid or unreadable, 2 usage "
                               "error.\n",
                               program_name, command);
                        return ZLCTL_EXIT_OK;
                case 'q':
                        quiet = true;
                        break;
                case ARG_SHOW_SOURCE:
                        r = parse_show_source(command, optarg, &show);
                        if (r != 0)
                                return r;
                        break;
                default:
                        return zlctl_getopt_failure(command, c, argv);
                }

        if (optind >= argc)
                return usage_error(command, "missing FILE argument");

        for (int i = optind; i < argc; i++) {
                _cleanup_(zl_spec_unrefp) ZlSpec *spec = NULL;
                const json_t *services;

                r = load_spec(argv[i], show, &spec);
                if (r < 0) {
                        invalid = true;
                        continue;
                }
                services = json_object_get(zl_spec_get_json(spec), "services");
                if (!quiet)
                        printf("%s: valid (deployment '%s', %zu service%s)\n",
                               display_name(argv[i]), zl_spec_get_deployment(spec),
                               json_object_size(services),
                               json_object_size(services) == 1 ? "" : "s");
        }
        return invalid ? ZLCTL_EXIT_FAILURE : ZLCTL_EXIT_OK;
}

int verb_validate(int argc, char *argv[]) {
        return do_validate("validate", argc, argv);
}

static int verb_spec_validate(int argc, char *argv[]) {
        return do_validate("spec validate", argc, argv);
}

static int verb_spec_dump(int argc, char *argv[]) {
        enum { ARG_SHOW_SOURCE = 0x100 };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "format", required_argument, NULL, 'f' },
                { "show-source", required_argument, NULL, ARG_SHOW_SOURCE },
                {},
        };
        _cleanup_(zl_spec_unrefp) ZlSpec *spec = NULL;
        _cleanup_free_ char *out = NULL;
        ShowSource show = SHOW_SOURCE_AUTO;
        bool json = false;
        int c, r;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":hf:", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        printf("%s spec dump FILE [--format yaml|json]\n\n"
                               "Print the canonical form of a deployment spec: every default "
                               "filled\n"
                               "in, durations in milliseconds (JSON) or with units (YAML), sizes "
                               "in\n"
                               "bytes, image names normalized. The output is itself a valid spec\n"
                               "and parses back to the same canonical form. '-' reads standard "
                               "input.\n\n"
                               "Options:\n"
                               "  -h --help              Show this help\n"
                               "  -f --format=FORMAT     yaml (default) or json (keys sorted, "
                               "stable bytes)\n"
                               "     --show-source=WHEN  On errors, show the offending line: auto, "
                               "always, never\n",
                               program_name);
                        return ZLCTL_EXIT_OK;
                case 'f':
                        if (streq(optarg, "json"))
                                json = true;
                        else if (streq(optarg, "yaml"))
                                json = false;
                        else
                                return usage_error("spec dump",
                                                   "invalid --format '%s'; expected yaml or json",
                                                   optarg);
                        break;
                case ARG_SHOW_SOURCE:
                        r = parse_show_source("spec dump", optarg, &show);
                        if (r != 0)
                                return r;
                        break;
                default:
                        return zlctl_getopt_failure("spec dump", c, argv);
                }

        if (optind >= argc)
                return usage_error("spec dump", "missing FILE argument");
        if (argc - optind > 1)
                return usage_error("spec dump", "expected one FILE, got %d", argc - optind);

        r = load_spec(argv[optind], show, &spec);
        if (r < 0)
                return ZLCTL_EXIT_FAILURE;

        r = json ? zl_spec_dump_json(spec, &out) : zl_spec_dump_yaml(spec, &out);
        if (r < 0) {
                log_error_errno(r, "Failed to format the spec: %m");
                return ZLCTL_EXIT_FAILURE;
        }
        fputs(out, stdout);
        if (fflush(stdout) != 0) {
                log_error_errno(errno, "Failed to write the output: %m");
                return ZLCTL_EXIT_FAILURE;
        }
        return ZLCTL_EXIT_OK;
}

static const Verb spec_verbs[] = {
        { "dump", verb_spec_dump, "Print the canonical form of a spec as YAML or JSON" },
        { "validate", verb_spec_validate, "Validate deployment spec files" },
        {},
};

int verb_spec(int argc, char *argv[]) {
        return dispatch_verb("spec", spec_verbs, argc - 1, argv + 1);
}
