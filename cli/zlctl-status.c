/* SPDX-License-Identifier: Apache-2.0 */
/* zlctl-status.c: `zlctl status`: the node's daemons, their versions and states, and the
 * deployments (zlctl-deploy.c). */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>

#include "launcher.h"
#include "log.h"
#include "string-util.h"
#include "table.h"
#include "time-util.h"
#include "zlctl-bus.h"
#include "zlctl.h"

#define STATUS_CALL_TIMEOUT_USEC (2 * USEC_PER_SEC)

typedef struct DaemonStatus {
        const ZlDaemonInfo *info;
        sd_bus_slot *slot;
        bool done;
        bool absent;
        char *error; /* the call failed for another reason than the name being absent */
        char *version;
        char *state;
        usec_t started_at;
} DaemonStatus;

static void daemon_status_done(DaemonStatus *s) {
        s->slot = sd_bus_slot_unref(s->slot);
        s->error = mfree(s->error);
        s->version = mfree(s->version);
        s->state = mfree(s->state);
}

/* The a{sv} of Properties.GetAll: Version, State and StartedAt; other properties skipped. */
static int parse_daemon_properties(sd_bus_message *m, DaemonStatus *s) {
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *name, *str;

                r = sd_bus_message_read(m, "s", &name);
                if (r < 0)
                        return r;
                if (streq(name, "Version") || streq(name, "State")) {
                        char **dst = streq(name, "Version") ? &s->version : &s->state;

                        r = sd_bus_message_read(m, "v", "s", &str);
                        if (r < 0)
                                return r;
                        free(*dst);
                        *dst = strdup(str);
                        if (!*dst)
                                return -ENOMEM;
                } else if (streq(name, "StartedAt")) {
                        uint64_t t;

                        r = sd_bus_message_read(m, "v", "t", &t);
                        if (r < 0)
                                return r;
                        s->started_at = t;
                } else {
                        r = sd_bus_message_skip(m, "v");
                        if (r < 0)
                                return r;
                }
                r = sd_bus_message_exit_container(m);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return sd_bus_message_exit_container(m);
}

static int on_get_all(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        DaemonStatus *s = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(m);
        int r;

        s->done = true;
        s->slot = sd_bus_slot_unref(s->slot);
        if (e) {
                if (sd_bus_error_has_names(e, SD_BUS_ERROR_SERVICE_UNKNOWN,
                                           SD_BUS_ERROR_NAME_HAS_NO_OWNER))
                        s->absent = true;
                else {
                        s->error = zlctl_bus_error_message(e);
                        if (!s->error)
                                return log_oom();
                }
                return 0;
        }
        r = parse_daemon_properties(m, s);
        if (r < 0) {
                log_debug_errno(r, "Bad reply from %s: %m", s->info->bus_name);
                if (asprintf(&s->error, "unexpected reply: %s", strerror(-r)) < 0)
                        return log_oom();
        }
        return 0;
}

/* Asks every daemon at once: seven round trips in parallel, each with its own timeout. */
static int query_daemons(sd_bus *bus, DaemonStatus *st) {
        size_t pending = 0;
        int r;

        for (size_t i = 0; i < ZL_N_DAEMONS; i++) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;

                r = sd_bus_message_new_method_call(bus, &m, st[i].info->bus_name,
                                                   st[i].info->object_path,
                                                   "org.freedesktop.DBus.Properties", "GetAll");
                if (r >= 0)
                        r = sd_bus_message_append(m, "s", "org.zlayer.Daemon1");
                /* A status query must not start daemons through bus activation. */
                if (r >= 0)
                        r = sd_bus_message_set_auto_start(m, false);
                if (r >= 0)
                        r = sd_bus_call_async(bus, &st[i].slot, m, on_get_all, &st[i],
                                              STATUS_CALL_TIMEOUT_USEC);
                if (r < 0)
                        return log_error_errno(r, "Failed to ask %s: %m", st[i].info->bus_name);
                pending++;
        }

        while (pending > 0) {
                r = sd_bus_process(bus, NULL);
                if (r < 0)
                        return log_error_errno(r, "Failed to talk to the bus: %m");
                pending = 0;
                for (size_t i = 0; i < ZL_N_DAEMONS; i++)
                        if (!st[i].done)
                                pending++;
                if (r > 0 || pending == 0)
                        continue;
                r = sd_bus_wait(bus, UINT64_MAX);
                if (r < 0)
                        return log_error_errno(r, "Failed to wait for the bus: %m");
        }
        return 0;
}

static const char *daemon_state(const DaemonStatus *s) {
        if (s->absent)
                return "absent";
        if (s->error)
                return "error";
        return s->state ?: "unknown";
}

static int print_table(sd_bus *bus, const DaemonStatus *st, const char *where) {
        _cleanup_(table_freep) Table *t = NULL;
        usec_t n = now(CLOCK_REALTIME);
        int r;

        t = table_new("DAEMON", "BUS NAME", "VERSION", "STATE", "UPTIME");
        if (!t)
                return log_oom();
        for (size_t i = 0; i < ZL_N_DAEMONS; i++) {
                char span[TIMESPAN_MAX_LEN];
                const char *uptime = NULL;

                if (st[i].started_at > 0 && st[i].started_at <= n && !st[i].absent)
                        uptime = format_uptime(n - st[i].started_at, span, sizeof(span));
                r = table_add_row(t, st[i].info->name, st[i].info->bus_name, st[i].version,
                                  daemon_state(&st[i]), uptime);
                if (r < 0)
                        return log_oom();
        }
        printf("Node on %s:\n\n", where);
        r = zlctl_print_table(t);
        if (r < 0)
                return r;
        for (size_t i = 0; i < ZL_N_DAEMONS; i++)
                if (st[i].error)
                        fprintf(stderr, "%s: %s\n", st[i].info->name, st[i].error);
        printf("\n");
        return zlctl_print_deployments(bus, NULL);
}

static int print_json(sd_bus *bus, const DaemonStatus *st, const char *where) {
        _cleanup_(json_decrefp) json_t *root = NULL, *arr = NULL;
        _cleanup_free_ char *text = NULL;
        usec_t n = now(CLOCK_REALTIME);

        arr = json_array();
        if (!arr)
                return log_oom();
        for (size_t i = 0; i < ZL_N_DAEMONS; i++) {
                bool up = st[i].started_at > 0 && st[i].started_at <= n && !st[i].absent;
                json_t *o = json_pack(
                        "{s:s, s:s, s:s?, s:s, s:o, s:o, s:s?}", "daemon", st[i].info->name,
                        "bus_name", st[i].info->bus_name, "version", st[i].version, "state",
                        daemon_state(&st[i]), "started_at",
                        up ? json_integer((json_int_t) st[i].started_at) : json_null(),
                        "uptime_usec",
                        up ? json_integer((json_int_t) (n - st[i].started_at)) : json_null(),
                        "error", st[i].error);

                if (!o || json_array_append_new(arr, o) < 0)
                        return log_oom();
        }
        root = json_pack("{s:s, s:O}", "bus", where, "daemons", arr);
        if (!root)
                return log_oom();
        if (zlctl_print_deployments(bus, root) < 0)
                return -EIO;
        text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
        if (!text)
                return log_oom();
        printf("%s\n", text);
        return 0;
}

int verb_status(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "output", required_argument, NULL, 'o' },
                {},
        };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *where = NULL;
        DaemonStatus st[ZL_N_DAEMONS] = {};
        bool json = false, all_running = true;
        int c, r;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":ho:", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        printf("%s status [OPTIONS...] [DEPLOYMENT]\n\n"
                               "Show the node's daemons: version, state and uptime of each, as\n"
                               "they answer on the bus (org.zlayer.Daemon1). A daemon that is not\n"
                               "on the bus is shown as 'absent'. Then the deployments of\n"
                               "zl-schedd: status, generation, age and message.\n\n"
                               "With DEPLOYMENT: its services (desired, running and healthy\n"
                               "replicas), endpoints with their URLs, and replicas (state,\n"
                               "health, address, restarts, container).\n\n"
                               "Options:\n"
                               "  -h --help              Show this help\n"
                               "  -o --output=FORMAT     table (default) or json\n"
                               "\nThe bus is $ZLAYER_BUS_ADDRESS, else the system bus if it has\n"
                               "org.zlayer names, else the default local node's.\n"
                               "\nExit status: 0 all seven running (with DEPLOYMENT: it exists),\n"
                               "1 otherwise, 2 usage error.\n",
                               program_name);
                        return ZLCTL_EXIT_OK;
                case 'o':
                        r = zlctl_parse_output("status", optarg, &json);
                        if (r != 0)
                                return r;
                        break;
                default:
                        return zlctl_getopt_failure("status", c, argv);
                }
        if (optind + 1 < argc)
                return usage_error("status", "unexpected argument '%s'", argv[optind + 1]);
        if (optind < argc)
                return zlctl_deployment_status(argv[optind], json);

        r = zlctl_bus_open(&bus, &where);
        if (r < 0)
                return ZLCTL_EXIT_FAILURE;

        for (size_t i = 0; i < ZL_N_DAEMONS; i++)
                st[i].info = &zl_daemon_list[i];
        r = query_daemons(bus, st);
        if (r >= 0)
                r = json ? print_json(bus, st, where) : print_table(bus, st, where);
        for (size_t i = 0; i < ZL_N_DAEMONS; i++) {
                if (!st[i].state || !streq(st[i].state, "running"))
                        all_running = false;
                daemon_status_done(&st[i]);
        }
        if (r < 0)
                return ZLCTL_EXIT_FAILURE;
        return all_running ? ZLCTL_EXIT_OK : ZLCTL_EXIT_FAILURE;
}
