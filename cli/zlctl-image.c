/* SPDX-License-Identifier: Apache-2.0 */
/* zlctl-image.c: zlctl pull, push, login, logout, image ls|inspect|rm|tag|prune|import|export. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus-error.h"
#include "log.h"
#include "parse-util.h"
#include "string-util.h"
#include "table.h"
#include "time-util.h"
#include "zlctl-bus.h"
#include "zlctl.h"

/* The commands, called from zlctl.c's table. */

#define RUNTIME_SERVICE "org.zlayer.Runtime1"
#define RUNTIME_PATH "/org/zlayer/Runtime1"
#define RUNTIME_IFACE "org.zlayer.Runtime1"
#define JOB_IFACE "org.zlayer.Runtime1.Job"
#define CALL_TIMEOUT_USEC (30 * USEC_PER_SEC)
#define JOB_TIMEOUT_USEC (365 * USEC_PER_DAY)

/* Logs "Failed to WHAT 'ARG': MESSAGE" and returns ZLCTL_EXIT_FAILURE. */
static int log_call_error(const sd_bus_error *e, int r, const char *what, const char *arg) {
        _cleanup_free_ char *m = sd_bus_error_is_set(e) ? zlctl_bus_error_message(e) : NULL;

        if (sd_bus_error_is_set(e) && !m)
                return log_oom(), ZLCTL_EXIT_FAILURE;
        log_error("Failed to %s '%s': %s", what, arg, m ?: strerror(-r));
        return ZLCTL_EXIT_FAILURE;
}

static int open_bus(sd_bus **ret) {
        return zlctl_bus_open(ret, NULL) < 0 ? ZLCTL_EXIT_FAILURE : 0;
}

/* A Runtime1 call with simple arguments; ZLCTL_EXIT_FAILURE after logging
 * "Failed to WHAT 'ARG': ...". */
static int call(sd_bus *bus, const char *method, uint64_t timeout, sd_bus_message **ret_reply,
                const char *what, const char *arg, const char *types, ...) {
        _cleanup_free_ char *w = strjoin(what, " '", arg, "'");
        va_list ap;
        int r;

        if (!w)
                return log_oom(), ZLCTL_EXIT_FAILURE;
        va_start(ap, types);
        r = zlctl_callv(bus, RUNTIME_SERVICE, RUNTIME_PATH, RUNTIME_IFACE, method, timeout,
                        ret_reply, w, types, ap);
        va_end(ap);
        return r < 0 ? ZLCTL_EXIT_FAILURE : 0;
}

/* ---- pull and push: a job with progress ------------------------------------------------- */

typedef struct Layer {
        char *digest;
        uint64_t done, total;
        bool finished;
} Layer;

typedef struct Progress {
        const char *job; /* NULL until PullImage replied */
        bool tty, quiet;
        Layer *layers;
        size_t n_layers;
        size_t drawn; /* lines drawn last time (terminal) */
        char *state;
        bool finished;
        int result;
        char *digest;
        char *error;
} Progress;

static void progress_done(Progress *p) {
        for (size_t i = 0; i < p->n_layers; i++)
                free(p->layers[i].digest);
        free(p->layers);
        free(p->state);
        free(p->digest);
        free(p->error);
}

static void progress_draw(Progress *p) {
        if (p->quiet || !p->tty)
                return;
        if (p->drawn > 0)
                printf("\033[%zuA", p->drawn);
        for (size_t i = 0; i < p->n_layers; i++) {
                Layer *l = p->layers + i;
                char done[SIZE_MAX_LEN], total[SIZE_MAX_LEN], bar[31];
                unsigned fill = l->total > 0 ? (unsigned) (l->done * 30 / l->total) : 0;

                for (unsigned k = 0; k < 30; k++)
                        bar[k] = k < fill ? '=' : ' ';
                bar[30] = 0;
                printf("\r\033[K%.19s [%s] %s / %s\n", l->digest, bar,
                       format_size(l->done, done, sizeof done),
                       format_size(l->total, total, sizeof total));
        }
        printf("\r\033[K%s\n", strna(p->state));
        p->drawn = p->n_layers + 1;
        fflush(stdout);
}

static Layer *progress_layer(Progress *p, const char *digest) {
        Layer *a;

        for (size_t i = 0; i < p->n_layers; i++)
                if (streq(p->layers[i].digest, digest))
                        return p->layers + i;
        a = reallocarray(p->layers, p->n_layers + 1, sizeof(Layer));
        if (!a)
                return NULL;
        p->layers = a;
        a[p->n_layers] = (Layer){ .digest = strdup(digest) };
        if (!a[p->n_layers].digest)
                return NULL;
        return a + p->n_layers++;
}

static int on_layer_progress(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Progress *p = userdata;
        const char *digest;
        uint64_t done, total;
        Layer *l;

        (void) error;
        if (!p->job || !streq(strempty(sd_bus_message_get_path(m)), p->job))
                return 0;
        if (sd_bus_message_read(m, "stt", &digest, &done, &total) < 0)
                return 0;
        l = progress_layer(p, digest);
        if (!l)
                return log_oom();
        l->done = done;
        l->total = total;
        if (!p->tty && !p->quiet && !l->finished && total > 0 && done >= total) {
                char size[SIZE_MAX_LEN];
                printf("%s: %s done\n", digest, format_size(total, size, sizeof size));
        }
        if (total > 0 && done >= total)
                l->finished = true;
        progress_draw(p);
        return 0;
}

static int on_job_properties(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Progress *p = userdata;
        const char *iface;
        int r;

        (void) error;
        if (!p->job || !streq(strempty(sd_bus_message_get_path(m)), p->job))
                return 0;
        r = sd_bus_message_read(m, "s", &iface);
        if (r < 0 || !streq(iface, JOB_IFACE))
                return 0;
        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        while (r > 0) {
                const char *name, *value;

                r = sd_bus_message_enter_container(m, 'e', "sv");
                if (r <= 0)
                        break;
                if (sd_bus_message_read(m, "s", &name) < 0)
                        break;
                if (streq(name, "State") && sd_bus_message_read(m, "v", "s", &value) >= 0) {
                        char *s = strdup(value);

                        if (s)
                                free_and_replace(p->state, s);
                        if (!p->tty && !p->quiet)
                                printf("%s\n", value);
                        progress_draw(p);
                } else if (sd_bus_message_skip(m, "v") < 0)
                        break;
                if (sd_bus_message_exit_container(m) < 0)
                        break;
        }
        return 0;
}

static int on_wait_reply(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Progress *p = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);
        const char *digest;

        (void) error;
        p->finished = true;
        if (e) {
                p->result = -sd_bus_error_get_errno(e) ?: -EIO;
                p->error = zlctl_bus_error_message(e);
                return 0;
        }
        if (sd_bus_message_read(m, "s", &digest) >= 0)
                p->digest = strdup(digest);
        return 0;
}

typedef struct JobArgs {
        const char *platform;
        const char *creds;
        bool insecure, quiet;
} JobArgs;

/* PullImage or PushImage, following the job until it ends. */
static int run_job(const char *method, const char *ref, const JobArgs *a) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(progress_done)
                Progress p = { .tty = isatty(STDOUT_FILENO) > 0, .quiet = a->quiet };
        const char *verb = streq(method, "PullImage") ? "pull" : "push";
        const char *job;
        int r;

        r = open_bus(&bus);
        if (r != 0)
                return r;
        /* Subscribed before the call: a short job may end before we know its path. */
        r = sd_bus_match_signal(bus, NULL, RUNTIME_SERVICE, NULL, JOB_IFACE, "LayerProgress",
                                on_layer_progress, &p);
        if (r >= 0)
                r = sd_bus_match_signal(bus, NULL, RUNTIME_SERVICE, NULL,
                                        "org.freedesktop.DBus.Properties", "PropertiesChanged",
                                        on_job_properties, &p);
        if (r < 0)
                return log_error_errno(r, "Failed to subscribe to the job's signals: %m"),
                       ZLCTL_EXIT_FAILURE;

        r = sd_bus_message_new_method_call(bus, &m, RUNTIME_SERVICE, RUNTIME_PATH, RUNTIME_IFACE,
                                           method);
        if (r >= 0)
                r = sd_bus_message_append(m, "s", ref);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && a->platform)
                r = sd_bus_message_append(m, "{sv}", "platform", "s", a->platform);
        if (r >= 0 && a->creds)
                r = sd_bus_message_append(m, "{sv}", "auth", "s", a->creds);
        if (r >= 0 && a->insecure)
                r = sd_bus_message_append(m, "{sv}", "insecure", "b", 1);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0)
                return log_error_errno(r, "Failed to build the %s call: %m", method),
                       ZLCTL_EXIT_FAILURE;
        r = sd_bus_call(bus, m, CALL_TIMEOUT_USEC, &error, &reply);
        if (r < 0)
                return log_call_error(&error, r, verb, ref);
        r = sd_bus_message_read(reply, "o", &job);
        if (r < 0)
                return log_error_errno(r, "Failed to read the reply to %s: %m", method),
                       ZLCTL_EXIT_FAILURE;
        p.job = job;
        r = sd_bus_call_method_async(bus, NULL, RUNTIME_SERVICE, job, JOB_IFACE, "Wait",
                                     on_wait_reply, &p, NULL);
        if (r < 0)
                return log_error_errno(r, "Failed to wait for job %s: %m", job), ZLCTL_EXIT_FAILURE;
        while (!p.finished) {
                r = sd_bus_process(bus, NULL);
                if (r < 0)
                        return log_error_errno(r, "Failed to talk to the node: %m"),
                               ZLCTL_EXIT_FAILURE;
                if (r > 0)
                        continue;
                r = sd_bus_wait(bus, UINT64_MAX);
                if (r < 0)
                        return log_error_errno(r, "Failed to talk to the node: %m"),
                               ZLCTL_EXIT_FAILURE;
        }
        if (p.result < 0) {
                log_error("Failed to %s '%s': %s", verb, ref, p.error ?: strerror(-p.result));
                return ZLCTL_EXIT_FAILURE;
        }
        printf("%s\n", strna(p.digest));
        return ZLCTL_EXIT_OK;
}

static int parse_job_args(const char *command, int argc, char *argv[], bool pull, JobArgs *a,
                          const char **ret_ref) {
        enum { ARG_PLATFORM = 0x100, ARG_INSECURE, ARG_CREDS };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "platform", required_argument, NULL, ARG_PLATFORM },
                { "insecure", no_argument, NULL, ARG_INSECURE },
                { "creds", required_argument, NULL, ARG_CREDS },
                { "quiet", no_argument, NULL, 'q' },
                {},
        };
        int c;

        optind = 0;
        while ((c = getopt_long(argc, argv, ":hq", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        printf("%s %s [OPTIONS...] REF\n\n%s\n\nOptions:\n"
                               "  -h --help              Show this help\n"
                               "%s"
                               "     --insecure          Plain HTTP to this registry\n"
                               "     --creds=USER:PASS   Credentials for this call (else those "
                               "of '%s login')\n"
                               "  -q --quiet             Print only the digest\n"
                               "\nProgress goes to the terminal per layer, or as plain lines "
                               "when\nstdout is not one; the manifest digest is printed at the "
                               "end.\n"
                               "\nExit status: 0 done, 1 failure, 2 usage error.\n",
                               program_name, command,
                               pull ? "Pull an image from its registry into the node's store."
                                    : "Push an image of the node's store to the registry its "
                                      "reference names.",
                               pull ? "     --platform=P        os/arch[/variant] (default: "
                                      "the node's)\n"
                                    : "",
                               program_name);
                        return -1;
                case ARG_PLATFORM:
                        if (!pull)
                                return usage_error(command, "unknown option '--platform'");
                        a->platform = optarg;
                        break;
                case ARG_INSECURE:
                        a->insecure = true;
                        break;
                case ARG_CREDS:
                        if (!strchr(optarg, ':'))
                                return usage_error(command,
                                                   "invalid --creds: expected USER:PASSWORD");
                        a->creds = optarg;
                        break;
                case 'q':
                        a->quiet = true;
                        break;
                default:
                        return zlctl_getopt_failure(command, c, argv);
                }
        if (optind >= argc)
                return usage_error(command, "missing image reference");
        if (optind + 1 < argc)
                return usage_error(command, "unexpected argument '%s'", argv[optind + 1]);
        *ret_ref = argv[optind];
        return 0;
}

static int verb_job(const char *command, const char *method, bool pull, int argc, char *argv[]) {
        JobArgs a = {};
        const char *ref = NULL;
        int r;

        r = parse_job_args(command, argc, argv, pull, &a, &ref);
        if (r != 0)
                return r < 0 ? ZLCTL_EXIT_OK : r;
        return run_job(method, ref, &a);
}

int verb_pull(int argc, char *argv[]) {
        return verb_job("pull", "PullImage", true, argc, argv);
}

int verb_push(int argc, char *argv[]) {
        return verb_job("push", "PushImage", false, argc, argv);
}

/* ---- login / logout --------------------------------------------------------------------- */

int verb_login(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "username", required_argument, NULL, 'u' },
                { "password", required_argument, NULL, 'p' },
                { "password-stdin", no_argument, NULL, 's' },
                {},
        };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *line = NULL;
        const char *user = NULL, *password = NULL;
        bool from_stdin = false;
        size_t size = 0;
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, ":hu:p:", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        printf("%s login -u USER [-p PASSWORD | --password-stdin] REGISTRY\n\n"
                               "Store credentials for REGISTRY (host[:port]) on the node; pulls "
                               "and pushes\nuse them. They are checked by the first pull.\n\n"
                               "Options:\n"
                               "  -h --help              Show this help\n"
                               "  -u --username=USER     The user name\n"
                               "  -p --password=PASS     The password (visible to other users: "
                               "prefer\n"
                               "                         --password-stdin)\n"
                               "     --password-stdin    Read the password from stdin\n"
                               "\nExit status: 0 stored, 1 failure, 2 usage error.\n",
                               program_name);
                        return ZLCTL_EXIT_OK;
                case 'u':
                        user = optarg;
                        break;
                case 'p':
                        password = optarg;
                        break;
                case 's':
                        from_stdin = true;
                        break;
                default:
                        return zlctl_getopt_failure("login", c, argv);
                }
        if (optind >= argc)
                return usage_error("login", "missing REGISTRY");
        if (optind + 1 < argc)
                return usage_error("login", "unexpected argument '%s'", argv[optind + 1]);
        if (isempty(user))
                return usage_error("login", "missing -u USER");
        if (!password && !from_stdin)
                return usage_error("login", "missing -p PASSWORD or --password-stdin");
        if (from_stdin) {
                ssize_t n = getline(&line, &size, stdin);

                if (n < 0)
                        return usage_error("login", "no password on stdin");
                if (n > 0 && line[n - 1] == '\n')
                        line[n - 1] = 0;
                password = line;
        }
        r = open_bus(&bus);
        if (r != 0)
                return r;
        r = call(bus, "Login", CALL_TIMEOUT_USEC, NULL, "log in to", argv[optind], "sss",
                 argv[optind], user, password);
        if (line)
                explicit_bzero(line, strlen(line));
        if (r != 0)
                return r;
        printf("Logged in to %s.\n", argv[optind]);
        return ZLCTL_EXIT_OK;
}

int verb_logout(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        if (argc == 2 && (streq(argv[1], "-h") || streq(argv[1], "--help"))) {
                printf("%s logout REGISTRY\n\nForget the node's credentials for REGISTRY.\n"
                       "\nExit status: 0 done, 1 failure (also: not logged in), 2 usage error.\n",
                       program_name);
                return ZLCTL_EXIT_OK;
        }
        if (argc != 2 || argv[1][0] == '-')
                return usage_error("logout", "expected exactly one REGISTRY");
        r = open_bus(&bus);
        if (r != 0)
                return r;
        return call(bus, "Logout", CALL_TIMEOUT_USEC, NULL, "log out of", argv[1], "s", argv[1]);
}

/* ---- image ls | inspect | rm | tag | prune | import | export ----------------------------- */

static int verb_image_ls(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(table_freep) Table *t = NULL;
        _cleanup_(json_decrefp) json_t *list = json_array();
        bool json = false;
        int r;

        if (zlctl_want_help(argc, argv)) {
                printf("%s image ls [-o table|json]\n\nList the node's images.\n\nOptions:\n"
                       "  -h --help              Show this help\n"
                       "  -o --output=FORMAT     table (default) or json\n",
                       program_name);
                return ZLCTL_EXIT_OK;
        }
        if (argc == 3 && (streq(argv[1], "-o") || streq(argv[1], "--output")))
                json = streq(argv[2], "json");
        else if (argc == 2 && startswith(argv[1], "--output="))
                json = streq(argv[1] + 9, "json");
        else if (argc != 1)
                return usage_error("image ls", "unexpected argument '%s'", argv[1]);
        t = table_new("REPOSITORY", "TAG", "DIGEST", "CREATED", "CONTAINERS");
        if (!t || !list)
                return log_oom(), ZLCTL_EXIT_FAILURE;
        r = open_bus(&bus);
        if (r != 0)
                return r;
        r = call(bus, "ListImages", CALL_TIMEOUT_USEC, &reply, "list", "images", NULL);
        if (r != 0)
                return r;
        r = sd_bus_message_enter_container(reply, 'a', "(ssssttu)");
        while (r > 0) {
                const char *repo, *tag, *digest, *config;
                uint64_t created, last_used;
                uint32_t users;
                char when[64] = "-", n[16];

                r = sd_bus_message_read(reply, "(ssssttu)", &repo, &tag, &digest, &config, &created,
                                        &last_used, &users);
                if (r <= 0)
                        break;
                if (created > 0) {
                        time_t sec = (time_t) (created / USEC_PER_SEC);
                        struct tm tm;

                        if (gmtime_r(&sec, &tm))
                                strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
                }
                snprintf(n, sizeof n, "%" PRIu32, users);
                if (table_add_row(t, repo, isempty(tag) ? NULL : tag, digest, when, n) < 0 ||
                    json_array_append_new(list, json_pack("{ss ss? ss ss sI sI si}", "repository",
                                                          repo, "tag", isempty(tag) ? NULL : tag,
                                                          "digest", digest, "id", config,
                                                          "created_usec", (json_int_t) created,
                                                          "last_used_usec", (json_int_t) last_used,
                                                          "containers", (int) users)) < 0)
                        return log_oom(), ZLCTL_EXIT_FAILURE;
        }
        if (r < 0)
                return log_error_errno(r, "Failed to read the image list: %m"), ZLCTL_EXIT_FAILURE;
        if (json) {
                json_dumpf(list, stdout, JSON_INDENT(2));
                printf("\n");
        } else
                table_print(t, stdout);
        return ZLCTL_EXIT_OK;
}

static int verb_image_inspect(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r, ret = ZLCTL_EXIT_OK;

        if (zlctl_want_help(argc, argv)) {
                printf("%s image inspect REF...\n\nShow what the node's store knows about "
                       "images, as JSON.\n",
                       program_name);
                return ZLCTL_EXIT_OK;
        }
        if (argc < 2)
                return usage_error("image inspect", "missing image reference");
        r = open_bus(&bus);
        if (r != 0)
                return r;
        for (int i = 1; i < argc; i++) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
                const char *json;

                if (call(bus, "InspectImage", CALL_TIMEOUT_USEC, &reply, "inspect", argv[i], "s",
                         argv[i]) != 0 ||
                    sd_bus_message_read(reply, "s", &json) < 0) {
                        ret = ZLCTL_EXIT_FAILURE;
                        continue;
                }
                printf("%s\n", json);
        }
        return ret;
}

static int verb_image_rm(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        bool force = false;
        int first = 1, r, ret = ZLCTL_EXIT_OK;

        if (zlctl_want_help(argc, argv)) {
                printf("%s image rm [-f] REF...\n\nRemove image tags (a digest: every tag of "
                       "it). Refused\nwhile a container uses the image, unless -f.\n",
                       program_name);
                return ZLCTL_EXIT_OK;
        }
        if (argc > 1 && (streq(argv[1], "-f") || streq(argv[1], "--force")))
                force = true, first = 2;
        if (argc <= first)
                return usage_error("image rm", "missing image reference");
        r = open_bus(&bus);
        if (r != 0)
                return r;
        for (int i = first; i < argc; i++) {
                if (call(bus, "RemoveImage", CALL_TIMEOUT_USEC, NULL, "remove", argv[i], "sb",
                         argv[i], force) != 0)
                        ret = ZLCTL_EXIT_FAILURE;
                else
                        printf("Removed %s\n", argv[i]);
        }
        return ret;
}

static int verb_image_tag(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        if (zlctl_want_help(argc, argv)) {
                printf("%s image tag SOURCE TARGET\n\nGive a stored image another name.\n",
                       program_name);
                return ZLCTL_EXIT_OK;
        }
        if (argc != 3)
                return usage_error("image tag", "expected SOURCE and TARGET");
        r = open_bus(&bus);
        if (r != 0)
                return r;
        return call(bus, "TagImage", CALL_TIMEOUT_USEC, NULL, "tag", argv[1], "ss", argv[1],
                    argv[2]);
}

static int verb_image_prune(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        char size[SIZE_MAX_LEN];
        uint64_t freed = 0;
        int r;

        if (zlctl_want_help(argc, argv)) {
                printf("%s image prune\n\nDelete the layers and blobs no image and no container "
                       "uses.\n",
                       program_name);
                return ZLCTL_EXIT_OK;
        }
        if (argc != 1)
                return usage_error("image prune", "unexpected argument '%s'", argv[1]);
        r = open_bus(&bus);
        if (r != 0)
                return r;
        r = call(bus, "PruneImages", JOB_TIMEOUT_USEC, &reply, "prune", "images", NULL);
        if (r != 0)
                return r;
        if (sd_bus_message_read(reply, "t", &freed) < 0)
                return ZLCTL_EXIT_FAILURE;
        printf("Freed %s.\n", format_size(freed, size, sizeof size));
        return ZLCTL_EXIT_OK;
}

/* The daemon resolves paths in its own working directory: an absolute path goes on the bus. */
static char *absolute_path(const char *path) {
        _cleanup_free_ char *cwd = NULL;

        if (path[0] == '/')
                return strdup(path);
        cwd = getcwd(NULL, 0);
        if (!cwd)
                return NULL;
        return strjoin(cwd, "/", path);
}

static int verb_image_import(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ char *path = NULL;
        const char *digest;
        int r;

        if (zlctl_want_help(argc, argv)) {
                printf("%s image import PATH [REF]\n\nAdd an image to the node's store from an "
                       "OCI image layout directory or an\nimage archive: an OCI layout tar ('%s "
                       "image export', 'skopeo copy ...\noci-archive:') or a docker archive "
                       "('docker save', 'podman save'), plain or\ncompressed. Without REF the "
                       "image gets the name the layout or archive gives it.\nPrints the "
                       "manifest digest.\n",
                       program_name, program_name);
                return ZLCTL_EXIT_OK;
        }
        if (argc < 2 || argc > 3)
                return usage_error("image import", "expected PATH and optionally REF");
        path = realpath(argv[1], NULL);
        if (!path) {
                log_error_errno(errno, "Invalid PATH '%s': %m", argv[1]);
                return ZLCTL_EXIT_FAILURE;
        }
        r = open_bus(&bus);
        if (r != 0)
                return r;
        r = call(bus, "ImportImage", JOB_TIMEOUT_USEC, &reply, "import", argv[1], "ss", path,
                 argc == 3 ? argv[2] : "");
        if (r != 0)
                return r;
        if (sd_bus_message_read(reply, "s", &digest) < 0)
                return ZLCTL_EXIT_FAILURE;
        printf("%s\n", digest);
        return ZLCTL_EXIT_OK;
}

static int verb_image_export(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ char *path = NULL;
        const char *digest;
        int r;

        if (zlctl_want_help(argc, argv)) {
                printf("%s image export REF PATH\n\nWrite an image of the node's store to PATH: "
                       "an OCI layout archive when PATH\nends in .tar (loadable by '%s image "
                       "import', 'podman load', 'docker load' and\n'skopeo copy oci-archive:"
                       "PATH ...'), else an OCI image layout directory, which\nmust not exist "
                       "or be empty. Written atomically. Prints the manifest digest.\n",
                       program_name, program_name);
                return ZLCTL_EXIT_OK;
        }
        if (argc != 3)
                return usage_error("image export", "expected REF and PATH");
        if (isempty(argv[2]) || endswith(argv[2], "/"))
                return usage_error("image export", "PATH must name a file or directory");
        path = absolute_path(argv[2]);
        if (!path)
                return log_oom(), ZLCTL_EXIT_FAILURE;
        r = open_bus(&bus);
        if (r != 0)
                return r;
        r = call(bus, "ExportImage", JOB_TIMEOUT_USEC, &reply, "export", argv[1], "ss", argv[1],
                 path);
        if (r != 0)
                return r;
        if (sd_bus_message_read(reply, "s", &digest) < 0)
                return ZLCTL_EXIT_FAILURE;
        printf("%s\n", digest);
        return ZLCTL_EXIT_OK;
}

static const Verb image_verbs[] = {
        { "ls", verb_image_ls, "List the node's images" },
        { "inspect", verb_image_inspect, "Show an image as JSON" },
        { "rm", verb_image_rm, "Remove image tags" },
        { "tag", verb_image_tag, "Give an image another name" },
        { "prune", verb_image_prune, "Delete what no image or container uses" },
        { "import", verb_image_import, "Add an image from an OCI layout or an archive" },
        { "export", verb_image_export, "Write an image as an OCI layout or archive" },
        { "pull", verb_pull, "Pull an image (as 'pull')" },
        { "push", verb_push, "Push an image (as 'push')" },
        {},
};

int verb_image(int argc, char *argv[]) {
        return dispatch_verb("image", image_verbs, argc - 1, argv + 1);
}
