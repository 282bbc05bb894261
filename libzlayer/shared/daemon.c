/* SPDX-License-Identifier: Apache-2.0 */
/* daemon.c: the common main of the daemons and org.zlayer.Daemon1, implemented once. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include "bus-error.h"
#include "bus-introspect.h"
#include "daemon.h"
#include "fileio.h"
#include "log.h"
#include "path-util.h"
#include "signal-util.h"
#include "string-util.h"
#include "time-util.h"

typedef struct Counter {
        char *name;
        double value;
} Counter;

struct ZlCounterSet {
        Counter *counters;
        size_t n, allocated;
};

struct ZlDaemon {
        const ZlDaemonDescriptor *desc;
        /* What the Daemon1 registration reads its userdata through: always this daemon. */
        ZlDaemon *self;
        ZlBusObject daemon_object;

        char *arg_state_root, *arg_runtime_root;
        char *state_dir, *runtime_dir;

        sd_event *event;
        sd_bus *bus;

        ZlDaemonState state;
        usec_t started_at; /* CLOCK_REALTIME */
        usec_t started_monotonic;
        uint64_t n_bus_calls;
        ZlCounterSet *counters;

        void *userdata;
        bool initialized; /* init succeeded: done runs on exit */
        bool reload_failed; /* the DEGRADED state came from a failed reload */
        bool failed; /* exit 1 */
};

static const char *const state_table[_ZL_DAEMON_STATE_MAX] = {
        [ZL_DAEMON_STARTING] = "starting",
        [ZL_DAEMON_RUNNING] = "running",
        [ZL_DAEMON_STOPPING] = "stopping",
        [ZL_DAEMON_DEGRADED] = "degraded",
};

/* The levels LogLevel accepts, in the words it reports them with. */
static const int settable_levels[] = { LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG };

const char *zl_daemon_state_to_string(ZlDaemonState s) {
        if (s < 0 || s >= _ZL_DAEMON_STATE_MAX)
                return NULL;
        return state_table[s];
}

ZlDaemonState zl_daemon_state_from_string(const char *s) {
        if (!s)
                return _ZL_DAEMON_STATE_INVALID;
        for (size_t i = 0; i < ELEMENTSOF(state_table); i++)
                if (streq(state_table[i], s))
                        return (ZlDaemonState) i;
        return _ZL_DAEMON_STATE_INVALID;
}

/* ---- counters ---------------------------------------------------------------------------- */

ZlCounterSet *zl_counter_set_new(void) {
        return calloc(1, sizeof(ZlCounterSet));
}

ZlCounterSet *zl_counter_set_free(ZlCounterSet *s) {
        if (!s)
                return NULL;
        for (size_t i = 0; i < s->n; i++)
                free(s->counters[i].name);
        free(s->counters);
        return mfree(s);
}

static bool counter_name_is_valid(const char *name) {
        if (isempty(name))
                return false;
        for (const char *p = name; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
                        return false;
        return true;
}

static Counter *counter_find(const ZlCounterSet *s, const char *name) {
        for (size_t i = 0; i < s->n; i++)
                if (streq(s->counters[i].name, name))
                        return &s->counters[i];
        return NULL;
}

/* The counter called name, added with value 0 if new. */
static int counter_ensure(ZlCounterSet *s, const char *name, Counter **ret) {
        Counter *c;
        char *copy;

        if (!s || !counter_name_is_valid(name))
                return -EINVAL;
        c = counter_find(s, name);
        if (c) {
                *ret = c;
                return 0;
        }
        if (s->n == s->allocated) {
                size_t a = MAX(s->allocated * 2, (size_t) 8);
                Counter *n = reallocarray(s->counters, a, sizeof(Counter));

                if (!n)
                        return -ENOMEM;
                s->counters = n;
                s->allocated = a;
        }
        copy = strdup(name);
        if (!copy)
                return -ENOMEM;
        c = &s->counters[s->n++];
        *c = (Counter){ .name = copy };
        *ret = c;
        return 0;
}

int zl_counter_set_put(ZlCounterSet *s, const char *name, double value) {
        Counter *c;
        int r;

        r = counter_ensure(s, name, &c);
        if (r < 0)
                return r;
        c->value = value;
        return 0;
}

int zl_counter_set_add(ZlCounterSet *s, const char *name, double delta) {
        Counter *c;
        int r;

        r = counter_ensure(s, name, &c);
        if (r < 0)
                return r;
        c->value += delta;
        return 0;
}

int zl_counter_set_get(const ZlCounterSet *s, const char *name, double *ret) {
        const Counter *c;

        if (!s || !name || !ret)
                return -EINVAL;
        c = counter_find(s, name);
        if (!c)
                return -ENOENT;
        *ret = c->value;
        return 0;
}

size_t zl_counter_set_size(const ZlCounterSet *s) {
        return s ? s->n : 0;
}

const char *zl_counter_set_name(const ZlCounterSet *s, size_t i) {
        assert(s && i < s->n);
        return s->counters[i].name;
}

double zl_counter_set_value(const ZlCounterSet *s, size_t i) {
        assert(s && i < s->n);
        return s->counters[i].value;
}

/* ---- accessors --------------------------------------------------------------------------- */

sd_event *zl_daemon_get_event(ZlDaemon *d) {
        return d->event;
}

sd_bus *zl_daemon_get_bus(ZlDaemon *d) {
        return d->bus;
}

const char *zl_daemon_get_state_dir(ZlDaemon *d) {
        return d->state_dir;
}

const char *zl_daemon_get_runtime_dir(ZlDaemon *d) {
        return d->runtime_dir;
}

const ZlDaemonDescriptor *zl_daemon_get_descriptor(ZlDaemon *d) {
        return d->desc;
}

void *zl_daemon_get_userdata(ZlDaemon *d) {
        return d->userdata;
}

ZlDaemonState zl_daemon_get_state(ZlDaemon *d) {
        return d->state;
}

int zl_daemon_counter_add(ZlDaemon *d, const char *name, double delta) {
        return zl_counter_set_add(d->counters, name, delta);
}

int zl_daemon_counter_set(ZlDaemon *d, const char *name, double value) {
        return zl_counter_set_put(d->counters, name, value);
}

int zl_daemon_set_state(ZlDaemon *d, ZlDaemonState state) {
        int r;

        if (!d || state < 0 || state >= _ZL_DAEMON_STATE_MAX)
                return -EINVAL;
        if (d->state == state)
                return 0;
        d->state = state;
        if (state != ZL_DAEMON_DEGRADED)
                d->reload_failed = false;
        log_debug("State is now '%s'.", zl_daemon_state_to_string(state));
        (void) sd_notifyf(false, "STATUS=%c%s.", state_table[state][0] - 'a' + 'A',
                          state_table[state] + 1);

        /* Before the bus is up nobody can be watching. */
        if (!d->bus)
                return 0;
        r = sd_bus_emit_properties_changed(d->bus, d->desc->info->object_path, ZL_DAEMON_INTERFACE,
                                           "State", NULL);
        if (r < 0)
                return log_debug_errno(r, "Failed to emit PropertiesChanged for State: %m");
        return 0;
}

/* ---- org.zlayer.Daemon1 ------------------------------------------------------------------ */

static int property_get_version(sd_bus *bus, const char *path, const char *interface,
                                const char *property, sd_bus_message *reply, void *userdata,
                                sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", PROJECT_VERSION);
}

static int property_get_state(sd_bus *bus, const char *path, const char *interface,
                              const char *property, sd_bus_message *reply, void *userdata,
                              sd_bus_error *error) {
        ZlDaemon *d = userdata;

        return sd_bus_message_append(reply, "s", zl_daemon_state_to_string(d->state));
}

static int property_get_log_level(sd_bus *bus, const char *path, const char *interface,
                                  const char *property, sd_bus_message *reply, void *userdata,
                                  sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", log_level_to_string(log_get_max_level()));
}

static int property_get_started_at(sd_bus *bus, const char *path, const char *interface,
                                   const char *property, sd_bus_message *reply, void *userdata,
                                   sd_bus_error *error) {
        ZlDaemon *d = userdata;

        return sd_bus_message_append(reply, "t", (uint64_t) d->started_at);
}

/* The bus policy already keeps everyone but root and the zlayer group from setting properties;
 * LogLevel is root's alone, and we do not rely on the policy being installed right. */
static int property_set_log_level(sd_bus *bus, const char *path, const char *interface,
                                  const char *property, sd_bus_message *value, void *userdata,
                                  sd_bus_error *error) {
        _cleanup_(sd_bus_creds_unrefp) sd_bus_creds *creds = NULL;
        const char *s;
        uid_t uid;
        int r, level = -1;

        /* The effective uid the bus daemon authenticated the caller's connection with. */
        r = sd_bus_query_sender_creds(value, SD_BUS_CREDS_EUID, &creds);
        if (r < 0)
                return r;
        r = sd_bus_creds_get_euid(creds, &uid);
        if (r < 0)
                return r;
        if (uid != 0)
                return zl_bus_error_set_errnof(error, EPERM, "Only root may set LogLevel.");

        r = sd_bus_message_read(value, "s", &s);
        if (r < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(settable_levels); i++)
                if (streq(s, log_level_to_string(settable_levels[i])))
                        level = settable_levels[i];
        if (level < 0)
                return zl_bus_error_set_errnof(
                        error, EINVAL,
                        "Invalid log level '%s': expected err, warning, notice, info or debug.", s);

        if (level != log_get_max_level()) {
                log_set_max_level(level);
                log_notice("Log level set to '%s'.", s);
                r = sd_bus_emit_properties_changed(bus, path, interface, "LogLevel", NULL);
                if (r < 0)
                        log_debug_errno(r, "Failed to emit PropertiesChanged for LogLevel: %m");
        }
        return 1;
}

/* The SIGHUP and Reload() path: tell systemd, run the hook, say how it went. */
static int daemon_reload(ZlDaemon *d, sd_bus_error *error) {
        int r = 0;

        log_info("Reloading.");
        (void) sd_notifyf(false, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=Reloading.",
                          (unsigned long long) now(CLOCK_MONOTONIC));
        if (d->desc->reload && d->initialized)
                r = d->desc->reload(d, d->userdata);
        if (r < 0) {
                log_error_errno(r, "Failed to reload: %m");
                (void) zl_daemon_set_state(d, ZL_DAEMON_DEGRADED);
                d->reload_failed = true;
                (void) sd_notifyf(false, "READY=1\nSTATUS=Reload failed: %s", strerror(-r));
                if (error)
                        return zl_bus_error_set_errnof(error, r, "Failed to reload: %m");
                return r;
        }
        if (d->reload_failed && d->state == ZL_DAEMON_DEGRADED)
                (void) zl_daemon_set_state(d, ZL_DAEMON_RUNNING);
        (void) sd_notify(false, "READY=1\nSTATUS=Running.");
        log_info("Reloaded.");
        return 0;
}

static int method_reload(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        ZlDaemon *d = userdata;
        int r;

        r = daemon_reload(d, error);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(m, NULL);
}

static uint64_t rss_bytes(void) {
        _cleanup_free_ char *statm = NULL;
        unsigned long long size, resident;

        if (read_full_file("/proc/self/statm", 4096, &statm, NULL) < 0)
                return 0;
        if (sscanf(statm, "%llu %llu", &size, &resident) != 2)
                return 0;
        return (uint64_t) resident * (uint64_t) sysconf(_SC_PAGESIZE);
}

static int method_get_counters(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(zl_counter_set_freep) ZlCounterSet *set = NULL;
        ZlDaemon *d = userdata;
        int r;

        set = zl_counter_set_new();
        if (!set)
                return -ENOMEM;
        r = zl_counter_set_put(set, "uptime_seconds",
                               (double) (now(CLOCK_MONOTONIC) - d->started_monotonic) /
                                       (double) USEC_PER_SEC);
        if (r < 0)
                return r;
        r = zl_counter_set_put(set, "bus_calls_total", (double) d->n_bus_calls);
        if (r < 0)
                return r;
        r = zl_counter_set_put(set, "rss_bytes", (double) rss_bytes());
        if (r < 0)
                return r;
        for (size_t i = 0; i < zl_counter_set_size(d->counters); i++) {
                r = zl_counter_set_put(set, zl_counter_set_name(d->counters, i),
                                       zl_counter_set_value(d->counters, i));
                if (r < 0)
                        return r;
        }
        if (d->desc->counters && d->initialized) {
                r = d->desc->counters(d, d->userdata, set);
                if (r < 0)
                        return zl_bus_error_set_errnof(error, r, "Failed to collect counters: %m");
        }

        r = sd_bus_message_new_method_return(m, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "{sd}");
        if (r < 0)
                return r;
        for (size_t i = 0; i < zl_counter_set_size(set); i++) {
                r = sd_bus_message_append(reply, "{sd}", zl_counter_set_name(set, i),
                                          zl_counter_set_value(set, i));
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

const sd_bus_vtable zl_daemon_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Version", "s", property_get_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("State", "s", property_get_state, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_WRITABLE_PROPERTY("LogLevel", "s", property_get_log_level, property_set_log_level, 0,
                                 SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE | SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_PROPERTY("StartedAt", "t", property_get_started_at, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        /* UNPRIVILEGED: sd-bus would otherwise demand CAP_SYS_ADMIN of callers on the system bus;
         * who may call is the bus policy's business (root and the zlayer group). */
        SD_BUS_METHOD_WITH_ARGS("Reload", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_reload,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetCounters", SD_BUS_NO_ARGS, SD_BUS_RESULT("a{sd}", counters),
                                method_get_counters, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

/* ---- setup ------------------------------------------------------------------------------- */

static ZlDaemon *daemon_free(ZlDaemon *d) {
        if (!d)
                return NULL;
        d->bus = sd_bus_flush_close_unref(d->bus);
        d->event = sd_event_unref(d->event);
        zl_counter_set_free(d->counters);
        free(d->arg_state_root);
        free(d->arg_runtime_root);
        free(d->state_dir);
        free(d->runtime_dir);
        return mfree(d);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(ZlDaemon *, daemon_free);

static bool descriptor_is_valid(const ZlDaemonDescriptor *desc) {
        return desc && desc->info && !isempty(desc->info->name) &&
               !isempty(desc->info->short_name) && !strchr(desc->info->short_name, '/') &&
               !streq(desc->info->short_name, ".") && !streq(desc->info->short_name, "..") &&
               desc->info->bus_name && sd_bus_service_name_is_valid(desc->info->bus_name) > 0 &&
               desc->info->object_path &&
               sd_bus_object_path_is_valid(desc->info->object_path) > 0 && desc->info->description;
}

static int daemon_new(const ZlDaemonDescriptor *desc, ZlDaemon **ret) {
        _cleanup_(daemon_freep) ZlDaemon *d = NULL;

        d = calloc(1, sizeof *d);
        if (!d)
                return -ENOMEM;
        d->desc = desc;
        d->self = d;
        d->daemon_object = (ZlBusObject){
                .path = desc->info->object_path,
                .interface = ZL_DAEMON_INTERFACE,
                .vtable = zl_daemon_vtable,
        };
        d->state = ZL_DAEMON_STARTING;
        d->started_at = now(CLOCK_REALTIME);
        d->started_monotonic = now(CLOCK_MONOTONIC);
        d->counters = zl_counter_set_new();
        if (!d->counters)
                return -ENOMEM;
        *ret = TAKE_PTR(d);
        return 0;
}

static void help(const ZlDaemonDescriptor *desc) {
        printf("%s [OPTIONS...]\n\n"
               "%s\n\n"
               "Options:\n"
               "  -h --help                  Show this help and exit\n"
               "     --version               Show the version and exit\n"
               "     --bus-introspect=IFACE  Print the introspection XML of IFACE and exit\n"
               "     --state-dir=DIR         Keep state in DIR/%s (default: %s)\n"
               "     --runtime-dir=DIR       Keep runtime files in DIR/%s (default: %s)\n"
               "     --log-level=LEVEL       err, warning, notice, info or debug\n"
               "\n"
               "Environment:\n"
               "  ZLAYER_BUS_ADDRESS   D-Bus address to connect to instead of the system bus\n"
               "  ZLAYER_STATE_DIR     State directory, else $STATE_DIRECTORY\n"
               "  ZLAYER_RUNTIME_DIR   Runtime directory, else $RUNTIME_DIRECTORY\n"
               "  ZLAYER_LOG_LEVEL     Log level, as --log-level\n"
               "  ZLAYER_LOG_TARGET    auto, journal, stderr or null\n"
               "\n"
               "Owns the bus name %s and serves %s at %s.\n",
               desc->info->name, desc->info->description, desc->info->short_name,
               ZL_DAEMON_STATE_DIR_DEFAULT, desc->info->short_name, ZL_DAEMON_RUNTIME_DIR_DEFAULT,
               desc->info->bus_name, ZL_DAEMON_INTERFACE, desc->info->object_path);
        for (const ZlBusObject *const *o = desc->objects; o && *o; o++)
                printf("Also serves %s at %s%s.\n", (*o)->interface, (*o)->path,
                       (*o)->fallback ? "/*" : "");
}

static int bus_introspect(const ZlDaemonDescriptor *desc, const char *interface) {
        const sd_bus_vtable *vtable = NULL;
        int r;

        if (streq(interface, ZL_DAEMON_INTERFACE))
                vtable = zl_daemon_vtable;
        else {
                const ZlBusObject *o = zl_bus_objects_find_interface(desc->objects, interface);

                if (o)
                        vtable = o->vtable;
        }
        if (!vtable) {
                _cleanup_free_ char *known = strdup(ZL_DAEMON_INTERFACE);

                for (const ZlBusObject *const *o = desc->objects; known && o && *o; o++)
                        if (strextend(&known, ", ", (*o)->interface) < 0)
                                known = mfree(known);
                if (!known)
                        return log_oom();
                return log_error_errno(ENOENT, "Unknown interface '%s'; %s implements %s.",
                                       interface, desc->info->name, known);
        }
        r = zl_bus_introspect_document(vtable, interface, stdout);
        if (r < 0)
                return log_error_errno(r, "Failed to write the introspection of '%s': %m",
                                       interface);
        return 0;
}

static int set_dir_arg(char **arg, const char *option, const char *value) {
        char *copy;

        if (!path_is_absolute(value))
                return log_error_errno(EINVAL, "%s needs an absolute path, got '%s'.", option,
                                       value);
        copy = strdup(value);
        if (!copy)
                return log_oom();
        path_simplify(copy);
        free(*arg);
        *arg = copy;
        return 0;
}

/* Returns 1 to go on, 0 to exit successfully (--help etc.), or a negative errno. */
static int parse_argv(ZlDaemon *d, int argc, char *argv[]) {
        enum {
                ARG_VERSION = 0x100,
                ARG_BUS_INTROSPECT,
                ARG_STATE_DIR,
                ARG_RUNTIME_DIR,
                ARG_LOG_LEVEL,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "bus-introspect", required_argument, NULL, ARG_BUS_INTROSPECT },
                { "state-dir", required_argument, NULL, ARG_STATE_DIR },
                { "runtime-dir", required_argument, NULL, ARG_RUNTIME_DIR },
                { "log-level", required_argument, NULL, ARG_LOG_LEVEL },
                {},
        };
        int c, r;

        /* Our own messages, through the log, instead of getopt's. */
        opterr = 0;
        optind = 0;
        while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        help(d->desc);
                        return 0;
                case ARG_VERSION:
                        printf("%s %s\n", d->desc->info->name, PROJECT_VERSION);
                        return 0;
                case ARG_BUS_INTROSPECT:
                        r = bus_introspect(d->desc, optarg);
                        return r < 0 ? r : 0;
                case ARG_STATE_DIR:
                        r = set_dir_arg(&d->arg_state_root, "--state-dir", optarg);
                        if (r < 0)
                                return r;
                        break;
                case ARG_RUNTIME_DIR:
                        r = set_dir_arg(&d->arg_runtime_root, "--runtime-dir", optarg);
                        if (r < 0)
                                return r;
                        break;
                case ARG_LOG_LEVEL:
                        r = log_level_from_string(optarg);
                        if (r < 0)
                                return log_error_errno(r, "Invalid log level '%s'.", optarg);
                        log_set_max_level(r);
                        break;
                case ':':
                        return log_error_errno(EINVAL, "Option '%s' needs an argument.",
                                               argv[optind - 1]);
                case '?':
                default:
                        return log_error_errno(EINVAL, "Unknown option '%s'. See --help.",
                                               argv[optind - 1]);
                }
        }
        if (optind < argc)
                return log_error_errno(EINVAL, "%s takes no arguments, got '%s'.",
                                       d->desc->info->name, argv[optind]);
        return 1;
}

/* The root of the state or runtime directories: option, ZLAYER_*, systemd's variable (a
 * colon-separated list when a unit names several directories: ours is the first), default. */
static int resolve_root(const char *arg, const char *zl_env, const char *systemd_env,
                        const char *fallback, char **ret) {
        const char *e;
        char *p;

        if (arg)
                p = strdup(arg);
        else if ((e = getenv(zl_env)) && !isempty(e))
                p = strdup(e);
        else if ((e = getenv(systemd_env)) && !isempty(e))
                p = strndup(e, strcspn(e, ":"));
        else
                p = strdup(fallback);
        if (!p)
                return -ENOMEM;
        if (!path_is_absolute(p)) {
                free(p);
                return -EINVAL;
        }
        *ret = p;
        return 0;
}

static int make_dir(const char *root, const char *short_name, char **ret) {
        _cleanup_free_ char *p = NULL;
        int r;

        r = mkdir_p(root, 0755);
        if (r < 0)
                return log_error_errno(r, "Failed to create directory '%s': %m", root);
        p = path_join(root, short_name);
        if (!p)
                return log_oom();
        if (mkdir(p, 0700) < 0 && errno != EEXIST)
                return log_error_errno(errno, "Failed to create directory '%s': %m", p);
        /* Ours alone, also when an earlier version or a person made it with other bits. */
        if (chmod(p, 0700) < 0)
                return log_error_errno(errno, "Failed to make '%s' private: %m", p);
        *ret = TAKE_PTR(p);
        return 0;
}

static int daemon_setup_dirs(ZlDaemon *d) {
        _cleanup_free_ char *state_root = NULL, *runtime_root = NULL;
        int r;

        r = resolve_root(d->arg_state_root, "ZLAYER_STATE_DIR", "STATE_DIRECTORY",
                         ZL_DAEMON_STATE_DIR_DEFAULT, &state_root);
        if (r < 0)
                return log_error_errno(r, "Failed to determine the state directory: %m");
        r = resolve_root(d->arg_runtime_root, "ZLAYER_RUNTIME_DIR", "RUNTIME_DIRECTORY",
                         ZL_DAEMON_RUNTIME_DIR_DEFAULT, &runtime_root);
        if (r < 0)
                return log_error_errno(r, "Failed to determine the runtime directory: %m");

        r = make_dir(state_root, d->desc->info->short_name, &d->state_dir);
        if (r < 0)
                return r;
        return make_dir(runtime_root, d->desc->info->short_name, &d->runtime_dir);
}

static int on_exit_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        ZlDaemon *d = userdata;

        log_info("Received %s, stopping.", signal_to_string((int) si->ssi_signo));
        (void) zl_daemon_set_state(d, ZL_DAEMON_STOPPING);
        return sd_event_exit(d->event, 0);
}

static int on_reload_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        (void) daemon_reload(userdata, NULL);
        return 0;
}

static int daemon_setup_event(ZlDaemon *d) {
        sigset_t mask;
        int r;

        /* sd-event takes signals through a signalfd, which only sees blocked signals. Children
         * we spawn must unblock them again. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(errno, "Failed to block signals: %m");
        /* A peer that goes away mid-write must not kill us. */
        (void) signal(SIGPIPE, SIG_IGN);

        r = sd_event_new(&d->event);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate the event loop: %m");
        r = sd_event_add_signal(d->event, NULL, SIGTERM, on_exit_signal, d);
        if (r >= 0)
                r = sd_event_add_signal(d->event, NULL, SIGINT, on_exit_signal, d);
        if (r >= 0)
                r = sd_event_add_signal(d->event, NULL, SIGHUP, on_reload_signal, d);
        if (r < 0)
                return log_error_errno(r, "Failed to watch signals: %m");
        /* WATCHDOG=1 every half of $WATCHDOG_USEC, when the service manager asks for it. */
        r = sd_event_set_watchdog(d->event, true);
        if (r < 0)
                return log_error_errno(r, "Failed to enable the watchdog: %m");
        return 0;
}

static int on_bus_message(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        ZlDaemon *d = userdata;

        if (sd_bus_message_is_method_call(m, NULL, NULL) > 0)
                d->n_bus_calls++;
        return 0;
}

static int daemon_connect(ZlDaemon *d) {
        const char *address = getenv("ZLAYER_BUS_ADDRESS");
        int r;

        r = zl_bus_error_register();
        if (r < 0)
                return log_error_errno(r, "Failed to register the bus error names: %m");

        if (!isempty(address)) {
                r = sd_bus_new(&d->bus);
                if (r < 0)
                        return log_error_errno(r, "Failed to allocate the bus: %m");
                (void) sd_bus_set_description(d->bus, d->desc->info->name);
                r = sd_bus_set_address(d->bus, address);
                if (r < 0)
                        return log_error_errno(r, "Invalid bus address '%s': %m", address);
                r = sd_bus_set_bus_client(d->bus, true);
                if (r >= 0)
                        r = sd_bus_start(d->bus);
                if (r < 0)
                        return log_error_errno(r, "Failed to connect to the bus at '%s': %m",
                                               address);
        } else {
                r = sd_bus_open_system_with_description(&d->bus, d->desc->info->name);
                if (r < 0)
                        return log_error_errno(r, "Failed to connect to the system bus: %m");
        }

        r = sd_bus_attach_event(d->bus, d->event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return log_error_errno(r, "Failed to attach the bus to the event loop: %m");
        /* Without the bus we are useless; exiting lets systemd or the launcher restart us. */
        r = sd_bus_set_exit_on_disconnect(d->bus, true);
        if (r < 0)
                return log_error_errno(r, "Failed to set exit on disconnect: %m");
        r = sd_bus_add_filter(d->bus, NULL, on_bus_message, d);
        if (r < 0)
                return log_error_errno(r, "Failed to add the bus filter: %m");
        return 0;
}

static int daemon_add_objects(ZlDaemon *d) {
        int r;

        r = zl_bus_add_object(d->bus, &d->daemon_object, (void *const *) &d->self);
        if (r < 0)
                return log_error_errno(r, "Failed to add %s at '%s': %m", ZL_DAEMON_INTERFACE,
                                       d->desc->info->object_path);
        r = zl_bus_add_objects(d->bus, d->desc->objects, &d->userdata);
        if (r < 0)
                return log_error_errno(r, "Failed to add the bus objects: %m");
        return 0;
}

static void daemon_fail(ZlDaemon *d) {
        d->failed = true;
        (void) sd_event_exit(d->event, EXIT_FAILURE);
}

static int on_name_acquired(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        const sd_bus_error *e;
        ZlDaemon *d = userdata;
        uint32_t reply;
        int r;

        e = sd_bus_message_get_error(m);
        if (e) {
                log_error("Failed to acquire bus name '%s': %s", d->desc->info->bus_name,
                          e->message ?: e->name);
                daemon_fail(d);
                return 0;
        }
        r = sd_bus_message_read(m, "u", &reply);
        if (r < 0) {
                log_error_errno(r, "Failed to parse the reply to RequestName: %m");
                daemon_fail(d);
                return 0;
        }
        /* 1: primary owner, 4: already the owner; without queueing, 3 means someone else has
         * it. */
        if (reply != 1 && reply != 4) {
                log_error("Bus name '%s' is already owned by another process; is %s already "
                          "running?",
                          d->desc->info->bus_name, d->desc->info->name);
                daemon_fail(d);
                return 0;
        }
        log_debug("Acquired bus name '%s'.", d->desc->info->bus_name);

        if (d->desc->init) {
                r = d->desc->init(d, &d->userdata);
                if (r < 0) {
                        log_error_errno(r, "Failed to load state: %m");
                        daemon_fail(d);
                        return 0;
                }
        }
        d->initialized = true;

        (void) zl_daemon_set_state(d, ZL_DAEMON_RUNNING);
        (void) sd_notify(false, "READY=1\nSTATUS=Running.");
        log_struct(LOG_INFO,
                   LOG_FIELDS({ "ZL_EVENT", "daemon-ready" }, { "ZL_DAEMON", d->desc->info->name },
                              { "ZL_BUS_NAME", d->desc->info->bus_name }),
                   "%s %s is ready on '%s'.", d->desc->info->name, PROJECT_VERSION,
                   d->desc->info->bus_name);
        return 0;
}

static int daemon_request_name(ZlDaemon *d) {
        int r;

        r = sd_bus_request_name_async(d->bus, NULL, d->desc->info->bus_name, 0, on_name_acquired,
                                      d);
        if (r < 0)
                return log_error_errno(r, "Failed to request bus name '%s': %m",
                                       d->desc->info->bus_name);
        return 0;
}

static void daemon_stop(ZlDaemon *d) {
        (void) zl_daemon_set_state(d, ZL_DAEMON_STOPPING);
        (void) sd_notify(false, "STOPPING=1\nSTATUS=Stopping.");
        if (d->initialized && d->desc->done)
                d->desc->done(d, d->userdata);
        d->userdata = NULL;
        d->initialized = false;
        /* The PropertiesChanged above and any replies still queued go out before we close. */
        if (d->bus) {
                (void) sd_bus_flush(d->bus);
                d->bus = sd_bus_flush_close_unref(d->bus);
        }
        log_struct(
                LOG_INFO,
                LOG_FIELDS({ "ZL_EVENT", "daemon-stopped" }, { "ZL_DAEMON", d->desc->info->name }),
                "%s stopped.", d->desc->info->name);
}

int zl_daemon_main(const ZlDaemonDescriptor *desc, int argc, char *argv[]) {
        _cleanup_(daemon_freep) ZlDaemon *d = NULL;
        int r;

        if (!descriptor_is_valid(desc))
                return EXIT_FAILURE;

        log_set_ident(desc->info->name);
        log_set_show_ident(true);
        log_parse_environment();

        r = daemon_new(desc, &d);
        if (r < 0) {
                log_oom();
                return EXIT_FAILURE;
        }
        r = parse_argv(d, argc, argv);
        if (r <= 0)
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;

        umask(0022);
        log_debug("Starting %s %s.", desc->info->name, PROJECT_VERSION);

        r = daemon_setup_dirs(d);
        if (r < 0)
                return EXIT_FAILURE;
        r = daemon_setup_event(d);
        if (r < 0)
                return EXIT_FAILURE;
        r = daemon_connect(d);
        if (r < 0)
                return EXIT_FAILURE;
        r = daemon_add_objects(d);
        if (r < 0)
                return EXIT_FAILURE;
        r = daemon_request_name(d);
        if (r < 0)
                return EXIT_FAILURE;
        (void) sd_notify(false, "STATUS=Acquiring the bus name.");

        r = sd_event_loop(d->event);
        if (r < 0) {
                log_error_errno(r, "Event loop failed: %m");
                d->failed = true;
        } else if (r > 0 && !d->failed) {
                /* Only sd-bus exits with a non-zero code on its own: the bus went away. */
                log_error("Lost the connection to the bus.");
                d->failed = true;
        }

        daemon_stop(d);
        return d->failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
