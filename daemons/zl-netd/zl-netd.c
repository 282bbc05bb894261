/* SPDX-License-Identifier: Apache-2.0 */
/* zl-netd.c: main of the network daemon, org.zlayer.Network1; only its descriptor. */
#include <errno.h>
#include <stdlib.h>

#include "daemon.h"
#include "log.h"
#include "netd-bus.h"
#include "netd-manager.h"
#include "string-util.h"

/* The configuration: $ZLAYER_NETD_CONFIG (which must exist), else /etc/zlayer/netd.conf if it
 * exists, else the defaults. */
static int netd_load_config(ManagerConfig *c) {
        _cleanup_free_ char *why = NULL;
        const char *path = getenv("ZLAYER_NETD_CONFIG");
        bool explicit = !isempty(path);
        int r;

        r = manager_config_init(c);
        if (r < 0)
                return log_oom();
        if (!explicit)
                path = NETD_CONFIG_PATH_DEFAULT;
        r = manager_config_load(c, path, &why);
        if (r == -ENOENT && !explicit) {
                log_debug("No '%s', using the defaults.", path);
                return 0;
        }
        if (r < 0) {
                manager_config_done(c);
                if (why)
                        return log_error_errno(r, "Invalid configuration: %s", why);
                return log_error_errno(r, "Failed to read the configuration '%s': %m", path);
        }
        log_debug("Read the configuration '%s'.", path);
        return 0;
}

static int network_init(ZlDaemon *d, void **ret_userdata) {
        _cleanup_free_ Network *nw = NULL;
        _cleanup_free_ char *why = NULL;
        ManagerConfig c;
        int r;

        r = netd_load_config(&c);
        if (r < 0)
                return r;
        nw = calloc(1, sizeof(Network));
        if (!nw) {
                manager_config_done(&c);
                return log_oom();
        }
        nw->daemon = d;
        r = manager_new(&c, zl_daemon_get_state_dir(d), zl_daemon_get_runtime_dir(d),
                        &netd_link_real_ops, &nw->manager);
        if (r == -EBUSY)
                return log_error_errno(r, "The address store holds addresses of another node "
                                          "subnet: the cluster CIDR or node index changed while "
                                          "containers were attached.");
        if (r < 0)
                return log_error_errno(r, "Failed to open the network store: %m");
        r = manager_start(nw->manager, &why);
        if (r < 0) {
                nw->manager = manager_free(nw->manager);
                return log_error_errno(r, "Failed to reconcile the node's network%s%s: %m",
                                       why ? ": " : "", strempty(why));
        }
        log_info("Node subnet on bridge '%s'; sweep: %u kept, %u unfinished undone, %u vanished, "
                 "%u orphan link(s) and %u orphan address(es) removed.",
                 netd_bridge(nw->manager->netd), nw->manager->sweep.kept,
                 nw->manager->sweep.unfinished, nw->manager->sweep.vanished,
                 nw->manager->sweep.orphan_links, nw->manager->sweep.orphan_addresses);
        *ret_userdata = TAKE_PTR(nw);
        return 0;
}

static void network_done(ZlDaemon *d, void *userdata) {
        Network *nw = userdata;

        (void) d;
        if (!nw)
                return;
        /* Bridge, veths and table stay: the containers keep their network while we are away. */
        manager_free(nw->manager);
        free(nw);
}

static int network_counters(ZlDaemon *d, void *userdata, ZlCounterSet *set) {
        Network *nw = userdata;
        Manager *m = nw->manager;
        NetdAttachment **all = NULL;
        size_t n = 0;
        int r;

        (void) d;
        r = netd_list(m->netd, &all, &n);
        if (r < 0)
                return r;
        netd_attachment_array_free(all, n);
        const struct {
                const char *name;
                double value;
        } counters[] = {
                { "attachments", (double) n },
                { "attach_total", (double) m->n_attach },
                { "attach_failures_total", (double) m->n_attach_failed },
                { "detach_total", (double) m->n_detach },
                { "addresses_capacity", (double) ipam_capacity(netd_ipam(m->netd), AF_INET) },
                { "sweep_orphan_links", (double) m->sweep.orphan_links },
                { "sweep_orphan_addresses", (double) m->sweep.orphan_addresses },
                { "sweep_unfinished", (double) m->sweep.unfinished },
                { "sweep_vanished", (double) m->sweep.vanished },
        };
        for (size_t i = 0; i < ELEMENTSOF(counters); i++) {
                r = zl_counter_set_put(set, counters[i].name, counters[i].value);
                if (r < 0)
                        return r;
        }
        return 0;
}

static const ZlBusObject *const network_objects[] = {
        &network_bus_object,
        NULL,
};

static const ZlDaemonDescriptor descriptor = {
        .info = &zl_daemon_list[ZL_DAEMON_NETD],
        .objects = network_objects,
        .init = network_init,
        .done = network_done,
        .counters = network_counters,
};

int main(int argc, char *argv[]) {
        return zl_daemon_main(&descriptor, argc, argv);
}
