/* SPDX-License-Identifier: Apache-2.0 */
/* ipam.c: address allocation from the node subnet, persisted in sqlite (WAL). */
#include <arpa/inet.h>
#include <stdio.h>
#include <sys/socket.h>

#include "sqlite-util.h"
#include "ipam.h"
#include "log.h"
#include "parse-util.h"
#include "string-util.h"

/* IPv6 node subnets are /64s or so: far more hosts than a node will run. Cap the count so
 * offsets stay comfortably inside sqlite's signed 64-bit integers. */
#define IPAM_HOSTS_MAX_V6 UINT64_C(0xffffffff)

/* Host offsets 0 (the network address) and 1 (the gateway) are never handed out. */
#define IPAM_FIRST_HOST 2

struct Ipam {
        sqlite3 *db;
        IpPrefix cluster[2];
        IpPrefix node[2];
        uint64_t max_host[2]; /* highest allocatable host offset; 0 when the family is off */
};

static int family_index(int family) {
        switch (family) {
        case AF_INET:
                return 0;
        case AF_INET6:
                return 1;
        default:
                return -EAFNOSUPPORT;
        }
}

static unsigned family_bits(int family) {
        return family == AF_INET ? 32 : 128;
}

/* Writes the low (to - from) bits of value into bits [from, to) of a, counting from the most
 * significant bit of a[0]. */
static void addr_set_bits(uint8_t *a, unsigned from, unsigned to, uint64_t value) {
        assert(to - from <= 64);
        for (unsigned bit = to; bit > from; bit--, value >>= 1) {
                unsigned i = bit - 1;
                uint8_t mask = 0x80 >> (i % 8);

                if (value & 1)
                        a[i / 8] |= mask;
                else
                        a[i / 8] &= ~mask;
        }
}

static bool addr_bits_zero(const uint8_t *a, unsigned from, unsigned to) {
        for (unsigned i = from; i < to; i++)
                if (a[i / 8] & (0x80 >> (i % 8)))
                        return false;
        return true;
}

int ip_prefix_from_string(const char *s, IpPrefix *ret) {
        _cleanup_free_ char *addr = NULL;
        IpPrefix p = {};
        const char *slash;

        if (isempty(s))
                return -EINVAL;
        slash = strchr(s, '/');
        addr = slash ? strndup(s, slash - s) : strdup(s);
        if (!addr)
                return -ENOMEM;

        if (inet_pton(AF_INET, addr, &p.address.in) == 1)
                p.family = AF_INET;
        else if (inet_pton(AF_INET6, addr, &p.address.in6) == 1)
                p.family = AF_INET6;
        else
                return -EINVAL;

        p.prefixlen = family_bits(p.family);
        if (slash) {
                unsigned len;

                if (safe_atou(slash + 1, &len) < 0 || len > family_bits(p.family))
                        return -EINVAL;
                p.prefixlen = len;
        }
        if (!addr_bits_zero(p.address.bytes, p.prefixlen, family_bits(p.family)))
                return -EINVAL;

        *ret = p;
        return 0;
}

const char *in_addr_to_string(int family, const InAddrUnion *a,
                              char buf[static IP_PREFIX_STRING_MAX]) {
        if (!inet_ntop(family, a, buf, IP_PREFIX_STRING_MAX))
                snprintf(buf, IP_PREFIX_STRING_MAX, "(invalid)");
        return buf;
}

const char *ip_prefix_to_string(const IpPrefix *p, char buf[static IP_PREFIX_STRING_MAX]) {
        size_t n;

        in_addr_to_string(p->family, &p->address, buf);
        n = strlen(buf);
        snprintf(buf + n, IP_PREFIX_STRING_MAX - n, "/%u", p->prefixlen);
        return buf;
}

bool ip_prefix_contains(const IpPrefix *p, const InAddrUnion *address) {
        for (unsigned i = 0; i < p->prefixlen; i++) {
                uint8_t mask = 0x80 >> (i % 8);

                if ((p->address.bytes[i / 8] & mask) != (address->bytes[i / 8] & mask))
                        return false;
        }
        return true;
}

void ipam_config_init(IpamConfig *c) {
        *c = (IpamConfig){
                .node_prefixlen4 = IPAM_DEFAULT_NODE_PREFIXLEN4,
                .node_prefixlen6 = IPAM_DEFAULT_NODE_PREFIXLEN6,
                .cluster6.family = AF_UNSPEC,
        };
        (void) ip_prefix_from_string(IPAM_DEFAULT_CLUSTER4, &c->cluster4);
}

void ipam_allocation_array_free(IpamAllocation *a, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(a[i].owner);
        free(a);
}

/* Carves node subnet `index` of length node_prefixlen out of cluster. */
static int node_subnet_carve(const IpPrefix *cluster, unsigned node_prefixlen, uint32_t index,
                             IpPrefix *ret_node, uint64_t *ret_max_host) {
        unsigned bits = family_bits(cluster->family), index_bits, host_bits;
        IpPrefix node = *cluster;
        uint64_t max_host;

        if (node_prefixlen <= cluster->prefixlen || node_prefixlen > bits)
                return -EINVAL;
        index_bits = node_prefixlen - cluster->prefixlen;
        if (index_bits < 32 && index >> index_bits != 0)
                return -ERANGE;
        host_bits = bits - node_prefixlen;

        if (cluster->family == AF_INET) {
                /* The gateway and one container at least, besides network and broadcast. */
                if (host_bits < 2)
                        return -EINVAL;
                max_host = (UINT64_C(1) << host_bits) - 2;
        } else {
                if (host_bits < 2)
                        return -EINVAL;
                max_host = host_bits >= 32 ? IPAM_HOSTS_MAX_V6 : (UINT64_C(1) << host_bits) - 1;
        }

        /* The index fits in the low 32 of the index bits (checked above); more than 64 of
         * them are only ever zero at the top. */
        addr_set_bits(node.address.bytes,
                      MAX(cluster->prefixlen, node_prefixlen - MIN(index_bits, 64u)),
                      node_prefixlen, index);
        node.prefixlen = node_prefixlen;
        *ret_node = node;
        *ret_max_host = max_host;
        return 0;
}

static void host_address(const IpPrefix *node, uint64_t host, InAddrUnion *ret) {
        unsigned bits = family_bits(node->family);

        *ret = node->address;
        /* The offset lives in the low 64 bits at most; bits above it stay the subnet's. */
        addr_set_bits(ret->bytes, MAX(node->prefixlen, bits > 64 ? bits - 64 : 0), bits, host);
}

static int db_exec(sqlite3 *db, const char *sql) {
        int r = sqlite3_exec(db, sql, NULL, NULL, NULL);
        if (r != SQLITE_OK) {
                log_debug("sqlite: '%s' failed: %s", sql, sqlite3_errmsg(db));
                return r == SQLITE_NOMEM ? -ENOMEM : r == SQLITE_BUSY ? -EBUSY : -EIO;
        }
        return 0;
}

static int db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **ret) {
        int r = sqlite3_prepare_v2(db, sql, -1, ret, NULL);
        if (r != SQLITE_OK) {
                log_debug("sqlite: preparing '%s' failed: %s", sql, sqlite3_errmsg(db));
                return r == SQLITE_NOMEM ? -ENOMEM : -EIO;
        }
        return 0;
}

static int db_error(sqlite3 *db, int r) {
        log_debug("sqlite: %s", sqlite3_errmsg(db));
        r = sqlite_errno(r);
        return r < 0 ? r : -EIO;
}

/* Checks the stored node subnet for one family against the configured one and records it. */
static int ipam_check_subnet(Ipam *ipam, int family) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *get = NULL, *count = NULL, *set = NULL;
        char want[IP_PREFIX_STRING_MAX];
        const char *key = family == AF_INET ? "node_subnet4" : "node_subnet6";
        int idx = family_index(family), r;

        if (ipam->node[idx].family == AF_UNSPEC)
                return 0;
        ip_prefix_to_string(&ipam->node[idx], want);

        r = db_prepare(ipam->db, "SELECT value FROM meta WHERE key = ?1", &get);
        if (r < 0)
                return r;
        sqlite3_bind_text(get, 1, key, -1, SQLITE_STATIC);
        r = sqlite3_step(get);
        if (r == SQLITE_ROW) {
                const char *have = (const char *) sqlite3_column_text(get, 0);

                if (have && streq(have, want))
                        return 0;

                r = db_prepare(ipam->db, "SELECT COUNT(*) FROM allocations WHERE family = ?1",
                               &count);
                if (r < 0)
                        return r;
                sqlite3_bind_int(count, 1, family);
                if (sqlite3_step(count) != SQLITE_ROW)
                        return db_error(ipam->db, sqlite3_errcode(ipam->db));
                if (sqlite3_column_int64(count, 0) > 0)
                        return log_debug_errno(EBUSY,
                                               "Store holds allocations from '%s', not '%s'.",
                                               strna(have), want);
        } else if (r != SQLITE_DONE)
                return db_error(ipam->db, r);

        r = db_prepare(ipam->db, "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)", &set);
        if (r < 0)
                return r;
        sqlite3_bind_text(set, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_text(set, 2, want, -1, SQLITE_STATIC);
        r = sqlite3_step(set);
        if (r != SQLITE_DONE)
                return db_error(ipam->db, r);
        return 0;
}

static int ipam_setup_family(Ipam *ipam, const IpPrefix *cluster, unsigned node_prefixlen,
                             uint32_t index) {
        int idx;

        if (cluster->family == AF_UNSPEC)
                return 0;
        idx = family_index(cluster->family);
        if (idx < 0)
                return -EINVAL;
        /* IPv6 only from unique local space: global prefixes belong to whoever routes them. */
        if (cluster->family == AF_INET6 &&
            (cluster->prefixlen < 8 || cluster->address.bytes[0] != 0xfd))
                return -EINVAL;
        if (ipam->cluster[idx].family != AF_UNSPEC)
                return -EINVAL;

        ipam->cluster[idx] = *cluster;
        return node_subnet_carve(cluster, node_prefixlen, index, &ipam->node[idx],
                                 &ipam->max_host[idx]);
}

int ipam_open(const char *db_path, const IpamConfig *c, Ipam **ret) {
        _cleanup_(ipam_freep) Ipam *ipam = NULL;
        int r;

        if (isempty(db_path) || !c || !ret)
                return -EINVAL;
        if (c->cluster4.family == AF_UNSPEC && c->cluster6.family == AF_UNSPEC)
                return -EINVAL;
        if (c->cluster4.family != AF_UNSPEC && c->cluster4.family != AF_INET)
                return -EINVAL;
        if (c->cluster6.family != AF_UNSPEC && c->cluster6.family != AF_INET6)
                return -EINVAL;

        ipam = calloc(1, sizeof *ipam);
        if (!ipam)
                return -ENOMEM;

        r = ipam_setup_family(ipam, &c->cluster4, c->node_prefixlen4, c->node_index);
        if (r < 0)
                return r;
        r = ipam_setup_family(ipam, &c->cluster6, c->node_prefixlen6, c->node_index);
        if (r < 0)
                return r;

        r = sqlite3_open_v2(db_path, &ipam->db,
                            SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
        if (r != SQLITE_OK)
                return ipam->db ? db_error(ipam->db, r) : -ENOMEM;
        sqlite3_busy_timeout(ipam->db, 5000);

        /* WAL: a commit is one append, and a kill -9 at any point leaves either the whole
         * allocation or none of it. NORMAL sync loses at most the last commits on power loss,
         * when the containers they were for are gone as well. */
        r = db_exec(ipam->db, "PRAGMA journal_mode = WAL;"
                              "PRAGMA synchronous = NORMAL;"
                              "CREATE TABLE IF NOT EXISTS meta ("
                              "  key TEXT PRIMARY KEY NOT NULL,"
                              "  value TEXT NOT NULL);"
                              "CREATE TABLE IF NOT EXISTS allocations ("
                              "  owner TEXT NOT NULL,"
                              "  family INTEGER NOT NULL,"
                              "  host INTEGER NOT NULL,"
                              "  PRIMARY KEY (owner, family),"
                              "  UNIQUE (family, host));");
        if (r < 0)
                return r;

        r = db_exec(ipam->db, "BEGIN IMMEDIATE");
        if (r < 0)
                return r;
        r = ipam_check_subnet(ipam, AF_INET);
        if (r >= 0)
                r = ipam_check_subnet(ipam, AF_INET6);
        if (r < 0) {
                (void) db_exec(ipam->db, "ROLLBACK");
                return r;
        }
        r = db_exec(ipam->db, "COMMIT");
        if (r < 0)
                return r;

        *ret = TAKE_PTR(ipam);
        return 0;
}

Ipam *ipam_free(Ipam *ipam) {
        if (!ipam)
                return NULL;
        sqlite3_close_v2(ipam->db);
        return mfree(ipam);
}

const IpPrefix *ipam_node_subnet(const Ipam *ipam, int family) {
        int idx = family_index(family);

        if (idx < 0 || ipam->node[idx].family == AF_UNSPEC)
                return NULL;
        return &ipam->node[idx];
}

const IpPrefix *ipam_cluster(const Ipam *ipam, int family) {
        int idx = family_index(family);

        if (idx < 0 || ipam->cluster[idx].family == AF_UNSPEC)
                return NULL;
        return &ipam->cluster[idx];
}

int ipam_gateway(const Ipam *ipam, int family, InAddrUnion *ret) {
        const IpPrefix *node = ipam_node_subnet(ipam, family);

        if (!node)
                return -EAFNOSUPPORT;
        host_address(node, 1, ret);
        return 0;
}

uint64_t ipam_capacity(const Ipam *ipam, int family) {
        int idx = family_index(family);

        if (idx < 0 || ipam->node[idx].family == AF_UNSPEC)
                return 0;
        return ipam->max_host[idx] - IPAM_FIRST_HOST + 1;
}

static int ipam_lookup_host(Ipam *ipam, const char *owner, int family, uint64_t *ret) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int r;

        r = db_prepare(ipam->db, "SELECT host FROM allocations WHERE owner = ?1 AND family = ?2",
                       &st);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, owner, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, family);
        r = sqlite3_step(st);
        if (r == SQLITE_DONE)
                return -ENOENT;
        if (r != SQLITE_ROW)
                return db_error(ipam->db, r);
        *ret = (uint64_t) sqlite3_column_int64(st, 0);
        return 0;
}

int ipam_lookup(Ipam *ipam, const char *owner, int family, InAddrUnion *ret) {
        const IpPrefix *node;
        uint64_t host;
        int r;

        if (isempty(owner))
                return -EINVAL;
        node = ipam_node_subnet(ipam, family);
        if (!node)
                return -EAFNOSUPPORT;
        r = ipam_lookup_host(ipam, owner, family, &host);
        if (r < 0)
                return r;
        host_address(node, host, ret);
        return 0;
}

static int ipam_allocate_in_transaction(Ipam *ipam, const char *owner, int family,
                                        uint64_t *ret_host) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *find = NULL, *insert = NULL;
        uint64_t host;
        int r;

        r = ipam_lookup_host(ipam, owner, family, &host);
        if (r >= 0) {
                *ret_host = host;
                return 0;
        }
        if (r != -ENOENT)
                return r;

        /* The lowest free offset is the first one, or one past an allocated one. */
        r = db_prepare(ipam->db,
                       "SELECT h FROM (SELECT ?2 AS h UNION ALL"
                       "               SELECT host + 1 FROM allocations WHERE family = ?1)"
                       " WHERE h <= ?3 AND h NOT IN (SELECT host FROM allocations"
                       "                             WHERE family = ?1)"
                       " ORDER BY h LIMIT 1",
                       &find);
        if (r < 0)
                return r;
        sqlite3_bind_int(find, 1, family);
        sqlite3_bind_int64(find, 2, IPAM_FIRST_HOST);
        sqlite3_bind_int64(find, 3, (sqlite3_int64) ipam->max_host[family_index(family)]);
        r = sqlite3_step(find);
        if (r == SQLITE_DONE)
                return -ENOSPC;
        if (r != SQLITE_ROW)
                return db_error(ipam->db, r);
        host = (uint64_t) sqlite3_column_int64(find, 0);

        r = db_prepare(ipam->db,
                       "INSERT INTO allocations (owner, family, host) VALUES (?1, ?2, ?3)",
                       &insert);
        if (r < 0)
                return r;
        sqlite3_bind_text(insert, 1, owner, -1, SQLITE_STATIC);
        sqlite3_bind_int(insert, 2, family);
        sqlite3_bind_int64(insert, 3, (sqlite3_int64) host);
        r = sqlite3_step(insert);
        if (r != SQLITE_DONE)
                return db_error(ipam->db, r);

        *ret_host = host;
        return 0;
}

int ipam_allocate(Ipam *ipam, const char *owner, int family, InAddrUnion *ret) {
        const IpPrefix *node;
        uint64_t host = 0;
        int r;

        if (isempty(owner))
                return -EINVAL;
        node = ipam_node_subnet(ipam, family);
        if (!node)
                return -EAFNOSUPPORT;

        /* IMMEDIATE takes the write lock up front, so a second writer on the same store waits
         * instead of reading the same free offset. */
        r = db_exec(ipam->db, "BEGIN IMMEDIATE");
        if (r < 0)
                return r;
        r = ipam_allocate_in_transaction(ipam, owner, family, &host);
        if (r < 0) {
                (void) db_exec(ipam->db, "ROLLBACK");
                if (r == -ENOSPC) {
                        char buf[IP_PREFIX_STRING_MAX];
                        log_debug("Node subnet '%s' has no free address left for '%s'.",
                                  ip_prefix_to_string(node, buf), owner);
                }
                return r;
        }
        r = db_exec(ipam->db, "COMMIT");
        if (r < 0) {
                (void) db_exec(ipam->db, "ROLLBACK");
                return r;
        }

        host_address(node, host, ret);
        return 0;
}

int ipam_release(Ipam *ipam, const char *owner) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        int r;

        if (isempty(owner))
                return -EINVAL;
        r = db_prepare(ipam->db, "DELETE FROM allocations WHERE owner = ?1", &st);
        if (r < 0)
                return r;
        sqlite3_bind_text(st, 1, owner, -1, SQLITE_STATIC);
        r = sqlite3_step(st);
        if (r != SQLITE_DONE)
                return db_error(ipam->db, r);
        return sqlite3_changes(ipam->db);
}

int ipam_list(Ipam *ipam, IpamAllocation **ret, size_t *ret_n) {
        _cleanup_(sqlite3_finalizep) sqlite3_stmt *st = NULL;
        IpamAllocation *list = NULL;
        size_t n = 0, allocated = 0;
        int r;

        r = db_prepare(ipam->db,
                       "SELECT owner, family, host FROM allocations ORDER BY owner, family", &st);
        if (r < 0)
                return r;

        while ((r = sqlite3_step(st)) == SQLITE_ROW) {
                int family = sqlite3_column_int(st, 1);
                const IpPrefix *node = ipam_node_subnet(ipam, family);
                const char *owner = (const char *) sqlite3_column_text(st, 0);

                /* A family switched off since: its rows are kept, but not ours to report. */
                if (!node || !owner)
                        continue;

                if (n == allocated) {
                        size_t k = MAX(allocated * 2, (size_t) 8);
                        IpamAllocation *l = reallocarray(list, k, sizeof *l);
                        if (!l) {
                                ipam_allocation_array_free(list, n);
                                return -ENOMEM;
                        }
                        list = l;
                        allocated = k;
                }
                list[n] = (IpamAllocation){ .owner = strdup(owner), .family = family };
                if (!list[n].owner) {
                        ipam_allocation_array_free(list, n);
                        return -ENOMEM;
                }
                host_address(node, (uint64_t) sqlite3_column_int64(st, 2), &list[n].address);
                n++;
        }
        if (r != SQLITE_DONE) {
                ipam_allocation_array_free(list, n);
                return db_error(ipam->db, r);
        }

        *ret = list;
        *ret_n = n;
        return 0;
}
