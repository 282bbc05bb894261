/* SPDX-License-Identifier: Apache-2.0 */
/* netd-attach.c: attach and detach over the allocator and the kernel ops, and the sweep. */
#include <inttypes.h>
#include <netinet/ether.h>
#include <stdio.h>
#include <sys/socket.h>

#include "sqlite-util.h"
#include "log.h"
#include "netd-attach.h"
#include "string-util.h"

struct Netd {
        NetdLink *link;
        Ipam *ipam;
        sqlite3 *db;
        char *bridge;
        uint32_t mtu;
        bool firewall;
};

/* One row of the attachments table. mac is empty while the attach is under way: a row like
 * that after a restart is an attach a crash interrupted. */
typedef struct AttachRow {
        char *container_id;
        char *netns_path;
        char host_ifname[16];
        uint32_t mtu;
        char mac[32];
} AttachRow;

static void attach_row_done(AttachRow *r) {
        free(r->container_id);
        free(r->netns_path);
        *r = (AttachRow){};
}

static void attach_rows_free(AttachRow *rows, size_t n) {
        for (size_t i = 0; i < n; i++)
                attach_row_done(&rows[i]);
        free(rows);
}

static const int families[] = { AF_INET, AF_INET6 };

void netd_config_init(NetdConfig *c) {
        *c = (NetdConfig){ .bridge = NETD_BRIDGE_DEFAULT,
                           .mtu = NETD_MTU_DEFAULT,
                           .firewall = true };
        ipam_config_init(&c->ipam);
}

NetdAttachment *netd_attachment_free(NetdAttachment *a) {
        if (!a)
                return NULL;
        free(a->container_id);
        free(a->netns_path);
        return mfree(a);
}

void netd_attachment_array_free(NetdAttachment **a, size_t n) {
        for (size_t i = 0; i < n; i++)
                netd_attachment_free(a[i]);
        free(a);
}

bool netd_container_id_is_valid(const char *s) {
        size_t n;

        if (isempty(s) || s[0] == '.' || s[0] == '-')
                return false;
        n = strlen(s);
        if (n > NETD_CONTAINER_ID_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-",
                            s[i]))
                        return false;
        return true;
}

void netd_host_ifname(const char *container_id, char ret[static 16]) {
        /* FNV-1a: stable across versions and machines, which the sweep relies on. */
        uint64_t h = fnv1a64_string(container_id);

        snprintf(ret, 16, NETD_HOST_IFNAME_PREFIX "%012" PRIx64, h & UINT64_C(0xffffffffffff));
}

static int db_error(sqlite3 *db, int r) {
        log_debug("sqlite: %s", sqlite3_errmsg(db));
        r = sqlite_errno(r);
        return r < 0 ? r : -EIO;
}

static int db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **ret) {
        int r = sqlite3_prepare_v2(db, sql, -1, ret, NULL);
        return r == SQLITE_OK ? 0 : db_error(db, r);
}

static int row_from_stmt(sqlite3_stmt *st, AttachRow *ret) {
        const char *id = (const char *) sqlite3_column_text(st, 0),
                   *netns = (const char *) sqlite3_column_text(st, 1),
                   *ifname = (const char *) sqlite3_column_text(st, 2),
                   *mac = (const char *) sqlite3_column_text(st, 4);
        AttachRow row = {};

        if (!id || !netns || !ifname)
                return -EIO;
        row.container_id = strdup(id);
        row.netns_path = strdup(netns);
        if (!row.container_id || !row.netns_path) {
                attach_row_done(&row);
                return -ENOMEM;
        }
        snprintf(row.host_ifname, sizeof row.host_ifname, "%s", ifname);
        row.mtu = (uint32_t) sqlite3_column_int64(st, 3);
        snprintf(row.mac, sizeof row.mac, "%s", strempty(mac));
        *ret = row;
        return 0;
}

#define ROW_COLUMNS "container_id, netns_path, host_ifname, mtu, mac"

static int store_get(Netd *n, const char *container_id, AttachRow *ret) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int r;

        r = db_prepare(n->db, "SELECT " ROW_COLUMNS " FROM attachments WHERE container_id = ?1",
                       &st);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, container_id, -1, SQLITE_STATIC);
        r = sqlite3_step(st);
        if (r == SQLITE_DONE)
                return -ENOENT;
        if (r != SQLITE_ROW)
                return db_error(n->db, r);
        return row_from_stmt(st, ret);
}

static int store_all(Netd *n, AttachRow **ret, size_t *ret_n) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        AttachRow *rows = NULL;
        size_t k = 0, allocated = 0;
        int r;

        r = db_prepare(n->db, "SELECT " ROW_COLUMNS " FROM attachments ORDER BY container_id", &st);
        if (r < 0)
                return r;
        while ((r = sqlite3_step(st)) == SQLITE_ROW) {
                if (k == allocated) {
                        size_t m = MAX(allocated * 2, (size_t) 8);
                        AttachRow *l = reallocarray(rows, m, sizeof *l);
                        if (!l) {
                                attach_rows_free(rows, k);
                                return -ENOMEM;
                        }
                        rows = l;
                        allocated = m;
                }
                r = row_from_stmt(st, &rows[k]);
                if (r < 0) {
                        attach_rows_free(rows, k);
                        return r;
                }
                k++;
        }
        if (r != SQLITE_DONE) {
                attach_rows_free(rows, k);
                return db_error(n->db, r);
        }
        *ret = rows;
        *ret_n = k;
        return 0;
}

static int store_insert(Netd *n, const char *container_id, const char *netns_path,
                        const char *host_ifname, uint32_t mtu) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int r;

        r = db_prepare(n->db,
                       "INSERT INTO attachments (" ROW_COLUMNS ") VALUES (?1, ?2, ?3, ?4, NULL)",
                       &st);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, container_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, netns_path, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, host_ifname, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, mtu);
        r = sqlite3_step(st);
        return r == SQLITE_DONE ? 0 : db_error(n->db, r);
}

static int store_set_mac(Netd *n, const char *container_id, const char *mac, uint32_t mtu) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int r;

        r = db_prepare(n->db, "UPDATE attachments SET mac = ?2, mtu = ?3 WHERE container_id = ?1",
                       &st);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, container_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, mac, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, mtu);
        r = sqlite3_step(st);
        return r == SQLITE_DONE ? 0 : db_error(n->db, r);
}

static int store_delete(Netd *n, const char *container_id) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int r;

        r = db_prepare(n->db, "DELETE FROM attachments WHERE container_id = ?1", &st);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, container_id, -1, SQLITE_STATIC);
        r = sqlite3_step(st);
        return r == SQLITE_DONE ? 0 : db_error(n->db, r);
}

int netd_new(const NetdConfig *c, NetdLink *link, Netd **ret) {
        _cleanup_(netd_link_freep) NetdLink *l = link;
        _cleanup_(netd_freep) Netd *n = NULL;
        const char *bridge;
        int r;

        if (!c || !link || !ret || isempty(c->db_path))
                return -EINVAL;
        bridge = c->bridge ?: NETD_BRIDGE_DEFAULT;
        if (strlen(bridge) >= 16 || startswith(bridge, NETD_HOST_IFNAME_PREFIX))
                return -EINVAL;
        if (c->mtu != 0 && (c->mtu < 576 || c->mtu > 65535))
                return -ERANGE;

        n = calloc(1, sizeof *n);
        if (!n)
                return -ENOMEM;
        n->link = TAKE_PTR(l);
        n->mtu = c->mtu ?: NETD_MTU_DEFAULT;
        n->firewall = c->firewall;
        n->bridge = strdup(bridge);
        if (!n->bridge)
                return -ENOMEM;

        r = ipam_open(c->db_path, &c->ipam, &n->ipam);
        if (r < 0)
                return r;

        r = sqlite3_open_v2(c->db_path, &n->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
        if (r != SQLITE_OK)
                return n->db ? db_error(n->db, r) : -ENOMEM;
        sqlite3_busy_timeout(n->db, 5000);
        r = sqlite3_exec(n->db,
                         "PRAGMA synchronous = NORMAL;"
                         "CREATE TABLE IF NOT EXISTS attachments ("
                         "  container_id TEXT PRIMARY KEY NOT NULL,"
                         "  netns_path TEXT NOT NULL,"
                         "  host_ifname TEXT NOT NULL UNIQUE,"
                         "  mtu INTEGER NOT NULL,"
                         "  mac TEXT);",
                         NULL, NULL, NULL);
        if (r != SQLITE_OK)
                return db_error(n->db, r);

        *ret = TAKE_PTR(n);
        return 0;
}

Netd *netd_free(Netd *n) {
        if (!n)
                return NULL;
        sqlite3_close_v2(n->db);
        ipam_free(n->ipam);
        netd_link_free(n->link);
        free(n->bridge);
        return mfree(n);
}

Ipam *netd_ipam(Netd *n) {
        return n->ipam;
}

const char *netd_bridge(Netd *n) {
        return n->bridge;
}

int netd_setup(Netd *n, char **reterr_message) {
        const NetdLinkOps *ops = n->link->ops;
        IpPrefix gw[2];
        size_t k = 0;
        int r;

        for (size_t i = 0; i < ELEMENTSOF(families); i++) {
                const IpPrefix *node = ipam_node_subnet(n->ipam, families[i]);

                if (!node)
                        continue;
                gw[k] = *node;
                r = ipam_gateway(n->ipam, families[i], &gw[k].address);
                if (r < 0)
                        return r;
                k++;
        }

        r = ops->bridge_ensure(n->link->state, n->bridge, n->mtu, gw, k);
        if (r < 0)
                return log_debug_errno(r, "Failed to set up bridge '%s': %m", n->bridge);
        for (size_t i = 0; i < ELEMENTSOF(families); i++) {
                if (!ipam_node_subnet(n->ipam, families[i]))
                        continue;
                r = ops->forwarding_enable(n->link->state, families[i]);
                if (r < 0)
                        return log_debug_errno(r, "Failed to enable forwarding: %m");
        }

        if (n->firewall) {
                NetdFirewallConfig fw = { .bridge = n->bridge };
                const IpPrefix *c4 = ipam_cluster(n->ipam, AF_INET),
                               *c6 = ipam_cluster(n->ipam, AF_INET6);

                fw.cluster4 = c4 ? *c4 : (IpPrefix){ .family = AF_UNSPEC };
                fw.cluster6 = c6 ? *c6 : (IpPrefix){ .family = AF_UNSPEC };
                r = ops->firewall_apply(n->link->state, &fw, reterr_message);
                if (r < 0)
                        return r;
        }
        return 0;
}

int netd_teardown(Netd *n) {
        int r;

        r = n->link->ops->link_delete(n->link->state, n->bridge);
        if (r < 0 && r != -ENODEV)
                return r;
        if (n->firewall) {
                r = n->link->ops->firewall_remove(n->link->state, NULL);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Builds the attachment from a finished row and the allocator. */
static int attachment_from_row(Netd *n, const AttachRow *row, NetdAttachment **ret) {
        _cleanup_(netd_attachment_freep) NetdAttachment *a = NULL;
        int r;

        a = calloc(1, sizeof *a);
        if (!a)
                return -ENOMEM;
        a->container_id = strdup(row->container_id);
        a->netns_path = strdup(row->netns_path);
        if (!a->container_id || !a->netns_path)
                return -ENOMEM;
        memcpy(a->host_ifname, row->host_ifname, sizeof a->host_ifname);
        a->mtu = row->mtu;
        if (!ether_aton_r(row->mac, &a->mac))
                return -EIO;

        for (size_t i = 0; i < ELEMENTSOF(families); i++) {
                const IpPrefix *node = ipam_node_subnet(n->ipam, families[i]);
                IpPrefix *p = &a->addresses[a->n_addresses];

                if (!node)
                        continue;
                r = ipam_lookup(n->ipam, row->container_id, families[i], &p->address);
                if (r < 0)
                        return r;
                p->family = families[i];
                p->prefixlen = node->prefixlen;
                r = ipam_gateway(n->ipam, families[i], &a->gateways[a->n_addresses]);
                if (r < 0)
                        return r;
                a->n_addresses++;
        }

        *ret = TAKE_PTR(a);
        return 0;
}

/* Undoes whatever part of an attach happened: the veth (its peer goes with it), the
 * addresses, the record. Used on failure and by the sweep; each step tolerates that the
 * earlier attempt got less far. */
static int netd_undo(Netd *n, const char *container_id, const char *host_ifname) {
        int r;

        r = n->link->ops->link_delete(n->link->state, host_ifname);
        if (r < 0 && r != -ENODEV)
                return log_debug_errno(r, "Failed to delete '%s': %m", host_ifname);
        r = ipam_release(n->ipam, container_id);
        if (r < 0)
                return r;
        return store_delete(n, container_id);
}

static int netd_attach_kernel(Netd *n, const char *container_id, const char *netns_path,
                              const char *host_ifname, uint32_t mtu, struct ether_addr *ret_mac) {
        _cleanup_close_ int netns_fd = -EBADF;
        NetdNetnsConfig cfg = { .ifname = NETD_CONTAINER_IFNAME, .mtu = mtu };
        const NetdLinkOps *ops = n->link->ops;
        int r;

        for (size_t i = 0; i < ELEMENTSOF(families); i++) {
                const IpPrefix *node = ipam_node_subnet(n->ipam, families[i]);
                IpPrefix *p = &cfg.addresses[cfg.n_addresses];

                if (!node)
                        continue;
                r = ipam_allocate(n->ipam, container_id, families[i], &p->address);
                if (r < 0)
                        return log_debug_errno(r, "Failed to allocate an address for '%s': %m",
                                               container_id);
                p->family = families[i];
                p->prefixlen = node->prefixlen;
                r = ipam_gateway(n->ipam, families[i], &cfg.gateways[cfg.n_addresses]);
                if (r < 0)
                        return r;
                cfg.n_addresses++;
        }

        r = ops->netns_open(n->link->state, netns_path, &netns_fd);
        if (r < 0)
                return log_debug_errno(r, "Failed to open network namespace '%s': %m", netns_path);

        r = ops->veth_create(n->link->state,
                             &(NetdVethConfig){ .host_ifname = host_ifname,
                                                .peer_ifname = NETD_CONTAINER_IFNAME,
                                                .peer_netns_fd = netns_fd,
                                                .bridge = n->bridge,
                                                .mtu = mtu });
        if (r < 0)
                return log_debug_errno(r, "Failed to create veth '%s': %m", host_ifname);

        r = ops->netns_configure(n->link->state, netns_fd, &cfg, ret_mac);
        if (r < 0)
                return log_debug_errno(r, "Failed to configure '%s' in '%s': %m",
                                       NETD_CONTAINER_IFNAME, netns_path);
        /* The addresses may have belonged to containers that are gone: what this namespace
         * cached for them must name the new owner now. The gratuitous ARP of arp_notify does
         * not reach us reliably (it leaves before the veth's carrier is up). Without this the
         * container still works, but the proxy may reach it only once the old entry expired. */
        r = ops->neigh_replace(n->link->state, n->bridge, cfg.addresses, cfg.n_addresses, ret_mac);
        if (r < 0)
                log_warning_errno(r,
                                  "Failed to update the neighbour entries on '%s' for '%s', "
                                  "connections to it may stall until they expire: %m",
                                  n->bridge, container_id);
        return 0;
}

int netd_attach(Netd *n, const char *container_id, const char *netns_path,
                const NetdAttachOptions *options, NetdAttachment **ret) {
        _cleanup_(attach_row_done) AttachRow row = {};
        char host_ifname[16], mac[32];
        struct ether_addr ea;
        uint32_t mtu;
        int r, q;

        if (!netd_container_id_is_valid(container_id))
                return -EINVAL;
        if (isempty(netns_path) || netns_path[0] != '/')
                return -EINVAL;
        mtu = options && options->mtu > 0 ? options->mtu : n->mtu;
        if (mtu < 576 || mtu > 65535)
                return -ERANGE;
        netd_host_ifname(container_id, host_ifname);

        r = store_get(n, container_id, &row);
        if (r >= 0) {
                if (!streq(row.netns_path, netns_path))
                        return log_debug_errno(EEXIST, "'%s' is attached to '%s' already.",
                                               container_id, row.netns_path);
                if (!isempty(row.mac)) {
                        r = n->link->ops->link_exists(n->link->state, row.host_ifname);
                        if (r < 0)
                                return r;
                        if (r > 0)
                                return ret ? attachment_from_row(n, &row, ret) : 0;
                }
                /* Unfinished, or its veth has gone: start over, keeping the address. */
                r = n->link->ops->link_delete(n->link->state, row.host_ifname);
                if (r < 0 && r != -ENODEV)
                        return r;
        } else if (r == -ENOENT) {
                r = store_insert(n, container_id, netns_path, host_ifname, mtu);
                if (r < 0)
                        return r == -EEXIST ? log_debug_errno(r, "Interface name '%s' is taken.",
                                                              host_ifname)
                                            : r;
        } else
                return r;

        r = netd_attach_kernel(n, container_id, netns_path, host_ifname, mtu, &ea);
        if (r >= 0) {
                ether_ntoa_r(&ea, mac);
                r = store_set_mac(n, container_id, mac, mtu);
        }
        if (r < 0) {
                q = netd_undo(n, container_id, host_ifname);
                if (q < 0)
                        log_debug_errno(q, "Failed to undo attach of '%s', the sweep will: %m",
                                        container_id);
                return r;
        }

        if (!ret)
                return 0;
        attach_row_done(&row);
        r = store_get(n, container_id, &row);
        if (r < 0)
                return r;
        return attachment_from_row(n, &row, ret);
}

int netd_detach(Netd *n, const char *container_id) {
        _cleanup_(attach_row_done) AttachRow row = {};
        int r;

        if (!netd_container_id_is_valid(container_id))
                return -EINVAL;
        r = store_get(n, container_id, &row);
        if (r < 0)
                return r;
        return netd_undo(n, container_id, row.host_ifname);
}

int netd_get(Netd *n, const char *container_id, NetdAttachment **ret) {
        _cleanup_(attach_row_done) AttachRow row = {};
        int r;

        if (!netd_container_id_is_valid(container_id))
                return -EINVAL;
        r = store_get(n, container_id, &row);
        if (r < 0)
                return r;
        /* An attach under way is not an attachment yet. */
        if (isempty(row.mac))
                return -ENOENT;
        return attachment_from_row(n, &row, ret);
}

int netd_list(Netd *n, NetdAttachment ***ret, size_t *ret_n) {
        AttachRow *rows = NULL;
        NetdAttachment **list = NULL;
        size_t n_rows = 0, k = 0;
        int r;

        r = store_all(n, &rows, &n_rows);
        if (r < 0)
                return r;
        list = calloc(n_rows + 1, sizeof *list);
        if (!list) {
                attach_rows_free(rows, n_rows);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n_rows; i++) {
                if (isempty(rows[i].mac))
                        continue;
                r = attachment_from_row(n, &rows[i], &list[k]);
                if (r < 0) {
                        netd_attachment_array_free(list, k);
                        attach_rows_free(rows, n_rows);
                        return r;
                }
                k++;
        }
        attach_rows_free(rows, n_rows);
        *ret = list;
        *ret_n = k;
        return 0;
}

static bool rows_have_ifname(const AttachRow *rows, size_t n, const char *ifname) {
        for (size_t i = 0; i < n; i++)
                if (rows[i].container_id && streq(rows[i].host_ifname, ifname))
                        return true;
        return false;
}

static bool rows_have_owner(const AttachRow *rows, size_t n, const char *owner) {
        for (size_t i = 0; i < n; i++)
                if (rows[i].container_id && streq(rows[i].container_id, owner))
                        return true;
        return false;
}

int netd_sweep(Netd *n, NetdSweepResult *ret) {
        const NetdLinkOps *ops = n->link->ops;
        _cleanup_strv_free_ char **links = NULL;
        NetdSweepResult result = {};
        IpamAllocation *allocs = NULL;
        AttachRow *rows = NULL;
        size_t n_rows = 0, n_allocs = 0;
        int r;

        r = store_all(n, &rows, &n_rows);
        if (r < 0)
                return r;

        /* Rows that stay keep their container_id; the others are cleared so the checks below
         * see only what is kept. */
        for (size_t i = 0; i < n_rows; i++) {
                AttachRow *row = &rows[i];

                if (!isempty(row->mac)) {
                        r = ops->link_exists(n->link->state, row->host_ifname);
                        if (r < 0)
                                goto finish;
                        if (r > 0) {
                                result.kept++;
                                continue;
                        }
                        result.vanished++;
                } else
                        result.unfinished++;

                r = netd_undo(n, row->container_id, row->host_ifname);
                if (r < 0)
                        goto finish;
                attach_row_done(row);
        }

        r = ops->link_list(n->link->state, NETD_HOST_IFNAME_PREFIX, &links);
        if (r < 0)
                goto finish;
        for (char **l = links; *l; l++) {
                if (rows_have_ifname(rows, n_rows, *l))
                        continue;
                r = ops->link_delete(n->link->state, *l);
                if (r < 0 && r != -ENODEV)
                        goto finish;
                result.orphan_links++;
        }

        r = ipam_list(n->ipam, &allocs, &n_allocs);
        if (r < 0)
                goto finish;
        for (size_t i = 0; i < n_allocs; i++) {
                if (rows_have_owner(rows, n_rows, allocs[i].owner))
                        continue;
                /* An owner holding an address of each family is listed twice: the second
                 * release frees nothing and counts nothing. */
                r = ipam_release(n->ipam, allocs[i].owner);
                if (r < 0)
                        goto finish;
                result.orphan_addresses += r;
        }
        r = 0;
        if (ret)
                *ret = result;
finish:
        ipam_allocation_array_free(allocs, n_allocs);
        attach_rows_free(rows, n_rows);
        return r;
}
