# SPDX-License-Identifier: Apache-2.0
# tests/lib/netns.sh: sourced first (before anything is started) by tests that listen on
# loopback ports or change the network. As root it re-runs the test in a network namespace of
# its own with only `lo` up, so its ports cannot meet those of tests running at the same time:
# the proxy's SO_REUSEPORT listeners would otherwise silently share a colliding port with another
# test's listener, and a test's links, routes and nftables tables go with the namespace.
#
# Set before sourcing:
#   ZL_NETNS_MOUNT=1     also a private mount namespace (for tmpfs over /run/netns and the like)
#   ZL_NETNS_REQUIRED=1  skip the whole test (TAP "1..0 # SKIP") when the namespace cannot be
#                        made; without it the test runs where it is, on its random ports.
if [ -z "${ZL_TEST_NETNS:-}" ]; then
        zl_netns_args=(--net)
        [ -n "${ZL_NETNS_MOUNT:-}" ] && zl_netns_args+=(--mount --propagation private)
        if [ "$(id -u)" = 0 ] && command -v unshare > /dev/null &&
                unshare "${zl_netns_args[@]}" true 2> /dev/null; then
                ZL_TEST_NETNS=1 exec unshare "${zl_netns_args[@]}" bash "$0" "$@"
        fi
        if [ -n "${ZL_NETNS_REQUIRED:-}" ]; then
                echo "1..0 # SKIP a network namespace needs root and unshare"
                exit 0
        fi
        unset zl_netns_args
fi
if [ -n "${ZL_TEST_NETNS:-}" ]; then
        ip link set lo up
fi
