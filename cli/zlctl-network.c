/* SPDX-License-Identifier: Apache-2.0 */
/* zlctl-network.c: `zlctl network status|ls`: the node's subnet, bridge and attachments. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>

#include "log.h"
#include "string-util.h"
#include "table.h"
#include "zlctl-bus.h"
#include "zlctl.h"

#define NETWORK_SERVICE "org.zlayer.Network1"
#define NETWORK_PATH "/org/zlayer/Network1"
#define NETWORK_IFACE "org.zlayer.Network1"
#define NETWORK_CALL_TIMEOUT_USEC (10 * USEC_PER_SEC)

typedef struct Attachment {
        const char *container_id, *netns_path, *host_interface, *ip, *ip6, *mac;
        uint32_t mtu;
} Attachment;

/* Options shared by both commands: --help and --output. Returns 1 to go on, 0 after --help,
 * or minus the exit status of a usage error. */
static int parse_common(const char *command, const char *summary, int argc, char *argv[],
                        bool *ret_json) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "output", required_argument, NULL, 'o' },
                {},
        };
        int c;

        *ret_json = false;
        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":ho:", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        printf("%s network %s [OPTIONS...]\n\n%s\n\n"
                               "Options:\n"
                               "  -h --help              Show this help\n"
                               "  -o --output=FORMAT     table (default) or json\n"
                               "\nExit status: 0 success, 1 failure, 2 usage error.\n",
                               program_name, command, summary);
                        return 0;
                case 'o':
                        if (streq(optarg, "json"))
                                *ret_json = true;
                        else if (!streq(optarg, "table"))
                                return -usage_error(command,
                                                    "invalid --output '%s'; expected table or json",
                                                    optarg);
                        break;
                default:
                        return -zlctl_getopt_failure(command, c, argv);
                }
        if (optind < argc)
                return -usage_error(command, "unexpected argument '%s'", argv[optind]);
        return 1;
}

/* ListAttachments: the reply (which the strings in *ret point into) and the rows. */
static int list_attachments(sd_bus *bus, sd_bus_message **ret_reply, Attachment **ret,
                            size_t *ret_n) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ Attachment *a = NULL;
        size_t n = 0;
        int r;

        r = sd_bus_call_method(bus, NETWORK_SERVICE, NETWORK_PATH, NETWORK_IFACE, "ListAttachments",
                               &e, &reply, "");
        if (r < 0)
                return zlctl_log_call_error(r, &e, "list the attachments");
        r = sd_bus_message_enter_container(reply, 'a', "(ssssssu)");
        while (r >= 0) {
                Attachment x;
                Attachment *grown;

                r = sd_bus_message_read(reply, "(ssssssu)", &x.container_id, &x.netns_path,
                                        &x.host_interface, &x.ip, &x.ip6, &x.mac, &x.mtu);
                if (r <= 0)
                        break;
                grown = realloc(a, (n + 1) * sizeof(Attachment));
                if (!grown)
                        return log_oom();
                a = grown;
                a[n++] = x;
        }
        if (r < 0)
                return log_error_errno(r, "Failed to parse the attachments: %m");
        *ret_reply = TAKE_PTR(reply);
        *ret = TAKE_PTR(a);
        *ret_n = n;
        return 0;
}

static json_t *attachments_to_json(const Attachment *a, size_t n) {
        _cleanup_(json_decrefp) json_t *arr = json_array();

        if (!arr)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s, s:i}", "container_id",
                                      a[i].container_id, "netns_path", a[i].netns_path,
                                      "host_interface", a[i].host_interface, "ip", a[i].ip, "ip6",
                                      isempty(a[i].ip6) ? NULL : a[i].ip6, "mac", a[i].mac, "mtu",
                                      (json_int_t) a[i].mtu);
                if (!o || json_array_append_new(arr, o) < 0)
                        return NULL;
        }
        return TAKE_PTR(arr);
}

static int verb_network_ls(int argc, char *argv[]) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ Attachment *a = NULL;
        _cleanup_(table_freep) Table *t = NULL;
        size_t n = 0;
        bool json;
        int r;

        r = parse_common("ls",
                         "List the containers attached to the node's network: address, "
                         "MAC,\nMTU, host interface and network namespace.",
                         argc, argv, &json);
        if (r <= 0)
                return -r;
        if (zlctl_bus_open(&bus, NULL) < 0)
                return ZLCTL_EXIT_FAILURE;
        if (list_attachments(bus, &reply, &a, &n) < 0)
                return ZLCTL_EXIT_FAILURE;

        if (json) {
                _cleanup_(json_decrefp) json_t *arr = attachments_to_json(a, n);
                if (!arr)
                        return log_oom(), ZLCTL_EXIT_FAILURE;
                return zlctl_print_json(arr) < 0 ? ZLCTL_EXIT_FAILURE : ZLCTL_EXIT_OK;
        }
        t = table_new("CONTAINER", "IP", "IP6", "MAC", "MTU", "INTERFACE", "NETNS");
        if (!t)
                return log_oom(), ZLCTL_EXIT_FAILURE;
        for (size_t i = 0; i < n; i++) {
                char mtu[16];

                snprintf(mtu, sizeof mtu, "%u", a[i].mtu);
                if (table_add_row(t, a[i].container_id, a[i].ip,
                                  isempty(a[i].ip6) ? NULL : a[i].ip6, a[i].mac, mtu,
                                  a[i].host_interface, a[i].netns_path) < 0)
                        return log_oom(), ZLCTL_EXIT_FAILURE;
        }
        if (table_print(t, stdout) < 0)
                return ZLCTL_EXIT_FAILURE;
        return ZLCTL_EXIT_OK;
}

static int get_string_property(sd_bus *bus, const char *name, char **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error e = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_get_property_string(bus, NETWORK_SERVICE, NETWORK_PATH, NETWORK_IFACE, name, &e,
                                       ret);
        if (r < 0) {
                _cleanup_free_ char *what = strjoin("read ", name);
                return zlctl_log_call_error(r, &e, what ?: name);
        }
        return 0;
}

static int verb_network_status(int argc, char *argv[]) {
        static const char *const names[] = { "ClusterCidr", "NodeSubnet", "NodeSubnet6", "Gateway",
                                             "Bridge" };
        static const char *const keys[] = { "cluster_cidr", "node_subnet", "node_subnet6",
                                            "gateway", "bridge" };
        static const char *const labels[] = { "Cluster CIDR", "Node subnet", "Node subnet6",
                                              "Gateway", "Bridge" };
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_free_ Attachment *a = NULL;
        char *values[ELEMENTSOF(names)] = {};
        size_t n = 0;
        bool json;
        int r, ret = ZLCTL_EXIT_FAILURE;

        r = parse_common("status",
                         "Show the node's network: cluster CIDR, node subnet, gateway,\n"
                         "bridge and how many containers are attached.",
                         argc, argv, &json);
        if (r <= 0)
                return -r;
        if (zlctl_bus_open(&bus, NULL) < 0)
                return ZLCTL_EXIT_FAILURE;
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (get_string_property(bus, names[i], &values[i]) < 0)
                        goto finish;
        if (list_attachments(bus, &reply, &a, &n) < 0)
                goto finish;

        if (json) {
                _cleanup_(json_decrefp) json_t *root = json_object();
                json_t *arr = attachments_to_json(a, n);

                if (!root || !arr || json_object_set_new(root, "attachments", arr) < 0)
                        goto oom;
                for (size_t i = 0; i < ELEMENTSOF(names); i++)
                        if (json_object_set_new(root, keys[i],
                                                isempty(values[i]) ? json_null()
                                                                   : json_string(values[i])) < 0)
                                goto oom;
                if (zlctl_print_json(root) < 0)
                        goto finish;
        } else {
                for (size_t i = 0; i < ELEMENTSOF(names); i++)
                        if (!isempty(values[i]) || !streq(names[i], "NodeSubnet6"))
                                printf("%-14s %s\n", labels[i], values[i]);
                printf("%-14s %zu\n", "Attached", n);
        }
        ret = ZLCTL_EXIT_OK;
        goto finish;
oom:
        log_oom();
finish:
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                free(values[i]);
        return ret;
}

static const Verb network_verbs[] = {
        { "status", verb_network_status, "Show the node's subnet, gateway and bridge" },
        { "ls", verb_network_ls, "List the attached containers" },
        {},
};

int verb_network(int argc, char *argv[]) {
        return dispatch_verb("network", network_verbs, argc - 1, argv + 1);
}
