/* SPDX-License-Identifier: Apache-2.0 */
/* oci-cgroup.h: the OCI linux.resources of a config as the limits of a Cgroup. */
#pragma once

#include "cgroup.h"
#include "oci-config.h"

/* Converts r into *ret. Device rules go into a new array, *ret_devices (the caller frees it;
 * NULL when there are none), which ret->devices points at; their access strings and the cpuset
 * lists point into r, so r must outlive *ret.
 *
 * -1 means "no limit" (CGROUP_LIMIT_MAX). Values no kernel accepts are refused with -EINVAL and
 * *ret_error (may be NULL) a message starting with the JSON path, e.g.
 * "linux.resources.memory.limit: 0 is not a limit (use -1 for none)": a limit of 0 would leave
 * the container unable to run anything, so it is an error rather than "unset" as in runc.
 * memory.reservation is a reclaim hint CgroupLimits does not carry: it is ignored. Nothing is
 * checked against a cgroup mode here; cgroup_new() does that. */
int oci_resources_to_cgroup_limits(const OciResources *r, CgroupLimits *ret,
                                   CgroupDeviceRule **ret_devices, char **ret_error);

/* The limits runc derives from a whole config: oci_resources_to_cgroup_limits() of
 * linux.resources, and when that has device rules, after them an allow rule for each device of
 * linux.devices and for the devices every container gets (mknod of any device, null, zero,
 * full, random, urandom, tty, ptmx, pts, net/tun), as runc does: engines such as podman deny
 * everything and rely on that list. The access strings point into c or static storage. */
int oci_config_to_cgroup_limits(const OciConfig *c, CgroupLimits *ret,
                                CgroupDeviceRule **ret_devices, char **ret_error);
