/* SPDX-License-Identifier: Apache-2.0 */
/* netd-test-netns.h: network namespaces for the tests of the real back end. */
#pragma once

#include <stdbool.h>

#include "netlink-ops.h"

/* The test's own namespace: the "host" of everything the test makes. */
extern int netd_test_host_ns;

/* Moves the whole test into a network namespace of its own, once (skips without root); it
 * goes away with the process, and everything in it. */
void netd_test_private_netns(void);
/* A new network namespace, kept alive by the returned fd. */
int netd_test_new_netns(void);
/* A path that opens the namespace of fd (/proc/PID/fd/FD). Four rotating buffers. */
const char *netd_test_netns_path(int fd);
/* A socket made in namespace ns (a socket stays in the namespace it was made in). */
int netd_test_socket_in(int ns, int family, int type);
bool netd_test_link_in(int ns, const char *ifname);
/* A TCP connection from client_ns to server_address (listening in server_ns); returns the
 * source address the server saw, as text. IPv4 or IPv6, by the address. */
const char *netd_test_tcp_source(int server_ns, const char *server_address, int client_ns);
NetdLink *netd_test_real_link(void);
