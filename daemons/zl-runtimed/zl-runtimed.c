/* SPDX-License-Identifier: Apache-2.0 */
/* zl-runtimed.c: main of the runtime daemon, org.zlayer.Runtime1; only its descriptor. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "log.h"
#include "runtime-bus.h"
#include "runtime-images.h"
#include "runtime-network.h"

static int runtime_init(ZlDaemon *d, void **ret_userdata) {
        _cleanup_free_ Runtime *rt = NULL;
        Images *images = NULL;
        sigset_t mask;
        int r;

        /* sd-event watches exec'd commands and log readers as child sources, which need
         * SIGCHLD blocked; the engine resets the mask in every process it starts. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(errno, "Failed to block SIGCHLD: %m");

        rt = calloc(1, sizeof(Runtime));
        if (!rt)
                return log_oom();
        rt->daemon = d;
        r = manager_new(zl_daemon_get_event(d), zl_daemon_get_state_dir(d), &runtime_bus_callbacks,
                        rt, &rt->manager);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the container manager: %m");
        /* "private" containers are attached through zl-netd, over our own connection. */
        manager_set_network_backend(rt->manager, &runtime_network_bus_backend,
                                    zl_daemon_get_bus(d));
        r = manager_load(rt->manager);
        if (r < 0) {
                manager_free(rt->manager);
                return log_error_errno(r, "Failed to load the containers: %m");
        }
        log_info("%zu container(s) known.", manager_get_n_containers(rt->manager));
        /* After the containers: the store keeps what they use and forgets what they used. */
        r = images_new(rt->manager, zl_daemon_get_state_dir(d), &runtime_images_bus_callbacks, rt,
                       &images);
        if (r < 0) {
                manager_free(rt->manager);
                return log_error_errno(r, "Failed to open the image store: %m");
        }
        *ret_userdata = TAKE_PTR(rt);
        return 0;
}

static void runtime_done(ZlDaemon *d, void *userdata) {
        Runtime *rt = userdata;

        (void) d;
        if (!rt)
                return;
        /* The containers keep running under their monitors; pulls do not outlive us. */
        images_free(manager_get_images(rt->manager));
        manager_free(rt->manager);
        free(rt);
}

static int counter_put(void *set, const char *name, double value) {
        return zl_counter_set_put(set, name, value);
}

static int runtime_counters(ZlDaemon *d, void *userdata, ZlCounterSet *set) {
        Runtime *rt = userdata;

        (void) d;
        return manager_counters(rt->manager, counter_put, set);
}

static const ZlBusObject *const runtime_objects[] = {
        &runtime_bus_object,
        &runtime_container_bus_object,
        &runtime_job_bus_object,
        NULL,
};

static const ZlDaemonDescriptor descriptor = {
        .info = &zl_daemon_list[ZL_DAEMON_RUNTIMED],
        .objects = runtime_objects,
        .init = runtime_init,
        .done = runtime_done,
        .counters = runtime_counters,
};

int main(int argc, char *argv[]) {
        /* A pull, push or import started by the daemon: a process of its own (runtime-images.c). */
        if (argc == 2 && strcmp(argv[1], IMAGE_JOB_ARG) == 0)
                return images_job_main();
        return zl_daemon_main(&descriptor, argc, argv);
}
