# SPDX-License-Identifier: Apache-2.0
# tests/lib/netns.sh: sourced first (before anything is started) by tests that listen on
# loopback ports. As root it re-runs the test in a network namespace of its own with only `lo`
# up, so its ports cannot meet those of tests running at the same time: the proxy's
# SO_REUSEPORT listeners would otherwise silently share a colliding port with another test's
# listener. Without root or unshare the test runs where it is, on its random ports.
if [ -z "${ZL_TEST_NETNS:-}" ] && [ "$(id -u)" = 0 ] && command -v unshare > /dev/null &&
        unshare --net true 2> /dev/null; then
        ZL_TEST_NETNS=1 exec unshare --net bash "$0" "$@"
fi
if [ -n "${ZL_TEST_NETNS:-}" ]; then
        ip link set lo up
fi
