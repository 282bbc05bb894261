/* SPDX-License-Identifier: Apache-2.0 */
/* test-runtime-network.c: network modes and files, and the manager with a fake network back end. */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "monitor-client.h"
#include "oci-config.h"
#include "path-util.h"
#include "runtime-internal.h"
#include "runtime-manager.h"
#include "runtime-network.h"
#include "string-util.h"
#include "test-busybox.h"
#include "tests.h"

static char *read_text(const char *path) {
        char *data = NULL;

        ASSERT_OK(read_full_file(path, SIZE_MAX, &data, NULL));
        return data;
}

static char *dir_file(const char *dir, const char *name) {
        char *p = path_join(dir, name);

        ASSERT_NOT_NULL(p);
        return p;
}

TEST(mode_names) {
        ASSERT_STREQ(network_mode_to_string(NETWORK_PRIVATE), "private");
        ASSERT_STREQ(network_mode_to_string(NETWORK_JOINED), "joined");
        ASSERT_NULL(network_mode_to_string(_NETWORK_MODE_MAX));
        ASSERT_NULL(network_mode_to_string(_NETWORK_MODE_INVALID));
        ASSERT_EQ(network_mode_from_string("none"), NETWORK_NONE);
        ASSERT_EQ(network_mode_from_string("host"), NETWORK_HOST);
        ASSERT_ERROR(network_mode_from_string("bridge"), EINVAL);
        ASSERT_ERROR(network_mode_from_string(""), EINVAL);
        ASSERT_ERROR(network_mode_from_string(NULL), EINVAL);
}

TEST(parse_prefix) {
        _cleanup_free_ char *a = NULL, *b = NULL;
        char *x = NULL;
        unsigned n = 99;

        ASSERT_OK(network_parse_prefix("10.200.0.2/24", &a, &n));
        ASSERT_STREQ(a, "10.200.0.2");
        ASSERT_EQ(n, 24U);
        ASSERT_OK(network_parse_prefix("fd00:200::2/64", &b, &n));
        ASSERT_STREQ(b, "fd00:200::2");
        ASSERT_EQ(n, 64U);

        static const char *const bad[] = {
                "",
                "10.200.0.2",
                "10.200.0.2/",
                "10.200.0.2/33",
                "10.200.0.2/-1",
                "10.200.0/24",
                "fd00::1/129",
                "x/24",
                "10.200.0.2/2a",
                "/24",
                "10.200.0.2/+4",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                ASSERT_ERROR(network_parse_prefix(bad[i], &x, &n), EINVAL);
        ASSERT_ERROR(network_parse_prefix(NULL, &x, &n), EINVAL);
        /* Outputs are untouched on failure. */
        ASSERT_NULL(x);
        ASSERT_EQ(n, 64U);
}

static char *default_config(const char *option) {
        _cleanup_(container_options_done) ContainerOptions o = CONTAINER_OPTIONS_INIT;
        _cleanup_(container_config_done) ContainerConfig cfg = {};
        _cleanup_free_ char *error = NULL;

        o.rootfs = strdup(test_tmpdir());
        o.hostname = strdup("web-1");
        ASSERT_NOT_NULL(o.rootfs);
        if (option) {
                o.network = strdup(option);
                ASSERT_NOT_NULL(o.network);
        }
        ASSERT_OK(container_config_build(NULL, &o, &cfg, &error));
        return TAKE_PTR(cfg.json);
}

TEST(mode_of_config) {
        _cleanup_free_ char *def = default_config(NULL), *none = default_config("none"),
                            *host = default_config("host"), *priv = default_config("private"),
                            *hostname = NULL;
        NetworkMode m = _NETWORK_MODE_INVALID;

        /* ZLayer's default config has a network namespace of its own: private. */
        ASSERT_OK(network_mode_of_config(NULL, def, &m, &hostname));
        ASSERT_EQ(m, NETWORK_PRIVATE);
        ASSERT_STREQ(hostname, "web-1");
        ASSERT_OK(network_mode_of_config("private", priv, &m, NULL));
        ASSERT_EQ(m, NETWORK_PRIVATE);
        ASSERT_OK(network_mode_of_config("none", none, &m, NULL));
        ASSERT_EQ(m, NETWORK_NONE);
        ASSERT_OK(network_mode_of_config("host", host, &m, NULL));
        ASSERT_EQ(m, NETWORK_HOST);
        /* Without the option, the config alone says it. */
        ASSERT_OK(network_mode_of_config(NULL, host, &m, NULL));
        ASSERT_EQ(m, NETWORK_HOST);
        ASSERT_OK(network_mode_of_config(NULL, none, &m, NULL));
        ASSERT_EQ(m, NETWORK_PRIVATE);

        hostname = mfree(hostname);
        ASSERT_OK(network_mode_of_config(
                NULL,
                "{\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"network\","
                "\"path\":\"/run/netns/x\"}]}}",
                &m, &hostname));
        ASSERT_EQ(m, NETWORK_JOINED);
        ASSERT_NULL(hostname);
        ASSERT_OK(network_mode_of_config(NULL, "{}", &m, NULL));
        ASSERT_EQ(m, NETWORK_HOST);

        ASSERT_ERROR(network_mode_of_config("bridge", def, &m, NULL), EINVAL);
        ASSERT_ERROR(network_mode_of_config("joined", def, &m, NULL), EINVAL);
        ASSERT_ERROR(network_mode_of_config(NULL, "[1]", &m, NULL), EBADMSG);
        ASSERT_ERROR(network_mode_of_config(NULL, "{", &m, NULL), EBADMSG);
}

TEST(files_prepare_and_fill) {
        const char *dir = test_tmpdir();
        _cleanup_free_ char *etc = dir_file(dir, "host-etc"), *cdir = dir_file(dir, "c"),
                            *hosts = NULL, *resolv = NULL, *src_hosts = NULL, *src_resolv = NULL,
                            *text = NULL;
        struct stat before, after;

        ASSERT_OK(mkdir_p(etc, 0755));
        ASSERT_OK(mkdir_p(cdir, 0700));

        /* none and joined: nothing. */
        ASSERT_EQ(network_files_prepare(cdir, NETWORK_NONE, etc, &hosts, &resolv), 0);
        ASSERT_NULL(hosts);
        ASSERT_NULL(resolv);
        ASSERT_EQ(network_files_prepare(cdir, NETWORK_JOINED, etc, &hosts, &resolv), 0);

        /* host: copies of the host's files; a missing one is empty. */
        src_hosts = dir_file(etc, "hosts");
        ASSERT_OK(write_string_file_atomic(src_hosts, "127.0.0.1 localhost node\n", 0644));
        ASSERT_EQ(network_files_prepare(cdir, NETWORK_HOST, etc, &hosts, &resolv), 1);
        text = read_text(hosts);
        ASSERT_STREQ(text, "127.0.0.1 localhost node\n");
        text = mfree(text);
        text = read_text(resolv);
        ASSERT_STREQ(text, "");
        text = mfree(text);
        ASSERT_OK(stat(hosts, &before));
        ASSERT_EQ(before.st_mode & 07777, 0644U);

        /* private: empty files, filled in place later. */
        hosts = mfree(hosts);
        resolv = mfree(resolv);
        ASSERT_EQ(network_files_prepare(cdir, NETWORK_PRIVATE, etc, &hosts, &resolv), 1);
        text = read_text(hosts);
        ASSERT_STREQ(text, "");
        text = mfree(text);
        ASSERT_OK(stat(hosts, &before));

        src_resolv = dir_file(etc, "resolv.conf");
        ASSERT_OK(write_string_file_atomic(src_resolv, "nameserver 10.9.9.9\n", 0644));
        NetworkInfo info = { .hosts = src_hosts, .resolv_conf = src_resolv };
        ASSERT_OK(network_files_fill(cdir, &info));
        ASSERT_OK(stat(hosts, &after));
        /* Same inode: a bind mount of the file shows the new contents. */
        ASSERT_EQ(before.st_ino, after.st_ino);
        text = read_text(hosts);
        ASSERT_STREQ(text, "127.0.0.1 localhost node\n");
        text = mfree(text);
        text = read_text(resolv);
        ASSERT_STREQ(text, "nameserver 10.9.9.9\n");
        text = mfree(text);

        /* Shorter contents truncate. */
        ASSERT_OK(write_string_file_atomic(src_hosts, "x\n", 0644));
        ASSERT_OK(network_files_fill(cdir, &info));
        text = read_text(hosts);
        ASSERT_STREQ(text, "x\n");

        /* A back end file that is gone is an error. */
        NetworkInfo gone = { .hosts = (char *) "/nonexistent/hosts" };
        ASSERT_ERROR(network_files_fill(cdir, &gone), ENOENT);
}

TEST(state_save_load) {
        _cleanup_free_ char *dir = dir_file(test_tmpdir(), "state"), *path = NULL;
        _cleanup_(network_info_done) NetworkInfo info = {}, loaded = {};
        NetworkMode m = _NETWORK_MODE_INVALID;

        ASSERT_OK(mkdir_p(dir, 0700));
        ASSERT_ERROR(network_state_load(dir, &m, &loaded), ENOENT);

        ASSERT_OK(network_state_save(dir, NETWORK_NONE, NULL));
        ASSERT_OK(network_state_load(dir, &m, &loaded));
        ASSERT_EQ(m, NETWORK_NONE);
        ASSERT_NULL(loaded.address);

        info.address = strdup("10.200.0.7");
        info.prefix_length = 24;
        info.gateway = strdup("10.200.0.1");
        info.mac = strdup("02:00:00:00:00:07");
        info.address6 = strdup("fd00::7");
        info.prefix_length6 = 64;
        info.hosts = strdup("/not/kept");
        ASSERT_OK(network_state_save(dir, NETWORK_PRIVATE, &info));
        ASSERT_OK(network_state_load(dir, &m, &loaded));
        ASSERT_EQ(m, NETWORK_PRIVATE);
        ASSERT_STREQ(loaded.address, "10.200.0.7");
        ASSERT_EQ(loaded.prefix_length, 24U);
        ASSERT_STREQ(loaded.gateway, "10.200.0.1");
        ASSERT_STREQ(loaded.mac, "02:00:00:00:00:07");
        ASSERT_STREQ(loaded.address6, "fd00::7");
        ASSERT_EQ(loaded.prefix_length6, 64U);
        ASSERT_NULL(loaded.hosts);

        ASSERT_ERROR(network_state_save(dir, _NETWORK_MODE_INVALID, NULL), EINVAL);

        path = dir_file(dir, NETWORK_STATE_FILE);
        static const char *const bad[] = {
                "{",
                "{}",
                "{\"mode\":\"bridge\"}",
                "{\"mode\":\"private\",\"prefix_length\":33}",
                "{\"mode\":\"private\",\"address\":7}",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                ASSERT_OK(write_string_file_atomic(path, bad[i], 0600));
                ASSERT_ERROR(network_state_load(dir, &m, &loaded), EBADMSG);
        }
}

TEST(config_mounts) {
        _cleanup_free_ char *error = NULL;
        _cleanup_(json_decrefp) json_t *j = NULL;
        ContainerConfig cfg = { .json = default_config(NULL) };
        size_t i, found = 0;
        json_t *v;

        ASSERT_OK(container_config_add_network_files(&cfg, "/s/hosts", "/s/resolv.conf", &error));
        j = json_loads(cfg.json, 0, NULL);
        ASSERT_NOT_NULL(j);
        json_array_foreach (json_object_get(j, "mounts"), i, v) {
                const char *d = json_string_value(json_object_get(v, "destination"));

                if (streq(d, "/etc/hosts")) {
                        ASSERT_STREQ(json_string_value(json_object_get(v, "source")), "/s/hosts");
                        ASSERT_STREQ(json_string_value(json_object_get(v, "type")), "bind");
                        ASSERT_STREQ(
                                json_string_value(json_array_get(json_object_get(v, "options"), 1)),
                                "ro");
                        found++;
                } else if (streq(d, "/etc/resolv.conf")) {
                        ASSERT_STREQ(json_string_value(json_object_get(v, "source")),
                                     "/s/resolv.conf");
                        found++;
                }
        }
        ASSERT_EQ(found, 2U);

        /* Again: the config mounts them already, nothing is added twice. */
        size_t n = json_array_size(json_object_get(j, "mounts"));
        ASSERT_OK(container_config_add_network_files(&cfg, "/t/hosts", "/t/resolv.conf", &error));
        json_decref(j);
        j = json_loads(cfg.json, 0, NULL);
        ASSERT_EQ(json_array_size(json_object_get(j, "mounts")), n);
        container_config_done(&cfg);

        /* Only one of them. */
        cfg = (ContainerConfig){ .json = default_config(NULL) };
        ASSERT_OK(container_config_add_network_files(&cfg, NULL, "/s/resolv.conf", &error));
        ASSERT_NULL(strstr(cfg.json, "/etc/hosts"));
        ASSERT_NOT_NULL(strstr(cfg.json, "/etc/resolv.conf"));
        container_config_done(&cfg);

        /* A config whose mounts are not an array. */
        cfg = (ContainerConfig){ .json = strdup("{\"mounts\":{}}") };
        ASSERT_ERROR(container_config_add_network_files(&cfg, "/s/hosts", NULL, &error), EBADMSG);
        ASSERT_STREQ(error, "mounts: not an array");
        container_config_done(&cfg);
}

/* ---- the manager with real containers and a fake back end ---------------------------------- */

typedef struct Fake {
        int attach_result; /* < 0: fail with it */
        int detach_result;
        unsigned n_attach, n_detach;
        char *last_id, *last_netns, *last_hostname;
        char *detached_id;
        bool netns_was_private; /* the namespace at netns_path was not ours */
        char *hosts, *resolv; /* the back end's files */
} Fake;

static int fake_attach(void *userdata, const char *id, const char *netns_path, const char *hostname,
                       uint32_t mtu, NetworkInfo *ret, char **ret_error) {
        Fake *f = userdata;
        struct stat ours, theirs;

        ASSERT_EQ(mtu, 0U);
        f->n_attach++;
        free(f->last_id);
        free(f->last_netns);
        free(f->last_hostname);
        f->last_id = strdup(id);
        f->last_netns = strdup(netns_path);
        f->last_hostname = hostname ? strdup(hostname) : NULL;
        f->netns_was_private = stat("/proc/self/ns/net", &ours) >= 0 &&
                               stat(netns_path, &theirs) >= 0 && ours.st_ino != theirs.st_ino;
        if (f->attach_result < 0) {
                *ret_error = strdup("the fake says no");
                return f->attach_result;
        }
        *ret = (NetworkInfo){
                .address = strdup("10.77.0.2"),
                .prefix_length = 24,
                .gateway = strdup("10.77.0.1"),
                .mac = strdup("02:42:0a:4d:00:02"),
                .hosts = strdup(f->hosts),
                .resolv_conf = strdup(f->resolv),
        };
        return 0;
}

static int fake_detach(void *userdata, const char *id, char **ret_error) {
        Fake *f = userdata;

        f->n_detach++;
        free(f->detached_id);
        f->detached_id = strdup(id);
        if (f->detach_result < 0) {
                *ret_error = strdup("the fake cannot detach");
                return f->detach_result;
        }
        return 0;
}

static const NetworkBackend fake_backend = {
        .attach = fake_attach,
        .detach = fake_detach,
};

static void fake_done(Fake *f) {
        free(f->last_id);
        free(f->last_netns);
        free(f->last_hostname);
        free(f->detached_id);
        free(f->hosts);
        free(f->resolv);
}

typedef struct World {
        sd_event *event;
        Manager *manager;
        char *state, *rootfs;
        Fake fake;
} World;

static void world_setup(World *w) {
        int r;

        if (geteuid() != 0)
                test_skip("containers need root");
        *w = (World){};
        w->rootfs = dir_file(test_tmpdir(), "rootfs");
        r = test_busybox_rootfs(w->rootfs);
        if (r == -ENOENT)
                test_skip("/bin/busybox missing: run scripts/setup (busybox-static)");
        ASSERT_OK(r);
        w->state = dir_file(test_tmpdir(), "state");
        w->fake.hosts = dir_file(test_tmpdir(), "netd-hosts");
        w->fake.resolv = dir_file(test_tmpdir(), "netd-resolv");
        ASSERT_OK(write_string_file_atomic(w->fake.hosts, "127.0.0.1 localhost\n10.77.0.2 web\n",
                                           0644));
        ASSERT_OK(write_string_file_atomic(w->fake.resolv, "nameserver 10.9.9.9\n", 0644));
        ASSERT_OK(sd_event_new(&w->event));
        ASSERT_OK(manager_new(w->event, w->state, NULL, NULL, &w->manager));
        manager_set_network_backend(w->manager, &fake_backend, &w->fake);
}

static void world_done(World *w) {
        manager_free(w->manager);
        sd_event_unref(w->event);
        free(w->state);
        free(w->rootfs);
        fake_done(&w->fake);
}

static void on_done(int r, const char *error, void *userdata) {
        int *result = userdata;

        (void) error;
        *result = r;
}

/* Removes c, running the loop until the removal completes. */
static void remove_container(World *w, Container *c) {
        int result = 1, r;

        r = manager_remove(w->manager, c, true, on_done, &result, NULL);
        ASSERT_OK(r);
        if (r == 1)
                return;
        for (unsigned i = 0; result == 1 && i < 1000; i++)
                ASSERT_OK(sd_event_run(w->event, 10 * USEC_PER_MSEC));
        ASSERT_EQ(result, 0);
}

static int create_cmd(World *w, const char *name, const char *network, const char *cmd,
                      Container **ret, char **ret_error) {
        _cleanup_(container_options_done) ContainerOptions o = CONTAINER_OPTIONS_INIT;

        o.rootfs = strdup(w->rootfs);
        o.seccomp = strdup("unconfined");
        o.args = NULL;
        ASSERT_OK(strv_extend(&o.args, "/bin/sh"));
        ASSERT_OK(strv_extend(&o.args, "-c"));
        ASSERT_OK(strv_extend(&o.args, cmd));
        if (network)
                o.network = strdup(network);
        return manager_create(w->manager, name, NULL, &o, ret, ret_error);
}

static int create(World *w, const char *name, const char *network, Container **ret,
                  char **ret_error) {
        return create_cmd(w, name, network, "sleep 60", ret, ret_error);
}

/* Starts c and runs the loop until it has exited. */
static void run_to_exit(World *w, Container *c) {
        int result = 1, r;

        r = manager_start(w->manager, c, on_done, &result, NULL);
        ASSERT_OK(r);
        for (unsigned i = 0; (result == 1 || c->state != CONTAINER_EXITED) && i < 1000; i++)
                ASSERT_OK(sd_event_run(w->event, 10 * USEC_PER_MSEC));
        ASSERT_EQ(result, 0);
        ASSERT_EQ((int) c->state, (int) CONTAINER_EXITED);
}

static size_t n_container_dirs(World *w) {
        _cleanup_free_ char *p = dir_file(w->state, "containers");
        _cleanup_(closedirp) DIR *d = opendir(p);
        struct dirent *de;
        size_t n = 0;

        ASSERT_NOT_NULL(d);
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        n++;
        return n;
}

/* The container's view of one of its files, through its init's root. */
static char *container_file(Container *c, const char *path) {
        _cleanup_free_ char *root = NULL, *p = NULL;
        MonitorStatus s = MONITOR_STATUS_INIT;
        char *data = NULL;

        ASSERT_OK(monitor_status_read(c->dir, &s));
        ASSERT_GT(s.pid, 0);
        ASSERT_OK(asprintf(&root, "/proc/%d/root", (int) s.pid));
        monitor_status_done(&s);
        p = path_join(root, path);
        ASSERT_OK(read_full_file(p, SIZE_MAX, &data, NULL));
        return data;
}

TEST(manager_private_attach_and_detach) {
        _cleanup_(world_done) World w = {};
        _cleanup_free_ char *error = NULL, *text = NULL, *json = NULL, *id = NULL;
        _cleanup_(json_decrefp) json_t *j = NULL;
        Container *c = NULL;

        world_setup(&w);
        ASSERT_OK(create(&w, "web", NULL, &c, &error));
        ASSERT_EQ(w.fake.n_attach, 1U);
        ASSERT_STREQ(w.fake.last_id, c->id);
        ASSERT_STREQ(w.fake.last_hostname, "web");
        ASSERT_TRUE(w.fake.netns_was_private);
        ASSERT_TRUE(startswith(w.fake.last_netns, "/proc/") != NULL);
        ASSERT_TRUE(endswith(w.fake.last_netns, "/ns/net") != NULL);
        ASSERT_EQ(c->network, NETWORK_PRIVATE);
        ASSERT_STREQ(c->net.address, "10.77.0.2");
        ASSERT_EQ(c->net.prefix_length, 24U);
        ASSERT_STREQ(c->net.gateway, "10.77.0.1");
        ASSERT_STREQ(c->net.mac, "02:42:0a:4d:00:02");
        ASSERT_NULL(c->net.hosts);

        /* The container sees the back end's files on its /etc, read-only bind mounts. */
        text = container_file(c, "etc/hosts");
        ASSERT_STREQ(text, "127.0.0.1 localhost\n10.77.0.2 web\n");
        text = mfree(text);
        text = container_file(c, "etc/resolv.conf");
        ASSERT_STREQ(text, "nameserver 10.9.9.9\n");
        text = mfree(text);

        ASSERT_OK(container_inspect(c, &json));
        j = json_loads(json, 0, NULL);
        ASSERT_NOT_NULL(j);
        ASSERT_STREQ(json_string_value(json_object_get(json_object_get(j, "network"), "mode")),
                     "private");
        ASSERT_STREQ(
                json_string_value(json_object_get(json_object_get(j, "network"), "ip_address")),
                "10.77.0.2");
        ASSERT_EQ(json_integer_value(
                          json_object_get(json_object_get(j, "network"), "ip_prefix_length")),
                  24);

        /* Removal detaches; NotFound from the back end is fine. */
        id = strdup(c->id);
        w.fake.detach_result = -ENOENT;
        remove_container(&w, c);
        ASSERT_EQ(w.fake.n_detach, 1U);
        ASSERT_STREQ(w.fake.detached_id, id);
        ASSERT_EQ(manager_get_n_containers(w.manager), 0U);
        ASSERT_EQ(n_container_dirs(&w), 0U);
}

TEST(manager_attach_failure_leaves_nothing) {
        _cleanup_(world_done) World w = {};
        _cleanup_free_ char *error = NULL;
        Container *c = NULL;

        world_setup(&w);
        /* The back end is not there: the error says so, nothing is left, no detach. */
        w.fake.attach_result = -EHOSTUNREACH;
        ASSERT_ERROR(create(&w, "web", "private", &c, &error), EHOSTUNREACH);
        ASSERT_NULL(c);
        ASSERT_STREQ(error, "network: the fake says no");
        ASSERT_EQ(w.fake.n_attach, 1U);
        ASSERT_EQ(w.fake.n_detach, 0U);
        ASSERT_EQ(manager_get_n_containers(w.manager), 0U);
        ASSERT_EQ(n_container_dirs(&w), 0U);

        /* Another failure: whatever the back end may have done is undone. */
        error = mfree(error);
        w.fake.attach_result = -EIO;
        ASSERT_ERROR(create(&w, "web", NULL, &c, &error), EIO);
        ASSERT_EQ(w.fake.n_detach, 1U);
        ASSERT_STREQ(w.fake.detached_id, w.fake.last_id);
        ASSERT_EQ(n_container_dirs(&w), 0U);

        /* The name is free again. */
        error = mfree(error);
        w.fake.attach_result = 0;
        ASSERT_OK(create(&w, "web", NULL, &c, &error));
        remove_container(&w, c);
}

TEST(manager_none_and_host) {
        _cleanup_(world_done) World w = {};
        _cleanup_free_ char *error = NULL, *text = NULL, *host_hosts = NULL, *p = NULL,
                            *json = NULL;
        Container *none = NULL, *host = NULL;

        world_setup(&w);
        ASSERT_OK(create(&w, "quiet", "none", &none, &error));
        ASSERT_OK(create(&w, "hosted", "host", &host, &error));
        ASSERT_EQ(w.fake.n_attach, 0U);
        ASSERT_EQ(none->network, NETWORK_NONE);
        ASSERT_EQ(host->network, NETWORK_HOST);
        ASSERT_NULL(none->net.address);
        ASSERT_NULL(host->net.address);

        /* none: the image's files, nothing bound. */
        p = dir_file(none->dir, NETWORK_HOSTS_FILE);
        ASSERT_TRUE(access(p, F_OK) < 0 && errno == ENOENT);
        /* host: a copy of the host's. */
        if (read_full_file("/etc/hosts", SIZE_MAX, &host_hosts, NULL) < 0)
                host_hosts = strdup("");
        text = container_file(host, "etc/hosts");
        ASSERT_STREQ(text, host_hosts);

        ASSERT_OK(container_inspect(none, &json));
        ASSERT_NOT_NULL(strstr(json, "\"mode\": \"none\""));
        ASSERT_NULL(strstr(json, "ip_address"));

        remove_container(&w, none);
        remove_container(&w, host);
        ASSERT_EQ(w.fake.n_detach, 0U);
        ASSERT_EQ(n_container_dirs(&w), 0U);
}

TEST(manager_readoption_keeps_addresses) {
        _cleanup_(world_done) World w = {};
        _cleanup_free_ char *error = NULL, *id = NULL;
        Container *c = NULL;

        world_setup(&w);
        ASSERT_OK(create(&w, "web", NULL, &c, &error));
        id = strdup(c->id);

        /* zl-runtimed restarts: the container and its monitor stay. */
        w.manager = manager_free(w.manager);
        ASSERT_OK(manager_new(w.event, w.state, NULL, NULL, &w.manager));
        manager_set_network_backend(w.manager, &fake_backend, &w.fake);
        ASSERT_OK(manager_load(w.manager));
        ASSERT_EQ(manager_get_n_containers(w.manager), 1U);
        c = manager_get_by_id(w.manager, id);
        ASSERT_NOT_NULL(c);
        ASSERT_EQ(c->network, NETWORK_PRIVATE);
        ASSERT_STREQ(c->net.address, "10.77.0.2");
        ASSERT_STREQ(c->net.gateway, "10.77.0.1");
        ASSERT_STREQ(c->net.mac, "02:42:0a:4d:00:02");
        ASSERT_EQ(w.fake.n_attach, 1U);

        /* The back end is away at removal: logged, the container goes anyway. The forced
         * removal kills it first: its exit tries to release the address, then removal again. */
        w.fake.detach_result = -EHOSTUNREACH;
        remove_container(&w, c);
        ASSERT_EQ(w.fake.n_detach, 2U);
        ASSERT_EQ(manager_get_n_containers(w.manager), 0U);
        ASSERT_EQ(n_container_dirs(&w), 0U);
}

TEST(manager_without_backend) {
        _cleanup_(world_done) World w = {};
        _cleanup_free_ char *error = NULL, *p = NULL;
        Container *c = NULL;

        world_setup(&w);
        manager_set_network_backend(w.manager, NULL, NULL);
        ASSERT_OK(create(&w, "web", NULL, &c, &error));
        /* Private, loopback only: no files, nobody called. */
        ASSERT_EQ(c->network, NETWORK_PRIVATE);
        ASSERT_NULL(c->net.address);
        p = dir_file(c->dir, NETWORK_HOSTS_FILE);
        ASSERT_TRUE(access(p, F_OK) < 0 && errno == ENOENT);
        remove_container(&w, c);
        ASSERT_EQ(w.fake.n_attach + w.fake.n_detach, 0U);
}

TEST(manager_exit_releases_address) {
        _cleanup_(world_done) World w = {};
        _cleanup_(network_info_done) NetworkInfo saved = {};
        _cleanup_free_ char *error = NULL, *id = NULL;
        NetworkMode m = _NETWORK_MODE_INVALID;
        Container *c = NULL;

        world_setup(&w);
        /* The container's namespace goes when it exits: its address goes back at once. */
        ASSERT_OK(create_cmd(&w, "job", NULL, "exit 3", &c, &error));
        ASSERT_STREQ(c->net.address, "10.77.0.2");
        id = strdup(c->id);
        run_to_exit(&w, c);
        ASSERT_EQ(c->exit_code, 3);
        ASSERT_EQ(w.fake.n_detach, 1U);
        ASSERT_STREQ(w.fake.detached_id, id);
        ASSERT_NULL(c->net.address);
        ASSERT_EQ(c->network, NETWORK_PRIVATE);
        ASSERT_OK(network_state_load(c->dir, &m, &saved));
        ASSERT_EQ(m, NETWORK_PRIVATE);
        ASSERT_NULL(saved.address);
        /* Removal has nothing more to detach. */
        remove_container(&w, c);
        ASSERT_EQ(w.fake.n_detach, 1U);

        /* The back end is away when it exits: the address stays, removal detaches. */
        error = mfree(error);
        ASSERT_OK(create_cmd(&w, "job2", NULL, "exit 0", &c, &error));
        w.fake.detach_result = -EHOSTUNREACH;
        run_to_exit(&w, c);
        ASSERT_EQ(w.fake.n_detach, 2U);
        ASSERT_STREQ(c->net.address, "10.77.0.2");
        w.fake.detach_result = 0;
        remove_container(&w, c);
        ASSERT_EQ(w.fake.n_detach, 3U);
        ASSERT_EQ(n_container_dirs(&w), 0U);
}
