/* SPDX-License-Identifier: Apache-2.0 */
/* test-busybox.h: a minimal root file system from busybox-static, for engine tests. */
#pragma once

/* Fills dir (created if missing) with bin/busybox, a symlink per applet, /etc/passwd and
 * /etc/group (root, nobody, and "app" uid 1000) and the empty mount points. -ENOENT when
 * /bin/busybox is not installed. */
int test_busybox_rootfs(const char *dir);
