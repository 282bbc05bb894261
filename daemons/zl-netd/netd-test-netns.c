/* SPDX-License-Identifier: Apache-2.0 */
/* netd-test-netns.c: network namespaces, sockets in them and TCP probes, for tests. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <sys/socket.h>

#include "netd-test-netns.h"
#include "tests.h"

int netd_test_host_ns = -EBADF;
static unsigned port_counter;

/* Moves the whole test into a network namespace of its own, once; it goes away with the
 * process, and everything in it. */
void netd_test_private_netns(void) {
        if (netd_test_host_ns >= 0)
                return;
        if (geteuid() != 0)
                test_skip("needs root for network namespaces");
        if (unshare(CLONE_NEWNET) < 0)
                test_skip("unshare(CLONE_NEWNET) is not permitted here");
        netd_test_host_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
        ASSERT_TRUE(netd_test_host_ns >= 0);
}

/* A new network namespace, kept alive by the returned fd. */
int netd_test_new_netns(void) {
        int fd;

        ASSERT_OK(unshare(CLONE_NEWNET));
        fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
        ASSERT_TRUE(fd >= 0);
        ASSERT_OK(setns(netd_test_host_ns, CLONE_NEWNET));
        return fd;
}

const char *netd_test_netns_path(int fd) {
        static char buf[4][64];
        static unsigned i;

        i = (i + 1) % ELEMENTSOF(buf);
        snprintf(buf[i], sizeof buf[i], "/proc/%d/fd/%d", (int) getpid(), fd);
        return buf[i];
}

/* A socket of the given namespace (a socket stays in the namespace it was made in). */
int netd_test_socket_in(int ns, int family, int type) {
        int fd;

        ASSERT_OK(setns(ns, CLONE_NEWNET));
        fd = socket(family, type | SOCK_CLOEXEC, 0);
        ASSERT_OK(setns(netd_test_host_ns, CLONE_NEWNET));
        ASSERT_TRUE(fd >= 0);
        return fd;
}

bool netd_test_link_in(int ns, const char *ifname) {
        unsigned idx;

        ASSERT_OK(setns(ns, CLONE_NEWNET));
        idx = if_nametoindex(ifname);
        ASSERT_OK(setns(netd_test_host_ns, CLONE_NEWNET));
        return idx > 0;
}

/* A TCP connection from client_ns to server_address (listening in server_ns); returns the
 * source address the server saw, as text. IPv4 or IPv6, by the address. */
const char *netd_test_tcp_source(int server_ns, const char *server_address, int client_ns) {
        static char seen[INET6_ADDRSTRLEN];
        union {
                struct sockaddr sa;
                struct sockaddr_in in;
                struct sockaddr_in6 in6;
        } server = {}, peer = {};
        socklen_t len = sizeof peer, server_len;
        uint16_t port = htons(7000 + port_counter++);
        int family, l, c, a;

        if (inet_pton(AF_INET, server_address, &server.in.sin_addr) == 1) {
                family = server.in.sin_family = AF_INET;
                server.in.sin_port = port;
                server_len = sizeof server.in;
        } else {
                ASSERT_EQ(inet_pton(AF_INET6, server_address, &server.in6.sin6_addr), 1);
                family = server.in6.sin6_family = AF_INET6;
                server.in6.sin6_port = port;
                server_len = sizeof server.in6;
        }
        l = netd_test_socket_in(server_ns, family, SOCK_STREAM);
        ASSERT_OK(bind(l, &server.sa, server_len));
        ASSERT_OK(listen(l, 4));
        c = netd_test_socket_in(client_ns, family, SOCK_STREAM);
        /* The handshake completes in the kernel: no accept needed before connect returns. */
        ASSERT_OK(connect(c, &server.sa, server_len));
        a = accept4(l, &peer.sa, &len, SOCK_CLOEXEC);
        ASSERT_TRUE(a >= 0);
        ASSERT_NOT_NULL(inet_ntop(family,
                                  family == AF_INET ? (void *) &peer.in.sin_addr
                                                    : (void *) &peer.in6.sin6_addr,
                                  seen, sizeof seen));
        close(a);
        close(c);
        close(l);
        return seen;
}

NetdLink *netd_test_real_link(void) {
        NetdLink *l = NULL;

        ASSERT_OK(netd_link_new(&netd_link_real_ops, &l));
        return l;
}
