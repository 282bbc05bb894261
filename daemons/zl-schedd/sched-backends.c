/* SPDX-License-Identifier: Apache-2.0 */
/* sched-backends.c: the owned records the backend tables pass around, and the submit helper. */
#include <stdlib.h>

#include "sched-backends.h"
#include "string-util.h"

void sched_container_spec_done(SchedContainerSpec *s) {
        if (!s)
                return;
        free(s->name);
        free(s->image);
        free(s->pull_policy);
        strv_free(s->entrypoint);
        strv_free(s->args);
        free(s->cwd);
        free(s->user);
        free(s->hostname);
        strv_free(s->env);
        strv_free(s->cap_add);
        strv_free(s->cap_drop);
        json_decref(s->storage);
        json_decref(s->devices);
        json_decref(s->sysctls);
        json_decref(s->labels);
        free(s->stop_signal);
        *s = (SchedContainerSpec){};
}

void sched_container_info_done(SchedContainerInfo *i) {
        if (!i)
                return;
        free(i->id);
        free(i->name);
        free(i->image);
        free(i->state);
        json_decref(i->labels);
        free(i->ip);
        *i = (SchedContainerInfo){ .exit_code = -1 };
}

void sched_container_info_array_free(SchedContainerInfo *a, size_t n) {
        for (size_t k = 0; a && k < n; k++)
                sched_container_info_done(&a[k]);
        free(a);
}

int sched_store_submit_json(const SchedStore *st, json_t *cmd, SchedStoreDoneFn done,
                            void *done_userdata) {
        _cleanup_free_ char *text = NULL;

        if (!st || !st->submit || !json_is_object(cmd))
                return -EINVAL;

        /* Sorted keys: the same command is the same bytes in the log of every server. */
        text = json_dumps(cmd, JSON_COMPACT | JSON_SORT_KEYS);
        if (!text)
                return -ENOMEM;
        return st->submit(st->userdata, text, done, done_userdata);
}
