/* SPDX-License-Identifier: Apache-2.0 */
/* sched-reconcile-probe.c: probes and init runners for the reconciler, behind plain types. */
#include <stdlib.h>

#include "sched-init.h"
#include "sched-probe.h"
#include "sched-reconcile-probe.h"

struct SchedRProbe {
        SchedProbe *probe;
        SchedRProbeFn cb;
        void *userdata;
};

struct SchedRInit {
        SchedInit *init;
        SchedRInitWarnFn warn_cb;
        SchedRInitDoneFn done_cb;
        void *userdata;
        int (*resolve)(void *userdata, const char *host, char **ret_ip);
};

static SchedRHealth health_map(SchedProbeHealth h) {
        switch (h) {
        case SCHED_PROBE_HEALTH_HEALTHY:
                return SCHED_RHEALTH_HEALTHY;
        case SCHED_PROBE_HEALTH_UNHEALTHY:
                return SCHED_RHEALTH_UNHEALTHY;
        default:
                return SCHED_RHEALTH_UNKNOWN;
        }
}

static void probe_changed(SchedProbe *probe, SchedProbeHealth old_health,
                          SchedProbeHealth new_health, const char *reason, void *userdata) {
        SchedRProbe *p = userdata;

        p->cb(health_map(new_health), reason, p->userdata);
}

int sched_rprobe_start(sd_event *event, const json_t *health, const json_t *endpoints,
                       const char *ip, const SchedRExec *exec, SchedRProbeFn cb, void *userdata,
                       SchedRProbe **ret, char **ret_error) {
        SchedExec e = {};
        SchedRProbe *p;
        int r;

        if (!cb || !ret)
                return -EINVAL;
        if (exec)
                e = (SchedExec){ .exec = exec->exec,
                                 .cancel = exec->cancel,
                                 .userdata = exec->userdata };
        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->cb = cb;
        p->userdata = userdata;
        r = sched_probe_new(event, health, endpoints, ip, exec ? &e : NULL, probe_changed, p,
                            &p->probe, ret_error);
        if (r >= 0)
                r = sched_probe_start(p->probe);
        if (r < 0) {
                sched_rprobe_free(p);
                return r;
        }
        *ret = p;
        return 0;
}

SchedRProbe *sched_rprobe_free(SchedRProbe *p) {
        if (!p)
                return NULL;
        sched_probe_free(p->probe);
        free(p);
        return NULL;
}

static int init_resolve(void *userdata, const char *host, char **ret_ip) {
        SchedRInit *i = userdata;

        return i->resolve(i->userdata, host, ret_ip);
}

static void init_step(SchedInit *init, SchedInitEvent event, const SchedInitStepInfo *info,
                      void *userdata) {
        SchedRInit *i = userdata;

        if (event == SCHED_INIT_STEP_FAILED && info->on_failure == SCHED_INIT_ON_FAILURE_WARN &&
            info->attempt >= info->n_attempts && i->warn_cb)
                i->warn_cb(info->id, info->reason, i->userdata);
}

static void init_done(SchedInit *init, const SchedInitResult *result, void *userdata) {
        SchedRInit *i = userdata;

        i->done_cb(result->r, result->step_id, result->reason, result->n_warnings, i->userdata);
}

int sched_rinit_start(sd_event *event, const json_t *init, const SchedRExec *exec,
                      int (*resolve)(void *userdata, const char *host, char **ret_ip),
                      uint64_t poll_usec, SchedRInitWarnFn warn_cb, SchedRInitDoneFn done_cb,
                      void *userdata, SchedRInit **ret, char **ret_error) {
        SchedExec e = {};
        SchedResolver res;
        SchedRInit *i;
        int r;

        if (!done_cb || !ret)
                return -EINVAL;
        if (exec)
                e = (SchedExec){ .exec = exec->exec,
                                 .cancel = exec->cancel,
                                 .userdata = exec->userdata };
        i = calloc(1, sizeof(*i));
        if (!i)
                return -ENOMEM;
        *i = (SchedRInit){
                .warn_cb = warn_cb, .done_cb = done_cb, .userdata = userdata, .resolve = resolve
        };
        res = (SchedResolver){ .resolve = init_resolve, .userdata = i };
        r = sched_init_new(event, init, exec ? &e : NULL, resolve ? &res : NULL, &i->init,
                           ret_error);
        if (r >= 0) {
                if (poll_usec > 0)
                        sched_init_set_poll_interval(i->init, poll_usec);
                r = sched_init_start(i->init, init_step, init_done, i);
        }
        if (r < 0) {
                sched_rinit_free(i);
                return r;
        }
        *ret = i;
        return 0;
}

SchedRInit *sched_rinit_free(SchedRInit *i) {
        if (!i)
                return NULL;
        sched_init_free(i->init);
        free(i);
        return NULL;
}

uint64_t sched_rbackoff_delay(unsigned attempt, uint64_t base_usec, uint64_t cap_usec) {
        return sched_backoff_delay(attempt, base_usec ?: SCHED_BACKOFF_BASE_USEC,
                                   cap_usec ?: SCHED_BACKOFF_CAP_USEC);
}
