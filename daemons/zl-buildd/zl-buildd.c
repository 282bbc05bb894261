/* SPDX-License-Identifier: Apache-2.0 */
/* zl-buildd.c: main of the builder daemon, org.zlayer.Builder1; only its descriptor. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "build-bus.h"
#include "build-manager.h"
#include "daemon.h"
#include "log.h"
#include "path-util.h"
#include "string-util.h"

/* The configuration: $ZLAYER_BUILDD_CONFIG (which must exist), else /etc/zlayer/buildd.conf if
 * it exists, else the defaults (state under the daemon's state directory). */
static int buildd_load_config(ZlDaemon *d, BuildConfig *c) {
        _cleanup_free_ char *why = NULL;
        const char *path = getenv("ZLAYER_BUILDD_CONFIG");
        bool explicit = !isempty(path);
        int r;

        _cleanup_free_ char *state = NULL, *run = NULL, *state_dir = NULL, *runroot = NULL;

        /* Beside the other daemons' directories, as "build": /var/lib/zlayer/build and
         * /run/zlayer/build by default, under --state-dir and --runtime-dir when given. */
        if (path_dirname(zl_daemon_get_state_dir(d), &state) < 0 ||
            path_dirname(zl_daemon_get_runtime_dir(d), &run) < 0)
                return log_oom();
        state_dir = path_join(state, "build");
        runroot = path_join(run, "build", "storage");
        if (!state_dir || !runroot)
                return log_oom();
        r = build_config_init(c, state_dir, runroot);
        if (r < 0)
                return log_oom();
        if (!explicit)
                path = BUILDD_CONFIG_PATH_DEFAULT;
        r = build_config_load(c, path, &why);
        if (r == -ENOENT && !explicit) {
                log_debug("No '%s', using the defaults.", path);
                return 0;
        }
        if (r < 0) {
                build_config_done(c);
                if (why)
                        return log_error_errno(r, "Invalid configuration: %s", why);
                return log_error_errno(r, "Failed to read the configuration '%s': %m", path);
        }
        log_debug("Read the configuration '%s'.", path);
        return 0;
}

/* zl-build-job: $ZL_BUILD_JOB (tests), else beside our executable (a build tree or
 * zl_daemon_dir). */
static int buildd_job_path(char **ret) {
        const char *env = getenv(BUILD_JOB_ENV);
        int r;

        if (!isempty(env)) {
                if (!path_is_absolute(env))
                        return log_error_errno(EINVAL, "$%s='%s' is not an absolute path.",
                                               BUILD_JOB_ENV, env);
                *ret = strdup(env);
                return *ret ? 0 : log_oom();
        }
        r = path_beside_self(BUILD_JOB_NAME, X_OK, ret);
        if (r < 0)
                return log_error_errno(r, "Failed to find %s beside zl-buildd: %m", BUILD_JOB_NAME);
        return 0;
}

static bool buildah_is_installed(void) {
        const char *path = getenv("PATH") ?: "/usr/bin:/bin";
        _cleanup_free_ char *copy = strdup(path);

        for (char *p = copy ? strtok(copy, ":") : NULL; p; p = strtok(NULL, ":")) {
                _cleanup_free_ char *f = path_join(p, "buildah");
                if (f && access(f, X_OK) == 0)
                        return true;
        }
        return false;
}

static int builder_init(ZlDaemon *d, void **ret_userdata) {
        _cleanup_free_ Builder *bd = NULL;
        _cleanup_free_ char *job = NULL;
        BuildConfig c;
        int r;

        r = buildd_job_path(&job);
        if (r < 0)
                return r;
        r = buildd_load_config(d, &c);
        if (r < 0)
                return r;
        bd = calloc(1, sizeof(Builder));
        if (!bd) {
                build_config_done(&c);
                return log_oom();
        }
        bd->daemon = d;
        r = build_manager_new(zl_daemon_get_event(d), &c, job, &builder_bus_callbacks, bd,
                              &bd->manager);
        build_config_done(&c);
        if (r < 0)
                return log_oom();
        r = build_manager_start(bd->manager);
        if (r < 0) {
                log_error_errno(r, "Failed to load the builds in '%s': %m",
                                build_manager_config(bd->manager)->state_dir);
                bd->manager = build_manager_free(bd->manager);
                return r;
        }
        /* Builds fail with the job's own message then; the daemon still lists and logs. */
        if (!buildah_is_installed())
                log_warning("buildah is not installed: builds will fail (apt-get install "
                            "buildah).");
        log_info("Builds in '%s', at most %u at once, job '%s'.",
                 build_manager_config(bd->manager)->state_dir,
                 build_manager_config(bd->manager)->max_concurrent_builds, job);
        *ret_userdata = TAKE_PTR(bd);
        return 0;
}

static void builder_done(ZlDaemon *d, void *userdata) {
        Builder *bd = userdata;

        (void) d;
        if (!bd)
                return;
        build_manager_free(bd->manager);
        free(bd);
}

static int builder_counters(ZlDaemon *d, void *userdata, ZlCounterSet *set) {
        Builder *bd = userdata;
        unsigned n[_BUILD_STATE_MAX] = {};
        int r;

        (void) d;
        for (size_t i = 0; i < build_manager_count(bd->manager); i++)
                n[build_manager_get_at(bd->manager, i)->state]++;
        for (BuildState s = 0; s < _BUILD_STATE_MAX; s++) {
                char name[64];

                snprintf(name, sizeof name, "builds_%s", build_state_to_string(s));
                r = zl_counter_set_put(set, name, (double) n[s]);
                if (r < 0)
                        return r;
        }
        return 0;
}

static const ZlBusObject *const builder_objects[] = {
        &builder_bus_object,
        &builder_build_bus_object,
        NULL,
};

static const ZlDaemonDescriptor descriptor = {
        .info = &zl_daemon_list[ZL_DAEMON_BUILDD],
        .objects = builder_objects,
        .init = builder_init,
        .done = builder_done,
        .counters = builder_counters,
};

int main(int argc, char *argv[]) {
        sigset_t mask;

        /* sd-event learns of the job processes' exits through SIGCHLD, which must be blocked;
         * the jobs unblock everything again. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return EXIT_FAILURE;
        return zl_daemon_main(&descriptor, argc, argv);
}
