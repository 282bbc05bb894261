/* SPDX-License-Identifier: Apache-2.0 */
/* build-bus.c: org.zlayer.Builder1 and org.zlayer.Builder1.Build: arguments, calls, signals. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "build-bus.h"
#include "bus-error.h"
#include "bus-options.h"
#include "log.h"
#include "runtime-templates.h"
#include "string-util.h"
#include "time-util.h"

#define RUNTIME_SERVICE "org.zlayer.Runtime1"
#define RUNTIME_PATH "/org/zlayer/Runtime1"
#define RUNTIME_INTERFACE "org.zlayer.Runtime1"
/* An import copies every layer of the image into the store: large images take a while. */
#define IMPORT_TIMEOUT_USEC (30 * USEC_PER_MINUTE)

int builder_build_path(const Build *b, char **ret) {
        return zl_bus_path_encode(BUILDER_BUILD_PREFIX, b->id, ret);
}

static Build *lookup(sd_bus_message *m, Builder *bd, const char *id, int *ret_r) {
        Build *b = isempty(id) ? NULL : build_manager_get(bd->manager, id);

        if (!b)
                *ret_r = zl_bus_reply_errnof(m, ENOENT, "No such build '%s'.", id);
        return b;
}

/* ---- org.zlayer.Builder1 ------------------------------------------------------------------ */

static const ZlBusOption build_options[] = {
        ZL_BUS_OPTION("dockerfile", "s", zl_bus_option_string, BuildOptions, dockerfile),
        ZL_BUS_OPTION("tags", "as", zl_bus_option_strv, BuildOptions, tags),
        ZL_BUS_OPTION("build_args", "a{ss}", zl_bus_option_string_map, BuildOptions, build_args),
        ZL_BUS_OPTION("target", "s", zl_bus_option_string, BuildOptions, target),
        ZL_BUS_OPTION("no_cache", "b", zl_bus_option_bool, BuildOptions, no_cache),
        ZL_BUS_OPTION("runtime", "s", zl_bus_option_string, BuildOptions, runtime),
        ZL_BUS_OPTION("runtime_auto", "b", zl_bus_option_bool, BuildOptions, runtime_auto),
        ZL_BUS_OPTION("push", "b", zl_bus_option_bool, BuildOptions, push),
        ZL_BUS_OPTION("platform", "s", zl_bus_option_string, BuildOptions, platform),
        ZL_BUS_OPTION_IGNORED("traceparent", "s"),
};

static int method_build(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(build_options_done) BuildOptions o = {};
        _cleanup_free_ char *msg = NULL, *path = NULL;
        Builder *bd = userdata;
        const char *context;
        Build *b;
        int r;

        (void) error;
        r = sd_bus_message_read(m, "s", &context);
        if (r < 0)
                return r;
        r = zl_bus_read_options_or_reply(m, "options", build_options, ELEMENTSOF(build_options),
                                         &o);
        if (r <= 0)
                return r;
        r = zl_bus_check_root(m, "build images");
        if (r <= 0)
                return r;
        r = build_manager_submit(bd->manager, context, &o, &b, &msg);
        if (r < 0)
                return zl_bus_reply_errnof(m, r, "%s", msg ?: strerror(-r));
        r = builder_build_path(b, &path);
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(m, "so", b->id, path);
}

static int method_list_builds(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Builder *bd = userdata;
        int r;

        (void) error;
        r = sd_bus_message_new_method_return(m, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "(ssasssstt)");
        if (r < 0)
                return r;
        for (size_t i = 0; i < build_manager_count(bd->manager); i++) {
                Build *b = build_manager_get_at(bd->manager, i);

                r = sd_bus_message_open_container(reply, 'r', "ssasssstt");
                if (r >= 0)
                        r = sd_bus_message_append(reply, "ss", b->id,
                                                  build_state_to_string(b->state));
                if (r >= 0)
                        r = sd_bus_message_append_strv(reply, b->options.tags);
                if (r >= 0)
                        r = sd_bus_message_append(reply, "ssstt", strempty(b->image_id),
                                                  strempty(b->error), b->context, b->started_at,
                                                  b->finished_at);
                if (r >= 0)
                        r = sd_bus_message_close_container(reply);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int method_get_log(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_close_ int fd = -EBADF;
        const char *id;
        Build *b;
        int r = 0;

        (void) error;
        r = sd_bus_message_read(m, "s", &id);
        if (r < 0)
                return r;
        b = lookup(m, userdata, id, &r);
        if (!b)
                return r;
        fd = build_open_log(b);
        if (fd == -ENOENT)
                return zl_bus_reply_errnof(m, ENOENT, "Build '%s' has no log.", id);
        if (fd < 0)
                return zl_bus_reply_errnof(m, -fd, "Failed to open the log of build '%s': %s", id,
                                           strerror(-fd));
        return sd_bus_reply_method_return(m, "h", fd);
}

static int method_list_runtimes(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const RuntimeTemplate *t;
        size_t n;
        int r;

        (void) userdata, (void) error;
        t = runtime_templates(&n);
        r = sd_bus_message_new_method_return(m, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_open_container(reply, 'a', "(sss)");
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *detects = strv_join((char **) t[i].detects, ", ");

                if (!detects)
                        return -ENOMEM;
                r = sd_bus_message_append(reply, "(sss)", t[i].name, t[i].description, detects);
                if (r < 0)
                        return r;
        }
        r = sd_bus_message_close_container(reply);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int cancel_and_reply(sd_bus_message *m, Build *b) {
        int r;

        r = zl_bus_check_root(m, "build images");
        if (r <= 0)
                return r;
        r = build_cancel(b);
        if (r == -ESTALE)
                return zl_bus_reply_errnof(m, EBUSY, "Build '%s' has already ended (%s).", b->id,
                                           build_state_to_string(b->state));
        if (r < 0)
                return zl_bus_reply_errnof(m, -r, "Failed to cancel build '%s': %s", b->id,
                                           strerror(-r));
        return sd_bus_reply_method_return(m, NULL);
}

static int method_cancel(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *id;
        Build *b;
        int r = 0;

        (void) error;
        r = sd_bus_message_read(m, "s", &id);
        if (r < 0)
                return r;
        b = lookup(m, userdata, id, &r);
        if (!b)
                return r;
        return cancel_and_reply(m, b);
}

static const sd_bus_vtable builder_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD_WITH_ARGS("Build", SD_BUS_ARGS("s", context_path, "a{sv}", options),
                                SD_BUS_RESULT("s", build_id, "o", build), method_build,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListBuilds", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(ssasssstt)", builds),
                                method_list_builds, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetLog", SD_BUS_ARGS("s", build_id), SD_BUS_RESULT("h", log),
                                method_get_log, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ListRuntimes", SD_BUS_NO_ARGS, SD_BUS_RESULT("a(sss)", runtimes),
                                method_list_runtimes, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Cancel", SD_BUS_ARGS("s", build_id), SD_BUS_NO_RESULT,
                                method_cancel, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

const ZlBusObject builder_bus_object = {
        .path = BUILDER_OBJECT_PATH,
        .interface = BUILDER_INTERFACE,
        .vtable = builder_vtable,
};

/* ---- org.zlayer.Builder1.Build ------------------------------------------------------------ */

static void on_wait_done(Build *b, void *userdata) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = userdata;
        int r;

        r = sd_bus_reply_method_return(m, "s", build_state_to_string(b->state));
        if (r < 0)
                log_debug_errno(r, "Failed to reply to Wait(), ignoring: %m");
}

static int method_build_wait(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Build *b = userdata;
        int r;

        (void) error;
        r = build_add_waiter(b, on_wait_done, sd_bus_message_ref(m));
        if (r != 0)
                sd_bus_message_unref(m);
        if (r < 0)
                return r;
        if (r > 0)
                return sd_bus_reply_method_return(m, "s", build_state_to_string(b->state));
        return 1;
}

static int method_build_cancel(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        (void) error;
        return cancel_and_reply(m, userdata);
}

static int property_get_string(sd_bus *bus, const char *path, const char *interface,
                               const char *property, sd_bus_message *reply, void *userdata,
                               sd_bus_error *error) {
        Build *b = userdata;
        const char *v;

        (void) bus, (void) path, (void) interface, (void) error;
        if (streq(property, "Id"))
                v = b->id;
        else if (streq(property, "Context"))
                v = b->context;
        else if (streq(property, "State"))
                v = build_state_to_string(b->state);
        else if (streq(property, "ImageId"))
                v = b->image_id;
        else if (streq(property, "Error"))
                v = b->error;
        else if (streq(property, "CurrentStage"))
                v = b->current_stage;
        else
                v = b->current_instruction;
        return sd_bus_message_append(reply, "s", strempty(v));
}

static int property_get_tags(sd_bus *bus, const char *path, const char *interface,
                             const char *property, sd_bus_message *reply, void *userdata,
                             sd_bus_error *error) {
        Build *b = userdata;

        (void) bus, (void) path, (void) interface, (void) property, (void) error;
        return sd_bus_message_append_strv(reply, b->options.tags);
}

static int property_get_time(sd_bus *bus, const char *path, const char *interface,
                             const char *property, sd_bus_message *reply, void *userdata,
                             sd_bus_error *error) {
        Build *b = userdata;

        (void) bus, (void) path, (void) interface, (void) error;
        return sd_bus_message_append(reply, "t",
                                     streq(property, "StartedAt") ? b->started_at : b->finished_at);
}

static const sd_bus_vtable build_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("Id", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Context", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("Tags", "as", property_get_tags, 0, SD_BUS_VTABLE_PROPERTY_CONST),
        SD_BUS_PROPERTY("State", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("ImageId", "s", property_get_string, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Error", "s", property_get_string, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("StartedAt", "t", property_get_time, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("FinishedAt", "t", property_get_time, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("CurrentStage", "s", property_get_string, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("CurrentInstruction", "s", property_get_string, 0,
                        SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD_WITH_ARGS("Cancel", SD_BUS_NO_ARGS, SD_BUS_NO_RESULT, method_build_cancel,
                                SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Wait", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", state),
                                method_build_wait, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("Progress", SD_BUS_ARGS("s", event, "s", json), 0),
        SD_BUS_VTABLE_END,
};

static int build_find(sd_bus *bus, const char *path, const char *interface, void *userdata,
                      void **ret_found, sd_bus_error *error) {
        _cleanup_free_ char *id = NULL;
        Builder *bd = userdata;
        Build *b;
        int r;

        (void) bus, (void) interface, (void) error;
        if (!bd || !bd->manager)
                return 0;
        r = zl_bus_path_decode(path, BUILDER_BUILD_PREFIX, &id);
        if (r <= 0)
                return r;
        b = build_manager_get(bd->manager, id);
        if (!b)
                return 0;
        *ret_found = b;
        return 1;
}

static int build_enumerate(sd_bus *bus, const char *prefix, void *userdata, char ***ret_nodes,
                           sd_bus_error *error) {
        _cleanup_strv_free_ char **l = NULL;
        Builder *bd = userdata;

        (void) bus, (void) prefix, (void) error;
        for (size_t i = 0; bd && bd->manager && i < build_manager_count(bd->manager); i++) {
                char *p = NULL;
                int r = builder_build_path(build_manager_get_at(bd->manager, i), &p);
                if (r < 0)
                        return r;
                if (strv_consume(&l, p) < 0)
                        return -ENOMEM;
        }
        *ret_nodes = TAKE_PTR(l);
        return 0;
}

const ZlBusObject builder_build_bus_object = {
        .path = BUILDER_BUILD_PREFIX,
        .interface = BUILDER_BUILD_INTERFACE,
        .vtable = build_vtable,
        .fallback = true,
        .find = build_find,
        .node_enumerator = build_enumerate,
};

/* ---- the manager's callbacks -------------------------------------------------------------- */

static void on_progress(BuildManager *m, Build *b, const char *event, const char *json,
                        void *userdata) {
        _cleanup_free_ char *path = NULL;
        Builder *bd = userdata;
        sd_bus *bus = zl_daemon_get_bus(bd->daemon);
        int r;

        (void) m;
        if (!bus)
                return;
        r = builder_build_path(b, &path);
        if (r >= 0)
                r = sd_bus_emit_signal(bus, path, BUILDER_BUILD_INTERFACE, "Progress", "ss", event,
                                       json);
        if (r < 0)
                log_debug_errno(r, "Failed to emit Progress, ignoring: %m");
}

static void on_changed(BuildManager *m, Build *b, void *userdata) {
        _cleanup_free_ char *path = NULL;
        Builder *bd = userdata;
        sd_bus *bus = zl_daemon_get_bus(bd->daemon);
        int r;

        (void) m;
        if (!bus)
                return;
        r = builder_build_path(b, &path);
        if (r >= 0)
                r = sd_bus_emit_properties_changed(bus, path, BUILDER_BUILD_INTERFACE, "State",
                                                   "ImageId", "Error", "StartedAt", "FinishedAt",
                                                   "CurrentStage", "CurrentInstruction", NULL);
        if (r < 0)
                log_debug_errno(r, "Failed to emit PropertiesChanged, ignoring: %m");
}

/* One import: ImportImage under the first tag, then TagImage for each other tag. */
typedef struct Import {
        Builder *builder;
        char *build_id; /* looked up again at each reply: the build record may be gone */
        size_t next_tag;
        char *digest;
} Import;

static void import_free(void *p) {
        Import *im = p;

        if (!im)
                return;
        free(im->build_id);
        free(im->digest);
        free(im);
}

static int import_next(Import *im, Build *b);

static int on_import_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Import *im = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        Build *b = build_manager_get(im->builder->manager, im->build_id);
        int r;

        (void) ret_error;
        if (!b)
                return 0;
        if (e) {
                _cleanup_free_ char *msg = NULL;
                const char *step = im->next_tag == 0 ? "ImportImage" : "TagImage";

                if (sd_bus_error_has_names(e, SD_BUS_ERROR_SERVICE_UNKNOWN,
                                           SD_BUS_ERROR_NAME_HAS_NO_OWNER))
                        (void) asprintf(&msg, "zl-runtimed (%s) is not reachable: %s",
                                        RUNTIME_SERVICE, strna(e->message));
                else
                        (void) asprintf(&msg, "%s: %s (%s)", step, strna(e->message),
                                        strna(e->name));
                build_import_finished(b, -(sd_bus_error_get_errno(e) ?: EIO), NULL, msg);
                return 0;
        }
        if (im->next_tag == 0) {
                const char *digest;

                r = sd_bus_message_read(reply, "s", &digest);
                if (r < 0 || !(im->digest = strdup(digest))) {
                        build_import_finished(b, r < 0 ? r : -ENOMEM, NULL,
                                              "unreadable reply to ImportImage");
                        return 0;
                }
        }
        im->next_tag++;
        r = import_next(im, b);
        if (r < 0)
                build_import_finished(b, r, NULL, NULL);
        return 0;
}

/* Sends the next call, or reports the import done. The Import goes with the call's slot. */
static int import_next(Import *im, Build *b) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        sd_bus *bus = zl_daemon_get_bus(im->builder->daemon);
        char **tags = b->options.tags;
        size_t n_tags = strv_length(tags);
        sd_bus_slot *slot = NULL;
        Import *next;
        int r;

        if (im->next_tag > 0 && im->next_tag >= n_tags) {
                build_import_finished(b, 0, im->digest, NULL);
                return 0;
        }
        if (!bus)
                return -ENOTCONN;
        /* The slot frees its Import when it goes: a copy carries on for the next call. */
        next = calloc(1, sizeof(Import));
        if (!next)
                return -ENOMEM;
        *next = (Import){ .builder = im->builder, .next_tag = im->next_tag };
        next->build_id = strdup(im->build_id);
        next->digest = im->digest ? strdup(im->digest) : NULL;
        if (!next->build_id || (im->digest && !next->digest)) {
                import_free(next);
                return -ENOMEM;
        }
        if (next->next_tag == 0)
                r = sd_bus_message_new_method_call(bus, &m, RUNTIME_SERVICE, RUNTIME_PATH,
                                                   RUNTIME_INTERFACE, "ImportImage");
        else
                r = sd_bus_message_new_method_call(bus, &m, RUNTIME_SERVICE, RUNTIME_PATH,
                                                   RUNTIME_INTERFACE, "TagImage");
        if (r >= 0) {
                if (next->next_tag == 0)
                        r = sd_bus_message_append(m, "ss", b->oci_dir, n_tags > 0 ? tags[0] : "");
                else
                        r = sd_bus_message_append(m, "ss", next->digest, tags[next->next_tag]);
        }
        if (r >= 0)
                r = sd_bus_call_async(bus, &slot, m, on_import_reply, next,
                                      next->next_tag == 0 ? IMPORT_TIMEOUT_USEC : 0);
        if (r < 0) {
                import_free(next);
                return r;
        }
        (void) sd_bus_slot_set_destroy_callback(slot, import_free);
        (void) sd_bus_slot_set_floating(slot, true);
        sd_bus_slot_unref(slot);
        return 0;
}

static int on_import(BuildManager *m, Build *b, const char *oci_dir, void *userdata) {
        Import first = { .builder = userdata, .build_id = b->id };

        (void) m, (void) oci_dir;
        return import_next(&first, b);
}

const BuildManagerCallbacks builder_bus_callbacks = {
        .progress = on_progress,
        .changed = on_changed,
        .import = on_import,
};
