/* SPDX-License-Identifier: Apache-2.0 */
/* zlctl-container.c: `zlctl container ...` and `zlctl ps`: containers through org.zlayer.Runtime1.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <systemd/sd-event.h>
#include <termios.h>
#include <unistd.h>

#include "bus-error.h"
#include "bus-options.h"
#include "cap-util.h"
#include "fd-util.h"
#include "image-ref.h"
#include "log.h"
#include "parse-util.h"
#include "signal-util.h"
#include "string-util.h"
#include "table.h"
#include "time-util.h"
#include "zlctl-bus.h"
#include "zlctl.h"

#define RUNTIME_SERVICE "org.zlayer.Runtime1"
#define RUNTIME_PATH "/org/zlayer/Runtime1"
#define RUNTIME_IFACE "org.zlayer.Runtime1"
#define CONTAINER_IFACE "org.zlayer.Runtime1.Container"

/* Calls that only change state answer at once; StopContainer and WaitExec wait for a process and
 * get their own timeouts. */
#define CALL_TIMEOUT_USEC (30 * USEC_PER_SEC)
#define PULL_TIMEOUT_USEC (30 * USEC_PER_MINUTE)
#define WAIT_FOREVER_USEC (365 * USEC_PER_DAY)
/* After the container exited, how long its log stream may take to reach EOF. */
#define DRAIN_TIMEOUT_USEC (2 * USEC_PER_SEC)
#define POLL_INTERVAL_USEC (500 * USEC_PER_MSEC)
#define STOP_TIMEOUT_DEFAULT 10U

static int new_call(sd_bus *bus, const char *method, sd_bus_message **ret) {
        return sd_bus_message_new_method_call(bus, ret, RUNTIME_SERVICE, RUNTIME_PATH,
                                              RUNTIME_IFACE, method);
}

/* A Runtime1 call with simple arguments ("s", "sb" ...) and the given timeout. */
static int runtime_call(sd_bus *bus, const char *method, uint64_t timeout, sd_bus_error *error,
                        sd_bus_message **ret_reply, const char *types, ...) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        va_list ap;
        int r;

        r = new_call(bus, method, &m);
        if (r < 0)
                return r;
        va_start(ap, types);
        r = sd_bus_message_appendv(m, types, ap);
        va_end(ap);
        if (r < 0)
                return r;
        return sd_bus_call(bus, m, timeout, error, ret_reply);
}

/* "K=V" (or "K" for an empty value, as Docker allows for labels) into key and value; the key must
 * not be empty. */
static int split_key_value(const char *s, bool value_required, char **ret_key,
                           const char **ret_value) {
        const char *eq = strchr(s, '=');
        char *k;

        if (!eq && value_required)
                return -EINVAL;
        if ((eq ? (size_t) (eq - s) : strlen(s)) == 0)
                return -EINVAL;
        k = eq ? strndup(s, eq - s) : strdup(s);
        if (!k)
                return -ENOMEM;
        *ret_key = k;
        *ret_value = eq ? eq + 1 : "";
        return 0;
}

/* ---- human times and sizes ---- */

/* "Less than a second", "1 second", "5 minutes", "About an hour", "3 days" ...: coarse on
 * purpose, as people read a list of containers. */
static const char *format_human_duration(usec_t d, char *buf, size_t len) {
        uint64_t s = d / USEC_PER_SEC, m = s / 60, h = (s + 1800) / 3600;

        if (s < 1)
                snprintf(buf, len, "Less than a second");
        else if (s == 1)
                snprintf(buf, len, "1 second");
        else if (s < 60)
                snprintf(buf, len, "%" PRIu64 " seconds", s);
        else if (m == 1)
                snprintf(buf, len, "About a minute");
        else if (m < 60)
                snprintf(buf, len, "%" PRIu64 " minutes", m);
        else if (h == 1)
                snprintf(buf, len, "About an hour");
        else if (h < 48)
                snprintf(buf, len, "%" PRIu64 " hours", h);
        else if (h < 24 * 7 * 2)
                snprintf(buf, len, "%" PRIu64 " days", h / 24);
        else if (h < 24 * 30 * 2)
                snprintf(buf, len, "%" PRIu64 " weeks", h / 24 / 7);
        else if (h < 24 * 365 * 2)
                snprintf(buf, len, "%" PRIu64 " months", h / 24 / 30);
        else
                snprintf(buf, len, "%" PRIu64 " years", h / 24 / 365);
        return buf;
}

static usec_t since(usec_t t, usec_t n) {
        return t > 0 && t <= n ? n - t : 0;
}

/* Bytes with a binary unit and one decimal: "512B", "1.5KiB", "12.3MiB". */
static const char *format_bytes_human(uint64_t b, char *buf, size_t len) {
        static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB" };
        double v = (double) b;
        size_t i = 0;

        if (b < 1024) {
                snprintf(buf, len, "%" PRIu64 "B", b);
                return buf;
        }
        v /= 1024.0;
        while (v >= 1024.0 && i + 1 < ELEMENTSOF(units)) {
                v /= 1024.0;
                i++;
        }
        snprintf(buf, len, "%.1f%s", v, units[i]);
        return buf;
}

/* ---- containers as ListContainers returns them ---- */

typedef struct ContainerInfo {
        char *id;
        char *name;
        char *image;
        char *state;
        uint32_t pid;
        int32_t exit_code;
        usec_t created_at;
        usec_t started_at;
        usec_t finished_at;
        char **labels; /* key, value, key, value ... */
        char *ip; /* from zl-netd, "" when the container has none */
        char *rootfs; /* from InspectContainer, when the image is "" */
} ContainerInfo;

static void container_info_done(ContainerInfo *c) {
        free(c->id);
        free(c->name);
        free(c->image);
        free(c->state);
        strv_free(c->labels);
        free(c->ip);
        free(c->rootfs);
}

typedef struct ContainerList {
        ContainerInfo *items;
        size_t n;
} ContainerList;

static void container_list_done(ContainerList *l) {
        for (size_t i = 0; i < l->n; i++)
                container_info_done(&l->items[i]);
        l->items = mfree(l->items);
        l->n = 0;
}

static const char *container_label(const ContainerInfo *c, const char *key) {
        for (char **l = c->labels; l && l[0] && l[1]; l += 2)
                if (streq(l[0], key))
                        return l[1];
        return NULL;
}

static int read_container_info(sd_bus_message *m, ContainerInfo *c) {
        const char *id, *name, *image, *state;
        uint64_t created, started, finished;
        int r;

        r = sd_bus_message_read(m, "ssssuittt", &id, &name, &image, &state, &c->pid, &c->exit_code,
                                &created, &started, &finished);
        if (r < 0)
                return r;
        c->created_at = created;
        c->started_at = started;
        c->finished_at = finished;
        c->id = strdup(id);
        c->name = strdup(name);
        c->image = strdup(image);
        c->state = strdup(state);
        if (!c->id || !c->name || !c->image || !c->state)
                return -ENOMEM;
        r = sd_bus_message_enter_container(m, 'a', "{ss}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_read(m, "{ss}", &name, &image)) > 0) {
                r = strv_extend(&c->labels, name);
                if (r >= 0)
                        r = strv_extend(&c->labels, image);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        r = sd_bus_message_exit_container(m);
        if (r < 0)
                return r;
        r = sd_bus_message_read(m, "s", &name);
        if (r < 0)
                return r;
        c->ip = strdup(name);
        return c->ip ? 0 : -ENOMEM;
}

/* ListContainers with the filter given as: state and name (may be NULL), labels ("key" or
 * "key=value", all must match). */
static int list_containers(sd_bus *bus, const char *state, const char *name, char *const *labels,
                           ContainerList *ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        ContainerList l = {};
        int r;

        r = new_call(bus, "ListContainers", &m);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && state)
                r = sd_bus_message_append(m, "{sv}", "state", "s", state);
        if (r >= 0 && name)
                r = sd_bus_message_append(m, "{sv}", "name", "s", name);
        if (r >= 0 && labels)
                r = zl_bus_append_option_strv(m, "label", labels);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0)
                return log_error_errno(r, "Failed to build the ListContainers call: %m");
        r = sd_bus_call(bus, m, CALL_TIMEOUT_USEC, &error, &reply);
        if (r < 0)
                return zlctl_log_call_error(r, &error, "list the containers");

        r = sd_bus_message_enter_container(reply, 'a', "(ssssuittta{ss}s)");
        while (r >= 0) {
                ContainerInfo *items;

                r = sd_bus_message_enter_container(reply, 'r', "ssssuittta{ss}s");
                if (r <= 0)
                        break;
                items = reallocarray(l.items, l.n + 1, sizeof(ContainerInfo));
                if (!items) {
                        r = -ENOMEM;
                        break;
                }
                l.items = items;
                l.items[l.n] = (ContainerInfo){};
                r = read_container_info(reply, &l.items[l.n++]);
                if (r >= 0)
                        r = sd_bus_message_exit_container(reply);
        }
        if (r >= 0)
                r = sd_bus_message_exit_container(reply);
        if (r < 0) {
                container_list_done(&l);
                return log_error_errno(r, "Failed to read the list of containers: %m");
        }
        *ret = l;
        return 0;
}

/* InspectContainer, parsed. */
static int inspect_container(sd_bus *bus, const char *id, json_t **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *what = NULL;
        json_error_t jerr;
        const char *text;
        json_t *j;
        int r;

        what = strjoin("inspect container '", id, "'");
        if (!what)
                return log_oom();
        r = runtime_call(bus, "InspectContainer", CALL_TIMEOUT_USEC, &error, &reply, "s", id);
        if (r < 0)
                return zlctl_log_call_error(r, &error, what);
        r = sd_bus_message_read(reply, "s", &text);
        if (r < 0)
                return log_error_errno(r, "Failed to read the reply to InspectContainer: %m");
        j = json_loads(text, 0, &jerr);
        if (!j || !json_is_object(j)) {
                json_decref(j);
                return log_error_errno(EBADMSG,
                                       "InspectContainer of '%s' returned no JSON object: %s", id,
                                       jerr.text);
        }
        *ret = j;
        return 0;
}

/* ---- create and run: options ---- */

typedef struct CreateArgs {
        const char *name;
        bool detach, tty, rm, read_only;
        char **env;
        char **cap_add;
        char **cap_drop;
        char **labels; /* key, value, key, value ... */
        uint64_t memory;
        double cpus;
        uint64_t pids;
        const char *network;
        const char *user;
        const char *workdir;
        const char *hostname;
        char *rootfs; /* absolute */
        const char *image; /* without --rootfs: the first argument */
        const char *pull; /* pull_policy */
        const char *platform; /* of the pull */
        const char *creds; /* "user:password" for the pull */
        char **entrypoint;
        char **args; /* points into argv */
} CreateArgs;

static void create_args_done(CreateArgs *a) {
        strv_free(a->env);
        strv_free(a->cap_add);
        strv_free(a->cap_drop);
        strv_free(a->labels);
        strv_free(a->entrypoint);
        free(a->rootfs);
}

static int parse_capability_arg(const char *command, const char *option, const char *s, char ***l) {
        int cap;

        if (streq(s, "ALL") || streq(s, "all"))
                return strv_extend(l, "ALL") < 0 ? log_oom() : 0;
        cap = capability_from_name(s);
        if (cap < 0) {
                const char *const *names = capability_names();
                const char *bare[64] = {}, *guess = NULL;
                size_t n = 0;

                /* Compared without "CAP_", which people leave out and which would make every
                 * name look alike. */
                for (; names[n] && n < ELEMENTSOF(bare) - 1; n++)
                        bare[n] = startswith(names[n], "CAP_") ?: names[n];
                guess = string_suggest(startswith_no_case(s, "CAP_") ?: s, bare);

                if (guess)
                        return usage_error(command,
                                           "invalid %s '%s': unknown capability; did "
                                           "you mean '%s'?",
                                           option, s, guess);
                return usage_error(command, "invalid %s '%s': unknown capability", option, s);
        }
        return strv_extend(l, capability_to_name(cap)) < 0 ? log_oom() : 0;
}

static void create_help(bool run) {
        const char *verb = run ? "run" : "create";

        printf("%s container %s [OPTIONS...] IMAGE [CMD [ARG...]]\n"
               "%s container %s [OPTIONS...] --rootfs DIR [CMD [ARG...]]\n\n",
               program_name, verb, program_name, verb);
        if (run)
                printf("Create a container from an image (pulled first unless the node has it) or\n"
                       "a root directory, and start it. Without -d, its\n"
                       "output is streamed (stdout to stdout, stderr to stderr) and zlctl exits\n"
                       "with the container's exit code once it has exited; SIGINT and SIGTERM\n"
                       "are passed on to the container.\n\n");
        else
                printf("Create a container from an image or a root directory without starting\n"
                       "it, and print its id. Start it with '%s container start ID'.\n\n",
                       program_name);
        printf("Options:\n"
               "  -h --help                Show this help\n"
               "     --rootfs=DIR          A root directory instead of an IMAGE\n"
               "     --pull=POLICY         missing (default: pull when the node lacks the\n"
               "                           image), always or never\n"
               "     --platform=P          os/arch[/variant] to pull (default: the node's)\n"
               "     --creds=USER:PASS     Registry credentials for the pull (else those of\n"
               "                           'login')\n"
               "     --entrypoint=CMD      Replace the image's entrypoint (and drop its CMD)\n"
               "     --name=NAME           Name it (default: zl- and 8 hex digits)\n");
        if (run)
                printf("  -d --detach              Start it in the background and print its id\n"
                       "     --rm                  Remove it once it has exited (not with -d)\n");
        printf("  -t --tty                 Give it a pseudo-terminal as stdin/stdout/stderr\n"
               "  -e --env=K=V             Set an environment variable (repeatable)\n"
               "     --memory=SIZE         Memory limit (512Mi, 1G, bytes)\n"
               "     --cpus=N              CPU limit in cores (0.5, 2, 500m)\n"
               "     --pids=N              Maximum number of processes\n"
               "     --cap-add=CAP         Add a capability (NET_ADMIN, ALL; repeatable)\n"
               "     --cap-drop=CAP        Drop a capability (repeatable)\n"
               "     --read-only           Mount the root directory read-only\n"
               "     --network=MODE        private (default), none or host\n"
               "  -u --user=USER           name, uid, uid:gid or name:group in the root\n"
               "  -w --workdir=DIR         Working directory inside the container\n"
               "     --hostname=NAME       The container's hostname\n"
               "  -l --label=K=V           Attach a label (repeatable)\n"
               "\nCMD defaults to the image's (entrypoint and command), or /bin/sh with "
               "--rootfs.\n");
        if (run)
                printf("\nExit status: the container's exit code (128+N when killed by signal N);\n"
                       "with -d 0; 1 when it could not be created or started, 2 usage error.\n");
        else
                printf("\nExit status: 0 created, 1 failure, 2 usage error.\n");
}

/* Parses the options of `container run` / `container create` into *a; returns -1 after printing
 * help (exit 0), ZLCTL_EXIT_USAGE or ZLCTL_EXIT_FAILURE, or 0 to go on. */
static int parse_create_args(int argc, char *argv[], bool run, CreateArgs *a) {
        enum {
                ARG_NAME = 0x100,
                ARG_RM,
                ARG_MEMORY,
                ARG_CPUS,
                ARG_PIDS,
                ARG_CAP_ADD,
                ARG_CAP_DROP,
                ARG_READ_ONLY,
                ARG_NETWORK,
                ARG_HOSTNAME,
                ARG_ROOTFS,
                ARG_PULL,
                ARG_ENTRYPOINT,
                ARG_PLATFORM,
                ARG_CREDS,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "name", required_argument, NULL, ARG_NAME },
                { "detach", no_argument, NULL, 'd' },
                { "rm", no_argument, NULL, ARG_RM },
                { "tty", no_argument, NULL, 't' },
                { "env", required_argument, NULL, 'e' },
                { "memory", required_argument, NULL, ARG_MEMORY },
                { "cpus", required_argument, NULL, ARG_CPUS },
                { "pids", required_argument, NULL, ARG_PIDS },
                { "cap-add", required_argument, NULL, ARG_CAP_ADD },
                { "cap-drop", required_argument, NULL, ARG_CAP_DROP },
                { "read-only", no_argument, NULL, ARG_READ_ONLY },
                { "network", required_argument, NULL, ARG_NETWORK },
                { "user", required_argument, NULL, 'u' },
                { "workdir", required_argument, NULL, 'w' },
                { "hostname", required_argument, NULL, ARG_HOSTNAME },
                { "label", required_argument, NULL, 'l' },
                { "rootfs", required_argument, NULL, ARG_ROOTFS },
                { "pull", required_argument, NULL, ARG_PULL },
                { "entrypoint", required_argument, NULL, ARG_ENTRYPOINT },
                { "platform", required_argument, NULL, ARG_PLATFORM },
                { "creds", required_argument, NULL, ARG_CREDS },
                {},
        };
        const char *command = run ? "container run" : "container create";
        _cleanup_(image_ref_freep) ImageRef *ref = NULL;
        const char *why = NULL;
        struct stat st;
        int c, r;

        optind = 0;
        opterr = 0;
        /* '+': the first non-option starts the command, whose own options are not ours. */
        while ((c = getopt_long(argc, argv, "+:hdte:u:w:l:", options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        create_help(run);
                        return -1;
                case ARG_NAME:
                        if (isempty(optarg))
                                return usage_error(command, "invalid --name '': empty");
                        a->name = optarg;
                        break;
                case 'd':
                case ARG_RM:
                        if (!run)
                                return usage_error(command, "unknown option '%s'",
                                                   argv[optind - 1]);
                        if (c == 'd')
                                a->detach = true;
                        else
                                a->rm = true;
                        break;
                case 't':
                        a->tty = true;
                        break;
                case 'e': {
                        _cleanup_free_ char *k = NULL;
                        const char *v;

                        r = split_key_value(optarg, true, &k, &v);
                        if (r == -ENOMEM)
                                return log_oom(), ZLCTL_EXIT_FAILURE;
                        if (r < 0)
                                return usage_error(command, "invalid --env '%s': expected K=V",
                                                   optarg);
                        if (strv_extend(&a->env, optarg) < 0)
                                return log_oom(), ZLCTL_EXIT_FAILURE;
                        break;
                }
                case ARG_MEMORY:
                        if (parse_size(optarg, &a->memory) < 0)
                                return usage_error(command,
                                                   "invalid --memory '%s': expected a size > 0 "
                                                   "such as 512Mi, 1G or 1048576",
                                                   optarg);
                        break;
                case ARG_CPUS:
                        if (parse_cpu(optarg, &a->cpus) < 0)
                                return usage_error(command,
                                                   "invalid --cpus '%s': expected cores > 0 "
                                                   "such as 0.5, 2 or 500m",
                                                   optarg);
                        break;
                case ARG_PIDS:
                        if (safe_atou64(optarg, &a->pids) < 0 || a->pids == 0)
                                return usage_error(command,
                                                   "invalid --pids '%s': expected a number > 0",
                                                   optarg);
                        break;
                case ARG_CAP_ADD:
                case ARG_CAP_DROP:
                        r = parse_capability_arg(
                                command, c == ARG_CAP_ADD ? "--cap-add" : "--cap-drop", optarg,
                                c == ARG_CAP_ADD ? &a->cap_add : &a->cap_drop);
                        if (r != 0)
                                return r < 0 ? ZLCTL_EXIT_FAILURE : r;
                        break;
                case ARG_READ_ONLY:
                        a->read_only = true;
                        break;
                case ARG_NETWORK:
                        if (!streq(optarg, "private") && !streq(optarg, "none") &&
                            !streq(optarg, "host"))
                                return usage_error(command,
                                                   "invalid --network '%s': expected private, "
                                                   "none or host",
                                                   optarg);
                        a->network = optarg;
                        break;
                case 'u':
                        if (isempty(optarg))
                                return usage_error(command, "invalid --user '': empty");
                        a->user = optarg;
                        break;
                case 'w':
                        if (optarg[0] != '/')
                                return usage_error(command,
                                                   "invalid --workdir '%s': not an absolute path",
                                                   optarg);
                        a->workdir = optarg;
                        break;
                case ARG_HOSTNAME:
                        if (isempty(optarg))
                                return usage_error(command, "invalid --hostname '': empty");
                        a->hostname = optarg;
                        break;
                case 'l': {
                        _cleanup_free_ char *k = NULL;
                        const char *v;

                        r = split_key_value(optarg, false, &k, &v);
                        if (r == -ENOMEM)
                                return log_oom(), ZLCTL_EXIT_FAILURE;
                        if (r < 0)
                                return usage_error(
                                        command, "invalid --label '%s': expected K=V or K", optarg);
                        if (strv_extend(&a->labels, k) < 0 || strv_extend(&a->labels, v) < 0)
                                return log_oom(), ZLCTL_EXIT_FAILURE;
                        break;
                }
                case ARG_ROOTFS:
                        if (isempty(optarg))
                                return usage_error(command, "invalid --rootfs '': empty");
                        free(a->rootfs);
                        /* The daemon resolves paths in its own working directory. */
                        a->rootfs = realpath(optarg, NULL);
                        if (!a->rootfs) {
                                log_error_errno(errno, "Invalid --rootfs '%s': %m", optarg);
                                return ZLCTL_EXIT_FAILURE;
                        }
                        if (stat(a->rootfs, &st) < 0 || !S_ISDIR(st.st_mode)) {
                                log_error("Invalid --rootfs '%s': not a directory", optarg);
                                return ZLCTL_EXIT_FAILURE;
                        }
                        break;
                case ARG_PULL:
                        if (streq(optarg, "missing"))
                                a->pull = "if_not_present";
                        else if (streq(optarg, "always") || streq(optarg, "never"))
                                a->pull = optarg;
                        else
                                return usage_error(command,
                                                   "invalid --pull '%s': expected missing, always "
                                                   "or never",
                                                   optarg);
                        break;
                case ARG_ENTRYPOINT:
                        if (isempty(optarg))
                                return usage_error(command, "invalid --entrypoint '': empty");
                        a->entrypoint = strv_free(a->entrypoint);
                        if (strv_extend(&a->entrypoint, optarg) < 0)
                                return log_oom(), ZLCTL_EXIT_FAILURE;
                        break;
                case ARG_PLATFORM:
                        a->platform = optarg;
                        break;
                case ARG_CREDS:
                        /* As `zlctl pull --creds`. */
                        if (!strchr(optarg, ':'))
                                return usage_error(command,
                                                   "invalid --creds: expected USER:PASSWORD");
                        a->creds = optarg;
                        break;
                default:
                        return zlctl_getopt_failure(command, c, argv);
                }
        }
        if (!a->rootfs) {
                if (optind >= argc)
                        return usage_error(command, "missing IMAGE (or --rootfs DIR)");
                a->image = argv[optind++];
                /* A path here is most likely a command given without an image. */
                r = image_ref_parse(a->image, &ref, &why);
                if (r == -ENOMEM)
                        return log_oom(), ZLCTL_EXIT_FAILURE;
                if (r < 0)
                        return usage_error(command,
                                           "invalid IMAGE '%s': %s (missing --rootfs DIR?)",
                                           a->image, why ?: "not an image reference");
        } else if (a->pull || a->entrypoint || a->platform || a->creds)
                return usage_error(command, "--pull, --platform, --creds and --entrypoint need an "
                                            "IMAGE, not --rootfs");
        if (a->rm && a->detach)
                return usage_error(command, "--rm cannot be used with -d: nothing would remove "
                                            "the container once it exits");
        if (optind < argc)
                a->args = argv + optind;
        return 0;
}

static int append_create_options(sd_bus_message *m, const CreateArgs *a) {
        int r;

        r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && a->rootfs)
                r = sd_bus_message_append(m, "{sv}", "rootfs", "s", a->rootfs);
        if (r >= 0 && a->image)
                r = sd_bus_message_append(m, "{sv}", "image", "s", a->image);
        if (r >= 0 && a->pull)
                r = sd_bus_message_append(m, "{sv}", "pull_policy", "s", a->pull);
        if (r >= 0 && a->platform)
                r = sd_bus_message_append(m, "{sv}", "platform", "s", a->platform);
        if (r >= 0 && a->creds)
                r = sd_bus_message_append(m, "{sv}", "registry_auth", "s", a->creds);
        if (r >= 0 && a->entrypoint)
                r = zl_bus_append_option_strv(m, "entrypoint", a->entrypoint);
        if (r >= 0 && a->args)
                r = zl_bus_append_option_strv(m, "args", a->args);
        if (r >= 0 && a->env)
                r = zl_bus_append_option_strv(m, "env", a->env);
        if (r >= 0 && a->workdir)
                r = sd_bus_message_append(m, "{sv}", "cwd", "s", a->workdir);
        if (r >= 0 && a->user)
                r = sd_bus_message_append(m, "{sv}", "user", "s", a->user);
        if (r >= 0 && a->hostname)
                r = sd_bus_message_append(m, "{sv}", "hostname", "s", a->hostname);
        if (r >= 0 && a->tty)
                r = sd_bus_message_append(m, "{sv}", "terminal", "b", 1);
        if (r >= 0 && a->memory > 0)
                r = sd_bus_message_append(m, "{sv}", "memory", "t", a->memory);
        if (r >= 0 && a->cpus > 0)
                r = sd_bus_message_append(m, "{sv}", "cpus", "d", a->cpus);
        if (r >= 0 && a->pids > 0)
                r = sd_bus_message_append(m, "{sv}", "pids", "t", a->pids);
        if (r >= 0 && a->cap_add)
                r = zl_bus_append_option_strv(m, "cap_add", a->cap_add);
        if (r >= 0 && a->cap_drop)
                r = zl_bus_append_option_strv(m, "cap_drop", a->cap_drop);
        if (r >= 0 && a->read_only)
                r = sd_bus_message_append(m, "{sv}", "read_only", "b", 1);
        if (r >= 0 && a->network)
                r = sd_bus_message_append(m, "{sv}", "network", "s", a->network);
        if (r >= 0 && a->labels)
                r = zl_bus_append_option_string_map(m, "labels", a->labels);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r;
}

/* CreateContainer; the new id and object path. */
static int create_container(sd_bus *bus, const CreateArgs *a, char **ret_id, char **ret_path) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *id = NULL, *path = NULL;
        const char *i, *p;
        int r;

        r = new_call(bus, "CreateContainer", &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "ss", strempty(a->name), "");
        if (r >= 0)
                r = append_create_options(m, a);
        if (r < 0)
                return log_error_errno(r, "Failed to build the CreateContainer call: %m");
        /* From an image the reply waits for a pull, which may take long. */
        r = sd_bus_call(bus, m, a->image ? PULL_TIMEOUT_USEC : CALL_TIMEOUT_USEC, &error, &reply);
        if (r < 0)
                return zlctl_log_call_error(r, &error, "create the container");
        r = sd_bus_message_read(reply, "so", &i, &p);
        if (r < 0)
                return log_error_errno(r, "Failed to read the reply to CreateContainer: %m");
        id = strdup(i);
        path = strdup(p);
        if (!id || !path)
                return log_oom();
        *ret_id = TAKE_PTR(id);
        if (ret_path)
                *ret_path = TAKE_PTR(path);
        return 0;
}

/* A call whose first argument is the container id, then `types` (may be ""); failures are
 * logged as "Failed to VERB container 'ID': ...". */
static int container_call(sd_bus *bus, const char *method, const char *verb, const char *id,
                          uint64_t timeout, sd_bus_message **ret_reply, const char *types, ...) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *what = NULL;
        va_list ap;
        int r;

        r = new_call(bus, method, &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "s", id);
        if (r >= 0 && !isempty(types)) {
                va_start(ap, types);
                r = sd_bus_message_appendv(m, types, ap);
                va_end(ap);
        }
        if (r < 0)
                return log_error_errno(r, "Failed to build the %s call: %m", method);
        r = sd_bus_call(bus, m, timeout, &error, ret_reply);
        if (r < 0) {
                what = strjoin(verb, " container '", id, "'");
                if (!what)
                        return log_oom();
                return zlctl_log_call_error(r, &error, what);
        }
        return 0;
}

/* ---- log records ---- */

/* Turns the records of OpenLogs ("<time> <stdout|stderr> <F|P> <text>") back into the
 * container's output: text only, each stream to ours. */
typedef struct LogPrinter {
        ZlctlLineBuffer lines;
        bool timestamps;
        bool midline[2]; /* after a P record of stdout / stderr: the line continues */
} LogPrinter;

static void log_printer_done(LogPrinter *p) {
        zlctl_line_buffer_done(&p->lines);
}

static void log_printer_record(LogPrinter *p, const char *line, size_t n) {
        ZlctlLogRecord rec;
        FILE *f;

        if (zlctl_log_record_parse(line, n, &rec) < 0) {
                /* Not a record: show it rather than lose it. */
                log_debug("Malformed log record: %.*s", (int) n, line);
                fwrite(line, 1, n, stdout);
                fputc('\n', stdout);
                return;
        }
        f = rec.err ? stderr : stdout;
        if (p->timestamps && !p->midline[rec.err]) {
                fwrite(rec.time, 1, rec.time_len, f);
                fputc(' ', f);
        }
        fwrite(rec.text, 1, rec.text_len, f);
        if (!rec.partial)
                fputc('\n', f);
        p->midline[rec.err] = rec.partial;
}

static int log_printer_line(const char *line, size_t n, void *userdata) {
        log_printer_record(userdata, line, n);
        return 0;
}

/* Feeds bytes read from the log descriptor; complete records are printed. */
static int log_printer_feed(LogPrinter *p, const char *data, size_t n) {
        int r;

        r = zlctl_line_buffer_feed(&p->lines, data, n, log_printer_line, p);
        if (r < 0)
                return r;
        fflush(stdout);
        fflush(stderr);
        return 0;
}

/* At EOF: a last record without its newline is still printed. */
static void log_printer_finish(LogPrinter *p) {
        if (p->lines.len > 0)
                log_printer_record(p, p->lines.buf, p->lines.len);
        p->lines.len = 0;
        fflush(stdout);
        fflush(stderr);
}

/* OpenLogs; the descriptor to read the records from. */
static int open_logs(sd_bus *bus, const char *id, bool follow, int64_t tail, usec_t since_usec,
                     int *ret_fd) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = container_call(bus, "OpenLogs", "read the logs of", id, CALL_TIMEOUT_USEC, &reply,
                           "bxt", follow, tail, since_usec);
        if (r < 0)
                return r;
        return zlctl_logs_reply_fd(reply, ret_fd);
}

static int parse_since(const char *command, const char *s, usec_t *ret) {
        uint64_t ms;
        usec_t t;

        /* A duration counts back from now ("10m"); anything else is an RFC 3339 time. */
        if (parse_duration_ms(s, &ms) >= 0) {
                usec_t n = now(CLOCK_REALTIME), d = ms * USEC_PER_MSEC;

                *ret = d < n ? n - d : 1;
                return 0;
        }
        if (parse_timestamp(s, &t) >= 0) {
                *ret = MAX(t, (usec_t) 1);
                return 0;
        }
        return usage_error(command,
                           "invalid --since '%s': expected a duration (10m, 1h30m) or an RFC 3339 "
                           "time (2026-01-02T15:04:05Z)",
                           s);
}

static int verb_container_logs(int argc, char *argv[]) {
        enum { ARG_TAIL = 0x100, ARG_SINCE, ARG_TIMESTAMPS };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "follow", no_argument, NULL, 'f' },
                { "tail", required_argument, NULL, ARG_TAIL },
                { "since", required_argument, NULL, ARG_SINCE },
                { "timestamps", no_argument, NULL, ARG_TIMESTAMPS },
                {},
        };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(log_printer_done) LogPrinter p = {};
        _cleanup_close_ int fd = -EBADF;
        bool follow = false;
        int64_t tail = -1;
        usec_t since_usec = 0;
        int c, r;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":hf", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        printf("%s container logs [OPTIONS...] ID\n\n"
                               "Print a container's output: its stdout to stdout, its stderr to\n"
                               "stderr.\n\n"
                               "Options:\n"
                               "  -h --help              Show this help\n"
                               "  -f --follow            Keep printing new output until the\n"
                               "                         container exits\n"
                               "     --tail=N            Only the last N lines (or 'all')\n"
                               "     --since=WHEN        Only output since a duration ago (10m)\n"
                               "                         or an RFC 3339 time\n"
                               "     --timestamps        Start each line with its time\n"
                               "\nID is a container id, a unique prefix of one, or a name.\n"
                               "\nExit status: 0 success, 1 failure, 2 usage error.\n",
                               program_name);
                        return ZLCTL_EXIT_OK;
                case 'f':
                        follow = true;
                        break;
                case ARG_TAIL:
                        r = zlctl_parse_tail("container logs", optarg, &tail);
                        if (r != 0)
                                return r;
                        break;
                case ARG_SINCE:
                        r = parse_since("container logs", optarg, &since_usec);
                        if (r != 0)
                                return r;
                        break;
                case ARG_TIMESTAMPS:
                        p.timestamps = true;
                        break;
                default:
                        return zlctl_getopt_failure("container logs", c, argv);
                }
        if (optind >= argc)
                return usage_error("container logs", "missing container ID");
        if (argc - optind > 1)
                return usage_error("container logs", "unexpected argument '%s'", argv[optind + 1]);

        if (zlctl_bus_open(&bus, NULL) < 0)
                return ZLCTL_EXIT_FAILURE;
        if (open_logs(bus, argv[optind], follow, tail, since_usec, &fd) < 0)
                return ZLCTL_EXIT_FAILURE;
        for (;;) {
                char buf[64 * 1024];
                ssize_t n = read(fd, buf, sizeof(buf));

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return log_error_errno(errno, "Failed to read the logs: %m"),
                               ZLCTL_EXIT_FAILURE;
                if (n == 0)
                        break;
                if (log_printer_feed(&p, buf, n) < 0)
                        return log_oom(), ZLCTL_EXIT_FAILURE;
        }
        log_printer_finish(&p);
        return ZLCTL_EXIT_OK;
}

/* ---- run ---- */

typedef struct RunContext {
        sd_bus *bus;
        sd_event *event;
        const char *id;
        const char *path;
        LogPrinter printer;
        int log_fd;
        sd_event_source *log_source;
        sd_event_source *drain_source;
        bool logs_done;
        bool exited;
        int exit_code;
} RunContext;

/* The container ran to its end: leave the loop, but keep the bus connection (an event loop
 * closes the connections attached to it as it exits), so --rm can use it. */
static int run_finish(RunContext *ctx) {
        (void) sd_bus_detach_event(ctx->bus);
        return sd_event_exit(ctx->event, 0);
}

static int on_drain_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        RunContext *ctx = userdata;

        log_debug("The log stream did not end in time after the container exited.");
        return run_finish(ctx);
}

static void run_check_done(RunContext *ctx) {
        int r;

        if (!ctx->exited)
                return;
        if (ctx->logs_done) {
                (void) run_finish(ctx);
                return;
        }
        if (ctx->drain_source)
                return;
        r = sd_event_add_time_relative(ctx->event, &ctx->drain_source, CLOCK_MONOTONIC,
                                       DRAIN_TIMEOUT_USEC, 0, on_drain_timeout, ctx);
        if (r < 0)
                (void) sd_event_exit(ctx->event, r);
}

static void run_set_exited(RunContext *ctx, int exit_code) {
        if (ctx->exited)
                return;
        ctx->exited = true;
        ctx->exit_code = exit_code;
        run_check_done(ctx);
}

/* The State and ExitCode properties: for when the signal was missed. */
static int run_poll_state(RunContext *ctx) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *state = NULL;
        int32_t code = -1;
        int r;

        r = sd_bus_get_property_string(ctx->bus, RUNTIME_SERVICE, ctx->path, CONTAINER_IFACE,
                                       "State", &error, &state);
        if (r < 0) {
                if (sd_bus_error_has_names(&error, SD_BUS_ERROR_UNKNOWN_OBJECT,
                                           SD_BUS_ERROR_UNKNOWN_METHOD,
                                           "org.zlayer.Error.NotFound")) {
                        log_error("Container '%s' was removed while it ran.", ctx->id);
                        run_set_exited(ctx, -1);
                        return 0;
                }
                return zlctl_log_call_error(r, &error, "read the container's state");
        }
        if (!streq(state, "exited"))
                return 0;
        r = sd_bus_get_property_trivial(ctx->bus, RUNTIME_SERVICE, ctx->path, CONTAINER_IFACE,
                                        "ExitCode", &error, 'i', &code);
        if (r < 0)
                return zlctl_log_call_error(r, &error, "read the container's exit code");
        run_set_exited(ctx, code);
        return 0;
}

static int on_poll_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        RunContext *ctx = userdata;
        int r;

        if (ctx->exited)
                return 0;
        r = run_poll_state(ctx);
        if (r < 0)
                return sd_event_exit(ctx->event, r);
        if (!ctx->exited) {
                r = sd_event_source_set_time_relative(s, POLL_INTERVAL_USEC);
                if (r >= 0)
                        r = sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
                if (r < 0)
                        return sd_event_exit(ctx->event, r);
        }
        return 0;
}

static int on_state_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        RunContext *ctx = userdata;
        const char *id, *state;
        int32_t code;
        int r;

        r = sd_bus_message_read(m, "ssi", &id, &state, &code);
        if (r < 0) {
                log_debug_errno(r, "Ignoring a malformed ContainerStateChanged: %m");
                return 0;
        }
        if (!streq(id, ctx->id))
                return 0;
        if (streq(state, "exited"))
                run_set_exited(ctx, code);
        else if (streq(state, "removed")) {
                log_error("Container '%s' was removed while it ran.", ctx->id);
                run_set_exited(ctx, -1);
        }
        return 0;
}

static int on_run_log(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        RunContext *ctx = userdata;
        char buf[64 * 1024];
        ssize_t n;
        int r;

        n = read(fd, buf, sizeof(buf));
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
                return 0;
        if (n > 0) {
                if (log_printer_feed(&ctx->printer, buf, n) < 0)
                        return sd_event_exit(ctx->event, log_oom());
                return 0;
        }
        if (n < 0)
                log_debug_errno(errno, "Failed to read the logs, assuming their end: %m");
        log_printer_finish(&ctx->printer);
        ctx->logs_done = true;
        r = sd_event_source_set_enabled(s, SD_EVENT_OFF);
        if (r < 0)
                return sd_event_exit(ctx->event, r);
        /* The stream ends when the container exits: ask now instead of waiting for a poll. */
        if (!ctx->exited) {
                r = run_poll_state(ctx);
                if (r < 0)
                        return sd_event_exit(ctx->event, r);
        }
        run_check_done(ctx);
        return 0;
}

static int on_run_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        RunContext *ctx = userdata;
        const char *name = signal_to_string((int) si->ssi_signo);

        /* Like the terminal's ^C would do to a local process; the exit code tells the rest. */
        (void) container_call(ctx->bus, "KillContainer", "signal", ctx->id, CALL_TIMEOUT_USEC, NULL,
                              "sb", name, 0);
        return 0;
}

static int remove_container(sd_bus *bus, const char *id, bool force) {
        return container_call(bus, "RemoveContainer", "remove", id, CALL_TIMEOUT_USEC, NULL, "b",
                              force);
}

static int run_attached(sd_bus *bus, const char *id, const char *path) {
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *match = NULL;
        _cleanup_(sd_event_source_unrefp) sd_event_source *poll = NULL, *sigint = NULL,
                                                          *sigterm = NULL;
        RunContext ctx = {
                .bus = bus,
                .id = id,
                .path = path,
                .log_fd = -EBADF,
                .exit_code = -1,
        };
        sigset_t mask;
        int r;

        r = sd_event_new(&event);
        if (r < 0)
                return log_error_errno(r, "Failed to create the event loop: %m");
        ctx.event = event;
        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(errno, "Failed to block signals: %m");
        r = sd_event_add_signal(event, &sigint, SIGINT, on_run_signal, &ctx);
        if (r >= 0)
                r = sd_event_add_signal(event, &sigterm, SIGTERM, on_run_signal, &ctx);
        if (r >= 0)
                r = sd_bus_attach_event(bus, event, SD_EVENT_PRIORITY_NORMAL);
        if (r >= 0)
                r = sd_bus_set_exit_on_disconnect(bus, true);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the event loop: %m");

        /* Subscribed before the start, and the logs opened before it too, so that neither the
         * first output nor a quick exit is missed. */
        r = sd_bus_match_signal(bus, &match, RUNTIME_SERVICE, NULL, RUNTIME_IFACE,
                                "ContainerStateChanged", on_state_changed, &ctx);
        if (r < 0)
                return log_error_errno(r, "Failed to subscribe to ContainerStateChanged: %m");
        r = open_logs(bus, id, true, -1, 0, &ctx.log_fd);
        if (r < 0)
                return r;
        r = fd_nonblock(ctx.log_fd, true);
        if (r >= 0)
                r = sd_event_add_io(event, &ctx.log_source, ctx.log_fd, EPOLLIN, on_run_log, &ctx);
        if (r < 0) {
                safe_close(ctx.log_fd);
                return log_error_errno(r, "Failed to watch the logs: %m");
        }
        r = container_call(bus, "StartContainer", "start", id, CALL_TIMEOUT_USEC, NULL, "");
        if (r < 0)
                goto finish;
        r = sd_event_add_time_relative(event, &poll, CLOCK_MONOTONIC, POLL_INTERVAL_USEC, 0,
                                       on_poll_timer, &ctx);
        if (r < 0) {
                log_error_errno(r, "Failed to add a timer: %m");
                goto finish;
        }
        r = sd_event_loop(event);
        if (r < 0)
                log_error_errno(r, "Failed while waiting for the container: %m");
        else if (!ctx.exited) {
                log_error("Lost the connection to the node's bus while container '%s' ran.", id);
                r = -ENOTCONN;
        }

finish:
        ctx.log_source = sd_event_source_disable_unref(ctx.log_source);
        ctx.drain_source = sd_event_source_disable_unref(ctx.drain_source);
        safe_close(ctx.log_fd);
        log_printer_done(&ctx.printer);
        (void) sd_bus_detach_event(bus);
        if (r < 0)
                return r;
        return ctx.exit_code;
}

static int verb_container_run(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(create_args_done) CreateArgs a = {};
        _cleanup_free_ char *id = NULL, *path = NULL;
        int r, code;

        r = parse_create_args(argc, argv, true, &a);
        if (r != 0)
                return r < 0 ? ZLCTL_EXIT_OK : r;
        if (zlctl_bus_open(&bus, NULL) < 0)
                return ZLCTL_EXIT_FAILURE;
        if (create_container(bus, &a, &id, &path) < 0)
                return ZLCTL_EXIT_FAILURE;

        if (a.detach) {
                if (container_call(bus, "StartContainer", "start", id, CALL_TIMEOUT_USEC, NULL,
                                   "") < 0)
                        return ZLCTL_EXIT_FAILURE;
                printf("%s\n", id);
                return ZLCTL_EXIT_OK;
        }

        code = run_attached(bus, id, path);
        if (a.rm) {
                /* After a failure the loop may have closed the connection: open another. */
                if (!sd_bus_is_open(bus)) {
                        bus = sd_bus_flush_close_unref(bus);
                        if (zlctl_bus_open(&bus, NULL) < 0)
                                return ZLCTL_EXIT_FAILURE;
                }
                (void) remove_container(bus, id, false);
        }
        if (code < 0)
                return ZLCTL_EXIT_FAILURE;
        return code;
}

static int verb_container_create(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(create_args_done) CreateArgs a = {};
        _cleanup_free_ char *id = NULL;
        int r;

        r = parse_create_args(argc, argv, false, &a);
        if (r != 0)
                return r < 0 ? ZLCTL_EXIT_OK : r;
        if (zlctl_bus_open(&bus, NULL) < 0)
                return ZLCTL_EXIT_FAILURE;
        if (create_container(bus, &a, &id, NULL) < 0)
                return ZLCTL_EXIT_FAILURE;
        printf("%s\n", id);
        return ZLCTL_EXIT_OK;
}

/* ---- start, stop, kill, rm, pause, resume ---- */

typedef enum IdAction {
        ACTION_START,
        ACTION_STOP,
        ACTION_KILL,
        ACTION_REMOVE,
        ACTION_PAUSE,
        ACTION_RESUME,
} IdAction;

typedef struct IdActionArgs {
        unsigned timeout; /* stop */
        const char *signal; /* kill */
        bool all; /* kill */
        bool force; /* rm */
} IdActionArgs;

static int id_action(sd_bus *bus, IdAction action, const IdActionArgs *a, const char *id) {
        switch (action) {
        case ACTION_START:
                return container_call(bus, "StartContainer", "start", id, CALL_TIMEOUT_USEC, NULL,
                                      "");
        case ACTION_STOP:
                /* The call returns once the container has exited: after the grace period at
                 * the latest. */
                return container_call(bus, "StopContainer", "stop", id,
                                      CALL_TIMEOUT_USEC + a->timeout * USEC_PER_SEC, NULL, "u",
                                      a->timeout);
        case ACTION_KILL:
                return container_call(bus, "KillContainer", "kill", id, CALL_TIMEOUT_USEC, NULL,
                                      "sb", a->signal, a->all);
        case ACTION_REMOVE:
                return remove_container(bus, id, a->force);
        case ACTION_PAUSE:
                return container_call(bus, "PauseContainer", "pause", id, CALL_TIMEOUT_USEC, NULL,
                                      "");
        case ACTION_RESUME:
                return container_call(bus, "ResumeContainer", "resume", id, CALL_TIMEOUT_USEC, NULL,
                                      "");
        }
        return -EINVAL;
}

static void id_action_help(IdAction action) {
        static const char *const usage[] = {
                [ACTION_START] = "start ID...\n\nStart created containers.",
                [ACTION_STOP] = "stop [OPTIONS...] ID...\n\n"
                                "Stop running containers: SIGTERM (or the container's stop\n"
                                "signal), then SIGKILL of all its processes after the grace\n"
                                "period. Returns once each has exited.",
                [ACTION_KILL] = "kill [OPTIONS...] ID...\n\nSend a signal to containers.",
                [ACTION_REMOVE] = "rm [OPTIONS...] ID...\n\n"
                                  "Remove containers that do not run: their state, logs and\n"
                                  "cgroup.",
                [ACTION_PAUSE] = "pause ID...\n\nFreeze every process of running containers.",
                [ACTION_RESUME] = "resume ID...\n\nThaw paused containers.",
        };

        printf("%s container %s\n\nOptions:\n  -h --help              Show this help\n",
               program_name, usage[action]);
        if (action == ACTION_STOP)
                printf("  -t --time=SECONDS      Grace period before SIGKILL (default %u)\n",
                       STOP_TIMEOUT_DEFAULT);
        if (action == ACTION_KILL)
                printf("  -s --signal=SIGNAL     The signal: KILL (default), TERM, SIGHUP, 9 ...\n"
                       "  -a --all               Send it to every process of the container,\n"
                       "                         not only its init\n");
        if (action == ACTION_REMOVE)
                printf("  -f --force             Kill a running container first\n");
        printf("\nID is a container id, a unique prefix of one, or a name. Each ID is printed\n"
               "once done.\n"
               "\nExit status: 0 all done, 1 any failed, 2 usage error.\n");
}

static int verb_id_action(IdAction action, const char *command, int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "time", required_argument, NULL, 't' },
                { "signal", required_argument, NULL, 's' },
                { "all", no_argument, NULL, 'a' },
                { "force", no_argument, NULL, 'f' },
                {},
        };
        static const char *const optstrings[] = {
                [ACTION_START] = ":h",   [ACTION_STOP] = ":ht:", [ACTION_KILL] = ":hs:a",
                [ACTION_REMOVE] = ":hf", [ACTION_PAUSE] = ":h",  [ACTION_RESUME] = ":h",
        };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        IdActionArgs a = { .timeout = STOP_TIMEOUT_DEFAULT, .signal = "SIGKILL" };
        bool failed = false;
        int c, sig;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, optstrings[action], options, NULL)) >= 0) {
                /* The long options are shared: refuse those of other commands. */
                if ((c == 't' && action != ACTION_STOP) ||
                    ((c == 's' || c == 'a') && action != ACTION_KILL) ||
                    (c == 'f' && action != ACTION_REMOVE))
                        return usage_error(command, "unknown option '%s'", argv[optind - 1]);
                switch (c) {
                case 'h':
                        id_action_help(action);
                        return ZLCTL_EXIT_OK;
                case 't':
                        if (safe_atou(optarg, &a.timeout) < 0 || a.timeout > 24 * 3600)
                                return usage_error(command,
                                                   "invalid --time '%s': expected seconds, "
                                                   "0 to 86400",
                                                   optarg);
                        break;
                case 's':
                        sig = signal_from_string(optarg);
                        if (sig < 0) {
                                const char *guess = string_suggest(optarg, signal_names());

                                if (guess)
                                        return usage_error(command,
                                                           "invalid --signal '%s': unknown "
                                                           "signal; did you mean '%s'?",
                                                           optarg, guess);
                                return usage_error(command, "invalid --signal '%s': unknown signal",
                                                   optarg);
                        }
                        a.signal = signal_to_string(sig);
                        break;
                case 'a':
                        a.all = true;
                        break;
                case 'f':
                        a.force = true;
                        break;
                default:
                        return zlctl_getopt_failure(command, c, argv);
                }
        }
        if (optind >= argc)
                return usage_error(command, "missing container ID");

        if (zlctl_bus_open(&bus, NULL) < 0)
                return ZLCTL_EXIT_FAILURE;
        for (int i = optind; i < argc; i++) {
                if (id_action(bus, action, &a, argv[i]) < 0) {
                        failed = true;
                        continue;
                }
                printf("%s\n", argv[i]);
                fflush(stdout);
        }
        return failed ? ZLCTL_EXIT_FAILURE : ZLCTL_EXIT_OK;
}

static int verb_container_start(int argc, char *argv[]) {
        return verb_id_action(ACTION_START, "container start", argc, argv);
}

static int verb_container_stop(int argc, char *argv[]) {
        return verb_id_action(ACTION_STOP, "container stop", argc, argv);
}

static int verb_container_kill(int argc, char *argv[]) {
        return verb_id_action(ACTION_KILL, "container kill", argc, argv);
}

static int verb_container_rm(int argc, char *argv[]) {
        return verb_id_action(ACTION_REMOVE, "container rm", argc, argv);
}

static int verb_container_pause(int argc, char *argv[]) {
        return verb_id_action(ACTION_PAUSE, "container pause", argc, argv);
}

static int verb_container_resume(int argc, char *argv[]) {
        return verb_id_action(ACTION_RESUME, "container resume", argc, argv);
}

/* ---- inspect ---- */

static int verb_container_inspect(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "output", required_argument, NULL, 'o' },
                {},
        };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(json_decrefp) json_t *arr = NULL;
        bool failed = false, json = true;
        int c, r;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":ho:", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        printf("%s container inspect [OPTIONS...] ID...\n\n"
                               "Print everything known about containers as a JSON array of\n"
                               "objects (InspectContainer): id, name, state, pid, exit_code,\n"
                               "oom_killed, times, image, labels, rootfs, cgroup, log_path and\n"
                               "the OCI config it runs.\n\n"
                               "Options:\n"
                               "  -h --help              Show this help\n"
                               "  -o --output=json       The only format (accepted for scripts)\n"
                               "\nExit status: 0 all found, 1 any failed, 2 usage error.\n",
                               program_name);
                        return ZLCTL_EXIT_OK;
                case 'o':
                        r = zlctl_parse_output("container inspect", optarg, &json);
                        if (r != 0)
                                return r;
                        if (!json)
                                return usage_error("container inspect",
                                                   "invalid --output 'table': inspect prints "
                                                   "JSON only");
                        break;
                default:
                        return zlctl_getopt_failure("container inspect", c, argv);
                }
        if (optind >= argc)
                return usage_error("container inspect", "missing container ID");

        if (zlctl_bus_open(&bus, NULL) < 0)
                return ZLCTL_EXIT_FAILURE;
        arr = json_array();
        if (!arr)
                return log_oom(), ZLCTL_EXIT_FAILURE;
        for (int i = optind; i < argc; i++) {
                json_t *j;

                if (inspect_container(bus, argv[i], &j) < 0) {
                        failed = true;
                        continue;
                }
                if (json_array_append_new(arr, j) < 0)
                        return log_oom(), ZLCTL_EXIT_FAILURE;
        }
        if (zlctl_print_json(arr) < 0)
                return ZLCTL_EXIT_FAILURE;
        return failed ? ZLCTL_EXIT_FAILURE : ZLCTL_EXIT_OK;
}

/* ---- ls and ps ---- */

static bool state_is_up(const char *state) {
        return streq(state, "running") || streq(state, "paused");
}

/* The rootfs of containers made without an image, for the IMAGE/ROOTFS column. */
static void fill_rootfs(sd_bus *bus, ContainerList *l) {
        for (size_t i = 0; i < l->n; i++) {
                _cleanup_(json_decrefp) json_t *j = NULL;
                const char *rootfs;

                if (!isempty(l->items[i].image))
                        continue;
                /* It may have been removed since the list was made: then it shows as "-". */
                if (inspect_container(bus, l->items[i].id, &j) < 0)
                        continue;
                rootfs = zlctl_json_str(j, "rootfs");
                if (rootfs)
                        l->items[i].rootfs = strdup(rootfs);
        }
}

static const char *container_status(const ContainerInfo *c, usec_t n, char *buf, size_t len) {
        char d[64];

        if (streq(c->state, "running") || streq(c->state, "paused"))
                snprintf(buf, len, "Up %s%s",
                         format_human_duration(since(c->started_at, n), d, sizeof(d)),
                         streq(c->state, "paused") ? " (Paused)" : "");
        else if (streq(c->state, "exited") && c->finished_at > 0)
                snprintf(buf, len, "Exited (%" PRIi32 ") %s ago", c->exit_code,
                         format_human_duration(since(c->finished_at, n), d, sizeof(d)));
        else if (streq(c->state, "exited"))
                snprintf(buf, len, "Exited (%" PRIi32 ")", c->exit_code);
        else if (streq(c->state, "created"))
                snprintf(buf, len, "Created");
        else
                snprintf(buf, len, "%s", c->state);
        return buf;
}

static json_t *labels_to_json(const ContainerInfo *c) {
        json_t *o = json_object();

        for (char **l = c->labels; o && l && l[0] && l[1]; l += 2)
                if (json_object_set_new(o, l[0], json_string(l[1])) < 0)
                        return json_decref(o), NULL;
        return o;
}

static json_t *time_to_json(usec_t t) {
        return t > 0 ? json_integer((json_int_t) t) : json_null();
}

static json_t *container_to_json(const ContainerInfo *c, usec_t n) {
        char status[128];

        return json_pack("{s:s, s:s, s:s, s:s?, s:s, s:s, s:I, s:o, s:o, s:o, s:o, s:o, s:s?}",
                         "id", c->id, "name", c->name, "image", c->image, "rootfs", c->rootfs,
                         "state", c->state, "status",
                         container_status(c, n, status, sizeof(status)), "pid", (json_int_t) c->pid,
                         "exit_code", c->exit_code >= 0 ? json_integer(c->exit_code) : json_null(),
                         "created_at", time_to_json(c->created_at), "started_at",
                         time_to_json(c->started_at), "finished_at", time_to_json(c->finished_at),
                         "labels", labels_to_json(c), "ip", isempty(c->ip) ? NULL : c->ip);
}

static int print_list_json(const ContainerList *l, bool (*keep)(const ContainerInfo *c)) {
        _cleanup_(json_decrefp) json_t *arr = json_array();
        usec_t n = now(CLOCK_REALTIME);

        if (!arr)
                return log_oom();
        for (size_t i = 0; i < l->n; i++) {
                if (keep && !keep(&l->items[i]))
                        continue;
                json_t *o = container_to_json(&l->items[i], n);
                if (!o || json_array_append_new(arr, o) < 0)
                        return log_oom();
        }
        return zlctl_print_json(arr);
}

static bool keep_up(const ContainerInfo *c) {
        return state_is_up(c->state);
}

static int parse_filter(const char *command, const char *s, const char **state, const char **name,
                        char ***labels) {
        const char *v;

        if ((v = startswith(s, "state="))) {
                if (!streq(v, "created") && !streq(v, "running") && !streq(v, "paused") &&
                    !streq(v, "exited"))
                        return usage_error(command,
                                           "invalid --filter '%s': state is created, running, "
                                           "paused or exited",
                                           s);
                *state = v;
        } else if ((v = startswith(s, "label="))) {
                if (isempty(v) || v[0] == '=')
                        return usage_error(command,
                                           "invalid --filter '%s': expected label=K or "
                                           "label=K=V",
                                           s);
                if (strv_extend(labels, v) < 0)
                        return log_oom(), ZLCTL_EXIT_FAILURE;
        } else if ((v = startswith(s, "name="))) {
                if (isempty(v))
                        return usage_error(command, "invalid --filter '%s': empty name", s);
                *name = v;
        } else
                return usage_error(command,
                                   "invalid --filter '%s': expected state=S, label=K[=V] or "
                                   "name=N",
                                   s);
        return 0;
}

static int verb_container_ls(int argc, char *argv[]) {
        enum { ARG_NO_TRUNC = 0x100 };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "all", no_argument, NULL, 'a' },
                { "filter", required_argument, NULL, 'f' },
                { "quiet", no_argument, NULL, 'q' },
                { "no-trunc", no_argument, NULL, ARG_NO_TRUNC },
                { "output", required_argument, NULL, 'o' },
                {},
        };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(container_list_done) ContainerList l = {};
        _cleanup_(table_freep) Table *t = NULL;
        _cleanup_strv_free_ char **labels = NULL;
        const char *state = NULL, *name = NULL;
        bool all = false, json = false, quiet = false, no_trunc = false;
        usec_t n;
        int c, r;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":haf:qo:", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        printf("%s container ls [OPTIONS...]\n\n"
                               "List containers, oldest first: running and paused ones, or all\n"
                               "with -a.\n\n"
                               "Options:\n"
                               "  -h --help              Show this help\n"
                               "  -a --all               Show containers in every state\n"
                               "  -f --filter=FILTER     state=S, label=K, label=K=V or name=N\n"
                               "                         (repeatable; all must match)\n"
                               "  -q --quiet             Print only the ids\n"
                               "     --no-trunc          Print whole ids\n"
                               "  -o --output=FORMAT     table (default) or json\n"
                               "\nExit status: 0 success, 1 failure, 2 usage error.\n",
                               program_name);
                        return ZLCTL_EXIT_OK;
                case 'a':
                        all = true;
                        break;
                case 'f':
                        r = parse_filter("container ls", optarg, &state, &name, &labels);
                        if (r != 0)
                                return r;
                        break;
                case 'q':
                        quiet = true;
                        break;
                case ARG_NO_TRUNC:
                        no_trunc = true;
                        break;
                case 'o':
                        r = zlctl_parse_output("container ls", optarg, &json);
                        if (r != 0)
                                return r;
                        break;
                default:
                        return zlctl_getopt_failure("container ls", c, argv);
                }
        if (optind < argc)
                return usage_error("container ls", "unexpected argument '%s'", argv[optind]);

        if (zlctl_bus_open(&bus, NULL) < 0)
                return ZLCTL_EXIT_FAILURE;
        if (list_containers(bus, state, name, labels, &l) < 0)
                return ZLCTL_EXIT_FAILURE;
        /* A state filter says which states are wanted; otherwise -a decides. */
        all = all || state;
        if (quiet) {
                for (size_t i = 0; i < l.n; i++)
                        if (all || state_is_up(l.items[i].state))
                                printf("%.*s\n", no_trunc ? INT_MAX : ZLCTL_SHORT_ID_LEN,
                                       l.items[i].id);
                return ZLCTL_EXIT_OK;
        }
        fill_rootfs(bus, &l);
        if (json)
                return print_list_json(&l, all ? NULL : keep_up) < 0 ? ZLCTL_EXIT_FAILURE
                                                                     : ZLCTL_EXIT_OK;

        t = table_new("ID", "NAME", "IMAGE/ROOTFS", "STATE", "CREATED", "STATUS");
        if (!t)
                return log_oom(), ZLCTL_EXIT_FAILURE;
        n = now(CLOCK_REALTIME);
        for (size_t i = 0; i < l.n; i++) {
                const ContainerInfo *ci = &l.items[i];
                char id[ZLCTL_SHORT_ID_LEN + 1], created[80], status[128], d[64];

                if (!all && !state_is_up(ci->state))
                        continue;
                snprintf(id, sizeof(id), "%s", ci->id);
                snprintf(created, sizeof(created), "%s ago",
                         format_human_duration(since(ci->created_at, n), d, sizeof(d)));
                r = table_add_row(t, no_trunc ? ci->id : id, ci->name,
                                  isempty(ci->image) ? ci->rootfs : ci->image, ci->state, created,
                                  container_status(ci, n, status, sizeof(status)));
                if (r < 0)
                        return log_oom(), ZLCTL_EXIT_FAILURE;
        }
        return zlctl_print_table(t) < 0 ? ZLCTL_EXIT_FAILURE : ZLCTL_EXIT_OK;
}

int verb_ps(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "all", no_argument, NULL, 'a' },
                { "output", required_argument, NULL, 'o' },
                {},
        };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(container_list_done) ContainerList l = {};
        _cleanup_(table_freep) Table *t = NULL;
        _cleanup_free_ char *qualified = NULL;
        bool all = false, json = false;
        usec_t n;
        int c, r;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":hao:", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        printf("%s ps [OPTIONS...]\n\n"
                               "List the containers with the service and replica index they\n"
                               "belong to (labels zlayer.service and zlayer.replica, as zl-schedd\n"
                               "sets them, the service as DEPLOYMENT/SERVICE with a label\n"
                               "zlayer.deployment; '-' for none), their state, IP address (from\n"
                               "zl-netd, '-' for none)\n"
                               "and uptime. Running and paused ones, or all with -a.\n\n"
                               "Options:\n"
                               "  -h --help              Show this help\n"
                               "  -a --all               Show containers in every state\n"
                               "  -o --output=FORMAT     table (default) or json\n"
                               "\nExit status: 0 success, 1 failure, 2 usage error.\n",
                               program_name);
                        return ZLCTL_EXIT_OK;
                case 'a':
                        all = true;
                        break;
                case 'o':
                        r = zlctl_parse_output("ps", optarg, &json);
                        if (r != 0)
                                return r;
                        break;
                default:
                        return zlctl_getopt_failure("ps", c, argv);
                }
        if (optind < argc)
                return usage_error("ps", "unexpected argument '%s'", argv[optind]);

        if (zlctl_bus_open(&bus, NULL) < 0)
                return ZLCTL_EXIT_FAILURE;
        if (list_containers(bus, NULL, NULL, NULL, &l) < 0)
                return ZLCTL_EXIT_FAILURE;
        if (json)
                return print_list_json(&l, all ? NULL : keep_up) < 0 ? ZLCTL_EXIT_FAILURE
                                                                     : ZLCTL_EXIT_OK;

        t = table_new("ID", "SERVICE", "REPLICA", "NAME", "STATE", "IP", "UPTIME");
        if (!t)
                return log_oom(), ZLCTL_EXIT_FAILURE;
        n = now(CLOCK_REALTIME);
        for (size_t i = 0; i < l.n; i++) {
                const ContainerInfo *ci = &l.items[i];
                char id[ZLCTL_SHORT_ID_LEN + 1], span[TIMESPAN_MAX_LEN];
                const char *uptime = NULL, *service, *deployment;

                if (!all && !state_is_up(ci->state))
                        continue;
                snprintf(id, sizeof(id), "%s", ci->id);
                if (state_is_up(ci->state) && ci->started_at > 0)
                        uptime = format_uptime(since(ci->started_at, n), span, sizeof(span));
                /* A scheduler's replica shows as DEPLOYMENT/SERVICE. */
                service = container_label(ci, "zlayer.service");
                deployment = container_label(ci, "zlayer.deployment");
                if (service && deployment) {
                        qualified = mfree(qualified);
                        qualified = strjoin(deployment, "/", service);
                        if (!qualified)
                                return log_oom(), ZLCTL_EXIT_FAILURE;
                        service = qualified;
                }
                r = table_add_row(t, id, service, container_label(ci, "zlayer.replica"), ci->name,
                                  ci->state, isempty(ci->ip) ? NULL : ci->ip, uptime);
                if (r < 0)
                        return log_oom(), ZLCTL_EXIT_FAILURE;
        }
        return zlctl_print_table(t) < 0 ? ZLCTL_EXIT_FAILURE : ZLCTL_EXIT_OK;
}

/* ---- stats ---- */

#define STATS_INTERVAL_USEC (1 * USEC_PER_SEC)
#define STATS_FIRST_INTERVAL_USEC (500 * USEC_PER_MSEC)

typedef struct StatsSample {
        bool ok;
        usec_t at; /* CLOCK_MONOTONIC */
        json_t *raw;
} StatsSample;

typedef struct StatsTarget {
        char *id;
        char *name;
        StatsSample prev, cur;
} StatsTarget;

static void stats_target_done(StatsTarget *t) {
        free(t->id);
        free(t->name);
        json_decref(t->prev.raw);
        json_decref(t->cur.raw);
}

static bool stats_get(const StatsSample *s, const char *key, uint64_t *ret) {
        json_t *v = s->ok ? json_object_get(s->raw, key) : NULL;

        if (!json_is_integer(v))
                return false;
        *ret = (uint64_t) json_integer_value(v);
        return true;
}

/* GetStats into a JSON object of the statistics present (all are 't'). */
static int get_stats(sd_bus *bus, const char *id, bool quiet, StatsSample *ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(json_decrefp) json_t *o = NULL;
        int r;

        if (quiet) {
                r = runtime_call(bus, "GetStats", CALL_TIMEOUT_USEC, &error, &reply, "s", id);
                if (r < 0)
                        return r;
        } else {
                r = container_call(bus, "GetStats", "get the statistics of", id, CALL_TIMEOUT_USEC,
                                   &reply, "");
                if (r < 0)
                        return r;
        }
        o = json_object();
        if (!o)
                return log_oom();
        r = sd_bus_message_enter_container(reply, 'a', "{sv}");
        while (r >= 0) {
                const char *key, *contents;
                uint64_t v;
                char type;

                r = sd_bus_message_enter_container(reply, 'e', "sv");
                if (r <= 0)
                        break;
                r = sd_bus_message_read(reply, "s", &key);
                if (r >= 0)
                        r = sd_bus_message_peek_type(reply, &type, &contents);
                if (r < 0)
                        break;
                if (streq(contents, "t")) {
                        r = sd_bus_message_read(reply, "v", "t", &v);
                        if (r >= 0 && json_object_set_new(o, key, json_integer((json_int_t) v)) < 0)
                                r = -ENOMEM;
                } else
                        r = sd_bus_message_skip(reply, "v");
                if (r >= 0)
                        r = sd_bus_message_exit_container(reply);
        }
        if (r >= 0)
                r = sd_bus_message_exit_container(reply);
        if (r < 0)
                return log_error_errno(r, "Failed to read the statistics of '%s': %m", id);
        json_decref(ret->raw);
        *ret = (StatsSample){ .ok = true, .at = now(CLOCK_MONOTONIC), .raw = TAKE_PTR(o) };
        return 0;
}

static uint64_t host_memory(void) {
        struct sysinfo si;

        if (sysinfo(&si) < 0)
                return 0;
        return (uint64_t) si.totalram * si.mem_unit;
}

/* CPU use between the two samples, in percent of one core (so 200% is two busy cores). */
static bool stats_cpu_percent(const StatsTarget *t, double *ret) {
        uint64_t a, b;

        if (!stats_get(&t->prev, "cpu_usage_usec", &a) || !stats_get(&t->cur, "cpu_usage_usec", &b))
                return false;
        if (t->cur.at <= t->prev.at || b < a)
                return false;
        *ret = 100.0 * (double) (b - a) / (double) (t->cur.at - t->prev.at);
        return true;
}

static json_t *stats_to_json(const StatsTarget *t, uint64_t host_mem) {
        json_t *o = json_deep_copy(t->cur.raw);
        uint64_t mem, limit;
        double cpu;

        if (!o)
                return NULL;
        if (json_object_set_new(o, "id", json_string(t->id)) < 0 ||
            json_object_set_new(o, "name", json_string(t->name)) < 0 ||
            json_object_set_new(o, "cpu_percent",
                                stats_cpu_percent(t, &cpu) ? json_real(cpu) : json_null()) < 0)
                return json_decref(o), NULL;
        if (stats_get(&t->cur, "memory_current_bytes", &mem)) {
                if (!stats_get(&t->cur, "memory_limit_bytes", &limit))
                        limit = host_mem;
                if (json_object_set_new(o, "memory_percent",
                                        limit > 0 ? json_real(100.0 * (double) mem / (double) limit)
                                                  : json_null()) < 0)
                        return json_decref(o), NULL;
        }
        return o;
}

static int stats_add_row(Table *tab, const StatsTarget *t, uint64_t host_mem) {
        char id[ZLCTL_SHORT_ID_LEN + 1], cpu_s[32], mem_s[80], pct_s[32], pids_s[32], a[32], b[32];
        const char *cpu_c = NULL, *mem_c = NULL, *pct_c = NULL, *pids_c = NULL;
        uint64_t mem, limit, pids;
        double cpu;

        snprintf(id, sizeof(id), "%s", t->id);
        if (stats_cpu_percent(t, &cpu)) {
                snprintf(cpu_s, sizeof(cpu_s), "%.2f%%", cpu);
                cpu_c = cpu_s;
        }
        if (stats_get(&t->cur, "memory_current_bytes", &mem)) {
                if (!stats_get(&t->cur, "memory_limit_bytes", &limit))
                        limit = host_mem;
                snprintf(mem_s, sizeof(mem_s), "%s / %s", format_bytes_human(mem, a, sizeof(a)),
                         limit > 0 ? format_bytes_human(limit, b, sizeof(b)) : "-");
                mem_c = mem_s;
                if (limit > 0) {
                        snprintf(pct_s, sizeof(pct_s), "%.2f%%",
                                 100.0 * (double) mem / (double) limit);
                        pct_c = pct_s;
                }
        }
        if (stats_get(&t->cur, "pids_current", &pids)) {
                snprintf(pids_s, sizeof(pids_s), "%" PRIu64, pids);
                pids_c = pids_s;
        }
        return table_add_row(tab, id, t->name, cpu_c, mem_c, pct_c, pids_c);
}

typedef struct StatsSet {
        StatsTarget *items;
        size_t n;
} StatsSet;

static void stats_set_done(StatsSet *s) {
        for (size_t i = 0; i < s->n; i++)
                stats_target_done(&s->items[i]);
        s->items = mfree(s->items);
        s->n = 0;
}

static int stats_set_add(StatsSet *s, const char *id, const char *name) {
        StatsTarget *items = reallocarray(s->items, s->n + 1, sizeof(StatsTarget));

        if (!items)
                return -ENOMEM;
        s->items = items;
        s->items[s->n] = (StatsTarget){ .id = strdup(id), .name = strdup(name) };
        if (!s->items[s->n].id || !s->items[s->n].name) {
                stats_target_done(&s->items[s->n]);
                return -ENOMEM;
        }
        s->n++;
        return 0;
}

static StatsTarget *stats_set_find(StatsSet *s, const char *id) {
        for (size_t i = 0; i < s->n; i++)
                if (streq(s->items[i].id, id))
                        return &s->items[i];
        return NULL;
}

/* Without IDs, the containers that run now: the set follows them, keeping the samples of those
 * that are still there. */
static int stats_refresh_all(sd_bus *bus, StatsSet *s) {
        _cleanup_(container_list_done) ContainerList l = {};
        StatsSet next = {};
        int r;

        r = list_containers(bus, NULL, NULL, NULL, &l);
        if (r < 0)
                return r;
        for (size_t i = 0; i < l.n; i++) {
                StatsTarget *old;

                if (!state_is_up(l.items[i].state))
                        continue;
                r = stats_set_add(&next, l.items[i].id, l.items[i].name);
                if (r < 0) {
                        stats_set_done(&next);
                        return log_oom();
                }
                old = stats_set_find(s, l.items[i].id);
                if (old) {
                        next.items[next.n - 1].prev = old->prev;
                        next.items[next.n - 1].cur = old->cur;
                        old->prev = old->cur = (StatsSample){};
                }
        }
        stats_set_done(s);
        *s = next;
        return 0;
}

/* One sample of every target; the previous one is kept for the CPU rate. Errors for explicit
 * IDs are reported (and fail), others mean the container has just stopped. */
static int stats_sample(sd_bus *bus, StatsSet *s, bool explicit_ids) {
        bool failed = false;

        for (size_t i = 0; i < s->n; i++) {
                StatsTarget *t = &s->items[i];
                StatsSample cur = {};

                if (get_stats(bus, t->id, !explicit_ids, &cur) < 0) {
                        failed = true;
                        json_decref(t->prev.raw);
                        t->prev = t->cur;
                        t->cur = (StatsSample){};
                        continue;
                }
                json_decref(t->prev.raw);
                t->prev = t->cur;
                t->cur = cur;
        }
        return failed && explicit_ids ? -EIO : 0;
}

static int stats_print(const StatsSet *s, bool json, bool stream, bool clear) {
        uint64_t host_mem = host_memory();
        int r;

        if (json) {
                _cleanup_(json_decrefp) json_t *arr = json_array();
                _cleanup_free_ char *text = NULL;

                if (!arr)
                        return log_oom();
                for (size_t i = 0; i < s->n; i++) {
                        json_t *o;

                        if (!s->items[i].cur.ok)
                                continue;
                        o = stats_to_json(&s->items[i], host_mem);
                        if (!o || json_array_append_new(arr, o) < 0)
                                return log_oom();
                }
                /* Streamed: one array per line, for line-by-line readers. */
                text = json_dumps(arr, stream ? JSON_COMPACT | JSON_SORT_KEYS
                                              : JSON_INDENT(2) | JSON_SORT_KEYS);
                if (!text)
                        return log_oom();
                printf("%s\n", text);
        } else {
                _cleanup_(table_freep) Table *t = NULL;

                t = table_new("ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "PIDS");
                if (!t)
                        return log_oom();
                for (size_t i = 0; i < s->n; i++) {
                        if (!s->items[i].cur.ok)
                                continue;
                        r = stats_add_row(t, &s->items[i], host_mem);
                        if (r < 0)
                                return log_oom();
                }
                if (clear)
                        fputs("\033[H\033[2J", stdout);
                else if (stream)
                        fputc('\n', stdout);
                r = zlctl_print_table(t);
                if (r < 0)
                        return r;
        }
        fflush(stdout);
        return 0;
}

static int verb_container_stats(int argc, char *argv[]) {
        enum { ARG_NO_STREAM = 0x100 };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "no-stream", no_argument, NULL, ARG_NO_STREAM },
                { "output", required_argument, NULL, 'o' },
                {},
        };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(stats_set_done) StatsSet set = {};
        bool stream = true, json = false, explicit_ids, clear;
        int c, r;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":ho:", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        printf("%s container stats [OPTIONS...] [ID...]\n\n"
                               "Show the resource use of containers (all running ones without\n"
                               "IDs), refreshed every second: CPU (percent of one core), memory\n"
                               "use against the limit (the host's memory when unlimited) and\n"
                               "the number of processes.\n\n"
                               "Options:\n"
                               "  -h --help              Show this help\n"
                               "     --no-stream         Print one table and exit\n"
                               "  -o --output=FORMAT     table (default) or json (streamed: one\n"
                               "                         array per line)\n"
                               "\nExit status: 0 success, 1 failure, 2 usage error.\n",
                               program_name);
                        return ZLCTL_EXIT_OK;
                case ARG_NO_STREAM:
                        stream = false;
                        break;
                case 'o':
                        r = zlctl_parse_output("container stats", optarg, &json);
                        if (r != 0)
                                return r;
                        break;
                default:
                        return zlctl_getopt_failure("container stats", c, argv);
                }
        explicit_ids = optind < argc;

        if (zlctl_bus_open(&bus, NULL) < 0)
                return ZLCTL_EXIT_FAILURE;
        for (int i = optind; i < argc; i++) {
                _cleanup_(json_decrefp) json_t *j = NULL;
                const char *id, *name;

                if (inspect_container(bus, argv[i], &j) < 0)
                        return ZLCTL_EXIT_FAILURE;
                id = zlctl_json_str(j, "id");
                name = zlctl_json_str(j, "name");
                if (!id)
                        return log_error("InspectContainer of '%s' has no id.", argv[i]),
                               ZLCTL_EXIT_FAILURE;
                if (stats_set_add(&set, id, name ?: "") < 0)
                        return log_oom(), ZLCTL_EXIT_FAILURE;
        }
        if (!explicit_ids && stats_refresh_all(bus, &set) < 0)
                return ZLCTL_EXIT_FAILURE;

        /* Two samples before the first output: the CPU column is a rate. */
        if (stats_sample(bus, &set, explicit_ids) < 0)
                return ZLCTL_EXIT_FAILURE;
        (void) usleep(STATS_FIRST_INTERVAL_USEC);
        clear = stream && !json && isatty(STDOUT_FILENO);
        for (;;) {
                if (stats_sample(bus, &set, explicit_ids) < 0)
                        return ZLCTL_EXIT_FAILURE;
                if (stats_print(&set, json, stream, clear) < 0)
                        return ZLCTL_EXIT_FAILURE;
                if (!stream)
                        return ZLCTL_EXIT_OK;
                (void) usleep(STATS_INTERVAL_USEC);
                if (!explicit_ids && stats_refresh_all(bus, &set) < 0)
                        return ZLCTL_EXIT_FAILURE;
        }
}

/* ---- exec ---- */

#define EXEC_DRAIN_TIMEOUT_USEC (1 * USEC_PER_SEC)

typedef struct ExecContext {
        sd_event *event;
        int stdio_fd; /* the socket (stdin+stdout) or the pty master */
        int stdin_fd; /* a duplicate of stdio_fd for writing to: epoll takes each fd once */
        int stderr_fd;
        bool tty;
        sd_event_source *out_source, *err_source, *in_source, *in_write_source;
        sd_event_source *drain_source;
        bool out_done, err_done;
        char in_buf[16 * 1024];
        size_t in_len, in_off;
        bool exit_known;
        int exit_code;
} ExecContext;

static void exec_check_done(ExecContext *ctx);

static int on_exec_drain(sd_event_source *s, uint64_t usec, void *userdata) {
        ExecContext *ctx = userdata;

        /* A process the command left behind still holds its output: stop waiting for it. */
        return sd_event_exit(ctx->event, 0);
}

static void exec_check_done(ExecContext *ctx) {
        int r;

        if (!ctx->exit_known)
                return;
        if (ctx->out_done && ctx->err_done) {
                (void) sd_event_exit(ctx->event, 0);
                return;
        }
        if (ctx->drain_source)
                return;
        r = sd_event_add_time_relative(ctx->event, &ctx->drain_source, CLOCK_MONOTONIC,
                                       EXEC_DRAIN_TIMEOUT_USEC, 0, on_exec_drain, ctx);
        if (r < 0)
                (void) sd_event_exit(ctx->event, r);
}

static int on_exec_output(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        ExecContext *ctx = userdata;
        bool is_err = s == ctx->err_source;
        char buf[64 * 1024];
        ssize_t n;
        int r;

        n = read(fd, buf, sizeof(buf));
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
                return 0;
        if (n > 0) {
                r = loop_write(is_err ? STDERR_FILENO : STDOUT_FILENO, buf, n);
                if (r < 0 && r != -EPIPE)
                        return sd_event_exit(ctx->event,
                                             log_error_errno(r, "Failed to write output: %m"));
                return 0;
        }
        /* EOF, or EIO from a pty master whose other side is closed. */
        if (n < 0 && errno != EIO)
                log_debug_errno(errno, "Failed to read the command's output: %m");
        r = sd_event_source_set_enabled(s, SD_EVENT_OFF);
        if (r < 0)
                return sd_event_exit(ctx->event, r);
        if (is_err)
                ctx->err_done = true;
        else
                ctx->out_done = true;
        exec_check_done(ctx);
        return 0;
}

/* The end of our stdin: the command sees EOF (the socket's writing side shut down, or the
 * terminal's EOF character). */
static void exec_input_eof(ExecContext *ctx) {
        ctx->in_source = sd_event_source_disable_unref(ctx->in_source);
        ctx->in_write_source = sd_event_source_disable_unref(ctx->in_write_source);
        if (ctx->tty)
                (void) write(ctx->stdin_fd, "\x04", 1);
        else
                (void) shutdown(ctx->stdin_fd, SHUT_WR);
}

static int on_exec_input_writable(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        ExecContext *ctx = userdata;
        ssize_t n;

        n = write(fd, ctx->in_buf + ctx->in_off, ctx->in_len - ctx->in_off);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
                return 0;
        if (n < 0) {
                /* The command closed its stdin: nothing more to give it. */
                log_debug_errno(errno, "Failed to write to the command's stdin: %m");
                ctx->in_source = sd_event_source_disable_unref(ctx->in_source);
                ctx->in_write_source = sd_event_source_disable_unref(ctx->in_write_source);
                return 0;
        }
        ctx->in_off += n;
        if (ctx->in_off < ctx->in_len)
                return 0;
        ctx->in_off = ctx->in_len = 0;
        (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
        (void) sd_event_source_set_enabled(ctx->in_source, SD_EVENT_ON);
        return 0;
}

static int on_exec_input(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        ExecContext *ctx = userdata;
        ssize_t n;

        n = read(fd, ctx->in_buf, sizeof(ctx->in_buf));
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
                return 0;
        if (n <= 0) {
                exec_input_eof(ctx);
                return 0;
        }
        /* One buffer in flight: stdin waits until the command has taken it. */
        ctx->in_len = n;
        ctx->in_off = 0;
        (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
        return sd_event_source_set_enabled(ctx->in_write_source, SD_EVENT_ON);
}

/* A stdin that epoll cannot watch (a regular file, /dev/null) is copied before the loop. */
static int exec_copy_input_blocking(ExecContext *ctx) {
        int r;

        r = fd_nonblock(ctx->stdin_fd, false);
        if (r < 0)
                return r;
        for (;;) {
                ssize_t n = read(STDIN_FILENO, ctx->in_buf, sizeof(ctx->in_buf));

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                r = loop_write(ctx->stdin_fd, ctx->in_buf, n);
                if (r < 0)
                        return r;
        }
        exec_input_eof(ctx);
        return fd_nonblock(ctx->stdin_fd, true);
}

static int on_wait_exec(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        ExecContext *ctx = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);
        int32_t code;
        int r;

        ctx->exit_known = true;
        if (e) {
                (void) zlctl_log_call_error(-zl_bus_error_to_errno(e), e, "wait for the command");
                ctx->exit_code = -1;
        } else {
                r = sd_bus_message_read(m, "i", &code);
                if (r < 0) {
                        log_error_errno(r, "Failed to read the reply to WaitExec: %m");
                        code = -1;
                }
                ctx->exit_code = code;
        }
        exec_check_done(ctx);
        return 0;
}

static int on_exec_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        ExecContext *ctx = userdata;

        if (si->ssi_signo == SIGWINCH) {
                struct winsize ws;

                if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) >= 0)
                        (void) ioctl(ctx->stdio_fd, TIOCSWINSZ, &ws);
                return 0;
        }
        /* We leave; the command goes on without us, as when a terminal hangs up. */
        ctx->exit_known = true;
        ctx->exit_code = 128 + (int) si->ssi_signo;
        return sd_event_exit(ctx->event, 0);
}

typedef struct TerminalState {
        bool saved;
        struct termios attr;
} TerminalState;

static void terminal_restore(TerminalState *t) {
        if (t->saved)
                (void) tcsetattr(STDIN_FILENO, TCSADRAIN, &t->attr);
        t->saved = false;
}

static void signal_sources_free(sd_event_source *(*s)[4]) {
        for (size_t i = 0; i < ELEMENTSOF(*s); i++)
                sd_event_source_unref((*s)[i]);
}

static int exec_loop(sd_bus *bus, const char *exec_id, ExecContext *ctx, bool interactive) {
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *wait_slot = NULL;
        static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGWINCH };
        _cleanup_(signal_sources_free) sd_event_source *sig[ELEMENTSOF(sigs)] = {};
        sigset_t mask;
        int r;

        r = sd_event_new(&event);
        if (r < 0)
                return log_error_errno(r, "Failed to create the event loop: %m");
        ctx->event = event;
        sigemptyset(&mask);
        for (size_t i = 0; i < ELEMENTSOF(sigs); i++)
                sigaddset(&mask, sigs[i]);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(errno, "Failed to block signals: %m");
        for (size_t i = 0; i < ELEMENTSOF(sigs); i++) {
                if (sigs[i] == SIGWINCH && !ctx->tty)
                        continue;
                r = sd_event_add_signal(event, &sig[i], sigs[i], on_exec_signal, ctx);
                if (r < 0)
                        return log_error_errno(r, "Failed to watch signals: %m");
        }
        r = sd_bus_attach_event(bus, event, SD_EVENT_PRIORITY_NORMAL);
        if (r >= 0)
                r = sd_bus_set_exit_on_disconnect(bus, true);
        if (r >= 0)
                r = fd_nonblock(ctx->stdio_fd, true);
        if (r >= 0)
                r = sd_event_add_io(event, &ctx->out_source, ctx->stdio_fd, EPOLLIN, on_exec_output,
                                    ctx);
        if (r >= 0 && !ctx->tty)
                r = sd_event_add_io(event, &ctx->err_source, ctx->stderr_fd, EPOLLIN,
                                    on_exec_output, ctx);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the event loop: %m");
        /* With a terminal, its stderr descriptor only ever reads EOF: the output is all on the
         * master. */
        if (ctx->tty)
                ctx->err_done = true;

        if (interactive) {
                r = sd_event_add_io(event, &ctx->in_source, STDIN_FILENO, EPOLLIN, on_exec_input,
                                    ctx);
                if (r == -EPERM)
                        r = exec_copy_input_blocking(ctx);
                else if (r >= 0) {
                        r = sd_event_add_io(event, &ctx->in_write_source, ctx->stdin_fd, EPOLLOUT,
                                            on_exec_input_writable, ctx);
                        if (r >= 0)
                                r = sd_event_source_set_enabled(ctx->in_write_source, SD_EVENT_OFF);
                }
                if (r < 0)
                        return log_error_errno(r, "Failed to pass on stdin: %m");
        } else if (!ctx->tty)
                (void) shutdown(ctx->stdin_fd, SHUT_WR);

        r = new_call(bus, "WaitExec", &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "s", exec_id);
        if (r >= 0)
                r = sd_bus_call_async(bus, &wait_slot, m, on_wait_exec, ctx, WAIT_FOREVER_USEC);
        if (r < 0)
                return log_error_errno(r, "Failed to call WaitExec: %m");

        r = sd_event_loop(event);
        ctx->in_source = sd_event_source_disable_unref(ctx->in_source);
        ctx->in_write_source = sd_event_source_disable_unref(ctx->in_write_source);
        ctx->out_source = sd_event_source_disable_unref(ctx->out_source);
        ctx->err_source = sd_event_source_disable_unref(ctx->err_source);
        ctx->drain_source = sd_event_source_disable_unref(ctx->drain_source);
        (void) sd_bus_detach_event(bus);
        if (r < 0)
                return log_error_errno(r, "Failed while the command ran: %m");
        if (!ctx->exit_known)
                return log_error_errno(ENOTCONN, "Lost the connection to the node's bus.");
        return 0;
}

static int verb_container_exec(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "interactive", no_argument, NULL, 'i' },
                { "tty", no_argument, NULL, 't' },
                { "env", required_argument, NULL, 'e' },
                { "user", required_argument, NULL, 'u' },
                { "workdir", required_argument, NULL, 'w' },
                {},
        };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(terminal_restore) TerminalState term = {};
        _cleanup_strv_free_ char **env = NULL;
        _cleanup_close_ int stdio_fd = -EBADF, stdin_fd = -EBADF, stderr_fd = -EBADF;
        _cleanup_free_ char *exec_id = NULL, *what = NULL;
        const char *user = NULL, *workdir = NULL, *eid, *id;
        bool interactive = false, tty = false;
        ExecContext ctx = { .exit_code = -1 };
        int c, r, fd_io, fd_err;

        optind = 0;
        opterr = 0;
        /* '+': the command's own options follow the ID. */
        while ((c = getopt_long(argc, argv, "+:hite:u:w:", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        printf("%s container exec [OPTIONS...] ID CMD [ARG...]\n\n"
                               "Run a command in a running container, with zlctl's standard\n"
                               "input and output.\n\n"
                               "Options:\n"
                               "  -h --help              Show this help\n"
                               "  -i --interactive       Pass stdin on (else it reads EOF)\n"
                               "  -t --tty               Run it on a pseudo-terminal; the local\n"
                               "                         terminal is put in raw mode meanwhile\n"
                               "  -e --env=K=V           Set an environment variable (repeatable)\n"
                               "  -u --user=USER         name, uid, uid:gid or name:group\n"
                               "  -w --workdir=DIR       Working directory\n"
                               "\nExit status: the command's exit code (128+N when killed by\n"
                               "signal N); 1 when it could not be run, 2 usage error.\n",
                               program_name);
                        return ZLCTL_EXIT_OK;
                case 'i':
                        interactive = true;
                        break;
                case 't':
                        tty = true;
                        break;
                case 'e':
                        if (!strchr(optarg, '=') || optarg[0] == '=')
                                return usage_error("container exec",
                                                   "invalid --env '%s': expected K=V", optarg);
                        if (strv_extend(&env, optarg) < 0)
                                return log_oom(), ZLCTL_EXIT_FAILURE;
                        break;
                case 'u':
                        if (isempty(optarg))
                                return usage_error("container exec", "invalid --user '': empty");
                        user = optarg;
                        break;
                case 'w':
                        if (optarg[0] != '/')
                                return usage_error("container exec",
                                                   "invalid --workdir '%s': not an absolute path",
                                                   optarg);
                        workdir = optarg;
                        break;
                default:
                        return zlctl_getopt_failure("container exec", c, argv);
                }
        if (optind >= argc)
                return usage_error("container exec", "missing container ID");
        if (optind + 1 >= argc)
                return usage_error("container exec", "missing command to run");
        id = argv[optind];

        if (zlctl_bus_open(&bus, NULL) < 0)
                return ZLCTL_EXIT_FAILURE;
        r = new_call(bus, "ExecStream", &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "s", id);
        if (r >= 0)
                r = sd_bus_message_append_strv(m, argv + optind + 1);
        if (r >= 0)
                r = sd_bus_message_append_strv(m, env);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "{sv}");
        if (r >= 0 && user)
                r = sd_bus_message_append(m, "{sv}", "user", "s", user);
        if (r >= 0 && workdir)
                r = sd_bus_message_append(m, "{sv}", "cwd", "s", workdir);
        if (r >= 0 && tty)
                r = sd_bus_message_append(m, "{sv}", "tty", "b", 1);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r < 0)
                return log_error_errno(r, "Failed to build the ExecStream call: %m"),
                       ZLCTL_EXIT_FAILURE;
        r = sd_bus_call(bus, m, CALL_TIMEOUT_USEC, &error, &reply);
        if (r < 0) {
                what = strjoin("run the command in container '", id, "'");
                if (!what)
                        return log_oom(), ZLCTL_EXIT_FAILURE;
                return zlctl_log_call_error(r, &error, what), ZLCTL_EXIT_FAILURE;
        }
        r = sd_bus_message_read(reply, "hhs", &fd_io, &fd_err, &eid);
        if (r < 0)
                return log_error_errno(r, "Failed to read the reply to ExecStream: %m"),
                       ZLCTL_EXIT_FAILURE;
        stdio_fd = fcntl(fd_io, F_DUPFD_CLOEXEC, 3);
        stdin_fd = fcntl(fd_io, F_DUPFD_CLOEXEC, 3);
        stderr_fd = fcntl(fd_err, F_DUPFD_CLOEXEC, 3);
        exec_id = strdup(eid);
        if (stdio_fd < 0 || stdin_fd < 0 || stderr_fd < 0)
                return log_error_errno(errno, "Failed to duplicate descriptors: %m"),
                       ZLCTL_EXIT_FAILURE;
        if (!exec_id)
                return log_oom(), ZLCTL_EXIT_FAILURE;

        if (tty) {
                struct winsize ws;

                if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) >= 0)
                        (void) ioctl(stdio_fd, TIOCSWINSZ, &ws);
                /* Raw: every key, ^C included, goes to the command's terminal. */
                if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &term.attr) >= 0) {
                        struct termios raw = term.attr;

                        cfmakeraw(&raw);
                        if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) >= 0)
                                term.saved = true;
                }
        }

        ctx.stdio_fd = stdio_fd;
        ctx.stdin_fd = stdin_fd;
        ctx.stderr_fd = stderr_fd;
        ctx.tty = tty;
        r = exec_loop(bus, exec_id, &ctx, interactive);
        terminal_restore(&term);
        if (r < 0 || ctx.exit_code < 0)
                return ZLCTL_EXIT_FAILURE;
        return ctx.exit_code;
}

/* ---- the command group ---- */

static const Verb container_verbs[] = {
        { "run", verb_container_run, "Create and start a container, and follow it" },
        { "create", verb_container_create, "Create a container" },
        { "ls", verb_container_ls, "List containers" },
        { "inspect", verb_container_inspect, "Show everything about containers as JSON" },
        { "start", verb_container_start, "Start created containers" },
        { "stop", verb_container_stop, "Stop running containers" },
        { "kill", verb_container_kill, "Send a signal to containers" },
        { "rm", verb_container_rm, "Remove containers" },
        { "logs", verb_container_logs, "Print a container's output" },
        { "stats", verb_container_stats, "Show the resource use of containers" },
        { "exec", verb_container_exec, "Run a command in a running container" },
        { "pause", verb_container_pause, "Freeze the processes of containers" },
        { "resume", verb_container_resume, "Thaw paused containers" },
        {},
};

int verb_container(int argc, char *argv[]) {
        return dispatch_verb("container", container_verbs, argc - 1, argv + 1);
}
