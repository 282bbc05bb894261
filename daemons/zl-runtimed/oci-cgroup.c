/* SPDX-License-Identifier: Apache-2.0 */
/* oci-cgroup.c: the OCI linux.resources of a config as the limits of a Cgroup. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "oci-cgroup.h"

static int fail(char **ret_error, const char *path, const char *format, ...) _printf_(3, 4);
static int fail(char **ret_error, const char *path, const char *format, ...) {
        _cleanup_free_ char *m = NULL;
        va_list ap;
        int k;

        if (!ret_error)
                return -EINVAL;
        va_start(ap, format);
        k = vasprintf(&m, format, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;
        if (asprintf(ret_error, "linux.resources.%s: %s", path, m) < 0)
                return -ENOMEM;
        return -EINVAL;
}

/* -1 is "unlimited"; 0 and other negative values are refused; min is the smallest real value. */
static int convert_limit(int64_t v, int64_t min, const char *path, const char *unit, uint64_t *ret,
                         char **ret_error) {
        if (v == -1) {
                *ret = CGROUP_LIMIT_MAX;
                return 0;
        }
        if (v == 0)
                return fail(ret_error, path, "0 is not a limit (use -1 for none)");
        if (v < min)
                return fail(ret_error, path, "%" PRId64 " is below the minimum of %" PRId64 "%s", v,
                            min, unit);
        *ret = (uint64_t) v;
        return 0;
}

int oci_resources_to_cgroup_limits(const OciResources *r, CgroupLimits *ret,
                                   CgroupDeviceRule **ret_devices, char **ret_error) {
        _cleanup_free_ CgroupDeviceRule *devices = NULL;
        CgroupLimits l = CGROUP_LIMITS_INIT;
        int k;

        assert(r);
        assert(ret);
        assert(ret_devices);

        if (r->has_memory_limit) {
                k = convert_limit(r->memory_limit, (int64_t) CGROUP_MEMORY_MIN_BYTES,
                                  "memory.limit", " bytes", &l.memory_limit_bytes, ret_error);
                if (k < 0)
                        return k;
        }
        if (r->has_memory_swap) {
                k = convert_limit(r->memory_swap, (int64_t) CGROUP_MEMORY_MIN_BYTES, "memory.swap",
                                  " bytes", &l.memory_swap_bytes, ret_error);
                if (k < 0)
                        return k;
                if (l.memory_swap_bytes != CGROUP_LIMIT_MAX) {
                        if (l.memory_limit_bytes == CGROUP_LIMIT_UNSET ||
                            l.memory_limit_bytes == CGROUP_LIMIT_MAX)
                                return fail(ret_error, "memory.swap",
                                            "needs a memory.limit (swap counts memory plus swap)");
                        if (l.memory_swap_bytes < l.memory_limit_bytes)
                                return fail(ret_error, "memory.swap",
                                            "%" PRId64 " is below memory.limit %" PRId64
                                            " (swap counts memory plus swap)",
                                            r->memory_swap, r->memory_limit);
                }
        }

        if (r->has_cpu_shares) {
                if (r->cpu_shares < CGROUP_CPU_SHARES_MIN || r->cpu_shares > CGROUP_CPU_SHARES_MAX)
                        return fail(ret_error, "cpu.shares",
                                    "%" PRIu64 " is not between %" PRIu64 " and %" PRIu64,
                                    r->cpu_shares, CGROUP_CPU_SHARES_MIN, CGROUP_CPU_SHARES_MAX);
                l.cpu_shares = r->cpu_shares;
        }
        if (r->has_cpu_quota) {
                k = convert_limit(r->cpu_quota, (int64_t) CGROUP_CPU_QUOTA_MIN_USEC, "cpu.quota",
                                  " microseconds", &l.cpu_quota_usec, ret_error);
                if (k < 0)
                        return k;
        }
        if (r->has_cpu_period) {
                if (r->cpu_period < CGROUP_CPU_PERIOD_MIN_USEC ||
                    r->cpu_period > CGROUP_CPU_PERIOD_MAX_USEC)
                        return fail(ret_error, "cpu.period",
                                    "%" PRIu64 " is not between %" PRIu64 " and %" PRIu64
                                    " microseconds",
                                    r->cpu_period, CGROUP_CPU_PERIOD_MIN_USEC,
                                    CGROUP_CPU_PERIOD_MAX_USEC);
                l.cpu_period_usec = r->cpu_period;
        }
        l.cpuset_cpus = isempty(r->cpu_cpus) ? NULL : r->cpu_cpus;
        l.cpuset_mems = isempty(r->cpu_mems) ? NULL : r->cpu_mems;

        if (r->has_pids_limit) {
                k = convert_limit(r->pids_limit, 1, "pids.limit", "", &l.pids_limit, ret_error);
                if (k < 0)
                        return k;
        }

        if (r->n_devices > 0) {
                devices = calloc(r->n_devices, sizeof(CgroupDeviceRule));
                if (!devices)
                        return -ENOMEM;
                for (size_t i = 0; i < r->n_devices; i++) {
                        const OciDeviceRule *d = r->devices + i;

                        if (d->type == '\0' || !strchr("acb", d->type)) {
                                char p[64];

                                (void) snprintf(p, sizeof(p), "devices[%zu].type", i);
                                return fail(ret_error, p, "must be 'a', 'c' or 'b'");
                        }
                        devices[i] = (CgroupDeviceRule){
                                .allow = d->allow,
                                .type = d->type,
                                .major = d->major,
                                .minor = d->minor,
                                .access = d->access,
                        };
                }
                l.devices_set = true;
                l.devices = devices;
                l.n_devices = r->n_devices;
        }

        *ret = l;
        *ret_devices = TAKE_PTR(devices);
        return 0;
}

static const CgroupDeviceRule default_devices[] = {
        { .allow = true, .type = 'c', .major = -1, .minor = -1, .access = "m" },
        { .allow = true, .type = 'b', .major = -1, .minor = -1, .access = "m" },
        { .allow = true, .type = 'c', .major = 1, .minor = 3, .access = "rwm" }, /* null */
        { .allow = true, .type = 'c', .major = 1, .minor = 8, .access = "rwm" }, /* random */
        { .allow = true, .type = 'c', .major = 1, .minor = 7, .access = "rwm" }, /* full */
        { .allow = true, .type = 'c', .major = 5, .minor = 0, .access = "rwm" }, /* tty */
        { .allow = true, .type = 'c', .major = 1, .minor = 5, .access = "rwm" }, /* zero */
        { .allow = true, .type = 'c', .major = 1, .minor = 9, .access = "rwm" }, /* urandom */
        { .allow = true, .type = 'c', .major = 136, .minor = -1, .access = "rwm" }, /* pts */
        { .allow = true, .type = 'c', .major = 5, .minor = 2, .access = "rwm" }, /* ptmx */
        { .allow = true, .type = 'c', .major = 10, .minor = 200, .access = "rwm" }, /* tun */
};

int oci_config_to_cgroup_limits(const OciConfig *c, CgroupLimits *ret,
                                CgroupDeviceRule **ret_devices, char **ret_error) {
        _cleanup_free_ CgroupDeviceRule *rules = NULL;
        CgroupDeviceRule *all;
        CgroupLimits l;
        size_t n;
        int r;

        assert(c);
        assert(ret);
        assert(ret_devices);

        r = oci_resources_to_cgroup_limits(&c->linux_.resources, &l, &rules, ret_error);
        if (r < 0)
                return r;
        if (l.n_devices == 0) {
                *ret = l;
                *ret_devices = NULL;
                return 0;
        }

        all = reallocarray(rules, l.n_devices + c->linux_.n_devices + ELEMENTSOF(default_devices),
                           sizeof(CgroupDeviceRule));
        if (!all)
                return -ENOMEM;
        rules = all;
        n = l.n_devices;
        for (size_t i = 0; i < c->linux_.n_devices; i++) {
                const OciDevice *d = c->linux_.devices + i;

                /* FIFOs are not device numbers: nothing to allow. */
                if (d->type == 'p')
                        continue;
                rules[n++] = (CgroupDeviceRule){
                        .allow = true,
                        .type = d->type == 'b' ? 'b' : 'c',
                        .major = d->major,
                        .minor = d->minor,
                        .access = "rwm",
                };
        }
        memcpy(rules + n, default_devices, sizeof(default_devices));
        n += ELEMENTSOF(default_devices);

        l.devices = rules;
        l.n_devices = n;
        *ret = l;
        *ret_devices = TAKE_PTR(rules);
        return 0;
}
