/* SPDX-License-Identifier: Apache-2.0 */
/* test-sched-bus-backends.c: SchedBackends over a fake Runtime1 and Proxy1 served over a
 * socketpair bus in this process. */
#include <sys/socket.h>
#include <systemd/sd-event.h>

#include "bus-error.h"
#include "sched-bus-backends.h"
#include "string-util.h"
#include "tests.h"

#define ID_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define ID_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

/* What the fake daemons saw. */
typedef struct Fake {
        char *last_method;
        char *last_id;
        char *name;
        json_t *options; /* CreateContainer's, as {"key": "signature"} plus values of "s" ones */
        uint32_t timeout;
        int force;
        char *label;
        char **argv;
        uint32_t exec_timeout;
        char *routes_owner;
        char *routes_json;
        unsigned calls;
} Fake;

static void fake_done(Fake *f) {
        free(f->last_method);
        free(f->last_id);
        free(f->name);
        json_decref(f->options);
        free(f->label);
        strv_free(f->argv);
        free(f->routes_owner);
        free(f->routes_json);
}

static void fake_record(Fake *f, sd_bus_message *m, const char *id) {
        free(f->last_method);
        f->last_method = strdup(sd_bus_message_get_member(m));
        free(f->last_id);
        f->last_id = id ? strdup(id) : NULL;
        f->calls++;
}

static int read_options(sd_bus_message *m, json_t *o) {
        int r;

        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *key, *sig, *s;
                char type;

                r = sd_bus_message_read(m, "s", &key);
                if (r < 0)
                        return r;
                r = sd_bus_message_peek_type(m, &type, &sig);
                if (r < 0)
                        return r;
                if (streq(sig, "s")) {
                        r = sd_bus_message_read(m, "v", "s", &s);
                        if (r < 0)
                                return r;
                        json_object_set_new(o, key, json_string(s));
                } else {
                        json_object_set_new(o, key, json_string(sig));
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

static int fake_create(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Fake *f = userdata;
        const char *name, *config;
        int r;

        r = sd_bus_message_read(m, "ss", &name, &config);
        if (r < 0)
                return r;
        json_decref(f->options);
        f->options = json_object();
        r = read_options(m, f->options);
        if (r < 0)
                return r;
        fake_record(f, m, NULL);
        free(f->name);
        f->name = strdup(name);
        if (streq(strempty(json_string_value(json_object_get(f->options, "image"))), "bad"))
                return zl_bus_reply_errnof(m, ENOENT, "pull of 'bad': manifest unknown");
        return sd_bus_reply_method_return(m, "so", ID_A, "/org/zlayer/Runtime1/container/a");
}

static int fake_id_only(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Fake *f = userdata;
        const char *id;
        int r;

        r = sd_bus_message_read(m, "s", &id);
        if (r < 0)
                return r;
        fake_record(f, m, id);
        if (streq(id, "busy"))
                return zl_bus_reply_errnof(m, EBUSY, "Container 'busy' is running.");
        return sd_bus_reply_method_return(m, NULL);
}

static int fake_stop(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Fake *f = userdata;
        const char *id;
        int r;

        r = sd_bus_message_read(m, "su", &id, &f->timeout);
        if (r < 0)
                return r;
        fake_record(f, m, id);
        return sd_bus_reply_method_return(m, NULL);
}

static int fake_remove(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Fake *f = userdata;
        const char *id;
        int r;

        r = sd_bus_message_read(m, "sb", &id, &f->force);
        if (r < 0)
                return r;
        fake_record(f, m, id);
        return sd_bus_reply_method_return(m, NULL);
}

static int fake_list(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        Fake *f = userdata;
        const char *key, *label;
        int r;

        r = sd_bus_message_read(m, "a{sv}", 1, &key, "as", 1, &label);
        if (r < 0)
                return r;
        ASSERT_STREQ(key, "label");
        fake_record(f, m, NULL);
        free(f->label);
        f->label = strdup(label);
        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = sd_bus_message_append(reply, "a(ssssuittta{ss}s)", 2, ID_A, "web-0", "img",
                                          "running", 42, -1, 1, 2, 0, 2, "zlayer.deployment", "d",
                                          "zlayer.replica", "0", "10.0.0.2", ID_B, "web-1", "img",
                                          "exited", 0, 137, 1, 2, 3, 0, "");
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int fake_exec(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_strv_free_ char **env = NULL;
        Fake *f = userdata;
        const char *id, *key;
        int r;

        r = sd_bus_message_read(m, "s", &id);
        if (r < 0)
                return r;
        strv_free(f->argv);
        f->argv = NULL;
        r = sd_bus_message_read_strv(m, &f->argv);
        if (r < 0)
                return r;
        r = sd_bus_message_read_strv(m, &env);
        if (r < 0)
                return r;
        r = sd_bus_message_read(m, "a{sv}", 1, &key, "u", &f->exec_timeout);
        if (r < 0)
                return r;
        ASSERT_STREQ(key, "timeout");
        fake_record(f, m, id);
        r = sd_bus_message_new_method_return(m, &reply);
        if (r >= 0)
                r = sd_bus_message_append(reply, "i", 3);
        if (r >= 0)
                r = sd_bus_message_append_array(reply, 'y', "out\0put", 7);
        if (r >= 0)
                r = sd_bus_message_append_array(reply, 'y', "err", 3);
        if (r < 0)
                return r;
        return sd_bus_send(NULL, reply, NULL);
}

static int fake_set_routes(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Fake *f = userdata;
        const char *owner, *json;
        int r;

        r = sd_bus_message_read(m, "ss", &owner, &json);
        if (r < 0)
                return r;
        fake_record(f, m, NULL);
        free(f->routes_owner);
        f->routes_owner = strdup(owner);
        free(f->routes_json);
        f->routes_json = strdup(json);
        return sd_bus_reply_method_return(m, NULL);
}

static const sd_bus_vtable runtime_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("CreateContainer", "ssa{sv}", "so", fake_create, 0),
        SD_BUS_METHOD("StartContainer", "s", "", fake_id_only, 0),
        SD_BUS_METHOD("StopContainer", "su", "", fake_stop, 0),
        SD_BUS_METHOD("RemoveContainer", "sb", "", fake_remove, 0),
        SD_BUS_METHOD("ListContainers", "a{sv}", "a(ssssuittta{ss}s)", fake_list, 0),
        SD_BUS_METHOD("Exec", "sasasa{sv}", "iayay", fake_exec, 0),
        SD_BUS_SIGNAL("ContainerStateChanged", "ssi", 0),
        SD_BUS_VTABLE_END,
};

static const sd_bus_vtable proxy_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("SetRoutes", "ss", "", fake_set_routes, 0),
        SD_BUS_VTABLE_END,
};

typedef struct Pair {
        sd_event *event;
        sd_bus *server;
        sd_bus *client;
        Fake fake;
        SchedBusBackends *b;
        SchedBackends t;
} Pair;

/* What a done callback got. */
typedef struct Got {
        unsigned n;
        int r;
        char *error;
        char *id;
        int exit_code;
        char *out;
        size_t out_len;
        char *err;
        size_t n_containers;
        SchedContainerInfo containers[2];
} Got;

static void got_done(Got *g) {
        free(g->error);
        free(g->id);
        free(g->out);
        free(g->err);
        for (size_t i = 0; i < g->n_containers; i++)
                sched_container_info_done(&g->containers[i]);
}

static void got_common(Got *g, int r, const char *error) {
        g->n++;
        g->r = r;
        free(g->error);
        g->error = error ? strdup(error) : NULL;
}

static void on_done(int r, const char *error, void *userdata) {
        got_common(userdata, r, error);
}

static void on_created(int r, const char *error, const char *id, void *userdata) {
        Got *g = userdata;

        got_common(g, r, error);
        free(g->id);
        g->id = id ? strdup(id) : NULL;
}

static void on_list(int r, const char *error, const SchedContainerInfo *c, size_t n,
                    void *userdata) {
        Got *g = userdata;

        got_common(g, r, error);
        ASSERT_LE(n, 2U);
        g->n_containers = n;
        for (size_t i = 0; i < n; i++) {
                g->containers[i] = (SchedContainerInfo){
                        .id = strdup(c[i].id),
                        .name = strdup(c[i].name),
                        .image = strdup(c[i].image),
                        .state = strdup(c[i].state),
                        .exit_code = c[i].exit_code,
                        .started_usec = c[i].started_usec,
                        .finished_usec = c[i].finished_usec,
                        .labels = json_deep_copy(c[i].labels),
                        .ip = strdup(c[i].ip),
                };
        }
}

static void on_exec(int r, const char *error, int exit_code, const char *out, size_t out_len,
                    const char *err, size_t err_len, void *userdata) {
        Got *g = userdata;

        got_common(g, r, error);
        free(g->out);
        free(g->err);
        g->exit_code = exit_code;
        g->out = malloc(out_len + 1);
        if (g->out && out_len > 0)
                memcpy(g->out, out, out_len);
        g->out_len = out_len;
        g->err = err ? strndup(err, err_len) : NULL;
}

typedef struct Changed {
        unsigned n;
        char id[80];
        char state[16];
        int exit_code;
} Changed;

static void on_changed(const char *id, const char *state, int exit_code, void *userdata) {
        Changed *c = userdata;

        c->n++;
        snprintf(c->id, sizeof c->id, "%s", id);
        snprintf(c->state, sizeof c->state, "%s", state);
        c->exit_code = exit_code;
}

static void pair_setup(Pair *p, Changed *changed) {
        sd_id128_t id;
        int fds[2];

        ASSERT_OK(zl_bus_error_register());
        ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds));
        ASSERT_OK(sd_event_new(&p->event));
        ASSERT_OK(sd_id128_randomize(&id));
        ASSERT_OK(sd_bus_new(&p->server));
        ASSERT_OK(sd_bus_set_fd(p->server, fds[0], fds[0]));
        ASSERT_OK(sd_bus_set_server(p->server, 1, id));
        ASSERT_OK(sd_bus_start(p->server));
        ASSERT_OK(sd_bus_attach_event(p->server, p->event, 0));
        ASSERT_OK(sd_bus_add_object_vtable(p->server, NULL, SCHED_RUNTIME_PATH,
                                           SCHED_RUNTIME_INTERFACE, runtime_vtable, &p->fake));
        ASSERT_OK(sd_bus_add_object_vtable(p->server, NULL, SCHED_PROXY_PATH, SCHED_PROXY_INTERFACE,
                                           proxy_vtable, &p->fake));
        ASSERT_OK(sd_bus_new(&p->client));
        ASSERT_OK(sd_bus_set_fd(p->client, fds[1], fds[1]));
        ASSERT_OK(sd_bus_start(p->client));
        ASSERT_OK(sd_bus_attach_event(p->client, p->event, 0));
        ASSERT_OK(sched_bus_backends_new(p->client, on_changed, changed, &p->b));
        sched_bus_backends_table(p->b, &p->t);
}

static void pair_done(Pair *p) {
        p->b = sched_bus_backends_free(p->b);
        p->client = sd_bus_flush_close_unref(p->client);
        p->server = sd_bus_flush_close_unref(p->server);
        p->event = sd_event_unref(p->event);
        fake_done(&p->fake);
}

static void run_until(Pair *p, const unsigned *counter, unsigned want) {
        for (unsigned i = 0; *counter < want; i++) {
                ASSERT_LT(i, 1000U);
                ASSERT_OK(sd_event_run(p->event, 5 * 1000 * 1000));
        }
}

TEST(create_sends_the_spec_as_options) {
        _cleanup_(pair_done) Pair p = {};
        _cleanup_(got_done) Got g = {};
        char *entry[] = { (char *) "/bin/sh", (char *) "-c", NULL };
        char *env[] = { (char *) "A=1", NULL };
        char *none[] = { NULL };
        SchedContainerSpec spec = {
                .name = (char *) "d-web-0-12345678",
                .image = (char *) "nginx:1",
                .pull_policy = (char *) "always",
                .entrypoint = entry,
                .hostname = (char *) "web-0",
                .env = env,
                .memory = 1024,
                .cpus = 0.5,
                .cap_add = none,
                .cap_drop = none,
                .read_only = true,
        };

        spec.storage = json_array();
        spec.devices = json_pack("[{s:s}]", "path", "/dev/fuse");
        spec.sysctls = json_object();
        spec.labels = json_pack("{s:s}", "zlayer.deployment", "d");
        pair_setup(&p, NULL);
        ASSERT_OK(p.t.create(p.t.userdata, &spec, on_created, &g));
        ASSERT_EQ(g.n, 0U); /* never from inside the call */
        ASSERT_EQ(sched_bus_backends_n_pending(p.b), 1U);
        run_until(&p, &g.n, 1);
        ASSERT_EQ(g.r, 0);
        ASSERT_NULL(g.error);
        ASSERT_STREQ(g.id, ID_A);
        ASSERT_EQ(sched_bus_backends_n_pending(p.b), 0U);
        ASSERT_STREQ(p.fake.name, "d-web-0-12345678");
        ASSERT_STREQ(json_string_value(json_object_get(p.fake.options, "image")), "nginx:1");
        ASSERT_STREQ(json_string_value(json_object_get(p.fake.options, "pull_policy")), "always");
        ASSERT_STREQ(json_string_value(json_object_get(p.fake.options, "hostname")), "web-0");
        ASSERT_STREQ(json_string_value(json_object_get(p.fake.options, "entrypoint")), "as");
        ASSERT_STREQ(json_string_value(json_object_get(p.fake.options, "env")), "as");
        ASSERT_STREQ(json_string_value(json_object_get(p.fake.options, "memory")), "t");
        ASSERT_STREQ(json_string_value(json_object_get(p.fake.options, "cpus")), "d");
        ASSERT_STREQ(json_string_value(json_object_get(p.fake.options, "read_only")), "b");
        ASSERT_STREQ(json_string_value(json_object_get(p.fake.options, "labels")), "a{ss}");
        ASSERT_STREQ(json_string_value(json_object_get(p.fake.options, "devices")),
                     "[{\"path\":\"/dev/fuse\"}]");
        /* Unset or empty: not sent, so a runtime without those options still works. */
        ASSERT_NULL(json_object_get(p.fake.options, "args"));
        ASSERT_NULL(json_object_get(p.fake.options, "cwd"));
        ASSERT_NULL(json_object_get(p.fake.options, "user"));
        ASSERT_NULL(json_object_get(p.fake.options, "pids"));
        ASSERT_NULL(json_object_get(p.fake.options, "cap_add"));
        ASSERT_NULL(json_object_get(p.fake.options, "storage"));
        ASSERT_NULL(json_object_get(p.fake.options, "sysctls"));
        ASSERT_NULL(json_object_get(p.fake.options, "privileged"));

        /* A failure carries the method and the daemon's message, and the errno of its name. */
        spec.image = (char *) "bad";
        ASSERT_OK(p.t.create(p.t.userdata, &spec, on_created, &g));
        run_until(&p, &g.n, 2);
        ASSERT_EQ(g.r, -ENOENT);
        ASSERT_STREQ(g.error, "CreateContainer: pull of 'bad': manifest unknown");

        ASSERT_ERROR(p.t.create(p.t.userdata, &(SchedContainerSpec){}, on_created, &g), EINVAL);
        json_decref(spec.storage);
        json_decref(spec.devices);
        json_decref(spec.sysctls);
        json_decref(spec.labels);
}

TEST(start_stop_remove) {
        _cleanup_(pair_done) Pair p = {};
        _cleanup_(got_done) Got g = {};

        pair_setup(&p, NULL);
        ASSERT_OK(p.t.start(p.t.userdata, ID_A, on_done, &g));
        run_until(&p, &g.n, 1);
        ASSERT_EQ(g.r, 0);
        ASSERT_STREQ(p.fake.last_method, "StartContainer");
        ASSERT_STREQ(p.fake.last_id, ID_A);

        ASSERT_OK(p.t.stop(p.t.userdata, ID_B, 7, on_done, &g));
        run_until(&p, &g.n, 2);
        ASSERT_EQ(g.r, 0);
        ASSERT_STREQ(p.fake.last_method, "StopContainer");
        ASSERT_EQ(p.fake.timeout, 7U);

        ASSERT_OK(p.t.remove(p.t.userdata, ID_B, true, on_done, &g));
        run_until(&p, &g.n, 3);
        ASSERT_STREQ(p.fake.last_method, "RemoveContainer");
        ASSERT_EQ(p.fake.force, 1);

        ASSERT_OK(p.t.start(p.t.userdata, "busy", on_done, &g));
        run_until(&p, &g.n, 4);
        ASSERT_EQ(g.r, -EBUSY);
        ASSERT_STREQ(g.error, "StartContainer: Container 'busy' is running.");

        ASSERT_ERROR(p.t.start(p.t.userdata, "", on_done, &g), EINVAL);
        ASSERT_ERROR(p.t.stop(p.t.userdata, NULL, 1, on_done, &g), EINVAL);
}

TEST(list_reads_every_field) {
        _cleanup_(pair_done) Pair p = {};
        _cleanup_(got_done) Got g = {};

        pair_setup(&p, NULL);
        ASSERT_OK(p.t.list(p.t.userdata, "zlayer.deployment", on_list, &g));
        run_until(&p, &g.n, 1);
        ASSERT_NULL(g.error);
        ASSERT_EQ(g.r, 0);
        ASSERT_STREQ(p.fake.label, "zlayer.deployment");
        ASSERT_EQ(g.n_containers, 2U);
        ASSERT_STREQ(g.containers[0].id, ID_A);
        ASSERT_STREQ(g.containers[0].name, "web-0");
        ASSERT_STREQ(g.containers[0].state, "running");
        ASSERT_EQ(g.containers[0].exit_code, -1);
        ASSERT_U64_EQ(g.containers[0].started_usec, 2);
        ASSERT_STREQ(g.containers[0].ip, "10.0.0.2");
        ASSERT_STREQ(json_string_value(json_object_get(g.containers[0].labels, "zlayer.replica")),
                     "0");
        ASSERT_STREQ(g.containers[1].state, "exited");
        ASSERT_EQ(g.containers[1].exit_code, 137);
        ASSERT_U64_EQ(g.containers[1].finished_usec, 3);
        ASSERT_EQ(json_object_size(g.containers[1].labels), 0U);
        ASSERT_STREQ(g.containers[1].ip, "");
}

TEST(exec_and_routes) {
        _cleanup_(pair_done) Pair p = {};
        _cleanup_(got_done) Got g = {};
        const char *argv[] = { "test", "-f", "/tmp/x", NULL };

        pair_setup(&p, NULL);
        ASSERT_OK(p.t.exec(p.t.userdata, ID_A, argv, 1500 * 1000, on_exec, &g));
        run_until(&p, &g.n, 1);
        ASSERT_EQ(g.r, 0);
        ASSERT_EQ(g.exit_code, 3);
        ASSERT_EQ(g.out_len, 7U);
        ASSERT_TRUE(memcmp(g.out, "out\0put", 7) == 0);
        ASSERT_STREQ(g.err, "err");
        ASSERT_EQ(p.fake.exec_timeout, 2U); /* 1.5 s rounded up */
        ASSERT_EQ(strv_length(p.fake.argv), 3U);
        ASSERT_STREQ(p.fake.argv[2], "/tmp/x");
        ASSERT_ERROR(p.t.exec(p.t.userdata, ID_A, (const char *[]){ NULL }, 0, on_exec, &g),
                     EINVAL);

        ASSERT_OK(p.t.set_routes(p.t.userdata, "scheduler", "{\"routes\":[]}", on_done, &g));
        run_until(&p, &g.n, 2);
        ASSERT_EQ(g.r, 0);
        ASSERT_STREQ(p.fake.routes_owner, "scheduler");
        ASSERT_STREQ(p.fake.routes_json, "{\"routes\":[]}");
}

TEST(cancel_and_free_call_nothing_back) {
        _cleanup_(pair_done) Pair p = {};
        _cleanup_(got_done) Got a = {}, b = {}, c = {};

        pair_setup(&p, NULL);
        ASSERT_OK(p.t.start(p.t.userdata, ID_A, on_done, &a));
        ASSERT_OK(p.t.stop(p.t.userdata, ID_A, 1, on_done, &a));
        ASSERT_OK(p.t.start(p.t.userdata, ID_B, on_done, &b));
        ASSERT_EQ(sched_bus_backends_n_pending(p.b), 3U);
        p.t.cancel(p.t.userdata, &a);
        ASSERT_EQ(sched_bus_backends_n_pending(p.b), 1U);
        p.t.cancel(p.t.userdata, &c); /* nothing of c's: no-op */
        run_until(&p, &b.n, 1);
        /* Let the server's work settle: a later call's reply comes after the cancelled ones. */
        ASSERT_OK(p.t.start(p.t.userdata, ID_B, on_done, &b));
        run_until(&p, &b.n, 2);
        ASSERT_EQ(a.n, 0U);
        ASSERT_EQ(p.fake.calls, 4U); /* sent, then forgotten */

        /* Freed with calls in flight: nothing comes back. */
        ASSERT_OK(p.t.start(p.t.userdata, ID_A, on_done, &c));
        p.b = sched_bus_backends_free(p.b);
        for (unsigned i = 0; i < 10; i++)
                ASSERT_OK(sd_event_run(p.event, 10 * 1000));
        ASSERT_EQ(c.n, 0U);
}

/* A done callback that cancels its own caller's other calls. */
typedef struct Nested {
        Pair *pair;
        unsigned n;
} Nested;

static void on_done_cancel(int r, const char *error, void *userdata) {
        Nested *x = userdata;

        x->n++;
        x->pair->t.cancel(x->pair->t.userdata, x);
}

TEST(cancel_from_the_callback) {
        _cleanup_(pair_done) Pair p = {};
        Nested x = { .pair = &p };

        pair_setup(&p, NULL);
        ASSERT_OK(p.t.start(p.t.userdata, ID_A, on_done_cancel, &x));
        ASSERT_OK(p.t.start(p.t.userdata, ID_B, on_done_cancel, &x));
        run_until(&p, &x.n, 1);
        for (unsigned i = 0; i < 10; i++)
                ASSERT_OK(sd_event_run(p.event, 10 * 1000));
        ASSERT_EQ(x.n, 1U);
        ASSERT_EQ(sched_bus_backends_n_pending(p.b), 0U);
}

TEST(container_state_changed_signal) {
        _cleanup_(pair_done) Pair p = {};
        Changed changed = {};

        pair_setup(&p, &changed);
        ASSERT_OK(sd_bus_emit_signal(p.server, SCHED_RUNTIME_PATH, SCHED_RUNTIME_INTERFACE,
                                     "ContainerStateChanged", "ssi", ID_B, "exited", 137));
        run_until(&p, &changed.n, 1);
        ASSERT_STREQ(changed.id, ID_B);
        ASSERT_STREQ(changed.state, "exited");
        ASSERT_EQ(changed.exit_code, 137);
        /* Another interface's signal of that name is not ours. */
        ASSERT_OK(sd_bus_emit_signal(p.server, SCHED_PROXY_PATH, SCHED_PROXY_INTERFACE,
                                     "ContainerStateChanged", "ssi", ID_A, "removed", -1));
        ASSERT_OK(sd_bus_emit_signal(p.server, SCHED_RUNTIME_PATH, SCHED_RUNTIME_INTERFACE,
                                     "ContainerStateChanged", "ssi", ID_A, "removed", -1));
        run_until(&p, &changed.n, 2);
        ASSERT_STREQ(changed.id, ID_A);
        ASSERT_STREQ(changed.state, "removed");
        ASSERT_EQ(changed.n, 2U);
}
