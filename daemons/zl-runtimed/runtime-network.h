/* SPDX-License-Identifier: Apache-2.0 */
/* runtime-network.h: a container's networking as the manager sees it: modes, back end, files. */
#pragma once

#include <errno.h>
#include <stdint.h>
#include <sys/types.h>

#include "macro.h"

/* How a container is networked: the "network" create option, or what its config says. */
typedef enum NetworkMode {
        NETWORK_PRIVATE, /* a namespace of its own, connected by the back end (zl-netd) */
        NETWORK_NONE, /* a namespace of its own with loopback only */
        NETWORK_HOST, /* the host's namespace */
        NETWORK_JOINED, /* a namespace the config names by path: nobody else's business */
        _NETWORK_MODE_MAX,
        _NETWORK_MODE_INVALID = -EINVAL,
} NetworkMode;

const char *network_mode_to_string(NetworkMode m) _const_;
NetworkMode network_mode_from_string(const char *s) _pure_;

/* What an attach gave a container. The addresses are kept; the file paths are the back end's
 * and only used right after the attach. */
typedef struct NetworkInfo {
        char *address; /* "10.200.0.2" */
        unsigned prefix_length; /* 24 */
        char *gateway; /* "10.200.0.1" */
        char *mac; /* "aa:bb:cc:dd:ee:ff" */
        char *address6; /* "fd00:200::2", NULL without IPv6 */
        unsigned prefix_length6;
        char *hosts; /* the back end's hosts file */
        char *resolv_conf; /* the back end's resolv.conf */
} NetworkInfo;

void network_info_done(NetworkInfo *i);

/* Splits "10.200.0.2/24" (as zl-netd gives it) into the address and the prefix length.
 * -EINVAL when it is not an address with a prefix length. */
int network_parse_prefix(const char *s, char **ret_address, unsigned *ret_prefix_length);

/* The network back end the manager attaches "private" containers through: zl-netd over the bus
 * in zl-runtimed (runtime-network-bus.c), a fake in the tests. Both calls are synchronous and
 * short (local netlink and sqlite work in the back end). */
typedef struct NetworkBackend {
        /* Connects the namespace at netns_path; hostname (may be NULL) is what the hosts file
         * names the address; mtu 0 is the back end's default. -EHOSTUNREACH when the back end
         * is not there, else what it reports. *ret_error (may be NULL) says why. */
        int (*attach)(void *userdata, const char *id, const char *netns_path, const char *hostname,
                      uint32_t mtu, NetworkInfo *ret, char **ret_error);
        /* -ENOENT when the container is not attached, -EHOSTUNREACH when the back end is not
         * there. */
        int (*detach)(void *userdata, const char *id, char **ret_error);
} NetworkBackend;

/* The mode of a container: the option when given ("private", "none", "host"), else the config's
 * linux.namespaces: a new network namespace is "private", one with a path "joined", none
 * "host". *ret_hostname gets the config's hostname (NULL when it has none). -EINVAL for a bad
 * option, -EBADMSG for a config that is not JSON. */
int network_mode_of_config(const char *option, const char *config_json, NetworkMode *ret_mode,
                           char **ret_hostname);

/* The files a container's /etc/hosts and /etc/resolv.conf are bound to, in its directory. */
#define NETWORK_HOSTS_FILE "hosts"
#define NETWORK_RESOLV_FILE "resolv.conf"
/* The container's network state, next to container.json. */
#define NETWORK_STATE_FILE "network.json"

/* Creates dir's hosts and resolv.conf for a container of mode m: empty for "private" (filled
 * after the attach), copies of host_etc's hosts and resolv.conf for "host" (a missing one gives
 * an empty file). Nothing for "none" and "joined": returns 0 and NULLs then, 1 and the paths
 * otherwise. */
int network_files_prepare(const char *dir, NetworkMode m, const char *host_etc, char **ret_hosts,
                          char **ret_resolv);
/* Writes the back end's hosts and resolv.conf into dir's files, in place (truncate and write,
 * never rename: the container's bind mounts hold these inodes). */
int network_files_fill(const char *dir, const NetworkInfo *info);

/* "/proc/PID/ns/net". */
int network_netns_path(pid_t pid, char **ret);

/* network.json: the mode and, once attached, the addresses (the back end's paths are not kept).
 * Written without fsync, replaced atomically. */
int network_state_save(const char *dir, NetworkMode m, const NetworkInfo *info);
/* -ENOENT when there is none (a container made before networking was known), -EBADMSG when it
 * cannot be understood. */
int network_state_load(const char *dir, NetworkMode *ret_mode, NetworkInfo *ret_info);

/* runtime-network-bus.c (zl-runtimed only): zl-netd's org.zlayer.Network1; the userdata is the
 * daemon's sd_bus. Calls wait for the reply (up to NETWORK_BUS_TIMEOUT_USEC): see
 * docs/runtime.md, "Networking". */
#define NETWORK_BUS_TIMEOUT_USEC (5 * 1000 * 1000ULL)
extern const NetworkBackend runtime_network_bus_backend;
